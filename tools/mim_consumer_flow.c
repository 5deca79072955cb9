/*
 * mim_consumer_flow.c - contract negotiation and transfer, consumer side
 * (shared/spec/DSP-NOTES.md has both state machines).
 *
 *   negotiation: ContractRequestMessage -> 201 REQUESTED; the provider's
 *     ContractAgreementMessage (AGREED); our verification (VERIFIED); its
 *     FINALIZED event.  A counter-offer is not negotiated: we terminate.
 *   transfer: TransferRequestMessage -> 201 REQUESTED; the provider's
 *     TransferStartMessage with the DataAddress (STARTED).
 *
 * The provider's messages come through the callback listener; each is
 * checked against the state we are in, and anything out of order ends
 * the process with our termination message and the reason.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mim_consumer.h"
#include "mim_dsp.h"

#define MIM_ABORT_CODE  "consumer-abort"

static void
mim_consumer_states_add(char *states, size_t len, const char *state)
{
    size_t  n = strlen(states);

    snprintf(states + n, len - n, "%s%s", n ? " -> " : "", state);
}

static mim_result_t
mim_consumer_new_pid(char **pid)
{
    char          buf[MIM_DSP_UUID_LEN];
    mim_result_t  rc;

    rc = mim_dsp_new_urn_uuid(buf);
    if (mim_ok(rc)) {
        *pid = strdup(buf);
        if (*pid == NULL) {
            rc = mim_result_err(MIM_ERR_NOMEM, "out of memory");
        }
    }

    return rc;
}

/*
 * The first answer (201 ContractNegotiation / TransferProcess): it must
 * echo our consumerPid and name the provider's.
 */
static mim_result_t
mim_consumer_created(json_t *answer, const char *cpid, char **ppid,
    const char **state)
{
    const char  *v = mim_consumer_str(answer, "consumerPid");

    if (v == NULL || strcmp(v, cpid) != 0) {
        return mim_result_err(MIM_ERR_MISMATCH, "the answer names "
                              "consumerPid %.100s, not ours (%s)",
                              v ? v : "(none)", cpid);
    }

    /* the schema requires both, our rules a known state */
    *state = mim_consumer_state_name(mim_consumer_str(answer, "state"));
    v = mim_consumer_str(answer, "providerPid");
    *ppid = v ? strdup(v) : NULL;
    return *ppid ? mim_result_ok()
                 : mim_result_err(MIM_ERR_NOMEM, "out of memory");
}

/* a callback of the process ppid: valid, and for it */
static mim_result_t
mim_consumer_callback_ok(const mim_cb_msg_t *m, const char *ppid)
{
    const char  *v;

    if (m->error != NULL) {
        return mim_result_err(MIM_ERR_INVALID, "the provider POSTed an "
                              "invalid message to .../%s: %s", m->what,
                              m->error);
    }

    v = mim_consumer_str(m->json, "providerPid");
    if (v == NULL || strcmp(v, ppid) != 0) {
        return mim_result_err(MIM_ERR_MISMATCH, "%s names providerPid "
                              "%.100s, not %.100s", m->type,
                              v ? v : "(none)", ppid);
    }

    return mim_result_ok();
}

static mim_result_t
mim_consumer_terminated(const mim_cb_msg_t *m, const char *what)
{
    char  reason[400];

    mim_consumer_reason(m->json, reason, sizeof(reason));
    return mim_result_err(MIM_ERR_INVALID, "the provider terminated the %s: "
                          "%s", what, reason);
}

/* ---- negotiation ---- */

static void
mim_consumer_neg_state(mim_consumer_neg_t *neg, const char *state)
{
    neg->state = state;
    mim_consumer_states_add(neg->states, sizeof(neg->states), state);
}

static mim_result_t
mim_consumer_verify(mim_consumer_t *c, mim_consumer_neg_t *neg)
{
    mim_result_t   rc;
    json_t        *msg, *answer = NULL;
    char          *url;

    msg = mim_consumer_message("ContractAgreementVerificationMessage");
    url = mim_consumer_pid_url(c, "negotiations", neg->provider_pid,
                               "/agreement/verification");
    if (msg == NULL || url == NULL
        || json_object_set_new(msg, "providerPid",
                               json_string(neg->provider_pid))
        || json_object_set_new(msg, "consumerPid",
                               json_string(neg->consumer_pid)))
    {
        rc = mim_result_err(MIM_ERR_NOMEM, "out of memory");
    } else {
        rc = mim_consumer_post(c, "verification", url, msg, 200, NULL,
                               &answer);
    }

    json_decref(msg);
    json_decref(answer);
    free(url);
    return rc;
}

/* the agreement: once, for the offer's target */
static mim_result_t
mim_consumer_on_agreement(mim_consumer_t *c, mim_consumer_neg_t *neg,
    json_t *offer, json_t *msg)
{
    json_t       *agr = json_object_get(msg, "agreement");
    const char   *id = mim_consumer_str(agr, "@id");
    const char   *target = mim_consumer_str(agr, "target");
    const char   *want = mim_consumer_str(offer, "target");
    mim_result_t  rc;

    if (neg->agreement != NULL) {
        /* delivered again (at least once): the same one is no news */
        if (strcmp(mim_consumer_str(neg->agreement, "@id"), id) == 0) {
            return mim_result_ok();
        }
        return mim_result_err(MIM_ERR_INVALID, "a second agreement %.100s "
                              "in state %s", id, neg->state);
    }

    if (neg->state != NULL && strcmp(neg->state, "REQUESTED") != 0
        && strcmp(neg->state, "ACCEPTED") != 0)
    {
        return mim_result_err(MIM_ERR_INVALID, "an agreement in state %s",
                              neg->state);
    }

    if (target == NULL || strcmp(target, want) != 0) {
        return mim_result_err(MIM_ERR_MISMATCH, "the agreement's target "
                              "%.100s is not the offer's (%.100s)",
                              target ? target : "(none)", want);
    }

    neg->agreement = json_incref(agr);
    mim_consumer_neg_state(neg, "AGREED");

    rc = mim_consumer_verify(c, neg);
    if (mim_ok(rc)) {
        mim_consumer_neg_state(neg, "VERIFIED");
    }

    return rc;
}

static mim_result_t
mim_consumer_neg_step(mim_consumer_t *c, mim_consumer_neg_t *neg,
    json_t *offer, const mim_cb_msg_t *m)
{
    mim_result_t  rc;

    rc = mim_consumer_callback_ok(m, neg->provider_pid);
    if (!mim_ok(rc)) {
        return rc;
    }

    if (strcmp(m->what, "agreement") == 0) {
        return mim_consumer_on_agreement(c, neg, offer, m->json);
    }

    if (strcmp(m->what, "termination") == 0) {
        mim_consumer_neg_state(neg, "TERMINATED");
        return mim_consumer_terminated(m, "negotiation");
    }

    if (strcmp(m->what, "offers") == 0) {
        return mim_result_err(MIM_ERR_UNSUPPORTED, "the provider made a "
                              "counter-offer (%.100s): not accepted",
                              mim_consumer_str(json_object_get(m->json,
                                                               "offer"),
                                               "@id"));
    }

    /* events: FINALIZED (the listener refuses any other) */
    if (neg->state == NULL || strcmp(neg->state, "VERIFIED") != 0) {
        return mim_result_err(MIM_ERR_INVALID, "FINALIZED in state %s",
                              neg->state ? neg->state : "unknown");
    }

    mim_consumer_neg_state(neg, "FINALIZED");
    return mim_result_ok();
}

/* callbacks until FINALIZED */
static mim_result_t
mim_consumer_neg_wait(mim_consumer_t *c, mim_consumer_neg_t *neg,
    json_t *offer)
{
    mim_cb_msg_t  *m;
    mim_result_t   rc = mim_result_ok();

    while (mim_ok(rc) && strcmp(neg->state, "FINALIZED") != 0) {
        m = mim_cb_wait(c->cb, MIM_CB_NEGOTIATION, neg->consumer_pid,
                        c->timeout * 1000);
        if (m == NULL) {
            return mim_result_err(MIM_ERR_IO, "no %s from the provider "
                                  "within %ld s (state %s)",
                                  neg->agreement ? "FINALIZED event"
                                                 : "agreement",
                                  c->timeout, neg->state);
        }

        rc = mim_consumer_neg_step(c, neg, offer, m);
        mim_cb_msg_free(m);
    }

    return rc;
}

static void
mim_consumer_neg_abort(mim_consumer_t *c, mim_consumer_neg_t *neg,
    const char *why)
{
    mim_result_t   rc;
    json_t        *msg, *answer = NULL;
    char          *url;

    msg = json_pack("{s:[s], s:s, s:s, s:s, s:s, s:[s]}",
                    "@context", MIM_DSP_CONTEXT,
                    "@type", "ContractNegotiationTerminationMessage",
                    "providerPid", neg->provider_pid,
                    "consumerPid", neg->consumer_pid,
                    "code", MIM_ABORT_CODE, "reason", why);
    url = mim_consumer_pid_url(c, "negotiations", neg->provider_pid,
                               "/termination");

    rc = (msg && url) ? mim_consumer_post(c, "termination", url, msg, 200,
                                          NULL, &answer)
                      : mim_result_err(MIM_ERR_NOMEM, "out of memory");
    if (mim_ok(rc)) {
        mim_consumer_neg_state(neg, "TERMINATED");
    } else {
        mim_consumer_progress("negotiation %s: cannot terminate it: %s",
                              neg->provider_pid, rc.msg);
    }

    json_decref(msg);
    json_decref(answer);
    free(url);
}

static mim_result_t
mim_consumer_neg_request(mim_consumer_t *c, json_t *offer,
    mim_consumer_neg_t *neg)
{
    mim_result_t   rc;
    json_t        *msg, *answer = NULL;
    char          *url;

    msg = json_pack("{s:[s], s:s, s:s, s:O, s:s}",
                    "@context", MIM_DSP_CONTEXT,
                    "@type", "ContractRequestMessage",
                    "consumerPid", neg->consumer_pid, "offer", offer,
                    "callbackAddress", mim_cb_url(c->cb));
    url = mim_sprintf("%s/negotiations/request", c->base);

    rc = (msg && url) ? mim_consumer_post(c, "negotiation", url, msg, 201,
                                          "ContractNegotiation", &answer)
                      : mim_result_err(MIM_ERR_NOMEM, "out of memory");
    if (mim_ok(rc)) {
        rc = mim_consumer_created(answer, neg->consumer_pid,
                                  &neg->provider_pid, &neg->state);
    }
    if (mim_ok(rc)) {
        mim_consumer_states_add(neg->states, sizeof(neg->states),
                                neg->state);
        rc = mim_cb_bind(c->cb, MIM_CB_NEGOTIATION, neg->consumer_pid,
                         neg->provider_pid);
    }

    json_decref(msg);
    json_decref(answer);
    free(url);
    return rc;
}

mim_result_t
mim_consumer_negotiate(mim_consumer_t *c, json_t *offer,
    mim_consumer_neg_t *neg)
{
    mim_result_t  rc;

    memset(neg, 0, sizeof(*neg));

    rc = mim_consumer_new_pid(&neg->consumer_pid);
    if (mim_ok(rc)) {
        rc = mim_cb_expect(c->cb, MIM_CB_NEGOTIATION, neg->consumer_pid);
    }
    if (mim_ok(rc)) {
        rc = mim_consumer_neg_request(c, offer, neg);
    }
    if (!mim_ok(rc)) {
        return rc;
    }

    rc = mim_consumer_neg_wait(c, neg, offer);

    if (!mim_ok(rc) && strcmp(neg->state, "TERMINATED") != 0
        && strcmp(neg->state, "FINALIZED") != 0)
    {
        mim_consumer_neg_abort(c, neg, rc.msg);
    }

    mim_consumer_progress("negotiation %s: %s%s%s", neg->provider_pid,
                          neg->states, neg->agreement ? ", agreement " : "",
                          neg->agreement
                          ? mim_consumer_str(neg->agreement, "@id") : "");
    return rc;
}

void
mim_consumer_neg_free(mim_consumer_neg_t *neg)
{
    free(neg->provider_pid);
    free(neg->consumer_pid);
    json_decref(neg->agreement);
    memset(neg, 0, sizeof(*neg));
}

/* ---- transfer ---- */

/* the authorization endpoint property, or NULL */
static const char *
mim_consumer_address_token(json_t *addr)
{
    const char  *name;
    json_t      *p;
    size_t       i;

    json_array_foreach(json_object_get(addr, "endpointProperties"), i, p) {
        name = mim_consumer_str(p, "name");
        if (name != NULL && strcmp(name, "authorization") == 0) {
            return mim_consumer_str(p, "value");
        }
    }

    return NULL;
}

static mim_result_t
mim_consumer_tp_step(mim_consumer_tp_t *tp, const mim_cb_msg_t *m)
{
    mim_result_t  rc;

    rc = mim_consumer_callback_ok(m, tp->provider_pid);
    if (!mim_ok(rc)) {
        return rc;
    }

    if (strcmp(m->what, "termination") == 0) {
        tp->state = "TERMINATED";
        return mim_consumer_terminated(m, "transfer");
    }

    if (strcmp(m->what, "start") != 0 || strcmp(tp->state, "REQUESTED")) {
        return mim_result_err(MIM_ERR_INVALID, "a %s in state %s", m->type,
                              tp->state);
    }

    /* the listener checked it: an HTTP endpoint, a bearer token or none */
    tp->data_address = json_incref(json_object_get(m->json, "dataAddress"));
    tp->endpoint = mim_consumer_str(tp->data_address, "endpoint");
    tp->token = mim_consumer_address_token(tp->data_address);
    tp->state = "STARTED";
    return mim_result_ok();
}

static mim_result_t
mim_consumer_tp_wait(mim_consumer_t *c, mim_consumer_tp_t *tp)
{
    mim_cb_msg_t  *m;
    mim_result_t   rc = mim_result_ok();

    while (mim_ok(rc) && strcmp(tp->state, "STARTED") != 0) {
        m = mim_cb_wait(c->cb, MIM_CB_TRANSFER, tp->consumer_pid,
                        c->timeout * 1000);
        if (m == NULL) {
            return mim_result_err(MIM_ERR_IO, "no TransferStartMessage from "
                                  "the provider within %ld s (state %s)",
                                  c->timeout, tp->state);
        }

        rc = mim_consumer_tp_step(tp, m);
        mim_cb_msg_free(m);
    }

    return rc;
}

/* TransferCompletionMessage or TransferTerminationMessage */
static mim_result_t
mim_consumer_tp_send(mim_consumer_t *c, mim_consumer_tp_t *tp,
    const char *type, const char *tail, const char *why)
{
    mim_result_t   rc;
    json_t        *msg, *answer = NULL;
    char          *url;

    msg = json_pack("{s:[s], s:s, s:s, s:s}", "@context", MIM_DSP_CONTEXT,
                    "@type", type, "providerPid", tp->provider_pid,
                    "consumerPid", tp->consumer_pid);
    if (msg != NULL && why != NULL
        && (json_object_set_new(msg, "code", json_string(MIM_ABORT_CODE))
            || json_object_set_new(msg, "reason", json_pack("[s]", why))))
    {
        json_decref(msg);
        msg = NULL;
    }

    url = mim_consumer_pid_url(c, "transfers", tp->provider_pid, tail);

    rc = (msg && url) ? mim_consumer_post(c, tail + 1, url, msg, 200, NULL,
                                          &answer)
                      : mim_result_err(MIM_ERR_NOMEM, "out of memory");

    json_decref(msg);
    json_decref(answer);
    free(url);
    return rc;
}

static mim_result_t
mim_consumer_tp_request(mim_consumer_t *c, const char *agreement_id,
    const char *format, mim_consumer_tp_t *tp)
{
    mim_result_t   rc;
    json_t        *msg, *answer = NULL;
    char          *url;

    msg = json_pack("{s:[s], s:s, s:s, s:s, s:s, s:s}",
                    "@context", MIM_DSP_CONTEXT,
                    "@type", "TransferRequestMessage",
                    "consumerPid", tp->consumer_pid,
                    "agreementId", agreement_id, "format", format,
                    "callbackAddress", mim_cb_url(c->cb));
    url = mim_sprintf("%s/transfers/request", c->base);

    rc = (msg && url) ? mim_consumer_post(c, "transfer", url, msg, 201,
                                          "TransferProcess", &answer)
                      : mim_result_err(MIM_ERR_NOMEM, "out of memory");
    if (mim_ok(rc)) {
        rc = mim_consumer_created(answer, tp->consumer_pid,
                                  &tp->provider_pid, &tp->state);
    }
    if (mim_ok(rc)) {
        rc = mim_cb_bind(c->cb, MIM_CB_TRANSFER, tp->consumer_pid,
                         tp->provider_pid);
    }

    json_decref(msg);
    json_decref(answer);
    free(url);
    return rc;
}

mim_result_t
mim_consumer_transfer(mim_consumer_t *c, const char *agreement_id,
    const char *format, mim_consumer_tp_t *tp)
{
    mim_result_t   rc;
    const char    *first;

    memset(tp, 0, sizeof(*tp));

    rc = mim_consumer_new_pid(&tp->consumer_pid);
    if (mim_ok(rc)) {
        rc = mim_cb_expect(c->cb, MIM_CB_TRANSFER, tp->consumer_pid);
    }
    if (mim_ok(rc)) {
        rc = mim_consumer_tp_request(c, agreement_id, format, tp);
    }
    if (!mim_ok(rc)) {
        return rc;
    }

    first = tp->state;
    rc = mim_consumer_tp_wait(c, tp);

    if (!mim_ok(rc) && strcmp(tp->state, "TERMINATED") != 0) {
        if (mim_ok(mim_consumer_tp_send(c, tp, "TransferTerminationMessage",
                                        "/termination", rc.msg)))
        {
            tp->state = "TERMINATED";
        }
    }

    mim_consumer_progress("transfer %s: %s%s%s%s%s", tp->provider_pid,
                          first, first != tp->state ? " -> " : "",
                          first != tp->state ? tp->state : "",
                          tp->endpoint ? ", endpoint " : "",
                          tp->endpoint ? tp->endpoint : "");
    return rc;
}

mim_result_t
mim_consumer_complete(mim_consumer_t *c, mim_consumer_tp_t *tp)
{
    mim_result_t  rc;

    rc = mim_consumer_tp_send(c, tp, "TransferCompletionMessage",
                              "/completion", NULL);
    if (mim_ok(rc)) {
        tp->state = "COMPLETED";
        mim_consumer_progress("transfer %s: COMPLETED", tp->provider_pid);
    }

    return rc;
}

void
mim_consumer_tp_free(mim_consumer_tp_t *tp)
{
    free(tp->provider_pid);
    free(tp->consumer_pid);
    json_decref(tp->data_address);
    memset(tp, 0, sizeof(*tp));
}
