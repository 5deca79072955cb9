/*
 * test_key.c - keys (trust/mim_key.c): PEM loading and its refusals, the
 * algorithm a key decides, RFC 7638 thumbprints, JWK in and out, key sets,
 * certificate chains and CA bundles.
 */
#define _GNU_SOURCE     /* asprintf */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <criterion/criterion.h>

#include "mim_b64.h"
#include "mim_key.h"
#include "unit.h"

/* RFC 7638 section 3.1: the example RSA key and its thumbprint */
static const char rfc7638_jwk[] =
    "{\"kty\":\"RSA\",\"n\":\"0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM"
    "78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMs"
    "tn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY3"
    "68QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdk"
    "t-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur"
    "-kEgU8awapJzKnqDKgw\",\"e\":\"AQAB\",\"alg\":\"RS256\","
    "\"kid\":\"2011-04-29\"}";
static const char rfc7638_thumbprint[] =
    "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs";

/* RFC 7515 A.3's P-256 public key */
static const char rfc7515_ec_jwk[] =
    "{\"kty\":\"EC\",\"crv\":\"P-256\","
    "\"x\":\"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU\","
    "\"y\":\"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0\"}";

static mim_key_t key;

static void
teardown(void)
{
    mim_key_free(&key);
}

TestSuite(key, .fini = teardown);

static mim_result_t
load_pem_file(const char *pem, const char *alg)
{
    char *path = ut_temp_file(pem);
    mim_result_t r = mim_key_load_private(&key, path, alg);

    ut_temp_remove(path);
    return r;
}

static mim_result_t
load_generated(const char *what, const char *alg)
{
    EVP_PKEY *pkey = ut_keygen(what);
    char *pem = ut_pem_private(pkey);
    mim_result_t r = load_pem_file(pem, alg);

    free(pem);
    EVP_PKEY_free(pkey);
    return r;
}

static json_t *
parse(const char *text)
{
    json_error_t err;
    json_t *j = json_loads(text, 0, &err);

    cr_assert_not_null(j, "test JSON: %s", err.text);
    return j;
}

static mim_result_t
from_jwk_text(const char *text)
{
    json_t *j = parse(text);
    mim_result_t r = mim_key_from_jwk(&key, j);

    json_decref(j);
    return r;
}

/* ---- names ---- */

Test(key, alg_names_are_exact)
{
    cr_assert_eq(mim_alg_from_name("ES256", 5), MIM_ALG_ES256);
    cr_assert_eq(mim_alg_from_name("EdDSA", 5), MIM_ALG_EDDSA);
    cr_assert_eq(mim_alg_from_name("PS512", 5), MIM_ALG_PS512);
    cr_assert_eq(mim_alg_from_name("es256", 5), MIM_ALG_NONE);
    cr_assert_eq(mim_alg_from_name("ES2561", 6), MIM_ALG_NONE);
    cr_assert_eq(mim_alg_from_name("ES25", 4), MIM_ALG_NONE);
    cr_assert_eq(mim_alg_from_name("none", 4), MIM_ALG_NONE);
    cr_assert_eq(mim_alg_from_name("HS256", 5), MIM_ALG_NONE);
    cr_assert_eq(mim_alg_from_name(NULL, 0), MIM_ALG_NONE);
    cr_assert_str_eq(mim_alg_name(MIM_ALG_RS384), "RS384");
    cr_assert_null(mim_alg_name(MIM_ALG_NONE));
    cr_assert_str_eq(mim_code_name(MIM_ERR_NOT_FOUND), "not_found");
}

/* ---- loading private keys ---- */

Test(key, ec_p256_is_es256)
{
    mim_result_t r = load_generated("P-256", NULL);

    cr_assert(mim_ok(r), "%s", r.msg);
    cr_assert_eq(key.alg, MIM_ALG_ES256);
    cr_assert(key.alg_pinned);
    cr_assert_eq(strlen(key.kid), MIM_KID_LEN);
    cr_assert(mim_key_can_stream(&key));
    cr_assert(mim_key_accepts_alg(&key, MIM_ALG_ES256));
    cr_assert_not(mim_key_accepts_alg(&key, MIM_ALG_RS256));
    cr_assert_not(mim_key_accepts_alg(&key, MIM_ALG_NONE));
}

Test(key, ec_traditional_pem)
{
    EVP_PKEY *pkey = ut_keygen("P-256");
    char *pem = ut_pem_private_traditional(pkey);
    mim_result_t r;

    cr_assert_not_null(strstr(pem, "BEGIN EC PRIVATE KEY"));
    r = load_pem_file(pem, "ES256");
    cr_assert(mim_ok(r), "%s", r.msg);
    cr_assert_eq(key.alg, MIM_ALG_ES256);
    free(pem);
    EVP_PKEY_free(pkey);
}

Test(key, rsa_default_ps256_and_choices)
{
    EVP_PKEY *pkey = ut_keygen("RSA2048");
    char *pem = ut_pem_private(pkey);
    mim_result_t r;

    r = load_pem_file(pem, NULL);
    cr_assert(mim_ok(r), "%s", r.msg);
    cr_assert_eq(key.alg, MIM_ALG_PS256);
    cr_assert(key.alg_pinned, "a private key decides one alg");
    cr_assert_not(mim_key_accepts_alg(&key, MIM_ALG_RS256));
    mim_key_free(&key);

    r = load_pem_file(pem, "RS256");
    cr_assert(mim_ok(r), "%s", r.msg);
    cr_assert_eq(key.alg, MIM_ALG_RS256);
    cr_assert(mim_key_accepts_alg(&key, MIM_ALG_RS256));
    cr_assert_not(mim_key_accepts_alg(&key, MIM_ALG_PS256));
    mim_key_free(&key);

    r = load_pem_file(pem, "PS512");
    cr_assert(mim_ok(r), "%s", r.msg);
    cr_assert_eq(key.alg, MIM_ALG_PS512);
    mim_key_free(&key);

    r = load_pem_file(pem, "ES256");
    cr_assert_eq(r.code, MIM_ERR_MISMATCH, "%s", r.msg);
    cr_assert_null(key.pkey);
    r = load_pem_file(pem, "HS256");
    cr_assert_eq(r.code, MIM_ERR_UNSUPPORTED, "%s", r.msg);
    cr_assert_not_null(strstr(r.msg, "HS256"));
    free(pem);
    EVP_PKEY_free(pkey);
}

Test(key, ed25519_is_eddsa_and_cannot_stream)
{
    mim_result_t r = load_generated("ED25519", NULL);

    cr_assert(mim_ok(r), "%s", r.msg);
    cr_assert_eq(key.alg, MIM_ALG_EDDSA);
    cr_assert_not(mim_key_can_stream(&key));
    mim_key_free(&key);
    r = load_generated("ED25519", "RS256");
    cr_assert_eq(r.code, MIM_ERR_MISMATCH, "%s", r.msg);
    cr_assert_not_null(strstr(r.msg, "EdDSA only"), "%s", r.msg);
}

Test(key, ec_alg_must_be_es256)
{
    mim_result_t r = load_generated("P-256", "PS256");

    cr_assert_eq(r.code, MIM_ERR_MISMATCH, "%s", r.msg);
    cr_assert_str_eq(r.msg, "alg PS256 does not fit an EC P-256 key "
                     "(ES256 only)");
}

Test(key, refuses_small_rsa)
{
    mim_result_t r = load_generated("RSA1024", NULL);

    cr_assert_eq(r.code, MIM_ERR_KEY);
    cr_assert_str_eq(r.msg, "RSA key of 1024 bits is too small "
                     "(minimum 2048)");
    cr_assert_null(key.pkey);
}

Test(key, refuses_other_curves)
{
    mim_result_t r = load_generated("P-384", NULL);

    cr_assert_eq(r.code, MIM_ERR_UNSUPPORTED);
    cr_assert_str_eq(r.msg, "EC curve secp384r1 not supported (P-256 only)");
}

Test(key, refuses_x25519)
{
    mim_result_t r = load_generated("X25519", NULL);

    cr_assert_eq(r.code, MIM_ERR_UNSUPPORTED);
    cr_assert_str_eq(r.msg, "unsupported key type X25519");
}

Test(key, refuses_encrypted_pem)
{
    EVP_PKEY *pkey = ut_keygen("P-256");
    char *pem = ut_pem_private_encrypted(pkey);
    mim_result_t r;

    cr_assert_not_null(strstr(pem, "ENCRYPTED PRIVATE KEY"));
    r = load_pem_file(pem, NULL);
    cr_assert_eq(r.code, MIM_ERR_UNSUPPORTED, "%s", r.msg);
    cr_assert_not_null(strstr(r.msg, "encrypted"), "%s", r.msg);
    free(pem);
    EVP_PKEY_free(pkey);
}

Test(key, refuses_garbage_and_public_pem_as_private)
{
    EVP_PKEY *pkey = ut_keygen("P-256");
    char *pub = ut_pem_public(pkey);
    mim_result_t r;

    r = load_pem_file("hello, world\n", NULL);
    cr_assert_eq(r.code, MIM_ERR_INVALID, "%s", r.msg);
    cr_assert_str_eq(r.msg, "no PEM private key found");
    r = load_pem_file("-----BEGIN PRIVATE KEY-----\nAAAA\n"
                      "-----END PRIVATE KEY-----\n", NULL);
    cr_assert_eq(r.code, MIM_ERR_INVALID, "%s", r.msg);
    r = load_pem_file(pub, NULL);
    cr_assert_eq(r.code, MIM_ERR_INVALID, "%s", r.msg);
    r = mim_key_from_pem(&key, "", 0, NULL, 1);
    cr_assert_eq(r.code, MIM_ERR_INVALID, "%s", r.msg);
    free(pub);
    EVP_PKEY_free(pkey);
}

Test(key, missing_file_says_why)
{
    mim_result_t r = mim_key_load_private(&key, "/nonexistent/key.pem", NULL);

    cr_assert_eq(r.code, MIM_ERR_IO);
    cr_assert_str_eq(r.msg, "cannot open: No such file or directory");
    r = mim_key_load_private(&key, "/tmp", NULL);
    cr_assert_eq(r.code, MIM_ERR_IO, "%s", r.msg);
    cr_assert_str_eq(r.msg, "cannot read: Is a directory");
}

Test(key, public_pem_and_certificate)
{
    EVP_PKEY *pkey = ut_keygen("RSA2048");
    char *pub = ut_pem_public(pkey), *crt;
    time_t now = time(NULL);
    X509 *cert = ut_cert(pkey, "rsa", NULL, NULL, 0, now - 60, now + 3600,
                         NULL);
    mim_key_t from_cert;
    mim_result_t r;

    r = mim_key_from_pem(&key, pub, strlen(pub), NULL, 0);
    cr_assert(mim_ok(r), "%s", r.msg);
    /* a public RSA key without alg takes any RS / PS, never others */
    cr_assert_not(key.alg_pinned);
    cr_assert(mim_key_accepts_alg(&key, MIM_ALG_RS256));
    cr_assert(mim_key_accepts_alg(&key, MIM_ALG_PS384));
    cr_assert_not(mim_key_accepts_alg(&key, MIM_ALG_ES256));
    cr_assert_not(mim_key_accepts_alg(&key, MIM_ALG_EDDSA));

    crt = ut_pem_cert(cert);
    r = mim_key_from_pem(&from_cert, crt, strlen(crt), "RS256", 0);
    cr_assert(mim_ok(r), "%s", r.msg);
    cr_assert_str_eq(from_cert.kid, key.kid);
    cr_assert(from_cert.alg_pinned);
    cr_assert_eq(from_cert.alg, MIM_ALG_RS256);
    mim_key_free(&from_cert);
    free(crt);
    X509_free(cert);
    free(pub);
    EVP_PKEY_free(pkey);
}

/* ---- thumbprints and JWK ---- */

Test(key, rfc7638_thumbprint)
{
    mim_result_t r = from_jwk_text(rfc7638_jwk);
    char kid[MIM_KID_LEN + 1];

    cr_assert(mim_ok(r), "%s", r.msg);
    cr_assert_str_eq(key.kid, rfc7638_thumbprint);
    r = mim_key_thumbprint(key.pkey, kid);
    cr_assert(mim_ok(r));
    cr_assert_str_eq(kid, rfc7638_thumbprint);
    /* the JWK's own kid is kept beside the thumbprint */
    cr_assert_str_eq(key.jwk_kid, "2011-04-29");
    cr_assert_eq(key.alg, MIM_ALG_RS256);
    cr_assert(key.alg_pinned);
    cr_assert_not(mim_key_accepts_alg(&key, MIM_ALG_PS256));
}

static void
round_trip(const char *what, const char *alg)
{
    EVP_PKEY *pkey = ut_keygen(what);
    mim_key_t back;
    json_t *jwk;
    mim_result_t r;

    ut_key_from_pkey(&key, pkey, alg);
    jwk = mim_key_to_jwk(&key);
    cr_assert_not_null(jwk);
    cr_assert_str_eq(json_string_value(json_object_get(jwk, "kid")),
                     key.kid);
    cr_assert_str_eq(json_string_value(json_object_get(jwk, "use")), "sig");
    cr_assert_str_eq(json_string_value(json_object_get(jwk, "alg")),
                     mim_alg_name(key.alg));
    cr_assert_null(json_object_get(jwk, "d"), "no private member");
    r = mim_key_from_jwk(&back, jwk);
    cr_assert(mim_ok(r), "%s: %s", what, r.msg);
    cr_assert_str_eq(back.kid, key.kid);
    cr_assert_null(back.jwk_kid);
    cr_assert_eq(back.alg, key.alg);
    cr_assert_eq(EVP_PKEY_eq(back.pkey, key.pkey), 1);
    mim_key_free(&back);
    json_decref(jwk);
    EVP_PKEY_free(pkey);
}

Test(key, jwk_round_trip_ec)
{
    json_t *jwk;

    round_trip("P-256", NULL);
    jwk = mim_key_to_jwk(&key);
    cr_assert_str_eq(json_string_value(json_object_get(jwk, "kty")), "EC");
    cr_assert_str_eq(json_string_value(json_object_get(jwk, "crv")), "P-256");
    /* 32 bytes each, zero-padded: always 43 characters */
    cr_assert_eq(strlen(json_string_value(json_object_get(jwk, "x"))), 43);
    cr_assert_eq(strlen(json_string_value(json_object_get(jwk, "y"))), 43);
    json_decref(jwk);
}

Test(key, jwk_round_trip_rsa)
{
    json_t *jwk;

    round_trip("RSA2048", "RS256");
    jwk = mim_key_to_jwk(&key);
    cr_assert_str_eq(json_string_value(json_object_get(jwk, "e")), "AQAB");
    cr_assert_eq(strlen(json_string_value(json_object_get(jwk, "n"))),
                 mim_b64url_len(256));
    json_decref(jwk);
}

Test(key, jwk_round_trip_ed25519)
{
    json_t *jwk;

    round_trip("ED25519", NULL);
    jwk = mim_key_to_jwk(&key);
    cr_assert_str_eq(json_string_value(json_object_get(jwk, "kty")), "OKP");
    cr_assert_str_eq(json_string_value(json_object_get(jwk, "crv")),
                     "Ed25519");
    cr_assert_eq(strlen(json_string_value(json_object_get(jwk, "x"))), 43);
    json_decref(jwk);
}

Test(key, jwk_rsa_without_alg_takes_rs_and_ps)
{
    json_t *j = parse(rfc7638_jwk);
    mim_result_t r;

    json_object_del(j, "alg");
    r = mim_key_from_jwk(&key, j);
    json_decref(j);
    cr_assert(mim_ok(r), "%s", r.msg);
    cr_assert_not(key.alg_pinned);
    cr_assert(mim_key_accepts_alg(&key, MIM_ALG_RS256));
    cr_assert(mim_key_accepts_alg(&key, MIM_ALG_PS512));
    cr_assert_not(mim_key_accepts_alg(&key, MIM_ALG_ES256));
    /* and it is exported without an alg */
    j = mim_key_to_jwk(&key);
    cr_assert_null(json_object_get(j, "alg"));
    cr_assert_str_eq(json_string_value(json_object_get(j, "kid")),
                     "2011-04-29");
    json_decref(j);
}

Test(key, jwk_ec_known_key)
{
    mim_result_t r = from_jwk_text(rfc7515_ec_jwk);

    cr_assert(mim_ok(r), "%s", r.msg);
    cr_assert_eq(key.alg, MIM_ALG_ES256);
    cr_assert_null(key.jwk_kid);
}

static void
jwk_refused(const char *text, mim_code_t code, const char *says)
{
    mim_result_t r = from_jwk_text(text);

    cr_assert_eq(r.code, code, "%s -> %s (%s)", text, mim_code_name(r.code),
                 r.msg);
    if (says != NULL) {
        cr_assert_not_null(strstr(r.msg, says), "%s: %s", text, r.msg);
    }
    cr_assert_null(key.pkey);
}

Test(key, jwk_refusals)
{
    jwk_refused("{\"kty\":\"oct\",\"k\":\"c2VjcmV0\"}", MIM_ERR_UNSUPPORTED,
                "symmetric");
    jwk_refused("{\"kty\":\"EC\",\"crv\":\"P-384\",\"x\":\"AA\",\"y\":\"AA\"}",
                MIM_ERR_UNSUPPORTED, "P-384");
    jwk_refused("{\"kty\":\"OKP\",\"crv\":\"X25519\",\"x\":\"AA\"}",
                MIM_ERR_UNSUPPORTED, "X25519");
    jwk_refused("{\"kty\":\"DSA\"}", MIM_ERR_UNSUPPORTED, "DSA");
    jwk_refused("{\"crv\":\"P-256\"}", MIM_ERR_INVALID, "kty");
    jwk_refused("[1]", MIM_ERR_INVALID, "object");
    jwk_refused("{\"kty\":1}", MIM_ERR_INVALID, "kty");
    /* x one byte short */
    jwk_refused("{\"kty\":\"EC\",\"crv\":\"P-256\","
                "\"x\":\"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVA\","
                "\"y\":\"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0\"}",
                MIM_ERR_INVALID, "32 bytes");
    /* y changed: not on the curve */
    jwk_refused("{\"kty\":\"EC\",\"crv\":\"P-256\","
                "\"x\":\"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU\","
                "\"y\":\"y_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0\"}",
                MIM_ERR_INVALID, "P-256");
    jwk_refused("{\"kty\":\"EC\",\"crv\":\"P-256\","
                "\"x\":\"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU\"}",
                MIM_ERR_INVALID, "\"y\"");
    jwk_refused("{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"f8==\","
                "\"y\":\"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0\"}",
                MIM_ERR_INVALID, "base64url");
    /* 1024-bit RSA */
    jwk_refused("{\"kty\":\"RSA\",\"e\":\"AQAB\",\"n\":\"" /* 128 bytes */
                "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT8"
                "6zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W"
                "-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGk\"}",
                MIM_ERR_KEY, "1024 bits is too small");
    jwk_refused("{\"kty\":\"EC\",\"crv\":\"P-256\",\"use\":\"enc\","
                "\"x\":\"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU\","
                "\"y\":\"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0\"}",
                MIM_ERR_UNSUPPORTED, "enc");
    /* an alg that does not fit the key type */
    jwk_refused("{\"kty\":\"EC\",\"crv\":\"P-256\",\"alg\":\"RS256\","
                "\"x\":\"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU\","
                "\"y\":\"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0\"}",
                MIM_ERR_MISMATCH, "RS256");
    jwk_refused("{\"kty\":\"EC\",\"crv\":\"P-256\",\"alg\":\"HS256\","
                "\"x\":\"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU\","
                "\"y\":\"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0\"}",
                MIM_ERR_UNSUPPORTED, "HS256");
}

Test(key, jwk_private_members_are_ignored)
{
    /* RFC 7515 A.3 with "d": the key made is the public one */
    mim_result_t r = from_jwk_text(
        "{\"kty\":\"EC\",\"crv\":\"P-256\","
        "\"x\":\"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU\","
        "\"y\":\"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0\","
        "\"d\":\"jpsQnnGQmL-YBIffH1136cLnT8EgfH3cTzP9kGkoFtM\"}");
    json_t *out;

    cr_assert(mim_ok(r), "%s", r.msg);
    out = mim_key_to_jwk(&key);
    cr_assert_null(json_object_get(out, "d"));
    json_decref(out);
}

/* ---- key sets ---- */

Test(key, keyset_skips_what_it_cannot_use)
{
    mim_keyset_t set;
    mim_result_t r;
    char *doc;
    const char *fmt =
        "{\"keys\":["
        "%s,"
        "{\"kty\":\"oct\",\"k\":\"c2VjcmV0\"},"
        "{\"kty\":\"OKP\",\"crv\":\"X25519\",\"x\":\"AA\"},"
        "{\"kty\":\"RSA\",\"use\":\"enc\",\"n\":\"AQAB\",\"e\":\"AQAB\"},"
        "%s,"
        "{\"kty\":\"OKP\",\"crv\":\"Ed25519\","
        "\"x\":\"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo\",\"kid\":\"ed\"}"
        "]}";

    cr_assert_gt(asprintf(&doc, fmt, rfc7638_jwk, rfc7515_ec_jwk), 0);
    r = mim_keyset_from_jwks(&set, doc, strlen(doc));
    free(doc);
    cr_assert(mim_ok(r), "%s", r.msg);
    cr_assert_eq(set.n, 3);
    cr_assert_eq(set.skipped, 3);
    /* found by thumbprint or by the JWK's own kid */
    cr_assert_eq(mim_keyset_find(&set, rfc7638_thumbprint), &set.keys[0]);
    cr_assert_eq(mim_keyset_find(&set, "2011-04-29"), &set.keys[0]);
    cr_assert_eq(mim_keyset_find(&set, "ed"), &set.keys[2]);
    cr_assert_eq(mim_keyset_find(&set, set.keys[1].kid), &set.keys[1]);
    cr_assert_null(mim_keyset_find(&set, "nope"));
    cr_assert_null(mim_keyset_find(&set, NULL));
    mim_keyset_free(&set);
    cr_assert_eq(set.n, 0);
}

Test(key, keyset_refusals)
{
    static const char *bad[] = {
        "",
        "[]",
        "{}",
        "{\"keys\":{}}",
        "{\"keys\":[],\"keys\":[]}",            /* duplicate member */
        "{\"keys\":[1]}",
        "{\"keys\":[{\"kty\":\"EC\",\"crv\":\"P-256\","
        "\"x\":\"!\",\"y\":\"\"}]}",
    };
    mim_keyset_t set;
    mim_result_t r;
    size_t i;

    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        r = mim_keyset_from_jwks(&set, bad[i], strlen(bad[i]));
        cr_assert_eq(r.code, MIM_ERR_INVALID, "\"%s\" -> %s", bad[i], r.msg);
        cr_assert_null(set.keys);
    }
    r = mim_keyset_from_jwks(&set, "{\"keys\":[]}", 11);
    cr_assert(mim_ok(r));
    cr_assert_eq(set.n, 0);
    mim_keyset_free(&set);
}

/* ---- certificate chains ---- */

typedef struct {
    EVP_PKEY *ca_key, *leaf_key;
    X509 *ca, *leaf;
} pki_t;

static void
pki_make(pki_t *p, const char *leaf_type)
{
    time_t now = time(NULL);

    p->ca_key = ut_keygen("P-256");
    p->leaf_key = ut_keygen(leaf_type);
    p->ca = ut_cert(p->ca_key, "Test CA", NULL, NULL, 1, now - 60,
                    now + 86400, "keyCertSign,cRLSign");
    p->leaf = ut_cert(p->leaf_key, "leaf", p->ca, p->ca_key, 0, now - 60,
                      now + 3600, "digitalSignature");
}

static void
pki_free(pki_t *p)
{
    EVP_PKEY_free(p->ca_key);
    EVP_PKEY_free(p->leaf_key);
    X509_free(p->ca);
    X509_free(p->leaf);
}

static char *
chain_file(X509 *first, X509 *second)
{
    char *a = ut_pem_cert(first), *b = second ? ut_pem_cert(second) : NULL;
    char *both, *path;

    cr_assert_gt(asprintf(&both, "%s%s", a, b ? b : ""), 0);
    path = ut_temp_file(both);
    free(both);
    free(a);
    free(b);
    return path;
}

Test(key, cert_chain_attaches_x5c)
{
    pki_t p;
    char *path, *b64;
    json_t *jwk;
    mim_key_t back;
    mim_result_t r;

    pki_make(&p, "P-256");
    ut_key_from_pkey(&key, p.leaf_key, NULL);
    path = chain_file(p.leaf, p.ca);
    r = mim_key_load_cert_chain(&key, path);
    ut_temp_remove(path);
    cr_assert(mim_ok(r), "%s", r.msg);
    cr_assert_eq(key.x5c_n, 2);
    b64 = ut_cert_b64(p.leaf);
    cr_assert_str_eq(key.x5c[0], b64);
    free(b64);

    /* exported with the JWK, and taken back */
    jwk = mim_key_to_jwk(&key);
    cr_assert_eq(json_array_size(json_object_get(jwk, "x5c")), 2);
    r = mim_key_from_jwk(&back, jwk);
    cr_assert(mim_ok(r), "%s", r.msg);
    cr_assert_eq(back.x5c_n, 2);
    cr_assert_str_eq(back.x5c[1], key.x5c[1]);
    mim_key_free(&back);

    /* a JWK whose x5c is for another key is refused */
    json_array_remove(json_object_get(jwk, "x5c"), 0);
    r = mim_key_from_jwk(&back, jwk);
    cr_assert_eq(r.code, MIM_ERR_MISMATCH, "%s", r.msg);
    json_decref(jwk);
    pki_free(&p);
}

Test(key, cert_chain_refusals)
{
    pki_t p;
    char *path;
    mim_result_t r;

    pki_make(&p, "P-256");
    ut_key_from_pkey(&key, p.leaf_key, NULL);
    /* leaf of another key */
    path = chain_file(p.ca, NULL);
    r = mim_key_load_cert_chain(&key, path);
    ut_temp_remove(path);
    cr_assert_eq(r.code, MIM_ERR_MISMATCH, "%s", r.msg);
    cr_assert_eq(key.x5c_n, 0);
    path = ut_temp_file("not a certificate\n");
    r = mim_key_load_cert_chain(&key, path);
    ut_temp_remove(path);
    cr_assert_eq(r.code, MIM_ERR_INVALID, "%s", r.msg);
    r = mim_key_load_cert_chain(&key, "/nonexistent/chain.pem");
    cr_assert_eq(r.code, MIM_ERR_IO);
    cr_assert_str_eq(r.msg, "cannot open: No such file or directory");
    pki_free(&p);
}

Test(key, x5c_verify_and_store_load)
{
    pki_t p, other;
    char *path, *x5c[2];
    X509_STORE *store, *wrong;
    EVP_PKEY *leaf;
    mim_result_t r;
    time_t now = time(NULL);

    pki_make(&p, "P-256");
    pki_make(&other, "P-256");
    path = chain_file(p.ca, NULL);
    r = mim_x509_store_load(&store, path);
    ut_temp_remove(path);
    cr_assert(mim_ok(r), "%s", r.msg);
    path = chain_file(other.ca, NULL);
    r = mim_x509_store_load(&wrong, path);
    ut_temp_remove(path);
    cr_assert(mim_ok(r), "%s", r.msg);

    x5c[0] = ut_cert_b64(p.leaf);
    x5c[1] = ut_cert_b64(p.ca);
    r = mim_x5c_verify((const char *const *) x5c, 2, store, 0, &leaf);
    cr_assert(mim_ok(r), "%s", r.msg);
    cr_assert_eq(EVP_PKEY_eq(leaf, p.leaf_key), 1);
    EVP_PKEY_free(leaf);
    /* the leaf alone, the CA being the trust anchor */
    r = mim_x5c_verify((const char *const *) x5c, 1, store, 0, &leaf);
    cr_assert(mim_ok(r), "%s", r.msg);
    EVP_PKEY_free(leaf);

    r = mim_x5c_verify((const char *const *) x5c, 2, wrong, 0, &leaf);
    cr_assert_eq(r.code, MIM_ERR_UNTRUSTED, "%s", r.msg);
    cr_assert_null(leaf);
    r = mim_x5c_verify((const char *const *) x5c, 2, store, now + 7200,
                       &leaf);
    cr_assert_eq(r.code, MIM_ERR_UNTRUSTED, "%s", r.msg);
    cr_assert_not_null(strstr(r.msg, "expired"), "%s", r.msg);
    r = mim_x5c_verify((const char *const *) x5c, 2, store, now - 3600,
                       &leaf);
    cr_assert_eq(r.code, MIM_ERR_UNTRUSTED, "%s", r.msg);
    cr_assert_not_null(strstr(r.msg, "not yet valid"), "%s", r.msg);
    r = mim_x5c_verify((const char *const *) x5c, 0, store, 0, &leaf);
    cr_assert_eq(r.code, MIM_ERR_INVALID, "%s", r.msg);
    free(x5c[1]);
    x5c[1] = strdup("AAAA");
    r = mim_x5c_verify((const char *const *) x5c, 2, store, 0, &leaf);
    cr_assert_eq(r.code, MIM_ERR_INVALID, "%s", r.msg);
    cr_assert_not_null(strstr(r.msg, "x5c[1]"), "%s", r.msg);

    free(x5c[0]);
    free(x5c[1]);
    X509_STORE_free(store);
    X509_STORE_free(wrong);
    pki_free(&p);
    pki_free(&other);
}

Test(key, x5c_leaf_must_be_allowed_to_sign)
{
    EVP_PKEY *ca_key = ut_keygen("P-256"), *leaf_key = ut_keygen("P-256"),
             *got;
    time_t now = time(NULL);
    X509 *ca = ut_cert(ca_key, "CA", NULL, NULL, 1, now - 60, now + 3600,
                       NULL);
    X509 *leaf = ut_cert(leaf_key, "enc", ca, ca_key, 0, now - 60,
                         now + 3600, "keyAgreement");
    X509_STORE *store = X509_STORE_new();
    char *x5c = ut_cert_b64(leaf);
    mim_result_t r;

    cr_assert(X509_STORE_add_cert(store, ca));
    r = mim_x5c_verify((const char *const *) &x5c, 1, store, 0, &got);
    cr_assert_eq(r.code, MIM_ERR_UNTRUSTED, "%s", r.msg);
    cr_assert_not_null(strstr(r.msg, "keyUsage"), "%s", r.msg);
    free(x5c);
    X509_STORE_free(store);
    X509_free(ca);
    X509_free(leaf);
    EVP_PKEY_free(ca_key);
    EVP_PKEY_free(leaf_key);
}

Test(key, store_load_refusals)
{
    X509_STORE *store;
    char *path = ut_temp_file("no certificates here\n");
    mim_result_t r = mim_x509_store_load(&store, path);

    ut_temp_remove(path);
    cr_assert_eq(r.code, MIM_ERR_INVALID, "%s", r.msg);
    cr_assert_null(store);
    r = mim_x509_store_load(&store, "/nonexistent/ca.pem");
    cr_assert_eq(r.code, MIM_ERR_IO);
    cr_assert_str_eq(r.msg, "cannot open: No such file or directory");
}
