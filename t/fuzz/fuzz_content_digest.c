/*
 * fuzz_content_digest.c - libFuzzer target for the Content-Digest
 * dictionary reader and the htu comparison (trust/mim_jws.c).
 *
 * Input: "<field value>\n<body>".  Beyond "no crash": the digest we make
 * of the body always checks; a check passes only with a sha-256 member;
 * htu equality is reflexive and symmetric.
 */
#define _GNU_SOURCE     /* memmem */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mim_jws.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const uint8_t *nl = memchr(data, '\n', size);
    size_t value_len = nl ? (size_t) (nl - data) : size;
    const uint8_t *body = nl ? nl + 1 : data + size;
    size_t body_len = size - value_len - (nl ? 1 : 0);
    const char *value = (const char *) data;
    char own[MIM_CONTENT_DIGEST_LEN + 1];
    mim_result_t r;

    r = mim_content_digest_check(value, value_len, body, body_len);
    if (mim_ok(r) && memmem(value, value_len, "sha-256=:", 9) == NULL) {
        abort();
    }
    if (!mim_ok(r) && r.code != MIM_ERR_INVALID && r.code != MIM_ERR_DIGEST
        && r.code != MIM_ERR_UNSUPPORTED && r.code != MIM_ERR_LIMIT)
    {
        abort();
    }
    mim_content_digest(own, body, body_len);
    if (strlen(own) != MIM_CONTENT_DIGEST_LEN
        || !mim_ok(mim_content_digest_check(own, strlen(own), body,
                                            body_len)))
    {
        abort();
    }

    /* the two halves as URLs */
    if (mim_htu_equal(value, value_len, value, value_len) != 1
        || mim_htu_equal(value, value_len, (const char *) body, body_len)
           != mim_htu_equal((const char *) body, body_len, value, value_len))
    {
        abort();
    }
    return 0;
}
