/*
 * fuzz_data_token.c - libFuzzer target for the data-access token
 * (trust/mim_data_token.c): what the agreement-gated data plane reads in
 * every request's Authorization header.
 *
 * Two kinds of input:
 *   - a compact token, verified with a fixed key (the throw-away dev key
 *     below; the seeds in corpus/fuzz_data_token were signed with it, so
 *     the fuzzer starts from tokens that verify);
 *   - an input starting with '{': a claims object, signed here with that
 *     key and typ mim-dat+jwt, then verified: this reaches the claim and
 *     time checks that a fuzzer could never reach through a signature.
 * Beyond "no crash":
 *   - a refusal leaves the output empty and says why;
 *   - an accepted token has every claim, non-empty, iss = us, exp > iat,
 *     and is not expired at the time it was verified;
 *   - an accepted token issued again from its own claims verifies to the
 *     same claims (issue and verify agree);
 *   - no token is both a data token and an access token (typ).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mim_data_token.h"
#include "mim_ishare.h"
#include "mim_jwt.h"

#define FUZZ_NOW     1800000000LL
#define FUZZ_LEEWAY  30
#define FUZZ_US      "EU.EORI.NL000000002"

/* a throw-away P-256 key, only ever used by this fuzzer and its seeds */
static const char key_pem[] =
    "-----BEGIN PRIVATE KEY-----\n"
    "MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgbAq754ZSJHicPKLe\n"
    "mdgW/E+uaSUmAx7++6FGfh9jOuyhRANCAAQMJixFuIvcv+XbSGR9OqynC3ipq/90\n"
    "Xn+udx5BclCVSUNNPPIxzTjTGBBnyMiR+suvdOX0cDVm/HjHnC3HK6M8\n"
    "-----END PRIVATE KEY-----\n"
;

static mim_key_t  key;

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
    if (!mim_ok(mim_key_from_pem(&key, key_pem, strlen(key_pem), NULL, 1))) {
        abort();
    }
    return 0;
}

static void
check_result(mim_result_t r)
{
    if (strlen(r.msg) >= MIM_MSG_MAX || (!mim_ok(r) && r.msg[0] == '\0')) {
        abort();
    }
}

static int
filled(const char *s)
{
    return s != NULL && s[0] != '\0';
}

static int
same(const char *a, const char *b)
{
    return a != NULL && b != NULL && strcmp(a, b) == 0;
}

/* an accepted token issued again from its claims reads back the same */
static void
reissue(const mim_data_token_t *t)
{
    mim_data_token_t again;
    mim_result_t r;
    char *token = NULL;

    r = mim_data_token_issue(&key, FUZZ_US, t, t->iat, t->exp - t->iat,
                             &token);
    check_result(r);
    if (!mim_ok(r)) {
        /* only a lifetime or time beyond the issuer's range */
        if (r.code != MIM_ERR_INVALID || token != NULL) {
            abort();
        }
        return;
    }
    r = mim_data_token_verify(&key, FUZZ_US, token, strlen(token), FUZZ_NOW,
                              FUZZ_LEEWAY, &again);
    check_result(r);
    /* the size limit of a token is the only way this may fail */
    if (!mim_ok(r) && r.code != MIM_ERR_LIMIT) {
        abort();
    }
    if (mim_ok(r)
        && (!same(again.subject, t->subject)
            || !same(again.agreement, t->agreement)
            || !same(again.transfer, t->transfer)
            || !same(again.target, t->target) || !same(again.jti, t->jti)
            || again.iat != t->iat || again.exp != t->exp))
    {
        abort();
    }
    mim_data_token_free(&again);
    free(token);
}

static void
verify(const char *token, size_t len)
{
    mim_data_token_t t;
    mim_identity_t id;
    mim_result_t r, a;

    r = mim_data_token_verify(&key, FUZZ_US, token, len, FUZZ_NOW,
                              FUZZ_LEEWAY, &t);
    check_result(r);
    if (!mim_ok(r)) {
        if (t.issuer || t.subject || t.agreement || t.transfer || t.target
            || t.jti || t.iat || t.exp)
        {
            abort();            /* a refusal hands back nothing */
        }
        return;
    }
    if (!same(t.issuer, FUZZ_US) || !filled(t.subject)
        || !filled(t.agreement) || !filled(t.transfer) || !filled(t.target)
        || !filled(t.jti) || t.exp <= t.iat
        || FUZZ_NOW >= t.exp + FUZZ_LEEWAY
        || t.iat > FUZZ_NOW + FUZZ_LEEWAY)
    {
        abort();
    }
    a = mim_access_token_verify(&key, FUZZ_US, token, len, FUZZ_NOW,
                                FUZZ_LEEWAY, &id);
    if (mim_ok(a)) {
        abort();                /* one token, two meanings */
    }
    reissue(&t);
    mim_data_token_free(&t);
}

/* claims given as JSON: signed by us, so the checks behind it are reached */
static void
sign_and_verify(const uint8_t *data, size_t size)
{
    json_t *claims;
    json_error_t jerr;
    char *token = NULL;
    size_t len = 0;
    mim_result_t r;

    claims = json_loadb((const char *) data, size, JSON_REJECT_DUPLICATES,
                        &jerr);
    if (!json_is_object(claims)) {
        json_decref(claims);
        return;
    }
    r = mim_jwt_sign(&key, MIM_DATA_TOKEN_TYP, claims, &token, &len);
    json_decref(claims);
    if (mim_ok(r)) {
        verify(token, len);
    }
    free(token);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 0 && data[0] == '{') {
        sign_and_verify(data, size);
        return 0;
    }
    verify((const char *) data, size);
    return 0;
}
