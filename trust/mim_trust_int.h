/*
 * mim_trust_int.h - helpers shared by the trust/ sources; not an API.
 */
#ifndef MIM_TRUST_INT_H
#define MIM_TRUST_INT_H

#include <stddef.h>
#include <stdint.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#include "mim_jwt.h"
#include "mim_key.h"
#include "mim_result.h"

/* the value of a hexadecimal digit (either case), -1 for anything else */
static inline int
mim_hex_value(unsigned char c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }
    if (c >= 'A' && c <= 'F') {
        return c - 'A' + 10;
    }
    return -1;
}

/* most certificates an x5c header may carry */
#define MIM_X5C_MAX  10

/*
 * Digests fetched once per process and kept: a per-response implicit fetch
 * costs a locked method-store lookup.  NULL only when OpenSSL fails.
 */
const EVP_MD *mim_md_sha256(void);

/* the digest of a JWS algorithm; NULL for EdDSA (and none) */
const EVP_MD *mim_alg_md(mim_alg_t alg);

/*
 * Fill key from pkey (taking ownership on success): check the type, curve
 * and size, choose the algorithm (alg_name as in mim_key_load_private; an
 * RSA key without alg_name is pinned to PS256 when pin_rsa, else it
 * accepts any RS / PS algorithm), compute the kid.
 */
mim_result_t mim_key_set_pkey(mim_key_t *key, EVP_PKEY *pkey,
    const char *alg_name, int pin_rsa);

/* DigestSign/VerifyInit for a JWS algorithm, with RSA padding set */
int mim_md_ctx_init(EVP_MD_CTX *ctx, EVP_PKEY *pkey, mim_alg_t alg,
    int verify);

/* DER ECDSA-Sig-Value -> JOSE r || s, 32 bytes each (P-256); 1 on success */
int mim_ecdsa_der_to_raw(const uint8_t *der, size_t len, uint8_t raw[64]);

/* JOSE r || s -> DER; *der is OPENSSL_malloc()ed; 1 on success */
int mim_ecdsa_raw_to_der(const uint8_t raw[64], uint8_t **der, size_t *len);

/*
 * Verify decoded certificates (leaf first; all offered as untrusted
 * intermediates) to the anchors in store at now (0: the current time), for
 * signatures; *leaf is certs[0] with a reference of the caller's.  The
 * certificates stay the caller's.
 */
mim_result_t mim_x509_chain_verify(X509 *const *certs, size_t n,
    X509_STORE *store, long now, X509 **leaf);

/*
 * As mim_x5c_verify, but hand back the validated leaf certificate (a
 * reference of the caller's: X509_free) rather than its key, for callers
 * that read its subject (iSHARE: the party id).
 */
mim_result_t mim_x5c_verify_leaf(const char *const *x5c, size_t n,
    X509_STORE *store, long now, X509 **leaf);

/*
 * Verify a parsed token's signature with pkey for the token's own alg:
 * the caller has already decided that alg is allowed and fits pkey.
 * tmpl: a verification context made for pkey and that alg, or NULL.
 */
mim_result_t mim_jwt_verify_pkey(const mim_jwt_t *jwt, EVP_PKEY *pkey,
    const EVP_MD_CTX *tmpl);

/*
 * Parse JSON text that must be an object, strictly (RFC 8259: UTF-8, no
 * NUL, duplicate members refused), nesting at most max_depth arrays and
 * objects (MIM_ERR_LIMIT beyond).  What mim_jwt_parse() reads tokens with.
 */
mim_result_t mim_json_parse_object(const char *text, size_t len,
    int max_depth, json_t **out);

/*
 * Drop the certificates that mim_ishare_verify_assertion keeps decoded
 * (for benchmarks of first-seen chains, and tests).
 */
void mim_ishare_cert_cache_flush(void);

/* decode one x5c entry (standard base64 DER) into a certificate */
mim_result_t mim_x5c_decode(const char *b64, size_t len, X509 **cert);

/*
 * Copy untrusted text for a message or an info field: bytes outside
 * printable ASCII become '?', truncated to cap - 1, always terminated.
 */
void mim_safe_text(char *dst, size_t cap, const char *src, size_t n);

/* read a whole file (at most max bytes) into a malloc()ed buffer */
mim_result_t mim_read_file(const char *path, size_t max, char **buf,
    size_t *len);

#endif /* MIM_TRUST_INT_H */
