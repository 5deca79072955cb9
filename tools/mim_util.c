/*
 * mim_util.c - helpers shared by the `mim` subcommands.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mim.h"

#define MIM_KEY_FILE_MAX   (1024UL * 1024)
#define MIM_JWKS_MAX       (4UL * 1024 * 1024)

void
mim_printable(char *s)
{
    for ( /* void */ ; *s != '\0'; s++) {
        if ((unsigned char) *s < 0x20 || (unsigned char) *s > 0x7e) {
            *s = '?';
        }
    }
}

json_t *
mim_printable_json(const char *s)
{
    json_t  *j;
    char    *copy = strdup(s);

    if (copy == NULL) {
        return NULL;
    }

    mim_printable(copy);
    j = json_string(copy);
    free(copy);
    return j;
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

int
mim_usage_error(const char *cmd, const char *fmt, ...)
{
    va_list  args;
    char     msg[1024];

    va_start(args, fmt);
    vsnprintf(msg, sizeof(msg), fmt, args);
    va_end(args);

    mim_error(cmd, "%s (try --help)", msg);
    return MIM_EXIT_USAGE;
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

/* ---- verification keys ---- */

mim_result_t
mim_tool_load_jwks(mim_tool_keys_t *k, const char *src,
    const mim_http_options_t *http)
{
    mim_http_response_t  resp;
    mim_http_request_t   req;
    mim_result_t         rc;
    uint8_t             *data = NULL;
    size_t               len = 0;

    memset(&resp, 0, sizeof(resp));

    if (mim_http_is_url(src)) {
        memset(&req, 0, sizeof(req));
        req.url = src;
        req.max_body = MIM_JWKS_MAX;

        rc = mim_http_fetch(http, &req, &resp);
        if (!mim_ok(rc)) {
            return mim_result_err(rc.code, "cannot fetch JWKS %.120s: %s",
                                  src, rc.msg);
        }

        if (resp.status != 200) {
            rc = mim_result_err(MIM_ERR_IO, "cannot fetch JWKS %.120s: "
                                "HTTP status %d", src, resp.status);
            mim_http_response_free(&resp);
            return rc;
        }

        data = resp.body;
        len = resp.body_len;

    } else {
        rc = mim_tool_read_file(src, MIM_JWKS_MAX, &data, &len);
        if (!mim_ok(rc)) {
            return rc;
        }
    }

    rc = mim_keyset_from_jwks(&k->set, (const char *) data, len);

    if (resp.body != NULL) {
        mim_http_response_free(&resp);
    } else {
        free(data);
    }

    if (!mim_ok(rc)) {
        return mim_result_err(rc.code, "JWKS %s: %s", src, rc.msg);
    }

    if (k->set.n == 0) {
        return mim_result_err(MIM_ERR_KEY, "JWKS %s has no signature key "
                              "this tool can use (%zu skipped)", src,
                              k->set.skipped);
    }

    k->trust.keys = &k->set;
    return mim_result_ok();
}

/*
 * A PEM public key or certificate; the core decides the algorithm from the
 * key (an RSA public key accepts RS* and PS*: it says nothing on padding).
 */
static mim_result_t
mim_tool_load_key(mim_tool_keys_t *k, const char *path)
{
    mim_result_t   rc;
    uint8_t       *data;
    size_t         len;

    rc = mim_tool_read_file(path, MIM_KEY_FILE_MAX, &data, &len);
    if (!mim_ok(rc)) {
        return rc;
    }

    rc = mim_key_from_pem(&k->key, (const char *) data, len, NULL, 0);
    free(data);

    if (!mim_ok(rc)) {
        return mim_result_err(rc.code, "%s: %s", path, rc.msg);
    }

    k->have_key = 1;
    k->set.keys = &k->key;
    k->set.n = 1;
    k->trust.keys = &k->set;
    return mim_result_ok();
}

mim_result_t
mim_tool_load_keys(mim_tool_keys_t *k, const char *key, const char *ca,
    const char *jwks, const mim_http_options_t *http)
{
    mim_result_t   rc;

    memset(k, 0, sizeof(*k));

    if (key != NULL) {
        rc = mim_tool_load_key(k, key);
        k->source = mim_sprintf("key %s", key);

    } else if (ca != NULL) {
        rc = mim_x509_store_load(&k->store, ca);
        k->trust.store = k->store;
        k->trust.keys = &k->set;            /* empty: x5c only */
        k->source = mim_sprintf("x5c to CA %s", ca);

    } else {
        rc = mim_tool_load_jwks(k, jwks, http);
        k->source = mim_sprintf("JWKS %s", jwks);
    }

    if (mim_ok(rc) && k->source == NULL) {
        rc = mim_result_err(MIM_ERR_NOMEM, "out of memory");
    }

    return rc;
}

void
mim_tool_keys_free(mim_tool_keys_t *k)
{
    if (k->have_key) {
        mim_key_free(&k->key);

    } else {
        mim_keyset_free(&k->set);
    }

    X509_STORE_free(k->store);
    free(k->source);
}
