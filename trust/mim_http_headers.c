/*
 * mim_http_headers.c - parse a saved HTTP response header block (see the
 * header for the format).  Untrusted input: every length is bounded and
 * every byte of the kept block is checked.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mim_http_headers.h"

typedef struct {
    const char  *buf;
    size_t       len;
    size_t       pos;
    size_t       lineno;        /* of the line last returned, from 1 */
} mim_line_reader_t;

/*
 * The next line without its LF and one CR before it.  Returns 0 at the
 * end of input.
 */
static int
mim_next_line(mim_line_reader_t *r, const char **line, size_t *line_len)
{
    const char  *start, *lf;
    size_t       n;

    if (r->pos >= r->len) {
        return 0;
    }

    start = r->buf + r->pos;
    lf = memchr(start, '\n', r->len - r->pos);
    n = lf ? (size_t) (lf - start) : r->len - r->pos;

    r->pos += n + (lf ? 1 : 0);
    r->lineno++;

    if (n > 0 && start[n - 1] == '\r') {
        n--;
    }

    *line = start;
    *line_len = n;
    return 1;
}

static int
mim_starts_status_line(const char *line, size_t n)
{
    return n >= 5 && memcmp(line, "HTTP/", 5) == 0;
}

static int
mim_is_tchar(unsigned char c)
{
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
        || (c >= '0' && c <= '9'))
    {
        return 1;
    }

    return c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

/* field-content and reason-phrase bytes: HTAB, SP, VCHAR, obs-text */
static int
mim_is_field_byte(unsigned char c)
{
    return c == '\t' || (c >= 0x20 && c != 0x7f);
}

static int
mim_is_ows(char c)
{
    return c == ' ' || c == '\t';
}

/* HTTP-version SP 3DIGIT [ SP reason-phrase ] */
static mim_result_t
mim_parse_status_line(mim_http_headers_t *h, const char *line, size_t n,
    size_t lineno)
{
    size_t  i, v;

    for (i = 5; i < n && ((line[i] >= '0' && line[i] <= '9')
                          || line[i] == '.'); i++)
    {
        /* version digits */
    }

    if (i == 5 || i + 4 > n || line[i] != ' ') {
        return mim_result_err(MIM_ERR_INVALID,
                              "line %zu: malformed status line", lineno);
    }

    h->version = line;
    h->version_len = i;
    i++;

    if (line[i] < '1' || line[i] > '9'
        || line[i + 1] < '0' || line[i + 1] > '9'
        || line[i + 2] < '0' || line[i + 2] > '9')
    {
        return mim_result_err(MIM_ERR_INVALID,
                              "line %zu: malformed status code", lineno);
    }

    h->status = (line[i] - '0') * 100 + (line[i + 1] - '0') * 10
                + (line[i + 2] - '0');
    i += 3;

    if (i < n && line[i] != ' ') {
        return mim_result_err(MIM_ERR_INVALID,
                              "line %zu: malformed status code", lineno);
    }

    for (v = i; v < n; v++) {
        if (!mim_is_field_byte((unsigned char) line[v])) {
            return mim_result_err(MIM_ERR_INVALID,
                                  "line %zu: control character in the "
                                  "status line", lineno);
        }
    }

    return mim_result_ok();
}

/* field-name ":" OWS field-value OWS */
static mim_result_t
mim_parse_field_line(mim_http_field_t *f, const char *line, size_t n,
    size_t lineno)
{
    size_t  i, start, end;

    if (mim_is_ows(line[0])) {
        return mim_result_err(MIM_ERR_INVALID,
                              "line %zu: obsolete line folding", lineno);
    }

    for (i = 0; i < n && mim_is_tchar((unsigned char) line[i]); i++) {
        /* field name */
    }

    if (i == n || line[i] != ':') {
        return mim_result_err(MIM_ERR_INVALID,
                              "line %zu: malformed field line%s", lineno,
                              (i < n && mim_is_ows(line[i]))
                                  ? " (whitespace before ':')" : "");
    }

    if (i == 0) {
        return mim_result_err(MIM_ERR_INVALID,
                              "line %zu: empty field name", lineno);
    }

    f->name = line;
    f->name_len = i;

    for (start = i + 1; start < n && mim_is_ows(line[start]); start++) {
        /* leading OWS */
    }

    for (end = n; end > start && mim_is_ows(line[end - 1]); end--) {
        /* trailing OWS */
    }

    for (i = start; i < end; i++) {
        if (!mim_is_field_byte((unsigned char) line[i])) {
            return mim_result_err(MIM_ERR_INVALID,
                                  "line %zu: control character in the "
                                  "value of %.*s", lineno,
                                  (int) (f->name_len > 64 ? 64
                                                          : f->name_len),
                                  f->name);
        }
    }

    f->value = line + start;
    f->value_len = end - start;
    return mim_result_ok();
}

/*
 * First pass: check line lengths, count blocks and find where the last
 * one starts.
 */
static mim_result_t
mim_find_last_block(mim_http_headers_t *h, const char *buf, size_t len,
    size_t *block_pos, size_t *block_lineno)
{
    mim_line_reader_t  r = { buf, len, 0, 0 };
    const char        *line;
    size_t             n, pos;

    for (pos = 0; mim_next_line(&r, &line, &n); pos = r.pos) {
        if (n > MIM_HTTP_LINE_MAX) {
            return mim_result_err(MIM_ERR_LIMIT,
                                  "line %zu: longer than %d bytes",
                                  r.lineno, MIM_HTTP_LINE_MAX);
        }

        if (mim_starts_status_line(line, n)) {
            h->blocks++;
            *block_pos = pos;
            *block_lineno = r.lineno - 1;
        }
    }

    if (h->blocks == 0) {
        return mim_result_err(MIM_ERR_INVALID, "no HTTP status line");
    }

    return mim_result_ok();
}

/* fields (header and trailer) of the block after its status line */
static mim_result_t
mim_count_fields(mim_line_reader_t r, size_t *count)
{
    const char  *line;
    size_t       n;

    *count = 0;

    while (mim_next_line(&r, &line, &n)) {
        if (n == 0) {
            continue;
        }

        if (++*count > MIM_HTTP_FIELDS_MAX) {
            return mim_result_err(MIM_ERR_LIMIT, "more than %d fields",
                                  MIM_HTTP_FIELDS_MAX);
        }
    }

    return mim_result_ok();
}

mim_result_t
mim_http_headers_parse(mim_http_headers_t *h, const char *buf, size_t len)
{
    mim_line_reader_t  r = { buf, len, 0, 0 };
    mim_result_t       rc;
    const char        *line;
    size_t             n, count, block_pos = 0;
    int                in_trailers = 0;

    memset(h, 0, sizeof(*h));

    if (buf == NULL && len > 0) {
        return mim_result_err(MIM_ERR_INVALID, "no input");
    }

    rc = mim_find_last_block(h, buf, len, &block_pos, &r.lineno);
    if (!mim_ok(rc)) {
        goto failed;
    }

    r.pos = block_pos;
    mim_next_line(&r, &line, &n);

    rc = mim_parse_status_line(h, line, n, r.lineno);
    if (!mim_ok(rc)) {
        goto failed;
    }

    rc = mim_count_fields(r, &count);
    if (!mim_ok(rc)) {
        goto failed;
    }

    /* one spare element: calloc(0) may return NULL */
    h->fields = calloc(count + 1, sizeof(mim_http_field_t));
    if (h->fields == NULL) {
        rc = mim_result_err(MIM_ERR_NOMEM, "out of memory");
        goto failed;
    }

    while (mim_next_line(&r, &line, &n)) {
        if (n == 0) {
            /* the end of the header section; after it, trailers */
            in_trailers = 1;
            continue;
        }

        rc = mim_parse_field_line(&h->fields[h->n], line, n, r.lineno);
        if (!mim_ok(rc)) {
            goto failed;
        }

        h->fields[h->n].is_trailer = in_trailers;
        h->n++;
        h->n_trailers += in_trailers;
    }

    return mim_result_ok();

failed:

    mim_http_headers_free(h);
    return rc;
}

static int
mim_name_equal(const mim_http_field_t *f, const char *name)
{
    size_t         i;
    unsigned char  a, b;

    for (i = 0; i < f->name_len; i++) {
        a = (unsigned char) f->name[i];
        b = (unsigned char) name[i];

        if (b == '\0') {
            return 0;
        }

        if (a >= 'A' && a <= 'Z') {
            a = a - 'A' + 'a';
        }

        if (b >= 'A' && b <= 'Z') {
            b = b - 'A' + 'a';
        }

        if (a != b) {
            return 0;
        }
    }

    return name[i] == '\0';
}

static int
mim_in_section(const mim_http_field_t *f, mim_http_section_t section)
{
    switch (section) {
    case MIM_HTTP_HEADER:
        return !f->is_trailer;
    case MIM_HTTP_TRAILER:
        return f->is_trailer;
    default:
        return 1;
    }
}

const mim_http_field_t *
mim_http_headers_next(const mim_http_headers_t *h,
    const mim_http_field_t *after, const char *name,
    mim_http_section_t section)
{
    size_t  i;

    i = (after == NULL) ? 0 : (size_t) (after - h->fields) + 1;

    for ( /* void */ ; i < h->n; i++) {
        if (mim_in_section(&h->fields[i], section)
            && mim_name_equal(&h->fields[i], name))
        {
            return &h->fields[i];
        }
    }

    return NULL;
}

size_t
mim_http_headers_count(const mim_http_headers_t *h, const char *name,
    mim_http_section_t section)
{
    const mim_http_field_t  *f = NULL;
    size_t                   count = 0;

    while ((f = mim_http_headers_next(h, f, name, section)) != NULL) {
        count++;
    }

    return count;
}

void
mim_http_headers_free(mim_http_headers_t *h)
{
    free(h->fields);
    memset(h, 0, sizeof(*h));
}
