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

enum { M_STR, M_AGREEMENT, M_STATE, M_TIME };

/* the members of a record, in the order they are written */
static const struct {
    const char  *name;
    int          kind;
    size_t       offset;
    size_t       max;       /* strings: bytes */
    int          required;
} members[] = {
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

#define MEMBER_COUNT  (sizeof(members) / sizeof(members[0]))

static char **
str_at(const mim_dsp_neg_t *neg, size_t i)
{
    return (char **) ((char *) neg + members[i].offset);
}

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
 * The rules of a record, but the agreement's text (checked where it is
 * read): pids present, strings bounded, a state a negotiation is in,
 * times in order, an agreement once agreed.
 */
static mim_result_t
check_record(const mim_dsp_neg_t *neg)
{
    const char  *s;
    size_t       i;

    for (i = 0; i < MEMBER_COUNT; i++) {
        if (members[i].kind != M_STR) {
            continue;
        }
        s = *str_at(neg, i);
        if (s == NULL) {
            if (members[i].required) {
                return mim_result_err(MIM_ERR_INVALID, "record: %s: missing",
                                      members[i].name);
            }
            continue;
        }
        if (members[i].required && *s == '\0') {
            return mim_result_err(MIM_ERR_INVALID, "record: %s: empty",
                                  members[i].name);
        }
        if (strlen(s) > members[i].max) {
            return mim_result_err(MIM_ERR_LIMIT, "record: %s: longer than "
                                  "%zu bytes", members[i].name,
                                  members[i].max);
        }
    }
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
    return mim_result_ok();
}

mim_result_t
mim_dsp_neg_to_json(const mim_dsp_neg_t *neg, char **out, size_t *len)
{
    json_t        *o, *agreement;
    mim_result_t   r;
    size_t         i;

    if (out == NULL || neg == NULL) {
        return mim_result_err(MIM_ERR_INVALID, "no record or output");
    }
    *out = NULL;
    if (len != NULL) {
        *len = 0;
    }
    r = check_record(neg);
    if (!mim_ok(r)) {
        return r;
    }
    o = json_object();
    if (o == NULL) {
        return mim_dsp_nomem();
    }
    for (i = 0; i < MEMBER_COUNT && mim_ok(r); i++) {
        switch (members[i].kind) {
        case M_STR:
            r = mim_dsp_put_str(o, members[i].name, *str_at(neg, i));
            break;
        case M_AGREEMENT:
            if (neg->agreement_json == NULL) {
                break;
            }
            /* stored as an object: the record stays one JSON document */
            r = mim_dsp_json_load(neg->agreement_json,
                                  strlen(neg->agreement_json),
                                  MIM_DSP_MAX_RECORD, "record: agreement",
                                  &agreement);
            if (mim_ok(r)) {
                r = check_agreement(neg, agreement);
                if (mim_ok(r)) {
                    r = mim_dsp_put_new(o, "agreement", agreement);
                } else {
                    json_decref(agreement);
                }
            }
            break;
        case M_STATE:
            r = mim_dsp_put_str(o, "state", state_names[neg->state]);
            break;
        default: /* M_TIME */
            r = mim_dsp_put_new(o, members[i].name, json_integer(
                *(const int64_t *) ((const char *) neg + members[i].offset)));
            break;
        }
    }
    if (mim_ok(r)) {
        r = mim_dsp_json_dump(o, out, len);
    }
    json_decref(o);
    return r;
}

/* one member of a record read into neg */
static mim_result_t
read_member(mim_dsp_neg_t *neg, size_t i, const json_t *v)
{
    const char  *name = members[i].name;
    char       **s;
    json_int_t   t;
    mim_result_t r;

    switch (members[i].kind) {
    case M_STR:
        if (!json_is_string(v)) {
            return mim_result_err(MIM_ERR_INVALID, "record: %s: expected a "
                                  "string", name);
        }
        if (json_string_length(v) > members[i].max) {
            return mim_result_err(MIM_ERR_LIMIT, "record: %s: longer than "
                                  "%zu bytes", name, members[i].max);
        }
        s = str_at(neg, i);
        *s = mim_dsp_strndup(json_string_value(v), json_string_length(v));
        return *s != NULL ? mim_result_ok() : mim_dsp_nomem();
    case M_AGREEMENT:
        if (!json_is_object(v)) {
            return mim_result_err(MIM_ERR_INVALID, "record: agreement: "
                                  "expected an object");
        }
        r = mim_dsp_json_dump(v, &neg->agreement_json, NULL);
        return r;
    case M_STATE:
        if (!json_is_string(v)
            || state_lookup(json_string_value(v), json_string_length(v),
                            &neg->state) != 0)
        {
            return mim_result_err(MIM_ERR_INVALID, "record: state: not a "
                                  "state of a negotiation");
        }
        return mim_result_ok();
    default: /* M_TIME */
        if (!json_is_integer(v)) {
            return mim_result_err(MIM_ERR_INVALID, "record: %s: expected an "
                                  "integer", name);
        }
        t = json_integer_value(v);
        *(int64_t *) ((char *) neg + members[i].offset) = (int64_t) t;
        return mim_result_ok();
    }
}

mim_result_t
mim_dsp_neg_from_json(mim_dsp_neg_t *neg, const char *json, size_t len)
{
    json_t        *root, *v;
    const char    *key;
    char           text[48];
    mim_result_t   r;
    size_t         i;

    if (neg == NULL) {
        return mim_result_err(MIM_ERR_INVALID, "no record");
    }
    memset(neg, 0, sizeof(*neg));
    r = mim_dsp_json_load(json, len, MIM_DSP_MAX_RECORD, "record", &root);
    if (!mim_ok(r)) {
        return r;
    }
    json_object_foreach(root, key, v) {
        for (i = 0; i < MEMBER_COUNT; i++) {
            if (strcmp(key, members[i].name) == 0) {
                break;
            }
        }
        if (i == MEMBER_COUNT) {
            mim_dsp_safe_text(text, sizeof(text), key, strlen(key));
            r = mim_result_err(MIM_ERR_INVALID, "record: unknown member "
                               "\"%s\"", text);
            break;
        }
        r = read_member(neg, i, v);
        if (!mim_ok(r)) {
            break;
        }
    }
    for (i = 0; mim_ok(r) && i < MEMBER_COUNT; i++) {
        if (members[i].required && members[i].kind != M_STR
            && json_object_get(root, members[i].name) == NULL)
        {
            r = mim_result_err(MIM_ERR_INVALID, "record: %s: missing",
                               members[i].name);
        }
    }
    if (mim_ok(r)) {
        r = check_record(neg);
    }
    if (mim_ok(r) && neg->agreement_json != NULL) {
        r = check_agreement(neg, json_object_get(root, "agreement"));
    }
    json_decref(root);
    if (!mim_ok(r)) {
        mim_dsp_neg_free(neg);
    }
    return r;
}

void
mim_dsp_neg_free(mim_dsp_neg_t *neg)
{
    size_t  i;

    if (neg == NULL) {
        return;
    }
    for (i = 0; i < MEMBER_COUNT; i++) {
        if (members[i].kind == M_STR || members[i].kind == M_AGREEMENT) {
            free(*str_at(neg, i));
        }
    }
    memset(neg, 0, sizeof(*neg));
}

mim_result_t
mim_dsp_neg_copy(mim_dsp_neg_t *to, const mim_dsp_neg_t *from)
{
    char  **dst;
    size_t  i;

    if (to == NULL || from == NULL) {
        return mim_result_err(MIM_ERR_INVALID, "no record");
    }
    /* the numbers, then a fresh copy of every string over the pointers */
    memcpy(to, from, sizeof(*to));
    for (i = 0; i < MEMBER_COUNT; i++) {
        if (members[i].kind == M_STR || members[i].kind == M_AGREEMENT) {
            *str_at(to, i) = NULL;
        }
    }
    for (i = 0; i < MEMBER_COUNT; i++) {
        if (members[i].kind != M_STR && members[i].kind != M_AGREEMENT) {
            continue;
        }
        if (*str_at(from, i) == NULL) {
            continue;
        }
        dst = str_at(to, i);
        *dst = strdup(*str_at(from, i));
        if (*dst == NULL) {
            mim_dsp_neg_free(to);
            return mim_dsp_nomem();
        }
    }
    return mim_result_ok();
}
