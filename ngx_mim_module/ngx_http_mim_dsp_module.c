/*
 * ngx_http_mim_dsp_module - the provider side of the Dataspace Protocol
 * 2025-1 (HTTPS binding): version, catalog, contract negotiation and
 * transfer process (HTTP pull) (MIM3).
 *
 *   location = /.well-known/dspace-version { mim_dsp_version; }
 *   location /dsp/ { mim_auth on; mim_dsp; mim_dsp_catalog FILE; }
 *   location /dsp-admin/ { allow 127.0.0.1; deny all; mim_dsp_admin; }
 *
 * Messages are read and built by the dsp/ core; this file routes, reads
 * bodies, asks mim_auth who the caller is, and keeps the negotiations in
 * Redis (ngx_http_mim_dsp.h) through hiredis' async API, with the shm zone
 * as a read-through cache.  What the provider owes a consumer afterwards
 * (agreement, FINALIZED, termination) is queued in the same atomic change
 * and sent by the outbox (ngx_http_mim_dsp_outbox.c), never inside the
 * request.
 *
 * Request flow: the content handler holds one reference for the work
 * (GET: r->main->count++, POST: the request body's); dispatch either
 * answers and finalizes, or hands the reference to a Redis command whose
 * callback does (and may send the next command first).
 */

#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_mim.h"
#include "ngx_http_mim_dsp.h"
#include "ngx_http_mim_redis.h"
#include "ngx_http_mim_shm.h"
#include "mim_dsp_job.h"
#include "mim_dsp_transfer.h"

#include <openssl/evp.h>


#define NGX_HTTP_MIM_DSP_CAS_TRIES    3
#define NGX_HTTP_MIM_DSP_REASONS_MAX  2048
#define NGX_HTTP_MIM_DSP_DEFAULT_CA   "/etc/ssl/certs/ca-certificates.crt"


/* what a request asks for */
typedef enum {
    NGX_HTTP_MIM_DSP_NONE = 0,
    NGX_HTTP_MIM_DSP_CATALOG,           /* POST catalog/request */
    NGX_HTTP_MIM_DSP_DATASET,           /* GET catalog/datasets/:id */
    NGX_HTTP_MIM_DSP_NEG_GET,           /* GET negotiations/:pid */
    NGX_HTTP_MIM_DSP_NEG_CREATE,        /* POST negotiations/request */
    NGX_HTTP_MIM_DSP_NEG_REQUEST,       /* POST negotiations/:pid/request */
    NGX_HTTP_MIM_DSP_NEG_EVENT,         /* POST negotiations/:pid/events */
    NGX_HTTP_MIM_DSP_NEG_VERIFY,        /* .../agreement/verification */
    NGX_HTTP_MIM_DSP_NEG_TERMINATE,     /* .../termination */
    NGX_HTTP_MIM_DSP_ADMIN_LIST,        /* admin: GET negotiations */
    NGX_HTTP_MIM_DSP_ADMIN_GET,         /* admin: GET negotiations/:pid */
    NGX_HTTP_MIM_DSP_ADMIN_AGREE,       /* admin: POST .../:pid/agree */
    NGX_HTTP_MIM_DSP_ADMIN_TERMINATE,   /* admin: POST .../:pid/terminate */

    NGX_HTTP_MIM_DSP_TP_GET,            /* GET transfers/:pid */
    NGX_HTTP_MIM_DSP_TP_CREATE,         /* POST transfers/request */
    NGX_HTTP_MIM_DSP_TP_START,          /* POST transfers/:pid/start */
    NGX_HTTP_MIM_DSP_TP_COMPLETE,       /* .../completion */
    NGX_HTTP_MIM_DSP_TP_SUSPEND,        /* .../suspension */
    NGX_HTTP_MIM_DSP_TP_TERMINATE,      /* .../termination */
    NGX_HTTP_MIM_DSP_ADMIN_TP_GET,      /* admin: GET transfers/:pid */
    NGX_HTTP_MIM_DSP_ADMIN_TP_SUSPEND,  /* admin: POST .../:pid/suspend */
    NGX_HTTP_MIM_DSP_ADMIN_TP_RESUME,   /* admin: POST .../:pid/resume */
    NGX_HTTP_MIM_DSP_ADMIN_TP_COMPLETE, /* admin: POST .../:pid/complete */
    NGX_HTTP_MIM_DSP_ADMIN_TP_TERMINATE /* admin: POST .../:pid/terminate */
} ngx_http_mim_dsp_route_e;

#define ngx_http_mim_dsp_is_transfer(route)                                  \
    ((route) >= NGX_HTTP_MIM_DSP_TP_GET)
#define ngx_http_mim_dsp_is_admin_tp(route)                                  \
    ((route) >= NGX_HTTP_MIM_DSP_ADMIN_TP_SUSPEND)

/* the error body a route answers with */
typedef enum {
    NGX_HTTP_MIM_DSP_ERR_PLAIN = 0,
    NGX_HTTP_MIM_DSP_ERR_CATALOG,
    NGX_HTTP_MIM_DSP_ERR_NEGOTIATION,
    NGX_HTTP_MIM_DSP_ERR_TRANSFER
} ngx_http_mim_dsp_err_e;


typedef struct {
    ngx_http_mim_dsp_route_e       route;
    ngx_http_mim_dsp_err_e         errors;
    ngx_uint_t                     method;   /* the route's method */
    ngx_str_t                      id;       /* pid or dataset id */

    ngx_str_t                      party;    /* the caller (mim_auth) */

    ngx_str_t                      body;
    mim_dsp_msg_t                  msg;
    mim_dsp_neg_t                  neg;      /* the record as changed */
    mim_dsp_tmsg_t                 tmsg;     /* a transfer's message */
    mim_dsp_tp_t                   tp;       /* a transfer's record */
    ngx_str_t                      old;      /* the record as read */
    ngx_str_t                      record;   /* the record as written */
    ngx_http_mim_dsp_change_t      change;
    ngx_uint_t                     status;   /* of the answer on success */
    ngx_uint_t                     tries;
    ngx_int_t                      answered; /* rc of an answer a check
                                                sent (NGX_DECLINED) */

    char                          *decision_code;
    char                          *decision_reason;

    ngx_http_mim_client_t         *checking;  /* a callback host's check */
} ngx_http_mim_dsp_ctx_t;


static ngx_int_t ngx_http_mim_dsp_handler(ngx_http_request_t *r);
static ngx_int_t ngx_http_mim_dsp_version_handler(ngx_http_request_t *r,
    ngx_http_mim_dsp_main_conf_t *dmcf);
static ngx_int_t ngx_http_mim_dsp_route(ngx_http_request_t *r,
    ngx_http_mim_dsp_ctx_t *ctx, ngx_str_t *path, ngx_flag_t admin);
static ngx_int_t ngx_http_mim_dsp_route_transfer(ngx_http_mim_dsp_ctx_t *ctx,
    ngx_str_t *path, ngx_flag_t admin);
static ngx_int_t ngx_http_mim_dsp_check_body(ngx_http_request_t *r,
    ngx_http_mim_dsp_ctx_t *ctx, ngx_http_mim_dsp_loc_conf_t *dsp);
static void ngx_http_mim_dsp_body_ready(ngx_http_request_t *r);
static void ngx_http_mim_dsp_dispatch(ngx_http_request_t *r);
static ngx_int_t ngx_http_mim_dsp_catalog(ngx_http_request_t *r,
    ngx_http_mim_dsp_ctx_t *ctx, ngx_http_mim_dsp_loc_conf_t *dsp);
static ngx_int_t ngx_http_mim_dsp_dataset(ngx_http_request_t *r,
    ngx_http_mim_dsp_ctx_t *ctx, ngx_http_mim_dsp_loc_conf_t *dsp);
static ngx_int_t ngx_http_mim_dsp_create(ngx_http_request_t *r,
    ngx_http_mim_dsp_ctx_t *ctx, ngx_http_mim_dsp_loc_conf_t *dsp);
static ngx_int_t ngx_http_mim_dsp_judge_callback(ngx_http_request_t *r,
    ngx_http_mim_dsp_ctx_t *ctx, ngx_http_mim_dsp_loc_conf_t *dsp,
    const char *address);
static ngx_int_t ngx_http_mim_dsp_callback_allowed(ngx_http_request_t *r,
    ngx_http_mim_dsp_ctx_t *ctx, ngx_http_mim_dsp_loc_conf_t *dsp);
static ngx_int_t ngx_http_mim_dsp_resolve_callback(ngx_http_request_t *r,
    ngx_http_mim_dsp_ctx_t *ctx, ngx_http_mim_dsp_loc_conf_t *dsp,
    const char *address);
static void ngx_http_mim_dsp_callback_checked(void *data, ngx_uint_t status,
    ngx_str_t *reason);
static ngx_int_t ngx_http_mim_dsp_negotiate(ngx_http_request_t *r,
    ngx_http_mim_dsp_ctx_t *ctx, ngx_http_mim_dsp_loc_conf_t *dsp);
static ngx_int_t ngx_http_mim_dsp_check_callback(ngx_http_request_t *r,
    ngx_http_mim_dsp_loc_conf_t *dsp, const char *address,
    ngx_str_t *reason);
static ngx_int_t ngx_http_mim_dsp_agree(ngx_http_request_t *r,
    ngx_http_mim_dsp_ctx_t *ctx, ngx_http_mim_dsp_loc_conf_t *dsp,
    const mim_dsp_offer_t *offer);
static ngx_int_t ngx_http_mim_dsp_load(ngx_http_request_t *r,
    ngx_http_mim_dsp_ctx_t *ctx);
static void ngx_http_mim_dsp_loaded(ngx_http_request_t *r, void *data,
    ngx_http_mim_redis_reply_t *reply);
static ngx_int_t ngx_http_mim_dsp_change(ngx_http_request_t *r,
    ngx_http_mim_dsp_ctx_t *ctx, ngx_http_mim_dsp_loc_conf_t *dsp);
static ngx_int_t ngx_http_mim_dsp_admin_change(ngx_http_request_t *r,
    ngx_http_mim_dsp_ctx_t *ctx, ngx_http_mim_dsp_loc_conf_t *dsp);
static ngx_int_t ngx_http_mim_dsp_write(ngx_http_request_t *r,
    ngx_http_mim_dsp_ctx_t *ctx);
static void ngx_http_mim_dsp_written(ngx_http_request_t *r, void *data,
    ngx_http_mim_redis_reply_t *reply);
static ngx_int_t ngx_http_mim_dsp_admin_list(ngx_http_request_t *r,
    ngx_http_mim_dsp_ctx_t *ctx);
static void ngx_http_mim_dsp_listed(ngx_http_request_t *r, void *data,
    ngx_http_mim_redis_reply_t *reply);
static ngx_int_t ngx_http_mim_dsp_tp_dispatch(ngx_http_request_t *r,
    ngx_http_mim_dsp_ctx_t *ctx, ngx_http_mim_dsp_loc_conf_t *dsp);
static ngx_int_t ngx_http_mim_dsp_tp_create(ngx_http_request_t *r,
    ngx_http_mim_dsp_ctx_t *ctx, ngx_http_mim_dsp_loc_conf_t *dsp);
static ngx_int_t ngx_http_mim_dsp_tp_agreement_load(ngx_http_request_t *r,
    ngx_http_mim_dsp_ctx_t *ctx);
static void ngx_http_mim_dsp_tp_agreement_loaded(ngx_http_request_t *r,
    void *data, ngx_http_mim_redis_reply_t *reply);
static ngx_int_t ngx_http_mim_dsp_tp_begin(ngx_http_request_t *r,
    ngx_http_mim_dsp_ctx_t *ctx, ngx_http_mim_dsp_loc_conf_t *dsp,
    const char *target);
static ngx_int_t ngx_http_mim_dsp_tp_load(ngx_http_request_t *r,
    ngx_http_mim_dsp_ctx_t *ctx);
static void ngx_http_mim_dsp_tp_loaded(ngx_http_request_t *r, void *data,
    ngx_http_mim_redis_reply_t *reply);
static ngx_int_t ngx_http_mim_dsp_tp_change(ngx_http_request_t *r,
    ngx_http_mim_dsp_ctx_t *ctx);
static void ngx_http_mim_dsp_tp_written(ngx_http_request_t *r, void *data,
    ngx_http_mim_redis_reply_t *reply);
static ngx_int_t ngx_http_mim_dsp_tp_answer(ngx_http_request_t *r,
    ngx_http_mim_dsp_ctx_t *ctx, ngx_uint_t status);
static ngx_int_t ngx_http_mim_dsp_key(ngx_pool_t *pool, ngx_str_t *key,
    const char *prefix, u_char *id, size_t len);
static ngx_int_t ngx_http_mim_dsp_url(ngx_http_request_t *r,
    ngx_http_mim_dsp_loc_conf_t *dsp, ngx_str_t *url);
static ngx_int_t ngx_http_mim_dsp_answer_record(ngx_http_request_t *r,
    ngx_http_mim_dsp_ctx_t *ctx, ngx_uint_t status);
static ngx_int_t ngx_http_mim_dsp_send(ngx_http_request_t *r,
    ngx_uint_t status, char *json, size_t len);
static ngx_int_t ngx_http_mim_dsp_built(ngx_http_request_t *r,
    ngx_uint_t status, mim_result_t res, char *json, size_t len);
static ngx_int_t ngx_http_mim_dsp_fail(ngx_http_request_t *r,
    ngx_http_mim_dsp_ctx_t *ctx, ngx_uint_t status, const char *code,
    const char *reason);
static ngx_int_t ngx_http_mim_dsp_unavailable(ngx_http_request_t *r,
    ngx_http_mim_dsp_ctx_t *ctx, ngx_str_t *why);
static void ngx_http_mim_dsp_ctx_cleanup(void *data);

static char *ngx_http_mim_dsp(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_mim_dsp_callback_allow(ngx_conf_t *cf,
    ngx_command_t *cmd, void *conf);
static char *ngx_http_mim_dsp_delivery(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static void *ngx_http_mim_dsp_create_main_conf(ngx_conf_t *cf);
static void *ngx_http_mim_dsp_create_loc_conf(ngx_conf_t *cf);
static char *ngx_http_mim_dsp_merge_loc_conf(ngx_conf_t *cf, void *parent,
    void *child);
static char *ngx_http_mim_dsp_setup(ngx_conf_t *cf,
    ngx_http_mim_dsp_loc_conf_t *conf);
static void ngx_http_mim_dsp_catalog_cleanup(void *data);
static ngx_int_t ngx_http_mim_dsp_init_process(ngx_cycle_t *cycle);


static ngx_command_t  ngx_http_mim_dsp_commands[] = {

    { ngx_string("mim_dsp"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS,
      ngx_http_mim_dsp,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_mim_dsp_loc_conf_t, enable),
      NULL },

    { ngx_string("mim_dsp_version"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS,
      ngx_http_mim_dsp,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_mim_dsp_loc_conf_t, version),
      NULL },

    { ngx_string("mim_dsp_admin"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS,
      ngx_http_mim_dsp,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_mim_dsp_loc_conf_t, admin),
      NULL },

    { ngx_string("mim_dsp_catalog"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_str_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_mim_dsp_loc_conf_t, catalog_file),
      NULL },

    { ngx_string("mim_dsp_auto_agree"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_FLAG,
      ngx_conf_set_flag_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_mim_dsp_loc_conf_t, auto_agree),
      NULL },

    { ngx_string("mim_dsp_max_body"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_size_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_mim_dsp_loc_conf_t, max_body),
      NULL },

    { ngx_string("mim_dsp_url"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_str_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_mim_dsp_loc_conf_t, url),
      NULL },

    { ngx_string("mim_dsp_outbound_token"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_str_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_mim_dsp_loc_conf_t, outbound_token),
      NULL },

    { ngx_string("mim_dsp_callback_allow"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_1MORE,
      ngx_http_mim_dsp_callback_allow,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("mim_dsp_delivery"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_1MORE,
      ngx_http_mim_dsp_delivery,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("mim_dsp_zone"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_size_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_mim_dsp_loc_conf_t, zone_size),
      NULL },

    { ngx_string("mim_dsp_token_ttl"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_sec_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_mim_dsp_loc_conf_t, token_ttl),
      NULL },

    { ngx_string("mim_dsp_ssl_trusted_certificate"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_str_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_mim_dsp_loc_conf_t, ssl_trusted_certificate),
      NULL },

      ngx_null_command
};


static ngx_http_module_t  ngx_http_mim_dsp_module_ctx = {
    NULL,                                  /* preconfiguration */
    NULL,                                  /* postconfiguration */

    ngx_http_mim_dsp_create_main_conf,     /* create main configuration */
    NULL,                                  /* init main configuration */

    NULL,                                  /* create server configuration */
    NULL,                                  /* merge server configuration */

    ngx_http_mim_dsp_create_loc_conf,      /* create location configuration */
    ngx_http_mim_dsp_merge_loc_conf        /* merge location configuration */
};


ngx_module_t  ngx_http_mim_dsp_module = {
    NGX_MODULE_V1,
    &ngx_http_mim_dsp_module_ctx,          /* module context */
    ngx_http_mim_dsp_commands,             /* module directives */
    NGX_HTTP_MODULE,                       /* module type */
    NULL,                                  /* init master */
    NULL,                                  /* init module */
    ngx_http_mim_dsp_init_process,         /* init process */
    NULL,                                  /* init thread */
    NULL,                                  /* exit thread */
    NULL,                                  /* exit process */
    NULL,                                  /* exit master */
    NGX_MODULE_V1_PADDING
};


/* ---- the content handler ---------------------------------------------- */

static ngx_int_t
ngx_http_mim_dsp_handler(ngx_http_request_t *r)
{
    ngx_int_t                      rc;
    ngx_str_t                      path;
    ngx_flag_t                     admin;
    ngx_array_t                   *claims;
    ngx_pool_cleanup_t            *cln;
    ngx_http_mim_dsp_ctx_t        *ctx;
    ngx_http_core_loc_conf_t      *clcf;
    ngx_http_mim_dsp_loc_conf_t   *dlcf;
    ngx_http_mim_dsp_main_conf_t  *dmcf;

    dlcf = ngx_http_get_module_loc_conf(r, ngx_http_mim_dsp_module);
    dmcf = ngx_http_get_module_main_conf(r, ngx_http_mim_dsp_module);

    if (dlcf->version) {
        return ngx_http_mim_dsp_version_handler(r, dmcf);
    }

    ctx = ngx_pcalloc(r->pool, sizeof(ngx_http_mim_dsp_ctx_t));
    cln = ngx_pool_cleanup_add(r->pool, 0);
    if (ctx == NULL || cln == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    cln->handler = ngx_http_mim_dsp_ctx_cleanup;
    cln->data = ctx;
    ngx_http_set_ctx(r, ctx, ngx_http_mim_dsp_module);

    admin = dlcf->admin;

    /* the path under the location: "/dsp/catalog/request" -> "catalog/..." */
    clcf = ngx_http_get_module_loc_conf(r, ngx_http_core_module);
    path = r->uri;

    if (path.len >= clcf->name.len
        && ngx_strncmp(path.data, clcf->name.data, clcf->name.len) == 0)
    {
        path.data += clcf->name.len;
        path.len -= clcf->name.len;
    }

    while (path.len && path.data[0] == '/') {
        path.data++;
        path.len--;
    }

    if (ngx_http_mim_dsp_route(r, ctx, &path, admin) != NGX_OK) {
        return ctx->answered;
    }

    if (!admin) {
        if (ngx_http_mim_auth_caller(r, &ctx->party, &claims)
            != NGX_OK)
        {
            return ngx_http_mim_dsp_fail(r, ctx, NGX_HTTP_UNAUTHORIZED,
                                         "unauthorized", "this endpoint "
                                         "needs a caller identity "
                                         "(mim_auth)");
        }
    }

    if (ctx->method == NGX_HTTP_POST) {
        if (ngx_http_mim_dsp_check_body(r, ctx, dmcf->dsp) != NGX_OK) {
            return ctx->answered;
        }

        rc = ngx_http_read_client_request_body(r,
                                               ngx_http_mim_dsp_body_ready);
        if (rc >= NGX_HTTP_SPECIAL_RESPONSE) {
            return rc;
        }

        return NGX_DONE;
    }

    rc = ngx_http_discard_request_body(r);
    if (rc != NGX_OK) {
        return rc;
    }

    /* the reference of the work, released by the final answer */
    r->main->count++;

    ngx_http_mim_dsp_dispatch(r);

    return NGX_DONE;
}


static ngx_int_t
ngx_http_mim_dsp_version_handler(ngx_http_request_t *r,
    ngx_http_mim_dsp_main_conf_t *dmcf)
{
    char          *json, *path;
    size_t         len;
    mim_result_t   res;

    static const char *const  profile[] = { "client_credentials", NULL };

    if (r->method != NGX_HTTP_GET && r->method != NGX_HTTP_HEAD) {
        return NGX_HTTP_NOT_ALLOWED;
    }

    if (dmcf->dsp == NULL) {
        return NGX_HTTP_NOT_FOUND;
    }

    path = (char *) dmcf->dsp->base.data;

    /* iSHARE: OAuth 2 client credentials with a signed client assertion */
    res = mim_dsp_version_json(path, "iSHARE", "2.0", profile, &json, &len);

    return ngx_http_mim_dsp_built(r, NGX_HTTP_OK, res, json, len);
}


/*
 * Which endpoint: NGX_OK with ctx->route, ctx->method and ctx->id set, or
 * NGX_DECLINED when an answer was sent (404, 405; its rc in
 * ctx->answered).  The other checks below answer the same way.
 */
static ngx_int_t
ngx_http_mim_dsp_route(ngx_http_request_t *r, ngx_http_mim_dsp_ctx_t *ctx,
    ngx_str_t *path, ngx_flag_t admin)
{
    u_char      *slash, *end;
    ngx_str_t    rest, what;

#define ngx_http_mim_dsp_is(s, lit)                                          \
    ((s)->len == sizeof(lit) - 1                                             \
     && ngx_strncmp((s)->data, lit, sizeof(lit) - 1) == 0)
#define ngx_http_mim_dsp_starts(s, lit)                                      \
    ((s)->len > sizeof(lit) - 1                                              \
     && ngx_strncmp((s)->data, lit, sizeof(lit) - 1) == 0)

    ctx->errors = admin ? NGX_HTTP_MIM_DSP_ERR_PLAIN
                        : NGX_HTTP_MIM_DSP_ERR_NEGOTIATION;

    if (!admin && ngx_http_mim_dsp_is(path, "catalog/request")) {
        ctx->errors = NGX_HTTP_MIM_DSP_ERR_CATALOG;
        ctx->route = NGX_HTTP_MIM_DSP_CATALOG;
        ctx->method = NGX_HTTP_POST;
        goto method;
    }

    if (!admin && ngx_http_mim_dsp_starts(path, "catalog/datasets/")) {
        ctx->errors = NGX_HTTP_MIM_DSP_ERR_CATALOG;
        ctx->route = NGX_HTTP_MIM_DSP_DATASET;
        ctx->method = NGX_HTTP_GET;
        ctx->id.data = path->data + sizeof("catalog/datasets/") - 1;
        ctx->id.len = path->len - (sizeof("catalog/datasets/") - 1);
        goto method;
    }

    if (admin && ngx_http_mim_dsp_is(path, "negotiations")) {
        ctx->route = NGX_HTTP_MIM_DSP_ADMIN_LIST;
        ctx->method = NGX_HTTP_GET;
        goto method;
    }

    if (!admin && ngx_http_mim_dsp_is(path, "negotiations/request")) {
        ctx->route = NGX_HTTP_MIM_DSP_NEG_CREATE;
        ctx->method = NGX_HTTP_POST;
        goto method;
    }

    if (ngx_http_mim_dsp_starts(path, "transfers/")) {
        if (ngx_http_mim_dsp_route_transfer(ctx, path, admin) != NGX_OK) {
            goto unknown;
        }

        goto method;
    }

    if (!ngx_http_mim_dsp_starts(path, "negotiations/")) {
        goto unknown;
    }

    /* negotiations/:pid[/what] */
    rest.data = path->data + sizeof("negotiations/") - 1;
    rest.len = path->len - (sizeof("negotiations/") - 1);
    end = rest.data + rest.len;

    slash = ngx_strlchr(rest.data, end, '/');

    ctx->id.data = rest.data;
    ctx->id.len = (slash ? slash : end) - rest.data;

    if (ctx->id.len == 0 || ctx->id.len > NGX_HTTP_MIM_SHM_ID_MAX) {
        goto unknown;
    }

    if (slash == NULL) {
        ctx->route = admin ? NGX_HTTP_MIM_DSP_ADMIN_GET
                           : NGX_HTTP_MIM_DSP_NEG_GET;
        ctx->method = NGX_HTTP_GET;
        goto method;
    }

    what.data = slash + 1;
    what.len = end - what.data;
    ctx->method = NGX_HTTP_POST;

    if (admin) {
        if (ngx_http_mim_dsp_is(&what, "agree")) {
            ctx->route = NGX_HTTP_MIM_DSP_ADMIN_AGREE;

        } else if (ngx_http_mim_dsp_is(&what, "terminate")) {
            ctx->route = NGX_HTTP_MIM_DSP_ADMIN_TERMINATE;

        } else {
            goto unknown;
        }

    } else if (ngx_http_mim_dsp_is(&what, "request")) {
        ctx->route = NGX_HTTP_MIM_DSP_NEG_REQUEST;

    } else if (ngx_http_mim_dsp_is(&what, "events")) {
        ctx->route = NGX_HTTP_MIM_DSP_NEG_EVENT;

    } else if (ngx_http_mim_dsp_is(&what, "agreement/verification")) {
        ctx->route = NGX_HTTP_MIM_DSP_NEG_VERIFY;

    } else if (ngx_http_mim_dsp_is(&what, "termination")) {
        ctx->route = NGX_HTTP_MIM_DSP_NEG_TERMINATE;

    } else {
        goto unknown;
    }

method:

    if (r->method == ctx->method
        || (ctx->method == NGX_HTTP_GET && r->method == NGX_HTTP_HEAD))
    {
        return NGX_OK;
    }

    ctx->answered = ngx_http_mim_dsp_fail(r, ctx, NGX_HTTP_NOT_ALLOWED,
                                          "method-not-allowed",
                                          ctx->method == NGX_HTTP_GET
                                          ? "this endpoint answers GET"
                                          : "this endpoint answers POST");
    return NGX_DECLINED;

unknown:

    ctx->errors = NGX_HTTP_MIM_DSP_ERR_PLAIN;
    ctx->answered = ngx_http_mim_dsp_fail(r, ctx, NGX_HTTP_NOT_FOUND,
                                          "not-found", "no such Dataspace "
                                          "Protocol endpoint");
    return NGX_DECLINED;

#undef ngx_http_mim_dsp_is
#undef ngx_http_mim_dsp_starts
}


/* application/json (or a +json type) and not over mim_dsp_max_body */
static ngx_int_t
ngx_http_mim_dsp_check_body(ngx_http_request_t *r,
    ngx_http_mim_dsp_ctx_t *ctx, ngx_http_mim_dsp_loc_conf_t *dsp)
{
    u_char           *p, *last;
    ngx_str_t         type;
    ngx_table_elt_t  *h;

    h = r->headers_in.content_type;

    if (h == NULL) {
        /* an operator's decision may come without a body */
        if (ctx->route == NGX_HTTP_MIM_DSP_ADMIN_AGREE
            || ctx->route == NGX_HTTP_MIM_DSP_ADMIN_TERMINATE
            || ngx_http_mim_dsp_is_admin_tp(ctx->route))
        {
            goto size;
        }

        goto unsupported;
    }

    type = h->value;
    last = ngx_strlchr(type.data, type.data + type.len, ';');
    if (last == NULL) {
        last = type.data + type.len;
    }

    while (last > type.data && last[-1] == ' ') {
        last--;
    }

    type.len = last - type.data;
    p = type.data + type.len;

    if (!((type.len == sizeof("application/json") - 1
           && ngx_strncasecmp(type.data, (u_char *) "application/json",
                              type.len) == 0)
          || (type.len > sizeof("application/+json") - 1
              && ngx_strncasecmp(type.data, (u_char *) "application/",
                                 sizeof("application/") - 1) == 0
              && ngx_strncasecmp(p - 5, (u_char *) "+json", 5) == 0)))
    {
        goto unsupported;
    }

size:

    if (r->headers_in.content_length_n > (off_t) dsp->max_body) {
        ctx->answered = ngx_http_mim_dsp_fail(r, ctx,
                                              NGX_HTTP_REQUEST_ENTITY_TOO_LARGE,
                                              "too-large", "the message is "
                                              "larger than mim_dsp_max_body");
        return NGX_DECLINED;
    }

    return NGX_OK;

unsupported:

    ctx->answered = ngx_http_mim_dsp_fail(r, ctx,
                                          NGX_HTTP_UNSUPPORTED_MEDIA_TYPE,
                                          "unsupported-media-type",
                                          "the message must be sent as "
                                          "application/json");
    return NGX_DECLINED;
}


/* the body is read: join it, then do the work */
static void
ngx_http_mim_dsp_body_ready(ngx_http_request_t *r)
{
    u_char                        *p;
    size_t                         len;
    ngx_chain_t                   *cl;
    ngx_http_mim_dsp_ctx_t        *ctx;
    ngx_http_mim_dsp_main_conf_t  *dmcf;

    ctx = ngx_http_get_module_ctx(r, ngx_http_mim_dsp_module);
    dmcf = ngx_http_get_module_main_conf(r, ngx_http_mim_dsp_module);

    if (r->request_body == NULL || r->request_body->temp_file) {
        ngx_http_finalize_request(r,
            ngx_http_mim_dsp_fail(r, ctx, NGX_HTTP_REQUEST_ENTITY_TOO_LARGE,
                                  "too-large", "the message is larger than "
                                  "mim_dsp_max_body"));
        return;
    }

    len = 0;

    for (cl = r->request_body->bufs; cl; cl = cl->next) {
        len += cl->buf->last - cl->buf->pos;
    }

    if (len > dmcf->dsp->max_body) {
        ngx_http_finalize_request(r,
            ngx_http_mim_dsp_fail(r, ctx, NGX_HTTP_REQUEST_ENTITY_TOO_LARGE,
                                  "too-large", "the message is larger than "
                                  "mim_dsp_max_body"));
        return;
    }

    p = ngx_pnalloc(r->pool, len + 1);
    if (p == NULL) {
        ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    ctx->body.data = p;
    ctx->body.len = len;

    for (cl = r->request_body->bufs; cl; cl = cl->next) {
        p = ngx_cpymem(p, cl->buf->pos, cl->buf->last - cl->buf->pos);
    }

    *p = '\0';

    ngx_http_mim_dsp_dispatch(r);
}


/* parse the message a route expects; NGX_OK, or NGX_DECLINED: answered */
static ngx_int_t
ngx_http_mim_dsp_parse(ngx_http_request_t *r, ngx_http_mim_dsp_ctx_t *ctx,
    mim_dsp_msg_type_t type)
{
    mim_result_t  res;

    res = mim_dsp_msg_parse(&ctx->msg, type, (char *) ctx->body.data,
                            ctx->body.len);
    if (!mim_ok(res)) {
        ctx->answered = ngx_http_mim_dsp_fail(r, ctx, NGX_HTTP_BAD_REQUEST,
                                              "invalid-message", res.msg);
        return NGX_DECLINED;
    }

    return NGX_OK;
}


/*
 * Do what the route asks.  Finalizes the request, or leaves it to a Redis
 * command's callback.
 */
static void
ngx_http_mim_dsp_dispatch(ngx_http_request_t *r)
{
    ngx_int_t                      rc;
    mim_result_t                   res;
    ngx_http_mim_dsp_ctx_t        *ctx;
    ngx_http_mim_dsp_loc_conf_t   *dsp;
    ngx_http_mim_dsp_main_conf_t  *dmcf;

    static const mim_dsp_msg_type_t  types[] = {
        [NGX_HTTP_MIM_DSP_NEG_REQUEST] = MIM_DSP_MSG_CONTRACT_REQUEST,
        [NGX_HTTP_MIM_DSP_NEG_EVENT] = MIM_DSP_MSG_NEGOTIATION_EVENT,
        [NGX_HTTP_MIM_DSP_NEG_VERIFY] = MIM_DSP_MSG_AGREEMENT_VERIFICATION,
        [NGX_HTTP_MIM_DSP_NEG_TERMINATE] =
                                        MIM_DSP_MSG_NEGOTIATION_TERMINATION
    };

    ctx = ngx_http_get_module_ctx(r, ngx_http_mim_dsp_module);
    dmcf = ngx_http_get_module_main_conf(r, ngx_http_mim_dsp_module);
    dsp = dmcf->dsp;

    switch (ctx->route) {

    case NGX_HTTP_MIM_DSP_CATALOG:
        rc = ngx_http_mim_dsp_catalog(r, ctx, dsp);
        break;

    case NGX_HTTP_MIM_DSP_DATASET:
        rc = ngx_http_mim_dsp_dataset(r, ctx, dsp);
        break;

    case NGX_HTTP_MIM_DSP_NEG_CREATE:
        rc = ngx_http_mim_dsp_create(r, ctx, dsp);
        break;

    case NGX_HTTP_MIM_DSP_NEG_REQUEST:
    case NGX_HTTP_MIM_DSP_NEG_EVENT:
    case NGX_HTTP_MIM_DSP_NEG_VERIFY:
    case NGX_HTTP_MIM_DSP_NEG_TERMINATE:
        if (ngx_http_mim_dsp_parse(r, ctx, types[ctx->route]) != NGX_OK) {
            rc = ctx->answered;
            break;
        }

        if (ctx->msg.provider_pid == NULL
            || ngx_strlen(ctx->msg.provider_pid) != ctx->id.len
            || ngx_strncmp(ctx->msg.provider_pid, ctx->id.data, ctx->id.len)
               != 0)
        {
            rc = ngx_http_mim_dsp_fail(r, ctx, NGX_HTTP_BAD_REQUEST,
                                       "invalid-message", "providerPid: not "
                                       "the negotiation of the path");
            break;
        }

        rc = ngx_http_mim_dsp_load(r, ctx);
        break;

    case NGX_HTTP_MIM_DSP_ADMIN_TERMINATE:
        res = mim_dsp_decision_parse((char *) ctx->body.data, ctx->body.len,
                                     &ctx->decision_code,
                                     &ctx->decision_reason);
        if (!mim_ok(res)) {
            rc = ngx_http_mim_dsp_fail(r, ctx, NGX_HTTP_BAD_REQUEST,
                                       "invalid-decision", res.msg);
            break;
        }

        rc = ngx_http_mim_dsp_load(r, ctx);
        break;

    case NGX_HTTP_MIM_DSP_NEG_GET:
    case NGX_HTTP_MIM_DSP_ADMIN_GET:
    case NGX_HTTP_MIM_DSP_ADMIN_AGREE:
        rc = ngx_http_mim_dsp_load(r, ctx);
        break;

    case NGX_HTTP_MIM_DSP_ADMIN_LIST:
        rc = ngx_http_mim_dsp_admin_list(r, ctx);
        break;

    default:
        rc = ngx_http_mim_dsp_tp_dispatch(r, ctx, dsp);
        break;
    }

    if (rc == NGX_DONE) {
        return;     /* a Redis command carries the request on */
    }

    ngx_http_finalize_request(r, rc);
}


/* ---- catalog ------------------------------------------------------------ */

/* the DSP endpoint's URL: mim_dsp_url, or the request's scheme and Host */
static ngx_int_t
ngx_http_mim_dsp_url(ngx_http_request_t *r, ngx_http_mim_dsp_loc_conf_t *dsp,
    ngx_str_t *url)
{
    u_char     *p;
    ngx_str_t   host, scheme;

    if (dsp->url.len) {
        *url = dsp->url;
        return NGX_OK;
    }

    if (r->headers_in.host) {
        host = r->headers_in.host->value;

    } else {
        host = r->headers_in.server;
    }

#if (NGX_HTTP_SSL)
    if (r->connection->ssl) {
        ngx_str_set(&scheme, "https");
    } else
#endif
    {
        ngx_str_set(&scheme, "http");
    }

    url->len = scheme.len + sizeof("://") - 1 + host.len + dsp->base.len;
    url->data = ngx_pnalloc(r->pool, url->len + 1);
    if (url->data == NULL) {
        return NGX_ERROR;
    }

    p = ngx_cpymem(url->data, scheme.data, scheme.len);
    p = ngx_cpymem(p, "://", 3);
    p = ngx_cpymem(p, host.data, host.len);
    p = ngx_cpymem(p, dsp->base.data, dsp->base.len);
    *p = '\0';

    return NGX_OK;
}


static ngx_int_t
ngx_http_mim_dsp_catalog(ngx_http_request_t *r, ngx_http_mim_dsp_ctx_t *ctx,
    ngx_http_mim_dsp_loc_conf_t *dsp)
{
    char          *json;
    size_t         len;
    ngx_str_t      url;
    mim_result_t   res;

    if (ngx_http_mim_dsp_parse(r, ctx, MIM_DSP_MSG_CATALOG_REQUEST)
        != NGX_OK)
    {
        return ctx->answered;
    }

    if (ctx->msg.has_filter) {
        return ngx_http_mim_dsp_fail(r, ctx, NGX_HTTP_BAD_REQUEST,
                                     "filter-unsupported", "this catalog "
                                     "does not support filter: ask "
                                     "without one");
    }

    if (dsp->catalog_json.len) {
        return ngx_http_mim_send_json(r, NGX_HTTP_OK, &dsp->catalog_json);
    }

    if (ngx_http_mim_dsp_url(r, dsp, &url) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    res = mim_dsp_catalog_json(dsp->catalog,
                               (char *) dsp->participant_id.data,
                               (char *) url.data, &json, &len);

    return ngx_http_mim_dsp_built(r, NGX_HTTP_OK, res, json, len);
}


static ngx_int_t
ngx_http_mim_dsp_dataset(ngx_http_request_t *r, ngx_http_mim_dsp_ctx_t *ctx,
    ngx_http_mim_dsp_loc_conf_t *dsp)
{
    char          *json;
    size_t         len;
    ngx_str_t      url, id;
    mim_result_t   res;

    if (ngx_http_mim_dsp_url(r, dsp, &url) != NGX_OK
        || ngx_http_mim_dsp_pstr(r->pool, &id, (char *) ctx->id.data,
                                 ctx->id.len)
           != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    res = mim_dsp_dataset_json(dsp->catalog, (char *) id.data,
                               (char *) url.data, &json, &len);

    if (res.code == MIM_ERR_NOT_FOUND) {
        return ngx_http_mim_dsp_fail(r, ctx, NGX_HTTP_NOT_FOUND,
                                     "unknown-dataset", res.msg);
    }

    return ngx_http_mim_dsp_built(r, NGX_HTTP_OK, res, json, len);
}


/* ---- a new negotiation ------------------------------------------------ */

static ngx_int_t
ngx_http_mim_dsp_create(ngx_http_request_t *r, ngx_http_mim_dsp_ctx_t *ctx,
    ngx_http_mim_dsp_loc_conf_t *dsp)
{
    if (ngx_http_mim_dsp_parse(r, ctx, MIM_DSP_MSG_CONTRACT_REQUEST)
        != NGX_OK)
    {
        return ctx->answered;
    }

    if (ctx->msg.provider_pid || ctx->msg.callback_address == NULL) {
        return ngx_http_mim_dsp_fail(r, ctx, NGX_HTTP_BAD_REQUEST,
                                     "invalid-message", "a first "
                                     "ContractRequestMessage has a "
                                     "callbackAddress and no providerPid");
    }

    return ngx_http_mim_dsp_judge_callback(r, ctx, dsp,
                                           ctx->msg.callback_address);
}


/*
 * The callback address of a first message: judged at once (an IP literal)
 * or once resolved (a name); the request goes on when it is allowed.
 */
static ngx_int_t
ngx_http_mim_dsp_judge_callback(ngx_http_request_t *r,
    ngx_http_mim_dsp_ctx_t *ctx, ngx_http_mim_dsp_loc_conf_t *dsp,
    const char *address)
{
    ngx_str_t  why;

    switch (ngx_http_mim_dsp_check_callback(r, dsp, address, &why)) {

    case NGX_OK:
        return ngx_http_mim_dsp_callback_allowed(r, ctx, dsp);

    case NGX_AGAIN:
        return ngx_http_mim_dsp_resolve_callback(r, ctx, dsp, address);

    case NGX_DECLINED:
        return ngx_http_mim_dsp_fail(r, ctx, NGX_HTTP_BAD_REQUEST,
                                     "invalid-callback", (char *) why.data);

    default:
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }
}


/* what a first message does once its callback address is allowed */
static ngx_int_t
ngx_http_mim_dsp_callback_allowed(ngx_http_request_t *r,
    ngx_http_mim_dsp_ctx_t *ctx, ngx_http_mim_dsp_loc_conf_t *dsp)
{
    if (ctx->route == NGX_HTTP_MIM_DSP_TP_CREATE) {
        return ngx_http_mim_dsp_tp_agreement_load(r, ctx);
    }

    return ngx_http_mim_dsp_negotiate(r, ctx, dsp);
}


/*
 * A callback host name: resolved now (the location's resolver) and
 * judged by mim_dsp_callback_allow, without a connection; the
 * negotiation goes on when it is allowed.  (Each delivery resolves and
 * judges again: an answer may change.)
 */
static ngx_int_t
ngx_http_mim_dsp_resolve_callback(ngx_http_request_t *r,
    ngx_http_mim_dsp_ctx_t *ctx, ngx_http_mim_dsp_loc_conf_t *dsp,
    const char *address)
{
    ngx_str_t                      reason;
    ngx_http_mim_client_request_t  req;

    ngx_memzero(&req, sizeof(ngx_http_mim_client_request_t));

    req.url.data = (u_char *) address;
    req.url.len = ngx_strlen(address);
    req.timeout = dsp->timeout;
    req.resolver = dsp->resolver;
    req.resolver_timeout = dsp->resolver_timeout;
    req.ssl = dsp->ssl;
    req.policy = &dsp->callback_policy;
    req.log = r->connection->log;
    req.check_only = 1;

    ctx->checking = ngx_http_mim_client_post(&req,
                                             ngx_http_mim_dsp_callback_checked,
                                             r, &reason);
    if (ctx->checking == NULL) {
        return ngx_http_mim_dsp_fail(r, ctx, NGX_HTTP_BAD_REQUEST,
                                     "invalid-callback",
                                     (char *) reason.data);
    }

    return NGX_DONE;
}


static void
ngx_http_mim_dsp_callback_checked(void *data, ngx_uint_t status,
    ngx_str_t *reason)
{
    ngx_http_request_t *r = data;

    u_char                        *p;
    ngx_int_t                      rc;
    ngx_connection_t              *c;
    ngx_http_mim_dsp_ctx_t        *ctx;
    ngx_http_mim_dsp_main_conf_t  *dmcf;

    c = r->connection;
    ctx = ngx_http_get_module_ctx(r, ngx_http_mim_dsp_module);
    dmcf = ngx_http_get_module_main_conf(r, ngx_http_mim_dsp_module);

    ctx->checking = NULL;

    if (status == NGX_HTTP_OK) {
        rc = ngx_http_mim_dsp_callback_allowed(r, ctx, dmcf->dsp);

    } else {
        p = ngx_pnalloc(r->pool, sizeof("callbackAddress: ") + reason->len);
        if (p == NULL) {
            rc = NGX_HTTP_INTERNAL_SERVER_ERROR;

        } else {
            ngx_sprintf(p, "callbackAddress: %V%Z", reason);
            rc = ngx_http_mim_dsp_fail(r, ctx, NGX_HTTP_BAD_REQUEST,
                                       "invalid-callback", (char *) p);
        }
    }

    if (rc != NGX_DONE) {
        ngx_http_finalize_request(r, rc);
    }

    ngx_http_run_posted_requests(c);
}


/* a first request whose callback address is fine: the offer decides */
static ngx_int_t
ngx_http_mim_dsp_negotiate(ngx_http_request_t *r, ngx_http_mim_dsp_ctx_t *ctx,
    ngx_http_mim_dsp_loc_conf_t *dsp)
{
    int                     permitted;
    char                    pid[MIM_DSP_UUID_LEN];
    char                    reasons[NGX_HTTP_MIM_DSP_REASONS_MAX];
    size_t                  nclaims;
    ngx_int_t               rc;
    mim_claim_t            *claims;
    mim_result_t            res;
    mim_dsp_neg_t          *neg;
    mim_dsp_offer_match_t   match;
    const mim_dsp_offer_t  *offer;

    res = mim_dsp_catalog_match(dsp->catalog, &ctx->msg, &offer, &match);
    if (!mim_ok(res) && match != MIM_DSP_OFFER_COUNTER) {
        return ngx_http_mim_dsp_fail(r, ctx, NGX_HTTP_BAD_REQUEST,
                                     "unknown-offer", res.msg);
    }

    if (match == MIM_DSP_OFFER_UNKNOWN) {
        return ngx_http_mim_dsp_fail(r, ctx, NGX_HTTP_BAD_REQUEST,
                                     "unknown-offer", res.msg);
    }

    if (match == MIM_DSP_OFFER_COUNTER) {
        ngx_str_set(&ctx->change.add_kind, NGX_HTTP_MIM_DSP_JOB_TERMINATE);
        ngx_str_set(&ctx->change.code, "counter-offer");
        if (ngx_http_mim_dsp_pstr(r->pool, &ctx->change.reason, res.msg,
                                  ngx_strlen(res.msg))
            != NGX_OK)
        {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }
    }

    res = mim_dsp_new_urn_uuid(pid);
    if (!mim_ok(res)) {
        ngx_log_error(NGX_LOG_ALERT, r->connection->log, 0,
                      "mim dsp: %s", res.msg);
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    neg = &ctx->neg;
    neg->provider_pid = strdup(pid);
    neg->consumer_pid = strdup(ctx->msg.consumer_pid);
    neg->consumer = strndup((char *) ctx->party.data, ctx->party.len);
    neg->callback_address = strdup(ctx->msg.callback_address);
    neg->dataset = strdup(mim_dsp_offer_dataset(offer));
    neg->offer_id = strdup(mim_dsp_offer_id(offer));
    neg->state = MIM_DSP_NEG_REQUESTED;
    neg->created = ngx_time();
    neg->updated = neg->created;

    if (neg->provider_pid == NULL || neg->consumer_pid == NULL
        || neg->consumer == NULL || neg->callback_address == NULL
        || neg->dataset == NULL || neg->offer_id == NULL)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (match == MIM_DSP_OFFER_COUNTER) {
        goto write;             /* terminated with the reason, above */
    }

    if (ngx_http_mim_auth_policy_claims(r, &claims, &nclaims) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    res = mim_dsp_offer_check(offer, neg->consumer, claims, nclaims,
                              ngx_time(), &permitted, reasons,
                              sizeof(reasons));
    if (!mim_ok(res)) {
        ngx_log_error(NGX_LOG_ALERT, r->connection->log, 0,
                      "mim dsp: offer \"%s\": %s", neg->offer_id, res.msg);
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (!permitted) {
        ngx_str_set(&ctx->change.add_kind, NGX_HTTP_MIM_DSP_JOB_TERMINATE);
        ngx_str_set(&ctx->change.code, "policy");
        ctx->change.reason.len = sizeof("the offer's policy does not permit "
                                        "this consumer: ") - 1
                                 + ngx_strlen(reasons);
        ctx->change.reason.data = ngx_pnalloc(r->pool,
                                              ctx->change.reason.len + 1);
        if (ctx->change.reason.data == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        ngx_sprintf(ctx->change.reason.data, "the offer's policy does not "
                    "permit this consumer: %s%Z", reasons);
        goto write;
    }

    if (dsp->auto_agree) {
        rc = ngx_http_mim_dsp_agree(r, ctx, dsp, offer);
        if (rc != NGX_OK) {
            return rc;
        }

    } else {
        ctx->change.pending = 1;     /* an operator decides */
    }

write:

    ctx->status = NGX_HTTP_CREATED;

    return ngx_http_mim_dsp_write(r, ctx);
}


/*
 * A callback address must be http(s); an IP literal (or localhost) is
 * judged at once by mim_dsp_callback_allow: NGX_OK, NGX_DECLINED with the
 * reason, or NGX_AGAIN for a host name, which must be resolved first.
 */
static ngx_int_t
ngx_http_mim_dsp_check_callback(ngx_http_request_t *r,
    ngx_http_mim_dsp_loc_conf_t *dsp, const char *address, ngx_str_t *reason)
{
    size_t               len;
    u_char              *p;
    ngx_int_t            rc;
    ngx_str_t            why;
    ngx_addr_t           addr;
    mim_result_t         res;
    mim_dsp_url_t        url;
    struct sockaddr_in   sin;

    ngx_memzero(&url, sizeof(mim_dsp_url_t));

    res = mim_dsp_url_parse(&url, address, ngx_strlen(address));
    if (!mim_ok(res)) {
        mim_dsp_url_free(&url);
        why.data = (u_char *) res.msg;
        why.len = ngx_strlen(res.msg);
        goto refused;
    }

    len = ngx_strlen(url.host);

    if ((len == sizeof("localhost") - 1
         && ngx_strcasecmp((u_char *) url.host, (u_char *) "localhost") == 0)
        || (len > sizeof(".localhost") - 1
            && ngx_strcasecmp((u_char *) url.host + len
                              - (sizeof(".localhost") - 1),
                              (u_char *) ".localhost") == 0))
    {
        /* RFC 6761: localhost is loopback, whatever a resolver says */
        ngx_memzero(&sin, sizeof(struct sockaddr_in));
        sin.sin_family = AF_INET;
        sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        addr.sockaddr = (struct sockaddr *) &sin;
        addr.socklen = sizeof(struct sockaddr_in);
        rc = NGX_OK;

    } else {
        rc = ngx_parse_addr(r->pool, &addr, (u_char *) url.host, len);
    }

    mim_dsp_url_free(&url);

    if (rc == NGX_ERROR) {
        return NGX_ERROR;
    }

    if (rc == NGX_DECLINED) {
        return NGX_AGAIN;           /* a name: to be resolved */
    }

    if (ngx_http_mim_client_addr_allowed(&dsp->callback_policy,
                                         addr.sockaddr, addr.socklen, &why)
        == NGX_OK)
    {
        return NGX_OK;
    }

refused:

    len = sizeof("callbackAddress: ") - 1 + why.len;

    p = ngx_pnalloc(r->pool, len + 1);
    if (p == NULL) {
        return NGX_ERROR;
    }

    ngx_sprintf(p, "callbackAddress: %V%Z", &why);
    reason->data = p;
    reason->len = len;

    return NGX_DECLINED;
}


/* give the negotiation its Agreement and queue the ContractAgreementMessage */
static ngx_int_t
ngx_http_mim_dsp_agree(ngx_http_request_t *r, ngx_http_mim_dsp_ctx_t *ctx,
    ngx_http_mim_dsp_loc_conf_t *dsp, const mim_dsp_offer_t *offer)
{
    char            id[MIM_DSP_UUID_LEN];
    size_t          len;
    mim_result_t    res;
    mim_dsp_neg_t  *neg = &ctx->neg;

    res = mim_dsp_new_urn_uuid(id);
    if (mim_ok(res)) {
        free(neg->agreement_json);
        neg->agreement_json = NULL;
        res = mim_dsp_agreement_json(offer, id,
                                     (char *) dsp->participant_id.data,
                                     neg->consumer, ngx_time(),
                                     &neg->agreement_json, &len);
    }

    if (!mim_ok(res)) {
        ngx_log_error(NGX_LOG_ALERT, r->connection->log, 0,
                      "mim dsp: the agreement of \"%s\": %s",
                      neg->provider_pid, res.msg);
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    free(neg->agreement_id);
    neg->agreement_id = strdup(id);
    if (neg->agreement_id == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_str_set(&ctx->change.add_kind, NGX_HTTP_MIM_DSP_JOB_AGREEMENT);

    return NGX_OK;
}


/* ---- an existing negotiation ----------------------------------------- */

/* read the record of ctx->id; the callback goes on */
static ngx_int_t
ngx_http_mim_dsp_load(ngx_http_request_t *r, ngx_http_mim_dsp_ctx_t *ctx)
{
    ngx_int_t  rc;
    ngx_str_t  argv[2], why;

    ngx_str_set(&argv[0], "GET");

    argv[1].len = sizeof(NGX_HTTP_MIM_DSP_NEG_PREFIX) - 1 + ctx->id.len;
    argv[1].data = ngx_pnalloc(r->pool, argv[1].len);
    if (argv[1].data == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_sprintf(argv[1].data, NGX_HTTP_MIM_DSP_NEG_PREFIX "%V", &ctx->id);

    rc = ngx_http_mim_dsp_store(r, NULL, NGX_HTTP_MIM_DSP_OP_GET, 2, argv,
                                ngx_http_mim_dsp_loaded, NULL, ctx, &why);

    switch (rc) {

    case NGX_OK:
        return NGX_DONE;

    case NGX_BUSY:
        if (ctx->route == NGX_HTTP_MIM_DSP_NEG_GET
            || ctx->route == NGX_HTTP_MIM_DSP_ADMIN_GET)
        {
            /* Redis is down: what this node has seen still answers */
            return ngx_http_mim_dsp_unavailable(r, ctx, &why);
        }

        return ngx_http_mim_dsp_fail(r, ctx, NGX_HTTP_SERVICE_UNAVAILABLE,
                                     "unavailable", (char *) why.data);

    default:
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }
}


static void
ngx_http_mim_dsp_loaded(ngx_http_request_t *r, void *data,
    ngx_http_mim_redis_reply_t *reply)
{
    ngx_http_mim_dsp_ctx_t *ctx = data;

    ngx_int_t                      rc;
    mim_result_t                   res;
    ngx_http_mim_dsp_main_conf_t  *dmcf;

    dmcf = ngx_http_get_module_main_conf(r, ngx_http_mim_dsp_module);

    if (reply->type == NGX_HTTP_MIM_REDIS_FAILED
        || reply->type == NGX_HTTP_MIM_REDIS_ERROR)
    {
        if (ctx->route == NGX_HTTP_MIM_DSP_NEG_GET
            || ctx->route == NGX_HTTP_MIM_DSP_ADMIN_GET)
        {
            rc = ngx_http_mim_dsp_unavailable(r, ctx, &reply->str);

        } else {
            rc = ngx_http_mim_dsp_fail(r, ctx, NGX_HTTP_SERVICE_UNAVAILABLE,
                                       "unavailable",
                                       (char *) reply->str.data);
        }

        goto done;
    }

    if (reply->type != NGX_HTTP_MIM_REDIS_STRING) {
        rc = ngx_http_mim_dsp_fail(r, ctx, NGX_HTTP_NOT_FOUND, "not-found",
                                   "no such negotiation");
        goto done;
    }

    ctx->old = reply->str;

    mim_dsp_neg_free(&ctx->neg);
    res = mim_dsp_neg_from_json(&ctx->neg, (char *) ctx->old.data,
                                ctx->old.len);
    if (!mim_ok(res)) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "mim dsp: the record of \"%V\" in Redis is invalid: "
                      "%s", &ctx->id, res.msg);
        rc = ngx_http_mim_dsp_fail(r, ctx, NGX_HTTP_INTERNAL_SERVER_ERROR,
                                   "invalid-record", "the negotiation's "
                                   "record is invalid");
        goto done;
    }

    ngx_http_mim_dsp_cache_put(dmcf->dsp->zone,
                               NGX_HTTP_MIM_SHM_KIND_DSP_NEG,
                               ctx->neg.provider_pid, &ctx->old);

    /* somebody else's negotiation does not exist for this caller */
    if (ctx->party.len
        && (ngx_strlen(ctx->neg.consumer) != ctx->party.len
            || ngx_strncmp(ctx->neg.consumer, ctx->party.data,
                           ctx->party.len) != 0))
    {
        rc = ngx_http_mim_dsp_fail(r, ctx, NGX_HTTP_NOT_FOUND, "not-found",
                                   "no such negotiation");
        goto done;
    }

    switch (ctx->route) {

    case NGX_HTTP_MIM_DSP_NEG_GET:
        rc = ngx_http_mim_dsp_answer_record(r, ctx, NGX_HTTP_OK);
        break;

    case NGX_HTTP_MIM_DSP_ADMIN_GET:
        rc = ngx_http_mim_send_json(r, NGX_HTTP_OK, &ctx->old);
        break;

    case NGX_HTTP_MIM_DSP_ADMIN_AGREE:
    case NGX_HTTP_MIM_DSP_ADMIN_TERMINATE:
        rc = ngx_http_mim_dsp_admin_change(r, ctx, dmcf->dsp);
        break;

    default:
        rc = ngx_http_mim_dsp_change(r, ctx, dmcf->dsp);
        break;
    }

done:

    if (rc != NGX_DONE) {
        ngx_http_finalize_request(r, rc);
    }
}


/* a consumer's message to its negotiation: the state machine decides */
static ngx_int_t
ngx_http_mim_dsp_change(ngx_http_request_t *r, ngx_http_mim_dsp_ctx_t *ctx,
    ngx_http_mim_dsp_loc_conf_t *dsp)
{
    mim_result_t          res;
    mim_dsp_neg_t        *neg = &ctx->neg;
    mim_dsp_neg_msg_t     msg;
    mim_dsp_neg_state_t   next;

    if (ngx_strcmp(neg->consumer_pid, ctx->msg.consumer_pid) != 0) {
        return ngx_http_mim_dsp_fail(r, ctx, NGX_HTTP_BAD_REQUEST,
                                     "invalid-message", "consumerPid: not "
                                     "the one of this negotiation");
    }

    switch (ctx->route) {

    case NGX_HTTP_MIM_DSP_NEG_REQUEST:
        msg = MIM_DSP_NEG_MSG_REQUEST;
        break;

    case NGX_HTTP_MIM_DSP_NEG_EVENT:
        msg = ctx->msg.event == MIM_DSP_EVENT_FINALIZED
              ? MIM_DSP_NEG_MSG_FINALIZED : MIM_DSP_NEG_MSG_ACCEPTED;
        break;

    case NGX_HTTP_MIM_DSP_NEG_VERIFY:
        msg = MIM_DSP_NEG_MSG_VERIFICATION;
        break;

    default: /* NGX_HTTP_MIM_DSP_NEG_TERMINATE */
        msg = MIM_DSP_NEG_MSG_TERMINATION;
        break;
    }

    res = mim_dsp_neg_next(neg->state, msg, MIM_DSP_BY_CONSUMER, &next);
    if (!mim_ok(res)) {
        return ngx_http_mim_dsp_fail(r, ctx, NGX_HTTP_BAD_REQUEST,
                                     "invalid-transition", res.msg);
    }

    ngx_memzero(&ctx->change, sizeof(ngx_http_mim_dsp_change_t));

    switch (msg) {

    case MIM_DSP_NEG_MSG_VERIFICATION:
        ngx_str_set(&ctx->change.add_kind, NGX_HTTP_MIM_DSP_JOB_FINALIZE);
        break;

    case MIM_DSP_NEG_MSG_TERMINATION:
        free(neg->code);
        free(neg->reason);
        neg->code = ctx->msg.code ? strdup(ctx->msg.code) : NULL;
        neg->reason = ctx->msg.reason_json ? strdup(ctx->msg.reason_json)
                                           : strdup("terminated by the "
                                                    "consumer");
        ctx->change.pending = -1;
        break;

    case MIM_DSP_NEG_MSG_REQUEST:
        /* a counter-offer after our offer: we make no offers (yet) */
        ngx_str_set(&ctx->change.add_kind, NGX_HTTP_MIM_DSP_JOB_TERMINATE);
        ngx_str_set(&ctx->change.code, "counter-offer");
        ngx_str_set(&ctx->change.reason, "counter-offers are not "
                    "negotiated by this provider");
        break;

    default:
        break;
    }

    neg->state = next;
    neg->updated = ngx_time();
    ctx->status = NGX_HTTP_OK;

    return ngx_http_mim_dsp_write(r, ctx);
}


/* an operator's decision on a negotiation waiting in REQUESTED */
static ngx_int_t
ngx_http_mim_dsp_admin_change(ngx_http_request_t *r,
    ngx_http_mim_dsp_ctx_t *ctx, ngx_http_mim_dsp_loc_conf_t *dsp)
{
    ngx_int_t               rc;
    mim_dsp_neg_t          *neg = &ctx->neg;
    const mim_dsp_offer_t  *offer;

    if (neg->state != MIM_DSP_NEG_REQUESTED || neg->agreement_id != NULL) {
        return ngx_http_mim_dsp_fail(r, ctx, NGX_HTTP_CONFLICT,
                                     "not-pending", "the negotiation does "
                                     "not wait for a decision");
    }

    ngx_memzero(&ctx->change, sizeof(ngx_http_mim_dsp_change_t));
    ctx->change.pending = -1;
    ctx->status = NGX_HTTP_OK;

    if (ctx->route == NGX_HTTP_MIM_DSP_ADMIN_TERMINATE) {
        ngx_str_set(&ctx->change.add_kind, NGX_HTTP_MIM_DSP_JOB_TERMINATE);

        if (ctx->decision_code) {
            ctx->change.code.data = (u_char *) ctx->decision_code;
            ctx->change.code.len = ngx_strlen(ctx->decision_code);

        } else {
            ngx_str_set(&ctx->change.code, "declined");
        }

        if (ctx->decision_reason) {
            ctx->change.reason.data = (u_char *) ctx->decision_reason;
            ctx->change.reason.len = ngx_strlen(ctx->decision_reason);

        } else {
            ngx_str_set(&ctx->change.reason, "declined by the provider");
        }

        return ngx_http_mim_dsp_write(r, ctx);
    }

    offer = mim_dsp_catalog_offer(dsp->catalog, neg->offer_id);
    if (offer == NULL) {
        return ngx_http_mim_dsp_fail(r, ctx, NGX_HTTP_CONFLICT,
                                     "offer-withdrawn", "the catalog no "
                                     "longer has the offer");
    }

    rc = ngx_http_mim_dsp_agree(r, ctx, dsp, offer);
    if (rc != NGX_OK) {
        return rc;
    }

    return ngx_http_mim_dsp_write(r, ctx);
}


/* ---- writing: one atomic change ----------------------------------------- */

/* write ctx->neg, or ctx->tp on a transfer's route; the callback goes on */
static ngx_int_t
ngx_http_mim_dsp_write(ngx_http_request_t *r, ngx_http_mim_dsp_ctx_t *ctx)
{
    char          *json, *id;
    size_t         len;
    ngx_int_t      rc;
    ngx_str_t      argv[20], why, pid;
    ngx_uint_t     argc;
    ngx_flag_t     transfer;
    mim_result_t   res;

    transfer = ngx_http_mim_dsp_is_transfer(ctx->route);

    if (transfer) {
        res = mim_dsp_tp_to_json(&ctx->tp, &json, &len);
        id = ctx->tp.provider_pid;

    } else {
        res = mim_dsp_neg_to_json(&ctx->neg, &json, &len);
        id = ctx->neg.provider_pid;
    }

    if (!mim_ok(res)) {
        ngx_log_error(NGX_LOG_ALERT, r->connection->log, 0,
                      "mim dsp: %s", res.msg);
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    rc = ngx_http_mim_dsp_pstr(r->pool, &ctx->record, json, len);
    free(json);

    if (rc != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    pid.data = (u_char *) id;
    pid.len = ngx_strlen(id);
    ctx->change.transfer = transfer;

    if (ngx_http_mim_dsp_cas_args(r->pool, &pid, &ctx->old, &ctx->record,
                                  transfer ? NULL : &ctx->neg, &ctx->change,
                                  argv, &argc)
        != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    rc = ngx_http_mim_dsp_store(r, NULL, NGX_HTTP_MIM_DSP_OP_CAS, argc, argv,
                                transfer ? ngx_http_mim_dsp_tp_written
                                         : ngx_http_mim_dsp_written,
                                NULL, ctx, &why);

    switch (rc) {

    case NGX_OK:
        return NGX_DONE;

    case NGX_BUSY:
        return ngx_http_mim_dsp_fail(r, ctx, NGX_HTTP_SERVICE_UNAVAILABLE,
                                     "unavailable", (char *) why.data);

    case NGX_DECLINED:
        return ngx_http_mim_dsp_fail(r, ctx, NGX_HTTP_SERVICE_UNAVAILABLE,
                                     "unavailable", "no negotiation store "
                                     "(mim_redis) is configured");

    default:
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }
}


static void
ngx_http_mim_dsp_written(ngx_http_request_t *r, void *data,
    ngx_http_mim_redis_reply_t *reply)
{
    ngx_http_mim_dsp_ctx_t *ctx = data;

    ngx_int_t                      rc;
    ngx_http_mim_dsp_main_conf_t  *dmcf;

    dmcf = ngx_http_get_module_main_conf(r, ngx_http_mim_dsp_module);

    if (reply->type == NGX_HTTP_MIM_REDIS_FAILED
        || reply->type == NGX_HTTP_MIM_REDIS_ERROR)
    {
        /* the change may or may not have been made: say so */
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "mim dsp: writing negotiation \"%s\": %V",
                      ctx->neg.provider_pid, &reply->str);
        rc = ngx_http_mim_dsp_fail(r, ctx, NGX_HTTP_SERVICE_UNAVAILABLE,
                                   "unavailable", (char *) reply->str.data);
        goto done;
    }

    if (reply->type != NGX_HTTP_MIM_REDIS_INTEGER || reply->integer != 1) {

        /* changed meanwhile: decide again on what is there now */
        if (ctx->old.len && ++ctx->tries < NGX_HTTP_MIM_DSP_CAS_TRIES) {
            rc = ngx_http_mim_dsp_load(r, ctx);
            goto done;
        }

        rc = ngx_http_mim_dsp_fail(r, ctx, NGX_HTTP_CONFLICT, "conflict",
                                   "the negotiation changed meanwhile; "
                                   "try again");
        goto done;
    }

    ngx_http_mim_dsp_cache_put(dmcf->dsp->zone,
                               NGX_HTTP_MIM_SHM_KIND_DSP_NEG,
                               ctx->neg.provider_pid, &ctx->record);

    if (ctx->change.add_kind.len) {
        ngx_http_mim_dsp_outbox_kick();
    }

    if (ctx->route == NGX_HTTP_MIM_DSP_ADMIN_AGREE
        || ctx->route == NGX_HTTP_MIM_DSP_ADMIN_TERMINATE)
    {
        rc = ngx_http_mim_send_json(r, NGX_HTTP_OK, &ctx->record);

    } else {
        rc = ngx_http_mim_dsp_answer_record(r, ctx, ctx->status);
    }

done:

    if (rc != NGX_DONE) {
        ngx_http_finalize_request(r, rc);
    }
}


/* ---- the operator's list ---------------------------------------------- */

static ngx_int_t
ngx_http_mim_dsp_admin_list(ngx_http_request_t *r,
    ngx_http_mim_dsp_ctx_t *ctx)
{
    ngx_int_t  rc;
    ngx_str_t  argv[5], why;

    static ngx_str_t  script = ngx_string(
        "local out = {} "
        "for _, pid in ipairs(redis.call('SMEMBERS', KEYS[1])) do "
        "  local v = redis.call('GET', ARGV[1] .. pid) "
        "  if v then out[#out + 1] = v end "
        "end "
        "return out");

    ngx_str_set(&argv[0], "EVAL");
    argv[1] = script;
    ngx_str_set(&argv[2], "1");
    ngx_str_set(&argv[3], NGX_HTTP_MIM_DSP_PENDING);
    ngx_str_set(&argv[4], NGX_HTTP_MIM_DSP_NEG_PREFIX);

    rc = ngx_http_mim_dsp_store(r, NULL, NGX_HTTP_MIM_DSP_OP_LIST, 5, argv,
                                ngx_http_mim_dsp_listed, NULL, ctx, &why);
    if (rc == NGX_OK) {
        return NGX_DONE;
    }

    if (rc == NGX_BUSY) {
        return ngx_http_mim_dsp_fail(r, ctx, NGX_HTTP_SERVICE_UNAVAILABLE,
                                     "unavailable", (char *) why.data);
    }

    return NGX_HTTP_INTERNAL_SERVER_ERROR;
}


static void
ngx_http_mim_dsp_listed(ngx_http_request_t *r, void *data,
    ngx_http_mim_redis_reply_t *reply)
{
    ngx_http_mim_dsp_ctx_t *ctx = data;

    u_char     *p;
    size_t      len, i;
    ngx_int_t   rc;
    ngx_str_t   body;

    static const char  head[] = "{\"negotiations\":[";

    if (reply->type != NGX_HTTP_MIM_REDIS_ARRAY) {
        rc = ngx_http_mim_dsp_fail(r, ctx, NGX_HTTP_SERVICE_UNAVAILABLE,
                                   "unavailable",
                                   reply->str.len ? (char *) reply->str.data
                                                  : "Redis did not answer "
                                                    "with a list");
        ngx_http_finalize_request(r, rc);
        return;
    }

    len = sizeof(head) - 1 + sizeof("]}") - 1;

    for (i = 0; i < reply->elements; i++) {
        len += reply->element[i].str.len + 1;
    }

    body.data = ngx_pnalloc(r->pool, len);
    if (body.data == NULL) {
        ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    /* the records are JSON objects we wrote: an array of them is JSON */
    p = ngx_cpymem(body.data, head, sizeof(head) - 1);

    for (i = 0; i < reply->elements; i++) {
        if (i) {
            *p++ = ',';
        }
        p = ngx_cpymem(p, reply->element[i].str.data,
                       reply->element[i].str.len);
    }

    p = ngx_cpymem(p, "]}", 2);
    body.len = p - body.data;

    ngx_http_finalize_request(r, ngx_http_mim_send_json(r, NGX_HTTP_OK,
                                                        &body));
}


/* ---- transfers ----------------------------------------------------------- */

/* transfers/request, transfers/:pid[/what]; NGX_DECLINED: no such route */
static ngx_int_t
ngx_http_mim_dsp_route_transfer(ngx_http_mim_dsp_ctx_t *ctx, ngx_str_t *path,
    ngx_flag_t admin)
{
    u_char      *slash, *end;
    ngx_str_t    rest, what;
    ngx_uint_t   i;

    typedef struct {
        ngx_str_t                  name;
        ngx_http_mim_dsp_route_e   route;
    } ngx_http_mim_dsp_tp_what_t;

    static ngx_http_mim_dsp_tp_what_t  consumer[] = {
        { ngx_string("start"), NGX_HTTP_MIM_DSP_TP_START },
        { ngx_string("completion"), NGX_HTTP_MIM_DSP_TP_COMPLETE },
        { ngx_string("suspension"), NGX_HTTP_MIM_DSP_TP_SUSPEND },
        { ngx_string("termination"), NGX_HTTP_MIM_DSP_TP_TERMINATE },
        { ngx_null_string, NGX_HTTP_MIM_DSP_NONE }
    };

    static ngx_http_mim_dsp_tp_what_t  operator[] = {
        { ngx_string("suspend"), NGX_HTTP_MIM_DSP_ADMIN_TP_SUSPEND },
        { ngx_string("resume"), NGX_HTTP_MIM_DSP_ADMIN_TP_RESUME },
        { ngx_string("complete"), NGX_HTTP_MIM_DSP_ADMIN_TP_COMPLETE },
        { ngx_string("terminate"), NGX_HTTP_MIM_DSP_ADMIN_TP_TERMINATE },
        { ngx_null_string, NGX_HTTP_MIM_DSP_NONE }
    };

    ngx_http_mim_dsp_tp_what_t  *routes = admin ? operator : consumer;

    ctx->errors = admin ? NGX_HTTP_MIM_DSP_ERR_PLAIN
                        : NGX_HTTP_MIM_DSP_ERR_TRANSFER;

    rest.data = path->data + sizeof("transfers/") - 1;
    rest.len = path->len - (sizeof("transfers/") - 1);
    end = rest.data + rest.len;

    if (!admin && rest.len == sizeof("request") - 1
        && ngx_strncmp(rest.data, "request", rest.len) == 0)
    {
        ctx->route = NGX_HTTP_MIM_DSP_TP_CREATE;
        ctx->method = NGX_HTTP_POST;
        return NGX_OK;
    }

    slash = ngx_strlchr(rest.data, end, '/');

    ctx->id.data = rest.data;
    ctx->id.len = (slash ? slash : end) - rest.data;

    if (ctx->id.len == 0 || ctx->id.len > NGX_HTTP_MIM_SHM_ID_MAX) {
        return NGX_DECLINED;
    }

    if (slash == NULL) {
        ctx->route = admin ? NGX_HTTP_MIM_DSP_ADMIN_TP_GET
                           : NGX_HTTP_MIM_DSP_TP_GET;
        ctx->method = NGX_HTTP_GET;
        return NGX_OK;
    }

    what.data = slash + 1;
    what.len = end - what.data;

    for (i = 0; routes[i].name.len; i++) {
        if (what.len == routes[i].name.len
            && ngx_strncmp(what.data, routes[i].name.data, what.len) == 0)
        {
            ctx->route = routes[i].route;
            ctx->method = NGX_HTTP_POST;
            return NGX_OK;
        }
    }

    return NGX_DECLINED;
}


static ngx_int_t
ngx_http_mim_dsp_tp_dispatch(ngx_http_request_t *r,
    ngx_http_mim_dsp_ctx_t *ctx, ngx_http_mim_dsp_loc_conf_t *dsp)
{
    mim_result_t  res;

    static const mim_dsp_tmsg_type_t  types[] = {
        [NGX_HTTP_MIM_DSP_TP_START] = MIM_DSP_TMSG_START,
        [NGX_HTTP_MIM_DSP_TP_COMPLETE] = MIM_DSP_TMSG_COMPLETION,
        [NGX_HTTP_MIM_DSP_TP_SUSPEND] = MIM_DSP_TMSG_SUSPENSION,
        [NGX_HTTP_MIM_DSP_TP_TERMINATE] = MIM_DSP_TMSG_TERMINATION
    };

    switch (ctx->route) {

    case NGX_HTTP_MIM_DSP_TP_CREATE:
        return ngx_http_mim_dsp_tp_create(r, ctx, dsp);

    case NGX_HTTP_MIM_DSP_TP_START:
    case NGX_HTTP_MIM_DSP_TP_COMPLETE:
    case NGX_HTTP_MIM_DSP_TP_SUSPEND:
    case NGX_HTTP_MIM_DSP_TP_TERMINATE:
        res = mim_dsp_tmsg_parse(&ctx->tmsg, types[ctx->route],
                                 (char *) ctx->body.data, ctx->body.len);
        if (!mim_ok(res)) {
            return ngx_http_mim_dsp_fail(r, ctx, NGX_HTTP_BAD_REQUEST,
                                         "invalid-message", res.msg);
        }

        if (ctx->tmsg.provider_pid == NULL
            || ngx_strlen(ctx->tmsg.provider_pid) != ctx->id.len
            || ngx_strncmp(ctx->tmsg.provider_pid, ctx->id.data, ctx->id.len)
               != 0)
        {
            return ngx_http_mim_dsp_fail(r, ctx, NGX_HTTP_BAD_REQUEST,
                                         "invalid-message", "providerPid: "
                                         "not the transfer of the path");
        }

        return ngx_http_mim_dsp_tp_load(r, ctx);

    case NGX_HTTP_MIM_DSP_ADMIN_TP_SUSPEND:
    case NGX_HTTP_MIM_DSP_ADMIN_TP_RESUME:
    case NGX_HTTP_MIM_DSP_ADMIN_TP_COMPLETE:
    case NGX_HTTP_MIM_DSP_ADMIN_TP_TERMINATE:
        res = mim_dsp_decision_parse((char *) ctx->body.data, ctx->body.len,
                                     &ctx->decision_code,
                                     &ctx->decision_reason);
        if (!mim_ok(res)) {
            return ngx_http_mim_dsp_fail(r, ctx, NGX_HTTP_BAD_REQUEST,
                                         "invalid-decision", res.msg);
        }

        return ngx_http_mim_dsp_tp_load(r, ctx);

    case NGX_HTTP_MIM_DSP_TP_GET:
    case NGX_HTTP_MIM_DSP_ADMIN_TP_GET:
        return ngx_http_mim_dsp_tp_load(r, ctx);

    default:
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }
}


/*
 * A TransferRequestMessage: HTTP pull only; its callback address judged
 * as a negotiation's; then its agreement decides.
 */
static ngx_int_t
ngx_http_mim_dsp_tp_create(ngx_http_request_t *r, ngx_http_mim_dsp_ctx_t *ctx,
    ngx_http_mim_dsp_loc_conf_t *dsp)
{
    mim_result_t  res;

    res = mim_dsp_tmsg_parse(&ctx->tmsg, MIM_DSP_TMSG_REQUEST,
                             (char *) ctx->body.data, ctx->body.len);
    if (!mim_ok(res)) {
        return ngx_http_mim_dsp_fail(r, ctx, NGX_HTTP_BAD_REQUEST,
                                     "invalid-message", res.msg);
    }

    if (ngx_strcmp(ctx->tmsg.format, MIM_DSP_PULL) != 0) {
        return ngx_http_mim_dsp_fail(r, ctx, NGX_HTTP_BAD_REQUEST,
                                     "unsupported-format", "format: this "
                                     "provider offers " MIM_DSP_PULL
                                     " transfers only");
    }

    return ngx_http_mim_dsp_judge_callback(r, ctx, dsp,
                                           ctx->tmsg.callback_address);
}


/* answer a failed store command: 503 when it could not be sent */
static ngx_int_t
ngx_http_mim_dsp_store_failed(ngx_http_request_t *r,
    ngx_http_mim_dsp_ctx_t *ctx, ngx_int_t rc, ngx_str_t *why)
{
    switch (rc) {

    case NGX_OK:
        return NGX_DONE;

    case NGX_BUSY:
        return ngx_http_mim_dsp_fail(r, ctx, NGX_HTTP_SERVICE_UNAVAILABLE,
                                     "unavailable", (char *) why->data);

    default:
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }
}


/* GET key; done goes on */
static ngx_int_t
ngx_http_mim_dsp_get(ngx_http_request_t *r, ngx_http_mim_dsp_ctx_t *ctx,
    const char *prefix, u_char *id, size_t len,
    ngx_http_mim_redis_handler_pt done)
{
    ngx_int_t  rc;
    ngx_str_t  argv[2], why;

    ngx_str_set(&argv[0], "GET");

    if (ngx_http_mim_dsp_key(r->pool, &argv[1], prefix, id, len) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    rc = ngx_http_mim_dsp_store(r, NULL, NGX_HTTP_MIM_DSP_OP_GET, 2, argv,
                                done, NULL, ctx, &why);

    return ngx_http_mim_dsp_store_failed(r, ctx, rc, &why);
}


static ngx_int_t
ngx_http_mim_dsp_tp_agreement_load(ngx_http_request_t *r,
    ngx_http_mim_dsp_ctx_t *ctx)
{
    return ngx_http_mim_dsp_get(r, ctx, NGX_HTTP_MIM_DSP_AGR_PREFIX,
                                (u_char *) ctx->tmsg.agreement_id,
                                ngx_strlen(ctx->tmsg.agreement_id),
                                ngx_http_mim_dsp_tp_agreement_loaded);
}


/*
 * The agreement is stored once FINALIZED; it must be the caller's, and
 * its dataset still offered in the requested format.  An agreement of
 * somebody else is answered as one that does not exist.
 */
static void
ngx_http_mim_dsp_tp_agreement_loaded(ngx_http_request_t *r, void *data,
    ngx_http_mim_redis_reply_t *reply)
{
    ngx_http_mim_dsp_ctx_t *ctx = data;

    const char                    *assignee, *target;
    ngx_int_t                      rc;
    mim_result_t                   res;
    mim_policy_t                  *agreement;
    ngx_http_mim_dsp_main_conf_t  *dmcf;

    dmcf = ngx_http_get_module_main_conf(r, ngx_http_mim_dsp_module);
    agreement = NULL;

    if (reply->type == NGX_HTTP_MIM_REDIS_FAILED
        || reply->type == NGX_HTTP_MIM_REDIS_ERROR)
    {
        rc = ngx_http_mim_dsp_fail(r, ctx, NGX_HTTP_SERVICE_UNAVAILABLE,
                                   "unavailable", (char *) reply->str.data);
        goto done;
    }

    if (reply->type == NGX_HTTP_MIM_REDIS_STRING) {
        res = mim_policy_parse(&agreement, (char *) reply->str.data,
                               reply->str.len);
        if (!mim_ok(res)) {
            ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                          "mim dsp: the agreement \"%s\" in the store is "
                          "invalid: %s", ctx->tmsg.agreement_id, res.msg);
            agreement = NULL;
        }
    }

    assignee = agreement ? mim_policy_assignee(agreement) : NULL;
    target = agreement ? mim_policy_target(agreement) : NULL;

    if (assignee == NULL || target == NULL
        || ngx_strlen(assignee) != ctx->party.len
        || ngx_strncmp(assignee, ctx->party.data, ctx->party.len) != 0)
    {
        rc = ngx_http_mim_dsp_fail(r, ctx, NGX_HTTP_BAD_REQUEST,
                                   "unknown-agreement", "agreementId: no "
                                   "finalized agreement of this consumer "
                                   "has this id");
        goto done;
    }

    if (mim_dsp_dataset_endpoint(dmcf->dsp->catalog, target) == NULL) {
        rc = ngx_http_mim_dsp_fail(r, ctx, NGX_HTTP_BAD_REQUEST,
                                   "unknown-dataset", "the agreement's "
                                   "dataset is no longer in the catalog");
        goto done;
    }

    if (!mim_dsp_dataset_has_format(dmcf->dsp->catalog, target,
                                    ctx->tmsg.format))
    {
        rc = ngx_http_mim_dsp_fail(r, ctx, NGX_HTTP_BAD_REQUEST,
                                   "unsupported-format", "format: the "
                                   "agreement's dataset has no distribution "
                                   "in this format");
        goto done;
    }

    rc = ngx_http_mim_dsp_tp_begin(r, ctx, dmcf->dsp, target);

done:

    mim_policy_free(agreement);

    if (rc != NGX_DONE) {
        ngx_http_finalize_request(r, rc);
    }
}


/*
 * A transfer's providerPid is derived from who asks and their consumerPid
 * (a name-based urn:uuid, RFC 9562 version 8 from SHA-256): the same
 * request sent again finds the same transfer, which is what makes
 * TransferRequestMessage idempotent on consumerPid without an index.
 */
static ngx_int_t
ngx_http_mim_dsp_tp_pid(ngx_str_t *party, const char *consumer_pid,
    char out[MIM_DSP_UUID_LEN])
{
    u_char        md[EVP_MAX_MD_SIZE];
    unsigned int  mdlen;
    EVP_MD_CTX   *mdctx;
    ngx_int_t     rc;

    mdctx = EVP_MD_CTX_new();
    if (mdctx == NULL) {
        return NGX_ERROR;
    }

    rc = (EVP_DigestInit_ex(mdctx, EVP_sha256(), NULL) == 1
          && EVP_DigestUpdate(mdctx, "mim-dsp-transfer\n", 17) == 1
          && EVP_DigestUpdate(mdctx, party->data, party->len) == 1
          && EVP_DigestUpdate(mdctx, "\n", 1) == 1
          && EVP_DigestUpdate(mdctx, consumer_pid, ngx_strlen(consumer_pid))
             == 1
          && EVP_DigestFinal_ex(mdctx, md, &mdlen) == 1)
         ? NGX_OK : NGX_ERROR;

    EVP_MD_CTX_free(mdctx);

    if (rc != NGX_OK) {
        return NGX_ERROR;
    }

    md[6] = (md[6] & 0x0f) | 0x80;      /* version 8 */
    md[8] = (md[8] & 0x3f) | 0x80;      /* the RFC's variant */

    ngx_snprintf((u_char *) out, MIM_DSP_UUID_LEN,
                 "urn:uuid:%*xs-%*xs-%*xs-%*xs-%*xs%Z",
                 (size_t) 4, md, (size_t) 2, md + 4, (size_t) 2, md + 6,
                 (size_t) 2, md + 8, (size_t) 6, md + 10);

    return NGX_OK;
}


/*
 * Where the consumer pulls the data: the dataset's endpoint, made
 * absolute with the origin of mim_dsp_url, or of this request.
 */
static ngx_int_t
ngx_http_mim_dsp_tp_endpoint(ngx_http_request_t *r,
    ngx_http_mim_dsp_loc_conf_t *dsp, const char *target, char **out)
{
    u_char      *p;
    size_t       len;
    ngx_str_t    url;
    const char  *endpoint;

    endpoint = mim_dsp_dataset_endpoint(dsp->catalog, target);
    len = ngx_strlen(endpoint);

    if (len > 8 && (ngx_strncasecmp((u_char *) endpoint,
                                    (u_char *) "https://", 8) == 0
                    || ngx_strncasecmp((u_char *) endpoint,
                                       (u_char *) "http://", 7) == 0))
    {
        *out = strdup(endpoint);
        return *out ? NGX_OK : NGX_ERROR;
    }

    if (ngx_http_mim_dsp_url(r, dsp, &url) != NGX_OK) {
        return NGX_ERROR;
    }

    /* the origin: up to the first "/" after "scheme://" */
    p = ngx_strlchr(url.data, url.data + url.len, ':');
    if (p && p + 3 <= url.data + url.len) {
        p = ngx_strlchr(p + 3, url.data + url.len, '/');
    }

    url.len = (p ? p : url.data + url.len) - url.data;

    *out = malloc(url.len + len + 1);
    if (*out == NULL) {
        return NGX_ERROR;
    }

    ngx_memcpy(*out, url.data, url.len);
    ngx_memcpy(*out + url.len, endpoint, len + 1);

    return NGX_OK;
}


/* the new transfer, REQUESTED, with its start queued */
static ngx_int_t
ngx_http_mim_dsp_tp_begin(ngx_http_request_t *r, ngx_http_mim_dsp_ctx_t *ctx,
    ngx_http_mim_dsp_loc_conf_t *dsp, const char *target)
{
    char           pid[MIM_DSP_UUID_LEN];
    mim_dsp_tp_t  *tp = &ctx->tp;

    if (ngx_http_mim_dsp_tp_pid(&ctx->party, ctx->tmsg.consumer_pid, pid)
        != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    mim_dsp_tp_free(tp);

    tp->provider_pid = strdup(pid);
    tp->consumer_pid = strdup(ctx->tmsg.consumer_pid);
    tp->consumer = strndup((char *) ctx->party.data, ctx->party.len);
    tp->callback_address = strdup(ctx->tmsg.callback_address);
    tp->agreement_id = strdup(ctx->tmsg.agreement_id);
    tp->dataset = strdup(target);
    tp->format = strdup(ctx->tmsg.format);
    tp->state = MIM_DSP_TP_REQUESTED;
    tp->created = ngx_time();
    tp->updated = tp->created;

    if (tp->provider_pid == NULL || tp->consumer_pid == NULL
        || tp->consumer == NULL || tp->callback_address == NULL
        || tp->agreement_id == NULL || tp->dataset == NULL
        || tp->format == NULL
        || ngx_http_mim_dsp_tp_endpoint(r, dsp, target, &tp->endpoint)
           != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_memzero(&ctx->change, sizeof(ngx_http_mim_dsp_change_t));
    ngx_str_set(&ctx->change.add_kind, NGX_HTTP_MIM_DSP_JOB_TP_START);
    ctx->status = NGX_HTTP_CREATED;

    return ngx_http_mim_dsp_write(r, ctx);
}


static ngx_int_t
ngx_http_mim_dsp_tp_load(ngx_http_request_t *r, ngx_http_mim_dsp_ctx_t *ctx)
{
    return ngx_http_mim_dsp_get(r, ctx, NGX_HTTP_MIM_DSP_TP_PREFIX,
                                ctx->id.data, ctx->id.len,
                                ngx_http_mim_dsp_tp_loaded);
}


static void
ngx_http_mim_dsp_tp_loaded(ngx_http_request_t *r, void *data,
    ngx_http_mim_redis_reply_t *reply)
{
    ngx_http_mim_dsp_ctx_t *ctx = data;

    ngx_int_t      rc;
    mim_result_t   res;
    mim_dsp_tp_t  *tp = &ctx->tp;

    if (reply->type == NGX_HTTP_MIM_REDIS_FAILED
        || reply->type == NGX_HTTP_MIM_REDIS_ERROR)
    {
        rc = ngx_http_mim_dsp_fail(r, ctx, NGX_HTTP_SERVICE_UNAVAILABLE,
                                   "unavailable", (char *) reply->str.data);
        goto done;
    }

    if (reply->type != NGX_HTTP_MIM_REDIS_STRING) {
        rc = ngx_http_mim_dsp_fail(r, ctx, NGX_HTTP_NOT_FOUND, "not-found",
                                   "no such transfer");
        goto done;
    }

    ctx->old = reply->str;

    mim_dsp_tp_free(tp);
    res = mim_dsp_tp_from_json(tp, (char *) ctx->old.data, ctx->old.len);
    if (!mim_ok(res)) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "mim dsp: the record of transfer \"%V\" is invalid: "
                      "%s", &ctx->id, res.msg);
        rc = ngx_http_mim_dsp_fail(r, ctx, NGX_HTTP_INTERNAL_SERVER_ERROR,
                                   "invalid-record", "the transfer's record "
                                   "is invalid");
        goto done;
    }

    /* somebody else's transfer does not exist for this caller */
    if (ctx->party.len
        && (ngx_strlen(tp->consumer) != ctx->party.len
            || ngx_strncmp(tp->consumer, ctx->party.data, ctx->party.len)
               != 0))
    {
        rc = ngx_http_mim_dsp_fail(r, ctx, NGX_HTTP_NOT_FOUND, "not-found",
                                   "no such transfer");
        goto done;
    }

    switch (ctx->route) {

    case NGX_HTTP_MIM_DSP_TP_GET:
        rc = ngx_http_mim_dsp_tp_answer(r, ctx, NGX_HTTP_OK);
        break;

    case NGX_HTTP_MIM_DSP_ADMIN_TP_GET:
        rc = ngx_http_mim_send_json(r, NGX_HTTP_OK, &ctx->old);
        break;

    case NGX_HTTP_MIM_DSP_TP_CREATE:
        /* the same request again: the same transfer */
        if (ngx_strcmp(tp->agreement_id, ctx->tmsg.agreement_id) != 0) {
            rc = ngx_http_mim_dsp_fail(r, ctx, NGX_HTTP_BAD_REQUEST,
                                       "invalid-message", "consumerPid: "
                                       "already names a transfer of another "
                                       "agreement");
            break;
        }

        rc = ngx_http_mim_dsp_tp_answer(r, ctx, NGX_HTTP_CREATED);
        break;

    default:
        rc = ngx_http_mim_dsp_tp_change(r, ctx);
        break;
    }

done:

    if (rc != NGX_DONE) {
        ngx_http_finalize_request(r, rc);
    }
}


/* a fresh id for the data-access token of a (re)start: older ones die */
static ngx_int_t
ngx_http_mim_dsp_tp_new_token(mim_dsp_tp_t *tp)
{
    char  id[MIM_DSP_UUID_LEN];

    if (!mim_ok(mim_dsp_new_urn_uuid(id))) {
        return NGX_ERROR;
    }

    free(tp->token_id);
    tp->token_id = strdup(id);

    return tp->token_id ? NGX_OK : NGX_ERROR;
}


/*
 * A consumer's message or an operator's decision on a transfer: the state
 * machine decides.  Leaving STARTED drops the token's id in the same
 * change, so the data plane refuses the token from then on; a (re)start
 * gets a new id and the TransferStartMessage carrying its token.
 */
static ngx_int_t
ngx_http_mim_dsp_tp_change(ngx_http_request_t *r, ngx_http_mim_dsp_ctx_t *ctx)
{
    char                *code, *reason;
    const char          *job;
    mim_result_t         res;
    mim_dsp_tp_t        *tp = &ctx->tp;
    mim_dsp_party_t      by;
    mim_dsp_tp_msg_t     msg;
    mim_dsp_tp_state_t   next;

    by = MIM_DSP_BY_CONSUMER;
    job = NULL;
    code = ctx->tmsg.code;
    reason = ctx->tmsg.reason_json;

    switch (ctx->route) {

    case NGX_HTTP_MIM_DSP_ADMIN_TP_RESUME:
        job = NGX_HTTP_MIM_DSP_JOB_TP_START;
        /* fall through */
    case NGX_HTTP_MIM_DSP_TP_START:
        msg = MIM_DSP_TP_MSG_START;
        break;

    case NGX_HTTP_MIM_DSP_ADMIN_TP_COMPLETE:
        job = NGX_HTTP_MIM_DSP_JOB_TP_COMPLETE;
        /* fall through */
    case NGX_HTTP_MIM_DSP_TP_COMPLETE:
        msg = MIM_DSP_TP_MSG_COMPLETION;
        break;

    case NGX_HTTP_MIM_DSP_ADMIN_TP_SUSPEND:
        job = NGX_HTTP_MIM_DSP_JOB_TP_SUSPEND;
        /* fall through */
    case NGX_HTTP_MIM_DSP_TP_SUSPEND:
        msg = MIM_DSP_TP_MSG_SUSPENSION;
        break;

    case NGX_HTTP_MIM_DSP_ADMIN_TP_TERMINATE:
        job = NGX_HTTP_MIM_DSP_JOB_TP_TERMINATE;
        /* fall through */
    default: /* NGX_HTTP_MIM_DSP_TP_TERMINATE */
        msg = MIM_DSP_TP_MSG_TERMINATION;
        break;
    }

    if (ngx_http_mim_dsp_is_admin_tp(ctx->route)) {
        by = MIM_DSP_BY_PROVIDER;
        code = ctx->decision_code;
        reason = ctx->decision_reason;

    } else if (ngx_strcmp(tp->consumer_pid, ctx->tmsg.consumer_pid) != 0) {
        return ngx_http_mim_dsp_fail(r, ctx, NGX_HTTP_BAD_REQUEST,
                                     "invalid-message", "consumerPid: not "
                                     "the one of this transfer");
    }

    res = mim_dsp_tp_next(tp->state, msg, by, &next);
    if (!mim_ok(res)) {
        return ngx_http_mim_dsp_fail(r, ctx,
                                     by == MIM_DSP_BY_PROVIDER
                                     ? NGX_HTTP_CONFLICT
                                     : NGX_HTTP_BAD_REQUEST,
                                     "invalid-transition", res.msg);
    }

    ngx_memzero(&ctx->change, sizeof(ngx_http_mim_dsp_change_t));

    if (next == MIM_DSP_TP_STARTED) {
        if (ngx_http_mim_dsp_tp_new_token(tp) != NGX_OK) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        /* the consumer needs the new token: a resume is answered with a
           TransferStartMessage, whoever asked for it */
        job = NGX_HTTP_MIM_DSP_JOB_TP_START;

    } else {
        free(tp->token_id);
        tp->token_id = NULL;

        free(tp->code);
        free(tp->reason);
        tp->code = code ? strdup(code) : NULL;
        tp->reason = reason ? strdup(reason) : NULL;
    }

    if (job) {
        ctx->change.add_kind.data = (u_char *) job;
        ctx->change.add_kind.len = ngx_strlen(job);
    }

    tp->state = next;
    tp->updated = ngx_time();
    ctx->status = NGX_HTTP_OK;

    return ngx_http_mim_dsp_write(r, ctx);
}


static void
ngx_http_mim_dsp_tp_written(ngx_http_request_t *r, void *data,
    ngx_http_mim_redis_reply_t *reply)
{
    ngx_http_mim_dsp_ctx_t *ctx = data;

    ngx_int_t  rc;

    if (reply->type == NGX_HTTP_MIM_REDIS_FAILED
        || reply->type == NGX_HTTP_MIM_REDIS_ERROR)
    {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "mim dsp: writing transfer \"%s\": %V",
                      ctx->tp.provider_pid, &reply->str);
        rc = ngx_http_mim_dsp_fail(r, ctx, NGX_HTTP_SERVICE_UNAVAILABLE,
                                   "unavailable", (char *) reply->str.data);
        goto done;
    }

    if (reply->type != NGX_HTTP_MIM_REDIS_INTEGER || reply->integer != 1) {

        /* a new one that exists: the same request came before */
        if (ctx->old.len == 0 && ctx->route == NGX_HTTP_MIM_DSP_TP_CREATE) {
            ctx->id.data = (u_char *) ctx->tp.provider_pid;
            ctx->id.len = ngx_strlen(ctx->tp.provider_pid);
            rc = ngx_http_mim_dsp_tp_load(r, ctx);
            goto done;
        }

        /* changed meanwhile: decide again on what is there now */
        if (ctx->old.len && ++ctx->tries < NGX_HTTP_MIM_DSP_CAS_TRIES) {
            rc = ngx_http_mim_dsp_tp_load(r, ctx);
            goto done;
        }

        rc = ngx_http_mim_dsp_fail(r, ctx, NGX_HTTP_CONFLICT, "conflict",
                                   "the transfer changed meanwhile; try "
                                   "again");
        goto done;
    }

    if (ctx->change.add_kind.len) {
        ngx_http_mim_dsp_outbox_kick();
    }

    if (ngx_http_mim_dsp_is_admin_tp(ctx->route)) {
        rc = ngx_http_mim_send_json(r, NGX_HTTP_OK, &ctx->record);

    } else {
        rc = ngx_http_mim_dsp_tp_answer(r, ctx, ctx->status);
    }

done:

    if (rc != NGX_DONE) {
        ngx_http_finalize_request(r, rc);
    }
}


/* the TransferProcess of ctx->tp */
static ngx_int_t
ngx_http_mim_dsp_tp_answer(ngx_http_request_t *r, ngx_http_mim_dsp_ctx_t *ctx,
    ngx_uint_t status)
{
    char          *json;
    size_t         len;
    mim_result_t   res;

    res = mim_dsp_transfer_process_json(&ctx->tp, &json, &len);

    return ngx_http_mim_dsp_built(r, status, res, json, len);
}


/* ---- answers ------------------------------------------------------------ */

/* the ContractNegotiation of ctx->neg */
static ngx_int_t
ngx_http_mim_dsp_answer_record(ngx_http_request_t *r,
    ngx_http_mim_dsp_ctx_t *ctx, ngx_uint_t status)
{
    char          *json;
    size_t         len;
    mim_result_t   res;

    res = mim_dsp_negotiation_json(&ctx->neg, &json, &len);

    return ngx_http_mim_dsp_built(r, status, res, json, len);
}


/* Redis is down: a GET answers from the shm cache, or 503 */
static ngx_int_t
ngx_http_mim_dsp_unavailable(ngx_http_request_t *r,
    ngx_http_mim_dsp_ctx_t *ctx, ngx_str_t *why)
{
    ngx_str_t                      value;
    mim_result_t                   res;
    ngx_http_mim_dsp_main_conf_t  *dmcf;

    dmcf = ngx_http_get_module_main_conf(r, ngx_http_mim_dsp_module);

    if (ngx_http_mim_dsp_cache_get(dmcf->dsp->zone,
                                   NGX_HTTP_MIM_SHM_KIND_DSP_NEG, &ctx->id,
                                   r->pool, &value)
        != NGX_OK)
    {
        return ngx_http_mim_dsp_fail(r, ctx, NGX_HTTP_SERVICE_UNAVAILABLE,
                                     "unavailable", (char *) why->data);
    }

    mim_dsp_neg_free(&ctx->neg);
    res = mim_dsp_neg_from_json(&ctx->neg, (char *) value.data, value.len);
    if (!mim_ok(res)) {
        return ngx_http_mim_dsp_fail(r, ctx, NGX_HTTP_SERVICE_UNAVAILABLE,
                                     "unavailable", (char *) why->data);
    }

    if (ctx->party.len
        && (ngx_strlen(ctx->neg.consumer) != ctx->party.len
            || ngx_strncmp(ctx->neg.consumer, ctx->party.data,
                           ctx->party.len) != 0))
    {
        return ngx_http_mim_dsp_fail(r, ctx, NGX_HTTP_NOT_FOUND, "not-found",
                                     "no such negotiation");
    }

    ngx_log_error(NGX_LOG_WARN, r->connection->log, 0,
                  "mim dsp: negotiation \"%V\" answered from the cache: %V",
                  &ctx->id, why);

    if (ctx->route == NGX_HTTP_MIM_DSP_ADMIN_GET) {
        return ngx_http_mim_send_json(r, NGX_HTTP_OK, &value);
    }

    return ngx_http_mim_dsp_answer_record(r, ctx, NGX_HTTP_OK);
}


static ngx_int_t
ngx_http_mim_dsp_send(ngx_http_request_t *r, ngx_uint_t status, char *json,
    size_t len)
{
    ngx_str_t  body;

    /* copied: the caller frees json */
    if (ngx_http_mim_dsp_pstr(r->pool, &body, json, len) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_http_mim_send_json(r, status, &body);
}


/* answer with what a core builder made (json is freed), or 500 */
static ngx_int_t
ngx_http_mim_dsp_built(ngx_http_request_t *r, ngx_uint_t status,
    mim_result_t res, char *json, size_t len)
{
    ngx_int_t  rc;

    if (!mim_ok(res)) {
        ngx_log_error(NGX_LOG_ALERT, r->connection->log, 0,
                      "mim dsp: %s", res.msg);
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    rc = ngx_http_mim_dsp_send(r, status, json, len);
    free(json);

    return rc;
}


/*
 * An error answer: ContractNegotiationError, CatalogError or a plain
 * {"error", "reason"} by route; logged at info (the peer's mistake).
 */
static ngx_int_t
ngx_http_mim_dsp_fail(ngx_http_request_t *r, ngx_http_mim_dsp_ctx_t *ctx,
    ngx_uint_t status, const char *code, const char *reason)
{
    char          *json, *provider, *consumer;
    size_t         len;
    ngx_str_t      id;
    mim_result_t   res;

    ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                  "mim dsp: %ui %s: %s", status, code, reason);

    switch (ctx->errors) {

    case NGX_HTTP_MIM_DSP_ERR_CATALOG:
        res = mim_dsp_catalog_error_json(code, reason, &json, &len);
        break;

    case NGX_HTTP_MIM_DSP_ERR_NEGOTIATION:
        provider = ctx->neg.provider_pid ? ctx->neg.provider_pid
                                         : ctx->msg.provider_pid;
        consumer = ctx->neg.consumer_pid ? ctx->neg.consumer_pid
                                         : ctx->msg.consumer_pid;

        if (provider == NULL && ctx->id.len) {
            if (ngx_http_mim_dsp_pstr(r->pool, &id, (char *) ctx->id.data,
                                      ctx->id.len)
                != NGX_OK)
            {
                return NGX_HTTP_INTERNAL_SERVER_ERROR;
            }
            provider = (char *) id.data;
        }

        /* a refused first request created no negotiation */
        if (ctx->route == NGX_HTTP_MIM_DSP_NEG_CREATE
            && ctx->old.len == 0)
        {
            provider = NULL;
        }

        res = mim_dsp_negotiation_error_json(provider, consumer, code,
                                             reason, &json, &len);
        break;

    case NGX_HTTP_MIM_DSP_ERR_TRANSFER:
        provider = ctx->tp.provider_pid ? ctx->tp.provider_pid
                                        : ctx->tmsg.provider_pid;
        consumer = ctx->tp.consumer_pid ? ctx->tp.consumer_pid
                                        : ctx->tmsg.consumer_pid;

        if (provider == NULL && ctx->id.len) {
            if (ngx_http_mim_dsp_pstr(r->pool, &id, (char *) ctx->id.data,
                                      ctx->id.len)
                != NGX_OK)
            {
                return NGX_HTTP_INTERNAL_SERVER_ERROR;
            }
            provider = (char *) id.data;
        }

        if (ctx->route == NGX_HTTP_MIM_DSP_TP_CREATE && ctx->old.len == 0) {
            provider = NULL;
        }

        res = mim_dsp_transfer_error_json(provider, consumer, code, reason,
                                          &json, &len);
        break;

    default:
        json = NULL;
        res = mim_result_ok();
        break;
    }

    if (mim_ok(res) && json == NULL) {
        id.len = sizeof("{\"error\":\"\",\"reason\":\"\"}") - 1
                 + ngx_strlen(code)
                 + ngx_escape_json(NULL, (u_char *) reason,
                                   ngx_strlen(reason))
                 + ngx_strlen(reason);
        id.data = ngx_pnalloc(r->pool, id.len);
        if (id.data == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        json = (char *) ngx_sprintf(id.data, "{\"error\":\"%s\",\"reason\":\"",
                                    code);
        json = (char *) ngx_escape_json((u_char *) json, (u_char *) reason,
                                        ngx_strlen(reason));
        ngx_memcpy(json, "\"}", 2);

        return ngx_http_mim_send_json(r, status, &id);
    }

    return ngx_http_mim_dsp_built(r, status, res, json, len);
}


static void
ngx_http_mim_dsp_ctx_cleanup(void *data)
{
    ngx_http_mim_dsp_ctx_t *ctx = data;

    if (ctx->checking) {
        ngx_http_mim_client_cancel(ctx->checking);
        ctx->checking = NULL;
    }

    mim_dsp_msg_free(&ctx->msg);
    mim_dsp_neg_free(&ctx->neg);
    mim_dsp_tmsg_free(&ctx->tmsg);
    mim_dsp_tp_free(&ctx->tp);
    free(ctx->decision_code);
    free(ctx->decision_reason);
}


/* ---- shared with the outbox --------------------------------------------- */

int64_t
ngx_http_mim_dsp_now_ms(void)
{
    ngx_time_t  *tp = ngx_timeofday();

    return (int64_t) tp->sec * 1000 + tp->msec;
}


ngx_int_t
ngx_http_mim_dsp_pstr(ngx_pool_t *pool, ngx_str_t *to, const char *s,
    size_t len)
{
    to->data = ngx_pnalloc(pool, len + 1);
    if (to->data == NULL) {
        return NGX_ERROR;
    }

    ngx_memcpy(to->data, s, len);
    to->data[len] = '\0';
    to->len = len;

    return NGX_OK;
}


/*
 * One change of a negotiation or a transfer, atomically: the record is
 * replaced only if it is still the one read (or, for a new one, absent),
 * and with it a job is done and/or queued, the Agreement stored, the
 * pending set kept, and for a transfer mim:tp:gen counted up (the data
 * plane of every node drops what it cached of transfers when it changes).
 */
static ngx_str_t  ngx_http_mim_dsp_cas_script = ngx_string(
    "local cur = redis.call('GET', KEYS[1]) "
    "if ARGV[1] == '' then "
    "  if cur then return 0 end "
    "elseif cur ~= ARGV[1] then "
    "  return 0 "
    "end "
    "redis.call('SET', KEYS[1], ARGV[2]) "
    "if ARGV[3] ~= '' then "
    "  redis.call('ZREM', KEYS[2], ARGV[3]) "
    "  redis.call('HDEL', KEYS[3], ARGV[3]) "
    "end "
    "if ARGV[4] ~= '' then "
    "  redis.call('HSET', KEYS[3], ARGV[4], ARGV[6]) "
    "  redis.call('ZADD', KEYS[2], ARGV[5], ARGV[4]) "
    "end "
    "if ARGV[7] ~= '' then redis.call('SET', KEYS[4], ARGV[7]) end "
    "if ARGV[8] == '1' then redis.call('SADD', KEYS[5], ARGV[9]) "
    "elseif ARGV[8] == '-1' then redis.call('SREM', KEYS[5], ARGV[9]) end "
    "if ARGV[10] == '1' then redis.call('INCR', KEYS[6]) end "
    "return 1");


static ngx_int_t
ngx_http_mim_dsp_key(ngx_pool_t *pool, ngx_str_t *key, const char *prefix,
    u_char *id, size_t len)
{
    size_t  plen = ngx_strlen(prefix);

    key->len = plen + len;
    key->data = ngx_pnalloc(pool, key->len + 1);
    if (key->data == NULL) {
        return NGX_ERROR;
    }

    ngx_memcpy(ngx_cpymem(key->data, prefix, plen), id, len);
    key->data[key->len] = '\0';

    return NGX_OK;
}


ngx_int_t
ngx_http_mim_dsp_cas_args(ngx_pool_t *pool, ngx_str_t *pid, ngx_str_t *old,
    ngx_str_t *new_value, mim_dsp_neg_t *neg,
    ngx_http_mim_dsp_change_t *change, ngx_str_t *argv, ngx_uint_t *argc)
{
    char               *json, id[MIM_DSP_UUID_LEN];
    size_t              len;
    ngx_int_t           rc;
    mim_result_t        res;
    mim_dsp_job_t       job;
    mim_dsp_job_kind_t  kind;

    enum {
        SCRIPT = 1, NKEYS, K_NEG, K_OUTBOX, K_JOBS, K_AGR, K_PENDING, K_GEN,
        A_OLD, A_NEW, A_DEL_JOB, A_ADD_JOB, A_DUE, A_JOB, A_AGREEMENT,
        A_PENDING, A_PID, A_GEN, ARGC
    };

    ngx_str_set(&argv[0], "EVAL");
    argv[SCRIPT] = ngx_http_mim_dsp_cas_script;
    ngx_str_set(&argv[NKEYS], "6");

    if (ngx_http_mim_dsp_key(pool, &argv[K_NEG],
                             change->transfer ? NGX_HTTP_MIM_DSP_TP_PREFIX
                                              : NGX_HTTP_MIM_DSP_NEG_PREFIX,
                             pid->data, pid->len)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    ngx_str_set(&argv[K_GEN], NGX_HTTP_MIM_DSP_TP_GEN);

    if (change->transfer) {
        ngx_str_set(&argv[A_GEN], "1");

    } else {
        ngx_str_set(&argv[A_GEN], "0");
    }

    ngx_str_set(&argv[K_OUTBOX], NGX_HTTP_MIM_DSP_OUTBOX);
    ngx_str_set(&argv[K_JOBS], NGX_HTTP_MIM_DSP_JOBS);
    ngx_str_set(&argv[K_PENDING], NGX_HTTP_MIM_DSP_PENDING);

    ngx_str_set(&argv[K_AGR], NGX_HTTP_MIM_DSP_AGR_PREFIX "-");
    ngx_str_set(&argv[A_AGREEMENT], "");

    if (change->agreement && neg && neg->agreement_id && neg->agreement_json)
    {
        if (ngx_http_mim_dsp_key(pool, &argv[K_AGR],
                                 NGX_HTTP_MIM_DSP_AGR_PREFIX,
                                 (u_char *) neg->agreement_id,
                                 ngx_strlen(neg->agreement_id))
            != NGX_OK)
        {
            return NGX_ERROR;
        }

        argv[A_AGREEMENT].data = (u_char *) neg->agreement_json;
        argv[A_AGREEMENT].len = ngx_strlen(neg->agreement_json);
    }

    argv[A_OLD] = *old;
    argv[A_NEW] = *new_value;
    argv[A_DEL_JOB] = change->del_job;

    ngx_str_set(&argv[A_ADD_JOB], "");
    ngx_str_set(&argv[A_DUE], "0");
    ngx_str_set(&argv[A_JOB], "");

    if (change->add_kind.len) {
        if (mim_dsp_job_kind_parse((char *) change->add_kind.data, &kind)
            != 0)
        {
            return NGX_ERROR;
        }

        res = mim_dsp_new_urn_uuid(id);
        if (!mim_ok(res)) {
            return NGX_ERROR;
        }

        ngx_memzero(&job, sizeof(mim_dsp_job_t));
        job.kind = kind;
        job.pid = (char *) pid->data;
        job.code = change->code.len ? (char *) change->code.data : NULL;
        job.reason = change->reason.len ? (char *) change->reason.data : NULL;

        res = mim_dsp_job_to_json(&job, &json, &len);
        if (!mim_ok(res)) {
            return NGX_ERROR;
        }

        rc = ngx_http_mim_dsp_pstr(pool, &argv[A_JOB], json, len);
        free(json);

        if (rc != NGX_OK
            || ngx_http_mim_dsp_pstr(pool, &argv[A_ADD_JOB], id,
                                     ngx_strlen(id))
               != NGX_OK)
        {
            return NGX_ERROR;
        }

        argv[A_DUE].data = ngx_pnalloc(pool, NGX_INT64_LEN + 1);
        if (argv[A_DUE].data == NULL) {
            return NGX_ERROR;
        }

        argv[A_DUE].len = ngx_sprintf(argv[A_DUE].data, "%L",
                                      ngx_http_mim_dsp_now_ms()
                                      + (int64_t) change->delay)
                          - argv[A_DUE].data;
    }

    if (change->pending > 0) {
        ngx_str_set(&argv[A_PENDING], "1");

    } else if (change->pending < 0) {
        ngx_str_set(&argv[A_PENDING], "-1");

    } else {
        ngx_str_set(&argv[A_PENDING], "0");
    }

    argv[A_PID] = *pid;
    *argc = ARGC;

    return NGX_OK;
}


void
ngx_http_mim_dsp_cache_put(ngx_shm_zone_t *zone, ngx_uint_t kind,
    const char *id, ngx_str_t *value)
{
    ngx_http_mim_shm_key_t  key;

    if (zone == NULL || value->len > NGX_HTTP_MIM_SHM_VALUE_MAX) {
        return;
    }

    key.kind = kind;
    key.generation = 0;          /* a record survives a reload */
    key.scope = 0;
    key.id.data = (u_char *) id;
    key.id.len = ngx_strlen(id);

    if (key.id.len > NGX_HTTP_MIM_SHM_ID_MAX) {
        return;
    }

    (void) ngx_http_mim_shm_set(zone, &key, ngx_time(),
                                ngx_time() + NGX_HTTP_MIM_DSP_CACHE_TTL,
                                value);
}


ngx_int_t
ngx_http_mim_dsp_cache_get(ngx_shm_zone_t *zone, ngx_uint_t kind,
    ngx_str_t *id, ngx_pool_t *pool, ngx_str_t *value)
{
    ngx_http_mim_shm_key_t  key;

    if (zone == NULL || id->len > NGX_HTTP_MIM_SHM_ID_MAX) {
        return NGX_DECLINED;
    }

    key.kind = kind;
    key.generation = 0;
    key.scope = 0;
    key.id = *id;

    return ngx_http_mim_shm_get(zone, &key, ngx_time(), pool, value);
}


/* ---- configuration ------------------------------------------------------ */

/* mim_dsp, mim_dsp_version, mim_dsp_admin: this location's handler */
static char *
ngx_http_mim_dsp(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    char  *p = conf;

    ngx_flag_t                *fp;
    ngx_http_core_loc_conf_t  *clcf;

    fp = (ngx_flag_t *) (p + cmd->offset);

    if (*fp != NGX_CONF_UNSET) {
        return "is duplicate";
    }

    *fp = 1;

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);
    clcf->handler = ngx_http_mim_dsp_handler;

    return NGX_CONF_OK;
}


/* mim_dsp_callback_allow CIDR... | any */
static char *
ngx_http_mim_dsp_callback_allow(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_http_mim_dsp_loc_conf_t *dlcf = conf;

    ngx_int_t    rc;
    ngx_str_t   *value;
    ngx_uint_t   i;
    ngx_cidr_t  *cidr;

    if (dlcf->callback_policy_set) {
        return "is duplicate";
    }

    dlcf->callback_policy_set = 1;
    value = cf->args->elts;

    if (cf->args->nelts == 2 && ngx_strcmp(value[1].data, "any") == 0) {
        dlcf->callback_policy.any = 1;
        return NGX_CONF_OK;
    }

    dlcf->callback_policy.allow = ngx_array_create(cf->pool,
                                                   cf->args->nelts - 1,
                                                   sizeof(ngx_cidr_t));
    if (dlcf->callback_policy.allow == NULL) {
        return NGX_CONF_ERROR;
    }

    for (i = 1; i < cf->args->nelts; i++) {
        cidr = ngx_array_push(dlcf->callback_policy.allow);
        if (cidr == NULL) {
            return NGX_CONF_ERROR;
        }

        rc = ngx_ptocidr(&value[i], cidr);

        if (rc == NGX_ERROR) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "mim_dsp_callback_allow: \"%V\" is not an "
                               "address or CIDR (or \"any\" alone)",
                               &value[i]);
            return NGX_CONF_ERROR;
        }

        if (rc == NGX_DONE) {
            ngx_conf_log_error(NGX_LOG_WARN, cf, 0,
                               "low address bits of %V are meaningless",
                               &value[i]);
        }
    }

    return NGX_CONF_OK;
}


/* mim_dsp_delivery [attempts=N] [backoff=T] [max_backoff=T] [timeout=T] */
static char *
ngx_http_mim_dsp_delivery(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_mim_dsp_loc_conf_t *dlcf = conf;

    ngx_int_t    n;
    ngx_str_t   *value, s;
    ngx_uint_t   i;
    ngx_msec_t  *msp;

    if (dlcf->attempts != NGX_CONF_UNSET_UINT) {
        return "is duplicate";
    }

    value = cf->args->elts;

    for (i = 1; i < cf->args->nelts; i++) {

        if (ngx_strncmp(value[i].data, "attempts=", 9) == 0) {
            n = ngx_atoi(value[i].data + 9, value[i].len - 9);
            if (n < 1 || n > 100) {
                goto invalid;
            }
            dlcf->attempts = n;
            continue;
        }

        if (ngx_strncmp(value[i].data, "backoff=", 8) == 0) {
            s.data = value[i].data + 8;
            s.len = value[i].len - 8;
            msp = &dlcf->backoff;

        } else if (ngx_strncmp(value[i].data, "max_backoff=", 12) == 0) {
            s.data = value[i].data + 12;
            s.len = value[i].len - 12;
            msp = &dlcf->max_backoff;

        } else if (ngx_strncmp(value[i].data, "timeout=", 8) == 0) {
            s.data = value[i].data + 8;
            s.len = value[i].len - 8;
            msp = &dlcf->timeout;

        } else {
            goto invalid;
        }

        *msp = ngx_parse_time(&s, 0);
        if (*msp == (ngx_msec_t) NGX_ERROR || *msp == 0) {
            goto invalid;
        }
    }

    if (dlcf->attempts == NGX_CONF_UNSET_UINT) {
        dlcf->attempts = 8;
    }

    return NGX_CONF_OK;

invalid:

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "mim_dsp_delivery: invalid parameter \"%V\" (attempts="
                       "1..100, backoff=, max_backoff=, timeout= times)",
                       &value[i]);
    return NGX_CONF_ERROR;
}


static void *
ngx_http_mim_dsp_create_main_conf(ngx_conf_t *cf)
{
    return ngx_pcalloc(cf->pool, sizeof(ngx_http_mim_dsp_main_conf_t));
}


static void *
ngx_http_mim_dsp_create_loc_conf(ngx_conf_t *cf)
{
    ngx_http_mim_dsp_loc_conf_t  *conf;

    conf = ngx_pcalloc(cf->pool, sizeof(ngx_http_mim_dsp_loc_conf_t));
    if (conf == NULL) {
        return NULL;
    }

    /*
     * set by ngx_pcalloc():
     *
     *     conf->catalog_file = { 0, NULL };
     *     conf->url = { 0, NULL };
     *     conf->outbound_token = { 0, NULL };
     *     conf->ssl_trusted_certificate = { 0, NULL };
     *     conf->callback_policy = { NULL, 0 };
     *     conf->catalog = NULL;
     */

    conf->enable = NGX_CONF_UNSET;
    conf->version = NGX_CONF_UNSET;
    conf->admin = NGX_CONF_UNSET;
    conf->auto_agree = NGX_CONF_UNSET;
    conf->max_body = NGX_CONF_UNSET_SIZE;
    conf->attempts = NGX_CONF_UNSET_UINT;
    conf->backoff = NGX_CONF_UNSET_MSEC;
    conf->max_backoff = NGX_CONF_UNSET_MSEC;
    conf->timeout = NGX_CONF_UNSET_MSEC;
    conf->zone_size = NGX_CONF_UNSET_SIZE;
    conf->token_ttl = NGX_CONF_UNSET;

    return conf;
}


static char *
ngx_http_mim_dsp_merge_loc_conf(ngx_conf_t *cf, void *parent, void *child)
{
    ngx_http_mim_dsp_loc_conf_t *prev = parent;
    ngx_http_mim_dsp_loc_conf_t *conf = child;

    /* the endpoints themselves are not inherited */
    ngx_conf_init_value(conf->enable, 0);
    ngx_conf_init_value(conf->version, 0);
    ngx_conf_init_value(conf->admin, 0);

    ngx_conf_merge_str_value(conf->catalog_file, prev->catalog_file, "");
    ngx_conf_merge_value(conf->auto_agree, prev->auto_agree, 1);
    ngx_conf_merge_size_value(conf->max_body, prev->max_body, 256 * 1024);
    ngx_conf_merge_str_value(conf->url, prev->url, "");
    ngx_conf_merge_str_value(conf->outbound_token, prev->outbound_token, "");
    ngx_conf_merge_str_value(conf->ssl_trusted_certificate,
                             prev->ssl_trusted_certificate, "");

    if (!conf->callback_policy_set) {
        conf->callback_policy = prev->callback_policy;
        conf->callback_policy_set = prev->callback_policy_set;
    }

    ngx_conf_merge_uint_value(conf->attempts, prev->attempts, 8);
    ngx_conf_merge_msec_value(conf->backoff, prev->backoff, 1000);
    ngx_conf_merge_msec_value(conf->max_backoff, prev->max_backoff, 60000);
    ngx_conf_merge_msec_value(conf->timeout, prev->timeout, 10000);
    ngx_conf_merge_size_value(conf->zone_size, prev->zone_size,
                              16 * 1024 * 1024);
    ngx_conf_merge_sec_value(conf->token_ttl, prev->token_ttl, 3600);

    if (conf->token_ttl <= 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "mim_dsp_token_ttl must be "
                           "positive");
        return NGX_CONF_ERROR;
    }

    if (conf->max_backoff < conf->backoff) {
        conf->max_backoff = conf->backoff;
    }

    if (conf->enable) {
        return ngx_http_mim_dsp_setup(cf, conf);
    }

    return NGX_CONF_OK;
}


/* the location of mim_dsp: load what it serves, once */
static char *
ngx_http_mim_dsp_setup(ngx_conf_t *cf, ngx_http_mim_dsp_loc_conf_t *conf)
{
    char                          *json;
    size_t                         len;
    ngx_str_t                      file, *id;
    mim_result_t                   res;
    ngx_pool_cleanup_t            *cln;
    ngx_http_mim_srv_conf_t       *mscf;
    ngx_http_core_loc_conf_t      *clcf;
    ngx_http_mim_dsp_main_conf_t  *dmcf;

    dmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_mim_dsp_module);
    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);

    if (dmcf->dsp != NULL) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "mim_dsp: one location "
                           "per configuration serves the Dataspace "
                           "Protocol; \"%V\" is a second one", &clcf->name);
        return NGX_CONF_ERROR;
    }

    if (clcf->exact_match || clcf->regex
        || clcf->name.len == 0 || clcf->name.data[clcf->name.len - 1] != '/')
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "mim_dsp: location \"%V\" "
                           "must be a prefix location ending in \"/\"",
                           &clcf->name);
        return NGX_CONF_ERROR;
    }

    if (!ngx_http_mim_redis_configured(cf)) {
        /* embedded: the state in shm, for one node, until a restart */
        if (conf->zone_size < 8 * ngx_pagesize) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "mim_dsp_zone: at "
                               "least %uz bytes", 8 * ngx_pagesize);
            return NGX_CONF_ERROR;
        }

        dmcf->store = ngx_http_mim_dsp_zone_add(cf, conf->zone_size);
        if (dmcf->store == NULL) {
            return NGX_CONF_ERROR;
        }
    }

    if (conf->catalog_file.len == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "mim_dsp needs "
                           "mim_dsp_catalog FILE");
        return NGX_CONF_ERROR;
    }

    id = ngx_http_mim_conf_participant_id(cf);
    if (id->len == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "mim_dsp needs "
                           "mim_participant_id: the assigner of the "
                           "agreements");
        return NGX_CONF_ERROR;
    }

    conf->participant_id = *id;

    mscf = ngx_http_conf_get_module_srv_conf(cf, ngx_http_mim_module);
    if (mscf->signing_key == NULL) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "mim_dsp needs "
                           "mim_signing_key: it signs the data-access "
                           "tokens of transfers");
        return NGX_CONF_ERROR;
    }

    conf->signing_key = mscf->signing_key;

    file = conf->catalog_file;
    if (ngx_conf_full_name(cf->cycle, &file, 1) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    res = mim_dsp_catalog_load(&conf->catalog, (char *) file.data);
    if (!mim_ok(res)) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "mim_dsp_catalog \"%V\": %s",
                           &file, res.msg);
        return NGX_CONF_ERROR;
    }

    cln = ngx_pool_cleanup_add(cf->pool, 0);
    if (cln == NULL) {
        mim_dsp_catalog_free(conf->catalog);
        return NGX_CONF_ERROR;
    }

    cln->handler = ngx_http_mim_dsp_catalog_cleanup;
    cln->data = conf->catalog;

    for (len = 0; len < mim_dsp_catalog_warning_count(conf->catalog); len++)
    {
        ngx_conf_log_error(NGX_LOG_WARN, cf, 0, "mim_dsp_catalog \"%V\": %s",
                           &file, mim_dsp_catalog_warning(conf->catalog,
                                                          len));
    }

    /* "/dsp/" -> "/dsp" */
    conf->base.len = clcf->name.len - 1;
    conf->base.data = ngx_pnalloc(cf->pool, conf->base.len + 1);
    if (conf->base.data == NULL) {
        return NGX_CONF_ERROR;
    }

    ngx_memcpy(conf->base.data, clcf->name.data, conf->base.len);
    conf->base.data[conf->base.len] = '\0';

    if (conf->url.len) {
        res = mim_dsp_catalog_json(conf->catalog,
                                   (char *) conf->participant_id.data,
                                   (char *) conf->url.data, &json, &len);
        if (!mim_ok(res)) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "mim_dsp_catalog: %s",
                               res.msg);
            return NGX_CONF_ERROR;
        }

        if (ngx_http_mim_dsp_pstr(cf->pool, &conf->catalog_json, json, len)
            != NGX_OK)
        {
            free(json);
            return NGX_CONF_ERROR;
        }

        free(json);
    }

    /* bodies up to mim_dsp_max_body stay in memory */
    if (clcf->client_body_buffer_size < conf->max_body) {
        clcf->client_body_buffer_size = conf->max_body;
    }

    conf->ssl = ngx_pcalloc(cf->pool, sizeof(ngx_ssl_t));
    if (conf->ssl == NULL) {
        return NGX_CONF_ERROR;
    }

    if (conf->ssl_trusted_certificate.len == 0) {
        ngx_str_set(&file, NGX_HTTP_MIM_DSP_DEFAULT_CA);

    } else {
        file = conf->ssl_trusted_certificate;
    }

    if (ngx_http_mim_client_ssl_init(cf, conf->ssl, &file) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    conf->resolver = clcf->resolver;
    conf->resolver_timeout = clcf->resolver_timeout;
    conf->zone = ngx_http_mim_conf_zone(cf);

    dmcf->dsp = conf;
    dmcf->log = cf->log;

    return NGX_CONF_OK;
}


static void
ngx_http_mim_dsp_catalog_cleanup(void *data)
{
    mim_dsp_catalog_free(data);
}


static ngx_int_t
ngx_http_mim_dsp_init_process(ngx_cycle_t *cycle)
{
    ngx_http_mim_dsp_main_conf_t  *dmcf;

    if (ngx_process != NGX_PROCESS_WORKER
        && ngx_process != NGX_PROCESS_SINGLE)
    {
        return NGX_OK;
    }

    dmcf = ngx_http_cycle_get_module_main_conf(cycle,
                                               ngx_http_mim_dsp_module);
    if (dmcf == NULL || dmcf->dsp == NULL) {
        return NGX_OK;
    }

    return ngx_http_mim_dsp_outbox_init(cycle, dmcf);
}
