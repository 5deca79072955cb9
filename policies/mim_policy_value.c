/*
 * mim_policy_value.c - the lexical forms of right operands and request
 * values: xsd:dateTime, xsd:date, xsd:duration, xsd:integer,
 * xsd:decimal, IP addresses and CIDR blocks; and the text of times and
 * durations for explanations.
 *
 * Every function here works on (pointer, length) without allocating, so
 * the evaluator may use them on request values.
 */
#include <arpa/inet.h>
#include <string.h>

#include "mim_policy_int.h"

#define MP_DAY   86400

/* days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant) */
static int64_t
mp_days_from_civil(int64_t y, unsigned m, unsigned d)
{
    int64_t   era;
    unsigned  yoe, doy, doe;

    y -= m <= 2;
    era = (y >= 0 ? y : y - 399) / 400;
    yoe = (unsigned) (y - era * 400);
    doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
    doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int64_t) doe - 719468;
}

static void
mp_civil_from_days(int64_t z, int64_t *y, unsigned *m, unsigned *d)
{
    int64_t   era;
    unsigned  doe, yoe, doy, mp;

    z += 719468;
    era = (z >= 0 ? z : z - 146096) / 146097;
    doe = (unsigned) (z - era * 146097);
    yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    mp = (5 * doy + 2) / 153;
    *d = doy - (153 * mp + 2) / 5 + 1;
    *m = mp < 10 ? mp + 3 : mp - 9;
    *y = (int64_t) yoe + era * 400 + (*m <= 2);
}

static int
mp_is_leap(int64_t y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

/* exactly n digits at s[*at]; advances *at */
static int
mp_digits(const char *s, size_t len, size_t *at, size_t n, unsigned *out)
{
    unsigned  v = 0;
    size_t    i;

    if (len - *at < n) {
        return -1;
    }
    for (i = 0; i < n; i++) {
        char c = s[*at + i];
        if (c < '0' || c > '9') {
            return -1;
        }
        v = v * 10 + (unsigned) (c - '0');
    }
    *at += n;
    *out = v;
    return 0;
}

static int
mp_expect(const char *s, size_t len, size_t *at, char c)
{
    if (*at >= len || s[*at] != c) {
        return -1;
    }
    (*at)++;
    return 0;
}

/* YYYY-MM-DD (years 0001 to 9999) as days since the epoch */
static int
mp_parse_ymd(const char *s, size_t len, size_t *at, int64_t *days)
{
    static const unsigned  mdays[] = { 31, 28, 31, 30, 31, 30, 31, 31, 30,
                                       31, 30, 31 };
    unsigned  y, m, d, dim;

    if (mp_digits(s, len, at, 4, &y) != 0 || y == 0
        || mp_expect(s, len, at, '-') != 0
        || mp_digits(s, len, at, 2, &m) != 0 || m < 1 || m > 12
        || mp_expect(s, len, at, '-') != 0
        || mp_digits(s, len, at, 2, &d) != 0)
    {
        return -1;
    }
    dim = mdays[m - 1] + (m == 2 && mp_is_leap(y));
    if (d < 1 || d > dim) {
        return -1;
    }
    *days = mp_days_from_civil(y, m, d);
    return 0;
}

/* optional Z or (+|-)hh:mm: the offset in seconds to subtract */
static int
mp_parse_tz(const char *s, size_t len, size_t *at, int64_t *offset)
{
    unsigned  h, mi;
    int       sign;

    *offset = 0;
    if (*at == len) {
        return 0;           /* no timezone: read as UTC (documented) */
    }
    if (s[*at] == 'Z') {
        (*at)++;
        return 0;
    }
    if (s[*at] != '+' && s[*at] != '-') {
        return -1;
    }
    sign = s[*at] == '-' ? -1 : 1;
    (*at)++;
    if (mp_digits(s, len, at, 2, &h) != 0 || mp_expect(s, len, at, ':') != 0
        || mp_digits(s, len, at, 2, &mi) != 0 || mi > 59
        || h * 60 + mi > 14 * 60)
    {
        return -1;
    }
    *offset = sign * (int64_t) (h * 3600 + mi * 60);
    return 0;
}

int
mp_parse_datetime(const char *s, size_t len, int64_t *out)
{
    size_t    at = 0;
    int64_t   days, offset;
    unsigned  h, mi, sec = 0;

    if (mp_parse_ymd(s, len, &at, &days) != 0
        || mp_expect(s, len, &at, 'T') != 0
        || mp_digits(s, len, &at, 2, &h) != 0
        || mp_expect(s, len, &at, ':') != 0
        || mp_digits(s, len, &at, 2, &mi) != 0 || mi > 59)
    {
        return -1;
    }
    /* seconds are optional: the ODRL vocabulary itself writes
       2017-12-31T06:00Z and so do the DSP 2025-1 examples */
    if (at < len && s[at] == ':') {
        at++;
        if (mp_digits(s, len, &at, 2, &sec) != 0 || sec > 59) {
            return -1;
        }
        if (at < len && s[at] == '.') {
            size_t from = ++at;
            while (at < len && s[at] >= '0' && s[at] <= '9') {
                at++;
            }
            if (at == from) {
                return -1;
            }
            /* fractions of a second are dropped: decisions are made on
               whole seconds */
        }
    }
    if (h > 24 || (h == 24 && (mi != 0 || sec != 0))) {
        return -1;
    }
    if (mp_parse_tz(s, len, &at, &offset) != 0 || at != len) {
        return -1;
    }
    *out = days * MP_DAY + h * 3600 + mi * 60 + sec - offset;
    return 0;
}

int
mp_parse_date(const char *s, size_t len, int64_t *out)
{
    size_t   at = 0;
    int64_t  days, offset;

    if (mp_parse_ymd(s, len, &at, &days) != 0
        || mp_parse_tz(s, len, &at, &offset) != 0 || at != len)
    {
        return -1;
    }
    *out = days * MP_DAY - offset;
    return 0;
}

int
mim_policy_parse_datetime(const char *s, size_t len, int64_t *out)
{
    if (s == NULL || out == NULL) {
        return -1;
    }
    if (mp_parse_datetime(s, len, out) == 0) {
        return 0;
    }
    return mp_parse_date(s, len, out);
}

/* digits into an int64 with overflow checks; *at advanced */
static int
mp_number(const char *s, size_t len, size_t *at, int64_t *out)
{
    int64_t  v = 0;
    size_t   from = *at;

    while (*at < len && s[*at] >= '0' && s[*at] <= '9') {
        if (__builtin_mul_overflow(v, 10, &v)
            || __builtin_add_overflow(v, s[*at] - '0', &v))
        {
            return -1;
        }
        (*at)++;
    }
    if (*at == from) {
        return -1;
    }
    *out = v;
    return 0;
}

static int
mp_add_scaled(int64_t *total, int64_t n, int64_t unit)
{
    int64_t  part;

    if (__builtin_mul_overflow(n, unit, &part)
        || __builtin_add_overflow(*total, part, total))
    {
        return -1;
    }
    return 0;
}

/*
 * xsd:duration.  A year counts 365 days and a month 30 days: an elapsed
 * time is a number of seconds, without a calendar to anchor it to
 * (docs/policies.md).  Fractions of a second are dropped.
 */
int
mp_parse_duration(const char *s, size_t len, int64_t *out)
{
    static const struct {
        char     unit;
        int      time_part;
        int64_t  seconds;
    } units[] = {
        { 'Y', 0, 365 * MP_DAY }, { 'M', 0, 30 * MP_DAY }, { 'D', 0, MP_DAY },
        { 'H', 1, 3600 }, { 'M', 1, 60 }, { 'S', 1, 1 },
    };
    size_t   at = 0, u = 0, components = 0, time_components = 0;
    int64_t  total = 0, n;
    int      negative = 0, in_time = 0;

    if (at < len && s[at] == '-') {
        negative = 1;
        at++;
    }
    if (mp_expect(s, len, &at, 'P') != 0) {
        return -1;
    }
    while (at < len) {
        if (s[at] == 'T') {
            if (in_time) {
                return -1;
            }
            in_time = 1;
            at++;
            while (u < 6 && !units[u].time_part) {
                u++;
            }
            continue;
        }
        if (mp_number(s, len, &at, &n) != 0) {
            return -1;
        }
        if (at < len && s[at] == '.') {
            /* only seconds may have a fraction */
            at++;
            while (at < len && s[at] >= '0' && s[at] <= '9') {
                at++;
            }
            if (at >= len || s[at] != 'S' || !in_time) {
                return -1;
            }
        }
        while (u < 6 && (units[u].time_part != in_time
                         || units[u].unit != (at < len ? s[at] : 0)))
        {
            u++;
        }
        if (u == 6 || mp_add_scaled(&total, n, units[u].seconds) != 0) {
            return -1;
        }
        u++;
        at++;
        components++;
        time_components += (size_t) in_time;
    }
    if (components == 0 || (in_time && time_components == 0)) {
        return -1;
    }
    *out = negative ? -total : total;
    return 0;
}

int
mim_policy_parse_duration(const char *s, size_t len, int64_t *out)
{
    if (s == NULL || out == NULL) {
        return -1;
    }
    return mp_parse_duration(s, len, out);
}

int
mp_parse_integer(const char *s, size_t len, int64_t *out)
{
    size_t   at = 0;
    int64_t  v;
    int      negative = 0;

    if (at < len && (s[at] == '+' || s[at] == '-')) {
        negative = s[at] == '-';
        at++;
    }
    if (mp_number(s, len, &at, &v) != 0 || at != len) {
        return -1;
    }
    *out = negative ? -v : v;
    return 0;
}

/*
 * xsd:decimal, and the exponent form of xsd:double.  Integers stay exact
 * int64s; anything with a fraction or an exponent becomes a double built
 * from at most 18 significant digits (no strtod: this runs on request
 * values, without allocation and whatever the locale).
 */
int
mp_parse_decimal(const char *s, size_t len, int *is_int, int64_t *i,
    double *d)
{
    static const double  p10[] = { 1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7,
                                   1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14,
                                   1e15, 1e16, 1e17, 1e18, 1e19, 1e20,
                                   1e21, 1e22 };
    size_t    at = 0, digits = 0;
    uint64_t  mant = 0;
    int64_t   exp10 = 0, e;
    int       negative = 0, exact = 1, esign;
    double    v;

    if (at < len && (s[at] == '+' || s[at] == '-')) {
        negative = s[at] == '-';
        at++;
    }
    for (; at < len && s[at] >= '0' && s[at] <= '9'; at++, digits++) {
        if (mant < 100000000000000000ULL) {
            mant = mant * 10 + (uint64_t) (s[at] - '0');
        } else {
            exp10++;
        }
    }
    if (at < len && s[at] == '.') {
        exact = 0;
        for (at++; at < len && s[at] >= '0' && s[at] <= '9'; at++, digits++) {
            if (mant < 100000000000000000ULL) {
                mant = mant * 10 + (uint64_t) (s[at] - '0');
                exp10--;
            }
        }
    }
    if (digits == 0) {
        return -1;
    }
    if (at < len && (s[at] == 'e' || s[at] == 'E')) {
        exact = 0;
        at++;
        esign = 1;
        if (at < len && (s[at] == '+' || s[at] == '-')) {
            esign = s[at] == '-' ? -1 : 1;
            at++;
        }
        if (mp_number(s, len, &at, &e) != 0 || e > 400) {
            return -1;
        }
        exp10 += esign * e;
    }
    if (at != len) {
        return -1;
    }
    if (exact && exp10 == 0) {
        *is_int = 1;
        *i = negative ? -(int64_t) mant : (int64_t) mant;
        return 0;
    }
    if (exact) {
        /* more than 18 digits: try the exact path first */
        if (mp_parse_integer(s, len, i) == 0) {
            *is_int = 1;
            return 0;
        }
    }
    v = (double) mant;
    for (; exp10 > 22; exp10 -= 22) {
        v *= 1e22;
    }
    for (; exp10 < -22; exp10 += 22) {
        v /= 1e22;
    }
    v = exp10 >= 0 ? v * p10[exp10] : v / p10[-exp10];
    *is_int = 0;
    *d = negative ? -v : v;
    return 0;
}

/* ---- addresses ---- */

static int
mp_inet(const char *text, mp_net_t *out)
{
    uint8_t  a[16];

    if (inet_pton(AF_INET, text, a) == 1) {
        out->family = 4;
        memcpy(out->addr, a, 4);
        memset(out->addr + 4, 0, 12);
        return 0;
    }
    if (inet_pton(AF_INET6, text, a) == 1) {
        static const uint8_t  mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
                                             0xff, 0xff };
        if (memcmp(a, mapped, 12) == 0) {
            /* ::ffff:10.1.2.3 is the IPv4 client 10.1.2.3 */
            out->family = 4;
            memcpy(out->addr, a + 12, 4);
            memset(out->addr + 4, 0, 12);
            return 1;
        }
        out->family = 6;
        memcpy(out->addr, a, 16);
        return 0;
    }
    return -1;
}

int
mp_parse_net(const char *s, size_t len, int allow_prefix, mp_net_t *out)
{
    char        text[64];
    const char *slash;
    size_t      alen;
    int64_t     bits;
    int         mapped;

    slash = memchr(s, '/', len);
    alen = slash != NULL ? (size_t) (slash - s) : len;
    if (alen == 0 || alen >= sizeof(text) || memchr(s, '\0', len) != NULL
        || (slash != NULL && !allow_prefix))
    {
        return -1;
    }
    memcpy(text, s, alen);
    text[alen] = '\0';
    mapped = mp_inet(text, out);
    if (mapped < 0) {
        return -1;
    }
    out->bits = out->family == 4 ? 32 : 128;
    if (slash != NULL) {
        size_t at = alen + 1;
        if (at == len || len - at > 3 || mp_number(s, len, &at, &bits) != 0
            || at != len)
        {
            return -1;
        }
        if (mapped) {
            bits -= 96;     /* ::ffff:10.0.0.0/104 is 10.0.0.0/8 */
        }
        if (bits < 0 || bits > out->bits) {
            return -1;
        }
        out->bits = (uint8_t) bits;
    }
    return 0;
}

int
mp_net_contains(const mp_net_t *net, const mp_net_t *addr)
{
    unsigned  full, rest;
    uint8_t   mask;

    if (net->family != addr->family) {
        return 0;
    }
    full = net->bits / 8u;
    rest = net->bits % 8u;
    if (memcmp(net->addr, addr->addr, full) != 0) {
        return 0;
    }
    if (rest == 0) {
        return 1;
    }
    mask = (uint8_t) (0xff00u >> rest);
    return (net->addr[full] & mask) == (addr->addr[full] & mask);
}

/* ---- text for explanations ---- */

/* v in decimal, at least width digits */
static size_t
mp_put_uint(char *buf, uint64_t v, unsigned width)
{
    char    tmp[24];
    size_t  n = 0, i;

    do {
        tmp[n++] = (char) ('0' + v % 10);
        v /= 10;
    } while (v != 0);
    while (n < width) {
        tmp[n++] = '0';
    }
    for (i = 0; i < n; i++) {
        buf[i] = tmp[n - 1 - i];
    }
    return n;
}

size_t
mp_format_datetime(char *buf, int64_t t)
{
    int64_t   days, secs, y;
    unsigned  m, d;
    size_t    n = 0;

    days = t / MP_DAY;
    secs = t % MP_DAY;
    if (secs < 0) {
        secs += MP_DAY;
        days--;
    }
    mp_civil_from_days(days, &y, &m, &d);
    if (y < 0) {
        buf[n++] = '-';
        y = -y;
    }
    n += mp_put_uint(buf + n, (uint64_t) y, 4);
    buf[n++] = '-';
    n += mp_put_uint(buf + n, m, 2);
    buf[n++] = '-';
    n += mp_put_uint(buf + n, d, 2);
    buf[n++] = 'T';
    n += mp_put_uint(buf + n, (uint64_t) (secs / 3600), 2);
    buf[n++] = ':';
    n += mp_put_uint(buf + n, (uint64_t) (secs / 60 % 60), 2);
    buf[n++] = ':';
    n += mp_put_uint(buf + n, (uint64_t) (secs % 60), 2);
    buf[n++] = 'Z';
    buf[n] = '\0';
    return n;
}

size_t
mp_format_duration(char *buf, int64_t seconds)
{
    static const struct {
        uint64_t  seconds;
        char      unit;
    } parts[] = { { MP_DAY, 'D' }, { 3600, 'H' }, { 60, 'M' }, { 1, 'S' } };
    uint64_t  v, q;
    size_t    n = 0, i;
    int       in_time = 0;

    if (seconds < 0) {
        buf[n++] = '-';
        v = (uint64_t) 0 - (uint64_t) seconds;
    } else {
        v = (uint64_t) seconds;
    }
    buf[n++] = 'P';
    if (v == 0) {
        memcpy(buf + n, "T0S", 4);
        return n + 3;
    }
    for (i = 0; i < 4; i++) {
        q = v / parts[i].seconds;
        v %= parts[i].seconds;
        if (q == 0) {
            continue;
        }
        if (i > 0 && !in_time) {
            buf[n++] = 'T';
            in_time = 1;
        }
        n += mp_put_uint(buf + n, q, 1);
        buf[n++] = parts[i].unit;
    }
    buf[n] = '\0';
    return n;
}
