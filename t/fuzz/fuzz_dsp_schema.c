/*
 * fuzz_dsp_schema.c - libFuzzer target for the DSP 2025-1 schema validator
 * (dsp/mim_dsp_schema.c): what `mim consumer` runs over every message a
 * provider, or anyone reaching its callback port, sends it.
 *
 * Input: one byte, then text.
 *   byte < 0xf0: the text is a message, validated against the schema of
 *     type number byte % (types + 1), the last number meaning "its @type".
 *   byte >= 0xf0: "PATTERN\nTEXT": a schema of one "pattern" is loaded
 *     and TEXT searched, so the regular expression engine meets any
 *     pattern and any text.
 *
 * Beyond "no crash, no leak, no runaway": a verdict is OK, INVALID or
 * LIMIT, with a printable message when it is not OK (the consumer prints
 * it); the same text gives the same verdict twice, and the same verdict
 * parsed first (mim_dsp_schema_validate_json); a message valid by its
 * @type is valid when that type is given.  A pattern P answers as (P)
 * and as (P)|(P) do.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "mim_dsp_schema.h"

static size_t  ntypes;

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
    if (!mim_ok(mim_dsp_schema_init())) {
        abort();
    }
    while (mim_dsp_schema_type(ntypes) != NULL) {
        ntypes++;
    }
    return 0;
}

static void
check_result(const mim_result_t *r)
{
    const char  *p;

    if (mim_ok(*r)) {
        return;
    }
    if ((r->code != MIM_ERR_INVALID && r->code != MIM_ERR_LIMIT)
        || r->msg[0] == '\0')
    {
        abort();
    }
    for (p = r->msg; *p != '\0'; p++) {
        if (*p < 0x20 || *p > 0x7e) {
            abort();
        }
    }
}

static int
same(const mim_result_t *a, const mim_result_t *b)
{
    return a->code == b->code && strcmp(a->msg, b->msg) == 0;
}

static void
fuzz_message(const char *text, size_t len, const char *type)
{
    mim_result_t   r, again, parsed;
    json_t        *doc, *t;

    r = mim_dsp_schema_validate(text, len, type);
    check_result(&r);
    again = mim_dsp_schema_validate(text, len, type);
    if (!same(&r, &again)) {
        abort();
    }
    if (len == 0 || len > MIM_DSP_SCHEMA_MAX_TEXT) {
        return;
    }
    doc = json_loadb(text, len, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES,
                     NULL);
    if (doc == NULL) {
        if (mim_ok(r)) {
            abort();
        }
        return;
    }
    parsed = mim_dsp_schema_validate_json(doc, type);
    if (!same(&r, &parsed)) {
        abort();
    }
    if (mim_ok(r) && type == NULL) {
        t = json_object_get(doc, "@type");
        again = mim_dsp_schema_validate_json(doc, json_string_value(t));
        if (!mim_ok(again)) {
            abort();
        }
    }
    json_decref(doc);
}

/* 1 match, 0 no match, -1 the pattern does not load */
static int
search(const char *pattern, size_t plen, const json_t *text)
{
    static char             schema[8192];
    mim_dsp_schema_text_t   texts[2];
    mim_dsp_schema_set_t   *set;
    mim_result_t            r;
    json_t                 *p = json_stringn(pattern, plen);
    char                   *quoted;
    int                     n;

    if (p == NULL) {
        return -1;
    }
    quoted = json_dumps(p, JSON_ENCODE_ANY);
    json_decref(p);
    if (quoted == NULL) {
        abort();
    }
    n = snprintf(schema, sizeof(schema), "{\"$id\": \"urn:f\", \"allOf\": "
                 "[{\"$ref\": \"#/definitions/F\"}], \"definitions\": "
                 "{\"F\": {\"type\": \"string\", \"pattern\": %s}}}", quoted);
    free(quoted);
    if (n < 0 || (size_t) n >= sizeof(schema)) {
        return -1;
    }
    memset(texts, 0, sizeof(texts));
    texts[0].id = "urn:f";
    texts[0].path = "f.json";
    texts[0].text = schema;
    r = mim_dsp_schema_set_load(&set, texts);
    if (!mim_ok(r)) {
        if (r.code != MIM_ERR_UNSUPPORTED || set != NULL) {
            abort();
        }
        return -1;
    }
    r = mim_dsp_schema_set_validate_json(set, text, "F");
    mim_dsp_schema_set_free(set);
    if (!mim_ok(r) && r.code != MIM_ERR_INVALID) {
        abort();
    }
    return mim_ok(r);
}

static void
fuzz_pattern(const char *data, size_t size)
{
    const char  *nl = memchr(data, '\n', size);
    json_t      *text;
    char        *wrapped;
    size_t       plen;
    int          m, w;

    if (nl == NULL || (size_t) (nl - data) > 512) {
        return;
    }
    plen = (size_t) (nl - data);
    text = json_stringn(nl + 1, size - plen - 1);
    if (text == NULL) {
        return;
    }
    m = search(data, plen, text);
    wrapped = malloc(2 * plen + 8);
    if (m >= 0 && wrapped != NULL) {
        /* (P) and (P)|(P): the same language */
        wrapped[0] = '(';
        memcpy(wrapped + 1, data, plen);
        wrapped[plen + 1] = ')';
        w = search(wrapped, plen + 2, text);
        if (w >= 0 && w != m) {
            abort();
        }
        wrapped[plen + 2] = '|';
        memcpy(wrapped + plen + 3, wrapped, plen + 2);
        w = search(wrapped, 2 * plen + 5, text);
        if (w >= 0 && w != m) {
            abort();
        }
    }
    free(wrapped);
    json_decref(text);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t  k;

    if (size < 1) {
        return 0;
    }
    if (data[0] >= 0xf0) {
        fuzz_pattern((const char *) data + 1, size - 1);
        return 0;
    }
    k = data[0] % (ntypes + 1);
    fuzz_message((const char *) data + 1, size - 1,
                 k < ntypes ? mim_dsp_schema_type(k) : NULL);
    return 0;
}
