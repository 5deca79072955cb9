/*
 * test_ishare.c - iSHARE client credentials (trust/mim_ishare.c): the
 * token request form, the client assertion with its x5c chain, the party
 * id of a certificate, the gateway's access tokens, and identities.
 *
 * Every test builds its own small PKI with OpenSSL: a root CA and an
 * intermediate CA (P-256, cheap to make) and an RSA leaf whose subject
 * serialNumber is the client's party id.  The assertion is built as JSON
 * and signed here, so a test changes exactly the one thing it checks.
 */
#define _GNU_SOURCE     /* asprintf */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <unistd.h>

#include <criterion/criterion.h>
#include <criterion/hooks.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "mim_b64.h"
#include "mim_identity.h"
#include "mim_ishare.h"
#include "mim_trust_int.h"
#include "unit.h"

#define NOW     1750000000L             /* 2025-06-15 */
#define DAY     86400L
#define CLIENT  "EU.EORI.NL000000001"
#define US      "EU.EORI.NL000000002"

static const char jwt_bearer[] =
    "urn%3Aietf%3Aparams%3Aoauth%3Aclient-assertion-type%3Ajwt-bearer";

/* ---- a small PKI ---- */

/*
 * A certificate for key: subject CN plus, when given, serialNumber and
 * organizationIdentifier; signed by issuer_key (self-signed without
 * issuer); ca 0: a leaf (keyUsage digitalSignature), 1: a CA (keyCertSign),
 * 2: a CA that may sign too.
 */
static X509 *
make_cert(EVP_PKEY *key, const char *cn, const char *serial,
    const char *org_id, X509 *issuer, EVP_PKEY *issuer_key, int ca,
    time_t from, time_t to)
{
    static long serial_no = 1000;
    X509 *cert = X509_new();
    X509_NAME *name;
    X509V3_CTX ctx;
    X509_EXTENSION *ext;

    cr_assert_not_null(cert);
    cr_assert(X509_set_version(cert, 2));
    cr_assert(ASN1_INTEGER_set(X509_get_serialNumber(cert), serial_no++));
    cr_assert_not_null(X509_time_adj_ex(X509_getm_notBefore(cert), 0, 0,
                                        &from));
    cr_assert_not_null(X509_time_adj_ex(X509_getm_notAfter(cert), 0, 0, &to));
    name = X509_get_subject_name(cert);
    cr_assert(X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                                         (const unsigned char *) cn, -1, -1,
                                         0));
    if (serial != NULL) {
        cr_assert(X509_NAME_add_entry_by_NID(name, NID_serialNumber,
                                             MBSTRING_UTF8,
                                             (const unsigned char *) serial,
                                             -1, -1, 0));
    }
    if (org_id != NULL) {
        cr_assert(X509_NAME_add_entry_by_NID(name, NID_organizationIdentifier,
                                             MBSTRING_UTF8,
                                             (const unsigned char *) org_id,
                                             -1, -1, 0));
    }
    cr_assert(X509_set_issuer_name(cert, issuer ? X509_get_subject_name(issuer)
                                                : name));
    cr_assert(X509_set_pubkey(cert, key));
    X509V3_set_ctx_nodb(&ctx);
    X509V3_set_ctx(&ctx, issuer ? issuer : cert, cert, NULL, NULL, 0);
    ext = X509V3_EXT_conf_nid(NULL, &ctx, NID_basic_constraints,
                              ca ? "critical,CA:TRUE" : "critical,CA:FALSE");
    cr_assert(X509_add_ext(cert, ext, -1));
    X509_EXTENSION_free(ext);
    ext = X509V3_EXT_conf_nid(NULL, &ctx, NID_key_usage,
                              ca == 2 ? "critical,digitalSignature,"
                                        "keyCertSign"
                              : ca ? "critical,keyCertSign,cRLSign"
                                   : "critical,digitalSignature,"
                                     "nonRepudiation");
    cr_assert(X509_add_ext(cert, ext, -1));
    X509_EXTENSION_free(ext);
    cr_assert(X509_sign(cert, issuer_key ? issuer_key : key, EVP_sha256()));
    return cert;
}

/*
 * An RSA key costs 50-200 ms to make, the rest of a test a few: the runner
 * makes one leaf key before the tests start (the test processes inherit
 * its file name through the environment) and removes it at the end.
 */
#define LEAF_KEY_ENV  "MIM_UNIT_ISHARE_RSA_KEY"

ReportHook(PRE_ALL)(struct criterion_test_set *tests)
{
    EVP_PKEY *pkey = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t) 2048);
    char *pem, *path;

    if (pkey == NULL) {
        return;                 /* each test then makes its own */
    }
    pem = ut_pem_private(pkey);
    path = ut_temp_file(pem);
    setenv(LEAF_KEY_ENV, path, 1);
    free(path);
    free(pem);
    EVP_PKEY_free(pkey);
}

ReportHook(POST_ALL)(struct criterion_global_stats *stats)
{
    const char *path = getenv(LEAF_KEY_ENV);

    if (path != NULL) {
        unlink(path);
    }
}

static EVP_PKEY *
leaf_rsa_key(void)
{
    const char *path = getenv(LEAF_KEY_ENV);
    EVP_PKEY *pkey = NULL;
    FILE *fp;

    if (path != NULL && (fp = fopen(path, "r")) != NULL) {
        pkey = PEM_read_PrivateKey(fp, NULL, NULL, NULL);
        fclose(fp);
    }
    return pkey ? pkey : ut_keygen("RSA2048");
}

static struct {
    EVP_PKEY             *root_key, *int_key, *leaf_key;
    X509                 *root, *inter, *leaf;
    X509_STORE           *store;
    json_t               *header;
    json_t               *claims;
    mim_ishare_config_t   cfg;
    mim_identity_t        id;
    char                 *token;
} f;

static json_t *
x5c_of(X509 *a, X509 *b, X509 *c)
{
    X509 *certs[3] = { a, b, c };
    json_t *arr = json_array();
    char *s;
    int i;

    for (i = 0; i < 3 && certs[i] != NULL; i++) {
        s = ut_cert_b64(certs[i]);
        json_array_append_new(arr, json_string(s));
        free(s);
    }
    return arr;
}

static void
setup(void)
{
    memset(&f, 0, sizeof(f));
    f.root_key = ut_keygen("P-256");
    f.int_key = ut_keygen("P-256");
    f.leaf_key = leaf_rsa_key();
    f.root = make_cert(f.root_key, "Test Root CA", NULL, NULL, NULL, NULL, 1,
                       NOW - 10 * DAY, NOW + 3650 * DAY);
    f.inter = make_cert(f.int_key, "Test Issuing CA", NULL, NULL, f.root,
                        f.root_key, 1, NOW - 10 * DAY, NOW + 1000 * DAY);
    f.leaf = make_cert(f.leaf_key, "Client Ltd", CLIENT, NULL, f.inter,
                       f.int_key, 0, NOW - DAY, NOW + 365 * DAY);
    f.store = X509_STORE_new();
    cr_assert(X509_STORE_add_cert(f.store, f.root));

    /* leaf first, the whole chain as iSHARE clients send it */
    f.header = json_pack("{s:s, s:s, s:o}", "alg", "RS256", "typ", "JWT",
                         "x5c", x5c_of(f.leaf, f.inter, f.root));
    f.claims = json_pack("{s:s, s:s, s:s, s:s, s:I, s:I}", "iss", CLIENT,
                         "sub", CLIENT, "aud", US, "jti", "3f6c1b2a-unique",
                         "iat", (json_int_t) NOW,
                         "exp", (json_int_t) (NOW + 30));
    cr_assert_not_null(f.header);
    cr_assert_not_null(f.claims);
    f.cfg.participant_id = US;
    f.cfg.anchors = f.store;
    f.cfg.party_from = MIM_PARTY_SERIAL_NUMBER;
    f.cfg.now = NOW;
    f.cfg.leeway = 5;
}

static void
teardown(void)
{
    EVP_PKEY_free(f.root_key);
    EVP_PKEY_free(f.int_key);
    EVP_PKEY_free(f.leaf_key);
    X509_free(f.root);
    X509_free(f.inter);
    X509_free(f.leaf);
    X509_STORE_free(f.store);
    json_decref(f.header);
    json_decref(f.claims);
    mim_identity_free(&f.id);
    free(f.token);
}

TestSuite(ishare, .init = setup, .fini = teardown);

/* "<b64url(header)>.<b64url(payload)>", malloc()ed */
static char *
input_of(const char *header, const char *payload)
{
    char *h64 = ut_b64url(header, strlen(header));
    char *p64 = ut_b64url(payload, strlen(payload));
    char *s;

    cr_assert_gt(asprintf(&s, "%s.%s", h64, p64), 0);
    free(h64);
    free(p64);
    return s;
}

/* as input_of, freeing both (json_dumps results) */
static char *
input_of_free(char *header, char *payload)
{
    char *s = input_of(header, payload);

    free(header);
    free(payload);
    return s;
}

/* input "." b64url(sig), malloc()ed; input is freed */
static char *
with_sig(char *input, const uint8_t *sig, size_t n)
{
    char *s64 = ut_b64url(sig, n), *s;

    cr_assert_gt(asprintf(&s, "%s.%s", input, s64), 0);
    free(s64);
    free(input);
    return s;
}

/* input signed with key for alg, as a token; input is freed */
static char *
sign_input(EVP_PKEY *key, mim_alg_t alg, char *input)
{
    uint8_t sig[1024], raw[64];
    size_t n = sizeof(sig);
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();

    cr_assert(mim_md_ctx_init(ctx, key, alg, 0));
    cr_assert_eq(EVP_DigestSign(ctx, sig, &n, (uint8_t *) input,
                                strlen(input)), 1);
    EVP_MD_CTX_free(ctx);
    if (alg == MIM_ALG_ES256) {
        cr_assert(mim_ecdsa_der_to_raw(sig, n, raw));
        return with_sig(input, raw, 64);
    }
    return with_sig(input, sig, n);
}

/* the fixture's header and claims, signed with key for alg */
static char *
sign_with(EVP_PKEY *key, mim_alg_t alg)
{
    char *hdr = json_dumps(f.header, JSON_COMPACT);
    char *pay = json_dumps(f.claims, JSON_COMPACT);

    return sign_input(key, alg, input_of_free(hdr, pay));
}

static mim_result_t
verify_as(const char *client_id, const char *token)
{
    mim_identity_free(&f.id);
    return mim_ishare_verify_assertion(&f.cfg, client_id, token,
                                       strlen(token), &f.id);
}

/* sign the fixture (RS256 by the leaf key, or alg) and verify it */
static mim_result_t
check_alg(mim_alg_t alg)
{
    free(f.token);
    f.token = sign_with(f.leaf_key, alg);
    return verify_as(CLIENT, f.token);
}

static mim_result_t
check(void)
{
    return check_alg(MIM_ALG_RS256);
}

#define assert_code(r, c, needle)                                         \
    do {                                                                  \
        mim_result_t r_ = (r);                                            \
        cr_assert_eq(r_.code, (c), "code %s, want %s: %s",                \
                     mim_code_name(r_.code), mim_code_name(c), r_.msg);   \
        cr_assert_not_null(strstr(r_.msg, (needle)),                      \
                           "message \"%s\" lacks \"%s\"", r_.msg,         \
                           (needle));                                     \
    } while (0)

static void
set_claim(const char *name, json_t *value)
{
    cr_assert_eq(json_object_set_new(f.claims, name, value), 0);
}

static void
set_header(const char *name, json_t *value)
{
    cr_assert_eq(json_object_set_new(f.header, name, value), 0);
}

/* ---- the valid assertion ---- */

Test(ishare, valid_assertion_accepted)
{
    mim_result_t r = check();

    cr_assert(mim_ok(r), "%s", r.msg);
    cr_assert_str_eq(f.id.party, CLIENT);
    cr_assert_str_eq(f.id.subject, CLIENT);
    cr_assert_str_eq(f.id.issuer, CLIENT);
    cr_assert_str_eq(f.id.auth_method, "ishare");
    cr_assert_str_eq(f.id.jti, "3f6c1b2a-unique");
    cr_assert_eq(f.id.expires, NOW + 30);
    cr_assert_null(f.id.credential_types);
}

Test(ishare, chain_without_root_accepted)
{
    set_header("x5c", x5c_of(f.leaf, f.inter, NULL));
    cr_assert(mim_ok(check()));
}

Test(ishare, rs384_rs512_accepted_ps256_not_by_default)
{
    set_header("alg", json_string("RS384"));
    cr_assert(mim_ok(check_alg(MIM_ALG_RS384)));
    set_header("alg", json_string("RS512"));
    cr_assert(mim_ok(check_alg(MIM_ALG_RS512)));
    set_header("alg", json_string("PS256"));
    assert_code(check_alg(MIM_ALG_PS256), MIM_ERR_UNSUPPORTED,
                "alg PS256 not allowed");
}

Test(ishare, allow_list_is_configurable)
{
    f.cfg.algs = mim_alg_bit(MIM_ALG_RS256);
    set_header("alg", json_string("RS512"));
    assert_code(check_alg(MIM_ALG_RS512), MIM_ERR_UNSUPPORTED,
                "alg RS512 not allowed");
    f.cfg.algs = mim_alg_bit(MIM_ALG_PS256) | mim_alg_bit(MIM_ALG_RS512);
    cr_assert(mim_ok(check_alg(MIM_ALG_RS512)));
    set_header("alg", json_string("PS256"));
    cr_assert(mim_ok(check_alg(MIM_ALG_PS256)));
}

Test(ishare, typ_absent_accepted_other_refused)
{
    json_object_del(f.header, "typ");
    cr_assert(mim_ok(check()));
    set_header("typ", json_string("at+jwt"));
    assert_code(check(), MIM_ERR_INVALID, "typ at+jwt is not JWT");
}

/* ---- the header ---- */

Test(ishare, alg_none_refused)
{
    char *t;

    set_header("alg", json_string("none"));
    t = with_sig(input_of_free(json_dumps(f.header, JSON_COMPACT),
                               json_dumps(f.claims, JSON_COMPACT)),
                 (const uint8_t *) "", 0);
    cr_assert_eq(t[strlen(t) - 1], '.');
    assert_code(verify_as(CLIENT, t), MIM_ERR_UNSUPPORTED,
                "client assertion: alg none not accepted");
    free(t);
}

Test(ishare, hs256_keyed_with_the_leaf_certificate_refused)
{
    char *pem = ut_pem_cert(f.leaf), *input, *t;
    uint8_t mac[32];
    size_t n;

    set_header("alg", json_string("HS256"));
    input = input_of_free(json_dumps(f.header, JSON_COMPACT),
                          json_dumps(f.claims, JSON_COMPACT));
    cr_assert_not_null(EVP_Q_mac(NULL, "HMAC", NULL, "SHA256", NULL, pem,
                                 strlen(pem), (uint8_t *) input,
                                 strlen(input), mac, sizeof(mac), &n));
    t = with_sig(input, mac, n);
    assert_code(verify_as(CLIENT, t), MIM_ERR_UNSUPPORTED,
                "alg HS256 not accepted");
    free(pem);
    free(t);
}

Test(ishare, header_member_other_than_alg_typ_x5c_refused)
{
    set_header("kid", json_string("client-key-1"));
    assert_code(check(), MIM_ERR_UNSUPPORTED,
                "header member kid not allowed (only alg, typ and x5c)");
    json_object_del(f.header, "kid");
    set_header("x5t#S256", json_string("abc"));
    assert_code(check(), MIM_ERR_UNSUPPORTED, "header member x5t#S256");
}

Test(ishare, jku_x5u_jwk_crit_refused)
{
    set_header("jku", json_string("https://evil.example/jwks"));
    assert_code(check(), MIM_ERR_UNSUPPORTED, "header jku not accepted");
    json_object_del(f.header, "jku");
    set_header("x5u", json_string("https://evil.example/chain.pem"));
    assert_code(check(), MIM_ERR_UNSUPPORTED, "header x5u not accepted");
    json_object_del(f.header, "x5u");
    set_header("jwk", json_pack("{s:s}", "kty", "RSA"));
    assert_code(check(), MIM_ERR_UNSUPPORTED, "header jwk not accepted");
    json_object_del(f.header, "jwk");
    set_header("crit", json_pack("[s]", "exp"));
    assert_code(check(), MIM_ERR_UNSUPPORTED, "crit not supported");
}

Test(ishare, x5c_required_and_well_formed)
{
    json_t *many = json_array();
    char *leaf = ut_cert_b64(f.leaf);
    int i;

    json_object_del(f.header, "x5c");
    assert_code(check(), MIM_ERR_INVALID, "no x5c in the header");
    set_header("x5c", json_array());
    assert_code(check(), MIM_ERR_INVALID, "x5c is not a non-empty array");
    set_header("x5c", json_string(leaf));
    assert_code(check(), MIM_ERR_INVALID, "x5c is not a non-empty array");
    set_header("x5c", json_pack("[i]", 1));
    assert_code(check(), MIM_ERR_INVALID, "x5c[0] is not a string");
    set_header("x5c", json_pack("[s]", "not base64!"));
    assert_code(check(), MIM_ERR_INVALID, "x5c[0]: x5c entry is not "
                "standard base64");
    set_header("x5c", json_pack("[s]", "AAAA"));
    assert_code(check(), MIM_ERR_INVALID, "not a DER certificate");
    for (i = 0; i < MIM_X5C_MAX + 1; i++) {
        json_array_append_new(many, json_string(leaf));
    }
    set_header("x5c", many);
    assert_code(check(), MIM_ERR_LIMIT, "more than 10 certificates");
    free(leaf);
}

/* ---- the chain: never x5c[0] alone ---- */

Test(ishare, leaf_alone_without_its_ca_refused)
{
    set_header("x5c", x5c_of(f.leaf, NULL, NULL));
    assert_code(check(), MIM_ERR_UNTRUSTED,
                "unable to get local issuer certificate");
}

/* a self-made certificate with the victim's serialNumber */
Test(ishare, self_signed_leaf_refused)
{
    X509 *fake = make_cert(f.leaf_key, "Client Ltd", CLIENT, NULL, NULL,
                           NULL, 0, NOW - DAY, NOW + DAY);

    set_header("x5c", x5c_of(fake, NULL, NULL));
    assert_code(check(), MIM_ERR_UNTRUSTED, "self-signed certificate");
    X509_free(fake);
}

Test(ishare, chain_to_an_untrusted_ca_refused)
{
    EVP_PKEY *evil_key = ut_keygen("P-256");
    X509 *evil_root = make_cert(evil_key, "Test Root CA", NULL, NULL, NULL,
                                NULL, 1, NOW - DAY, NOW + DAY);
    X509 *leaf = make_cert(f.leaf_key, "Client Ltd", CLIENT, NULL, evil_root,
                           evil_key, 0, NOW - DAY, NOW + DAY);

    /* same names as the real root: only the signatures tell them apart */
    set_header("x5c", x5c_of(leaf, evil_root, NULL));
    assert_code(check(), MIM_ERR_UNTRUSTED, "certificate chain");
    X509_free(leaf);
    X509_free(evil_root);
    EVP_PKEY_free(evil_key);
}

Test(ishare, expired_intermediate_ca_refused)
{
    X509 *old_ca = make_cert(f.int_key, "Test Issuing CA", NULL, NULL,
                             f.root, f.root_key, 1, NOW - 100 * DAY,
                             NOW - DAY);

    set_header("x5c", x5c_of(f.leaf, old_ca, NULL));
    assert_code(check(), MIM_ERR_UNTRUSTED, "certificate has expired");
    X509_free(old_ca);
}

Test(ishare, expired_root_ca_refused)
{
    X509 *old_root = make_cert(f.root_key, "Old Root CA", NULL, NULL, NULL,
                               NULL, 1, NOW - 100 * DAY, NOW - DAY);
    X509 *inter = make_cert(f.int_key, "Test Issuing CA", NULL, NULL,
                            old_root, f.root_key, 1, NOW - 10 * DAY,
                            NOW + DAY);

    X509_STORE_free(f.store);
    f.store = X509_STORE_new();
    cr_assert(X509_STORE_add_cert(f.store, old_root));
    f.cfg.anchors = f.store;
    set_header("x5c", x5c_of(f.leaf, inter, NULL));
    assert_code(check(), MIM_ERR_UNTRUSTED, "certificate has expired");
    X509_free(old_root);
    X509_free(inter);
}

Test(ishare, expired_or_future_leaf_refused)
{
    X509 *old = make_cert(f.leaf_key, "Client Ltd", CLIENT, NULL, f.inter,
                          f.int_key, 0, NOW - 10 * DAY, NOW - 1);
    X509 *young = make_cert(f.leaf_key, "Client Ltd", CLIENT, NULL, f.inter,
                            f.int_key, 0, NOW + 60, NOW + DAY);

    set_header("x5c", x5c_of(old, f.inter, NULL));
    assert_code(check(), MIM_ERR_UNTRUSTED, "certificate has expired");
    set_header("x5c", x5c_of(young, f.inter, NULL));
    assert_code(check(), MIM_ERR_UNTRUSTED, "certificate is not yet valid");
    X509_free(old);
    X509_free(young);
}

/* certificates are checked at cfg->now, not at the wall clock */
Test(ishare, chain_checked_at_configured_time)
{
    cr_assert(mim_ok(check()));
    f.cfg.now = NOW + 400 * DAY;        /* the leaf expired at +365 days */
    json_object_set_new(f.claims, "iat", json_integer(f.cfg.now));
    json_object_set_new(f.claims, "exp", json_integer(f.cfg.now + 30));
    assert_code(check(), MIM_ERR_UNTRUSTED, "certificate has expired");
}

Test(ishare, leaf_must_allow_signatures_and_not_be_a_ca)
{
    X509 *ca_leaf = make_cert(f.leaf_key, "Client Ltd", CLIENT, NULL,
                              f.inter, f.int_key, 1, NOW - DAY, NOW + DAY);

    /* a CA certificate's keyUsage (keyCertSign) does not sign tokens */
    set_header("x5c", x5c_of(ca_leaf, f.inter, NULL));
    assert_code(check(), MIM_ERR_UNTRUSTED, "keyUsage does not allow "
                "signatures");
    X509_free(ca_leaf);
    /* nor does a CA whose keyUsage allows signatures as well */
    ca_leaf = make_cert(f.leaf_key, "Client Ltd", CLIENT, NULL, f.inter,
                        f.int_key, 2, NOW - DAY, NOW + DAY);
    set_header("x5c", x5c_of(ca_leaf, f.inter, NULL));
    assert_code(check(), MIM_ERR_UNTRUSTED, "the leaf certificate is a CA");
    X509_free(ca_leaf);
}

static X509_CRL *
crl_of(X509 *issuer, EVP_PKEY *issuer_key, X509 *revoked)
{
    X509_CRL *crl = X509_CRL_new();
    ASN1_TIME *t = ASN1_TIME_new();
    X509_REVOKED *rev;

    cr_assert(X509_CRL_set_version(crl, 1));
    cr_assert(X509_CRL_set_issuer_name(crl, X509_get_subject_name(issuer)));
    cr_assert_not_null(ASN1_TIME_set(t, NOW - DAY));
    cr_assert(X509_CRL_set1_lastUpdate(crl, t));
    cr_assert_not_null(ASN1_TIME_set(t, NOW + 7 * DAY));
    cr_assert(X509_CRL_set1_nextUpdate(crl, t));
    if (revoked != NULL) {
        rev = X509_REVOKED_new();
        cr_assert(X509_REVOKED_set_serialNumber(rev,
                      X509_get_serialNumber(revoked)));
        cr_assert_not_null(ASN1_TIME_set(t, NOW - 3600));
        cr_assert(X509_REVOKED_set_revocationDate(rev, t));
        cr_assert(X509_CRL_add0_revoked(crl, rev));
    }
    ASN1_TIME_free(t);
    cr_assert(X509_CRL_sort(crl));
    cr_assert(X509_CRL_sign(crl, issuer_key, EVP_sha256()));
    return crl;
}

/* the glue loads CRLs into the store and sets X509_V_FLAG_CRL_CHECK */
Test(ishare, revoked_leaf_refused_when_crls_are_checked)
{
    X509_CRL *crl;

    X509_STORE_set_flags(f.store, X509_V_FLAG_CRL_CHECK);
    /* checking on, no CRL for the issuer: fail closed */
    assert_code(check(), MIM_ERR_UNTRUSTED, "unable to get certificate CRL");
    crl = crl_of(f.inter, f.int_key, NULL);
    cr_assert(X509_STORE_add_crl(f.store, crl));
    X509_CRL_free(crl);
    cr_assert(mim_ok(check()));

    X509_STORE_free(f.store);
    f.store = X509_STORE_new();
    f.cfg.anchors = f.store;
    cr_assert(X509_STORE_add_cert(f.store, f.root));
    X509_STORE_set_flags(f.store, X509_V_FLAG_CRL_CHECK);
    crl = crl_of(f.inter, f.int_key, f.leaf);
    cr_assert(X509_STORE_add_crl(f.store, crl));
    X509_CRL_free(crl);
    assert_code(check(), MIM_ERR_UNTRUSTED, "certificate revoked");
}

Test(ishare, token_signed_by_another_key_refused)
{
    EVP_PKEY *other = ut_keygen("RSA2048");

    free(f.token);
    f.token = sign_with(other, MIM_ALG_RS256);
    assert_code(verify_as(CLIENT, f.token), MIM_ERR_SIGNATURE,
                "signature does not verify");
    EVP_PKEY_free(other);
}

Test(ishare, ec_leaf_key_does_not_fit_rs256)
{
    EVP_PKEY *ec = ut_keygen("P-256");
    X509 *leaf = make_cert(ec, "Client Ltd", CLIENT, NULL, f.inter,
                           f.int_key, 0, NOW - DAY, NOW + DAY);

    set_header("x5c", x5c_of(leaf, f.inter, NULL));
    free(f.token);
    f.token = sign_with(f.leaf_key, MIM_ALG_RS256);
    assert_code(verify_as(CLIENT, f.token), MIM_ERR_MISMATCH,
                "alg RS256 does not fit the key");
    X509_free(leaf);
    EVP_PKEY_free(ec);
}

Test(ishare, small_rsa_leaf_refused)
{
    EVP_PKEY *weak = ut_keygen("RSA1024");
    X509 *leaf = make_cert(weak, "Client Ltd", CLIENT, NULL, f.inter,
                           f.int_key, 0, NOW - DAY, NOW + DAY);

    set_header("x5c", x5c_of(leaf, f.inter, NULL));
    free(f.token);
    f.token = sign_with(weak, MIM_ALG_RS256);
    assert_code(verify_as(CLIENT, f.token), MIM_ERR_KEY, "too small");
    X509_free(leaf);
    EVP_PKEY_free(weak);
}

Test(ishare, no_trust_anchors_configured)
{
    f.cfg.anchors = NULL;
    assert_code(check(), MIM_ERR_KEY, "no participant id or trust anchors");
}

/* ---- parties ---- */

Test(ishare, party_must_be_the_certificate_serial_number)
{
    const char *other = "EU.EORI.NL000000009";

    /* a well-signed assertion claiming another party, with our cert */
    set_claim("iss", json_string(other));
    set_claim("sub", json_string(other));
    free(f.token);
    f.token = sign_with(f.leaf_key, MIM_ALG_RS256);
    assert_code(verify_as(other, f.token), MIM_ERR_MISMATCH,
                "client_id EU.EORI.NL000000009 is not the certificate's "
                "party EU.EORI.NL000000001");
}

Test(ishare, iss_sub_must_be_client_id)
{
    cr_assert(mim_ok(check()));
    assert_code(verify_as("EU.EORI.NL000000003", f.token), MIM_ERR_MISMATCH,
                "iss EU.EORI.NL000000001 is not the client_id "
                "EU.EORI.NL000000003");
    set_claim("sub", json_string("EU.EORI.NL000000003"));
    assert_code(check(), MIM_ERR_MISMATCH,
                "sub EU.EORI.NL000000003 is not the client_id");
    set_claim("sub", json_string(CLIENT));
    set_claim("iss", json_string("EU.EORI.NL000000003"));
    assert_code(check(), MIM_ERR_MISMATCH,
                "iss EU.EORI.NL000000003 is not the client_id");
    json_object_del(f.claims, "iss");
    assert_code(check(), MIM_ERR_INVALID, "no iss claim");
}

Test(ishare, aud_must_be_us_as_one_string)
{
    set_claim("aud", json_string("EU.EORI.NL000000099"));
    assert_code(check(), MIM_ERR_MISMATCH,
                "aud EU.EORI.NL000000099 is not us");
    set_claim("aud", json_pack("[s]", US));
    assert_code(check(), MIM_ERR_INVALID,
                "aud is not a string (an array is refused)");
    json_object_del(f.claims, "aud");
    assert_code(check(), MIM_ERR_INVALID, "no aud claim");
}

Test(ishare, organization_identifier_party)
{
    X509 *leaf = make_cert(f.leaf_key, "Client Ltd", NULL, "NTRNL-12345678",
                           f.inter, f.int_key, 0, NOW - DAY, NOW + DAY);
    const char *did = "did:ishare:EU.NL.NTRNL-12345678";
    mim_result_t r;

    f.cfg.party_from = MIM_PARTY_ORGANIZATION_ID;
    set_header("x5c", x5c_of(leaf, f.inter, NULL));
    set_claim("iss", json_string(did));
    set_claim("sub", json_string(did));
    free(f.token);
    f.token = sign_with(f.leaf_key, MIM_ALG_RS256);
    r = verify_as(did, f.token);
    cr_assert(mim_ok(r), "%s", r.msg);
    cr_assert_str_eq(f.id.party, did);
    /* configured for serialNumber, the same certificate has none */
    f.cfg.party_from = MIM_PARTY_SERIAL_NUMBER;
    assert_code(verify_as(did, f.token), MIM_ERR_KEY,
                "the certificate subject has no serialNumber");
    X509_free(leaf);
}

static mim_result_t
party_of(const char *serial, const char *org_id, mim_party_source_t from,
    char **party)
{
    X509 *cert = make_cert(f.leaf_key, "Some Org", serial, org_id, NULL,
                           NULL, 0, NOW, NOW + DAY);
    mim_result_t r = mim_ishare_party_of_cert(cert, from, party);

    X509_free(cert);
    return r;
}

Test(ishare, party_of_cert_mapping)
{
    char *party = NULL;

    cr_assert(mim_ok(party_of(CLIENT, NULL, MIM_PARTY_SERIAL_NUMBER,
                              &party)));
    cr_assert_str_eq(party, CLIENT);
    free(party);
    cr_assert(mim_ok(party_of(NULL, "VATBE-0123456789",
                              MIM_PARTY_ORGANIZATION_ID, &party)));
    cr_assert_str_eq(party, "did:ishare:EU.BE.VATBE-0123456789");
    free(party);
    /* a DID in the certificate is the party id as it is */
    cr_assert(mim_ok(party_of(NULL, "did:ishare:EU.NL.NTRNL-10000001",
                              MIM_PARTY_ORGANIZATION_ID, &party)));
    cr_assert_str_eq(party, "did:ishare:EU.NL.NTRNL-10000001");
    free(party);
    assert_code(party_of(NULL, "12345678", MIM_PARTY_ORGANIZATION_ID,
                         &party), MIM_ERR_KEY, "neither a did:ishare nor "
                "of the ETSI form");
    cr_assert_null(party);
    assert_code(party_of(NULL, "ntrnl-123", MIM_PARTY_ORGANIZATION_ID,
                         &party), MIM_ERR_KEY, "ETSI form");
    assert_code(party_of(CLIENT, NULL, MIM_PARTY_ORGANIZATION_ID, &party),
                MIM_ERR_KEY, "has no organizationIdentifier");
    assert_code(party_of(NULL, NULL, MIM_PARTY_SERIAL_NUMBER, &party),
                MIM_ERR_KEY, "has no serialNumber");
    /* no spaces or non-ASCII look-alikes in a party id */
    assert_code(party_of("EU.EORI.NL 1", NULL, MIM_PARTY_SERIAL_NUMBER,
                         &party), MIM_ERR_KEY, "outside printable ASCII");
    assert_code(party_of(NULL, "NTRNL-1234\xc3\xa9", MIM_PARTY_ORGANIZATION_ID,
                         &party), MIM_ERR_KEY, "outside printable ASCII");
    cr_assert_null(party);
}

Test(ishare, two_serial_numbers_refused)
{
    X509 *cert = make_cert(f.leaf_key, "Some Org", CLIENT, NULL, NULL, NULL,
                           0, NOW, NOW + DAY);
    X509_NAME *name = X509_get_subject_name(cert);
    char *party = NULL;

    cr_assert(X509_NAME_add_entry_by_NID(name, NID_serialNumber,
                                         MBSTRING_ASC, (const unsigned char *)
                                         "EU.EORI.NL000000009", -1, -1, 0));
    assert_code(mim_ishare_party_of_cert(cert, MIM_PARTY_SERIAL_NUMBER,
                                         &party), MIM_ERR_KEY,
                "more than one serialNumber");
    X509_free(cert);
}

/* ---- times and jti ---- */

Test(ishare, lifetime_must_be_exactly_30_seconds)
{
    set_claim("exp", json_integer(NOW + 31));
    assert_code(check(), MIM_ERR_INVALID, "exp - iat is 31 s (30 required)");
    set_claim("exp", json_integer(NOW + 3600));
    assert_code(check(), MIM_ERR_INVALID, "exp - iat is 3600 s");
    set_claim("exp", json_integer(NOW + 29));
    assert_code(check(), MIM_ERR_INVALID, "exp - iat is 29 s");
}

Test(ishare, expired_assertion_refused)
{
    f.cfg.now = NOW + 34;               /* exp + leeway 5 > now: still ok */
    cr_assert(mim_ok(check()));
    f.cfg.now = NOW + 35;
    assert_code(check(), MIM_ERR_MISMATCH, "token expired");
}

Test(ishare, assertion_from_the_future_refused)
{
    f.cfg.now = NOW - 5;                /* iat <= now + leeway */
    cr_assert(mim_ok(check()));
    f.cfg.now = NOW - 6;
    assert_code(check(), MIM_ERR_MISMATCH, "issued in the future");
}

Test(ishare, iat_exp_must_be_integers)
{
    json_object_del(f.claims, "iat");
    assert_code(check(), MIM_ERR_INVALID, "iat is missing");
    set_claim("iat", json_real((double) NOW));
    assert_code(check(), MIM_ERR_INVALID, "iat is missing or not an "
                "integer");
    set_claim("iat", json_integer(NOW));
    set_claim("exp", json_string("1750000030"));
    assert_code(check(), MIM_ERR_INVALID, "exp is missing or not an "
                "integer");
}

Test(ishare, jti_required)
{
    json_object_del(f.claims, "jti");
    assert_code(check(), MIM_ERR_INVALID, "no jti claim");
    set_claim("jti", json_integer(7));
    assert_code(check(), MIM_ERR_INVALID, "jti is not a string");
    set_claim("jti", json_string(""));
    assert_code(check(), MIM_ERR_INVALID, "jti is empty");
}

/* ---- malformed assertions ---- */

Test(ishare, malformed_assertions_refused)
{
    char *big, *t;
    size_t len;

    cr_assert(mim_ok(check()));
    t = strdup(f.token);
    t[5] = '*';
    assert_code(verify_as(CLIENT, t), MIM_ERR_INVALID,
                "client assertion: header is not base64url");
    /* truncated: the signature is cut */
    strcpy(t, f.token);
    t[strlen(t) - 6] = '\0';    /* 336 chars: 252 bytes */
    assert_code(verify_as(CLIENT, t), MIM_ERR_SIGNATURE, "(256 expected)");
    free(t);
    /* over 16 KiB */
    len = MIM_JWT_MAX + 1;
    big = malloc(len + 1);
    memset(big, 'A', len);
    big[len] = '\0';
    memcpy(big, f.token, strlen(f.token));
    assert_code(verify_as(CLIENT, big), MIM_ERR_LIMIT, "longer than 16384");
    free(big);
}

Test(ishare, duplicate_claims_refused)
{
    const char *pay = "{\"iss\":\"" CLIENT "\",\"sub\":\"" CLIENT "\","
                      "\"aud\":\"" US "\",\"aud\":\"x\",\"jti\":\"a\","
                      "\"iat\":1750000000,\"exp\":1750000030}";
    char *hdr = json_dumps(f.header, JSON_COMPACT), *t;

    t = sign_input(f.leaf_key, MIM_ALG_RS256, input_of(hdr, pay));
    assert_code(verify_as(CLIENT, t), MIM_ERR_INVALID,
                "payload is not JSON: duplicate object key");
    free(hdr);
    free(t);
}

Test(ishare, deeply_nested_claims_refused)
{
    json_t *v = json_integer(1);
    int i;

    for (i = 0; i < MIM_JWT_MAX_DEPTH; i++) {
        v = json_pack("[o]", v);
    }
    set_claim("extra", v);
    assert_code(check(), MIM_ERR_LIMIT, "payload nested deeper than 16");
}

/* ---- interop: assertions made by python3-jwcrypto ---- */

/*
 * The seeds of t/fuzz/corpus/fuzz_ishare_assertion were made by an
 * independent implementation (python3-cryptography for the PKI,
 * python3-jwcrypto for the JWTs), as "<client_id>\n<assertion>", under
 * this root, valid at 1800000000.
 */
static const char jwcrypto_root_pem[] =
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

static mim_result_t
interop(const char *seed, mim_party_source_t from)
{
    char *path, *text, *nl;
    size_t len;
    mim_result_t r;
    BIO *bio = BIO_new_mem_buf(jwcrypto_root_pem, -1);
    X509 *root = PEM_read_bio_X509(bio, NULL, NULL, NULL);

    BIO_free(bio);
    cr_assert_not_null(root);
    X509_STORE_free(f.store);
    f.store = X509_STORE_new();
    cr_assert(X509_STORE_add_cert(f.store, root));
    X509_free(root);
    f.cfg.anchors = f.store;
    f.cfg.now = 1800000000;
    f.cfg.party_from = from;
    cr_assert_gt(asprintf(&path, "../fuzz/corpus/fuzz_ishare_assertion/%s",
                          seed), 0);
    r = mim_read_file(path, 65536, &text, &len);
    cr_assert(mim_ok(r), "%s: %s", path, r.msg);
    nl = strchr(text, '\n');
    cr_assert_not_null(nl);
    *nl = '\0';
    mim_identity_free(&f.id);
    r = mim_ishare_verify_assertion(&f.cfg, text, nl + 1,
                                    len - (size_t) (nl + 1 - text), &f.id);
    free(text);
    free(path);
    return r;
}

Test(ishare, interop_jwcrypto_assertions)
{
    mim_result_t r;

    r = interop("rs256_serial", MIM_PARTY_SERIAL_NUMBER);
    cr_assert(mim_ok(r), "%s", r.msg);
    cr_assert_str_eq(f.id.party, CLIENT);
    r = interop("rs512_leaf_inter", MIM_PARTY_SERIAL_NUMBER);
    cr_assert(mim_ok(r), "%s", r.msg);
    r = interop("org_id_did", MIM_PARTY_ORGANIZATION_ID);
    cr_assert(mim_ok(r), "%s", r.msg);
    cr_assert_str_eq(f.id.party, "did:ishare:EU.NL.NTRNL-12345678");
    assert_code(interop("kid_header", MIM_PARTY_SERIAL_NUMBER),
                MIM_ERR_UNSUPPORTED, "header member kid not allowed");
    assert_code(interop("long_lifetime", MIM_PARTY_SERIAL_NUMBER),
                MIM_ERR_INVALID, "exp - iat is 3600 s");
    assert_code(interop("leaf_only", MIM_PARTY_SERIAL_NUMBER),
                MIM_ERR_UNTRUSTED, "unable to get local issuer");
    assert_code(interop("wrong_party", MIM_PARTY_SERIAL_NUMBER),
                MIM_ERR_MISMATCH, "is not the certificate's party");
}

/* ---- the token request ---- */

static mim_token_request_t req;

static void
req_teardown(void)
{
    mim_token_request_free(&req);
}

TestSuite(token_request, .fini = req_teardown);

static mim_result_t
parse_req(const char *body, const char **err)
{
    mim_token_request_free(&req);
    return mim_token_request_parse(&req, body, strlen(body), err);
}

static char *
body_with(const char *grant, const char *scope, const char *client_id,
    const char *type, const char *assertion)
{
    char *s = NULL;
    size_t cap = 0;
    FILE *m = open_memstream(&s, &cap);

    cr_assert_not_null(m);
    if (grant) {
        fprintf(m, "grant_type=%s&", grant);
    }
    if (scope) {
        fprintf(m, "scope=%s&", scope);
    }
    if (client_id) {
        fprintf(m, "client_id=%s&", client_id);
    }
    if (type) {
        fprintf(m, "client_assertion_type=%s&", type);
    }
    if (assertion) {
        fprintf(m, "client_assertion=%s", assertion);
    }
    fclose(m);
    return s;
}

#define GOOD_BODY \
    "grant_type=client_credentials&scope=iSHARE&client_id=EU.EORI." \
    "NL000000001&client_assertion_type=urn%3Aietf%3Aparams%3Aoauth%3A" \
    "client-assertion-type%3Ajwt-bearer&client_assertion=eyJ.eyJ.sig"

Test(token_request, valid_request_decoded)
{
    const char *err = "unset";
    mim_result_t r = parse_req(GOOD_BODY, &err);

    cr_assert(mim_ok(r), "%s", r.msg);
    cr_assert_null(err);
    cr_assert_str_eq(req.grant_type, "client_credentials");
    cr_assert_str_eq(req.scope, "iSHARE");
    cr_assert_str_eq(req.client_id, CLIENT);
    cr_assert_str_eq(req.client_assertion_type,
                     "urn:ietf:params:oauth:client-assertion-type:"
                     "jwt-bearer");
    cr_assert_str_eq(req.client_assertion, "eyJ.eyJ.sig");
}

Test(token_request, plus_is_space_and_names_are_decoded)
{
    const char *err;
    char *body = body_with("client_credentials", "openid+iSHARE%20extra",
                           "EU.EORI.NL000000001", jwt_bearer, "a.b.c");
    mim_result_t r;

    r = parse_req(body, &err);
    cr_assert(mim_ok(r), "%s", r.msg);
    cr_assert_str_eq(req.scope, "openid iSHARE extra");
    free(body);
    /* an encoded name is the same name */
    r = parse_req("client%5Fid=x&" GOOD_BODY, &err);
    assert_code(r, MIM_ERR_INVALID, "client_id given more than once");
    cr_assert_str_eq(err, MIM_OAUTH_INVALID_REQUEST);
}

Test(token_request, unknown_members_and_empty_segments_ignored)
{
    const char *err;
    mim_result_t r = parse_req("&&foo=bar&foo=baz&" GOOD_BODY "&", &err);

    cr_assert(mim_ok(r), "%s", r.msg);
    cr_assert_str_eq(req.client_assertion, "eyJ.eyJ.sig");
}

Test(token_request, member_given_twice_refused)
{
    const char *err;

    assert_code(parse_req(GOOD_BODY "&scope=iSHARE", &err), MIM_ERR_INVALID,
                "scope given more than once");
    cr_assert_str_eq(err, MIM_OAUTH_INVALID_REQUEST);
    cr_assert_null(req.grant_type);
    /* even when one of them is empty */
    assert_code(parse_req("client_assertion=&" GOOD_BODY, &err),
                MIM_ERR_INVALID, "client_assertion given more than once");
    cr_assert_str_eq(err, MIM_OAUTH_INVALID_REQUEST);
}

Test(token_request, bad_percent_encoding_refused)
{
    const char *err;

    assert_code(parse_req("client_id=EU%2" , &err), MIM_ERR_INVALID,
                "bad percent-encoding in client_id");
    assert_code(parse_req("client_id=EU%zz1&grant_type=client_credentials",
                          &err), MIM_ERR_INVALID,
                "bad percent-encoding in client_id");
    assert_code(parse_req("grant_type=%", &err), MIM_ERR_INVALID,
                "bad percent-encoding in grant_type");
    assert_code(parse_req("%G0=1", &err), MIM_ERR_INVALID,
                "bad percent-encoding in a parameter name");
    cr_assert_str_eq(err, MIM_OAUTH_INVALID_REQUEST);
}

Test(token_request, control_characters_refused)
{
    const char *err;

    assert_code(parse_req("client_id=EU%00x&" GOOD_BODY, &err),
                MIM_ERR_INVALID, "control character in client_id");
    assert_code(parse_req("scope=iSHARE%0Aevil", &err), MIM_ERR_INVALID,
                "control character in scope");
    cr_assert_str_eq(err, MIM_OAUTH_INVALID_REQUEST);
}

Test(token_request, size_limit)
{
    const char *err;
    size_t base = strlen(GOOD_BODY "&pad="), len;
    char *body = malloc(MIM_TOKEN_REQUEST_MAX + 2);
    mim_result_t r;

    strcpy(body, GOOD_BODY "&pad=");
    len = MIM_TOKEN_REQUEST_MAX;
    memset(body + base, 'x', len - base);
    body[len] = '\0';
    r = parse_req(body, &err);
    cr_assert(mim_ok(r), "%zu bytes: %s", len, r.msg);
    body[len] = 'x';
    body[len + 1] = '\0';
    assert_code(parse_req(body, &err), MIM_ERR_LIMIT,
                "token request longer than 32768 bytes");
    cr_assert_str_eq(err, MIM_OAUTH_INVALID_REQUEST);
    free(body);
}

static void
req_error(const char *body, const char *oauth, const char *needle)
{
    const char *err = NULL;
    mim_result_t r = parse_req(body, &err);

    cr_assert_not(mim_ok(r), "accepted: %s", body);
    cr_assert_not_null(strstr(r.msg, needle), "\"%s\" lacks \"%s\"", r.msg,
                       needle);
    cr_assert_not_null(err);
    cr_assert_str_eq(err, oauth, "%s: %s", body, r.msg);
}

Test(token_request, each_member_checked_with_its_error_code)
{
    char *b;

    req_error("", MIM_OAUTH_INVALID_REQUEST, "empty token request");
    b = body_with(NULL, "iSHARE", CLIENT, jwt_bearer, "a.b.c");
    req_error(b, MIM_OAUTH_INVALID_REQUEST, "grant_type is missing");
    free(b);
    b = body_with("password", "iSHARE", CLIENT, jwt_bearer, "a.b.c");
    req_error(b, MIM_OAUTH_UNSUPPORTED_GRANT_TYPE,
              "grant_type password not supported");
    free(b);
    b = body_with("client_credentials", NULL, CLIENT, jwt_bearer, "a.b.c");
    req_error(b, MIM_OAUTH_INVALID_REQUEST, "scope is missing");
    free(b);
    b = body_with("client_credentials", "openid", CLIENT, jwt_bearer,
                  "a.b.c");
    req_error(b, MIM_OAUTH_INVALID_SCOPE, "scope does not contain iSHARE");
    free(b);
    b = body_with("client_credentials", "iSHAREx+ishare", CLIENT, jwt_bearer,
                  "a.b.c");
    req_error(b, MIM_OAUTH_INVALID_SCOPE, "scope does not contain iSHARE");
    free(b);
    b = body_with("client_credentials", "iSHARE", NULL, jwt_bearer, "a.b.c");
    req_error(b, MIM_OAUTH_INVALID_REQUEST, "client_id is missing");
    free(b);
    /* a parameter without a value is as if omitted (RFC 6749 3.1) */
    b = body_with("client_credentials", "iSHARE", "", jwt_bearer, "a.b.c");
    req_error(b, MIM_OAUTH_INVALID_REQUEST, "client_id is missing");
    free(b);
    b = body_with("client_credentials", "iSHARE", CLIENT, NULL, "a.b.c");
    req_error(b, MIM_OAUTH_INVALID_CLIENT, "client_assertion_type is "
              "missing");
    free(b);
    b = body_with("client_credentials", "iSHARE", CLIENT,
                  "urn:ietf:params:oauth:client-assertion-type:saml2-bearer",
                  "a.b.c");
    req_error(b, MIM_OAUTH_INVALID_CLIENT, "client_assertion_type "
              "urn:ietf:params:oauth:client-assertion-type:saml2-b");
    free(b);
    b = body_with("client_credentials", "iSHARE", CLIENT, jwt_bearer, NULL);
    req_error(b, MIM_OAUTH_INVALID_CLIENT, "client_assertion is missing");
    free(b);
}

/* ---- the gateway's access tokens ---- */

static mim_key_t at_key;
static mim_identity_t at_id;
static char *at_token;

static void
at_setup(void)
{
    EVP_PKEY *pkey = ut_keygen("P-256");

    ut_key_from_pkey(&at_key, pkey, NULL);
    EVP_PKEY_free(pkey);
}

static void
at_teardown(void)
{
    mim_key_free(&at_key);
    mim_identity_free(&at_id);
    free(at_token);
}

TestSuite(access_token, .init = at_setup, .fini = at_teardown);

static mim_result_t
at_verify(const char *token, int64_t now)
{
    mim_identity_free(&at_id);
    return mim_access_token_verify(&at_key, US, token, strlen(token), now,
                                   5, &at_id);
}

Test(access_token, issue_and_verify)
{
    mim_jwt_t jwt;
    char *second = NULL;
    mim_result_t r;

    r = mim_access_token_issue(&at_key, US, CLIENT, NOW, 3600, &at_token);
    cr_assert(mim_ok(r), "%s", r.msg);
    r = at_verify(at_token, NOW + 10);
    cr_assert(mim_ok(r), "%s", r.msg);
    cr_assert_str_eq(at_id.party, CLIENT);
    cr_assert_str_eq(at_id.subject, CLIENT);
    cr_assert_str_eq(at_id.issuer, US);
    cr_assert_str_eq(at_id.auth_method, "token");
    cr_assert_eq(at_id.expires, NOW + 3600);
    cr_assert_eq(strlen(at_id.jti), 22);

    cr_assert(mim_ok(mim_jwt_parse(&jwt, at_token, strlen(at_token))));
    cr_assert_str_eq(jwt.typ, "at+jwt");
    cr_assert_eq(jwt.alg, MIM_ALG_ES256);
    cr_assert_str_eq(jwt.kid, at_key.kid);
    cr_assert_str_eq(mim_jwt_string(&jwt, "aud"), US);
    cr_assert_str_eq(mim_jwt_string(&jwt, "iss"), US);
    mim_jwt_free(&jwt);

    /* a fresh random jti each time */
    cr_assert(mim_ok(mim_access_token_issue(&at_key, US, CLIENT, NOW, 3600,
                                            &second)));
    cr_assert(mim_ok(mim_jwt_parse(&jwt, second, strlen(second))));
    cr_assert_str_neq(mim_jwt_string(&jwt, "jti"), at_id.jti);
    mim_jwt_free(&jwt);
    free(second);
}

Test(access_token, expired_refused)
{
    cr_assert(mim_ok(mim_access_token_issue(&at_key, US, CLIENT, NOW, 60,
                                            &at_token)));
    cr_assert(mim_ok(at_verify(at_token, NOW + 64)));
    assert_code(at_verify(at_token, NOW + 65), MIM_ERR_MISMATCH,
                "access token: token expired");
}

Test(access_token, other_gateway_refused)
{
    cr_assert(mim_ok(mim_access_token_issue(&at_key, "EU.EORI.NL000000077",
                                            CLIENT, NOW, 60, &at_token)));
    assert_code(at_verify(at_token, NOW), MIM_ERR_MISMATCH,
                "iss EU.EORI.NL000000077 is not us");
}

Test(access_token, other_key_refused)
{
    EVP_PKEY *pkey = ut_keygen("P-256");
    mim_key_t other;

    ut_key_from_pkey(&other, pkey, NULL);
    cr_assert(mim_ok(mim_access_token_issue(&other, US, CLIENT, NOW, 60,
                                            &at_token)));
    assert_code(at_verify(at_token, NOW), MIM_ERR_SIGNATURE,
                "signature does not verify");
    mim_key_free(&other);
    EVP_PKEY_free(pkey);
}

/* the key's alg is pinned: the same RSA key under another alg is refused */
Test(access_token, alg_pinned_by_the_key)
{
    EVP_PKEY *rsa = ut_keygen("RSA2048");
    mim_key_t rs256, ps256;

    ut_key_from_pkey(&rs256, rsa, "RS256");
    ut_key_from_pkey(&ps256, rsa, "PS256");
    cr_assert(mim_ok(mim_access_token_issue(&ps256, US, CLIENT, NOW, 60,
                                            &at_token)));
    mim_key_free(&at_key);
    at_key = rs256;
    assert_code(at_verify(at_token, NOW), MIM_ERR_UNSUPPORTED,
                "alg PS256 not allowed");
    mim_key_free(&ps256);
    EVP_PKEY_free(rsa);
}

Test(access_token, typ_and_aud_checked)
{
    json_t *claims = json_pack("{s:s, s:[s], s:s, s:s, s:I, s:I}", "iss", US,
                               "aud", US, "sub", CLIENT, "jti", "j",
                               "iat", (json_int_t) NOW,
                               "exp", (json_int_t) NOW + 60);

    /* an assertion-like JWT (typ JWT) is not an access token */
    cr_assert(mim_ok(mim_jwt_sign(&at_key, "JWT", claims, &at_token, NULL)));
    assert_code(at_verify(at_token, NOW), MIM_ERR_INVALID,
                "typ is not at+jwt");
    free(at_token);
    cr_assert(mim_ok(mim_jwt_sign(&at_key, "at+jwt", claims, &at_token,
                                  NULL)));
    assert_code(at_verify(at_token, NOW), MIM_ERR_INVALID,
                "aud is not a string (an array is refused)");
    free(at_token);
    json_object_set_new(claims, "aud", json_string(US));
    cr_assert(mim_ok(mim_jwt_sign(&at_key, "application/AT+JWT", claims,
                                  &at_token, NULL)));
    cr_assert(mim_ok(at_verify(at_token, NOW)));
    json_decref(claims);
}

Test(access_token, issue_refuses_bad_arguments)
{
    assert_code(mim_access_token_issue(&at_key, US, CLIENT, NOW, 0,
                                       &at_token), MIM_ERR_INVALID,
                "lifetime");
    assert_code(mim_access_token_issue(&at_key, US, "", NOW, 60, &at_token),
                MIM_ERR_INVALID, "no issuer or party");
    cr_assert_null(at_token);
}

/* ---- identities ---- */

Test(identity, claims_lookup_and_free)
{
    mim_identity_t id;
    char *roles[] = { strdup("reader"), strdup("writer") };

    memset(&id, 0, sizeof(id));
    id.party = strdup("did:web:city.example");
    id.claims = calloc(2, sizeof(mim_identity_claim_t));
    id.claims_n = 2;
    id.claims[0].name = strdup("role");
    id.claims[0].values = malloc(sizeof(roles));
    memcpy(id.claims[0].values, roles, sizeof(roles));
    id.claims[0].n = 2;
    id.claims[1].name = strdup("empty");
    cr_assert_str_eq(mim_identity_claim(&id, "role")->values[1], "writer");
    cr_assert_eq(mim_identity_claim(&id, "empty")->n, 0);
    cr_assert_null(mim_identity_claim(&id, "missing"));
    cr_assert_null(mim_identity_claim(NULL, "role"));
    mim_identity_free(&id);
    cr_assert_null(id.party);
    cr_assert_eq(id.claims_n, 0);
    mim_identity_free(&id);             /* twice: harmless */
}
