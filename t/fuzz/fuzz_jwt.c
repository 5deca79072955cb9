/*
 * fuzz_jwt.c - libFuzzer target for the compact JWS / JWT reader
 * (trust/mim_jwt.c): the code that reads every bearer token and
 * credential a client sends.
 *
 * Input: a compact token.  It is parsed, verified with three fixed public
 * keys (ES256, EdDSA and an RSA key that takes any RS / PS alg) and its
 * time claims are checked.  Beyond "no crash":
 *   - a parsed token has a known alg, objects for header and claims, and
 *     a signing input that is a prefix of the token;
 *   - a signature verifies only with the key of its alg's type;
 *   - its claims, signed again by mim_jwt_sign with a key made at start,
 *     parse back equal and verify.
 * The seeds in corpus/fuzz_jwt were made with python3-jwcrypto and these
 * keys, so the fuzzer starts from tokens that verify.
 *
 * An input that starts with '{', '[' or a space (never a token: they are
 * not base64url) is JSON text instead, read by the tokens' JSON reader
 * and by jansson's json_loadb (JSON_REJECT_DUPLICATES): both must agree
 * on acceptance and on the value (the reader is ours, for speed).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/pem.h>

#include "mim_jwt.h"
#include "mim_trust_int.h"

#define FUZZ_NOW  1800000000LL

static const char es_pub[] =
    "-----BEGIN PUBLIC KEY-----\n"
    "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE2sqGiNF+Jc3CKlT7vaHy2riimQ6j\n"
    "rrDV5cc6PooiQJFlBtxmUnoNY1fr5hO7LZec7nCkaA30JRf5AV7tQIiYfg==\n"
    "-----END PUBLIC KEY-----\n"
;
static const char ed_pub[] =
    "-----BEGIN PUBLIC KEY-----\n"
    "MCowBQYDK2VwAyEAA0BeWizdznVUrOYM0KnPdDuHtkUo/Qme6ncnEnqM8QY=\n"
    "-----END PUBLIC KEY-----\n"
;
static const char rs_pub[] =
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

static mim_key_t  es_key, ed_key, rs_key, signer;

static void
load(mim_key_t *key, const char *pem)
{
    if (!mim_ok(mim_key_from_pem(key, pem, strlen(pem), NULL, 0))) {
        abort();
    }
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
    EVP_PKEY *pkey = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    BIO *bio = BIO_new(BIO_s_mem());
    char *pem;
    long len;

    load(&es_key, es_pub);
    load(&ed_key, ed_pub);
    load(&rs_key, rs_pub);
    if (pkey == NULL || bio == NULL
        || !PEM_write_bio_PrivateKey(bio, pkey, NULL, NULL, 0, NULL, NULL))
    {
        abort();
    }
    len = BIO_get_mem_data(bio, &pem);
    if (!mim_ok(mim_key_from_pem(&signer, pem, (size_t) len, NULL, 1))) {
        abort();
    }
    BIO_free(bio);
    EVP_PKEY_free(pkey);
    return 0;
}

static void
check_result(mim_result_t r)
{
    if (mim_ok(r) != (r.code == MIM_OK) || strlen(r.msg) >= MIM_MSG_MAX
        || (!mim_ok(r) && r.msg[0] == '\0'))
    {
        abort();
    }
}

/* verify with key; a success must be the key's own kind of alg */
static void
verify_with(const mim_jwt_t *jwt, const mim_key_t *key)
{
    mim_result_t r = mim_jwt_verify(jwt, key, (mim_alg_set_t) 0xffffffffu);

    check_result(r);
    if (mim_ok(r) && !mim_key_accepts_alg(key, jwt->alg)) {
        abort();
    }
    /* and never outside the allowed set */
    r = mim_jwt_verify(jwt, key, 0);
    if (mim_ok(r)) {
        abort();
    }
}

/* the claims signed again by us parse back equal and verify */
static void
resign(const mim_jwt_t *jwt)
{
    mim_jwt_t again;
    char *token = NULL;
    size_t len = 0;
    mim_result_t r;

    r = mim_jwt_sign(&signer, jwt->typ, jwt->claims, &token, &len);
    check_result(r);
    if (!mim_ok(r)) {
        abort();                /* any parsed claims object can be signed */
    }
    r = mim_jwt_parse(&again, token, len);
    /* our header adds little; only the size limit may stop it */
    if (!mim_ok(r) && r.code != MIM_ERR_LIMIT) {
        abort();
    }
    if (mim_ok(r)) {
        if (!json_equal(again.claims, jwt->claims)
            || !mim_ok(mim_jwt_verify(&again, &signer,
                                      mim_alg_bit(MIM_ALG_ES256))))
        {
            abort();
        }
        mim_jwt_free(&again);
    }
    free(token);
}

/* our JSON reader against jansson's */
static void
json_differential(const uint8_t *data, size_t size)
{
    json_t *ours = NULL, *theirs;
    json_error_t jerr;
    mim_result_t r;

    r = mim_json_parse_object((const char *) data, size, MIM_JWT_MAX_DEPTH,
                              &ours);
    check_result(r);
    if (r.code == MIM_ERR_LIMIT) {
        return;                 /* deeper than we read: nothing to compare */
    }
    if (memchr(data, '\0', size) != NULL) {
        /*
         * A NUL byte is never valid JSON text (RFC 8259), and ours refuses
         * it anywhere; jansson's lexer may stop at one after a number and
         * accept "{\"\":1e4\0}".  Only the refusal is checked here.
         */
        if (mim_ok(r)) {
            abort();
        }
        json_decref(ours);
        return;
    }
    theirs = json_loadb((const char *) data, size, JSON_REJECT_DUPLICATES,
                        &jerr);
    if (mim_ok(r) != (theirs != NULL && json_is_object(theirs))
        || (mim_ok(r) && !json_equal(ours, theirs)))
    {
        abort();
    }
    json_decref(ours);
    json_decref(theirs);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *token = (const char *) data;
    char hash[MIM_KID_LEN + 1];
    mim_jwt_t jwt;
    mim_result_t r;
    int64_t v;

    if (size > 0 && (data[0] == '{' || data[0] == '[' || data[0] == ' ')) {
        json_differential(data, size);
        return 0;
    }
    mim_jwt_hash(token, size, hash);
    if (strlen(hash) != MIM_KID_LEN) {
        abort();
    }
    r = mim_jwt_parse(&jwt, token, size);
    check_result(r);
    if (!mim_ok(r)) {
        if (jwt.header != NULL || jwt.claims != NULL
            || jwt.signature != NULL)
        {
            abort();            /* a failed parse owns nothing */
        }
        return 0;
    }
    if (mim_alg_name(jwt.alg) == NULL || !json_is_object(jwt.header)
        || !json_is_object(jwt.claims) || jwt.signing_input != token
        || jwt.signing_input_len >= size
        || token[jwt.signing_input_len] != '.')
    {
        abort();
    }
    verify_with(&jwt, &es_key);
    verify_with(&jwt, &ed_key);
    verify_with(&jwt, &rs_key);
    check_result(mim_jwt_check_times(&jwt, FUZZ_NOW, 60, 1));
    check_result(mim_jwt_check_times(&jwt, FUZZ_NOW, -1, 0));
    (void) mim_jwt_string(&jwt, "sub");
    (void) mim_jwt_integer(&jwt, "exp", &v);
    resign(&jwt);
    mim_jwt_free(&jwt);
    return 0;
}
