/*
 * mim_consumer.c - `mim consumer`: a Dataspace Protocol 2025-1 consumer
 * for operators and tests (docs/consumer.md).
 *
 *   mim consumer catalog URL
 *   mim consumer negotiate URL --offer ID [--dataset ID]
 *   mim consumer transfer URL --agreement ID [--format FORMAT]
 *   mim consumer get ENDPOINT [--token TOKEN] [--purpose IRI] [-o FILE]
 *   mim consumer run URL --dataset ID [--offer ID] [--path SUFFIX] ...
 *
 * Progress goes to stderr, the result to stdout (--json: one JSON
 * document).  Exit 0 done, 1 failed (with the reason), 2 usage.
 */
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "mim_b64.h"
#include "mim_consumer.h"
#include "mim_dsp.h"
#include "mim_dsp_schema.h"

#define MIM_DATA_EXCERPT  2000

static const char  mim_consumer_usage_text[] =
"usage:\n"
"  mim consumer catalog URL [OPTIONS]\n"
"  mim consumer negotiate URL --offer ID [--dataset ID] [OPTIONS]\n"
"  mim consumer transfer URL --agreement ID [--format FORMAT] [OPTIONS]\n"
"  mim consumer get ENDPOINT [--token TOKEN] [--purpose IRI] [-o FILE]\n"
"  mim consumer run URL --dataset ID [--offer ID] [--path SUFFIX]\n"
"                   [--purpose IRI] [--complete] [OPTIONS]\n"
"\n"
"A Dataspace Protocol 2025-1 consumer (HTTPS binding, bearer tokens).\n"
"URL is the provider's root (its /.well-known/dspace-version names the\n"
"2025-1 base) or the DSP base itself.  Every message received is checked\n"
"against the DSP 2025-1 schemas.\n"
"\n"
"  catalog    print the catalog's datasets, offers and formats\n"
"  negotiate  request an offer and see the negotiation to FINALIZED;\n"
"             prints the agreement id\n"
"  transfer   request a transfer (HTTP pull) of an agreement up to\n"
"             STARTED; prints the data endpoint and its access token\n"
"  get        GET a data endpoint with a data-access token; prints the body\n"
"  run        all of it: catalog, the dataset's offer (the first, or\n"
"             --offer), negotiation, transfer, GET; prints the data\n"
"\n"
"identity (iSHARE client credentials, or a token, or none):\n"
"  --cert PEM          participant certificate chain, leaf first\n"
"  --key PEM           its RSA private key (signs the client assertion)\n"
"  --client-id ID      our party id (default: the certificate's\n"
"                      serialNumber, else organizationIdentifier)\n"
"  --provider-id ID    the provider's party id, the assertion's aud\n"
"                      (required with --cert)\n"
"  --token-url URL     the token endpoint (default: ORIGIN/connect/token)\n"
"  --token TOKEN       a bearer token to use instead (get: the\n"
"                      data-access token)\n"
"transport and callbacks:\n"
"  --ca PEM            trust anchors for TLS (default: the system's)\n"
"  --callback-listen HOST:PORT   where callbacks are received\n"
"                      (default 127.0.0.1:0, any free port)\n"
"  --callback-url URL  the callbackAddress given to the provider\n"
"                      (default http://HOST:PORT of the listener)\n"
"  --timeout SECONDS   for each request and each awaited callback (30)\n"
"subcommand options:\n"
"  --offer ID, --dataset ID, --agreement ID\n"
"  --format FORMAT     the distribution format (default HttpData-PULL)\n"
"  --path SUFFIX       run: appended to the endpoint's path (or, starting\n"
"                      with ? or &, to its query)\n"
"  --purpose IRI       declared purpose, sent in --purpose-header\n"
"                      (default X-Data-Purpose)\n"
"  -o, --output FILE   get, run: write the data to FILE\n"
"  --complete          run: complete the transfer after the GET\n"
"  --json              the result as one JSON document on stdout\n"
"\n"
"exit status: 0 done, 1 failed (the reason on stderr), 2 usage error.\n";

enum {
    OPT_CERT = 0, OPT_KEY, OPT_CA, OPT_CLIENT_ID, OPT_PROVIDER_ID,
    OPT_TOKEN_URL, OPT_TOKEN, OPT_LISTEN, OPT_CALLBACK_URL, OPT_TIMEOUT,
    OPT_JSON, OPT_OFFER, OPT_DATASET, OPT_AGREEMENT, OPT_FORMAT,
    OPT_PURPOSE, OPT_PURPOSE_HEADER, OPT_PATH, OPT_OUTPUT, OPT_COMPLETE,
    OPT_HELP
};

#define OPT(o)     (1u << (o))
#define OPTS_ID    (OPT(OPT_CERT) | OPT(OPT_KEY) | OPT(OPT_CLIENT_ID)         \
                    | OPT(OPT_PROVIDER_ID) | OPT(OPT_TOKEN_URL)               \
                    | OPT(OPT_TOKEN) | OPT(OPT_CA) | OPT(OPT_TIMEOUT)         \
                    | OPT(OPT_JSON) | OPT(OPT_HELP))
#define OPTS_CB    (OPT(OPT_LISTEN) | OPT(OPT_CALLBACK_URL))
#define OPTS_DATA  (OPT(OPT_PURPOSE) | OPT(OPT_PURPOSE_HEADER)                \
                    | OPT(OPT_OUTPUT))

static const struct option  mim_consumer_options[] = {
    { "cert", required_argument, NULL, OPT_CERT },
    { "key", required_argument, NULL, OPT_KEY },
    { "ca", required_argument, NULL, OPT_CA },
    { "client-id", required_argument, NULL, OPT_CLIENT_ID },
    { "provider-id", required_argument, NULL, OPT_PROVIDER_ID },
    { "token-url", required_argument, NULL, OPT_TOKEN_URL },
    { "token", required_argument, NULL, OPT_TOKEN },
    { "callback-listen", required_argument, NULL, OPT_LISTEN },
    { "callback-url", required_argument, NULL, OPT_CALLBACK_URL },
    { "timeout", required_argument, NULL, OPT_TIMEOUT },
    { "json", no_argument, NULL, OPT_JSON },
    { "offer", required_argument, NULL, OPT_OFFER },
    { "dataset", required_argument, NULL, OPT_DATASET },
    { "agreement", required_argument, NULL, OPT_AGREEMENT },
    { "format", required_argument, NULL, OPT_FORMAT },
    { "purpose", required_argument, NULL, OPT_PURPOSE },
    { "purpose-header", required_argument, NULL, OPT_PURPOSE_HEADER },
    { "path", required_argument, NULL, OPT_PATH },
    { "output", required_argument, NULL, OPT_OUTPUT },
    { "complete", no_argument, NULL, OPT_COMPLETE },
    { "help", no_argument, NULL, OPT_HELP },
    { NULL, 0, NULL, 0 }
};

typedef struct mim_consumer_sub_s  mim_consumer_sub_t;

struct mim_consumer_sub_s {
    const char   *name;
    unsigned      options;                  /* the ones it takes */
    int           provider;                 /* talks DSP to a provider */
    int           callbacks;                /* needs the listener */
    int         (*run)(mim_consumer_t *c, const char *arg);
};

static int mim_consumer_cmd_catalog(mim_consumer_t *c, const char *url);
static int mim_consumer_cmd_negotiate(mim_consumer_t *c, const char *url);
static int mim_consumer_cmd_transfer(mim_consumer_t *c, const char *url);
static int mim_consumer_cmd_get(mim_consumer_t *c, const char *url);
static int mim_consumer_cmd_run(mim_consumer_t *c, const char *url);

static const mim_consumer_sub_t  mim_consumer_subs[] = {
    { "catalog", OPTS_ID, 1, 0, mim_consumer_cmd_catalog },
    { "negotiate", OPTS_ID | OPTS_CB | OPT(OPT_OFFER) | OPT(OPT_DATASET), 1,
      1, mim_consumer_cmd_negotiate },
    { "transfer", OPTS_ID | OPTS_CB | OPT(OPT_AGREEMENT) | OPT(OPT_FORMAT),
      1, 1, mim_consumer_cmd_transfer },
    { "get", OPT(OPT_TOKEN) | OPT(OPT_CA) | OPT(OPT_TIMEOUT) | OPT(OPT_JSON)
             | OPT(OPT_HELP) | OPTS_DATA, 0, 0, mim_consumer_cmd_get },
    { "run", OPTS_ID | OPTS_CB | OPTS_DATA | OPT(OPT_DATASET)
             | OPT(OPT_OFFER) | OPT(OPT_FORMAT) | OPT(OPT_PATH)
             | OPT(OPT_COMPLETE), 1, 1, mim_consumer_cmd_run },
    { NULL, 0, 0, 0, NULL }
};

/* ---- output ---- */

void
mim_consumer_progress(const char *fmt, ...)
{
    va_list  args;
    char     line[2048];

    va_start(args, fmt);
    vsnprintf(line, sizeof(line), fmt, args);
    va_end(args);

    mim_printable(line);
    fprintf(stderr, "%s\n", line);
}

static int
mim_consumer_fail(mim_result_t rc)
{
    mim_error(MIM_CONSUMER_CMD, "%s", rc.msg);
    return MIM_EXIT_FAILED;
}

/* "name value" on stdout, the value made printable */
static void
mim_consumer_print(const char *name, const char *value)
{
    char  *v = strdup(value ? value : "");

    if (v != NULL) {
        mim_printable(v);
        printf("%-12s %s\n", name, v);
        free(v);
    }
}

static int
mim_consumer_print_json(json_t *doc)
{
    int  rc;

    rc = json_dumpf(doc, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    fputc('\n', stdout);
    json_decref(doc);

    if (rc != 0) {
        mim_error(MIM_CONSUMER_CMD, "cannot write the result");
        return MIM_EXIT_FAILED;
    }

    return MIM_EXIT_OK;
}

static json_t *
mim_consumer_neg_json(const mim_consumer_neg_t *neg)
{
    return json_pack("{s:s, s:s, s:s, s:O}", "providerPid", neg->provider_pid,
                     "consumerPid", neg->consumer_pid, "state", neg->state,
                     "agreement", neg->agreement);
}

static json_t *
mim_consumer_tp_json(const mim_consumer_tp_t *tp)
{
    return json_pack("{s:s, s:s, s:s, s:s, s:s?, s:O}",
                     "providerPid", tp->provider_pid,
                     "consumerPid", tp->consumer_pid, "state", tp->state,
                     "endpoint", tp->endpoint, "token", tp->token,
                     "dataAddress", tp->data_address);
}

/* ---- the data ---- */

/* the endpoint with --path: into its path, or its query (? or &) */
static char *
mim_consumer_data_url(const char *endpoint, const char *suffix)
{
    const char  *q;
    size_t       n;

    if (suffix == NULL || suffix[0] == '\0') {
        return strdup(endpoint);
    }

    q = strchr(endpoint, '?');

    if (suffix[0] == '?' || suffix[0] == '&') {
        return mim_sprintf("%s%c%s", endpoint, q ? '&' : '?', suffix + 1);
    }

    n = q ? (size_t) (q - endpoint) : strlen(endpoint);
    while (n > 0 && endpoint[n - 1] == '/' && suffix[0] == '/') {
        n--;
    }

    return mim_sprintf("%.*s%s%s%s", (int) n, endpoint,
                       suffix[0] == '/' ? "" : "/", suffix, q ? q : "");
}

static mim_result_t
mim_consumer_write_data(const char *path, const mim_http_response_t *resp)
{
    FILE    *f;
    size_t   n;

    f = (path == NULL || strcmp(path, "-") == 0) ? stdout : fopen(path, "wb");
    if (f == NULL) {
        return mim_result_err(MIM_ERR_IO, "cannot write %s", path);
    }

    n = fwrite(resp->body, 1, resp->body_len, f);

    if ((f != stdout && fclose(f) != 0) || n != resp->body_len) {
        return mim_result_err(MIM_ERR_IO, "cannot write %s",
                              path ? path : "the data");
    }

    return mim_result_ok();
}

/*
 * The body for --json: "body" parsed when it is JSON, else a string when
 * it is UTF-8 text, else "bodyBase64".
 */
static mim_result_t
mim_consumer_body_json(const mim_http_response_t *resp, json_t *out)
{
    json_t  *v;
    char    *b64;
    int      rc;

    v = json_loadb((const char *) resp->body, resp->body_len,
                   JSON_DECODE_ANY, NULL);
    if (v == NULL) {
        v = json_stringn((const char *) resp->body, resp->body_len);
    }

    if (v != NULL) {
        rc = json_object_set_new(out, "body", v);

    } else {
        b64 = malloc(mim_b64_len(resp->body_len) + 1);
        if (b64 == NULL) {
            return mim_result_err(MIM_ERR_NOMEM, "out of memory");
        }
        b64[mim_b64_encode(b64, resp->body, resp->body_len)] = '\0';
        rc = json_object_set_new(out, "bodyBase64", json_string(b64));
        free(b64);
    }

    return rc == 0 ? mim_result_ok()
                   : mim_result_err(MIM_ERR_NOMEM, "out of memory");
}

/*
 * GET the data; the body goes to -o FILE or stdout, or with --json into
 * *result.  A status other than 2xx fails with the body as the reason.
 */
static mim_result_t
mim_consumer_fetch(mim_consumer_t *c, const char *url, const char *token,
    json_t **result)
{
    mim_http_response_t   resp;
    mim_result_t          rc;
    char                  media[128], *purpose = NULL;
    const char           *extra[1] = { NULL };

    if (c->purpose != NULL) {
        purpose = mim_sprintf("%s: %s", c->purpose_header, c->purpose);
        if (purpose == NULL) {
            return mim_result_err(MIM_ERR_NOMEM, "out of memory");
        }
        extra[0] = purpose;
    }

    rc = mim_consumer_http(&c->http, "GET", url, token, NULL, NULL, 0, extra,
                           purpose ? 1 : 0, 0, &resp);
    free(purpose);
    if (!mim_ok(rc)) {
        return mim_result_err(rc.code, "data: %s", rc.msg);
    }

    mim_consumer_media_type(&resp, media, sizeof(media));
    mim_consumer_progress("data: GET %s: HTTP %d, %zu bytes%s%s", url,
                          resp.status, resp.body_len, media[0] ? " " : "",
                          media);

    if (result != NULL) {
        *result = json_pack("{s:s, s:i, s:s}", "url", url,
                            "status", resp.status, "contentType", media);
        rc = *result ? mim_consumer_body_json(&resp, *result)
                     : mim_result_err(MIM_ERR_NOMEM, "out of memory");
    }

    if (!mim_ok(rc)) {
        /* out of memory: nothing more to say */

    } else if (resp.status < 200 || resp.status > 299) {
        rc = mim_result_err(MIM_ERR_IO, "GET %s: HTTP %d: %.*s", url,
                            resp.status,
                            (int) (resp.body_len < MIM_DATA_EXCERPT
                                   ? resp.body_len : MIM_DATA_EXCERPT),
                            (const char *) resp.body);
        /* mim_result_t keeps less: say it all here */
        mim_consumer_progress("data: %.*s", (int) (resp.body_len
                              < MIM_DATA_EXCERPT ? resp.body_len
                                                 : MIM_DATA_EXCERPT),
                              (const char *) resp.body);

    } else if (result == NULL || c->output != NULL) {
        /* with --json and no -o the body is in the result only */
        rc = mim_consumer_write_data(c->output, &resp);
    }

    mim_http_response_free(&resp);
    return rc;
}

/* ---- the subcommands ---- */

static void
mim_consumer_print_catalog(json_t *catalog)
{
    json_t  *all, *ds, *v;
    size_t   i, j;

    all = mim_consumer_datasets(catalog);

    json_array_foreach(all, i, ds) {
        mim_consumer_print("dataset", mim_consumer_str(ds, "@id"));
        if (mim_consumer_str(ds, "title") != NULL) {
            mim_consumer_print("  title", mim_consumer_str(ds, "title"));
        }
        json_array_foreach(json_object_get(ds, "hasPolicy"), j, v) {
            mim_consumer_print("  offer", mim_consumer_str(v, "@id"));
        }
        json_array_foreach(json_object_get(ds, "distribution"), j, v) {
            mim_consumer_print("  format", mim_consumer_str(v, "format"));
        }
    }

    json_decref(all);
}

static int
mim_consumer_cmd_catalog(mim_consumer_t *c, const char *url)
{
    mim_result_t   rc;
    json_t        *catalog = NULL;

    rc = mim_consumer_catalog(c, &catalog);
    if (!mim_ok(rc)) {
        return mim_consumer_fail(rc);
    }

    if (c->json) {
        return mim_consumer_print_json(catalog);
    }

    mim_consumer_print_catalog(catalog);
    json_decref(catalog);
    return MIM_EXIT_OK;
}

/* catalog -> the offer to request (*offer, a new object) */
static mim_result_t
mim_consumer_offer(mim_consumer_t *c, json_t **offer, int check_format)
{
    mim_result_t   rc;
    json_t        *catalog = NULL;
    const char    *dataset = NULL;

    *offer = NULL;

    rc = mim_consumer_catalog(c, &catalog);
    if (mim_ok(rc)) {
        rc = mim_consumer_pick_offer(catalog, c->dataset, c->offer, offer,
                                     &dataset);
    }

    if (mim_ok(rc) && check_format
        && !mim_consumer_has_format(catalog, dataset, c->format))
    {
        rc = mim_result_err(MIM_ERR_NOT_FOUND, "dataset %.200s has no "
                            "distribution in format %.100s", dataset,
                            c->format);
    }

    if (mim_ok(rc)) {
        mim_consumer_progress("offer: %s for dataset %s",
                              mim_consumer_str(*offer, "@id"), dataset);
    }

    json_decref(catalog);
    return rc;
}

static int
mim_consumer_cmd_negotiate(mim_consumer_t *c, const char *url)
{
    mim_consumer_neg_t   neg;
    mim_result_t         rc;
    json_t              *offer = NULL;
    int                  status;

    rc = mim_consumer_offer(c, &offer, 0);
    if (!mim_ok(rc)) {
        return mim_consumer_fail(rc);
    }

    rc = mim_consumer_negotiate(c, offer, &neg);
    json_decref(offer);

    if (!mim_ok(rc)) {
        status = mim_consumer_fail(rc);

    } else if (c->json) {
        status = mim_consumer_print_json(mim_consumer_neg_json(&neg));

    } else {
        mim_consumer_print("agreement",
                           mim_consumer_str(neg.agreement, "@id"));
        mim_consumer_print("negotiation", neg.provider_pid);
        mim_consumer_print("dataset",
                           mim_consumer_str(neg.agreement, "target"));
        status = MIM_EXIT_OK;
    }

    mim_consumer_neg_free(&neg);
    return status;
}

static int
mim_consumer_cmd_transfer(mim_consumer_t *c, const char *url)
{
    mim_consumer_tp_t   tp;
    mim_result_t        rc;
    int                 status;

    rc = mim_consumer_transfer(c, c->agreement, c->format, &tp);

    if (!mim_ok(rc)) {
        status = mim_consumer_fail(rc);

    } else if (c->json) {
        status = mim_consumer_print_json(mim_consumer_tp_json(&tp));

    } else {
        mim_consumer_print("transfer", tp.provider_pid);
        mim_consumer_print("endpoint", tp.endpoint);
        if (tp.token != NULL) {
            mim_consumer_print("token", tp.token);
        }
        status = MIM_EXIT_OK;
    }

    mim_consumer_tp_free(&tp);
    return status;
}

static int
mim_consumer_cmd_get(mim_consumer_t *c, const char *url)
{
    mim_result_t   rc;
    json_t        *result = NULL;

    rc = mim_consumer_fetch(c, url, c->token, c->json ? &result : NULL);

    if (result != NULL) {
        mim_consumer_print_json(result);
    }

    return mim_ok(rc) ? MIM_EXIT_OK : mim_consumer_fail(rc);
}

/* negotiation, transfer and GET, after the offer was picked */
static mim_result_t
mim_consumer_run_flow(mim_consumer_t *c, json_t *offer, json_t *out)
{
    mim_consumer_neg_t   neg;
    mim_consumer_tp_t    tp;
    mim_result_t         rc;
    json_t              *data = NULL;
    char                *url = NULL;

    memset(&tp, 0, sizeof(tp));

    rc = mim_consumer_negotiate(c, offer, &neg);
    if (mim_ok(rc)) {
        json_object_set_new(out, "negotiation", mim_consumer_neg_json(&neg));
        rc = mim_consumer_transfer(c, mim_consumer_str(neg.agreement, "@id"),
                                   c->format, &tp);
    }

    if (mim_ok(rc)) {
        json_object_set_new(out, "transfer", mim_consumer_tp_json(&tp));
        url = mim_consumer_data_url(tp.endpoint, c->path);
        rc = url ? mim_consumer_fetch(c, url, tp.token,
                                      c->json ? &data : NULL)
                 : mim_result_err(MIM_ERR_NOMEM, "out of memory");
        json_object_set_new(out, "data", data);
    }

    if (mim_ok(rc) && c->complete) {
        rc = mim_consumer_complete(c, &tp);
        json_object_set_new(out, "transfer", mim_consumer_tp_json(&tp));
    }

    free(url);
    mim_consumer_neg_free(&neg);
    mim_consumer_tp_free(&tp);
    return rc;
}

static int
mim_consumer_cmd_run(mim_consumer_t *c, const char *url)
{
    mim_result_t   rc;
    json_t        *offer = NULL, *out;

    out = json_object();
    if (out == NULL) {
        return mim_consumer_fail(mim_result_err(MIM_ERR_NOMEM,
                                                "out of memory"));
    }

    rc = mim_consumer_offer(c, &offer, 1);
    if (mim_ok(rc)) {
        json_object_set_new(out, "dataset", json_string(c->dataset));
        json_object_set(out, "offer", offer);
        rc = mim_consumer_run_flow(c, offer, out);
    }

    json_decref(offer);

    if (c->json && mim_ok(rc)) {
        return mim_consumer_print_json(out);
    }

    json_decref(out);
    return mim_ok(rc) ? MIM_EXIT_OK : mim_consumer_fail(rc);
}

/* ---- options ---- */

static int
mim_consumer_usage(int status)
{
    if (status == MIM_EXIT_OK) {
        fputs(mim_consumer_usage_text, stdout);
    } else {
        fprintf(stderr, "%.*s`mim consumer --help` says more.\n",
                (int) (strstr(mim_consumer_usage_text, "\n\n")
                       - mim_consumer_usage_text + 1),
                mim_consumer_usage_text);
    }

    return status;
}

static int
mim_consumer_set(mim_consumer_t *c, int opt, const char *arg)
{
    char  *end;

    switch (opt) {
    case OPT_CERT: c->cert = arg; break;
    case OPT_KEY: c->key = arg; break;
    case OPT_CA: c->ca = arg; break;
    case OPT_CLIENT_ID: c->client_id = arg; break;
    case OPT_PROVIDER_ID: c->provider_id = arg; break;
    case OPT_TOKEN_URL: c->token_url = arg; break;
    case OPT_TOKEN: c->token = arg; break;
    case OPT_LISTEN: c->listen = arg; break;
    case OPT_CALLBACK_URL: c->callback_url = arg; break;
    case OPT_JSON: c->json = 1; break;
    case OPT_OFFER: c->offer = arg; break;
    case OPT_DATASET: c->dataset = arg; break;
    case OPT_AGREEMENT: c->agreement = arg; break;
    case OPT_FORMAT: c->format = arg; break;
    case OPT_PURPOSE: c->purpose = arg; break;
    case OPT_PURPOSE_HEADER: c->purpose_header = arg; break;
    case OPT_PATH: c->path = arg; break;
    case OPT_OUTPUT: c->output = arg; break;
    case OPT_COMPLETE: c->complete = 1; break;

    case OPT_TIMEOUT:
        c->timeout = strtol(arg, &end, 10);
        if (*arg == '\0' || *end != '\0' || c->timeout < 1
            || c->timeout > 3600)
        {
            return mim_usage_error(MIM_CONSUMER_CMD, "--timeout %s: 1 to "
                                   "3600 seconds", arg);
        }
        break;
    }

    return 0;
}

/* what the options say together */
static int
mim_consumer_check_options(const mim_consumer_sub_t *sub, mim_consumer_t *c)
{
    const char  *h;

    if ((c->cert == NULL) != (c->key == NULL)) {
        return mim_usage_error(MIM_CONSUMER_CMD, "--cert and --key go "
                               "together");
    }

    if (sub->provider && c->token != NULL && c->cert != NULL) {
        return mim_usage_error(MIM_CONSUMER_CMD, "--token or --cert/--key, "
                               "not both");
    }

    if (c->cert != NULL && c->provider_id == NULL) {
        return mim_usage_error(MIM_CONSUMER_CMD, "--provider-id is required "
                               "with --cert: the provider's party id, the "
                               "aud of the client assertion");
    }

    if ((strcmp(sub->name, "negotiate") == 0 && c->offer == NULL)
        || (strcmp(sub->name, "transfer") == 0 && c->agreement == NULL)
        || (strcmp(sub->name, "run") == 0 && c->dataset == NULL))
    {
        return mim_usage_error(MIM_CONSUMER_CMD, "%s needs --%s", sub->name,
                               sub->name[0] == 'n' ? "offer"
                               : sub->name[0] == 't' ? "agreement"
                               : "dataset");
    }

    for (h = c->purpose_header; *h != '\0'; h++) {
        if (strchr(" \t\r\n:", *h) != NULL) {
            return mim_usage_error(MIM_CONSUMER_CMD, "--purpose-header: "
                                   "not a header name");
        }
    }

    if (c->purpose != NULL && strpbrk(c->purpose, "\r\n") != NULL) {
        return mim_usage_error(MIM_CONSUMER_CMD, "--purpose: a line break");
    }

    return 0;
}

/* options anywhere (GNU getopt permutes); *arg is the one operand */
static int
mim_consumer_parse_options(const mim_consumer_sub_t *sub, mim_consumer_t *c,
    int argc, char **argv, const char **arg)
{
    int  opt, rc;

    optind = 0;
    opterr = 0;

    while ((opt = getopt_long(argc, argv, "ho:", mim_consumer_options,
                              NULL)) != -1)
    {
        opt = opt == 'h' ? OPT_HELP : opt == 'o' ? OPT_OUTPUT : opt;

        if (opt == '?' || opt == ':') {
            return mim_usage_error(MIM_CONSUMER_CMD, "%s: unknown option or "
                                   "missing value: %s", sub->name,
                                   argv[optind - 1]);
        }

        if (opt == OPT_HELP) {
            return mim_consumer_usage(MIM_EXIT_OK) - 1;     /* -1: done */
        }

        if (!(sub->options & OPT(opt))) {
            return mim_usage_error(MIM_CONSUMER_CMD, "%s takes no --%s",
                                   sub->name,
                                   mim_consumer_options[opt].name);
        }

        rc = mim_consumer_set(c, opt, optarg);
        if (rc != 0) {
            return rc;
        }
    }

    if (argc - optind != 1) {
        return mim_usage_error(MIM_CONSUMER_CMD, "%s takes one %s", sub->name,
                               sub->provider ? "URL" : "ENDPOINT");
    }

    *arg = argv[optind];

    return mim_consumer_check_options(sub, c);
}

/* ---- the command ---- */

/* the provider's base, our token, the listener; then the subcommand */
static int
mim_consumer_start(const mim_consumer_sub_t *sub, mim_consumer_t *c,
    const char *url)
{
    mim_result_t  rc;

    rc = mim_dsp_schema_init();
    if (!mim_ok(rc)) {
        return mim_consumer_fail(mim_result_err(rc.code, "the DSP schemas: "
                                                "%s", rc.msg));
    }

    if (!sub->provider) {
        return sub->run(c, url);
    }

    rc = mim_consumer_discover(c, url);
    if (mim_ok(rc)) {
        rc = mim_consumer_authenticate(c);
    }
    if (mim_ok(rc) && sub->callbacks) {
        rc = mim_cb_start(&c->cb, c->listen, c->callback_url);
        if (mim_ok(rc)) {
            mim_consumer_progress("callbacks: listening, callbackAddress %s",
                                  mim_cb_url(c->cb));
        }
    }

    return mim_ok(rc) ? sub->run(c, url) : mim_consumer_fail(rc);
}

int
mim_cmd_consumer(int argc, char **argv)
{
    const mim_consumer_sub_t  *sub;
    mim_consumer_t             c;
    const char                *arg = NULL;
    int                        status;

    if (argc < 2) {
        return mim_consumer_usage(MIM_EXIT_USAGE);
    }

    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        return mim_consumer_usage(MIM_EXIT_OK);
    }

    for (sub = mim_consumer_subs; sub->name != NULL; sub++) {
        if (strcmp(sub->name, argv[1]) == 0) {
            break;
        }
    }

    if (sub->name == NULL) {
        return mim_usage_error(MIM_CONSUMER_CMD, "unknown subcommand '%s'",
                               argv[1]);
    }

    memset(&c, 0, sizeof(c));
    c.timeout = 30;
    c.listen = "127.0.0.1:0";
    c.format = MIM_DSP_PULL;
    c.purpose_header = "X-Data-Purpose";

    status = mim_consumer_parse_options(sub, &c, argc - 1, argv + 1, &arg);
    if (status != 0) {
        return status < 0 ? MIM_EXIT_OK : status;
    }

    c.http.tls_ca = c.ca;
    c.http.timeout = c.timeout;
    c.http.version = MIM_HTTP_1_1;

    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        mim_error(MIM_CONSUMER_CMD, "libcurl init failed");
        return MIM_EXIT_FAILED;
    }

    status = mim_consumer_start(sub, &c, arg);

    mim_cb_stop(c.cb);
    free(c.origin);
    free(c.base);
    free(c.bearer);
    free(c.party);
    curl_global_cleanup();
    return status;
}
