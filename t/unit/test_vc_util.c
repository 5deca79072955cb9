/*
 * test_vc_util.c - parties, signed JWTs, VC / VP payloads and DID
 * document directories for the verifiable-credential unit tests.
 */
#define _GNU_SOURCE     /* asprintf */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/rsa.h>

#include "mim_b64.h"
#include "test_vc.h"
#include "unit.h"

/* ---- did:key, written from the did:key spec, not from trust/ ---- */

void
tv_base58(const uint8_t *src, size_t n, char *out, size_t cap)
{
    static const char alphabet[] =
        "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz";
    uint8_t digits[256];        /* base 58, least significant first */
    size_t ndigits = 0, zeros = 0, i, j, at = 0;

    while (zeros < n && src[zeros] == 0) {
        zeros++;
    }
    for (i = zeros; i < n; i++) {
        unsigned carry = src[i];
        for (j = 0; j < ndigits; j++) {
            carry += (unsigned) digits[j] << 8;
            digits[j] = (uint8_t) (carry % 58);
            carry /= 58;
        }
        while (carry > 0) {
            cr_assert_lt(ndigits, sizeof(digits));
            digits[ndigits++] = (uint8_t) (carry % 58);
            carry /= 58;
        }
    }
    cr_assert_lt(zeros + ndigits, cap);
    for (i = 0; i < zeros; i++) {
        out[at++] = '1';
    }
    for (i = ndigits; i-- > 0;) {
        out[at++] = alphabet[digits[i]];
    }
    out[at] = '\0';
}

void
tv_didkey_of(EVP_PKEY *pkey, char *out, size_t cap)
{
    uint8_t raw[2 + 65];
    size_t len = sizeof(raw) - 2;
    char b58[128];

    if (EVP_PKEY_is_a(pkey, "ED25519")) {
        raw[0] = 0xed;
        raw[1] = 0x01;
        cr_assert(EVP_PKEY_get_raw_public_key(pkey, raw + 2, &len));
    } else {
        BIGNUM *x = NULL, *y = NULL;
        cr_assert(EVP_PKEY_is_a(pkey, "EC"));
        cr_assert(EVP_PKEY_get_bn_param(pkey, OSSL_PKEY_PARAM_EC_PUB_X, &x));
        cr_assert(EVP_PKEY_get_bn_param(pkey, OSSL_PKEY_PARAM_EC_PUB_Y, &y));
        raw[0] = 0x80;          /* p256-pub, 0x1200 as a varint */
        raw[1] = 0x24;
        raw[2] = BN_is_odd(y) ? 0x03 : 0x02;
        cr_assert_eq(BN_bn2binpad(x, raw + 3, 32), 32);
        len = 33;
        BN_free(x);
        BN_free(y);
    }
    tv_base58(raw, len + 2, b58, sizeof(b58));
    cr_assert_lt((size_t) snprintf(out, cap, "did:key:z%s", b58), cap);
}

void
tv_party_didkey(tv_party_t *p, const char *what)
{
    memset(p, 0, sizeof(*p));
    p->pkey = ut_keygen(what);
    snprintf(p->alg, sizeof(p->alg), "%s",
             strcmp(what, "ED25519") == 0 ? "EdDSA" : "ES256");
    tv_didkey_of(p->pkey, p->did, sizeof(p->did));
    snprintf(p->kid, sizeof(p->kid), "%s#%s", p->did, p->did + 8);
}

void
tv_party_named(tv_party_t *p, const char *what, const char *did,
    const char *kid)
{
    memset(p, 0, sizeof(*p));
    p->pkey = ut_keygen(what);
    snprintf(p->alg, sizeof(p->alg), "%s",
             strcmp(what, "ED25519") == 0 ? "EdDSA"
             : strcmp(what, "P-256") == 0 ? "ES256" : "RS256");
    snprintf(p->did, sizeof(p->did), "%s", did);
    snprintf(p->kid, sizeof(p->kid), "%s", kid ? kid : "");
}

void
tv_party_free(tv_party_t *p)
{
    EVP_PKEY_free(p->pkey);
    memset(p, 0, sizeof(*p));
}

/* ---- JWK ---- */

static char *
bn_b64url(EVP_PKEY *pkey, const char *name, int pad)
{
    BIGNUM *bn = NULL;
    uint8_t buf[1024];
    int len;

    cr_assert(EVP_PKEY_get_bn_param(pkey, name, &bn));
    len = pad ? BN_bn2binpad(bn, buf, pad) : BN_bn2bin(bn, buf);
    cr_assert_gt(len, 0);
    BN_free(bn);
    return ut_b64url(buf, (size_t) len);
}

char *
tv_jwk_text(EVP_PKEY *pkey, const char *kid)
{
    json_t *jwk;
    char *x, *y, *text;
    uint8_t raw[32];
    size_t len = sizeof(raw);

    if (EVP_PKEY_is_a(pkey, "ED25519")) {
        cr_assert(EVP_PKEY_get_raw_public_key(pkey, raw, &len));
        x = ut_b64url(raw, len);
        jwk = json_pack("{s:s, s:s, s:s}", "kty", "OKP", "crv", "Ed25519",
                        "x", x);
        free(x);
    } else if (EVP_PKEY_is_a(pkey, "EC")) {
        x = bn_b64url(pkey, OSSL_PKEY_PARAM_EC_PUB_X, 32);
        y = bn_b64url(pkey, OSSL_PKEY_PARAM_EC_PUB_Y, 32);
        jwk = json_pack("{s:s, s:s, s:s, s:s}", "kty", "EC", "crv", "P-256",
                        "x", x, "y", y);
        free(x);
        free(y);
    } else {
        x = bn_b64url(pkey, OSSL_PKEY_PARAM_RSA_N, 0);
        y = bn_b64url(pkey, OSSL_PKEY_PARAM_RSA_E, 0);
        jwk = json_pack("{s:s, s:s, s:s}", "kty", "RSA", "n", x, "e", y);
        free(x);
        free(y);
    }
    cr_assert_not_null(jwk);
    if (kid != NULL) {
        json_object_set_new(jwk, "kid", json_string(kid));
    }
    text = json_dumps(jwk, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(jwk);
    return text;
}

/* ---- signing ---- */

static void
sign_bytes(EVP_PKEY *pkey, const char *alg, const char *input,
    uint8_t *sig, size_t *sig_len)
{
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    EVP_PKEY_CTX *pctx = NULL;
    uint8_t der[1024];
    size_t der_len = sizeof(der);
    const EVP_MD *md = strcmp(alg, "EdDSA") == 0 ? NULL : EVP_sha256();

    cr_assert_not_null(ctx);
    cr_assert(EVP_DigestSignInit(ctx, &pctx, md, NULL, pkey));
    if (strcmp(alg, "PS256") == 0) {
        cr_assert(EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING));
        cr_assert(EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx,
                                                   RSA_PSS_SALTLEN_DIGEST));
    }
    cr_assert(EVP_DigestSign(ctx, der, &der_len, (const uint8_t *) input,
                             strlen(input)));
    EVP_MD_CTX_free(ctx);
    if (strcmp(alg, "ES256") == 0) {
        const uint8_t *p = der;
        ECDSA_SIG *es = d2i_ECDSA_SIG(NULL, &p, (long) der_len);
        cr_assert_not_null(es);
        cr_assert_eq(BN_bn2binpad(ECDSA_SIG_get0_r(es), sig, 32), 32);
        cr_assert_eq(BN_bn2binpad(ECDSA_SIG_get0_s(es), sig + 32, 32), 32);
        ECDSA_SIG_free(es);
        *sig_len = 64;
    } else {
        memcpy(sig, der, der_len);
        *sig_len = der_len;
    }
}

static char *
dump_b64url(const json_t *v)
{
    char *text = json_dumps(v, JSON_COMPACT);
    char *b;

    cr_assert_not_null(text);
    b = ut_b64url(text, strlen(text));
    free(text);
    return b;
}

char *
tv_sign(const tv_party_t *p, json_t *header, json_t *claims)
{
    json_t *h = json_pack("{s:s}", "alg", p->alg);
    const char *k;
    json_t *v;
    char *hb, *pb, *input, *sb, *token;
    uint8_t sig[1024];
    size_t sig_len;

    if (p->kid[0] != '\0') {
        json_object_set_new(h, "kid", json_string(p->kid));
    }
    json_object_foreach(header, k, v) {
        if (json_is_null(v)) {
            json_object_del(h, k);
        } else {
            json_object_set(h, k, v);
        }
    }
    hb = dump_b64url(h);
    pb = dump_b64url(claims);
    cr_assert_gt(asprintf(&input, "%s.%s", hb, pb), 0);
    sign_bytes(p->pkey, json_string_value(json_object_get(h, "alg")), input,
               sig, &sig_len);
    sb = ut_b64url(sig, sig_len);
    cr_assert_gt(asprintf(&token, "%s.%s", input, sb), 0);
    free(hb);
    free(pb);
    free(input);
    free(sb);
    json_decref(h);
    return token;
}

json_t *
tv_json(const char *text)
{
    json_error_t err;
    json_t *v = json_loads(text, 0, &err);

    cr_assert_not_null(v, "test JSON: %s: %s", err.text, text);
    return v;
}

char *
tv_unsigned(const char *header, const char *payload)
{
    char *hb = ut_b64url(header, strlen(header));
    char *pb = ut_b64url(payload, strlen(payload));
    char *token;

    cr_assert_gt(asprintf(&token, "%s.%s.AAAA", hb, pb), 0);
    free(hb);
    free(pb);
    return token;
}

/* ---- payloads ---- */

static json_t *
subject(const char *sub, const char *role)
{
    json_t *cs = json_object();

    if (sub != NULL) {
        json_object_set_new(cs, "id", json_string(sub));
    }
    if (role != NULL) {
        json_object_set_new(cs, "role", json_string(role));
    }
    return cs;
}

json_t *
tv_vc11_claims(const char *iss, const char *sub, const char *type,
    const char *role)
{
    json_t *c = json_pack("{s:s, s:I, s:I, s:s, s:{s:[s], s:[s,s], s:o}}",
        "iss", iss, "nbf", (json_int_t) (TV_NOW - 100),
        "exp", (json_int_t) (TV_NOW + 3600), "jti", "urn:uuid:vc-1",
        "vc", "@context", "https://www.w3.org/2018/credentials/v1",
        "type", "VerifiableCredential", type,
        "credentialSubject", subject(sub, role));

    cr_assert_not_null(c);
    if (sub != NULL) {
        json_object_set_new(c, "sub", json_string(sub));
    }
    return c;
}

json_t *
tv_vc20_claims(const char *iss, const char *sub, const char *type,
    const char *role)
{
    json_t *c = json_pack("{s:[s], s:s, s:[s,s], s:s, s:s, s:s, s:o}",
        "@context", "https://www.w3.org/ns/credentials/v2",
        "id", "urn:uuid:vc-2", "type", "VerifiableCredential", type,
        "issuer", iss, "validFrom", "2023-11-14T00:00:00Z",
        "validUntil", "2023-11-15T00:00:00Z",
        "credentialSubject", subject(sub, role));

    cr_assert_not_null(c);
    return c;
}

json_t *
tv_vp11_claims(const char *holder, json_t *vcs)
{
    json_t *c = json_pack("{s:s, s:s, s:s, s:I, s:I, s:s, s:{s:[s], s:[s], "
                          "s:o}}",
        "iss", holder, "aud", "https://gateway.example", "nonce", "n-0S6",
        "nbf", (json_int_t) (TV_NOW - 10), "exp", (json_int_t) (TV_NOW + 300),
        "jti", "urn:uuid:vp-1",
        "vp", "@context", "https://www.w3.org/2018/credentials/v1",
        "type", "VerifiablePresentation", "verifiableCredential", vcs);

    cr_assert_not_null(c);
    return c;
}

json_t *
tv_vp20_claims(const char *holder, json_t *vcs)
{
    json_t *list = json_array(), *v;
    size_t i;
    char *id;

    json_array_foreach(vcs, i, v) {
        cr_assert_gt(asprintf(&id, "data:application/vc+jwt,%s",
                              json_string_value(v)), 0);
        json_array_append_new(list, json_pack("{s:s, s:s, s:s}",
            "@context", "https://www.w3.org/ns/credentials/v2",
            "type", "EnvelopedVerifiableCredential", "id", id));
        free(id);
    }
    json_decref(vcs);
    v = json_pack("{s:[s], s:s, s:[s], s:o, s:s, s:s, s:I}",
        "@context", "https://www.w3.org/ns/credentials/v2", "id",
        "urn:uuid:vp-2", "type", "VerifiablePresentation",
        "verifiableCredential", list, "holder", holder,
        "nonce", "n-0S6", "exp", (json_int_t) (TV_NOW + 300));
    cr_assert_not_null(v);
    json_object_set_new(v, "aud", json_string("https://gateway.example"));
    return v;
}

/* ---- files ---- */

void
tv_write(const char *dir, const char *rel, const char *text)
{
    char *path, *slash;
    FILE *f;

    cr_assert_gt(asprintf(&path, "%s/%s", dir, rel), 0);
    for (slash = strchr(path + strlen(dir) + 1, '/'); slash != NULL;
         slash = strchr(slash + 1, '/'))
    {
        *slash = '\0';
        mkdir(path, 0700);
        *slash = '/';
    }
    f = fopen(path, "w");
    cr_assert_not_null(f, "fopen %s", path);
    cr_assert_eq(fputs(text, f) >= 0, 1);
    fclose(f);
    free(path);
}

char *
tv_temp_dir(void)
{
    char *path = strdup("/tmp/mim-vc-XXXXXX");

    cr_assert_not_null(path);
    cr_assert_not_null(mkdtemp(path));
    return path;
}

void
tv_remove_dir(char *path)
{
    char *cmd;

    if (path == NULL) {
        return;
    }
    /* only ever a directory tv_temp_dir() made */
    cr_assert(strncmp(path, "/tmp/mim-vc-", 12) == 0);
    cr_assert_gt(asprintf(&cmd, "rm -rf '%s'", path), 0);
    cr_assert_eq(system(cmd), 0);
    free(cmd);
    free(path);
}

mim_result_t
tv_verify(const mim_vc_config_t *cfg, const char *token, mim_identity_t *id)
{
    return mim_vc_verify(cfg, token, strlen(token), id);
}
