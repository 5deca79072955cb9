/*
 * fuzz_headers_file.c - libFuzzer target for the saved-headers parser
 * (trust/mim_http_headers.c): `mim verify-response --headers FILE` reads
 * whatever it is given.  Beyond "no crash", check the invariants callers
 * rely on: fields point inside the input, names are non-empty, values have
 * no line breaks, counts add up, and lookups find what is there.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mim_http_headers.h"

static void
check_field(const mim_http_field_t *f, const char *buf, size_t len)
{
    if (f->name_len == 0
        || f->name < buf || f->name + f->name_len > buf + len
        || f->value < buf || f->value + f->value_len > buf + len
        || memchr(f->value, '\n', f->value_len) != NULL
        || memchr(f->value, '\r', f->value_len) != NULL
        || memchr(f->name, ':', f->name_len) != NULL)
    {
        abort();
    }
}

static void
check_lookup(const mim_http_headers_t *h, const mim_http_field_t *f)
{
    char  name[64];

    if (f->name_len >= sizeof(name)) {
        return;
    }

    memcpy(name, f->name, f->name_len);
    name[f->name_len] = '\0';

    if (mim_http_headers_count(h, name, MIM_HTTP_ANY) == 0
        || mim_http_headers_next(h, NULL, name,
                                 f->is_trailer ? MIM_HTTP_TRAILER
                                               : MIM_HTTP_HEADER) == NULL)
    {
        abort();
    }
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    mim_http_headers_t  h;
    mim_result_t        rc;
    size_t              i, trailers = 0;
    char               *buf;

    /* a private copy, so reads past the end are caught by ASan */
    buf = malloc(size ? size : 1);
    if (buf == NULL) {
        return 0;
    }

    memcpy(buf, data, size);

    rc = mim_http_headers_parse(&h, buf, size);

    if (mim_ok(rc)) {
        if (h.status < 100 || h.status > 999 || h.blocks == 0
            || h.n > MIM_HTTP_FIELDS_MAX)
        {
            abort();
        }

        for (i = 0; i < h.n; i++) {
            check_field(&h.fields[i], buf, size);
            check_lookup(&h, &h.fields[i]);
            trailers += h.fields[i].is_trailer ? 1 : 0;
        }

        if (trailers != h.n_trailers) {
            abort();
        }

    } else if (h.fields != NULL || h.n != 0 || rc.msg[0] == '\0') {
        abort();
    }

    mim_http_headers_free(&h);
    free(buf);
    return 0;
}
