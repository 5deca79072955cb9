/*
 * test_http_headers.c - the saved-headers parser (trust/mim_http_headers.c)
 * on what `curl -D` writes: interim responses, redirects, trailers, HTTP/2
 * status lines, LF-only files, and on malformed or oversized input.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "mim_http_headers.h"

static mim_http_headers_t  h;

static void
teardown(void)
{
    mim_http_headers_free(&h);
}

TestSuite(http_headers, .fini = teardown);

static mim_result_t
parse(const char *text)
{
    return mim_http_headers_parse(&h, text, strlen(text));
}

/* the value of the only field named name in section, as a string */
static char *
value_of(const char *name, mim_http_section_t section)
{
    static char              buf[256];
    const mim_http_field_t  *f;

    cr_assert_eq(mim_http_headers_count(&h, name, section), 1,
                 "%s: expected exactly one", name);
    f = mim_http_headers_next(&h, NULL, name, section);
    cr_assert_not_null(f);
    cr_assert_lt(f->value_len, sizeof(buf));
    memcpy(buf, f->value, f->value_len);
    buf[f->value_len] = '\0';
    return buf;
}

Test(http_headers, simple_crlf)
{
    mim_result_t  rc;

    rc = parse("HTTP/1.1 200 OK\r\n"
               "Content-Type: application/json\r\n"
               "Content-Digest: sha-256=:abc=:\r\n"
               "\r\n");
    cr_assert(mim_ok(rc), "%s", rc.msg);
    cr_assert_eq(h.status, 200);
    cr_assert_eq(h.version_len, 8);
    cr_assert(memcmp(h.version, "HTTP/1.1", 8) == 0);
    cr_assert_eq(h.n, 2);
    cr_assert_eq(h.n_trailers, 0);
    cr_assert_eq(h.blocks, 1);
    cr_assert_str_eq(value_of("content-type", MIM_HTTP_ANY),
                     "application/json");
    cr_assert_str_eq(value_of("CONTENT-DIGEST", MIM_HTTP_HEADER),
                     "sha-256=:abc=:");
    cr_assert_eq(mim_http_headers_count(&h, "Content-Digest",
                                        MIM_HTTP_TRAILER), 0);
}

Test(http_headers, lf_only_and_no_final_newline)
{
    mim_result_t  rc;

    rc = parse("HTTP/1.0 404 Not Found\nServer: x\nX-A: 1");
    cr_assert(mim_ok(rc), "%s", rc.msg);
    cr_assert_eq(h.status, 404);
    cr_assert_eq(h.n, 2);
    cr_assert_str_eq(value_of("x-a", MIM_HTTP_HEADER), "1");
}

Test(http_headers, http2_status_line_without_reason)
{
    mim_result_t  rc;

    /* libcurl writes "HTTP/2 200 " with a trailing space */
    rc = parse("HTTP/2 200 \r\ncontent-length: 0\r\n\r\n");
    cr_assert(mim_ok(rc), "%s", rc.msg);
    cr_assert_eq(h.status, 200);
    cr_assert_eq(h.version_len, 6);

    mim_http_headers_free(&h);
    rc = parse("HTTP/2 204\r\n\r\n");
    cr_assert(mim_ok(rc), "%s", rc.msg);
    cr_assert_eq(h.status, 204);
    cr_assert_eq(h.n, 0);
}

Test(http_headers, last_block_wins)
{
    mim_result_t  rc;

    rc = parse("HTTP/1.1 100 Continue\r\n\r\n"
               "HTTP/1.1 302 Found\r\nLocation: /b\r\nX-Old: 1\r\n\r\n"
               "HTTP/1.1 201 Created\r\nX-New: 2\r\n\r\n");
    cr_assert(mim_ok(rc), "%s", rc.msg);
    cr_assert_eq(h.blocks, 3);
    cr_assert_eq(h.status, 201);
    cr_assert_eq(h.n, 1);
    cr_assert_str_eq(value_of("X-New", MIM_HTTP_HEADER), "2");
    cr_assert_null(mim_http_headers_next(&h, NULL, "X-Old", MIM_HTTP_ANY));
    cr_assert_null(mim_http_headers_next(&h, NULL, "Location",
                                         MIM_HTTP_ANY));
}

Test(http_headers, garbage_in_earlier_blocks_is_ignored)
{
    mim_result_t  rc;

    /* only the kept block is validated */
    rc = parse("HTTP/1.1 100 Continue\r\n bad fold\r\n\x01\x02\r\n\r\n"
               "HTTP/1.1 200 OK\r\nA: b\r\n\r\n");
    cr_assert(mim_ok(rc), "%s", rc.msg);
    cr_assert_eq(h.status, 200);
    cr_assert_eq(h.n, 1);
}

Test(http_headers, trailers_after_blank_line)
{
    const mim_http_field_t  *f;
    mim_result_t             rc;

    rc = parse("HTTP/1.1 200 OK\r\n"
               "Transfer-Encoding: chunked\r\n"
               "Trailer: Content-Digest, X-JWS-Signature\r\n"
               "\r\n"
               "Content-Digest: sha-256=:xyz=:\r\n"
               "X-JWS-Signature: eyJh..c2ln\r\n"
               "\r\n");
    cr_assert(mim_ok(rc), "%s", rc.msg);
    cr_assert_eq(h.n, 4);
    cr_assert_eq(h.n_trailers, 2);
    cr_assert_str_eq(value_of("x-jws-signature", MIM_HTTP_TRAILER),
                     "eyJh..c2ln");
    cr_assert_eq(mim_http_headers_count(&h, "X-JWS-Signature",
                                        MIM_HTTP_HEADER), 0);
    f = mim_http_headers_next(&h, NULL, "Content-Digest", MIM_HTTP_ANY);
    cr_assert_not_null(f);
    cr_assert(f->is_trailer);
    f = mim_http_headers_next(&h, NULL, "Trailer", MIM_HTTP_ANY);
    cr_assert_not_null(f);
    cr_assert_not(f->is_trailer);
}

Test(http_headers, trailers_of_an_earlier_block_are_not_kept)
{
    mim_result_t  rc;

    rc = parse("HTTP/1.1 302 Found\r\n\r\nX-JWS-Signature: old\r\n"
               "HTTP/1.1 200 OK\r\nA: 1\r\n\r\n");
    cr_assert(mim_ok(rc), "%s", rc.msg);
    cr_assert_eq(h.status, 200);
    cr_assert_eq(mim_http_headers_count(&h, "X-JWS-Signature",
                                        MIM_HTTP_ANY), 0);
}

Test(http_headers, whitespace_is_trimmed_and_empty_values_kept)
{
    mim_result_t  rc;

    rc = parse("HTTP/1.1 200 OK\r\nA:   spaced \t \r\nB:\r\nC:x y\r\n\r\n");
    cr_assert(mim_ok(rc), "%s", rc.msg);
    cr_assert_str_eq(value_of("A", MIM_HTTP_ANY), "spaced");
    cr_assert_str_eq(value_of("B", MIM_HTTP_ANY), "");
    cr_assert_str_eq(value_of("C", MIM_HTTP_ANY), "x y");
}

Test(http_headers, duplicates_are_all_kept_in_order)
{
    const mim_http_field_t  *f;
    mim_result_t             rc;

    rc = parse("HTTP/1.1 200 OK\r\nSet-Cookie: a\r\nX: 0\r\n"
               "set-cookie: b\r\n\r\n");
    cr_assert(mim_ok(rc), "%s", rc.msg);
    cr_assert_eq(mim_http_headers_count(&h, "Set-Cookie", MIM_HTTP_ANY), 2);
    f = mim_http_headers_next(&h, NULL, "Set-Cookie", MIM_HTTP_ANY);
    cr_assert_eq(f->value[0], 'a');
    f = mim_http_headers_next(&h, f, "Set-Cookie", MIM_HTTP_ANY);
    cr_assert_eq(f->value[0], 'b');
    cr_assert_null(mim_http_headers_next(&h, f, "Set-Cookie",
                                         MIM_HTTP_ANY));
}

Test(http_headers, name_match_is_exact_not_prefix)
{
    mim_result_t  rc;

    rc = parse("HTTP/1.1 200 OK\r\nContent-Digest-X: 1\r\nContent: 2\r\n");
    cr_assert(mim_ok(rc), "%s", rc.msg);
    cr_assert_eq(mim_http_headers_count(&h, "Content-Digest", MIM_HTTP_ANY),
                 0);
}

Test(http_headers, obs_text_is_allowed_in_values)
{
    mim_result_t  rc;

    rc = parse("HTTP/1.1 200 OK\r\nX-Name: caf\xc3\xa9\r\n\r\n");
    cr_assert(mim_ok(rc), "%s", rc.msg);
    cr_assert_str_eq(value_of("X-Name", MIM_HTTP_ANY), "caf\xc3\xa9");
}

static void
assert_rejected(const char *text, size_t len, mim_code_t code,
    const char *reason)
{
    mim_result_t  rc;

    rc = mim_http_headers_parse(&h, text, len);
    cr_assert_eq(rc.code, code, "expected %s for %s, got %s: %s",
                 mim_code_name(code), reason, mim_code_name(rc.code),
                 rc.msg);
    cr_assert_str_neq(rc.msg, "");
    /* left empty */
    cr_assert_null(h.fields);
    cr_assert_eq(h.n, 0);
    cr_assert_eq(h.status, 0);
}

#define REJECT(text, code, reason) \
    assert_rejected(text, sizeof(text) - 1, code, reason)

Test(http_headers, malformed_input_is_rejected)
{
    REJECT("", MIM_ERR_INVALID, "empty input");
    REJECT("Content-Type: x\r\n\r\n", MIM_ERR_INVALID, "no status line");
    REJECT("HTTP/1.1 20 OK\r\n\r\n", MIM_ERR_INVALID, "2-digit status");
    REJECT("HTTP/1.1 2000 OK\r\n\r\n", MIM_ERR_INVALID, "4-digit status");
    REJECT("HTTP/1.1 099 OK\r\n\r\n", MIM_ERR_INVALID, "status < 100");
    REJECT("HTTP/ 200 OK\r\n\r\n", MIM_ERR_INVALID, "no version");
    REJECT("HTTP/1.1  200 OK\r\n\r\n", MIM_ERR_INVALID, "two spaces");
    REJECT("HTTP/1.1 200OK\r\n\r\n", MIM_ERR_INVALID, "no space");
    REJECT("HTTP/1.1 2x0 OK\r\n\r\n", MIM_ERR_INVALID, "not digits");
}

Test(http_headers, bare_status_line_is_accepted)
{
    mim_result_t  rc;

    /* "HTTP/1.1 200" is a complete status line (empty reason) */
    rc = parse("HTTP/1.1 200");
    cr_assert(mim_ok(rc), "%s", rc.msg);
    cr_assert_eq(h.status, 200);
    cr_assert_eq(h.n, 0);
}

Test(http_headers, malformed_fields_are_rejected)
{
    REJECT("HTTP/1.1 200 OK\r\nA: 1\r\n folded\r\n\r\n", MIM_ERR_INVALID,
           "obs-fold");
    REJECT("HTTP/1.1 200 OK\r\nA : 1\r\n\r\n", MIM_ERR_INVALID,
           "space before colon");
    REJECT("HTTP/1.1 200 OK\r\n: 1\r\n\r\n", MIM_ERR_INVALID, "empty name");
    REJECT("HTTP/1.1 200 OK\r\nno colon\r\n\r\n", MIM_ERR_INVALID,
           "no colon");
    REJECT("HTTP/1.1 200 OK\r\nA(b): 1\r\n\r\n", MIM_ERR_INVALID,
           "non-token name");
    REJECT("HTTP/1.1 200 OK\r\nA: x\0y\r\n\r\n", MIM_ERR_INVALID,
           "NUL in value");
    REJECT("HTTP/1.1 200 OK\r\nA: x\ry\r\n\r\n", MIM_ERR_INVALID,
           "bare CR in value");
    REJECT("HTTP/1.1 200 OK\r\nA: x\x1b[2Jy\r\n\r\n", MIM_ERR_INVALID,
           "escape in value");
    REJECT("HTTP/1.1 200 OK\r\nA: x\x7f\r\n\r\n", MIM_ERR_INVALID,
           "DEL in value");
    REJECT("HTTP/1.1 200 OK\x01\r\n\r\n", MIM_ERR_INVALID,
           "control in reason");
    REJECT("HTTP/1.1 200 OK\r\n\r\nbad trailer\r\n", MIM_ERR_INVALID,
           "malformed trailer");
}

/* "HTTP/1.1 200 OK\r\nA: " then n bytes of 'x' then "\r\n\r\n" */
static char *
make_long_field(size_t n, size_t *len)
{
    static const char  head[] = "HTTP/1.1 200 OK\r\nA: ";
    char              *text = malloc(sizeof(head) + n + 4);

    cr_assert_not_null(text);
    memcpy(text, head, sizeof(head) - 1);
    memset(text + sizeof(head) - 1, 'x', n);
    memcpy(text + sizeof(head) - 1 + n, "\r\n\r\n", 4);
    *len = sizeof(head) - 1 + n + 4;
    return text;
}

Test(http_headers, long_lines_are_refused)
{
    mim_result_t   rc;
    size_t         len;
    char          *text;

    /* "A: " plus the value: exactly MIM_HTTP_LINE_MAX bytes is fine */
    text = make_long_field(MIM_HTTP_LINE_MAX - 3, &len);
    rc = mim_http_headers_parse(&h, text, len);
    cr_assert(mim_ok(rc), "%s", rc.msg);
    cr_assert_eq(h.fields[0].value_len, MIM_HTTP_LINE_MAX - 3);
    mim_http_headers_free(&h);
    free(text);

    text = make_long_field(MIM_HTTP_LINE_MAX - 2, &len);
    assert_rejected(text, len, MIM_ERR_LIMIT, "line over the limit");
    free(text);
}

Test(http_headers, too_many_fields_are_refused)
{
    size_t  cap = 32 + (MIM_HTTP_FIELDS_MAX + 1) * 8, len;
    char   *text = malloc(cap);
    int     i;

    cr_assert_not_null(text);
    len = (size_t) snprintf(text, cap, "HTTP/1.1 200 OK\r\n");

    for (i = 0; i < MIM_HTTP_FIELDS_MAX; i++) {
        len += (size_t) snprintf(text + len, cap - len, "A: 1\r\n");
    }

    cr_assert(mim_ok(mim_http_headers_parse(&h, text, len)));
    cr_assert_eq(h.n, MIM_HTTP_FIELDS_MAX);
    mim_http_headers_free(&h);

    len += (size_t) snprintf(text + len, cap - len, "A: 1\r\n");
    assert_rejected(text, len, MIM_ERR_LIMIT, "one field too many");
    free(text);
}
