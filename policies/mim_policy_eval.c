/*
 * mim_policy_eval.c - decide one request against a compiled policy and
 * explain the decision (docs/policies.md).
 *
 * Runs on the request path of every worker: no allocation, no JSON
 * library, no global state; the policy is only read, the explanation is
 * built in fixed stack buffers and written, JSON-escaped, into the
 * caller's buffer.
 */
#include <string.h>

#include "mim_json.h"
#include "mim_policy_int.h"

/* ---- one reason line, built on the stack ---- */

typedef struct {
    char    s[MP_LINE_MAX];
    size_t  len;
    int     cut;
} mp_line_t;

static void
mp_line_mem(mp_line_t *l, const char *s, size_t n)
{
    /* 3 bytes stay free for the "..." of a cut line */
    size_t room = MP_LINE_MAX - 4 - l->len;

    if (n == 0) {
        return;
    }
    if (n > room) {
        n = room;
        l->cut = 1;
    }
    memcpy(l->s + l->len, s, n);
    l->len += n;
}

static void
mp_line_str(mp_line_t *l, const char *s)
{
    if (s != NULL) {
        mp_line_mem(l, s, strlen(s));
    }
}

static void
mp_line_pstr(mp_line_t *l, const mim_policy_t *p, mp_str_t s)
{
    if (s.off != MP_NONE) {
        mp_line_mem(l, p->arena + s.off, s.len);
    }
}

static void
mp_line_int(mp_line_t *l, int64_t v)
{
    char  buf[MIM_INT_DIGITS_MAX];

    mp_line_mem(l, buf, mim_format_int(buf, v));
}

static void
mp_line_time(mp_line_t *l, int64_t t)
{
    char  buf[48];

    mp_line_mem(l, buf, mp_format_datetime(buf, t));
}

static void
mp_line_dur(mp_line_t *l, int64_t d)
{
    char  buf[48];

    mp_line_mem(l, buf, mp_format_duration(buf, d));
}

static void
mp_line_line(mp_line_t *l, const mp_line_t *other)
{
    mp_line_mem(l, other->s, other->len);
    l->cut |= other->cut;
}

/* ---- the JSON array of reasons in the caller's buffer ---- */

typedef struct {
    char    *buf;
    size_t   cap;
    size_t   pos;
    size_t   n;
    int      full;
    int      truncated;
} mp_out_t;

/*
 * Request values are untrusted: bytes that are not valid UTF-8 and NUL
 * become U+FFFD (see mim_json.h).
 */
#define MP_JSON_ESC  MIM_JSON_ESC_REPLACE

static void
mp_out_init(mp_out_t *out, char *buf, size_t cap)
{
    out->buf = buf;
    out->cap = cap;
    out->buf[0] = '[';
    out->pos = 1;
    out->n = 0;
    out->full = 0;
    out->truncated = 0;
}

/*
 * Add a reason.  "]" and the NUL always fit (2 bytes are kept); a reason
 * that does not fit is cut with "..." if there is room for a useful part,
 * and nothing is added after it.
 */
static void
mp_out_line(mp_out_t *out, const mp_line_t *l)
{
    size_t  len, need, room;
    int     cut = l->cut;

    if (out->full) {
        out->truncated = 1;
        return;
    }
    len = mim_json_escaped_len(l->s, l->len, MP_JSON_ESC);
    need = (out->n > 0) + 2 + len + (cut ? 3 : 0);
    room = out->cap - out->pos - 2;
    if (need > room) {
        out->full = 1;
        out->truncated = 1;
        /* a cut reason: separator, quotes, "..." and some text */
        if (room < (out->n > 0) + 2 + 3 + 16) {
            return;
        }
        cut = 1;
    }
    if (out->n > 0) {
        out->buf[out->pos++] = ',';
    }
    out->buf[out->pos++] = '"';
    room = out->cap - out->pos - 2 - 1 - (cut ? 3 : 0);
    /* as much of the reason as fits, whole characters */
    out->pos += mim_json_escape(out->buf + out->pos, room, l->s, l->len,
                                MP_JSON_ESC);
    if (cut) {
        memcpy(out->buf + out->pos, "...", 3);
        out->pos += 3;
    }
    out->buf[out->pos++] = '"';
    out->n++;
}

static size_t
mp_out_finish(mp_out_t *out)
{
    out->buf[out->pos++] = ']';
    out->buf[out->pos] = '\0';
    return out->pos;
}

/* ---- the request, as the evaluator sees it ---- */

/*
 * What a constraint says for a request (MP_NO, MP_YES, MP_LATER: see
 * mim_policy_int.h).  MP_LATER at negotiation time
 * (mim_policy_request_t.negotiation): the constraint depends on a value
 * known only at use, so whether it holds is not known yet; and for the
 * NGSI-LD operands when the request names no types (attributes): what
 * the response may show is then decided by the filter.
 */

typedef struct {
    const mim_policy_t           *p;
    const mim_policy_request_t   *req;
    int                           action;       /* MP_ACT_* */
    const char                   *action_name;  /* local name or IRI */
    size_t                        action_len;
    int                           vloc_state;   /* 0 unparsed, 1 ok, -1 bad */
    mp_net_t                      vloc;
    int                           others_unknown;  /* every left operand
                                     but the NGSI-LD ones: MP_LATER
                                     (mp_node_decide) */
} mp_eval_t;

/* one request value of a left operand */
typedef struct {
    int              kind;      /* MP_V_STR, _INT, _TIME, _DUR, _NET */
    int64_t          i;
    const char      *s;
    size_t           len;
    const mp_net_t  *net;
} mp_item_t;

enum { MP_CMP_LT = -1, MP_CMP_EQ = 0, MP_CMP_GT = 1, MP_CMP_NE = 2,
       MP_CMP_NA = 3 };

static int
mp_cmp_int(int64_t a, int64_t b)
{
    return a < b ? MP_CMP_LT : a > b ? MP_CMP_GT : MP_CMP_EQ;
}

static int
mp_cmp_num(int a_int, int64_t ai, double ad, const mp_value_t *v)
{
    double  a, b;

    if (a_int && v->kind == MP_V_INT) {
        return mp_cmp_int(ai, v->u.i);
    }
    a = a_int ? (double) ai : ad;
    b = v->kind == MP_V_INT ? (double) v->u.i : v->u.d;
    return a < b ? MP_CMP_LT : a > b ? MP_CMP_GT
           : a == b ? MP_CMP_EQ : MP_CMP_NA;
}

/* an instant against a dateTime, or a date (the whole day: "eq" is
   within it, "lt" before it, "gt" after it) */
static int
mp_cmp_time(int64_t t, const mp_value_t *v)
{
    if (v->kind == MP_V_TIME) {
        return mp_cmp_int(t, v->u.i);
    }
    if (v->kind == MP_V_DATE) {
        return t < v->u.i ? MP_CMP_LT
               : t >= v->u.i + 86400 ? MP_CMP_GT : MP_CMP_EQ;
    }
    return MP_CMP_NA;
}

/* a claim value (text) read as the right operand's type */
static int
mp_cmp_text(const mp_item_t *it, const mp_value_t *v)
{
    int64_t  i;
    double   d;
    int      is_int;

    switch (v->kind) {
    case MP_V_INT:
    case MP_V_DEC:
        if (mp_parse_decimal(it->s, it->len, &is_int, &i, &d) != 0) {
            return MP_CMP_NA;
        }
        return mp_cmp_num(is_int, i, d, v);
    case MP_V_TIME:
    case MP_V_DATE:
        if (mp_parse_datetime(it->s, it->len, &i) != 0
            && mp_parse_date(it->s, it->len, &i) != 0)
        {
            return MP_CMP_NA;
        }
        return mp_cmp_time(i, v);
    case MP_V_DUR:
        if (mp_parse_duration(it->s, it->len, &i) != 0) {
            return MP_CMP_NA;
        }
        return mp_cmp_int(i, v->u.i);
    }
    return MP_CMP_NA;
}

static int
mp_cmp(const mim_policy_t *p, const mp_item_t *it, const mp_value_t *v)
{
    switch (it->kind) {
    case MP_V_STR:
        if (v->kind == MP_V_STR) {
            return it->len == v->text.len
                   && (it->len == 0
                       || memcmp(it->s, p->arena + v->text.off, it->len) == 0)
                   ? MP_CMP_EQ : MP_CMP_NE;
        }
        return mp_cmp_text(it, v);
    case MP_V_INT:
        if (v->kind == MP_V_INT || v->kind == MP_V_DEC) {
            return mp_cmp_num(1, it->i, 0, v);
        }
        return MP_CMP_NA;
    case MP_V_TIME:
        return mp_cmp_time(it->i, v);
    case MP_V_DUR:
        return v->kind == MP_V_DUR ? mp_cmp_int(it->i, v->u.i) : MP_CMP_NA;
    case MP_V_NET:
        if (v->kind != MP_V_NET) {
            return MP_CMP_NA;
        }
        return mp_net_contains(&v->u.net, it->net) ? MP_CMP_EQ : MP_CMP_NE;
    }
    return MP_CMP_NA;
}

/* does cmp (a MP_CMP_*) satisfy an ordering or equality operator */
static int
mp_op_holds(int op, int cmp)
{
    switch (op) {
    case MP_OP_LT:   return cmp == MP_CMP_LT;
    case MP_OP_LTEQ: return cmp == MP_CMP_LT || cmp == MP_CMP_EQ;
    case MP_OP_GT:   return cmp == MP_CMP_GT;
    case MP_OP_GTEQ: return cmp == MP_CMP_GT || cmp == MP_CMP_EQ;
    default:         return cmp == MP_CMP_EQ;
    }
}

/* the request's values of a left operand */
typedef struct {
    int                kind;
    const mim_str_t   *strs;      /* several strings: purpose, spatial,
                                     claim values */
    size_t             n;
    mim_str_t          one;       /* a single string */
    int64_t            num;
    const mp_net_t    *net;
    int                any;       /* 1: one value suffices (facts: spatial,
                                     claims); 0: every value must satisfy
                                     (declared purposes) */
    const char        *missing;   /* set: the request has no value */
    int                absent;    /* missing because the request lacks
                                     it (not because it is unreadable) */
} mp_operand_t;

static void
mp_item_at(const mp_operand_t *o, size_t i, mp_item_t *it)
{
    it->kind = o->kind;
    it->i = o->num;
    it->net = o->net;
    if (o->strs != NULL) {
        it->s = o->strs[i].data;
        it->len = o->strs[i].len;
    } else {
        it->s = o->one.data;
        it->len = o->one.len;
    }
}

static const mim_claim_t *
mp_find_claim(const mim_policy_request_t *req, const char *name, size_t len)
{
    size_t  i;

    if (req->claims == NULL) {
        return NULL;
    }
    for (i = 0; i < req->claims_n; i++) {
        if (req->claims[i].name.data != NULL && req->claims[i].name.len == len
            && memcmp(req->claims[i].name.data, name, len) == 0)
        {
            return &req->claims[i];
        }
    }
    return NULL;
}

static void
mp_operand_strs(mp_operand_t *o, const mim_str_t *strs, size_t n, int any,
    const char *missing)
{
    o->kind = MP_V_STR;
    o->strs = strs;
    o->n = n;
    o->any = any;
    if (strs == NULL || n == 0) {
        o->missing = missing;
        o->absent = 1;
    }
}

static void
mp_operand_str(mp_operand_t *o, mim_str_t s, const char *missing)
{
    o->kind = MP_V_STR;
    o->one = s;
    o->n = 1;
    if (s.data == NULL) {
        o->missing = missing;
        o->absent = 1;
    }
}

static void
mp_operand_num(mp_operand_t *o, int kind, int has, int64_t v,
    const char *missing)
{
    o->kind = kind;
    o->num = v;
    o->n = 1;
    if (!has) {
        o->missing = missing;
        o->absent = 1;
    }
}

static void
mp_operand(mp_eval_t *e, const mp_node_t *node, mp_operand_t *o)
{
    const mim_policy_request_t  *req = e->req;
    const mim_claim_t           *claim;

    memset(o, 0, sizeof(*o));
    switch (node->lop) {
    case MP_LOP_DATETIME:
        mp_operand_num(o, MP_V_TIME, req->has_date_time, req->date_time,
                       "no dateTime in the request");
        break;
    case MP_LOP_ELAPSED:
        mp_operand_num(o, MP_V_DUR, req->has_elapsed, req->elapsed,
                       "no elapsedTime in the request");
        break;
    case MP_LOP_COUNT:
        mp_operand_num(o, MP_V_INT, req->has_count, req->count,
                       "no count in the request");
        break;
    case MP_LOP_PURPOSE:
        mp_operand_strs(o, req->purpose, req->purpose_n, 0,
                        "no purpose declared");
        break;
    case MP_LOP_SPATIAL:
        mp_operand_strs(o, req->spatial, req->spatial_n, 1,
                        "no spatial in the request");
        break;
    case MP_LOP_RECIPIENT:
        mp_operand_str(o, req->recipient, "no recipient in the request");
        break;
    case MP_LOP_CHANNEL:
        mp_operand_str(o, req->delivery_channel,
                       "no deliveryChannel in the request");
        break;
    case MP_LOP_EVENT:
        mp_operand_str(o, req->event, "no event in the request");
        break;
    case MP_LOP_VLOC:
        o->kind = MP_V_NET;
        o->n = 1;
        if (req->virtual_location.data == NULL) {
            o->missing = "no client address in the request";
            o->absent = 1;
            break;
        }
        if (e->vloc_state == 0) {
            e->vloc_state = mp_parse_net(req->virtual_location.data,
                                         req->virtual_location.len, 0,
                                         &e->vloc) == 0 ? 1 : -1;
        }
        if (e->vloc_state < 0) {
            o->missing = "the client address is not an IP address";
        }
        o->net = &e->vloc;
        o->one = req->virtual_location;
        break;
    case MP_LOP_NGSILD_TYPE:
        mp_operand_strs(o, req->ngsild_types, req->ngsild_types_n, 0,
                        "no entity type in the request");
        break;
    case MP_LOP_NGSILD_ATTR:
        mp_operand_strs(o, req->ngsild_attrs, req->ngsild_attrs_n, 0,
                        "no attribute in the request");
        break;
    case MP_LOP_CLAIM:
        claim = mp_find_claim(req, e->p->arena + node->claim.off,
                              node->claim.len);
        mp_operand_strs(o, claim != NULL ? claim->values : NULL,
                        claim != NULL ? claim->n : 0, 1,
                        "no such claim in the request");
        break;
    default:
        o->missing = "unknown left operand";
        break;
    }
}

/* "dateTime is 2027-01-01T10:00:00Z", "purpose is [a, b]" */
static void
mp_describe(mp_line_t *l, const mim_policy_t *p, const mp_node_t *node,
    const mp_operand_t *o)
{
    size_t  i;

    if (node->lop == MP_LOP_CLAIM) {
        mp_line_str(l, "claim ");
        mp_line_pstr(l, p, node->claim);
    } else {
        mp_line_str(l, mp_lop_name(node->lop));
    }
    mp_line_str(l, " is ");
    switch (o->kind) {
    case MP_V_TIME:
        mp_line_time(l, o->num);
        return;
    case MP_V_DUR:
        mp_line_dur(l, o->num);
        return;
    case MP_V_INT:
        mp_line_int(l, o->num);
        return;
    }
    if (o->strs == NULL) {
        mp_line_mem(l, o->one.data, o->one.len);
        return;
    }
    if (o->n > 1) {
        mp_line_str(l, "[");
    }
    for (i = 0; i < o->n; i++) {
        if (i > 0) {
            mp_line_str(l, ", ");
        }
        if (o->strs[i].data != NULL) {
            mp_line_mem(l, o->strs[i].data, o->strs[i].len);
        }
    }
    if (o->n > 1) {
        mp_line_str(l, "]");
    }
}

/* 1: item equals (or lies in) some right operand value; -1: incomparable */
static int
mp_member_of(const mim_policy_t *p, const mp_item_t *it,
    const mp_value_t *vals, size_t n)
{
    size_t  i;
    int     c;

    for (i = 0; i < n; i++) {
        c = mp_cmp(p, it, &vals[i]);
        if (c == MP_CMP_EQ) {
            return 1;
        }
        if (c == MP_CMP_NA) {
            return -1;
        }
    }
    return 0;
}

/*
 * An atomic constraint: 1 holds, 0 fails, -1 cannot be compared (a
 * claim that is not a number for a numeric right operand).
 */
static int
mp_atom_holds(const mim_policy_t *p, const mp_node_t *node,
    const mp_operand_t *o)
{
    const mp_value_t  *vals = &p->values[node->first];
    mp_item_t          it;
    size_t             i, j;
    int                m, hits = 0, found;

    switch (node->op) {
    case MP_OP_EQ:
    case MP_OP_ISANYOF:
    case MP_OP_ISPARTOF:
        /* every value (declared purposes) or one of them (facts) is in
           the right operand */
        for (i = 0; i < o->n; i++) {
            mp_item_at(o, i, &it);
            m = mp_member_of(p, &it, vals, node->n);
            if (m < 0) {
                return -1;
            }
            if (m && o->any) {
                return 1;
            }
            if (!m && !o->any) {
                return 0;
            }
        }
        return !o->any;
    case MP_OP_NEQ:
    case MP_OP_ISNONEOF:
        for (i = 0; i < o->n; i++) {
            mp_item_at(o, i, &it);
            m = mp_member_of(p, &it, vals, node->n);
            if (m != 0) {
                return m < 0 ? -1 : 0;
            }
        }
        return 1;
    case MP_OP_HASPART:
    case MP_OP_ISALLOF:
    case MP_OP_ISA:
        /* the values include every right operand value */
        for (j = 0; j < node->n; j++) {
            found = 0;
            for (i = 0; i < o->n && !found; i++) {
                mp_item_at(o, i, &it);
                m = mp_cmp(p, &it, &vals[j]);
                if (m == MP_CMP_NA) {
                    return -1;
                }
                found = m == MP_CMP_EQ;
            }
            if (!found) {
                return 0;
            }
        }
        return 1;
    case MP_OP_LT:
    case MP_OP_LTEQ:
    case MP_OP_GT:
    case MP_OP_GTEQ:
        for (i = 0; i < o->n; i++) {
            mp_item_at(o, i, &it);
            m = mp_cmp(p, &it, &vals[0]);
            if (m == MP_CMP_NA) {
                return -1;
            }
            hits += mp_op_holds(node->op, m);
        }
        return o->any ? hits > 0 : (size_t) hits == o->n;
    }
    return 0;
}

static void
mp_why_atom(mp_line_t *why, const mim_policy_t *p, const mp_node_t *node,
    const char *because, const mp_operand_t *o, int incomparable)
{
    mp_line_str(why, "constraint ");
    mp_line_pstr(why, p, node->text);
    if (because != NULL) {
        mp_line_str(why, node->problem.off != MP_NONE ? " cannot be decided: "
                                                     : " failed: ");
        mp_line_str(why, because);
        return;
    }
    mp_line_str(why, " failed: ");
    mp_describe(why, p, node, o);
    if (incomparable) {
        mp_line_str(why, ", which cannot be compared with it");
    }
}

static int mp_node_holds(mp_eval_t *e, uint32_t idx, mp_line_t *why,
    int depth);

/*
 * A logical constraint: MP_YES, MP_NO (said in why) or MP_LATER.  "Not
 * known yet" is a third value (Kleene's): "and" fails as soon as one of
 * its constraints fails, "or" holds as soon as one holds, and otherwise
 * an unknown one makes the whole unknown.
 */
static int
mp_logical_holds(mp_eval_t *e, const mp_node_t *node, mp_line_t *why,
    int depth)
{
    mp_line_t  first;
    uint32_t   i, holds = 0, later = 0;
    int        h;

    switch (node->type) {
    case MP_N_AND:
    case MP_N_ANDSEQ:
        /* andSequence: in order, each at the time of the request */
        for (i = 0; i < node->n; i++) {
            h = mp_node_holds(e, node->first + i, why, depth + 1);
            if (h == MP_NO) {
                return MP_NO;
            }
            later += h == MP_LATER;
        }
        return later > 0 ? MP_LATER : MP_YES;
    case MP_N_OR:
    case MP_N_XONE:
        first.len = 0;
        first.cut = 0;
        for (i = 0; i < node->n; i++) {
            h = mp_node_holds(e, node->first + i,
                              i == 0 && why != NULL ? &first : NULL,
                              depth + 1);
            if (h == MP_YES && node->type == MP_N_OR) {
                return MP_YES;
            }
            holds += h == MP_YES;
            later += h == MP_LATER;
            if (holds > 1) {
                break;          /* xone already failed */
            }
        }
        if (holds <= 1 && later > 0) {
            return MP_LATER;
        }
        if (node->type == MP_N_XONE && holds == 1) {
            return MP_YES;
        }
        if (why != NULL) {
            mp_line_str(why, "constraint ");
            mp_line_pstr(why, e->p, node->text);
            if (holds > 1) {
                mp_line_str(why, " failed: more than one of its constraints "
                            "holds");
                return MP_NO;
            }
            mp_line_str(why, " failed: none of its ");
            mp_line_int(why, node->n);
            mp_line_str(why, " constraints holds (first: ");
            mp_line_line(why, &first);
            mp_line_str(why, ")");
        }
        return MP_NO;
    }
    return MP_NO;
}

/* left operands whose value exists only when the data is used */
static int
mp_known_at_use(int lop)
{
    switch (lop) {
    case MP_LOP_ELAPSED:
    case MP_LOP_COUNT:
    case MP_LOP_PURPOSE:
    case MP_LOP_SPATIAL:
    case MP_LOP_RECIPIENT:
    case MP_LOP_CHANNEL:
    case MP_LOP_EVENT:
    case MP_LOP_VLOC:
        return 1;
    }
    return 0;
}

/* a constraint: MP_YES, MP_NO (said in why, when not NULL) or MP_LATER */
static int
mp_node_holds(mp_eval_t *e, uint32_t idx, mp_line_t *why, int depth)
{
    const mim_policy_t  *p = e->p;
    const mp_node_t     *node = &p->nodes[idx];
    mp_operand_t         o;
    int                  h;

    if (depth > MP_MAX_DEPTH + 1) {
        return MP_NO;       /* the compiler keeps it shallower */
    }
    if (node->type != MP_N_ATOM) {
        return mp_logical_holds(e, node, why, depth);
    }
    if (node->problem.off != MP_NONE) {
        if (why != NULL) {
            mp_why_atom(why, p, node, mp_cstr(p, node->problem), NULL, 0);
        }
        return MP_NO;
    }
    if (e->others_unknown && !mp_lop_ngsild(node->lop)) {
        return MP_LATER;
    }
    mp_operand(e, node, &o);
    if (o.missing != NULL) {
        if (o.absent && e->req->negotiation && mp_known_at_use(node->lop)) {
            return MP_LATER;
        }
        if (o.absent && mp_lop_ngsild(node->lop)) {
            return MP_LATER;    /* the response filter decides */
        }
        if (why != NULL) {
            mp_why_atom(why, p, node, o.missing, NULL, 0);
        }
        return MP_NO;
    }
    h = mp_atom_holds(p, node, &o);
    if (h != 1 && why != NULL) {
        mp_why_atom(why, p, node, NULL, &o, h < 0);
    }
    return h == 1 ? MP_YES : MP_NO;
}

/* all constraints of a list hold (an "and"): MP_YES, MP_NO with the
   first failure explained in why, or MP_LATER */
static int
mp_all_hold(mp_eval_t *e, uint32_t first, uint32_t n, mp_line_t *why)
{
    uint32_t  i;
    int       h, later = 0;

    for (i = 0; i < n; i++) {
        h = mp_node_holds(e, first + i, why, 0);
        if (h == MP_NO) {
            return MP_NO;
        }
        later |= h == MP_LATER;
    }
    return later ? MP_LATER : MP_YES;
}

/* ---- rules ---- */

static int
mp_action_matches(const mp_eval_t *e, const mp_rule_t *r)
{
    if (e->req->negotiation) {
        return 1;           /* any action is asked */
    }
    if (r->action != MP_ACT_OTHER) {
        return mp_action_covers(r->action, e->action);
    }
    /* an action outside the vocabulary covers only itself */
    return e->action == MP_ACT_OTHER && r->action_name.len == e->action_len
           && memcmp(e->p->arena + r->action_name.off, e->action_name,
                     e->action_len) == 0;
}

static int
mp_str_eq(const mim_policy_t *p, mp_str_t s, mim_str_t r)
{
    return r.data != NULL && r.len == s.len
           && (r.len == 0 || memcmp(p->arena + s.off, r.data, r.len) == 0);
}

static void
mp_line_rule(mp_line_t *l, const mim_policy_t *p, const mp_rule_t *r)
{
    l->len = 0;
    l->cut = 0;
    mp_line_pstr(l, p, r->label);
    mp_line_str(l, ": ");
}

/* target and assignee: 1 match; 0 no match, said in out (if not NULL) */
static int
mp_party_target(const mp_eval_t *e, const mp_rule_t *r, mp_out_t *out)
{
    const mim_policy_t  *p = e->p;
    mp_line_t            l;
    const char          *what = NULL;
    mp_str_t             want;
    mim_str_t            got;

    if (r->target.off != MP_NONE && !mp_str_eq(p, r->target, e->req->target))
    {
        what = "target";
        want = r->target;
        got = e->req->target;
    } else if (r->assignee.off != MP_NONE
               && !mp_str_eq(p, r->assignee, e->req->assignee))
    {
        what = "assignee";
        want = r->assignee;
        got = e->req->assignee;
    }
    if (what == NULL) {
        return 1;
    }
    if (out != NULL) {
        mp_line_rule(&l, p, r);
        mp_line_str(&l, what);
        mp_line_str(&l, " is ");
        mp_line_pstr(&l, p, want);
        if (got.data != NULL) {
            mp_line_str(&l, ", not ");
            mp_line_mem(&l, got.data, got.len);
        } else {
            mp_line_str(&l, "; the request names none");
        }
        mp_out_line(out, &l);
    }
    return 0;
}

/*
 * A prohibition covers a permission when its action covers the
 * permission's: what a negotiation asks is "may the consumer have what
 * this permission grants".
 */
static int
mp_rule_covers(const mim_policy_t *p, const mp_rule_t *prohibition,
    const mp_rule_t *permission)
{
    if (prohibition->action != MP_ACT_OTHER
        && permission->action != MP_ACT_OTHER)
    {
        return mp_action_covers(prohibition->action, permission->action);
    }
    return prohibition->action == MP_ACT_OTHER
           && permission->action == MP_ACT_OTHER
           && prohibition->action_name.len == permission->action_name.len
           && memcmp(p->arena + prohibition->action_name.off,
                     p->arena + permission->action_name.off,
                     permission->action_name.len) == 0;
}

/*
 * Refinements and constraints; the failure said in out.  What is not
 * known before use (negotiation) does not stop a permission and does not
 * make a prohibition hold.
 */
static int
mp_conditions_hold(mp_eval_t *e, const mp_rule_t *r, mp_out_t *out)
{
    mp_line_t  l, why;
    int        h, c;

    why.len = 0;
    why.cut = 0;
    h = mp_all_hold(e, r->ref_first, r->ref_n, &why);
    if (h != MP_NO) {
        c = mp_all_hold(e, r->cons_first, r->cons_n, &why);
        h = c == MP_YES ? h : c;
    }
    if (h == MP_YES || (h == MP_LATER && r->kind == MP_R_PERMISSION)) {
        return 1;
    }
    if (h == MP_LATER) {
        return 0;           /* a prohibition not known to hold: no reason */
    }
    if (out != NULL) {
        mp_line_rule(&l, e->p, r);
        mp_line_line(&l, &why);
        mp_out_line(out, &l);
    }
    return 0;
}

/* "read on T"; at negotiation, what the rule is for: "use on T" */
static void
mp_line_request(mp_line_t *l, const mp_eval_t *e, const mp_rule_t *r)
{
    if (!e->req->negotiation) {
        mp_line_mem(l, e->req->action.data, e->req->action.len);
    } else if (r != NULL) {
        mp_line_pstr(l, e->p, r->action_name);
    } else {
        mp_line_str(l, "any action");
    }
    if (e->req->target.data != NULL) {
        mp_line_str(l, " on ");
        mp_line_mem(l, e->req->target.data, e->req->target.len);
    }
}

static void
mp_say(mp_out_t *out, const mp_eval_t *e, const mp_rule_t *r,
    const char *what, int with_request)
{
    mp_line_t  l;

    l.len = 0;
    l.cut = 0;
    if (r != NULL) {
        mp_line_rule(&l, e->p, r);
    }
    mp_line_str(&l, what);
    if (with_request) {
        mp_line_request(&l, e, r);
    }
    mp_out_line(out, &l);
}

/* obligations the gateway cannot discharge: 1 if one applies */
static int
mp_obligations(mp_eval_t *e, mp_out_t *out)
{
    const mim_policy_t  *p = e->p;
    const mp_rule_t     *r;
    mp_line_t            l;
    size_t               i;
    int                  blocked = 0;

    for (i = 0; i < p->nrules; i++) {
        r = &p->rules[i];
        if (r->kind != MP_R_OBLIGATION || !mp_party_target(e, r, NULL)) {
            continue;
        }
        blocked = 1;
        mp_line_rule(&l, p, r);
        mp_line_str(&l, "obligation ");
        mp_line_pstr(&l, p, r->action_name);
        mp_line_str(&l, " cannot be discharged by the gateway");
        mp_out_line(out, &l);
    }
    return blocked;
}

/*
 * The first permission from rules[*from] on that grants, or NULL;
 * failures said in out.  *from moves past the one returned; *covered is
 * set when a permission's action covers the request.
 */
static const mp_rule_t *
mp_permissions(mp_eval_t *e, mp_out_t *out, size_t *from, int *covered)
{
    const mim_policy_t  *p = e->p;
    const mp_rule_t     *r;
    mp_line_t            l;
    size_t               i;

    for (i = *from; i < p->nrules; i++) {
        r = &p->rules[i];
        *from = i + 1;
        if (r->kind != MP_R_PERMISSION || !mp_action_matches(e, r)) {
            continue;
        }
        *covered = 1;
        if (!mp_party_target(e, r, out) || !mp_conditions_hold(e, r, out)) {
            continue;
        }
        if (r->duty_n > 0) {
            /* fail closed: nothing in the gateway performs a duty */
            mp_line_rule(&l, p, r);
            mp_line_str(&l, "duty ");
            mp_line_pstr(&l, p, p->duties[r->duty_first].action_name);
            mp_line_str(&l, " cannot be discharged by the gateway");
            mp_out_line(out, &l);
            continue;
        }
        return r;
    }
    return NULL;
}

/*
 * The first prohibition that holds for this request, or NULL.  At
 * negotiation, one that holds against the permission grant (none without
 * a grant: the decision is a deny anyway).
 */
static const mp_rule_t *
mp_prohibitions(mp_eval_t *e, const mp_rule_t *grant)
{
    const mim_policy_t  *p = e->p;
    const mp_rule_t     *r;
    size_t               i;
    int                  applies;

    if (e->req->negotiation && grant == NULL) {
        return NULL;
    }
    for (i = 0; i < p->nrules; i++) {
        r = &p->rules[i];
        if (r->kind != MP_R_PROHIBITION) {
            continue;
        }
        applies = e->req->negotiation ? mp_rule_covers(p, r, grant)
                                      : mp_action_matches(e, r);
        if (applies && mp_party_target(e, r, NULL)
            && mp_conditions_hold(e, r, NULL))
        {
            return r;
        }
    }
    return NULL;
}

/*
 * The granting permission and the prohibition against it.  At
 * negotiation every permission is a candidate: the first one no
 * prohibition blocks, else the first one that grants and its blocker
 * (for the conflict strategy to settle).
 */
static void
mp_rules(mp_eval_t *e, mp_out_t *out, int *covered, const mp_rule_t **grant,
    const mp_rule_t **deny)
{
    const mp_rule_t  *g, *d;
    size_t            from = 0;

    *covered = 0;
    *grant = mp_permissions(e, out, &from, covered);
    *deny = mp_prohibitions(e, *grant);
    if (!e->req->negotiation || *deny == NULL) {
        return;
    }
    while ((g = mp_permissions(e, out, &from, covered)) != NULL) {
        d = mp_prohibitions(e, g);
        if (d == NULL) {
            *grant = g;
            *deny = NULL;
            return;
        }
    }
}

static void
mp_decide(mp_eval_t *e, mp_out_t *out, mim_policy_decision_t *d)
{
    static const char *const  strategies[] = { "invalid", "perm",
                                               "prohibit" };
    const mim_policy_t  *p = e->p;
    const mp_rule_t     *grant, *deny;
    mp_line_t            l;
    int                  blocked, covered;

    blocked = mp_obligations(e, out);
    mp_rules(e, out, &covered, &grant, &deny);
    if (blocked) {
        return;             /* deny: the obligations said why */
    }
    if (grant != NULL) {
        mp_say(out, e, grant, "grants ", 1);
    }
    if (deny != NULL) {
        mp_say(out, e, deny, "prohibits ", 1);
        d->rule = mp_cstr(p, deny->uid);
        d->label = mp_cstr(p, deny->place);
    }
    if (grant != NULL && deny != NULL) {
        l.len = 0;
        l.cut = 0;
        mp_line_str(&l, "conflict strategy ");
        mp_line_str(&l, strategies[p->conflict]);
        switch (p->conflict) {
        case MP_CONFLICT_PERM:
            mp_line_str(&l, ": the permission overrides the prohibition");
            d->effect = MIM_POLICY_PERMIT;
            d->rule = mp_cstr(p, grant->uid);
            d->label = mp_cstr(p, grant->place);
            break;
        case MP_CONFLICT_PROHIBIT:
            mp_line_str(&l, ": the prohibition overrides the permission");
            break;
        default:
            mp_line_str(&l, ": a permission and a prohibition both apply, "
                        "the policy is void");
            break;
        }
        mp_out_line(out, &l);
        return;
    }
    if (grant != NULL) {
        d->effect = MIM_POLICY_PERMIT;
        d->rule = mp_cstr(p, grant->uid);
        d->label = mp_cstr(p, grant->place);
        return;
    }
    if (deny == NULL) {
        l.len = 0;
        l.cut = 0;
        mp_line_str(&l, covered ? "no permission grants "
                                : "no permission for ");
        if (e->req->negotiation) {
            mp_line_str(&l, "any action");
        } else {
            mp_line_str(&l, covered ? "" : "action ");
            mp_line_mem(&l, e->req->action.data, e->req->action.len);
        }
        if (e->req->target.data != NULL) {
            mp_line_str(&l, covered ? " on " : " on target ");
            mp_line_mem(&l, e->req->target.data, e->req->target.len);
        }
        mp_out_line(out, &l);
    }
}

static void
mp_eval_init(mp_eval_t *e, const mim_policy_t *p,
    const mim_policy_request_t *req)
{
    size_t  n = 0;

    memset(e, 0, sizeof(*e));
    e->p = p;
    e->req = req;
    if (req->action.data == NULL) {
        e->action = MP_ACT_OTHER;
        e->action_name = "";
        return;
    }
    e->action = mp_action_lookup(req->action.data, req->action.len);
    e->action_name = mp_odrl_local(req->action.data, req->action.len, &n);
    e->action_len = n;
    if (e->action_name == NULL) {
        e->action_name = req->action.data;
        e->action_len = req->action.len;
    }
}

int
mp_node_decide(const mim_policy_t *p, const mim_policy_request_t *req,
    int others_unknown, uint32_t idx)
{
    mp_eval_t  e;

    mp_eval_init(&e, p, req);
    e.others_unknown = others_unknown;
    return mp_node_holds(&e, idx, NULL, 0);
}

int
mp_rule_applies(const mim_policy_t *p, const mim_policy_request_t *req,
    const mp_rule_t *r)
{
    mp_eval_t  e;

    mp_eval_init(&e, p, req);
    return mp_action_matches(&e, r) && mp_party_target(&e, r, NULL);
}

mim_result_t
mim_policy_eval(const mim_policy_t *policy,
    const mim_policy_request_t *request, mim_policy_decision_t *decision,
    char *buf, size_t cap)
{
    mp_eval_t    e;
    mp_out_t     out;
    mp_line_t    l;
    const char  *what;

    if (decision == NULL) {
        return mim_result_err(MIM_ERR_INVALID, "no decision");
    }
    decision->effect = MIM_POLICY_DENY;
    decision->rule = NULL;
    decision->label = NULL;
    decision->reasons_len = 0;
    decision->truncated = 0;
    if (buf == NULL || cap < 64) {
        return mim_result_err(MIM_ERR_INVALID, "reasons buffer smaller than "
                              "64 bytes");
    }
    mp_out_init(&out, buf, cap);
    if (policy == NULL || request == NULL || request->action.data == NULL
        || request->action.len == 0)
    {
        what = policy == NULL ? "no policy"
               : request == NULL ? "no request" : "no action in the request";
        l.len = 0;
        l.cut = 0;
        mp_line_str(&l, what);
        mp_out_line(&out, &l);
        decision->reasons_len = mp_out_finish(&out);
        return mim_result_err(MIM_ERR_INVALID, "%s", what);
    }

    mp_eval_init(&e, policy, request);
    mp_decide(&e, &out, decision);
    decision->reasons_len = mp_out_finish(&out);
    decision->truncated = out.truncated;
    return mim_result_ok();
}
