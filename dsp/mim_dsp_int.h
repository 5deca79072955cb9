/*
 * mim_dsp_int.h - what the files of the DSP core share (dsp/mim_dsp_*.c).
 * Not part of the interface: jansson types appear here, never in
 * mim_dsp.h.
 */
#ifndef MIM_DSP_INT_H
#define MIM_DSP_INT_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "mim_dsp.h"

/*
 * Limits.  Messages come from untrusted peers and records from a store
 * others can write to: every input is bounded before it is parsed.
 */
#define MIM_DSP_MAX_MSG       (256 * 1024)       /* an inbound message */
#define MIM_DSP_MAX_DEPTH     64    /* nested arrays and objects: the
                                       ODRL engine's 16 levels of logical
                                       constraints take about 40 */
#define MIM_DSP_MAX_STR       2048               /* a pid, an IRI, a URL */
#define MIM_DSP_MAX_REASON    MIM_DSP_MAX_MSG    /* a record's reason: a
                                                    peer's reason array */
#define MIM_DSP_MAX_CATALOG   (4 * 1024 * 1024)  /* the catalog file */
#define MIM_DSP_MAX_OFFER     (1024 * 1024)      /* an offer file */
#define MIM_DSP_MAX_DATASETS  4096
#define MIM_DSP_MAX_OFFERS    64                 /* per dataset */
#define MIM_DSP_MAX_FORMATS   16                 /* per dataset */
#define MIM_DSP_MAX_RECORD    (2 * 1024 * 1024)  /* a stored record */

/* the full IRI of a compact 2025-1 term is this prefix + the term */
#define MIM_DSP_NS            "https://w3id.org/dspace/2025/1/"
#define MIM_DSP_ODRL_CONTEXT  "http://www.w3.org/ns/odrl.jsonld"

/* room for a JSON path in messages ("offer.permission[0].constraint[1]") */
#define MIM_DSP_PATH_MAX      160

/* ---- JSON (mim_dsp_util.c) ---- */

/*
 * Parse untrusted JSON text: at most max bytes, an object at the top,
 * nesting at most MIM_DSP_MAX_DEPTH (checked before jansson builds
 * anything), duplicate members and NUL characters refused.  what names
 * the text in messages ("message", "record").
 */
mim_result_t mim_dsp_json_load(const char *json, size_t len, size_t max,
    const char *what, json_t **out);

/* compact JSON text of v, malloc()ed; *len may be NULL */
mim_result_t mim_dsp_json_dump(const json_t *v, char **out, size_t *len);

/* a new ["https://w3id.org/dspace/2025/1/context.jsonld"], or NULL */
json_t *mim_dsp_context_new(void);

/*
 * A new JSON string of value.  Text from callers may be anything: what
 * is not UTF-8 is refused (MIM_ERR_INVALID naming what) rather than
 * written as invalid JSON.
 */
mim_result_t mim_dsp_string_new(const char *what, const char *value,
    json_t **out);

/*
 * obj[key] = a new string (mim_dsp_string_new); a NULL value sets nothing. 
 */
mim_result_t mim_dsp_put_str(json_t *obj, const char *key,
    const char *value);

/* obj[key] = value, the reference stolen even on failure */
mim_result_t mim_dsp_put_new(json_t *obj, const char *key, json_t *value);

/* the out-of-memory result */
mim_result_t mim_dsp_nomem(void);

/* a malloc()ed copy of n bytes plus a NUL, or NULL */
char *mim_dsp_strndup(const char *s, size_t n);

/*
 * Untrusted text for a message: printable ASCII kept, anything else '?',
 * cut to cap - 1 bytes with "..." when longer; always terminated.
 */
void mim_dsp_safe_text(char *dst, size_t cap, const char *src, size_t n);

/* "urn:uuid:..." derived from data (SHA-256, RFC 9562 version 8) */
void mim_dsp_name_uuid(const void *data, size_t n,
    char out[MIM_DSP_UUID_LEN]);

/* ---- messages (mim_dsp_util.c): reading and building ---- */

/* "path.member" (or "member" when path is ""), "path.member[i]", into
   MIM_DSP_PATH_MAX bytes, cut with "..." when longer */
void mim_dsp_path_join(char *dst, const char *path, const char *member);
void mim_dsp_path_join_index(char *dst, const char *path,
    const char *member, size_t i);

/*
 * A string member at path.name: required or not, non-empty unless
 * empty_ok, at most MIM_DSP_MAX_STR bytes; the message names it
 * ("offer.@id: missing").  *out (when out is not NULL) gets a copy; what
 * it held before is freed.
 */
mim_result_t mim_dsp_str_member(const json_t *obj, const char *path,
    const char *name, int required, int empty_ok, char **out);

/* "@context" holding MIM_DSP_CONTEXT (an array, or a string as some peers
   send); "@type" exactly expected */
mim_result_t mim_dsp_check_context(const json_t *root);
mim_result_t mim_dsp_check_type(const json_t *root, const char *expected);

/* the optional "code" (a string) and "reason" (a non-empty array, copied
   as compact JSON) of termination-like messages; old values are freed */
mim_result_t mim_dsp_code_reason(const json_t *root, char **code,
    char **reason_json);

/* {"@context": [...], "@type": type}, or NULL */
json_t *mim_dsp_message_new(const char *type);

/* the text of o when r is ok (else r); o is released either way */
mim_result_t mim_dsp_message_finish(json_t *o, mim_result_t r, char **out,
    size_t *len);

/* *out = NULL, *len = 0 (len may be NULL); an error when out is NULL */
mim_result_t mim_dsp_out_init(char **out, size_t *len);

/* providerPid, consumerPid (NULL ones not set) */
mim_result_t mim_dsp_put_pids(json_t *o, const char *provider_pid,
    const char *consumer_pid);

/* "reason": [reason] when reason is not NULL */
mim_result_t mim_dsp_put_reason(json_t *o, const char *reason);

/* ---- stored records (mim_dsp_util.c): negotiations, transfers ---- */

/*
 * What a member of a record holds.  The table reads, writes and checks
 * strings and times itself; TEXT and OTHER are left to the record's
 * callbacks, TEXT being malloc()ed text that free and copy handle too.
 */
enum {
    MIM_DSP_M_STR,      /* char *: a string of at most max bytes */
    MIM_DSP_M_TIME,     /* int64_t: an integer */
    MIM_DSP_M_TEXT,     /* char *: the callbacks' */
    MIM_DSP_M_OTHER     /* anything else: the callbacks' */
};

typedef struct {
    const char  *name;
    int          kind;      /* MIM_DSP_M_* */
    size_t       offset;    /* in the record's struct */
    size_t       max;       /* strings: bytes */
    int          required;  /* strings: also non-empty */
} mim_dsp_member_t;

/*
 * A kind of record: its members, in the order they are written, and
 * what the table cannot say.  read and write get the members of kind
 * TEXT and OTHER; check gets the rules across members (the strings'
 * were checked before it), with the object the record was read from, or
 * NULL when the record is about to be written.
 */
typedef struct {
    const mim_dsp_member_t  *members;
    size_t                   count;
    size_t                   size;      /* of the struct */
    mim_result_t           (*read)(void *rec, const mim_dsp_member_t *m,
                                   const json_t *v);
    mim_result_t           (*write)(const void *rec,
                                    const mim_dsp_member_t *m, json_t *o);
    mim_result_t           (*check)(const void *rec, const json_t *read);
} mim_dsp_record_t;

/*
 * The record's compact JSON, every non-NULL member, once it passes the
 * checks; and back, from text at most MIM_DSP_MAX_RECORD bytes holding
 * only known members of the right types (on failure *rec is freed and
 * zeroed).  The messages name the member ("record: state: missing").
 */
mim_result_t mim_dsp_record_to_json(const mim_dsp_record_t *t,
    const void *rec, char **out, size_t *len);
mim_result_t mim_dsp_record_from_json(const mim_dsp_record_t *t, void *rec,
    const char *json, size_t len);

/* free the text of rec and zero it (rec may be NULL); a deep copy */
void mim_dsp_record_free(const mim_dsp_record_t *t, void *rec);
mim_result_t mim_dsp_record_copy(const mim_dsp_record_t *t, void *to,
    const void *from);

/* ---- the DSP schema rules of an ODRL offer (mim_dsp_msg.c) ---- */

/*
 * The rules of contract-schema.json for an offer at path ("offer",
 * "datasets[0].offers[1]"): "@id" a non-empty string, "profile" a string
 * or strings, permission / prohibition (at least one of them) and
 * obligation non-empty arrays of rules, each with an "action" string and
 * "constraint" an array of atomic (leftOperand, operator of the schema's
 * list, rightOperand a string, object or array) or logical (exactly one
 * of and, or, xone, andSequence) constraints.  in_message: a
 * MessageOffer, whose "@type" is required; otherwise "@type" may be
 * absent.  "@type", when present, is "Offer"; "target", when present, a
 * non-empty string.
 */
mim_result_t mim_dsp_offer_validate(const json_t *offer, const char *path,
    int in_message);

#endif /* MIM_DSP_INT_H */
