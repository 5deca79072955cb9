/*
 * fuzz_policy.c - libFuzzer target for the ODRL engine: the compiler
 * (policies/mim_policy_parse.c) reads policies from other parties (DSP
 * offers and agreements), and every policy it accepts is then decided
 * (policies/mim_policy_eval.c) for a few fixed requests.
 *
 * Beyond "no crash": a refused policy leaves no policy and a message; an
 * accepted one answers its accessors; every decision writes a reasons
 * buffer that is a JSON array of strings, NUL-terminated, of the length
 * reported; and the size of that buffer never changes the decision.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "mim_policy.h"

static const mim_str_t  purposes[] = {
    { "https://w3id.org/dpv#ServiceProvision", 37 },
    { "urn:p:research", 14 },
};
static const mim_str_t  spatials[] = { { "urn:place:es", 12 } };
static const mim_str_t  roles[] = { { "operator", 8 }, { "42", 2 } };
static const mim_claim_t  claims[] = {
    { { "role", 4 }, roles, 2 },
    { { "age", 3 }, roles + 1, 1 },
};

static void
check_reasons(const char *buf, size_t cap, const mim_policy_decision_t *d)
{
    json_t        *a;
    json_error_t   err;
    size_t         i;

    if (d->reasons_len >= cap || buf[d->reasons_len] != '\0'
        || strlen(buf) != d->reasons_len)
    {
        abort();
    }
    a = json_loads(buf, JSON_REJECT_DUPLICATES, &err);
    if (a == NULL || !json_is_array(a)) {
        abort();
    }
    for (i = 0; i < json_array_size(a); i++) {
        if (!json_is_string(json_array_get(a, i))) {
            abort();
        }
    }
    json_decref(a);
    if (d->effect != MIM_POLICY_PERMIT && d->effect != MIM_POLICY_DENY) {
        abort();
    }
    if ((d->rule != NULL && strlen(d->rule) == 0)
        || (d->label != NULL && strlen(d->label) == 0))
    {
        abort();
    }
}

static void
decide(const mim_policy_t *p, const mim_policy_request_t *req)
{
    static const size_t     caps[] = { 64, 97, 300 };
    static char             big[64 * 1024];
    mim_policy_decision_t   full, d;
    mim_result_t            r;
    char                   *buf;
    size_t                  i;

    r = mim_policy_eval(p, req, &full, big, sizeof(big));
    if (!mim_ok(r)) {
        abort();
    }
    check_reasons(big, sizeof(big), &full);
    for (i = 0; i < sizeof(caps) / sizeof(caps[0]); i++) {
        /* exactly caps[i] bytes: ASan sees any overrun */
        buf = malloc(caps[i]);
        if (buf == NULL) {
            abort();
        }
        r = mim_policy_eval(p, req, &d, buf, caps[i]);
        if (!mim_ok(r)) {
            abort();
        }
        check_reasons(buf, caps[i], &d);
        if (d.effect != full.effect || d.rule != full.rule
            || d.label != full.label
            || (!d.truncated && strcmp(buf, big) != 0))
        {
            abort();
        }
        free(buf);
    }
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    mim_policy_t          *p = (mim_policy_t *) 0x1;
    mim_policy_request_t   req;
    mim_result_t           r;
    size_t                 i;
    int64_t                ts;

    r = mim_policy_parse(&p, (const char *) data, size);
    if (!mim_ok(r)) {
        if (p != NULL || r.msg[0] == '\0') {
            abort();
        }
        return 0;
    }
    if (p == NULL || mim_policy_type(p) == NULL
        || mim_policy_rule_count(p) == 0)
    {
        abort();
    }
    for (i = 0; i < mim_policy_warning_count(p); i++) {
        if (mim_policy_warning(p, i) == NULL) {
            abort();
        }
    }
    (void) mim_policy_timestamp(p, &ts);

    memset(&req, 0, sizeof(req));
    req.action.data = "read";
    req.action.len = 4;
    decide(p, &req);                    /* a bare request: every value
                                           missing */

    req.target.data = "urn:t";
    req.target.len = 5;
    req.assignee.data = "did:web:consumer.example";
    req.assignee.len = 24;
    req.has_date_time = 1;
    req.date_time = 1777629600;         /* 2026-05-01T10:00:00Z */
    req.has_elapsed = 1;
    req.elapsed = 7200;
    req.has_count = 1;
    req.count = 3;
    req.purpose = purposes;
    req.purpose_n = 2;
    req.spatial = spatials;
    req.spatial_n = 1;
    req.virtual_location.data = "10.1.2.3";
    req.virtual_location.len = 8;
    req.recipient.data = "urn:x:1";
    req.recipient.len = 7;
    req.claims = claims;
    req.claims_n = 2;
    decide(p, &req);

    req.action.data = "http://www.w3.org/ns/odrl/2/modify";
    req.action.len = strlen(req.action.data);
    req.virtual_location.data = "2001:db8::\xff";
    req.virtual_location.len = 11;
    decide(p, &req);

    /* the policy's own target: what an agreement is checked against */
    if (mim_policy_target(p) != NULL) {
        req.action.data = "use";
        req.action.len = 3;
        req.target.data = mim_policy_target(p);
        req.target.len = strlen(req.target.data);
        decide(p, &req);
    }
    mim_policy_free(p);
    return 0;
}
