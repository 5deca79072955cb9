/*
 * mim_jwt.h - compact JWS / JWT: strict parsing, verification with a
 * pinned key, and signing with the gateway's key.
 *
 * The key decides the algorithm: a token is verified only with a key whose
 * algorithm (mim_key_accepts_alg) matches the token's "alg", and only when
 * that "alg" is also in the caller's allow-list.  Always refused: "none",
 * HS*, jku / x5u / jwk headers, any crit, tokens over MIM_JWT_MAX bytes,
 * JSON nested deeper than MIM_JWT_MAX_DEPTH, duplicate members.
 *
 * libjwt is not used for verification: it would pick the algorithm from
 * the token's header.
 */
#ifndef MIM_JWT_H
#define MIM_JWT_H

#include <stddef.h>
#include <stdint.h>
#include <jansson.h>

#include "mim_key.h"
#include "mim_result.h"

#define MIM_JWT_MAX        16384    /* bytes of compact token */
#define MIM_JWT_MAX_DEPTH  16       /* JSON nesting in header and claims */

/* A parsed compact JWS; header and claims are owned (json_decref). */
typedef struct {
    json_t       *header;
    json_t       *claims;        /* the payload parsed as a JSON object */
    mim_alg_t     alg;
    const char   *kid;           /* in header, or NULL */
    const char   *typ;           /* in header, or NULL */

    /* the raw parts, pointing into the token given to mim_jwt_parse() */
    const char   *signing_input; /* b64(header) "." b64(payload) */
    size_t        signing_input_len;
    uint8_t      *signature;     /* decoded, malloc()ed */
    size_t        signature_len;
} mim_jwt_t;

/*
 * Parse a compact JWS (three parts, payload a JSON object) without
 * verifying it.  Rejects everything listed at the top of this file.  The
 * token must outlive jwt (signing_input points into it).
 */
mim_result_t mim_jwt_parse(mim_jwt_t *jwt, const char *token, size_t len);

void mim_jwt_free(mim_jwt_t *jwt);

/* A set of algorithms, as a bit mask of (1 << mim_alg_t). */
typedef uint32_t  mim_alg_set_t;

#define mim_alg_bit(alg)  ((mim_alg_set_t) 1 << (alg))

/* "RS256 RS384 ES256" (spaces or commas) -> set; -1 on unknown names and
   on a list that names none (0 must not come to mean "the default") */
int mim_alg_set_parse(const char *names, mim_alg_set_t *set);

/*
 * Verify jwt's signature with key: alg must be in allowed and fit the key.
 * MIM_ERR_UNSUPPORTED for an alg outside allowed (an empty set allows
 * nothing), MIM_ERR_MISMATCH for an alg that does not fit the key,
 * MIM_ERR_SIGNATURE for a bad signature (ES256 and EdDSA: exactly 64
 * bytes; RSA: exactly the modulus length).
 */
mim_result_t mim_jwt_verify(const mim_jwt_t *jwt, const mim_key_t *key,
    mim_alg_set_t allowed);

/*
 * Time claims: exp (required when require_exp), nbf, iat not in the future,
 * each with leeway seconds, at now.  Numeric dates only (RFC 7519).
 */
mim_result_t mim_jwt_check_times(const mim_jwt_t *jwt, int64_t now,
    int64_t leeway, int require_exp);

/* The string claim name, or NULL when absent or not a string. */
const char *mim_jwt_string(const mim_jwt_t *jwt, const char *name);

/* The integer claim name into *out: 0, or -1 when absent / not integer. */
int mim_jwt_integer(const mim_jwt_t *jwt, const char *name, int64_t *out);

/*
 * Sign claims (a JSON object) with key into a compact JWS: header
 * {"alg":<key's>,"typ":typ,"kid":<key's kid>} (typ may be NULL).  *token
 * is malloc()ed and NUL-terminated.
 */
mim_result_t mim_jwt_sign(const mim_key_t *key, const char *typ,
    const json_t *claims, char **token, size_t *len);

/* SHA-256 of a token, base64url: the key of verification caches */
void mim_jwt_hash(const char *token, size_t len, char out[MIM_KID_LEN + 1]);

#endif /* MIM_JWT_H */
