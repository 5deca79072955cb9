/*
 * mim_policy_ngsild.c - NGSI-LD awareness of the ODRL engine
 * (docs/ngsild.md): what a permitted request may see of an NGSI-LD
 * broker's answer, and the names a request asks for.
 *
 * The scope of a permit is found by asking the policy itself, not by
 * reading its constraints' shapes: a constraint on entity types can only
 * tell apart the values its rules name, so every type falls in one of a
 * few classes (each value named, plus "any other"), and deciding the
 * rule once per class says exactly which types it covers.  Likewise for
 * attributes.  The other left operands keep the request's values, so
 * "or [dateTime before X, entityType eq A]" covers every type until X
 * and only A afterwards.
 */
#include <stdlib.h>
#include <string.h>

#include "mim_policy_int.h"

#define NG_MAX_NAMED   255      /* distinct values named, per dimension */

#define NG_TYPES       1        /* a constraint looks at entity types */
#define NG_ATTRS       2        /* ... at attributes */

/* the classes of one dimension: the values named, then "other" */
typedef struct {
    mim_str_t   v[NG_MAX_NAMED + 1];
    size_t      n;              /* named; v[n] stands for all the rest */
    char        other[16];
} ng_dim_t;

typedef struct {
    const mim_policy_t          *p;
    const mim_policy_request_t  *req;      /* NULL: not known */
    mim_policy_request_t         q;        /* req asking for one type and
                                              one attribute */
    ng_dim_t                     types;
    ng_dim_t                     attrs;
    size_t                       nt, na;   /* classes, "other" included */
} ng_t;


/* ---- the values the rules name ---- */

static int
ng_dim_add(ng_dim_t *d, const char *s, size_t len)
{
    size_t  i;

    for (i = 0; i < d->n; i++) {
        if (d->v[i].len == len && memcmp(d->v[i].data, s, len) == 0) {
            return 0;
        }
    }
    if (d->n == NG_MAX_NAMED) {
        return -1;
    }
    d->v[d->n].data = s;
    d->v[d->n].len = len;
    d->n++;
    return 0;
}

/* "other" must differ from every named value: a control character no
   broker uses in a name, changed until it is unused */
static void
ng_dim_finish(ng_dim_t *d)
{
    size_t  i, len = 8;
    int     clash;

    memcpy(d->other, "\x01other\x01", len);
    do {
        clash = 0;
        for (i = 0; i < d->n && !clash; i++) {
            clash = d->v[i].len == len
                    && memcmp(d->v[i].data, d->other, len) == 0;
        }
        if (clash) {
            d->other[len - 1]++;
        }
    } while (clash);
    d->v[d->n].data = d->other;
    d->v[d->n].len = len;
}

/* NG_TYPES | NG_ATTRS: what a constraint (and those inside it) looks at */
static unsigned
ng_node_dims(const mim_policy_t *p, uint32_t idx, int depth)
{
    const mp_node_t  *node = &p->nodes[idx];
    unsigned          dims = 0;
    uint32_t          i;

    if (node->type == MP_N_ATOM) {
        return node->lop == MP_LOP_NGSILD_TYPE ? NG_TYPES
               : node->lop == MP_LOP_NGSILD_ATTR ? NG_ATTRS : 0;
    }
    if (depth > MP_MAX_DEPTH + 1) {
        return 0;
    }
    for (i = 0; i < node->n; i++) {
        dims |= ng_node_dims(p, node->first + i, depth + 1);
    }
    return dims;
}

static int
ng_node_collect(ng_t *g, uint32_t idx, int depth)
{
    const mim_policy_t  *p = g->p;
    const mp_node_t     *node = &p->nodes[idx];
    const mp_value_t    *v;
    ng_dim_t            *d;
    uint32_t             i;

    if (node->type != MP_N_ATOM) {
        if (depth > MP_MAX_DEPTH + 1) {
            return 0;
        }
        for (i = 0; i < node->n; i++) {
            if (ng_node_collect(g, node->first + i, depth + 1) != 0) {
                return -1;
            }
        }
        return 0;
    }
    if (!mp_lop_ngsild(node->lop)) {
        return 0;
    }
    d = node->lop == MP_LOP_NGSILD_TYPE ? &g->types : &g->attrs;
    for (i = 0; i < node->n; i++) {
        v = &p->values[node->first + i];
        if (v->kind == MP_V_STR
            && ng_dim_add(d, p->arena + v->text.off, v->text.len) != 0)
        {
            return -1;
        }
    }
    return 0;
}

/* a rule's refinements and constraints, as one list of node indexes */
static uint32_t
ng_rule_node(const mp_rule_t *r, uint32_t i)
{
    return i < r->ref_n ? r->ref_first + i : r->cons_first + (i - r->ref_n);
}

static unsigned
ng_rule_dims(const mim_policy_t *p, const mp_rule_t *r)
{
    uint32_t  i;
    unsigned  dims = 0;

    for (i = 0; i < r->ref_n + r->cons_n; i++) {
        dims |= ng_node_dims(p, ng_rule_node(r, i), 0);
    }
    return dims;
}

static int
ng_rule_collect(ng_t *g, const mp_rule_t *r)
{
    uint32_t  i;

    for (i = 0; i < r->ref_n + r->cons_n; i++) {
        if (ng_node_collect(g, ng_rule_node(r, i), 0) != 0) {
            return -1;
        }
    }
    return 0;
}


/* ---- deciding a rule for one type class and one attribute class ---- */

/*
 * Whether a constraint's answer counts as holding.  MP_LATER is "not
 * known": at negotiation (request given) the engine lets a permission
 * through and not a prohibition; when the request is not known at all,
 * the narrower reading is the other way round.
 */
static int
ng_ok(const ng_t *g, int h, int permission)
{
    if (h == MP_LATER) {
        return permission ? g->req != NULL : g->req == NULL;
    }
    return h == MP_YES;
}

static int
ng_decide(ng_t *g, uint32_t idx, size_t t, size_t a, int permission)
{
    g->q.ngsild_types = &g->types.v[t];
    g->q.ngsild_types_n = 1;
    g->q.ngsild_attrs = &g->attrs.v[a];
    g->q.ngsild_attrs_n = 1;
    return ng_ok(g, mp_node_decide(g->p, &g->q, g->req == NULL, idx),
                 permission);
}

/*
 * rel[t * na + a] = 1 when rule r's conditions hold for type class t and
 * attribute class a.  Constraints that look at one dimension are decided
 * once per class of it; those that look at both, per pair.  A
 * permission's constraints that look at neither held when it decided
 * (they are skipped: with the request unknown they could not be decided
 * again).  tok and aok: scratch of nt and na bytes.
 */
static void
ng_relation(ng_t *g, const mp_rule_t *r, int permission, uint8_t *rel,
    uint8_t *tok, uint8_t *aok)
{
    uint32_t  i, idx, nodes = r->ref_n + r->cons_n;
    unsigned  dims;
    size_t    t, a;
    int       base = 1, mixed = 0;

    memset(tok, 1, g->nt);
    memset(aok, 1, g->na);
    for (i = 0; i < nodes; i++) {
        idx = ng_rule_node(r, i);
        dims = ng_node_dims(g->p, idx, 0);
        if (dims == 0) {
            if (!permission) {
                base &= ng_decide(g, idx, g->types.n, g->attrs.n, 0);
            }
        } else if (dims == NG_TYPES) {
            for (t = 0; t < g->nt; t++) {
                tok[t] &= ng_decide(g, idx, t, g->attrs.n, permission);
            }
        } else if (dims == NG_ATTRS) {
            for (a = 0; a < g->na; a++) {
                aok[a] &= ng_decide(g, idx, g->types.n, a, permission);
            }
        } else {
            mixed = 1;
        }
    }
    for (t = 0; t < g->nt; t++) {
        for (a = 0; a < g->na; a++) {
            rel[t * g->na + a] = (uint8_t) (base && tok[t] && aok[a]);
        }
    }
    if (!mixed) {
        return;
    }
    for (i = 0; i < nodes; i++) {
        idx = ng_rule_node(r, i);
        if (ng_node_dims(g->p, idx, 0) != (NG_TYPES | NG_ATTRS)) {
            continue;
        }
        for (t = 0; t < g->nt; t++) {
            for (a = 0; a < g->na; a++) {
                if (rel[t * g->na + a]) {
                    rel[t * g->na + a] = (uint8_t) ng_decide(g, idx, t, a,
                                                             permission);
                }
            }
        }
    }
}


/* ---- the rules involved ---- */

static const mp_rule_t *
ng_grant(const mim_policy_t *p, const mim_policy_decision_t *d)
{
    const mp_rule_t  *r;
    size_t            i;

    if (d->label == NULL) {
        return NULL;
    }
    for (i = 0; i < p->nrules; i++) {
        r = &p->rules[i];
        if (r->kind == MP_R_PERMISSION && r->place.off != MP_NONE
            && p->arena + r->place.off == d->label)
        {
            return r;
        }
    }
    return NULL;
}

/*
 * A prohibition narrows when it looks at types or attributes and is for
 * this request (any, when the request is not known).  Those that look at
 * neither were settled by the decision itself.  Under conflict perm the
 * permission overrides every prohibition: none narrows.
 */
static int
ng_prohibits(const mim_policy_t *p, const mim_policy_request_t *req,
    const mp_rule_t *r)
{
    return r->kind == MP_R_PROHIBITION
           && p->conflict != MP_CONFLICT_PERM
           && ng_rule_dims(p, r) != 0
           && (req == NULL || mp_rule_applies(p, req, r));
}

/* does anything narrow: most policies say nothing of NGSI-LD */
static int
ng_narrows(const mim_policy_t *p, const mim_policy_request_t *req,
    const mp_rule_t *grant)
{
    size_t  i;

    if (ng_rule_dims(p, grant) != 0) {
        return 1;
    }
    for (i = 0; i < p->nrules; i++) {
        if (ng_prohibits(p, req, &p->rules[i])) {
            return 1;
        }
    }
    return 0;
}


/* ---- the scope ---- */

/* one dimension's classes allowed -> an allow list, or "any" and a deny
   list; *used counts the entries of buf taken */
static int
ng_lists(const ng_dim_t *d, const uint8_t *ok, mim_str_t *buf, size_t cap,
    size_t *used, const mim_str_t **allow, size_t *allow_n,
    const mim_str_t **deny, size_t *deny_n)
{
    mim_str_t  *list = buf + *used;
    size_t      i, n = 0;
    int         other = ok[d->n];

    for (i = 0; i < d->n; i++) {
        if (ok[i] != other) {
            if (*used + n >= cap) {
                return -1;
            }
            list[n++] = d->v[i];
        }
    }
    *used += n;
    if (other) {
        *deny = n > 0 ? list : NULL;
        *deny_n = n;
    } else {
        *allow = list;
        *allow_n = n;
    }
    return 0;
}

/*
 * From what the permission allows (show[t * na + a]) and what the
 * prohibitions forbid (ban[...]), the product of a type set and an
 * attribute set inside it: the types with something to show, the
 * attributes shown for all of those.  A type every attribute of which is
 * forbidden goes; for the others the forbidden attributes go.
 */
static void
ng_product(const ng_t *g, const uint8_t *show, const uint8_t *ban,
    uint8_t *tok, uint8_t *aok)
{
    size_t  t, a, nt = g->nt, na = g->na;
    int     any, all;

    for (t = 0; t < nt; t++) {
        for (any = 0, a = 0; a < na && !any; a++) {
            any = show[t * na + a];
        }
        for (all = 1, a = 0; a < na && all; a++) {
            all = ban[t * na + a];
        }
        tok[t] = (uint8_t) (any && !all);
    }
    for (a = 0; a < na; a++) {
        aok[a] = 1;
        for (t = 0; t < nt && aok[a]; t++) {
            if (tok[t] && (!show[t * na + a] || ban[t * na + a])) {
                aok[a] = 0;
            }
        }
    }
}

static mim_result_t
ng_compute(ng_t *g, const mp_rule_t *grant,
    mim_policy_ngsild_scope_t *scope, mim_str_t *buf, size_t cap)
{
    const mim_policy_t  *p = g->p;
    size_t               i, c, cells = g->nt * g->na, used = 0;
    uint8_t             *show, *ban, *rel, tok[NG_MAX_NAMED + 1],
                         aok[NG_MAX_NAMED + 1];
    int                  rc;

    show = malloc(3 * cells);
    if (show == NULL) {
        return mim_result_err(MIM_ERR_NOMEM, "out of memory");
    }
    ban = show + cells;
    rel = ban + cells;
    memset(ban, 0, cells);
    ng_relation(g, grant, 1, show, tok, aok);
    for (i = 0; i < p->nrules; i++) {
        if (ng_prohibits(p, g->req, &p->rules[i])) {
            ng_relation(g, &p->rules[i], 0, rel, tok, aok);
            for (c = 0; c < cells; c++) {
                ban[c] |= rel[c];
            }
        }
    }
    ng_product(g, show, ban, tok, aok);
    free(show);

    rc = ng_lists(&g->types, tok, buf, cap, &used, &scope->types,
                  &scope->types_n, &scope->deny_types, &scope->deny_types_n);
    if (rc == 0) {
        rc = ng_lists(&g->attrs, aok, buf, cap, &used, &scope->attrs,
                      &scope->attrs_n, &scope->deny_attrs,
                      &scope->deny_attrs_n);
    }
    if (rc != 0) {
        return mim_result_err(MIM_ERR_LIMIT, "the scope needs more than %zu "
                              "entries", cap);
    }
    return mim_result_ok();
}

mim_result_t
mim_policy_ngsild_scope(const mim_policy_t *policy,
    const mim_policy_request_t *request, const mim_policy_decision_t *d,
    mim_policy_ngsild_scope_t *scope, mim_str_t *buf, size_t cap)
{
    const mp_rule_t  *grant;
    mim_result_t      res;
    ng_t             *g;
    size_t            i;

    if (policy == NULL || d == NULL || scope == NULL || buf == NULL) {
        return mim_result_err(MIM_ERR_INVALID, "missing argument");
    }
    memset(scope, 0, sizeof(*scope));
    if (d->effect != MIM_POLICY_PERMIT) {
        return mim_result_err(MIM_ERR_INVALID, "not a permit decision");
    }
    grant = ng_grant(policy, d);
    if (grant == NULL) {
        return mim_result_err(MIM_ERR_INVALID, "the deciding rule is not a "
                              "permission of this policy");
    }
    if (!ng_narrows(policy, request, grant)) {
        return mim_result_ok();             /* anything */
    }

    g = calloc(1, sizeof(ng_t));
    if (g == NULL) {
        return mim_result_err(MIM_ERR_NOMEM, "out of memory");
    }
    g->p = policy;
    g->req = request;
    if (request != NULL) {
        g->q = *request;
    }

    res = mim_result_ok();
    if (ng_rule_collect(g, grant) != 0) {
        res = mim_result_err(MIM_ERR_LIMIT, "more than %d entity types or "
                             "attributes named", NG_MAX_NAMED);
    }
    for (i = 0; mim_ok(res) && i < policy->nrules; i++) {
        if (ng_prohibits(policy, request, &policy->rules[i])
            && ng_rule_collect(g, &policy->rules[i]) != 0)
        {
            res = mim_result_err(MIM_ERR_LIMIT, "more than %d entity types "
                                 "or attributes named", NG_MAX_NAMED);
        }
    }
    if (mim_ok(res)) {
        ng_dim_finish(&g->types);
        ng_dim_finish(&g->attrs);
        g->nt = g->types.n + 1;
        g->na = g->attrs.n + 1;
        res = ng_compute(g, grant, scope, buf, cap);
    }
    free(g);
    if (!mim_ok(res)) {
        memset(scope, 0, sizeof(*scope));
    }
    return res;
}

int
mim_policy_ngsild_scope_narrowed(const mim_policy_ngsild_scope_t *scope)
{
    return scope != NULL
           && (scope->types != NULL || scope->deny_types_n > 0
               || scope->attrs != NULL || scope->deny_attrs_n > 0);
}


/* ---- the names a request asks for ---- */

static void
ng_name(mim_str_t *out, size_t cap, size_t *n, const char *s, size_t len)
{
    if (len == 0) {
        return;
    }
    if (*n < cap) {
        out[*n].data = s;
        out[*n].len = len;
    }
    (*n)++;
}

size_t
mim_policy_ngsild_names(const char *s, size_t len, mim_str_t *out,
    size_t cap)
{
    size_t  i, start, n = 0;

    for (i = 0; i < len; /* void */) {
        while (i < len && strchr(",;|() \t", s[i]) != NULL && s[i] != '\0') {
            i++;
        }
        start = i;
        while (i < len && (s[i] == '\0' || strchr(",;|() \t", s[i]) == NULL))
        {
            i++;
        }
        ng_name(out, cap, &n, s + start, i - start);
    }
    return n;
}

/*
 * q = term *(";" / "|" term), parentheses group terms, a term is an
 * attribute path, optionally an operator (== != > >= < <= ~= !~=) and a
 * value; only quoted values may hold ";" or "|".
 */
size_t
mim_policy_ngsild_q_attrs(const char *q, size_t len, mim_str_t *out,
    size_t cap)
{
    size_t  i = 0, start, n = 0;

    while (i < len) {
        while (i < len && (q[i] == '(' || q[i] == ')' || q[i] == ';'
                           || q[i] == '|' || q[i] == ' ' || q[i] == '\t'))
        {
            i++;
        }
        start = i;
        while (i < len && q[i] != '\0'
               && strchr("=!<>~;|()[.\" \t", q[i]) == NULL)
        {
            i++;
        }
        ng_name(out, cap, &n, q + start, i - start);
        /* the rest of the term */
        while (i < len && q[i] != ';' && q[i] != '|') {
            if (q[i++] != '"') {
                continue;
            }
            while (i < len && q[i] != '"') {
                i += (q[i] == '\\') ? 2 : 1;
            }
            i++;
        }
    }
    return n;
}
