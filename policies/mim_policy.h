/*
 * mim_policy.h - ODRL 2.2 policy engine (pure C, no nginx).
 *
 * A policy (Set, Offer or Agreement, as DSP 2025-1 or W3C ODRL JSON-LD)
 * is compiled once into an immutable, compact form; a decision for one
 * request is then made without touching the heap: the caller gives the
 * request context and a buffer for the explanation.
 *
 * Semantics (docs/policies.md): closed world; a request is permitted iff
 * at least one permission applies (action equal to or transitively
 * includedIn the rule's action, target and assignee match) and all its
 * constraints hold and its duties can be discharged, and no applicable
 * prohibition holds, as resolved by the policy's conflict strategy.
 */
#ifndef MIM_POLICY_H
#define MIM_POLICY_H

#include <stddef.h>
#include <stdint.h>

#include "mim_result.h"

typedef struct mim_policy_s  mim_policy_t;

/*
 * Compile a policy from JSON-LD text.  On error the message names the
 * offending member by its JSON path ("permission[0].constraint[1].operator:
 * unknown operator \"foo\"") or, for JSON syntax errors, the line and
 * column.  The policy owns all its memory; free with mim_policy_free().
 */
mim_result_t mim_policy_parse(mim_policy_t **policy, const char *json,
    size_t len);

/* as above, from a file; the message starts with nothing: callers prefix
   the path */
mim_result_t mim_policy_load(mim_policy_t **policy, const char *path);

void mim_policy_free(mim_policy_t *policy);

/* "Set", "Offer" or "Agreement" */
const char *mim_policy_type(const mim_policy_t *policy);

/* the policy's uid (@id / uid), or NULL */
const char *mim_policy_uid(const mim_policy_t *policy);

/* counts, for messages and tests */
size_t mim_policy_rule_count(const mim_policy_t *policy);
size_t mim_policy_constraint_count(const mim_policy_t *policy);


/* A string value with its length; NULL data = absent. */
typedef struct {
    const char  *data;
    size_t       len;
} mim_str_t;

/* A credential claim given to the engine: name and one or more values. */
typedef struct {
    mim_str_t          name;        /* e.g. "role" */
    const mim_str_t   *values;
    size_t             n;
} mim_claim_t;

/*
 * The request, in ODRL terms.  Every member but action is optional:
 * a member that is absent (NULL data, n == 0, has_* == 0) makes every
 * constraint on it fail, with the reason.
 */
typedef struct {
    mim_str_t           action;       /* "read", "odrl:read", or full IRI */
    mim_str_t           target;       /* IRI */
    mim_str_t           assignee;     /* party id or DID */

    int                 has_date_time;
    int64_t             date_time;    /* seconds since the epoch (UTC) */

    int                 has_elapsed;
    int64_t             elapsed;      /* seconds since the agreement */

    int                 has_count;
    int64_t             count;        /* uses so far, this one included */

    const mim_str_t    *purpose;      /* declared purposes (IRIs) */
    size_t              purpose_n;

    mim_str_t           recipient;
    mim_str_t           virtual_location;  /* client address "10.1.2.3" */
    const mim_str_t    *spatial;      /* IRIs the gateway maps to */
    size_t              spatial_n;
    mim_str_t           delivery_channel;
    mim_str_t           event;

    const mim_claim_t  *claims;       /* left operands urn:mim:claim:NAME */
    size_t              claims_n;

    /*
     * Added for DSP negotiations (mim_dsp_offer_check): decide at
     * negotiation time.  Any action is asked (the action member is
     * ignored): a permission applies whatever its action, and a
     * prohibition blocks a permission when its action covers the
     * permission's (a prohibition to distribute does not void a
     * permission to use).  Left operands only known at use (elapsedTime,
     * count, purpose, spatial, recipient, deliveryChannel, event,
     * virtualLocation) are not known yet when absent from the request:
     * such a constraint is assumed to hold inside a permission and not
     * to hold inside a prohibition (logical constraints combine "not
     * known yet" as a third value: "or" of a failing and an unknown
     * constraint is unknown).  Claims, assignee, target and dateTime are
     * decided as usual.  0: a decision at use, as always.
     */
    int                 negotiation;

    /*
     * Added for NGSI-LD (issue 5, docs/ngsild.md): what the request asks
     * of an NGSI-LD broker, the left operands urn:mim:ngsild:entityType
     * (the entity types of `type=`) and urn:mim:ngsild:attribute (the
     * attributes of `attrs=` and those `q=` tests).  Each value must
     * satisfy a constraint, as for purpose.  When the request names none,
     * such a constraint holds inside a permission (the gateway then
     * removes from the response what the permission does not cover, see
     * mim_policy_ngsild_scope()) and does not hold inside a prohibition.
     */
    const mim_str_t    *ngsild_types;
    size_t              ngsild_types_n;
    const mim_str_t    *ngsild_attrs;
    size_t              ngsild_attrs_n;
} mim_policy_request_t;


typedef enum {
    MIM_POLICY_DENY = 0,
    MIM_POLICY_PERMIT = 1
} mim_policy_effect_t;

typedef struct {
    mim_policy_effect_t  effect;
    const char          *rule;       /* uid of the deciding rule (points
                                        into the policy), or NULL */
    size_t               reasons_len;
    int                  truncated;  /* reasons did not all fit */
    const char          *label;      /* added: the deciding rule's place,
                                        "permission[0]", "prohibition[2]"
                                        (points into the policy), or NULL;
                                        stable for a given policy text, for
                                        rules without a uid (DSP rules
                                        rarely have one) */
} mim_policy_decision_t;

/*
 * Decide one request.  The reasons are written to buf (cap bytes) as a
 * JSON array of strings, always valid JSON and NUL-terminated, even when
 * truncated (cap >= 64 required).  No heap allocation; reentrant; the
 * policy is only read.  Returns an error only for bad arguments; a policy
 * that cannot decide (unknown operand, operator, datatype) denies.
 */
mim_result_t mim_policy_eval(const mim_policy_t *policy,
    const mim_policy_request_t *request, mim_policy_decision_t *decision,
    char *buf, size_t cap);


/*
 * Added with the engine: what the glue and `mim policy check` may want to
 * know about a compiled policy.
 */

/* the policy-level target (assignee) when there is exactly one, or NULL:
   an agreement's dataset, its consumer */
const char *mim_policy_target(const mim_policy_t *policy);
const char *mim_policy_assignee(const mim_policy_t *policy);

/* the agreement's timestamp (DSP 2025-1 "timestamp"), seconds since the
   epoch: 0, or -1 when the policy has none.  elapsedTime counts from it. */
int mim_policy_timestamp(const mim_policy_t *policy, int64_t *out);

/* warnings of the compiler: constraints that can never hold (unknown
   left operand, operator or datatype, a value of the wrong type), each
   "permission[0].constraint[1]: unknown operator \"foo\": ...", and
   profiles the engine does not implement.  Worth logging at load time. */
size_t mim_policy_warning_count(const mim_policy_t *policy);
const char *mim_policy_warning(const mim_policy_t *policy, size_t i);

/* xsd:dateTime / xsd:date text -> seconds since the epoch (UTC); 0 / -1 */
int mim_policy_parse_datetime(const char *s, size_t len, int64_t *out);

/* xsd:duration text ("PT2H", "P3D") -> seconds; 0 / -1 (see the docs for
   years and months) */
int mim_policy_parse_duration(const char *s, size_t len, int64_t *out);

/*
 * ---- added for the agreement-gated data plane (issue 5) ----
 *
 * Does any constraint of the policy (refinements, duty constraints and
 * those inside logical constraints included) have the left operand
 * count?  The data plane then reserves a use before deciding (a shared
 * counter) and gives it back on a denial; other policies cost no counter.
 */
int mim_policy_uses_count(const mim_policy_t *policy);

/*
 * ---- NGSI-LD awareness (issue 5): policies/mim_policy_ngsild.c ----
 *
 * A permission may cover only some entity types and attributes
 * (urn:mim:ngsild:entityType, urn:mim:ngsild:attribute).  After a permit,
 * the scope says what the response may show; the filter removes the rest
 * from an NGSI-LD JSON body (docs/ngsild.md).
 */

/*
 * What a response may show.  A NULL allow list allows anything; a
 * non-NULL one with n == 0 allows nothing.  Deny lists win over allow
 * lists.  Allow lists compare names exactly; deny lists also match a
 * name by its last segment ("PM25" denies "https://x.org/ns#PM25" and
 * the other way round), so a consumer cannot dodge a denial by asking
 * for expanded names.
 */
typedef struct {
    const mim_str_t  *types;         /* entity types it may show */
    size_t            types_n;
    const mim_str_t  *deny_types;    /* entity types it must not show */
    size_t            deny_types_n;
    const mim_str_t  *attrs;         /* attributes it may show */
    size_t            attrs_n;
    const mim_str_t  *deny_attrs;    /* attributes it must not show */
    size_t            deny_attrs_n;
} mim_policy_ngsild_scope_t;

/* entries of buf that always suffice for mim_policy_ngsild_scope() */
#define MIM_POLICY_NGSILD_SCOPE_MAX  512

/*
 * The scope of a PERMIT decision d of policy for request: the entity
 * types and attributes its deciding permission covers (for every value
 * the response may hold, as if the request had asked for it), less what
 * an applicable prohibition forbids (unless the policy's conflict
 * strategy is perm).  Constraints inside and/or/xone are decided
 * exactly; one logical constraint over both types and attributes gives
 * a product of the two that never exceeds what it allows.  request NULL:
 * the request is not known: every other left operand is "not known",
 * which narrows (and every prohibition is taken to apply).
 *
 * The lists are slices of buf (cap entries, MIM_POLICY_NGSILD_SCOPE_MAX
 * suffice) whose strings point into the policy.  Errors: bad arguments,
 * a decision that is not a permit of this policy (MIM_ERR_INVALID), more
 * than 255 distinct types or attributes named by the rules involved
 * (MIM_ERR_LIMIT).
 */
mim_result_t mim_policy_ngsild_scope(const mim_policy_t *policy,
    const mim_policy_request_t *request, const mim_policy_decision_t *d,
    mim_policy_ngsild_scope_t *scope, mim_str_t *buf, size_t cap);

/* 1 when scope restricts anything (a filter has work to do) */
int mim_policy_ngsild_scope_narrowed(const mim_policy_ngsild_scope_t *scope);

/* what mim_policy_ngsild_filter() did */
typedef struct {
    int      forbidden;         /* the body is one entity the scope does
                                   not cover: answer 403, send nothing */
    char     type[128];         /* then its first uncovered type ("" when
                                   it has none), cut with "..." */
    int      changed;           /* 0: the output is the input */
    size_t   entities_removed;
    size_t   attrs_removed;
} mim_policy_ngsild_filter_t;

/*
 * Filter an NGSI-LD JSON body (an entity or an array of entities, in the
 * normalized, concise or keyValues form; temporal ones too): drop the
 * entities of a type the scope does not cover, and the attributes (every
 * top-level member but id, @id, type, @type and @context) it does not
 * cover.  What is kept is copied byte for byte.  An entity needs all its
 * types covered; one without a type is kept only when types are not
 * restricted; an array element that is not an object is dropped.  Any
 * other JSON value is left as it is.
 *
 * out has room for len bytes (the output is never longer) and may be in
 * itself.  Errors: the body is not JSON (MIM_ERR_INVALID, with where),
 * nested deeper than 512 levels or a name over 4096 bytes
 * (MIM_ERR_LIMIT); out is then undefined.
 */
mim_result_t mim_policy_ngsild_filter(const mim_policy_ngsild_scope_t *scope,
    const char *in, size_t len, char *out, size_t *out_len,
    mim_policy_ngsild_filter_t *info);

/*
 * Split a query parameter value (URL-decoded) into names: the entity
 * types of `type=` (separated by "," and, in the NGSI-LD type query
 * language, ";" "|" "(" ")"), the attributes of `attrs=` (","), both with
 * blanks trimmed.  Up to cap names go to out (pointing into s); returns
 * how many there are.
 */
size_t mim_policy_ngsild_names(const char *s, size_t len, mim_str_t *out,
    size_t cap);

/*
 * The attributes an NGSI-LD query `q=` (URL-decoded) tests: the first
 * name of each term's attribute path ("address.city" -> "address",
 * "a[b]" -> "a").  Quoted values are skipped.  As above: up to cap into
 * out, returns how many.
 */
size_t mim_policy_ngsild_q_attrs(const char *q, size_t len, mim_str_t *out,
    size_t cap);

#endif /* MIM_POLICY_H */
