/*
 * test_binding.c - what a signature binds besides the JWS itself
 * (trust/mim_jws.c): Content-Digest, the htu comparison, the protected
 * header JSON and its escaping.
 */
#define _GNU_SOURCE     /* asprintf */
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>
#include <jansson.h>

#include "mim_jws.h"
#include "unit.h"

#define EMPTY_DIGEST \
    "sha-256=:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=:"
#define ABC_DIGEST \
    "sha-256=:ungWv48Bz+pBQUDeXa4iI7ADYaOWF3qctBD/YfIAFa0=:"
#define ABC_SHA512 \
    "sha-512=:3a81oZNherrMQXNJriBBMRLm+k6JqX6iCp7u5ktV05ohkpkq" \
    "J0/BqDa6PCOj/uu9RU1EI2Q86A4qmslPpUyknw==:"

/* ---- Content-Digest ---- */

Test(digest, vectors)
{
    char out[MIM_CONTENT_DIGEST_LEN + 1];

    mim_content_digest(out, (const uint8_t *) "", 0);
    cr_assert_str_eq(out, EMPTY_DIGEST);
    cr_assert_eq(strlen(out), MIM_CONTENT_DIGEST_LEN);
    mim_content_digest(out, (const uint8_t *) "abc", 3);
    cr_assert_str_eq(out, ABC_DIGEST);
}

static mim_result_t
check(const char *value, const char *body)
{
    return mim_content_digest_check(value, strlen(value),
                                    (const uint8_t *) body, strlen(body));
}

Test(digest, check_accepts)
{
    static const char *ok[] = {
        ABC_DIGEST,
        ABC_SHA512 ", " ABC_DIGEST,
        ABC_DIGEST "," ABC_SHA512,
        "  " ABC_DIGEST " ,\t" ABC_SHA512,
        ABC_DIGEST ";q=1;x",                        /* parameters */
        "md5=:AAAA:, unixsum=30, other=(\"a,b\" x);p, flag, " ABC_DIGEST,
        "s=\"quoted, \\\" comma\", " ABC_DIGEST,
        "t=?1, n=-1.5, d=@1700000000, tok=a/b:c, " ABC_DIGEST,
    };
    size_t i;
    mim_result_t r;

    for (i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        r = check(ok[i], "abc");
        cr_assert(mim_ok(r), "\"%s\": %s", ok[i], r.msg);
    }
    cr_assert(mim_ok(check(EMPTY_DIGEST, "")));
}

Test(digest, check_mismatch)
{
    mim_result_t r = check(ABC_DIGEST, "abd");

    cr_assert_eq(r.code, MIM_ERR_DIGEST, "%s", r.msg);
    r = check(EMPTY_DIGEST ", " ABC_SHA512, "abc");
    cr_assert_eq(r.code, MIM_ERR_DIGEST, "%s", r.msg);
}

Test(digest, check_refuses_garbage)
{
    static const char *bad[] = {
        "",
        " ",
        "sha-256",                                  /* a boolean */
        "sha-256=ungWv48Bz+pBQUDeXa4iI7ADYaOWF3qctBD/YfIAFa0=",
        "sha-256=:ungWv48Bz+pBQUDeXa4iI7ADYaOWF3qctBD/YfIAFa0=",
        "sha-256=:ungWv48Bz+pBQUDeXa4iI7ADYaOWF3qctBD/YfIAFa0:",
        "sha-256=:ungWv48Bz-pBQUDeXa4iI7ADYaOWF3qctBD_YfIAFa0=:",
        "sha-256=:AAAA:",                           /* not 32 bytes */
        "SHA-256=:ungWv48Bz+pBQUDeXa4iI7ADYaOWF3qctBD/YfIAFa0=:",
        ABC_DIGEST ",",
        ABC_DIGEST ", ",
        "," ABC_DIGEST,
        ABC_DIGEST " " ABC_SHA512,
        ABC_DIGEST ", " ABC_DIGEST,                 /* twice */
        "x=\"unterminated, " ABC_DIGEST,
        "x=(a b, " ABC_DIGEST,
        ABC_DIGEST ";",
        "=:AAAA:",
    };
    size_t i;
    mim_result_t r;

    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        r = check(bad[i], "abc");
        cr_assert_eq(r.code, MIM_ERR_INVALID, "\"%s\" -> %s: %s", bad[i],
                     mim_code_name(r.code), r.msg);
    }
    /* a well-formed dictionary without sha-256 */
    r = check(ABC_SHA512, "abc");
    cr_assert_eq(r.code, MIM_ERR_UNSUPPORTED, "%s", r.msg);
    cr_assert_not_null(strstr(r.msg, "sha-256"));
    /* a NUL inside */
    r = mim_content_digest_check(ABC_DIGEST "\0", sizeof(ABC_DIGEST),
                                 (const uint8_t *) "abc", 3);
    cr_assert_eq(r.code, MIM_ERR_INVALID, "%s", r.msg);
}

/* ---- htu ---- */

static int
htu_eq(const char *a, const char *b)
{
    int ab = mim_htu_equal(a, strlen(a), b, strlen(b));

    /* the relation is symmetric */
    cr_assert_eq(ab, mim_htu_equal(b, strlen(b), a, strlen(a)),
                 "%s vs %s", a, b);
    return ab;
}

Test(htu, equal)
{
    cr_assert(htu_eq("https://city.example/a?b=1",
                     "https://city.example/a?b=1"));
    cr_assert(htu_eq("HTTPS://City.Example/a", "https://city.example/a"));
    cr_assert(htu_eq("https://city.example:443/a", "https://city.example/a"));
    cr_assert(htu_eq("http://city.example:80/a", "http://city.example/a"));
    cr_assert(htu_eq("https://city.example:8443/a",
                     "https://CITY.example:8443/a"));
    cr_assert(htu_eq("https://city.example:0443/a", "https://city.example/a"));
    cr_assert(htu_eq("https://city.example:/a", "https://city.example/a"));
    cr_assert(htu_eq("https://[::1]:443/a", "https://[::1]/a"));
    cr_assert(htu_eq("https://city.example", "https://city.example/"));
    cr_assert(htu_eq("https://city.example?x", "https://city.example/?x"));
    cr_assert(htu_eq("not a url", "not a url"));
    cr_assert(htu_eq("", ""));
}

Test(htu, different)
{
    cr_assert_not(htu_eq("https://city.example/a", "http://city.example/a"));
    cr_assert_not(htu_eq("https://city.example/a", "https://city.example/A"));
    cr_assert_not(htu_eq("https://city.example/a?b=1",
                         "https://city.example/a?b=2"));
    cr_assert_not(htu_eq("https://city.example/a", "https://city.example/a/"));
    cr_assert_not(htu_eq("https://city.example:8443/a",
                         "https://city.example/a"));
    cr_assert_not(htu_eq("http://city.example:443/a",
                         "http://city.example/a"));
    cr_assert_not(htu_eq("https://city.example:80/a",
                         "https://city.example/a"));
    cr_assert_not(htu_eq("https://city.example/a%2F",
                         "https://city.example/a/"));
    cr_assert_not(htu_eq("https://city.example.evil/a",
                         "https://city.example/a"));
    cr_assert_not(htu_eq("https://[::1]:8443/a", "https://[::1]/a"));
    cr_assert_not(htu_eq("https://user@city.example/a",
                         "https://city.example/a"));
    cr_assert_not(htu_eq("https://city.example:44x/a",
                         "https://city.example:44x/b"));
    cr_assert_not(htu_eq("garbage", "garbagE"));
    cr_assert_not(htu_eq("https://city.example/a", ""));
    cr_assert_not(mim_htu_equal(NULL, 0, "", 0));
}

/* ---- protected header ---- */

static mim_key_t key;

static void
teardown(void)
{
    mim_key_free(&key);
}

TestSuite(header, .fini = teardown);

static void
make_key(void)
{
    EVP_PKEY *pkey = ut_keygen("P-256");

    ut_key_from_pkey(&key, pkey, NULL);
    EVP_PKEY_free(pkey);
}

Test(header, exact_text_and_order)
{
    char out[1024], *want;
    mim_jws_binding_t b = ut_binding();
    size_t len;
    mim_result_t r;

    make_key();
    r = mim_jws_protected_header(out, sizeof(out), &len, &key, &b);
    cr_assert(mim_ok(r), "%s", r.msg);
    cr_assert_gt(asprintf(&want, "{\"alg\":\"ES256\",\"kid\":\"%s\","
                          "\"iat\":1700000000,\"htm\":\"GET\","
                          "\"htu\":\"https://city.example/api?x=1\","
                          "\"status\":200}", key.kid), 0);
    cr_assert_str_eq(out, want);
    cr_assert_eq(len, strlen(want));
    free(want);
}

Test(header, x5c_goes_after_kid)
{
    char out[8192];
    mim_jws_binding_t b = ut_binding();
    char *x5c[2] = { "AAAA", "BBBB" };
    size_t len;

    make_key();
    key.x5c = x5c;
    key.x5c_n = 2;
    cr_assert(mim_ok(mim_jws_protected_header(out, sizeof(out), &len, &key,
                                              &b)));
    key.x5c = NULL;
    key.x5c_n = 0;
    cr_assert_not_null(strstr(out, "\",\"x5c\":[\"AAAA\",\"BBBB\"],\"iat\":"),
                       "%s", out);
}

Test(header, escaping_parses_back)
{
    static const char htu[] =
        "https://h/\"q\"\\x\n\r\t\x01\x1f\x7f/\xc3\xa9/\xff/\xe2\x82/end";
    static const char htm[] = "G\"T";
    char out[2048];
    mim_jws_binding_t b = ut_binding();
    json_error_t err;
    json_t *j;
    size_t len;
    mim_result_t r;

    make_key();
    b.htu = htu;
    b.htu_len = sizeof(htu) - 1;
    b.htm = htm;
    b.htm_len = sizeof(htm) - 1;
    b.status = 502;
    b.iat = 0;
    r = mim_jws_protected_header(out, sizeof(out), &len, &key, &b);
    cr_assert(mim_ok(r), "%s", r.msg);
    /* plain printable ASCII and valid UTF-8 only */
    for (size_t i = 0; i < len; i++) {
        cr_assert((unsigned char) out[i] >= 0x20 && out[i] != 0x7f,
                  "raw control byte at %zu", i);
    }
    j = json_loadb(out, len, JSON_REJECT_DUPLICATES, &err);
    cr_assert_not_null(j, "not JSON: %s in %s", err.text, out);
    cr_assert_str_eq(json_string_value(json_object_get(j, "htm")), "G\"T");
    /* valid UTF-8 kept; stray bytes read as Latin-1 (\u00ff, \u00e2...) */
    cr_assert_str_eq(json_string_value(json_object_get(j, "htu")),
                     "https://h/\"q\"\\x\n\r\t\x01\x1f\x7f/\xc3\xa9/"
                     "\xc3\xbf/\xc3\xa2\xc2\x82/end");
    cr_assert_eq(json_integer_value(json_object_get(j, "status")), 502);
    cr_assert_eq(json_integer_value(json_object_get(j, "iat")), 0);
    json_decref(j);
}

Test(header, embedded_nul_is_escaped)
{
    static const char htu[] = "https://h/a\0b";
    char out[1024];
    mim_jws_binding_t b = ut_binding();
    size_t len;

    make_key();
    b.htu = htu;
    b.htu_len = sizeof(htu) - 1;
    cr_assert(mim_ok(mim_jws_protected_header(out, sizeof(out), &len, &key,
                                              &b)));
    cr_assert_not_null(strstr(out, "\"https://h/a\\u0000b\""), "%s", out);
    cr_assert_eq(strlen(out), len);
}

Test(header, too_long_is_a_limit)
{
    char out[4096];
    mim_jws_binding_t b = ut_binding();
    char *big = malloc(5000);
    size_t len = 99, cap;
    mim_result_t r;

    make_key();
    memset(big, '"', 5000);
    b.htu = big;
    b.htu_len = 5000;
    r = mim_jws_protected_header(out, sizeof(out), &len, &key, &b);
    cr_assert_eq(r.code, MIM_ERR_LIMIT, "%s", r.msg);
    cr_assert_eq(len, 0);
    cr_assert_str_eq(out, "");
    /* the exact size fits, one byte less does not */
    b = ut_binding();
    r = mim_jws_protected_header(out, sizeof(out), &len, &key, &b);
    cr_assert(mim_ok(r));
    cap = len + 1;
    cr_assert(mim_ok(mim_jws_protected_header(out, cap, &len, &key, &b)));
    r = mim_jws_protected_header(out, cap - 1, &len, &key, &b);
    cr_assert_eq(r.code, MIM_ERR_LIMIT);
    free(big);
}
