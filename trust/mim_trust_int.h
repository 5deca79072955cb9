/*
 * mim_trust_int.h - helpers shared by the trust/ sources; not an API.
 */
#ifndef MIM_TRUST_INT_H
#define MIM_TRUST_INT_H

#include <stddef.h>
#include <openssl/evp.h>

#include "mim_key.h"
#include "mim_result.h"

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
