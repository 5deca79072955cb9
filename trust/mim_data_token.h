/*
 * mim_data_token.h - the data-access token of a DSP transfer (pure C).
 *
 * The gateway hands it to a consumer in the DataAddress of a
 * TransferStartMessage (endpointProperties authorization, authType
 * bearer); the agreement-gated data plane (`mim_agreement on;`) accepts
 * nothing else.  A compact JWS made with the gateway's key
 * (mim_signing_key), typ "mim-dat+jwt" so that it can never pass for an
 * access token (at+jwt) nor the reverse:
 *
 *   {"iss": our participant id, "aud": our participant id,
 *    "sub": the consumer's participant id, "agreement": agreement @id,
 *    "transfer": the transfer's providerPid, "target": the dataset @id,
 *    "jti": the token's id (the transfer record's tokenId), "iat", "exp"}
 */
#ifndef MIM_DATA_TOKEN_H
#define MIM_DATA_TOKEN_H

#include <stdint.h>
#include <stddef.h>

#include "mim_result.h"
#include "mim_key.h"


#define MIM_DATA_TOKEN_TYP  "mim-dat+jwt"


typedef struct {
    char     *issuer;       /* iss (= aud) */
    char     *subject;      /* sub: the consumer */
    char     *agreement;
    char     *transfer;
    char     *target;
    char     *jti;
    int64_t   iat;
    int64_t   exp;
} mim_data_token_t;

/*
 * Sign a token for t's subject, agreement, transfer, target and jti (all
 * required, non-empty), issued by our_id at now, valid ttl seconds
 * (t->iss, iat and exp are ignored).  *token is malloc()ed.
 */
mim_result_t mim_data_token_issue(const mim_key_t *key, const char *our_id,
    const mim_data_token_t *t, int64_t now, int64_t ttl, char **token);

/*
 * Verify a token: signed by key with the algorithm the key decides, typ
 * mim-dat+jwt, iss and aud (a single string) = our_id, every claim above
 * present and of its type, exp in the future (leeway seconds), iat not in
 * the future.  On success *out holds the claims (malloc()ed: free with
 * mim_data_token_free()).  The error's message says what is wrong
 * ("token expired", "typ is not mim-dat+jwt", ...).
 */
mim_result_t mim_data_token_verify(const mim_key_t *key, const char *our_id,
    const char *token, size_t len, int64_t now, int64_t leeway,
    mim_data_token_t *out);

void mim_data_token_free(mim_data_token_t *t);


#endif /* MIM_DATA_TOKEN_H */
