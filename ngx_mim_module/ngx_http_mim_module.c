/*
 * ngx_http_mim_module - the core of mim-gateway's nginx glue.
 *
 * Owns the gateway's signing key (mim_signing_key, mim_signing_cert,
 * mim_signing_alg) and serves its public half as a JWK Set (mim_jwks).
 * Keys are loaded and checked once, at configuration time, by trust/;
 * a bad key fails `nginx -t` with the file and the reason.
 */

#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_mim.h"


static ngx_int_t ngx_http_mim_jwks_handler(ngx_http_request_t *r);
static char *ngx_http_mim_jwks(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static ngx_int_t ngx_http_mim_load_signing_key(ngx_conf_t *cf,
    ngx_http_mim_srv_conf_t *mscf);
static ngx_int_t ngx_http_mim_build_jwks(ngx_conf_t *cf,
    ngx_http_mim_srv_conf_t *mscf);
static void ngx_http_mim_key_cleanup(void *data);
static void *ngx_http_mim_create_srv_conf(ngx_conf_t *cf);
static char *ngx_http_mim_merge_srv_conf(ngx_conf_t *cf, void *parent,
    void *child);
static void *ngx_http_mim_create_loc_conf(ngx_conf_t *cf);
static char *ngx_http_mim_merge_loc_conf(ngx_conf_t *cf, void *parent,
    void *child);


static ngx_command_t  ngx_http_mim_commands[] = {

    { ngx_string("mim_signing_key"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_str_slot,
      NGX_HTTP_SRV_CONF_OFFSET,
      offsetof(ngx_http_mim_srv_conf_t, signing_key_file),
      NULL },

    { ngx_string("mim_signing_cert"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_str_slot,
      NGX_HTTP_SRV_CONF_OFFSET,
      offsetof(ngx_http_mim_srv_conf_t, signing_cert_file),
      NULL },

    { ngx_string("mim_signing_alg"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_str_slot,
      NGX_HTTP_SRV_CONF_OFFSET,
      offsetof(ngx_http_mim_srv_conf_t, signing_alg),
      NULL },

    { ngx_string("mim_jwks"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS,
      ngx_http_mim_jwks,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

      ngx_null_command
};


static ngx_http_module_t  ngx_http_mim_module_ctx = {
    NULL,                                  /* preconfiguration */
    NULL,                                  /* postconfiguration */

    NULL,                                  /* create main configuration */
    NULL,                                  /* init main configuration */

    ngx_http_mim_create_srv_conf,          /* create server configuration */
    ngx_http_mim_merge_srv_conf,           /* merge server configuration */

    ngx_http_mim_create_loc_conf,          /* create location configuration */
    ngx_http_mim_merge_loc_conf            /* merge location configuration */
};


ngx_module_t  ngx_http_mim_module = {
    NGX_MODULE_V1,
    &ngx_http_mim_module_ctx,              /* module context */
    ngx_http_mim_commands,                 /* module directives */
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


static ngx_int_t
ngx_http_mim_jwks_handler(ngx_http_request_t *r)
{
    ngx_int_t                 rc;
    ngx_buf_t                *b;
    ngx_chain_t               out;
    ngx_table_elt_t          *h;
    ngx_http_mim_srv_conf_t  *mscf;

    if (!(r->method & (NGX_HTTP_GET|NGX_HTTP_HEAD))) {
        return NGX_HTTP_NOT_ALLOWED;
    }

    rc = ngx_http_discard_request_body(r);

    if (rc != NGX_OK) {
        return rc;
    }

    mscf = ngx_http_get_module_srv_conf(r, ngx_http_mim_module);

    r->headers_out.status = NGX_HTTP_OK;
    r->headers_out.content_length_n = mscf->jwks.len;
    ngx_str_set(&r->headers_out.content_type, "application/json");
    r->headers_out.content_type_len = r->headers_out.content_type.len;

    /* keys change only with a reload; caches may keep them a while */
    h = ngx_list_push(&r->headers_out.headers);
    if (h == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    h->hash = 1;
    ngx_str_set(&h->key, "Cache-Control");
    ngx_str_set(&h->value, "public, max-age=300");

    rc = ngx_http_send_header(r);

    if (rc == NGX_ERROR || rc > NGX_OK || r->header_only) {
        return rc;
    }

    b = ngx_calloc_buf(r->pool);
    if (b == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    b->pos = mscf->jwks.data;
    b->last = mscf->jwks.data + mscf->jwks.len;
    b->memory = 1;
    b->last_buf = (r == r->main) ? 1 : 0;
    b->last_in_chain = 1;

    out.buf = b;
    out.next = NULL;

    return ngx_http_output_filter(r, &out);
}


ngx_int_t
ngx_http_mim_send_json(ngx_http_request_t *r, ngx_uint_t status,
    ngx_str_t *body)
{
    ngx_int_t    rc;
    ngx_buf_t   *b;
    ngx_chain_t  out;

    rc = ngx_http_discard_request_body(r);

    if (rc != NGX_OK) {
        return rc;
    }

    r->headers_out.status = status;
    r->headers_out.content_length_n = body->len;
    ngx_str_set(&r->headers_out.content_type, "application/json");
    r->headers_out.content_type_len = r->headers_out.content_type.len;

    rc = ngx_http_send_header(r);

    if (rc == NGX_ERROR || rc > NGX_OK || r->header_only) {
        return rc;
    }

    b = ngx_create_temp_buf(r->pool, body->len);
    if (b == NULL) {
        return NGX_ERROR;
    }

    b->last = ngx_cpymem(b->last, body->data, body->len);
    b->last_buf = (r == r->main) ? 1 : 0;
    b->last_in_chain = 1;

    out.buf = b;
    out.next = NULL;

    return ngx_http_output_filter(r, &out);
}


ngx_int_t
ngx_http_mim_add_variables(ngx_conf_t *cf, ngx_http_variable_t *vars)
{
    ngx_http_variable_t  *var, *v;

    for (v = vars; v->name.len; v++) {
        var = ngx_http_add_variable(cf, &v->name, v->flags);
        if (var == NULL) {
            return NGX_ERROR;
        }

        var->get_handler = v->get_handler;
        var->data = v->data;
    }

    return NGX_OK;
}


static char *
ngx_http_mim_jwks(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_mim_loc_conf_t *mlcf = conf;

    ngx_http_core_loc_conf_t  *clcf;

    if (mlcf->jwks != NGX_CONF_UNSET) {
        return "is duplicate";
    }

    mlcf->jwks = 1;

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);
    clcf->handler = ngx_http_mim_jwks_handler;

    return NGX_CONF_OK;
}


/*
 * Load the key (and chain) named by mscf, once; servers that inherit the
 * same files share the loaded key.
 */
static ngx_int_t
ngx_http_mim_load_signing_key(ngx_conf_t *cf, ngx_http_mim_srv_conf_t *mscf)
{
    size_t               i;
    mim_key_t           *key;
    ngx_str_t            file;
    mim_result_t         res;
    ngx_pool_cleanup_t  *cln;

    if (mscf->signing_key != NULL) {
        return NGX_OK;
    }

    if (mscf->signing_key_file.len == 0) {

        if (mscf->signing_cert_file.len) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "mim_signing_cert \"%V\" is set without "
                               "mim_signing_key", &mscf->signing_cert_file);
            return NGX_ERROR;
        }

        return NGX_OK;
    }

    key = ngx_pcalloc(cf->pool, sizeof(mim_key_t));
    if (key == NULL) {
        return NGX_ERROR;
    }

    cln = ngx_pool_cleanup_add(cf->pool, 0);
    if (cln == NULL) {
        return NGX_ERROR;
    }

    cln->handler = ngx_http_mim_key_cleanup;
    cln->data = key;

    file = mscf->signing_key_file;

    if (ngx_conf_full_name(cf->cycle, &file, 1) != NGX_OK) {
        return NGX_ERROR;
    }

    res = mim_key_load_private(key, (char *) file.data,
                               mscf->signing_alg.len
                               ? (char *) mscf->signing_alg.data : NULL);
    if (!mim_ok(res)) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "mim_signing_key \"%V\": %s", &file, res.msg);
        return NGX_ERROR;
    }

    if (mscf->signing_cert_file.len) {
        file = mscf->signing_cert_file;

        if (ngx_conf_full_name(cf->cycle, &file, 1) != NGX_OK) {
            return NGX_ERROR;
        }

        res = mim_key_load_cert_chain(key, (char *) file.data);
        if (!mim_ok(res)) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "mim_signing_cert \"%V\": %s", &file, res.msg);
            return NGX_ERROR;
        }
    }

    mscf->signing_key = key;

    /* the protected header without the URL: names, kid, x5c, numbers */
    mscf->header_reserve = 512;

    for (i = 0; i < key->x5c_n; i++) {
        mscf->header_reserve += ngx_strlen(key->x5c[i]) + 3;
    }

    return ngx_http_mim_build_jwks(cf, mscf);
}


static ngx_int_t
ngx_http_mim_build_jwks(ngx_conf_t *cf, ngx_http_mim_srv_conf_t *mscf)
{
    char    *text;
    json_t  *jwk, *set;

    jwk = mim_key_to_jwk(mscf->signing_key);
    if (jwk == NULL) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "mim_signing_key \"%V\": cannot express the "
                           "public key as a JWK", &mscf->signing_key_file);
        return NGX_ERROR;
    }

    set = json_pack("{s:[o]}", "keys", jwk);
    if (set == NULL) {
        return NGX_ERROR;
    }

    text = json_dumps(set, JSON_COMPACT|JSON_PRESERVE_ORDER);
    json_decref(set);

    if (text == NULL) {
        return NGX_ERROR;
    }

    mscf->jwks.len = ngx_strlen(text);
    mscf->jwks.data = ngx_pnalloc(cf->pool, mscf->jwks.len);

    if (mscf->jwks.data != NULL) {
        ngx_memcpy(mscf->jwks.data, text, mscf->jwks.len);
    }

    free(text);

    return mscf->jwks.data ? NGX_OK : NGX_ERROR;
}


static void
ngx_http_mim_key_cleanup(void *data)
{
    mim_key_t  *key = data;

    mim_key_free(key);
}


static void *
ngx_http_mim_create_srv_conf(ngx_conf_t *cf)
{
    ngx_http_mim_srv_conf_t  *conf;

    conf = ngx_pcalloc(cf->pool, sizeof(ngx_http_mim_srv_conf_t));
    if (conf == NULL) {
        return NULL;
    }

    /*
     * set by ngx_pcalloc():
     *
     *     conf->signing_key_file = { 0, NULL };
     *     conf->signing_cert_file = { 0, NULL };
     *     conf->signing_alg = { 0, NULL };
     *     conf->signing_key = NULL;
     *     conf->jwks = { 0, NULL };
     */

    return conf;
}


static char *
ngx_http_mim_merge_srv_conf(ngx_conf_t *cf, void *parent, void *child)
{
    ngx_http_mim_srv_conf_t *prev = parent;
    ngx_http_mim_srv_conf_t *conf = child;

    ngx_flag_t  inherit;

    if (ngx_http_mim_load_signing_key(cf, prev) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    inherit = conf->signing_key_file.data == NULL
              && conf->signing_cert_file.data == NULL
              && conf->signing_alg.data == NULL;

    ngx_conf_merge_str_value(conf->signing_key_file, prev->signing_key_file,
                             "");
    ngx_conf_merge_str_value(conf->signing_cert_file,
                             prev->signing_cert_file, "");
    ngx_conf_merge_str_value(conf->signing_alg, prev->signing_alg, "");

    if (inherit) {
        conf->signing_key = prev->signing_key;
        conf->header_reserve = prev->header_reserve;
        conf->jwks = prev->jwks;
        return NGX_CONF_OK;
    }

    if (ngx_http_mim_load_signing_key(cf, conf) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


static void *
ngx_http_mim_create_loc_conf(ngx_conf_t *cf)
{
    ngx_http_mim_loc_conf_t  *conf;

    conf = ngx_pcalloc(cf->pool, sizeof(ngx_http_mim_loc_conf_t));
    if (conf == NULL) {
        return NULL;
    }

    conf->jwks = NGX_CONF_UNSET;

    return conf;
}


static char *
ngx_http_mim_merge_loc_conf(ngx_conf_t *cf, void *parent, void *child)
{
    ngx_http_mim_loc_conf_t *conf = child;

    ngx_http_mim_srv_conf_t  *mscf;

    /* mim_jwks is not inherited: it names one location's handler */

    if (conf->jwks == 1) {
        mscf = ngx_http_conf_get_module_srv_conf(cf, ngx_http_mim_module);

        if (mscf->signing_key == NULL) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "mim_jwks requires mim_signing_key");
            return NGX_CONF_ERROR;
        }
    }

    return NGX_CONF_OK;
}
