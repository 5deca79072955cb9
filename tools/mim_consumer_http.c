/*
 * mim_consumer_http.c - the consumer's HTTP requests.
 *
 * mim_http_fetch() sends requests without a body (the verifier only
 * GETs); DSP messages and token requests are POSTed, so this file drives
 * libcurl itself, with the same transport rules (http and https only, no
 * redirects, no content decoding, --ca as CAINFO, one timeout) and hands
 * back the same mim_http_response_t.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <curl/curl.h>

#include "mim_consumer.h"

#define MIM_HEADER_MAX  (256UL * 1024)

typedef struct {
    char    *data;
    size_t   len;
    size_t   cap;
    size_t   max;
    int      over;
} mim_chunk_t;

static size_t
mim_consumer_collect(char *p, size_t size, size_t n, void *ctx)
{
    mim_chunk_t  *b = ctx;
    size_t        len = size * n, cap;
    char         *grown;

    if (len > b->max - b->len) {
        b->over = 1;
        return 0;
    }

    if (b->len + len + 1 > b->cap) {
        cap = b->cap ? b->cap : 4096;
        while (cap < b->len + len + 1) {
            cap *= 2;
        }

        grown = realloc(b->data, cap);
        if (grown == NULL) {
            return 0;
        }

        b->data = grown;
        b->cap = cap;
    }

    memcpy(b->data + b->len, p, len);
    b->len += len;
    b->data[b->len] = '\0';
    return len;
}

static mim_result_t
mim_consumer_headers(const char *bearer, const char *content_type,
    const char *const *extra, size_t n_extra, struct curl_slist **list)
{
    struct curl_slist  *l = NULL, *grown;
    char               *line;
    size_t              i;

    l = curl_slist_append(l, "Accept: application/json, */*;q=0.5");

    /* no "Expect: 100-continue": small bodies, simple peers */
    grown = l ? curl_slist_append(l, "Expect:") : NULL;
    l = grown ? grown : (curl_slist_free_all(l), NULL);

    if (l != NULL && content_type != NULL) {
        line = mim_sprintf("Content-Type: %s", content_type);
        grown = line ? curl_slist_append(l, line) : NULL;
        free(line);
        l = grown ? grown : (curl_slist_free_all(l), NULL);
    }

    if (l != NULL && bearer != NULL) {
        line = mim_sprintf("Authorization: Bearer %s", bearer);
        grown = line ? curl_slist_append(l, line) : NULL;
        free(line);
        l = grown ? grown : (curl_slist_free_all(l), NULL);
    }

    for (i = 0; l != NULL && i < n_extra; i++) {
        if (strpbrk(extra[i], "\r\n") != NULL) {
            curl_slist_free_all(l);
            return mim_result_err(MIM_ERR_INVALID, "a header contains a "
                                  "line break");
        }

        grown = curl_slist_append(l, extra[i]);
        l = grown ? grown : (curl_slist_free_all(l), NULL);
    }

    if (l == NULL) {
        return mim_result_err(MIM_ERR_NOMEM, "out of memory");
    }

    *list = l;
    return mim_result_ok();
}

static void
mim_consumer_transport(CURL *curl, const mim_http_options_t *opts)
{
    curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(curl, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(curl, CURLOPT_HTTP_CONTENT_DECODING, 0L);
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(curl, CURLOPT_USERAGENT, "mim-consumer/" MIM_VERSION);
    curl_easy_setopt(curl, CURLOPT_HTTP_VERSION, CURL_HTTP_VERSION_1_1);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT,
                     opts->timeout > 0 ? opts->timeout : 30L);

    if (opts->tls_ca != NULL) {
        curl_easy_setopt(curl, CURLOPT_CAINFO, opts->tls_ca);
    }
}

/* after the transfer: the header block parsed, status and URL kept */
static mim_result_t
mim_consumer_answer(CURL *curl, mim_chunk_t *head, mim_chunk_t *body,
    mim_http_response_t *resp)
{
    mim_result_t   rc;
    char          *url = NULL;
    long           status = 0;

    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_getinfo(curl, CURLINFO_EFFECTIVE_URL, &url);

    if (body->data == NULL) {
        body->data = calloc(1, 1);
    }

    resp->url = strdup(url ? url : "");
    if (body->data == NULL || resp->url == NULL || head->data == NULL) {
        return mim_result_err(MIM_ERR_NOMEM, "out of memory");
    }

    resp->header_block = head->data;
    resp->header_len = head->len;
    resp->body = (uint8_t *) body->data;
    resp->body_len = body->len;
    head->data = NULL;
    body->data = NULL;
    resp->status = (int) status;
    snprintf(resp->http_version, sizeof(resp->http_version), "HTTP/1.1");

    rc = mim_http_headers_parse(&resp->headers, resp->header_block,
                                resp->header_len);
    if (!mim_ok(rc)) {
        return mim_result_err(rc.code, "cannot parse the response header: "
                              "%s", rc.msg);
    }

    return mim_result_ok();
}

mim_result_t
mim_consumer_http(const mim_http_options_t *opts, const char *method,
    const char *url, const char *bearer, const char *content_type,
    const char *body, size_t body_len, const char *const *extra,
    size_t n_extra, size_t max_body, mim_http_response_t *resp)
{
    struct curl_slist  *list = NULL;
    mim_chunk_t         head = { NULL, 0, 0, MIM_HEADER_MAX, 0 };
    mim_chunk_t         got = { NULL, 0, 0, 0, 0 };
    mim_result_t        rc;
    CURLcode            code;
    CURL               *curl;
    char                errbuf[CURL_ERROR_SIZE];

    memset(resp, 0, sizeof(*resp));
    got.max = max_body ? max_body : MIM_HTTP_BODY_MAX;

    if (!mim_http_is_url(url)) {
        return mim_result_err(MIM_ERR_INVALID, "not an http(s) URL: %.200s",
                              url);
    }

    rc = mim_consumer_headers(bearer, content_type, extra, n_extra, &list);
    if (!mim_ok(rc)) {
        return rc;
    }

    curl = curl_easy_init();
    if (curl == NULL) {
        curl_slist_free_all(list);
        return mim_result_err(MIM_ERR_NOMEM, "libcurl init failed");
    }

    mim_consumer_transport(curl, opts);
    curl_easy_setopt(curl, CURLOPT_URL, url);
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, list);
    curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, mim_consumer_collect);
    curl_easy_setopt(curl, CURLOPT_HEADERDATA, &head);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, mim_consumer_collect);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, &got);

    if (body != NULL) {
        curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE,
                         (curl_off_t) body_len);
    }

    if (strcmp(method, "POST") != 0 || body == NULL) {
        curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, method);
    }

    errbuf[0] = '\0';
    curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, errbuf);
    code = curl_easy_perform(curl);
    curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, NULL);

    if (code != CURLE_OK) {
        rc = got.over ? mim_result_err(MIM_ERR_LIMIT, "the answer of %.200s "
                                       "is larger than %zu bytes", url,
                                       got.max)
           : head.over ? mim_result_err(MIM_ERR_LIMIT, "the header of the "
                                        "answer is too large")
           : mim_result_err(MIM_ERR_IO, "%s %.200s: %s", method, url,
                            errbuf[0] ? errbuf : curl_easy_strerror(code));
    } else {
        rc = mim_consumer_answer(curl, &head, &got, resp);
    }

    free(head.data);
    free(got.data);
    curl_slist_free_all(list);
    curl_easy_cleanup(curl);

    if (!mim_ok(rc)) {
        mim_http_response_free(resp);
    }

    return rc;
}

void
mim_consumer_media_type(const mim_http_response_t *resp, char *out,
    size_t len)
{
    const mim_http_field_t  *f;
    size_t                   n;

    out[0] = '\0';
    f = mim_http_headers_next(&resp->headers, NULL, "Content-Type",
                              MIM_HTTP_HEADER);
    if (f == NULL || len == 0) {
        return;
    }

    for (n = 0; n < f->value_len && f->value[n] != ';'
                && f->value[n] != ' ' && n + 1 < len; n++)
    {
        out[n] = f->value[n];
    }

    out[n] = '\0';
}
