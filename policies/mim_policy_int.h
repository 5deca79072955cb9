/*
 * mim_policy_int.h - the compiled form of an ODRL policy, shared by the
 * parser (mim_policy_parse.c), the evaluator (mim_policy_eval.c), the
 * vocabulary (mim_policy_vocab.c) and the value codecs
 * (mim_policy_value.c).  Not part of the interface.
 *
 * A compiled policy is a handful of flat arrays indexed by uint32_t and
 * one string arena: no pointers between its parts, no JSON.  Strings are
 * (offset, length) pairs into the arena, each also NUL-terminated there.
 */
#ifndef MIM_POLICY_INT_H
#define MIM_POLICY_INT_H

#include <stddef.h>
#include <stdint.h>

#include "mim_policy.h"

#define MP_NONE           UINT32_MAX

/* limits of the compiler (inputs past them are refused, MIM_ERR_LIMIT) */
#define MP_MAX_JSON       (1024 * 1024)  /* bytes of policy text */
#define MP_MAX_DEPTH      16             /* nested logical constraints */
#define MP_MAX_RULES      4096           /* atomic rules after splitting */
#define MP_MAX_NODES      65536          /* constraints, logical included */
#define MP_MAX_VALUES     65536          /* right operand values */
#define MP_MAX_WARNINGS   64

/* a reason line is cut at this length (the buffer is on the stack) */
#define MP_LINE_MAX       512

/* how much of a right operand list a constraint's text shows */
#define MP_TEXT_MAX       160

/* ODRL vocabulary namespace */
#define MP_ODRL_NS        "http://www.w3.org/ns/odrl/2/"
#define MP_XSD_NS         "http://www.w3.org/2001/XMLSchema#"
#define MP_CLAIM_PREFIX   "urn:mim:claim:"

typedef struct {
    uint32_t  off;      /* MP_NONE: absent */
    uint32_t  len;
} mp_str_t;

/* ---- vocabulary ---- */

/* actions of the ODRL 2.2 common vocabulary; MP_ACT_OTHER: not ODRL's */
enum {
    MP_ACT_USE = 0,
    MP_ACT_TRANSFER,
    MP_ACT_ACCEPT_TRACKING,
    MP_ACT_AGGREGATE,
    MP_ACT_ANNOTATE,
    MP_ACT_ANONYMIZE,
    MP_ACT_ARCHIVE,
    MP_ACT_ATTRIBUTE,
    MP_ACT_COMPENSATE,
    MP_ACT_CONCURRENT_USE,
    MP_ACT_DELETE,
    MP_ACT_DERIVE,
    MP_ACT_DIGITIZE,
    MP_ACT_DISPLAY,
    MP_ACT_DISTRIBUTE,
    MP_ACT_ENSURE_EXCLUSIVITY,
    MP_ACT_EXECUTE,
    MP_ACT_EXTRACT,
    MP_ACT_GIVE,
    MP_ACT_GRANT_USE,
    MP_ACT_INCLUDE,
    MP_ACT_INDEX,
    MP_ACT_INFORM,
    MP_ACT_INSTALL,
    MP_ACT_MODIFY,
    MP_ACT_MOVE,
    MP_ACT_NEXT_POLICY,
    MP_ACT_OBTAIN_CONSENT,
    MP_ACT_PLAY,
    MP_ACT_PRESENT,
    MP_ACT_PRINT,
    MP_ACT_READ,
    MP_ACT_REPRODUCE,
    MP_ACT_REVIEW_POLICY,
    MP_ACT_SELL,
    MP_ACT_STREAM,
    MP_ACT_SYNCHRONIZE,
    MP_ACT_TEXT_TO_SPEECH,
    MP_ACT_TRANSFORM,
    MP_ACT_TRANSLATE,
    MP_ACT_UNINSTALL,
    MP_ACT_WATERMARK,
    MP_ACT_COUNT,
    MP_ACT_OTHER = 0xff
};

/* left operands */
enum {
    MP_LOP_UNKNOWN = 0,   /* not an ODRL left operand, nor a claim */
    MP_LOP_UNDECIDED,     /* an ODRL left operand the gateway cannot decide */
    MP_LOP_DATETIME,
    MP_LOP_ELAPSED,
    MP_LOP_COUNT,
    MP_LOP_PURPOSE,
    MP_LOP_RECIPIENT,
    MP_LOP_VLOC,
    MP_LOP_SPATIAL,
    MP_LOP_CHANNEL,
    MP_LOP_EVENT,
    MP_LOP_CLAIM,
    MP_LOP_NGSILD_TYPE,   /* urn:mim:ngsild:entityType */
    MP_LOP_NGSILD_ATTR    /* urn:mim:ngsild:attribute */
};

#define MP_NGSILD_TYPE    "urn:mim:ngsild:entityType"
#define MP_NGSILD_ATTR    "urn:mim:ngsild:attribute"

static inline int
mp_lop_ngsild(int lop)
{
    return lop == MP_LOP_NGSILD_TYPE || lop == MP_LOP_NGSILD_ATTR;
}

/* operators */
enum {
    MP_OP_UNKNOWN = 0,
    MP_OP_EQ,
    MP_OP_NEQ,
    MP_OP_LT,
    MP_OP_LTEQ,
    MP_OP_GT,
    MP_OP_GTEQ,
    MP_OP_ISA,
    MP_OP_HASPART,
    MP_OP_ISPARTOF,
    MP_OP_ISALLOF,
    MP_OP_ISANYOF,
    MP_OP_ISNONEOF
};

/* policy types, conflict strategies */
enum { MP_SET = 0, MP_OFFER, MP_AGREEMENT };
enum { MP_CONFLICT_INVALID = 0, MP_CONFLICT_PERM, MP_CONFLICT_PROHIBIT };

/* datatypes of typed literals */
enum {
    MP_DT_NONE = 0,       /* no @type */
    MP_DT_UNKNOWN,        /* a datatype the engine does not know */
    MP_DT_STRING,         /* xsd:string, xsd:anyURI, xsd:token ... */
    MP_DT_DATETIME,
    MP_DT_DATE,
    MP_DT_DURATION,
    MP_DT_INTEGER,
    MP_DT_DECIMAL,
    MP_DT_BOOLEAN
};

/*
 * The local name of an ODRL term written compact ("read"), prefixed
 * ("odrl:read") or as a full IRI; NULL when s is not in the ODRL
 * namespace (another prefix, another IRI).
 */
const char *mp_odrl_local(const char *s, size_t len, size_t *local_len);

/* MP_ACT_* of an action term (any of the three forms), or MP_ACT_OTHER */
int mp_action_lookup(const char *s, size_t len);
const char *mp_action_name(int action);
/* 1 when a permission (or prohibition) for rule_action covers requested */
int mp_action_covers(int rule_action, int requested);

int mp_lop_lookup(const char *s, size_t len);
const char *mp_lop_name(int lop);
int mp_op_lookup(const char *s, size_t len);
const char *mp_op_name(int op);
int mp_datatype_lookup(const char *s, size_t len);

/* ---- values (mim_policy_value.c) ---- */

enum {
    MP_V_STR = 0,         /* an IRI or a plain string: compared as bytes */
    MP_V_INT,             /* u.i */
    MP_V_DEC,             /* u.d */
    MP_V_TIME,            /* u.i: seconds since the epoch */
    MP_V_DATE,            /* u.i: first second of the day (UTC) */
    MP_V_DUR,             /* u.i: seconds */
    MP_V_NET              /* u.net: address and prefix length */
};

typedef struct {
    uint8_t   family;     /* 4 or 6 */
    uint8_t   bits;       /* prefix length */
    uint8_t   addr[16];
} mp_net_t;

typedef struct {
    uint8_t    kind;      /* MP_V_* */
    mp_str_t   text;      /* as written: the value of MP_V_STR, and for
                             messages */
    union {
        int64_t   i;
        double    d;
        mp_net_t  net;
    } u;
} mp_value_t;

/* "2026-05-01T10:00:00Z", "2026-05-01T10:00Z", with offsets, 24:00:00 */
int mp_parse_datetime(const char *s, size_t len, int64_t *out);
/* "2026-05-01", "2026-05-01Z", "2026-05-01+02:00": first second, UTC */
int mp_parse_date(const char *s, size_t len, int64_t *out);
int mp_parse_duration(const char *s, size_t len, int64_t *out);
/* [+-]digits: 0 / -1 (syntax or range) */
int mp_parse_integer(const char *s, size_t len, int64_t *out);
/* [+-]digits[.digits] (or an integer): sets *is_int and *i or *d */
int mp_parse_decimal(const char *s, size_t len, int *is_int, int64_t *i,
    double *d);
/* an IPv4 or IPv6 address, or a CIDR block "10.0.0.0/8" */
int mp_parse_net(const char *s, size_t len, int allow_prefix, mp_net_t *out);
/* 1 when addr (a /32 or /128 net) lies inside net */
int mp_net_contains(const mp_net_t *net, const mp_net_t *addr);

/* "2026-05-01T10:00:00Z" into buf (>= 32 bytes); returns the length */
size_t mp_format_datetime(char *buf, int64_t t);
/* "PT2H", "P1DT30M" into buf (>= 48 bytes); returns the length */
size_t mp_format_duration(char *buf, int64_t seconds);

/* ---- the compiled policy ---- */

/* a constraint: atomic or logical */
enum { MP_N_ATOM = 0, MP_N_AND, MP_N_OR, MP_N_XONE, MP_N_ANDSEQ };

typedef struct {
    uint8_t    type;      /* MP_N_* */
    uint8_t    op;        /* atomic: MP_OP_* */
    uint8_t    lop;       /* atomic: MP_LOP_* */
    uint8_t    pad;
    uint32_t   first;     /* atomic: values[first..]; logical: nodes[first..] */
    uint32_t   n;
    mp_str_t   claim;     /* MP_LOP_CLAIM: the claim's name */
    mp_str_t   text;      /* "dateTime lteq 2026-12-31T00:00:00Z", "or" */
    mp_str_t   problem;   /* set: the constraint cannot be decided and
                             never holds, for this reason */
} mp_node_t;

enum { MP_R_PERMISSION = 0, MP_R_PROHIBITION, MP_R_OBLIGATION, MP_R_DUTY };

/* an atomic rule: one action, at most one target and one assignee */
typedef struct {
    uint8_t    kind;      /* MP_R_* */
    uint8_t    action;    /* MP_ACT_*, MP_ACT_OTHER: compare action_name */
    uint16_t   pad;
    mp_str_t   action_name;  /* local name of ODRL actions, else the IRI */
    mp_str_t   target;    /* absent: any target */
    mp_str_t   assignee;  /* absent: anyone */
    mp_str_t   uid;
    mp_str_t   label;     /* "permission[0] (urn:uid)" */
    mp_str_t   place;     /* "permission[0]" */
    uint32_t   cons_first, cons_n;   /* nodes: all must hold */
    uint32_t   ref_first, ref_n;     /* nodes: the action's refinements */
    uint32_t   duty_first, duty_n;   /* duties[] */
} mp_rule_t;

struct mim_policy_s {
    char          *arena;
    size_t         arena_len;

    mp_rule_t     *rules;          /* permissions, prohibitions, obligations */
    size_t         nrules;
    mp_rule_t     *duties;
    size_t         nduties;
    mp_node_t     *nodes;
    size_t         nnodes;
    mp_value_t    *values;
    size_t         nvalues;
    size_t         natoms;         /* atomic constraints, refinements too */

    uint8_t        type;           /* MP_SET ... */
    uint8_t        conflict;       /* MP_CONFLICT_* */
    mp_str_t       uid;
    mp_str_t       target;         /* the single policy-level target */
    mp_str_t       assignee;       /* the single policy-level assignee */
    int            has_timestamp;
    int64_t        timestamp;

    mp_str_t      *warnings;
    size_t         nwarnings;
};

/* the arena string s as a C string (valid: the arena is NUL-separated) */
static inline const char *
mp_cstr(const mim_policy_t *p, mp_str_t s)
{
    return s.off == MP_NONE ? NULL : p->arena + s.off;
}

/* ---- decisions without an explanation (mim_policy_ngsild.c) ---- */

/*
 * What a constraint says for a request: MP_LATER when a value it needs is
 * not known yet (at negotiation, or an NGSI-LD operand the request does
 * not name), or, with others_unknown, for every left operand but the
 * NGSI-LD ones.
 */
enum { MP_NO = 0, MP_YES = 1, MP_LATER = 2 };

int mp_node_decide(const mim_policy_t *p, const mim_policy_request_t *req,
    int others_unknown, uint32_t idx);

/* 1 when rule r is for req: action covered, target and assignee match */
int mp_rule_applies(const mim_policy_t *p, const mim_policy_request_t *req,
    const mp_rule_t *r);

#endif /* MIM_POLICY_INT_H */
