/*
 * ngx_http_mim_auth_module - placeholder until the caller-identity glue
 * lands.
 */

#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_mim.h"


static ngx_http_module_t  ngx_http_mim_auth_module_ctx = {
    NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL
};


ngx_module_t  ngx_http_mim_auth_module = {
    NGX_MODULE_V1,
    &ngx_http_mim_auth_module_ctx,           /* module context */
    NULL,                                  /* module directives */
    NGX_HTTP_MODULE,                       /* module type */
    NULL, NULL, NULL, NULL, NULL, NULL, NULL,
    NGX_MODULE_V1_PADDING
};
