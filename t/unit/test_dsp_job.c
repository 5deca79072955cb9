/*
 * test_dsp_job.c - the provider's outbox jobs and operator decisions
 * (dsp/mim_dsp_job.h).
 */
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "mim_dsp_job.h"

Test(dsp_job, kinds_have_names_and_back)
{
    mim_dsp_job_kind_t  k, back;

    for (k = MIM_DSP_JOB_AGREEMENT; k <= MIM_DSP_JOB_LAST; k++) {
        cr_assert_eq(mim_dsp_job_kind_parse(mim_dsp_job_kind_name(k), &back),
                     0);
        cr_assert_eq(back, k);
    }
    cr_assert_str_eq(mim_dsp_job_kind_name(MIM_DSP_JOB_FINALIZE), "finalize");
    cr_assert_str_eq(mim_dsp_job_kind_name((mim_dsp_job_kind_t) 0),
                     "unknown");
    cr_assert_eq(mim_dsp_job_kind_parse("Finalize", &back), -1);
    cr_assert_eq(mim_dsp_job_kind_parse("", &back), -1);
}

Test(dsp_job, a_job_reads_back_as_written)
{
    mim_dsp_job_t   job = { MIM_DSP_JOB_TERMINATE, "urn:uuid:p", 3,
                            "policy", "not \"permitted\"" };
    mim_dsp_job_t   back;
    mim_result_t    r;
    char           *json;
    size_t          len;

    r = mim_dsp_job_to_json(&job, &json, &len);
    cr_assert(mim_ok(r), "%s", r.msg);
    cr_assert_str_eq(json, "{\"kind\":\"terminate\",\"pid\":\"urn:uuid:p\","
                     "\"attempt\":3,\"code\":\"policy\",\"reason\":"
                     "\"not \\\"permitted\\\"\"}");
    cr_assert_eq(strlen(json), len);

    r = mim_dsp_job_from_json(&back, json, len);
    cr_assert(mim_ok(r), "%s", r.msg);
    cr_assert_eq(back.kind, MIM_DSP_JOB_TERMINATE);
    cr_assert_str_eq(back.pid, "urn:uuid:p");
    cr_assert_eq(back.attempt, 3);
    cr_assert_str_eq(back.code, "policy");
    cr_assert_str_eq(back.reason, "not \"permitted\"");
    mim_dsp_job_free(&back);
    free(json);

    /* no code, no reason: none written, none read */
    job.kind = MIM_DSP_JOB_AGREEMENT;
    job.code = NULL;
    job.reason = NULL;
    r = mim_dsp_job_to_json(&job, &json, &len);
    cr_assert(mim_ok(r), "%s", r.msg);
    cr_assert_str_eq(json, "{\"kind\":\"agreement\",\"pid\":\"urn:uuid:p\","
                     "\"attempt\":3}");
    r = mim_dsp_job_from_json(&back, json, len);
    cr_assert(mim_ok(r), "%s", r.msg);
    cr_assert_null(back.code);
    cr_assert_null(back.reason);
    mim_dsp_job_free(&back);
    free(json);
}

Test(dsp_job, tampered_jobs_are_refused)
{
    static const char *const  bad[] = {
        "",
        "[]",
        "{\"kind\":\"agreement\",\"pid\":\"p\"}",
        "{\"kind\":\"agreement\",\"attempt\":0}",
        "{\"kind\":\"agreement\",\"pid\":\"\",\"attempt\":0}",
        "{\"kind\":\"offer\",\"pid\":\"p\",\"attempt\":0}",
        "{\"kind\":\"agreement\",\"pid\":\"p\",\"attempt\":-1}",
        "{\"kind\":\"agreement\",\"pid\":\"p\",\"attempt\":\"1\"}",
        "{\"kind\":\"agreement\",\"pid\":\"p\",\"attempt\":1,\"code\":7}",
        "{\"kind\":\"agreement\",\"pid\":\"p\",\"attempt\":1,\"pid\":\"q\"}",
    };
    mim_dsp_job_t  job;
    mim_result_t   r;
    size_t         i;

    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        r = mim_dsp_job_from_json(&job, bad[i], strlen(bad[i]));
        cr_expect_neq(r.code, MIM_OK, "accepted: %s", bad[i]);
        cr_expect_null(job.pid, "left behind for %s", bad[i]);
        mim_dsp_job_free(&job);
    }
}

Test(dsp_job, decisions)
{
    char          *code, *reason, big[5000];
    mim_result_t   r;

    r = mim_dsp_decision_parse(" \r\n", 3, &code, &reason);
    cr_assert(mim_ok(r), "%s", r.msg);
    cr_assert_null(code);
    cr_assert_null(reason);

    r = mim_dsp_decision_parse("{\"code\":\"declined\",\"reason\":\"not now\"}",
                               38, &code, &reason);
    cr_assert(mim_ok(r), "%s", r.msg);
    cr_assert_str_eq(code, "declined");
    cr_assert_str_eq(reason, "not now");
    free(code);
    free(reason);

    r = mim_dsp_decision_parse("{\"reason\":\"budget\"}", 19, &code, &reason);
    cr_assert(mim_ok(r), "%s", r.msg);
    cr_assert_null(code);
    cr_assert_str_eq(reason, "budget");
    free(reason);

    r = mim_dsp_decision_parse("{\"code\":1}", 10, &code, &reason);
    cr_assert_eq(r.code, MIM_ERR_INVALID);
    cr_assert_null(code);
    cr_assert_null(reason);

    r = mim_dsp_decision_parse("\"declined\"", 10, &code, &reason);
    cr_assert_eq(r.code, MIM_ERR_INVALID);

    r = mim_dsp_decision_parse("{\"code\":", 8, &code, &reason);
    cr_assert_eq(r.code, MIM_ERR_INVALID);
    cr_assert(strstr(r.msg, "not JSON") != NULL, "%s", r.msg);

    memset(big, ' ', sizeof(big));
    big[0] = '{';
    big[sizeof(big) - 1] = '}';
    r = mim_dsp_decision_parse(big, sizeof(big), &code, &reason);
    cr_assert_eq(r.code, MIM_ERR_LIMIT);
}
