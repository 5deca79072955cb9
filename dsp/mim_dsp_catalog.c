/*
 * mim_dsp_catalog.c - the provider's catalog: loaded once from the file
 * of `mim_dsp_catalog` (format in mim_dsp.h), served as a DSP 2025-1
 * Catalog or Dataset, and the judge of the offer a consumer requests:
 * is it ours, may this consumer have it, and the Agreement it becomes.
 *
 * Everything is checked at load time, so that what is served validates
 * against the DSP schemas and every offer compiles with the ODRL engine:
 * a catalog that loads cannot fail later for a reason it already had.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mim_dsp_int.h"

struct mim_dsp_offer_s {
    char          *id;
    const char    *dataset;     /* its dataset's @id */
    json_t        *json;        /* as served: @id, @type Offer, the rest
                                   as written but target and @context */
    mim_policy_t  *policy;      /* compiled with target = the dataset */
};

typedef struct {
    char             *id;
    char             *endpoint;
    json_t           *meta;     /* title, description, keyword */
    json_t           *formats;  /* strings */
    mim_dsp_offer_t  *offers;
    size_t            noffers;
} dsp_dataset_t;

struct mim_dsp_catalog_s {
    char            *id;
    char            *service_id;
    json_t          *meta;      /* title, description */
    dsp_dataset_t   *datasets;
    size_t           ndatasets;
    json_t          *index;     /* dataset @id -> its index */
    json_t          *offer_ids; /* offer @id -> its dataset's index */
    char           **warnings;
    size_t           nwarnings;
};

/* a place in the catalog file, for messages */
typedef struct {
    char  s[MIM_DSP_PATH_MAX + 64];
} dsp_where_t;

/* ---- loading ---- */

static mim_result_t
add_warning(mim_dsp_catalog_t *c, const char *where, const char *text)
{
    char   **w;
    size_t   n = strlen(where) + strlen(text) + 3;

    w = realloc(c->warnings, (c->nwarnings + 1) * sizeof(char *));
    if (w == NULL) {
        return mim_dsp_nomem();
    }
    c->warnings = w;
    w[c->nwarnings] = malloc(n);
    if (w[c->nwarnings] == NULL) {
        return mim_dsp_nomem();
    }
    snprintf(w[c->nwarnings++], n, "%s: %s", where, text);
    return mim_result_ok();
}

/* members of an object outside names[] are refused: a typo in a
   configuration file should not silently drop what it meant */
static mim_result_t
only_members(const json_t *obj, const char *where,
    const char *const *names, size_t n)
{
    const char  *key;
    json_t      *v;
    char         text[48];
    size_t       i;

    json_object_foreach((json_t *) obj, key, v) {
        for (i = 0; i < n && strcmp(key, names[i]) != 0; i++) {
            /* look for it */
        }
        if (i == n) {
            mim_dsp_safe_text(text, sizeof(text), key, strlen(key));
            return mim_result_err(MIM_ERR_INVALID, "%s%s%s: unknown member",
                                  where, *where ? "." : "", text);
        }
    }
    return mim_result_ok();
}

/* an optional (or required) non-empty string member, at most MAX_STR */
static mim_result_t
get_str(const json_t *obj, const char *where, const char *name, int required,
    const char **out)
{
    const json_t  *v = json_object_get(obj, name);
    const char    *dot = *where ? "." : "";

    *out = NULL;
    if (v == NULL) {
        return required ? mim_result_err(MIM_ERR_INVALID, "%s%s%s: missing",
                                         where, dot, name)
                        : mim_result_ok();
    }
    if (!json_is_string(v) || json_string_length(v) == 0) {
        return mim_result_err(MIM_ERR_INVALID, "%s%s%s: expected a non-empty "
                              "string", where, dot, name);
    }
    if (json_string_length(v) > MIM_DSP_MAX_STR) {
        return mim_result_err(MIM_ERR_LIMIT, "%s%s%s: longer than %d bytes",
                              where, dot, name, MIM_DSP_MAX_STR);
    }
    *out = json_string_value(v);
    return mim_result_ok();
}

/*
 * title, description (strings) and keyword (strings), copied to meta
 * under their DCAT names: the 2025-1 context does not define the bare
 * terms (a JSON-LD reader would drop them) but has the dct: and dcat:
 * prefixes.
 */
static mim_result_t
copy_meta(const json_t *obj, const char *where, json_t *meta, int keyword)
{
    static const char *const  names[] = { "title", "description", "keyword" };
    static const char *const  iris[] = {
        "dct:title", "dct:description", "dcat:keyword"
    };
    const json_t             *v, *item;
    const char               *s;
    mim_result_t              r;
    size_t                    i, j;

    for (i = 0; i < (keyword ? 3u : 2u); i++) {
        v = json_object_get(obj, names[i]);
        if (v == NULL) {
            continue;
        }
        if (i == 2 && json_is_array(v)) {
            json_array_foreach(v, j, item) {
                if (!json_is_string(item)) {
                    return mim_result_err(MIM_ERR_INVALID, "%s.keyword[%zu]: "
                                          "expected a string", where, j);
                }
            }
        } else {
            r = get_str(obj, where, names[i], 0, &s);
            if (!mim_ok(r)) {
                return r;
            }
        }
        if (json_object_set_new(meta, iris[i], json_deep_copy(v)) != 0) {
            return mim_dsp_nomem();
        }
    }
    return mim_result_ok();
}

/* an offer's own @context: none, or the DSP or ODRL context by name */
static mim_result_t
check_offer_context(const json_t *offer, const char *where)
{
    const json_t  *ctx = json_object_get(offer, "@context"), *item;
    const json_t  *one[1];
    size_t         i, n;

    if (ctx == NULL) {
        return mim_result_ok();
    }
    if (json_is_array(ctx)) {
        n = json_array_size(ctx);
    } else {
        one[0] = ctx;
        n = 1;
    }
    for (i = 0; i < n; i++) {
        item = json_is_array(ctx) ? json_array_get(ctx, i) : one[0];
        if (!json_is_string(item)
            || (strcmp(json_string_value(item), MIM_DSP_CONTEXT) != 0
                && strcmp(json_string_value(item), MIM_DSP_ODRL_CONTEXT)
                   != 0))
        {
            /* the offer is served inside the catalog, under its context:
               prefixes of its own would be lost there */
            return mim_result_err(MIM_ERR_INVALID, "%s.@context: only "
                                  MIM_DSP_CONTEXT " or " MIM_DSP_ODRL_CONTEXT
                                  " (the offer is served under the "
                                  "catalog's context)", where);
        }
    }
    return mim_result_ok();
}

/* the offer as served: @id, @type Offer, then its other members */
static json_t *
served_offer(const json_t *offer)
{
    const char  *key;
    json_t      *o, *v;

    o = json_object();
    if (o == NULL
        || json_object_set(o, "@id", json_object_get(offer, "@id")) != 0
        || json_object_set_new(o, "@type", json_string("Offer")) != 0)
    {
        json_decref(o);
        return NULL;
    }
    json_object_foreach((json_t *) offer, key, v) {
        if (strcmp(key, "@id") == 0 || strcmp(key, "@type") == 0
            || strcmp(key, "target") == 0 || strcmp(key, "@context") == 0)
        {
            continue;
        }
        if (json_object_set_new(o, key, json_deep_copy(v)) != 0) {
            json_decref(o);
            return NULL;
        }
    }
    return o;
}

/* compile the offer for its dataset: target = the dataset's @id */
static mim_result_t
compile_offer(mim_dsp_catalog_t *c, mim_dsp_offer_t *o, const json_t *offer,
    const char *where)
{
    json_t        *copy;
    char          *text;
    size_t         len, i;
    mim_result_t   r;

    copy = json_deep_copy(offer);
    if (copy == NULL
        || json_object_set_new(copy, "target", json_string(o->dataset)) != 0)
    {
        json_decref(copy);
        return mim_dsp_nomem();
    }
    r = mim_dsp_json_dump(copy, &text, &len);
    json_decref(copy);
    if (!mim_ok(r)) {
        return r;
    }
    r = mim_policy_parse(&o->policy, text, len);
    free(text);
    if (!mim_ok(r)) {
        return mim_result_err(r.code, "%s: %s", where, r.msg);
    }
    for (i = 0; i < mim_policy_warning_count(o->policy); i++) {
        r = add_warning(c, where, mim_policy_warning(o->policy, i));
        if (!mim_ok(r)) {
            return r;
        }
    }
    return mim_result_ok();
}

static mim_result_t
read_file(const char *path, size_t max, char **out, size_t *len)
{
    FILE          *f;
    char          *buf;
    size_t         n;
    mim_result_t   r = mim_result_ok();

    *out = NULL;
    f = fopen(path, "rb");
    if (f == NULL) {
        return mim_result_err(MIM_ERR_IO, "cannot open: %s", strerror(errno));
    }
    buf = malloc(max + 1);
    if (buf == NULL) {
        fclose(f);
        return mim_dsp_nomem();
    }
    n = fread(buf, 1, max + 1, f);
    if (ferror(f)) {
        r = mim_result_err(MIM_ERR_IO, "cannot read: %s", strerror(errno));
    } else if (n > max) {
        r = mim_result_err(MIM_ERR_LIMIT, "larger than %zu bytes", max);
    }
    fclose(f);
    if (!mim_ok(r)) {
        free(buf);
        return r;
    }
    *out = buf;
    *len = n;
    return r;
}

/* an offer file, relative to the catalog's directory */
static mim_result_t
load_offer_file(const char *name, const char *base_dir, const char *where,
    json_t **offer)
{
    char          *path, *text;
    size_t         len;
    mim_result_t   r;

    *offer = NULL;
    if (*name == '\0') {
        return mim_result_err(MIM_ERR_INVALID, "%s: an empty file name",
                              where);
    }
    if (base_dir == NULL) {
        /* a catalog from text has no place in the file system */
        return mim_result_err(MIM_ERR_INVALID, "%s: offer files are read "
                              "only with the catalog's directory "
                              "(mim_dsp_catalog_load)", where);
    }
    if (name[0] == '/') {
        path = strdup(name);
    } else {
        path = malloc(strlen(base_dir) + strlen(name) + 2);
        if (path != NULL) {
            sprintf(path, "%s/%s", base_dir, name);
        }
    }
    if (path == NULL) {
        return mim_dsp_nomem();
    }
    r = read_file(path, MIM_DSP_MAX_OFFER, &text, &len);
    free(path);
    if (!mim_ok(r)) {
        return mim_result_err(r.code, "%s: %s", where, r.msg);
    }
    r = mim_dsp_json_load(text, len, MIM_DSP_MAX_OFFER, where, offer);
    free(text);
    return r;
}

static mim_result_t
load_offer(mim_dsp_catalog_t *c, size_t di, size_t oi, const json_t *item,
    const char *base_dir)
{
    dsp_dataset_t    *ds = &c->datasets[di];
    mim_dsp_offer_t  *o = &ds->offers[oi];
    json_t           *offer;
    const char       *id, *target, *path;
    dsp_where_t       where;
    char              name[64];
    mim_result_t      r;

    snprintf(where.s, sizeof(where.s), "datasets[%zu].offers[%zu]", di, oi);
    path = where.s;
    if (json_is_string(item)) {
        mim_dsp_safe_text(name, sizeof(name), json_string_value(item),
                          json_string_length(item));
        snprintf(where.s + strlen(where.s), sizeof(where.s) - strlen(where.s),
                 " (%s)", name);
        r = load_offer_file(json_string_value(item), base_dir, where.s,
                            &offer);
        if (!mim_ok(r)) {
            return r;
        }
        path = "offer";         /* the file's members, after where */
    } else if (json_is_object(item)) {
        offer = json_incref((json_t *) item);
    } else {
        return mim_result_err(MIM_ERR_INVALID, "%s: expected an offer (an "
                              "object) or the name of its file", where.s);
    }
    r = check_offer_context(offer, path);
    if (mim_ok(r)) {
        r = mim_dsp_offer_validate(offer, path, 0);
    }
    if (!mim_ok(r)) {
        if (path != where.s) {
            r = mim_result_err(r.code, "%s: %s", where.s, r.msg);
        }
        json_decref(offer);
        return r;
    }
    id = json_string_value(json_object_get(offer, "@id"));
    target = json_string_value(json_object_get(offer, "target"));
    if (target != NULL && strcmp(target, ds->id) != 0) {
        r = mim_result_err(MIM_ERR_INVALID, "%s.target: not the dataset's "
                           "@id", where.s);
    } else if (json_object_get(c->offer_ids, id) != NULL) {
        r = mim_result_err(MIM_ERR_INVALID, "%s.@id: another offer has this "
                           "@id", where.s);
    } else if (json_object_set_new(c->offer_ids, id,
                                   json_integer((json_int_t) di)) != 0)
    {
        r = mim_dsp_nomem();
    } else {
        o->dataset = ds->id;
        o->id = strdup(id);
        o->json = served_offer(offer);
        r = o->id != NULL && o->json != NULL ? mim_result_ok()
                                             : mim_dsp_nomem();
    }
    if (mim_ok(r)) {
        r = compile_offer(c, o, offer, where.s);
    }
    json_decref(offer);
    return r;
}

/* where the data is served: a path on this gateway, or a URL */
static mim_result_t
check_endpoint(const char *endpoint, const char *where)
{
    if (endpoint[0] == '/' || strncmp(endpoint, "https://", 8) == 0
        || strncmp(endpoint, "http://", 7) == 0)
    {
        return mim_result_ok();
    }
    return mim_result_err(MIM_ERR_INVALID, "%s.endpoint: a path (\"/...\") "
                          "or an http(s) URL", where);
}

static mim_result_t
load_formats(dsp_dataset_t *ds, const json_t *d, const char *where)
{
    const json_t  *list = json_object_get(d, "formats"), *item;
    size_t         i;

    if (list == NULL) {
        ds->formats = json_pack("[s]", MIM_DSP_PULL);
        return ds->formats != NULL ? mim_result_ok() : mim_dsp_nomem();
    }
    if (!json_is_array(list) || json_array_size(list) == 0
        || json_array_size(list) > MIM_DSP_MAX_FORMATS)
    {
        return mim_result_err(MIM_ERR_INVALID, "%s.formats: expected an "
                              "array of 1 to %d strings", where,
                              MIM_DSP_MAX_FORMATS);
    }
    json_array_foreach(list, i, item) {
        if (!json_is_string(item) || json_string_length(item) == 0
            || json_string_length(item) > MIM_DSP_MAX_STR)
        {
            return mim_result_err(MIM_ERR_INVALID, "%s.formats[%zu]: expected "
                                  "a non-empty string", where, i);
        }
    }
    ds->formats = json_deep_copy(list);
    return ds->formats != NULL ? mim_result_ok() : mim_dsp_nomem();
}

static mim_result_t
load_dataset(mim_dsp_catalog_t *c, size_t di, const json_t *d,
    const char *base_dir)
{
    static const char *const  names[] = {
        "@id", "title", "description", "keyword", "endpoint", "formats",
        "offers"
    };
    dsp_dataset_t            *ds = &c->datasets[di];
    const json_t             *offers;
    const char               *id, *endpoint;
    char                      where[32];
    mim_result_t              r;
    size_t                    i, n;

    snprintf(where, sizeof(where), "datasets[%zu]", di);
    if (!json_is_object(d)) {
        return mim_result_err(MIM_ERR_INVALID, "%s: expected an object",
                              where);
    }
    r = only_members(d, where, names, sizeof(names) / sizeof(names[0]));
    if (mim_ok(r)) {
        r = get_str(d, where, "@id", 1, &id);
    }
    if (mim_ok(r)) {
        r = get_str(d, where, "endpoint", 1, &endpoint);
    }
    if (mim_ok(r)) {
        r = check_endpoint(endpoint, where);
    }
    if (!mim_ok(r)) {
        return r;
    }
    if (json_object_get(c->index, id) != NULL) {
        return mim_result_err(MIM_ERR_INVALID, "%s.@id: another dataset has "
                              "this @id", where);
    }
    ds->id = strdup(id);
    ds->endpoint = strdup(endpoint);
    ds->meta = json_object();
    if (ds->id == NULL || ds->endpoint == NULL || ds->meta == NULL
        || json_object_set_new(c->index, id, json_integer((json_int_t) di))
           != 0)
    {
        return mim_dsp_nomem();
    }
    r = copy_meta(d, where, ds->meta, 1);
    if (mim_ok(r)) {
        r = load_formats(ds, d, where);
    }
    if (!mim_ok(r)) {
        return r;
    }
    offers = json_object_get(d, "offers");
    n = json_array_size(offers);
    if (!json_is_array(offers) || n == 0 || n > MIM_DSP_MAX_OFFERS) {
        return mim_result_err(MIM_ERR_INVALID, "%s.offers: %s", where,
                              offers == NULL ? "missing"
                              : "expected an array of 1 to 64 offers");
    }
    ds->offers = calloc(n, sizeof(mim_dsp_offer_t));
    if (ds->offers == NULL) {
        return mim_dsp_nomem();
    }
    ds->noffers = n;
    for (i = 0; i < n && mim_ok(r); i++) {
        r = load_offer(c, di, i, json_array_get(offers, i), base_dir);
    }
    return r;
}

static mim_result_t
load_catalog(mim_dsp_catalog_t *c, const json_t *root, const char *text,
    size_t len, const char *base_dir)
{
    static const char *const  names[] = {
        "@id", "title", "description", "datasets"
    };
    const json_t             *datasets;
    const char               *id;
    char                      derived[MIM_DSP_UUID_LEN];
    mim_result_t              r;
    size_t                    i, n;

    r = only_members(root, "", names, sizeof(names) / sizeof(names[0]));
    if (mim_ok(r)) {
        r = get_str(root, "", "@id", 0, &id);
    }
    if (mim_ok(r)) {
        r = copy_meta(root, "", c->meta, 0);
    }
    if (!mim_ok(r)) {
        return r;
    }
    if (id == NULL) {
        /* stable for a given catalog text */
        mim_dsp_name_uuid(text, len, derived);
        id = derived;
    }
    c->id = strdup(id);
    c->service_id = malloc(strlen(id) + sizeof("#service"));
    if (c->id == NULL || c->service_id == NULL) {
        return mim_dsp_nomem();
    }
    /* the one DataService: this gateway's DSP endpoint */
    sprintf(c->service_id, "%s#service", id);

    datasets = json_object_get(root, "datasets");
    if (!json_is_array(datasets)) {
        return mim_result_err(MIM_ERR_INVALID, "datasets: %s",
                              datasets == NULL ? "missing"
                                               : "expected an array");
    }
    n = json_array_size(datasets);
    if (n > MIM_DSP_MAX_DATASETS) {
        return mim_result_err(MIM_ERR_LIMIT, "datasets: more than %d",
                              MIM_DSP_MAX_DATASETS);
    }
    c->datasets = calloc(n > 0 ? n : 1, sizeof(dsp_dataset_t));
    if (c->datasets == NULL) {
        return mim_dsp_nomem();
    }
    c->ndatasets = n;
    for (i = 0; i < n && mim_ok(r); i++) {
        r = load_dataset(c, i, json_array_get(datasets, i), base_dir);
    }
    return r;
}

mim_result_t
mim_dsp_catalog_parse(mim_dsp_catalog_t **catalog, const char *json,
    size_t len, const char *base_dir)
{
    mim_dsp_catalog_t  *c;
    json_t             *root;
    mim_result_t        r;

    if (catalog == NULL) {
        return mim_result_err(MIM_ERR_INVALID, "no catalog pointer");
    }
    *catalog = NULL;
    r = mim_dsp_json_load(json, len, MIM_DSP_MAX_CATALOG, "catalog", &root);
    if (!mim_ok(r)) {
        return r;
    }
    c = calloc(1, sizeof(*c));
    if (c != NULL) {
        c->meta = json_object();
        c->index = json_object();
        c->offer_ids = json_object();
    }
    if (c == NULL || c->meta == NULL || c->index == NULL
        || c->offer_ids == NULL)
    {
        r = mim_dsp_nomem();
    } else {
        r = load_catalog(c, root, json, len, base_dir);
    }
    json_decref(root);
    if (!mim_ok(r)) {
        mim_dsp_catalog_free(c);
        return r;
    }
    *catalog = c;
    return r;
}

mim_result_t
mim_dsp_catalog_load(mim_dsp_catalog_t **catalog, const char *path)
{
    char          *text, *dir, *slash;
    size_t         len;
    mim_result_t   r;

    if (catalog == NULL || path == NULL) {
        return mim_result_err(MIM_ERR_INVALID, "no catalog or path");
    }
    *catalog = NULL;
    r = read_file(path, MIM_DSP_MAX_CATALOG, &text, &len);
    if (!mim_ok(r)) {
        return r;
    }
    /* offer files are relative to the catalog file's directory */
    dir = strdup(path);
    if (dir == NULL) {
        free(text);
        return mim_dsp_nomem();
    }
    slash = strrchr(dir, '/');
    if (slash == NULL) {
        strcpy(dir, ".");
    } else if (slash == dir) {
        dir[1] = '\0';
    } else {
        *slash = '\0';
    }
    r = mim_dsp_catalog_parse(catalog, text, len, dir);
    free(dir);
    free(text);
    return r;
}

void
mim_dsp_catalog_free(mim_dsp_catalog_t *c)
{
    size_t  i, j;

    if (c == NULL) {
        return;
    }
    for (i = 0; i < c->ndatasets; i++) {
        dsp_dataset_t  *ds = &c->datasets[i];

        for (j = 0; j < ds->noffers; j++) {
            free(ds->offers[j].id);
            json_decref(ds->offers[j].json);
            mim_policy_free(ds->offers[j].policy);
        }
        free(ds->offers);
        free(ds->id);
        free(ds->endpoint);
        json_decref(ds->meta);
        json_decref(ds->formats);
    }
    free(c->datasets);
    for (i = 0; i < c->nwarnings; i++) {
        free(c->warnings[i]);
    }
    free(c->warnings);
    free(c->id);
    free(c->service_id);
    json_decref(c->meta);
    json_decref(c->index);
    json_decref(c->offer_ids);
    free(c);
}

size_t
mim_dsp_catalog_dataset_count(const mim_dsp_catalog_t *catalog)
{
    return catalog != NULL ? catalog->ndatasets : 0;
}

size_t
mim_dsp_catalog_warning_count(const mim_dsp_catalog_t *catalog)
{
    return catalog != NULL ? catalog->nwarnings : 0;
}

const char *
mim_dsp_catalog_warning(const mim_dsp_catalog_t *catalog, size_t i)
{
    if (catalog == NULL || i >= catalog->nwarnings) {
        return NULL;
    }
    return catalog->warnings[i];
}

/* ---- lookups ---- */

static const dsp_dataset_t *
find_dataset(const mim_dsp_catalog_t *c, const char *id)
{
    const json_t  *i;

    if (c == NULL || id == NULL) {
        return NULL;
    }
    i = json_object_get(c->index, id);
    return i != NULL ? &c->datasets[json_integer_value(i)] : NULL;
}

static const mim_dsp_offer_t *
find_offer(const dsp_dataset_t *ds, const char *id)
{
    size_t  i;

    for (i = 0; i < ds->noffers; i++) {
        if (strcmp(ds->offers[i].id, id) == 0) {
            return &ds->offers[i];
        }
    }
    return NULL;
}

const char *
mim_dsp_dataset_endpoint(const mim_dsp_catalog_t *catalog,
    const char *dataset_id)
{
    const dsp_dataset_t  *ds = find_dataset(catalog, dataset_id);

    return ds != NULL ? ds->endpoint : NULL;
}

int
mim_dsp_dataset_has_format(const mim_dsp_catalog_t *catalog,
    const char *dataset_id, const char *format)
{
    const dsp_dataset_t  *ds = find_dataset(catalog, dataset_id);
    const json_t         *item;
    size_t                i;

    if (ds == NULL || format == NULL) {
        return 0;
    }
    json_array_foreach(ds->formats, i, item) {
        if (strcmp(json_string_value(item), format) == 0) {
            return 1;
        }
    }
    return 0;
}

const char *
mim_dsp_offer_id(const mim_dsp_offer_t *offer)
{
    return offer != NULL ? offer->id : NULL;
}

const char *
mim_dsp_offer_dataset(const mim_dsp_offer_t *offer)
{
    return offer != NULL ? offer->dataset : NULL;
}

const mim_policy_t *
mim_dsp_offer_policy(const mim_dsp_offer_t *offer)
{
    return offer != NULL ? offer->policy : NULL;
}

/* ---- serving ---- */

static json_t *
service_new(const mim_dsp_catalog_t *c, const char *dsp_url)
{
    json_t  *s = json_object();

    if (s == NULL || !mim_ok(mim_dsp_put_str(s, "@id", c->service_id))
        || !mim_ok(mim_dsp_put_str(s, "@type", "DataService"))
        || !mim_ok(mim_dsp_put_str(s, "endpointURL", dsp_url)))
    {
        json_decref(s);
        return NULL;
    }
    return s;
}

/* obj[key] = a copy of each member of from */
static int
copy_members(json_t *obj, const json_t *from)
{
    const char  *key;
    json_t      *v;

    json_object_foreach((json_t *) from, key, v) {
        if (json_object_set_new(obj, key, json_deep_copy(v)) != 0) {
            return -1;
        }
    }
    return 0;
}

/*
 * A Dataset: hasPolicy (offers without target) and one Distribution per
 * format, served by access (the DataService's @id, or the DataService
 * itself when the dataset stands alone).
 */
static json_t *
dataset_new(const dsp_dataset_t *ds, const json_t *access, int with_context)
{
    json_t  *d, *policies, *dists, *dist, *format;
    size_t   i;
    int      bad = 0;

    d = json_object();
    policies = json_array();
    dists = json_array();
    if (d == NULL || policies == NULL || dists == NULL) {
        bad = 1;
    }
    if (!bad && with_context) {
        bad = json_object_set_new(d, "@context", mim_dsp_context_new()) != 0;
    }
    bad = bad || json_object_set_new(d, "@id", json_string(ds->id)) != 0
          || json_object_set_new(d, "@type", json_string("Dataset")) != 0
          || copy_members(d, ds->meta) != 0;
    for (i = 0; !bad && i < ds->noffers; i++) {
        bad = json_array_append_new(policies,
                                    json_deep_copy(ds->offers[i].json)) != 0;
    }
    json_array_foreach(ds->formats, i, format) {
        if (bad) {
            break;
        }
        dist = json_pack("{s:s, s:O, s:O}", "@type", "Distribution",
                         "format", format, "accessService", access);
        bad = json_array_append_new(dists, dist) != 0;
    }
    if (!bad) {
        bad = json_object_set(d, "hasPolicy", policies) != 0
              || json_object_set(d, "distribution", dists) != 0;
    }
    json_decref(policies);
    json_decref(dists);
    if (bad) {
        json_decref(d);
        return NULL;
    }
    return d;
}

static mim_result_t
serving_args(const mim_dsp_catalog_t *catalog, const char *dsp_url,
    char **out, size_t *len)
{
    if (out == NULL) {
        return mim_result_err(MIM_ERR_INVALID, "no output");
    }
    *out = NULL;
    if (len != NULL) {
        *len = 0;
    }
    if (catalog == NULL) {
        return mim_result_err(MIM_ERR_INVALID, "no catalog");
    }
    if (dsp_url == NULL || *dsp_url == '\0') {
        return mim_result_err(MIM_ERR_INVALID, "no DSP endpoint URL");
    }
    return mim_result_ok();
}

mim_result_t
mim_dsp_catalog_json(const mim_dsp_catalog_t *catalog,
    const char *participant_id, const char *dsp_url, char **out, size_t *len)
{
    json_t        *o, *service, *services, *datasets, *access;
    mim_result_t   r;
    size_t         i;

    r = serving_args(catalog, dsp_url, out, len);
    if (!mim_ok(r)) {
        return r;
    }
    if (participant_id == NULL || *participant_id == '\0') {
        return mim_result_err(MIM_ERR_INVALID, "participantId: none");
    }
    o = json_object();
    datasets = json_array();
    services = json_array();
    service = service_new(catalog, dsp_url);
    access = json_string(catalog->service_id);
    if (o == NULL || datasets == NULL || services == NULL || service == NULL
        || access == NULL)
    {
        r = mim_dsp_nomem();
        goto done;
    }
    r = mim_dsp_put_new(o, "@context", mim_dsp_context_new());
    if (mim_ok(r)) {
        r = mim_dsp_put_str(o, "@id", catalog->id);
    }
    if (mim_ok(r)) {
        r = mim_dsp_put_str(o, "@type", "Catalog");
    }
    if (mim_ok(r)) {
        r = mim_dsp_put_str(o, "participantId", participant_id);
    }
    if (mim_ok(r) && copy_members(o, catalog->meta) != 0) {
        r = mim_dsp_nomem();
    }
    if (mim_ok(r) && (json_array_append(services, service) != 0
                      || json_object_set(o, "service", services) != 0))
    {
        r = mim_dsp_nomem();
    }
    for (i = 0; mim_ok(r) && i < catalog->ndatasets; i++) {
        if (json_array_append_new(datasets,
                                  dataset_new(&catalog->datasets[i], access,
                                              0))
            != 0)
        {
            r = mim_dsp_nomem();
        }
    }
    /* the schema wants at least one dataset, or no member */
    if (mim_ok(r) && catalog->ndatasets > 0
        && json_object_set(o, "dataset", datasets) != 0)
    {
        r = mim_dsp_nomem();
    }
    if (mim_ok(r)) {
        r = mim_dsp_json_dump(o, out, len);
    }
done:
    json_decref(o);
    json_decref(datasets);
    json_decref(services);
    json_decref(service);
    json_decref(access);
    return r;
}

mim_result_t
mim_dsp_dataset_json(const mim_dsp_catalog_t *catalog,
    const char *dataset_id, const char *dsp_url, char **out, size_t *len)
{
    const dsp_dataset_t  *ds;
    json_t               *service, *d;
    char                  text[80];
    mim_result_t          r;

    r = serving_args(catalog, dsp_url, out, len);
    if (!mim_ok(r)) {
        return r;
    }
    ds = find_dataset(catalog, dataset_id);
    if (ds == NULL) {
        mim_dsp_safe_text(text, sizeof(text), dataset_id != NULL
                          ? dataset_id : "", dataset_id != NULL
                          ? strlen(dataset_id) : 0);
        return mim_result_err(MIM_ERR_NOT_FOUND, "no dataset \"%s\" in the "
                              "catalog", text);
    }
    service = service_new(catalog, dsp_url);
    if (service == NULL) {
        return mim_dsp_nomem();
    }
    d = dataset_new(ds, service, 1);
    json_decref(service);
    if (d == NULL) {
        return mim_dsp_nomem();
    }
    r = mim_dsp_json_dump(d, out, len);
    json_decref(d);
    return r;
}

/* ---- judging a requested offer ---- */

/* a copy of v without any "constraint": [] (the same as none) */
static json_t *
without_empty_constraints(const json_t *v, int depth)
{
    const char  *key;
    json_t      *copy, *item, *c;
    size_t       i;

    if (depth > MIM_DSP_MAX_DEPTH) {
        return NULL;
    }
    if (json_is_object(v)) {
        copy = json_object();
        json_object_foreach((json_t *) v, key, item) {
            if (copy == NULL) {
                break;
            }
            if (strcmp(key, "constraint") == 0 && json_is_array(item)
                && json_array_size(item) == 0)
            {
                continue;
            }
            c = without_empty_constraints(item, depth + 1);
            if (c == NULL || json_object_set_new(copy, key, c) != 0) {
                json_decref(copy);
                copy = NULL;
            }
        }
        return copy;
    }
    if (json_is_array(v)) {
        copy = json_array();
        json_array_foreach(v, i, item) {
            if (copy == NULL) {
                break;
            }
            c = without_empty_constraints(item, depth + 1);
            if (c == NULL || json_array_append_new(copy, c) != 0) {
                json_decref(copy);
                copy = NULL;
            }
        }
        return copy;
    }
    return json_deep_copy(v);
}

/*
 * The member of the rules in which theirs differs from ours, NULL when
 * the same; *nomem on allocation failure.
 */
static const char *
rules_differ(const json_t *ours, const json_t *theirs, int *nomem)
{
    static const char *const  rules[] = {
        "permission", "prohibition", "obligation"
    };
    const json_t             *a, *b;
    json_t                   *na, *nb;
    size_t                    i;
    int                       same;

    *nomem = 0;
    for (i = 0; i < 3; i++) {
        a = json_object_get(ours, rules[i]);
        b = json_object_get(theirs, rules[i]);
        if (a == NULL || b == NULL) {
            if (a != b) {
                return rules[i];
            }
            continue;
        }
        na = without_empty_constraints(a, 0);
        nb = without_empty_constraints(b, 0);
        same = na != NULL && nb != NULL && json_equal(na, nb);
        *nomem = na == NULL || nb == NULL;
        json_decref(na);
        json_decref(nb);
        if (!same) {
            return rules[i];
        }
    }
    return NULL;
}

mim_result_t
mim_dsp_catalog_match(const mim_dsp_catalog_t *catalog,
    const mim_dsp_msg_t *msg, const mim_dsp_offer_t **offer,
    mim_dsp_offer_match_t *match)
{
    const dsp_dataset_t    *ds;
    const mim_dsp_offer_t  *ours;
    const char             *member;
    json_t                 *theirs;
    char                    id[80], target[80];
    mim_result_t            r;
    int                     nomem;

    if (offer == NULL || match == NULL) {
        return mim_result_err(MIM_ERR_INVALID, "no output");
    }
    *offer = NULL;
    *match = MIM_DSP_OFFER_UNKNOWN;
    if (catalog == NULL || msg == NULL || msg->offer_id == NULL
        || msg->offer_json == NULL)
    {
        return mim_result_err(MIM_ERR_INVALID, "offer: missing");
    }
    mim_dsp_safe_text(id, sizeof(id), msg->offer_id, strlen(msg->offer_id));
    if (msg->offer_target == NULL) {
        return mim_result_err(MIM_ERR_INVALID, "offer.target: missing (the "
                              "dataset the offer is for)");
    }
    mim_dsp_safe_text(target, sizeof(target), msg->offer_target,
                      strlen(msg->offer_target));
    ds = find_dataset(catalog, msg->offer_target);
    if (ds == NULL) {
        return mim_result_err(MIM_ERR_NOT_FOUND, "dataset %s is not in the "
                              "catalog", target);
    }
    ours = find_offer(ds, msg->offer_id);
    if (ours == NULL) {
        return mim_result_err(MIM_ERR_NOT_FOUND, "offer %s is not offered "
                              "for dataset %s", id, target);
    }
    *offer = ours;
    r = mim_dsp_json_load(msg->offer_json, strlen(msg->offer_json),
                          MIM_DSP_MAX_MSG, "offer", &theirs);
    if (!mim_ok(r)) {
        *offer = NULL;
        return r;
    }
    member = rules_differ(ours->json, theirs, &nomem);
    json_decref(theirs);
    if (nomem) {
        return mim_dsp_nomem();
    }
    if (member != NULL) {
        *match = MIM_DSP_OFFER_COUNTER;
        return mim_result_err(MIM_ERR_MISMATCH, "offer %s: its %s differs "
                              "from the offer of dataset %s (a counter-offer)",
                              id, member, target);
    }
    *match = MIM_DSP_OFFER_OURS;
    return mim_result_ok();
}

mim_result_t
mim_dsp_offer_check(const mim_dsp_offer_t *offer, const char *consumer,
    const mim_claim_t *claims, size_t claims_n, int64_t now, int *permitted,
    char *reasons, size_t cap)
{
    mim_policy_request_t   req;
    mim_policy_decision_t  d;
    mim_result_t           r;

    if (permitted == NULL) {
        return mim_result_err(MIM_ERR_INVALID, "no output");
    }
    *permitted = 0;
    if (offer == NULL) {
        return mim_result_err(MIM_ERR_INVALID, "no offer");
    }
    memset(&req, 0, sizeof(req));
    /* ignored at negotiation time, but a request names an action */
    req.action.data = "use";
    req.action.len = 3;
    req.target.data = offer->dataset;
    req.target.len = strlen(offer->dataset);
    if (consumer != NULL) {
        req.assignee.data = consumer;
        req.assignee.len = strlen(consumer);
    }
    req.has_date_time = 1;
    req.date_time = now;
    req.claims = claims;
    req.claims_n = claims_n;
    req.negotiation = 1;
    r = mim_policy_eval(offer->policy, &req, &d, reasons, cap);
    if (mim_ok(r)) {
        *permitted = d.effect == MIM_POLICY_PERMIT;
    }
    return r;
}

mim_result_t
mim_dsp_agreement_json(const mim_dsp_offer_t *offer,
    const char *agreement_id, const char *assigner, const char *assignee,
    int64_t timestamp, char **out, size_t *len)
{
    const char    *key;
    json_t        *o, *v;
    char           when[32];
    mim_result_t   r;

    if (out == NULL) {
        return mim_result_err(MIM_ERR_INVALID, "no output");
    }
    *out = NULL;
    if (len != NULL) {
        *len = 0;
    }
    if (offer == NULL || agreement_id == NULL || *agreement_id == '\0'
        || assigner == NULL || *assigner == '\0' || assignee == NULL
        || *assignee == '\0')
    {
        return mim_result_err(MIM_ERR_INVALID, "an agreement needs an offer, "
                              "an @id, an assigner and an assignee");
    }
    mim_dsp_format_time(timestamp, when);
    o = json_object();
    if (o == NULL) {
        return mim_dsp_nomem();
    }
    r = mim_dsp_put_str(o, "@id", agreement_id);
    if (mim_ok(r)) {
        r = mim_dsp_put_str(o, "@type", "Agreement");
    }
    if (mim_ok(r)) {
        r = mim_dsp_put_str(o, "target", offer->dataset);
    }
    if (mim_ok(r)) {
        r = mim_dsp_put_str(o, "assigner", assigner);
    }
    if (mim_ok(r)) {
        r = mim_dsp_put_str(o, "assignee", assignee);
    }
    if (mim_ok(r)) {
        r = mim_dsp_put_str(o, "timestamp", when);
    }
    /* the offer's terms as they are: rules, and profile or conflict
       strategy when it has them, since they change what the rules mean */
    json_object_foreach(offer->json, key, v) {
        if (!mim_ok(r)) {
            break;
        }
        if (json_object_get(o, key) == NULL
            && json_object_set_new(o, key, json_deep_copy(v)) != 0)
        {
            r = mim_dsp_nomem();
        }
    }
    if (mim_ok(r)) {
        r = mim_dsp_json_dump(o, out, len);
    }
    json_decref(o);
    return r;
}

const mim_dsp_offer_t *
mim_dsp_catalog_offer(const mim_dsp_catalog_t *catalog, const char *offer_id)
{
    json_t  *index;

    if (catalog == NULL || offer_id == NULL) {
        return NULL;
    }
    index = json_object_get(catalog->offer_ids, offer_id);
    if (!json_is_integer(index) || json_integer_value(index) < 0
        || (size_t) json_integer_value(index) >= catalog->ndatasets)
    {
        return NULL;
    }
    return find_offer(&catalog->datasets[json_integer_value(index)],
                      offer_id);
}
