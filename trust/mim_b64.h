/*
 * mim_b64.h - base64 (RFC 4648 section 4) and base64url (section 5).
 *
 * base64url is used unpadded, as JOSE requires; its decoder is strict:
 * padding, characters outside the alphabet, a length of 1 mod 4 and
 * non-zero unused trailing bits are all rejected, so one value has exactly
 * one encoding.  Standard base64 (x5c, Content-Digest) is padded.
 */
#ifndef MIM_B64_H
#define MIM_B64_H

#include <stddef.h>
#include <stdint.h>

/* characters needed to encode n bytes (no terminating NUL counted) */
#define mim_b64url_len(n)  (((n) / 3) * 4 + (((n) % 3) ? ((n) % 3) + 1 : 0))
#define mim_b64_len(n)     ((((n) + 2) / 3) * 4)
/* upper bound of bytes decoded from n characters */
#define mim_b64_decoded_max(n)  (((n) / 4) * 3 + 3)

/* encode; dst must hold mim_b64url_len(n) chars; returns chars written */
size_t mim_b64url_encode(char *dst, const uint8_t *src, size_t n);
size_t mim_b64_encode(char *dst, const uint8_t *src, size_t n);

/*
 * decode; dst must hold mim_b64_decoded_max(n) bytes.
 * Returns 0 and sets *dst_len, or -1 on any invalid input.
 */
int mim_b64url_decode(uint8_t *dst, size_t *dst_len, const char *src,
    size_t n);
int mim_b64_decode(uint8_t *dst, size_t *dst_len, const char *src, size_t n);

/*
 * Streaming base64url encoder: feed bytes in any split, get the same text
 * as mim_b64url_encode() of the concatenation.  Used to sign a body as it
 * passes without holding it.
 */
typedef struct {
    uint8_t  carry[2];
    size_t   carry_len;
} mim_b64url_stream_t;

void mim_b64url_stream_init(mim_b64url_stream_t *s);

/*
 * Encode as much of src as forms whole 3-byte groups (with the carry);
 * dst must hold mim_b64url_len(n + 2) chars.  Returns chars written.
 */
size_t mim_b64url_stream_update(mim_b64url_stream_t *s, char *dst,
    const uint8_t *src, size_t n);

/* flush the carry; dst must hold 3 chars.  Returns chars written. */
size_t mim_b64url_stream_final(mim_b64url_stream_t *s, char *dst);

#endif /* MIM_B64_H */
