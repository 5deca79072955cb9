/*
 * test_policy_ngsild.c - NGSI-LD awareness of the ODRL engine
 * (policies/mim_policy_ngsild.c, mim_policy_ngsild_filter.c,
 * docs/ngsild.md): the left operands urn:mim:ngsild:entityType and
 * urn:mim:ngsild:attribute in decisions, the scope of a permit, the body
 * filter, and the names a request asks for.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "mim_policy.h"

#define TYPE_OP  "urn:mim:ngsild:entityType"
#define ATTR_OP  "urn:mim:ngsild:attribute"

/* ---- helpers ---- */

static mim_str_t
s_(const char *s)
{
    mim_str_t  v = { s, s != NULL ? strlen(s) : 0 };
    return v;
}

typedef struct {
    mim_policy_request_t  req;
    mim_str_t             types[8];
    mim_str_t             attrs[8];
} rq_t;

static void
rq_init(rq_t *q, const char *action)
{
    memset(q, 0, sizeof(*q));
    q->req.action = s_(action);
    q->req.target = s_("urn:t");
    q->req.has_date_time = 1;
    q->req.date_time = 1778000000;         /* 2026-05-05T16:53:20Z */
}

static void
rq_type(rq_t *q, const char *t)
{
    q->types[q->req.ngsild_types_n++] = s_(t);
    q->req.ngsild_types = q->types;
}

static void
rq_attr(rq_t *q, const char *a)
{
    q->attrs[q->req.ngsild_attrs_n++] = s_(a);
    q->req.ngsild_attrs = q->attrs;
}

static mim_policy_t *
load(const char *json)
{
    mim_policy_t  *p = NULL;
    mim_result_t   r;

    r = mim_policy_parse(&p, json, strlen(json));
    cr_assert(mim_ok(r), "%s\n%s", r.msg, json);
    return p;
}

static char  reasons[4096];

static mim_policy_decision_t
decide(const mim_policy_t *p, const rq_t *q)
{
    mim_policy_decision_t  d;
    mim_result_t           r;

    r = mim_policy_eval(p, &q->req, &d, reasons, sizeof(reasons));
    cr_assert(mim_ok(r), "%s", r.msg);
    return d;
}

/* a Set whose one permission (read on urn:t) has these constraints,
   and these prohibitions */
static char *
policy_json(const char *constraints, const char *prohibitions,
    const char *conflict)
{
    static char  buf[8192];

    snprintf(buf, sizeof(buf),
             "{\"@context\":\"http://www.w3.org/ns/odrl.jsonld\","
             "\"@type\":\"Set\",\"uid\":\"urn:p\",%s%s%s"
             "\"permission\":[{\"uid\":\"urn:p:read\",\"target\":\"urn:t\","
             "\"action\":\"read\",\"constraint\":[%s]}]"
             "%s%s%s}",
             conflict ? "\"conflict\":\"" : "", conflict ? conflict : "",
             conflict ? "\"," : "", constraints,
             prohibitions ? ",\"prohibition\":[" : "",
             prohibitions ? prohibitions : "", prohibitions ? "]" : "");
    return buf;
}

/* an atomic constraint; the text lives until 8 more are made */
static char *
atom(const char *lop, const char *op, const char *ro)
{
    static char  ring[8][8192];
    static int   next;
    char        *s = ring[next++ % 8];

    snprintf(s, sizeof(ring[0]), "{\"leftOperand\":\"%s\","
             "\"operator\":\"%s\",\"rightOperand\":%s}", lop, op, ro);
    return s;
}

static size_t
list_text(char *out, size_t cap, const char *name, const mim_str_t *list,
    size_t n, int star)
{
    size_t  i, k;

    k = snprintf(out, cap, "%s=", name);
    if (list == NULL && star) {
        return k + snprintf(out + k, cap - k, "*");
    }
    k += snprintf(out + k, cap - k, "[");
    for (i = 0; i < n; i++) {
        k += snprintf(out + k, cap - k, "%s%.*s", i ? "," : "",
                      (int) list[i].len, list[i].data);
    }
    return k + snprintf(out + k, cap - k, "]");
}

/* the scope of a permit, as a string: "types=[A,B] deny_types=[]
   attrs=* deny_attrs=[x]" */
static const char *
scope_text(const mim_policy_t *p, const mim_policy_request_t *req,
    const mim_policy_decision_t *d)
{
    static char                 out[1024];
    mim_str_t                   buf[MIM_POLICY_NGSILD_SCOPE_MAX];
    mim_policy_ngsild_scope_t   sc;
    mim_result_t                r;
    size_t                      n;

    r = mim_policy_ngsild_scope(p, req, d, &sc, buf,
                                MIM_POLICY_NGSILD_SCOPE_MAX);
    cr_assert(mim_ok(r), "%s", r.msg);
    n = list_text(out, sizeof(out), "types", sc.types, sc.types_n, 1);
    n += list_text(out + n, sizeof(out) - n, " deny_types", sc.deny_types,
                   sc.deny_types_n, 0);
    n += list_text(out + n, sizeof(out) - n, " attrs", sc.attrs, sc.attrs_n,
                   1);
    list_text(out + n, sizeof(out) - n, " deny_attrs", sc.deny_attrs,
              sc.deny_attrs_n, 0);
    return out;
}

#define ANY_SCOPE  "types=* deny_types=[] attrs=* deny_attrs=[]"

/* decide q against the policy (must permit) and give its scope */
static const char *
permit_scope(const char *json, rq_t *q, int with_request)
{
    mim_policy_t           *p = load(json);
    mim_policy_decision_t   d = decide(p, q);
    static char             copy[1024];

    cr_assert_eq(d.effect, MIM_POLICY_PERMIT, "%s", reasons);
    snprintf(copy, sizeof(copy), "%s",
             scope_text(p, with_request ? &q->req : NULL, &d));
    mim_policy_free(p);
    return copy;
}


/* ---- decisions ---- */

Test(ngsild_eval, types_asked_must_all_be_allowed)
{
    mim_policy_t  *p;
    rq_t           q;

    p = load(policy_json(atom(TYPE_OP, "isAnyOf",
                              "[\"ParkingSpot\",\"AirQualityObserved\"]"),
                         NULL, NULL));
    rq_init(&q, "read");
    rq_type(&q, "ParkingSpot");
    cr_assert_eq(decide(p, &q).effect, MIM_POLICY_PERMIT, "%s", reasons);

    rq_init(&q, "read");
    rq_type(&q, "Person");
    cr_assert_eq(decide(p, &q).effect, MIM_POLICY_DENY);
    cr_assert(strstr(reasons, "urn:mim:ngsild:entityType isAnyOf") != NULL,
              "%s", reasons);
    cr_assert(strstr(reasons, "is Person") != NULL, "%s", reasons);

    /* each asked value must satisfy, as purposes */
    rq_init(&q, "read");
    rq_type(&q, "ParkingSpot");
    rq_type(&q, "Person");
    cr_assert_eq(decide(p, &q).effect, MIM_POLICY_DENY);

    /* none asked: the permission holds, the filter narrows */
    rq_init(&q, "read");
    cr_assert_eq(decide(p, &q).effect, MIM_POLICY_PERMIT, "%s", reasons);
    mim_policy_free(p);
}

Test(ngsild_eval, attribute_prohibition_holds_only_when_asked)
{
    mim_policy_t  *p;
    rq_t           q;

    p = load("{\"@type\":\"Set\",\"uid\":\"urn:p\",\"permission\":[{"
             "\"target\":\"urn:t\",\"action\":\"read\"}],\"prohibition\":[{"
             "\"uid\":\"urn:no-pm25\",\"target\":\"urn:t\",\"action\":\"read\","
             "\"constraint\":[{\"leftOperand\":\"" ATTR_OP "\","
             "\"operator\":\"eq\",\"rightOperand\":\"PM25\"}]}]}");
    rq_init(&q, "read");
    rq_attr(&q, "PM25");
    cr_assert_eq(decide(p, &q).effect, MIM_POLICY_DENY);
    cr_assert(strstr(reasons, "prohibits read") != NULL, "%s", reasons);

    rq_init(&q, "read");
    cr_assert_eq(decide(p, &q).effect, MIM_POLICY_PERMIT, "%s", reasons);

    rq_init(&q, "read");
    rq_attr(&q, "NO2");
    cr_assert_eq(decide(p, &q).effect, MIM_POLICY_PERMIT, "%s", reasons);
    mim_policy_free(p);
}

Test(ngsild_eval, attribute_deny_list_in_permission)
{
    mim_policy_t  *p;
    rq_t           q;

    p = load(policy_json(atom(ATTR_OP, "isNoneOf", "[\"PM25\",\"PM10\"]"),
                         NULL, NULL));
    rq_init(&q, "read");
    rq_attr(&q, "NO2");
    cr_assert_eq(decide(p, &q).effect, MIM_POLICY_PERMIT, "%s", reasons);
    rq_attr(&q, "PM10");
    cr_assert_eq(decide(p, &q).effect, MIM_POLICY_DENY);
    mim_policy_free(p);
}

Test(ngsild_eval, prefix_declared_inline_reads_as_the_urn)
{
    mim_policy_t  *p;
    rq_t           q;

    p = load("{\"@context\":[\"http://www.w3.org/ns/odrl.jsonld\","
             "{\"mimld\":\"urn:mim:ngsild:\"}],\"@type\":\"Set\","
             "\"permission\":[{\"target\":\"urn:t\",\"action\":\"read\","
             "\"constraint\":[{\"leftOperand\":\"mimld:entityType\","
             "\"operator\":\"eq\",\"rightOperand\":\"ParkingSpot\"}]}]}");
    cr_assert_eq(mim_policy_warning_count(p), 0);
    rq_init(&q, "read");
    rq_type(&q, "ParkingSpot");
    cr_assert_eq(decide(p, &q).effect, MIM_POLICY_PERMIT, "%s", reasons);
    rq_init(&q, "read");
    rq_type(&q, "Person");
    cr_assert_eq(decide(p, &q).effect, MIM_POLICY_DENY);
    mim_policy_free(p);
}

Test(ngsild_eval, undeclared_short_forms_are_unknown_operands)
{
    mim_policy_t  *p;

    p = load(policy_json(atom("ngsild:entityType", "eq", "\"A\""), NULL,
                         NULL));
    cr_assert_eq(mim_policy_warning_count(p), 1);
    cr_assert(strstr(mim_policy_warning(p, 0), "unknown left operand")
              != NULL, "%s", mim_policy_warning(p, 0));
    mim_policy_free(p);
}

Test(ngsild_eval, wrong_kind_of_value_never_holds)
{
    mim_policy_t  *p;
    rq_t           q;

    p = load(policy_json(atom(TYPE_OP, "eq", "3"), NULL, NULL));
    cr_assert_eq(mim_policy_warning_count(p), 1);
    rq_init(&q, "read");
    rq_type(&q, "3");
    cr_assert_eq(decide(p, &q).effect, MIM_POLICY_DENY);
    mim_policy_free(p);

    p = load(policy_json(atom(ATTR_OP, "lt", "\"x\""), NULL, NULL));
    cr_assert_eq(mim_policy_warning_count(p), 1);
    mim_policy_free(p);
}


/* ---- the scope of a permit ---- */

Test(ngsild_scope, no_ngsild_constraint_means_anything)
{
    rq_t  q;

    rq_init(&q, "read");
    cr_assert_str_eq(permit_scope(policy_json("", NULL, NULL), &q, 1),
                     ANY_SCOPE);
}

Test(ngsild_scope, allow_lists_from_eq_and_isAnyOf)
{
    char  c[1024];
    rq_t  q;

    snprintf(c, sizeof(c), "%s,%s",
             atom(TYPE_OP, "isAnyOf", "[\"ParkingSpot\",\"Street\"]"),
             atom(ATTR_OP, "eq", "\"status\""));
    rq_init(&q, "read");
    cr_assert_str_eq(permit_scope(policy_json(c, NULL, NULL), &q, 1),
                     "types=[ParkingSpot,Street] deny_types=[] "
                     "attrs=[status] deny_attrs=[]");
}

Test(ngsild_scope, deny_lists_from_neq_and_isNoneOf)
{
    char  c[1024];
    rq_t  q;

    snprintf(c, sizeof(c), "%s,%s", atom(TYPE_OP, "neq", "\"Person\""),
             atom(ATTR_OP, "isNoneOf", "[\"PM25\",\"PM10\"]"));
    rq_init(&q, "read");
    cr_assert_str_eq(permit_scope(policy_json(c, NULL, NULL), &q, 1),
                     "types=* deny_types=[Person] attrs=* "
                     "deny_attrs=[PM25,PM10]");
}

Test(ngsild_scope, both_constraints_on_one_dimension_intersect)
{
    char  c[1024];
    rq_t  q;

    snprintf(c, sizeof(c), "%s,%s",
             atom(ATTR_OP, "isAnyOf", "[\"a\",\"b\",\"c\"]"),
             atom(ATTR_OP, "neq", "\"b\""));
    rq_init(&q, "read");
    cr_assert_str_eq(permit_scope(policy_json(c, NULL, NULL), &q, 1),
                     "types=* deny_types=[] attrs=[a,c] deny_attrs=[]");
}

Test(ngsild_scope, prohibitions_add_denials)
{
    char  c[2048];
    rq_t  q;

    snprintf(c, sizeof(c),
             "{\"target\":\"urn:t\",\"action\":\"read\",\"constraint\":[%s]},"
             "{\"target\":\"urn:t\",\"action\":\"use\",\"constraint\":[%s]},"
             "{\"target\":\"urn:t\",\"action\":\"modify\",\"constraint\":[%s]},"
             "{\"target\":\"urn:other\",\"action\":\"read\","
             "\"constraint\":[%s]}",
             atom(ATTR_OP, "eq", "\"PM25\""),
             atom(TYPE_OP, "eq", "\"Person\""),
             atom(ATTR_OP, "eq", "\"name\""),
             atom(ATTR_OP, "eq", "\"status\""));
    rq_init(&q, "read");
    /* modify and another target are not what this request does */
    cr_assert_str_eq(permit_scope(policy_json("", c, NULL), &q, 1),
                     "types=* deny_types=[Person] attrs=* deny_attrs=[PM25]");
    /* the request unknown: every prohibition is taken to apply */
    cr_assert_str_eq(permit_scope(policy_json("", c, NULL), &q, 0),
                     "types=* deny_types=[Person] attrs=* "
                     "deny_attrs=[PM25,name,status]");
    /* conflict perm: the permission overrides them */
    cr_assert_str_eq(permit_scope(policy_json("", c, "perm"), &q, 1),
                     ANY_SCOPE);
}

Test(ngsild_scope, prohibition_of_attributes_of_one_type)
{
    char  c[2048];
    rq_t  q;

    snprintf(c, sizeof(c),
             "{\"target\":\"urn:t\",\"action\":\"read\",\"constraint\":"
             "[%s,%s]}",
             atom(TYPE_OP, "eq", "\"Person\""),
             atom(ATTR_OP, "eq", "\"name\""));
    rq_init(&q, "read");
    /* the attribute goes for every type (narrower than asked) */
    cr_assert_str_eq(permit_scope(policy_json("", c, NULL), &q, 1),
                     "types=* deny_types=[] attrs=* deny_attrs=[name]");
}

Test(ngsild_scope, logical_constraints_use_the_request_values)
{
    char  c[2048];
    rq_t  q;

    /* before the date every type, after it only ParkingSpot */
    snprintf(c, sizeof(c), "{\"or\":[%s,%s]}",
             atom("dateTime", "lt", "\"2030-01-01T00:00:00Z\""),
             atom(TYPE_OP, "eq", "\"ParkingSpot\""));
    rq_init(&q, "read");
    cr_assert_str_eq(permit_scope(policy_json(c, NULL, NULL), &q, 1),
                     ANY_SCOPE);
    /* the request unknown: the narrower reading */
    cr_assert_str_eq(permit_scope(policy_json(c, NULL, NULL), &q, 0),
                     "types=[ParkingSpot] deny_types=[] attrs=* "
                     "deny_attrs=[]");

    snprintf(c, sizeof(c), "{\"or\":[%s,%s]}",
             atom("dateTime", "lt", "\"2020-01-01T00:00:00Z\""),
             atom(TYPE_OP, "eq", "\"ParkingSpot\""));
    cr_assert_str_eq(permit_scope(policy_json(c, NULL, NULL), &q, 1),
                     "types=[ParkingSpot] deny_types=[] attrs=* "
                     "deny_attrs=[]");
}

Test(ngsild_scope, xone_is_decided_exactly)
{
    char  c[2048];
    rq_t  q;

    /* xone [dateTime now-ish (true), type eq A]: A makes two hold */
    snprintf(c, sizeof(c), "{\"xone\":[%s,%s]}",
             atom("dateTime", "lt", "\"2030-01-01T00:00:00Z\""),
             atom(TYPE_OP, "eq", "\"A\""));
    rq_init(&q, "read");
    cr_assert_str_eq(permit_scope(policy_json(c, NULL, NULL), &q, 1),
                     "types=* deny_types=[A] attrs=* deny_attrs=[]");
}

Test(ngsild_scope, or_over_types_and_attributes_gives_a_narrower_product)
{
    char  c[2048];
    rq_t  q;

    /* (type A, any attribute) or (any type, attribute x): every type
       with x only, which that allows */
    snprintf(c, sizeof(c), "{\"or\":[%s,%s]}",
             atom(TYPE_OP, "eq", "\"A\""), atom(ATTR_OP, "eq", "\"x\""));
    rq_init(&q, "read");
    cr_assert_str_eq(permit_scope(policy_json(c, NULL, NULL), &q, 1),
                     "types=* deny_types=[] attrs=[x] deny_attrs=[]");

    /* (type A and attribute x) or (type B and attribute y) */
    snprintf(c, sizeof(c), "{\"or\":[{\"and\":[%s,%s]},{\"and\":[%s,%s]}]}",
             atom(TYPE_OP, "eq", "\"A\""), atom(ATTR_OP, "eq", "\"x\""),
             atom(TYPE_OP, "eq", "\"B\""), atom(ATTR_OP, "eq", "\"y\""));
    cr_assert_str_eq(permit_scope(policy_json(c, NULL, NULL), &q, 1),
                     "types=[A,B] deny_types=[] attrs=[] deny_attrs=[]");
}

Test(ngsild_scope, hasPart_covers_the_values_it_names)
{
    rq_t  q;

    rq_init(&q, "read");
    cr_assert_str_eq(permit_scope(policy_json(atom(TYPE_OP, "hasPart",
                                                   "\"A\""), NULL, NULL),
                                  &q, 1),
                     "types=[A] deny_types=[] attrs=* deny_attrs=[]");
}

Test(ngsild_scope, the_deciding_permission_counts)
{
    mim_policy_t           *p;
    mim_policy_decision_t   d;
    rq_t                    q;

    /* modify: everything; read: ParkingSpot only */
    p = load("{\"@type\":\"Set\",\"permission\":["
             "{\"target\":\"urn:t\",\"action\":\"modify\"},"
             "{\"target\":\"urn:t\",\"action\":\"read\",\"constraint\":[{"
             "\"leftOperand\":\"" TYPE_OP "\",\"operator\":\"eq\","
             "\"rightOperand\":\"ParkingSpot\"}]}]}");
    rq_init(&q, "read");
    d = decide(p, &q);
    cr_assert_eq(d.effect, MIM_POLICY_PERMIT);
    cr_assert_str_eq(d.label, "permission[1]");
    cr_assert_str_eq(scope_text(p, &q.req, &d),
                     "types=[ParkingSpot] deny_types=[] attrs=* "
                     "deny_attrs=[]");
    rq_init(&q, "modify");
    d = decide(p, &q);
    cr_assert_str_eq(scope_text(p, &q.req, &d), ANY_SCOPE);
    mim_policy_free(p);
}

Test(ngsild_scope, errors)
{
    mim_policy_t               *p, *other;
    mim_policy_decision_t       d;
    mim_policy_ngsild_scope_t   sc;
    mim_str_t                   buf[4];
    mim_result_t                r;
    rq_t                        q;

    p = load(policy_json(atom(ATTR_OP, "isAnyOf",
                              "[\"a\",\"b\",\"c\",\"d\",\"e\"]"),
                         NULL, NULL));
    other = load(policy_json("", NULL, NULL));
    rq_init(&q, "delete");
    d = decide(p, &q);
    r = mim_policy_ngsild_scope(p, &q.req, &d, &sc, buf, 4);
    cr_assert_eq(r.code, MIM_ERR_INVALID);

    rq_init(&q, "read");
    d = decide(p, &q);
    r = mim_policy_ngsild_scope(other, &q.req, &d, &sc, buf, 4);
    cr_assert_eq(r.code, MIM_ERR_INVALID, "%s", r.msg);
    r = mim_policy_ngsild_scope(p, &q.req, &d, &sc, buf, 4);
    cr_assert_eq(r.code, MIM_ERR_LIMIT, "%s", r.msg);
    cr_assert(!mim_policy_ngsild_scope_narrowed(&sc));
    mim_policy_free(p);
    mim_policy_free(other);
}

Test(ngsild_scope, too_many_named_values)
{
    char                       *json, *list;
    size_t                      i, n;
    mim_policy_t               *p;
    mim_policy_decision_t       d;
    mim_policy_ngsild_scope_t   sc;
    mim_str_t                   buf[MIM_POLICY_NGSILD_SCOPE_MAX];
    mim_result_t                r;
    rq_t                        q;

    list = malloc(8192);
    n = snprintf(list, 8192, "[");
    for (i = 0; i < 300; i++) {
        n += snprintf(list + n, 8192 - n, "%s\"t%zu\"", i ? "," : "", i);
    }
    snprintf(list + n, 8192 - n, "]");
    json = policy_json(atom(TYPE_OP, "isAnyOf", list), NULL, NULL);
    p = load(json);
    rq_init(&q, "read");
    d = decide(p, &q);
    r = mim_policy_ngsild_scope(p, &q.req, &d, &sc, buf,
                                MIM_POLICY_NGSILD_SCOPE_MAX);
    cr_assert_eq(r.code, MIM_ERR_LIMIT, "%s", r.msg);
    mim_policy_free(p);
    free(list);
}


/* ---- the body filter ---- */

typedef struct {
    mim_policy_ngsild_scope_t  sc;
    mim_str_t                  lists[4][8];
    char                       text[4][256];
} scope_t;

/* "A,B" -> a list; NULL -> none; "" -> an empty allow list */
static void
set_list(scope_t *s, int which, const char *csv, const mim_str_t **list,
    size_t *n)
{
    char  *copy, *tok, *save = NULL;

    *n = 0;
    *list = NULL;
    if (csv == NULL) {
        return;
    }
    *list = s->lists[which];
    copy = strcpy(s->text[which], csv);  /* the names point into it */
    for (tok = strtok_r(copy, ",", &save); tok != NULL;
         tok = strtok_r(NULL, ",", &save))
    {
        s->lists[which][(*n)++] = s_(tok);
    }
}

static void
scope_init(scope_t *s, const char *types, const char *deny_types,
    const char *attrs, const char *deny_attrs)
{
    memset(s, 0, sizeof(*s));
    set_list(s, 0, types, &s->sc.types, &s->sc.types_n);
    set_list(s, 1, deny_types, &s->sc.deny_types, &s->sc.deny_types_n);
    set_list(s, 2, attrs, &s->sc.attrs, &s->sc.attrs_n);
    set_list(s, 3, deny_attrs, &s->sc.deny_attrs, &s->sc.deny_attrs_n);
}

static char *
filter(const scope_t *s, const char *in, mim_policy_ngsild_filter_t *info)
{
    static char   out[8192];
    size_t        len = strlen(in), out_len = 12345;
    mim_result_t  r;

    r = mim_policy_ngsild_filter(&s->sc, in, len, out, &out_len, info);
    cr_assert(mim_ok(r), "%s", r.msg);
    cr_assert(out_len <= len);
    out[out_len] = '\0';
    return out;
}

#define CORE_CONTEXT \
    "\"https://uri.etsi.org/ngsi-ld/v1/ngsi-ld-core-context.jsonld\""

#define CTX  "\"@context\":" CORE_CONTEXT

#define PARKING \
    "{\"id\":\"urn:ngsi-ld:ParkingSpot:1\",\"type\":\"ParkingSpot\"," \
    "\"name\":{\"type\":\"Property\",\"value\":\"Calle 1\"}," \
    "\"location\":{\"type\":\"GeoProperty\",\"value\":{\"type\":\"Point\"," \
    "\"coordinates\":[-3.80750,43.46170e0]}}," \
    "\"status\":{\"type\":\"Property\",\"value\":\"free\"," \
    "\"observedAt\":\"2024-05-14T08:12:31Z\"}," CTX "}"

#define AIR \
    "{\"id\":\"urn:ngsi-ld:AirQualityObserved:1\"," \
    "\"type\":\"AirQualityObserved\"," \
    "\"NO2\":{\"type\":\"Property\",\"value\":22}," \
    "\"PM25\":{\"type\":\"Property\",\"value\":9.0}," CTX "}"

Test(ngsild_filter, attribute_allow_list_keeps_bytes)
{
    scope_t                     s;
    mim_policy_ngsild_filter_t  info;

    scope_init(&s, NULL, NULL, "location", NULL);
    cr_assert_str_eq(filter(&s, PARKING, &info),
                     "{\"id\":\"urn:ngsi-ld:ParkingSpot:1\","
                     "\"type\":\"ParkingSpot\","
                     "\"location\":{\"type\":\"GeoProperty\",\"value\":{"
                     "\"type\":\"Point\",\"coordinates\":[-3.80750,"
                     "43.46170e0]}}," CTX "}");
    cr_assert_eq(info.changed, 1);
    cr_assert_eq(info.attrs_removed, 2);
    cr_assert_eq(info.entities_removed, 0);
    cr_assert_eq(info.forbidden, 0);
}

Test(ngsild_filter, types_in_a_list)
{
    scope_t                     s;
    mim_policy_ngsild_filter_t  info;

    scope_init(&s, "AirQualityObserved", NULL, NULL, NULL);
    cr_assert_str_eq(filter(&s, "[" PARKING ",\n  " AIR "," PARKING "]",
                            &info),
                     "[" AIR "]");
    cr_assert_eq(info.entities_removed, 2);

    scope_init(&s, "", NULL, NULL, NULL);
    cr_assert_str_eq(filter(&s, "[" PARKING "," AIR "]", &info), "[]");

    scope_init(&s, NULL, "AirQualityObserved", NULL, NULL);
    cr_assert_str_eq(filter(&s, "[" AIR "," PARKING "," AIR "]", &info),
                     "[" PARKING "]");
}

Test(ngsild_filter, deny_lists_match_the_last_segment)
{
    scope_t                     s;
    mim_policy_ngsild_filter_t  info;

    scope_init(&s, NULL, NULL, NULL, "PM25,https://x.org/ns#name");
    cr_assert_str_eq(filter(&s,
                            "[{\"id\":\"urn:a\",\"type\":\"T\","
                            "\"https://smartdatamodels.org/PM25\":1,"
                            "\"name\":2,\"ex:PM25\":3,\"PM2\":4}]", &info),
                     "[{\"id\":\"urn:a\",\"type\":\"T\",\"PM2\":4}]");
    cr_assert_eq(info.attrs_removed, 3);

    /* allow lists are exact */
    scope_init(&s, "ParkingSpot", NULL, NULL, NULL);
    cr_assert_str_eq(filter(&s,
                            "[{\"id\":\"urn:a\",\"type\":"
                            "\"https://x.org/ParkingSpot\"}]", &info),
                     "[]");
    scope_init(&s, NULL, "ParkingSpot", NULL, NULL);
    cr_assert_str_eq(filter(&s,
                            "[{\"id\":\"urn:a\",\"type\":"
                            "\"https://x.org/ParkingSpot\"}]", &info),
                     "[]");
}

Test(ngsild_filter, single_entity_of_an_uncovered_type_is_forbidden)
{
    scope_t                     s;
    mim_policy_ngsild_filter_t  info;

    scope_init(&s, "AirQualityObserved", NULL, "NO2", NULL);
    cr_assert_str_eq(filter(&s, PARKING, &info), "");
    cr_assert_eq(info.forbidden, 1);
    cr_assert_str_eq(info.type, "ParkingSpot");

    cr_assert_str_eq(filter(&s, AIR, &info),
                     "{\"id\":\"urn:ngsi-ld:AirQualityObserved:1\","
                     "\"type\":\"AirQualityObserved\","
                     "\"NO2\":{\"type\":\"Property\",\"value\":22}," CTX "}");
    cr_assert_eq(info.forbidden, 0);

    /* no type at all */
    cr_assert_str_eq(filter(&s, "{\"id\":\"urn:a\"}", &info), "");
    cr_assert_eq(info.forbidden, 1);
    cr_assert_str_eq(info.type, "");
}

Test(ngsild_filter, key_values_and_concise_forms)
{
    scope_t                     s;
    mim_policy_ngsild_filter_t  info;

    scope_init(&s, NULL, NULL, NULL, "status");
    cr_assert_str_eq(filter(&s,
                            "[{\"id\":\"urn:p:1\",\"type\":\"ParkingSpot\","
                            "\"name\":\"Calle 1\",\"status\":\"free\","
                            "\"category\":[\"onStreet\"]},"
                            "{\"id\":\"urn:p:2\",\"type\":\"ParkingSpot\","
                            "\"status\":{\"value\":\"occupied\"}}]", &info),
                     "[{\"id\":\"urn:p:1\",\"type\":\"ParkingSpot\","
                     "\"name\":\"Calle 1\",\"category\":[\"onStreet\"]},"
                     "{\"id\":\"urn:p:2\",\"type\":\"ParkingSpot\"}]");
}

Test(ngsild_filter, unchanged_body_is_the_input)
{
    scope_t                     s;
    mim_policy_ngsild_filter_t  info;
    const char                 *in = " [ " AIR " ,\n " AIR " ]\n";

    scope_init(&s, "AirQualityObserved", NULL, NULL, "PM10");
    cr_assert_str_eq(filter(&s, in, &info), in);
    cr_assert_eq(info.changed, 0);

    /* not entities: left as they are */
    cr_assert_str_eq(filter(&s, " \"text\" ", &info), " \"text\" ");
    cr_assert_str_eq(filter(&s, "42", &info), "42");
    cr_assert_eq(info.changed, 0);
}

Test(ngsild_filter, in_place)
{
    scope_t                     s;
    mim_policy_ngsild_filter_t  info;
    char                        buf[4096];
    size_t                      len;
    mim_result_t                r;

    scope_init(&s, "AirQualityObserved", NULL, NULL, "PM25");
    len = snprintf(buf, sizeof(buf), "[ " PARKING " , " AIR " , " AIR " ]");
    r = mim_policy_ngsild_filter(&s.sc, buf, len, buf, &len, &info);
    cr_assert(mim_ok(r), "%s", r.msg);
    buf[len] = '\0';
    cr_assert_str_eq(buf,
                     "[{\"id\":\"urn:ngsi-ld:AirQualityObserved:1\","
                     "\"type\":\"AirQualityObserved\",\"NO2\":{\"type\":"
                     "\"Property\",\"value\":22}," CTX "},"
                     "{\"id\":\"urn:ngsi-ld:AirQualityObserved:1\","
                     "\"type\":\"AirQualityObserved\",\"NO2\":{\"type\":"
                     "\"Property\",\"value\":22}," CTX "}]");
}

Test(ngsild_filter, escaped_names_and_multiple_types)
{
    scope_t                     s;
    mim_policy_ngsild_filter_t  info;

    scope_init(&s, "A", NULL, NULL, "PM25");
    cr_assert_str_eq(filter(&s,
                            "[{\"id\":\"urn:a\",\"type\":\"\\u0041\","
                            "\"P\\u004d25\":1,\"x\":2},"
                            "{\"id\":\"urn:b\",\"type\":[\"A\",\"B\"]},"
                            "{\"id\":\"urn:c\",\"@type\":[\"A\"],\"y\":3},"
                            "{\"id\":\"urn:d\",\"type\":7},"
                            "{\"id\":\"urn:e\",\"type\":[]},"
                            "{\"id\":\"urn:f\"},"
                            "\"not an entity\",3,null]", &info),
                     "[{\"id\":\"urn:a\",\"type\":\"\\u0041\",\"x\":2},"
                     "{\"id\":\"urn:c\",\"@type\":[\"A\"],\"y\":3}]");
    cr_assert_eq(info.entities_removed, 7);

    /* types unrestricted: anything goes */
    scope_init(&s, NULL, NULL, NULL, "x");
    cr_assert_str_eq(filter(&s, "[{\"id\":\"urn:f\",\"x\":1},3]", &info),
                     "[{\"id\":\"urn:f\"}]");
}

Test(ngsild_filter, not_json)
{
    static const char *const  bad[] = {
        "", "   ", "[", "{", "[1,]", "{\"a\":1,}", "{\"a\" 1}", "[1 2]",
        "\"abc", "[\"\\x\"]", "[\"\\u12\"]", "[01]", "[1.]", "[-]",
        "[1e]", "[tru]", "[nul]", "{1:2}", "[1] x", "[\"a\tb\"]",
        "{\"id\":\"x\",\"type\":\"A\",\"z\":[}",
    };
    scope_t                     s;
    mim_policy_ngsild_filter_t  info;
    char                        out[64];
    size_t                      i, out_len;
    mim_result_t                r;

    scope_init(&s, "A", NULL, NULL, NULL);
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        r = mim_policy_ngsild_filter(&s.sc, bad[i], strlen(bad[i]), out,
                                     &out_len, &info);
        cr_assert_eq(r.code, MIM_ERR_INVALID, "%s: %s", bad[i], r.msg);
    }
}

Test(ngsild_filter, limits)
{
    scope_t                     s;
    mim_policy_ngsild_filter_t  info;
    char                       *in, *out;
    size_t                      i, len, out_len;
    mim_result_t                r;

    scope_init(&s, "A", NULL, NULL, NULL);
    len = 2000;
    in = malloc(len);
    out = malloc(len);
    for (i = 0; i < len; i++) {
        in[i] = i < len / 2 ? '[' : ']';
    }
    r = mim_policy_ngsild_filter(&s.sc, in, len, out, &out_len, &info);
    cr_assert_eq(r.code, MIM_ERR_LIMIT, "%s", r.msg);
    free(in);
    free(out);

    len = 5000 + 32;
    in = malloc(len);
    out = malloc(len);
    memset(in, 'a', len);
    memcpy(in, "[{\"", 3);
    memcpy(in + len - 7, "\":1}]  ", 7);
    r = mim_policy_ngsild_filter(&s.sc, in, len, out, &out_len, &info);
    cr_assert_eq(r.code, MIM_ERR_LIMIT, "%s", r.msg);
    free(in);
    free(out);
}

Test(ngsild_filter, long_uncovered_type_is_cut_in_the_message)
{
    scope_t                     s;
    mim_policy_ngsild_filter_t  info;
    char                        in[1024];

    scope_init(&s, "A", NULL, NULL, NULL);
    snprintf(in, sizeof(in), "{\"id\":\"urn:a\",\"type\":\"%0300d\"}", 7);
    filter(&s, in, &info);
    cr_assert_eq(info.forbidden, 1);
    cr_assert_eq(strlen(info.type), sizeof(info.type) - 1);
    cr_assert(strcmp(info.type + sizeof(info.type) - 4, "...") == 0);
}


/* ---- names in a request ---- */

static const char *
names_text(size_t (*fn)(const char *, size_t, mim_str_t *, size_t),
    const char *s, size_t cap)
{
    static char  out[512];
    mim_str_t    v[16];
    size_t       i, n, k = 0;

    n = fn(s, strlen(s), v, cap);
    k += snprintf(out, sizeof(out), "%zu:", n);
    for (i = 0; i < n && i < cap; i++) {
        k += snprintf(out + k, sizeof(out) - k, "%s%.*s", i ? "," : "",
                      (int) v[i].len, v[i].data);
    }
    return out;
}

Test(ngsild_names, type_and_attrs_lists)
{
    cr_assert_str_eq(names_text(mim_policy_ngsild_names, "A", 16), "1:A");
    cr_assert_str_eq(names_text(mim_policy_ngsild_names,
                                " A, B;(C|D) ,,", 16), "4:A,B,C,D");
    cr_assert_str_eq(names_text(mim_policy_ngsild_names, "", 16), "0:");
    cr_assert_str_eq(names_text(mim_policy_ngsild_names, "A,B,C", 2),
                     "3:A,B");
    cr_assert_str_eq(names_text(mim_policy_ngsild_names,
                                "https://x.org/T,urn:y", 16),
                     "2:https://x.org/T,urn:y");
}

Test(ngsild_names, q_attributes)
{
    cr_assert_str_eq(names_text(mim_policy_ngsild_q_attrs,
                                "PM25>10;(name==\"a;b|c\"|address.city=="
                                "\"x\")", 16),
                     "3:PM25,name,address");
    cr_assert_str_eq(names_text(mim_policy_ngsild_q_attrs,
                                "status;a[b]!=3|c~=\"x\\\"y;z\"|d", 16),
                     "4:status,a,c,d");
    cr_assert_str_eq(names_text(mim_policy_ngsild_q_attrs, "", 16), "0:");
    cr_assert_str_eq(names_text(mim_policy_ngsild_q_attrs, "x==\"open", 16),
                     "1:x");
}
