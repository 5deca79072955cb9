/*
 * fuzz_did.c - libFuzzer target for DIDs resolved without the network
 * (trust/mim_did.c): DID URLs from token headers and claims, DID
 * documents from the did:web directory, base58btc.
 *
 * Input: a mode byte, then the text.  Mode 0 (byte % 3): a DID URL,
 * resolved for each verification relationship against a fixed did:web
 * document; a did:key that resolves must encode back to exactly itself
 * (one key, one DID).  Mode 1: a DID document for did:web:fuzz.example,
 * then its keys resolved.  Mode 2: base58btc text; what decodes must
 * encode back to the same text.  Resolved keys must be usable public
 * keys with an algorithm; refusals must say why and leave no key.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>

#include "mim_vc.h"
#include "mim_vc_int.h"

static const char city_doc[] =
    "{\"id\":\"did:web:city.example\",\"verificationMethod\":[{\"id\":"
    "\"#key-1\",\"type\":\"JsonWebKey2020\",\"publicKeyJwk\":{\"kty\":"
    "\"EC\",\"crv\":\"P-256\",\"x\":\"HjgDKMNv5TD57mv7VeVzNK2kyQB96BigAla9"
    "t87XEF0\",\"y\":\"n9jXRzqjp9puYutHX-9Re23sitVSwt9_E8FG5KYtGGU\"}},"
    "{\"id\":\"did:web:city.example#key-2\",\"type\":\"Multikey\","
    "\"publicKeyMultibase\":\"z6MkiTBz1ymuepAQ4HEHYSF1H8quG5GLVVQR3djdX3m"
    "DooWp\"}],\"assertionMethod\":[\"#key-1\"],\"authentication\":"
    "[\"#key-2\"]}";

static mim_did_web_t *web;

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
    mim_result_t r = mim_did_web_new(&web);

    if (mim_ok(r)) {
        r = mim_did_web_add(web, "did:web:city.example", city_doc,
                            sizeof(city_doc) - 1);
    }
    if (!mim_ok(r)) {
        abort();
    }
    return 0;
}

static void
base58_encode(const uint8_t *src, size_t n, char *out)
{
    static const char alphabet[] =
        "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz";
    uint8_t digits[512];
    size_t nd = 0, zeros = 0, i, j, at = 0;

    while (zeros < n && src[zeros] == 0) {
        out[at++] = '1';
        zeros++;
    }
    for (i = zeros; i < n; i++) {
        unsigned carry = src[i];
        for (j = 0; j < nd; j++) {
            carry += (unsigned) digits[j] << 8;
            digits[j] = (uint8_t) (carry % 58);
            carry /= 58;
        }
        while (carry > 0) {
            digits[nd++] = (uint8_t) (carry % 58);
            carry /= 58;
        }
    }
    while (nd > 0) {
        out[at++] = alphabet[digits[--nd]];
    }
    out[at] = '\0';
}

static void
check_key(const mim_key_t *key)
{
    if (key->pkey == NULL || mim_alg_name(key->alg) == NULL
        || !mim_key_accepts_alg(key, key->alg)
        || strlen(key->kid) != MIM_KID_LEN)
    {
        abort();
    }
}

/* a resolved did:key must be the canonical encoding of its key */
static void
check_did_key(const char *did, const mim_key_t *key)
{
    uint8_t raw[2 + 33];
    size_t len = 32;
    char text[128];

    if (EVP_PKEY_is_a(key->pkey, "ED25519")) {
        raw[0] = 0xed;
        raw[1] = 0x01;
        if (!EVP_PKEY_get_raw_public_key(key->pkey, raw + 2, &len)) {
            abort();
        }
    } else {
        BIGNUM *x = NULL, *y = NULL;
        int ok;
        raw[0] = 0x80;
        raw[1] = 0x24;
        ok = EVP_PKEY_get_bn_param(key->pkey, OSSL_PKEY_PARAM_EC_PUB_X, &x)
             && EVP_PKEY_get_bn_param(key->pkey, OSSL_PKEY_PARAM_EC_PUB_Y,
                                      &y)
             && BN_bn2binpad(x, raw + 3, 32) == 32;
        raw[2] = ok && BN_is_odd(y) ? 0x03 : 0x02;
        BN_free(x);
        BN_free(y);
        if (!ok) {
            abort();
        }
        len = 33;
    }
    text[0] = 'z';
    base58_encode(raw, len + 2, text + 1);
    if (strlen(text) != mim_did_len(did) - 8
        || memcmp(text, did + 8, strlen(text)) != 0)
    {
        abort();
    }
}

static void
resolve(const char *url, int is_input)
{
    static const mim_did_purpose_t purposes[] = {
        MIM_DID_ANY, MIM_DID_ASSERTION, MIM_DID_AUTHENTICATION
    };
    mim_key_t key;
    mim_result_t r;
    size_t i;

    for (i = 0; i < 3; i++) {
        r = mim_did_resolve_key_for(url, web, purposes[i], &key);
        if (!mim_ok(r)) {
            if (key.pkey != NULL || r.msg[0] == '\0') {
                abort();
            }
            continue;
        }
        check_key(&key);
        if (is_input && strncmp(url, "did:key:", 8) == 0) {
            check_did_key(url, &key);
        }
        mim_key_free(&key);
    }
}

static void
fuzz_document(const char *text, size_t len)
{
    static const char *const urls[] = {
        "did:web:fuzz.example", "did:web:fuzz.example#key-1",
        "did:web:fuzz.example#key-2"
    };
    mim_did_web_t *saved = web;
    mim_result_t r;
    size_t i;

    if (!mim_ok(mim_did_web_new(&web))) {
        abort();
    }
    r = mim_did_web_add(web, "did:web:fuzz.example", text, len);
    if (mim_ok(r)) {
        for (i = 0; i < sizeof(urls) / sizeof(urls[0]); i++) {
            resolve(urls[i], 0);
        }
    } else if (r.msg[0] == '\0') {
        abort();
    }
    mim_did_web_free(web);
    web = saved;
}

static void
fuzz_base58(const char *text, size_t len)
{
    uint8_t out[300];
    char back[600];
    size_t n;

    if (mim_base58_decode(out, sizeof(out), &n, text, len) != 0) {
        return;
    }
    base58_encode(out, n, back);
    if (strlen(back) != len || memcmp(back, text, len) != 0) {
        abort();
    }
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text;

    if (size == 0) {
        return 0;
    }
    text = malloc(size);
    if (text == NULL) {
        return 0;
    }
    memcpy(text, data + 1, size - 1);
    text[size - 1] = '\0';
    switch (data[0] % 3) {
    case 0:
        if (strlen(text) == size - 1) {
            resolve(text, 1);
        }
        break;
    case 1:
        fuzz_document(text, size - 1);
        break;
    default:
        fuzz_base58(text, size - 1);
    }
    free(text);
    return 0;
}
