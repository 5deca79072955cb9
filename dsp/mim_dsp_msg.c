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
#include <stdio.h>
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

/* ---- member checks ---- */

/*
 * "path.member" or "member" (path empty), and "path.member[i]": cut with
 * "..." when too long (a path that deep still names where it starts).
 */
static void
path_cut(char *dst, int n)
{
    if (n < 0 || n >= MIM_DSP_PATH_MAX) {
        memcpy(dst + MIM_DSP_PATH_MAX - 4, "...", 4);
    }
}

static void
join(char *dst, const char *path, const char *member)
{
    path_cut(dst, snprintf(dst, MIM_DSP_PATH_MAX, "%s%s%s", path,
                           *path ? "." : "", member));
}

static void
join_index(char *dst, const char *path, const char *member, size_t i)
{
    path_cut(dst, snprintf(dst, MIM_DSP_PATH_MAX, "%s%s%s[%zu]", path,
                           *path ? "." : "", member, i));
}

/*
 * A string member at path.name: required or not, non-empty unless
 * empty_ok, at most MIM_DSP_MAX_STR bytes.  *out (when not NULL) gets a
 * copy; what it held before is freed.
 */
static mim_result_t
str_member(const json_t *obj, const char *path, const char *name,
    int required, int empty_ok, char **out)
{
    const json_t  *v = json_object_get(obj, name);
    char           at[MIM_DSP_PATH_MAX];
    size_t         n;

    join(at, path, name);
    if (v == NULL) {
        return required ? mim_result_err(MIM_ERR_INVALID, "%s: missing", at)
                        : mim_result_ok();
    }
    if (!json_is_string(v)) {
        return mim_result_err(MIM_ERR_INVALID, "%s: expected a string", at);
    }
    n = json_string_length(v);
    if (n == 0 && !empty_ok) {
        return mim_result_err(MIM_ERR_INVALID, "%s: empty", at);
    }
    if (n > MIM_DSP_MAX_STR) {
        return mim_result_err(MIM_ERR_LIMIT, "%s: longer than %d bytes", at,
                              MIM_DSP_MAX_STR);
    }
    if (out != NULL) {
        free(*out);
        *out = mim_dsp_strndup(json_string_value(v), n);
        if (*out == NULL) {
            return mim_dsp_nomem();
        }
    }
    return mim_result_ok();
}

/* "@context": an array of strings holding the 2025-1 context; a string
   alone is accepted, as some peers send it */
static mim_result_t
check_context(const json_t *root)
{
    const json_t  *ctx = json_object_get(root, "@context"), *item;
    size_t         i;
    int            found = 0;

    if (ctx == NULL) {
        return mim_result_err(MIM_ERR_INVALID, "@context: missing");
    }
    if (json_is_string(ctx)) {
        found = strcmp(json_string_value(ctx), MIM_DSP_CONTEXT) == 0;
    } else if (json_is_array(ctx)) {
        json_array_foreach(ctx, i, item) {
            if (!json_is_string(item)) {
                return mim_result_err(MIM_ERR_INVALID, "@context[%zu]: "
                                      "expected a string", i);
            }
            found |= strcmp(json_string_value(item), MIM_DSP_CONTEXT) == 0;
        }
    } else {
        return mim_result_err(MIM_ERR_INVALID, "@context: expected an array "
                              "of strings");
    }
    if (!found) {
        return mim_result_err(MIM_ERR_INVALID, "@context: does not hold "
                              MIM_DSP_CONTEXT " (DSP 2025-1)");
    }
    return mim_result_ok();
}

static mim_result_t
check_type(const json_t *root, const char *expected)
{
    const json_t  *t = json_object_get(root, "@type");
    char           text[64];

    if (t == NULL) {
        return mim_result_err(MIM_ERR_INVALID, "@type: missing");
    }
    if (!json_is_string(t)) {
        return mim_result_err(MIM_ERR_INVALID, "@type: expected the string "
                              "\"%s\"", expected);
    }
    if (strcmp(json_string_value(t), expected) != 0) {
        mim_dsp_safe_text(text, sizeof(text), json_string_value(t),
                          json_string_length(t));
        return mim_result_err(MIM_ERR_INVALID, "@type: expected %s, not "
                              "\"%s\"", expected, text);
    }
    return mim_result_ok();
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
        join_index(at, path, which, i);
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
    r = str_member(rule, path, "action", 1, 0, NULL);
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
        join_index(at, path, "constraint", i);
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
        join_index(at, path, name, i);
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
    r = str_member(offer, path, "@id", 1, 0, NULL);
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
    r = str_member(offer, path, "target", 0, 0, NULL);
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
    (void) str_member(root, "", "consumerPid", 0, 0, &msg->consumer_pid);
    (void) str_member(root, "", "providerPid", 0, 0, &msg->provider_pid);
}

static mim_result_t
parse_contract_request(const json_t *root, mim_dsp_msg_t *msg)
{
    const json_t  *offer;
    mim_result_t   r;

    r = str_member(root, "", "consumerPid", 1, 0, &msg->consumer_pid);
    if (mim_ok(r)) {
        r = str_member(root, "", "providerPid", 0, 0, &msg->provider_pid);
    }
    if (mim_ok(r)) {
        r = str_member(root, "", "callbackAddress", 0, 0,
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
        r = str_member(offer, "offer", "@id", 1, 0, &msg->offer_id);
    }
    if (mim_ok(r)) {
        r = str_member(offer, "offer", "target", 0, 0, &msg->offer_target);
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

    r = str_member(root, "", "providerPid", 1, 0, &msg->provider_pid);
    if (mim_ok(r)) {
        r = str_member(root, "", "consumerPid", 1, 0, &msg->consumer_pid);
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
    const json_t  *reason;
    mim_result_t   r;

    r = parse_pids(root, msg);
    if (mim_ok(r)) {
        r = str_member(root, "", "code", 0, 1, &msg->code);
    }
    if (!mim_ok(r)) {
        return r;
    }
    reason = json_object_get(root, "reason");
    if (reason == NULL) {
        return mim_result_ok();
    }
    if (!json_is_array(reason)) {
        return mim_result_err(MIM_ERR_INVALID, "reason: expected an array");
    }
    if (json_array_size(reason) == 0) {
        return mim_result_err(MIM_ERR_INVALID, "reason: empty (at least one "
                              "item, or no member)");
    }
    return mim_dsp_json_dump(reason, &msg->reason_json, NULL);
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
    r = check_context(root);
    if (mim_ok(r)) {
        r = check_type(root, type_names[expected]);
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

/* {"@context": [...], "@type": type}, or NULL */
static json_t *
message_new(const char *type)
{
    json_t  *o = json_object();

    if (o == NULL || !mim_ok(mim_dsp_put_new(o, "@context",
                                             mim_dsp_context_new()))
        || !mim_ok(mim_dsp_put_str(o, "@type", type)))
    {
        json_decref(o);
        return NULL;
    }
    return o;
}

/* the text of o when r is ok; o is released */
static mim_result_t
message_finish(json_t *o, mim_result_t r, char **out, size_t *len)
{
    if (mim_ok(r)) {
        r = mim_dsp_json_dump(o, out, len);
    }
    json_decref(o);
    return r;
}

static mim_result_t
out_init(char **out, size_t *len)
{
    if (out == NULL) {
        return mim_result_err(MIM_ERR_INVALID, "no output");
    }
    *out = NULL;
    if (len != NULL) {
        *len = 0;
    }
    return mim_result_ok();
}

static mim_result_t
put_pids(json_t *o, const char *provider_pid, const char *consumer_pid)
{
    mim_result_t  r = mim_dsp_put_str(o, "providerPid", provider_pid);

    return mim_ok(r) ? mim_dsp_put_str(o, "consumerPid", consumer_pid) : r;
}

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
    *o = message_new(type);
    if (*o == NULL) {
        return mim_dsp_nomem();
    }
    return put_pids(*o, neg->provider_pid, neg->consumer_pid);
}

/* "reason": [reason] when reason is not NULL */
static mim_result_t
put_reason(json_t *o, const char *reason)
{
    json_t        *s;
    mim_result_t   r;

    if (reason == NULL) {
        return mim_result_ok();
    }
    r = mim_dsp_string_new("reason", reason, &s);
    return mim_ok(r) ? mim_dsp_put_new(o, "reason", json_pack("[o]", s)) : r;
}

mim_result_t
mim_dsp_negotiation_json(const mim_dsp_neg_t *neg, char **out, size_t *len)
{
    json_t        *o;
    mim_result_t   r = out_init(out, len);

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
    return message_finish(o, r, out, len);
}

mim_result_t
mim_dsp_agreement_message_json(const mim_dsp_neg_t *neg, char **out,
    size_t *len)
{
    json_t        *o, *agreement;
    mim_result_t   r = out_init(out, len);

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
    return message_finish(o, r, out, len);
}

mim_result_t
mim_dsp_event_message_json(const mim_dsp_neg_t *neg, mim_dsp_event_t event,
    char **out, size_t *len)
{
    json_t        *o;
    mim_result_t   r = out_init(out, len);

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
    return message_finish(o, r, out, len);
}

mim_result_t
mim_dsp_termination_message_json(const mim_dsp_neg_t *neg, const char *code,
    const char *reason, char **out, size_t *len)
{
    json_t        *o;
    mim_result_t   r = out_init(out, len);

    if (!mim_ok(r)) {
        return r;
    }
    r = neg_message(neg, "ContractNegotiationTerminationMessage", &o);
    if (mim_ok(r)) {
        r = mim_dsp_put_str(o, "code", code);
    }
    if (mim_ok(r)) {
        r = put_reason(o, reason);
    }
    return message_finish(o, r, out, len);
}

mim_result_t
mim_dsp_negotiation_error_json(const char *provider_pid,
    const char *consumer_pid, const char *code, const char *reason,
    char **out, size_t *len)
{
    json_t        *o;
    mim_result_t   r = out_init(out, len);

    if (!mim_ok(r)) {
        return r;
    }
    o = message_new("ContractNegotiationError");
    if (o == NULL) {
        return mim_dsp_nomem();
    }
    /* both required by the schema, even when the message had none */
    r = put_pids(o, provider_pid != NULL ? provider_pid : "",
                 consumer_pid != NULL ? consumer_pid : "");
    if (mim_ok(r)) {
        r = mim_dsp_put_str(o, "code", code);
    }
    if (mim_ok(r)) {
        r = put_reason(o, reason);
    }
    return message_finish(o, r, out, len);
}

mim_result_t
mim_dsp_catalog_error_json(const char *code, const char *reason, char **out,
    size_t *len)
{
    json_t        *o;
    mim_result_t   r = out_init(out, len);

    if (!mim_ok(r)) {
        return r;
    }
    o = message_new("CatalogError");
    if (o == NULL) {
        return mim_dsp_nomem();
    }
    r = mim_dsp_put_str(o, "code", code);
    if (mim_ok(r)) {
        r = put_reason(o, reason);
    }
    return message_finish(o, r, out, len);
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
    mim_result_t   r = out_init(out, len);

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
    return message_finish(root, r, out, len);
}
