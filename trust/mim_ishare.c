/*
 * mim_ishare.c - iSHARE-style client credentials: the token request form
 * (RFC 6749 4.4 with RFC 7523 client assertions), the client assertion
 * (an iSHARE JWT with an x5c chain) and the gateway's own access tokens
 * (RFC 9068 "at+jwt").
 *
 * The cheap checks of an assertion (header members, alg, claims, times)
 * come before the expensive ones (chain validation, then the signature),
 * so that junk costs little; every check must pass in any case.
 */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>

#include "mim_b64.h"
#include "mim_ishare.h"
#include "mim_trust_int.h"

#define PARTY_MAX   256         /* bytes of a party id from a certificate */
#define JTI_MAX     512         /* bytes of a jti: it keys a replay cache */
#define SHOWN       80          /* bytes of untrusted text in a message */

#define DEFAULT_ALGS  (mim_alg_bit(MIM_ALG_RS256) | mim_alg_bit(MIM_ALG_RS384) \
                       | mim_alg_bit(MIM_ALG_RS512))

static const char assertion_type[] =
    "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/* ---- the token request ---- */

typedef enum {
    DECODE_OK = 0,
    DECODE_BAD_PERCENT,
    DECODE_CONTROL,
    DECODE_NOMEM
} decode_status_t;

/*
 * Decode one application/x-www-form-urlencoded name or value: '+' is a
 * space, %XX a byte.  Into a malloc()ed string.  Control characters
 * (NUL included) are refused: no member of a token request has them, and
 * they would end up in logs and error descriptions.
 */
static decode_status_t
form_decode(const char *s, size_t n, char **out)
{
    char *dst = malloc(n + 1);
    size_t i, o = 0;
    int hi, lo;
    unsigned char c;

    *out = NULL;
    if (dst == NULL) {
        return DECODE_NOMEM;
    }
    for (i = 0; i < n; i++) {
        if (s[i] == '+') {
            c = ' ';
        } else if (s[i] == '%') {
            if (n - i < 3 || (hi = mim_hex_value(s[i + 1])) < 0
                || (lo = mim_hex_value(s[i + 2])) < 0)
            {
                free(dst);
                return DECODE_BAD_PERCENT;
            }
            c = (unsigned char) (hi << 4 | lo);
            i += 2;
        } else {
            c = (unsigned char) s[i];
        }
        if (c < 0x20 || c == 0x7f) {
            free(dst);
            return DECODE_CONTROL;
        }
        dst[o++] = (char) c;
    }
    dst[o] = '\0';
    *out = dst;
    return DECODE_OK;
}

/* the member slot for a decoded name, or NULL for a name we ignore */
static char **
request_slot(mim_token_request_t *req, const char *name)
{
    if (strcmp(name, "grant_type") == 0) {
        return &req->grant_type;
    }
    if (strcmp(name, "scope") == 0) {
        return &req->scope;
    }
    if (strcmp(name, "client_id") == 0) {
        return &req->client_id;
    }
    if (strcmp(name, "client_assertion_type") == 0) {
        return &req->client_assertion_type;
    }
    if (strcmp(name, "client_assertion") == 0) {
        return &req->client_assertion;
    }
    return NULL;
}

/* bit of a slot in the "seen" mask, for members given twice */
static unsigned
slot_bit(const mim_token_request_t *req, char *const *slot)
{
    return 1u << (unsigned) (slot - &req->grant_type);
}

static mim_result_t
decode_error(decode_status_t st, const char *what)
{
    char shown[SHOWN];

    mim_safe_text(shown, sizeof(shown), what, strlen(what));
    switch (st) {
    case DECODE_BAD_PERCENT:
        return mim_result_err(MIM_ERR_INVALID,
                              "bad percent-encoding in %s", shown);
    case DECODE_CONTROL:
        return mim_result_err(MIM_ERR_INVALID,
                              "control character in %s", shown);
    default:
        return mim_result_err(MIM_ERR_NOMEM, "out of memory");
    }
}

/* one "name=value" member of the body */
static mim_result_t
request_member(mim_token_request_t *req, const char *s, size_t n,
    unsigned *seen)
{
    const char *eq = memchr(s, '=', n);
    size_t name_len = eq ? (size_t) (eq - s) : n;
    char *name = NULL, *value = NULL, **slot;
    decode_status_t st;
    mim_result_t r = mim_result_ok();

    st = form_decode(s, name_len, &name);
    if (st != DECODE_OK) {
        return decode_error(st, "a parameter name");
    }
    slot = request_slot(req, name);
    if (slot == NULL) {
        /* RFC 6749 3.2: unrecognized parameters are ignored */
        free(name);
        return r;
    }
    if (*seen & slot_bit(req, slot)) {
        r = mim_result_err(MIM_ERR_INVALID, "%s given more than once", name);
        free(name);
        return r;
    }
    *seen |= slot_bit(req, slot);
    st = eq ? form_decode(eq + 1, n - name_len - 1, &value)
            : form_decode("", 0, &value);
    if (st != DECODE_OK) {
        r = decode_error(st, name);
        free(name);
        return r;
    }
    free(name);
    /* RFC 6749 3.1: a parameter without a value is as if omitted */
    if (value[0] == '\0') {
        free(value);
        return r;
    }
    *slot = value;
    return r;
}

/* does the space-separated list hold word? */
static int
has_word(const char *list, const char *word)
{
    size_t wlen = strlen(word), len;
    const char *p = list;

    while (*p != '\0') {
        while (*p == ' ') {
            p++;
        }
        len = strcspn(p, " ");
        if (len == wlen && memcmp(p, word, len) == 0) {
            return 1;
        }
        p += len;
    }
    return 0;
}

/* what the members say, once parsed */
static mim_result_t
request_check(const mim_token_request_t *req, const char **oauth_error)
{
    char shown[SHOWN];

    *oauth_error = MIM_OAUTH_INVALID_REQUEST;
    if (req->grant_type == NULL) {
        return mim_result_err(MIM_ERR_INVALID, "grant_type is missing");
    }
    if (strcmp(req->grant_type, "client_credentials") != 0) {
        *oauth_error = MIM_OAUTH_UNSUPPORTED_GRANT_TYPE;
        mim_safe_text(shown, sizeof(shown), req->grant_type,
                      strlen(req->grant_type));
        return mim_result_err(MIM_ERR_UNSUPPORTED,
                              "grant_type %s not supported "
                              "(client_credentials only)", shown);
    }
    if (req->scope == NULL) {
        return mim_result_err(MIM_ERR_INVALID,
                              "scope is missing (iSHARE is required)");
    }
    if (!has_word(req->scope, "iSHARE")) {
        *oauth_error = MIM_OAUTH_INVALID_SCOPE;
        return mim_result_err(MIM_ERR_INVALID,
                              "scope does not contain iSHARE");
    }
    if (req->client_id == NULL) {
        return mim_result_err(MIM_ERR_INVALID, "client_id is missing");
    }
    /*
     * RFC 6749 5.2: "no client authentication included" or "unsupported
     * authentication method" is invalid_client.
     */
    *oauth_error = MIM_OAUTH_INVALID_CLIENT;
    if (req->client_assertion_type == NULL) {
        return mim_result_err(MIM_ERR_INVALID,
                              "client_assertion_type is missing");
    }
    if (strcmp(req->client_assertion_type, assertion_type) != 0) {
        mim_safe_text(shown, sizeof(shown), req->client_assertion_type,
                      strlen(req->client_assertion_type));
        return mim_result_err(MIM_ERR_UNSUPPORTED,
                              "client_assertion_type %s not supported "
                              "(jwt-bearer only)", shown);
    }
    if (req->client_assertion == NULL) {
        return mim_result_err(MIM_ERR_INVALID,
                              "client_assertion is missing");
    }
    *oauth_error = NULL;
    return mim_result_ok();
}

mim_result_t
mim_token_request_parse(mim_token_request_t *req, const char *body,
    size_t len, const char **oauth_error)
{
    const char *p = body, *end = body + len, *amp;
    unsigned seen = 0;
    mim_result_t r;

    memset(req, 0, sizeof(*req));
    *oauth_error = MIM_OAUTH_INVALID_REQUEST;
    if (body == NULL || len == 0) {
        return mim_result_err(MIM_ERR_INVALID, "empty token request");
    }
    if (len > MIM_TOKEN_REQUEST_MAX) {
        return mim_result_err(MIM_ERR_LIMIT,
                              "token request longer than %d bytes",
                              MIM_TOKEN_REQUEST_MAX);
    }
    while (p < end) {
        amp = memchr(p, '&', (size_t) (end - p));
        if (amp == NULL) {
            amp = end;
        }
        if (amp > p) {          /* "a=1&&b=2": an empty member is skipped */
            r = request_member(req, p, (size_t) (amp - p), &seen);
            if (!mim_ok(r)) {
                mim_token_request_free(req);
                return r;
            }
        }
        p = amp + 1;
    }
    r = request_check(req, oauth_error);
    if (!mim_ok(r)) {
        mim_token_request_free(req);
    }
    return r;
}

void
mim_token_request_free(mim_token_request_t *req)
{
    if (req == NULL) {
        return;
    }
    free(req->grant_type);
    free(req->scope);
    free(req->client_id);
    free(req->client_assertion_type);
    if (req->client_assertion != NULL) {
        OPENSSL_cleanse(req->client_assertion, strlen(req->client_assertion));
        free(req->client_assertion);
    }
    memset(req, 0, sizeof(*req));
}

/* ---- the party id of a certificate ---- */

/* the one entry nid of the subject as UTF-8, malloc()ed */
static mim_result_t
subject_entry(X509 *cert, int nid, const char *what, char **out)
{
    const X509_NAME *name = X509_get_subject_name(cert);
    unsigned char *utf8 = NULL;
    int at, len, i;

    *out = NULL;
    at = X509_NAME_get_index_by_NID(name, nid, -1);
    if (at < 0) {
        return mim_result_err(MIM_ERR_KEY,
                              "the certificate subject has no %s", what);
    }
    if (X509_NAME_get_index_by_NID(name, nid, at) >= 0) {
        return mim_result_err(MIM_ERR_KEY,
                              "the certificate subject has more than one %s",
                              what);
    }
    len = ASN1_STRING_to_UTF8(&utf8, X509_NAME_ENTRY_get_data(
                                  X509_NAME_get_entry(name, at)));
    ERR_clear_error();
    if (len <= 0 || len > PARTY_MAX) {
        OPENSSL_free(utf8);
        return mim_result_err(MIM_ERR_KEY,
                              "the certificate %s is empty, unreadable or "
                              "longer than %d bytes", what, PARTY_MAX);
    }
    /* a party id is printable ASCII: no spaces, no look-alikes */
    for (i = 0; i < len; i++) {
        if (utf8[i] <= 0x20 || utf8[i] >= 0x7f) {
            OPENSSL_free(utf8);
            return mim_result_err(MIM_ERR_KEY,
                                  "the certificate %s has a character "
                                  "outside printable ASCII", what);
        }
    }
    *out = strndup((const char *) utf8, (size_t) len);
    OPENSSL_free(utf8);
    return *out ? mim_result_ok()
                : mim_result_err(MIM_ERR_NOMEM, "out of memory");
}

static int
is_upper(char c)
{
    return c >= 'A' && c <= 'Z';
}

/*
 * organizationIdentifier -> iSHARE party id.  The mapping, kept simple:
 *
 *   - a value that already is an iSHARE DID ("did:ishare:...") is the
 *     party id as it is;
 *   - a value in the ETSI EN 319 412-1 (5.1.4) form of eIDAS seals,
 *     3 letters of identifier type, 2 letters of country, '-', the
 *     identifier ("NTRNL-12345678", "VATBE-0123456789"), becomes
 *     "did:ishare:EU.<country>.<value>": "did:ishare:EU.NL.NTRNL-12345678"
 *     (the did:ishare method: continent, country, organizationIdentifier;
 *     eIDAS seals are European, so the continent is EU);
 *   - anything else is refused.
 */
static mim_result_t
party_from_org_id(char *value, char **party)
{
    static const char did[] = "did:ishare:";
    char shown[SHOWN];
    size_t len = strlen(value);

    *party = NULL;
    if (strncmp(value, did, sizeof(did) - 1) == 0 && len > sizeof(did) - 1) {
        *party = value;
        return mim_result_ok();
    }
    if (len < 7 || !is_upper(value[0]) || !is_upper(value[1])
        || !is_upper(value[2]) || !is_upper(value[3]) || !is_upper(value[4])
        || value[5] != '-')
    {
        mim_safe_text(shown, sizeof(shown), value, len);
        free(value);
        return mim_result_err(MIM_ERR_KEY,
                              "organizationIdentifier %s is neither a "
                              "did:ishare nor of the ETSI form (e.g. "
                              "NTRNL-12345678)", shown);
    }
    *party = malloc(sizeof(did) - 1 + 6 + len + 1);
    if (*party == NULL) {
        free(value);
        return mim_result_err(MIM_ERR_NOMEM, "out of memory");
    }
    sprintf(*party, "%sEU.%c%c.%s", did, value[3], value[4], value);
    free(value);
    return mim_result_ok();
}

mim_result_t
mim_ishare_party_of_cert(X509 *cert, mim_party_source_t from, char **party)
{
    mim_result_t r;
    char *value;

    *party = NULL;
    if (cert == NULL) {
        return mim_result_err(MIM_ERR_KEY, "no certificate");
    }
    if (from == MIM_PARTY_ORGANIZATION_ID) {
        r = subject_entry(cert, NID_organizationIdentifier,
                          "organizationIdentifier", &value);
        return mim_ok(r) ? party_from_org_id(value, party) : r;
    }
    /* serialNumber (2.5.4.5) is the party id as it is: EU.EORI.NL... */
    return subject_entry(cert, NID_serialNumber, "serialNumber", party);
}

/* ---- the client assertion ---- */

static mim_result_t
assertion_header(const mim_jwt_t *jwt, mim_alg_set_t algs)
{
    const char *name;
    const json_t *v;
    char shown[SHOWN];

    /* iSHARE: no header member but alg, typ and x5c */
    json_object_foreach((json_t *) jwt->header, name, v) {
        if (strcmp(name, "alg") != 0 && strcmp(name, "typ") != 0
            && strcmp(name, "x5c") != 0)
        {
            mim_safe_text(shown, sizeof(shown), name, strlen(name));
            return mim_result_err(MIM_ERR_UNSUPPORTED,
                                  "header member %s not allowed (only alg, "
                                  "typ and x5c)", shown);
        }
    }
    if (jwt->typ != NULL && strcasecmp(jwt->typ, "JWT") != 0) {
        mim_safe_text(shown, sizeof(shown), jwt->typ, strlen(jwt->typ));
        return mim_result_err(MIM_ERR_INVALID, "typ %s is not JWT", shown);
    }
    if (!(algs & mim_alg_bit(jwt->alg))) {
        return mim_result_err(MIM_ERR_UNSUPPORTED, "alg %s not allowed",
                              mim_alg_name(jwt->alg));
    }
    v = json_object_get(jwt->header, "x5c");
    if (!json_is_array(v) || json_array_size(v) == 0) {
        return mim_result_err(MIM_ERR_INVALID,
                              v ? "x5c is not a non-empty array"
                                : "no x5c in the header");
    }
    if (json_array_size(v) > MIM_X5C_MAX) {
        return mim_result_err(MIM_ERR_LIMIT,
                              "more than %d certificates in x5c",
                              MIM_X5C_MAX);
    }
    return mim_result_ok();
}

/* a required string claim */
static mim_result_t
claim_string(const mim_jwt_t *jwt, const char *name, const char **out)
{
    const json_t *v = json_object_get(jwt->claims, name);

    *out = json_string_value(v);
    if (v == NULL) {
        return mim_result_err(MIM_ERR_INVALID, "no %s claim", name);
    }
    if (!json_is_string(v)) {
        return mim_result_err(MIM_ERR_INVALID, "%s is not a string%s", name,
                              json_is_array(v) ? " (an array is refused)"
                                               : "");
    }
    if (json_string_length(v) == 0) {
        return mim_result_err(MIM_ERR_INVALID, "%s is empty", name);
    }
    if (strlen(*out) != json_string_length(v)) {
        return mim_result_err(MIM_ERR_INVALID, "%s has a NUL", name);
    }
    return mim_result_ok();
}

/* iss = sub = client_id, aud = us */
static mim_result_t
assertion_parties(const mim_ishare_config_t *cfg, const char *client_id,
    const mim_jwt_t *jwt, const char **iss)
{
    const char *sub, *aud;
    char shown[SHOWN], want[SHOWN];
    mim_result_t r;

    r = claim_string(jwt, "iss", iss);
    if (mim_ok(r)) {
        r = claim_string(jwt, "sub", &sub);
    }
    if (mim_ok(r)) {
        r = claim_string(jwt, "aud", &aud);
    }
    if (!mim_ok(r)) {
        return r;
    }
    if (strcmp(*iss, client_id) != 0) {
        mim_safe_text(shown, sizeof(shown), *iss, strlen(*iss));
        mim_safe_text(want, sizeof(want), client_id, strlen(client_id));
        return mim_result_err(MIM_ERR_MISMATCH,
                              "iss %s is not the client_id %s", shown, want);
    }
    if (strcmp(sub, client_id) != 0) {
        mim_safe_text(shown, sizeof(shown), sub, strlen(sub));
        return mim_result_err(MIM_ERR_MISMATCH,
                              "sub %s is not the client_id", shown);
    }
    if (strcmp(aud, cfg->participant_id) != 0) {
        mim_safe_text(shown, sizeof(shown), aud, strlen(aud));
        mim_safe_text(want, sizeof(want), cfg->participant_id,
                      strlen(cfg->participant_id));
        return mim_result_err(MIM_ERR_MISMATCH, "aud %s is not us (%s)",
                              shown, want);
    }
    return mim_result_ok();
}

/* jti present; iat, exp = iat + 30 s, within the clock */
static mim_result_t
assertion_times(const mim_ishare_config_t *cfg, const mim_jwt_t *jwt,
    const char **jti, int64_t *exp)
{
    int64_t iat;
    mim_result_t r;

    r = claim_string(jwt, "jti", jti);
    if (!mim_ok(r)) {
        return r;
    }
    if (strlen(*jti) > JTI_MAX) {
        return mim_result_err(MIM_ERR_LIMIT, "jti longer than %d bytes",
                              JTI_MAX);
    }
    if (mim_jwt_integer(jwt, "iat", &iat) != 0) {
        return mim_result_err(MIM_ERR_INVALID,
                              "iat is missing or not an integer");
    }
    if (mim_jwt_integer(jwt, "exp", exp) != 0) {
        return mim_result_err(MIM_ERR_INVALID,
                              "exp is missing or not an integer");
    }
    /* both bounded: a difference cannot overflow */
    if (iat < 0 || *exp < 0 || iat > ((int64_t) 1 << 40)
        || *exp > ((int64_t) 1 << 40))
    {
        return mim_result_err(MIM_ERR_INVALID, "iat or exp out of range");
    }
    if (*exp - iat != MIM_ISHARE_ASSERTION_LIFETIME) {
        return mim_result_err(MIM_ERR_INVALID,
                              "exp - iat is %lld s (%d required)",
                              (long long) (*exp - iat),
                              MIM_ISHARE_ASSERTION_LIFETIME);
    }
    return mim_jwt_check_times(jwt, cfg->now, cfg->leeway, 1);
}

/*
 * Decoded x5c certificates, by their exact base64 text.
 *
 * OpenSSL 3.0 takes ~150 us to decode one certificate (its public key goes
 * through the provider decoders), several times a whole RSA verification,
 * and a client sends the same chain with every assertion.  Decoding is a
 * pure function of the bytes, so a decoded certificate is kept and shared
 * (X509 objects are reference counted and safe to share); everything that
 * decides trust - the chain to the anchors, validity at now, CRLs, key
 * usage, the party id, the signature - is still checked every time.
 * Bounded: CERT_CACHE_SIZE entries, the least recently used replaced.
 */
#define CERT_CACHE_SIZE  64

typedef struct {
    uint64_t   hash;
    size_t     len;
    char      *b64;
    X509      *cert;
    uint64_t   used;
} cert_slot_t;

static cert_slot_t      cert_cache[CERT_CACHE_SIZE];
static uint64_t         cert_clock;
static pthread_mutex_t  cert_lock = PTHREAD_MUTEX_INITIALIZER;

/*
 * A quick hash of an x5c entry: its length and its last 128 characters
 * (the signature, which differs between any two certificates).  Only a
 * filter: a hit is confirmed by comparing the whole text.
 */
static uint64_t
cert_hash(const char *s, size_t n)
{
    uint64_t h = 0xcbf29ce484222325ULL ^ n;
    size_t i = n > 128 ? n - 128 : 0;

    for (; i < n; i++) {
        h = (h ^ (unsigned char) s[i]) * 0x100000001b3ULL;
    }
    return h;
}

/* a cached certificate (a reference of the caller's), or NULL */
static X509 *
cert_cache_get(uint64_t hash, const char *b64, size_t len)
{
    X509 *cert = NULL;
    size_t i;

    pthread_mutex_lock(&cert_lock);
    for (i = 0; i < CERT_CACHE_SIZE; i++) {
        if (cert_cache[i].cert != NULL && cert_cache[i].hash == hash
            && cert_cache[i].len == len
            && memcmp(cert_cache[i].b64, b64, len) == 0)
        {
            if (X509_up_ref(cert_cache[i].cert)) {
                cert = cert_cache[i].cert;
                cert_cache[i].used = ++cert_clock;
            }
            break;
        }
    }
    pthread_mutex_unlock(&cert_lock);
    return cert;
}

static void
cert_cache_put(uint64_t hash, const char *b64, size_t len, X509 *cert)
{
    char *copy = malloc(len);
    cert_slot_t *slot = &cert_cache[0];
    size_t i;

    if (copy == NULL || !X509_up_ref(cert)) {
        free(copy);
        return;
    }
    memcpy(copy, b64, len);
    pthread_mutex_lock(&cert_lock);
    for (i = 0; i < CERT_CACHE_SIZE; i++) {
        if (cert_cache[i].used < slot->used) {
            slot = &cert_cache[i];
        }
    }
    X509_free(slot->cert);
    free(slot->b64);
    slot->hash = hash;
    slot->len = len;
    slot->b64 = copy;
    slot->cert = cert;
    slot->used = ++cert_clock;
    pthread_mutex_unlock(&cert_lock);
}

static mim_result_t
cert_decode_cached(const char *b64, size_t len, X509 **cert)
{
    uint64_t hash = cert_hash(b64, len);
    mim_result_t r;

    *cert = cert_cache_get(hash, b64, len);
    if (*cert != NULL) {
        return mim_result_ok();
    }
    r = mim_x5c_decode(b64, len, cert);
    if (mim_ok(r)) {
        cert_cache_put(hash, b64, len, *cert);
    }
    return r;
}

void
mim_ishare_cert_cache_flush(void)
{
    size_t i;

    pthread_mutex_lock(&cert_lock);
    for (i = 0; i < CERT_CACHE_SIZE; i++) {
        X509_free(cert_cache[i].cert);
        free(cert_cache[i].b64);
        memset(&cert_cache[i], 0, sizeof(cert_cache[i]));
    }
    pthread_mutex_unlock(&cert_lock);
}

/* the x5c chain, decoded (through the cache) and verified to the anchors */
static mim_result_t
assertion_leaf(const mim_ishare_config_t *cfg, const json_t *x5c,
    X509 **leaf)
{
    X509 *certs[MIM_X5C_MAX];
    const json_t *v;
    mim_result_t r = mim_result_ok();
    size_t i, n = json_array_size(x5c), decoded = 0;

    for (i = 0; i < n && mim_ok(r); i++) {
        v = json_array_get(x5c, i);
        if (!json_is_string(v)) {
            r = mim_result_err(MIM_ERR_INVALID, "x5c[%zu] is not a string",
                               i);
            break;
        }
        r = cert_decode_cached(json_string_value(v), json_string_length(v),
                               &certs[i]);
        if (!mim_ok(r)) {
            r = mim_result_err(r.code, "x5c[%zu]: %s", i, r.msg);
        } else {
            decoded++;
        }
    }
    /* x5c[0] is trusted only through the chain it leads to */
    if (mim_ok(r)) {
        r = mim_x509_chain_verify(certs, n, cfg->anchors, (long) cfg->now,
                                  leaf);
    }
    for (i = 0; i < decoded; i++) {
        X509_free(certs[i]);
    }
    return r;
}

static int
alg_is_rsa(mim_alg_t alg)
{
    return alg >= MIM_ALG_RS256 && alg <= MIM_ALG_PS512;
}

/*
 * Does the leaf's key fit alg, by the rules of mim_key.c (RSA of 2048 to
 * 16384 bits, EC P-256, Ed25519)?  Checked here rather than through a
 * mim_key_t, whose thumbprint this one-shot key does not need.
 */
static mim_result_t
leaf_key_fits(EVP_PKEY *pkey, mim_alg_t alg)
{
    char group[32];
    size_t glen = 0;
    int bits, fits;

    if (alg_is_rsa(alg)) {
        fits = EVP_PKEY_is_a(pkey, "RSA");
    } else if (alg == MIM_ALG_ES256) {
        fits = EVP_PKEY_is_a(pkey, "EC")
               && EVP_PKEY_get_utf8_string_param(pkey,
                      OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof(group),
                      &glen)
               && (strcmp(group, "prime256v1") == 0
                   || strcmp(group, "P-256") == 0);
    } else {
        fits = alg == MIM_ALG_EDDSA && EVP_PKEY_is_a(pkey, "ED25519");
    }
    ERR_clear_error();
    if (!fits) {
        return mim_result_err(MIM_ERR_MISMATCH,
                              "alg %s does not fit the key of the leaf "
                              "certificate", mim_alg_name(alg));
    }
    bits = EVP_PKEY_get_bits(pkey);
    if (alg_is_rsa(alg) && (bits < 2048 || bits > 16384)) {
        return mim_result_err(MIM_ERR_KEY,
                              "leaf certificate key: RSA key of %d bits is "
                              "too %s (2048 to 16384)", bits,
                              bits < 2048 ? "small" : "large");
    }
    return mim_result_ok();
}

/* the x5c chain to the anchors; the leaf's party must be client_id */
static mim_result_t
assertion_chain(const mim_ishare_config_t *cfg, const char *client_id,
    const mim_jwt_t *jwt, EVP_PKEY **key)
{
    char shown[SHOWN], want[SHOWN], *party = NULL;
    X509 *leaf = NULL;
    EVP_PKEY *pkey;
    mim_result_t r;

    r = assertion_leaf(cfg, json_object_get(jwt->header, "x5c"), &leaf);
    if (!mim_ok(r)) {
        return r;
    }
    if (X509_check_ca(leaf) != 0) {
        X509_free(leaf);
        return mim_result_err(MIM_ERR_UNTRUSTED,
                              "the leaf certificate is a CA certificate");
    }
    r = mim_ishare_party_of_cert(leaf, cfg->party_from, &party);
    if (mim_ok(r) && strcmp(party, client_id) != 0) {
        mim_safe_text(shown, sizeof(shown), client_id, strlen(client_id));
        mim_safe_text(want, sizeof(want), party, strlen(party));
        r = mim_result_err(MIM_ERR_MISMATCH,
                           "client_id %s is not the certificate's party %s",
                           shown, want);
    }
    free(party);
    pkey = mim_ok(r) ? X509_get_pubkey(leaf) : NULL;
    X509_free(leaf);
    ERR_clear_error();
    if (!mim_ok(r)) {
        return r;
    }
    if (pkey == NULL) {
        return mim_result_err(MIM_ERR_KEY, "the leaf certificate has no key");
    }
    r = leaf_key_fits(pkey, jwt->alg);
    if (!mim_ok(r)) {
        EVP_PKEY_free(pkey);
        return r;
    }
    *key = pkey;
    return r;
}

static char *
dup_or_null(const char *s, int *failed)
{
    char *d;

    if (s == NULL) {
        return NULL;
    }
    d = strdup(s);
    if (d == NULL) {
        *failed = 1;
    }
    return d;
}

mim_result_t
mim_ishare_verify_assertion(const mim_ishare_config_t *cfg,
    const char *client_id, const char *assertion, size_t len,
    mim_identity_t *id)
{
    mim_alg_set_t algs;
    mim_jwt_t jwt;
    EVP_PKEY *key = NULL;
    const char *iss = NULL, *jti = NULL;
    int64_t exp = 0;
    int failed = 0;
    mim_result_t r;

    memset(id, 0, sizeof(*id));
    if (cfg == NULL || cfg->participant_id == NULL || cfg->anchors == NULL) {
        return mim_result_err(MIM_ERR_KEY,
                              "no participant id or trust anchors "
                              "configured");
    }
    if (client_id == NULL || client_id[0] == '\0') {
        return mim_result_err(MIM_ERR_INVALID, "no client_id");
    }
    algs = cfg->algs ? cfg->algs : DEFAULT_ALGS;
    r = mim_jwt_parse(&jwt, assertion, len);
    if (!mim_ok(r)) {
        return mim_result_err(r.code, "client assertion: %s", r.msg);
    }
    r = assertion_header(&jwt, algs);
    if (mim_ok(r)) {
        r = assertion_parties(cfg, client_id, &jwt, &iss);
    }
    if (mim_ok(r)) {
        r = assertion_times(cfg, &jwt, &jti, &exp);
    }
    if (mim_ok(r)) {
        r = assertion_chain(cfg, client_id, &jwt, &key);
    }
    /* alg is allowed (assertion_header) and fits the key (above) */
    if (mim_ok(r)) {
        r = mim_jwt_verify_pkey(&jwt, key, NULL);
    }
    if (mim_ok(r)) {
        id->party = dup_or_null(client_id, &failed);
        id->subject = dup_or_null(client_id, &failed);
        id->issuer = dup_or_null(iss, &failed);
        id->jti = dup_or_null(jti, &failed);
        id->auth_method = "ishare";
        id->expires = exp;
        if (failed) {
            mim_identity_free(id);
            r = mim_result_err(MIM_ERR_NOMEM, "out of memory");
        }
    } else {
        r = mim_result_err(r.code, "client assertion: %s", r.msg);
    }
    EVP_PKEY_free(key);
    mim_jwt_free(&jwt);
    return r;
}

/* ---- the gateway's access tokens ---- */

mim_result_t
mim_access_token_issue(const mim_key_t *key, const char *our_id,
    const char *party, int64_t now, int64_t ttl, char **token)
{
    uint8_t random[16];
    char jti[mim_b64url_len(sizeof(random)) + 1];
    json_t *claims;
    mim_result_t r;

    *token = NULL;
    if (our_id == NULL || party == NULL || our_id[0] == '\0'
        || party[0] == '\0')
    {
        return mim_result_err(MIM_ERR_INVALID, "no issuer or party");
    }
    if (ttl <= 0 || now < 0 || ttl > ((int64_t) 1 << 32)
        || now > ((int64_t) 1 << 40))
    {
        return mim_result_err(MIM_ERR_INVALID, "time or lifetime out of "
                              "range");
    }
    if (RAND_bytes(random, sizeof(random)) != 1) {
        ERR_clear_error();
        return mim_result_err(MIM_ERR_CRYPTO, "no random bytes for the jti");
    }
    jti[mim_b64url_encode(jti, random, sizeof(random))] = '\0';
    claims = json_pack("{s:s, s:s, s:s, s:s, s:I, s:I}", "iss", our_id,
                       "aud", our_id, "sub", party, "jti", jti,
                       "iat", (json_int_t) now, "exp",
                       (json_int_t) (now + ttl));
    if (claims == NULL) {
        return mim_result_err(MIM_ERR_INVALID,
                              "cannot encode the claims (not UTF-8?)");
    }
    r = mim_jwt_sign(key, "at+jwt", claims, token, NULL);
    json_decref(claims);
    return r;
}

/* RFC 9068 2.1: "at+jwt", or its full media type; case-insensitive */
static int
typ_is_at_jwt(const char *typ)
{
    return typ != NULL && (strcasecmp(typ, "at+jwt") == 0
                           || strcasecmp(typ, "application/at+jwt") == 0);
}

static mim_result_t
access_claims(const mim_jwt_t *jwt, const char *our_id, const char **sub,
    const char **jti)
{
    const char *iss, *aud;
    char shown[SHOWN];
    mim_result_t r;

    r = claim_string(jwt, "iss", &iss);
    if (mim_ok(r)) {
        r = claim_string(jwt, "aud", &aud);
    }
    if (mim_ok(r)) {
        r = claim_string(jwt, "sub", sub);
    }
    if (mim_ok(r)) {
        r = claim_string(jwt, "jti", jti);
    }
    if (!mim_ok(r)) {
        return r;
    }
    if (strcmp(iss, our_id) != 0) {
        mim_safe_text(shown, sizeof(shown), iss, strlen(iss));
        return mim_result_err(MIM_ERR_MISMATCH, "iss %s is not us", shown);
    }
    if (strcmp(aud, our_id) != 0) {
        mim_safe_text(shown, sizeof(shown), aud, strlen(aud));
        return mim_result_err(MIM_ERR_MISMATCH, "aud %s is not us", shown);
    }
    return mim_result_ok();
}

mim_result_t
mim_access_token_verify(const mim_key_t *key, const char *our_id,
    const char *token, size_t len, int64_t now, int64_t leeway,
    mim_identity_t *id)
{
    const char *sub = NULL, *jti = NULL;
    int64_t exp = 0;
    int failed = 0;
    mim_jwt_t jwt;
    mim_result_t r;

    memset(id, 0, sizeof(*id));
    if (key == NULL || key->pkey == NULL || our_id == NULL) {
        return mim_result_err(MIM_ERR_KEY, "no token key or issuer "
                              "configured");
    }
    r = mim_jwt_parse(&jwt, token, len);
    if (!mim_ok(r)) {
        return mim_result_err(r.code, "access token: %s", r.msg);
    }
    if (!typ_is_at_jwt(jwt.typ)) {
        r = mim_result_err(MIM_ERR_INVALID, "typ is not at+jwt");
    }
    if (mim_ok(r)) {
        r = access_claims(&jwt, our_id, &sub, &jti);
    }
    if (mim_ok(r)) {
        r = mim_jwt_check_times(&jwt, now, leeway, 1);
    }
    if (mim_ok(r) && mim_jwt_integer(&jwt, "exp", &exp) != 0) {
        r = mim_result_err(MIM_ERR_INVALID, "exp is not an integer");
    }
    /* the key's own alg only: the token cannot pick another */
    if (mim_ok(r)) {
        r = mim_jwt_verify(&jwt, key, mim_alg_bit(key->alg));
    }
    if (mim_ok(r)) {
        id->party = dup_or_null(sub, &failed);
        id->subject = dup_or_null(sub, &failed);
        id->issuer = dup_or_null(our_id, &failed);
        id->jti = dup_or_null(jti, &failed);
        id->auth_method = "token";
        id->expires = exp;
        if (failed) {
            mim_identity_free(id);
            r = mim_result_err(MIM_ERR_NOMEM, "out of memory");
        }
    } else {
        r = mim_result_err(r.code, "access token: %s", r.msg);
    }
    mim_jwt_free(&jwt);
    return r;
}
