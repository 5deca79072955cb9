/*
 * mim_json.h - writing JSON text without a JSON library and without the
 * heap: UTF-8 checking, string escaping, and a bounded text builder over
 * a caller's buffer.  Shared by trust/ (JWS headers, audit lines) and
 * policies/ (decision explanations, on the request path).
 */
#ifndef MIM_JSON_H
#define MIM_JSON_H

#include <stddef.h>
#include <stdint.h>

/* the longest JSON text one input character can become ("\u00XX") */
#define MIM_JSON_CHAR_MAX  6

/* bytes of a well-formed UTF-8 sequence at s (RFC 3629), 0 if none */
size_t mim_utf8_len(const unsigned char *s, size_t n);

/* 1: printable ASCII that a JSON string takes as is (not '"' nor '\\') */
extern const uint8_t  mim_json_plain[256];

/* how a string's characters that are not plain are written */
typedef enum {
    /*
     * '"' and '\\' with a backslash; control characters, DEL and bytes
     * that are not UTF-8 as \u00XX (their Latin-1 reading), so nothing is
     * lost and the text stays valid JSON for every parser.
     */
    MIM_JSON_ESC_LATIN1 = 0,
    /*
     * For untrusted text read back by C string consumers: '"', '\\',
     * \n, \r and \t with a backslash; other control characters and DEL as
     * \u00XX; NUL and bytes that are not UTF-8 as U+FFFD.
     */
    MIM_JSON_ESC_REPLACE
} mim_json_esc_t;

/*
 * The JSON text of the character (or UTF-8 sequence) at s, n > 0 bytes
 * available, into out; returns its length and sets *used to the input
 * bytes it stands for.
 */
size_t mim_json_char(const char *s, size_t n, mim_json_esc_t esc,
    char out[MIM_JSON_CHAR_MAX], size_t *used);

/* the length of s escaped, without quotes */
size_t mim_json_escaped_len(const char *s, size_t n, mim_json_esc_t esc);

/*
 * Escape as much of s as fits in room bytes at dst, whole characters
 * only, without quotes or NUL; returns the bytes written.
 */
size_t mim_json_escape(char *dst, size_t room, const char *s, size_t n,
    mim_json_esc_t esc);

/*
 * s as a quoted JSON string at p, which has room for 6 * n + 2 bytes;
 * returns the end of what was written (no NUL).
 */
char *mim_json_put_str(char *p, const char *s, size_t n, mim_json_esc_t esc);

/* the longest decimal int64_t: "-9223372036854775808" */
#define MIM_INT_DIGITS_MAX  20

/* v in decimal at dst (no NUL); returns the length */
size_t mim_format_int(char dst[MIM_INT_DIGITS_MAX], int64_t v);

/* ---- a bounded builder: JSON text in a caller's buffer ---- */

typedef struct {
    char    *p;
    size_t   len;
    size_t   cap;       /* room for len bytes plus the NUL */
    int      full;      /* something did not fit: the text is unusable */
} mim_json_buf_t;

/* cap > 0: one byte stays free for the caller's NUL */
void mim_json_buf_init(mim_json_buf_t *b, char *dst, size_t cap);

void mim_json_raw(mim_json_buf_t *b, const char *s, size_t n);

#define mim_json_lit(b, s)  mim_json_raw(b, s, sizeof(s) - 1)

/* v in decimal */
void mim_json_int(mim_json_buf_t *b, int64_t v);

/* s as a quoted JSON string */
void mim_json_str(mim_json_buf_t *b, const char *s, size_t n,
    mim_json_esc_t esc);

#endif /* MIM_JSON_H */
