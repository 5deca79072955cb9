/*
 * test_dsp_catalog.c - the provider's catalog (dsp/mim_dsp_catalog.c):
 * loading (the example conf/dsp/catalog.json, and every refusal), the
 * Catalog and Dataset served (valid for the official schemas), the judge
 * of a requested offer (ours, a counter-offer, unknown), the decision at
 * negotiation time, and the Agreement an offer becomes.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>
#include <jansson.h>

#include "mim_dsp.h"
#include "test_dsp.h"

#define DSP_URL      "https://city.example/dsp"
#define PARTICIPANT  "did:web:city.example"
#define CONSUMER     "did:web:consumer.example"

/* 2026-11-25T10:00:00Z */
#define NOW  INT64_C(1795600800)

static mim_dsp_catalog_t *
load_example(void)
{
    mim_dsp_catalog_t  *c = NULL;
    mim_result_t        r;

    r = mim_dsp_catalog_load(&c, TD_ROOT "/conf/dsp/catalog.json");
    cr_assert(mim_ok(r), "conf/dsp/catalog.json: %s", r.msg);
    cr_assert_not_null(c);
    return c;
}

static mim_dsp_catalog_t *
parse_ok(const char *json, const char *base_dir)
{
    mim_dsp_catalog_t  *c = NULL;
    mim_result_t        r;

    r = mim_dsp_catalog_parse(&c, json, strlen(json), base_dir);
    cr_assert(mim_ok(r), "%s\n%s", r.msg, json);
    return c;
}

/* ---- the example catalog ---- */

Test(dsp_catalog, the_example_loads)
{
    mim_dsp_catalog_t  *c = load_example();

    cr_assert_eq(mim_dsp_catalog_dataset_count(c), 2);
    cr_assert_eq(mim_dsp_catalog_warning_count(c), 0, "%s",
                 mim_dsp_catalog_warning(c, 0));
    cr_assert_null(mim_dsp_catalog_warning(c, 0));
    cr_assert_str_eq(mim_dsp_dataset_endpoint(c, "urn:mim:dataset:parking"),
                     "/ngsi-ld/v1/entities?type=ParkingSpot");
    cr_assert_str_eq(mim_dsp_dataset_endpoint(c,
                                              "urn:mim:dataset:air-quality"),
                     "/ngsi-ld/v1/entities?type=AirQualityObserved");
    cr_assert_null(mim_dsp_dataset_endpoint(c, "urn:mim:dataset:other"));
    cr_assert_null(mim_dsp_dataset_endpoint(c, NULL));
    cr_assert(mim_dsp_dataset_has_format(c, "urn:mim:dataset:parking",
                                         MIM_DSP_PULL));
    cr_assert(mim_dsp_dataset_has_format(c, "urn:mim:dataset:air-quality",
                                         MIM_DSP_PULL));
    cr_assert(!mim_dsp_dataset_has_format(c, "urn:mim:dataset:parking",
                                          "HttpData-PUSH"));
    cr_assert(!mim_dsp_dataset_has_format(c, "urn:x", MIM_DSP_PULL));
    mim_dsp_catalog_free(c);
    mim_dsp_catalog_free(NULL);
}

/* a member of an object by a path of keys and indexes ("dataset", 1) */
static json_t *
at(json_t *v, const char *key)
{
    json_t  *m = json_object_get(v, key);

    cr_assert_not_null(m, "no member %s", key);
    return m;
}

static const char *
str_at(json_t *v, const char *key)
{
    json_t  *m = at(v, key);

    cr_assert(json_is_string(m), "%s is not a string", key);
    return json_string_value(m);
}

Test(dsp_catalog, the_catalog_served)
{
    mim_dsp_catalog_t  *c = load_example();
    json_t             *cat, *svc, *ds, *offer, *dist;
    char               *json;
    const char         *svc_id;
    size_t              len, i, j;
    mim_result_t        r;

    r = mim_dsp_catalog_json(c, PARTICIPANT, DSP_URL, &json, &len);
    cr_assert(mim_ok(r), "%s", r.msg);
    cr_assert_eq(strlen(json), len);
    td_validate((const char *const *) &json, 1);

    cat = td_json(json);
    cr_assert_str_eq(json_string_value(json_array_get(at(cat, "@context"),
                                                      0)), MIM_DSP_CONTEXT);
    cr_assert_str_eq(str_at(cat, "@id"), "urn:mim:catalog:city");
    cr_assert_str_eq(str_at(cat, "@type"), "Catalog");
    cr_assert_str_eq(str_at(cat, "participantId"), PARTICIPANT);
    /* under their DCAT names: the DSP context has no bare "title" */
    cr_assert_str_eq(str_at(cat, "dct:title"), "Open data of the city");
    cr_assert_eq(json_array_size(at(cat, "service")), 1);
    svc = json_array_get(at(cat, "service"), 0);
    svc_id = str_at(svc, "@id");
    cr_assert_str_eq(svc_id, "urn:mim:catalog:city#service");
    cr_assert_str_eq(str_at(svc, "@type"), "DataService");
    cr_assert_str_eq(str_at(svc, "endpointURL"), DSP_URL);
    cr_assert_eq(json_array_size(at(cat, "dataset")), 2);

    ds = json_array_get(at(cat, "dataset"), 0);
    cr_assert_str_eq(str_at(ds, "@id"), "urn:mim:dataset:parking");
    cr_assert_str_eq(str_at(ds, "@type"), "Dataset");
    cr_assert_str_eq(str_at(ds, "dct:title"), "Parking spots");
    cr_assert_str_eq(str_at(ds, "dct:description"), "Occupancy of the "
                     "city's on-street parking spots (NGSI-LD ParkingSpot "
                     "entities).");
    cr_assert_eq(json_array_size(at(ds, "dcat:keyword")), 3);
    /* where the data is served stays the gateway's business */
    cr_assert_null(json_object_get(ds, "endpoint"));
    for (i = 0; i < 2; i++) {
        ds = json_array_get(at(cat, "dataset"), i);
        json_array_foreach(at(ds, "hasPolicy"), j, offer) {
            cr_assert_str_eq(str_at(offer, "@type"), "Offer");
            cr_assert_null(json_object_get(offer, "target"));
            cr_assert_null(json_object_get(offer, "@context"));
        }
        dist = json_array_get(at(ds, "distribution"), 0);
        cr_assert_str_eq(str_at(dist, "@type"), "Distribution");
        cr_assert_str_eq(str_at(dist, "format"), MIM_DSP_PULL);
        cr_assert_str_eq(str_at(dist, "accessService"), svc_id);
    }
    /* the offer of the file, as written there */
    offer = json_array_get(at(ds, "hasPolicy"), 0);
    cr_assert_str_eq(str_at(offer, "@id"),
                     "urn:uuid:0f3e7a52-5d1c-4c1e-9c55-6f1a8d2b3c40");
    cr_assert_str_eq(str_at(json_array_get(at(offer, "prohibition"), 0),
                            "action"), "distribute");
    json_decref(cat);
    free(json);

    r = mim_dsp_catalog_json(c, NULL, DSP_URL, &json, &len);
    cr_assert_eq(r.code, MIM_ERR_INVALID);
    cr_assert_null(json);
    r = mim_dsp_catalog_json(c, PARTICIPANT, NULL, &json, &len);
    cr_assert_eq(r.code, MIM_ERR_INVALID);
    mim_dsp_catalog_free(c);
}

Test(dsp_catalog, a_dataset_served)
{
    mim_dsp_catalog_t  *c = load_example();
    json_t             *ds, *access;
    char               *json;
    size_t              len;
    mim_result_t        r;

    r = mim_dsp_dataset_json(c, "urn:mim:dataset:air-quality", DSP_URL,
                             &json, &len);
    cr_assert(mim_ok(r), "%s", r.msg);
    td_validate((const char *const *) &json, 1);
    ds = td_json(json);
    cr_assert_str_eq(str_at(ds, "@type"), "Dataset");
    cr_assert_str_eq(json_string_value(json_array_get(at(ds, "@context"),
                                                      0)), MIM_DSP_CONTEXT);
    /* alone, the dataset names its DataService in full */
    access = at(json_array_get(at(ds, "distribution"), 0), "accessService");
    cr_assert_str_eq(str_at(access, "@id"), "urn:mim:catalog:city#service");
    cr_assert_str_eq(str_at(access, "endpointURL"), DSP_URL);
    json_decref(ds);
    free(json);

    r = mim_dsp_dataset_json(c, "urn:mim:dataset:nope\n", DSP_URL, &json,
                             &len);
    cr_assert_eq(r.code, MIM_ERR_NOT_FOUND);
    cr_assert_str_eq(r.msg, "no dataset \"urn:mim:dataset:nope?\" in the "
                     "catalog");
    cr_assert_null(json);
    r = mim_dsp_dataset_json(c, NULL, DSP_URL, &json, &len);
    cr_assert_eq(r.code, MIM_ERR_NOT_FOUND);
    mim_dsp_catalog_free(c);
}

Test(dsp_catalog, details_of_the_format)
{
    mim_dsp_catalog_t  *c, *c2;
    char               *a, *b;
    json_t             *cat;
    mim_result_t        r;
    const char         *text =
        "{\"datasets\": [{\"@id\": \"urn:d\", \"endpoint\": "
        "\"https://data.example/x\", \"formats\": [\"HttpData-PULL\", "
        "\"HttpData-PUSH\"], \"keyword\": \"one\", \"offers\": [{\"@id\": "
        "\"urn:o\", \"target\": \"urn:d\", \"@context\": \""
        MIM_DSP_CONTEXT "\", \"prohibition\": [{\"action\": \"sell\"}]}]}]}";

    /* no @id: one derived from the text, the same each time */
    c = parse_ok(text, NULL);
    c2 = parse_ok(text, NULL);
    r = mim_dsp_catalog_json(c, PARTICIPANT, DSP_URL, &a, NULL);
    cr_assert(mim_ok(r));
    r = mim_dsp_catalog_json(c2, PARTICIPANT, DSP_URL, &b, NULL);
    cr_assert(mim_ok(r));
    cr_assert_str_eq(a, b);
    cat = td_json(a);
    cr_assert(strncmp(str_at(cat, "@id"), "urn:uuid:", 9) == 0);
    cr_assert_eq(strlen(str_at(cat, "@id")), MIM_DSP_UUID_LEN - 1);
    cr_assert_eq(json_array_size(at(json_array_get(at(cat, "dataset"), 0),
                                    "distribution")), 2);
    td_validate((const char *const *) &a, 1);
    cr_assert(mim_dsp_dataset_has_format(c, "urn:d", "HttpData-PUSH"));
    json_decref(cat);
    free(a);
    free(b);
    mim_dsp_catalog_free(c);
    mim_dsp_catalog_free(c2);

    /* no datasets: a catalog still, without the member */
    c = parse_ok("{\"@id\": \"urn:c\", \"datasets\": []}", NULL);
    r = mim_dsp_catalog_json(c, PARTICIPANT, DSP_URL, &a, NULL);
    cr_assert(mim_ok(r));
    cr_assert_null(strstr(a, "\"dataset\""));
    td_validate((const char *const *) &a, 1);
    free(a);
    mim_dsp_catalog_free(c);
}

/* ---- what does not load ---- */

typedef struct {
    const char  *json;
    const char  *reason;        /* the start of r.msg */
} bad_t;

#define DS(members) "{\"datasets\": [{" members "}]}"
#define DS_OFFER(offer) \
    DS("\"@id\": \"urn:d\", \"endpoint\": \"/x\", \"offers\": [" offer "]")
#define USE  "\"permission\": [{\"action\": \"use\"}]"

Test(dsp_catalog, load_errors)
{
    static const bad_t  bad[] = {
        { "{", "catalog: not JSON: line 1" },
        { "[]", "catalog: not a JSON object" },
        { "{}", "datasets: missing" },
        { "{\"datasets\": {}}", "datasets: expected an array" },
        { "{\"@id\": 5, \"datasets\": []}", "@id: expected a non-empty "
          "string" },
        { "{\"title\": [\"x\"], \"datasets\": []}", "title: expected a "
          "non-empty string" },
        { "{\"dataset\": []}", "dataset: unknown member" },
        { "{\"datasets\": [5]}", "datasets[0]: expected an object" },
        { DS("\"endpoint\": \"/x\", \"offers\": [{\"@id\": \"urn:o\", " USE
             "}]"), "datasets[0].@id: missing" },
        { DS("\"@id\": \"urn:d\", \"offers\": [{\"@id\": \"urn:o\", " USE
             "}]"), "datasets[0].endpoint: missing" },
        { DS("\"@id\": \"urn:d\", \"endpoint\": \"\", \"offers\": []"),
          "datasets[0].endpoint: expected a non-empty string" },
        { DS("\"@id\": \"urn:d\", \"endpoint\": \"ftp://x/y\", \"offers\": "
             "[]"), "datasets[0].endpoint: a path" },
        { DS("\"@id\": \"urn:d\", \"endpoint\": \"/x\""),
          "datasets[0].offers: missing" },
        { DS("\"@id\": \"urn:d\", \"endpoint\": \"/x\", \"offers\": []"),
          "datasets[0].offers: expected an array of 1 to 64 offers" },
        { DS("\"@id\": \"urn:d\", \"endpoint\": \"/x\", \"endpoint_url\": "
             "\"/y\", \"offers\": []"),
          "datasets[0].endpoint_url: unknown member" },
        { DS("\"@id\": \"urn:d\", \"endpoint\": \"/x\", \"formats\": [], "
             "\"offers\": [{\"@id\": \"urn:o\", " USE "}]"),
          "datasets[0].formats: expected an array of 1 to 16 strings" },
        { DS("\"@id\": \"urn:d\", \"endpoint\": \"/x\", \"formats\": [\"\"],"
             " \"offers\": [{\"@id\": \"urn:o\", " USE "}]"),
          "datasets[0].formats[0]: expected a non-empty string" },
        { DS("\"@id\": \"urn:d\", \"endpoint\": \"/x\", \"keyword\": [1], "
             "\"offers\": [{\"@id\": \"urn:o\", " USE "}]"),
          "datasets[0].keyword[0]: expected a string" },
        /* duplicate ids */
        { "{\"datasets\": [{\"@id\": \"urn:d\", \"endpoint\": \"/x\", "
          "\"offers\": [{\"@id\": \"urn:o1\", " USE "}]}, {\"@id\": "
          "\"urn:d\", \"endpoint\": \"/y\", \"offers\": [{\"@id\": "
          "\"urn:o2\", " USE "}]}]}",
          "datasets[1].@id: another dataset has this @id" },
        { "{\"datasets\": [{\"@id\": \"urn:d1\", \"endpoint\": \"/x\", "
          "\"offers\": [{\"@id\": \"urn:o\", " USE "}]}, {\"@id\": "
          "\"urn:d2\", \"endpoint\": \"/y\", \"offers\": [{\"@id\": "
          "\"urn:o\", " USE "}]}]}",
          "datasets[1].offers[0].@id: another offer has this @id" },
        { DS_OFFER("{\"@id\": \"urn:o\", " USE "}, {\"@id\": \"urn:o\", "
                   USE "}"),
          "datasets[0].offers[1].@id: another offer has this @id" },
        /* offers: the DSP schema, the target, the ODRL engine */
        { DS_OFFER("5"), "datasets[0].offers[0]: expected an offer" },
        { DS_OFFER("{" USE "}"), "datasets[0].offers[0].@id: missing" },
        { DS_OFFER("{\"@id\": \"urn:o\"}"), "datasets[0].offers[0]: no "
          "permission and no prohibition" },
        { DS_OFFER("{\"@id\": \"urn:o\", \"@type\": \"Agreement\", " USE
                   "}"), "datasets[0].offers[0].@type: expected \"Offer\"" },
        { DS_OFFER("{\"@id\": \"urn:o\", \"permission\": [{\"action\": "
                   "{\"@id\": \"use\"}}]}"),
          "datasets[0].offers[0].permission[0].action: expected a string" },
        { DS_OFFER("{\"@id\": \"urn:o\", \"permission\": [{\"action\": "
                   "\"use\", \"constraint\": [{\"leftOperand\": \"count\", "
                   "\"operator\": \"lteq\", \"rightOperand\": 5}]}]}"),
          "datasets[0].offers[0].permission[0].constraint[0].rightOperand" },
        { DS_OFFER("{\"@id\": \"urn:o\", \"target\": \"urn:other\", " USE
                   "}"), "datasets[0].offers[0].target: not the dataset's "
          "@id" },
        { DS_OFFER("{\"@id\": \"urn:o\", \"permission\": [{\"action\": "
                   "\"use\", \"constraint\": [{\"leftOperand\": "
                   "\"dateTime\", \"operator\": \"lt\", \"rightOperand\": "
                   "\"soon\"}]}]}"),
          "datasets[0].offers[0]: permission[0].constraint[0].rightOperand:"
        },
        { DS_OFFER("{\"@id\": \"urn:o\", \"conflict\": \"first\", " USE "}"),
          "datasets[0].offers[0]: conflict: unknown conflict strategy" },
        { DS_OFFER("{\"@id\": \"urn:o\", \"@context\": [\"" MIM_DSP_CONTEXT
                   "\", {\"dpv\": \"https://w3id.org/dpv#\"}], " USE "}"),
          "datasets[0].offers[0].@context: only " MIM_DSP_CONTEXT },
        /* offer files: only with a directory to find them in */
        { DS_OFFER("\"offer.jsonld\""), "datasets[0].offers[0] "
          "(offer.jsonld): offer files are read only with the catalog's "
          "directory" },
        { DS_OFFER("\"/etc/passwd\""), "datasets[0].offers[0] "
          "(/etc/passwd): offer files are read only with the catalog's "
          "directory" },
    };
    mim_dsp_catalog_t  *c;
    mim_result_t        r;
    size_t              i;

    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        c = (mim_dsp_catalog_t *) 1;
        r = mim_dsp_catalog_parse(&c, bad[i].json, strlen(bad[i].json),
                                  NULL);
        cr_expect_neq(r.code, MIM_OK, "loaded: %s", bad[i].json);
        cr_expect_null(c);
        cr_expect(strncmp(r.msg, bad[i].reason, strlen(bad[i].reason)) == 0,
                  "expected \"%s...\", got \"%s\"\nfor %s", bad[i].reason,
                  r.msg, bad[i].json);
        mim_dsp_catalog_free(c == (mim_dsp_catalog_t *) 1 ? NULL : c);
    }
}

Test(dsp_catalog, offer_files)
{
    mim_dsp_catalog_t  *c;
    mim_result_t        r;
    char               *dir, path[512], *json, *text;
    const char         *warning;
    json_t             *ds;

    dir = td_temp_dir();
    td_write(dir, "good.jsonld", "{\"@context\": \"" MIM_DSP_CONTEXT "\", "
             "\"@id\": \"urn:o:file\", \"@type\": \"Offer\", "
             "\"target\": \"urn:d\", " USE "}");
    td_write(dir, "other-target.jsonld", "{\"@id\": \"urn:o:t\", "
             "\"target\": \"urn:elsewhere\", " USE "}");
    td_write(dir, "broken.jsonld", "{\"@id\": \"urn:o:b\", ");
    td_write(dir, "schema.jsonld", "{\"@id\": \"urn:o:s\", "
             "\"permission\": [{}]}");
    td_write(dir, "engine.jsonld", "{\"@id\": \"urn:o:e\", "
             "\"permission\": [{\"action\": \"use\", \"constraint\": "
             "[{\"leftOperand\": \"count\", \"operator\": \"lt\", "
             "\"rightOperand\": \"many\"}]}]}");
    td_write(dir, "warn.jsonld", "{\"@id\": \"urn:o:w\", "
             "\"permission\": [{\"action\": \"use\", \"constraint\": "
             "[{\"leftOperand\": \"partner\", \"operator\": \"eq\", "
             "\"rightOperand\": \"gold\"}]}]}");

    /* relative to the catalog's directory */
    snprintf(path, sizeof(path), "%s/catalog.json", dir);
    td_write(dir, "catalog.json", DS_OFFER("\"good.jsonld\", "
                                           "\"warn.jsonld\""));
    r = mim_dsp_catalog_load(&c, path);
    cr_assert(mim_ok(r), "%s", r.msg);
    /* the engine's warnings, with the place of the offer */
    cr_assert_eq(mim_dsp_catalog_warning_count(c), 1);
    warning = "datasets[0].offers[1] (warn.jsonld): permission[0]."
              "constraint[0]: unknown left operand \"partner\"";
    cr_assert(strncmp(mim_dsp_catalog_warning(c, 0), warning,
                      strlen(warning)) == 0, "%s",
              mim_dsp_catalog_warning(c, 0));
    r = mim_dsp_dataset_json(c, "urn:d", DSP_URL, &json, NULL);
    cr_assert(mim_ok(r));
    ds = td_json(json);
    /* served without the file's @context and target */
    text = json_dumps(json_array_get(at(ds, "hasPolicy"), 0),
                      JSON_COMPACT | JSON_SORT_KEYS);
    cr_assert_str_eq(text, "{\"@id\":\"urn:o:file\",\"@type\":\"Offer\","
                     "\"permission\":[{\"action\":\"use\"}]}");
    free(text);
    json_decref(ds);
    free(json);
    mim_dsp_catalog_free(c);

    /* the same from text, with the directory given */
    c = parse_ok(DS_OFFER("\"good.jsonld\""), dir);
    mim_dsp_catalog_free(c);

    {
        static const bad_t  bad[] = {
            { DS_OFFER("\"missing.jsonld\""), "datasets[0].offers[0] "
              "(missing.jsonld): cannot open: No such file or directory" },
            { DS_OFFER("\"other-target.jsonld\""), "datasets[0].offers[0] "
              "(other-target.jsonld).target: not the dataset's @id" },
            { DS_OFFER("\"broken.jsonld\""), "datasets[0].offers[0] "
              "(broken.jsonld): not JSON" },
            { DS_OFFER("\"schema.jsonld\""), "datasets[0].offers[0] "
              "(schema.jsonld): offer.permission[0].action: missing" },
            { DS_OFFER("\"engine.jsonld\""), "datasets[0].offers[0] "
              "(engine.jsonld): permission[0].constraint[0].rightOperand" },
            { DS_OFFER("\"\""), "datasets[0].offers[0] (): an empty file "
              "name" },
            { DS_OFFER("\".\""), "datasets[0].offers[0] (.): cannot" },
            { DS_OFFER("\"/nonexistent/offer.jsonld\""),
              "datasets[0].offers[0] (/nonexistent/offer.jsonld): cannot "
              "open: No such file" },
        };
        size_t  i;

        for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
            r = mim_dsp_catalog_parse(&c, bad[i].json, strlen(bad[i].json),
                                      dir);
            cr_expect_neq(r.code, MIM_OK, "loaded: %s", bad[i].json);
            cr_expect(strncmp(r.msg, bad[i].reason,
                              strlen(bad[i].reason)) == 0,
                      "expected \"%s...\", got \"%s\"", bad[i].reason, r.msg);
            cr_expect_null(c);
        }
    }

    /* and a catalog file that is not there */
    snprintf(path, sizeof(path), "%s/none.json", dir);
    r = mim_dsp_catalog_load(&c, path);
    cr_assert_eq(r.code, MIM_ERR_IO);
    cr_assert_null(c);
    td_temp_dir_remove(dir);
}

/* ---- judging a requested offer ---- */

#define CATALOG \
    "{\"@id\": \"urn:cat\", \"datasets\": [" \
    "{\"@id\": \"urn:d1\", \"endpoint\": \"/one\", \"offers\": [" \
    "  {\"@id\": \"urn:o1\", \"permission\": [{\"action\": \"use\", " \
    "   \"constraint\": [{\"leftOperand\": \"dateTime\", \"operator\": " \
    "   \"lteq\", \"rightOperand\": \"2026-12-31T23:59:59Z\"}, " \
    "   {\"leftOperand\": \"purpose\", \"operator\": \"isAnyOf\", " \
    "   \"rightOperand\": [\"urn:p:research\"]}]}], " \
    "   \"prohibition\": [{\"action\": \"distribute\"}]}, " \
    "  {\"@id\": \"urn:o1:open\", \"permission\": [{\"action\": \"read\", " \
    "   \"constraint\": []}]}]}, " \
    "{\"@id\": \"urn:d2\", \"endpoint\": \"/two\", \"offers\": [" \
    "  {\"@id\": \"urn:o2\", \"permission\": [{\"action\": \"use\"}]}]}]}"

/* a ContractRequestMessage for offer (JSON text) */
static void
request(mim_dsp_msg_t *m, const char *offer)
{
    char          json[4096];
    mim_result_t  r;

    snprintf(json, sizeof(json), "{\"@context\": [\"" MIM_DSP_CONTEXT "\"], "
             "\"@type\": \"ContractRequestMessage\", \"consumerPid\": "
             "\"urn:c\", \"callbackAddress\": \"https://c.example/cb\", "
             "\"offer\": %s}", offer);
    r = mim_dsp_msg_parse(m, MIM_DSP_MSG_CONTRACT_REQUEST, json,
                          strlen(json));
    cr_assert(mim_ok(r), "%s\n%s", r.msg, json);
}

static mim_dsp_offer_match_t
match(const mim_dsp_catalog_t *c, const char *offer,
    const mim_dsp_offer_t **ours, mim_result_t *r)
{
    mim_dsp_msg_t          m;
    mim_dsp_offer_match_t  how = (mim_dsp_offer_match_t) 77;

    request(&m, offer);
    *r = mim_dsp_catalog_match(c, &m, ours, &how);
    mim_dsp_msg_free(&m);
    return how;
}

Test(dsp_catalog, match)
{
    mim_dsp_catalog_t      *c = parse_ok(CATALOG, NULL);
    const mim_dsp_offer_t  *o;
    mim_result_t            r;

    /* ours: as served, and in another member order, with assigner and
       assignee, without the @type's cousin members */
    cr_assert_eq(match(c, "{\"@id\": \"urn:o1\", \"@type\": \"Offer\", "
                       "\"target\": \"urn:d1\", \"permission\": "
                       "[{\"action\": \"use\", \"constraint\": "
                       "[{\"leftOperand\": \"dateTime\", \"operator\": "
                       "\"lteq\", \"rightOperand\": \"2026-12-31T23:59:59Z\"},"
                       " {\"leftOperand\": \"purpose\", \"operator\": "
                       "\"isAnyOf\", \"rightOperand\": [\"urn:p:research\"]}"
                       "]}], \"prohibition\": [{\"action\": \"distribute\"}]}",
                       &o, &r), MIM_DSP_OFFER_OURS, "%s", r.msg);
    cr_assert(mim_ok(r));
    cr_assert_str_eq(mim_dsp_offer_id(o), "urn:o1");
    cr_assert_str_eq(mim_dsp_offer_dataset(o), "urn:d1");
    cr_assert_not_null(mim_dsp_offer_policy(o));
    cr_assert_str_eq(mim_policy_target(mim_dsp_offer_policy(o)), "urn:d1");
    cr_assert_eq(match(c, "{\"prohibition\": [{\"action\": \"distribute\"}], "
                       "\"assignee\": \"did:web:c\", \"assigner\": "
                       "\"did:web:p\", \"permission\": [{\"constraint\": "
                       "[{\"rightOperand\": \"2026-12-31T23:59:59Z\", "
                       "\"operator\": \"lteq\", \"leftOperand\": "
                       "\"dateTime\"}, {\"rightOperand\": "
                       "[\"urn:p:research\"], \"leftOperand\": \"purpose\", "
                       "\"operator\": \"isAnyOf\"}], \"action\": \"use\"}], "
                       "\"target\": \"urn:d1\", \"@type\": \"Offer\", "
                       "\"@id\": \"urn:o1\"}", &o, &r),
                 MIM_DSP_OFFER_OURS, "%s", r.msg);

    /* an empty constraint list is no constraint, on either side */
    cr_assert_eq(match(c, "{\"@id\": \"urn:o1:open\", \"@type\": \"Offer\", "
                       "\"target\": \"urn:d1\", \"permission\": "
                       "[{\"action\": \"read\"}]}", &o, &r),
                 MIM_DSP_OFFER_OURS, "%s", r.msg);
    cr_assert_eq(match(c, "{\"@id\": \"urn:o2\", \"@type\": \"Offer\", "
                       "\"target\": \"urn:d2\", \"permission\": "
                       "[{\"action\": \"use\", \"constraint\": []}]}", &o,
                       &r), MIM_DSP_OFFER_OURS, "%s", r.msg);

    /* a changed constraint: a counter-offer, of our offer */
    cr_assert_eq(match(c, "{\"@id\": \"urn:o1\", \"@type\": \"Offer\", "
                       "\"target\": \"urn:d1\", \"permission\": "
                       "[{\"action\": \"use\", \"constraint\": "
                       "[{\"leftOperand\": \"dateTime\", \"operator\": "
                       "\"lteq\", \"rightOperand\": \"2030-12-31T23:59:59Z\"},"
                       " {\"leftOperand\": \"purpose\", \"operator\": "
                       "\"isAnyOf\", \"rightOperand\": [\"urn:p:research\"]}"
                       "]}], \"prohibition\": [{\"action\": \"distribute\"}]}",
                       &o, &r), MIM_DSP_OFFER_COUNTER);
    cr_assert_eq(r.code, MIM_ERR_MISMATCH);
    cr_assert_str_eq(r.msg, "offer urn:o1: its permission differs from the "
                     "offer of dataset urn:d1 (a counter-offer)");
    cr_assert_not_null(o);
    cr_assert_str_eq(mim_dsp_offer_id(o), "urn:o1");
    /* a rule left out, a rule added, rules reordered */
    cr_assert_eq(match(c, "{\"@id\": \"urn:o1\", \"@type\": \"Offer\", "
                       "\"target\": \"urn:d1\", \"permission\": "
                       "[{\"action\": \"use\"}]}", &o, &r),
                 MIM_DSP_OFFER_COUNTER);
    cr_assert_eq(match(c, "{\"@id\": \"urn:o2\", \"@type\": \"Offer\", "
                       "\"target\": \"urn:d2\", \"permission\": "
                       "[{\"action\": \"use\"}], \"obligation\": "
                       "[{\"action\": \"compensate\"}]}", &o, &r),
                 MIM_DSP_OFFER_COUNTER);
    cr_assert(strstr(r.msg, "its obligation differs") != NULL, "%s", r.msg);

    /* unknown: no such offer, another dataset's offer, no such dataset */
    cr_assert_eq(match(c, "{\"@id\": \"urn:o9\", \"@type\": \"Offer\", "
                       "\"target\": \"urn:d1\", \"permission\": "
                       "[{\"action\": \"use\"}]}", &o, &r),
                 MIM_DSP_OFFER_UNKNOWN);
    cr_assert_eq(r.code, MIM_ERR_NOT_FOUND);
    cr_assert_str_eq(r.msg, "offer urn:o9 is not offered for dataset urn:d1");
    cr_assert_null(o);
    cr_assert_eq(match(c, "{\"@id\": \"urn:o2\", \"@type\": \"Offer\", "
                       "\"target\": \"urn:d1\", \"permission\": "
                       "[{\"action\": \"use\"}]}", &o, &r),
                 MIM_DSP_OFFER_UNKNOWN);
    cr_assert_str_eq(r.msg, "offer urn:o2 is not offered for dataset urn:d1");
    cr_assert_null(o);
    cr_assert_eq(match(c, "{\"@id\": \"urn:o2\", \"@type\": \"Offer\", "
                       "\"target\": \"urn:d3\", \"permission\": "
                       "[{\"action\": \"use\"}]}", &o, &r),
                 MIM_DSP_OFFER_UNKNOWN);
    cr_assert_str_eq(r.msg, "dataset urn:d3 is not in the catalog");
    /* the target is required here */
    cr_assert_eq(match(c, "{\"@id\": \"urn:o2\", \"@type\": \"Offer\", "
                       "\"permission\": [{\"action\": \"use\"}]}", &o, &r),
                 MIM_DSP_OFFER_UNKNOWN);
    cr_assert_eq(r.code, MIM_ERR_INVALID);
    cr_assert_str_eq(r.msg, "offer.target: missing (the dataset the offer "
                     "is for)");
    mim_dsp_catalog_free(c);
}

Test(dsp_catalog, match_bad_arguments)
{
    mim_dsp_catalog_t      *c = parse_ok(CATALOG, NULL);
    const mim_dsp_offer_t  *o = (const mim_dsp_offer_t *) 1;
    mim_dsp_offer_match_t   how = MIM_DSP_OFFER_OURS;
    mim_dsp_msg_t           m;
    mim_result_t            r;

    memset(&m, 0, sizeof(m));
    r = mim_dsp_catalog_match(c, &m, &o, &how);
    cr_assert_eq(r.code, MIM_ERR_INVALID);
    cr_assert_null(o);
    cr_assert_eq(how, MIM_DSP_OFFER_UNKNOWN);
    r = mim_dsp_catalog_match(c, NULL, NULL, &how);
    cr_assert_eq(r.code, MIM_ERR_INVALID);
    cr_assert_null(mim_dsp_offer_id(NULL));
    cr_assert_null(mim_dsp_offer_dataset(NULL));
    cr_assert_null(mim_dsp_offer_policy(NULL));
    mim_dsp_catalog_free(c);
}

/* ---- may this consumer have the offer ---- */

static const mim_dsp_offer_t *
offer_of(const mim_dsp_catalog_t *c, const char *offer_json)
{
    const mim_dsp_offer_t  *o;
    mim_result_t            r;

    cr_assert_eq(match(c, offer_json, &o, &r), MIM_DSP_OFFER_OURS, "%s",
                 r.msg);
    return o;
}

static int
check(const mim_dsp_offer_t *o, const char *consumer,
    const mim_claim_t *claims, size_t n, int64_t now, char *why, size_t cap)
{
    int           permitted = 77;
    mim_result_t  r;

    r = mim_dsp_offer_check(o, consumer, claims, n, now, &permitted, why,
                            cap);
    cr_assert(mim_ok(r), "%s", r.msg);
    cr_assert(permitted == 0 || permitted == 1);
    json_decref(td_json(why));
    return permitted;
}

#define RESTRICTED \
    "{\"@id\": \"urn:cat\", \"datasets\": [" \
    "{\"@id\": \"urn:d\", \"endpoint\": \"/d\", \"offers\": [" \
    "  {\"@id\": \"urn:o:partner\", \"assignee\": \"" CONSUMER "\", " \
    "   \"permission\": [{\"action\": \"use\"}]}, " \
    "  {\"@id\": \"urn:o:gold\", \"permission\": [{\"action\": \"use\", " \
    "   \"constraint\": [{\"leftOperand\": \"urn:mim:claim:tier\", " \
    "   \"operator\": \"eq\", \"rightOperand\": \"gold\"}]}], " \
    "   \"prohibition\": [{\"action\": \"use\", \"constraint\": " \
    "   [{\"leftOperand\": \"urn:mim:claim:sanctioned\", \"operator\": " \
    "   \"eq\", \"rightOperand\": \"yes\"}]}]}, " \
    "  {\"@id\": \"urn:o:later\", \"permission\": [{\"action\": \"use\", " \
    "   \"constraint\": [{\"leftOperand\": \"count\", \"operator\": " \
    "   \"lteq\", \"rightOperand\": \"100\"}, {\"leftOperand\": " \
    "   \"elapsedTime\", \"operator\": \"lteq\", \"rightOperand\": " \
    "   \"P30D\"}]}], \"prohibition\": [{\"action\": \"use\", " \
    "   \"constraint\": [{\"leftOperand\": \"purpose\", \"operator\": " \
    "   \"isAnyOf\", \"rightOperand\": [\"urn:p:marketing\"]}]}]}" \
    "]}]}"

Test(dsp_catalog, offer_check)
{
    static const mim_str_t    gold[] = { { "gold", 4 } };
    static const mim_str_t    silver[] = { { "silver", 6 } };
    static const mim_str_t    yes[] = { { "yes", 3 } };
    mim_claim_t               claims[2];
    mim_dsp_catalog_t        *c = parse_ok(RESTRICTED, NULL);
    mim_dsp_catalog_t        *city = load_example();
    const mim_dsp_offer_t    *o;
    char                      why[2048];

    /* by assignee */
    o = offer_of(c, "{\"@id\": \"urn:o:partner\", \"@type\": \"Offer\", "
                 "\"target\": \"urn:d\", \"assignee\": \"" CONSUMER "\", "
                 "\"permission\": [{\"action\": \"use\"}]}");
    cr_assert(check(o, CONSUMER, NULL, 0, NOW, why, sizeof(why)), "%s", why);
    cr_assert(!check(o, "did:web:other.example", NULL, 0, NOW, why,
                     sizeof(why)));
    cr_assert(strstr(why, "assignee is " CONSUMER ", not "
                          "did:web:other.example") != NULL, "%s", why);
    cr_assert(!check(o, NULL, NULL, 0, NOW, why, sizeof(why)));

    /* by claim, and a prohibition by claim */
    o = offer_of(c, "{\"@id\": \"urn:o:gold\", \"@type\": \"Offer\", "
                 "\"target\": \"urn:d\", \"permission\": [{\"action\": "
                 "\"use\", \"constraint\": [{\"leftOperand\": "
                 "\"urn:mim:claim:tier\", \"operator\": \"eq\", "
                 "\"rightOperand\": \"gold\"}]}], \"prohibition\": "
                 "[{\"action\": \"use\", \"constraint\": [{\"leftOperand\": "
                 "\"urn:mim:claim:sanctioned\", \"operator\": \"eq\", "
                 "\"rightOperand\": \"yes\"}]}]}");
    claims[0].name.data = "tier";
    claims[0].name.len = 4;
    claims[0].values = gold;
    claims[0].n = 1;
    cr_assert(check(o, CONSUMER, claims, 1, NOW, why, sizeof(why)), "%s",
              why);
    claims[0].values = silver;
    cr_assert(!check(o, CONSUMER, claims, 1, NOW, why, sizeof(why)));
    cr_assert(strstr(why, "claim tier is silver") != NULL, "%s", why);
    cr_assert(!check(o, CONSUMER, NULL, 0, NOW, why, sizeof(why)));
    claims[0].values = gold;
    claims[1].name.data = "sanctioned";
    claims[1].name.len = 10;
    claims[1].values = yes;
    claims[1].n = 1;
    cr_assert(!check(o, CONSUMER, claims, 2, NOW, why, sizeof(why)));
    cr_assert(strstr(why, "prohibits use") != NULL, "%s", why);

    /* what only use can tell is left to the data plane: count and
       elapsedTime hold for now, purpose does not prohibit yet */
    o = offer_of(c, "{\"@id\": \"urn:o:later\", \"@type\": \"Offer\", "
                 "\"target\": \"urn:d\", \"permission\": [{\"action\": "
                 "\"use\", \"constraint\": [{\"leftOperand\": \"count\", "
                 "\"operator\": \"lteq\", \"rightOperand\": \"100\"}, "
                 "{\"leftOperand\": \"elapsedTime\", \"operator\": "
                 "\"lteq\", \"rightOperand\": \"P30D\"}]}], "
                 "\"prohibition\": [{\"action\": \"use\", \"constraint\": "
                 "[{\"leftOperand\": \"purpose\", \"operator\": \"isAnyOf\","
                 " \"rightOperand\": [\"urn:p:marketing\"]}]}]}");
    cr_assert(check(o, CONSUMER, NULL, 0, NOW, why, sizeof(why)), "%s", why);

    /* by dateTime, and a deferred purpose: policies/dsp-offer.jsonld
       (use until the end of 2026 for R&D or service provision, never
       distribute) */
    o = offer_of(city, "{\"@type\": \"Offer\", \"@id\": \"urn:uuid:0f3e7a52-"
                 "5d1c-4c1e-9c55-6f1a8d2b3c40\", \"target\": "
                 "\"urn:mim:dataset:air-quality\", \"permission\": "
                 "[{\"action\": \"use\", \"constraint\": [{\"leftOperand\": "
                 "\"dateTime\", \"operator\": \"lteq\", \"rightOperand\": "
                 "\"2026-12-31T23:59:59Z\"}, {\"leftOperand\": \"purpose\", "
                 "\"operator\": \"isAnyOf\", \"rightOperand\": "
                 "[\"https://w3id.org/dpv#ResearchAndDevelopment\", "
                 "\"https://w3id.org/dpv#ServiceProvision\"]}]}], "
                 "\"prohibition\": [{\"action\": \"distribute\"}]}");
    cr_assert(check(o, CONSUMER, NULL, 0, NOW, why, sizeof(why)), "%s", why);
    cr_assert_str_eq(why, "[\"permission[0]: grants use on "
                     "urn:mim:dataset:air-quality\"]");
    cr_assert(!check(o, CONSUMER, NULL, 0, NOW + 40 * 86400, why,
                     sizeof(why)));
    cr_assert(strstr(why, "dateTime is 2027-01-04T10:00:00Z") != NULL, "%s",
              why);
    /* the open offer of the parking spots */
    o = offer_of(city, "{\"@id\": \"urn:mim:offer:parking-open\", \"@type\":"
                 " \"Offer\", \"target\": \"urn:mim:dataset:parking\", "
                 "\"permission\": [{\"action\": \"use\"}]}");
    cr_assert(check(o, CONSUMER, NULL, 0, NOW, why, sizeof(why)), "%s", why);
    cr_assert(check(o, NULL, NULL, 0, 0, why, sizeof(why)), "%s", why);

    /* arguments */
    {
        int           p = 5;
        mim_result_t  r = mim_dsp_offer_check(NULL, CONSUMER, NULL, 0, NOW,
                                              &p, why, sizeof(why));

        cr_assert_eq(r.code, MIM_ERR_INVALID);
        cr_assert_eq(p, 0);
        r = mim_dsp_offer_check(o, CONSUMER, NULL, 0, NOW, &p, why, 10);
        cr_assert_eq(r.code, MIM_ERR_INVALID);
        cr_assert_eq(p, 0);
    }
    mim_dsp_catalog_free(c);
    mim_dsp_catalog_free(city);
}

/* ---- the Agreement ---- */

Test(dsp_catalog, agreement)
{
    mim_dsp_catalog_t      *c = load_example();
    const mim_dsp_offer_t  *o;
    mim_dsp_neg_t           neg;
    mim_policy_t           *p;
    mim_result_t            r;
    json_t                 *a;
    char                   *json, *doc;
    size_t                  len;
    int64_t                 ts;

    o = offer_of(c, "{\"@type\": \"Offer\", \"@id\": \"urn:uuid:0f3e7a52-"
                 "5d1c-4c1e-9c55-6f1a8d2b3c40\", \"target\": "
                 "\"urn:mim:dataset:air-quality\", \"permission\": "
                 "[{\"action\": \"use\", \"constraint\": [{\"leftOperand\": "
                 "\"dateTime\", \"operator\": \"lteq\", \"rightOperand\": "
                 "\"2026-12-31T23:59:59Z\"}, {\"leftOperand\": \"purpose\", "
                 "\"operator\": \"isAnyOf\", \"rightOperand\": "
                 "[\"https://w3id.org/dpv#ResearchAndDevelopment\", "
                 "\"https://w3id.org/dpv#ServiceProvision\"]}]}], "
                 "\"prohibition\": [{\"action\": \"distribute\"}]}");
    r = mim_dsp_agreement_json(o, "urn:uuid:7b4c1a90-2f6e-4d3a-b8e2-"
                               "1c9d5e7f0a12", PARTICIPANT, CONSUMER, NOW,
                               &json, &len);
    cr_assert(mim_ok(r), "%s", r.msg);
    cr_assert_eq(strlen(json), len);
    a = td_json(json);
    cr_assert_str_eq(str_at(a, "@id"),
                     "urn:uuid:7b4c1a90-2f6e-4d3a-b8e2-1c9d5e7f0a12");
    cr_assert_str_eq(str_at(a, "@type"), "Agreement");
    cr_assert_str_eq(str_at(a, "target"), "urn:mim:dataset:air-quality");
    cr_assert_str_eq(str_at(a, "assigner"), PARTICIPANT);
    cr_assert_str_eq(str_at(a, "assignee"), CONSUMER);
    cr_assert_str_eq(str_at(a, "timestamp"), "2026-11-25T10:00:00Z");
    cr_assert_null(json_object_get(a, "@context"));
    cr_assert_eq(json_array_size(at(a, "permission")), 1);
    cr_assert_eq(json_array_size(at(json_array_get(at(a, "permission"), 0),
                                    "constraint")), 2);
    cr_assert_str_eq(str_at(json_array_get(at(a, "prohibition"), 0),
                            "action"), "distribute");
    json_decref(a);

    /* what the data plane enforces: the engine reads it as an Agreement
       for that dataset and consumer, from that time */
    r = mim_policy_parse(&p, json, len);
    cr_assert(mim_ok(r), "%s", r.msg);
    cr_assert_str_eq(mim_policy_type(p), "Agreement");
    cr_assert_str_eq(mim_policy_target(p), "urn:mim:dataset:air-quality");
    cr_assert_str_eq(mim_policy_assignee(p), CONSUMER);
    cr_assert_eq(mim_policy_timestamp(p, &ts), 0);
    cr_assert_eq(ts, NOW);
    mim_policy_free(p);

    /* inside a ContractAgreementMessage, valid for the schemas */
    memset(&neg, 0, sizeof(neg));
    neg.provider_pid = "urn:uuid:a343fcbf-99fc-4ce8-8e9b-148c97605aab";
    neg.consumer_pid = "urn:c";
    neg.agreement_json = json;
    r = mim_dsp_agreement_message_json(&neg, &doc, NULL);
    cr_assert(mim_ok(r), "%s", r.msg);
    td_validate((const char *const *) &doc, 1);
    free(doc);
    free(json);

    /* arguments */
    r = mim_dsp_agreement_json(o, "", PARTICIPANT, CONSUMER, NOW, &json,
                               &len);
    cr_assert_eq(r.code, MIM_ERR_INVALID);
    cr_assert_null(json);
    r = mim_dsp_agreement_json(o, "urn:a", PARTICIPANT, NULL, NOW, &json,
                               &len);
    cr_assert_eq(r.code, MIM_ERR_INVALID);
    r = mim_dsp_agreement_json(NULL, "urn:a", PARTICIPANT, CONSUMER, NOW,
                               &json, &len);
    cr_assert_eq(r.code, MIM_ERR_INVALID);
    r = mim_dsp_agreement_json(o, "urn:a", PARTICIPANT, "\xff", NOW, &json,
                               &len);
    cr_assert_str_eq(r.msg, "assignee: not UTF-8 text");
    cr_assert_null(json);
    mim_dsp_catalog_free(c);
}

Test(dsp_catalog, agreement_keeps_the_offers_terms)
{
    mim_dsp_catalog_t      *c;
    const mim_dsp_offer_t  *o;
    mim_result_t            r;
    json_t                 *a;
    char                   *json;

    c = parse_ok("{\"datasets\": [{\"@id\": \"urn:d\", \"endpoint\": \"/d\","
                 " \"offers\": [{\"@id\": \"urn:o\", \"profile\": "
                 "\"urn:prof\", \"conflict\": \"perm\", \"permission\": "
                 "[{\"action\": \"use\"}], \"prohibition\": [{\"action\": "
                 "\"use\"}]}]}]}", NULL);
    o = offer_of(c, "{\"@id\": \"urn:o\", \"@type\": \"Offer\", \"target\": "
                 "\"urn:d\", \"profile\": \"urn:prof\", \"conflict\": "
                 "\"perm\", \"permission\": [{\"action\": \"use\"}], "
                 "\"prohibition\": [{\"action\": \"use\"}]}");
    r = mim_dsp_agreement_json(o, "urn:a", PARTICIPANT, CONSUMER, 0, &json,
                               NULL);
    cr_assert(mim_ok(r), "%s", r.msg);
    a = td_json(json);
    /* the conflict strategy and the profile change what the rules mean */
    cr_assert_str_eq(str_at(a, "conflict"), "perm");
    cr_assert_str_eq(str_at(a, "profile"), "urn:prof");
    cr_assert_str_eq(str_at(a, "timestamp"), "1970-01-01T00:00:00Z");
    json_decref(a);
    free(json);
    mim_dsp_catalog_free(c);
}
