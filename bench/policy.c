/*
 * policy.c - micro-benchmark of the ODRL engine (policies/): decisions
 * per second and nanoseconds per decision on one core, for
 *
 *   - a 3-constraint policy (time bound, purpose, client network): the
 *     usual shape of a location policy or an agreement; goal <= 2 us;
 *   - a 500-constraint policy, an `or` of 250 `and`s, "weekdays 09:00 to
 *     17:00 (+01:00), all the working days of 2026", generated here: the
 *     worst case denies after trying every alternative; goal <= 50 us.
 *
 * For scale: OPA documents a budget of about 1 ms per decision.  Each
 * case runs timed rounds of many iterations (clock_gettime, monotonic)
 * and reports the best and the median round.  The whole run also counts
 * heap allocations during decisions (malloc is interposed here): the
 * engine promises none.
 *
 * Environment: BENCH_ROUNDS (default 5), BENCH_ROUND_MS (default 300),
 * BENCH_ENFORCE=1 to exit 1 when a goal is missed.  Exit 2 when a
 * decision is not the expected one or the engine allocates.
 */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "mim_policy.h"

/* ---- counting allocations: malloc interposed, glibc's underneath ---- */

extern void *__libc_malloc(size_t size);
extern void *__libc_calloc(size_t n, size_t size);
extern void *__libc_realloc(void *ptr, size_t size);
extern void  __libc_free(void *ptr);

static volatile int   counting;
static volatile long  allocations;

void *
malloc(size_t size)
{
    if (counting) {
        allocations++;
    }
    return __libc_malloc(size);
}

void *
calloc(size_t n, size_t size)
{
    if (counting) {
        allocations++;
    }
    return __libc_calloc(n, size);
}

void *
realloc(void *ptr, size_t size)
{
    if (counting) {
        allocations++;
    }
    return __libc_realloc(ptr, size);
}

void
free(void *ptr)
{
    if (counting && ptr != NULL) {
        allocations++;
    }
    __libc_free(ptr);
}

/* ---- the policies ---- */

static const char  three[] =
"{\"@context\": \"https://w3id.org/dspace/2025/1/context.jsonld\","
" \"@type\": \"Agreement\", \"@id\": \"urn:bench:agreement\","
" \"target\": \"urn:bench:dataset\", \"assignee\": \"did:web:consumer\","
" \"assigner\": \"did:web:provider\", \"permission\": [{\"action\": \"use\","
" \"constraint\": ["
"  {\"leftOperand\": \"dateTime\", \"operator\": \"lteq\","
"   \"rightOperand\": \"2026-12-31T23:59:59Z\"},"
"  {\"leftOperand\": \"purpose\", \"operator\": \"isAnyOf\","
"   \"rightOperand\": [\"https://w3id.org/dpv#ResearchAndDevelopment\","
"                      \"https://w3id.org/dpv#ServiceProvision\"]},"
"  {\"leftOperand\": \"virtualLocation\", \"operator\": \"isPartOf\","
"   \"rightOperand\": [\"192.168.0.0/16\", \"10.0.0.0/8\"]}]}]}";

#define DAYS  250

/* weekdays of 2026 from Thursday 1 January: 250 of them, 09:00-17:00 */
static char *
business_days(void)
{
    size_t   cap = 256 * 1024, n = 0;
    char    *s = malloc(cap);
    time_t   day = 1767225600;          /* 2026-01-01T00:00:00Z */
    int      count = 0;
    struct tm tm;
    char     date[16];

    if (s == NULL) {
        return NULL;
    }
    n += (size_t) snprintf(s, cap, "{\"@context\": \"http://www.w3.org/ns/"
        "odrl.jsonld\", \"@type\": \"Set\", \"uid\": \"urn:bench:hours\", "
        "\"permission\": [{\"uid\": \"urn:bench:hours:read\", \"target\": "
        "\"urn:bench:dataset\", \"action\": \"read\", \"constraint\": [{"
        "\"or\": [");
    for (; count < DAYS; day += 86400) {
        gmtime_r(&day, &tm);
        if (tm.tm_wday == 0 || tm.tm_wday == 6) {
            continue;
        }
        strftime(date, sizeof(date), "%Y-%m-%d", &tm);
        n += (size_t) snprintf(s + n, cap - n, "%s{\"and\": ["
            "{\"leftOperand\": \"dateTime\", \"operator\": \"gteq\", "
            "\"rightOperand\": {\"@value\": \"%sT09:00:00+01:00\", "
            "\"@type\": \"xsd:dateTime\"}}, "
            "{\"leftOperand\": \"dateTime\", \"operator\": \"lt\", "
            "\"rightOperand\": {\"@value\": \"%sT17:00:00+01:00\", "
            "\"@type\": \"xsd:dateTime\"}}]}",
            count > 0 ? ", " : "", date, date);
        count++;
    }
    snprintf(s + n, cap - n, "]}]}]}");
    return s;
}

/* ---- timing ---- */

static double
now_ns(void)
{
    struct timespec  ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double) ts.tv_sec * 1e9 + (double) ts.tv_nsec;
}

typedef struct {
    const char                  *name;
    const mim_policy_t          *policy;
    const mim_policy_request_t  *req;
    mim_policy_effect_t          expect;
    double                       goal_ns;
    double                       best_ns;
    double                       median_ns;
} bench_case_t;

static int
cmp_double(const void *a, const void *b)
{
    double  x = *(const double *) a, y = *(const double *) b;

    return x < y ? -1 : x > y;
}

/* one decision, checked: 0, or -1 when it is not the expected one */
static int
decide_once(const bench_case_t *c, char *buf, size_t cap)
{
    mim_policy_decision_t  d;
    mim_result_t           r;

    r = mim_policy_eval(c->policy, c->req, &d, buf, cap);
    if (!mim_ok(r) || d.effect != c->expect) {
        fprintf(stderr, "bench: %s: unexpected decision (%s): %s\n",
                c->name, r.msg, buf);
        return -1;
    }
    return 0;
}

static int
run_case(bench_case_t *c, int rounds, double round_ms)
{
    mim_policy_decision_t  d;
    char                   buf[4096];
    double                 t0, t1, per[32];
    long                   iters = 1000, i;
    int                    k;
    volatile int           sink = 0;

    if (decide_once(c, buf, sizeof(buf)) != 0) {
        return -1;
    }
    /* calibrate: enough iterations for one round of round_ms */
    for (;;) {
        t0 = now_ns();
        for (i = 0; i < iters; i++) {
            mim_policy_eval(c->policy, c->req, &d, buf, sizeof(buf));
        }
        t1 = now_ns();
        if (t1 - t0 > round_ms * 1e6 / 4 || iters > (1L << 30)) {
            break;
        }
        iters *= 2;
    }
    iters = (long) ((double) iters * round_ms * 1e6 / (t1 - t0)) + 1;

    counting = 1;
    for (k = 0; k < rounds; k++) {
        t0 = now_ns();
        for (i = 0; i < iters; i++) {
            mim_policy_eval(c->policy, c->req, &d, buf, sizeof(buf));
            sink += (int) d.effect;
        }
        t1 = now_ns();
        per[k] = (t1 - t0) / (double) iters;
    }
    counting = 0;
    (void) sink;
    qsort(per, (size_t) rounds, sizeof(double), cmp_double);
    c->best_ns = per[0];
    c->median_ns = per[rounds / 2];
    return 0;
}

static int
env_int(const char *name, int def, int lo, int hi)
{
    const char  *v = getenv(name);
    char        *end;
    long         n;

    if (v == NULL || *v == '\0') {
        return def;
    }
    n = strtol(v, &end, 10);
    if (*end != '\0' || n < lo || n > hi) {
        fprintf(stderr, "bench: %s must be %d..%d\n", name, lo, hi);
        exit(2);
    }
    return (int) n;
}

static mim_policy_t *
compile(const char *name, const char *json, double *ms)
{
    mim_policy_t  *p = NULL;
    mim_result_t   r;
    double         t0 = now_ns();

    r = mim_policy_parse(&p, json, strlen(json));
    *ms = (now_ns() - t0) / 1e6;
    if (!mim_ok(r)) {
        fprintf(stderr, "bench: %s: %s\n", name, r.msg);
        exit(2);
    }
    return p;
}

int
main(void)
{
    static const mim_str_t  purpose[] = {
        { "https://w3id.org/dpv#ServiceProvision", 37 }
    };
    mim_policy_request_t  small_req, deny_req, mid_req;
    mim_policy_t         *small, *big;
    char                 *big_json;
    double                small_ms, big_ms;
    long                  compile_allocations;
    int                   rounds, round_ms, i, missed = 0;
    bench_case_t          cases[3];

    rounds = env_int("BENCH_ROUNDS", 5, 1, 31);
    round_ms = env_int("BENCH_ROUND_MS", 300, 10, 60000);

    small = compile("3-constraint policy", three, &small_ms);
    big_json = business_days();
    if (big_json == NULL) {
        return 2;
    }
    /* the interposed malloc sees the compiler's allocations: proof that
       the zero below is measured, not assumed */
    counting = 1;
    big = compile("500-constraint policy", big_json, &big_ms);
    counting = 0;
    compile_allocations = allocations;
    allocations = 0;
    free(big_json);
    if (mim_policy_constraint_count(small) != 3
        || mim_policy_constraint_count(big) != 2 * DAYS)
    {
        fprintf(stderr, "bench: the policies have %zu and %zu constraints\n",
                mim_policy_constraint_count(small),
                mim_policy_constraint_count(big));
        return 2;
    }

    memset(&small_req, 0, sizeof(small_req));
    small_req.action = (mim_str_t) { "read", 4 };
    small_req.target = (mim_str_t) { "urn:bench:dataset", 17 };
    small_req.assignee = (mim_str_t) { "did:web:consumer", 16 };
    small_req.has_date_time = 1;
    small_req.date_time = 1777629600;           /* 2026-05-01T10:00:00Z */
    small_req.purpose = purpose;
    small_req.purpose_n = 1;
    small_req.virtual_location = (mim_str_t) { "10.20.30.40", 11 };

    /* Sunday 27 December 2026, after the 250th working day: in every
       alternative the start holds and the end fails, 500 evaluations */
    deny_req = small_req;
    deny_req.date_time = 1798372800;            /* 2026-12-27T12:00:00Z */
    /* Wednesday 1 July 2026, 10:00 +01:00: alternative ~130 of 250 */
    mid_req = small_req;
    mid_req.date_time = 1782896400;             /* 2026-07-01T09:00:00Z */

    cases[0] = (bench_case_t) { "3 constraints, permit", small, &small_req,
                                MIM_POLICY_PERMIT, 2000, 0, 0 };
    cases[1] = (bench_case_t) { "500 constraints, deny (all tried)", big,
                                &deny_req, MIM_POLICY_DENY, 50000, 0, 0 };
    cases[2] = (bench_case_t) { "500 constraints, permit (mid-year)", big,
                                &mid_req, MIM_POLICY_PERMIT, 50000, 0, 0 };

    printf("policy engine, one core: %d rounds of ~%d ms per case\n",
           rounds, round_ms);
    printf("compile: 3-constraint policy %.3f ms, 500-constraint policy "
           "%.3f ms\n\n", small_ms, big_ms);
    for (i = 0; i < 3; i++) {
        if (run_case(&cases[i], rounds, round_ms) != 0) {
            return 2;
        }
    }

    printf("%-36s %14s %12s %12s %12s  %s\n", "case", "decisions/s",
           "ns (best)", "ns (median)", "goal (ns)", "met");
    for (i = 0; i < 3; i++) {
        int met = cases[i].median_ns <= cases[i].goal_ns;
        missed += !met;
        printf("%-36s %14.0f %12.1f %12.1f %12.0f  %s\n", cases[i].name,
               1e9 / cases[i].median_ns, cases[i].best_ns,
               cases[i].median_ns, cases[i].goal_ns, met ? "yes" : "NO");
    }
    printf("\nheap allocations during timed decisions: %ld (compiling the "
           "500-constraint policy: %ld)\n", allocations, compile_allocations);
    printf("goals: <= 2 us (3 constraints) and <= 50 us (500 constraints) "
           "per decision, median round; OPA's budget ~1 ms: %s\n",
           missed == 0 ? "met" : "NOT met");

    mim_policy_free(small);
    mim_policy_free(big);
    if (allocations != 0 || compile_allocations == 0) {
        fprintf(stderr, "bench: the engine allocated during decisions\n");
        return 2;
    }
    if (missed != 0 && getenv("BENCH_ENFORCE") != NULL
        && strcmp(getenv("BENCH_ENFORCE"), "1") == 0)
    {
        return 1;
    }
    return 0;
}
