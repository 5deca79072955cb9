/*
 * mim_dsp_neg.c - contract negotiations: the states and the state machine
 * of DSP 2025-1 (shared/spec/DSP-NOTES.md), and the record of one
 * negotiation as stored (Redis mim:neg:<providerPid>, the shm cache).
 *
 * A record is read back from a store that other processes can write to:
 * mim_dsp_neg_from_json() accepts only what mim_dsp_neg_to_json() can
 * write (known members of the right types, a known state, consistent
 * times and agreement), and both check the same rules, so that a record
 * the glue could not store is refused when it is written, not when it is
 * read back.
 */
#include <stdlib.h>
#include <string.h>

#include "mim_dsp_int.h"

/* ---- states and messages ---- */

static const char *const  state_names[] = {
    [MIM_DSP_NEG_INITIAL] = "INITIAL",
    [MIM_DSP_NEG_REQUESTED] = "REQUESTED",
    [MIM_DSP_NEG_OFFERED] = "OFFERED",
    [MIM_DSP_NEG_ACCEPTED] = "ACCEPTED",
    [MIM_DSP_NEG_AGREED] = "AGREED",
    [MIM_DSP_NEG_VERIFIED] = "VERIFIED",
    [MIM_DSP_NEG_FINALIZED] = "FINALIZED",
    [MIM_DSP_NEG_TERMINATED] = "TERMINATED",
};

#define STATE_COUNT  (sizeof(state_names) / sizeof(state_names[0]))

const char *
mim_dsp_neg_state_name(mim_dsp_neg_state_t state)
{
    if ((size_t) state >= STATE_COUNT) {
        return "UNKNOWN";
    }
    return state_names[state];
}

/* a state a negotiation can be in (INITIAL is not one) */
static int
state_lookup(const char *s, size_t len, mim_dsp_neg_state_t *state)
{
    size_t  i;

    for (i = MIM_DSP_NEG_REQUESTED; i < STATE_COUNT; i++) {
        if (strlen(state_names[i]) == len
            && memcmp(s, state_names[i], len) == 0)
        {
            *state = (mim_dsp_neg_state_t) i;
            return 0;
        }
    }
    return -1;
}

int
mim_dsp_neg_state_parse(const char *s, size_t len,
    mim_dsp_neg_state_t *state)
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
    [MIM_DSP_NEG_MSG_REQUEST] = "ContractRequestMessage",
    [MIM_DSP_NEG_MSG_OFFER] = "ContractOfferMessage",
    [MIM_DSP_NEG_MSG_ACCEPTED] = "ContractNegotiationEventMessage ACCEPTED",
    [MIM_DSP_NEG_MSG_AGREEMENT] = "ContractAgreementMessage",
    [MIM_DSP_NEG_MSG_VERIFICATION] = "ContractAgreementVerificationMessage",
    [MIM_DSP_NEG_MSG_FINALIZED] = "ContractNegotiationEventMessage FINALIZED",
    [MIM_DSP_NEG_MSG_TERMINATION] = "ContractNegotiationTerminationMessage",
};

const char *
mim_dsp_neg_msg_name(mim_dsp_neg_msg_t msg)
{
    if ((size_t) msg >= MIM_DSP_NEG_MSG_COUNT) {
        return "unknown message";
    }
    return msg_names[msg];
}

/*
 * The transitions, as DSP-NOTES.md draws them (C: the consumer sends, P:
 * the provider).  Everything else is refused, FINALIZED and TERMINATED
 * are left by nothing.
 */
#define C  MIM_DSP_BY_CONSUMER
#define P  MIM_DSP_BY_PROVIDER

static const struct {
    uint8_t  from;
    uint8_t  msg;
    uint8_t  by;
    uint8_t  to;
} transitions[] = {
    { MIM_DSP_NEG_INITIAL,   MIM_DSP_NEG_MSG_REQUEST,      C,
      MIM_DSP_NEG_REQUESTED },
    { MIM_DSP_NEG_INITIAL,   MIM_DSP_NEG_MSG_OFFER,        P,
      MIM_DSP_NEG_OFFERED },

    { MIM_DSP_NEG_REQUESTED, MIM_DSP_NEG_MSG_OFFER,        P,
      MIM_DSP_NEG_OFFERED },
    { MIM_DSP_NEG_REQUESTED, MIM_DSP_NEG_MSG_AGREEMENT,    P,
      MIM_DSP_NEG_AGREED },
    { MIM_DSP_NEG_REQUESTED, MIM_DSP_NEG_MSG_TERMINATION,  C,
      MIM_DSP_NEG_TERMINATED },
    { MIM_DSP_NEG_REQUESTED, MIM_DSP_NEG_MSG_TERMINATION,  P,
      MIM_DSP_NEG_TERMINATED },

    { MIM_DSP_NEG_OFFERED,   MIM_DSP_NEG_MSG_REQUEST,      C,
      MIM_DSP_NEG_REQUESTED },
    { MIM_DSP_NEG_OFFERED,   MIM_DSP_NEG_MSG_ACCEPTED,     C,
      MIM_DSP_NEG_ACCEPTED },
    { MIM_DSP_NEG_OFFERED,   MIM_DSP_NEG_MSG_TERMINATION,  C,
      MIM_DSP_NEG_TERMINATED },
    { MIM_DSP_NEG_OFFERED,   MIM_DSP_NEG_MSG_TERMINATION,  P,
      MIM_DSP_NEG_TERMINATED },

    { MIM_DSP_NEG_ACCEPTED,  MIM_DSP_NEG_MSG_AGREEMENT,    P,
      MIM_DSP_NEG_AGREED },
    { MIM_DSP_NEG_ACCEPTED,  MIM_DSP_NEG_MSG_TERMINATION,  P,
      MIM_DSP_NEG_TERMINATED },

    { MIM_DSP_NEG_AGREED,    MIM_DSP_NEG_MSG_VERIFICATION, C,
      MIM_DSP_NEG_VERIFIED },
    { MIM_DSP_NEG_AGREED,    MIM_DSP_NEG_MSG_TERMINATION,  C,
      MIM_DSP_NEG_TERMINATED },

    { MIM_DSP_NEG_VERIFIED,  MIM_DSP_NEG_MSG_FINALIZED,    P,
      MIM_DSP_NEG_FINALIZED },
    { MIM_DSP_NEG_VERIFIED,  MIM_DSP_NEG_MSG_TERMINATION,  P,
      MIM_DSP_NEG_TERMINATED },
};

#undef C
#undef P

/* the state after msg by `by` in from, or -1 */
static int
transition(mim_dsp_neg_state_t from, mim_dsp_neg_msg_t msg,
    mim_dsp_party_t by)
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
mim_dsp_neg_next(mim_dsp_neg_state_t from, mim_dsp_neg_msg_t msg,
    mim_dsp_party_t by, mim_dsp_neg_state_t *to)
{
    mim_dsp_party_t  other;
    int              next;

    if (to == NULL || (size_t) from >= STATE_COUNT
        || (size_t) msg >= MIM_DSP_NEG_MSG_COUNT
        || (by != MIM_DSP_BY_CONSUMER && by != MIM_DSP_BY_PROVIDER))
    {
        return mim_result_err(MIM_ERR_INVALID, "no such state, message or "
                              "party");
    }
    *to = from;
    next = transition(from, msg, by);
    if (next >= 0) {
        *to = (mim_dsp_neg_state_t) next;
        return mim_result_ok();
    }
    if (from == MIM_DSP_NEG_FINALIZED || from == MIM_DSP_NEG_TERMINATED) {
        return mim_result_err(MIM_ERR_INVALID, "a %s is not valid in state "
                              "%s: the negotiation is over",
                              msg_names[msg], state_names[from]);
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

/* the table reads strings and times; read_own and write_own the rest */
enum {
    M_STR = MIM_DSP_M_STR,
    M_TIME = MIM_DSP_M_TIME,
    M_AGREEMENT = MIM_DSP_M_TEXT,   /* compact text, an object stored */
    M_STATE = MIM_DSP_M_OTHER
};

/* the members of a record, in the order they are written */
static const mim_dsp_member_t  members[] = {
    { "providerPid", M_STR, offsetof(mim_dsp_neg_t, provider_pid),
      MIM_DSP_MAX_STR, 1 },
    { "consumerPid", M_STR, offsetof(mim_dsp_neg_t, consumer_pid),
      MIM_DSP_MAX_STR, 1 },
    /* the glue relies on these two: who may see it, where to answer */
    { "consumer", M_STR, offsetof(mim_dsp_neg_t, consumer),
      MIM_DSP_MAX_STR, 1 },
    { "callbackAddress", M_STR, offsetof(mim_dsp_neg_t, callback_address),
      MIM_DSP_MAX_STR, 1 },
    { "dataset", M_STR, offsetof(mim_dsp_neg_t, dataset),
      MIM_DSP_MAX_STR, 0 },
    { "offerId", M_STR, offsetof(mim_dsp_neg_t, offer_id),
      MIM_DSP_MAX_STR, 0 },
    { "agreementId", M_STR, offsetof(mim_dsp_neg_t, agreement_id),
      MIM_DSP_MAX_STR, 0 },
    { "agreement", M_AGREEMENT, offsetof(mim_dsp_neg_t, agreement_json),
      0, 0 },
    { "code", M_STR, offsetof(mim_dsp_neg_t, code), MIM_DSP_MAX_STR, 0 },
    { "reason", M_STR, offsetof(mim_dsp_neg_t, reason),
      MIM_DSP_MAX_REASON, 0 },
    { "state", M_STATE, offsetof(mim_dsp_neg_t, state), 0, 1 },
    { "created", M_TIME, offsetof(mim_dsp_neg_t, created), 0, 1 },
    { "updated", M_TIME, offsetof(mim_dsp_neg_t, updated), 0, 1 },
};

/* what the agreement's @id says, compared with agreementId */
static mim_result_t
check_agreement(const mim_dsp_neg_t *neg, const json_t *agreement)
{
    const json_t  *id = json_object_get(agreement, "@id");

    if (neg->agreement_id == NULL) {
        return mim_result_err(MIM_ERR_INVALID, "record: an agreement without "
                              "agreementId");
    }
    if (!json_is_string(id) || strcmp(json_string_value(id),
                                      neg->agreement_id) != 0)
    {
        return mim_result_err(MIM_ERR_INVALID, "record: agreement.@id is not "
                              "agreementId");
    }
    return mim_result_ok();
}

/*
 * The rules of a record but the strings' (the table's) and the
 * agreement's text (checked where it is written): a state a negotiation
 * is in, times in order, an agreement once agreed; and, read back, the
 * agreement read.
 */
static mim_result_t
check_record(const void *rec, const json_t *read)
{
    const mim_dsp_neg_t  *neg = rec;

    if (neg->state <= MIM_DSP_NEG_INITIAL
        || neg->state > MIM_DSP_NEG_TERMINATED)
    {
        return mim_result_err(MIM_ERR_INVALID, "record: state: not a state "
                              "of a negotiation");
    }
    if (neg->created < 0 || neg->updated < neg->created) {
        return mim_result_err(MIM_ERR_INVALID, "record: created, updated: "
                              "not 0 <= created <= updated");
    }
    if ((neg->state == MIM_DSP_NEG_AGREED || neg->state == MIM_DSP_NEG_VERIFIED
         || neg->state == MIM_DSP_NEG_FINALIZED)
        && (neg->agreement_id == NULL || neg->agreement_json == NULL))
    {
        return mim_result_err(MIM_ERR_INVALID, "record: state %s without "
                              "agreementId and agreement",
                              state_names[neg->state]);
    }
    if (read != NULL && neg->agreement_json != NULL) {
        return check_agreement(neg, json_object_get(read, "agreement"));
    }
    return mim_result_ok();
}

/* stored as an object: the record stays one JSON document */
static mim_result_t
write_agreement(const mim_dsp_neg_t *neg, json_t *o)
{
    json_t        *agreement;
    mim_result_t   r;

    if (neg->agreement_json == NULL) {
        return mim_result_ok();
    }
    r = mim_dsp_json_load(neg->agreement_json, strlen(neg->agreement_json),
                          MIM_DSP_MAX_RECORD, "record: agreement",
                          &agreement);
    if (!mim_ok(r)) {
        return r;
    }
    r = check_agreement(neg, agreement);
    if (!mim_ok(r)) {
        json_decref(agreement);
        return r;
    }
    return mim_dsp_put_new(o, "agreement", agreement);
}

static mim_result_t
write_own(const void *rec, const mim_dsp_member_t *m, json_t *o)
{
    const mim_dsp_neg_t  *neg = rec;

    if (m->kind == M_AGREEMENT) {
        return write_agreement(neg, o);
    }
    return mim_dsp_put_str(o, "state", state_names[neg->state]);
}

static mim_result_t
read_own(void *rec, const mim_dsp_member_t *m, const json_t *v)
{
    mim_dsp_neg_t  *neg = rec;

    if (m->kind == M_AGREEMENT) {
        if (!json_is_object(v)) {
            return mim_result_err(MIM_ERR_INVALID, "record: agreement: "
                                  "expected an object");
        }
        return mim_dsp_json_dump(v, &neg->agreement_json, NULL);
    }
    if (!json_is_string(v)
        || state_lookup(json_string_value(v), json_string_length(v),
                        &neg->state) != 0)
    {
        return mim_result_err(MIM_ERR_INVALID, "record: state: not a state "
                              "of a negotiation");
    }
    return mim_result_ok();
}

static const mim_dsp_record_t  neg_record = {
    .members = members,
    .count = sizeof(members) / sizeof(members[0]),
    .size = sizeof(mim_dsp_neg_t),
    .read = read_own,
    .write = write_own,
    .check = check_record,
};

mim_result_t
mim_dsp_neg_to_json(const mim_dsp_neg_t *neg, char **out, size_t *len)
{
    return mim_dsp_record_to_json(&neg_record, neg, out, len);
}

mim_result_t
mim_dsp_neg_from_json(mim_dsp_neg_t *neg, const char *json, size_t len)
{
    return mim_dsp_record_from_json(&neg_record, neg, json, len);
}

void
mim_dsp_neg_free(mim_dsp_neg_t *neg)
{
    mim_dsp_record_free(&neg_record, neg);
}

mim_result_t
mim_dsp_neg_copy(mim_dsp_neg_t *to, const mim_dsp_neg_t *from)
{
    return mim_dsp_record_copy(&neg_record, to, from);
}
