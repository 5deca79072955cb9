/*
 * mim_consumer.h - `mim consumer`, a Dataspace Protocol 2025-1 consumer
 * (docs/consumer.md): the parts shared by its files.
 *
 *   mim_consumer.c          options, the subcommands, what they print
 *   mim_consumer_dsp.c      checking what we receive, HTTP exchanges with
 *                           the provider, discovery, the catalog
 *   mim_consumer_flow.c     negotiation and transfer
 *   mim_consumer_auth.c     the iSHARE access token (client assertion)
 *   mim_consumer_http.c     POST with a body (mim_http only GETs)
 *   mim_consumer_cb.c       the callback listener
 *
 * Nothing here is specific to the gateway: the wire is the DSP 2025-1
 * HTTPS binding with bearer authorization.
 */
#ifndef MIM_CONSUMER_H
#define MIM_CONSUMER_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "mim.h"

#define MIM_CONSUMER_CMD       "consumer"

/* the largest DSP message (answer or callback) we read */
#define MIM_CONSUMER_MSG_MAX   (4UL * 1024 * 1024)

/* nesting depth of a message we accept; DSP messages are shallow */
#define MIM_CONSUMER_DEPTH_MAX  32

typedef struct mim_cb_s  mim_cb_t;

typedef struct {
    /* common options */
    const char          *cert;          /* PEM chain, leaf first */
    const char          *key;
    const char          *ca;            /* TLS trust anchors */
    const char          *client_id;
    const char          *provider_id;   /* aud of the client assertion */
    const char          *token_url;
    const char          *token;         /* --token: no iSHARE */
    const char          *listen;        /* HOST:PORT */
    const char          *callback_url;
    long                 timeout;       /* seconds, each wait */
    int                  json;

    /* subcommand options */
    const char          *offer;
    const char          *dataset;
    const char          *agreement;
    const char          *format;
    const char          *purpose;
    const char          *purpose_header;
    const char          *path;          /* run: appended to the endpoint */
    const char          *output;        /* get: -o FILE */
    int                  complete;      /* run: complete the transfer */

    /* what the run found out */
    mim_http_options_t   http;
    char                *origin;        /* scheme://host[:port] */
    char                *base;          /* the DSP base, no final '/' */
    char                *bearer;        /* access token, NULL: none */
    char                *party;         /* our party id, when known */
    mim_cb_t            *cb;
} mim_consumer_t;

/* a negotiation as the consumer sees it */
typedef struct {
    char                *provider_pid;
    char                *consumer_pid;
    const char          *state;         /* a static state name */
    char                 states[160];   /* "REQUESTED -> AGREED -> ..." */
    json_t              *agreement;     /* the Agreement, once AGREED */
} mim_consumer_neg_t;

/* a transfer process as the consumer sees it */
typedef struct {
    char                *provider_pid;
    char                *consumer_pid;
    const char          *state;
    json_t              *data_address;
    const char          *endpoint;      /* in data_address */
    const char          *token;         /* in data_address, or NULL */
} mim_consumer_tp_t;

/* ---- output ---- */

/* a progress line on stderr; network text made printable */
void mim_consumer_progress(const char *fmt, ...)
    __attribute__((format(printf, 1, 2)));

/* ---- the provider (mim_consumer_dsp.c) ---- */

/* find the DSP base from URL (a root with /.well-known/dspace-version, or
   the base itself); sets c->origin and c->base */
mim_result_t mim_consumer_discover(mim_consumer_t *c, const char *url);

/* POST CatalogRequestMessage; *catalog is the valid Catalog */
mim_result_t mim_consumer_catalog(mim_consumer_t *c, json_t **catalog);

/* the datasets of a catalog (nested catalogs too), into an array */
json_t *mim_consumer_datasets(json_t *catalog);

/*
 * The Offer to request: offer_id in dataset_id (either may be NULL: the
 * first offer of the dataset, the one dataset holding offer_id).  *offer
 * is a new object with @type Offer and target = the dataset.
 */
mim_result_t mim_consumer_pick_offer(json_t *catalog, const char *dataset_id,
    const char *offer_id, json_t **offer, const char **dataset);

/* does the dataset have a distribution in format? */
int mim_consumer_has_format(json_t *catalog, const char *dataset_id,
    const char *format);

/* negotiate offer up to FINALIZED; neg is filled as far as it got */
mim_result_t mim_consumer_negotiate(mim_consumer_t *c, json_t *offer,
    mim_consumer_neg_t *neg);

/* request a transfer of agreement_id up to STARTED */
mim_result_t mim_consumer_transfer(mim_consumer_t *c,
    const char *agreement_id, const char *format, mim_consumer_tp_t *tp);

/* TransferCompletionMessage for a STARTED transfer */
mim_result_t mim_consumer_complete(mim_consumer_t *c, mim_consumer_tp_t *tp);

void mim_consumer_neg_free(mim_consumer_neg_t *neg);
void mim_consumer_tp_free(mim_consumer_tp_t *tp);

/*
 * Check a received DSP message: a JSON object without duplicate members,
 * its @type type_name (NULL: any), valid against the 2025-1 schema of
 * that type (mim_dsp_schema_validate), and the rules a consumer relies on
 * beyond the schemas (mim_consumer_msg_rules).  *obj is the parsed
 * message whenever it is a JSON object, valid or not (NULL else).
 */
mim_result_t mim_consumer_check(const char *json, size_t len,
    const char *type_name, json_t **obj);

/* what a consumer needs beyond the schema: a provider's event is
   FINALIZED, a pull TransferStartMessage has a usable dataAddress, ... */
mim_result_t mim_consumer_msg_rules(const char *type_name, json_t *msg);

/*
 * POST msg to url with our bearer token; the answer must have status
 * expect and be a valid message of type (*answer); type NULL: any body,
 * but one that is a DSP message must be valid.  Other statuses are
 * failures that quote the provider's error message.
 */
mim_result_t mim_consumer_post(mim_consumer_t *c, const char *what,
    const char *url, json_t *msg, int expect, const char *type,
    json_t **answer);

/* <base>/<kind>/<pid as a path segment><tail> */
char *mim_consumer_pid_url(mim_consumer_t *c, const char *kind,
    const char *pid, const char *tail);

/* a new message with the 2025-1 @context and @type */
json_t *mim_consumer_message(const char *type);

/* a state or event, compact or as its IRI -> a static name, or NULL */
const char *mim_consumer_state_name(const char *s);

/* a string member, or NULL */
const char *mim_consumer_str(json_t *obj, const char *name);

/* "code X: reason; reason" of a termination or error message */
void mim_consumer_reason(json_t *msg, char *out, size_t len);

/* ---- the access token (mim_consumer_auth.c) ---- */

/* --token, or an iSHARE token with --cert/--key; sets c->bearer (NULL
   when neither: no authorization) and c->party */
mim_result_t mim_consumer_authenticate(mim_consumer_t *c);

/* our party id from the certificate, for --client-id's default */
mim_result_t mim_consumer_party_of(const char *cert, char **party);

/* ---- HTTP (mim_consumer_http.c) ---- */

/*
 * Send method (POST, GET) to url with an optional body of content_type,
 * the bearer token when not NULL and extra "Name: value" headers; resp as
 * mim_http_fetch() makes it.
 */
mim_result_t mim_consumer_http(const mim_http_options_t *opts,
    const char *method, const char *url, const char *bearer,
    const char *content_type, const char *body, size_t body_len,
    const char *const *extra, size_t n_extra, size_t max_body,
    mim_http_response_t *resp);

/* the Content-Type of a response (media type only), or "" */
void mim_consumer_media_type(const mim_http_response_t *resp, char *out,
    size_t len);

/* ---- the callback listener (mim_consumer_cb.c) ---- */

typedef enum {
    MIM_CB_NEGOTIATION = 0,
    MIM_CB_TRANSFER
} mim_cb_kind_t;

/* one message POSTed to us, valid or not */
typedef struct mim_cb_msg_s  mim_cb_msg_t;

struct mim_cb_msg_s {
    mim_cb_kind_t        kind;
    char                *pid;           /* consumerPid, from the path */
    const char          *what;          /* "agreement", "start", ... */
    const char          *type;          /* the @type that path takes */
    json_t              *json;          /* the body, when valid */
    char                *error;         /* why it was refused, or NULL */
    mim_cb_msg_t        *next;
};

/*
 * Listen on listen ("HOST:PORT", port 0: any) and serve callbacks in a
 * thread; public_url (NULL: http://HOST:PORT) is the callbackAddress we
 * give providers; its path is where the listener expects them.
 */
mim_result_t mim_cb_start(mim_cb_t **cb, const char *listen,
    const char *public_url);

/* the callbackAddress */
const char *mim_cb_url(const mim_cb_t *cb);

/* accept callbacks for this consumerPid from now on */
mim_result_t mim_cb_expect(mim_cb_t *cb, mim_cb_kind_t kind,
    const char *pid);

/* the provider's pid for it: later callbacks must name it (400 else) */
mim_result_t mim_cb_bind(mim_cb_t *cb, mim_cb_kind_t kind, const char *pid,
    const char *provider_pid);

/* the next message for (kind, pid), waiting up to timeout_ms; NULL on
   timeout.  A message is handed over once our answer to it was sent. */
mim_cb_msg_t *mim_cb_wait(mim_cb_t *cb, mim_cb_kind_t kind, const char *pid,
    long timeout_ms);

void mim_cb_msg_free(mim_cb_msg_t *m);

/* stop listening (answers being written get a moment to go out) */
void mim_cb_stop(mim_cb_t *cb);

#endif /* MIM_CONSUMER_H */
