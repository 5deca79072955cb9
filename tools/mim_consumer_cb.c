/*
 * mim_consumer_cb.c - the consumer's callback endpoint.
 *
 * Providers answer a request at once and send what follows (agreement,
 * FINALIZED, transfer start) to <callbackAddress>/negotiations/:pid/...
 * and /transfers/:pid/...; a provider may also call back before its
 * answer to our request has reached us.  So the listener runs in a thread
 * of its own from before the first request: one poll() loop serving every
 * connection, while the main thread blocks in libcurl.
 *
 * A small, strict HTTP/1.1 server: one request per connection (we answer
 * with Connection: close), a CRLF header of at most MIM_CB_HEAD_MAX bytes,
 * Content-Length or chunked bodies of at most MIM_CB_BODY_MAX bytes, POST
 * only, a JSON media type.  A message is answered 200 only when it is
 * valid (schema and consumer rules), its @type is the one its path takes,
 * and it is for a consumerPid we are waiting on; 404 for unknown paths and
 * pids, 400 for invalid messages, which are also handed to the main
 * thread, which gives up with the reason.
 */
#define _GNU_SOURCE                 /* accept4, pipe2, memmem */

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>

#include "mim_consumer.h"
#include "mim_dsp.h"

#define MIM_CB_CONNS      32
#define MIM_CB_HEAD_MAX   (16 * 1024)
#define MIM_CB_BODY_MAX   (1024 * 1024)
#define MIM_CB_FIELDS_MAX 100
#define MIM_CB_IDLE_MS    10000
#define MIM_CB_DRAIN_MS   1000

typedef struct mim_cb_pid_s  mim_cb_pid_t;

struct mim_cb_pid_s {
    mim_cb_kind_t    kind;
    char            *pid;
    char            *provider_pid;  /* once the provider named it */
    mim_cb_pid_t    *next;
};

/* what the request head said */
typedef struct {
    int              done;          /* the head is parsed */
    size_t           head_len;      /* bytes up to the blank line */
    char            *target;
    int              post;
    long long        length;        /* Content-Length, -1: none */
    int              chunked;
    int              json;          /* no Content-Type, or a JSON one */
} mim_cb_head_t;

typedef struct {
    int              fd;            /* -1: a free slot */
    char            *in;
    size_t           in_len;
    size_t           in_cap;
    mim_cb_head_t    head;
    char            *out;           /* the answer, once decided */
    size_t           out_len;
    size_t           out_sent;
    mim_cb_msg_t    *msg;           /* handed over once out is sent */
    int64_t          deadline;
} mim_cb_conn_t;

struct mim_cb_s {
    int              fd;
    int              wake[2];
    pthread_t        thread;
    int              started;
    char            *url;
    char            *prefix;        /* the URL's path, no final '/' */
    pthread_mutex_t  lock;
    pthread_cond_t   cond;
    mim_cb_pid_t    *pids;
    mim_cb_msg_t    *queue;
    mim_cb_conn_t    conns[MIM_CB_CONNS];
};

/* the callback paths and the message each one takes */
static const struct {
    mim_cb_kind_t    kind;
    const char      *what;
    const char      *type;
} mim_cb_routes[] = {
    { MIM_CB_NEGOTIATION, "offers", "ContractOfferMessage" },
    { MIM_CB_NEGOTIATION, "agreement", "ContractAgreementMessage" },
    { MIM_CB_NEGOTIATION, "events", "ContractNegotiationEventMessage" },
    { MIM_CB_NEGOTIATION, "termination",
      "ContractNegotiationTerminationMessage" },
    { MIM_CB_TRANSFER, "start", "TransferStartMessage" },
    { MIM_CB_TRANSFER, "completion", "TransferCompletionMessage" },
    { MIM_CB_TRANSFER, "termination", "TransferTerminationMessage" },
    { MIM_CB_TRANSFER, "suspension", "TransferSuspensionMessage" },
};

#define MIM_CB_ROUTES  (sizeof(mim_cb_routes) / sizeof(mim_cb_routes[0]))

static int64_t
mim_cb_now(void)
{
    struct timespec  ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void
mim_cb_msg_free(mim_cb_msg_t *m)
{
    if (m != NULL) {
        free(m->pid);
        free(m->error);
        json_decref(m->json);
        free(m);
    }
}

/* ---- the answer ---- */

static const char *
mim_cb_reason_phrase(int status)
{
    switch (status) {
    case 200: return "OK";
    case 400: return "Bad Request";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 411: return "Length Required";
    case 413: return "Content Too Large";
    case 415: return "Unsupported Media Type";
    case 431: return "Request Header Fields Too Large";
    case 503: return "Service Unavailable";
    default:  return "Not Implemented";
    }
}

/* a ContractNegotiationError / TransferError when the pids are known */
static char *
mim_cb_error_body(const mim_cb_msg_t *m, json_t *obj, const char *why)
{
    const char  *ppid, *cpid;
    json_t      *err;
    char        *text;

    ppid = obj ? mim_consumer_str(obj, "providerPid") : NULL;
    cpid = obj ? mim_consumer_str(obj, "consumerPid") : NULL;

    if (m == NULL || ppid == NULL || cpid == NULL) {
        return NULL;
    }

    err = json_pack("{s:[s], s:s, s:s, s:s, s:s, s:[s]}",
                    "@context", MIM_DSP_CONTEXT,
                    "@type", m->kind == MIM_CB_NEGOTIATION
                             ? "ContractNegotiationError" : "TransferError",
                    "providerPid", ppid, "consumerPid", cpid,
                    "code", "invalid-message", "reason", why);
    text = err ? json_dumps(err, JSON_COMPACT) : NULL;
    json_decref(err);
    return text;
}

static void
mim_cb_answer(mim_cb_conn_t *k, int status, const char *body)
{
    size_t  n = body ? strlen(body) : 0;

    free(k->out);
    k->out = mim_sprintf("HTTP/1.1 %d %s\r\n%s%s"
                         "Content-Length: %zu\r\nConnection: close\r\n\r\n"
                         "%s", status, mim_cb_reason_phrase(status),
                         status == 405 ? "Allow: POST\r\n" : "",
                         n ? "Content-Type: application/json\r\n" : "",
                         n, body ? body : "");
    k->out_len = k->out ? strlen(k->out) : 0;
    k->out_sent = 0;
    k->deadline = mim_cb_now() + MIM_CB_IDLE_MS;
}

/* ---- routing ---- */

static int
mim_cb_hex(char c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }

    c |= 0x20;
    return (c >= 'a' && c <= 'f') ? c - 'a' + 10 : -1;
}

/* percent-decode one path segment; -1 on a bad escape or a NUL */
static int
mim_cb_unescape(const char *s, size_t n, char **out)
{
    char    *d;
    size_t   i, j = 0;
    int      hi, lo;

    d = malloc(n + 1);
    if (d == NULL) {
        return -1;
    }

    for (i = 0; i < n; i++) {
        if (s[i] != '%') {
            d[j++] = s[i];
            continue;
        }

        hi = i + 2 < n ? mim_cb_hex(s[i + 1]) : -1;
        lo = i + 2 < n ? mim_cb_hex(s[i + 2]) : -1;

        if (hi < 0 || lo < 0 || (hi == 0 && lo == 0)) {
            free(d);
            return -1;
        }

        d[j++] = (char) (hi * 16 + lo);
        i += 2;
    }

    d[j] = '\0';
    *out = d;
    return 0;
}

/*
 * The path without query, with runs of '/' as one (a provider joining
 * "<callbackAddress>/" and "/negotiations" may double it) and without a
 * final '/'.
 */
static char *
mim_cb_clean_path(const char *target)
{
    char    *p, *d;
    size_t   n = strcspn(target, "?#");

    p = malloc(n + 1);
    if (p == NULL) {
        return NULL;
    }

    for (d = p; n > 0; target++, n--) {
        if (*target == '/' && d > p && d[-1] == '/') {
            continue;
        }
        *d++ = *target;
    }

    while (d > p + 1 && d[-1] == '/') {
        d--;
    }

    *d = '\0';
    return p;
}

/*
 * PREFIX/negotiations|transfers/PID/WHAT -> its route and the decoded
 * PID; returns 0, or the status to answer (404, 400).
 */
static int
mim_cb_route(const mim_cb_t *cb, const char *target, size_t *route,
    char **pid)
{
    const char  *rest, *seg, *what;
    char        *path;
    size_t       i, plen = strlen(cb->prefix), kind_len, seg_len;
    int          status = 404;

    path = mim_cb_clean_path(target);
    if (path == NULL) {
        return 503;
    }

    if (strncmp(path, cb->prefix, plen) != 0 || path[plen] != '/') {
        goto done;
    }

    rest = path + plen + 1;
    kind_len = strcspn(rest, "/");
    seg = rest + kind_len + (rest[kind_len] == '/');
    seg_len = strcspn(seg, "/");
    what = seg + seg_len + (seg[seg_len] == '/');

    if (rest[kind_len] != '/' || seg_len == 0 || seg[seg_len] != '/'
        || strchr(what, '/') != NULL)
    {
        goto done;
    }

    for (i = 0; i < MIM_CB_ROUTES; i++) {
        if (strcmp(what, mim_cb_routes[i].what) == 0
            && strncmp(rest, mim_cb_routes[i].kind == MIM_CB_NEGOTIATION
                             ? "negotiations/" : "transfers/",
                       kind_len + 1) == 0)
        {
            break;
        }
    }

    if (i == MIM_CB_ROUTES) {
        goto done;
    }

    if (mim_cb_unescape(seg, seg_len, pid) != 0) {
        status = 400;
        goto done;
    }

    *route = i;
    status = 0;

done:

    free(path);
    return status;
}

/* is pid expected?  *ppid: a copy of its providerPid, when known */
static int
mim_cb_known(mim_cb_t *cb, mim_cb_kind_t kind, const char *pid, char **ppid)
{
    mim_cb_pid_t  *p;

    *ppid = NULL;

    pthread_mutex_lock(&cb->lock);
    for (p = cb->pids; p != NULL; p = p->next) {
        if (p->kind == kind && strcmp(p->pid, pid) == 0) {
            break;
        }
    }
    if (p != NULL && p->provider_pid != NULL) {
        *ppid = strdup(p->provider_pid);
    }
    pthread_mutex_unlock(&cb->lock);

    return p != NULL;
}

/* ---- one request ---- */

/*
 * Validate the message of a known pid (ppid: its providerPid when the
 * provider told us already); the error goes to m->error.
 */
static void
mim_cb_check(mim_cb_msg_t *m, const char *ppid, const char *body,
    size_t len, json_t **obj)
{
    mim_result_t   rc;
    const char    *v;

    rc = mim_consumer_check(body, len, m->type, obj);
    if (mim_ok(rc)) {
        v = mim_consumer_str(*obj, "consumerPid");
        if (v != NULL && strcmp(v, m->pid) != 0) {
            rc = mim_result_err(MIM_ERR_MISMATCH, "consumerPid %.100s is "
                                "not the one of the path", v);
        }
    }
    if (mim_ok(rc) && ppid != NULL) {
        v = mim_consumer_str(*obj, "providerPid");
        if (v != NULL && strcmp(v, ppid) != 0) {
            rc = mim_result_err(MIM_ERR_MISMATCH, "providerPid %.100s is "
                                "not the provider's (%.100s)", v, ppid);
        }
    }

    if (!mim_ok(rc)) {
        m->error = strdup(rc.msg);
    } else {
        m->json = json_incref(*obj);
    }
}

static void
mim_cb_handle(mim_cb_t *cb, mim_cb_conn_t *k, const char *body, size_t len)
{
    mim_cb_msg_t  *m;
    json_t        *obj = NULL;
    char          *pid = NULL, *ppid = NULL, *err;
    size_t         route = 0;
    int            status;

    status = !k->head.post ? 405 : mim_cb_route(cb, k->head.target, &route,
                                                 &pid);
    if (status == 0
        && !mim_cb_known(cb, mim_cb_routes[route].kind, pid, &ppid))
    {
        status = 404;
    }
    if (status == 0 && !k->head.json) {
        status = 415;
    }

    if (status != 0) {
        mim_consumer_progress("callback: POST %.200s: %d", k->head.target,
                              status);
        free(pid);
        free(ppid);
        mim_cb_answer(k, status, NULL);
        return;
    }

    m = calloc(1, sizeof(*m));
    if (m == NULL) {
        free(pid);
        free(ppid);
        mim_cb_answer(k, 400, NULL);
        return;
    }

    m->kind = mim_cb_routes[route].kind;
    m->what = mim_cb_routes[route].what;
    m->type = mim_cb_routes[route].type;
    m->pid = pid;

    mim_cb_check(m, ppid, body, len, &obj);
    free(ppid);

    if (m->error != NULL) {
        err = mim_cb_error_body(m, obj, m->error);
        mim_cb_answer(k, 400, err);
        free(err);
    } else {
        mim_cb_answer(k, 200, NULL);
    }

    json_decref(obj);
    k->msg = m;
}

/* ---- the request head ---- */

static int
mim_cb_tchar(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
           || (c >= '0' && c <= '9') || strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

/* "METHOD SP /target SP HTTP/1.x"; 0 or a status */
static int
mim_cb_request_line(mim_cb_head_t *h, const char *line, size_t n)
{
    const char  *sp1, *sp2;
    size_t       i;

    sp1 = memchr(line, ' ', n);
    sp2 = sp1 ? memchr(sp1 + 1, ' ', n - (size_t) (sp1 + 1 - line)) : NULL;
    if (sp1 == NULL || sp2 == NULL || sp1 == line || sp2[-1] == ' '
        || sp1[1] != '/')
    {
        return 400;
    }

    for (i = 0; line + i < sp1; i++) {
        if (!mim_cb_tchar((unsigned char) line[i])) {
            return 400;
        }
    }

    for (i = 1; sp1 + i < sp2; i++) {
        if ((unsigned char) sp1[i] <= 0x20 || (unsigned char) sp1[i] >= 0x7f) {
            return 400;
        }
    }

    if ((size_t) (line + n - sp2 - 1) != 8
        || (memcmp(sp2 + 1, "HTTP/1.1", 8) != 0
            && memcmp(sp2 + 1, "HTTP/1.0", 8) != 0))
    {
        return 400;
    }

    h->post = (sp1 - line == 4 && memcmp(line, "POST", 4) == 0);
    h->target = strndup(sp1 + 1, (size_t) (sp2 - sp1 - 1));
    return h->target ? 0 : 400;
}

static int
mim_cb_is(const char *name, size_t n, const char *want)
{
    return strlen(want) == n && strncasecmp(name, want, n) == 0;
}

/* a JSON media type: application/json or any +json (parameters aside) */
static int
mim_cb_json_type(const char *v, size_t n)
{
    size_t  m = 0;

    while (m < n && v[m] != ';' && v[m] != ' ') {
        m++;
    }

    return mim_cb_is(v, m, "application/json")
           || (m > 5 && strncasecmp(v + m - 5, "+json", 5) == 0);
}

/* one field; 0 or a status */
static int
mim_cb_field(mim_cb_head_t *h, const char *line, size_t n, int *host)
{
    const char  *colon = memchr(line, ':', n), *v;
    size_t       name_len, vn, i;
    long long    len = 0;

    if (colon == NULL || colon == line) {
        return 400;
    }

    name_len = (size_t) (colon - line);
    for (i = 0; i < name_len; i++) {
        if (!mim_cb_tchar((unsigned char) line[i])) {
            return 400;
        }
    }

    for (v = colon + 1; v < line + n && (*v == ' ' || *v == '\t'); v++) {
        /* void */
    }

    vn = (size_t) (line + n - v);
    while (vn > 0 && (v[vn - 1] == ' ' || v[vn - 1] == '\t')) {
        vn--;
    }

    for (i = 0; i < vn; i++) {
        if (((unsigned char) v[i] < 0x20 && v[i] != '\t') || v[i] == 0x7f) {
            return 400;
        }
    }

    if (mim_cb_is(line, name_len, "Host")) {
        *host += 1;

    } else if (mim_cb_is(line, name_len, "Content-Type")) {
        h->json = mim_cb_json_type(v, vn);

    } else if (mim_cb_is(line, name_len, "Transfer-Encoding")) {
        if (!mim_cb_is(v, vn, "chunked") || h->chunked) {
            return 400;
        }
        h->chunked = 1;

    } else if (mim_cb_is(line, name_len, "Content-Length")) {
        for (i = 0; i < vn; i++) {
            if (v[i] < '0' || v[i] > '9' || len > MIM_CB_BODY_MAX) {
                return v[i] < '0' || v[i] > '9' ? 400 : 413;
            }
            len = len * 10 + (v[i] - '0');
        }
        if (vn == 0 || (h->length >= 0 && h->length != len)) {
            return 400;
        }
        if (len > MIM_CB_BODY_MAX) {
            return 413;
        }
        h->length = len;
    }

    return 0;
}

/* the head, in[0 .. end) ending with the CRLF of the last field */
static int
mim_cb_parse_head(mim_cb_head_t *h, const char *in, size_t end)
{
    const char  *line = in, *eol;
    size_t       fields = 0;
    int          status, host = 0;

    h->length = -1;
    h->json = 1;

    for ( ;; ) {
        eol = memchr(line, '\n', (size_t) (in + end - line));
        if (eol == NULL || eol == line || eol[-1] != '\r') {
            return 400;                 /* bare LF */
        }

        if (line == in) {
            status = mim_cb_request_line(h, line, (size_t) (eol - 1 - line));

        } else if (*line == ' ' || *line == '\t') {
            status = 400;               /* obsolete line folding */

        } else {
            status = ++fields > MIM_CB_FIELDS_MAX ? 431
                     : mim_cb_field(h, line, (size_t) (eol - 1 - line),
                                    &host);
        }

        if (status != 0) {
            return status;
        }

        line = eol + 1;
        if ((size_t) (line - in) >= end) {
            break;
        }
    }

    if (host != 1 || (h->chunked && h->length >= 0)) {
        return 400;
    }

    return (h->post && !h->chunked && h->length < 0) ? 411 : 0;
}

/*
 * A chunked body in p[0 .. n): 1 and the decoded body when complete, 0
 * when more is needed, or a status.  Chunk extensions are skipped,
 * trailer fields ignored.
 */
static int
mim_cb_dechunk(const char *p, size_t n, char **body, size_t *len)
{
    const char  *eol;
    size_t       pos = 0, size, out = 0;
    char        *d;
    int          digit;

    d = malloc(n + 1);
    if (d == NULL) {
        return 413;
    }

    for ( ;; ) {
        eol = memchr(p + pos, '\n', n - pos);
        if (eol == NULL) {
            free(d);
            return 0;
        }

        size = 0;
        for ( ; p + pos < eol && (digit = mim_cb_hex(p[pos])) >= 0; pos++) {
            if (size > MIM_CB_BODY_MAX) {
                free(d);
                return 413;
            }
            size = size * 16 + (size_t) digit;
        }

        if (p + pos == eol || eol[-1] != '\r'
            || (p[pos] != '\r' && p[pos] != ';'))
        {
            free(d);
            return 400;
        }

        pos = (size_t) (eol + 1 - p);

        if (size == 0) {
            break;
        }

        if (out + size > MIM_CB_BODY_MAX) {
            free(d);
            return 413;
        }

        if (n - pos < size + 2) {
            free(d);
            return 0;
        }

        if (p[pos + size] != '\r' || p[pos + size + 1] != '\n') {
            free(d);
            return 400;
        }

        memcpy(d + out, p + pos, size);
        out += size;
        pos += size + 2;
    }

    /* trailer fields up to the blank line */
    for ( ;; ) {
        eol = memchr(p + pos, '\n', n - pos);
        if (eol == NULL) {
            free(d);
            return 0;
        }
        if (eol == p + pos || eol[-1] != '\r') {
            free(d);
            return 400;
        }
        if (eol == p + pos + 1) {
            break;
        }
        pos = (size_t) (eol + 1 - p);
    }

    d[out] = '\0';
    *body = d;
    *len = out;
    return 1;
}

/* after a read: answer once the request is complete */
static void
mim_cb_progress(mim_cb_t *cb, mim_cb_conn_t *k)
{
    const char  *end;
    char        *body = NULL;
    size_t       len = 0;
    int          rc;

    if (!k->head.done) {
        end = memmem(k->in, k->in_len, "\r\n\r\n", 4);
        if ((end == NULL && k->in_len > MIM_CB_HEAD_MAX)
            || (end != NULL && end - k->in > MIM_CB_HEAD_MAX))
        {
            mim_cb_answer(k, 431, NULL);
            return;
        }

        if (end == NULL) {
            return;
        }

        k->head.done = 1;
        k->head.head_len = (size_t) (end - k->in) + 4;
        rc = mim_cb_parse_head(&k->head, k->in, k->head.head_len - 2);
        if (rc != 0) {
            mim_cb_answer(k, rc, NULL);
            return;
        }
    }

    if (k->head.chunked) {
        rc = mim_cb_dechunk(k->in + k->head.head_len,
                            k->in_len - k->head.head_len, &body, &len);
        if (rc == 1) {
            mim_cb_handle(cb, k, body, len);
            free(body);
        } else if (rc != 0) {
            mim_cb_answer(k, rc, NULL);
        }
        return;
    }

    len = (size_t) (k->head.length > 0 ? k->head.length : 0);
    if (k->in_len - k->head.head_len >= len) {
        /* what follows the body (a pipelined request) is not read */
        k->in[k->head.head_len + len] = '\0';
        mim_cb_handle(cb, k, k->in + k->head.head_len, len);
    }
}

/* ---- connections ---- */

static void
mim_cb_hand_over(mim_cb_t *cb, mim_cb_msg_t *m)
{
    mim_cb_msg_t  **tail;

    pthread_mutex_lock(&cb->lock);
    for (tail = &cb->queue; *tail != NULL; tail = &(*tail)->next) {
        /* void */
    }
    *tail = m;
    pthread_cond_broadcast(&cb->cond);
    pthread_mutex_unlock(&cb->lock);
}

/* the message goes to the main thread even when our answer did not go
   out: the provider will try again, the main thread decides */
static void
mim_cb_close(mim_cb_t *cb, mim_cb_conn_t *k)
{
    if (k->msg != NULL) {
        mim_cb_hand_over(cb, k->msg);
    }

    close(k->fd);
    free(k->in);
    free(k->out);
    free(k->head.target);
    memset(k, 0, sizeof(*k));
    k->fd = -1;
}

static void
mim_cb_read(mim_cb_t *cb, mim_cb_conn_t *k)
{
    size_t    max = MIM_CB_HEAD_MAX + 2 * MIM_CB_BODY_MAX, cap;
    ssize_t   n;
    char     *grown;

    if (k->in_len + 4096 + 1 > k->in_cap) {
        cap = k->in_cap ? k->in_cap * 2 : 8192;
        grown = k->in_len < max ? realloc(k->in, cap) : NULL;
        if (grown == NULL) {
            mim_cb_answer(k, 413, NULL);
            return;
        }
        k->in = grown;
        k->in_cap = cap;
    }

    n = read(k->fd, k->in + k->in_len, k->in_cap - k->in_len - 1);
    if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
        return;
    }
    if (n <= 0) {
        mim_cb_close(cb, k);
        return;
    }

    k->in_len += (size_t) n;
    k->in[k->in_len] = '\0';
    mim_cb_progress(cb, k);
}

static void
mim_cb_write(mim_cb_t *cb, mim_cb_conn_t *k)
{
    ssize_t  n;

    n = send(k->fd, k->out + k->out_sent, k->out_len - k->out_sent,
             MSG_NOSIGNAL);
    if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
        return;
    }

    if (n > 0) {
        k->out_sent += (size_t) n;
    }

    if (n <= 0 || k->out_sent == k->out_len) {
        shutdown(k->fd, SHUT_WR);
        mim_cb_close(cb, k);
    }
}

static void
mim_cb_accept(mim_cb_t *cb)
{
    size_t  i;
    int     fd;

    for (i = 0; i < MIM_CB_CONNS; i++) {
        if (cb->conns[i].fd < 0) {
            break;
        }
    }

    fd = accept4(cb->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
        return;
    }

    if (i == MIM_CB_CONNS) {
        close(fd);                  /* busy: the provider retries */
        return;
    }

    memset(&cb->conns[i], 0, sizeof(cb->conns[i]));
    cb->conns[i].fd = fd;
    cb->conns[i].deadline = mim_cb_now() + MIM_CB_IDLE_MS;
}

/* one round of poll(); returns 0 to go on, 1 when done */
static int
mim_cb_round(mim_cb_t *cb, int64_t *drain_until)
{
    struct pollfd   pfd[MIM_CB_CONNS + 2];
    mim_cb_conn_t  *k;
    int64_t         now;
    size_t          i, n = 0, busy = 0, writing = 0;
    char            drain[64];

    pfd[n].fd = cb->wake[0];
    pfd[n++].events = POLLIN;
    pfd[n].fd = *drain_until ? -1 : cb->fd;
    pfd[n++].events = POLLIN;

    for (i = 0; i < MIM_CB_CONNS; i++) {
        k = &cb->conns[i];
        pfd[n].fd = k->fd;
        pfd[n++].events = k->out ? POLLOUT : POLLIN;
        busy += k->fd >= 0;
        writing += k->fd >= 0 && k->out != NULL;
    }

    now = mim_cb_now();
    if (*drain_until && (writing == 0 || now >= *drain_until)) {
        return 1;
    }

    if (poll(pfd, n, busy ? 100 : 250) < 0 && errno != EINTR) {
        return 1;
    }

    if (pfd[0].revents & POLLIN) {
        while (read(cb->wake[0], drain, sizeof(drain)) > 0) {
            /* void */
        }
        *drain_until = mim_cb_now() + MIM_CB_DRAIN_MS;
    }

    if (pfd[1].revents & POLLIN) {
        mim_cb_accept(cb);
    }

    now = mim_cb_now();

    for (i = 0; i < MIM_CB_CONNS; i++) {
        k = &cb->conns[i];

        if (k->fd >= 0 && pfd[i + 2].fd == k->fd && pfd[i + 2].revents) {
            if (k->out) {
                mim_cb_write(cb, k);
            } else {
                mim_cb_read(cb, k);
            }
        }

        if (k->fd >= 0 && now > k->deadline) {
            mim_cb_close(cb, k);
        }
    }

    return 0;
}

static void *
mim_cb_loop(void *arg)
{
    mim_cb_t  *cb = arg;
    int64_t    drain_until = 0;
    size_t     i;

    while (mim_cb_round(cb, &drain_until) == 0) {
        /* void */
    }

    for (i = 0; i < MIM_CB_CONNS; i++) {
        if (cb->conns[i].fd >= 0) {
            mim_cb_close(cb, &cb->conns[i]);
        }
    }

    return NULL;
}

/* ---- the listener ---- */

/* "HOST:PORT" or "[V6]:PORT" -> a listening socket */
static mim_result_t
mim_cb_listen(mim_cb_t *cb, const char *listen_on, char *host, size_t hlen,
    int *port)
{
    struct addrinfo          hints, *ai = NULL;
    struct sockaddr_storage  sa;
    socklen_t                salen = sizeof(sa);
    const char              *colon;
    char                     h[256];
    int                      one = 1, rc;

    colon = strrchr(listen_on, ':');
    if (colon == NULL || colon == listen_on || colon[1] == '\0'
        || (size_t) (colon - listen_on) >= sizeof(h))
    {
        return mim_result_err(MIM_ERR_INVALID, "--callback-listen %.100s: "
                              "HOST:PORT expected", listen_on);
    }

    snprintf(h, sizeof(h), "%.*s", (int) (colon - listen_on), listen_on);
    snprintf(host, hlen, "%s", h);
    if (h[0] == '[' && h[strlen(h) - 1] == ']') {
        memmove(h, h + 1, strlen(h));
        h[strlen(h) - 1] = '\0';
    }

    memset(&hints, 0, sizeof(hints));
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    rc = getaddrinfo(h, colon + 1, &hints, &ai);
    if (rc != 0) {
        return mim_result_err(MIM_ERR_INVALID, "--callback-listen %.100s: "
                              "%s", listen_on, gai_strerror(rc));
    }

    cb->fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK,
                    0);
    if (cb->fd >= 0) {
        setsockopt(cb->fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    }

    rc = cb->fd >= 0
         && bind(cb->fd, ai->ai_addr, ai->ai_addrlen) == 0
         && listen(cb->fd, 64) == 0
         && getsockname(cb->fd, (struct sockaddr *) &sa, &salen) == 0;
    freeaddrinfo(ai);

    if (!rc) {
        return mim_result_err(MIM_ERR_IO, "cannot listen on %.100s: %s",
                              listen_on, strerror(errno));
    }

    *port = ntohs(sa.ss_family == AF_INET6
                  ? ((struct sockaddr_in6 *) &sa)->sin6_port
                  : ((struct sockaddr_in *) &sa)->sin_port);
    return mim_result_ok();
}

/* the path of the callback URL, no final '/' ("" for none) */
static mim_result_t
mim_cb_prefix(mim_cb_t *cb)
{
    CURLU      *u = curl_url();
    CURLUcode   code = CURLUE_OUT_OF_MEMORY;
    char       *path = NULL, *q = NULL;
    size_t      n;

    if (u != NULL) {
        code = curl_url_set(u, CURLUPART_URL, cb->url, 0);
    }
    if (code == CURLUE_OK) {
        code = curl_url_get(u, CURLUPART_PATH, &path, 0);
    }
    if (code == CURLUE_OK
        && curl_url_get(u, CURLUPART_QUERY, &q, 0) == CURLUE_OK)
    {
        code = CURLUE_MALFORMED_INPUT;
    }

    if (code == CURLUE_OK) {
        cb->prefix = mim_cb_clean_path(path);
        n = cb->prefix ? strlen(cb->prefix) : 0;
        if (n == 1) {
            cb->prefix[0] = '\0';       /* "/" */
        }
    }

    curl_free(path);
    curl_free(q);
    curl_url_cleanup(u);

    if (code != CURLUE_OK || !mim_http_is_url(cb->url)) {
        return mim_result_err(MIM_ERR_INVALID, "--callback-url %.200s: not "
                              "an http(s) URL without query", cb->url);
    }

    return cb->prefix ? mim_result_ok()
                      : mim_result_err(MIM_ERR_NOMEM, "out of memory");
}

static mim_result_t
mim_cb_url_of(mim_cb_t *cb, const char *public_url, const char *host,
    int port)
{
    size_t  n;

    if (public_url != NULL) {
        cb->url = strdup(public_url);
        n = cb->url ? strlen(cb->url) : 0;
        while (n > 0 && cb->url[n - 1] == '/') {
            cb->url[--n] = '\0';
        }

    } else if (strcmp(host, "0.0.0.0") == 0 || strcmp(host, "[::]") == 0
               || strcmp(host, "*") == 0)
    {
        return mim_result_err(MIM_ERR_INVALID, "listening on %s: give "
                              "--callback-url (the address providers "
                              "reach)", host);
    } else {
        cb->url = mim_sprintf("http://%s:%d", host, port);
    }

    if (cb->url == NULL) {
        return mim_result_err(MIM_ERR_NOMEM, "out of memory");
    }

    return mim_cb_prefix(cb);
}

mim_result_t
mim_cb_start(mim_cb_t **out, const char *listen_on, const char *public_url)
{
    mim_result_t   rc;
    mim_cb_t      *cb;
    size_t         i;
    char           host[256];
    int            port = 0;

    *out = NULL;

    cb = calloc(1, sizeof(*cb));
    if (cb == NULL) {
        return mim_result_err(MIM_ERR_NOMEM, "out of memory");
    }

    cb->fd = -1;
    cb->wake[0] = cb->wake[1] = -1;
    pthread_mutex_init(&cb->lock, NULL);
    pthread_cond_init(&cb->cond, NULL);
    for (i = 0; i < MIM_CB_CONNS; i++) {
        cb->conns[i].fd = -1;
    }

    rc = mim_cb_listen(cb, listen_on, host, sizeof(host), &port);
    if (mim_ok(rc)) {
        rc = mim_cb_url_of(cb, public_url, host, port);
    }
    if (mim_ok(rc) && pipe2(cb->wake, O_NONBLOCK | O_CLOEXEC) != 0) {
        rc = mim_result_err(MIM_ERR_IO, "pipe: %s", strerror(errno));
    }
    if (mim_ok(rc) && pthread_create(&cb->thread, NULL, mim_cb_loop, cb)
                      != 0)
    {
        rc = mim_result_err(MIM_ERR_IO, "cannot start the listener thread");
    }

    if (!mim_ok(rc)) {
        mim_cb_stop(cb);
        return rc;
    }

    cb->started = 1;
    *out = cb;
    return rc;
}

const char *
mim_cb_url(const mim_cb_t *cb)
{
    return cb->url;
}

mim_result_t
mim_cb_expect(mim_cb_t *cb, mim_cb_kind_t kind, const char *pid)
{
    mim_cb_pid_t  *p;

    p = calloc(1, sizeof(*p));
    if (p == NULL || (p->pid = strdup(pid)) == NULL) {
        free(p);
        return mim_result_err(MIM_ERR_NOMEM, "out of memory");
    }

    p->kind = kind;

    pthread_mutex_lock(&cb->lock);
    p->next = cb->pids;
    cb->pids = p;
    pthread_mutex_unlock(&cb->lock);

    return mim_result_ok();
}

mim_result_t
mim_cb_bind(mim_cb_t *cb, mim_cb_kind_t kind, const char *pid,
    const char *provider_pid)
{
    mim_cb_pid_t  *p;
    char          *copy = strdup(provider_pid);

    if (copy == NULL) {
        return mim_result_err(MIM_ERR_NOMEM, "out of memory");
    }

    pthread_mutex_lock(&cb->lock);
    for (p = cb->pids; p != NULL; p = p->next) {
        if (p->kind == kind && strcmp(p->pid, pid) == 0) {
            free(p->provider_pid);
            p->provider_pid = copy;
            copy = NULL;
            break;
        }
    }
    pthread_mutex_unlock(&cb->lock);

    free(copy);
    return mim_result_ok();
}

/* take the first queued message for (kind, pid); called locked */
static mim_cb_msg_t *
mim_cb_take(mim_cb_t *cb, mim_cb_kind_t kind, const char *pid)
{
    mim_cb_msg_t  **p, *m;

    for (p = &cb->queue; *p != NULL; p = &(*p)->next) {
        if ((*p)->kind == kind && strcmp((*p)->pid, pid) == 0) {
            m = *p;
            *p = m->next;
            m->next = NULL;
            return m;
        }
    }

    return NULL;
}

mim_cb_msg_t *
mim_cb_wait(mim_cb_t *cb, mim_cb_kind_t kind, const char *pid,
    long timeout_ms)
{
    struct timespec   until;
    mim_cb_msg_t     *m;
    int               rc = 0;

    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += timeout_ms / 1000;
    until.tv_nsec += (timeout_ms % 1000) * 1000000L;
    if (until.tv_nsec >= 1000000000L) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000L;
    }

    pthread_mutex_lock(&cb->lock);
    while ((m = mim_cb_take(cb, kind, pid)) == NULL && rc != ETIMEDOUT) {
        rc = pthread_cond_timedwait(&cb->cond, &cb->lock, &until);
    }
    pthread_mutex_unlock(&cb->lock);

    return m;
}

void
mim_cb_stop(mim_cb_t *cb)
{
    mim_cb_pid_t  *p;
    mim_cb_msg_t  *m;

    if (cb == NULL) {
        return;
    }

    if (cb->started) {
        if (write(cb->wake[1], "x", 1) < 0) {
            /* EAGAIN: the pipe is full, so the loop is woken anyway */
        }
        pthread_join(cb->thread, NULL);
    }

    if (cb->fd >= 0) {
        close(cb->fd);
    }
    if (cb->wake[0] >= 0) {
        close(cb->wake[0]);
        close(cb->wake[1]);
    }

    while ((p = cb->pids) != NULL) {
        cb->pids = p->next;
        free(p->pid);
        free(p->provider_pid);
        free(p);
    }

    while ((m = cb->queue) != NULL) {
        cb->queue = m->next;
        mim_cb_msg_free(m);
    }

    pthread_mutex_destroy(&cb->lock);
    pthread_cond_destroy(&cb->cond);
    free(cb->url);
    free(cb->prefix);
    free(cb);
}
