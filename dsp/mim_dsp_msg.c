/*
 * mim_dsp_msg.c - the messages of DSP 2025-1 a provider reads (parse and
 * validate) and writes (build), and the protocol version document.
 *
 * Inbound messages come from any peer that can reach the endpoint: the
 * text is bounded before it is parsed, and every rule of the official
 * JSON Schemas (shared/spec/dsp-2025-1) that applies to what a consumer
 * sends is checked, with a reason that names the member, because that
 * reason goes back to the peer in a ContractNegotiationError.  What we
 * build is made to validate against the same schemas (the unit tests
 * run the official validator over it).
 */
#include <stdlib.h>
#include <string.h>

#include "mim_dsp_int.h"

static const char *const  type_names[] = {
    [MIM_DSP_MSG_NONE] = "none",
    [MIM_DSP_MSG_CATALOG_REQUEST] = "CatalogRequestMessage",
    [MIM_DSP_MSG_CONTRACT_REQUEST] = "ContractRequestMessage",
    [MIM_DSP_MSG_AGREEMENT_VERIFICATION] =
        "ContractAgreementVerificationMessage",
    [MIM_DSP_MSG_NEGOTIATION_EVENT] = "ContractNegotiationEventMessage",
    [MIM_DSP_MSG_NEGOTIATION_TERMINATION] =
        "ContractNegotiationTerminationMessage",
};

#define TYPE_COUNT  (sizeof(type_names) / sizeof(type_names[0]))

const char *
mim_dsp_msg_type_name(mim_dsp_msg_type_t type)
{
    if ((size_t) type >= TYPE_COUNT) {
        return "none";
    }
    return type_names[type];
}

/* ---- offers: contract-schema.json ---- */

static const char *const  schema_operators[] = {
    "eq", "gt", "gteq", "lteq", "hasPart", "isA", "isAllOf", "isAnyOf",
    "isNoneOf", "isPartOf", "lt", "term-lteq", "neq"
};

static const char *const  logical_operands[] = {
    "and", "andSequence", "or", "xone"
};

#define COUNT(a)  (sizeof(a) / sizeof((a)[0]))

static mim_result_t check_constraint(const json_t *c, const char *path,
    int depth);

static mim_result_t
check_atomic(const json_t *c, const char *path)
{
    const json_t  *lop = json_object_get(c, "leftOperand");
    const json_t  *op = json_object_get(c, "operator");
    const json_t  *rop = json_object_get(c, "rightOperand");
    char           text[48];
    size_t         i;

    if (lop == NULL || !json_is_string(lop)) {
        return mim_result_err(MIM_ERR_INVALID, "%s.leftOperand: %s", path,
                              lop == NULL ? "missing" : "expected a string");
    }
    if (op == NULL || !json_is_string(op)) {
        return mim_result_err(MIM_ERR_INVALID, "%s.operator: %s", path,
                              op == NULL ? "missing" : "expected a string");
    }
    for (i = 0; i < COUNT(schema_operators); i++) {
        if (strcmp(json_string_value(op), schema_operators[i]) == 0) {
            break;
        }
    }
    if (i == COUNT(schema_operators)) {
        mim_dsp_safe_text(text, sizeof(text), json_string_value(op),
                          json_string_length(op));
        return mim_result_err(MIM_ERR_INVALID, "%s.operator: \"%s\" is not "
                              "an operator of DSP 2025-1 (eq, neq, lt, lteq, "
                              "gt, gteq, isA, hasPart, isPartOf, isAllOf, "
                              "isAnyOf, isNoneOf, term-lteq)", path, text);
    }
    if (rop == NULL) {
        return mim_result_err(MIM_ERR_INVALID, "%s.rightOperand: missing",
                              path);
    }
    if (!json_is_string(rop) && !json_is_object(rop) && !json_is_array(rop))
    {
        return mim_result_err(MIM_ERR_INVALID, "%s.rightOperand: expected a "
                              "string, an object or an array", path);
    }
    return mim_result_ok();
}

static size_t
logical_count(const json_t *c, const char **which)
{
    size_t  i, n = 0;

    for (i = 0; i < COUNT(logical_operands); i++) {
        if (json_object_get(c, logical_operands[i]) != NULL) {
            *which = logical_operands[i];
            n++;
        }
    }
    return n;
}

static mim_result_t
check_logical(const json_t *c, const char *path, int depth)
{
    const char    *which = NULL;
    const json_t  *list, *item;
    char           at[MIM_DSP_PATH_MAX];
    mim_result_t   r;
    size_t         i, n = logical_count(c, &which);

    if (n == 0) {
        return mim_result_err(MIM_ERR_INVALID, "%s: neither an atomic "
                              "constraint (leftOperand, operator, "
                              "rightOperand) nor a logical one (and, or, "
                              "xone, andSequence)", path);
    }
    if (n > 1) {
        return mim_result_err(MIM_ERR_INVALID, "%s: more than one of and, "
                              "or, xone, andSequence", path);
    }
    list = json_object_get(c, which);
    if (!json_is_array(list)) {
        return mim_result_err(MIM_ERR_INVALID, "%s.%s: expected an array",
                              path, which);
    }
    json_array_foreach(list, i, item) {
        mim_dsp_path_join_index(at, path, which, i);
        r = check_constraint(item, at, depth + 1);
        if (!mim_ok(r)) {
            return r;
        }
    }
    return mim_result_ok();
}

/*
 * The schema's Constraint is oneOf(LogicalConstraint, AtomicConstraint):
 * both are checked, exactly one must pass.  The reason of a failure is
 * that of the kind the object looks like.
 */
static mim_result_t
check_constraint(const json_t *c, const char *path, int depth)
{
    mim_result_t   atomic, logical;
    const char    *which;

    if (depth > MIM_DSP_MAX_DEPTH) {
        return mim_result_err(MIM_ERR_LIMIT, "%s: nested too deep", path);
    }
    if (!json_is_object(c)) {
        return mim_result_err(MIM_ERR_INVALID, "%s: expected an object",
                              path);
    }
    atomic = check_atomic(c, path);
    logical = check_logical(c, path, depth);
    if (mim_ok(atomic) && mim_ok(logical)) {
        return mim_result_err(MIM_ERR_INVALID, "%s: both an atomic and a "
                              "logical constraint", path);
    }
    if (mim_ok(atomic) || mim_ok(logical)) {
        return mim_result_ok();
    }
    if (logical_count(c, &which) > 0 || logical.code == MIM_ERR_LIMIT) {
        return logical;
    }
    if (json_object_get(c, "leftOperand") != NULL
        || json_object_get(c, "operator") != NULL
        || json_object_get(c, "rightOperand") != NULL)
    {
        return atomic;
    }
    return logical;
}

/* a Permission, Prohibition or Duty: an action string, constraints */
static mim_result_t
check_rule(const json_t *rule, const char *path)
{
    const json_t  *list, *item;
    char           at[MIM_DSP_PATH_MAX];
    mim_result_t   r;
    size_t         i;

    if (!json_is_object(rule)) {
        return mim_result_err(MIM_ERR_INVALID, "%s: expected an object",
                              path);
    }
    r = mim_dsp_str_member(rule, path, "action", 1, 0, NULL);
    if (!mim_ok(r)) {
        return r;
    }
    list = json_object_get(rule, "constraint");
    if (list == NULL) {
        return mim_result_ok();
    }
    if (!json_is_array(list)) {
        return mim_result_err(MIM_ERR_INVALID, "%s.constraint: expected an "
                              "array", path);
    }
    json_array_foreach(list, i, item) {
        mim_dsp_path_join_index(at, path, "constraint", i);
        r = check_constraint(item, at, 0);
        if (!mim_ok(r)) {
            return r;
        }
    }
    return mim_result_ok();
}

/* permission, prohibition, obligation: absent, or a non-empty array */
static mim_result_t
check_rules(const json_t *offer, const char *path, const char *name,
    int *present)
{
    const json_t  *list = json_object_get(offer, name), *item;
    char           at[MIM_DSP_PATH_MAX];
    mim_result_t   r;
    size_t         i;

    *present = list != NULL;
    if (list == NULL) {
        return mim_result_ok();
    }
    if (!json_is_array(list)) {
        return mim_result_err(MIM_ERR_INVALID, "%s.%s: expected an array",
                              path, name);
    }
    if (json_array_size(list) == 0) {
        return mim_result_err(MIM_ERR_INVALID, "%s.%s: empty (at least one "
                              "rule, or no member)", path, name);
    }
    json_array_foreach(list, i, item) {
        mim_dsp_path_join_index(at, path, name, i);
        r = check_rule(item, at);
        if (!mim_ok(r)) {
            return r;
        }
    }
    return mim_result_ok();
}

static mim_result_t
check_profile(const json_t *offer, const char *path)
{
    const json_t  *profile = json_object_get(offer, "profile"), *item;
    size_t         i;

    if (profile == NULL || json_is_string(profile)) {
        return mim_result_ok();
    }
    if (json_is_array(profile)) {
        json_array_foreach(profile, i, item) {
            if (!json_is_string(item)) {
                return mim_result_err(MIM_ERR_INVALID, "%s.profile[%zu]: "
                                      "expected a string", path, i);
            }
        }
        return mim_result_ok();
    }
    return mim_result_err(MIM_ERR_INVALID, "%s.profile: expected a string or "
                          "an array of strings", path);
}

mim_result_t
mim_dsp_offer_validate(const json_t *offer, const char *path, int in_message)
{
    const json_t  *type;
    mim_result_t   r;
    int            permission, prohibition, obligation;

    if (!json_is_object(offer)) {
        return mim_result_err(MIM_ERR_INVALID, "%s: expected an object",
                              path);
    }
    r = mim_dsp_str_member(offer, path, "@id", 1, 0, NULL);
    if (!mim_ok(r)) {
        return r;
    }
    type = json_object_get(offer, "@type");
    if (type == NULL && in_message) {
        return mim_result_err(MIM_ERR_INVALID, "%s.@type: missing", path);
    }
    if (type != NULL && (!json_is_string(type)
                         || strcmp(json_string_value(type), "Offer") != 0))
    {
        return mim_result_err(MIM_ERR_INVALID, "%s.@type: expected \"Offer\"",
                              path);
    }
    r = mim_dsp_str_member(offer, path, "target", 0, 0, NULL);
    if (mim_ok(r)) {
        r = check_profile(offer, path);
    }
    if (mim_ok(r)) {
        r = check_rules(offer, path, "permission", &permission);
    }
    if (mim_ok(r)) {
        r = check_rules(offer, path, "prohibition", &prohibition);
    }
    if (mim_ok(r)) {
        r = check_rules(offer, path, "obligation", &obligation);
    }
    if (mim_ok(r) && !permission && !prohibition) {
        return mim_result_err(MIM_ERR_INVALID, "%s: no permission and no "
                              "prohibition (one of them is required)", path);
    }
    return r;
}

/* ---- inbound messages ---- */

/*
 * The process ids, copied before anything else is checked: an invalid
 * message is still answered with a ContractNegotiationError that names
 * them when they are readable.
 */
static void
peek_pids(const json_t *root, mim_dsp_msg_t *msg)
{
    (void) mim_dsp_str_member(root, "", "consumerPid", 0, 0,
                              &msg->consumer_pid);
    (void) mim_dsp_str_member(root, "", "providerPid", 0, 0,
                              &msg->provider_pid);
}

static mim_result_t
parse_contract_request(const json_t *root, mim_dsp_msg_t *msg)
{
    const json_t  *offer;
    mim_result_t   r;

    r = mim_dsp_str_member(root, "", "consumerPid", 1, 0, &msg->consumer_pid);
    if (mim_ok(r)) {
        r = mim_dsp_str_member(root, "", "providerPid", 0, 0,
                               &msg->provider_pid);
    }
    if (mim_ok(r)) {
        r = mim_dsp_str_member(root, "", "callbackAddress", 0, 0,
                               &msg->callback_address);
    }
    if (!mim_ok(r)) {
        return r;
    }
    if (msg->provider_pid != NULL && msg->callback_address != NULL) {
        return mim_result_err(MIM_ERR_INVALID, "callbackAddress, providerPid: "
                              "a request has one of them, not both "
                              "(callbackAddress to start a negotiation, "
                              "providerPid in one)");
    }
    if (msg->provider_pid == NULL && msg->callback_address == NULL) {
        return mim_result_err(MIM_ERR_INVALID, "callbackAddress: missing "
                              "(or providerPid, in a negotiation)");
    }
    offer = json_object_get(root, "offer");
    if (offer == NULL) {
        return mim_result_err(MIM_ERR_INVALID, "offer: missing");
    }
    r = mim_dsp_offer_validate(offer, "offer", 1);
    if (mim_ok(r)) {
        r = mim_dsp_str_member(offer, "offer", "@id", 1, 0, &msg->offer_id);
    }
    if (mim_ok(r)) {
        r = mim_dsp_str_member(offer, "offer", "target", 0, 0,
                               &msg->offer_target);
    }
    if (mim_ok(r)) {
        r = mim_dsp_json_dump(offer, &msg->offer_json, NULL);
    }
    return r;
}

static mim_result_t
parse_pids(const json_t *root, mim_dsp_msg_t *msg)
{
    mim_result_t  r;

    r = mim_dsp_str_member(root, "", "providerPid", 1, 0, &msg->provider_pid);
    if (mim_ok(r)) {
        r = mim_dsp_str_member(root, "", "consumerPid", 1, 0,
                               &msg->consumer_pid);
    }
    return r;
}

static mim_result_t
parse_event(const json_t *root, mim_dsp_msg_t *msg)
{
    const json_t  *ev;
    const char    *s;
    char           text[64];
    size_t         n, ns = sizeof(MIM_DSP_NS) - 1;
    mim_result_t   r;

    r = parse_pids(root, msg);
    if (!mim_ok(r)) {
        return r;
    }
    ev = json_object_get(root, "eventType");
    if (ev == NULL || !json_is_string(ev)) {
        return mim_result_err(MIM_ERR_INVALID, "eventType: %s",
                              ev == NULL ? "missing" : "expected a string");
    }
    s = json_string_value(ev);
    n = json_string_length(ev);
    /* "@vocab": the full IRI is the same term */
    if (n > ns && memcmp(s, MIM_DSP_NS, ns) == 0) {
        s += ns;
        n -= ns;
    }
    if (n == 8 && memcmp(s, "ACCEPTED", 8) == 0) {
        msg->event = MIM_DSP_EVENT_ACCEPTED;
    } else if (n == 9 && memcmp(s, "FINALIZED", 9) == 0) {
        msg->event = MIM_DSP_EVENT_FINALIZED;
    } else {
        mim_dsp_safe_text(text, sizeof(text), json_string_value(ev),
                          json_string_length(ev));
        return mim_result_err(MIM_ERR_INVALID, "eventType: \"%s\" is not "
                              "ACCEPTED or FINALIZED", text);
    }
    return mim_result_ok();
}

static mim_result_t
parse_termination(const json_t *root, mim_dsp_msg_t *msg)
{
    mim_result_t  r;

    r = parse_pids(root, msg);
    if (mim_ok(r)) {
        r = mim_dsp_code_reason(root, &msg->code, &msg->reason_json);
    }
    return r;
}

static mim_result_t
parse_catalog_request(const json_t *root, mim_dsp_msg_t *msg)
{
    const json_t  *filter = json_object_get(root, "filter");

    if (filter == NULL) {
        return mim_result_ok();
    }
    if (!json_is_array(filter)) {
        return mim_result_err(MIM_ERR_INVALID, "filter: expected an array");
    }
    msg->has_filter = json_array_size(filter) > 0;
    return mim_result_ok();
}

mim_result_t
mim_dsp_msg_parse(mim_dsp_msg_t *msg, mim_dsp_msg_type_t expected,
    const char *json, size_t len)
{
    json_t        *root;
    mim_result_t   r;

    if (msg == NULL) {
        return mim_result_err(MIM_ERR_INVALID, "no message");
    }
    memset(msg, 0, sizeof(*msg));
    if (expected <= MIM_DSP_MSG_NONE || (size_t) expected >= TYPE_COUNT) {
        return mim_result_err(MIM_ERR_INVALID, "unknown message type");
    }
    r = mim_dsp_json_load(json, len, MIM_DSP_MAX_MSG, "message", &root);
    if (!mim_ok(r)) {
        return r;
    }
    if (expected != MIM_DSP_MSG_CATALOG_REQUEST) {
        peek_pids(root, msg);
    }
    r = mim_dsp_check_context(root);
    if (mim_ok(r)) {
        r = mim_dsp_check_type(root, type_names[expected]);
    }
    if (mim_ok(r)) {
        msg->type = expected;
        switch (expected) {
        case MIM_DSP_MSG_CATALOG_REQUEST:
            r = parse_catalog_request(root, msg);
            break;
        case MIM_DSP_MSG_CONTRACT_REQUEST:
            r = parse_contract_request(root, msg);
            break;
        case MIM_DSP_MSG_AGREEMENT_VERIFICATION:
            r = parse_pids(root, msg);
            break;
        case MIM_DSP_MSG_NEGOTIATION_EVENT:
            r = parse_event(root, msg);
            break;
        case MIM_DSP_MSG_NEGOTIATION_TERMINATION:
            r = parse_termination(root, msg);
            break;
        default:
            break;
        }
    }
    json_decref(root);
    return r;
}

void
mim_dsp_msg_free(mim_dsp_msg_t *msg)
{
    if (msg == NULL) {
        return;
    }
    free(msg->consumer_pid);
    free(msg->provider_pid);
    free(msg->callback_address);
    free(msg->offer_id);
    free(msg->offer_target);
    free(msg->offer_json);
    free(msg->code);
    free(msg->reason_json);
    memset(msg, 0, sizeof(*msg));
}

/* ---- what we send ---- */

/* a message about neg: its two pids are required */
static mim_result_t
neg_message(const mim_dsp_neg_t *neg, const char *type, json_t **o)
{
    *o = NULL;
    if (neg == NULL || neg->provider_pid == NULL || neg->consumer_pid == NULL
        || *neg->provider_pid == '\0' || *neg->consumer_pid == '\0')
    {
        return mim_result_err(MIM_ERR_INVALID, "%s: a negotiation with "
                              "providerPid and consumerPid is required",
                              type);
    }
    *o = mim_dsp_message_new(type);
    if (*o == NULL) {
        return mim_dsp_nomem();
    }
    return mim_dsp_put_pids(*o, neg->provider_pid, neg->consumer_pid);
}

mim_result_t
mim_dsp_negotiation_json(const mim_dsp_neg_t *neg, char **out, size_t *len)
{
    json_t        *o;
    mim_result_t   r = mim_dsp_out_init(out, len);

    if (!mim_ok(r)) {
        return r;
    }
    r = neg_message(neg, "ContractNegotiation", &o);
    if (mim_ok(r) && (neg->state <= MIM_DSP_NEG_INITIAL
                      || neg->state > MIM_DSP_NEG_TERMINATED))
    {
        r = mim_result_err(MIM_ERR_INVALID, "state: %s is not a state of a "
                           "negotiation", mim_dsp_neg_state_name(neg->state));
    }
    if (mim_ok(r)) {
        r = mim_dsp_put_str(o, "state", mim_dsp_neg_state_name(neg->state));
    }
    return mim_dsp_message_finish(o, r, out, len);
}

mim_result_t
mim_dsp_agreement_message_json(const mim_dsp_neg_t *neg, char **out,
    size_t *len)
{
    json_t        *o, *agreement;
    mim_result_t   r = mim_dsp_out_init(out, len);

    if (!mim_ok(r)) {
        return r;
    }
    r = neg_message(neg, "ContractAgreementMessage", &o);
    if (mim_ok(r) && neg->agreement_json == NULL) {
        r = mim_result_err(MIM_ERR_INVALID, "agreement: the negotiation has "
                           "none");
    }
    if (mim_ok(r)) {
        r = mim_dsp_json_load(neg->agreement_json,
                              strlen(neg->agreement_json), MIM_DSP_MAX_RECORD,
                              "agreement", &agreement);
        if (mim_ok(r)) {
            r = mim_dsp_put_new(o, "agreement", agreement);
        }
    }
    return mim_dsp_message_finish(o, r, out, len);
}

mim_result_t
mim_dsp_event_message_json(const mim_dsp_neg_t *neg, mim_dsp_event_t event,
    char **out, size_t *len)
{
    json_t        *o;
    mim_result_t   r = mim_dsp_out_init(out, len);

    if (!mim_ok(r)) {
        return r;
    }
    r = neg_message(neg, "ContractNegotiationEventMessage", &o);
    if (mim_ok(r)) {
        switch (event) {
        case MIM_DSP_EVENT_ACCEPTED:
            r = mim_dsp_put_str(o, "eventType", "ACCEPTED");
            break;
        case MIM_DSP_EVENT_FINALIZED:
            r = mim_dsp_put_str(o, "eventType", "FINALIZED");
            break;
        default:
            r = mim_result_err(MIM_ERR_INVALID, "eventType: ACCEPTED or "
                               "FINALIZED");
            break;
        }
    }
    return mim_dsp_message_finish(o, r, out, len);
}

mim_result_t
mim_dsp_termination_message_json(const mim_dsp_neg_t *neg, const char *code,
    const char *reason, char **out, size_t *len)
{
    json_t        *o;
    mim_result_t   r = mim_dsp_out_init(out, len);

    if (!mim_ok(r)) {
        return r;
    }
    r = neg_message(neg, "ContractNegotiationTerminationMessage", &o);
    if (mim_ok(r)) {
        r = mim_dsp_put_str(o, "code", code);
    }
    if (mim_ok(r)) {
        r = mim_dsp_put_reason(o, reason);
    }
    return mim_dsp_message_finish(o, r, out, len);
}

mim_result_t
mim_dsp_negotiation_error_json(const char *provider_pid,
    const char *consumer_pid, const char *code, const char *reason,
    char **out, size_t *len)
{
    json_t        *o;
    mim_result_t   r = mim_dsp_out_init(out, len);

    if (!mim_ok(r)) {
        return r;
    }
    o = mim_dsp_message_new("ContractNegotiationError");
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

mim_result_t
mim_dsp_catalog_error_json(const char *code, const char *reason, char **out,
    size_t *len)
{
    json_t        *o;
    mim_result_t   r = mim_dsp_out_init(out, len);

    if (!mim_ok(r)) {
        return r;
    }
    o = mim_dsp_message_new("CatalogError");
    if (o == NULL) {
        return mim_dsp_nomem();
    }
    r = mim_dsp_put_str(o, "code", code);
    if (mim_ok(r)) {
        r = mim_dsp_put_reason(o, reason);
    }
    return mim_dsp_message_finish(o, r, out, len);
}

static mim_result_t
version_auth(json_t *entry, const char *protocol, const char *version,
    const char *const *profile)
{
    json_t        *auth, *list, *item;
    mim_result_t   r;
    size_t         i;

    if (version == NULL) {
        return mim_result_err(MIM_ERR_INVALID, "auth.version: required with "
                              "auth.protocol");
    }
    auth = json_object();
    if (auth == NULL) {
        return mim_dsp_nomem();
    }
    r = mim_dsp_put_str(auth, "protocol", protocol);
    if (mim_ok(r)) {
        r = mim_dsp_put_str(auth, "version", version);
    }
    if (mim_ok(r) && profile != NULL) {
        list = json_array();
        r = mim_dsp_put_new(auth, "profile", list);
        for (i = 0; mim_ok(r) && profile[i] != NULL; i++) {
            r = mim_dsp_string_new("auth.profile", profile[i], &item);
            if (mim_ok(r) && json_array_append_new(list, item) != 0) {
                r = mim_dsp_nomem();
            }
        }
    }
    if (mim_ok(r)) {
        return mim_dsp_put_new(entry, "auth", auth);
    }
    json_decref(auth);
    return r;
}

mim_result_t
mim_dsp_version_json(const char *path, const char *auth_protocol,
    const char *auth_version, const char *const *auth_profile, char **out,
    size_t *len)
{
    json_t        *root, *entry;
    mim_result_t   r = mim_dsp_out_init(out, len);

    if (!mim_ok(r)) {
        return r;
    }
    if (path == NULL) {
        return mim_result_err(MIM_ERR_INVALID, "path: missing");
    }
    root = json_object();
    entry = json_object();
    if (root == NULL || entry == NULL
        || json_object_set_new(root, "protocolVersions", json_array()) != 0
        || json_array_append(json_object_get(root, "protocolVersions"),
                             entry) != 0)
    {
        json_decref(entry);
        json_decref(root);
        return mim_dsp_nomem();
    }
    json_decref(entry);         /* the array holds it */
    r = mim_dsp_put_str(entry, "version", MIM_DSP_VERSION);
    if (mim_ok(r)) {
        r = mim_dsp_put_str(entry, "path", path);
    }
    if (mim_ok(r)) {
        r = mim_dsp_put_str(entry, "binding", "HTTPS");
    }
    if (mim_ok(r) && auth_protocol != NULL) {
        r = version_auth(entry, auth_protocol, auth_version, auth_profile);
    }
    return mim_dsp_message_finish(root, r, out, len);
}
