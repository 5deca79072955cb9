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


/*
 * The caller's claims as the ODRL engine takes them (urn:mim:claim:NAME),
 * in r's pool; none when nobody was identified.  NGX_ERROR: no memory.
 */
ngx_int_t ngx_http_mim_auth_policy_claims(ngx_http_request_t *r,
    mim_claim_t **claims, size_t *n);


/* add a null-terminated list of variables (preconfiguration) */
ngx_int_t ngx_http_mim_add_variables(ngx_conf_t *cf,
    ngx_http_variable_t *vars);


/* send a small JSON body with status; body is a NUL-free JSON text */
ngx_int_t ngx_http_mim_send_json(ngx_http_request_t *r, ngx_uint_t status,
    ngx_str_t *body);


#endif /* NGX_HTTP_MIM_H_INCLUDED_ */
