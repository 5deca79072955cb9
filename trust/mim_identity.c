/*
 * mim_identity.c - who is calling: owned strings and claims of a verified
 * credential.
 */
#include <stdlib.h>
#include <string.h>

#include "mim_identity.h"

void
mim_identity_free(mim_identity_t *id)
{
    size_t i, j;

    if (id == NULL) {
        return;
    }
    for (i = 0; id->claims != NULL && i < id->claims_n; i++) {
        for (j = 0; id->claims[i].values != NULL && j < id->claims[i].n; j++)
        {
            free(id->claims[i].values[j]);
        }
        free(id->claims[i].values);
        free(id->claims[i].name);
    }
    free(id->claims);
    free(id->party);
    free(id->subject);
    free(id->issuer);
    free(id->credential_types);
    free(id->jti);
    memset(id, 0, sizeof(*id));
}

const mim_identity_claim_t *
mim_identity_claim(const mim_identity_t *id, const char *name)
{
    size_t i;

    if (id == NULL || name == NULL) {
        return NULL;
    }
    for (i = 0; i < id->claims_n; i++) {
        if (id->claims[i].name != NULL
            && strcmp(id->claims[i].name, name) == 0)
        {
            return &id->claims[i];
        }
    }
    return NULL;
}
