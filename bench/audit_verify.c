/*
 * bench/audit_verify.c - make a large audit log with the core writer, and
 * time the writer and the in-process verifier (bench/audit.sh times
 * `mim audit verify` on the file as well).
 *
 *   audit_verify KEY.pem OUT LINES [CHECKPOINT]
 *
 * writes OUT: a start line, request records like the gateway's (about
 * 420 bytes each), a checkpoint every CHECKPOINT lines (default 1000) and
 * an exit checkpoint, LINES lines in all.  Prints the writer's and the
 * verifier's lines per second of CPU time (one core).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "mim_audit.h"
#include "mim_key.h"

static double
now_s(void)
{
    struct timespec ts;

    /* CPU time of this process: one core, whatever else runs */
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double) ts.tv_sec + (double) ts.tv_nsec / 1e9;
}

static int
put_line(FILE *out, const char *line, size_t len)
{
    return fwrite(line, 1, len, out) == len ? 0 : -1;
}

int
main(int argc, char **argv)
{
    static const char *parties[] = { "EU.EORI.NL000000001",
                                     "did:web:participant2.example" };
    mim_audit_chain_t chain;
    mim_audit_request_t r;
    mim_key_t key;
    mim_result_t rc;
    FILE *out;
    char uri[128], rid[33], *body, *line, *cp, *data;
    size_t len, n, size;
    unsigned long long lines, every, i;
    int64_t t0 = 1767225600000LL;
    double start, write_s, verify_s;
    mim_audit_verifier_t *v;
    mim_keyset_t set;
    mim_jws_trust_t trust;
    const mim_audit_problem_t *problems;
    uint64_t dropped;

    if (argc < 4) {
        fprintf(stderr, "usage: %s KEY.pem OUT LINES [CHECKPOINT]\n",
                argv[0]);
        return 2;
    }
    lines = strtoull(argv[3], NULL, 10);
    every = argc > 4 ? strtoull(argv[4], NULL, 10) : 1000;
    if (lines < 3 || every < 1) {
        fprintf(stderr, "LINES >= 3, CHECKPOINT >= 1\n");
        return 2;
    }
    rc = mim_key_load_private(&key, argv[1], NULL);
    if (!mim_ok(rc)) {
        fprintf(stderr, "%s: %s\n", argv[1], rc.msg);
        return 2;
    }
    out = fopen(argv[2], "w");
    if (out == NULL) {
        perror(argv[2]);
        return 2;
    }
    rc = mim_audit_chain_init(&chain, "bench:/var/log/mim/audit.log.0", 30);
    body = malloc(8192);
    line = malloc(8192 + MIM_AUDIT_LINE_OVERHEAD);
    if (!mim_ok(rc) || body == NULL || line == NULL) {
        return 2;
    }

    start = now_s();
    n = mim_audit_segment_body(&chain, "start", t0, 0, 4242, "new", 0, 0,
                               body);
    len = mim_audit_chain_append(&chain, body, n, line);
    put_line(out, line, len);
    for (i = 2; i < lines; i++) {
        if (chain.since_checkpoint >= every) {
            rc = mim_audit_checkpoint(&chain, &key, t0 + (int64_t) i,
                                      "count", &cp, &len);
            if (!mim_ok(rc)) {
                fprintf(stderr, "checkpoint: %s\n", rc.msg);
                return 1;
            }
            put_line(out, cp, len);
            free(cp);
            continue;
        }
        memset(&r, 0, sizeof(r));
        snprintf(uri, sizeof(uri), "/ngsi-ld/v1/entities/urn:ngsi-ld:"
                 "AirQualityObserved:santander:%llu?options=keyValues", i);
        snprintf(rid, sizeof(rid), "%032llx", i * 2654435761ULL);
        r.time_ms = t0 + (int64_t) i;
        r.request_id = (mim_audit_str_t) { rid, 32 };
        r.client = (mim_audit_str_t) { "192.0.2.17", 10 };
        r.method = (mim_audit_str_t) { "GET", 3 };
        r.uri = (mim_audit_str_t) { uri, strlen(uri) };
        r.status = 200;
        r.bytes = 1100;
        r.party = (mim_audit_str_t) { parties[i % 2],
                                      strlen(parties[i % 2]) };
        r.agreement = (mim_audit_str_t) { "urn:uuid:agreement-42", 21 };
        r.target = (mim_audit_str_t) { "urn:ngsi-ld:dataset:air", 23 };
        r.action = (mim_audit_str_t) { "read", 4 };
        r.decision = (mim_audit_str_t) { "permit", 6 };
        r.reasons = (mim_audit_str_t) { "[]", 2 };
        r.digest = (mim_audit_str_t) {
            "sha-256=:X48E9qOokqqrvdts8nOJRJN3OWDUoyWxBf7kbu9DBPE=:", 53 };
        n = mim_audit_request_body(&r, body);
        len = mim_audit_chain_append(&chain, body, n, line);
        put_line(out, line, len);
    }
    rc = mim_audit_checkpoint(&chain, &key, t0 + (int64_t) lines, "exit",
                              &cp, &len);
    if (!mim_ok(rc)) {
        return 1;
    }
    put_line(out, cp, len);
    free(cp);
    if (fclose(out) != 0) {
        perror(argv[2]);
        return 2;
    }
    write_s = now_s() - start;

    /* the verifier in this process, from memory */
    out = fopen(argv[2], "r");
    fseek(out, 0, SEEK_END);
    size = (size_t) ftell(out);
    rewind(out);
    data = malloc(size);
    if (data == NULL || fread(data, 1, size, out) != size) {
        return 2;
    }
    fclose(out);
    {
        json_t *jwk = mim_key_to_jwk(&key), *doc;
        char *text;

        doc = json_pack("{s:[o]}", "keys", jwk);
        text = json_dumps(doc, JSON_COMPACT);
        rc = mim_keyset_from_jwks(&set, text, strlen(text));
        free(text);
        json_decref(doc);
    }
    memset(&trust, 0, sizeof(trust));
    trust.keys = &set;
    rc = mim_audit_verifier_new(&v, &trust);
    if (!mim_ok(rc)) {
        return 2;
    }
    start = now_s();
    mim_audit_verify_buffer(v, data, size);
    verify_s = now_s() - start;
    problems = mim_audit_problems(v, &n, &dropped);
    if (n > 0) {
        fprintf(stderr, "the generated log does not verify: line %llu: %s\n",
                (unsigned long long) problems[0].line, problems[0].msg);
        return 1;
    }
    printf("audit_verify: %llu lines, %zu bytes (%.0f bytes/line)\n",
           lines, size, (double) size / (double) lines);
    printf("audit_verify: writer %.0f lines/s of CPU time (checkpoint every "
           "%llu, %s)\n", (double) lines / write_s, every,
           mim_alg_name(key.alg));
    printf("audit_verify: verifier in process %.0f lines/s of CPU time\n",
           (double) lines / verify_s);
    mim_audit_verifier_free(v);
    mim_keyset_free(&set);
    mim_audit_chain_free(&chain);
    mim_key_free(&key);
    free(data);
    free(body);
    free(line);
    return 0;
}
