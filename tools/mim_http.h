/*
 * mim_http.h - a small libcurl wrapper for the `mim` tool.
 *
 * One request, one answer held in memory: the status, every header and
 * trailer field, and the body bytes exactly as sent - no content decoding,
 * since a response signature covers the bytes on the wire (a gzip body is
 * verified compressed).  Redirects are not followed: a signed 302 is an
 * answer to verify like any other.
 */
#ifndef MIM_HTTP_H
#define MIM_HTTP_H

#include <stddef.h>
#include <stdint.h>

#include "mim_http_headers.h"
#include "mim_result.h"

#define MIM_HTTP_BODY_MAX     (1024UL * 1024 * 1024)   /* 1 GiB */
#define MIM_HTTP_HEADER_MAX   (4UL * 1024 * 1024)      /* all header lines */

typedef enum {
    MIM_HTTP_1_1 = 0,
    MIM_HTTP_2,                 /* HTTP/2 over TLS (ALPN), else 1.1 */
    MIM_HTTP_2_PRIOR_KNOWLEDGE  /* HTTP/2 without upgrade, also on http: */
} mim_http_version_t;

/* TLS and transport settings, shared by every request of one command */
typedef struct {
    const char          *tls_ca;        /* PEM CA file, NULL: system */
    int                  insecure;      /* no certificate checks */
    mim_http_version_t   version;
    long                 timeout;       /* seconds, whole transfer */
} mim_http_options_t;

typedef struct {
    const char          *method;        /* NULL: GET */
    const char          *url;
    const char *const   *headers;       /* "Name: value" lines */
    size_t               n_headers;
    int                  compressed;    /* send Accept-Encoding: gzip */
    size_t               max_body;      /* 0: MIM_HTTP_BODY_MAX */
} mim_http_request_t;

typedef struct {
    int                  status;
    char                *header_block;  /* as `curl -D` writes it */
    size_t               header_len;
    mim_http_headers_t   headers;       /* parsed from header_block */
    uint8_t             *body;          /* raw bytes, NUL appended */
    size_t               body_len;
    char                *url;           /* the URL requested (effective) */
    char                 http_version[16];  /* "HTTP/1.1", "HTTP/2" */
} mim_http_response_t;

/*
 * Send the request; on success resp holds the final answer (free it with
 * mim_http_response_free).  An HTTP error status is a success here: the
 * caller decides.  MIM_ERR_IO with curl's reason when there is no answer.
 */
mim_result_t mim_http_fetch(const mim_http_options_t *opts,
    const mim_http_request_t *req, mim_http_response_t *resp);

void mim_http_response_free(mim_http_response_t *resp);

/*
 * The URL a request for url goes to, the way a signer sees it:
 * scheme://host[:port]/path[?query], without user info and fragment, with
 * "/" for an empty path and dot segments removed (as libcurl sends it).
 * host, when not NULL, replaces host[:port] (a Host header given with -H).
 * *out is malloc()ed.
 */
mim_result_t mim_http_request_url(const char *url, const char *host,
    char **out);

/* 1 if url starts with http:// or https:// (any case) */
int mim_http_is_url(const char *s);

#endif /* MIM_HTTP_H */
