/*
 * test_jwt.c - compact JWS / JWT (trust/mim_jwt.c): signing and
 * verification for every algorithm, the pinned-key rules (alg allow-list
 * AND the key's alg), the headers and tokens that are always refused, and
 * the time claims.
 *
 * Tokens that mim_jwt_sign would never make (alg none, HS256, jku, crit,
 * duplicates, ...) are made here by hand, signed with OpenSSL, so that
 * each one is refused for the reason under test and not for a bad
 * signature.
 */
#define _GNU_SOURCE     /* asprintf */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "mim_b64.h"
#include "mim_jwt.h"
#include "mim_trust_int.h"
#include "unit.h"

#define NOW     1750000000LL
#define ALL_ALGS  ((mim_alg_set_t) 0xffffffffu)

static mim_key_t key;
static mim_key_t other;
static EVP_PKEY *pkey;
static mim_jwt_t jwt;
static char *token;

static void
teardown(void)
{
    mim_jwt_free(&jwt);
    mim_key_free(&key);
    mim_key_free(&other);
    EVP_PKEY_free(pkey);
    free(token);
}

TestSuite(jwt, .fini = teardown);

/* "<b64url(a)>.<b64url(b)>" */
static char *
signing_input(const char *header, const char *payload)
{
    char *h = ut_b64url(header, strlen(header));
    char *p = ut_b64url(payload, strlen(payload));
    char *s;

    cr_assert_gt(asprintf(&s, "%s.%s", h, p), 0);
    free(h);
    free(p);
    return s;
}

static char *
append_sig(char *input, const uint8_t *sig, size_t n)
{
    char *b64 = ut_b64url(sig, n), *s;

    cr_assert_gt(asprintf(&s, "%s.%s", input, b64), 0);
    free(b64);
    free(input);
    return s;
}

/* a token with any header and payload, signed with k for alg */
static char *
forge(EVP_PKEY *k, mim_alg_t alg, const char *header, const char *payload)
{
    char *input = signing_input(header, payload);
    uint8_t sig[1024], raw[64];
    size_t n = sizeof(sig);
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();

    cr_assert(mim_md_ctx_init(ctx, k, alg, 0));
    cr_assert_eq(EVP_DigestSign(ctx, sig, &n, (uint8_t *) input,
                                strlen(input)), 1);
    EVP_MD_CTX_free(ctx);
    if (alg == MIM_ALG_ES256) {
        cr_assert(mim_ecdsa_der_to_raw(sig, n, raw));
        return append_sig(input, raw, 64);
    }
    return append_sig(input, sig, n);
}

/* HS256 with secret: what an "alg confusion" attacker sends */
static char *
forge_hs256(const void *secret, size_t secret_len, const char *header,
    const char *payload)
{
    char *input = signing_input(header, payload);
    uint8_t mac[32];
    size_t n = 0;

    cr_assert_not_null(EVP_Q_mac(NULL, "HMAC", NULL, "SHA256", NULL, secret,
                                 secret_len, (uint8_t *) input,
                                 strlen(input), mac, sizeof(mac), &n));
    cr_assert_eq(n, 32);
    return append_sig(input, mac, n);
}

static const char claims_json[] =
    "{\"iss\":\"EU.EORI.NL000000001\",\"sub\":\"EU.EORI.NL000000001\","
    "\"aud\":\"EU.EORI.NL000000002\",\"jti\":\"abc\",\"iat\":1750000000,"
    "\"exp\":1750000030}";

static void
es256_key(void)
{
    pkey = ut_keygen("P-256");
    ut_key_from_pkey(&key, pkey, NULL);
}

static mim_result_t
parse(const char *t)
{
    mim_jwt_free(&jwt);
    return mim_jwt_parse(&jwt, t, strlen(t));
}

static mim_result_t
parse_verify(const char *t, const mim_key_t *k, mim_alg_set_t allowed)
{
    mim_result_t r = parse(t);

    return mim_ok(r) ? mim_jwt_verify(&jwt, k, allowed) : r;
}

#define assert_code(r, c, needle)                                         \
    do {                                                                  \
        mim_result_t r_ = (r);                                            \
        cr_assert_eq(r_.code, (c), "code %s, want %s: %s",                \
                     mim_code_name(r_.code), mim_code_name(c), r_.msg);   \
        cr_assert_not_null(strstr(r_.msg, (needle)),                      \
                           "message \"%s\" lacks \"%s\"", r_.msg,         \
                           (needle));                                     \
    } while (0)

/* ---- signing and verifying ---- */

static void
round_trip(const char *what, const char *alg_name, mim_alg_t alg)
{
    json_t *claims = json_loads(claims_json, 0, NULL);
    char *pem;
    mim_result_t r;
    size_t len = 0;

    pkey = ut_keygen(what);
    ut_key_from_pkey(&key, pkey, alg_name);
    cr_assert_eq(key.alg, alg);
    r = mim_jwt_sign(&key, "JWT", claims, &token, &len);
    json_decref(claims);
    cr_assert(mim_ok(r), "sign: %s", r.msg);
    cr_assert_eq(strlen(token), len);

    /* verified with the public key alone, pinned to the same alg */
    pem = ut_pem_public(pkey);
    r = mim_key_from_pem(&other, pem, strlen(pem), alg_name, 0);
    free(pem);
    cr_assert(mim_ok(r), "%s", r.msg);
    r = parse_verify(token, &other, mim_alg_bit(alg));
    cr_assert(mim_ok(r), "%s: %s", what, r.msg);
    cr_assert_eq(jwt.alg, alg);
    cr_assert_str_eq(jwt.typ, "JWT");
    cr_assert_str_eq(jwt.kid, key.kid);
    cr_assert_str_eq(mim_jwt_string(&jwt, "aud"), "EU.EORI.NL000000002");
    cr_assert_eq(jwt.signing_input, token);
    cr_assert_eq(jwt.signing_input_len, (size_t) (strrchr(token, '.')
                                                  - token));
}

Test(jwt, sign_verify_es256) { round_trip("P-256", NULL, MIM_ALG_ES256); }
Test(jwt, sign_verify_eddsa) { round_trip("ED25519", NULL, MIM_ALG_EDDSA); }
Test(jwt, sign_verify_rs256) { round_trip("RSA2048", "RS256", MIM_ALG_RS256); }
Test(jwt, sign_verify_ps256) { round_trip("RSA2048", NULL, MIM_ALG_PS256); }
Test(jwt, sign_verify_rs512) { round_trip("RSA2048", "RS512", MIM_ALG_RS512); }

Test(jwt, sign_header_is_compact_alg_typ_kid)
{
    json_t *claims = json_pack("{s:s}", "sub", "x");
    char *want, *dot;
    uint8_t hdr[256];
    size_t n;
    mim_result_t r;

    es256_key();
    r = mim_jwt_sign(&key, "at+jwt", claims, &token, NULL);
    cr_assert(mim_ok(r), "%s", r.msg);
    dot = strchr(token, '.');
    cr_assert_eq(mim_b64url_decode(hdr, &n, token, (size_t) (dot - token)),
                 0);
    hdr[n] = '\0';
    cr_assert_gt(asprintf(&want, "{\"alg\":\"ES256\",\"typ\":\"at+jwt\","
                          "\"kid\":\"%s\"}", key.kid), 0);
    cr_assert_str_eq((char *) hdr, want);
    free(want);
    free(token);
    token = NULL;

    /* typ NULL: no typ member at all */
    r = mim_jwt_sign(&key, NULL, claims, &token, NULL);
    json_decref(claims);
    cr_assert(mim_ok(r), "%s", r.msg);
    cr_assert(mim_ok(parse(token)));
    cr_assert_null(jwt.typ);
    cr_assert_null(json_object_get(jwt.header, "typ"));
    cr_assert_str_eq(mim_jwt_string(&jwt, "sub"), "x");
}

Test(jwt, sign_refuses_a_public_key)
{
    json_t *claims = json_pack("{s:s}", "sub", "x");
    char *pem;
    mim_result_t r;

    pkey = ut_keygen("P-256");
    pem = ut_pem_public(pkey);
    cr_assert(mim_ok(mim_key_from_pem(&key, pem, strlen(pem), NULL, 0)));
    free(pem);
    r = mim_jwt_sign(&key, NULL, claims, &token, NULL);
    json_decref(claims);
    cr_assert_not(mim_ok(r));
    cr_assert_null(token);
}

/* two signatures of the same claims differ (ECDSA) and both verify */
Test(jwt, forged_with_openssl_verifies)
{
    es256_key();
    token = forge(pkey, MIM_ALG_ES256, "{\"alg\":\"ES256\"}", claims_json);
    cr_assert(mim_ok(parse_verify(token, &key, ALL_ALGS)));
    cr_assert_null(jwt.kid);
    cr_assert_null(jwt.typ);
}

Test(jwt, tampered_payload_fails)
{
    char *dot1, *bad;
    char *payload;

    es256_key();
    token = forge(pkey, MIM_ALG_ES256, "{\"alg\":\"ES256\"}", claims_json);
    /* the same signature over other claims */
    payload = ut_b64url("{\"sub\":\"admin\"}", 15);
    dot1 = strchr(token, '.');
    cr_assert_gt(asprintf(&bad, "%.*s.%s%s", (int) (dot1 - token), token,
                          payload, strrchr(token, '.')), 0);
    assert_code(parse_verify(bad, &key, ALL_ALGS), MIM_ERR_SIGNATURE,
                "does not verify");
    free(bad);
    free(payload);
}

Test(jwt, es256_signature_must_be_64_raw_bytes)
{
    char *input = signing_input("{\"alg\":\"ES256\"}", claims_json), *t;
    uint8_t der[128];
    size_t n = sizeof(der);
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();

    es256_key();
    cr_assert(mim_md_ctx_init(ctx, pkey, MIM_ALG_ES256, 0));
    cr_assert_eq(EVP_DigestSign(ctx, der, &n, (uint8_t *) input,
                                strlen(input)), 1);
    EVP_MD_CTX_free(ctx);
    /* the DER form OpenSSL makes is not JOSE's r || s */
    t = append_sig(input, der, n);
    assert_code(parse_verify(t, &key, ALL_ALGS), MIM_ERR_SIGNATURE,
                "64 expected");
    free(t);
}

Test(jwt, rsa_signature_must_be_modulus_length)
{
    uint8_t sig[256];
    char *input, *t;

    pkey = ut_keygen("RSA2048");
    ut_key_from_pkey(&key, pkey, "RS256");
    token = forge(pkey, MIM_ALG_RS256, "{\"alg\":\"RS256\"}", claims_json);
    cr_assert(mim_ok(parse_verify(token, &key, ALL_ALGS)));
    /* one byte short (a leading zero dropped) is refused */
    memcpy(sig, jwt.signature, 256);
    input = strndup(token, jwt.signing_input_len);
    t = append_sig(input, sig, 255);
    assert_code(parse_verify(t, &key, ALL_ALGS), MIM_ERR_SIGNATURE,
                "256 expected");
    free(t);
}

/* ---- the key decides the algorithm ---- */

Test(jwt, alg_outside_allowed_set_refused)
{
    es256_key();
    token = forge(pkey, MIM_ALG_ES256, "{\"alg\":\"ES256\"}", claims_json);
    assert_code(parse_verify(token, &key, mim_alg_bit(MIM_ALG_RS256)),
                MIM_ERR_UNSUPPORTED, "not allowed");
    /* an empty set allows nothing */
    assert_code(parse_verify(token, &key, 0), MIM_ERR_UNSUPPORTED,
                "not allowed");
}

Test(jwt, alg_that_does_not_fit_the_key_refused)
{
    EVP_PKEY *rsa = ut_keygen("RSA2048");
    char *pem;

    es256_key();
    /* an RS256 token checked with an EC key */
    token = forge(rsa, MIM_ALG_RS256, "{\"alg\":\"RS256\"}", claims_json);
    assert_code(parse_verify(token, &key, ALL_ALGS), MIM_ERR_MISMATCH,
                "does not fit the key");
    /* an RSA key pinned to PS256 does not take RS256 */
    ut_key_from_pkey(&other, rsa, "PS256");
    assert_code(parse_verify(token, &other, ALL_ALGS), MIM_ERR_MISMATCH,
                "does not fit the key");
    mim_key_free(&other);
    /* an unpinned RSA key (public PEM, no alg) takes any RS / PS ... */
    pem = ut_pem_public(rsa);
    cr_assert(mim_ok(mim_key_from_pem(&other, pem, strlen(pem), NULL, 0)));
    free(pem);
    cr_assert_eq(other.alg_pinned, 0);
    cr_assert(mim_ok(parse_verify(token, &other, ALL_ALGS)));
    /* ... but never ES256 */
    free(token);
    token = forge(pkey, MIM_ALG_ES256, "{\"alg\":\"ES256\"}", claims_json);
    assert_code(parse_verify(token, &other, ALL_ALGS), MIM_ERR_MISMATCH,
                "does not fit the key");
    EVP_PKEY_free(rsa);
}

Test(jwt, alg_none_refused)
{
    char *t = signing_input("{\"alg\":\"none\",\"typ\":\"JWT\"}",
                            claims_json), *with_dot;

    cr_assert_gt(asprintf(&with_dot, "%s.", t), 0);
    assert_code(parse(with_dot), MIM_ERR_UNSUPPORTED, "alg none");
    free(with_dot);
    /* with some signature bytes too */
    cr_assert_gt(asprintf(&with_dot, "%s.AAAA", t), 0);
    assert_code(parse(with_dot), MIM_ERR_UNSUPPORTED, "alg none");
    free(with_dot);
    free(t);
    /* None, NONE: names are exact */
    t = signing_input("{\"alg\":\"None\"}", claims_json);
    cr_assert_gt(asprintf(&with_dot, "%s.AAAA", t), 0);
    assert_code(parse(with_dot), MIM_ERR_UNSUPPORTED, "alg None");
    free(with_dot);
    free(t);
}

Test(jwt, hs256_refused)
{
    token = forge_hs256("secret", 6, "{\"alg\":\"HS256\"}", claims_json);
    assert_code(parse(token), MIM_ERR_UNSUPPORTED, "alg HS256");
}

/* the classic confusion: HMAC keyed with the verifier's public key PEM */
Test(jwt, hs256_with_public_key_pem_as_secret_refused)
{
    const char *algs[] = { "HS256", "HS384", "HS512" };
    char *pem, *hdr;
    size_t i;

    pkey = ut_keygen("RSA2048");
    pem = ut_pem_public(pkey);
    cr_assert(mim_ok(mim_key_from_pem(&key, pem, strlen(pem), NULL, 0)));
    for (i = 0; i < 3; i++) {
        cr_assert_gt(asprintf(&hdr, "{\"alg\":\"%s\",\"typ\":\"JWT\"}",
                              algs[i]), 0);
        free(token);
        token = forge_hs256(pem, strlen(pem), hdr, claims_json);
        assert_code(parse_verify(token, &key, ALL_ALGS),
                    MIM_ERR_UNSUPPORTED, algs[i]);
        free(hdr);
    }
    free(pem);
}

Test(jwt, alg_not_a_string_or_missing)
{
    es256_key();
    token = forge(pkey, MIM_ALG_ES256, "{\"alg\":[\"ES256\"]}", claims_json);
    assert_code(parse(token), MIM_ERR_INVALID, "alg is not a string");
    free(token);
    token = forge(pkey, MIM_ALG_ES256, "{\"typ\":\"JWT\"}", claims_json);
    assert_code(parse(token), MIM_ERR_INVALID, "no alg");
}

/* ---- headers that are always refused ---- */

static void
refused_header(const char *header, mim_code_t code, const char *needle)
{
    if (pkey == NULL) {
        es256_key();
    }
    free(token);
    token = forge(pkey, MIM_ALG_ES256, header, claims_json);
    assert_code(parse(token), code, needle);
}

Test(jwt, jku_x5u_jwk_refused)
{
    refused_header("{\"alg\":\"ES256\",\"jku\":\"https://evil.example/"
                   "jwks.json\"}", MIM_ERR_UNSUPPORTED, "header jku");
    refused_header("{\"alg\":\"ES256\",\"x5u\":\"https://evil.example/"
                   "cert.pem\"}", MIM_ERR_UNSUPPORTED, "header x5u");
    refused_header("{\"alg\":\"ES256\",\"jwk\":{\"kty\":\"EC\"}}",
                   MIM_ERR_UNSUPPORTED, "header jwk");
}

Test(jwt, crit_refused)
{
    refused_header("{\"alg\":\"ES256\",\"crit\":[\"exp\"],\"exp\":1}",
                   MIM_ERR_UNSUPPORTED, "crit");
    refused_header("{\"alg\":\"ES256\",\"crit\":[\"urn:example:unknown\"],"
                   "\"urn:example:unknown\":true}", MIM_ERR_UNSUPPORTED,
                   "crit");
    refused_header("{\"alg\":\"ES256\",\"crit\":[]}", MIM_ERR_UNSUPPORTED,
                   "crit");
    refused_header("{\"alg\":\"ES256\",\"b64\":false,\"crit\":[\"b64\"]}",
                   MIM_ERR_UNSUPPORTED, "crit");
    refused_header("{\"alg\":\"ES256\",\"b64\":false}", MIM_ERR_UNSUPPORTED,
                   "b64");
}

Test(jwt, kid_and_typ_must_be_strings)
{
    refused_header("{\"alg\":\"ES256\",\"kid\":7}", MIM_ERR_INVALID,
                   "kid is not a string");
    refused_header("{\"alg\":\"ES256\",\"typ\":null}", MIM_ERR_INVALID,
                   "typ is not a string");
}

/*
 * kid is a name compared with key ids, never a path: a "kid" pointing at
 * /dev/null (whose content, the empty string, an attacker knows) buys
 * nothing, neither with HS256 keyed by that content nor with the
 * attacker's own key.
 */
Test(jwt, kid_path_tricks)
{
    static const char hdr_hs[] =
        "{\"alg\":\"HS256\",\"kid\":\"../../../../../../dev/null\"}";
    static const char hdr_es[] =
        "{\"alg\":\"ES256\",\"kid\":\"../../../../../../dev/null\"}";
    EVP_PKEY *attacker = ut_keygen("P-256");
    json_t *jwk, *doc;
    mim_keyset_t set;
    char *text;

    es256_key();
    token = forge_hs256("", 0, hdr_hs, claims_json);
    assert_code(parse(token), MIM_ERR_UNSUPPORTED, "alg HS256");
    free(token);

    /* the attacker's own key under a path-like kid: no key has that id */
    token = forge(attacker, MIM_ALG_ES256, hdr_es, claims_json);
    cr_assert(mim_ok(parse(token)));
    cr_assert_str_eq(jwt.kid, "../../../../../../dev/null");
    jwk = mim_key_to_jwk(&key);
    doc = json_pack("{s:[o]}", "keys", jwk);
    text = json_dumps(doc, JSON_COMPACT);
    cr_assert(mim_ok(mim_keyset_from_jwks(&set, text, strlen(text))));
    cr_assert_null(mim_keyset_find(&set, jwt.kid));
    /* and with our pinned key the signature is the attacker's: no */
    assert_code(mim_jwt_verify(&jwt, &key, ALL_ALGS), MIM_ERR_SIGNATURE,
                "does not verify");
    /* a kid that is a path to nothing still only names: the right key
       verifies whatever the kid says */
    free(token);
    token = forge(pkey, MIM_ALG_ES256, hdr_es, claims_json);
    cr_assert(mim_ok(parse_verify(token, &key, ALL_ALGS)));
    mim_keyset_free(&set);
    json_decref(doc);
    free(text);
    EVP_PKEY_free(attacker);
}

/* ---- malformed tokens ---- */

Test(jwt, bad_base64url_refused)
{
    char *bad;

    es256_key();
    token = forge(pkey, MIM_ALG_ES256, "{\"alg\":\"ES256\"}", claims_json);
    /* standard base64 characters, padding, whitespace, in each part */
    bad = strdup(token);
    bad[3] = '+';
    assert_code(parse(bad), MIM_ERR_INVALID, "header is not base64url");
    strcpy(bad, token);
    strchr(bad, '.')[2] = '/';
    assert_code(parse(bad), MIM_ERR_INVALID, "payload is not base64url");
    strcpy(bad, token);
    bad[strlen(bad) - 2] = '=';
    assert_code(parse(bad), MIM_ERR_INVALID, "signature is not base64url");
    strcpy(bad, token);
    bad[strlen(bad) - 5] = ' ';
    assert_code(parse(bad), MIM_ERR_INVALID, "signature is not base64url");
    free(bad);
    /* a header with padding */
    cr_assert(mim_ok(parse(token)));
    cr_assert_gt(asprintf(&bad, "eyJhbGciOiJFUzI1NiJ9=%s",
                          strchr(token, '.')), 0);
    assert_code(parse(bad), MIM_ERR_INVALID, "header is not base64url");
    free(bad);
}

Test(jwt, truncated_tokens_refused)
{
    size_t len, cut;
    mim_result_t r;

    es256_key();
    token = forge(pkey, MIM_ALG_ES256, "{\"alg\":\"ES256\"}", claims_json);
    len = strlen(token);
    /* every prefix fails, at parse time or at verification */
    for (cut = 0; cut < len; cut++) {
        mim_jwt_free(&jwt);
        r = mim_jwt_parse(&jwt, token, cut);
        if (mim_ok(r)) {
            r = mim_jwt_verify(&jwt, &key, ALL_ALGS);
        }
        cr_assert_not(mim_ok(r), "prefix of %zu bytes accepted", cut);
    }
    mim_jwt_free(&jwt);
    cr_assert(mim_ok(mim_jwt_parse(&jwt, token, len)));
}

Test(jwt, wrong_number_of_parts_refused)
{
    char *t;

    es256_key();
    token = forge(pkey, MIM_ALG_ES256, "{\"alg\":\"ES256\"}", claims_json);
    assert_code(parse("eyJhbGciOiJFUzI1NiJ9"), MIM_ERR_INVALID,
                "three parts");
    assert_code(parse("a.b"), MIM_ERR_INVALID, "three parts");
    cr_assert_gt(asprintf(&t, "%s.AAAA", token), 0);
    assert_code(parse(t), MIM_ERR_INVALID, "more than three parts");
    free(t);
    assert_code(parse(""), MIM_ERR_INVALID, "empty token");
    assert_code(parse(".."), MIM_ERR_INVALID, "empty header");
    cr_assert_gt(asprintf(&t, "%.*s", (int) (strrchr(token, '.') - token + 1),
                          token), 0);
    assert_code(parse(t), MIM_ERR_INVALID, "empty signature");
    free(t);
}

Test(jwt, token_over_16k_refused)
{
    char *big = malloc(MIM_JWT_MAX + 200), *payload, *t;
    size_t fill;
    mim_result_t r;

    es256_key();
    /* a payload that makes the token exactly MIM_JWT_MAX bytes: accepted */
    token = forge(pkey, MIM_ALG_ES256, "{\"alg\":\"ES256\"}", "{\"p\":\"\"}");
    fill = (MIM_JWT_MAX - strlen(token)) / 4 * 3;
    memset(big, 'a', fill);
    big[fill] = '\0';
    cr_assert_gt(asprintf(&payload, "{\"p\":\"%s\"}", big), 0);
    t = forge(pkey, MIM_ALG_ES256, "{\"alg\":\"ES256\"}", payload);
    cr_assert_leq(strlen(t), MIM_JWT_MAX);
    cr_assert_gt(strlen(t), MIM_JWT_MAX - 4);
    r = parse_verify(t, &key, ALL_ALGS);
    cr_assert(mim_ok(r), "%zu bytes: %s", strlen(t), r.msg);
    free(t);
    free(payload);
    /* a few bytes more: refused before anything is decoded */
    strcat(big, "aaaaaa");
    cr_assert_gt(asprintf(&payload, "{\"p\":\"%s\"}", big), 0);
    t = forge(pkey, MIM_ALG_ES256, "{\"alg\":\"ES256\"}", payload);
    cr_assert_gt(strlen(t), MIM_JWT_MAX);
    assert_code(parse(t), MIM_ERR_LIMIT, "longer than 16384");
    free(t);
    free(payload);
    free(big);
}

static char *
nested(int depth)
{
    char *s = malloc((size_t) depth * 8 + 32);
    int i;

    /* {"a":[[[...[1]...]]]} : the object is one level */
    strcpy(s, "{\"a\":");
    for (i = 1; i < depth; i++) {
        strcat(s, "[");
    }
    strcat(s, "1");
    for (i = 1; i < depth; i++) {
        strcat(s, "]");
    }
    strcat(s, "}");
    return s;
}

Test(jwt, deep_json_refused)
{
    char *ok = nested(MIM_JWT_MAX_DEPTH), *deep = nested(MIM_JWT_MAX_DEPTH + 1);
    char *deep_strings;

    es256_key();
    token = forge(pkey, MIM_ALG_ES256, "{\"alg\":\"ES256\"}", ok);
    cr_assert(mim_ok(parse_verify(token, &key, ALL_ALGS)));
    free(token);
    token = forge(pkey, MIM_ALG_ES256, "{\"alg\":\"ES256\"}", deep);
    assert_code(parse(token), MIM_ERR_LIMIT, "payload nested deeper");
    free(token);
    /* in the header too */
    cr_assert_gt(asprintf(&deep_strings, "{\"alg\":\"ES256\",\"x\":%s}",
                          deep), 0);
    token = forge(pkey, MIM_ALG_ES256, deep_strings, claims_json);
    assert_code(parse(token), MIM_ERR_LIMIT, "header nested deeper");
    free(deep_strings);
    free(token);
    /* brackets inside strings are not nesting */
    token = forge(pkey, MIM_ALG_ES256, "{\"alg\":\"ES256\"}",
                  "{\"a\":\"[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[\\\"[[[[{{{{{{"
                  "{{{{{{{{{{{{{{{{\"}");
    cr_assert(mim_ok(parse_verify(token, &key, ALL_ALGS)));
    free(ok);
    free(deep);
}

Test(jwt, duplicate_members_refused)
{
    EVP_PKEY *k;

    es256_key();
    k = pkey;
    token = forge(k, MIM_ALG_ES256, "{\"alg\":\"ES256\",\"alg\":\"ES256\"}",
                  claims_json);
    assert_code(parse(token), MIM_ERR_INVALID, "header is not JSON");
    free(token);
    token = forge(k, MIM_ALG_ES256, "{\"alg\":\"ES256\"}",
                  "{\"sub\":\"a\",\"aud\":\"x\",\"sub\":\"b\"}");
    assert_code(parse(token), MIM_ERR_INVALID, "payload is not JSON");
    free(token);
    /* nested objects too */
    token = forge(k, MIM_ALG_ES256, "{\"alg\":\"ES256\"}",
                  "{\"vc\":{\"id\":\"a\",\"id\":\"b\"}}");
    assert_code(parse(token), MIM_ERR_INVALID, "payload is not JSON");
}

Test(jwt, payload_must_be_an_object)
{
    es256_key();
    token = forge(pkey, MIM_ALG_ES256, "{\"alg\":\"ES256\"}", "[1,2]");
    assert_code(parse(token), MIM_ERR_INVALID, "payload is not a JSON "
                "object");
    free(token);
    token = forge(pkey, MIM_ALG_ES256, "{\"alg\":\"ES256\"}", "\"text\"");
    assert_code(parse(token), MIM_ERR_INVALID, "payload is not JSON");
    free(token);
    token = forge(pkey, MIM_ALG_ES256, "{\"alg\":\"ES256\"}",
                  "{\"a\":1} trailing");
    assert_code(parse(token), MIM_ERR_INVALID, "payload is not JSON");
    free(token);
    token = forge(pkey, MIM_ALG_ES256, "[\"ES256\"]", claims_json);
    assert_code(parse(token), MIM_ERR_INVALID, "header is not a JSON "
                "object");
    free(token);
    /* a NUL inside a string: refused by the JSON reader */
    token = forge(pkey, MIM_ALG_ES256, "{\"alg\":\"ES256\"}",
                  "{\"sub\":\"a\\u0000b\"}");
    assert_code(parse(token), MIM_ERR_INVALID, "payload is not JSON");
}

/* ---- time claims ---- */

static void
timed(const char *payload)
{
    if (pkey == NULL) {
        es256_key();
    }
    free(token);
    token = forge(pkey, MIM_ALG_ES256, "{\"alg\":\"ES256\"}", payload);
    cr_assert(mim_ok(parse_verify(token, &key, ALL_ALGS)));
}

Test(jwt, times_valid)
{
    timed("{\"iat\":1750000000,\"nbf\":1750000000,\"exp\":1750000030}");
    cr_assert(mim_ok(mim_jwt_check_times(&jwt, NOW, 0, 1)));
    cr_assert(mim_ok(mim_jwt_check_times(&jwt, NOW + 29, 0, 1)));
    /* fractions are NumericDates too (floored) */
    timed("{\"exp\":1750000030.9}");
    cr_assert(mim_ok(mim_jwt_check_times(&jwt, NOW + 29, 0, 1)));
    assert_code(mim_jwt_check_times(&jwt, NOW + 30, 0, 1), MIM_ERR_MISMATCH,
                "expired");
}

Test(jwt, expired_refused_with_leeway)
{
    timed("{\"exp\":1750000030}");
    assert_code(mim_jwt_check_times(&jwt, NOW + 30, 0, 1), MIM_ERR_MISMATCH,
                "expired");
    cr_assert(mim_ok(mim_jwt_check_times(&jwt, NOW + 34, 5, 1)));
    assert_code(mim_jwt_check_times(&jwt, NOW + 35, 5, 1), MIM_ERR_MISMATCH,
                "expired 5 s ago");
}

Test(jwt, not_yet_valid_refused)
{
    timed("{\"nbf\":1750000100,\"exp\":1750000200}");
    assert_code(mim_jwt_check_times(&jwt, NOW, 30, 1), MIM_ERR_MISMATCH,
                "not valid before 1750000100");
    cr_assert(mim_ok(mim_jwt_check_times(&jwt, NOW + 70, 30, 1)));
    timed("{\"iat\":1750000100,\"exp\":1750000200}");
    assert_code(mim_jwt_check_times(&jwt, NOW, 30, 1), MIM_ERR_MISMATCH,
                "issued in the future");
    cr_assert(mim_ok(mim_jwt_check_times(&jwt, NOW + 70, 30, 1)));
}

Test(jwt, exp_required_and_numeric)
{
    timed("{\"iat\":1750000000}");
    assert_code(mim_jwt_check_times(&jwt, NOW, 0, 1), MIM_ERR_INVALID,
                "no exp");
    cr_assert(mim_ok(mim_jwt_check_times(&jwt, NOW, 0, 0)));
    timed("{\"exp\":\"1750000030\"}");
    assert_code(mim_jwt_check_times(&jwt, NOW, 0, 0), MIM_ERR_INVALID,
                "exp is not a NumericDate");
    timed("{\"exp\":1750000030,\"nbf\":true}");
    assert_code(mim_jwt_check_times(&jwt, NOW, 0, 0), MIM_ERR_INVALID,
                "nbf is not a NumericDate");
    timed("{\"exp\":-5}");
    assert_code(mim_jwt_check_times(&jwt, NOW, 0, 0), MIM_ERR_INVALID,
                "exp is not a NumericDate");
    /* huge values do not overflow into the past */
    timed("{\"exp\":9223372036854775807}");
    assert_code(mim_jwt_check_times(&jwt, NOW, 0, 0), MIM_ERR_INVALID,
                "exp is not a NumericDate");
    timed("{\"exp\":1e300}");
    assert_code(mim_jwt_check_times(&jwt, NOW, 0, 0), MIM_ERR_INVALID,
                "exp is not a NumericDate");
}

/* ---- interop: tokens made by python3-jwcrypto ---- */

/*
 * The seeds of t/fuzz/corpus/fuzz_jwt were signed by an independent
 * implementation (python3-jwcrypto) with the private halves of these keys.
 */
static const char jwcrypto_es_pub[] =
    "-----BEGIN PUBLIC KEY-----\n"
    "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE2sqGiNF+Jc3CKlT7vaHy2riimQ6j\n"
    "rrDV5cc6PooiQJFlBtxmUnoNY1fr5hO7LZec7nCkaA30JRf5AV7tQIiYfg==\n"
    "-----END PUBLIC KEY-----\n"
;
static const char jwcrypto_ed_pub[] =
    "-----BEGIN PUBLIC KEY-----\n"
    "MCowBQYDK2VwAyEAA0BeWizdznVUrOYM0KnPdDuHtkUo/Qme6ncnEnqM8QY=\n"
    "-----END PUBLIC KEY-----\n"
;
static const char jwcrypto_rs_pub[] =
    "-----BEGIN PUBLIC KEY-----\n"
    "MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAvYOItC4/Ape8mi7QK8G6\n"
    "KpxPJBksxGjIcoHazFwegeXU1kVsP1xEO0yuNnGCrubaBxGF2PZLH6tKZXhUXhw2\n"
    "aAx58ICNC+nIjWCyPBtqPfagxcq5F5fYO/PluVNiBy9gpcU6Blgl/8ErOcoV4jT4\n"
    "paxYeolIyyYqVab+1a9yNU8RTwI+xeNYcnYvfXs23qEhi9yw4fwc5yd1ZwK2pJFi\n"
    "iDaFYWZE4txkBY4yiyFf1ITTxcdu4chUg99GTtZm5wzii0SY8oCp6de6f/tDwFO6\n"
    "5xRlYtnLA3/XaJYsUDzzUQnWEoy7GPjEdcEyBCESzgxh8bVl82ywXSJ7HTk0bwW0\n"
    "LwIDAQAB\n"
    "-----END PUBLIC KEY-----\n"
;

static mim_result_t
interop(const char *seed, const char *pem, const char *alg_name)
{
    char *path, *text;
    size_t len;
    mim_result_t r;

    mim_key_free(&other);
    r = mim_key_from_pem(&other, pem, strlen(pem), alg_name, 0);
    cr_assert(mim_ok(r), "%s", r.msg);
    cr_assert_gt(asprintf(&path, "../fuzz/corpus/fuzz_jwt/%s", seed), 0);
    r = mim_read_file(path, 65536, &text, &len);
    cr_assert(mim_ok(r), "%s: %s", path, r.msg);
    free(path);
    free(token);
    token = text;               /* the parsed token points into it */
    mim_jwt_free(&jwt);
    r = mim_jwt_parse(&jwt, token, len);
    return mim_ok(r) ? mim_jwt_verify(&jwt, &other, ALL_ALGS) : r;
}

Test(jwt, interop_jwcrypto_tokens)
{
    mim_result_t r;

    r = interop("es256", jwcrypto_es_pub, NULL);
    cr_assert(mim_ok(r), "%s", r.msg);
    cr_assert(mim_ok(mim_jwt_check_times(&jwt, 1800000000, 0, 1)));
    cr_assert_str_eq(mim_jwt_string(&jwt, "sub"), "EU.EORI.NL000000001");
    r = interop("eddsa", jwcrypto_ed_pub, NULL);
    cr_assert(mim_ok(r), "%s", r.msg);
    r = interop("rs256", jwcrypto_rs_pub, "RS256");
    cr_assert(mim_ok(r), "%s", r.msg);
    r = interop("ps384", jwcrypto_rs_pub, "PS384");
    cr_assert(mim_ok(r), "%s", r.msg);
    /* the same RSA key pinned to RS256 refuses the PS384 token */
    assert_code(interop("ps384", jwcrypto_rs_pub, "RS256"), MIM_ERR_MISMATCH,
                "does not fit the key");
    r = interop("expired", jwcrypto_es_pub, NULL);
    cr_assert(mim_ok(r), "%s", r.msg);
    assert_code(mim_jwt_check_times(&jwt, 1800000000, 30, 1),
                MIM_ERR_MISMATCH, "expired 100 s ago");
    assert_code(interop("none", jwcrypto_es_pub, NULL), MIM_ERR_UNSUPPORTED,
                "alg none");
}

/* ---- the JSON reader (ours, for speed): as strict as jansson ---- */

static void
json_same_as_jansson(const char *text)
{
    json_t *ours = NULL, *theirs = json_loads(text, JSON_REJECT_DUPLICATES,
                                              NULL);
    mim_result_t r = mim_json_parse_object(text, strlen(text), 16, &ours);

    cr_assert(mim_ok(r), "%s: %s", text, r.msg);
    cr_assert_not_null(theirs, "jansson refuses %s", text);
    cr_assert(json_equal(ours, theirs), "%s read differently", text);
    json_decref(ours);
    json_decref(theirs);
}

static void
json_refused(const char *text, size_t len, const char *needle)
{
    json_t *ours = NULL;
    mim_result_t r = mim_json_parse_object(text, len, 16, &ours);

    cr_assert_not(mim_ok(r), "accepted: %s", text);
    cr_assert_null(ours);
    cr_assert_not_null(strstr(r.msg, needle), "\"%s\" lacks \"%s\"", r.msg,
                       needle);
    /* and jansson agrees */
    ours = json_loadb(text, len, JSON_REJECT_DUPLICATES, NULL);
    cr_assert(ours == NULL || !json_is_object(ours) || r.code ==
              MIM_ERR_LIMIT, "jansson accepts %s", text);
    json_decref(ours);
}

Test(jwt, json_reader_accepts_what_jansson_does)
{
    json_same_as_jansson("{}");
    json_same_as_jansson(" \t\r\n{ \"a\" : [ 1 , -0 , 2.5e-3 , 1E2 , true ,"
                         " false , null , { } , [ ] ] }\n");
    json_same_as_jansson("{\"min\":-9223372036854775808,"
                         "\"max\":9223372036854775807,\"tiny\":1e-400}");
    json_same_as_jansson("{\"s\":\"\\u00e9\\ud83d\\ude00 caf\xc3\xa9 "
                         "\\\"q\\\" \\\\ \\/ \\b\\f\\n\\r\\t\xf0\x9f\x98\x80\","
                         "\"k\\u0041\":\"v\",\"\":\"empty key\"}");
}

Test(jwt, json_reader_refuses_what_jansson_does)
{
    json_refused("{\"a\":1,\"a\":1}", 13, "duplicate object key");
    json_refused("{\"a\":1,\"\\u0061\":2}", 18, "duplicate object key");
    json_refused("{\"a\":\"\\u0000\"}", 14, "\\u");
    json_refused("{\"a\":\"\\ud800\"}", 14, "\\u");
    json_refused("{\"a\":\"\\udc00\\ud800\"}", 20, "\\u");
    json_refused("{\"a\":\"\xc0\xaf\"}", 9, "invalid UTF-8");
    json_refused("{\"a\":\"\xed\xa0\x80\"}", 10, "invalid UTF-8");
    json_refused("{\"a\":\"\xf4\x90\x80\x80\"}", 11, "invalid UTF-8");
    json_refused("{\"a\":\"tab\there\"}", 16, "control character");
    json_refused("{\"a\":\"x\\q\"}", 11, "invalid escape");
    json_refused("{\"a\":01}", 8, "leading zero");
    json_refused("{\"a\":1.}", 8, "invalid number");
    json_refused("{\"a\":-}", 7, "invalid number");
    json_refused("{\"a\":1e400}", 11, "overflow");
    json_refused("{\"a\":9223372036854775808}", 25, "out of range");
    json_refused("{\"a\":tru}", 9, "invalid token");
    json_refused("{\"a\":1,}", 8, "expected");
    json_refused("{\"a\" 1}", 7, "':' expected");
    json_refused("{\"a\":1} x", 9, "end of input expected");
    json_refused("{\"a\":1", 6, "expected");
    json_refused("{\"a\":\"b", 7, "unterminated string");
    json_refused("{\"a\":1}\0", 8, "end of input expected");
    json_refused("[1]", 3, "not a JSON object");
    json_refused("\xef\xbb\xbf{}", 5, "'{' expected");
    json_refused("", 0, "'{' expected");
    json_refused("{\"a\":[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]}", 39, "nested too "
                 "deep");
}

/* ---- claims, algorithm sets, hash ---- */

Test(jwt, claim_accessors)
{
    int64_t v = 0;

    timed("{\"s\":\"text\",\"i\":42,\"r\":1.5,\"n\":null}");
    cr_assert_str_eq(mim_jwt_string(&jwt, "s"), "text");
    cr_assert_null(mim_jwt_string(&jwt, "i"));
    cr_assert_null(mim_jwt_string(&jwt, "missing"));
    cr_assert_eq(mim_jwt_integer(&jwt, "i", &v), 0);
    cr_assert_eq(v, 42);
    cr_assert_eq(mim_jwt_integer(&jwt, "r", &v), -1);
    cr_assert_eq(mim_jwt_integer(&jwt, "s", &v), -1);
    cr_assert_eq(mim_jwt_integer(&jwt, "missing", &v), -1);
}

Test(jwt, alg_set_parse)
{
    mim_alg_set_t set = 0;

    cr_assert_eq(mim_alg_set_parse("RS256 RS384,RS512", &set), 0);
    cr_assert_eq(set, mim_alg_bit(MIM_ALG_RS256) | mim_alg_bit(MIM_ALG_RS384)
                      | mim_alg_bit(MIM_ALG_RS512));
    cr_assert_eq(mim_alg_set_parse(" ES256 , EdDSA ", &set), 0);
    cr_assert_eq(set, mim_alg_bit(MIM_ALG_ES256) | mim_alg_bit(MIM_ALG_EDDSA));
    cr_assert_eq(mim_alg_set_parse("RS256 HS256", &set), -1);
    cr_assert_eq(set, 0);
    cr_assert_eq(mim_alg_set_parse("none", &set), -1);
    cr_assert_eq(mim_alg_set_parse("rs256", &set), -1);
    cr_assert_eq(mim_alg_set_parse("", &set), -1);
    cr_assert_eq(mim_alg_set_parse(" , ", &set), -1);
}

Test(jwt, hash_is_sha256_base64url)
{
    char out[MIM_KID_LEN + 1];

    mim_jwt_hash("abc", 3, out);
    cr_assert_str_eq(out, "ungWv48Bz-pBQUDeXa4iI7ADYaOWF3qctBD_YfIAFa0");
}
