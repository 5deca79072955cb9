/*
 * mim_dsp_transfer.c - the transfer process of DSP 2025-1, provider side,
 * HTTP pull: the messages a consumer sends (read and validated), the
 * states and the state machine (shared/spec/DSP-NOTES.md), the record of
 * one transfer as stored (mim:tp:<providerPid>), and what we send.
 *
 * The counterpart of mim_dsp_msg.c and mim_dsp_neg.c for negotiations,
 * with the same rules: inbound text is bounded before it is parsed and
 * checked against the official schemas (shared/spec/dsp-2025-1/transfer)
 * with a reason that names the member, because it goes back to the peer
 * in a TransferError; a record is read back from a store others can
 * write to, so from_json accepts only what to_json can write; what we
 * build validates against the schemas (the unit tests run the official
 * validator over it).
 */
#include <stdlib.h>
#include <string.h>

#include "mim_dsp_int.h"
#include "mim_dsp_transfer.h"

/* ---- inbound messages ---- */

static const char *const  tmsg_names[] = {
    [MIM_DSP_TMSG_NONE] = "none",
    [MIM_DSP_TMSG_REQUEST] = "TransferRequestMessage",
    [MIM_DSP_TMSG_START] = "TransferStartMessage",
    [MIM_DSP_TMSG_COMPLETION] = "TransferCompletionMessage",
    [MIM_DSP_TMSG_SUSPENSION] = "TransferSuspensionMessage",
    [MIM_DSP_TMSG_TERMINATION] = "TransferTerminationMessage",
};

#define TMSG_COUNT  (sizeof(tmsg_names) / sizeof(tmsg_names[0]))

const char *
mim_dsp_tmsg_type_name(mim_dsp_tmsg_type_t type)
{
    if ((size_t) type >= TMSG_COUNT) {
        return "none";
    }
    return tmsg_names[type];
}

/* "@type" of an object inside a message: required, exactly type */
static mim_result_t
inner_type(const json_t *obj, const char *path, const char *type)
{
    const json_t  *t = json_object_get(obj, "@type");

    if (t == NULL) {
        return mim_result_err(MIM_ERR_INVALID, "%s.@type: missing", path);
    }
    if (!json_is_string(t) || strcmp(json_string_value(t), type) != 0) {
        return mim_result_err(MIM_ERR_INVALID, "%s.@type: expected \"%s\"",
                              path, type);
    }
    return mim_result_ok();
}

/* an EndpointProperty {@type, name, value}, all three required */
static mim_result_t
check_property(const json_t *p, const char *path)
{
    const json_t  *value;
    mim_result_t   r;

    if (!json_is_object(p)) {
        return mim_result_err(MIM_ERR_INVALID, "%s: expected an object",
                              path);
    }
    r = inner_type(p, path, "EndpointProperty");
    if (mim_ok(r)) {
        r = mim_dsp_str_member(p, path, "name", 1, 0, NULL);
    }
    if (!mim_ok(r)) {
        return r;
    }
    /* not mim_dsp_str_member: a value is often a token, longer than a
       pid may be (the message as a whole is bounded) */
    value = json_object_get(p, "value");
    if (value == NULL || !json_is_string(value)) {
        return mim_result_err(MIM_ERR_INVALID, "%s.value: %s", path,
                              value == NULL ? "missing"
                                            : "expected a string");
    }
    return mim_result_ok();
}

/*
 * data-address-schema.json: "@type" DataAddress and "endpointType"
 * required, "endpoint" a string, "endpointProperties" a non-empty array
 * of EndpointProperty.
 */
static mim_result_t
check_data_address(const json_t *da)
{
    const json_t  *props, *item;
    char           at[MIM_DSP_PATH_MAX];
    mim_result_t   r;
    size_t         i;

    if (!json_is_object(da)) {
        return mim_result_err(MIM_ERR_INVALID, "dataAddress: expected an "
                              "object");
    }
    r = inner_type(da, "dataAddress", "DataAddress");
    if (mim_ok(r)) {
        r = mim_dsp_str_member(da, "dataAddress", "endpointType", 1, 0,
                               NULL);
    }
    if (mim_ok(r)) {
        r = mim_dsp_str_member(da, "dataAddress", "endpoint", 0, 0, NULL);
    }
    if (!mim_ok(r)) {
        return r;
    }
    props = json_object_get(da, "endpointProperties");
    if (props == NULL) {
        return mim_result_ok();
    }
    if (!json_is_array(props)) {
        return mim_result_err(MIM_ERR_INVALID, "dataAddress."
                              "endpointProperties: expected an array");
    }
    if (json_array_size(props) == 0) {
        return mim_result_err(MIM_ERR_INVALID, "dataAddress."
                              "endpointProperties: empty (at least one "
                              "item, or no member)");
    }
    json_array_foreach(props, i, item) {
        mim_dsp_path_join_index(at, "dataAddress", "endpointProperties", i);
        r = check_property(item, at);
        if (!mim_ok(r)) {
            return r;
        }
    }
    return mim_result_ok();
}

/* "dataAddress", optional: checked, and kept as compact text */
static mim_result_t
parse_data_address(const json_t *root, mim_dsp_tmsg_t *msg)
{
    const json_t  *da = json_object_get(root, "dataAddress");
    mim_result_t   r;

    if (da == NULL) {
        return mim_result_ok();
    }
    r = check_data_address(da);
    return mim_ok(r) ? mim_dsp_json_dump(da, &msg->data_address_json, NULL)
                     : r;
}

static mim_result_t
parse_request(const json_t *root, mim_dsp_tmsg_t *msg)
{
    mim_result_t  r;

    r = mim_dsp_str_member(root, "", "consumerPid", 1, 0,
                           &msg->consumer_pid);
    if (mim_ok(r)) {
        r = mim_dsp_str_member(root, "", "agreementId", 1, 0,
                               &msg->agreement_id);
    }
    if (mim_ok(r)) {
        r = mim_dsp_str_member(root, "", "format", 1, 0, &msg->format);
    }
    if (mim_ok(r)) {
        r = mim_dsp_str_member(root, "", "callbackAddress", 1, 0,
                               &msg->callback_address);
    }
    if (mim_ok(r)) {
        r = parse_data_address(root, msg);
    }
    return r;
}

static mim_result_t
parse_pids(const json_t *root, mim_dsp_tmsg_t *msg)
{
    mim_result_t  r;

    r = mim_dsp_str_member(root, "", "providerPid", 1, 0,
                           &msg->provider_pid);
    if (mim_ok(r)) {
        r = mim_dsp_str_member(root, "", "consumerPid", 1, 0,
                               &msg->consumer_pid);
    }
    return r;
}

mim_result_t
mim_dsp_tmsg_parse(mim_dsp_tmsg_t *msg, mim_dsp_tmsg_type_t expected,
    const char *json, size_t len)
{
    json_t        *root;
    mim_result_t   r;

    if (msg == NULL) {
        return mim_result_err(MIM_ERR_INVALID, "no message");
    }
    memset(msg, 0, sizeof(*msg));
    if (expected <= MIM_DSP_TMSG_NONE || (size_t) expected >= TMSG_COUNT) {
        return mim_result_err(MIM_ERR_INVALID, "unknown message type");
    }
    r = mim_dsp_json_load(json, len, MIM_DSP_MAX_MSG, "message", &root);
    if (!mim_ok(r)) {
        return r;
    }
    /*
     * The pids first, whatever else is wrong: the TransferError that
     * answers an invalid message names them when they are readable.  A
     * request has no providerPid (we name the process): one it carries
     * is not read.
     */
    (void) mim_dsp_str_member(root, "", "consumerPid", 0, 0,
                              &msg->consumer_pid);
    if (expected != MIM_DSP_TMSG_REQUEST) {
        (void) mim_dsp_str_member(root, "", "providerPid", 0, 0,
                                  &msg->provider_pid);
    }
    r = mim_dsp_check_context(root);
    if (mim_ok(r)) {
        r = mim_dsp_check_type(root, tmsg_names[expected]);
    }
    if (mim_ok(r)) {
        msg->type = expected;
        switch (expected) {
        case MIM_DSP_TMSG_REQUEST:
            r = parse_request(root, msg);
            break;
        case MIM_DSP_TMSG_START:
            r = parse_pids(root, msg);
            if (mim_ok(r)) {
                r = parse_data_address(root, msg);
            }
            break;
        case MIM_DSP_TMSG_SUSPENSION:
        case MIM_DSP_TMSG_TERMINATION:
            r = parse_pids(root, msg);
            if (mim_ok(r)) {
                r = mim_dsp_code_reason(root, &msg->code, &msg->reason_json);
            }
            break;
        default: /* MIM_DSP_TMSG_COMPLETION */
            r = parse_pids(root, msg);
            break;
        }
    }
    json_decref(root);
    return r;
}

void
mim_dsp_tmsg_free(mim_dsp_tmsg_t *msg)
{
    if (msg == NULL) {
        return;
    }
    free(msg->consumer_pid);
    free(msg->provider_pid);
    free(msg->agreement_id);
    free(msg->format);
    free(msg->callback_address);
    free(msg->data_address_json);
    free(msg->code);
    free(msg->reason_json);
    memset(msg, 0, sizeof(*msg));
}

/* ---- states and messages ---- */

static const char *const  state_names[] = {
    [MIM_DSP_TP_INITIAL] = "INITIAL",
    [MIM_DSP_TP_REQUESTED] = "REQUESTED",
    [MIM_DSP_TP_STARTED] = "STARTED",
    [MIM_DSP_TP_SUSPENDED] = "SUSPENDED",
    [MIM_DSP_TP_COMPLETED] = "COMPLETED",
    [MIM_DSP_TP_TERMINATED] = "TERMINATED",
};

#define STATE_COUNT  (sizeof(state_names) / sizeof(state_names[0]))

const char *
mim_dsp_tp_state_name(mim_dsp_tp_state_t state)
{
    if ((size_t) state >= STATE_COUNT) {
        return "UNKNOWN";
    }
    return state_names[state];
}

/* a state a transfer can be in (INITIAL is not one) */
static int
state_lookup(const char *s, size_t len, mim_dsp_tp_state_t *state)
{
    size_t  i;

    for (i = MIM_DSP_TP_REQUESTED; i < STATE_COUNT; i++) {
        if (strlen(state_names[i]) == len
            && memcmp(s, state_names[i], len) == 0)
        {
            *state = (mim_dsp_tp_state_t) i;
            return 0;
        }
    }
    return -1;
}

int
mim_dsp_tp_state_parse(const char *s, size_t len, mim_dsp_tp_state_t *state)
{
    size_t  ns = sizeof(MIM_DSP_NS) - 1;

    if (s == NULL || state == NULL) {
        return -1;
    }
    /* "state" is "@vocab" in the context: the full IRI is the same term */
    if (len > ns && memcmp(s, MIM_DSP_NS, ns) == 0) {
        s += ns;
        len -= ns;
    }
    return state_lookup(s, len, state);
}

static const char *const  msg_names[] = {
    [MIM_DSP_TP_MSG_REQUEST] = "TransferRequestMessage",
    [MIM_DSP_TP_MSG_START] = "TransferStartMessage",
    [MIM_DSP_TP_MSG_COMPLETION] = "TransferCompletionMessage",
    [MIM_DSP_TP_MSG_SUSPENSION] = "TransferSuspensionMessage",
    [MIM_DSP_TP_MSG_TERMINATION] = "TransferTerminationMessage",
};

const char *
mim_dsp_tp_msg_name(mim_dsp_tp_msg_t msg)
{
    if ((size_t) msg >= MIM_DSP_TP_MSG_COUNT) {
        return "unknown message";
    }
    return msg_names[msg];
}

/*
 * The transitions, as DSP-NOTES.md draws them (C: the consumer sends, P:
 * the provider).  Only the provider starts a requested transfer (it
 * holds the data); either side resumes a suspended one.  SUSPENDED ->
 * COMPLETED does not exist, COMPLETED and TERMINATED are left by
 * nothing.
 */
#define C  MIM_DSP_BY_CONSUMER
#define P  MIM_DSP_BY_PROVIDER

static const struct {
    uint8_t  from;
    uint8_t  msg;
    uint8_t  by;
    uint8_t  to;
} transitions[] = {
    { MIM_DSP_TP_INITIAL,   MIM_DSP_TP_MSG_REQUEST,     C,
      MIM_DSP_TP_REQUESTED },

    { MIM_DSP_TP_REQUESTED, MIM_DSP_TP_MSG_START,       P,
      MIM_DSP_TP_STARTED },
    { MIM_DSP_TP_REQUESTED, MIM_DSP_TP_MSG_TERMINATION, C,
      MIM_DSP_TP_TERMINATED },
    { MIM_DSP_TP_REQUESTED, MIM_DSP_TP_MSG_TERMINATION, P,
      MIM_DSP_TP_TERMINATED },

    { MIM_DSP_TP_STARTED,   MIM_DSP_TP_MSG_COMPLETION,  C,
      MIM_DSP_TP_COMPLETED },
    { MIM_DSP_TP_STARTED,   MIM_DSP_TP_MSG_COMPLETION,  P,
      MIM_DSP_TP_COMPLETED },
    { MIM_DSP_TP_STARTED,   MIM_DSP_TP_MSG_SUSPENSION,  C,
      MIM_DSP_TP_SUSPENDED },
    { MIM_DSP_TP_STARTED,   MIM_DSP_TP_MSG_SUSPENSION,  P,
      MIM_DSP_TP_SUSPENDED },
    { MIM_DSP_TP_STARTED,   MIM_DSP_TP_MSG_TERMINATION, C,
      MIM_DSP_TP_TERMINATED },
    { MIM_DSP_TP_STARTED,   MIM_DSP_TP_MSG_TERMINATION, P,
      MIM_DSP_TP_TERMINATED },

    { MIM_DSP_TP_SUSPENDED, MIM_DSP_TP_MSG_START,       C,
      MIM_DSP_TP_STARTED },
    { MIM_DSP_TP_SUSPENDED, MIM_DSP_TP_MSG_START,       P,
      MIM_DSP_TP_STARTED },
    { MIM_DSP_TP_SUSPENDED, MIM_DSP_TP_MSG_TERMINATION, C,
      MIM_DSP_TP_TERMINATED },
    { MIM_DSP_TP_SUSPENDED, MIM_DSP_TP_MSG_TERMINATION, P,
      MIM_DSP_TP_TERMINATED },
};

#undef C
#undef P

/* the state after msg by `by` in from, or -1 */
static int
transition(mim_dsp_tp_state_t from, mim_dsp_tp_msg_t msg, mim_dsp_party_t by)
{
    size_t  i;

    for (i = 0; i < sizeof(transitions) / sizeof(transitions[0]); i++) {
        if (transitions[i].from == from && transitions[i].msg == msg
            && transitions[i].by == by)
        {
            return transitions[i].to;
        }
    }
    return -1;
}

static const char *
party_name(mim_dsp_party_t by)
{
    return by == MIM_DSP_BY_PROVIDER ? "provider" : "consumer";
}

mim_result_t
mim_dsp_tp_next(mim_dsp_tp_state_t from, mim_dsp_tp_msg_t msg,
    mim_dsp_party_t by, mim_dsp_tp_state_t *to)
{
    mim_dsp_party_t  other;
    int              next;

    if (to == NULL || (size_t) from >= STATE_COUNT
        || (size_t) msg >= MIM_DSP_TP_MSG_COUNT
        || (by != MIM_DSP_BY_CONSUMER && by != MIM_DSP_BY_PROVIDER))
    {
        return mim_result_err(MIM_ERR_INVALID, "no such state, message or "
                              "party");
    }
    *to = from;
    next = transition(from, msg, by);
    if (next >= 0) {
        *to = (mim_dsp_tp_state_t) next;
        return mim_result_ok();
    }
    if (from == MIM_DSP_TP_COMPLETED || from == MIM_DSP_TP_TERMINATED) {
        return mim_result_err(MIM_ERR_INVALID, "a %s is not valid in state "
                              "%s: the transfer is over", msg_names[msg],
                              state_names[from]);
    }
    other = by == MIM_DSP_BY_CONSUMER ? MIM_DSP_BY_PROVIDER
                                      : MIM_DSP_BY_CONSUMER;
    if (transition(from, msg, other) >= 0) {
        return mim_result_err(MIM_ERR_INVALID, "a %s from the %s is not "
                              "valid in state %s: only the %s sends it",
                              msg_names[msg], party_name(by),
                              state_names[from], party_name(other));
    }
    return mim_result_err(MIM_ERR_INVALID, "a %s is not valid in state %s",
                          msg_names[msg], state_names[from]);
}

/* ---- the record ---- */

/* the table reads strings and times; read_own and write_own the state */
enum {
    M_STR = MIM_DSP_M_STR,
    M_TIME = MIM_DSP_M_TIME,
    M_STATE = MIM_DSP_M_OTHER
};

/* the members of a record, in the order they are written */
static const mim_dsp_member_t  members[] = {
    { "providerPid", M_STR, offsetof(mim_dsp_tp_t, provider_pid),
      MIM_DSP_MAX_STR, 1 },
    { "consumerPid", M_STR, offsetof(mim_dsp_tp_t, consumer_pid),
      MIM_DSP_MAX_STR, 1 },
    /* who may see and drive it */
    { "consumer", M_STR, offsetof(mim_dsp_tp_t, consumer),
      MIM_DSP_MAX_STR, 1 },
    { "callbackAddress", M_STR, offsetof(mim_dsp_tp_t, callback_address),
      MIM_DSP_MAX_STR, 0 },
    /* what the data plane enforces: the agreement, on what, how */
    { "agreementId", M_STR, offsetof(mim_dsp_tp_t, agreement_id),
      MIM_DSP_MAX_STR, 1 },
    { "dataset", M_STR, offsetof(mim_dsp_tp_t, dataset),
      MIM_DSP_MAX_STR, 1 },
    { "format", M_STR, offsetof(mim_dsp_tp_t, format),
      MIM_DSP_MAX_STR, 1 },
    { "endpoint", M_STR, offsetof(mim_dsp_tp_t, endpoint),
      MIM_DSP_MAX_STR, 0 },
    { "tokenId", M_STR, offsetof(mim_dsp_tp_t, token_id),
      MIM_DSP_MAX_STR, 0 },
    { "code", M_STR, offsetof(mim_dsp_tp_t, code), MIM_DSP_MAX_STR, 0 },
    { "reason", M_STR, offsetof(mim_dsp_tp_t, reason),
      MIM_DSP_MAX_REASON, 0 },
    { "state", M_STATE, offsetof(mim_dsp_tp_t, state), 0, 1 },
    { "created", M_TIME, offsetof(mim_dsp_tp_t, created), 0, 1 },
    { "updated", M_TIME, offsetof(mim_dsp_tp_t, updated), 0, 1 },
};

/* the rules of a record but the strings' (the table's): a state a
   transfer is in, times in order */
static mim_result_t
check_record(const void *rec, const json_t *read)
{
    const mim_dsp_tp_t  *tp = rec;

    if (tp->state <= MIM_DSP_TP_INITIAL || tp->state > MIM_DSP_TP_TERMINATED)
    {
        return mim_result_err(MIM_ERR_INVALID, "record: state: not a state "
                              "of a transfer");
    }
    if (tp->created < 0 || tp->updated < tp->created) {
        return mim_result_err(MIM_ERR_INVALID, "record: created, updated: "
                              "not 0 <= created <= updated");
    }
    return mim_result_ok();
}

static mim_result_t
write_own(const void *rec, const mim_dsp_member_t *m, json_t *o)
{
    const mim_dsp_tp_t  *tp = rec;

    return mim_dsp_put_str(o, "state", state_names[tp->state]);
}

static mim_result_t
read_own(void *rec, const mim_dsp_member_t *m, const json_t *v)
{
    mim_dsp_tp_t  *tp = rec;

    /* the name only, never the IRI: we wrote it */
    if (!json_is_string(v)
        || state_lookup(json_string_value(v), json_string_length(v),
                        &tp->state) != 0)
    {
        return mim_result_err(MIM_ERR_INVALID, "record: state: not a state "
                              "of a transfer");
    }
    return mim_result_ok();
}

static const mim_dsp_record_t  tp_record = {
    .members = members,
    .count = sizeof(members) / sizeof(members[0]),
    .size = sizeof(mim_dsp_tp_t),
    .read = read_own,
    .write = write_own,
    .check = check_record,
};

mim_result_t
mim_dsp_tp_to_json(const mim_dsp_tp_t *tp, char **out, size_t *len)
{
    return mim_dsp_record_to_json(&tp_record, tp, out, len);
}

mim_result_t
mim_dsp_tp_from_json(mim_dsp_tp_t *tp, const char *json, size_t len)
{
    return mim_dsp_record_from_json(&tp_record, tp, json, len);
}

void
mim_dsp_tp_free(mim_dsp_tp_t *tp)
{
    mim_dsp_record_free(&tp_record, tp);
}

mim_result_t
mim_dsp_tp_copy(mim_dsp_tp_t *to, const mim_dsp_tp_t *from)
{
    return mim_dsp_record_copy(&tp_record, to, from);
}

/* ---- what we send ---- */

/* a message about tp: its two pids are required by every schema */
static mim_result_t
tp_message(const mim_dsp_tp_t *tp, const char *type, json_t **o)
{
    *o = NULL;
    if (tp == NULL || tp->provider_pid == NULL || tp->consumer_pid == NULL
        || *tp->provider_pid == '\0' || *tp->consumer_pid == '\0')
    {
        return mim_result_err(MIM_ERR_INVALID, "%s: a transfer with "
                              "providerPid and consumerPid is required",
                              type);
    }
    *o = mim_dsp_message_new(type);
    if (*o == NULL) {
        return mim_dsp_nomem();
    }
    return mim_dsp_put_pids(*o, tp->provider_pid, tp->consumer_pid);
}

mim_result_t
mim_dsp_transfer_process_json(const mim_dsp_tp_t *tp, char **out,
    size_t *len)
{
    json_t        *o;
    mim_result_t   r = mim_dsp_out_init(out, len);

    if (!mim_ok(r)) {
        return r;
    }
    r = tp_message(tp, "TransferProcess", &o);
    if (mim_ok(r) && (tp->state <= MIM_DSP_TP_INITIAL
                      || tp->state > MIM_DSP_TP_TERMINATED))
    {
        r = mim_result_err(MIM_ERR_INVALID, "state: %s is not a state of a "
                           "transfer", mim_dsp_tp_state_name(tp->state));
    }
    if (mim_ok(r)) {
        r = mim_dsp_put_str(o, "state", state_names[tp->state]);
    }
    return mim_dsp_message_finish(o, r, out, len);
}

/* {"@type": "EndpointProperty", "name": name, "value": value} into list */
static mim_result_t
add_property(json_t *list, const char *name, const char *value)
{
    json_t        *p = json_object();
    mim_result_t   r;

    /* the array owns p from here, even when appending fails */
    if (p == NULL || json_array_append_new(list, p) != 0) {
        return mim_dsp_nomem();
    }
    r = mim_dsp_put_str(p, "@type", "EndpointProperty");
    if (mim_ok(r)) {
        r = mim_dsp_put_str(p, "name", name);
    }
    if (mim_ok(r)) {
        r = mim_dsp_put_str(p, "value", value);
    }
    return r;
}

/* the DataAddress of a pull, as the spec's transfer-start-message.json */
static mim_result_t
pull_address(json_t *o, const char *endpoint, const char *token)
{
    json_t        *da, *props;
    mim_result_t   r;

    da = json_object();
    r = mim_dsp_put_new(o, "dataAddress", da);
    if (mim_ok(r)) {
        r = mim_dsp_put_str(da, "@type", "DataAddress");
    }
    if (mim_ok(r)) {
        r = mim_dsp_put_str(da, "endpointType", MIM_DSP_HTTP_ENDPOINT_TYPE);
    }
    if (mim_ok(r)) {
        r = mim_dsp_put_str(da, "endpoint", endpoint);
    }
    if (!mim_ok(r)) {
        return r;
    }
    props = json_array();
    r = mim_dsp_put_new(da, "endpointProperties", props);
    if (mim_ok(r)) {
        r = add_property(props, "authorization", token);
    }
    if (mim_ok(r)) {
        r = add_property(props, "authType", "bearer");
    }
    return r;
}

mim_result_t
mim_dsp_transfer_start_json(const mim_dsp_tp_t *tp, const char *endpoint,
    const char *token, char **out, size_t *len)
{
    json_t        *o;
    mim_result_t   r = mim_dsp_out_init(out, len);

    if (!mim_ok(r)) {
        return r;
    }
    /* a pull is nothing without where and with what: never send one
       the consumer cannot use */
    if (endpoint == NULL || *endpoint == '\0') {
        return mim_result_err(MIM_ERR_INVALID, "dataAddress.endpoint: "
                              "missing (the data's URL)");
    }
    if (token == NULL || *token == '\0') {
        return mim_result_err(MIM_ERR_INVALID, "dataAddress: no token (the "
                              "authorization of a pull)");
    }
    r = tp_message(tp, "TransferStartMessage", &o);
    if (mim_ok(r)) {
        r = pull_address(o, endpoint, token);
    }
    return mim_dsp_message_finish(o, r, out, len);
}

mim_result_t
mim_dsp_transfer_completion_json(const mim_dsp_tp_t *tp, char **out,
    size_t *len)
{
    json_t        *o;
    mim_result_t   r = mim_dsp_out_init(out, len);

    if (!mim_ok(r)) {
        return r;
    }
    r = tp_message(tp, "TransferCompletionMessage", &o);
    return mim_dsp_message_finish(o, r, out, len);
}

/* a suspension or termination: pids, code and reason when given */
static mim_result_t
code_message(const mim_dsp_tp_t *tp, const char *type, const char *code,
    const char *reason, char **out, size_t *len)
{
    json_t        *o;
    mim_result_t   r = mim_dsp_out_init(out, len);

    if (!mim_ok(r)) {
        return r;
    }
    r = tp_message(tp, type, &o);
    if (mim_ok(r)) {
        r = mim_dsp_put_str(o, "code", code);
    }
    if (mim_ok(r)) {
        r = mim_dsp_put_reason(o, reason);
    }
    return mim_dsp_message_finish(o, r, out, len);
}

mim_result_t
mim_dsp_transfer_suspension_json(const mim_dsp_tp_t *tp, const char *code,
    const char *reason, char **out, size_t *len)
{
    return code_message(tp, "TransferSuspensionMessage", code, reason, out,
                        len);
}

mim_result_t
mim_dsp_transfer_termination_json(const mim_dsp_tp_t *tp, const char *code,
    const char *reason, char **out, size_t *len)
{
    return code_message(tp, "TransferTerminationMessage", code, reason, out,
                        len);
}

mim_result_t
mim_dsp_transfer_error_json(const char *provider_pid,
    const char *consumer_pid, const char *code, const char *reason,
    char **out, size_t *len)
{
    json_t        *o;
    mim_result_t   r = mim_dsp_out_init(out, len);

    if (!mim_ok(r)) {
        return r;
    }
    o = mim_dsp_message_new("TransferError");
    if (o == NULL) {
        return mim_dsp_nomem();
    }
    /* both required by the schema, even when the message had none */
    r = mim_dsp_put_pids(o, provider_pid != NULL ? provider_pid : "",
                         consumer_pid != NULL ? consumer_pid : "");
    if (mim_ok(r)) {
        r = mim_dsp_put_str(o, "code", code);
    }
    if (mim_ok(r)) {
        r = mim_dsp_put_reason(o, reason);
    }
    return mim_dsp_message_finish(o, r, out, len);
}
