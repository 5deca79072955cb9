/*
 * fuzz_jwks.c - libFuzzer target for JWKS / JWK parsing (trust/mim_key.c),
 * which reads key sets fetched from other parties.
 *
 * Beyond "no crash": every key accepted must survive a round trip through
 * its exported JWK (same thumbprint, same public key, same algorithm) and
 * be found by its kid.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mim_key.h"

static void
check_key(const mim_keyset_t *set, const mim_key_t *key)
{
    mim_key_t back;
    json_t *jwk;
    mim_result_t r;
    const mim_key_t *found;

    if (key->pkey == NULL || strlen(key->kid) != MIM_KID_LEN
        || mim_alg_name(key->alg) == NULL
        || !mim_key_accepts_alg(key, key->alg)
        || mim_key_accepts_alg(key, MIM_ALG_NONE))
    {
        abort();
    }
    found = mim_keyset_find(set, key->kid);
    if (found == NULL || strcmp(found->kid, key->kid) != 0) {
        abort();
    }
    jwk = mim_key_to_jwk(key);
    if (jwk == NULL) {
        abort();
    }
    r = mim_key_from_jwk(&back, jwk);
    if (!mim_ok(r) || strcmp(back.kid, key->kid) != 0
        || EVP_PKEY_eq(back.pkey, key->pkey) != 1
        || back.alg != key->alg || back.alg_pinned != key->alg_pinned
        || back.x5c_n != key->x5c_n)
    {
        abort();
    }
    mim_key_free(&back);
    json_decref(jwk);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    mim_keyset_t set;
    mim_result_t r;
    size_t i;

    r = mim_keyset_from_jwks(&set, (const char *) data, size);
    if (!mim_ok(r)) {
        if (set.keys != NULL || set.n != 0 || r.msg[0] == '\0') {
            abort();
        }
        return 0;
    }
    for (i = 0; i < set.n; i++) {
        check_key(&set, &set.keys[i]);
    }
    mim_keyset_free(&set);
    return 0;
}
