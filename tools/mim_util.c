/*
 * mim_util.c - helpers shared by the `mim` subcommands.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mim.h"

void
mim_printable(char *s)
{
    for ( /* void */ ; *s != '\0'; s++) {
        if ((unsigned char) *s < 0x20 || (unsigned char) *s > 0x7e) {
            *s = '?';
        }
    }
}

void
mim_error(const char *cmd, const char *fmt, ...)
{
    va_list  args;
    char     msg[8192];

    va_start(args, fmt);
    vsnprintf(msg, sizeof(msg), fmt, args);
    va_end(args);

    mim_printable(msg);
    fprintf(stderr, "mim: %s: %s\n", cmd, msg);
}

char *
mim_sprintf(const char *fmt, ...)
{
    va_list  args;
    char    *s;
    int      n;

    va_start(args, fmt);
    n = vsnprintf(NULL, 0, fmt, args);
    va_end(args);

    if (n < 0) {
        return NULL;
    }

    s = malloc((size_t) n + 1);
    if (s == NULL) {
        return NULL;
    }

    va_start(args, fmt);
    vsnprintf(s, (size_t) n + 1, fmt, args);
    va_end(args);

    return s;
}

mim_result_t
mim_tool_read_file(const char *path, size_t max, uint8_t **data, size_t *len)
{
    FILE     *f;
    uint8_t  *buf, *grown;
    size_t    size, cap, got;
    int       is_stdin;

    *data = NULL;
    *len = 0;

    is_stdin = (strcmp(path, "-") == 0);
    f = is_stdin ? stdin : fopen(path, "rb");
    if (f == NULL) {
        return mim_result_err(MIM_ERR_IO, "cannot open %s: %s", path,
                              strerror(errno));
    }

    size = 0;
    cap = 65536;
    buf = malloc(cap + 1);
    if (buf == NULL) {
        goto nomem;
    }

    /* read in growing chunks: works for pipes and /dev/stdin alike */
    for ( ;; ) {
        if (size == cap) {
            if (cap > max) {
                break;
            }

            cap = (cap > max / 2) ? max + 1 : cap * 2;
            grown = realloc(buf, cap + 1);
            if (grown == NULL) {
                goto nomem;
            }

            buf = grown;
        }

        got = fread(buf + size, 1, cap - size, f);
        size += got;

        if (got == 0) {
            break;
        }
    }

    if (ferror(f)) {
        free(buf);
        if (!is_stdin) {
            fclose(f);
        }

        return mim_result_err(MIM_ERR_IO, "cannot read %s", path);
    }

    if (!is_stdin) {
        fclose(f);
    }

    if (size > max) {
        free(buf);
        return mim_result_err(MIM_ERR_LIMIT, "%s is larger than %zu bytes",
                              path, max);
    }

    buf[size] = '\0';
    *data = buf;
    *len = size;
    return mim_result_ok();

nomem:

    free(buf);
    if (!is_stdin) {
        fclose(f);
    }

    return mim_result_err(MIM_ERR_NOMEM, "out of memory reading %s", path);
}
