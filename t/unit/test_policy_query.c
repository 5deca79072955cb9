/*
 * test_policy_query.c - mim_policy_uses_count() (policies/
 * mim_policy_query.c): whether the data plane must reserve a use before
 * deciding, wherever the count constraint sits.
 */
#include <string.h>

#include <criterion/criterion.h>

#include "mim_policy.h"

static int
uses_count(const char *json)
{
    mim_policy_t *p = NULL;
    mim_result_t r;
    int n;

    r = mim_policy_parse(&p, json, strlen(json));
    cr_assert(mim_ok(r), "%s: %s", json, r.msg);
    n = mim_policy_uses_count(p);
    mim_policy_free(p);
    return n;
}

#define COUNT_LTEQ \
    "{\"leftOperand\":\"count\",\"operator\":\"lteq\",\"rightOperand\":5}"
#define DATE_LT \
    "{\"leftOperand\":\"dateTime\",\"operator\":\"lt\"," \
    "\"rightOperand\":\"2030-01-01\"}"

Test(policy_query, uses_count)
{
    cr_assert_eq(mim_policy_uses_count(NULL), 0);

    cr_assert_eq(uses_count("{\"permission\":[{\"action\":\"use\"}]}"), 0);
    cr_assert_eq(uses_count("{\"permission\":[{\"action\":\"use\","
                            "\"constraint\":[" DATE_LT "]}]}"), 0);

    /* a plain constraint, a prohibition's, an odrl: spelling */
    cr_assert_eq(uses_count("{\"permission\":[{\"action\":\"use\","
                            "\"constraint\":[" DATE_LT "," COUNT_LTEQ
                            "]}]}"), 1);
    cr_assert_eq(uses_count("{\"permission\":[{\"action\":\"use\"}],"
                            "\"prohibition\":[{\"action\":\"read\","
                            "\"constraint\":[{\"leftOperand\":"
                            "\"odrl:count\",\"operator\":\"gt\","
                            "\"rightOperand\":9}]}]}"), 1);

    /* inside a logical constraint, nested */
    cr_assert_eq(uses_count("{\"permission\":[{\"action\":\"use\","
                            "\"constraint\":[{\"or\":[" DATE_LT ","
                            "{\"and\":[" DATE_LT "," COUNT_LTEQ "]}]}]}]}"),
                 1);

    /* an action's refinement */
    cr_assert_eq(uses_count("{\"permission\":[{\"action\":{\"rdf:value\":"
                            "{\"@id\":\"odrl:read\"},\"refinement\":["
                            COUNT_LTEQ "]}}]}"), 1);

    /* a duty's constraint */
    cr_assert_eq(uses_count("{\"permission\":[{\"action\":\"use\","
                            "\"duty\":[{\"action\":\"compensate\","
                            "\"constraint\":[" COUNT_LTEQ "]}]}]}"), 1);
}

Test(policy_query, the_dsp_agreement_example)
{
    mim_policy_t *p = NULL;
    mim_result_t r;

    r = mim_policy_load(&p, "../../policies/dsp-agreement.jsonld");
    cr_assert(mim_ok(r), "%s", r.msg);
    cr_assert_eq(mim_policy_uses_count(p), 1);
    mim_policy_free(p);

    r = mim_policy_load(&p, "../../policies/read-only.jsonld");
    cr_assert(mim_ok(r), "%s", r.msg);
    cr_assert_eq(mim_policy_uses_count(p), 0);
    mim_policy_free(p);
}
