/*
 * mim_vc.h - W3C verifiable credentials and presentations as JWTs.
 *
 * Accepted forms:
 *   - VC Data Model 1.1 JWT: a "vc" claim (VC), a "vp" claim whose
 *     verifiableCredential lists VC JWTs (VP);
 *   - VC 2.0 / VC-JOSE-COSE: typ "vc+jwt" / "vp+jwt", the payload is the
 *     credential or presentation itself ("vc"/"vp" claims must be absent);
 *     a VP lists EnvelopedVerifiableCredential entries whose id is
 *     "data:application/vc+jwt,<jwt>".
 *
 * Issuer keys: did:key (Ed25519, P-256), resolved locally; did:web, from
 * DID documents loaded at configuration time from a directory; keys given
 * in the trusted-issuers list.  Never a network fetch.
 *
 * Checks: signature by a key of the stated issuer (kid a DID URL of that
 * issuer), algorithm in the allow-list and fitting the key, exp / nbf /
 * validFrom / validUntil / expirationDate with leeway, issuer trusted for
 * the credential's types (and claim values when the list restricts them),
 * holder binding (the VP is signed by the credentialSubject.id of every
 * credential), VP aud / nonce when configured, credentialStatus rejected
 * unless status_optional.
 */
#ifndef MIM_VC_H
#define MIM_VC_H

#include <stddef.h>
#include <stdint.h>

#include "mim_identity.h"
#include "mim_jwt.h"
#include "mim_key.h"
#include "mim_result.h"

/* most credentials one presentation may carry */
#define MIM_VC_MAX_CREDENTIALS  16

/* The trusted issuers list (docs/identity.md has the file format). */
typedef struct mim_trusted_issuers_s  mim_trusted_issuers_t;

mim_result_t mim_trusted_issuers_parse(mim_trusted_issuers_t **list,
    const char *json, size_t len);
mim_result_t mim_trusted_issuers_load(mim_trusted_issuers_t **list,
    const char *path);
void mim_trusted_issuers_free(mim_trusted_issuers_t *list);

/* DID documents for did:web, from DIR/<host>[/<path>]/did.json files
   (docs/identity.md has the layout) */
typedef struct mim_did_web_s  mim_did_web_t;

mim_result_t mim_did_web_load_dir(mim_did_web_t **web, const char *dir);
void mim_did_web_free(mim_did_web_t *web);

/*
 * The public key named by a DID URL ("did:key:z6Mk...#z6Mk...",
 * "did:web:city.example#key-1"), or the DID's only key when there is no
 * fragment.  web may be NULL (did:web is then unknown).
 */
mim_result_t mim_did_resolve_key(const char *did_url, const mim_did_web_t *web,
    mim_key_t *key);

typedef struct {
    const mim_trusted_issuers_t  *issuers;
    const mim_did_web_t          *did_web;
    mim_alg_set_t                 algs;     /* 0: ES256 EdDSA RS256 PS256 */
    int64_t                       now;
    int64_t                       leeway;
    const char                   *audience; /* required VP aud, or NULL */
    const char                   *nonce;    /* required VP nonce, or NULL */
    int                           status_optional;
} mim_vc_config_t;

/*
 * Verify a VP or VC JWT.  On success id has party = the holder's DID
 * (VP signer / credentialSubject.id), subject, issuer (of the first
 * credential), auth_method "vc", credential_types, the credentialSubject
 * members as claims (strings, numbers and booleans as text; arrays of
 * them), and expires = the earliest expiry of all that was verified.
 */
mim_result_t mim_vc_verify(const mim_vc_config_t *cfg, const char *token,
    size_t len, mim_identity_t *id);

#endif /* MIM_VC_H */
