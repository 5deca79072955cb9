/*
 * ngx_http_mim_ngsild_filter_module - NGSI-LD awareness (issue 5,
 * docs/ngsild.md).
 *
 * The access handlers that permit a request (mim_policy, mim_agreement)
 * narrow its scope: the entity types and attributes the deciding ODRL
 * permission covers, less what prohibitions forbid (the policies/ core
 * computes it).  With `mim_ngsild_filter on;` this filter holds a 200
 * JSON or JSON-LD response whose scope is narrowed, removes the entities
 * and attributes outside the scope (the core again), and sends what is
 * left with a new Content-Length; one entity of an uncovered type
 * becomes a 403.  It sits before gzip and the signing filter, which
 * therefore compress and sign the filtered bytes.
 *
 * Whatever it cannot filter it does not send: a body over
 * mim_ngsild_filter_max_body, a compressed or partial body, GeoJSON, a
 * body that is not JSON: 502 with a JSON error instead.
 *
 * The scope lives in this module's context of the main request: access
 * handlers run for main requests only, and a subrequest's output is not
 * filtered (do not combine with SSI or addition in a filtered location).
 * An internal redirect (error_page, try_files) clears module contexts;
 * the scope survives it, as realip's context does, through a pool
 * cleanup: what a first location's policy hid stays hidden.
 */

#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_mim.h"


#define NGX_HTTP_MIM_NGSILD_HOLD     1   /* holding the body to filter it */
#define NGX_HTTP_MIM_NGSILD_DONE     2   /* sent; pass the rest */
#define NGX_HTTP_MIM_NGSILD_REFUSED  3   /* an error page replaces it: make
                                            it our JSON */

#define NGX_HTTP_MIM_NGSILD_FIRST_BUF  16384


typedef struct {
    ngx_flag_t                     enable;
    size_t                         max_body;
} ngx_http_mim_ngsild_loc_conf_t;


typedef struct {
    ngx_http_mim_ngsild_scope_t    scope;

    /* the ODRL request last given to ngx_http_mim_ngsild_request(), valid
       while the same access handler runs (r->phase_handler, and no
       internal redirect since: r->uri_changes) */
    mim_policy_request_t          *req;
    ngx_int_t                      req_phase;
    ngx_uint_t                     req_uri_changes;

    ngx_uint_t                     state;
    ngx_buf_t                     *held;
    size_t                         max_body;
    ngx_str_t                      error;       /* JSON of a refusal */
} ngx_http_mim_ngsild_ctx_t;


static ngx_http_mim_ngsild_ctx_t *ngx_http_mim_ngsild_find(
    ngx_http_request_t *r);
static ngx_http_mim_ngsild_ctx_t *ngx_http_mim_ngsild_ctx(
    ngx_http_request_t *r);
static void ngx_http_mim_ngsild_cleanup(void *data);
static ngx_int_t ngx_http_mim_ngsild_args(ngx_http_request_t *r,
    ngx_array_t **types, ngx_array_t **attrs);
static ngx_int_t ngx_http_mim_ngsild_add_names(ngx_http_request_t *r,
    ngx_array_t **list, ngx_str_t *value, ngx_uint_t q);
static ngx_str_t *ngx_http_mim_ngsild_copy(ngx_http_request_t *r,
    const mim_str_t *names, size_t n);
static ngx_int_t ngx_http_mim_ngsild_narrow(ngx_http_request_t *r,
    ngx_array_t **list, ngx_str_t *allow, ngx_uint_t n);
static ngx_int_t ngx_http_mim_ngsild_deny(ngx_http_request_t *r,
    ngx_array_t **list, ngx_str_t *deny, ngx_uint_t n);
static ngx_flag_t ngx_http_mim_ngsild_narrowed(
    ngx_http_mim_ngsild_scope_t *scope);
static ngx_uint_t ngx_http_mim_ngsild_media_type(ngx_http_request_t *r);
static ngx_int_t ngx_http_mim_ngsild_start(ngx_http_request_t *r,
    ngx_http_mim_ngsild_ctx_t *ctx);
static ngx_int_t ngx_http_mim_ngsild_hold(ngx_http_request_t *r,
    ngx_http_mim_ngsild_ctx_t *ctx, ngx_chain_t *in);
static ngx_int_t ngx_http_mim_ngsild_append(ngx_http_request_t *r,
    ngx_http_mim_ngsild_ctx_t *ctx, u_char *data, size_t size);
static ngx_int_t ngx_http_mim_ngsild_finish(ngx_http_request_t *r,
    ngx_http_mim_ngsild_ctx_t *ctx);
static ngx_int_t ngx_http_mim_ngsild_core_scope(ngx_http_request_t *r,
    ngx_http_mim_ngsild_scope_t *scope, mim_policy_ngsild_scope_t *sc);
static ngx_int_t ngx_http_mim_ngsild_send(ngx_http_request_t *r,
    ngx_http_mim_ngsild_ctx_t *ctx, ngx_buf_t *b);
static ngx_int_t ngx_http_mim_ngsild_error(ngx_http_request_t *r,
    ngx_http_mim_ngsild_ctx_t *ctx, char *error, char *fmt, ngx_str_t *arg);
static ngx_int_t ngx_http_mim_ngsild_answer(ngx_http_request_t *r,
    ngx_http_mim_ngsild_ctx_t *ctx, ngx_uint_t status);
static ngx_int_t ngx_http_mim_ngsild_refuse(ngx_http_request_t *r,
    ngx_http_mim_ngsild_ctx_t *ctx, ngx_uint_t status, char *why);
static ngx_int_t ngx_http_mim_ngsild_refused_header(ngx_http_request_t *r,
    ngx_http_mim_ngsild_ctx_t *ctx);
static ngx_int_t ngx_http_mim_ngsild_refused_body(ngx_http_request_t *r,
    ngx_http_mim_ngsild_ctx_t *ctx, ngx_chain_t *in);
static void ngx_http_mim_ngsild_hide(ngx_http_request_t *r, char *name);
static void *ngx_http_mim_ngsild_create_loc_conf(ngx_conf_t *cf);
static char *ngx_http_mim_ngsild_merge_loc_conf(ngx_conf_t *cf, void *parent,
    void *child);
static ngx_int_t ngx_http_mim_ngsild_init(ngx_conf_t *cf);


static ngx_command_t  ngx_http_mim_ngsild_commands[] = {

    { ngx_string("mim_ngsild_filter"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_FLAG,
      ngx_conf_set_flag_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_mim_ngsild_loc_conf_t, enable),
      NULL },

    { ngx_string("mim_ngsild_filter_max_body"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_size_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_mim_ngsild_loc_conf_t, max_body),
      NULL },

      ngx_null_command
};


static ngx_http_module_t  ngx_http_mim_ngsild_filter_module_ctx = {
    NULL,                                  /* preconfiguration */
    ngx_http_mim_ngsild_init,              /* postconfiguration */

    NULL,                                  /* create main configuration */
    NULL,                                  /* init main configuration */

    NULL,                                  /* create server configuration */
    NULL,                                  /* merge server configuration */

    ngx_http_mim_ngsild_create_loc_conf,   /* create location configuration */
    ngx_http_mim_ngsild_merge_loc_conf     /* merge location configuration */
};


ngx_module_t  ngx_http_mim_ngsild_filter_module = {
    NGX_MODULE_V1,
    &ngx_http_mim_ngsild_filter_module_ctx, /* module context */
    ngx_http_mim_ngsild_commands,          /* module directives */
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


static ngx_http_output_header_filter_pt  ngx_http_next_header_filter;
static ngx_http_output_body_filter_pt    ngx_http_next_body_filter;


/* ---- the scope: what the access handlers decided ---- */

/* r's context, found again after an internal redirect; NULL: none */

static ngx_http_mim_ngsild_ctx_t *
ngx_http_mim_ngsild_find(ngx_http_request_t *r)
{
    ngx_pool_cleanup_t         *cln;
    ngx_http_mim_ngsild_ctx_t  *ctx;

    r = r->main;

    ctx = ngx_http_get_module_ctx(r, ngx_http_mim_ngsild_filter_module);

    if (ctx != NULL || !r->internal) {
        return ctx;
    }

    for (cln = r->pool->cleanup; cln; cln = cln->next) {
        if (cln->handler == ngx_http_mim_ngsild_cleanup) {
            ctx = cln->data;
            ngx_http_set_ctx(r, ctx, ngx_http_mim_ngsild_filter_module);
            return ctx;
        }
    }

    return NULL;
}


static ngx_http_mim_ngsild_ctx_t *
ngx_http_mim_ngsild_ctx(ngx_http_request_t *r)
{
    ngx_pool_cleanup_t         *cln;
    ngx_http_mim_ngsild_ctx_t  *ctx;

    ctx = ngx_http_mim_ngsild_find(r);

    if (ctx != NULL) {
        return ctx;
    }

    r = r->main;

    ctx = ngx_pcalloc(r->pool, sizeof(ngx_http_mim_ngsild_ctx_t));
    if (ctx == NULL) {
        return NULL;
    }

    cln = ngx_pool_cleanup_add(r->pool, 0);
    if (cln == NULL) {
        return NULL;
    }

    cln->handler = ngx_http_mim_ngsild_cleanup;
    cln->data = ctx;

    ngx_http_set_ctx(r, ctx, ngx_http_mim_ngsild_filter_module);

    return ctx;
}


/* nothing to free: the marker by which the context is found again */

static void
ngx_http_mim_ngsild_cleanup(void *data)
{
}


ngx_http_mim_ngsild_scope_t *
ngx_http_mim_ngsild_scope(ngx_http_request_t *r)
{
    ngx_http_mim_ngsild_ctx_t  *ctx;

    ctx = ngx_http_mim_ngsild_ctx(r);

    return ctx ? &ctx->scope : NULL;
}


/*
 * The entity types and attributes r asks for: every `type=`, `attrs=`
 * and the attributes every `q=` tests (a query on an attribute the
 * consumer may not see would tell its values).  The request is kept for
 * ngx_http_mim_ngsild_scope_policy(), which the same handler calls.
 */

ngx_int_t
ngx_http_mim_ngsild_request(ngx_http_request_t *r, mim_policy_request_t *req)
{
    ngx_array_t                *types, *attrs;
    ngx_http_mim_ngsild_ctx_t  *ctx;

    ctx = ngx_http_mim_ngsild_ctx(r);
    if (ctx == NULL) {
        return NGX_ERROR;
    }

    ctx->req = req;
    ctx->req_phase = r->phase_handler;
    ctx->req_uri_changes = r->uri_changes;

    req->ngsild_types = NULL;
    req->ngsild_types_n = 0;
    req->ngsild_attrs = NULL;
    req->ngsild_attrs_n = 0;

    types = NULL;
    attrs = NULL;

    if (ngx_http_mim_ngsild_args(r, &types, &attrs) != NGX_OK) {
        return NGX_ERROR;
    }

    if (types) {
        req->ngsild_types = types->elts;
        req->ngsild_types_n = types->nelts;
    }

    if (attrs) {
        req->ngsild_attrs = attrs->elts;
        req->ngsild_attrs_n = attrs->nelts;
    }

    return NGX_OK;
}


static ngx_int_t
ngx_http_mim_ngsild_args(ngx_http_request_t *r, ngx_array_t **types,
    ngx_array_t **attrs)
{
    u_char     *p, *last, *amp, *eq;
    ngx_str_t   name, value;

    p = r->args.data;
    last = p + r->args.len;

    for ( /* void */ ; p < last; p = amp + 1) {

        amp = ngx_strlchr(p, last, '&');
        if (amp == NULL) {
            amp = last;
        }

        eq = ngx_strlchr(p, amp, '=');
        if (eq == NULL) {
            continue;
        }

        name.data = p;
        name.len = eq - p;
        value.data = eq + 1;
        value.len = amp - eq - 1;

        if (name.len == 4 && ngx_strncmp(name.data, "type", 4) == 0) {
            if (ngx_http_mim_ngsild_add_names(r, types, &value, 0)
                != NGX_OK)
            {
                return NGX_ERROR;
            }

        } else if ((name.len == 5 && ngx_strncmp(name.data, "attrs", 5) == 0)
                   || (name.len == 1 && name.data[0] == 'q'))
        {
            if (ngx_http_mim_ngsild_add_names(r, attrs, &value,
                                              name.len == 1)
                != NGX_OK)
            {
                return NGX_ERROR;
            }
        }
    }

    return NGX_OK;
}


/* the names of one URL-encoded value; q: a query's attributes */

static ngx_int_t
ngx_http_mim_ngsild_add_names(ngx_http_request_t *r, ngx_array_t **list,
    ngx_str_t *value, ngx_uint_t q)
{
    u_char     *start, *dst, *src;
    size_t      len, n;
    mim_str_t  *names;

    start = ngx_pnalloc(r->pool, value->len + 1);
    if (start == NULL) {
        return NGX_ERROR;
    }

    dst = start;
    src = value->data;

    ngx_unescape_uri(&dst, &src, value->len, 0);

    len = dst - start;
    dst = start;

    n = q ? mim_policy_ngsild_q_attrs((char *) dst, len, NULL, 0)
          : mim_policy_ngsild_names((char *) dst, len, NULL, 0);

    if (n == 0) {
        return NGX_OK;
    }

    if (*list == NULL) {
        *list = ngx_array_create(r->pool, n, sizeof(mim_str_t));
        if (*list == NULL) {
            return NGX_ERROR;
        }
    }

    names = ngx_array_push_n(*list, n);
    if (names == NULL) {
        return NGX_ERROR;
    }

    if (q) {
        mim_policy_ngsild_q_attrs((char *) dst, len, names, n);

    } else {
        mim_policy_ngsild_names((char *) dst, len, names, n);
    }

    return NGX_OK;
}


/*
 * Narrow r's scope by the deciding permission of d (and the prohibitions
 * of policy): allow lists intersect, deny lists add up, so that every
 * policy that permitted r has its say.
 */

ngx_int_t
ngx_http_mim_ngsild_scope_policy(ngx_http_request_t *r,
    const mim_policy_t *policy, const mim_policy_decision_t *d)
{
    mim_str_t                    buf[MIM_POLICY_NGSILD_SCOPE_MAX];
    ngx_str_t                   *list;
    mim_result_t                 res;
    mim_policy_request_t        *req;
    mim_policy_ngsild_scope_t    sc;
    ngx_http_mim_ngsild_ctx_t   *ctx;
    ngx_http_mim_ngsild_scope_t *scope;

    ctx = ngx_http_mim_ngsild_ctx(r);
    if (ctx == NULL) {
        return NGX_ERROR;
    }

    /* without the request the core reads the policy the narrower way */
    req = (ctx->req_phase == r->phase_handler
           && ctx->req_uri_changes == r->uri_changes) ? ctx->req : NULL;

    res = mim_policy_ngsild_scope(policy, req, d, &sc, buf,
                                  MIM_POLICY_NGSILD_SCOPE_MAX);
    if (!mim_ok(res)) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "mim_ngsild: cannot tell what the permission covers: "
                      "%s", res.msg);
        return NGX_ERROR;
    }

    scope = &ctx->scope;

    if (sc.types) {
        list = ngx_http_mim_ngsild_copy(r, sc.types, sc.types_n);
        if (list == NULL
            || ngx_http_mim_ngsild_narrow(r, &scope->types, list,
                                          sc.types_n)
               != NGX_OK)
        {
            return NGX_ERROR;
        }
    }

    if (sc.attrs) {
        list = ngx_http_mim_ngsild_copy(r, sc.attrs, sc.attrs_n);
        if (list == NULL
            || ngx_http_mim_ngsild_narrow(r, &scope->attrs, list,
                                          sc.attrs_n)
               != NGX_OK)
        {
            return NGX_ERROR;
        }
    }

    if (sc.deny_types_n) {
        list = ngx_http_mim_ngsild_copy(r, sc.deny_types, sc.deny_types_n);
        if (list == NULL
            || ngx_http_mim_ngsild_deny(r, &scope->deny_types, list,
                                        sc.deny_types_n)
               != NGX_OK)
        {
            return NGX_ERROR;
        }
    }

    if (sc.deny_attrs_n) {
        list = ngx_http_mim_ngsild_copy(r, sc.deny_attrs, sc.deny_attrs_n);
        if (list == NULL
            || ngx_http_mim_ngsild_deny(r, &scope->deny_attrs, list,
                                        sc.deny_attrs_n)
               != NGX_OK)
        {
            return NGX_ERROR;
        }
    }

    return NGX_OK;
}


ngx_int_t
ngx_http_mim_ngsild_scope_types(ngx_http_request_t *r, ngx_str_t *types,
    ngx_uint_t n)
{
    ngx_http_mim_ngsild_ctx_t  *ctx;

    ctx = ngx_http_mim_ngsild_ctx(r);
    if (ctx == NULL) {
        return NGX_ERROR;
    }

    return ngx_http_mim_ngsild_narrow(r, &ctx->scope.types, types, n);
}


/* the policy's strings, copied: it may be freed before r ends */

static ngx_str_t *
ngx_http_mim_ngsild_copy(ngx_http_request_t *r, const mim_str_t *names,
    size_t n)
{
    size_t      i;
    ngx_str_t  *list;

    list = ngx_palloc(r->pool, (n ? n : 1) * sizeof(ngx_str_t));
    if (list == NULL) {
        return NULL;
    }

    for (i = 0; i < n; i++) {
        list[i].len = names[i].len;
        list[i].data = ngx_pnalloc(r->pool, names[i].len + 1);

        if (list[i].data == NULL) {
            return NULL;
        }

        ngx_memcpy(list[i].data, names[i].data, names[i].len);
        list[i].data[names[i].len] = '\0';
    }

    return list;
}


static ngx_flag_t
ngx_http_mim_ngsild_member(ngx_str_t *list, ngx_uint_t n, ngx_str_t *s)
{
    ngx_uint_t  i;

    for (i = 0; i < n; i++) {
        if (list[i].len == s->len
            && ngx_memcmp(list[i].data, s->data, s->len) == 0)
        {
            return 1;
        }
    }

    return 0;
}


/* *list becomes its intersection with allow (allow itself when NULL) */

static ngx_int_t
ngx_http_mim_ngsild_narrow(ngx_http_request_t *r, ngx_array_t **list,
    ngx_str_t *allow, ngx_uint_t n)
{
    ngx_str_t   *elts, *s;
    ngx_uint_t   i, kept;

    if (*list == NULL) {
        *list = ngx_array_create(r->pool, n ? n : 1, sizeof(ngx_str_t));
        if (*list == NULL) {
            return NGX_ERROR;
        }

        s = ngx_array_push_n(*list, n);
        if (s == NULL && n) {
            return NGX_ERROR;
        }

        if (n) {
            ngx_memcpy(s, allow, n * sizeof(ngx_str_t));
        }

        return NGX_OK;
    }

    elts = (*list)->elts;
    kept = 0;

    for (i = 0; i < (*list)->nelts; i++) {
        if (ngx_http_mim_ngsild_member(allow, n, &elts[i])) {
            elts[kept++] = elts[i];
        }
    }

    (*list)->nelts = kept;

    return NGX_OK;
}


static ngx_int_t
ngx_http_mim_ngsild_deny(ngx_http_request_t *r, ngx_array_t **list,
    ngx_str_t *deny, ngx_uint_t n)
{
    ngx_str_t   *s;
    ngx_uint_t   i;

    if (*list == NULL) {
        *list = ngx_array_create(r->pool, n, sizeof(ngx_str_t));
        if (*list == NULL) {
            return NGX_ERROR;
        }
    }

    for (i = 0; i < n; i++) {
        if (ngx_http_mim_ngsild_member((*list)->elts, (*list)->nelts,
                                       &deny[i]))
        {
            continue;
        }

        s = ngx_array_push(*list);
        if (s == NULL) {
            return NGX_ERROR;
        }

        *s = deny[i];
    }

    return NGX_OK;
}


static ngx_flag_t
ngx_http_mim_ngsild_narrowed(ngx_http_mim_ngsild_scope_t *scope)
{
    return scope->types != NULL
           || scope->attrs != NULL
           || (scope->deny_types != NULL && scope->deny_types->nelts)
           || (scope->deny_attrs != NULL && scope->deny_attrs->nelts);
}


/* ---- the filter ---- */

#define NGX_HTTP_MIM_NGSILD_OTHER    0
#define NGX_HTTP_MIM_NGSILD_JSON     1
#define NGX_HTTP_MIM_NGSILD_GEOJSON  2

/* what the Content-Type says, its parameters aside */

static ngx_uint_t
ngx_http_mim_ngsild_media_type(ngx_http_request_t *r)
{
    u_char     *p, *last;
    ngx_str_t   type;

    p = r->headers_out.content_type.data;
    last = p + r->headers_out.content_type.len;

    if (p == NULL) {
        return NGX_HTTP_MIM_NGSILD_OTHER;
    }

    type.data = p;

    while (p < last && *p != ';' && *p != ' ' && *p != '\t') {
        p++;
    }

    type.len = p - type.data;

#define NGX_HTTP_MIM_NGSILD_IS(t)                                           \
    (type.len == sizeof(t) - 1                                             \
     && ngx_strncasecmp(type.data, (u_char *) t, sizeof(t) - 1) == 0)

    if (NGX_HTTP_MIM_NGSILD_IS("application/json")
        || NGX_HTTP_MIM_NGSILD_IS("application/ld+json"))
    {
        return NGX_HTTP_MIM_NGSILD_JSON;
    }

    if (NGX_HTTP_MIM_NGSILD_IS("application/geo+json")) {
        return NGX_HTTP_MIM_NGSILD_GEOJSON;
    }

#undef NGX_HTTP_MIM_NGSILD_IS

    return NGX_HTTP_MIM_NGSILD_OTHER;
}


static ngx_int_t
ngx_http_mim_ngsild_header_filter(ngx_http_request_t *r)
{
    ngx_http_mim_ngsild_ctx_t       *ctx;
    ngx_http_mim_ngsild_loc_conf_t  *nlcf;

    if (r != r->main) {
        return ngx_http_next_header_filter(r);
    }

    ctx = ngx_http_mim_ngsild_find(r);

    if (ctx == NULL) {
        return ngx_http_next_header_filter(r);
    }

    if (ctx->state == NGX_HTTP_MIM_NGSILD_REFUSED) {
        return ngx_http_mim_ngsild_refused_header(r, ctx);
    }

    if (ctx->state == NGX_HTTP_MIM_NGSILD_HOLD) {
        /* an error page replaces the response we were holding (the
           broker failed mid-body): what we held is never sent */
        ctx->held = NULL;
        ctx->state = NGX_HTTP_MIM_NGSILD_DONE;
        return ngx_http_next_header_filter(r);
    }

    nlcf = ngx_http_get_module_loc_conf(r, ngx_http_mim_ngsild_filter_module);

    if (!nlcf->enable || ctx->state != 0
        || !ngx_http_mim_ngsild_narrowed(&ctx->scope))
    {
        return ngx_http_next_header_filter(r);
    }

    ctx->max_body = nlcf->max_body;

    return ngx_http_mim_ngsild_start(r, ctx);
}


/*
 * A narrowed response: hold it if it is an NGSI-LD JSON body, refuse it
 * if it holds entities we cannot filter, pass anything else.
 */

static ngx_int_t
ngx_http_mim_ngsild_start(ngx_http_request_t *r,
    ngx_http_mim_ngsild_ctx_t *ctx)
{
    ngx_uint_t        media, status;
    ngx_table_elt_t  *enc;

    media = ngx_http_mim_ngsild_media_type(r);
    status = r->headers_out.status;

    if (media == NGX_HTTP_MIM_NGSILD_OTHER
        || (status != NGX_HTTP_OK && status != NGX_HTTP_PARTIAL_CONTENT))
    {
        return ngx_http_next_header_filter(r);
    }

    if (r->header_only || r->method == NGX_HTTP_HEAD) {
        /* no body to filter: at least do not tell the unfiltered size */
        ngx_http_clear_content_length(r);
        ngx_http_clear_etag(r);
        return ngx_http_next_header_filter(r);
    }

    if (media == NGX_HTTP_MIM_NGSILD_GEOJSON) {
        return ngx_http_mim_ngsild_refuse(r, ctx, NGX_HTTP_BAD_GATEWAY,
                                          "GeoJSON cannot be filtered; ask "
                                          "for application/json or "
                                          "application/ld+json");
    }

    if (status == NGX_HTTP_PARTIAL_CONTENT) {
        return ngx_http_mim_ngsild_refuse(r, ctx, NGX_HTTP_BAD_GATEWAY,
                                          "a partial response (206) cannot "
                                          "be filtered");
    }

    enc = r->headers_out.content_encoding;

    if (enc && enc->hash && enc->value.len
        && !(enc->value.len == 8
             && ngx_strncasecmp(enc->value.data, (u_char *) "identity", 8)
                == 0))
    {
        return ngx_http_mim_ngsild_refuse(r, ctx, NGX_HTTP_BAD_GATEWAY,
                                          "a compressed response cannot be "
                                          "filtered");
    }

    if (r->headers_out.content_length_n > (off_t) ctx->max_body) {
        return ngx_http_mim_ngsild_refuse(r, ctx, NGX_HTTP_BAD_GATEWAY,
                                          "the response is over "
                                          "mim_ngsild_filter_max_body");
    }

    ctx->state = NGX_HTTP_MIM_NGSILD_HOLD;

    /* our output has its own length: no ranges of it, nor of the
       broker's representation */
    r->allow_ranges = 0;
    ngx_http_clear_accept_ranges(r);
    r->filter_need_in_memory = 1;

    if (r->headers_out.content_length_n > 0) {
        ctx->held = ngx_create_temp_buf(r->pool,
                                        r->headers_out.content_length_n);
        if (ctx->held == NULL) {
            return NGX_ERROR;
        }
    }

    /* the header goes out when the body is filtered */

    return NGX_OK;
}


static ngx_int_t
ngx_http_mim_ngsild_body_filter(ngx_http_request_t *r, ngx_chain_t *in)
{
    ngx_http_mim_ngsild_ctx_t  *ctx;

    if (r != r->main) {
        return ngx_http_next_body_filter(r, in);
    }

    ctx = ngx_http_mim_ngsild_find(r);

    if (ctx == NULL) {
        return ngx_http_next_body_filter(r, in);
    }

    switch (ctx->state) {

    case NGX_HTTP_MIM_NGSILD_HOLD:
        return ngx_http_mim_ngsild_hold(r, ctx, in);

    case NGX_HTTP_MIM_NGSILD_REFUSED:
        return ngx_http_mim_ngsild_refused_body(r, ctx, in);

    default:
        return ngx_http_next_body_filter(r, in);
    }
}


static ngx_int_t
ngx_http_mim_ngsild_hold(ngx_http_request_t *r,
    ngx_http_mim_ngsild_ctx_t *ctx, ngx_chain_t *in)
{
    size_t        size, held;
    ngx_buf_t    *b;
    ngx_chain_t  *cl;

    for (cl = in; cl; cl = cl->next) {
        b = cl->buf;

        if (!ngx_buf_in_memory(b) && !ngx_buf_special(b)) {
            ngx_log_error(NGX_LOG_ALERT, r->connection->log, 0,
                          "mim_ngsild: body buffer not in memory");
            return ngx_http_mim_ngsild_refuse(r, ctx,
                                              NGX_HTTP_INTERNAL_SERVER_ERROR,
                                              "the response cannot be read");
        }

        size = ngx_buf_in_memory(b) ? (size_t) (b->last - b->pos) : 0;
        held = ctx->held ? (size_t) (ctx->held->last - ctx->held->pos) : 0;

        if (held + size > ctx->max_body) {
            return ngx_http_mim_ngsild_refuse(r, ctx, NGX_HTTP_BAD_GATEWAY,
                                              "the response is over "
                                              "mim_ngsild_filter_max_body");
        }

        if (size) {
            if (ngx_http_mim_ngsild_append(r, ctx, b->pos, size) != NGX_OK) {
                return NGX_ERROR;
            }

            /* consumed: upstream may reuse its buffer */
            b->pos = b->last;

            if (b->in_file) {
                b->file_pos = b->file_last;
            }
        }

        if (b->last_buf) {
            return ngx_http_mim_ngsild_finish(r, ctx);
        }
    }

    return NGX_OK;
}


static ngx_int_t
ngx_http_mim_ngsild_append(ngx_http_request_t *r,
    ngx_http_mim_ngsild_ctx_t *ctx, u_char *data, size_t size)
{
    size_t      held, cap;
    ngx_buf_t  *b;

    b = ctx->held;
    held = b ? (size_t) (b->last - b->pos) : 0;

    if (b == NULL || (size_t) (b->end - b->last) < size) {

        /* unknown length: grow by doubling, up to the limit */
        cap = b ? (size_t) (b->end - b->start)
                : NGX_HTTP_MIM_NGSILD_FIRST_BUF;

        while (cap < held + size) {
            cap *= 2;
        }

        cap = ngx_min(cap, ctx->max_body);

        ctx->held = ngx_create_temp_buf(r->pool, cap);
        if (ctx->held == NULL) {
            return NGX_ERROR;
        }

        if (b != NULL) {
            ctx->held->last = ngx_cpymem(ctx->held->last, b->pos, held);
            ngx_pfree(r->pool, b->start);
        }
    }

    ctx->held->last = ngx_cpymem(ctx->held->last, data, size);

    return NGX_OK;
}


/* The whole body is here: filter it (in place) and send it, or refuse. */

static ngx_int_t
ngx_http_mim_ngsild_finish(ngx_http_request_t *r,
    ngx_http_mim_ngsild_ctx_t *ctx)
{
    size_t                       len;
    ngx_str_t                    type;
    ngx_buf_t                   *b;
    mim_result_t                 res;
    mim_policy_ngsild_scope_t    sc;
    mim_policy_ngsild_filter_t   info;

    b = ctx->held;
    ctx->held = NULL;
    ctx->state = NGX_HTTP_MIM_NGSILD_DONE;

    if (b == NULL || b->last == b->pos) {
        /* no body: nothing to filter */
        return ngx_http_mim_ngsild_send(r, ctx, b);
    }

    if (ngx_http_mim_ngsild_core_scope(r, &ctx->scope, &sc) != NGX_OK) {
        return NGX_ERROR;
    }

    res = mim_policy_ngsild_filter(&sc, (char *) b->pos, b->last - b->pos,
                                   (char *) b->pos, &len, &info);

    if (!mim_ok(res)) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "mim_ngsild: cannot filter the response: %s; "
                      "answering 502", res.msg);

        if (ngx_http_mim_ngsild_error(r, ctx, "bad_gateway",
                                      "the response is not NGSI-LD JSON "
                                      "the gateway can filter", NULL)
            != NGX_OK)
        {
            return NGX_ERROR;
        }

        return ngx_http_mim_ngsild_answer(r, ctx, NGX_HTTP_BAD_GATEWAY);
    }

    if (info.forbidden) {
        type.data = (u_char *) info.type;
        type.len = ngx_strlen(info.type);

        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "mim_ngsild: entity type \"%V\" is not covered: 403",
                      &type);

        if (ngx_http_mim_ngsild_error(r, ctx, "forbidden",
                                      type.len ? "entity type %s is not "
                                                 "covered"
                                               : "an entity without a type "
                                                 "is not covered",
                                      &type)
            != NGX_OK)
        {
            return NGX_ERROR;
        }

        return ngx_http_mim_ngsild_answer(r, ctx, NGX_HTTP_FORBIDDEN);
    }

    if (info.changed) {
        ngx_log_debug3(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                       "mim_ngsild: removed %uz entities and %uz "
                       "attributes, %uz bytes left", info.entities_removed,
                       info.attrs_removed, len);

        b->last = b->pos + len;

        /* a different representation than the broker's */
        ngx_http_clear_etag(r);

        if (info.entities_removed) {
            /* it counted entities the caller may not see */
            ngx_http_mim_ngsild_hide(r, "NGSILD-Results-Count");
        }
    }

    return ngx_http_mim_ngsild_send(r, ctx, b);
}


/* the glue's scope as the core reads it */

static ngx_int_t
ngx_http_mim_ngsild_core_list(ngx_http_request_t *r, ngx_array_t *list,
    const mim_str_t **out, size_t *n)
{
    ngx_str_t   *s;
    mim_str_t   *m;
    ngx_uint_t   i;

    *out = NULL;
    *n = 0;

    if (list == NULL) {
        return NGX_OK;
    }

    m = ngx_palloc(r->pool, (list->nelts ? list->nelts : 1)
                            * sizeof(mim_str_t));
    if (m == NULL) {
        return NGX_ERROR;
    }

    s = list->elts;

    for (i = 0; i < list->nelts; i++) {
        m[i].data = (char *) s[i].data;
        m[i].len = s[i].len;
    }

    *out = m;
    *n = list->nelts;

    return NGX_OK;
}


static ngx_int_t
ngx_http_mim_ngsild_core_scope(ngx_http_request_t *r,
    ngx_http_mim_ngsild_scope_t *scope, mim_policy_ngsild_scope_t *sc)
{
    if (ngx_http_mim_ngsild_core_list(r, scope->types, &sc->types,
                                      &sc->types_n) != NGX_OK
        || ngx_http_mim_ngsild_core_list(r, scope->deny_types,
                                         &sc->deny_types, &sc->deny_types_n)
           != NGX_OK
        || ngx_http_mim_ngsild_core_list(r, scope->attrs, &sc->attrs,
                                         &sc->attrs_n) != NGX_OK
        || ngx_http_mim_ngsild_core_list(r, scope->deny_attrs,
                                         &sc->deny_attrs, &sc->deny_attrs_n)
           != NGX_OK)
    {
        return NGX_ERROR;
    }

    return NGX_OK;
}


/* Send the held header, then b (NULL: an empty body) as the last buffer. */

static ngx_int_t
ngx_http_mim_ngsild_send(ngx_http_request_t *r,
    ngx_http_mim_ngsild_ctx_t *ctx, ngx_buf_t *b)
{
    ngx_int_t    rc;
    ngx_chain_t  out;

    ngx_http_clear_content_length(r);
    r->headers_out.content_length_n = b ? b->last - b->pos : 0;

    rc = ngx_http_next_header_filter(r);

    if (rc == NGX_ERROR || rc > NGX_OK || r->header_only) {
        return rc;
    }

    if (b == NULL) {
        b = ngx_calloc_buf(r->pool);
        if (b == NULL) {
            return NGX_ERROR;
        }
    }

    b->last_buf = 1;
    b->last_in_chain = 1;

    out.buf = b;
    out.next = NULL;

    return ngx_http_next_body_filter(r, &out);
}


/* {"error": error, "error_description": fmt with arg (%s), escaped} */

static ngx_int_t
ngx_http_mim_ngsild_error(ngx_http_request_t *r,
    ngx_http_mim_ngsild_ctx_t *ctx, char *error, char *fmt, ngx_str_t *arg)
{
    u_char  *p, *desc, *end;
    size_t   len, dlen;

    /* the description: fmt with its one %s replaced by arg */
    dlen = ngx_strlen(fmt) + (arg ? arg->len : 0);

    desc = ngx_pnalloc(r->pool, dlen);
    if (desc == NULL) {
        return NGX_ERROR;
    }

    p = (u_char *) ngx_strstr(fmt, "%s");

    if (p != NULL && arg != NULL) {
        end = ngx_cpymem(desc, fmt, p - (u_char *) fmt);
        end = ngx_cpymem(end, arg->data, arg->len);
        end = ngx_cpymem(end, p + 2, ngx_strlen(p + 2));

    } else {
        end = ngx_cpymem(desc, fmt, ngx_strlen(fmt));
    }

    dlen = end - desc;

    len = sizeof("{\"error\":\"\",\"error_description\":\"\"}") - 1
          + ngx_strlen(error) + dlen + ngx_escape_json(NULL, desc, dlen);

    p = ngx_pnalloc(r->pool, len);
    if (p == NULL) {
        return NGX_ERROR;
    }

    ctx->error.data = p;

    p = ngx_sprintf(p, "{\"error\":\"%s\",\"error_description\":\"", error);
    p = (u_char *) ngx_escape_json(p, desc, dlen);
    p = ngx_cpymem(p, "\"}", 2);

    ctx->error.len = p - ctx->error.data;

    return NGX_OK;
}


/*
 * Answer with ctx->error instead of the held response: the whole body is
 * in, so this replaces the header and sends the JSON down the chain (the
 * signing filter signs it like any other answer).
 */

static ngx_int_t
ngx_http_mim_ngsild_answer(ngx_http_request_t *r,
    ngx_http_mim_ngsild_ctx_t *ctx, ngx_uint_t status)
{
    ngx_buf_t  *b;

    r->headers_out.status = status;
    ngx_str_null(&r->headers_out.status_line);

    ngx_str_set(&r->headers_out.content_type, "application/json");
    r->headers_out.content_type_len = r->headers_out.content_type.len;
    r->headers_out.content_type_lowcase = NULL;
    ngx_str_null(&r->headers_out.charset);

    ngx_http_clear_etag(r);
    ngx_http_clear_last_modified(r);
    ngx_http_clear_accept_ranges(r);
    ngx_http_mim_ngsild_hide(r, "NGSILD-Results-Count");
    ngx_http_mim_ngsild_hide(r, "Link");

    b = ngx_create_temp_buf(r->pool, ctx->error.len);
    if (b == NULL) {
        return NGX_ERROR;
    }

    b->last = ngx_cpymem(b->last, ctx->error.data, ctx->error.len);

    return ngx_http_mim_ngsild_send(r, ctx, b);
}


/*
 * Refuse before the whole body is in: nginx stops reading the upstream
 * and sends an error page, which our header and body filters turn into
 * ctx->error (NGX_HTTP_MIM_NGSILD_REFUSED).
 */

static ngx_int_t
ngx_http_mim_ngsild_refuse(ngx_http_request_t *r,
    ngx_http_mim_ngsild_ctx_t *ctx, ngx_uint_t status, char *why)
{
    ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                  "mim_ngsild: %s; answering %ui instead of an unfiltered "
                  "body", why, status);

    ctx->held = NULL;

    if (ngx_http_mim_ngsild_error(r, ctx,
                                  status == NGX_HTTP_BAD_GATEWAY
                                  ? "bad_gateway" : "server_error",
                                  why, NULL)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    if (r->header_sent) {
        return NGX_ERROR;
    }

    ctx->state = NGX_HTTP_MIM_NGSILD_REFUSED;

    return ngx_http_filter_finalize_request(r,
                                            &ngx_http_mim_ngsild_filter_module,
                                            status);
}


static ngx_int_t
ngx_http_mim_ngsild_refused_header(ngx_http_request_t *r,
    ngx_http_mim_ngsild_ctx_t *ctx)
{
    ngx_str_set(&r->headers_out.content_type, "application/json");
    r->headers_out.content_type_len = r->headers_out.content_type.len;
    r->headers_out.content_type_lowcase = NULL;
    ngx_str_null(&r->headers_out.charset);

    ngx_http_clear_content_length(r);
    r->headers_out.content_length_n = ctx->error.len;

    return ngx_http_next_header_filter(r);
}


/* the error page's body goes, ours takes its place */

static ngx_int_t
ngx_http_mim_ngsild_refused_body(ngx_http_request_t *r,
    ngx_http_mim_ngsild_ctx_t *ctx, ngx_chain_t *in)
{
    ngx_buf_t    *b;
    ngx_chain_t  *cl, out;
    ngx_flag_t    last;

    last = 0;

    for (cl = in; cl; cl = cl->next) {
        cl->buf->pos = cl->buf->last;
        last |= cl->buf->last_buf;
    }

    if (!last) {
        return NGX_OK;
    }

    ctx->state = NGX_HTTP_MIM_NGSILD_DONE;

    b = ngx_create_temp_buf(r->pool, ctx->error.len);
    if (b == NULL) {
        return NGX_ERROR;
    }

    b->last = ngx_cpymem(b->last, ctx->error.data, ctx->error.len);
    b->last_buf = 1;
    b->last_in_chain = 1;

    out.buf = b;
    out.next = NULL;

    return ngx_http_next_body_filter(r, &out);
}


/* remove a response header field (as nginx hides one: hash 0) */

static void
ngx_http_mim_ngsild_hide(ngx_http_request_t *r, char *name)
{
    size_t            len;
    ngx_uint_t        i;
    ngx_list_part_t  *part;
    ngx_table_elt_t  *h;

    len = ngx_strlen(name);
    part = &r->headers_out.headers.part;
    h = part->elts;

    for (i = 0; /* void */; i++) {

        if (i >= part->nelts) {
            if (part->next == NULL) {
                break;
            }

            part = part->next;
            h = part->elts;
            i = 0;
        }

        if (h[i].key.len == len
            && ngx_strncasecmp(h[i].key.data, (u_char *) name, len) == 0)
        {
            h[i].hash = 0;
        }
    }
}


static void *
ngx_http_mim_ngsild_create_loc_conf(ngx_conf_t *cf)
{
    ngx_http_mim_ngsild_loc_conf_t  *conf;

    conf = ngx_pcalloc(cf->pool, sizeof(ngx_http_mim_ngsild_loc_conf_t));
    if (conf == NULL) {
        return NULL;
    }

    conf->enable = NGX_CONF_UNSET;
    conf->max_body = NGX_CONF_UNSET_SIZE;

    return conf;
}


static char *
ngx_http_mim_ngsild_merge_loc_conf(ngx_conf_t *cf, void *parent, void *child)
{
    ngx_http_mim_ngsild_loc_conf_t *prev = parent;
    ngx_http_mim_ngsild_loc_conf_t *conf = child;

    ngx_conf_merge_value(conf->enable, prev->enable, 0);
    ngx_conf_merge_size_value(conf->max_body, prev->max_body,
                              8 * 1024 * 1024);

    if (conf->max_body == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "mim_ngsild_filter_max_body must not be 0");
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


static ngx_int_t
ngx_http_mim_ngsild_init(ngx_conf_t *cf)
{
    ngx_http_next_header_filter = ngx_http_top_header_filter;
    ngx_http_top_header_filter = ngx_http_mim_ngsild_header_filter;

    ngx_http_next_body_filter = ngx_http_top_body_filter;
    ngx_http_top_body_filter = ngx_http_mim_ngsild_body_filter;

    return NGX_OK;
}
