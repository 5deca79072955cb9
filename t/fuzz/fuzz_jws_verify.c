/*
 * fuzz_jws_verify.c - libFuzzer target for the detached JWS verifier
 * (trust/mim_jws.c), the code that reads what a remote gateway sent.
 *
 * Input: "<jws>\n<payload>" (no '\n': all JWS, empty payload).  Each input
 * is verified twice: against a fixed key set (an ES256 and an Ed25519
 * key, kid lookup) and against a fixed CA (the header's x5c chain), at a
 * fixed time inside the seed certificates' validity.  Beyond "no crash":
 * a success must name a known alg and fit what the trust source allows.
 * The seeds in corpus/fuzz_jws_verify were signed by these keys.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/pem.h>

#include "mim_jws.h"

#define FUZZ_NOW  1800000000L     /* 2027-01-15, inside the seeds' validity */

static const char jwks[] =
    "{\"keys\":[{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"EozsABUHvv2qM"
    "R7H152C4dvh8-nA74QOu2EIKNYCOXc\",\"y\":\"B4gr7Mk9xd191SboM3u6acr-0"
    "qMvM00DvdFGz0GGg6o\",\"kid\":\"H9BNmYCl4RnEfhdxB-O0plZiydWexYxWasx"
    "TysnXMrk\",\"use\":\"sig\",\"alg\":\"ES256\"},{\"kty\":\"OKP\",\"c"
    "rv\":\"Ed25519\",\"x\":\"UfDZ33VazJrifypkJAQXmlpkyPnY9CIIeOKEtcxRi"
    "1g\",\"kid\":\"NmScXv4eI-oELHewuE_SUjcxC57fODzocXEqPnBh_qc\",\"use"
    "\":\"sig\",\"alg\":\"EdDSA\"}]}";

static const char ca_pem[] =
    "-----BEGIN CERTIFICATE-----\n"
    "MIIBjzCCATagAwIBAgIUVdI24Q6draTjDa4I7J0jR1JUod8wCgYIKoZIzj0EAwIw\n"
    "FzEVMBMGA1UEAwwMRnV6eiBSb290IENBMB4XDTI2MTEyNTAwMTExNFoXDTQ2MTEy\n"
    "MDAwMTExNFowFzEVMBMGA1UEAwwMRnV6eiBSb290IENBMFkwEwYHKoZIzj0CAQYI\n"
    "KoZIzj0DAQcDQgAE9GJyNm+2/AMwj1vbpXNElOWKQjTppQsZK9NzborpHgpl/jjj\n"
    "kuUFNl57X7ixlOXR/lDHNfJtXsLvJ1bBiqwbRaNgMF4wHQYDVR0OBBYEFN+eRNOf\n"
    "QE3KsA3KIGu2Mbl2mlJfMB8GA1UdIwQYMBaAFN+eRNOfQE3KsA3KIGu2Mbl2mlJf\n"
    "MA8GA1UdEwEB/wQFMAMBAf8wCwYDVR0PBAQDAgEGMAoGCCqGSM49BAMCA0cAMEQC\n"
    "IB7KRmFrqKV3ReJub02lrNlZJWRzZOOF8P2MnG4aXHmQAiBrg+mMz+Kv2rSznVme\n"
    "rHn6qH/NPjG4uUac0Ol1UxaZ5w==\n"
    "-----END CERTIFICATE-----\n";

static mim_keyset_t  keys;
static X509_STORE   *store;

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
    mim_result_t r = mim_keyset_from_jwks(&keys, jwks, sizeof(jwks) - 1);
    BIO *bio = BIO_new_mem_buf(ca_pem, sizeof(ca_pem) - 1);
    X509 *ca = PEM_read_bio_X509(bio, NULL, NULL, NULL);

    store = X509_STORE_new();
    if (!mim_ok(r) || keys.n != 2 || ca == NULL || store == NULL
        || !X509_STORE_add_cert(store, ca))
    {
        abort();
    }
    X509_free(ca);
    BIO_free(bio);
    return 0;
}

static void
check(mim_result_t r, const mim_jws_info_t *info)
{
    if (mim_ok(r) != (r.code == MIM_OK) || strlen(r.msg) >= MIM_MSG_MAX
        || (!mim_ok(r) && r.msg[0] == '\0'))
    {
        abort();
    }
    if (mim_ok(r)
        && (mim_alg_name(info->alg) == NULL
            || strlen(info->kid) >= sizeof(info->kid)
            || strlen(info->htu) >= sizeof(info->htu)
            || info->signer[0] == '\0'))
    {
        abort();
    }
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const uint8_t *nl = memchr(data, '\n', size);
    size_t jws_len = nl ? (size_t) (nl - data) : size;
    const uint8_t *payload = nl ? nl + 1 : data + size;
    size_t payload_len = size - jws_len - (nl ? 1 : 0);
    mim_jws_trust_t by_kid = { .keys = &keys };
    mim_jws_trust_t by_x5c = { .store = store, .now = FUZZ_NOW };
    mim_jws_info_t info;
    mim_result_t r;

    r = mim_jws_verify_detached((const char *) data, jws_len, payload,
                                payload_len, &by_kid, &info);
    check(r, &info);
    /* the key set holds no RSA key: nothing else may verify */
    if (mim_ok(r) && info.alg != MIM_ALG_ES256 && info.alg != MIM_ALG_EDDSA) {
        abort();
    }
    r = mim_jws_verify_detached((const char *) data, jws_len, payload,
                                payload_len, &by_x5c, &info);
    check(r, &info);
    if (mim_ok(r) && info.x5c_n == 0) {
        abort();
    }
    return 0;
}
