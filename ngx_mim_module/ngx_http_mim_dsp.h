/*
 * ngx_http_mim_dsp.h - the Dataspace Protocol provider's glue, shared by
 * its request handlers (ngx_http_mim_dsp_module.c) and its outbox
 * (ngx_http_mim_dsp_outbox.c).
 *
 * Redis is the system of record (docs/dsp.md); without mim_redis, the
 * embedded store (ngx_http_mim_dsp_store.c) does the same in shm:
 *
 *   mim:neg:<providerPid>   the negotiation record (JSON, dsp/mim_dsp.h)
 *   mim:agr:<agreementId>   the Agreement, once FINALIZED
 *   mim:neg:pending         providerPids waiting for an operator decision
 *   mim:tp:<providerPid>    a transfer record (dsp/mim_dsp_transfer.h)
 *   mim:tp:gen              counted up with every change of a transfer
 *                           record: the data plane's cache generation
 *   mim:outbox              sorted set: job id -> when it is due (ms)
 *   mim:outbox:jobs         hash: job id -> the job (JSON)
 *
 * Every change is one Lua script (ngx_http_mim_dsp_cas): the record is
 * replaced only if it is still the one the change was computed from, and
 * the jobs, agreement and pending set change with it, or nothing does.
 */
#ifndef NGX_HTTP_MIM_DSP_H_INCLUDED_
#define NGX_HTTP_MIM_DSP_H_INCLUDED_

#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "mim_dsp.h"
#include "mim_key.h"
#include "ngx_http_mim_client.h"
#include "ngx_http_mim_redis.h"


#define NGX_HTTP_MIM_DSP_NEG_PREFIX   "mim:neg:"
#define NGX_HTTP_MIM_DSP_AGR_PREFIX   "mim:agr:"
#define NGX_HTTP_MIM_DSP_TP_PREFIX    "mim:tp:"
#define NGX_HTTP_MIM_DSP_TP_GEN       "mim:tp:gen"
#define NGX_HTTP_MIM_DSP_PENDING      "mim:neg:pending"
#define NGX_HTTP_MIM_DSP_OUTBOX       "mim:outbox"
#define NGX_HTTP_MIM_DSP_JOBS         "mim:outbox:jobs"

/* how long a record stays in the shm cache */
#define NGX_HTTP_MIM_DSP_CACHE_TTL    3600


/* what a job sends */
#define NGX_HTTP_MIM_DSP_JOB_AGREEMENT   "agreement"
#define NGX_HTTP_MIM_DSP_JOB_FINALIZE    "finalize"
#define NGX_HTTP_MIM_DSP_JOB_TERMINATE   "terminate"
#define NGX_HTTP_MIM_DSP_JOB_TP_START    "transfer-start"
#define NGX_HTTP_MIM_DSP_JOB_TP_SUSPEND  "transfer-suspend"
#define NGX_HTTP_MIM_DSP_JOB_TP_COMPLETE "transfer-complete"
#define NGX_HTTP_MIM_DSP_JOB_TP_TERMINATE "transfer-terminate"


typedef struct {
    ngx_flag_t                     enable;         /* mim_dsp */
    ngx_flag_t                     version;        /* mim_dsp_version */
    ngx_flag_t                     admin;          /* mim_dsp_admin */

    ngx_str_t                      catalog_file;
    ngx_flag_t                     auto_agree;
    size_t                         max_body;
    ngx_str_t                      url;            /* mim_dsp_url */
    ngx_str_t                      outbound_token;

    ngx_http_mim_client_policy_t   callback_policy;
    ngx_flag_t                     callback_policy_set;

    ngx_uint_t                     attempts;
    ngx_msec_t                     backoff;
    ngx_msec_t                     max_backoff;
    ngx_msec_t                     timeout;

    ngx_str_t                      ssl_trusted_certificate;
    size_t                         zone_size;      /* mim_dsp_zone */
    time_t                         token_ttl;      /* mim_dsp_token_ttl */

    /* resolved for the location of mim_dsp */
    mim_dsp_catalog_t             *catalog;
    ngx_str_t                      base;           /* "/dsp" */
    ngx_str_t                      participant_id; /* NUL-terminated */
    ngx_str_t                      catalog_json;   /* with mim_dsp_url */
    ngx_ssl_t                     *ssl;
    ngx_resolver_t                *resolver;
    ngx_msec_t                     resolver_timeout;
    ngx_shm_zone_t                *zone;
    const mim_key_t               *signing_key;    /* of data-access
                                                      tokens */
} ngx_http_mim_dsp_loc_conf_t;


typedef struct {
    ngx_http_mim_dsp_loc_conf_t   *dsp;     /* the location of mim_dsp */
    ngx_log_t                     *log;
    ngx_shm_zone_t                *store;   /* embedded mode: no Redis */
} ngx_http_mim_dsp_main_conf_t;


/* what is asked of the store: a Redis command (argv as for Redis) */
#define NGX_HTTP_MIM_DSP_OP_GET     1   /* GET key */
#define NGX_HTTP_MIM_DSP_OP_CAS     2   /* ngx_http_mim_dsp_cas_args() */
#define NGX_HTTP_MIM_DSP_OP_LIST    3   /* the pending records */
#define NGX_HTTP_MIM_DSP_OP_CLAIM   4   /* the outbox's claim */
#define NGX_HTTP_MIM_DSP_OP_DELETE  5   /* a job done */
#define NGX_HTTP_MIM_DSP_OP_RETRY   6   /* a job due again */


/* what a change does besides replacing the record */
typedef struct {
    ngx_str_t                      del_job;     /* a done job's id */
    ngx_str_t                      add_kind;    /* a job to add, or empty */
    ngx_str_t                      code;        /* of a terminate job */
    ngx_str_t                      reason;
    ngx_msec_t                     delay;       /* from now */
    ngx_flag_t                     agreement;   /* store mim:agr:<id> */
    ngx_int_t                      pending;     /* +1 add, -1 remove */
    ngx_flag_t                     transfer;    /* the record is mim:tp: */
} ngx_http_mim_dsp_change_t;


extern ngx_module_t  ngx_http_mim_dsp_module;


/* the CAS script's arguments for a change of the record key (a pid);
   old empty: the record must not exist.  argv holds 20 entries.  neg:
   the negotiation whose agreement is stored (change->agreement), or NULL
   for a transfer (change->transfer) */
ngx_int_t ngx_http_mim_dsp_cas_args(ngx_pool_t *pool, ngx_str_t *pid,
    ngx_str_t *old, ngx_str_t *new_value, mim_dsp_neg_t *neg,
    ngx_http_mim_dsp_change_t *change, ngx_str_t *argv, ngx_uint_t *argc);

/* keep a record (or an agreement) in the shm cache */
void ngx_http_mim_dsp_cache_put(ngx_shm_zone_t *zone, ngx_uint_t kind,
    const char *id, ngx_str_t *value);
ngx_int_t ngx_http_mim_dsp_cache_get(ngx_shm_zone_t *zone, ngx_uint_t kind,
    ngx_str_t *id, ngx_pool_t *pool, ngx_str_t *value);

/*
 * Send op to the store: Redis when configured (ngx_http_mim_redis_send()
 * for r, or ngx_http_mim_redis_send_task() with pool), else the embedded
 * zone, whose reply comes the same way.  Return values as for Redis.
 */
ngx_int_t ngx_http_mim_dsp_store(ngx_http_request_t *r, ngx_pool_t *pool,
    ngx_uint_t op, ngx_uint_t argc, ngx_str_t *argv,
    ngx_http_mim_redis_handler_pt done, ngx_http_mim_redis_task_pt task,
    void *data, ngx_str_t *reason);

/* the embedded store's zone (configuration time) */
ngx_shm_zone_t *ngx_http_mim_dsp_zone_add(ngx_conf_t *cf, size_t size);

/* epoch milliseconds */
int64_t ngx_http_mim_dsp_now_ms(void);

/* copy a C string into pool as an ngx_str_t (NUL-terminated); NGX_ERROR */
ngx_int_t ngx_http_mim_dsp_pstr(ngx_pool_t *pool, ngx_str_t *to,
    const char *s, size_t len);

/* the outbox: start this worker's poller; kick it now */
ngx_int_t ngx_http_mim_dsp_outbox_init(ngx_cycle_t *cycle,
    ngx_http_mim_dsp_main_conf_t *dmcf);
void ngx_http_mim_dsp_outbox_kick(void);


#endif /* NGX_HTTP_MIM_DSP_H_INCLUDED_ */
