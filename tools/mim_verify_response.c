/*
 * mim_verify_response.c - `mim verify-response`: check that an HTTP answer
 * was signed by the gateway (docs/signing.md) and answers the request made.
 *
 * The answer is fetched (URL argument) or read from files saved by curl
 * (--headers, --body).  The checks, each fatal with one precise reason:
 *
 *   1. X-JWS-Signature and Content-Digest are there (headers or trailers);
 *   2. Content-Digest is the SHA-256 of the raw body bytes;
 *   3. the detached JWS verifies with the chosen key source;
 *   4. htm, htu and status bind it to this request and this answer;
 *   5. iat is recent enough (--max-age).
 *
 * Exit 0: verified; 1: a check failed; 2: usage, or nothing to check (the
 * answer or the keys could not be fetched or read).
 */
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <jansson.h>

#include "mim.h"
#include "mim_http.h"
#include "mim_http_headers.h"
#include "mim_jws.h"
#include "mim_key.h"

#define MIM_CMD               "verify-response"
#define MIM_SIG_FIELD         "X-JWS-Signature"
#define MIM_DIGEST_FIELD      "Content-Digest"
#define MIM_JWKS_PATH         "/.well-known/jwks.json"
#define MIM_HEADERS_FILE_MAX  (16UL * 1024 * 1024)
#define MIM_MAX_HEADERS       64
#define MIM_IAT_FUTURE_SKEW   60        /* seconds a clock may be ahead */

#define mim_vr_usage_error(...)  mim_usage_error(MIM_CMD, __VA_ARGS__)

typedef struct {
    /* what to check: a URL to fetch, or a saved answer */
    const char          *url;
    const char          *headers_file;
    const char          *body_file;
    const char          *saved_url;
    const char          *method;
    const char          *headers[MIM_MAX_HEADERS];
    size_t               n_headers;
    int                  compressed;

    /* key source: at most one */
    const char          *jwks;
    const char          *key;
    const char          *ca;

    mim_http_options_t   http;
    long                 max_age;       /* -1: no limit */
    int                  json;
    int                  quiet;
} mim_vr_args_t;

/* the answer to check, however it was obtained */
typedef struct {
    const char                *method;
    char                      *url;         /* what htu must equal */
    int                        status;
    const mim_http_headers_t  *fields;
    const uint8_t             *body;
    size_t                     body_len;
    const char                *http_version;  /* NULL for saved answers */

    mim_http_response_t        fetched;
    mim_http_headers_t         saved_fields;
    uint8_t                   *saved_head;
    uint8_t                   *saved_body;
} mim_vr_answer_t;

/* what the checks found, for the report */
typedef struct {
    const char      *stage;     /* the check that failed */
    mim_code_t       code;      /* and why */
    char             error[6144];
    mim_jws_info_t   info;
    int              in_trailer;
    char             digest[MIM_CONTENT_DIGEST_LEN + 1];
} mim_vr_report_t;

enum {
    MIM_OPT_TLS_CA = 256,
    MIM_OPT_HTTP2,
    MIM_OPT_HTTP2_PRIOR,
    MIM_OPT_COMPRESSED,
    MIM_OPT_MAX_AGE,
    MIM_OPT_JSON,
    MIM_OPT_JWKS,
    MIM_OPT_KEY,
    MIM_OPT_CA,
    MIM_OPT_HEADERS,
    MIM_OPT_BODY,
    MIM_OPT_URL,
    MIM_OPT_TIMEOUT
};

static const struct option  mim_vr_options[] = {
    { "method",                required_argument, NULL, 'X' },
    { "header",                required_argument, NULL, 'H' },
    { "insecure",              no_argument,       NULL, 'k' },
    { "quiet",                 no_argument,       NULL, 'q' },
    { "help",                  no_argument,       NULL, 'h' },
    { "tls-ca",                required_argument, NULL, MIM_OPT_TLS_CA },
    { "http2",                 no_argument,       NULL, MIM_OPT_HTTP2 },
    { "http2-prior-knowledge", no_argument,       NULL, MIM_OPT_HTTP2_PRIOR },
    { "compressed",            no_argument,       NULL, MIM_OPT_COMPRESSED },
    { "max-age",               required_argument, NULL, MIM_OPT_MAX_AGE },
    { "json",                  no_argument,       NULL, MIM_OPT_JSON },
    { "jwks",                  required_argument, NULL, MIM_OPT_JWKS },
    { "key",                   required_argument, NULL, MIM_OPT_KEY },
    { "ca",                    required_argument, NULL, MIM_OPT_CA },
    { "headers",               required_argument, NULL, MIM_OPT_HEADERS },
    { "body",                  required_argument, NULL, MIM_OPT_BODY },
    { "url",                   required_argument, NULL, MIM_OPT_URL },
    { "timeout",               required_argument, NULL, MIM_OPT_TIMEOUT },
    { NULL, 0, NULL, 0 }
};

static const char  mim_vr_usage_text[] =
"usage:\n"
"  mim verify-response URL [options]         fetch URL and verify its answer\n"
"  mim verify-response --headers FILE --body FILE --url URL [--method M]\n"
"                      [options]             verify a saved answer (headers\n"
"                                            as written by `curl -D FILE`,\n"
"                                            body as by `curl -o FILE`)\n"
"\n"
"key sources (one):\n"
"  --jwks FILE|URL     JWK Set (a URL is fetched with the same TLS options)\n"
"  --key FILE          PEM public key (or certificate)\n"
"  --ca FILE           PEM CA bundle: the x5c chain in the signature must\n"
"                      lead to it\n"
"  (none)              for a URL: fetch <scheme>://<host>"
MIM_JWKS_PATH "\n"
"\n"
"options:\n"
"  -X, --method M      request method (default GET); must equal htm\n"
"  -H, --header 'Name: value'\n"
"                      extra request header (repeatable; fetching only)\n"
"  --tls-ca FILE       PEM CA file for TLS (default: the system's)\n"
"  -k, --insecure      do not check the server's TLS certificate\n"
"  --http2             HTTP/2 over TLS (ALPN)\n"
"  --http2-prior-knowledge\n"
"                      HTTP/2 without negotiation (also for http://)\n"
"  --compressed        send Accept-Encoding: gzip; the raw (compressed)\n"
"                      bytes are verified, never decoded\n"
"  --timeout SECONDS   for each transfer (default 30)\n"
"  --max-age SECONDS   the signature's iat must not be older\n"
"  --json              print one JSON object instead of the line\n"
"  -q, --quiet         print nothing on success\n"
"\n"
"exit status: 0 verified, 1 verification failed (the reason on stderr),\n"
"2 usage error or the answer or keys cannot be fetched or read.\n";

static int
mim_parse_seconds(const char *s, long *out)
{
    char  *end;
    long   v;

    if (s[0] < '0' || s[0] > '9') {
        return -1;
    }

    v = strtol(s, &end, 10);
    if (*end != '\0' || v < 0 || v > 100L * 365 * 86400) {
        return -1;
    }

    *out = v;
    return 0;
}

/* an HTTP method is a token; it goes into the request line as is */
static int
mim_is_method(const char *s)
{
    size_t  n = strlen(s);

    return n > 0 && n < 16
           && strspn(s, "!#$%&'*+-.^_`|~0123456789"
                        "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
                        "abcdefghijklmnopqrstuvwxyz") == n;
}

static int
mim_vr_parse_option(mim_vr_args_t *a, int opt, const char *arg)
{
    switch (opt) {
    case 'X':
        if (!mim_is_method(arg)) {
            return mim_vr_usage_error("bad method '%s'", arg);
        }
        a->method = arg;
        return 0;
    case 'H':
        if (a->n_headers == MIM_MAX_HEADERS) {
            return mim_vr_usage_error("more than %d -H headers",
                                      MIM_MAX_HEADERS);
        }
        if (strchr(arg, ':') == NULL) {
            return mim_vr_usage_error("-H '%s': expected 'Name: value'", arg);
        }
        a->headers[a->n_headers++] = arg;
        return 0;
    case 'k':
        a->http.insecure = 1;
        return 0;
    case 'q':
        a->quiet = 1;
        return 0;
    case MIM_OPT_TLS_CA:
        a->http.tls_ca = arg;
        return 0;
    case MIM_OPT_HTTP2:
        a->http.version = MIM_HTTP_2;
        return 0;
    case MIM_OPT_HTTP2_PRIOR:
        a->http.version = MIM_HTTP_2_PRIOR_KNOWLEDGE;
        return 0;
    case MIM_OPT_COMPRESSED:
        a->compressed = 1;
        return 0;
    case MIM_OPT_MAX_AGE:
        if (mim_parse_seconds(arg, &a->max_age) != 0) {
            return mim_vr_usage_error("--max-age '%s': expected seconds",
                                      arg);
        }
        return 0;
    case MIM_OPT_TIMEOUT:
        if (mim_parse_seconds(arg, &a->http.timeout) != 0
            || a->http.timeout == 0)
        {
            return mim_vr_usage_error("--timeout '%s': expected seconds",
                                      arg);
        }
        return 0;
    case MIM_OPT_JSON:
        a->json = 1;
        return 0;
    case MIM_OPT_JWKS:
        a->jwks = arg;
        return 0;
    case MIM_OPT_KEY:
        a->key = arg;
        return 0;
    case MIM_OPT_CA:
        a->ca = arg;
        return 0;
    case MIM_OPT_HEADERS:
        a->headers_file = arg;
        return 0;
    case MIM_OPT_BODY:
        a->body_file = arg;
        return 0;
    case MIM_OPT_URL:
        a->saved_url = arg;
        return 0;
    default:
        return MIM_EXIT_USAGE;
    }
}

/* the combinations of options that make sense */
static int
mim_vr_check_args(mim_vr_args_t *a)
{
    int  sources = (a->jwks != NULL) + (a->key != NULL) + (a->ca != NULL);

    if (sources > 1) {
        return mim_vr_usage_error("give one key source: --jwks, --key or "
                                  "--ca");
    }

    if (a->url != NULL) {
        if (a->headers_file || a->body_file || a->saved_url) {
            return mim_vr_usage_error("a URL to fetch, or --headers, --body "
                                      "and --url for a saved answer, not "
                                      "both");
        }

        if (!mim_http_is_url(a->url)) {
            return mim_vr_usage_error("not an http:// or https:// URL: %s",
                                      a->url);
        }

        return 0;
    }

    if (a->headers_file == NULL && a->body_file == NULL
        && a->saved_url == NULL)
    {
        return mim_vr_usage_error("nothing to verify: give a URL, or "
                                  "--headers, --body and --url");
    }

    if (!a->headers_file || !a->body_file || !a->saved_url) {
        return mim_vr_usage_error("a saved answer needs --headers, --body "
                                  "and --url (missing %s)",
                                  !a->headers_file ? "--headers"
                                  : !a->body_file ? "--body" : "--url");
    }

    if (a->n_headers > 0 || a->compressed) {
        return mim_vr_usage_error("-H and --compressed apply only when "
                                  "fetching a URL");
    }

    if (sources == 0) {
        return mim_vr_usage_error("a saved answer needs a key source: "
                                  "--jwks, --key or --ca");
    }

    return 0;
}

static int
mim_vr_parse_args(mim_vr_args_t *a, int argc, char **argv, int *help)
{
    int  opt, rc;

    memset(a, 0, sizeof(*a));
    a->method = "GET";
    a->max_age = -1;
    *help = 0;

    opterr = 0;
    optind = 1;

    while ((opt = getopt_long(argc, argv, "X:H:kqh", mim_vr_options, NULL))
           != -1)
    {
        if (opt == 'h') {
            *help = 1;
            return 0;
        }

        if (opt == '?' || opt == ':') {
            return mim_vr_usage_error("unknown option or missing value: "
                                      "'%s'", argv[optind - 1]);
        }

        rc = mim_vr_parse_option(a, opt, optarg);
        if (rc != 0) {
            return rc;
        }
    }

    if (optind < argc) {
        a->url = argv[optind++];
    }

    if (optind < argc) {
        return mim_vr_usage_error("unexpected argument '%s'", argv[optind]);
    }

    return mim_vr_check_args(a);
}

/* ---- the answer ---- */

/* the value of a Host header given with -H, or NULL */
static char *
mim_vr_host_override(const mim_vr_args_t *a)
{
    const char  *v;
    size_t       i, n;

    for (i = a->n_headers; i-- > 0; ) {
        if (strncasecmp(a->headers[i], "Host:", 5) != 0) {
            continue;
        }

        for (v = a->headers[i] + 5; *v == ' ' || *v == '\t'; v++) {
            /* void */
        }

        for (n = strlen(v); n > 0 && (v[n - 1] == ' ' || v[n - 1] == '\t');
             n--)
        {
            /* void */
        }

        return n ? strndup(v, n) : NULL;
    }

    return NULL;
}

static mim_result_t
mim_vr_fetch(const mim_vr_args_t *a, mim_vr_answer_t *ans)
{
    mim_http_request_t  req;
    mim_result_t        rc;
    char               *host;

    memset(&req, 0, sizeof(req));
    req.method = a->method;
    req.url = a->url;
    req.headers = a->headers;
    req.n_headers = a->n_headers;
    req.compressed = a->compressed;

    rc = mim_http_fetch(&a->http, &req, &ans->fetched);
    if (!mim_ok(rc)) {
        /* a long URL is cut, not the reason: messages are bounded */
        return mim_result_err(rc.code, "cannot fetch %.120s: %s", a->url,
                              rc.msg);
    }

    /* the URL libcurl requested, as the gateway saw it */
    host = mim_vr_host_override(a);
    rc = mim_http_request_url(ans->fetched.url, host, &ans->url);
    free(host);

    if (!mim_ok(rc)) {
        return rc;
    }

    ans->method = a->method;
    ans->status = ans->fetched.status;
    ans->fields = &ans->fetched.headers;
    ans->body = ans->fetched.body;
    ans->body_len = ans->fetched.body_len;
    ans->http_version = ans->fetched.http_version;
    return mim_result_ok();
}

static mim_result_t
mim_vr_read_saved(const mim_vr_args_t *a, mim_vr_answer_t *ans)
{
    mim_result_t  rc;
    size_t        head_len;

    rc = mim_http_request_url(a->saved_url, NULL, &ans->url);
    if (!mim_ok(rc)) {
        return rc;
    }

    rc = mim_tool_read_file(a->headers_file, MIM_HEADERS_FILE_MAX,
                            &ans->saved_head, &head_len);
    if (!mim_ok(rc)) {
        return rc;
    }

    rc = mim_http_headers_parse(&ans->saved_fields,
                                (const char *) ans->saved_head, head_len);
    if (!mim_ok(rc)) {
        return mim_result_err(rc.code, "%s: %s", a->headers_file, rc.msg);
    }

    rc = mim_tool_read_file(a->body_file, MIM_HTTP_BODY_MAX,
                            &ans->saved_body, &ans->body_len);
    if (!mim_ok(rc)) {
        return rc;
    }

    ans->method = a->method;
    ans->status = ans->saved_fields.status;
    ans->fields = &ans->saved_fields;
    ans->body = ans->saved_body;
    return mim_result_ok();
}

static void
mim_vr_answer_free(mim_vr_answer_t *ans)
{
    mim_http_response_free(&ans->fetched);
    mim_http_headers_free(&ans->saved_fields);
    free(ans->saved_head);
    free(ans->saved_body);
    free(ans->url);
}

/* ---- the keys ---- */

static mim_result_t
mim_vr_default_jwks_url(const char *url, char **jwks_url)
{
    mim_result_t   rc;
    char          *request_url, *path;

    /* scheme://host[:port] of the answer's URL, then the well-known path */
    rc = mim_http_request_url(url, NULL, &request_url);
    if (!mim_ok(rc)) {
        return rc;
    }

    path = strchr(request_url + strcspn(request_url, ":") + 3, '/');
    if (path != NULL) {
        *path = '\0';
    }

    *jwks_url = mim_sprintf("%s%s", request_url, MIM_JWKS_PATH);
    free(request_url);

    if (*jwks_url == NULL) {
        return mim_result_err(MIM_ERR_NOMEM, "out of memory");
    }

    return mim_result_ok();
}

static mim_result_t
mim_vr_load_keys(const mim_vr_args_t *a, mim_tool_keys_t *k)
{
    mim_result_t   rc;
    char          *jwks_url = NULL;

    if (a->key != NULL || a->ca != NULL || a->jwks != NULL) {
        return mim_tool_load_keys(k, a->key, a->ca, a->jwks, &a->http);
    }

    memset(k, 0, sizeof(*k));

    rc = mim_vr_default_jwks_url(a->url, &jwks_url);
    if (!mim_ok(rc)) {
        return rc;
    }

    if (!a->quiet) {
        mim_error(MIM_CMD, "note: no key source given, using the "
                  "JWKS at %s", jwks_url);
    }

    rc = mim_tool_load_jwks(k, jwks_url, &a->http);
    k->source = mim_sprintf("JWKS %s, the default", jwks_url);
    free(jwks_url);

    if (mim_ok(rc) && k->source == NULL) {
        rc = mim_result_err(MIM_ERR_NOMEM, "out of memory");
    }

    return rc;
}

/* ---- the checks ---- */

/* record why a check failed; returns -1 */
static int mim_vr_fail(mim_vr_report_t *rep, mim_code_t code,
    const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static int
mim_vr_fail(mim_vr_report_t *rep, mim_code_t code, const char *fmt, ...)
{
    va_list  args;

    va_start(args, fmt);
    vsnprintf(rep->error, sizeof(rep->error), fmt, args);
    va_end(args);

    rep->code = code;
    return -1;
}

/* 1. the signature and the digest are there, once */
static int
mim_vr_check_fields(const mim_vr_answer_t *ans, mim_vr_report_t *rep,
    const mim_http_field_t **sig)
{
    size_t  in_header, in_trailer;

    in_header = mim_http_headers_count(ans->fields, MIM_SIG_FIELD,
                                       MIM_HTTP_HEADER);
    in_trailer = mim_http_headers_count(ans->fields, MIM_SIG_FIELD,
                                        MIM_HTTP_TRAILER);

    if (in_header > 0 && in_trailer > 0) {
        return mim_vr_fail(rep, MIM_ERR_INVALID, MIM_SIG_FIELD " came both "
                           "as a header and as a trailer field");
    }

    if (in_header + in_trailer == 0) {
        return mim_vr_fail(rep, MIM_ERR_NOT_FOUND, "no " MIM_SIG_FIELD
                           " field: the response is not signed");
    }

    if (in_header + in_trailer > 1) {
        return mim_vr_fail(rep, MIM_ERR_INVALID, MIM_SIG_FIELD " appears "
                           "%zu times", in_header + in_trailer);
    }

    if (mim_http_headers_count(ans->fields, MIM_DIGEST_FIELD, MIM_HTTP_ANY)
        == 0)
    {
        return mim_vr_fail(rep, MIM_ERR_NOT_FOUND, "no " MIM_DIGEST_FIELD
                           " field");
    }

    rep->in_trailer = (in_trailer > 0);
    *sig = mim_http_headers_next(ans->fields, NULL, MIM_SIG_FIELD,
                                 MIM_HTTP_ANY);
    return 0;
}

/*
 * 2. every Content-Digest field matches the raw body: a second field
 * (say, the origin's own, or a header and a trailer) must not disagree
 */
static int
mim_vr_check_digest(const mim_vr_answer_t *ans, mim_vr_report_t *rep)
{
    const mim_http_field_t  *f = NULL;
    mim_result_t             rc;

    mim_content_digest(rep->digest, ans->body, ans->body_len);

    while ((f = mim_http_headers_next(ans->fields, f, MIM_DIGEST_FIELD,
                                      MIM_HTTP_ANY)) != NULL)
    {
        rc = mim_content_digest_check(f->value, f->value_len, ans->body,
                                      ans->body_len);

        if (rc.code == MIM_ERR_DIGEST) {
            return mim_vr_fail(rep, MIM_ERR_DIGEST, "digest mismatch: body "
                               "%s but " MIM_DIGEST_FIELD " says %.*s",
                               rep->digest,
                               (int) (f->value_len > 1024 ? 1024
                                                          : f->value_len),
                               f->value);
        }

        if (!mim_ok(rc)) {
            return mim_vr_fail(rep, rc.code, MIM_DIGEST_FIELD ": %s",
                               rc.msg);
        }
    }

    return 0;
}

/* 3. the detached JWS over the raw body */
static int
mim_vr_check_signature(const mim_vr_answer_t *ans, const mim_tool_keys_t *k,
    const mim_http_field_t *sig, mim_vr_report_t *rep)
{
    mim_result_t  rc;

    rc = mim_jws_verify_detached(sig->value, sig->value_len, ans->body,
                                 ans->body_len, &k->trust, &rep->info);
    if (!mim_ok(rc)) {
        return mim_vr_fail(rep, rc.code, "signature rejected: %s", rc.msg);
    }

    return 0;
}

/* 4. htm, htu, status: this signature answers this request */
static int
mim_vr_check_binding(const mim_vr_answer_t *ans, mim_vr_report_t *rep)
{
    const mim_jws_info_t  *info = &rep->info;

    if (strcmp(info->htm, ans->method) != 0) {
        return mim_vr_fail(rep, MIM_ERR_MISMATCH, "request binding "
                           "mismatch: htm is %s, expected %s",
                           info->htm[0] ? info->htm : "absent",
                           ans->method);
    }

    if (!mim_htu_equal(info->htu, strlen(info->htu), ans->url,
                       strlen(ans->url)))
    {
        return mim_vr_fail(rep, MIM_ERR_MISMATCH, "request binding "
                           "mismatch: htu is %s, expected %s",
                           info->htu[0] ? info->htu : "absent", ans->url);
    }

    if (info->status < 0) {
        return mim_vr_fail(rep, MIM_ERR_MISMATCH, "request binding "
                           "mismatch: status is absent, expected %d",
                           ans->status);
    }

    if (info->status != ans->status) {
        return mim_vr_fail(rep, MIM_ERR_MISMATCH, "request binding "
                           "mismatch: status is %d, expected %d",
                           info->status, ans->status);
    }

    return 0;
}

/* 5. --max-age */
static int
mim_vr_check_age(const mim_vr_args_t *a, mim_vr_report_t *rep)
{
    long  now, iat = rep->info.iat;

    if (a->max_age < 0) {
        return 0;
    }

    if (iat < 0) {
        return mim_vr_fail(rep, MIM_ERR_INVALID, "--max-age %ld: the "
                           "signature has no iat", a->max_age);
    }

    now = (long) time(NULL);

    if (iat > now + MIM_IAT_FUTURE_SKEW) {
        return mim_vr_fail(rep, MIM_ERR_INVALID, "iat %ld is %ld s in the "
                           "future", iat, iat - now);
    }

    if (now - iat > a->max_age) {
        return mim_vr_fail(rep, MIM_ERR_LIMIT, "signature too old: iat %ld "
                           "is %ld s ago, --max-age %ld", iat, now - iat,
                           a->max_age);
    }

    return 0;
}

static int
mim_vr_check(const mim_vr_args_t *a, const mim_vr_answer_t *ans,
    const mim_tool_keys_t *k, mim_vr_report_t *rep)
{
    const mim_http_field_t  *sig = NULL;

    rep->stage = "fields";
    if (mim_vr_check_fields(ans, rep, &sig) != 0) {
        return -1;
    }

    rep->stage = "digest";
    if (mim_vr_check_digest(ans, rep) != 0) {
        return -1;
    }

    rep->stage = "signature";
    if (mim_vr_check_signature(ans, k, sig, rep) != 0) {
        return -1;
    }

    rep->stage = "binding";
    if (mim_vr_check_binding(ans, rep) != 0) {
        return -1;
    }

    rep->stage = "age";
    return mim_vr_check_age(a, rep);
}

/* ---- the report ---- */

static void
mim_json_print(json_t *obj)
{
    if (obj != NULL) {
        json_dumpf(obj, stdout, JSON_COMPACT);
        fputc('\n', stdout);
        json_decref(obj);
    }
}

static void
mim_vr_print_failure(const mim_vr_args_t *a, const char *stage,
    mim_code_t code, const char *msg)
{
    json_t  *obj;

    mim_error(MIM_CMD, "%s", msg);

    if (!a->json) {
        return;
    }

    obj = json_object();
    if (obj != NULL) {
        json_object_set_new(obj, "ok", json_false());
        json_object_set_new(obj, "stage", json_string(stage));
        json_object_set_new(obj, "code", json_string(mim_code_name(code)));
        json_object_set_new(obj, "error", mim_printable_json(msg));
    }

    mim_json_print(obj);
}

static void
mim_vr_print_json(const mim_vr_answer_t *ans, const mim_tool_keys_t *k,
    const mim_vr_report_t *rep)
{
    const mim_jws_info_t  *info = &rep->info;
    json_t                *obj;

    obj = json_object();
    if (obj == NULL) {
        return;
    }

    json_object_set_new(obj, "ok", json_true());
    json_object_set_new(obj, "alg", json_string(mim_alg_name(info->alg)));
    json_object_set_new(obj, "kid", mim_printable_json(info->kid));
    json_object_set_new(obj, "signer", mim_printable_json(info->signer));
    json_object_set_new(obj, "x5c", json_integer((json_int_t) info->x5c_n));
    json_object_set_new(obj, "iat", json_integer(info->iat));
    json_object_set_new(obj, "method", mim_printable_json(ans->method));
    json_object_set_new(obj, "url", mim_printable_json(ans->url));
    json_object_set_new(obj, "status", json_integer(ans->status));
    json_object_set_new(obj, "bytes", json_integer((json_int_t)
                                                   ans->body_len));
    json_object_set_new(obj, "content_digest", json_string(rep->digest));
    json_object_set_new(obj, "trailer", json_boolean(rep->in_trailer));
    json_object_set_new(obj, "keys", mim_printable_json(k->source));

    if (ans->http_version != NULL) {
        json_object_set_new(obj, "http_version",
                            json_string(ans->http_version));
    }

    mim_json_print(obj);
}

static void
mim_vr_print_ok(const mim_vr_args_t *a, const mim_vr_answer_t *ans,
    const mim_tool_keys_t *k, const mim_vr_report_t *rep)
{
    const mim_jws_info_t  *info = &rep->info;
    char                  *line;

    if (a->quiet) {
        return;
    }

    if (a->json) {
        mim_vr_print_json(ans, k, rep);
        return;
    }

    line = mim_sprintf("OK %s kid=%s %s %s %d, %zu bytes, %s%s (keys: %s%s%s)",
                       mim_alg_name(info->alg),
                       info->kid[0] ? info->kid : "-",
                       ans->method, ans->url, ans->status, ans->body_len,
                       rep->digest,
                       rep->in_trailer ? ", signed in trailer" : "",
                       k->source, k->store ? ", leaf " : "",
                       k->store ? info->signer : "");
    if (line == NULL) {
        puts("OK");
        return;
    }

    mim_printable(line);
    puts(line);
    free(line);
}

int
mim_cmd_verify_response(int argc, char **argv)
{
    mim_vr_report_t  rep;
    mim_vr_answer_t  ans;
    mim_tool_keys_t  keys;
    mim_vr_args_t    args;
    mim_result_t     rc;
    int              help, status;

    status = mim_vr_parse_args(&args, argc, argv, &help);
    if (help) {
        fputs(mim_vr_usage_text, stdout);
        return MIM_EXIT_OK;
    }

    if (status != 0) {
        return status;
    }

    memset(&ans, 0, sizeof(ans));
    memset(&keys, 0, sizeof(keys));
    memset(&rep, 0, sizeof(rep));

    rc = args.url ? mim_vr_fetch(&args, &ans)
                  : mim_vr_read_saved(&args, &ans);
    if (!mim_ok(rc)) {
        mim_vr_print_failure(&args, "response", rc.code, rc.msg);
        status = MIM_EXIT_USAGE;
        goto done;
    }

    rc = mim_vr_load_keys(&args, &keys);
    if (!mim_ok(rc)) {
        mim_vr_print_failure(&args, "keys", rc.code, rc.msg);
        status = MIM_EXIT_USAGE;
        goto done;
    }

    if (mim_vr_check(&args, &ans, &keys, &rep) != 0) {
        mim_vr_print_failure(&args, rep.stage, rep.code, rep.error);
        status = MIM_EXIT_FAILED;
        goto done;
    }

    mim_vr_print_ok(&args, &ans, &keys, &rep);
    status = MIM_EXIT_OK;

done:

    mim_tool_keys_free(&keys);
    mim_vr_answer_free(&ans);
    return status;
}
