/*
 * fuzz_vc.c - libFuzzer target for verifiable presentations and
 * credentials as JWTs (trust/mim_vc.c), what a caller puts in its
 * Authorization header.
 *
 * Input: one compact JWT.  It is verified twice at a fixed time: with
 * aud / nonce required and credentialStatus refused, then with neither.
 * The trusted issuers are two did:key issuers and did:web:city.example
 * (its DID document is below).  Beyond "no crash": a success names a
 * DID holder, an issuer the list trusts and the "vc" method, and never
 * expires before now; a failure leaves the identity empty and says why.
 *
 * The seeds in corpus/fuzz_vc were made with python3-jwcrypto, keys
 * derived from SHA-256 of labels: Ed25519 private key = SHA-256("mim fuzz
 * issuer ed25519") (issuer A), P-256 scalar = SHA-256("mim fuzz issuer
 * p256") (issuer B), "mim fuzz holder ed25519", "mim fuzz holder p256",
 * "mim fuzz city p256" (did:web:city.example#key-1).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mim_vc.h"
#include "mim_vc_int.h"

#define FUZZ_NOW     1700000000
#define ISSUER_A     "did:key:z6MkqiPH9zd6DRw25DnfEKnQimf76cUxrdJ2Ukt8vb8AKC7U"
#define ISSUER_B     "did:key:zDnaey99WNMCum6ajwVYZEB5YK3We5D6S4egqcnWhytBiV6tM"
#define ISSUER_CITY  "did:web:city.example"

static const char issuers_json[] =
    "{\"issuers\":["
    "{\"id\":\"" ISSUER_A "\",\"credentials\":[{\"type\":"
    "\"MembershipCredential\",\"claims\":[{\"name\":\"role\","
    "\"allowedValues\":[\"reader\",\"operator\"]}]}]},"
    "{\"id\":\"" ISSUER_B "\"},"
    "{\"id\":\"" ISSUER_CITY "\"}]}";

static const char city_doc[] =
    "{\"id\":\"did:web:city.example\",\"verificationMethod\":[{\"id\":"
    "\"#key-1\",\"type\":\"JsonWebKey2020\",\"publicKeyJwk\":{\"kty\":"
    "\"EC\",\"crv\":\"P-256\",\"x\":\"HjgDKMNv5TD57mv7VeVzNK2kyQB96BigAla9"
    "t87XEF0\",\"y\":\"n9jXRzqjp9puYutHX-9Re23sitVSwt9_E8FG5KYtGGU\"}}],"
    "\"assertionMethod\":[\"#key-1\"],\"authentication\":[\"#key-1\"]}";

static mim_trusted_issuers_t  *issuers;
static mim_did_web_t          *web;

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
    mim_result_t r;

    r = mim_trusted_issuers_parse(&issuers, issuers_json,
                                  sizeof(issuers_json) - 1);
    if (mim_ok(r)) {
        r = mim_did_web_new(&web);
    }
    if (mim_ok(r)) {
        r = mim_did_web_add(web, ISSUER_CITY, city_doc, sizeof(city_doc) - 1);
    }
    if (!mim_ok(r)) {
        abort();
    }
    return 0;
}

static int
identity_empty(const mim_identity_t *id)
{
    return id->party == NULL && id->subject == NULL && id->issuer == NULL
           && id->credential_types == NULL && id->claims == NULL
           && id->claims_n == 0 && id->expires == 0 && id->jti == NULL;
}

static void
check_identity(const mim_vc_config_t *cfg, const mim_identity_t *id)
{
    const char *t;
    size_t i, n;

    if (id->party == NULL || !mim_is_did(id->party) || id->issuer == NULL
        || mim_trusted_issuer_find(cfg->issuers, id->issuer) == NULL
        || id->auth_method == NULL || strcmp(id->auth_method, "vc") != 0
        || (id->expires != 0 && id->expires + cfg->leeway <= cfg->now))
    {
        abort();
    }
    /* space-separated words, never VerifiableCredential itself */
    for (t = id->credential_types; t != NULL && *t != '\0'; t += n + 1) {
        n = strcspn(t, " ");
        if (n == 0 || (n == 20 && memcmp(t, "VerifiableCredential", 20) == 0))
        {
            abort();
        }
        if (t[n] == '\0') {
            break;
        }
    }
    for (i = 0; i < id->claims_n; i++) {
        if (id->claims[i].name == NULL || id->claims[i].n == 0
            || strcmp(id->claims[i].name, "id") == 0)
        {
            abort();
        }
    }
}

static void
verify(const mim_vc_config_t *cfg, const uint8_t *data, size_t size)
{
    mim_identity_t id;
    mim_result_t r;

    r = mim_vc_verify(cfg, (const char *) data, size, &id);
    if (mim_ok(r)) {
        check_identity(cfg, &id);
    } else if (r.msg[0] == '\0' || !identity_empty(&id)) {
        abort();
    }
    mim_identity_free(&id);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    mim_vc_config_t cfg;

    memset(&cfg, 0, sizeof(cfg));
    cfg.issuers = issuers;
    cfg.did_web = web;
    cfg.now = FUZZ_NOW;
    cfg.leeway = 60;
    cfg.audience = "https://gateway.example";
    cfg.nonce = "fuzz-nonce";
    verify(&cfg, data, size);

    cfg.audience = NULL;
    cfg.nonce = NULL;
    cfg.status_optional = 1;
    verify(&cfg, data, size);
    return 0;
}
