/*
 * mim_audit.c - `mim audit verify` and `mim audit show`: the auditor's
 * side of the signed audit log (docs/audit.md).
 *
 *   verify  re-computes every file's hash chain, checks every checkpoint
 *           signature, links the files of one chain (rotated files) and
 *           reports each problem with its file, line and kind;
 *   show    prints the request records that verified, filtered by party,
 *           agreement and time, for a reviewer.
 *
 * Exit 0: everything verified; 1: a problem was found (show still prints
 * what verified); 2: usage, or a file or the keys cannot be read.
 */
#define _GNU_SOURCE     /* timegm */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "mim.h"
#include "mim_audit.h"
#include "mim_http.h"
#include "mim_jws.h"
#include "mim_key.h"

#define MIM_CMD            "audit"
#define MIM_JWKS_TIMEOUT   30               /* seconds */

#define mim_audit_usage_error(...)  mim_usage_error(MIM_CMD, __VA_ARGS__)

typedef struct {
    const char      *jwks;
    const char      *key;
    const char      *ca;
    int              json;
    int              quiet;
    const char      *party;
    const char      *agreement;
    int64_t          from;          /* ms; INT64_MIN: none */
    int64_t          to;            /* ms; INT64_MAX: none */
    char           **files;
    int              n_files;
} mim_audit_args_t;

typedef struct {
    uint64_t         first;
    uint64_t         last;
} mim_audit_range_t;

/* one file, mapped and verified */
typedef struct {
    const char                 *path;
    const char                 *data;
    size_t                      len;
    mim_audit_verifier_t       *v;
    const mim_audit_summary_t  *sum;
    mim_audit_range_t          *ranges;     /* verified lines (show) */
    size_t                      n_ranges;
    size_t                      cap_ranges;
} mim_audit_file_t;

/* a problem found between files */
typedef struct {
    const char                 *path;
    mim_audit_problem_t         p;
} mim_audit_link_problem_t;

enum {
    MIM_OPT_JWKS = 256,
    MIM_OPT_KEY,
    MIM_OPT_CA,
    MIM_OPT_JSON,
    MIM_OPT_PARTY,
    MIM_OPT_AGREEMENT,
    MIM_OPT_FROM,
    MIM_OPT_TO
};

static const struct option  mim_audit_options[] = {
    { "jwks",      required_argument, NULL, MIM_OPT_JWKS },
    { "key",       required_argument, NULL, MIM_OPT_KEY },
    { "ca",        required_argument, NULL, MIM_OPT_CA },
    { "json",      no_argument,       NULL, MIM_OPT_JSON },
    { "party",     required_argument, NULL, MIM_OPT_PARTY },
    { "agreement", required_argument, NULL, MIM_OPT_AGREEMENT },
    { "from",      required_argument, NULL, MIM_OPT_FROM },
    { "to",        required_argument, NULL, MIM_OPT_TO },
    { "quiet",     no_argument,       NULL, 'q' },
    { "help",      no_argument,       NULL, 'h' },
    { NULL, 0, NULL, 0 }
};

static const char  mim_audit_usage_text[] =
"usage:\n"
"  mim audit verify KEYS [--json] [-q] FILE...\n"
"                      check every chain and checkpoint of the log files\n"
"  mim audit show KEYS [--party ID] [--agreement ID] [--from TIME]\n"
"                      [--to TIME] [--json] FILE...\n"
"                      print the verified request records that match\n"
"\n"
"keys (one):\n"
"  --jwks FILE|URL     the gateway's JWK Set (the kid picks the key)\n"
"  --key FILE          PEM public key or certificate\n"
"  --ca FILE           PEM CA bundle: each checkpoint's x5c chain must\n"
"                      lead to it\n"
"\n"
"options:\n"
"  --json              verify: one JSON report; show: the records as JSON\n"
"                      lines\n"
"  -q, --quiet         verify: print only the problems\n"
"  --party ID          show: records of this caller party\n"
"  --agreement ID      show: records under this agreement\n"
"  --from TIME         show: records at or after TIME (RFC 3339, or a\n"
"                      date YYYY-MM-DD)\n"
"  --to TIME           show: records at or before TIME (a date: its end)\n"
"\n"
"Files of one chain (a worker's file and its rotated predecessors) are\n"
"linked in seq order, whatever order they are given in.\n"
"\n"
"exit status: 0 all verified, 1 problems found (listed), 2 usage error\n"
"or a file or the keys cannot be read.\n";

/* ---- times ---- */

static int
mim_audit_digits(const char *s, int n, int *v)
{
    int  i;

    *v = 0;
    for (i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9') {
            return -1;
        }
        *v = *v * 10 + (s[i] - '0');
    }
    return 0;
}

/*
 * RFC 3339 (YYYY-MM-DDTHH:MM[:SS[.fff]](Z|+HH:MM|-HH:MM)) or a date;
 * end_of_day: a date alone means its last millisecond.
 */
static int
mim_audit_parse_time(const char *s, int end_of_day, int64_t *ms)
{
    struct tm   tm;
    int         y, mo, d, h = 0, mi = 0, sec = 0, frac = 0, oh, om, sign;
    int         n = 0;
    size_t      len = strlen(s);
    int64_t     t;

    memset(&tm, 0, sizeof(tm));
    if (len < 10 || mim_audit_digits(s, 4, &y) || s[4] != '-'
        || mim_audit_digits(s + 5, 2, &mo) || s[7] != '-'
        || mim_audit_digits(s + 8, 2, &d) || mo < 1 || mo > 12 || d < 1
        || d > 31)
    {
        return -1;
    }
    tm.tm_year = y - 1900;
    tm.tm_mon = mo - 1;
    tm.tm_mday = d;
    if (len == 10) {
        t = (int64_t) timegm(&tm) * 1000;
        *ms = end_of_day ? t + 86400000 - 1 : t;
        return 0;
    }
    s += 10;
    if ((*s != 'T' && *s != 't' && *s != ' ') || mim_audit_digits(s + 1, 2, &h)
        || s[3] != ':' || mim_audit_digits(s + 4, 2, &mi) || h > 23
        || mi > 59)
    {
        return -1;
    }
    s += 6;
    if (*s == ':') {
        if (mim_audit_digits(s + 1, 2, &sec) || sec > 60) {
            return -1;
        }
        s += 3;
        if (*s == '.') {
            for (s++; *s >= '0' && *s <= '9'; s++, n++) {
                if (n < 3) {
                    frac = frac * 10 + (*s - '0');
                }
            }
            if (n == 0) {
                return -1;
            }
            for (; n < 3; n++) {
                frac *= 10;
            }
        }
    }
    tm.tm_hour = h;
    tm.tm_min = mi;
    tm.tm_sec = sec;
    t = (int64_t) timegm(&tm) * 1000 + frac;
    if ((*s == 'Z' || *s == 'z') && s[1] == '\0') {
        *ms = t;
        return 0;
    }
    if ((*s != '+' && *s != '-') || mim_audit_digits(s + 1, 2, &oh)
        || s[3] != ':' || mim_audit_digits(s + 4, 2, &om) || s[6] != '\0')
    {
        return -1;
    }
    sign = (*s == '+') ? 1 : -1;
    *ms = t - sign * ((int64_t) oh * 3600 + om * 60) * 1000;
    return 0;
}

/* ---- arguments ---- */

static int
mim_audit_parse_args(mim_audit_args_t *a, int argc, char **argv, int show,
    int *help)
{
    int  opt, sources;

    memset(a, 0, sizeof(*a));
    a->from = INT64_MIN;
    a->to = INT64_MAX;
    *help = 0;
    optind = 1;

    while ((opt = getopt_long(argc, argv, "qh", mim_audit_options, NULL))
           != -1)
    {
        switch (opt) {
        case MIM_OPT_JWKS:
            a->jwks = optarg;
            break;
        case MIM_OPT_KEY:
            a->key = optarg;
            break;
        case MIM_OPT_CA:
            a->ca = optarg;
            break;
        case MIM_OPT_JSON:
            a->json = 1;
            break;
        case 'q':
            a->quiet = 1;
            break;
        case MIM_OPT_PARTY:
        case MIM_OPT_AGREEMENT:
        case MIM_OPT_FROM:
        case MIM_OPT_TO:
            if (!show) {
                return mim_audit_usage_error("%s is an option of `mim audit "
                                             "show`", argv[optind - 1]);
            }
            if (opt == MIM_OPT_PARTY) {
                a->party = optarg;
            } else if (opt == MIM_OPT_AGREEMENT) {
                a->agreement = optarg;
            } else if (mim_audit_parse_time(optarg, opt == MIM_OPT_TO,
                                            opt == MIM_OPT_FROM ? &a->from
                                                                : &a->to))
            {
                return mim_audit_usage_error("bad time '%s' (RFC 3339, e.g. "
                                             "2026-01-31T12:00:00Z, or "
                                             "2026-01-31)", optarg);
            }
            break;
        case 'h':
            *help = 1;
            return MIM_EXIT_OK;
        default:
            return mim_audit_usage_error("unknown option");
        }
    }

    sources = (a->jwks != NULL) + (a->key != NULL) + (a->ca != NULL);
    if (sources != 1) {
        return mim_audit_usage_error(sources ? "give only one of --jwks, "
                                     "--key, --ca" : "give the keys: --jwks, "
                                     "--key or --ca");
    }
    if (optind >= argc) {
        return mim_audit_usage_error("no log file given");
    }
    a->files = argv + optind;
    a->n_files = argc - optind;
    return MIM_EXIT_OK;
}

/* ---- keys ---- */

static mim_result_t
mim_audit_load_keys(const mim_audit_args_t *a, mim_tool_keys_t *k)
{
    mim_http_options_t  http;

    memset(&http, 0, sizeof(http));
    http.timeout = MIM_JWKS_TIMEOUT;
    return mim_tool_load_keys(k, a->key, a->ca, a->jwks, &http);
}

/* ---- files ---- */

static void
mim_audit_on_verified(void *ctx, uint64_t first, uint64_t last)
{
    mim_audit_file_t   *f = ctx;
    mim_audit_range_t  *grown;
    size_t              cap;

    if (f->n_ranges == f->cap_ranges) {
        cap = f->cap_ranges ? f->cap_ranges * 2 : 64;
        grown = realloc(f->ranges, cap * sizeof(*grown));
        if (grown == NULL) {
            return;             /* those lines are not shown */
        }
        f->ranges = grown;
        f->cap_ranges = cap;
    }
    f->ranges[f->n_ranges].first = first;
    f->ranges[f->n_ranges].last = last;
    f->n_ranges++;
}

static mim_result_t
mim_audit_map(mim_audit_file_t *f)
{
    struct stat  st;
    void        *p;
    int          fd;

    fd = open(f->path, O_RDONLY | O_CLOEXEC);
    if (fd == -1) {
        return mim_result_err(MIM_ERR_IO, "cannot open %s: %s", f->path,
                              strerror(errno));
    }
    if (fstat(fd, &st) == -1 || !S_ISREG(st.st_mode)) {
        close(fd);
        return mim_result_err(MIM_ERR_IO, "%s is not a regular file",
                              f->path);
    }
    f->len = (size_t) st.st_size;
    if (f->len == 0) {
        close(fd);
        f->data = "";
        return mim_result_ok();
    }
    p = mmap(NULL, f->len, PROT_READ, MAP_PRIVATE, fd, 0);
    close(fd);
    if (p == MAP_FAILED) {
        return mim_result_err(MIM_ERR_IO, "cannot map %s: %s", f->path,
                              strerror(errno));
    }
    (void) madvise(p, f->len, MADV_SEQUENTIAL);
    f->data = p;
    return mim_result_ok();
}

static mim_result_t
mim_audit_verify_file(mim_audit_file_t *f, const mim_jws_trust_t *trust)
{
    mim_result_t  rc;

    rc = mim_audit_map(f);
    if (!mim_ok(rc)) {
        return rc;
    }
    rc = mim_audit_verifier_new(&f->v, trust);
    if (!mim_ok(rc)) {
        return rc;
    }
    mim_audit_verifier_on_verified(f->v, mim_audit_on_verified, f);
    mim_audit_verify_buffer(f->v, f->data, f->len);
    f->sum = mim_audit_summary(f->v);
    return mim_result_ok();
}

static void
mim_audit_file_free(mim_audit_file_t *f)
{
    if (f->data != NULL && f->len > 0) {
        munmap((void *) f->data, f->len);
    }
    mim_audit_verifier_free(f->v);
    free(f->ranges);
}

/* ---- linking the files of one chain ---- */

static int
mim_audit_chain_order(const void *a, const void *b)
{
    const mim_audit_file_t  *x = *(const mim_audit_file_t *const *) a;
    const mim_audit_file_t  *y = *(const mim_audit_file_t *const *) b;
    int                      c;

    c = strcmp(x->sum->chain, y->sum->chain);
    if (c != 0) {
        return c;
    }
    if (x->sum->first_seq != y->sum->first_seq) {
        return x->sum->first_seq < y->sum->first_seq ? -1 : 1;
    }
    return strcmp(x->path, y->path);
}

/* files of a chain must follow one another: no gap, no overlap */
static size_t
mim_audit_link_files(mim_audit_file_t *files, int n,
    mim_audit_link_problem_t **out)
{
    mim_audit_file_t          **order;
    mim_audit_link_problem_t   *lp = NULL, *grown;
    const mim_audit_summary_t  *a, *b;
    size_t                      count = 0;
    int                         i, k = 0;

    *out = NULL;
    order = calloc((size_t) n, sizeof(*order));
    if (order == NULL) {
        return 0;
    }
    for (i = 0; i < n; i++) {
        if (files[i].sum != NULL && files[i].sum->have_first
            && files[i].sum->chain[0] != '\0')
        {
            order[k++] = &files[i];
        }
    }
    qsort(order, (size_t) k, sizeof(*order), mim_audit_chain_order);

    for (i = 1; i < k; i++) {
        a = order[i - 1]->sum;
        b = order[i]->sum;
        if (strcmp(a->chain, b->chain) != 0) {
            continue;
        }
        if (b->first_seq == a->last_seq + 1
            && memcmp(b->first_prev, a->last_hash, 32) == 0)
        {
            continue;
        }
        grown = realloc(lp, (count + 1) * sizeof(*lp));
        if (grown == NULL) {
            break;
        }
        lp = grown;
        memset(&lp[count], 0, sizeof(lp[count]));
        lp[count].path = order[i]->path;
        lp[count].p.line = b->first_line;
        lp[count].p.last_line = b->first_line;
        lp[count].p.seq = b->first_seq;
        if (b->first_seq > a->last_seq + 1) {
            lp[count].p.kind = MIM_AUDIT_DELETED;
            lp[count].p.count = b->first_seq - a->last_seq - 1;
            snprintf(lp[count].p.msg, sizeof(lp[count].p.msg),
                     "%llu lines of this chain are missing between the end "
                     "of the file ending at seq %llu and this one",
                     (unsigned long long) lp[count].p.count,
                     (unsigned long long) a->last_seq);
        } else if (b->first_seq <= a->last_seq) {
            lp[count].p.kind = MIM_AUDIT_INSERTED;
            snprintf(lp[count].p.msg, sizeof(lp[count].p.msg),
                     "seq %llu again: another file of this chain already "
                     "goes up to seq %llu",
                     (unsigned long long) b->first_seq,
                     (unsigned long long) a->last_seq);
        } else {
            lp[count].p.kind = MIM_AUDIT_EDITED;
            snprintf(lp[count].p.msg, sizeof(lp[count].p.msg),
                     "does not link to the last line of the previous file "
                     "of this chain (its prev differs)");
        }
        count++;
    }
    free(order);
    *out = lp;
    return count;
}

/* ---- reports ---- */

static json_t *
mim_audit_problem_json(const char *path, const mim_audit_problem_t *p)
{
    json_t  *o = json_object();

    if (o == NULL) {
        return NULL;
    }
    json_object_set_new(o, "file", mim_printable_json(path));
    json_object_set_new(o, "line", json_integer((json_int_t) p->line));
    json_object_set_new(o, "last_line",
                        json_integer((json_int_t) p->last_line));
    json_object_set_new(o, "kind", json_string(mim_audit_kind_name(p->kind)));
    json_object_set_new(o, "seq", p->seq ? json_integer((json_int_t) p->seq)
                                         : json_null());
    json_object_set_new(o, "count", json_integer((json_int_t) p->count));
    json_object_set_new(o, "message", mim_printable_json(p->msg));
    return o;
}

static void
mim_audit_problem_text(const char *path, const mim_audit_problem_t *p)
{
    char  *line;

    if (p->last_line != p->line) {
        line = mim_sprintf("%s:%llu-%llu: %s: %s", path,
                           (unsigned long long) p->line,
                           (unsigned long long) p->last_line,
                           mim_audit_kind_name(p->kind), p->msg);
    } else {
        line = mim_sprintf("%s:%llu: %s: %s", path,
                           (unsigned long long) p->line,
                           mim_audit_kind_name(p->kind), p->msg);
    }
    if (line != NULL) {
        mim_printable(line);
        puts(line);
        free(line);
    }
}

static json_t *
mim_audit_file_json(const mim_audit_file_t *f, size_t problems)
{
    const mim_audit_summary_t  *s = f->sum;
    json_t                     *o = json_object();

    if (o == NULL) {
        return NULL;
    }
    json_object_set_new(o, "file", mim_printable_json(f->path));
    json_object_set_new(o, "chain", mim_printable_json(s->chain));
    json_object_set_new(o, "lines", json_integer((json_int_t) s->lines));
    json_object_set_new(o, "records", json_integer((json_int_t) s->records));
    json_object_set_new(o, "checkpoints",
                        json_integer((json_int_t) s->checkpoints));
    json_object_set_new(o, "segments",
                        json_integer((json_int_t) s->segments));
    json_object_set_new(o, "breaks", json_integer((json_int_t) s->breaks));
    json_object_set_new(o, "verified",
                        json_integer((json_int_t) s->verified));
    json_object_set_new(o, "first_seq", s->have_first
                        ? json_integer((json_int_t) s->first_seq)
                        : json_null());
    json_object_set_new(o, "last_seq", s->have_first
                        ? json_integer((json_int_t) s->last_seq)
                        : json_null());
    json_object_set_new(o, "from", s->from[0] ? json_string(s->from)
                                              : json_null());
    json_object_set_new(o, "to", s->to[0] ? json_string(s->to)
                                          : json_null());
    json_object_set_new(o, "ends_with", mim_printable_json(s->ends_with));
    json_object_set_new(o, "problems", json_integer((json_int_t) problems));
    return o;
}

typedef struct {
    uint64_t  lines, records, checkpoints, verified, problems, dropped;
    char      from[MIM_AUDIT_TIME_LEN + 1];
    char      to[MIM_AUDIT_TIME_LEN + 1];
} mim_audit_totals_t;

static void
mim_audit_add_totals(mim_audit_totals_t *t, const mim_audit_summary_t *s)
{
    t->lines += s->lines;
    t->records += s->records;
    t->checkpoints += s->checkpoints;
    t->verified += s->verified;
    if (s->from[0] && (t->from[0] == '\0' || strcmp(s->from, t->from) < 0)) {
        memcpy(t->from, s->from, sizeof(t->from));
    }
    if (s->to[0] && (t->to[0] == '\0' || strcmp(s->to, t->to) > 0)) {
        memcpy(t->to, s->to, sizeof(t->to));
    }
}

/* every problem and the totals, as text or JSON; returns the count */
static uint64_t
mim_audit_report(const mim_audit_args_t *a, mim_audit_file_t *files,
    const mim_tool_keys_t *k, int print)
{
    mim_audit_link_problem_t   *links;
    const mim_audit_problem_t  *p;
    mim_audit_totals_t          t;
    json_t                     *out = NULL, *jfiles = NULL, *jprob = NULL;
    size_t                      n, n_links, i, j, own;
    uint64_t                    dropped;

    memset(&t, 0, sizeof(t));
    n_links = mim_audit_link_files(files, a->n_files, &links);

    if (print && a->json) {
        out = json_object();
        jfiles = json_array();
        jprob = json_array();
    }

    for (i = 0; i < (size_t) a->n_files; i++) {
        p = mim_audit_problems(files[i].v, &n, &dropped);
        mim_audit_add_totals(&t, files[i].sum);
        own = n;
        for (j = 0; j < n_links; j++) {
            own += links[j].path == files[i].path;
        }
        t.problems += own + dropped;
        t.dropped += dropped;

        for (j = 0; print && j < n; j++) {
            if (a->json) {
                json_array_append_new(jprob, mim_audit_problem_json(
                                          files[i].path, &p[j]));
            } else {
                mim_audit_problem_text(files[i].path, &p[j]);
            }
        }
        for (j = 0; print && j < n_links; j++) {
            if (links[j].path != files[i].path) {
                continue;
            }
            if (a->json) {
                json_array_append_new(jprob, mim_audit_problem_json(
                                          links[j].path, &links[j].p));
            } else {
                mim_audit_problem_text(links[j].path, &links[j].p);
            }
        }
        if (print && a->json) {
            json_array_append_new(jfiles, mim_audit_file_json(&files[i],
                                                              own + dropped));
        } else if (print && !a->quiet) {
            char *line = mim_sprintf(
                "%s: %s, %llu lines (%llu records, %llu checkpoints, %llu "
                "segments), %llu verified%s%s%s%s, ends with %s",
                files[i].path, own + dropped ? "FAILED" : "ok",
                (unsigned long long) files[i].sum->lines,
                (unsigned long long) files[i].sum->records,
                (unsigned long long) files[i].sum->checkpoints,
                (unsigned long long) files[i].sum->segments,
                (unsigned long long) files[i].sum->verified,
                files[i].sum->from[0] ? ", " : "", files[i].sum->from,
                files[i].sum->from[0] ? " .. " : "", files[i].sum->to,
                files[i].sum->ends_with[0] ? files[i].sum->ends_with : "-");
            if (line != NULL) {
                mim_printable(line);
                puts(line);
                free(line);
            }
        }
        if (print && dropped > 0 && !a->json) {
            printf("%s: ... and %llu more problems\n", files[i].path,
                   (unsigned long long) dropped);
        }
    }
    free(links);

    if (print && a->json && out != NULL) {
        json_object_set_new(out, "ok", json_boolean(t.problems == 0));
        json_object_set_new(out, "files", jfiles);
        json_object_set_new(out, "problems", jprob);
        json_object_set_new(out, "problems_not_listed",
                            json_integer((json_int_t) t.dropped));
        json_object_set_new(out, "lines", json_integer((json_int_t) t.lines));
        json_object_set_new(out, "records",
                            json_integer((json_int_t) t.records));
        json_object_set_new(out, "checkpoints",
                            json_integer((json_int_t) t.checkpoints));
        json_object_set_new(out, "verified",
                            json_integer((json_int_t) t.verified));
        json_object_set_new(out, "from", t.from[0] ? json_string(t.from)
                                                   : json_null());
        json_object_set_new(out, "to", t.to[0] ? json_string(t.to)
                                               : json_null());
        json_object_set_new(out, "keys", mim_printable_json(k->source));
        json_dumpf(out, stdout, JSON_COMPACT);
        fputc('\n', stdout);
        json_decref(out);

    } else if (print && t.problems == 0) {
        printf("OK: %d file%s, %llu lines (%llu records, %llu checkpoints) "
               "verified, %s .. %s (keys: %s)\n", a->n_files,
               a->n_files == 1 ? "" : "s", (unsigned long long) t.lines,
               (unsigned long long) t.records,
               (unsigned long long) t.checkpoints,
               t.from[0] ? t.from : "-", t.to[0] ? t.to : "-", k->source);

    } else if (print) {
        printf("FAILED: %llu problem%s in %d file%s; %llu of %llu lines "
               "verified\n", (unsigned long long) t.problems,
               t.problems == 1 ? "" : "s", a->n_files,
               a->n_files == 1 ? "" : "s", (unsigned long long) t.verified,
               (unsigned long long) t.lines);
    }
    return t.problems;
}

/* ---- show ---- */

static int
mim_audit_line_verified(const mim_audit_file_t *f, size_t *cursor,
    uint64_t line)
{
    while (*cursor < f->n_ranges && f->ranges[*cursor].last < line) {
        (*cursor)++;
    }
    return *cursor < f->n_ranges && f->ranges[*cursor].first <= line;
}

static int
mim_audit_str_eq(json_t *rec, const char *name, const char *want)
{
    json_t  *v = json_object_get(rec, name);

    return json_is_string(v) && strcmp(json_string_value(v), want) == 0;
}

static const char *
mim_audit_str_or(json_t *rec, const char *name, const char *dflt)
{
    json_t  *v = json_object_get(rec, name);

    return json_is_string(v) ? json_string_value(v) : dflt;
}

static int
mim_audit_matches(const mim_audit_args_t *a, json_t *rec)
{
    int64_t  ms;

    if (!mim_audit_str_eq(rec, "type", "req")) {
        return 0;
    }
    if (a->party != NULL && !mim_audit_str_eq(rec, "party", a->party)) {
        return 0;
    }
    if (a->agreement != NULL
        && !mim_audit_str_eq(rec, "agreement", a->agreement))
    {
        return 0;
    }
    if (a->from != INT64_MIN || a->to != INT64_MAX) {
        if (mim_audit_parse_time(mim_audit_str_or(rec, "time", ""), 0, &ms)
            || ms < a->from || ms > a->to)
        {
            return 0;
        }
    }
    return 1;
}

static void
mim_audit_show_record(const mim_audit_args_t *a, json_t *rec,
    const char *line, size_t len)
{
    json_t  *status = json_object_get(rec, "status");
    char    *text;

    if (a->json) {
        fwrite(line, 1, len, stdout);
        fputc('\n', stdout);
        return;
    }
    text = mim_sprintf("%s %s %s %lld party=%s agreement=%s decision=%s "
                       "request_id=%s",
                       mim_audit_str_or(rec, "time", "-"),
                       mim_audit_str_or(rec, "method", "-"),
                       mim_audit_str_or(rec, "uri", "-"),
                       json_is_integer(status)
                       ? (long long) json_integer_value(status) : -1LL,
                       mim_audit_str_or(rec, "party", "-"),
                       mim_audit_str_or(rec, "agreement", "-"),
                       mim_audit_str_or(rec, "decision", "-"),
                       mim_audit_str_or(rec, "request_id", "-"));
    if (text != NULL) {
        mim_printable(text);
        puts(text);
        free(text);
    }
}

static uint64_t
mim_audit_show_file(const mim_audit_args_t *a, const mim_audit_file_t *f,
    uint64_t *unverified)
{
    const char  *p = f->data, *end = f->data + f->len, *nl;
    uint64_t     line = 0, shown = 0;
    size_t       cursor = 0, len;
    json_t      *rec;

    while (p < end) {
        nl = memchr(p, '\n', (size_t) (end - p));
        len = nl ? (size_t) (nl - p) : (size_t) (end - p);
        line++;
        rec = json_loadb(p, len, JSON_REJECT_DUPLICATES, NULL);
        if (rec != NULL && mim_audit_matches(a, rec)) {
            if (mim_audit_line_verified(f, &cursor, line)) {
                mim_audit_show_record(a, rec, p, len);
                shown++;
            } else {
                (*unverified)++;
            }
        }
        json_decref(rec);
        p = nl ? nl + 1 : end;
    }
    return shown;
}

/* ---- the subcommands ---- */

static int
mim_audit_run(int argc, char **argv, int show)
{
    mim_audit_args_t   args;
    mim_tool_keys_t    keys;
    mim_audit_file_t  *files = NULL;
    mim_result_t       rc;
    uint64_t           problems, shown = 0, unverified = 0;
    int                help, status, i;

    status = mim_audit_parse_args(&args, argc, argv, show, &help);
    if (help) {
        fputs(mim_audit_usage_text, stdout);
        return MIM_EXIT_OK;
    }
    if (status != MIM_EXIT_OK) {
        return status;
    }

    rc = mim_audit_load_keys(&args, &keys);
    if (!mim_ok(rc)) {
        mim_error(MIM_CMD, "%s", rc.msg);
        mim_tool_keys_free(&keys);
        return MIM_EXIT_USAGE;
    }

    files = calloc((size_t) args.n_files, sizeof(*files));
    if (files == NULL) {
        mim_tool_keys_free(&keys);
        mim_error(MIM_CMD, "out of memory");
        return MIM_EXIT_USAGE;
    }

    status = MIM_EXIT_OK;
    for (i = 0; i < args.n_files; i++) {
        files[i].path = args.files[i];
        rc = mim_audit_verify_file(&files[i], &keys.trust);
        if (!mim_ok(rc)) {
            mim_error(MIM_CMD, "%s", rc.msg);
            status = MIM_EXIT_USAGE;
            break;
        }
    }

    if (status == MIM_EXIT_OK) {
        problems = mim_audit_report(&args, files, &keys, !show);

        if (show) {
            for (i = 0; i < args.n_files; i++) {
                shown += mim_audit_show_file(&args, &files[i], &unverified);
            }
            fflush(stdout);
            fprintf(stderr, "mim: audit: %llu record%s shown", 
                    (unsigned long long) shown, shown == 1 ? "" : "s");
            if (unverified > 0) {
                fprintf(stderr, "; %llu matching record%s not shown: not "
                        "verified", (unsigned long long) unverified,
                        unverified == 1 ? "" : "s");
            }
            if (problems > 0) {
                fprintf(stderr, "; the files have %llu problem%s (see `mim "
                        "audit verify`)", (unsigned long long) problems,
                        problems == 1 ? "" : "s");
            }
            fputc('\n', stderr);
        }
        status = problems > 0 ? MIM_EXIT_FAILED : MIM_EXIT_OK;
    }

    for (i = 0; i < args.n_files; i++) {
        mim_audit_file_free(&files[i]);
    }
    free(files);
    mim_tool_keys_free(&keys);
    return status;
}

int
mim_cmd_audit(int argc, char **argv)
{
    if (argc < 2 || strcmp(argv[1], "--help") == 0
        || strcmp(argv[1], "-h") == 0)
    {
        fputs(mim_audit_usage_text, argc < 2 ? stderr : stdout);
        return argc < 2 ? MIM_EXIT_USAGE : MIM_EXIT_OK;
    }
    if (strcmp(argv[1], "verify") == 0) {
        return mim_audit_run(argc - 1, argv + 1, 0);
    }
    if (strcmp(argv[1], "show") == 0) {
        return mim_audit_run(argc - 1, argv + 1, 1);
    }
    mim_error(MIM_CMD, "unknown subcommand '%s' (verify or show)", argv[1]);
    return MIM_EXIT_USAGE;
}
