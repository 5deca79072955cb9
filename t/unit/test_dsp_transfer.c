/*
 * test_dsp_transfer.c - the transfer process (dsp/mim_dsp_transfer.c):
 * every inbound message read from the official examples; what the
 * schemas refuse refused with the member named; the whole state machine
 * against shared/spec/DSP-NOTES.md (every state x every message x both
 * senders); the stored record (round trips, tampered records refused);
 * what we build valid for the official schemas (their validator runs
 * over it).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>
#include <jansson.h>

#include "mim_dsp_transfer.h"
#include "test_dsp.h"

#define CTX   "\"@context\": [\"" MIM_DSP_CONTEXT "\"]"
#define PPID  "urn:uuid:a343fcbf-99fc-4ce8-8e9b-148c97605aab"
#define CPID  "urn:uuid:32541fe6-c580-409e-85a8-8a9a32fbe833"

static mim_result_t
parse(mim_dsp_tmsg_t *msg, mim_dsp_tmsg_type_t type, const char *json)
{
    return mim_dsp_tmsg_parse(msg, type, json, strlen(json));
}

static void
parse_ok(mim_dsp_tmsg_t *msg, mim_dsp_tmsg_type_t type, const char *json)
{
    mim_result_t  r = parse(msg, type, json);

    cr_assert(mim_ok(r), "%s\n%s", r.msg, json);
    cr_assert_eq(msg->type, type);
}

static void
parse_example(mim_dsp_tmsg_t *msg, mim_dsp_tmsg_type_t type,
    const char *rel)
{
    size_t         len;
    char          *text = td_example(rel, &len);
    mim_result_t   r = mim_dsp_tmsg_parse(msg, type, text, len);

    cr_assert(mim_ok(r), "%s: %s", rel, r.msg);
    cr_assert_eq(msg->type, type);
    free(text);
}

/* ---- the official examples ---- */

#define EXAMPLE_ADDRESS \
    "{\"@type\":\"DataAddress\",\"endpointType\":" \
    "\"https://w3id.org/idsa/v4.1/HTTP\",\"endpoint\":" \
    "\"http://example.com\",\"endpointProperties\":[{\"@type\":" \
    "\"EndpointProperty\",\"name\":\"authorization\",\"value\":" \
    "\"TOKEN-ABCDEFG\"},{\"@type\":\"EndpointProperty\",\"name\":" \
    "\"authType\",\"value\":\"bearer\"}]}"

Test(dsp_transfer, request_example)
{
    mim_dsp_tmsg_t  m;

    parse_example(&m, MIM_DSP_TMSG_REQUEST,
                  "transfer/example/transfer-request-message.json");
    cr_assert_str_eq(m.consumer_pid, CPID);
    cr_assert_null(m.provider_pid);
    cr_assert_str_eq(m.agreement_id,
                     "urn:uuid:e8dc8655-44c2-46ef-b701-4cffdc2faa44");
    cr_assert_str_eq(m.format, "example:HTTP_PUSH");
    cr_assert_str_eq(m.callback_address, "https://example.com/callback");
    cr_assert_str_eq(m.data_address_json, EXAMPLE_ADDRESS);
    cr_assert_null(m.code);
    cr_assert_null(m.reason_json);
    mim_dsp_tmsg_free(&m);
}

Test(dsp_transfer, start_completion_suspension_termination_examples)
{
    mim_dsp_tmsg_t  m;

    parse_example(&m, MIM_DSP_TMSG_START,
                  "transfer/example/transfer-start-message.json");
    cr_assert_str_eq(m.provider_pid, PPID);
    cr_assert_str_eq(m.consumer_pid, CPID);
    cr_assert_str_eq(m.data_address_json, EXAMPLE_ADDRESS);
    cr_assert_null(m.agreement_id);
    mim_dsp_tmsg_free(&m);

    parse_example(&m, MIM_DSP_TMSG_COMPLETION,
                  "transfer/example/transfer-completion-message.json");
    cr_assert_str_eq(m.provider_pid, PPID);
    cr_assert_str_eq(m.consumer_pid, CPID);
    cr_assert_null(m.data_address_json);
    mim_dsp_tmsg_free(&m);

    parse_example(&m, MIM_DSP_TMSG_SUSPENSION,
                  "transfer/example/transfer-suspension-message.json");
    cr_assert_str_eq(m.provider_pid, PPID);
    cr_assert_str_eq(m.code, "99");
    cr_assert_str_eq(m.reason_json, "[\"Policy violation\"]");
    mim_dsp_tmsg_free(&m);

    parse_example(&m, MIM_DSP_TMSG_TERMINATION,
                  "transfer/example/transfer-termination-message.json");
    cr_assert_str_eq(m.consumer_pid, CPID);
    cr_assert_str_eq(m.code, "99");
    cr_assert_str_eq(m.reason_json, "[\"Policy violation\"]");
    mim_dsp_tmsg_free(&m);
}

Test(dsp_transfer, an_example_of_another_type_is_refused)
{
    static const struct {
        mim_dsp_tmsg_type_t  type;
        const char          *rel;
    } others[] = {
        { MIM_DSP_TMSG_REQUEST,
          "transfer/example/transfer-start-message.json" },
        { MIM_DSP_TMSG_START,
          "transfer/example/transfer-completion-message.json" },
        { MIM_DSP_TMSG_COMPLETION,
          "transfer/example/transfer-process.json" },
        { MIM_DSP_TMSG_SUSPENSION,
          "transfer/example/transfer-termination-message.json" },
        { MIM_DSP_TMSG_TERMINATION,
          "transfer/example/transfer-error.json" },
        { MIM_DSP_TMSG_TERMINATION,
          "negotiation/example/"
          "contract-negotiation-termination-message.json" },
    };
    mim_dsp_tmsg_t  m;
    mim_result_t    r;
    size_t          i, len;
    char           *text;

    for (i = 0; i < sizeof(others) / sizeof(others[0]); i++) {
        text = td_example(others[i].rel, &len);
        r = mim_dsp_tmsg_parse(&m, others[i].type, text, len);
        cr_expect_eq(r.code, MIM_ERR_INVALID, "%s", others[i].rel);
        cr_expect(strncmp(r.msg, "@type: expected ", 16) == 0, "%s: %s",
                  others[i].rel, r.msg);
        cr_expect_eq(m.type, MIM_DSP_TMSG_NONE);
        mim_dsp_tmsg_free(&m);
        free(text);
    }
}

/* ---- what peers send that the examples do not show ---- */

#define REQ(members) \
    "{" CTX ", \"@type\": \"TransferRequestMessage\", " members "}"
#define REQ_OK(more) \
    REQ("\"consumerPid\": \"urn:c\", \"agreementId\": \"urn:a\", " \
        "\"format\": \"HttpData-PULL\", \"callbackAddress\": " \
        "\"https://c/cb\"" more)
#define PIDS  "\"providerPid\": \"urn:p\", \"consumerPid\": \"urn:c\""
#define START(more) \
    "{" CTX ", \"@type\": \"TransferStartMessage\", " PIDS more "}"
#define SUSP(more) \
    "{" CTX ", \"@type\": \"TransferSuspensionMessage\", " PIDS more "}"
#define TERM(more) \
    "{" CTX ", \"@type\": \"TransferTerminationMessage\", " PIDS more "}"
#define COMPL(members) \
    "{" CTX ", \"@type\": \"TransferCompletionMessage\"" members "}"

Test(dsp_transfer, accepted_variants)
{
    mim_dsp_tmsg_t  m;

    /* a pull request: no dataAddress; extra members, a providerPid the
       consumer has no business sending (not read), @id */
    parse_ok(&m, MIM_DSP_TMSG_REQUEST, REQ_OK(", \"@id\": \"urn:msg:1\", "
             "\"providerPid\": \"urn:theirs\", \"x-ext\": {\"a\": [1]}"));
    cr_assert_str_eq(m.consumer_pid, "urn:c");
    cr_assert_str_eq(m.agreement_id, "urn:a");
    cr_assert_str_eq(m.format, "HttpData-PULL");
    cr_assert_str_eq(m.callback_address, "https://c/cb");
    cr_assert_null(m.provider_pid);
    cr_assert_null(m.data_address_json);
    mim_dsp_tmsg_free(&m);

    /* the context as one string, and beside others */
    parse_ok(&m, MIM_DSP_TMSG_COMPLETION, "{\"@context\": \""
             MIM_DSP_CONTEXT "\", \"@type\": \"TransferCompletionMessage\", "
             PIDS "}");
    mim_dsp_tmsg_free(&m);
    parse_ok(&m, MIM_DSP_TMSG_COMPLETION, "{\"@context\": ["
             "\"https://www.w3.org/ns/odrl.jsonld\", \"" MIM_DSP_CONTEXT
             "\"], \"@type\": \"TransferCompletionMessage\", " PIDS "}");
    mim_dsp_tmsg_free(&m);

    /* the least DataAddress; a long property value (a token); an empty
       one */
    parse_ok(&m, MIM_DSP_TMSG_START, START(", \"dataAddress\": "
             "{\"@type\": \"DataAddress\", \"endpointType\": \"urn:t\"}"));
    cr_assert_str_eq(m.data_address_json, "{\"@type\":\"DataAddress\","
                     "\"endpointType\":\"urn:t\"}");
    mim_dsp_tmsg_free(&m);

    /* a start without dataAddress (a resume of a push) */
    parse_ok(&m, MIM_DSP_TMSG_START, START(""));
    cr_assert_null(m.data_address_json);
    mim_dsp_tmsg_free(&m);

    /* reasons of any type, no code; an empty code is a string */
    parse_ok(&m, MIM_DSP_TMSG_TERMINATION, TERM(", \"reason\": "
             "[{\"message\": \"no\"}, 42]"));
    cr_assert_null(m.code);
    cr_assert_str_eq(m.reason_json, "[{\"message\":\"no\"},42]");
    mim_dsp_tmsg_free(&m);
    parse_ok(&m, MIM_DSP_TMSG_SUSPENSION, SUSP(", \"code\": \"\""));
    cr_assert_str_eq(m.code, "");
    cr_assert_null(m.reason_json);
    mim_dsp_tmsg_free(&m);
}

Test(dsp_transfer, long_token_in_a_data_address)
{
    mim_dsp_tmsg_t  m;
    char           *json, *token;
    size_t          n = 8000;

    token = malloc(n + 1);
    cr_assert_not_null(token);
    memset(token, 't', n);
    token[n] = '\0';
    json = malloc(n + 1024);
    cr_assert_not_null(json);
    snprintf(json, n + 1024, START(", \"dataAddress\": {\"@type\": "
             "\"DataAddress\", \"endpointType\": \"urn:t\", "
             "\"endpointProperties\": [{\"@type\": \"EndpointProperty\", "
             "\"name\": \"authorization\", \"value\": \"%s\"}, {\"@type\": "
             "\"EndpointProperty\", \"name\": \"x\", \"value\": \"\"}]}"),
             token);
    parse_ok(&m, MIM_DSP_TMSG_START, json);
    cr_assert_not_null(strstr(m.data_address_json, token));
    mim_dsp_tmsg_free(&m);
    free(json);
    free(token);
}

/* ---- what is refused, and why ---- */

#define ADDR(da)  START(", \"dataAddress\": " da)
#define PROP(p) \
    ADDR("{\"@type\": \"DataAddress\", \"endpointType\": \"urn:t\", " \
         "\"endpointProperties\": [{\"@type\": \"EndpointProperty\", " \
         "\"name\": \"a\", \"value\": \"b\"}, " p "]}")

#define RQ  MIM_DSP_TMSG_REQUEST
#define ST  MIM_DSP_TMSG_START
#define CO  MIM_DSP_TMSG_COMPLETION
#define SU  MIM_DSP_TMSG_SUSPENSION
#define TE  MIM_DSP_TMSG_TERMINATION

static const struct {
    mim_dsp_tmsg_type_t  type;
    const char          *json;
    const char          *reason;    /* the start of r.msg */
} bad[] = {
    /* JSON itself */
    { RQ, "{\"@context\": ", "message: not JSON: line 1" },
    { RQ, "[]", "message: not a JSON object" },
    { RQ, "", "message: empty" },
    { CO, "{\"a\": 1, \"a\": 2}", "message: not JSON" },
    { CO, "{\"a\": \"\\u0000\"}", "message: not JSON" },
    /* @context, @type */
    { RQ, "{\"@type\": \"TransferRequestMessage\"}", "@context: missing" },
    { ST, "{\"@context\": [\"https://w3id.org/dspace/2024/1/context.json\"],"
          " \"@type\": \"TransferStartMessage\"}",
      "@context: does not hold " MIM_DSP_CONTEXT },
    { ST, "{\"@context\": {}}", "@context: expected an array of strings" },
    { ST, "{\"@context\": [\"" MIM_DSP_CONTEXT "\", 1]}",
      "@context[1]: expected a string" },
    { CO, "{" CTX "}", "@type: missing" },
    { CO, "{" CTX ", \"@type\": [\"TransferCompletionMessage\"]}",
      "@type: expected the string \"TransferCompletionMessage\"" },
    { CO, "{" CTX ", \"@type\": \"dspace:TransferCompletionMessage\"}",
      "@type: expected TransferCompletionMessage, not "
      "\"dspace:TransferCompletionMessage\"" },
    /* TransferRequestMessage: each required member */
    { RQ, REQ("\"agreementId\": \"urn:a\", \"format\": \"f\", "
              "\"callbackAddress\": \"https://c/cb\""),
      "consumerPid: missing" },
    { RQ, REQ("\"consumerPid\": \"urn:c\", \"format\": \"f\", "
              "\"callbackAddress\": \"https://c/cb\""),
      "agreementId: missing" },
    { RQ, REQ("\"consumerPid\": \"urn:c\", \"agreementId\": \"urn:a\", "
              "\"callbackAddress\": \"https://c/cb\""), "format: missing" },
    { RQ, REQ("\"consumerPid\": \"urn:c\", \"agreementId\": \"urn:a\", "
              "\"format\": \"f\""), "callbackAddress: missing" },
    { RQ, REQ("\"consumerPid\": 7"), "consumerPid: expected a string" },
    { RQ, REQ("\"consumerPid\": \"\""), "consumerPid: empty" },
    { RQ, REQ("\"consumerPid\": \"urn:c\", \"agreementId\": "
              "{\"@id\": \"urn:a\"}"), "agreementId: expected a string" },
    { RQ, REQ("\"consumerPid\": \"urn:c\", \"agreementId\": \"\""),
      "agreementId: empty" },
    { RQ, REQ("\"consumerPid\": \"urn:c\", \"agreementId\": \"urn:a\", "
              "\"format\": [\"HttpData-PULL\"]"),
      "format: expected a string" },
    { RQ, REQ("\"consumerPid\": \"urn:c\", \"agreementId\": \"urn:a\", "
              "\"format\": \"\""), "format: empty" },
    { RQ, REQ("\"consumerPid\": \"urn:c\", \"agreementId\": \"urn:a\", "
              "\"format\": \"f\", \"callbackAddress\": null"),
      "callbackAddress: expected a string" },
    { RQ, REQ("\"consumerPid\": \"urn:c\", \"agreementId\": \"urn:a\", "
              "\"format\": \"f\", \"callbackAddress\": \"\""),
      "callbackAddress: empty" },
    { RQ, REQ_OK(", \"dataAddress\": \"http://x\""),
      "dataAddress: expected an object" },
    { RQ, REQ_OK(", \"dataAddress\": {\"endpointType\": \"urn:t\"}"),
      "dataAddress.@type: missing" },
    /* the pids of the others */
    { ST, "{" CTX ", \"@type\": \"TransferStartMessage\", \"consumerPid\": "
          "\"urn:c\"}", "providerPid: missing" },
    { CO, COMPL(", \"providerPid\": \"urn:p\""), "consumerPid: missing" },
    { CO, COMPL(", \"providerPid\": \"\", \"consumerPid\": \"urn:c\""),
      "providerPid: empty" },
    { SU, "{" CTX ", \"@type\": \"TransferSuspensionMessage\", "
          "\"providerPid\": [\"urn:p\"], \"consumerPid\": \"urn:c\"}",
      "providerPid: expected a string" },
    { TE, "{" CTX ", \"@type\": \"TransferTerminationMessage\", "
          "\"providerPid\": \"urn:p\", \"consumerPid\": 1}",
      "consumerPid: expected a string" },
    /* code, reason */
    { SU, SUSP(", \"code\": 99"), "code: expected a string" },
    { SU, SUSP(", \"reason\": []"), "reason: empty" },
    { TE, TERM(", \"reason\": \"no\""), "reason: expected an array" },
    { TE, TERM(", \"code\": null"), "code: expected a string" },
    /* DataAddress */
    { ST, ADDR("[]"), "dataAddress: expected an object" },
    { ST, ADDR("{\"endpointType\": \"urn:t\"}"),
      "dataAddress.@type: missing" },
    { ST, ADDR("{\"@type\": \"dspace:DataAddress\", \"endpointType\": "
               "\"urn:t\"}"), "dataAddress.@type: expected \"DataAddress\"" },
    { ST, ADDR("{\"@type\": \"DataAddress\"}"),
      "dataAddress.endpointType: missing" },
    { ST, ADDR("{\"@type\": \"DataAddress\", \"endpointType\": 1}"),
      "dataAddress.endpointType: expected a string" },
    { ST, ADDR("{\"@type\": \"DataAddress\", \"endpointType\": \"urn:t\", "
               "\"endpoint\": {\"url\": \"http://x\"}}"),
      "dataAddress.endpoint: expected a string" },
    { ST, ADDR("{\"@type\": \"DataAddress\", \"endpointType\": \"urn:t\", "
               "\"endpointProperties\": {}}"),
      "dataAddress.endpointProperties: expected an array" },
    { ST, ADDR("{\"@type\": \"DataAddress\", \"endpointType\": \"urn:t\", "
               "\"endpointProperties\": []}"),
      "dataAddress.endpointProperties: empty" },
    { ST, PROP("\"authorization\""),
      "dataAddress.endpointProperties[1]: expected an object" },
    { ST, PROP("{\"name\": \"a\", \"value\": \"b\"}"),
      "dataAddress.endpointProperties[1].@type: missing" },
    { ST, PROP("{\"@type\": \"Property\", \"name\": \"a\", \"value\": "
               "\"b\"}"),
      "dataAddress.endpointProperties[1].@type: expected "
      "\"EndpointProperty\"" },
    { ST, PROP("{\"@type\": \"EndpointProperty\", \"value\": \"b\"}"),
      "dataAddress.endpointProperties[1].name: missing" },
    { ST, PROP("{\"@type\": \"EndpointProperty\", \"name\": \"\", "
               "\"value\": \"b\"}"),
      "dataAddress.endpointProperties[1].name: empty" },
    { ST, PROP("{\"@type\": \"EndpointProperty\", \"name\": \"a\"}"),
      "dataAddress.endpointProperties[1].value: missing" },
    { ST, PROP("{\"@type\": \"EndpointProperty\", \"name\": \"a\", "
               "\"value\": 5}"),
      "dataAddress.endpointProperties[1].value: expected a string" },
    /* no such type */
    { MIM_DSP_TMSG_NONE, "{}", "unknown message type" },
    { (mim_dsp_tmsg_type_t) 99, "{}", "unknown message type" },
};

Test(dsp_transfer, refused_with_the_member_named)
{
    mim_dsp_tmsg_t  m;
    mim_result_t    r;
    size_t          i;

    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        r = parse(&m, bad[i].type, bad[i].json);
        cr_expect_eq(r.code, MIM_ERR_INVALID, "accepted: %s", bad[i].json);
        cr_expect(strncmp(r.msg, bad[i].reason, strlen(bad[i].reason)) == 0,
                  "expected \"%s...\", got \"%s\"\nfor %s", bad[i].reason,
                  r.msg, bad[i].json);
        mim_dsp_tmsg_free(&m);
        cr_expect_null(m.consumer_pid);
        cr_expect_null(m.data_address_json);
    }
}

Test(dsp_transfer, bounded_inputs)
{
    mim_dsp_tmsg_t  m;
    mim_result_t    r;
    char           *big;
    size_t          n;

    r = mim_dsp_tmsg_parse(&m, CO, "{\"a\": 1}\0", 9);
    cr_assert_eq(r.code, MIM_ERR_INVALID);
    cr_assert_str_eq(r.msg, "message: a NUL byte");

    n = 300 * 1024;
    big = malloc(n);
    cr_assert_not_null(big);
    memset(big, ' ', n);
    big[0] = '{';
    big[n - 1] = '}';
    r = mim_dsp_tmsg_parse(&m, RQ, big, n);
    cr_assert_eq(r.code, MIM_ERR_LIMIT, "%s", r.msg);
    free(big);

    /* an agreementId over 2048 bytes */
    big = malloc(4096);
    cr_assert_not_null(big);
    strcpy(big, REQ("\"consumerPid\": \"urn:c\", \"agreementId\": \""));
    n = strlen(big);
    memset(big + n, 'a', 2049);
    strcpy(big + n + 2049, "\"}");
    r = parse(&m, RQ, big);
    cr_assert_eq(r.code, MIM_ERR_LIMIT);
    cr_assert_str_eq(r.msg, "agreementId: longer than 2048 bytes");
    mim_dsp_tmsg_free(&m);
    free(big);

    r = mim_dsp_tmsg_parse(NULL, CO, "{}", 2);
    cr_assert_eq(r.code, MIM_ERR_INVALID);
}

Test(dsp_transfer, pids_are_kept_when_the_message_is_refused)
{
    mim_dsp_tmsg_t  m;
    mim_result_t    r;

    /* for the TransferError that answers it */
    r = parse(&m, SU, "{\"@type\": \"TransferSuspensionMessage\", "
              "\"providerPid\": \"urn:p\", \"consumerPid\": \"urn:c\"}");
    cr_assert_str_eq(r.msg, "@context: missing");
    cr_assert_str_eq(m.provider_pid, "urn:p");
    cr_assert_str_eq(m.consumer_pid, "urn:c");
    cr_assert_eq(m.type, MIM_DSP_TMSG_NONE);
    mim_dsp_tmsg_free(&m);
    cr_assert_null(m.provider_pid);

    /* a request: its consumerPid, never a providerPid */
    r = parse(&m, RQ, REQ("\"consumerPid\": \"urn:c\", \"providerPid\": "
                          "\"urn:p\""));
    cr_assert_str_eq(r.msg, "agreementId: missing");
    cr_assert_str_eq(m.consumer_pid, "urn:c");
    cr_assert_null(m.provider_pid);
    mim_dsp_tmsg_free(&m);

    /* freeing twice, or a zeroed message, is fine */
    mim_dsp_tmsg_free(&m);
    mim_dsp_tmsg_free(NULL);
}

Test(dsp_transfer, untrusted_text_in_reasons_is_made_safe)
{
    mim_dsp_tmsg_t  m;
    mim_result_t    r;
    size_t          i;

    r = parse(&m, CO, "{" CTX ", \"@type\": \"\\n\\u00e9\\u001b[31m\"}");
    cr_assert_eq(r.code, MIM_ERR_INVALID);
    for (i = 0; r.msg[i] != '\0'; i++) {
        cr_assert(r.msg[i] >= 0x20 && r.msg[i] < 0x7f, "%s", r.msg);
    }
    mim_dsp_tmsg_free(&m);
}

Test(dsp_transfer, type_names)
{
    cr_assert_str_eq(mim_dsp_tmsg_type_name(RQ), "TransferRequestMessage");
    cr_assert_str_eq(mim_dsp_tmsg_type_name(ST), "TransferStartMessage");
    cr_assert_str_eq(mim_dsp_tmsg_type_name(CO),
                     "TransferCompletionMessage");
    cr_assert_str_eq(mim_dsp_tmsg_type_name(SU),
                     "TransferSuspensionMessage");
    cr_assert_str_eq(mim_dsp_tmsg_type_name(TE),
                     "TransferTerminationMessage");
    cr_assert_str_eq(mim_dsp_tmsg_type_name(MIM_DSP_TMSG_NONE), "none");
    cr_assert_str_eq(mim_dsp_tmsg_type_name((mim_dsp_tmsg_type_t) 42),
                     "none");
}

/* ---- states ---- */

Test(dsp_transfer, state_names)
{
    static const char *const  names[] = {
        "INITIAL", "REQUESTED", "STARTED", "SUSPENDED", "COMPLETED",
        "TERMINATED"
    };
    mim_dsp_tp_state_t  s;
    char                iri[96];
    int                 i;

    for (i = 0; i < 6; i++) {
        cr_assert_str_eq(mim_dsp_tp_state_name((mim_dsp_tp_state_t) i),
                         names[i]);
        if (i == 0) {
            /* a name for logs, not a state a message can carry */
            cr_assert_eq(mim_dsp_tp_state_parse("INITIAL", 7, &s), -1);
            continue;
        }
        s = MIM_DSP_TP_INITIAL;
        cr_assert_eq(mim_dsp_tp_state_parse(names[i], strlen(names[i]), &s),
                     0);
        cr_assert_eq(s, i);
        snprintf(iri, sizeof(iri), "https://w3id.org/dspace/2025/1/%s",
                 names[i]);
        s = MIM_DSP_TP_INITIAL;
        cr_assert_eq(mim_dsp_tp_state_parse(iri, strlen(iri), &s), 0);
        cr_assert_eq(s, i);
    }
    cr_assert_str_eq(mim_dsp_tp_state_name((mim_dsp_tp_state_t) 6),
                     "UNKNOWN");
    cr_assert_eq(mim_dsp_tp_state_parse("started", 7, &s), -1);
    cr_assert_eq(mim_dsp_tp_state_parse("dspace:STARTED", 14, &s), -1);
    cr_assert_eq(mim_dsp_tp_state_parse("https://w3id.org/dspace/2025/1/",
                                        31, &s), -1);
    cr_assert_eq(mim_dsp_tp_state_parse("https://w3id.org/dspace/2024/1/"
                                        "STARTED", 38, &s), -1);
    /* negotiation states are not transfer states */
    cr_assert_eq(mim_dsp_tp_state_parse("FINALIZED", 9, &s), -1);
    /* the length given is what counts */
    cr_assert_eq(mim_dsp_tp_state_parse("STARTEDX", 7, &s), 0);
    cr_assert_eq(s, MIM_DSP_TP_STARTED);
    cr_assert_eq(mim_dsp_tp_state_parse("STARTED", 6, &s), -1);
    cr_assert_eq(mim_dsp_tp_state_parse("", 0, &s), -1);
    cr_assert_eq(mim_dsp_tp_state_parse(NULL, 0, &s), -1);
    cr_assert_eq(mim_dsp_tp_state_parse("STARTED", 7, NULL), -1);
}

Test(dsp_transfer, message_names)
{
    cr_assert_str_eq(mim_dsp_tp_msg_name(MIM_DSP_TP_MSG_REQUEST),
                     "TransferRequestMessage");
    cr_assert_str_eq(mim_dsp_tp_msg_name(MIM_DSP_TP_MSG_START),
                     "TransferStartMessage");
    cr_assert_str_eq(mim_dsp_tp_msg_name(MIM_DSP_TP_MSG_COMPLETION),
                     "TransferCompletionMessage");
    cr_assert_str_eq(mim_dsp_tp_msg_name(MIM_DSP_TP_MSG_SUSPENSION),
                     "TransferSuspensionMessage");
    cr_assert_str_eq(mim_dsp_tp_msg_name(MIM_DSP_TP_MSG_TERMINATION),
                     "TransferTerminationMessage");
    cr_assert_str_eq(mim_dsp_tp_msg_name(MIM_DSP_TP_MSG_COUNT),
                     "unknown message");
}

/* ---- the state machine ---- */

/*
 * DSP-NOTES.md and the header, written out again here (C = the consumer
 * sends, P = the provider sends):
 *
 *   [*] -> REQUESTED (C request)
 *   REQUESTED -> STARTED (P start) | TERMINATED (C/P)
 *   STARTED   -> COMPLETED (C/P) | SUSPENDED (C/P) | TERMINATED (C/P)
 *   SUSPENDED -> STARTED (C/P start) | TERMINATED (C/P)
 *   COMPLETED, TERMINATED: terminal
 */
static const char *const  notes[] = {
    "INITIAL REQUEST C REQUESTED",
    "REQUESTED START P STARTED",
    "REQUESTED TERMINATION C TERMINATED",
    "REQUESTED TERMINATION P TERMINATED",
    "STARTED COMPLETION C COMPLETED",
    "STARTED COMPLETION P COMPLETED",
    "STARTED SUSPENSION C SUSPENDED",
    "STARTED SUSPENSION P SUSPENDED",
    "STARTED TERMINATION C TERMINATED",
    "STARTED TERMINATION P TERMINATED",
    "SUSPENDED START C STARTED",
    "SUSPENDED START P STARTED",
    "SUSPENDED TERMINATION C TERMINATED",
    "SUSPENDED TERMINATION P TERMINATED",
};

static const char *const  msg_words[] = {
    "REQUEST", "START", "COMPLETION", "SUSPENSION", "TERMINATION"
};

static int
state_of(const char *word)
{
    mim_dsp_tp_state_t  s;

    if (strcmp(word, "INITIAL") == 0) {
        return MIM_DSP_TP_INITIAL;
    }
    cr_assert_eq(mim_dsp_tp_state_parse(word, strlen(word), &s), 0, "%s",
                 word);
    return s;
}

static int
msg_of(const char *word)
{
    int  i;

    for (i = 0; i < MIM_DSP_TP_MSG_COUNT; i++) {
        if (strcmp(word, msg_words[i]) == 0) {
            return i;
        }
    }
    cr_assert_fail("no message %s", word);
    return -1;
}

Test(dsp_transfer, every_state_every_message_both_senders)
{
    int                 expected[6][MIM_DSP_TP_MSG_COUNT][2];
    char                from[16], msg[16], by[2], to[16];
    size_t              i;
    int                 s, m, p, valid = 0, refused = 0;
    mim_dsp_tp_state_t  next;
    mim_result_t        r;

    memset(expected, 0xff, sizeof(expected));       /* -1: no transition */
    for (i = 0; i < sizeof(notes) / sizeof(notes[0]); i++) {
        cr_assert_eq(sscanf(notes[i], "%15s %15s %1s %15s", from, msg, by,
                            to), 4);
        expected[state_of(from)][msg_of(msg)][by[0] == 'P'] = state_of(to);
    }
    for (s = MIM_DSP_TP_INITIAL; s <= MIM_DSP_TP_TERMINATED; s++) {
        for (m = 0; m < MIM_DSP_TP_MSG_COUNT; m++) {
            for (p = 0; p < 2; p++) {
                next = (mim_dsp_tp_state_t) 77;
                r = mim_dsp_tp_next((mim_dsp_tp_state_t) s,
                                    (mim_dsp_tp_msg_t) m,
                                    p ? MIM_DSP_BY_PROVIDER
                                      : MIM_DSP_BY_CONSUMER, &next);
                if (expected[s][m][p] >= 0) {
                    cr_expect(mim_ok(r), "%s + %s by %s: %s",
                              mim_dsp_tp_state_name(s), msg_words[m],
                              p ? "P" : "C", r.msg);
                    cr_expect_eq(next, expected[s][m][p], "%s + %s by %s",
                                 mim_dsp_tp_state_name(s), msg_words[m],
                                 p ? "P" : "C");
                    valid++;
                    continue;
                }
                refused++;
                cr_expect_eq(r.code, MIM_ERR_INVALID, "%s + %s by %s "
                             "accepted", mim_dsp_tp_state_name(s),
                             msg_words[m], p ? "P" : "C");
                /* the state does not move */
                cr_expect_eq(next, s);
                /* the reason names the message and the state */
                cr_expect(strstr(r.msg, mim_dsp_tp_msg_name(m)) != NULL,
                          "%s", r.msg);
                cr_expect(strstr(r.msg, mim_dsp_tp_state_name(s)) != NULL,
                          "%s", r.msg);
            }
        }
    }
    cr_assert_eq(valid, 14);
    cr_assert_eq(valid + refused, 6 * MIM_DSP_TP_MSG_COUNT * 2);
}

Test(dsp_transfer, reasons_of_refused_transitions)
{
    mim_dsp_tp_state_t  next;
    mim_result_t        r;

    /* the header's example */
    r = mim_dsp_tp_next(MIM_DSP_TP_SUSPENDED, MIM_DSP_TP_MSG_COMPLETION,
                        MIM_DSP_BY_CONSUMER, &next);
    cr_assert_str_eq(r.msg, "a TransferCompletionMessage is not valid in "
                     "state SUSPENDED");
    cr_assert_eq(next, MIM_DSP_TP_SUSPENDED);
    /* the right message from the wrong party */
    r = mim_dsp_tp_next(MIM_DSP_TP_REQUESTED, MIM_DSP_TP_MSG_START,
                        MIM_DSP_BY_CONSUMER, &next);
    cr_assert_str_eq(r.msg, "a TransferStartMessage from the consumer is "
                     "not valid in state REQUESTED: only the provider "
                     "sends it");
    r = mim_dsp_tp_next(MIM_DSP_TP_INITIAL, MIM_DSP_TP_MSG_REQUEST,
                        MIM_DSP_BY_PROVIDER, &next);
    cr_assert_str_eq(r.msg, "a TransferRequestMessage from the provider is "
                     "not valid in state INITIAL: only the consumer sends "
                     "it");
    /* a second request on a process */
    r = mim_dsp_tp_next(MIM_DSP_TP_STARTED, MIM_DSP_TP_MSG_REQUEST,
                        MIM_DSP_BY_CONSUMER, &next);
    cr_assert_str_eq(r.msg, "a TransferRequestMessage is not valid in state "
                     "STARTED");
    r = mim_dsp_tp_next(MIM_DSP_TP_STARTED, MIM_DSP_TP_MSG_START,
                        MIM_DSP_BY_PROVIDER, &next);
    cr_assert_str_eq(r.msg, "a TransferStartMessage is not valid in state "
                     "STARTED");
    r = mim_dsp_tp_next(MIM_DSP_TP_COMPLETED, MIM_DSP_TP_MSG_TERMINATION,
                        MIM_DSP_BY_PROVIDER, &next);
    cr_assert_str_eq(r.msg, "a TransferTerminationMessage is not valid in "
                     "state COMPLETED: the transfer is over");
    cr_assert_eq(next, MIM_DSP_TP_COMPLETED);
    r = mim_dsp_tp_next(MIM_DSP_TP_TERMINATED, MIM_DSP_TP_MSG_START,
                        MIM_DSP_BY_CONSUMER, &next);
    cr_assert_str_eq(r.msg, "a TransferStartMessage is not valid in state "
                     "TERMINATED: the transfer is over");

    /* arguments */
    r = mim_dsp_tp_next(MIM_DSP_TP_STARTED, MIM_DSP_TP_MSG_COUNT,
                        MIM_DSP_BY_PROVIDER, &next);
    cr_assert_eq(r.code, MIM_ERR_INVALID);
    r = mim_dsp_tp_next((mim_dsp_tp_state_t) 6, MIM_DSP_TP_MSG_START,
                        MIM_DSP_BY_PROVIDER, &next);
    cr_assert_eq(r.code, MIM_ERR_INVALID);
    r = mim_dsp_tp_next(MIM_DSP_TP_REQUESTED, MIM_DSP_TP_MSG_START,
                        (mim_dsp_party_t) 2, &next);
    cr_assert_eq(r.code, MIM_ERR_INVALID);
    r = mim_dsp_tp_next(MIM_DSP_TP_REQUESTED, MIM_DSP_TP_MSG_START,
                        MIM_DSP_BY_PROVIDER, NULL);
    cr_assert_eq(r.code, MIM_ERR_INVALID);
}

/* ---- the record ---- */

/* every member set; strings the test owns */
static mim_dsp_tp_t
full_record(void)
{
    mim_dsp_tp_t  t;

    memset(&t, 0, sizeof(t));
    t.provider_pid = PPID;
    t.consumer_pid = CPID;
    t.consumer = "did:web:c.example";
    t.callback_address = "https://c.example/cb/";
    t.agreement_id = "urn:uuid:7b4c1a90-2f6e-4d3a-b8e2-1c9d5e7f0a12";
    t.dataset = "urn:mim:dataset:parking";
    t.format = MIM_DSP_PULL;
    t.endpoint = "https://city.example/ngsi-ld/v1/entities?type=Parking";
    t.token_id = "8c1f3b1e-6a43-4c53-9f0c-2b0d6c1e8a77";
    t.code = "suspended-by-operator";
    t.reason = "[{\"message\":\"no \\\"thanks\\\"\"},\"\xc3\xa9\"]";
    t.state = MIM_DSP_TP_SUSPENDED;
    t.created = 1795600800;
    t.updated = 1795600860;
    return t;
}

static void
same_record(const mim_dsp_tp_t *a, const mim_dsp_tp_t *b)
{
#define SAME(m) \
    if (a->m == NULL || b->m == NULL) { \
        cr_assert_eq(a->m, b->m, #m); \
    } else { \
        cr_assert_str_eq(a->m, b->m, #m); \
    }
    SAME(provider_pid);
    SAME(consumer_pid);
    SAME(consumer);
    SAME(callback_address);
    SAME(agreement_id);
    SAME(dataset);
    SAME(format);
    SAME(endpoint);
    SAME(token_id);
    SAME(code);
    SAME(reason);
#undef SAME
    cr_assert_eq(a->state, b->state);
    cr_assert_eq(a->created, b->created);
    cr_assert_eq(a->updated, b->updated);
}

static char *
to_json(const mim_dsp_tp_t *t)
{
    char          *json;
    size_t         len;
    mim_result_t   r = mim_dsp_tp_to_json(t, &json, &len);

    cr_assert(mim_ok(r), "%s", r.msg);
    cr_assert_eq(strlen(json), len);
    return json;
}

Test(dsp_transfer, record_round_trip)
{
    mim_dsp_tp_t   t = full_record(), back;
    mim_result_t   r;
    char          *json, *again;

    json = to_json(&t);
    cr_assert_str_eq(json, "{\"providerPid\":\"" PPID "\",\"consumerPid\":"
                     "\"" CPID "\",\"consumer\":\"did:web:c.example\","
                     "\"callbackAddress\":\"https://c.example/cb/\","
                     "\"agreementId\":\"urn:uuid:7b4c1a90-2f6e-4d3a-b8e2-"
                     "1c9d5e7f0a12\",\"dataset\":\"urn:mim:dataset:parking\","
                     "\"format\":\"HttpData-PULL\",\"endpoint\":"
                     "\"https://city.example/ngsi-ld/v1/entities?type="
                     "Parking\",\"tokenId\":\"8c1f3b1e-6a43-4c53-9f0c-"
                     "2b0d6c1e8a77\",\"code\":\"suspended-by-operator\","
                     "\"reason\":\"[{\\\"message\\\":\\\"no \\\\\\\""
                     "thanks\\\\\\\"\\\"},\\\"\xc3\xa9\\\"]\",\"state\":"
                     "\"SUSPENDED\",\"created\":1795600800,\"updated\":"
                     "1795600860}");
    r = mim_dsp_tp_from_json(&back, json, strlen(json));
    cr_assert(mim_ok(r), "%s", r.msg);
    same_record(&t, &back);
    again = to_json(&back);
    cr_assert_str_eq(again, json);
    free(again);
    mim_dsp_tp_free(&back);
    free(json);

    /* the least a record has */
    memset(&t, 0, sizeof(t));
    t.provider_pid = "urn:p";
    t.consumer_pid = "urn:c";
    t.consumer = "EU.EORI.X";
    t.agreement_id = "urn:a";
    t.dataset = "urn:d";
    t.format = "HttpData-PULL";
    t.state = MIM_DSP_TP_REQUESTED;
    json = to_json(&t);
    cr_assert_str_eq(json, "{\"providerPid\":\"urn:p\",\"consumerPid\":"
                     "\"urn:c\",\"consumer\":\"EU.EORI.X\",\"agreementId\":"
                     "\"urn:a\",\"dataset\":\"urn:d\",\"format\":"
                     "\"HttpData-PULL\",\"state\":\"REQUESTED\","
                     "\"created\":0,\"updated\":0}");
    r = mim_dsp_tp_from_json(&back, json, strlen(json));
    cr_assert(mim_ok(r), "%s", r.msg);
    same_record(&t, &back);
    mim_dsp_tp_free(&back);
    free(json);

    /* every state; member order free when read; empty optional strings
       kept */
    for (t.state = MIM_DSP_TP_REQUESTED; t.state <= MIM_DSP_TP_TERMINATED;
         t.state++)
    {
        t.token_id = "";
        json = to_json(&t);
        r = mim_dsp_tp_from_json(&back, json, strlen(json));
        cr_assert(mim_ok(r), "%s", r.msg);
        same_record(&t, &back);
        mim_dsp_tp_free(&back);
        free(json);
    }
    json = "{\"updated\":9,\"state\":\"COMPLETED\",\"format\":\"f\","
           "\"dataset\":\"d\",\"agreementId\":\"a\",\"consumer\":\"x\","
           "\"consumerPid\":\"c\",\"providerPid\":\"p\",\"created\":9}";
    r = mim_dsp_tp_from_json(&back, json, strlen(json));
    cr_assert(mim_ok(r), "%s", r.msg);
    cr_assert_eq(back.state, MIM_DSP_TP_COMPLETED);
    cr_assert_eq(back.created, 9);
    again = to_json(&back);
    cr_assert_str_eq(again, "{\"providerPid\":\"p\",\"consumerPid\":\"c\","
                     "\"consumer\":\"x\",\"agreementId\":\"a\",\"dataset\":"
                     "\"d\",\"format\":\"f\",\"state\":\"COMPLETED\","
                     "\"created\":9,\"updated\":9}");
    free(again);
    mim_dsp_tp_free(&back);
}

/* the members every record has, but state and times */
#define RECORD_PIDS  "{\"providerPid\":\"p\",\"consumerPid\":\"c\","
#define RECORD_HEAD  RECORD_PIDS "\"consumer\":\"x\",\"agreementId\":" \
                     "\"a\",\"dataset\":\"d\",\"format\":\"f\","
#define RECORD_OK    RECORD_HEAD "\"state\":\"STARTED\",\"created\":0," \
                     "\"updated\":0"

Test(dsp_transfer, tampered_records_are_refused)
{
    static const struct {
        const char  *json;
        const char  *reason;    /* the start of r.msg */
    } tampered[] = {
        { "", "record: empty" },
        { "[]", "record: not a JSON object" },
        { "{\"providerPid\":\"p\"", "record: not JSON" },
        { "{\"providerPid\":\"p\",\"providerPid\":\"q\"}",
          "record: not JSON" },
        { "{\"consumerPid\":\"c\",\"consumer\":\"x\",\"agreementId\":\"a\","
          "\"dataset\":\"d\",\"format\":\"f\",\"state\":\"STARTED\","
          "\"created\":0,\"updated\":0}", "record: providerPid: missing" },
        { "{\"providerPid\":\"\",\"consumerPid\":\"c\",\"consumer\":\"x\","
          "\"agreementId\":\"a\",\"dataset\":\"d\",\"format\":\"f\","
          "\"state\":\"STARTED\",\"created\":0,\"updated\":0}",
          "record: providerPid: empty" },
        { "{\"providerPid\":\"p\",\"consumer\":\"x\",\"agreementId\":\"a\","
          "\"dataset\":\"d\",\"format\":\"f\",\"state\":\"STARTED\","
          "\"created\":0,\"updated\":0}", "record: consumerPid: missing" },
        { RECORD_PIDS "\"agreementId\":\"a\",\"dataset\":\"d\",\"format\":"
          "\"f\",\"state\":\"STARTED\",\"created\":0,\"updated\":0}",
          "record: consumer: missing" },
        { RECORD_PIDS "\"consumer\":\"\",\"agreementId\":\"a\",\"dataset\":"
          "\"d\",\"format\":\"f\",\"state\":\"STARTED\",\"created\":0,"
          "\"updated\":0}", "record: consumer: empty" },
        { RECORD_PIDS "\"consumer\":\"x\",\"dataset\":\"d\",\"format\":"
          "\"f\",\"state\":\"STARTED\",\"created\":0,\"updated\":0}",
          "record: agreementId: missing" },
        { RECORD_PIDS "\"consumer\":\"x\",\"agreementId\":\"\",\"dataset\":"
          "\"d\",\"format\":\"f\",\"state\":\"STARTED\",\"created\":0,"
          "\"updated\":0}", "record: agreementId: empty" },
        { RECORD_PIDS "\"consumer\":\"x\",\"agreementId\":\"a\",\"format\":"
          "\"f\",\"state\":\"STARTED\",\"created\":0,\"updated\":0}",
          "record: dataset: missing" },
        { RECORD_PIDS "\"consumer\":\"x\",\"agreementId\":\"a\",\"dataset\":"
          "\"d\",\"state\":\"STARTED\",\"created\":0,\"updated\":0}",
          "record: format: missing" },
        { RECORD_PIDS "\"consumer\":\"x\",\"agreementId\":\"a\",\"dataset\":"
          "\"d\",\"format\":\"\",\"state\":\"STARTED\",\"created\":0,"
          "\"updated\":0}", "record: format: empty" },
        { RECORD_HEAD "\"created\":0,\"updated\":0}",
          "record: state: missing" },
        { RECORD_HEAD "\"state\":\"STARTED\",\"updated\":0}",
          "record: created: missing" },
        { RECORD_HEAD "\"state\":\"STARTED\",\"created\":0}",
          "record: updated: missing" },
        { RECORD_OK ",\"admin\":true}", "record: unknown member \"admin\"" },
        { RECORD_OK ",\"agreement\":{}}",
          "record: unknown member \"agreement\"" },
        { "{\"providerPid\":7,\"consumerPid\":\"c\"}",
          "record: providerPid: expected a string" },
        { RECORD_OK ",\"tokenId\":null}",
          "record: tokenId: expected a string" },
        { RECORD_OK ",\"endpoint\":{\"url\":\"x\"}}",
          "record: endpoint: expected a string" },
        { RECORD_OK ",\"callbackAddress\":[\"http://c/\"]}",
          "record: callbackAddress: expected a string" },
        { RECORD_OK ",\"reason\":[\"no\"]}",
          "record: reason: expected a string" },
        { RECORD_OK ",\"code\":99}", "record: code: expected a string" },
        { RECORD_HEAD "\"state\":\"BOGUS\",\"created\":0,\"updated\":0}",
          "record: state: not a state of a transfer" },
        { RECORD_HEAD "\"state\":\"INITIAL\",\"created\":0,\"updated\":0}",
          "record: state: not a state" },
        { RECORD_HEAD "\"state\":\"FINALIZED\",\"created\":0,"
          "\"updated\":0}", "record: state: not a state" },
        { RECORD_HEAD "\"state\":\"https://w3id.org/dspace/2025/1/"
          "STARTED\",\"created\":0,\"updated\":0}",
          "record: state: not a state" },
        { RECORD_HEAD "\"state\":2,\"created\":0,\"updated\":0}",
          "record: state: not a state" },
        { RECORD_HEAD "\"state\":\"STARTED\",\"created\":\"0\","
          "\"updated\":0}", "record: created: expected an integer" },
        { RECORD_HEAD "\"state\":\"STARTED\",\"created\":1.5,"
          "\"updated\":2}", "record: created: expected an integer" },
        { RECORD_HEAD "\"state\":\"STARTED\",\"created\":0,"
          "\"updated\":true}", "record: updated: expected an integer" },
        { RECORD_HEAD "\"state\":\"STARTED\",\"created\":-1,"
          "\"updated\":0}",
          "record: created, updated: not 0 <= created <= updated" },
        { RECORD_HEAD "\"state\":\"STARTED\",\"created\":10,"
          "\"updated\":9}", "record: created, updated" },
    };
    mim_dsp_tp_t  t;
    mim_result_t  r;
    size_t        i;

    for (i = 0; i < sizeof(tampered) / sizeof(tampered[0]); i++) {
        memset(&t, 0x5a, sizeof(t));
        r = mim_dsp_tp_from_json(&t, tampered[i].json,
                                 strlen(tampered[i].json));
        cr_expect_neq(r.code, MIM_OK, "accepted: %s", tampered[i].json);
        cr_expect(strncmp(r.msg, tampered[i].reason,
                          strlen(tampered[i].reason)) == 0,
                  "expected \"%s...\", got \"%s\"\nfor %s",
                  tampered[i].reason, r.msg, tampered[i].json);
        /* nothing half-read is left behind */
        cr_expect_null(t.provider_pid);
        cr_expect_null(t.token_id);
        cr_expect_eq(t.state, MIM_DSP_TP_INITIAL);
        mim_dsp_tp_free(&t);
    }
}

Test(dsp_transfer, oversized_records_are_refused)
{
    mim_dsp_tp_t   t, back;
    mim_result_t   r;
    char          *json, *long_str;
    size_t         len;

    long_str = malloc(2050);
    cr_assert_not_null(long_str);
    memset(long_str, 'p', 2049);
    long_str[2049] = '\0';
    json = malloc(4096);
    cr_assert_not_null(json);
    snprintf(json, 4096, RECORD_OK ",\"tokenId\":\"%s\"}", long_str);
    r = mim_dsp_tp_from_json(&t, json, strlen(json));
    cr_assert_eq(r.code, MIM_ERR_LIMIT);
    cr_assert_str_eq(r.msg, "record: tokenId: longer than 2048 bytes");
    free(json);

    /* and to_json will not write what from_json would refuse */
    t = full_record();
    t.endpoint = long_str;
    r = mim_dsp_tp_to_json(&t, &json, &len);
    cr_assert_eq(r.code, MIM_ERR_LIMIT);
    cr_assert_str_eq(r.msg, "record: endpoint: longer than 2048 bytes");
    cr_assert_null(json);
    free(long_str);

    /* a reason may be long: 256 KiB, not one byte more */
    long_str = malloc(256 * 1024 + 2);
    cr_assert_not_null(long_str);
    memset(long_str, 'r', 256 * 1024 + 1);
    long_str[256 * 1024] = '\0';
    t = full_record();
    t.reason = long_str;
    json = to_json(&t);
    r = mim_dsp_tp_from_json(&back, json, strlen(json));
    cr_assert(mim_ok(r), "%s", r.msg);
    cr_assert_eq(strlen(back.reason), 256 * 1024);
    mim_dsp_tp_free(&back);
    free(json);
    long_str[256 * 1024] = 'r';
    long_str[256 * 1024 + 1] = '\0';
    r = mim_dsp_tp_to_json(&t, &json, &len);
    cr_assert_eq(r.code, MIM_ERR_LIMIT);
    cr_assert_str_eq(r.msg, "record: reason: longer than 262144 bytes");
    free(long_str);

    /* a whole record over 2 MiB */
    len = 3 * 1024 * 1024;
    json = malloc(len);
    cr_assert_not_null(json);
    memset(json, ' ', len);
    json[0] = '{';
    json[len - 1] = '}';
    r = mim_dsp_tp_from_json(&t, json, len);
    cr_assert_eq(r.code, MIM_ERR_LIMIT);
    free(json);
}

Test(dsp_transfer, to_json_refuses_what_cannot_be_read_back)
{
    static const struct {
        size_t       offset;
        const char  *reason;
    } required[] = {
        { offsetof(mim_dsp_tp_t, provider_pid), "record: providerPid: " },
        { offsetof(mim_dsp_tp_t, consumer_pid), "record: consumerPid: " },
        { offsetof(mim_dsp_tp_t, consumer), "record: consumer: " },
        { offsetof(mim_dsp_tp_t, agreement_id), "record: agreementId: " },
        { offsetof(mim_dsp_tp_t, dataset), "record: dataset: " },
        { offsetof(mim_dsp_tp_t, format), "record: format: " },
    };
    mim_dsp_tp_t   t;
    mim_result_t   r;
    char          *json = (char *) 1, want[64];
    size_t         len = 3, i;

    for (i = 0; i < sizeof(required) / sizeof(required[0]); i++) {
        t = full_record();
        *(char **) ((char *) &t + required[i].offset) = NULL;
        r = mim_dsp_tp_to_json(&t, &json, &len);
        snprintf(want, sizeof(want), "%smissing", required[i].reason);
        cr_expect_str_eq(r.msg, want);
        cr_expect_null(json);
        cr_expect_eq(len, 0);
        *(char **) ((char *) &t + required[i].offset) = "";
        r = mim_dsp_tp_to_json(&t, &json, &len);
        snprintf(want, sizeof(want), "%sempty", required[i].reason);
        cr_expect_str_eq(r.msg, want);
    }

    t = full_record();
    t.state = MIM_DSP_TP_INITIAL;
    r = mim_dsp_tp_to_json(&t, &json, &len);
    cr_assert_str_eq(r.msg, "record: state: not a state of a transfer");
    t.state = (mim_dsp_tp_state_t) 6;
    r = mim_dsp_tp_to_json(&t, &json, &len);
    cr_assert_str_eq(r.msg, "record: state: not a state of a transfer");

    t = full_record();
    t.updated = t.created - 1;
    r = mim_dsp_tp_to_json(&t, &json, &len);
    cr_assert_str_eq(r.msg, "record: created, updated: not 0 <= created <= "
                     "updated");
    t.created = -5;
    t.updated = 0;
    r = mim_dsp_tp_to_json(&t, &json, &len);
    cr_assert_eq(r.code, MIM_ERR_INVALID);

    t = full_record();
    t.consumer = "caf\xe9";
    r = mim_dsp_tp_to_json(&t, &json, &len);
    cr_assert_str_eq(r.msg, "consumer: not UTF-8 text");
    cr_assert_null(json);

    r = mim_dsp_tp_to_json(NULL, &json, &len);
    cr_assert_eq(r.code, MIM_ERR_INVALID);
    r = mim_dsp_tp_to_json(&t, NULL, &len);
    cr_assert_eq(r.code, MIM_ERR_INVALID);
    r = mim_dsp_tp_from_json(NULL, "{}", 2);
    cr_assert_eq(r.code, MIM_ERR_INVALID);
}

Test(dsp_transfer, copy_and_free)
{
    mim_dsp_tp_t   t = full_record(), a, b;
    mim_result_t   r;

    memset(&a, 0x5a, sizeof(a));
    r = mim_dsp_tp_copy(&a, &t);
    cr_assert(mim_ok(r), "%s", r.msg);
    same_record(&t, &a);
    /* fresh strings */
    cr_assert_neq(a.provider_pid, t.provider_pid);
    cr_assert_neq(a.reason, t.reason);
    r = mim_dsp_tp_copy(&b, &a);
    cr_assert(mim_ok(r));
    mim_dsp_tp_free(&a);
    cr_assert_null(a.provider_pid);
    cr_assert_eq(a.state, MIM_DSP_TP_INITIAL);
    same_record(&t, &b);
    mim_dsp_tp_free(&b);

    /* NULL members stay NULL */
    memset(&t, 0, sizeof(t));
    t.provider_pid = "urn:p";
    t.updated = 5;
    r = mim_dsp_tp_copy(&a, &t);
    cr_assert(mim_ok(r));
    same_record(&t, &a);
    mim_dsp_tp_free(&a);

    /* a zeroed record, twice, and none */
    memset(&a, 0, sizeof(a));
    mim_dsp_tp_free(&a);
    mim_dsp_tp_free(&a);
    mim_dsp_tp_free(NULL);
    r = mim_dsp_tp_copy(NULL, &t);
    cr_assert_eq(r.code, MIM_ERR_INVALID);
    r = mim_dsp_tp_copy(&a, NULL);
    cr_assert_eq(r.code, MIM_ERR_INVALID);
}

/* ---- what we send ---- */

/* the built text, checked to be JSON of the expected @type */
static char *
built(mim_result_t r, char *json, size_t len, const char *type)
{
    json_t  *v;

    cr_assert(mim_ok(r), "%s", r.msg);
    cr_assert_not_null(json);
    cr_assert_eq(strlen(json), len);
    v = td_json(json);
    cr_assert_str_eq(json_string_value(json_object_get(v, "@type")), type,
                     "%s", json);
    cr_assert_str_eq(json_string_value(json_array_get(
                         json_object_get(v, "@context"), 0)),
                     MIM_DSP_CONTEXT);
    json_decref(v);
    return json;
}

#define TOKEN  "eyJhbGciOiJFUzI1NiIsInR5cCI6Im1pbS1kYXQrand0In0.e30.sig"

Test(dsp_transfer, everything_we_build_validates)
{
    char           *docs[32], *json;
    size_t          n = 0, len, i;
    mim_dsp_tp_t    t = full_record();
    mim_dsp_tmsg_t  m;
    mim_result_t    r;
    int             s;

    for (s = MIM_DSP_TP_REQUESTED; s <= MIM_DSP_TP_TERMINATED; s++) {
        t.state = (mim_dsp_tp_state_t) s;
        r = mim_dsp_transfer_process_json(&t, &json, &len);
        docs[n++] = built(r, json, len, "TransferProcess");
    }
    r = mim_dsp_transfer_start_json(&t, t.endpoint, TOKEN, &json, &len);
    docs[n++] = built(r, json, len, "TransferStartMessage");
    r = mim_dsp_transfer_completion_json(&t, &json, &len);
    docs[n++] = built(r, json, len, "TransferCompletionMessage");
    r = mim_dsp_transfer_suspension_json(&t, "suspended-by-operator",
                                         "paused for maintenance", &json,
                                         &len);
    docs[n++] = built(r, json, len, "TransferSuspensionMessage");
    r = mim_dsp_transfer_suspension_json(&t, NULL, NULL, &json, &len);
    docs[n++] = built(r, json, len, "TransferSuspensionMessage");
    r = mim_dsp_transfer_termination_json(&t, "agreement-revoked",
                                          "the agreement was revoked",
                                          &json, &len);
    docs[n++] = built(r, json, len, "TransferTerminationMessage");
    r = mim_dsp_transfer_termination_json(&t, NULL, NULL, &json, &len);
    docs[n++] = built(r, json, len, "TransferTerminationMessage");
    /* an error for a message that had no pids at all */
    r = mim_dsp_transfer_error_json(NULL, NULL, "invalid-message",
                                    "@context: missing", &json, &len);
    docs[n++] = built(r, json, len, "TransferError");
    r = mim_dsp_transfer_error_json(PPID, CPID, NULL, NULL, &json, &len);
    docs[n++] = built(r, json, len, "TransferError");

    td_validate((const char *const *) docs, n);

    /* and what we send, a peer like us reads */
    r = mim_dsp_tmsg_parse(&m, MIM_DSP_TMSG_START, docs[5], strlen(docs[5]));
    cr_assert(mim_ok(r), "%s", r.msg);
    mim_dsp_tmsg_free(&m);
    r = mim_dsp_tmsg_parse(&m, MIM_DSP_TMSG_COMPLETION, docs[6],
                           strlen(docs[6]));
    cr_assert(mim_ok(r), "%s", r.msg);
    mim_dsp_tmsg_free(&m);
    r = mim_dsp_tmsg_parse(&m, MIM_DSP_TMSG_SUSPENSION, docs[7],
                           strlen(docs[7]));
    cr_assert(mim_ok(r), "%s", r.msg);
    cr_assert_str_eq(m.reason_json, "[\"paused for maintenance\"]");
    mim_dsp_tmsg_free(&m);
    r = mim_dsp_tmsg_parse(&m, MIM_DSP_TMSG_TERMINATION, docs[9],
                           strlen(docs[9]));
    cr_assert(mim_ok(r), "%s", r.msg);
    mim_dsp_tmsg_free(&m);
    for (i = 0; i < n; i++) {
        free(docs[i]);
    }
}

Test(dsp_transfer, built_contents)
{
    mim_dsp_tp_t   t = full_record();
    mim_result_t   r;
    char          *json, *example;
    size_t         len;
    json_t        *ours, *theirs;

    t.state = MIM_DSP_TP_STARTED;
    r = mim_dsp_transfer_process_json(&t, &json, &len);
    cr_assert(mim_ok(r), "%s", r.msg);
    cr_assert_str_eq(json, "{\"@context\":[\"" MIM_DSP_CONTEXT "\"],"
                     "\"@type\":\"TransferProcess\",\"providerPid\":\""
                     PPID "\",\"consumerPid\":\"" CPID "\",\"state\":"
                     "\"STARTED\"}");
    free(json);

    /* the start message is the spec's example, with our values */
    t.provider_pid = PPID;
    t.consumer_pid = CPID;
    r = mim_dsp_transfer_start_json(&t, "http://example.com",
                                    "TOKEN-ABCDEFG", &json, &len);
    cr_assert(mim_ok(r), "%s", r.msg);
    example = td_example("transfer/example/transfer-start-message.json",
                         &len);
    ours = td_json(json);
    theirs = td_json(example);
    cr_assert(json_equal(ours, theirs), "%s", json);
    json_decref(ours);
    json_decref(theirs);
    free(example);
    free(json);

    r = mim_dsp_transfer_completion_json(&t, &json, &len);
    cr_assert_str_eq(json, "{\"@context\":[\"" MIM_DSP_CONTEXT "\"],"
                     "\"@type\":\"TransferCompletionMessage\","
                     "\"providerPid\":\"" PPID "\",\"consumerPid\":\""
                     CPID "\"}");
    free(json);

    r = mim_dsp_transfer_termination_json(&t, "99", "no \"way\"", &json,
                                          &len);
    cr_assert(mim_ok(r));
    cr_assert_not_null(strstr(json, "\"@type\":\"TransferTerminationMessage"
                                    "\""), "%s", json);
    cr_assert_not_null(strstr(json, "\"code\":\"99\",\"reason\":"
                                    "[\"no \\\"way\\\"\"]}"), "%s", json);
    free(json);

    r = mim_dsp_transfer_suspension_json(&t, NULL, "x", &json, &len);
    cr_assert(mim_ok(r));
    cr_assert_null(strstr(json, "\"code\""), "%s", json);
    cr_assert_not_null(strstr(json, "\"reason\":[\"x\"]"), "%s", json);
    free(json);

    r = mim_dsp_transfer_error_json(NULL, "urn:c", "400", "bad", &json,
                                    &len);
    cr_assert_str_eq(json, "{\"@context\":[\"" MIM_DSP_CONTEXT "\"],"
                     "\"@type\":\"TransferError\",\"providerPid\":\"\","
                     "\"consumerPid\":\"urn:c\",\"code\":\"400\","
                     "\"reason\":[\"bad\"]}");
    free(json);
}

Test(dsp_transfer, builders_refuse_what_the_schemas_would)
{
    mim_dsp_tp_t   t = full_record();
    mim_result_t   r;
    char          *json = (char *) 1;
    size_t         len = 3;

    /* no pids: every message about a transfer needs both */
    t.consumer_pid = NULL;
    r = mim_dsp_transfer_process_json(&t, &json, &len);
    cr_assert_str_eq(r.msg, "TransferProcess: a transfer with providerPid "
                     "and consumerPid is required");
    cr_assert_null(json);
    cr_assert_eq(len, 0);
    t.consumer_pid = "";
    r = mim_dsp_transfer_completion_json(&t, &json, &len);
    cr_assert_eq(r.code, MIM_ERR_INVALID);
    r = mim_dsp_transfer_suspension_json(NULL, NULL, NULL, &json, &len);
    cr_assert_str_eq(r.msg, "TransferSuspensionMessage: a transfer with "
                     "providerPid and consumerPid is required");
    r = mim_dsp_transfer_termination_json(NULL, NULL, NULL, &json, &len);
    cr_assert_eq(r.code, MIM_ERR_INVALID);

    /* a state the schema does not have */
    t = full_record();
    t.state = MIM_DSP_TP_INITIAL;
    r = mim_dsp_transfer_process_json(&t, &json, &len);
    cr_assert_str_eq(r.msg, "state: INITIAL is not a state of a transfer");
    cr_assert_null(json);

    /* a pull without where or with what */
    t = full_record();
    r = mim_dsp_transfer_start_json(&t, NULL, TOKEN, &json, &len);
    cr_assert(strncmp(r.msg, "dataAddress.endpoint: missing", 29) == 0,
              "%s", r.msg);
    r = mim_dsp_transfer_start_json(&t, "", TOKEN, &json, &len);
    cr_assert_eq(r.code, MIM_ERR_INVALID);
    r = mim_dsp_transfer_start_json(&t, "https://x/", NULL, &json, &len);
    cr_assert(strncmp(r.msg, "dataAddress: no token", 21) == 0, "%s",
              r.msg);
    r = mim_dsp_transfer_start_json(&t, "https://x/", "", &json, &len);
    cr_assert_eq(r.code, MIM_ERR_INVALID);
    cr_assert_null(json);

    /* text that is not UTF-8 is refused, not written as invalid JSON */
    r = mim_dsp_transfer_start_json(&t, "https://x/", "tok\xff", &json,
                                    &len);
    cr_assert_str_eq(r.msg, "value: not UTF-8 text");
    cr_assert_null(json);
    r = mim_dsp_transfer_error_json("p", "c", NULL, "caf\xe9", &json, &len);
    cr_assert_str_eq(r.msg, "reason: not UTF-8 text");
    cr_assert_null(json);

    /* no output */
    r = mim_dsp_transfer_error_json("p", "c", NULL, NULL, NULL, &len);
    cr_assert_eq(r.code, MIM_ERR_INVALID);
    r = mim_dsp_transfer_completion_json(&t, NULL, NULL);
    cr_assert_eq(r.code, MIM_ERR_INVALID);
    /* len may be NULL */
    r = mim_dsp_transfer_completion_json(&t, &json, NULL);
    cr_assert(mim_ok(r));
    free(json);
}
