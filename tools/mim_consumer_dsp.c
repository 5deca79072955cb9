/*
 * mim_consumer_dsp.c - the consumer's side of the Dataspace Protocol
 * 2025-1, HTTPS binding: checking what we receive, HTTP exchanges,
 * version discovery and the catalog (mim_consumer_flow.c: negotiation and
 * transfer).
 *
 * Every message received - HTTP answers and their error bodies, and the
 * callbacks - goes through mim_consumer_check(): the official schema of
 * its type (mim_dsp_schema_validate), then the rules a consumer relies on
 * that the schemas leave open.  A failure after the provider knows the
 * process (we have its providerPid) is followed by our termination
 * message, so that nothing is left half-open on its side.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <curl/curl.h>

#include "mim_consumer.h"
#include "mim_dsp.h"
#include "mim_dsp_schema.h"
#include "mim_dsp_transfer.h"

#define MIM_STATE_IRI        "https://w3id.org/dspace/2025/1/"
#define MIM_WELL_KNOWN       "/.well-known/dspace-version"
#define MIM_VERSION_MAX      (1024UL * 1024)

static const char  *mim_consumer_states[] = {
    "REQUESTED", "OFFERED", "ACCEPTED", "AGREED", "VERIFIED", "FINALIZED",
    "TERMINATED", "STARTED", "SUSPENDED", "COMPLETED", NULL
};

/* ---- reading messages ---- */

const char *
mim_consumer_str(json_t *obj, const char *name)
{
    return json_string_value(json_object_get(obj, name));
}

/* a state or event name, compact or as its 2025-1 IRI -> the static
   name, NULL when it is none */
const char *
mim_consumer_state_name(const char *s)
{
    size_t  i, n = sizeof(MIM_STATE_IRI) - 1;

    if (s == NULL) {
        return NULL;
    }

    if (strncmp(s, MIM_STATE_IRI, n) == 0) {
        s += n;
    }

    for (i = 0; mim_consumer_states[i] != NULL; i++) {
        if (strcmp(s, mim_consumer_states[i]) == 0) {
            return mim_consumer_states[i];
        }
    }

    return NULL;
}

void
mim_consumer_reason(json_t *msg, char *out, size_t len)
{
    const char  *code = mim_consumer_str(msg, "code");
    json_t      *reasons = json_object_get(msg, "reason"), *r;
    size_t       i, used;
    char        *text;

    used = (size_t) snprintf(out, len, "%s%s", code ? "code " : "",
                             code ? code : "");

    json_array_foreach(reasons, i, r) {
        text = json_is_string(r) ? strdup(json_string_value(r))
                                 : json_dumps(r, JSON_COMPACT);
        if (text != NULL && used < len) {
            used += (size_t) snprintf(out + used, len - used, "%s%s",
                                      used ? "; " : "", text);
        }
        free(text);
    }

    if (out[0] == '\0') {
        snprintf(out, len, "no reason given");
    }

    mim_printable(out);
}

static mim_result_t
mim_consumer_pids_rule(json_t *msg)
{
    static const char  *names[] = { "providerPid", "consumerPid" };
    json_t             *v;
    size_t              i;

    for (i = 0; i < 2; i++) {
        v = json_object_get(msg, names[i]);
        if (v != NULL && json_string_length(v) == 0) {
            return mim_result_err(MIM_ERR_INVALID, "%s is empty", names[i]);
        }
    }

    return mim_result_ok();
}

/* the endpoint of a pull DataAddress: HTTP, a URL, bearer or no token */
static mim_result_t
mim_consumer_address_rule(json_t *addr)
{
    const char  *type, *url, *name, *value;
    json_t      *p;
    size_t       i;

    if (addr == NULL) {
        return mim_result_err(MIM_ERR_INVALID, "dataAddress: missing (an "
                              "HTTP pull transfer starts with one)");
    }

    type = mim_consumer_str(addr, "endpointType");
    url = mim_consumer_str(addr, "endpoint");

    if (type == NULL || strcmp(type, MIM_DSP_HTTP_ENDPOINT_TYPE) != 0) {
        return mim_result_err(MIM_ERR_UNSUPPORTED, "dataAddress.endpointType "
                              "%.100s is not %s", type ? type : "(none)",
                              MIM_DSP_HTTP_ENDPOINT_TYPE);
    }

    if (url == NULL || !mim_http_is_url(url)) {
        return mim_result_err(MIM_ERR_INVALID, "dataAddress.endpoint: "
                              "missing or not an http(s) URL");
    }

    json_array_foreach(json_object_get(addr, "endpointProperties"), i, p) {
        name = mim_consumer_str(p, "name");
        value = mim_consumer_str(p, "value");

        if (name && value && strcmp(name, "authType") == 0
            && strcasecmp(value, "bearer") != 0)
        {
            return mim_result_err(MIM_ERR_UNSUPPORTED, "dataAddress: "
                                  "authType %.40s is not bearer", value);
        }

        if (name && value && strcmp(name, "authorization") == 0
            && (value[0] == '\0' || strpbrk(value, " \t\r\n") != NULL))
        {
            return mim_result_err(MIM_ERR_INVALID, "dataAddress: the "
                                  "authorization is not a bearer token");
        }
    }

    return mim_result_ok();
}

mim_result_t
mim_consumer_msg_rules(const char *type, json_t *msg)
{
    mim_result_t   rc;
    const char    *v;

    rc = mim_consumer_pids_rule(msg);
    if (!mim_ok(rc)) {
        return rc;
    }

    if (strcmp(type, "ContractNegotiationEventMessage") == 0) {
        v = mim_consumer_state_name(mim_consumer_str(msg, "eventType"));
        if (v == NULL || strcmp(v, "FINALIZED") != 0) {
            return mim_result_err(MIM_ERR_INVALID, "eventType %s: a "
                                  "provider sends FINALIZED only",
                                  v ? v : "unknown");
        }

    } else if (strcmp(type, "TransferStartMessage") == 0) {
        return mim_consumer_address_rule(json_object_get(msg,
                                                         "dataAddress"));

    } else if (strcmp(type, "ContractAgreementMessage") == 0) {
        v = mim_consumer_str(json_object_get(msg, "agreement"), "@id");
        if (v == NULL || v[0] == '\0') {
            return mim_result_err(MIM_ERR_INVALID, "agreement.@id: missing");
        }

    } else if (strcmp(type, "ContractNegotiation") == 0
               || strcmp(type, "TransferProcess") == 0)
    {
        if (mim_consumer_state_name(mim_consumer_str(msg, "state"))
            == NULL)
        {
            return mim_result_err(MIM_ERR_INVALID, "state: unknown");
        }
    }

    return mim_result_ok();
}

mim_result_t
mim_consumer_check(const char *json, size_t len, const char *type,
    json_t **obj)
{
    json_error_t   err;
    mim_result_t   rc;
    const char    *t;
    json_t        *doc;

    *obj = NULL;

    doc = json_loadb(json, len, JSON_REJECT_DUPLICATES, &err);
    if (doc == NULL) {
        return mim_result_err(MIM_ERR_INVALID, "not JSON: %s", err.text);
    }

    if (!json_is_object(doc)) {
        json_decref(doc);
        return mim_result_err(MIM_ERR_INVALID, "not a JSON object");
    }

    *obj = doc;
    t = mim_consumer_str(doc, "@type");

    /* a VersionResponse has no @type */
    if (type != NULL && strcmp(type, "VersionResponse") != 0
        && (t == NULL || strcmp(t, type) != 0))
    {
        return mim_result_err(MIM_ERR_INVALID, "@type is %.80s, %s "
                              "expected", t ? t : "missing", type);
    }

    if (type == NULL && t == NULL) {
        return mim_result_err(MIM_ERR_INVALID, "no @type");
    }

    type = type ? type : t;

    rc = mim_dsp_schema_validate(json, len, type);
    if (!mim_ok(rc)) {
        return mim_result_err(rc.code, "invalid %.80s: %s", type, rc.msg);
    }

    rc = mim_consumer_msg_rules(type, doc);
    if (!mim_ok(rc)) {
        return mim_result_err(rc.code, "%.80s: %s", type, rc.msg);
    }

    return rc;
}

/* ---- HTTP exchanges ---- */

/* does the body look like a DSP message (a JSON object with @type)? */
static int
mim_consumer_is_dsp(const mim_http_response_t *resp)
{
    json_t  *obj;
    int      yes;

    obj = json_loadb((const char *) resp->body, resp->body_len, 0, NULL);
    yes = json_is_object(obj) && json_object_get(obj, "@type") != NULL;
    json_decref(obj);
    return yes;
}

/* the start of a body as one line of text (an HTML page, a JSON error) */
static void
mim_consumer_excerpt(char *out, size_t len, const mim_http_response_t *resp)
{
    const char  *p = (const char *) resp->body;
    size_t       i, n = 0;

    for (i = 0; i < resp->body_len && n + 1 < len; i++) {
        if (strchr(" \t\r\n", p[i]) != NULL) {
            if (n > 0 && out[n - 1] != ' ') {
                out[n++] = ' ';
            }
            continue;
        }
        out[n++] = p[i];
    }

    out[n] = '\0';
    mim_printable(out);
}

/* what went wrong, from an answer with another status than expected */
static mim_result_t
mim_consumer_http_error(const char *what, const mim_http_response_t *resp)
{
    mim_result_t   rc;
    json_t        *obj = NULL;
    char           reason[400], excerpt[201];

    if (mim_consumer_is_dsp(resp)) {
        rc = mim_consumer_check((const char *) resp->body, resp->body_len,
                                NULL, &obj);
        if (!mim_ok(rc)) {
            json_decref(obj);
            return mim_result_err(MIM_ERR_INVALID, "%s: HTTP %d with an "
                                  "invalid error message: %s", what,
                                  resp->status, rc.msg);
        }

        mim_consumer_reason(obj, reason, sizeof(reason));
        rc = mim_result_err(MIM_ERR_IO, "%s: HTTP %d %.60s: %s", what,
                            resp->status, mim_consumer_str(obj, "@type"),
                            reason);
        json_decref(obj);
        return rc;
    }

    mim_consumer_excerpt(excerpt, sizeof(excerpt), resp);

    return mim_result_err(MIM_ERR_IO, "%s: HTTP %d%s%s", what, resp->status,
                          excerpt[0] ? ": " : "", excerpt);
}

static mim_result_t
mim_consumer_answer(const char *what, const mim_http_response_t *resp,
    int expect, const char *type, json_t **answer)
{
    mim_result_t   rc;
    json_t        *obj = NULL;

    *answer = NULL;

    if (resp->status != expect) {
        return mim_consumer_http_error(what, resp);
    }

    if (type == NULL && !mim_consumer_is_dsp(resp)) {
        return mim_result_ok();
    }

    rc = mim_consumer_check((const char *) resp->body, resp->body_len, type,
                            &obj);
    if (!mim_ok(rc)) {
        json_decref(obj);
        return mim_result_err(rc.code, "%s: HTTP %d, the answer is not "
                              "valid: %s", what, resp->status, rc.msg);
    }

    *answer = obj;
    return rc;
}

mim_result_t
mim_consumer_post(mim_consumer_t *c, const char *what, const char *url,
    json_t *msg, int expect, const char *type, json_t **answer)
{
    mim_http_response_t   resp;
    mim_result_t          rc;
    char                 *body;

    *answer = NULL;

    body = json_dumps(msg, JSON_COMPACT | JSON_PRESERVE_ORDER);
    if (body == NULL) {
        return mim_result_err(MIM_ERR_NOMEM, "out of memory");
    }

    rc = mim_consumer_http(&c->http, "POST", url, c->bearer,
                           "application/json", body, strlen(body), NULL, 0,
                           MIM_CONSUMER_MSG_MAX, &resp);
    free(body);

    if (!mim_ok(rc)) {
        return mim_result_err(rc.code, "%s: %s", what, rc.msg);
    }

    rc = mim_consumer_answer(what, &resp, expect, type, answer);
    mim_http_response_free(&resp);
    return rc;
}

/* a pid as one path segment: what a segment may hold, the rest escaped */
static char *
mim_consumer_segment(const char *pid)
{
    static const char   hex[] = "0123456789ABCDEF";
    unsigned char       ch;
    char               *out, *p;

    out = malloc(strlen(pid) * 3 + 1);
    if (out == NULL) {
        return NULL;
    }

    for (p = out; *pid != '\0'; pid++) {
        ch = (unsigned char) *pid;
        if ((ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z')
            || (ch >= '0' && ch <= '9') || strchr("-._~:@!$&'()*+,;=", ch))
        {
            *p++ = (char) ch;
        } else {
            *p++ = '%';
            *p++ = hex[ch >> 4];
            *p++ = hex[ch & 0x0f];
        }
    }

    *p = '\0';
    return out;
}

/* <base>/<kind>/<pid><tail> */
char *
mim_consumer_pid_url(mim_consumer_t *c, const char *kind, const char *pid,
    const char *tail)
{
    char  *seg, *url;

    seg = mim_consumer_segment(pid);
    url = seg ? mim_sprintf("%s/%s/%s%s", c->base, kind, seg, tail) : NULL;
    free(seg);
    return url;
}

/* a new message with the 2025-1 @context and @type */
json_t *
mim_consumer_message(const char *type)
{
    return json_pack("{s:[s], s:s}", "@context", MIM_DSP_CONTEXT,
                     "@type", type);
}

/* ---- discovery ---- */

static mim_result_t
mim_consumer_split_url(const char *url, char **origin, char **path)
{
    CURLU         *u = curl_url();
    CURLUcode      code = CURLUE_OUT_OF_MEMORY;
    mim_result_t   rc = mim_result_ok();
    char          *scheme = NULL, *host = NULL, *port = NULL, *p = NULL;
    char          *query = NULL;
    size_t         n;

    if (u != NULL) {
        code = curl_url_set(u, CURLUPART_URL, url, 0);
    }
    if (code == CURLUE_OK) {
        code = curl_url_get(u, CURLUPART_SCHEME, &scheme, 0);
    }
    if (code == CURLUE_OK) {
        code = curl_url_get(u, CURLUPART_HOST, &host, 0);
    }
    if (code == CURLUE_OK) {
        code = curl_url_get(u, CURLUPART_PATH, &p, 0);
    }
    if (code == CURLUE_OK) {
        curl_url_get(u, CURLUPART_PORT, &port, 0);
        curl_url_get(u, CURLUPART_QUERY, &query, 0);
    }

    if (code != CURLUE_OK || !mim_http_is_url(url) || query != NULL) {
        rc = mim_result_err(MIM_ERR_INVALID, "%.200s: not an http(s) URL "
                            "without query", url);
    } else {
        *origin = mim_sprintf("%s://%s%s%s", scheme, host, port ? ":" : "",
                              port ? port : "");
        n = strlen(p);
        while (n > 0 && p[n - 1] == '/') {
            n--;
        }
        *path = strndup(p, n);
        if (*origin == NULL || *path == NULL) {
            rc = mim_result_err(MIM_ERR_NOMEM, "out of memory");
        }
    }

    curl_free(scheme);
    curl_free(host);
    curl_free(port);
    curl_free(p);
    curl_free(query);
    curl_url_cleanup(u);
    return rc;
}

/* the first 2025-1 HTTPS entry of a VersionResponse -> c->base */
static mim_result_t
mim_consumer_version_entry(mim_consumer_t *c, json_t *doc)
{
    const char  *version, *binding, *path;
    json_t      *entry;
    size_t       i, n;

    json_array_foreach(json_object_get(doc, "protocolVersions"), i, entry) {
        version = mim_consumer_str(entry, "version");
        binding = mim_consumer_str(entry, "binding");
        path = mim_consumer_str(entry, "path");

        if (version == NULL || strcmp(version, MIM_DSP_VERSION) != 0
            || binding == NULL || strcmp(binding, "HTTPS") != 0
            || path == NULL || path[0] != '/')
        {
            continue;
        }

        n = strlen(path);
        while (n > 0 && path[n - 1] == '/') {
            n--;
        }

        c->base = mim_sprintf("%s%.*s", c->origin, (int) n, path);
        return c->base ? mim_result_ok()
                       : mim_result_err(MIM_ERR_NOMEM, "out of memory");
    }

    return mim_result_err(MIM_ERR_UNSUPPORTED, "the provider offers no DSP "
                          "%s HTTPS binding (protocolVersions)",
                          MIM_DSP_VERSION);
}

static mim_result_t
mim_consumer_version(mim_consumer_t *c, const char *url)
{
    mim_http_response_t   resp;
    mim_result_t          rc;
    json_t               *doc = NULL;

    rc = mim_consumer_http(&c->http, "GET", url, NULL, NULL, NULL, 0, NULL,
                           0, MIM_VERSION_MAX, &resp);
    if (!mim_ok(rc)) {
        return mim_result_err(rc.code, "version: %s", rc.msg);
    }

    rc = mim_consumer_answer("version", &resp, 200, "VersionResponse", &doc);
    mim_http_response_free(&resp);

    if (mim_ok(rc)) {
        rc = mim_consumer_version_entry(c, doc);
    }

    json_decref(doc);
    return rc;
}

mim_result_t
mim_consumer_discover(mim_consumer_t *c, const char *url)
{
    mim_result_t   rc;
    char          *path = NULL, *wk;
    size_t         n = sizeof(MIM_WELL_KNOWN) - 1;

    rc = mim_consumer_split_url(url, &c->origin, &path);
    if (!mim_ok(rc)) {
        return rc;
    }

    /* a path that is not the well-known one: the DSP base itself */
    if (path[0] != '\0'
        && (strncmp(path, MIM_WELL_KNOWN, n) != 0
            || (path[n] != '\0' && path[n] != '/')))
    {
        c->base = mim_sprintf("%s%s", c->origin, path);
        free(path);
        return c->base ? mim_result_ok()
                       : mim_result_err(MIM_ERR_NOMEM, "out of memory");
    }

    wk = mim_sprintf("%s%s", c->origin, path[0] ? path : MIM_WELL_KNOWN);
    free(path);
    if (wk == NULL) {
        return mim_result_err(MIM_ERR_NOMEM, "out of memory");
    }

    rc = mim_consumer_version(c, wk);
    if (mim_ok(rc)) {
        mim_consumer_progress("version: DSP %s at %s", MIM_DSP_VERSION,
                              c->base);
    }

    free(wk);
    return rc;
}

/* ---- the catalog ---- */

static void
mim_consumer_add_datasets(json_t *cat, json_t *out, int depth)
{
    json_t  *v;
    size_t   i;

    json_array_foreach(json_object_get(cat, "dataset"), i, v) {
        json_array_append(out, v);
    }

    if (depth < 8) {
        json_array_foreach(json_object_get(cat, "catalog"), i, v) {
            mim_consumer_add_datasets(v, out, depth + 1);
        }
    }
}

json_t *
mim_consumer_datasets(json_t *catalog)
{
    json_t  *out = json_array();

    if (out != NULL) {
        mim_consumer_add_datasets(catalog, out, 0);
    }

    return out;
}

mim_result_t
mim_consumer_catalog(mim_consumer_t *c, json_t **catalog)
{
    mim_result_t   rc;
    json_t        *msg, *all;
    char          *url;
    size_t         n;

    msg = mim_consumer_message("CatalogRequestMessage");
    url = mim_sprintf("%s/catalog/request", c->base);

    rc = (msg && url) ? mim_consumer_post(c, "catalog", url, msg, 200,
                                          "Catalog", catalog)
                      : mim_result_err(MIM_ERR_NOMEM, "out of memory");
    json_decref(msg);
    free(url);

    if (mim_ok(rc)) {
        all = mim_consumer_datasets(*catalog);
        n = json_array_size(all);
        json_decref(all);
        mim_consumer_progress("catalog: %zu dataset%s from %s", n,
                              n == 1 ? "" : "s",
                              mim_consumer_str(*catalog, "participantId"));
    }

    return rc;
}

static json_t *
mim_consumer_find_dataset(json_t *all, const char *id)
{
    json_t  *ds;
    size_t   i;

    json_array_foreach(all, i, ds) {
        if (id == NULL || (mim_consumer_str(ds, "@id")
                           && strcmp(mim_consumer_str(ds, "@id"), id) == 0))
        {
            return ds;
        }
    }

    return NULL;
}

/* the offer with id in ds (the first when id is NULL) */
static json_t *
mim_consumer_find_offer(json_t *ds, const char *id)
{
    json_t  *o;
    size_t   i;

    json_array_foreach(json_object_get(ds, "hasPolicy"), i, o) {
        if (id == NULL || (mim_consumer_str(o, "@id")
                           && strcmp(mim_consumer_str(o, "@id"), id) == 0))
        {
            return o;
        }
    }

    return NULL;
}

/* the one dataset offering offer_id */
static mim_result_t
mim_consumer_dataset_of(json_t *all, const char *offer_id, json_t **found)
{
    json_t  *ds;
    size_t   i;

    *found = NULL;

    json_array_foreach(all, i, ds) {
        if (mim_consumer_find_offer(ds, offer_id) == NULL) {
            continue;
        }
        if (*found != NULL) {
            return mim_result_err(MIM_ERR_INVALID, "offer %.200s is made "
                                  "for several datasets: give --dataset",
                                  offer_id);
        }
        *found = ds;
    }

    return *found ? mim_result_ok()
                  : mim_result_err(MIM_ERR_NOT_FOUND, "offer %.200s is not "
                                   "in the catalog", offer_id);
}

mim_result_t
mim_consumer_pick_offer(json_t *catalog, const char *dataset_id,
    const char *offer_id, json_t **offer, const char **dataset)
{
    mim_result_t   rc = mim_result_ok();
    json_t        *all, *ds = NULL, *o = NULL;

    *offer = NULL;
    all = mim_consumer_datasets(catalog);

    if (dataset_id != NULL) {
        ds = mim_consumer_find_dataset(all, dataset_id);
        if (ds == NULL) {
            rc = mim_result_err(MIM_ERR_NOT_FOUND, "dataset %.200s is not "
                                "in the catalog", dataset_id);
        }
    } else {
        rc = mim_consumer_dataset_of(all, offer_id, &ds);
    }

    if (mim_ok(rc)) {
        o = mim_consumer_find_offer(ds, offer_id);
        if (o == NULL) {
            rc = mim_result_err(MIM_ERR_NOT_FOUND, "dataset %.200s has %s",
                                mim_consumer_str(ds, "@id"),
                                offer_id ? "no such offer" : "no offer");
        }
    }

    if (mim_ok(rc)) {
        /* in a request the offer names its target (the catalog's do not) */
        *offer = json_deep_copy(o);
        *dataset = mim_consumer_str(ds, "@id");
        if (*offer == NULL
            || json_object_set_new(*offer, "@type", json_string("Offer"))
            || json_object_set_new(*offer, "target", json_string(*dataset)))
        {
            rc = mim_result_err(MIM_ERR_NOMEM, "out of memory");
        }
    }

    json_decref(all);
    return rc;
}

int
mim_consumer_has_format(json_t *catalog, const char *dataset_id,
    const char *format)
{
    json_t  *all, *ds, *d;
    size_t   i;
    int      found = 0;

    all = mim_consumer_datasets(catalog);
    ds = mim_consumer_find_dataset(all, dataset_id);

    json_array_foreach(json_object_get(ds, "distribution"), i, d) {
        if (mim_consumer_str(d, "format")
            && strcmp(mim_consumer_str(d, "format"), format) == 0)
        {
            found = 1;
        }
    }

    json_decref(all);
    return found;
}
