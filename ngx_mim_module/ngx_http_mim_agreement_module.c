/*
 * ngx_http_mim_agreement_module - the agreement-gated data plane (MIM3,
 * docs/agreement.md).
 *
 *   location /ngsi-ld/ { mim_agreement on; proxy_pass http://broker; }
 *
 * A request passes only with a data-access token (trust/mim_data_token.h)
 * of a transfer that is STARTED and still holds that token, whose
 * agreement's ODRL policy permits it, and only inside the agreement's
 * dataset.  The steps, each able to answer on its own:
 *
 *   token      Bearer, verified with mim_signing_key (shm cache by hash)
 *   transfer   mim:tp:<transfer> (shm cache tagged with mim:tp:gen)
 *   check      STARTED (else 409), tokenId = jti (else 401: revoked)
 *   agreement  mim:agr:<id> (compiled policies: a per-worker LRU; the
 *              JSON in the shm cache, as the DSP module keeps it)
 *   dataset    the DSP catalog's endpoint of the target: path and types
 *   count      when the policy has a count constraint: INCR first
 *   decide     the ODRL engine; on a denial the reserved use goes back
 *
 * Store reads go through ngx_http_mim_dsp_store() (Redis, or the DSP
 * embedded zone): the handler returns NGX_DONE while one is out, the
 * reply's callback stores it in the ctx and runs the phases again, and
 * the handler goes on from the step it was at.  A reply for a request
 * that is gone is never delivered (ngx_http_mim_redis.h).
 *
 * Revocation: every change of a transfer record also increments
 * mim:tp:gen (DSP glue).  Each worker reads it every 250 ms; a cached
 * record read under an older generation is read again.
 */

#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_mim.h"
#include "ngx_http_mim_dsp.h"
#include "ngx_http_mim_redis.h"
#include "ngx_http_mim_shm.h"

#include "mim_data_token.h"
#include "mim_dsp_transfer.h"
#include "mim_jwt.h"
#include "mim_policy.h"


#ifndef NGX_HTTP_MIM_DSP_TP_PREFIX
#define NGX_HTTP_MIM_DSP_TP_PREFIX    "mim:tp:"
#endif
#ifndef NGX_HTTP_MIM_DSP_TP_GEN
#define NGX_HTTP_MIM_DSP_TP_GEN       "mim:tp:gen"
#endif
#define NGX_HTTP_MIM_AGR_CNT_PREFIX   "mim:cnt:"

#define NGX_HTTP_MIM_AGR_LEEWAY       10        /* s, as mim_leeway */
#define NGX_HTTP_MIM_AGR_POLL         250       /* ms between gen reads */
#define NGX_HTTP_MIM_AGR_LRU_MAX      64        /* policies per worker */
#define NGX_HTTP_MIM_AGR_REASONS_MAX  4096
#define NGX_HTTP_MIM_AGR_TOKEN_TTL    3600      /* s in the shm cache */
#define NGX_HTTP_MIM_AGR_TP_TTL       3600
#define NGX_HTTP_MIM_AGR_COUNT_TTL    (10 * 365 * 86400)


/* where a request is: each step either goes on or waits for the store */
typedef enum {
    NGX_HTTP_MIM_AGR_TOKEN = 0,
    NGX_HTTP_MIM_AGR_TRANSFER,
    NGX_HTTP_MIM_AGR_TRANSFER_READ,
    NGX_HTTP_MIM_AGR_CHECK,
    NGX_HTTP_MIM_AGR_AGREEMENT,
    NGX_HTTP_MIM_AGR_AGREEMENT_READ,
    NGX_HTTP_MIM_AGR_DATASET,
    NGX_HTTP_MIM_AGR_COUNT,
    NGX_HTTP_MIM_AGR_COUNT_READ,
    NGX_HTTP_MIM_AGR_DECIDE,
    NGX_HTTP_MIM_AGR_GIVEN_BACK,    /* a denial waits for its DECR */
    NGX_HTTP_MIM_AGR_DECIDED
} ngx_http_mim_agr_step_e;


typedef struct {
    ngx_flag_t                     enable;

    /* resolved at configuration time where mim_agreement is on */
    ngx_str_t                     *participant_id;  /* mim_auth's srv conf,
                                                       merged after us */
    const mim_key_t               *key;             /* mim_signing_key */
    uint32_t                       scope;           /* token cache key */
} ngx_http_mim_agr_loc_conf_t;


typedef struct {
    ngx_array_t                    locations;  /* loc confs with "on" */
    ngx_shm_zone_t                *zone;       /* mim_zone, or NULL */
    ngx_flag_t                     redis;      /* mim_redis is set */
} ngx_http_mim_agr_main_conf_t;


/* a compiled agreement, kept by a worker (agreements never change) */
typedef struct {
    ngx_queue_t                    queue;      /* most recent first */
    uint32_t                       hash;
    ngx_str_t                      id;
    mim_policy_t                  *policy;
    ngx_uint_t                     refs;       /* requests using it */
    unsigned                       evicted:1;
    unsigned                       uses_count:1;
    unsigned                       has_timestamp:1;
    int64_t                        timestamp;
} ngx_http_mim_agr_policy_t;


typedef struct {
    ngx_http_mim_agr_step_e        step;
    ngx_http_mim_redis_reply_t    *reply;      /* of the store, once */
    ngx_flag_t                     waiting;    /* for that reply */

    /* the token's claims (NUL-terminated, in r->pool) */
    ngx_str_t                      consumer;
    ngx_str_t                      agreement;
    ngx_str_t                      transfer;
    ngx_str_t                      target;
    ngx_str_t                      jti;
    time_t                         exp;

    /* the transfer record */
    ngx_uint_t                     state;
    ngx_str_t                      token_id;
    ngx_str_t                      record_agreement;
    int64_t                        gen;        /* known when read */

    ngx_http_mim_agr_policy_t     *policy;
    int64_t                        count;
    ngx_flag_t                     reserved;   /* a use is counted */
    ngx_flag_t                     reserving;  /* INCR sent, no reply */

    ngx_str_t                      types;      /* of the endpoint */
    ngx_str_t                      error;      /* why it was refused */
    ngx_str_t                      count_text; /* $mim_agreement_count */
    ngx_http_mim_decision_t        decision;
    ngx_int_t                      rc;         /* the answer, once
                                                  decided: NGX_OK or a
                                                  status */
} ngx_http_mim_agr_ctx_t;


/* what every worker knows of mim:tp:gen */
typedef struct {
    int64_t                        gen;        /* last value read */
    ngx_msec_t                     reset;      /* when it went down: a
                                                  Redis that lost its data;
                                                  older entries are void */
    ngx_event_t                    timer;
    ngx_flag_t                     polling;
    ngx_queue_t                    lru;
    ngx_uint_t                     lru_n;
} ngx_http_mim_agr_worker_t;


static ngx_int_t ngx_http_mim_agr_handler(ngx_http_request_t *r);
static ngx_int_t ngx_http_mim_agr_step(ngx_http_request_t *r,
    ngx_http_mim_agr_ctx_t *ctx, ngx_http_mim_agr_loc_conf_t *alcf);
static void ngx_http_mim_agr_reply(ngx_http_request_t *r, void *data,
    ngx_http_mim_redis_reply_t *reply);
static ngx_int_t ngx_http_mim_agr_token(ngx_http_request_t *r,
    ngx_http_mim_agr_ctx_t *ctx, ngx_http_mim_agr_loc_conf_t *alcf);
static ngx_int_t ngx_http_mim_agr_verify(ngx_http_request_t *r,
    ngx_http_mim_agr_ctx_t *ctx, ngx_http_mim_agr_loc_conf_t *alcf,
    ngx_str_t *token);
static ngx_int_t ngx_http_mim_agr_transfer(ngx_http_request_t *r,
    ngx_http_mim_agr_ctx_t *ctx);
static ngx_int_t ngx_http_mim_agr_transfer_read(ngx_http_request_t *r,
    ngx_http_mim_agr_ctx_t *ctx);
static ngx_int_t ngx_http_mim_agr_check(ngx_http_request_t *r,
    ngx_http_mim_agr_ctx_t *ctx);
static ngx_int_t ngx_http_mim_agr_agreement(ngx_http_request_t *r,
    ngx_http_mim_agr_ctx_t *ctx);
static ngx_int_t ngx_http_mim_agr_agreement_read(ngx_http_request_t *r,
    ngx_http_mim_agr_ctx_t *ctx);
static ngx_int_t ngx_http_mim_agr_dataset(ngx_http_request_t *r,
    ngx_http_mim_agr_ctx_t *ctx);
static ngx_int_t ngx_http_mim_agr_count(ngx_http_request_t *r,
    ngx_http_mim_agr_ctx_t *ctx);
static ngx_int_t ngx_http_mim_agr_count_read(ngx_http_request_t *r,
    ngx_http_mim_agr_ctx_t *ctx);
static ngx_int_t ngx_http_mim_agr_decide(ngx_http_request_t *r,
    ngx_http_mim_agr_ctx_t *ctx);
static ngx_int_t ngx_http_mim_agr_permitted(ngx_http_request_t *r,
    ngx_http_mim_agr_ctx_t *ctx, mim_policy_decision_t *d);
static void ngx_http_mim_agr_decr_task(ngx_http_mim_agr_ctx_t *ctx);
static ngx_int_t ngx_http_mim_agr_cnt_key(ngx_pool_t *pool,
    ngx_http_mim_agr_ctx_t *ctx, ngx_str_t *key);
static ngx_int_t ngx_http_mim_agr_given_back(ngx_http_request_t *r,
    ngx_http_mim_agr_ctx_t *ctx);
static void ngx_http_mim_agr_give_back(ngx_http_request_t *r,
    ngx_http_mim_agr_ctx_t *ctx);
static ngx_int_t ngx_http_mim_agr_again(ngx_http_request_t *r,
    ngx_http_mim_agr_ctx_t *ctx);

static ngx_int_t ngx_http_mim_agr_get(ngx_http_request_t *r,
    ngx_http_mim_agr_ctx_t *ctx, const char *prefix, ngx_str_t *id,
    ngx_http_mim_agr_step_e next);
static ngx_int_t ngx_http_mim_agr_store_failed(ngx_http_request_t *r,
    ngx_http_mim_agr_ctx_t *ctx, ngx_str_t *why);
static ngx_int_t ngx_http_mim_agr_deny(ngx_http_request_t *r,
    ngx_http_mim_agr_ctx_t *ctx, ngx_uint_t status, const char *error,
    const char *fmt, ...);
static ngx_int_t ngx_http_mim_agr_policy_denied(ngx_http_request_t *r,
    ngx_http_mim_agr_ctx_t *ctx);
static ngx_int_t ngx_http_mim_agr_answer(ngx_http_request_t *r,
    ngx_http_mim_agr_ctx_t *ctx, ngx_uint_t status, ngx_str_t *body);
static ngx_int_t ngx_http_mim_agr_challenge(ngx_http_request_t *r,
    ngx_http_mim_agr_ctx_t *ctx, ngx_flag_t invalid);
static ngx_int_t ngx_http_mim_agr_report(ngx_http_request_t *r,
    ngx_http_mim_agr_ctx_t *ctx, const char *decision);

static ngx_int_t ngx_http_mim_agr_tp_cache_get(ngx_http_request_t *r,
    ngx_http_mim_agr_ctx_t *ctx);
static void ngx_http_mim_agr_tp_cache_put(ngx_http_request_t *r,
    ngx_http_mim_agr_ctx_t *ctx);
static void ngx_http_mim_agr_shm_key(ngx_http_mim_shm_key_t *key,
    ngx_uint_t kind, uint32_t generation, uint32_t scope, ngx_str_t *id);

static ngx_http_mim_agr_policy_t *ngx_http_mim_agr_lru_find(ngx_str_t *id);
static ngx_http_mim_agr_policy_t *ngx_http_mim_agr_lru_add(
    ngx_http_request_t *r, ngx_str_t *id, ngx_str_t *json);
static void ngx_http_mim_agr_policy_release(ngx_http_mim_agr_policy_t *p);

static ngx_http_mim_agr_ctx_t *ngx_http_mim_agr_get_ctx(
    ngx_http_request_t *r);
static void ngx_http_mim_agr_ctx_cleanup(void *data);
static void ngx_http_mim_agr_task_done(void *data,
    ngx_http_mim_redis_reply_t *reply);
static ngx_int_t ngx_http_mim_agr_pstr(ngx_pool_t *pool, ngx_str_t *to,
    const char *s);

static void ngx_http_mim_agr_poll(ngx_event_t *ev);
static void ngx_http_mim_agr_polled(void *data,
    ngx_http_mim_redis_reply_t *reply);

static ngx_int_t ngx_http_mim_agr_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);
static ngx_int_t ngx_http_mim_agr_add_variables(ngx_conf_t *cf);
static void *ngx_http_mim_agr_create_main_conf(ngx_conf_t *cf);
static void *ngx_http_mim_agr_create_loc_conf(ngx_conf_t *cf);
static char *ngx_http_mim_agr_merge_loc_conf(ngx_conf_t *cf, void *parent,
    void *child);
static ngx_int_t ngx_http_mim_agr_init(ngx_conf_t *cf);
static ngx_int_t ngx_http_mim_agr_init_process(ngx_cycle_t *cycle);


static ngx_command_t  ngx_http_mim_agr_commands[] = {

    { ngx_string("mim_agreement"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_FLAG,
      ngx_conf_set_flag_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_mim_agr_loc_conf_t, enable),
      NULL },

      ngx_null_command
};


static ngx_http_module_t  ngx_http_mim_agreement_module_ctx = {
    ngx_http_mim_agr_add_variables,        /* preconfiguration */
    ngx_http_mim_agr_init,                 /* postconfiguration */

    ngx_http_mim_agr_create_main_conf,     /* create main configuration */
    NULL,                                  /* init main configuration */

    NULL,                                  /* create server configuration */
    NULL,                                  /* merge server configuration */

    ngx_http_mim_agr_create_loc_conf,      /* create location configuration */
    ngx_http_mim_agr_merge_loc_conf        /* merge location configuration */
};


ngx_module_t  ngx_http_mim_agreement_module = {
    NGX_MODULE_V1,
    &ngx_http_mim_agreement_module_ctx,    /* module context */
    ngx_http_mim_agr_commands,             /* module directives */
    NGX_HTTP_MODULE,                       /* module type */
    NULL,                                  /* init master */
    NULL,                                  /* init module */
    ngx_http_mim_agr_init_process,         /* init process */
    NULL,                                  /* init thread */
    NULL,                                  /* exit thread */
    NULL,                                  /* exit process */
    NULL,                                  /* exit master */
    NGX_MODULE_V1_PADDING
};


static ngx_http_variable_t  ngx_http_mim_agr_vars[] = {

    { ngx_string("mim_agreement"), NULL, ngx_http_mim_agr_variable,
      offsetof(ngx_http_mim_agr_ctx_t, agreement), NGX_HTTP_VAR_NOCACHEABLE,
      0 },

    { ngx_string("mim_transfer"), NULL, ngx_http_mim_agr_variable,
      offsetof(ngx_http_mim_agr_ctx_t, transfer), NGX_HTTP_VAR_NOCACHEABLE,
      0 },

    { ngx_string("mim_agreement_consumer"), NULL, ngx_http_mim_agr_variable,
      offsetof(ngx_http_mim_agr_ctx_t, consumer), NGX_HTTP_VAR_NOCACHEABLE,
      0 },

    { ngx_string("mim_agreement_count"), NULL, ngx_http_mim_agr_variable,
      offsetof(ngx_http_mim_agr_ctx_t, count_text), NGX_HTTP_VAR_NOCACHEABLE,
      0 },

    { ngx_string("mim_agreement_error"), NULL, ngx_http_mim_agr_variable,
      offsetof(ngx_http_mim_agr_ctx_t, error), NGX_HTTP_VAR_NOCACHEABLE,
      0 },

      ngx_http_null_variable
};


static ngx_http_mim_agr_worker_t  ngx_http_mim_agr_worker;


/* ---- the ACCESS phase ------------------------------------------------- */

static ngx_int_t
ngx_http_mim_agr_handler(ngx_http_request_t *r)
{
    ngx_pool_cleanup_t           *cln;
    ngx_http_mim_agr_ctx_t       *ctx;
    ngx_http_mim_agr_loc_conf_t  *alcf;

    alcf = ngx_http_get_module_loc_conf(r, ngx_http_mim_agreement_module);

    if (!alcf->enable) {
        return NGX_DECLINED;
    }

    ctx = ngx_http_mim_agr_get_ctx(r);

    if (ctx == NULL) {
        ctx = ngx_pcalloc(r->pool, sizeof(ngx_http_mim_agr_ctx_t));
        if (ctx == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        /* releases the policy, gives back an unused count; and finds the
           ctx again after an internal redirect */
        cln = ngx_pool_cleanup_add(r->pool, 0);
        if (cln == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        cln->handler = ngx_http_mim_agr_ctx_cleanup;
        cln->data = ctx;

        ctx->rc = NGX_DECLINED;
        ngx_http_set_ctx(r, ctx, ngx_http_mim_agreement_module);

    } else if (ctx->waiting) {
        /* run by an event of the request's own (a write event): the
           store's reply is still to come */
        return NGX_DONE;

    } else if (ctx->step == NGX_HTTP_MIM_AGR_DECIDED) {
        /* an internal redirect: the request was decided (and counted) */
        return ngx_http_mim_agr_again(r, ctx);
    }

    return ngx_http_mim_agr_step(r, ctx, alcf);
}


/* run the steps until one answers or waits for the store */
static ngx_int_t
ngx_http_mim_agr_step(ngx_http_request_t *r, ngx_http_mim_agr_ctx_t *ctx,
    ngx_http_mim_agr_loc_conf_t *alcf)
{
    ngx_int_t  rc;

    for ( ;; ) {

        switch (ctx->step) {

        case NGX_HTTP_MIM_AGR_TOKEN:
            rc = ngx_http_mim_agr_token(r, ctx, alcf);
            break;

        case NGX_HTTP_MIM_AGR_TRANSFER:
            rc = ngx_http_mim_agr_transfer(r, ctx);
            break;

        case NGX_HTTP_MIM_AGR_TRANSFER_READ:
            rc = ngx_http_mim_agr_transfer_read(r, ctx);
            break;

        case NGX_HTTP_MIM_AGR_CHECK:
            rc = ngx_http_mim_agr_check(r, ctx);
            break;

        case NGX_HTTP_MIM_AGR_AGREEMENT:
            rc = ngx_http_mim_agr_agreement(r, ctx);
            break;

        case NGX_HTTP_MIM_AGR_AGREEMENT_READ:
            rc = ngx_http_mim_agr_agreement_read(r, ctx);
            break;

        case NGX_HTTP_MIM_AGR_DATASET:
            rc = ngx_http_mim_agr_dataset(r, ctx);
            break;

        case NGX_HTTP_MIM_AGR_COUNT:
            rc = ngx_http_mim_agr_count(r, ctx);
            break;

        case NGX_HTTP_MIM_AGR_COUNT_READ:
            rc = ngx_http_mim_agr_count_read(r, ctx);
            break;

        case NGX_HTTP_MIM_AGR_DECIDE:
            rc = ngx_http_mim_agr_decide(r, ctx);
            break;

        case NGX_HTTP_MIM_AGR_GIVEN_BACK:
            rc = ngx_http_mim_agr_given_back(r, ctx);
            break;

        default: /* NGX_HTTP_MIM_AGR_DECIDED */
            return ngx_http_mim_agr_again(r, ctx);
        }

        /* NGX_AGAIN: the step is done, on to the next one */
        if (rc != NGX_AGAIN) {
            break;
        }
    }

    if (rc != NGX_OK && rc != NGX_DONE) {
        /* a 500: an error page that comes back here gets the same */
        ctx->step = NGX_HTTP_MIM_AGR_DECIDED;
        ctx->rc = rc;

        if (ctx->reserved) {
            /* reserved, not consumed */
            ngx_http_mim_agr_give_back(r, ctx);
        }
    }

    return rc;
}


/* a store reply: keep it, and go on where the request stopped */
static void
ngx_http_mim_agr_reply(ngx_http_request_t *r, void *data,
    ngx_http_mim_redis_reply_t *reply)
{
    ngx_http_mim_agr_ctx_t *ctx = data;

    ctx->reply = reply;
    ctx->waiting = 0;

    ngx_http_core_run_phases(r);
}


/* ---- token ------------------------------------------------------------ */

static ngx_int_t
ngx_http_mim_agr_token(ngx_http_request_t *r, ngx_http_mim_agr_ctx_t *ctx,
    ngx_http_mim_agr_loc_conf_t *alcf)
{
    ngx_int_t  rc;
    ngx_str_t  token;

    rc = ngx_http_mim_bearer_token(r, &token);

    if (rc == NGX_DECLINED) {
        return ngx_http_mim_agr_deny(r, ctx, NGX_HTTP_UNAUTHORIZED,
                                     "unauthorized", "no Bearer credential: "
                                     "a data-access token is required");
    }

    if (rc != NGX_OK) {
        return ngx_http_mim_agr_deny(r, ctx, NGX_HTTP_UNAUTHORIZED,
                                     "invalid_token", "a malformed Bearer "
                                     "credential");
    }

    if (token.len > MIM_JWT_MAX) {
        return ngx_http_mim_agr_deny(r, ctx, NGX_HTTP_UNAUTHORIZED,
                                     "invalid_token", "token over %d bytes",
                                     MIM_JWT_MAX);
    }

    rc = ngx_http_mim_agr_verify(r, ctx, alcf, &token);

    if (rc != NGX_AGAIN) {
        return rc;
    }

    ctx->step = NGX_HTTP_MIM_AGR_TRANSFER;

    return NGX_AGAIN;
}


/* the claims a cache entry holds: sub, agreement, transfer, target, jti */
#define NGX_HTTP_MIM_AGR_NCLAIMS  5

static ngx_str_t *
ngx_http_mim_agr_claim(ngx_http_mim_agr_ctx_t *ctx, ngx_uint_t i)
{
    ngx_str_t  *claims[NGX_HTTP_MIM_AGR_NCLAIMS];

    claims[0] = &ctx->consumer;
    claims[1] = &ctx->agreement;
    claims[2] = &ctx->transfer;
    claims[3] = &ctx->target;
    claims[4] = &ctx->jti;

    return claims[i];
}


/* serialized claims: exp, then each claim as uint32 length and bytes */
static ngx_int_t
ngx_http_mim_agr_claims_write(ngx_http_request_t *r,
    ngx_http_mim_agr_ctx_t *ctx, ngx_str_t *blob)
{
    u_char      *p;
    int64_t      exp;
    uint32_t     len;
    ngx_uint_t   i;

    blob->len = sizeof(int64_t);

    for (i = 0; i < NGX_HTTP_MIM_AGR_NCLAIMS; i++) {
        blob->len += sizeof(uint32_t) + ngx_http_mim_agr_claim(ctx, i)->len;
    }

    blob->data = ngx_pnalloc(r->pool, blob->len);
    if (blob->data == NULL) {
        return NGX_ERROR;
    }

    exp = ctx->exp;
    p = ngx_cpymem(blob->data, &exp, sizeof(int64_t));

    for (i = 0; i < NGX_HTTP_MIM_AGR_NCLAIMS; i++) {
        len = (uint32_t) ngx_http_mim_agr_claim(ctx, i)->len;
        p = ngx_cpymem(p, &len, sizeof(uint32_t));
        p = ngx_cpymem(p, ngx_http_mim_agr_claim(ctx, i)->data, len);
    }

    return NGX_OK;
}


/* the claims of a cache entry, copied into r->pool with a NUL each (the
   target is looked up in the catalog as a C string) */
static ngx_int_t
ngx_http_mim_agr_claims_read(ngx_http_request_t *r,
    ngx_http_mim_agr_ctx_t *ctx, ngx_str_t *blob)
{
    u_char      *p, *last;
    int64_t      exp;
    uint32_t     len;
    ngx_str_t   *claim;
    ngx_uint_t   i;

    p = blob->data;
    last = p + blob->len;

    if ((size_t) (last - p) < sizeof(int64_t)) {
        return NGX_ERROR;
    }

    ngx_memcpy(&exp, p, sizeof(int64_t));
    p += sizeof(int64_t);
    ctx->exp = (time_t) exp;

    for (i = 0; i < NGX_HTTP_MIM_AGR_NCLAIMS; i++) {
        if ((size_t) (last - p) < sizeof(uint32_t)) {
            return NGX_ERROR;
        }

        ngx_memcpy(&len, p, sizeof(uint32_t));
        p += sizeof(uint32_t);

        if ((size_t) (last - p) < len) {
            return NGX_ERROR;
        }

        claim = ngx_http_mim_agr_claim(ctx, i);

        claim->data = ngx_pnalloc(r->pool, len + 1);
        if (claim->data == NULL) {
            return NGX_ERROR;
        }

        *ngx_cpymem(claim->data, p, len) = '\0';
        claim->len = len;
        p += len;
    }

    return NGX_OK;
}


/*
 * The claims of a verified token, from the shm cache (keyed by the token's
 * hash, this configuration's generation and the verifying key and party
 * id) or a verification: NGX_AGAIN to go on, or the answer.
 */
static ngx_int_t
ngx_http_mim_agr_verify(ngx_http_request_t *r, ngx_http_mim_agr_ctx_t *ctx,
    ngx_http_mim_agr_loc_conf_t *alcf, ngx_str_t *token)
{
    char                           hash[MIM_KID_LEN + 1];
    time_t                         now, until;
    ngx_int_t                      rc;
    ngx_str_t                      blob, id;
    mim_result_t                   res;
    mim_data_token_t               t;
    ngx_http_mim_shm_key_t         key;
    ngx_http_mim_agr_main_conf_t  *amcf;

    amcf = ngx_http_get_module_main_conf(r, ngx_http_mim_agreement_module);
    now = ngx_time();

    if (amcf->zone) {
        mim_jwt_hash((char *) token->data, token->len, hash);

        id.data = (u_char *) hash;
        id.len = MIM_KID_LEN;

        ngx_http_mim_agr_shm_key(&key, NGX_HTTP_MIM_SHM_KIND_AGR_TOKEN,
                                 ngx_http_mim_shm_generation(amcf->zone),
                                 alcf->scope, &id);

        rc = ngx_http_mim_shm_get(amcf->zone, &key, now, r->pool, &blob);

        if (rc == NGX_ERROR) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        if (rc == NGX_OK
            && ngx_http_mim_agr_claims_read(r, ctx, &blob) == NGX_OK)
        {
            return NGX_AGAIN;
        }
    }

    res = mim_data_token_verify(alcf->key,
                                (char *) alcf->participant_id->data,
                                (char *) token->data, token->len,
                                (int64_t) now, NGX_HTTP_MIM_AGR_LEEWAY, &t);

    if (!mim_ok(res)) {
        return ngx_http_mim_agr_deny(r, ctx, NGX_HTTP_UNAUTHORIZED,
                                     "invalid_token", "%s", res.msg);
    }

    ctx->exp = (time_t) t.exp;

    if (ngx_http_mim_agr_pstr(r->pool, &ctx->consumer, t.subject) != NGX_OK
        || ngx_http_mim_agr_pstr(r->pool, &ctx->agreement, t.agreement)
           != NGX_OK
        || ngx_http_mim_agr_pstr(r->pool, &ctx->transfer, t.transfer)
           != NGX_OK
        || ngx_http_mim_agr_pstr(r->pool, &ctx->target, t.target) != NGX_OK
        || ngx_http_mim_agr_pstr(r->pool, &ctx->jti, t.jti) != NGX_OK)
    {
        mim_data_token_free(&t);
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    mim_data_token_free(&t);

    if (amcf->zone == NULL) {
        return NGX_AGAIN;
    }

    /* until it expires; a verification that is not kept costs nothing
       but the next request's time */
    until = ngx_min(ctx->exp, now + NGX_HTTP_MIM_AGR_TOKEN_TTL);

    if (until > now
        && ngx_http_mim_agr_claims_write(r, ctx, &blob) == NGX_OK)
    {
        (void) ngx_http_mim_shm_set(amcf->zone, &key, now, until, &blob);
    }

    return NGX_AGAIN;
}


/* ---- transfer ---------------------------------------------------------- */

static ngx_int_t
ngx_http_mim_agr_transfer(ngx_http_request_t *r, ngx_http_mim_agr_ctx_t *ctx)
{
    ngx_int_t  rc;

    /* with Redis, a record cached under the current generation */
    rc = ngx_http_mim_agr_tp_cache_get(r, ctx);

    if (rc == NGX_OK) {
        ctx->step = NGX_HTTP_MIM_AGR_CHECK;
        return NGX_AGAIN;
    }

    if (rc == NGX_ERROR) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ctx->gen = ngx_http_mim_agr_worker.gen;

    return ngx_http_mim_agr_get(r, ctx, NGX_HTTP_MIM_DSP_TP_PREFIX,
                                &ctx->transfer,
                                NGX_HTTP_MIM_AGR_TRANSFER_READ);
}


static ngx_int_t
ngx_http_mim_agr_transfer_read(ngx_http_request_t *r,
    ngx_http_mim_agr_ctx_t *ctx)
{
    mim_dsp_tp_t                 tp;
    mim_result_t                 res;
    ngx_http_mim_redis_reply_t  *reply;

    reply = ctx->reply;
    ctx->reply = NULL;

    if (reply->type == NGX_HTTP_MIM_REDIS_FAILED
        || reply->type == NGX_HTTP_MIM_REDIS_ERROR)
    {
        return ngx_http_mim_agr_store_failed(r, ctx, &reply->str);
    }

    if (reply->type != NGX_HTTP_MIM_REDIS_STRING) {
        return ngx_http_mim_agr_deny(r, ctx, NGX_HTTP_UNAUTHORIZED,
                                     "invalid_token", "the token's transfer "
                                     "does not exist");
    }

    ngx_memzero(&tp, sizeof(mim_dsp_tp_t));

    res = mim_dsp_tp_from_json(&tp, (char *) reply->str.data,
                               reply->str.len);
    if (!mim_ok(res)) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "mim_agreement: the record of transfer \"%V\" is "
                      "invalid: %s", &ctx->transfer, res.msg);
        mim_dsp_tp_free(&tp);
        return ngx_http_mim_agr_deny(r, ctx, NGX_HTTP_SERVICE_UNAVAILABLE,
                                     "temporarily_unavailable", "the "
                                     "transfer's record is invalid");
    }

    ctx->state = tp.state;

    if (ngx_http_mim_agr_pstr(r->pool, &ctx->token_id,
                              tp.token_id ? tp.token_id : "")
        != NGX_OK
        || ngx_http_mim_agr_pstr(r->pool, &ctx->record_agreement,
                                 tp.agreement_id)
           != NGX_OK)
    {
        mim_dsp_tp_free(&tp);
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    mim_dsp_tp_free(&tp);

    ngx_http_mim_agr_tp_cache_put(r, ctx);

    ctx->step = NGX_HTTP_MIM_AGR_CHECK;

    return NGX_AGAIN;
}


/* STARTED, and still this token's transfer (a resume issues a new jti) */
static ngx_int_t
ngx_http_mim_agr_check(ngx_http_request_t *r, ngx_http_mim_agr_ctx_t *ctx)
{
    if (ctx->state != MIM_DSP_TP_STARTED) {
        return ngx_http_mim_agr_deny(r, ctx, NGX_HTTP_CONFLICT,
                                     "transfer_not_started", "transfer %V "
                                     "is %s", &ctx->transfer,
                                     mim_dsp_tp_state_name(ctx->state));
    }

    if (ctx->token_id.len != ctx->jti.len
        || ngx_strncmp(ctx->token_id.data, ctx->jti.data, ctx->jti.len)
           != 0
        || ctx->record_agreement.len != ctx->agreement.len
        || ngx_strncmp(ctx->record_agreement.data, ctx->agreement.data,
                       ctx->agreement.len) != 0)
    {
        return ngx_http_mim_agr_deny(r, ctx, NGX_HTTP_UNAUTHORIZED,
                                     "invalid_token", "the token was "
                                     "revoked (the transfer holds another "
                                     "one)");
    }

    ctx->step = NGX_HTTP_MIM_AGR_AGREEMENT;

    return NGX_AGAIN;
}


/* ---- agreement ---------------------------------------------------------- */

static ngx_int_t
ngx_http_mim_agr_agreement(ngx_http_request_t *r,
    ngx_http_mim_agr_ctx_t *ctx)
{
    ngx_str_t                      json;
    ngx_http_mim_agr_main_conf_t  *amcf;

    ctx->policy = ngx_http_mim_agr_lru_find(&ctx->agreement);

    if (ctx->policy == NULL) {
        amcf = ngx_http_get_module_main_conf(r,
                                             ngx_http_mim_agreement_module);

        /* the JSON that this node (or its DSP endpoints) has seen */
        if (ngx_http_mim_dsp_cache_get(amcf->zone,
                                       NGX_HTTP_MIM_SHM_KIND_DSP_AGR,
                                       &ctx->agreement, r->pool, &json)
            != NGX_OK)
        {
            return ngx_http_mim_agr_get(r, ctx, NGX_HTTP_MIM_DSP_AGR_PREFIX,
                                        &ctx->agreement,
                                        NGX_HTTP_MIM_AGR_AGREEMENT_READ);
        }

        ctx->policy = ngx_http_mim_agr_lru_add(r, &ctx->agreement, &json);
        if (ctx->policy == NULL) {
            return ngx_http_mim_agr_deny(r, ctx, NGX_HTTP_SERVICE_UNAVAILABLE,
                                         "temporarily_unavailable",
                                         "the agreement cannot be read");
        }
    }

    ctx->policy->refs++;
    ctx->step = NGX_HTTP_MIM_AGR_DATASET;

    return NGX_AGAIN;
}


static ngx_int_t
ngx_http_mim_agr_agreement_read(ngx_http_request_t *r,
    ngx_http_mim_agr_ctx_t *ctx)
{
    ngx_http_mim_redis_reply_t    *reply;
    ngx_http_mim_agr_main_conf_t  *amcf;

    reply = ctx->reply;
    ctx->reply = NULL;

    if (reply->type == NGX_HTTP_MIM_REDIS_FAILED
        || reply->type == NGX_HTTP_MIM_REDIS_ERROR)
    {
        return ngx_http_mim_agr_store_failed(r, ctx, &reply->str);
    }

    if (reply->type != NGX_HTTP_MIM_REDIS_STRING) {
        return ngx_http_mim_agr_deny(r, ctx, NGX_HTTP_UNAUTHORIZED,
                                     "invalid_token", "the token's "
                                     "agreement does not exist");
    }

    ctx->policy = ngx_http_mim_agr_lru_find(&ctx->agreement);

    if (ctx->policy == NULL) {
        ctx->policy = ngx_http_mim_agr_lru_add(r, &ctx->agreement,
                                               &reply->str);
        if (ctx->policy == NULL) {
            return ngx_http_mim_agr_deny(r, ctx, NGX_HTTP_SERVICE_UNAVAILABLE,
                                         "temporarily_unavailable",
                                         "the agreement cannot be read");
        }
    }

    /* agreements never change: kept for when the store is away */
    amcf = ngx_http_get_module_main_conf(r, ngx_http_mim_agreement_module);

    ngx_http_mim_dsp_cache_put(amcf->zone, NGX_HTTP_MIM_SHM_KIND_DSP_AGR,
                               (char *) ctx->agreement.data, &reply->str);

    ctx->policy->refs++;
    ctx->step = NGX_HTTP_MIM_AGR_DATASET;

    return NGX_AGAIN;
}


/* ---- dataset ------------------------------------------------------------ */

/* the path and the query of an endpoint: "/p?q", or "https://host/p?q" */
static void
ngx_http_mim_agr_endpoint(const char *endpoint, ngx_str_t *path,
    ngx_str_t *query)
{
    u_char  *p, *q, *last;

    p = (u_char *) endpoint;
    last = p + ngx_strlen(endpoint);

    q = ngx_strlcasestrn(p, last, (u_char *) "://", 3 - 1);

    if (q != NULL && *p != '/') {
        p = ngx_strlchr(q + 3, last, '/');
        if (p == NULL) {
            p = last;
        }
    }

    q = ngx_strlchr(p, last, '?');

    path->data = p;
    path->len = (q ? q : last) - p;

    query->data = q ? q + 1 : last;
    query->len = q ? last - (q + 1) : 0;

    if (path->len == 0) {
        ngx_str_set(path, "/");
    }
}


/* is uri the path, or under it? */
static ngx_flag_t
ngx_http_mim_agr_under(ngx_str_t *uri, ngx_str_t *path)
{
    if (uri->len < path->len
        || ngx_strncmp(uri->data, path->data, path->len) != 0)
    {
        return 0;
    }

    return uri->len == path->len || path->data[path->len - 1] == '/'
           || uri->data[path->len] == '/';
}


/* the value of name in an argument string, percent-decoded in pool */
static ngx_int_t
ngx_http_mim_agr_arg(ngx_pool_t *pool, ngx_str_t *args, const char *name,
    ngx_str_t *value)
{
    u_char      *p, *last, *start, *dst, *src;
    size_t       len;

    len = ngx_strlen(name);
    p = args->data;
    last = p + args->len;

    for ( /* void */ ; p < last; p++) {
        start = p;
        p = ngx_strlchr(p, last, '&');
        if (p == NULL) {
            p = last;
        }

        if ((size_t) (p - start) > len && start[len] == '='
            && ngx_strncmp(start, name, len) == 0)
        {
            src = start + len + 1;
            dst = ngx_pnalloc(pool, p - src + 1);
            if (dst == NULL) {
                return NGX_ERROR;
            }

            value->data = dst;
            ngx_unescape_uri(&dst, &src, p - (start + len + 1), 0);
            value->len = dst - value->data;
            *dst = '\0';

            return NGX_OK;
        }
    }

    return NGX_DECLINED;
}


/* comma-separated list -> ngx_str_t array (pointing into list) */
static ngx_array_t *
ngx_http_mim_agr_split(ngx_pool_t *pool, ngx_str_t *list)
{
    u_char       *p, *last, *start;
    ngx_str_t    *item;
    ngx_array_t  *a;

    a = ngx_array_create(pool, 2, sizeof(ngx_str_t));
    if (a == NULL) {
        return NULL;
    }

    p = list->data;
    last = p + list->len;

    while (p < last) {
        start = p;
        p = ngx_strlchr(p, last, ',');
        if (p == NULL) {
            p = last;
        }

        if (p > start) {
            item = ngx_array_push(a);
            if (item == NULL) {
                return NULL;
            }

            item->data = start;
            item->len = p - start;
        }

        p++;
    }

    return a;
}


static ngx_flag_t
ngx_http_mim_agr_member(ngx_array_t *a, ngx_str_t *s)
{
    ngx_uint_t   i;
    ngx_str_t   *item;

    item = a->elts;

    for (i = 0; i < a->nelts; i++) {
        if (item[i].len == s->len
            && ngx_strncmp(item[i].data, s->data, s->len) == 0)
        {
            return 1;
        }
    }

    return 0;
}


/*
 * The request must stay inside the dataset: under the path of its
 * endpoint (the DSP catalog), and, when the endpoint names entity types
 * (?type=A,B), only asking for those; the NGSI-LD filter is told too, so
 * that a response shows no other type.
 */
static ngx_int_t
ngx_http_mim_agr_dataset(ngx_http_request_t *r, ngx_http_mim_agr_ctx_t *ctx)
{
    ngx_str_t                      path, query, asked;
    ngx_uint_t                     i;
    ngx_str_t                     *type;
    const char                    *endpoint, *target;
    ngx_array_t                   *allowed, *wanted;
    ngx_http_mim_dsp_main_conf_t  *dmcf;

    target = mim_policy_target(ctx->policy->policy);

    if (target != NULL
        && (ngx_strlen(target) != ctx->target.len
            || ngx_strncmp(target, ctx->target.data, ctx->target.len) != 0))
    {
        return ngx_http_mim_agr_deny(r, ctx, NGX_HTTP_UNAUTHORIZED,
                                     "invalid_token", "the token's target is "
                                     "not the agreement's");
    }

    dmcf = ngx_http_get_module_main_conf(r, ngx_http_mim_dsp_module);

    endpoint = mim_dsp_dataset_endpoint(dmcf->dsp->catalog,
                                        (char *) ctx->target.data);
    if (endpoint == NULL) {
        return ngx_http_mim_agr_deny(r, ctx, NGX_HTTP_FORBIDDEN,
                                     "outside_dataset", "dataset %V is not "
                                     "served by this gateway", &ctx->target);
    }

    ngx_http_mim_agr_endpoint(endpoint, &path, &query);

    if (!ngx_http_mim_agr_under(&r->uri, &path)) {
        return ngx_http_mim_agr_deny(r, ctx, NGX_HTTP_FORBIDDEN,
                                     "outside_dataset", "%V is outside "
                                     "dataset %V (%V)", &r->uri,
                                     &ctx->target, &path);
    }

    switch (ngx_http_mim_agr_arg(r->pool, &query, "type", &ctx->types)) {

    case NGX_DECLINED:
        ctx->step = NGX_HTTP_MIM_AGR_COUNT;
        return NGX_AGAIN;

    case NGX_ERROR:
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    allowed = ngx_http_mim_agr_split(r->pool, &ctx->types);
    if (allowed == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    switch (ngx_http_mim_agr_arg(r->pool, &r->args, "type", &asked)) {

    case NGX_OK:
        wanted = ngx_http_mim_agr_split(r->pool, &asked);
        if (wanted == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        type = wanted->elts;

        for (i = 0; i < wanted->nelts; i++) {
            if (!ngx_http_mim_agr_member(allowed, &type[i])) {
                return ngx_http_mim_agr_deny(r, ctx, NGX_HTTP_FORBIDDEN,
                                             "outside_dataset", "type %V is "
                                             "outside dataset %V (%V)",
                                             &type[i], &ctx->target,
                                             &ctx->types);
            }
        }

        break;

    case NGX_ERROR:
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (ngx_http_mim_ngsild_scope_types(r, allowed->elts, allowed->nelts)
        != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ctx->step = NGX_HTTP_MIM_AGR_COUNT;

    return NGX_AGAIN;
}


/* ---- count -------------------------------------------------------------- */

/*
 * Reserve a use before deciding (INCR, or the shm counter): concurrent
 * requests each get their own number, so "count lteq N" lets exactly N
 * through; a denial gives its number back.
 */
static ngx_int_t
ngx_http_mim_agr_count(ngx_http_request_t *r, ngx_http_mim_agr_ctx_t *ctx)
{
    time_t                         now;
    ngx_int_t                      rc;
    ngx_str_t                      argv[2], why;
    ngx_http_mim_shm_key_t         key;
    ngx_http_mim_agr_main_conf_t  *amcf;

    if (!ctx->policy->uses_count) {
        ctx->step = NGX_HTTP_MIM_AGR_DECIDE;
        return NGX_AGAIN;
    }

    if (!ngx_http_mim_redis_enabled(r)) {
        amcf = ngx_http_get_module_main_conf(r,
                                             ngx_http_mim_agreement_module);
        now = ngx_time();

        ngx_http_mim_agr_shm_key(&key, NGX_HTTP_MIM_SHM_KIND_AGR_COUNT, 0, 0,
                                 &ctx->agreement);

        if (ngx_http_mim_shm_incr(amcf->zone, &key, now,
                                  now + NGX_HTTP_MIM_AGR_COUNT_TTL, 1,
                                  &ctx->count)
            != NGX_OK)
        {
            return ngx_http_mim_agr_deny(r, ctx, NGX_HTTP_SERVICE_UNAVAILABLE,
                                         "temporarily_unavailable", "the "
                                         "mim_zone has no room for the "
                                         "agreement's counter");
        }

        ctx->reserved = 1;
        ctx->step = NGX_HTTP_MIM_AGR_DECIDE;
        return NGX_AGAIN;
    }

    ngx_str_set(&argv[0], "INCR");

    if (ngx_http_mim_agr_cnt_key(r->pool, ctx, &argv[1]) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    rc = ngx_http_mim_redis_send(r, 2, argv, ngx_http_mim_agr_reply, ctx,
                                 &why);

    switch (rc) {

    case NGX_OK:
        ctx->reserving = 1;
        ctx->waiting = 1;
        ctx->step = NGX_HTTP_MIM_AGR_COUNT_READ;
        return NGX_DONE;

    case NGX_BUSY:
        return ngx_http_mim_agr_deny(r, ctx, NGX_HTTP_SERVICE_UNAVAILABLE,
                                     "temporarily_unavailable", "%V: the "
                                     "agreement's uses cannot be counted",
                                     &why);

    default:
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }
}


static ngx_int_t
ngx_http_mim_agr_count_read(ngx_http_request_t *r,
    ngx_http_mim_agr_ctx_t *ctx)
{
    ngx_http_mim_redis_reply_t  *reply;

    reply = ctx->reply;
    ctx->reply = NULL;
    ctx->reserving = 0;

    if (reply->type != NGX_HTTP_MIM_REDIS_INTEGER) {
        /* not known to be counted: nothing to give back (fail closed) */
        return ngx_http_mim_agr_deny(r, ctx, NGX_HTTP_SERVICE_UNAVAILABLE,
                                     "temporarily_unavailable", "%V: the "
                                     "agreement's uses cannot be counted",
                                     &reply->str);
    }

    ctx->count = reply->integer;
    ctx->reserved = 1;
    ctx->step = NGX_HTTP_MIM_AGR_DECIDE;

    return NGX_AGAIN;
}


/* mim:cnt:<agreementId>, the use counter's key, in pool */
static ngx_int_t
ngx_http_mim_agr_cnt_key(ngx_pool_t *pool, ngx_http_mim_agr_ctx_t *ctx,
    ngx_str_t *key)
{
    key->len = sizeof(NGX_HTTP_MIM_AGR_CNT_PREFIX) - 1 + ctx->agreement.len;
    key->data = ngx_pnalloc(pool, key->len);
    if (key->data == NULL) {
        return NGX_ERROR;
    }

    ngx_sprintf(key->data, NGX_HTTP_MIM_AGR_CNT_PREFIX "%V", &ctx->agreement);

    return NGX_OK;
}


/* the DECR of a denial is done: now the 403 */
static ngx_int_t
ngx_http_mim_agr_given_back(ngx_http_request_t *r,
    ngx_http_mim_agr_ctx_t *ctx)
{
    ngx_http_mim_redis_reply_t  *reply;

    reply = ctx->reply;
    ctx->reply = NULL;

    if (reply->type != NGX_HTTP_MIM_REDIS_INTEGER) {
        ngx_log_error(NGX_LOG_WARN, r->connection->log, 0,
                      "mim_agreement: a use of %V could not be given back: "
                      "%V", &ctx->agreement, &reply->str);
    }

    return ngx_http_mim_agr_policy_denied(r, ctx);
}


/* a reserved use that was not consumed goes back */
static void
ngx_http_mim_agr_give_back(ngx_http_request_t *r, ngx_http_mim_agr_ctx_t *ctx)
{
    int64_t                        n;
    time_t                         now;
    ngx_http_mim_shm_key_t         key;
    ngx_http_mim_agr_main_conf_t  *amcf;

    ctx->reserved = 0;

    if (!ngx_http_mim_redis_enabled(r)) {
        amcf = ngx_http_get_module_main_conf(r,
                                             ngx_http_mim_agreement_module);
        now = ngx_time();

        ngx_http_mim_agr_shm_key(&key, NGX_HTTP_MIM_SHM_KIND_AGR_COUNT, 0, 0,
                                 &ctx->agreement);

        (void) ngx_http_mim_shm_decr(amcf->zone, &key, now,
                                     now + NGX_HTTP_MIM_AGR_COUNT_TTL, &n);
        return;
    }

    ngx_http_mim_agr_decr_task(ctx);
}


/* DECR the counter without a request (its own pool): not awaited */
static void
ngx_http_mim_agr_decr_task(ngx_http_mim_agr_ctx_t *ctx)
{
    ngx_str_t    argv[2], why;
    ngx_pool_t  *pool;

    pool = ngx_create_pool(512, ngx_cycle->log);
    if (pool == NULL) {
        return;
    }

    ngx_str_set(&argv[0], "DECR");

    if (ngx_http_mim_agr_cnt_key(pool, ctx, &argv[1]) != NGX_OK) {
        ngx_destroy_pool(pool);
        return;
    }

    if (ngx_http_mim_redis_send_task(pool, 2, argv,
                                     ngx_http_mim_agr_task_done, pool, &why)
        != NGX_OK)
    {
        ngx_log_error(NGX_LOG_WARN, ngx_cycle->log, 0, "mim_agreement: a "
                      "use of %V could not be given back: %V",
                      &ctx->agreement, &why);
        ngx_destroy_pool(pool);
    }
}


static void
ngx_http_mim_agr_task_done(void *data, ngx_http_mim_redis_reply_t *reply)
{
    ngx_pool_t  *pool = data;

    if (reply->type != NGX_HTTP_MIM_REDIS_INTEGER) {
        ngx_log_error(NGX_LOG_WARN, ngx_cycle->log, 0, "mim_agreement: a "
                      "use could not be given back: %V", &reply->str);
    }

    ngx_destroy_pool(pool);
}


/* ---- decide ------------------------------------------------------------- */

static ngx_int_t
ngx_http_mim_agr_decide(ngx_http_request_t *r, ngx_http_mim_agr_ctx_t *ctx)
{
    u_char                 *buf;
    mim_result_t            res;
    mim_policy_request_t    req;
    mim_policy_decision_t   d;

    if (ngx_http_mim_policy_request_init(r, &req, &ctx->decision.action)
        != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    req.target.data = (char *) ctx->target.data;
    req.target.len = ctx->target.len;
    req.assignee.data = (char *) ctx->consumer.data;
    req.assignee.len = ctx->consumer.len;

    if (ctx->policy->has_timestamp) {
        req.has_elapsed = 1;
        req.elapsed = req.date_time - ctx->policy->timestamp;
    }

    if (ctx->reserved) {
        req.has_count = 1;
        req.count = ctx->count;

        ctx->count_text.data = ngx_pnalloc(r->pool, NGX_INT64_LEN);
        if (ctx->count_text.data == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        ctx->count_text.len = ngx_sprintf(ctx->count_text.data, "%L",
                                          ctx->count)
                              - ctx->count_text.data;
    }

    if (ngx_http_mim_ngsild_request(r, &req) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    buf = ngx_pnalloc(r->pool, NGX_HTTP_MIM_AGR_REASONS_MAX);
    if (buf == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    res = mim_policy_eval(ctx->policy->policy, &req, &d, (char *) buf,
                          NGX_HTTP_MIM_AGR_REASONS_MAX);

    if (!mim_ok(res)) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "mim_agreement \"%V\": %s", &ctx->agreement, res.msg);
        d.effect = MIM_POLICY_DENY;
        d.rule = NULL;
        d.label = NULL;
        d.reasons_len = ngx_sprintf(buf, "[\"policy engine error\"]") - buf;
    }

    ctx->decision.reasons.data = buf;
    ctx->decision.reasons.len = d.reasons_len;

    /* copied: the policy may be dropped by the LRU once released */
    if (ngx_http_mim_agr_pstr(r->pool, &ctx->decision.rule,
                              d.rule ? d.rule : (d.label ? d.label : ""))
        != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (d.effect != MIM_POLICY_PERMIT) {
        return ngx_http_mim_agr_policy_denied(r, ctx);
    }

    return ngx_http_mim_agr_permitted(r, ctx, &d);
}


static ngx_int_t
ngx_http_mim_agr_permitted(ngx_http_request_t *r,
    ngx_http_mim_agr_ctx_t *ctx, mim_policy_decision_t *d)
{
    if (ngx_http_mim_ngsild_scope_policy(r, ctx->policy->policy, d)
        != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    /* consumed: nothing to give back from now on */
    ctx->reserved = 0;

    ngx_http_mim_agr_policy_release(ctx->policy);
    ctx->policy = NULL;

    if (ngx_http_mim_agr_report(r, ctx, "permit") != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ctx->step = NGX_HTTP_MIM_AGR_DECIDED;
    ctx->rc = NGX_OK;

    ngx_log_debug3(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "mim_agreement: %V permitted to %V (count %V)",
                   &ctx->agreement, &ctx->consumer, &ctx->count_text);

    return NGX_OK;
}


/*
 * The request was decided before an internal redirect (error_page,
 * try_files ...): the same answer, without counting it again.  The
 * decision variables live in mim_policy's ctx, which the redirect cleared;
 * the NGSI-LD scope survives it.
 */
static ngx_int_t
ngx_http_mim_agr_again(ngx_http_request_t *r, ngx_http_mim_agr_ctx_t *ctx)
{
    ngx_http_set_ctx(r, ctx, ngx_http_mim_agreement_module);

    if (ngx_http_mim_agr_report(r, ctx, ctx->rc == NGX_OK ? "permit"
                                                          : "deny")
        != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ctx->rc;
}


/* ---- answers ------------------------------------------------------------ */

/* GET prefix+id from the store; the reply resumes the request at next */
static ngx_int_t
ngx_http_mim_agr_get(ngx_http_request_t *r, ngx_http_mim_agr_ctx_t *ctx,
    const char *prefix, ngx_str_t *id, ngx_http_mim_agr_step_e next)
{
    size_t     len;
    ngx_int_t  rc;
    ngx_str_t  argv[2], why;

    ngx_str_set(&argv[0], "GET");

    len = ngx_strlen(prefix);

    argv[1].len = len + id->len;
    argv[1].data = ngx_pnalloc(r->pool, argv[1].len);
    if (argv[1].data == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_memcpy(ngx_cpymem(argv[1].data, prefix, len), id->data, id->len);

    rc = ngx_http_mim_dsp_store(r, NULL, NGX_HTTP_MIM_DSP_OP_GET, 2, argv,
                                ngx_http_mim_agr_reply, NULL, ctx, &why);

    switch (rc) {

    case NGX_OK:
        ctx->waiting = 1;
        ctx->step = next;
        return NGX_DONE;

    case NGX_BUSY:
        return ngx_http_mim_agr_store_failed(r, ctx, &why);

    case NGX_DECLINED:
        ngx_str_set(&why, "no store is configured (mim_redis or mim_dsp)");
        return ngx_http_mim_agr_store_failed(r, ctx, &why);

    default:
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }
}


/*
 * The store is unavailable and what is needed is not cached: 503.  (A
 * transfer record cached under an older generation is not used: it is
 * known to be old.)
 */
static ngx_int_t
ngx_http_mim_agr_store_failed(ngx_http_request_t *r,
    ngx_http_mim_agr_ctx_t *ctx, ngx_str_t *why)
{
    return ngx_http_mim_agr_deny(r, ctx, NGX_HTTP_SERVICE_UNAVAILABLE,
                                 "temporarily_unavailable", "%V", why);
}


/*
 * A refusal: {"error": error, "error_description": ...} with status, and
 * for a 401 the RFC 6750 challenge.  The reason is also $mim_agreement_error
 * and, for the audit log, the decision's reasons.
 */
static ngx_int_t
ngx_http_mim_agr_deny(ngx_http_request_t *r, ngx_http_mim_agr_ctx_t *ctx,
    ngx_uint_t status, const char *error, const char *fmt, ...)
{
    u_char      *p, text[NGX_MAX_ERROR_STR];
    size_t       len;
    va_list      args;
    ngx_str_t    body, err;
    ngx_uint_t   level;

    va_start(args, fmt);
    p = ngx_vslprintf(text, text + sizeof(text), fmt, args);
    va_end(args);

    ctx->error.len = p - text;
    ctx->error.data = ngx_pnalloc(r->pool, ctx->error.len);
    if (ctx->error.data == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_memcpy(ctx->error.data, text, ctx->error.len);

    /* a refused client is info; a store that is away is worth a warning */
    level = (status == NGX_HTTP_SERVICE_UNAVAILABLE) ? NGX_LOG_WARN
                                                     : NGX_LOG_INFO;

    ngx_log_error(level, r->connection->log, 0, "mim_agreement: %ui %s: %V",
                  status, error, &ctx->error);

    /* the reason as a one-string JSON array, for $mim_policy_reasons */
    len = ngx_escape_json(NULL, ctx->error.data, ctx->error.len);

    ctx->decision.reasons.data = ngx_pnalloc(r->pool,
                                             ctx->error.len + len + 4);
    if (ctx->decision.reasons.data == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    p = ngx_cpymem(ctx->decision.reasons.data, "[\"", 2);
    p = (u_char *) ngx_escape_json(p, ctx->error.data, ctx->error.len);
    p = ngx_cpymem(p, "\"]", 2);
    ctx->decision.reasons.len = p - ctx->decision.reasons.data;

    err.data = (u_char *) error;
    err.len = ngx_strlen(error);

    body.len = sizeof("{\"error\":\"\",\"error_description\":\"\"}") - 1
               + err.len + ctx->error.len + len;
    body.data = ngx_pnalloc(r->pool, body.len);
    if (body.data == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    p = ngx_sprintf(body.data, "{\"error\":\"%V\",\"error_description\":\"",
                    &err);
    p = (u_char *) ngx_escape_json(p, ctx->error.data, ctx->error.len);
    ngx_memcpy(p, "\"}", 2);

    if (status == NGX_HTTP_UNAUTHORIZED
        && ngx_http_mim_agr_challenge(r, ctx,
                                      ngx_strcmp(error, "invalid_token") == 0)
           != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_http_mim_agr_answer(r, ctx, status, &body);
}


/*
 * 403 with {"error":"policy_denied","policy":..,"rule":..,"reasons":[..]}
 * as mim_policy answers (the policy is the agreement), and the reserved
 * use given back.
 */
static ngx_int_t
ngx_http_mim_agr_policy_denied(ngx_http_request_t *r,
    ngx_http_mim_agr_ctx_t *ctx)
{
    u_char     *p;
    size_t      len;
    ngx_str_t   body, *rule, *reasons, argv[2], why;

    if (ctx->reserved && ngx_http_mim_redis_enabled(r)) {
        /*
         * The use goes back before the answer: a client that reads its
         * 403 and asks again finds the counter as the denial left it.
         */
        ngx_str_set(&argv[0], "DECR");

        if (ngx_http_mim_agr_cnt_key(r->pool, ctx, &argv[1]) != NGX_OK) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        if (ngx_http_mim_redis_send(r, 2, argv, ngx_http_mim_agr_reply, ctx,
                                    &why)
            == NGX_OK)
        {
            ctx->reserved = 0;
            ctx->waiting = 1;
            ctx->step = NGX_HTTP_MIM_AGR_GIVEN_BACK;
            return NGX_DONE;
        }

        /* Redis is down right now: it goes back when it can */
    }

    if (ctx->reserved) {
        ngx_http_mim_agr_give_back(r, ctx);
    }

    rule = &ctx->decision.rule;
    reasons = &ctx->decision.reasons;

    ngx_str_set(&ctx->error, "the agreement's policy does not permit it");

    ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                  "mim_agreement \"%V\" denied %V on \"%V\" to \"%V\": %V",
                  &ctx->agreement, &ctx->decision.action, &ctx->target,
                  &ctx->consumer, reasons);

    len = sizeof("{\"error\":\"policy_denied\",\"error_description\":\"\","
                 "\"policy\":\"\",\"rule\":,\"reasons\":}") - 1
          + ctx->error.len
          + ctx->agreement.len
          + ngx_escape_json(NULL, ctx->agreement.data, ctx->agreement.len)
          + (rule->len ? 2 + rule->len
                         + ngx_escape_json(NULL, rule->data, rule->len)
                       : sizeof("null") - 1)
          + reasons->len;

    body.data = ngx_pnalloc(r->pool, len);
    if (body.data == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    p = ngx_sprintf(body.data, "{\"error\":\"policy_denied\","
                    "\"error_description\":\"%V\",\"policy\":\"",
                    &ctx->error);
    p = (u_char *) ngx_escape_json(p, ctx->agreement.data,
                                   ctx->agreement.len);
    p = ngx_cpymem(p, "\",\"rule\":", sizeof("\",\"rule\":") - 1);

    if (rule->len) {
        *p++ = '"';
        p = (u_char *) ngx_escape_json(p, rule->data, rule->len);
        *p++ = '"';

    } else {
        p = ngx_cpymem(p, "null", sizeof("null") - 1);
    }

    p = ngx_cpymem(p, ",\"reasons\":", sizeof(",\"reasons\":") - 1);
    p = ngx_cpymem(p, reasons->data, reasons->len);
    *p++ = '}';

    body.len = p - body.data;

    return ngx_http_mim_agr_answer(r, ctx, NGX_HTTP_FORBIDDEN, &body);
}


/* send a refusal and finalize: nothing (satisfy any included) admits a
   request that the agreement refused */
static ngx_int_t
ngx_http_mim_agr_answer(ngx_http_request_t *r, ngx_http_mim_agr_ctx_t *ctx,
    ngx_uint_t status, ngx_str_t *body)
{
    ngx_table_elt_t  *h;

    if (ctx->policy) {
        ngx_http_mim_agr_policy_release(ctx->policy);
        ctx->policy = NULL;
    }

    ctx->step = NGX_HTTP_MIM_AGR_DECIDED;
    ctx->rc = status;

    if (ngx_http_mim_agr_report(r, ctx, "deny") != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    h = ngx_list_push(&r->headers_out.headers);
    if (h == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    h->hash = 1;
    ngx_str_set(&h->key, "Cache-Control");
    ngx_str_set(&h->value, "no-store");

    ngx_http_finalize_request(r, ngx_http_mim_send_json(r, status, body));

    return NGX_DONE;
}


/* WWW-Authenticate: Bearer [error="invalid_token", error_description=..] */
static ngx_int_t
ngx_http_mim_agr_challenge(ngx_http_request_t *r,
    ngx_http_mim_agr_ctx_t *ctx, ngx_flag_t invalid)
{
    u_char           *p, *q;
    ngx_table_elt_t  *h;

    h = ngx_list_push(&r->headers_out.headers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    h->hash = 1;
    ngx_str_set(&h->key, "WWW-Authenticate");
    r->headers_out.www_authenticate = h;

    if (!invalid) {
        ngx_str_set(&h->value, "Bearer");
        return NGX_OK;
    }

    p = ngx_pnalloc(r->pool, sizeof("Bearer error=\"invalid_token\", "
                                    "error_description=\"\"")
                             + ctx->error.len);
    if (p == NULL) {
        return NGX_ERROR;
    }

    h->value.data = p;
    p = ngx_cpymem(p, "Bearer error=\"invalid_token\", error_description=\"",
                   sizeof("Bearer error=\"invalid_token\", "
                          "error_description=\"") - 1);

    /* RFC 6750 3: no '"', '\' or anything outside printable ASCII */
    for (q = ctx->error.data; q < ctx->error.data + ctx->error.len; q++) {
        *p++ = (*q == '"') ? '\''
               : (*q == '\\') ? '/'
               : (*q < 0x20 || *q > 0x7e) ? '?' : *q;
    }

    *p++ = '"';
    h->value.len = p - h->value.data;

    return NGX_OK;
}


/* $mim_decision and its friends tell what the agreement decided */
static ngx_int_t
ngx_http_mim_agr_report(ngx_http_request_t *r, ngx_http_mim_agr_ctx_t *ctx,
    const char *decision)
{
    ctx->decision.decision.data = (u_char *) decision;
    ctx->decision.decision.len = ngx_strlen(decision);
    ctx->decision.target = ctx->target;

    return ngx_http_mim_policy_set_decision(r, &ctx->decision);
}


/* ---- the shm caches ----------------------------------------------------- */

/*
 * An id longer than a key takes is replaced by its hash, kept in a static
 * buffer: use the key before making the next one.
 */
static void
ngx_http_mim_agr_shm_key(ngx_http_mim_shm_key_t *key, ngx_uint_t kind,
    uint32_t generation, uint32_t scope, ngx_str_t *id)
{
    static u_char  hash[MIM_KID_LEN + 1];

    key->kind = kind;
    key->generation = generation;
    key->scope = scope;
    key->id = *id;

    if (id->len > NGX_HTTP_MIM_SHM_ID_MAX) {
        mim_jwt_hash((char *) id->data, id->len, (char *) hash);
        key->id.data = hash;
        key->id.len = MIM_KID_LEN;
    }
}


/*
 * A transfer record cached with the generation it was read under and
 * when: NGX_OK when it is current, NGX_DECLINED when absent or old (in
 * embedded mode there is no cache: the store is as close).
 *
 * Value: int64 generation, int64 msec stored, uint32 state, then tokenId
 * and agreementId as uint32 length and bytes.
 */
static ngx_int_t
ngx_http_mim_agr_tp_cache_get(ngx_http_request_t *r,
    ngx_http_mim_agr_ctx_t *ctx)
{
    u_char                        *p, *last;
    int64_t                        gen, stored;
    uint32_t                       state, len;
    ngx_int_t                      rc;
    ngx_str_t                      value, *s[2];
    ngx_uint_t                     i;
    ngx_http_mim_shm_key_t         key;
    ngx_http_mim_agr_main_conf_t  *amcf;

    amcf = ngx_http_get_module_main_conf(r, ngx_http_mim_agreement_module);

    if (amcf->zone == NULL || !ngx_http_mim_redis_enabled(r)) {
        return NGX_DECLINED;
    }

    ngx_http_mim_agr_shm_key(&key, NGX_HTTP_MIM_SHM_KIND_AGR_TP, 0, 0,
                             &ctx->transfer);

    rc = ngx_http_mim_shm_get(amcf->zone, &key, ngx_time(), r->pool, &value);
    if (rc != NGX_OK) {
        return rc;
    }

    p = value.data;
    last = p + value.len;

    if (value.len < 2 * sizeof(int64_t) + sizeof(uint32_t)) {
        return NGX_DECLINED;
    }

    ngx_memcpy(&gen, p, sizeof(int64_t));
    ngx_memcpy(&stored, p + sizeof(int64_t), sizeof(int64_t));
    ngx_memcpy(&state, p + 2 * sizeof(int64_t), sizeof(uint32_t));
    p += 2 * sizeof(int64_t) + sizeof(uint32_t);

    if (gen < ngx_http_mim_agr_worker.gen
        || (ngx_msec_t) stored < ngx_http_mim_agr_worker.reset)
    {
        return NGX_DECLINED;
    }

    s[0] = &ctx->token_id;
    s[1] = &ctx->record_agreement;

    for (i = 0; i < 2; i++) {
        if ((size_t) (last - p) < sizeof(uint32_t)) {
            return NGX_DECLINED;
        }

        ngx_memcpy(&len, p, sizeof(uint32_t));
        p += sizeof(uint32_t);

        if ((size_t) (last - p) < len) {
            return NGX_DECLINED;
        }

        s[i]->data = p;
        s[i]->len = len;
        p += len;
    }

    ctx->state = state;

    return NGX_OK;
}


static void
ngx_http_mim_agr_tp_cache_put(ngx_http_request_t *r,
    ngx_http_mim_agr_ctx_t *ctx)
{
    u_char                        *p;
    time_t                         now;
    int64_t                        stored;
    uint32_t                       state, len;
    ngx_str_t                      value;
    ngx_http_mim_shm_key_t         key;
    ngx_http_mim_agr_main_conf_t  *amcf;

    amcf = ngx_http_get_module_main_conf(r, ngx_http_mim_agreement_module);

    if (amcf->zone == NULL || !ngx_http_mim_redis_enabled(r)) {
        return;
    }

    value.len = 2 * sizeof(int64_t) + 3 * sizeof(uint32_t)
                + ctx->token_id.len + ctx->record_agreement.len;
    value.data = ngx_pnalloc(r->pool, value.len);
    if (value.data == NULL) {
        return;
    }

    stored = (int64_t) ngx_current_msec;
    state = (uint32_t) ctx->state;

    p = ngx_cpymem(value.data, &ctx->gen, sizeof(int64_t));
    p = ngx_cpymem(p, &stored, sizeof(int64_t));
    p = ngx_cpymem(p, &state, sizeof(uint32_t));

    len = (uint32_t) ctx->token_id.len;
    p = ngx_cpymem(p, &len, sizeof(uint32_t));
    p = ngx_cpymem(p, ctx->token_id.data, len);

    len = (uint32_t) ctx->record_agreement.len;
    p = ngx_cpymem(p, &len, sizeof(uint32_t));
    ngx_memcpy(p, ctx->record_agreement.data, len);

    ngx_http_mim_agr_shm_key(&key, NGX_HTTP_MIM_SHM_KIND_AGR_TP, 0, 0,
                             &ctx->transfer);

    now = ngx_time();

    (void) ngx_http_mim_shm_set(amcf->zone, &key, now,
                                now + NGX_HTTP_MIM_AGR_TP_TTL, &value);
}


/* ---- the compiled agreements of this worker ----------------------------- */

static ngx_http_mim_agr_policy_t *
ngx_http_mim_agr_lru_find(ngx_str_t *id)
{
    uint32_t                    hash;
    ngx_queue_t                *q;
    ngx_http_mim_agr_policy_t  *p;
    ngx_http_mim_agr_worker_t  *w = &ngx_http_mim_agr_worker;

    if (w->lru.next == NULL) {
        return NULL;
    }

    hash = ngx_crc32_short(id->data, id->len);

    for (q = ngx_queue_head(&w->lru);
         q != ngx_queue_sentinel(&w->lru);
         q = ngx_queue_next(q))
    {
        p = ngx_queue_data(q, ngx_http_mim_agr_policy_t, queue);

        if (p->hash == hash && p->id.len == id->len
            && ngx_strncmp(p->id.data, id->data, id->len) == 0)
        {
            ngx_queue_remove(q);
            ngx_queue_insert_head(&w->lru, q);
            return p;
        }
    }

    return NULL;
}


/* compile an agreement and keep it, making room by the least recently used */
static ngx_http_mim_agr_policy_t *
ngx_http_mim_agr_lru_add(ngx_http_request_t *r, ngx_str_t *id,
    ngx_str_t *json)
{
    ngx_queue_t                *q;
    mim_result_t                res;
    mim_policy_t               *policy;
    ngx_http_mim_agr_policy_t  *p, *old;
    ngx_http_mim_agr_worker_t  *w = &ngx_http_mim_agr_worker;

    res = mim_policy_parse(&policy, (char *) json->data, json->len);
    if (!mim_ok(res)) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "mim_agreement: agreement \"%V\" does not compile: %s",
                      id, res.msg);
        return NULL;
    }

    p = ngx_alloc(sizeof(ngx_http_mim_agr_policy_t) + id->len,
                  r->connection->log);
    if (p == NULL) {
        mim_policy_free(policy);
        return NULL;
    }

    ngx_memzero(p, sizeof(ngx_http_mim_agr_policy_t));

    p->id.data = (u_char *) p + sizeof(ngx_http_mim_agr_policy_t);
    p->id.len = id->len;
    ngx_memcpy(p->id.data, id->data, id->len);

    p->hash = ngx_crc32_short(id->data, id->len);
    p->policy = policy;
    p->uses_count = mim_policy_uses_count(policy) ? 1 : 0;
    p->has_timestamp = (mim_policy_timestamp(policy, &p->timestamp) == 0);

    if (w->lru.next == NULL) {
        ngx_queue_init(&w->lru);
    }

    if (w->lru_n >= NGX_HTTP_MIM_AGR_LRU_MAX) {
        q = ngx_queue_last(&w->lru);
        old = ngx_queue_data(q, ngx_http_mim_agr_policy_t, queue);

        ngx_queue_remove(q);
        w->lru_n--;

        /* a request waiting for its count still uses it */
        old->evicted = 1;
        ngx_http_mim_agr_policy_release(old);
    }

    p->refs = 1;            /* the LRU's own */
    ngx_queue_insert_head(&w->lru, &p->queue);
    w->lru_n++;

    return p;
}


static void
ngx_http_mim_agr_policy_release(ngx_http_mim_agr_policy_t *p)
{
    if (--p->refs == 0 && p->evicted) {
        mim_policy_free(p->policy);
        ngx_free(p);
    }
}


/* ---- the ctx ------------------------------------------------------------ */

static ngx_http_mim_agr_ctx_t *
ngx_http_mim_agr_get_ctx(ngx_http_request_t *r)
{
    ngx_pool_cleanup_t      *cln;
    ngx_http_mim_agr_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_mim_agreement_module);

    /* an internal redirect cleared the module ctx, not the pool */
    if (ctx == NULL && (r->internal || r->filter_finalize)) {
        for (cln = r->pool->cleanup; cln; cln = cln->next) {
            if (cln->handler == ngx_http_mim_agr_ctx_cleanup) {
                ctx = cln->data;
                break;
            }
        }
    }

    return ctx;
}


/* the request is freed: what it held goes back */
static void
ngx_http_mim_agr_ctx_cleanup(void *data)
{
    ngx_http_mim_agr_ctx_t *ctx = data;

    if (ctx->policy) {
        ngx_http_mim_agr_policy_release(ctx->policy);
        ctx->policy = NULL;
    }

    if (!ctx->reserving) {
        return;
    }

    /* the client left while its use was being counted: the INCR will be
       done, so a DECR after it on the same connection undoes it */
    ngx_http_mim_agr_decr_task(ctx);
}


static ngx_int_t
ngx_http_mim_agr_pstr(ngx_pool_t *pool, ngx_str_t *to, const char *s)
{
    size_t  len = ngx_strlen(s);

    to->data = ngx_pnalloc(pool, len + 1);
    if (to->data == NULL) {
        return NGX_ERROR;
    }

    *ngx_cpymem(to->data, s, len) = '\0';
    to->len = len;

    return NGX_OK;
}


/* ---- mim:tp:gen, every 250 ms ------------------------------------------- */

static void
ngx_http_mim_agr_poll(ngx_event_t *ev)
{
    ngx_str_t                   argv[2], why;
    ngx_pool_t                 *pool;
    ngx_http_mim_agr_worker_t  *w = &ngx_http_mim_agr_worker;

    if (ngx_exiting || ngx_terminate || ngx_quit) {
        return;
    }

    pool = ngx_create_pool(512, ev->log);

    if (pool != NULL) {
        ngx_str_set(&argv[0], "GET");
        ngx_str_set(&argv[1], NGX_HTTP_MIM_DSP_TP_GEN);

        if (ngx_http_mim_redis_send_task(pool, 2, argv,
                                         ngx_http_mim_agr_polled, pool, &why)
            == NGX_OK)
        {
            w->polling = 1;
            return;
        }

        ngx_destroy_pool(pool);
    }

    /* Redis is away: what is cached stays as current as it was */
    ngx_add_timer(ev, NGX_HTTP_MIM_AGR_POLL);
}


static void
ngx_http_mim_agr_polled(void *data, ngx_http_mim_redis_reply_t *reply)
{
    ngx_pool_t  *pool = data;

    int64_t                     gen;
    ngx_http_mim_agr_worker_t  *w = &ngx_http_mim_agr_worker;

    w->polling = 0;

    if (reply->type == NGX_HTTP_MIM_REDIS_STRING
        || reply->type == NGX_HTTP_MIM_REDIS_NIL)
    {
        gen = (reply->type == NGX_HTTP_MIM_REDIS_NIL)
              ? 0 : ngx_atoof(reply->str.data, reply->str.len);

        if (gen >= 0 && gen < w->gen) {
            /* counted down: a Redis that lost its data; nothing cached
               before now is known to be current */
            w->reset = ngx_current_msec + 1;
        }

        if (gen >= 0) {
            w->gen = gen;
        }
    }

    ngx_destroy_pool(pool);

    if (!(ngx_exiting || ngx_terminate || ngx_quit)) {
        ngx_add_timer(&w->timer, NGX_HTTP_MIM_AGR_POLL);
    }
}


/* ---- variables and configuration ---------------------------------------- */

static ngx_int_t
ngx_http_mim_agr_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data)
{
    ngx_str_t               *value;
    ngx_http_mim_agr_ctx_t  *ctx;

    ctx = ngx_http_mim_agr_get_ctx(r);

    if (ctx == NULL) {
        v->not_found = 1;
        return NGX_OK;
    }

    value = (ngx_str_t *) ((char *) ctx + data);

    if (value->data == NULL) {
        v->not_found = 1;
        return NGX_OK;
    }

    v->len = value->len;
    v->valid = 1;
    v->no_cacheable = 0;
    v->not_found = 0;
    v->data = value->data;

    return NGX_OK;
}


static ngx_int_t
ngx_http_mim_agr_add_variables(ngx_conf_t *cf)
{
    return ngx_http_mim_add_variables(cf, ngx_http_mim_agr_vars);
}


static void *
ngx_http_mim_agr_create_main_conf(ngx_conf_t *cf)
{
    ngx_http_mim_agr_main_conf_t  *amcf;

    amcf = ngx_pcalloc(cf->pool, sizeof(ngx_http_mim_agr_main_conf_t));
    if (amcf == NULL) {
        return NULL;
    }

    if (ngx_array_init(&amcf->locations, cf->pool, 4,
                       sizeof(ngx_http_mim_agr_loc_conf_t *))
        != NGX_OK)
    {
        return NULL;
    }

    return amcf;
}


static void *
ngx_http_mim_agr_create_loc_conf(ngx_conf_t *cf)
{
    ngx_http_mim_agr_loc_conf_t  *conf;

    conf = ngx_pcalloc(cf->pool, sizeof(ngx_http_mim_agr_loc_conf_t));
    if (conf == NULL) {
        return NULL;
    }

    /*
     * set by ngx_pcalloc():
     *
     *     conf->participant_id = NULL;
     *     conf->key = NULL;
     *     conf->scope = 0;
     */

    conf->enable = NGX_CONF_UNSET;

    return conf;
}


/*
 * What an enabled location needs is checked here when it is already
 * known (the signing key: ngx_http_mim_module is merged before us) and at
 * postconfiguration otherwise (the participant id of mim_auth, merged
 * after us, and the DSP catalog).
 */
static char *
ngx_http_mim_agr_merge_loc_conf(ngx_conf_t *cf, void *parent, void *child)
{
    ngx_http_mim_agr_loc_conf_t *prev = parent;
    ngx_http_mim_agr_loc_conf_t *conf = child;

    ngx_http_mim_srv_conf_t        *mscf;
    ngx_http_mim_agr_loc_conf_t   **loc;
    ngx_http_mim_agr_main_conf_t   *amcf;

    ngx_conf_merge_value(conf->enable, prev->enable, 0);

    if (!conf->enable) {
        return NGX_CONF_OK;
    }

    mscf = ngx_http_conf_get_module_srv_conf(cf, ngx_http_mim_module);

    if (mscf->signing_key == NULL) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "mim_agreement needs "
                           "mim_signing_key: the key of the data-access "
                           "tokens");
        return NGX_CONF_ERROR;
    }

    conf->key = mscf->signing_key;

    /* the server's: its value is final once mim_auth has merged it */
    conf->participant_id = ngx_http_mim_conf_participant_id(cf);

    amcf = ngx_http_conf_get_module_main_conf(cf,
                                              ngx_http_mim_agreement_module);

    loc = ngx_array_push(&amcf->locations);
    if (loc == NULL) {
        return NGX_CONF_ERROR;
    }

    *loc = conf;

    return NGX_CONF_OK;
}


static ngx_int_t
ngx_http_mim_agr_init(ngx_conf_t *cf)
{
    uint32_t                        crc;
    ngx_uint_t                      i;
    ngx_http_handler_pt            *h;
    ngx_http_core_main_conf_t      *cmcf;
    ngx_http_mim_agr_loc_conf_t   **loc;
    ngx_http_mim_agr_main_conf_t   *amcf;
    ngx_http_mim_dsp_main_conf_t   *dmcf;

    amcf = ngx_http_conf_get_module_main_conf(cf,
                                              ngx_http_mim_agreement_module);

    if (amcf->locations.nelts == 0) {
        return NGX_OK;
    }

    loc = amcf->locations.elts;

    for (i = 0; i < amcf->locations.nelts; i++) {
        if (loc[i]->participant_id->len == 0) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "mim_agreement needs "
                               "mim_participant_id: the issuer and audience "
                               "of the data-access tokens");
            return NGX_ERROR;
        }

        /* tokens verified with one key for one party: their cache scope */
        ngx_crc32_init(crc);
        ngx_crc32_update(&crc, (u_char *) loc[i]->key->kid,
                         ngx_strlen(loc[i]->key->kid));
        ngx_crc32_update(&crc, loc[i]->participant_id->data,
                         loc[i]->participant_id->len);
        ngx_crc32_final(crc);

        loc[i]->scope = crc;
    }

    dmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_mim_dsp_module);

    if (dmcf->dsp == NULL) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "mim_agreement needs a "
                           "mim_dsp location: its catalog says where each "
                           "dataset is served");
        return NGX_ERROR;
    }

    amcf->zone = ngx_http_mim_conf_zone(cf);
    amcf->redis = ngx_http_mim_redis_configured(cf);

    if (amcf->zone == NULL && !amcf->redis) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "mim_agreement without "
                           "mim_redis needs mim_zone (use counters)");
        return NGX_ERROR;
    }

    cmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_core_module);

    h = ngx_array_push(&cmcf->phases[NGX_HTTP_ACCESS_PHASE].handlers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    *h = ngx_http_mim_agr_handler;

    return NGX_OK;
}


static ngx_int_t
ngx_http_mim_agr_init_process(ngx_cycle_t *cycle)
{
    ngx_http_mim_agr_worker_t     *w = &ngx_http_mim_agr_worker;
    ngx_http_mim_agr_main_conf_t  *amcf;

    if (ngx_process != NGX_PROCESS_WORKER
        && ngx_process != NGX_PROCESS_SINGLE)
    {
        return NGX_OK;
    }

    amcf = ngx_http_cycle_get_module_main_conf(cycle,
                                               ngx_http_mim_agreement_module);

    ngx_queue_init(&w->lru);

    if (amcf == NULL || amcf->locations.nelts == 0 || !amcf->redis) {
        return NGX_OK;
    }

    w->timer.handler = ngx_http_mim_agr_poll;
    w->timer.log = cycle->log;
    w->timer.data = w;
    w->timer.cancelable = 1;

    /* at once: a record cached by the previous workers may be old */
    ngx_add_timer(&w->timer, 1);

    return NGX_OK;
}
