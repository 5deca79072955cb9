/*
 * test_policy_eval.c - decisions of the ODRL engine (policies/
 * mim_policy_eval.c) as docs/policies.md defines them: every operator
 * with every kind of value, logical constraints, conflict strategies, the
 * action hierarchy, duties, unknown terms; and the explanation buffer:
 * always valid JSON, truncated cleanly, written without any allocation.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>
#include <jansson.h>

#include "mim_policy.h"

/* ---- building requests ---- */

typedef struct {
    mim_policy_request_t  req;
    mim_str_t             purposes[8];
    mim_str_t             spatials[8];
    mim_str_t             values[4][8];
    mim_claim_t           claims[4];
} rq_t;

static mim_str_t
s_(const char *s)
{
    mim_str_t  v = { s, s != NULL ? strlen(s) : 0 };
    return v;
}

static void
rq_init(rq_t *q, const char *action)
{
    memset(q, 0, sizeof(*q));
    q->req.action = s_(action);
    q->req.purpose = q->purposes;
    q->req.spatial = q->spatials;
    q->req.claims = q->claims;
}

static void
rq_purpose(rq_t *q, const char *p)
{
    q->purposes[q->req.purpose_n++] = s_(p);
}

static void
rq_spatial(rq_t *q, const char *p)
{
    q->spatials[q->req.spatial_n++] = s_(p);
}

static void
rq_claim(rq_t *q, const char *name, const char *value)
{
    size_t  i;

    for (i = 0; i < q->req.claims_n; i++) {
        if (strcmp(q->claims[i].name.data, name) == 0) {
            break;
        }
    }
    if (i == q->req.claims_n) {
        q->claims[i].name = s_(name);
        q->claims[i].values = q->values[i];
        q->req.claims_n++;
    }
    q->values[i][q->claims[i].n++] = s_(value);
}

#define T0  1777629600      /* 2026-05-01T10:00:00Z */

/* ---- checking what eval writes ---- */

/* the reasons must be a JSON array of strings, NUL-terminated, of the
   length reported */
static void
check_reasons(const char *buf, size_t cap, const mim_policy_decision_t *d)
{
    json_t        *a;
    json_error_t   err;
    size_t         i;

    cr_assert_lt(d->reasons_len, cap);
    cr_assert_eq(buf[d->reasons_len], '\0');
    cr_assert_eq(strlen(buf), d->reasons_len);
    a = json_loads(buf, JSON_REJECT_DUPLICATES, &err);
    cr_assert_not_null(a, "not JSON (%s): %s", err.text, buf);
    cr_assert(json_is_array(a), "%s", buf);
    for (i = 0; i < json_array_size(a); i++) {
        cr_assert(json_is_string(json_array_get(a, i)), "%s", buf);
    }
    json_decref(a);
}

static mim_policy_t *
compile(const char *json)
{
    mim_policy_t  *p = NULL;
    mim_result_t   r = mim_policy_parse(&p, json, strlen(json));

    cr_assert(mim_ok(r), "parse failed: %s\n%s", r.msg, json);
    return p;
}

static mim_policy_decision_t
eval(const mim_policy_t *p, const rq_t *q, char *buf, size_t cap)
{
    mim_policy_decision_t  d;
    mim_result_t           r;

    memset(&d, 0x5a, sizeof(d));
    r = mim_policy_eval(p, &q->req, &d, buf, cap);
    cr_assert(mim_ok(r), "%s", r.msg);
    check_reasons(buf, cap, &d);
    cr_assert(d.effect == MIM_POLICY_PERMIT || d.effect == MIM_POLICY_DENY);
    return d;
}

/* one permission to read with one constraint; 1 when the request is
   permitted; the reasons in buf */
static int
holds_why(const char *lop, const char *op, const char *ro, const rq_t *q,
    char *buf, size_t cap)
{
    char                   json[2048];
    mim_policy_t          *p;
    mim_policy_decision_t  d;

    snprintf(json, sizeof(json),
             "{\"permission\": [{\"@id\": \"urn:r\", \"action\": \"read\","
             " \"constraint\": [{\"leftOperand\": \"%s\", \"operator\": "
             "\"%s\", \"rightOperand\": %s}]}]}", lop, op, ro);
    p = compile(json);
    d = eval(p, q, buf, cap);
    mim_policy_free(p);
    return d.effect == MIM_POLICY_PERMIT;
}

static int
holds(const char *lop, const char *op, const char *ro, const rq_t *q)
{
    char  buf[4096];

    return holds_why(lop, op, ro, q, buf, sizeof(buf));
}

typedef struct {
    const char  *op;
    const char  *ro;
    int          expect;
} case_t;

static void
run_cases(const char *lop, const case_t *cases, size_t n, const rq_t *q)
{
    size_t  i;
    char    buf[4096];

    for (i = 0; i < n; i++) {
        cr_expect_eq(holds_why(lop, cases[i].op, cases[i].ro, q, buf,
                               sizeof(buf)), cases[i].expect,
                     "%s %s %s: expected %s; reasons %s", lop, cases[i].op,
                     cases[i].ro, cases[i].expect ? "permit" : "deny", buf);
    }
}

#define RUN(lop, cases, q) \
    run_cases(lop, cases, sizeof(cases) / sizeof(cases[0]), q)

/* ---- operators x kinds of values ---- */

Test(policy_eval, datetime_operators)
{
    static const case_t  cases[] = {
        { "eq",   "\"2026-05-01T10:00:00Z\"", 1 },
        { "eq",   "\"2026-05-01T10:00:01Z\"", 0 },
        { "neq",  "\"2026-05-01T10:00:00Z\"", 0 },
        { "neq",  "\"2026-05-01T10:00:01Z\"", 1 },
        { "lt",   "\"2026-05-01T10:00:01Z\"", 1 },
        { "lt",   "\"2026-05-01T10:00:00Z\"", 0 },
        { "lteq", "\"2026-05-01T10:00:00Z\"", 1 },
        { "lteq", "\"2026-05-01T09:59:59Z\"", 0 },
        { "gt",   "\"2026-05-01T09:59:59Z\"", 1 },
        { "gt",   "\"2026-05-01T10:00:00Z\"", 0 },
        { "gteq", "\"2026-05-01T10:00:00Z\"", 1 },
        { "gteq", "\"2026-05-01T10:00:01Z\"", 0 },
        /* typed literals, offsets, the seconds-less form */
        { "eq",   "{\"@value\": \"2026-05-01T12:00:00+02:00\", \"@type\": "
                  "\"xsd:dateTime\"}", 1 },
        { "lt",   "{\"@value\": \"2026-05-01T10:30Z\", \"@type\": "
                  "\"http://www.w3.org/2001/XMLSchema#dateTime\"}", 1 },
        { "lteq", "\"2023-12-31T06:00Z\"", 0 },
        /* dates are whole days */
        { "eq",   "{\"@value\": \"2026-05-01\", \"@type\": \"xsd:date\"}", 1 },
        { "eq",   "{\"@value\": \"2026-05-02\", \"@type\": \"xsd:date\"}", 0 },
        { "lt",   "{\"@value\": \"2026-05-02\", \"@type\": \"xsd:date\"}", 1 },
        { "lt",   "{\"@value\": \"2026-05-01\", \"@type\": \"xsd:date\"}", 0 },
        { "lteq", "{\"@value\": \"2026-05-01\", \"@type\": \"xsd:date\"}", 1 },
        { "lteq", "{\"@value\": \"2026-04-30\", \"@type\": \"xsd:date\"}", 0 },
        { "gt",   "{\"@value\": \"2026-04-30\", \"@type\": \"xsd:date\"}", 1 },
        { "gt",   "{\"@value\": \"2026-05-01\", \"@type\": \"xsd:date\"}", 0 },
        { "gteq", "{\"@value\": \"2026-05-01\", \"@type\": \"xsd:date\"}", 1 },
        { "gteq", "{\"@value\": \"2026-05-02\", \"@type\": \"xsd:date\"}", 0 },
        { "neq",  "{\"@value\": \"2026-05-01\", \"@type\": \"xsd:date\"}", 0 },
        /* a plain date string is a date; +14:00 moves the day */
        { "eq",   "\"2026-05-01\"", 1 },
        { "eq",   "\"2026-05-02+14:00\"", 1 },
        /* sets of instants and days */
        { "isAnyOf", "[\"2026-04-30\", \"2026-05-01\"]", 1 },
        { "isAnyOf", "[\"2026-04-30\", \"2026-05-02\"]", 0 },
        { "isNoneOf", "[\"2026-04-30\", \"2026-05-02\"]", 1 },
        { "isNoneOf", "[\"2026-05-01T10:00:00Z\"]", 0 },
        { "isPartOf", "[\"2026-05-01\"]", 1 },
        { "hasPart", "\"2026-05-01T10:00:00Z\"", 1 },
        { "isA", "\"2026-05-01\"", 1 },
        { "isAllOf", "[\"2026-05-01\", \"2026-05-02\"]", 0 },
        /* the dataType member types a plain string */
        { "eq",   "\"2026-05-01\", \"dataType\": \"xsd:date\"", 1 },
    };
    rq_t  q;

    rq_init(&q, "read");
    q.req.has_date_time = 1;
    q.req.date_time = T0;
    RUN("dateTime", cases, &q);
    RUN("odrl:dateTime", cases, &q);
    RUN("http://www.w3.org/ns/odrl/2/dateTime", cases, &q);
}

Test(policy_eval, elapsed_time_operators)
{
    static const case_t  cases[] = {
        { "lt",   "\"PT3H\"", 1 },
        { "lt",   "\"PT2H\"", 0 },
        { "lteq", "\"PT2H\"", 1 },
        { "lteq", "\"PT119M\"", 0 },
        { "gt",   "\"PT1H\"", 1 },
        { "gt",   "\"P1D\"", 0 },
        { "gteq", "\"PT7200S\"", 1 },
        { "eq",   "\"PT120M\"", 1 },
        { "neq",  "\"PT2H\"", 0 },
        { "neq",  "\"PT3H\"", 1 },
        { "lt",   "{\"@value\": \"P1D\", \"@type\": \"xsd:dayTimeDuration\"}",
          1 },
        { "lt",   "{\"@value\": \"P1M\", \"@type\": \"xsd:duration\"}", 1 },
        { "isAnyOf", "[\"PT1H\", \"PT2H\"]", 1 },
        /* not a duration: never holds */
        { "eq",   "7200", 0 },
        { "lt",   "{\"@value\": \"2027-01-01\", \"@type\": \"xsd:date\"}", 0 },
    };
    rq_t  q;

    rq_init(&q, "read");
    q.req.has_elapsed = 1;
    q.req.elapsed = 7200;
    RUN("elapsedTime", cases, &q);
}

Test(policy_eval, count_operators)
{
    static const case_t  cases[] = {
        { "eq",   "3", 1 },
        { "eq",   "4", 0 },
        { "neq",  "3", 0 },
        { "neq",  "4", 1 },
        { "lt",   "4", 1 },
        { "lt",   "3", 0 },
        { "lteq", "3", 1 },
        { "lteq", "2", 0 },
        { "gt",   "2", 1 },
        { "gt",   "3", 0 },
        { "gteq", "3", 1 },
        { "gteq", "4", 0 },
        { "eq",   "3.0", 1 },
        { "gt",   "2.5", 1 },
        { "lt",   "3.5", 1 },
        { "lt",   "2.5", 0 },
        { "eq",   "\"3\"", 1 },
        { "lteq", "{\"@value\": \"3\", \"@type\": \"xsd:integer\"}", 1 },
        { "lteq", "{\"@value\": \"2.99\", \"@type\": \"xsd:decimal\"}", 0 },
        { "lteq", "{\"@value\": 10, \"@type\": \"xsd:nonNegativeInteger\"}",
          1 },
        { "lt",   "\"1e1\"", 1 },
        { "isAnyOf", "[1, 2, 3]", 1 },
        { "isAnyOf", "[1, 2]", 0 },
        { "isNoneOf", "[1, 2]", 1 },
        { "isNoneOf", "[3]", 0 },
        { "eq",   "[3]", 1 },
        /* wrong kinds never hold */
        { "eq",   "{\"@value\": \"3\", \"@type\": \"xsd:string\"}", 0 },
        { "eq",   "{\"@id\": \"urn:three\"}", 0 },
        { "eq",   "true", 0 },
    };
    rq_t  q;

    rq_init(&q, "read");
    q.req.has_count = 1;
    q.req.count = 3;
    RUN("count", cases, &q);
}

#define DPV  "https://w3id.org/dpv#"

Test(policy_eval, purpose_operators_one_purpose)
{
    static const case_t  cases[] = {
        { "eq",       "\"" DPV "Research\"", 1 },
        { "eq",       "{\"@id\": \"" DPV "Research\"}", 1 },
        { "eq",       "\"" DPV "Marketing\"", 0 },
        { "neq",      "\"" DPV "Marketing\"", 1 },
        { "neq",      "\"" DPV "Research\"", 0 },
        { "isAnyOf",  "[\"" DPV "Research\", \"" DPV "Education\"]", 1 },
        { "isAnyOf",  "[\"" DPV "Sales\", \"" DPV "Education\"]", 0 },
        { "isNoneOf", "[\"" DPV "Sales\", \"" DPV "Marketing\"]", 1 },
        { "isNoneOf", "[\"" DPV "Research\"]", 0 },
        { "isPartOf", "[\"" DPV "Research\", \"" DPV "Education\"]", 1 },
        { "hasPart",  "\"" DPV "Research\"", 1 },
        { "isA",      "\"" DPV "Research\"", 1 },
        { "isAllOf",  "[\"" DPV "Research\"]", 1 },
        { "isAllOf",  "[\"" DPV "Research\", \"" DPV "Education\"]", 0 },
        /* comparison is exact: no case folding, no prefix matching */
        { "eq",       "\"" DPV "research\"", 0 },
        { "eq",       "\"" DPV "Research/\"", 0 },
        { "eq",       "\"dpv:Research\"", 0 },
    };
    rq_t  q;

    rq_init(&q, "read");
    rq_purpose(&q, DPV "Research");
    RUN("purpose", cases, &q);
}

Test(policy_eval, purpose_operators_several_purposes)
{
    /* declared purposes: every one of them must be allowed */
    static const case_t  cases[] = {
        { "eq",       "\"" DPV "Research\"", 0 },
        { "isAnyOf",  "[\"" DPV "Research\", \"" DPV "Education\"]", 0 },
        { "isAnyOf",  "[\"" DPV "Research\", \"" DPV "Marketing\"]", 1 },
        { "isPartOf", "[\"" DPV "Research\", \"" DPV "Marketing\", \"" DPV
                      "Sales\"]", 1 },
        { "isNoneOf", "[\"" DPV "Marketing\"]", 0 },
        { "isNoneOf", "[\"" DPV "Sales\"]", 1 },
        { "neq",      "\"" DPV "Marketing\"", 0 },
        { "hasPart",  "[\"" DPV "Research\", \"" DPV "Marketing\"]", 1 },
        { "isAllOf",  "[\"" DPV "Research\"]", 1 },
        { "isA",      "\"" DPV "Sales\"", 0 },
    };
    rq_t  q;

    rq_init(&q, "read");
    rq_purpose(&q, DPV "Research");
    rq_purpose(&q, DPV "Marketing");
    RUN("purpose", cases, &q);
}

Test(policy_eval, spatial_operators)
{
    /* the places the client maps to: one match suffices */
    static const case_t  cases[] = {
        { "eq",       "\"urn:place:eu\"", 1 },
        { "eq",       "{\"@id\": \"urn:place:es\"}", 1 },
        { "eq",       "\"urn:place:fr\"", 0 },
        { "isAnyOf",  "[\"urn:place:fr\", \"urn:place:es\"]", 1 },
        { "isPartOf", "[\"urn:place:eu\"]", 1 },
        { "isNoneOf", "[\"urn:place:fr\"]", 1 },
        { "isNoneOf", "[\"urn:place:fr\", \"urn:place:es\"]", 0 },
        { "neq",      "\"urn:place:eu\"", 0 },
        { "hasPart",  "[\"urn:place:es\", \"urn:place:eu\"]", 1 },
        { "isAllOf",  "[\"urn:place:es\", \"urn:place:fr\"]", 0 },
        { "isA",      "\"urn:place:es\"", 1 },
        { "lt",       "\"urn:place:es\"", 0 },
    };
    rq_t  q;

    rq_init(&q, "read");
    rq_spatial(&q, "urn:place:es");
    rq_spatial(&q, "urn:place:eu");
    RUN("spatial", cases, &q);
}

Test(policy_eval, virtual_location_operators)
{
    static const case_t  cases[] = {
        { "eq",       "\"10.0.0.0/8\"", 1 },
        { "eq",       "\"10.1.2.3\"", 1 },
        { "eq",       "\"10.1.2.4\"", 0 },
        { "neq",      "\"10.1.2.3\"", 0 },
        { "neq",      "\"192.168.0.0/16\"", 1 },
        { "isPartOf", "[\"192.168.0.0/16\", \"10.0.0.0/8\"]", 1 },
        { "isAnyOf",  "[\"192.168.0.0/16\", \"2001:db8::/32\"]", 0 },
        { "isNoneOf", "[\"192.168.0.0/16\", \"10.1.0.0/16\"]", 0 },
        { "isNoneOf", "[\"192.168.0.0/16\", \"10.2.0.0/16\"]", 1 },
        { "hasPart",  "\"10.1.2.0/24\"", 1 },
        { "isAllOf",  "[\"10.0.0.0/8\", \"10.1.0.0/16\"]", 1 },
        { "isAllOf",  "[\"10.0.0.0/8\", \"10.2.0.0/16\"]", 0 },
        { "isPartOf", "[\"0.0.0.0/0\"]", 1 },
        { "isPartOf", "[\"::/0\"]", 0 },
        { "eq",       "\"example.com\"", 0 },
        { "lt",       "\"10.0.0.0/8\"", 0 },
    };
    rq_t  q;
    char  buf[2048];

    rq_init(&q, "read");
    q.req.virtual_location = s_("10.1.2.3");
    RUN("virtualLocation", cases, &q);

    /* the IPv4-mapped form of the same client */
    q.req.virtual_location = s_("::ffff:10.1.2.3");
    RUN("virtualLocation", cases, &q);

    q.req.virtual_location = s_("2001:db8:5::1");
    cr_assert(holds("virtualLocation", "isAnyOf",
                    "[\"10.0.0.0/8\", \"2001:db8::/32\"]", &q));
    cr_assert_not(holds("virtualLocation", "eq", "\"2001:db8::/48\"", &q));

    q.req.virtual_location = s_("not-an-address");
    cr_assert_not(holds_why("virtualLocation", "eq", "\"10.0.0.0/8\"", &q,
                            buf, sizeof(buf)));
    cr_assert_str_eq(buf, "[\"permission[0] (urn:r): constraint "
                     "virtualLocation eq 10.0.0.0/8 failed: the client "
                     "address is not an IP address\",\"no permission grants "
                     "read\"]");
}

Test(policy_eval, single_string_operands)
{
    static const case_t  cases[] = {
        { "eq",       "\"urn:x:1\"", 1 },
        { "eq",       "{\"@id\": \"urn:x:1\"}", 1 },
        { "eq",       "\"urn:x:2\"", 0 },
        { "neq",      "\"urn:x:2\"", 1 },
        { "isAnyOf",  "[\"urn:x:2\", \"urn:x:1\"]", 1 },
        { "isNoneOf", "[\"urn:x:2\", \"urn:x:1\"]", 0 },
        { "gt",       "\"urn:x:0\"", 0 },
    };
    rq_t  q;

    rq_init(&q, "read");
    q.req.recipient = s_("urn:x:1");
    q.req.delivery_channel = s_("urn:x:1");
    q.req.event = s_("urn:x:1");
    RUN("recipient", cases, &q);
    RUN("deliveryChannel", cases, &q);
    RUN("event", cases, &q);
}

Test(policy_eval, claims)
{
    static const case_t  role_cases[] = {
        { "eq",       "\"operator\"", 1 },
        { "eq",       "\"admin\"", 0 },
        { "isAnyOf",  "[\"admin\", \"viewer\"]", 1 },
        { "isNoneOf", "[\"admin\"]", 1 },
        { "isNoneOf", "[\"admin\", \"viewer\"]", 0 },
        { "neq",      "\"viewer\"", 0 },
        { "isAllOf",  "[\"operator\", \"viewer\"]", 1 },
        { "isAllOf",  "[\"operator\", \"admin\"]", 0 },
        { "hasPart",  "\"viewer\"", 1 },
        { "isA",      "\"admin\"", 0 },
    };
    static const case_t  age_cases[] = {
        { "gteq", "18", 1 },
        { "gt",   "42", 0 },
        { "lt",   "18", 0 },
        { "lteq", "\"42\"", 1 },
        { "eq",   "42", 1 },
        { "eq",   "\"42\"", 1 },
        { "gt",   "{\"@value\": \"41.5\", \"@type\": \"xsd:decimal\"}", 1 },
    };
    static const case_t  since_cases[] = {
        { "lt",   "{\"@value\": \"2021-01-01T00:00:00Z\", \"@type\": "
                  "\"xsd:dateTime\"}", 1 },
        { "gt",   "\"2019-12-31\"", 1 },
        { "eq",   "{\"@value\": \"2020-01-01\", \"@type\": \"xsd:date\"}", 1 },
    };
    rq_t  q;
    char  buf[2048];

    rq_init(&q, "read");
    rq_claim(&q, "role", "operator");
    rq_claim(&q, "role", "viewer");
    rq_claim(&q, "age", "42");
    rq_claim(&q, "since", "2020-01-01T08:00:00Z");
    rq_claim(&q, "nick", "abc");
    RUN("urn:mim:claim:role", role_cases, &q);
    RUN("urn:mim:claim:age", age_cases, &q);
    RUN("urn:mim:claim:since", since_cases, &q);

    /* a claim that is not a number, for a number */
    cr_assert_not(holds_why("urn:mim:claim:nick", "gteq", "18", &q, buf,
                            sizeof(buf)));
    cr_assert_str_eq(buf, "[\"permission[0] (urn:r): constraint "
                     "urn:mim:claim:nick gteq 18 failed: claim nick is abc, "
                     "which cannot be compared with it\",\"no permission "
                     "grants read\"]");
    cr_assert_not(holds_why("urn:mim:claim:nick", "neq", "18", &q, buf,
                            sizeof(buf)));
    /* a claim the request does not have */
    cr_assert_not(holds_why("urn:mim:claim:org", "neq", "\"evil\"", &q, buf,
                            sizeof(buf)));
    cr_assert_str_eq(buf, "[\"permission[0] (urn:r): constraint "
                     "urn:mim:claim:org neq evil failed: no such claim in "
                     "the request\",\"no permission grants read\"]");
    /* names are exact; the compact mim: form is not a claim */
    cr_assert_not(holds("urn:mim:claim:Role", "eq", "\"operator\"", &q));
    cr_assert_not(holds("mim:claim:role", "eq", "\"operator\"", &q));
}

Test(policy_eval, missing_request_values_fail_with_the_reason)
{
    static const struct {
        const char  *lop;
        const char  *ro;
        const char  *reason;
    } cases[] = {
        { "dateTime", "\"2026-01-01\"", "no dateTime in the request" },
        { "elapsedTime", "\"PT1H\"", "no elapsedTime in the request" },
        { "count", "1", "no count in the request" },
        { "purpose", "\"urn:p\"", "no purpose declared" },
        { "spatial", "\"urn:p\"", "no spatial in the request" },
        { "recipient", "\"urn:p\"", "no recipient in the request" },
        { "deliveryChannel", "\"urn:p\"",
          "no deliveryChannel in the request" },
        { "event", "\"urn:p\"", "no event in the request" },
        { "virtualLocation", "\"10.0.0.0/8\"",
          "no client address in the request" },
    };
    rq_t    q;
    size_t  i;
    char    buf[2048], expected[512];

    rq_init(&q, "read");
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        /* even neq and isNoneOf fail: nothing to compare */
        cr_assert_not(holds_why(cases[i].lop, "isNoneOf", cases[i].ro, &q,
                                buf, sizeof(buf)));
        snprintf(expected, sizeof(expected), "[\"permission[0] (urn:r): "
                 "constraint %s isNoneOf %.*s failed: %s\",\"no permission "
                 "grants read\"]", cases[i].lop,
                 (int) strlen(cases[i].ro) - 2 * (cases[i].ro[0] == '"'),
                 cases[i].ro + (cases[i].ro[0] == '"'), cases[i].reason);
        cr_assert_str_eq(buf, expected);
    }
}

Test(policy_eval, unknown_terms_deny_with_the_reason)
{
    rq_t  q;
    char  buf[2048];

    rq_init(&q, "read");
    q.req.has_count = 1;
    q.req.count = 1;
    cr_assert_not(holds_why("partner", "eq", "\"gold\"", &q, buf,
                            sizeof(buf)));
    cr_assert_str_eq(buf, "[\"permission[0] (urn:r): constraint partner eq "
                     "gold cannot be decided: unknown left operand "
                     "\\\"partner\\\"\",\"no permission grants read\"]");
    cr_assert_not(holds_why("count", "term-lteq", "5", &q, buf,
                            sizeof(buf)));
    cr_assert_str_eq(buf, "[\"permission[0] (urn:r): constraint count "
                     "term-lteq 5 cannot be decided: unknown operator "
                     "\\\"term-lteq\\\"\",\"no permission grants read\"]");
    cr_assert_not(holds_why("count", "eq", "{\"@value\": \"1\", \"@type\": "
                            "\"xsd:hexBinary\"}", &q, buf, sizeof(buf)));
    cr_assert(strstr(buf, "datatype \\\"xsd:hexBinary\\\" is not supported")
              != NULL, "%s", buf);
    cr_assert_not(holds_why("resolution", "lteq", "1200", &q, buf,
                            sizeof(buf)));
    cr_assert(strstr(buf, "left operand \\\"resolution\\\" is not decided "
                     "by the gateway") != NULL, "%s", buf);
    /* the W3C context's spelling of neq */
    cr_assert(holds("count", "neg", "2", &q));
    cr_assert(holds("count", "odrl:neg", "2", &q));
    cr_assert_not(holds("count", "http://www.w3.org/ns/odrl/2/neg", "1",
                        &q));
}

/* ---- logical constraints ---- */

#define C_TRUE   "{\"leftOperand\": \"count\", \"operator\": \"eq\", " \
                 "\"rightOperand\": 1}"
#define C_FALSE  "{\"leftOperand\": \"count\", \"operator\": \"eq\", " \
                 "\"rightOperand\": 2}"
#define C_UNKNOWN "{\"leftOperand\": \"partner\", \"operator\": \"eq\", " \
                  "\"rightOperand\": \"gold\"}"

static int
logical(const char *constraint, char *buf, size_t cap)
{
    char                   json[4096];
    mim_policy_t          *p;
    mim_policy_decision_t  d;
    rq_t                   q;

    snprintf(json, sizeof(json), "{\"permission\": [{\"action\": \"read\", "
             "\"constraint\": [%s]}]}", constraint);
    p = compile(json);
    rq_init(&q, "read");
    q.req.has_count = 1;
    q.req.count = 1;
    d = eval(p, &q, buf, cap);
    mim_policy_free(p);
    return d.effect == MIM_POLICY_PERMIT;
}

Test(policy_eval, logical_constraints)
{
    static const struct {
        const char  *c;
        int          expect;
    } cases[] = {
        { C_TRUE "," C_TRUE, 1 },             /* a list: all must hold */
        { C_TRUE "," C_FALSE, 0 },
        { "{\"and\": [" C_TRUE "," C_TRUE "]}", 1 },
        { "{\"and\": [" C_TRUE "," C_FALSE "]}", 0 },
        { "{\"or\": [" C_FALSE "," C_TRUE "]}", 1 },
        { "{\"or\": [" C_FALSE "," C_FALSE "]}", 0 },
        { "{\"or\": [" C_UNKNOWN "," C_TRUE "]}", 1 },
        { "{\"xone\": [" C_FALSE "," C_TRUE "," C_FALSE "]}", 1 },
        { "{\"xone\": [" C_TRUE "," C_TRUE "]}", 0 },
        { "{\"xone\": [" C_FALSE "," C_FALSE "]}", 0 },
        { "{\"xone\": [" C_UNKNOWN "," C_TRUE "]}", 1 },
        { "{\"andSequence\": [" C_TRUE "," C_TRUE "]}", 1 },
        { "{\"andSequence\": [" C_TRUE "," C_FALSE "]}", 0 },
        { "{\"odrl:or\": [" C_FALSE "," C_TRUE "]}", 1 },
        { "{\"http://www.w3.org/ns/odrl/2/and\": [" C_TRUE "]}", 1 },
        { "{\"or\": {\"@list\": [" C_FALSE "," C_TRUE "]}}", 1 },
        /* nested: or of ands, and of ors, three levels */
        { "{\"or\": [{\"and\": [" C_TRUE "," C_FALSE "]}, {\"and\": ["
          C_TRUE "," C_TRUE "]}]}", 1 },
        { "{\"or\": [{\"and\": [" C_TRUE "," C_FALSE "]}, {\"and\": ["
          C_FALSE "," C_TRUE "]}]}", 0 },
        { "{\"and\": [{\"or\": [" C_FALSE "," C_TRUE "]}, {\"xone\": ["
          C_TRUE "," C_FALSE "]}]}", 1 },
        { "{\"and\": [{\"or\": [" C_FALSE "," C_TRUE "]}, {\"xone\": ["
          C_TRUE "," C_TRUE "]}]}", 0 },
        { "{\"xone\": [{\"or\": [" C_FALSE ", {\"and\": [" C_TRUE ","
          C_TRUE "]}]}, {\"andSequence\": [" C_TRUE "," C_FALSE "]}]}", 1 },
    };
    size_t  i;
    char    buf[4096];

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        cr_expect_eq(logical(cases[i].c, buf, sizeof(buf)), cases[i].expect,
                     "case %zu: %s\n%s", i, cases[i].c, buf);
    }
}

Test(policy_eval, logical_reasons)
{
    char  buf[4096];

    cr_assert_not(logical("{\"or\": [" C_FALSE "," C_UNKNOWN "]}", buf,
                          sizeof(buf)));
    cr_assert_str_eq(buf, "[\"permission[0]: constraint or failed: none of "
                     "its 2 constraints holds (first: constraint count eq 2 "
                     "failed: count is 1)\",\"no permission grants read\"]");
    cr_assert_not(logical("{\"xone\": [" C_TRUE "," C_TRUE "]}", buf,
                          sizeof(buf)));
    cr_assert_str_eq(buf, "[\"permission[0]: constraint xone failed: more "
                     "than one of its constraints holds\",\"no permission "
                     "grants read\"]");
    cr_assert_not(logical("{\"and\": [" C_TRUE ", {\"or\": [" C_FALSE "]}]}",
                          buf, sizeof(buf)));
    cr_assert_str_eq(buf, "[\"permission[0]: constraint or failed: none of "
                     "its 1 constraints holds (first: constraint count eq 2 "
                     "failed: count is 1)\",\"no permission grants read\"]");
}

/* ---- rules ---- */

static mim_policy_decision_t
decide(const char *json, const char *action, const char *target,
    char *buf, size_t cap)
{
    mim_policy_t           *p = compile(json);
    mim_policy_decision_t   d;
    rq_t                    q;
    static char             rule[256], label[64];

    rq_init(&q, action);
    q.req.target = s_(target);
    q.req.has_count = 1;
    q.req.count = 1;
    d = eval(p, &q, buf, cap);
    /* the rule points into the policy: keep a copy past the free */
    if (d.rule != NULL) {
        snprintf(rule, sizeof(rule), "%s", d.rule);
        d.rule = rule;
    }
    if (d.label != NULL) {
        snprintf(label, sizeof(label), "%s", d.label);
        d.label = label;
    }
    mim_policy_free(p);
    return d;
}

static int
covers(const char *rule_action, const char *requested)
{
    char                   json[512], buf[1024];
    mim_policy_decision_t  d;

    snprintf(json, sizeof(json), "{\"permission\": [{\"action\": \"%s\"}]}",
             rule_action);
    d = decide(json, requested, "urn:t", buf, sizeof(buf));
    return d.effect == MIM_POLICY_PERMIT;
}

Test(policy_eval, action_hierarchy)
{
    static const struct {
        const char  *rule;
        const char  *requested;
        int          expect;
    } cases[] = {
        { "use", "use", 1 },
        { "use", "read", 1 },
        { "read", "use", 0 },
        { "use", "sell", 0 },           /* sell is under transfer */
        { "transfer", "sell", 1 },
        { "transfer", "give", 1 },
        { "transfer", "read", 0 },
        { "use", "display", 1 },        /* display is in play, in use */
        { "play", "display", 1 },
        { "display", "play", 0 },
        { "reproduce", "extract", 1 },
        { "use", "extract", 1 },
        { "use", "modify", 1 },
        { "use", "delete", 1 },
        { "read", "modify", 0 },
        { "read", "print", 0 },
        { "modify", "delete", 0 },
        { "modify", "write", 1 },       /* deprecated 2.1 names */
        { "write", "modify", 1 },
        { "copy", "reproduce", 1 },
        { "odrl:read", "http://www.w3.org/ns/odrl/2/read", 1 },
        { "http://www.w3.org/ns/odrl/2/use", "odrl:stream", 1 },
        /* unknown actions: their own roots */
        { "urn:x:query", "urn:x:query", 1 },
        { "use", "urn:x:query", 0 },
        { "urn:x:query", "read", 0 },
        { "query", "odrl:query", 1 },
        { "query", "urn:x:query", 0 },
        { "cc:Distribution", "cc:Distribution", 1 },
        { "cc:Distribution", "distribute", 0 },
    };
    size_t  i;

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        cr_expect_eq(covers(cases[i].rule, cases[i].requested),
                     cases[i].expect, "%s covers %s", cases[i].rule,
                     cases[i].requested);
    }
}

#define CONFLICT_POLICY(strategy, prohibition_constraint) \
    "{\"uid\": \"urn:p\", " strategy \
    " \"permission\": [{\"uid\": \"urn:perm\", \"action\": \"use\"}]," \
    " \"prohibition\": [{\"uid\": \"urn:proh\", \"action\": \"read\"" \
    prohibition_constraint "}]}"

Test(policy_eval, conflict_strategies)
{
    mim_policy_decision_t  d;
    char                   buf[2048];

    /* default: invalid */
    d = decide(CONFLICT_POLICY("", ""), "read", "urn:t", buf, sizeof(buf));
    cr_assert_eq(d.effect, MIM_POLICY_DENY);
    cr_assert_str_eq(d.rule, "urn:proh");
    cr_assert_str_eq(d.label, "prohibition[0]");
    cr_assert_str_eq(buf, "[\"permission[0] (urn:perm): grants read on "
                     "urn:t\",\"prohibition[0] (urn:proh): prohibits read on "
                     "urn:t\",\"conflict strategy invalid: a permission and "
                     "a prohibition both apply, the policy is void\"]");
    d = decide(CONFLICT_POLICY("\"conflict\": \"invalid\",", ""), "read",
               "urn:t", buf, sizeof(buf));
    cr_assert_eq(d.effect, MIM_POLICY_DENY);

    d = decide(CONFLICT_POLICY("\"conflict\": \"perm\",", ""), "read",
               "urn:t", buf, sizeof(buf));
    cr_assert_eq(d.effect, MIM_POLICY_PERMIT);
    cr_assert_str_eq(d.rule, "urn:perm");
    cr_assert_str_eq(d.label, "permission[0]");
    cr_assert(strstr(buf, "conflict strategy perm: the permission overrides "
                     "the prohibition") != NULL, "%s", buf);

    d = decide(CONFLICT_POLICY("\"conflict\": {\"@id\": \"odrl:prohibit\"},",
                               ""), "read", "urn:t", buf, sizeof(buf));
    cr_assert_eq(d.effect, MIM_POLICY_DENY);
    cr_assert_str_eq(d.rule, "urn:proh");
    cr_assert(strstr(buf, "conflict strategy prohibit: the prohibition "
                     "overrides the permission") != NULL, "%s", buf);

    /* no conflict where the prohibition does not apply */
    d = decide(CONFLICT_POLICY("", ""), "modify", "urn:t", buf, sizeof(buf));
    cr_assert_eq(d.effect, MIM_POLICY_PERMIT);
    cr_assert_str_eq(buf, "[\"permission[0] (urn:perm): grants modify on "
                     "urn:t\"]");
    d = decide(CONFLICT_POLICY("", ", \"constraint\": [" C_FALSE "]"),
               "read", "urn:t", buf, sizeof(buf));
    cr_assert_eq(d.effect, MIM_POLICY_PERMIT);
    d = decide(CONFLICT_POLICY("", ", \"constraint\": [" C_TRUE "]"),
               "read", "urn:t", buf, sizeof(buf));
    cr_assert_eq(d.effect, MIM_POLICY_DENY);
    d = decide(CONFLICT_POLICY("", ", \"target\": \"urn:other\""), "read",
               "urn:t", buf, sizeof(buf));
    cr_assert_eq(d.effect, MIM_POLICY_PERMIT);

    /* a prohibition of use covers read; of read, not use */
    d = decide("{\"conflict\": \"prohibit\", \"permission\": [{\"action\": "
               "\"read\"}], \"prohibition\": [{\"action\": \"use\"}]}",
               "read", "urn:t", buf, sizeof(buf));
    cr_assert_eq(d.effect, MIM_POLICY_DENY);
    cr_assert_null(d.rule);
    cr_assert_str_eq(d.label, "prohibition[0]");

    /* a prohibition alone denies, and names itself */
    d = decide("{\"prohibition\": [{\"@id\": \"urn:no\", \"action\": "
               "\"use\"}]}", "read", "urn:t", buf, sizeof(buf));
    cr_assert_eq(d.effect, MIM_POLICY_DENY);
    cr_assert_str_eq(d.rule, "urn:no");
    cr_assert_str_eq(buf, "[\"prohibition[0] (urn:no): prohibits read on "
                     "urn:t\"]");
}

Test(policy_eval, closed_world_reasons)
{
    mim_policy_decision_t  d;
    char                   buf[2048];

    d = decide("{\"permission\": [{\"action\": \"read\"}]}", "modify",
               "urn:t", buf, sizeof(buf));
    cr_assert_eq(d.effect, MIM_POLICY_DENY);
    cr_assert_null(d.rule);
    cr_assert_null(d.label);
    cr_assert_str_eq(buf, "[\"no permission for action modify on target "
                     "urn:t\"]");
    d = decide("{\"permission\": [{\"action\": \"read\", \"target\": "
               "\"urn:a\"}]}", "read", "urn:x", buf, sizeof(buf));
    cr_assert_str_eq(buf, "[\"permission[0]: target is urn:a, not urn:x\","
                     "\"no permission grants read on urn:x\"]");
    d = decide("{\"permission\": [{\"action\": \"read\", \"target\": "
               "\"urn:a\"}]}", "read", NULL, buf, sizeof(buf));
    cr_assert_str_eq(buf, "[\"permission[0]: target is urn:a; the request "
                     "names none\",\"no permission grants read\"]");
    d = decide("{\"permission\": [{\"action\": \"read\", \"assignee\": "
               "\"did:web:a\"}]}", "read", "urn:x", buf, sizeof(buf));
    cr_assert_eq(d.effect, MIM_POLICY_DENY);
    cr_assert_str_eq(buf, "[\"permission[0]: assignee is did:web:a; the "
                     "request names none\",\"no permission grants read on "
                     "urn:x\"]");
}

Test(policy_eval, duties_and_obligations_fail_closed)
{
    mim_policy_decision_t  d;
    char                   buf[2048];
    mim_policy_t          *p;
    rq_t                   q;

    d = decide("{\"permission\": [{\"@id\": \"urn:r\", \"action\": \"use\", "
               "\"duty\": [{\"action\": \"compensate\", \"constraint\": [{"
               "\"leftOperand\": \"payAmount\", \"operator\": \"eq\", "
               "\"rightOperand\": {\"@value\": \"5.00\", \"@type\": "
               "\"xsd:decimal\"}, \"unit\": \"http://dbpedia.org/resource/"
               "Euro\"}]}]}]}", "read", "urn:t", buf, sizeof(buf));
    cr_assert_eq(d.effect, MIM_POLICY_DENY);
    cr_assert_str_eq(buf, "[\"permission[0] (urn:r): duty compensate cannot "
                     "be discharged by the gateway\",\"no permission grants "
                     "read on urn:t\"]");

    /* another permission without a duty still grants */
    d = decide("{\"permission\": [{\"action\": \"use\", \"duty\": {\"action\":"
               " \"attribute\"}}, {\"@id\": \"urn:free\", \"action\": "
               "\"read\"}]}", "read", "urn:t", buf, sizeof(buf));
    cr_assert_eq(d.effect, MIM_POLICY_PERMIT);
    cr_assert_str_eq(d.rule, "urn:free");

    /* an obligation on the caller denies everything */
    p = compile("{\"assignee\": \"did:web:c\", \"permission\": [{\"action\": "
                "\"read\"}], \"obligation\": [{\"action\": \"delete\"}]}");
    rq_init(&q, "read");
    q.req.assignee = s_("did:web:c");
    d = eval(p, &q, buf, sizeof(buf));
    cr_assert_eq(d.effect, MIM_POLICY_DENY);
    cr_assert_null(d.rule);
    cr_assert_str_eq(buf, "[\"obligation[0]: obligation delete cannot be "
                     "discharged by the gateway\"]");
    mim_policy_free(p);

    /* ... but not a caller it does not name */
    p = compile("{\"permission\": [{\"action\": \"read\"}], \"obligation\": "
                "[{\"action\": \"delete\", \"assignee\": \"did:web:x\"}]}");
    d = eval(p, &q, buf, sizeof(buf));
    cr_assert_eq(d.effect, MIM_POLICY_PERMIT, "%s", buf);
    mim_policy_free(p);
}

Test(policy_eval, first_granting_permission_decides)
{
    mim_policy_decision_t  d;
    char                   buf[2048];

    d = decide("{\"permission\": ["
               " {\"@id\": \"urn:a\", \"action\": \"read\", \"constraint\": ["
               C_FALSE "]},"
               " {\"@id\": \"urn:b\", \"action\": \"use\"},"
               " {\"@id\": \"urn:c\", \"action\": \"read\"}]}",
               "read", "urn:t", buf, sizeof(buf));
    cr_assert_eq(d.effect, MIM_POLICY_PERMIT);
    cr_assert_str_eq(d.rule, "urn:b");
    cr_assert_str_eq(d.label, "permission[1]");
    cr_assert_str_eq(buf, "[\"permission[0] (urn:a): constraint count eq 2 "
                     "failed: count is 1\",\"permission[1] (urn:b): grants "
                     "read on urn:t\"]");
}

/* ---- the reasons buffer ---- */

/* a deny with many long reasons */
static const char  noisy[] =
"{\"permission\": ["
" {\"@id\": \"urn:rule:0123456789abcdef0123456789abcdef\", \"action\": "
"  \"read\", \"target\": \"urn:target:one\"},"
" {\"@id\": \"urn:rule:\\u00e9\\u4e2d\\ud83d\\ude00\", \"action\": \"read\","
"  \"constraint\": [" C_FALSE "]},"
" {\"@id\": \"urn:rule:quote\\\"back\\\\slash\\ttab\", \"action\": \"read\","
"  \"constraint\": [{\"leftOperand\": \"purpose\", \"operator\": \"eq\", "
"  \"rightOperand\": \"urn:purpose:with-a-rather-long-name\"}]},"
" {\"action\": \"read\", \"assignee\": \"did:web:someone.example\"}]}";

Test(policy_eval, reasons_truncate_as_valid_json)
{
    mim_policy_t           *p = compile(noisy);
    mim_policy_decision_t   d, full;
    rq_t                    q;
    char                    whole[8192], *buf;
    size_t                  cap;

    rq_init(&q, "read");
    q.req.target = s_("urn:target:\x01two\"\n");
    q.req.has_count = 1;
    q.req.count = 1;
    full = eval(p, &q, whole, sizeof(whole));
    cr_assert_eq(full.effect, MIM_POLICY_DENY);
    cr_assert_not(full.truncated);
    cr_assert(strstr(whole, "\\u0001two\\\"\\n") != NULL, "%s", whole);
    cr_assert(strstr(whole, "urn:rule:\xc3\xa9\xe4\xb8\xad\xf0\x9f\x98\x80")
              != NULL, "%s", whole);
    cr_assert(strstr(whole, "quote\\\"back\\\\slash\\ttab") != NULL);

    for (cap = 64; cap <= full.reasons_len + 8; cap++) {
        /* a buffer of exactly cap bytes, so ASan sees any overrun */
        buf = malloc(cap);
        cr_assert_not_null(buf);
        d = eval(p, &q, buf, cap);
        cr_assert_eq(d.effect, MIM_POLICY_DENY);
        if (cap > full.reasons_len) {
            cr_assert_not(d.truncated, "cap %zu", cap);
            cr_assert_str_eq(buf, whole);
        } else {
            cr_assert(d.truncated, "cap %zu", cap);
            /* complete reasons come first, unchanged */
            cr_assert_eq(buf[0], '[');
        }
        free(buf);
    }
    mim_policy_free(p);
}

Test(policy_eval, request_bytes_become_valid_utf8)
{
    mim_policy_t           *p = compile("{\"permission\": [{\"action\": "
                                        "\"read\", \"target\": \"urn:t\"}]}");
    mim_policy_decision_t   d;
    rq_t                    q;
    char                    buf[1024];
    static const char       bad[] = "urn:\xff\xc0\xaf\xed\xa0\x80\xe2\x82";

    rq_init(&q, "read");
    q.req.target.data = bad;
    q.req.target.len = sizeof(bad) - 1;
    d = eval(p, &q, buf, sizeof(buf));
    cr_assert_eq(d.effect, MIM_POLICY_DENY);
    /* each invalid byte is U+FFFD */
    cr_assert(strstr(buf, "not urn:\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef"
                     "\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf"
                     "\xbd\"") != NULL, "%s", buf);
    /* a NUL inside a request value neither cuts the text nor reaches
       the JSON (C string consumers would stop at it) */
    q.req.target.data = "urn:a\0b";
    q.req.target.len = 7;
    d = eval(p, &q, buf, sizeof(buf));
    cr_assert(strstr(buf, "not urn:a\xef\xbf\xbd" "b\"") != NULL, "%s", buf);
    mim_policy_free(p);
}

Test(policy_eval, bad_arguments)
{
    mim_policy_t           *p = compile("{\"permission\": [{\"action\": "
                                        "\"use\"}]}");
    mim_policy_decision_t   d;
    mim_result_t            r;
    rq_t                    q;
    char                    buf[128];

    rq_init(&q, "read");
    r = mim_policy_eval(p, &q.req, &d, buf, 63);
    cr_assert_eq(r.code, MIM_ERR_INVALID);
    cr_assert_eq(d.effect, MIM_POLICY_DENY);
    r = mim_policy_eval(p, &q.req, &d, NULL, 128);
    cr_assert_eq(r.code, MIM_ERR_INVALID);
    r = mim_policy_eval(p, &q.req, NULL, buf, sizeof(buf));
    cr_assert_eq(r.code, MIM_ERR_INVALID);

    /* no action: an error, and still a deny with a valid explanation */
    q.req.action = s_(NULL);
    memset(&d, 0x5a, sizeof(d));
    r = mim_policy_eval(p, &q.req, &d, buf, 64);
    cr_assert_eq(r.code, MIM_ERR_INVALID);
    cr_assert_str_eq(r.msg, "no action in the request");
    cr_assert_eq(d.effect, MIM_POLICY_DENY);
    cr_assert_null(d.rule);
    cr_assert_str_eq(buf, "[\"no action in the request\"]");
    check_reasons(buf, 64, &d);
    q.req.action = s_("");
    r = mim_policy_eval(p, &q.req, &d, buf, 64);
    cr_assert_eq(r.code, MIM_ERR_INVALID);
    r = mim_policy_eval(NULL, &q.req, &d, buf, 64);
    cr_assert_eq(r.code, MIM_ERR_INVALID);
    cr_assert_str_eq(buf, "[\"no policy\"]");
    mim_policy_free(p);
}

/* ---- no allocation, reentrancy ---- */

/* ASan's allocator calls these on every malloc and free */
int __sanitizer_install_malloc_and_free_hooks(
    void (*malloc_hook)(const volatile void *, size_t),
    void (*free_hook)(const volatile void *)) __attribute__((weak));

static __thread volatile int   counting;   /* volatile: malloc() and free()
                                              read them, unknown to gcc */
static __thread volatile long  allocations;

static void
on_malloc(const volatile void *ptr, size_t size)
{
    if (counting) {
        allocations++;
    }
}

static void
on_free(const volatile void *ptr)
{
    if (counting && ptr != NULL) {
        allocations++;
    }
}

Test(policy_eval, no_heap_allocation)
{
    static const char *const  policies[] = {
        noisy,
        CONFLICT_POLICY("", ""),
        "{\"permission\": [{\"action\": \"read\", \"constraint\": [{\"or\": "
        "[{\"and\": [{\"leftOperand\": \"dateTime\", \"operator\": \"gteq\","
        " \"rightOperand\": \"2026-05-01T09:00:00Z\"}, {\"leftOperand\": "
        "\"dateTime\", \"operator\": \"lt\", \"rightOperand\": "
        "\"2026-05-01T17:00:00Z\"}]}, {\"leftOperand\": \"urn:mim:claim:age\","
        " \"operator\": \"gt\", \"rightOperand\": 17.5}]},"
        " {\"leftOperand\": \"virtualLocation\", \"operator\": \"isPartOf\","
        " \"rightOperand\": [\"10.0.0.0/8\", \"::1/128\"]}, {\"leftOperand\": "
        "\"purpose\", \"operator\": \"isNoneOf\", \"rightOperand\": "
        "[\"urn:p:x\"]}, {\"leftOperand\": \"elapsedTime\", \"operator\": "
        "\"lt\", \"rightOperand\": \"P1D\"}]}], \"obligation\": [{\"action\":"
        " \"inform\", \"assignee\": \"did:x\"}]}",
    };
    mim_policy_t           *p[3];
    mim_policy_decision_t   d;
    rq_t                    q;
    char                    buf[4096];
    size_t                  i, caps[] = { 64, 100, sizeof(buf) };
    int                     k, permits = 0;
    void *volatile          probe;

    cr_assert_not_null(__sanitizer_install_malloc_and_free_hooks,
                       "the unit tests run under ASan (make unit)");
    __sanitizer_install_malloc_and_free_hooks(on_malloc, on_free);
    for (i = 0; i < 3; i++) {
        p[i] = compile(policies[i]);
    }
    rq_init(&q, "read");
    q.req.target = s_("urn:t");
    rq_claim(&q, "age", "18.25");
    rq_purpose(&q, "urn:p:y");
    q.req.virtual_location = s_("10.9.9.9");
    q.req.has_elapsed = 1;
    q.req.elapsed = 60;

    for (k = 0; k < 200; k++) {
        q.req.has_date_time = k % 3 != 0;
        q.req.date_time = T0 + (k - 100) * 1800;
        q.req.has_count = 1;
        q.req.count = k % 3;
        for (i = 0; i < 3; i++) {
            counting = 1;
            mim_policy_eval(p[i], &q.req, &d, buf, caps[k % 3]);
            counting = 0;
            permits += d.effect == MIM_POLICY_PERMIT;
        }
    }
    cr_assert_eq(allocations, 0, "%ld allocations in eval", allocations);
    /* the loop did exercise both outcomes */
    cr_assert_gt(permits, 0);
    cr_assert_lt(permits, 600);
    /* and the hook does see allocations */
    counting = 1;
    probe = malloc(16);
    free((void *) probe);
    counting = 0;
    cr_assert_eq(allocations, 2);
    for (i = 0; i < 3; i++) {
        mim_policy_free(p[i]);
    }
}

typedef struct {
    const mim_policy_t  *p;
    int                  mismatches;
} worker_t;

static void *
worker(void *arg)
{
    worker_t               *w = arg;
    mim_policy_decision_t   d;
    rq_t                    q;
    char                    buf[1024];
    int                     k;

    rq_init(&q, "read");
    q.req.target = s_("urn:t");
    q.req.has_count = 1;
    for (k = 0; k < 2000; k++) {
        q.req.count = k % 4;
        mim_policy_eval(w->p, &q.req, &d, buf, sizeof(buf));
        /* permitted exactly when count is 1 */
        if ((d.effect == MIM_POLICY_PERMIT) != (k % 4 == 1)
            || (k % 4 == 1 && strcmp(buf, "[\"permission[0]: grants read on "
                                          "urn:t\"]") != 0))
        {
            w->mismatches++;
        }
    }
    return NULL;
}

Test(policy_eval, reentrant_across_threads)
{
    mim_policy_t  *p = compile("{\"permission\": [{\"action\": \"read\", "
                               "\"constraint\": [" C_TRUE "]}]}");
    pthread_t      t[4];
    worker_t       w[4];
    int            i;

    for (i = 0; i < 4; i++) {
        w[i].p = p;
        w[i].mismatches = 0;
        cr_assert_eq(pthread_create(&t[i], NULL, worker, &w[i]), 0);
    }
    for (i = 0; i < 4; i++) {
        pthread_join(t[i], NULL);
        cr_assert_eq(w[i].mismatches, 0);
    }
    mim_policy_free(p);
}

/* ---- at negotiation time (mim_policy_request_t.negotiation) ---- */

/* decide json at negotiation time for q: 1 permit; reasons in buf */
static int
negotiate(const char *json, rq_t *q, char *buf, size_t cap)
{
    mim_policy_t           *p = compile(json);
    mim_policy_decision_t   d;

    q->req.negotiation = 1;
    d = eval(p, q, buf, cap);
    mim_policy_free(p);
    return d.effect == MIM_POLICY_PERMIT;
}

#define ATOM(lop, op, ro) \
    "{\"leftOperand\": \"" lop "\", \"operator\": \"" op "\", " \
    "\"rightOperand\": " ro "}"

/* one permission to read with one constraint, the target urn:t */
#define READ_IF(c) \
    "{\"permission\": [{\"action\": \"read\", \"target\": \"urn:t\", " \
    "\"constraint\": [" c "]}]}"

Test(policy_eval, negotiation_asks_any_action)
{
    char  buf[1024];
    rq_t  q;

    /* the request's action does not matter: a permission to read is
       something the consumer can have */
    rq_init(&q, "delete");
    q.req.target = s_("urn:t");
    cr_assert(negotiate(READ_IF(ATOM("dateTime", "gt",
                                     "\"2020-01-01T00:00:00Z\"")),
                        &q, buf, sizeof(buf)) == 0, "%s", buf);
    cr_assert(strstr(buf, "no dateTime") != NULL, "%s", buf);
    q.req.has_date_time = 1;
    q.req.date_time = T0;
    cr_assert(negotiate(READ_IF(ATOM("dateTime", "gt",
                                     "\"2020-01-01T00:00:00Z\"")),
                        &q, buf, sizeof(buf)), "%s", buf);
    cr_assert_str_eq(buf, "[\"permission[0]: grants read on urn:t\"]");
    /* and the same request at use is refused */
    q.req.negotiation = 0;
    {
        mim_policy_t *p = compile(READ_IF(ATOM("dateTime", "gt",
                                               "\"2020-01-01T00:00:00Z\"")));
        cr_assert_eq(eval(p, &q, buf, sizeof(buf)).effect, MIM_POLICY_DENY);
        mim_policy_free(p);
    }
    /* no rule at all, or one for another target: still a deny */
    cr_assert(!negotiate("{\"prohibition\": [{\"action\": \"read\"}]}", &q,
                         buf, sizeof(buf)));
    cr_assert(strstr(buf, "no permission for any action") != NULL, "%s",
              buf);
    q.req.target = s_("urn:other");
    cr_assert(!negotiate(READ_IF(ATOM("dateTime", "gt",
                                      "\"2020-01-01T00:00:00Z\"")),
                         &q, buf, sizeof(buf)));
    cr_assert(strstr(buf, "target is urn:t, not urn:other") != NULL, "%s",
              buf);
}

Test(policy_eval, negotiation_defers_what_is_known_at_use)
{
    static const char *const  later[] = {
        ATOM("elapsedTime", "lteq", "\"P30D\""),
        ATOM("count", "lteq", "10"),
        ATOM("purpose", "isAnyOf", "[\"urn:p:research\"]"),
        ATOM("spatial", "eq", "\"urn:place:eu\""),
        ATOM("recipient", "eq", "\"urn:r\""),
        ATOM("deliveryChannel", "eq", "\"urn:c\""),
        ATOM("event", "eq", "\"urn:e\""),
        ATOM("virtualLocation", "isPartOf", "[\"10.0.0.0/8\"]"),
    };
    char    json[1024], buf[1024];
    rq_t    q;
    size_t  i;

    for (i = 0; i < sizeof(later) / sizeof(later[0]); i++) {
        rq_init(&q, "use");
        q.req.target = s_("urn:t");
        snprintf(json, sizeof(json), READ_IF("%s"), later[i]);
        cr_expect(negotiate(json, &q, buf, sizeof(buf)),
                  "%s: assumed to hold at negotiation: %s", later[i], buf);
        /* at use, absent, it fails as always */
        q.req.negotiation = 0;
        q.req.action = s_("read");
        {
            mim_policy_t *p = compile(json);
            cr_expect_eq(eval(p, &q, buf, sizeof(buf)).effect,
                         MIM_POLICY_DENY, "%s", later[i]);
            mim_policy_free(p);
        }
    }
}

Test(policy_eval, negotiation_decides_what_it_knows)
{
    char  buf[1024];
    rq_t  q;

    rq_init(&q, "use");
    q.req.target = s_("urn:t");
    q.req.has_date_time = 1;
    q.req.date_time = T0;

    /* a value the request does give is decided */
    q.req.has_count = 1;
    q.req.count = 11;
    cr_assert(!negotiate(READ_IF(ATOM("count", "lteq", "10")), &q, buf,
                         sizeof(buf)));
    cr_assert(strstr(buf, "count is 11") != NULL, "%s", buf);
    rq_purpose(&q, "urn:p:marketing");
    cr_assert(!negotiate(READ_IF(ATOM("purpose", "isAnyOf",
                                      "[\"urn:p:research\"]")),
                         &q, buf, sizeof(buf)));

    /* dateTime: decided, and missing fails */
    cr_assert(!negotiate(READ_IF(ATOM("dateTime", "lt",
                                      "\"2026-01-01T00:00:00Z\"")),
                         &q, buf, sizeof(buf)));
    q.req.has_date_time = 0;
    cr_assert(!negotiate(READ_IF(ATOM("dateTime", "gt",
                                      "\"2026-01-01T00:00:00Z\"")),
                         &q, buf, sizeof(buf)));

    /* claims: decided, and missing fails */
    cr_assert(!negotiate(READ_IF(ATOM("urn:mim:claim:role", "eq",
                                      "\"operator\"")),
                         &q, buf, sizeof(buf)));
    cr_assert(strstr(buf, "no such claim") != NULL, "%s", buf);
    rq_claim(&q, "role", "viewer");
    cr_assert(!negotiate(READ_IF(ATOM("urn:mim:claim:role", "eq",
                                      "\"operator\"")),
                         &q, buf, sizeof(buf)));
    rq_claim(&q, "role", "operator");
    cr_assert(negotiate(READ_IF(ATOM("urn:mim:claim:role", "eq",
                                     "\"operator\"")),
                        &q, buf, sizeof(buf)), "%s", buf);

    /* the assignee: decided */
    cr_assert(!negotiate("{\"permission\": [{\"action\": \"use\", "
                         "\"assignee\": \"did:web:a.example\"}]}", &q, buf,
                         sizeof(buf)));
    q.req.assignee = s_("did:web:a.example");
    cr_assert(negotiate("{\"permission\": [{\"action\": \"use\", "
                        "\"assignee\": \"did:web:a.example\"}]}", &q, buf,
                        sizeof(buf)), "%s", buf);

    /* a constraint the engine cannot decide never holds, now as later */
    cr_assert(!negotiate(READ_IF(ATOM("partner", "eq", "\"gold\"")), &q,
                         buf, sizeof(buf)));
    /* an address that is not one is not "absent" */
    q.req.virtual_location = s_("not-an-address");
    cr_assert(!negotiate(READ_IF(ATOM("virtualLocation", "isPartOf",
                                      "[\"10.0.0.0/8\"]")),
                         &q, buf, sizeof(buf)));
}

#define T_YES  ATOM("urn:mim:claim:tier", "eq", "\"gold\"")
#define T_NO   ATOM("urn:mim:claim:tier", "eq", "\"lead\"")
#define T_LATER ATOM("count", "lteq", "10")

Test(policy_eval, negotiation_logical_constraints_with_unknowns)
{
    static const struct {
        const char  *constraint;
        int          permission;    /* a permission with it grants */
        int          prohibition;   /* a prohibition with it holds */
    } cases[] = {
        { "{\"and\": [" T_YES ", " T_LATER "]}", 1, 0 },
        { "{\"and\": [" T_NO ", " T_LATER "]}", 0, 0 },
        { "{\"or\": [" T_NO ", " T_LATER "]}", 1, 0 },
        { "{\"or\": [" T_YES ", " T_LATER "]}", 1, 1 },
        { "{\"or\": [" T_NO ", " T_NO "]}", 0, 0 },
        { "{\"xone\": [" T_YES ", " T_LATER "]}", 1, 0 },
        { "{\"xone\": [" T_YES ", " T_YES ", " T_LATER "]}", 0, 0 },
        { "{\"xone\": [" T_NO ", " T_LATER "]}", 1, 0 },
        { "{\"xone\": [" T_NO ", " T_YES "]}", 1, 1 },
        { "{\"andSequence\": [" T_LATER ", " T_YES "]}", 1, 0 },
        { "{\"or\": [{\"and\": [" T_NO ", " T_LATER "]}, " T_YES "]}", 1, 1 },
        { T_LATER, 1, 0 },
        { T_YES, 1, 1 },
    };
    char    json[2048], buf[2048];
    rq_t    q;
    size_t  i;

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        rq_init(&q, "use");
        q.req.target = s_("urn:t");
        rq_claim(&q, "tier", "gold");
        snprintf(json, sizeof(json), READ_IF("%s"), cases[i].constraint);
        cr_expect_eq(negotiate(json, &q, buf, sizeof(buf)),
                     cases[i].permission, "permission %s: %s",
                     cases[i].constraint, buf);
        /* a prohibition that holds voids the permission to use */
        snprintf(json, sizeof(json), "{\"permission\": [{\"action\": "
                 "\"use\"}], \"prohibition\": [{\"action\": \"use\", "
                 "\"constraint\": [%s]}]}", cases[i].constraint);
        cr_expect_eq(negotiate(json, &q, buf, sizeof(buf)),
                     !cases[i].prohibition, "prohibition %s: %s",
                     cases[i].constraint, buf);
    }
}

Test(policy_eval, negotiation_prohibitions_block_what_they_cover)
{
    char  buf[2048];
    rq_t  q;

    rq_init(&q, "use");
    q.req.target = s_("urn:t");

    /* policies/dsp-offer.jsonld's shape: use, but never distribute */
    cr_assert(negotiate("{\"permission\": [{\"action\": \"use\"}], "
                        "\"prohibition\": [{\"action\": \"distribute\"}]}",
                        &q, buf, sizeof(buf)), "%s", buf);
    cr_assert_str_eq(buf, "[\"permission[0]: grants use on urn:t\"]");

    /* a prohibition of use covers a permission to read: conflict */
    cr_assert(!negotiate("{\"permission\": [{\"action\": \"read\"}], "
                         "\"prohibition\": [{\"action\": \"use\"}]}", &q,
                         buf, sizeof(buf)));
    cr_assert(strstr(buf, "prohibition[0]: prohibits use on urn:t") != NULL,
              "%s", buf);
    cr_assert(strstr(buf, "conflict strategy invalid") != NULL, "%s", buf);
    cr_assert(negotiate("{\"conflict\": \"perm\", \"permission\": "
                        "[{\"action\": \"read\"}], \"prohibition\": "
                        "[{\"action\": \"use\"}]}", &q, buf, sizeof(buf)),
              "%s", buf);

    /* a later permission that nothing blocks is the one granted */
    cr_assert(negotiate("{\"permission\": [{\"action\": \"modify\"}, "
                        "{\"action\": \"read\"}], \"prohibition\": "
                        "[{\"action\": \"modify\"}]}", &q, buf, sizeof(buf)),
              "%s", buf);
    cr_assert(strstr(buf, "permission[1]: grants read") != NULL, "%s", buf);

    /* actions outside ODRL's vocabulary: only the same one covers */
    cr_assert(negotiate("{\"permission\": [{\"action\": \"urn:a:query\"}], "
                        "\"prohibition\": [{\"action\": \"urn:a:export\"}, "
                        "{\"action\": \"use\"}]}", &q, buf, sizeof(buf)),
              "%s", buf);
    cr_assert(!negotiate("{\"permission\": [{\"action\": \"urn:a:query\"}], "
                         "\"prohibition\": [{\"action\": \"urn:a:query\"}]}",
                         &q, buf, sizeof(buf)));

    /* duties and obligations still fail closed */
    cr_assert(!negotiate("{\"permission\": [{\"action\": \"use\", \"duty\": "
                         "[{\"action\": \"compensate\"}]}]}", &q, buf,
                         sizeof(buf)));
    cr_assert(!negotiate("{\"permission\": [{\"action\": \"use\"}], "
                         "\"obligation\": [{\"action\": \"delete\"}]}", &q,
                         buf, sizeof(buf)));
}

Test(policy_eval, negotiation_allocates_nothing)
{
    mim_policy_t           *p;
    mim_policy_decision_t   d;
    rq_t                    q;
    char                    buf[512];
    int                     k, permits = 0;

    cr_assert_not_null(__sanitizer_install_malloc_and_free_hooks,
                       "the unit tests run under ASan (make unit)");
    __sanitizer_install_malloc_and_free_hooks(on_malloc, on_free);
    p = compile("{\"permission\": [{\"action\": \"modify\"}, {\"action\": "
                "\"read\", \"constraint\": [{\"xone\": [" T_YES ", "
                T_LATER "]}, " ATOM("dateTime", "lt",
                                    "\"2026-06-01T00:00:00Z\"") "]}], "
                "\"prohibition\": [{\"action\": \"modify\"}, {\"action\": "
                "\"use\", \"constraint\": [{\"and\": [" T_NO ", "
                T_LATER "]}]}]}");
    rq_init(&q, "use");
    q.req.target = s_("urn:t");
    q.req.negotiation = 1;
    q.req.has_date_time = 1;
    rq_claim(&q, "tier", "gold");
    for (k = 0; k < 100; k++) {
        q.req.date_time = T0 + (k - 50) * 86400;
        counting = 1;
        mim_policy_eval(p, &q.req, &d, buf, k % 2 ? 64 : sizeof(buf));
        counting = 0;
        permits += d.effect == MIM_POLICY_PERMIT;
    }
    cr_assert_eq(allocations, 0, "%ld allocations in eval", allocations);
    cr_assert_gt(permits, 0);
    cr_assert_lt(permits, 100);
    mim_policy_free(p);
}
