/*
 * mim_audit.h - the signed, hash-chained audit log (docs/audit.md).
 *
 * A log file is one chain of JSON lines.  Every line starts with
 * {"seq":N, and ends with ,"prev":"<hex SHA-256 of the previous line>"}:
 * the hash covers the exact bytes of the previous line, without its
 * newline.  Line types:
 *
 *   req         one request
 *   checkpoint  a detached JWS over {"chain","seq","head","time"}, head
 *               being the hash of the line before it
 *   start       a process begins a segment (after "new" or a clean "exit")
 *   link        first line of a file after rotation, linked to the old head
 *   break       a process begins after one that died without a checkpoint
 *
 * The writer half (records, chaining, checkpoints, resuming from a file's
 * last line) is used by the nginx glue; the verifier half by `mim audit`
 * and the fuzzer.  Neither includes nginx headers.
 */
#ifndef MIM_AUDIT_H
#define MIM_AUDIT_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>

#include "mim_jws.h"
#include "mim_key.h"
#include "mim_result.h"

#define MIM_AUDIT_HASH_HEX     64           /* lower-case hex SHA-256 */
#define MIM_AUDIT_TIME_LEN     24           /* 2025-01-02T03:04:05.678Z */
#define MIM_AUDIT_CHAIN_MAX    512          /* chain id bytes, unescaped */
#define MIM_AUDIT_TAIL_MAX     (64 * 1024)  /* longest line resumed from */
#define MIM_AUDIT_TYP          "mim-audit-checkpoint"

/* {"seq":<20 digits>, ... "prev":"<64>"}\n */
#define MIM_AUDIT_LINE_OVERHEAD  (8 + 20 + 1 + 8 + MIM_AUDIT_HASH_HEX + 3)

/* ---- the writer ---- */

typedef struct {
    char        *chain;         /* chain id, JSON-escaped, with quotes */
    size_t       chain_len;
    uint64_t     seq;           /* seq of the last line; 0: none yet */
    uint8_t      head[32];      /* SHA-256 of the last line; zeros: none */
    uint64_t     since_checkpoint;     /* lines since the last one */
    EVP_MD_CTX  *sha;
} mim_audit_chain_t;

/* id: any bytes (e.g. "host:/var/log/mim/audit.log.0"), escaped here */
mim_result_t mim_audit_chain_init(mim_audit_chain_t *c, const char *id,
    size_t len);
void mim_audit_chain_free(mim_audit_chain_t *c);

/* RFC 3339 UTC with milliseconds, NUL-terminated */
void mim_audit_time(char dst[MIM_AUDIT_TIME_LEN + 1], int64_t ms);

/* a string field: data NULL (or len 0) is written as null */
typedef struct {
    const char  *data;
    size_t       len;
} mim_audit_str_t;

typedef struct {
    int64_t          time_ms;
    mim_audit_str_t  request_id;
    int              worker;
    mim_audit_str_t  client;
    mim_audit_str_t  method;
    mim_audit_str_t  uri;
    int              status;
    uint64_t         bytes;
    mim_audit_str_t  party;
    mim_audit_str_t  subject;
    mim_audit_str_t  auth_method;
    mim_audit_str_t  agreement;
    mim_audit_str_t  transfer;
    mim_audit_str_t  target;
    mim_audit_str_t  action;
    mim_audit_str_t  decision;
    mim_audit_str_t  reasons;   /* JSON array text: kept as JSON when it is
                                   one, else written as a string */
    mim_audit_str_t  digest;    /* the response's Content-Digest */
} mim_audit_request_t;

/*
 * The members of a request line between {"seq":N, and "prev", each
 * followed by ','.  Untrusted values are escaped: the text is one line of
 * valid JSON whatever the bytes.  size: an upper bound for dst.
 */
size_t mim_audit_request_size(const mim_audit_request_t *r);
size_t mim_audit_request_body(const mim_audit_request_t *r, char *dst);

/*
 * Members of a segment line ("start", "link" or "break").  after: "new" or
 * "exit" for start, NULL otherwise; last_seq/partial for break (last_seq 0:
 * unknown).  dst holds at least MIM_AUDIT_SEGMENT_MAX + chain_len bytes.
 */
#define MIM_AUDIT_SEGMENT_MAX  256
size_t mim_audit_segment_body(const mim_audit_chain_t *c, const char *type,
    int64_t time_ms, int worker, long pid, const char *after,
    uint64_t last_seq, uint64_t partial, char *dst);

/*
 * Chain a body into a whole line: {"seq":<seq+1>, body "prev":"<head>"}\n
 * into dst (len + MIM_AUDIT_LINE_OVERHEAD bytes), then make it the head.
 * Returns the line's length with its newline.
 */
size_t mim_audit_chain_append(mim_audit_chain_t *c, const char *body,
    size_t len, char *dst);

/*
 * A checkpoint line (chained, newline included) signed with key:
 * reason is "count", "interval", "exit" or "rotate".  *line is malloc()ed.
 */
mim_result_t mim_audit_checkpoint(mim_audit_chain_t *c, const mim_key_t *key,
    int64_t time_ms, const char *reason, char **line, size_t *len);

/*
 * What the end of an existing log says, to go on with its chain.  tail is
 * the file's last bytes (all of it when from_start).
 */
typedef struct {
    int        empty;           /* no complete line */
    int        clean;           /* ends with an exit checkpoint */
    int        known;           /* the last complete line was read */
    uint64_t   seq;             /* its seq (when known) */
    uint8_t    hash[32];        /* its hash (when known) */
    size_t     partial;         /* bytes after the last newline */
} mim_audit_tail_t;

void mim_audit_tail_read(const char *tail, size_t len, int from_start,
    mim_audit_tail_t *t);

/* continue c after what tail found (seq and head) */
void mim_audit_chain_resume(mim_audit_chain_t *c, const mim_audit_tail_t *t);

/* ---- the verifier ---- */

typedef enum {
    MIM_AUDIT_EDITED = 0,       /* a line's bytes changed */
    MIM_AUDIT_DELETED,          /* lines missing (a seq gap) */
    MIM_AUDIT_INSERTED,         /* a line that is not part of the chain */
    MIM_AUDIT_REORDERED,        /* a line of the chain out of its place */
    MIM_AUDIT_UNVERIFIABLE,     /* lines no valid checkpoint covers */
    MIM_AUDIT_BAD_SIGNATURE,    /* a checkpoint that does not verify */
    MIM_AUDIT_UNKNOWN_KEY,      /* a checkpoint signed by a key not given */
    MIM_AUDIT_BREAK,            /* a process died without a checkpoint */
    MIM_AUDIT_MALFORMED         /* not a log line */
} mim_audit_kind_t;

/* "edited", "deleted", ... : stable tokens for --json */
const char *mim_audit_kind_name(mim_audit_kind_t kind);

typedef struct {
    mim_audit_kind_t  kind;
    uint64_t          line;         /* 1-based */
    uint64_t          last_line;    /* the range's end (== line if one) */
    uint64_t          seq;          /* the seq concerned; 0: none */
    uint64_t          count;        /* lines deleted or unverifiable */
    char              msg[240];
} mim_audit_problem_t;

typedef enum {
    MIM_AUDIT_LINE_NONE = 0,
    MIM_AUDIT_LINE_REQ,
    MIM_AUDIT_LINE_CHECKPOINT,
    MIM_AUDIT_LINE_START,
    MIM_AUDIT_LINE_LINK,
    MIM_AUDIT_LINE_BREAK
} mim_audit_line_type_t;

typedef struct {
    uint64_t   lines;
    uint64_t   records;         /* req lines */
    uint64_t   checkpoints;     /* valid ones */
    uint64_t   segments;        /* start, link and break lines */
    uint64_t   breaks;
    uint64_t   verified;        /* lines covered by a valid checkpoint */
    char       from[MIM_AUDIT_TIME_LEN + 1];   /* earliest time, or "" */
    char       to[MIM_AUDIT_TIME_LEN + 1];     /* latest time, or "" */
    char       chain[MIM_AUDIT_CHAIN_MAX];     /* last chain id, printable */

    /* to link files of one chain: the first and the last chain line */
    int        have_first;
    mim_audit_line_type_t  first_type;
    uint64_t   first_seq;
    uint64_t   first_line;
    uint8_t    first_prev[32];
    uint64_t   last_seq;
    uint8_t    last_hash[32];
    char       ends_with[16];   /* "exit", "rotate", "count", "interval",
                                   "record", ... of the last chain line */
} mim_audit_summary_t;

typedef struct mim_audit_verifier_s  mim_audit_verifier_t;

/* called, in line order, for each range of lines a checkpoint verified */
typedef void (*mim_audit_verified_pt)(void *ctx, uint64_t first_line,
    uint64_t last_line);

#define MIM_AUDIT_PROBLEMS_MAX  10000   /* kept; more are only counted */

/* trust: where checkpoint keys come from (kept by reference) */
mim_result_t mim_audit_verifier_new(mim_audit_verifier_t **v,
    const mim_jws_trust_t *trust);

void mim_audit_verifier_on_verified(mim_audit_verifier_t *v,
    mim_audit_verified_pt handler, void *ctx);

/* one line, without its newline */
void mim_audit_verify_line(mim_audit_verifier_t *v, const char *line,
    size_t len);

/* a whole log in memory: split at newlines, then mim_audit_verify_end() */
void mim_audit_verify_buffer(mim_audit_verifier_t *v, const char *data,
    size_t len);

/* no more lines: judge the last one and the tail */
void mim_audit_verify_end(mim_audit_verifier_t *v);

/* after end: the problems in line order; *dropped counts those not kept */
const mim_audit_problem_t *mim_audit_problems(const mim_audit_verifier_t *v,
    size_t *n, uint64_t *dropped);

const mim_audit_summary_t *mim_audit_summary(const mim_audit_verifier_t *v);

void mim_audit_verifier_free(mim_audit_verifier_t *v);

/*
 * Parse one line as the verifier does (for `mim audit show` and the
 * resume logic): its type and seq.  0 when it is not a log line.
 */
int mim_audit_line_info(const char *line, size_t len,
    mim_audit_line_type_t *type, uint64_t *seq);

/* hex of a 32-byte hash into dst (65 bytes) */
void mim_audit_hex(char dst[MIM_AUDIT_HASH_HEX + 1], const uint8_t h[32]);

#endif /* MIM_AUDIT_H */
