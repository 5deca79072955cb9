/*
 * mim_dsp_job.c - outbox jobs and operator decisions as JSON.
 */
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "mim_dsp_job.h"

#define MIM_DSP_JOB_MAX       4096
#define MIM_DSP_DECISION_MAX  4096
#define MIM_DSP_TEXT_MAX      512

static const char *const mim_dsp_job_kinds[] = {
    NULL, "agreement", "finalize", "terminate", "transfer-start",
    "transfer-suspend", "transfer-complete", "transfer-terminate"
};


const char *
mim_dsp_job_kind_name(mim_dsp_job_kind_t kind)
{
    if (kind < MIM_DSP_JOB_AGREEMENT || kind > MIM_DSP_JOB_LAST) {
        return "unknown";
    }
    return mim_dsp_job_kinds[kind];
}


int
mim_dsp_job_kind_parse(const char *s, mim_dsp_job_kind_t *kind)
{
    int  k;

    for (k = MIM_DSP_JOB_AGREEMENT; k <= MIM_DSP_JOB_LAST; k++) {
        if (strcmp(s, mim_dsp_job_kinds[k]) == 0) {
            *kind = (mim_dsp_job_kind_t) k;
            return 0;
        }
    }
    return -1;
}


mim_result_t
mim_dsp_job_to_json(const mim_dsp_job_t *job, char **out, size_t *len)
{
    json_t  *o;

    o = json_pack("{s:s, s:s, s:i}", "kind", mim_dsp_job_kind_name(job->kind),
                  "pid", job->pid ? job->pid : "",
                  "attempt", (json_int_t) job->attempt);
    if (o == NULL) {
        return mim_result_err(MIM_ERR_NOMEM, "cannot build a job");
    }
    if ((job->code && json_object_set_new(o, "code",
                                          json_string(job->code)) != 0)
        || (job->reason && json_object_set_new(o, "reason",
                                               json_string(job->reason)) != 0))
    {
        json_decref(o);
        return mim_result_err(MIM_ERR_INVALID, "a job's code or reason is "
                              "not UTF-8 text");
    }

    *out = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    if (*out == NULL) {
        return mim_result_err(MIM_ERR_NOMEM, "cannot write a job");
    }
    *len = strlen(*out);
    return mim_result_ok();
}


/* a member that is absent (NULL) or a string, copied */
static mim_result_t
mim_dsp_job_opt_string(json_t *o, const char *name, char **to)
{
    json_t  *v = json_object_get(o, name);

    *to = NULL;
    if (v == NULL) {
        return mim_result_ok();
    }
    if (!json_is_string(v) || json_string_length(v) > MIM_DSP_TEXT_MAX) {
        return mim_result_err(MIM_ERR_INVALID, "%s: not a string of at most "
                              "%d bytes", name, MIM_DSP_TEXT_MAX);
    }
    *to = strdup(json_string_value(v));
    if (*to == NULL) {
        return mim_result_err(MIM_ERR_NOMEM, "out of memory");
    }
    return mim_result_ok();
}


mim_result_t
mim_dsp_job_from_json(mim_dsp_job_t *job, const char *json, size_t len)
{
    json_t        *o, *kind, *pid, *attempt;
    json_error_t   err;
    mim_result_t   res;

    memset(job, 0, sizeof(*job));
    if (len > MIM_DSP_JOB_MAX) {
        return mim_result_err(MIM_ERR_LIMIT, "a job of %zu bytes", len);
    }

    o = json_loadb(json, len, JSON_REJECT_DUPLICATES, &err);
    if (o == NULL || !json_is_object(o)) {
        json_decref(o);
        return mim_result_err(MIM_ERR_INVALID, "a job is not a JSON object");
    }

    kind = json_object_get(o, "kind");
    pid = json_object_get(o, "pid");
    attempt = json_object_get(o, "attempt");

    if (!json_is_string(kind)
        || mim_dsp_job_kind_parse(json_string_value(kind), &job->kind) != 0
        || !json_is_string(pid) || json_string_length(pid) == 0
        || !json_is_integer(attempt) || json_integer_value(attempt) < 0
        || json_integer_value(attempt) > 1000000)
    {
        json_decref(o);
        return mim_result_err(MIM_ERR_INVALID, "a job needs kind, pid and "
                              "attempt");
    }

    job->attempt = (unsigned) json_integer_value(attempt);
    job->pid = strdup(json_string_value(pid));

    res = job->pid ? mim_dsp_job_opt_string(o, "code", &job->code)
                   : mim_result_err(MIM_ERR_NOMEM, "out of memory");
    if (mim_ok(res)) {
        res = mim_dsp_job_opt_string(o, "reason", &job->reason);
    }

    json_decref(o);
    if (!mim_ok(res)) {
        mim_dsp_job_free(job);
    }
    return res;
}


void
mim_dsp_job_free(mim_dsp_job_t *job)
{
    free(job->pid);
    free(job->code);
    free(job->reason);
    memset(job, 0, sizeof(*job));
}


mim_result_t
mim_dsp_decision_parse(const char *json, size_t len, char **code,
    char **reason)
{
    json_t        *o;
    json_error_t   err;
    mim_result_t   res;
    size_t         i;

    *code = NULL;
    *reason = NULL;

    for (i = 0; i < len; i++) {
        if (json[i] != ' ' && json[i] != '\t' && json[i] != '\r'
            && json[i] != '\n')
        {
            break;
        }
    }
    if (i == len) {
        return mim_result_ok();         /* no body: no code, no reason */
    }
    if (len > MIM_DSP_DECISION_MAX) {
        return mim_result_err(MIM_ERR_LIMIT, "a decision of %zu bytes (at "
                              "most %d)", len, MIM_DSP_DECISION_MAX);
    }

    o = json_loadb(json, len, JSON_REJECT_DUPLICATES, &err);
    if (o == NULL) {
        return mim_result_err(MIM_ERR_INVALID, "not JSON: %s (line %d)",
                              err.text, err.line);
    }
    if (!json_is_object(o)) {
        json_decref(o);
        return mim_result_err(MIM_ERR_INVALID, "not a JSON object");
    }

    res = mim_dsp_job_opt_string(o, "code", code);
    if (mim_ok(res)) {
        res = mim_dsp_job_opt_string(o, "reason", reason);
    }
    json_decref(o);

    if (!mim_ok(res)) {
        free(*code);
        free(*reason);
        *code = NULL;
        *reason = NULL;
    }
    return res;
}
