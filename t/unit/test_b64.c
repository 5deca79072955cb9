/*
 * test_b64.c - base64 / base64url (trust/mim_b64.c): RFC 4648 section 10
 * vectors, strict decoding, the streaming encoder under every split.
 */
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "mim_b64.h"
#include "unit.h"

static const struct {
    const char *plain, *std, *url;
} rfc4648[] = {
    { "",       "",         ""         },
    { "f",      "Zg==",     "Zg"       },
    { "fo",     "Zm8=",     "Zm8"      },
    { "foo",    "Zm9v",     "Zm9v"     },
    { "foob",   "Zm9vYg==", "Zm9vYg"   },
    { "fooba",  "Zm9vYmE=", "Zm9vYmE"  },
    { "foobar", "Zm9vYmFy", "Zm9vYmFy" },
};

#define NVEC (sizeof(rfc4648) / sizeof(rfc4648[0]))

Test(b64, rfc4648_encode)
{
    char out[32];
    size_t i, n, len;

    for (i = 0; i < NVEC; i++) {
        len = strlen(rfc4648[i].plain);
        n = mim_b64_encode(out, (const uint8_t *) rfc4648[i].plain, len);
        cr_assert_eq(n, mim_b64_len(len));
        cr_assert_eq(n, strlen(rfc4648[i].std));
        cr_assert_arr_eq(out, rfc4648[i].std, n);
        n = mim_b64url_encode(out, (const uint8_t *) rfc4648[i].plain, len);
        cr_assert_eq(n, mim_b64url_len(len));
        cr_assert_eq(n, strlen(rfc4648[i].url));
        cr_assert_arr_eq(out, rfc4648[i].url, n);
    }
}

Test(b64, rfc4648_decode)
{
    uint8_t out[32];
    size_t i, n;

    for (i = 0; i < NVEC; i++) {
        cr_assert_eq(mim_b64_decode(out, &n, rfc4648[i].std,
                                    strlen(rfc4648[i].std)), 0,
                     "%s", rfc4648[i].std);
        cr_assert_eq(n, strlen(rfc4648[i].plain));
        cr_assert_arr_eq(out, rfc4648[i].plain, n);
        cr_assert_eq(mim_b64url_decode(out, &n, rfc4648[i].url,
                                       strlen(rfc4648[i].url)), 0);
        cr_assert_eq(n, strlen(rfc4648[i].plain));
        cr_assert_arr_eq(out, rfc4648[i].plain, n);
    }
}

Test(b64, alphabets_differ_in_62_63)
{
    static const uint8_t bytes[] = { 0xfb, 0xff, 0xbf };
    char out[8];
    uint8_t back[8];
    size_t n;

    n = mim_b64_encode(out, bytes, 3);
    cr_assert_arr_eq(out, "+/+/", n);
    n = mim_b64url_encode(out, bytes, 3);
    cr_assert_arr_eq(out, "-_-_", n);
    cr_assert_eq(mim_b64url_decode(back, &n, "-_-_", 4), 0);
    cr_assert_arr_eq(back, bytes, 3);
    cr_assert_eq(mim_b64_decode(back, &n, "+/+/", 4), 0);
    cr_assert_arr_eq(back, bytes, 3);
    /* and each refuses the other's characters */
    cr_assert_eq(mim_b64url_decode(back, &n, "+/+/", 4), -1);
    cr_assert_eq(mim_b64_decode(back, &n, "-_-_", 4), -1);
}

Test(b64, url_decoder_is_strict)
{
    static const char *bad[] = {
        "Zg==",         /* padding */
        "Zm8=",
        "Z",            /* 1 mod 4 */
        "Zm9vY",
        "Zh",           /* unused bits set: "Zg" is the only encoding */
        "Zm9",          /* "Zm8" is */
        "Zm9v YmFy",    /* space */
        "Zm9v\nYmFy",
        "Zm9v.mFy",
        "Zm+v",
        "Zm/v",
        "\xc3\xa9xyz",
    };
    uint8_t out[32];
    size_t i, n;

    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        cr_assert_eq(mim_b64url_decode(out, &n, bad[i], strlen(bad[i])), -1,
                     "accepted \"%s\"", bad[i]);
    }
    /* a NUL inside is a character outside the alphabet */
    cr_assert_eq(mim_b64url_decode(out, &n, "Zm\0v", 4), -1);
}

Test(b64, std_decoder_is_strict)
{
    static const char *bad[] = {
        "Zg",           /* padding required */
        "Zg=",
        "Zm9vYg",
        "Zh==",         /* unused bits set */
        "Zm9=",
        "Z===",
        "====",
        "=Zg=",
        "Zg==Zg==",     /* padding inside */
        "Zm-v",
        "Zm_v",
        "Zm9v\r\n",
        " Zm9v",
    };
    uint8_t out[32];
    size_t i, n;

    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        cr_assert_eq(mim_b64_decode(out, &n, bad[i], strlen(bad[i])), -1,
                     "accepted \"%s\"", bad[i]);
    }
}

Test(b64, round_trip_random)
{
    uint8_t data[300], back[300 + 3];
    char text[mim_b64_len(300) + 1];
    size_t n, len, got;

    for (n = 0; n <= sizeof(data); n += 7) {
        ut_fill(data, n, (uint32_t) n);
        len = mim_b64url_encode(text, data, n);
        cr_assert_leq(mim_b64_decoded_max(len), sizeof(back));
        cr_assert_eq(mim_b64url_decode(back, &got, text, len), 0);
        cr_assert_eq(got, n);
        cr_assert_arr_eq(back, data, n);
        len = mim_b64_encode(text, data, n);
        cr_assert_eq(mim_b64_decode(back, &got, text, len), 0);
        cr_assert_eq(got, n);
        cr_assert_arr_eq(back, data, n);
    }
}

/* the streaming encoder, fed in chunks cut at i and j */
static size_t
stream_encode(char *out, const uint8_t *data, size_t n, size_t i, size_t j)
{
    mim_b64url_stream_t s;
    size_t len = 0;

    mim_b64url_stream_init(&s);
    len += mim_b64url_stream_update(&s, out + len, data, i);
    len += mim_b64url_stream_update(&s, out + len, data + i, j - i);
    len += mim_b64url_stream_update(&s, out + len, data + j, n - j);
    len += mim_b64url_stream_final(&s, out + len);
    return len;
}

Test(b64, stream_equals_one_shot_for_every_split)
{
    uint8_t data[64];
    char whole[mim_b64url_len(64)], streamed[mim_b64url_len(64) + 8];
    size_t n, i, j, len, slen;

    for (n = 0; n <= sizeof(data); n++) {
        ut_fill(data, n, (uint32_t) (n + 1000));
        len = mim_b64url_encode(whole, data, n);
        /* 1, 2 and 3 chunks: every i <= j (empty chunks included) */
        for (i = 0; i <= n; i++) {
            for (j = i; j <= n; j++) {
                slen = stream_encode(streamed, data, n, i, j);
                cr_assert_eq(slen, len, "n=%zu i=%zu j=%zu", n, i, j);
                cr_assert_arr_eq(streamed, whole, len, "n=%zu i=%zu j=%zu",
                                 n, i, j);
            }
        }
    }
}

Test(b64, stream_output_fits_the_documented_bound)
{
    uint8_t data[10];
    char out[64];
    mim_b64url_stream_t s;
    size_t n, first, got;

    ut_fill(data, sizeof(data), 7);
    for (first = 0; first <= 2; first++) {
        for (n = 0; n <= 8; n++) {
            mim_b64url_stream_init(&s);
            mim_b64url_stream_update(&s, out, data, first);
            got = mim_b64url_stream_update(&s, out, data + first, n);
            cr_assert_leq(got, mim_b64url_len(n + 2));
            cr_assert_leq(mim_b64url_stream_final(&s, out), 3);
        }
    }
}
