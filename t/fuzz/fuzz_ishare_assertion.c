/*
 * fuzz_ishare_assertion.c - libFuzzer target for the iSHARE client
 * assertion (trust/mim_ishare.c): header rules, claims, and the x5c chain
 * (base64 and DER decoding, chain building to the anchor, the party id
 * read from the leaf's subject).
 *
 * Input: "<client_id>\n<assertion>", verified against a fixed root CA at
 * a fixed time inside the seed certificates' validity, the party taken
 * from organizationIdentifier when client_id is a DID, else from
 * serialNumber.  Or "C<DER certificate>": its party id, both ways.
 * Beyond "no crash": a success names client_id as the party and has an
 * expiry within the assertion's 30 s window; a party id is printable
 * ASCII.  The seeds in corpus/fuzz_ishare_assertion were made with
 * python3-cryptography and python3-jwcrypto under this root.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/pem.h>

#include "mim_ishare.h"

#define FUZZ_NOW     1800000000LL   /* 2027-01-15 */
#define FUZZ_LEEWAY  5
#define US           "EU.EORI.NL000000002"

static const char root_pem[] =
    "-----BEGIN CERTIFICATE-----\n"
    "MIIBYjCCAQegAwIBAgIUdHnzWByQ9AfQksToo6JqWNaEZGEwCgYIKoZIzj0EAwIw\n"
    "HjEcMBoGA1UEAwwTRnV6eiBpU0hBUkUgUm9vdCBDQTAeFw0yNjAxMDEwMDAwMDBa\n"
    "Fw00NjAxMDEwMDAwMDBaMB4xHDAaBgNVBAMME0Z1enogaVNIQVJFIFJvb3QgQ0Ew\n"
    "WTATBgcqhkjOPQIBBggqhkjOPQMBBwNCAASyYigbPzEmmscXSz6nEtjd3jp8XqN9\n"
    "2FzQZqsuzM3HM1T8uNdwWDj0/+0s2KRKxmBhLYvKBn4Ah2SppID5Xg61oyMwITAP\n"
    "BgNVHRMBAf8EBTADAQH/MA4GA1UdDwEB/wQEAwIBBjAKBggqhkjOPQQDAgNJADBG\n"
    "AiEAo0IW4VzQwYyTl9jLM7w5MYO6kTbv5raGoSZg9OKtjukCIQDYu1HjOl1NZRww\n"
    "iwMnsrVBHGasQPXWT51E0X3mPTiJjQ==\n"
    "-----END CERTIFICATE-----\n"
;

static X509_STORE  *store;

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
    BIO *bio = BIO_new_mem_buf(root_pem, sizeof(root_pem) - 1);
    X509 *root = PEM_read_bio_X509(bio, NULL, NULL, NULL);

    store = X509_STORE_new();
    if (root == NULL || store == NULL || !X509_STORE_add_cert(store, root)) {
        abort();
    }
    X509_free(root);
    BIO_free(bio);
    return 0;
}

static void
check_result(mim_result_t r)
{
    if (mim_ok(r) != (r.code == MIM_OK) || strlen(r.msg) >= MIM_MSG_MAX
        || (!mim_ok(r) && r.msg[0] == '\0'))
    {
        abort();
    }
}

static void
party_of_der(const uint8_t *der, size_t len)
{
    const unsigned char *p = der;
    X509 *cert = d2i_X509(NULL, &p, (long) len);
    mim_party_source_t from;
    mim_result_t r;
    char *party;
    size_t i;

    if (cert == NULL) {
        return;
    }
    for (from = MIM_PARTY_SERIAL_NUMBER; from <= MIM_PARTY_ORGANIZATION_ID;
         from++)
    {
        r = mim_ishare_party_of_cert(cert, from, &party);
        check_result(r);
        if (mim_ok(r) != (party != NULL)) {
            abort();
        }
        for (i = 0; party != NULL && party[i] != '\0'; i++) {
            if (party[i] <= 0x20 || party[i] >= 0x7f) {
                abort();
            }
        }
        if (party != NULL && from == MIM_PARTY_ORGANIZATION_ID
            && strncmp(party, "did:ishare:", 11) != 0)
        {
            abort();
        }
        free(party);
    }
    X509_free(cert);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const uint8_t *nl;
    mim_ishare_config_t cfg = {
        .participant_id = US, .anchors = store, .now = FUZZ_NOW,
        .leeway = FUZZ_LEEWAY
    };
    mim_identity_t id;
    mim_result_t r;
    char *client_id;

    if (size > 0 && data[0] == 'C') {
        party_of_der(data + 1, size - 1);
        return 0;
    }
    nl = memchr(data, '\n', size);
    if (nl == NULL) {
        return 0;
    }
    client_id = strndup((const char *) data, (size_t) (nl - data));
    if (client_id == NULL) {
        return 0;
    }
    cfg.party_from = strncmp(client_id, "did:", 4) == 0
                     ? MIM_PARTY_ORGANIZATION_ID : MIM_PARTY_SERIAL_NUMBER;
    r = mim_ishare_verify_assertion(&cfg, client_id, (const char *) nl + 1,
                                    size - (size_t) (nl + 1 - data), &id);
    check_result(r);
    if (mim_ok(r)
        && (strcmp(id.party, client_id) != 0 || id.jti == NULL
            || id.jti[0] == '\0' || strcmp(id.auth_method, "ishare") != 0
            || id.expires <= FUZZ_NOW - FUZZ_LEEWAY
            || id.expires > FUZZ_NOW + FUZZ_LEEWAY
                            + MIM_ISHARE_ASSERTION_LIFETIME))
    {
        abort();
    }
    if (!mim_ok(r) && (id.party != NULL || id.jti != NULL)) {
        abort();
    }
    mim_identity_free(&id);
    free(client_id);
    return 0;
}
