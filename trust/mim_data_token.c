/*
 * mim_data_token.c - the data-access token of a DSP transfer: a JWT signed
 * with the gateway's key, typ "mim-dat+jwt" (mim_data_token.h).
 *
 * Verification order: the header (typ), then the signature with the key's
 * one algorithm, then the claims and times.  The signature comes before
 * the claims so that nothing about a forged token's content is reported
 * back: a token that does not verify is "signature does not verify",
 * whatever it says.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "mim_data_token.h"
#include "mim_jwt.h"
#include "mim_trust_int.h"

#define CLAIM_MAX   2048        /* bytes of a string claim (the transfer
                                   record's limit) */
#define SHOWN       80          /* bytes of untrusted text in a message */
#define TTL_MAX     ((int64_t) 1 << 32)
#define NOW_MAX     ((int64_t) 1 << 40)


/* the string claims, in the order they are checked and reported */
static const char *const string_claims[] = {
    "iss", "aud", "sub", "agreement", "transfer", "target", "jti"
};

#define NCLAIMS  (sizeof(string_claims) / sizeof(string_claims[0]))


static int
nonempty(const char *s)
{
    return s != NULL && s[0] != '\0';
}


mim_result_t
mim_data_token_issue(const mim_key_t *key, const char *our_id,
    const mim_data_token_t *t, int64_t now, int64_t ttl, char **token)
{
    json_t *claims;
    mim_result_t r;

    if (token == NULL) {
        return mim_result_err(MIM_ERR_INVALID, "no place for the token");
    }
    *token = NULL;
    if (key == NULL || key->pkey == NULL) {
        return mim_result_err(MIM_ERR_KEY, "no signing key");
    }
    if (!nonempty(our_id) || t == NULL || !nonempty(t->subject)
        || !nonempty(t->agreement) || !nonempty(t->transfer)
        || !nonempty(t->target) || !nonempty(t->jti))
    {
        return mim_result_err(MIM_ERR_INVALID, "issuer, subject, agreement, "
                              "transfer, target and jti are all required");
    }
    if (ttl <= 0 || ttl > TTL_MAX || now < 0 || now > NOW_MAX) {
        return mim_result_err(MIM_ERR_INVALID, "time or lifetime out of "
                              "range");
    }
    claims = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:I, s:I}",
                       "iss", our_id, "aud", our_id, "sub", t->subject,
                       "agreement", t->agreement, "transfer", t->transfer,
                       "target", t->target, "jti", t->jti,
                       "iat", (json_int_t) now,
                       "exp", (json_int_t) (now + ttl));
    if (claims == NULL) {
        return mim_result_err(MIM_ERR_INVALID,
                              "cannot encode the claims (not UTF-8?)");
    }
    r = mim_jwt_sign(key, MIM_DATA_TOKEN_TYP, claims, token, NULL);
    json_decref(claims);
    return r;
}


/* "mim-dat+jwt", or its full media type (RFC 7515 4.1.9); any case */
static int
typ_is_data_token(const char *typ)
{
    return typ != NULL
           && (strcasecmp(typ, MIM_DATA_TOKEN_TYP) == 0
               || strcasecmp(typ, "application/" MIM_DATA_TOKEN_TYP) == 0);
}


/* a required, non-empty string claim without NUL, of bounded length */
static mim_result_t
claim_string(const mim_jwt_t *jwt, const char *name, const char **out)
{
    const json_t *v = json_object_get(jwt->claims, name);

    *out = NULL;
    if (v == NULL) {
        return mim_result_err(MIM_ERR_INVALID, "no %s claim", name);
    }
    if (!json_is_string(v)) {
        return mim_result_err(MIM_ERR_INVALID, "%s is not a string%s", name,
                              json_is_array(v) ? " (an array is refused)"
                                               : "");
    }
    if (json_string_length(v) == 0) {
        return mim_result_err(MIM_ERR_INVALID, "%s is empty", name);
    }
    if (json_string_length(v) > CLAIM_MAX) {
        return mim_result_err(MIM_ERR_LIMIT, "%s is over %d bytes", name,
                              CLAIM_MAX);
    }
    *out = json_string_value(v);
    if (strlen(*out) != json_string_length(v)) {
        *out = NULL;
        return mim_result_err(MIM_ERR_INVALID, "%s has a NUL", name);
    }
    return mim_result_ok();
}


static mim_result_t
check_claims(const mim_jwt_t *jwt, const char *our_id,
    const char *values[NCLAIMS], int64_t *iat, int64_t *exp)
{
    char shown[SHOWN];
    size_t i;
    mim_result_t r;

    for (i = 0; i < NCLAIMS; i++) {
        r = claim_string(jwt, string_claims[i], &values[i]);
        if (!mim_ok(r)) {
            return r;
        }
    }
    /* values[0] is iss, values[1] aud */
    for (i = 0; i < 2; i++) {
        if (strcmp(values[i], our_id) != 0) {
            mim_safe_text(shown, sizeof(shown), values[i],
                          strlen(values[i]));
            return mim_result_err(MIM_ERR_MISMATCH, "%s %s is not us",
                                  string_claims[i], shown);
        }
    }
    if (mim_jwt_integer(jwt, "iat", iat) != 0) {
        return mim_result_err(MIM_ERR_INVALID, "no iat claim, or not an "
                              "integer");
    }
    if (mim_jwt_integer(jwt, "exp", exp) != 0) {
        return mim_result_err(MIM_ERR_INVALID, "no exp claim, or not an "
                              "integer");
    }
    if (*exp <= *iat) {
        return mim_result_err(MIM_ERR_INVALID, "exp is not after iat");
    }
    return mim_result_ok();
}


static char *
dup_claim(const char *s, int *failed)
{
    char *d = strdup(s);

    if (d == NULL) {
        *failed = 1;
    }
    return d;
}


mim_result_t
mim_data_token_verify(const mim_key_t *key, const char *our_id,
    const char *token, size_t len, int64_t now, int64_t leeway,
    mim_data_token_t *out)
{
    const char *v[NCLAIMS];
    int64_t iat = 0, exp = 0;
    int failed = 0;
    mim_jwt_t jwt;
    mim_result_t r;

    if (out == NULL) {
        return mim_result_err(MIM_ERR_INVALID, "no place for the claims");
    }
    memset(out, 0, sizeof(*out));
    if (key == NULL || key->pkey == NULL || !nonempty(our_id)) {
        return mim_result_err(MIM_ERR_KEY, "no token key or issuer "
                              "configured");
    }
    if (token == NULL) {
        return mim_result_err(MIM_ERR_INVALID, "no token");
    }
    r = mim_jwt_parse(&jwt, token, len);
    if (!mim_ok(r)) {
        return r;
    }
    if (!typ_is_data_token(jwt.typ)) {
        r = mim_result_err(MIM_ERR_INVALID, "typ is not " MIM_DATA_TOKEN_TYP);
    }
    /* the key's own alg only: the token cannot pick another */
    if (mim_ok(r)) {
        r = mim_jwt_verify(&jwt, key, mim_alg_bit(key->alg));
    }
    if (mim_ok(r)) {
        r = check_claims(&jwt, our_id, v, &iat, &exp);
    }
    if (mim_ok(r)) {
        r = mim_jwt_check_times(&jwt, now, leeway, 1);
    }
    if (mim_ok(r)) {
        out->issuer = dup_claim(v[0], &failed);
        out->subject = dup_claim(v[2], &failed);
        out->agreement = dup_claim(v[3], &failed);
        out->transfer = dup_claim(v[4], &failed);
        out->target = dup_claim(v[5], &failed);
        out->jti = dup_claim(v[6], &failed);
        out->iat = iat;
        out->exp = exp;
        if (failed) {
            mim_data_token_free(out);
            r = mim_result_err(MIM_ERR_NOMEM, "out of memory");
        }
    }
    mim_jwt_free(&jwt);
    return r;
}


void
mim_data_token_free(mim_data_token_t *t)
{
    if (t == NULL) {
        return;
    }
    free(t->issuer);
    free(t->subject);
    free(t->agreement);
    free(t->transfer);
    free(t->target);
    free(t->jti);
    memset(t, 0, sizeof(*t));
}
