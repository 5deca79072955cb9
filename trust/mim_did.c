/*
 * mim_did.c - DIDs the gateway resolves without the network: did:key
 * (Ed25519, P-256) and did:web from DID documents read at configuration
 * time from a directory (docs/identity.md has the layout).
 *
 * A did:web document is trusted because the operator put it in the
 * directory; its "id" must be the DID its place in the directory names,
 * so a copied file cannot speak for another DID.
 */
#define _GNU_SOURCE     /* strndup */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <openssl/core_names.h>
#include <openssl/err.h>

#include "mim_trust_int.h"
#include "mim_vc_int.h"

#define DID_MAX             2048    /* characters of a DID URL we look at */
#define MULTIBASE_MAX       256     /* base58 characters of a key */
#define MULTIKEY_MAX        96      /* decoded multicodec key bytes */
#define DID_DOC_MAX         (256 * 1024)
#define DID_DOCS_MAX        4096
#define DID_DIR_DEPTH       16
#define DID_METHODS_MAX     64      /* verification methods per document */
#define SHOWN               100     /* chars of untrusted text in messages */

/* multicodec public key prefixes (unsigned varints) */
static const uint8_t mc_ed25519[] = { 0xed, 0x01 };  /* ed25519-pub */
static const uint8_t mc_p256[] = { 0x80, 0x24 };     /* p256-pub 0x1200 */

#define PURPOSE_ASSERTION       1u
#define PURPOSE_AUTHENTICATION  2u

typedef struct {
    char       *id;             /* absolute: did:web:...#fragment */
    mim_key_t   key;
    unsigned    purposes;
} did_method_t;

typedef struct {
    char          *did;
    did_method_t  *methods;
    size_t         n;
} did_doc_t;

struct mim_did_web_s {
    did_doc_t  *docs;
    size_t      n;
    size_t      cap;
};

/* ---- names ---- */

int
mim_is_did(const char *s)
{
    size_t i = 4;

    if (s == NULL || strncmp(s, "did:", 4) != 0) {
        return 0;
    }
    while ((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9')) {
        i++;
    }
    return i > 4 && s[i] == ':' && s[i + 1] != '\0';
}

size_t
mim_did_len(const char *did_url)
{
    return strcspn(did_url, "#?/");
}

static void
shown(char *dst, const char *s)
{
    mim_safe_text(dst, SHOWN, s, strlen(s));
}

/* ---- base58btc and multicodec keys ---- */

static int
base58_value(unsigned char c)
{
    static const char alphabet[] =
        "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz";
    const char *p;

    if (c == '\0') {
        return -1;
    }
    p = strchr(alphabet, c);
    return p ? (int) (p - alphabet) : -1;
}

int
mim_base58_decode(uint8_t *dst, size_t cap, size_t *dst_len,
    const char *src, size_t n)
{
    uint8_t num[MULTIBASE_MAX];     /* big-endian, ~0.73 bytes per char */
    size_t zeros = 0, i, j, start, len;
    unsigned carry;
    int v;

    if (n > MULTIBASE_MAX) {
        return -1;
    }
    while (zeros < n && src[zeros] == '1') {
        zeros++;
    }
    memset(num, 0, sizeof(num));
    for (i = zeros; i < n; i++) {
        v = base58_value((unsigned char) src[i]);
        if (v < 0) {
            return -1;
        }
        carry = (unsigned) v;
        for (j = sizeof(num); j-- > 0;) {
            carry += 58u * num[j];
            num[j] = (uint8_t) carry;
            carry >>= 8;
        }
    }
    for (start = 0; start < sizeof(num) && num[start] == 0; start++) {
    }
    len = sizeof(num) - start;
    if (zeros + len > cap) {
        return -1;
    }
    memset(dst, 0, zeros);
    memcpy(dst + zeros, num + start, len);
    *dst_len = zeros + len;
    return 0;
}

static mim_result_t
p256_from_compressed(const uint8_t *point, size_t len, EVP_PKEY **pkey)
{
    OSSL_PARAM params[3];
    EVP_PKEY_CTX *ctx;
    int ok;

    *pkey = NULL;
    if (len != 33 || (point[0] != 0x02 && point[0] != 0x03)) {
        return mim_result_err(MIM_ERR_INVALID,
                              "P-256 multikey is not a compressed point");
    }
    params[0] = OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME,
                                                 (char *) "prime256v1", 0);
    params[1] = OSSL_PARAM_construct_octet_string(OSSL_PKEY_PARAM_PUB_KEY,
                                                  (void *) point, len);
    params[2] = OSSL_PARAM_construct_end();
    ctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL);
    ok = ctx != NULL && EVP_PKEY_fromdata_init(ctx) == 1
         && EVP_PKEY_fromdata(ctx, pkey, EVP_PKEY_PUBLIC_KEY, params) == 1;
    EVP_PKEY_CTX_free(ctx);
    if (ok) {
        /* decompression found y; still check the point is usable */
        ctx = EVP_PKEY_CTX_new_from_pkey(NULL, *pkey, NULL);
        ok = ctx != NULL && EVP_PKEY_public_check(ctx) == 1;
        EVP_PKEY_CTX_free(ctx);
    }
    ERR_clear_error();
    if (!ok) {
        EVP_PKEY_free(*pkey);
        *pkey = NULL;
        return mim_result_err(MIM_ERR_INVALID,
                              "P-256 multikey is not a point on the curve");
    }
    return mim_result_ok();
}

mim_result_t
mim_multikey_decode(const char *mb, size_t len, mim_key_t *key)
{
    uint8_t raw[MULTIKEY_MAX];
    size_t n;
    EVP_PKEY *pkey = NULL;
    mim_result_t r;

    memset(key, 0, sizeof(*key));
    if (len < 2 || mb[0] != 'z') {
        return mim_result_err(MIM_ERR_UNSUPPORTED,
                              "multibase key is not base58btc ('z...')");
    }
    if (mim_base58_decode(raw, sizeof(raw), &n, mb + 1, len - 1) != 0) {
        return mim_result_err(MIM_ERR_INVALID,
                              "multibase key is not valid base58btc");
    }
    if (n >= 2 && memcmp(raw, mc_ed25519, 2) == 0) {
        if (n != 2 + 32) {
            return mim_result_err(MIM_ERR_INVALID,
                                  "Ed25519 multikey is not 32 bytes");
        }
        pkey = EVP_PKEY_new_raw_public_key_ex(NULL, "ED25519", NULL,
                                              raw + 2, 32);
        ERR_clear_error();
        if (pkey == NULL) {
            return mim_result_err(MIM_ERR_INVALID,
                                  "Ed25519 multikey is not a valid key");
        }
    } else if (n >= 2 && memcmp(raw, mc_p256, 2) == 0) {
        r = p256_from_compressed(raw + 2, n - 2, &pkey);
        if (!mim_ok(r)) {
            return r;
        }
    } else {
        return mim_result_err(MIM_ERR_UNSUPPORTED,
            "multikey type not supported (Ed25519 0xed, P-256 0x1200)");
    }
    r = mim_key_set_pkey(key, pkey, NULL, 1);
    if (!mim_ok(r)) {
        EVP_PKEY_free(pkey);
        memset(key, 0, sizeof(*key));
    }
    return r;
}

/* did:key:<mb>[#<mb>]: the fragment, when given, names the only key */
static mim_result_t
did_key_resolve(const char *did_url, mim_key_t *key)
{
    const char *mb = did_url + strlen("did:key:");
    size_t len = mim_did_len(did_url) - strlen("did:key:");
    const char *rest = mb + len;
    char show[SHOWN];

    if (*rest != '\0' && *rest != '#') {
        shown(show, did_url);
        return mim_result_err(MIM_ERR_UNSUPPORTED,
                              "DID URL with a path or query: %s", show);
    }
    if (*rest == '#'
        && (strlen(rest + 1) != len || memcmp(rest + 1, mb, len) != 0))
    {
        shown(show, did_url);
        return mim_result_err(MIM_ERR_NOT_FOUND,
                              "did:key has no key %s (its one key is "
                              "#<the key itself>)", show);
    }
    return mim_multikey_decode(mb, len, key);
}

/* ---- did:web names <-> directory paths ---- */

static int
is_host_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
           || (c >= '0' && c <= '9') || c == '-' || c == '.';
}

static int
is_segment_char(char c)
{
    return is_host_char(c) || c == '_' || c == '~';
}

static int
all_digits(const char *s, size_t n)
{
    size_t i;

    for (i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9') {
            return 0;
        }
    }
    return n > 0 && n <= 5;
}

/* a host directory name: "city.example" or "localhost:8443" */
static int
host_name_ok(const char *s)
{
    size_t n = strcspn(s, ":");

    if (n == 0 || s[0] == '.' || s[0] == '-') {
        return 0;
    }
    for (size_t i = 0; i < n; i++) {
        if (!is_host_char(s[i])) {
            return 0;
        }
    }
    return s[n] == '\0' || all_digits(s + n + 1, strlen(s + n + 1));
}

/* a path directory name: not ".", "..", nor hidden */
static int
segment_ok(const char *s)
{
    if (s[0] == '\0' || s[0] == '.') {
        return 0;
    }
    for (; *s; s++) {
        if (!is_segment_char(*s)) {
            return 0;
        }
    }
    return 1;
}

/* ---- DID documents ---- */

static void
doc_free(did_doc_t *doc)
{
    size_t i;

    for (i = 0; i < doc->n; i++) {
        free(doc->methods[i].id);
        mim_key_free(&doc->methods[i].key);
    }
    free(doc->methods);
    free(doc->did);
    memset(doc, 0, sizeof(*doc));
}

void
mim_did_web_free(mim_did_web_t *web)
{
    size_t i;

    if (web == NULL) {
        return;
    }
    for (i = 0; i < web->n; i++) {
        doc_free(&web->docs[i]);
    }
    free(web->docs);
    free(web);
}

static did_method_t *
doc_method(const did_doc_t *doc, const char *id)
{
    size_t i;

    for (i = 0; i < doc->n; i++) {
        if (strcmp(doc->methods[i].id, id) == 0) {
            return &doc->methods[i];
        }
    }
    return NULL;
}

/* "#k" or "did:web:x#k" -> "did:web:x#k" (malloc()ed) */
static mim_result_t
method_id(const did_doc_t *doc, const char *ref, char **id)
{
    size_t dlen = strlen(doc->did);

    *id = NULL;
    if (ref[0] == '#' && ref[1] != '\0') {
        if (asprintf(id, "%s%s", doc->did, ref) < 0) {
            *id = NULL;
            return mim_result_err(MIM_ERR_NOMEM, "out of memory");
        }
        return mim_result_ok();
    }
    if (strncmp(ref, doc->did, dlen) == 0 && ref[dlen] == '#'
        && ref[dlen + 1] != '\0')
    {
        *id = strdup(ref);
        return *id ? mim_result_ok()
                   : mim_result_err(MIM_ERR_NOMEM, "out of memory");
    }
    return mim_result_err(MIM_ERR_INVALID,
                          "verification method \"%.80s\" is not "
                          "\"#fragment\" or \"%.80s#fragment\"", ref,
                          doc->did);
}

/*
 * Add a verification method object.  Keys of a type we do not verify
 * with (X25519, secp256k1, publicKeyBase58) are skipped: the document may
 * serve other verifiers; a key that is malformed is an error.
 */
static mim_result_t
doc_add_method(did_doc_t *doc, const json_t *vm, unsigned purposes)
{
    const json_t *jid = json_object_get(vm, "id");
    const json_t *jwk = json_object_get(vm, "publicKeyJwk");
    const json_t *mb = json_object_get(vm, "publicKeyMultibase");
    did_method_t m, *grown;
    mim_result_t r;

    memset(&m, 0, sizeof(m));
    if (!json_is_object(vm) || !json_is_string(jid)) {
        return mim_result_err(MIM_ERR_INVALID,
                              "verification method without a string id");
    }
    r = method_id(doc, json_string_value(jid), &m.id);
    if (!mim_ok(r)) {
        return r;
    }
    if (doc_method(doc, m.id) != NULL) {
        r = mim_result_err(MIM_ERR_INVALID,
                           "verification method %.120s defined twice", m.id);
        free(m.id);
        return r;
    }
    if (jwk != NULL && mb != NULL) {
        r = mim_result_err(MIM_ERR_INVALID, "verification method %.120s has "
                           "both publicKeyJwk and publicKeyMultibase", m.id);
    } else if (jwk != NULL) {
        r = mim_key_from_jwk(&m.key, jwk);
    } else if (json_is_string(mb)) {
        r = mim_multikey_decode(json_string_value(mb),
                                json_string_length(mb), &m.key);
    } else if (mb != NULL) {
        r = mim_result_err(MIM_ERR_INVALID, "verification method %.120s: "
                           "publicKeyMultibase is not a string", m.id);
    } else {
        r = mim_result_err(MIM_ERR_UNSUPPORTED, "no key we read");
    }
    if (r.code == MIM_ERR_UNSUPPORTED) {
        free(m.id);
        return mim_result_ok();
    }
    if (!mim_ok(r)) {
        mim_result_t e = mim_result_err(r.code, "verification method "
                                        "%.120s: %s", m.id, r.msg);
        free(m.id);
        return e;
    }
    if (doc->n == DID_METHODS_MAX) {
        mim_key_free(&m.key);
        free(m.id);
        return mim_result_err(MIM_ERR_LIMIT, "more than %d verification "
                              "methods", DID_METHODS_MAX);
    }
    grown = realloc(doc->methods, (doc->n + 1) * sizeof(*grown));
    if (grown == NULL) {
        mim_key_free(&m.key);
        free(m.id);
        return mim_result_err(MIM_ERR_NOMEM, "out of memory");
    }
    m.purposes = purposes;
    doc->methods = grown;
    doc->methods[doc->n++] = m;
    return mim_result_ok();
}

/* assertionMethod / authentication: references or embedded methods */
static mim_result_t
doc_relationship(did_doc_t *doc, const json_t *root, const char *name,
    unsigned purpose)
{
    const json_t *arr = json_object_get(root, name), *v;
    did_method_t *m;
    mim_result_t r;
    size_t i;
    char *id;

    if (arr == NULL) {
        return mim_result_ok();
    }
    if (!json_is_array(arr)) {
        return mim_result_err(MIM_ERR_INVALID, "%s is not an array", name);
    }
    json_array_foreach(arr, i, v) {
        if (json_is_object(v)) {
            r = doc_add_method(doc, v, purpose);
        } else if (json_is_string(v)) {
            r = method_id(doc, json_string_value(v), &id);
            if (mim_ok(r)) {
                /* a reference to a key type we skipped names no key */
                m = doc_method(doc, id);
                if (m != NULL) {
                    m->purposes |= purpose;
                }
                free(id);
            }
        } else {
            r = mim_result_err(MIM_ERR_INVALID, "%s entry is not a string "
                               "or an object", name);
        }
        if (!mim_ok(r)) {
            return r;
        }
    }
    return mim_result_ok();
}

static mim_result_t
doc_parse(did_doc_t *doc, const json_t *root)
{
    const json_t *vms = json_object_get(root, "verificationMethod"), *v;
    const json_t *id = json_object_get(root, "id");
    mim_result_t r;
    size_t i;

    if (!json_is_object(root)) {
        return mim_result_err(MIM_ERR_INVALID, "not a JSON object");
    }
    if (!json_is_string(id) || strcmp(json_string_value(id), doc->did) != 0)
    {
        return mim_result_err(MIM_ERR_MISMATCH, "\"id\" is not %.200s "
                              "(the DID this file's place names)", doc->did);
    }
    if (vms != NULL && !json_is_array(vms)) {
        return mim_result_err(MIM_ERR_INVALID,
                              "verificationMethod is not an array");
    }
    json_array_foreach(vms, i, v) {
        r = doc_add_method(doc, v, 0);
        if (!mim_ok(r)) {
            return r;
        }
    }
    r = doc_relationship(doc, root, "assertionMethod", PURPOSE_ASSERTION);
    if (mim_ok(r)) {
        r = doc_relationship(doc, root, "authentication",
                             PURPOSE_AUTHENTICATION);
    }
    return r;
}

static const did_doc_t *web_doc(const mim_did_web_t *web, const char *did,
    size_t len);

/* ---- loading the directory ---- */

typedef struct {
    mim_did_web_t  *web;
    char           *segs[DID_DIR_DEPTH];    /* directory names below top */
    size_t          depth;
} walk_t;

/* the DID a did.json at the walk's depth stands for, or an error */
static mim_result_t
walk_did(walk_t *w, const char *file, char **did)
{
    size_t i, len = strlen("did:web:") + 1;
    char *p;

    *did = NULL;
    if (w->depth == 0) {
        return mim_result_err(MIM_ERR_INVALID, "%.200s: a did.json needs a "
                              "host directory (DIR/<host>/did.json)", file);
    }
    if (!host_name_ok(w->segs[0])) {
        return mim_result_err(MIM_ERR_INVALID, "%.200s: \"%.60s\" is not a "
                              "host name (with an optional :port)", file,
                              w->segs[0]);
    }
    for (i = 1; i < w->depth; i++) {
        if (!segment_ok(w->segs[i])) {
            return mim_result_err(MIM_ERR_INVALID, "%.200s: \"%.60s\" is not "
                                  "a did:web path segment (did:web:host is "
                                  "DIR/host/did.json)", file, w->segs[i]);
        }
    }
    for (i = 0; i < w->depth; i++) {
        len += strlen(w->segs[i]) + 3;
    }
    *did = p = malloc(len);
    if (p == NULL) {
        return mim_result_err(MIM_ERR_NOMEM, "out of memory");
    }
    p += sprintf(p, "did:web:");
    for (i = 0; i < w->depth; i++) {
        const char *s = w->segs[i];
        if (i > 0) {
            *p++ = ':';
        }
        for (; *s; s++) {
            if (*s == ':') {
                p += sprintf(p, "%%3A");    /* the port's colon */
            } else {
                *p++ = *s;
            }
        }
    }
    *p = '\0';
    return mim_result_ok();
}

mim_result_t
mim_did_web_new(mim_did_web_t **web)
{
    *web = calloc(1, sizeof(**web));
    return *web ? mim_result_ok()
                : mim_result_err(MIM_ERR_NOMEM, "out of memory");
}

mim_result_t
mim_did_web_add(mim_did_web_t *web, const char *did, const char *json,
    size_t len)
{
    did_doc_t doc, *grown;
    json_error_t jerr;
    json_t *root;
    mim_result_t r;

    if (web_doc(web, did, strlen(did)) != NULL) {
        return mim_result_err(MIM_ERR_INVALID, "a second document for "
                              "%.200s", did);
    }
    if (web->n == DID_DOCS_MAX) {
        return mim_result_err(MIM_ERR_LIMIT, "more than %d DID documents",
                              DID_DOCS_MAX);
    }
    root = json_loadb(json, len, JSON_REJECT_DUPLICATES, &jerr);
    if (root == NULL) {
        return mim_result_err(MIM_ERR_INVALID, "line %d: %s", jerr.line,
                              jerr.text);
    }
    memset(&doc, 0, sizeof(doc));
    doc.did = strdup(did);
    r = doc.did ? doc_parse(&doc, root)
                : mim_result_err(MIM_ERR_NOMEM, "out of memory");
    json_decref(root);
    if (mim_ok(r) && web->n == web->cap) {
        grown = realloc(web->docs, (web->cap ? web->cap * 2 : 8)
                                   * sizeof(*grown));
        if (grown == NULL) {
            r = mim_result_err(MIM_ERR_NOMEM, "out of memory");
        } else {
            web->docs = grown;
            web->cap = web->cap ? web->cap * 2 : 8;
        }
    }
    if (!mim_ok(r)) {
        doc_free(&doc);
        return r;
    }
    web->docs[web->n++] = doc;
    return mim_result_ok();
}

static mim_result_t
walk_load_file(walk_t *w, const char *file)
{
    char *did, *text;
    size_t len;
    mim_result_t r;

    r = walk_did(w, file, &did);
    if (!mim_ok(r)) {
        return r;
    }
    r = mim_read_file(file, DID_DOC_MAX, &text, &len);
    if (mim_ok(r)) {
        r = mim_did_web_add(w->web, did, text, len);
        free(text);
    }
    free(did);
    if (!mim_ok(r)) {
        return mim_result_err(r.code, "%.200s: %s", file, r.msg);
    }
    return r;
}

static mim_result_t walk_dir(walk_t *w, const char *path);

static mim_result_t
walk_entry(walk_t *w, const char *path, const char *name)
{
    struct stat st;
    char *child;
    mim_result_t r;

    if (asprintf(&child, "%s/%s", path, name) < 0) {
        return mim_result_err(MIM_ERR_NOMEM, "out of memory");
    }
    if (stat(child, &st) != 0) {
        r = mim_result_err(MIM_ERR_IO, "%.200s: %s", child, strerror(errno));
    } else if (S_ISDIR(st.st_mode)) {
        if (w->depth == DID_DIR_DEPTH) {
            r = mim_result_err(MIM_ERR_LIMIT, "%.200s: deeper than %d "
                               "directories", child, DID_DIR_DEPTH);
        } else {
            w->segs[w->depth++] = (char *) name;
            r = walk_dir(w, child);
            w->depth--;
        }
    } else if (S_ISREG(st.st_mode) && strcmp(name, "did.json") == 0) {
        r = walk_load_file(w, child);
    } else {
        r = mim_result_ok();        /* READMEs, keys kept beside, ... */
    }
    free(child);
    return r;
}

static mim_result_t
walk_dir(walk_t *w, const char *path)
{
    DIR *dir = opendir(path);
    struct dirent *e;
    mim_result_t r = mim_result_ok();

    if (dir == NULL) {
        return mim_result_err(MIM_ERR_IO, "%.200s: %s", path,
                              strerror(errno));
    }
    while (mim_ok(r) && (e = readdir(dir)) != NULL) {
        if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0) {
            r = walk_entry(w, path, e->d_name);
        }
    }
    closedir(dir);
    return r;
}

mim_result_t
mim_did_web_load_dir(mim_did_web_t **web, const char *dir)
{
    walk_t w;
    mim_result_t r;

    *web = NULL;
    memset(&w, 0, sizeof(w));
    r = mim_did_web_new(&w.web);
    if (!mim_ok(r)) {
        return r;
    }
    r = walk_dir(&w, dir);
    if (!mim_ok(r)) {
        mim_did_web_free(w.web);
        return r;
    }
    *web = w.web;
    return mim_result_ok();
}

/* ---- resolving ---- */

static mim_result_t
key_copy(mim_key_t *dst, const mim_key_t *src)
{
    memset(dst, 0, sizeof(*dst));
    if (EVP_PKEY_up_ref(src->pkey) != 1) {
        return mim_result_err(MIM_ERR_CRYPTO, "EVP_PKEY_up_ref failed");
    }
    dst->pkey = src->pkey;
    dst->alg = src->alg;
    dst->alg_pinned = src->alg_pinned;
    memcpy(dst->kid, src->kid, sizeof(dst->kid));
    if (src->jwk_kid != NULL) {
        dst->jwk_kid = strdup(src->jwk_kid);
        if (dst->jwk_kid == NULL) {
            mim_key_free(dst);
            return mim_result_err(MIM_ERR_NOMEM, "out of memory");
        }
    }
    return mim_result_ok();
}

static const did_doc_t *
web_doc(const mim_did_web_t *web, const char *did, size_t len)
{
    size_t i;

    for (i = 0; web != NULL && i < web->n; i++) {
        if (strlen(web->docs[i].did) == len
            && memcmp(web->docs[i].did, did, len) == 0)
        {
            return &web->docs[i];
        }
    }
    return NULL;
}

static unsigned
purpose_bit(mim_did_purpose_t purpose)
{
    switch (purpose) {
    case MIM_DID_ASSERTION:      return PURPOSE_ASSERTION;
    case MIM_DID_AUTHENTICATION: return PURPOSE_AUTHENTICATION;
    default:                     return 0;
    }
}

static const char *
purpose_name(mim_did_purpose_t purpose)
{
    return purpose == MIM_DID_ASSERTION ? "assertionMethod"
                                        : "authentication";
}

/* a document's only key for the purpose, when the DID URL has no
   fragment */
static mim_result_t
doc_only_key(const did_doc_t *doc, unsigned bit, const did_method_t **m)
{
    size_t i, found = 0;

    *m = NULL;
    for (i = 0; i < doc->n; i++) {
        if (bit == 0 || (doc->methods[i].purposes & bit)) {
            *m = &doc->methods[i];
            found++;
        }
    }
    if (found == 1) {
        return mim_result_ok();
    }
    *m = NULL;
    return found == 0
        ? mim_result_err(MIM_ERR_NOT_FOUND, "%.200s has no usable key",
                         doc->did)
        : mim_result_err(MIM_ERR_NOT_FOUND, "%.200s has %zu keys: a kid "
                         "naming one is required", doc->did, found);
}

static mim_result_t
did_web_resolve(const char *did_url, const mim_did_web_t *web,
    mim_did_purpose_t purpose, mim_key_t *key)
{
    size_t dlen = mim_did_len(did_url);
    const char *rest = did_url + dlen;
    const did_doc_t *doc;
    const did_method_t *m;
    unsigned bit = purpose_bit(purpose);
    char show[SHOWN];
    mim_result_t r;

    shown(show, did_url);
    if (*rest != '\0' && *rest != '#') {
        return mim_result_err(MIM_ERR_UNSUPPORTED,
                              "DID URL with a path or query: %s", show);
    }
    if (web == NULL) {
        return mim_result_err(MIM_ERR_NOT_FOUND, "%s: no did:web documents "
                              "are configured", show);
    }
    doc = web_doc(web, did_url, dlen);
    if (doc == NULL) {
        return mim_result_err(MIM_ERR_NOT_FOUND, "%s: no DID document for "
                              "it in the did:web directory", show);
    }
    if (*rest == '\0') {
        r = doc_only_key(doc, bit, &m);
        if (!mim_ok(r)) {
            return r;
        }
    } else {
        m = doc_method(doc, did_url);
        if (m == NULL) {
            return mim_result_err(MIM_ERR_NOT_FOUND, "%s: no such key in "
                                  "the DID document", show);
        }
        if (bit != 0 && !(m->purposes & bit)) {
            return mim_result_err(MIM_ERR_UNTRUSTED, "%s is not listed in "
                                  "the DID document's %s", show,
                                  purpose_name(purpose));
        }
    }
    return key_copy(key, &m->key);
}

mim_result_t
mim_did_resolve_key_for(const char *did_url, const mim_did_web_t *web,
    mim_did_purpose_t purpose, mim_key_t *key)
{
    char show[SHOWN];

    memset(key, 0, sizeof(*key));
    if (did_url == NULL || !mim_is_did(did_url)) {
        return mim_result_err(MIM_ERR_INVALID, "not a DID URL");
    }
    if (strlen(did_url) > DID_MAX) {
        return mim_result_err(MIM_ERR_LIMIT, "DID URL longer than %d",
                              DID_MAX);
    }
    if (strncmp(did_url, "did:key:", 8) == 0) {
        return did_key_resolve(did_url, key);
    }
    if (strncmp(did_url, "did:web:", 8) == 0) {
        return did_web_resolve(did_url, web, purpose, key);
    }
    mim_safe_text(show, sizeof(show), did_url,
                  strcspn(did_url + 4, ":") + 4);
    return mim_result_err(MIM_ERR_UNSUPPORTED, "DID method of %s not "
                          "supported (did:key, did:web)", show);
}

mim_result_t
mim_did_resolve_key(const char *did_url, const mim_did_web_t *web,
    mim_key_t *key)
{
    return mim_did_resolve_key_for(did_url, web, MIM_DID_ANY, key);
}
