/*
 * mim_policy_ngsild_filter.c - remove from an NGSI-LD JSON body what a
 * scope (mim_policy_ngsild_scope()) does not cover (docs/ngsild.md).
 *
 * The body is read twice.  The first pass checks that it is JSON and
 * decides, writing nothing: a body that cannot be read, or that loses
 * nothing, is never touched.  The second pass copies what stays byte for
 * byte (numbers, strings, white space inside kept members are the
 * broker's own), so a filtered body differs from the original only by
 * what was removed.  No JSON library: re-serializing would rewrite
 * numbers (43.4617 is not a double's shortest form in every library).
 *
 * What is an attribute (ETSI GS CIM 009, clause 5.2.4 "Entity"): every
 * top-level member of an entity but id and type, which every entity must
 * have, and @context, without which the rest cannot be read.  Optional
 * members (scope, location, observationSpace, operationSpace, createdAt,
 * modifiedAt, deletedAt) are removed like any attribute when the scope
 * does not cover them: an entity without them is still an entity.
 */
#include <string.h>

#include "mim_policy.h"

#define NF_MAX_DEPTH  512
#define NF_MAX_NAME   4096

typedef struct {
    const mim_policy_ngsild_scope_t  *scope;
    const char                       *in;
    size_t                            len;
    size_t                            pos;
    char                             *out;      /* NULL: first pass */
    size_t                            opos;
    mim_policy_ngsild_filter_t       *info;
    const char                       *err;      /* set: not JSON */
    int                               limit;    /* the error is a limit */
    char                              name[NF_MAX_NAME + 4];
    size_t                            name_len;
} nf_t;


/* ---- reading JSON (RFC 8259), checking as it goes ---- */

static int
nf_fail(nf_t *f, const char *what)
{
    if (f->err == NULL) {
        f->err = what;
    }
    return -1;
}

static void
nf_ws(nf_t *f)
{
    while (f->pos < f->len
           && (f->in[f->pos] == ' ' || f->in[f->pos] == '\t'
               || f->in[f->pos] == '\n' || f->in[f->pos] == '\r'))
    {
        f->pos++;
    }
}

static int
nf_hex(int c)
{
    return c >= '0' && c <= '9' ? c - '0'
           : c >= 'a' && c <= 'f' ? c - 'a' + 10
           : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

static int
nf_hex4(nf_t *f, size_t at, unsigned *cp)
{
    int  i, h;

    *cp = 0;
    if (at + 4 > f->len) {
        return -1;
    }
    for (i = 0; i < 4; i++) {
        h = nf_hex((unsigned char) f->in[at + i]);
        if (h < 0) {
            return -1;
        }
        *cp = (*cp << 4) | (unsigned) h;
    }
    return 0;
}

static void
nf_name_put(nf_t *f, const char *s, size_t n)
{
    if (f->name_len + n > NF_MAX_NAME) {
        f->name_len = NF_MAX_NAME + 1;      /* remembered as too long */
        return;
    }
    memcpy(f->name + f->name_len, s, n);
    f->name_len += n;
}

static void
nf_name_utf8(nf_t *f, unsigned cp)
{
    char    b[4];
    size_t  n;

    if (cp < 0x80) {
        b[0] = (char) cp;
        n = 1;
    } else if (cp < 0x800) {
        b[0] = (char) (0xc0 | (cp >> 6));
        b[1] = (char) (0x80 | (cp & 0x3f));
        n = 2;
    } else if (cp < 0x10000) {
        b[0] = (char) (0xe0 | (cp >> 12));
        b[1] = (char) (0x80 | ((cp >> 6) & 0x3f));
        b[2] = (char) (0x80 | (cp & 0x3f));
        n = 3;
    } else {
        b[0] = (char) (0xf0 | (cp >> 18));
        b[1] = (char) (0x80 | ((cp >> 12) & 0x3f));
        b[2] = (char) (0x80 | ((cp >> 6) & 0x3f));
        b[3] = (char) (0x80 | (cp & 0x3f));
        n = 4;
    }
    nf_name_put(f, b, n);
}

/* \uXXXX at pos (after the backslash and u): a code point, surrogate
   pairs joined, a lone surrogate read as U+FFFD */
static int
nf_escape_u(nf_t *f, int decode)
{
    unsigned  cp, lo;

    if (nf_hex4(f, f->pos, &cp) != 0) {
        return nf_fail(f, "bad \\u escape");
    }
    f->pos += 4;
    if (cp >= 0xd800 && cp < 0xdc00 && f->pos + 6 <= f->len
        && f->in[f->pos] == '\\' && f->in[f->pos + 1] == 'u'
        && nf_hex4(f, f->pos + 2, &lo) == 0 && lo >= 0xdc00 && lo < 0xe000)
    {
        f->pos += 6;
        cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
    } else if (cp >= 0xd800 && cp < 0xe000) {
        cp = 0xfffd;
    }
    if (decode) {
        nf_name_utf8(f, cp);
    }
    return 0;
}

/* a string at pos; decode: its value into f->name (names, types) */
static int
nf_string(nf_t *f, int decode)
{
    static const char  esc[] = "\"\\/bfnrt";
    static const char  val[] = "\"\\/\b\f\n\r\t";
    const char        *e;
    unsigned char      c;
    size_t             start;

    if (decode) {
        f->name_len = 0;
    }
    f->pos++;                               /* the opening quote */
    for ( ;; ) {
        start = f->pos;
        while (f->pos < f->len && f->in[f->pos] != '"'
               && f->in[f->pos] != '\\'
               && (unsigned char) f->in[f->pos] >= 0x20)
        {
            f->pos++;
        }
        if (decode) {
            nf_name_put(f, f->in + start, f->pos - start);
        }
        if (f->pos >= f->len) {
            return nf_fail(f, "unterminated string");
        }
        c = (unsigned char) f->in[f->pos++];
        if (c == '"') {
            return 0;
        }
        if (c < 0x20) {
            return nf_fail(f, "control character in a string");
        }
        if (f->pos >= f->len) {
            return nf_fail(f, "unterminated string");
        }
        c = (unsigned char) f->in[f->pos++];
        if (c == 'u') {
            if (nf_escape_u(f, decode) != 0) {
                return -1;
            }
            continue;
        }
        e = c != '\0' ? strchr(esc, c) : NULL;
        if (e == NULL) {
            return nf_fail(f, "bad escape in a string");
        }
        if (decode) {
            nf_name_put(f, &val[e - esc], 1);
        }
    }
}

static int
nf_digits(nf_t *f)
{
    size_t  start = f->pos;

    while (f->pos < f->len && f->in[f->pos] >= '0' && f->in[f->pos] <= '9') {
        f->pos++;
    }
    return f->pos > start ? 0 : nf_fail(f, "bad number");
}

static int
nf_number(nf_t *f)
{
    if (f->in[f->pos] == '-') {
        f->pos++;
    }
    if (f->pos < f->len && f->in[f->pos] == '0') {
        f->pos++;
    } else if (nf_digits(f) != 0) {
        return -1;
    }
    if (f->pos < f->len && f->in[f->pos] == '.') {
        f->pos++;
        if (nf_digits(f) != 0) {
            return -1;
        }
    }
    if (f->pos < f->len && (f->in[f->pos] == 'e' || f->in[f->pos] == 'E')) {
        f->pos++;
        if (f->pos < f->len && (f->in[f->pos] == '+' || f->in[f->pos] == '-'))
        {
            f->pos++;
        }
        return nf_digits(f);
    }
    return 0;
}

static int
nf_literal(nf_t *f, const char *word)
{
    size_t  n = strlen(word);

    if (f->len - f->pos < n || memcmp(f->in + f->pos, word, n) != 0) {
        return nf_fail(f, "unexpected character");
    }
    f->pos += n;
    return 0;
}

static int nf_value(nf_t *f, int depth);

/* after an array element or object member: ',' (1), the closing c (0) */
static int
nf_next(nf_t *f, char close)
{
    nf_ws(f);
    if (f->pos < f->len && f->in[f->pos] == ',') {
        f->pos++;
        nf_ws(f);
        return 1;
    }
    if (f->pos < f->len && f->in[f->pos] == close) {
        f->pos++;
        return 0;
    }
    return nf_fail(f, close == '}' ? "',' or '}' expected"
                                   : "',' or ']' expected");
}

/* at '{' or '[': 1 and past it when empty, 0 at the first item */
static int
nf_open(nf_t *f, char close, int depth)
{
    if (depth >= NF_MAX_DEPTH) {
        f->limit = 1;
        return nf_fail(f, "nested too deeply");
    }
    f->pos++;
    nf_ws(f);
    if (f->pos < f->len && f->in[f->pos] == close) {
        f->pos++;
        return 1;
    }
    return 0;
}

/* a member name and its ':'; decoded into f->name */
static int
nf_key(nf_t *f)
{
    if (f->pos >= f->len || f->in[f->pos] != '"') {
        return nf_fail(f, "member name expected");
    }
    if (nf_string(f, 1) != 0) {
        return -1;
    }
    if (f->name_len > NF_MAX_NAME) {
        f->limit = 1;
        return nf_fail(f, "member name over 4096 bytes");
    }
    nf_ws(f);
    if (f->pos >= f->len || f->in[f->pos] != ':') {
        return nf_fail(f, "':' expected");
    }
    f->pos++;
    nf_ws(f);
    return 0;
}

static int
nf_container(nf_t *f, int depth)
{
    char  close = f->in[f->pos] == '{' ? '}' : ']';
    int   rc;

    rc = nf_open(f, close, depth);
    if (rc != 0) {
        return rc < 0 ? -1 : 0;
    }
    do {
        if (close == '}' && nf_key(f) != 0) {
            return -1;
        }
        if (nf_value(f, depth + 1) != 0) {
            return -1;
        }
        rc = nf_next(f, close);
    } while (rc == 1);
    return rc;
}

/* skip (and check) one value at pos */
static int
nf_value(nf_t *f, int depth)
{
    if (f->pos >= f->len) {
        return nf_fail(f, "value expected");
    }
    switch (f->in[f->pos]) {
    case '{':
    case '[':
        return nf_container(f, depth);
    case '"':
        return nf_string(f, 0);
    case 't':
        return nf_literal(f, "true");
    case 'f':
        return nf_literal(f, "false");
    case 'n':
        return nf_literal(f, "null");
    default:
        if (f->in[f->pos] == '-'
            || (f->in[f->pos] >= '0' && f->in[f->pos] <= '9'))
        {
            return nf_number(f);
        }
        return nf_fail(f, "unexpected character");
    }
}


/* ---- the scope ---- */

static int
nf_eq(const mim_str_t *a, const char *s, size_t n)
{
    return a->data != NULL && a->len == n
           && (n == 0 || memcmp(a->data, s, n) == 0);
}

/* the last segment of an IRI ("https://x.org/ns#PM25" -> "PM25") */
static const char *
nf_local(const char *s, size_t n, size_t *ln)
{
    size_t  i = n;

    while (i > 0 && s[i - 1] != '/' && s[i - 1] != '#' && s[i - 1] != ':') {
        i--;
    }
    if (i == n) {
        i = 0;                  /* ends with a separator: the whole */
    }
    *ln = n - i;
    return s + i;
}

static int
nf_listed(const mim_str_t *list, size_t n, const char *s, size_t len)
{
    size_t  i;

    for (i = 0; i < n; i++) {
        if (nf_eq(&list[i], s, len)) {
            return 1;
        }
    }
    return 0;
}

/* a deny list matches the name, or its last segment that of an entry */
static int
nf_denied(const mim_str_t *list, size_t n, const char *s, size_t len)
{
    const char  *l, *el;
    size_t       i, ln, eln;

    l = nf_local(s, len, &ln);
    for (i = 0; i < n; i++) {
        if (list[i].data == NULL) {
            continue;
        }
        el = nf_local(list[i].data, list[i].len, &eln);
        if (nf_eq(&list[i], s, len)
            || (ln > 0 && ln == eln && memcmp(l, el, ln) == 0))
        {
            return 1;
        }
    }
    return 0;
}

static int
nf_types_restricted(const mim_policy_ngsild_scope_t *sc)
{
    return sc->types != NULL || sc->deny_types_n > 0;
}

static int
nf_type_ok(const mim_policy_ngsild_scope_t *sc, const char *s, size_t n)
{
    if (sc->types != NULL && !nf_listed(sc->types, sc->types_n, s, n)) {
        return 0;
    }
    return !nf_denied(sc->deny_types, sc->deny_types_n, s, n);
}

static int
nf_core_member(const char *s, size_t n)
{
    static const char *const  core[] = { "id", "@id", "type", "@type",
                                         "@context" };
    size_t  i;

    for (i = 0; i < sizeof(core) / sizeof(core[0]); i++) {
        if (strlen(core[i]) == n && memcmp(core[i], s, n) == 0) {
            return 1;
        }
    }
    return 0;
}

static int
nf_attr_ok(const mim_policy_ngsild_scope_t *sc, const char *s, size_t n)
{
    if (nf_core_member(s, n)) {
        return 1;
    }
    if (sc->attrs != NULL && !nf_listed(sc->attrs, sc->attrs_n, s, n)) {
        return 0;
    }
    return !nf_denied(sc->deny_attrs, sc->deny_attrs_n, s, n);
}


/* ---- entities ---- */

static void
nf_emit(nf_t *f, const char *s, size_t n)
{
    if (f->out != NULL) {
        memmove(f->out + f->opos, s, n);
        f->opos += n;
    }
}

/* the first uncovered type, for the 403 message */
static void
nf_note_type(nf_t *f, const char *s, size_t n)
{
    mim_policy_ngsild_filter_t  *info = f->info;
    size_t                       room = sizeof(info->type) - 1;

    if (info->type[0] != '\0' || f->out != NULL) {
        return;
    }
    if (n > room) {
        memcpy(info->type, s, room - 3);
        memcpy(info->type + room - 3, "...", 3);
        info->type[room] = '\0';
        return;
    }
    memcpy(info->type, s, n);
    info->type[n] = '\0';
}

/* the value of type / @type at pos: 1 when every type it names is
   covered (a string, or a list of strings), 0 when not */
static int
nf_type_value(nf_t *f, int depth, int *covered)
{
    int  rc;

    if (f->pos < f->len && f->in[f->pos] == '"') {
        if (nf_string(f, 1) != 0) {
            return -1;
        }
        if (f->name_len > NF_MAX_NAME || !nf_type_ok(f->scope, f->name,
                                                     f->name_len))
        {
            nf_note_type(f, f->name, f->name_len > NF_MAX_NAME
                                     ? NF_MAX_NAME : f->name_len);
            *covered = 0;
        }
        return 0;
    }
    if (f->pos >= f->len || f->in[f->pos] != '[') {
        *covered = 0;           /* not a type name */
        return nf_value(f, depth);
    }
    rc = nf_open(f, ']', depth);
    if (rc != 0) {
        *covered = 0;           /* no type at all */
        return rc < 0 ? -1 : 0;
    }
    do {
        if (f->pos < f->len && f->in[f->pos] == '"') {
            if (nf_type_value(f, depth + 1, covered) != 0) {
                return -1;
            }
        } else {
            *covered = 0;
            if (nf_value(f, depth + 1) != 0) {
                return -1;
            }
        }
        rc = nf_next(f, ']');
    } while (rc == 1);
    return rc;
}

/* first look at an entity (pos at '{'): are all its types covered */
static int
nf_entity_types(nf_t *f, int depth, int *covered)
{
    int  rc, typed = 0;

    *covered = 1;
    rc = nf_open(f, '}', depth);
    if (rc != 0) {
        if (rc > 0 && nf_types_restricted(f->scope)) {
            nf_note_type(f, "", 0);
            *covered = 0;
        }
        return rc < 0 ? -1 : 0;
    }
    do {
        if (nf_key(f) != 0) {
            return -1;
        }
        if (nf_types_restricted(f->scope)
            && ((f->name_len == 4 && memcmp(f->name, "type", 4) == 0)
                || (f->name_len == 5 && memcmp(f->name, "@type", 5) == 0)))
        {
            typed = 1;
            if (nf_type_value(f, depth + 1, covered) != 0) {
                return -1;
            }
        } else if (nf_value(f, depth + 1) != 0) {
            return -1;
        }
        rc = nf_next(f, '}');
    } while (rc == 1);
    if (rc == 0 && !typed && nf_types_restricted(f->scope)) {
        *covered = 0;
    }
    return rc;
}

/* second look: copy the members the scope covers */
static int
nf_entity_copy(nf_t *f, int depth)
{
    size_t  start;
    int     rc, ok, kept = 0;

    nf_emit(f, "{", 1);
    rc = nf_open(f, '}', depth);
    while (rc == 0) {
        start = f->pos;
        if (nf_key(f) != 0) {
            return -1;
        }
        /* decided before the value, whose own names reuse f->name */
        ok = nf_attr_ok(f->scope, f->name, f->name_len);
        if (nf_value(f, depth + 1) != 0) {
            return -1;
        }
        if (ok) {
            if (kept++) {
                nf_emit(f, ",", 1);
            }
            nf_emit(f, f->in + start, f->pos - start);
        } else if (f->out == NULL) {
            f->info->attrs_removed++;
        }
        rc = nf_next(f, '}');
        rc = rc == 1 ? 0 : rc == 0 ? 1 : -1;
    }
    if (rc < 0) {
        return -1;
    }
    nf_emit(f, "}", 1);
    return 0;
}

/* an entity at pos: *kept 0 when its type is not covered (nothing is
   copied), else its covered members are */
static int
nf_entity(nf_t *f, int depth, int *kept)
{
    size_t  start = f->pos;

    if (nf_entity_types(f, depth, kept) != 0) {
        return -1;
    }
    if (!*kept) {
        return 0;
    }
    f->pos = start;
    return nf_entity_copy(f, depth);
}

static int
nf_array(nf_t *f)
{
    size_t  start;
    int     rc, kept, n = 0;

    nf_emit(f, "[", 1);
    rc = nf_open(f, ']', 0);
    while (rc == 0) {
        start = f->opos;
        if (n > 0) {
            nf_emit(f, ",", 1);
        }
        kept = 0;
        if (f->pos < f->len && f->in[f->pos] == '{') {
            if (nf_entity(f, 1, &kept) != 0) {
                return -1;
            }
        } else if (nf_value(f, 1) != 0) {
            return -1;
        }
        if (kept) {
            n++;
        } else {
            f->opos = start;            /* take the ',' back */
            if (f->out == NULL) {
                f->info->entities_removed++;
            }
        }
        rc = nf_next(f, ']');
        rc = rc == 1 ? 0 : rc == 0 ? 1 : -1;
    }
    if (rc < 0) {
        return -1;
    }
    nf_emit(f, "]", 1);
    return 0;
}

/* the whole body: an entity, an array of entities, anything else */
static int
nf_body(nf_t *f)
{
    int  kept = 1;

    nf_ws(f);
    if (f->pos >= f->len) {
        return nf_fail(f, "empty body");
    }
    if (f->in[f->pos] == '{') {
        if (nf_entity(f, 0, &kept) != 0) {
            return -1;
        }
        if (!kept) {
            f->info->forbidden = 1;
        }
    } else if (f->in[f->pos] == '[') {
        if (nf_array(f) != 0) {
            return -1;
        }
    } else if (nf_value(f, 0) != 0) {
        return -1;
    }
    nf_ws(f);
    if (f->pos != f->len) {
        return nf_fail(f, "text after the JSON value");
    }
    return 0;
}

mim_result_t
mim_policy_ngsild_filter(const mim_policy_ngsild_scope_t *scope,
    const char *in, size_t len, char *out, size_t *out_len,
    mim_policy_ngsild_filter_t *info)
{
    nf_t  *f, fb;

    if (scope == NULL || (in == NULL && len > 0) || out_len == NULL
        || info == NULL || (out == NULL && len > 0))
    {
        return mim_result_err(MIM_ERR_INVALID, "missing argument");
    }
    memset(info, 0, sizeof(*info));
    *out_len = 0;

    f = &fb;
    memset(f, 0, offsetof(nf_t, name));
    f->scope = scope;
    f->in = in;
    f->len = len;
    f->info = info;

    /* first pass: check and decide, write nothing */
    if (nf_body(f) != 0) {
        return mim_result_err(f->limit ? MIM_ERR_LIMIT : MIM_ERR_INVALID,
                              "not JSON the filter can read at byte %zu: %s",
                              f->pos, f->err);
    }
    if (info->forbidden) {
        info->entities_removed = 1;
        info->changed = 1;
        return mim_result_ok();
    }
    if (info->entities_removed == 0 && info->attrs_removed == 0) {
        if (out != in && len > 0) {
            memcpy(out, in, len);
        }
        *out_len = len;
        return mim_result_ok();
    }

    /* second pass: copy what stays */
    info->changed = 1;
    f->pos = 0;
    f->out = out;
    f->opos = 0;
    if (nf_body(f) != 0) {
        return mim_result_err(MIM_ERR_INVALID, "the body changed while "
                              "being filtered");
    }
    *out_len = f->opos;
    return mim_result_ok();
}
