/*
 * mim_json.c - writing JSON text without a JSON library and without the
 * heap (see mim_json.h).  Everything works on the caller's buffers: the
 * policy evaluator uses it on the request path, where nothing allocates.
 */
#include <string.h>

#include "mim_json.h"

static const char  hex_digits[] = "0123456789abcdef";

/* the bulk of every string: printable ASCII but '"' and '\\' */
const uint8_t  mim_json_plain[256] = {
    [0x20 ... 0x21] = 1, [0x23 ... 0x5b] = 1, [0x5d ... 0x7e] = 1
};

size_t
mim_utf8_len(const unsigned char *s, size_t n)
{
    size_t    len, i;
    uint32_t  cp;

    if (s[0] < 0x80) {
        return 1;
    }
    if (s[0] >= 0xc2 && s[0] <= 0xdf) {
        len = 2;
        cp = s[0] & 0x1f;
    } else if (s[0] >= 0xe0 && s[0] <= 0xef) {
        len = 3;
        cp = s[0] & 0x0f;
    } else if (s[0] >= 0xf0 && s[0] <= 0xf4) {
        len = 4;
        cp = s[0] & 0x07;
    } else {
        return 0;
    }
    if (len > n) {
        return 0;
    }
    for (i = 1; i < len; i++) {
        if ((s[i] & 0xc0) != 0x80) {
            return 0;
        }
        cp = (cp << 6) | (s[i] & 0x3f);
    }
    /* overlong forms, surrogates, beyond U+10FFFF */
    if ((len == 3 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff)))
        || (len == 4 && (cp < 0x10000 || cp > 0x10ffff)))
    {
        return 0;
    }
    return len;
}

static size_t
put_u00xx(char out[MIM_JSON_CHAR_MAX], unsigned char c)
{
    memcpy(out, "\\u00", 4);
    out[4] = hex_digits[c >> 4];
    out[5] = hex_digits[c & 0x0f];
    return 6;
}

static size_t
put_replacement(char out[MIM_JSON_CHAR_MAX])
{
    memcpy(out, "\xef\xbf\xbd", 3);     /* U+FFFD */
    return 3;
}

size_t
mim_json_char(const char *s, size_t n, mim_json_esc_t esc,
    char out[MIM_JSON_CHAR_MAX], size_t *used)
{
    unsigned char  c = (unsigned char) s[0];
    size_t         len;

    *used = 1;
    if (c == '"' || c == '\\') {
        out[0] = '\\';
        out[1] = (char) c;
        return 2;
    }
    if (esc == MIM_JSON_ESC_REPLACE) {
        switch (c) {
        case '\n': memcpy(out, "\\n", 2); return 2;
        case '\r': memcpy(out, "\\r", 2); return 2;
        case '\t': memcpy(out, "\\t", 2); return 2;
        case 0:
            /* valid JSON as \u0000, but C string consumers stop there */
            return put_replacement(out);
        }
    }
    if (c < 0x20 || c == 0x7f) {
        return put_u00xx(out, c);
    }
    len = mim_utf8_len((const unsigned char *) s, n);
    if (len == 0) {
        return esc == MIM_JSON_ESC_REPLACE ? put_replacement(out)
                                           : put_u00xx(out, c);
    }
    memcpy(out, s, len);
    *used = len;
    return len;
}

/* the plain characters from s[at] on */
static size_t
plain_run(const char *s, size_t at, size_t n)
{
    size_t  end = at;

    while (end < n && mim_json_plain[(unsigned char) s[end]]) {
        end++;
    }
    return end - at;
}

size_t
mim_json_escaped_len(const char *s, size_t n, mim_json_esc_t esc)
{
    char    out[MIM_JSON_CHAR_MAX];
    size_t  total = 0, at = 0, run, used;

    while (at < n) {
        run = plain_run(s, at, n);
        total += run;
        at += run;
        if (at < n) {
            total += mim_json_char(s + at, n - at, esc, out, &used);
            at += used;
        }
    }
    return total;
}

size_t
mim_json_escape(char *dst, size_t room, const char *s, size_t n,
    mim_json_esc_t esc)
{
    char    out[MIM_JSON_CHAR_MAX];
    size_t  pos = 0, at = 0, run, len, used;

    while (at < n) {
        run = plain_run(s, at, n);
        if (run > room - pos) {
            run = room - pos;
        }
        memcpy(dst + pos, s + at, run);
        pos += run;
        at += run;
        if (at == n) {
            break;
        }
        len = mim_json_char(s + at, n - at, esc, out, &used);
        if (len > room - pos) {
            break;
        }
        memcpy(dst + pos, out, len);
        pos += len;
        at += used;
    }
    return pos;
}

char *
mim_json_put_str(char *p, const char *s, size_t n, mim_json_esc_t esc)
{
    *p++ = '"';
    /* the caller has room for the worst case: no bound to check */
    p += mim_json_escape(p, SIZE_MAX, s, n, esc);
    *p++ = '"';
    return p;
}

size_t
mim_format_int(char dst[MIM_INT_DIGITS_MAX], int64_t v)
{
    char      digits[MIM_INT_DIGITS_MAX];
    size_t    at = sizeof(digits);
    uint64_t  u = v < 0 ? (uint64_t) 0 - (uint64_t) v : (uint64_t) v;

    do {
        digits[--at] = (char) ('0' + u % 10);
        u /= 10;
    } while (u != 0);
    if (v < 0) {
        digits[--at] = '-';
    }
    memcpy(dst, digits + at, sizeof(digits) - at);
    return sizeof(digits) - at;
}

/* ---- the bounded builder ---- */

void
mim_json_buf_init(mim_json_buf_t *b, char *dst, size_t cap)
{
    b->p = dst;
    b->len = 0;
    b->cap = cap;
    b->full = 0;
}

void
mim_json_raw(mim_json_buf_t *b, const char *s, size_t n)
{
    if (b->full || n >= b->cap - b->len) {
        b->full = 1;
        return;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
}

void
mim_json_int(mim_json_buf_t *b, int64_t v)
{
    char  digits[MIM_INT_DIGITS_MAX];

    mim_json_raw(b, digits, mim_format_int(digits, v));
}

void
mim_json_str(mim_json_buf_t *b, const char *s, size_t n,
    mim_json_esc_t esc)
{
    size_t  room;

    if (b->full) {
        return;
    }
    room = b->cap - b->len;
    /* the common case fits even at the worst; else measure first */
    if ((n > (SIZE_MAX - 3) / 6 || 6 * n + 2 >= room)
        && mim_json_escaped_len(s, n, esc) + 2 >= room)
    {
        b->full = 1;
        return;
    }
    b->len = (size_t) (mim_json_put_str(b->p + b->len, s, n, esc) - b->p);
}
