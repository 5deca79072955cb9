/*
 * bench/dsp_negotiate.c - complete Dataspace Protocol contract negotiations
 * against the gateway, as fast as it finishes them (bench/dsp.sh).
 *
 *   dsp_negotiate HOST:PORT[/BASE] TOKEN DATASET OFFER CALLBACK_PORT
 *                 CONCURRENCY SECONDS [MAX]
 *
 * CONCURRENCY negotiations are kept in flight, each on a keep-alive
 * HTTP/1.1 connection of its own to the gateway (BASE defaults to /dsp):
 *
 *   POST BASE/negotiations/request              -> 201, providerPid
 *   (callback)  POST /cb/negotiations/CPID/agreement   <- the gateway
 *   POST BASE/negotiations/PID/agreement/verification  -> 200
 *   (callback)  POST /cb/negotiations/CPID/events  FINALIZED
 *
 * A negotiation is complete when both the 200 of the verification and the
 * FINALIZED event arrived (in either order; likewise the agreement may
 * arrive before the 201).  The callbacks are served on
 * 127.0.0.1:CALLBACK_PORT: every POST gets 200.  New negotiations start for
 * SECONDS (or until MAX were started, when MAX > 0); then the ones in flight
 * are given up to 15 s to finish; a negotiation not complete after 20 s
 * fails ("timeout"), as does any other answer or callback than the ones
 * above (a termination, say).  Each consumerPid is a urn:uuid naming the
 * run, the slot and the slot's negotiation number, so that a callback finds
 * its negotiation without a table.  Printed: completed negotiations, failures
 * by kind, negotiations/s (completed within the SECONDS / SECONDS), latency
 * p50/p99 from sending the request to receiving FINALIZED, and the
 * providerPid of the last completed one.  Exit status 0 when at least one
 * negotiation completed and none failed, 1 otherwise, 2 on bad usage or a
 * setup error.
 *
 * A benchmark driver, not a parser of untrusted input: it reads just
 * enough HTTP (status line or request line, Content-Length, chunked
 * bodies from the gateway) and finds JSON members by string search, but
 * every buffer is bounded.  epoll, non-blocking sockets, libc only.
 */

#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define GW_OUT_MAX      16384           /* one request to the gateway */
#define GW_IN_MAX       65536           /* one answer of the gateway */
#define CB_IN_MAX       65536           /* one callback request */
#define PID_MAX         256
#define TOKEN_MAX       8192
#define ID_MAX          1024
#define KINDS_MAX       64
#define DETAILS_PER_KIND 2              /* failures described on stderr */
#define NEG_TIMEOUT_MS  20000           /* a negotiation taking longer fails */
#define DRAIN_MS        15000           /* after SECONDS, for the last ones */
#define CONCURRENCY_MAX 1024            /* slots take ~150 KiB each */


/* ---- time ------------------------------------------------------------- */

static double
now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

/* ---- failures by kind ---------------------------------------------------- */

static struct {
    char      name[64];
    uint64_t  count;
} kinds[KINDS_MAX];
static size_t    nkinds;
static uint64_t  failures;

/* detail (dlen bytes, or up to a NUL when dlen is NOLEN) goes to stderr */
#define NOLEN  ((size_t) -1)

static void
fail_kind(const char *detail, size_t dlen, const char *fmt, ...)
{
    char     name[64];
    size_t   i;
    va_list  ap;

    va_start(ap, fmt);
    vsnprintf(name, sizeof(name), fmt, ap);
    va_end(ap);
    failures++;
    for (i = 0; i < nkinds; i++) {
        if (strcmp(kinds[i].name, name) == 0) {
            break;
        }
    }
    if (i == nkinds) {
        if (nkinds == KINDS_MAX) {
            i = KINDS_MAX - 1;      /* the last one collects the rest */
        } else {
            snprintf(kinds[i].name, sizeof(kinds[i].name), "%s", name);
            nkinds++;
        }
    }
    kinds[i].count++;
    if (kinds[i].count <= DETAILS_PER_KIND && detail != NULL) {
        if (dlen == NOLEN) {
            dlen = strlen(detail);
        }
        fprintf(stderr, "dsp_negotiate: failure %s: %.*s\n", name,
                (int) (dlen < 1500 ? dlen : 1500), detail);
    }
}

/* ---- latencies -------------------------------------------------------- */

static double   *lat;
static size_t    nlat, caplat;

static void
lat_add(double ms)
{
    double  *p;

    if (nlat == caplat) {
        if (caplat >= (size_t) 1 << 26) {
            return;                 /* 64M samples: enough */
        }
        caplat = caplat ? caplat * 2 : 65536;
        p = realloc(lat, caplat * sizeof(double));
        if (p == NULL) {
            fprintf(stderr, "dsp_negotiate: out of memory\n");
            exit(2);
        }
        lat = p;
    }
    lat[nlat++] = ms;
}

static int
cmp_double(const void *a, const void *b)
{
    double  x = *(const double *) a, y = *(const double *) b;

    return (x > y) - (x < y);
}

static double
percentile(double q)
{
    size_t  i;

    if (nlat == 0) {
        return 0;
    }
    i = (size_t) (q * (double) (nlat - 1) + 0.5);
    return lat[i < nlat ? i : nlat - 1];
}

/* ---- small string helpers ----------------------------------------------- */

/* memmem for a C string needle */
static const char *
find(const char *hay, size_t len, const char *needle)
{
    return memmem(hay, len, needle, strlen(needle));
}

/*
 * The string value of "name" in a JSON text (first occurrence), copied to
 * out (size outsz); 0 when found and it fits and has no escapes, -1 else.
 */
static int
json_string(const char *json, size_t len, const char *name, char *out,
    size_t outsz)
{
    char         key[80];
    const char  *p, *end = json + len, *q;
    size_t       n;

    snprintf(key, sizeof(key), "\"%s\"", name);
    p = find(json, len, key);
    if (p == NULL) {
        return -1;
    }
    p += strlen(key);
    while (p < end && (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n')) {
        p++;
    }
    if (p == end || *p != ':') {
        return -1;
    }
    p++;
    while (p < end && (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n')) {
        p++;
    }
    if (p == end || *p != '"') {
        return -1;
    }
    p++;
    q = memchr(p, '"', (size_t) (end - p));
    if (q == NULL || memchr(p, '\\', (size_t) (q - p)) != NULL) {
        return -1;
    }
    n = (size_t) (q - p);
    if (n >= outsz) {
        return -1;
    }
    memcpy(out, p, n);
    out[n] = '\0';
    return 0;
}

/* the value of header name (case-insensitive) in head[0..len), or NULL */
static const char *
header(const char *head, size_t len, const char *name, size_t *vlen)
{
    const char  *p = head, *end = head + len, *eol, *v;
    size_t       n = strlen(name);

    /* skip the first line */
    p = memchr(p, '\n', len);
    if (p == NULL) {
        return NULL;
    }
    for (p++; p < end; p = eol + 1) {
        eol = memchr(p, '\n', (size_t) (end - p));
        if (eol == NULL) {
            eol = end;
        }
        if ((size_t) (eol - p) > n && p[n] == ':'
            && strncasecmp(p, name, n) == 0)
        {
            v = p + n + 1;
            while (v < eol && (*v == ' ' || *v == '\t')) {
                v++;
            }
            *vlen = (size_t) (eol - v);
            while (*vlen > 0 && (v[*vlen - 1] == '\r' || v[*vlen - 1] == ' ')) {
                (*vlen)--;
            }
            return v;
        }
    }
    return NULL;
}

static int
header_has(const char *head, size_t len, const char *name, const char *token)
{
    size_t       vlen;
    const char  *v = header(head, len, name, &vlen);
    size_t       t = strlen(token), i;

    if (v == NULL) {
        return 0;
    }
    for (i = 0; i + t <= vlen; i++) {
        if (strncasecmp(v + i, token, t) == 0) {
            return 1;
        }
    }
    return 0;
}

/* Content-Length: 0 and *n set, 1 when absent, -1 when malformed */
static int
content_length(const char *head, size_t len, size_t *n)
{
    size_t       vlen, i;
    const char  *v = header(head, len, "Content-Length", &vlen);

    if (v == NULL) {
        return 1;
    }
    if (vlen == 0 || vlen > 9) {
        return -1;
    }
    *n = 0;
    for (i = 0; i < vlen; i++) {
        if (v[i] < '0' || v[i] > '9') {
            return -1;
        }
        *n = *n * 10 + (size_t) (v[i] - '0');
    }
    return 0;
}

/*
 * A chunked body starting at p (len bytes so far): 1 when complete (the
 * data copied to out, *outlen set; *used = bytes consumed), 0 when more is
 * needed, -1 when malformed or over outsz.
 */
static int
dechunk(const char *p, size_t len, char *out, size_t outsz, size_t *outlen,
    size_t *used)
{
    size_t       off = 0, size, o = 0;
    const char  *eol;
    int          digits;

    for ( ;; ) {
        eol = memchr(p + off, '\n', len - off);
        if (eol == NULL) {
            return len - off > 64 ? -1 : 0;
        }
        size = 0;
        digits = 0;
        while (p + off < eol) {
            char c = p[off];
            int  d = (c >= '0' && c <= '9') ? c - '0'
                   : (c >= 'a' && c <= 'f') ? c - 'a' + 10
                   : (c >= 'A' && c <= 'F') ? c - 'A' + 10 : -1;
            if (d < 0) {
                break;              /* ";ext" or "\r" */
            }
            if (++digits > 8) {
                return -1;
            }
            size = size * 16 + (size_t) d;
            off++;
        }
        if (digits == 0) {
            return -1;
        }
        off = (size_t) (eol - p) + 1;
        if (size == 0) {
            /* no trailers expected: "\r\n" ends it */
            if (len - off < 2) {
                return 0;
            }
            if (p[off] == '\r' && p[off + 1] == '\n') {
                *outlen = o;
                *used = off + 2;
                return 1;
            }
            return -1;
        }
        if (o + size >= outsz) {
            return -1;
        }
        if (len - off < size + 2) {
            return 0;
        }
        memcpy(out + o, p + off, size);
        o += size;
        off += size + 2;
    }
}

/* ---- configuration ------------------------------------------------------ */

static char          gw_host[256];
static char          gw_base[256] = "/dsp";
static struct sockaddr_in gw_addr;
static char          token[TOKEN_MAX];
static char          dataset[ID_MAX];
static char          offer[ID_MAX];
static int           cb_port;
static int           concurrency;
static double        duration_ms;
static uint64_t      max_negs;
static int           epfd;
static uint32_t      run_id;

/*
 * epoll data: the listener is LISTEN_TAG; a gateway connection is GW_TAG |
 * its connection's generation << 32 | slot index, so that an event of a
 * connection closed meanwhile (in the same epoll_wait batch) is recognised
 * and dropped even when the new connection got the same fd; a callback
 * connection is its cb_t pointer (freed only by its own events).
 */
#define LISTEN_TAG  1ULL
#define GW_TAG      (1ULL << 63)

/* ---- the negotiations: one slot each, with its gateway connection -------- */

enum { GW_CLOSED, GW_CONNECTING, GW_SENDING, GW_READING, GW_IDLE };
enum { REQ_NONE, REQ_REQUEST, REQ_VERIFY };

typedef struct {
    int        index;
    int        fd;
    uint32_t   gen;                 /* of the connection */
    int        state;               /* GW_* */
    int        req;                 /* REQ_*: what is in flight */
    int        close_after;         /* the answer said Connection: close */
    char       out[GW_OUT_MAX];
    size_t     out_len, out_off;
    char       in[GW_IN_MAX];
    size_t     in_len;
    char       body[GW_IN_MAX];

    /* the negotiation */
    int        active;
    uint32_t   seq;
    double     started;
    char       cpid[PID_MAX];
    char       ppid[PID_MAX];
    int        got_201, got_agreement, verify_sent, got_200, got_final;
} slot_t;

typedef struct {
    int         fd;
    char        in[CB_IN_MAX];
    size_t      in_len;
    const char *out;
    size_t      out_len, out_off;
    int         close_after;
} cb_t;

static slot_t    *slots;
static int        running = 1;
static double     t0, t_end;
static uint64_t   started, completed, completed_in_window, stale_callbacks;
static char       last_ppid[PID_MAX];

static void neg_start(slot_t *s);
static void gw_send(slot_t *s);

static void
ep_ctl(int op, int fd, uint64_t data, uint32_t events)
{
    struct epoll_event  ev;

    ev.events = events;
    ev.data.u64 = data;
    if (epoll_ctl(epfd, op, fd, &ev) < 0) {
        perror("dsp_negotiate: epoll_ctl");
        exit(2);
    }
}

static uint64_t
gw_tag(slot_t *s)
{
    return GW_TAG | (uint64_t) (s->gen & 0x7fffffff) << 32
           | (uint32_t) s->index;
}

static void
gw_close(slot_t *s)
{
    if (s->fd >= 0) {
        close(s->fd);               /* leaves the epoll set with it */
        s->fd = -1;
    }
    s->state = GW_CLOSED;
    s->req = REQ_NONE;
    s->in_len = 0;
    s->close_after = 0;
}

/* the negotiation of s failed: count it, start the next one */
static void
neg_fail(slot_t *s, const char *detail, size_t dlen, const char *fmt, ...)
{
    char     name[64];
    va_list  ap;

    va_start(ap, fmt);
    vsnprintf(name, sizeof(name), fmt, ap);
    va_end(ap);
    fail_kind(detail, dlen, "%s", name);
    if (s->state != GW_CLOSED && s->state != GW_IDLE) {
        gw_close(s);                /* an answer would be for nobody */
    }
    s->active = 0;
    neg_start(s);
}

static void
neg_complete(slot_t *s)
{
    double  t = now_ms();

    lat_add(t - s->started);
    completed++;
    if (t <= t_end) {
        completed_in_window++;
    }
    memcpy(last_ppid, s->ppid, sizeof(last_ppid));
    s->active = 0;
    neg_start(s);
}

static int
gw_connect(slot_t *s)
{
    int  fd, one = 1;

    fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        return -1;
    }
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    if (connect(fd, (struct sockaddr *) &gw_addr, sizeof(gw_addr)) < 0
        && errno != EINPROGRESS)
    {
        close(fd);
        return -1;
    }
    s->fd = fd;
    s->gen++;
    s->state = GW_CONNECTING;
    s->in_len = 0;
    s->close_after = 0;
    ep_ctl(EPOLL_CTL_ADD, fd, gw_tag(s), EPOLLOUT);
    return 0;
}

/* queue one POST of body to BASE + path on s's connection and send it */
static int
gw_post(slot_t *s, int req, const char *path, const char *body, size_t blen)
{
    int  n;

    n = snprintf(s->out, sizeof(s->out),
                 "POST %s%s HTTP/1.1\r\n"
                 "Host: %s\r\n"
                 "Authorization: Bearer %s\r\n"
                 "Content-Type: application/json\r\n"
                 "Content-Length: %zu\r\n"
                 "\r\n", gw_base, path, gw_host, token, blen);
    if (n < 0 || (size_t) n + blen > sizeof(s->out)) {
        return -1;
    }
    memcpy(s->out + n, body, blen);
    s->out_len = (size_t) n + blen;
    s->out_off = 0;
    s->req = req;
    if (s->state == GW_CLOSED) {
        return gw_connect(s);       /* sent once connected */
    }
    s->state = GW_SENDING;
    gw_send(s);
    return 0;
}

static void
send_request(slot_t *s)
{
    char  body[4096];
    int   n;

    n = snprintf(body, sizeof(body),
                 "{\"@context\":[\"https://w3id.org/dspace/2025/1/"
                 "context.jsonld\"],\"@type\":\"ContractRequestMessage\","
                 "\"consumerPid\":\"%s\","
                 "\"offer\":{\"@id\":\"%s\",\"@type\":\"Offer\","
                 "\"target\":\"%s\",\"permission\":[{\"action\":\"use\"}]},"
                 "\"callbackAddress\":\"http://127.0.0.1:%d/cb\"}",
                 s->cpid, offer, dataset, cb_port);
    if (n < 0 || (size_t) n >= sizeof(body)
        || gw_post(s, REQ_REQUEST, "/negotiations/request", body,
                   (size_t) n) < 0)
    {
        neg_fail(s, strerror(errno), NOLEN, "gateway-connect");
    }
}

static void
send_verify(slot_t *s)
{
    char  body[1024], path[PID_MAX + 64];
    int   n;

    s->verify_sent = 1;
    n = snprintf(body, sizeof(body),
                 "{\"@context\":[\"https://w3id.org/dspace/2025/1/"
                 "context.jsonld\"],"
                 "\"@type\":\"ContractAgreementVerificationMessage\","
                 "\"providerPid\":\"%s\",\"consumerPid\":\"%s\"}",
                 s->ppid, s->cpid);
    snprintf(path, sizeof(path), "/negotiations/%s/agreement/verification",
             s->ppid);
    if (n < 0 || (size_t) n >= sizeof(body)
        || gw_post(s, REQ_VERIFY, path, body, (size_t) n) < 0)
    {
        neg_fail(s, strerror(errno), NOLEN, "gateway-connect");
    }
}

/* a fresh consumerPid (a urn:uuid) naming the run, the slot and the
   negotiation's number in the slot */
static void
make_cpid(slot_t *s)
{
    snprintf(s->cpid, sizeof(s->cpid),
             "urn:uuid:%08" PRIx32 "-%04x-4000-8000-%012" PRIx64,
             run_id, (unsigned) s->index, (uint64_t) s->seq);
}

static int
parse_cpid(const char *cpid, int *index, uint32_t *seq)
{
    unsigned  rid, ix;
    uint64_t  sq;
    int       n = 0;

    if (strlen(cpid) != 45
        || sscanf(cpid, "urn:uuid:%8x-%4x-4000-8000-%12" SCNx64 "%n",
                  &rid, &ix, &sq, &n) != 3
        || cpid[n] != '\0' || rid != run_id || ix >= (unsigned) concurrency)
    {
        return -1;
    }
    *index = (int) ix;
    *seq = (uint32_t) sq;
    return 0;
}

static void
neg_start(slot_t *s)
{
    if (!running || (max_negs && started >= max_negs)) {
        return;
    }
    started++;
    s->active = 1;
    s->seq++;
    s->started = now_ms();
    s->got_201 = s->got_agreement = s->verify_sent = 0;
    s->got_200 = s->got_final = 0;
    s->ppid[0] = '\0';
    make_cpid(s);
    send_request(s);
}

/* a whole answer of the gateway: status and body */
static void
gw_answer(slot_t *s, int status, const char *body, size_t blen)
{
    int   req = s->req;
    char  ppid[PID_MAX];

    s->req = REQ_NONE;
    s->state = GW_IDLE;
    if (s->close_after) {
        gw_close(s);
    }
    if (!s->active) {
        return;
    }
    if (req == REQ_REQUEST) {
        if (status != 201) {
            neg_fail(s, body, blen, "request-%d", status);
            return;
        }
        if (json_string(body, blen, "providerPid", ppid, sizeof(ppid)) < 0) {
            neg_fail(s, body, blen, "request-no-providerPid");
            return;
        }
        if (s->ppid[0] != '\0' && strcmp(s->ppid, ppid) != 0) {
            neg_fail(s, body, blen, "providerPid-mismatch");
            return;
        }
        memcpy(s->ppid, ppid, sizeof(ppid));
        s->got_201 = 1;
        if (s->got_agreement && !s->verify_sent) {
            send_verify(s);
        }
        return;
    }
    if (req == REQ_VERIFY) {
        if (status != 200) {
            neg_fail(s, body, blen, "verification-%d", status);
            return;
        }
        s->got_200 = 1;
        if (s->got_final) {
            neg_complete(s);
        }
    }
}

/*
 * Parse what s->in holds: 1 when an answer was handled, 0 when it is not
 * complete yet, -1 when the negotiation failed on it (the connection was
 * closed).  After 1 or -1, s may be on a new request or connection.
 */
static int
gw_parse(slot_t *s)
{
    const char  *eoh;
    size_t       hlen, clen = 0, blen, used;
    int          status, r;

    eoh = find(s->in, s->in_len, "\r\n\r\n");
    if (eoh == NULL) {
        if (s->in_len == sizeof(s->in)) {
            neg_fail(s, NULL, 0, "gateway-answer-too-large");
            return -1;
        }
        return 0;
    }
    hlen = (size_t) (eoh - s->in) + 4;
    if (hlen < 16 || strncmp(s->in, "HTTP/1.", 7) != 0
        || sscanf(s->in + 9, "%3d", &status) != 1)
    {
        neg_fail(s, s->in, hlen, "gateway-bad-answer");
        return -1;
    }
    s->close_after = header_has(s->in, hlen, "Connection", "close");
    if (header_has(s->in, hlen, "Transfer-Encoding", "chunked")) {
        r = dechunk(s->in + hlen, s->in_len - hlen, s->body,
                    sizeof(s->body), &blen, &used);
        if (r == 0) {
            return 0;
        }
        if (r < 0) {
            neg_fail(s, s->in, s->in_len, "gateway-bad-chunked-answer");
            return -1;
        }
    } else {
        r = content_length(s->in, hlen, &clen);
        if (r != 0 || clen >= sizeof(s->body)) {
            neg_fail(s, s->in, hlen, "gateway-bad-answer-length");
            return -1;
        }
        if (s->in_len - hlen < clen) {
            return 0;
        }
        memcpy(s->body, s->in + hlen, clen);
        blen = clen;
        used = clen;
    }
    s->body[blen] = '\0';
    used += hlen;
    memmove(s->in, s->in + used, s->in_len - used);
    s->in_len -= used;
    gw_answer(s, status, s->body, blen);
    return 1;
}

static void
gw_send(slot_t *s)
{
    ssize_t  n;

    while (s->out_off < s->out_len) {
        n = send(s->fd, s->out + s->out_off, s->out_len - s->out_off,
                 MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EAGAIN) {
                ep_ctl(EPOLL_CTL_MOD, s->fd, gw_tag(s), EPOLLOUT);
                return;
            }
            neg_fail(s, strerror(errno), NOLEN, "gateway-io");
            return;
        }
        s->out_off += (size_t) n;
    }
    s->state = GW_READING;
    ep_ctl(EPOLL_CTL_MOD, s->fd, gw_tag(s), EPOLLIN);
}

static void
gw_event(slot_t *s, uint32_t gen, uint32_t events)
{
    ssize_t    n;
    int        err = 0, r;
    socklen_t  elen = sizeof(err);

    if (s->fd < 0 || (s->gen & 0x7fffffff) != gen) {
        return;                     /* of a connection closed meanwhile */
    }
    if (s->state == GW_CONNECTING) {
        if (getsockopt(s->fd, SOL_SOCKET, SO_ERROR, &err, &elen) < 0 || err) {
            neg_fail(s, strerror(err ? err : errno), NOLEN,
                     "gateway-connect");
            return;
        }
        s->state = GW_SENDING;
        gw_send(s);
        return;
    }
    if (s->state == GW_SENDING) {
        gw_send(s);
        return;
    }

    /* GW_READING, or GW_IDLE (the gateway closing a keep-alive) */
    for ( ;; ) {
        n = recv(s->fd, s->in + s->in_len, sizeof(s->in) - s->in_len, 0);
        if (n < 0 && errno == EAGAIN) {
            return;
        }
        if (n <= 0) {
            err = n < 0 ? errno : 0;
            if (s->req != REQ_NONE) {
                neg_fail(s, n == 0 ? "connection closed by the gateway"
                                   : strerror(err), NOLEN, "gateway-io");
            } else {
                gw_close(s);        /* an idle keep-alive closed */
            }
            return;
        }
        s->in_len += (size_t) n;
        if (s->req == REQ_NONE) {
            fail_kind(s->in, s->in_len, "gateway-unsolicited-answer");
            gw_close(s);
            return;
        }
        r = gw_parse(s);
        if (r != 0) {
            return;     /* handled: whatever is next comes as an event */
        }
        if (s->in_len == sizeof(s->in)) {
            neg_fail(s, NULL, 0, "gateway-answer-too-large");
            return;
        }
    }
}

/* ---- the callback server ------------------------------------------------- */

static const char  answer_200[] =
    "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";
static const char  answer_200_close[] =
    "HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
static const char  answer_400_close[] =
    "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n"
    "Connection: close\r\n\r\n";

static void
cb_close(cb_t *c)
{
    close(c->fd);
    free(c);
}

/* one callback: what it says for which negotiation */
static void
cb_message(const char *path, size_t plen, const char *body, size_t blen)
{
    char         cpid[PID_MAX], ppid[PID_MAX], event[64], what[64];
    const char  *kind;
    slot_t      *s;
    int          index;
    uint32_t     seq;

    if (plen >= 10 && memcmp(path + plen - 10, "/agreement", 10) == 0) {
        kind = "agreement";
    } else if (plen >= 7 && memcmp(path + plen - 7, "/events", 7) == 0) {
        kind = "events";
    } else if (plen >= 12
               && memcmp(path + plen - 12, "/termination", 12) == 0)
    {
        kind = "termination";
    } else {
        fail_kind(path, plen, "callback-unknown-path");
        return;
    }
    if (json_string(body, blen, "consumerPid", cpid, sizeof(cpid)) < 0
        || parse_cpid(cpid, &index, &seq) < 0)
    {
        fail_kind(body, blen, "callback-unknown-consumerPid");
        return;
    }
    s = &slots[index];
    if (!s->active || s->seq != seq) {
        stale_callbacks++;          /* for a negotiation given up */
        return;
    }
    if (json_string(body, blen, "providerPid", ppid, sizeof(ppid)) < 0) {
        neg_fail(s, body, blen, "callback-no-providerPid");
        return;
    }
    if (s->ppid[0] == '\0') {
        memcpy(s->ppid, ppid, sizeof(ppid));
    } else if (strcmp(s->ppid, ppid) != 0) {
        neg_fail(s, body, blen, "callback-providerPid-mismatch");
        return;
    }
    if (kind[0] == 't') {
        if (json_string(body, blen, "code", what, sizeof(what)) < 0) {
            snprintf(what, sizeof(what), "?");
        }
        neg_fail(s, body, blen, "terminated-%s", what);
        return;
    }
    if (kind[0] == 'a') {
        if (s->got_agreement) {
            return;                 /* at least once: a second delivery */
        }
        if (find(body, blen, "\"ContractAgreementMessage\"") == NULL) {
            neg_fail(s, body, blen, "agreement-not-ContractAgreementMessage");
            return;
        }
        s->got_agreement = 1;
        if (s->got_201 && !s->verify_sent) {
            send_verify(s);
        }
        return;
    }
    if (json_string(body, blen, "eventType", event, sizeof(event)) < 0) {
        neg_fail(s, body, blen, "event-without-eventType");
        return;
    }
    if (strcmp(event, "FINALIZED") != 0
        && strcmp(event, "dspace:FINALIZED") != 0)
    {
        neg_fail(s, body, blen, "event-%s", event);
        return;
    }
    if (!s->verify_sent) {
        neg_fail(s, body, blen, "finalized-before-verification");
        return;
    }
    if (s->got_final) {
        return;
    }
    s->got_final = 1;
    if (s->got_200) {
        neg_complete(s);
    }
}

static void
cb_write(cb_t *c)
{
    ssize_t  n;

    while (c->out_off < c->out_len) {
        n = send(c->fd, c->out + c->out_off, c->out_len - c->out_off,
                 MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EAGAIN) {
                ep_ctl(EPOLL_CTL_MOD, c->fd, (uintptr_t) c, EPOLLOUT);
                return;
            }
            cb_close(c);
            return;
        }
        c->out_off += (size_t) n;
    }
    c->out = NULL;
    if (c->close_after) {
        cb_close(c);
        return;
    }
    ep_ctl(EPOLL_CTL_MOD, c->fd, (uintptr_t) c, EPOLLIN);
}

static void
cb_answer(cb_t *c, const char *answer, int close_after)
{
    c->close_after = close_after;
    c->out = answer;
    c->out_len = strlen(answer);
    c->out_off = 0;
    cb_write(c);
}

/* 1 when a request was answered (c may be gone), 0 when incomplete */
static int
cb_parse(cb_t *c)
{
    const char  *eoh, *sp1, *sp2;
    size_t       hlen, clen = 0, used, plen;
    char         path[1024];
    int          r, close_after;

    eoh = find(c->in, c->in_len, "\r\n\r\n");
    if (eoh == NULL) {
        if (c->in_len == sizeof(c->in)) {
            fail_kind(NULL, 0, "callback-too-large");
            cb_answer(c, answer_400_close, 1);
            return 1;
        }
        return 0;
    }
    hlen = (size_t) (eoh - c->in) + 4;
    sp1 = memchr(c->in, ' ', hlen);
    sp2 = sp1 ? memchr(sp1 + 1, ' ', hlen - (size_t) (sp1 + 1 - c->in))
              : NULL;
    if (sp1 == NULL || sp2 == NULL || strncmp(c->in, "POST ", 5) != 0
        || (plen = (size_t) (sp2 - sp1 - 1)) >= sizeof(path))
    {
        fail_kind(c->in, hlen, "callback-bad-request");
        cb_answer(c, answer_400_close, 1);
        return 1;
    }
    memcpy(path, sp1 + 1, plen);
    path[plen] = '\0';
    r = content_length(c->in, hlen, &clen);
    if (r != 0 || clen > sizeof(c->in) - hlen) {
        fail_kind(c->in, hlen, r == 0 ? "callback-too-large"
                                      : "callback-no-content-length");
        cb_answer(c, answer_400_close, 1);
        return 1;
    }
    if (c->in_len - hlen < clen) {
        return 0;
    }
    close_after = header_has(c->in, hlen, "Connection", "close")
                  || strncmp(sp2 + 1, "HTTP/1.0", 8) == 0;
    cb_message(path, plen, c->in + hlen, clen);
    used = hlen + clen;
    memmove(c->in, c->in + used, c->in_len - used);
    c->in_len -= used;
    cb_answer(c, close_after ? answer_200_close : answer_200, close_after);
    return 1;
}

static void
cb_event(cb_t *c, uint32_t events)
{
    ssize_t  n;

    if (c->out != NULL) {
        cb_write(c);
        return;
    }
    for ( ;; ) {
        n = recv(c->fd, c->in + c->in_len, sizeof(c->in) - c->in_len, 0);
        if (n < 0 && errno == EAGAIN) {
            return;
        }
        if (n <= 0) {
            cb_close(c);
            return;
        }
        c->in_len += (size_t) n;
        if (cb_parse(c)) {
            return;     /* answered (c may be gone); more comes as events */
        }
    }
}

static int  listen_fd;

static void
cb_accept(void)
{
    int    fd, one = 1;
    cb_t  *c;

    for ( ;; ) {
        fd = accept4(listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno != EAGAIN && errno != EINTR && errno != ECONNABORTED) {
                fail_kind(strerror(errno), NOLEN, "callback-accept");
            }
            return;
        }
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        c = malloc(sizeof(*c));
        if (c == NULL) {
            close(fd);
            fail_kind(NULL, 0, "out-of-memory");
            return;
        }
        c->fd = fd;
        c->in_len = 0;
        c->out = NULL;
        c->out_len = c->out_off = 0;
        c->close_after = 0;
        ep_ctl(EPOLL_CTL_ADD, fd, (uintptr_t) c, EPOLLIN);
    }
}

/* ---- main ------------------------------------------------------------- */

static void
usage(void)
{
    fprintf(stderr,
            "usage: dsp_negotiate HOST:PORT[/BASE] TOKEN DATASET OFFER "
            "CALLBACK_PORT CONCURRENCY SECONDS [MAX]\n");
    exit(2);
}

static long
number(const char *s, long lo, long hi)
{
    char  *end;
    long   v;

    errno = 0;
    v = strtol(s, &end, 10);
    if (errno || *end != '\0' || end == s || v < lo || v > hi) {
        usage();
    }
    return v;
}

/* an argument that goes into JSON strings and header lines as it is */
static void
copy_arg(char *dst, size_t size, const char *src, const char *what)
{
    if (strlen(src) == 0 || strlen(src) >= size
        || strpbrk(src, "\"\\\r\n\t ") != NULL)
    {
        fprintf(stderr, "dsp_negotiate: bad %s\n", what);
        exit(2);
    }
    memcpy(dst, src, strlen(src) + 1);
}

int
main(int argc, char **argv)
{
    struct sockaddr_in  sa;
    struct epoll_event  evs[256];
    const char         *slash, *colon;
    char                host[256];
    int                 i, n, one = 1, active;
    double              t, last_check = 0, window;
    size_t              k;
    uint64_t            d;

    if (argc != 8 && argc != 9) {
        usage();
    }

    /* HOST:PORT[/BASE] */
    slash = strchr(argv[1], '/');
    if (slash != NULL) {
        copy_arg(gw_base, sizeof(gw_base), slash, "base path");
        while (strlen(gw_base) > 0 && gw_base[strlen(gw_base) - 1] == '/') {
            gw_base[strlen(gw_base) - 1] = '\0';
        }
    }
    n = slash ? (int) (slash - argv[1]) : (int) strlen(argv[1]);
    if (n <= 0 || (size_t) n >= sizeof(gw_host)) {
        usage();
    }
    memcpy(gw_host, argv[1], (size_t) n);
    gw_host[n] = '\0';
    colon = strrchr(gw_host, ':');
    if (colon == NULL) {
        usage();
    }
    snprintf(host, sizeof(host), "%.*s", (int) (colon - gw_host), gw_host);
    memset(&gw_addr, 0, sizeof(gw_addr));
    gw_addr.sin_family = AF_INET;
    gw_addr.sin_port = htons((uint16_t) number(colon + 1, 1, 65535));
    if (strcmp(host, "localhost") == 0) {
        snprintf(host, sizeof(host), "127.0.0.1");
    }
    if (inet_pton(AF_INET, host, &gw_addr.sin_addr) != 1) {
        fprintf(stderr, "dsp_negotiate: %s: an IPv4 address, please\n",
                host);
        exit(2);
    }

    copy_arg(token, sizeof(token), argv[2], "token");
    copy_arg(dataset, sizeof(dataset), argv[3], "dataset id");
    copy_arg(offer, sizeof(offer), argv[4], "offer id");
    cb_port = (int) number(argv[5], 1, 65535);
    concurrency = (int) number(argv[6], 1, CONCURRENCY_MAX);
    duration_ms = 1000.0 * (double) number(argv[7], 1, 86400);
    max_negs = argc == 9 ? (uint64_t) number(argv[8], 0, 1L << 40) : 0;

    signal(SIGPIPE, SIG_IGN);
    run_id = (uint32_t) time(NULL) ^ ((uint32_t) getpid() << 16);

    epfd = epoll_create1(EPOLL_CLOEXEC);
    if (epfd < 0) {
        perror("dsp_negotiate: epoll_create1");
        return 2;
    }

    /* the callback server */
    listen_fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (listen_fd < 0) {
        perror("dsp_negotiate: socket");
        return 2;
    }
    setsockopt(listen_fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t) cb_port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(listen_fd, (struct sockaddr *) &sa, sizeof(sa)) < 0
        || listen(listen_fd, 4096) < 0)
    {
        fprintf(stderr, "dsp_negotiate: callback server on 127.0.0.1:%d: "
                "%s\n", cb_port, strerror(errno));
        return 2;
    }
    ep_ctl(EPOLL_CTL_ADD, listen_fd, LISTEN_TAG, EPOLLIN);

    slots = calloc((size_t) concurrency, sizeof(slot_t));
    if (slots == NULL) {
        fprintf(stderr, "dsp_negotiate: out of memory\n");
        return 2;
    }

    t0 = now_ms();
    t_end = t0 + duration_ms;
    for (i = 0; i < concurrency; i++) {
        slots[i].index = i;
        slots[i].fd = -1;
        neg_start(&slots[i]);
    }

    for ( ;; ) {
        n = epoll_wait(epfd, evs, (int) (sizeof(evs) / sizeof(evs[0])), 20);
        if (n < 0) {
            if (errno != EINTR) {
                perror("dsp_negotiate: epoll_wait");
                return 2;
            }
            n = 0;
        }
        for (i = 0; i < n; i++) {
            d = evs[i].data.u64;
            if (d == LISTEN_TAG) {
                cb_accept();
            } else if (d & GW_TAG) {
                gw_event(&slots[(uint32_t) d], (uint32_t) (d >> 32)
                         & 0x7fffffff, evs[i].events);
            } else {
                cb_event((cb_t *) (uintptr_t) d, evs[i].events);
            }
        }

        t = now_ms();
        if (running && (t >= t_end || (max_negs && started >= max_negs))) {
            running = 0;
            if (t < t_end) {
                t_end = t;          /* MAX started before SECONDS were up */
            }
        }
        if (t - last_check < 50 && running) {
            continue;
        }
        last_check = t;
        active = 0;
        for (i = 0; i < concurrency; i++) {
            slot_t  *s = &slots[i];
            char     detail[PID_MAX + 160];
            int      len;

            if (!s->active) {
                continue;
            }
            if (t - s->started > NEG_TIMEOUT_MS
                || (!running && t - t_end > DRAIN_MS))
            {
                len = snprintf(detail, sizeof(detail),
                               "providerPid %s: 201 %d, agreement %d, "
                               "verification sent %d, 200 %d, FINALIZED %d, "
                               "after %.0f ms",
                               s->ppid[0] ? s->ppid : "(none yet)",
                               s->got_201, s->got_agreement, s->verify_sent,
                               s->got_200, s->got_final, t - s->started);
                neg_fail(s, detail, len > 0 ? (size_t) len : 0, "timeout");
                if (!s->active) {
                    continue;
                }
            }
            active++;
        }
        if (!running && active == 0) {
            break;
        }
    }

    window = (t_end - t0) / 1000.0;
    qsort(lat, nlat, sizeof(double), cmp_double);
    printf("dsp_negotiate: %d in flight, %.0f s, gateway %s%s, callbacks on"
           " 127.0.0.1:%d\n", concurrency, duration_ms / 1000.0, gw_host,
           gw_base, cb_port);
    printf("started        %" PRIu64 "\n", started);
    printf("completed      %" PRIu64 " (%" PRIu64 " within %.2f s, %" PRIu64
           " after)\n", completed, completed_in_window, window,
           completed - completed_in_window);
    printf("failures       %" PRIu64 "\n", failures);
    for (k = 0; k < nkinds; k++) {
        printf("  failure      %-40s %" PRIu64 "\n", kinds[k].name,
               kinds[k].count);
    }
    printf("stale          %" PRIu64 " (callbacks for negotiations given up)"
           "\n", stale_callbacks);
    printf("rate           %.1f negotiations/s\n",
           window > 0 ? (double) completed_in_window / window : 0.0);
    printf("latency        p50 %.2f ms, p99 %.2f ms, max %.2f ms (request"
           " sent to FINALIZED received)\n", percentile(0.50),
           percentile(0.99), nlat ? lat[nlat - 1] : 0.0);
    printf("last           %s\n", last_ppid[0] ? last_ppid : "(none)");
    fflush(stdout);
    return (completed > 0 && failures == 0) ? 0 : 1;
}
