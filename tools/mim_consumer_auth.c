/*
 * mim_consumer_auth.c - the consumer's access token.
 *
 * iSHARE client credentials (DESIGN.md, "Identity and trust"): a client
 * assertion signed with the participant's key - header alg RS256, typ JWT
 * and the x5c chain, nothing else; iss = sub = client_id, aud = the
 * provider's party id, jti fresh, exp = iat + 30 - is exchanged at the
 * provider's token endpoint for a bearer token used on every DSP request.
 *
 * mim_jwt_sign() writes a kid into the header, which an iSHARE token
 * endpoint refuses, so the assertion is signed here.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include "mim_b64.h"
#include "mim_consumer.h"
#include "mim_dsp.h"
#include "mim_ishare.h"

#define MIM_ASSERTION_TYPE \
    "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
#define MIM_TOKEN_ANSWER_MAX  (64UL * 1024)

mim_result_t
mim_consumer_party_of(const char *cert, char **party)
{
    mim_result_t   rc;
    FILE          *f;
    X509          *x;

    *party = NULL;

    f = fopen(cert, "r");
    if (f == NULL) {
        return mim_result_err(MIM_ERR_IO, "cannot open %s", cert);
    }

    x = PEM_read_X509(f, NULL, NULL, NULL);
    fclose(f);
    ERR_clear_error();

    if (x == NULL) {
        return mim_result_err(MIM_ERR_INVALID, "%s: no PEM certificate",
                              cert);
    }

    /* iSHARE: subject serialNumber; eIDAS seals: organizationIdentifier */
    rc = mim_ishare_party_of_cert(x, MIM_PARTY_SERIAL_NUMBER, party);
    if (!mim_ok(rc)) {
        rc = mim_ishare_party_of_cert(x, MIM_PARTY_ORGANIZATION_ID, party);
    }

    X509_free(x);

    if (!mim_ok(rc)) {
        return mim_result_err(rc.code, "%s: no party id in the certificate "
                              "(serialNumber or organizationIdentifier); "
                              "give --client-id", cert);
    }

    return mim_result_ok();
}

/* base64url of a JSON value, compact, members in their order */
static char *
mim_consumer_b64_json(json_t *v)
{
    char    *text, *out;
    size_t   n;

    text = json_dumps(v, JSON_COMPACT | JSON_PRESERVE_ORDER);
    if (text == NULL) {
        return NULL;
    }

    n = strlen(text);
    out = malloc(mim_b64url_len(n) + 1);
    if (out != NULL) {
        out[mim_b64url_encode(out, (const uint8_t *) text, n)] = '\0';
    }

    free(text);
    return out;
}

static mim_result_t
mim_consumer_rs256(const mim_key_t *key, const char *input, uint8_t **sig,
    size_t *sig_len)
{
    EVP_MD_CTX  *ctx;
    int          ok;

    *sig = NULL;
    ctx = EVP_MD_CTX_new();
    ok = ctx != NULL
         && EVP_DigestSignInit(ctx, NULL, EVP_sha256(), NULL, key->pkey) == 1
         && EVP_DigestSign(ctx, NULL, sig_len, (const uint8_t *) input,
                           strlen(input)) == 1
         && (*sig = malloc(*sig_len)) != NULL
         && EVP_DigestSign(ctx, *sig, sig_len, (const uint8_t *) input,
                           strlen(input)) == 1;
    EVP_MD_CTX_free(ctx);
    ERR_clear_error();

    if (!ok) {
        free(*sig);
        *sig = NULL;
        return mim_result_err(MIM_ERR_CRYPTO, "cannot sign the client "
                              "assertion");
    }

    return mim_result_ok();
}

static json_t *
mim_consumer_x5c(const mim_key_t *key)
{
    json_t  *x5c = json_array();
    size_t   i;

    for (i = 0; x5c != NULL && i < key->x5c_n; i++) {
        if (json_array_append_new(x5c, json_string(key->x5c[i])) != 0) {
            json_decref(x5c);
            return NULL;
        }
    }

    return x5c;
}

/* the compact JWS: b64(header) "." b64(claims) "." b64(RS256 signature) */
static mim_result_t
mim_consumer_assertion(const mim_key_t *key, const char *client_id,
    const char *aud, char **jwt)
{
    char            jti[MIM_DSP_UUID_LEN], *h = NULL, *p = NULL, *input;
    uint8_t        *sig = NULL;
    size_t          sig_len = 0, n;
    json_t         *header, *claims;
    mim_result_t    rc;
    json_int_t      now = (json_int_t) time(NULL);

    *jwt = NULL;

    rc = mim_dsp_new_urn_uuid(jti);
    if (!mim_ok(rc)) {
        return rc;
    }

    header = json_pack("{s:s, s:s, s:o}", "alg", "RS256", "typ", "JWT",
                       "x5c", mim_consumer_x5c(key));
    claims = json_pack("{s:s, s:s, s:s, s:s, s:I, s:I}", "iss", client_id,
                       "sub", client_id, "aud", aud, "jti", jti, "iat", now,
                       "exp", now + MIM_ISHARE_ASSERTION_LIFETIME);
    if (header != NULL && claims != NULL) {
        h = mim_consumer_b64_json(header);
        p = mim_consumer_b64_json(claims);
    }

    json_decref(header);
    json_decref(claims);

    input = (h && p) ? mim_sprintf("%s.%s", h, p) : NULL;
    free(h);
    free(p);

    if (input == NULL) {
        return mim_result_err(MIM_ERR_NOMEM, "out of memory");
    }

    rc = mim_consumer_rs256(key, input, &sig, &sig_len);
    if (mim_ok(rc)) {
        n = strlen(input);
        *jwt = malloc(n + 1 + mim_b64url_len(sig_len) + 1);
        if (*jwt == NULL) {
            rc = mim_result_err(MIM_ERR_NOMEM, "out of memory");
        } else {
            memcpy(*jwt, input, n);
            (*jwt)[n++] = '.';
            (*jwt)[n + mim_b64url_encode(*jwt + n, sig, sig_len)] = '\0';
        }
    }

    free(sig);
    free(input);
    return rc;
}

/* application/x-www-form-urlencoded value: all but unreserved escaped */
static char *
mim_consumer_form_escape(const char *s)
{
    static const char   hex[] = "0123456789ABCDEF";
    char               *out, *p;
    unsigned char       ch;

    out = malloc(strlen(s) * 3 + 1);
    if (out == NULL) {
        return NULL;
    }

    for (p = out; *s != '\0'; s++) {
        ch = (unsigned char) *s;
        if ((ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z')
            || (ch >= '0' && ch <= '9') || strchr("-._~", ch) != NULL)
        {
            *p++ = (char) ch;
        } else {
            *p++ = '%';
            *p++ = hex[ch >> 4];
            *p++ = hex[ch & 0x0f];
        }
    }

    *p = '\0';
    return out;
}

static char *
mim_consumer_token_form(const char *client_id, const char *assertion)
{
    char  *id, *jwt, *type, *form = NULL;

    id = mim_consumer_form_escape(client_id);
    jwt = mim_consumer_form_escape(assertion);
    type = mim_consumer_form_escape(MIM_ASSERTION_TYPE);

    if (id != NULL && jwt != NULL && type != NULL) {
        form = mim_sprintf("grant_type=client_credentials&scope=iSHARE"
                           "&client_id=%s&client_assertion_type=%s"
                           "&client_assertion=%s", id, type, jwt);
    }

    free(id);
    free(jwt);
    free(type);
    return form;
}

/* a token goes into a header: visible ASCII only */
static int
mim_consumer_token_ok(const char *t)
{
    if (*t == '\0') {
        return 0;
    }

    for ( /* void */ ; *t != '\0'; t++) {
        if ((unsigned char) *t <= 0x20 || (unsigned char) *t >= 0x7f) {
            return 0;
        }
    }

    return 1;
}

/* the token endpoint's answer: RFC 6749 5.1, or 5.2 on errors */
static mim_result_t
mim_consumer_token_answer(const mim_http_response_t *resp, char **token)
{
    json_t        *doc;
    const char    *v, *type;
    mim_result_t   rc;

    doc = json_loadb((const char *) resp->body, resp->body_len,
                     JSON_REJECT_DUPLICATES, NULL);

    if (resp->status != 200) {
        v = doc ? mim_consumer_str(doc, "error") : NULL;
        type = doc ? mim_consumer_str(doc, "error_description") : NULL;
        rc = mim_result_err(MIM_ERR_UNTRUSTED, "token endpoint: HTTP %d%s%s"
                            "%s%.160s", resp->status, v ? " " : "",
                            v ? v : "", type ? ": " : "", type ? type : "");
        json_decref(doc);
        return rc;
    }

    v = doc ? mim_consumer_str(doc, "access_token") : NULL;
    type = doc ? mim_consumer_str(doc, "token_type") : NULL;

    if (v == NULL || !mim_consumer_token_ok(v)) {
        rc = mim_result_err(MIM_ERR_INVALID, "token endpoint: the answer "
                            "has no usable access_token");
    } else if (type == NULL || strcasecmp(type, "Bearer") != 0) {
        rc = mim_result_err(MIM_ERR_UNSUPPORTED, "token endpoint: "
                            "token_type is %.40s, not Bearer",
                            type ? type : "missing");
    } else {
        *token = strdup(v);
        rc = *token ? mim_result_ok()
                    : mim_result_err(MIM_ERR_NOMEM, "out of memory");
    }

    json_decref(doc);
    return rc;
}

static mim_result_t
mim_consumer_fetch_token(mim_consumer_t *c, const char *url,
    const char *assertion)
{
    mim_http_response_t   resp;
    mim_result_t          rc;
    char                 *form;

    form = mim_consumer_token_form(c->party, assertion);
    if (form == NULL) {
        return mim_result_err(MIM_ERR_NOMEM, "out of memory");
    }

    rc = mim_consumer_http(&c->http, "POST", url, NULL,
                           "application/x-www-form-urlencoded", form,
                           strlen(form), NULL, 0, MIM_TOKEN_ANSWER_MAX,
                           &resp);
    free(form);

    if (!mim_ok(rc)) {
        return mim_result_err(rc.code, "token endpoint: %s", rc.msg);
    }

    rc = mim_consumer_token_answer(&resp, &c->bearer);
    mim_http_response_free(&resp);
    return rc;
}

static mim_result_t
mim_consumer_ishare(mim_consumer_t *c)
{
    mim_key_t      key;
    mim_result_t   rc;
    char          *url, *assertion = NULL;

    memset(&key, 0, sizeof(key));

    rc = mim_key_load_private(&key, c->key, "RS256");
    if (!mim_ok(rc)) {
        return mim_result_err(rc.code, "%s: %s (iSHARE client assertions "
                              "are RS256: an RSA key)", c->key, rc.msg);
    }

    rc = mim_key_load_cert_chain(&key, c->cert);
    if (!mim_ok(rc)) {
        mim_key_free(&key);
        return mim_result_err(rc.code, "%s: %s", c->cert, rc.msg);
    }

    rc = mim_consumer_assertion(&key, c->party, c->provider_id, &assertion);
    mim_key_free(&key);
    if (!mim_ok(rc)) {
        return rc;
    }

    url = c->token_url ? strdup(c->token_url)
                       : mim_sprintf("%s/connect/token", c->origin);
    if (url == NULL) {
        free(assertion);
        return mim_result_err(MIM_ERR_NOMEM, "out of memory");
    }

    rc = mim_consumer_fetch_token(c, url, assertion);
    if (mim_ok(rc)) {
        mim_consumer_progress("token: iSHARE access token for %s from %s",
                              c->party, url);
    }

    free(url);
    free(assertion);
    return rc;
}

mim_result_t
mim_consumer_authenticate(mim_consumer_t *c)
{
    mim_result_t  rc = mim_result_ok();

    if (c->client_id != NULL) {
        c->party = strdup(c->client_id);
    } else if (c->cert != NULL) {
        rc = mim_consumer_party_of(c->cert, &c->party);
    }

    if (!mim_ok(rc)) {
        return rc;
    }

    if (c->token != NULL) {
        if (!mim_consumer_token_ok(c->token)) {
            return mim_result_err(MIM_ERR_INVALID, "--token: not a bearer "
                                  "token (spaces or control characters)");
        }

        c->bearer = strdup(c->token);
        return c->bearer ? mim_result_ok()
                         : mim_result_err(MIM_ERR_NOMEM, "out of memory");
    }

    if (c->cert == NULL) {
        /* a provider without authorization */
        return mim_result_ok();
    }

    if (c->party == NULL) {
        return mim_result_err(MIM_ERR_NOMEM, "out of memory");
    }

    return mim_consumer_ishare(c);
}
