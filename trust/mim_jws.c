/*
 * mim_jws.c - detached JWS over response bodies (RFC 7515 Appendix F),
 * Content-Digest (RFC 9530), request binding.
 *
 * The signer runs once per response: it streams the body through the
 * digest and base64url without holding it (except for EdDSA, which has no
 * pre-hashed form in JOSE).  The verifier is strict: the key (or the
 * certificate chain) decides the algorithm, the header only has to agree.
 */
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

#include "mim_b64.h"
#include "mim_json.h"
#include "mim_jws.h"
#include "mim_trust_int.h"

#define JWS_HEADER_MAX     (16 * 1024)     /* decoded protected header */
#define JWS_SIG_B64_MAX    4096            /* RSA-16384 needs 2731 */
#define SIG_MAX            2048            /* RSA-16384 signature bytes */
#define SIGNER_HEADER_MAX  (64 * 1024)
#define STREAM_CHUNK       6144            /* raw bytes per b64 round */
#define STREAM_BUF         (mim_b64url_len(STREAM_CHUNK + 2))
#define DIGEST_VALUE_MAX   8192

static int
alg_is_pss(mim_alg_t alg)
{
    return alg == MIM_ALG_PS256 || alg == MIM_ALG_PS384
           || alg == MIM_ALG_PS512;
}

/* ---- protected header ---- */

/*
 * A JSON string: bytes that are not UTF-8 are written as \u00XX (their
 * Latin-1 reading) so that the header stays valid JSON for every parser.
 */
static void
header_str(mim_json_buf_t *jb, const char *s, size_t n)
{
    mim_json_str(jb, s, n, MIM_JSON_ESC_LATIN1);
}

mim_result_t
mim_jws_protected_header(char *dst, size_t cap, size_t *len,
    const mim_key_t *key, const mim_jws_binding_t *b)
{
    mim_json_buf_t jb;
    const char *alg = mim_alg_name(key->alg);
    size_t i;

    if (len != NULL) {
        *len = 0;
    }
    if (cap == 0) {
        return mim_result_err(MIM_ERR_LIMIT, "no room for the header");
    }
    dst[0] = '\0';
    mim_json_buf_init(&jb, dst, cap);
    if (alg == NULL || key->pkey == NULL) {
        return mim_result_err(MIM_ERR_KEY, "the key has no algorithm");
    }
    mim_json_lit(&jb, "{\"alg\":");
    header_str(&jb, alg, strlen(alg));
    mim_json_lit(&jb, ",\"kid\":");
    header_str(&jb, key->kid, strlen(key->kid));
    if (key->x5c_n > 0) {
        mim_json_lit(&jb, ",\"x5c\":[");
        for (i = 0; i < key->x5c_n; i++) {
            if (i > 0) {
                mim_json_lit(&jb, ",");
            }
            header_str(&jb, key->x5c[i], strlen(key->x5c[i]));
        }
        mim_json_lit(&jb, "]");
    }
    mim_json_lit(&jb, ",\"iat\":");
    mim_json_int(&jb, b->iat);
    mim_json_lit(&jb, ",\"htm\":");
    header_str(&jb, b->htm ? b->htm : "", b->htm ? b->htm_len : 0);
    mim_json_lit(&jb, ",\"htu\":");
    header_str(&jb, b->htu ? b->htu : "", b->htu ? b->htu_len : 0);
    mim_json_lit(&jb, ",\"status\":");
    mim_json_int(&jb, b->status);
    mim_json_lit(&jb, "}");
    if (jb.full) {
        dst[0] = '\0';
        return mim_result_err(MIM_ERR_LIMIT,
                              "protected header longer than %zu bytes",
                              cap - 1);
    }
    dst[jb.len] = '\0';
    if (len != NULL) {
        *len = jb.len;
    }
    return mim_result_ok();
}

/* ---- signatures ---- */

int
mim_md_ctx_init(EVP_MD_CTX *ctx, EVP_PKEY *pkey, mim_alg_t alg, int verify)
{
    EVP_PKEY_CTX *pctx = NULL;
    const EVP_MD *md = mim_alg_md(alg);
    int ok;

    if (md == NULL && alg != MIM_ALG_EDDSA) {
        return 0;
    }
    ok = verify ? EVP_DigestVerifyInit(ctx, &pctx, md, NULL, pkey)
                : EVP_DigestSignInit(ctx, &pctx, md, NULL, pkey);
    if (ok != 1) {
        return 0;
    }
    if (alg_is_pss(alg)) {
        /* RFC 7518 3.5: MGF1 with the same hash, salt as long as it */
        return EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) > 0
            && EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx,
                                                RSA_PSS_SALTLEN_DIGEST) > 0
            && EVP_PKEY_CTX_set_rsa_mgf1_md(pctx, md) > 0;
    }
    if (alg != MIM_ALG_ES256 && alg != MIM_ALG_EDDSA) {
        return EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PADDING) > 0;
    }
    return 1;
}

int
mim_ecdsa_der_to_raw(const uint8_t *der, size_t len, uint8_t raw[64])
{
    const unsigned char *p = der;
    const BIGNUM *r, *s;
    ECDSA_SIG *sig;
    int ok;

    sig = d2i_ECDSA_SIG(NULL, &p, (long) len);
    if (sig == NULL) {
        return 0;
    }
    ECDSA_SIG_get0(sig, &r, &s);
    ok = BN_bn2binpad(r, raw, 32) == 32 && BN_bn2binpad(s, raw + 32, 32) == 32;
    ECDSA_SIG_free(sig);
    return ok;
}

int
mim_ecdsa_raw_to_der(const uint8_t raw[64], uint8_t **der, size_t *len)
{
    ECDSA_SIG *sig = ECDSA_SIG_new();
    BIGNUM *r = BN_bin2bn(raw, 32, NULL), *s = BN_bin2bn(raw + 32, 32, NULL);
    int n;

    *der = NULL;
    if (sig == NULL || r == NULL || s == NULL || !ECDSA_SIG_set0(sig, r, s)) {
        ECDSA_SIG_free(sig);
        BN_free(r);
        BN_free(s);
        return 0;
    }
    n = i2d_ECDSA_SIG(sig, der);
    ECDSA_SIG_free(sig);
    if (n <= 0) {
        return 0;
    }
    *len = (size_t) n;
    return 1;
}

/* ---- the streaming body signer ---- */

struct mim_body_signer_s {
    EVP_PKEY             *pkey;         /* a reference of our own */
    mim_alg_t             alg;
    EVP_MD_CTX           *sign;         /* not EdDSA */
    EVP_MD_CTX           *sha;          /* SHA-256 of the raw body */
    mim_b64url_stream_t   b64;
    char                 *input;        /* EdDSA: the whole signing input */
    size_t                input_len;
    size_t                input_cap;
    char                 *header_b64;
    size_t                header_b64_len;
    int                   done;         /* finished or failed */
};

static mim_result_t
signer_fail(mim_body_signer_t *s, const char *what)
{
    s->done = 1;
    ERR_clear_error();
    return mim_result_err(MIM_ERR_CRYPTO, "signing failed: %s", what);
}

/* EdDSA: make room for more bytes of signing input, doubling */
static int
signer_reserve(mim_body_signer_t *s, size_t more)
{
    size_t want, cap;
    char *grown;

    if (more > SIZE_MAX / 2 - s->input_len) {
        return 0;
    }
    want = s->input_len + more;
    if (want <= s->input_cap) {
        return 1;
    }
    cap = s->input_cap ? s->input_cap : 1024;
    while (cap < want) {
        cap *= 2;
    }
    grown = realloc(s->input, cap);
    if (grown == NULL) {
        return 0;
    }
    s->input = grown;
    s->input_cap = cap;
    return 1;
}

/* feed text of the signing input to the signature */
static int
signer_feed(mim_body_signer_t *s, const char *text, size_t n)
{
    if (s->alg == MIM_ALG_EDDSA) {
        if (!signer_reserve(s, n)) {
            return 0;
        }
        memcpy(s->input + s->input_len, text, n);
        s->input_len += n;
        return 1;
    }
    return EVP_DigestSignUpdate(s->sign, text, n) == 1;
}

mim_result_t
mim_body_signer_new(mim_body_signer_t **signer, const mim_key_t *key,
    const char *protected_json, size_t len)
{
    mim_body_signer_t *s;

    *signer = NULL;
    if (key == NULL || key->pkey == NULL || mim_alg_name(key->alg) == NULL) {
        return mim_result_err(MIM_ERR_KEY, "no signing key");
    }
    if (len > SIGNER_HEADER_MAX) {
        return mim_result_err(MIM_ERR_LIMIT,
                              "protected header longer than %d bytes",
                              SIGNER_HEADER_MAX);
    }
    s = calloc(1, sizeof(*s));
    if (s == NULL) {
        return mim_result_err(MIM_ERR_NOMEM, "out of memory");
    }
    s->alg = key->alg;
    s->pkey = key->pkey;
    EVP_PKEY_up_ref(s->pkey);
    mim_b64url_stream_init(&s->b64);
    s->header_b64 = malloc(mim_b64url_len(len) + 1);
    s->sha = EVP_MD_CTX_new();
    if (s->header_b64 == NULL || s->sha == NULL) {
        mim_body_signer_free(s);
        return mim_result_err(MIM_ERR_NOMEM, "out of memory");
    }
    s->header_b64_len = mim_b64url_encode(s->header_b64,
                                          (const uint8_t *) protected_json,
                                          len);
    s->header_b64[s->header_b64_len] = '\0';
    if (EVP_DigestInit_ex(s->sha, mim_md_sha256(), NULL) != 1) {
        mim_body_signer_free(s);
        ERR_clear_error();
        return mim_result_err(MIM_ERR_CRYPTO, "cannot start SHA-256");
    }
    if (s->alg != MIM_ALG_EDDSA) {
        s->sign = EVP_MD_CTX_new();
        if (s->sign == NULL
            || !(key->sign_template != NULL
                 ? EVP_MD_CTX_copy_ex(s->sign, key->sign_template) == 1
                 : mim_md_ctx_init(s->sign, s->pkey, s->alg, 0)))
        {
            mim_body_signer_free(s);
            ERR_clear_error();
            return mim_result_err(MIM_ERR_CRYPTO, "cannot start signing");
        }
    }
    if (!signer_feed(s, s->header_b64, s->header_b64_len)
        || !signer_feed(s, ".", 1))
    {
        mim_body_signer_free(s);
        ERR_clear_error();
        return mim_result_err(MIM_ERR_CRYPTO, "cannot start signing");
    }
    *signer = s;
    return mim_result_ok();
}

mim_result_t
mim_body_signer_update(mim_body_signer_t *s, const uint8_t *data, size_t n)
{
    char buf[STREAM_BUF];
    size_t chunk, out;

    if (s == NULL || s->done) {
        return mim_result_err(MIM_ERR_INVALID,
                              "signer already finished or failed");
    }
    if (n == 0) {
        return mim_result_ok();
    }
    if (EVP_DigestUpdate(s->sha, data, n) != 1) {
        return signer_fail(s, "SHA-256");
    }
    if (s->alg == MIM_ALG_EDDSA) {
        /* encode straight into the held signing input */
        if (n > SIZE_MAX / 2 || !signer_reserve(s, mim_b64url_len(n + 2))) {
            s->done = 1;
            return mim_result_err(MIM_ERR_NOMEM, "out of memory");
        }
        s->input_len += mim_b64url_stream_update(&s->b64,
                                                 s->input + s->input_len,
                                                 data, n);
        return mim_result_ok();
    }
    while (n > 0) {
        chunk = n < STREAM_CHUNK ? n : STREAM_CHUNK;
        out = mim_b64url_stream_update(&s->b64, buf, data, chunk);
        if (out > 0 && EVP_DigestSignUpdate(s->sign, buf, out) != 1) {
            return signer_fail(s, "update");
        }
        data += chunk;
        n -= chunk;
    }
    return mim_result_ok();
}

static void
format_digest(char *dst, const uint8_t hash[32])
{
    size_t n;

    memcpy(dst, "sha-256=:", 9);
    n = 9 + mim_b64_encode(dst + 9, hash, 32);
    dst[n++] = ':';
    dst[n] = '\0';
}

/* the signature over the whole signing input, in JOSE form */
static int
signer_signature(mim_body_signer_t *s, uint8_t *sig, size_t *sig_len)
{
    uint8_t der[SIG_MAX];
    size_t der_len = sizeof(der);
    EVP_MD_CTX *ctx;
    int ok;

    if (s->alg == MIM_ALG_EDDSA) {
        ctx = EVP_MD_CTX_new();
        *sig_len = SIG_MAX;
        ok = ctx != NULL && mim_md_ctx_init(ctx, s->pkey, s->alg, 0)
             && EVP_DigestSign(ctx, sig, sig_len,
                               (const uint8_t *) s->input, s->input_len) == 1;
        EVP_MD_CTX_free(ctx);
        return ok;
    }
    if (EVP_DigestSignFinal(s->sign, NULL, &der_len) != 1
        || der_len > sizeof(der)
        || EVP_DigestSignFinal(s->sign, der, &der_len) != 1)
    {
        return 0;
    }
    if (s->alg == MIM_ALG_ES256) {
        *sig_len = 64;
        return mim_ecdsa_der_to_raw(der, der_len, sig);
    }
    memcpy(sig, der, der_len);
    *sig_len = der_len;
    return 1;
}

mim_result_t
mim_body_signer_final(mim_body_signer_t *s, char *digest, char **jws,
    size_t *jws_len)
{
    char tail[4];
    uint8_t hash[32], sig[SIG_MAX];
    unsigned int hash_len = 0;
    size_t sig_len = 0, n;
    char *out;

    *jws = NULL;
    if (jws_len != NULL) {
        *jws_len = 0;
    }
    if (s == NULL || s->done) {
        return mim_result_err(MIM_ERR_INVALID,
                              "signer already finished or failed");
    }
    s->done = 1;
    n = mim_b64url_stream_final(&s->b64, tail);
    if (n > 0 && !signer_feed(s, tail, n)) {
        return signer_fail(s, "update");
    }
    if (EVP_DigestFinal_ex(s->sha, hash, &hash_len) != 1 || hash_len != 32) {
        return signer_fail(s, "SHA-256");
    }
    if (!signer_signature(s, sig, &sig_len)) {
        return signer_fail(s, "signature");
    }
    out = malloc(s->header_b64_len + 2 + mim_b64url_len(sig_len) + 1);
    if (out == NULL) {
        return mim_result_err(MIM_ERR_NOMEM, "out of memory");
    }
    memcpy(out, s->header_b64, s->header_b64_len);
    n = s->header_b64_len;
    out[n++] = '.';
    out[n++] = '.';
    n += mim_b64url_encode(out + n, sig, sig_len);
    out[n] = '\0';
    format_digest(digest, hash);
    *jws = out;
    if (jws_len != NULL) {
        *jws_len = n;
    }
    return mim_result_ok();
}

void
mim_body_signer_free(mim_body_signer_t *s)
{
    if (s == NULL) {
        return;
    }
    EVP_MD_CTX_free(s->sign);
    EVP_MD_CTX_free(s->sha);
    EVP_PKEY_free(s->pkey);
    free(s->input);
    free(s->header_b64);
    free(s);
}

/* ---- Content-Digest ---- */

void
mim_content_digest(char *dst, const uint8_t *body, size_t n)
{
    uint8_t hash[32];

    /* a failure leaves a digest that matches nothing: fail closed */
    if (!EVP_Digest(body, n, hash, NULL, mim_md_sha256(), NULL)) {
        memset(hash, 0, sizeof(hash));
        ERR_clear_error();
    }
    format_digest(dst, hash);
}

/*
 * A small RFC 8941 dictionary reader: enough to find one byte-sequence
 * member and to step over any other well-formed member.
 */
typedef struct {
    const char  *p;
    const char  *end;
} sf_t;

static int
sf_is(sf_t *c, char ch)
{
    return c->p < c->end && *c->p == ch;
}

static void
sf_skip(sf_t *c, int tabs)
{
    while (c->p < c->end && (*c->p == ' ' || (tabs && *c->p == '\t'))) {
        c->p++;
    }
}

static int
is_lcalpha(char ch)
{
    return ch >= 'a' && ch <= 'z';
}

static int
is_digit(char ch)
{
    return ch >= '0' && ch <= '9';
}

static int
is_alpha(char ch)
{
    return is_lcalpha(ch) || (ch >= 'A' && ch <= 'Z');
}

static int
sf_key(sf_t *c, const char **key, size_t *len)
{
    const char *start = c->p;

    if (!(sf_is(c, '*') || (c->p < c->end && is_lcalpha(*c->p)))) {
        return 0;
    }
    while (c->p < c->end && (is_lcalpha(*c->p) || is_digit(*c->p)
                             || (*c->p != '\0'
                                 && strchr("_-.*", *c->p) != NULL)))
    {
        c->p++;
    }
    *key = start;
    *len = (size_t) (c->p - start);
    return 1;
}

static int
is_tchar_or(char ch, const char *more)
{
    return is_alpha(ch) || is_digit(ch)
           || (ch != '\0' && strchr("!#$%&'*+-.^_`|~", ch) != NULL)
           || (ch != '\0' && strchr(more, ch) != NULL);
}

/* a bare item; bytes and len are set when it is a byte sequence */
static int
sf_item(sf_t *c, const char **bytes, size_t *len)
{
    const char *start;

    *bytes = NULL;
    if (c->p >= c->end) {
        return 0;
    }
    if (*c->p == ':') {
        start = ++c->p;
        while (c->p < c->end && *c->p != ':') {
            if (!is_alpha(*c->p) && !is_digit(*c->p)
                && *c->p != '+' && *c->p != '/' && *c->p != '=')
            {
                return 0;
            }
            c->p++;
        }
        if (c->p >= c->end) {
            return 0;
        }
        *bytes = start;
        *len = (size_t) (c->p++ - start);
        return 1;
    }
    if (*c->p == '%') {         /* display string (RFC 9651) */
        c->p++;
        if (!sf_is(c, '"')) {
            return 0;
        }
    }
    if (*c->p == '"') {
        for (c->p++; c->p < c->end && *c->p != '"'; c->p++) {
            if (*c->p == '\\') {
                c->p++;
                if (!sf_is(c, '"') && !sf_is(c, '\\')) {
                    return 0;
                }
            } else if (*c->p < 0x20 || *c->p == 0x7f) {
                return 0;
            }
        }
        if (c->p >= c->end) {
            return 0;
        }
        c->p++;
        return 1;
    }
    if (*c->p == '?') {
        c->p++;
        if (!sf_is(c, '0') && !sf_is(c, '1')) {
            return 0;
        }
        c->p++;
        return 1;
    }
    if (*c->p == '-' || *c->p == '@' || is_digit(*c->p)) {
        start = c->p;
        if (*c->p == '@') {
            c->p++;
        }
        if (sf_is(c, '-')) {
            c->p++;
        }
        if (c->p >= c->end || !is_digit(*c->p)) {
            return 0;
        }
        while (c->p < c->end && (is_digit(*c->p) || *c->p == '.')) {
            c->p++;
        }
        return c->p - start <= 20;
    }
    if (*c->p == '*' || is_alpha(*c->p)) {
        for (c->p++; c->p < c->end && is_tchar_or(*c->p, ":/"); c->p++) {
        }
        return 1;
    }
    return 0;
}

static int
sf_params(sf_t *c)
{
    const char *key, *bytes;
    size_t len;

    while (sf_is(c, ';')) {
        c->p++;
        sf_skip(c, 0);
        if (!sf_key(c, &key, &len)) {
            return 0;
        }
        if (sf_is(c, '=')) {
            c->p++;
            if (!sf_item(c, &bytes, &len)) {
                return 0;
            }
        }
    }
    return 1;
}

/* an item or inner list with its parameters */
static int
sf_member_value(sf_t *c, const char **bytes, size_t *len)
{
    const char *ignored;
    size_t ignored_len;

    *bytes = NULL;
    if (sf_is(c, '(')) {
        c->p++;
        for (;;) {
            sf_skip(c, 0);
            if (sf_is(c, ')')) {
                c->p++;
                break;
            }
            if (!sf_item(c, &ignored, &ignored_len) || !sf_params(c)) {
                return 0;
            }
            if (!sf_is(c, ' ') && !sf_is(c, ')')) {
                return 0;
            }
        }
        return sf_params(c);
    }
    return sf_item(c, bytes, len) && sf_params(c);
}

mim_result_t
mim_content_digest_check(const char *value, size_t len, const uint8_t *body,
    size_t n)
{
    sf_t c = { value, value + len };
    const char *key, *bytes, *sha = NULL;
    size_t key_len, bytes_len, sha_len = 0, want_len;
    uint8_t want[mim_b64_decoded_max(44)], hash[32];
    int member = 0;

    if (len > DIGEST_VALUE_MAX) {
        return mim_result_err(MIM_ERR_LIMIT,
                              "Content-Digest longer than %d bytes",
                              DIGEST_VALUE_MAX);
    }
    sf_skip(&c, 0);
    while (c.p < c.end) {
        if (!sf_key(&c, &key, &key_len)) {
            return mim_result_err(MIM_ERR_INVALID,
                                  "Content-Digest: bad key at member %d",
                                  member + 1);
        }
        bytes = NULL;
        if (sf_is(&c, '=')) {
            c.p++;
            if (!sf_member_value(&c, &bytes, &bytes_len)) {
                return mim_result_err(MIM_ERR_INVALID,
                                      "Content-Digest: bad value at member %d",
                                      member + 1);
            }
        } else if (!sf_params(&c)) {
            return mim_result_err(MIM_ERR_INVALID,
                                  "Content-Digest: bad parameters at member "
                                  "%d", member + 1);
        }
        if (key_len == 7 && memcmp(key, "sha-256", 7) == 0) {
            if (sha != NULL) {
                return mim_result_err(MIM_ERR_INVALID,
                                      "Content-Digest: sha-256 given twice");
            }
            if (bytes == NULL) {
                return mim_result_err(MIM_ERR_INVALID,
                    "Content-Digest: sha-256 is not a byte sequence");
            }
            sha = bytes;
            sha_len = bytes_len;
        }
        member++;
        sf_skip(&c, 1);
        if (c.p == c.end) {
            break;
        }
        if (*c.p != ',') {
            return mim_result_err(MIM_ERR_INVALID,
                                  "Content-Digest: expected ',' after member "
                                  "%d", member);
        }
        c.p++;
        sf_skip(&c, 1);
        if (c.p == c.end) {
            return mim_result_err(MIM_ERR_INVALID,
                                  "Content-Digest: trailing ','");
        }
    }
    if (sha == NULL) {
        return mim_result_err(member ? MIM_ERR_UNSUPPORTED : MIM_ERR_INVALID,
                              "Content-Digest has no sha-256 member");
    }
    if (sha_len != 44 || mim_b64_decode(want, &want_len, sha, sha_len) != 0
        || want_len != 32)
    {
        return mim_result_err(MIM_ERR_INVALID,
                              "Content-Digest sha-256 is not 32 bytes in "
                              "base64");
    }
    if (!EVP_Digest(body, n, hash, NULL, mim_md_sha256(), NULL)) {
        ERR_clear_error();
        return mim_result_err(MIM_ERR_CRYPTO, "cannot compute SHA-256");
    }
    if (CRYPTO_memcmp(hash, want, 32) != 0) {
        return mim_result_err(MIM_ERR_DIGEST,
                              "Content-Digest sha-256 does not match the body");
    }
    return mim_result_ok();
}

/* ---- verification ---- */

static void
info_init(mim_jws_info_t *info)
{
    memset(info, 0, sizeof(*info));
    info->alg = MIM_ALG_NONE;
    info->iat = -1;
    info->status = -1;
}

/* copy a JSON string member into a fixed field, or fail */
static mim_result_t
header_string(const json_t *hdr, const char *name, char *dst, size_t cap,
    const char **value)
{
    const json_t *v = json_object_get(hdr, name);
    size_t len;

    if (value != NULL) {
        *value = NULL;
    }
    if (v == NULL) {
        return mim_result_ok();
    }
    if (!json_is_string(v)) {
        return mim_result_err(MIM_ERR_INVALID, "header %s is not a string",
                              name);
    }
    len = json_string_length(v);
    if (len >= cap) {
        return mim_result_err(MIM_ERR_LIMIT,
                              "header %s longer than %zu bytes", name,
                              cap - 1);
    }
    memcpy(dst, json_string_value(v), len);
    dst[len] = '\0';
    if (value != NULL) {
        *value = json_string_value(v);
    }
    return mim_result_ok();
}

static mim_result_t
header_integer(const json_t *hdr, const char *name, long long min,
    long long max, long long *out)
{
    const json_t *v = json_object_get(hdr, name);
    json_int_t i;

    if (v == NULL) {
        return mim_result_ok();
    }
    if (!json_is_integer(v)) {
        return mim_result_err(MIM_ERR_INVALID, "header %s is not an integer",
                              name);
    }
    i = json_integer_value(v);
    if (i < min || i > max) {
        return mim_result_err(MIM_ERR_INVALID, "header %s out of range",
                              name);
    }
    *out = i;
    return mim_result_ok();
}

/* Read what the header says into info; refuse what we never accept. */
static mim_result_t
header_read(const json_t *hdr, mim_jws_info_t *info, const char **kid)
{
    static const char *const refused[] = { "jku", "x5u", "jwk" };
    const json_t *alg = json_object_get(hdr, "alg"), *x5c;
    char shown[40];
    mim_result_t r;
    long long iat = -1, status = -1;
    size_t i;

    if (!json_is_string(alg)) {
        return mim_result_err(MIM_ERR_INVALID, alg ? "header alg is not a "
                              "string" : "no alg in the protected header");
    }
    info->alg = mim_alg_from_name(json_string_value(alg),
                                  json_string_length(alg));
    if (info->alg == MIM_ALG_NONE) {
        mim_safe_text(shown, sizeof(shown), json_string_value(alg),
                      json_string_length(alg));
        return mim_result_err(MIM_ERR_UNSUPPORTED, "alg %s not accepted",
                              shown);
    }
    for (i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
        if (json_object_get(hdr, refused[i]) != NULL) {
            return mim_result_err(MIM_ERR_UNSUPPORTED,
                                  "header %s not accepted", refused[i]);
        }
    }
    if (json_object_get(hdr, "crit") != NULL) {
        return mim_result_err(MIM_ERR_UNSUPPORTED, "crit not supported");
    }
    if (json_object_get(hdr, "b64") != NULL) {
        return mim_result_err(MIM_ERR_UNSUPPORTED,
                              "b64 header (RFC 7797) not supported");
    }
    x5c = json_object_get(hdr, "x5c");
    if (x5c != NULL) {
        if (!json_is_array(x5c) || json_array_size(x5c) == 0) {
            return mim_result_err(MIM_ERR_INVALID,
                                  "header x5c is not a non-empty array");
        }
        if (json_array_size(x5c) > MIM_X5C_MAX) {
            return mim_result_err(MIM_ERR_LIMIT,
                                  "more than %d certificates in x5c",
                                  MIM_X5C_MAX);
        }
        for (i = 0; i < json_array_size(x5c); i++) {
            if (!json_is_string(json_array_get(x5c, i))) {
                return mim_result_err(MIM_ERR_INVALID,
                                      "header x5c entry is not a string");
            }
        }
        info->x5c_n = json_array_size(x5c);
    }
    r = header_string(hdr, "kid", info->kid, sizeof(info->kid), kid);
    if (mim_ok(r)) {
        r = header_string(hdr, "htm", info->htm, sizeof(info->htm), NULL);
    }
    if (mim_ok(r)) {
        r = header_string(hdr, "htu", info->htu, sizeof(info->htu), NULL);
    }
    if (mim_ok(r)) {
        r = header_integer(hdr, "iat", 0, LONG_MAX, &iat);
    }
    if (mim_ok(r)) {
        r = header_integer(hdr, "status", 0, 999, &status);
    }
    info->iat = (long) iat;
    info->status = (int) status;
    return r;
}

static void
leaf_subject(const char *b64, char *dst, size_t cap)
{
    X509 *cert = NULL;
    BIO *bio;
    char *text;
    long len;

    dst[0] = '\0';
    if (!mim_ok(mim_x5c_decode(b64, strlen(b64), &cert))) {
        return;
    }
    bio = BIO_new(BIO_s_mem());
    if (bio != NULL
        && X509_NAME_print_ex(bio, X509_get_subject_name(cert), 0,
                              XN_FLAG_RFC2253) >= 0)
    {
        len = BIO_get_mem_data(bio, &text);
        mim_safe_text(dst, cap, text, len > 0 ? (size_t) len : 0);
    }
    BIO_free(bio);
    X509_free(cert);
    ERR_clear_error();
}

/* the key of a verified x5c chain, into the caller's key */
static mim_result_t
key_from_x5c(const json_t *hdr, const mim_jws_trust_t *trust,
    mim_jws_info_t *info, mim_key_t *key)
{
    const json_t *x5c = json_object_get(hdr, "x5c");
    const char *certs[MIM_X5C_MAX];
    EVP_PKEY *leaf;
    mim_result_t r;
    size_t i;

    if (x5c == NULL) {
        return mim_result_err(MIM_ERR_UNTRUSTED,
                              "no x5c in the protected header (trust anchors "
                              "are configured)");
    }
    for (i = 0; i < info->x5c_n; i++) {
        certs[i] = json_string_value(json_array_get(x5c, i));
    }
    r = mim_x5c_verify(certs, info->x5c_n, trust->store, trust->now, &leaf);
    if (!mim_ok(r)) {
        return r;
    }
    /* the certificate does not pin an RSA algorithm: any RS / PS */
    r = mim_key_set_pkey(key, leaf, NULL, 0);
    if (!mim_ok(r)) {
        EVP_PKEY_free(leaf);
        memset(key, 0, sizeof(*key));
        return mim_result_err(r.code, "leaf certificate key: %s", r.msg);
    }
    leaf_subject(certs[0], info->signer, sizeof(info->signer));
    return mim_result_ok();
}

static mim_result_t
key_from_set(const mim_keyset_t *set, const char *kid, mim_jws_info_t *info,
    const mim_key_t **key)
{
    char shown[64];

    if (kid != NULL) {
        *key = mim_keyset_find(set, kid);
        if (*key == NULL) {
            mim_safe_text(shown, sizeof(shown), kid, strlen(kid));
            return mim_result_err(MIM_ERR_NOT_FOUND, "unknown kid %s", shown);
        }
    } else if (set->n == 1) {
        *key = &set->keys[0];
    } else if (set->n == 0) {
        return mim_result_err(MIM_ERR_NOT_FOUND,
                              "no verification key (the key set is empty)");
    } else {
        return mim_result_err(MIM_ERR_NOT_FOUND,
                              "no kid in the protected header and %zu keys "
                              "to choose from", set->n);
    }
    snprintf(info->signer, sizeof(info->signer), "kid ");
    mim_safe_text(info->signer + 4, sizeof(info->signer) - 4,
                  (*key)->jwk_kid ? (*key)->jwk_kid : (*key)->kid,
                  strlen((*key)->jwk_kid ? (*key)->jwk_kid : (*key)->kid));
    return mim_result_ok();
}

/* EdDSA: the whole signing input in one buffer */
static char *
signing_input(const char *hdr_b64, size_t hlen, const uint8_t *payload,
    size_t plen, size_t *len)
{
    char *in;

    if (plen > (SIZE_MAX - hlen - 2) / 4 * 3 - 3) {
        return NULL;
    }
    in = malloc(hlen + 1 + mim_b64url_len(plen) + 1);
    if (in == NULL) {
        return NULL;
    }
    memcpy(in, hdr_b64, hlen);
    in[hlen] = '.';
    *len = hlen + 1 + mim_b64url_encode(in + hlen + 1, payload, plen);
    return in;
}

static mim_result_t
verify_signature(EVP_PKEY *pkey, mim_alg_t alg, const char *hdr_b64,
    size_t hlen, const uint8_t *payload, size_t plen, const uint8_t *sig,
    size_t sig_len)
{
    EVP_MD_CTX *ctx = NULL;
    mim_b64url_stream_t b64;
    char buf[STREAM_BUF], *input = NULL;
    uint8_t *der = NULL;
    size_t der_len = 0, chunk, out, in_len = 0;
    int rc = 0;

    if ((alg == MIM_ALG_ES256 || alg == MIM_ALG_EDDSA) && sig_len != 64) {
        return mim_result_err(MIM_ERR_SIGNATURE,
                              "%s signature of %zu bytes (64 expected)",
                              mim_alg_name(alg), sig_len);
    }
    if (alg == MIM_ALG_ES256 && !mim_ecdsa_raw_to_der(sig, &der, &der_len)) {
        ERR_clear_error();
        return mim_result_err(MIM_ERR_CRYPTO, "cannot encode the signature");
    }
    ctx = EVP_MD_CTX_new();
    if (ctx == NULL || !mim_md_ctx_init(ctx, pkey, alg, 1)) {
        EVP_MD_CTX_free(ctx);
        OPENSSL_free(der);
        ERR_clear_error();
        return mim_result_err(MIM_ERR_CRYPTO, "cannot start verification");
    }
    if (alg == MIM_ALG_EDDSA) {
        input = signing_input(hdr_b64, hlen, payload, plen, &in_len);
        rc = input != NULL
             && EVP_DigestVerify(ctx, sig, sig_len, (uint8_t *) input,
                                 in_len) == 1;
        free(input);
    } else {
        rc = EVP_DigestVerifyUpdate(ctx, hdr_b64, hlen) == 1
             && EVP_DigestVerifyUpdate(ctx, ".", 1) == 1;
        mim_b64url_stream_init(&b64);
        while (rc && plen > 0) {
            chunk = plen < STREAM_CHUNK ? plen : STREAM_CHUNK;
            out = mim_b64url_stream_update(&b64, buf, payload, chunk);
            rc = EVP_DigestVerifyUpdate(ctx, buf, out) == 1;
            payload += chunk;
            plen -= chunk;
        }
        out = mim_b64url_stream_final(&b64, buf);
        rc = rc && EVP_DigestVerifyUpdate(ctx, buf, out) == 1
             && EVP_DigestVerifyFinal(ctx, der ? der : sig,
                                      der ? der_len : sig_len) == 1;
    }
    EVP_MD_CTX_free(ctx);
    OPENSSL_free(der);
    ERR_clear_error();
    if (!rc) {
        return mim_result_err(MIM_ERR_SIGNATURE, "signature does not verify");
    }
    return mim_result_ok();
}

/* split "<header>..<signature>" */
static mim_result_t
jws_split(const char *jws, size_t len, size_t *hlen, const char **sig,
    size_t *sig_len)
{
    const char *dot = jws ? memchr(jws, '.', len) : NULL;

    if (dot == NULL) {
        return mim_result_err(MIM_ERR_INVALID, "not a compact JWS (no '.')");
    }
    *hlen = (size_t) (dot - jws);
    if (*hlen + 1 >= len || jws[*hlen + 1] != '.') {
        return mim_result_err(MIM_ERR_INVALID,
                              "payload part is not empty (not a detached "
                              "JWS)");
    }
    *sig = jws + *hlen + 2;
    *sig_len = len - *hlen - 2;
    if (memchr(*sig, '.', *sig_len) != NULL) {
        return mim_result_err(MIM_ERR_INVALID, "more than two '.' in the JWS");
    }
    if (*hlen == 0 || *sig_len == 0) {
        return mim_result_err(MIM_ERR_INVALID,
                              "empty protected header or signature");
    }
    if (*hlen > mim_b64url_len(JWS_HEADER_MAX)) {
        return mim_result_err(MIM_ERR_LIMIT,
                              "protected header longer than %d bytes",
                              JWS_HEADER_MAX);
    }
    if (*sig_len > JWS_SIG_B64_MAX) {
        return mim_result_err(MIM_ERR_LIMIT, "signature longer than %d chars",
                              JWS_SIG_B64_MAX);
    }
    return mim_result_ok();
}

static mim_result_t
header_parse(const char *b64, size_t len, json_t **hdr)
{
    uint8_t *raw;
    size_t raw_len;
    json_error_t jerr;

    *hdr = NULL;
    raw = malloc(mim_b64_decoded_max(len));
    if (raw == NULL) {
        return mim_result_err(MIM_ERR_NOMEM, "out of memory");
    }
    if (mim_b64url_decode(raw, &raw_len, b64, len) != 0) {
        free(raw);
        return mim_result_err(MIM_ERR_INVALID,
                              "protected header is not base64url");
    }
    *hdr = json_loadb((const char *) raw, raw_len, JSON_REJECT_DUPLICATES,
                      &jerr);
    free(raw);
    if (*hdr == NULL) {
        return mim_result_err(MIM_ERR_INVALID,
                              "protected header is not JSON: %s", jerr.text);
    }
    if (!json_is_object(*hdr)) {
        json_decref(*hdr);
        *hdr = NULL;
        return mim_result_err(MIM_ERR_INVALID,
                              "protected header is not a JSON object");
    }
    return mim_result_ok();
}

static const char *
key_algs(const mim_key_t *key)
{
    return key->alg_pinned ? mim_alg_name(key->alg) : "RS* or PS*";
}

mim_result_t
mim_jws_verify_detached(const char *jws, size_t jws_len,
    const uint8_t *payload, size_t payload_len,
    const mim_jws_trust_t *trust, mim_jws_info_t *info)
{
    mim_jws_info_t scratch;
    mim_key_t chain_key;
    const mim_key_t *key = NULL;
    const char *sig_b64 = NULL, *kid = NULL;
    size_t hlen = 0, sig_b64_len = 0, sig_len = 0;
    uint8_t sig[mim_b64_decoded_max(JWS_SIG_B64_MAX)];
    json_t *hdr = NULL;
    mim_result_t r;

    if (info == NULL) {
        info = &scratch;
    }
    info_init(info);
    memset(&chain_key, 0, sizeof(chain_key));
    r = jws_split(jws, jws_len, &hlen, &sig_b64, &sig_b64_len);
    if (mim_ok(r)) {
        r = header_parse(jws, hlen, &hdr);
    }
    if (mim_ok(r)) {
        r = header_read(hdr, info, &kid);
    }
    if (!mim_ok(r)) {
        goto done;
    }
    if (trust != NULL && trust->store != NULL) {
        r = key_from_x5c(hdr, trust, info, &chain_key);
        key = &chain_key;
    } else if (trust != NULL && trust->keys != NULL) {
        r = key_from_set(trust->keys, kid, info, &key);
    } else {
        r = mim_result_err(MIM_ERR_KEY, "no verification key configured");
    }
    if (!mim_ok(r)) {
        goto done;
    }
    if (!mim_key_accepts_alg(key, info->alg)) {
        r = mim_result_err(MIM_ERR_MISMATCH,
                           "alg %s does not fit the key (%s)",
                           mim_alg_name(info->alg), key_algs(key));
        goto done;
    }
    if (mim_b64url_decode(sig, &sig_len, sig_b64, sig_b64_len) != 0) {
        r = mim_result_err(MIM_ERR_INVALID, "signature is not base64url");
        goto done;
    }
    r = verify_signature(key->pkey, info->alg, jws, hlen, payload,
                         payload_len, sig, sig_len);

done:
    json_decref(hdr);
    mim_key_free(&chain_key);
    return r;
}

/* ---- request binding ---- */

typedef struct {
    const char  *scheme;
    size_t       scheme_len;
    const char  *host;
    size_t       host_len;
    const char  *port;          /* digits, leading zeros cut; may be "" */
    size_t       port_len;
    const char  *rest;          /* path and query */
    size_t       rest_len;
} url_t;

static int
ascii_caseeq(const char *a, const char *b, size_t n)
{
    size_t i;
    unsigned char x, y;

    for (i = 0; i < n; i++) {
        x = (unsigned char) a[i];
        y = (unsigned char) b[i];
        if (x >= 'A' && x <= 'Z') {
            x += 'a' - 'A';
        }
        if (y >= 'A' && y <= 'Z') {
            y += 'a' - 'A';
        }
        if (x != y) {
            return 0;
        }
    }
    return 1;
}

static int
url_split(const char *s, size_t n, url_t *u)
{
    size_t i = 0, auth, end, colon;

    while (i < n && (is_alpha(s[i])
                     || (i > 0 && (is_digit(s[i]) || s[i] == '+'
                                   || s[i] == '-' || s[i] == '.'))))
    {
        i++;
    }
    if (i == 0 || n - i < 3 || memcmp(s + i, "://", 3) != 0) {
        return 0;
    }
    u->scheme = s;
    u->scheme_len = i;
    auth = i + 3;
    for (end = auth; end < n && s[end] != '/' && s[end] != '?'
                     && s[end] != '#'; end++)
    {
        if (s[end] == '@') {
            return 0;           /* userinfo has no place in htu */
        }
    }
    /* the port colon is the last one, unless inside an IPv6 literal */
    colon = end;
    for (i = end; i > auth; i--) {
        if (s[i - 1] == ']') {
            break;
        }
        if (s[i - 1] == ':') {
            colon = i - 1;
            break;
        }
    }
    u->host = s + auth;
    u->host_len = colon - auth;
    if (u->host_len == 0) {
        return 0;
    }
    u->port = s + end;
    u->port_len = 0;
    if (colon < end) {
        for (i = colon + 1; i < end; i++) {
            if (!is_digit(s[i])) {
                return 0;
            }
        }
        for (i = colon + 1; i + 1 < end && s[i] == '0'; i++) {
        }
        u->port = s + i;
        u->port_len = end - i;
    }
    u->rest = s + end;
    u->rest_len = n - end;
    return 1;
}

/* the port as compared: "" when it is the scheme's default */
static void
url_port(url_t *u)
{
    int http = u->scheme_len == 4 && ascii_caseeq(u->scheme, "http", 4);
    int https = u->scheme_len == 5 && ascii_caseeq(u->scheme, "https", 5);

    if ((http && u->port_len == 2 && memcmp(u->port, "80", 2) == 0)
        || (https && u->port_len == 3 && memcmp(u->port, "443", 3) == 0))
    {
        u->port_len = 0;
    }
}

/*
 * path and query byte for byte, an empty path being "/" (RFC 9110 4.2.3);
 * a rest that does not start with '/' is empty or starts with '?' or '#'
 */
static int
rest_equal(const char *a, size_t alen, const char *b, size_t blen)
{
    int a_rooted = alen > 0 && a[0] == '/';
    int b_rooted = blen > 0 && b[0] == '/';

    if (a_rooted && !b_rooted) {
        return blen == alen - 1 && memcmp(a + 1, b, blen) == 0;
    }
    if (b_rooted && !a_rooted) {
        return alen == blen - 1 && memcmp(b + 1, a, alen) == 0;
    }
    return alen == blen && memcmp(a, b, alen) == 0;
}

int
mim_htu_equal(const char *a, size_t alen, const char *b, size_t blen)
{
    url_t ua, ub;

    if (a == NULL || b == NULL) {
        return 0;
    }
    if (!url_split(a, alen, &ua) || !url_split(b, blen, &ub)) {
        return alen == blen && memcmp(a, b, alen) == 0;
    }
    url_port(&ua);
    url_port(&ub);
    return ua.scheme_len == ub.scheme_len
           && ascii_caseeq(ua.scheme, ub.scheme, ua.scheme_len)
           && ua.host_len == ub.host_len
           && ascii_caseeq(ua.host, ub.host, ua.host_len)
           && ua.port_len == ub.port_len
           && memcmp(ua.port, ub.port, ua.port_len) == 0
           && rest_equal(ua.rest, ua.rest_len, ub.rest, ub.rest_len);
}
