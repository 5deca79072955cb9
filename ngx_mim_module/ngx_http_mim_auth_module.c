/*
 * ngx_http_mim_auth_module - who is calling (docs/directives.md, "Caller
 * identity").
 *
 * Two parts, both thin glue over trust/:
 *
 *   - mim_token_endpoint: the iSHARE-style token endpoint.  Reads the
 *     form-encoded body, has the core check the request and the client
 *     assertion, refuses a jti seen before (Redis SET NX PX, or pinned
 *     entries of the shared-memory zone without Redis), and answers with
 *     an access token signed with mim_signing_key.
 *
 *   - mim_auth: an ACCESS phase handler that requires a Bearer credential,
 *     the gateway's own access token or a VP/VC JWT, and exposes the
 *     caller as variables ($mim_party, $mim_claim_<name>, ...).
 *     Verification results are cached in the mim_zone by the SHA-256 of
 *     the token, under this configuration's generation and the server's
 *     number: a reload or another server never trusts an entry it did not
 *     verify itself.
 *
 * Trust material (anchors, CRLs, trusted issuers, DID documents) is loaded
 * once at configuration time; servers that do not name their own share
 * the http level's.  Nothing here writes to a configuration structure at
 * request time.
 */

#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_mim.h"
#include "ngx_http_mim_redis.h"
#include "ngx_http_mim_shm.h"

#include "mim_identity.h"
#include "mim_ishare.h"
#include "mim_jwt.h"
#include "mim_vc.h"


#define NGX_HTTP_MIM_AUTH_OFF      0
#define NGX_HTTP_MIM_AUTH_ON       1
#define NGX_HTTP_MIM_AUTH_ISHARE   2
#define NGX_HTTP_MIM_AUTH_VC       3

/* kinds of entries in the zone */
#define NGX_HTTP_MIM_SHM_VERIFIED  1
#define NGX_HTTP_MIM_SHM_JTI       2

/* the serialized identity (a cache entry's value) */
#define NGX_HTTP_MIM_ID_VERSION    1
#define NGX_HTTP_MIM_ID_MAX        NGX_HTTP_MIM_SHM_VALUE_MAX

#define NGX_HTTP_MIM_REASON_MAX    300


typedef struct {
    ngx_shm_zone_t                *zone;          /* mim_zone */
    time_t                         cache_ttl;     /* mim_auth_cache_ttl */
    uint32_t                       servers;       /* scopes handed out */
} ngx_http_mim_auth_main_conf_t;


typedef struct {
    ngx_str_t                      participant_id;  /* NUL-terminated */
    ngx_str_t                      anchors_file;
    ngx_str_t                      crl_file;
    ngx_str_t                      issuers_file;
    ngx_str_t                      did_web_dir;
    ngx_str_t                      vp_audience;     /* NUL-terminated */
    ngx_uint_t                     token_algs;    /* mim_alg_set_t */
    ngx_uint_t                     vc_algs;
    time_t                         leeway;
    time_t                         token_ttl;
    size_t                         token_max_body;
    ngx_uint_t                     party_from;
    ngx_flag_t                     status_optional;

    /* loaded at configuration time */
    X509_STORE                    *anchors;
    mim_trusted_issuers_t         *issuers;
    mim_did_web_t                 *did_web;
    uint32_t                       scope;           /* in cache keys */
} ngx_http_mim_auth_srv_conf_t;


typedef struct {
    ngx_uint_t                     mode;
    ngx_flag_t                     token_endpoint;
} ngx_http_mim_auth_loc_conf_t;




/* the caller, in the request's pool */
typedef struct {
    ngx_str_t                      party;
    ngx_str_t                      subject;
    ngx_str_t                      issuer;
    ngx_str_t                      method;
    ngx_str_t                      types;
    ngx_str_t                      jti;
    ngx_array_t                    claims;   /* ngx_http_mim_auth_claim_t */
    time_t                         expires;
    ngx_str_t                      error;    /* why it was refused */
} ngx_http_mim_auth_ctx_t;


/* a token request between its verification and its replay check */
typedef struct {
    ngx_str_t                      party;
    time_t                         replay_until;
} ngx_http_mim_token_ctx_t;


typedef struct {
    u_char                        *pos;
    u_char                        *end;
} ngx_http_mim_reader_t;


static ngx_int_t ngx_http_mim_auth_handler(ngx_http_request_t *r);
static ngx_int_t ngx_http_mim_auth_identify(ngx_http_request_t *r,
    ngx_str_t *token, ngx_http_mim_auth_ctx_t *ctx);
static ngx_int_t ngx_http_mim_auth_verify(ngx_http_request_t *r,
    ngx_str_t *token, ngx_str_t *blob, time_t *expires, ngx_str_t *reason);
static ngx_flag_t ngx_http_mim_auth_allowed(ngx_uint_t mode,
    ngx_http_mim_auth_ctx_t *ctx);
static ngx_int_t ngx_http_mim_auth_reject(ngx_http_request_t *r,
    ngx_uint_t status, const char *error, ngx_str_t *reason);
static ngx_http_mim_auth_ctx_t *ngx_http_mim_auth_get_ctx(
    ngx_http_request_t *r);
static ngx_http_mim_auth_ctx_t *ngx_http_mim_auth_new_ctx(
    ngx_http_request_t *r);
static void ngx_http_mim_auth_ctx_cleanup(void *data);

static ngx_int_t ngx_http_mim_identity_write(ngx_pool_t *pool,
    mim_identity_t *id, ngx_str_t *blob);
static ngx_int_t ngx_http_mim_identity_read(ngx_pool_t *pool,
    ngx_str_t *blob, ngx_http_mim_auth_ctx_t *ctx);

static ngx_int_t ngx_http_mim_token_handler(ngx_http_request_t *r);
static void ngx_http_mim_token_body_handler(ngx_http_request_t *r);
static ngx_int_t ngx_http_mim_token_process(ngx_http_request_t *r);
static ngx_int_t ngx_http_mim_token_read_body(ngx_http_request_t *r,
    ngx_str_t *body);
static ngx_int_t ngx_http_mim_token_replay_check(ngx_http_request_t *r,
    ngx_http_mim_token_ctx_t *ctx, mim_identity_t *id);
static void ngx_http_mim_token_replay_done(ngx_http_request_t *r,
    void *data, ngx_http_mim_redis_reply_t *reply);
static ngx_int_t ngx_http_mim_token_issue(ngx_http_request_t *r,
    ngx_http_mim_token_ctx_t *ctx);
static ngx_int_t ngx_http_mim_token_error(ngx_http_request_t *r,
    ngx_uint_t status, const char *error, const char *description);

static ngx_int_t ngx_http_mim_json_response(ngx_http_request_t *r,
    ngx_uint_t status, json_t *body, ngx_flag_t no_store);
static ngx_int_t ngx_http_mim_add_header(ngx_http_request_t *r,
    const char *name, ngx_str_t *value, ngx_table_elt_t **out);

static ngx_int_t ngx_http_mim_auth_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);
static ngx_int_t ngx_http_mim_auth_claim_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);

static char *ngx_http_mim_auth_zone(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_mim_token_endpoint(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_mim_auth_algs(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static ngx_int_t ngx_http_mim_auth_load_anchors(ngx_conf_t *cf,
    ngx_http_mim_auth_srv_conf_t *conf);
static ngx_int_t ngx_http_mim_auth_load_issuers(ngx_conf_t *cf,
    ngx_http_mim_auth_srv_conf_t *conf);
static void ngx_http_mim_auth_store_cleanup(void *data);
static void ngx_http_mim_auth_issuers_cleanup(void *data);
static void ngx_http_mim_auth_did_web_cleanup(void *data);
static ngx_int_t ngx_http_mim_auth_add_variables(ngx_conf_t *cf);
static void *ngx_http_mim_auth_create_main_conf(ngx_conf_t *cf);
static char *ngx_http_mim_auth_init_main_conf(ngx_conf_t *cf, void *conf);
static void *ngx_http_mim_auth_create_srv_conf(ngx_conf_t *cf);
static char *ngx_http_mim_auth_merge_srv_conf(ngx_conf_t *cf, void *parent,
    void *child);
static void *ngx_http_mim_auth_create_loc_conf(ngx_conf_t *cf);
static char *ngx_http_mim_auth_merge_loc_conf(ngx_conf_t *cf, void *parent,
    void *child);
static ngx_int_t ngx_http_mim_auth_init(ngx_conf_t *cf);


static ngx_conf_enum_t  ngx_http_mim_party_sources[] = {
    { ngx_string("serialNumber"), MIM_PARTY_SERIAL_NUMBER },
    { ngx_string("organizationIdentifier"), MIM_PARTY_ORGANIZATION_ID },
    { ngx_null_string, 0 }
};


static ngx_conf_enum_t  ngx_http_mim_auth_modes[] = {
    { ngx_string("off"), NGX_HTTP_MIM_AUTH_OFF },
    { ngx_string("on"), NGX_HTTP_MIM_AUTH_ON },
    { ngx_string("ishare"), NGX_HTTP_MIM_AUTH_ISHARE },
    { ngx_string("vc"), NGX_HTTP_MIM_AUTH_VC },
    { ngx_null_string, 0 }
};


static ngx_command_t  ngx_http_mim_auth_commands[] = {

    { ngx_string("mim_participant_id"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_str_slot,
      NGX_HTTP_SRV_CONF_OFFSET,
      offsetof(ngx_http_mim_auth_srv_conf_t, participant_id),
      NULL },

    { ngx_string("mim_trust_anchors"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_str_slot,
      NGX_HTTP_SRV_CONF_OFFSET,
      offsetof(ngx_http_mim_auth_srv_conf_t, anchors_file),
      NULL },

    { ngx_string("mim_trust_crl"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_str_slot,
      NGX_HTTP_SRV_CONF_OFFSET,
      offsetof(ngx_http_mim_auth_srv_conf_t, crl_file),
      NULL },

    { ngx_string("mim_party_id_from"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_enum_slot,
      NGX_HTTP_SRV_CONF_OFFSET,
      offsetof(ngx_http_mim_auth_srv_conf_t, party_from),
      &ngx_http_mim_party_sources },

    { ngx_string("mim_token_algs"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_CONF_1MORE,
      ngx_http_mim_auth_algs,
      NGX_HTTP_SRV_CONF_OFFSET,
      offsetof(ngx_http_mim_auth_srv_conf_t, token_algs),
      NULL },

    { ngx_string("mim_token_ttl"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_sec_slot,
      NGX_HTTP_SRV_CONF_OFFSET,
      offsetof(ngx_http_mim_auth_srv_conf_t, token_ttl),
      NULL },

    { ngx_string("mim_token_max_body"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_size_slot,
      NGX_HTTP_SRV_CONF_OFFSET,
      offsetof(ngx_http_mim_auth_srv_conf_t, token_max_body),
      NULL },

    { ngx_string("mim_token_endpoint"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS,
      ngx_http_mim_token_endpoint,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("mim_trusted_issuers"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_str_slot,
      NGX_HTTP_SRV_CONF_OFFSET,
      offsetof(ngx_http_mim_auth_srv_conf_t, issuers_file),
      NULL },

    { ngx_string("mim_did_web_dir"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_str_slot,
      NGX_HTTP_SRV_CONF_OFFSET,
      offsetof(ngx_http_mim_auth_srv_conf_t, did_web_dir),
      NULL },

    { ngx_string("mim_vc_algs"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_CONF_1MORE,
      ngx_http_mim_auth_algs,
      NGX_HTTP_SRV_CONF_OFFSET,
      offsetof(ngx_http_mim_auth_srv_conf_t, vc_algs),
      NULL },

    { ngx_string("mim_vc_status_optional"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_CONF_FLAG,
      ngx_conf_set_flag_slot,
      NGX_HTTP_SRV_CONF_OFFSET,
      offsetof(ngx_http_mim_auth_srv_conf_t, status_optional),
      NULL },

    { ngx_string("mim_vp_audience"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_str_slot,
      NGX_HTTP_SRV_CONF_OFFSET,
      offsetof(ngx_http_mim_auth_srv_conf_t, vp_audience),
      NULL },

    { ngx_string("mim_leeway"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_sec_slot,
      NGX_HTTP_SRV_CONF_OFFSET,
      offsetof(ngx_http_mim_auth_srv_conf_t, leeway),
      NULL },

    { ngx_string("mim_auth"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_enum_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_mim_auth_loc_conf_t, mode),
      &ngx_http_mim_auth_modes },

    { ngx_string("mim_zone"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE2,
      ngx_http_mim_auth_zone,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("mim_auth_cache_ttl"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_sec_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_mim_auth_main_conf_t, cache_ttl),
      NULL },

      ngx_null_command
};


static ngx_http_variable_t  ngx_http_mim_auth_vars[] = {

    { ngx_string("mim_party"), NULL, ngx_http_mim_auth_variable,
      offsetof(ngx_http_mim_auth_ctx_t, party), NGX_HTTP_VAR_NOCACHEABLE,
      0 },

    { ngx_string("mim_subject"), NULL, ngx_http_mim_auth_variable,
      offsetof(ngx_http_mim_auth_ctx_t, subject), NGX_HTTP_VAR_NOCACHEABLE,
      0 },

    { ngx_string("mim_issuer"), NULL, ngx_http_mim_auth_variable,
      offsetof(ngx_http_mim_auth_ctx_t, issuer), NGX_HTTP_VAR_NOCACHEABLE,
      0 },

    { ngx_string("mim_auth_method"), NULL, ngx_http_mim_auth_variable,
      offsetof(ngx_http_mim_auth_ctx_t, method), NGX_HTTP_VAR_NOCACHEABLE,
      0 },

    { ngx_string("mim_credential_types"), NULL, ngx_http_mim_auth_variable,
      offsetof(ngx_http_mim_auth_ctx_t, types), NGX_HTTP_VAR_NOCACHEABLE,
      0 },

    { ngx_string("mim_auth_error"), NULL, ngx_http_mim_auth_variable,
      offsetof(ngx_http_mim_auth_ctx_t, error), NGX_HTTP_VAR_NOCACHEABLE,
      0 },

    { ngx_string("mim_claim_"), NULL, ngx_http_mim_auth_claim_variable,
      0, NGX_HTTP_VAR_NOCACHEABLE|NGX_HTTP_VAR_PREFIX, 0 },

      ngx_http_null_variable
};


static ngx_http_module_t  ngx_http_mim_auth_module_ctx = {
    ngx_http_mim_auth_add_variables,       /* preconfiguration */
    ngx_http_mim_auth_init,                /* postconfiguration */

    ngx_http_mim_auth_create_main_conf,    /* create main configuration */
    ngx_http_mim_auth_init_main_conf,      /* init main configuration */

    ngx_http_mim_auth_create_srv_conf,     /* create server configuration */
    ngx_http_mim_auth_merge_srv_conf,      /* merge server configuration */

    ngx_http_mim_auth_create_loc_conf,     /* create location configuration */
    ngx_http_mim_auth_merge_loc_conf       /* merge location configuration */
};


ngx_module_t  ngx_http_mim_auth_module = {
    NGX_MODULE_V1,
    &ngx_http_mim_auth_module_ctx,         /* module context */
    ngx_http_mim_auth_commands,            /* module directives */
    NGX_HTTP_MODULE,                       /* module type */
    NULL,                                  /* init master */
    NULL,                                  /* init module */
    NULL,                                  /* init process */
    NULL,                                  /* init thread */
    NULL,                                  /* exit thread */
    NULL,                                  /* exit process */
    NULL,                                  /* exit master */
    NGX_MODULE_V1_PADDING
};


static ngx_str_t  ngx_http_mim_method_names[] = {
    ngx_null_string,
    ngx_string("ishare"),
    ngx_string("token"),
    ngx_string("vc")
};


/* ---- mim_auth: the ACCESS phase ------------------------------------- */

static ngx_int_t
ngx_http_mim_auth_handler(ngx_http_request_t *r)
{
    ngx_int_t                      rc;
    ngx_str_t                      token, reason;
    ngx_http_mim_auth_ctx_t       *ctx;
    ngx_http_mim_auth_loc_conf_t  *alcf;

    alcf = ngx_http_get_module_loc_conf(r, ngx_http_mim_auth_module);

    if (alcf->mode == NGX_HTTP_MIM_AUTH_OFF) {
        return NGX_DECLINED;
    }

    ctx = ngx_http_mim_auth_new_ctx(r);
    if (ctx == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    rc = ngx_http_mim_bearer_token(r, &token);

    if (rc == NGX_DECLINED) {
        ngx_str_set(&ctx->error, "no Bearer credential");
        return ngx_http_mim_auth_reject(r, NGX_HTTP_UNAUTHORIZED, NULL,
                                        &ctx->error);
    }

    if (rc != NGX_OK) {
        ngx_str_set(&ctx->error, "a malformed Bearer credential");
        return ngx_http_mim_auth_reject(r, NGX_HTTP_UNAUTHORIZED,
                                        "invalid_token", &ctx->error);
    }

    rc = ngx_http_mim_auth_identify(r, &token, ctx);

    if (rc == NGX_ERROR) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (rc == NGX_DECLINED) {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "mim_auth: invalid token: %V", &ctx->error);
        return ngx_http_mim_auth_reject(r, NGX_HTTP_UNAUTHORIZED,
                                        "invalid_token", &ctx->error);
    }

    if (!ngx_http_mim_auth_allowed(alcf->mode, ctx)) {
        reason.data = ngx_pnalloc(r->pool, NGX_HTTP_MIM_REASON_MAX);
        if (reason.data == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        reason.len = ngx_snprintf(reason.data, NGX_HTTP_MIM_REASON_MAX,
                                  "this location does not accept %s "
                                  "credentials (%V of %V)",
                                  alcf->mode == NGX_HTTP_MIM_AUTH_VC
                                  ? "access token" : "verifiable",
                                  &ctx->method, &ctx->party)
                     - reason.data;
        ctx->error = reason;

        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "mim_auth: %V", &reason);
        return ngx_http_mim_auth_reject(r, NGX_HTTP_FORBIDDEN,
                                        "insufficient_scope", &reason);
    }

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "mim_auth: %V by %V", &ctx->party, &ctx->method);

    return NGX_OK;
}


/*
 * Fill ctx from the cache or a verification: NGX_OK, NGX_DECLINED with
 * ctx->error, NGX_ERROR.
 */
static ngx_int_t
ngx_http_mim_auth_identify(ngx_http_request_t *r, ngx_str_t *token,
    ngx_http_mim_auth_ctx_t *ctx)
{
    char                            hash[MIM_KID_LEN + 1];
    time_t                          now, expires, until;
    ngx_int_t                       rc;
    ngx_str_t                       blob;
    ngx_http_mim_shm_key_t          key;
    ngx_http_mim_auth_srv_conf_t   *ascf;
    ngx_http_mim_auth_main_conf_t  *amcf;

    amcf = ngx_http_get_module_main_conf(r, ngx_http_mim_auth_module);
    ascf = ngx_http_get_module_srv_conf(r, ngx_http_mim_auth_module);

    now = ngx_time();

    if (token->len > MIM_JWT_MAX) {
        ngx_str_set(&ctx->error, "token over 16384 bytes");
        return NGX_DECLINED;
    }

    if (amcf->zone) {
        mim_jwt_hash((char *) token->data, token->len, hash);

        key.kind = NGX_HTTP_MIM_SHM_VERIFIED;
        key.generation = ngx_http_mim_shm_generation(amcf->zone);
        key.scope = ascf->scope;
        key.id.data = (u_char *) hash;
        key.id.len = MIM_KID_LEN;

        rc = ngx_http_mim_shm_get(amcf->zone, &key, now, r->pool, &blob);

        if (rc == NGX_ERROR) {
            return NGX_ERROR;
        }

        if (rc == NGX_OK) {
            return ngx_http_mim_identity_read(r->pool, &blob, ctx);
        }
    }

    rc = ngx_http_mim_auth_verify(r, token, &blob, &expires, &ctx->error);

    if (rc != NGX_OK) {
        return rc;
    }

    until = 0;

    if (amcf->zone) {
        /* until the token expires, or the cache TTL, whichever is first */
        until = now + amcf->cache_ttl;

        if (expires > 0 && expires < until) {
            until = expires;
        }

        /* a full zone only costs the next request a verification */
        if (ngx_http_mim_shm_set(amcf->zone, &key, now, until, &blob)
            != NGX_OK)
        {
            until = 0;
        }
    }

    rc = ngx_http_mim_identity_read(r->pool, &blob, ctx);

    if (rc == NGX_OK) {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "mim_auth: verified a %V credential of %V, cached "
                      "for %T s", &ctx->method, &ctx->party,
                      until ? until - now : 0);
    }

    return rc;
}


/*
 * Verify a token with the core: the gateway's own access token when its
 * (unverified) iss is our party id, else a VP/VC JWT.  On success blob is
 * the serialized identity.
 */
static ngx_int_t
ngx_http_mim_auth_verify(ngx_http_request_t *r, ngx_str_t *token,
    ngx_str_t *blob, time_t *expires, ngx_str_t *reason)
{
    char                          *text;
    ngx_int_t                      rc;
    mim_jwt_t                      jwt;
    const char                    *iss;
    ngx_flag_t                     ours;
    mim_result_t                   res;
    mim_identity_t                 id;
    mim_vc_config_t                vcfg;
    ngx_http_mim_srv_conf_t       *mscf;
    ngx_http_mim_auth_srv_conf_t  *ascf;

    ascf = ngx_http_get_module_srv_conf(r, ngx_http_mim_auth_module);
    mscf = ngx_http_get_module_srv_conf(r, ngx_http_mim_module);

    text = (char *) token->data;

    res = mim_jwt_parse(&jwt, text, token->len);
    if (!mim_ok(res)) {
        goto refused;
    }

    iss = mim_jwt_string(&jwt, "iss");
    ours = iss != NULL && ascf->participant_id.len
           && ngx_strcmp(iss, ascf->participant_id.data) == 0;

    if (!ours && jwt.typ != NULL && ngx_strcasecmp((u_char *) jwt.typ,
                                                   (u_char *) "at+jwt") == 0)
    {
        /* someone else's access token: we trust only our own */
        res = mim_result_err(MIM_ERR_UNTRUSTED, "an access token issued "
                             "by %.100s, not by this gateway (%.100s)",
                             iss ? iss : "nobody",
                             (char *) ascf->participant_id.data);
        mim_jwt_free(&jwt);
        goto refused;
    }

    mim_jwt_free(&jwt);

    ngx_memzero(&id, sizeof(mim_identity_t));

    if (ours && mscf->signing_key != NULL) {
        res = mim_access_token_verify(mscf->signing_key,
                                      (char *) ascf->participant_id.data,
                                      text, token->len, ngx_time(),
                                      ascf->leeway, &id);

    } else if (ascf->issuers != NULL) {
        ngx_memzero(&vcfg, sizeof(mim_vc_config_t));
        vcfg.issuers = ascf->issuers;
        vcfg.did_web = ascf->did_web;
        vcfg.algs = (mim_alg_set_t) ascf->vc_algs;
        vcfg.now = ngx_time();
        vcfg.leeway = ascf->leeway;
        vcfg.audience = ascf->vp_audience.len
                        ? (char *) ascf->vp_audience.data : NULL;
        vcfg.status_optional = ascf->status_optional;

        res = mim_vc_verify(&vcfg, text, token->len, &id);

    } else {
        res = mim_result_err(MIM_ERR_UNTRUSTED, "not an access token of "
                             "this gateway, and no trusted issuers are "
                             "configured for credentials");
    }

    if (!mim_ok(res)) {
        goto refused;
    }

    *expires = (time_t) id.expires;

    rc = ngx_http_mim_identity_write(r->pool, &id, blob);

    mim_identity_free(&id);

    if (rc == NGX_DECLINED) {
        ngx_str_set(reason, "the credential carries too many claims");
    }

    return rc;

refused:

    reason->len = ngx_strlen(res.msg);
    reason->data = ngx_pnalloc(r->pool, reason->len);
    if (reason->data == NULL) {
        return NGX_ERROR;
    }

    ngx_memcpy(reason->data, res.msg, reason->len);

    return NGX_DECLINED;
}


/*
 * The token of "Authorization: Bearer <token>", NUL-terminated in r->pool
 * (ngx_http_mim.h): NGX_OK, NGX_DECLINED when there is no Bearer
 * credential, NGX_ERROR when it is malformed.  mim_auth and mim_agreement
 * read their credentials with it.
 */
ngx_int_t
ngx_http_mim_bearer_token(ngx_http_request_t *r, ngx_str_t *token)
{
    u_char     *p, *last;
    ngx_str_t  *value;

    /* RFC 6750 b64token: ALPHA DIGIT "-" "." "_" "~" "+" "/", then "="s */
    static const u_char  b64token[256] = {
        ['-'] = 1, ['.'] = 1, ['_'] = 1, ['~'] = 1, ['+'] = 1, ['/'] = 1,
        ['='] = 1,
        ['0'] = 1, ['1'] = 1, ['2'] = 1, ['3'] = 1, ['4'] = 1, ['5'] = 1,
        ['6'] = 1, ['7'] = 1, ['8'] = 1, ['9'] = 1,
        ['A'] = 1, ['B'] = 1, ['C'] = 1, ['D'] = 1, ['E'] = 1, ['F'] = 1,
        ['G'] = 1, ['H'] = 1, ['I'] = 1, ['J'] = 1, ['K'] = 1, ['L'] = 1,
        ['M'] = 1, ['N'] = 1, ['O'] = 1, ['P'] = 1, ['Q'] = 1, ['R'] = 1,
        ['S'] = 1, ['T'] = 1, ['U'] = 1, ['V'] = 1, ['W'] = 1, ['X'] = 1,
        ['Y'] = 1, ['Z'] = 1,
        ['a'] = 1, ['b'] = 1, ['c'] = 1, ['d'] = 1, ['e'] = 1, ['f'] = 1,
        ['g'] = 1, ['h'] = 1, ['i'] = 1, ['j'] = 1, ['k'] = 1, ['l'] = 1,
        ['m'] = 1, ['n'] = 1, ['o'] = 1, ['p'] = 1, ['q'] = 1, ['r'] = 1,
        ['s'] = 1, ['t'] = 1, ['u'] = 1, ['v'] = 1, ['w'] = 1, ['x'] = 1,
        ['y'] = 1, ['z'] = 1
    };

    if (r->headers_in.authorization == NULL) {
        return NGX_DECLINED;
    }

    value = &r->headers_in.authorization->value;

    /* the scheme is case-insensitive; nginx trimmed trailing spaces */
    if (value->len < sizeof("Bearer") - 1
        || ngx_strncasecmp(value->data, (u_char *) "Bearer",
                           sizeof("Bearer") - 1) != 0
        || (value->len > sizeof("Bearer") - 1
            && value->data[sizeof("Bearer") - 1] != ' '))
    {
        return NGX_DECLINED;
    }

    p = value->data + sizeof("Bearer") - 1;
    last = value->data + value->len;

    while (p < last && *p == ' ') {
        p++;
    }

    while (last > p && last[-1] == ' ') {
        last--;
    }

    if (p == last) {
        return NGX_ERROR;
    }

    token->data = p;
    token->len = last - p;

    for ( /* void */ ; p < last; p++) {
        if (!b64token[*p]) {
            return NGX_ERROR;
        }
    }

    /* and room for the NUL the core wants */
    p = ngx_pnalloc(r->pool, token->len + 1);
    if (p == NULL) {
        return NGX_ERROR;
    }

    *ngx_cpymem(p, token->data, token->len) = '\0';
    token->data = p;

    return NGX_OK;
}


/* does the location take this kind of credential?  (unknown kinds: no) */
static ngx_flag_t
ngx_http_mim_auth_allowed(ngx_uint_t mode, ngx_http_mim_auth_ctx_t *ctx)
{
    ngx_flag_t  token, vc;

    token = ctx->method.len == 5
            && ngx_strncmp(ctx->method.data, "token", 5) == 0;
    vc = ctx->method.len == 2 && ngx_strncmp(ctx->method.data, "vc", 2) == 0;

    switch (mode) {
    case NGX_HTTP_MIM_AUTH_ISHARE:
        return token;
    case NGX_HTTP_MIM_AUTH_VC:
        return vc;
    default:
        return token || vc;
    }
}


/*
 * 401 or 403 with WWW-Authenticate and a JSON body.  Under `satisfy any`
 * the status alone goes back to the access phase, which lets another
 * module admit the request (nginx then sends its own error page).
 */
static ngx_int_t
ngx_http_mim_auth_reject(ngx_http_request_t *r, ngx_uint_t status,
    const char *error, ngx_str_t *reason)
{
    u_char                    *p, *q;
    json_t                    *body;
    ngx_int_t                  rc;
    ngx_str_t                  challenge;
    ngx_http_core_loc_conf_t  *clcf;

    if (error == NULL) {
        ngx_str_set(&challenge, "Bearer");

    } else {
        challenge.data = ngx_pnalloc(r->pool, sizeof("Bearer error=\"\", "
                                     "error_description=\"\"")
                                     + ngx_strlen(error) + reason->len);
        if (challenge.data == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        p = ngx_sprintf(challenge.data, "Bearer error=\"%s\", "
                        "error_description=\"", error);

        /* RFC 6750 3: no '"', '\' or anything outside printable ASCII */
        for (q = reason->data; q < reason->data + reason->len; q++) {
            *p++ = (*q == '"') ? '\''
                   : (*q == '\\') ? '/'
                   : (*q < 0x20 || *q > 0x7e) ? '?' : *q;
        }

        *p++ = '"';
        challenge.len = p - challenge.data;
    }

    if (ngx_http_mim_add_header(r, "WWW-Authenticate", &challenge,
                                &r->headers_out.www_authenticate)
        != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    clcf = ngx_http_get_module_loc_conf(r, ngx_http_core_module);

    if (clcf->satisfy == NGX_HTTP_SATISFY_ANY) {
        return status;
    }

    body = json_pack("{s:s, s:s%}",
                     "error", error ? error : "unauthorized",
                     "error_description", reason->data, reason->len);
    if (body == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    rc = ngx_http_mim_json_response(r, status, body, 0);

    ngx_http_finalize_request(r, rc);

    return NGX_DONE;
}


static ngx_http_mim_auth_ctx_t *
ngx_http_mim_auth_new_ctx(ngx_http_request_t *r)
{
    ngx_pool_cleanup_t       *cln;
    ngx_http_mim_auth_ctx_t  *ctx;

    ctx = ngx_pcalloc(r->pool, sizeof(ngx_http_mim_auth_ctx_t));
    if (ctx == NULL) {
        return NULL;
    }

    /* found again after an internal redirect resets the module ctx */
    cln = ngx_pool_cleanup_add(r->pool, 0);
    if (cln == NULL) {
        return NULL;
    }

    cln->handler = ngx_http_mim_auth_ctx_cleanup;
    cln->data = ctx;

    ngx_http_set_ctx(r, ctx, ngx_http_mim_auth_module);

    return ctx;
}


static ngx_http_mim_auth_ctx_t *
ngx_http_mim_auth_get_ctx(ngx_http_request_t *r)
{
    ngx_pool_cleanup_t       *cln;
    ngx_http_mim_auth_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_mim_auth_module);

    if (ctx == NULL && (r->internal || r->filter_finalize)) {
        for (cln = r->pool->cleanup; cln; cln = cln->next) {
            if (cln->handler == ngx_http_mim_auth_ctx_cleanup) {
                ctx = cln->data;
                break;
            }
        }
    }

    return ctx;
}


ngx_int_t
ngx_http_mim_auth_caller(ngx_http_request_t *r, ngx_str_t *party,
    ngx_array_t **claims)
{
    ngx_http_mim_auth_ctx_t  *ctx;

    ctx = ngx_http_mim_auth_get_ctx(r);

    if (ctx == NULL || ctx->party.len == 0) {
        return NGX_DECLINED;
    }

    *party = ctx->party;
    *claims = &ctx->claims;

    return NGX_OK;
}


ngx_int_t
ngx_http_mim_auth_policy_claims(ngx_http_request_t *r, mim_claim_t **claims,
    size_t *n)
{
    ngx_str_t                   party;
    ngx_uint_t                  i, j;
    mim_str_t                  *values;
    mim_claim_t                *out;
    ngx_array_t                *list;
    ngx_http_mim_auth_claim_t  *claim;

    *claims = NULL;
    *n = 0;

    if (ngx_http_mim_auth_caller(r, &party, &list) != NGX_OK
        || list->nelts == 0)
    {
        return NGX_OK;
    }

    out = ngx_palloc(r->pool, list->nelts * sizeof(mim_claim_t));
    if (out == NULL) {
        return NGX_ERROR;
    }

    claim = list->elts;

    for (i = 0; i < list->nelts; i++) {
        values = ngx_palloc(r->pool,
                            (claim[i].nvalues + 1) * sizeof(mim_str_t));
        if (values == NULL) {
            return NGX_ERROR;
        }

        for (j = 0; j < claim[i].nvalues; j++) {
            values[j].data = (char *) claim[i].values[j].data;
            values[j].len = claim[i].values[j].len;
        }

        out[i].name.data = (char *) claim[i].name.data;
        out[i].name.len = claim[i].name.len;
        out[i].values = values;
        out[i].n = claim[i].nvalues;
    }

    *claims = out;
    *n = list->nelts;

    return NGX_OK;
}


ngx_shm_zone_t *
ngx_http_mim_conf_zone(ngx_conf_t *cf)
{
    ngx_http_mim_auth_main_conf_t  *amcf;

    amcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_mim_auth_module);

    return amcf->zone;
}


ngx_str_t *
ngx_http_mim_conf_participant_id(ngx_conf_t *cf)
{
    ngx_http_mim_auth_srv_conf_t  *ascf;

    ascf = ngx_http_conf_get_module_srv_conf(cf, ngx_http_mim_auth_module);

    return &ascf->participant_id;
}


static void
ngx_http_mim_auth_ctx_cleanup(void *data)
{
    /* a marker only: see ngx_http_mim_auth_get_ctx() */
}


/* ---- the identity as bytes (cache entries) --------------------------- */

static u_char *
ngx_http_mim_put_str(u_char *p, const char *s)
{
    uint32_t  len = s ? (uint32_t) ngx_strlen(s) : 0;

    p = ngx_cpymem(p, &len, sizeof(uint32_t));
    return ngx_cpymem(p, s, len);
}


static size_t
ngx_http_mim_str_size(const char *s)
{
    return sizeof(uint32_t) + (s ? ngx_strlen(s) : 0);
}


/* NGX_OK, NGX_DECLINED when too large to keep, NGX_ERROR */
static ngx_int_t
ngx_http_mim_identity_write(ngx_pool_t *pool, mim_identity_t *id,
    ngx_str_t *blob)
{
    size_t       size, i, j;
    u_char      *p;
    int64_t      expires;
    uint32_t     n;
    ngx_uint_t   method;

    size = 2 + sizeof(int64_t) + sizeof(uint32_t)
           + ngx_http_mim_str_size(id->party)
           + ngx_http_mim_str_size(id->subject)
           + ngx_http_mim_str_size(id->issuer)
           + ngx_http_mim_str_size(id->credential_types)
           + ngx_http_mim_str_size(id->jti);

    for (i = 0; i < id->claims_n; i++) {
        size += ngx_http_mim_str_size(id->claims[i].name) + sizeof(uint32_t);

        for (j = 0; j < id->claims[i].n; j++) {
            size += ngx_http_mim_str_size(id->claims[i].values[j]);
        }
    }

    if (size > NGX_HTTP_MIM_ID_MAX) {
        return NGX_DECLINED;
    }

    method = 0;

    for (i = 1; i < sizeof(ngx_http_mim_method_names) / sizeof(ngx_str_t);
         i++)
    {
        if (id->auth_method
            && ngx_strcmp(id->auth_method,
                          ngx_http_mim_method_names[i].data) == 0)
        {
            method = i;
        }
    }

    blob->data = ngx_pnalloc(pool, size);
    if (blob->data == NULL) {
        return NGX_ERROR;
    }

    p = blob->data;
    *p++ = NGX_HTTP_MIM_ID_VERSION;
    *p++ = (u_char) method;

    expires = id->expires;
    p = ngx_cpymem(p, &expires, sizeof(int64_t));

    p = ngx_http_mim_put_str(p, id->party);
    p = ngx_http_mim_put_str(p, id->subject);
    p = ngx_http_mim_put_str(p, id->issuer);
    p = ngx_http_mim_put_str(p, id->credential_types);
    p = ngx_http_mim_put_str(p, id->jti);

    n = (uint32_t) id->claims_n;
    p = ngx_cpymem(p, &n, sizeof(uint32_t));

    for (i = 0; i < id->claims_n; i++) {
        p = ngx_http_mim_put_str(p, id->claims[i].name);

        n = (uint32_t) id->claims[i].n;
        p = ngx_cpymem(p, &n, sizeof(uint32_t));

        for (j = 0; j < id->claims[i].n; j++) {
            p = ngx_http_mim_put_str(p, id->claims[i].values[j]);
        }
    }

    blob->len = p - blob->data;

    return NGX_OK;
}


static ngx_int_t
ngx_http_mim_get_u32(ngx_http_mim_reader_t *rd, uint32_t *n)
{
    if ((size_t) (rd->end - rd->pos) < sizeof(uint32_t)) {
        return NGX_ERROR;
    }

    ngx_memcpy(n, rd->pos, sizeof(uint32_t));
    rd->pos += sizeof(uint32_t);

    return NGX_OK;
}


/* a string of the blob: it lives in the pool as long as the blob */
static ngx_int_t
ngx_http_mim_get_str(ngx_http_mim_reader_t *rd, ngx_str_t *s)
{
    uint32_t  len;

    if (ngx_http_mim_get_u32(rd, &len) != NGX_OK
        || (size_t) (rd->end - rd->pos) < len)
    {
        return NGX_ERROR;
    }

    s->len = len;
    s->data = rd->pos;
    rd->pos += len;

    return NGX_OK;
}


static ngx_int_t
ngx_http_mim_identity_read(ngx_pool_t *pool, ngx_str_t *blob,
    ngx_http_mim_auth_ctx_t *ctx)
{
    u_char                     *p;
    int64_t                     expires;
    uint32_t                    claims, n, j;
    ngx_str_t                   value;
    ngx_http_mim_reader_t       rd;
    ngx_http_mim_auth_claim_t  *claim;

    rd.pos = blob->data;
    rd.end = blob->data + blob->len;

    if (blob->len < 2 + sizeof(int64_t)
        || rd.pos[0] != NGX_HTTP_MIM_ID_VERSION
        || rd.pos[1] >= sizeof(ngx_http_mim_method_names) / sizeof(ngx_str_t))
    {
        goto corrupt;
    }

    ctx->method = ngx_http_mim_method_names[rd.pos[1]];
    rd.pos += 2;

    ngx_memcpy(&expires, rd.pos, sizeof(int64_t));
    ctx->expires = (time_t) expires;
    rd.pos += sizeof(int64_t);

    if (ngx_http_mim_get_str(&rd, &ctx->party) != NGX_OK
        || ngx_http_mim_get_str(&rd, &ctx->subject) != NGX_OK
        || ngx_http_mim_get_str(&rd, &ctx->issuer) != NGX_OK
        || ngx_http_mim_get_str(&rd, &ctx->types) != NGX_OK
        || ngx_http_mim_get_str(&rd, &ctx->jti) != NGX_OK
        || ngx_http_mim_get_u32(&rd, &claims) != NGX_OK
        || claims > blob->len)
    {
        goto corrupt;
    }

    if (ngx_array_init(&ctx->claims, pool, claims ? claims : 1,
                       sizeof(ngx_http_mim_auth_claim_t))
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    while (claims--) {
        claim = ngx_array_push(&ctx->claims);
        if (claim == NULL) {
            return NGX_ERROR;
        }

        if (ngx_http_mim_get_str(&rd, &claim->name) != NGX_OK
            || ngx_http_mim_get_u32(&rd, &n) != NGX_OK
            || n > blob->len)
        {
            goto corrupt;
        }

        /*
         * each value apart (for the policies), and all joined by commas
         * (for $mim_claim_<name>): each at most the rest of the blob
         */
        claim->values = ngx_palloc(pool, (n ? n : 1) * sizeof(ngx_str_t));
        claim->value.len = 0;
        claim->value.data = ngx_pnalloc(pool, rd.end - rd.pos + 1);
        if (claim->values == NULL || claim->value.data == NULL) {
            return NGX_ERROR;
        }

        claim->nvalues = n;
        p = claim->value.data;

        for (j = 0; j < n; j++) {
            if (ngx_http_mim_get_str(&rd, &value) != NGX_OK) {
                goto corrupt;
            }

            claim->values[j] = value;

            if (j) {
                *p++ = ',';
            }

            p = ngx_cpymem(p, value.data, value.len);
        }

        claim->value.len = p - claim->value.data;
    }

    return NGX_OK;

corrupt:

    /* our own bytes, so this is a bug: refuse rather than guess */
    ngx_log_error(NGX_LOG_ALERT, pool->log, 0,
                  "mim_auth: a cached identity is corrupt");
    return NGX_ERROR;
}


/* ---- variables ------------------------------------------------------- */

static ngx_int_t
ngx_http_mim_auth_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data)
{
    ngx_str_t                *value;
    ngx_http_mim_auth_ctx_t  *ctx;

    ctx = ngx_http_mim_auth_get_ctx(r);

    if (ctx == NULL) {
        v->not_found = 1;
        return NGX_OK;
    }

    value = (ngx_str_t *) ((u_char *) ctx + data);

    v->len = value->len;
    v->data = value->data;
    v->valid = 1;
    v->no_cacheable = 1;
    v->not_found = 0;

    return NGX_OK;
}


/* $mim_claim_<name>: nginx lower-cases variable names, so match so */
static ngx_int_t
ngx_http_mim_auth_claim_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data)
{
    ngx_str_t                  *var = (ngx_str_t *) data;
    ngx_str_t                   name;
    ngx_uint_t                  i;
    ngx_http_mim_auth_ctx_t    *ctx;
    ngx_http_mim_auth_claim_t  *claim;

    ctx = ngx_http_mim_auth_get_ctx(r);

    v->not_found = 1;

    if (ctx == NULL || ctx->claims.nelts == 0) {
        return NGX_OK;
    }

    name.len = var->len - (sizeof("mim_claim_") - 1);
    name.data = var->data + sizeof("mim_claim_") - 1;

    claim = ctx->claims.elts;

    for (i = 0; i < ctx->claims.nelts; i++) {
        if (claim[i].name.len == name.len
            && ngx_strncasecmp(claim[i].name.data, name.data, name.len) == 0)
        {
            v->len = claim[i].value.len;
            v->data = claim[i].value.data;
            v->valid = 1;
            v->no_cacheable = 1;
            v->not_found = 0;
            break;
        }
    }

    return NGX_OK;
}


/* ---- the token endpoint --------------------------------------------- */

static ngx_int_t
ngx_http_mim_token_handler(ngx_http_request_t *r)
{
    ngx_int_t                      rc;
    ngx_str_t                      allow;
    ngx_table_elt_t               *ct;
    ngx_http_mim_auth_srv_conf_t  *ascf;

    ascf = ngx_http_get_module_srv_conf(r, ngx_http_mim_auth_module);

    if (r->method != NGX_HTTP_POST) {
        ngx_str_set(&allow, "POST");
        if (ngx_http_mim_add_header(r, "Allow", &allow, NULL) != NGX_OK) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        return ngx_http_mim_token_error(r, NGX_HTTP_NOT_ALLOWED,
                                        MIM_OAUTH_INVALID_REQUEST,
                                        "the token endpoint takes POST");
    }

    ct = r->headers_in.content_type;

    if (ct == NULL
        || ct->value.len < sizeof("application/x-www-form-urlencoded") - 1
        || ngx_strncasecmp(ct->value.data,
                           (u_char *) "application/x-www-form-urlencoded",
                           sizeof("application/x-www-form-urlencoded") - 1)
           != 0)
    {
        return ngx_http_mim_token_error(r, NGX_HTTP_BAD_REQUEST,
                                        MIM_OAUTH_INVALID_REQUEST,
                                        "the body must be "
                                        "application/x-www-form-urlencoded");
    }

    if (r->headers_in.content_length_n > (off_t) ascf->token_max_body) {
        return ngx_http_mim_token_error(r, NGX_HTTP_BAD_REQUEST,
                                        MIM_OAUTH_INVALID_REQUEST,
                                        "the request body is too large");
    }

    r->request_body_in_single_buf = 1;

    rc = ngx_http_read_client_request_body(r,
                                           ngx_http_mim_token_body_handler);

    if (rc >= NGX_HTTP_SPECIAL_RESPONSE) {
        return rc;
    }

    return NGX_DONE;
}


static void
ngx_http_mim_token_body_handler(ngx_http_request_t *r)
{
    ngx_int_t  rc;

    rc = ngx_http_mim_token_process(r);

    if (rc != NGX_DONE) {
        ngx_http_finalize_request(r, rc);
    }
}


/* verify the request; NGX_DONE while the replay check runs in Redis */
static ngx_int_t
ngx_http_mim_token_process(ngx_http_request_t *r)
{
    ngx_int_t                      rc;
    ngx_str_t                      body;
    const char                    *oauth_error;
    mim_result_t                   res;
    mim_identity_t                 id;
    mim_ishare_config_t            icfg;
    mim_token_request_t            req;
    ngx_http_mim_token_ctx_t      *ctx;
    ngx_http_mim_auth_srv_conf_t  *ascf;

    ascf = ngx_http_get_module_srv_conf(r, ngx_http_mim_auth_module);

    rc = ngx_http_mim_token_read_body(r, &body);

    if (rc == NGX_DECLINED) {
        return ngx_http_mim_token_error(r, NGX_HTTP_BAD_REQUEST,
                                        MIM_OAUTH_INVALID_REQUEST,
                                        "the request body is too large");
    }

    if (rc != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_memzero(&req, sizeof(mim_token_request_t));
    oauth_error = MIM_OAUTH_INVALID_REQUEST;

    res = mim_token_request_parse(&req, (char *) body.data, body.len,
                                  &oauth_error);
    if (!mim_ok(res)) {
        mim_token_request_free(&req);
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "mim token: %s: %s", oauth_error, res.msg);
        return ngx_http_mim_token_error(r, NGX_HTTP_BAD_REQUEST,
                                        oauth_error, res.msg);
    }

    ngx_memzero(&icfg, sizeof(mim_ishare_config_t));
    icfg.participant_id = (char *) ascf->participant_id.data;
    icfg.anchors = ascf->anchors;
    icfg.algs = (mim_alg_set_t) ascf->token_algs;
    icfg.party_from = (mim_party_source_t) ascf->party_from;
    icfg.now = ngx_time();
    icfg.leeway = ascf->leeway;

    res = mim_ishare_verify_assertion(&icfg, req.client_id,
                                      req.client_assertion,
                                      ngx_strlen(req.client_assertion), &id);
    mim_token_request_free(&req);

    if (!mim_ok(res)) {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "mim token: invalid_client: %s", res.msg);
        return ngx_http_mim_token_error(r, NGX_HTTP_BAD_REQUEST,
                                        MIM_OAUTH_INVALID_CLIENT, res.msg);
    }

    ctx = ngx_pcalloc(r->pool, sizeof(ngx_http_mim_token_ctx_t));
    if (ctx == NULL) {
        mim_identity_free(&id);
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ctx->party.len = ngx_strlen(id.party);
    ctx->party.data = ngx_pnalloc(r->pool, ctx->party.len + 1);
    if (ctx->party.data == NULL) {
        mim_identity_free(&id);
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_memcpy(ctx->party.data, id.party, ctx->party.len + 1);

    /* a replayed assertion is refused until it could no longer pass */
    ctx->replay_until = (time_t) id.expires + ascf->leeway + 1;

    rc = ngx_http_mim_token_replay_check(r, ctx, &id);

    mim_identity_free(&id);

    return rc;
}


/* the body, NUL-terminated: NGX_OK, NGX_DECLINED when too large */
static ngx_int_t
ngx_http_mim_token_read_body(ngx_http_request_t *r, ngx_str_t *body)
{
    off_t                          size;
    u_char                        *p;
    ssize_t                        n;
    ngx_buf_t                     *b;
    ngx_chain_t                   *cl;
    ngx_http_mim_auth_srv_conf_t  *ascf;

    ascf = ngx_http_get_module_srv_conf(r, ngx_http_mim_auth_module);

    body->len = 0;
    body->data = (u_char *) "";

    if (r->request_body == NULL || r->request_body->bufs == NULL) {
        return NGX_OK;
    }

    size = 0;

    for (cl = r->request_body->bufs; cl; cl = cl->next) {
        size += ngx_buf_size(cl->buf);
    }

    if (size > (off_t) ascf->token_max_body) {
        return NGX_DECLINED;
    }

    p = ngx_pnalloc(r->pool, (size_t) size + 1);
    if (p == NULL) {
        return NGX_ERROR;
    }

    body->data = p;

    for (cl = r->request_body->bufs; cl; cl = cl->next) {
        b = cl->buf;

        if (ngx_buf_in_memory(b)) {
            p = ngx_cpymem(p, b->pos, b->last - b->pos);
            continue;
        }

        /* a small temporary file nginx just wrote (client_body_buffer) */
        n = ngx_read_file(b->file, p, (size_t) (b->file_last - b->file_pos),
                          b->file_pos);
        if (n != b->file_last - b->file_pos) {
            return NGX_ERROR;
        }

        p += n;
    }

    *p = '\0';
    body->len = p - body->data;

    return NGX_OK;
}


/*
 * Has this assertion's jti been used?  Redis when configured (every node
 * sees it), else a pinned entry in the zone.
 */
static ngx_int_t
ngx_http_mim_token_replay_check(ngx_http_request_t *r,
    ngx_http_mim_token_ctx_t *ctx, mim_identity_t *id)
{
    u_char                         *p;
    char                            hash[MIM_KID_LEN + 1];
    time_t                          now, ttl;
    ngx_int_t                       rc;
    ngx_str_t                       argv[6], reason, jti_key;
    ngx_http_mim_shm_key_t          key;
    ngx_http_mim_auth_main_conf_t  *amcf;

    amcf = ngx_http_get_module_main_conf(r, ngx_http_mim_auth_module);

    now = ngx_time();
    ttl = ctx->replay_until > now ? ctx->replay_until - now : 1;

    /* mim:jti:{iss}:{jti} */
    jti_key.len = sizeof("mim:jti::") - 1 + ngx_strlen(id->issuer)
                  + ngx_strlen(id->jti);
    jti_key.data = ngx_pnalloc(r->pool, jti_key.len + 1);
    if (jti_key.data == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    p = ngx_sprintf(jti_key.data, "mim:jti:%s:%s", id->issuer, id->jti);
    *p = '\0';

    if (ngx_http_mim_redis_enabled(r)) {
        ngx_str_set(&argv[0], "SET");
        argv[1] = jti_key;
        ngx_str_set(&argv[2], "1");
        ngx_str_set(&argv[3], "NX");
        ngx_str_set(&argv[4], "PX");

        argv[5].data = ngx_pnalloc(r->pool, NGX_TIME_T_LEN + 3);
        if (argv[5].data == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        argv[5].len = ngx_sprintf(argv[5].data, "%T000", ttl)
                      - argv[5].data;

        rc = ngx_http_mim_redis_send(r, 6, argv,
                                     ngx_http_mim_token_replay_done, ctx,
                                     &reason);
        if (rc == NGX_OK) {
            return NGX_DONE;
        }

        if (rc == NGX_BUSY) {
            ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                          "mim token: %V", &reason);
            p = ngx_pnalloc(r->pool, reason.len + 1);
            if (p == NULL) {
                return NGX_HTTP_INTERNAL_SERVER_ERROR;
            }

            *ngx_cpymem(p, reason.data, reason.len) = '\0';

            return ngx_http_mim_token_error(r,
                                            NGX_HTTP_SERVICE_UNAVAILABLE,
                                            "temporarily_unavailable",
                                            (char *) p);
        }

        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    mim_jwt_hash((char *) jti_key.data, jti_key.len, hash);

    key.kind = NGX_HTTP_MIM_SHM_JTI;
    key.generation = 0;      /* a reload must not forget used jti's */
    key.scope = 0;
    key.id.data = (u_char *) hash;
    key.id.len = MIM_KID_LEN;

    rc = ngx_http_mim_shm_add_pinned(amcf->zone, &key, now,
                                     now + ttl);

    if (rc == NGX_DECLINED) {
        return ngx_http_mim_token_error(r, NGX_HTTP_BAD_REQUEST,
                                        MIM_OAUTH_INVALID_CLIENT,
                                        "client assertion: jti was already "
                                        "used");
    }

    if (rc != NGX_OK) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "mim token: the replay cache in mim_zone is full");
        return ngx_http_mim_token_error(r, NGX_HTTP_SERVICE_UNAVAILABLE,
                                        "temporarily_unavailable",
                                        "the replay cache is full");
    }

    return ngx_http_mim_token_issue(r, ctx);
}


static void
ngx_http_mim_token_replay_done(ngx_http_request_t *r, void *data,
    ngx_http_mim_redis_reply_t *reply)
{
    u_char                    *p;
    ngx_int_t                  rc;
    ngx_http_mim_token_ctx_t  *ctx = data;

    switch (reply->type) {

    case NGX_HTTP_MIM_REDIS_STATUS:
        /* OK: the jti was not there, and now it is */
        rc = ngx_http_mim_token_issue(r, ctx);
        break;

    case NGX_HTTP_MIM_REDIS_NIL:
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "mim token: invalid_client: jti replayed by %V",
                      &ctx->party);
        rc = ngx_http_mim_token_error(r, NGX_HTTP_BAD_REQUEST,
                                      MIM_OAUTH_INVALID_CLIENT,
                                      "client assertion: jti was already "
                                      "used");
        break;

    default:
        if (reply->type == NGX_HTTP_MIM_REDIS_FAILED) {
            p = reply->str.data;

        } else {
            p = ngx_pnalloc(r->pool, reply->str.len + 32);
            if (p != NULL) {
                *ngx_sprintf(p, "Redis refused SET: %V", &reply->str) = '\0';
            }
        }

        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "mim token: %s", p ? (char *) p : "out of memory");

        rc = ngx_http_mim_token_error(r, NGX_HTTP_SERVICE_UNAVAILABLE,
                                      "temporarily_unavailable",
                                      p ? (char *) p : "Redis failed");
        break;
    }

    ngx_http_finalize_request(r, rc);
}


static ngx_int_t
ngx_http_mim_token_issue(ngx_http_request_t *r, ngx_http_mim_token_ctx_t *ctx)
{
    char                          *token;
    json_t                        *body;
    mim_result_t                   res;
    ngx_http_mim_srv_conf_t       *mscf;
    ngx_http_mim_auth_srv_conf_t  *ascf;

    ascf = ngx_http_get_module_srv_conf(r, ngx_http_mim_auth_module);
    mscf = ngx_http_get_module_srv_conf(r, ngx_http_mim_module);

    res = mim_access_token_issue(mscf->signing_key,
                                 (char *) ascf->participant_id.data,
                                 (char *) ctx->party.data, ngx_time(),
                                 ascf->token_ttl, &token);
    if (!mim_ok(res)) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "mim token: cannot issue an access token: %s",
                      res.msg);
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    body = json_pack("{s:s, s:s, s:I}", "access_token", token,
                     "token_type", "Bearer",
                     "expires_in", (json_int_t) ascf->token_ttl);
    free(token);

    if (body == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                  "mim token: issued an access token to %V", &ctx->party);

    return ngx_http_mim_json_response(r, NGX_HTTP_OK, body, 1);
}


/* RFC 6749 5.2 */
static ngx_int_t
ngx_http_mim_token_error(ngx_http_request_t *r, ngx_uint_t status,
    const char *error, const char *description)
{
    json_t  *body;

    body = json_pack("{s:s, s:s}", "error", error,
                     "error_description",
                     description ? description : "");
    if (body == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_http_mim_json_response(r, status, body, 1);
}


/* ---- responses ------------------------------------------------------- */

/* send body (consumed) as JSON: the result for finalize */
static ngx_int_t
ngx_http_mim_json_response(ngx_http_request_t *r, ngx_uint_t status,
    json_t *body, ngx_flag_t no_store)
{
    char       *text;
    ngx_str_t   s, value;

    text = json_dumps(body, JSON_COMPACT|JSON_PRESERVE_ORDER);
    json_decref(body);

    if (text == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    s.len = ngx_strlen(text);
    s.data = ngx_pnalloc(r->pool, s.len);

    if (s.data != NULL) {
        ngx_memcpy(s.data, text, s.len);
    }

    free(text);

    if (s.data == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (no_store) {
        ngx_str_set(&value, "no-store");
        if (ngx_http_mim_add_header(r, "Cache-Control", &value, NULL)
            != NGX_OK)
        {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        ngx_str_set(&value, "no-cache");
        if (ngx_http_mim_add_header(r, "Pragma", &value, NULL) != NGX_OK) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }
    }

    return ngx_http_mim_send_json(r, status, &s);
}


static ngx_int_t
ngx_http_mim_add_header(ngx_http_request_t *r, const char *name,
    ngx_str_t *value, ngx_table_elt_t **out)
{
    ngx_table_elt_t  *h;

    h = ngx_list_push(&r->headers_out.headers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    h->hash = 1;
    h->key.len = ngx_strlen(name);
    h->key.data = (u_char *) name;
    h->value = *value;

    if (out) {
        *out = h;
    }

    return NGX_OK;
}


/* ---- configuration --------------------------------------------------- */

static char *
ngx_http_mim_auth_zone(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_mim_auth_main_conf_t *amcf = conf;

    ssize_t     size;
    ngx_str_t  *value;

    if (amcf->zone != NULL) {
        return "is duplicate";
    }

    value = cf->args->elts;

    size = ngx_parse_size(&value[2]);

    if (size == NGX_ERROR || size < (ssize_t) (8 * ngx_pagesize)) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "mim_zone \"%V\": size \"%V\" is invalid or "
                           "under %uz bytes", &value[1], &value[2],
                           8 * ngx_pagesize);
        return NGX_CONF_ERROR;
    }

    amcf->zone = ngx_http_mim_shm_zone_add(cf, &value[1], size,
                                           &ngx_http_mim_auth_module);
    if (amcf->zone == NULL) {
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


static char *
ngx_http_mim_token_endpoint(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_mim_auth_loc_conf_t *alcf = conf;

    ngx_http_core_loc_conf_t  *clcf;

    if (alcf->token_endpoint != NGX_CONF_UNSET) {
        return "is duplicate";
    }

    alcf->token_endpoint = 1;

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);
    clcf->handler = ngx_http_mim_token_handler;

    return NGX_CONF_OK;
}


/* "mim_token_algs RS256 PS256;": a set of algorithms, "none"/HS* refused */
static char *
ngx_http_mim_auth_algs(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_uint_t  *set = (ngx_uint_t *) ((u_char *) conf + cmd->offset);

    ngx_str_t      *value;
    mim_alg_t       alg;
    ngx_uint_t      i;
    mim_alg_set_t   algs = 0;

    if (*set != NGX_CONF_UNSET_UINT) {
        return "is duplicate";
    }

    value = cf->args->elts;

    for (i = 1; i < cf->args->nelts; i++) {
        alg = mim_alg_from_name((char *) value[i].data, value[i].len);

        if (alg == MIM_ALG_NONE) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "%V: unknown or refused algorithm \"%V\"",
                               &cmd->name, &value[i]);
            return NGX_CONF_ERROR;
        }

        algs |= mim_alg_bit(alg);
    }

    *set = algs;

    return NGX_CONF_OK;
}


static ngx_int_t
ngx_http_mim_auth_load_anchors(ngx_conf_t *cf,
    ngx_http_mim_auth_srv_conf_t *conf)
{
    ngx_str_t            file;
    X509_LOOKUP         *lookup;
    mim_result_t         res;
    ngx_pool_cleanup_t  *cln;

    if (conf->anchors != NULL || conf->anchors_file.len == 0) {
        if (conf->anchors == NULL && conf->crl_file.len) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "mim_trust_crl \"%V\" is set without "
                               "mim_trust_anchors", &conf->crl_file);
            return NGX_ERROR;
        }

        return NGX_OK;
    }

    file = conf->anchors_file;

    if (ngx_conf_full_name(cf->cycle, &file, 1) != NGX_OK) {
        return NGX_ERROR;
    }

    res = mim_x509_store_load(&conf->anchors, (char *) file.data);
    if (!mim_ok(res)) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "mim_trust_anchors \"%V\": %s", &file, res.msg);
        return NGX_ERROR;
    }

    cln = ngx_pool_cleanup_add(cf->pool, 0);
    if (cln == NULL) {
        X509_STORE_free(conf->anchors);
        conf->anchors = NULL;
        return NGX_ERROR;
    }

    cln->handler = ngx_http_mim_auth_store_cleanup;
    cln->data = conf->anchors;

    if (conf->crl_file.len == 0) {
        return NGX_OK;
    }

    file = conf->crl_file;

    if (ngx_conf_full_name(cf->cycle, &file, 1) != NGX_OK) {
        return NGX_ERROR;
    }

    /* the leaf's issuer must have a CRL in the file, else it fails */
    lookup = X509_STORE_add_lookup(conf->anchors, X509_LOOKUP_file());

    if (lookup == NULL
        || X509_load_crl_file(lookup, (char *) file.data, X509_FILETYPE_PEM)
           <= 0
        || X509_STORE_set_flags(conf->anchors, X509_V_FLAG_CRL_CHECK) != 1)
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "mim_trust_crl \"%V\": no CRL could be loaded "
                           "(a PEM X509 CRL file is expected)", &file);
        return NGX_ERROR;
    }

    return NGX_OK;
}


static ngx_int_t
ngx_http_mim_auth_load_issuers(ngx_conf_t *cf,
    ngx_http_mim_auth_srv_conf_t *conf)
{
    ngx_str_t            file;
    mim_result_t         res;
    ngx_pool_cleanup_t  *cln;

    if (conf->issuers == NULL && conf->issuers_file.len) {
        file = conf->issuers_file;

        if (ngx_conf_full_name(cf->cycle, &file, 1) != NGX_OK) {
            return NGX_ERROR;
        }

        res = mim_trusted_issuers_load(&conf->issuers, (char *) file.data);
        if (!mim_ok(res)) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "mim_trusted_issuers \"%V\": %s", &file,
                               res.msg);
            return NGX_ERROR;
        }

        cln = ngx_pool_cleanup_add(cf->pool, 0);
        if (cln == NULL) {
            mim_trusted_issuers_free(conf->issuers);
            conf->issuers = NULL;
            return NGX_ERROR;
        }

        cln->handler = ngx_http_mim_auth_issuers_cleanup;
        cln->data = conf->issuers;
    }

    if (conf->did_web == NULL && conf->did_web_dir.len) {
        file = conf->did_web_dir;

        if (ngx_conf_full_name(cf->cycle, &file, 1) != NGX_OK) {
            return NGX_ERROR;
        }

        res = mim_did_web_load_dir(&conf->did_web, (char *) file.data);
        if (!mim_ok(res)) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "mim_did_web_dir \"%V\": %s", &file,
                               res.msg);
            return NGX_ERROR;
        }

        cln = ngx_pool_cleanup_add(cf->pool, 0);
        if (cln == NULL) {
            mim_did_web_free(conf->did_web);
            conf->did_web = NULL;
            return NGX_ERROR;
        }

        cln->handler = ngx_http_mim_auth_did_web_cleanup;
        cln->data = conf->did_web;
    }

    return NGX_OK;
}


static void
ngx_http_mim_auth_store_cleanup(void *data)
{
    X509_STORE_free(data);
}


static void
ngx_http_mim_auth_issuers_cleanup(void *data)
{
    mim_trusted_issuers_free(data);
}


static void
ngx_http_mim_auth_did_web_cleanup(void *data)
{
    mim_did_web_free(data);
}


static ngx_int_t
ngx_http_mim_auth_add_variables(ngx_conf_t *cf)
{
    return ngx_http_mim_add_variables(cf, ngx_http_mim_auth_vars);
}


static void *
ngx_http_mim_auth_create_main_conf(ngx_conf_t *cf)
{
    ngx_http_mim_auth_main_conf_t  *conf;

    conf = ngx_pcalloc(cf->pool, sizeof(ngx_http_mim_auth_main_conf_t));
    if (conf == NULL) {
        return NULL;
    }

    /*
     * set by ngx_pcalloc():
     *
     *     conf->zone = NULL;
     *     conf->servers = 0;
     */

    conf->cache_ttl = NGX_CONF_UNSET;

    return conf;
}


static char *
ngx_http_mim_auth_init_main_conf(ngx_conf_t *cf, void *conf)
{
    ngx_http_mim_auth_main_conf_t *amcf = conf;

    ngx_conf_init_value(amcf->cache_ttl, 300);

    return NGX_CONF_OK;
}


static void *
ngx_http_mim_auth_create_srv_conf(ngx_conf_t *cf)
{
    ngx_http_mim_auth_srv_conf_t  *conf;

    conf = ngx_pcalloc(cf->pool, sizeof(ngx_http_mim_auth_srv_conf_t));
    if (conf == NULL) {
        return NULL;
    }

    /*
     * set by ngx_pcalloc():
     *
     *     conf->participant_id = { 0, NULL };
     *     conf->anchors_file = { 0, NULL };
     *     conf->crl_file = { 0, NULL };
     *     conf->issuers_file = { 0, NULL };
     *     conf->did_web_dir = { 0, NULL };
     *     conf->vp_audience = { 0, NULL };
     *     conf->anchors = NULL;
     *     conf->issuers = NULL;
     *     conf->did_web = NULL;
     *     conf->scope = 0;
     */

    conf->token_algs = NGX_CONF_UNSET_UINT;
    conf->vc_algs = NGX_CONF_UNSET_UINT;
    conf->leeway = NGX_CONF_UNSET;
    conf->token_ttl = NGX_CONF_UNSET;
    conf->token_max_body = NGX_CONF_UNSET_SIZE;
    conf->party_from = NGX_CONF_UNSET_UINT;
    conf->status_optional = NGX_CONF_UNSET;

    return conf;
}


static char *
ngx_http_mim_auth_merge_srv_conf(ngx_conf_t *cf, void *parent, void *child)
{
    ngx_http_mim_auth_srv_conf_t *prev = parent;
    ngx_http_mim_auth_srv_conf_t *conf = child;

    ngx_http_mim_auth_main_conf_t  *amcf;

    ngx_conf_merge_str_value(conf->participant_id, prev->participant_id,
                             "");
    ngx_conf_merge_str_value(conf->vp_audience, prev->vp_audience, "");
    /* 0: the core's default set */
    ngx_conf_merge_uint_value(conf->token_algs, prev->token_algs, 0);
    ngx_conf_merge_uint_value(conf->vc_algs, prev->vc_algs, 0);
    ngx_conf_merge_sec_value(conf->leeway, prev->leeway, 10);
    ngx_conf_merge_sec_value(conf->token_ttl, prev->token_ttl, 3600);
    ngx_conf_merge_size_value(conf->token_max_body, prev->token_max_body,
                              MIM_TOKEN_REQUEST_MAX);
    ngx_conf_merge_value(conf->status_optional, prev->status_optional, 0);
    ngx_conf_merge_uint_value(conf->party_from, prev->party_from,
                              MIM_PARTY_SERIAL_NUMBER);

    if (conf->token_ttl <= 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "mim_token_ttl must be at least 1s");
        return NGX_CONF_ERROR;
    }

    /* the http level's material is loaded once, and shared by servers
       that name none of their own */

    if (ngx_http_mim_auth_load_anchors(cf, prev) != NGX_OK
        || ngx_http_mim_auth_load_issuers(cf, prev) != NGX_OK)
    {
        return NGX_CONF_ERROR;
    }

    if (conf->anchors_file.data == NULL && conf->crl_file.data == NULL) {
        conf->anchors = prev->anchors;
    }

    if (conf->issuers_file.data == NULL) {
        conf->issuers = prev->issuers;
    }

    if (conf->did_web_dir.data == NULL) {
        conf->did_web = prev->did_web;
    }

    ngx_conf_merge_str_value(conf->anchors_file, prev->anchors_file, "");
    ngx_conf_merge_str_value(conf->crl_file, prev->crl_file, "");
    ngx_conf_merge_str_value(conf->issuers_file, prev->issuers_file, "");
    ngx_conf_merge_str_value(conf->did_web_dir, prev->did_web_dir, "");

    if (ngx_http_mim_auth_load_anchors(cf, conf) != NGX_OK
        || ngx_http_mim_auth_load_issuers(cf, conf) != NGX_OK)
    {
        return NGX_CONF_ERROR;
    }

    /* every server verifies for itself: its own cache entries */
    amcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_mim_auth_module);
    conf->scope = ++amcf->servers;

    return NGX_CONF_OK;
}


static void *
ngx_http_mim_auth_create_loc_conf(ngx_conf_t *cf)
{
    ngx_http_mim_auth_loc_conf_t  *conf;

    conf = ngx_pcalloc(cf->pool, sizeof(ngx_http_mim_auth_loc_conf_t));
    if (conf == NULL) {
        return NULL;
    }

    conf->mode = NGX_CONF_UNSET_UINT;
    conf->token_endpoint = NGX_CONF_UNSET;

    return conf;
}


static char *
ngx_http_mim_auth_merge_loc_conf(ngx_conf_t *cf, void *parent, void *child)
{
    ngx_http_mim_auth_loc_conf_t *prev = parent;
    ngx_http_mim_auth_loc_conf_t *conf = child;

    ngx_flag_t                      ours, vc;
    ngx_http_mim_srv_conf_t        *mscf;
    ngx_http_mim_auth_srv_conf_t   *ascf;
    ngx_http_mim_auth_main_conf_t  *amcf;

    ngx_conf_merge_uint_value(conf->mode, prev->mode, NGX_HTTP_MIM_AUTH_OFF);

    /* mim_token_endpoint is not inherited: it names one handler */

    ascf = ngx_http_conf_get_module_srv_conf(cf, ngx_http_mim_auth_module);
    mscf = ngx_http_conf_get_module_srv_conf(cf, ngx_http_mim_module);
    amcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_mim_auth_module);

    ours = ascf->participant_id.len && mscf->signing_key != NULL;
    vc = ascf->issuers != NULL;

    if (conf->token_endpoint == 1) {
        if (!ours || ascf->anchors == NULL) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "mim_token_endpoint requires "
                               "mim_participant_id, mim_trust_anchors and "
                               "mim_signing_key");
            return NGX_CONF_ERROR;
        }

        if (amcf->zone == NULL && !ngx_http_mim_redis_configured(cf)) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "mim_token_endpoint requires mim_redis or "
                               "mim_zone, to refuse replayed assertions");
            return NGX_CONF_ERROR;
        }

        if (conf->mode != NGX_HTTP_MIM_AUTH_OFF) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "mim_auth cannot guard mim_token_endpoint: "
                               "its callers have no token yet");
            return NGX_CONF_ERROR;
        }
    }

    switch (conf->mode) {

    case NGX_HTTP_MIM_AUTH_ISHARE:
        if (!ours) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "mim_auth ishare requires mim_participant_id "
                               "and mim_signing_key");
            return NGX_CONF_ERROR;
        }
        break;

    case NGX_HTTP_MIM_AUTH_VC:
        if (!vc) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "mim_auth vc requires mim_trusted_issuers");
            return NGX_CONF_ERROR;
        }
        break;

    case NGX_HTTP_MIM_AUTH_ON:
        if (!ours && !vc) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "mim_auth on requires mim_participant_id and "
                               "mim_signing_key, or mim_trusted_issuers");
            return NGX_CONF_ERROR;
        }
        break;
    }

    return NGX_CONF_OK;
}


static ngx_int_t
ngx_http_mim_auth_init(ngx_conf_t *cf)
{
    ngx_http_handler_pt        *h;
    ngx_http_core_main_conf_t  *cmcf;

    cmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_core_module);

    h = ngx_array_push(&cmcf->phases[NGX_HTTP_ACCESS_PHASE].handlers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    *h = ngx_http_mim_auth_handler;

    return NGX_OK;
}
