/*
 * mim_vc.c - verifiable presentations and credentials as JWTs
 * (mim_vc.h says which forms; docs/identity.md says what is checked and
 * why).
 *
 * Order of the checks for each token: its form, who signed it (issuer or
 * holder, and the kid naming one of their keys), whether that party is
 * trusted, the signature, and only then what the signed payload says
 * (times, JWT claims against credential members, types and claim values,
 * status, holder binding).  A tampered token is thus reported as a bad
 * signature, not as whatever the tampering changed.
 */
#define _GNU_SOURCE     /* strndup */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/crypto.h>

#include "mim_trust_int.h"
#include "mim_vc_int.h"

#define CONTEXT_V1  "https://www.w3.org/2018/credentials/v1"
#define CONTEXT_V2  "https://www.w3.org/ns/credentials/v2"
#define ENVELOPE_PREFIX  "data:application/vc+jwt,"
#define SHOWN       100

#define DEFAULT_ALGS  (mim_alg_bit(MIM_ALG_ES256) | mim_alg_bit(MIM_ALG_EDDSA) \
                       | mim_alg_bit(MIM_ALG_RS256)                        \
                       | mim_alg_bit(MIM_ALG_PS256))

typedef enum {
    FORM_VC11,          /* "vc" claim */
    FORM_VP11,          /* "vp" claim */
    FORM_VC20,          /* typ vc+jwt, payload is the credential */
    FORM_VP20           /* typ vp+jwt, payload is the presentation */
} form_t;

static int
form_is_vp(form_t form)
{
    return form == FORM_VP11 || form == FORM_VP20;
}

static mim_result_t
prefixed(mim_result_t r, const char *prefix)
{
    return mim_result_err(r.code, "%s: %s", prefix, r.msg);
}

static void
shown(char *dst, const char *s)
{
    mim_safe_text(dst, SHOWN, s, strlen(s));
}

/* ---- dates ---- */

static int
digits(const char *s, size_t n, int *out)
{
    size_t i;

    *out = 0;
    for (i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9') {
            return 0;
        }
        *out = *out * 10 + (s[i] - '0');
    }
    return 1;
}

/* days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant) */
static int64_t
days_from_civil(int y, int m, int d)
{
    int64_t era, yoe, doy, doe;

    y -= m <= 2;
    era = (y >= 0 ? y : y - 399) / 400;
    yoe = y - era * 400;
    doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

static int
days_in_month(int y, int m)
{
    static const int days[] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30,
                                31 };
    int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;

    return m == 2 && leap ? 29 : days[m - 1];
}

/* "Z", "+hh:mm" or "-hh:mm" at s (n chars) -> seconds east of UTC */
static int
zone_offset(const char *s, size_t n, int64_t *offset)
{
    int hh, mm;

    if (n == 1 && s[0] == 'Z') {
        *offset = 0;
        return 1;
    }
    if (n != 6 || (s[0] != '+' && s[0] != '-') || s[3] != ':'
        || !digits(s + 1, 2, &hh) || !digits(s + 4, 2, &mm) || hh > 14
        || mm > 59)
    {
        return 0;
    }
    *offset = (int64_t) (hh * 3600 + mm * 60) * (s[0] == '-' ? -1 : 1);
    return 1;
}

int
mim_datetime_parse(const char *s, size_t len, int64_t *t)
{
    int y, mo, d, h, mi, sec;
    size_t at = 19;
    int64_t offset;

    if (len < 20 || s[4] != '-' || s[7] != '-' || s[10] != 'T'
        || s[13] != ':' || s[16] != ':' || !digits(s, 4, &y)
        || !digits(s + 5, 2, &mo) || !digits(s + 8, 2, &d)
        || !digits(s + 11, 2, &h) || !digits(s + 14, 2, &mi)
        || !digits(s + 17, 2, &sec))
    {
        return -1;
    }
    if (y < 1 || mo < 1 || mo > 12 || d < 1 || d > days_in_month(y, mo)
        || h > 23 || mi > 59 || sec > 59)
    {
        return -1;
    }
    if (s[at] == '.') {
        do {
            at++;
        } while (at < len && s[at] >= '0' && s[at] <= '9');
        if (at == 20) {
            return -1;          /* "." without digits */
        }
    }
    if (!zone_offset(s + at, len - at, &offset)) {
        return -1;
    }
    *t = days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + sec
         - offset;
    return 0;
}

/* an optional dateTime member: 0 absent, 1 read, or an error */
static mim_result_t
date_member(const json_t *obj, const char *name, int64_t *t, int *has)
{
    const json_t *v = json_object_get(obj, name);

    *has = 0;
    if (v == NULL) {
        return mim_result_ok();
    }
    if (!json_is_string(v)
        || mim_datetime_parse(json_string_value(v), json_string_length(v), t)
           != 0)
    {
        return mim_result_err(MIM_ERR_INVALID, "%s is not an XML Schema "
                              "dateTime with a time zone", name);
    }
    *has = 1;
    return mim_result_ok();
}

/* an optional NumericDate claim (fractions floored) */
static mim_result_t
numeric_claim(const mim_jwt_t *jwt, const char *name, int64_t *t, int *has)
{
    const json_t *v = json_object_get(jwt->claims, name);

    *has = 0;
    if (v == NULL) {
        return mim_result_ok();
    }
    if (json_is_integer(v)) {
        *t = (int64_t) json_integer_value(v);
    } else if (json_is_real(v) && json_real_value(v) >= 0
               && json_real_value(v) < 1e12)
    {
        *t = (int64_t) json_real_value(v);
    } else {
        return mim_result_err(MIM_ERR_INVALID, "%s is not a NumericDate",
                              name);
    }
    *has = 1;
    return mim_result_ok();
}

/* ---- small JSON helpers ---- */

/* "x" or ["x", ...] contains want */
static int
has_value(const json_t *v, const char *want)
{
    size_t i;
    const json_t *e;

    if (json_is_string(v)) {
        return strcmp(json_string_value(v), want) == 0;
    }
    json_array_foreach(v, i, e) {
        if (json_is_string(e) && strcmp(json_string_value(e), want) == 0) {
            return 1;
        }
    }
    return 0;
}

/* an optional string member; an error when present and not a string */
static mim_result_t
string_member(const json_t *obj, const char *name, const char **out)
{
    const json_t *v = json_object_get(obj, name);

    *out = NULL;
    if (v == NULL) {
        return mim_result_ok();
    }
    if (!json_is_string(v) || strlen(json_string_value(v))
                              != json_string_length(v))
    {
        return mim_result_err(MIM_ERR_INVALID, "%s is not a string", name);
    }
    *out = json_string_value(v);
    return mim_result_ok();
}

/* a string or an object with a string id (issuer, holder) */
static mim_result_t
id_member(const json_t *obj, const char *name, const char **out)
{
    const json_t *v = json_object_get(obj, name);

    if (json_is_object(v)) {
        mim_result_t r = string_member(v, "id", out);
        if (mim_ok(r) && *out == NULL) {
            r = mim_result_err(MIM_ERR_INVALID, "%s has no id", name);
        }
        return r;
    }
    return string_member(obj, name, out);
}

/* a JWT claim and the credential member it stands for must agree */
static mim_result_t
agree(const char *claim, const char *a, const char *member, const char *b)
{
    char sa[SHOWN], sb[SHOWN];

    if (a == NULL || b == NULL || strcmp(a, b) == 0) {
        return mim_result_ok();
    }
    shown(sa, a);
    shown(sb, b);
    return mim_result_err(MIM_ERR_MISMATCH, "JWT %s %s differs from %s %s",
                          claim, sa, member, sb);
}

/* ---- the form of a token ---- */

/* typ without "application/", compared case-insensitively (RFC 7515) */
static int
typ_is(const char *typ, const char *want)
{
    if (strncasecmp(typ, "application/", 12) == 0) {
        typ += 12;
    }
    return strcasecmp(typ, want) == 0;
}

static mim_result_t
token_form(const mim_jwt_t *jwt, form_t *form)
{
    const json_t *vc = json_object_get(jwt->claims, "vc");
    const json_t *vp = json_object_get(jwt->claims, "vp");
    const char *typ = jwt->typ;
    char show[SHOWN];

    if (vc != NULL && vp != NULL) {
        return mim_result_err(MIM_ERR_INVALID, "both vc and vp claims");
    }
    if (typ != NULL && (typ_is(typ, "vc+jwt") || typ_is(typ, "vp+jwt"))) {
        if (vc != NULL || vp != NULL) {
            return mim_result_err(MIM_ERR_INVALID, "a %s claim in a %s: in "
                                  "VC 2.0 the payload is the credential",
                                  vc ? "vc" : "vp", typ);
        }
        *form = typ_is(typ, "vc+jwt") ? FORM_VC20 : FORM_VP20;
        return mim_result_ok();
    }
    if (typ != NULL && !typ_is(typ, "JWT")) {
        shown(show, typ);
        return mim_result_err(MIM_ERR_UNSUPPORTED, "typ %s is not a "
                              "credential's (JWT, vc+jwt, vp+jwt)", show);
    }
    if (vc == NULL && vp == NULL) {
        return mim_result_err(MIM_ERR_INVALID, "neither a vc nor a vp claim "
                              "(nor typ vc+jwt / vp+jwt)");
    }
    if ((vc != NULL && !json_is_object(vc))
        || (vp != NULL && !json_is_object(vp)))
    {
        return mim_result_err(MIM_ERR_INVALID, "the %s claim is not an "
                              "object", vc ? "vc" : "vp");
    }
    *form = vp != NULL ? FORM_VP11 : FORM_VC11;
    return mim_result_ok();
}

/* @context and type of a credential or presentation */
static mim_result_t
check_shape(const json_t *obj, form_t form, const char *type)
{
    const json_t *ctx = json_object_get(obj, "@context");
    const json_t *first = json_is_array(ctx) ? json_array_get(ctx, 0) : ctx;
    const char *want = form == FORM_VC20 || form == FORM_VP20 ? CONTEXT_V2
                                                              : CONTEXT_V1;

    /* a JWT-VC 1.1 may leave @context out; when given it must be right */
    if ((ctx != NULL || form == FORM_VC20 || form == FORM_VP20)
        && !(json_is_string(first)
             && strcmp(json_string_value(first), want) == 0))
    {
        return mim_result_err(MIM_ERR_INVALID, "@context does not start "
                              "with %s", want);
    }
    if (!has_value(json_object_get(obj, "type"), type)) {
        return mim_result_err(MIM_ERR_INVALID, "type does not include %s",
                              type);
    }
    return mim_result_ok();
}

/* ---- who signed: a key of the stated party ---- */

/*
 * The kid must name a key of party: a DID URL of the party's DID, or a
 * relative "#fragment".  *url gets what to resolve (malloc()ed).
 */
static mim_result_t
kid_of_party(const char *kid, const char *party, char **url)
{
    char sk[SHOWN], sp[SHOWN];
    size_t plen = strlen(party);

    *url = NULL;
    if (kid == NULL) {
        *url = strdup(party);
    } else if (kid[0] == '#' && kid[1] != '\0') {
        if (asprintf(url, "%s%s", party, kid) < 0) {
            *url = NULL;
        }
    } else if (mim_is_did(kid) && mim_did_len(kid) == plen
               && strncmp(kid, party, plen) == 0)
    {
        *url = strdup(kid);
    } else {
        shown(sk, kid);
        shown(sp, party);
        return mim_result_err(MIM_ERR_MISMATCH, "kid %s is not a key of %s",
                              sk, sp);
    }
    return *url ? mim_result_ok()
                : mim_result_err(MIM_ERR_NOMEM, "out of memory");
}

static mim_result_t
verify_signature(const mim_vc_config_t *cfg, const mim_jwt_t *jwt,
    const mim_key_t *key)
{
    return mim_jwt_verify(jwt, key, cfg->algs ? cfg->algs : DEFAULT_ALGS);
}

/* verify with a DID's key for the purpose */
static mim_result_t
verify_by_did(const mim_vc_config_t *cfg, const mim_jwt_t *jwt,
    const char *did, mim_did_purpose_t purpose)
{
    mim_key_t key;
    char *url;
    mim_result_t r;

    r = kid_of_party(jwt->kid, did, &url);
    if (!mim_ok(r)) {
        return r;
    }
    r = mim_did_resolve_key_for(url, cfg->did_web, purpose, &key);
    free(url);
    if (mim_ok(r)) {
        r = verify_signature(cfg, jwt, &key);
        mim_key_free(&key);
    }
    return r;
}

/* an issuer's signature: listed keys when the list has any, else its DID */
static mim_result_t
verify_issuer_signature(const mim_vc_config_t *cfg, const mim_jwt_t *jwt,
    const char *issuer, const mim_trusted_issuer_t *entry)
{
    const mim_key_t *key;
    char sk[SHOWN], si[SHOWN];
    mim_result_t r;

    if (mim_trusted_issuer_key_count(entry) == 0) {
        return verify_by_did(cfg, jwt, issuer, MIM_DID_ASSERTION);
    }
    /* a DID issuer's DID URL kid must still be the issuer's own; a URL
       issuer's kid only has to name a listed key (a did:key, say) */
    if (jwt->kid != NULL && mim_is_did(issuer) && mim_is_did(jwt->kid)
        && (mim_did_len(jwt->kid) != strlen(issuer)
            || strncmp(jwt->kid, issuer, strlen(issuer)) != 0))
    {
        shown(sk, jwt->kid);
        shown(si, issuer);
        return mim_result_err(MIM_ERR_MISMATCH, "kid %s is not a key of %s",
                              sk, si);
    }
    r = mim_trusted_issuer_key(entry, jwt->kid, &key);
    if (mim_ok(r)) {
        r = verify_signature(cfg, jwt, key);
    }
    return r;
}

/* ---- times ---- */

/* the configured leeway, bounded as mim_jwt_check_times() bounds it */
static int64_t
leeway(const mim_vc_config_t *cfg)
{
    return cfg->leeway < 0 ? 0 : cfg->leeway > 86400 ? 86400 : cfg->leeway;
}

static mim_result_t
check_window(const mim_vc_config_t *cfg, int64_t not_before, int has_nb,
    int64_t expires, int has_exp)
{
    if (has_exp && cfg->now >= expires + leeway(cfg)) {
        return mim_result_err(MIM_ERR_MISMATCH, "credential expired %lld s "
                              "ago (at %lld, now %lld)",
                              (long long) (cfg->now - expires),
                              (long long) expires, (long long) cfg->now);
    }
    if (has_nb && not_before > cfg->now + leeway(cfg)) {
        return mim_result_err(MIM_ERR_MISMATCH, "credential not valid before "
                              "%lld (now %lld)", (long long) not_before,
                              (long long) cfg->now);
    }
    return mim_result_ok();
}

static void
earliest(int64_t *acc, int64_t t)
{
    if (*acc == 0 || t < *acc) {
        *acc = t;
    }
}

/*
 * exp / nbf / iat of the JWT, then the credential's own dates; in a VC
 * 1.1 JWT, nbf stands for issuanceDate and exp for expirationDate, so
 * when both are given they must agree.  *expires: the earliest expiry.
 */
static mim_result_t
credential_times(const mim_vc_config_t *cfg, const mim_jwt_t *jwt,
    const json_t *cred, form_t form, int64_t *expires)
{
    static const char *const starts[] = { "issuanceDate", "validFrom" };
    static const char *const ends[] = { "expirationDate", "validUntil" };
    int64_t nbf = 0, exp = 0, t;
    int has_nbf, has_exp, has;
    mim_result_t r;
    size_t i;

    r = mim_jwt_check_times(jwt, cfg->now, cfg->leeway, 0);
    if (mim_ok(r)) {
        r = numeric_claim(jwt, "nbf", &nbf, &has_nbf);
    }
    if (mim_ok(r)) {
        r = numeric_claim(jwt, "exp", &exp, &has_exp);
    }
    if (!mim_ok(r)) {
        return r;
    }
    *expires = has_exp ? exp : 0;
    for (i = 0; i < 2; i++) {
        r = date_member(cred, starts[i], &t, &has);
        if (mim_ok(r) && has && form == FORM_VC11 && has_nbf && t != nbf) {
            r = mim_result_err(MIM_ERR_MISMATCH, "JWT nbf %lld differs from "
                               "%s %lld", (long long) nbf, starts[i],
                               (long long) t);
        }
        if (mim_ok(r) && has) {
            r = check_window(cfg, t, 1, 0, 0);
        }
        if (!mim_ok(r)) {
            return r;
        }
        r = date_member(cred, ends[i], &t, &has);
        if (mim_ok(r) && has && form == FORM_VC11 && has_exp && t != exp) {
            r = mim_result_err(MIM_ERR_MISMATCH, "JWT exp %lld differs from "
                               "%s %lld", (long long) exp, ends[i],
                               (long long) t);
        }
        if (mim_ok(r) && has) {
            r = check_window(cfg, 0, 0, t, 1);
            earliest(expires, t);
        }
        if (!mim_ok(r)) {
            return r;
        }
    }
    return mim_result_ok();
}

/* ---- what a credential adds to the identity ---- */

static mim_result_t
set_string(char **dst, const char *s)
{
    if (*dst != NULL || s == NULL) {
        return mim_result_ok();
    }
    *dst = strdup(s);
    return *dst ? mim_result_ok()
                : mim_result_err(MIM_ERR_NOMEM, "out of memory");
}

static mim_result_t
add_type(mim_identity_t *id, const char *type)
{
    size_t len = strlen(type), have, at;
    const char *p;
    char *grown;

    if (strcmp(type, "VerifiableCredential") == 0) {
        return mim_result_ok();
    }
    for (p = type; *p; p++) {
        if ((unsigned char) *p <= ' ') {
            return mim_result_err(MIM_ERR_INVALID, "credential type with "
                                  "whitespace or control characters");
        }
    }
    /* already listed? (a word of the space-separated list) */
    for (p = id->credential_types; p != NULL && *p; p += at) {
        at = strcspn(p, " ");
        if (at == len && memcmp(p, type, len) == 0) {
            return mim_result_ok();
        }
        at += p[at] == ' ';
    }
    have = id->credential_types ? strlen(id->credential_types) : 0;
    grown = realloc(id->credential_types, have + len + 2);
    if (grown == NULL) {
        return mim_result_err(MIM_ERR_NOMEM, "out of memory");
    }
    if (have > 0) {
        grown[have++] = ' ';
    }
    memcpy(grown + have, type, len + 1);
    id->credential_types = grown;
    return mim_result_ok();
}

static mim_result_t
add_types(mim_identity_t *id, const json_t *types)
{
    const json_t *t;
    mim_result_t r;
    size_t i;

    json_array_foreach(types, i, t) {
        r = add_type(id, json_string_value(t));
        if (!mim_ok(r)) {
            return r;
        }
    }
    return mim_result_ok();
}

/* a scalar as text: strings as they are, numbers and booleans as JSON */
static char *
scalar_text(const json_t *v)
{
    if (json_is_string(v)) {
        return strdup(json_string_value(v));
    }
    return json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
}

static int
is_scalar(const json_t *v)
{
    return json_is_string(v) || json_is_number(v) || json_is_boolean(v);
}

static mim_identity_claim_t *
claim_slot(mim_identity_t *id, const char *name)
{
    mim_identity_claim_t *grown, *c;
    size_t i;

    for (i = 0; i < id->claims_n; i++) {
        if (strcmp(id->claims[i].name, name) == 0) {
            return &id->claims[i];
        }
    }
    grown = realloc(id->claims, (id->claims_n + 1) * sizeof(*grown));
    if (grown == NULL) {
        return NULL;
    }
    id->claims = grown;
    c = &id->claims[id->claims_n];
    memset(c, 0, sizeof(*c));
    c->name = strdup(name);
    if (c->name == NULL) {
        return NULL;
    }
    id->claims_n++;
    return c;
}

static mim_result_t
claim_add_value(mim_identity_claim_t *c, const json_t *v)
{
    char *text = scalar_text(v), **grown;
    size_t i;

    if (text == NULL) {
        return mim_result_err(MIM_ERR_NOMEM, "out of memory");
    }
    for (i = 0; i < c->n; i++) {
        if (strcmp(c->values[i], text) == 0) {
            free(text);
            return mim_result_ok();
        }
    }
    grown = realloc(c->values, (c->n + 1) * sizeof(*grown));
    if (grown == NULL) {
        free(text);
        return mim_result_err(MIM_ERR_NOMEM, "out of memory");
    }
    c->values = grown;
    c->values[c->n++] = text;
    return mim_result_ok();
}

/* scalar members and arrays of scalars; "id" is the subject itself */
static mim_result_t
add_claims(mim_identity_t *id, const json_t *subject)
{
    const char *name;
    const json_t *v, *e;
    mim_identity_claim_t *c;
    mim_result_t r = mim_result_ok();
    size_t i, n;

    json_object_foreach((json_t *) subject, name, v) {
        if (strcmp(name, "id") == 0) {
            continue;
        }
        n = json_is_array(v) ? json_array_size(v) : (size_t) is_scalar(v);
        json_array_foreach(v, i, e) {
            n = is_scalar(e) ? n : 0;
        }
        if (n == 0) {
            continue;           /* null, objects, arrays of objects */
        }
        c = claim_slot(id, name);
        if (c == NULL) {
            return mim_result_err(MIM_ERR_NOMEM, "out of memory");
        }
        if (!json_is_array(v)) {
            r = claim_add_value(c, v);
        }
        json_array_foreach(v, i, e) {
            if (mim_ok(r)) {
                r = claim_add_value(c, e);
            }
        }
        if (!mim_ok(r)) {
            return r;
        }
    }
    return mim_result_ok();
}

/* ---- one credential ---- */

typedef struct {
    const json_t  *cred;        /* the credential object */
    const char    *issuer;
    const char    *subject;     /* credentialSubject.id, or NULL */
    const json_t  *subject_obj;
    json_t        *types;       /* owned: type as an array */
} cred_view_t;

/* issuer, subject and id: the JWT claims and the credential must agree */
static mim_result_t
credential_view(const mim_jwt_t *jwt, const json_t *cred, cred_view_t *v)
{
    const char *iss, *sub, *jti, *cred_id;
    const json_t *cs = json_object_get(cred, "credentialSubject");
    const json_t *type = json_object_get(cred, "type");
    mim_result_t r;

    r = string_member(jwt->claims, "iss", &iss);
    if (mim_ok(r)) {
        r = id_member(cred, "issuer", &v->issuer);
    }
    if (mim_ok(r)) {
        r = agree("iss", iss, "issuer", v->issuer);
    }
    if (!mim_ok(r)) {
        return r;
    }
    if (v->issuer == NULL) {
        v->issuer = iss;
    }
    if (v->issuer == NULL) {
        return mim_result_err(MIM_ERR_INVALID, "no issuer (iss or issuer)");
    }
    if (json_is_array(cs) && json_array_size(cs) == 1) {
        cs = json_array_get(cs, 0);
    }
    if (!json_is_object(cs)) {
        return mim_result_err(MIM_ERR_INVALID, "credentialSubject is not one "
                              "object");
    }
    v->subject_obj = cs;
    r = string_member(jwt->claims, "sub", &sub);
    if (mim_ok(r)) {
        r = string_member(cs, "id", &v->subject);
    }
    if (mim_ok(r)) {
        r = agree("sub", sub, "credentialSubject.id", v->subject);
    }
    if (mim_ok(r) && v->subject == NULL) {
        v->subject = sub;
    }
    if (mim_ok(r)) {
        r = string_member(jwt->claims, "jti", &jti);
    }
    if (mim_ok(r)) {
        r = string_member(cred, "id", &cred_id);
    }
    if (mim_ok(r)) {
        r = agree("jti", jti, "id", cred_id);
    }
    if (!mim_ok(r)) {
        return r;
    }
    v->types = json_is_array(type) ? json_incref((json_t *) type)
                                   : json_pack("[O]", type);
    if (v->types == NULL) {
        return mim_result_err(MIM_ERR_NOMEM, "out of memory");
    }
    for (size_t i = 0; i < json_array_size(v->types); i++) {
        if (!json_is_string(json_array_get(v->types, i))) {
            return mim_result_err(MIM_ERR_INVALID, "type has a member that "
                                  "is not a string");
        }
    }
    return mim_result_ok();
}

/* the credential's contribution, once everything about it is verified */
static mim_result_t
credential_into(mim_identity_t *id, const cred_view_t *v, int64_t expires)
{
    mim_result_t r;

    r = set_string(&id->issuer, v->issuer);
    if (mim_ok(r)) {
        r = set_string(&id->subject, v->subject);
    }
    if (mim_ok(r)) {
        r = add_types(id, v->types);
    }
    if (mim_ok(r)) {
        r = add_claims(id, v->subject_obj);
    }
    if (mim_ok(r) && expires != 0) {
        earliest(&id->expires, expires);
    }
    return r;
}

static mim_result_t
credential_checks(const mim_vc_config_t *cfg, const mim_jwt_t *jwt,
    form_t form, const char *holder, cred_view_t *v, int64_t *expires)
{
    const mim_trusted_issuer_t *entry;
    char si[SHOWN], sh[SHOWN];
    mim_result_t r;

    r = credential_view(jwt, v->cred, v);
    if (!mim_ok(r)) {
        return r;
    }
    entry = mim_trusted_issuer_find(cfg->issuers, v->issuer);
    if (entry == NULL) {
        shown(si, v->issuer);
        return mim_result_err(MIM_ERR_UNTRUSTED, "issuer %s is not trusted",
                              si);
    }
    r = verify_issuer_signature(cfg, jwt, v->issuer, entry);
    if (mim_ok(r)) {
        r = credential_times(cfg, jwt, v->cred, form, expires);
    }
    if (mim_ok(r)) {
        r = mim_trusted_issuer_allows(entry, v->types, v->subject_obj);
    }
    if (mim_ok(r) && json_object_get(v->cred, "credentialStatus") != NULL
        && !cfg->status_optional)
    {
        r = mim_result_err(MIM_ERR_UNSUPPORTED, "credentialStatus cannot be "
                           "checked here (status lists are not supported)");
    }
    if (mim_ok(r) && holder != NULL
        && (v->subject == NULL || strcmp(v->subject, holder) != 0))
    {
        shown(si, v->subject ? v->subject : "(none)");
        shown(sh, holder);
        r = mim_result_err(MIM_ERR_MISMATCH, "credential subject %s is not "
                           "the presentation's holder %s", si, sh);
    }
    return r;
}

/*
 * Verify one credential (parsed, in a VC form); holder is the DID it must
 * be bound to, or NULL for a credential presented alone.
 */
static mim_result_t
verify_credential(const mim_vc_config_t *cfg, const mim_jwt_t *jwt,
    form_t form, const char *holder, mim_identity_t *id)
{
    cred_view_t v;
    int64_t expires = 0;
    mim_result_t r;

    memset(&v, 0, sizeof(v));
    v.cred = form == FORM_VC11 ? json_object_get(jwt->claims, "vc")
                               : jwt->claims;
    r = check_shape(v.cred, form, "VerifiableCredential");
    if (mim_ok(r)) {
        r = credential_checks(cfg, jwt, form, holder, &v, &expires);
    }
    if (mim_ok(r)) {
        r = credential_into(id, &v, expires);
    }
    json_decref(v.types);
    return r;
}

/* a credential inside a presentation, from its compact JWT */
static mim_result_t
verify_inner(const mim_vc_config_t *cfg, const char *token, size_t len,
    const char *holder, mim_identity_t *id)
{
    mim_jwt_t jwt;
    form_t form;
    mim_result_t r;

    r = mim_jwt_parse(&jwt, token, len);
    if (!mim_ok(r)) {
        return r;
    }
    r = token_form(&jwt, &form);
    if (mim_ok(r) && form_is_vp(form)) {
        r = mim_result_err(MIM_ERR_LIMIT, "a presentation inside a "
                           "presentation (nesting too deep)");
    }
    if (mim_ok(r)) {
        r = verify_credential(cfg, &jwt, form, holder, id);
    }
    mim_jwt_free(&jwt);
    return r;
}

/* ---- presentations ---- */

/* the compact JWT of verifiableCredential entry e */
static mim_result_t
entry_token(const json_t *e, form_t form, const char **token, size_t *len)
{
    const json_t *id;
    size_t plen = strlen(ENVELOPE_PREFIX);

    if (form == FORM_VP11) {
        if (!json_is_string(e)) {
            return mim_result_err(MIM_ERR_UNSUPPORTED, "not a JWT (embedded "
                                  "credentials with data integrity proofs "
                                  "are not supported)");
        }
        *token = json_string_value(e);
        *len = json_string_length(e);
        return mim_result_ok();
    }
    id = json_object_get(e, "id");
    if (!json_is_object(e)
        || !has_value(json_object_get(e, "type"),
                      "EnvelopedVerifiableCredential")
        || !json_is_string(id))
    {
        return mim_result_err(MIM_ERR_UNSUPPORTED, "not an "
                              "EnvelopedVerifiableCredential with an id");
    }
    if (json_string_length(id) < plen
        || strncmp(json_string_value(id), ENVELOPE_PREFIX, plen) != 0)
    {
        return mim_result_err(MIM_ERR_UNSUPPORTED, "id is not a "
                              ENVELOPE_PREFIX "<jwt> data URL");
    }
    *token = json_string_value(id) + plen;
    *len = json_string_length(id) - plen;
    return mim_result_ok();
}

static mim_result_t
presentation_credentials(const mim_vc_config_t *cfg, const json_t *vp,
    form_t form, const char *holder, mim_identity_t *id)
{
    const json_t *vcs = json_object_get(vp, "verifiableCredential");
    const json_t *e;
    const char *token = NULL;
    size_t i, n, len = 0;
    char where[48];
    mim_result_t r;

    n = json_is_array(vcs) ? json_array_size(vcs) : vcs != NULL;
    if (n == 0) {
        return mim_result_err(MIM_ERR_INVALID, "presentation without a "
                              "verifiableCredential");
    }
    if (n > MIM_VC_MAX_CREDENTIALS) {
        return mim_result_err(MIM_ERR_LIMIT, "presentation with %zu "
                              "credentials (at most %d)", n,
                              MIM_VC_MAX_CREDENTIALS);
    }
    for (i = 0; i < n; i++) {
        e = json_is_array(vcs) ? json_array_get(vcs, i) : vcs;
        snprintf(where, sizeof(where), "credential %zu", i + 1);
        r = entry_token(e, form, &token, &len);
        if (mim_ok(r)) {
            r = verify_inner(cfg, token, len, holder, id);
        }
        if (!mim_ok(r)) {
            return prefixed(r, where);
        }
    }
    return mim_result_ok();
}

/* the holder: iss and the holder member, which must agree */
static mim_result_t
presentation_holder(const mim_jwt_t *jwt, const json_t *vp,
    const char **holder)
{
    const char *iss, *member;
    char show[SHOWN];
    mim_result_t r;

    r = string_member(jwt->claims, "iss", &iss);
    if (mim_ok(r)) {
        r = id_member(vp, "holder", &member);
    }
    if (mim_ok(r)) {
        r = agree("iss", iss, "holder", member);
    }
    if (!mim_ok(r)) {
        return r;
    }
    *holder = iss ? iss : member;
    if (*holder == NULL) {
        return mim_result_err(MIM_ERR_INVALID, "no holder (iss or holder)");
    }
    if (!mim_is_did(*holder) || mim_did_len(*holder) != strlen(*holder)) {
        shown(show, *holder);
        return mim_result_err(MIM_ERR_INVALID, "holder %s is not a DID",
                              show);
    }
    return mim_result_ok();
}

/* aud and nonce, when the configuration asks for them */
static mim_result_t
presentation_binding(const mim_vc_config_t *cfg, const mim_jwt_t *jwt)
{
    const json_t *aud = json_object_get(jwt->claims, "aud");
    const char *nonce = mim_jwt_string(jwt, "nonce");

    if (cfg->audience != NULL) {
        if (json_is_array(aud)) {
            return mim_result_err(MIM_ERR_MISMATCH, "aud is an array (one "
                                  "audience is required)");
        }
        if (!json_is_string(aud)
            || strcmp(json_string_value(aud), cfg->audience) != 0)
        {
            return mim_result_err(MIM_ERR_MISMATCH, "aud is not %.80s",
                                  cfg->audience);
        }
    }
    if (cfg->nonce != NULL
        && (nonce == NULL || strlen(nonce) != strlen(cfg->nonce)
            || CRYPTO_memcmp(nonce, cfg->nonce, strlen(nonce)) != 0))
    {
        return mim_result_err(MIM_ERR_MISMATCH, "nonce missing or not the "
                              "expected one");
    }
    return mim_result_ok();
}

static mim_result_t
verify_presentation(const mim_vc_config_t *cfg, const mim_jwt_t *jwt,
    form_t form, mim_identity_t *id)
{
    const json_t *vp = form == FORM_VP11 ? json_object_get(jwt->claims, "vp")
                                         : jwt->claims;
    const char *holder, *jti;
    int64_t exp;
    mim_result_t r;

    r = check_shape(vp, form, "VerifiablePresentation");
    if (mim_ok(r)) {
        r = presentation_holder(jwt, vp, &holder);
    }
    if (mim_ok(r)) {
        r = verify_by_did(cfg, jwt, holder, MIM_DID_AUTHENTICATION);
    }
    if (mim_ok(r)) {
        r = mim_jwt_check_times(jwt, cfg->now, cfg->leeway, 0);
    }
    if (mim_ok(r)) {
        r = presentation_binding(cfg, jwt);
    }
    if (!mim_ok(r)) {
        return prefixed(r, "presentation");
    }
    r = presentation_credentials(cfg, vp, form, holder, id);
    if (!mim_ok(r)) {
        return r;
    }
    if (mim_jwt_integer(jwt, "exp", &exp) == 0) {
        earliest(&id->expires, exp);
    }
    jti = mim_jwt_string(jwt, "jti");
    if (jti == NULL) {
        jti = json_string_value(json_object_get(vp, "id"));
    }
    r = set_string(&id->party, holder);
    if (mim_ok(r)) {
        r = set_string(&id->jti, jti);
    }
    return r;
}

/* a credential presented alone: its subject is the caller */
static mim_result_t
verify_lone_credential(const mim_vc_config_t *cfg, const mim_jwt_t *jwt,
    form_t form, mim_identity_t *id)
{
    const json_t *cred = form == FORM_VC11 ? json_object_get(jwt->claims,
                                                             "vc")
                                           : jwt->claims;
    const char *jti;
    mim_result_t r;

    r = verify_credential(cfg, jwt, form, NULL, id);
    if (!mim_ok(r)) {
        return prefixed(r, "credential");
    }
    if (id->subject == NULL) {
        return mim_result_err(MIM_ERR_INVALID, "credential: no "
                              "credentialSubject.id to name the caller");
    }
    jti = mim_jwt_string(jwt, "jti");
    if (jti == NULL) {
        jti = json_string_value(json_object_get(cred, "id"));
    }
    r = set_string(&id->party, id->subject);
    if (mim_ok(r)) {
        r = set_string(&id->jti, jti);
    }
    return r;
}

mim_result_t
mim_vc_verify(const mim_vc_config_t *cfg, const char *token, size_t len,
    mim_identity_t *id)
{
    mim_jwt_t jwt;
    form_t form;
    mim_result_t r;

    memset(id, 0, sizeof(*id));
    if (cfg == NULL || token == NULL) {
        return mim_result_err(MIM_ERR_INVALID, "no token or configuration");
    }
    if (len > MIM_JWT_MAX) {
        return mim_result_err(MIM_ERR_LIMIT, "token longer than %d bytes",
                              MIM_JWT_MAX);
    }
    r = mim_jwt_parse(&jwt, token, len);
    if (!mim_ok(r)) {
        return r;
    }
    r = token_form(&jwt, &form);
    if (mim_ok(r)) {
        id->auth_method = "vc";
        r = form_is_vp(form) ? verify_presentation(cfg, &jwt, form, id)
                             : verify_lone_credential(cfg, &jwt, form, id);
    }
    mim_jwt_free(&jwt);
    if (!mim_ok(r)) {
        mim_identity_free(id);
    }
    return r;
}
