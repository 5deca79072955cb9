/*
 * test_data_token.c - the data-access token of a DSP transfer
 * (trust/mim_data_token.c): round trips with ES256 and EdDSA keys, and
 * every way a token must be refused.  Tokens that the issuer would never
 * make are signed here with mim_jwt_sign() (or assembled by hand for alg
 * none and HS256), so that each test changes exactly one thing.
 */
#define _GNU_SOURCE     /* asprintf */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "mim_b64.h"
#include "mim_data_token.h"
#include "mim_ishare.h"
#include "mim_jwt.h"
#include "unit.h"

#define NOW       1750000000L             /* 2025-06-15 */
#define US        "EU.EORI.NL000000002"
#define CONSUMER  "did:web:consumer.example"
#define AGR       "urn:uuid:7b4c1a90-2f6e-4d3a-b8e2-1c9d5e7f0a12"
#define TP        "urn:uuid:0e9d7a52-4a3b-4c1e-9f1e-2b9b8d6e5a10"
#define TARGET    "urn:mim:dataset:parking"
#define JTI       "tok-4711"
#define LEEWAY    5

#define assert_code(r, c, needle)                                         \
    do {                                                                  \
        mim_result_t r_ = (r);                                            \
        cr_assert_eq(r_.code, (c), "code %s, want %s: %s",                \
                     mim_code_name(r_.code), mim_code_name(c), r_.msg);   \
        cr_assert_not_null(strstr(r_.msg, (needle)),                      \
                           "message \"%s\" lacks \"%s\"", r_.msg,         \
                           (needle));                                     \
    } while (0)


static mim_key_t dt_key;
static EVP_PKEY *dt_pkey;
static mim_data_token_t dt_out;
static char *dt_token;

static const mim_data_token_t dt_claims = {
    .subject = CONSUMER, .agreement = AGR, .transfer = TP,
    .target = TARGET, .jti = JTI
};

static void
dt_setup(void)
{
    dt_pkey = ut_keygen("P-256");
    ut_key_from_pkey(&dt_key, dt_pkey, NULL);
}

static void
dt_teardown(void)
{
    mim_key_free(&dt_key);
    EVP_PKEY_free(dt_pkey);
    mim_data_token_free(&dt_out);
    free(dt_token);
}

TestSuite(data_token, .init = dt_setup, .fini = dt_teardown);


static mim_result_t
dt_verify(const char *token, int64_t now)
{
    mim_data_token_free(&dt_out);
    return mim_data_token_verify(&dt_key, US, token, strlen(token), now,
                                 LEEWAY, &dt_out);
}

/* the claims a good token has, to be changed by a test */
static json_t *
good_claims(void)
{
    json_t *c = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:I, s:I}",
                          "iss", US, "aud", US, "sub", CONSUMER,
                          "agreement", AGR, "transfer", TP,
                          "target", TARGET, "jti", JTI,
                          "iat", (json_int_t) NOW,
                          "exp", (json_int_t) NOW + 3600);

    cr_assert_not_null(c);
    return c;
}

/* sign claims with dt_key and typ; the claims are consumed */
static char *
sign_claims(json_t *claims, const char *typ)
{
    char *token = NULL;
    mim_result_t r;

    r = mim_jwt_sign(&dt_key, typ, claims, &token, NULL);
    cr_assert(mim_ok(r), "%s", r.msg);
    json_decref(claims);
    return token;
}

static void
check_round_trip(const char *what)
{
    mim_jwt_t jwt;
    mim_result_t r;

    r = mim_data_token_issue(&dt_key, US, &dt_claims, NOW, 3600, &dt_token);
    cr_assert(mim_ok(r), "%s: %s", what, r.msg);

    r = dt_verify(dt_token, NOW + 10);
    cr_assert(mim_ok(r), "%s: %s", what, r.msg);
    cr_assert_str_eq(dt_out.issuer, US);
    cr_assert_str_eq(dt_out.subject, CONSUMER);
    cr_assert_str_eq(dt_out.agreement, AGR);
    cr_assert_str_eq(dt_out.transfer, TP);
    cr_assert_str_eq(dt_out.target, TARGET);
    cr_assert_str_eq(dt_out.jti, JTI);
    cr_assert_eq(dt_out.iat, NOW);
    cr_assert_eq(dt_out.exp, NOW + 3600);

    cr_assert(mim_ok(mim_jwt_parse(&jwt, dt_token, strlen(dt_token))));
    cr_assert_str_eq(jwt.typ, MIM_DATA_TOKEN_TYP);
    cr_assert_eq(jwt.alg, dt_key.alg);
    cr_assert_str_eq(jwt.kid, dt_key.kid);
    cr_assert_str_eq(mim_jwt_string(&jwt, "aud"), US);
    mim_jwt_free(&jwt);
}


/* ---- what must pass ---- */

Test(data_token, round_trip_es256)
{
    cr_assert_eq(dt_key.alg, MIM_ALG_ES256);
    check_round_trip("ES256");
}

Test(data_token, round_trip_eddsa)
{
    mim_key_free(&dt_key);
    EVP_PKEY_free(dt_pkey);
    dt_pkey = ut_keygen("ED25519");
    ut_key_from_pkey(&dt_key, dt_pkey, NULL);
    cr_assert_eq(dt_key.alg, MIM_ALG_EDDSA);
    check_round_trip("EdDSA");
}

Test(data_token, round_trip_ps256)
{
    mim_key_free(&dt_key);
    EVP_PKEY_free(dt_pkey);
    dt_pkey = ut_keygen("RSA2048");
    ut_key_from_pkey(&dt_key, dt_pkey, NULL);
    check_round_trip("PS256");
}

/* the full media type is the same typ (RFC 7515 4.1.9), in any case */
Test(data_token, typ_media_type_accepted)
{
    dt_token = sign_claims(good_claims(), "application/MIM-DAT+JWT");
    cr_assert(mim_ok(dt_verify(dt_token, NOW)));
}

/* the leeway: exp is honoured up to LEEWAY seconds late */
Test(data_token, leeway)
{
    cr_assert(mim_ok(mim_data_token_issue(&dt_key, US, &dt_claims, NOW, 60,
                                          &dt_token)));
    cr_assert(mim_ok(dt_verify(dt_token, NOW + 60 + LEEWAY - 1)));
    cr_assert(mim_ok(dt_verify(dt_token, NOW - LEEWAY)));
}


/* ---- what must be refused ---- */

Test(data_token, expired)
{
    cr_assert(mim_ok(mim_data_token_issue(&dt_key, US, &dt_claims, NOW, 60,
                                          &dt_token)));
    assert_code(dt_verify(dt_token, NOW + 60 + LEEWAY), MIM_ERR_MISMATCH,
                "token expired");
    cr_assert_null(dt_out.subject);
}

Test(data_token, iat_in_the_future)
{
    cr_assert(mim_ok(mim_data_token_issue(&dt_key, US, &dt_claims, NOW, 60,
                                          &dt_token)));
    assert_code(dt_verify(dt_token, NOW - LEEWAY - 1), MIM_ERR_MISMATCH,
                "issued in the future");
}

Test(data_token, wrong_typ)
{
    dt_token = sign_claims(good_claims(), "JWT");
    assert_code(dt_verify(dt_token, NOW), MIM_ERR_INVALID,
                "typ is not mim-dat+jwt");
    free(dt_token);
    dt_token = sign_claims(good_claims(), NULL);
    assert_code(dt_verify(dt_token, NOW), MIM_ERR_INVALID,
                "typ is not mim-dat+jwt");
}

/* an access token of the same gateway, same key: never a data token */
Test(data_token, access_token_refused)
{
    cr_assert(mim_ok(mim_access_token_issue(&dt_key, US, CONSUMER, NOW,
                                            3600, &dt_token)));
    assert_code(dt_verify(dt_token, NOW), MIM_ERR_INVALID,
                "typ is not mim-dat+jwt");

    /* an at+jwt token that carries every data token claim: still not */
    free(dt_token);
    dt_token = sign_claims(good_claims(), "at+jwt");
    assert_code(dt_verify(dt_token, NOW), MIM_ERR_INVALID,
                "typ is not mim-dat+jwt");
}

/* and the reverse: a data token is no access token */
Test(data_token, not_an_access_token)
{
    mim_identity_t id;

    cr_assert(mim_ok(mim_data_token_issue(&dt_key, US, &dt_claims, NOW,
                                          3600, &dt_token)));
    assert_code(mim_access_token_verify(&dt_key, US, dt_token,
                                        strlen(dt_token), NOW, LEEWAY, &id),
                MIM_ERR_INVALID, "typ is not at+jwt");
}

Test(data_token, other_issuer)
{
    cr_assert(mim_ok(mim_data_token_issue(&dt_key, "EU.EORI.NL000000077",
                                          &dt_claims, NOW, 60, &dt_token)));
    assert_code(dt_verify(dt_token, NOW), MIM_ERR_MISMATCH,
                "iss EU.EORI.NL000000077 is not us");
}

Test(data_token, other_audience)
{
    json_t *c = good_claims();

    json_object_set_new(c, "aud", json_string("EU.EORI.NL000000077"));
    dt_token = sign_claims(c, MIM_DATA_TOKEN_TYP);
    assert_code(dt_verify(dt_token, NOW), MIM_ERR_MISMATCH,
                "aud EU.EORI.NL000000077 is not us");
}

Test(data_token, audience_array_refused)
{
    json_t *c = good_claims();

    json_object_set_new(c, "aud", json_pack("[s]", US));
    dt_token = sign_claims(c, MIM_DATA_TOKEN_TYP);
    assert_code(dt_verify(dt_token, NOW), MIM_ERR_INVALID,
                "aud is not a string (an array is refused)");
}

Test(data_token, missing_claims)
{
    static const char *const names[] = {
        "iss", "aud", "sub", "agreement", "transfer", "target", "jti"
    };
    char want[64];
    json_t *c;
    size_t i;

    for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        c = good_claims();
        json_object_del(c, names[i]);
        dt_token = sign_claims(c, MIM_DATA_TOKEN_TYP);
        snprintf(want, sizeof(want), "no %s claim", names[i]);
        assert_code(dt_verify(dt_token, NOW), MIM_ERR_INVALID, want);
        free(dt_token);

        c = good_claims();
        json_object_set_new(c, names[i], json_string(""));
        dt_token = sign_claims(c, MIM_DATA_TOKEN_TYP);
        snprintf(want, sizeof(want), "%s is empty", names[i]);
        assert_code(dt_verify(dt_token, NOW), MIM_ERR_INVALID, want);
        free(dt_token);

        c = good_claims();
        json_object_set_new(c, names[i], json_integer(7));
        dt_token = sign_claims(c, MIM_DATA_TOKEN_TYP);
        snprintf(want, sizeof(want), "%s is not a string", names[i]);
        assert_code(dt_verify(dt_token, NOW), MIM_ERR_INVALID, want);
        free(dt_token);
    }
    dt_token = NULL;

    c = good_claims();
    json_object_del(c, "iat");
    dt_token = sign_claims(c, MIM_DATA_TOKEN_TYP);
    assert_code(dt_verify(dt_token, NOW), MIM_ERR_INVALID, "no iat claim");
    free(dt_token);

    c = good_claims();
    json_object_del(c, "exp");
    dt_token = sign_claims(c, MIM_DATA_TOKEN_TYP);
    assert_code(dt_verify(dt_token, NOW), MIM_ERR_INVALID, "no exp claim");
    free(dt_token);

    c = good_claims();
    json_object_set_new(c, "exp", json_string("tomorrow"));
    dt_token = sign_claims(c, MIM_DATA_TOKEN_TYP);
    assert_code(dt_verify(dt_token, NOW), MIM_ERR_INVALID, "exp claim");
    free(dt_token);

    c = good_claims();
    json_object_set_new(c, "exp", json_integer(NOW));
    dt_token = sign_claims(c, MIM_DATA_TOKEN_TYP);
    assert_code(dt_verify(dt_token, NOW), MIM_ERR_INVALID,
                "exp is not after iat");
}

/* the JWT parser already refuses \u0000: a NUL never reaches a claim */
Test(data_token, claim_with_nul_refused)
{
    json_t *c = good_claims();

    json_object_set_new(c, "sub", json_stringn("a\0b", 3));
    dt_token = sign_claims(c, MIM_DATA_TOKEN_TYP);
    assert_code(dt_verify(dt_token, NOW), MIM_ERR_INVALID,
                "payload is not JSON");
}

Test(data_token, overlong_claim_refused)
{
    char big[2050];
    json_t *c = good_claims();

    memset(big, 'a', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    json_object_set_new(c, "target", json_string(big));
    dt_token = sign_claims(c, MIM_DATA_TOKEN_TYP);
    assert_code(dt_verify(dt_token, NOW), MIM_ERR_LIMIT, "target is over");
}

/* header.payload. with the given header and signature bytes */
static char *
assemble(const char *header, const char *payload, const uint8_t *sig,
    size_t sig_len)
{
    char *h = ut_b64url(header, strlen(header));
    char *p = ut_b64url(payload, strlen(payload));
    char *s = ut_b64url(sig, sig_len);
    char *out;

    cr_assert(asprintf(&out, "%s.%s.%s", h, p, s) > 0);
    free(h);
    free(p);
    free(s);
    return out;
}

static char *
good_payload(void)
{
    json_t *c = good_claims();
    char *text = json_dumps(c, JSON_COMPACT);

    json_decref(c);
    cr_assert_not_null(text);
    return text;
}

Test(data_token, alg_none_refused)
{
    char *payload = good_payload();

    dt_token = assemble("{\"alg\":\"none\",\"typ\":\"mim-dat+jwt\"}", payload,
                        (const uint8_t *) "", 0);
    assert_code(dt_verify(dt_token, NOW), MIM_ERR_UNSUPPORTED,
                "alg none not accepted");
    free(payload);
}

/* the classic confusion: HMAC keyed with the verifier's public key */
Test(data_token, hs256_with_the_public_key_refused)
{
    char *payload = good_payload(), *pem = ut_pem_public(dt_pkey);
    char *h, *p, *input;
    uint8_t mac[EVP_MAX_MD_SIZE];
    unsigned int mac_len = 0;

    h = ut_b64url("{\"alg\":\"HS256\",\"typ\":\"mim-dat+jwt\"}",
                  strlen("{\"alg\":\"HS256\",\"typ\":\"mim-dat+jwt\"}"));
    p = ut_b64url(payload, strlen(payload));
    cr_assert(asprintf(&input, "%s.%s", h, p) > 0);
    cr_assert_not_null(HMAC(EVP_sha256(), pem, (int) strlen(pem),
                            (const uint8_t *) input, strlen(input), mac,
                            &mac_len));
    dt_token = assemble("{\"alg\":\"HS256\",\"typ\":\"mim-dat+jwt\"}",
                        payload, mac, mac_len);
    assert_code(dt_verify(dt_token, NOW), MIM_ERR_UNSUPPORTED,
                "alg HS256 not accepted");
    free(h);
    free(p);
    free(input);
    free(pem);
    free(payload);
}

/* ES256 is pinned by the key: an EdDSA token is refused before crypto */
Test(data_token, other_alg_refused)
{
    EVP_PKEY *ed = ut_keygen("ED25519");
    mim_key_t other;

    ut_key_from_pkey(&other, ed, NULL);
    cr_assert(mim_ok(mim_data_token_issue(&other, US, &dt_claims, NOW, 60,
                                          &dt_token)));
    assert_code(dt_verify(dt_token, NOW), MIM_ERR_UNSUPPORTED,
                "alg EdDSA not allowed");
    mim_key_free(&other);
    EVP_PKEY_free(ed);
}

Test(data_token, other_key_refused)
{
    EVP_PKEY *pkey = ut_keygen("P-256");
    mim_key_t other;

    ut_key_from_pkey(&other, pkey, NULL);
    cr_assert(mim_ok(mim_data_token_issue(&other, US, &dt_claims, NOW, 60,
                                          &dt_token)));
    assert_code(dt_verify(dt_token, NOW), MIM_ERR_SIGNATURE,
                "signature does not verify");
    mim_key_free(&other);
    EVP_PKEY_free(pkey);
}

/* another consumer's name in a real token's payload, signature kept */
Test(data_token, tampered_payload_refused)
{
    char *dot1, *dot2, *payload, *b64, *forged;
    json_t *c = good_claims();

    cr_assert(mim_ok(mim_data_token_issue(&dt_key, US, &dt_claims, NOW,
                                          3600, &dt_token)));
    json_object_set_new(c, "sub", json_string("did:web:mallory.example"));
    payload = json_dumps(c, JSON_COMPACT);
    json_decref(c);
    b64 = ut_b64url(payload, strlen(payload));

    dot1 = strchr(dt_token, '.');
    dot2 = strchr(dot1 + 1, '.');
    cr_assert(asprintf(&forged, "%.*s.%s%s", (int) (dot1 - dt_token),
                       dt_token, b64, dot2) > 0);
    assert_code(dt_verify(forged, NOW), MIM_ERR_SIGNATURE,
                "signature does not verify");

    free(forged);
    free(b64);
    free(payload);
}

Test(data_token, tampered_signature_refused)
{
    size_t n;

    cr_assert(mim_ok(mim_data_token_issue(&dt_key, US, &dt_claims, NOW,
                                          3600, &dt_token)));
    n = strlen(dt_token);
    /* a middle character of the signature: all 6 bits are significant */
    dt_token[n - 10] = dt_token[n - 10] == 'A' ? 'B' : 'A';
    assert_code(dt_verify(dt_token, NOW), MIM_ERR_SIGNATURE,
                "signature does not verify");
}

Test(data_token, garbage_refused)
{
    static const char *const junk[] = {
        "", "a", "a.b", "a.b.c", "....", "eyJhbGciOiJFUzI1NiJ9..",
    };
    size_t i;

    for (i = 0; i < sizeof(junk) / sizeof(junk[0]); i++) {
        cr_assert(!mim_ok(dt_verify(junk[i], NOW)), "%s", junk[i]);
        cr_assert_null(dt_out.jti);
    }
}

Test(data_token, verify_needs_key_and_issuer)
{
    cr_assert(mim_ok(mim_data_token_issue(&dt_key, US, &dt_claims, NOW,
                                          3600, &dt_token)));
    assert_code(mim_data_token_verify(NULL, US, dt_token, strlen(dt_token),
                                      NOW, 0, &dt_out),
                MIM_ERR_KEY, "no token key");
    assert_code(mim_data_token_verify(&dt_key, "", dt_token,
                                      strlen(dt_token), NOW, 0, &dt_out),
                MIM_ERR_KEY, "no token key");
}

Test(data_token, issue_refuses_bad_arguments)
{
    mim_data_token_t t = dt_claims;

    assert_code(mim_data_token_issue(&dt_key, US, &dt_claims, NOW, 0,
                                     &dt_token), MIM_ERR_INVALID,
                "lifetime");
    assert_code(mim_data_token_issue(&dt_key, "", &dt_claims, NOW, 60,
                                     &dt_token), MIM_ERR_INVALID,
                "are all required");
    t.jti = "";
    assert_code(mim_data_token_issue(&dt_key, US, &t, NOW, 60, &dt_token),
                MIM_ERR_INVALID, "are all required");
    t = dt_claims;
    t.agreement = NULL;
    assert_code(mim_data_token_issue(&dt_key, US, &t, NOW, 60, &dt_token),
                MIM_ERR_INVALID, "are all required");
    t = dt_claims;
    t.subject = "\xff\xfe";
    assert_code(mim_data_token_issue(&dt_key, US, &t, NOW, 60, &dt_token),
                MIM_ERR_INVALID, "UTF-8");
    cr_assert_null(dt_token);
}

Test(data_token, free_is_idempotent)
{
    mim_data_token_t t;

    memset(&t, 0, sizeof(t));
    mim_data_token_free(&t);
    mim_data_token_free(NULL);
    cr_assert(mim_ok(mim_data_token_issue(&dt_key, US, &dt_claims, NOW,
                                          3600, &dt_token)));
    cr_assert(mim_ok(dt_verify(dt_token, NOW)));
    mim_data_token_free(&dt_out);
    mim_data_token_free(&dt_out);
    cr_assert_null(dt_out.subject);
}
