/*
 * test_dsp_neg.c - contract negotiations (dsp/mim_dsp_neg.c): the states,
 * the whole state machine against shared/spec/DSP-NOTES.md (every state x
 * every message x both senders), and the stored record: round trips, and
 * the refusal of records a tampered store could hold.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>
#include <jansson.h>

#include "mim_dsp.h"
#include "test_dsp.h"

/* ---- states ---- */

Test(dsp_neg, state_names)
{
    static const char *const  names[] = {
        "INITIAL", "REQUESTED", "OFFERED", "ACCEPTED", "AGREED", "VERIFIED",
        "FINALIZED", "TERMINATED"
    };
    mim_dsp_neg_state_t  s;
    char                 iri[96];
    int                  i;

    for (i = 0; i < 8; i++) {
        cr_assert_str_eq(mim_dsp_neg_state_name((mim_dsp_neg_state_t) i),
                         names[i]);
        if (i == 0) {
            /* a name for logs, not a state a message can carry */
            cr_assert_eq(mim_dsp_neg_state_parse("INITIAL", 7, &s), -1);
            continue;
        }
        s = MIM_DSP_NEG_INITIAL;
        cr_assert_eq(mim_dsp_neg_state_parse(names[i], strlen(names[i]), &s),
                     0);
        cr_assert_eq(s, i);
        snprintf(iri, sizeof(iri), "https://w3id.org/dspace/2025/1/%s",
                 names[i]);
        s = MIM_DSP_NEG_INITIAL;
        cr_assert_eq(mim_dsp_neg_state_parse(iri, strlen(iri), &s), 0);
        cr_assert_eq(s, i);
    }
    cr_assert_str_eq(mim_dsp_neg_state_name((mim_dsp_neg_state_t) 99),
                     "UNKNOWN");
    cr_assert_eq(mim_dsp_neg_state_parse("requested", 9, &s), -1);
    cr_assert_eq(mim_dsp_neg_state_parse("dspace:REQUESTED", 16, &s), -1);
    cr_assert_eq(mim_dsp_neg_state_parse("https://w3id.org/dspace/2025/1/",
                                         31, &s), -1);
    cr_assert_eq(mim_dsp_neg_state_parse("https://w3id.org/dspace/2024/1/"
                                         "AGREED", 37, &s), -1);
    /* the length given is what counts */
    cr_assert_eq(mim_dsp_neg_state_parse("AGREEDX", 6, &s), 0);
    cr_assert_eq(s, MIM_DSP_NEG_AGREED);
    cr_assert_eq(mim_dsp_neg_state_parse("AGREED", 5, &s), -1);
    cr_assert_eq(mim_dsp_neg_state_parse("", 0, &s), -1);
    cr_assert_eq(mim_dsp_neg_state_parse(NULL, 0, &s), -1);
}

Test(dsp_neg, message_names)
{
    cr_assert_str_eq(mim_dsp_neg_msg_name(MIM_DSP_NEG_MSG_REQUEST),
                     "ContractRequestMessage");
    cr_assert_str_eq(mim_dsp_neg_msg_name(MIM_DSP_NEG_MSG_OFFER),
                     "ContractOfferMessage");
    cr_assert_str_eq(mim_dsp_neg_msg_name(MIM_DSP_NEG_MSG_ACCEPTED),
                     "ContractNegotiationEventMessage ACCEPTED");
    cr_assert_str_eq(mim_dsp_neg_msg_name(MIM_DSP_NEG_MSG_AGREEMENT),
                     "ContractAgreementMessage");
    cr_assert_str_eq(mim_dsp_neg_msg_name(MIM_DSP_NEG_MSG_VERIFICATION),
                     "ContractAgreementVerificationMessage");
    cr_assert_str_eq(mim_dsp_neg_msg_name(MIM_DSP_NEG_MSG_FINALIZED),
                     "ContractNegotiationEventMessage FINALIZED");
    cr_assert_str_eq(mim_dsp_neg_msg_name(MIM_DSP_NEG_MSG_TERMINATION),
                     "ContractNegotiationTerminationMessage");
    cr_assert_str_eq(mim_dsp_neg_msg_name(MIM_DSP_NEG_MSG_COUNT),
                     "unknown message");
}

/* ---- the state machine ---- */

/*
 * DSP-NOTES.md, written out again here (C = the consumer sends, P = the
 * provider sends):
 *
 *   [*] -> REQUESTED (C request)            [*] -> OFFERED (P offer)
 *   REQUESTED -> OFFERED (P) | AGREED (P) | TERMINATED (C/P)
 *   OFFERED   -> REQUESTED (C counter) | ACCEPTED (C event) |
 *                TERMINATED (C/P)
 *   ACCEPTED  -> AGREED (P agreement) | TERMINATED (P)
 *   AGREED    -> VERIFIED (C verification) | TERMINATED (C)
 *   VERIFIED  -> FINALIZED (P event) | TERMINATED (P)
 *   FINALIZED, TERMINATED: terminal
 */
static const char *const  notes[] = {
    "INITIAL REQUEST C REQUESTED",
    "INITIAL OFFER P OFFERED",
    "REQUESTED OFFER P OFFERED",
    "REQUESTED AGREEMENT P AGREED",
    "REQUESTED TERMINATION C TERMINATED",
    "REQUESTED TERMINATION P TERMINATED",
    "OFFERED REQUEST C REQUESTED",
    "OFFERED ACCEPTED C ACCEPTED",
    "OFFERED TERMINATION C TERMINATED",
    "OFFERED TERMINATION P TERMINATED",
    "ACCEPTED AGREEMENT P AGREED",
    "ACCEPTED TERMINATION P TERMINATED",
    "AGREED VERIFICATION C VERIFIED",
    "AGREED TERMINATION C TERMINATED",
    "VERIFIED FINALIZED P FINALIZED",
    "VERIFIED TERMINATION P TERMINATED",
};

static const char *const  msg_words[] = {
    "REQUEST", "OFFER", "ACCEPTED", "AGREEMENT", "VERIFICATION", "FINALIZED",
    "TERMINATION"
};

static int
state_of(const char *word)
{
    mim_dsp_neg_state_t  s;

    if (strcmp(word, "INITIAL") == 0) {
        return MIM_DSP_NEG_INITIAL;
    }
    cr_assert_eq(mim_dsp_neg_state_parse(word, strlen(word), &s), 0, "%s",
                 word);
    return s;
}

static int
msg_of(const char *word)
{
    int  i;

    for (i = 0; i < MIM_DSP_NEG_MSG_COUNT; i++) {
        if (strcmp(word, msg_words[i]) == 0) {
            return i;
        }
    }
    cr_assert_fail("no message %s", word);
    return -1;
}

Test(dsp_neg, every_state_every_message_both_senders)
{
    int                  expected[8][MIM_DSP_NEG_MSG_COUNT][2];
    char                 from[16], msg[16], by[2], to[16];
    size_t               i;
    int                  s, m, p, valid = 0, refused = 0;
    mim_dsp_neg_state_t  next;
    mim_result_t         r;

    memset(expected, 0xff, sizeof(expected));       /* -1: no transition */
    for (i = 0; i < sizeof(notes) / sizeof(notes[0]); i++) {
        cr_assert_eq(sscanf(notes[i], "%15s %15s %1s %15s", from, msg, by,
                            to), 4);
        expected[state_of(from)][msg_of(msg)][by[0] == 'P'] = state_of(to);
    }
    for (s = MIM_DSP_NEG_INITIAL; s <= MIM_DSP_NEG_TERMINATED; s++) {
        for (m = 0; m < MIM_DSP_NEG_MSG_COUNT; m++) {
            for (p = 0; p < 2; p++) {
                next = (mim_dsp_neg_state_t) 77;
                r = mim_dsp_neg_next((mim_dsp_neg_state_t) s,
                                     (mim_dsp_neg_msg_t) m,
                                     p ? MIM_DSP_BY_PROVIDER
                                       : MIM_DSP_BY_CONSUMER, &next);
                if (expected[s][m][p] >= 0) {
                    cr_expect(mim_ok(r), "%s + %s by %s: %s",
                              mim_dsp_neg_state_name(s), msg_words[m],
                              p ? "P" : "C", r.msg);
                    cr_expect_eq(next, expected[s][m][p], "%s + %s by %s",
                                 mim_dsp_neg_state_name(s), msg_words[m],
                                 p ? "P" : "C");
                    valid++;
                    continue;
                }
                refused++;
                cr_expect_eq(r.code, MIM_ERR_INVALID, "%s + %s by %s "
                             "accepted", mim_dsp_neg_state_name(s),
                             msg_words[m], p ? "P" : "C");
                /* the state does not move */
                cr_expect_eq(next, s);
                /* the reason names the message and the state */
                cr_expect(strstr(r.msg, mim_dsp_neg_msg_name(m)) != NULL,
                          "%s", r.msg);
                cr_expect(strstr(r.msg, mim_dsp_neg_state_name(s)) != NULL,
                          "%s", r.msg);
            }
        }
    }
    cr_assert_eq(valid, 16);
    cr_assert_eq(valid + refused, 8 * MIM_DSP_NEG_MSG_COUNT * 2);
}

Test(dsp_neg, reasons_of_refused_transitions)
{
    mim_dsp_neg_state_t  next;
    mim_result_t         r;

    r = mim_dsp_neg_next(MIM_DSP_NEG_REQUESTED,
                         MIM_DSP_NEG_MSG_VERIFICATION, MIM_DSP_BY_CONSUMER,
                         &next);
    cr_assert_str_eq(r.msg, "a ContractAgreementVerificationMessage is not "
                     "valid in state REQUESTED");
    /* the right message from the wrong party */
    r = mim_dsp_neg_next(MIM_DSP_NEG_VERIFIED, MIM_DSP_NEG_MSG_FINALIZED,
                         MIM_DSP_BY_CONSUMER, &next);
    cr_assert_str_eq(r.msg, "a ContractNegotiationEventMessage FINALIZED "
                     "from the consumer is not valid in state VERIFIED: "
                     "only the provider sends it");
    r = mim_dsp_neg_next(MIM_DSP_NEG_ACCEPTED, MIM_DSP_NEG_MSG_TERMINATION,
                         MIM_DSP_BY_CONSUMER, &next);
    cr_assert_str_eq(r.msg, "a ContractNegotiationTerminationMessage from "
                     "the consumer is not valid in state ACCEPTED: only the "
                     "provider sends it");
    r = mim_dsp_neg_next(MIM_DSP_NEG_FINALIZED, MIM_DSP_NEG_MSG_TERMINATION,
                         MIM_DSP_BY_PROVIDER, &next);
    cr_assert_str_eq(r.msg, "a ContractNegotiationTerminationMessage is not "
                     "valid in state FINALIZED: the negotiation is over");
    cr_assert_eq(next, MIM_DSP_NEG_FINALIZED);

    /* arguments */
    r = mim_dsp_neg_next(MIM_DSP_NEG_REQUESTED, MIM_DSP_NEG_MSG_COUNT,
                         MIM_DSP_BY_PROVIDER, &next);
    cr_assert_eq(r.code, MIM_ERR_INVALID);
    r = mim_dsp_neg_next((mim_dsp_neg_state_t) 8, MIM_DSP_NEG_MSG_OFFER,
                         MIM_DSP_BY_PROVIDER, &next);
    cr_assert_eq(r.code, MIM_ERR_INVALID);
    r = mim_dsp_neg_next(MIM_DSP_NEG_INITIAL, MIM_DSP_NEG_MSG_OFFER,
                         (mim_dsp_party_t) 2, &next);
    cr_assert_eq(r.code, MIM_ERR_INVALID);
    r = mim_dsp_neg_next(MIM_DSP_NEG_INITIAL, MIM_DSP_NEG_MSG_OFFER,
                         MIM_DSP_BY_PROVIDER, NULL);
    cr_assert_eq(r.code, MIM_ERR_INVALID);
}

/* ---- the record ---- */

#define AGREEMENT_ID  "urn:uuid:7b4c1a90-2f6e-4d3a-b8e2-1c9d5e7f0a12"
#define AGREEMENT \
    "{\"@id\":\"" AGREEMENT_ID "\",\"@type\":\"Agreement\",\"target\":" \
    "\"urn:mim:dataset:parking\",\"assigner\":\"did:web:city.example\"," \
    "\"assignee\":\"did:web:c.example\",\"timestamp\":" \
    "\"2026-11-25T10:00:00Z\",\"permission\":[{\"action\":\"use\"}]}"

/* every member set; strings the test owns */
static mim_dsp_neg_t
full_record(void)
{
    mim_dsp_neg_t  n;

    memset(&n, 0, sizeof(n));
    n.provider_pid = "urn:uuid:a343fcbf-99fc-4ce8-8e9b-148c97605aab";
    n.consumer_pid = "urn:uuid:32541fe6-c580-409e-85a8-8a9a32fbe833";
    n.consumer = "did:web:c.example";
    n.callback_address = "https://c.example/cb/";
    n.dataset = "urn:mim:dataset:parking";
    n.offer_id = "urn:mim:offer:parking-open";
    n.agreement_id = AGREEMENT_ID;
    n.agreement_json = AGREEMENT;
    n.code = "counter-offer";
    n.reason = "[{\"message\":\"no \\\"thanks\\\"\"},\"\xc3\xa9\"]";
    n.state = MIM_DSP_NEG_TERMINATED;
    n.created = 1795600800;
    n.updated = 1795600860;
    return n;
}

static void
same_record(const mim_dsp_neg_t *a, const mim_dsp_neg_t *b)
{
#define SAME(m) \
    if (a->m == NULL || b->m == NULL) { \
        cr_assert_eq(a->m, b->m, #m); \
    } else { \
        cr_assert_str_eq(a->m, b->m, #m); \
    }
    SAME(provider_pid);
    SAME(consumer_pid);
    SAME(consumer);
    SAME(callback_address);
    SAME(dataset);
    SAME(offer_id);
    SAME(agreement_id);
    SAME(agreement_json);
    SAME(code);
    SAME(reason);
#undef SAME
    cr_assert_eq(a->state, b->state);
    cr_assert_eq(a->created, b->created);
    cr_assert_eq(a->updated, b->updated);
}

static char *
to_json(const mim_dsp_neg_t *n)
{
    char          *json;
    size_t         len;
    mim_result_t   r = mim_dsp_neg_to_json(n, &json, &len);

    cr_assert(mim_ok(r), "%s", r.msg);
    cr_assert_eq(strlen(json), len);
    return json;
}

Test(dsp_neg, record_round_trip)
{
    mim_dsp_neg_t   n = full_record(), back;
    mim_result_t    r;
    json_t         *v;
    char           *json, *again;

    json = to_json(&n);
    cr_assert_str_eq(json, "{\"providerPid\":\"urn:uuid:a343fcbf-99fc-4ce8-"
                     "8e9b-148c97605aab\",\"consumerPid\":\"urn:uuid:"
                     "32541fe6-c580-409e-85a8-8a9a32fbe833\",\"consumer\":"
                     "\"did:web:c.example\",\"callbackAddress\":"
                     "\"https://c.example/cb/\",\"dataset\":"
                     "\"urn:mim:dataset:parking\",\"offerId\":"
                     "\"urn:mim:offer:parking-open\",\"agreementId\":\""
                     AGREEMENT_ID "\",\"agreement\":" AGREEMENT ","
                     "\"code\":\"counter-offer\",\"reason\":\"[{\\\""
                     "message\\\":\\\"no \\\\\\\"thanks\\\\\\\"\\\"},\\\""
                     "\xc3\xa9\\\"]\",\"state\":\"TERMINATED\",\"created\":"
                     "1795600800,\"updated\":1795600860}");
    /* the agreement is an object in the record, not a string */
    v = td_json(json);
    cr_assert(json_is_object(json_object_get(v, "agreement")));
    json_decref(v);

    r = mim_dsp_neg_from_json(&back, json, strlen(json));
    cr_assert(mim_ok(r), "%s", r.msg);
    same_record(&n, &back);
    again = to_json(&back);
    cr_assert_str_eq(again, json);
    free(again);
    mim_dsp_neg_free(&back);
    free(json);

    /* the least a record has */
    memset(&n, 0, sizeof(n));
    n.provider_pid = "urn:p";
    n.consumer_pid = "urn:c";
    n.consumer = "EU.EORI.X";
    n.callback_address = "http://c/";
    n.state = MIM_DSP_NEG_REQUESTED;
    json = to_json(&n);
    cr_assert_str_eq(json, "{\"providerPid\":\"urn:p\",\"consumerPid\":"
                     "\"urn:c\",\"consumer\":\"EU.EORI.X\","
                     "\"callbackAddress\":\"http://c/\",\"state\":"
                     "\"REQUESTED\",\"created\":0,\"updated\":0}");
    r = mim_dsp_neg_from_json(&back, json, strlen(json));
    cr_assert(mim_ok(r), "%s", r.msg);
    same_record(&n, &back);
    mim_dsp_neg_free(&back);
    free(json);

    /* every state, with what it needs */
    for (n.state = MIM_DSP_NEG_REQUESTED; n.state <= MIM_DSP_NEG_TERMINATED;
         n.state++)
    {
        n.agreement_id = AGREEMENT_ID;
        n.agreement_json = AGREEMENT;
        json = to_json(&n);
        r = mim_dsp_neg_from_json(&back, json, strlen(json));
        cr_assert(mim_ok(r), "%s", r.msg);
        same_record(&n, &back);
        mim_dsp_neg_free(&back);
        free(json);
    }
}

/* the members every record has, but state and times */
#define RECORD_PIDS  "{\"providerPid\":\"p\",\"consumerPid\":\"c\","
#define RECORD_HEAD  RECORD_PIDS "\"consumer\":\"x\",\"callbackAddress\":" \
                     "\"http://c/\","

Test(dsp_neg, tampered_records_are_refused)
{
    static const struct {
        const char  *json;
        const char  *reason;    /* the start of r.msg */
    } bad[] = {
        { "", "record: empty" },
        { "[]", "record: not a JSON object" },
        { "{\"providerPid\":\"p\"", "record: not JSON" },
        { "{\"providerPid\":\"p\",\"providerPid\":\"q\"}",
          "record: not JSON" },
        { "{\"consumerPid\":\"c\",\"consumer\":\"x\",\"callbackAddress\":"
          "\"http://c/\",\"state\":\"REQUESTED\",\"created\":0,"
          "\"updated\":0}", "record: providerPid: missing" },
        { "{\"providerPid\":\"\",\"consumerPid\":\"c\",\"consumer\":\"x\","
          "\"callbackAddress\":\"http://c/\",\"state\":"
          "\"REQUESTED\",\"created\":0,\"updated\":0}",
          "record: providerPid: empty" },
        { RECORD_HEAD "\"created\":0,"
          "\"updated\":0}", "record: state: missing" },
        { RECORD_HEAD "\"state\":"
          "\"REQUESTED\",\"updated\":0}", "record: created: missing" },
        { RECORD_HEAD "\"state\":"
          "\"REQUESTED\",\"created\":0,\"updated\":0,\"admin\":true}",
          "record: unknown member \"admin\"" },
        { "{\"providerPid\":7,\"consumerPid\":\"c\",\"consumer\":\"x\","
          "\"callbackAddress\":\"http://c/\",\"state\":"
          "\"REQUESTED\",\"created\":0,\"updated\":0}",
          "record: providerPid: expected a string" },
        { RECORD_PIDS "\"consumer\":null,\"callbackAddress\":\"http://c/\","
          "\"state\":\"REQUESTED\",\"created\":0,\"updated\":0}",
          "record: consumer: expected a string" },
        { RECORD_PIDS "\"callbackAddress\":\"http://c/\",\"state\":"
          "\"REQUESTED\",\"created\":0,\"updated\":0}",
          "record: consumer: missing" },
        { RECORD_PIDS "\"consumer\":\"x\",\"state\":\"REQUESTED\","
          "\"created\":0,\"updated\":0}",
          "record: callbackAddress: missing" },
        { RECORD_HEAD "\"state\":"
          "\"BOGUS\",\"created\":0,\"updated\":0}",
          "record: state: not a state of a negotiation" },
        { RECORD_HEAD "\"state\":"
          "\"INITIAL\",\"created\":0,\"updated\":0}",
          "record: state: not a state" },
        { RECORD_HEAD "\"state\":"
          "\"https://w3id.org/dspace/2025/1/REQUESTED\",\"created\":0,"
          "\"updated\":0}", "record: state: not a state" },
        { RECORD_HEAD "\"state\":1,"
          "\"created\":0,\"updated\":0}", "record: state: not a state" },
        { RECORD_HEAD "\"state\":"
          "\"REQUESTED\",\"created\":\"0\",\"updated\":0}",
          "record: created: expected an integer" },
        { RECORD_HEAD "\"state\":"
          "\"REQUESTED\",\"created\":1.5,\"updated\":2}",
          "record: created: expected an integer" },
        { RECORD_HEAD "\"state\":"
          "\"REQUESTED\",\"created\":-1,\"updated\":0}",
          "record: created, updated: not 0 <= created <= updated" },
        { RECORD_HEAD "\"state\":"
          "\"REQUESTED\",\"created\":10,\"updated\":9}",
          "record: created, updated" },
        { RECORD_HEAD "\"state\":"
          "\"AGREED\",\"created\":0,\"updated\":0}",
          "record: state AGREED without agreementId and agreement" },
        { RECORD_HEAD "\"agreementId\":"
          "\"" AGREEMENT_ID "\",\"state\":\"FINALIZED\",\"created\":0,"
          "\"updated\":0}", "record: state FINALIZED without" },
        { RECORD_HEAD "\"agreementId\":"
          "\"urn:other\",\"agreement\":" AGREEMENT ",\"state\":\"AGREED\","
          "\"created\":0,\"updated\":0}",
          "record: agreement.@id is not agreementId" },
        { RECORD_HEAD "\"agreement\":"
          AGREEMENT ",\"state\":\"REQUESTED\",\"created\":0,\"updated\":0}",
          "record: an agreement without agreementId" },
        { RECORD_HEAD "\"agreementId\":"
          "\"" AGREEMENT_ID "\",\"agreement\":\"" AGREEMENT_ID "\","
          "\"state\":\"AGREED\",\"created\":0,\"updated\":0}",
          "record: agreement: expected an object" },
    };
    mim_dsp_neg_t  n;
    mim_result_t   r;
    size_t         i;

    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        memset(&n, 0x5a, sizeof(n));
        r = mim_dsp_neg_from_json(&n, bad[i].json, strlen(bad[i].json));
        cr_expect_neq(r.code, MIM_OK, "accepted: %s", bad[i].json);
        cr_expect(strncmp(r.msg, bad[i].reason, strlen(bad[i].reason)) == 0,
                  "expected \"%s...\", got \"%s\"\nfor %s", bad[i].reason,
                  r.msg, bad[i].json);
        /* nothing half-read is left behind */
        cr_expect_null(n.provider_pid);
        cr_expect_null(n.agreement_json);
        cr_expect_eq(n.state, MIM_DSP_NEG_INITIAL);
        mim_dsp_neg_free(&n);
    }
}

Test(dsp_neg, oversized_records_are_refused)
{
    mim_dsp_neg_t   n;
    mim_result_t    r;
    char           *json, *long_pid;
    size_t          len;

    long_pid = malloc(2050);
    cr_assert_not_null(long_pid);
    memset(long_pid, 'p', 2049);
    long_pid[2049] = '\0';
    json = malloc(4096);
    cr_assert_not_null(json);
    snprintf(json, 4096, "{\"providerPid\":\"%s\",\"consumerPid\":\"c\","
             "\"consumer\":\"x\",\"callbackAddress\":\"http://c/\","
             "\"state\":\"REQUESTED\",\"created\":0,\"updated\":0}",
             long_pid);
    r = mim_dsp_neg_from_json(&n, json, strlen(json));
    cr_assert_eq(r.code, MIM_ERR_LIMIT);
    cr_assert_str_eq(r.msg, "record: providerPid: longer than 2048 bytes");
    free(json);

    /* and to_json will not write what from_json would refuse */
    memset(&n, 0, sizeof(n));
    n.provider_pid = long_pid;
    n.consumer_pid = "urn:c";
    n.state = MIM_DSP_NEG_REQUESTED;
    r = mim_dsp_neg_to_json(&n, &json, &len);
    cr_assert_eq(r.code, MIM_ERR_LIMIT);
    cr_assert_null(json);
    free(long_pid);

    /* a whole record over 2 MiB */
    len = 3 * 1024 * 1024;
    json = malloc(len);
    cr_assert_not_null(json);
    memset(json, ' ', len);
    json[0] = '{';
    json[len - 1] = '}';
    r = mim_dsp_neg_from_json(&n, json, len);
    cr_assert_eq(r.code, MIM_ERR_LIMIT);
    free(json);
}

Test(dsp_neg, to_json_refuses_what_cannot_be_read_back)
{
    mim_dsp_neg_t   n;
    mim_result_t    r;
    char           *json = (char *) 1;
    size_t          len = 3;

    n = full_record();
    n.state = MIM_DSP_NEG_INITIAL;
    r = mim_dsp_neg_to_json(&n, &json, &len);
    cr_assert_str_eq(r.msg, "record: state: not a state of a negotiation");
    cr_assert_null(json);
    cr_assert_eq(len, 0);

    n = full_record();
    n.consumer_pid = NULL;
    r = mim_dsp_neg_to_json(&n, &json, &len);
    cr_assert_str_eq(r.msg, "record: consumerPid: missing");

    n = full_record();
    n.updated = n.created - 1;
    r = mim_dsp_neg_to_json(&n, &json, &len);
    cr_assert_eq(r.code, MIM_ERR_INVALID);

    n = full_record();
    n.state = MIM_DSP_NEG_VERIFIED;
    n.agreement_json = NULL;
    r = mim_dsp_neg_to_json(&n, &json, &len);
    cr_assert_str_eq(r.msg, "record: state VERIFIED without agreementId and "
                     "agreement");

    n = full_record();
    n.agreement_json = "[\"an agreement\"]";
    r = mim_dsp_neg_to_json(&n, &json, &len);
    cr_assert_str_eq(r.msg, "record: agreement: not a JSON object");
    n.agreement_json = "\"an agreement\"";
    r = mim_dsp_neg_to_json(&n, &json, &len);
    cr_assert(strncmp(r.msg, "record: agreement: not JSON", 27) == 0, "%s",
              r.msg);

    n = full_record();
    n.agreement_id = "urn:other";
    r = mim_dsp_neg_to_json(&n, &json, &len);
    cr_assert_str_eq(r.msg, "record: agreement.@id is not agreementId");

    n = full_record();
    n.consumer = "caf\xe9";
    r = mim_dsp_neg_to_json(&n, &json, &len);
    cr_assert_str_eq(r.msg, "consumer: not UTF-8 text");
    cr_assert_null(json);

    r = mim_dsp_neg_to_json(NULL, &json, &len);
    cr_assert_eq(r.code, MIM_ERR_INVALID);
    r = mim_dsp_neg_from_json(NULL, "{}", 2);
    cr_assert_eq(r.code, MIM_ERR_INVALID);
}

Test(dsp_neg, copy_and_free)
{
    mim_dsp_neg_t   n = full_record(), a, b;
    mim_result_t    r;

    memset(&a, 0x5a, sizeof(a));
    r = mim_dsp_neg_copy(&a, &n);
    cr_assert(mim_ok(r), "%s", r.msg);
    same_record(&n, &a);
    /* fresh strings */
    cr_assert_neq(a.provider_pid, n.provider_pid);
    cr_assert_neq(a.agreement_json, n.agreement_json);
    r = mim_dsp_neg_copy(&b, &a);
    cr_assert(mim_ok(r));
    mim_dsp_neg_free(&a);
    cr_assert_null(a.provider_pid);
    cr_assert_eq(a.state, MIM_DSP_NEG_INITIAL);
    same_record(&n, &b);
    mim_dsp_neg_free(&b);

    /* NULL members stay NULL */
    memset(&n, 0, sizeof(n));
    n.provider_pid = "urn:p";
    n.updated = 5;
    r = mim_dsp_neg_copy(&a, &n);
    cr_assert(mim_ok(r));
    same_record(&n, &a);
    mim_dsp_neg_free(&a);

    /* a zeroed record, twice, and none */
    memset(&a, 0, sizeof(a));
    mim_dsp_neg_free(&a);
    mim_dsp_neg_free(&a);
    mim_dsp_neg_free(NULL);
    r = mim_dsp_neg_copy(NULL, &n);
    cr_assert_eq(r.code, MIM_ERR_INVALID);
}
