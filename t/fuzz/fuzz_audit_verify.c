/*
 * fuzz_audit_verify.c - libFuzzer target for the audit log verifier
 * (trust/mim_audit.c), the parser that reads files an attacker may have
 * edited.
 *
 * Input: a log, verified line by line with a fixed ES256 key set (the
 * seeds in corpus/fuzz_audit_verify were written by bench/audit_verify
 * with that key, then tampered with).  The same bytes also go through the
 * tail reader the nginx glue resumes a chain with.  Beyond "no crash":
 * every problem names a line of the input and a known kind, the verified
 * count never exceeds the lines, and a log without problems is verified
 * from its first line to its last.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mim_audit.h"

static const char  jwks[] =
    "{\"keys\":[{\"kty\":\"EC\",\"kid\":\"xNU99K1vOINr5sz4tAi7XhcMgZ3hp"
    "PlPsq8HGjm_TfY\",\"crv\":\"P-256\",\"x\":\"uJ0AvaYHAp4QKGGC-AlqUHi"
    "q5UfeEBg0NqO3GBwXUco\",\"y\":\"OFxacX60MYcFnFYdfTOWngVyENYmM_J6uaG"
    "4PpaH_tw\",\"use\":\"sig\",\"alg\":\"ES256\"}]}";

static mim_keyset_t  keys;

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
    mim_result_t r = mim_keyset_from_jwks(&keys, jwks, sizeof(jwks) - 1);

    if (!mim_ok(r) || keys.n != 1) {
        abort();
    }
    return 0;
}

static uint64_t
count_lines(const uint8_t *data, size_t size)
{
    uint64_t n = 0;
    size_t i;

    for (i = 0; i < size; i++) {
        n += data[i] == '\n';
    }
    return n + (size > 0 && data[size - 1] != '\n');
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    mim_jws_trust_t trust = { .keys = &keys };
    const mim_audit_summary_t *sum;
    const mim_audit_problem_t *p;
    mim_audit_verifier_t *v;
    mim_audit_tail_t tail;
    uint64_t lines = count_lines(data, size), dropped;
    size_t n, i;

    mim_audit_tail_read((const char *) data, size, 1, &tail);
    if (tail.partial > size || (tail.clean && (tail.empty || !tail.known))) {
        abort();
    }
    if (!mim_ok(mim_audit_verifier_new(&v, &trust))) {
        abort();
    }
    mim_audit_verify_buffer(v, (const char *) data, size);
    sum = mim_audit_summary(v);
    p = mim_audit_problems(v, &n, &dropped);
    if (sum->lines != lines || sum->verified > lines
        || sum->records > lines || sum->checkpoints > lines)
    {
        abort();
    }
    for (i = 0; i < n; i++) {
        if (p[i].line < 1 || p[i].line > lines || p[i].last_line < p[i].line
            || p[i].last_line > lines
            || strcmp(mim_audit_kind_name(p[i].kind), "unknown") == 0
            || strlen(p[i].msg) >= sizeof(p[i].msg)
            || (i > 0 && p[i].line < p[i - 1].line))
        {
            abort();
        }
    }
    if (n == 0 && dropped == 0 && sum->verified != lines) {
        abort();
    }
    mim_audit_verifier_free(v);
    return 0;
}
