/*
 * test_vc.h - helpers of the verifiable-credential and DID unit tests:
 * parties with did:key identifiers, signing JWTs with any header, VC and
 * VP payloads, DID document directories.
 *
 * Signing and the did:key encoding are written here independently of the
 * code under test (the base58 encoder especially), so that a test does
 * not check the gateway against itself.
 */
#ifndef MIM_TEST_VC_H
#define MIM_TEST_VC_H

#include <jansson.h>
#include <openssl/evp.h>

#include "mim_vc.h"

#define TV_NOW  1700000000LL

/* a key and the DID it signs as */
typedef struct {
    EVP_PKEY  *pkey;
    char       alg[8];          /* ES256, EdDSA, RS256 */
    char       did[160];
    char       kid[320];        /* DID URL of the key */
} tv_party_t;

/* a did:key party: "ED25519" or "P-256" */
void tv_party_didkey(tv_party_t *p, const char *what);

/* a party with its own DID and kid (did:web, URL issuers) */
void tv_party_named(tv_party_t *p, const char *what, const char *did,
    const char *kid);

void tv_party_free(tv_party_t *p);

/* did:key of a public key, independently encoded */
void tv_didkey_of(EVP_PKEY *pkey, char *out, size_t cap);

/* base58btc of bytes (Bitcoin alphabet) */
void tv_base58(const uint8_t *src, size_t n, char *out, size_t cap);

/* public JWK of a key, as JSON text (malloc()ed) */
char *tv_jwk_text(EVP_PKEY *pkey, const char *kid);

/*
 * Sign claims with p into a compact JWS.  header: extra header members
 * (may be NULL); "alg" and "kid" default to the party's unless header
 * has them (a JSON null there removes them).  Steals neither reference.
 */
char *tv_sign(const tv_party_t *p, json_t *header, json_t *claims);

/* JSON text -> json_t, asserting it parses */
json_t *tv_json(const char *text);

/* compact JWT with raw header and payload JSON text and a junk signature */
char *tv_unsigned(const char *header, const char *payload);

/*
 * VC 1.1 claims: iss, sub, nbf TV_NOW-100, exp TV_NOW+3600, jti, and vc
 * with @context, type [VerifiableCredential, type], credentialSubject
 * {id: sub, role: role} (role NULL: none).
 */
json_t *tv_vc11_claims(const char *iss, const char *sub, const char *type,
    const char *role);

/* VC 2.0 (vc+jwt) payload of the same credential, validFrom/Until */
json_t *tv_vc20_claims(const char *iss, const char *sub, const char *type,
    const char *role);

/* VP 1.1 claims by holder: aud, nonce, nbf, exp TV_NOW+300, vp listing
   the tokens (steals vcs, a JSON array of strings) */
json_t *tv_vp11_claims(const char *holder, json_t *vcs);

/* VP 2.0 payload enveloping the tokens (array of strings, stolen) */
json_t *tv_vp20_claims(const char *holder, json_t *vcs);

/* write text to dir/rel (directories made as needed) */
void tv_write(const char *dir, const char *rel, const char *text);

/* a fresh temporary directory (malloc()ed path); removal is recursive */
char *tv_temp_dir(void);
void tv_remove_dir(char *path);

/* verify with cfg; returns the result, fills id (caller frees) */
mim_result_t tv_verify(const mim_vc_config_t *cfg, const char *token,
    mim_identity_t *id);

#endif /* MIM_TEST_VC_H */
