/*
 * fuzz_ngsild_filter.c - libFuzzer target for the NGSI-LD body filter
 * (policies/mim_policy_ngsild_filter.c), which reads whatever a broker
 * answers, and for the readers of `type=`, `attrs=` and `q=` values
 * (policies/mim_policy_ngsild.c), which read what a consumer asks.
 *
 * Beyond "no crash", for a few scopes: the output is never longer than
 * the input; an unchanged body is the input; filtering in place gives
 * the same bytes; a filtered body is JSON whenever the input was (for
 * jansson); and filtering it again changes nothing.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "mim_policy.h"

static const mim_str_t  types[] = { { "AirQualityObserved", 18 },
                                    { "A", 1 } };
static const mim_str_t  attrs[] = { { "name", 4 }, { "NO2", 3 },
                                    { "status", 6 } };
static const mim_str_t  deny[] = { { "PM25", 4 }, { "location", 8 },
                                   { "https://x.org/ns#A", 18 } };

static const mim_policy_ngsild_scope_t  scopes[] = {
    { types, 2, NULL, 0, attrs, 3, NULL, 0 },
    { NULL, 0, deny + 2, 1, NULL, 0, deny, 2 },
    { types, 0, NULL, 0, NULL, 0, NULL, 0 },
    { NULL, 0, NULL, 0, attrs, 0, deny, 3 },
};

static int
is_json(const char *s, size_t len)
{
    json_t  *v;

    v = json_loadb(s, len, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
    json_decref(v);
    return v != NULL;
}

static void
check_scope(const mim_policy_ngsild_scope_t *sc, const char *in, size_t len,
    char *out, char *again)
{
    mim_policy_ngsild_filter_t  info, info2;
    mim_result_t                r;
    size_t                      out_len, again_len;

    r = mim_policy_ngsild_filter(sc, in, len, out, &out_len, &info);
    if (!mim_ok(r)) {
        return;
    }
    if (out_len > len || (!info.changed && (out_len != len
                                            || memcmp(out, in, len) != 0)))
    {
        abort();
    }
    if (info.forbidden) {
        if (out_len != 0) {
            abort();
        }
        return;
    }

    /* in place */
    memcpy(again, in, len);
    r = mim_policy_ngsild_filter(sc, again, len, again, &again_len, &info2);
    if (!mim_ok(r) || again_len != out_len
        || memcmp(again, out, out_len) != 0)
    {
        abort();
    }

    if (info.changed && is_json(in, len) && !is_json(out, out_len)) {
        abort();
    }

    /* what is left is covered */
    r = mim_policy_ngsild_filter(sc, out, out_len, again, &again_len,
                                 &info2);
    if (!mim_ok(r) || info2.changed) {
        abort();
    }
}

static void
check_names(const char *in, size_t len)
{
    mim_str_t  names[8];
    size_t     i, n;

    n = mim_policy_ngsild_names(in, len, names, 8);
    for (i = 0; i < n && i < 8; i++) {
        if (names[i].len == 0 || names[i].data < in
            || names[i].data + names[i].len > in + len)
        {
            abort();
        }
    }
    n = mim_policy_ngsild_q_attrs(in, len, names, 8);
    for (i = 0; i < n && i < 8; i++) {
        if (names[i].len == 0 || names[i].data < in
            || names[i].data + names[i].len > in + len)
        {
            abort();
        }
    }
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char    *in, *out, *again;
    size_t   i;

    /* exact-size copies: ASan sees any read past the end */
    in = malloc(size ? size : 1);
    out = malloc(size ? size : 1);
    again = malloc(size ? size : 1);
    if (in == NULL || out == NULL || again == NULL) {
        abort();
    }
    memcpy(in, data, size);

    for (i = 0; i < sizeof(scopes) / sizeof(scopes[0]); i++) {
        check_scope(&scopes[i], in, size, out, again);
    }
    check_names(in, size);

    free(in);
    free(out);
    free(again);
    return 0;
}
