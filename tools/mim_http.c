/*
 * mim_http.c - a small libcurl wrapper for the `mim` tool (see mim_http.h).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <curl/curl.h>

#include "mim_http.h"

/* a growing byte buffer with a hard cap */
typedef struct {
    uint8_t  *data;
    size_t    len;
    size_t    cap;
    size_t    max;
    int       over;         /* an append would have passed max */
    int       failed;       /* out of memory */
} mim_buf_t;

/* always keeps room for a NUL after the data */
static int
mim_buf_append(mim_buf_t *b, const void *p, size_t n)
{
    uint8_t  *grown;
    size_t    cap;

    if (n > b->max - b->len) {
        b->over = 1;
        return -1;
    }

    if (b->len + n + 1 > b->cap) {
        cap = b->cap ? b->cap : 16384;

        while (cap < b->len + n + 1) {
            cap *= 2;
        }

        grown = realloc(b->data, cap);
        if (grown == NULL) {
            b->failed = 1;
            return -1;
        }

        b->data = grown;
        b->cap = cap;
    }

    memcpy(b->data + b->len, p, n);
    b->len += n;
    b->data[b->len] = '\0';
    return 0;
}

/*
 * libcurl hands every header line here, trailer fields included (after
 * the body), just as `curl -D` writes them: keep them all, the header
 * parser sorts out blocks and trailers.
 */
static size_t
mim_http_on_header(char *data, size_t size, size_t nitems, void *ctx)
{
    size_t  n = size * nitems;

    return mim_buf_append(ctx, data, n) == 0 ? n : 0;
}

static size_t
mim_http_on_body(char *data, size_t size, size_t nmemb, void *ctx)
{
    size_t  n = size * nmemb;

    return mim_buf_append(ctx, data, n) == 0 ? n : 0;
}

static mim_result_t
mim_http_set_version(CURL *curl, mim_http_version_t version)
{
    curl_version_info_data  *info;
    long                     v;

    if (version == MIM_HTTP_1_1) {
        /* libcurl would pick HTTP/2 over TLS by itself: be predictable */
        curl_easy_setopt(curl, CURLOPT_HTTP_VERSION, CURL_HTTP_VERSION_1_1);
        return mim_result_ok();
    }

    info = curl_version_info(CURLVERSION_NOW);
    if (!(info->features & CURL_VERSION_HTTP2)) {
        return mim_result_err(MIM_ERR_UNSUPPORTED,
                              "this libcurl has no HTTP/2 support");
    }

    v = (version == MIM_HTTP_2) ? CURL_HTTP_VERSION_2TLS
                                : CURL_HTTP_VERSION_2_PRIOR_KNOWLEDGE;
    curl_easy_setopt(curl, CURLOPT_HTTP_VERSION, v);
    return mim_result_ok();
}

static int
mim_http_has_header(const mim_http_request_t *req, const char *name)
{
    size_t  i, n = strlen(name);

    for (i = 0; i < req->n_headers; i++) {
        if (strncasecmp(req->headers[i], name, n) == 0
            && req->headers[i][n] == ':')
        {
            return 1;
        }
    }

    return 0;
}

static mim_result_t
mim_http_header_list(const mim_http_request_t *req, struct curl_slist **list)
{
    struct curl_slist  *grown;
    size_t              i;

    *list = NULL;

    for (i = 0; i < req->n_headers; i++) {
        if (strpbrk(req->headers[i], "\r\n") != NULL) {
            curl_slist_free_all(*list);
            return mim_result_err(MIM_ERR_INVALID,
                                  "header %zu contains a line break", i + 1);
        }

        grown = curl_slist_append(*list, req->headers[i]);
        if (grown == NULL) {
            goto nomem;
        }

        *list = grown;
    }

    /* asked for by name, not CURLOPT_ACCEPT_ENCODING: no decoding */
    if (req->compressed && !mim_http_has_header(req, "Accept-Encoding")) {
        grown = curl_slist_append(*list, "Accept-Encoding: gzip");
        if (grown == NULL) {
            goto nomem;
        }

        *list = grown;
    }

    return mim_result_ok();

nomem:

    curl_slist_free_all(*list);
    *list = NULL;
    return mim_result_err(MIM_ERR_NOMEM, "out of memory");
}

static void
mim_http_set_method(CURL *curl, const char *method)
{
    if (method == NULL || strcmp(method, "GET") == 0) {
        curl_easy_setopt(curl, CURLOPT_HTTPGET, 1L);

    } else if (strcmp(method, "HEAD") == 0) {
        /* a HEAD answer has no body to wait for */
        curl_easy_setopt(curl, CURLOPT_NOBODY, 1L);

    } else {
        curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, method);
    }
}

static void
mim_http_set_transport(CURL *curl, const mim_http_options_t *opts)
{
    curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(curl, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(curl, CURLOPT_HTTP_CONTENT_DECODING, 0L);
    curl_easy_setopt(curl, CURLOPT_SUPPRESS_CONNECT_HEADERS, 1L);
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(curl, CURLOPT_USERAGENT, "mim/0.1");
    curl_easy_setopt(curl, CURLOPT_TIMEOUT,
                     opts->timeout > 0 ? opts->timeout : 30L);

    if (opts->tls_ca != NULL) {
        curl_easy_setopt(curl, CURLOPT_CAINFO, opts->tls_ca);
    }

    if (opts->insecure) {
        curl_easy_setopt(curl, CURLOPT_SSL_VERIFYPEER, 0L);
        curl_easy_setopt(curl, CURLOPT_SSL_VERIFYHOST, 0L);
    }
}

static void
mim_http_version_name(CURL *curl, char *dst, size_t cap)
{
    long  v = 0;

    curl_easy_getinfo(curl, CURLINFO_HTTP_VERSION, &v);

    snprintf(dst, cap, "%s",
             v == CURL_HTTP_VERSION_1_0 ? "HTTP/1.0"
             : v == CURL_HTTP_VERSION_1_1 ? "HTTP/1.1"
             : v == CURL_HTTP_VERSION_2_0 ? "HTTP/2"
             : v == CURL_HTTP_VERSION_3 ? "HTTP/3" : "HTTP");
}

/* after a transfer: keep the URL, parse the header block */
static mim_result_t
mim_http_collect(CURL *curl, mim_http_response_t *resp)
{
    mim_result_t   rc;
    char          *url = NULL;
    long           status = 0;

    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_getinfo(curl, CURLINFO_EFFECTIVE_URL, &url);
    mim_http_version_name(curl, resp->http_version,
                          sizeof(resp->http_version));

    resp->url = strdup(url ? url : "");
    if (resp->url == NULL) {
        return mim_result_err(MIM_ERR_NOMEM, "out of memory");
    }

    rc = mim_http_headers_parse(&resp->headers, resp->header_block,
                                resp->header_len);
    if (!mim_ok(rc)) {
        return mim_result_err(rc.code, "cannot parse the response "
                              "header: %s", rc.msg);
    }

    if (resp->headers.status != status) {
        return mim_result_err(MIM_ERR_INVALID, "status %d in the header "
                              "block, libcurl says %ld",
                              resp->headers.status, status);
    }

    resp->status = (int) status;
    return mim_result_ok();
}

static mim_result_t
mim_http_perform(CURL *curl, mim_buf_t *head, mim_buf_t *body)
{
    char      errbuf[CURL_ERROR_SIZE];
    CURLcode  code;

    errbuf[0] = '\0';
    curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, errbuf);

    code = curl_easy_perform(curl);

    /* errbuf lives on this stack frame only */
    curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, NULL);

    if (code == CURLE_OK) {
        return mim_result_ok();
    }

    if (body->over) {
        return mim_result_err(MIM_ERR_LIMIT, "body larger than %zu bytes",
                              body->max);
    }

    if (head->over) {
        return mim_result_err(MIM_ERR_LIMIT, "header larger than %zu bytes",
                              head->max);
    }

    if (head->failed || body->failed) {
        return mim_result_err(MIM_ERR_NOMEM, "out of memory");
    }

    return mim_result_err(MIM_ERR_IO, "%s",
                          errbuf[0] ? errbuf : curl_easy_strerror(code));
}

mim_result_t
mim_http_fetch(const mim_http_options_t *opts, const mim_http_request_t *req,
    mim_http_response_t *resp)
{
    static int          initialized;
    struct curl_slist  *list = NULL;
    mim_result_t        rc;
    mim_buf_t           head = { NULL, 0, 0, MIM_HTTP_HEADER_MAX, 0, 0 };
    mim_buf_t           body = { NULL, 0, 0, MIM_HTTP_BODY_MAX, 0, 0 };
    CURL               *curl;

    memset(resp, 0, sizeof(*resp));

    if (req->max_body > 0) {
        body.max = req->max_body;
    }

    if (!initialized) {
        if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
            return mim_result_err(MIM_ERR_IO, "libcurl init failed");
        }

        initialized = 1;
    }

    curl = curl_easy_init();
    if (curl == NULL) {
        return mim_result_err(MIM_ERR_NOMEM, "libcurl init failed");
    }

    rc = mim_http_set_version(curl, opts->version);
    if (!mim_ok(rc)) {
        goto done;
    }

    rc = mim_http_header_list(req, &list);
    if (!mim_ok(rc)) {
        goto done;
    }

    mim_http_set_transport(curl, opts);
    mim_http_set_method(curl, req->method);
    curl_easy_setopt(curl, CURLOPT_URL, req->url);
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, list);
    curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, mim_http_on_header);
    curl_easy_setopt(curl, CURLOPT_HEADERDATA, &head);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, mim_http_on_body);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, &body);

    rc = mim_http_perform(curl, &head, &body);
    if (!mim_ok(rc)) {
        goto done;
    }

    /* an empty body still gets a buffer: callers may use it as a string */
    if (body.data == NULL && mim_buf_append(&body, "", 0) != 0) {
        rc = mim_result_err(MIM_ERR_NOMEM, "out of memory");
        goto done;
    }

    resp->header_block = (char *) head.data;
    resp->header_len = head.len;
    resp->body = body.data;
    resp->body_len = body.len;
    head.data = NULL;
    body.data = NULL;

    rc = mim_http_collect(curl, resp);

done:

    free(head.data);
    free(body.data);
    curl_slist_free_all(list);
    curl_easy_cleanup(curl);

    if (!mim_ok(rc)) {
        mim_http_response_free(resp);
    }

    return rc;
}

void
mim_http_response_free(mim_http_response_t *resp)
{
    mim_http_headers_free(&resp->headers);
    free(resp->header_block);
    free(resp->body);
    free(resp->url);
    memset(resp, 0, sizeof(*resp));
}

int
mim_http_is_url(const char *s)
{
    return strncasecmp(s, "http://", 7) == 0
           || strncasecmp(s, "https://", 8) == 0;
}

static mim_result_t
mim_url_part(CURLU *u, CURLUPart what, char **part, int optional)
{
    CURLUcode  code;

    *part = NULL;
    code = curl_url_get(u, what, part, 0);

    if (code == CURLUE_OK
        || (optional && (code == CURLUE_NO_PORT || code == CURLUE_NO_QUERY)))
    {
        return mim_result_ok();
    }

    return mim_result_err(MIM_ERR_INVALID, "%s", curl_url_strerror(code));
}

mim_result_t
mim_http_request_url(const char *url, const char *host, char **out)
{
    mim_result_t   rc;
    CURLUcode      code;
    CURLU         *u;
    char          *scheme = NULL, *hostname = NULL, *port = NULL;
    char          *path = NULL, *query = NULL;
    size_t         len;

    *out = NULL;

    if (!mim_http_is_url(url)) {
        return mim_result_err(MIM_ERR_INVALID,
                              "not an http:// or https:// URL: %s", url);
    }

    u = curl_url();
    if (u == NULL) {
        return mim_result_err(MIM_ERR_NOMEM, "out of memory");
    }

    code = curl_url_set(u, CURLUPART_URL, url, 0);
    if (code != CURLUE_OK) {
        rc = mim_result_err(MIM_ERR_INVALID, "bad URL %s: %s", url,
                            curl_url_strerror(code));
        goto done;
    }

    rc = mim_url_part(u, CURLUPART_SCHEME, &scheme, 0);
    if (mim_ok(rc)) {
        rc = mim_url_part(u, CURLUPART_HOST, &hostname, 0);
    }
    if (mim_ok(rc)) {
        rc = mim_url_part(u, CURLUPART_PORT, &port, 1);
    }
    if (mim_ok(rc)) {
        rc = mim_url_part(u, CURLUPART_PATH, &path, 0);
    }
    if (mim_ok(rc)) {
        rc = mim_url_part(u, CURLUPART_QUERY, &query, 1);
    }
    if (!mim_ok(rc)) {
        rc = mim_result_err(rc.code, "bad URL %s: %s", url, rc.msg);
        goto done;
    }

    len = strlen(scheme) + 3 + strlen(host ? host : hostname) + 1
          + (port ? strlen(port) : 0) + strlen(path) + 1
          + (query ? strlen(query) : 0) + 1;

    *out = malloc(len);
    if (*out == NULL) {
        rc = mim_result_err(MIM_ERR_NOMEM, "out of memory");
        goto done;
    }

    snprintf(*out, len, "%s://%s%s%s%s%s%s", scheme,
             host ? host : hostname,
             (!host && port) ? ":" : "", (!host && port) ? port : "",
             path[0] == '/' ? path : "/",
             query ? "?" : "", query ? query : "");

done:

    curl_free(scheme);
    curl_free(hostname);
    curl_free(port);
    curl_free(path);
    curl_free(query);
    curl_url_cleanup(u);
    return rc;
}
