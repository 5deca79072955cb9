/*
 * ngx_http_mim_policy_module - ODRL policy enforcement (MIM6 C1, MIM3).
 *
 * Every request of a location with mim_policy is turned into an ODRL
 * request (action from the method, target, assignee, dateTime, purpose,
 * client address, spatial IRIs) and decided by the policies/ engine
 * against each configured policy; all must permit.  A denial is a 403
 * with a JSON body that says which rule and why.
 *
 * Policies are compiled once, at configuration time; a decision uses
 * only the request pool.
 */

#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_mim.h"
#include "mim_policy.h"


#define NGX_HTTP_MIM_POLICY_REASONS_MAX  4096


typedef struct {
    ngx_str_t                  file;
    mim_policy_t              *policy;
} ngx_http_mim_policy_t;


typedef struct {
    ngx_uint_t                 method;      /* NGX_HTTP_GET, ... */
    ngx_str_t                  action;
} ngx_http_mim_policy_action_t;


typedef struct {
    ngx_array_t               *policies;    /* ngx_http_mim_policy_t */
    ngx_array_t               *actions;     /* ngx_http_mim_policy_action_t */
    ngx_array_t               *spatial;     /* mim_str_t */
    ngx_http_complex_value_t  *target;
    ngx_http_complex_value_t  *assignee;
    ngx_str_t                  purpose_header;
} ngx_http_mim_policy_loc_conf_t;


typedef struct {
    ngx_str_t                  decision;    /* "permit" / "deny" */
    ngx_str_t                  rule;
    ngx_str_t                  reasons;     /* JSON array text */
    ngx_str_t                  action;
    ngx_str_t                  target;
} ngx_http_mim_policy_ctx_t;


static ngx_int_t ngx_http_mim_policy_handler(ngx_http_request_t *r);
static ngx_int_t ngx_http_mim_policy_request(ngx_http_request_t *r,
    ngx_http_mim_policy_loc_conf_t *plcf, ngx_http_mim_policy_ctx_t *ctx,
    mim_policy_request_t *req);
static ngx_str_t *ngx_http_mim_policy_action(ngx_http_request_t *r,
    ngx_http_mim_policy_loc_conf_t *plcf);
static ngx_int_t ngx_http_mim_policy_purposes(ngx_http_request_t *r,
    ngx_http_mim_policy_loc_conf_t *plcf, mim_policy_request_t *req);
static ngx_int_t ngx_http_mim_policy_caller(ngx_http_request_t *r,
    ngx_http_mim_policy_loc_conf_t *plcf, mim_policy_request_t *req);
static ngx_int_t ngx_http_mim_policy_deny(ngx_http_request_t *r,
    ngx_http_mim_policy_t *policy, ngx_http_mim_policy_ctx_t *ctx);
static u_char *ngx_http_mim_policy_json_string(u_char *p, ngx_str_t *s);
static size_t ngx_http_mim_policy_json_len(ngx_str_t *s);
static ngx_int_t ngx_http_mim_policy_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);
static char *ngx_http_mim_policy(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_mim_policy_action_directive(ngx_conf_t *cf,
    ngx_command_t *cmd, void *conf);
static char *ngx_http_mim_policy_spatial(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static void ngx_http_mim_policy_cleanup(void *data);
static ngx_int_t ngx_http_mim_policy_add_variables(ngx_conf_t *cf);
static void *ngx_http_mim_policy_create_loc_conf(ngx_conf_t *cf);
static char *ngx_http_mim_policy_merge_loc_conf(ngx_conf_t *cf, void *parent,
    void *child);
static ngx_int_t ngx_http_mim_policy_init(ngx_conf_t *cf);


static ngx_command_t  ngx_http_mim_policy_commands[] = {

    { ngx_string("mim_policy"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_mim_policy,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("mim_policy_target"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_set_complex_value_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_mim_policy_loc_conf_t, target),
      NULL },

    { ngx_string("mim_policy_assignee"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_set_complex_value_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_mim_policy_loc_conf_t, assignee),
      NULL },

    { ngx_string("mim_policy_action"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE2,
      ngx_http_mim_policy_action_directive,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("mim_policy_purpose_header"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_str_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_mim_policy_loc_conf_t, purpose_header),
      NULL },

    { ngx_string("mim_policy_spatial"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_1MORE,
      ngx_http_mim_policy_spatial,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

      ngx_null_command
};


static ngx_http_module_t  ngx_http_mim_policy_module_ctx = {
    ngx_http_mim_policy_add_variables,     /* preconfiguration */
    ngx_http_mim_policy_init,              /* postconfiguration */

    NULL,                                  /* create main configuration */
    NULL,                                  /* init main configuration */

    NULL,                                  /* create server configuration */
    NULL,                                  /* merge server configuration */

    ngx_http_mim_policy_create_loc_conf,   /* create location configuration */
    ngx_http_mim_policy_merge_loc_conf     /* merge location configuration */
};


ngx_module_t  ngx_http_mim_policy_module = {
    NGX_MODULE_V1,
    &ngx_http_mim_policy_module_ctx,       /* module context */
    ngx_http_mim_policy_commands,          /* module directives */
    NGX_HTTP_MODULE,                       /* module type */
    NULL,                                  /* init master */
    NULL,                                  /* init module */
    NULL,                                  /* init process */
    NULL,                                  /* init thread */
    NULL,                                  /* exit thread */
    NULL,                                  /* exit process */
    NULL,                                  /* exit master */
    NGX_MODULE_V1_PADDING
};


static ngx_http_variable_t  ngx_http_mim_policy_vars[] = {

    { ngx_string("mim_decision"), NULL, ngx_http_mim_policy_variable,
      offsetof(ngx_http_mim_policy_ctx_t, decision), 0, 0 },

    { ngx_string("mim_policy_rule"), NULL, ngx_http_mim_policy_variable,
      offsetof(ngx_http_mim_policy_ctx_t, rule), 0, 0 },

    { ngx_string("mim_policy_reasons"), NULL, ngx_http_mim_policy_variable,
      offsetof(ngx_http_mim_policy_ctx_t, reasons), 0, 0 },

    { ngx_string("mim_action"), NULL, ngx_http_mim_policy_variable,
      offsetof(ngx_http_mim_policy_ctx_t, action), 0, 0 },

    { ngx_string("mim_target"), NULL, ngx_http_mim_policy_variable,
      offsetof(ngx_http_mim_policy_ctx_t, target), 0, 0 },

      ngx_http_null_variable
};


/* the ODRL action of a method when mim_policy_action does not say */
static struct {
    ngx_uint_t   method;
    ngx_str_t    action;
} ngx_http_mim_policy_default_actions[] = {
    { NGX_HTTP_GET,    ngx_string("read") },
    { NGX_HTTP_HEAD,   ngx_string("read") },
    { NGX_HTTP_POST,   ngx_string("modify") },
    { NGX_HTTP_PUT,    ngx_string("modify") },
    { NGX_HTTP_PATCH,  ngx_string("modify") },
    { NGX_HTTP_DELETE, ngx_string("delete") },
    { 0, ngx_null_string }
};


static ngx_int_t
ngx_http_mim_policy_handler(ngx_http_request_t *r)
{
    u_char                          *buf;
    ngx_uint_t                       i;
    const char                      *rule;
    mim_result_t                     res;
    ngx_http_mim_policy_t           *policy;
    mim_policy_request_t             req;
    mim_policy_decision_t            decision;
    ngx_http_mim_policy_ctx_t       *ctx;
    ngx_http_mim_policy_loc_conf_t  *plcf;

    plcf = ngx_http_get_module_loc_conf(r, ngx_http_mim_policy_module);

    if (plcf->policies == NULL) {
        return NGX_DECLINED;
    }

    ctx = ngx_pcalloc(r->pool, sizeof(ngx_http_mim_policy_ctx_t));
    if (ctx == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_http_set_ctx(r, ctx, ngx_http_mim_policy_module);

    if (ngx_http_mim_policy_request(r, plcf, ctx, &req) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    /* the entity types and attributes asked (type=, attrs=, q=) */
    if (ngx_http_mim_ngsild_request(r, &req) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    buf = ngx_pnalloc(r->pool, NGX_HTTP_MIM_POLICY_REASONS_MAX);
    if (buf == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    policy = plcf->policies->elts;

    for (i = 0; i < plcf->policies->nelts; i++) {

        res = mim_policy_eval(policy[i].policy, &req, &decision,
                              (char *) buf, NGX_HTTP_MIM_POLICY_REASONS_MAX);

        if (!mim_ok(res)) {
            /* cannot decide: deny, and say why */
            ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                          "mim_policy \"%V\": %s", &policy[i].file, res.msg);
            decision.effect = MIM_POLICY_DENY;
            decision.rule = NULL;
            decision.label = NULL;
            decision.reasons_len = ngx_sprintf(buf, "[\"policy engine "
                                               "error\"]") - buf;
        }

        ctx->reasons.data = buf;
        ctx->reasons.len = decision.reasons_len;

        /* a rule without a uid (as most DSP rules) is named by its place */
        rule = decision.rule ? decision.rule : decision.label;

        if (rule != NULL) {
            ctx->rule.data = (u_char *) rule;
            ctx->rule.len = ngx_strlen(rule);

        } else {
            ngx_str_null(&ctx->rule);
        }

        if (decision.effect != MIM_POLICY_PERMIT) {
            ngx_str_set(&ctx->decision, "deny");
            return ngx_http_mim_policy_deny(r, &policy[i], ctx);
        }

        /* what the response may show: mim_ngsild_filter removes the rest */
        if (ngx_http_mim_ngsild_scope_policy(r, policy[i].policy, &decision)
            != NGX_OK)
        {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }
    }

    ngx_str_set(&ctx->decision, "permit");

    return NGX_OK;
}


/* The ODRL request for r: what, on what, by whom, when, why, from where. */

static ngx_int_t
ngx_http_mim_policy_request(ngx_http_request_t *r,
    ngx_http_mim_policy_loc_conf_t *plcf, ngx_http_mim_policy_ctx_t *ctx,
    mim_policy_request_t *req)
{
    ngx_str_t  *action, assignee;

    ngx_memzero(req, sizeof(mim_policy_request_t));

    action = ngx_http_mim_policy_action(r, plcf);
    if (action == NULL) {
        return NGX_ERROR;
    }

    ctx->action = *action;
    req->action.data = (char *) action->data;
    req->action.len = action->len;

    if (plcf->target) {
        if (ngx_http_complex_value(r, plcf->target, &ctx->target) != NGX_OK) {
            return NGX_ERROR;
        }

    } else {
        ctx->target = r->uri;
    }

    req->target.data = (char *) ctx->target.data;
    req->target.len = ctx->target.len;

    if (plcf->assignee) {
        if (ngx_http_complex_value(r, plcf->assignee, &assignee) != NGX_OK) {
            return NGX_ERROR;
        }

        if (assignee.len) {
            req->assignee.data = (char *) assignee.data;
            req->assignee.len = assignee.len;
        }
    }

    req->has_date_time = 1;
    req->date_time = (int64_t) ngx_time();

    req->virtual_location.data = (char *) r->connection->addr_text.data;
    req->virtual_location.len = r->connection->addr_text.len;

    if (plcf->spatial) {
        req->spatial = plcf->spatial->elts;
        req->spatial_n = plcf->spatial->nelts;
    }

    if (ngx_http_mim_policy_purposes(r, plcf, req) != NGX_OK) {
        return NGX_ERROR;
    }

    return ngx_http_mim_policy_caller(r, plcf, req);
}


/*
 * The caller mim_auth identified: the assignee (unless mim_policy_assignee
 * says otherwise), its credential's claims (urn:mim:claim:NAME), and its
 * "purpose" claim when no purpose header was sent.
 */

static ngx_int_t
ngx_http_mim_policy_caller(ngx_http_request_t *r,
    ngx_http_mim_policy_loc_conf_t *plcf, mim_policy_request_t *req)
{
    size_t        i, n;
    ngx_str_t     party;
    mim_claim_t  *claims;
    ngx_array_t  *list;

    if (ngx_http_mim_auth_caller(r, &party, &list) != NGX_OK) {
        return NGX_OK;
    }

    if (plcf->assignee == NULL) {
        req->assignee.data = (char *) party.data;
        req->assignee.len = party.len;
    }

    if (ngx_http_mim_auth_policy_claims(r, &claims, &n) != NGX_OK) {
        return NGX_ERROR;
    }

    for (i = 0; i < n && req->purpose_n == 0; i++) {
        if (claims[i].name.len == sizeof("purpose") - 1
            && ngx_strncmp(claims[i].name.data, "purpose",
                           sizeof("purpose") - 1) == 0)
        {
            req->purpose = claims[i].values;
            req->purpose_n = claims[i].n;
        }
    }

    req->claims = claims;
    req->claims_n = n;

    return NGX_OK;
}


static ngx_str_t *
ngx_http_mim_policy_action(ngx_http_request_t *r,
    ngx_http_mim_policy_loc_conf_t *plcf)
{
    u_char                        *p;
    ngx_uint_t                     i;
    ngx_str_t                     *lower;
    ngx_http_mim_policy_action_t  *action;

    if (plcf->actions) {
        action = plcf->actions->elts;

        for (i = 0; i < plcf->actions->nelts; i++) {
            if (action[i].method == r->method) {
                return &action[i].action;
            }
        }
    }

    for (i = 0; ngx_http_mim_policy_default_actions[i].method; i++) {
        if (ngx_http_mim_policy_default_actions[i].method == r->method) {
            return &ngx_http_mim_policy_default_actions[i].action;
        }
    }

    /* any other method is an action of its own name, which only a rule
       naming it covers */

    lower = ngx_palloc(r->pool, sizeof(ngx_str_t));
    p = ngx_pnalloc(r->pool, r->method_name.len);

    if (lower == NULL || p == NULL) {
        return NULL;
    }

    ngx_strlow(p, r->method_name.data, r->method_name.len);
    lower->data = p;
    lower->len = r->method_name.len;

    return lower;
}


/* Declared purposes: the header's values, split at commas and spaces. */

static ngx_int_t
ngx_http_mim_policy_purposes(ngx_http_request_t *r,
    ngx_http_mim_policy_loc_conf_t *plcf, mim_policy_request_t *req)
{
    u_char           *p, *last, *start;
    ngx_uint_t        i;
    mim_str_t        *purpose;
    ngx_array_t      *purposes;
    ngx_list_part_t  *part;
    ngx_table_elt_t  *h;

    if (plcf->purpose_header.len == 0) {
        return NGX_OK;
    }

    purposes = NULL;
    part = &r->headers_in.headers.part;
    h = part->elts;

    for (i = 0; /* void */; i++) {

        if (i >= part->nelts) {
            if (part->next == NULL) {
                break;
            }

            part = part->next;
            h = part->elts;
            i = 0;
        }

        if (h[i].key.len != plcf->purpose_header.len
            || ngx_strncasecmp(h[i].key.data, plcf->purpose_header.data,
                               h[i].key.len) != 0)
        {
            continue;
        }

        p = h[i].value.data;
        last = p + h[i].value.len;

        for ( ;; ) {
            while (p < last && (*p == ',' || *p == ' ' || *p == '\t')) {
                p++;
            }

            start = p;

            while (p < last && *p != ',' && *p != ' ' && *p != '\t') {
                p++;
            }

            if (p == start) {
                break;
            }

            if (purposes == NULL) {
                purposes = ngx_array_create(r->pool, 4, sizeof(mim_str_t));
                if (purposes == NULL) {
                    return NGX_ERROR;
                }
            }

            purpose = ngx_array_push(purposes);
            if (purpose == NULL) {
                return NGX_ERROR;
            }

            purpose->data = (char *) start;
            purpose->len = p - start;
        }
    }

    if (purposes) {
        req->purpose = purposes->elts;
        req->purpose_n = purposes->nelts;
    }

    return NGX_OK;
}


/* ---- for mim_agreement (ngx_http_mim.h) ------------------------------ */

ngx_int_t
ngx_http_mim_policy_request_init(ngx_http_request_t *r,
    mim_policy_request_t *req, ngx_str_t *action)
{
    ngx_str_t                       *a;
    ngx_http_mim_policy_loc_conf_t  *plcf;

    plcf = ngx_http_get_module_loc_conf(r, ngx_http_mim_policy_module);

    ngx_memzero(req, sizeof(mim_policy_request_t));

    a = ngx_http_mim_policy_action(r, plcf);
    if (a == NULL) {
        return NGX_ERROR;
    }

    *action = *a;
    req->action.data = (char *) a->data;
    req->action.len = a->len;

    req->has_date_time = 1;
    req->date_time = (int64_t) ngx_time();

    req->virtual_location.data = (char *) r->connection->addr_text.data;
    req->virtual_location.len = r->connection->addr_text.len;

    if (plcf->spatial) {
        req->spatial = plcf->spatial->elts;
        req->spatial_n = plcf->spatial->nelts;
    }

    if (ngx_http_mim_policy_purposes(r, plcf, req) != NGX_OK) {
        return NGX_ERROR;
    }

    return ngx_http_mim_policy_caller(r, plcf, req);
}


/* the decision of mim_agreement, kept where the variables look */
ngx_int_t
ngx_http_mim_policy_set_decision(ngx_http_request_t *r,
    ngx_http_mim_decision_t *d)
{
    ngx_http_mim_policy_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_mim_policy_module);

    if (ctx == NULL) {
        ctx = ngx_pcalloc(r->pool, sizeof(ngx_http_mim_policy_ctx_t));
        if (ctx == NULL) {
            return NGX_ERROR;
        }

        ngx_http_set_ctx(r, ctx, ngx_http_mim_policy_module);
    }

    ctx->decision = d->decision;
    ctx->rule = d->rule;
    ctx->reasons = d->reasons;
    ctx->action = d->action;
    ctx->target = d->target;

    return NGX_OK;
}


/*
 * 403 with {"error":"policy_denied","policy":..,"rule":..,"reasons":[..]}.
 * The body is sent here rather than left to an error page, so that the
 * client learns why; satisfy any cannot overturn a policy denial.
 */

static ngx_int_t
ngx_http_mim_policy_deny(ngx_http_request_t *r, ngx_http_mim_policy_t *policy,
    ngx_http_mim_policy_ctx_t *ctx)
{
    u_char     *p;
    size_t      len;
    ngx_str_t   body;

    ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                  "mim_policy \"%V\" denied %V on \"%V\": %V",
                  &policy->file, &ctx->action, &ctx->target, &ctx->reasons);

    len = sizeof("{\"error\":\"policy_denied\",\"policy\":,\"rule\":,"
                 "\"reasons\":}") - 1
          + ngx_http_mim_policy_json_len(&policy->file)
          + (ctx->rule.len ? ngx_http_mim_policy_json_len(&ctx->rule)
                           : sizeof("null") - 1)
          + ctx->reasons.len;

    p = ngx_pnalloc(r->pool, len);
    if (p == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    body.data = p;

    p = ngx_cpymem(p, "{\"error\":\"policy_denied\",\"policy\":",
                   sizeof("{\"error\":\"policy_denied\",\"policy\":") - 1);
    p = ngx_http_mim_policy_json_string(p, &policy->file);
    p = ngx_cpymem(p, ",\"rule\":", sizeof(",\"rule\":") - 1);

    if (ctx->rule.len) {
        p = ngx_http_mim_policy_json_string(p, &ctx->rule);

    } else {
        p = ngx_cpymem(p, "null", sizeof("null") - 1);
    }

    p = ngx_cpymem(p, ",\"reasons\":", sizeof(",\"reasons\":") - 1);
    p = ngx_cpymem(p, ctx->reasons.data, ctx->reasons.len);
    *p++ = '}';

    body.len = p - body.data;

    ngx_http_finalize_request(r, ngx_http_mim_send_json(r,
                                                        NGX_HTTP_FORBIDDEN,
                                                        &body));
    return NGX_DONE;
}


static size_t
ngx_http_mim_policy_json_len(ngx_str_t *s)
{
    return 2 + s->len + ngx_escape_json(NULL, s->data, s->len);
}


static u_char *
ngx_http_mim_policy_json_string(u_char *p, ngx_str_t *s)
{
    *p++ = '"';
    p = (u_char *) ngx_escape_json(p, s->data, s->len);
    *p++ = '"';

    return p;
}


static ngx_int_t
ngx_http_mim_policy_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data)
{
    ngx_str_t                  *value;
    ngx_http_mim_policy_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_mim_policy_module);

    if (ctx == NULL) {
        v->not_found = 1;
        return NGX_OK;
    }

    value = (ngx_str_t *) ((char *) ctx + data);

    if (value->data == NULL) {
        v->not_found = 1;
        return NGX_OK;
    }

    v->len = value->len;
    v->valid = 1;
    v->no_cacheable = 0;
    v->not_found = 0;
    v->data = value->data;

    return NGX_OK;
}


static char *
ngx_http_mim_policy(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_mim_policy_loc_conf_t *plcf = conf;

    size_t                  i, n;
    ngx_str_t              *value, file;
    mim_result_t            res;
    ngx_pool_cleanup_t     *cln;
    ngx_http_mim_policy_t  *policy;

    value = cf->args->elts;
    file = value[1];

    if (ngx_conf_full_name(cf->cycle, &file, 1) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    if (plcf->policies == NULL) {
        plcf->policies = ngx_array_create(cf->pool, 2,
                                          sizeof(ngx_http_mim_policy_t));
        if (plcf->policies == NULL) {
            return NGX_CONF_ERROR;
        }
    }

    policy = ngx_array_push(plcf->policies);
    if (policy == NULL) {
        return NGX_CONF_ERROR;
    }

    policy->file = value[1];
    policy->policy = NULL;

    cln = ngx_pool_cleanup_add(cf->pool, 0);
    if (cln == NULL) {
        return NGX_CONF_ERROR;
    }

    cln->handler = ngx_http_mim_policy_cleanup;
    cln->data = policy;

    res = mim_policy_load(&policy->policy, (char *) file.data);

    if (!mim_ok(res)) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "mim_policy \"%V\": %s",
                           &file, res.msg);
        return NGX_CONF_ERROR;
    }

    /* constraints that can never hold load (they deny), but say so */
    n = mim_policy_warning_count(policy->policy);

    for (i = 0; i < n; i++) {
        ngx_conf_log_error(NGX_LOG_WARN, cf, 0, "mim_policy \"%V\": %s",
                           &file, mim_policy_warning(policy->policy, i));
    }

    return NGX_CONF_OK;
}


static char *
ngx_http_mim_policy_action_directive(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_http_mim_policy_loc_conf_t *plcf = conf;

    ngx_str_t                     *value;
    ngx_uint_t                     i;
    ngx_http_mim_policy_action_t  *action;

    static struct {
        ngx_str_t    name;
        ngx_uint_t   method;
    } methods[] = {
        { ngx_string("GET"), NGX_HTTP_GET },
        { ngx_string("HEAD"), NGX_HTTP_HEAD },
        { ngx_string("POST"), NGX_HTTP_POST },
        { ngx_string("PUT"), NGX_HTTP_PUT },
        { ngx_string("PATCH"), NGX_HTTP_PATCH },
        { ngx_string("DELETE"), NGX_HTTP_DELETE },
        { ngx_string("OPTIONS"), NGX_HTTP_OPTIONS },
        { ngx_null_string, 0 }
    };

    value = cf->args->elts;

    if (plcf->actions == NULL) {
        plcf->actions = ngx_array_create(cf->pool, 4,
                                         sizeof(ngx_http_mim_policy_action_t));
        if (plcf->actions == NULL) {
            return NGX_CONF_ERROR;
        }
    }

    for (i = 0; methods[i].name.len; i++) {
        if (methods[i].name.len == value[1].len
            && ngx_strncasecmp(methods[i].name.data, value[1].data,
                               value[1].len) == 0)
        {
            break;
        }
    }

    if (methods[i].name.len == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "unknown method \"%V\" (GET, HEAD, POST, PUT, "
                           "PATCH, DELETE or OPTIONS)", &value[1]);
        return NGX_CONF_ERROR;
    }

    action = ngx_array_push(plcf->actions);
    if (action == NULL) {
        return NGX_CONF_ERROR;
    }

    action->method = methods[i].method;
    action->action = value[2];

    return NGX_CONF_OK;
}


static char *
ngx_http_mim_policy_spatial(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_mim_policy_loc_conf_t *plcf = conf;

    ngx_str_t   *value;
    ngx_uint_t   i;
    mim_str_t   *iri;

    if (plcf->spatial != NULL) {
        return "is duplicate";
    }

    value = cf->args->elts;

    plcf->spatial = ngx_array_create(cf->pool, cf->args->nelts - 1,
                                     sizeof(mim_str_t));
    if (plcf->spatial == NULL) {
        return NGX_CONF_ERROR;
    }

    for (i = 1; i < cf->args->nelts; i++) {
        iri = ngx_array_push(plcf->spatial);
        if (iri == NULL) {
            return NGX_CONF_ERROR;
        }

        iri->data = (char *) value[i].data;
        iri->len = value[i].len;
    }

    return NGX_CONF_OK;
}


static void
ngx_http_mim_policy_cleanup(void *data)
{
    ngx_http_mim_policy_t  *policy = data;

    mim_policy_free(policy->policy);
    policy->policy = NULL;
}


static ngx_int_t
ngx_http_mim_policy_add_variables(ngx_conf_t *cf)
{
    return ngx_http_mim_add_variables(cf, ngx_http_mim_policy_vars);
}


static void *
ngx_http_mim_policy_create_loc_conf(ngx_conf_t *cf)
{
    ngx_http_mim_policy_loc_conf_t  *conf;

    conf = ngx_pcalloc(cf->pool, sizeof(ngx_http_mim_policy_loc_conf_t));
    if (conf == NULL) {
        return NULL;
    }

    /*
     * set by ngx_pcalloc():
     *
     *     conf->policies = NULL;
     *     conf->actions = NULL;
     *     conf->spatial = NULL;
     *     conf->purpose_header = { 0, NULL };
     */

    conf->target = NGX_CONF_UNSET_PTR;
    conf->assignee = NGX_CONF_UNSET_PTR;

    return conf;
}


/*
 * Lists (mim_policy, mim_policy_action, mim_policy_spatial) are inherited
 * only by levels that set none of their own, like add_header.
 */

static char *
ngx_http_mim_policy_merge_loc_conf(ngx_conf_t *cf, void *parent, void *child)
{
    ngx_http_mim_policy_loc_conf_t *prev = parent;
    ngx_http_mim_policy_loc_conf_t *conf = child;

    if (conf->policies == NULL) {
        conf->policies = prev->policies;
    }

    if (conf->actions == NULL) {
        conf->actions = prev->actions;
    }

    if (conf->spatial == NULL) {
        conf->spatial = prev->spatial;
    }

    ngx_conf_merge_ptr_value(conf->target, prev->target, NULL);
    ngx_conf_merge_ptr_value(conf->assignee, prev->assignee, NULL);
    ngx_conf_merge_str_value(conf->purpose_header, prev->purpose_header,
                             "X-Data-Purpose");

    return NGX_CONF_OK;
}


static ngx_int_t
ngx_http_mim_policy_init(ngx_conf_t *cf)
{
    ngx_http_handler_pt        *h;
    ngx_http_core_main_conf_t  *cmcf;

    cmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_core_module);

    h = ngx_array_push(&cmcf->phases[NGX_HTTP_ACCESS_PHASE].handlers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    *h = ngx_http_mim_policy_handler;

    return NGX_OK;
}
