/*
 * test_audit.c - the audit log core (trust/mim_audit.c): record escaping,
 * the hash chain checked with an independent SHA-256, signed checkpoints,
 * resuming a file, and the verifier against every kind of tampering.
 */
#define _GNU_SOURCE     /* asprintf */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>
#include <jansson.h>
#include <openssl/evp.h>

#include "mim_audit.h"
#include "mim_b64.h"
#include "unit.h"

#define T0  1767225600000LL     /* 2026-01-01T00:00:00.000Z */

static mim_key_t     key;
static mim_key_t     other_key;
static mim_keyset_t  set;
static mim_keyset_t  other_set;

/* a log as lines, to tamper with */
typedef struct {
    char    **line;     /* without newlines */
    size_t    n;
} log_t;

static log_t  lg;

static void
teardown(void)
{
    size_t i;

    mim_key_free(&key);
    mim_key_free(&other_key);
    mim_keyset_free(&set);
    mim_keyset_free(&other_set);
    for (i = 0; i < lg.n; i++) {
        free(lg.line[i]);
    }
    free(lg.line);
    memset(&lg, 0, sizeof(lg));
}

static void
set_of(mim_key_t *k, mim_keyset_t *s)
{
    json_t *doc = json_pack("{s:[o]}", "keys", mim_key_to_jwk(k));
    char *text = json_dumps(doc, JSON_COMPACT);
    mim_result_t r = mim_keyset_from_jwks(s, text, strlen(text));

    cr_assert(mim_ok(r), "%s", r.msg);
    free(text);
    json_decref(doc);
}

static void
keys_init(void)
{
    EVP_PKEY *p = ut_keygen("P-256"), *q = ut_keygen("ED25519");

    ut_key_from_pkey(&key, p, NULL);
    ut_key_from_pkey(&other_key, q, NULL);
    EVP_PKEY_free(p);
    EVP_PKEY_free(q);
    set_of(&key, &set);
    set_of(&other_key, &other_set);
}

TestSuite(audit, .init = keys_init, .fini = teardown);

static void
log_push(const char *text, size_t len)
{
    /* text ends with exactly one newline */
    cr_assert_gt(len, 0);
    cr_assert_eq(text[len - 1], '\n');
    cr_assert_null(memchr(text, '\n', len - 1), "a line holds a newline");
    lg.line = realloc(lg.line, (lg.n + 1) * sizeof(char *));
    lg.line[lg.n++] = strndup(text, len - 1);
}

static void
add_body(mim_audit_chain_t *c, const char *body, size_t n)
{
    char *line = malloc(n + MIM_AUDIT_LINE_OVERHEAD);
    size_t len = mim_audit_chain_append(c, body, n, line);

    log_push(line, len);
    free(line);
}

static void
add_segment(mim_audit_chain_t *c, const char *type, const char *after,
    uint64_t last_seq, int64_t t)
{
    char body[MIM_AUDIT_SEGMENT_MAX + 64];
    size_t n = mim_audit_segment_body(c, type, t, 0, 4242, after, last_seq,
                                      0, body);

    add_body(c, body, n);
}

static void
add_request(mim_audit_chain_t *c, int i, int64_t t)
{
    char uri[64], *body;
    mim_audit_request_t r;
    size_t n;

    memset(&r, 0, sizeof(r));
    snprintf(uri, sizeof(uri), "/ngsi-ld/v1/entities?i=%d", i);
    r.time_ms = t;
    r.request_id = (mim_audit_str_t) { "0123456789abcdef", 16 };
    r.client = (mim_audit_str_t) { "127.0.0.1", 9 };
    r.method = (mim_audit_str_t) { "GET", 3 };
    r.uri = (mim_audit_str_t) { uri, strlen(uri) };
    r.status = 200;
    r.bytes = 1000 + i;
    r.party = (mim_audit_str_t) { i % 2 ? "EU.EORI.A" : "EU.EORI.B", 9 };
    body = malloc(mim_audit_request_size(&r));
    n = mim_audit_request_body(&r, body);
    cr_assert_leq(n, mim_audit_request_size(&r));
    add_body(c, body, n);
    free(body);
}

static void
add_checkpoint(mim_audit_chain_t *c, const mim_key_t *k, const char *why,
    int64_t t)
{
    char *line;
    size_t len;
    mim_result_t r = mim_audit_checkpoint(c, k, t, why, &line, &len);

    cr_assert(mim_ok(r), "%s", r.msg);
    log_push(line, len);
    free(line);
}

/*
 * The standard test log: start, then n requests with a checkpoint after
 * every `every` lines, and an exit checkpoint.
 */
static void
make_log(int n, int every, int exit_checkpoint)
{
    mim_audit_chain_t c;
    mim_result_t r = mim_audit_chain_init(&c, "test:/var/log/a.log.0", 21);
    int i;

    cr_assert(mim_ok(r), "%s", r.msg);
    add_segment(&c, "start", "new", 0, T0);
    for (i = 1; i <= n; i++) {
        add_request(&c, i, T0 + i * 10);
        if (c.since_checkpoint >= (uint64_t) every) {
            add_checkpoint(&c, &key, "count", T0 + i * 10 + 1);
        }
    }
    if (exit_checkpoint) {
        add_checkpoint(&c, &key, "exit", T0 + n * 10 + 5);
    }
    mim_audit_chain_free(&c);
}

static char *
log_text(void)
{
    size_t i, len = 0;
    char *text, *p;

    for (i = 0; i < lg.n; i++) {
        len += strlen(lg.line[i]) + 1;
    }
    text = malloc(len + 1);
    for (p = text, i = 0; i < lg.n; i++) {
        p = stpcpy(p, lg.line[i]);
        *p++ = '\n';
    }
    *p = '\0';
    return text;
}

/* line numbers are 1-based, as the verifier reports them */
static void
log_delete(size_t line)
{
    free(lg.line[line - 1]);
    memmove(lg.line + line - 1, lg.line + line,
            (lg.n - line) * sizeof(char *));
    lg.n--;
}

static void
log_insert(size_t line, const char *text)
{
    lg.line = realloc(lg.line, (lg.n + 1) * sizeof(char *));
    memmove(lg.line + line, lg.line + line - 1,
            (lg.n - line + 1) * sizeof(char *));
    lg.line[line - 1] = strdup(text);
    lg.n++;
}

static void
log_replace(size_t line, const char *from, const char *to)
{
    char *old = lg.line[line - 1], *at = strstr(old, from), *neu;

    cr_assert_not_null(at, "line %zu has no \"%s\"", line, from);
    cr_assert_gt(asprintf(&neu, "%.*s%s%s", (int) (at - old), old, to,
                          at + strlen(from)), 0);
    free(old);
    lg.line[line - 1] = neu;
}

static void
log_swap(size_t a, size_t b)
{
    char *t = lg.line[a - 1];

    lg.line[a - 1] = lg.line[b - 1];
    lg.line[b - 1] = t;
}

static const char *
line_type(size_t line)
{
    json_t *j = json_loads(lg.line[line - 1], 0, NULL);
    static char type[16];

    cr_assert_not_null(j, "line %zu is not JSON", line);
    snprintf(type, sizeof(type), "%s",
             json_string_value(json_object_get(j, "type")));
    json_decref(j);
    return type;
}

/* the line number of the k-th checkpoint (1-based k) */
static size_t
checkpoint_line(int k)
{
    size_t i;

    for (i = 1; i <= lg.n; i++) {
        if (strcmp(line_type(i), "checkpoint") == 0 && --k == 0) {
            return i;
        }
    }
    cr_assert_fail("no such checkpoint");
    return 0;
}

/* sha-256 of a line, hex, computed here with EVP directly */
static void
hash_hex(const char *line, char out[65])
{
    uint8_t h[32];
    unsigned int n = 0;

    cr_assert(EVP_Digest(line, strlen(line), h, &n, EVP_sha256(), NULL));
    for (unsigned i = 0; i < 32; i++) {
        sprintf(out + 2 * i, "%02x", h[i]);
    }
}

/* an attacker who knows the format re-chains every line after `from` */
static void
log_rechain(size_t from)
{
    char hex[65], prev[80], *at;
    size_t i;

    for (i = from; i < lg.n; i++) {
        hash_hex(lg.line[i - 1], hex);
        at = strstr(lg.line[i], ",\"prev\":\"");
        cr_assert_not_null(at);
        snprintf(prev, sizeof(prev), ",\"prev\":\"%s\"}", hex);
        strcpy(at, prev);
        /* and a checkpoint's head, which must equal its prev */
        at = strstr(lg.line[i], ",\"head\":\"");
        if (at != NULL) {
            memcpy(at + 9, hex, 64);
        }
    }
}

typedef struct {
    mim_audit_verifier_t       *v;
    const mim_audit_problem_t  *p;
    size_t                      n;
    const mim_audit_summary_t  *sum;
    uint64_t                    ranges[64][2];
    size_t                      n_ranges;
} result_t;

static result_t  res;

static void
on_verified(void *ctx, uint64_t first, uint64_t last)
{
    result_t *r = ctx;

    if (r->n_ranges < 64) {
        r->ranges[r->n_ranges][0] = first;
        r->ranges[r->n_ranges][1] = last;
        r->n_ranges++;
    }
}

static void
res_free(void)
{
    mim_audit_verifier_free(res.v);
    memset(&res, 0, sizeof(res));
}

static void
verify_with(const mim_keyset_t *keys)
{
    static mim_jws_trust_t trust;
    char *text = log_text();
    mim_result_t r;

    res_free();
    trust.keys = keys;
    r = mim_audit_verifier_new(&res.v, &trust);
    cr_assert(mim_ok(r), "%s", r.msg);
    mim_audit_verifier_on_verified(res.v, on_verified, &res);
    mim_audit_verify_buffer(res.v, text, strlen(text));
    res.p = mim_audit_problems(res.v, &res.n, NULL);
    res.sum = mim_audit_summary(res.v);
    free(text);
}

static void
verify_log(void)
{
    verify_with(&set);
}

static char *
problems_text(void)
{
    static char buf[8192];
    size_t i, len = 0;

    buf[0] = '\0';
    for (i = 0; i < res.n && len < sizeof(buf) - 300; i++) {
        len += (size_t) snprintf(buf + len, sizeof(buf) - len,
                                 "\n  line %llu: %s: %s",
                                 (unsigned long long) res.p[i].line,
                                 mim_audit_kind_name(res.p[i].kind),
                                 res.p[i].msg);
    }
    return buf;
}

/* the problem of this kind at this line (fails the test when absent) */
static const mim_audit_problem_t *
expect(mim_audit_kind_t kind, uint64_t line)
{
    size_t i;

    for (i = 0; i < res.n; i++) {
        if (res.p[i].kind == kind && res.p[i].line == line) {
            return &res.p[i];
        }
    }
    cr_assert_fail("no %s at line %llu; problems:%s",
                   mim_audit_kind_name(kind), (unsigned long long) line,
                   problems_text());
    return NULL;
}

static void
expect_only(size_t n)
{
    cr_assert_eq(res.n, n, "%zu problems expected, got:%s", n,
                 problems_text());
}

/* ---- writing ---- */

Test(audit, time_is_rfc3339_utc_milliseconds)
{
    char t[MIM_AUDIT_TIME_LEN + 1];

    mim_audit_time(t, T0 + 1234);
    cr_assert_str_eq(t, "2026-01-01T00:00:01.234Z");
    mim_audit_time(t, 0);
    cr_assert_str_eq(t, "1970-01-01T00:00:00.000Z");
}

Test(audit, untrusted_values_stay_one_line_of_json)
{
    static const char uri[] = "/a\"b\\c\n\r\td\x01\x7f\xff\xc3\xa9/\xe2\x82";
    static const char party[] = "EU.EORI.\xf0\x9f\x98\x80";
    mim_audit_request_t r;
    char *body, *line;
    json_t *j;
    json_error_t err;
    size_t n;

    memset(&r, 0, sizeof(r));
    r.time_ms = T0;
    r.uri = (mim_audit_str_t) { uri, sizeof(uri) - 1 };
    r.party = (mim_audit_str_t) { party, sizeof(party) - 1 };
    r.method = (mim_audit_str_t) { "GET", 3 };
    r.status = 403;
    body = malloc(mim_audit_request_size(&r));
    n = mim_audit_request_body(&r, body);
    cr_assert_leq(n, mim_audit_request_size(&r));
    cr_assert_gt(asprintf(&line, "{\"seq\":1,%.*s\"prev\":\"x\"}", (int) n,
                          body), 0);
    cr_assert_null(strchr(line, '\n'));
    cr_assert_null(strchr(line, '\r'));
    j = json_loads(line, JSON_REJECT_DUPLICATES, &err);
    cr_assert_not_null(j, "not JSON: %s: %s", err.text, line);
    /* invalid UTF-8 bytes come back as their Latin-1 reading */
    cr_assert_str_eq(json_string_value(json_object_get(j, "uri")),
                     "/a\"b\\c\n\r\td\x01\x7f\xc3\xbf\xc3\xa9/\xc3\xa2"
                     "\xc2\x82");
    cr_assert_str_eq(json_string_value(json_object_get(j, "party")), party);
    cr_assert(json_is_null(json_object_get(j, "agreement")));
    cr_assert(json_is_null(json_object_get(j, "reasons")));
    cr_assert(json_is_null(json_object_get(j, "digest")));
    cr_assert_eq(json_integer_value(json_object_get(j, "status")), 403);
    cr_assert_str_eq(json_string_value(json_object_get(j, "type")), "req");
    json_decref(j);
    free(line);
    free(body);
}

static json_t *
reasons_of(const char *reasons)
{
    mim_audit_request_t r;
    char *body, *line;
    json_t *j, *v;
    size_t n;

    memset(&r, 0, sizeof(r));
    r.reasons = (mim_audit_str_t) { reasons, strlen(reasons) };
    body = malloc(mim_audit_request_size(&r));
    n = mim_audit_request_body(&r, body);
    cr_assert_gt(asprintf(&line, "{%.*s\"x\":1}", (int) n, body), 0);
    cr_assert_null(strchr(line, '\n'));
    j = json_loads(line, 0, NULL);
    cr_assert_not_null(j, "not JSON: %s", line);
    v = json_incref(json_object_get(j, "reasons"));
    json_decref(j);
    free(line);
    free(body);
    return v;
}

Test(audit, reasons_kept_as_json_when_they_are_an_array)
{
    json_t *v = reasons_of("[\"purpose missing\",\n {\"rule\": \"r1\"}]");

    cr_assert(json_is_array(v));
    cr_assert_eq(json_array_size(v), 2);
    cr_assert_str_eq(json_string_value(json_array_get(v, 0)),
                     "purpose missing");
    json_decref(v);
    /* not an array, or not JSON: a string of it */
    v = reasons_of("[\"unterminated");
    cr_assert_str_eq(json_string_value(v), "[\"unterminated");
    json_decref(v);
    v = reasons_of("{\"a\":1}");
    cr_assert_str_eq(json_string_value(v), "{\"a\":1}");
    json_decref(v);
    v = reasons_of("[1] [2]");
    cr_assert_str_eq(json_string_value(v), "[1] [2]");
    json_decref(v);
}

Test(audit, lines_are_chained_by_sha256_of_the_previous_line)
{
    char hex[65], want[80];
    json_t *j;
    size_t i;

    make_log(5, 1000, 1);
    cr_assert_eq(lg.n, 7);
    cr_assert_str_eq(line_type(1), "start");
    cr_assert_str_eq(line_type(7), "checkpoint");
    for (i = 1; i <= lg.n; i++) {
        j = json_loads(lg.line[i - 1], JSON_REJECT_DUPLICATES, NULL);
        cr_assert_not_null(j);
        cr_assert_eq(json_integer_value(json_object_get(j, "seq")),
                     (json_int_t) i);
        json_decref(j);
        /* the members begin with seq and end with prev */
        cr_assert_eq(strncmp(lg.line[i - 1], "{\"seq\":", 7), 0);
        if (i == 1) {
            snprintf(want, sizeof(want), ",\"prev\":\"%064d\"}", 0);
        } else {
            hash_hex(lg.line[i - 2], hex);
            snprintf(want, sizeof(want), ",\"prev\":\"%s\"}", hex);
        }
        cr_assert_str_eq(lg.line[i - 1] + strlen(lg.line[i - 1])
                         - strlen(want), want);
    }
}

Test(audit, checkpoint_is_a_detached_jws_over_chain_seq_head_time)
{
    json_t *j, *hdr;
    const char *jws, *head;
    char hex[65], payload[512], *dot;
    uint8_t raw[1024];
    size_t raw_len;
    mim_jws_trust_t trust = { .keys = &set };
    mim_jws_info_t info;
    mim_result_t r;

    make_log(3, 1000, 1);
    j = json_loads(lg.line[4], JSON_REJECT_DUPLICATES, NULL);
    cr_assert_not_null(j);
    head = json_string_value(json_object_get(j, "head"));
    hash_hex(lg.line[3], hex);
    cr_assert_str_eq(head, hex);
    cr_assert_str_eq(json_string_value(json_object_get(j, "prev")), hex);
    cr_assert_str_eq(json_string_value(json_object_get(j, "reason")), "exit");
    cr_assert_eq(json_integer_value(json_object_get(j, "lines")), 4);
    snprintf(payload, sizeof(payload),
             "{\"chain\":\"test:/var/log/a.log.0\",\"seq\":5,\"head\":\"%s\","
             "\"time\":\"%s\"}", hex,
             json_string_value(json_object_get(j, "time")));
    jws = json_string_value(json_object_get(j, "jws"));
    r = mim_jws_verify_detached(jws, strlen(jws), (uint8_t *) payload,
                                strlen(payload), &trust, &info);
    cr_assert(mim_ok(r), "%s", r.msg);
    cr_assert_eq(info.alg, MIM_ALG_ES256);
    cr_assert_str_eq(info.kid, key.kid);
    dot = strchr(jws, '.');
    cr_assert_eq(mim_b64url_decode(raw, &raw_len, jws, (size_t) (dot - jws)),
                 0);
    hdr = json_loadb((char *) raw, raw_len, 0, NULL);
    cr_assert_str_eq(json_string_value(json_object_get(hdr, "typ")),
                     MIM_AUDIT_TYP);
    json_decref(hdr);
    /* one byte of the payload changed */
    payload[strlen(payload) - 3] ^= 1;
    r = mim_jws_verify_detached(jws, strlen(jws), (uint8_t *) payload,
                                strlen(payload), &trust, &info);
    cr_assert_eq(r.code, MIM_ERR_SIGNATURE);
    json_decref(j);
}

/* ---- resuming ---- */

Test(audit, tail_of_a_clean_log_continues_the_chain)
{
    mim_audit_tail_t t;
    mim_audit_chain_t c;
    char *text = NULL, hex[65], head[65];
    size_t len;

    make_log(3, 1000, 1);
    text = log_text();
    len = strlen(text);
    mim_audit_tail_read(text, len, 1, &t);
    cr_assert(!t.empty && t.clean && t.known);
    cr_assert_eq(t.seq, 5);
    cr_assert_eq(t.partial, 0);
    /* the same from a window that cuts the first lines */
    mim_audit_tail_read(text + 100, len - 100, 0, &t);
    cr_assert(t.clean && t.known && t.seq == 5);
    hash_hex(lg.line[4], hex);
    cr_assert(mim_ok(mim_audit_chain_init(&c, "x", 1)));
    mim_audit_chain_resume(&c, &t);
    mim_audit_hex(head, c.head);
    cr_assert_str_eq(head, hex);
    cr_assert_eq(c.seq, 5);
    mim_audit_chain_free(&c);
    free(text);
}

Test(audit, tail_without_exit_checkpoint_or_with_a_partial_line_is_unclean)
{
    mim_audit_tail_t t;
    char *text;
    size_t len;

    make_log(3, 1000, 0);
    text = log_text();
    len = strlen(text);
    mim_audit_tail_read(text, len, 1, &t);
    cr_assert(!t.empty && !t.clean && t.known && t.seq == 4);
    free(text);
    teardown();
    keys_init();
    make_log(3, 1000, 1);
    text = log_text();
    len = strlen(text);
    text[len - 1] = 'x';        /* half of a next line */
    mim_audit_tail_read(text, len, 1, &t);
    cr_assert(!t.clean && t.known && t.seq == 4);
    cr_assert_eq(t.partial, strlen(lg.line[4]) + 1);
    free(text);
    mim_audit_tail_read("", 0, 1, &t);
    cr_assert(t.empty && !t.clean && t.partial == 0);
    mim_audit_tail_read("{\"seq\":1", 8, 1, &t);
    cr_assert(t.empty && t.partial == 8);
}

/* ---- verifying ---- */

Test(audit, a_clean_log_verifies)
{
    make_log(50, 10, 1);
    verify_log();
    expect_only(0);
    cr_assert_eq(res.sum->lines, lg.n);
    cr_assert_eq(res.sum->verified, lg.n);
    cr_assert_eq(res.sum->records, 50);
    cr_assert_eq(res.sum->checkpoints, 6);
    cr_assert_eq(res.sum->segments, 1);
    cr_assert_str_eq(res.sum->from, "2026-01-01T00:00:00.000Z");
    cr_assert_str_eq(res.sum->to, "2026-01-01T00:00:00.505Z");
    cr_assert_str_eq(res.sum->chain, "test:/var/log/a.log.0");
    cr_assert_str_eq(res.sum->ends_with, "exit");
    cr_assert_eq(res.sum->first_type, MIM_AUDIT_LINE_START);
    cr_assert_eq(res.sum->last_seq, lg.n);
    /* ranges in order, covering every line */
    cr_assert_eq(res.n_ranges, 6);
    cr_assert_eq(res.ranges[0][0], 1);
    cr_assert_eq(res.ranges[5][1], lg.n);
    for (size_t i = 1; i < res.n_ranges; i++) {
        cr_assert_eq(res.ranges[i][0], res.ranges[i - 1][1] + 1);
    }
}

Test(audit, an_eddsa_or_rsa_signed_log_verifies)
{
    mim_audit_chain_t c;

    cr_assert(mim_ok(mim_audit_chain_init(&c, "c", 1)));
    add_segment(&c, "start", "new", 0, T0);
    add_request(&c, 1, T0);
    add_checkpoint(&c, &other_key, "exit", T0);
    mim_audit_chain_free(&c);
    verify_with(&other_set);
    expect_only(0);
    cr_assert_eq(res.sum->verified, 3);
}

Test(audit, edited_line_is_reported_at_its_line)
{
    make_log(30, 10, 1);
    cr_assert_str_eq(line_type(8), "req");
    log_replace(8, "\"status\":200", "\"status\":403");
    verify_log();
    expect(MIM_AUDIT_EDITED, 8);
    expect_only(1);
    cr_assert_lt(res.sum->verified, lg.n);
}

Test(audit, edited_seq_or_prev_is_reported_at_its_line)
{
    make_log(30, 10, 1);
    log_replace(5, "{\"seq\":5,", "{\"seq\":6,");
    verify_log();
    expect(MIM_AUDIT_EDITED, 5);
    expect_only(1);
    teardown();
    keys_init();
    make_log(30, 10, 1);
    log_replace(5, "\"prev\":\"", "\"prev\":\"0");
    lg.line[4][strlen(lg.line[4]) - 3] = '\0';
    strcat(lg.line[4], "\"}");
    verify_log();
    expect(MIM_AUDIT_EDITED, 5);
    expect_only(1);
}

Test(audit, last_line_edited_is_reported)
{
    make_log(9, 10, 1);
    /* the exit checkpoint's unsigned member */
    log_replace(lg.n, "\"reason\":\"exit\"", "\"reason\":\"rotate\"");
    verify_log();
    cr_assert_eq(res.n, 0, "the checkpoint's reason is not signed and "
                 "nothing follows: %s", problems_text());
    /* a signed member of it */
    log_replace(lg.n, "\"time\":\"2026", "\"time\":\"2027");
    verify_log();
    expect(MIM_AUDIT_BAD_SIGNATURE, lg.n);
}

Test(audit, deleted_lines_are_reported_at_the_line_after_the_gap)
{
    make_log(30, 10, 1);
    log_delete(7);
    verify_log();
    cr_assert_eq(expect(MIM_AUDIT_DELETED, 7)->count, 1);
    cr_assert_eq(expect(MIM_AUDIT_DELETED, 7)->seq, 7);
    expect_only(1);
    log_delete(12);
    log_delete(12);
    log_delete(12);
    verify_log();
    expect(MIM_AUDIT_DELETED, 7);
    cr_assert_eq(expect(MIM_AUDIT_DELETED, 12)->count, 3);
    expect_only(2);
}

Test(audit, deleted_first_lines_are_reported)
{
    make_log(30, 10, 1);
    log_delete(1);
    log_delete(1);
    verify_log();
    expect(MIM_AUDIT_DELETED, 1);
    expect_only(1);
}

Test(audit, inserted_lines_are_reported_at_their_line)
{
    char *copy;

    make_log(30, 10, 1);
    /* a copy of an earlier line */
    copy = strdup(lg.line[3]);
    log_insert(15, copy);
    free(copy);
    verify_log();
    expect(MIM_AUDIT_INSERTED, 15);
    expect_only(1);
    /* a made-up line with the next seq and a made-up prev */
    log_insert(20, "{\"seq\":19,\"type\":\"req\",\"time\":\"2026-01-01T00:00:"
               "00.000Z\",\"uri\":\"/forged\",\"prev\":\"00000000000000000000"
               "00000000000000000000000000000000000000000000\"}");
    verify_log();
    expect(MIM_AUDIT_INSERTED, 15);
    expect(MIM_AUDIT_INSERTED, 20);
    expect_only(2);
}

Test(audit, inserted_line_that_fits_the_chain_is_reported)
{
    char hex[65], *forged;

    make_log(30, 10, 1);
    /* seq and prev right, as an attacker can compute them */
    hash_hex(lg.line[9], hex);
    cr_assert_gt(asprintf(&forged, "{\"seq\":11,\"type\":\"req\",\"time\":"
                          "\"2026-01-01T00:00:00.000Z\",\"uri\":\"/forged\","
                          "\"prev\":\"%s\"}", hex), 0);
    log_insert(11, forged);
    free(forged);
    verify_log();
    expect(MIM_AUDIT_INSERTED, 11);
    expect_only(1);
}

Test(audit, swapped_lines_are_reported_as_reordered)
{
    make_log(30, 10, 1);
    log_swap(5, 6);
    verify_log();
    expect(MIM_AUDIT_REORDERED, 5);
    expect_only(1);
}

Test(audit, a_line_moved_later_is_reported_as_reordered)
{
    char *moved;

    make_log(30, 10, 1);
    moved = strdup(lg.line[4]);
    log_delete(5);
    log_insert(8, moved);       /* seq 5 now after seq 8 */
    free(moved);
    verify_log();
    expect(MIM_AUDIT_REORDERED, 8);
    expect_only(1);
}

Test(audit, a_line_moved_earlier_is_reported_as_reordered)
{
    char *moved;

    make_log(30, 10, 1);
    moved = strdup(lg.line[8]);
    log_delete(9);
    log_insert(4, moved);       /* seq 9 now before seq 4 */
    free(moved);
    verify_log();
    expect(MIM_AUDIT_REORDERED, 4);
    expect_only(1);
}

Test(audit, truncated_tail_is_reported_as_unverifiable_lines)
{
    const mim_audit_problem_t *p;

    size_t cp;

    make_log(30, 10, 1);
    cp = checkpoint_line(2);
    while (lg.n > cp + 5) {
        log_delete(lg.n);
    }
    verify_log();
    p = expect(MIM_AUDIT_UNVERIFIABLE, cp + 1);
    cr_assert_eq(p->last_line, cp + 5);
    cr_assert_eq(p->count, 5);
    expect_only(1);
    cr_assert_eq(res.sum->verified, cp);
}

Test(audit, a_log_cut_at_a_checkpoint_verifies_up_to_it)
{
    size_t cp;

    make_log(30, 10, 1);
    cp = checkpoint_line(2);
    while (lg.n > cp) {
        log_delete(lg.n);
    }
    verify_log();
    expect_only(0);
    cr_assert_str_eq(res.sum->ends_with, "count");
}

Test(audit, unknown_key_and_bad_signature)
{
    size_t cp1, cp2;

    make_log(20, 10, 1);
    cp1 = checkpoint_line(1);
    cp2 = checkpoint_line(2);
    verify_with(&other_set);
    expect(MIM_AUDIT_UNKNOWN_KEY, cp1);
    expect(MIM_AUDIT_UNKNOWN_KEY, cp2);
    expect(MIM_AUDIT_UNKNOWN_KEY, lg.n);
    expect(MIM_AUDIT_UNVERIFIABLE, 1);
    expect_only(4);
    cr_assert_eq(res.sum->verified, 0);
    /* the last checkpoint's signature bytes changed */
    verify_log();
    expect_only(0);
    {
        char *sig = strstr(lg.line[lg.n - 1], "..") + 2 + 20;
        *sig = *sig == 'A' ? 'B' : 'A';
    }
    verify_log();
    expect(MIM_AUDIT_BAD_SIGNATURE, lg.n);
    cr_assert_eq(expect(MIM_AUDIT_UNVERIFIABLE, cp2 + 1)->last_line, lg.n);
    expect_only(2);
    /* one in the middle: the chain after it changes, so every later
       checkpoint fails as well */
    verify_log();
    {
        char *sig = strstr(lg.line[cp1 - 1], "..") + 2 + 20;
        *sig = *sig == 'A' ? 'B' : 'A';
    }
    log_rechain(cp1);
    verify_log();
    expect(MIM_AUDIT_BAD_SIGNATURE, cp1);
    expect(MIM_AUDIT_BAD_SIGNATURE, cp2);
    expect(MIM_AUDIT_UNVERIFIABLE, 1);
}

Test(audit, rechaining_after_an_edit_breaks_the_next_checkpoint)
{
    make_log(20, 10, 1);
    log_replace(5, "\"status\":200", "\"status\":201");
    log_rechain(5);
    verify_log();
    /* the chain is consistent, but the checkpoints signed other lines */
    expect(MIM_AUDIT_BAD_SIGNATURE, checkpoint_line(1));
    expect(MIM_AUDIT_BAD_SIGNATURE, checkpoint_line(2));
    expect(MIM_AUDIT_BAD_SIGNATURE, lg.n);
    expect(MIM_AUDIT_UNVERIFIABLE, 1);
    expect_only(4);
    cr_assert_eq(res.sum->verified, 0);
}

Test(audit, a_response_signature_is_not_a_checkpoint)
{
    char *jws, digest[MIM_CONTENT_DIGEST_LEN + 1], payload[512], hex[65];
    mim_jws_binding_t b = ut_binding();
    json_t *j;

    make_log(3, 1000, 1);
    j = json_loads(lg.line[4], 0, NULL);
    hash_hex(lg.line[3], hex);
    snprintf(payload, sizeof(payload),
             "{\"chain\":\"test:/var/log/a.log.0\",\"seq\":5,\"head\":\"%s\","
             "\"time\":\"%s\"}", hex,
             json_string_value(json_object_get(j, "time")));
    /* the same key signed these bytes as a response body */
    jws = ut_sign(&key, &b, (uint8_t *) payload, strlen(payload), NULL, 0,
                  digest);
    log_replace(5, json_string_value(json_object_get(j, "jws")), jws);
    verify_log();
    expect(MIM_AUDIT_BAD_SIGNATURE, 5);
    expect(MIM_AUDIT_UNVERIFIABLE, 1);
    expect_only(2);
    free(jws);
    json_decref(j);
}

Test(audit, break_after_a_crash_is_reported_with_the_lost_tail)
{
    mim_audit_chain_t c;
    mim_audit_tail_t t;
    char *text;

    make_log(12, 5, 0);         /* checkpoints at 6, 12; lines 13-15 */
    cr_assert_eq(lg.n, 15);
    cr_assert_eq(checkpoint_line(2), 12);
    text = log_text();
    mim_audit_tail_read(text, strlen(text), 1, &t);
    cr_assert(!t.clean);
    cr_assert(mim_ok(mim_audit_chain_init(&c, "test:/var/log/a.log.0", 21)));
    mim_audit_chain_resume(&c, &t);
    add_segment(&c, "break", NULL, t.seq, T0 + 999);
    add_request(&c, 99, T0 + 1000);
    add_checkpoint(&c, &key, "exit", T0 + 1001);
    mim_audit_chain_free(&c);
    free(text);
    verify_log();
    expect(MIM_AUDIT_BREAK, 16);
    cr_assert_eq(expect(MIM_AUDIT_UNVERIFIABLE, 13)->last_line, 15);
    expect_only(2);
    cr_assert_eq(res.sum->breaks, 1);
    cr_assert_eq(res.sum->verified, lg.n - 3);
}

Test(audit, segments_after_restart_continue_one_chain)
{
    mim_audit_chain_t c;
    mim_audit_tail_t t;
    char *text;

    make_log(4, 100, 1);
    text = log_text();
    mim_audit_tail_read(text, strlen(text), 1, &t);
    cr_assert(t.clean);
    cr_assert(mim_ok(mim_audit_chain_init(&c, "test:/var/log/a.log.0", 21)));
    mim_audit_chain_resume(&c, &t);
    add_segment(&c, "start", "exit", 0, T0 + 100);
    add_request(&c, 5, T0 + 101);
    add_checkpoint(&c, &key, "rotate", T0 + 102);
    add_segment(&c, "link", NULL, 0, T0 + 103);
    add_checkpoint(&c, &key, "exit", T0 + 104);
    mim_audit_chain_free(&c);
    free(text);
    verify_log();
    expect_only(0);
    cr_assert_eq(res.sum->segments, 3);
    cr_assert_eq(res.sum->verified, lg.n);
}

Test(audit, malformed_lines_are_reported)
{
    make_log(20, 10, 1);
    log_insert(6, "this is not json");
    log_insert(9, "");
    log_insert(12, "{\"seq\":1,\"seq\":2}");
    verify_log();
    expect(MIM_AUDIT_MALFORMED, 6);
    expect(MIM_AUDIT_MALFORMED, 9);
    expect(MIM_AUDIT_MALFORMED, 12);
    expect_only(3);
}

Test(audit, checkpoint_of_another_chain_is_refused)
{
    make_log(10, 100, 1);
    log_replace(1, "test:/var/log/a.log.0", "test:/var/log/a.log.1");
    log_rechain(1);
    verify_log();
    expect(MIM_AUDIT_BAD_SIGNATURE, lg.n);
}

Test(audit, line_info_reads_type_and_seq)
{
    mim_audit_line_type_t type;
    uint64_t seq;

    make_log(2, 100, 1);
    cr_assert(mim_audit_line_info(lg.line[1], strlen(lg.line[1]), &type,
                                  &seq));
    cr_assert_eq(type, MIM_AUDIT_LINE_REQ);
    cr_assert_eq(seq, 2);
    cr_assert(!mim_audit_line_info("{\"seq\":01}", 10, &type, &seq));
}
