/*
 * mim_policy.c - `mim policy`: decide a request against an ODRL policy,
 * or check that a policy compiles (docs/policies.md).
 *
 *   mim policy eval POLICY.jsonld REQUEST.json
 *       prints {"decision": "permit"|"deny", "rule": uid|null,
 *       "reasons": [...]}; exit 0 permit, 1 deny, 2 the policy or the
 *       request cannot be read or is invalid.
 *   mim policy check [--strict] POLICY.jsonld...
 *       one line per policy, then its warnings; exit 0 valid, 1 (with
 *       --strict) a valid policy has warnings, 2 invalid or unreadable.
 *
 * This is how the tests and the benchmarks drive the engine outside
 * nginx: the same mim_policy_parse() and mim_policy_eval() the gateway
 * runs.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "mim.h"
#include "mim_policy.h"

#define MIM_CMD              "policy"
#define MIM_REQUEST_MAX      (1024UL * 1024)
#define MIM_REASONS_MAX      (64 * 1024)
#define MIM_REQUEST_VALUES   256

static const char  mim_policy_usage_text[] =
"usage:\n"
"  mim policy eval POLICY.jsonld REQUEST.json\n"
"  mim policy check [--strict] POLICY.jsonld...\n"
"\n"
"eval decides one request and prints one JSON object:\n"
"  {\"decision\": \"permit\"|\"deny\", \"rule\": UID|null, \"reasons\": "
"[...]}\n"
"REQUEST.json (every member but action optional; \"-\" reads stdin):\n"
"  {\"action\": \"read\", \"target\": \"urn:...\", \"assignee\": \"did:...\",\n"
"   \"dateTime\": \"2026-05-01T10:00:00Z\", \"elapsedTime\": \"PT2H\",\n"
"   \"count\": 3, \"purpose\": [\"https://w3id.org/dpv#...\"],\n"
"   \"virtualLocation\": \"10.1.2.3\", \"spatial\": [\"...\"], "
"\"recipient\": \"...\",\n"
"   \"deliveryChannel\": \"...\", \"event\": \"...\",\n"
"   \"claims\": {\"role\": \"operator\", \"type\": [\"...\"]}}\n"
"Without elapsedTime, it is dateTime minus the policy's timestamp when\n"
"both are known.\n"
"\n"
"check compiles each policy and prints its type, uid, rule and constraint\n"
"counts and its warnings (constraints that can never hold).\n"
"  --strict   exit 1 when a policy has warnings\n"
"\n"
"exit status: eval 0 permit, 1 deny; check 0 valid, 1 warnings with\n"
"--strict; 2 usage error, or a policy or request unreadable or invalid.\n";

/* the whole text for --help; the synopsis after a usage error */
static int
mim_policy_usage(int status)
{
    if (status == MIM_EXIT_OK) {
        fputs(mim_policy_usage_text, stdout);
    } else {
        fprintf(stderr, "%.*s`mim policy --help` says more.\n",
                (int) (strstr(mim_policy_usage_text, "\n\n")
                       - mim_policy_usage_text + 1), mim_policy_usage_text);
    }
    return status;
}

/* ---- the request file ---- */

typedef struct {
    mim_policy_request_t   req;
    json_t                *doc;
    json_t                *texts;     /* strings made from numbers */
    mim_str_t             *strs;      /* purposes, spatials, claim values */
    size_t                 nstrs;
    mim_claim_t           *claims;
} mim_policy_req_t;

static mim_str_t
mim_policy_str(json_t *s)
{
    mim_str_t  v;

    v.data = json_string_value(s);
    v.len = json_string_length(s);
    return v;
}

/* a string member; absent stays absent */
static int
mim_policy_req_string(json_t *doc, const char *name, mim_str_t *out,
    char *err, size_t errlen)
{
    json_t  *v = json_object_get(doc, name);

    if (v == NULL) {
        return 0;
    }
    if (!json_is_string(v)) {
        snprintf(err, errlen, "\"%s\" must be a string", name);
        return -1;
    }
    *out = mim_policy_str(v);
    return 0;
}

/* a scalar as text: strings as they are, numbers and booleans printed */
static int
mim_policy_req_text(mim_policy_req_t *r, json_t *v, mim_str_t *out)
{
    char     buf[64];
    json_t  *s;

    if (json_is_string(v)) {
        *out = mim_policy_str(v);
        return 0;
    }
    if (json_is_integer(v)) {
        snprintf(buf, sizeof(buf), "%" JSON_INTEGER_FORMAT,
                 json_integer_value(v));
    } else if (json_is_real(v)) {
        snprintf(buf, sizeof(buf), "%.15g", json_real_value(v));
    } else if (json_is_boolean(v)) {
        snprintf(buf, sizeof(buf), "%s", json_is_true(v) ? "true" : "false");
    } else {
        return -1;
    }
    s = json_string(buf);
    if (s == NULL || json_array_append_new(r->texts, s) != 0) {
        return -1;
    }
    *out = mim_policy_str(s);
    return 0;
}

/* a string, or an array of them, appended to r->strs */
static int
mim_policy_req_list(mim_policy_req_t *r, json_t *v, int scalars_too,
    const mim_str_t **out, size_t *n)
{
    size_t   i, count = json_is_array(v) ? json_array_size(v) : 1;
    json_t  *item;

    if (r->nstrs + count > MIM_REQUEST_VALUES) {
        return -1;
    }
    *out = r->strs + r->nstrs;
    *n = count;
    for (i = 0; i < count; i++) {
        item = json_is_array(v) ? json_array_get(v, i) : v;
        if (!json_is_string(item)
            && (!scalars_too || mim_policy_req_text(r, item,
                                                    &r->strs[r->nstrs]) != 0))
        {
            return -1;
        }
        if (json_is_string(item)) {
            r->strs[r->nstrs] = mim_policy_str(item);
        }
        r->nstrs++;
    }
    return 0;
}

static int
mim_policy_req_claims(mim_policy_req_t *r, json_t *claims, char *err,
    size_t errlen)
{
    const char  *name;
    json_t      *v;
    size_t       i = 0;

    if (!json_is_object(claims)) {
        snprintf(err, errlen, "\"claims\" must be an object");
        return -1;
    }
    r->claims = calloc(json_object_size(claims) + 1, sizeof(mim_claim_t));
    if (r->claims == NULL) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    json_object_foreach(claims, name, v) {
        r->claims[i].name.data = name;
        r->claims[i].name.len = strlen(name);
        if (mim_policy_req_list(r, v, 1, &r->claims[i].values,
                                &r->claims[i].n) != 0)
        {
            snprintf(err, errlen, "claim \"%s\": expected a string, a "
                     "number, a boolean or an array of them", name);
            return -1;
        }
        i++;
    }
    r->req.claims = r->claims;
    r->req.claims_n = i;
    return 0;
}

static int
mim_policy_req_time(json_t *doc, const char *name, int duration,
    int *has, int64_t *out, char *err, size_t errlen)
{
    json_t  *v = json_object_get(doc, name);
    int      rc;

    if (v == NULL) {
        return 0;
    }
    if (!json_is_string(v)) {
        rc = -1;
    } else if (duration) {
        rc = mim_policy_parse_duration(json_string_value(v),
                                       json_string_length(v), out);
    } else {
        rc = mim_policy_parse_datetime(json_string_value(v),
                                       json_string_length(v), out);
    }
    if (rc != 0) {
        snprintf(err, errlen, "\"%s\" must be an %s", name,
                 duration ? "xsd:duration (\"PT2H\")"
                          : "xsd:dateTime (\"2026-05-01T10:00:00Z\")");
        return -1;
    }
    *has = 1;
    return 0;
}

static const char *const  mim_policy_req_members[] = {
    "action", "target", "assignee", "dateTime", "elapsedTime", "count",
    "purpose", "virtualLocation", "spatial", "recipient", "deliveryChannel",
    "event", "claims", NULL
};

static int
mim_policy_req_check_members(json_t *doc, char *err, size_t errlen)
{
    const char  *name;
    json_t      *v;
    size_t       i;

    json_object_foreach(doc, name, v) {
        for (i = 0; mim_policy_req_members[i] != NULL; i++) {
            if (strcmp(name, mim_policy_req_members[i]) == 0) {
                break;
            }
        }
        if (mim_policy_req_members[i] == NULL) {
            snprintf(err, errlen, "unknown member \"%s\"", name);
            return -1;
        }
    }
    return 0;
}

static int
mim_policy_req_parse(mim_policy_req_t *r, const char *text, size_t len,
    char *err, size_t errlen)
{
    mim_policy_request_t  *q = &r->req;
    json_error_t           jerr;
    json_t                *doc, *v;

    memset(r, 0, sizeof(*r));
    r->texts = json_array();
    r->strs = calloc(MIM_REQUEST_VALUES, sizeof(mim_str_t));
    doc = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
    r->doc = doc;
    if (r->texts == NULL || r->strs == NULL) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    if (doc == NULL) {
        snprintf(err, errlen, "line %d, column %d: %s", jerr.line,
                 jerr.column, jerr.text);
        return -1;
    }
    if (!json_is_object(doc)) {
        snprintf(err, errlen, "a request must be a JSON object");
        return -1;
    }
    if (mim_policy_req_check_members(doc, err, errlen) != 0) {
        return -1;
    }
    if (!json_is_string(json_object_get(doc, "action"))) {
        snprintf(err, errlen, "\"action\" (a string) is required");
        return -1;
    }
    q->action = mim_policy_str(json_object_get(doc, "action"));
    if (mim_policy_req_string(doc, "target", &q->target, err, errlen) != 0
        || mim_policy_req_string(doc, "assignee", &q->assignee, err,
                                 errlen) != 0
        || mim_policy_req_string(doc, "recipient", &q->recipient, err,
                                 errlen) != 0
        || mim_policy_req_string(doc, "virtualLocation",
                                 &q->virtual_location, err, errlen) != 0
        || mim_policy_req_string(doc, "deliveryChannel",
                                 &q->delivery_channel, err, errlen) != 0
        || mim_policy_req_string(doc, "event", &q->event, err, errlen) != 0
        || mim_policy_req_time(doc, "dateTime", 0, &q->has_date_time,
                               &q->date_time, err, errlen) != 0
        || mim_policy_req_time(doc, "elapsedTime", 1, &q->has_elapsed,
                               &q->elapsed, err, errlen) != 0)
    {
        return -1;
    }
    v = json_object_get(doc, "count");
    if (v != NULL) {
        if (!json_is_integer(v) || json_integer_value(v) < 0) {
            snprintf(err, errlen, "\"count\" must be an integer >= 0");
            return -1;
        }
        q->has_count = 1;
        q->count = json_integer_value(v);
    }
    v = json_object_get(doc, "purpose");
    if (v != NULL && mim_policy_req_list(r, v, 0, &q->purpose,
                                         &q->purpose_n) != 0)
    {
        snprintf(err, errlen, "\"purpose\" must be a string or an array of "
                 "strings");
        return -1;
    }
    v = json_object_get(doc, "spatial");
    if (v != NULL && mim_policy_req_list(r, v, 0, &q->spatial,
                                         &q->spatial_n) != 0)
    {
        snprintf(err, errlen, "\"spatial\" must be a string or an array of "
                 "strings");
        return -1;
    }
    v = json_object_get(doc, "claims");
    if (v != NULL && mim_policy_req_claims(r, v, err, errlen) != 0) {
        return -1;
    }
    return 0;
}

static void
mim_policy_req_free(mim_policy_req_t *r)
{
    free(r->claims);
    free(r->strs);
    json_decref(r->texts);
    json_decref(r->doc);
}

/* ---- subcommands ---- */

static int
mim_policy_load_file(const char *path, mim_policy_t **policy)
{
    uint8_t       *text;
    size_t         len;
    mim_result_t   r;

    r = mim_tool_read_file(path, 1024 * 1024, &text, &len);
    if (!mim_ok(r)) {
        mim_error(MIM_CMD, "%s", r.msg);
        return -1;
    }
    r = mim_policy_parse(policy, (const char *) text, len);
    free(text);
    if (!mim_ok(r)) {
        mim_error(MIM_CMD, "%s: %s", path, r.msg);
        return -1;
    }
    return 0;
}

static int
mim_policy_print(const mim_policy_decision_t *d, const char *reasons)
{
    json_t        *out, *list;
    json_error_t   jerr;
    char          *text;

    list = json_loads(reasons, 0, &jerr);
    if (list == NULL || !json_is_array(list)) {
        /* the engine promises valid JSON: say so loudly if it is not */
        mim_error(MIM_CMD, "internal error: reasons are not a JSON array: "
                  "%s", reasons);
        json_decref(list);
        return -1;
    }
    out = json_pack("{s:s, s:o, s:o}",
                    "decision", d->effect == MIM_POLICY_PERMIT ? "permit"
                                                               : "deny",
                    "rule", d->rule != NULL ? json_string(d->rule)
                                            : json_null(),
                    "reasons", list);
    if (out == NULL) {
        mim_error(MIM_CMD, "out of memory");
        return -1;
    }
    text = json_dumps(out, JSON_PRESERVE_ORDER);
    json_decref(out);
    if (text == NULL) {
        mim_error(MIM_CMD, "out of memory");
        return -1;
    }
    printf("%s\n", text);
    free(text);
    return 0;
}

static int
mim_policy_eval_cmd(const char *policy_path, const char *request_path)
{
    mim_policy_t           *policy = NULL;
    mim_policy_req_t        req;
    mim_policy_decision_t   d;
    mim_result_t            r;
    uint8_t                *text;
    size_t                  len;
    char                    err[256], *reasons;
    int64_t                 ts;
    int                     status = MIM_EXIT_USAGE;

    if (mim_policy_load_file(policy_path, &policy) != 0) {
        return MIM_EXIT_USAGE;
    }
    r = mim_tool_read_file(request_path, MIM_REQUEST_MAX, &text, &len);
    if (!mim_ok(r)) {
        mim_error(MIM_CMD, "%s", r.msg);
        mim_policy_free(policy);
        return MIM_EXIT_USAGE;
    }
    if (mim_policy_req_parse(&req, (const char *) text, len, err,
                             sizeof(err)) != 0)
    {
        mim_error(MIM_CMD, "%s: %s", request_path, err);
        goto done;
    }
    if (!req.req.has_elapsed && req.req.has_date_time
        && mim_policy_timestamp(policy, &ts) == 0)
    {
        req.req.has_elapsed = 1;
        req.req.elapsed = req.req.date_time - ts;
    }
    reasons = malloc(MIM_REASONS_MAX);
    if (reasons == NULL) {
        mim_error(MIM_CMD, "out of memory");
        goto done;
    }
    r = mim_policy_eval(policy, &req.req, &d, reasons, MIM_REASONS_MAX);
    if (!mim_ok(r)) {
        mim_error(MIM_CMD, "%s", r.msg);
    } else if (mim_policy_print(&d, reasons) == 0) {
        status = d.effect == MIM_POLICY_PERMIT ? MIM_EXIT_OK
                                               : MIM_EXIT_FAILED;
    }
    free(reasons);

done:
    mim_policy_req_free(&req);
    free(text);
    mim_policy_free(policy);
    return status;
}

static int
mim_policy_check_cmd(int argc, char **argv, int strict)
{
    mim_policy_t  *policy;
    const char    *uid;
    size_t         i, nw;
    int            k, status = MIM_EXIT_OK;

    for (k = 0; k < argc; k++) {
        if (mim_policy_load_file(argv[k], &policy) != 0) {
            status = MIM_EXIT_USAGE;
            continue;
        }
        uid = mim_policy_uid(policy);
        nw = mim_policy_warning_count(policy);
        printf("%s: ok: %s%s%s, %zu rule%s, %zu constraint%s, %zu "
               "warning%s\n", argv[k], mim_policy_type(policy),
               uid != NULL ? " " : "", uid != NULL ? uid : "",
               mim_policy_rule_count(policy),
               mim_policy_rule_count(policy) == 1 ? "" : "s",
               mim_policy_constraint_count(policy),
               mim_policy_constraint_count(policy) == 1 ? "" : "s",
               nw, nw == 1 ? "" : "s");
        for (i = 0; i < nw; i++) {
            printf("%s: warning: %s\n", argv[k],
                   mim_policy_warning(policy, i));
        }
        if (strict && nw > 0 && status == MIM_EXIT_OK) {
            status = MIM_EXIT_FAILED;
        }
        mim_policy_free(policy);
    }
    return status;
}

int
mim_cmd_policy(int argc, char **argv)
{
    static const struct option  options[] = {
        { "strict", no_argument, NULL, 's' },
        { "help",   no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 }
    };
    int  opt, strict = 0;

    if (argc < 2) {
        return mim_policy_usage(MIM_EXIT_USAGE);
    }
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        return mim_policy_usage(MIM_EXIT_OK);
    }
    /* options after the action word: mim policy check --strict FILE */
    optind = 1;
    opterr = 0;
    argc--;
    argv++;
    while ((opt = getopt_long(argc, argv, "+h", options, NULL)) != -1) {
        switch (opt) {
        case 's':
            strict = 1;
            break;
        case 'h':
            return mim_policy_usage(MIM_EXIT_OK);
        default:
            mim_error(MIM_CMD, "unknown option '%s'", argv[optind - 1]);
            return mim_policy_usage(MIM_EXIT_USAGE);
        }
    }
    if (strcmp(argv[0], "eval") == 0) {
        if (strict || argc - optind != 2) {
            mim_error(MIM_CMD, "eval takes POLICY and REQUEST");
            return mim_policy_usage(MIM_EXIT_USAGE);
        }
        return mim_policy_eval_cmd(argv[optind], argv[optind + 1]);
    }
    if (strcmp(argv[0], "check") == 0) {
        if (argc - optind < 1) {
            mim_error(MIM_CMD, "check takes one or more POLICY files");
            return mim_policy_usage(MIM_EXIT_USAGE);
        }
        return mim_policy_check_cmd(argc - optind, argv + optind, strict);
    }
    mim_error(MIM_CMD, "unknown action '%s' (eval or check)", argv[0]);
    return mim_policy_usage(MIM_EXIT_USAGE);
}
