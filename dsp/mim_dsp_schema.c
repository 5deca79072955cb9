/*
 * mim_dsp_schema.c - a JSON Schema validator for exactly the part of draft
 * 2019-09 the DSP 2025-1 schemas use (mim_dsp_schema.h lists it).
 *
 * Why not a general library: Debian has no C JSON Schema validator we
 * want, and the schemas are fixed and small (26 files, 19 keywords).
 * What makes a subset safe is that it is closed: every keyword, every
 * form of a keyword's value and every pattern construct is checked when
 * the schemas load, and anything else refuses the whole set, so a schema
 * rule is never skipped without a word.
 *
 * Schemas are compiled once into nodes (one per schema object, shared by
 * every $ref to it, cycles included); validation walks a node and the
 * instance together and stops at the first error, except under anyOf and
 * oneOf where every alternative runs (quietly: a valid document renders
 * no message) and the error of the likeliest one is reported
 * (keep_best()).
 *
 * "pattern" is a small regular expression engine (a Pike VM: time linear
 * in the text, no backtracking) for the syntax of Python's re that the
 * schemas use, with Python's meaning, because python3-jsonschema is the
 * reference the tests compare with.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "mim_dsp_int.h"
#include "mim_dsp_schema.h"

#define SCHEMA_DRAFT      "https://json-schema.org/draft/2019-09/schema"
#define LOC_MAX           192     /* a schema location in load errors */
#define NAME_SHOWN        48      /* a member name in a path, at most */
#define DUMP_SHOWN        64      /* a schema or value quoted in a message */


/* ---- patterns: the schemas' subset of Python's re ---------------------- */

/*
 * Supported: literals (printable ASCII), ".", classes "[a-z0-9]" and
 * "[^...]" (ASCII members), escapes of punctuation ("\."), groups,
 * "|", "^", "$", and the quantifiers * + ? {n} {n,} {n,m}, greedy or lazy
 * (for a yes/no search both give the same answer).  Refused: "(?...)",
 * letter escapes (\d \w \b \1 ...), non-ASCII or control characters in
 * the pattern, and what Python reads as a literal brace or bracket.
 * Python's meaning: re.search (a match may start anywhere), "." is any
 * character but "\n", "$" is the end or just before a final "\n", a
 * character is a code point (the text is UTF-8).
 */

#define RX_MAX_PROG    512     /* instructions: the time of a search is
                                  this times the length of the text */
#define RX_MAX_REPEAT  100
#define RX_MAX_NEST    32

enum { RX_SET, RX_SPLIT, RX_JMP, RX_BOL, RX_EOL, RX_MATCH };

typedef struct {
    uint8_t    op;
    uint8_t    neg;         /* RX_SET: matches characters NOT in bits */
    uint16_t   x, y;        /* RX_JMP: x; RX_SPLIT: x and y */
    uint64_t   bits[2];     /* RX_SET: the ASCII members */
} rx_inst_t;

typedef struct {
    rx_inst_t  *prog;
    size_t      n;
} rx_t;

enum { RXN_EMPTY, RXN_SET, RXN_BOL, RXN_EOL, RXN_CAT, RXN_ALT, RXN_REP };

typedef struct rxn_s  rxn_t;

struct rxn_s {
    int        kind;
    int        neg;
    uint64_t   bits[2];
    rxn_t     *a, *b;       /* RXN_CAT, RXN_ALT; RXN_REP: a */
    int        min, max;    /* RXN_REP; max -1: no limit */
};

typedef struct {
    const char  *s;
    size_t       i, n;
    rxn_t       *pool;
    size_t       used, cap;
    int          nest;
    const char  *err;
    rx_inst_t   *prog;
    size_t       len;
} rxp_t;

static rxn_t *
rxn_new(rxp_t *p, int kind)
{
    rxn_t  *n;

    if (p->used == p->cap) {
        p->err = "pattern too complex";
        return NULL;
    }
    n = &p->pool[p->used++];
    memset(n, 0, sizeof(*n));
    n->kind = kind;
    return n;
}

static void
rx_bit(uint64_t bits[2], unsigned c)
{
    bits[c >> 6] |= (uint64_t) 1 << (c & 63);
}

static int
rx_is_alnum(int c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z')
           || (c >= 'A' && c <= 'Z');
}

/* one character of a class: a literal or an escaped punctuation mark */
static int
rx_class_char(rxp_t *p, unsigned *c)
{
    int  ch;

    if (p->i >= p->n) {
        p->err = "unterminated character class";
        return -1;
    }
    ch = (unsigned char) p->s[p->i++];
    if (ch == '\\') {
        if (p->i >= p->n) {
            p->err = "pattern ends with a backslash";
            return -1;
        }
        ch = (unsigned char) p->s[p->i++];
        if (rx_is_alnum(ch) || ch < 0x20 || ch > 0x7e) {
            p->err = "an escape other than of punctuation";
            return -1;
        }
    } else if (ch == '[') {
        p->err = "'[' inside a character class";
        return -1;
    } else if (ch < 0x20 || ch > 0x7e) {
        p->err = "a character outside printable ASCII";
        return -1;
    }
    *c = (unsigned) ch;
    return 0;
}

static rxn_t *
rx_class(rxp_t *p)
{
    rxn_t     *n = rxn_new(p, RXN_SET);
    unsigned   lo, hi, c;

    if (n == NULL) {
        return NULL;
    }
    if (p->i < p->n && p->s[p->i] == '^') {
        n->neg = 1;
        p->i++;
    }
    if (p->i < p->n && p->s[p->i] == ']') {
        p->err = "']' first in a character class";
        return NULL;
    }
    for ( ;; ) {
        if (p->i < p->n && p->s[p->i] == ']') {
            p->i++;
            return n;
        }
        if (rx_class_char(p, &lo) != 0) {
            return NULL;
        }
        hi = lo;
        if (p->i + 1 < p->n && p->s[p->i] == '-' && p->s[p->i + 1] != ']') {
            p->i++;
            if (rx_class_char(p, &hi) != 0) {
                return NULL;
            }
            if (hi < lo) {
                p->err = "a character range backwards";
                return NULL;
            }
        }
        for (c = lo; c <= hi; c++) {
            rx_bit(n->bits, c);
        }
    }
}

static rxn_t *rx_alt(rxp_t *p);

static rxn_t *
rx_atom(rxp_t *p)
{
    rxn_t  *n;
    int     c = (unsigned char) p->s[p->i++];

    switch (c) {
    case '(':
        if (p->i < p->n && p->s[p->i] == '?') {
            p->err = "a group extension (?...)";
            return NULL;
        }
        if (++p->nest > RX_MAX_NEST) {
            p->err = "groups nested too deep";
            return NULL;
        }
        n = rx_alt(p);
        if (n == NULL) {
            return NULL;
        }
        if (p->i >= p->n || p->s[p->i] != ')') {
            p->err = "missing ')'";
            return NULL;
        }
        p->i++;
        p->nest--;
        return n;
    case '[':
        return rx_class(p);
    case '.':
        n = rxn_new(p, RXN_SET);
        if (n != NULL) {
            n->neg = 1;
            rx_bit(n->bits, '\n');
        }
        return n;
    case '^':
        return rxn_new(p, RXN_BOL);
    case '$':
        return rxn_new(p, RXN_EOL);
    case '*':
    case '+':
    case '?':
    case '{':
        p->err = "nothing to repeat";
        return NULL;
    case '}':
    case ']':
        p->err = "an unescaped '}' or ']'";
        return NULL;
    case '\\':
        if (p->i >= p->n) {
            p->err = "pattern ends with a backslash";
            return NULL;
        }
        c = (unsigned char) p->s[p->i++];
        if (rx_is_alnum(c) || c < 0x20 || c > 0x7e) {
            p->err = "an escape other than of punctuation";
            return NULL;
        }
        break;
    default:
        if (c < 0x20 || c > 0x7e) {
            p->err = "a character outside printable ASCII";
            return NULL;
        }
        break;
    }
    n = rxn_new(p, RXN_SET);
    if (n != NULL) {
        rx_bit(n->bits, (unsigned) c);
    }
    return n;
}

static int
rx_number(rxp_t *p, int *v)
{
    size_t  start = p->i;

    *v = 0;
    while (p->i < p->n && p->s[p->i] >= '0' && p->s[p->i] <= '9') {
        *v = *v * 10 + (p->s[p->i++] - '0');
        if (*v > RX_MAX_REPEAT) {
            p->err = "a repetition count over 100";
            return -1;
        }
    }
    return p->i > start ? 0 : 1;
}

/* a quantifier after an atom, if any: *, +, ?, {n}, {n,}, {n,m}, lazy or
   not */
static rxn_t *
rx_quant(rxp_t *p, rxn_t *atom)
{
    rxn_t  *r;
    int     min, max, rc;
    char    c;

    if (p->i >= p->n || strchr("*+?{", p->s[p->i]) == NULL) {
        return atom;
    }
    if (atom->kind == RXN_BOL || atom->kind == RXN_EOL) {
        p->err = "nothing to repeat";
        return NULL;
    }
    c = p->s[p->i++];
    if (c == '*') {
        min = 0;
        max = -1;
    } else if (c == '+') {
        min = 1;
        max = -1;
    } else if (c == '?') {
        min = 0;
        max = 1;
    } else {
        rc = rx_number(p, &min);
        if (rc != 0) {
            if (rc > 0) {
                p->err = "a '{' that is not {n}, {n,} or {n,m}";
            }
            return NULL;
        }
        max = min;
        if (p->i < p->n && p->s[p->i] == ',') {
            p->i++;
            rc = rx_number(p, &max);
            if (rc < 0) {
                return NULL;
            }
            if (rc > 0) {
                max = -1;
            }
        }
        if (p->i >= p->n || p->s[p->i] != '}') {
            p->err = "a '{' that is not {n}, {n,} or {n,m}";
            return NULL;
        }
        p->i++;
        if (max >= 0 && max < min) {
            p->err = "a repetition {n,m} with m < n";
            return NULL;
        }
    }
    /* lazy: the same yes/no answer */
    if (p->i < p->n && p->s[p->i] == '?') {
        p->i++;
    }
    if (p->i < p->n && strchr("*+?{", p->s[p->i]) != NULL) {
        p->err = "multiple repeat (or a possessive quantifier)";
        return NULL;
    }
    r = rxn_new(p, RXN_REP);
    if (r != NULL) {
        r->a = atom;
        r->min = min;
        r->max = max;
    }
    return r;
}

static rxn_t *
rx_seq(rxp_t *p)
{
    rxn_t  *seq = NULL, *atom, *cat;

    while (p->i < p->n && p->s[p->i] != '|' && p->s[p->i] != ')') {
        atom = rx_atom(p);
        if (atom == NULL || (atom = rx_quant(p, atom)) == NULL) {
            return NULL;
        }
        if (seq == NULL) {
            seq = atom;
            continue;
        }
        cat = rxn_new(p, RXN_CAT);
        if (cat == NULL) {
            return NULL;
        }
        cat->a = seq;
        cat->b = atom;
        seq = cat;
    }
    return seq != NULL ? seq : rxn_new(p, RXN_EMPTY);
}

static rxn_t *
rx_alt(rxp_t *p)
{
    rxn_t  *left = rx_seq(p), *alt;

    while (left != NULL && p->i < p->n && p->s[p->i] == '|') {
        p->i++;
        alt = rxn_new(p, RXN_ALT);
        if (alt == NULL) {
            return NULL;
        }
        alt->a = left;
        alt->b = rx_seq(p);
        if (alt->b == NULL) {
            return NULL;
        }
        left = alt;
    }
    return left;
}

static int
rx_emit_op(rxp_t *p, int op, size_t x, size_t y)
{
    rx_inst_t  *in;

    if (p->len == RX_MAX_PROG) {
        p->err = "pattern too complex";
        return -1;
    }
    in = &p->prog[p->len++];
    memset(in, 0, sizeof(*in));
    in->op = (uint8_t) op;
    in->x = (uint16_t) x;
    in->y = (uint16_t) y;
    return 0;
}

static int rx_emit(rxp_t *p, const rxn_t *n);

/* k optional copies of a: each may stop the run, to the end */
static int
rx_emit_optional(rxp_t *p, const rxn_t *a, int k)
{
    size_t  split;

    if (k == 0) {
        return 0;
    }
    split = p->len;
    if (rx_emit_op(p, RX_SPLIT, split + 1, 0) != 0
        || rx_emit(p, a) != 0 || rx_emit_optional(p, a, k - 1) != 0)
    {
        return -1;
    }
    p->prog[split].y = (uint16_t) p->len;
    return 0;
}

static int
rx_emit(rxp_t *p, const rxn_t *n)
{
    size_t  at, jmp;
    int     i;

    switch (n->kind) {
    case RXN_EMPTY:
        return 0;
    case RXN_SET:
        if (rx_emit_op(p, RX_SET, 0, 0) != 0) {
            return -1;
        }
        p->prog[p->len - 1].neg = (uint8_t) n->neg;
        memcpy(p->prog[p->len - 1].bits, n->bits, sizeof(n->bits));
        return 0;
    case RXN_BOL:
        return rx_emit_op(p, RX_BOL, 0, 0);
    case RXN_EOL:
        return rx_emit_op(p, RX_EOL, 0, 0);
    case RXN_CAT:
        return rx_emit(p, n->a) != 0 ? -1 : rx_emit(p, n->b);
    case RXN_ALT:
        at = p->len;
        if (rx_emit_op(p, RX_SPLIT, at + 1, 0) != 0 || rx_emit(p, n->a) != 0)
        {
            return -1;
        }
        jmp = p->len;
        if (rx_emit_op(p, RX_JMP, 0, 0) != 0) {
            return -1;
        }
        p->prog[at].y = (uint16_t) p->len;
        if (rx_emit(p, n->b) != 0) {
            return -1;
        }
        p->prog[jmp].x = (uint16_t) p->len;
        return 0;
    case RXN_REP:
        for (i = 0; i < n->min; i++) {
            if (rx_emit(p, n->a) != 0) {
                return -1;
            }
        }
        if (n->max >= 0) {
            return rx_emit_optional(p, n->a, n->max - n->min);
        }
        /* L: split L+1, E; a; jmp L; E: */
        at = p->len;
        if (rx_emit_op(p, RX_SPLIT, at + 1, 0) != 0 || rx_emit(p, n->a) != 0
            || rx_emit_op(p, RX_JMP, at, 0) != 0)
        {
            return -1;
        }
        p->prog[at].y = (uint16_t) p->len;
        return 0;
    }
    return -1;
}

static void
rx_free(rx_t *rx)
{
    if (rx != NULL) {
        free(rx->prog);
        free(rx);
    }
}

/* *err: what is not supported (static text) when NULL is returned and
   memory was not the problem */
static rx_t *
rx_compile(const char *pattern, size_t n, const char **err)
{
    rxp_t   p;
    rxn_t  *root;
    rx_t   *rx = NULL;

    memset(&p, 0, sizeof(p));
    p.s = pattern;
    p.n = n;
    p.cap = 3 * n + 4;
    p.pool = calloc(p.cap, sizeof(rxn_t));
    p.prog = calloc(RX_MAX_PROG, sizeof(rx_inst_t));
    rx = calloc(1, sizeof(rx_t));
    *err = NULL;
    if (p.pool == NULL || p.prog == NULL || rx == NULL) {
        goto failed;
    }
    root = rx_alt(&p);
    if (root != NULL && p.i < p.n) {
        /* rx_alt stops at '|' or ')': here only an unmatched ')' */
        p.err = "unbalanced ')'";
    } else if (root != NULL && rx_emit(&p, root) == 0
               && rx_emit_op(&p, RX_MATCH, 0, 0) == 0)
    {
        free(p.pool);
        rx->prog = p.prog;
        rx->n = p.len;
        return rx;
    }
    *err = p.err != NULL ? p.err : "pattern not supported";

failed:
    free(p.pool);
    free(p.prog);
    free(rx);
    return NULL;
}

/* add the thread at pc and what it reaches without reading, at pos;
   1 when that reaches the match */
static int
rx_add(const rx_t *rx, uint16_t *list, size_t *cnt, unsigned *mark,
    unsigned gen, uint16_t *stack, size_t pc, const char *s, size_t pos,
    size_t n)
{
    const rx_inst_t  *in;
    size_t            sp = 0;

    stack[sp++] = (uint16_t) pc;
    while (sp > 0) {
        pc = stack[--sp];
        if (mark[pc] == gen) {
            continue;
        }
        mark[pc] = gen;
        in = &rx->prog[pc];
        switch (in->op) {
        case RX_MATCH:
            return 1;
        case RX_JMP:
            stack[sp++] = in->x;
            break;
        case RX_SPLIT:
            stack[sp++] = in->y;
            stack[sp++] = in->x;
            break;
        case RX_BOL:
            if (pos == 0) {
                stack[sp++] = (uint16_t) (pc + 1);
            }
            break;
        case RX_EOL:
            if (pos == n || (pos + 1 == n && s[pos] == '\n')) {
                stack[sp++] = (uint16_t) (pc + 1);
            }
            break;
        default:
            list[(*cnt)++] = (uint16_t) pc;
            break;
        }
    }
    return 0;
}

/* Python's re.search(pattern, s) is not None, for UTF-8 text s */
static int
rx_search(const rx_t *rx, const char *s, size_t n)
{
    uint16_t   lists[2][RX_MAX_PROG], stack[2 * RX_MAX_PROG + 2];
    unsigned   mark[RX_MAX_PROG], gen = 1, c;
    size_t     cnt[2] = { 0, 0 }, pos = 0, k, step;
    int        cur = 0, in;
    const rx_inst_t  *inst;

    memset(mark, 0, rx->n * sizeof(unsigned));
    if (rx_add(rx, lists[0], &cnt[0], mark, gen, stack, 0, s, 0, n)) {
        return 1;
    }
    while (pos < n) {
        c = (unsigned char) s[pos];
        /* one code point: any non-ASCII one is outside every class */
        step = c < 0x80 ? 1 : c < 0xe0 ? 2 : c < 0xf0 ? 3 : 4;
        if (step > n - pos) {
            step = n - pos;
        }
        gen++;
        cnt[!cur] = 0;
        for (k = 0; k < cnt[cur]; k++) {
            inst = &rx->prog[lists[cur][k]];
            in = c < 0x80 && ((inst->bits[c >> 6] >> (c & 63)) & 1);
            if (in != inst->neg
                && rx_add(rx, lists[!cur], &cnt[!cur], mark, gen, stack,
                          lists[cur][k] + 1u, s, pos + step, n))
            {
                return 1;
            }
        }
        pos += step;
        /* re.search: a match may also start here */
        if (rx_add(rx, lists[!cur], &cnt[!cur], mark, gen, stack, 0, s, pos,
                   n))
        {
            return 1;
        }
        cur = !cur;
    }
    return 0;
}


/* ---- compiled schemas ---------------------------------------------------- */

#define T_NULL     0x01u
#define T_BOOLEAN  0x02u
#define T_OBJECT   0x04u
#define T_ARRAY    0x08u
#define T_NUMBER   0x10u
#define T_INTEGER  0x20u
#define T_STRING   0x40u

static const struct {
    const char  *name;
    unsigned     bit;
} type_names[] = {
    { "null", T_NULL }, { "boolean", T_BOOLEAN }, { "object", T_OBJECT },
    { "array", T_ARRAY }, { "number", T_NUMBER }, { "integer", T_INTEGER },
    { "string", T_STRING }
};

#define COUNT(a)  (sizeof(a) / sizeof((a)[0]))

typedef struct node_s  node_t;

typedef struct {
    const char  *name;
    node_t      *schema;
} prop_t;

typedef struct {
    node_t     **v;
    size_t       n;
} node_list_t;

struct node_s {
    const json_t   *src;         /* the schema object: identity, messages */
    node_t         *next;        /* every node of the set, for freeing */
    size_t          doc;         /* index of its file */
    unsigned        types;       /* T_*; 0: no "type" */
    const json_t   *konst;       /* "const", or NULL */
    const json_t   *enums;       /* "enum", or NULL */
    const char     *pattern;
    rx_t           *rx;
    int             has_min_items;
    size_t          min_items;
    prop_t         *props;
    size_t          nprops;
    const char    **required;
    size_t          nrequired;
    node_t         *items, *contains, *not_, *ref;
    node_list_t     all_of, any_of, one_of;
    int             color;       /* the loop check */
};

typedef struct {
    const char  *name;
    node_t      *root;
} type_entry_t;

typedef struct {
    const mim_dsp_schema_text_t  *text;
    json_t                       *doc;
    node_t                       *root;
} doc_t;

struct mim_dsp_schema_set_s {
    doc_t         *docs;
    size_t         ndocs;
    node_t        *nodes;
    type_entry_t  *types;
    size_t         ntypes;
};

/* compiling: where we are, for the message of a refusal */
typedef struct {
    mim_dsp_schema_set_t  *set;
    size_t                 doc;
    char                   loc[LOC_MAX];   /* JSON pointer in the file */
    size_t                 len;
    mim_result_t           err;
} cc_t;

static int
cc_fail(cc_t *cc, mim_code_t code, const char *fmt, const char *arg)
{
    char  what[160];

    snprintf(what, sizeof(what), fmt, arg);
    cc->err = mim_result_err(code, "DSP schema %s#%s: %s",
                             cc->set->docs[cc->doc].text->path, cc->loc,
                             what);
    return -1;
}

static int
cc_nomem(cc_t *cc)
{
    cc->err = mim_result_err(MIM_ERR_NOMEM, "out of memory loading the "
                             "DSP schemas");
    return -1;
}

/* enter "/seg" of the location; returns the length to come back to */
static size_t
cc_push(cc_t *cc, const char *seg)
{
    size_t  old = cc->len;
    int     n = snprintf(cc->loc + cc->len, LOC_MAX - cc->len, "/%s", seg);

    cc->len = n < 0 || (size_t) n >= LOC_MAX - cc->len ? LOC_MAX - 1
                                                       : cc->len + n;
    return old;
}

static void
cc_pop(cc_t *cc, size_t len)
{
    cc->len = len;
    cc->loc[len] = '\0';
}

static node_t *
node_find(const mim_dsp_schema_set_t *set, const json_t *src)
{
    node_t  *n;

    for (n = set->nodes; n != NULL; n = n->next) {
        if (n->src == src) {
            return n;
        }
    }
    return NULL;
}

static int compile(cc_t *cc, const json_t *s, node_t **out);

/* compile s at loc/seg */
static int
compile_at(cc_t *cc, const char *seg, const json_t *s, node_t **out)
{
    size_t  back = cc_push(cc, seg);
    int     rc = compile(cc, s, out);

    if (rc == 0) {
        cc_pop(cc, back);
    }
    return rc;
}

static int
compile_list(cc_t *cc, const char *kw, const json_t *v, node_list_t *l)
{
    size_t  i, back;
    char    seg[32];

    if (!json_is_array(v) || json_array_size(v) == 0) {
        return cc_fail(cc, MIM_ERR_UNSUPPORTED, "%s: not a non-empty array",
                       kw);
    }
    l->n = json_array_size(v);
    l->v = calloc(l->n, sizeof(node_t *));
    if (l->v == NULL) {
        return cc_nomem(cc);
    }
    back = cc_push(cc, kw);
    for (i = 0; i < l->n; i++) {
        snprintf(seg, sizeof(seg), "%zu", i);
        if (compile_at(cc, seg, json_array_get(v, i), &l->v[i]) != 0) {
            return -1;
        }
    }
    cc_pop(cc, back);
    return 0;
}

static int
compile_props(cc_t *cc, const json_t *v, node_t *n)
{
    const char  *name;
    json_t      *sub;
    size_t       back;

    if (!json_is_object(v)) {
        return cc_fail(cc, MIM_ERR_UNSUPPORTED, "%s: not an object",
                       "properties");
    }
    n->props = calloc(json_object_size(v) + 1, sizeof(prop_t));
    if (n->props == NULL) {
        return cc_nomem(cc);
    }
    back = cc_push(cc, "properties");
    json_object_foreach((json_t *) v, name, sub) {
        n->props[n->nprops].name = name;
        if (compile_at(cc, name, sub, &n->props[n->nprops].schema) != 0) {
            return -1;
        }
        n->nprops++;
    }
    cc_pop(cc, back);
    return 0;
}

static int
compile_required(cc_t *cc, const json_t *v, node_t *n)
{
    size_t  i;

    if (!json_is_array(v)) {
        return cc_fail(cc, MIM_ERR_UNSUPPORTED, "%s: not an array",
                       "required");
    }
    n->required = calloc(json_array_size(v) + 1, sizeof(char *));
    if (n->required == NULL) {
        return cc_nomem(cc);
    }
    for (i = 0; i < json_array_size(v); i++) {
        if (!json_is_string(json_array_get(v, i))) {
            return cc_fail(cc, MIM_ERR_UNSUPPORTED, "%s: not all strings",
                           "required");
        }
        n->required[n->nrequired++] = json_string_value(json_array_get(v,
                                                                       i));
    }
    return 0;
}

static int
compile_definitions(cc_t *cc, const json_t *v)
{
    const char  *name;
    json_t      *sub;
    node_t      *ignored;
    size_t       back;

    if (!json_is_object(v)) {
        return cc_fail(cc, MIM_ERR_UNSUPPORTED, "%s: not an object",
                       "definitions");
    }
    /* compiled even when nothing refers to them: every rule is checked */
    back = cc_push(cc, "definitions");
    json_object_foreach((json_t *) v, name, sub) {
        if (compile_at(cc, name, sub, &ignored) != 0) {
            return -1;
        }
    }
    cc_pop(cc, back);
    return 0;
}

/*
 * A $ref: "#frag" in this file, or "<$id of a file>" with or without
 * "#frag".  The fragment is a JSON pointer; as python3-jsonschema does,
 * leading slashes are optional ("#definitions/X").
 */
static int
compile_ref(cc_t *cc, const json_t *v, node_t **out)
{
    mim_dsp_schema_set_t  *set = cc->set;
    const char            *ref, *hash, *frag, *end;
    const json_t          *target;
    char                   part[128], *w, saved[LOC_MAX];
    size_t                 doc, base_len, saved_len, saved_doc;
    int                    rc;

    if (!json_is_string(v)) {
        return cc_fail(cc, MIM_ERR_UNSUPPORTED, "%s: not a string", "$ref");
    }
    ref = json_string_value(v);
    hash = strchr(ref, '#');
    base_len = hash != NULL ? (size_t) (hash - ref) : strlen(ref);
    frag = hash != NULL ? hash + 1 : "";
    doc = cc->doc;
    if (base_len > 0) {
        for (doc = 0; doc < set->ndocs; doc++) {
            if (strlen(set->docs[doc].text->id) == base_len
                && memcmp(set->docs[doc].text->id, ref, base_len) == 0)
            {
                break;
            }
        }
        if (doc == set->ndocs) {
            return cc_fail(cc, MIM_ERR_UNSUPPORTED, "$ref \"%s\": no schema "
                           "has this $id", ref);
        }
    }
    if (strchr(frag, '%') != NULL) {
        return cc_fail(cc, MIM_ERR_UNSUPPORTED, "$ref \"%s\": a percent-"
                       "encoded fragment", ref);
    }
    target = set->docs[doc].doc;
    while (*frag == '/') {
        frag++;
    }
    while (*frag != '\0') {
        end = strchr(frag, '/');
        if (end == NULL) {
            end = frag + strlen(frag);
        }
        if ((size_t) (end - frag) >= sizeof(part)) {
            return cc_fail(cc, MIM_ERR_UNSUPPORTED, "$ref \"%s\": a step too "
                           "long", ref);
        }
        /* JSON pointer escapes, "~1" first as Python does */
        for (w = part; frag < end; frag++) {
            if (frag[0] == '~' && frag + 1 < end
                && (frag[1] == '0' || frag[1] == '1'))
            {
                *w++ = frag[1] == '1' ? '/' : '~';
                frag++;
            } else {
                *w++ = *frag;
            }
        }
        *w = '\0';
        if (*frag == '/') {
            frag++;
        }
        if (!json_is_object(target)
            || (target = json_object_get(target, part)) == NULL)
        {
            return cc_fail(cc, MIM_ERR_UNSUPPORTED, "$ref \"%s\": nothing "
                           "there", ref);
        }
    }

    /* compile the target where it is (once: later refs find the node) */
    memcpy(saved, cc->loc, LOC_MAX);
    saved_len = cc->len;
    saved_doc = cc->doc;
    cc->doc = doc;
    /* the target's own location: the fragment as a JSON pointer */
    frag = hash != NULL ? hash + 1 : "";
    while (*frag == '/') {
        frag++;
    }
    snprintf(cc->loc, LOC_MAX, "%s%s", *frag ? "/" : "", frag);
    cc->len = strlen(cc->loc);
    rc = compile(cc, target, out);
    if (rc == 0) {
        memcpy(cc->loc, saved, LOC_MAX);
        cc->len = saved_len;
        cc->doc = saved_doc;
    }
    return rc;
}

static int
compile_keyword(cc_t *cc, node_t *n, const char *kw, const json_t *v,
    int root)
{
    const char  *err;
    size_t       i;

    if (strcmp(kw, "$schema") == 0) {
        if (!root || !json_is_string(v)
            || strcmp(json_string_value(v), SCHEMA_DRAFT) != 0)
        {
            return cc_fail(cc, MIM_ERR_UNSUPPORTED, "%s: only \""
                           SCHEMA_DRAFT "\" at the top", kw);
        }
    } else if (strcmp(kw, "$id") == 0) {
        if (!root || !json_is_string(v)
            || strcmp(json_string_value(v), cc->set->docs[cc->doc].text->id))
        {
            return cc_fail(cc, MIM_ERR_UNSUPPORTED, "%s: only at the top, "
                           "and the id the file is known by", kw);
        }
    } else if (strcmp(kw, "title") == 0 || strcmp(kw, "$comment") == 0) {
        if (!json_is_string(v)) {
            return cc_fail(cc, MIM_ERR_UNSUPPORTED, "%s: not a string", kw);
        }
    } else if (strcmp(kw, "definitions") == 0) {
        return compile_definitions(cc, v);
    } else if (strcmp(kw, "type") == 0) {
        for (i = 0; json_is_string(v) && i < COUNT(type_names); i++) {
            if (strcmp(json_string_value(v), type_names[i].name) == 0) {
                n->types = type_names[i].bit;
                return 0;
            }
        }
        return cc_fail(cc, MIM_ERR_UNSUPPORTED, "%s: not one type name",
                       kw);
    } else if (strcmp(kw, "properties") == 0) {
        return compile_props(cc, v, n);
    } else if (strcmp(kw, "required") == 0) {
        return compile_required(cc, v, n);
    } else if (strcmp(kw, "items") == 0) {
        if (!json_is_object(v)) {
            return cc_fail(cc, MIM_ERR_UNSUPPORTED, "%s: only one schema "
                           "(not an array of them)", kw);
        }
        return compile_at(cc, kw, v, &n->items);
    } else if (strcmp(kw, "contains") == 0) {
        return compile_at(cc, kw, v, &n->contains);
    } else if (strcmp(kw, "not") == 0) {
        return compile_at(cc, kw, v, &n->not_);
    } else if (strcmp(kw, "allOf") == 0) {
        return compile_list(cc, kw, v, &n->all_of);
    } else if (strcmp(kw, "anyOf") == 0) {
        return compile_list(cc, kw, v, &n->any_of);
    } else if (strcmp(kw, "oneOf") == 0) {
        return compile_list(cc, kw, v, &n->one_of);
    } else if (strcmp(kw, "$ref") == 0) {
        return compile_ref(cc, v, &n->ref);
    } else if (strcmp(kw, "const") == 0) {
        n->konst = v;
    } else if (strcmp(kw, "enum") == 0) {
        if (!json_is_array(v) || json_array_size(v) == 0) {
            return cc_fail(cc, MIM_ERR_UNSUPPORTED, "%s: not a non-empty "
                           "array", kw);
        }
        n->enums = v;
    } else if (strcmp(kw, "minItems") == 0) {
        if (!json_is_integer(v) || json_integer_value(v) < 0) {
            return cc_fail(cc, MIM_ERR_UNSUPPORTED, "%s: not an integer "
                           ">= 0", kw);
        }
        n->has_min_items = 1;
        n->min_items = (size_t) json_integer_value(v);
    } else if (strcmp(kw, "pattern") == 0) {
        if (!json_is_string(v)) {
            return cc_fail(cc, MIM_ERR_UNSUPPORTED, "%s: not a string", kw);
        }
        n->pattern = json_string_value(v);
        n->rx = rx_compile(n->pattern, json_string_length(v), &err);
        if (n->rx == NULL) {
            return err == NULL ? cc_nomem(cc)
                               : cc_fail(cc, MIM_ERR_UNSUPPORTED,
                                         "pattern: %s", err);
        }
    } else {
        return cc_fail(cc, MIM_ERR_UNSUPPORTED, "keyword \"%s\" is not "
                       "supported", kw);
    }
    return 0;
}

static int
compile(cc_t *cc, const json_t *s, node_t **out)
{
    const char  *kw;
    json_t      *v;
    node_t      *n = node_find(cc->set, s);

    if (n != NULL) {
        *out = n;
        return 0;
    }
    if (!json_is_object(s)) {
        return cc_fail(cc, MIM_ERR_UNSUPPORTED, "%s", "a schema that is not "
                       "an object");
    }
    n = calloc(1, sizeof(node_t));
    if (n == NULL) {
        return cc_nomem(cc);
    }
    /* known before its parts are compiled: a $ref back to it (Catalog in
       Catalog) finds it */
    n->src = s;
    n->doc = cc->doc;
    n->next = cc->set->nodes;
    cc->set->nodes = n;
    *out = n;
    json_object_foreach((json_t *) s, kw, v) {
        if (compile_keyword(cc, n, kw, v, s == cc->set->docs[cc->doc].doc)
            != 0)
        {
            return -1;
        }
    }
    return 0;
}

/*
 * A loop of $ref, allOf, anyOf, oneOf or not that comes back to a schema
 * without entering a member or an item would never end: refused.
 */
static int
check_loops(const node_t *n)
{
    const node_list_t  *lists[3] = { &n->all_of, &n->any_of, &n->one_of };
    size_t              i, k;
    node_t             *m = (node_t *) n;

    if (n->color == 2) {
        return 0;
    }
    if (n->color == 1) {
        return -1;
    }
    m->color = 1;
    if ((n->ref != NULL && check_loops(n->ref) != 0)
        || (n->not_ != NULL && check_loops(n->not_) != 0))
    {
        return -1;
    }
    for (k = 0; k < 3; k++) {
        for (i = 0; i < lists[k]->n; i++) {
            if (check_loops(lists[k]->v[i]) != 0) {
                return -1;
            }
        }
    }
    m->color = 2;
    return 0;
}

static int
type_cmp(const void *a, const void *b)
{
    return strcmp(((const type_entry_t *) a)->name,
                  ((const type_entry_t *) b)->name);
}

static type_entry_t *
type_find(const mim_dsp_schema_set_t *set, const char *name, size_t len)
{
    size_t  i;

    for (i = 0; i < set->ntypes; i++) {
        if (strlen(set->types[i].name) == len
            && memcmp(set->types[i].name, name, len) == 0)
        {
            return &set->types[i];
        }
    }
    return NULL;
}

/*
 * The types, as shared/tools/dsp_validate.py finds them: a file whose
 * top-level allOf refers to "#/definitions/<T>" is the schema of T; then
 * Catalog and Dataset name the files of RootCatalog and RootDataset.
 */
static mim_result_t
index_types(mim_dsp_schema_set_t *set)
{
    static const char *const  aliases[][2] = {
        { "Catalog", "RootCatalog" }, { "Dataset", "RootDataset" }
    };
    const json_t   *all, *ref;
    const char     *s, *name;
    type_entry_t   *t, *root;
    size_t          d, i, k, max = COUNT(aliases);

    for (d = 0; d < set->ndocs; d++) {
        max += json_array_size(json_object_get(set->docs[d].doc, "allOf"));
    }
    set->types = calloc(max + 1, sizeof(type_entry_t));
    if (set->types == NULL) {
        return mim_result_err(MIM_ERR_NOMEM, "out of memory loading the DSP "
                              "schemas");
    }
    for (d = 0; d < set->ndocs; d++) {
        all = json_object_get(set->docs[d].doc, "allOf");
        for (i = 0; i < json_array_size(all); i++) {
            ref = json_object_get(json_array_get(all, i), "$ref");
            s = json_string_value(ref);
            if (s == NULL || strncmp(s, "#/definitions/", 14) != 0) {
                continue;
            }
            name = strrchr(s, '/') + 1;
            if (type_find(set, name, strlen(name)) != NULL) {
                /* the Python tool would keep whichever file it globbed
                   first: not something to guess */
                return mim_result_err(MIM_ERR_UNSUPPORTED, "DSP schema %s: "
                                      "type %s has a schema already",
                                      set->docs[d].text->path, name);
            }
            set->types[set->ntypes].name = name;
            set->types[set->ntypes++].root = set->docs[d].root;
        }
    }
    for (k = 0; k < COUNT(aliases); k++) {
        root = type_find(set, aliases[k][1], strlen(aliases[k][1]));
        if (root == NULL) {
            continue;
        }
        t = type_find(set, aliases[k][0], strlen(aliases[k][0]));
        if (t == NULL) {
            t = &set->types[set->ntypes++];
            t->name = aliases[k][0];
        }
        t->root = root->root;
    }
    qsort(set->types, set->ntypes, sizeof(type_entry_t), type_cmp);
    return mim_result_ok();
}

void
mim_dsp_schema_set_free(mim_dsp_schema_set_t *set)
{
    node_t  *n, *next;
    size_t   i;

    if (set == NULL) {
        return;
    }
    for (n = set->nodes; n != NULL; n = next) {
        next = n->next;
        rx_free(n->rx);
        free(n->props);
        free((void *) n->required);
        free(n->all_of.v);
        free(n->any_of.v);
        free(n->one_of.v);
        free(n);
    }
    for (i = 0; i < set->ndocs; i++) {
        json_decref(set->docs[i].doc);
    }
    free(set->docs);
    free(set->types);
    free(set);
}

mim_result_t
mim_dsp_schema_set_load(mim_dsp_schema_set_t **out,
    const mim_dsp_schema_text_t *texts)
{
    mim_dsp_schema_set_t  *set;
    json_error_t           jerr;
    mim_result_t           r;
    node_t                *n;
    cc_t                   cc;
    size_t                 i, count = 0;

    *out = NULL;
    while (texts[count].text != NULL) {
        count++;
    }
    set = calloc(1, sizeof(*set));
    if (set == NULL || (set->docs = calloc(count + 1, sizeof(doc_t))) == NULL)
    {
        free(set);
        return mim_result_err(MIM_ERR_NOMEM, "out of memory loading the DSP "
                              "schemas");
    }
    /* every file first: a $ref may point into any of them */
    for (i = 0; i < count; i++) {
        set->docs[i].text = &texts[i];
        set->docs[i].doc = json_loads(texts[i].text, JSON_REJECT_DUPLICATES,
                                      &jerr);
        if (set->docs[i].doc == NULL) {
            r = mim_result_err(MIM_ERR_UNSUPPORTED, "DSP schema %s: not "
                               "JSON: line %d: %s", texts[i].path, jerr.line,
                               jerr.text);
            set->ndocs = i;
            goto failed;
        }
        set->ndocs = i + 1;
    }
    memset(&cc, 0, sizeof(cc));
    cc.set = set;
    for (i = 0; i < count; i++) {
        cc.doc = i;
        cc.len = 0;
        cc.loc[0] = '\0';
        if (compile(&cc, set->docs[i].doc, &set->docs[i].root) != 0) {
            r = cc.err;
            goto failed;
        }
    }
    for (n = set->nodes; n != NULL; n = n->next) {
        if (check_loops(n) != 0) {
            r = mim_result_err(MIM_ERR_UNSUPPORTED, "DSP schema %s: a loop "
                               "of $ref/allOf/anyOf/oneOf/not that never "
                               "enters a member or an item",
                               set->docs[n->doc].text->path);
            goto failed;
        }
    }
    r = index_types(set);
    if (!mim_ok(r)) {
        goto failed;
    }
    *out = set;
    return mim_result_ok();

failed:
    mim_dsp_schema_set_free(set);
    return r;
}

const char *
mim_dsp_schema_set_type(const mim_dsp_schema_set_t *set, size_t i)
{
    return set != NULL && i < set->ntypes ? set->types[i].name : NULL;
}


/* ---- validation ---------------------------------------------------------- */

/* where we are in the instance: a chain up to the root, on the stack */
typedef struct vpath_s  vpath_t;

struct vpath_s {
    const vpath_t  *up;
    const char     *name;     /* a member; NULL: an item */
    size_t          index;
    int             depth;
};

typedef struct {
    int    quiet;             /* set by the caller: no message wanted */
    int    depth;             /* of the instance that failed */
    int    weak;              /* a type or const mismatch, or no
                                 alternative held: likely a schema for
                                 another kind of value */
    int    noted;             /* a "(the closest of...)" note is there */
    char   msg[MIM_MSG_MAX];
} verr_t;

/* a member name for a path: printable, short; quoted if it has . [ ] */
static size_t
path_name(char *dst, size_t cap, const char *name)
{
    char    text[NAME_SHOWN + 1];
    int     quote = *name == '\0' || strpbrk(name, ".[]\"") != NULL, n;

    mim_dsp_safe_text(text, sizeof(text), name, strlen(name));
    n = snprintf(dst, cap, quote ? "[\"%s\"]" : "%s", text);
    return n < 0 ? 0 : (size_t) n >= cap ? cap - 1 : (size_t) n;
}

static void
path_render(const vpath_t *p, char *dst, size_t cap)
{
    const vpath_t  *chain[MIM_DSP_SCHEMA_MAX_DEPTH + 2];
    size_t          len = 0, k = 0, i;
    int             n;

    if (p->depth == 0) {
        snprintf(dst, cap, "(root)");
        return;
    }
    for (; p->up != NULL && k < COUNT(chain); p = p->up) {
        chain[k++] = p;
    }
    dst[0] = '\0';
    for (i = k; i-- > 0 && len + 1 < cap; ) {
        if (chain[i]->name == NULL) {
            n = snprintf(dst + len, cap - len, "[%zu]", chain[i]->index);
            len = n < 0 || (size_t) n >= cap - len ? cap - 1 : len + n;
            continue;
        }
        if (len > 0 && strpbrk(chain[i]->name, ".[]\"") == NULL
            && chain[i]->name[0] != '\0')
        {
            dst[len++] = '.';
            dst[len] = '\0';
        }
        len += path_name(dst + len, cap - len, chain[i]->name);
    }
}

static int
fail(verr_t *e, const vpath_t *p, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int
fail(verr_t *e, const vpath_t *p, const char *fmt, ...)
{
    char     path[MIM_MSG_MAX], rule[MIM_MSG_MAX];
    va_list  ap;
    int      n;

    e->depth = p->depth;
    e->weak = 0;
    e->noted = 0;
    if (e->quiet) {
        return -1;
    }
    path_render(p, path, sizeof(path));
    va_start(ap, fmt);
    vsnprintf(rule, sizeof(rule), fmt, ap);
    va_end(ap);
    n = snprintf(e->msg, sizeof(e->msg), "%.*s: %s", MIM_MSG_MAX / 2, path,
                 rule);
    if (n < 0 || (size_t) n >= sizeof(e->msg)) {
        memcpy(e->msg + sizeof(e->msg) - 4, "...", 4);
    }
    return -1;
}

/* compact JSON of v (a schema or a value), cut with "..." */
static void
dump(char *dst, size_t cap, const json_t *v)
{
    char  *s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);

    if (s == NULL) {
        snprintf(dst, cap, "(out of memory)");
        return;
    }
    if (strlen(s) >= cap) {
        memcpy(s + cap - 4, "...", 4);
    }
    mim_dsp_safe_text(dst, cap, s, strlen(s));
    free(s);
}

static unsigned
type_of(const json_t *x)
{
    double  d;

    switch (json_typeof(x)) {
    case JSON_OBJECT:
        return T_OBJECT;
    case JSON_ARRAY:
        return T_ARRAY;
    case JSON_STRING:
        return T_STRING;
    case JSON_INTEGER:
        return T_INTEGER | T_NUMBER;
    case JSON_REAL:
        /* draft 6 and later: 1.0 is an integer */
        d = json_real_value(x);
        return d > -9.2e18 && d < 9.2e18 && (double) (long long) d == d
               ? T_INTEGER | T_NUMBER : T_NUMBER;
    case JSON_TRUE:
    case JSON_FALSE:
        return T_BOOLEAN;
    default:
        return T_NULL;
    }
}

static const char *
kind_of(const json_t *x)
{
    switch (json_typeof(x)) {
    case JSON_OBJECT:
        return "object";
    case JSON_ARRAY:
        return "array";
    case JSON_STRING:
        return "string";
    case JSON_INTEGER:
        return "integer";
    case JSON_REAL:
        return "number";
    case JSON_TRUE:
    case JSON_FALSE:
        return "boolean";
    default:
        return "null";
    }
}

static const char *
type_bit_name(unsigned bit)
{
    size_t  i;

    for (i = 0; i < COUNT(type_names); i++) {
        if (type_names[i].bit == bit) {
            return type_names[i].name;
        }
    }
    return "?";
}

/* JSON equality as jsonschema's: numbers by value (1 == 1.0), true is not
   1, members in any order */
static int
equal(const json_t *a, const json_t *b)
{
    const char  *key;
    json_t      *v;
    size_t       i;

    if (json_is_number(a) && json_is_number(b)) {
        if (json_is_integer(a) && json_is_integer(b)) {
            return json_integer_value(a) == json_integer_value(b);
        }
        if (json_is_integer(b)) {
            const json_t  *t = a;

            a = b;
            b = t;
        }
        if (json_is_integer(a)) {
            /* exact: a double equals an integer only if it is one */
            return (type_of(b) & T_INTEGER)
                   && (json_int_t) json_real_value(b)
                      == json_integer_value(a)
                   && (double) json_integer_value(a) == json_real_value(b);
        }
        return json_real_value(a) == json_real_value(b);
    }
    if (json_typeof(a) != json_typeof(b)) {
        return 0;
    }
    switch (json_typeof(a)) {
    case JSON_STRING:
        return json_string_length(a) == json_string_length(b)
               && memcmp(json_string_value(a), json_string_value(b),
                         json_string_length(a)) == 0;
    case JSON_ARRAY:
        if (json_array_size(a) != json_array_size(b)) {
            return 0;
        }
        for (i = 0; i < json_array_size(a); i++) {
            if (!equal(json_array_get(a, i), json_array_get(b, i))) {
                return 0;
            }
        }
        return 1;
    case JSON_OBJECT:
        if (json_object_size(a) != json_object_size(b)) {
            return 0;
        }
        json_object_foreach((json_t *) a, key, v) {
            if (json_object_get(b, key) == NULL
                || !equal(v, json_object_get(b, key)))
            {
                return 0;
            }
        }
        return 1;
    default:
        return 1;
    }
}

static int validate(const node_t *n, const json_t *x, const vpath_t *p,
    verr_t *e);

/*
 * The failure of an alternative most likely meant: a broken rule beats a
 * mismatch of kind (weak: the alternative is for other values), then the
 * deeper into the instance the better, then the first.  "A DataService
 * without endpointURL" rather than "not a string"; "operator: required"
 * rather than "not a LogicalConstraint".
 */
static void
keep_best(const verr_t *e, size_t i, verr_t *best, size_t *best_i)
{
    if (*best_i == SIZE_MAX || (best->weak && !e->weak)
        || (best->weak == e->weak && e->depth > best->depth))
    {
        *best = *e;
        *best_i = i;
    }
}

/*
 * No alternative holds.  They ran quietly (messages cost, and a valid
 * document should not pay for them); the one kept runs again for its
 * message, noted with the combinator.
 */
static int
fail_none(verr_t *e, const node_list_t *alts, const verr_t *best,
    size_t best_i, const json_t *x, const vpath_t *p, const char *kw)
{
    char  path[MIM_MSG_MAX / 2];

    if (e->quiet) {
        e->depth = best->depth;
    } else {
        validate(alts->v[best_i], x, p, e);
        if (!e->noted) {
            path_render(p, path, sizeof(path));
            snprintf(e->msg + strlen(e->msg),
                     sizeof(e->msg) - strlen(e->msg),
                     " (the closest of %zu %s alternatives at %s)", alts->n,
                     kw, path);
            e->noted = 1;
        }
    }
    e->weak = 1;
    return -1;
}

static int
validate_any_of(const node_t *n, const json_t *x, const vpath_t *p,
    verr_t *e)
{
    verr_t  cur, best;
    size_t  i, best_i = SIZE_MAX;

    cur.quiet = 1;
    for (i = 0; i < n->any_of.n; i++) {
        if (validate(n->any_of.v[i], x, p, &cur) == 0) {
            return 0;
        }
        keep_best(&cur, i, &best, &best_i);
    }
    return fail_none(e, &n->any_of, &best, best_i, x, p, "anyOf");
}

static int
validate_one_of(const node_t *n, const json_t *x, const vpath_t *p,
    verr_t *e)
{
    verr_t  cur, best;
    size_t  i, valid[2], nvalid = 0, best_i = SIZE_MAX;
    char    a[DUMP_SHOWN], b[DUMP_SHOWN];

    cur.quiet = 1;
    for (i = 0; i < n->one_of.n && nvalid < 2; i++) {
        if (validate(n->one_of.v[i], x, p, &cur) == 0) {
            valid[nvalid++] = i;
        } else {
            keep_best(&cur, i, &best, &best_i);
        }
    }
    if (nvalid == 1) {
        return 0;
    }
    if (nvalid == 0) {
        return fail_none(e, &n->one_of, &best, best_i, x, p, "oneOf");
    }
    if (e->quiet) {
        return fail(e, p, "oneOf");
    }
    dump(a, sizeof(a), n->one_of.v[valid[0]]->src);
    dump(b, sizeof(b), n->one_of.v[valid[1]]->src);
    return fail(e, p, "oneOf: valid against alternatives %zu (%s) and %zu "
                "(%s), must be against exactly one", valid[0] + 1, a,
                valid[1] + 1, b);
}

static int
validate_array(const node_t *n, const json_t *x, const vpath_t *p,
    verr_t *e)
{
    vpath_t  item = { p, NULL, 0, p->depth + 1 };
    verr_t   ignored = { .quiet = 1 };
    char     text[DUMP_SHOWN] = "";
    size_t   i, size = json_array_size(x);

    if (n->has_min_items && size < n->min_items) {
        return fail(e, p, "minItems: %zu item%s, at least %zu", size,
                    size == 1 ? "" : "s", n->min_items);
    }
    if (n->items != NULL) {
        for (i = 0; i < size; i++) {
            item.index = i;
            if (validate(n->items, json_array_get(x, i), &item, e) != 0) {
                return -1;
            }
        }
    }
    if (n->contains != NULL) {
        for (i = 0; i < size; i++) {
            item.index = i;
            if (validate(n->contains, json_array_get(x, i), &item,
                         &ignored) == 0)
            {
                return 0;
            }
        }
        if (!e->quiet) {
            dump(text, sizeof(text), n->contains->src);
        }
        return fail(e, p, "contains: no item is valid against %s", text);
    }
    return 0;
}

static int
validate_object(const node_t *n, const json_t *x, const vpath_t *p,
    verr_t *e)
{
    vpath_t        member = { p, NULL, 0, p->depth + 1 };
    const json_t  *v;
    size_t         i;

    for (i = 0; i < n->nrequired; i++) {
        if (json_object_get(x, n->required[i]) == NULL) {
            member.name = n->required[i];
            fail(e, &member, "required");
            /* a rule of this object, as deep as its other rules */
            e->depth = p->depth;
            return -1;
        }
    }
    for (i = 0; i < n->nprops; i++) {
        v = json_object_get(x, n->props[i].name);
        member.name = n->props[i].name;
        if (v != NULL && validate(n->props[i].schema, v, &member, e) != 0) {
            return -1;
        }
    }
    return 0;
}

static int
validate(const node_t *n, const json_t *x, const vpath_t *p, verr_t *e)
{
    verr_t  ignored = { .quiet = 1 };
    char    text[DUMP_SHOWN * 2] = "";
    size_t  i;

    if (n->types != 0 && (type_of(x) & n->types) == 0) {
        fail(e, p, "type: expected %s, got %s", type_bit_name(n->types),
             kind_of(x));
        e->weak = 1;
        return -1;
    }
    if (n->konst != NULL && !equal(x, n->konst)) {
        if (!e->quiet) {
            dump(text, sizeof(text), n->konst);
        }
        fail(e, p, "const: must be %s", text);
        e->weak = 1;
        return -1;
    }
    if (n->enums != NULL) {
        for (i = 0; i < json_array_size(n->enums); i++) {
            if (equal(x, json_array_get(n->enums, i))) {
                break;
            }
        }
        if (i == json_array_size(n->enums)) {
            if (!e->quiet) {
                dump(text, sizeof(text), n->enums);
            }
            return fail(e, p, "enum: must be one of %s", text);
        }
    }
    if (n->rx != NULL && json_is_string(x)
        && !rx_search(n->rx, json_string_value(x), json_string_length(x)))
    {
        if (!e->quiet) {
            mim_dsp_safe_text(text, DUMP_SHOWN, n->pattern,
                              strlen(n->pattern));
        }
        return fail(e, p, "pattern: does not match %s", text);
    }
    if (json_is_array(x) && validate_array(n, x, p, e) != 0) {
        return -1;
    }
    if (json_is_object(x) && validate_object(n, x, p, e) != 0) {
        return -1;
    }
    if (n->ref != NULL && validate(n->ref, x, p, e) != 0) {
        return -1;
    }
    for (i = 0; i < n->all_of.n; i++) {
        if (validate(n->all_of.v[i], x, p, e) != 0) {
            return -1;
        }
    }
    if (n->any_of.n > 0 && validate_any_of(n, x, p, e) != 0) {
        return -1;
    }
    if (n->one_of.n > 0 && validate_one_of(n, x, p, e) != 0) {
        return -1;
    }
    if (n->not_ != NULL && validate(n->not_, x, p, &ignored) == 0) {
        if (!e->quiet) {
            dump(text, sizeof(text), n->not_->src);
        }
        return fail(e, p, "not: must not be valid against %s", text);
    }
    return 0;
}

/* 1 when x nests arrays and objects deeper than max; stops there */
static int
too_deep(const json_t *x, int max)
{
    const char  *key;
    json_t      *v;
    size_t       i;

    if (!json_is_array(x) && !json_is_object(x)) {
        return 0;
    }
    if (max == 0) {
        return 1;
    }
    if (json_is_array(x)) {
        for (i = 0; i < json_array_size(x); i++) {
            if (too_deep(json_array_get(x, i), max - 1)) {
                return 1;
            }
        }
        return 0;
    }
    json_object_foreach((json_t *) x, key, v) {
        if (too_deep(v, max - 1)) {
            return 1;
        }
    }
    return 0;
}

mim_result_t
mim_dsp_schema_set_validate_json(const mim_dsp_schema_set_t *set,
    const json_t *doc, const char *type_name)
{
    const json_t        *t;
    const type_entry_t  *entry;
    const char          *name = type_name;
    vpath_t              root = { NULL, NULL, 0, 0 };
    verr_t               e = { .quiet = 0 };
    char                 text[64];
    size_t               len;

    if (too_deep(doc, MIM_DSP_SCHEMA_MAX_DEPTH)) {
        return mim_result_err(MIM_ERR_LIMIT, "nested deeper than %d levels",
                              MIM_DSP_SCHEMA_MAX_DEPTH);
    }
    if (name != NULL) {
        len = strlen(name);
    } else {
        t = json_is_object(doc) ? json_object_get(doc, "@type") : NULL;
        if (t == NULL) {
            return mim_result_err(MIM_ERR_INVALID, "@type: required (and no "
                                  "type was given)");
        }
        if (!json_is_string(t)) {
            return mim_result_err(MIM_ERR_INVALID, "@type: type: expected "
                                  "string, got %s", kind_of(t));
        }
        name = json_string_value(t);
        len = json_string_length(t);
    }
    entry = type_find(set, name, len);
    if (entry == NULL) {
        mim_dsp_safe_text(text, sizeof(text), name, len);
        return mim_result_err(MIM_ERR_INVALID, "%sno DSP 2025-1 schema for "
                              "type \"%s\"", type_name == NULL ? "@type: "
                                                               : "", text);
    }
    if (validate(entry->root, doc, &root, &e) != 0) {
        return mim_result_err(MIM_ERR_INVALID, "%s", e.msg);
    }
    return mim_result_ok();
}

mim_result_t
mim_dsp_schema_set_validate(const mim_dsp_schema_set_t *set,
    const char *json, size_t len, const char *type_name)
{
    json_error_t   jerr;
    json_t        *doc;
    mim_result_t   r;
    char           text[96];

    if (json == NULL || len == 0) {
        return mim_result_err(MIM_ERR_INVALID, "not JSON: empty");
    }
    if (len > MIM_DSP_SCHEMA_MAX_TEXT) {
        return mim_result_err(MIM_ERR_LIMIT, "larger than %lu bytes",
                              MIM_DSP_SCHEMA_MAX_TEXT);
    }
    /* a member twice: two readers could see two messages */
    doc = json_loadb(json, len, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES,
                     &jerr);
    if (doc == NULL) {
        /* jansson quotes the text near the error: it is untrusted */
        mim_dsp_safe_text(text, sizeof(text), jerr.text, strlen(jerr.text));
        return mim_result_err(json_error_code(&jerr)
                              == json_error_stack_overflow
                              ? MIM_ERR_LIMIT : MIM_ERR_INVALID,
                              "not JSON: line %d, column %d: %s", jerr.line,
                              jerr.column, text);
    }
    r = mim_dsp_schema_set_validate_json(set, doc, type_name);
    json_decref(doc);
    return r;
}


/* ---- the built-in set ---------------------------------------------------- */

static mim_dsp_schema_set_t  *builtin;

mim_result_t
mim_dsp_schema_init(void)
{
    if (builtin != NULL) {
        return mim_result_ok();
    }
    return mim_dsp_schema_set_load(&builtin, mim_dsp_schema_texts);
}

mim_result_t
mim_dsp_schema_validate(const char *json, size_t len, const char *type_name)
{
    mim_result_t  r = mim_dsp_schema_init();

    if (!mim_ok(r)) {
        return r;
    }
    return mim_dsp_schema_set_validate(builtin, json, len, type_name);
}

mim_result_t
mim_dsp_schema_validate_json(const json_t *doc, const char *type_name)
{
    mim_result_t  r = mim_dsp_schema_init();

    if (!mim_ok(r)) {
        return r;
    }
    return mim_dsp_schema_set_validate_json(builtin, doc, type_name);
}

const char *
mim_dsp_schema_type(size_t i)
{
    if (!mim_ok(mim_dsp_schema_init())) {
        return NULL;
    }
    return mim_dsp_schema_set_type(builtin, i);
}

void
mim_dsp_schema_cleanup(void)
{
    mim_dsp_schema_set_free(builtin);
    builtin = NULL;
}
