/*
 * mim_policy_parse.c - compile ODRL 2.2 JSON-LD into the flat form of
 * mim_policy_int.h.
 *
 * What is read (docs/policies.md): a Set, Offer or Agreement, bare or
 * inside a DSP 2025-1 ContractAgreementMessage / ContractOfferMessage /
 * ContractRequestMessage, compact or expanded; policy-level target,
 * assignee and action given to every rule that has none of its own;
 * rules with several actions, targets or assignees split into atomic
 * rules; permission duties and obligations; constraint lists and the
 * logical constraints and, or, xone, andSequence; action refinements.
 *
 * Errors name the member by its JSON path.  Terms the engine does not
 * know (left operands, operators, datatypes) are not errors: their
 * constraint compiles to one that never holds, with the reason, and a
 * warning is recorded for `mim policy check` and the configuration log.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "mim_policy_int.h"

#define MP_PATH_MAX   200

typedef struct {
    mim_policy_t  *p;
    size_t         arena_cap;
    size_t         rules_cap;
    size_t         duties_cap;
    size_t         nodes_cap;
    size_t         values_cap;
    size_t         warnings_cap;

    /* interned strings: open addressing over arena offsets */
    mp_str_t      *hash;
    size_t         hash_cap;
    size_t         hash_used;

    /* prefixes declared by the document's @context (borrowed) */
    json_t        *prefixes;

    /* scratch space for expanded IRIs and texts */
    char          *scratch;
    size_t         scratch_cap;

    char           path[MP_PATH_MAX];
    size_t         path_len;
    int            depth;
    int            failed;
    mim_result_t   err;
} mp_cc_t;

/* a policy-level or rule-level action: one term and its refinements */
typedef struct {
    int       action;
    mp_str_t  name;
    uint32_t  ref_first;
    uint32_t  ref_n;
} mp_action_t;

/* the IRIs of a target or assignee member; none: no member */
typedef struct {
    mp_str_t  *items;
    size_t     n;
    int        given;
} mp_iris_t;

typedef struct {
    mp_action_t  *items;
    size_t        n;
    int           given;
} mp_actions_t;

/* ---- errors, paths, warnings ---- */

static void mp_fail(mp_cc_t *cc, mim_code_t code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
mp_fail(mp_cc_t *cc, mim_code_t code, const char *fmt, ...)
{
    char     msg[MIM_MSG_MAX];
    va_list  ap;

    if (cc->failed) {
        return;             /* the first error is the one reported */
    }
    cc->failed = 1;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (cc->path_len > 0) {
        cc->err = mim_result_err(code, "%s: %s", cc->path, msg);
    } else {
        cc->err = mim_result_err(code, "%s", msg);
    }
}

static size_t mp_path_push(mp_cc_t *cc, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* append ".member" or "[3]" to the path; returns the length to restore */
static size_t
mp_path_push(mp_cc_t *cc, const char *fmt, ...)
{
    size_t   old = cc->path_len;
    va_list  ap;
    int      n;

    va_start(ap, fmt);
    n = vsnprintf(cc->path + old, MP_PATH_MAX - old, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t) n >= MP_PATH_MAX - old) {
        cc->path_len = MP_PATH_MAX - 1;     /* truncated, still useful */
    } else {
        cc->path_len = old + (size_t) n;
    }
    return old;
}

static size_t
mp_path_member(mp_cc_t *cc, const char *key)
{
    return mp_path_push(cc, cc->path_len == 0 ? "%s" : ".%s", key);
}

static void
mp_path_pop(mp_cc_t *cc, size_t old)
{
    cc->path_len = old;
    cc->path[old] = '\0';
}

/* untrusted text for a message: quoted, cut, printable */
static const char *
mp_quote(char buf[72], const char *s, size_t len)
{
    size_t  i, n = len > 60 ? 60 : len;

    buf[0] = '"';
    for (i = 0; i < n; i++) {
        unsigned char c = (unsigned char) s[i];
        buf[1 + i] = (c < 0x20 || c > 0x7e || c == '"') ? '?' : (char) c;
    }
    if (n < len) {
        memcpy(buf + 1 + n, "...", 3);
        n += 3;
    }
    buf[1 + n] = '"';
    buf[2 + n] = '\0';
    return buf;
}

/* ---- growing arrays ---- */

static void *
mp_grow(mp_cc_t *cc, void *array, size_t *cap, size_t used, size_t size,
    size_t max)
{
    size_t  ncap;
    void   *grown;

    if (used < *cap) {
        return array;
    }
    if (used >= max) {
        mp_fail(cc, MIM_ERR_LIMIT, "the policy is too large (more than %zu "
                "rules, constraints or values)", max);
        return NULL;
    }
    ncap = *cap == 0 ? 16 : *cap * 2;
    if (ncap > max) {
        ncap = max;
    }
    grown = realloc(array, ncap * size);
    if (grown == NULL) {
        mp_fail(cc, MIM_ERR_NOMEM, "out of memory");
        return NULL;
    }
    *cap = ncap;
    return grown;
}

/* ---- the string arena, with interning ---- */

static uint32_t
mp_hash(const char *s, size_t len)
{
    uint32_t  h = 2166136261u;
    size_t    i;

    for (i = 0; i < len; i++) {
        h = (h ^ (unsigned char) s[i]) * 16777619u;
    }
    return h;
}

static void
mp_hash_insert(mp_cc_t *cc, mp_str_t str)
{
    const char  *s = cc->p->arena + str.off;
    size_t       i;

    for (i = mp_hash(s, str.len) & (cc->hash_cap - 1);
         cc->hash[i].off != MP_NONE; i = (i + 1) & (cc->hash_cap - 1))
    {
        /* void */
    }
    cc->hash[i] = str;
    cc->hash_used++;
}

static int
mp_hash_rehash(mp_cc_t *cc)
{
    mp_str_t  *old = cc->hash;
    size_t     old_cap = cc->hash_cap, i;

    cc->hash_cap = old_cap == 0 ? 64 : old_cap * 2;
    cc->hash = malloc(cc->hash_cap * sizeof(mp_str_t));
    if (cc->hash == NULL) {
        cc->hash = old;
        cc->hash_cap = old_cap;
        mp_fail(cc, MIM_ERR_NOMEM, "out of memory");
        return -1;
    }
    for (i = 0; i < cc->hash_cap; i++) {
        cc->hash[i].off = MP_NONE;
        cc->hash[i].len = 0;
    }
    cc->hash_used = 0;
    for (i = 0; i < old_cap; i++) {
        if (old[i].off != MP_NONE) {
            mp_hash_insert(cc, old[i]);
        }
    }
    free(old);
    return 0;
}

/* the arena copy of s (NUL-terminated there), shared by equal strings */
static mp_str_t
mp_intern(mp_cc_t *cc, const char *s, size_t len)
{
    mim_policy_t  *p = cc->p;
    mp_str_t       str = { MP_NONE, 0 };
    size_t         i, need;
    char          *grown;

    if (cc->failed) {
        return str;
    }
    if (len > MP_MAX_JSON) {
        mp_fail(cc, MIM_ERR_LIMIT, "string too long");
        return str;
    }
    if (cc->hash_used * 2 >= cc->hash_cap && mp_hash_rehash(cc) != 0) {
        return str;
    }
    for (i = mp_hash(s, len) & (cc->hash_cap - 1);
         cc->hash[i].off != MP_NONE; i = (i + 1) & (cc->hash_cap - 1))
    {
        if (cc->hash[i].len == len
            && memcmp(p->arena + cc->hash[i].off, s, len) == 0)
        {
            return cc->hash[i];
        }
    }
    need = p->arena_len + len + 1;
    if (need > cc->arena_cap) {
        size_t ncap = cc->arena_cap == 0 ? 1024 : cc->arena_cap;
        while (ncap < need) {
            ncap *= 2;
        }
        if (ncap > 8 * (size_t) MP_MAX_JSON) {
            mp_fail(cc, MIM_ERR_LIMIT, "the policy is too large");
            return str;
        }
        grown = realloc(p->arena, ncap);
        if (grown == NULL) {
            mp_fail(cc, MIM_ERR_NOMEM, "out of memory");
            return str;
        }
        p->arena = grown;
        cc->arena_cap = ncap;
    }
    memcpy(p->arena + p->arena_len, s, len);
    p->arena[p->arena_len + len] = '\0';
    str.off = (uint32_t) p->arena_len;
    str.len = (uint32_t) len;
    p->arena_len += len + 1;
    cc->hash[i] = str;
    cc->hash_used++;
    return str;
}

static mp_str_t
mp_intern_z(mp_cc_t *cc, const char *s)
{
    return mp_intern(cc, s, strlen(s));
}

static void mp_warn(mp_cc_t *cc, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
mp_warn(mp_cc_t *cc, const char *fmt, ...)
{
    mim_policy_t  *p = cc->p;
    char           msg[MIM_MSG_MAX + MP_PATH_MAX];
    size_t         n = 0;
    va_list        ap;
    mp_str_t      *grown;

    if (p->nwarnings >= MP_MAX_WARNINGS) {
        return;
    }
    grown = mp_grow(cc, p->warnings, &cc->warnings_cap, p->nwarnings,
                    sizeof(mp_str_t), MP_MAX_WARNINGS);
    if (grown == NULL) {
        return;
    }
    p->warnings = grown;
    if (cc->path_len > 0) {
        n = (size_t) snprintf(msg, sizeof(msg), "%s: ", cc->path);
    }
    va_start(ap, fmt);
    vsnprintf(msg + n, sizeof(msg) - n, fmt, ap);
    va_end(ap);
    p->warnings[p->nwarnings++] = mp_intern_z(cc, msg);
}

/* ---- members and values in their JSON-LD spellings ---- */

/*
 * The member of obj for an ODRL term: "permission", "odrl:permission" or
 * "http://www.w3.org/ns/odrl/2/permission".  Two spellings of the same
 * member are an error (JSON-LD would merge them; a policy should not
 * depend on that).  *key gets the spelling found, for paths.
 */
static json_t *
mp_member_of(mp_cc_t *cc, json_t *obj, const char *const *names, size_t n,
    const char **key)
{
    json_t  *found = NULL;
    void    *iter;
    size_t   i;

    for (i = 0; i < n; i++) {
        iter = json_object_iter_at(obj, names[i]);
        if (iter == NULL) {
            continue;
        }
        if (found != NULL) {
            mp_fail(cc, MIM_ERR_INVALID, "both \"%s\" and \"%s\"", *key,
                    names[i]);
            return NULL;
        }
        found = json_object_iter_value(iter);
        /* the object's copy of the key: names[] may be on the stack */
        *key = json_object_iter_key(iter);
    }
    return found;
}

static json_t *
mp_member(mp_cc_t *cc, json_t *obj, const char *term, const char **key)
{
    char         prefixed[64], full[96];
    const char  *names[3];

    snprintf(prefixed, sizeof(prefixed), "odrl:%s", term);
    snprintf(full, sizeof(full), MP_ODRL_NS "%s", term);
    names[0] = term;
    names[1] = prefixed;
    names[2] = full;
    return mp_member_of(cc, obj, names, 3, key);
}

static json_t *
mp_member_id(mp_cc_t *cc, json_t *obj, const char **key)
{
    static const char *const  names[] = { "@id", "uid", "odrl:uid",
                                          MP_ODRL_NS "uid" };

    return mp_member_of(cc, obj, names, 4, key);
}

static json_t *
mp_member_type(mp_cc_t *cc, json_t *obj, const char **key)
{
    static const char *const  names[] = { "@type", "type" };

    return mp_member_of(cc, obj, names, 2, key);
}

/* a member that holds one value: [x] (expanded JSON-LD) is x */
static json_t *
mp_single(mp_cc_t *cc, json_t *v)
{
    if (json_is_array(v)) {
        if (json_array_size(v) != 1) {
            mp_fail(cc, MIM_ERR_INVALID, "expected one value, not %zu",
                    json_array_size(v));
            return NULL;
        }
        return json_array_get(v, 0);
    }
    return v;
}

/* a container: an array, {"@list": [...]}, {"@set": [...]}, [{"@list"}],
   or a single value (a one-element list) */
static json_t *
mp_list_items(json_t *v, size_t *n)
{
    json_t  *inner;

    if (json_is_array(v) && json_array_size(v) == 1
        && json_is_object(json_array_get(v, 0)))
    {
        inner = json_array_get(v, 0);
        if (json_object_get(inner, "@list") != NULL
            || json_object_get(inner, "@set") != NULL)
        {
            v = inner;
        }
    }
    if (json_is_object(v)) {
        inner = json_object_get(v, "@list");
        if (inner == NULL) {
            inner = json_object_get(v, "@set");
        }
        if (inner != NULL) {
            v = inner;
        }
    }
    if (json_is_array(v)) {
        *n = json_array_size(v);
        return v;
    }
    *n = 1;
    return v;
}

static json_t *
mp_list_get(json_t *list, size_t i)
{
    return json_is_array(list) ? json_array_get(list, i) : list;
}

/* ---- IRIs ---- */

static char *
mp_scratch(mp_cc_t *cc, size_t need)
{
    char  *grown;

    if (need > cc->scratch_cap) {
        grown = realloc(cc->scratch, need);
        if (grown == NULL) {
            mp_fail(cc, MIM_ERR_NOMEM, "out of memory");
            return NULL;
        }
        cc->scratch = grown;
        cc->scratch_cap = need;
    }
    return cc->scratch;
}

/*
 * A compact IRI "ex:thing" whose prefix the document's @context declares
 * becomes the full IRI (JSON-LD expansion of @id values).  The result is
 * valid until the next call.
 */
static const char *
mp_expand(mp_cc_t *cc, const char *s, size_t len, size_t *out_len)
{
    const char  *colon, *iri;
    char         prefix[64], *buf;
    size_t       plen, ilen;
    json_t      *def;

    *out_len = len;
    colon = memchr(s, ':', len);
    if (colon == NULL || cc->prefixes == NULL) {
        return s;
    }
    plen = (size_t) (colon - s);
    if (plen == 0 || plen >= sizeof(prefix)
        || (len - plen >= 3 && colon[1] == '/' && colon[2] == '/'))
    {
        return s;
    }
    memcpy(prefix, s, plen);
    prefix[plen] = '\0';
    def = json_object_get(cc->prefixes, prefix);
    if (def == NULL) {
        return s;
    }
    iri = json_string_value(def);
    ilen = json_string_length(def);
    buf = mp_scratch(cc, ilen + len - plen);
    if (buf == NULL) {
        return s;
    }
    memcpy(buf, iri, ilen);
    memcpy(buf + ilen, colon + 1, len - plen - 1);
    buf[ilen + len - plen - 1] = '\0';
    *out_len = ilen + len - plen - 1;
    return buf;
}

/* an IRI given as a string or a node object {"@id": ...} / {"uid": ...} */
static int
mp_iri(mp_cc_t *cc, json_t *v, const char **s, size_t *len)
{
    const char  *key;
    json_t      *id;

    v = mp_single(cc, v);
    if (v == NULL) {
        return -1;
    }
    if (json_is_object(v)) {
        id = mp_member_id(cc, v, &key);
        if (id == NULL) {
            if (!cc->failed) {
                mp_fail(cc, MIM_ERR_INVALID, "expected an IRI: an object "
                        "needs \"@id\"");
            }
            return -1;
        }
        v = mp_single(cc, id);
        if (v == NULL) {
            return -1;
        }
    }
    if (!json_is_string(v) || json_string_length(v) == 0) {
        mp_fail(cc, MIM_ERR_INVALID, "expected an IRI (a non-empty string "
                "or {\"@id\": ...})");
        return -1;
    }
    *s = mp_expand(cc, json_string_value(v), json_string_length(v), len);
    return cc->failed ? -1 : 0;
}

/* prefixes from an @context: a string, an object, or an array of them */
static int
mp_context(mp_cc_t *cc, json_t *ctx)
{
    const char  *key;
    json_t      *def, *id, *flag;
    size_t       i, n, len;
    const char  *iri;

    if (ctx == NULL) {
        return 0;
    }
    if (json_is_array(ctx)) {
        for (i = 0; i < json_array_size(ctx); i++) {
            if (mp_context(cc, json_array_get(ctx, i)) != 0) {
                return -1;
            }
        }
        return 0;
    }
    if (!json_is_object(ctx)) {
        return 0;           /* a remote context: its terms are known */
    }
    json_object_foreach(ctx, key, def) {
        n = strlen(key);
        if (key[0] == '@' || memchr(key, ':', n) != NULL) {
            continue;
        }
        iri = NULL;
        if (json_is_string(def)) {
            iri = json_string_value(def);
            len = json_string_length(def);
            /* JSON-LD 1.1: a simple term ending in a gen-delim is a
               prefix */
            if (len == 0 || strchr("/#:?[]@", iri[len - 1]) == NULL) {
                iri = NULL;
            }
        } else if (json_is_object(def)) {
            id = json_object_get(def, "@id");
            flag = json_object_get(def, "@prefix");
            if (json_is_true(flag) && json_is_string(id)) {
                iri = json_string_value(id);
            }
        }
        if (iri != NULL
            && json_object_set_new(cc->prefixes, key, json_string(iri)) != 0)
        {
            mp_fail(cc, MIM_ERR_NOMEM, "out of memory");
            return -1;
        }
    }
    return 0;
}

/* ---- right operands ---- */

typedef struct {
    const char  *lex;       /* lexical form (may live in scratch) */
    size_t       len;
    int          dt;        /* MP_DT_* */
    const char  *dt_name;   /* for messages */
    size_t       dt_len;
    int          json_int;  /* a JSON integer: lex is its decimal text */
    int          json_real;
} mp_literal_t;

/* the shortest text that reads back as d: 17.5, not 17.499999999999999 */
static size_t
mp_real_text(char buf[40], double d)
{
    int  n, precision;

    for (precision = 15; precision <= 17; precision++) {
        n = snprintf(buf, 40, "%.*g", precision, d);
        if (strtod(buf, NULL) == d) {
            break;
        }
    }
    return (size_t) n;
}

static int
mp_literal(mp_cc_t *cc, json_t *v, int dt_hint, const char *dt_hint_name,
    mp_literal_t *lit, char numbuf[40], char dtbuf[96])
{
    json_t      *value, *type, *id;
    const char  *key;
    size_t       n;

    memset(lit, 0, sizeof(*lit));
    lit->dt = dt_hint;
    lit->dt_name = dt_hint_name;
    lit->dt_len = dt_hint_name != NULL ? strlen(dt_hint_name) : 0;
    value = v;
    if (json_is_object(v)) {
        value = json_object_get(v, "@value");
        if (value == NULL) {
            id = mp_member_id(cc, v, &key);
            if (id == NULL) {
                if (!cc->failed) {
                    mp_fail(cc, MIM_ERR_INVALID, "a right operand object "
                            "needs \"@value\" or \"@id\"");
                }
                return -1;
            }
            if (mp_iri(cc, v, &lit->lex, &lit->len) != 0) {
                return -1;
            }
            lit->dt = MP_DT_STRING;
            lit->dt_name = NULL;
            return 0;
        }
        type = json_object_get(v, "@type");
        if (type != NULL) {
            if (!json_is_string(type)) {
                mp_fail(cc, MIM_ERR_INVALID, "\"@type\" of a value must be "
                        "a string");
                return -1;
            }
            key = mp_expand(cc, json_string_value(type),
                            json_string_length(type), &n);
            lit->dt = mp_datatype_lookup(key, n);
            /* a copy for messages: the scratch space is reused */
            lit->dt_len = n < 95 ? n : 95;
            memcpy(dtbuf, key, lit->dt_len);
            dtbuf[lit->dt_len] = '\0';
            lit->dt_name = dtbuf;
        }
    }
    if (json_is_string(value)) {
        lit->lex = json_string_value(value);
        lit->len = json_string_length(value);
    } else if (json_is_integer(value)) {
        lit->len = (size_t) snprintf(numbuf, 40, "%" JSON_INTEGER_FORMAT,
                                     json_integer_value(value));
        lit->lex = numbuf;
        lit->json_int = 1;
    } else if (json_is_real(value)) {
        lit->len = mp_real_text(numbuf, json_real_value(value));
        lit->lex = numbuf;
        lit->json_real = 1;
    } else if (json_is_boolean(value)) {
        lit->lex = json_is_true(value) ? "true" : "false";
        lit->len = strlen(lit->lex);
        if (lit->dt == MP_DT_NONE) {
            lit->dt = MP_DT_BOOLEAN;
        }
    } else {
        mp_fail(cc, MIM_ERR_INVALID, "unsupported right operand value (a "
                "string, a number, {\"@value\": ...} or {\"@id\": ...})");
        return -1;
    }
    if ((lit->json_int || lit->json_real) && lit->dt == MP_DT_NONE) {
        lit->dt = lit->json_int ? MP_DT_INTEGER : MP_DT_DECIMAL;
    }
    return 0;
}

static int
mp_lop_wants(int lop, int kind)
{
    switch (lop) {
    case MP_LOP_DATETIME:
        return kind == MP_V_TIME || kind == MP_V_DATE;
    case MP_LOP_ELAPSED:
        return kind == MP_V_DUR;
    case MP_LOP_COUNT:
        return kind == MP_V_INT || kind == MP_V_DEC;
    case MP_LOP_VLOC:
        return kind == MP_V_NET;
    case MP_LOP_CLAIM:
        return kind != MP_V_NET;
    case MP_LOP_UNKNOWN:
    case MP_LOP_UNDECIDED:
        return 1;
    default:
        return kind == MP_V_STR;
    }
}

static const char *
mp_lop_expects(int lop)
{
    switch (lop) {
    case MP_LOP_DATETIME: return "an xsd:dateTime or xsd:date";
    case MP_LOP_ELAPSED:  return "an xsd:duration";
    case MP_LOP_COUNT:    return "a number";
    case MP_LOP_VLOC:     return "an IP address or CIDR block";
    default:              return "an IRI or a string";
    }
}

/*
 * One right operand value, compiled for the left operand: plain strings
 * are read as the left operand's type; typed literals must parse as their
 * datatype (a malformed one is an error); a value of the wrong type or
 * an unknown datatype sets *problem (the constraint never holds).
 */
static int
mp_value(mp_cc_t *cc, json_t *v, int lop, int ordering, int dt_hint,
    const char *dt_hint_name, mp_value_t *out, char *problem, size_t psize)
{
    mp_literal_t  lit;
    char          numbuf[40], dtbuf[96], q[72];
    int64_t       i;
    double        d;
    int           is_int, dt;

    if (mp_literal(cc, v, dt_hint, dt_hint_name, &lit, numbuf, dtbuf) != 0) {
        return -1;
    }
    memset(out, 0, sizeof(*out));
    out->kind = MP_V_STR;
    out->text = mp_intern(cc, lit.lex, lit.len);
    if (cc->failed) {
        return -1;
    }
    dt = lit.dt;
    if (dt == MP_DT_NONE) {
        /* a plain string: read as the left operand's type */
        switch (lop) {
        case MP_LOP_DATETIME:
            dt = mp_parse_datetime(lit.lex, lit.len, &i) == 0
                 ? MP_DT_DATETIME : MP_DT_DATE;
            break;
        case MP_LOP_ELAPSED:
            dt = MP_DT_DURATION;
            break;
        case MP_LOP_COUNT:
            dt = MP_DT_DECIMAL;
            break;
        case MP_LOP_CLAIM:
            if (ordering) {
                if (mp_parse_decimal(lit.lex, lit.len, &is_int, &i, &d) == 0)
                {
                    dt = MP_DT_DECIMAL;
                } else if (mp_parse_datetime(lit.lex, lit.len, &i) == 0) {
                    dt = MP_DT_DATETIME;
                } else if (mp_parse_date(lit.lex, lit.len, &i) == 0) {
                    dt = MP_DT_DATE;
                } else if (mp_parse_duration(lit.lex, lit.len, &i) == 0) {
                    dt = MP_DT_DURATION;
                }
            }
            break;
        }
    }
    switch (dt) {
    case MP_DT_DATETIME:
        if (mp_parse_datetime(lit.lex, lit.len, &out->u.i) != 0) {
            mp_fail(cc, MIM_ERR_INVALID, "%s is not an xsd:dateTime",
                    mp_quote(q, lit.lex, lit.len));
            return -1;
        }
        out->kind = MP_V_TIME;
        break;
    case MP_DT_DATE:
        if (mp_parse_date(lit.lex, lit.len, &out->u.i) != 0) {
            mp_fail(cc, MIM_ERR_INVALID, "%s is not an xsd:%s",
                    mp_quote(q, lit.lex, lit.len),
                    lit.dt == MP_DT_NONE ? "dateTime or xsd:date" : "date");
            return -1;
        }
        out->kind = MP_V_DATE;
        break;
    case MP_DT_DURATION:
        if (mp_parse_duration(lit.lex, lit.len, &out->u.i) != 0) {
            mp_fail(cc, MIM_ERR_INVALID, "%s is not an xsd:duration",
                    mp_quote(q, lit.lex, lit.len));
            return -1;
        }
        out->kind = MP_V_DUR;
        break;
    case MP_DT_INTEGER:
        if (mp_parse_integer(lit.lex, lit.len, &out->u.i) != 0) {
            mp_fail(cc, MIM_ERR_INVALID, "%s is not an xsd:integer",
                    mp_quote(q, lit.lex, lit.len));
            return -1;
        }
        out->kind = MP_V_INT;
        break;
    case MP_DT_DECIMAL:
        if (mp_parse_decimal(lit.lex, lit.len, &is_int, &i, &d) != 0) {
            mp_fail(cc, MIM_ERR_INVALID, "%s is not a%s",
                    mp_quote(q, lit.lex, lit.len),
                    lit.dt == MP_DT_NONE ? " number" : "n xsd:decimal");
            return -1;
        }
        out->kind = is_int ? MP_V_INT : MP_V_DEC;
        if (is_int) {
            out->u.i = i;
        } else {
            out->u.d = d;
        }
        break;
    case MP_DT_BOOLEAN:
        if (!(lit.len == 4 && memcmp(lit.lex, "true", 4) == 0)
            && !(lit.len == 5 && memcmp(lit.lex, "false", 5) == 0))
        {
            mp_fail(cc, MIM_ERR_INVALID, "%s is not an xsd:boolean",
                    mp_quote(q, lit.lex, lit.len));
            return -1;
        }
        break;
    case MP_DT_UNKNOWN:
        if (problem[0] == '\0') {
            snprintf(problem, psize, "datatype %s is not supported",
                     mp_quote(q, lit.dt_name, lit.dt_len));
        }
        return 0;
    default:
        break;
    }
    if (lop == MP_LOP_VLOC && out->kind == MP_V_STR) {
        if (mp_parse_net(lit.lex, lit.len, 1, &out->u.net) == 0) {
            out->kind = MP_V_NET;
        } else if (problem[0] == '\0') {
            snprintf(problem, psize, "virtualLocation %s is not an IP "
                     "address or CIDR block (the only virtual locations "
                     "the gateway knows)", mp_quote(q, lit.lex, lit.len));
            return 0;
        }
    }
    if (!mp_lop_wants(lop, out->kind) && problem[0] == '\0') {
        snprintf(problem, psize, "%s needs %s value, not %s",
                 mp_lop_name(lop), mp_lop_expects(lop),
                 mp_quote(q, lit.lex, lit.len));
    }
    return 0;
}

/* the right operand's text for messages: "x" or "[a, b, ...]" */
static void
mp_operand_text(mp_cc_t *cc, const mp_node_t *node, char *buf, size_t size)
{
    const mim_policy_t  *p = cc->p;
    size_t               n = 0, i, len;
    const mp_value_t    *v;

    if (node->n == 1) {
        v = &p->values[node->first];
        snprintf(buf, size, "%s", mp_cstr(p, v->text));
        return;
    }
    buf[n++] = '[';
    for (i = 0; i < node->n; i++) {
        v = &p->values[node->first + i];
        len = v->text.len;
        if (n + len + 8 >= size) {
            memcpy(buf + n, "...", 3);
            n += 3;
            break;
        }
        if (i > 0) {
            buf[n++] = ',';
            buf[n++] = ' ';
        }
        memcpy(buf + n, mp_cstr(p, v->text), len);
        n += len;
    }
    buf[n++] = ']';
    buf[n] = '\0';
}

/* ---- constraints ---- */

static int mp_constraint(mp_cc_t *cc, json_t *c, uint32_t at);

/* a list of constraints compiled into nodes[*first .. *first + *n) */
static int
mp_constraint_list(mp_cc_t *cc, json_t *list, uint32_t *first,
    uint32_t *n)
{
    mim_policy_t  *p = cc->p;
    json_t        *items;
    size_t         count, i, base, old;
    mp_node_t     *grown;

    items = mp_list_items(list, &count);
    *first = (uint32_t) p->nnodes;
    *n = 0;
    if (count == 0) {
        return 0;           /* "constraint": [] as real peers send it */
    }
    if (p->nnodes + count > MP_MAX_NODES) {
        mp_fail(cc, MIM_ERR_LIMIT, "more than %d constraints", MP_MAX_NODES);
        return -1;
    }
    /* the items are contiguous: reserve them before compiling any */
    base = p->nnodes;
    while (cc->nodes_cap < base + count) {
        grown = mp_grow(cc, p->nodes, &cc->nodes_cap, cc->nodes_cap,
                        sizeof(mp_node_t), MP_MAX_NODES);
        if (grown == NULL) {
            return -1;
        }
        p->nodes = grown;
    }
    memset(p->nodes + base, 0, count * sizeof(mp_node_t));
    p->nnodes = base + count;
    for (i = 0; i < count; i++) {
        old = mp_path_push(cc, "[%zu]", i);
        if (mp_constraint(cc, mp_list_get(items, i), (uint32_t) (base + i))
            != 0)
        {
            return -1;
        }
        mp_path_pop(cc, old);
    }
    *first = (uint32_t) base;
    *n = (uint32_t) count;
    return 0;
}

static int
mp_logical(mp_cc_t *cc, json_t *operands, int type, const char *key,
    uint32_t at)
{
    mim_policy_t  *p = cc->p;
    uint32_t       first, n;
    size_t         old;

    if (cc->depth >= MP_MAX_DEPTH) {
        mp_fail(cc, MIM_ERR_LIMIT, "logical constraints nested deeper "
                "than %d", MP_MAX_DEPTH);
        return -1;
    }
    cc->depth++;
    old = mp_path_member(cc, key);
    if (mp_constraint_list(cc, operands, &first, &n) != 0) {
        return -1;
    }
    if (n == 0) {
        mp_fail(cc, MIM_ERR_INVALID, "a logical constraint needs at least "
                "one constraint");
        return -1;
    }
    mp_path_pop(cc, old);
    cc->depth--;
    p->nodes[at].type = (uint8_t) type;
    p->nodes[at].first = first;
    p->nodes[at].n = n;
    p->nodes[at].text = mp_intern_z(cc, key);
    p->nodes[at].problem.off = MP_NONE;
    p->nodes[at].claim.off = MP_NONE;
    return cc->failed ? -1 : 0;
}

/* leftOperand or operator: one term, as a string or {"@id"} */
static int
mp_term(mp_cc_t *cc, json_t *obj, const char *name, const char **s,
    size_t *len)
{
    const char  *key = name;
    json_t      *v;
    size_t       old;
    int          rc;

    v = mp_member(cc, obj, name, &key);
    if (v == NULL) {
        if (!cc->failed) {
            mp_fail(cc, MIM_ERR_INVALID, "missing \"%s\"", name);
        }
        return -1;
    }
    old = mp_path_member(cc, key);
    rc = mp_iri(cc, v, s, len);
    if (rc == 0) {
        mp_path_pop(cc, old);
    }
    return rc;
}

/* the leftOperand's text as the messages show it */
static mp_str_t
mp_lop_text(mp_cc_t *cc, const char *s, size_t len, int lop)
{
    const char  *local;
    size_t       n;

    if (lop != MP_LOP_CLAIM && lop != MP_LOP_UNKNOWN) {
        local = mp_odrl_local(s, len, &n);
        if (local != NULL) {
            return mp_intern(cc, local, n);
        }
    }
    return mp_intern(cc, s, len);
}

static int
mp_atomic(mp_cc_t *cc, json_t *c, uint32_t at)
{
    mim_policy_t  *p = cc->p;
    const char    *s, *key;
    size_t         len, count, i, old;
    json_t        *ro, *items, *dtv;
    mp_node_t      node;
    mp_str_t       lop_text, op_text;
    mp_value_t    *grown;
    char           problem[MIM_MSG_MAX], q[72], text[MP_TEXT_MAX + 160];
    char           operand[MP_TEXT_MAX], dt_name[96];
    int            dt_hint = MP_DT_NONE, ordering;

    memset(&node, 0, sizeof(node));
    node.type = MP_N_ATOM;
    node.claim.off = MP_NONE;
    problem[0] = '\0';

    if (mp_term(cc, c, "leftOperand", &s, &len) != 0) {
        return -1;
    }
    node.lop = (uint8_t) mp_lop_lookup(s, len);
    lop_text = mp_lop_text(cc, s, len, node.lop);
    if (node.lop == MP_LOP_CLAIM) {
        size_t plen = sizeof(MP_CLAIM_PREFIX) - 1;
        node.claim = mp_intern(cc, s + plen, len - plen);
    } else if (node.lop == MP_LOP_UNKNOWN) {
        snprintf(problem, sizeof(problem), "unknown left operand %s",
                 mp_quote(q, s, len));
    } else if (node.lop == MP_LOP_UNDECIDED) {
        snprintf(problem, sizeof(problem), "left operand %s is not decided "
                 "by the gateway", mp_quote(q, s, len));
    }

    if (mp_term(cc, c, "operator", &s, &len) != 0) {
        return -1;
    }
    node.op = (uint8_t) mp_op_lookup(s, len);
    if (node.op == MP_OP_UNKNOWN) {
        op_text = mp_intern(cc, s, len);
        if (problem[0] == '\0') {
            snprintf(problem, sizeof(problem), "unknown operator %s",
                     mp_quote(q, s, len));
        }
    } else {
        op_text = mp_intern_z(cc, mp_op_name(node.op));
    }
    if (cc->failed) {
        return -1;
    }
    ordering = node.op >= MP_OP_LT && node.op <= MP_OP_GTEQ;

    dtv = mp_member(cc, c, "dataType", &key);
    if (dtv != NULL) {
        old = mp_path_member(cc, key);
        if (mp_iri(cc, dtv, &s, &len) != 0) {
            return -1;
        }
        mp_path_pop(cc, old);
        dt_hint = mp_datatype_lookup(s, len);
        snprintf(dt_name, sizeof(dt_name), "%.*s",
                 (int) (len < 95 ? len : 95), s);
    }

    key = "rightOperand";
    ro = mp_member(cc, c, "rightOperand", &key);
    if (ro == NULL) {
        if (cc->failed) {
            return -1;
        }
        if (mp_member(cc, c, "rightOperandReference", &key) == NULL) {
            mp_fail(cc, MIM_ERR_INVALID, "missing \"rightOperand\"");
            return -1;
        }
        /* a reference to be resolved elsewhere: cannot be decided here */
        if (problem[0] == '\0') {
            snprintf(problem, sizeof(problem), "rightOperandReference is "
                     "not supported");
        }
        node.first = (uint32_t) p->nvalues;
        node.n = 0;
        snprintf(text, sizeof(text), "%s %s (reference)",
                 mp_cstr(p, lop_text), mp_cstr(p, op_text));
    } else {
        old = mp_path_member(cc, key);
        items = mp_list_items(ro, &count);
        if (count == 0) {
            mp_fail(cc, MIM_ERR_INVALID, "empty right operand");
            return -1;
        }
        node.first = (uint32_t) p->nvalues;
        for (i = 0; i < count; i++) {
            json_t *item = mp_list_get(items, i);
            if (json_is_array(item)) {
                mp_fail(cc, MIM_ERR_INVALID, "nested lists are not "
                        "supported");
                return -1;
            }
            grown = mp_grow(cc, p->values, &cc->values_cap, p->nvalues,
                            sizeof(mp_value_t), MP_MAX_VALUES);
            if (grown == NULL) {
                return -1;
            }
            p->values = grown;
            if (mp_value(cc, item, node.lop, ordering, dt_hint,
                         dt_hint != MP_DT_NONE ? dt_name : NULL,
                         &p->values[p->nvalues], problem, sizeof(problem))
                != 0)
            {
                return -1;
            }
            p->nvalues++;
        }
        node.n = (uint32_t) count;
        mp_path_pop(cc, old);
        if (ordering && problem[0] == '\0') {
            if (count != 1) {
                snprintf(problem, sizeof(problem), "operator %s needs one "
                         "right operand value, not %zu", mp_op_name(node.op),
                         count);
            } else if (p->values[node.first].kind == MP_V_STR
                       || p->values[node.first].kind == MP_V_NET)
            {
                snprintf(problem, sizeof(problem), "operator %s does not "
                         "apply to %s", mp_op_name(node.op),
                         mp_cstr(p, lop_text));
            }
        }
        mp_operand_text(cc, &node, operand, sizeof(operand));
        snprintf(text, sizeof(text), "%s %s %s", mp_cstr(p, lop_text),
                 mp_cstr(p, op_text), operand);
    }
    node.text = mp_intern_z(cc, text);
    node.problem.off = MP_NONE;
    if (problem[0] != '\0') {
        node.problem = mp_intern_z(cc, problem);
        mp_warn(cc, "%s: the constraint never holds", problem);
    }
    if (cc->failed) {
        return -1;
    }
    p->nodes[at] = node;
    p->natoms++;
    return 0;
}

static int
mp_constraint(mp_cc_t *cc, json_t *c, uint32_t at)
{
    static const struct {
        const char  *term;
        int          type;
    } logical[] = {
        { "and", MP_N_AND }, { "or", MP_N_OR }, { "xone", MP_N_XONE },
        { "andSequence", MP_N_ANDSEQ },
    };
    json_t       *operands = NULL, *v;
    const char   *key = NULL, *k;
    size_t        i;
    int           type = 0;

    if (!json_is_object(c)) {
        mp_fail(cc, MIM_ERR_INVALID, "a constraint must be an object");
        return -1;
    }
    for (i = 0; i < 4; i++) {
        k = logical[i].term;
        v = mp_member(cc, c, logical[i].term, &k);
        if (cc->failed) {
            return -1;
        }
        if (v == NULL) {
            continue;
        }
        if (operands != NULL) {
            mp_fail(cc, MIM_ERR_INVALID, "a logical constraint has one "
                    "operand, not both \"%s\" and \"%s\"", key, k);
            return -1;
        }
        operands = v;
        key = k;
        type = logical[i].type;
    }
    if (operands != NULL) {
        if (mp_member(cc, c, "leftOperand", &k) != NULL
            || mp_member(cc, c, "operator", &k) != NULL)
        {
            mp_fail(cc, MIM_ERR_INVALID, "a constraint is atomic or "
                    "logical, not both");
            return -1;
        }
        return mp_logical(cc, operands, type, key, at);
    }
    if (cc->failed) {
        return -1;
    }
    if (json_object_size(c) == 1 && mp_member_id(cc, c, &k) != NULL) {
        mp_fail(cc, MIM_ERR_UNSUPPORTED, "constraints given by reference "
                "(\"@id\" only) are not supported");
        return -1;
    }
    return mp_atomic(cc, c, at);
}

/* ---- actions, targets, parties ---- */

static int
mp_action_item(mp_cc_t *cc, json_t *v, mp_action_t *out)
{
    static const char *const  value_names[] = {
        "rdf:value", "value", "http://www.w3.org/1999/02/22-rdf-syntax-ns#value"
    };
    const char  *s, *local, *key = NULL;
    size_t       len, n, old;
    json_t      *inner, *refinement;

    memset(out, 0, sizeof(*out));
    out->ref_first = (uint32_t) cc->p->nnodes;
    inner = v;
    if (json_is_object(v)) {
        /* {"rdf:value": {"@id": "odrl:print"}, "refinement": [...]} */
        inner = mp_member_of(cc, v, value_names, 3, &key);
        if (inner == NULL) {
            if (cc->failed) {
                return -1;
            }
            inner = v;          /* {"@id": "odrl:print"} */
        } else {
            old = mp_path_member(cc, key);
            if (mp_iri(cc, inner, &s, &len) != 0) {
                return -1;
            }
            mp_path_pop(cc, old);
        }
        refinement = mp_member(cc, v, "refinement", &key);
        if (refinement != NULL) {
            old = mp_path_member(cc, key);
            if (mp_constraint_list(cc, refinement, &out->ref_first,
                                   &out->ref_n) != 0)
            {
                return -1;
            }
            mp_path_pop(cc, old);
        } else if (cc->failed) {
            return -1;
        }
    }
    if (mp_iri(cc, inner, &s, &len) != 0) {
        return -1;
    }
    out->action = mp_action_lookup(s, len);
    if (out->action != MP_ACT_OTHER) {
        out->name = mp_intern_z(cc, mp_action_name(out->action));
    } else {
        /* an action outside the vocabulary: its own root */
        local = mp_odrl_local(s, len, &n);
        out->name = local != NULL ? mp_intern(cc, local, n)
                                  : mp_intern(cc, s, len);
    }
    return cc->failed ? -1 : 0;
}

static int
mp_actions(mp_cc_t *cc, json_t *obj, mp_actions_t *out)
{
    const char  *key = "action";
    json_t      *v, *items;
    size_t       count, i, old, old2;

    memset(out, 0, sizeof(*out));
    v = mp_member(cc, obj, "action", &key);
    if (v == NULL) {
        return cc->failed ? -1 : 0;
    }
    old = mp_path_member(cc, key);
    items = mp_list_items(v, &count);
    if (count == 0) {
        mp_fail(cc, MIM_ERR_INVALID, "no action");
        return -1;
    }
    out->items = calloc(count, sizeof(mp_action_t));
    if (out->items == NULL) {
        mp_fail(cc, MIM_ERR_NOMEM, "out of memory");
        return -1;
    }
    for (i = 0; i < count; i++) {
        old2 = json_is_array(items) ? mp_path_push(cc, "[%zu]", i)
                                    : cc->path_len;
        if (mp_action_item(cc, mp_list_get(items, i), &out->items[i]) != 0)
        {
            return -1;
        }
        mp_path_pop(cc, old2);
    }
    out->n = count;
    out->given = 1;
    mp_path_pop(cc, old);
    return 0;
}

/* target, assignee, assigner: one IRI or a list of them */
static int
mp_iris(mp_cc_t *cc, json_t *obj, const char *term, mp_iris_t *out)
{
    const char  *key = term, *s;
    json_t      *v, *items, *item;
    size_t       count, i, len, old, old2;

    memset(out, 0, sizeof(*out));
    v = mp_member(cc, obj, term, &key);
    if (v == NULL) {
        return cc->failed ? -1 : 0;
    }
    old = mp_path_member(cc, key);
    items = mp_list_items(v, &count);
    if (count == 0) {
        mp_fail(cc, MIM_ERR_INVALID, "empty list");
        return -1;
    }
    out->items = calloc(count, sizeof(mp_str_t));
    if (out->items == NULL) {
        mp_fail(cc, MIM_ERR_NOMEM, "out of memory");
        return -1;
    }
    for (i = 0; i < count; i++) {
        old2 = json_is_array(items) ? mp_path_push(cc, "[%zu]", i)
                                    : cc->path_len;
        item = mp_list_get(items, i);
        if (json_is_object(item)
            && (mp_member(cc, item, "refinement", &key) != NULL
                || json_object_get(item, "source") != NULL))
        {
            /* AssetCollection / PartyCollection with a refinement: the
               members cannot be listed from the policy alone */
            mp_fail(cc, MIM_ERR_UNSUPPORTED, "collections defined by a "
                    "refinement are not supported");
            return -1;
        }
        if (mp_iri(cc, item, &s, &len) != 0) {
            return -1;
        }
        out->items[i] = mp_intern(cc, s, len);
        mp_path_pop(cc, old2);
    }
    out->n = count;
    out->given = 1;
    mp_path_pop(cc, old);
    return cc->failed ? -1 : 0;
}

/* ---- rules ---- */

typedef struct {
    mp_actions_t  actions;
    mp_iris_t     targets;
    mp_iris_t     assignees;
} mp_inherit_t;

static mp_rule_t *
mp_new_rule(mp_cc_t *cc, int duty)
{
    mim_policy_t  *p = cc->p;
    mp_rule_t     *grown;

    if (duty) {
        grown = mp_grow(cc, p->duties, &cc->duties_cap, p->nduties,
                        sizeof(mp_rule_t), MP_MAX_RULES);
        if (grown == NULL) {
            return NULL;
        }
        p->duties = grown;
        return &p->duties[p->nduties++];
    }
    grown = mp_grow(cc, p->rules, &cc->rules_cap, p->nrules,
                    sizeof(mp_rule_t), MP_MAX_RULES);
    if (grown == NULL) {
        return NULL;
    }
    p->rules = grown;
    return &p->rules[p->nrules++];
}

static void
mp_free_parts(mp_actions_t *a, mp_iris_t *t, mp_iris_t *s)
{
    free(a->items);
    free(t->items);
    free(s->items);
}

static int mp_rule(mp_cc_t *cc, json_t *obj, int kind, const char *what,
    size_t index, const mp_inherit_t *inherit, uint32_t *first,
    uint32_t *n);

static int
mp_duties(mp_cc_t *cc, json_t *obj, uint32_t *first, uint32_t *n)
{
    const char  *key = "duty";
    json_t      *v, *items;
    size_t       count, i, old, old2;
    uint32_t     f, k;

    *first = (uint32_t) cc->p->nduties;
    *n = 0;
    v = mp_member(cc, obj, "duty", &key);
    if (v == NULL) {
        return cc->failed ? -1 : 0;
    }
    old = mp_path_member(cc, key);
    items = mp_list_items(v, &count);
    for (i = 0; i < count; i++) {
        old2 = mp_path_push(cc, "[%zu]", i);
        if (mp_rule(cc, mp_list_get(items, i), MP_R_DUTY, "duty", i, NULL,
                    &f, &k) != 0)
        {
            return -1;
        }
        if (i == 0) {
            *first = f;
        }
        *n += k;
        mp_path_pop(cc, old2);
    }
    mp_path_pop(cc, old);
    return 0;
}

/*
 * One permission, prohibition, obligation or duty, split into atomic
 * rules: one per action x target x assignee.  The split rules share
 * their constraints and duties.
 */
static int
mp_rule(mp_cc_t *cc, json_t *obj, int kind, const char *what, size_t index,
    const mp_inherit_t *inherit, uint32_t *first, uint32_t *n)
{
    mim_policy_t        *p = cc->p;
    mp_actions_t         actions;
    mp_iris_t            targets, assignees, assigners;
    const mp_actions_t  *act;
    const mp_iris_t     *tgt, *asg;
    const char          *key = "constraint", *s;
    json_t              *v;
    mp_str_t             uid = { MP_NONE, 0 }, label, place;
    uint32_t             cons_first = 0, cons_n = 0, duty_first = 0;
    uint32_t             duty_n = 0;
    size_t               a, t, g, nt, ng, len, old;
    char                 buf[MP_PATH_MAX + 64];
    mp_rule_t           *r;
    int                  rc = -1;

    memset(&actions, 0, sizeof(actions));
    memset(&targets, 0, sizeof(targets));
    memset(&assignees, 0, sizeof(assignees));
    memset(&assigners, 0, sizeof(assigners));
    *first = (uint32_t) (kind == MP_R_DUTY ? p->nduties : p->nrules);
    *n = 0;

    if (!json_is_object(obj)) {
        mp_fail(cc, MIM_ERR_INVALID, "a %s must be an object", what);
        return -1;
    }
    v = mp_member_id(cc, obj, &key);
    if (v != NULL) {
        old = mp_path_member(cc, key);
        if (mp_iri(cc, v, &s, &len) != 0) {
            goto done;
        }
        uid = mp_intern(cc, s, len);
        mp_path_pop(cc, old);
    }
    if (cc->failed
        || mp_actions(cc, obj, &actions) != 0
        || mp_iris(cc, obj, "target", &targets) != 0
        || mp_iris(cc, obj, "assignee", &assignees) != 0
        || mp_iris(cc, obj, "assigner", &assigners) != 0)
    {
        goto done;
    }
    key = "constraint";
    v = mp_member(cc, obj, "constraint", &key);
    if (v != NULL) {
        old = mp_path_member(cc, key);
        if (mp_constraint_list(cc, v, &cons_first, &cons_n) != 0) {
            goto done;
        }
        mp_path_pop(cc, old);
    } else if (cc->failed) {
        goto done;
    }
    if (kind == MP_R_PERMISSION
        && mp_duties(cc, obj, &duty_first, &duty_n) != 0)
    {
        goto done;
    }

    /* a rule's own member wins over the policy-level one */
    act = actions.given || inherit == NULL ? &actions : &inherit->actions;
    tgt = targets.given || inherit == NULL ? &targets : &inherit->targets;
    asg = assignees.given || inherit == NULL ? &assignees
                                             : &inherit->assignees;
    if (act->n == 0) {
        mp_fail(cc, MIM_ERR_INVALID, "a %s needs an action (its own or the "
                "policy's)", what);
        goto done;
    }

    snprintf(buf, sizeof(buf), "%s[%zu]", what, index);
    place = mp_intern_z(cc, buf);
    if (uid.off != MP_NONE) {
        snprintf(buf, sizeof(buf), "%s[%zu] (%s)", what, index,
                 mp_cstr(p, uid));
    }
    label = mp_intern_z(cc, buf);

    nt = tgt->n > 0 ? tgt->n : 1;
    ng = asg->n > 0 ? asg->n : 1;
    *first = (uint32_t) (kind == MP_R_DUTY ? p->nduties : p->nrules);
    for (a = 0; a < act->n && !cc->failed; a++) {
        for (t = 0; t < nt && !cc->failed; t++) {
            for (g = 0; g < ng && !cc->failed; g++) {
                r = mp_new_rule(cc, kind == MP_R_DUTY);
                if (r == NULL) {
                    goto done;
                }
                memset(r, 0, sizeof(*r));
                r->kind = (uint8_t) kind;
                r->action = (uint8_t) act->items[a].action;
                r->action_name = act->items[a].name;
                r->ref_first = act->items[a].ref_first;
                r->ref_n = act->items[a].ref_n;
                r->target = tgt->n > 0 ? tgt->items[t]
                                       : (mp_str_t) { MP_NONE, 0 };
                r->assignee = asg->n > 0 ? asg->items[g]
                                         : (mp_str_t) { MP_NONE, 0 };
                r->uid = uid;
                r->label = label;
                r->place = place;
                r->cons_first = cons_first;
                r->cons_n = cons_n;
                r->duty_first = duty_first;
                r->duty_n = duty_n;
                (*n)++;
            }
        }
    }
    rc = cc->failed ? -1 : 0;

done:
    mp_free_parts(&actions, &targets, &assignees);
    free(assigners.items);
    return rc;
}

static int
mp_rules(mp_cc_t *cc, json_t *policy, const char *term, int kind,
    const mp_inherit_t *inherit)
{
    const char  *key = term;
    json_t      *v, *items;
    size_t       count, i, old, old2;
    uint32_t     f, n;

    v = mp_member(cc, policy, term, &key);
    if (v == NULL) {
        return cc->failed ? -1 : 0;
    }
    old = mp_path_member(cc, key);
    items = mp_list_items(v, &count);
    for (i = 0; i < count; i++) {
        old2 = mp_path_push(cc, "[%zu]", i);
        if (mp_rule(cc, mp_list_get(items, i), kind, term, i, inherit, &f,
                    &n) != 0)
        {
            return -1;
        }
        mp_path_pop(cc, old2);
    }
    mp_path_pop(cc, old);
    return 0;
}

/* ---- the policy ---- */

static int
mp_policy_type(mp_cc_t *cc, json_t *obj)
{
    static const struct {
        const char  *name;
        int          type;
    } types[] = {
        { "Set", MP_SET }, { "Policy", MP_SET }, { "Offer", MP_OFFER },
        { "Agreement", MP_AGREEMENT },
    };
    const char  *key = "@type", *s, *local;
    json_t      *v, *items, *item;
    size_t       count, i, j, n, old;
    int          found = -1;
    char         q[72];

    cc->p->type = MP_SET;       /* ODRL: Set is the default */
    v = mp_member_type(cc, obj, &key);
    if (v == NULL) {
        return cc->failed ? -1 : 0;
    }
    old = mp_path_member(cc, key);
    items = mp_list_items(v, &count);
    for (i = 0; i < count && found < 0; i++) {
        item = mp_list_get(items, i);
        if (!json_is_string(item)) {
            mp_fail(cc, MIM_ERR_INVALID, "expected a string");
            return -1;
        }
        s = mp_expand(cc, json_string_value(item), json_string_length(item),
                      &n);
        local = mp_odrl_local(s, n, &n);
        for (j = 0; local != NULL && j < 4; j++) {
            if (strlen(types[j].name) == n
                && memcmp(types[j].name, local, n) == 0)
            {
                found = types[j].type;
            }
        }
        if (found < 0 && local != NULL) {
            mp_fail(cc, MIM_ERR_UNSUPPORTED, "policy type %s is not "
                    "supported (Set, Offer or Agreement)",
                    mp_quote(q, local, n));
            return -1;
        }
    }
    if (found < 0) {
        mp_fail(cc, MIM_ERR_INVALID, "not an ODRL policy type (Set, Offer "
                "or Agreement)");
        return -1;
    }
    cc->p->type = (uint8_t) found;
    mp_path_pop(cc, old);
    return 0;
}

static int
mp_conflict(mp_cc_t *cc, json_t *obj)
{
    const char  *key = "conflict", *s, *local;
    json_t      *v;
    size_t       len, n, old;
    char         q[72];

    cc->p->conflict = MP_CONFLICT_INVALID;  /* ODRL's default */
    v = mp_member(cc, obj, "conflict", &key);
    if (v == NULL) {
        return cc->failed ? -1 : 0;
    }
    old = mp_path_member(cc, key);
    if (mp_iri(cc, v, &s, &len) != 0) {
        return -1;
    }
    local = mp_odrl_local(s, len, &n);
    if (local != NULL && n == 4 && memcmp(local, "perm", 4) == 0) {
        cc->p->conflict = MP_CONFLICT_PERM;
    } else if (local != NULL && n == 8 && memcmp(local, "prohibit", 8) == 0) {
        cc->p->conflict = MP_CONFLICT_PROHIBIT;
    } else if (local == NULL || n != 7 || memcmp(local, "invalid", 7) != 0) {
        mp_fail(cc, MIM_ERR_INVALID, "unknown conflict strategy %s (perm, "
                "prohibit or invalid)", mp_quote(q, s, len));
        return -1;
    }
    mp_path_pop(cc, old);
    return 0;
}

static int
mp_timestamp(mp_cc_t *cc, json_t *obj)
{
    static const char *const  names[] = {
        "timestamp", "dspace:timestamp", "https://w3id.org/dspace/2025/1/"
        "timestamp"
    };
    const char  *key = "timestamp";
    json_t      *v;
    size_t       old;
    char         q[72];

    v = mp_member_of(cc, obj, names, 3, &key);
    if (v == NULL) {
        return cc->failed ? -1 : 0;
    }
    old = mp_path_member(cc, key);
    v = mp_single(cc, v);
    if (v != NULL && json_is_object(v)) {
        v = json_object_get(v, "@value");
    }
    if (v == NULL || !json_is_string(v)
        || mp_parse_datetime(json_string_value(v), json_string_length(v),
                             &cc->p->timestamp) != 0)
    {
        mp_fail(cc, MIM_ERR_INVALID, "%s is not an xsd:dateTime",
                v != NULL && json_is_string(v)
                ? mp_quote(q, json_string_value(v), json_string_length(v))
                : "the value");
        return -1;
    }
    cc->p->has_timestamp = 1;
    mp_path_pop(cc, old);
    return 0;
}

static int
mp_policy(mp_cc_t *cc, json_t *obj)
{
    mim_policy_t  *p = cc->p;
    mp_inherit_t   inherit;
    mp_iris_t      assigners;
    const char    *key = "@id", *s;
    json_t        *v;
    size_t         len, old;
    int            rc = -1;
    char           q[72];

    memset(&inherit, 0, sizeof(inherit));
    memset(&assigners, 0, sizeof(assigners));
    if (!json_is_object(obj)) {
        mp_fail(cc, MIM_ERR_INVALID, "a policy must be a JSON object");
        return -1;
    }
    if (mp_policy_type(cc, obj) != 0) {
        return -1;
    }
    v = mp_member_id(cc, obj, &key);
    if (v != NULL) {
        old = mp_path_member(cc, key);
        if (mp_iri(cc, v, &s, &len) != 0) {
            return -1;
        }
        p->uid = mp_intern(cc, s, len);
        mp_path_pop(cc, old);
    } else if (cc->failed) {
        return -1;
    }
    if (mp_member(cc, obj, "inheritFrom", &key) != NULL) {
        old = mp_path_member(cc, key);
        /* the parent policy's rules would be missing: refuse rather than
           decide on part of the policy */
        mp_fail(cc, MIM_ERR_UNSUPPORTED, "policy inheritance is not "
                "supported");
        return -1;
    }
    v = mp_member(cc, obj, "profile", &key);
    if (v != NULL) {
        v = mp_single(cc, v);
        if (v != NULL && json_is_string(v)) {
            mp_warn(cc, "profile %s: ODRL 2.2 core semantics apply; terms "
                    "the profile adds never hold",
                    mp_quote(q, json_string_value(v), json_string_length(v)));
        }
    }
    if (cc->failed
        || mp_conflict(cc, obj) != 0 || mp_timestamp(cc, obj) != 0
        || mp_actions(cc, obj, &inherit.actions) != 0
        || mp_iris(cc, obj, "target", &inherit.targets) != 0
        || mp_iris(cc, obj, "assignee", &inherit.assignees) != 0
        || mp_iris(cc, obj, "assigner", &assigners) != 0)
    {
        goto done;
    }
    if (inherit.targets.n == 1) {
        p->target = inherit.targets.items[0];
    }
    if (inherit.assignees.n == 1) {
        p->assignee = inherit.assignees.items[0];
    }
    if (mp_rules(cc, obj, "permission", MP_R_PERMISSION, &inherit) != 0
        || mp_rules(cc, obj, "prohibition", MP_R_PROHIBITION, &inherit) != 0
        || mp_rules(cc, obj, "obligation", MP_R_OBLIGATION, &inherit) != 0)
    {
        goto done;
    }
    if (p->nrules == 0) {
        mp_fail(cc, MIM_ERR_INVALID, "the policy has no permission, "
                "prohibition or obligation");
        goto done;
    }
    rc = 0;

done:
    mp_free_parts(&inherit.actions, &inherit.targets, &inherit.assignees);
    free(assigners.items);
    return rc;
}

/* the policy inside a DSP 2025-1 message, or the document itself */
static json_t *
mp_find_policy(mp_cc_t *cc, json_t *root)
{
    static const struct {
        const char  *type;
        const char  *member;
    } messages[] = {
        { "ContractAgreementMessage", "agreement" },
        { "ContractOfferMessage", "offer" },
        { "ContractRequestMessage", "offer" },
    };
    json_t       *type, *inner;
    const char   *t, *key;
    size_t        i;

    type = mp_member_type(cc, root, &key);
    if (!json_is_string(type)) {
        return root;
    }
    t = json_string_value(type);
    if (strncmp(t, "dspace:", 7) == 0) {
        t += 7;
    } else if (strncmp(t, "https://w3id.org/dspace/2025/1/", 31) == 0) {
        t += 31;
    }
    for (i = 0; i < sizeof(messages) / sizeof(messages[0]); i++) {
        if (strcmp(t, messages[i].type) != 0) {
            continue;
        }
        inner = json_object_get(root, messages[i].member);
        if (inner == NULL) {
            mp_fail(cc, MIM_ERR_INVALID, "%s without \"%s\"",
                    messages[i].type, messages[i].member);
            return NULL;
        }
        mp_path_member(cc, messages[i].member);
        return inner;
    }
    return root;
}

void
mim_policy_free(mim_policy_t *policy)
{
    if (policy == NULL) {
        return;
    }
    free(policy->arena);
    free(policy->rules);
    free(policy->duties);
    free(policy->nodes);
    free(policy->values);
    free(policy->warnings);
    free(policy);
}

static mim_result_t
mp_compile(mp_cc_t *cc, json_t *root)
{
    json_t  *policy;

    if (json_is_array(root) && json_array_size(root) == 1) {
        root = json_array_get(root, 0);     /* expanded JSON-LD */
    }
    if (!json_is_object(root)) {
        return mim_result_err(MIM_ERR_INVALID, "a policy must be a JSON "
                              "object");
    }
    if (mp_context(cc, json_object_get(root, "@context")) != 0) {
        return cc->err;
    }
    policy = mp_find_policy(cc, root);
    if (policy == NULL) {
        return cc->err;
    }
    if (policy != root && json_is_object(policy)
        && mp_context(cc, json_object_get(policy, "@context")) != 0)
    {
        return cc->err;
    }
    if (mp_policy(cc, policy) != 0) {
        return cc->err;
    }
    return mim_result_ok();
}

mim_result_t
mim_policy_parse(mim_policy_t **policy, const char *json, size_t len)
{
    mp_cc_t        cc;
    json_t        *root;
    json_error_t   jerr;
    mim_result_t   r;

    if (policy == NULL) {
        return mim_result_err(MIM_ERR_INVALID, "no policy pointer");
    }
    *policy = NULL;
    if (json == NULL) {
        return mim_result_err(MIM_ERR_INVALID, "no policy text");
    }
    if (len > MP_MAX_JSON) {
        return mim_result_err(MIM_ERR_LIMIT, "policy larger than %d bytes",
                              MP_MAX_JSON);
    }
    root = json_loadb(json, len, JSON_REJECT_DUPLICATES, &jerr);
    if (root == NULL) {
        return mim_result_err(MIM_ERR_INVALID, "line %d, column %d: %s",
                              jerr.line, jerr.column, jerr.text);
    }

    memset(&cc, 0, sizeof(cc));
    cc.p = calloc(1, sizeof(mim_policy_t));
    cc.prefixes = json_object();
    if (cc.p == NULL || cc.prefixes == NULL) {
        free(cc.p);
        json_decref(cc.prefixes);
        json_decref(root);
        return mim_result_err(MIM_ERR_NOMEM, "out of memory");
    }
    cc.p->uid.off = MP_NONE;
    cc.p->target.off = MP_NONE;
    cc.p->assignee.off = MP_NONE;

    r = mp_compile(&cc, root);

    json_decref(cc.prefixes);
    json_decref(root);
    free(cc.hash);
    free(cc.scratch);
    if (!mim_ok(r)) {
        mim_policy_free(cc.p);
        return r;
    }
    *policy = cc.p;
    return r;
}

mim_result_t
mim_policy_load(mim_policy_t **policy, const char *path)
{
    FILE          *f;
    char          *buf;
    size_t         n;
    mim_result_t   r;

    if (policy == NULL || path == NULL) {
        return mim_result_err(MIM_ERR_INVALID, "no policy or path");
    }
    *policy = NULL;
    f = fopen(path, "rb");
    if (f == NULL) {
        return mim_result_err(MIM_ERR_IO, "cannot open: %m");
    }
    buf = malloc(MP_MAX_JSON + 1);
    if (buf == NULL) {
        fclose(f);
        return mim_result_err(MIM_ERR_NOMEM, "out of memory");
    }
    n = fread(buf, 1, MP_MAX_JSON + 1, f);
    if (ferror(f)) {
        r = mim_result_err(MIM_ERR_IO, "cannot read: %m");
    } else if (n > MP_MAX_JSON) {
        r = mim_result_err(MIM_ERR_LIMIT, "policy larger than %d bytes",
                           MP_MAX_JSON);
    } else {
        r = mim_policy_parse(policy, buf, n);
    }
    fclose(f);
    free(buf);
    return r;
}

/* ---- accessors ---- */

const char *
mim_policy_type(const mim_policy_t *policy)
{
    static const char *const  names[] = { "Set", "Offer", "Agreement" };

    return policy != NULL ? names[policy->type] : NULL;
}

const char *
mim_policy_uid(const mim_policy_t *policy)
{
    return policy != NULL ? mp_cstr(policy, policy->uid) : NULL;
}

size_t
mim_policy_rule_count(const mim_policy_t *policy)
{
    return policy != NULL ? policy->nrules : 0;
}

size_t
mim_policy_constraint_count(const mim_policy_t *policy)
{
    return policy != NULL ? policy->natoms : 0;
}

const char *
mim_policy_target(const mim_policy_t *policy)
{
    return policy != NULL ? mp_cstr(policy, policy->target) : NULL;
}

const char *
mim_policy_assignee(const mim_policy_t *policy)
{
    return policy != NULL ? mp_cstr(policy, policy->assignee) : NULL;
}

int
mim_policy_timestamp(const mim_policy_t *policy, int64_t *out)
{
    if (policy == NULL || out == NULL || !policy->has_timestamp) {
        return -1;
    }
    *out = policy->timestamp;
    return 0;
}

size_t
mim_policy_warning_count(const mim_policy_t *policy)
{
    return policy != NULL ? policy->nwarnings : 0;
}

const char *
mim_policy_warning(const mim_policy_t *policy, size_t i)
{
    if (policy == NULL || i >= policy->nwarnings) {
        return NULL;
    }
    return mp_cstr(policy, policy->warnings[i]);
}
