/*
 * mim_key.c - signing and verification keys, JWK and RFC 7638 thumbprints,
 * x5c chains.
 *
 * Every key is checked when it is made (type, curve, size) and carries the
 * one JWS algorithm it may be used with, so that verification never lets a
 * token header choose.
 */
#define _GNU_SOURCE     /* memmem */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/decoder.h>
#include <openssl/err.h>
#include <openssl/param_build.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "mim_b64.h"
#include "mim_key.h"
#include "mim_trust_int.h"

#define PEM_MAX           (1024 * 1024)   /* a key or chain file */
#define JWKS_MAX          (1024 * 1024)
#define JWKS_KEYS_MAX     256
#define JWK_KID_MAX       1024
#define X5C_ENTRY_MAX     (64 * 1024)     /* base64 chars of one cert */
#define RSA_MIN_BITS      2048
#define RSA_MAX_BITS      16384           /* OpenSSL's own verify limit */
#define RSA_E_MAX_BYTES   8

/* ---- algorithms ---- */

static const struct {
    const char  *name;
    mim_alg_t    alg;
} alg_table[] = {
    { "ES256", MIM_ALG_ES256 },
    { "RS256", MIM_ALG_RS256 },
    { "RS384", MIM_ALG_RS384 },
    { "RS512", MIM_ALG_RS512 },
    { "PS256", MIM_ALG_PS256 },
    { "PS384", MIM_ALG_PS384 },
    { "PS512", MIM_ALG_PS512 },
    { "EdDSA", MIM_ALG_EDDSA },
};

const char *
mim_alg_name(mim_alg_t alg)
{
    size_t i;

    for (i = 0; i < sizeof(alg_table) / sizeof(alg_table[0]); i++) {
        if (alg_table[i].alg == alg) {
            return alg_table[i].name;
        }
    }
    return NULL;
}

mim_alg_t
mim_alg_from_name(const char *name, size_t len)
{
    size_t i;

    if (name == NULL) {
        return MIM_ALG_NONE;
    }
    for (i = 0; i < sizeof(alg_table) / sizeof(alg_table[0]); i++) {
        if (strlen(alg_table[i].name) == len
            && memcmp(alg_table[i].name, name, len) == 0)
        {
            return alg_table[i].alg;
        }
    }
    return MIM_ALG_NONE;
}

static int
alg_is_rsa(mim_alg_t alg)
{
    return alg >= MIM_ALG_RS256 && alg <= MIM_ALG_PS512;
}

/* ---- digests fetched once ---- */

static EVP_MD *md_cache[3];

static const EVP_MD *
md_cached(size_t slot, const char *name)
{
    EVP_MD *md, *expected = NULL;

    md = __atomic_load_n(&md_cache[slot], __ATOMIC_ACQUIRE);
    if (md != NULL) {
        return md;
    }
    md = EVP_MD_fetch(NULL, name, NULL);
    if (md == NULL) {
        return NULL;
    }
    /* another thread may have won the race: keep its copy */
    if (!__atomic_compare_exchange_n(&md_cache[slot], &expected, md, 0,
                                     __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
    {
        EVP_MD_free(md);
        return expected;
    }
    return md;
}

const EVP_MD *
mim_md_sha256(void)
{
    return md_cached(0, "SHA256");
}

const EVP_MD *
mim_alg_md(mim_alg_t alg)
{
    switch (alg) {
    case MIM_ALG_ES256:
    case MIM_ALG_RS256:
    case MIM_ALG_PS256:
        return md_cached(0, "SHA256");
    case MIM_ALG_RS384:
    case MIM_ALG_PS384:
        return md_cached(1, "SHA384");
    case MIM_ALG_RS512:
    case MIM_ALG_PS512:
        return md_cached(2, "SHA512");
    default:
        return NULL;
    }
}

/* ---- small helpers ---- */

void
mim_safe_text(char *dst, size_t cap, const char *src, size_t n)
{
    size_t i;

    if (cap == 0) {
        return;
    }
    if (n > cap - 1) {
        n = cap - 1;
    }
    for (i = 0; i < n; i++) {
        unsigned char c = (unsigned char) src[i];
        dst[i] = (c >= 0x20 && c < 0x7f) ? (char) c : '?';
    }
    dst[n] = '\0';
}

mim_result_t
mim_read_file(const char *path, size_t max, char **buf, size_t *len)
{
    FILE *f;
    char *data = NULL, *grown;
    size_t cap = 0, used = 0, got;
    int saved;

    *buf = NULL;
    *len = 0;
    f = fopen(path, "rb");
    if (f == NULL) {
        return mim_result_err(MIM_ERR_IO, "cannot open: %s", strerror(errno));
    }
    for (;;) {
        if (used == cap) {
            if (cap > max) {
                break;
            }
            cap = cap ? cap * 2 : 4096;
            grown = realloc(data, cap + 1);
            if (grown == NULL) {
                free(data);
                fclose(f);
                return mim_result_err(MIM_ERR_NOMEM, "out of memory");
            }
            data = grown;
        }
        got = fread(data + used, 1, cap - used, f);
        used += got;
        if (got == 0) {
            break;
        }
    }
    if (ferror(f)) {
        saved = errno;
        free(data);
        fclose(f);
        return mim_result_err(MIM_ERR_IO, "cannot read: %s", strerror(saved));
    }
    fclose(f);
    if (used > max) {
        OPENSSL_cleanse(data, used);
        free(data);
        return mim_result_err(MIM_ERR_LIMIT, "file larger than %zu bytes",
                              max);
    }
    data[used] = '\0';
    *buf = data;
    *len = used;
    return mim_result_ok();
}

static char *
b64url_dup(const uint8_t *src, size_t n)
{
    char *s = malloc(mim_b64url_len(n) + 1);

    if (s != NULL) {
        s[mim_b64url_encode(s, src, n)] = '\0';
    }
    return s;
}

/* ---- key kinds and algorithms ---- */

typedef enum {
    KIND_EC_P256 = 1,
    KIND_RSA,
    KIND_ED25519
} key_kind_t;

/* what a key is, for the JWK encodings we support (any RSA size) */
static mim_result_t
pkey_kind(EVP_PKEY *pkey, key_kind_t *kind)
{
    char group[80];
    size_t glen = 0;
    const char *type;

    if (EVP_PKEY_is_a(pkey, "RSA")) {
        *kind = KIND_RSA;
        return mim_result_ok();
    }
    if (EVP_PKEY_is_a(pkey, "ED25519")) {
        *kind = KIND_ED25519;
        return mim_result_ok();
    }
    if (EVP_PKEY_is_a(pkey, "EC")) {
        if (!EVP_PKEY_get_utf8_string_param(pkey, OSSL_PKEY_PARAM_GROUP_NAME,
                                            group, sizeof(group), &glen))
        {
            ERR_clear_error();
            return mim_result_err(MIM_ERR_UNSUPPORTED,
                "EC key without a named curve not supported (P-256 only)");
        }
        if (strcmp(group, "prime256v1") != 0 && strcmp(group, "P-256") != 0) {
            return mim_result_err(MIM_ERR_UNSUPPORTED,
                "EC curve %s not supported (P-256 only)", group);
        }
        *kind = KIND_EC_P256;
        return mim_result_ok();
    }
    type = EVP_PKEY_get0_type_name(pkey);
    return mim_result_err(MIM_ERR_UNSUPPORTED, "unsupported key type %s",
                          type ? type : "(unknown)");
}

static const char *
kind_label(key_kind_t kind)
{
    switch (kind) {
    case KIND_EC_P256: return "an EC P-256 key (ES256 only)";
    case KIND_ED25519: return "an Ed25519 key (EdDSA only)";
    default:           return "an RSA key (RS256..RS512, PS256..PS512)";
    }
}

static int
alg_fits_kind(mim_alg_t alg, key_kind_t kind)
{
    switch (kind) {
    case KIND_EC_P256: return alg == MIM_ALG_ES256;
    case KIND_ED25519: return alg == MIM_ALG_EDDSA;
    default:           return alg_is_rsa(alg);
    }
}

static mim_result_t
choose_alg(key_kind_t kind, const char *alg_name, int pin_rsa,
    mim_alg_t *alg, int *pinned)
{
    char shown[32];

    if (alg_name == NULL) {
        *pinned = 1;
        switch (kind) {
        case KIND_EC_P256: *alg = MIM_ALG_ES256; break;
        case KIND_ED25519: *alg = MIM_ALG_EDDSA; break;
        default:
            *alg = MIM_ALG_PS256;
            *pinned = pin_rsa;
        }
        return mim_result_ok();
    }
    *alg = mim_alg_from_name(alg_name, strlen(alg_name));
    if (*alg == MIM_ALG_NONE) {
        mim_safe_text(shown, sizeof(shown), alg_name, strlen(alg_name));
        return mim_result_err(MIM_ERR_UNSUPPORTED, "unsupported alg %s",
                              shown);
    }
    if (!alg_fits_kind(*alg, kind)) {
        return mim_result_err(MIM_ERR_MISMATCH, "alg %s does not fit %s",
                              alg_name, kind_label(kind));
    }
    *pinned = 1;
    return mim_result_ok();
}

mim_result_t
mim_key_set_pkey(mim_key_t *key, EVP_PKEY *pkey, const char *alg_name,
    int pin_rsa)
{
    mim_result_t r;
    key_kind_t kind;
    int bits;

    r = pkey_kind(pkey, &kind);
    if (!mim_ok(r)) {
        return r;
    }
    if (kind == KIND_RSA) {
        bits = EVP_PKEY_get_bits(pkey);
        if (bits < RSA_MIN_BITS) {
            return mim_result_err(MIM_ERR_KEY,
                "RSA key of %d bits is too small (minimum %d)", bits,
                RSA_MIN_BITS);
        }
        if (bits > RSA_MAX_BITS) {
            return mim_result_err(MIM_ERR_UNSUPPORTED,
                "RSA key of %d bits is too large (maximum %d)", bits,
                RSA_MAX_BITS);
        }
    }
    r = choose_alg(kind, alg_name, pin_rsa, &key->alg, &key->alg_pinned);
    if (!mim_ok(r)) {
        return r;
    }
    r = mim_key_thumbprint(pkey, key->kid);
    if (!mim_ok(r)) {
        return r;
    }
    key->pkey = pkey;
    return mim_result_ok();
}

/* ---- public members, thumbprint ---- */

typedef struct {
    key_kind_t  kind;
    char       *x;      /* EC, OKP */
    char       *y;      /* EC */
    char       *n;      /* RSA */
    char       *e;      /* RSA */
} jwk_parts_t;

static void
jwk_parts_free(jwk_parts_t *p)
{
    free(p->x);
    free(p->y);
    free(p->n);
    free(p->e);
    memset(p, 0, sizeof(*p));
}

/* a BIGNUM parameter, big-endian, padded to pad bytes (0: minimal) */
static char *
bn_param_b64url(EVP_PKEY *pkey, const char *name, size_t pad)
{
    BIGNUM *bn = NULL;
    uint8_t *buf;
    size_t len;
    char *s = NULL;

    if (!EVP_PKEY_get_bn_param(pkey, name, &bn)) {
        return NULL;
    }
    len = (size_t) BN_num_bytes(bn);
    if (pad != 0) {
        if (len > pad) {
            BN_free(bn);
            return NULL;
        }
        len = pad;
    }
    buf = malloc(len ? len : 1);
    if (buf != NULL && BN_bn2binpad(bn, buf, (int) len) == (int) len) {
        s = b64url_dup(buf, len);
    }
    free(buf);
    BN_free(bn);
    return s;
}

static mim_result_t
jwk_parts_get(EVP_PKEY *pkey, jwk_parts_t *p)
{
    uint8_t raw[32];
    size_t raw_len = sizeof(raw);
    mim_result_t r;
    int ok;

    memset(p, 0, sizeof(*p));
    r = pkey_kind(pkey, &p->kind);
    if (!mim_ok(r)) {
        return r;
    }
    switch (p->kind) {
    case KIND_EC_P256:
        p->x = bn_param_b64url(pkey, OSSL_PKEY_PARAM_EC_PUB_X, 32);
        p->y = bn_param_b64url(pkey, OSSL_PKEY_PARAM_EC_PUB_Y, 32);
        ok = p->x != NULL && p->y != NULL;
        break;
    case KIND_RSA:
        p->n = bn_param_b64url(pkey, OSSL_PKEY_PARAM_RSA_N, 0);
        p->e = bn_param_b64url(pkey, OSSL_PKEY_PARAM_RSA_E, 0);
        ok = p->n != NULL && p->e != NULL;
        break;
    default:
        ok = EVP_PKEY_get_raw_public_key(pkey, raw, &raw_len)
             && raw_len == sizeof(raw)
             && (p->x = b64url_dup(raw, raw_len)) != NULL;
    }
    if (!ok) {
        ERR_clear_error();
        jwk_parts_free(p);
        return mim_result_err(MIM_ERR_CRYPTO,
                              "cannot read the public key's parameters");
    }
    return mim_result_ok();
}

mim_result_t
mim_key_thumbprint(EVP_PKEY *pkey, char out[MIM_KID_LEN + 1])
{
    jwk_parts_t p;
    mim_result_t r;
    char *json;
    size_t cap;
    int len;
    uint8_t hash[32];
    unsigned int hash_len = 0;

    r = jwk_parts_get(pkey, &p);
    if (!mim_ok(r)) {
        return r;
    }
    /* RFC 7638 3.2: required members only, lexicographic order, no space */
    cap = 64 + strlen(p.x ? p.x : "") + strlen(p.y ? p.y : "")
          + strlen(p.n ? p.n : "") + strlen(p.e ? p.e : "");
    json = malloc(cap);
    if (json == NULL) {
        jwk_parts_free(&p);
        return mim_result_err(MIM_ERR_NOMEM, "out of memory");
    }
    switch (p.kind) {
    case KIND_EC_P256:
        len = snprintf(json, cap,
                       "{\"crv\":\"P-256\",\"kty\":\"EC\",\"x\":\"%s\","
                       "\"y\":\"%s\"}", p.x, p.y);
        break;
    case KIND_RSA:
        len = snprintf(json, cap, "{\"e\":\"%s\",\"kty\":\"RSA\",\"n\":\"%s\"}",
                       p.e, p.n);
        break;
    default:
        len = snprintf(json, cap,
                       "{\"crv\":\"Ed25519\",\"kty\":\"OKP\",\"x\":\"%s\"}",
                       p.x);
    }
    jwk_parts_free(&p);
    if (len < 0 || (size_t) len >= cap
        || !EVP_Digest(json, (size_t) len, hash, &hash_len, mim_md_sha256(),
                       NULL)
        || hash_len != sizeof(hash))
    {
        free(json);
        ERR_clear_error();
        return mim_result_err(MIM_ERR_CRYPTO, "cannot hash the public key");
    }
    free(json);
    out[mim_b64url_encode(out, hash, sizeof(hash))] = '\0';
    return mim_result_ok();
}

/* ---- PEM ---- */

static int
refuse_password(char *buf, int size, int rwflag, void *asked)
{
    *(int *) asked = 1;
    return -1;
}

static EVP_PKEY *
pem_public_key(const char *pem, size_t len)
{
    OSSL_DECODER_CTX *dctx;
    EVP_PKEY *pkey = NULL;
    X509 *cert;
    BIO *bio;

    bio = BIO_new_mem_buf(pem, (int) len);
    if (bio == NULL) {
        return NULL;
    }
    /* any public key PEM: SubjectPublicKeyInfo, PKCS#1 RSA */
    dctx = OSSL_DECODER_CTX_new_for_pkey(&pkey, "PEM", NULL, NULL,
                                         EVP_PKEY_PUBLIC_KEY, NULL, NULL);
    if (dctx != NULL) {
        if (!OSSL_DECODER_from_bio(dctx, bio)) {
            pkey = NULL;
        }
        OSSL_DECODER_CTX_free(dctx);
    }
    BIO_free(bio);
    if (pkey != NULL) {
        return pkey;
    }
    /* or the public key of a certificate */
    bio = BIO_new_mem_buf(pem, (int) len);
    if (bio == NULL) {
        return NULL;
    }
    cert = PEM_read_bio_X509(bio, NULL, NULL, NULL);
    BIO_free(bio);
    if (cert != NULL) {
        pkey = X509_get_pubkey(cert);
        X509_free(cert);
    }
    return pkey;
}

/*
 * A verification context prepared once for a pinned key: a copy costs far
 * less than an init in OpenSSL 3 (see sign_template).  Best effort: without
 * it each verification makes its own context.
 */
static void
prepare_verify(mim_key_t *key)
{
    if (!key->alg_pinned || key->alg == MIM_ALG_EDDSA
        || key->verify_template != NULL)
    {
        return;
    }
    key->verify_template = EVP_MD_CTX_new();
    if (key->verify_template != NULL
        && !mim_md_ctx_init(key->verify_template, key->pkey, key->alg, 1))
    {
        EVP_MD_CTX_free(key->verify_template);
        key->verify_template = NULL;
    }
    ERR_clear_error();
}

mim_result_t
mim_key_from_pem(mim_key_t *key, const char *pem, size_t len,
    const char *alg_name, int is_private)
{
    EVP_PKEY *pkey;
    BIO *bio;
    mim_result_t r;
    int asked = 0;

    memset(key, 0, sizeof(*key));
    if (len > PEM_MAX) {
        return mim_result_err(MIM_ERR_LIMIT, "PEM larger than %d bytes",
                              PEM_MAX);
    }
    if (is_private) {
        bio = BIO_new_mem_buf(pem, (int) len);
        if (bio == NULL) {
            return mim_result_err(MIM_ERR_NOMEM, "out of memory");
        }
        pkey = PEM_read_bio_PrivateKey(bio, NULL, refuse_password, &asked);
        BIO_free(bio);
    } else {
        pkey = pem_public_key(pem, len);
    }
    ERR_clear_error();
    if (pkey == NULL) {
        if (asked || (is_private && memmem(pem, len, "ENCRYPTED", 9))) {
            return mim_result_err(MIM_ERR_UNSUPPORTED,
                "encrypted private keys are not supported (decrypt it with "
                "openssl pkey)");
        }
        return mim_result_err(MIM_ERR_INVALID, is_private
                              ? "no PEM private key found"
                              : "no PEM public key or certificate found");
    }
    r = mim_key_set_pkey(key, pkey, alg_name, is_private);
    if (!mim_ok(r)) {
        EVP_PKEY_free(pkey);
        memset(key, 0, sizeof(*key));
        return r;
    }
    if (is_private && key->alg != MIM_ALG_EDDSA) {
        key->sign_template = EVP_MD_CTX_new();
        if (key->sign_template == NULL
            || !mim_md_ctx_init(key->sign_template, key->pkey, key->alg, 0))
        {
            ERR_clear_error();
            mim_key_free(key);
            return mim_result_err(MIM_ERR_CRYPTO,
                                  "cannot prepare the key for signing");
        }
    }
    prepare_verify(key);
    return r;
}

mim_result_t
mim_key_load_private(mim_key_t *key, const char *path, const char *alg_name)
{
    mim_result_t r;
    char *pem;
    size_t len;

    memset(key, 0, sizeof(*key));
    r = mim_read_file(path, PEM_MAX, &pem, &len);
    if (!mim_ok(r)) {
        return r;
    }
    r = mim_key_from_pem(key, pem, len, alg_name, 1);
    OPENSSL_cleanse(pem, len);
    free(pem);
    return r;
}

static void
free_strings(char **v, size_t n)
{
    size_t i;

    if (v == NULL) {
        return;
    }
    for (i = 0; i < n; i++) {
        free(v[i]);
    }
    free(v);
}

/* standard base64 DER of a certificate, malloc()ed */
static char *
cert_to_b64(X509 *cert)
{
    unsigned char *der = NULL;
    char *s;
    int len;

    len = i2d_X509(cert, &der);
    if (len <= 0) {
        return NULL;
    }
    s = malloc(mim_b64_len((size_t) len) + 1);
    if (s != NULL) {
        s[mim_b64_encode(s, der, (size_t) len)] = '\0';
    }
    OPENSSL_free(der);
    return s;
}

/* PEM_read_bio_X509 ran out of certificates (rather than met a bad one) */
static int
pem_at_end(void)
{
    unsigned long e = ERR_peek_last_error();

    ERR_clear_error();
    return e == 0 || (ERR_GET_LIB(e) == ERR_LIB_PEM
                      && ERR_GET_REASON(e) == PEM_R_NO_START_LINE);
}

mim_result_t
mim_key_load_cert_chain(mim_key_t *key, const char *path)
{
    mim_result_t r;
    char *pem, **x5c = NULL;
    size_t len, n = 0;
    BIO *bio;
    X509 *cert;
    int leaf_matches = 0;

    if (key->pkey == NULL) {
        return mim_result_err(MIM_ERR_KEY, "no key to attach the chain to");
    }
    r = mim_read_file(path, PEM_MAX, &pem, &len);
    if (!mim_ok(r)) {
        return r;
    }
    bio = BIO_new_mem_buf(pem, (int) len);
    x5c = calloc(MIM_X5C_MAX, sizeof(char *));
    if (bio == NULL || x5c == NULL) {
        r = mim_result_err(MIM_ERR_NOMEM, "out of memory");
        goto done;
    }
    while ((cert = PEM_read_bio_X509(bio, NULL, NULL, NULL)) != NULL) {
        if (n == MIM_X5C_MAX) {
            X509_free(cert);
            r = mim_result_err(MIM_ERR_LIMIT,
                               "more than %d certificates in the chain",
                               MIM_X5C_MAX);
            goto done;
        }
        if (n == 0) {
            leaf_matches = EVP_PKEY_eq(X509_get0_pubkey(cert), key->pkey) == 1;
        }
        x5c[n] = cert_to_b64(cert);
        X509_free(cert);
        if (x5c[n++] == NULL) {
            r = mim_result_err(MIM_ERR_CRYPTO, "cannot encode certificate");
            goto done;
        }
    }
    if (!pem_at_end()) {
        r = mim_result_err(MIM_ERR_INVALID, "certificate %zu is not valid PEM",
                           n + 1);
        goto done;
    }
    if (n == 0) {
        r = mim_result_err(MIM_ERR_INVALID, "no PEM certificate found");
        goto done;
    }
    if (!leaf_matches) {
        r = mim_result_err(MIM_ERR_MISMATCH,
                           "the first certificate is not for this key");
        goto done;
    }
    free_strings(key->x5c, key->x5c_n);
    key->x5c = x5c;
    key->x5c_n = n;
    x5c = NULL;
    r = mim_result_ok();

done:
    ERR_clear_error();
    free_strings(x5c, n);
    BIO_free(bio);
    free(pem);
    return r;
}

/* ---- JWK ---- */

json_t *
mim_key_to_jwk(const mim_key_t *key)
{
    jwk_parts_t p;
    json_t *jwk, *chain;
    const char *alg;
    size_t i;
    int fail = 0;

    if (key == NULL || key->pkey == NULL
        || !mim_ok(jwk_parts_get(key->pkey, &p)))
    {
        return NULL;
    }
    jwk = json_object();
    if (jwk == NULL) {
        jwk_parts_free(&p);
        return NULL;
    }
#define SET(name, value) \
    fail |= json_object_set_new(jwk, name, value) != 0
    switch (p.kind) {
    case KIND_EC_P256:
        SET("kty", json_string("EC"));
        SET("crv", json_string("P-256"));
        SET("x", json_string(p.x));
        SET("y", json_string(p.y));
        break;
    case KIND_RSA:
        SET("kty", json_string("RSA"));
        SET("n", json_string(p.n));
        SET("e", json_string(p.e));
        break;
    default:
        SET("kty", json_string("OKP"));
        SET("crv", json_string("Ed25519"));
        SET("x", json_string(p.x));
    }
    SET("kid", json_string(key->jwk_kid ? key->jwk_kid : key->kid));
    SET("use", json_string("sig"));
    alg = mim_alg_name(key->alg);
    if (key->alg_pinned && alg != NULL) {
        SET("alg", json_string(alg));
    }
    if (key->x5c_n > 0) {
        chain = json_array();
        for (i = 0; chain != NULL && i < key->x5c_n; i++) {
            fail |= json_array_append_new(chain, json_string(key->x5c[i]));
        }
        SET("x5c", chain);
    }
#undef SET
    jwk_parts_free(&p);
    if (fail) {
        json_decref(jwk);
        return NULL;
    }
    return jwk;
}

/* a string member; *s is NULL when absent and not required */
static mim_result_t
jwk_string(const json_t *jwk, const char *name, int required,
    const char **s, size_t *len)
{
    const json_t *v = json_object_get(jwk, name);

    *s = NULL;
    *len = 0;
    if (v == NULL) {
        return required
               ? mim_result_err(MIM_ERR_INVALID, "JWK without \"%s\"", name)
               : mim_result_ok();
    }
    if (!json_is_string(v)) {
        return mim_result_err(MIM_ERR_INVALID, "JWK \"%s\" is not a string",
                              name);
    }
    *s = json_string_value(v);
    *len = json_string_length(v);
    return mim_result_ok();
}

/* a required base64url member of at most cap bytes */
static mim_result_t
jwk_b64url(const json_t *jwk, const char *name, uint8_t *buf, size_t cap,
    size_t *len)
{
    mim_result_t r;
    const char *s;
    size_t n;

    r = jwk_string(jwk, name, 1, &s, &n);
    if (!mim_ok(r)) {
        return r;
    }
    if (n > mim_b64url_len(cap)) {
        return mim_result_err(MIM_ERR_INVALID, "JWK \"%s\" is too long", name);
    }
    if (mim_b64url_decode(buf, len, s, n) != 0) {
        return mim_result_err(MIM_ERR_INVALID, "JWK \"%s\" is not base64url",
                              name);
    }
    return mim_result_ok();
}

static int
string_is(const char *s, size_t len, const char *want)
{
    return s != NULL && strlen(want) == len && memcmp(s, want, len) == 0;
}

static mim_result_t
pkey_from_fromdata(const char *type, OSSL_PARAM *params, EVP_PKEY **pkey)
{
    EVP_PKEY_CTX *ctx;
    int ok;

    *pkey = NULL;
    ctx = EVP_PKEY_CTX_new_from_name(NULL, type, NULL);
    ok = ctx != NULL && EVP_PKEY_fromdata_init(ctx) == 1
         && EVP_PKEY_fromdata(ctx, pkey, EVP_PKEY_PUBLIC_KEY, params) == 1;
    EVP_PKEY_CTX_free(ctx);
    ERR_clear_error();
    if (!ok) {
        EVP_PKEY_free(*pkey);
        *pkey = NULL;
        return mim_result_err(MIM_ERR_INVALID, "JWK is not a valid %s key",
                              type);
    }
    return mim_result_ok();
}

static mim_result_t
jwk_ec_key(const json_t *jwk, EVP_PKEY **pkey)
{
    uint8_t point[65], coord[33];
    size_t len;
    mim_result_t r;
    const char *crv;
    char shown[32];
    OSSL_PARAM params[3];
    EVP_PKEY_CTX *check;
    int valid;

    r = jwk_string(jwk, "crv", 1, &crv, &len);
    if (!mim_ok(r)) {
        return r;
    }
    if (!string_is(crv, len, "P-256")) {
        mim_safe_text(shown, sizeof(shown), crv, len);
        return mim_result_err(MIM_ERR_UNSUPPORTED,
                              "EC curve %s not supported (P-256 only)", shown);
    }
    point[0] = 0x04;    /* uncompressed: x || y */
    r = jwk_b64url(jwk, "x", coord, 32, &len);
    if (mim_ok(r) && len != 32) {
        r = mim_result_err(MIM_ERR_INVALID, "JWK \"x\" is not 32 bytes");
    }
    if (!mim_ok(r)) {
        return r;
    }
    memcpy(point + 1, coord, 32);
    r = jwk_b64url(jwk, "y", coord, 32, &len);
    if (mim_ok(r) && len != 32) {
        r = mim_result_err(MIM_ERR_INVALID, "JWK \"y\" is not 32 bytes");
    }
    if (!mim_ok(r)) {
        return r;
    }
    memcpy(point + 33, coord, 32);
    params[0] = OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME,
                                                 (char *) "prime256v1", 0);
    params[1] = OSSL_PARAM_construct_octet_string(OSSL_PKEY_PARAM_PUB_KEY,
                                                  point, sizeof(point));
    params[2] = OSSL_PARAM_construct_end();
    r = pkey_from_fromdata("EC", params, pkey);
    if (!mim_ok(r)) {
        return mim_result_err(MIM_ERR_INVALID,
                              "JWK x, y is not a point on P-256");
    }
    /* on the curve, not at infinity, of the right order */
    check = EVP_PKEY_CTX_new_from_pkey(NULL, *pkey, NULL);
    valid = check != NULL && EVP_PKEY_public_check(check) == 1;
    EVP_PKEY_CTX_free(check);
    ERR_clear_error();
    if (!valid) {
        EVP_PKEY_free(*pkey);
        *pkey = NULL;
        return mim_result_err(MIM_ERR_INVALID,
                              "JWK x, y is not a valid P-256 public key");
    }
    return mim_result_ok();
}

/*
 * RSA public keys are checked by hand: OpenSSL's public check runs a
 * Miller-Rabin test on n, too slow for keys that come from the network.
 */
static mim_result_t
jwk_rsa_key(const json_t *jwk, EVP_PKEY **pkey)
{
    uint8_t nbuf[RSA_MAX_BITS / 8 + 1], ebuf[RSA_E_MAX_BYTES];
    size_t nlen, elen;
    BIGNUM *n = NULL, *e = NULL;
    OSSL_PARAM_BLD *bld = NULL;
    OSSL_PARAM *params = NULL;
    mim_result_t r;
    int bits;

    r = jwk_b64url(jwk, "n", nbuf, sizeof(nbuf), &nlen);
    if (mim_ok(r)) {
        r = jwk_b64url(jwk, "e", ebuf, sizeof(ebuf), &elen);
    }
    if (!mim_ok(r)) {
        return r;
    }
    n = BN_bin2bn(nbuf, (int) nlen, NULL);
    e = BN_bin2bn(ebuf, (int) elen, NULL);
    if (n == NULL || e == NULL) {
        r = mim_result_err(MIM_ERR_NOMEM, "out of memory");
        goto done;
    }
    bits = BN_num_bits(n);
    if (bits < RSA_MIN_BITS) {
        r = mim_result_err(MIM_ERR_KEY,
                           "RSA key of %d bits is too small (minimum %d)",
                           bits, RSA_MIN_BITS);
        goto done;
    }
    if (bits > RSA_MAX_BITS) {
        r = mim_result_err(MIM_ERR_UNSUPPORTED,
                           "RSA key of %d bits is too large (maximum %d)",
                           bits, RSA_MAX_BITS);
        goto done;
    }
    if (!BN_is_odd(n) || !BN_is_odd(e) || BN_is_one(e)) {
        r = mim_result_err(MIM_ERR_INVALID,
                           "JWK is not an RSA public key (n and e must be "
                           "odd, e > 1)");
        goto done;
    }
    bld = OSSL_PARAM_BLD_new();
    if (bld == NULL || !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, n)
        || !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, e)
        || (params = OSSL_PARAM_BLD_to_param(bld)) == NULL)
    {
        r = mim_result_err(MIM_ERR_NOMEM, "out of memory");
        goto done;
    }
    r = pkey_from_fromdata("RSA", params, pkey);

done:
    OSSL_PARAM_free(params);
    OSSL_PARAM_BLD_free(bld);
    BN_free(n);
    BN_free(e);
    ERR_clear_error();
    return r;
}

static mim_result_t
jwk_okp_key(const json_t *jwk, EVP_PKEY **pkey)
{
    uint8_t x[32];
    size_t len;
    mim_result_t r;
    const char *crv;
    char shown[32];

    r = jwk_string(jwk, "crv", 1, &crv, &len);
    if (!mim_ok(r)) {
        return r;
    }
    if (!string_is(crv, len, "Ed25519")) {
        mim_safe_text(shown, sizeof(shown), crv, len);
        return mim_result_err(MIM_ERR_UNSUPPORTED,
                              "OKP curve %s not supported (Ed25519 only)",
                              shown);
    }
    r = jwk_b64url(jwk, "x", x, sizeof(x), &len);
    if (mim_ok(r) && len != sizeof(x)) {
        r = mim_result_err(MIM_ERR_INVALID, "JWK \"x\" is not 32 bytes");
    }
    if (!mim_ok(r)) {
        return r;
    }
    *pkey = EVP_PKEY_new_raw_public_key_ex(NULL, "ED25519", NULL, x, len);
    ERR_clear_error();
    if (*pkey == NULL) {
        return mim_result_err(MIM_ERR_INVALID, "JWK is not an Ed25519 key");
    }
    return mim_result_ok();
}

mim_result_t
mim_x5c_decode(const char *b64, size_t len, X509 **cert)
{
    uint8_t *der;
    const unsigned char *p;
    size_t der_len;

    *cert = NULL;
    if (len > X5C_ENTRY_MAX) {
        return mim_result_err(MIM_ERR_LIMIT, "x5c certificate too large");
    }
    der = malloc(mim_b64_decoded_max(len));
    if (der == NULL) {
        return mim_result_err(MIM_ERR_NOMEM, "out of memory");
    }
    if (mim_b64_decode(der, &der_len, b64, len) != 0) {
        free(der);
        return mim_result_err(MIM_ERR_INVALID,
                              "x5c entry is not standard base64");
    }
    p = der;
    *cert = d2i_X509(NULL, &p, (long) der_len);
    ERR_clear_error();
    if (*cert == NULL || p != der + der_len) {
        X509_free(*cert);
        *cert = NULL;
        free(der);
        return mim_result_err(MIM_ERR_INVALID,
                              "x5c entry is not a DER certificate");
    }
    free(der);
    return mim_result_ok();
}

/* a JWK's x5c: kept when its first certificate is for the JWK's key */
static mim_result_t
jwk_x5c(const json_t *jwk, mim_key_t *key)
{
    const json_t *arr = json_object_get(jwk, "x5c"), *v;
    size_t i, n;
    X509 *cert;
    mim_result_t r;
    int same;

    if (arr == NULL) {
        return mim_result_ok();
    }
    n = json_array_size(arr);
    if (!json_is_array(arr) || n == 0) {
        return mim_result_err(MIM_ERR_INVALID,
                              "JWK \"x5c\" is not a non-empty array");
    }
    if (n > MIM_X5C_MAX) {
        return mim_result_err(MIM_ERR_LIMIT, "JWK \"x5c\" too long");
    }
    key->x5c = calloc(n, sizeof(char *));
    if (key->x5c == NULL) {
        return mim_result_err(MIM_ERR_NOMEM, "out of memory");
    }
    for (i = 0; i < n; i++) {
        v = json_array_get(arr, i);
        if (!json_is_string(v)) {
            return mim_result_err(MIM_ERR_INVALID,
                                  "JWK \"x5c\" entry is not a string");
        }
        r = mim_x5c_decode(json_string_value(v), json_string_length(v),
                           &cert);
        if (!mim_ok(r)) {
            return r;
        }
        same = i > 0 || EVP_PKEY_eq(X509_get0_pubkey(cert), key->pkey) == 1;
        X509_free(cert);
        ERR_clear_error();
        if (!same) {
            return mim_result_err(MIM_ERR_MISMATCH,
                                  "JWK \"x5c\" is not for the JWK's key");
        }
        key->x5c[i] = strdup(json_string_value(v));
        if (key->x5c[i] == NULL) {
            return mim_result_err(MIM_ERR_NOMEM, "out of memory");
        }
        key->x5c_n = i + 1;
    }
    return mim_result_ok();
}

static mim_result_t
jwk_kid(const json_t *jwk, mim_key_t *key)
{
    const char *kid;
    size_t len;
    mim_result_t r;

    r = jwk_string(jwk, "kid", 0, &kid, &len);
    if (!mim_ok(r) || kid == NULL || strcmp(kid, key->kid) == 0) {
        return r;
    }
    if (len == 0 || len > JWK_KID_MAX || strlen(kid) != len) {
        return mim_result_err(MIM_ERR_INVALID,
                              "JWK \"kid\" is empty, too long or has NUL");
    }
    key->jwk_kid = strdup(kid);
    return key->jwk_kid ? mim_result_ok()
                        : mim_result_err(MIM_ERR_NOMEM, "out of memory");
}

mim_result_t
mim_key_from_jwk(mim_key_t *key, const json_t *jwk)
{
    const char *kty, *use, *alg;
    size_t kty_len, use_len, alg_len;
    char shown[32], alg_buf[16];
    EVP_PKEY *pkey = NULL;
    mim_result_t r;

    memset(key, 0, sizeof(*key));
    if (!json_is_object(jwk)) {
        return mim_result_err(MIM_ERR_INVALID, "JWK is not a JSON object");
    }
    r = jwk_string(jwk, "kty", 1, &kty, &kty_len);
    if (!mim_ok(r)) {
        return r;
    }
    r = jwk_string(jwk, "use", 0, &use, &use_len);
    if (!mim_ok(r)) {
        return r;
    }
    if (use != NULL && !string_is(use, use_len, "sig")) {
        mim_safe_text(shown, sizeof(shown), use, use_len);
        return mim_result_err(MIM_ERR_UNSUPPORTED,
                              "JWK use \"%s\" is not \"sig\"", shown);
    }
    r = jwk_string(jwk, "alg", 0, &alg, &alg_len);
    if (!mim_ok(r)) {
        return r;
    }
    if (alg != NULL) {
        /* an unknown alg (RSA-OAEP, HS256, none) is not a signature key */
        if (mim_alg_from_name(alg, alg_len) == MIM_ALG_NONE) {
            mim_safe_text(shown, sizeof(shown), alg, alg_len);
            return mim_result_err(MIM_ERR_UNSUPPORTED,
                                  "JWK alg %s not supported", shown);
        }
        snprintf(alg_buf, sizeof(alg_buf), "%s", alg);
    }

    if (string_is(kty, kty_len, "EC")) {
        r = jwk_ec_key(jwk, &pkey);
    } else if (string_is(kty, kty_len, "RSA")) {
        r = jwk_rsa_key(jwk, &pkey);
    } else if (string_is(kty, kty_len, "OKP")) {
        r = jwk_okp_key(jwk, &pkey);
    } else if (string_is(kty, kty_len, "oct")) {
        return mim_result_err(MIM_ERR_UNSUPPORTED,
                              "symmetric JWK (kty oct) refused: "
                              "a public key is required");
    } else {
        mim_safe_text(shown, sizeof(shown), kty, kty_len);
        return mim_result_err(MIM_ERR_UNSUPPORTED, "JWK kty %s not supported",
                              shown);
    }
    if (!mim_ok(r)) {
        return r;
    }
    r = mim_key_set_pkey(key, pkey, alg ? alg_buf : NULL, 0);
    if (!mim_ok(r)) {
        EVP_PKEY_free(pkey);
        memset(key, 0, sizeof(*key));
        return r;
    }
    r = jwk_kid(jwk, key);
    if (mim_ok(r)) {
        r = jwk_x5c(jwk, key);
    }
    if (!mim_ok(r)) {
        mim_key_free(key);
    } else {
        prepare_verify(key);
    }
    return r;
}

/* ---- using keys ---- */

int
mim_key_accepts_alg(const mim_key_t *key, mim_alg_t alg)
{
    if (key == NULL || key->pkey == NULL || alg == MIM_ALG_NONE) {
        return 0;
    }
    if (key->alg_pinned) {
        return alg == key->alg;
    }
    /* an unpinned key is always RSA (see choose_alg) */
    return alg_is_rsa(key->alg) && alg_is_rsa(alg);
}

int
mim_key_can_stream(const mim_key_t *key)
{
    return key != NULL && key->pkey != NULL && key->alg != MIM_ALG_EDDSA;
}

void
mim_key_free(mim_key_t *key)
{
    if (key == NULL) {
        return;
    }
    EVP_PKEY_free(key->pkey);
    EVP_MD_CTX_free(key->sign_template);
    EVP_MD_CTX_free(key->verify_template);
    free_strings(key->x5c, key->x5c_n);
    free(key->jwk_kid);
    memset(key, 0, sizeof(*key));
}

/* ---- key sets ---- */

mim_result_t
mim_keyset_from_jwks(mim_keyset_t *set, const char *json, size_t len)
{
    json_error_t jerr;
    json_t *root, *keys;
    mim_result_t r;
    size_t i, n;

    memset(set, 0, sizeof(*set));
    if (len > JWKS_MAX) {
        return mim_result_err(MIM_ERR_LIMIT, "JWKS larger than %d bytes",
                              JWKS_MAX);
    }
    root = json_loadb(json, len, JSON_REJECT_DUPLICATES, &jerr);
    if (root == NULL) {
        return mim_result_err(MIM_ERR_INVALID, "JWKS is not JSON: %s",
                              jerr.text);
    }
    keys = json_object_get(root, "keys");
    if (!json_is_object(root) || !json_is_array(keys)) {
        json_decref(root);
        return mim_result_err(MIM_ERR_INVALID,
                              "JWKS is not an object with a \"keys\" array");
    }
    n = json_array_size(keys);
    if (n > JWKS_KEYS_MAX) {
        json_decref(root);
        return mim_result_err(MIM_ERR_LIMIT, "JWKS has more than %d keys",
                              JWKS_KEYS_MAX);
    }
    set->keys = calloc(n ? n : 1, sizeof(mim_key_t));
    if (set->keys == NULL) {
        json_decref(root);
        return mim_result_err(MIM_ERR_NOMEM, "out of memory");
    }
    for (i = 0; i < n; i++) {
        r = mim_key_from_jwk(&set->keys[set->n], json_array_get(keys, i));
        if (mim_ok(r)) {
            set->n++;
        } else if (r.code == MIM_ERR_UNSUPPORTED || r.code == MIM_ERR_KEY) {
            set->skipped++;
        } else {
            json_decref(root);
            mim_keyset_free(set);
            return mim_result_err(r.code, "JWKS key %zu: %s", i, r.msg);
        }
    }
    json_decref(root);
    return mim_result_ok();
}

const mim_key_t *
mim_keyset_find(const mim_keyset_t *set, const char *kid)
{
    size_t i;

    if (set == NULL || kid == NULL) {
        return NULL;
    }
    /*
     * A thumbprint names one key for sure; a JWK's own "kid" is only a
     * label, which another key of the set may even use as its thumbprint.
     * So thumbprints first, labels second.
     */
    for (i = 0; i < set->n; i++) {
        if (strcmp(set->keys[i].kid, kid) == 0) {
            return &set->keys[i];
        }
    }
    for (i = 0; i < set->n; i++) {
        if (set->keys[i].jwk_kid && strcmp(set->keys[i].jwk_kid, kid) == 0) {
            return &set->keys[i];
        }
    }
    return NULL;
}

void
mim_keyset_free(mim_keyset_t *set)
{
    size_t i;

    if (set == NULL) {
        return;
    }
    for (i = 0; i < set->n; i++) {
        mim_key_free(&set->keys[i]);
    }
    free(set->keys);
    memset(set, 0, sizeof(*set));
}

/* ---- certificates ---- */

mim_result_t
mim_x509_chain_verify(X509 *const *certs, size_t n, X509_STORE *store,
    long now, X509 **leaf_out)
{
    STACK_OF(X509) *chain = NULL;
    X509_STORE_CTX *ctx = NULL;
    X509 *leaf;
    mim_result_t r;
    size_t i;
    uint32_t usage;

    *leaf_out = NULL;
    if (n == 0) {
        return mim_result_err(MIM_ERR_INVALID, "empty x5c");
    }
    if (n > MIM_X5C_MAX) {
        return mim_result_err(MIM_ERR_LIMIT, "more than %d certificates in x5c",
                              MIM_X5C_MAX);
    }
    if (store == NULL) {
        return mim_result_err(MIM_ERR_KEY, "no trust anchors configured");
    }
    chain = sk_X509_new_reserve(NULL, (int) n);
    if (chain == NULL) {
        return mim_result_err(MIM_ERR_NOMEM, "out of memory");
    }
    for (i = 0; i < n; i++) {
        if (sk_X509_push(chain, certs[i]) <= 0) {
            sk_X509_free(chain);
            return mim_result_err(MIM_ERR_NOMEM, "out of memory");
        }
    }
    leaf = certs[0];
    ctx = X509_STORE_CTX_new();
    /* the whole x5c is offered as untrusted intermediates */
    if (ctx == NULL || !X509_STORE_CTX_init(ctx, store, leaf, chain)) {
        r = mim_result_err(MIM_ERR_CRYPTO, "cannot set up chain verification");
        goto done;
    }
    if (now != 0) {
        X509_VERIFY_PARAM_set_time(X509_STORE_CTX_get0_param(ctx),
                                   (time_t) now);
    }
    if (X509_verify_cert(ctx) != 1) {
        r = mim_result_err(MIM_ERR_UNTRUSTED, "certificate chain: %s",
            X509_verify_cert_error_string(X509_STORE_CTX_get_error(ctx)));
        goto done;
    }
    /* keyUsage, when present, must allow signatures */
    usage = X509_get_key_usage(leaf);
    if ((X509_get_extension_flags(leaf) & EXFLAG_KUSAGE)
        && !(usage & (KU_DIGITAL_SIGNATURE | KU_NON_REPUDIATION)))
    {
        r = mim_result_err(MIM_ERR_UNTRUSTED,
                           "leaf certificate keyUsage does not allow "
                           "signatures");
        goto done;
    }
    if (!X509_up_ref(leaf)) {
        r = mim_result_err(MIM_ERR_CRYPTO, "cannot keep the leaf certificate");
        goto done;
    }
    *leaf_out = leaf;
    r = mim_result_ok();

done:
    ERR_clear_error();
    X509_STORE_CTX_free(ctx);
    sk_X509_free(chain);            /* the certificates are the caller's */
    return r;
}

mim_result_t
mim_x5c_verify_leaf(const char *const *x5c, size_t n, X509_STORE *store,
    long now, X509 **leaf_out)
{
    X509 *certs[MIM_X5C_MAX];
    mim_result_t r = mim_result_ok();
    size_t i, decoded = 0;

    *leaf_out = NULL;
    if (n == 0) {
        return mim_result_err(MIM_ERR_INVALID, "empty x5c");
    }
    if (n > MIM_X5C_MAX) {
        return mim_result_err(MIM_ERR_LIMIT, "more than %d certificates in x5c",
                              MIM_X5C_MAX);
    }
    for (i = 0; i < n && mim_ok(r); i++) {
        r = mim_x5c_decode(x5c[i], strlen(x5c[i]), &certs[i]);
        if (!mim_ok(r)) {
            r = mim_result_err(r.code, "x5c[%zu]: %s", i, r.msg);
        } else {
            decoded++;
        }
    }
    if (mim_ok(r)) {
        r = mim_x509_chain_verify(certs, n, store, now, leaf_out);
    }
    for (i = 0; i < decoded; i++) {
        X509_free(certs[i]);
    }
    return r;
}

mim_result_t
mim_x5c_verify(const char *const *x5c, size_t n, X509_STORE *store,
    long now, EVP_PKEY **leaf_key)
{
    X509 *leaf;
    mim_result_t r;

    *leaf_key = NULL;
    r = mim_x5c_verify_leaf(x5c, n, store, now, &leaf);
    if (!mim_ok(r)) {
        return r;
    }
    *leaf_key = X509_get_pubkey(leaf);
    X509_free(leaf);
    ERR_clear_error();
    return *leaf_key ? mim_result_ok()
                     : mim_result_err(MIM_ERR_KEY,
                                      "leaf certificate has no key");
}

mim_result_t
mim_x509_store_load(X509_STORE **store, const char *path)
{
    mim_result_t r;
    char *pem;
    size_t len, n = 0;
    BIO *bio;
    X509 *cert;

    *store = NULL;
    r = mim_read_file(path, 16 * PEM_MAX, &pem, &len);
    if (!mim_ok(r)) {
        return r;
    }
    bio = BIO_new_mem_buf(pem, (int) len);
    *store = X509_STORE_new();
    if (bio == NULL || *store == NULL) {
        r = mim_result_err(MIM_ERR_NOMEM, "out of memory");
        goto done;
    }
    while ((cert = PEM_read_bio_X509(bio, NULL, NULL, NULL)) != NULL) {
        if (!X509_STORE_add_cert(*store, cert)) {
            X509_free(cert);
            r = mim_result_err(MIM_ERR_CRYPTO, "cannot add certificate %zu",
                               n + 1);
            goto done;
        }
        X509_free(cert);
        n++;
    }
    if (!pem_at_end()) {
        r = mim_result_err(MIM_ERR_INVALID, "certificate %zu is not valid PEM",
                           n + 1);
    } else if (n == 0) {
        r = mim_result_err(MIM_ERR_INVALID, "no PEM certificate found");
    }

done:
    ERR_clear_error();
    BIO_free(bio);
    free(pem);
    if (!mim_ok(r)) {
        X509_STORE_free(*store);
        *store = NULL;
    }
    return r;
}
