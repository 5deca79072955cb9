/*
 * ngx_http_mim.h - declarations shared by the mim-gateway nginx modules.
 *
 * The glue only: configuration structures and helpers.  Protocol and
 * crypto work lives in the pure C cores (trust/, dsp/, policies/).
 */
#ifndef NGX_HTTP_MIM_H_INCLUDED_
#define NGX_HTTP_MIM_H_INCLUDED_

#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "mim_key.h"
#include "mim_jws.h"
#include "mim_policy.h"


typedef struct {
    ngx_str_t              signing_key_file;
    ngx_str_t              signing_cert_file;
    ngx_str_t              signing_alg;

    /* loaded at configuration time, shared by servers that inherit it */
    mim_key_t             *signing_key;
    size_t                 header_reserve;  /* JWS header bytes, sans URL */
    ngx_str_t              jwks;            /* the served JWK Set */
} ngx_http_mim_srv_conf_t;


typedef struct {
    ngx_flag_t             jwks;
} ngx_http_mim_loc_conf_t;


extern ngx_module_t  ngx_http_mim_module;
extern ngx_module_t  ngx_http_mim_sign_filter_module;


/*
 * The Content-Digest of the response, once the signing filter has signed
 * it (for the audit log): NGX_OK, or NGX_DECLINED when not signed (yet).
 * Also the variable $mim_content_digest.
 */
ngx_int_t ngx_http_mim_sign_digest(ngx_http_request_t *r, ngx_str_t *digest);


/* a claim of the caller's credential (mim_auth) */
typedef struct {
    ngx_str_t              name;
    ngx_str_t              value;       /* the values joined by "," */
    ngx_str_t             *values;      /* each value */
    ngx_uint_t             nvalues;
} ngx_http_mim_auth_claim_t;


/*
 * The token of r's "Authorization: Bearer <token>" (RFC 6750 b64token),
 * NUL-terminated in r->pool: NGX_OK, NGX_DECLINED when there is no Bearer
 * credential, NGX_ERROR when it is malformed (ngx_http_mim_auth_module.c).
 */
ngx_int_t ngx_http_mim_bearer_token(ngx_http_request_t *r, ngx_str_t *token);


/*
 * The caller that mim_auth verified for r: its party id and its claims
 * (ngx_http_mim_auth_claim_t); NGX_DECLINED when nobody was identified.
 */
ngx_int_t ngx_http_mim_auth_caller(ngx_http_request_t *r, ngx_str_t *party,
    ngx_array_t **claims);


/*
 * At configuration time, for the other modules: the mim_zone (NULL when
 * none) and the mim_participant_id of the server being configured (the
 * srv conf of auth must have been merged: call from a loc conf merge of a
 * module after ngx_http_mim_auth_module, or later).  Shm entry kinds of
 * all modules are listed here so that they never collide.
 */
ngx_shm_zone_t *ngx_http_mim_conf_zone(ngx_conf_t *cf);
ngx_str_t *ngx_http_mim_conf_participant_id(ngx_conf_t *cf);

#define NGX_HTTP_MIM_SHM_KIND_DSP_NEG   16   /* negotiation records */
#define NGX_HTTP_MIM_SHM_KIND_DSP_AGR   17   /* agreements */
/* 18..23: the agreement-gated data plane (ngx_http_mim_agreement_module) */
#define NGX_HTTP_MIM_SHM_KIND_AGR_TP    18   /* transfer records, with the
                                                mim:tp:gen they were read
                                                under */
#define NGX_HTTP_MIM_SHM_KIND_AGR_TOKEN 19   /* verified data-access tokens */
#define NGX_HTTP_MIM_SHM_KIND_AGR_COUNT 20   /* use counters (no Redis) */


/*
 * The caller's claims as the ODRL engine takes them (urn:mim:claim:NAME),
 * in r's pool; none when nobody was identified.  NGX_ERROR: no memory.
 */
ngx_int_t ngx_http_mim_auth_policy_claims(ngx_http_request_t *r,
    mim_claim_t **claims, size_t *n);


/*
 * NGSI-LD awareness (ngx_http_mim_ngsild_filter_module.c): what a permitted
 * request may see.  The access handlers that permit a request (mim_policy,
 * mim_agreement) narrow its scope; with `mim_ngsild_filter on;` the body
 * filter removes from JSON-LD entity responses the entities and the
 * attributes outside it.
 */
typedef struct {
    ngx_array_t           *types;       /* ngx_str_t entity types the
                                           response may show; NULL: any */
    ngx_array_t           *attrs;       /* ngx_str_t attributes it may
                                           show; NULL: any */
    ngx_array_t           *deny_attrs;  /* ngx_str_t attributes it must
                                           not show; NULL: none */
    ngx_array_t           *deny_types;  /* ngx_str_t entity types it must
                                           not show (a prohibition, or
                                           "neq"); NULL: none */
} ngx_http_mim_ngsild_scope_t;

/* r's scope (created as "anything" on first use); NULL: no memory */
ngx_http_mim_ngsild_scope_t *ngx_http_mim_ngsild_scope(ngx_http_request_t *r);

/* narrow r's scope by what the deciding rule of permit decision d allows
   (copied into r->pool: the policy may be freed afterwards); it reads the
   request last given to ngx_http_mim_ngsild_request() when that was in
   the same access handler (same r->phase_handler, no redirect since), so
   that request must still be alive; otherwise the narrower reading */
ngx_int_t ngx_http_mim_ngsild_scope_policy(ngx_http_request_t *r,
    const mim_policy_t *policy, const mim_policy_decision_t *d);

/* narrow r's entity types to these (intersection) */
ngx_int_t ngx_http_mim_ngsild_scope_types(ngx_http_request_t *r,
    ngx_str_t *types, ngx_uint_t n);

/* fill the NGSI-LD members of req (entity types from `type=`, attributes
   from `attrs=` of r's query) in r->pool, before mim_policy_eval() */
ngx_int_t ngx_http_mim_ngsild_request(ngx_http_request_t *r,
    mim_policy_request_t *req);


/*
 * For mim_agreement, which decides with the same engine as mim_policy
 * (ngx_http_mim_policy_module.c):
 *
 * the ODRL request of r as the location's mim_policy_* directives build
 * it: the action of the method (mim_policy_action; its name into
 * *action), dateTime, virtualLocation, spatial (mim_policy_spatial), the
 * purposes of mim_policy_purpose_header, and the caller mim_auth
 * identified (assignee and claims); no target.  In r->pool.
 */
ngx_int_t ngx_http_mim_policy_request_init(ngx_http_request_t *r,
    mim_policy_request_t *req, ngx_str_t *action);

/* a decision, as $mim_decision, $mim_policy_rule, $mim_policy_reasons,
   $mim_action and $mim_target report it */
typedef struct {
    ngx_str_t              decision;    /* "permit" / "deny" */
    ngx_str_t              rule;        /* the deciding rule, or empty */
    ngx_str_t              reasons;     /* a JSON array */
    ngx_str_t              action;
    ngx_str_t              target;
} ngx_http_mim_decision_t;

/* report another module's decision through those variables (the strings
   must live as long as r); a later mim_policy decision replaces it */
ngx_int_t ngx_http_mim_policy_set_decision(ngx_http_request_t *r,
    ngx_http_mim_decision_t *d);


/* add a null-terminated list of variables (preconfiguration) */
ngx_int_t ngx_http_mim_add_variables(ngx_conf_t *cf,
    ngx_http_variable_t *vars);


/* send a small JSON body with status; body is a NUL-free JSON text */
ngx_int_t ngx_http_mim_send_json(ngx_http_request_t *r, ngx_uint_t status,
    ngx_str_t *body);


#endif /* NGX_HTTP_MIM_H_INCLUDED_ */
