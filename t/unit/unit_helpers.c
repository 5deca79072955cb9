/*
 * unit_helpers.c - keys, certificates and files for the unit tests.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "mim_b64.h"
#include "unit.h"

EVP_PKEY *
ut_keygen(const char *what)
{
    EVP_PKEY *pkey = NULL;

    if (strcmp(what, "P-256") == 0) {
        pkey = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    } else if (strcmp(what, "P-384") == 0) {
        pkey = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-384");
    } else if (strcmp(what, "RSA2048") == 0) {
        pkey = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t) 2048);
    } else if (strcmp(what, "RSA1024") == 0) {
        pkey = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t) 1024);
    } else if (strcmp(what, "ED25519") == 0) {
        pkey = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
    } else if (strcmp(what, "X25519") == 0) {
        pkey = EVP_PKEY_Q_keygen(NULL, NULL, "X25519");
    }
    cr_assert_not_null(pkey, "keygen %s", what);
    return pkey;
}

static char *
bio_text(BIO *bio)
{
    char *data, *text;
    long len = BIO_get_mem_data(bio, &data);

    cr_assert_gt(len, 0);
    text = malloc((size_t) len + 1);
    cr_assert_not_null(text);
    memcpy(text, data, (size_t) len);
    text[len] = '\0';
    BIO_free(bio);
    return text;
}

char *
ut_pem_private(EVP_PKEY *pkey)
{
    BIO *bio = BIO_new(BIO_s_mem());

    cr_assert(PEM_write_bio_PrivateKey(bio, pkey, NULL, NULL, 0, NULL, NULL));
    return bio_text(bio);
}

char *
ut_pem_private_traditional(EVP_PKEY *pkey)
{
    BIO *bio = BIO_new(BIO_s_mem());

    cr_assert(PEM_write_bio_PrivateKey_traditional(bio, pkey, NULL, NULL, 0,
                                                   NULL, NULL));
    return bio_text(bio);
}

char *
ut_pem_private_encrypted(EVP_PKEY *pkey)
{
    BIO *bio = BIO_new(BIO_s_mem());
    char pass[] = "secret";

    cr_assert(PEM_write_bio_PKCS8PrivateKey(bio, pkey, EVP_aes_256_cbc(),
                                            pass, (int) strlen(pass), NULL,
                                            NULL));
    return bio_text(bio);
}

char *
ut_pem_public(EVP_PKEY *pkey)
{
    BIO *bio = BIO_new(BIO_s_mem());

    cr_assert(PEM_write_bio_PUBKEY(bio, pkey));
    return bio_text(bio);
}

char *
ut_pem_cert(X509 *cert)
{
    BIO *bio = BIO_new(BIO_s_mem());

    cr_assert(PEM_write_bio_X509(bio, cert));
    return bio_text(bio);
}

char *
ut_temp_file(const char *text)
{
    char *path = strdup("/tmp/mim-unit-XXXXXX");
    size_t len = strlen(text);
    int fd;

    cr_assert_not_null(path);
    fd = mkstemp(path);
    cr_assert_geq(fd, 0, "mkstemp");
    cr_assert_eq(write(fd, text, len), (ssize_t) len);
    close(fd);
    return path;
}

void
ut_temp_remove(char *path)
{
    unlink(path);
    free(path);
}

void
ut_key_from_pkey(mim_key_t *key, EVP_PKEY *pkey, const char *alg_name)
{
    char *pem = ut_pem_private(pkey);
    mim_result_t r = mim_key_from_pem(key, pem, strlen(pem), alg_name, 1);

    free(pem);
    cr_assert(mim_ok(r), "key from PEM: %s", r.msg);
}

static void
add_ext(X509 *cert, X509 *issuer, int nid, const char *value)
{
    X509V3_CTX ctx;
    X509_EXTENSION *ext;

    X509V3_set_ctx_nodb(&ctx);
    X509V3_set_ctx(&ctx, issuer ? issuer : cert, cert, NULL, NULL, 0);
    ext = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
    cr_assert_not_null(ext, "extension %s", value);
    cr_assert(X509_add_ext(cert, ext, -1));
    X509_EXTENSION_free(ext);
}

X509 *
ut_cert(EVP_PKEY *key, const char *cn, X509 *issuer, EVP_PKEY *issuer_key,
    int ca, time_t from, time_t to, const char *key_usage)
{
    static long serial = 1;
    X509 *cert = X509_new();
    X509_NAME *name;

    cr_assert_not_null(cert);
    cr_assert(X509_set_version(cert, 2));
    cr_assert(ASN1_INTEGER_set(X509_get_serialNumber(cert), serial++));
    cr_assert_not_null(X509_time_adj_ex(X509_getm_notBefore(cert), 0, 0,
                                        &from));
    cr_assert_not_null(X509_time_adj_ex(X509_getm_notAfter(cert), 0, 0, &to));
    name = X509_get_subject_name(cert);
    cr_assert(X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                                         (const unsigned char *) cn, -1, -1,
                                         0));
    cr_assert(X509_set_issuer_name(cert, issuer ? X509_get_subject_name(issuer)
                                                : name));
    cr_assert(X509_set_pubkey(cert, key));
    add_ext(cert, issuer, NID_basic_constraints,
            ca ? "critical,CA:TRUE" : "critical,CA:FALSE");
    if (key_usage != NULL) {
        add_ext(cert, issuer, NID_key_usage, key_usage);
    }
    cr_assert(X509_sign(cert, issuer_key ? issuer_key : key, EVP_sha256()));
    return cert;
}

char *
ut_cert_b64(X509 *cert)
{
    unsigned char *der = NULL;
    int len = i2d_X509(cert, &der);
    char *s;

    cr_assert_gt(len, 0);
    s = malloc(mim_b64_len((size_t) len) + 1);
    cr_assert_not_null(s);
    s[mim_b64_encode(s, der, (size_t) len)] = '\0';
    OPENSSL_free(der);
    return s;
}

void
ut_fill(uint8_t *buf, size_t n, uint32_t seed)
{
    uint32_t x = seed * 2654435761u + 1;
    size_t i;

    for (i = 0; i < n; i++) {
        /* xorshift32: repeatable, no libc state */
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        buf[i] = (uint8_t) (x >> 24);
    }
}

char *
ut_sign(const mim_key_t *key, const mim_jws_binding_t *b,
    const uint8_t *body, size_t n, const size_t *cuts, size_t ncuts,
    char digest[MIM_CONTENT_DIGEST_LEN + 1])
{
    char header[MIM_JWS_HEADER_MAX + 16384];
    mim_body_signer_t *signer;
    mim_result_t r;
    size_t hlen, at = 0, i, jws_len;
    char *jws;

    r = mim_jws_protected_header(header, sizeof(header), &hlen, key, b);
    cr_assert(mim_ok(r), "header: %s", r.msg);
    r = mim_body_signer_new(&signer, key, header, hlen);
    cr_assert(mim_ok(r), "signer: %s", r.msg);
    for (i = 0; i <= ncuts; i++) {
        size_t to = i < ncuts ? cuts[i] : n;
        r = mim_body_signer_update(signer, body + at, to - at);
        cr_assert(mim_ok(r), "update: %s", r.msg);
        at = to;
    }
    r = mim_body_signer_final(signer, digest, &jws, &jws_len);
    cr_assert(mim_ok(r), "final: %s", r.msg);
    cr_assert_eq(strlen(jws), jws_len);
    mim_body_signer_free(signer);
    return jws;
}

mim_jws_binding_t
ut_binding(void)
{
    static const char htu[] = "https://city.example/api?x=1";
    mim_jws_binding_t b = {
        .iat = 1700000000, .htm = "GET", .htm_len = 3,
        .htu = htu, .htu_len = sizeof(htu) - 1, .status = 200
    };

    return b;
}

char *
ut_b64url(const void *data, size_t n)
{
    char *s = malloc(mim_b64url_len(n) + 1);

    cr_assert_not_null(s);
    s[mim_b64url_encode(s, data, n)] = '\0';
    return s;
}

char *
ut_jws_with_header(const char *jws, const char *header_json)
{
    const char *sig = strstr(jws, "..");
    char *hdr, *out;

    cr_assert_not_null(sig);
    hdr = ut_b64url(header_json, strlen(header_json));
    out = malloc(strlen(hdr) + strlen(sig) + 1);
    cr_assert_not_null(out);
    strcpy(out, hdr);
    strcat(out, sig);
    free(hdr);
    return out;
}
