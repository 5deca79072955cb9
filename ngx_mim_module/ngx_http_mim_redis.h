/*
 * ngx_http_mim_redis.h - Redis through hiredis' async API on nginx events
 * (placeholder until it lands).
 */
#ifndef NGX_HTTP_MIM_REDIS_H_INCLUDED_
#define NGX_HTTP_MIM_REDIS_H_INCLUDED_

#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#endif /* NGX_HTTP_MIM_REDIS_H_INCLUDED_ */
