/*
 * fuzz_trusted_issuers.c - libFuzzer target for the trusted-issuers list
 * (trust/mim_trusted_issuers.c), a configuration file that an operator
 * may assemble from other parties' lists.
 *
 * Input: the list's JSON.  Beyond "no crash": a refusal leaves no list
 * and says why; an accepted list answers lookups of the ids below, and
 * for each one found, key lookups (a found key is a usable public key
 * with an algorithm) and type checks (a refusal is "untrusted" with a
 * reason) run on fixed inputs.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mim_vc.h"
#include "mim_vc_int.h"

static const char *const ids[] = {
    "did:web:city.example",
    "did:key:z6MkiTBz1ymuepAQ4HEHYSF1H8quG5GLVVQR3djdX3mDooWp",
    "https://issuer.example",
    "did:web:a.example",
};

static const char *const kids[] = {
    NULL, "key-1", "#key-1", "did:web:city.example#key-1",
    "did:key:z6MkiTBz1ymuepAQ4HEHYSF1H8quG5GLVVQR3djdX3mDooWp",
    "did:key:zDnaerDaTF5BXEavCrfRZEk316dpbLsfPDZ3WJ5hRTPFU2169#zDnaerDaTF5BXE"
    "avCrfRZEk316dpbLsfPDZ3WJ5hRTPFU2169", "#",
};

static json_t *types, *subject;

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
    types = json_loads("[\"VerifiableCredential\",\"MembershipCredential\","
                       "\"ParkingPermit\"]", 0, NULL);
    subject = json_loads("{\"id\":\"did:web:x\",\"role\":[\"reader\",3,true],"
                         "\"zone\":\"north\",\"o\":{\"a\":1}}", 0, NULL);
    if (types == NULL || subject == NULL) {
        abort();
    }
    return 0;
}

static void
check_issuer(const mim_trusted_issuer_t *e)
{
    const mim_key_t *key;
    mim_result_t r;
    size_t i;

    for (i = 0; i < sizeof(kids) / sizeof(kids[0]); i++) {
        r = mim_trusted_issuer_key(e, kids[i], &key);
        if (mim_ok(r) && (key == NULL || key->pkey == NULL
                          || mim_alg_name(key->alg) == NULL))
        {
            abort();
        }
        if (!mim_ok(r) && (key != NULL || r.msg[0] == '\0')) {
            abort();
        }
    }
    r = mim_trusted_issuer_allows(e, types, subject);
    if (!mim_ok(r) && (r.code != MIM_ERR_UNTRUSTED || r.msg[0] == '\0')) {
        abort();
    }
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    mim_trusted_issuers_t *list;
    const mim_trusted_issuer_t *e;
    mim_result_t r;
    size_t i;

    r = mim_trusted_issuers_parse(&list, (const char *) data, size);
    if (!mim_ok(r)) {
        if (list != NULL || r.msg[0] == '\0') {
            abort();
        }
        return 0;
    }
    for (i = 0; i < sizeof(ids) / sizeof(ids[0]); i++) {
        e = mim_trusted_issuer_find(list, ids[i]);
        if (e != NULL) {
            check_issuer(e);
        }
    }
    mim_trusted_issuers_free(list);
    return 0;
}
