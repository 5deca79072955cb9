/*
 * mim_trusted_issuers.c - the trusted-issuers list: who may issue
 * credentials, with which keys, of which types and with which claim
 * values (docs/identity.md has the file format).
 *
 * The list is configuration: it is read once, strictly (an unknown
 * member is an error, so a misspelt restriction cannot silently allow
 * everything), and then only looked up.
 */
#define _GNU_SOURCE     /* strndup */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mim_trust_int.h"
#include "mim_vc_int.h"

#define LIST_FILE_MAX       (4 * 1024 * 1024)
#define ISSUERS_MAX         10000
#define ISSUER_ID_MAX       2048
#define KEYS_MAX            64
#define CREDENTIALS_MAX     256
#define CLAIMS_MAX          64
#define VALUES_MAX          1024
#define SHOWN               100

typedef struct {
    char    *name;
    json_t  *allowed;           /* array of scalars */
} claim_rule_t;

typedef struct {
    char          *type;
    claim_rule_t  *claims;
    size_t         n;
} cred_rule_t;

struct mim_trusted_issuer_s {
    char         *id;
    mim_key_t    *keys;
    char        **key_dids;     /* the did:key a key was given as, or NULL */
    size_t        nkeys;
    int           any_type;     /* no "credentials": every type */
    cred_rule_t  *creds;
    size_t        ncreds;
};

struct mim_trusted_issuers_s {
    mim_trusted_issuer_t  *v;
    size_t                 n;
};

/* ---- freeing ---- */

static void
issuer_free(mim_trusted_issuer_t *e)
{
    size_t i, j;

    for (i = 0; i < e->nkeys; i++) {
        mim_key_free(&e->keys[i]);
        free(e->key_dids[i]);
    }
    free(e->keys);
    free(e->key_dids);
    for (i = 0; i < e->ncreds; i++) {
        for (j = 0; j < e->creds[i].n; j++) {
            free(e->creds[i].claims[j].name);
            json_decref(e->creds[i].claims[j].allowed);
        }
        free(e->creds[i].claims);
        free(e->creds[i].type);
    }
    free(e->creds);
    free(e->id);
}

void
mim_trusted_issuers_free(mim_trusted_issuers_t *list)
{
    size_t i;

    if (list == NULL) {
        return;
    }
    for (i = 0; i < list->n; i++) {
        issuer_free(&list->v[i]);
    }
    free(list->v);
    free(list);
}

/* ---- parsing ---- */

/* every member of obj is one of the names (NULL-terminated) */
static mim_result_t
only_members(const json_t *obj, const char *where, const char *const *names)
{
    const char *k;
    const json_t *v;
    const char *const *n;
    char show[SHOWN];

    json_object_foreach((json_t *) obj, k, v) {
        for (n = names; *n != NULL && strcmp(*n, k) != 0; n++) {
        }
        if (*n == NULL) {
            mim_safe_text(show, sizeof(show), k, strlen(k));
            return mim_result_err(MIM_ERR_INVALID, "%s: unknown member "
                                  "\"%s\"", where, show);
        }
    }
    return mim_result_ok();
}

/* a non-empty string without NUL or control characters, of at most max */
static mim_result_t
text_member(const json_t *obj, const char *name, const char *where,
    size_t max, char **out)
{
    const json_t *v = json_object_get(obj, name);
    const char *s;
    size_t len, i;

    *out = NULL;
    if (!json_is_string(v)) {
        return mim_result_err(MIM_ERR_INVALID, "%s: \"%s\" is missing or not "
                              "a string", where, name);
    }
    s = json_string_value(v);
    len = json_string_length(v);
    if (len == 0 || len > max || strlen(s) != len) {
        return mim_result_err(MIM_ERR_INVALID, "%s: \"%s\" is empty, longer "
                              "than %zu or has NUL", where, name, max);
    }
    for (i = 0; i < len; i++) {
        if ((unsigned char) s[i] < 0x20) {
            return mim_result_err(MIM_ERR_INVALID, "%s: \"%s\" has a control "
                                  "character", where, name);
        }
    }
    *out = strdup(s);
    return *out ? mim_result_ok()
                : mim_result_err(MIM_ERR_NOMEM, "out of memory");
}

/* an optional array member of at most max entries; *arr NULL if absent */
static mim_result_t
array_member(const json_t *obj, const char *name, const char *where,
    size_t max, int nonempty, const json_t **arr)
{
    *arr = json_object_get(obj, name);
    if (*arr == NULL) {
        return mim_result_ok();
    }
    if (!json_is_array(*arr)) {
        return mim_result_err(MIM_ERR_INVALID, "%s: \"%s\" is not an array",
                              where, name);
    }
    if (json_array_size(*arr) > max) {
        return mim_result_err(MIM_ERR_LIMIT, "%s: \"%s\" has more than %zu "
                              "entries", where, name, max);
    }
    if (nonempty && json_array_size(*arr) == 0) {
        return mim_result_err(MIM_ERR_INVALID, "%s: \"%s\" is empty", where,
                              name);
    }
    return mim_result_ok();
}

static int
is_scalar(const json_t *v)
{
    return json_is_string(v) || json_is_number(v) || json_is_boolean(v);
}

static mim_result_t
parse_claim_rule(claim_rule_t *c, const json_t *obj, const char *where)
{
    static const char *const members[] = { "name", "allowedValues", NULL };
    const json_t *vals, *v;
    mim_result_t r;
    size_t i;

    if (!json_is_object(obj)) {
        return mim_result_err(MIM_ERR_INVALID, "%s is not an object", where);
    }
    r = only_members(obj, where, members);
    if (mim_ok(r)) {
        r = text_member(obj, "name", where, 256, &c->name);
    }
    if (mim_ok(r)) {
        r = array_member(obj, "allowedValues", where, VALUES_MAX, 1, &vals);
    }
    if (mim_ok(r) && vals == NULL) {
        r = mim_result_err(MIM_ERR_INVALID, "%s: \"allowedValues\" is "
                           "missing", where);
    }
    if (!mim_ok(r)) {
        return r;
    }
    json_array_foreach(vals, i, v) {
        if (!is_scalar(v)) {
            return mim_result_err(MIM_ERR_INVALID, "%s: allowedValues[%zu] "
                                  "is not a string, number or boolean",
                                  where, i);
        }
    }
    c->allowed = json_incref((json_t *) vals);
    return mim_result_ok();
}

static mim_result_t
parse_cred_rule(cred_rule_t *cr, const json_t *obj, const char *where)
{
    static const char *const members[] = { "type", "claims", NULL };
    const json_t *claims, *v;
    char at[160];
    mim_result_t r;
    size_t i, j;

    if (!json_is_object(obj)) {
        return mim_result_err(MIM_ERR_INVALID, "%s is not an object", where);
    }
    r = only_members(obj, where, members);
    if (mim_ok(r)) {
        r = text_member(obj, "type", where, 256, &cr->type);
    }
    if (mim_ok(r)) {
        r = array_member(obj, "claims", where, CLAIMS_MAX, 0, &claims);
    }
    if (!mim_ok(r) || claims == NULL) {
        return r;
    }
    cr->claims = calloc(json_array_size(claims) + 1, sizeof(*cr->claims));
    if (cr->claims == NULL) {
        return mim_result_err(MIM_ERR_NOMEM, "out of memory");
    }
    json_array_foreach(claims, i, v) {
        snprintf(at, sizeof(at), "%.120s.claims[%zu]", where, i);
        r = parse_claim_rule(&cr->claims[i], v, at);
        cr->n = i + 1;
        if (!mim_ok(r)) {
            return r;
        }
        for (j = 0; j < i; j++) {
            if (strcmp(cr->claims[j].name, cr->claims[i].name) == 0) {
                return mim_result_err(MIM_ERR_INVALID, "%s: claim \"%.80s\" "
                                      "listed twice", at, cr->claims[i].name);
            }
        }
    }
    return mim_result_ok();
}

static mim_result_t
parse_key(mim_trusted_issuer_t *e, const json_t *v, const char *where)
{
    size_t i = e->nkeys;
    mim_result_t r;

    if (json_is_object(v)) {
        r = mim_key_from_jwk(&e->keys[i], v);
    } else if (json_is_string(v)
               && strncmp(json_string_value(v), "did:key:", 8) == 0)
    {
        r = mim_did_resolve_key(json_string_value(v), NULL, &e->keys[i]);
        if (mim_ok(r) && strchr(json_string_value(v), '#') != NULL) {
            mim_key_free(&e->keys[i]);
            r = mim_result_err(MIM_ERR_INVALID, "a did:key without "
                               "#fragment is expected");
        }
        if (mim_ok(r)) {
            e->key_dids[i] = strdup(json_string_value(v));
            if (e->key_dids[i] == NULL) {
                mim_key_free(&e->keys[i]);
                r = mim_result_err(MIM_ERR_NOMEM, "out of memory");
            }
        }
    } else {
        r = mim_result_err(MIM_ERR_INVALID, "not a JWK object or a did:key "
                           "string");
    }
    if (!mim_ok(r)) {
        return mim_result_err(r.code, "%s: %s", where, r.msg);
    }
    e->nkeys++;
    return mim_result_ok();
}

static mim_result_t
parse_keys(mim_trusted_issuer_t *e, const json_t *obj, const char *where)
{
    const json_t *keys, *v;
    char at[160];
    mim_result_t r;
    size_t i, n;

    r = array_member(obj, "keys", where, KEYS_MAX, 1, &keys);
    if (!mim_ok(r) || keys == NULL) {
        return r;
    }
    n = json_array_size(keys);
    e->keys = calloc(n, sizeof(*e->keys));
    e->key_dids = calloc(n, sizeof(*e->key_dids));
    if (e->keys == NULL || e->key_dids == NULL) {
        return mim_result_err(MIM_ERR_NOMEM, "out of memory");
    }
    json_array_foreach(keys, i, v) {
        snprintf(at, sizeof(at), "%.120s.keys[%zu]", where, i);
        r = parse_key(e, v, at);
        if (!mim_ok(r)) {
            return r;
        }
    }
    return mim_result_ok();
}

static mim_result_t
parse_creds(mim_trusted_issuer_t *e, const json_t *obj, const char *where)
{
    const json_t *creds, *v;
    char at[160];
    mim_result_t r;
    size_t i, j;

    r = array_member(obj, "credentials", where, CREDENTIALS_MAX, 0, &creds);
    if (!mim_ok(r)) {
        return r;
    }
    if (creds == NULL) {
        e->any_type = 1;
        return mim_result_ok();
    }
    e->creds = calloc(json_array_size(creds) + 1, sizeof(*e->creds));
    if (e->creds == NULL) {
        return mim_result_err(MIM_ERR_NOMEM, "out of memory");
    }
    json_array_foreach(creds, i, v) {
        snprintf(at, sizeof(at), "%.120s.credentials[%zu]", where, i);
        r = parse_cred_rule(&e->creds[i], v, at);
        e->ncreds = i + 1;
        if (!mim_ok(r)) {
            return r;
        }
        for (j = 0; j < i; j++) {
            if (strcmp(e->creds[j].type, e->creds[i].type) == 0) {
                return mim_result_err(MIM_ERR_INVALID, "%s: type \"%.80s\" "
                                      "listed twice", at, e->creds[i].type);
            }
        }
    }
    return mim_result_ok();
}

static mim_result_t
parse_issuer(mim_trusted_issuer_t *e, const json_t *obj, const char *where)
{
    static const char *const members[] = { "id", "keys", "credentials",
                                           NULL };
    mim_result_t r;

    if (!json_is_object(obj)) {
        return mim_result_err(MIM_ERR_INVALID, "%s is not an object", where);
    }
    r = only_members(obj, where, members);
    if (mim_ok(r)) {
        r = text_member(obj, "id", where, ISSUER_ID_MAX, &e->id);
    }
    if (mim_ok(r)) {
        r = parse_keys(e, obj, where);
    }
    if (mim_ok(r)) {
        r = parse_creds(e, obj, where);
    }
    if (mim_ok(r) && mim_is_did(e->id) && mim_did_len(e->id) != strlen(e->id))
    {
        r = mim_result_err(MIM_ERR_INVALID, "%s: issuer \"%.80s\" is a DID "
                           "URL: the DID alone is expected", where, e->id);
    }
    if (mim_ok(r) && e->nkeys == 0 && !mim_is_did(e->id)) {
        r = mim_result_err(MIM_ERR_INVALID, "%s: issuer \"%.80s\" is not a "
                           "DID, so its \"keys\" must be listed", where,
                           e->id);
    }
    if (mim_ok(r) && e->nkeys == 0 && strncmp(e->id, "did:key:", 8) != 0
        && strncmp(e->id, "did:web:", 8) != 0)
    {
        r = mim_result_err(MIM_ERR_UNSUPPORTED, "%s: the keys of \"%.80s\" "
                           "cannot be resolved (did:key, did:web): list "
                           "them in \"keys\"", where, e->id);
    }
    return r;
}

mim_result_t
mim_trusted_issuers_parse(mim_trusted_issuers_t **list, const char *json,
    size_t len)
{
    mim_trusted_issuers_t *l;
    json_error_t jerr;
    json_t *root;
    const json_t *arr, *v;
    char at[64];
    mim_result_t r;
    size_t i;

    *list = NULL;
    root = json_loadb(json, len, JSON_REJECT_DUPLICATES, &jerr);
    if (root == NULL) {
        return mim_result_err(MIM_ERR_INVALID, "trusted issuers: line %d: "
                              "%s", jerr.line, jerr.text);
    }
    l = calloc(1, sizeof(*l));
    r = l ? mim_result_ok() : mim_result_err(MIM_ERR_NOMEM, "out of memory");
    if (mim_ok(r) && !json_is_object(root)) {
        r = mim_result_err(MIM_ERR_INVALID, "trusted issuers: not a JSON "
                           "object {\"issuers\": [...]}");
    }
    if (mim_ok(r)) {
        static const char *const members[] = { "issuers", NULL };
        r = only_members(root, "trusted issuers", members);
    }
    if (mim_ok(r)) {
        r = array_member(root, "issuers", "trusted issuers", ISSUERS_MAX, 0,
                         &arr);
    }
    if (mim_ok(r) && arr == NULL) {
        r = mim_result_err(MIM_ERR_INVALID, "trusted issuers: \"issuers\" is "
                           "missing");
    }
    if (mim_ok(r)) {
        l->v = calloc(json_array_size(arr) + 1, sizeof(*l->v));
        if (l->v == NULL) {
            r = mim_result_err(MIM_ERR_NOMEM, "out of memory");
        }
    }
    for (i = 0; mim_ok(r) && i < json_array_size(arr); i++) {
        v = json_array_get(arr, i);
        snprintf(at, sizeof(at), "issuers[%zu]", i);
        r = parse_issuer(&l->v[i], v, at);
        l->n = i + 1;
        if (mim_ok(r) && mim_trusted_issuer_find(l, l->v[i].id) != &l->v[i])
        {
            r = mim_result_err(MIM_ERR_INVALID, "%s: issuer \"%.80s\" listed "
                               "twice", at, l->v[i].id);
        }
    }
    json_decref(root);
    if (!mim_ok(r)) {
        mim_trusted_issuers_free(l);
        return r;
    }
    *list = l;
    return mim_result_ok();
}

mim_result_t
mim_trusted_issuers_load(mim_trusted_issuers_t **list, const char *path)
{
    char *text;
    size_t len;
    mim_result_t r;

    *list = NULL;
    r = mim_read_file(path, LIST_FILE_MAX, &text, &len);
    if (!mim_ok(r)) {
        return mim_result_err(r.code, "%.200s: %s", path, r.msg);
    }
    r = mim_trusted_issuers_parse(list, text, len);
    free(text);
    if (!mim_ok(r)) {
        return mim_result_err(r.code, "%.200s: %s", path, r.msg);
    }
    return r;
}

/* ---- lookups ---- */

const mim_trusted_issuer_t *
mim_trusted_issuer_find(const mim_trusted_issuers_t *list, const char *id)
{
    size_t i;

    for (i = 0; list != NULL && id != NULL && i < list->n; i++) {
        if (strcmp(list->v[i].id, id) == 0) {
            return &list->v[i];
        }
    }
    return NULL;
}

size_t
mim_trusted_issuer_key_count(const mim_trusted_issuer_t *issuer)
{
    return issuer->nkeys;
}

/* kid "x", "did:...#x" or "#x" names a key called name */
static int
kid_names(const char *kid, const char *frag, const char *name)
{
    if (name == NULL) {
        return 0;
    }
    if (strcmp(kid, name) == 0) {
        return 1;
    }
    if (frag == NULL) {
        return 0;
    }
    return strcmp(frag, name) == 0
           || (name[0] == '#' && strcmp(frag, name + 1) == 0);
}

static int
key_matches(const mim_trusted_issuer_t *e, size_t i, const char *kid)
{
    const char *hash = strchr(kid, '#');
    const char *frag = hash ? hash + 1 : NULL;
    const char *did = e->key_dids[i];
    size_t dlen;

    if (did != NULL) {
        /* did:key:zX, did:key:zX#zX, or any DID URL with fragment zX */
        dlen = mim_did_len(kid);
        if (strlen(did) == dlen && memcmp(kid, did, dlen) == 0) {
            return frag == NULL || strcmp(frag, did + 8) == 0;
        }
        return frag != NULL && strcmp(frag, did + 8) == 0;
    }
    return kid_names(kid, frag, e->keys[i].jwk_kid)
           || kid_names(kid, frag, e->keys[i].kid);
}

mim_result_t
mim_trusted_issuer_key(const mim_trusted_issuer_t *issuer, const char *kid,
    const mim_key_t **key)
{
    char show[SHOWN];
    size_t i;

    *key = NULL;
    if (kid == NULL) {
        if (issuer->nkeys == 1) {
            *key = &issuer->keys[0];
            return mim_result_ok();
        }
        return mim_result_err(MIM_ERR_NOT_FOUND, "no kid, and issuer %.80s "
                              "has %zu listed keys", issuer->id,
                              issuer->nkeys);
    }
    for (i = 0; i < issuer->nkeys; i++) {
        if (key_matches(issuer, i, kid)) {
            *key = &issuer->keys[i];
            return mim_result_ok();
        }
    }
    mim_safe_text(show, sizeof(show), kid, strlen(kid));
    return mim_result_err(MIM_ERR_NOT_FOUND, "kid %s is not a listed key of "
                          "issuer %.80s", show, issuer->id);
}

static const cred_rule_t *
cred_rule(const mim_trusted_issuer_t *e, const char *type)
{
    size_t i;

    for (i = 0; i < e->ncreds; i++) {
        if (strcmp(e->creds[i].type, type) == 0) {
            return &e->creds[i];
        }
    }
    return NULL;
}

static int
value_allowed(const json_t *allowed, const json_t *v)
{
    size_t i;
    const json_t *a;

    json_array_foreach(allowed, i, a) {
        if (json_equal((json_t *) a, (json_t *) v)) {
            return 1;
        }
    }
    return 0;
}

static mim_result_t
claim_allowed(const mim_trusted_issuer_t *e, const cred_rule_t *cr,
    const claim_rule_t *c, const json_t *value)
{
    const json_t *one = value, *v;
    char text[SHOWN];
    size_t i, n = 1;
    char *dumped;

    if (json_is_array(value)) {
        n = json_array_size(value);
    }
    for (i = 0; i < n; i++) {
        v = json_is_array(value) ? json_array_get(value, i) : one;
        if (is_scalar(v) && value_allowed(c->allowed, v)) {
            continue;
        }
        dumped = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
        mim_safe_text(text, 48, dumped ? dumped : "?",
                      dumped ? strlen(dumped) : 1);
        free(dumped);
        return mim_result_err(MIM_ERR_UNTRUSTED, "issuer %.80s may not issue "
                              "%.40s with %.40s %s", e->id, cr->type,
                              c->name, text);
    }
    return mim_result_ok();
}

static mim_result_t
rule_allows(const mim_trusted_issuer_t *e, const cred_rule_t *cr,
    const json_t *subject)
{
    const json_t *value;
    mim_result_t r;
    size_t i;

    for (i = 0; i < cr->n; i++) {
        value = json_object_get(subject, cr->claims[i].name);
        if (value == NULL) {
            continue;           /* not issued: nothing to restrict */
        }
        r = claim_allowed(e, cr, &cr->claims[i], value);
        if (!mim_ok(r)) {
            return r;
        }
    }
    return mim_result_ok();
}

mim_result_t
mim_trusted_issuer_allows(const mim_trusted_issuer_t *issuer,
    const json_t *types, const json_t *subject)
{
    const cred_rule_t *cr;
    const json_t *t;
    const char *name;
    char show[SHOWN];
    size_t i, specific = 0;
    mim_result_t r;

    json_array_foreach(types, i, t) {
        name = json_string_value(t);
        if (name == NULL) {
            return mim_result_err(MIM_ERR_INVALID, "credential type is not a "
                                  "string");
        }
        if (strcmp(name, "VerifiableCredential") == 0) {
            continue;
        }
        specific++;
        if (issuer->any_type) {
            continue;
        }
        cr = cred_rule(issuer, name);
        if (cr == NULL) {
            mim_safe_text(show, sizeof(show), name, strlen(name));
            return mim_result_err(MIM_ERR_UNTRUSTED, "issuer %.80s is not "
                                  "trusted for credential type %s",
                                  issuer->id, show);
        }
        r = rule_allows(issuer, cr, subject);
        if (!mim_ok(r)) {
            return r;
        }
    }
    if (specific == 0 && !issuer->any_type) {
        return mim_result_err(MIM_ERR_UNTRUSTED, "issuer %.80s is trusted "
                              "for listed types only, and the credential has "
                              "none besides VerifiableCredential",
                              issuer->id);
    }
    return mim_result_ok();
}
