/*
 * mim_jwt.c - compact JWS / JWT: strict parsing, verification with a
 * pinned key, signing with the gateway's key.
 *
 * Parsing refuses, before any cryptography, everything a verifier must
 * never act on: unknown or keyless algorithms, headers that would let the
 * token choose its own key (jku, x5u, jwk), extensions we do not
 * implement (crit, b64), oversized tokens, deep nesting and duplicate
 * members (two readers could see two different tokens).  Verification
 * then takes the key from the caller, never from the token.
 */
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/rand.h>

#include "mim_b64.h"
#include "mim_json.h"
#include "mim_jwt.h"
#include "mim_trust_int.h"

#define JWT_SIG_MAX       2048      /* RSA-16384 signature bytes */
#define NUMERIC_DATE_MAX  ((int64_t) 1 << 40)   /* far beyond year 9999 */
#define LEEWAY_MAX        86400

/* ---- JSON ----
 *
 * A strict RFC 8259 reader for the header and the claims, building jansson
 * values.  jansson's own reader takes ~30 ns a byte (it lexes through a
 * per-character stream), which made a 4 KiB iSHARE header (its x5c chain)
 * cost more than the RSA signature it carries; this one copies runs of
 * plain characters at once.  It accepts exactly what json_loadb() with
 * JSON_REJECT_DUPLICATES accepts (fuzz_jwt checks the two against each
 * other), but only an object at the top, and nesting only up to
 * max_depth.
 */

typedef struct {
    const uint8_t  *p;
    const uint8_t  *end;
    char           *scratch;    /* decoded strings, used as a stack */
    size_t          top;
    int             depth;
    int             max_depth;
    int             too_deep;
    const char     *err;        /* static text */
} jp_t;

static json_t *jp_value(jp_t *jp);

static void *
jp_fail(jp_t *jp, const char *err)
{
    if (jp->err == NULL) {
        jp->err = err;
    }
    return NULL;
}

static void
jp_space(jp_t *jp)
{
    while (jp->p < jp->end && (*jp->p == ' ' || *jp->p == '\t'
                               || *jp->p == '\n' || *jp->p == '\r'))
    {
        jp->p++;
    }
}

static int
hex4(const uint8_t *s, uint32_t *out)
{
    uint32_t v = 0;
    int i, d;

    for (i = 0; i < 4; i++) {
        d = mim_hex_value(s[i]);
        if (d < 0) {
            return 0;
        }
        v = v << 4 | (uint32_t) d;
    }
    *out = v;
    return 1;
}

static size_t
utf8_put(char *dst, uint32_t cp)
{
    if (cp < 0x80) {
        dst[0] = (char) cp;
        return 1;
    }
    if (cp < 0x800) {
        dst[0] = (char) (0xc0 | cp >> 6);
        dst[1] = (char) (0x80 | (cp & 0x3f));
        return 2;
    }
    if (cp < 0x10000) {
        dst[0] = (char) (0xe0 | cp >> 12);
        dst[1] = (char) (0x80 | ((cp >> 6) & 0x3f));
        dst[2] = (char) (0x80 | (cp & 0x3f));
        return 3;
    }
    dst[0] = (char) (0xf0 | cp >> 18);
    dst[1] = (char) (0x80 | ((cp >> 12) & 0x3f));
    dst[2] = (char) (0x80 | ((cp >> 6) & 0x3f));
    dst[3] = (char) (0x80 | (cp & 0x3f));
    return 4;
}

/* "\uXXXX" (and its low surrogate) at jp->p, after the backslash */
static int
jp_unicode(jp_t *jp, uint32_t *cp)
{
    uint32_t low;

    if (jp->end - jp->p < 5 || !hex4(jp->p + 1, cp)) {
        return 0;
    }
    jp->p += 5;
    if (*cp >= 0xdc00 && *cp <= 0xdfff) {
        return 0;                       /* a lone low surrogate */
    }
    if (*cp >= 0xd800 && *cp <= 0xdbff) {
        if (jp->end - jp->p < 6 || jp->p[0] != '\\' || jp->p[1] != 'u'
            || !hex4(jp->p + 2, &low) || low < 0xdc00 || low > 0xdfff)
        {
            return 0;
        }
        jp->p += 6;
        *cp = 0x10000 + ((*cp - 0xd800) << 10) + (low - 0xdc00);
    }
    return *cp != 0;                    /* no NUL in our strings */
}

/*
 * A string at jp->p (the opening quote), decoded onto the scratch stack
 * at jp->top; *len its length.  jp->top is left after it.
 */
static char *
jp_string(jp_t *jp, size_t *len)
{
    char *start = jp->scratch + jp->top, *dst = start;
    const uint8_t *run;
    uint32_t cp;
    size_t n;
    uint8_t c;

    jp->p++;
    for (;;) {
        run = jp->p;
        while (jp->p < jp->end && *jp->p >= 0x20 && *jp->p < 0x80
               && *jp->p != '"' && *jp->p != '\\')
        {
            jp->p++;
        }
        memcpy(dst, run, (size_t) (jp->p - run));
        dst += jp->p - run;
        if (jp->p == jp->end) {
            return jp_fail(jp, "unterminated string");
        }
        c = *jp->p;
        if (c == '"') {
            jp->p++;
            break;
        }
        if (c < 0x20) {
            return jp_fail(jp, "control character in a string");
        }
        if (c >= 0x80) {
            n = mim_utf8_len(jp->p, (size_t) (jp->end - jp->p));
            if (n == 0) {
                return jp_fail(jp, "invalid UTF-8");
            }
            memcpy(dst, jp->p, n);
            dst += n;
            jp->p += n;
            continue;
        }
        /* a backslash */
        if (++jp->p == jp->end) {
            return jp_fail(jp, "unterminated string");
        }
        switch (*jp->p) {
        case '"':  *dst++ = '"';  break;
        case '\\': *dst++ = '\\'; break;
        case '/':  *dst++ = '/';  break;
        case 'b':  *dst++ = '\b'; break;
        case 'f':  *dst++ = '\f'; break;
        case 'n':  *dst++ = '\n'; break;
        case 'r':  *dst++ = '\r'; break;
        case 't':  *dst++ = '\t'; break;
        case 'u':
            if (!jp_unicode(jp, &cp)) {
                return jp_fail(jp, "invalid \\u escape (or \\u0000)");
            }
            dst += utf8_put(dst, cp);
            continue;
        default:
            return jp_fail(jp, "invalid escape");
        }
        jp->p++;
    }
    *len = (size_t) (dst - start);
    *dst = '\0';
    jp->top += *len + 1;
    return start;
}

static int
is_digit_byte(uint8_t c)
{
    return c >= '0' && c <= '9';
}

static json_t *
jp_number(jp_t *jp)
{
    const uint8_t *start = jp->p;
    int negative = 0, real = 0;
    uint64_t v = 0, limit;
    char *text;
    double d;

    if (*jp->p == '-') {
        negative = 1;
        jp->p++;
    }
    if (jp->p == jp->end || !is_digit_byte(*jp->p)) {
        return jp_fail(jp, "invalid number");
    }
    if (*jp->p == '0') {
        jp->p++;
        if (jp->p < jp->end && is_digit_byte(*jp->p)) {
            return jp_fail(jp, "invalid number (leading zero)");
        }
    } else {
        while (jp->p < jp->end && is_digit_byte(*jp->p)) {
            jp->p++;
        }
    }
    if (jp->p < jp->end && *jp->p == '.') {
        real = 1;
        if (++jp->p == jp->end || !is_digit_byte(*jp->p)) {
            return jp_fail(jp, "invalid number");
        }
        while (jp->p < jp->end && is_digit_byte(*jp->p)) {
            jp->p++;
        }
    }
    if (jp->p < jp->end && (*jp->p == 'e' || *jp->p == 'E')) {
        real = 1;
        if (++jp->p < jp->end && (*jp->p == '+' || *jp->p == '-')) {
            jp->p++;
        }
        if (jp->p == jp->end || !is_digit_byte(*jp->p)) {
            return jp_fail(jp, "invalid number");
        }
        while (jp->p < jp->end && is_digit_byte(*jp->p)) {
            jp->p++;
        }
    }
    if (!real) {
        /* as strtoll: out of range is an error, as in jansson */
        limit = negative ? (uint64_t) INT64_MAX + 1 : (uint64_t) INT64_MAX;
        for (start += negative; start < jp->p; start++) {
            if (v > (limit - (uint64_t) (*start - '0')) / 10) {
                return jp_fail(jp, "integer out of range");
            }
            v = v * 10 + (uint64_t) (*start - '0');
        }
        return json_integer(negative ? (json_int_t) (0 - v) : (json_int_t) v);
    }
    /* strtod wants a terminated copy: the scratch stack has room, since
       a number is never longer than the text it came from */
    text = jp->scratch + jp->top;
    memcpy(text, start, (size_t) (jp->p - start));
    text[jp->p - start] = '\0';
    errno = 0;
    d = strtod(text, NULL);
    if ((d == HUGE_VAL || d == -HUGE_VAL) && errno == ERANGE) {
        return jp_fail(jp, "real number overflow");
    }
    return json_real(d);
}

static json_t *
jp_literal(jp_t *jp, const char *word, json_t *value)
{
    size_t n = strlen(word);

    if ((size_t) (jp->end - jp->p) < n || memcmp(jp->p, word, n) != 0) {
        return jp_fail(jp, "invalid token");
    }
    jp->p += n;
    return value;
}

static json_t *
jp_object(jp_t *jp)
{
    json_t *obj, *v;
    size_t key_len, mark;
    char *key;

    jp->p++;
    obj = json_object();
    if (obj == NULL) {
        return jp_fail(jp, "out of memory");
    }
    jp_space(jp);
    if (jp->p < jp->end && *jp->p == '}') {
        jp->p++;
        return obj;
    }
    for (;;) {
        if (jp->p == jp->end || *jp->p != '"') {
            break;
        }
        mark = jp->top;
        key = jp_string(jp, &key_len);
        if (key == NULL) {
            break;
        }
        /* another reader might keep the other value: refuse both */
        if (json_object_getn(obj, key, key_len) != NULL) {
            jp_fail(jp, "duplicate object key");
            break;
        }
        jp_space(jp);
        if (jp->p == jp->end || *jp->p != ':') {
            jp_fail(jp, "':' expected");
            break;
        }
        jp->p++;
        jp_space(jp);
        v = jp_value(jp);
        if (v == NULL
            || json_object_setn_new_nocheck(obj, key, key_len, v) != 0)
        {
            jp_fail(jp, "out of memory");
            break;
        }
        jp->top = mark;
        jp_space(jp);
        if (jp->p < jp->end && *jp->p == ',') {
            jp->p++;
            jp_space(jp);
            continue;
        }
        if (jp->p < jp->end && *jp->p == '}') {
            jp->p++;
            return obj;
        }
        jp_fail(jp, "',' or '}' expected");
        break;
    }
    json_decref(obj);
    return jp_fail(jp, "string or '}' expected");
}

static json_t *
jp_array(jp_t *jp)
{
    json_t *arr, *v;

    jp->p++;
    arr = json_array();
    if (arr == NULL) {
        return jp_fail(jp, "out of memory");
    }
    jp_space(jp);
    if (jp->p < jp->end && *jp->p == ']') {
        jp->p++;
        return arr;
    }
    for (;;) {
        v = jp_value(jp);
        if (v == NULL || json_array_append_new(arr, v) != 0) {
            jp_fail(jp, "out of memory");
            break;
        }
        jp_space(jp);
        if (jp->p < jp->end && *jp->p == ',') {
            jp->p++;
            jp_space(jp);
            continue;
        }
        if (jp->p < jp->end && *jp->p == ']') {
            jp->p++;
            return arr;
        }
        jp_fail(jp, "',' or ']' expected");
        break;
    }
    json_decref(arr);
    return NULL;
}

static json_t *
jp_value(jp_t *jp)
{
    json_t *v;
    size_t len, mark = jp->top;
    char *s;

    if (jp->p == jp->end) {
        return jp_fail(jp, "unexpected end of input");
    }
    switch (*jp->p) {
    case '{':
    case '[':
        if (++jp->depth > jp->max_depth) {
            jp->too_deep = 1;
            return jp_fail(jp, "nested too deep");
        }
        v = *jp->p == '{' ? jp_object(jp) : jp_array(jp);
        jp->depth--;
        return v;
    case '"':
        s = jp_string(jp, &len);
        if (s == NULL) {
            return NULL;
        }
        jp->top = mark;
        v = json_stringn_nocheck(s, len);
        return v ? v : jp_fail(jp, "out of memory");
    case 't':
        return jp_literal(jp, "true", json_true());
    case 'f':
        return jp_literal(jp, "false", json_false());
    case 'n':
        return jp_literal(jp, "null", json_null());
    default:
        if (*jp->p == '-' || is_digit_byte(*jp->p)) {
            v = jp_number(jp);
            return v || jp->err ? v : jp_fail(jp, "out of memory");
        }
        return jp_fail(jp, "invalid token");
    }
}

mim_result_t
mim_json_parse_object(const char *text, size_t len, int max_depth,
    json_t **out)
{
    jp_t jp = {
        .p = (const uint8_t *) text, .end = (const uint8_t *) text + len,
        .max_depth = max_depth
    };
    json_t *v = NULL;

    *out = NULL;
    jp.scratch = malloc(len + 1);
    if (jp.scratch == NULL) {
        return mim_result_err(MIM_ERR_NOMEM, "out of memory");
    }
    jp_space(&jp);
    if (jp.p < jp.end && *jp.p == '[') {
        jp_fail(&jp, "not a JSON object");
    } else if (jp.p == jp.end || *jp.p != '{') {
        jp_fail(&jp, "'{' expected");
    } else {
        v = jp_value(&jp);
        jp_space(&jp);
        if (v != NULL && jp.p != jp.end) {
            json_decref(v);
            v = NULL;
            jp_fail(&jp, "end of input expected");
        }
    }
    free(jp.scratch);
    if (v == NULL) {
        return mim_result_err(jp.too_deep ? MIM_ERR_LIMIT : MIM_ERR_INVALID,
                              "%s at byte %zu", jp.err ? jp.err : "invalid",
                              (size_t) (jp.p - (const uint8_t *) text));
    }
    *out = v;
    return mim_result_ok();
}

/* ---- parsing ---- */

/* a base64url part holding a JSON object */
static mim_result_t
json_part(const char *b64, size_t len, const char *what, json_t **out)
{
    uint8_t *raw;
    size_t raw_len;
    mim_result_t r;

    *out = NULL;
    if (len == 0) {
        return mim_result_err(MIM_ERR_INVALID, "empty %s", what);
    }
    raw = malloc(mim_b64_decoded_max(len));
    if (raw == NULL) {
        return mim_result_err(MIM_ERR_NOMEM, "out of memory");
    }
    if (mim_b64url_decode(raw, &raw_len, b64, len) != 0) {
        free(raw);
        return mim_result_err(MIM_ERR_INVALID, "%s is not base64url", what);
    }
    r = mim_json_parse_object((const char *) raw, raw_len, MIM_JWT_MAX_DEPTH,
                              out);
    free(raw);
    if (r.code == MIM_ERR_LIMIT) {
        return mim_result_err(MIM_ERR_LIMIT,
                              "%s nested deeper than %d levels", what,
                              MIM_JWT_MAX_DEPTH);
    }
    if (!mim_ok(r)) {
        return mim_result_err(r.code, strncmp(r.msg, "not a JSON object",
                                              17) == 0
                              ? "%s is not a JSON object"
                              : "%s is not JSON: %s", what, r.msg);
    }
    return r;
}

/* an optional string member of the header */
static mim_result_t
header_string(const json_t *hdr, const char *name, const char **out)
{
    const json_t *v = json_object_get(hdr, name);

    *out = NULL;
    if (v == NULL) {
        return mim_result_ok();
    }
    if (!json_is_string(v)) {
        return mim_result_err(MIM_ERR_INVALID, "header %s is not a string",
                              name);
    }
    *out = json_string_value(v);
    return mim_result_ok();
}

/* what the header says, and what it may never say */
static mim_result_t
header_check(mim_jwt_t *jwt)
{
    static const char *const refused[] = { "jku", "x5u", "jwk" };
    const json_t *alg = json_object_get(jwt->header, "alg");
    char shown[40];
    mim_result_t r;
    size_t i;

    if (!json_is_string(alg)) {
        return mim_result_err(MIM_ERR_INVALID, alg ? "header alg is not a "
                              "string" : "no alg in the header");
    }
    jwt->alg = mim_alg_from_name(json_string_value(alg),
                                 json_string_length(alg));
    if (jwt->alg == MIM_ALG_NONE) {
        /* "none", HS256 (a public key is never an HMAC secret), ... */
        mim_safe_text(shown, sizeof(shown), json_string_value(alg),
                      json_string_length(alg));
        return mim_result_err(MIM_ERR_UNSUPPORTED, "alg %s not accepted",
                              shown);
    }
    for (i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
        if (json_object_get(jwt->header, refused[i]) != NULL) {
            return mim_result_err(MIM_ERR_UNSUPPORTED,
                                  "header %s not accepted (the key is "
                                  "configured, never taken from the token)",
                                  refused[i]);
        }
    }
    /* RFC 7515 4.1.11: we understand no extension, so any crit fails */
    if (json_object_get(jwt->header, "crit") != NULL) {
        return mim_result_err(MIM_ERR_UNSUPPORTED, "crit not supported");
    }
    if (json_object_get(jwt->header, "b64") != NULL) {
        return mim_result_err(MIM_ERR_UNSUPPORTED,
                              "b64 header (RFC 7797) not supported");
    }
    /* kid is a name matched against key ids, never a path or URL */
    r = header_string(jwt->header, "kid", &jwt->kid);
    if (mim_ok(r)) {
        r = header_string(jwt->header, "typ", &jwt->typ);
    }
    return r;
}

mim_result_t
mim_jwt_parse(mim_jwt_t *jwt, const char *token, size_t len)
{
    const char *dot1, *dot2, *sig_b64;
    size_t hlen, plen, slen;
    mim_result_t r;

    memset(jwt, 0, sizeof(*jwt));
    if (token == NULL || len == 0) {
        return mim_result_err(MIM_ERR_INVALID, "empty token");
    }
    if (len > MIM_JWT_MAX) {
        return mim_result_err(MIM_ERR_LIMIT, "token longer than %d bytes",
                              MIM_JWT_MAX);
    }
    dot1 = memchr(token, '.', len);
    dot2 = dot1 ? memchr(dot1 + 1, '.', len - (size_t) (dot1 + 1 - token))
                : NULL;
    if (dot2 == NULL) {
        return mim_result_err(MIM_ERR_INVALID,
                              "not a compact JWS (three parts expected)");
    }
    sig_b64 = dot2 + 1;
    slen = len - (size_t) (sig_b64 - token);
    if (memchr(sig_b64, '.', slen) != NULL) {
        return mim_result_err(MIM_ERR_INVALID,
                              "more than three parts (a JWE is not "
                              "accepted)");
    }
    hlen = (size_t) (dot1 - token);
    plen = (size_t) (dot2 - dot1 - 1);

    r = json_part(token, hlen, "header", &jwt->header);
    if (mim_ok(r)) {
        r = header_check(jwt);
    }
    if (mim_ok(r)) {
        r = json_part(dot1 + 1, plen, "payload", &jwt->claims);
    }
    if (!mim_ok(r)) {
        mim_jwt_free(jwt);
        return r;
    }
    if (slen == 0) {
        mim_jwt_free(jwt);
        return mim_result_err(MIM_ERR_INVALID, "empty signature");
    }
    if (slen > mim_b64url_len(JWT_SIG_MAX)) {
        mim_jwt_free(jwt);
        return mim_result_err(MIM_ERR_LIMIT, "signature longer than %d bytes",
                              JWT_SIG_MAX);
    }
    jwt->signature = malloc(mim_b64_decoded_max(slen));
    if (jwt->signature == NULL) {
        mim_jwt_free(jwt);
        return mim_result_err(MIM_ERR_NOMEM, "out of memory");
    }
    if (mim_b64url_decode(jwt->signature, &jwt->signature_len, sig_b64, slen)
        != 0)
    {
        mim_jwt_free(jwt);
        return mim_result_err(MIM_ERR_INVALID, "signature is not base64url");
    }
    jwt->signing_input = token;
    jwt->signing_input_len = (size_t) (dot2 - token);
    return mim_result_ok();
}

void
mim_jwt_free(mim_jwt_t *jwt)
{
    if (jwt == NULL) {
        return;
    }
    json_decref(jwt->header);
    json_decref(jwt->claims);
    free(jwt->signature);
    memset(jwt, 0, sizeof(*jwt));
}

/* ---- algorithm sets ---- */

int
mim_alg_set_parse(const char *names, mim_alg_set_t *set)
{
    const char *p = names, *start;
    mim_alg_t alg;

    *set = 0;
    if (names == NULL) {
        return -1;
    }
    while (*p != '\0') {
        while (*p == ' ' || *p == ',' || *p == '\t') {
            p++;
        }
        start = p;
        while (*p != '\0' && *p != ' ' && *p != ',' && *p != '\t') {
            p++;
        }
        if (p == start) {
            break;
        }
        alg = mim_alg_from_name(start, (size_t) (p - start));
        if (alg == MIM_ALG_NONE) {
            *set = 0;
            return -1;
        }
        *set |= mim_alg_bit(alg);
    }
    /* an empty list names nothing: refuse rather than mean "default" */
    return *set == 0 ? -1 : 0;
}

/* ---- verification ---- */

static int
alg_is_rsa(mim_alg_t alg)
{
    return alg >= MIM_ALG_RS256 && alg <= MIM_ALG_PS512;
}

mim_result_t
mim_jwt_verify_pkey(const mim_jwt_t *jwt, EVP_PKEY *pkey,
    const EVP_MD_CTX *tmpl)
{
    EVP_MD_CTX *ctx;
    const uint8_t *sig = jwt->signature;
    uint8_t *der = NULL;
    size_t sig_len = jwt->signature_len, der_len = 0, want;
    int ok;

    if (jwt->alg == MIM_ALG_ES256 || jwt->alg == MIM_ALG_EDDSA) {
        want = 64;
    } else {
        /* RFC 7518 3.3: as long as the modulus, no shorter form */
        want = (size_t) EVP_PKEY_get_size(pkey);
    }
    if (sig_len != want) {
        return mim_result_err(MIM_ERR_SIGNATURE,
                              "%s signature of %zu bytes (%zu expected)",
                              mim_alg_name(jwt->alg), sig_len, want);
    }
    if (jwt->alg == MIM_ALG_ES256) {
        if (!mim_ecdsa_raw_to_der(sig, &der, &der_len)) {
            ERR_clear_error();
            return mim_result_err(MIM_ERR_CRYPTO,
                                  "cannot encode the signature");
        }
        sig = der;
        sig_len = der_len;
    }
    /* a copy of a prepared context costs far less than an init */
    ctx = EVP_MD_CTX_new();
    if (ctx == NULL
        || !(tmpl != NULL ? EVP_MD_CTX_copy_ex(ctx, tmpl) == 1
                              : mim_md_ctx_init(ctx, pkey, jwt->alg, 1)))
    {
        EVP_MD_CTX_free(ctx);
        OPENSSL_free(der);
        ERR_clear_error();
        return mim_result_err(MIM_ERR_CRYPTO, "cannot start verification");
    }
    /* used once: the final step need not keep the context reusable (a
       copy of it, in OpenSSL 3) */
    EVP_MD_CTX_set_flags(ctx, EVP_MD_CTX_FLAG_FINALISE);
    /* one-shot: EdDSA has no other form, and for the others it is the same
       update + final */
    ok = EVP_DigestVerify(ctx, sig, sig_len,
                          (const uint8_t *) jwt->signing_input,
                          jwt->signing_input_len) == 1;
    EVP_MD_CTX_free(ctx);
    OPENSSL_free(der);
    ERR_clear_error();
    if (!ok) {
        return mim_result_err(MIM_ERR_SIGNATURE, "signature does not verify");
    }
    return mim_result_ok();
}

mim_result_t
mim_jwt_verify(const mim_jwt_t *jwt, const mim_key_t *key,
    mim_alg_set_t allowed)
{
    const char *name = mim_alg_name(jwt->alg);

    if (jwt->header == NULL || jwt->signature == NULL || name == NULL) {
        return mim_result_err(MIM_ERR_INVALID, "not a parsed token");
    }
    if (key == NULL || key->pkey == NULL) {
        return mim_result_err(MIM_ERR_KEY, "no verification key");
    }
    if (jwt->alg >= 32 || !(allowed & mim_alg_bit(jwt->alg))) {
        return mim_result_err(MIM_ERR_UNSUPPORTED, "alg %s not allowed here",
                              name);
    }
    if (!mim_key_accepts_alg(key, jwt->alg)) {
        return mim_result_err(MIM_ERR_MISMATCH,
                              "alg %s does not fit the key (%s)", name,
                              key->alg_pinned ? mim_alg_name(key->alg)
                                              : "RS* or PS*");
    }
    /* belt and braces: an unpinned key is RSA, and RSA algs need RSA */
    if (alg_is_rsa(jwt->alg) != (EVP_PKEY_is_a(key->pkey, "RSA") == 1)) {
        return mim_result_err(MIM_ERR_MISMATCH,
                              "alg %s does not fit the key type", name);
    }
    /* the key's template is for its own alg only */
    return mim_jwt_verify_pkey(jwt, key->pkey,
                               jwt->alg == key->alg ? key->verify_template
                                                    : NULL);
}

/* ---- claims ---- */

const char *
mim_jwt_string(const mim_jwt_t *jwt, const char *name)
{
    return json_string_value(json_object_get(jwt->claims, name));
}

int
mim_jwt_integer(const mim_jwt_t *jwt, const char *name, int64_t *out)
{
    const json_t *v = json_object_get(jwt->claims, name);

    if (!json_is_integer(v)) {
        return -1;
    }
    *out = (int64_t) json_integer_value(v);
    return 0;
}

/*
 * A NumericDate claim: 0 absent, 1 read into *out, -1 malformed.  RFC 7519
 * allows fractions; they are floored (a second earlier, never later).
 */
static int
numeric_date(const mim_jwt_t *jwt, const char *name, int64_t *out)
{
    const json_t *v = json_object_get(jwt->claims, name);
    double d;

    if (v == NULL) {
        return 0;
    }
    if (json_is_integer(v)) {
        *out = (int64_t) json_integer_value(v);
    } else if (json_is_real(v)) {
        d = json_real_value(v);
        if (!isfinite(d) || d < 0 || d > (double) NUMERIC_DATE_MAX) {
            return -1;
        }
        *out = (int64_t) d;     /* d >= 0: truncation floors */
    } else {
        return -1;
    }
    return *out >= 0 && *out <= NUMERIC_DATE_MAX ? 1 : -1;
}

mim_result_t
mim_jwt_check_times(const mim_jwt_t *jwt, int64_t now, int64_t leeway,
    int require_exp)
{
    int64_t exp = 0, nbf = 0, iat = 0;
    int has_exp, has_nbf, has_iat;

    if (leeway < 0 || leeway > LEEWAY_MAX) {
        leeway = leeway < 0 ? 0 : LEEWAY_MAX;
    }
    if (now < 0 || now > NUMERIC_DATE_MAX) {
        return mim_result_err(MIM_ERR_INVALID, "clock out of range");
    }
    has_exp = numeric_date(jwt, "exp", &exp);
    has_nbf = numeric_date(jwt, "nbf", &nbf);
    has_iat = numeric_date(jwt, "iat", &iat);
    if (has_exp < 0 || has_nbf < 0 || has_iat < 0) {
        return mim_result_err(MIM_ERR_INVALID, "%s is not a NumericDate",
                              has_exp < 0 ? "exp"
                              : has_nbf < 0 ? "nbf" : "iat");
    }
    if (!has_exp && require_exp) {
        return mim_result_err(MIM_ERR_INVALID, "no exp claim");
    }
    /* all values are bounded by NUMERIC_DATE_MAX: no overflow below */
    if (has_exp && now >= exp + leeway) {
        return mim_result_err(MIM_ERR_MISMATCH,
                              "token expired %lld s ago (exp %lld, now %lld)",
                              (long long) (now - exp), (long long) exp,
                              (long long) now);
    }
    if (has_nbf && nbf > now + leeway) {
        return mim_result_err(MIM_ERR_MISMATCH,
                              "token not valid before %lld (now %lld)",
                              (long long) nbf, (long long) now);
    }
    if (has_iat && iat > now + leeway) {
        return mim_result_err(MIM_ERR_MISMATCH,
                              "token issued in the future (iat %lld, now "
                              "%lld)", (long long) iat, (long long) now);
    }
    return mim_result_ok();
}

/* ---- signing ---- */

static mim_result_t
sign_input(const mim_key_t *key, const char *input, size_t len,
    uint8_t *sig, size_t *sig_len)
{
    uint8_t der[JWT_SIG_MAX];
    size_t der_len = sizeof(der);
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    int ok;

    if (ctx == NULL) {
        return mim_result_err(MIM_ERR_NOMEM, "out of memory");
    }
    /* a copy of the key's prepared context is cheaper than an init */
    ok = key->sign_template != NULL
         ? EVP_MD_CTX_copy_ex(ctx, key->sign_template) == 1
         : mim_md_ctx_init(ctx, key->pkey, key->alg, 0);
    if (ok && key->alg == MIM_ALG_EDDSA) {
        *sig_len = JWT_SIG_MAX;
        ok = EVP_DigestSign(ctx, sig, sig_len, (const uint8_t *) input,
                            len) == 1;
    } else if (ok) {
        ok = EVP_DigestSignUpdate(ctx, input, len) == 1
             && EVP_DigestSignFinal(ctx, NULL, &der_len) == 1
             && der_len <= sizeof(der)
             && EVP_DigestSignFinal(ctx, der, &der_len) == 1;
        if (ok && key->alg == MIM_ALG_ES256) {
            ok = mim_ecdsa_der_to_raw(der, der_len, sig);
            *sig_len = 64;
        } else if (ok) {
            memcpy(sig, der, der_len);
            *sig_len = der_len;
        }
    }
    EVP_MD_CTX_free(ctx);
    ERR_clear_error();
    if (!ok) {
        return mim_result_err(MIM_ERR_CRYPTO,
                              "signing failed (is it a private key?)");
    }
    return mim_result_ok();
}

/* base64url of a string, appended at dst; returns chars written */
static size_t
append_b64url(char *dst, const char *text)
{
    return mim_b64url_encode(dst, (const uint8_t *) text, strlen(text));
}

mim_result_t
mim_jwt_sign(const mim_key_t *key, const char *typ, const json_t *claims,
    char **token, size_t *len)
{
    const char *alg = key ? mim_alg_name(key->alg) : NULL;
    uint8_t sig[JWT_SIG_MAX];
    size_t sig_len = 0, n, cap;
    char *header = NULL, *payload = NULL, *out = NULL;
    json_t *hdr;
    mim_result_t r;

    *token = NULL;
    if (len != NULL) {
        *len = 0;
    }
    if (alg == NULL || key->pkey == NULL) {
        return mim_result_err(MIM_ERR_KEY, "no signing key");
    }
    if (!json_is_object(claims)) {
        return mim_result_err(MIM_ERR_INVALID, "claims are not an object");
    }
    hdr = typ ? json_pack("{s:s, s:s, s:s}", "alg", alg, "typ", typ, "kid",
                          key->kid)
              : json_pack("{s:s, s:s}", "alg", alg, "kid", key->kid);
    if (hdr != NULL) {
        header = json_dumps(hdr, JSON_COMPACT | JSON_PRESERVE_ORDER);
        json_decref(hdr);
    }
    payload = json_dumps(claims, JSON_COMPACT);
    if (header == NULL || payload == NULL) {
        r = mim_result_err(MIM_ERR_NOMEM, "cannot encode the token");
        goto done;
    }
    cap = mim_b64url_len(strlen(header)) + 1 + mim_b64url_len(strlen(payload))
          + 1 + mim_b64url_len(sizeof(sig)) + 1;
    out = malloc(cap);
    if (out == NULL) {
        r = mim_result_err(MIM_ERR_NOMEM, "out of memory");
        goto done;
    }
    n = append_b64url(out, header);
    out[n++] = '.';
    n += append_b64url(out + n, payload);
    r = sign_input(key, out, n, sig, &sig_len);
    if (!mim_ok(r)) {
        goto done;
    }
    out[n++] = '.';
    n += mim_b64url_encode(out + n, sig, sig_len);
    out[n] = '\0';
    *token = out;
    out = NULL;
    if (len != NULL) {
        *len = n;
    }

done:
    free(out);
    free(header);
    free(payload);
    return r;
}

void
mim_jwt_hash(const char *token, size_t len, char out[MIM_KID_LEN + 1])
{
    uint8_t hash[32];

    /* on a failure, random bytes: a hash no cache entry has, and no two
       failed tokens share (fail closed) */
    if (!EVP_Digest(token, len, hash, NULL, mim_md_sha256(), NULL)) {
        ERR_clear_error();
        if (RAND_bytes(hash, sizeof(hash)) != 1) {
            ERR_clear_error();
            memset(hash, 0xa5, sizeof(hash));
        }
    }
    out[mim_b64url_encode(out, hash, sizeof(hash))] = '\0';
}
