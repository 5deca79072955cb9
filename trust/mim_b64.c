/*
 * mim_b64.c - base64 (RFC 4648 section 4) and base64url (section 5).
 *
 * Both decoders are strict so that a value has exactly one accepted
 * encoding: no whitespace, no characters outside the alphabet, padding
 * exactly where (and only where) the variant requires it, and zero unused
 * trailing bits.
 */
#include <string.h>

#include "mim_b64.h"

static const char b64url_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
static const char b64_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static size_t
encode_groups(char *dst, const uint8_t *src, size_t n, const char *alpha)
{
    size_t i, out = 0;

    for (i = 0; i + 3 <= n; i += 3) {
        uint32_t v = ((uint32_t) src[i] << 16) | ((uint32_t) src[i + 1] << 8)
                     | src[i + 2];
        dst[out++] = alpha[(v >> 18) & 63];
        dst[out++] = alpha[(v >> 12) & 63];
        dst[out++] = alpha[(v >> 6) & 63];
        dst[out++] = alpha[v & 63];
    }
    return out;
}

/* encode the last 1 or 2 bytes; pad with '=' when asked */
static size_t
encode_tail(char *dst, const uint8_t *src, size_t rest, const char *alpha,
    int pad)
{
    size_t out = 0;
    uint32_t v;

    if (rest == 0) {
        return 0;
    }
    v = (uint32_t) src[0] << 16;
    if (rest == 2) {
        v |= (uint32_t) src[1] << 8;
    }
    dst[out++] = alpha[(v >> 18) & 63];
    dst[out++] = alpha[(v >> 12) & 63];
    if (rest == 2) {
        dst[out++] = alpha[(v >> 6) & 63];
    } else if (pad) {
        dst[out++] = '=';
    }
    if (pad) {
        dst[out++] = '=';
    }
    return out;
}

size_t
mim_b64url_encode(char *dst, const uint8_t *src, size_t n)
{
    size_t out = encode_groups(dst, src, n, b64url_alphabet);

    return out + encode_tail(dst + out, src + n - n % 3, n % 3,
                             b64url_alphabet, 0);
}

size_t
mim_b64_encode(char *dst, const uint8_t *src, size_t n)
{
    size_t out = encode_groups(dst, src, n, b64_alphabet);

    return out + encode_tail(dst + out, src + n - n % 3, n % 3,
                             b64_alphabet, 1);
}

/* the 6-bit value of c, or -1 when c is not in the alphabet */
static inline int
sextet(unsigned char c, int url)
{
    if (c >= 'A' && c <= 'Z') {
        return c - 'A';
    }
    if (c >= 'a' && c <= 'z') {
        return c - 'a' + 26;
    }
    if (c >= '0' && c <= '9') {
        return c - '0' + 52;
    }
    if (c == (url ? '-' : '+')) {
        return 62;
    }
    if (c == (url ? '_' : '/')) {
        return 63;
    }
    return -1;
}

/*
 * Decode n characters that contain no padding, n % 4 != 1.  Unused bits
 * of a final partial group must be zero.
 */
static int
decode_unpadded(uint8_t *dst, size_t *dst_len, const char *src, size_t n,
    int url)
{
    const unsigned char *s = (const unsigned char *) src;
    size_t i, out = 0, rest = n % 4;
    int a, b, c, d;

    if (rest == 1) {
        return -1;
    }
    for (i = 0; i + 4 <= n; i += 4) {
        a = sextet(s[i], url);
        b = sextet(s[i + 1], url);
        c = sextet(s[i + 2], url);
        d = sextet(s[i + 3], url);
        if ((a | b | c | d) < 0) {
            return -1;
        }
        dst[out++] = (uint8_t) ((a << 2) | (b >> 4));
        dst[out++] = (uint8_t) ((b << 4) | (c >> 2));
        dst[out++] = (uint8_t) ((c << 6) | d);
    }
    if (rest >= 2) {
        a = sextet(s[i], url);
        b = sextet(s[i + 1], url);
        c = rest == 3 ? sextet(s[i + 2], url) : 0;
        if ((a | b | c) < 0) {
            return -1;
        }
        dst[out++] = (uint8_t) ((a << 2) | (b >> 4));
        if (rest == 2) {
            if (b & 0x0f) {
                return -1;
            }
        } else {
            dst[out++] = (uint8_t) ((b << 4) | (c >> 2));
            if (c & 0x03) {
                return -1;
            }
        }
    }
    *dst_len = out;
    return 0;
}

int
mim_b64url_decode(uint8_t *dst, size_t *dst_len, const char *src, size_t n)
{
    return decode_unpadded(dst, dst_len, src, n, 1);
}

int
mim_b64_decode(uint8_t *dst, size_t *dst_len, const char *src, size_t n)
{
    size_t pad = 0;

    if (n % 4 != 0) {
        return -1;
    }
    if (n > 0 && src[n - 1] == '=') {
        pad = (n > 1 && src[n - 2] == '=') ? 2 : 1;
    }
    /* with the padding cut, what is left is an unpadded encoding */
    return decode_unpadded(dst, dst_len, src, n - pad, 0);
}

void
mim_b64url_stream_init(mim_b64url_stream_t *s)
{
    s->carry_len = 0;
}

size_t
mim_b64url_stream_update(mim_b64url_stream_t *s, char *dst,
    const uint8_t *src, size_t n)
{
    size_t out = 0, need, whole;
    uint8_t group[3];

    if (s->carry_len > 0) {
        if (s->carry_len + n < 3) {
            memcpy(s->carry + s->carry_len, src, n);
            s->carry_len += n;
            return 0;
        }
        need = 3 - s->carry_len;
        memcpy(group, s->carry, s->carry_len);
        memcpy(group + s->carry_len, src, need);
        out = encode_groups(dst, group, 3, b64url_alphabet);
        src += need;
        n -= need;
        s->carry_len = 0;
    }
    whole = n - n % 3;
    out += encode_groups(dst + out, src, whole, b64url_alphabet);
    s->carry_len = n - whole;
    if (s->carry_len > 0) {
        memcpy(s->carry, src + whole, s->carry_len);
    }
    return out;
}

size_t
mim_b64url_stream_final(mim_b64url_stream_t *s, char *dst)
{
    size_t out = encode_tail(dst, s->carry, s->carry_len, b64url_alphabet,
                             0);

    s->carry_len = 0;
    return out;
}
