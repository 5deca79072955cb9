/*
 * mim_http_headers.h - parse a saved HTTP response header block.
 *
 * The input is what `curl -D FILE` writes (and what libcurl hands to a
 * header callback): one block per response received - a status line, field
 * lines, a blank line - for every interim (100 Continue) or redirected
 * response, then the final one, and after it any trailer fields that came
 * after the body.  CRLF or bare LF line ends are both accepted.
 *
 * Only the last response block is kept: its status, its header fields and
 * the trailer fields after its blank line.  A line starting with "HTTP/"
 * starts a block (a field name cannot contain '/').
 *
 * The input is untrusted: lines over MIM_HTTP_LINE_MAX and more than
 * MIM_HTTP_FIELDS_MAX fields are refused, field lines of the kept block are
 * checked (token name, no space before ':', no control characters, no
 * obsolete line folding).  Fields point into the caller's buffer, which
 * must outlive the result.
 */
#ifndef MIM_HTTP_HEADERS_H
#define MIM_HTTP_HEADERS_H

#include <stddef.h>

#include "mim_result.h"

#define MIM_HTTP_LINE_MAX    65536   /* bytes per line, line end excluded */
#define MIM_HTTP_FIELDS_MAX  1024    /* fields in the kept block */

typedef struct {
    const char  *name;
    size_t       name_len;
    const char  *value;              /* surrounding whitespace trimmed */
    size_t       value_len;
    int          is_trailer;         /* came after the body */
} mim_http_field_t;

typedef struct {
    int                status;       /* 100 .. 999 */
    const char        *version;      /* "HTTP/1.1", "HTTP/2", ... */
    size_t             version_len;
    mim_http_field_t  *fields;       /* header fields, then trailers */
    size_t             n;
    size_t             n_trailers;
    size_t             blocks;       /* response blocks seen in the input */
} mim_http_headers_t;

/* Which section of the kept block a lookup searches. */
typedef enum {
    MIM_HTTP_ANY = 0,
    MIM_HTTP_HEADER,
    MIM_HTTP_TRAILER
} mim_http_section_t;

/*
 * Parse buf (len bytes, need not be NUL-terminated).  On success h holds
 * the last block; free it with mim_http_headers_free().  On error h is
 * left empty (safe to free).  MIM_ERR_INVALID for malformed input,
 * MIM_ERR_LIMIT over the limits, MIM_ERR_NOMEM.
 */
mim_result_t mim_http_headers_parse(mim_http_headers_t *h, const char *buf,
    size_t len);

/*
 * The next field named name (ASCII case-insensitive) in section after
 * field after (NULL: from the first), or NULL.
 */
const mim_http_field_t *mim_http_headers_next(const mim_http_headers_t *h,
    const mim_http_field_t *after, const char *name,
    mim_http_section_t section);

/* how many fields named name there are in section */
size_t mim_http_headers_count(const mim_http_headers_t *h, const char *name,
    mim_http_section_t section);

void mim_http_headers_free(mim_http_headers_t *h);

#endif /* MIM_HTTP_HEADERS_H */
