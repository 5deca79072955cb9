/*
 * mim_key.h - signing and verification keys, JWK and RFC 7638 thumbprints.
 *
 * The key decides the algorithm: a key is loaded together with the single
 * JWS algorithm it may be used with, and a token's "alg" header is only
 * ever compared against it, never used to choose.
 *
 *   P-256 EC key   -> ES256
 *   Ed25519 key    -> EdDSA
 *   RSA >= 2048    -> PS256 (default) or RS256, RS384, RS512, PS384, PS512
 */
#ifndef MIM_KEY_H
#define MIM_KEY_H

#include <stddef.h>
#include <openssl/evp.h>
#include <openssl/x509.h>
#include <jansson.h>

#include "mim_result.h"

typedef enum {
    MIM_ALG_NONE = 0,
    MIM_ALG_ES256,
    MIM_ALG_RS256,
    MIM_ALG_RS384,
    MIM_ALG_RS512,
    MIM_ALG_PS256,
    MIM_ALG_PS384,
    MIM_ALG_PS512,
    MIM_ALG_EDDSA
} mim_alg_t;

/* "ES256", ... ; NULL for MIM_ALG_NONE */
const char *mim_alg_name(mim_alg_t alg);

/* exact, case-sensitive match; MIM_ALG_NONE when unknown ("none", HS256) */
mim_alg_t mim_alg_from_name(const char *name, size_t len);

#define MIM_KID_LEN  43     /* base64url of a SHA-256 thumbprint */

typedef struct {
    EVP_PKEY   *pkey;
    mim_alg_t   alg;                    /* the one algorithm of this key */
    int         alg_pinned;             /* 0: RSA key whose alg is any
                                           RS/PS (a JWK without "alg") */
    char        kid[MIM_KID_LEN + 1];   /* RFC 7638 thumbprint */
    char      **x5c;                    /* standard base64 DER, leaf first */
    size_t      x5c_n;
    char       *jwk_kid;                /* a JWK's own "kid" when it is not
                                           the thumbprint (others' JWKS),
                                           else NULL; mim_keyset_find()
                                           matches either */
    EVP_MD_CTX *sign_template;          /* private keys: a signing context
                                           initialised once, copied per
                                           signature (init costs more than
                                           a copy in OpenSSL 3) */
    EVP_MD_CTX *verify_template;        /* pinned keys (not EdDSA) from
                                           PEM or JWK: a verification
                                           context for alg, copied per
                                           token by mim_jwt_verify(); NULL:
                                           one is made per token */
} mim_key_t;

/*
 * Load a PEM private key (PKCS#8 or traditional, unencrypted) and choose
 * its algorithm.  alg_name is NULL for the default or one of the RSA names
 * when the key is RSA; a mismatch (e.g. "RS256" for an EC key) is an error.
 * Refused: other curves, RSA < 2048 bits, DSA, DH, encrypted keys.
 */
mim_result_t mim_key_load_private(mim_key_t *key, const char *path,
    const char *alg_name);

/* as above from a PEM buffer (used by tests and fuzzers) */
mim_result_t mim_key_from_pem(mim_key_t *key, const char *pem, size_t len,
    const char *alg_name, int is_private);

/*
 * Load a PEM certificate chain (leaf first) for key: the leaf's public key
 * must be the key's, and every certificate is kept as an x5c entry.
 */
mim_result_t mim_key_load_cert_chain(mim_key_t *key, const char *path);

/* Build a key from a public JWK (EC P-256, OKP Ed25519, RSA >= 2048). */
mim_result_t mim_key_from_jwk(mim_key_t *key, const json_t *jwk);

/* A JSON public JWK: kty and members, kid, alg, use "sig", x5c if any. */
json_t *mim_key_to_jwk(const mim_key_t *key);

/* RFC 7638 SHA-256 thumbprint of the public key, base64url, into out */
mim_result_t mim_key_thumbprint(EVP_PKEY *pkey, char out[MIM_KID_LEN + 1]);

/* Does alg fit this key?  (exact for pinned keys, RS / PS family else) */
int mim_key_accepts_alg(const mim_key_t *key, mim_alg_t alg);

/* Can a body be signed with this key without holding it all?  (not EdDSA) */
int mim_key_can_stream(const mim_key_t *key);

void mim_key_free(mim_key_t *key);

/*
 * A set of public keys from a JWKS document ({"keys":[...]}).  Keys that
 * are not signature keys (use != "sig") or of unsupported types are skipped
 * but counted in skipped.
 */
typedef struct {
    mim_key_t  *keys;
    size_t      n;
    size_t      skipped;
} mim_keyset_t;

mim_result_t mim_keyset_from_jwks(mim_keyset_t *set, const char *json,
    size_t len);

/* the key with this kid, or NULL */
const mim_key_t *mim_keyset_find(const mim_keyset_t *set, const char *kid);

void mim_keyset_free(mim_keyset_t *set);

/*
 * Verify an x5c chain (standard base64 DER, leaf first) to the trust
 * anchors in store, for digital signatures.  On success *leaf_key is the
 * leaf's public key (caller frees with EVP_PKEY_free).  now is the time to
 * check validity at (0: current time).
 */
mim_result_t mim_x5c_verify(const char *const *x5c, size_t n,
    X509_STORE *store, long now, EVP_PKEY **leaf_key);

/* load a PEM CA bundle into a new store */
mim_result_t mim_x509_store_load(X509_STORE **store, const char *path);

#endif /* MIM_KEY_H */
