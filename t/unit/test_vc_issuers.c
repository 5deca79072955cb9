/*
 * test_vc_issuers.c - the trusted-issuers list
 * (trust/mim_trusted_issuers.c): the file format and its refusals, key
 * lookup by kid, and what an issuer may issue.
 */
#define _GNU_SOURCE     /* asprintf */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "mim_vc.h"
#include "mim_vc_int.h"
#include "test_vc.h"
#include "unit.h"

static mim_trusted_issuers_t *list;

static void
teardown(void)
{
    mim_trusted_issuers_free(list);
    list = NULL;
}

TestSuite(issuers, .fini = teardown);

static void
parse_ok(const char *json)
{
    mim_result_t r = mim_trusted_issuers_parse(&list, json, strlen(json));

    cr_assert(mim_ok(r), "%s", r.msg);
    cr_assert_not_null(list);
}

static void
parse_refused(const char *json, mim_code_t code, const char *words)
{
    mim_result_t r = mim_trusted_issuers_parse(&list, json, strlen(json));

    cr_assert_eq(r.code, code, "%s: %s", json, r.msg);
    cr_assert_not_null(strstr(r.msg, words), "\"%s\" not in: %s", words,
                       r.msg);
    cr_assert_null(list);
}

#define ED_DID "did:key:z6MkiTBz1ymuepAQ4HEHYSF1H8quG5GLVVQR3djdX3mDooWp"
#define P256_DID "did:key:zDnaerDaTF5BXEavCrfRZEk316dpbLsfPDZ3WJ5hRTPFU2169"

Test(issuers, the_documented_example)
{
    const mim_trusted_issuer_t *e;

    parse_ok("{\"issuers\":["
             "{\"id\":\"did:web:city.example\",\"credentials\":["
             "{\"type\":\"MembershipCredential\",\"claims\":["
             "{\"name\":\"role\",\"allowedValues\":[\"reader\","
             "\"operator\"]}]},"
             "{\"type\":\"ParkingPermit\"}]},"
             "{\"id\":\"" ED_DID "\"},"
             "{\"id\":\"https://issuer.example\",\"keys\":[\"" P256_DID "\","
             "{\"kty\":\"OKP\",\"crv\":\"Ed25519\",\"kid\":\"ed-1\",\"x\":"
             "\"O2onvM62pC1io6jQKm8Nc2UyFXcd4kOmOsBIoYtZ2ik\"}]}]}");
    e = mim_trusted_issuer_find(list, "did:web:city.example");
    cr_assert_not_null(e);
    cr_assert_eq(mim_trusted_issuer_key_count(e), 0);
    cr_assert_not_null(mim_trusted_issuer_find(list, ED_DID));
    e = mim_trusted_issuer_find(list, "https://issuer.example");
    cr_assert_eq(mim_trusted_issuer_key_count(e), 2);
    cr_assert_null(mim_trusted_issuer_find(list, "did:web:other.example"));
    cr_assert_null(mim_trusted_issuer_find(list, NULL));
}

Test(issuers, empty_list_trusts_nobody)
{
    parse_ok("{\"issuers\":[]}");
    cr_assert_null(mim_trusted_issuer_find(list, ED_DID));
}

Test(issuers, format_refusals)
{
    parse_refused("[]", MIM_ERR_INVALID, "not a JSON object");
    parse_refused("{", MIM_ERR_INVALID, "line 1");
    parse_refused("{}", MIM_ERR_INVALID, "\"issuers\" is missing");
    parse_refused("{\"issuers\":[],\"x\":1}", MIM_ERR_INVALID,
                  "unknown member \"x\"");
    parse_refused("{\"issuers\":{}}", MIM_ERR_INVALID, "not an array");
    parse_refused("{\"issuers\":[1]}", MIM_ERR_INVALID,
                  "issuers[0] is not an object");
    parse_refused("{\"issuers\":[{}]}", MIM_ERR_INVALID,
                  "issuers[0]: \"id\" is missing");
    parse_refused("{\"issuers\":[{\"id\":\"\"}]}", MIM_ERR_INVALID, "empty");
    parse_refused("{\"issuers\":[{\"id\":\"" ED_DID "\",\"credential\":[]}]}",
                  MIM_ERR_INVALID, "unknown member \"credential\"");
    parse_refused("{\"issuers\":[{\"id\":\"" ED_DID "\"},{\"id\":\"" ED_DID
                  "\"}]}", MIM_ERR_INVALID, "issuers[1]: issuer \"did:key:"
                  "z6Mk");
    parse_refused("{\"issuers\":[],\"issuers\":[]}", MIM_ERR_INVALID,
                  "duplicate");
}

Test(issuers, issuer_keys_refusals)
{
    parse_refused("{\"issuers\":[{\"id\":\"https://issuer.example\"}]}",
                  MIM_ERR_INVALID, "not a DID, so its \"keys\" must be "
                  "listed");
    parse_refused("{\"issuers\":[{\"id\":\"did:web:a.example#key-1\"}]}",
                  MIM_ERR_INVALID, "is a DID URL");
    parse_refused("{\"issuers\":[{\"id\":\"did:ebsi:zabc\"}]}",
                  MIM_ERR_UNSUPPORTED, "cannot be resolved");
    parse_refused("{\"issuers\":[{\"id\":\"did:ebsi:zabc\",\"keys\":[]}]}",
                  MIM_ERR_INVALID, "\"keys\" is empty");
    parse_refused("{\"issuers\":[{\"id\":\"https://i.example\",\"keys\":"
                  "[\"did:web:i.example\"]}]}", MIM_ERR_INVALID,
                  "issuers[0].keys[0]: not a JWK object or a did:key");
    parse_refused("{\"issuers\":[{\"id\":\"https://i.example\",\"keys\":"
                  "[{\"kty\":\"oct\",\"k\":\"c2VjcmV0\"}]}]}",
                  MIM_ERR_UNSUPPORTED, "symmetric");
    parse_refused("{\"issuers\":[{\"id\":\"https://i.example\",\"keys\":"
                  "[\"" ED_DID "#" "z6MkiTBz1ymuepAQ4HEHYSF1H8quG5GLVVQR3djd"
                  "X3mDooWp\"]}]}", MIM_ERR_INVALID, "without #fragment");
    parse_refused("{\"issuers\":[{\"id\":\"https://i.example\",\"keys\":"
                  "[\"did:key:z6MkiTBz1ymuepAQ4HEHYSF1H8quG5GLVVQR3djdX3mDoo"
                  "W0\"]}]}", MIM_ERR_INVALID, "keys[0]");
}

Test(issuers, credential_rule_refusals)
{
    parse_refused("{\"issuers\":[{\"id\":\"" ED_DID "\",\"credentials\":"
                  "[{\"claims\":[]}]}]}", MIM_ERR_INVALID,
                  "credentials[0]: \"type\" is missing");
    parse_refused("{\"issuers\":[{\"id\":\"" ED_DID "\",\"credentials\":"
                  "[{\"type\":\"A\"},{\"type\":\"A\"}]}]}", MIM_ERR_INVALID,
                  "type \"A\" listed twice");
    parse_refused("{\"issuers\":[{\"id\":\"" ED_DID "\",\"credentials\":"
                  "[{\"type\":\"A\",\"claims\":[{\"name\":\"role\"}]}]}]}",
                  MIM_ERR_INVALID, "\"allowedValues\" is missing");
    parse_refused("{\"issuers\":[{\"id\":\"" ED_DID "\",\"credentials\":"
                  "[{\"type\":\"A\",\"claims\":[{\"name\":\"role\","
                  "\"allowedValues\":[]}]}]}]}", MIM_ERR_INVALID,
                  "\"allowedValues\" is empty");
    parse_refused("{\"issuers\":[{\"id\":\"" ED_DID "\",\"credentials\":"
                  "[{\"type\":\"A\",\"claims\":[{\"name\":\"role\","
                  "\"allowedValues\":[{\"x\":1}]}]}]}]}", MIM_ERR_INVALID,
                  "credentials[0].claims[0]: allowedValues[0] is not a "
                  "string");
    parse_refused("{\"issuers\":[{\"id\":\"" ED_DID "\",\"credentials\":"
                  "[{\"type\":\"A\",\"claims\":[{\"name\":\"role\","
                  "\"values\":[\"a\"]}]}]}]}", MIM_ERR_INVALID,
                  "unknown member \"values\"");
    parse_refused("{\"issuers\":[{\"id\":\"" ED_DID "\",\"credentials\":"
                  "[{\"type\":\"A\",\"claims\":[{\"name\":\"r\","
                  "\"allowedValues\":[1]},{\"name\":\"r\",\"allowedValues\":"
                  "[2]}]}]}]}", MIM_ERR_INVALID, "claim \"r\" listed twice");
}

static const mim_key_t *
key_for(const char *issuer, const char *kid)
{
    const mim_key_t *k = NULL;
    mim_result_t r = mim_trusted_issuer_key(
        mim_trusted_issuer_find(list, issuer), kid, &k);

    return mim_ok(r) ? k : NULL;
}

Test(issuers, key_lookup_by_kid)
{
    const mim_key_t *ed, *p256;
    char thumb_kid[80];

    parse_ok("{\"issuers\":[{\"id\":\"https://issuer.example\",\"keys\":["
             "\"" P256_DID "\","
             "{\"kty\":\"OKP\",\"crv\":\"Ed25519\",\"kid\":\"ed-1\",\"x\":"
             "\"O2onvM62pC1io6jQKm8Nc2UyFXcd4kOmOsBIoYtZ2ik\"}]},"
             "{\"id\":\"https://one.example\",\"keys\":[\"" ED_DID "\"]}]}");
    ed = key_for("https://issuer.example", "ed-1");
    p256 = key_for("https://issuer.example", P256_DID);
    cr_assert_not_null(ed);
    cr_assert_not_null(p256);
    cr_assert_eq(ed->alg, MIM_ALG_EDDSA);
    cr_assert_eq(p256->alg, MIM_ALG_ES256);
    /* the JWK kid as a fragment, or "#kid" */
    cr_assert_eq(key_for("https://issuer.example", "did:x:y#ed-1"), ed);
    /* a did:key as DID URL, or its multibase as a fragment */
    cr_assert_eq(key_for("https://issuer.example", P256_DID "#zDnaerDaTF5BXEa"
                         "vCrfRZEk316dpbLsfPDZ3WJ5hRTPFU2169"), p256);
    cr_assert_eq(key_for("https://issuer.example", "#zDnaerDaTF5BXEavCrfRZE"
                         "k316dpbLsfPDZ3WJ5hRTPFU2169"), p256);
    cr_assert_null(key_for("https://issuer.example", P256_DID "#other"));
    /* the RFC 7638 thumbprint */
    snprintf(thumb_kid, sizeof(thumb_kid), "%s", ed->kid);
    cr_assert_eq(key_for("https://issuer.example", thumb_kid), ed);
    cr_assert_null(key_for("https://issuer.example", "ed-2"));
    /* no kid: only when one key is listed */
    cr_assert_null(key_for("https://issuer.example", NULL));
    cr_assert_not_null(key_for("https://one.example", NULL));
}

static mim_result_t
allows(const char *issuer, const char *types, const char *subject)
{
    json_t *t = tv_json(types), *s = tv_json(subject);
    mim_result_t r = mim_trusted_issuer_allows(
        mim_trusted_issuer_find(list, issuer), t, s);

    json_decref(t);
    json_decref(s);
    return r;
}

Test(issuers, types_and_claim_values)
{
    mim_result_t r;

    parse_ok("{\"issuers\":["
             "{\"id\":\"did:web:a.example\",\"credentials\":["
             "{\"type\":\"Member\",\"claims\":[{\"name\":\"role\","
             "\"allowedValues\":[\"reader\",\"operator\",7,true]}]},"
             "{\"type\":\"Permit\"}]},"
             "{\"id\":\"did:web:b.example\",\"credentials\":[]},"
             "{\"id\":\"did:web:c.example\"}]}");
    cr_assert(mim_ok(allows("did:web:a.example",
        "[\"VerifiableCredential\",\"Member\"]", "{\"role\":\"reader\"}")));
    cr_assert(mim_ok(allows("did:web:a.example", "[\"Member\",\"Permit\"]",
        "{\"role\":[\"reader\",7,true],\"other\":{\"x\":1}}")));
    /* a restricted claim not issued is not restricted */
    cr_assert(mim_ok(allows("did:web:a.example", "[\"Member\"]", "{}")));
    /* restrictions belong to their type */
    cr_assert(mim_ok(allows("did:web:a.example", "[\"Permit\"]",
                            "{\"role\":\"admin\"}")));

    r = allows("did:web:a.example", "[\"Member\"]", "{\"role\":\"admin\"}");
    cr_assert_eq(r.code, MIM_ERR_UNTRUSTED, "%s", r.msg);
    cr_assert_not_null(strstr(r.msg, "may not issue Member with role "
                              "\"admin\""), "%s", r.msg);
    r = allows("did:web:a.example", "[\"Member\"]", "{\"role\":\"7\"}");
    cr_assert_eq(r.code, MIM_ERR_UNTRUSTED, "a string is not the number");
    r = allows("did:web:a.example", "[\"Member\"]",
               "{\"role\":{\"name\":\"reader\"}}");
    cr_assert_eq(r.code, MIM_ERR_UNTRUSTED, "%s", r.msg);
    r = allows("did:web:a.example", "[\"Member\",\"Other\"]",
               "{\"role\":\"reader\"}");
    cr_assert_eq(r.code, MIM_ERR_UNTRUSTED, "%s", r.msg);
    cr_assert_not_null(strstr(r.msg, "type Other"), "%s", r.msg);
    r = allows("did:web:a.example", "[\"VerifiableCredential\"]", "{}");
    cr_assert_eq(r.code, MIM_ERR_UNTRUSTED, "%s", r.msg);
    cr_assert_not_null(strstr(r.msg, "none besides"), "%s", r.msg);
    /* "credentials": [] trusts for nothing, absent for everything */
    r = allows("did:web:b.example", "[\"Member\"]", "{}");
    cr_assert_eq(r.code, MIM_ERR_UNTRUSTED, "%s", r.msg);
    cr_assert(mim_ok(allows("did:web:c.example", "[\"Anything\"]",
                            "{\"role\":\"admin\"}")));
    cr_assert(mim_ok(allows("did:web:c.example", "[\"VerifiableCredential\"]",
                            "{}")));
}

Test(issuers, load_from_a_file)
{
    char *path = ut_temp_file("{\"issuers\":[{\"id\":\"" ED_DID "\"}]}");
    mim_result_t r = mim_trusted_issuers_load(&list, path);

    cr_assert(mim_ok(r), "%s", r.msg);
    cr_assert_not_null(mim_trusted_issuer_find(list, ED_DID));
    mim_trusted_issuers_free(list);
    list = NULL;
    ut_temp_remove(path);

    path = ut_temp_file("{\"issuers\":[{\"id\":1}]}");
    r = mim_trusted_issuers_load(&list, path);
    cr_assert_eq(r.code, MIM_ERR_INVALID);
    cr_assert_not_null(strstr(r.msg, path), "%s", r.msg);
    cr_assert_null(list);
    ut_temp_remove(path);

    r = mim_trusted_issuers_load(&list, "/nonexistent/issuers.json");
    cr_assert_eq(r.code, MIM_ERR_IO, "%s", r.msg);
    cr_assert_null(list);
}
