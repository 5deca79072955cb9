/*
 * bench/jwt_verify.c - cold verification rate of compact JWTs on one core.
 *
 * Cold: nothing about a token is cached between rounds; each round parses
 * the token (base64url, JSON, header rules) and verifies its signature
 * with a pinned key, as the gateway does for a token it has not seen.
 *
 *   RS256            mim_jwt_parse + mim_jwt_verify, RSA-2048 key
 *   ES256            the same, P-256 key
 *   iSHARE RS256     mim_ishare_verify_assertion: parse, header rules,
 *                    claims, the x5c chain (leaf, intermediate, root;
 *                    RSA-2048 CAs) validated to the anchor at now (two
 *                    RSA verifications), party id, signature (a third).
 *                    The chain's certificates are decoded once and kept
 *                    (mim_ishare.c: OpenSSL 3.0 takes ~150 us to decode
 *                    one), as for a client that has called before
 *   ... first seen   the same with that cache emptied every time: a
 *                    client's first assertion
 *
 * Prints "<name>: <verifications per CPU second>" lines that
 * bench/jwt-verify.sh reads.  Usage: jwt_verify [seconds per case,
 * default 2]
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "mim_b64.h"
#include "mim_ishare.h"
#include "mim_jwt.h"
#include "mim_trust_int.h"

#define NOW     1750000000L
#define DAY     86400L
#define CLIENT  "EU.EORI.NL000000001"
#define US      "EU.EORI.NL000000002"

static void
die(const char *what, mim_result_t r)
{
    fprintf(stderr, "jwt_verify: %s: %s\n", what, r.msg);
    exit(1);
}

static void
need(int ok, const char *what)
{
    if (!ok) {
        fprintf(stderr, "jwt_verify: %s failed\n", what);
        exit(1);
    }
}

static double
clock_seconds(clockid_t which)
{
    struct timespec ts;

    clock_gettime(which, &ts);
    return (double) ts.tv_sec + (double) ts.tv_nsec / 1e9;
}

/* a mim key from pkey: private (for signing) or public only, pinned */
static void
key_of(mim_key_t *key, EVP_PKEY *pkey, const char *alg, int is_private)
{
    BIO *bio = BIO_new(BIO_s_mem());
    char *pem;
    long len;
    mim_result_t r;

    need(bio != NULL && (is_private
                         ? PEM_write_bio_PrivateKey(bio, pkey, NULL, NULL, 0,
                                                    NULL, NULL)
                         : PEM_write_bio_PUBKEY(bio, pkey)), "PEM");
    len = BIO_get_mem_data(bio, &pem);
    r = mim_key_from_pem(key, pem, (size_t) len, alg, is_private);
    if (!mim_ok(r)) {
        die("key", r);
    }
    BIO_free(bio);
}

static X509 *
make_cert(EVP_PKEY *key, const char *cn, const char *serial, X509 *issuer,
    EVP_PKEY *issuer_key, int ca)
{
    static long serial_no = 1;
    X509 *cert = X509_new();
    X509_NAME *name;
    X509V3_CTX ctx;
    X509_EXTENSION *ext;
    time_t from = NOW - DAY, to = NOW + 365 * DAY;

    need(cert != NULL, "X509_new");
    X509_set_version(cert, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(cert), serial_no++);
    X509_time_adj_ex(X509_getm_notBefore(cert), 0, 0, &from);
    X509_time_adj_ex(X509_getm_notAfter(cert), 0, 0, &to);
    name = X509_get_subject_name(cert);
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                               (const unsigned char *) cn, -1, -1, 0);
    if (serial != NULL) {
        X509_NAME_add_entry_by_NID(name, NID_serialNumber, MBSTRING_ASC,
                                   (const unsigned char *) serial, -1, -1, 0);
    }
    X509_set_issuer_name(cert, issuer ? X509_get_subject_name(issuer) : name);
    X509_set_pubkey(cert, key);
    X509V3_set_ctx_nodb(&ctx);
    X509V3_set_ctx(&ctx, issuer ? issuer : cert, cert, NULL, NULL, 0);
    ext = X509V3_EXT_conf_nid(NULL, &ctx, NID_basic_constraints,
                              ca ? "critical,CA:TRUE" : "critical,CA:FALSE");
    X509_add_ext(cert, ext, -1);
    X509_EXTENSION_free(ext);
    ext = X509V3_EXT_conf_nid(NULL, &ctx, NID_key_usage,
                              ca ? "critical,keyCertSign,cRLSign"
                                 : "critical,digitalSignature");
    X509_add_ext(cert, ext, -1);
    X509_EXTENSION_free(ext);
    need(X509_sign(cert, issuer_key ? issuer_key : key, EVP_sha256()) > 0,
         "X509_sign");
    return cert;
}

static char *
cert_b64(X509 *cert)
{
    unsigned char *der = NULL;
    int len = i2d_X509(cert, &der);
    char *s = malloc(mim_b64_len((size_t) len) + 1);

    need(len > 0 && s != NULL, "i2d_X509");
    s[mim_b64_encode(s, der, (size_t) len)] = '\0';
    OPENSSL_free(der);
    return s;
}

static char *
b64url_text(const char *text)
{
    size_t n = strlen(text);
    char *s = malloc(mim_b64url_len(n) + 1);

    need(s != NULL, "malloc");
    s[mim_b64url_encode(s, (const uint8_t *) text, n)] = '\0';
    return s;
}

typedef struct {
    EVP_PKEY    *root_key, *int_key, *leaf_key;
    X509        *root, *inter, *leaf;
    X509_STORE  *store;
    char        *x5c[3];
    char        *assertion;
} ishare_fixture_t;

/* an iSHARE client assertion (header alg, typ, x5c) signed by the leaf */
static void
make_assertion(ishare_fixture_t *f)
{
    json_t *hdr, *claims;
    char *h, *c, *h64, *c64, *input, *sig64;
    uint8_t sig[512];
    size_t n = sizeof(sig);
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();

    hdr = json_pack("{s:s, s:s, s:[s,s,s]}", "alg", "RS256", "typ", "JWT",
                    "x5c", f->x5c[0], f->x5c[1], f->x5c[2]);
    claims = json_pack("{s:s, s:s, s:s, s:s, s:I, s:I}", "iss", CLIENT,
                       "sub", CLIENT, "aud", US, "jti", "bench-1",
                       "iat", (json_int_t) NOW, "exp", (json_int_t) NOW + 30);
    need(hdr != NULL && claims != NULL, "json_pack");
    h = json_dumps(hdr, JSON_COMPACT);
    c = json_dumps(claims, JSON_COMPACT);
    h64 = b64url_text(h);
    c64 = b64url_text(c);
    need(asprintf(&input, "%s.%s", h64, c64) > 0, "asprintf");
    need(ctx != NULL && mim_md_ctx_init(ctx, f->leaf_key, MIM_ALG_RS256, 0)
         && EVP_DigestSign(ctx, sig, &n, (uint8_t *) input,
                           strlen(input)) == 1, "sign");
    sig64 = malloc(mim_b64url_len(n) + 1);
    need(sig64 != NULL, "malloc");
    sig64[mim_b64url_encode(sig64, sig, n)] = '\0';
    need(asprintf(&f->assertion, "%s.%s", input, sig64) > 0, "asprintf");
    EVP_MD_CTX_free(ctx);
    json_decref(hdr);
    json_decref(claims);
    free(h);
    free(c);
    free(h64);
    free(c64);
    free(input);
    free(sig64);
}

static void
ishare_setup(ishare_fixture_t *f)
{
    f->root_key = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t) 2048);
    f->int_key = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t) 2048);
    f->leaf_key = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t) 2048);
    need(f->root_key && f->int_key && f->leaf_key, "keygen");
    f->root = make_cert(f->root_key, "Bench Root CA", NULL, NULL, NULL, 1);
    f->inter = make_cert(f->int_key, "Bench Issuing CA", NULL, f->root,
                         f->root_key, 1);
    f->leaf = make_cert(f->leaf_key, "Bench Client", CLIENT, f->inter,
                        f->int_key, 0);
    f->store = X509_STORE_new();
    need(f->store != NULL && X509_STORE_add_cert(f->store, f->root),
         "store");
    f->x5c[0] = cert_b64(f->leaf);
    f->x5c[1] = cert_b64(f->inter);
    f->x5c[2] = cert_b64(f->root);
    make_assertion(f);
}

static void
ishare_free(ishare_fixture_t *f)
{
    int i;

    EVP_PKEY_free(f->root_key);
    EVP_PKEY_free(f->int_key);
    EVP_PKEY_free(f->leaf_key);
    X509_free(f->root);
    X509_free(f->inter);
    X509_free(f->leaf);
    X509_STORE_free(f->store);
    for (i = 0; i < 3; i++) {
        free(f->x5c[i]);
    }
    free(f->assertion);
}

/* ---- the cases ---- */

typedef struct {
    const char         *token;
    size_t              len;
    const mim_key_t    *key;
    ishare_fixture_t   *ishare;
} bench_arg_t;

static mim_result_t
case_pinned(const bench_arg_t *a)
{
    mim_jwt_t jwt;
    mim_result_t r = mim_jwt_parse(&jwt, a->token, a->len);

    if (mim_ok(r)) {
        r = mim_jwt_verify(&jwt, a->key, mim_alg_bit(a->key->alg));
    }
    mim_jwt_free(&jwt);
    return r;
}

static mim_result_t
case_ishare(const bench_arg_t *a)
{
    mim_ishare_config_t cfg = {
        .participant_id = US, .anchors = a->ishare->store, .now = NOW,
        .leeway = 5, .party_from = MIM_PARTY_SERIAL_NUMBER
    };
    mim_identity_t id;
    mim_result_t r;

    r = mim_ishare_verify_assertion(&cfg, CLIENT, a->token, a->len, &id);
    mim_identity_free(&id);
    return r;
}

/* as a client's first assertion: no certificate of its chain decoded yet */
static mim_result_t
case_ishare_first(const bench_arg_t *a)
{
    mim_ishare_cert_cache_flush();
    return case_ishare(a);
}

static void
run(const char *name, mim_result_t (*fn)(const bench_arg_t *),
    const bench_arg_t *a, double duration)
{
    double start, cpu, elapsed;
    long n = 0, i;
    mim_result_t r;

    r = fn(a);                          /* warm, and check it verifies */
    if (!mim_ok(r)) {
        die(name, r);
    }
    /* runs for duration of wall-clock time, counts per second of the
       process's CPU time, as openssl speed does (its default divisor is
       CPU time): figures that other load on the machine moves little */
    start = clock_seconds(CLOCK_MONOTONIC);
    cpu = clock_seconds(CLOCK_PROCESS_CPUTIME_ID);
    do {
        for (i = 0; i < 64; i++) {
            r = fn(a);
            if (!mim_ok(r)) {
                die(name, r);
            }
        }
        n += 64;
    } while (clock_seconds(CLOCK_MONOTONIC) - start < duration);
    elapsed = clock_seconds(CLOCK_PROCESS_CPUTIME_ID) - cpu;
    printf("%s: %.0f\n", name, (double) n / elapsed);
    fflush(stdout);
}

int
main(int argc, char **argv)
{
    double duration = argc > 1 ? atof(argv[1]) : 2.0;
    EVP_PKEY *rsa = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t) 2048);
    EVP_PKEY *ec = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    mim_key_t rs_sign, rs_pub, es_sign, es_pub;
    ishare_fixture_t f;
    json_t *claims;
    char *rs_token, *es_token;
    bench_arg_t a;
    mim_result_t r;

    need(rsa != NULL && ec != NULL && duration > 0, "setup");
    key_of(&rs_sign, rsa, "RS256", 1);
    key_of(&rs_pub, rsa, "RS256", 0);
    key_of(&es_sign, ec, NULL, 1);
    key_of(&es_pub, ec, NULL, 0);
    claims = json_pack("{s:s, s:s, s:s, s:s, s:I, s:I}", "iss", US,
                       "aud", US, "sub", CLIENT, "jti",
                       "Vd2fWq3cBnJ9aLkqP0xYzw", "iat", (json_int_t) NOW,
                       "exp", (json_int_t) NOW + 3600);
    r = mim_jwt_sign(&rs_sign, "at+jwt", claims, &rs_token, NULL);
    if (!mim_ok(r)) {
        die("sign RS256", r);
    }
    r = mim_jwt_sign(&es_sign, "at+jwt", claims, &es_token, NULL);
    if (!mim_ok(r)) {
        die("sign ES256", r);
    }
    ishare_setup(&f);

    printf("tokens: RS256 %zu bytes, ES256 %zu bytes, iSHARE assertion %zu "
           "bytes (x5c: leaf, intermediate, root; RSA-2048)\n",
           strlen(rs_token), strlen(es_token), strlen(f.assertion));
    a = (bench_arg_t) { rs_token, strlen(rs_token), &rs_pub, NULL };
    run("RS256 verify/s", case_pinned, &a, duration);
    a = (bench_arg_t) { es_token, strlen(es_token), &es_pub, NULL };
    run("ES256 verify/s", case_pinned, &a, duration);
    a = (bench_arg_t) { f.assertion, strlen(f.assertion), NULL, &f };
    run("iSHARE RS256 assertion verify/s", case_ishare, &a, duration);
    run("iSHARE RS256 assertion, chain first seen verify/s",
        case_ishare_first, &a, duration);

    ishare_free(&f);
    json_decref(claims);
    free(rs_token);
    free(es_token);
    mim_key_free(&rs_sign);
    mim_key_free(&rs_pub);
    mim_key_free(&es_sign);
    mim_key_free(&es_pub);
    EVP_PKEY_free(rsa);
    EVP_PKEY_free(ec);
    return 0;
}
