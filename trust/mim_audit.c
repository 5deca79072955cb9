/*
 * mim_audit.c - the hash-chained, signed audit log: records, chaining,
 * checkpoints, resuming a file, and the verifier (docs/audit.md).
 *
 * The writer runs in nginx's log phase: it formats with a table-driven
 * escaper and hashes each line once, no JSON library.  The verifier must
 * read hundreds of thousands of lines a second: a small strict parser
 * takes the few members it needs (seq, type, prev, time and the checkpoint
 * members) and the raw line bytes are hashed; jansson is only used for a
 * checkpoint's protected header.
 */
#define _GNU_SOURCE     /* memrchr */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <jansson.h>

#include "mim_audit.h"
#include "mim_b64.h"
#include "mim_json.h"
#include "mim_trust_int.h"

#define JSON_DEPTH_MAX     32
#define CHAIN_TOKEN_MAX    (MIM_AUDIT_CHAIN_MAX * 6 + 2)
#define PAYLOAD_MAX        (CHAIN_TOKEN_MAX + 160)
#define GAPS_MAX           64
#define ORPHANS_MAX        64

static const char  hex_digits[] = "0123456789abcdef";
static const uint8_t  zero_hash[32];

/* ---- small writers ---- */

void
mim_audit_hex(char dst[MIM_AUDIT_HASH_HEX + 1], const uint8_t h[32])
{
    size_t i;

    for (i = 0; i < 32; i++) {
        dst[2 * i] = hex_digits[h[i] >> 4];
        dst[2 * i + 1] = hex_digits[h[i] & 0x0f];
    }
    dst[MIM_AUDIT_HASH_HEX] = '\0';
}

static char *
put(char *p, const char *s, size_t n)
{
    memcpy(p, s, n);
    return p + n;
}

#define put_lit(p, s)  put(p, s, sizeof(s) - 1)

static char *
put_u64(char *p, uint64_t v)
{
    char tmp[20];
    size_t n = 0;

    do {
        tmp[n++] = (char) ('0' + v % 10);
        v /= 10;
    } while (v != 0);
    while (n > 0) {
        *p++ = tmp[--n];
    }
    return p;
}

static char *
put_i64(char *p, int64_t v)
{
    if (v < 0) {
        *p++ = '-';
        return put_u64(p, (uint64_t) 0 - (uint64_t) v);
    }
    return put_u64(p, (uint64_t) v);
}

/* v as exactly n decimal digits */
static void
put_digits(char *p, int v, int n)
{
    while (n-- > 0) {
        p[n] = (char) ('0' + v % 10);
        v /= 10;
    }
}

void
mim_audit_time(char dst[MIM_AUDIT_TIME_LEN + 1], int64_t ms)
{
    /* the date and time of the last second formatted, per thread */
    static __thread time_t  cached_sec = -1;
    static __thread char    cached[MIM_AUDIT_TIME_LEN + 1];
    struct tm tm;
    time_t sec = (time_t) (ms / 1000);
    int msec = (int) (ms % 1000);

    if (msec < 0) {
        msec += 1000;
        sec--;
    }
    if (sec == cached_sec) {
        memcpy(dst, cached, 20);
        put_digits(dst + 20, msec, 3);
        dst[23] = 'Z';
        dst[24] = '\0';
        return;
    }
    if (gmtime_r(&sec, &tm) == NULL || tm.tm_year + 1900 > 9999
        || tm.tm_year + 1900 < 0)
    {
        memset(&tm, 0, sizeof(tm));
        tm.tm_year = -1900;
        tm.tm_mday = 1;
        msec = 0;
    }
    put_digits(dst, tm.tm_year + 1900, 4);
    dst[4] = '-';
    put_digits(dst + 5, tm.tm_mon + 1, 2);
    dst[7] = '-';
    put_digits(dst + 8, tm.tm_mday, 2);
    dst[10] = 'T';
    put_digits(dst + 11, tm.tm_hour, 2);
    dst[13] = ':';
    put_digits(dst + 14, tm.tm_min, 2);
    dst[16] = ':';
    put_digits(dst + 17, tm.tm_sec, 2);
    dst[19] = '.';
    put_digits(dst + 20, msec, 3);
    dst[23] = 'Z';
    dst[24] = '\0';
    memcpy(cached, dst, sizeof(cached));
    cached_sec = sec;
}

/*
 * A JSON string with quotes.  Control characters and DEL are escaped;
 * bytes that are not UTF-8 are written as \u00XX (their Latin-1 reading),
 * so the line stays valid JSON for every parser.  At most 6 * n + 2 bytes.
 */
static char *
put_json_str(char *p, const char *s, size_t n)
{
    return mim_json_put_str(p, s, n, MIM_JSON_ESC_LATIN1);
}

static char *
put_field_str(char *p, const char *name, size_t name_len,
    const mim_audit_str_t *v)
{
    p = put(p, name, name_len);
    if (v->data == NULL || v->len == 0) {
        return put_lit(p, "null,");
    }
    p = put_json_str(p, v->data, v->len);
    *p++ = ',';
    return p;
}

#define field_str(p, name, v)  put_field_str(p, name, sizeof(name) - 1, v)

/* ---- a strict JSON scanner (RFC 8259, as jansson reads it) ---- */

static const char *
skip_ws(const char *p, const char *end)
{
    while (p < end && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')) {
        p++;
    }
    return p;
}

static int
read_u4(const char *p, const char *end, unsigned *v)
{
    int i, d;

    if (end - p < 4) {
        return 0;
    }
    *v = 0;
    for (i = 0; i < 4; i++) {
        d = mim_hex_value(p[i]);
        if (d < 0) {
            return 0;
        }
        *v = (*v << 4) | (unsigned) d;
    }
    return 1;
}

/*
 * Skip 8 bytes at a time while none of them needs a look: no '"', no
 * '\\', no control character, nothing above 0x7f (the verifier reads
 * mostly plain ASCII strings).
 */
static const char *
skip_plain8(const char *p, const char *end)
{
    const uint64_t ones = 0x0101010101010101ULL;
    const uint64_t highs = 0x8080808080808080ULL;
    uint64_t x, quote, slash;

    while (end - p >= 8) {
        memcpy(&x, p, 8);
        quote = x ^ (ones * '"');
        slash = x ^ (ones * '\\');
        /* a byte < 0x20, a zero byte in quote or slash, or a high bit
           (a false alarm only sends the bytes to the slow loop) */
        if ((((x - ones * 0x20) & ~x) | ((quote - ones) & ~quote)
             | ((slash - ones) & ~slash) | x) & highs)
        {
            return p;
        }
        p += 8;
    }
    return p;
}

/*
 * p at the opening quote: the end of the string (after the closing quote)
 * or NULL.  Control characters, bad escapes, lone surrogates, \u0000 and
 * bytes that are not UTF-8 are refused.  *escaped: a backslash was seen.
 */
static const char *
scan_string(const char *p, const char *end, int *escaped)
{
    const unsigned char *u;
    unsigned cp, lo;
    size_t len;

    *escaped = 0;
    if (p >= end || *p != '"') {
        return NULL;
    }
    for (p++; p < end; ) {
        p = skip_plain8(p, end);
        if (p >= end) {
            break;
        }
        u = (const unsigned char *) p;
        if (mim_json_plain[*u]) {
            p++;
            continue;
        }
        if (*u == '"') {
            return p + 1;
        }
        if (*u == '\\') {
            *escaped = 1;
            if (p + 1 >= end) {
                return NULL;
            }
            switch (p[1]) {
            case '"': case '\\': case '/': case 'b': case 'f': case 'n':
            case 'r': case 't':
                p += 2;
                continue;
            case 'u':
                if (!read_u4(p + 2, end, &cp) || cp == 0) {
                    return NULL;
                }
                p += 6;
                if (cp >= 0xdc00 && cp <= 0xdfff) {
                    return NULL;
                }
                if (cp >= 0xd800 && cp <= 0xdbff) {
                    if (end - p < 6 || p[0] != '\\' || p[1] != 'u'
                        || !read_u4(p + 2, end, &lo)
                        || lo < 0xdc00 || lo > 0xdfff)
                    {
                        return NULL;
                    }
                    p += 6;
                }
                continue;
            default:
                return NULL;
            }
        }
        if (*u < 0x20 || *u == 0x7f) {
            if (*u == 0x7f) {       /* DEL is valid JSON; we never write it */
                p++;
                continue;
            }
            return NULL;
        }
        len = mim_utf8_len(u, (size_t) (end - p));
        if (len == 0) {
            return NULL;
        }
        p += len;
    }
    return NULL;
}

static const char *
scan_number(const char *p, const char *end)
{
    if (p < end && *p == '-') {
        p++;
    }
    if (p >= end) {
        return NULL;
    }
    if (*p == '0') {
        p++;
    } else if (*p >= '1' && *p <= '9') {
        while (p < end && *p >= '0' && *p <= '9') {
            p++;
        }
    } else {
        return NULL;
    }
    if (p < end && *p == '.') {
        p++;
        if (p >= end || *p < '0' || *p > '9') {
            return NULL;
        }
        while (p < end && *p >= '0' && *p <= '9') {
            p++;
        }
    }
    if (p < end && (*p == 'e' || *p == 'E')) {
        p++;
        if (p < end && (*p == '+' || *p == '-')) {
            p++;
        }
        if (p >= end || *p < '0' || *p > '9') {
            return NULL;
        }
        while (p < end && *p >= '0' && *p <= '9') {
            p++;
        }
    }
    return p;
}

static const char *
scan_literal(const char *p, const char *end, const char *word, size_t n)
{
    if ((size_t) (end - p) < n || memcmp(p, word, n) != 0) {
        return NULL;
    }
    return p + n;
}

/* any JSON value at p: its end, or NULL */
static const char *
scan_value(const char *p, const char *end, int depth)
{
    int escaped, first;
    char close;

    if (p >= end || depth > JSON_DEPTH_MAX) {
        return NULL;
    }
    switch (*p) {
    case '"':
        return scan_string(p, end, &escaped);
    case 't':
        return scan_literal(p, end, "true", 4);
    case 'f':
        return scan_literal(p, end, "false", 5);
    case 'n':
        return scan_literal(p, end, "null", 4);
    case '[':
    case '{':
        close = (*p == '[') ? ']' : '}';
        p = skip_ws(p + 1, end);
        for (first = 1; ; first = 0) {
            if (p < end && *p == close && first) {
                return p + 1;
            }
            if (close == '}') {
                p = scan_string(p, end, &escaped);
                if (p == NULL) {
                    return NULL;
                }
                p = skip_ws(p, end);
                if (p >= end || *p != ':') {
                    return NULL;
                }
                p = skip_ws(p + 1, end);
            }
            p = scan_value(p, end, depth + 1);
            if (p == NULL) {
                return NULL;
            }
            p = skip_ws(p, end);
            if (p < end && *p == close) {
                return p + 1;
            }
            if (p >= end || *p != ',') {
                return NULL;
            }
            p = skip_ws(p + 1, end);
        }
    default:
        return scan_number(p, end);
    }
}

/* ---- the writer ---- */

mim_result_t
mim_audit_chain_init(mim_audit_chain_t *c, const char *id, size_t len)
{
    char *p;

    memset(c, 0, sizeof(*c));
    if (len > MIM_AUDIT_CHAIN_MAX) {
        return mim_result_err(MIM_ERR_LIMIT, "chain id longer than %d bytes",
                              MIM_AUDIT_CHAIN_MAX);
    }
    c->chain = malloc(6 * len + 3);
    c->sha = EVP_MD_CTX_new();
    if (c->chain == NULL || c->sha == NULL) {
        mim_audit_chain_free(c);
        return mim_result_err(MIM_ERR_NOMEM, "out of memory");
    }
    p = put_json_str(c->chain, id, len);
    *p = '\0';
    c->chain_len = (size_t) (p - c->chain);
    return mim_result_ok();
}

void
mim_audit_chain_free(mim_audit_chain_t *c)
{
    free(c->chain);
    EVP_MD_CTX_free(c->sha);
    memset(c, 0, sizeof(*c));
}

static void
sha256(EVP_MD_CTX *ctx, const void *data, size_t n, uint8_t out[32])
{
    unsigned int len = 0;

    /*
     * A failure leaves a hash that matches nothing: fail closed.  Once the
     * context holds SHA-256, init_ex2 with no type reuses it: a third of
     * the cost of a short line's hash is a full init.
     */
    if ((EVP_MD_CTX_get0_md(ctx) != NULL
         ? EVP_DigestInit_ex2(ctx, NULL, NULL)
         : EVP_DigestInit_ex(ctx, mim_md_sha256(), NULL)) != 1
        || EVP_DigestUpdate(ctx, data, n) != 1
        || EVP_DigestFinal_ex(ctx, out, &len) != 1 || len != 32)
    {
        memset(out, 0xff, 32);
        ERR_clear_error();
    }
}

/*
 * A value for "reasons": the text itself when it is one JSON array (its
 * whitespace newlines turned into spaces, so the line stays one line),
 * else a JSON string of it.
 */
static char *
put_reasons(char *p, const mim_audit_str_t *v)
{
    const char *s = v->data, *end, *last;
    size_t i;

    if (s == NULL || v->len == 0) {
        return put_lit(p, "null,");
    }
    end = s + v->len;
    s = skip_ws(s, end);
    last = (s < end && *s == '[') ? scan_value(s, end, 0) : NULL;
    if (last == NULL || skip_ws(last, end) != end) {
        p = put_json_str(p, v->data, v->len);
        *p++ = ',';
        return p;
    }
    /* outside strings only; inside, raw newlines are not valid JSON */
    for (i = 0; i < (size_t) (last - s); i++) {
        *p++ = (s[i] == '\n' || s[i] == '\r') ? ' ' : s[i];
    }
    *p++ = ',';
    return p;
}

size_t
mim_audit_request_size(const mim_audit_request_t *r)
{
    const mim_audit_str_t *strs[] = {
        &r->request_id, &r->client, &r->method, &r->uri, &r->party,
        &r->subject, &r->auth_method, &r->agreement, &r->transfer,
        &r->target, &r->action, &r->decision, &r->reasons, &r->digest
    };
    size_t i, n = 400;

    for (i = 0; i < sizeof(strs) / sizeof(strs[0]); i++) {
        n += 6 * strs[i]->len + 8;
    }
    return n;
}

size_t
mim_audit_request_body(const mim_audit_request_t *r, char *dst)
{
    char *p = dst, when[MIM_AUDIT_TIME_LEN + 1];

    mim_audit_time(when, r->time_ms);
    p = put_lit(p, "\"type\":\"req\",\"time\":\"");
    p = put(p, when, MIM_AUDIT_TIME_LEN);
    p = put_lit(p, "\",");
    p = field_str(p, "\"request_id\":", &r->request_id);
    p = put_lit(p, "\"worker\":");
    p = put_i64(p, r->worker);
    *p++ = ',';
    p = field_str(p, "\"client\":", &r->client);
    p = field_str(p, "\"method\":", &r->method);
    p = field_str(p, "\"uri\":", &r->uri);
    p = put_lit(p, "\"status\":");
    p = put_i64(p, r->status);
    p = put_lit(p, ",\"bytes\":");
    p = put_u64(p, r->bytes);
    *p++ = ',';
    p = field_str(p, "\"party\":", &r->party);
    p = field_str(p, "\"subject\":", &r->subject);
    p = field_str(p, "\"auth_method\":", &r->auth_method);
    p = field_str(p, "\"agreement\":", &r->agreement);
    p = field_str(p, "\"transfer\":", &r->transfer);
    p = field_str(p, "\"target\":", &r->target);
    p = field_str(p, "\"action\":", &r->action);
    p = field_str(p, "\"decision\":", &r->decision);
    p = put_lit(p, "\"reasons\":");
    p = put_reasons(p, &r->reasons);
    p = field_str(p, "\"digest\":", &r->digest);
    return (size_t) (p - dst);
}

size_t
mim_audit_segment_body(const mim_audit_chain_t *c, const char *type,
    int64_t time_ms, int worker, long pid, const char *after,
    uint64_t last_seq, uint64_t partial, char *dst)
{
    char *p = dst, when[MIM_AUDIT_TIME_LEN + 1];

    mim_audit_time(when, time_ms);
    p = put_lit(p, "\"type\":\"");
    p = put(p, type, strnlen(type, 8));
    p = put_lit(p, "\",\"time\":\"");
    p = put(p, when, MIM_AUDIT_TIME_LEN);
    p = put_lit(p, "\",\"chain\":");
    p = put(p, c->chain, c->chain_len);
    p = put_lit(p, ",\"worker\":");
    p = put_i64(p, worker);
    p = put_lit(p, ",\"pid\":");
    p = put_i64(p, pid);
    *p++ = ',';
    if (after != NULL) {
        p = put_lit(p, "\"after\":\"");
        p = put(p, after, strnlen(after, 8));
        p = put_lit(p, "\",");
    }
    if (strcmp(type, "break") == 0) {
        p = put_lit(p, "\"last_seq\":");
        if (last_seq == 0) {
            p = put_lit(p, "null");
        } else {
            p = put_u64(p, last_seq);
        }
        p = put_lit(p, ",\"partial\":");
        p = put_u64(p, partial);
        *p++ = ',';
    }
    return (size_t) (p - dst);
}

size_t
mim_audit_chain_append(mim_audit_chain_t *c, const char *body, size_t len,
    char *dst)
{
    char *p = dst;
    size_t n;

    p = put_lit(p, "{\"seq\":");
    p = put_u64(p, c->seq + 1);
    *p++ = ',';
    p = put(p, body, len);
    p = put_lit(p, "\"prev\":\"");
    mim_audit_hex(p, c->head);
    p += MIM_AUDIT_HASH_HEX;
    p = put_lit(p, "\"}");
    n = (size_t) (p - dst);
    sha256(c->sha, dst, n, c->head);
    c->seq++;
    c->since_checkpoint++;
    *p = '\n';
    return n + 1;
}

/* {"chain":C,"seq":N,"head":"H","time":"T"}: what a checkpoint signs */
static size_t
checkpoint_payload(char *dst, const char *chain, size_t chain_len,
    uint64_t seq, const char *head_hex, const char *when)
{
    char *p = dst;

    p = put_lit(p, "{\"chain\":");
    p = put(p, chain, chain_len);
    p = put_lit(p, ",\"seq\":");
    p = put_u64(p, seq);
    p = put_lit(p, ",\"head\":\"");
    p = put(p, head_hex, MIM_AUDIT_HASH_HEX);
    p = put_lit(p, "\",\"time\":\"");
    p = put(p, when, MIM_AUDIT_TIME_LEN);
    p = put_lit(p, "\"}");
    return (size_t) (p - dst);
}

/* {"alg":..,"kid":..,["x5c":[..],]"typ":"mim-audit-checkpoint"} */
static char *
checkpoint_header(const mim_key_t *key, size_t *len)
{
    const char *alg = mim_alg_name(key->alg);
    size_t i, cap = 128 + 6 * strlen(key->kid);
    char *hdr, *p;

    for (i = 0; i < key->x5c_n; i++) {
        cap += 6 * strlen(key->x5c[i]) + 3;
    }
    hdr = malloc(cap);
    if (hdr == NULL || alg == NULL) {
        free(hdr);
        return NULL;
    }
    p = put_lit(hdr, "{\"alg\":");
    p = put_json_str(p, alg, strlen(alg));
    p = put_lit(p, ",\"kid\":");
    p = put_json_str(p, key->kid, strlen(key->kid));
    if (key->x5c_n > 0) {
        p = put_lit(p, ",\"x5c\":[");
        for (i = 0; i < key->x5c_n; i++) {
            if (i > 0) {
                *p++ = ',';
            }
            p = put_json_str(p, key->x5c[i], strlen(key->x5c[i]));
        }
        *p++ = ']';
    }
    p = put_lit(p, ",\"typ\":\"" MIM_AUDIT_TYP "\"}");
    *p = '\0';
    *len = (size_t) (p - hdr);
    return hdr;
}

mim_result_t
mim_audit_checkpoint(mim_audit_chain_t *c, const mim_key_t *key,
    int64_t time_ms, const char *reason, char **line, size_t *len)
{
    char when[MIM_AUDIT_TIME_LEN + 1], head[MIM_AUDIT_HASH_HEX + 1];
    char digest[MIM_CONTENT_DIGEST_LEN + 1], *payload, *hdr, *jws = NULL;
    char *body, *p;
    size_t hdr_len = 0, payload_len, jws_len = 0, lines;
    mim_body_signer_t *signer = NULL;
    mim_result_t r;

    *line = NULL;
    *len = 0;
    if (key == NULL || key->pkey == NULL) {
        return mim_result_err(MIM_ERR_KEY, "no signing key");
    }
    mim_audit_time(when, time_ms);
    mim_audit_hex(head, c->head);
    payload = malloc(c->chain_len + 160);
    hdr = checkpoint_header(key, &hdr_len);
    if (payload == NULL || hdr == NULL) {
        free(payload);
        free(hdr);
        return mim_result_err(MIM_ERR_NOMEM, "out of memory");
    }
    payload_len = checkpoint_payload(payload, c->chain, c->chain_len,
                                     c->seq + 1, head, when);
    r = mim_body_signer_new(&signer, key, hdr, hdr_len);
    if (mim_ok(r)) {
        r = mim_body_signer_update(signer, (const uint8_t *) payload,
                                   payload_len);
    }
    if (mim_ok(r)) {
        r = mim_body_signer_final(signer, digest, &jws, &jws_len);
    }
    mim_body_signer_free(signer);
    free(payload);
    free(hdr);
    if (!mim_ok(r)) {
        return r;
    }
    body = malloc(c->chain_len + jws_len + 256);
    *line = malloc(c->chain_len + jws_len + 256 + MIM_AUDIT_LINE_OVERHEAD);
    if (body == NULL || *line == NULL) {
        free(body);
        free(*line);
        free(jws);
        *line = NULL;
        return mim_result_err(MIM_ERR_NOMEM, "out of memory");
    }
    lines = c->since_checkpoint;
    p = put_lit(body, "\"type\":\"checkpoint\",\"time\":\"");
    p = put(p, when, MIM_AUDIT_TIME_LEN);
    p = put_lit(p, "\",\"chain\":");
    p = put(p, c->chain, c->chain_len);
    p = put_lit(p, ",\"head\":\"");
    p = put(p, head, MIM_AUDIT_HASH_HEX);
    p = put_lit(p, "\",\"reason\":\"");
    p = put(p, reason, strnlen(reason, 12));
    p = put_lit(p, "\",\"lines\":");
    p = put_u64(p, lines);
    p = put_lit(p, ",\"jws\":\"");
    p = put(p, jws, jws_len);
    p = put_lit(p, "\",");
    *len = mim_audit_chain_append(c, body, (size_t) (p - body), *line);
    c->since_checkpoint = 0;
    free(body);
    free(jws);
    return mim_result_ok();
}

/* ---- one line, parsed ---- */

typedef struct {
    uint64_t               line;
    int                    ok;
    char                   err[120];
    mim_audit_line_type_t  type;
    uint64_t               seq;
    uint8_t                prev[32];
    uint8_t                hash[32];
    char                   time[MIM_AUDIT_TIME_LEN + 1];
    char                   reason[16];
    char                   after[8];
    char                   chain[CHAIN_TOKEN_MAX];  /* raw token */
    size_t                 chain_len;
    uint8_t                head[32];
    const char            *jws;         /* into the line, while parsing */
    size_t                 jws_len;
    /* checkpoint signature */
    int                    sig_ok;
    mim_audit_kind_t       sig_kind;
    char                   sig_msg[MIM_MSG_MAX];
} aline_t;

enum {
    M_SEQ = 1 << 0, M_TYPE = 1 << 1, M_PREV = 1 << 2, M_TIME = 1 << 3,
    M_CHAIN = 1 << 4, M_HEAD = 1 << 5, M_JWS = 1 << 6, M_REASON = 1 << 7,
    M_AFTER = 1 << 8
};

static int
line_fail(aline_t *l, const char *what)
{
    snprintf(l->err, sizeof(l->err), "%s", what);
    l->ok = 0;
    return 0;
}

/* lower-case hex digit values + 1; 0: not one (one hash, one spelling) */
static const uint8_t  hex_lower[256] = {
    ['0'] = 1, ['1'] = 2, ['2'] = 3, ['3'] = 4, ['4'] = 5, ['5'] = 6,
    ['6'] = 7, ['7'] = 8, ['8'] = 9, ['9'] = 10, ['a'] = 11, ['b'] = 12,
    ['c'] = 13, ['d'] = 14, ['e'] = 15, ['f'] = 16
};

static int
read_hash(const char *s, size_t n, uint8_t out[32])
{
    const unsigned char *u = (const unsigned char *) s;
    unsigned hi, lo, bad = 0;
    size_t i;

    if (n != MIM_AUDIT_HASH_HEX) {
        return 0;
    }
    for (i = 0; i < 32; i++) {
        hi = hex_lower[u[2 * i]];
        lo = hex_lower[u[2 * i + 1]];
        bad |= (hi == 0) | (lo == 0);
        out[i] = (uint8_t) ((hi - 1) << 4 | (lo - 1));
    }
    return !bad;
}

static int
digit_at(const char *s, int i)
{
    return s[i] >= '0' && s[i] <= '9';
}

/* exactly YYYY-MM-DDTHH:MM:SS.mmmZ */
static int
time_valid(const char *s, size_t n)
{
    static const char shape[] = "dddd-dd-ddTdd:dd:dd.dddZ";
    size_t i;

    if (n != MIM_AUDIT_TIME_LEN) {
        return 0;
    }
    for (i = 0; i < n; i++) {
        if (shape[i] == 'd' ? !digit_at(s, (int) i) : s[i] != shape[i]) {
            return 0;
        }
    }
    return 1;
}

/* a canonical unsigned integer: no sign, no leading zero, >= 1 */
static int
read_seq(const char *s, size_t n, uint64_t *v)
{
    size_t i;

    if (n == 0 || n > 19 || s[0] == '0') {
        return 0;
    }
    *v = 0;
    for (i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9') {
            return 0;
        }
        *v = *v * 10 + (uint64_t) (s[i] - '0');
    }
    return 1;
}

/* a short string member without escapes, into dst */
static int
read_word(const char *tok, size_t n, int escaped, char *dst, size_t cap)
{
    if (escaped || n < 2 || n - 2 >= cap) {
        return 0;
    }
    memcpy(dst, tok + 1, n - 2);
    dst[n - 2] = '\0';
    return 1;
}

static mim_audit_line_type_t
type_of(const char *s)
{
    if (strcmp(s, "req") == 0) {
        return MIM_AUDIT_LINE_REQ;
    }
    if (strcmp(s, "checkpoint") == 0) {
        return MIM_AUDIT_LINE_CHECKPOINT;
    }
    if (strcmp(s, "start") == 0) {
        return MIM_AUDIT_LINE_START;
    }
    if (strcmp(s, "link") == 0) {
        return MIM_AUDIT_LINE_LINK;
    }
    if (strcmp(s, "break") == 0) {
        return MIM_AUDIT_LINE_BREAK;
    }
    return MIM_AUDIT_LINE_NONE;
}

static int
member_bit(const char *key, size_t n)
{
    switch (n) {
    case 3:
        return memcmp(key, "seq", 3) == 0 ? M_SEQ
               : memcmp(key, "jws", 3) == 0 ? M_JWS : 0;
    case 4:
        return memcmp(key, "type", 4) == 0 ? M_TYPE
               : memcmp(key, "prev", 4) == 0 ? M_PREV
               : memcmp(key, "time", 4) == 0 ? M_TIME
               : memcmp(key, "head", 4) == 0 ? M_HEAD : 0;
    case 5:
        return memcmp(key, "chain", 5) == 0 ? M_CHAIN
               : memcmp(key, "after", 5) == 0 ? M_AFTER : 0;
    case 6:
        return memcmp(key, "reason", 6) == 0 ? M_REASON : 0;
    }
    return 0;
}

/* one member value of interest; 0 (with l->err) when it is wrong */
static int
read_member(aline_t *l, int bit, const char *v, size_t n, int escaped)
{
    char word[16];
    int is_str = n >= 2 && v[0] == '"';

    switch (bit) {
    case M_SEQ:
        return read_seq(v, n, &l->seq) || line_fail(l, "bad seq");
    case M_TYPE:
        if (!is_str || !read_word(v, n, escaped, word, sizeof(word))
            || (l->type = type_of(word)) == MIM_AUDIT_LINE_NONE)
        {
            return line_fail(l, "unknown type");
        }
        return 1;
    case M_PREV:
        return (is_str && !escaped && read_hash(v + 1, n - 2, l->prev))
               || line_fail(l, "bad prev (64 lower-case hex digits)");
    case M_HEAD:
        return (is_str && !escaped && read_hash(v + 1, n - 2, l->head))
               || line_fail(l, "bad head (64 lower-case hex digits)");
    case M_TIME:
        if (!is_str || escaped || !time_valid(v + 1, n - 2)) {
            return line_fail(l, "bad time (YYYY-MM-DDTHH:MM:SS.mmmZ)");
        }
        memcpy(l->time, v + 1, MIM_AUDIT_TIME_LEN);
        l->time[MIM_AUDIT_TIME_LEN] = '\0';
        return 1;
    case M_CHAIN:
        if (!is_str || n > sizeof(l->chain)) {
            return line_fail(l, "bad chain");
        }
        memcpy(l->chain, v, n);
        l->chain_len = n;
        return 1;
    case M_JWS:
        if (!is_str || escaped) {
            return line_fail(l, "bad jws");
        }
        l->jws = v + 1;
        l->jws_len = n - 2;
        return 1;
    case M_REASON:
        return (is_str && read_word(v, n, escaped, l->reason,
                                    sizeof(l->reason)))
               || line_fail(l, "bad reason");
    case M_AFTER:
        return (is_str && read_word(v, n, escaped, l->after,
                                    sizeof(l->after)))
               || line_fail(l, "bad after");
    }
    return 1;
}

static int
required_members(const aline_t *l, int seen)
{
    int need = M_SEQ | M_TYPE | M_PREV | M_TIME;

    switch (l->type) {
    case MIM_AUDIT_LINE_CHECKPOINT:
        need |= M_CHAIN | M_HEAD | M_JWS | M_REASON;
        break;
    case MIM_AUDIT_LINE_START:
        need |= M_CHAIN | M_AFTER;
        break;
    case MIM_AUDIT_LINE_LINK:
    case MIM_AUDIT_LINE_BREAK:
        need |= M_CHAIN;
        break;
    default:
        break;
    }
    return (seen & need) == need;
}

/* parse the members we need; the whole line must be one JSON object */
static int
parse_line(aline_t *l, const char *s, size_t n)
{
    const char *p = s, *end = s + n, *key, *v;
    int seen = 0, bit, escaped;
    size_t key_len;

    l->ok = 0;
    l->err[0] = '\0';
    l->type = MIM_AUDIT_LINE_NONE;
    l->time[0] = '\0';
    l->reason[0] = '\0';
    l->after[0] = '\0';
    l->chain_len = 0;
    l->jws = NULL;
    l->sig_ok = 0;
    p = skip_ws(p, end);
    if (p >= end || *p != '{') {
        return line_fail(l, n == 0 ? "empty line" : "not a JSON object");
    }
    p = skip_ws(p + 1, end);
    for (;;) {
        key = p;
        p = scan_string(p, end, &escaped);
        if (p == NULL || escaped) {
            return line_fail(l, "bad member name");
        }
        key_len = (size_t) (p - key) - 2;
        p = skip_ws(p, end);
        if (p >= end || *p != ':') {
            return line_fail(l, "not a JSON object");
        }
        v = skip_ws(p + 1, end);
        bit = member_bit(key + 1, key_len);
        if (v < end && *v == '"') {
            p = scan_string(v, end, &escaped);
        } else {
            escaped = 0;
            p = scan_value(v, end, 1);
        }
        if (p == NULL) {
            return line_fail(l, "not valid JSON");
        }
        if (bit != 0) {
            if (seen & bit) {
                return line_fail(l, "a member appears twice");
            }
            seen |= bit;
            if (!read_member(l, bit, v, (size_t) (p - v), escaped)) {
                return 0;
            }
        }
        p = skip_ws(p, end);
        if (p < end && *p == '}') {
            p = skip_ws(p + 1, end);
            break;
        }
        if (p >= end || *p != ',') {
            return line_fail(l, "not valid JSON");
        }
        p = skip_ws(p + 1, end);
    }
    if (p != end) {
        return line_fail(l, "text after the JSON object");
    }
    if (!required_members(l, seen)) {
        return line_fail(l, "a required member is missing");
    }
    l->ok = 1;
    return 1;
}

int
mim_audit_line_info(const char *line, size_t len,
    mim_audit_line_type_t *type, uint64_t *seq)
{
    aline_t *l = malloc(sizeof(aline_t));
    int ok;

    if (l == NULL) {
        return 0;
    }
    ok = parse_line(l, line, len);
    *type = ok ? l->type : MIM_AUDIT_LINE_NONE;
    *seq = ok ? l->seq : 0;
    free(l);
    return ok;
}

/* ---- resuming a file ---- */

void
mim_audit_tail_read(const char *tail, size_t len, int from_start,
    mim_audit_tail_t *t)
{
    const char *nl, *start;
    EVP_MD_CTX *sha;
    aline_t *l;

    memset(t, 0, sizeof(*t));
    t->empty = 1;
    nl = len ? memrchr(tail, '\n', len) : NULL;
    if (nl == NULL) {
        t->partial = len;
        t->empty = (len == 0 || from_start);
        return;
    }
    t->partial = len - (size_t) (nl - tail) - 1;
    t->empty = 0;
    start = memrchr(tail, '\n', (size_t) (nl - tail));
    if (start != NULL) {
        start++;
    } else if (from_start) {
        start = tail;
    } else {
        return;                 /* a line longer than the window */
    }
    sha = EVP_MD_CTX_new();
    l = malloc(sizeof(aline_t));
    if (sha != NULL && l != NULL) {
        sha256(sha, start, (size_t) (nl - start), t->hash);
        if (parse_line(l, start, (size_t) (nl - start))) {
            t->known = 1;
            t->seq = l->seq;
            t->clean = l->type == MIM_AUDIT_LINE_CHECKPOINT
                       && strcmp(l->reason, "exit") == 0 && t->partial == 0;
        }
    }
    EVP_MD_CTX_free(sha);
    free(l);
}

void
mim_audit_chain_resume(mim_audit_chain_t *c, const mim_audit_tail_t *t)
{
    c->since_checkpoint = 0;
    if (t->empty) {
        c->seq = 0;
        memset(c->head, 0, sizeof(c->head));
        return;
    }
    c->seq = t->known ? t->seq : 0;
    memcpy(c->head, t->hash, sizeof(c->head));
}

/* ---- the verifier ---- */

typedef struct {
    uint64_t  first;
    uint64_t  last;
} run_t;

typedef struct {
    uint64_t  first_seq;
    uint64_t  last_seq;
    uint64_t  line;             /* the line after the gap */
    uint8_t   next_prev[32];    /* what the line of last_seq hashes to */
    uint64_t  filled;
} gap_t;

typedef struct {
    uint64_t  seq;
    uint64_t  line;
    uint8_t   hash[32];
} orphan_t;

typedef struct {
    uint64_t               line;
    uint64_t               seq;
    uint8_t                hash[32];
    uint8_t                prev[32];
    mim_audit_line_type_t  type;
    int                    reported;    /* a problem already names it */
} anchor_t;

struct mim_audit_verifier_s {
    const mim_jws_trust_t  *trust;
    EVP_MD_CTX             *sha;
    aline_t                *held;       /* waits for the next line */
    aline_t                *next;
    int                     have_held;
    uint64_t                line_no;
    int                     ended;

    int                     have_anchor;
    anchor_t                anchor;
    char                    chain[CHAIN_TOKEN_MAX];
    size_t                  chain_len;
    int                     have_chain;

    run_t                  *runs;       /* committable, not yet committed */
    size_t                  n_runs;
    size_t                  cap_runs;
    int                     run_open;

    gap_t                   gaps[GAPS_MAX];
    size_t                  n_gaps;
    orphan_t                orphans[ORPHANS_MAX];
    size_t                  n_orphans;

    mim_audit_problem_t    *problems;
    size_t                  n_problems;
    size_t                  cap_problems;
    uint64_t                dropped;

    mim_audit_summary_t     sum;
    uint64_t                last_checkpoint_line;
    mim_audit_verified_pt   on_verified;
    void                   *on_verified_ctx;
};

const char *
mim_audit_kind_name(mim_audit_kind_t kind)
{
    static const char *const names[] = {
        "edited", "deleted", "inserted", "reordered", "unverifiable",
        "bad_signature", "unknown_key", "break", "malformed"
    };

    return (unsigned) kind < sizeof(names) / sizeof(names[0])
           ? names[kind] : "unknown";
}

static void problem(mim_audit_verifier_t *v, mim_audit_kind_t kind,
    uint64_t line, uint64_t last_line, uint64_t seq, uint64_t count,
    const char *fmt, ...) __attribute__((format(printf, 7, 8)));

static void
problem(mim_audit_verifier_t *v, mim_audit_kind_t kind, uint64_t line,
    uint64_t last_line, uint64_t seq, uint64_t count, const char *fmt, ...)
{
    mim_audit_problem_t *p, *grown;
    size_t cap;
    va_list ap;

    if (v->n_problems == v->cap_problems) {
        if (v->cap_problems >= MIM_AUDIT_PROBLEMS_MAX) {
            v->dropped++;
            return;
        }
        cap = v->cap_problems ? v->cap_problems * 2 : 16;
        if (cap > MIM_AUDIT_PROBLEMS_MAX) {
            cap = MIM_AUDIT_PROBLEMS_MAX;
        }
        grown = realloc(v->problems, cap * sizeof(*grown));
        if (grown == NULL) {
            v->dropped++;
            return;
        }
        v->problems = grown;
        v->cap_problems = cap;
    }
    p = &v->problems[v->n_problems++];
    p->kind = kind;
    p->line = line;
    p->last_line = last_line ? last_line : line;
    p->seq = seq;
    p->count = count;
    va_start(ap, fmt);
    vsnprintf(p->msg, sizeof(p->msg), fmt, ap);
    va_end(ap);
}

mim_result_t
mim_audit_verifier_new(mim_audit_verifier_t **out,
    const mim_jws_trust_t *trust)
{
    mim_audit_verifier_t *v;

    *out = NULL;
    v = calloc(1, sizeof(*v));
    if (v == NULL) {
        return mim_result_err(MIM_ERR_NOMEM, "out of memory");
    }
    v->trust = trust;
    v->sha = EVP_MD_CTX_new();
    v->held = malloc(sizeof(aline_t));
    v->next = malloc(sizeof(aline_t));
    if (v->sha == NULL || v->held == NULL || v->next == NULL) {
        mim_audit_verifier_free(v);
        return mim_result_err(MIM_ERR_NOMEM, "out of memory");
    }
    *out = v;
    return mim_result_ok();
}

void
mim_audit_verifier_on_verified(mim_audit_verifier_t *v,
    mim_audit_verified_pt handler, void *ctx)
{
    v->on_verified = handler;
    v->on_verified_ctx = ctx;
}

void
mim_audit_verifier_free(mim_audit_verifier_t *v)
{
    if (v == NULL) {
        return;
    }
    EVP_MD_CTX_free(v->sha);
    free(v->held);
    free(v->next);
    free(v->runs);
    free(v->problems);
    free(v);
}

/* the checkpoint's protected header says it is one (not a response's) */
static int
header_is_checkpoint(const char *jws, size_t len)
{
    const char *dot = memchr(jws, '.', len);
    uint8_t *raw;
    size_t raw_len;
    json_t *hdr;
    int ok = 0;

    if (dot == NULL || dot == jws) {
        return 0;
    }
    raw = malloc(mim_b64_decoded_max((size_t) (dot - jws)));
    if (raw == NULL) {
        return 0;
    }
    if (mim_b64url_decode(raw, &raw_len, jws, (size_t) (dot - jws)) == 0) {
        hdr = json_loadb((const char *) raw, raw_len, JSON_REJECT_DUPLICATES,
                         NULL);
        ok = json_is_string(json_object_get(hdr, "typ"))
             && strcmp(json_string_value(json_object_get(hdr, "typ")),
                       MIM_AUDIT_TYP) == 0;
        json_decref(hdr);
    }
    free(raw);
    return ok;
}

static void
check_signature(mim_audit_verifier_t *v, aline_t *l)
{
    char payload[PAYLOAD_MAX], head[MIM_AUDIT_HASH_HEX + 1];
    size_t n;
    mim_jws_info_t info;
    mim_result_t r;

    l->sig_ok = 0;
    l->sig_kind = MIM_AUDIT_BAD_SIGNATURE;
    if (!header_is_checkpoint(l->jws, l->jws_len)) {
        snprintf(l->sig_msg, sizeof(l->sig_msg), "the JWS is not an audit "
                 "checkpoint signature (no typ \"" MIM_AUDIT_TYP "\")");
        return;
    }
    mim_audit_hex(head, l->head);
    n = checkpoint_payload(payload, l->chain, l->chain_len, l->seq, head,
                           l->time);
    r = mim_jws_verify_detached(l->jws, l->jws_len, (const uint8_t *) payload,
                                n, v->trust, &info);
    if (mim_ok(r)) {
        l->sig_ok = 1;
        return;
    }
    if (r.code == MIM_ERR_NOT_FOUND || r.code == MIM_ERR_UNTRUSTED
        || r.code == MIM_ERR_KEY)
    {
        l->sig_kind = MIM_AUDIT_UNKNOWN_KEY;
    }
    snprintf(l->sig_msg, sizeof(l->sig_msg), "%s", r.msg);
}

static void
summary_time(mim_audit_summary_t *s, const char *t)
{
    if (t[0] == '\0') {
        return;
    }
    if (s->from[0] == '\0' || strcmp(t, s->from) < 0) {
        memcpy(s->from, t, MIM_AUDIT_TIME_LEN + 1);
    }
    if (s->to[0] == '\0' || strcmp(t, s->to) > 0) {
        memcpy(s->to, t, MIM_AUDIT_TIME_LEN + 1);
    }
}

/* ---- committable runs of lines ---- */

static void
run_extend(mim_audit_verifier_t *v, uint64_t line)
{
    run_t *grown;
    size_t cap;

    if (v->run_open && v->n_runs > 0) {
        v->runs[v->n_runs - 1].last = line;
        return;
    }
    if (v->n_runs == v->cap_runs) {
        cap = v->cap_runs ? v->cap_runs * 2 : 8;
        grown = realloc(v->runs, cap * sizeof(*grown));
        if (grown == NULL) {
            return;             /* the line stays unverified */
        }
        v->runs = grown;
        v->cap_runs = cap;
    }
    v->runs[v->n_runs].first = line;
    v->runs[v->n_runs].last = line;
    v->n_runs++;
    v->run_open = 1;
}

/* a foreign line: the runs before it stay committable */
static void
run_close(mim_audit_verifier_t *v)
{
    v->run_open = 0;
}

/* the chain broke: what is pending can no longer be committed */
static void
runs_drop(mim_audit_verifier_t *v)
{
    v->n_runs = 0;
    v->run_open = 0;
}

static uint64_t
runs_count(const mim_audit_verifier_t *v)
{
    uint64_t n = 0;
    size_t i;

    for (i = 0; i < v->n_runs; i++) {
        n += v->runs[i].last - v->runs[i].first + 1;
    }
    return n;
}

static void
runs_commit(mim_audit_verifier_t *v)
{
    size_t i;

    for (i = 0; i < v->n_runs; i++) {
        v->sum.verified += v->runs[i].last - v->runs[i].first + 1;
        if (v->on_verified != NULL) {
            v->on_verified(v->on_verified_ctx, v->runs[i].first,
                           v->runs[i].last);
        }
    }
    v->n_runs = 0;
    v->run_open = 0;
}

/* pending lines that no checkpoint will cover: one problem */
static void
runs_unverifiable(mim_audit_verifier_t *v, const char *why)
{
    uint64_t n = runs_count(v);

    if (n == 0) {
        return;
    }
    problem(v, MIM_AUDIT_UNVERIFIABLE, v->runs[0].first,
            v->runs[v->n_runs - 1].last, 0, n,
            "%llu line%s not covered by a valid checkpoint %s",
            (unsigned long long) n, n == 1 ? "" : "s", why);
    runs_drop(v);
}

/* ---- gaps and orphans: deletions and insertions not yet final ---- */

static void
gap_report(mim_audit_verifier_t *v, const gap_t *g)
{
    uint64_t n = g->last_seq - g->first_seq + 1 - g->filled;

    if (n == 0) {
        return;
    }
    if (g->first_seq == g->last_seq) {
        problem(v, MIM_AUDIT_DELETED, g->line, 0, g->first_seq, n,
                "line of seq %llu is missing before this line",
                (unsigned long long) g->first_seq);
    } else {
        problem(v, MIM_AUDIT_DELETED, g->line, 0, g->first_seq, n,
                "%llu line%s of seq %llu to %llu missing before this line",
                (unsigned long long) n, n == 1 ? "" : "s",
                (unsigned long long) g->first_seq,
                (unsigned long long) g->last_seq);
    }
}

static void
orphan_report(mim_audit_verifier_t *v, const orphan_t *o)
{
    problem(v, MIM_AUDIT_INSERTED, o->line, 0, o->seq, 1,
            "seq %llu does not belong here: the chain goes on without it",
            (unsigned long long) o->seq);
}

/* does a line of seq (and hash) fill a gap?  1: it was moved there */
static int
gap_fill(mim_audit_verifier_t *v, uint64_t seq, const uint8_t hash[32],
    uint64_t *gap_line)
{
    size_t i;
    gap_t *g;

    for (i = 0; i < v->n_gaps; i++) {
        g = &v->gaps[i];
        if (seq < g->first_seq || seq > g->last_seq) {
            continue;
        }
        /* the last missing line is known by its hash */
        if (seq == g->last_seq && memcmp(hash, g->next_prev, 32) != 0) {
            return 0;
        }
        g->filled++;
        *gap_line = g->line;
        if (g->filled == g->last_seq - g->first_seq + 1) {
            v->gaps[i] = v->gaps[--v->n_gaps];
        }
        return 1;
    }
    return 0;
}

static void
gap_add(mim_audit_verifier_t *v, uint64_t first, uint64_t last,
    uint64_t line, const uint8_t next_prev[32])
{
    gap_t g;
    size_t i;
    uint64_t ignored;

    memset(&g, 0, sizeof(g));
    g.first_seq = first;
    g.last_seq = last;
    g.line = line;
    memcpy(g.next_prev, next_prev, 32);
    if (v->n_gaps == GAPS_MAX) {
        gap_report(v, &v->gaps[0]);
        memmove(v->gaps, v->gaps + 1, (GAPS_MAX - 1) * sizeof(gap_t));
        v->n_gaps--;
    }
    v->gaps[v->n_gaps++] = g;
    /* a line seen earlier, out of its place, belongs in this gap */
    for (i = 0; i < v->n_orphans; ) {
        if (gap_fill(v, v->orphans[i].seq, v->orphans[i].hash, &ignored)) {
            problem(v, MIM_AUDIT_REORDERED, v->orphans[i].line, 0,
                    v->orphans[i].seq, 1,
                    "seq %llu is out of place: it belongs before line %llu",
                    (unsigned long long) v->orphans[i].seq,
                    (unsigned long long) line);
            v->orphans[i] = v->orphans[--v->n_orphans];
            continue;
        }
        i++;
    }
}

static void
orphan_add(mim_audit_verifier_t *v, const aline_t *x)
{
    if (v->n_orphans == ORPHANS_MAX) {
        orphan_report(v, &v->orphans[0]);
        memmove(v->orphans, v->orphans + 1,
                (ORPHANS_MAX - 1) * sizeof(orphan_t));
        v->n_orphans--;
    }
    v->orphans[v->n_orphans].seq = x->seq;
    v->orphans[v->n_orphans].line = x->line;
    memcpy(v->orphans[v->n_orphans].hash, x->hash, 32);
    v->n_orphans++;
}

/* ---- judging lines ---- */

static int
fits(const anchor_t *a, const aline_t *x)
{
    return x != NULL && x->ok && x->seq == a->seq + 1
           && memcmp(x->prev, a->hash, 32) == 0;
}

static void
set_chain(mim_audit_verifier_t *v, const aline_t *x)
{
    memcpy(v->chain, x->chain, x->chain_len);
    v->chain_len = x->chain_len;
    v->have_chain = 1;
    mim_safe_text(v->sum.chain, sizeof(v->sum.chain), x->chain + 1,
                  x->chain_len - 2);
}

static void
accept_checkpoint(mim_audit_verifier_t *v, const aline_t *x, int linked)
{
    if (v->have_chain && (x->chain_len != v->chain_len
                          || memcmp(x->chain, v->chain, v->chain_len) != 0))
    {
        problem(v, MIM_AUDIT_BAD_SIGNATURE, x->line, 0, x->seq, 0,
                "checkpoint of another chain than the segment's");
        return;
    }
    if (memcmp(x->head, x->prev, 32) != 0) {
        problem(v, MIM_AUDIT_EDITED, x->line, 0, x->seq, 0,
                "checkpoint head differs from its prev");
        v->anchor.reported = 1;
        return;
    }
    if (!x->sig_ok) {
        problem(v, x->sig_kind, x->line, 0, x->seq, 0, "checkpoint: %s",
                x->sig_msg);
        return;
    }
    if (!v->have_chain) {
        set_chain(v, x);
    }
    v->sum.checkpoints++;
    v->last_checkpoint_line = x->line;
    (void) linked;
    runs_commit(v);
}

/* X becomes the chain's head; linked: it hangs on the previous head */
static void
accept_line(mim_audit_verifier_t *v, const aline_t *x, int linked)
{
    if (!linked) {
        runs_drop(v);
    }
    run_extend(v, x->line);
    v->have_anchor = 1;
    v->anchor.line = x->line;
    v->anchor.seq = x->seq;
    memcpy(v->anchor.hash, x->hash, 32);
    memcpy(v->anchor.prev, x->prev, 32);
    v->anchor.type = x->type;
    v->anchor.reported = 0;
    v->sum.last_seq = x->seq;
    memcpy(v->sum.last_hash, x->hash, 32);

    switch (x->type) {
    case MIM_AUDIT_LINE_REQ:
        v->sum.records++;
        snprintf(v->sum.ends_with, sizeof(v->sum.ends_with), "record");
        break;
    case MIM_AUDIT_LINE_CHECKPOINT:
        snprintf(v->sum.ends_with, sizeof(v->sum.ends_with), "%s",
                 x->reason);
        accept_checkpoint(v, x, linked);
        break;
    case MIM_AUDIT_LINE_BREAK:
        v->sum.segments++;
        v->sum.breaks++;
        snprintf(v->sum.ends_with, sizeof(v->sum.ends_with), "break");
        /* the lines before it were written by the process that died */
        if (v->n_runs > 0) {
            v->runs[v->n_runs - 1].last--;
            if (v->runs[v->n_runs - 1].last < v->runs[v->n_runs - 1].first) {
                v->n_runs--;
            }
            runs_unverifiable(v, "before a break (written by a process "
                              "that died)");
            run_extend(v, x->line);
        }
        problem(v, MIM_AUDIT_BREAK, x->line, 0, x->seq, 0,
                "the process writing this chain died without a checkpoint; "
                "records it had not written are lost");
        set_chain(v, x);
        break;
    case MIM_AUDIT_LINE_START:
    case MIM_AUDIT_LINE_LINK:
        v->sum.segments++;
        snprintf(v->sum.ends_with, sizeof(v->sum.ends_with), "%s",
                 x->type == MIM_AUDIT_LINE_START ? "start" : "link");
        set_chain(v, x);
        break;
    default:
        break;
    }
}

static void
first_line(mim_audit_verifier_t *v, const aline_t *x)
{
    v->sum.have_first = 1;
    v->sum.first_type = x->type;
    v->sum.first_seq = x->seq;
    v->sum.first_line = x->line;
    memcpy(v->sum.first_prev, x->prev, 32);

    if (x->type == MIM_AUDIT_LINE_START && strcmp(x->after, "new") == 0
        && (x->seq != 1 || memcmp(x->prev, zero_hash, 32) != 0))
    {
        problem(v, MIM_AUDIT_EDITED, x->line, 0, x->seq, 0,
                "a new chain starts with seq 1 and a zero prev");
    } else if (x->type != MIM_AUDIT_LINE_START
               && x->type != MIM_AUDIT_LINE_LINK
               && x->type != MIM_AUDIT_LINE_BREAK)
    {
        problem(v, MIM_AUDIT_DELETED, x->line, 0, x->seq, 0,
                "the file does not begin with a start, link or break line: "
                "the lines before seq %llu are missing",
                (unsigned long long) x->seq);
    }
    accept_line(v, x, 1);
}

/* x does not hang on the head: say what happened (n: the line after) */
static void
judge_misfit(mim_audit_verifier_t *v, const aline_t *x, const aline_t *n)
{
    anchor_t *a = &v->anchor;
    uint64_t gap_line, expected;

    if (fits(a, n)) {
        /* the chain goes on from the head without x: x is foreign */
        if (x->seq <= a->seq && gap_fill(v, x->seq, x->hash, &gap_line)) {
            problem(v, MIM_AUDIT_REORDERED, x->line, 0, x->seq, 1,
                    "seq %llu is out of place: it belongs before line %llu",
                    (unsigned long long) x->seq,
                    (unsigned long long) gap_line);
        } else if (x->seq > a->seq + 1) {
            orphan_add(v, x);           /* or moved: known at a gap */
        } else {
            problem(v, MIM_AUDIT_INSERTED, x->line, 0, x->seq, 1,
                    "not part of the chain: the next line follows line "
                    "%llu", (unsigned long long) a->line);
        }
        run_close(v);
        return;
    }
    if (x->seq == a->seq + 1) {
        /* at its place, but the link to the head is wrong */
        if (n != NULL && n->ok && n->seq == x->seq + 1
            && memcmp(n->prev, x->hash, 32) != 0)
        {
            problem(v, MIM_AUDIT_EDITED, x->line, 0, x->seq, 0,
                    "neither its prev nor the next line's prev match");
            accept_line(v, x, 0);
            v->anchor.reported = 1;
            return;
        }
        if (!a->reported) {
            problem(v, MIM_AUDIT_EDITED, a->line, 0, a->seq, 0,
                    "the line changed: the next line's prev does not "
                    "match its hash");
        }
        accept_line(v, x, 0);
        return;
    }
    if (memcmp(x->prev, a->hash, 32) == 0 && x->seq > a->seq) {
        /* hangs on the head, but its seq was changed */
        expected = a->seq + 1;
        problem(v, MIM_AUDIT_EDITED, x->line, 0, expected, 0,
                "seq %llu where %llu follows",
                (unsigned long long) x->seq, (unsigned long long) expected);
        accept_line(v, x, 0);
        v->anchor.seq = expected;
        v->anchor.reported = 1;
        return;
    }
    if (x->seq > a->seq + 1) {
        gap_add(v, a->seq + 1, x->seq - 1, x->line, x->prev);
        accept_line(v, x, 0);
        return;
    }
    /* a seq from the past */
    if (x->seq == a->seq && memcmp(x->hash, a->hash, 32) == 0) {
        problem(v, MIM_AUDIT_INSERTED, x->line, 0, x->seq, 1,
                "a copy of line %llu", (unsigned long long) a->line);
        run_close(v);
        return;
    }
    if (x->seq == a->seq && memcmp(x->prev, a->prev, 32) == 0
        && n != NULL && n->ok && n->seq == x->seq + 1
        && memcmp(n->prev, x->hash, 32) == 0)
    {
        /* two lines claim one place; the chain goes on from x */
        problem(v, MIM_AUDIT_INSERTED, a->line, 0, a->seq, 1,
                "not part of the chain: the next lines follow line %llu "
                "instead", (unsigned long long) x->line);
        if (v->n_runs > 0 && v->run_open
            && v->runs[v->n_runs - 1].last == a->line)
        {
            if (v->runs[v->n_runs - 1].first == a->line) {
                v->n_runs--;
            } else {
                v->runs[v->n_runs - 1].last--;
            }
        }
        run_close(v);
        accept_line(v, x, 1);
        return;
    }
    if (gap_fill(v, x->seq, x->hash, &gap_line)) {
        problem(v, MIM_AUDIT_REORDERED, x->line, 0, x->seq, 1,
                "seq %llu is out of place: it belongs before line %llu",
                (unsigned long long) x->seq, (unsigned long long) gap_line);
        run_close(v);
        return;
    }
    problem(v, MIM_AUDIT_INSERTED, x->line, 0, x->seq, 1,
            "seq %llu after seq %llu: not part of the chain",
            (unsigned long long) x->seq, (unsigned long long) a->seq);
    run_close(v);
}

static void
judge(mim_audit_verifier_t *v, const aline_t *x, const aline_t *n)
{
    if (!x->ok) {
        problem(v, MIM_AUDIT_MALFORMED, x->line, 0, 0, 1, "%s", x->err);
        run_close(v);
        return;
    }
    if (n != NULL && !n->ok) {
        n = NULL;               /* no help from a malformed line */
    }
    summary_time(&v->sum, x->time);
    if (!v->have_anchor) {
        first_line(v, x);
        return;
    }
    if (fits(&v->anchor, x)) {
        accept_line(v, x, 1);
        return;
    }
    judge_misfit(v, x, n);
}

void
mim_audit_verify_line(mim_audit_verifier_t *v, const char *line, size_t len)
{
    aline_t *cur = v->next;

    if (v->ended) {
        return;
    }
    cur->line = ++v->line_no;
    v->sum.lines++;
    if (parse_line(cur, line, len)) {
        sha256(v->sha, line, len, cur->hash);
        if (cur->type == MIM_AUDIT_LINE_CHECKPOINT) {
            check_signature(v, cur);
        }
    }
    if (v->have_held) {
        judge(v, v->held, cur);
    }
    v->next = v->held;
    v->held = cur;
    v->have_held = 1;
}

void
mim_audit_verify_buffer(mim_audit_verifier_t *v, const char *data,
    size_t len)
{
    const char *p = data, *end = data + len, *nl;

    while (p < end) {
        nl = memchr(p, '\n', (size_t) (end - p));
        if (nl == NULL) {
            mim_audit_verify_line(v, p, (size_t) (end - p));
            break;
        }
        mim_audit_verify_line(v, p, (size_t) (nl - p));
        p = nl + 1;
    }
    mim_audit_verify_end(v);
}

static int
problem_cmp(const void *a, const void *b)
{
    const mim_audit_problem_t *x = a, *y = b;

    if (x->line != y->line) {
        return x->line < y->line ? -1 : 1;
    }
    return (int) x->kind - (int) y->kind;
}

void
mim_audit_verify_end(mim_audit_verifier_t *v)
{
    size_t i;

    if (v->ended) {
        return;
    }
    if (v->have_held) {
        judge(v, v->held, NULL);
        v->have_held = 0;
    }
    v->ended = 1;
    if (v->last_checkpoint_line > 0) {
        runs_unverifiable(v, "(after the last valid checkpoint: the file "
                          "was cut, or is still being written)");
    } else {
        runs_unverifiable(v, "(the file has no valid checkpoint)");
    }
    for (i = 0; i < v->n_gaps; i++) {
        gap_report(v, &v->gaps[i]);
    }
    for (i = 0; i < v->n_orphans; i++) {
        orphan_report(v, &v->orphans[i]);
    }
    v->n_gaps = 0;
    v->n_orphans = 0;
    if (v->n_problems > 1) {
        qsort(v->problems, v->n_problems, sizeof(v->problems[0]),
              problem_cmp);
    }
}

const mim_audit_problem_t *
mim_audit_problems(const mim_audit_verifier_t *v, size_t *n,
    uint64_t *dropped)
{
    *n = v->n_problems;
    if (dropped != NULL) {
        *dropped = v->dropped;
    }
    return v->problems;
}

const mim_audit_summary_t *
mim_audit_summary(const mim_audit_verifier_t *v)
{
    return &v->sum;
}
