/*
 * mim_identity.h - who is calling: the result of verifying a credential
 * (an iSHARE client assertion, the gateway's own access token, a
 * verifiable presentation or credential).  All strings are malloc()ed and
 * owned by the identity; mim_identity_free() releases them.
 */
#ifndef MIM_IDENTITY_H
#define MIM_IDENTITY_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
    char     *name;             /* e.g. "role" */
    char    **values;           /* one or more string values */
    size_t    n;
} mim_identity_claim_t;

typedef struct {
    char                  *party;       /* the caller's party id or DID */
    char                  *subject;     /* "sub" of what was verified */
    char                  *issuer;      /* who vouched for it */
    const char            *auth_method; /* static: "ishare", "token",
                                           "vc" */
    char                  *credential_types;  /* space-separated, or NULL */
    mim_identity_claim_t  *claims;      /* credentialSubject members */
    size_t                 claims_n;
    int64_t                expires;     /* earliest exp seen; 0: none */
    char                  *jti;         /* or NULL */
} mim_identity_t;

void mim_identity_free(mim_identity_t *id);

/* the values of claim name, or NULL */
const mim_identity_claim_t *mim_identity_claim(const mim_identity_t *id,
    const char *name);

#endif /* MIM_IDENTITY_H */
