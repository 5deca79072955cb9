/*
 * test_did.c - DIDs resolved without the network (trust/mim_did.c):
 * base58btc, did:key (the spec's test vectors and fresh keys), did:web
 * documents loaded from a directory, verification relationships, and
 * credentials from a did:web issuer end to end.
 */
#define _GNU_SOURCE     /* asprintf */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "mim_b64.h"
#include "mim_vc.h"
#include "mim_vc_int.h"
#include "test_vc.h"
#include "unit.h"

static mim_key_t key;
static mim_did_web_t *web;
static char *dir;

static void
teardown(void)
{
    mim_key_free(&key);
    mim_did_web_free(web);
    web = NULL;
    tv_remove_dir(dir);
    dir = NULL;
}

TestSuite(did, .fini = teardown);

/* ---- base58btc ---- */

Test(did, base58_decodes_known_values)
{
    uint8_t out[64];
    size_t n;

    cr_assert_eq(mim_base58_decode(out, sizeof(out), &n, "StV1DL6CwTryKyV",
                                   15), 0);
    cr_assert_eq(n, 11);
    cr_assert_eq(memcmp(out, "hello world", 11), 0);
    /* leading '1's are leading zero bytes */
    cr_assert_eq(mim_base58_decode(out, sizeof(out), &n, "112", 3), 0);
    cr_assert_eq(n, 3);
    cr_assert_eq(out[0], 0);
    cr_assert_eq(out[1], 0);
    cr_assert_eq(out[2], 1);
    cr_assert_eq(mim_base58_decode(out, sizeof(out), &n, "", 0), 0);
    cr_assert_eq(n, 0);
}

Test(did, base58_refuses_characters_outside_the_alphabet)
{
    uint8_t out[64];
    size_t n;
    const char *bad[] = { "0", "O", "I", "l", "+", "a b" };
    size_t i;

    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        cr_assert_eq(mim_base58_decode(out, sizeof(out), &n, bad[i],
                                       strlen(bad[i])), -1, "%s", bad[i]);
    }
    /* does not fit */
    cr_assert_eq(mim_base58_decode(out, 2, &n, "StV1DL6CwTryKyV", 15), -1);
}

Test(did, base58_round_trips_random_bytes)
{
    uint8_t in[40], out[64];
    char text[128];
    size_t n;
    uint32_t seed;

    for (seed = 1; seed < 200; seed++) {
        ut_fill(in, sizeof(in), seed);
        in[0] = (uint8_t) (seed % 3 ? in[0] : 0);   /* some leading zeros */
        tv_base58(in, sizeof(in), text, sizeof(text));
        cr_assert_eq(mim_base58_decode(out, sizeof(out), &n, text,
                                       strlen(text)), 0);
        cr_assert_eq(n, sizeof(in));
        cr_assert_eq(memcmp(in, out, n), 0);
    }
}

/* ---- did:key ---- */

static void
assert_key_is_jwk(const mim_key_t *k, const char *jwk_text)
{
    json_t *jwk = tv_json(jwk_text);
    mim_key_t want;
    mim_result_t r = mim_key_from_jwk(&want, jwk);

    cr_assert(mim_ok(r), "%s", r.msg);
    cr_assert_eq(EVP_PKEY_eq(k->pkey, want.pkey), 1);
    cr_assert_str_eq(k->kid, want.kid);
    cr_assert_eq(k->alg, want.alg);
    mim_key_free(&want);
    json_decref(jwk);
}

/* test vectors of the did:key method specification */
Test(did, did_key_ed25519_vector)
{
    mim_result_t r = mim_did_resolve_key(
        "did:key:z6MkiTBz1ymuepAQ4HEHYSF1H8quG5GLVVQR3djdX3mDooWp", NULL,
        &key);

    cr_assert(mim_ok(r), "%s", r.msg);
    cr_assert_eq(key.alg, MIM_ALG_EDDSA);
    assert_key_is_jwk(&key, "{\"kty\":\"OKP\",\"crv\":\"Ed25519\",\"x\":"
                      "\"O2onvM62pC1io6jQKm8Nc2UyFXcd4kOmOsBIoYtZ2ik\"}");
}

Test(did, did_key_p256_vector)
{
    mim_result_t r = mim_did_resolve_key(
        "did:key:zDnaerDaTF5BXEavCrfRZEk316dpbLsfPDZ3WJ5hRTPFU2169#"
        "zDnaerDaTF5BXEavCrfRZEk316dpbLsfPDZ3WJ5hRTPFU2169", NULL, &key);

    cr_assert(mim_ok(r), "%s", r.msg);
    cr_assert_eq(key.alg, MIM_ALG_ES256);
    assert_key_is_jwk(&key, "{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":"
                      "\"fyNYMN0976ci7xqiSdag3buk-ZCwgXU4kz9XNkBlNUI\","
                      "\"y\":\"hW2ojTNfH7Jbi8--CJUo3OCbH3y5n91g-IMA9MLMbTU\"}");
}

Test(did, did_key_of_fresh_keys)
{
    const char *what[] = { "ED25519", "P-256" };
    char did[160];
    size_t i;
    int round;
    mim_result_t r;

    for (i = 0; i < 2; i++) {
        for (round = 0; round < 8; round++) {   /* both y parities */
            EVP_PKEY *pkey = ut_keygen(what[i]);
            tv_didkey_of(pkey, did, sizeof(did));
            r = mim_did_resolve_key(did, NULL, &key);
            cr_assert(mim_ok(r), "%s: %s", did, r.msg);
            cr_assert_eq(EVP_PKEY_eq(key.pkey, pkey), 1, "%s", did);
            mim_key_free(&key);
            EVP_PKEY_free(pkey);
        }
    }
}

static void
did_refused(const char *did, mim_code_t code, const char *words)
{
    mim_result_t r = mim_did_resolve_key(did, NULL, &key);

    cr_assert_eq(r.code, code, "%s: %s", did, r.msg);
    cr_assert_not_null(strstr(r.msg, words), "\"%s\" not in: %s", words,
                       r.msg);
    cr_assert_null(key.pkey);
}

Test(did, did_key_refusals)
{
    /* fragment naming another key */
    did_refused("did:key:z6MkiTBz1ymuepAQ4HEHYSF1H8quG5GLVVQR3djdX3mDooWp"
                "#key-1", MIM_ERR_NOT_FOUND, "has no key");
    /* secp256k1 (0xe7): not a key we verify with */
    did_refused("did:key:zQ3shokFTS3brHcDQrn82RUDfCZESWL1ZdCEJwekUDPQiYBme",
                MIM_ERR_UNSUPPORTED, "not supported");
    /* base64 ('m') instead of base58btc */
    did_refused("did:key:mO2onvM62pC1io6jQKm8Nc2UyFXcd4kOmOsBIoYtZ2ik",
                MIM_ERR_UNSUPPORTED, "base58btc");
    did_refused("did:key:z6MkiTBz1ymuepAQ4HEHYSF1H8quG5GLVVQR3djdX3mDooW0",
                MIM_ERR_INVALID, "base58btc");
    did_refused("did:key:z6MkiTBz1ymuepAQ4HEHYSF1H8quG5GLVVQR3djdX3mDooWp/x",
                MIM_ERR_UNSUPPORTED, "path or query");
    did_refused("did:example:123", MIM_ERR_UNSUPPORTED, "did:example");
    did_refused("https://city.example", MIM_ERR_INVALID, "not a DID URL");
    did_refused("did:web:city.example", MIM_ERR_NOT_FOUND,
                "no did:web documents");
}

Test(did, did_key_ed25519_of_31_bytes)
{
    uint8_t raw[2 + 31] = { 0xed, 0x01, 0x42 };
    char b58[80], did[100];

    tv_base58(raw, sizeof(raw), b58, sizeof(b58));
    snprintf(did, sizeof(did), "did:key:z%s", b58);
    did_refused(did, MIM_ERR_INVALID, "not 32 bytes");
}

Test(did, did_key_p256_point_not_on_curve)
{
    uint8_t raw[35] = { 0x80, 0x24, 0x02 };
    char b58[80], did[100];

    raw[34] = 1;        /* x = 1: no y on P-256 (checked with Python) */
    tv_base58(raw, sizeof(raw), b58, sizeof(b58));
    snprintf(did, sizeof(did), "did:key:z%s", b58);
    did_refused(did, MIM_ERR_INVALID, "not a point on the curve");
    raw[2] = 0x04;      /* uncompressed prefix with 32 bytes */
    tv_base58(raw, sizeof(raw), b58, sizeof(b58));
    snprintf(did, sizeof(did), "did:key:z%s", b58);
    did_refused(did, MIM_ERR_INVALID, "compressed");
}

Test(did, did_helpers)
{
    cr_assert_eq(mim_did_len("did:web:a.example#k"), 17);
    cr_assert_eq(mim_did_len("did:web:a.example"), 17);
    cr_assert(mim_is_did("did:web:a"));
    cr_assert(!mim_is_did("did:web:"));
    cr_assert(!mim_is_did("did::x"));
    cr_assert(!mim_is_did("did:Web:x"));
    cr_assert(!mim_is_did("urn:x"));
}

/* ---- did:web documents ---- */

/* a DID document for did with the key as publicKeyJwk (or multibase when
   jwk is 0), listed in the given relationships */
static char *
doc_text(const char *did, EVP_PKEY *pkey, const char *frag, int jwk,
    const char *relationships)
{
    char *vm, *text, mb[160];

    if (jwk) {
        char *j = tv_jwk_text(pkey, NULL);
        cr_assert_gt(asprintf(&vm, "\"publicKeyJwk\":%s", j), 0);
        free(j);
    } else {
        tv_didkey_of(pkey, mb, sizeof(mb));
        cr_assert_gt(asprintf(&vm, "\"publicKeyMultibase\":\"%s\"", mb + 8),
                     0);
    }
    cr_assert_gt(asprintf(&text,
        "{\"@context\":[\"https://www.w3.org/ns/did/v1\"],\"id\":\"%s\","
        "\"verificationMethod\":[{\"id\":\"%s#%s\",\"type\":\"%s\","
        "\"controller\":\"%s\",%s}]%s}", did, did, frag,
        jwk ? "JsonWebKey2020" : "Multikey", did, vm, relationships), 0);
    free(vm);
    return text;
}

static const char both[] =
    ",\"assertionMethod\":[\"#key-1\"],\"authentication\":[\"#key-1\"]";

static void
load_dir(void)
{
    mim_result_t r = mim_did_web_load_dir(&web, dir);

    cr_assert(mim_ok(r), "%s", r.msg);
}

static void
load_dir_refused(mim_code_t code, const char *words)
{
    mim_result_t r = mim_did_web_load_dir(&web, dir);

    cr_assert_eq(r.code, code, "%s", r.msg);
    cr_assert_not_null(strstr(r.msg, words), "\"%s\" not in: %s", words,
                       r.msg);
    cr_assert_null(web);
}

Test(did, did_web_layout_host_path_and_port)
{
    EVP_PKEY *a = ut_keygen("P-256"), *b = ut_keygen("ED25519");
    EVP_PKEY *c = ut_keygen("ED25519");
    char *t;
    mim_result_t r;

    dir = tv_temp_dir();
    t = doc_text("did:web:city.example", a, "key-1", 1, both);
    tv_write(dir, "city.example/did.json", t);
    free(t);
    t = doc_text("did:web:city.example:units:parking", b, "key-1", 0, both);
    tv_write(dir, "city.example/units/parking/did.json", t);
    free(t);
    t = doc_text("did:web:localhost%3A8443", c, "key-1", 1, both);
    tv_write(dir, "localhost:8443/did.json", t);
    free(t);
    tv_write(dir, "README", "not a document");
    load_dir();

    r = mim_did_resolve_key("did:web:city.example#key-1", web, &key);
    cr_assert(mim_ok(r), "%s", r.msg);
    cr_assert_eq(EVP_PKEY_eq(key.pkey, a), 1);
    mim_key_free(&key);
    r = mim_did_resolve_key("did:web:city.example:units:parking#key-1", web,
                            &key);
    cr_assert(mim_ok(r), "%s", r.msg);
    cr_assert_eq(EVP_PKEY_eq(key.pkey, b), 1);
    mim_key_free(&key);
    r = mim_did_resolve_key("did:web:localhost%3A8443", web, &key);
    cr_assert(mim_ok(r), "%s", r.msg);
    cr_assert_eq(EVP_PKEY_eq(key.pkey, c), 1);
    mim_key_free(&key);

    r = mim_did_resolve_key("did:web:city.example#key-2", web, &key);
    cr_assert_eq(r.code, MIM_ERR_NOT_FOUND, "%s", r.msg);
    r = mim_did_resolve_key("did:web:other.example#key-1", web, &key);
    cr_assert_eq(r.code, MIM_ERR_NOT_FOUND, "%s", r.msg);
    cr_assert_not_null(strstr(r.msg, "no DID document"));
    r = mim_did_resolve_key("did:web:city.example:units#key-1", web, &key);
    cr_assert_eq(r.code, MIM_ERR_NOT_FOUND, "%s", r.msg);
    EVP_PKEY_free(a);
    EVP_PKEY_free(b);
    EVP_PKEY_free(c);
}

Test(did, did_web_document_id_must_match_its_place)
{
    EVP_PKEY *a = ut_keygen("P-256");
    char *t = doc_text("did:web:evil.example", a, "key-1", 1, both);

    dir = tv_temp_dir();
    tv_write(dir, "city.example/did.json", t);
    load_dir_refused(MIM_ERR_MISMATCH, "city.example/did.json: \"id\" is "
                     "not did:web:city.example");
    free(t);
    EVP_PKEY_free(a);
}

Test(did, did_web_well_known_is_not_a_path_segment)
{
    EVP_PKEY *a = ut_keygen("P-256");
    char *t = doc_text("did:web:city.example", a, "key-1", 1, both);

    dir = tv_temp_dir();
    tv_write(dir, "city.example/.well-known/did.json", t);
    load_dir_refused(MIM_ERR_INVALID, "\".well-known\" is not a did:web "
                     "path segment");
    free(t);
    EVP_PKEY_free(a);
}

Test(did, did_web_document_at_the_top_refused)
{
    dir = tv_temp_dir();
    tv_write(dir, "did.json", "{}");
    load_dir_refused(MIM_ERR_INVALID, "host directory");
}

Test(did, did_web_bad_json_names_the_file)
{
    dir = tv_temp_dir();
    tv_write(dir, "city.example/did.json", "{\"id\":");
    load_dir_refused(MIM_ERR_INVALID, "city.example/did.json: line 1");
}

Test(did, did_web_missing_directory)
{
    mim_result_t r = mim_did_web_load_dir(&web, "/nonexistent/mim-did");

    cr_assert_eq(r.code, MIM_ERR_IO, "%s", r.msg);
    cr_assert_null(web);
}

Test(did, did_web_relationships)
{
    EVP_PKEY *a = ut_keygen("P-256"), *b = ut_keygen("ED25519");
    char *ja = tv_jwk_text(a, NULL), *jb = tv_jwk_text(b, NULL), *t;
    mim_result_t r;

    /* key-1: assertion only; key-2 embedded in authentication; an X25519
       key-agreement key and a publicKeyBase58 key are skipped */
    cr_assert_gt(asprintf(&t,
        "{\"id\":\"did:web:city.example\",\"verificationMethod\":["
        "{\"id\":\"did:web:city.example#key-1\",\"type\":\"JsonWebKey2020\","
        "\"publicKeyJwk\":%s},"
        "{\"id\":\"#x\",\"type\":\"X25519KeyAgreementKey2020\","
        "\"publicKeyJwk\":{\"kty\":\"OKP\",\"crv\":\"X25519\",\"x\":"
        "\"hSDwCYkwp1R0i33ctD73Wg2_Og0mOBr066SpjqqbTmo\"}},"
        "{\"id\":\"#old\",\"type\":\"Ed25519VerificationKey2018\","
        "\"publicKeyBase58\":\"H3C2AVvLMv6gmMNam3uVAjZpfkcJCwDwnZn6z3wXmqPV\"}"
        "],\"assertionMethod\":[\"#key-1\",\"#x\"],"
        "\"authentication\":[{\"id\":\"#key-2\",\"type\":\"JsonWebKey2020\","
        "\"publicKeyJwk\":%s}]}", ja, jb), 0);
    cr_assert(mim_ok(mim_did_web_new(&web)));
    r = mim_did_web_add(web, "did:web:city.example", t, strlen(t));
    cr_assert(mim_ok(r), "%s", r.msg);

    r = mim_did_resolve_key_for("did:web:city.example#key-1", web,
                                MIM_DID_ASSERTION, &key);
    cr_assert(mim_ok(r), "%s", r.msg);
    cr_assert_eq(EVP_PKEY_eq(key.pkey, a), 1);
    mim_key_free(&key);
    r = mim_did_resolve_key_for("did:web:city.example#key-1", web,
                                MIM_DID_AUTHENTICATION, &key);
    cr_assert_eq(r.code, MIM_ERR_UNTRUSTED, "%s", r.msg);
    cr_assert_not_null(strstr(r.msg, "authentication"));
    r = mim_did_resolve_key_for("did:web:city.example#key-2", web,
                                MIM_DID_ASSERTION, &key);
    cr_assert_eq(r.code, MIM_ERR_UNTRUSTED, "%s", r.msg);
    r = mim_did_resolve_key_for("did:web:city.example#key-2", web,
                                MIM_DID_AUTHENTICATION, &key);
    cr_assert(mim_ok(r), "%s", r.msg);
    cr_assert_eq(EVP_PKEY_eq(key.pkey, b), 1);
    mim_key_free(&key);
    /* without a fragment: the one key of that relationship */
    r = mim_did_resolve_key_for("did:web:city.example", web,
                                MIM_DID_AUTHENTICATION, &key);
    cr_assert(mim_ok(r), "%s", r.msg);
    cr_assert_eq(EVP_PKEY_eq(key.pkey, b), 1);
    mim_key_free(&key);
    /* ... and with no relationship asked, two keys are ambiguous */
    r = mim_did_resolve_key("did:web:city.example", web, &key);
    cr_assert_eq(r.code, MIM_ERR_NOT_FOUND, "%s", r.msg);
    cr_assert_not_null(strstr(r.msg, "2 keys"));
    r = mim_did_resolve_key("did:web:city.example#x", web, &key);
    cr_assert_eq(r.code, MIM_ERR_NOT_FOUND, "%s", r.msg);
    /* a second document for the same DID */
    r = mim_did_web_add(web, "did:web:city.example", t, strlen(t));
    cr_assert_eq(r.code, MIM_ERR_INVALID, "%s", r.msg);
    free(t);
    free(ja);
    free(jb);
    EVP_PKEY_free(a);
    EVP_PKEY_free(b);
}

static void
doc_refused(const char *text, mim_code_t code, const char *words)
{
    mim_result_t r;

    mim_did_web_free(web);
    cr_assert(mim_ok(mim_did_web_new(&web)));
    r = mim_did_web_add(web, "did:web:a.example", text, strlen(text));
    cr_assert_eq(r.code, code, "%s", r.msg);
    cr_assert_not_null(strstr(r.msg, words), "\"%s\" not in: %s", words,
                       r.msg);
}

Test(did, did_web_document_refusals)
{
    doc_refused("[]", MIM_ERR_INVALID, "not a JSON object");
    doc_refused("{\"id\":\"did:web:a.example\",\"verificationMethod\":{}}",
                MIM_ERR_INVALID, "not an array");
    doc_refused("{\"id\":\"did:web:a.example\",\"verificationMethod\":"
                "[{\"id\":\"did:web:b.example#k\",\"publicKeyMultibase\":"
                "\"z6MkiTBz1ymuepAQ4HEHYSF1H8quG5GLVVQR3djdX3mDooWp\"}]}",
                MIM_ERR_INVALID, "is not \"#fragment\"");
    doc_refused("{\"id\":\"did:web:a.example\",\"verificationMethod\":"
                "[{\"id\":\"#k\",\"publicKeyMultibase\":"
                "\"z6MkiTBz1ymuepAQ4HEHYSF1H8quG5GLVVQR3djdX3mDooWp\"},"
                "{\"id\":\"#k\",\"publicKeyMultibase\":"
                "\"z6MkiTBz1ymuepAQ4HEHYSF1H8quG5GLVVQR3djdX3mDooWp\"}]}",
                MIM_ERR_INVALID, "defined twice");
    doc_refused("{\"id\":\"did:web:a.example\",\"verificationMethod\":"
                "[{\"id\":\"#k\",\"publicKeyJwk\":{\"kty\":\"EC\","
                "\"crv\":\"P-256\",\"x\":\"AA\",\"y\":\"AA\"}}]}",
                MIM_ERR_INVALID, "#k");
    doc_refused("{\"id\":\"did:web:a.example\",\"id\":\"did:web:a.example\"}",
                MIM_ERR_INVALID, "duplicate");
    doc_refused("{\"id\":\"did:web:a.example\",\"assertionMethod\":[1]}",
                MIM_ERR_INVALID, "assertionMethod entry");
}

/* ---- a did:web issuer end to end ---- */

Test(did, credentials_from_a_did_web_issuer)
{
    tv_party_t city, h;
    mim_trusted_issuers_t *list;
    mim_vc_config_t cfg;
    mim_identity_t id;
    json_t *c, *vp;
    char *t, *v, *p;
    mim_result_t r;
    const char *json = "{\"issuers\":[{\"id\":\"did:web:city.example\"}]}";

    tv_party_named(&city, "P-256", "did:web:city.example",
                   "did:web:city.example#key-1");
    tv_party_didkey(&h, "ED25519");
    dir = tv_temp_dir();
    /* key-1 signs credentials only */
    t = doc_text(city.did, city.pkey, "key-1", 1,
                 ",\"assertionMethod\":[\"#key-1\"]");
    tv_write(dir, "city.example/did.json", t);
    free(t);
    load_dir();
    r = mim_trusted_issuers_parse(&list, json, strlen(json));
    cr_assert(mim_ok(r), "%s", r.msg);
    memset(&cfg, 0, sizeof(cfg));
    cfg.issuers = list;
    cfg.did_web = web;
    cfg.now = TV_NOW;

    c = tv_vc11_claims(city.did, h.did, "ParkingPermit", NULL);
    v = tv_sign(&city, NULL, c);
    vp = tv_vp11_claims(h.did, json_pack("[s]", v));
    p = tv_sign(&h, NULL, vp);
    r = tv_verify(&cfg, p, &id);
    cr_assert(mim_ok(r), "%s", r.msg);
    cr_assert_str_eq(id.issuer, "did:web:city.example");
    cr_assert_str_eq(id.party, h.did);
    mim_identity_free(&id);
    free(v);

    /* a relative kid names the same key */
    snprintf(city.kid, sizeof(city.kid), "#key-1");
    v = tv_sign(&city, NULL, c);
    r = tv_verify(&cfg, v, &id);
    cr_assert(mim_ok(r), "%s", r.msg);
    mim_identity_free(&id);
    free(v);

    /* without the directory, the issuer's key is unknown */
    cfg.did_web = NULL;
    r = tv_verify(&cfg, p, &id);
    cr_assert_eq(r.code, MIM_ERR_NOT_FOUND, "%s", r.msg);
    free(p);

    /* the city's key cannot sign a presentation (not authentication) */
    cfg.did_web = web;
    json_decref(vp);
    vp = tv_vp11_claims(city.did, json_pack("[s]", "x.y.z"));
    snprintf(city.kid, sizeof(city.kid), "did:web:city.example#key-1");
    p = tv_sign(&city, NULL, vp);
    r = tv_verify(&cfg, p, &id);
    cr_assert_eq(r.code, MIM_ERR_UNTRUSTED, "%s", r.msg);
    cr_assert_not_null(strstr(r.msg, "presentation: "));
    cr_assert_not_null(strstr(r.msg, "authentication"));
    free(p);

    json_decref(c);
    json_decref(vp);
    mim_trusted_issuers_free(list);
    tv_party_free(&city);
    tv_party_free(&h);
}
