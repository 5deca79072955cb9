/*
 * ngx_http_mim_sign_filter_module - signs every response (MIM6 C2/C3).
 *
 * Adds Content-Digest (RFC 9530) and X-JWS-Signature, a detached JWS
 * (RFC 7515 Appendix F) over the exact body bytes sent, bound to the
 * request by htm/htu/status in its protected header (docs/signing.md).
 *
 * The filter sits after gzip in the call chain, so it sees the bytes
 * actually sent, and before the chunked and HTTP/2 filters, so they can
 * emit its trailers.  A body up to mim_sign_max_body is held, signed and
 * sent with the two header fields; a larger one is signed as it streams
 * and the fields go out as trailers, or the response is refused with 502
 * when the client cannot take trailers.  Never an unsigned body.
 */

#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_mim.h"


#define NGX_HTTP_MIM_SIGN_HOLD     1   /* holding the body to sign it */
#define NGX_HTTP_MIM_SIGN_STREAM   2   /* signing as it passes: trailers */
#define NGX_HTTP_MIM_SIGN_DONE     3   /* signed; pass the rest */
#define NGX_HTTP_MIM_SIGN_REFUSED  4   /* answered 502 instead */
#define NGX_HTTP_MIM_SIGN_FAILED   5   /* answered 500: do not sign that */

#define NGX_HTTP_MIM_SIGN_FIRST_BUF  16384


typedef struct {
    ngx_flag_t            enable;
    size_t                max_body;
} ngx_http_mim_sign_loc_conf_t;


typedef struct {
    ngx_uint_t            state;
    mim_body_signer_t    *signer;
    ngx_buf_t            *held;
    size_t                max_body;
    ngx_str_t             digest;      /* Content-Digest, once signed */
} ngx_http_mim_sign_ctx_t;


static ngx_int_t ngx_http_mim_sign_start(ngx_http_request_t *r,
    ngx_http_mim_sign_ctx_t *ctx);
static ngx_int_t ngx_http_mim_sign_binding(ngx_http_request_t *r,
    mim_jws_binding_t *b);
static ngx_int_t ngx_http_mim_sign_finish(ngx_http_request_t *r,
    ngx_http_mim_sign_ctx_t *ctx, ngx_list_t *fields);
static ngx_int_t ngx_http_mim_sign_start_stream(ngx_http_request_t *r,
    ngx_http_mim_sign_ctx_t *ctx, const char *why);
static ngx_int_t ngx_http_mim_sign_hold(ngx_http_request_t *r,
    ngx_http_mim_sign_ctx_t *ctx, ngx_chain_t *in);
static ngx_int_t ngx_http_mim_sign_hold_append(ngx_http_request_t *r,
    ngx_http_mim_sign_ctx_t *ctx, u_char *data, size_t size);
static ngx_int_t ngx_http_mim_sign_send_held(ngx_http_request_t *r,
    ngx_http_mim_sign_ctx_t *ctx);
static ngx_int_t ngx_http_mim_sign_stream(ngx_http_request_t *r,
    ngx_http_mim_sign_ctx_t *ctx, ngx_chain_t *in);
static ngx_int_t ngx_http_mim_sign_fail(ngx_http_request_t *r,
    ngx_http_mim_sign_ctx_t *ctx, ngx_uint_t state, ngx_uint_t status);
static ngx_flag_t ngx_http_mim_sign_trailers_ok(ngx_http_request_t *r);
static ngx_int_t ngx_http_mim_sign_add_field(ngx_http_request_t *r,
    ngx_list_t *list, char *name, u_char *value, size_t len);
static void ngx_http_mim_sign_cleanup(void *data);
static void *ngx_http_mim_sign_create_loc_conf(ngx_conf_t *cf);
static char *ngx_http_mim_sign_merge_loc_conf(ngx_conf_t *cf, void *parent,
    void *child);
static ngx_int_t ngx_http_mim_sign_digest_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);
static ngx_int_t ngx_http_mim_sign_add_variables(ngx_conf_t *cf);
static ngx_int_t ngx_http_mim_sign_init(ngx_conf_t *cf);


static ngx_command_t  ngx_http_mim_sign_commands[] = {

    { ngx_string("mim_sign"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_FLAG,
      ngx_conf_set_flag_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_mim_sign_loc_conf_t, enable),
      NULL },

    { ngx_string("mim_sign_max_body"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_size_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_mim_sign_loc_conf_t, max_body),
      NULL },

      ngx_null_command
};


static ngx_http_variable_t  ngx_http_mim_sign_vars[] = {

    { ngx_string("mim_content_digest"), NULL,
      ngx_http_mim_sign_digest_variable, 0, NGX_HTTP_VAR_NOCACHEABLE, 0 },

      ngx_http_null_variable
};


static ngx_http_module_t  ngx_http_mim_sign_filter_module_ctx = {
    ngx_http_mim_sign_add_variables,       /* preconfiguration */
    ngx_http_mim_sign_init,                /* postconfiguration */

    NULL,                                  /* create main configuration */
    NULL,                                  /* init main configuration */

    NULL,                                  /* create server configuration */
    NULL,                                  /* merge server configuration */

    ngx_http_mim_sign_create_loc_conf,     /* create location configuration */
    ngx_http_mim_sign_merge_loc_conf       /* merge location configuration */
};


ngx_module_t  ngx_http_mim_sign_filter_module = {
    NGX_MODULE_V1,
    &ngx_http_mim_sign_filter_module_ctx,  /* module context */
    ngx_http_mim_sign_commands,            /* module directives */
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


static ngx_int_t
ngx_http_mim_sign_header_filter(ngx_http_request_t *r)
{
    off_t                          len;
    ngx_http_mim_sign_ctx_t       *ctx;
    ngx_http_mim_sign_loc_conf_t  *slcf;

    slcf = ngx_http_get_module_loc_conf(r, ngx_http_mim_sign_filter_module);

    if (!slcf->enable || r != r->main) {
        return ngx_http_next_header_filter(r);
    }

    ctx = ngx_http_get_module_ctx(r, ngx_http_mim_sign_filter_module);

    if (ctx != NULL && ctx->state == NGX_HTTP_MIM_SIGN_FAILED) {
        /* the 500 that replaces a response we could not sign */
        return ngx_http_next_header_filter(r);
    }

    if (ctx == NULL) {
        ctx = ngx_pcalloc(r->pool, sizeof(ngx_http_mim_sign_ctx_t));
        if (ctx == NULL) {
            return NGX_ERROR;
        }

        ngx_http_set_ctx(r, ctx, ngx_http_mim_sign_filter_module);

    } else {
        /* the 502 that replaces a response we refused: sign it afresh */
        ctx->held = NULL;
    }

    ctx->max_body = slcf->max_body;

    if (ngx_http_mim_sign_start(r, ctx) != NGX_OK) {
        return ngx_http_mim_sign_fail(r, ctx, NGX_HTTP_MIM_SIGN_FAILED,
                                      NGX_HTTP_INTERNAL_SERVER_ERROR);
    }

    /*
     * No body follows.  HEAD is decided here, not by r->header_only, which
     * the last header filter sets: what gzip would emit for a HEAD is
     * never sent, so it must not be signed.
     */

    if (r->header_only
        || r->method == NGX_HTTP_HEAD
        || r->headers_out.status == NGX_HTTP_NO_CONTENT
        || r->headers_out.status == NGX_HTTP_NOT_MODIFIED
        || r->headers_out.status < NGX_HTTP_OK)
    {
        if (ngx_http_mim_sign_finish(r, ctx, &r->headers_out.headers)
            != NGX_OK)
        {
            return ngx_http_mim_sign_fail(r, ctx, NGX_HTTP_MIM_SIGN_FAILED,
                                          NGX_HTTP_INTERNAL_SERVER_ERROR);
        }

        return ngx_http_next_header_filter(r);
    }

    /*
     * nginx's own range filter would cut the body after we signed it;
     * a 206 from upstream is signed as sent, status 206 bound.
     */
    r->allow_ranges = 0;

    /* file buffers are read into memory by the copy filter for us */
    r->filter_need_in_memory = 1;
    r->main_filter_need_in_memory = 1;

    len = r->headers_out.content_length_n;

    if (len > (off_t) ctx->max_body) {
        return ngx_http_mim_sign_start_stream(r, ctx,
                                              "Content-Length is over "
                                              "mim_sign_max_body");
    }

    ctx->state = NGX_HTTP_MIM_SIGN_HOLD;

    if (len > 0) {
        ctx->held = ngx_create_temp_buf(r->pool, (size_t) len);
        if (ctx->held == NULL) {
            return ngx_http_mim_sign_fail(r, ctx, NGX_HTTP_MIM_SIGN_FAILED,
                                          NGX_HTTP_INTERNAL_SERVER_ERROR);
        }
    }

    /* the header goes out with the signature, when the body is complete */

    return NGX_OK;
}


static ngx_int_t
ngx_http_mim_sign_body_filter(ngx_http_request_t *r, ngx_chain_t *in)
{
    ngx_http_mim_sign_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_mim_sign_filter_module);

    if (ctx == NULL || r != r->main) {
        return ngx_http_next_body_filter(r, in);
    }

    switch (ctx->state) {

    case NGX_HTTP_MIM_SIGN_HOLD:
        return ngx_http_mim_sign_hold(r, ctx, in);

    case NGX_HTTP_MIM_SIGN_STREAM:
        return ngx_http_mim_sign_stream(r, ctx, in);

    default:
        return ngx_http_next_body_filter(r, in);
    }
}


/* Begin a signature over this response: build the protected header. */

static ngx_int_t
ngx_http_mim_sign_start(ngx_http_request_t *r, ngx_http_mim_sign_ctx_t *ctx)
{
    u_char                   *header;
    size_t                    cap, len;
    mim_result_t              res;
    mim_jws_binding_t         binding;
    ngx_pool_cleanup_t       *cln;
    ngx_http_mim_srv_conf_t  *mscf;

    mscf = ngx_http_get_module_srv_conf(r, ngx_http_mim_module);

    if (ngx_http_mim_sign_binding(r, &binding) != NGX_OK) {
        return NGX_ERROR;
    }

    /* worst case, every URL byte is escaped as \u00XX */
    cap = mscf->header_reserve + 6 * (binding.htu_len + binding.htm_len);

    header = ngx_pnalloc(r->pool, cap);
    if (header == NULL) {
        return NGX_ERROR;
    }

    res = mim_jws_protected_header((char *) header, cap, &len,
                                   mscf->signing_key, &binding);
    if (!mim_ok(res)) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "mim_sign: cannot build the JWS header: %s", res.msg);
        return NGX_ERROR;
    }

    if (ctx->signer == NULL) {
        cln = ngx_pool_cleanup_add(r->pool, 0);
        if (cln == NULL) {
            return NGX_ERROR;
        }

        cln->handler = ngx_http_mim_sign_cleanup;
        cln->data = ctx;

    } else {
        mim_body_signer_free(ctx->signer);
        ctx->signer = NULL;
    }

    res = mim_body_signer_new(&ctx->signer, mscf->signing_key,
                              (char *) header, len);
    if (!mim_ok(res)) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "mim_sign: cannot start signing: %s", res.msg);
        return NGX_ERROR;
    }

    return NGX_OK;
}


/*
 * What the signature binds besides the body: the method, the URL as the
 * client asked for it (scheme, Host, request target) and the status.
 */

static ngx_int_t
ngx_http_mim_sign_binding(ngx_http_request_t *r, mim_jws_binding_t *b)
{
    u_char     *p;
    ngx_str_t   scheme, host;

    ngx_str_set(&scheme, "http");

#if (NGX_HTTP_SSL)
    if (r->connection->ssl) {
        ngx_str_set(&scheme, "https");
    }
#endif

    if (r->headers_in.host != NULL) {
        host = r->headers_in.host->value;

    } else {
        host = r->headers_in.server;
    }

    b->htu_len = scheme.len + sizeof("://") - 1 + host.len
                 + r->unparsed_uri.len;

    p = ngx_pnalloc(r->pool, b->htu_len);
    if (p == NULL) {
        return NGX_ERROR;
    }

    b->htu = (char *) p;

    p = ngx_cpymem(p, scheme.data, scheme.len);
    p = ngx_cpymem(p, "://", sizeof("://") - 1);
    ngx_strlow(p, host.data, host.len);
    p += host.len;
    ngx_memcpy(p, r->unparsed_uri.data, r->unparsed_uri.len);

    b->htm = (char *) r->method_name.data;
    b->htm_len = r->method_name.len;
    b->status = (int) r->headers_out.status;
    b->iat = (long) ngx_time();

    return NGX_OK;
}


/* Finish the signature and add both fields to headers or trailers. */

static ngx_int_t
ngx_http_mim_sign_finish(ngx_http_request_t *r, ngx_http_mim_sign_ctx_t *ctx,
    ngx_list_t *fields)
{
    char          *jws;
    size_t         jws_len;
    u_char        *digest, *value;
    mim_result_t   res;

    digest = ngx_pnalloc(r->pool, MIM_CONTENT_DIGEST_LEN + 1);
    if (digest == NULL) {
        return NGX_ERROR;
    }

    res = mim_body_signer_final(ctx->signer, (char *) digest, &jws,
                                &jws_len);
    if (!mim_ok(res)) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "mim_sign: cannot sign the response: %s", res.msg);
        return NGX_ERROR;
    }

    value = ngx_pnalloc(r->pool, jws_len);
    if (value != NULL) {
        ngx_memcpy(value, jws, jws_len);
    }

    free(jws);

    if (value == NULL) {
        return NGX_ERROR;
    }

    ctx->state = NGX_HTTP_MIM_SIGN_DONE;
    ctx->digest.data = digest;
    ctx->digest.len = ngx_strlen(digest);

    if (ngx_http_mim_sign_add_field(r, fields, "Content-Digest", digest,
                                    ctx->digest.len)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    return ngx_http_mim_sign_add_field(r, fields, "X-JWS-Signature", value,
                                       jws_len);
}


/*
 * The body is over mim_sign_max_body: send the header now, sign as the
 * body passes and send the fields as trailers; or refuse with 502.
 */

static ngx_int_t
ngx_http_mim_sign_start_stream(ngx_http_request_t *r,
    ngx_http_mim_sign_ctx_t *ctx, const char *why)
{
    ngx_http_mim_srv_conf_t  *mscf;

    mscf = ngx_http_get_module_srv_conf(r, ngx_http_mim_module);

    if (!mim_key_can_stream(mscf->signing_key)) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "mim_sign: %s and an %s key cannot sign a stream; "
                      "answering 502 instead of an unsigned body",
                      why, mim_alg_name(mscf->signing_key->alg));
        return ngx_http_mim_sign_fail(r, ctx, NGX_HTTP_MIM_SIGN_REFUSED,
                                      NGX_HTTP_BAD_GATEWAY);
    }

    if (!ngx_http_mim_sign_trailers_ok(r)) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "mim_sign: %s and the client cannot take trailers; "
                      "answering 502 instead of an unsigned body", why);
        return ngx_http_mim_sign_fail(r, ctx, NGX_HTTP_MIM_SIGN_REFUSED,
                                      NGX_HTTP_BAD_GATEWAY);
    }

    ctx->state = NGX_HTTP_MIM_SIGN_STREAM;

    /*
     * Makes the chunked filter use chunks and send our trailers; the
     * HTTP/2 filter sends trailers only for bodies of unknown length.
     */
    r->expect_trailers = 1;
    ngx_http_clear_content_length(r);

    if (ngx_http_mim_sign_add_field(r, &r->headers_out.headers, "Trailer",
                                    (u_char *) "Content-Digest, "
                                    "X-JWS-Signature",
                                    sizeof("Content-Digest, "
                                           "X-JWS-Signature") - 1)
        != NGX_OK)
    {
        return ngx_http_mim_sign_fail(r, ctx, NGX_HTTP_MIM_SIGN_FAILED,
                                      NGX_HTTP_INTERNAL_SERVER_ERROR);
    }

    return ngx_http_next_header_filter(r);
}


static ngx_int_t
ngx_http_mim_sign_hold(ngx_http_request_t *r, ngx_http_mim_sign_ctx_t *ctx,
    ngx_chain_t *in)
{
    size_t        size;
    ngx_int_t     rc;
    ngx_buf_t    *b;
    ngx_chain_t  *cl;

    for (cl = in; cl; cl = cl->next) {
        b = cl->buf;

        if (!ngx_buf_in_memory(b) && !ngx_buf_special(b)) {
            ngx_log_error(NGX_LOG_ALERT, r->connection->log, 0,
                          "mim_sign: body buffer not in memory");
            return ngx_http_mim_sign_fail(r, ctx, NGX_HTTP_MIM_SIGN_FAILED,
                                          NGX_HTTP_INTERNAL_SERVER_ERROR);
        }

        size = ngx_buf_in_memory(b) ? (size_t) (b->last - b->pos) : 0;

        if ((ctx->held ? (size_t) (ctx->held->last - ctx->held->pos) : 0)
            + size > ctx->max_body)
        {
            /* over the limit after all: switch to trailers */
            rc = ngx_http_mim_sign_start_stream(r, ctx,
                                                "the body grew over "
                                                "mim_sign_max_body");

            if (rc == NGX_ERROR || rc > NGX_OK || r->header_only) {
                return rc;
            }

            if (ctx->held && ctx->held->last > ctx->held->pos) {
                rc = ngx_http_mim_sign_send_held(r, ctx);
                if (rc == NGX_ERROR) {
                    return rc;
                }
            }

            return ngx_http_mim_sign_stream(r, ctx, cl);
        }

        if (size) {
            if (ngx_http_mim_sign_hold_append(r, ctx, b->pos, size)
                != NGX_OK)
            {
                return ngx_http_mim_sign_fail(r, ctx,
                                              NGX_HTTP_MIM_SIGN_FAILED,
                                              NGX_HTTP_INTERNAL_SERVER_ERROR);
            }

            /* consumed: upstream may reuse its buffer */
            b->pos = b->last;

            if (b->in_file) {
                b->file_pos = b->file_last;
            }
        }

        if (b->last_buf) {
            if (ngx_http_mim_sign_finish(r, ctx, &r->headers_out.headers)
                != NGX_OK)
            {
                return ngx_http_mim_sign_fail(r, ctx,
                                              NGX_HTTP_MIM_SIGN_FAILED,
                                              NGX_HTTP_INTERNAL_SERVER_ERROR);
            }

            rc = ngx_http_next_header_filter(r);

            if (rc == NGX_ERROR || rc > NGX_OK || r->header_only) {
                return rc;
            }

            return ngx_http_mim_sign_send_held(r, ctx);
        }
    }

    return NGX_OK;
}


static ngx_int_t
ngx_http_mim_sign_hold_append(ngx_http_request_t *r,
    ngx_http_mim_sign_ctx_t *ctx, u_char *data, size_t size)
{
    size_t        held, cap;
    ngx_buf_t    *b;
    mim_result_t  res;

    res = mim_body_signer_update(ctx->signer, data, size);
    if (!mim_ok(res)) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "mim_sign: cannot sign the response: %s", res.msg);
        return NGX_ERROR;
    }

    b = ctx->held;
    held = b ? (size_t) (b->last - b->pos) : 0;

    if (b == NULL || (size_t) (b->end - b->last) < size) {

        /* unknown length: grow by doubling, up to the limit */
        cap = b ? (size_t) (b->end - b->start) : NGX_HTTP_MIM_SIGN_FIRST_BUF;

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


/* Pass the held body on; the last buffer when the response is complete. */

static ngx_int_t
ngx_http_mim_sign_send_held(ngx_http_request_t *r,
    ngx_http_mim_sign_ctx_t *ctx)
{
    ngx_buf_t    *b;
    ngx_chain_t   out;
    ngx_flag_t    last;

    last = (ctx->state == NGX_HTTP_MIM_SIGN_DONE);
    b = ctx->held;

    if (b == NULL || b->last == b->pos) {
        if (!last) {
            return NGX_OK;
        }

        /* an empty body: a bare last buffer */
        b = ngx_calloc_buf(r->pool);
        if (b == NULL) {
            return NGX_ERROR;
        }
    }

    b->last_buf = last;
    b->last_in_chain = last;
    b->flush = !last;

    ctx->held = NULL;

    out.buf = b;
    out.next = NULL;

    return ngx_http_next_body_filter(r, &out);
}


static ngx_int_t
ngx_http_mim_sign_stream(ngx_http_request_t *r, ngx_http_mim_sign_ctx_t *ctx,
    ngx_chain_t *in)
{
    ngx_buf_t     *b;
    ngx_chain_t   *cl;
    mim_result_t   res;

    for (cl = in; cl; cl = cl->next) {
        b = cl->buf;

        if (ngx_buf_in_memory(b) && b->last > b->pos) {
            res = mim_body_signer_update(ctx->signer, b->pos,
                                         b->last - b->pos);
            if (!mim_ok(res)) {
                ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                              "mim_sign: cannot sign the streamed "
                              "response: %s; closing without the last "
                              "chunk", res.msg);
                ctx->state = NGX_HTTP_MIM_SIGN_FAILED;
                return NGX_ERROR;
            }

        } else if (!ngx_buf_special(b)) {
            ngx_log_error(NGX_LOG_ALERT, r->connection->log, 0,
                          "mim_sign: streamed body buffer not in memory; "
                          "closing without the last chunk");
            ctx->state = NGX_HTTP_MIM_SIGN_FAILED;
            return NGX_ERROR;
        }

        if (b->last_buf) {
            if (ngx_http_mim_sign_finish(r, ctx, &r->headers_out.trailers)
                != NGX_OK)
            {
                /* the header is gone: only a truncated body is honest */
                ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                              "mim_sign: closing without the last chunk");
                ctx->state = NGX_HTTP_MIM_SIGN_FAILED;
                return NGX_ERROR;
            }
        }
    }

    return ngx_http_next_body_filter(r, in);
}


/*
 * Replace the response with an error page: 500 when signing failed (sent
 * unsigned: there is nothing to sign it with), 502 when we refused an
 * unsignable body (signed like any other answer).
 */

static ngx_int_t
ngx_http_mim_sign_fail(ngx_http_request_t *r, ngx_http_mim_sign_ctx_t *ctx,
    ngx_uint_t state, ngx_uint_t status)
{
    if (r->header_sent) {
        ctx->state = NGX_HTTP_MIM_SIGN_FAILED;
        return NGX_ERROR;
    }

    ctx->state = state;

    return ngx_http_filter_finalize_request(r,
                                            &ngx_http_mim_sign_filter_module,
                                            status);
}


static ngx_flag_t
ngx_http_mim_sign_trailers_ok(ngx_http_request_t *r)
{
    ngx_http_core_loc_conf_t  *clcf;

    if (r->stream) {
        return 1;                      /* HTTP/2: a trailing HEADERS frame */
    }

    clcf = ngx_http_get_module_loc_conf(r, ngx_http_core_module);

    return r->http_version >= NGX_HTTP_VERSION_11
           && clcf->chunked_transfer_encoding;
}


static ngx_int_t
ngx_http_mim_sign_add_field(ngx_http_request_t *r, ngx_list_t *list,
    char *name, u_char *value, size_t len)
{
    ngx_table_elt_t  *h;

    h = ngx_list_push(list);
    if (h == NULL) {
        return NGX_ERROR;
    }

    h->hash = 1;
    h->key.data = (u_char *) name;
    h->key.len = ngx_strlen(name);
    h->value.data = value;
    h->value.len = len;
    h->lowcase_key = NULL;

    return NGX_OK;
}


static void
ngx_http_mim_sign_cleanup(void *data)
{
    ngx_http_mim_sign_ctx_t  *ctx = data;

    mim_body_signer_free(ctx->signer);
    ctx->signer = NULL;
}


static void *
ngx_http_mim_sign_create_loc_conf(ngx_conf_t *cf)
{
    ngx_http_mim_sign_loc_conf_t  *conf;

    conf = ngx_pcalloc(cf->pool, sizeof(ngx_http_mim_sign_loc_conf_t));
    if (conf == NULL) {
        return NULL;
    }

    conf->enable = NGX_CONF_UNSET;
    conf->max_body = NGX_CONF_UNSET_SIZE;

    return conf;
}


static char *
ngx_http_mim_sign_merge_loc_conf(ngx_conf_t *cf, void *parent, void *child)
{
    ngx_http_mim_sign_loc_conf_t *prev = parent;
    ngx_http_mim_sign_loc_conf_t *conf = child;

    ngx_http_mim_srv_conf_t  *mscf;

    ngx_conf_merge_value(conf->enable, prev->enable, 0);
    ngx_conf_merge_size_value(conf->max_body, prev->max_body,
                              8 * 1024 * 1024);

    if (conf->enable) {
        mscf = ngx_http_conf_get_module_srv_conf(cf, ngx_http_mim_module);

        if (mscf->signing_key == NULL) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "\"mim_sign on\" requires mim_signing_key");
            return NGX_CONF_ERROR;
        }
    }

    return NGX_CONF_OK;
}


ngx_int_t
ngx_http_mim_sign_digest(ngx_http_request_t *r, ngx_str_t *digest)
{
    ngx_http_mim_sign_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r->main, ngx_http_mim_sign_filter_module);

    if (ctx == NULL || ctx->digest.len == 0) {
        return NGX_DECLINED;
    }

    *digest = ctx->digest;

    return NGX_OK;
}


static ngx_int_t
ngx_http_mim_sign_digest_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data)
{
    ngx_str_t  digest;

    if (ngx_http_mim_sign_digest(r, &digest) != NGX_OK) {
        v->not_found = 1;
        return NGX_OK;
    }

    v->len = digest.len;
    v->valid = 1;
    v->no_cacheable = 0;
    v->not_found = 0;
    v->data = digest.data;

    return NGX_OK;
}


static ngx_int_t
ngx_http_mim_sign_add_variables(ngx_conf_t *cf)
{
    return ngx_http_mim_add_variables(cf, ngx_http_mim_sign_vars);
}


static ngx_int_t
ngx_http_mim_sign_init(ngx_conf_t *cf)
{
    ngx_http_next_header_filter = ngx_http_top_header_filter;
    ngx_http_top_header_filter = ngx_http_mim_sign_header_filter;

    ngx_http_next_body_filter = ngx_http_top_body_filter;
    ngx_http_top_body_filter = ngx_http_mim_sign_body_filter;

    return NGX_OK;
}
