/*
 * fuzz_dsp_msg.c - libFuzzer target for what the DSP core reads from
 * others: inbound messages (dsp/mim_dsp_msg.c, any peer can send them)
 * and negotiation records (dsp/mim_dsp_neg.c, read back from a store
 * others may write to).
 *
 * Input: one byte that chooses the message type expected (modulo the
 * five inbound types), then the text.  The text is parsed as that message
 * and also as a record.
 *
 * Beyond "no crash": a refusal says why, in text the error builders take
 * (the glue answers every refusal with a ContractNegotiationError); an
 * accepted message has what its type requires; a ContractRequestMessage
 * is judged against a fixed catalog, and an offer that is ours becomes an
 * Agreement, a record and a ContractAgreementMessage, each of which
 * reads back; a callback address that parses gives a callback path that
 * is one clean path; a record that reads writes back to text that reads
 * to the same text.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "mim_dsp.h"
#include "mim_dsp_job.h"

static mim_dsp_catalog_t  *catalog;

static const char  catalog_json[] =
    "{\"@id\": \"urn:cat\", \"datasets\": ["
    "{\"@id\": \"urn:uuid:3dd1add8-4d2d-569e-d634-8394a8836a88\", "
    " \"endpoint\": \"/ngsi-ld/v1/entities\", \"offers\": ["
    "  {\"@id\": \"urn:uuid:2828282:3dd1add8-4d2d-569e-d634-8394a8836a89\","
    "   \"permission\": [{\"action\": \"use\"}]},"
    "  {\"@id\": \"urn:uuid:d526561f-528e-4d5a-ae12-9a9dd9b7a815\","
    "   \"permission\": [{\"action\": \"use\", \"constraint\": [{"
    "    \"leftOperand\": \"dateTime\", \"operator\": \"lteq\", "
    "    \"rightOperand\": \"2023-12-31T06:00Z\"}]}]},"
    "  {\"@id\": \"urn:o:claims\", \"permission\": [{\"action\": \"use\", "
    "   \"constraint\": [{\"or\": [{\"leftOperand\": \"urn:mim:claim:role\","
    "   \"operator\": \"eq\", \"rightOperand\": \"operator\"}, "
    "   {\"leftOperand\": \"purpose\", \"operator\": \"isAnyOf\", "
    "   \"rightOperand\": [\"urn:p:research\"]}]}]}], \"prohibition\": "
    "   [{\"action\": \"distribute\"}]}]}]}";

static const mim_str_t    roles[] = { { "viewer", 6 } };
static const mim_claim_t  claims[] = { { { "role", 4 }, roles, 1 } };

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
    mim_result_t  r = mim_dsp_catalog_parse(&catalog, catalog_json,
                                            sizeof(catalog_json) - 1, NULL);

    if (!mim_ok(r)) {
        abort();
    }
    return 0;
}

static void
check_json(const char *text, size_t len, int want_object)
{
    json_t  *v;

    if (text == NULL || strlen(text) != len) {
        abort();
    }
    v = json_loadb(text, len, JSON_REJECT_DUPLICATES, NULL);
    if (v == NULL || (want_object && !json_is_object(v))
        || (!want_object && !json_is_array(v)))
    {
        abort();
    }
    json_decref(v);
}

/* the glue answers a refusal with this: it must always build */
static void
check_refusal(const mim_dsp_msg_t *m, const mim_result_t *r)
{
    char          *json;
    size_t         len;
    mim_result_t   e;

    if (r->msg[0] == '\0') {
        abort();
    }
    e = mim_dsp_negotiation_error_json(m->provider_pid, m->consumer_pid,
                                       "invalid-message", r->msg, &json,
                                       &len);
    if (!mim_ok(e)) {
        abort();
    }
    check_json(json, len, 1);
    free(json);
}

static void
check_callback(const mim_dsp_msg_t *m)
{
    mim_dsp_url_t   url;
    mim_result_t    r;
    char           *path;
    const char     *p;

    r = mim_dsp_url_parse(&url, m->callback_address,
                          strlen(m->callback_address));
    if (!mim_ok(r)) {
        if (url.host != NULL || url.path != NULL || r.msg[0] == '\0') {
            abort();
        }
        return;
    }
    if (url.host == NULL || url.path == NULL || url.port < 1
        || url.port > 65535
        || (url.path[0] != '\0' && url.path[strlen(url.path) - 1] == '/'))
    {
        abort();
    }
    r = mim_dsp_callback_path(&url, "negotiations", m->consumer_pid,
                              "agreement", &path);
    if (mim_ok(r)) {
        /* one path: printable ASCII, no query, no fragment, the pid one
           segment */
        for (p = path; *p != '\0'; p++) {
            if (*p <= 0x20 || *p >= 0x7f || *p == '?' || *p == '#') {
                abort();
            }
        }
        if (strstr(path, "/negotiations/") == NULL
            || strcmp(path + strlen(path) - 10, "/agreement") != 0)
        {
            abort();
        }
        free(path);
    } else if (strcmp(m->consumer_pid, ".") != 0
               && strcmp(m->consumer_pid, "..") != 0)
    {
        abort();
    }
    mim_dsp_url_free(&url);
}

/* a record of this negotiation reads back as written */
static void
check_record(const mim_dsp_neg_t *neg)
{
    mim_dsp_neg_t   back;
    mim_result_t    r;
    char           *json, *again;
    size_t          len, len2;

    r = mim_dsp_neg_to_json(neg, &json, &len);
    if (!mim_ok(r)) {
        abort();
    }
    r = mim_dsp_neg_from_json(&back, json, len);
    if (!mim_ok(r)) {
        abort();
    }
    r = mim_dsp_neg_to_json(&back, &again, &len2);
    if (!mim_ok(r) || len != len2 || memcmp(json, again, len) != 0) {
        abort();
    }
    free(json);
    free(again);
    mim_dsp_neg_free(&back);
}

/*
 * The consumer's offer, whatever it says, decided at negotiation time
 * (mim_policy_request_t.negotiation): the reasons are a JSON array and
 * the size of their buffer never changes the decision.
 */
static void
check_negotiation_eval(const mim_dsp_msg_t *m)
{
    static const mim_str_t  purposes[] = { { "urn:p:research", 14 } };
    mim_policy_t           *p;
    mim_policy_request_t    req;
    mim_policy_decision_t   full, d;
    char                    big[8192], *small;
    int                     k;

    if (!mim_ok(mim_policy_parse(&p, m->offer_json, strlen(m->offer_json))))
    {
        return;
    }
    for (k = 0; k < 2; k++) {
        memset(&req, 0, sizeof(req));
        req.action.data = "use";
        req.action.len = 3;
        req.target.data = m->offer_target;
        req.target.len = m->offer_target ? strlen(m->offer_target) : 0;
        req.assignee.data = m->consumer_pid;
        req.assignee.len = strlen(m->consumer_pid);
        req.has_date_time = 1;
        req.date_time = 1795600800;
        req.claims = claims;
        req.claims_n = 1;
        req.negotiation = 1;
        if (k == 1) {
            /* values known at use are decided when given */
            req.has_count = 1;
            req.count = 3;
            req.purpose = purposes;
            req.purpose_n = 1;
        }
        if (!mim_ok(mim_policy_eval(p, &req, &full, big, sizeof(big)))) {
            abort();
        }
        check_json(big, full.reasons_len, 0);
        small = malloc(64);
        if (small == NULL
            || !mim_ok(mim_policy_eval(p, &req, &d, small, 64)))
        {
            abort();
        }
        check_json(small, d.reasons_len, 0);
        if (d.effect != full.effect || d.rule != full.rule
            || d.label != full.label)
        {
            abort();
        }
        free(small);
    }
    mim_policy_free(p);
}

static void
check_request(const mim_dsp_msg_t *m)
{
    const mim_dsp_offer_t  *offer;
    mim_dsp_offer_match_t   match;
    mim_dsp_neg_t           neg;
    mim_result_t            r;
    char                    reasons[512], *agreement, *json;
    size_t                  len;
    int                     permitted;

    if (m->consumer_pid == NULL || m->offer_id == NULL
        || m->offer_json == NULL
        || (m->callback_address == NULL) == (m->provider_pid == NULL))
    {
        abort();
    }
    check_json(m->offer_json, strlen(m->offer_json), 1);
    check_negotiation_eval(m);
    if (m->callback_address != NULL) {
        check_callback(m);
    }

    r = mim_dsp_catalog_match(catalog, m, &offer, &match);
    if ((match == MIM_DSP_OFFER_OURS) != mim_ok(r)
        || (match != MIM_DSP_OFFER_UNKNOWN) != (offer != NULL)
        || (match == MIM_DSP_OFFER_COUNTER && r.code != MIM_ERR_MISMATCH))
    {
        abort();
    }
    if (match != MIM_DSP_OFFER_OURS) {
        check_refusal(m, &r);
        return;
    }
    if (strcmp(mim_dsp_offer_id(offer), m->offer_id) != 0
        || strcmp(mim_dsp_offer_dataset(offer), m->offer_target) != 0)
    {
        abort();
    }
    r = mim_dsp_offer_check(offer, m->consumer_pid, claims, 1, 1795600800,
                            &permitted, reasons, sizeof(reasons));
    if (!mim_ok(r) || (permitted != 0 && permitted != 1)) {
        abort();
    }
    check_json(reasons, strlen(reasons), 0);

    r = mim_dsp_agreement_json(offer, "urn:uuid:agreement", "did:web:p",
                               m->consumer_pid, 1795600800, &agreement,
                               &len);
    if (!mim_ok(r)) {
        abort();
    }
    check_json(agreement, len, 1);

    memset(&neg, 0, sizeof(neg));
    neg.provider_pid = "urn:uuid:provider";
    neg.consumer_pid = m->consumer_pid;
    neg.consumer = m->consumer_pid;
    /* a later request has a providerPid instead; a record has one */
    neg.callback_address = m->callback_address != NULL
                           ? m->callback_address : "http://c.example/cb";
    neg.dataset = (char *) mim_dsp_offer_dataset(offer);
    neg.offer_id = m->offer_id;
    neg.agreement_id = "urn:uuid:agreement";
    neg.agreement_json = agreement;
    neg.state = MIM_DSP_NEG_AGREED;
    neg.created = 1795600800;
    neg.updated = 1795600801;
    check_record(&neg);
    r = mim_dsp_agreement_message_json(&neg, &json, &len);
    if (!mim_ok(r)) {
        abort();
    }
    check_json(json, len, 1);
    free(json);
    free(agreement);
}

static void
check_message(const mim_dsp_msg_t *m, mim_dsp_msg_type_t type)
{
    if (m->type != type) {
        abort();
    }
    switch (type) {
    case MIM_DSP_MSG_CONTRACT_REQUEST:
        check_request(m);
        break;
    case MIM_DSP_MSG_AGREEMENT_VERIFICATION:
    case MIM_DSP_MSG_NEGOTIATION_EVENT:
    case MIM_DSP_MSG_NEGOTIATION_TERMINATION:
        if (m->provider_pid == NULL || m->consumer_pid == NULL
            || *m->provider_pid == '\0' || *m->consumer_pid == '\0')
        {
            abort();
        }
        if (type == MIM_DSP_MSG_NEGOTIATION_EVENT
            && m->event != MIM_DSP_EVENT_ACCEPTED
            && m->event != MIM_DSP_EVENT_FINALIZED)
        {
            abort();
        }
        if (m->reason_json != NULL) {
            check_json(m->reason_json, strlen(m->reason_json), 0);
        }
        break;
    default:
        break;
    }
}

/* a record that reads writes back to text that reads the same */
static void
check_stored(const uint8_t *data, size_t size)
{
    mim_dsp_neg_t   neg;
    mim_result_t    r;

    r = mim_dsp_neg_from_json(&neg, (const char *) data, size);
    if (!mim_ok(r)) {
        if (r.msg[0] == '\0' || neg.provider_pid != NULL
            || neg.agreement_json != NULL)
        {
            abort();
        }
        return;
    }
    if (neg.provider_pid == NULL || neg.consumer_pid == NULL
        || neg.state <= MIM_DSP_NEG_INITIAL
        || neg.state > MIM_DSP_NEG_TERMINATED)
    {
        abort();
    }
    check_record(&neg);
    mim_dsp_neg_free(&neg);
}

/* an outbox job (read back from Redis) and an operator's decision (an
   admin request body): what reads writes back the same */
static void
check_job_and_decision(const uint8_t *data, size_t size)
{
    char           *json, *code, *reason;
    size_t          len;
    mim_dsp_job_t   job, again;
    mim_result_t    r;

    if (mim_ok(mim_dsp_job_from_json(&job, (const char *) data, size))) {
        if (job.pid == NULL || !mim_ok(mim_dsp_job_to_json(&job, &json,
                                                           &len)))
        {
            abort();
        }
        r = mim_dsp_job_from_json(&again, json, len);
        if (!mim_ok(r) || again.kind != job.kind
            || again.attempt != job.attempt || strcmp(again.pid, job.pid))
        {
            abort();
        }
        mim_dsp_job_free(&again);
        mim_dsp_job_free(&job);
        free(json);
    }

    r = mim_dsp_decision_parse((const char *) data, size, &code, &reason);
    if (!mim_ok(r) && (code != NULL || reason != NULL)) {
        abort();
    }
    free(code);
    free(reason);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    mim_dsp_msg_type_t  type;
    mim_dsp_msg_t       m;
    mim_result_t        r;

    if (size < 1) {
        return 0;
    }
    type = (mim_dsp_msg_type_t) (MIM_DSP_MSG_CATALOG_REQUEST + data[0] % 5);
    r = mim_dsp_msg_parse(&m, type, (const char *) data + 1, size - 1);
    if (mim_ok(r)) {
        check_message(&m, type);
    } else {
        if (r.code != MIM_ERR_INVALID && r.code != MIM_ERR_LIMIT) {
            abort();
        }
        check_refusal(&m, &r);
    }
    mim_dsp_msg_free(&m);
    check_stored(data + 1, size - 1);
    check_job_and_decision(data + 1, size - 1);
    return 0;
}
