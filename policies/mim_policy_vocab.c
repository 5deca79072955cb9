/*
 * mim_policy_vocab.c - the ODRL 2.2 terms the engine knows: actions with
 * their includedIn hierarchy, left operands, operators, XSD datatypes.
 *
 * Every lookup accepts a term in its three spellings: compact ("read", as
 * the DSP 2025-1 and W3C ODRL contexts define them), prefixed
 * ("odrl:read") and expanded ("http://www.w3.org/ns/odrl/2/read").
 * Lookups run at compile time, except the requested action's, once per
 * decision: linear scans over small static tables, no allocation.
 */
#include <string.h>

#include "mim_policy_int.h"

typedef struct {
    const char  *name;
    size_t       len;
    int          parent;    /* MP_ACT_*, -1 for the roots use, transfer */
} mp_action_def_t;

#define MP_ACTION(name, parent)  { name, sizeof(name) - 1, parent }

/*
 * ODRL 2.2 vocabulary (https://www.w3.org/TR/odrl-vocab/, ODRL22.ttl):
 * use and transfer are the roots; every other action is includedIn use,
 * except display (in play), extract (in reproduce), give and sell (in
 * transfer).
 */
static const mp_action_def_t  mp_actions[MP_ACT_COUNT] = {
    [MP_ACT_USE]                = MP_ACTION("use", -1),
    [MP_ACT_TRANSFER]           = MP_ACTION("transfer", -1),
    [MP_ACT_ACCEPT_TRACKING]    = MP_ACTION("acceptTracking", MP_ACT_USE),
    [MP_ACT_AGGREGATE]          = MP_ACTION("aggregate", MP_ACT_USE),
    [MP_ACT_ANNOTATE]           = MP_ACTION("annotate", MP_ACT_USE),
    [MP_ACT_ANONYMIZE]          = MP_ACTION("anonymize", MP_ACT_USE),
    [MP_ACT_ARCHIVE]            = MP_ACTION("archive", MP_ACT_USE),
    [MP_ACT_ATTRIBUTE]          = MP_ACTION("attribute", MP_ACT_USE),
    [MP_ACT_COMPENSATE]         = MP_ACTION("compensate", MP_ACT_USE),
    [MP_ACT_CONCURRENT_USE]     = MP_ACTION("concurrentUse", MP_ACT_USE),
    [MP_ACT_DELETE]             = MP_ACTION("delete", MP_ACT_USE),
    [MP_ACT_DERIVE]             = MP_ACTION("derive", MP_ACT_USE),
    [MP_ACT_DIGITIZE]           = MP_ACTION("digitize", MP_ACT_USE),
    [MP_ACT_DISPLAY]            = MP_ACTION("display", MP_ACT_PLAY),
    [MP_ACT_DISTRIBUTE]         = MP_ACTION("distribute", MP_ACT_USE),
    [MP_ACT_ENSURE_EXCLUSIVITY] = MP_ACTION("ensureExclusivity", MP_ACT_USE),
    [MP_ACT_EXECUTE]            = MP_ACTION("execute", MP_ACT_USE),
    [MP_ACT_EXTRACT]            = MP_ACTION("extract", MP_ACT_REPRODUCE),
    [MP_ACT_GIVE]               = MP_ACTION("give", MP_ACT_TRANSFER),
    [MP_ACT_GRANT_USE]          = MP_ACTION("grantUse", MP_ACT_USE),
    [MP_ACT_INCLUDE]            = MP_ACTION("include", MP_ACT_USE),
    [MP_ACT_INDEX]              = MP_ACTION("index", MP_ACT_USE),
    [MP_ACT_INFORM]             = MP_ACTION("inform", MP_ACT_USE),
    [MP_ACT_INSTALL]            = MP_ACTION("install", MP_ACT_USE),
    [MP_ACT_MODIFY]             = MP_ACTION("modify", MP_ACT_USE),
    [MP_ACT_MOVE]               = MP_ACTION("move", MP_ACT_USE),
    [MP_ACT_NEXT_POLICY]        = MP_ACTION("nextPolicy", MP_ACT_USE),
    [MP_ACT_OBTAIN_CONSENT]     = MP_ACTION("obtainConsent", MP_ACT_USE),
    [MP_ACT_PLAY]               = MP_ACTION("play", MP_ACT_USE),
    [MP_ACT_PRESENT]            = MP_ACTION("present", MP_ACT_USE),
    [MP_ACT_PRINT]              = MP_ACTION("print", MP_ACT_USE),
    [MP_ACT_READ]               = MP_ACTION("read", MP_ACT_USE),
    [MP_ACT_REPRODUCE]          = MP_ACTION("reproduce", MP_ACT_USE),
    [MP_ACT_REVIEW_POLICY]      = MP_ACTION("reviewPolicy", MP_ACT_USE),
    [MP_ACT_SELL]               = MP_ACTION("sell", MP_ACT_TRANSFER),
    [MP_ACT_STREAM]             = MP_ACTION("stream", MP_ACT_USE),
    [MP_ACT_SYNCHRONIZE]        = MP_ACTION("synchronize", MP_ACT_USE),
    [MP_ACT_TEXT_TO_SPEECH]     = MP_ACTION("textToSpeech", MP_ACT_USE),
    [MP_ACT_TRANSFORM]          = MP_ACTION("transform", MP_ACT_USE),
    [MP_ACT_TRANSLATE]          = MP_ACTION("translate", MP_ACT_USE),
    [MP_ACT_UNINSTALL]          = MP_ACTION("uninstall", MP_ACT_USE),
    [MP_ACT_WATERMARK]          = MP_ACTION("watermark", MP_ACT_USE),
};

/* deprecated ODRL 2.1 actions with a skos:exactMatch in 2.2 */
static const struct {
    const char  *name;
    int          action;
} mp_action_aliases[] = {
    { "append",   MP_ACT_MODIFY },
    { "appendTo", MP_ACT_MODIFY },
    { "write",    MP_ACT_MODIFY },
    { "writeTo",  MP_ACT_MODIFY },
    { "copy",     MP_ACT_REPRODUCE },
    { "export",   MP_ACT_TRANSFORM },
    { "license",  MP_ACT_GRANT_USE },
    { "pay",      MP_ACT_COMPENSATE },
};

#define MP_NELEM(a)  (sizeof(a) / sizeof((a)[0]))

static int
mp_term_is(const char *s, size_t len, const char *name)
{
    return s[0] == name[0] && strlen(name) == len
           && memcmp(name, s, len) == 0;
}

static int
mp_has_prefix(const char *s, size_t len, const char *prefix, size_t plen)
{
    return len > plen && memcmp(s, prefix, plen) == 0;
}

const char *
mp_odrl_local(const char *s, size_t len, size_t *local_len)
{
    static const char  ns[] = MP_ODRL_NS;
    static const char  ns_tls[] = "https://www.w3.org/ns/odrl/2/";

    if (mp_has_prefix(s, len, "odrl:", 5)) {
        *local_len = len - 5;
        return s + 5;
    }
    if (mp_has_prefix(s, len, ns, sizeof(ns) - 1)) {
        *local_len = len - (sizeof(ns) - 1);
        return s + sizeof(ns) - 1;
    }
    if (mp_has_prefix(s, len, ns_tls, sizeof(ns_tls) - 1)) {
        *local_len = len - (sizeof(ns_tls) - 1);
        return s + sizeof(ns_tls) - 1;
    }
    /* a compact term has no colon (a colon makes it a CURIE or an IRI) */
    if (len == 0 || memchr(s, ':', len) != NULL) {
        return NULL;
    }
    *local_len = len;
    return s;
}

int
mp_action_lookup(const char *s, size_t len)
{
    const char  *name;
    size_t       n, i;

    name = mp_odrl_local(s, len, &n);
    if (name == NULL || n == 0) {
        return MP_ACT_OTHER;
    }
    for (i = 0; i < MP_ACT_COUNT; i++) {
        /* once per decision: the length first, then the bytes */
        if (mp_actions[i].len == n && memcmp(mp_actions[i].name, name, n) == 0)
        {
            return (int) i;
        }
    }
    for (i = 0; i < MP_NELEM(mp_action_aliases); i++) {
        if (mp_term_is(name, n, mp_action_aliases[i].name)) {
            return mp_action_aliases[i].action;
        }
    }
    return MP_ACT_OTHER;
}

const char *
mp_action_name(int action)
{
    return action >= 0 && action < MP_ACT_COUNT ? mp_actions[action].name
                                                : NULL;
}

int
mp_action_covers(int rule_action, int requested)
{
    int  a, steps;

    if (rule_action == MP_ACT_OTHER || requested == MP_ACT_OTHER) {
        return 0;       /* the caller compares the names of other actions */
    }
    /* walk up includedIn from the requested action: depth <= 3 */
    for (a = requested, steps = 0; a >= 0 && steps < 8; steps++) {
        if (a == rule_action) {
            return 1;
        }
        a = mp_actions[a].parent;
    }
    return 0;
}

/* ---- left operands ---- */

static const struct {
    const char  *name;
    int          lop;
} mp_lops[] = {
    { "dateTime",        MP_LOP_DATETIME },
    { "elapsedTime",     MP_LOP_ELAPSED },
    { "count",           MP_LOP_COUNT },
    { "purpose",         MP_LOP_PURPOSE },
    { "recipient",       MP_LOP_RECIPIENT },
    { "virtualLocation", MP_LOP_VLOC },
    { "spatial",         MP_LOP_SPATIAL },
    { "deliveryChannel", MP_LOP_CHANNEL },
    { "event",           MP_LOP_EVENT },
};

/* ODRL 2.2 left operands a gateway cannot observe in a request */
static const char *const  mp_lops_undecided[] = {
    "absolutePosition", "absoluteSpatialPosition",
    "absoluteTemporalPosition", "absoluteSize", "delayPeriod",
    "fileFormat", "industry", "language", "media", "meteredTime",
    "payAmount", "percentage", "product", "relativePosition",
    "relativeSpatialPosition", "relativeTemporalPosition", "relativeSize",
    "resolution", "spatialCoordinates", "systemDevice", "timeInterval",
    "unitOfCount", "version", "device", "system", "proximity",
    "timedCount",
};

int
mp_lop_lookup(const char *s, size_t len)
{
    const char  *name;
    size_t       n, i;

    if (mp_has_prefix(s, len, MP_CLAIM_PREFIX, sizeof(MP_CLAIM_PREFIX) - 1)) {
        return MP_LOP_CLAIM;
    }
    /* NGSI-LD operands: the URN only, as claims (a prefix the document
       declares inline has been expanded by then) */
    if (mp_term_is(s, len, MP_NGSILD_TYPE)) {
        return MP_LOP_NGSILD_TYPE;
    }
    if (mp_term_is(s, len, MP_NGSILD_ATTR)) {
        return MP_LOP_NGSILD_ATTR;
    }
    name = mp_odrl_local(s, len, &n);
    if (name == NULL || n == 0) {
        return MP_LOP_UNKNOWN;
    }
    for (i = 0; i < MP_NELEM(mp_lops); i++) {
        if (mp_term_is(name, n, mp_lops[i].name)) {
            return mp_lops[i].lop;
        }
    }
    for (i = 0; i < MP_NELEM(mp_lops_undecided); i++) {
        if (mp_term_is(name, n, mp_lops_undecided[i])) {
            return MP_LOP_UNDECIDED;
        }
    }
    return MP_LOP_UNKNOWN;
}

const char *
mp_lop_name(int lop)
{
    size_t  i;

    if (lop == MP_LOP_NGSILD_TYPE) {
        return MP_NGSILD_TYPE;
    }
    if (lop == MP_LOP_NGSILD_ATTR) {
        return MP_NGSILD_ATTR;
    }
    for (i = 0; i < MP_NELEM(mp_lops); i++) {
        if (mp_lops[i].lop == lop) {
            return mp_lops[i].name;
        }
    }
    return NULL;
}

/* ---- operators ---- */

static const struct {
    const char  *name;
    int          op;
} mp_ops[] = {
    { "eq",       MP_OP_EQ },
    { "neq",      MP_OP_NEQ },
    { "lt",       MP_OP_LT },
    { "lteq",     MP_OP_LTEQ },
    { "gt",       MP_OP_GT },
    { "gteq",     MP_OP_GTEQ },
    { "isA",      MP_OP_ISA },
    { "hasPart",  MP_OP_HASPART },
    { "isPartOf", MP_OP_ISPARTOF },
    { "isAllOf",  MP_OP_ISALLOF },
    { "isAnyOf",  MP_OP_ISANYOF },
    { "isNoneOf", MP_OP_ISNONEOF },
    /* the W3C odrl.jsonld context maps the term neq to odrl:neg */
    { "neg",      MP_OP_NEQ },
};

int
mp_op_lookup(const char *s, size_t len)
{
    const char  *name;
    size_t       n, i;

    name = mp_odrl_local(s, len, &n);
    if (name == NULL || n == 0) {
        return MP_OP_UNKNOWN;
    }
    for (i = 0; i < MP_NELEM(mp_ops); i++) {
        if (mp_term_is(name, n, mp_ops[i].name)) {
            return mp_ops[i].op;
        }
    }
    return MP_OP_UNKNOWN;
}

const char *
mp_op_name(int op)
{
    size_t  i;

    for (i = 0; i < MP_NELEM(mp_ops); i++) {
        if (mp_ops[i].op == op) {
            return mp_ops[i].name;
        }
    }
    return NULL;
}

/* ---- XSD datatypes ---- */

static const struct {
    const char  *name;
    int          dt;
} mp_datatypes[] = {
    { "dateTime",           MP_DT_DATETIME },
    { "dateTimeStamp",      MP_DT_DATETIME },
    { "date",               MP_DT_DATE },
    { "duration",           MP_DT_DURATION },
    { "dayTimeDuration",    MP_DT_DURATION },
    { "yearMonthDuration",  MP_DT_DURATION },
    { "integer",            MP_DT_INTEGER },
    { "int",                MP_DT_INTEGER },
    { "long",               MP_DT_INTEGER },
    { "short",              MP_DT_INTEGER },
    { "nonNegativeInteger", MP_DT_INTEGER },
    { "positiveInteger",    MP_DT_INTEGER },
    { "nonPositiveInteger", MP_DT_INTEGER },
    { "negativeInteger",    MP_DT_INTEGER },
    { "unsignedInt",        MP_DT_INTEGER },
    { "unsignedLong",       MP_DT_INTEGER },
    { "decimal",            MP_DT_DECIMAL },
    { "double",             MP_DT_DECIMAL },
    { "float",              MP_DT_DECIMAL },
    { "string",             MP_DT_STRING },
    { "anyURI",             MP_DT_STRING },
    { "token",              MP_DT_STRING },
    { "normalizedString",   MP_DT_STRING },
    { "boolean",            MP_DT_BOOLEAN },
};

int
mp_datatype_lookup(const char *s, size_t len)
{
    static const char  ns[] = MP_XSD_NS;
    const char        *name;
    size_t             n, i;

    if (mp_has_prefix(s, len, "xsd:", 4)) {
        name = s + 4;
        n = len - 4;
    } else if (mp_has_prefix(s, len, ns, sizeof(ns) - 1)) {
        name = s + sizeof(ns) - 1;
        n = len - (sizeof(ns) - 1);
    } else {
        return MP_DT_UNKNOWN;
    }
    for (i = 0; i < MP_NELEM(mp_datatypes); i++) {
        if (mp_term_is(name, n, mp_datatypes[i].name)) {
            return mp_datatypes[i].dt;
        }
    }
    return MP_DT_UNKNOWN;
}
