/*
 * ngx_http_mim_client.h - a small outbound HTTP(S) client on nginx events,
 * for the Dataspace Protocol callbacks (ContractAgreementMessage, ...).
 *
 * Not tied to any request: a POST is started from a timer or a posted
 * event of a worker, runs on the worker's event loop (nginx resolver,
 * non-blocking connect, TLS with certificate and host name verification,
 * one timeout for the whole exchange), and ends by calling done() exactly
 * once, always from an event handler (never from inside
 * ngx_http_mim_client_post()).  HTTP/1.1, "Connection: close", a
 * Content-Length body; the answer is read up to the end of its header
 * (8 KiB at most, 1xx answers skipped), its body never; no redirects are
 * followed.
 *
 * Every address the host resolves to is checked by
 * ngx_http_mim_client_addr_allowed() before a connection is made, so a
 * callback can never be pointed at loopback or link-local addresses
 * unless the configuration allows it (mim_dsp_callback_allow).
 */
#ifndef NGX_HTTP_MIM_CLIENT_H_INCLUDED_
#define NGX_HTTP_MIM_CLIENT_H_INCLUDED_

#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>


typedef struct ngx_http_mim_client_s  ngx_http_mim_client_t;

/*
 * status: the HTTP status of the answer, or 0 when there was none
 * (resolution, address policy, connect, TLS, timeout, malformed answer);
 * reason: why, for logs ("connect() to 127.0.0.1:9 failed (111:
 * Connection refused)", "answered 500"), valid during the call only.
 */
typedef void (*ngx_http_mim_client_done_pt)(void *data, ngx_uint_t status,
    ngx_str_t *reason);


/* the address policy of callbacks */
typedef struct {
    ngx_array_t          *allow;    /* of ngx_cidr_t; NULL: the default */
    ngx_flag_t            any;      /* "mim_dsp_callback_allow any" */
} ngx_http_mim_client_policy_t;


typedef struct {
    ngx_str_t             url;            /* http(s)://host[:port]/path */
    ngx_str_t             body;           /* sent as application/json */
    ngx_str_t             authorization;  /* header value, or empty */
    ngx_msec_t            timeout;        /* the whole exchange */
    ngx_resolver_t       *resolver;       /* NULL: IP literals and
                                             "localhost" only */
    ngx_msec_t            resolver_timeout;
    ngx_ssl_t            *ssl;            /* for https (verifying peer);
                                             NULL: https fails */
    ngx_http_mim_client_policy_t  *policy;
    ngx_log_t            *log;
    ngx_flag_t            check_only;     /* resolve and judge the address,
                                             send nothing: done() gets 200
                                             when an address is allowed */
} ngx_http_mim_client_request_t;


/*
 * Start a POST.  Everything in req is copied.  Returns the client, or
 * NULL when it cannot even start (out of memory, a URL that does not
 * parse): then done() is not called and *reason (static text) says why.
 */
ngx_http_mim_client_t *ngx_http_mim_client_post(
    ngx_http_mim_client_request_t *req, ngx_http_mim_client_done_pt done,
    void *data, ngx_str_t *reason);

/* Abort a POST that has not ended: done() will not be called. */
void ngx_http_mim_client_cancel(ngx_http_mim_client_t *client);


/*
 * May a callback go to sa?  With policy->any every address may; with an
 * allow list, only addresses inside one of its CIDRs; by default (no
 * list) every address but loopback (127.0.0.0/8, ::1), link-local
 * (169.254.0.0/16, fe80::/10), unspecified (0.0.0.0, ::) and multicast,
 * IPv4-mapped IPv6 addresses judged as their IPv4 address.  NGX_OK, or
 * NGX_DECLINED with *reason (static text) set.
 */
ngx_int_t ngx_http_mim_client_addr_allowed(ngx_http_mim_client_policy_t *policy,
    struct sockaddr *sa, socklen_t socklen, ngx_str_t *reason);


/*
 * At configuration time: a client TLS context for req->ssl (TLSv1.2 and
 * TLSv1.3, peers verified against trusted_certificate, a PEM file of CAs,
 * or against the system's CAs when it is NULL or empty), freed with
 * cf->pool.  NGX_OK, or NGX_ERROR (logged).
 */
ngx_int_t ngx_http_mim_client_ssl_init(ngx_conf_t *cf, ngx_ssl_t *ssl,
    ngx_str_t *trusted_certificate);


#endif /* NGX_HTTP_MIM_CLIENT_H_INCLUDED_ */
