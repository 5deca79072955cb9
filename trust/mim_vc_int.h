/*
 * mim_vc_int.h - helpers shared by mim_vc.c, mim_did.c and
 * mim_trusted_issuers.c; not an API (mim_vc.h is).
 */
#ifndef MIM_VC_INT_H
#define MIM_VC_INT_H

#include <stddef.h>
#include <stdint.h>
#include <jansson.h>

#include "mim_key.h"
#include "mim_result.h"
#include "mim_vc.h"

/* ---- DIDs (mim_did.c) ---- */

/* what a key is used for (DID Core verification relationships) */
typedef enum {
    MIM_DID_ANY = 0,
    MIM_DID_ASSERTION,          /* assertionMethod: signs credentials */
    MIM_DID_AUTHENTICATION      /* authentication: signs presentations */
} mim_did_purpose_t;

/*
 * mim_did_resolve_key() for one purpose: a did:web key must be listed in
 * the document's assertionMethod / authentication; every did:key key
 * serves both.
 */
mim_result_t mim_did_resolve_key_for(const char *did_url,
    const mim_did_web_t *web, mim_did_purpose_t purpose, mim_key_t *key);

/* an empty did:web document set, and one document added to it (the
   directory loader's parts, for tests and fuzzing) */
mim_result_t mim_did_web_new(mim_did_web_t **web);
mim_result_t mim_did_web_add(mim_did_web_t *web, const char *did,
    const char *json, size_t len);

/* length of the DID part of a DID URL (before '#', '?' or '/' after the
   method-specific id): "did:web:a.example#k" -> 17 */
size_t mim_did_len(const char *did_url);

/* does s look like a DID ("did:" method ":" ...) */
int mim_is_did(const char *s);

/*
 * A key from a multibase multicodec public key ("z6Mk..." Ed25519,
 * "zDn..." compressed P-256), as in did:key and publicKeyMultibase.
 */
mim_result_t mim_multikey_decode(const char *mb, size_t len, mim_key_t *key);

/* base58btc (Bitcoin alphabet) decode: 0, or -1 on a bad character or
   when the value does not fit cap bytes */
int mim_base58_decode(uint8_t *dst, size_t cap, size_t *dst_len,
    const char *src, size_t n);

/* ---- trusted issuers (mim_trusted_issuers.c) ---- */

typedef struct mim_trusted_issuer_s  mim_trusted_issuer_t;

/* the entry for an issuer id, or NULL */
const mim_trusted_issuer_t *mim_trusted_issuer_find(
    const mim_trusted_issuers_t *list, const char *id);

/* keys listed for the issuer (0: resolve its DID instead) */
size_t mim_trusted_issuer_key_count(const mim_trusted_issuer_t *issuer);

/*
 * The listed key a JWS header's kid names: the JWK's kid or RFC 7638
 * thumbprint, either whole or as the DID URL fragment, or a did:key
 * entry whose DID is the kid's.  Without kid, the only key.
 */
mim_result_t mim_trusted_issuer_key(const mim_trusted_issuer_t *issuer,
    const char *kid, const mim_key_t **key);

/*
 * May the issuer issue a credential of these types (a JSON array of
 * strings, "VerifiableCredential" ignored) with this credentialSubject
 * (an object)?  MIM_ERR_UNTRUSTED with the reason when not.
 */
mim_result_t mim_trusted_issuer_allows(const mim_trusted_issuer_t *issuer,
    const json_t *types, const json_t *subject);

/* ---- dates (mim_vc.c) ---- */

/*
 * An XML Schema dateTime as VC data models use it
 * ("2024-05-01T12:00:00Z", fractions and +hh:mm offsets allowed, a time
 * zone required) -> seconds since the epoch, fractions dropped.
 */
int mim_datetime_parse(const char *s, size_t len, int64_t *t);

#endif /* MIM_VC_INT_H */
