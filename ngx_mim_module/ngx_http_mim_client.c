/*
 * ngx_http_mim_client - a small outbound HTTP(S) client on nginx events,
 * for the Dataspace Protocol callbacks (see ngx_http_mim_client.h).
 *
 * One client is one POST, in its own pool:
 *
 *   post()     parses the URL and builds the whole request (header and
 *              body, one buffer), arms the exchange's timer and posts the
 *              "start" event: nothing is resolved or connected from inside
 *              post(), so every failure, even an immediate one, reaches
 *              done() from an event handler;
 *   start      an IP literal or "localhost" is used as is, any other name
 *              goes to the nginx resolver;
 *   addresses  every address is judged by ngx_http_mim_client_addr_allowed();
 *              the allowed ones are tried in the resolver's order, the next
 *              one only when connecting to the previous one failed (once a
 *              connection is made, its outcome is the answer);
 *   https      TLS with SNI, the certificate's chain and the URL's host
 *              name (or IP address) verified before a byte is sent;
 *   answer     read up to the end of the header of the first final (not
 *              1xx) answer, at most NGX_HTTP_MIM_CLIENT_HEADER_MAX bytes;
 *              the body is never read: "Connection: close" and the status
 *              is all the caller needs;
 *   done()     exactly once, then the pool goes; cancel() instead of done()
 *              releases everything at any point before done() runs.
 *
 * Errors are the caller's to log: the client only tells them through
 * done()'s reason and logs at debug level.  nginx's own connection and
 * TLS code still logs what it always logs: a connect() refused at once at
 * "error", a failed TLS handshake at "info" (or "crit" for the unusual).
 */

#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_event.h>
#include <ngx_event_connect.h>
#include <ngx_http.h>

#include "ngx_http_mim_client.h"


#define NGX_HTTP_MIM_CLIENT_POOL_SIZE    2048
#define NGX_HTTP_MIM_CLIENT_HEADER_MAX   8192
#define NGX_HTTP_MIM_CLIENT_REASON_LEN   512
#define NGX_HTTP_MIM_CLIENT_VERIFY_DEPTH 5

/* where an exchange is: for the timeout's reason and the debug log */
#define NGX_HTTP_MIM_CLIENT_START        0
#define NGX_HTTP_MIM_CLIENT_RESOLVING    1
#define NGX_HTTP_MIM_CLIENT_CONNECTING   2
#define NGX_HTTP_MIM_CLIENT_HANDSHAKE    3
#define NGX_HTTP_MIM_CLIENT_SENDING      4
#define NGX_HTTP_MIM_CLIENT_READING      5


struct ngx_http_mim_client_s {
    ngx_pool_t                    *pool;
    ngx_log_t                     *log;

    ngx_http_mim_client_done_pt    done;
    void                          *data;

    ngx_str_t                      host;       /* no brackets, NUL-ended */
    in_port_t                      port;
    ngx_sockaddr_t                 literal;    /* host as an IP address */
    socklen_t                      literal_len;

    ngx_msec_t                     timeout;
    ngx_resolver_t                *resolver;
    ngx_msec_t                     resolver_timeout;
    ngx_resolver_ctx_t            *ctx;        /* a pending resolution */
    ngx_ssl_t                     *ssl;
    ngx_http_mim_client_policy_t   policy;
    ngx_flag_t                     check_only;  /* resolve and judge only */

    ngx_array_t                   *addrs;      /* of ngx_addr_t, allowed */
    ngx_uint_t                     next;       /* the next one to try */
    ngx_peer_connection_t          peer;

    ngx_buf_t                     *request;
    ngx_buf_t                     *answer;
    ngx_uint_t                     status;     /* of the current answer */
    long                           verify_error;  /* the chain's first */

    ngx_event_t                    timer;      /* the whole exchange */
    ngx_event_t                    start;      /* posted by post() */

    ngx_uint_t                     state;

    unsigned                       https:1;
    unsigned                       ip:1;       /* host is an IP literal */
    unsigned                       in_done:1;

    ngx_str_t                      error;      /* why no address worked */
    u_char                         reason[NGX_HTTP_MIM_CLIENT_REASON_LEN];
    u_char                         error_buf[NGX_HTTP_MIM_CLIENT_REASON_LEN];
};


static ngx_int_t ngx_http_mim_client_parse_url(ngx_http_mim_client_t *client,
    ngx_str_t *url, ngx_str_t *authority, ngx_str_t *path, ngx_str_t *reason);
static ngx_int_t ngx_http_mim_client_create_request(
    ngx_http_mim_client_t *client, ngx_http_mim_client_request_t *req,
    ngx_str_t *authority, ngx_str_t *path);
static void ngx_http_mim_client_start_handler(ngx_event_t *ev);
static void ngx_http_mim_client_resolve_handler(ngx_resolver_ctx_t *ctx);
static ngx_int_t ngx_http_mim_client_add_addr(ngx_http_mim_client_t *client,
    struct sockaddr *sa, socklen_t socklen);
static void ngx_http_mim_client_connect(ngx_http_mim_client_t *client);
static void ngx_http_mim_client_handler(ngx_event_t *ev);
static void ngx_http_mim_client_connected(ngx_http_mim_client_t *client);
static void ngx_http_mim_client_ssl_init_connection(
    ngx_http_mim_client_t *client);
static void ngx_http_mim_client_ssl_handshake(ngx_connection_t *c);
static int ngx_http_mim_client_verify_callback(int ok,
    X509_STORE_CTX *x509_store);
static void ngx_http_mim_client_send(ngx_http_mim_client_t *client);
static void ngx_http_mim_client_read(ngx_http_mim_client_t *client);
static ngx_int_t ngx_http_mim_client_parse_answer(
    ngx_http_mim_client_t *client);
static void ngx_http_mim_client_timeout_handler(ngx_event_t *ev);
static void ngx_http_mim_client_finalize(ngx_http_mim_client_t *client,
    ngx_uint_t status, const char *fmt, ...);
static void ngx_http_mim_client_resolved(ngx_http_mim_client_t *client);
static void ngx_http_mim_client_release(ngx_http_mim_client_t *client);
static void ngx_http_mim_client_close(ngx_http_mim_client_t *client);
static void ngx_http_mim_client_set_error(ngx_http_mim_client_t *client,
    ngx_err_t err, const char *what);


/* what the exchange was doing, for "timed out ... while %s" */
static char  *ngx_http_mim_client_doing[] = {
    "starting",
    "resolving",
    "connecting to",
    "in the TLS handshake with",
    "sending the request to",
    "reading the answer of"
};


ngx_http_mim_client_t *
ngx_http_mim_client_post(ngx_http_mim_client_request_t *req,
    ngx_http_mim_client_done_pt done, void *data, ngx_str_t *reason)
{
    u_char                 *p;
    ngx_log_t              *log;
    ngx_str_t               authority, path;
    ngx_pool_t             *pool;
    ngx_http_mim_client_t  *client;

    log = req->log ? req->log : ngx_cycle->log;

    pool = ngx_create_pool(NGX_HTTP_MIM_CLIENT_POOL_SIZE, log);
    if (pool == NULL) {
        ngx_str_set(reason, "out of memory");
        return NULL;
    }

    client = ngx_pcalloc(pool, sizeof(ngx_http_mim_client_t));
    if (client == NULL) {
        goto nomem;
    }

    client->pool = pool;
    client->log = log;
    client->done = done;
    client->data = data;

    if (ngx_http_mim_client_parse_url(client, &req->url, &authority, &path,
                                      reason)
        != NGX_OK)
    {
        ngx_destroy_pool(pool);
        return NULL;
    }

    /* a header value: a CR or LF in it would add headers of its own */

    for (p = req->authorization.data;
         p < req->authorization.data + req->authorization.len;
         p++)
    {
        if ((*p < 0x20 && *p != '\t') || *p == 0x7f) {
            ngx_str_set(reason, "invalid Authorization header value");
            ngx_destroy_pool(pool);
            return NULL;
        }
    }

    if (ngx_http_mim_client_create_request(client, req, &authority, &path)
        != NGX_OK)
    {
        goto nomem;
    }

    client->answer = ngx_create_temp_buf(pool, NGX_HTTP_MIM_CLIENT_HEADER_MAX);
    if (client->answer == NULL) {
        goto nomem;
    }

    client->addrs = ngx_array_create(pool, 2, sizeof(ngx_addr_t));
    if (client->addrs == NULL) {
        goto nomem;
    }

    client->timeout = req->timeout;
    client->resolver = req->resolver;
    client->resolver_timeout = req->resolver_timeout ? req->resolver_timeout
                                                     : req->timeout;
    client->ssl = req->ssl;
    client->check_only = req->check_only;

    /* the allow list, the resolver and ssl are the configuration's */

    if (req->policy) {
        client->policy = *req->policy;
    }

    client->timer.handler = ngx_http_mim_client_timeout_handler;
    client->timer.data = client;
    client->timer.log = log;

    client->start.handler = ngx_http_mim_client_start_handler;
    client->start.data = client;
    client->start.log = log;

    ngx_log_debug3(NGX_LOG_DEBUG_HTTP, log, 0,
                   "mim client %p: POST %V, %uz body bytes",
                   client, &req->url, req->body.len);

    /*
     * The timer is not cancelable: a worker shutting down gracefully waits
     * for a callback in flight (at most the timeout) instead of dropping it.
     */

    ngx_add_timer(&client->timer, client->timeout);
    ngx_post_event(&client->start, &ngx_posted_events);

    return client;

nomem:

    ngx_destroy_pool(pool);
    ngx_str_set(reason, "out of memory");
    return NULL;
}


void
ngx_http_mim_client_cancel(ngx_http_mim_client_t *client)
{
    /* from inside done() the client is about to go anyway */

    if (client == NULL || client->in_done) {
        return;
    }

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, client->log, 0,
                   "mim client %p: cancelled", client);

    ngx_http_mim_client_release(client);
    ngx_destroy_pool(client->pool);
}


ngx_int_t
ngx_http_mim_client_addr_allowed(ngx_http_mim_client_policy_t *policy,
    struct sockaddr *sa, socklen_t socklen, ngx_str_t *reason)
{
    in_addr_t             addr;
    struct sockaddr_in   *sin;
#if (NGX_HAVE_INET6)
    u_char               *p;
    struct in6_addr      *in6;
    struct sockaddr_in6  *sin6;
#endif

    if (policy && policy->any) {
        return NGX_OK;
    }

    if (policy && policy->allow) {

        /* ngx_cidr_match() judges IPv4-mapped addresses as IPv4 ones */

        if ((sa->sa_family == AF_INET
#if (NGX_HAVE_INET6)
             || sa->sa_family == AF_INET6
#endif
            )
            && ngx_cidr_match(sa, policy->allow) == NGX_OK)
        {
            return NGX_OK;
        }

        ngx_str_set(reason, "is not in the allow list");
        return NGX_DECLINED;
    }

    switch (sa->sa_family) {

    case AF_INET:
        sin = (struct sockaddr_in *) sa;
        addr = ntohl(sin->sin_addr.s_addr);
        break;

#if (NGX_HAVE_INET6)
    case AF_INET6:
        sin6 = (struct sockaddr_in6 *) sa;
        in6 = &sin6->sin6_addr;

        if (IN6_IS_ADDR_V4MAPPED(in6)) {
            p = in6->s6_addr;
            addr = ((in_addr_t) p[12] << 24) | ((in_addr_t) p[13] << 16)
                   | ((in_addr_t) p[14] << 8) | p[15];
            break;
        }

        if (IN6_IS_ADDR_LOOPBACK(in6)) {
            ngx_str_set(reason, "is loopback");
            return NGX_DECLINED;
        }

        if (IN6_IS_ADDR_LINKLOCAL(in6)) {
            ngx_str_set(reason, "is link-local");
            return NGX_DECLINED;
        }

        if (IN6_IS_ADDR_UNSPECIFIED(in6)) {
            ngx_str_set(reason, "is unspecified");
            return NGX_DECLINED;
        }

        if (IN6_IS_ADDR_MULTICAST(in6)) {
            ngx_str_set(reason, "is multicast");
            return NGX_DECLINED;
        }

        return NGX_OK;
#endif

    default:
        ngx_str_set(reason, "is not an IP address");
        return NGX_DECLINED;
    }

    if ((addr >> 24) == 127) {
        ngx_str_set(reason, "is loopback");
        return NGX_DECLINED;
    }

    if ((addr & 0xffff0000) == 0xa9fe0000) {
        ngx_str_set(reason, "is link-local");
        return NGX_DECLINED;
    }

    /* all of 0.0.0.0/8: Linux connects 0.0.0.0 to the local host */

    if ((addr >> 24) == 0) {
        ngx_str_set(reason, "is unspecified");
        return NGX_DECLINED;
    }

    if ((addr & 0xf0000000) == 0xe0000000) {
        ngx_str_set(reason, "is multicast");
        return NGX_DECLINED;
    }

    return NGX_OK;
}


ngx_int_t
ngx_http_mim_client_ssl_init(ngx_conf_t *cf, ngx_ssl_t *ssl,
    ngx_str_t *trusted_certificate)
{
    ngx_str_t            none = ngx_null_string;
    ngx_pool_cleanup_t  *cln;

    ssl->log = cf->log;

    if (ngx_ssl_create(ssl, NGX_SSL_TLSv1_2|NGX_SSL_TLSv1_3, NULL) != NGX_OK) {
        return NGX_ERROR;
    }

    cln = ngx_pool_cleanup_add(cf->pool, 0);
    if (cln == NULL) {
        ngx_ssl_cleanup_ctx(ssl);
        return NGX_ERROR;
    }

    cln->handler = ngx_ssl_cleanup_ctx;
    cln->data = ssl;

    if (trusted_certificate == NULL) {
        trusted_certificate = &none;
    }

    if (ngx_ssl_trusted_certificate(cf, ssl, trusted_certificate,
                                    NGX_HTTP_MIM_CLIENT_VERIFY_DEPTH)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    /* no file of trusted CAs: the system's (OpenSSL's default paths) */

    if (trusted_certificate->len == 0
        && SSL_CTX_set_default_verify_paths(ssl->ctx) != 1)
    {
        ngx_ssl_error(NGX_LOG_EMERG, cf->log, 0,
                      "SSL_CTX_set_default_verify_paths() failed");
        return NGX_ERROR;
    }

    /*
     * The peer's chain is verified in the handshake, but, as nginx does
     * for proxy_ssl_verify, a failure does not abort the handshake: the
     * callback lets it complete and the client refuses the connection
     * right after it, before sending anything, unless SSL_get_verify_result()
     * is X509_V_OK.  So done() can say precisely what was wrong with the
     * certificate, and a wrong certificate at a callback URL is not logged
     * as a critical SSL error of the gateway.
     */

    SSL_CTX_set_verify(ssl->ctx, SSL_VERIFY_PEER,
                       ngx_http_mim_client_verify_callback);

    return NGX_OK;
}


static ngx_int_t
ngx_http_mim_client_parse_url(ngx_http_mim_client_t *client, ngx_str_t *url,
    ngx_str_t *authority, ngx_str_t *path, ngx_str_t *reason)
{
    u_char               *p, *last, *end, *host, *host_end, *q;
    ngx_int_t             port;
    in_addr_t             inaddr;
    struct sockaddr_in   *sin;
#if (NGX_HAVE_INET6)
    struct sockaddr_in6  *sin6;
#endif

    p = url->data;
    last = p + url->len;

    if (url->len > 7 && ngx_strncasecmp(p, (u_char *) "http://", 7) == 0) {
        p += 7;
        client->port = 80;

    } else if (url->len > 8
               && ngx_strncasecmp(p, (u_char *) "https://", 8) == 0)
    {
        p += 8;
        client->port = 443;
        client->https = 1;

    } else {
        ngx_str_set(reason, "the callback URL is not an http(s) URL");
        return NGX_ERROR;
    }

    /* the authority ends at the path, the query or a fragment */

    for (end = p; end < last; end++) {
        if (*end == '/' || *end == '?' || *end == '#') {
            break;
        }

        if (*end == '@') {
            ngx_str_set(reason, "the callback URL has a user name");
            return NGX_ERROR;
        }
    }

    authority->data = p;
    authority->len = end - p;

    if (p == end) {
        ngx_str_set(reason, "the callback URL has no host");
        return NGX_ERROR;
    }

    if (*p == '[') {
        host = p + 1;
        host_end = ngx_strlchr(host, end, ']');

        if (host_end == NULL || host_end == host) {
            goto invalid_host;
        }

        q = host_end + 1;

#if (NGX_HAVE_INET6)
        sin6 = &client->literal.sockaddr_in6;

        if (ngx_inet6_addr(host, host_end - host, sin6->sin6_addr.s6_addr)
            != NGX_OK)
        {
            goto invalid_host;
        }

        sin6->sin6_family = AF_INET6;
        client->literal_len = sizeof(struct sockaddr_in6);
        client->ip = 1;
#else
        goto invalid_host;
#endif

    } else {
        host = p;
        host_end = ngx_strlchr(p, end, ':');

        if (host_end == NULL) {
            host_end = end;
        }

        q = host_end;

        if (host_end == host || host_end - host > 253) {
            goto invalid_host;
        }

        /* a name, or an IPv4 address: nothing a header could break on */

        for (p = host; p < host_end; p++) {
            if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z')
                  || (*p >= '0' && *p <= '9')
                  || *p == '-' || *p == '.' || *p == '_'))
            {
                goto invalid_host;
            }
        }

        inaddr = ngx_inet_addr(host, host_end - host);

        if (inaddr != INADDR_NONE) {
            sin = &client->literal.sockaddr_in;
            sin->sin_family = AF_INET;
            sin->sin_addr.s_addr = inaddr;
            client->literal_len = sizeof(struct sockaddr_in);
            client->ip = 1;
        }
    }

    if (q < end) {
        if (*q != ':' || q + 1 == end) {
            ngx_str_set(reason, "the callback URL has an invalid port");
            return NGX_ERROR;
        }

        port = ngx_atoi(q + 1, end - q - 1);

        if (port < 1 || port > 65535) {
            ngx_str_set(reason, "the callback URL has an invalid port");
            return NGX_ERROR;
        }

        client->port = (in_port_t) port;
    }

    client->host.len = host_end - host;
    client->host.data = ngx_pnalloc(client->pool, client->host.len + 1);
    if (client->host.data == NULL) {
        ngx_str_set(reason, "out of memory");
        return NGX_ERROR;
    }

    *ngx_cpymem(client->host.data, host, client->host.len) = '\0';

    if (client->ip) {
        ngx_inet_set_port(&client->literal.sockaddr, client->port);
    }

    /* the path and the query go on the request line as they are */

    for (p = end; p < last; p++) {
        if (*p == '#') {
            ngx_str_set(reason, "the callback URL has a fragment");
            return NGX_ERROR;
        }

        if (*p <= 0x20 || *p >= 0x7f) {
            ngx_str_set(reason, "the callback URL has an invalid character");
            return NGX_ERROR;
        }
    }

    if (end == last) {
        ngx_str_set(path, "/");

    } else if (*end == '?') {
        path->len = last - end + 1;
        path->data = ngx_pnalloc(client->pool, path->len);
        if (path->data == NULL) {
            ngx_str_set(reason, "out of memory");
            return NGX_ERROR;
        }

        path->data[0] = '/';
        ngx_memcpy(path->data + 1, end, last - end);

    } else {
        path->data = end;
        path->len = last - end;
    }

    return NGX_OK;

invalid_host:

    ngx_str_set(reason, "the callback URL has an invalid host");
    return NGX_ERROR;
}


static ngx_int_t
ngx_http_mim_client_create_request(ngx_http_mim_client_t *client,
    ngx_http_mim_client_request_t *req, ngx_str_t *authority, ngx_str_t *path)
{
    size_t      len;
    ngx_buf_t  *b;

    len = sizeof("POST ") - 1 + path->len + sizeof(" HTTP/1.1" CRLF) - 1
          + sizeof("Host: ") - 1 + authority->len + sizeof(CRLF) - 1
          + sizeof("Content-Type: application/json" CRLF) - 1
          + sizeof("Accept: application/json" CRLF) - 1
          + sizeof("Content-Length: " CRLF) - 1 + NGX_SIZE_T_LEN
          + sizeof("Connection: close" CRLF) - 1
          + sizeof("User-Agent: mim-gateway" CRLF) - 1
          + sizeof(CRLF) - 1
          + req->body.len;

    if (req->authorization.len) {
        len += sizeof("Authorization: " CRLF) - 1 + req->authorization.len;
    }

    b = ngx_create_temp_buf(client->pool, len);
    if (b == NULL) {
        return NGX_ERROR;
    }

    b->last = ngx_sprintf(b->last,
                          "POST %V HTTP/1.1" CRLF
                          "Host: %V" CRLF
                          "Content-Type: application/json" CRLF
                          "Accept: application/json" CRLF
                          "Content-Length: %uz" CRLF
                          "Connection: close" CRLF
                          "User-Agent: mim-gateway" CRLF,
                          path, authority, req->body.len);

    if (req->authorization.len) {
        b->last = ngx_sprintf(b->last, "Authorization: %V" CRLF,
                              &req->authorization);
    }

    *b->last++ = CR; *b->last++ = LF;

    b->last = ngx_cpymem(b->last, req->body.data, req->body.len);

    client->request = b;

    return NGX_OK;
}


static void
ngx_http_mim_client_start_handler(ngx_event_t *ev)
{
    size_t                  len;
    ngx_int_t               rc;
    ngx_str_t              *host;
    ngx_resolver_ctx_t     *ctx;
    struct sockaddr_in      sin;
    ngx_http_mim_client_t  *client;

    client = ev->data;
    host = &client->host;

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, client->log, 0,
                   "mim client %p: start, host \"%V\"", client, host);

    if (client->https && client->ssl == NULL) {
        ngx_http_mim_client_finalize(client, 0,
                                     "cannot post to %V: https callbacks "
                                     "need a TLS context", host);
        return;
    }

    if (client->ip) {
        rc = ngx_http_mim_client_add_addr(client, &client->literal.sockaddr,
                                          client->literal_len);
        goto addresses;
    }

    /*
     * "localhost" and names under it are the loopback address (RFC 6761,
     * section 6.3): nginx's resolver asks DNS only, never /etc/hosts.
     */

    len = host->len;

    if (len && host->data[len - 1] == '.') {
        len--;
    }

    if ((len == sizeof("localhost") - 1
         && ngx_strncasecmp(host->data, (u_char *) "localhost", len) == 0)
        || (len > sizeof(".localhost") - 1
            && ngx_strncasecmp(host->data + len - (sizeof(".localhost") - 1),
                               (u_char *) ".localhost",
                               sizeof(".localhost") - 1)
               == 0))
    {
        ngx_memzero(&sin, sizeof(struct sockaddr_in));
        sin.sin_family = AF_INET;
        sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);

        rc = ngx_http_mim_client_add_addr(client, (struct sockaddr *) &sin,
                                          sizeof(struct sockaddr_in));
        goto addresses;
    }

    if (client->resolver == NULL) {
        goto no_resolver;
    }

    ctx = ngx_resolve_start(client->resolver, NULL);

    if (ctx == NULL) {
        ngx_http_mim_client_finalize(client, 0, "cannot resolve host %V: "
                                     "out of memory", host);
        return;
    }

    if (ctx == NGX_NO_RESOLVER) {
        goto no_resolver;
    }

    ctx->name = *host;
    ctx->handler = ngx_http_mim_client_resolve_handler;
    ctx->data = client;
    ctx->timeout = client->resolver_timeout;

    client->ctx = ctx;
    client->state = NGX_HTTP_MIM_CLIENT_RESOLVING;

    /*
     * With a cached answer the handler runs from inside ngx_resolve_name()
     * and may finalize the client: it must not be touched after NGX_OK.
     */

    if (ngx_resolve_name(ctx) != NGX_OK) {
        /* ngx_resolve_name() has freed ctx */
        client->ctx = NULL;
        ngx_http_mim_client_finalize(client, 0, "cannot resolve host %V",
                                     host);
    }

    return;

addresses:

    if (rc == NGX_ERROR) {
        ngx_http_mim_client_finalize(client, 0, "out of memory");
        return;
    }

    if (rc == NGX_DECLINED) {
        ngx_http_mim_client_finalize(client, 0, "%V", &client->error);
        return;
    }

    ngx_http_mim_client_resolved(client);
    return;

no_resolver:

    ngx_http_mim_client_finalize(client, 0, "cannot resolve host %V: "
                                 "no resolver configured", host);
}


static void
ngx_http_mim_client_resolve_handler(ngx_resolver_ctx_t *ctx)
{
    ngx_int_t               rc, state;
    ngx_uint_t              i;
    ngx_http_mim_client_t  *client;

    client = ctx->data;
    client->ctx = NULL;

    if (ctx->state) {
        state = ctx->state;
        ngx_resolve_name_done(ctx);

        ngx_http_mim_client_finalize(client, 0,
                                     "cannot resolve host %V: %s (%i)",
                                     &client->host,
                                     ngx_resolver_strerror(state), state);
        return;
    }

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, client->log, 0,
                   "mim client %p: %ui addresses", client, ctx->naddrs);

    /* the addresses are the resolver's until ngx_resolve_name_done() */

    rc = NGX_DECLINED;

    for (i = 0; i < ctx->naddrs; i++) {
        switch (ngx_http_mim_client_add_addr(client, ctx->addrs[i].sockaddr,
                                             ctx->addrs[i].socklen))
        {
        case NGX_OK:
            rc = NGX_OK;
            break;

        case NGX_ERROR:
            ngx_resolve_name_done(ctx);
            ngx_http_mim_client_finalize(client, 0, "out of memory");
            return;

        default: /* NGX_DECLINED */
            break;
        }
    }

    ngx_resolve_name_done(ctx);

    if (rc != NGX_OK) {
        /* the error names the first address refused */
        ngx_http_mim_client_finalize(client, 0, "%V", &client->error);
        return;
    }

    ngx_http_mim_client_resolved(client);
}


/* allowed addresses are known: connect, or only say so (check_only) */
static void
ngx_http_mim_client_resolved(ngx_http_mim_client_t *client)
{
    if (client->check_only) {
        ngx_http_mim_client_finalize(client, NGX_HTTP_OK, "allowed");
        return;
    }

    ngx_http_mim_client_connect(client);
}


/*
 * Copy an address, with the URL's port, to the addresses to try if the
 * policy allows it; else set client->error (the first refusal) and
 * return NGX_DECLINED.
 */

static ngx_int_t
ngx_http_mim_client_add_addr(ngx_http_mim_client_t *client,
    struct sockaddr *sa, socklen_t socklen)
{
    u_char      *p;
    size_t       len;
    ngx_str_t    why;
    ngx_addr_t  *addr;
    u_char       text[NGX_SOCKADDR_STRLEN];

    if (ngx_http_mim_client_addr_allowed(&client->policy, sa, socklen, &why)
        != NGX_OK)
    {
        len = ngx_sock_ntop(sa, socklen, text, NGX_SOCKADDR_STRLEN, 0);

        ngx_log_debug3(NGX_LOG_DEBUG_HTTP, client->log, 0,
                       "mim client %p: %*s refused", client, len, text);

        if (client->error.len == 0) {
            p = ngx_snprintf(client->error_buf, NGX_HTTP_MIM_CLIENT_REASON_LEN,
                             "callback address %*s %V, not allowed "
                             "(mim_dsp_callback_allow)", len, text, &why);
            client->error.data = client->error_buf;
            client->error.len = p - client->error_buf;
        }

        return NGX_DECLINED;
    }

    addr = ngx_array_push(client->addrs);
    if (addr == NULL) {
        return NGX_ERROR;
    }

    addr->sockaddr = ngx_palloc(client->pool, socklen);
    if (addr->sockaddr == NULL) {
        return NGX_ERROR;
    }

    ngx_memcpy(addr->sockaddr, sa, socklen);
    addr->socklen = socklen;
    ngx_inet_set_port(addr->sockaddr, client->port);

    addr->name.data = ngx_pnalloc(client->pool, NGX_SOCKADDR_STRLEN);
    if (addr->name.data == NULL) {
        return NGX_ERROR;
    }

    addr->name.len = ngx_sock_ntop(addr->sockaddr, socklen, addr->name.data,
                                   NGX_SOCKADDR_STRLEN, 1);

    return NGX_OK;
}


/*
 * Connect to the next allowed address; an address that cannot be connected
 * to is followed by the next one, the last error is the reason.
 */

static void
ngx_http_mim_client_connect(ngx_http_mim_client_t *client)
{
    ngx_int_t               rc;
    ngx_err_t               err;
    ngx_addr_t             *addr;
    ngx_connection_t       *c;
    ngx_peer_connection_t  *pc;

    pc = &client->peer;

    while (client->next < client->addrs->nelts) {

        addr = (ngx_addr_t *) client->addrs->elts + client->next++;

        ngx_memzero(pc, sizeof(ngx_peer_connection_t));

        pc->sockaddr = addr->sockaddr;
        pc->socklen = addr->socklen;
        pc->name = &addr->name;
        pc->get = ngx_event_get_peer;
        pc->log = client->log;
        pc->log_error = NGX_ERROR_INFO;

        client->state = NGX_HTTP_MIM_CLIENT_CONNECTING;

        ngx_log_debug2(NGX_LOG_DEBUG_HTTP, client->log, 0,
                       "mim client %p: connect to %V", client, pc->name);

        rc = ngx_event_connect_peer(pc);

        if (rc == NGX_ERROR) {
            /* no socket, no free connection: nothing an address changes */
            ngx_http_mim_client_finalize(client, 0,
                                         "cannot connect to %V "
                                         "(see the error log)", pc->name);
            return;
        }

        if (rc == NGX_DECLINED) {
            /* connect() failed at once; nginx has closed the socket */
            err = ngx_socket_errno;
            ngx_http_mim_client_set_error(client, err, "connect() to");
            continue;
        }

        c = pc->connection;
        c->data = client;
        c->pool = client->pool;     /* ngx_ssl_create_connection() uses it */
        c->read->handler = ngx_http_mim_client_handler;
        c->write->handler = ngx_http_mim_client_handler;

        if (rc == NGX_AGAIN) {
            /* the write event tells when connect() is done */
            return;
        }

        ngx_http_mim_client_connected(client);
        return;
    }

    ngx_http_mim_client_finalize(client, 0, "%V", &client->error);
}


static void
ngx_http_mim_client_handler(ngx_event_t *ev)
{
    ngx_connection_t       *c;
    ngx_http_mim_client_t  *client;

    c = ev->data;
    client = c->data;

    ngx_log_debug3(NGX_LOG_DEBUG_HTTP, client->log, 0,
                   "mim client %p: %s event, state %ui",
                   client, ev->write ? "write" : "read", client->state);

    switch (client->state) {

    case NGX_HTTP_MIM_CLIENT_CONNECTING:
        /* epoll reports a failed connect() on both events */
        ngx_http_mim_client_connected(client);
        break;

    case NGX_HTTP_MIM_CLIENT_SENDING:
        if (ev->write) {
            ngx_http_mim_client_send(client);
        }

        break;

    case NGX_HTTP_MIM_CLIENT_READING:
        if (!ev->write) {
            ngx_http_mim_client_read(client);
        }

        break;

    default:
        break;
    }
}


static void
ngx_http_mim_client_connected(ngx_http_mim_client_t *client)
{
    int                err;
    socklen_t          len;
    ngx_connection_t  *c;

    c = client->peer.connection;

    err = 0;

#if (NGX_HAVE_KQUEUE)

    if (ngx_event_flags & NGX_USE_KQUEUE_EVENT) {
        if (c->write->pending_eof || c->read->pending_eof) {
            err = c->write->pending_eof ? c->write->kq_errno
                                        : c->read->kq_errno;
        }

    } else
#endif
    {
        len = sizeof(int);

        /*
         * BSDs and Linux return 0 and set a pending error in err,
         * Solaris returns -1 and sets errno
         */

        if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, (void *) &err, &len)
            == -1)
        {
            err = ngx_socket_errno;
        }
    }

    if (err) {
        ngx_http_mim_client_set_error(client, err, "connect() to");
        ngx_http_mim_client_close(client);
        ngx_http_mim_client_connect(client);
        return;
    }

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, client->log, 0,
                   "mim client %p: connected to %V",
                   client, client->peer.name);

    if (client->https) {
        ngx_http_mim_client_ssl_init_connection(client);
        return;
    }

    client->state = NGX_HTTP_MIM_CLIENT_SENDING;
    ngx_http_mim_client_send(client);
}


static void
ngx_http_mim_client_ssl_init_connection(ngx_http_mim_client_t *client)
{
    int                 ok;
    ngx_int_t           rc;
    ngx_connection_t   *c;
    X509_VERIFY_PARAM  *param;

    c = client->peer.connection;

    client->state = NGX_HTTP_MIM_CLIENT_HANDSHAKE;

    if (ngx_ssl_create_connection(client->ssl, c,
                                  NGX_SSL_BUFFER|NGX_SSL_CLIENT)
        != NGX_OK)
    {
        ngx_http_mim_client_finalize(client, 0,
                                     "cannot start TLS with %V "
                                     "(see the error log)", client->peer.name);
        return;
    }

    /*
     * The name (SNI) only for a host name, never for an IP address
     * (RFC 6066, section 3); the certificate must match the URL's host,
     * as a DNS name or an IP address, whichever the URL has: OpenSSL
     * checks it with the chain, into SSL_get_verify_result().
     */

    param = SSL_get0_param(c->ssl->connection);

    X509_VERIFY_PARAM_set_hostflags(param,
                                    X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);

    if (client->ip) {
        ok = X509_VERIFY_PARAM_set1_ip_asc(param,
                                           (char *) client->host.data);

    } else {
        ok = SSL_set_tlsext_host_name(c->ssl->connection,
                                      (char *) client->host.data)
             && X509_VERIFY_PARAM_set1_host(param,
                                            (char *) client->host.data,
                                            client->host.len);
    }

    if (!ok) {
        ERR_clear_error();
        ngx_http_mim_client_finalize(client, 0,
                                     "cannot start TLS with %V: "
                                     "cannot set the host name %V",
                                     client->peer.name, &client->host);
        return;
    }

    rc = ngx_ssl_handshake(c);

    if (rc == NGX_AGAIN) {
        c->ssl->handler = ngx_http_mim_client_ssl_handshake;
        return;
    }

    ngx_http_mim_client_ssl_handshake(c);
}


static void
ngx_http_mim_client_ssl_handshake(ngx_connection_t *c)
{
    long                    rc;
    X509                   *cert;
    ngx_http_mim_client_t  *client;

    client = c->data;

    if (!c->ssl->handshaked) {
        ngx_http_mim_client_finalize(client, 0,
                                     "TLS handshake with %V failed",
                                     client->peer.name);
        return;
    }

    /* without a certificate nothing was verified, yet X509_V_OK */

    cert = SSL_get_peer_certificate(c->ssl->connection);

    if (cert == NULL) {
        ngx_http_mim_client_finalize(client, 0,
                                     "%V sent no TLS certificate",
                                     client->peer.name);
        return;
    }

    X509_free(cert);

    rc = SSL_get_verify_result(c->ssl->connection);

    if (rc != X509_V_OK) {
        if (client->verify_error != X509_V_OK) {
            rc = client->verify_error;
        }

        ngx_http_mim_client_finalize(client, 0,
                                     "TLS certificate of %V (%V) "
                                     "not accepted: %s (%l)",
                                     &client->host, client->peer.name,
                                     X509_verify_cert_error_string(rc), rc);
        return;
    }

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, client->log, 0,
                   "mim client %p: TLS with %V verified",
                   client, &client->host);

    /* ngx_ssl_handshake() left its own handlers on the events */

    c->read->handler = ngx_http_mim_client_handler;
    c->write->handler = ngx_http_mim_client_handler;

    client->state = NGX_HTTP_MIM_CLIENT_SENDING;
    ngx_http_mim_client_send(client);
}


/*
 * The handshake goes on whatever the verdict (see
 * ngx_http_mim_client_ssl_init()); the first error is kept for done()'s
 * reason: SSL_get_verify_result() has the last one, and for a chain that is
 * not trusted and not for the host either that would be "hostname mismatch".
 */

static int
ngx_http_mim_client_verify_callback(int ok, X509_STORE_CTX *x509_store)
{
    ngx_ssl_conn_t         *ssl_conn;
    ngx_connection_t       *c;
    ngx_http_mim_client_t  *client;

    if (ok) {
        return 1;
    }

    ssl_conn = X509_STORE_CTX_get_ex_data(x509_store,
                                          SSL_get_ex_data_X509_STORE_CTX_idx());
    if (ssl_conn == NULL) {
        return 1;
    }

    c = ngx_ssl_get_connection(ssl_conn);

    if (c == NULL || c->data == NULL) {
        return 1;
    }

    client = c->data;

    if (client->verify_error == X509_V_OK) {
        client->verify_error = X509_STORE_CTX_get_error(x509_store);
    }

    return 1;
}


static void
ngx_http_mim_client_send(ngx_http_mim_client_t *client)
{
    ssize_t            n;
    ngx_buf_t         *b;
    ngx_connection_t  *c;

    c = client->peer.connection;
    b = client->request;

    while (b->pos < b->last) {

        n = c->send(c, b->pos, b->last - b->pos);

        ngx_log_debug2(NGX_LOG_DEBUG_HTTP, client->log, 0,
                       "mim client %p: sent %z", client, n);

        if (n == NGX_AGAIN) {
            if (ngx_handle_write_event(c->write, 0) != NGX_OK) {
                ngx_http_mim_client_finalize(client, 0,
                                             "sending to %V failed",
                                             client->peer.name);
            }

            return;
        }

        if (n == NGX_ERROR || n == 0) {
            ngx_http_mim_client_finalize(client, 0, "sending to %V failed",
                                         client->peer.name);
            return;
        }

        b->pos += n;
    }

    /* level-triggered events: no more write events wanted */

    if (ngx_handle_write_event(c->write, 0) != NGX_OK) {
        ngx_http_mim_client_finalize(client, 0, "sending to %V failed",
                                     client->peer.name);
        return;
    }

    client->state = NGX_HTTP_MIM_CLIENT_READING;
    ngx_http_mim_client_read(client);
}


static void
ngx_http_mim_client_read(ngx_http_mim_client_t *client)
{
    ssize_t            n;
    ngx_int_t          rc;
    ngx_buf_t         *b;
    ngx_connection_t  *c;

    c = client->peer.connection;
    b = client->answer;
    n = 0;

    for ( ;; ) {

        if (b->last == b->end) {
            /* a header too long: its status line is all that matters */
            goto eof;
        }

        n = c->recv(c, b->last, b->end - b->last);

        ngx_log_debug2(NGX_LOG_DEBUG_HTTP, client->log, 0,
                       "mim client %p: recv %z", client, n);

        if (n == NGX_AGAIN) {
            if (ngx_handle_read_event(c->read, 0) != NGX_OK) {
                ngx_http_mim_client_finalize(client, 0,
                                             "reading from %V failed",
                                             client->peer.name);
            }

            return;
        }

        if (n == NGX_ERROR || n == 0) {
            goto eof;
        }

        b->last += n;

        rc = ngx_http_mim_client_parse_answer(client);

        if (rc == NGX_OK) {
            ngx_http_mim_client_finalize(client, client->status,
                                         "answered %ui", client->status);
            return;
        }

        if (rc == NGX_ERROR) {
            ngx_http_mim_client_finalize(client, 0, "malformed answer from %V",
                                         client->peer.name);
            return;
        }
    }

eof:

    /* the end of the connection (or of the buffer) before a header's end */

    if (client->status) {
        ngx_http_mim_client_finalize(client, client->status, "answered %ui",
                                     client->status);
        return;
    }

    if (b->last == b->start && (n == 0 || n == NGX_ERROR)) {
        ngx_http_mim_client_finalize(client, 0, "%V closed the connection "
                                     "without an answer", client->peer.name);
        return;
    }

    ngx_http_mim_client_finalize(client, 0, "malformed answer from %V",
                                 client->peer.name);
}


/*
 * Parse what has been read from b->pos: NGX_OK once a final status line
 * and the empty line ending its header are there (client->status), NGX_AGAIN
 * for more, NGX_ERROR if it is not an HTTP/1.x answer.  Interim (1xx)
 * answers are skipped; b->pos is moved past what has been parsed.
 */

static ngx_int_t
ngx_http_mim_client_parse_answer(ngx_http_mim_client_t *client)
{
    u_char     *p, *lf;
    size_t      len;
    ngx_buf_t  *b;
    ngx_uint_t  status;

    b = client->answer;

    for ( ;; ) {

        if (client->status == 0) {

            /* "HTTP/1.x NNN" and then a space or the end of the line */

            len = ngx_min((size_t) (b->last - b->pos), sizeof("HTTP/1.") - 1);

            if (ngx_strncmp(b->pos, "HTTP/1.", len) != 0) {
                return NGX_ERROR;
            }

            lf = ngx_strlchr(b->pos, b->last, LF);

            if (lf == NULL) {
                return NGX_AGAIN;
            }

            p = b->pos;

            if (lf - p < 12
                || p[7] < '0' || p[7] > '9' || p[8] != ' '
                || p[9] < '1' || p[9] > '5'
                || p[10] < '0' || p[10] > '9'
                || p[11] < '0' || p[11] > '9'
                || (p[12] != ' ' && p[12] != CR && p[12] != LF))
            {
                return NGX_ERROR;
            }

            status = (p[9] - '0') * 100 + (p[10] - '0') * 10 + (p[11] - '0');

            ngx_log_debug2(NGX_LOG_DEBUG_HTTP, client->log, 0,
                           "mim client %p: status %ui", client, status);

            client->status = status;
            b->pos = lf + 1;
        }

        /* header lines, up to an empty one */

        for ( ;; ) {
            lf = ngx_strlchr(b->pos, b->last, LF);

            if (lf == NULL) {
                return NGX_AGAIN;
            }

            p = b->pos;
            b->pos = lf + 1;

            if (lf == p || (lf == p + 1 && *p == CR)) {
                break;
            }
        }

        /* 101 switches protocols: a final answer of its own */

        if (client->status >= 200 || client->status == 101) {
            return NGX_OK;
        }

        /* an interim answer: make room for the final one */

        client->status = 0;

        len = b->last - b->pos;
        ngx_memmove(b->start, b->pos, len);
        b->pos = b->start;
        b->last = b->start + len;

        if (len == 0) {
            return NGX_AGAIN;
        }
    }
}


static void
ngx_http_mim_client_timeout_handler(ngx_event_t *ev)
{
    ngx_http_mim_client_t  *client;

    client = ev->data;

    switch (client->state) {

    case NGX_HTTP_MIM_CLIENT_START:
        ngx_http_mim_client_finalize(client, 0,
                                     "timed out after %M ms before starting",
                                     client->timeout);
        break;

    case NGX_HTTP_MIM_CLIENT_RESOLVING:
        ngx_http_mim_client_finalize(client, 0,
                                     "timed out after %M ms while resolving "
                                     "host %V", client->timeout,
                                     &client->host);
        break;

    default:
        ngx_http_mim_client_finalize(client, 0,
                                     "timed out after %M ms while %s %V",
                                     client->timeout,
                                     ngx_http_mim_client_doing[client->state],
                                     client->peer.name);
    }
}


/* the end: release everything, call done(), free the pool */

static void
ngx_http_mim_client_finalize(ngx_http_mim_client_t *client, ngx_uint_t status,
    const char *fmt, ...)
{
    u_char     *p;
    va_list     args;
    ngx_str_t   reason;

    va_start(args, fmt);
    p = ngx_vslprintf(client->reason,
                      client->reason + NGX_HTTP_MIM_CLIENT_REASON_LEN,
                      fmt, args);
    va_end(args);

    reason.data = client->reason;
    reason.len = p - client->reason;

    ngx_log_debug3(NGX_LOG_DEBUG_HTTP, client->log, 0,
                   "mim client %p: done, %ui \"%V\"", client, status, &reason);

    /* the connection goes first: done() may well start another POST */

    ngx_http_mim_client_release(client);

    client->in_done = 1;
    client->done(client->data, status, &reason);

    ngx_destroy_pool(client->pool);
}


static void
ngx_http_mim_client_release(ngx_http_mim_client_t *client)
{
    if (client->ctx) {
        ngx_resolve_name_done(client->ctx);
        client->ctx = NULL;
    }

    if (client->peer.connection) {
        ngx_http_mim_client_close(client);
    }

    if (client->timer.timer_set) {
        ngx_del_timer(&client->timer);
    }

    if (client->start.posted) {
        ngx_delete_posted_event(&client->start);
    }
}


static void
ngx_http_mim_client_close(ngx_http_mim_client_t *client)
{
    ngx_connection_t  *c;

    c = client->peer.connection;
    client->peer.connection = NULL;

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, client->log, 0,
                   "mim client %p: close connection to %V",
                   client, client->peer.name);

    if (c->ssl) {

        /*
         * A close_notify, without waiting for the peer's.  If even that
         * cannot be sent now, a quiet shutdown: c->ssl is in the client's
         * pool, it cannot outlive the client in a shutdown handler.
         */

        c->ssl->no_wait_shutdown = 1;

        if (ngx_ssl_shutdown(c) == NGX_AGAIN) {
            c->error = 1;
            (void) ngx_ssl_shutdown(c);
        }
    }

    ngx_close_connection(c);
}


static void
ngx_http_mim_client_set_error(ngx_http_mim_client_t *client, ngx_err_t err,
    const char *what)
{
    u_char  *p, *last;

    p = client->error_buf;
    last = p + NGX_HTTP_MIM_CLIENT_REASON_LEN;

    p = ngx_slprintf(p, last, "%s %V failed", what, client->peer.name);

    if (err) {
        p = ngx_slprintf(p, last, " (%d: ", err);
        p = ngx_strerror(err, p, last - p);
        p = ngx_slprintf(p, last, ")");
    }

    client->error.data = client->error_buf;
    client->error.len = p - client->error_buf;

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, client->log, 0,
                   "mim client %p: %V", client, &client->error);
}
