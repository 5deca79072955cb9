/*
 * mim_ishare.h - iSHARE-style client credentials (DESIGN.md, "Identity
 * and trust"): the token request form, the client assertion, and the
 * gateway's own access tokens.
 *
 * A client assertion is accepted only when: alg is in the allow-list
 * (RS256/RS384/RS512 by default); its header has no member but alg, typ
 * and x5c; x5c is a chain, leaf first, that validates to the trust
 * anchors (never x5c[0] alone); iss = sub = client_id = the party id
 * bound to the leaf certificate (subject serialNumber, or
 * organizationIdentifier); aud is the gateway's party id as one string;
 * iat <= now + leeway; exp = iat + 30 and exp + leeway > now; jti is
 * present (its freshness is checked by the caller's replay cache).
 */
#ifndef MIM_ISHARE_H
#define MIM_ISHARE_H

#include <stddef.h>
#include <stdint.h>
#include <openssl/x509.h>

#include "mim_identity.h"
#include "mim_jwt.h"
#include "mim_key.h"
#include "mim_result.h"

/* RFC 6749 section 5.2 error codes */
#define MIM_OAUTH_INVALID_REQUEST         "invalid_request"
#define MIM_OAUTH_INVALID_CLIENT          "invalid_client"
#define MIM_OAUTH_UNSUPPORTED_GRANT_TYPE  "unsupported_grant_type"
#define MIM_OAUTH_INVALID_SCOPE           "invalid_scope"

#define MIM_ISHARE_ASSERTION_LIFETIME  30

/* bytes of a token request body; more is invalid_request */
#define MIM_TOKEN_REQUEST_MAX  (32 * 1024)

/* the members of a token request (application/x-www-form-urlencoded),
   percent-decoded, malloc()ed; NULL when absent */
typedef struct {
    char  *grant_type;
    char  *scope;
    char  *client_id;
    char  *client_assertion_type;
    char  *client_assertion;
} mim_token_request_t;

/*
 * Parse and check a token request body: grant_type client_credentials,
 * scope containing the word "iSHARE", client_id, client_assertion_type
 * urn:ietf:params:oauth:client-assertion-type:jwt-bearer, and a
 * client_assertion.  On failure *oauth_error is one of the codes above.
 * A member given twice is invalid_request.
 */
mim_result_t mim_token_request_parse(mim_token_request_t *req,
    const char *body, size_t len, const char **oauth_error);

void mim_token_request_free(mim_token_request_t *req);

typedef enum {
    MIM_PARTY_SERIAL_NUMBER = 0,     /* 2.5.4.5, EU.EORI.... */
    MIM_PARTY_ORGANIZATION_ID        /* 2.5.4.97, did:ishare:... form */
} mim_party_source_t;

typedef struct {
    const char          *participant_id;  /* ours: the required aud */
    X509_STORE          *anchors;         /* with CRLs when configured */
    mim_alg_set_t        algs;            /* 0: RS256 RS384 RS512 */
    mim_party_source_t   party_from;
    int64_t              now;
    int64_t              leeway;          /* seconds */
} mim_ishare_config_t;

/*
 * Verify a client assertion for client_id.  On success id has party =
 * client_id, subject, issuer (= party), auth_method "ishare", jti and
 * expires = exp.  Every failure is MIM_ERR_* with a precise message; the
 * OAuth error for all of them is invalid_client.
 *
 * The leaf must not be a CA certificate and its keyUsage, when present,
 * must allow signatures.  Certificates are checked at cfg->now (a CRL
 * check when the store has X509_V_FLAG_CRL_CHECK).  The decoded form of
 * x5c certificates is kept in a small process-wide cache keyed by their
 * exact text (decoding costs ~150 us in OpenSSL 3.0); the chain itself is
 * validated every time.  Thread-safe.
 */
mim_result_t mim_ishare_verify_assertion(const mim_ishare_config_t *cfg,
    const char *client_id, const char *assertion, size_t len,
    mim_identity_t *id);

/*
 * The party id bound to a certificate: its subject serialNumber or
 * organizationIdentifier (as configured), into a malloc()ed string.
 * Exactly one such attribute, printable ASCII without spaces.
 * serialNumber is the party id as it is ("EU.EORI.NL000000001").  An
 * organizationIdentifier that is a did:ishare is taken as it is; one of
 * the ETSI EN 319 412-1 form "NTRNL-12345678" (type, country, '-', id)
 * maps to "did:ishare:EU.NL.NTRNL-12345678"; any other is refused.
 */
mim_result_t mim_ishare_party_of_cert(X509 *cert, mim_party_source_t from,
    char **party);

/*
 * The gateway's access token: a JWT signed with key, {"iss": our_id,
 * "aud": our_id, "sub": party, "jti": random, "iat": now, "exp": now +
 * ttl}, typ "at+jwt".  *token is malloc()ed.
 */
mim_result_t mim_access_token_issue(const mim_key_t *key, const char *our_id,
    const char *party, int64_t now, int64_t ttl, char **token);

/*
 * Verify one of our access tokens: signed by key (alg pinned by it), iss
 * and aud = our_id (aud a single string), exp in the future with leeway.
 * On success id has party = subject = sub, issuer = our_id, auth_method
 * "token", jti, expires.
 */
mim_result_t mim_access_token_verify(const mim_key_t *key, const char *our_id,
    const char *token, size_t len, int64_t now, int64_t leeway,
    mim_identity_t *id);

#endif /* MIM_ISHARE_H */
