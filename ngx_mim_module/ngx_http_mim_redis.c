/*
 * ngx_http_mim_redis.c - Redis through hiredis' async API on nginx events
 * (placeholder until it lands).
 */

#include "ngx_http_mim_redis.h"
