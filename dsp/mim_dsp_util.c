/*
 * mim_dsp_util.c - small pieces of the DSP core: bounded JSON reading and
 * writing, the codec of stored records, identifiers (urn:uuid), callback
 * addresses and the paths of callbacks, times.
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <openssl/rand.h>
#include <openssl/sha.h>

#include "mim_dsp_int.h"
#include "mim_json.h"

/* ---- JSON ---- */

/*
 * The deepest nesting of arrays and objects in text, counted without
 * building anything, so that a hostile "[[[[..." costs nothing.  Not a
 * validator: jansson reads the text afterwards.
 */
static int
json_depth_over(const char *s, size_t n, int max)
{
    size_t  i;
    int     depth = 0, in_string = 0;

    for (i = 0; i < n; i++) {
        if (in_string) {
            if (s[i] == '\\') {
                i++;
            } else if (s[i] == '"') {
                in_string = 0;
            }
            continue;
        }
        switch (s[i]) {
        case '"':
            in_string = 1;
            break;
        case '[':
        case '{':
            if (++depth > max) {
                return 1;
            }
            break;
        case ']':
        case '}':
            depth--;
            break;
        }
    }
    return 0;
}

mim_result_t
mim_dsp_json_load(const char *json, size_t len, size_t max, const char *what,
    json_t **out)
{
    json_error_t   jerr;
    json_t        *root;
    char           text[96];

    *out = NULL;
    if (json == NULL || len == 0) {
        return mim_result_err(MIM_ERR_INVALID, "%s: empty", what);
    }
    if (len > max) {
        return mim_result_err(MIM_ERR_LIMIT, "%s: larger than %zu bytes",
                              what, max);
    }
    /* never JSON, whatever a lexer makes of it */
    if (memchr(json, '\0', len) != NULL) {
        return mim_result_err(MIM_ERR_INVALID, "%s: a NUL byte", what);
    }
    if (json_depth_over(json, len, MIM_DSP_MAX_DEPTH)) {
        return mim_result_err(MIM_ERR_LIMIT, "%s: nested deeper than %d "
                              "levels", what, MIM_DSP_MAX_DEPTH);
    }
    root = json_loadb(json, len, JSON_REJECT_DUPLICATES, &jerr);
    if (root == NULL) {
        /* jansson quotes the input near the error: it is untrusted */
        mim_dsp_safe_text(text, sizeof(text), jerr.text, strlen(jerr.text));
        return mim_result_err(MIM_ERR_INVALID, "%s: not JSON: line %d, "
                              "column %d: %s", what, jerr.line, jerr.column,
                              text);
    }
    if (!json_is_object(root)) {
        json_decref(root);
        return mim_result_err(MIM_ERR_INVALID, "%s: not a JSON object",
                              what);
    }
    *out = root;
    return mim_result_ok();
}

mim_result_t
mim_dsp_json_dump(const json_t *v, char **out, size_t *len)
{
    char  *s;

    *out = NULL;
    if (len != NULL) {
        *len = 0;
    }
    s = json_dumps(v, JSON_COMPACT);
    if (s == NULL) {
        return mim_dsp_nomem();
    }
    *out = s;
    if (len != NULL) {
        *len = strlen(s);
    }
    return mim_result_ok();
}

json_t *
mim_dsp_context_new(void)
{
    json_t  *a = json_array();

    if (a == NULL || json_array_append_new(a, json_string(MIM_DSP_CONTEXT))
                     != 0)
    {
        json_decref(a);
        return NULL;
    }
    return a;
}

static int
utf8_valid(const char *s, size_t n)
{
    size_t  i, k;

    for (i = 0; i < n; i += k) {
        k = mim_utf8_len((const unsigned char *) s + i, n - i);
        if (k == 0) {
            return 0;
        }
    }
    return 1;
}

mim_result_t
mim_dsp_string_new(const char *what, const char *value, json_t **out)
{
    size_t  n = strlen(value);

    *out = NULL;
    if (!utf8_valid(value, n)) {
        return mim_result_err(MIM_ERR_INVALID, "%s: not UTF-8 text", what);
    }
    *out = json_stringn(value, n);
    return *out != NULL ? mim_result_ok() : mim_dsp_nomem();
}

mim_result_t
mim_dsp_put_str(json_t *obj, const char *key, const char *value)
{
    json_t        *v;
    mim_result_t   r;

    if (value == NULL) {
        return mim_result_ok();
    }
    r = mim_dsp_string_new(key, value, &v);
    return mim_ok(r) ? mim_dsp_put_new(obj, key, v) : r;
}

mim_result_t
mim_dsp_put_new(json_t *obj, const char *key, json_t *value)
{
    /* json_object_set_new() releases value when it fails */
    if (value == NULL || json_object_set_new(obj, key, value) != 0) {
        return mim_dsp_nomem();
    }
    return mim_result_ok();
}

mim_result_t
mim_dsp_nomem(void)
{
    return mim_result_err(MIM_ERR_NOMEM, "out of memory");
}

char *
mim_dsp_strndup(const char *s, size_t n)
{
    char  *d = malloc(n + 1);

    if (d != NULL) {
        memcpy(d, s, n);
        d[n] = '\0';
    }
    return d;
}

void
mim_dsp_safe_text(char *dst, size_t cap, const char *src, size_t n)
{
    size_t  i, room;
    int     cut = 0;

    if (cap == 0) {
        return;
    }
    room = cap - 1;
    if (n > room) {
        cut = room >= 8;
        n = cut ? room - 3 : room;
    }
    for (i = 0; i < n; i++) {
        unsigned char  c = (unsigned char) src[i];

        dst[i] = c >= 0x20 && c < 0x7f ? (char) c : '?';
    }
    if (cut) {
        memcpy(dst + i, "...", 3);
        i += 3;
    }
    dst[i] = '\0';
}

/* ---- messages: what mim_dsp_msg.c and mim_dsp_transfer.c share ---- */

/* a path cut with "..." when too long: that deep, it still names where
   it starts */
static void
path_cut(char *dst, int n)
{
    if (n < 0 || n >= MIM_DSP_PATH_MAX) {
        memcpy(dst + MIM_DSP_PATH_MAX - 4, "...", 4);
    }
}

void
mim_dsp_path_join(char *dst, const char *path, const char *member)
{
    path_cut(dst, snprintf(dst, MIM_DSP_PATH_MAX, "%s%s%s", path,
                           *path ? "." : "", member));
}

void
mim_dsp_path_join_index(char *dst, const char *path, const char *member,
    size_t i)
{
    path_cut(dst, snprintf(dst, MIM_DSP_PATH_MAX, "%s%s%s[%zu]", path,
                           *path ? "." : "", member, i));
}

mim_result_t
mim_dsp_str_member(const json_t *obj, const char *path, const char *name,
    int required, int empty_ok, char **out)
{
    const json_t  *v = json_object_get(obj, name);
    char           at[MIM_DSP_PATH_MAX];
    size_t         n;

    mim_dsp_path_join(at, path, name);
    if (v == NULL) {
        return required ? mim_result_err(MIM_ERR_INVALID, "%s: missing", at)
                        : mim_result_ok();
    }
    if (!json_is_string(v)) {
        return mim_result_err(MIM_ERR_INVALID, "%s: expected a string", at);
    }
    n = json_string_length(v);
    if (n == 0 && !empty_ok) {
        return mim_result_err(MIM_ERR_INVALID, "%s: empty", at);
    }
    if (n > MIM_DSP_MAX_STR) {
        return mim_result_err(MIM_ERR_LIMIT, "%s: longer than %d bytes", at,
                              MIM_DSP_MAX_STR);
    }
    if (out != NULL) {
        free(*out);
        *out = mim_dsp_strndup(json_string_value(v), n);
        if (*out == NULL) {
            return mim_dsp_nomem();
        }
    }
    return mim_result_ok();
}

/* "@context": an array of strings holding the 2025-1 context; a string
   alone is accepted, as some peers send it */
mim_result_t
mim_dsp_check_context(const json_t *root)
{
    const json_t  *ctx = json_object_get(root, "@context"), *item;
    size_t         i;
    int            found = 0;

    if (ctx == NULL) {
        return mim_result_err(MIM_ERR_INVALID, "@context: missing");
    }
    if (json_is_string(ctx)) {
        found = strcmp(json_string_value(ctx), MIM_DSP_CONTEXT) == 0;
    } else if (json_is_array(ctx)) {
        json_array_foreach(ctx, i, item) {
            if (!json_is_string(item)) {
                return mim_result_err(MIM_ERR_INVALID, "@context[%zu]: "
                                      "expected a string", i);
            }
            found |= strcmp(json_string_value(item), MIM_DSP_CONTEXT) == 0;
        }
    } else {
        return mim_result_err(MIM_ERR_INVALID, "@context: expected an array "
                              "of strings");
    }
    if (!found) {
        return mim_result_err(MIM_ERR_INVALID, "@context: does not hold "
                              MIM_DSP_CONTEXT " (DSP 2025-1)");
    }
    return mim_result_ok();
}

mim_result_t
mim_dsp_check_type(const json_t *root, const char *expected)
{
    const json_t  *t = json_object_get(root, "@type");
    char           text[64];

    if (t == NULL) {
        return mim_result_err(MIM_ERR_INVALID, "@type: missing");
    }
    if (!json_is_string(t)) {
        return mim_result_err(MIM_ERR_INVALID, "@type: expected the string "
                              "\"%s\"", expected);
    }
    if (strcmp(json_string_value(t), expected) != 0) {
        mim_dsp_safe_text(text, sizeof(text), json_string_value(t),
                          json_string_length(t));
        return mim_result_err(MIM_ERR_INVALID, "@type: expected %s, not "
                              "\"%s\"", expected, text);
    }
    return mim_result_ok();
}

mim_result_t
mim_dsp_code_reason(const json_t *root, char **code, char **reason_json)
{
    const json_t  *reason;
    mim_result_t   r;

    /* the schemas say "a string": an empty code is one */
    r = mim_dsp_str_member(root, "", "code", 0, 1, code);
    if (!mim_ok(r)) {
        return r;
    }
    reason = json_object_get(root, "reason");
    if (reason == NULL) {
        return mim_result_ok();
    }
    if (!json_is_array(reason)) {
        return mim_result_err(MIM_ERR_INVALID, "reason: expected an array");
    }
    if (json_array_size(reason) == 0) {
        return mim_result_err(MIM_ERR_INVALID, "reason: empty (at least one "
                              "item, or no member)");
    }
    free(*reason_json);
    return mim_dsp_json_dump(reason, reason_json, NULL);
}

json_t *
mim_dsp_message_new(const char *type)
{
    json_t  *o = json_object();

    if (o == NULL || !mim_ok(mim_dsp_put_new(o, "@context",
                                             mim_dsp_context_new()))
        || !mim_ok(mim_dsp_put_str(o, "@type", type)))
    {
        json_decref(o);
        return NULL;
    }
    return o;
}

mim_result_t
mim_dsp_message_finish(json_t *o, mim_result_t r, char **out, size_t *len)
{
    if (mim_ok(r)) {
        r = mim_dsp_json_dump(o, out, len);
    }
    json_decref(o);
    return r;
}

mim_result_t
mim_dsp_out_init(char **out, size_t *len)
{
    if (out == NULL) {
        return mim_result_err(MIM_ERR_INVALID, "no output");
    }
    *out = NULL;
    if (len != NULL) {
        *len = 0;
    }
    return mim_result_ok();
}

mim_result_t
mim_dsp_put_pids(json_t *o, const char *provider_pid,
    const char *consumer_pid)
{
    mim_result_t  r = mim_dsp_put_str(o, "providerPid", provider_pid);

    return mim_ok(r) ? mim_dsp_put_str(o, "consumerPid", consumer_pid) : r;
}

mim_result_t
mim_dsp_put_reason(json_t *o, const char *reason)
{
    json_t        *s;
    mim_result_t   r;

    if (reason == NULL) {
        return mim_result_ok();
    }
    r = mim_dsp_string_new("reason", reason, &s);
    return mim_ok(r) ? mim_dsp_put_new(o, "reason", json_pack("[o]", s)) : r;
}

/* ---- stored records: what mim_dsp_neg.c and mim_dsp_transfer.c share ---- */

static char **
str_at(const void *rec, const mim_dsp_member_t *m)
{
    return (char **) ((char *) rec + m->offset);
}

static int64_t *
time_at(const void *rec, const mim_dsp_member_t *m)
{
    return (int64_t *) ((char *) rec + m->offset);
}

/* what free and copy handle: the malloc()ed text */
static int
owns_text(const mim_dsp_member_t *m)
{
    return m->kind == MIM_DSP_M_STR || m->kind == MIM_DSP_M_TEXT;
}

/* a string member: there and not empty when required, bounded */
static mim_result_t
check_string(const mim_dsp_member_t *m, const char *s)
{
    if (s == NULL) {
        return m->required ? mim_result_err(MIM_ERR_INVALID, "record: %s: "
                                            "missing", m->name)
                           : mim_result_ok();
    }
    if (m->required && *s == '\0') {
        return mim_result_err(MIM_ERR_INVALID, "record: %s: empty", m->name);
    }
    if (strlen(s) > m->max) {
        return mim_result_err(MIM_ERR_LIMIT, "record: %s: longer than %zu "
                              "bytes", m->name, m->max);
    }
    return mim_result_ok();
}

/* the strings' rules, then the record's own; read as t->check says */
static mim_result_t
record_check(const mim_dsp_record_t *t, const void *rec, const json_t *read)
{
    const mim_dsp_member_t  *m;
    mim_result_t             r = mim_result_ok();

    for (m = t->members; m < t->members + t->count && mim_ok(r); m++) {
        if (m->kind == MIM_DSP_M_STR) {
            r = check_string(m, *str_at(rec, m));
        }
    }
    return mim_ok(r) ? t->check(rec, read) : r;
}

static mim_result_t
write_member(const mim_dsp_record_t *t, const void *rec,
    const mim_dsp_member_t *m, json_t *o)
{
    switch (m->kind) {
    case MIM_DSP_M_STR:
        return mim_dsp_put_str(o, m->name, *str_at(rec, m));
    case MIM_DSP_M_TIME:
        return mim_dsp_put_new(o, m->name, json_integer(*time_at(rec, m)));
    default:
        return t->write(rec, m, o);
    }
}

mim_result_t
mim_dsp_record_to_json(const mim_dsp_record_t *t, const void *rec,
    char **out, size_t *len)
{
    json_t        *o;
    mim_result_t   r;
    size_t         i;

    if (out == NULL || rec == NULL) {
        return mim_result_err(MIM_ERR_INVALID, "no record or output");
    }
    *out = NULL;
    if (len != NULL) {
        *len = 0;
    }
    /* the rules from_json applies: a record the glue could not read back
       is refused now, not when it is read */
    r = record_check(t, rec, NULL);
    if (!mim_ok(r)) {
        return r;
    }
    o = json_object();
    if (o == NULL) {
        return mim_dsp_nomem();
    }
    for (i = 0; i < t->count && mim_ok(r); i++) {
        r = write_member(t, rec, &t->members[i], o);
    }
    return mim_dsp_message_finish(o, r, out, len);
}

static mim_result_t
read_member(const mim_dsp_record_t *t, void *rec, const mim_dsp_member_t *m,
    const json_t *v)
{
    char  **s;

    switch (m->kind) {
    case MIM_DSP_M_STR:
        if (!json_is_string(v)) {
            return mim_result_err(MIM_ERR_INVALID, "record: %s: expected a "
                                  "string", m->name);
        }
        if (json_string_length(v) > m->max) {
            return mim_result_err(MIM_ERR_LIMIT, "record: %s: longer than "
                                  "%zu bytes", m->name, m->max);
        }
        s = str_at(rec, m);
        *s = mim_dsp_strndup(json_string_value(v), json_string_length(v));
        return *s != NULL ? mim_result_ok() : mim_dsp_nomem();
    case MIM_DSP_M_TIME:
        if (!json_is_integer(v)) {
            return mim_result_err(MIM_ERR_INVALID, "record: %s: expected an "
                                  "integer", m->name);
        }
        *time_at(rec, m) = (int64_t) json_integer_value(v);
        return mim_result_ok();
    default:
        return t->read(rec, m, v);
    }
}

static const mim_dsp_member_t *
member_named(const mim_dsp_record_t *t, const char *name)
{
    size_t  i;

    for (i = 0; i < t->count; i++) {
        if (strcmp(name, t->members[i].name) == 0) {
            return &t->members[i];
        }
    }
    return NULL;
}

/* every member of root into rec: one we do not write is refused, and
   the required ones but the strings (record_check's) are there */
static mim_result_t
read_members(const mim_dsp_record_t *t, void *rec, json_t *root)
{
    const mim_dsp_member_t  *m;
    const char              *key;
    json_t                  *v;
    char                     text[48];
    mim_result_t             r;

    json_object_foreach(root, key, v) {
        m = member_named(t, key);
        if (m == NULL) {
            mim_dsp_safe_text(text, sizeof(text), key, strlen(key));
            return mim_result_err(MIM_ERR_INVALID, "record: unknown member "
                                  "\"%s\"", text);
        }
        r = read_member(t, rec, m, v);
        if (!mim_ok(r)) {
            return r;
        }
    }
    for (m = t->members; m < t->members + t->count; m++) {
        if (m->required && m->kind != MIM_DSP_M_STR
            && json_object_get(root, m->name) == NULL)
        {
            return mim_result_err(MIM_ERR_INVALID, "record: %s: missing",
                                  m->name);
        }
    }
    return mim_result_ok();
}

mim_result_t
mim_dsp_record_from_json(const mim_dsp_record_t *t, void *rec,
    const char *json, size_t len)
{
    json_t        *root;
    mim_result_t   r;

    if (rec == NULL) {
        return mim_result_err(MIM_ERR_INVALID, "no record");
    }
    memset(rec, 0, t->size);
    r = mim_dsp_json_load(json, len, MIM_DSP_MAX_RECORD, "record", &root);
    if (!mim_ok(r)) {
        return r;
    }
    r = read_members(t, rec, root);
    if (mim_ok(r)) {
        r = record_check(t, rec, root);
    }
    json_decref(root);
    if (!mim_ok(r)) {
        mim_dsp_record_free(t, rec);
    }
    return r;
}

void
mim_dsp_record_free(const mim_dsp_record_t *t, void *rec)
{
    const mim_dsp_member_t  *m;

    if (rec == NULL) {
        return;
    }
    for (m = t->members; m < t->members + t->count; m++) {
        if (owns_text(m)) {
            free(*str_at(rec, m));
        }
    }
    memset(rec, 0, t->size);
}

mim_result_t
mim_dsp_record_copy(const mim_dsp_record_t *t, void *to, const void *from)
{
    const mim_dsp_member_t  *m;
    char                   **dst;

    if (to == NULL || from == NULL) {
        return mim_result_err(MIM_ERR_INVALID, "no record");
    }
    /* the numbers, then a fresh copy of every text over the pointers:
       all NULL first, so that a failure frees only the copies */
    memcpy(to, from, t->size);
    for (m = t->members; m < t->members + t->count; m++) {
        if (owns_text(m)) {
            *str_at(to, m) = NULL;
        }
    }
    for (m = t->members; m < t->members + t->count; m++) {
        if (!owns_text(m) || *str_at(from, m) == NULL) {
            continue;
        }
        dst = str_at(to, m);
        *dst = strdup(*str_at(from, m));
        if (*dst == NULL) {
            mim_dsp_record_free(t, to);
            return mim_dsp_nomem();
        }
    }
    return mim_result_ok();
}

/* ---- identifiers ---- */

static void
format_uuid(const unsigned char b[16], char out[MIM_DSP_UUID_LEN])
{
    static const char  hex[] = "0123456789abcdef";
    char              *p;
    int                i;

    memcpy(out, "urn:uuid:", 9);
    p = out + 9;
    for (i = 0; i < 16; i++) {
        if (i == 4 || i == 6 || i == 8 || i == 10) {
            *p++ = '-';
        }
        *p++ = hex[b[i] >> 4];
        *p++ = hex[b[i] & 0x0f];
    }
    *p = '\0';
}

void
mim_dsp_name_uuid(const void *data, size_t n, char out[MIM_DSP_UUID_LEN])
{
    unsigned char  md[SHA256_DIGEST_LENGTH];

    SHA256(data, n, md);
    md[6] = (unsigned char) ((md[6] & 0x0f) | 0x80);    /* version 8 */
    md[8] = (unsigned char) ((md[8] & 0x3f) | 0x80);    /* RFC variant */
    format_uuid(md, out);
}

mim_result_t
mim_dsp_new_urn_uuid(char out[MIM_DSP_UUID_LEN])
{
    unsigned char  b[16];

    out[0] = '\0';
    if (RAND_bytes(b, sizeof(b)) != 1) {
        return mim_result_err(MIM_ERR_CRYPTO, "RAND_bytes failed");
    }
    b[6] = (unsigned char) ((b[6] & 0x0f) | 0x40);      /* version 4 */
    b[8] = (unsigned char) ((b[8] & 0x3f) | 0x80);
    format_uuid(b, out);
    return mim_result_ok();
}

/* ---- callback addresses ---- */

/* RFC 3986 pchar but '%' (checked apart) and '/' */
static int
path_char(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
           || (c >= '0' && c <= '9') || strchr("-._~!$&'()*+,;=:@", c) != NULL;
}

static int
hex_digit(unsigned char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')
           || (c >= 'A' && c <= 'F');
}

static int
host_char(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
           || (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_';
}

/* "http" or "https" (any case) and "://": *https, *used the length */
static mim_result_t
url_scheme(const char *s, size_t len, int *https, size_t *used)
{
    size_t  n = 0;
    char    name[24];

    while (n < len && ((s[n] >= 'a' && s[n] <= 'z') || (s[n] >= 'A'
           && s[n] <= 'Z') || (n > 0 && ((s[n] >= '0' && s[n] <= '9')
           || s[n] == '+' || s[n] == '-' || s[n] == '.'))))
    {
        n++;
    }
    if (n == 0 || n >= len || s[n] != ':') {
        return mim_result_err(MIM_ERR_INVALID, "not an absolute URL (no "
                              "scheme)");
    }
    if (n == 4 && strncasecmp(s, "http", 4) == 0) {
        *https = 0;
    } else if (n == 5 && strncasecmp(s, "https", 5) == 0) {
        *https = 1;
    } else {
        mim_dsp_safe_text(name, sizeof(name), s, n);
        return mim_result_err(MIM_ERR_UNSUPPORTED, "scheme \"%s\" is not "
                              "supported (http or https)", name);
    }
    if (len - n < 3 || s[n + 1] != '/' || s[n + 2] != '/') {
        return mim_result_err(MIM_ERR_INVALID, "no \"//\" and host after "
                              "the scheme");
    }
    *used = n + 3;
    return mim_result_ok();
}

/* host[:port] of the authority a..a+n */
static mim_result_t
url_authority(mim_dsp_url_t *url, const char *a, size_t n)
{
    const char     *host = a, *end = a + n, *colon;
    size_t          host_len, i;
    char            literal[INET6_ADDRSTRLEN];
    unsigned char   addr[16];
    long            port = 0;

    if (memchr(a, '@', n) != NULL) {
        return mim_result_err(MIM_ERR_INVALID, "userinfo (\"user@\") is not "
                              "allowed");
    }
    if (n > 0 && a[0] == '[') {
        colon = memchr(a, ']', n);
        if (colon == NULL) {
            return mim_result_err(MIM_ERR_INVALID, "IPv6 literal without "
                                  "\"]\"");
        }
        host = a + 1;
        host_len = (size_t) (colon - host);
        if (host_len == 0 || host_len >= sizeof(literal)) {
            return mim_result_err(MIM_ERR_INVALID, "bad IPv6 literal");
        }
        memcpy(literal, host, host_len);
        literal[host_len] = '\0';
        if (inet_pton(AF_INET6, literal, addr) != 1) {
            return mim_result_err(MIM_ERR_INVALID, "bad IPv6 literal");
        }
        colon++;
        if (colon < end && *colon != ':') {
            return mim_result_err(MIM_ERR_INVALID, "text after the IPv6 "
                                  "literal");
        }
    } else {
        colon = memchr(a, ':', n);
        host_len = colon != NULL ? (size_t) (colon - a) : n;
        if (colon == NULL) {
            colon = end;
        }
        for (i = 0; i < host_len; i++) {
            if (!host_char((unsigned char) a[i])) {
                return mim_result_err(MIM_ERR_INVALID, "bad character in "
                                      "the host");
            }
        }
    }
    if (host_len == 0) {
        return mim_result_err(MIM_ERR_INVALID, "no host");
    }
    if (host_len > 253) {
        return mim_result_err(MIM_ERR_INVALID, "host longer than 253 bytes");
    }
    if (colon < end) {
        /* ":port": 1 to 65535 */
        if (colon + 1 == end) {
            return mim_result_err(MIM_ERR_INVALID, "empty port");
        }
        for (i = 1; colon + i < end; i++) {
            if (colon[i] < '0' || colon[i] > '9' || i > 5) {
                return mim_result_err(MIM_ERR_INVALID, "bad port");
            }
            port = port * 10 + (colon[i] - '0');
        }
        if (port < 1 || port > 65535) {
            return mim_result_err(MIM_ERR_INVALID, "port out of range");
        }
        url->port = (int) port;
    }
    url->host = mim_dsp_strndup(host, host_len);
    return url->host != NULL ? mim_result_ok() : mim_dsp_nomem();
}

static mim_result_t
url_path(mim_dsp_url_t *url, const char *p, size_t n)
{
    size_t  i;

    for (i = 0; i < n; i++) {
        unsigned char  c = (unsigned char) p[i];

        if (c == '%') {
            if (i + 2 >= n || !hex_digit((unsigned char) p[i + 1])
                || !hex_digit((unsigned char) p[i + 2]))
            {
                return mim_result_err(MIM_ERR_INVALID, "bad percent-encoding "
                                      "in the path");
            }
            i += 2;
        } else if (c != '/' && !path_char(c)) {
            return mim_result_err(MIM_ERR_INVALID, "bad character in the "
                                  "path");
        }
    }
    /* "https://c.example/cb/" and ".../cb" are the same address */
    while (n > 0 && p[n - 1] == '/') {
        n--;
    }
    url->path = mim_dsp_strndup(p, n);
    return url->path != NULL ? mim_result_ok() : mim_dsp_nomem();
}

mim_result_t
mim_dsp_url_parse(mim_dsp_url_t *url, const char *text, size_t len)
{
    mim_result_t   r;
    size_t         i, used = 0, auth_len;
    const char    *auth;

    if (url == NULL) {
        return mim_result_err(MIM_ERR_INVALID, "no URL");
    }
    memset(url, 0, sizeof(*url));
    if (text == NULL || len == 0) {
        return mim_result_err(MIM_ERR_INVALID, "empty URL");
    }
    if (len > MIM_DSP_MAX_STR) {
        return mim_result_err(MIM_ERR_LIMIT, "URL longer than %d bytes",
                              MIM_DSP_MAX_STR);
    }
    for (i = 0; i < len; i++) {
        unsigned char  c = (unsigned char) text[i];

        if (c <= 0x20 || c >= 0x7f) {
            return mim_result_err(MIM_ERR_INVALID, "a space, control or "
                                  "non-ASCII byte at offset %zu", i);
        }
        if (c == '?' || c == '#') {
            return mim_result_err(MIM_ERR_INVALID, "a callback address has "
                                  "no query or fragment");
        }
    }
    r = url_scheme(text, len, &url->https, &used);
    if (!mim_ok(r)) {
        return r;
    }
    url->port = url->https ? 443 : 80;
    auth = text + used;
    auth_len = len - used;
    for (i = 0; i < auth_len && auth[i] != '/'; i++) {
        /* the authority ends at the path */
    }
    r = url_authority(url, auth, i);
    if (mim_ok(r)) {
        r = url_path(url, auth + i, auth_len - i);
    }
    if (!mim_ok(r)) {
        mim_dsp_url_free(url);
        url->port = 0;
        url->https = 0;
    }
    return r;
}

void
mim_dsp_url_free(mim_dsp_url_t *url)
{
    if (url == NULL) {
        return;
    }
    free(url->host);
    free(url->path);
    url->host = NULL;
    url->path = NULL;
}

/* a path segment keeps unreserved characters and ':' (urn:uuid:...) */
static int
segment_char(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
           || (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_'
           || c == '~' || c == ':';
}

mim_result_t
mim_dsp_callback_path(const mim_dsp_url_t *url, const char *collection,
    const char *pid, const char *what, char **out)
{
    static const char  hex[] = "0123456789ABCDEF";
    size_t             base, pid_len, i, cap;
    char              *p, *s;

    if (out == NULL) {
        return mim_result_err(MIM_ERR_INVALID, "no output");
    }
    *out = NULL;
    if (url == NULL || url->path == NULL || collection == NULL
        || *collection == '\0' || what == NULL || *what == '\0')
    {
        return mim_result_err(MIM_ERR_INVALID, "no callback address, "
                              "collection or message");
    }
    if (pid == NULL || *pid == '\0') {
        return mim_result_err(MIM_ERR_INVALID, "no process id");
    }
    pid_len = strlen(pid);
    if (strcmp(pid, ".") == 0 || strcmp(pid, "..") == 0) {
        /* a path would climb out of the callback address */
        return mim_result_err(MIM_ERR_INVALID, "process id \"%s\" is not a "
                              "path segment", pid);
    }
    if (pid_len > MIM_DSP_MAX_STR) {
        return mim_result_err(MIM_ERR_LIMIT, "process id longer than %d "
                              "bytes", MIM_DSP_MAX_STR);
    }
    base = strlen(url->path);
    while (base > 0 && url->path[base - 1] == '/') {
        base--;
    }
    cap = base + strlen(collection) + 3 * pid_len + strlen(what) + 4;
    s = malloc(cap);
    if (s == NULL) {
        return mim_dsp_nomem();
    }
    memcpy(s, url->path, base);
    p = s + base;
    p += sprintf(p, "/%s/", collection);
    for (i = 0; i < pid_len; i++) {
        unsigned char  c = (unsigned char) pid[i];

        if (segment_char(c)) {
            *p++ = (char) c;
        } else {
            *p++ = '%';
            *p++ = hex[c >> 4];
            *p++ = hex[c & 0x0f];
        }
    }
    sprintf(p, "/%s", what);
    *out = s;
    return mim_result_ok();
}

/* ---- time ---- */

/* 9999-12-31T23:59:59Z: xsd:dateTime has no fifth year digit */
#define TIME_MAX  INT64_C(253402300799)

void
mim_dsp_format_time(int64_t t, char out[32])
{
    struct tm  tm;
    time_t     tt;

    t = t < 0 ? 0 : t > TIME_MAX ? TIME_MAX : t;
    tt = (time_t) t;
    if (gmtime_r(&tt, &tm) == NULL
        || strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
    {
        strcpy(out, "1970-01-01T00:00:00Z");
    }
}
