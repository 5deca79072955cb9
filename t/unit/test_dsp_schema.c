/*
 * test_dsp_schema.c - the DSP 2025-1 JSON Schema validator of
 * dsp/mim_dsp_schema.c: every official example judged as the official
 * validator judges it; each keyword refusing what it should, with the
 * path and the rule named; the loader refusing what it does not
 * implement; "pattern" meaning what Python's re.search means.
 */
#include <glob.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>
#include <jansson.h>

#include "mim_dsp_schema.h"
#include "test_dsp.h"

#define CTX  "\"@context\": [\"https://w3id.org/dspace/2025/1/context.jsonld\"]"
#define PIDS "\"providerPid\": \"urn:p\", \"consumerPid\": \"urn:c\""

static void
teardown(void)
{
    mim_dsp_schema_cleanup();
}

TestSuite(dsp_schema, .fini = teardown);

static mim_result_t
check(const char *json, const char *type)
{
    return mim_dsp_schema_validate(json, strlen(json), type);
}

static void
valid(const char *json, const char *type)
{
    mim_result_t  r = check(json, type);

    cr_assert(mim_ok(r), "%s\n%s", r.msg, json);
}

/* invalid, with exactly this message */
static void
invalid(const char *json, const char *type, const char *msg)
{
    mim_result_t  r = check(json, type);

    cr_assert_eq(r.code, MIM_ERR_INVALID, "%d %s\n%s", r.code, r.msg, json);
    cr_assert_str_eq(r.msg, msg, "got \"%s\"\n%s", r.msg, json);
}

/* invalid, the message starting with prefix */
static void
invalid_prefix(const char *json, const char *type, const char *prefix)
{
    mim_result_t  r = check(json, type);

    cr_assert_eq(r.code, MIM_ERR_INVALID, "%d %s\n%s", r.code, r.msg, json);
    cr_assert(strncmp(r.msg, prefix, strlen(prefix)) == 0,
              "got \"%s\", want \"%s...\"", r.msg, prefix);
}

/* ---- the official examples ---- */

/* the type dsp_validate.py's command line uses, but for the DID service
   entries, which have "type" where messages have "@type" */
static const char *
example_type(const char *path)
{
    if (strstr(path, "did-service") != NULL) {
        return "DidService";
    }
    if (strstr(path, "protocol-version") != NULL) {
        return "VersionResponse";
    }
    return NULL;
}

Test(dsp_schema, every_example)
{
    glob_t         g;
    size_t         i, len;
    char          *text;
    json_t        *doc;
    mim_result_t   r, r2;
    const char    *type;

    cr_assert_eq(glob(TD_SPEC_DIR "/*/example/*.json", 0, NULL, &g), 0);
    cr_assert_geq(g.gl_pathc, 27);
    for (i = 0; i < g.gl_pathc; i++) {
        text = td_read(g.gl_pathv[i], &len);
        type = example_type(g.gl_pathv[i]);
        r = mim_dsp_schema_validate(text, len, type);
        doc = td_json(text);
        r2 = mim_dsp_schema_validate_json(doc, type);
        cr_assert_eq(r.code, r2.code, "%s", g.gl_pathv[i]);
        cr_assert_str_eq(r.msg, r2.msg);
        if (strstr(g.gl_pathv[i], "dataservice-did-service") != NULL) {
            /* the spec's own example fails its schema's pattern (so says
               the official validator too): a DataService entry points
               at .well-known/dspace-version, not at /catalog */
            cr_assert_str_eq(r.msg, "serviceEndpoint: pattern: does not "
                             "match https?://.*?/catalog$");
        } else {
            cr_assert(mim_ok(r), "%s: %s", g.gl_pathv[i], r.msg);
        }
        json_decref(doc);
        free(text);
    }
    globfree(&g);
}

Test(dsp_schema, types_as_the_reference_finds_them)
{
    static const char *const  want[] = {
        "AbstractTransferCodeMessage", "Catalog", "CatalogError",
        "CatalogRequestMessage", "ContextSchema", "ContractAgreementMessage",
        "ContractAgreementVerificationMessage", "ContractNegotiation",
        "ContractNegotiationError", "ContractNegotiationEventMessage",
        "ContractNegotiationTerminationMessage", "ContractOfferMessage",
        "ContractRequestMessage", "DataAddress", "Dataset",
        "DatasetRequestMessage", "DidService", "Policy", "RootCatalog",
        "RootDataset", "TransferCompletionMessage", "TransferError",
        "TransferProcess", "TransferRequestMessage", "TransferStartMessage",
        "TransferSuspensionMessage", "TransferTerminationMessage",
        "VersionResponse"
    };
    size_t  i;

    cr_assert(mim_ok(mim_dsp_schema_init()));
    for (i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
        cr_assert_str_eq(mim_dsp_schema_type(i), want[i]);
    }
    cr_assert_null(mim_dsp_schema_type(i));
    /* idempotent, and loads again after a cleanup */
    cr_assert(mim_ok(mim_dsp_schema_init()));
    mim_dsp_schema_cleanup();
    mim_dsp_schema_cleanup();
    valid("{" CTX ", \"@type\": \"TransferCompletionMessage\", " PIDS "}",
          NULL);
}

/* ---- each keyword ---- */

Test(dsp_schema, required_names_the_path)
{
    invalid("{" CTX ", \"@type\": \"TransferStartMessage\", " PIDS ", "
            "\"dataAddress\": {\"@type\": \"DataAddress\", \"endpointType\": "
            "\"https://w3id.org/idsa/v4.1/HTTP\", \"endpointProperties\": ["
            "{\"@type\": \"EndpointProperty\", \"name\": \"authorization\"}]}"
            "}", NULL, "dataAddress.endpointProperties[0].value: required");
    invalid("{" CTX ", \"@type\": \"TransferCompletionMessage\", "
            "\"providerPid\": \"urn:p\"}", NULL, "consumerPid: required");
    invalid("{\"@type\": \"TransferCompletionMessage\", " PIDS "}", NULL,
            "@context: required");
}

Test(dsp_schema, type)
{
    invalid("{" CTX ", \"@type\": \"TransferCompletionMessage\", "
            "\"providerPid\": 5, \"consumerPid\": \"urn:c\"}", NULL,
            "providerPid: type: expected string, got integer");
    invalid("[1]", "TransferCompletionMessage",
            "(root): type: expected object, got array");
    invalid("{" CTX ", \"@type\": \"CatalogRequestMessage\", \"filter\": {}}",
            NULL, "filter: type: expected array, got object");
    /* peers send a string @context: the schema says array */
    invalid("{\"@context\": \"https://w3id.org/dspace/2025/1/context.jsonld\","
            " \"@type\": \"CatalogRequestMessage\"}", NULL,
            "@context: type: expected array, got string");
    invalid("{" CTX ", \"@type\": \"CatalogError\", \"code\": null}", NULL,
            "code: type: expected string, got null");
    invalid("{" CTX ", \"@type\": \"CatalogError\", \"code\": 1.5}", NULL,
            "code: type: expected string, got number");
    invalid("{" CTX ", \"@type\": \"CatalogError\", \"code\": true}", NULL,
            "code: type: expected string, got boolean");
}

Test(dsp_schema, const_and_enum)
{
    invalid("{" CTX ", \"@type\": \"TransferStartMessage\", " PIDS ", "
            "\"dataAddress\": {\"@type\": \"Address\", \"endpointType\": "
            "\"x\"}}", NULL, "dataAddress.@type: const: must be "
            "\"DataAddress\"");
    /* --type decides the schema; @type must still be its const */
    invalid("{" CTX ", \"@type\": \"TransferCompletionMessage\", " PIDS "}",
            "TransferSuspensionMessage",
            "@type: const: must be \"TransferSuspensionMessage\"");
    invalid("{" CTX ", \"@type\": \"TransferProcess\", " PIDS ", \"state\": "
            "\"RUNNING\"}", NULL, "state: enum: must be one of [\"REQUESTED\","
            "\"STARTED\",\"TERMINATED\",\"COMPLETED\",\"SUSPENDED\"]");
    /* the full IRI is not the compact term */
    invalid_prefix("{" CTX ", \"@type\": \"ContractNegotiationEventMessage\", "
                   PIDS ", \"eventType\": "
                   "\"https://w3id.org/dspace/2025/1/FINALIZED\"}", NULL,
                   "eventType: enum: must be one of [\"ACCEPTED\"");
    valid("{" CTX ", \"@type\": \"ContractNegotiationEventMessage\", " PIDS
          ", \"eventType\": \"FINALIZED\"}", NULL);
}

Test(dsp_schema, min_items_items_contains)
{
    invalid("{" CTX ", \"@type\": \"ContractNegotiationTerminationMessage\", "
            PIDS ", \"reason\": []}", NULL,
            "reason: minItems: 0 items, at least 1");
    valid("{" CTX ", \"@type\": \"ContractNegotiationTerminationMessage\", "
          PIDS ", \"reason\": [{\"message\": \"x\"}, 1, null]}", NULL);
    invalid("{\"@context\": [\"https://w3id.org/dspace/2025/1/context.jsonld"
            "\", 5], \"@type\": \"CatalogRequestMessage\"}", NULL,
            "@context[1]: type: expected string, got integer");
    invalid("{\"@context\": [\"https://example.com/ctx\"], \"@type\": "
            "\"CatalogRequestMessage\"}", NULL,
            "@context: contains: no item is valid against {\"const\":"
            "\"https://w3id.org/dspace/2025/1/context.jsonld\"}");
    invalid_prefix("{\"@context\": [], \"@type\": \"CatalogRequestMessage\"}",
                   NULL, "@context: contains: no item is valid");
    valid("{\"@context\": [\"https://example.com/ctx\", "
          "\"https://w3id.org/dspace/2025/1/context.jsonld\"], \"@type\": "
          "\"CatalogRequestMessage\"}", NULL);
}

#define AGREEMENT(extra) \
    "{" CTX ", \"@type\": \"ContractAgreementMessage\", " PIDS ", " \
    "\"agreement\": {\"@id\": \"urn:a\", \"@type\": \"Agreement\", " \
    "\"target\": \"urn:d\", \"assigner\": \"did:p\", " \
    "\"assignee\": \"did:c\", " extra \
    "\"permission\": [{\"action\": \"use\"}]}}"

Test(dsp_schema, pattern_and_cross_file_refs)
{
    valid(AGREEMENT("\"timestamp\": \"2023-01-01T01:00:00Z\", "), NULL);
    valid(AGREEMENT("\"timestamp\": \"2023-01-01T24:00:00.000+14:00\", "),
          NULL);
    invalid(AGREEMENT("\"timestamp\": \"yesterday\", "), NULL,
            "agreement.timestamp: pattern: does not match -?([1-9][0-9]{3,}"
            "|0[0-9]{3})-(0[1-9]|1[0-2])-(0[1-9]|[12][0-...");
    invalid_prefix(AGREEMENT("\"timestamp\": \"2023-13-01T01:00:00Z\", "),
                   NULL, "agreement.timestamp: pattern");
    invalid_prefix(AGREEMENT("\"timestamp\": \"2023-01-01T25:00:00\", "),
                   NULL, "agreement.timestamp: pattern");
    /* unanchored, as re.search: anything around a dateTime passes */
    valid(AGREEMENT("\"timestamp\": \"\\u00e9 2023-01-01T01:00:00Z?\", "),
          NULL);
    /* a $ref by $id into contract-schema.json#/definitions/Agreement */
    invalid("{" CTX ", \"@type\": \"ContractAgreementMessage\", " PIDS ", "
            "\"agreement\": {\"@id\": \"urn:a\", \"@type\": \"Agreement\", "
            "\"target\": \"urn:d\", \"assignee\": \"did:c\", \"permission\": "
            "[{\"action\": \"use\"}]}}", NULL, "agreement.assigner: required");
}

#define DID(endpoint) \
    "{\"@context\": [\"https://w3id.org/dspace/2025/1/context.jsonld\", " \
    "\"https://www.w3.org/ns/did/v1\"], \"id\": \"x\", \"type\": " \
    "\"CatalogService\", \"serviceEndpoint\": \"" endpoint "\"}"

Test(dsp_schema, pattern_as_python_reads_it)
{
    valid(DID("http://x.example/catalog"), "DidService");
    valid(DID("https://x.example/a/b/catalog"), "DidService");
    /* Python's "$" matches before a final newline too */
    valid(DID("https://x.example/catalog\\n"), "DidService");
    invalid_prefix(DID("https://x.example/catalog\\n\\n"), "DidService",
                   "serviceEndpoint: pattern");
    invalid_prefix(DID("https://x.example/catalog/"), "DidService",
                   "serviceEndpoint: pattern");
    invalid_prefix(DID("ftp://x.example/catalog"), "DidService",
                   "serviceEndpoint: pattern");
    /* "." is not a newline */
    invalid_prefix(DID("https:\\n/catalog"), "DidService",
                   "serviceEndpoint: pattern");
    /* allOf of the context $ref and a contains of its own */
    invalid("{\"@context\": [\"https://w3id.org/dspace/2025/1/context"
            ".jsonld\"], \"id\": \"x\", \"type\": \"CatalogService\", "
            "\"serviceEndpoint\": \"https://x/catalog\"}", "DidService",
            "@context: contains: no item is valid against {\"type\":"
            "\"string\",\"const\":\"https://www.w3.org/ns/did/v1\"}");
}

Test(dsp_schema, definitions_ref_without_slash)
{
    /* transfer-error-schema.json refers to "...#definitions/Abstract..." */
    invalid("{" CTX ", \"@type\": \"TransferError\", \"consumerPid\": "
            "\"urn:c\"}", NULL, "providerPid: required");
    invalid("{" CTX ", \"@type\": \"TransferTerminationMessage\", " PIDS ", "
            "\"reason\": []}", NULL, "reason: minItems: 0 items, at least 1");
    valid("{" CTX ", \"@type\": \"TransferTerminationMessage\", " PIDS ", "
          "\"code\": \"x\", \"reason\": [\"y\"]}", NULL);
}

#define OFFER_MSG(offer) \
    "{" CTX ", \"@type\": \"ContractOfferMessage\", \"providerPid\": " \
    "\"urn:p\", \"callbackAddress\": \"https://p/cb\", \"offer\": " offer "}"

Test(dsp_schema, all_of_any_of)
{
    valid(OFFER_MSG("{\"@id\": \"urn:o\", \"@type\": \"Offer\", \"target\": "
                    "\"urn:d\", \"permission\": [{\"action\": \"use\"}]}"),
          NULL);
    /* allOf: the message's own rule next to the $ref */
    invalid(OFFER_MSG("{\"@id\": \"urn:o\", \"@type\": \"Offer\", "
                      "\"permission\": [{\"action\": \"use\"}]}"), NULL,
            "offer.target: required");
    /* anyOf: a permission or a prohibition */
    invalid(OFFER_MSG("{\"@id\": \"urn:o\", \"@type\": \"Offer\", \"target\": "
                      "\"urn:d\"}"), NULL,
            "offer.permission: required (the closest of 2 anyOf alternatives "
            "at offer)");
    valid(OFFER_MSG("{\"@id\": \"urn:o\", \"@type\": \"Offer\", \"target\": "
                    "\"urn:d\", \"prohibition\": [{\"action\": \"use\"}]}"),
          NULL);
    invalid(OFFER_MSG("{\"@id\": \"urn:o\", \"@type\": \"Offer\", \"target\": "
                      "\"urn:d\", \"permission\": []}"), NULL,
            "offer.permission: minItems: 0 items, at least 1");
    /* anyOf of two strings: the first */
    invalid("{\"protocolVersions\": [{\"version\": 1, \"path\": \"/\", "
            "\"binding\": \"HTTPS\"}]}", "VersionResponse",
            "protocolVersions[0].version: type: expected string, got integer "
            "(the closest of 2 anyOf alternatives at "
            "protocolVersions[0].version)");
}

#define REQUEST(extra) \
    "{" CTX ", \"@type\": \"ContractRequestMessage\", \"consumerPid\": " \
    "\"urn:c\", " extra "\"offer\": {\"@id\": \"urn:o\", \"@type\": " \
    "\"Offer\", \"target\": \"urn:d\", \"permission\": [{\"action\": " \
    "\"use\"" CONSTRAINT "}]}}"

#define CONSTRAINT ""

Test(dsp_schema, one_of)
{
    valid(REQUEST("\"callbackAddress\": \"https://c/cb\", "), NULL);
    valid(REQUEST("\"providerPid\": \"urn:p\", "), NULL);
    invalid(REQUEST("\"callbackAddress\": \"https://c/cb\", \"providerPid\": "
                    "\"urn:p\", "), NULL,
            "(root): oneOf: valid against alternatives 1 ({\"required\":"
            "[\"callbackAddress\"]}) and 2 ({\"required\":[\"providerPid\"]}),"
            " must be against exactly one");
    invalid(REQUEST(""), NULL, "callbackAddress: required (the closest of 2 "
            "oneOf alternatives at (root))");
}

#undef CONSTRAINT
#define CONSTRAINT ", \"constraint\": [{\"leftOperand\": \"dateTime\", " \
    "\"rightOperand\": \"2026-01-01\"}]"

Test(dsp_schema, one_of_reports_the_deepest_alternative)
{
    /* Constraint is oneOf Logical / Atomic: the atomic one got further */
    invalid(REQUEST("\"providerPid\": \"urn:p\", "), NULL,
            "offer.permission[0].constraint[0].operator: required (the "
            "closest of 2 oneOf alternatives at "
            "offer.permission[0].constraint[0])");
}

#undef CONSTRAINT
#define CONSTRAINT ", \"constraint\": [{\"and\": [], \"or\": []}]"

Test(dsp_schema, one_of_logical_operands)
{
    /* two logical operands: two LogicalConstraint alternatives hold */
    invalid_prefix(REQUEST("\"providerPid\": \"urn:p\", "), NULL,
                   "offer.permission[0].constraint[0]: oneOf: valid against "
                   "alternatives 1 ({\"required\":[\"and\"]}) and 3");
}

#undef CONSTRAINT
#define CONSTRAINT ", \"constraint\": [{\"and\": [{\"leftOperand\": \"a\", " \
    "\"operator\": \"eq\", \"rightOperand\": [\"b\"]}, {\"xone\": [" \
    "{\"leftOperand\": \"a\", \"operator\": \"isA\", \"rightOperand\": " \
    "{\"@id\": \"c\"}}]}]}]"

Test(dsp_schema, one_of_nested_constraints)
{
    valid(REQUEST("\"providerPid\": \"urn:p\", "), NULL);
}

#undef CONSTRAINT
#define CONSTRAINT ", \"constraint\": [{\"leftOperand\": \"a\", " \
    "\"operator\": \"eq\", \"rightOperand\": 5}]"

Test(dsp_schema, one_of_right_operand)
{
    /* RightOperand: oneOf string, object, array; a number is none */
    invalid(REQUEST("\"providerPid\": \"urn:p\", "), NULL,
            "offer.permission[0].constraint[0].rightOperand: type: expected "
            "string, got integer (the closest of 3 oneOf alternatives at "
            "offer.permission[0].constraint[0].rightOperand)");
}

#undef CONSTRAINT

static const char  dataset[] =
    "{" CTX ", \"@id\": \"urn:d\", \"@type\": \"Dataset\", \"hasPolicy\": ["
    "{\"@id\": \"urn:o\", \"@type\": \"Offer\", %s\"permission\": ["
    "{\"action\": \"use\"}]}], \"distribution\": [{\"@type\": "
    "\"Distribution\", \"format\": \"HttpData-PULL\", \"accessService\": "
    "%s}]}";

static void
dataset_check(const char *offer_extra, const char *service, const char *type,
    const char *msg)
{
    char  text[1024];

    snprintf(text, sizeof(text), dataset, offer_extra, service);
    if (msg == NULL) {
        valid(text, type);
    } else {
        invalid(text, type, msg);
    }
}

Test(dsp_schema, not_and_aliases)
{
    dataset_check("", "\"urn:s\"", NULL, NULL);
    dataset_check("", "\"urn:s\"", "RootDataset", NULL);
    /* an offer inside a dataset has no target: not {required: [target]} */
    dataset_check("\"target\": \"urn:d\", ", "\"urn:s\"", NULL,
                  "hasPolicy[0]: not: must not be valid against "
                  "{\"required\":[\"target\"]}");
    /* accessService: oneOf a string or a DataService */
    dataset_check("", "{\"@id\": \"urn:s\", \"@type\": \"DataService\", "
                  "\"endpointURL\": \"https://p/dsp\"}", NULL, NULL);
    dataset_check("", "{\"@id\": \"urn:s\", \"@type\": \"DataService\"}",
                  NULL, "distribution[0].accessService.endpointURL: required "
                  "(the closest of 2 oneOf alternatives at "
                  "distribution[0].accessService)");
    /* a Catalog has no hasPolicy: anyOf [not ...] */
    invalid("{" CTX ", \"@id\": \"urn:cat\", \"@type\": \"Catalog\", "
            "\"participantId\": \"did:p\", \"hasPolicy\": []}", NULL,
            "(root): not: must not be valid against {\"required\":"
            "[\"hasPolicy\"]} (the closest of 1 anyOf alternatives at "
            "(root))");
    invalid("{" CTX ", \"@id\": \"urn:cat\", \"@type\": \"Catalog\"}", NULL,
            "participantId: required");
    valid("{" CTX ", \"@id\": \"urn:cat\", \"@type\": \"Catalog\", "
          "\"participantId\": \"did:p\"}", "RootCatalog");
    /* a nested catalog is a Catalog, not a RootCatalog */
    invalid("{" CTX ", \"@id\": \"urn:cat\", \"@type\": \"Catalog\", "
            "\"participantId\": \"did:p\", \"catalog\": [{\"@id\": \"urn:n\", "
            "\"@type\": \"Dataset\"}]}", NULL,
            "catalog[0].@type: const: must be \"Catalog\"");
}

/* ---- choosing the schema; what is not a message ---- */

Test(dsp_schema, the_type)
{
    invalid("{" CTX "}", NULL, "@type: required (and no type was given)");
    invalid("[]", NULL, "@type: required (and no type was given)");
    invalid("{" CTX ", \"@type\": [\"CatalogError\"]}", NULL,
            "@type: type: expected string, got array");
    invalid("{" CTX ", \"@type\": \"Nope\"}", NULL,
            "@type: no DSP 2025-1 schema for type \"Nope\"");
    invalid("{" CTX ", \"@type\": \"Nope\\u00e9\\n\"}", NULL,
            "@type: no DSP 2025-1 schema for type \"Nope???\"");
    invalid("{" CTX ", \"@type\": \"CatalogError\"}", "Nope",
            "no DSP 2025-1 schema for type \"Nope\"");
    /* type names are exact */
    invalid("{" CTX ", \"@type\": \"catalogerror\"}", NULL,
            "@type: no DSP 2025-1 schema for type \"catalogerror\"");
    valid("{\"protocolVersions\": [{\"version\": \"2025-1\", \"path\": "
          "\"/dsp\", \"binding\": \"HTTPS\"}]}", "VersionResponse");
    invalid("{\"protocolVersions\": [{\"version\": \"2025-1\", \"path\": "
            "\"/dsp\", \"binding\": \"HTTP\"}]}", "VersionResponse",
            "protocolVersions[0].binding: enum: must be one of [\"HTTPS\"]");
    invalid("{\"protocolVersions\": []}", "VersionResponse",
            "protocolVersions: minItems: 0 items, at least 1");
}

Test(dsp_schema, not_json)
{
    static char   deep[4096];
    mim_result_t  r;
    char         *p;
    size_t        i;

    r = check("", NULL);
    cr_assert_eq(r.code, MIM_ERR_INVALID);
    cr_assert_str_eq(r.msg, "not JSON: empty");
    r = check("{\"@type\": ", NULL);
    cr_assert_eq(r.code, MIM_ERR_INVALID);
    cr_assert(strncmp(r.msg, "not JSON: line 1, column ", 25) == 0, "%s",
              r.msg);
    /* a member twice: refused, whatever the schema says */
    r = check("{" CTX ", \"@type\": \"CatalogRequestMessage\", \"@type\": "
              "\"CatalogRequestMessage\"}", NULL);
    cr_assert_eq(r.code, MIM_ERR_INVALID);
    cr_assert(strstr(r.msg, "duplicate") != NULL, "%s", r.msg);
    /* "\u0000" is not text jansson reads */
    r = check("{" CTX ", \"@type\": \"CatalogError\", \"code\": \"a\\u0000\"}",
              NULL);
    cr_assert_eq(r.code, MIM_ERR_INVALID);
    /* deeper than the limit: refused before anything runs */
    strcpy(deep, "{" CTX ", \"@type\": \"CatalogError\", \"reason\": ");
    for (i = 0; i < MIM_DSP_SCHEMA_MAX_DEPTH; i++) {
        strcat(deep, "[");
    }
    for (i = 0; i < MIM_DSP_SCHEMA_MAX_DEPTH; i++) {
        strcat(deep, "]");
    }
    strcat(deep, "}");
    r = check(deep, NULL);
    cr_assert_eq(r.code, MIM_ERR_LIMIT, "%s", r.msg);
    cr_assert_str_eq(r.msg, "nested deeper than 64 levels");
    /* one level less is fine */
    p = strstr(deep, "[[");
    memmove(p, p + 1, strlen(p));
    p = strstr(deep, "]]");
    memmove(p, p + 1, strlen(p));
    valid(deep, NULL);
    r = mim_dsp_schema_validate("{}", MIM_DSP_SCHEMA_MAX_TEXT + 1, NULL);
    cr_assert_eq(r.code, MIM_ERR_LIMIT);
}

Test(dsp_schema, parsed_documents)
{
    json_t        *doc = td_json("{" CTX ", \"@type\": \"TransferProcess\", "
                                 PIDS ", \"state\": \"STARTED\"}");
    mim_result_t   r;

    cr_assert(mim_ok(mim_dsp_schema_validate_json(doc, NULL)));
    json_object_set_new(doc, "state", json_string("GONE"));
    r = mim_dsp_schema_validate_json(doc, NULL);
    cr_assert_eq(r.code, MIM_ERR_INVALID);
    cr_assert(strncmp(r.msg, "state: enum: ", 13) == 0, "%s", r.msg);
    json_object_set_new(doc, "state", json_real(2.0));
    r = mim_dsp_schema_validate_json(doc, NULL);
    cr_assert_str_eq(r.msg, "state: type: expected string, got number");
    json_decref(doc);
}

/* ---- other schema sets: the loader and the keywords on their own ---- */

static mim_dsp_schema_text_t  one[2];
static char                   one_text[2048];

/* a set of one schema whose type "T" is def */
static mim_result_t
load_def(mim_dsp_schema_set_t **set, const char *def)
{
    snprintf(one_text, sizeof(one_text),
             "{\"$schema\": \"https://json-schema.org/draft/2019-09/schema\","
             " \"$id\": \"urn:t\", \"allOf\": [{\"$ref\": \"#/definitions/T\"}"
             "], \"definitions\": {\"T\": %s}}", def);
    one[0].id = "urn:t";
    one[0].path = "t.json";
    one[0].text = one_text;
    memset(&one[1], 0, sizeof(one[1]));
    return mim_dsp_schema_set_load(set, one);
}

static void
refused(const char *def, const char *msg_part)
{
    mim_dsp_schema_set_t  *set = (mim_dsp_schema_set_t *) 1;
    mim_result_t           r = load_def(&set, def);

    cr_assert_eq(r.code, MIM_ERR_UNSUPPORTED, "%s: %s", def, r.msg);
    cr_assert(strstr(r.msg, msg_part) != NULL, "%s: %s", def, r.msg);
    cr_assert_null(set);
}

Test(dsp_schema, loader_refuses_what_it_does_not_implement)
{
    refused("{\"additionalProperties\": false}",
            "t.json#/definitions/T: keyword \"additionalProperties\" is not "
            "supported");
    refused("{\"properties\": {\"a\": {\"format\": \"uri\"}}}",
            "t.json#/definitions/T/properties/a: keyword \"format\"");
    refused("{\"items\": [{}]}", "items: only one schema");
    refused("{\"type\": [\"string\", \"null\"]}", "type: not one type name");
    refused("{\"type\": \"text\"}", "type: not one type name");
    refused("{\"$ref\": \"urn:other#/definitions/X\"}", "no schema has this "
            "$id");
    refused("{\"$ref\": \"#/definitions/Missing\"}", "nothing there");
    refused("{\"$ref\": \"#/definitions/T%41\"}", "percent-encoded");
    refused("{\"$id\": \"urn:t2\"}", "$id: only at the top");
    refused("{\"$schema\": \"http://json-schema.org/draft-07/schema#\"}",
            "$schema: only");
    refused("{\"minItems\": -1}", "minItems: not an integer >= 0");
    refused("{\"enum\": []}", "enum: not a non-empty array");
    refused("{\"oneOf\": []}", "oneOf: not a non-empty array");
    refused("{\"required\": [1]}", "required: not all strings");
    refused("{\"allOf\": [true]}", "allOf/0: a schema that is not an object");
    refused("{\"$ref\": \"#/definitions/U\"}, \"U\": {\"allOf\": [{\"$ref\": "
            "\"#/definitions/T\"}]}", "a loop of $ref");
    refused("{\"not\": {\"$ref\": \"#/definitions/T\"}}", "a loop of $ref");
}

Test(dsp_schema, loader_refuses_other_regular_expressions)
{
    static const char *const  bad[] = {
        "\\\\d", "(?i)a", "[]a]", "a**", "a{2", "a{,2}", "a{3,2}", "\\u00e9",
        "(a", "a)", "*a", "^*", "a|*", "[a", "[z-a]", "a{101}", "\\\\",
        "[[:alpha:]]", "a*+", "}", "a\\\\1", "\\\\bword", "a\\n"
    };
    char    def[256];
    size_t  i;

    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        snprintf(def, sizeof(def), "{\"pattern\": \"%s\"}", bad[i]);
        refused(def, "pattern: ");
    }
    /* a program over the size a search may cost */
    refused("{\"pattern\": \"((a{100}){100})\"}", "too complex");
}

static int
matches(mim_dsp_schema_set_t *set, const char *text)
{
    json_t        *s = json_string(text);
    mim_result_t   r;

    cr_assert_not_null(s, "%s", text);
    r = mim_dsp_schema_set_validate_json(set, s, "T");
    json_decref(s);
    cr_assert(mim_ok(r) || strstr(r.msg, "pattern: does not match"), "%s",
              r.msg);
    return mim_ok(r);
}

/* expectations from Python 3.11: re.search(pattern, text) is not None
   (patterns as written in JSON) */
Test(dsp_schema, patterns_mean_what_python_means)
{
    static const struct {
        const char  *pattern, *text;
        int          match;
    } cases[] = {
        { "a.c", "abc", 1 }, { "a.c", "a\nc", 0 }, { "^abc$", "abc\n", 1 },
        { "^abc$", "abc\n\n", 0 }, { "^a", "ba", 0 }, { "b$", "ab", 1 },
        { "x{2,3}", "axxb", 1 }, { "^x{2,3}$", "xxxx", 0 },
        { "^(ab|cd)+$", "abcdab", 1 }, { "^[^a-c]$", "\xc3\xa9", 1 },
        { "^.$", "\xc3\xa9", 1 }, { "^..$", "\xc3\xa9", 0 },
        { "^.$", "\xf0\x9f\x98\x80", 1 }, { "^[a-c-]+$", "a-b", 1 },
        { "colou?r", "color", 1 }, { "\\\\.", "a.b", 1 }, { "\\\\.", "ab", 0 },
        { "^$", "", 1 }, { "^$", "\n", 1 }, { "a*?b", "aab", 1 },
        { "^(a|)+$", "aa", 1 }, { "^(a*)*$", "aaab", 0 },
        { "^[^a]$", "\n", 1 }, { "x{0}y", "y", 1 }, { "^x{0}$", "x", 0 },
        { "(^a|b)c", "xbc", 1 }, { "a$|^b", "b\n", 1 },
        { "^\\\\-+$", "--", 1 }, { "", "anything", 1 },
        { "^a{2,}?$", "aaaa", 1 }, { "^a{2,}$", "a", 0 },
        { "^[\\\\]\\\\-]+$", "]-]", 1 }, { "^(a|b|c){3}$", "cab", 1 },
        { "^(a|b|c){3}$", "cabc", 0 }, { "()*x", "x", 1 }
    };
    mim_dsp_schema_set_t  *set;
    mim_result_t           r;
    char                   def[256];
    size_t                 i;

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        snprintf(def, sizeof(def), "{\"type\": \"string\", \"pattern\": "
                 "\"%s\"}", cases[i].pattern);
        r = load_def(&set, def);
        cr_assert(mim_ok(r), "%s: %s", cases[i].pattern, r.msg);
        cr_assert_eq(matches(set, cases[i].text), cases[i].match,
                     "re.search(%s, %s)", cases[i].pattern, cases[i].text);
        mim_dsp_schema_set_free(set);
    }
}

Test(dsp_schema, const_enum_equality_as_jsonschema)
{
    mim_dsp_schema_set_t  *set;
    json_t                *v;

    cr_assert(mim_ok(load_def(&set, "{\"const\": {\"a\": [1, \"x\"], "
                              "\"b\": null}}")));
    v = td_json("{\"b\": null, \"a\": [1.0, \"x\"]}");
    cr_assert(mim_ok(mim_dsp_schema_set_validate_json(set, v, "T")));
    json_decref(v);
    v = td_json("{\"b\": false, \"a\": [1, \"x\"]}");
    cr_assert(!mim_ok(mim_dsp_schema_set_validate_json(set, v, "T")));
    json_decref(v);
    v = td_json("{\"a\": [1, \"x\"]}");
    cr_assert(!mim_ok(mim_dsp_schema_set_validate_json(set, v, "T")));
    json_decref(v);
    mim_dsp_schema_set_free(set);

    cr_assert(mim_ok(load_def(&set, "{\"enum\": [1, \"1\"]}")));
    cr_assert(mim_ok(mim_dsp_schema_set_validate(set, "1.0", 3, "T")));
    cr_assert(mim_ok(mim_dsp_schema_set_validate(set, "\"1\"", 3, "T")));
    cr_assert(!mim_ok(mim_dsp_schema_set_validate(set, "true", 4, "T")));
    cr_assert(!mim_ok(mim_dsp_schema_set_validate(set, "1.5", 3, "T")));
    mim_dsp_schema_set_free(set);

    cr_assert(mim_ok(load_def(&set, "{\"type\": \"integer\"}")));
    cr_assert(mim_ok(mim_dsp_schema_set_validate(set, "2.0", 3, "T")));
    cr_assert(!mim_ok(mim_dsp_schema_set_validate(set, "2.5", 3, "T")));
    cr_assert(!mim_ok(mim_dsp_schema_set_validate(set, "1e300", 5, "T")));
    mim_dsp_schema_set_free(set);
}

Test(dsp_schema, recursion_through_members_is_fine)
{
    static const char  ok[] =
        "{\"v\": 1, \"next\": {\"v\": 2, \"next\": {\"v\": 3}}}";
    static const char  bad[] =
        "{\"v\": 1, \"next\": {\"v\": 2, \"next\": {\"w\": 3}}}";
    mim_dsp_schema_set_t  *set;

    cr_assert(mim_ok(load_def(&set, "{\"type\": \"object\", \"properties\": "
                              "{\"next\": {\"$ref\": \"#/definitions/T\"}}, "
                              "\"required\": [\"v\"]}")));
    cr_assert(mim_ok(mim_dsp_schema_set_validate(set, ok, strlen(ok), "T")));
    cr_assert_str_eq(mim_dsp_schema_set_validate(set, bad, strlen(bad),
                                                 "T").msg,
                     "next.next.v: required");
    cr_assert_str_eq(mim_dsp_schema_set_type(set, 0), "T");
    cr_assert_null(mim_dsp_schema_set_type(set, 1));
    mim_dsp_schema_set_free(set);
}
