/*
 * ngx_http_mim_dsp_outbox.c - the messages the provider owes consumers,
 * delivered from a persisted outbox (Redis mim:outbox), never inside a
 * request.
 *
 * Every worker polls (and is kicked when it queued a job itself): a Lua
 * script claims the jobs that are due by pushing their due time one lease
 * ahead, and hands each with its negotiation's record.  A job first makes
 * the provider's transition it stands for (REQUESTED -> AGREED before the
 * ContractAgreementMessage, VERIFIED -> FINALIZED before the event, ->
 * TERMINATED before our termination), as one compare-and-set of the
 * record, and then POSTs the message built from the record.  Delivered:
 * the job is deleted.  Failed: it is due again after a capped exponential
 * backoff; after the last attempt the negotiation is TERMINATED and the
 * error logged.  A worker that dies or a reload in the middle loses
 * nothing: the lease runs out and a worker claims the job again; the
 * record says the transition was made, so only the message is sent
 * (at least once).
 */

#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_mim.h"
#include "ngx_http_mim_dsp.h"
#include "ngx_http_mim_redis.h"
#include "mim_dsp_job.h"
#include "mim_dsp_transfer.h"
#include "mim_data_token.h"


#define NGX_HTTP_MIM_DSP_POLL       250     /* ms between claims */
#define NGX_HTTP_MIM_DSP_INFLIGHT   64      /* jobs per worker at once */
#define NGX_HTTP_MIM_DSP_LEASE      10000   /* ms on top of the timeout */
#define NGX_HTTP_MIM_DSP_RETRY_NOW  100     /* ms: a job that lost a race */


typedef struct {
    ngx_pool_t                    *pool;
    ngx_log_t                     *log;
    ngx_str_t                      id;
    ngx_str_t                      json;       /* the job as stored */
    mim_dsp_job_t                  job;
    mim_dsp_neg_t                  neg;        /* a negotiation's job */
    mim_dsp_tp_t                   tp;         /* a transfer's job */
    const char                    *pid;        /* of the one or the other */
    const char                    *process;    /* "negotiation" or
                                                  "transfer", for logs */
    ngx_str_t                      old;        /* the record as claimed */
    ngx_str_t                      record;     /* as written by the job */
    ngx_str_t                      url;
    ngx_str_t                      failure;    /* the last delivery's */
    ngx_flag_t                     give_up;    /* terminating after it */
} ngx_http_mim_dsp_job_t;


typedef struct {
    ngx_http_mim_dsp_main_conf_t  *dmcf;
    ngx_log_t                     *log;
    ngx_event_t                    poll;
    ngx_event_t                    kick;
    ngx_uint_t                     inflight;
    ngx_flag_t                     claiming;
    ngx_flag_t                     again;
} ngx_http_mim_dsp_outbox_t;


static void ngx_http_mim_dsp_poll(ngx_event_t *ev);
static void ngx_http_mim_dsp_claim(void);
static void ngx_http_mim_dsp_claimed(void *data,
    ngx_http_mim_redis_reply_t *reply);
static void ngx_http_mim_dsp_job_start(ngx_str_t *id, ngx_str_t *json,
    ngx_str_t *record);
static void ngx_http_mim_dsp_job_decide(ngx_http_mim_dsp_job_t *j);
static void ngx_http_mim_dsp_tp_job_decide(ngx_http_mim_dsp_job_t *j);
static void ngx_http_mim_dsp_tp_give_up(ngx_http_mim_dsp_job_t *j,
    ngx_str_t *reason);
static mim_result_t ngx_http_mim_dsp_tp_job_message(ngx_http_mim_dsp_job_t *j,
    const char **what, char **json, size_t *len);
static void ngx_http_mim_dsp_job_write(ngx_http_mim_dsp_job_t *j,
    ngx_http_mim_dsp_change_t *change);
static void ngx_http_mim_dsp_job_written(void *data,
    ngx_http_mim_redis_reply_t *reply);
static void ngx_http_mim_dsp_job_send(ngx_http_mim_dsp_job_t *j);
static void ngx_http_mim_dsp_job_sent(void *data, ngx_uint_t status,
    ngx_str_t *reason);
static void ngx_http_mim_dsp_job_retry(ngx_http_mim_dsp_job_t *j,
    ngx_msec_t delay, ngx_uint_t attempt);
static void ngx_http_mim_dsp_job_delete(ngx_http_mim_dsp_job_t *j);
static void ngx_http_mim_dsp_job_command(ngx_http_mim_dsp_job_t *j,
    ngx_uint_t op, ngx_uint_t argc, ngx_str_t *argv);
static void ngx_http_mim_dsp_job_finished(void *data,
    ngx_http_mim_redis_reply_t *reply);
static void ngx_http_mim_dsp_job_free(ngx_http_mim_dsp_job_t *j);
static ngx_int_t ngx_http_mim_dsp_job_url(ngx_http_mim_dsp_job_t *j,
    const char *what);


static ngx_http_mim_dsp_outbox_t  ngx_http_mim_dsp_outbox;


/* KEYS outbox, jobs; ARGV now, lease, limit, record prefixes of
   negotiations and of transfers (kinds "transfer-...") */
static ngx_str_t  ngx_http_mim_dsp_claim_script = ngx_string(
    "local now = tonumber(ARGV[1]) "
    "local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, "
    "                       'LIMIT', 0, tonumber(ARGV[3])) "
    "local out = {} "
    "for _, id in ipairs(ids) do "
    "  local job = redis.call('HGET', KEYS[2], id) "
    "  if job then "
    "    redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), id) "
    "    local ok, j = pcall(cjson.decode, job) "
    "    local rec = false "
    "    if ok and type(j) == 'table' and type(j.pid) == 'string' then "
    "      local prefix = ARGV[4] "
    "      if type(j.kind) == 'string' "
    "         and string.sub(j.kind, 1, 9) == 'transfer-' then "
    "        prefix = ARGV[5] "
    "      end "
    "      rec = redis.call('GET', prefix .. j.pid) "
    "    end "
    "    out[#out + 1] = id "
    "    out[#out + 1] = job "
    "    out[#out + 1] = rec or '' "
    "  else "
    "    redis.call('ZREM', KEYS[1], id) "
    "  end "
    "end "
    "return out");

/* KEYS outbox, jobs; ARGV id */
static ngx_str_t  ngx_http_mim_dsp_delete_script = ngx_string(
    "redis.call('ZREM', KEYS[1], ARGV[1]) "
    "redis.call('HDEL', KEYS[2], ARGV[1]) "
    "return 1");

/* KEYS outbox, jobs; ARGV id, job, due */
static ngx_str_t  ngx_http_mim_dsp_retry_script = ngx_string(
    "if redis.call('HEXISTS', KEYS[2], ARGV[1]) == 0 then return 0 end "
    "redis.call('HSET', KEYS[2], ARGV[1], ARGV[2]) "
    "redis.call('ZADD', KEYS[1], ARGV[3], ARGV[1]) "
    "return 1");


/* ---- polling and claiming --------------------------------------------- */

ngx_int_t
ngx_http_mim_dsp_outbox_init(ngx_cycle_t *cycle,
    ngx_http_mim_dsp_main_conf_t *dmcf)
{
    ngx_http_mim_dsp_outbox_t  *ob = &ngx_http_mim_dsp_outbox;

    ngx_memzero(ob, sizeof(ngx_http_mim_dsp_outbox_t));

    ob->dmcf = dmcf;
    ob->log = cycle->log;

    ob->poll.handler = ngx_http_mim_dsp_poll;
    ob->poll.log = cycle->log;
    ob->poll.data = ob;
    ob->poll.cancelable = 1;

    ob->kick.handler = ngx_http_mim_dsp_poll;
    ob->kick.log = cycle->log;
    ob->kick.data = ob;

    /* the first claim a little after start: Redis is connecting */
    ngx_add_timer(&ob->poll, NGX_HTTP_MIM_DSP_POLL);

    return NGX_OK;
}


void
ngx_http_mim_dsp_outbox_kick(void)
{
    ngx_http_mim_dsp_outbox_t  *ob = &ngx_http_mim_dsp_outbox;

    if (ob->dmcf == NULL) {
        return;
    }

    if (ob->claiming) {
        ob->again = 1;
        return;
    }

    if (!ob->kick.posted) {
        ngx_post_event(&ob->kick, &ngx_posted_events);
    }
}


static void
ngx_http_mim_dsp_poll(ngx_event_t *ev)
{
    ngx_http_mim_dsp_outbox_t  *ob = &ngx_http_mim_dsp_outbox;

    if (ngx_exiting || ngx_terminate || ngx_quit) {
        return;             /* the next workers carry on */
    }

    if (ev == &ob->poll) {
        ngx_add_timer(&ob->poll, NGX_HTTP_MIM_DSP_POLL);
    }

    ngx_http_mim_dsp_claim();
}


static void
ngx_http_mim_dsp_claim(void)
{
    ngx_int_t                   rc;
    ngx_str_t                   argv[10], reason;
    ngx_pool_t                 *pool;
    ngx_http_mim_dsp_outbox_t  *ob = &ngx_http_mim_dsp_outbox;

    if (ob->claiming || ob->inflight >= NGX_HTTP_MIM_DSP_INFLIGHT) {
        ob->again = ob->claiming;
        return;
    }

    pool = ngx_create_pool(1024, ob->log);
    if (pool == NULL) {
        return;
    }

    ngx_str_set(&argv[0], "EVAL");
    argv[1] = ngx_http_mim_dsp_claim_script;
    ngx_str_set(&argv[2], "2");
    ngx_str_set(&argv[3], NGX_HTTP_MIM_DSP_OUTBOX);
    ngx_str_set(&argv[4], NGX_HTTP_MIM_DSP_JOBS);

    argv[5].data = ngx_pnalloc(pool, 3 * NGX_INT64_LEN);
    if (argv[5].data == NULL) {
        ngx_destroy_pool(pool);
        return;
    }

    argv[5].len = ngx_sprintf(argv[5].data, "%L", ngx_http_mim_dsp_now_ms())
                  - argv[5].data;

    argv[6].data = argv[5].data + argv[5].len;
    argv[6].len = ngx_sprintf(argv[6].data, "%M",
                              ob->dmcf->dsp->timeout
                              + NGX_HTTP_MIM_DSP_LEASE)
                  - argv[6].data;

    argv[7].data = argv[6].data + argv[6].len;
    argv[7].len = ngx_sprintf(argv[7].data, "%ui",
                              NGX_HTTP_MIM_DSP_INFLIGHT - ob->inflight)
                  - argv[7].data;

    ngx_str_set(&argv[8], NGX_HTTP_MIM_DSP_NEG_PREFIX);
    ngx_str_set(&argv[9], NGX_HTTP_MIM_DSP_TP_PREFIX);

    rc = ngx_http_mim_dsp_store(NULL, pool, NGX_HTTP_MIM_DSP_OP_CLAIM, 10,
                                argv, NULL, ngx_http_mim_dsp_claimed, pool,
                                &reason);
    if (rc != NGX_OK) {
        /* Redis is down: the poll comes back */
        ngx_destroy_pool(pool);
        return;
    }

    ob->claiming = 1;
    ob->again = 0;
}


static void
ngx_http_mim_dsp_claimed(void *data, ngx_http_mim_redis_reply_t *reply)
{
    ngx_pool_t *pool = data;

    size_t                      i;
    ngx_http_mim_dsp_outbox_t  *ob = &ngx_http_mim_dsp_outbox;

    ob->claiming = 0;

    if (reply->type == NGX_HTTP_MIM_REDIS_ARRAY) {
        /* (id, job, record) triples */
        for (i = 0; i + 3 <= reply->elements; i += 3) {
            ngx_http_mim_dsp_job_start(&reply->element[i].str,
                                       &reply->element[i + 1].str,
                                       &reply->element[i + 2].str);
        }

    } else if (reply->type == NGX_HTTP_MIM_REDIS_ERROR) {
        ngx_log_error(NGX_LOG_ERR, ob->log, 0,
                      "mim dsp: claiming outbox jobs: %V", &reply->str);
    }

    ngx_destroy_pool(pool);

    if (ob->again) {
        ob->again = 0;
        ngx_http_mim_dsp_outbox_kick();
    }
}


/* ---- one job ------------------------------------------------------------ */

static void
ngx_http_mim_dsp_job_start(ngx_str_t *id, ngx_str_t *json,
    ngx_str_t *record)
{
    mim_result_t                res;
    ngx_pool_t                 *pool;
    ngx_http_mim_dsp_job_t     *j;
    ngx_http_mim_dsp_outbox_t  *ob = &ngx_http_mim_dsp_outbox;

    pool = ngx_create_pool(2048, ob->log);
    if (pool == NULL) {
        return;
    }

    j = ngx_pcalloc(pool, sizeof(ngx_http_mim_dsp_job_t));
    if (j == NULL
        || ngx_http_mim_dsp_pstr(pool, &j->id, (char *) id->data, id->len)
           != NGX_OK
        || ngx_http_mim_dsp_pstr(pool, &j->json, (char *) json->data,
                                 json->len)
           != NGX_OK
        || ngx_http_mim_dsp_pstr(pool, &j->old, (char *) record->data,
                                 record->len)
           != NGX_OK)
    {
        ngx_destroy_pool(pool);
        return;
    }

    j->pool = pool;
    j->log = ob->log;
    ob->inflight++;

    res = mim_dsp_job_from_json(&j->job, (char *) j->json.data,
                                j->json.len);
    if (!mim_ok(res)) {
        ngx_log_error(NGX_LOG_ERR, j->log, 0,
                      "mim dsp: dropping outbox job \"%V\": %s", &j->id,
                      res.msg);
        ngx_http_mim_dsp_job_delete(j);
        return;
    }

    j->pid = j->job.pid;
    j->process = mim_dsp_job_is_transfer(j->job.kind) ? "transfer"
                                                      : "negotiation";

    if (j->old.len == 0) {
        ngx_log_error(NGX_LOG_WARN, j->log, 0,
                      "mim dsp: dropping outbox job \"%V\": %s \"%s\" is "
                      "gone", &j->id, j->process, j->pid);
        ngx_http_mim_dsp_job_delete(j);
        return;
    }

    if (mim_dsp_job_is_transfer(j->job.kind)) {
        res = mim_dsp_tp_from_json(&j->tp, (char *) j->old.data, j->old.len);

    } else {
        res = mim_dsp_neg_from_json(&j->neg, (char *) j->old.data,
                                    j->old.len);
    }

    if (!mim_ok(res)) {
        ngx_log_error(NGX_LOG_ERR, j->log, 0,
                      "mim dsp: dropping outbox job \"%V\": the record of "
                      "\"%s\" is invalid: %s", &j->id, j->pid, res.msg);
        ngx_http_mim_dsp_job_delete(j);
        return;
    }

    if (mim_dsp_job_is_transfer(j->job.kind)) {
        ngx_http_mim_dsp_tp_job_decide(j);

    } else {
        ngx_http_mim_dsp_job_decide(j);
    }
}


/*
 * Make the job's transition if the record is still where the job left it,
 * or send again if it was made (a retry, a job claimed after a crash);
 * anything else means the job is moot (the consumer terminated first).
 */
static void
ngx_http_mim_dsp_job_decide(ngx_http_mim_dsp_job_t *j)
{
    mim_dsp_neg_t              *neg = &j->neg;
    mim_dsp_neg_msg_t           msg;
    mim_dsp_neg_state_t         before, after, next;
    ngx_http_mim_dsp_change_t   change;

    ngx_memzero(&change, sizeof(ngx_http_mim_dsp_change_t));

    switch (j->job.kind) {

    case MIM_DSP_JOB_AGREEMENT:
        msg = MIM_DSP_NEG_MSG_AGREEMENT;
        before = MIM_DSP_NEG_REQUESTED;
        after = MIM_DSP_NEG_AGREED;
        break;

    case MIM_DSP_JOB_FINALIZE:
        msg = MIM_DSP_NEG_MSG_FINALIZED;
        before = MIM_DSP_NEG_VERIFIED;
        after = MIM_DSP_NEG_FINALIZED;
        change.agreement = 1;
        break;

    default: /* MIM_DSP_JOB_TERMINATE */
        msg = MIM_DSP_NEG_MSG_TERMINATION;
        before = neg->state;
        after = MIM_DSP_NEG_TERMINATED;
        change.pending = -1;

        if (neg->state == MIM_DSP_NEG_TERMINATED) {
            /* ours, made earlier: send again; the consumer's: moot */
            if (neg->code && j->job.code
                && ngx_strcmp(neg->code, j->job.code) == 0)
            {
                ngx_http_mim_dsp_job_send(j);

            } else {
                ngx_http_mim_dsp_job_delete(j);
            }

            return;
        }

        break;
    }

    if (neg->state == after) {
        ngx_http_mim_dsp_job_send(j);
        return;
    }

    if (neg->state != before
        || !mim_ok(mim_dsp_neg_next(neg->state, msg, MIM_DSP_BY_PROVIDER,
                                    &next)))
    {
        ngx_log_error(NGX_LOG_INFO, j->log, 0,
                      "mim dsp: outbox job \"%V\" (%s) is moot: negotiation "
                      "\"%s\" is %s", &j->id,
                      mim_dsp_job_kind_name(j->job.kind), neg->provider_pid,
                      mim_dsp_neg_state_name(neg->state));
        ngx_http_mim_dsp_job_delete(j);
        return;
    }

    if (j->job.kind == MIM_DSP_JOB_AGREEMENT && neg->agreement_json == NULL) {
        ngx_log_error(NGX_LOG_ERR, j->log, 0,
                      "mim dsp: negotiation \"%s\" has no agreement to send",
                      neg->provider_pid);
        ngx_http_mim_dsp_job_delete(j);
        return;
    }

    if (j->job.kind == MIM_DSP_JOB_TERMINATE) {
        free(neg->code);
        free(neg->reason);
        neg->code = j->job.code ? strdup(j->job.code) : NULL;
        neg->reason = j->job.reason ? strdup(j->job.reason) : NULL;
    }

    neg->state = next;
    neg->updated = ngx_time();

    ngx_http_mim_dsp_job_write(j, &change);
}


/*
 * A transfer's job: a start from REQUESTED makes the transition (and the
 * token's id) first; every other job only tells the consumer of a change
 * made when it was asked for (a revocation must not wait for the outbox),
 * and is moot once the transfer has moved on.
 */
static void
ngx_http_mim_dsp_tp_job_decide(ngx_http_mim_dsp_job_t *j)
{
    char                        id[MIM_DSP_UUID_LEN];
    mim_dsp_tp_t               *tp = &j->tp;
    mim_dsp_tp_state_t          expect, next;
    ngx_http_mim_dsp_change_t   change;

    switch (j->job.kind) {

    case MIM_DSP_JOB_TP_START:
        expect = MIM_DSP_TP_STARTED;
        break;

    case MIM_DSP_JOB_TP_SUSPEND:
        expect = MIM_DSP_TP_SUSPENDED;
        break;

    case MIM_DSP_JOB_TP_COMPLETE:
        expect = MIM_DSP_TP_COMPLETED;
        break;

    default: /* MIM_DSP_JOB_TP_TERMINATE */
        expect = MIM_DSP_TP_TERMINATED;
        break;
    }

    if (tp->state == expect) {
        ngx_http_mim_dsp_job_send(j);
        return;
    }

    if (j->job.kind != MIM_DSP_JOB_TP_START
        || tp->state != MIM_DSP_TP_REQUESTED
        || !mim_ok(mim_dsp_tp_next(tp->state, MIM_DSP_TP_MSG_START,
                                   MIM_DSP_BY_PROVIDER, &next))
        || !mim_ok(mim_dsp_new_urn_uuid(id)))
    {
        ngx_log_error(NGX_LOG_INFO, j->log, 0,
                      "mim dsp: outbox job \"%V\" (%s) is moot: transfer "
                      "\"%s\" is %s", &j->id,
                      mim_dsp_job_kind_name(j->job.kind), tp->provider_pid,
                      mim_dsp_tp_state_name(tp->state));
        ngx_http_mim_dsp_job_delete(j);
        return;
    }

    free(tp->token_id);
    tp->token_id = strdup(id);
    if (tp->token_id == NULL) {
        ngx_http_mim_dsp_job_free(j);
        return;
    }

    tp->state = next;
    tp->updated = ngx_time();

    ngx_memzero(&change, sizeof(ngx_http_mim_dsp_change_t));
    change.transfer = 1;

    ngx_http_mim_dsp_job_write(j, &change);
}


static void
ngx_http_mim_dsp_job_write(ngx_http_mim_dsp_job_t *j,
    ngx_http_mim_dsp_change_t *change)
{
    char          *json;
    size_t         len;
    ngx_int_t      rc;
    ngx_str_t      argv[20], pid, reason;
    ngx_uint_t     argc;
    mim_result_t   res;

    if (change->transfer) {
        res = mim_dsp_tp_to_json(&j->tp, &json, &len);

    } else {
        res = mim_dsp_neg_to_json(&j->neg, &json, &len);
    }

    if (!mim_ok(res)) {
        ngx_log_error(NGX_LOG_ALERT, j->log, 0, "mim dsp: %s", res.msg);
        ngx_http_mim_dsp_job_free(j);
        return;
    }

    rc = ngx_http_mim_dsp_pstr(j->pool, &j->record, json, len);
    free(json);

    pid.data = (u_char *) j->pid;
    pid.len = ngx_strlen(j->pid);

    if (rc != NGX_OK
        || ngx_http_mim_dsp_cas_args(j->pool, &pid, &j->old, &j->record,
                                     change->transfer ? NULL : &j->neg,
                                     change, argv, &argc)
           != NGX_OK)
    {
        ngx_http_mim_dsp_job_free(j);
        return;
    }

    rc = ngx_http_mim_dsp_store(NULL, j->pool, NGX_HTTP_MIM_DSP_OP_CAS, argc,
                                argv, NULL, ngx_http_mim_dsp_job_written, j,
                                &reason);
    if (rc != NGX_OK) {
        /* the lease runs out and the job is claimed again */
        ngx_http_mim_dsp_job_free(j);
    }
}


static void
ngx_http_mim_dsp_job_written(void *data, ngx_http_mim_redis_reply_t *reply)
{
    ngx_http_mim_dsp_job_t *j = data;

    ngx_http_mim_dsp_main_conf_t  *dmcf = ngx_http_mim_dsp_outbox.dmcf;

    if (reply->type != NGX_HTTP_MIM_REDIS_INTEGER) {
        ngx_log_error(NGX_LOG_ERR, j->log, 0,
                      "mim dsp: outbox job \"%V\": writing \"%s\": %V",
                      &j->id, j->pid, &reply->str);
        ngx_http_mim_dsp_job_free(j);
        return;
    }

    if (reply->integer != 1) {
        /* the record changed since the claim: look again shortly */
        ngx_http_mim_dsp_job_retry(j, NGX_HTTP_MIM_DSP_RETRY_NOW,
                                   j->job.attempt);
        return;
    }

    if (!mim_dsp_job_is_transfer(j->job.kind)) {
        ngx_http_mim_dsp_cache_put(dmcf->dsp->zone,
                                   NGX_HTTP_MIM_SHM_KIND_DSP_NEG,
                                   j->neg.provider_pid, &j->record);
    }

    if (j->give_up) {
        ngx_http_mim_dsp_job_free(j);      /* the job went with the change */
        return;
    }

    if (j->neg.state == MIM_DSP_NEG_FINALIZED && j->neg.agreement_json) {
        ngx_str_t  agreement;

        agreement.data = (u_char *) j->neg.agreement_json;
        agreement.len = ngx_strlen(j->neg.agreement_json);

        ngx_http_mim_dsp_cache_put(dmcf->dsp->zone,
                                   NGX_HTTP_MIM_SHM_KIND_DSP_AGR,
                                   j->neg.agreement_id, &agreement);
    }

    ngx_http_mim_dsp_job_send(j);
}


/* POST the job's message to the consumer's callback */
static void
ngx_http_mim_dsp_job_send(ngx_http_mim_dsp_job_t *j)
{
    char                          *json;
    size_t                         len;
    ngx_str_t                      reason;
    const char                    *what;
    mim_result_t                   res;
    ngx_http_mim_dsp_loc_conf_t   *dsp = ngx_http_mim_dsp_outbox.dmcf->dsp;
    ngx_http_mim_client_t         *client;
    ngx_http_mim_client_request_t  req;

    switch (j->job.kind) {

    case MIM_DSP_JOB_TP_START:
    case MIM_DSP_JOB_TP_SUSPEND:
    case MIM_DSP_JOB_TP_COMPLETE:
    case MIM_DSP_JOB_TP_TERMINATE:
        res = ngx_http_mim_dsp_tp_job_message(j, &what, &json, &len);
        break;

    case MIM_DSP_JOB_AGREEMENT:
        what = "agreement";
        res = mim_dsp_agreement_message_json(&j->neg, &json, &len);
        break;

    case MIM_DSP_JOB_FINALIZE:
        what = "events";
        res = mim_dsp_event_message_json(&j->neg, MIM_DSP_EVENT_FINALIZED,
                                         &json, &len);
        break;

    default:
        what = "termination";
        res = mim_dsp_termination_message_json(&j->neg, j->neg.code,
                                               j->neg.reason, &json, &len);
        break;
    }

    if (!mim_ok(res)) {
        ngx_log_error(NGX_LOG_ALERT, j->log, 0, "mim dsp: %s", res.msg);
        ngx_http_mim_dsp_job_free(j);
        return;
    }

    ngx_memzero(&req, sizeof(ngx_http_mim_client_request_t));

    if (ngx_http_mim_dsp_pstr(j->pool, &req.body, json, len) != NGX_OK) {
        free(json);
        ngx_http_mim_dsp_job_free(j);
        return;
    }

    free(json);

    if (ngx_http_mim_dsp_job_url(j, what) != NGX_OK) {
        /* checked when the negotiation began: cannot happen but fails */
        j->failure = j->url;
        ngx_http_mim_dsp_job_sent(j, 0, &j->failure);
        return;
    }

    req.url = j->url;
    req.timeout = dsp->timeout;
    req.resolver = dsp->resolver;
    req.resolver_timeout = dsp->resolver_timeout;
    req.ssl = dsp->ssl;
    req.policy = &dsp->callback_policy;
    req.log = j->log;

    if (dsp->outbound_token.len) {
        req.authorization.len = sizeof("Bearer ") - 1
                                + dsp->outbound_token.len;
        req.authorization.data = ngx_pnalloc(j->pool, req.authorization.len);
        if (req.authorization.data == NULL) {
            ngx_http_mim_dsp_job_free(j);
            return;
        }

        ngx_sprintf(req.authorization.data, "Bearer %V",
                    &dsp->outbound_token);
    }

    client = ngx_http_mim_client_post(&req, ngx_http_mim_dsp_job_sent, j,
                                      &reason);
    if (client == NULL) {
        j->failure = reason;
        ngx_http_mim_dsp_job_sent(j, 0, &j->failure);
    }
}


/* the callback URL of the job's message, in j->url */
static ngx_int_t
ngx_http_mim_dsp_job_url(ngx_http_mim_dsp_job_t *j, const char *what)
{
    char           *path;
    size_t          len;
    ngx_int_t       rc;
    ngx_uint_t      v6;
    mim_result_t    res;
    mim_dsp_url_t   url;
    const char     *callback, *consumer_pid, *collection;

    if (mim_dsp_job_is_transfer(j->job.kind)) {
        callback = j->tp.callback_address;
        consumer_pid = j->tp.consumer_pid;
        collection = "transfers";

    } else {
        callback = j->neg.callback_address;
        consumer_pid = j->neg.consumer_pid;
        collection = "negotiations";
    }

    ngx_memzero(&url, sizeof(mim_dsp_url_t));
    path = NULL;

    res = mim_dsp_url_parse(&url, callback, ngx_strlen(callback));
    if (mim_ok(res)) {
        res = mim_dsp_callback_path(&url, collection, consumer_pid, what,
                                    &path);
    }

    if (!mim_ok(res)) {
        mim_dsp_url_free(&url);
        return ngx_http_mim_dsp_pstr(j->pool, &j->url, res.msg,
                                     ngx_strlen(res.msg)) == NGX_OK
               ? NGX_DECLINED : NGX_ERROR;
    }

    v6 = ngx_strlchr((u_char *) url.host,
                     (u_char *) url.host + ngx_strlen(url.host), ':')
         != NULL;

    len = sizeof("https://[]:65535") + ngx_strlen(url.host) + ngx_strlen(path);

    j->url.data = ngx_pnalloc(j->pool, len);
    rc = NGX_ERROR;

    if (j->url.data) {
        j->url.len = ngx_sprintf(j->url.data, "%s://%s%s%s:%d%s",
                                 url.https ? "https" : "http",
                                 v6 ? "[" : "", url.host, v6 ? "]" : "",
                                 url.port, path)
                     - j->url.data;
        rc = NGX_OK;
    }

    free(path);
    mim_dsp_url_free(&url);

    return rc;
}


static void
ngx_http_mim_dsp_job_sent(void *data, ngx_uint_t status, ngx_str_t *reason)
{
    ngx_http_mim_dsp_job_t *j = data;

    ngx_msec_t                     delay;
    ngx_uint_t                     i;
    ngx_http_mim_dsp_change_t      change;
    ngx_http_mim_dsp_loc_conf_t   *dsp = ngx_http_mim_dsp_outbox.dmcf->dsp;

    if (status >= 200 && status < 300) {
        ngx_log_debug3(NGX_LOG_DEBUG_HTTP, j->log, 0,
                       "mim dsp: %s of \"%s\" delivered: %ui",
                       mim_dsp_job_kind_name(j->job.kind), j->pid, status);
        ngx_http_mim_dsp_job_delete(j);
        return;
    }

    if (j->job.attempt + 1 < dsp->attempts) {
        ngx_log_error(NGX_LOG_WARN, j->log, 0,
                      "mim dsp: delivering the %s of %s \"%s\" to "
                      "%V failed (attempt %ui of %ui): %V",
                      mim_dsp_job_kind_name(j->job.kind), j->process,
                      j->pid, &j->url,
                      (ngx_uint_t) j->job.attempt + 1, dsp->attempts, reason);

        delay = dsp->backoff;
        for (i = 0; i < j->job.attempt && delay < dsp->max_backoff; i++) {
            delay *= 2;
        }

        ngx_http_mim_dsp_job_retry(j, ngx_min(delay, dsp->max_backoff),
                                   j->job.attempt + 1);
        return;
    }

    if (mim_dsp_job_is_transfer(j->job.kind)) {
        ngx_http_mim_dsp_tp_give_up(j, reason);
        return;
    }

    ngx_log_error(NGX_LOG_ERR, j->log, 0,
                  "mim dsp: giving up delivering the %s of negotiation "
                  "\"%s\" to %V after %ui attempts: %V; the negotiation "
                  "is TERMINATED", mim_dsp_job_kind_name(j->job.kind),
                  j->neg.provider_pid, &j->url, dsp->attempts, reason);

    if (j->job.kind == MIM_DSP_JOB_TERMINATE
        || j->neg.state == MIM_DSP_NEG_TERMINATED)
    {
        ngx_http_mim_dsp_job_delete(j);
        return;
    }

    /* the consumer cannot be told: the negotiation ends here */
    ngx_memzero(&change, sizeof(ngx_http_mim_dsp_change_t));
    change.del_job = j->id;

    free(j->neg.code);
    free(j->neg.reason);
    j->neg.code = strdup("delivery-failed");
    j->neg.reason = strndup((char *) reason->data, reason->len);
    j->neg.state = MIM_DSP_NEG_TERMINATED;
    j->neg.updated = ngx_time();

    j->old = j->record.len ? j->record : j->old;
    j->give_up = 1;

    ngx_http_mim_dsp_job_write(j, &change);
}


/* ---- the job in Redis ------------------------------------------------- */

static void
ngx_http_mim_dsp_job_retry(ngx_http_mim_dsp_job_t *j, ngx_msec_t delay,
    ngx_uint_t attempt)
{
    char          *json;
    size_t         len;
    ngx_int_t      rc;
    ngx_str_t      argv[8];
    mim_result_t   res;

    j->job.attempt = attempt;

    res = mim_dsp_job_to_json(&j->job, &json, &len);
    if (!mim_ok(res)) {
        ngx_http_mim_dsp_job_free(j);
        return;
    }

    rc = ngx_http_mim_dsp_pstr(j->pool, &argv[6], json, len);
    free(json);

    argv[7].data = ngx_pnalloc(j->pool, NGX_INT64_LEN);

    if (rc != NGX_OK || argv[7].data == NULL) {
        ngx_http_mim_dsp_job_free(j);
        return;
    }

    argv[7].len = ngx_sprintf(argv[7].data, "%L",
                              ngx_http_mim_dsp_now_ms() + (int64_t) delay)
                  - argv[7].data;

    ngx_str_set(&argv[0], "EVAL");
    argv[1] = ngx_http_mim_dsp_retry_script;
    ngx_str_set(&argv[2], "2");
    ngx_str_set(&argv[3], NGX_HTTP_MIM_DSP_OUTBOX);
    ngx_str_set(&argv[4], NGX_HTTP_MIM_DSP_JOBS);
    argv[5] = j->id;

    ngx_http_mim_dsp_job_command(j, NGX_HTTP_MIM_DSP_OP_RETRY, 8, argv);
}


static void
ngx_http_mim_dsp_job_delete(ngx_http_mim_dsp_job_t *j)
{
    ngx_str_t  argv[6];

    ngx_str_set(&argv[0], "EVAL");
    argv[1] = ngx_http_mim_dsp_delete_script;
    ngx_str_set(&argv[2], "2");
    ngx_str_set(&argv[3], NGX_HTTP_MIM_DSP_OUTBOX);
    ngx_str_set(&argv[4], NGX_HTTP_MIM_DSP_JOBS);
    argv[5] = j->id;

    ngx_http_mim_dsp_job_command(j, NGX_HTTP_MIM_DSP_OP_DELETE, 6, argv);
}


/* the job's last command: the job ends with its reply */
static void
ngx_http_mim_dsp_job_command(ngx_http_mim_dsp_job_t *j, ngx_uint_t op,
    ngx_uint_t argc, ngx_str_t *argv)
{
    ngx_str_t  reason;

    if (ngx_http_mim_dsp_store(NULL, j->pool, op, argc, argv, NULL,
                               ngx_http_mim_dsp_job_finished, j, &reason)
        != NGX_OK)
    {
        ngx_http_mim_dsp_job_free(j);
    }
}


static void
ngx_http_mim_dsp_job_finished(void *data, ngx_http_mim_redis_reply_t *reply)
{
    ngx_http_mim_dsp_job_t *j = data;

    if (reply->type == NGX_HTTP_MIM_REDIS_FAILED
        || reply->type == NGX_HTTP_MIM_REDIS_ERROR)
    {
        ngx_log_error(NGX_LOG_ERR, j->log, 0,
                      "mim dsp: outbox job \"%V\": %V", &j->id, &reply->str);
    }

    ngx_http_mim_dsp_job_free(j);
}


static void
ngx_http_mim_dsp_job_free(ngx_http_mim_dsp_job_t *j)
{
    ngx_http_mim_dsp_outbox_t  *ob = &ngx_http_mim_dsp_outbox;

    mim_dsp_job_free(&j->job);
    mim_dsp_neg_free(&j->neg);
    mim_dsp_tp_free(&j->tp);

    ob->inflight--;
    ngx_destroy_pool(j->pool);

    if (ob->again) {
        ngx_http_mim_dsp_outbox_kick();
    }
}


/* ---- a transfer's messages ----------------------------------------------- */

/*
 * The message of a transfer's job.  A start carries a data-access token
 * signed now for the record's token id: a retry signs again (same id, a
 * new exp), and a token of an earlier start (another id) stays refused.
 */
static mim_result_t
ngx_http_mim_dsp_tp_job_message(ngx_http_mim_dsp_job_t *j, const char **what,
    char **json, size_t *len)
{
    char                         *token;
    mim_result_t                  res;
    mim_dsp_tp_t                 *tp = &j->tp;
    mim_data_token_t              claims;
    ngx_http_mim_dsp_loc_conf_t  *dsp = ngx_http_mim_dsp_outbox.dmcf->dsp;

    switch (j->job.kind) {

    case MIM_DSP_JOB_TP_SUSPEND:
        *what = "suspension";
        return mim_dsp_transfer_suspension_json(tp, tp->code, tp->reason,
                                                json, len);

    case MIM_DSP_JOB_TP_COMPLETE:
        *what = "completion";
        return mim_dsp_transfer_completion_json(tp, json, len);

    case MIM_DSP_JOB_TP_TERMINATE:
        *what = "termination";
        return mim_dsp_transfer_termination_json(tp, tp->code, tp->reason,
                                                 json, len);

    default: /* MIM_DSP_JOB_TP_START */
        break;
    }

    *what = "start";

    if (dsp->signing_key == NULL || tp->token_id == NULL
        || tp->endpoint == NULL)
    {
        return mim_result_err(MIM_ERR_INVALID, "a started transfer needs "
                              "mim_signing_key, a token id and an "
                              "endpoint");
    }

    ngx_memzero(&claims, sizeof(mim_data_token_t));
    claims.subject = tp->consumer;
    claims.agreement = tp->agreement_id;
    claims.transfer = tp->provider_pid;
    claims.target = tp->dataset;
    claims.jti = tp->token_id;

    res = mim_data_token_issue(dsp->signing_key,
                               (char *) dsp->participant_id.data, &claims,
                               ngx_time(), (int64_t) dsp->token_ttl, &token);
    if (!mim_ok(res)) {
        return res;
    }

    res = mim_dsp_transfer_start_json(tp, tp->endpoint, token, json, len);

    OPENSSL_cleanse(token, ngx_strlen(token));
    free(token);

    return res;
}


/*
 * A message of a transfer could not be delivered.  A consumer that never
 * got its TransferStartMessage has no data address: the transfer is
 * TERMINATED (and its token id gone).  The other messages only told of a
 * change already made: it stands.
 */
static void
ngx_http_mim_dsp_tp_give_up(ngx_http_mim_dsp_job_t *j, ngx_str_t *reason)
{
    ngx_http_mim_dsp_change_t     change;
    ngx_http_mim_dsp_loc_conf_t  *dsp = ngx_http_mim_dsp_outbox.dmcf->dsp;

    if (j->job.kind != MIM_DSP_JOB_TP_START
        || j->tp.state != MIM_DSP_TP_STARTED)
    {
        ngx_log_error(NGX_LOG_ERR, j->log, 0,
                      "mim dsp: giving up delivering the %s of transfer "
                      "\"%s\" to %V after %ui attempts: %V",
                      mim_dsp_job_kind_name(j->job.kind), j->pid, &j->url,
                      dsp->attempts, reason);
        ngx_http_mim_dsp_job_delete(j);
        return;
    }

    ngx_log_error(NGX_LOG_ERR, j->log, 0,
                  "mim dsp: giving up delivering the %s of transfer \"%s\" "
                  "to %V after %ui attempts: %V; the transfer is TERMINATED",
                  mim_dsp_job_kind_name(j->job.kind), j->pid, &j->url,
                  dsp->attempts, reason);

    ngx_memzero(&change, sizeof(ngx_http_mim_dsp_change_t));
    change.del_job = j->id;
    change.transfer = 1;

    free(j->tp.code);
    free(j->tp.reason);
    free(j->tp.token_id);
    j->tp.token_id = NULL;
    j->tp.code = strdup("delivery-failed");
    j->tp.reason = strndup((char *) reason->data, reason->len);
    j->tp.state = MIM_DSP_TP_TERMINATED;
    j->tp.updated = ngx_time();

    j->old = j->record.len ? j->record : j->old;
    j->give_up = 1;

    ngx_http_mim_dsp_job_write(j, &change);
}
