/*
 * test_dsp_msg.c - the DSP 2025-1 messages of dsp/mim_dsp_msg.c: every
 * inbound type read from the official examples; what the schemas refuse
 * refused with the member named; what we build valid for the official
 * schemas (their validator runs over it).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>
#include <jansson.h>

#include "mim_dsp.h"
#include "test_dsp.h"

#define CTX  "\"@context\": [\"" MIM_DSP_CONTEXT "\"]"

static mim_result_t
parse(mim_dsp_msg_t *msg, mim_dsp_msg_type_t type, const char *json)
{
    return mim_dsp_msg_parse(msg, type, json, strlen(json));
}

static void
parse_ok(mim_dsp_msg_t *msg, mim_dsp_msg_type_t type, const char *json)
{
    mim_result_t  r = parse(msg, type, json);

    cr_assert(mim_ok(r), "%s\n%s", r.msg, json);
    cr_assert_eq(msg->type, type);
}

static void
parse_example(mim_dsp_msg_t *msg, mim_dsp_msg_type_t type, const char *rel)
{
    size_t         len;
    char          *text = td_example(rel, &len);
    mim_result_t   r = mim_dsp_msg_parse(msg, type, text, len);

    cr_assert(mim_ok(r), "%s: %s", rel, r.msg);
    cr_assert_eq(msg->type, type);
    free(text);
}

/* ---- the official examples ---- */

Test(dsp_msg, catalog_request_example)
{
    mim_dsp_msg_t  m;

    parse_example(&m, MIM_DSP_MSG_CATALOG_REQUEST,
                  "catalog/example/catalog-request-message.json");
    cr_assert_eq(m.has_filter, 0);
    cr_assert_null(m.consumer_pid);
    mim_dsp_msg_free(&m);
}

Test(dsp_msg, contract_request_examples)
{
    mim_dsp_msg_t  m;
    json_t        *offer;

    parse_example(&m, MIM_DSP_MSG_CONTRACT_REQUEST,
                  "negotiation/example/contract-request-message_initial.json");
    cr_assert_str_eq(m.consumer_pid,
                     "urn:uuid:32541fe6-c580-409e-85a8-8a9a32fbe833");
    cr_assert_null(m.provider_pid);
    cr_assert_str_eq(m.callback_address, "https://example.com/callback");
    cr_assert_str_eq(m.offer_id,
                     "urn:uuid:2828282:3dd1add8-4d2d-569e-d634-8394a8836a89");
    cr_assert_str_eq(m.offer_target,
                     "urn:uuid:3dd1add8-4d2d-569e-d634-8394a8836a88");
    offer = td_json(m.offer_json);
    cr_assert_str_eq(json_string_value(json_object_get(offer, "@type")),
                     "Offer");
    cr_assert_str_eq(json_string_value(json_object_get(
        json_array_get(json_object_get(offer, "permission"), 0), "action")),
        "use");
    /* compact: no space after the separators */
    cr_assert_null(strstr(m.offer_json, ", "));
    json_decref(offer);
    mim_dsp_msg_free(&m);

    parse_example(&m, MIM_DSP_MSG_CONTRACT_REQUEST,
                  "negotiation/example/contract-request-message.json");
    cr_assert_str_eq(m.provider_pid,
                     "urn:uuid:a343fcbf-99fc-4ce8-8e9b-148c97605aab");
    cr_assert_null(m.callback_address);
    cr_assert_str_eq(m.offer_id,
                     "urn:uuid:d526561f-528e-4d5a-ae12-9a9dd9b7a815");
    cr_assert_not_null(strstr(m.offer_json, "\"rightOperand\":"
                                            "\"2023-12-31T06:00Z\""));
    mim_dsp_msg_free(&m);
}

Test(dsp_msg, verification_event_termination_examples)
{
    mim_dsp_msg_t  m;

    parse_example(&m, MIM_DSP_MSG_AGREEMENT_VERIFICATION,
                  "negotiation/example/"
                  "contract-agreement-verification-message.json");
    cr_assert_str_eq(m.provider_pid,
                     "urn:uuid:a343fcbf-99fc-4ce8-8e9b-148c97605aab");
    cr_assert_str_eq(m.consumer_pid,
                     "urn:uuid:32541fe6-c580-409e-85a8-8a9a32fbe833");
    mim_dsp_msg_free(&m);

    parse_example(&m, MIM_DSP_MSG_NEGOTIATION_EVENT,
                  "negotiation/example/"
                  "contract-negotiation-event-message.json");
    cr_assert_eq(m.event, MIM_DSP_EVENT_ACCEPTED);
    cr_assert_str_eq(m.consumer_pid,
                     "urn:uuid:32541fe6-c580-409e-85a8-8a9a32fbe833");
    mim_dsp_msg_free(&m);

    parse_example(&m, MIM_DSP_MSG_NEGOTIATION_TERMINATION,
                  "negotiation/example/"
                  "contract-negotiation-termination-message.json");
    cr_assert_str_eq(m.code, "99");
    cr_assert_str_eq(m.reason_json, "[\"License model does not fit.\"]");
    mim_dsp_msg_free(&m);
}

Test(dsp_msg, an_example_of_another_type_is_refused)
{
    static const struct {
        mim_dsp_msg_type_t  type;
        const char         *rel;
    } others[] = {
        { MIM_DSP_MSG_AGREEMENT_VERIFICATION,
          "negotiation/example/contract-negotiation-event-message.json" },
        { MIM_DSP_MSG_CONTRACT_REQUEST,
          "negotiation/example/contract-offer-message_initial.json" },
        { MIM_DSP_MSG_NEGOTIATION_EVENT,
          "negotiation/example/contract-agreement-message.json" },
        { MIM_DSP_MSG_CATALOG_REQUEST,
          "catalog/example/dataset-request-message.json" },
        { MIM_DSP_MSG_NEGOTIATION_TERMINATION,
          "negotiation/example/contract-negotiation-error.json" },
    };
    mim_dsp_msg_t  m;
    mim_result_t   r;
    size_t         i, len;
    char          *text;

    for (i = 0; i < sizeof(others) / sizeof(others[0]); i++) {
        text = td_example(others[i].rel, &len);
        r = mim_dsp_msg_parse(&m, others[i].type, text, len);
        cr_expect_eq(r.code, MIM_ERR_INVALID, "%s", others[i].rel);
        cr_expect(strncmp(r.msg, "@type: expected ", 16) == 0, "%s: %s",
                  others[i].rel, r.msg);
        cr_expect_eq(m.type, MIM_DSP_MSG_NONE);
        mim_dsp_msg_free(&m);
        free(text);
    }
}

/* ---- what peers send that the examples do not show ---- */

Test(dsp_msg, accepted_variants)
{
    mim_dsp_msg_t  m;

    /* a top-level @id, extra members, an empty constraint list,
       assigner/assignee in the offer (counter-offers) */
    parse_ok(&m, MIM_DSP_MSG_CONTRACT_REQUEST, "{" CTX ", \"@id\": "
             "\"urn:msg:1\", \"@type\": \"ContractRequestMessage\", "
             "\"consumerPid\": \"urn:c\", \"callbackAddress\": "
             "\"https://c.example/cb/\", \"x-extension\": {\"a\": 1}, "
             "\"offer\": {\"@id\": \"urn:o\", \"@type\": \"Offer\", "
             "\"target\": \"urn:d\", \"assigner\": \"did:web:p\", "
             "\"assignee\": \"did:web:c\", \"permission\": [{\"action\": "
             "\"use\", \"constraint\": []}]}}");
    cr_assert_str_eq(m.callback_address, "https://c.example/cb/");
    mim_dsp_msg_free(&m);

    /* the context as one string, and beside other contexts */
    parse_ok(&m, MIM_DSP_MSG_AGREEMENT_VERIFICATION, "{\"@context\": \""
             MIM_DSP_CONTEXT "\", \"@type\": "
             "\"ContractAgreementVerificationMessage\", \"providerPid\": "
             "\"urn:p\", \"consumerPid\": \"urn:c\"}");
    mim_dsp_msg_free(&m);
    parse_ok(&m, MIM_DSP_MSG_AGREEMENT_VERIFICATION, "{\"@context\": ["
             "\"https://www.w3.org/ns/odrl.jsonld\", \"" MIM_DSP_CONTEXT
             "\"], \"@type\": \"ContractAgreementVerificationMessage\", "
             "\"providerPid\": \"urn:p\", \"consumerPid\": \"urn:c\"}");
    mim_dsp_msg_free(&m);

    /* eventType as the IRI it expands to */
    parse_ok(&m, MIM_DSP_MSG_NEGOTIATION_EVENT, "{" CTX ", \"@type\": "
             "\"ContractNegotiationEventMessage\", \"providerPid\": "
             "\"urn:p\", \"consumerPid\": \"urn:c\", \"eventType\": "
             "\"https://w3id.org/dspace/2025/1/FINALIZED\"}");
    cr_assert_eq(m.event, MIM_DSP_EVENT_FINALIZED);
    mim_dsp_msg_free(&m);

    /* reasons of any type, no code */
    parse_ok(&m, MIM_DSP_MSG_NEGOTIATION_TERMINATION, "{" CTX ", \"@type\":"
             " \"ContractNegotiationTerminationMessage\", \"providerPid\": "
             "\"urn:p\", \"consumerPid\": \"urn:c\", \"reason\": "
             "[{\"message\": \"no\"}, 42]}");
    cr_assert_null(m.code);
    cr_assert_str_eq(m.reason_json, "[{\"message\":\"no\"},42]");
    mim_dsp_msg_free(&m);

    /* a catalog request with a filter */
    parse_ok(&m, MIM_DSP_MSG_CATALOG_REQUEST, "{" CTX ", \"@type\": "
             "\"CatalogRequestMessage\", \"filter\": [{\"q\": 1}]}");
    cr_assert_eq(m.has_filter, 1);
    mim_dsp_msg_free(&m);
    parse_ok(&m, MIM_DSP_MSG_CATALOG_REQUEST, "{" CTX ", \"@type\": "
             "\"CatalogRequestMessage\"}");
    cr_assert_eq(m.has_filter, 0);
    mim_dsp_msg_free(&m);

    /* every schema operator and every logical constraint */
    parse_ok(&m, MIM_DSP_MSG_CONTRACT_REQUEST, "{" CTX ", \"@type\": "
             "\"ContractRequestMessage\", \"consumerPid\": \"urn:c\", "
             "\"providerPid\": \"urn:p\", \"offer\": {\"@id\": \"urn:o\", "
             "\"@type\": \"Offer\", \"profile\": [\"urn:prof\"], "
             "\"prohibition\": [{\"action\": \"distribute\"}], "
             "\"obligation\": [{\"action\": \"inform\"}], "
             "\"permission\": [{\"action\": \"use\", \"constraint\": ["
             "{\"and\": [{\"leftOperand\": \"a\", \"operator\": \"eq\", "
             "\"rightOperand\": \"x\"}, {\"or\": [{\"leftOperand\": \"a\", "
             "\"operator\": \"term-lteq\", \"rightOperand\": {\"@value\": "
             "\"1\"}}]}]}, {\"xone\": []}, {\"andSequence\": ["
             "{\"leftOperand\": \"b\", \"operator\": \"isNoneOf\", "
             "\"rightOperand\": [\"y\", \"z\"]}]}]}]}}");
    cr_assert_null(m.offer_target);
    mim_dsp_msg_free(&m);
}

/* ---- what is refused, and why ---- */

typedef struct {
    mim_dsp_msg_type_t  type;
    const char         *json;
    const char         *reason;     /* the start of r.msg */
} bad_t;

#define REQ(members) \
    "{" CTX ", \"@type\": \"ContractRequestMessage\", " members "}"
#define REQ_OFFER(offer) \
    REQ("\"consumerPid\": \"urn:c\", \"callbackAddress\": \"https://c/cb\"," \
        " \"offer\": " offer)
#define OFFER_RULE(rule) \
    REQ_OFFER("{\"@id\": \"urn:o\", \"@type\": \"Offer\", \"target\": " \
              "\"urn:d\", \"permission\": [" rule "]}")
#define OFFER_CONSTRAINT(c) \
    OFFER_RULE("{\"action\": \"use\", \"constraint\": [" c "]}")
#define EVENT(members) \
    "{" CTX ", \"@type\": \"ContractNegotiationEventMessage\", " \
    "\"providerPid\": \"urn:p\", \"consumerPid\": \"urn:c\"" members "}"
#define TERM(members) \
    "{" CTX ", \"@type\": \"ContractNegotiationTerminationMessage\", " \
    "\"providerPid\": \"urn:p\", \"consumerPid\": \"urn:c\"" members "}"
#define VERIFY(members) \
    "{" CTX ", \"@type\": \"ContractAgreementVerificationMessage\"" \
    members "}"

#define CR  MIM_DSP_MSG_CONTRACT_REQUEST

static const bad_t  bad[] = {
    /* JSON itself */
    { CR, "{\"@context\": ", "message: not JSON: line 1" },
    { CR, "[]", "message: not a JSON object" },
    { CR, "", "message: empty" },
    { CR, "{\"a\": 1, \"a\": 2}", "message: not JSON" },
    { CR, "{\"a\": \"\\u0000\"}", "message: not JSON" },
    { CR, "\"just a string\"", "message: not JSON" },
    /* @context */
    { CR, "{\"@type\": \"ContractRequestMessage\"}", "@context: missing" },
    { CR, "{\"@context\": [\"https://w3id.org/dspace/2024/1/context.json\"], "
          "\"@type\": \"ContractRequestMessage\"}",
      "@context: does not hold " MIM_DSP_CONTEXT },
    { CR, "{\"@context\": [], \"@type\": \"ContractRequestMessage\"}",
      "@context: does not hold" },
    { CR, "{\"@context\": \"https://example.com/ctx\"}",
      "@context: does not hold" },
    { CR, "{\"@context\": [\"" MIM_DSP_CONTEXT "\", {\"x\": \"y\"}]}",
      "@context[1]: expected a string" },
    { CR, "{\"@context\": {\"@vocab\": \"" MIM_DSP_CONTEXT "\"}}",
      "@context: expected an array of strings" },
    /* @type */
    { CR, "{" CTX "}", "@type: missing" },
    { CR, "{" CTX ", \"@type\": [\"ContractRequestMessage\"]}",
      "@type: expected the string \"ContractRequestMessage\"" },
    { CR, "{" CTX ", \"@type\": \"dspace:ContractRequestMessage\"}",
      "@type: expected ContractRequestMessage, not "
      "\"dspace:ContractRequestMessage\"" },
    { CR, "{" CTX ", \"@type\": \"ContractOfferMessage\"}",
      "@type: expected ContractRequestMessage, not \"ContractOfferMessage\""
    },
    /* ContractRequestMessage members */
    { CR, REQ("\"callbackAddress\": \"https://c/cb\", \"offer\": {}"),
      "consumerPid: missing" },
    { CR, REQ("\"consumerPid\": 7"), "consumerPid: expected a string" },
    { CR, REQ("\"consumerPid\": \"\""), "consumerPid: empty" },
    { CR, REQ("\"consumerPid\": \"urn:c\", \"providerPid\": \"urn:p\", "
              "\"callbackAddress\": \"https://c/cb\", \"offer\": {}"),
      "callbackAddress, providerPid: a request has one of them, not both" },
    { CR, REQ("\"consumerPid\": \"urn:c\", \"offer\": {}"),
      "callbackAddress: missing (or providerPid" },
    { CR, REQ("\"consumerPid\": \"urn:c\", \"callbackAddress\": null"),
      "callbackAddress: expected a string" },
    { CR, REQ("\"consumerPid\": \"urn:c\", \"providerPid\": [\"urn:p\"]"),
      "providerPid: expected a string" },
    { CR, REQ("\"consumerPid\": \"urn:c\", \"callbackAddress\": \"https:"
              "//c/cb\""), "offer: missing" },
    { CR, REQ_OFFER("\"urn:o\""), "offer: expected an object" },
    { CR, REQ_OFFER("{\"@type\": \"Offer\", \"permission\": [{\"action\": "
                    "\"use\"}]}"), "offer.@id: missing" },
    { CR, REQ_OFFER("{\"@id\": {\"@id\": \"urn:o\"}}"),
      "offer.@id: expected a string" },
    { CR, REQ_OFFER("{\"@id\": \"urn:o\", \"permission\": [{\"action\": "
                    "\"use\"}]}"), "offer.@type: missing" },
    { CR, REQ_OFFER("{\"@id\": \"urn:o\", \"@type\": \"Set\", \"permission\":"
                    " [{\"action\": \"use\"}]}"),
      "offer.@type: expected \"Offer\"" },
    { CR, REQ_OFFER("{\"@id\": \"urn:o\", \"@type\": \"Offer\", \"target\": "
                    "{\"@id\": \"urn:d\"}, \"permission\": [{\"action\": "
                    "\"use\"}]}"), "offer.target: expected a string" },
    { CR, REQ_OFFER("{\"@id\": \"urn:o\", \"@type\": \"Offer\", \"target\": "
                    "\"urn:d\"}"),
      "offer: no permission and no prohibition" },
    { CR, REQ_OFFER("{\"@id\": \"urn:o\", \"@type\": \"Offer\", "
                    "\"obligation\": [{\"action\": \"use\"}]}"),
      "offer: no permission and no prohibition" },
    { CR, REQ_OFFER("{\"@id\": \"urn:o\", \"@type\": \"Offer\", "
                    "\"permission\": []}"), "offer.permission: empty" },
    { CR, REQ_OFFER("{\"@id\": \"urn:o\", \"@type\": \"Offer\", "
                    "\"permission\": {\"action\": \"use\"}}"),
      "offer.permission: expected an array" },
    { CR, REQ_OFFER("{\"@id\": \"urn:o\", \"@type\": \"Offer\", "
                    "\"permission\": [{\"action\": \"use\"}], "
                    "\"prohibition\": [{}]}"),
      "offer.prohibition[0].action: missing" },
    { CR, REQ_OFFER("{\"@id\": \"urn:o\", \"@type\": \"Offer\", "
                    "\"permission\": [{\"action\": \"use\"}], "
                    "\"obligation\": []}"), "offer.obligation: empty" },
    { CR, REQ_OFFER("{\"@id\": \"urn:o\", \"@type\": \"Offer\", \"profile\":"
                    " 3, \"permission\": [{\"action\": \"use\"}]}"),
      "offer.profile: expected a string or an array of strings" },
    { CR, OFFER_RULE("\"use\""), "offer.permission[0]: expected an object" },
    { CR, OFFER_RULE("{\"action\": \"use\"}, {\"action\": {\"@id\": "
                     "\"odrl:use\"}}"),
      "offer.permission[1].action: expected a string" },
    { CR, OFFER_RULE("{\"action\": \"use\", \"constraint\": {}}"),
      "offer.permission[0].constraint: expected an array" },
    { CR, OFFER_CONSTRAINT("\"dateTime lt 2026\""),
      "offer.permission[0].constraint[0]: expected an object" },
    { CR, OFFER_CONSTRAINT("{}"),
      "offer.permission[0].constraint[0]: neither an atomic constraint" },
    { CR, OFFER_CONSTRAINT("{\"leftOperand\": \"count\", \"operator\": "
                           "\"lt\"}"),
      "offer.permission[0].constraint[0].rightOperand: missing" },
    { CR, OFFER_CONSTRAINT("{\"operator\": \"lt\", \"rightOperand\": \"5\"}"),
      "offer.permission[0].constraint[0].leftOperand: missing" },
    { CR, OFFER_CONSTRAINT("{\"leftOperand\": \"count\", \"operator\": "
                           "\"lt\", \"rightOperand\": 5}"),
      "offer.permission[0].constraint[0].rightOperand: expected a string, "
      "an object or an array" },
    { CR, OFFER_CONSTRAINT("{\"leftOperand\": \"count\", \"operator\": "
                           "\"odrl:lt\", \"rightOperand\": \"5\"}"),
      "offer.permission[0].constraint[0].operator: \"odrl:lt\" is not an "
      "operator of DSP 2025-1" },
    { CR, OFFER_CONSTRAINT("{\"leftOperand\": {\"@id\": \"count\"}, "
                           "\"operator\": \"lt\", \"rightOperand\": \"5\"}"),
      "offer.permission[0].constraint[0].leftOperand: expected a string" },
    { CR, OFFER_CONSTRAINT("{\"and\": [], \"or\": []}"),
      "offer.permission[0].constraint[0]: more than one of and, or" },
    { CR, OFFER_CONSTRAINT("{\"or\": {}}"),
      "offer.permission[0].constraint[0].or: expected an array" },
    { CR, OFFER_CONSTRAINT("{\"and\": [{\"leftOperand\": \"count\", "
                           "\"operator\": \"lt\", \"rightOperand\": \"5\"}, "
                           "{\"xone\": [{\"leftOperand\": \"a\"}]}]}"),
      "offer.permission[0].constraint[0].and[1].xone[0].operator: missing" },
    { CR, OFFER_CONSTRAINT("{\"leftOperand\": \"count\", \"operator\": "
                           "\"lt\", \"rightOperand\": \"5\", \"and\": []}"),
      "offer.permission[0].constraint[0]: both an atomic and a logical "
      "constraint" },
    /* verification */
    { MIM_DSP_MSG_AGREEMENT_VERIFICATION, VERIFY(", \"consumerPid\": \"c\""),
      "providerPid: missing" },
    { MIM_DSP_MSG_AGREEMENT_VERIFICATION, VERIFY(", \"providerPid\": \"p\""),
      "consumerPid: missing" },
    { MIM_DSP_MSG_AGREEMENT_VERIFICATION, VERIFY(", \"providerPid\": \"p\", "
                                                 "\"consumerPid\": 1"),
      "consumerPid: expected a string" },
    /* event */
    { MIM_DSP_MSG_NEGOTIATION_EVENT, EVENT(""), "eventType: missing" },
    { MIM_DSP_MSG_NEGOTIATION_EVENT, EVENT(", \"eventType\": \"AGREED\""),
      "eventType: \"AGREED\" is not ACCEPTED or FINALIZED" },
    { MIM_DSP_MSG_NEGOTIATION_EVENT, EVENT(", \"eventType\": \"accepted\""),
      "eventType: \"accepted\" is not ACCEPTED or FINALIZED" },
    { MIM_DSP_MSG_NEGOTIATION_EVENT, EVENT(", \"eventType\": "
                                           "\"dspace:FINALIZED\""),
      "eventType: \"dspace:FINALIZED\" is not" },
    { MIM_DSP_MSG_NEGOTIATION_EVENT, EVENT(", \"eventType\": [\"ACCEPTED\"]"),
      "eventType: expected a string" },
    /* termination */
    { MIM_DSP_MSG_NEGOTIATION_TERMINATION, TERM(", \"reason\": []"),
      "reason: empty" },
    { MIM_DSP_MSG_NEGOTIATION_TERMINATION, TERM(", \"reason\": \"no\""),
      "reason: expected an array" },
    { MIM_DSP_MSG_NEGOTIATION_TERMINATION, TERM(", \"code\": 99"),
      "code: expected a string" },
    /* catalog request */
    { MIM_DSP_MSG_CATALOG_REQUEST, "{" CTX ", \"@type\": "
      "\"CatalogRequestMessage\", \"filter\": {}}",
      "filter: expected an array" },
    /* no such type */
    { MIM_DSP_MSG_NONE, "{}", "unknown message type" },
    { (mim_dsp_msg_type_t) 99, "{}", "unknown message type" },
};

Test(dsp_msg, refused_with_the_member_named)
{
    mim_dsp_msg_t  m;
    mim_result_t   r;
    size_t         i;

    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        r = parse(&m, bad[i].type, bad[i].json);
        cr_expect_neq(r.code, MIM_OK, "accepted: %s", bad[i].json);
        cr_expect(strncmp(r.msg, bad[i].reason, strlen(bad[i].reason)) == 0,
                  "expected \"%s...\", got \"%s\"\nfor %s", bad[i].reason,
                  r.msg, bad[i].json);
        mim_dsp_msg_free(&m);
        cr_expect_null(m.consumer_pid);
    }
}

Test(dsp_msg, bounded_inputs)
{
    mim_dsp_msg_t  m;
    mim_result_t   r;
    char          *big, *deep;
    size_t         i, n;

    /* a NUL byte, anywhere */
    r = mim_dsp_msg_parse(&m, CR, "{\"a\": 1}\0", 9);
    cr_assert_eq(r.code, MIM_ERR_INVALID);
    cr_assert_str_eq(r.msg, "message: a NUL byte");

    /* over the size limit: refused before parsing */
    n = 300 * 1024;
    big = malloc(n);
    cr_assert_not_null(big);
    memset(big, ' ', n);
    big[0] = '{';
    big[n - 1] = '}';
    r = mim_dsp_msg_parse(&m, CR, big, n);
    cr_assert_eq(r.code, MIM_ERR_LIMIT, "%s", r.msg);
    free(big);

    /* nesting: 64 levels are read, 65 are not */
    deep = malloc(1024);
    cr_assert_not_null(deep);
    for (n = 64; n <= 65; n++) {
        strcpy(deep, "{" CTX ", \"x\": ");
        for (i = 1; i < n; i++) {
            strcat(deep, "[");
        }
        for (i = 1; i < n; i++) {
            strcat(deep, "]");
        }
        strcat(deep, "}");
        r = parse(&m, MIM_DSP_MSG_CATALOG_REQUEST, deep);
        if (n == 64) {
            cr_assert_str_eq(r.msg, "@type: missing");
        } else {
            cr_assert_eq(r.code, MIM_ERR_LIMIT, "%s", r.msg);
        }
        mim_dsp_msg_free(&m);
    }
    /* brackets inside strings do not count */
    strcpy(deep, "{" CTX ", \"@type\": \"CatalogRequestMessage\", \"x\": \"");
    for (i = 0; i < 100; i++) {
        strcat(deep, "[{");
    }
    strcat(deep, "\\\"\"}");
    parse_ok(&m, MIM_DSP_MSG_CATALOG_REQUEST, deep);
    mim_dsp_msg_free(&m);
    free(deep);

    /* a pid over 2048 bytes */
    big = malloc(4096);
    cr_assert_not_null(big);
    strcpy(big, VERIFY(", \"providerPid\": \"urn:p\", \"consumerPid\": \""));
    n = strlen(big);
    memset(big + n, 'x', 2049);
    strcpy(big + n + 2049, "\"}");
    r = parse(&m, MIM_DSP_MSG_AGREEMENT_VERIFICATION, big);
    cr_assert_eq(r.code, MIM_ERR_LIMIT);
    cr_assert_str_eq(r.msg, "consumerPid: longer than 2048 bytes");
    mim_dsp_msg_free(&m);
    free(big);
}

Test(dsp_msg, pids_are_kept_when_the_message_is_refused)
{
    mim_dsp_msg_t  m;
    mim_result_t   r;

    /* for the ContractNegotiationError that answers it */
    r = parse(&m, MIM_DSP_MSG_NEGOTIATION_EVENT,
              "{\"@type\": \"ContractNegotiationEventMessage\", "
              "\"providerPid\": \"urn:p\", \"consumerPid\": \"urn:c\", "
              "\"eventType\": \"ACCEPTED\"}");
    cr_assert_str_eq(r.msg, "@context: missing");
    cr_assert_str_eq(m.provider_pid, "urn:p");
    cr_assert_str_eq(m.consumer_pid, "urn:c");
    cr_assert_eq(m.type, MIM_DSP_MSG_NONE);
    mim_dsp_msg_free(&m);
    cr_assert_null(m.provider_pid);
    /* and freeing twice, or a zeroed message, is fine */
    mim_dsp_msg_free(&m);
    mim_dsp_msg_free(NULL);
}

Test(dsp_msg, untrusted_text_in_reasons_is_made_safe)
{
    mim_dsp_msg_t  m;
    mim_result_t   r;
    size_t         i;

    r = parse(&m, MIM_DSP_MSG_NEGOTIATION_EVENT,
              EVENT(", \"eventType\": \"\\n\\u00e9\\u001b[31m\""));
    cr_assert_eq(r.code, MIM_ERR_INVALID);
    for (i = 0; r.msg[i] != '\0'; i++) {
        cr_assert(r.msg[i] >= 0x20 && r.msg[i] < 0x7f, "%s", r.msg);
    }
    mim_dsp_msg_free(&m);
}

Test(dsp_msg, type_names)
{
    cr_assert_str_eq(mim_dsp_msg_type_name(MIM_DSP_MSG_CATALOG_REQUEST),
                     "CatalogRequestMessage");
    cr_assert_str_eq(mim_dsp_msg_type_name(MIM_DSP_MSG_CONTRACT_REQUEST),
                     "ContractRequestMessage");
    cr_assert_str_eq(mim_dsp_msg_type_name(
                         MIM_DSP_MSG_AGREEMENT_VERIFICATION),
                     "ContractAgreementVerificationMessage");
    cr_assert_str_eq(mim_dsp_msg_type_name(MIM_DSP_MSG_NEGOTIATION_EVENT),
                     "ContractNegotiationEventMessage");
    cr_assert_str_eq(mim_dsp_msg_type_name(
                         MIM_DSP_MSG_NEGOTIATION_TERMINATION),
                     "ContractNegotiationTerminationMessage");
    cr_assert_str_eq(mim_dsp_msg_type_name(MIM_DSP_MSG_NONE), "none");
    cr_assert_str_eq(mim_dsp_msg_type_name((mim_dsp_msg_type_t) 42), "none");
}

/* ---- what we send ---- */

#define AGREEMENT \
    "{\"@id\":\"urn:uuid:7b4c1a90-2f6e-4d3a-b8e2-1c9d5e7f0a12\"," \
    "\"@type\":\"Agreement\",\"target\":\"urn:mim:dataset:parking\"," \
    "\"assigner\":\"did:web:city.example\",\"assignee\":" \
    "\"did:web:consumer.example\",\"timestamp\":\"2026-11-25T10:00:00Z\"," \
    "\"permission\":[{\"action\":\"use\"}]}"

static mim_dsp_neg_t
a_negotiation(mim_dsp_neg_state_t state)
{
    mim_dsp_neg_t  n;

    memset(&n, 0, sizeof(n));
    n.provider_pid = "urn:uuid:a343fcbf-99fc-4ce8-8e9b-148c97605aab";
    n.consumer_pid = "urn:uuid:32541fe6-c580-409e-85a8-8a9a32fbe833";
    n.agreement_id = "urn:uuid:7b4c1a90-2f6e-4d3a-b8e2-1c9d5e7f0a12";
    n.agreement_json = AGREEMENT;
    n.state = state;
    return n;
}

/* the built text, checked to be JSON of the expected @type */
static char *
built(mim_result_t r, char *json, size_t len, const char *type)
{
    json_t  *v;

    cr_assert(mim_ok(r), "%s", r.msg);
    cr_assert_not_null(json);
    cr_assert_eq(strlen(json), len);
    v = td_json(json);
    if (type != NULL) {
        cr_assert_str_eq(json_string_value(json_object_get(v, "@type")),
                         type, "%s", json);
        cr_assert_str_eq(json_string_value(json_array_get(
                             json_object_get(v, "@context"), 0)),
                         MIM_DSP_CONTEXT);
    }
    json_decref(v);
    return json;
}

Test(dsp_msg, everything_we_build_validates)
{
    static const char *const  profile[] = { "urn:ishare:v2", NULL };
    static const char *const  none[] = { NULL };
    char           *docs[32], *json;
    size_t          n = 0, len, i;
    mim_dsp_neg_t   neg;
    mim_result_t    r;
    int             s;

    for (s = MIM_DSP_NEG_REQUESTED; s <= MIM_DSP_NEG_TERMINATED; s++) {
        neg = a_negotiation((mim_dsp_neg_state_t) s);
        r = mim_dsp_negotiation_json(&neg, &json, &len);
        docs[n++] = built(r, json, len, "ContractNegotiation");
    }
    neg = a_negotiation(MIM_DSP_NEG_AGREED);
    r = mim_dsp_agreement_message_json(&neg, &json, &len);
    docs[n++] = built(r, json, len, "ContractAgreementMessage");
    r = mim_dsp_event_message_json(&neg, MIM_DSP_EVENT_FINALIZED, &json,
                                   &len);
    docs[n++] = built(r, json, len, "ContractNegotiationEventMessage");
    r = mim_dsp_event_message_json(&neg, MIM_DSP_EVENT_ACCEPTED, &json,
                                   &len);
    docs[n++] = built(r, json, len, "ContractNegotiationEventMessage");
    r = mim_dsp_termination_message_json(&neg, "policy", "the offer's "
                                         "policy does not permit it",
                                         &json, &len);
    docs[n++] = built(r, json, len, "ContractNegotiationTerminationMessage");
    r = mim_dsp_termination_message_json(&neg, NULL, NULL, &json, &len);
    docs[n++] = built(r, json, len, "ContractNegotiationTerminationMessage");
    /* an error for a message that had no pids at all */
    r = mim_dsp_negotiation_error_json(NULL, NULL, "invalid-message",
                                       "@context: missing", &json, &len);
    docs[n++] = built(r, json, len, "ContractNegotiationError");
    r = mim_dsp_negotiation_error_json("urn:p", "urn:c", NULL, NULL, &json,
                                       &len);
    docs[n++] = built(r, json, len, "ContractNegotiationError");
    r = mim_dsp_catalog_error_json("unknown-dataset", "no dataset \"x\"",
                                   &json, &len);
    docs[n++] = built(r, json, len, "CatalogError");
    r = mim_dsp_catalog_error_json(NULL, NULL, &json, &len);
    docs[n++] = built(r, json, len, "CatalogError");
    /* VersionResponse: no @type */
    r = mim_dsp_version_json("/dsp", NULL, NULL, NULL, &json, &len);
    docs[n++] = built(r, json, len, NULL);
    r = mim_dsp_version_json("/dsp", "iSHARE", "2.0", profile, &json, &len);
    docs[n++] = built(r, json, len, NULL);
    r = mim_dsp_version_json("", "DCP", "1.0", none, &json, &len);
    docs[n++] = built(r, json, len, NULL);

    td_validate((const char *const *) docs, n);
    for (i = 0; i < n; i++) {
        free(docs[i]);
    }
}

Test(dsp_msg, built_contents)
{
    static const char *const  profile[] = { "a", "b", NULL };
    mim_dsp_neg_t   neg = a_negotiation(MIM_DSP_NEG_VERIFIED);
    mim_result_t    r;
    char           *json;
    size_t          len;

    r = mim_dsp_negotiation_json(&neg, &json, &len);
    cr_assert_str_eq(json, "{\"@context\":[\"" MIM_DSP_CONTEXT "\"],"
                     "\"@type\":\"ContractNegotiation\",\"providerPid\":"
                     "\"urn:uuid:a343fcbf-99fc-4ce8-8e9b-148c97605aab\","
                     "\"consumerPid\":\"urn:uuid:32541fe6-c580-409e-85a8-"
                     "8a9a32fbe833\",\"state\":\"VERIFIED\"}");
    free(json);

    /* the agreement is an object in the message, not a string */
    r = mim_dsp_agreement_message_json(&neg, &json, &len);
    cr_assert(mim_ok(r));
    cr_assert_not_null(strstr(json, ",\"agreement\":" AGREEMENT "}"), "%s",
                       json);
    free(json);

    r = mim_dsp_termination_message_json(&neg, "99", "no \"way\"", &json,
                                         &len);
    cr_assert(mim_ok(r));
    cr_assert_not_null(strstr(json, "\"code\":\"99\",\"reason\":"
                                    "[\"no \\\"way\\\"\"]}"), "%s", json);
    free(json);

    r = mim_dsp_negotiation_error_json(NULL, "urn:c", "400", "bad", &json,
                                       &len);
    cr_assert_not_null(strstr(json, "\"providerPid\":\"\",\"consumerPid\":"
                                    "\"urn:c\",\"code\":\"400\",\"reason\":"
                                    "[\"bad\"]"), "%s", json);
    free(json);

    r = mim_dsp_version_json("/dsp", "iSHARE", "2.0", profile, &json, &len);
    cr_assert_str_eq(json, "{\"protocolVersions\":[{\"version\":\"2025-1\","
                     "\"path\":\"/dsp\",\"binding\":\"HTTPS\",\"auth\":"
                     "{\"protocol\":\"iSHARE\",\"version\":\"2.0\","
                     "\"profile\":[\"a\",\"b\"]}}]}");
    free(json);
    r = mim_dsp_version_json("/dsp", NULL, NULL, NULL, &json, NULL);
    cr_assert_str_eq(json, "{\"protocolVersions\":[{\"version\":\"2025-1\","
                     "\"path\":\"/dsp\",\"binding\":\"HTTPS\"}]}");
    free(json);
}

Test(dsp_msg, builders_refuse_what_would_not_validate)
{
    mim_dsp_neg_t   neg = a_negotiation(MIM_DSP_NEG_INITIAL);
    mim_result_t    r;
    char           *json = (char *) 1;
    size_t          len = 7;

    r = mim_dsp_negotiation_json(&neg, &json, &len);
    cr_assert_eq(r.code, MIM_ERR_INVALID);
    cr_assert_str_eq(r.msg, "state: INITIAL is not a state of a "
                     "negotiation");
    cr_assert_null(json);
    cr_assert_eq(len, 0);

    neg = a_negotiation(MIM_DSP_NEG_AGREED);
    neg.consumer_pid = NULL;
    r = mim_dsp_event_message_json(&neg, MIM_DSP_EVENT_FINALIZED, &json,
                                   &len);
    cr_assert_eq(r.code, MIM_ERR_INVALID);
    cr_assert_null(json);

    neg = a_negotiation(MIM_DSP_NEG_AGREED);
    r = mim_dsp_event_message_json(&neg, MIM_DSP_EVENT_NONE, &json, &len);
    cr_assert_eq(r.code, MIM_ERR_INVALID);
    cr_assert_null(json);

    neg.agreement_json = NULL;
    r = mim_dsp_agreement_message_json(&neg, &json, &len);
    cr_assert_str_eq(r.msg, "agreement: the negotiation has none");
    neg.agreement_json = "[1]";
    r = mim_dsp_agreement_message_json(&neg, &json, &len);
    cr_assert_eq(r.code, MIM_ERR_INVALID);
    cr_assert_null(json);

    /* text that is not UTF-8 would make invalid JSON */
    r = mim_dsp_negotiation_error_json("urn:p", "urn:c", NULL,
                                       "bad \xff byte", &json, &len);
    cr_assert_eq(r.code, MIM_ERR_INVALID);
    cr_assert_str_eq(r.msg, "reason: not UTF-8 text");
    cr_assert_null(json);
    r = mim_dsp_version_json("/d\xc3", NULL, NULL, NULL, &json, &len);
    cr_assert_str_eq(r.msg, "path: not UTF-8 text");
    r = mim_dsp_version_json(NULL, NULL, NULL, NULL, &json, &len);
    cr_assert_str_eq(r.msg, "path: missing");
    r = mim_dsp_version_json("/dsp", "DCP", NULL, NULL, &json, &len);
    cr_assert_eq(r.code, MIM_ERR_INVALID);
    cr_assert_null(json);
    r = mim_dsp_catalog_error_json(NULL, NULL, NULL, NULL);
    cr_assert_eq(r.code, MIM_ERR_INVALID);
}

/* ---- small helpers: urn:uuid, URLs, callback paths, times ---- */

Test(dsp_msg, urn_uuid)
{
    char    a[MIM_DSP_UUID_LEN], b[MIM_DSP_UUID_LEN];
    size_t  i;

    cr_assert(mim_ok(mim_dsp_new_urn_uuid(a)));
    cr_assert(mim_ok(mim_dsp_new_urn_uuid(b)));
    cr_assert_eq(strlen(a), MIM_DSP_UUID_LEN - 1);
    cr_assert_str_neq(a, b);
    cr_assert(strncmp(a, "urn:uuid:", 9) == 0);
    for (i = 9; i < strlen(a); i++) {
        if (i == 17 || i == 22 || i == 27 || i == 32) {
            cr_assert_eq(a[i], '-', "%s", a);
        } else {
            cr_assert(strchr("0123456789abcdef", a[i]) != NULL, "%s", a);
        }
    }
    /* version 4, RFC 4122 variant */
    cr_assert_eq(a[23], '4', "%s", a);
    cr_assert(strchr("89ab", a[28]) != NULL, "%s", a);
}

typedef struct {
    const char  *text;
    mim_code_t   code;
    int          https;
    const char  *host;
    int          port;
    const char  *path;
} url_case_t;

Test(dsp_msg, url_parse)
{
    static const url_case_t  cases[] = {
        { "https://consumer.example/cb", MIM_OK, 1, "consumer.example", 443,
          "/cb" },
        { "http://127.0.0.1:8080/dsp/callback/", MIM_OK, 0, "127.0.0.1",
          8080, "/dsp/callback" },
        { "HTTPS://C.example", MIM_OK, 1, "C.example", 443, "" },
        { "http://c.example/", MIM_OK, 0, "c.example", 80, "" },
        { "http://c.example:80//", MIM_OK, 0, "c.example", 80, "" },
        { "https://[::1]:8443/cb", MIM_OK, 1, "::1", 8443, "/cb" },
        { "https://[2001:db8::7]/a/b%20c", MIM_OK, 1, "2001:db8::7", 443,
          "/a/b%20c" },
        { "http://c.example:65535/x:y@z", MIM_OK, 0, "c.example", 65535,
          "/x:y@z" },
        { "ftp://c.example/cb", MIM_ERR_UNSUPPORTED, 0, NULL, 0, NULL },
        { "file:///etc/passwd", MIM_ERR_UNSUPPORTED, 0, NULL, 0, NULL },
        { "https:/c.example/cb", MIM_ERR_INVALID, 0, NULL, 0, NULL },
        { "c.example/cb", MIM_ERR_INVALID, 0, NULL, 0, NULL },
        { "/cb", MIM_ERR_INVALID, 0, NULL, 0, NULL },
        { "https:///cb", MIM_ERR_INVALID, 0, NULL, 0, NULL },
        { "https://:443/cb", MIM_ERR_INVALID, 0, NULL, 0, NULL },
        { "https://user:pw@c.example/cb", MIM_ERR_INVALID, 0, NULL, 0, NULL },
        { "https://c.example/cb?x=1", MIM_ERR_INVALID, 0, NULL, 0, NULL },
        { "https://c.example/cb#frag", MIM_ERR_INVALID, 0, NULL, 0, NULL },
        { "https://c.example:/cb", MIM_ERR_INVALID, 0, NULL, 0, NULL },
        { "https://c.example:0/cb", MIM_ERR_INVALID, 0, NULL, 0, NULL },
        { "https://c.example:65536/cb", MIM_ERR_INVALID, 0, NULL, 0, NULL },
        { "https://c.example:123456/cb", MIM_ERR_INVALID, 0, NULL, 0, NULL },
        { "https://c.example:8x/cb", MIM_ERR_INVALID, 0, NULL, 0, NULL },
        { "https://[::1/cb", MIM_ERR_INVALID, 0, NULL, 0, NULL },
        { "https://[not:an:address]/cb", MIM_ERR_INVALID, 0, NULL, 0, NULL },
        { "https://[::1]x/cb", MIM_ERR_INVALID, 0, NULL, 0, NULL },
        { "https://c.example/c b", MIM_ERR_INVALID, 0, NULL, 0, NULL },
        { "https://c.exa\x01mple/", MIM_ERR_INVALID, 0, NULL, 0, NULL },
        { "https://c.example/\xc3\xa9", MIM_ERR_INVALID, 0, NULL, 0, NULL },
        { "https://c.example/%zz", MIM_ERR_INVALID, 0, NULL, 0, NULL },
        { "https://c.example/a%2", MIM_ERR_INVALID, 0, NULL, 0, NULL },
        { "https://c.ex<ample/", MIM_ERR_INVALID, 0, NULL, 0, NULL },
        { "https://c.example/<script>", MIM_ERR_INVALID, 0, NULL, 0, NULL },
        { "", MIM_ERR_INVALID, 0, NULL, 0, NULL },
    };
    mim_dsp_url_t  u;
    mim_result_t   r;
    size_t         i;

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        r = mim_dsp_url_parse(&u, cases[i].text, strlen(cases[i].text));
        cr_expect_eq(r.code, cases[i].code, "%s: %s", cases[i].text, r.msg);
        if (cases[i].code == MIM_OK && mim_ok(r)) {
            cr_expect_eq(u.https, cases[i].https, "%s", cases[i].text);
            cr_expect_str_eq(u.host, cases[i].host, "%s", cases[i].text);
            cr_expect_eq(u.port, cases[i].port, "%s", cases[i].text);
            cr_expect_str_eq(u.path, cases[i].path, "%s", cases[i].text);
        } else {
            cr_expect_null(u.host, "%s", cases[i].text);
            cr_expect_null(u.path, "%s", cases[i].text);
        }
        mim_dsp_url_free(&u);
        cr_expect_null(u.host);
    }
    /* the length given is what counts */
    r = mim_dsp_url_parse(&u, "https://c.example/cb?x", 20);
    cr_assert(mim_ok(r), "%s", r.msg);
    cr_assert_str_eq(u.path, "/cb");
    mim_dsp_url_free(&u);
    mim_dsp_url_free(NULL);
}

Test(dsp_msg, callback_paths)
{
    static const struct {
        const char  *address;
        const char  *pid;
        const char  *path;
    } cases[] = {
        { "https://c.example/cb", "urn:uuid:32541fe6-c580-409e-85a8-"
          "8a9a32fbe833", "/cb/negotiations/urn:uuid:32541fe6-c580-409e-"
          "85a8-8a9a32fbe833/agreement" },
        { "https://c.example/cb/", "urn:c", "/cb/negotiations/urn:c/"
          "agreement" },
        { "https://c.example", "urn:c", "/negotiations/urn:c/agreement" },
        { "https://c.example/", "c-1_2.3~", "/negotiations/c-1_2.3~/"
          "agreement" },
        { "http://[::1]:9/a/b/", "a/b?c#d e%f\"\xc3\xa9",
          "/a/b/negotiations/a%2Fb%3Fc%23d%20e%25f%22%C3%A9/agreement" },
        { "http://c/x", "...", "/x/negotiations/.../agreement" },
    };
    mim_dsp_url_t  u;
    mim_result_t   r;
    char          *path = NULL;
    size_t         i;

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        r = mim_dsp_url_parse(&u, cases[i].address,
                              strlen(cases[i].address));
        cr_assert(mim_ok(r), "%s: %s", cases[i].address, r.msg);
        r = mim_dsp_callback_path(&u, "negotiations", cases[i].pid,
                                  "agreement", &path);
        cr_assert(mim_ok(r), "%s", r.msg);
        cr_expect_str_eq(path, cases[i].path);
        free(path);
        mim_dsp_url_free(&u);
    }
    r = mim_dsp_url_parse(&u, "https://c/cb", 12);
    cr_assert(mim_ok(r));
    r = mim_dsp_callback_path(&u, "negotiations", "", "events", &path);
    cr_assert_eq(r.code, MIM_ERR_INVALID);
    cr_assert_null(path);
    r = mim_dsp_callback_path(&u, "negotiations", NULL, "events", &path);
    cr_assert_eq(r.code, MIM_ERR_INVALID);
    r = mim_dsp_callback_path(&u, NULL, "urn:c", "events", &path);
    cr_assert_eq(r.code, MIM_ERR_INVALID);
    r = mim_dsp_callback_path(&u, "negotiations", "..", "events", &path);
    cr_assert_eq(r.code, MIM_ERR_INVALID);
    r = mim_dsp_callback_path(&u, "negotiations", ".", "events", &path);
    cr_assert_eq(r.code, MIM_ERR_INVALID);
    r = mim_dsp_callback_path(&u, "transfers", "urn:c", "start", &path);
    cr_assert_str_eq(path, "/cb/transfers/urn:c/start");
    free(path);
    mim_dsp_url_free(&u);
}

Test(dsp_msg, format_time)
{
    char  t[32];

    mim_dsp_format_time(0, t);
    cr_assert_str_eq(t, "1970-01-01T00:00:00Z");
    mim_dsp_format_time(1795600800, t);
    cr_assert_str_eq(t, "2026-11-25T10:00:00Z");
    mim_dsp_format_time(-5, t);
    cr_assert_str_eq(t, "1970-01-01T00:00:00Z");
    mim_dsp_format_time(INT64_MAX, t);
    cr_assert_str_eq(t, "9999-12-31T23:59:59Z");
}
