/*
 * fuzz_b64.c - libFuzzer target for base64 / base64url (trust/mim_b64.c).
 *
 * Properties: decode(encode(x)) == x in both variants; a text either
 * decoder accepts is the one canonical encoding of what it decodes to
 * (encode(decode(s)) == s); the streaming encoder gives the one-shot text
 * whatever the split (cut points taken from the input).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mim_b64.h"

static void
canonical(const char *text, size_t n, int url)
{
    uint8_t *raw = malloc(mim_b64_decoded_max(n));
    char *again = malloc(mim_b64_len(n) + 4);
    size_t raw_len = 0, len;
    int rc;

    if (raw == NULL || again == NULL) {
        abort();
    }
    rc = url ? mim_b64url_decode(raw, &raw_len, text, n)
             : mim_b64_decode(raw, &raw_len, text, n);
    if (rc == 0) {
        if (raw_len > mim_b64_decoded_max(n)) {
            abort();
        }
        len = url ? mim_b64url_encode(again, raw, raw_len)
                  : mim_b64_encode(again, raw, raw_len);
        if (len != n || memcmp(again, text, n) != 0) {
            abort();
        }
    } else if (rc != -1) {
        abort();
    }
    free(raw);
    free(again);
}

static void
round_trip(const uint8_t *data, size_t n, int url)
{
    char *text = malloc(mim_b64_len(n) + 1);
    uint8_t *back = malloc(mim_b64_decoded_max(mim_b64_len(n)));
    size_t len, back_len = 0;
    int rc;

    if (text == NULL || back == NULL) {
        abort();
    }
    len = url ? mim_b64url_encode(text, data, n)
              : mim_b64_encode(text, data, n);
    if (len != (url ? mim_b64url_len(n) : mim_b64_len(n))) {
        abort();
    }
    rc = url ? mim_b64url_decode(back, &back_len, text, len)
             : mim_b64_decode(back, &back_len, text, len);
    if (rc != 0 || back_len != n || (n > 0 && memcmp(back, data, n) != 0)) {
        abort();
    }
    free(text);
    free(back);
}

static void
stream(const uint8_t *data, size_t n)
{
    char *whole = malloc(mim_b64url_len(n) + 1);
    char *parts = malloc(mim_b64url_len(n) + 16);
    mim_b64url_stream_t s;
    size_t len, at = 0, out = 0, step;

    if (whole == NULL || parts == NULL) {
        abort();
    }
    len = mim_b64url_encode(whole, data, n);
    mim_b64url_stream_init(&s);
    /* piece sizes 0..7 from the data itself */
    while (at < n) {
        step = data[at] & 7;
        if (step > n - at) {
            step = n - at;
        }
        out += mim_b64url_stream_update(&s, parts + out, data + at, step);
        at += step;
        if (step == 0) {
            out += mim_b64url_stream_update(&s, parts + out, data + at, 1);
            at++;
        }
    }
    out += mim_b64url_stream_final(&s, parts + out);
    if (out != len || memcmp(parts, whole, len) != 0) {
        abort();
    }
    free(whole);
    free(parts);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    canonical((const char *) data, size, 1);
    canonical((const char *) data, size, 0);
    round_trip(data, size, 1);
    round_trip(data, size, 0);
    stream(data, size);
    return 0;
}
