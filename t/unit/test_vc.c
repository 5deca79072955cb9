/*
 * test_vc.c - verifiable presentations and credentials as JWTs
 * (trust/mim_vc.c): the accepted forms, the identity they give, and one
 * test for every reason a token is refused.
 */
#define _GNU_SOURCE     /* asprintf */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "mim_b64.h"
#include "mim_vc.h"
#include "test_vc.h"
#include "unit.h"

static tv_party_t issuer, issuer2, holder, holder2;
static mim_trusted_issuers_t *list;
static mim_vc_config_t cfg;
static mim_identity_t id;

static void
load_list(const char *json)
{
    mim_result_t r;

    mim_trusted_issuers_free(list);
    r = mim_trusted_issuers_parse(&list, json, strlen(json));
    cr_assert(mim_ok(r), "trusted issuers: %s", r.msg);
    cfg.issuers = list;
}

/* issuer: MembershipCredential with role reader|operator; issuer2: any */
static void
setup(void)
{
    char *json;

    tv_party_didkey(&issuer, "ED25519");
    tv_party_didkey(&issuer2, "P-256");
    tv_party_didkey(&holder, "ED25519");
    tv_party_didkey(&holder2, "P-256");
    memset(&cfg, 0, sizeof(cfg));
    memset(&id, 0, sizeof(id));
    list = NULL;
    cr_assert_gt(asprintf(&json,
        "{\"issuers\":[{\"id\":\"%s\",\"credentials\":[{\"type\":"
        "\"MembershipCredential\",\"claims\":[{\"name\":\"role\","
        "\"allowedValues\":[\"reader\",\"operator\"]}]}]},"
        "{\"id\":\"%s\"}]}", issuer.did, issuer2.did), 0);
    load_list(json);
    free(json);
    cfg.now = TV_NOW;
    cfg.leeway = 30;
}

static void
teardown(void)
{
    mim_identity_free(&id);
    mim_trusted_issuers_free(list);
    tv_party_free(&issuer);
    tv_party_free(&issuer2);
    tv_party_free(&holder);
    tv_party_free(&holder2);
}

TestSuite(vc, .init = setup, .fini = teardown);

/* a VC 1.1 JWT by issuer for sub (MembershipCredential, role reader) */
static char *
vc11(const tv_party_t *by, const char *sub)
{
    json_t *c = tv_vc11_claims(by->did, sub, "MembershipCredential",
                               "reader");
    char *t = tv_sign(by, NULL, c);

    json_decref(c);
    return t;
}

/* a VP 1.1 by p over the given tokens (NULL-terminated) */
static char *
vp11(const tv_party_t *p, const char *first, ...)
{
    json_t *vcs = json_array(), *c;
    const char *t;
    va_list ap;
    char *token;

    va_start(ap, first);
    for (t = first; t != NULL; t = va_arg(ap, const char *)) {
        json_array_append_new(vcs, json_string(t));
    }
    va_end(ap);
    c = tv_vp11_claims(p->did, vcs);
    token = tv_sign(p, NULL, c);
    json_decref(c);
    return token;
}

static void
expect_refused(const char *token, mim_code_t code, const char *words)
{
    mim_result_t r = tv_verify(&cfg, token, &id);

    cr_assert_eq(r.code, code, "want %s, got %s: %s", mim_code_name(code),
                 mim_code_name(r.code), r.msg);
    cr_assert_not_null(strstr(r.msg, words), "\"%s\" not in: %s", words,
                       r.msg);
    cr_assert_null(id.party);
    cr_assert_null(id.claims);
    cr_assert_null(id.credential_types);
}

static void
expect_ok(const char *token)
{
    mim_result_t r = tv_verify(&cfg, token, &id);

    cr_assert(mim_ok(r), "refused: %s", r.msg);
    cr_assert_str_eq(id.auth_method, "vc");
}

/* ---- accepted forms and the identity ---- */

Test(vc, vp11_ed25519_holder_and_issuer)
{
    char *v = vc11(&issuer, holder.did), *p = vp11(&holder, v, NULL);
    const mim_identity_claim_t *role;

    expect_ok(p);
    cr_assert_str_eq(id.party, holder.did);
    cr_assert_str_eq(id.subject, holder.did);
    cr_assert_str_eq(id.issuer, issuer.did);
    cr_assert_str_eq(id.credential_types, "MembershipCredential");
    cr_assert_str_eq(id.jti, "urn:uuid:vp-1");
    cr_assert_eq(id.expires, TV_NOW + 300);     /* the VP's, earlier */
    role = mim_identity_claim(&id, "role");
    cr_assert_not_null(role);
    cr_assert_eq(role->n, 1);
    cr_assert_str_eq(role->values[0], "reader");
    cr_assert_null(mim_identity_claim(&id, "id"));
    free(v);
    free(p);
}

Test(vc, vp11_p256_holder_and_issuer)
{
    json_t *c = tv_vc11_claims(issuer2.did, holder2.did, "OperatorCredential",
                               NULL);
    char *v, *p;

    json_object_set_new(json_object_get(json_object_get(c, "vc"),
                                        "credentialSubject"),
                        "level", json_integer(3));
    v = tv_sign(&issuer2, NULL, c);
    p = vp11(&holder2, v, NULL);
    expect_ok(p);
    cr_assert_str_eq(id.party, holder2.did);
    cr_assert_str_eq(id.issuer, issuer2.did);
    cr_assert_str_eq(id.credential_types, "OperatorCredential");
    cr_assert_str_eq(mim_identity_claim(&id, "level")->values[0], "3");
    json_decref(c);
    free(v);
    free(p);
}

Test(vc, lone_vc11_names_its_subject)
{
    char *v = vc11(&issuer, holder.did);

    expect_ok(v);
    cr_assert_str_eq(id.party, holder.did);
    cr_assert_str_eq(id.subject, holder.did);
    cr_assert_str_eq(id.issuer, issuer.did);
    cr_assert_str_eq(id.jti, "urn:uuid:vc-1");
    cr_assert_eq(id.expires, TV_NOW + 3600);
    free(v);
}

Test(vc, lone_vc_without_subject_id_refused)
{
    json_t *c = tv_vc11_claims(issuer.did, NULL, "MembershipCredential",
                               "reader");
    char *v = tv_sign(&issuer, NULL, c);

    expect_refused(v, MIM_ERR_INVALID, "no credentialSubject.id");
    json_decref(c);
    free(v);
}

Test(vc, vc20_alone_and_enveloped_in_vp20)
{
    json_t *c = tv_vc20_claims(issuer2.did, holder.did, "ParkingPermit",
                               NULL), *hdr = tv_json("{\"typ\":\"vc+jwt\"}");
    char *v, *p;
    json_t *vp;

    v = tv_sign(&issuer2, hdr, c);
    expect_ok(v);
    cr_assert_str_eq(id.party, holder.did);
    cr_assert_str_eq(id.credential_types, "ParkingPermit");
    cr_assert_str_eq(id.jti, "urn:uuid:vc-2");
    cr_assert_eq(id.expires, 1700006400);      /* validUntil */
    mim_identity_free(&id);

    vp = tv_vp20_claims(holder.did, json_pack("[s]", v));
    json_decref(hdr);
    hdr = tv_json("{\"typ\":\"vp+jwt\"}");
    p = tv_sign(&holder, hdr, vp);
    expect_ok(p);
    cr_assert_str_eq(id.party, holder.did);
    cr_assert_str_eq(id.issuer, issuer2.did);
    cr_assert_str_eq(id.jti, "urn:uuid:vp-2");
    cr_assert_eq(id.expires, TV_NOW + 300);
    json_decref(c);
    json_decref(vp);
    json_decref(hdr);
    free(v);
    free(p);
}

Test(vc, typ_with_media_type_prefix_accepted)
{
    json_t *c = tv_vc20_claims(issuer2.did, holder.did, "ParkingPermit",
                               NULL);
    json_t *hdr = tv_json("{\"typ\":\"application/VC+JWT\"}");
    char *v = tv_sign(&issuer2, hdr, c);

    expect_ok(v);
    json_decref(c);
    json_decref(hdr);
    free(v);
}

Test(vc, two_credentials_merge_types_and_claims)
{
    json_t *c = tv_vc11_claims(issuer2.did, holder.did, "OperatorCredential",
                               "operator");
    char *v1 = vc11(&issuer, holder.did), *v2, *p;
    const mim_identity_claim_t *role;

    json_array_append_new(json_object_get(json_object_get(c, "vc"), "type"),
                          json_string("MembershipCredential"));
    json_object_set_new(json_object_get(json_object_get(c, "vc"),
                                        "credentialSubject"),
                        "areas", json_pack("[s,s,{}]", "north", "south"));
    v2 = tv_sign(&issuer2, NULL, c);
    p = vp11(&holder, v1, v2, NULL);
    expect_ok(p);
    cr_assert_str_eq(id.issuer, issuer.did);    /* the first credential's */
    cr_assert_str_eq(id.credential_types,
                     "MembershipCredential OperatorCredential");
    role = mim_identity_claim(&id, "role");
    cr_assert_eq(role->n, 2);
    cr_assert_str_eq(role->values[0], "reader");
    cr_assert_str_eq(role->values[1], "operator");
    /* an array holding an object is not a list of plain values */
    cr_assert_null(mim_identity_claim(&id, "areas"));
    json_decref(c);
    free(v1);
    free(v2);
    free(p);
}

Test(vc, scalar_arrays_become_claim_values)
{
    json_t *c = tv_vc11_claims(issuer2.did, holder.did, "X", NULL);
    json_t *cs = json_object_get(json_object_get(c, "vc"),
                                 "credentialSubject");
    const mim_identity_claim_t *v;
    char *t;

    json_object_set_new(cs, "zones", json_pack("[s,i,b]", "a", 7, 1));
    json_object_set_new(cs, "ratio", json_real(0.5));
    json_object_set_new(cs, "nothing", json_null());
    json_object_set_new(cs, "address", json_pack("{s:s}", "city", "Ghent"));
    t = tv_sign(&issuer2, NULL, c);
    expect_ok(t);
    v = mim_identity_claim(&id, "zones");
    cr_assert_eq(v->n, 3);
    cr_assert_str_eq(v->values[0], "a");
    cr_assert_str_eq(v->values[1], "7");
    cr_assert_str_eq(v->values[2], "true");
    cr_assert_str_eq(mim_identity_claim(&id, "ratio")->values[0], "0.5");
    cr_assert_null(mim_identity_claim(&id, "nothing"));
    cr_assert_null(mim_identity_claim(&id, "address"));
    json_decref(c);
    free(t);
}

Test(vc, issuer_as_object_and_holder_member)
{
    json_t *c = tv_vc11_claims(issuer2.did, holder.did, "X", NULL), *vp;
    char *v, *p;

    json_object_set_new(json_object_get(c, "vc"), "issuer",
                        json_pack("{s:s, s:s}", "id", issuer2.did,
                                  "name", "City"));
    v = tv_sign(&issuer2, NULL, c);
    vp = tv_vp11_claims(holder.did, json_pack("[s]", v));
    json_object_set_new(json_object_get(vp, "vp"), "holder",
                        json_string(holder.did));
    p = tv_sign(&holder, NULL, vp);
    expect_ok(p);
    json_decref(c);
    json_decref(vp);
    free(v);
    free(p);
}

Test(vc, kid_absent_uses_the_did_key)
{
    json_t *c = tv_vc11_claims(issuer2.did, holder.did, "X", NULL);
    json_t *hdr = tv_json("{\"kid\":null}");
    char *v = tv_sign(&issuer2, hdr, c);

    expect_ok(v);
    json_decref(c);
    json_decref(hdr);
    free(v);
}

Test(vc, leeway_accepts_a_token_just_expired)
{
    json_t *c = tv_vc11_claims(issuer2.did, holder.did, "X", NULL);
    char *v;

    json_object_set_new(c, "exp", json_integer(TV_NOW - 10));
    v = tv_sign(&issuer2, NULL, c);
    expect_ok(v);
    mim_identity_free(&id);
    cfg.leeway = 5;
    expect_refused(v, MIM_ERR_MISMATCH, "expired");
    json_decref(c);
    free(v);
}

/* ---- always refused: header ---- */

Test(vc, alg_none_refused)
{
    char *t = tv_unsigned("{\"alg\":\"none\"}", "{\"vc\":{}}");

    expect_refused(t, MIM_ERR_UNSUPPORTED, "alg none");
    free(t);
}

Test(vc, hmac_refused)
{
    char *t = tv_unsigned("{\"alg\":\"HS256\",\"kid\":\"k\"}",
                          "{\"vc\":{}}");

    expect_refused(t, MIM_ERR_UNSUPPORTED, "HS256");
    free(t);
}

static void
refused_with_header(const char *member_json, const char *words)
{
    json_t *c = tv_vc11_claims(issuer.did, holder.did, "MembershipCredential",
                               "reader");
    json_t *hdr = tv_json(member_json);
    char *v = tv_sign(&issuer, hdr, c);

    expect_refused(v, MIM_ERR_UNSUPPORTED, words);
    json_decref(c);
    json_decref(hdr);
    free(v);
}

Test(vc, jku_refused)
{
    refused_with_header("{\"jku\":\"https://evil.example/jwks\"}", "jku");
}

Test(vc, x5u_refused)
{
    refused_with_header("{\"x5u\":\"https://evil.example/c.pem\"}", "x5u");
}

Test(vc, jwk_header_refused)
{
    refused_with_header("{\"jwk\":{\"kty\":\"OKP\",\"crv\":\"Ed25519\","
                        "\"x\":\"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcH"
                        "URo\"}}", "jwk");
}

Test(vc, unknown_crit_refused)
{
    refused_with_header("{\"crit\":[\"exp\"],\"exp\":1}", "crit");
}

Test(vc, unknown_typ_refused)
{
    refused_with_header("{\"typ\":\"at+jwt\"}", "typ");
}

Test(vc, alg_outside_the_allow_list_refused)
{
    char *v = vc11(&issuer, holder.did);

    cfg.algs = mim_alg_bit(MIM_ALG_ES256);
    expect_refused(v, MIM_ERR_UNSUPPORTED, "EdDSA not allowed");
    free(v);
}

Test(vc, alg_not_fitting_the_key_refused)
{
    /* an ES256 header over a did:key Ed25519 key: the key decides */
    json_t *c = tv_vc11_claims(issuer.did, holder.did, "MembershipCredential",
                               "reader");
    tv_party_t fake = issuer;
    char *v;

    fake.pkey = issuer2.pkey;
    snprintf(fake.alg, sizeof(fake.alg), "ES256");
    v = tv_sign(&fake, NULL, c);
    expect_refused(v, MIM_ERR_MISMATCH, "does not fit");
    json_decref(c);
    free(v);
}

/* ---- keys and issuers ---- */

Test(vc, wrong_issuer_key_refused)
{
    /* claims to be issuer, signed by issuer2's key under issuer's kid */
    json_t *c = tv_vc11_claims(issuer.did, holder.did, "MembershipCredential",
                               "reader");
    tv_party_t fake = holder;
    char *v;

    snprintf(fake.kid, sizeof(fake.kid), "%s", issuer.kid);
    v = tv_sign(&fake, NULL, c);
    expect_refused(v, MIM_ERR_SIGNATURE, "does not verify");
    json_decref(c);
    free(v);
}

Test(vc, kid_of_another_did_refused)
{
    json_t *c = tv_vc11_claims(issuer.did, holder.did, "MembershipCredential",
                               "reader");
    tv_party_t fake = issuer;
    char *v;

    snprintf(fake.kid, sizeof(fake.kid), "%s", holder.kid);
    v = tv_sign(&fake, NULL, c);
    expect_refused(v, MIM_ERR_MISMATCH, "is not a key of");
    json_decref(c);
    free(v);
}

Test(vc, kid_fragment_not_the_did_key_refused)
{
    json_t *c = tv_vc11_claims(issuer.did, holder.did, "MembershipCredential",
                               "reader");
    tv_party_t fake = issuer;
    char *v;

    snprintf(fake.kid, sizeof(fake.kid), "%s#key-2", issuer.did);
    v = tv_sign(&fake, NULL, c);
    expect_refused(v, MIM_ERR_NOT_FOUND, "has no key");
    json_decref(c);
    free(v);
}

Test(vc, untrusted_issuer_refused)
{
    char *v = vc11(&holder2, holder.did);

    expect_refused(v, MIM_ERR_UNTRUSTED, "is not trusted");
    free(v);
}

Test(vc, no_list_trusts_nobody)
{
    char *v = vc11(&issuer, holder.did);

    cfg.issuers = NULL;
    expect_refused(v, MIM_ERR_UNTRUSTED, "is not trusted");
    free(v);
}

Test(vc, issuer_not_trusted_for_the_type_refused)
{
    json_t *c = tv_vc11_claims(issuer.did, holder.did, "DriverLicense",
                               "reader");
    char *v = tv_sign(&issuer, NULL, c);

    expect_refused(v, MIM_ERR_UNTRUSTED, "not trusted for credential type "
                   "DriverLicense");
    json_decref(c);
    free(v);
}

Test(vc, extra_unlisted_type_refused)
{
    json_t *c = tv_vc11_claims(issuer.did, holder.did, "MembershipCredential",
                               "reader");
    char *v;

    json_array_append_new(json_object_get(json_object_get(c, "vc"), "type"),
                          json_string("AdminCredential"));
    v = tv_sign(&issuer, NULL, c);
    expect_refused(v, MIM_ERR_UNTRUSTED, "AdminCredential");
    json_decref(c);
    free(v);
}

Test(vc, claim_value_not_allowed_refused)
{
    json_t *c = tv_vc11_claims(issuer.did, holder.did, "MembershipCredential",
                               "admin");
    char *v = tv_sign(&issuer, NULL, c);

    expect_refused(v, MIM_ERR_UNTRUSTED, "role \"admin\"");
    json_decref(c);
    free(v);
}

Test(vc, claim_array_with_one_value_not_allowed_refused)
{
    json_t *c = tv_vc11_claims(issuer.did, holder.did, "MembershipCredential",
                               NULL);
    char *v;

    json_object_set_new(json_object_get(json_object_get(c, "vc"),
                                        "credentialSubject"),
                        "role", json_pack("[s,s]", "reader", "admin"));
    v = tv_sign(&issuer, NULL, c);
    expect_refused(v, MIM_ERR_UNTRUSTED, "admin");
    json_decref(c);
    free(v);
}

Test(vc, listed_jwk_key_of_a_url_issuer)
{
    tv_party_t url;
    json_t *c;
    char *jwk, *json, *v;

    tv_party_named(&url, "RSA2048", "https://issuer.example", "rsa-1");
    jwk = tv_jwk_text(url.pkey, "rsa-1");
    cr_assert_gt(asprintf(&json, "{\"issuers\":[{\"id\":\"%s\",\"keys\":"
                          "[%s]}]}", url.did, jwk), 0);
    load_list(json);
    c = tv_vc11_claims(url.did, holder.did, "X", NULL);
    v = tv_sign(&url, NULL, c);
    expect_ok(v);
    cr_assert_str_eq(id.issuer, "https://issuer.example");
    mim_identity_free(&id);
    free(v);

    /* a kid that names no listed key */
    snprintf(url.kid, sizeof(url.kid), "rsa-2");
    v = tv_sign(&url, NULL, c);
    expect_refused(v, MIM_ERR_NOT_FOUND, "not a listed key");
    free(v);

    /* PS256 with the same unpinned RSA key */
    snprintf(url.kid, sizeof(url.kid), "rsa-1");
    snprintf(url.alg, sizeof(url.alg), "PS256");
    v = tv_sign(&url, NULL, c);
    expect_ok(v);
    json_decref(c);
    free(v);
    free(jwk);
    free(json);
    tv_party_free(&url);
}

Test(vc, url_issuer_with_a_listed_did_key)
{
    /* holder2's key listed for a URL issuer, named by its did:key URL or
       by the multibase fragment alone */
    tv_party_t url = holder2;
    json_t *c = tv_vc11_claims("https://issuer.example", holder.did, "X",
                               NULL);
    char *json, *v;

    cr_assert_gt(asprintf(&json, "{\"issuers\":[{\"id\":"
                          "\"https://issuer.example\",\"keys\":"
                          "[\"%s\"]}]}", holder2.did), 0);
    load_list(json);
    v = tv_sign(&url, NULL, c);
    expect_ok(v);
    mim_identity_free(&id);
    free(v);
    snprintf(url.kid, sizeof(url.kid), "#%.150s", holder2.did + 8);
    v = tv_sign(&url, NULL, c);
    expect_ok(v);
    json_decref(c);
    free(json);
    free(v);
}

Test(vc, did_issuer_pinned_to_a_did_key_by_fragment)
{
    /* issuer listed with issuer2's key: kid <issuer DID>#<issuer2's key> */
    json_t *c = tv_vc11_claims(issuer.did, holder.did, "X", NULL);
    tv_party_t signer = issuer2;
    char *json, *v;

    cr_assert_gt(asprintf(&json, "{\"issuers\":[{\"id\":\"%s\",\"keys\":"
                          "[\"%s\"]}]}", issuer.did, issuer2.did), 0);
    load_list(json);
    snprintf(signer.kid, sizeof(signer.kid), "%.150s#%.150s", issuer.did,
             issuer2.did + 8);
    v = tv_sign(&signer, NULL, c);
    expect_ok(v);
    cr_assert_str_eq(id.issuer, issuer.did);
    mim_identity_free(&id);
    free(v);
    /* the did:key URL of the listed key is another DID's kid */
    v = tv_sign(&issuer2, NULL, c);
    expect_refused(v, MIM_ERR_MISMATCH, "is not a key of");
    json_decref(c);
    free(json);
    free(v);
}

Test(vc, listed_keys_pin_a_did_issuer)
{
    /* issuer listed with issuer2's key only: its own did:key no longer
       counts */
    char *json, *v = vc11(&issuer, holder.did);

    cr_assert_gt(asprintf(&json, "{\"issuers\":[{\"id\":\"%s\",\"keys\":"
                          "[\"%s\"]}]}", issuer.did, issuer2.did), 0);
    load_list(json);
    expect_refused(v, MIM_ERR_NOT_FOUND, "not a listed key");
    free(json);
    free(v);
}

/* ---- times ---- */

static void
refused_with_claim(const char *name, json_t *value, mim_code_t code,
    const char *words)
{
    json_t *c = tv_vc11_claims(issuer2.did, holder.did, "X", NULL);
    char *v;

    json_object_set_new(c, name, value);
    v = tv_sign(&issuer2, NULL, c);
    expect_refused(v, code, words);
    json_decref(c);
    free(v);
}

static void
refused_with_vc_member(const char *name, json_t *value, mim_code_t code,
    const char *words)
{
    json_t *c = tv_vc11_claims(issuer2.did, holder.did, "X", NULL);
    char *v;

    json_object_set_new(json_object_get(c, "vc"), name, value);
    v = tv_sign(&issuer2, NULL, c);
    expect_refused(v, code, words);
    json_decref(c);
    free(v);
}

Test(vc, expired_refused)
{
    refused_with_claim("exp", json_integer(TV_NOW - 60), MIM_ERR_MISMATCH,
                       "expired");
}

Test(vc, not_yet_valid_refused)
{
    refused_with_claim("nbf", json_integer(TV_NOW + 600), MIM_ERR_MISMATCH,
                       "not valid before");
}

Test(vc, expiration_date_past_refused)
{
    json_t *c = tv_vc11_claims(issuer2.did, holder.did, "X", NULL);
    char *v;

    json_object_del(c, "exp");
    json_object_set_new(json_object_get(c, "vc"), "expirationDate",
                        json_string("2023-11-14T21:00:00Z"));
    v = tv_sign(&issuer2, NULL, c);
    expect_refused(v, MIM_ERR_MISMATCH, "expired");
    json_decref(c);
    free(v);
}

Test(vc, valid_until_past_refused)
{
    json_t *c = tv_vc20_claims(issuer2.did, holder.did, "X", NULL);
    json_t *hdr = tv_json("{\"typ\":\"vc+jwt\"}");
    char *v;

    json_object_set_new(c, "validUntil",
                        json_string("2023-11-14T23:13:20+02:00"));
    v = tv_sign(&issuer2, hdr, c);
    expect_refused(v, MIM_ERR_MISMATCH, "expired");
    json_decref(c);
    json_decref(hdr);
    free(v);
}

Test(vc, valid_from_future_refused)
{
    json_t *c = tv_vc20_claims(issuer2.did, holder.did, "X", NULL);
    json_t *hdr = tv_json("{\"typ\":\"vc+jwt\"}");
    char *v;

    json_object_set_new(c, "validFrom", json_string("2023-11-15T00:00:00Z"));
    v = tv_sign(&issuer2, hdr, c);
    expect_refused(v, MIM_ERR_MISMATCH, "not valid before");
    json_decref(c);
    json_decref(hdr);
    free(v);
}

Test(vc, bad_date_refused)
{
    refused_with_vc_member("expirationDate", json_string("2023-11-14"),
                           MIM_ERR_INVALID, "dateTime");
}

Test(vc, expired_presentation_refused)
{
    char *v = vc11(&issuer, holder.did), *p;
    json_t *c = tv_vp11_claims(holder.did, json_pack("[s]", v));

    json_object_set_new(c, "exp", json_integer(TV_NOW - 100));
    p = tv_sign(&holder, NULL, c);
    expect_refused(p, MIM_ERR_MISMATCH, "presentation: token expired");
    json_decref(c);
    free(v);
    free(p);
}

/* ---- VC 1.1 JWT claims against the credential ---- */

Test(vc, iss_and_issuer_disagree_refused)
{
    refused_with_vc_member("issuer", json_string(issuer.did),
                           MIM_ERR_MISMATCH, "JWT iss");
}

Test(vc, sub_and_subject_id_disagree_refused)
{
    refused_with_claim("sub", json_string(holder2.did), MIM_ERR_MISMATCH,
                       "JWT sub");
}

Test(vc, jti_and_id_disagree_refused)
{
    refused_with_vc_member("id", json_string("urn:uuid:other"),
                           MIM_ERR_MISMATCH, "JWT jti");
}

Test(vc, nbf_and_issuance_date_disagree_refused)
{
    /* nbf is TV_NOW - 100 = 2023-11-14T22:11:40Z */
    refused_with_vc_member("issuanceDate",
                           json_string("2023-11-14T22:11:00Z"),
                           MIM_ERR_MISMATCH, "JWT nbf");
}

Test(vc, exp_and_expiration_date_disagree_refused)
{
    refused_with_vc_member("expirationDate",
                           json_string("2030-01-01T00:00:00Z"),
                           MIM_ERR_MISMATCH, "JWT exp");
}

Test(vc, agreeing_dates_accepted)
{
    json_t *c = tv_vc11_claims(issuer2.did, holder.did, "X", NULL);
    char *v;

    /* 22:11:40Z = TV_NOW - 100, fractions dropped; +01:00 offset */
    json_object_set_new(json_object_get(c, "vc"), "issuanceDate",
                        json_string("2023-11-14T23:11:40.750+01:00"));
    json_object_set_new(json_object_get(c, "vc"), "expirationDate",
                        json_string("2023-11-14T23:13:20Z"));
    v = tv_sign(&issuer2, NULL, c);
    expect_ok(v);
    json_decref(c);
    free(v);
}

/* ---- status ---- */

Test(vc, credential_status_refused_unless_optional)
{
    json_t *c = tv_vc11_claims(issuer2.did, holder.did, "X", NULL);
    char *v;

    json_object_set_new(json_object_get(c, "vc"), "credentialStatus",
                        json_pack("{s:s, s:s}", "type", "StatusList2021Entry",
                                  "statusListIndex", "94567"));
    v = tv_sign(&issuer2, NULL, c);
    expect_refused(v, MIM_ERR_UNSUPPORTED, "credentialStatus");
    cfg.status_optional = 1;
    expect_ok(v);
    json_decref(c);
    free(v);
}

/* ---- presentations ---- */

Test(vc, holder_mismatch_refused)
{
    char *v = vc11(&issuer, holder.did), *p = vp11(&holder2, v, NULL);

    expect_refused(p, MIM_ERR_MISMATCH, "is not the presentation's holder");
    free(v);
    free(p);
}

Test(vc, vp_signed_by_another_key_refused)
{
    char *v = vc11(&issuer, holder.did), *p;
    json_t *c = tv_vp11_claims(holder.did, json_pack("[s]", v));
    tv_party_t fake = holder2;

    snprintf(fake.kid, sizeof(fake.kid), "%s", holder.kid);
    snprintf(fake.alg, sizeof(fake.alg), "ES256");
    p = tv_sign(&fake, NULL, c);
    expect_refused(p, MIM_ERR_MISMATCH, "presentation: alg ES256 does not "
                   "fit");
    json_decref(c);
    free(v);
    free(p);
}

Test(vc, holder_member_disagrees_with_iss_refused)
{
    char *v = vc11(&issuer, holder.did), *p;
    json_t *c = tv_vp11_claims(holder.did, json_pack("[s]", v));

    json_object_set_new(json_object_get(c, "vp"), "holder",
                        json_string(holder2.did));
    p = tv_sign(&holder, NULL, c);
    expect_refused(p, MIM_ERR_MISMATCH, "JWT iss");
    json_decref(c);
    free(v);
    free(p);
}

Test(vc, credential_without_subject_id_in_vp_refused)
{
    json_t *c = tv_vc11_claims(issuer2.did, NULL, "X", NULL);
    char *v = tv_sign(&issuer2, NULL, c), *p = vp11(&holder, v, NULL);

    expect_refused(p, MIM_ERR_MISMATCH, "credential 1: credential subject "
                   "(none)");
    json_decref(c);
    free(v);
    free(p);
}

Test(vc, tampered_inner_vc_refused)
{
    char *v = vc11(&issuer, holder.did), *p, *dot1, *dot2, *payload, *t;
    uint8_t raw[4096];
    size_t n;
    char *bad;

    /* re-encode the payload with role "operator" under the old signature */
    dot1 = strchr(v, '.');
    dot2 = strchr(dot1 + 1, '.');
    cr_assert_eq(mim_b64url_decode(raw, &n, dot1 + 1,
                                   (size_t) (dot2 - dot1 - 1)), 0);
    raw[n] = '\0';
    t = strstr((char *) raw, "\"reader\"");
    cr_assert_not_null(t);
    payload = NULL;
    cr_assert_gt(asprintf(&payload, "%.*s\"writer\"%s",
                          (int) (t - (char *) raw), (char *) raw, t + 8), 0);
    bad = ut_b64url(payload, strlen(payload));
    cr_assert_gt(asprintf(&t, "%.*s.%s%s", (int) (dot1 - v), v, bad, dot2),
                 0);
    p = vp11(&holder, t, NULL);
    expect_refused(p, MIM_ERR_SIGNATURE, "credential 1: signature does not "
                   "verify");
    free(payload);
    free(bad);
    free(t);
    free(v);
    free(p);
}

Test(vc, tampered_outer_vp_refused)
{
    char *v = vc11(&issuer, holder.did), *p = vp11(&holder, v, NULL);
    char *sig = strrchr(p, '.') + 1;

    /* flip a bit of the signature (first char: no unused trailing bits) */
    sig[0] = sig[0] == 'A' ? 'B' : 'A';
    expect_refused(p, MIM_ERR_SIGNATURE, "presentation: signature");
    free(v);
    free(p);
}

Test(vc, vc_and_vp_both_present_refused)
{
    char *v = vc11(&issuer, holder.did), *p;
    json_t *c = tv_vp11_claims(holder.did, json_pack("[s]", v));

    json_object_set_new(c, "vc", json_pack("{s:[s]}", "type",
                                           "VerifiableCredential"));
    p = tv_sign(&holder, NULL, c);
    expect_refused(p, MIM_ERR_INVALID, "both vc and vp");
    json_decref(c);
    free(v);
    free(p);
}

Test(vc, vc_claim_in_vc_jwt_refused)
{
    json_t *c = tv_vc11_claims(issuer2.did, holder.did, "X", NULL);
    json_t *hdr = tv_json("{\"typ\":\"vc+jwt\"}");
    char *v = tv_sign(&issuer2, hdr, c);

    expect_refused(v, MIM_ERR_INVALID, "a vc claim in a vc+jwt");
    json_decref(c);
    json_decref(hdr);
    free(v);
}

Test(vc, vc20_without_v2_context_refused)
{
    json_t *c = tv_vc20_claims(issuer2.did, holder.did, "X", NULL);
    json_t *hdr = tv_json("{\"typ\":\"vc+jwt\"}");
    char *v;

    json_object_set_new(c, "@context", json_pack("[s]",
        "https://www.w3.org/2018/credentials/v1"));
    v = tv_sign(&issuer2, hdr, c);
    expect_refused(v, MIM_ERR_INVALID, "@context");
    json_decref(c);
    json_decref(hdr);
    free(v);
}

Test(vc, nesting_too_deep_refused)
{
    char *v = vc11(&issuer, holder.did), *inner = vp11(&holder, v, NULL);
    char *p = vp11(&holder, inner, NULL);

    expect_refused(p, MIM_ERR_LIMIT, "nesting too deep");
    free(v);
    free(inner);
    free(p);
}

Test(vc, too_many_credentials_refused)
{
    char *v = vc11(&issuer, holder.did), *p;
    json_t *vcs = json_array(), *c;
    int i;

    for (i = 0; i < MIM_VC_MAX_CREDENTIALS + 1; i++) {
        json_array_append_new(vcs, json_string("x.y.z"));
    }
    c = tv_vp11_claims(holder.did, vcs);
    p = tv_sign(&holder, NULL, c);
    expect_refused(p, MIM_ERR_LIMIT, "17 credentials (at most 16)");
    json_decref(c);
    free(v);
    free(p);
}

Test(vc, sixteen_credentials_accepted)
{
    /* small credentials (no kid, jti, role) so that 16 fit in 16 KiB */
    json_t *c = tv_vc11_claims(issuer2.did, holder.did, "X", NULL);
    json_t *hdr = tv_json("{\"kid\":null}"), *vcs = json_array(), *vp;
    char *v, *p;
    int i;

    json_object_del(c, "jti");
    json_object_del(c, "nbf");
    v = tv_sign(&issuer2, hdr, c);
    for (i = 0; i < MIM_VC_MAX_CREDENTIALS; i++) {
        json_array_append_new(vcs, json_string(v));
    }
    vp = tv_vp11_claims(holder.did, vcs);
    p = tv_sign(&holder, hdr, vp);
    cr_assert_leq(strlen(p), MIM_JWT_MAX);
    expect_ok(p);
    cr_assert_str_eq(id.credential_types, "X");
    json_decref(c);
    json_decref(hdr);
    json_decref(vp);
    free(v);
    free(p);
}

Test(vc, token_over_16k_refused)
{
    char *v = vc11(&issuer, holder.did), *p;
    json_t *c = tv_vp11_claims(holder.did, json_pack("[s]", v));
    char *pad = malloc(MIM_JWT_MAX);

    memset(pad, 'a', MIM_JWT_MAX - 1);
    pad[MIM_JWT_MAX - 1] = '\0';
    json_object_set_new(c, "padding", json_string(pad));
    p = tv_sign(&holder, NULL, c);
    cr_assert_gt(strlen(p), MIM_JWT_MAX);
    expect_refused(p, MIM_ERR_LIMIT, "longer than 16384");
    json_decref(c);
    free(pad);
    free(v);
    free(p);
}

Test(vc, embedded_ld_credential_refused)
{
    json_t *c = tv_vp11_claims(holder.did, json_pack("[{s:[s]}]", "type",
                               "VerifiableCredential"));
    char *p = tv_sign(&holder, NULL, c);

    expect_refused(p, MIM_ERR_UNSUPPORTED, "credential 1: not a JWT");
    json_decref(c);
    free(p);
}

Test(vc, envelope_with_another_media_type_refused)
{
    json_t *vp = tv_vp20_claims(holder.did, json_pack("[s]", "x.y.z"));
    json_t *hdr = tv_json("{\"typ\":\"vp+jwt\"}");
    json_t *e = json_array_get(json_object_get(vp, "verifiableCredential"),
                               0);
    char *p;

    json_object_set_new(e, "id", json_string("data:application/vc+sd-jwt,"
                                             "x.y.z"));
    p = tv_sign(&holder, hdr, vp);
    expect_refused(p, MIM_ERR_UNSUPPORTED, "data URL");
    json_decref(vp);
    json_decref(hdr);
    free(p);
}

Test(vc, empty_presentation_refused)
{
    json_t *c = tv_vp11_claims(holder.did, json_array());
    char *p = tv_sign(&holder, NULL, c);

    expect_refused(p, MIM_ERR_INVALID, "without a verifiableCredential");
    json_decref(c);
    free(p);
}

Test(vc, holder_not_a_did_refused)
{
    tv_party_t url;
    json_t *c = tv_vp11_claims("https://holder.example",
                               json_pack("[s]", "x.y.z"));
    char *p;

    tv_party_named(&url, "P-256", "https://holder.example", "k");
    p = tv_sign(&url, NULL, c);
    expect_refused(p, MIM_ERR_INVALID, "holder https://holder.example is "
                   "not a DID");
    json_decref(c);
    free(p);
    tv_party_free(&url);
}

Test(vc, holder_as_a_did_url_refused)
{
    json_t *c = tv_vp11_claims(holder.kid, json_pack("[s]", "x.y.z"));
    char *p = tv_sign(&holder, NULL, c);

    expect_refused(p, MIM_ERR_INVALID, "is not a DID");
    json_decref(c);
    free(p);
}

/* ---- audience and nonce ---- */

Test(vc, audience_and_nonce_checked_when_configured)
{
    char *v = vc11(&issuer, holder.did), *p = vp11(&holder, v, NULL);

    cfg.audience = "https://gateway.example";
    cfg.nonce = "n-0S6";
    expect_ok(p);
    mim_identity_free(&id);
    cfg.audience = "https://other.example";
    expect_refused(p, MIM_ERR_MISMATCH, "aud is not");
    cfg.audience = "https://gateway.example";
    cfg.nonce = "n-other";
    expect_refused(p, MIM_ERR_MISMATCH, "nonce");
    free(v);
    free(p);
}

Test(vc, audience_array_refused)
{
    char *v = vc11(&issuer, holder.did), *p;
    json_t *c = tv_vp11_claims(holder.did, json_pack("[s]", v));

    json_object_set_new(c, "aud", json_pack("[s,s]",
                        "https://gateway.example", "https://x.example"));
    p = tv_sign(&holder, NULL, c);
    cfg.audience = "https://gateway.example";
    expect_refused(p, MIM_ERR_MISMATCH, "aud is an array");
    json_decref(c);
    free(v);
    free(p);
}

Test(vc, missing_nonce_refused)
{
    char *v = vc11(&issuer, holder.did), *p;
    json_t *c = tv_vp11_claims(holder.did, json_pack("[s]", v));

    json_object_del(c, "nonce");
    p = tv_sign(&holder, NULL, c);
    cfg.nonce = "n-0S6";
    expect_refused(p, MIM_ERR_MISMATCH, "nonce missing");
    json_decref(c);
    free(v);
    free(p);
}

/* ---- dates ---- */

#include "mim_vc_int.h"

Test(vc, datetime_parse)
{
    int64_t t;

    cr_assert_eq(mim_datetime_parse("1970-01-01T00:00:00Z", 20, &t), 0);
    cr_assert_eq(t, 0);
    cr_assert_eq(mim_datetime_parse("2023-11-14T22:13:20Z", 20, &t), 0);
    cr_assert_eq(t, TV_NOW);
    cr_assert_eq(mim_datetime_parse("2023-11-14T23:13:20.5+01:00", 27, &t),
                 0);
    cr_assert_eq(t, TV_NOW);
    cr_assert_eq(mim_datetime_parse("2024-02-29T00:00:00-00:30", 25, &t), 0);
    cr_assert_eq(t, 1709166600);
    cr_assert_neq(mim_datetime_parse("2023-02-29T00:00:00Z", 20, &t), 0);
    cr_assert_neq(mim_datetime_parse("2023-11-14T22:13:20", 19, &t), 0);
    cr_assert_neq(mim_datetime_parse("2023-11-14 22:13:20Z", 20, &t), 0);
    cr_assert_neq(mim_datetime_parse("2023-11-14T22:13:20.Z", 21, &t), 0);
    cr_assert_neq(mim_datetime_parse("2023-11-14T24:00:00Z", 20, &t), 0);
    cr_assert_neq(mim_datetime_parse("2023-11-14T22:13:20+1:00", 24, &t), 0);
}
