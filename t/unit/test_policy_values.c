/*
 * test_policy_values.c - the lexical forms the policy engine reads
 * (policies/mim_policy_value.c): xsd:dateTime, xsd:date, xsd:duration,
 * numbers, IP addresses and CIDR blocks, and the text it writes back.
 *
 * Expected instants are computed independently with timegm(3).
 */
#define _GNU_SOURCE
#include <string.h>
#include <time.h>

#include <criterion/criterion.h>

#include "mim_policy.h"
#include "mim_policy_int.h"

static int64_t
utc(int y, int mo, int d, int h, int mi, int s)
{
    struct tm  tm;

    memset(&tm, 0, sizeof(tm));
    tm.tm_year = y - 1900;
    tm.tm_mon = mo - 1;
    tm.tm_mday = d;
    tm.tm_hour = h;
    tm.tm_min = mi;
    tm.tm_sec = s;
    return (int64_t) timegm(&tm);
}

static int
dt(const char *s, int64_t *out)
{
    return mp_parse_datetime(s, strlen(s), out);
}

Test(policy_values, datetime_forms)
{
    int64_t  t;

    cr_assert_eq(dt("2026-05-01T10:00:00Z", &t), 0);
    cr_assert_eq(t, utc(2026, 5, 1, 10, 0, 0));
    /* offsets move the instant */
    cr_assert_eq(dt("2026-05-01T12:00:00+02:00", &t), 0);
    cr_assert_eq(t, utc(2026, 5, 1, 10, 0, 0));
    cr_assert_eq(dt("2026-05-01T05:30:00-04:30", &t), 0);
    cr_assert_eq(t, utc(2026, 5, 1, 10, 0, 0));
    /* no seconds, as the ODRL vocabulary and the DSP examples write it */
    cr_assert_eq(dt("2023-12-31T06:00Z", &t), 0);
    cr_assert_eq(t, utc(2023, 12, 31, 6, 0, 0));
    /* fractions dropped, no timezone read as UTC */
    cr_assert_eq(dt("2026-05-01T10:00:00.999", &t), 0);
    cr_assert_eq(t, utc(2026, 5, 1, 10, 0, 0));
    /* 24:00:00 is the next midnight */
    cr_assert_eq(dt("2026-12-31T24:00:00Z", &t), 0);
    cr_assert_eq(t, utc(2027, 1, 1, 0, 0, 0));
    /* leap days, the epoch, before it */
    cr_assert_eq(dt("2024-02-29T00:00:00Z", &t), 0);
    cr_assert_eq(t, utc(2024, 2, 29, 0, 0, 0));
    cr_assert_eq(dt("1970-01-01T00:00:00Z", &t), 0);
    cr_assert_eq(t, 0);
    cr_assert_eq(dt("1969-12-31T23:59:59Z", &t), 0);
    cr_assert_eq(t, -1);
    cr_assert_eq(dt("2000-02-29T12:00:00Z", &t), 0);
    cr_assert_eq(t, utc(2000, 2, 29, 12, 0, 0));
}

Test(policy_values, datetime_rejects)
{
    static const char *const  bad[] = {
        "", "2026", "2026-05-01", "2026-05-01T", "2026-05-01T10",
        "2026-13-01T00:00:00Z", "2026-00-10T00:00:00Z",
        "2025-02-29T00:00:00Z", "1900-02-29T00:00:00Z",
        "2026-04-31T00:00:00Z", "2026-05-01T25:00:00Z",
        "2026-05-01T24:00:01Z", "2026-05-01T10:60:00Z",
        "2026-05-01T10:00:60Z", "2026-05-01T10:00:00+15:00",
        "2026-05-01T10:00:00+02", "2026-05-01T10:00:00.Z",
        "2026-05-01 10:00:00Z", "2026-5-01T10:00:00Z",
        "0000-01-01T00:00:00Z", "2026-05-01T10:00:00Zjunk",
        "2026-05-01t10:00:00z", "+2026-05-01T10:00:00Z",
    };
    size_t   i;
    int64_t  t;

    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        cr_assert_eq(dt(bad[i], &t), -1, "accepted '%s'", bad[i]);
    }
}

Test(policy_values, date_forms)
{
    int64_t  t;

    cr_assert_eq(mp_parse_date("2026-12-31", 10, &t), 0);
    cr_assert_eq(t, utc(2026, 12, 31, 0, 0, 0));
    cr_assert_eq(mp_parse_date("2026-12-31Z", 11, &t), 0);
    cr_assert_eq(t, utc(2026, 12, 31, 0, 0, 0));
    /* a day in +02:00 starts two hours earlier in UTC */
    cr_assert_eq(mp_parse_date("2026-12-31+02:00", 16, &t), 0);
    cr_assert_eq(t, utc(2026, 12, 30, 22, 0, 0));
    cr_assert_eq(mp_parse_date("2026-12-31T00:00:00Z", 20, &t), -1);
    cr_assert_eq(mp_parse_date("2026-02-30", 10, &t), -1);
    /* the public function takes either form */
    cr_assert_eq(mim_policy_parse_datetime("2026-12-31", 10, &t), 0);
    cr_assert_eq(t, utc(2026, 12, 31, 0, 0, 0));
    cr_assert_eq(mim_policy_parse_datetime("2026-12-31T01:00:00Z", 20, &t),
                 0);
    cr_assert_eq(t, utc(2026, 12, 31, 1, 0, 0));
    cr_assert_eq(mim_policy_parse_datetime("yesterday", 9, &t), -1);
    cr_assert_eq(mim_policy_parse_datetime(NULL, 0, &t), -1);
}

static int
dur(const char *s, int64_t *out)
{
    return mim_policy_parse_duration(s, strlen(s), out);
}

Test(policy_values, duration_forms)
{
    int64_t  d;

    cr_assert_eq(dur("PT2H", &d), 0);
    cr_assert_eq(d, 7200);
    cr_assert_eq(dur("P3D", &d), 0);
    cr_assert_eq(d, 3 * 86400);
    cr_assert_eq(dur("PT90M", &d), 0);
    cr_assert_eq(d, 5400);
    cr_assert_eq(dur("PT1.9S", &d), 0);
    cr_assert_eq(d, 1);
    cr_assert_eq(dur("P1DT1H1M1S", &d), 0);
    cr_assert_eq(d, 86400 + 3600 + 60 + 1);
    /* years are 365 days, months 30 days (docs/policies.md) */
    cr_assert_eq(dur("P1Y", &d), 0);
    cr_assert_eq(d, 365 * 86400);
    cr_assert_eq(dur("P1M", &d), 0);
    cr_assert_eq(d, 30 * 86400);
    cr_assert_eq(dur("P1Y2M3DT4H5M6S", &d), 0);
    cr_assert_eq(d, (365 + 60 + 3) * 86400 + 4 * 3600 + 5 * 60 + 6);
    cr_assert_eq(dur("-P1D", &d), 0);
    cr_assert_eq(d, -86400);
    cr_assert_eq(dur("PT0S", &d), 0);
    cr_assert_eq(d, 0);
}

Test(policy_values, duration_rejects)
{
    static const char *const  bad[] = {
        "", "P", "PT", "P1DT", "1D", "P1H", "PT1D", "P1S", "P1D1Y",
        "P1M1M", "PT1H1H", "P-1D", "P1.5D", "PT1.5M", "P1DTT1H", "p1d",
        "P99999999999999999999D", "P9223372036854775807Y", "PT1HX",
    };
    size_t   i;
    int64_t  d;

    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        cr_assert_eq(dur(bad[i], &d), -1, "accepted '%s'", bad[i]);
    }
}

Test(policy_values, numbers)
{
    int64_t  i;
    double   d;
    int      is_int;

    cr_assert_eq(mp_parse_integer("42", 2, &i), 0);
    cr_assert_eq(i, 42);
    cr_assert_eq(mp_parse_integer("-7", 2, &i), 0);
    cr_assert_eq(i, -7);
    cr_assert_eq(mp_parse_integer("+9223372036854775807", 20, &i), 0);
    cr_assert_eq(i, INT64_MAX);
    cr_assert_eq(mp_parse_integer("9223372036854775808", 19, &i), -1);
    cr_assert_eq(mp_parse_integer("4.0", 3, &i), -1);
    cr_assert_eq(mp_parse_integer("", 0, &i), -1);
    cr_assert_eq(mp_parse_integer("1e3", 3, &i), -1);

    cr_assert_eq(mp_parse_decimal("10", 2, &is_int, &i, &d), 0);
    cr_assert(is_int);
    cr_assert_eq(i, 10);
    cr_assert_eq(mp_parse_decimal("2.5", 3, &is_int, &i, &d), 0);
    cr_assert(!is_int);
    cr_assert_float_eq(d, 2.5, 1e-12);
    cr_assert_eq(mp_parse_decimal("-0.125", 6, &is_int, &i, &d), 0);
    cr_assert_float_eq(d, -0.125, 1e-12);
    cr_assert_eq(mp_parse_decimal(".5", 2, &is_int, &i, &d), 0);
    cr_assert_float_eq(d, 0.5, 1e-12);
    cr_assert_eq(mp_parse_decimal("1.5E3", 5, &is_int, &i, &d), 0);
    cr_assert_float_eq(d, 1500.0, 1e-9);
    cr_assert_eq(mp_parse_decimal("25e-1", 5, &is_int, &i, &d), 0);
    cr_assert_float_eq(d, 2.5, 1e-12);
    cr_assert_eq(mp_parse_decimal("abc", 3, &is_int, &i, &d), -1);
    cr_assert_eq(mp_parse_decimal(".", 1, &is_int, &i, &d), -1);
    cr_assert_eq(mp_parse_decimal("1.5x", 4, &is_int, &i, &d), -1);
    cr_assert_eq(mp_parse_decimal("NaN", 3, &is_int, &i, &d), -1);
    cr_assert_eq(mp_parse_decimal("1e999", 5, &is_int, &i, &d), -1);
}

static mp_net_t
net(const char *s, int allow_prefix)
{
    mp_net_t  n;

    cr_assert_eq(mp_parse_net(s, strlen(s), allow_prefix, &n), 0,
                 "rejected '%s'", s);
    return n;
}

static int
contains(const char *block, const char *addr)
{
    mp_net_t  b = net(block, 1), a = net(addr, 0);

    return mp_net_contains(&b, &a);
}

Test(policy_values, addresses_and_blocks)
{
    mp_net_t  n;

    n = net("10.0.0.0/8", 1);
    cr_assert_eq(n.family, 4);
    cr_assert_eq(n.bits, 8);
    n = net("10.1.2.3", 0);
    cr_assert_eq(n.bits, 32);
    cr_assert(contains("10.0.0.0/8", "10.1.2.3"));
    cr_assert_not(contains("10.0.0.0/8", "11.0.0.1"));
    cr_assert(contains("10.1.2.3", "10.1.2.3"));
    cr_assert_not(contains("10.1.2.3", "10.1.2.4"));

    /* a prefix that is not a multiple of 8 */
    cr_assert(contains("192.168.16.0/20", "192.168.31.255"));
    cr_assert_not(contains("192.168.16.0/20", "192.168.32.0"));
    cr_assert_not(contains("192.168.16.0/20", "192.168.15.255"));
    /* host bits in a block are ignored */
    cr_assert(contains("192.168.17.1/20", "192.168.16.9"));
    /* /0 holds every address of its family, and only of its family */
    cr_assert(contains("0.0.0.0/0", "203.0.113.9"));
    cr_assert_not(contains("0.0.0.0/0", "::1"));

    n = net("2001:db8::/32", 1);
    cr_assert_eq(n.family, 6);
    cr_assert(contains("2001:db8::/32", "2001:db8:1::5"));
    cr_assert_not(contains("2001:db8::/32", "2001:db9::1"));
    cr_assert(contains("::1/128", "::1"));
    cr_assert(contains("fe80::/10", "febf::1"));
    cr_assert_not(contains("fe80::/10", "fec0::1"));

    /* the IPv4-mapped form of a client is that IPv4 client */
    n = net("::ffff:10.9.8.7", 0);
    cr_assert_eq(n.family, 4);
    cr_assert(contains("10.0.0.0/8", "::ffff:10.9.8.7"));
    n = net("::ffff:10.0.0.0/104", 1);
    cr_assert_eq(n.family, 4);
    cr_assert_eq(n.bits, 8);
}

Test(policy_values, address_rejects)
{
    static const char *const  bad[] = {
        "", "10.0.0", "10.0.0.256", "10.0.0.0/33", "::1/129", "10.0.0.0/",
        "10.0.0.0/-1", "10.0.0.0/8/8", "example.com", "fe80::1%eth0",
        "10.0.0.0/1234", "/8",
    };
    mp_net_t  n;
    size_t    i;

    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        cr_assert_eq(mp_parse_net(bad[i], strlen(bad[i]), 1, &n), -1,
                     "accepted '%s'", bad[i]);
    }
    /* a request address is an address, not a block */
    cr_assert_eq(mp_parse_net("10.0.0.0/8", 10, 0, &n), -1);
    /* an embedded NUL is not cut off */
    cr_assert_eq(mp_parse_net("10.0.0.1\0/8", 11, 1, &n), -1);
}

Test(policy_values, text_round_trips)
{
    char     buf[48];
    int64_t  t, back;
    size_t   n;

    n = mp_format_datetime(buf, utc(2027, 1, 1, 10, 0, 0));
    cr_assert_str_eq(buf, "2027-01-01T10:00:00Z");
    cr_assert_eq(n, strlen(buf));
    mp_format_datetime(buf, -1);
    cr_assert_str_eq(buf, "1969-12-31T23:59:59Z");
    for (t = -86400 * 400; t < 86400LL * 365 * 200; t += 86399 * 97) {
        mp_format_datetime(buf, t);
        cr_assert_eq(dt(buf, &back), 0, "%s", buf);
        cr_assert_eq(back, t, "%s", buf);
    }

    mp_format_duration(buf, 7200);
    cr_assert_str_eq(buf, "PT2H");
    mp_format_duration(buf, 0);
    cr_assert_str_eq(buf, "PT0S");
    mp_format_duration(buf, 86400 + 61);
    cr_assert_str_eq(buf, "P1DT1M1S");
    mp_format_duration(buf, -3 * 86400);
    cr_assert_str_eq(buf, "-P3D");
    for (t = -1000000; t < 100000000; t += 99991) {
        mp_format_duration(buf, t);
        cr_assert_eq(dur(buf, &back), 0, "%s", buf);
        cr_assert_eq(back, t, "%s", buf);
    }
}
