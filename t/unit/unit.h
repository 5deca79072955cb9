/*
 * unit.h - helpers shared by the Criterion unit tests: fresh keys and
 * certificates made with OpenSSL inside the test, temporary files.
 *
 * Every helper aborts the test (cr_assert) when OpenSSL fails, so a test
 * reads as the behaviour it checks.
 */
#ifndef MIM_UNIT_H
#define MIM_UNIT_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

#include "mim_jws.h"
#include "mim_key.h"

/*
 * A fresh key: "P-256", "P-384", "RSA2048", "RSA1024", "ED25519",
 * "X25519".  Caller frees with EVP_PKEY_free.
 */
EVP_PKEY *ut_keygen(const char *what);

/* PEM text (malloc()ed, NUL-terminated) of a private key: PKCS#8, or the
   "traditional" per-type format, or PKCS#8 encrypted with a password */
char *ut_pem_private(EVP_PKEY *pkey);
char *ut_pem_private_traditional(EVP_PKEY *pkey);
char *ut_pem_private_encrypted(EVP_PKEY *pkey);
char *ut_pem_public(EVP_PKEY *pkey);
char *ut_pem_cert(X509 *cert);

/* write text to a new temporary file; returns its malloc()ed path */
char *ut_temp_file(const char *text);
void ut_temp_remove(char *path);

/* a mim key made from pkey through PEM (alg_name as mim_key_from_pem) */
void ut_key_from_pkey(mim_key_t *key, EVP_PKEY *pkey, const char *alg_name);

/*
 * A certificate for key named cn, valid from..to, signed by issuer_key
 * (self-signed when issuer is NULL).  ca: basicConstraints CA:TRUE;
 * key_usage: a keyUsage value ("digitalSignature") or NULL for none.
 */
X509 *ut_cert(EVP_PKEY *key, const char *cn, X509 *issuer,
    EVP_PKEY *issuer_key, int ca, time_t from, time_t to,
    const char *key_usage);

/* standard base64 DER of a certificate (an x5c entry), malloc()ed */
char *ut_cert_b64(X509 *cert);

/* fill buf with n pseudo-random bytes from seed (repeatable) */
void ut_fill(uint8_t *buf, size_t n, uint32_t seed);

/*
 * Sign body with key through the streaming signer, fed in pieces cut at
 * the offsets in cuts (ascending, ncuts of them).  Returns the JWS
 * (malloc()ed); digest gets the Content-Digest value.
 */
char *ut_sign(const mim_key_t *key, const mim_jws_binding_t *b,
    const uint8_t *body, size_t n, const size_t *cuts, size_t ncuts,
    char digest[MIM_CONTENT_DIGEST_LEN + 1]);

/* a binding for tests: GET https://city.example/api?x=1, 200, iat 1700000000 */
mim_jws_binding_t ut_binding(void);

/*
 * Rebuild a JWS with a different protected header (JSON text) and the
 * signature of jws: for tampering tests.  malloc()ed.
 */
char *ut_jws_with_header(const char *jws, const char *header_json);

/* base64url of text, malloc()ed */
char *ut_b64url(const void *data, size_t n);

#endif /* MIM_UNIT_H */
