/*
 * mim_dsp.h - Dataspace Protocol 2025-1 provider core (pure C, no nginx).
 *
 * What the nginx glue (ngx_mim_module/ngx_http_mim_dsp_module.c) needs to
 * serve the catalog and the contract negotiation of DSP 2025-1 (HTTPS
 * binding) as the provider:
 *
 *   - mim_dsp_msg_parse(): read and validate an inbound message (the
 *     rules of the official JSON Schemas in shared/spec/dsp-2025-1 that
 *     apply to what a consumer sends us);
 *   - the catalog: loaded once from the file of `mim_dsp_catalog`, served
 *     as a Catalog or a Dataset, and the judge of a requested offer;
 *   - the negotiation record (what is stored in Redis as mim:neg:<pid>)
 *     and its state machine;
 *   - builders of every message and error we send.
 *
 * Every function returns a mim_result_t; text it hands out is malloc()ed,
 * NUL-terminated, and freed by the caller with free().  JSON is handled
 * with jansson inside the core; no jansson type crosses this header.
 *
 * Terms are the compact 2025-1 ones ("ContractRequestMessage",
 * "REQUESTED"); inbound state and event values are also accepted in their
 * full IRI form ("https://w3id.org/dspace/2025/1/FINALIZED").
 */
#ifndef MIM_DSP_H
#define MIM_DSP_H

#include <stddef.h>
#include <stdint.h>

#include "mim_result.h"
#include "mim_policy.h"

#define MIM_DSP_CONTEXT   "https://w3id.org/dspace/2025/1/context.jsonld"
#define MIM_DSP_VERSION   "2025-1"
#define MIM_DSP_PULL      "HttpData-PULL"

/* "urn:uuid:" + 36 + NUL */
#define MIM_DSP_UUID_LEN  46


/* ---- inbound messages ------------------------------------------------ */

typedef enum {
    MIM_DSP_MSG_NONE = 0,
    MIM_DSP_MSG_CATALOG_REQUEST,          /* CatalogRequestMessage */
    MIM_DSP_MSG_CONTRACT_REQUEST,         /* ContractRequestMessage */
    MIM_DSP_MSG_AGREEMENT_VERIFICATION,   /* ContractAgreementVerification-
                                             Message */
    MIM_DSP_MSG_NEGOTIATION_EVENT,        /* ContractNegotiationEventMessage */
    MIM_DSP_MSG_NEGOTIATION_TERMINATION   /* ContractNegotiationTermination-
                                             Message */
} mim_dsp_msg_type_t;

typedef enum {
    MIM_DSP_EVENT_NONE = 0,
    MIM_DSP_EVENT_ACCEPTED,
    MIM_DSP_EVENT_FINALIZED
} mim_dsp_event_t;

typedef struct {
    mim_dsp_msg_type_t  type;
    char               *consumer_pid;      /* NULL when absent */
    char               *provider_pid;
    char               *callback_address;
    char               *offer_id;          /* offer.@id */
    char               *offer_target;      /* offer.target, or NULL */
    char               *offer_json;        /* the offer object, compact */
    mim_dsp_event_t     event;             /* NEGOTIATION_EVENT */
    char               *code;              /* termination: code, or NULL */
    char               *reason_json;       /* termination: reason array,
                                              compact JSON, or NULL */
    int                 has_filter;        /* catalog request: a non-empty
                                              "filter" */
} mim_dsp_msg_t;

/*
 * Parse json (len bytes, not necessarily NUL-terminated) as a message of
 * type expected.  Checks: a JSON object; "@context" an array (or, as peers
 * send, a string) holding MIM_DSP_CONTEXT; "@type" exactly the expected
 * compact term; every required member present and of its schema type
 * (strings non-empty); ContractRequestMessage has exactly one of
 * callbackAddress / providerPid and an offer object with an "@id" string;
 * eventType ACCEPTED or FINALIZED; reason, when present, a non-empty
 * array.  Unknown extra members are accepted (JSON-LD), as real peers send
 * them.  On error the message says which member and why
 * ("offer.@id: missing"), for the ContractNegotiationError reason; msg
 * holds whatever was read (free it anyway).
 */
mim_result_t mim_dsp_msg_parse(mim_dsp_msg_t *msg, mim_dsp_msg_type_t expected,
    const char *json, size_t len);

void mim_dsp_msg_free(mim_dsp_msg_t *msg);

/* the compact @type of a message type ("ContractRequestMessage") */
const char *mim_dsp_msg_type_name(mim_dsp_msg_type_t type);


/* ---- the catalog ------------------------------------------------------ */

/*
 * The catalog file (`mim_dsp_catalog FILE;`, docs/dsp.md) is JSON:
 *
 *   {
 *     "@id": "urn:mim:catalog:city",            optional (a urn:uuid is
 *                                               derived from the file)
 *     "title": "Open data of the city",         optional, copied
 *     "description": "...",                     optional, copied
 *     "datasets": [
 *       {
 *         "@id": "urn:mim:dataset:parking",     required, unique
 *         "title": "...", "description": "...", "keyword": [...]
 *                                               optional, copied
 *         "endpoint": "/ngsi-ld/v1/entities?type=ParkingSpot",
 *                                               required: where this
 *                                               gateway serves the data
 *                                               (path or absolute URL)
 *         "formats": ["HttpData-PULL"],         optional, that default
 *         "offers": [                           required, >= 1
 *           { "@id": "urn:mim:offer:parking-open",
 *             "permission": [ ... ] },          an ODRL Offer inline, or
 *           "../policies/read-only.jsonld"      a file (relative to the
 *                                               catalog file) holding one
 *         ]
 *       }
 *     ]
 *   }
 *
 * Offer @ids are unique across the catalog; an offer must compile with
 * the ODRL engine (its warnings are kept, see mim_dsp_catalog_warning).
 * An offer's own "target", when present, must be its dataset's @id.
 *
 * Added with the implementation: offers must also follow the DSP 2025-1
 * schema (mim_dsp_msg_parse checks the same rules in requests: "action"
 * a string, operators of the schema's list, "rightOperand" a string,
 * object or array, never a number) and have no "@context" but the DSP or
 * ODRL one, since they are served inside the catalog.  Unknown members
 * are refused (a typo is an error).  title, description and keyword are
 * served as dct:title, dct:description and dcat:keyword (the 2025-1
 * context has no bare terms for them); the DataService's @id is the
 * catalog's @id + "#service".
 */
typedef struct mim_dsp_catalog_s  mim_dsp_catalog_t;
typedef struct mim_dsp_offer_s    mim_dsp_offer_t;

mim_result_t mim_dsp_catalog_load(mim_dsp_catalog_t **catalog,
    const char *path);

/* as above from text; base_dir resolves offer files (NULL: none allowed) */
mim_result_t mim_dsp_catalog_parse(mim_dsp_catalog_t **catalog,
    const char *json, size_t len, const char *base_dir);

void mim_dsp_catalog_free(mim_dsp_catalog_t *catalog);

size_t mim_dsp_catalog_dataset_count(const mim_dsp_catalog_t *catalog);
size_t mim_dsp_catalog_warning_count(const mim_dsp_catalog_t *catalog);
const char *mim_dsp_catalog_warning(const mim_dsp_catalog_t *catalog,
    size_t i);

/*
 * The Catalog (2025-1: @context, @id, @type Catalog, participantId, one
 * DataService whose endpointURL is dsp_url, dataset[] with hasPolicy
 * Offers without target and distribution[] with format and accessService
 * = the DataService's @id).
 */
mim_result_t mim_dsp_catalog_json(const mim_dsp_catalog_t *catalog,
    const char *participant_id, const char *dsp_url, char **out,
    size_t *len);

/* one Dataset with @context (GET catalog/datasets/:id): MIM_ERR_NOT_FOUND
   when the catalog has no such dataset */
mim_result_t mim_dsp_dataset_json(const mim_dsp_catalog_t *catalog,
    const char *dataset_id, const char *dsp_url, char **out, size_t *len);

/* a dataset's data endpoint (as configured) and whether it offers format */
const char *mim_dsp_dataset_endpoint(const mim_dsp_catalog_t *catalog,
    const char *dataset_id);
int mim_dsp_dataset_has_format(const mim_dsp_catalog_t *catalog,
    const char *dataset_id, const char *format);

typedef enum {
    MIM_DSP_OFFER_OURS = 0,     /* our offer, same rules */
    MIM_DSP_OFFER_COUNTER,      /* our offer @id, other rules */
    MIM_DSP_OFFER_UNKNOWN       /* no such offer for that target */
} mim_dsp_offer_match_t;

/*
 * Judge the offer of a ContractRequestMessage (msg->offer_json): its
 * @id must be an offer of the dataset its target names (the target is
 * required), and its rules (permission, prohibition, obligation; compared
 * as JSON values, member order free, ignoring @id, @type, target,
 * assigner and assignee at the offer level and an empty "constraint": [])
 * identical to ours.  *offer is ours when the @id is known.  The reason
 * explains COUNTER and UNKNOWN ("offer urn:x is not offered for dataset
 * urn:y").
 *
 * Added with the implementation, the results: OURS is MIM_OK; COUNTER
 * is MIM_ERR_MISMATCH with *offer set (the offer countered); UNKNOWN is
 * MIM_ERR_NOT_FOUND (no such dataset, or no such offer for it: *offer
 * NULL), or MIM_ERR_INVALID when the offer has no target.
 */
mim_result_t mim_dsp_catalog_match(const mim_dsp_catalog_t *catalog,
    const mim_dsp_msg_t *msg, const mim_dsp_offer_t **offer,
    mim_dsp_offer_match_t *match);

/* our offer with that @id (an operator's decision), or NULL */
const mim_dsp_offer_t *mim_dsp_catalog_offer(const mim_dsp_catalog_t *catalog,
    const char *offer_id);

const char *mim_dsp_offer_id(const mim_dsp_offer_t *offer);
const char *mim_dsp_offer_dataset(const mim_dsp_offer_t *offer);

/* the offer compiled by the ODRL engine (target = its dataset) */
const mim_policy_t *mim_dsp_offer_policy(const mim_dsp_offer_t *offer);

/*
 * Decide at negotiation time whether the consumer may have this offer:
 * its permissions and prohibitions evaluated by the ODRL engine for any
 * action, with assignee = consumer, the caller's claims and dateTime =
 * now; constraints only decidable at use (count, elapsedTime, purpose,
 * ...) are left to the data plane (mim_policy_request_t.negotiation).
 * *permitted is 1 or 0; reasons (a JSON array of strings, cap >= 64)
 * explain a refusal.
 */
mim_result_t mim_dsp_offer_check(const mim_dsp_offer_t *offer,
    const char *consumer, const mim_claim_t *claims, size_t claims_n,
    int64_t now, int *permitted, char *reasons, size_t cap);

/*
 * The Agreement for offer: @id agreement_id, @type Agreement, target =
 * the dataset, assigner, assignee, timestamp (xsd:dateTime, UTC, seconds)
 * and the offer's permission / prohibition / obligation copied as they
 * are.  The JSON object alone (no @context): it goes inside the
 * ContractAgreementMessage and is what the data plane enforces.
 */
mim_result_t mim_dsp_agreement_json(const mim_dsp_offer_t *offer,
    const char *agreement_id, const char *assigner, const char *assignee,
    int64_t timestamp, char **out, size_t *len);


/* ---- negotiations ------------------------------------------------------ */

typedef enum {
    MIM_DSP_NEG_INITIAL = 0,    /* no negotiation yet */
    MIM_DSP_NEG_REQUESTED,
    MIM_DSP_NEG_OFFERED,
    MIM_DSP_NEG_ACCEPTED,
    MIM_DSP_NEG_AGREED,
    MIM_DSP_NEG_VERIFIED,
    MIM_DSP_NEG_FINALIZED,
    MIM_DSP_NEG_TERMINATED
} mim_dsp_neg_state_t;

/* "REQUESTED", ...; "INITIAL" for the pseudo state */
const char *mim_dsp_neg_state_name(mim_dsp_neg_state_t state);

/* "REQUESTED", "https://w3id.org/dspace/2025/1/REQUESTED" -> state;
   0, or -1 when unknown */
int mim_dsp_neg_state_parse(const char *s, size_t len,
    mim_dsp_neg_state_t *state);

typedef enum {
    MIM_DSP_BY_CONSUMER = 0,
    MIM_DSP_BY_PROVIDER
} mim_dsp_party_t;

/* the messages of a negotiation, for the state machine */
typedef enum {
    MIM_DSP_NEG_MSG_REQUEST = 0,     /* ContractRequestMessage (C) */
    MIM_DSP_NEG_MSG_OFFER,           /* ContractOfferMessage (P) */
    MIM_DSP_NEG_MSG_ACCEPTED,        /* event ACCEPTED (C) */
    MIM_DSP_NEG_MSG_AGREEMENT,       /* ContractAgreementMessage (P) */
    MIM_DSP_NEG_MSG_VERIFICATION,    /* verification (C) */
    MIM_DSP_NEG_MSG_FINALIZED,       /* event FINALIZED (P) */
    MIM_DSP_NEG_MSG_TERMINATION,     /* termination (C or P) */
    MIM_DSP_NEG_MSG_COUNT
} mim_dsp_neg_msg_t;

const char *mim_dsp_neg_msg_name(mim_dsp_neg_msg_t msg);

/*
 * The state machine of DSP 2025-1 (shared/spec/DSP-NOTES.md): the state
 * after msg sent by `by` in state from.  MIM_ERR_INVALID with the reason
 * ("a ContractAgreementVerificationMessage is not valid in state
 * REQUESTED") when the transition does not exist; nothing leaves the
 * terminal states FINALIZED and TERMINATED.
 */
mim_result_t mim_dsp_neg_next(mim_dsp_neg_state_t from,
    mim_dsp_neg_msg_t msg, mim_dsp_party_t by, mim_dsp_neg_state_t *to);

/* A negotiation as stored (Redis mim:neg:<providerPid>, shm cache). */
typedef struct {
    char                 *provider_pid;     /* urn:uuid, ours */
    char                 *consumer_pid;
    char                 *consumer;         /* the caller's participant id
                                               (from mim_auth, never from
                                               the message) */
    char                 *callback_address;
    char                 *dataset;          /* the offer's target */
    char                 *offer_id;
    char                 *agreement_id;     /* NULL until agreed */
    char                 *agreement_json;   /* the Agreement object */
    char                 *code;             /* why TERMINATED, or NULL */
    char                 *reason;           /* human text, or NULL */
    mim_dsp_neg_state_t   state;
    int64_t               created;          /* seconds since the epoch */
    int64_t               updated;
} mim_dsp_neg_t;

/*
 * compact JSON of the record (every non-NULL member); and back.
 *
 * Added with the implementation: members providerPid, consumerPid,
 * consumer, callbackAddress, dataset, offerId, agreementId, agreement
 * (the Agreement as an object), code, reason, state (its name), created,
 * updated.  Both refuse a record that breaks its rules, so that what one
 * writes the other reads: providerPid and consumerPid non-empty, state
 * not INITIAL, 0 <= created <= updated, agreementId and agreement in
 * AGREED, VERIFIED and FINALIZED, the agreement a JSON object whose @id
 * is agreementId, strings at most 2048 bytes (reason 256 KiB).  from_json
 * also refuses unknown members, members of another type and state IRIs:
 * the store may have been written by someone else.
 */
mim_result_t mim_dsp_neg_to_json(const mim_dsp_neg_t *neg, char **out,
    size_t *len);
mim_result_t mim_dsp_neg_from_json(mim_dsp_neg_t *neg, const char *json,
    size_t len);

/* free the members (not neg itself); a zeroed record is fine */
void mim_dsp_neg_free(mim_dsp_neg_t *neg);

/* a deep copy of the strings: *to is overwritten */
mim_result_t mim_dsp_neg_copy(mim_dsp_neg_t *to, const mim_dsp_neg_t *from);


/* ---- what we send --------------------------------------------------- */

/* ContractNegotiation {providerPid, consumerPid, state} */
mim_result_t mim_dsp_negotiation_json(const mim_dsp_neg_t *neg, char **out,
    size_t *len);

/* ContractAgreementMessage carrying neg->agreement_json */
mim_result_t mim_dsp_agreement_message_json(const mim_dsp_neg_t *neg,
    char **out, size_t *len);

/* ContractNegotiationEventMessage with eventType FINALIZED (or ACCEPTED) */
mim_result_t mim_dsp_event_message_json(const mim_dsp_neg_t *neg,
    mim_dsp_event_t event, char **out, size_t *len);

/* ContractNegotiationTerminationMessage: code and reason (one string of
   the reason array) when not NULL */
mim_result_t mim_dsp_termination_message_json(const mim_dsp_neg_t *neg,
    const char *code, const char *reason, char **out, size_t *len);

/*
 * ContractNegotiationError.  providerPid and consumerPid are required by
 * the schema: NULL ones are written as "" (an invalid first message has
 * no providerPid).  code optional; reason becomes a one-string array.
 */
mim_result_t mim_dsp_negotiation_error_json(const char *provider_pid,
    const char *consumer_pid, const char *code, const char *reason,
    char **out, size_t *len);

/* CatalogError {code, reason: [reason]} */
mim_result_t mim_dsp_catalog_error_json(const char *code, const char *reason,
    char **out, size_t *len);

/*
 * VersionResponse: one entry {version 2025-1, path, binding HTTPS,
 * auth {protocol, version, profile[]}} (auth omitted when protocol is
 * NULL); profile is a NULL-terminated list (may be NULL).
 */
mim_result_t mim_dsp_version_json(const char *path, const char *auth_protocol,
    const char *auth_version, const char *const *auth_profile, char **out,
    size_t *len);


/* ---- small helpers ------------------------------------------------------ */

/* a fresh random "urn:uuid:<v4>" (OpenSSL's RAND_bytes) */
mim_result_t mim_dsp_new_urn_uuid(char out[MIM_DSP_UUID_LEN]);

/*
 * A callback address, split: scheme "http" or "https" only (anything
 * else: MIM_ERR_UNSUPPORTED), host (brackets of an IPv6 literal removed),
 * port (default 80 / 443), path prefix (may be ""); no userinfo, no
 * query or fragment.  Pieces are malloc()ed; free with
 * mim_dsp_url_free().
 */
typedef struct {
    int    https;
    char  *host;
    int    port;
    char  *path;        /* without a trailing "/" */
} mim_dsp_url_t;

mim_result_t mim_dsp_url_parse(mim_dsp_url_t *url, const char *text,
    size_t len);
void mim_dsp_url_free(mim_dsp_url_t *url);

/*
 * The path of a callback: url->path + "/" + collection ("negotiations")
 * + "/" + pid (percent-encoded as a path segment) + "/" + what
 * ("agreement", "events", "termination"); a trailing "/" on the callback
 * address makes no double slash.
 */
mim_result_t mim_dsp_callback_path(const mim_dsp_url_t *url,
    const char *collection, const char *pid, const char *what, char **out);

/* "2026-11-25T10:00:00Z" for t (seconds since the epoch, UTC) */
void mim_dsp_format_time(int64_t t, char out[32]);

#endif /* MIM_DSP_H */
