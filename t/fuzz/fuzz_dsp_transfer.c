/*
 * fuzz_dsp_transfer.c - libFuzzer target for what the transfer process
 * reads from others (dsp/mim_dsp_transfer.c): inbound transfer messages
 * (any peer can send them) and transfer records (read back from a store
 * others may write to).
 *
 * Input: one byte that chooses the message type expected (modulo the
 * five inbound types: 0 request, 1 start, 2 completion, 3 suspension,
 * 4 termination), then the text.  The text is parsed as that message,
 * as a record and as a state.
 *
 * Beyond "no crash": a refusal says why, in text the TransferError
 * builder takes (the glue answers every refusal with one); an accepted
 * message has the members its type requires, and what it carries goes
 * into a record and into every message we build, each of which reads
 * back; a record that reads writes back to text that reads back to the
 * same text, and the state machine never leaves a terminal state nor
 * goes to INITIAL.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "mim_dsp_transfer.h"

#define NS  "https://w3id.org/dspace/2025/1/"

static json_t *
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
    return v;
}

static void
check_text(const char *text, size_t len, int want_object)
{
    json_decref(check_json(text, len, want_object));
}

static int
filled(const char *s)
{
    return s != NULL && *s != '\0';
}

/* v is the string s */
static int
str_is(const json_t *v, const char *s)
{
    return json_is_string(v) && strcmp(json_string_value(v), s) == 0;
}

/* the glue answers a refusal with this: it must always build */
static void
check_refusal(const mim_dsp_tmsg_t *m, mim_dsp_tmsg_type_t type,
    const mim_result_t *r)
{
    char          *json;
    size_t         len;
    mim_result_t   e;

    if (r->msg[0] == '\0'
        || (r->code != MIM_ERR_INVALID && r->code != MIM_ERR_LIMIT)
        || (type == MIM_DSP_TMSG_REQUEST && m->provider_pid != NULL))
    {
        abort();
    }
    e = mim_dsp_transfer_error_json(m->provider_pid, m->consumer_pid,
                                    "invalid-message", r->msg, &json, &len);
    if (!mim_ok(e)) {
        abort();
    }
    check_text(json, len, 1);
    free(json);
}

/* what data-address-schema.json requires of what we keep */
static void
check_data_address(const char *text)
{
    json_t        *da = check_json(text, strlen(text), 1), *p;
    const json_t  *props;
    size_t         i;

    if (!json_is_string(json_object_get(da, "endpointType"))
        || !str_is(json_object_get(da, "@type"), "DataAddress"))
    {
        abort();
    }
    props = json_object_get(da, "endpointProperties");
    if (props != NULL) {
        if (!json_is_array(props) || json_array_size(props) == 0) {
            abort();
        }
        json_array_foreach(props, i, p) {
            if (!str_is(json_object_get(p, "@type"), "EndpointProperty")
                || !json_is_string(json_object_get(p, "name"))
                || !json_is_string(json_object_get(p, "value")))
            {
                abort();
            }
        }
    }
    json_decref(da);
}

/* the text we built reads back as that type, with our pids */
static void
reads_back(const char *json, size_t len, mim_dsp_tmsg_type_t type,
    const mim_dsp_tp_t *tp)
{
    mim_dsp_tmsg_t  m;

    if (!mim_ok(mim_dsp_tmsg_parse(&m, type, json, len))
        || strcmp(m.provider_pid, tp->provider_pid) != 0
        || strcmp(m.consumer_pid, tp->consumer_pid) != 0)
    {
        abort();
    }
    if (type == MIM_DSP_TMSG_START) {
        check_data_address(m.data_address_json);
    }
    mim_dsp_tmsg_free(&m);
    free((void *) json);
}

/* a record that reads writes back to text that reads the same */
static void
check_record(const mim_dsp_tp_t *tp)
{
    mim_dsp_tp_t   back;
    char          *json, *again;
    size_t         len, len2;

    if (!mim_ok(mim_dsp_tp_to_json(tp, &json, &len))) {
        abort();
    }
    check_text(json, len, 1);
    if (!mim_ok(mim_dsp_tp_from_json(&back, json, len))) {
        abort();
    }
    if (!mim_ok(mim_dsp_tp_to_json(&back, &again, &len2)) || len != len2
        || memcmp(json, again, len) != 0)
    {
        abort();
    }
    free(json);
    free(again);
    mim_dsp_tp_free(&back);
}

/* every message about tp we send builds, validates and reads back */
static void
check_builders(const mim_dsp_tp_t *tp, const char *code,
    const char *reason)
{
    char          *json;
    size_t         len;
    json_t        *v;
    mim_result_t   r;

    if (!mim_ok(mim_dsp_transfer_process_json(tp, &json, &len))) {
        abort();
    }
    v = check_json(json, len, 1);
    if (!str_is(json_object_get(v, "state"),
                mim_dsp_tp_state_name(tp->state)))
    {
        abort();
    }
    json_decref(v);
    free(json);

    r = mim_dsp_transfer_start_json(tp, tp->endpoint != NULL
                                        && *tp->endpoint != '\0'
                                        ? tp->endpoint : "https://g/data",
                                    "token", &json, &len);
    if (!mim_ok(r)) {
        abort();
    }
    reads_back(json, len, MIM_DSP_TMSG_START, tp);
    if (!mim_ok(mim_dsp_transfer_completion_json(tp, &json, &len))) {
        abort();
    }
    reads_back(json, len, MIM_DSP_TMSG_COMPLETION, tp);
    if (!mim_ok(mim_dsp_transfer_suspension_json(tp, code, reason, &json,
                                                 &len)))
    {
        abort();
    }
    reads_back(json, len, MIM_DSP_TMSG_SUSPENSION, tp);
    if (!mim_ok(mim_dsp_transfer_termination_json(tp, code, reason, &json,
                                                  &len)))
    {
        abort();
    }
    reads_back(json, len, MIM_DSP_TMSG_TERMINATION, tp);
}

/* from any state, every message by either party: a state or a reason */
static void
check_machine(mim_dsp_tp_state_t from)
{
    mim_dsp_tp_state_t  to;
    mim_result_t        r;
    int                 m, p;

    for (m = 0; m < MIM_DSP_TP_MSG_COUNT; m++) {
        for (p = 0; p < 2; p++) {
            r = mim_dsp_tp_next(from, (mim_dsp_tp_msg_t) m,
                                p ? MIM_DSP_BY_PROVIDER
                                  : MIM_DSP_BY_CONSUMER, &to);
            if (mim_ok(r)) {
                if (to <= MIM_DSP_TP_INITIAL || to > MIM_DSP_TP_TERMINATED
                    || from == MIM_DSP_TP_COMPLETED
                    || from == MIM_DSP_TP_TERMINATED)
                {
                    abort();
                }
            } else if (to != from || r.msg[0] == '\0'
                       || strstr(r.msg, mim_dsp_tp_msg_name(m)) == NULL)
            {
                abort();
            }
        }
    }
}

static void
check_message(const mim_dsp_tmsg_t *m, mim_dsp_tmsg_type_t type)
{
    mim_dsp_tp_t        tp;
    mim_dsp_tp_state_t  state;
    json_t             *reason;
    const char         *text = NULL;

    if (m->type != type || !filled(m->consumer_pid)) {
        abort();
    }
    if (type == MIM_DSP_TMSG_REQUEST) {
        if (m->provider_pid != NULL || !filled(m->agreement_id)
            || !filled(m->format) || !filled(m->callback_address)
            || m->code != NULL || m->reason_json != NULL)
        {
            abort();
        }
    } else if (!filled(m->provider_pid) || m->agreement_id != NULL
               || m->format != NULL || m->callback_address != NULL)
    {
        abort();
    }
    if (m->data_address_json != NULL) {
        if (type != MIM_DSP_TMSG_REQUEST && type != MIM_DSP_TMSG_START) {
            abort();
        }
        check_data_address(m->data_address_json);
    }
    if ((m->code != NULL || m->reason_json != NULL)
        && type != MIM_DSP_TMSG_SUSPENSION
        && type != MIM_DSP_TMSG_TERMINATION)
    {
        abort();
    }
    reason = NULL;
    if (m->reason_json != NULL) {
        reason = check_json(m->reason_json, strlen(m->reason_json), 0);
        if (json_array_size(reason) == 0) {
            abort();
        }
        text = json_string_value(json_array_get(reason, 0));
    }

    /* what the glue stores from it, and sends about it */
    memset(&tp, 0, sizeof(tp));
    tp.provider_pid = m->provider_pid != NULL ? m->provider_pid
                                              : "urn:uuid:provider";
    tp.consumer_pid = m->consumer_pid;
    tp.consumer = "did:web:consumer.example";
    tp.callback_address = m->callback_address;
    tp.agreement_id = m->agreement_id != NULL ? m->agreement_id : "urn:a";
    tp.dataset = "urn:d";
    tp.format = m->format != NULL ? m->format : MIM_DSP_PULL;
    tp.code = m->code;
    tp.reason = m->reason_json;
    if (mim_ok(mim_dsp_tp_next(MIM_DSP_TP_INITIAL, MIM_DSP_TP_MSG_REQUEST,
                               MIM_DSP_BY_CONSUMER, &state)))
    {
        tp.state = state;
    }
    tp.created = 1795600800;
    tp.updated = 1795600800;
    if (tp.state != MIM_DSP_TP_REQUESTED) {
        abort();
    }
    check_record(&tp);
    check_builders(&tp, m->code, text);
    json_decref(reason);
}

static void
check_stored(const uint8_t *data, size_t size)
{
    mim_dsp_tp_t   tp;
    mim_result_t   r;

    r = mim_dsp_tp_from_json(&tp, (const char *) data, size);
    if (!mim_ok(r)) {
        if (r.msg[0] == '\0' || tp.provider_pid != NULL
            || tp.reason != NULL || tp.state != MIM_DSP_TP_INITIAL)
        {
            abort();
        }
        return;
    }
    if (!filled(tp.provider_pid) || !filled(tp.consumer_pid)
        || !filled(tp.consumer) || !filled(tp.agreement_id)
        || !filled(tp.dataset) || !filled(tp.format)
        || tp.state <= MIM_DSP_TP_INITIAL || tp.state > MIM_DSP_TP_TERMINATED
        || tp.created < 0 || tp.updated < tp.created)
    {
        abort();
    }
    check_record(&tp);
    check_machine(tp.state);
    mim_dsp_tp_free(&tp);
}

/* a state read from text names itself, compact or as the IRI */
static void
check_state(const uint8_t *data, size_t size)
{
    mim_dsp_tp_state_t  s;
    const char         *name;
    size_t              n, ns = sizeof(NS) - 1;

    if (mim_dsp_tp_state_parse((const char *) data, size, &s) != 0) {
        return;
    }
    name = mim_dsp_tp_state_name(s);
    n = strlen(name);
    if (s <= MIM_DSP_TP_INITIAL || s > MIM_DSP_TP_TERMINATED
        || !((size == n && memcmp(data, name, n) == 0)
             || (size == ns + n && memcmp(data, NS, ns) == 0
                 && memcmp(data + ns, name, n) == 0)))
    {
        abort();
    }
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    mim_dsp_tmsg_type_t  type;
    mim_dsp_tmsg_t       m;
    mim_result_t         r;

    if (size < 1) {
        return 0;
    }
    type = (mim_dsp_tmsg_type_t) (MIM_DSP_TMSG_REQUEST + data[0] % 5);
    r = mim_dsp_tmsg_parse(&m, type, (const char *) data + 1, size - 1);
    if (mim_ok(r)) {
        check_message(&m, type);
    } else {
        check_refusal(&m, type, &r);
    }
    mim_dsp_tmsg_free(&m);
    check_stored(data + 1, size - 1);
    check_state(data + 1, size - 1);
    check_machine((mim_dsp_tp_state_t) (data[0] % 6));
    return 0;
}
