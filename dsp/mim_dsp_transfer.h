/*
 * mim_dsp_transfer.h - the transfer process of DSP 2025-1 (HTTPS binding),
 * provider side, HTTP pull (pure C, no nginx).
 *
 *   - mim_dsp_tmsg_parse(): read and validate the transfer messages a
 *     consumer sends (TransferRequestMessage, TransferStartMessage,
 *     TransferCompletionMessage, TransferSuspensionMessage,
 *     TransferTerminationMessage), following the official schemas in
 *     shared/spec/dsp-2025-1/transfer;
 *   - the transfer record (stored as mim:tp:<providerPid>) and its state
 *     machine (shared/spec/DSP-NOTES.md);
 *   - builders of what we send: TransferProcess, TransferStartMessage with
 *     its DataAddress, the suspension, completion and termination
 *     messages, TransferError.
 *
 * Conventions as in mim_dsp.h: a mim_result_t, malloc()ed NUL-terminated
 * text freed by the caller, compact 2025-1 terms; inbound state IRIs
 * ("https://w3id.org/dspace/2025/1/STARTED") are accepted too.
 */
#ifndef MIM_DSP_TRANSFER_H
#define MIM_DSP_TRANSFER_H

#include <stddef.h>
#include <stdint.h>

#include "mim_result.h"
#include "mim_dsp.h"


/* the endpointType of an HTTP pull DataAddress */
#define MIM_DSP_HTTP_ENDPOINT_TYPE  "https://w3id.org/idsa/v4.1/HTTP"


/* ---- inbound messages ------------------------------------------------ */

typedef enum {
    MIM_DSP_TMSG_NONE = 0,
    MIM_DSP_TMSG_REQUEST,           /* TransferRequestMessage */
    MIM_DSP_TMSG_START,             /* TransferStartMessage */
    MIM_DSP_TMSG_COMPLETION,        /* TransferCompletionMessage */
    MIM_DSP_TMSG_SUSPENSION,        /* TransferSuspensionMessage */
    MIM_DSP_TMSG_TERMINATION        /* TransferTerminationMessage */
} mim_dsp_tmsg_type_t;

typedef struct {
    mim_dsp_tmsg_type_t  type;
    char                *consumer_pid;      /* NULL when absent */
    char                *provider_pid;
    char                *agreement_id;      /* request */
    char                *format;            /* request */
    char                *callback_address;  /* request */
    char                *data_address_json; /* request (push) and start:
                                               the object, compact, or
                                               NULL */
    char                *code;              /* suspension, termination */
    char                *reason_json;       /* suspension, termination:
                                               the reason array, compact */
} mim_dsp_tmsg_t;

/*
 * Parse json (len bytes) as a transfer message of type expected, with the
 * same rules as mim_dsp_msg_parse(): "@context" holding MIM_DSP_CONTEXT,
 * "@type" exactly the expected term, required members present, strings
 * non-empty, reason a non-empty array, dataAddress (when present) a
 * DataAddress object as the schema says.  Required: request consumerPid,
 * agreementId, format, callbackAddress; start, completion, suspension,
 * termination providerPid and consumerPid.  The message names the member
 * ("agreementId: missing").
 *
 * Added with the implementation: on error msg keeps the pids it could
 * read (for the TransferError; free it anyway).  A request's providerPid
 * is never read (the provider names the process).  dataAddress
 * endpointProperties items need "@type" EndpointProperty, "name" and
 * "value" (a value may be longer than 2048 bytes: tokens).  Unknown
 * members are accepted (JSON-LD).
 */
mim_result_t mim_dsp_tmsg_parse(mim_dsp_tmsg_t *msg,
    mim_dsp_tmsg_type_t expected, const char *json, size_t len);
void mim_dsp_tmsg_free(mim_dsp_tmsg_t *msg);

/* "TransferRequestMessage", ... */
const char *mim_dsp_tmsg_type_name(mim_dsp_tmsg_type_t type);


/* ---- the state machine ------------------------------------------------ */

typedef enum {
    MIM_DSP_TP_INITIAL = 0,     /* no transfer yet */
    MIM_DSP_TP_REQUESTED,
    MIM_DSP_TP_STARTED,
    MIM_DSP_TP_SUSPENDED,
    MIM_DSP_TP_COMPLETED,
    MIM_DSP_TP_TERMINATED
} mim_dsp_tp_state_t;

const char *mim_dsp_tp_state_name(mim_dsp_tp_state_t state);
/* name or IRI -> state: 0, or -1 when unknown */
int mim_dsp_tp_state_parse(const char *s, size_t len,
    mim_dsp_tp_state_t *state);

typedef enum {
    MIM_DSP_TP_MSG_REQUEST = 0,     /* (C) */
    MIM_DSP_TP_MSG_START,           /* (P) from REQUESTED; (C or P) to
                                       resume from SUSPENDED */
    MIM_DSP_TP_MSG_COMPLETION,      /* (C or P) */
    MIM_DSP_TP_MSG_SUSPENSION,      /* (C or P) */
    MIM_DSP_TP_MSG_TERMINATION,     /* (C or P) */
    MIM_DSP_TP_MSG_COUNT
} mim_dsp_tp_msg_t;

const char *mim_dsp_tp_msg_name(mim_dsp_tp_msg_t msg);

/*
 * INITIAL -> REQUESTED (C request); REQUESTED -> STARTED (P start) |
 * TERMINATED; STARTED -> COMPLETED | SUSPENDED | TERMINATED; SUSPENDED ->
 * STARTED (C or P start) | TERMINATED; COMPLETED and TERMINATED are
 * terminal.  MIM_ERR_INVALID with the reason ("a TransferCompletionMessage
 * is not valid in state SUSPENDED") otherwise.
 */
mim_result_t mim_dsp_tp_next(mim_dsp_tp_state_t from, mim_dsp_tp_msg_t msg,
    mim_dsp_party_t by, mim_dsp_tp_state_t *to);


/* ---- the record ---------------------------------------------------------- */

/* A transfer as stored (Redis mim:tp:<providerPid>). */
typedef struct {
    char                *provider_pid;      /* urn:uuid, ours */
    char                *consumer_pid;
    char                *consumer;          /* the caller's participant id
                                               (mim_auth) */
    char                *callback_address;
    char                *agreement_id;
    char                *dataset;           /* the agreement's target */
    char                *format;            /* "HttpData-PULL" */
    char                *endpoint;          /* the data's URL on this
                                               gateway, for the DataAddress
                                               (absolute; NULL allowed) */
    char                *token_id;          /* jti of the data-access token
                                               now valid; NULL when none
                                               (not STARTED) */
    char                *code;              /* why SUSPENDED / TERMINATED */
    char                *reason;            /* human text, or NULL */
    mim_dsp_tp_state_t   state;
    int64_t              created;           /* seconds since the epoch */
    int64_t              updated;
} mim_dsp_tp_t;

/*
 * Compact JSON of the record (members providerPid, consumerPid, consumer,
 * callbackAddress, agreementId, dataset, format, endpoint, tokenId, code,
 * reason,
 * state, created, updated; NULL ones omitted) and back.  Both refuse a
 * record that breaks its rules: the pids, consumer, agreementId, dataset
 * and format non-empty, state not INITIAL, 0 <= created <= updated,
 * strings at most 2048 bytes (reason 256 KiB); from_json also refuses
 * unknown members and members of the wrong type (and, added with the
 * implementation, state IRIs: the store holds the names we write).
 */
mim_result_t mim_dsp_tp_to_json(const mim_dsp_tp_t *tp, char **out,
    size_t *len);
mim_result_t mim_dsp_tp_from_json(mim_dsp_tp_t *tp, const char *json,
    size_t len);
void mim_dsp_tp_free(mim_dsp_tp_t *tp);
mim_result_t mim_dsp_tp_copy(mim_dsp_tp_t *to, const mim_dsp_tp_t *from);


/* ---- what we send ----------------------------------------------------- */

/* TransferProcess {providerPid, consumerPid, state} */
mim_result_t mim_dsp_transfer_process_json(const mim_dsp_tp_t *tp,
    char **out, size_t *len);

/*
 * TransferStartMessage for a pull: dataAddress {@type DataAddress,
 * endpointType MIM_DSP_HTTP_ENDPOINT_TYPE, endpoint, endpointProperties
 * [{authorization: token}, {authType: "bearer"}]}.
 *
 * Added with the implementation: each property is an EndpointProperty
 * {"@type": "EndpointProperty", "name": "authorization", "value": token}
 * as data-address-schema.json requires (the spec's example
 * transfer-start-message.json); endpoint and token are required.
 */
mim_result_t mim_dsp_transfer_start_json(const mim_dsp_tp_t *tp,
    const char *endpoint, const char *token, char **out, size_t *len);

/* TransferCompletionMessage */
mim_result_t mim_dsp_transfer_completion_json(const mim_dsp_tp_t *tp,
    char **out, size_t *len);

/* TransferSuspensionMessage / TransferTerminationMessage: code and reason
   (one string of the reason array) when not NULL */
mim_result_t mim_dsp_transfer_suspension_json(const mim_dsp_tp_t *tp,
    const char *code, const char *reason, char **out, size_t *len);
mim_result_t mim_dsp_transfer_termination_json(const mim_dsp_tp_t *tp,
    const char *code, const char *reason, char **out, size_t *len);

/* TransferError {providerPid, consumerPid (NULL written as ""), code,
   reason: [reason]}: both pids are required by transfer-error-schema.json,
   so either one NULL is written as "" (a refused request has no
   providerPid); code and reason are omitted when NULL */
mim_result_t mim_dsp_transfer_error_json(const char *provider_pid,
    const char *consumer_pid, const char *code, const char *reason,
    char **out, size_t *len);


#endif /* MIM_DSP_TRANSFER_H */
