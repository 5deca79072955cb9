/*
 * fuzz_token_request.c - libFuzzer target for the token request form
 * (trust/mim_ishare.c, mim_token_request_parse): the first bytes of a
 * client's POST /connect/token body that the gateway reads.
 *
 * Input: an application/x-www-form-urlencoded body.  Beyond "no crash":
 *   - a failure names one of the four RFC 6749 error codes and leaves no
 *     member behind;
 *   - a success has every member, decoded, no longer than the body, free
 *     of control characters, with grant_type client_credentials, the word
 *     iSHARE in scope and the jwt-bearer assertion type;
 *   - the body re-encoded from the members parses to the same members.
 */
#define _GNU_SOURCE     /* open_memstream */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mim_ishare.h"

static void
check_member(const char *v, size_t body_len)
{
    size_t i, n;

    if (v == NULL) {
        abort();
    }
    n = strlen(v);
    if (n == 0 || n > body_len) {
        abort();
    }
    for (i = 0; i < n; i++) {
        if ((unsigned char) v[i] < 0x20 || v[i] == 0x7f) {
            abort();
        }
    }
}

/* percent-encode every byte that is not unreserved */
static void
put_encoded(FILE *out, const char *name, const char *v)
{
    static const char hex[] = "0123456789ABCDEF";
    const unsigned char *p = (const unsigned char *) v;

    fprintf(out, "%s=", name);
    for (; *p != '\0'; p++) {
        if ((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z')
            || (*p >= '0' && *p <= '9') || *p == '-' || *p == '.'
            || *p == '_' || *p == '~')
        {
            fputc(*p, out);
        } else {
            fputc('%', out);
            fputc(hex[*p >> 4], out);
            fputc(hex[*p & 15], out);
        }
    }
    fputc('&', out);
}

static void
round_trip(const mim_token_request_t *req)
{
    mim_token_request_t again;
    const char *err;
    char *body = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&body, &len);
    mim_result_t r;

    if (out == NULL) {
        return;
    }
    put_encoded(out, "client_assertion", req->client_assertion);
    put_encoded(out, "scope", req->scope);
    put_encoded(out, "grant_type", req->grant_type);
    put_encoded(out, "client_assertion_type", req->client_assertion_type);
    put_encoded(out, "client_id", req->client_id);
    fclose(out);
    r = mim_token_request_parse(&again, body, len, &err);
    /* encoding may triple the size: only the limit may stop it */
    if (!mim_ok(r) && r.code != MIM_ERR_LIMIT) {
        abort();
    }
    if (mim_ok(r)
        && (strcmp(again.grant_type, req->grant_type) != 0
            || strcmp(again.scope, req->scope) != 0
            || strcmp(again.client_id, req->client_id) != 0
            || strcmp(again.client_assertion_type,
                      req->client_assertion_type) != 0
            || strcmp(again.client_assertion, req->client_assertion) != 0))
    {
        abort();
    }
    mim_token_request_free(&again);
    free(body);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    mim_token_request_t req;
    const char *err = "unset";
    mim_result_t r;

    r = mim_token_request_parse(&req, (const char *) data, size, &err);
    if (strlen(r.msg) >= MIM_MSG_MAX || mim_ok(r) != (r.code == MIM_OK)) {
        abort();
    }
    if (!mim_ok(r)) {
        if (r.msg[0] == '\0' || err == NULL
            || (strcmp(err, MIM_OAUTH_INVALID_REQUEST) != 0
                && strcmp(err, MIM_OAUTH_INVALID_CLIENT) != 0
                && strcmp(err, MIM_OAUTH_UNSUPPORTED_GRANT_TYPE) != 0
                && strcmp(err, MIM_OAUTH_INVALID_SCOPE) != 0)
            || req.grant_type != NULL || req.scope != NULL
            || req.client_id != NULL || req.client_assertion_type != NULL
            || req.client_assertion != NULL)
        {
            abort();
        }
        return 0;
    }
    if (err != NULL) {
        abort();
    }
    check_member(req.grant_type, size);
    check_member(req.scope, size);
    check_member(req.client_id, size);
    check_member(req.client_assertion_type, size);
    check_member(req.client_assertion, size);
    if (strcmp(req.grant_type, "client_credentials") != 0
        || strstr(req.scope, "iSHARE") == NULL
        || strcmp(req.client_assertion_type,
                  "urn:ietf:params:oauth:client-assertion-type:jwt-bearer")
           != 0)
    {
        abort();
    }
    round_trip(&req);
    mim_token_request_free(&req);
    return 0;
}
