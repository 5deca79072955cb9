/*
 * test_jws.c - detached JWS (trust/mim_jws.c): the streaming signer and
 * the strict verifier, with RFC vectors, every algorithm, tampering, the
 * header members that are always refused, kid lookup and x5c chains.
 */
#define _GNU_SOURCE     /* asprintf */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <criterion/criterion.h>

#include "mim_b64.h"
#include "mim_jws.h"
#include "unit.h"

/* RFC 7515 A.3 (ES256) and RFC 8037 A.4 (EdDSA), payload made detached */
static const char rfc7515_ec_jwk[] =
    "{\"kty\":\"EC\",\"crv\":\"P-256\","
    "\"x\":\"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU\","
    "\"y\":\"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0\"}";
static const char rfc7515_a3_jws[] =
    "eyJhbGciOiJFUzI1NiJ9..DtEhU3ljbEg8L38VWAfUAqOyKAM6-Xx-F4GawxaepmXFCgfTjD"
    "xw5djxLa8ISlSApmWQxfKTUJqPP3-Kg6NU1Q";
static const char rfc7515_payload[] =
    "{\"iss\":\"joe\",\r\n \"exp\":1300819380,\r\n"
    " \"http://example.com/is_root\":true}";
static const char rfc8037_jwk[] =
    "{\"kty\":\"OKP\",\"crv\":\"Ed25519\","
    "\"x\":\"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo\"}";
static const char rfc8037_a4_jws[] =
    "eyJhbGciOiJFZERTQSJ9..hgyY0il_MGCjP0JzlnLWG1PPOt7-09PGcvMg3AIbQR6dWbhij"
    "cNR4ki4iylGjg5BhVsPt9g7sVvpAr_MuM0KAg";
static const char rfc8037_payload[] = "Example of Ed25519 signing";

static mim_key_t key;
static mim_keyset_t set;

static void
teardown(void)
{
    mim_key_free(&key);
    mim_keyset_free(&set);
}

TestSuite(jws, .fini = teardown);

/* a key set holding the public half of key (through its JWK) */
static void
set_of_key(void)
{
    json_t *jwk = mim_key_to_jwk(&key), *doc;
    char *text;
    mim_result_t r;

    cr_assert_not_null(jwk);
    doc = json_pack("{s:[o]}", "keys", jwk);
    text = json_dumps(doc, JSON_COMPACT);
    r = mim_keyset_from_jwks(&set, text, strlen(text));
    cr_assert(mim_ok(r), "%s", r.msg);
    cr_assert_eq(set.n, 1);
    free(text);
    json_decref(doc);
}

static void
set_of_jwk(const char *jwk)
{
    char *doc;
    mim_result_t r;

    cr_assert_gt(asprintf(&doc, "{\"keys\":[%s]}", jwk), 0);
    r = mim_keyset_from_jwks(&set, doc, strlen(doc));
    free(doc);
    cr_assert(mim_ok(r), "%s", r.msg);
}

static mim_result_t
verify(const char *jws, const void *payload, size_t n, mim_jws_info_t *info)
{
    mim_jws_trust_t trust = { .keys = &set };

    return mim_jws_verify_detached(jws, strlen(jws), payload, n, &trust,
                                   info);
}

static void
assert_code(mim_result_t r, mim_code_t code, const char *says)
{
    cr_assert_eq(r.code, code, "got %s: %s", mim_code_name(r.code), r.msg);
    if (says != NULL) {
        cr_assert_not_null(strstr(r.msg, says), "\"%s\" lacks \"%s\"", r.msg,
                           says);
    }
}

/* ---- known answers ---- */

Test(jws, rfc7515_a3_es256_vector)
{
    mim_jws_info_t info;
    mim_result_t r;

    set_of_jwk(rfc7515_ec_jwk);
    r = verify(rfc7515_a3_jws, rfc7515_payload, strlen(rfc7515_payload),
               &info);
    cr_assert(mim_ok(r), "%s", r.msg);
    cr_assert_eq(info.alg, MIM_ALG_ES256);
    cr_assert_str_eq(info.kid, "");
    cr_assert_eq(info.iat, -1);
    cr_assert_eq(info.status, -1);
    cr_assert_eq(strncmp(info.signer, "kid ", 4), 0);
    /* one byte more in the payload */
    r = verify(rfc7515_a3_jws, rfc7515_payload, strlen(rfc7515_payload) - 1,
               NULL);
    assert_code(r, MIM_ERR_SIGNATURE, "does not verify");
}

Test(jws, rfc8037_a4_eddsa_vector)
{
    mim_result_t r;

    set_of_jwk(rfc8037_jwk);
    r = verify(rfc8037_a4_jws, rfc8037_payload, strlen(rfc8037_payload),
               NULL);
    cr_assert(mim_ok(r), "%s", r.msg);
    r = verify(rfc8037_a4_jws, "Example of Ed25519 signinG", 26, NULL);
    assert_code(r, MIM_ERR_SIGNATURE, NULL);
}

/* ---- round trips ---- */

static void
round_trip(const char *what, const char *alg, mim_alg_t want)
{
    uint8_t body[97];
    size_t cuts[2], i, j;
    char digest[MIM_CONTENT_DIGEST_LEN + 1], whole[MIM_CONTENT_DIGEST_LEN + 1];
    mim_jws_binding_t b = ut_binding();
    mim_jws_info_t info;
    EVP_PKEY *pkey = ut_keygen(what);
    mim_result_t r;
    char *jws;

    ut_key_from_pkey(&key, pkey, alg);
    EVP_PKEY_free(pkey);
    cr_assert_eq(key.alg, want);
    set_of_key();
    ut_fill(body, sizeof(body), 42);
    mim_content_digest(whole, body, sizeof(body));
    /* a few two- and three-piece splits, empty pieces included */
    for (i = 0; i <= sizeof(body); i += 24) {
        for (j = i; j <= sizeof(body); j += 31) {
            cuts[0] = i;
            cuts[1] = j;
            jws = ut_sign(&key, &b, body, sizeof(body), cuts, 2, digest);
            cr_assert_str_eq(digest, whole);
            r = verify(jws, body, sizeof(body), &info);
            cr_assert(mim_ok(r), "%s split %zu,%zu: %s", what, i, j, r.msg);
            free(jws);
        }
    }
    cr_assert_eq(info.alg, want);
    cr_assert_str_eq(info.kid, key.kid);
    cr_assert_eq(info.iat, 1700000000);
    cr_assert_str_eq(info.htm, "GET");
    cr_assert_str_eq(info.htu, "https://city.example/api?x=1");
    cr_assert_eq(info.status, 200);
    cr_assert_eq(info.x5c_n, 0);
    cr_assert_eq(strncmp(info.signer, "kid ", 4), 0);
    cr_assert_str_eq(info.signer + 4, key.kid);
}

Test(jws, round_trip_es256)
{
    round_trip("P-256", NULL, MIM_ALG_ES256);
}

Test(jws, round_trip_ps256)
{
    round_trip("RSA2048", NULL, MIM_ALG_PS256);
}

Test(jws, round_trip_rs256)
{
    round_trip("RSA2048", "RS256", MIM_ALG_RS256);
}

Test(jws, round_trip_ps512_rs384)
{
    round_trip("RSA2048", "PS512", MIM_ALG_PS512);
    mim_key_free(&key);
    mim_keyset_free(&set);
    round_trip("RSA2048", "RS384", MIM_ALG_RS384);
}

Test(jws, round_trip_eddsa)
{
    round_trip("ED25519", NULL, MIM_ALG_EDDSA);
}

/* bodies larger than the signer's internal chunk, odd pieces */
static void
large_body(const char *what)
{
    size_t n = 50001, cuts[3] = { 1, 6146, 20000 };
    uint8_t *body = malloc(n);
    char digest[MIM_CONTENT_DIGEST_LEN + 1], *jws, *one;
    mim_jws_binding_t b = ut_binding();
    EVP_PKEY *pkey = ut_keygen(what);
    mim_result_t r;

    ut_key_from_pkey(&key, pkey, NULL);
    EVP_PKEY_free(pkey);
    set_of_key();
    ut_fill(body, n, 9);
    jws = ut_sign(&key, &b, body, n, cuts, 3, digest);
    r = verify(jws, body, n, NULL);
    cr_assert(mim_ok(r), "%s", r.msg);
    r = mim_content_digest_check(digest, strlen(digest), body, n);
    cr_assert(mim_ok(r), "%s", r.msg);
    body[n - 1] ^= 1;
    assert_code(verify(jws, body, n, NULL), MIM_ERR_SIGNATURE, NULL);
    /* EdDSA is deterministic: the split cannot change the signature */
    if (key.alg == MIM_ALG_EDDSA) {
        body[n - 1] ^= 1;
        one = ut_sign(&key, &b, body, n, NULL, 0, digest);
        cr_assert_str_eq(one, jws);
        free(one);
    }
    free(jws);
    free(body);
}

Test(jws, large_body_es256)
{
    large_body("P-256");
}

Test(jws, large_body_eddsa)
{
    large_body("ED25519");
}

Test(jws, empty_body)
{
    char digest[MIM_CONTENT_DIGEST_LEN + 1], *jws;
    mim_jws_binding_t b = ut_binding();
    EVP_PKEY *pkey = ut_keygen("P-256");
    mim_result_t r;

    ut_key_from_pkey(&key, pkey, NULL);
    EVP_PKEY_free(pkey);
    set_of_key();
    jws = ut_sign(&key, &b, (const uint8_t *) "", 0, NULL, 0, digest);
    cr_assert_str_eq(digest,
                     "sha-256=:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=:");
    r = verify(jws, NULL, 0, NULL);
    cr_assert(mim_ok(r), "%s", r.msg);
    assert_code(verify(jws, "x", 1, NULL), MIM_ERR_SIGNATURE, NULL);
    free(jws);
}

Test(jws, signer_is_single_use)
{
    char header[1024], digest[MIM_CONTENT_DIGEST_LEN + 1], *jws;
    mim_jws_binding_t b = ut_binding();
    mim_body_signer_t *signer;
    EVP_PKEY *pkey = ut_keygen("P-256");
    size_t hlen;
    mim_result_t r;

    ut_key_from_pkey(&key, pkey, NULL);
    EVP_PKEY_free(pkey);
    r = mim_jws_protected_header(header, sizeof(header), &hlen, &key, &b);
    cr_assert(mim_ok(r));
    r = mim_body_signer_new(&signer, &key, header, hlen);
    cr_assert(mim_ok(r));
    cr_assert(mim_ok(mim_body_signer_update(signer, (uint8_t *) "ab", 2)));
    r = mim_body_signer_final(signer, digest, &jws, NULL);
    cr_assert(mim_ok(r), "%s", r.msg);
    free(jws);
    assert_code(mim_body_signer_update(signer, (uint8_t *) "c", 1),
                MIM_ERR_INVALID, NULL);
    assert_code(mim_body_signer_final(signer, digest, &jws, NULL),
                MIM_ERR_INVALID, NULL);
    cr_assert_null(jws);
    mim_body_signer_free(signer);
    mim_body_signer_free(NULL);
}

/* ---- tampering ---- */

/* a signed "hello" under a fresh key of the given kind */
static char *
signed_hello(const char *what, const char *alg)
{
    char digest[MIM_CONTENT_DIGEST_LEN + 1];
    mim_jws_binding_t b = ut_binding();
    EVP_PKEY *pkey = ut_keygen(what);

    ut_key_from_pkey(&key, pkey, alg);
    EVP_PKEY_free(pkey);
    set_of_key();
    return ut_sign(&key, &b, (const uint8_t *) "hello", 5, NULL, 0, digest);
}

static char *
header_of(const char *jws)
{
    uint8_t buf[4096];
    size_t n, hlen = (size_t) (strchr(jws, '.') - jws);
    char *s;

    cr_assert_eq(mim_b64url_decode(buf, &n, jws, hlen), 0);
    s = strndup((char *) buf, n);
    cr_assert_not_null(s);
    return s;
}

/* jws with the first occurrence of from in its header replaced by to */
static char *
edit_header(const char *jws, const char *from, const char *to)
{
    char *hdr = header_of(jws), *at = strstr(hdr, from), *edited, *out;

    cr_assert_not_null(at, "%s not in %s", from, hdr);
    cr_assert_gt(asprintf(&edited, "%.*s%s%s", (int) (at - hdr), hdr, to,
                          at + strlen(from)), 0);
    out = ut_jws_with_header(jws, edited);
    free(edited);
    free(hdr);
    return out;
}

Test(jws, tampered_payload_header_signature)
{
    char *jws = signed_hello("P-256", NULL), *bad, *first, *sig_b64;
    uint8_t sig[80];
    size_t sig_len;

    cr_assert(mim_ok(verify(jws, "hello", 5, NULL)));
    assert_code(verify(jws, "hellO", 5, NULL), MIM_ERR_SIGNATURE, NULL);
    assert_code(verify(jws, "hell", 4, NULL), MIM_ERR_SIGNATURE, NULL);

    /* a header that says 404 instead of 200 */
    bad = edit_header(jws, "\"status\":200", "\"status\":404");
    assert_code(verify(bad, "hello", 5, NULL), MIM_ERR_SIGNATURE, NULL);
    free(bad);

    /* the signature's first 6 bits changed */
    bad = strdup(jws);
    first = strstr(bad, "..") + 2;
    *first = *first == 'A' ? 'B' : 'A';
    assert_code(verify(bad, "hello", 5, NULL), MIM_ERR_SIGNATURE, NULL);
    free(bad);
    /* a signature one byte short: ES256 signatures are exactly 64 bytes */
    first = strstr(jws, "..") + 2;
    cr_assert_eq(mim_b64url_decode(sig, &sig_len, first, strlen(first)), 0);
    cr_assert_eq(sig_len, 64);
    sig_b64 = ut_b64url(sig, 63);
    cr_assert_gt(asprintf(&bad, "%.*s%s", (int) (first - jws), jws, sig_b64),
                 0);
    assert_code(verify(bad, "hello", 5, NULL), MIM_ERR_SIGNATURE,
                "ES256 signature of 63 bytes (64 expected)");
    free(sig_b64);
    free(bad);
    free(jws);
}

Test(jws, alg_must_fit_the_key)
{
    char *jws = signed_hello("P-256", NULL), *bad;

    bad = edit_header(jws, "ES256", "RS256");
    assert_code(verify(bad, "hello", 5, NULL), MIM_ERR_MISMATCH,
                "alg RS256 does not fit the key (ES256)");
    free(bad);
    bad = edit_header(jws, "ES256", "EdDSA");
    assert_code(verify(bad, "hello", 5, NULL), MIM_ERR_MISMATCH, NULL);
    free(bad);
    free(jws);
}

Test(jws, rsa_key_pinned_by_its_alg)
{
    char *jws = signed_hello("RSA2048", "RS256"), *bad;

    cr_assert(mim_ok(verify(jws, "hello", 5, NULL)));
    bad = edit_header(jws, "RS256", "PS256");
    assert_code(verify(bad, "hello", 5, NULL), MIM_ERR_MISMATCH, "(RS256)");
    free(bad);
    free(jws);
}

Test(jws, unpinned_rsa_key_checks_the_named_padding)
{
    char *jws = signed_hello("RSA2048", "PS256"), *bad;
    json_t *jwk;
    char *doc;
    mim_result_t r;

    /* the same public key without "alg": any RS / PS is acceptable */
    mim_keyset_free(&set);
    jwk = mim_key_to_jwk(&key);
    json_object_del(jwk, "alg");
    doc = json_dumps(jwk, JSON_COMPACT);
    set_of_jwk(doc);
    free(doc);
    json_decref(jwk);
    cr_assert_not(set.keys[0].alg_pinned);
    r = verify(jws, "hello", 5, NULL);
    cr_assert(mim_ok(r), "%s", r.msg);
    /* a PSS signature presented as PKCS#1 v1.5 does not verify */
    bad = edit_header(jws, "PS256", "RS256");
    assert_code(verify(bad, "hello", 5, NULL), MIM_ERR_SIGNATURE, NULL);
    free(bad);
    bad = edit_header(jws, "PS256", "ES256");
    assert_code(verify(bad, "hello", 5, NULL), MIM_ERR_MISMATCH,
                "(RS* or PS*)");
    free(bad);
    free(jws);
}

Test(jws, refused_header_members)
{
    static const struct {
        const char *from, *to;
        mim_code_t code;
        const char *says;
    } cases[] = {
        { "\"alg\":\"ES256\"", "\"alg\":\"none\"", MIM_ERR_UNSUPPORTED,
          "alg none" },
        { "\"alg\":\"ES256\"", "\"alg\":\"HS256\"", MIM_ERR_UNSUPPORTED,
          "alg HS256" },
        { "\"alg\":\"ES256\"", "\"alg\":\"es256\"", MIM_ERR_UNSUPPORTED,
          NULL },
        { "\"alg\":\"ES256\"", "\"alg\":256", MIM_ERR_INVALID, "alg" },
        { "\"alg\":\"ES256\",", "", MIM_ERR_INVALID, "no alg" },
        { "\"iat\"", "\"jku\":\"https://evil/\",\"iat\"",
          MIM_ERR_UNSUPPORTED, "jku" },
        { "\"iat\"", "\"x5u\":\"https://evil/\",\"iat\"",
          MIM_ERR_UNSUPPORTED, "x5u" },
        { "\"iat\"", "\"jwk\":{},\"iat\"", MIM_ERR_UNSUPPORTED, "jwk" },
        { "\"iat\"", "\"crit\":[\"exp\"],\"exp\":1,\"iat\"",
          MIM_ERR_UNSUPPORTED, "crit" },
        { "\"iat\"", "\"b64\":false,\"iat\"", MIM_ERR_UNSUPPORTED, "b64" },
        { "\"iat\"", "\"alg\":\"ES256\",\"iat\"", MIM_ERR_INVALID,
          "JSON" },      /* duplicate member */
        { "\"iat\":1700000000", "\"iat\":\"1700000000\"", MIM_ERR_INVALID,
          "iat" },
        { "\"iat\":1700000000", "\"iat\":1.5", MIM_ERR_INVALID, "iat" },
        { "\"status\":200", "\"status\":\"200\"", MIM_ERR_INVALID, "status" },
        { "\"htm\":\"GET\"", "\"htm\":1", MIM_ERR_INVALID, "htm" },
        { "\"htu\":\"", "\"htu\":[\"", MIM_ERR_INVALID, "JSON" },
        { "\"kid\":\"", "\"kid\":7,\"x\":\"", MIM_ERR_INVALID, "kid" },
        { "\"iat\"", "\"x5c\":\"MII\",\"iat\"", MIM_ERR_INVALID, "x5c" },
    };
    char *jws = signed_hello("P-256", NULL), *bad;
    mim_jws_info_t info;
    size_t i;
    mim_result_t r;

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        bad = edit_header(jws, cases[i].from, cases[i].to);
        r = verify(bad, "hello", 5, &info);
        cr_assert_eq(r.code, cases[i].code, "case %zu (%s): %s: %s", i,
                     cases[i].to, mim_code_name(r.code), r.msg);
        if (cases[i].says != NULL) {
            cr_assert_not_null(strstr(r.msg, cases[i].says), "case %zu: %s",
                               i, r.msg);
        }
        free(bad);
    }
    free(jws);
}

Test(jws, malformed_compact_forms)
{
    char *jws = signed_hello("P-256", NULL), *bad, *sig;
    mim_result_t r;
    char big[30000];

    sig = strstr(jws, "..") + 2;
    /* an attached payload is not a detached JWS */
    cr_assert_gt(asprintf(&bad, "%.*s.aGVsbG8.%s",
                          (int) (sig - 2 - jws), jws, sig), 0);
    assert_code(verify(bad, "hello", 5, NULL), MIM_ERR_INVALID, "not empty");
    free(bad);
    cr_assert_gt(asprintf(&bad, "%s.", jws), 0);
    assert_code(verify(bad, "hello", 5, NULL), MIM_ERR_INVALID, "two");
    free(bad);
    assert_code(verify("abc", "", 0, NULL), MIM_ERR_INVALID, NULL);
    assert_code(verify("", "", 0, NULL), MIM_ERR_INVALID, NULL);
    assert_code(verify("..", "", 0, NULL), MIM_ERR_INVALID, NULL);
    assert_code(verify(".", "", 0, NULL), MIM_ERR_INVALID, NULL);
    cr_assert_gt(asprintf(&bad, "..%s", sig), 0);
    assert_code(verify(bad, "", 0, NULL), MIM_ERR_INVALID, NULL);
    free(bad);
    /* padding or a stray character in a part */
    cr_assert_gt(asprintf(&bad, "%.*s=..%s", (int) (sig - 2 - jws), jws, sig),
                 0);
    assert_code(verify(bad, "hello", 5, NULL), MIM_ERR_INVALID, "base64url");
    free(bad);
    cr_assert_gt(asprintf(&bad, "%.*s..%s=", (int) (sig - 2 - jws), jws, sig),
                 0);
    assert_code(verify(bad, "hello", 5, NULL), MIM_ERR_INVALID, "base64url");
    free(bad);
    /* headers that are not JSON objects */
    bad = ut_jws_with_header(jws, "[\"alg\",\"ES256\"]");
    assert_code(verify(bad, "hello", 5, NULL), MIM_ERR_INVALID, "object");
    free(bad);
    bad = ut_jws_with_header(jws, "{\"alg\":\"ES256\"");
    assert_code(verify(bad, "hello", 5, NULL), MIM_ERR_INVALID, "JSON");
    free(bad);
    /* a header over 16 KiB */
    memset(big, 'A', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    memcpy(big + sizeof(big) - 10, "..AAAA", 7);
    r = verify(big, "", 0, NULL);
    assert_code(r, MIM_ERR_LIMIT, NULL);
    /* a JWS is read to its length only (86 chars of signature cut to 85) */
    r = mim_jws_verify_detached(jws, strlen(jws) - 1, (uint8_t *) "hello", 5,
                                &(mim_jws_trust_t) { .keys = &set }, NULL);
    assert_code(r, MIM_ERR_INVALID, "base64url");
    free(jws);
}

/* a JWS over payload with exactly this protected header, signed by key */
static char *
sign_header(const char *header, const char *payload)
{
    char digest[MIM_CONTENT_DIGEST_LEN + 1], *jws;
    mim_body_signer_t *s;

    cr_assert(mim_ok(mim_body_signer_new(&s, &key, header, strlen(header))));
    cr_assert(mim_ok(mim_body_signer_update(s, (const uint8_t *) payload,
                                            strlen(payload))));
    cr_assert(mim_ok(mim_body_signer_final(s, digest, &jws, NULL)));
    mim_body_signer_free(s);
    return jws;
}

/* the RFC 7515 key and key's public half */
static void
two_keys(mim_keyset_t *two)
{
    json_error_t err;
    json_t *doc = json_pack("{s:[o,o]}", "keys",
                            json_loads(rfc7515_ec_jwk, 0, &err),
                            mim_key_to_jwk(&key));
    char *text = json_dumps(doc, 0);
    mim_result_t r = mim_keyset_from_jwks(two, text, strlen(text));

    cr_assert(mim_ok(r), "%s", r.msg);
    cr_assert_eq(two->n, 2);
    free(text);
    json_decref(doc);
}

Test(jws, key_selection)
{
    char *jws = signed_hello("P-256", NULL), *bad;
    mim_jws_info_t info;
    mim_keyset_t two;
    mim_jws_trust_t trust = { .keys = &two };
    mim_result_t r;

    /* unknown kid */
    bad = edit_header(jws, "\"kid\":\"", "\"kid\":\"X");
    r = verify(bad, "hello", 5, &info);
    assert_code(r, MIM_ERR_NOT_FOUND, "unknown kid X");
    cr_assert_eq(strncmp(info.kid, "X", 1), 0);
    free(bad);

    /* no kid and one key: that key */
    bad = sign_header("{\"alg\":\"ES256\",\"iat\":1}", "hello");
    r = verify(bad, "hello", 5, &info);
    cr_assert(mim_ok(r), "%s", r.msg);
    cr_assert_str_eq(info.kid, "");

    /* no kid and two keys: refused */
    two_keys(&two);
    r = mim_jws_verify_detached(bad, strlen(bad), (uint8_t *) "hello", 5,
                                &trust, NULL);
    assert_code(r, MIM_ERR_NOT_FOUND, "2 keys");
    /* with its kid, the right one of two */
    r = mim_jws_verify_detached(jws, strlen(jws), (uint8_t *) "hello", 5,
                                &trust, NULL);
    cr_assert(mim_ok(r), "%s", r.msg);
    mim_keyset_free(&two);
    free(bad);

    /* nothing to verify with */
    r = mim_jws_verify_detached(jws, strlen(jws), (uint8_t *) "hello", 5,
                                NULL, NULL);
    assert_code(r, MIM_ERR_KEY, NULL);
    r = mim_jws_verify_detached(jws, strlen(jws), (uint8_t *) "hello", 5,
                                &(mim_jws_trust_t) { 0 }, NULL);
    assert_code(r, MIM_ERR_KEY, NULL);
    free(jws);
}

/* ---- x5c chains ---- */

typedef struct {
    EVP_PKEY *ca_key, *leaf_key;
    X509 *ca, *leaf;
    X509_STORE *store;
} pki_t;

static void
pki_make(pki_t *p, time_t leaf_from, time_t leaf_to)
{
    time_t now = time(NULL);

    p->ca_key = ut_keygen("P-256");
    p->leaf_key = ut_keygen("P-256");
    p->ca = ut_cert(p->ca_key, "City Root CA", NULL, NULL, 1, now - 86400 * 400,
                    now + 86400 * 400, "keyCertSign,cRLSign");
    p->leaf = ut_cert(p->leaf_key, "gateway.city.example", p->ca, p->ca_key, 0,
                      leaf_from, leaf_to, "digitalSignature");
    p->store = X509_STORE_new();
    cr_assert(X509_STORE_add_cert(p->store, p->ca));
}

static void
pki_free(pki_t *p)
{
    X509_STORE_free(p->store);
    X509_free(p->leaf);
    X509_free(p->ca);
    EVP_PKEY_free(p->leaf_key);
    EVP_PKEY_free(p->ca_key);
}

/* key = the pki's leaf key with leaf + CA attached as x5c */
static void
key_with_chain(pki_t *p)
{
    char *a = ut_pem_cert(p->leaf), *b = ut_pem_cert(p->ca), *both, *path;
    mim_result_t r;

    ut_key_from_pkey(&key, p->leaf_key, NULL);
    cr_assert_gt(asprintf(&both, "%s%s", a, b), 0);
    path = ut_temp_file(both);
    r = mim_key_load_cert_chain(&key, path);
    cr_assert(mim_ok(r), "%s", r.msg);
    ut_temp_remove(path);
    free(both);
    free(a);
    free(b);
}

static mim_result_t
verify_x5c(const char *jws, X509_STORE *store, long now, mim_jws_info_t *info)
{
    mim_jws_trust_t trust = { .store = store, .now = now };

    return mim_jws_verify_detached(jws, strlen(jws), (uint8_t *) "hello", 5,
                                   &trust, info);
}

Test(jws, x5c_chain_to_the_store)
{
    time_t now = time(NULL);
    char digest[MIM_CONTENT_DIGEST_LEN + 1], *jws, *bad;
    mim_jws_binding_t b = ut_binding();
    mim_jws_info_t info;
    mim_result_t r;
    pki_t p, other;

    pki_make(&p, now - 3600, now + 3600);
    key_with_chain(&p);
    jws = ut_sign(&key, &b, (const uint8_t *) "hello", 5, NULL, 0, digest);

    r = verify_x5c(jws, p.store, 0, &info);
    cr_assert(mim_ok(r), "%s", r.msg);
    cr_assert_eq(info.x5c_n, 2);
    cr_assert_str_eq(info.signer, "CN=gateway.city.example");
    cr_assert_str_eq(info.kid, key.kid);

    /* another CA does not vouch for it */
    pki_make(&other, now - 3600, now + 3600);
    r = verify_x5c(jws, other.store, 0, &info);
    assert_code(r, MIM_ERR_UNTRUSTED, NULL);

    /* at a time after the leaf expired */
    r = verify_x5c(jws, p.store, now + 7200, &info);
    assert_code(r, MIM_ERR_UNTRUSTED, "expired");

    /* the chain verifies but the signature is not the leaf's */
    bad = edit_header(jws, "\"status\":200", "\"status\":201");
    assert_code(verify_x5c(bad, p.store, 0, NULL), MIM_ERR_SIGNATURE, NULL);
    free(bad);

    /* another leaf of the same CA cannot sign in this leaf's name */
    {
        mim_key_t other_key;
        mim_jws_binding_t ob = ut_binding();
        char header[8192], *forged;
        size_t hlen;
        mim_body_signer_t *s;

        ut_key_from_pkey(&other_key, other.leaf_key, NULL);
        /* the victim's header (with its x5c), signed with another key */
        other_key.x5c = key.x5c;
        other_key.x5c_n = key.x5c_n;
        cr_assert(mim_ok(mim_jws_protected_header(header, sizeof(header),
                                                  &hlen, &other_key, &ob)));
        other_key.x5c = NULL;
        other_key.x5c_n = 0;
        cr_assert(mim_ok(mim_body_signer_new(&s, &other_key, header, hlen)));
        cr_assert(mim_ok(mim_body_signer_update(s, (uint8_t *) "hello", 5)));
        cr_assert(mim_ok(mim_body_signer_final(s, digest, &forged, NULL)));
        mim_body_signer_free(s);
        assert_code(verify_x5c(forged, p.store, 0, NULL), MIM_ERR_SIGNATURE,
                    NULL);
        free(forged);
        mim_key_free(&other_key);
    }
    pki_free(&other);
    free(jws);
    pki_free(&p);
}

Test(jws, x5c_required_when_a_store_is_set)
{
    time_t now = time(NULL);
    char *jws = signed_hello("P-256", NULL);
    pki_t p;

    pki_make(&p, now - 3600, now + 3600);
    assert_code(verify_x5c(jws, p.store, 0, NULL), MIM_ERR_UNTRUSTED,
                "no x5c");
    free(jws);
    pki_free(&p);
}

Test(jws, x5c_expired_leaf)
{
    time_t now = time(NULL);
    char digest[MIM_CONTENT_DIGEST_LEN + 1], *jws;
    mim_jws_binding_t b = ut_binding();
    mim_result_t r;
    pki_t p;

    /* a leaf valid for one hour a day ago */
    pki_make(&p, now - 86400, now - 86400 + 3600);
    key_with_chain(&p);
    jws = ut_sign(&key, &b, (const uint8_t *) "hello", 5, NULL, 0, digest);
    r = verify_x5c(jws, p.store, 0, NULL);
    assert_code(r, MIM_ERR_UNTRUSTED, "expired");
    /* but fine when checked at a time inside its validity */
    r = verify_x5c(jws, p.store, now - 86400 + 1800, NULL);
    cr_assert(mim_ok(r), "%s", r.msg);
    free(jws);
    pki_free(&p);
}
