/*
 * test_policy_parse.c - compiling ODRL policies (policies/
 * mim_policy_parse.c): the JSON-LD forms that mean the same thing, DSP
 * 2025-1 messages, rule splitting and inheritance, and every error with
 * the JSON path it names.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "mim_policy.h"
#include "mim_policy_int.h"
#include "unit.h"

static mim_policy_t *
compile(const char *json)
{
    mim_policy_t  *p = NULL;
    mim_result_t   r = mim_policy_parse(&p, json, strlen(json));

    cr_assert(mim_ok(r), "parse failed: %s\n%s", r.msg, json);
    cr_assert_not_null(p);
    return p;
}

/* the policy must be refused with this code and this message */
static void
refused(const char *json, mim_code_t code, const char *msg)
{
    mim_policy_t  *p = (mim_policy_t *) 0x1;
    mim_result_t   r = mim_policy_parse(&p, json, strlen(json));

    cr_assert_not(mim_ok(r), "accepted:\n%s", json);
    cr_assert_null(p, "policy set on error");
    cr_assert_eq(r.code, code, "code %s, not %s: %s", mim_code_name(r.code),
                 mim_code_name(code), r.msg);
    cr_assert_str_eq(r.msg, msg);
}

static mim_str_t
s_(const char *s)
{
    mim_str_t  v = { s, s != NULL ? strlen(s) : 0 };
    return v;
}

/* decide a read (or another action) of target T by assignee A */
static int
decide(const mim_policy_t *p, const char *action, const char *target,
    const char *assignee, int64_t now)
{
    mim_policy_request_t   req;
    mim_policy_decision_t  d;
    char                   buf[2048];
    mim_result_t           r;

    memset(&req, 0, sizeof(req));
    req.action = s_(action);
    req.target = s_(target);
    req.assignee = s_(assignee);
    req.has_date_time = now != 0;
    req.date_time = now;
    r = mim_policy_eval(p, &req, &d, buf, sizeof(buf));
    cr_assert(mim_ok(r), "%s", r.msg);
    return d.effect == MIM_POLICY_PERMIT;
}

#define T_2026_06  1780272000   /* 2026-06-01T00:00:00Z */
#define T_2027_06  1811808000   /* 2027-06-01T00:00:00Z */

/* the same policy in four spellings */
static const char  compact[] =
"{\"@context\": \"http://www.w3.org/ns/odrl.jsonld\","
" \"@type\": \"Set\", \"uid\": \"urn:p\","
" \"permission\": [{\"target\": \"urn:t\", \"action\": \"use\","
"   \"constraint\": [{\"leftOperand\": \"dateTime\", \"operator\": \"lt\","
"     \"rightOperand\": {\"@value\": \"2027-01-01T00:00:00Z\","
"                        \"@type\": \"xsd:dateTime\"}}]}],"
" \"prohibition\": [{\"target\": \"urn:t\", \"action\": \"delete\"}]}";

static const char  prefixed[] =
"{\"@context\": {\"odrl\": \"http://www.w3.org/ns/odrl/2/\"},"
" \"@type\": \"odrl:Set\", \"@id\": \"urn:p\","
" \"odrl:permission\": [{\"odrl:target\": {\"@id\": \"urn:t\"},"
"   \"odrl:action\": {\"@id\": \"odrl:use\"},"
"   \"odrl:constraint\": [{\"odrl:leftOperand\": {\"@id\": \"odrl:dateTime\"},"
"     \"odrl:operator\": {\"@id\": \"odrl:lt\"},"
"     \"odrl:rightOperand\": {\"@value\": \"2027-01-01T00:00:00Z\","
"       \"@type\": \"http://www.w3.org/2001/XMLSchema#dateTime\"}}]}],"
" \"odrl:prohibition\": [{\"odrl:target\": \"urn:t\","
"   \"odrl:action\": \"odrl:delete\"}]}";

/* JSON-LD expanded form: arrays everywhere, full IRIs */
static const char  expanded[] =
"[{\"@type\": [\"http://www.w3.org/ns/odrl/2/Set\"], \"@id\": \"urn:p\","
" \"http://www.w3.org/ns/odrl/2/permission\": [{"
"   \"http://www.w3.org/ns/odrl/2/target\": [{\"@id\": \"urn:t\"}],"
"   \"http://www.w3.org/ns/odrl/2/action\": [{\"@id\": "
"     \"http://www.w3.org/ns/odrl/2/use\"}],"
"   \"http://www.w3.org/ns/odrl/2/constraint\": [{"
"     \"http://www.w3.org/ns/odrl/2/leftOperand\": [{\"@id\": "
"       \"http://www.w3.org/ns/odrl/2/dateTime\"}],"
"     \"http://www.w3.org/ns/odrl/2/operator\": [{\"@id\": "
"       \"http://www.w3.org/ns/odrl/2/lt\"}],"
"     \"http://www.w3.org/ns/odrl/2/rightOperand\": [{\"@value\": "
"       \"2027-01-01T00:00:00Z\", \"@type\": "
"       \"http://www.w3.org/2001/XMLSchema#dateTime\"}]}]}],"
" \"http://www.w3.org/ns/odrl/2/prohibition\": [{"
"   \"http://www.w3.org/ns/odrl/2/target\": [{\"@id\": \"urn:t\"}],"
"   \"http://www.w3.org/ns/odrl/2/action\": [{\"@id\": "
"     \"http://www.w3.org/ns/odrl/2/delete\"}]}]}]";

/* DSP 2025-1 style: plain string values, a date in a plain string */
static const char  dsp[] =
"{\"@context\": [\"https://w3id.org/dspace/2025/1/context.jsonld\"],"
" \"@type\": \"Set\", \"@id\": \"urn:p\", \"target\": \"urn:t\","
" \"permission\": [{\"action\": \"use\", \"constraint\": [{"
"   \"leftOperand\": \"dateTime\", \"operator\": \"lt\","
"   \"rightOperand\": \"2027-01-01T00:00:00Z\"}]}],"
" \"prohibition\": [{\"action\": \"delete\"}]}";

Test(policy_parse, spellings_mean_the_same)
{
    const char *const  forms[] = { compact, prefixed, expanded, dsp };
    size_t             i;
    mim_policy_t      *p;

    for (i = 0; i < 4; i++) {
        p = compile(forms[i]);
        cr_assert_str_eq(mim_policy_type(p), "Set", "form %zu", i);
        cr_assert_str_eq(mim_policy_uid(p), "urn:p", "form %zu", i);
        cr_assert_eq(mim_policy_rule_count(p), 2, "form %zu", i);
        cr_assert_eq(mim_policy_constraint_count(p), 1, "form %zu", i);
        cr_assert_eq(mim_policy_warning_count(p), 0, "form %zu: %s", i,
                     mim_policy_warning(p, 0));
        /* use covers read; the time bound; the prohibition; the target */
        cr_assert(decide(p, "read", "urn:t", NULL, T_2026_06), "form %zu", i);
        cr_assert(decide(p, "odrl:read", "urn:t", NULL, T_2026_06));
        cr_assert(decide(p, "http://www.w3.org/ns/odrl/2/read", "urn:t",
                         NULL, T_2026_06));
        cr_assert_not(decide(p, "read", "urn:t", NULL, T_2027_06));
        cr_assert_not(decide(p, "delete", "urn:t", NULL, T_2026_06));
        cr_assert_not(decide(p, "read", "urn:other", NULL, T_2026_06));
        cr_assert_not(decide(p, "sell", "urn:t", NULL, T_2026_06));
        mim_policy_free(p);
    }
}

/* the DSP 2025-1 example message, as published (negotiation/example) */
static const char  agreement_message[] =
"{\"@context\": [\"https://w3id.org/dspace/2025/1/context.jsonld\"],"
" \"@type\": \"ContractAgreementMessage\","
" \"providerPid\": \"urn:uuid:a343fcbf-99fc-4ce8-8e9b-148c97605aab\","
" \"consumerPid\": \"urn:uuid:32541fe6-c580-409e-85a8-8a9a32fbe833\","
" \"agreement\": {"
"   \"@id\": \"urn:uuid:e8dc8655-44c2-46ef-b701-4cffdc2faa44\","
"   \"@type\": \"Agreement\","
"   \"target\": \"urn:uuid:3dd1add4-4d2d-569e-d634-8394a8836d23\","
"   \"timestamp\": \"2023-01-01T01:00:00Z\","
"   \"assigner\": \"http://example.com/Provider\","
"   \"assignee\": \"http://example.com/Consumer\","
"   \"permission\": [{\"action\": \"use\", \"constraint\": [{"
"     \"leftOperand\": \"dateTime\", \"operator\": \"lteq\","
"     \"rightOperand\": \"2023-12-31T06:00Z\"}]},"
"    {\"action\": \"use\", \"constraint\": [{\"xone\": ["
"     {\"leftOperand\": \"partner\", \"operator\": \"eq\","
"      \"rightOperand\": \"gold\"},"
"     {\"leftOperand\": \"partner\", \"operator\": \"eq\","
"      \"rightOperand\": \"silver\"}]}]}]}}";

Test(policy_parse, dsp_agreement_message)
{
    mim_policy_t  *p = compile(agreement_message);
    int64_t        ts;

    cr_assert_str_eq(mim_policy_type(p), "Agreement");
    cr_assert_str_eq(mim_policy_uid(p),
                     "urn:uuid:e8dc8655-44c2-46ef-b701-4cffdc2faa44");
    cr_assert_str_eq(mim_policy_target(p),
                     "urn:uuid:3dd1add4-4d2d-569e-d634-8394a8836d23");
    cr_assert_str_eq(mim_policy_assignee(p), "http://example.com/Consumer");
    cr_assert_eq(mim_policy_timestamp(p, &ts), 0);
    cr_assert_eq(ts, 1672534800);       /* 2023-01-01T01:00:00Z */
    cr_assert_eq(mim_policy_rule_count(p), 2);
    cr_assert_eq(mim_policy_constraint_count(p), 3);
    /* "partner" is no ODRL left operand: two warnings, no error */
    cr_assert_eq(mim_policy_warning_count(p), 2);
    cr_assert_str_eq(mim_policy_warning(p, 0),
                     "agreement.permission[1].constraint[0].xone[0]: unknown "
                     "left operand \"partner\": the constraint never holds");
    cr_assert_null(mim_policy_warning(p, 2));
    /* assignee inherited from the agreement */
    cr_assert(decide(p, "read", "urn:uuid:3dd1add4-4d2d-569e-d634-"
                     "8394a8836d23", "http://example.com/Consumer",
                     1690000000));
    cr_assert_not(decide(p, "read", "urn:uuid:3dd1add4-4d2d-569e-d634-"
                         "8394a8836d23", "http://example.com/Other",
                         1690000000));
    cr_assert_not(decide(p, "read", "urn:uuid:3dd1add4-4d2d-569e-d634-"
                         "8394a8836d23", "http://example.com/Consumer",
                         1704100000));
    mim_policy_free(p);
}

Test(policy_parse, dsp_offer_messages)
{
    static const char  offer[] =
        "{\"@context\": [\"https://w3id.org/dspace/2025/1/context.jsonld\"],"
        " \"@type\": \"ContractRequestMessage\","
        " \"consumerPid\": \"urn:uuid:1\", \"callbackAddress\": \"https://c\","
        " \"offer\": {\"@type\": \"Offer\", \"@id\": \"urn:uuid:o\","
        "  \"target\": \"urn:uuid:d\", \"permission\": [{\"action\": "
        "  \"use\"}]}}";
    static const char  no_offer[] =
        "{\"@type\": \"ContractOfferMessage\", \"providerPid\": \"urn:x\"}";
    mim_policy_t      *p = compile(offer);

    cr_assert_str_eq(mim_policy_type(p), "Offer");
    cr_assert_str_eq(mim_policy_uid(p), "urn:uuid:o");
    cr_assert(decide(p, "display", "urn:uuid:d", NULL, 0));
    mim_policy_free(p);
    refused(no_offer, MIM_ERR_INVALID,
            "ContractOfferMessage without \"offer\"");
}

Test(policy_parse, context_prefixes_expand_iris)
{
    static const char  json[] =
        "{\"@context\": [\"http://www.w3.org/ns/odrl.jsonld\","
        "  {\"ex\": \"https://data.example/\", \"dpv\": {\"@id\": "
        "   \"https://w3id.org/dpv#\", \"@prefix\": true},"
        "   \"notaprefix\": \"https://x.example/thing\"}],"
        " \"@type\": \"Set\","
        " \"permission\": [{\"target\": \"ex:dataset/1\", \"action\": "
        "  \"read\", \"assignee\": {\"@id\": \"ex:party/7\"},"
        "  \"constraint\": [{\"leftOperand\": \"purpose\","
        "   \"operator\": \"eq\", \"rightOperand\": {\"@id\": "
        "   \"dpv:Research\"}}]}]}";
    mim_policy_t          *p = compile(json);
    mim_policy_request_t   req;
    mim_policy_decision_t  d;
    mim_str_t              purpose = s_("https://w3id.org/dpv#Research");
    char                   buf[1024];

    memset(&req, 0, sizeof(req));
    req.action = s_("read");
    req.target = s_("https://data.example/dataset/1");
    req.assignee = s_("https://data.example/party/7");
    req.purpose = &purpose;
    req.purpose_n = 1;
    cr_assert(mim_ok(mim_policy_eval(p, &req, &d, buf, sizeof(buf))));
    cr_assert_eq(d.effect, MIM_POLICY_PERMIT, "%s", buf);
    /* the compact form as written is not the IRI */
    req.target = s_("ex:dataset/1");
    cr_assert(mim_ok(mim_policy_eval(p, &req, &d, buf, sizeof(buf))));
    cr_assert_eq(d.effect, MIM_POLICY_DENY);
    mim_policy_free(p);
}

Test(policy_parse, split_and_inherit)
{
    /* policy-level target, assignee and action go to every rule that has
       none of its own; 2 actions x 2 targets x 2 assignees = 8 rules */
    static const char  json[] =
        "{\"@type\": \"Agreement\", \"@id\": \"urn:a\","
        " \"target\": \"urn:t1\", \"assignee\": \"did:web:a\","
        " \"assigner\": \"did:web:provider\", \"action\": \"read\","
        " \"permission\": [{\"action\": [\"print\", \"display\"],"
        "   \"target\": [\"urn:t2\", \"urn:t3\"],"
        "   \"assignee\": [\"did:web:b\", \"did:web:c\"]},"
        "  {\"@id\": \"urn:inherits\"}],"
        " \"prohibition\": [{\"target\": \"urn:t2\"}]}";
    mim_policy_t      *p = compile(json);

    cr_assert_eq(mim_policy_rule_count(p), 8 + 1 + 1);
    cr_assert_str_eq(mim_policy_target(p), "urn:t1");
    cr_assert(decide(p, "print", "urn:t3", "did:web:c", 0));
    cr_assert(decide(p, "display", "urn:t2", "did:web:b", 0));
    /* the rule's own members win: not urn:t1, not did:web:a */
    cr_assert_not(decide(p, "print", "urn:t1", "did:web:a", 0));
    cr_assert_not(decide(p, "print", "urn:t2", "did:web:a", 0));
    /* the second permission inherits all three */
    cr_assert(decide(p, "read", "urn:t1", "did:web:a", 0));
    cr_assert_not(decide(p, "read", "urn:t1", "did:web:b", 0));
    cr_assert_not(decide(p, "read", "urn:t1", NULL, 0));
    cr_assert_not(decide(p, "print", "urn:t1", "did:web:a", 0));
    mim_policy_free(p);
}

Test(policy_parse, w3c_action_with_refinement)
{
    static const char  json[] =
        "{\"@context\": \"http://www.w3.org/ns/odrl.jsonld\","
        " \"@type\": \"Offer\", \"uid\": \"urn:o\", \"permission\": [{"
        "  \"target\": \"urn:t\", \"assigner\": \"urn:me\","
        "  \"action\": [{\"rdf:value\": {\"@id\": \"odrl:read\"},"
        "   \"refinement\": [{\"leftOperand\": \"count\","
        "    \"operator\": \"lteq\", \"rightOperand\": {\"@value\": \"10\","
        "    \"@type\": \"xsd:integer\"}}]}]}]}";
    mim_policy_t          *p = compile(json);
    mim_policy_request_t   req;
    mim_policy_decision_t  d;
    char                   buf[1024];

    cr_assert_eq(mim_policy_constraint_count(p), 1);
    memset(&req, 0, sizeof(req));
    req.action = s_("read");
    req.target = s_("urn:t");
    req.has_count = 1;
    req.count = 10;
    cr_assert(mim_ok(mim_policy_eval(p, &req, &d, buf, sizeof(buf))));
    cr_assert_eq(d.effect, MIM_POLICY_PERMIT, "%s", buf);
    req.count = 11;
    cr_assert(mim_ok(mim_policy_eval(p, &req, &d, buf, sizeof(buf))));
    cr_assert_eq(d.effect, MIM_POLICY_DENY);
    cr_assert_str_eq(buf, "[\"permission[0]: constraint count lteq 10 "
                     "failed: count is 11\",\"no permission grants read on "
                     "urn:t\"]");
    mim_policy_free(p);
}

Test(policy_parse, lenient_where_peers_are)
{
    /* empty constraint lists, single objects for lists, no @type (Set),
       {"@list"} operands, unknown extra members */
    static const char  json[] =
        "{\"permission\": {\"action\": \"read\", \"constraint\": [],"
        "  \"dct:description\": \"x\"},"
        " \"prohibition\": [{\"action\": \"read\", \"constraint\": {"
        "  \"or\": {\"@list\": [{\"leftOperand\": \"count\", \"operator\": "
        "  \"gt\", \"rightOperand\": 5}]}}}],"
        " \"profile\": \"https://test.com/profile\", \"conflict\": \"perm\"}";
    mim_policy_t      *p = compile(json);

    cr_assert_str_eq(mim_policy_type(p), "Set");
    cr_assert_null(mim_policy_uid(p));
    cr_assert_null(mim_policy_target(p));
    cr_assert_eq(mim_policy_rule_count(p), 2);
    cr_assert_eq(mim_policy_warning_count(p), 1);
    cr_assert_str_eq(mim_policy_warning(p, 0),
                     "profile \"https://test.com/profile\": ODRL 2.2 core "
                     "semantics apply; terms the profile adds never hold");
    cr_assert(decide(p, "read", "urn:any", NULL, 0));
    mim_policy_free(p);
}

Test(policy_parse, unknown_terms_are_warnings)
{
    static const char  json[] =
        "{\"@type\": \"Set\", \"permission\": [{\"action\": \"read\","
        " \"constraint\": ["
        "  {\"leftOperand\": \"payAmount\", \"operator\": \"eq\","
        "   \"rightOperand\": 5},"
        "  {\"leftOperand\": \"count\", \"operator\": \"term-lteq\","
        "   \"rightOperand\": 5},"
        "  {\"leftOperand\": \"dateTime\", \"operator\": \"eq\","
        "   \"rightOperand\": {\"@value\": \"2026\", \"@type\": "
        "   \"xsd:gYear\"}},"
        "  {\"leftOperand\": \"count\", \"operator\": \"eq\","
        "   \"rightOperand\": {\"@value\": \"2026-01-01\", \"@type\": "
        "   \"xsd:date\"}},"
        "  {\"leftOperand\": \"purpose\", \"operator\": \"lt\","
        "   \"rightOperand\": \"x\"},"
        "  {\"leftOperand\": \"count\", \"operator\": \"lt\","
        "   \"rightOperand\": [1, 2]},"
        "  {\"leftOperand\": \"virtualLocation\", \"operator\": \"eq\","
        "   \"rightOperand\": \"example.com\"},"
        "  {\"leftOperand\": \"count\", \"operator\": \"eq\","
        "   \"rightOperandReference\": \"urn:x\"},"
        "  {\"leftOperand\": \"dateTime\", \"operator\": \"eq\","
        "   \"dataType\": \"xsd:gMonth\", \"rightOperand\": \"--05\"}"
        "]}]}";
    static const char *const  expected[] = {
        "permission[0].constraint[0]: left operand \"payAmount\" is not "
        "decided by the gateway: the constraint never holds",
        "permission[0].constraint[1]: unknown operator \"term-lteq\": the "
        "constraint never holds",
        "permission[0].constraint[2]: datatype \"xsd:gYear\" is not "
        "supported: the constraint never holds",
        "permission[0].constraint[3]: count needs a number value, not "
        "\"2026-01-01\": the constraint never holds",
        "permission[0].constraint[4]: operator lt does not apply to purpose: "
        "the constraint never holds",
        "permission[0].constraint[5]: operator lt needs one right operand "
        "value, not 2: the constraint never holds",
        "permission[0].constraint[6]: virtualLocation \"example.com\" is not "
        "an IP address or CIDR block (the only virtual locations the "
        "gateway knows): the constraint never holds",
        "permission[0].constraint[7]: rightOperandReference is not "
        "supported: the constraint never holds",
        "permission[0].constraint[8]: datatype \"xsd:gMonth\" is not "
        "supported: the constraint never holds",
    };
    mim_policy_t      *p = compile(json);
    size_t             i;

    cr_assert_eq(mim_policy_warning_count(p), 9);
    for (i = 0; i < 9; i++) {
        cr_assert_str_eq(mim_policy_warning(p, i), expected[i]);
    }
    cr_assert_not(decide(p, "read", NULL, NULL, 0));
    mim_policy_free(p);
}

Test(policy_parse, syntax_errors_have_line_and_column)
{
    refused("{\n  \"permission\": [\n    {\"action\": \"read\",}\n  ]\n}",
            MIM_ERR_INVALID,
            "line 3, column 23: string or '}' expected near '}'");
    refused("", MIM_ERR_INVALID,
            "line 1, column 0: '[' or '{' expected near end of file");
    refused("{\"permission\": [], \"permission\": []}", MIM_ERR_INVALID,
            "line 1, column 31: duplicate object key near '\"permission\"'");
}

Test(policy_parse, errors_name_the_member)
{
    static const struct {
        const char  *json;
        mim_code_t   code;
        const char  *msg;
    } cases[] = {
        { "[1, 2]", MIM_ERR_INVALID, "a policy must be a JSON object" },
        { "{\"@type\": \"Set\"}", MIM_ERR_INVALID,
          "the policy has no permission, prohibition or obligation" },
        { "{\"@type\": \"Ticket\", \"permission\": [{\"action\": \"use\"}]}",
          MIM_ERR_UNSUPPORTED, "@type: policy type \"Ticket\" is not "
          "supported (Set, Offer or Agreement)" },
        { "{\"@type\": \"dcat:Dataset\", \"permission\": []}",
          MIM_ERR_INVALID, "@type: not an ODRL policy type (Set, Offer or "
          "Agreement)" },
        { "{\"permission\": [{\"target\": \"urn:t\"}]}", MIM_ERR_INVALID,
          "permission[0]: a permission needs an action (its own or the "
          "policy's)" },
        { "{\"permission\": [\"read\"]}", MIM_ERR_INVALID,
          "permission[0]: a permission must be an object" },
        { "{\"permission\": [{\"action\": 7}]}", MIM_ERR_INVALID,
          "permission[0].action: expected an IRI (a non-empty string or "
          "{\"@id\": ...})" },
        { "{\"permission\": [{\"action\": \"read\", \"constraint\": [{"
          "\"leftOperand\": \"dateTime\", \"operator\": \"lt\"}]}]}",
          MIM_ERR_INVALID,
          "permission[0].constraint[0]: missing \"rightOperand\"" },
        { "{\"permission\": [{\"action\": \"read\", \"constraint\": [{},"
          "{\"operator\": \"eq\", \"rightOperand\": 1}]}]}",
          MIM_ERR_INVALID,
          "permission[0].constraint[0]: missing \"leftOperand\"" },
        { "{\"permission\": [{\"action\": \"read\", \"constraint\": ["
          "{\"leftOperand\": \"count\", \"rightOperand\": 1}]}]}",
          MIM_ERR_INVALID,
          "permission[0].constraint[0]: missing \"operator\"" },
        { "{\"permission\": [{\"action\": \"read\", \"constraint\": [{"
          "\"leftOperand\": \"count\", \"operator\": \"eq\","
          "\"rightOperand\": 1}, {\"leftOperand\": \"dateTime\","
          "\"operator\": \"lt\", \"rightOperand\": \"soon\"}]}]}",
          MIM_ERR_INVALID, "permission[0].constraint[1].rightOperand: "
          "\"soon\" is not an xsd:dateTime or xsd:date" },
        { "{\"prohibition\": [{\"action\": \"read\", \"constraint\": [{"
          "\"or\": [{\"leftOperand\": \"count\", \"operator\": \"eq\","
          "\"rightOperand\": {\"@value\": \"x\", \"@type\": "
          "\"xsd:integer\"}}]}]}]}",
          MIM_ERR_INVALID, "prohibition[0].constraint[0].or[0]."
          "rightOperand: \"x\" is not an xsd:integer" },
        { "{\"permission\": [{\"action\": \"read\", \"constraint\": [{"
          "\"leftOperand\": \"elapsedTime\", \"operator\": \"lt\","
          "\"rightOperand\": \"2 hours\"}]}]}", MIM_ERR_INVALID,
          "permission[0].constraint[0].rightOperand: \"2 hours\" is not an "
          "xsd:duration" },
        { "{\"permission\": [{\"action\": \"read\", \"constraint\": [{"
          "\"leftOperand\": \"count\", \"operator\": \"lt\","
          "\"rightOperand\": \"ten\"}]}]}", MIM_ERR_INVALID,
          "permission[0].constraint[0].rightOperand: \"ten\" is not a "
          "number" },
        { "{\"permission\": [{\"action\": \"read\", \"constraint\": [{"
          "\"leftOperand\": \"count\", \"operator\": \"eq\","
          "\"rightOperand\": []}]}]}", MIM_ERR_INVALID,
          "permission[0].constraint[0].rightOperand: empty right operand" },
        { "{\"permission\": [{\"action\": \"read\", \"constraint\": [{"
          "\"leftOperand\": \"count\", \"operator\": \"eq\","
          "\"rightOperand\": [[1]]}]}]}", MIM_ERR_INVALID,
          "permission[0].constraint[0].rightOperand: nested lists are not "
          "supported" },
        { "{\"permission\": [{\"action\": \"read\", \"constraint\": [{"
          "\"leftOperand\": \"count\", \"operator\": \"eq\","
          "\"rightOperand\": null}]}]}", MIM_ERR_INVALID,
          "permission[0].constraint[0].rightOperand: unsupported right "
          "operand value (a string, a number, {\"@value\": ...} or "
          "{\"@id\": ...})" },
        { "{\"permission\": [{\"action\": \"read\", \"constraint\": [{"
          "\"and\": [], \"or\": []}]}]}", MIM_ERR_INVALID,
          "permission[0].constraint[0]: a logical constraint has one "
          "operand, not both \"and\" and \"or\"" },
        { "{\"permission\": [{\"action\": \"read\", \"constraint\": [{"
          "\"and\": []}]}]}", MIM_ERR_INVALID,
          "permission[0].constraint[0].and: a logical constraint needs at "
          "least one constraint" },
        { "{\"permission\": [{\"action\": \"read\", \"constraint\": [{"
          "\"and\": [{\"@id\": \"urn:c1\"}]}]}]}", MIM_ERR_UNSUPPORTED,
          "permission[0].constraint[0].and[0]: constraints given by "
          "reference (\"@id\" only) are not supported" },
        { "{\"permission\": [{\"action\": \"read\", \"constraint\": [{"
          "\"or\": [{\"leftOperand\": \"count\", \"operator\": \"eq\","
          "\"rightOperand\": 1}], \"leftOperand\": \"count\"}]}]}",
          MIM_ERR_INVALID, "permission[0].constraint[0]: a constraint is "
          "atomic or logical, not both" },
        { "{\"permission\": [{\"action\": \"read\", \"constraint\": [3]}]}",
          MIM_ERR_INVALID,
          "permission[0].constraint[0]: a constraint must be an object" },
        { "{\"permission\": [{\"action\": \"read\"}], \"conflict\": "
          "\"first\"}", MIM_ERR_INVALID, "conflict: unknown conflict "
          "strategy \"first\" (perm, prohibit or invalid)" },
        { "{\"permission\": [{\"action\": \"read\"}], \"inheritFrom\": "
          "\"urn:parent\"}", MIM_ERR_UNSUPPORTED,
          "inheritFrom: policy inheritance is not supported" },
        { "{\"permission\": [{\"action\": \"read\"}], \"odrl:permission\": "
          "[]}", MIM_ERR_INVALID,
          "both \"permission\" and \"odrl:permission\"" },
        { "{\"permission\": [{\"action\": \"read\", \"target\": {"
          "\"@type\": \"AssetCollection\", \"source\": \"urn:s\","
          "\"refinement\": []}}]}", MIM_ERR_UNSUPPORTED,
          "permission[0].target: collections defined by a refinement are "
          "not supported" },
        { "{\"permission\": [{\"action\": \"read\", \"assignee\": "
          "{\"@type\": \"Party\"}}]}", MIM_ERR_INVALID,
          "permission[0].assignee: expected an IRI: an object needs "
          "\"@id\"" },
        { "{\"permission\": [{\"action\": \"read\", \"target\": []}]}",
          MIM_ERR_INVALID, "permission[0].target: empty list" },
        { "{\"permission\": [{\"action\": \"read\", \"duty\": [{"
          "\"constraint\": []}]}]}", MIM_ERR_INVALID,
          "permission[0].duty[0]: a duty needs an action (its own or the "
          "policy's)" },
        { "{\"@type\": \"Agreement\", \"timestamp\": \"yesterday\", "
          "\"permission\": [{\"action\": \"read\"}]}", MIM_ERR_INVALID,
          "timestamp: \"yesterday\" is not an xsd:dateTime" },
        { "{\"permission\": [{\"action\": \"read\", \"constraint\": [{"
          "\"leftOperand\": [\"count\", \"dateTime\"], \"operator\": "
          "\"eq\", \"rightOperand\": 1}]}]}", MIM_ERR_INVALID,
          "permission[0].constraint[0].leftOperand: expected one value, "
          "not 2" },
    };
    size_t  i;

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        refused(cases[i].json, cases[i].code, cases[i].msg);
    }
}

/* nest logical constraints depth levels deep */
static char *
nested(int depth)
{
    size_t  cap = (size_t) depth * 32 + 256, n = 0;
    char   *s = malloc(cap);
    int     i;

    cr_assert_not_null(s);
    n += (size_t) sprintf(s + n, "{\"permission\": [{\"action\": \"read\", "
                          "\"constraint\": [");
    for (i = 0; i < depth; i++) {
        n += (size_t) sprintf(s + n, "{\"and\": [");
    }
    n += (size_t) sprintf(s + n, "{\"leftOperand\": \"count\", \"operator\":"
                          " \"lteq\", \"rightOperand\": 3}");
    for (i = 0; i < depth; i++) {
        n += (size_t) sprintf(s + n, "]}");
    }
    sprintf(s + n, "]}]}");
    return s;
}

Test(policy_parse, limits)
{
    mim_policy_t  *p = NULL;
    mim_result_t   r;
    char          *json, *big;
    size_t         n = 1024 * 1024 + 1;

    json = nested(16);
    p = compile(json);
    mim_policy_free(p);
    free(json);

    json = nested(17);
    r = mim_policy_parse(&p, json, strlen(json));
    cr_assert_eq(r.code, MIM_ERR_LIMIT, "%s", r.msg);
    cr_assert(strstr(r.msg, "logical constraints nested deeper than 16")
              != NULL, "%s", r.msg);
    cr_assert_null(p);
    free(json);

    big = malloc(n);
    cr_assert_not_null(big);
    memset(big, ' ', n);
    r = mim_policy_parse(&p, big, n);
    cr_assert_eq(r.code, MIM_ERR_LIMIT);
    cr_assert_str_eq(r.msg, "policy larger than 1048576 bytes");
    free(big);

    r = mim_policy_parse(&p, NULL, 0);
    cr_assert_eq(r.code, MIM_ERR_INVALID);
    r = mim_policy_parse(NULL, "{}", 2);
    cr_assert_eq(r.code, MIM_ERR_INVALID);
}

Test(policy_parse, too_many_atomic_rules)
{
    /* 70 actions x 70 targets = 4900 atomic rules: over the limit */
    size_t         cap = 64 * 1024, n = 0;
    char          *s = malloc(cap);
    mim_policy_t  *p = NULL;
    mim_result_t   r;
    int            i;

    cr_assert_not_null(s);
    n += (size_t) sprintf(s, "{\"permission\": [{\"action\": [");
    for (i = 0; i < 70; i++) {
        n += (size_t) sprintf(s + n, "%s\"urn:a:%d\"", i ? "," : "", i);
    }
    n += (size_t) sprintf(s + n, "], \"target\": [");
    for (i = 0; i < 70; i++) {
        n += (size_t) sprintf(s + n, "%s\"urn:t:%d\"", i ? "," : "", i);
    }
    sprintf(s + n, "]}]}");
    r = mim_policy_parse(&p, s, strlen(s));
    cr_assert_eq(r.code, MIM_ERR_LIMIT, "%s", r.msg);
    cr_assert_str_eq(r.msg, "permission[0]: the policy is too large (more "
                     "than 4096 rules, constraints or values)");
    free(s);
}

Test(policy_parse, load_from_file)
{
    char          *path = ut_temp_file(dsp);
    mim_policy_t  *p = NULL;
    mim_result_t   r;

    r = mim_policy_load(&p, path);
    cr_assert(mim_ok(r), "%s", r.msg);
    cr_assert_str_eq(mim_policy_uid(p), "urn:p");
    mim_policy_free(p);
    ut_temp_remove(path);

    r = mim_policy_load(&p, "/nonexistent/policy.jsonld");
    cr_assert_eq(r.code, MIM_ERR_IO);
    cr_assert_str_eq(r.msg, "cannot open: No such file or directory");
    cr_assert_null(p);
    mim_policy_free(NULL);
}

Test(policy_parse, strings_are_interned)
{
    /* the same IRI in many rules is stored once: the policy's memory
       does not grow with repetitions of it */
    static const char  one[] =
        "{\"permission\": [{\"action\": \"read\", \"target\": "
        "\"urn:a-fairly-long-target-name-that-repeats\"}]}";
    size_t         cap = 64 * 1024, n = 0;
    char          *s = malloc(cap);
    mim_policy_t  *p1, *p2;
    int            i;

    cr_assert_not_null(s);
    n += (size_t) sprintf(s, "{\"permission\": [");
    for (i = 0; i < 100; i++) {
        n += (size_t) sprintf(s + n, "%s{\"action\": \"read\", \"target\": "
                              "\"urn:a-fairly-long-target-name-that-"
                              "repeats\"}", i ? "," : "");
    }
    sprintf(s + n, "]}");
    p1 = compile(one);
    p2 = compile(s);
    cr_assert_eq(mim_policy_rule_count(p2), 100);
    /* 100 labels "permission[N]" differ, the 44-byte target does not */
    cr_assert_lt(p2->arena_len, p1->arena_len + 100 * 20);
    mim_policy_free(p1);
    mim_policy_free(p2);
    free(s);
}
