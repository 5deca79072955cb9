/*
 * mim_jws.h - detached JWS (RFC 7515 Appendix F) over response bodies,
 * and Content-Digest (RFC 9530).
 *
 * A signed response carries
 *
 *   Content-Digest: sha-256=:<base64 of SHA-256(body)>:
 *   X-JWS-Signature: <b64url(protected)>..<b64url(signature)>
 *
 * where the JWS signing input is b64url(protected) "." b64url(body) and the
 * protected header is, in this order,
 *
 *   {"alg":..,"kid":..,["x5c":[..],]"iat":N,"htm":"GET",
 *    "htu":"https://host/path?query","status":200}
 *
 * htm/htu/status bind the body to the request it answers.
 */
#ifndef MIM_JWS_H
#define MIM_JWS_H

#include <stddef.h>
#include <stdint.h>

#include "mim_key.h"
#include "mim_result.h"

/* "sha-256=:" 44 ":" */
#define MIM_CONTENT_DIGEST_LEN  (9 + 44 + 1)

/* longest protected-header JSON we build (x5c chains excluded) */
#define MIM_JWS_HEADER_MAX      8192

/* What a response signature binds, besides the body. */
typedef struct {
    long         iat;
    const char  *htm;       /* method, e.g. "GET" */
    size_t       htm_len;
    const char  *htu;       /* scheme://host[:port]/path?query */
    size_t       htu_len;
    int          status;
} mim_jws_binding_t;

/*
 * Write the protected header JSON for key and binding into dst (cap bytes,
 * NUL-terminated).  Strings are JSON-escaped.  MIM_ERR_LIMIT when too long.
 */
mim_result_t mim_jws_protected_header(char *dst, size_t cap, size_t *len,
    const mim_key_t *key, const mim_jws_binding_t *b);

/*
 * Streaming body signer: computes the Content-Digest and the detached JWS
 * of the bytes fed to it, in any split.  For EdDSA (no prehash in JOSE) the
 * signing input is held in memory until final; use mim_key_can_stream().
 */
typedef struct mim_body_signer_s  mim_body_signer_t;

mim_result_t mim_body_signer_new(mim_body_signer_t **signer,
    const mim_key_t *key, const char *protected_json, size_t len);

mim_result_t mim_body_signer_update(mim_body_signer_t *signer,
    const uint8_t *data, size_t n);

/*
 * Finish: digest gets the Content-Digest value (MIM_CONTENT_DIGEST_LEN + 1
 * bytes), *jws a malloc()ed NUL-terminated "<hdr>..<sig>" (caller frees).
 */
mim_result_t mim_body_signer_final(mim_body_signer_t *signer,
    char *digest, char **jws, size_t *jws_len);

void mim_body_signer_free(mim_body_signer_t *signer);

/* Content-Digest value for a whole buffer (MIM_CONTENT_DIGEST_LEN + 1) */
void mim_content_digest(char *dst, const uint8_t *body, size_t n);

/*
 * Check a Content-Digest field value (an RFC 8941 dictionary, e.g.
 * "sha-256=:...:, sha-512=:...:") against body.  The sha-256 member is
 * required; MIM_ERR_DIGEST on mismatch, MIM_ERR_INVALID when unparseable.
 */
mim_result_t mim_content_digest_check(const char *value, size_t len,
    const uint8_t *body, size_t n);

/* What a verified (or parsed) detached JWS said. */
typedef struct {
    mim_alg_t  alg;
    char       kid[128];        /* "" when absent */
    long       iat;             /* -1 when absent */
    char       htm[16];         /* "" when absent */
    char       htu[2048];       /* "" when absent */
    int        status;          /* -1 when absent */
    size_t     x5c_n;           /* certificates in the header's x5c */
    char       signer[160];     /* "kid <kid>" or the leaf subject */
} mim_jws_info_t;

/* Where verification keys come from: a key set, or x5c to trust anchors. */
typedef struct {
    const mim_keyset_t  *keys;   /* kid lookup; a single key may match
                                    a header without kid */
    X509_STORE          *store;  /* when set, the header's x5c must lead
                                    to it and its leaf key verifies */
    long                 now;    /* for certificate validity; 0: now */
} mim_jws_trust_t;

/*
 * Verify a detached compact JWS over payload.  Rejected: a non-empty
 * payload part, bad base64url, a header that is not a JSON object, alg
 * "none", HS256 and the like, unknown or not the key's, jku/x5u/jwk headers, any crit,
 * unknown kid, x5c not leading to the store, a bad signature.
 */
mim_result_t mim_jws_verify_detached(const char *jws, size_t jws_len,
    const uint8_t *payload, size_t payload_len,
    const mim_jws_trust_t *trust, mim_jws_info_t *info);

/*
 * Compare two request URLs the way htu is bound: scheme and host
 * case-insensitively, a default port (:80 for http, :443 for https)
 * equal to none, path and query byte for byte.  1 when equal.
 */
int mim_htu_equal(const char *a, size_t alen, const char *b, size_t blen);

#endif /* MIM_JWS_H */
