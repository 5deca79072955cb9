/*
 * ngx_http_mim_redis.h - Redis through hiredis' async API on nginx events.
 *
 * `mim_redis ADDRESS [password=...] [db=N] [timeout=TIME];` (http) gives
 * every worker one connection, made in init_process and re-made with a
 * capped exponential backoff when it breaks (docs/redis.md).  Nothing
 * blocks: the connect is non-blocking, AUTH / SELECT / PING are pipelined
 * before the first command, and every command has a timeout.
 *
 * A request sends a command and waits:
 *
 *     rc = ngx_http_mim_redis_send(r, argc, argv, done, data, &reason);
 *
 *     NGX_OK        done(r, data, reply) will be called once, from a
 *                   posted event, and only while r still exists; until
 *                   then r->main->count is held, and it is released just
 *                   before done() runs.  done() resumes the request: in
 *                   the access phase it stores the result in its ctx and
 *                   calls ngx_http_core_run_phases(r) (the access handler
 *                   returned NGX_DONE meanwhile, and sees the result when
 *                   it runs again); a content handler sends its response
 *                   and calls ngx_http_finalize_request(r, rc).
 *     NGX_DECLINED  mim_redis is not configured
 *     NGX_BUSY      Redis is unavailable right now; *reason says why (503)
 *     NGX_ERROR     out of memory
 *
 * A request finalized before its reply never sees it: a cleanup of the
 * request's pool detaches the command, whose reply is then dropped.  When
 * no reply comes (Redis died, the command timed out), done() gets a reply
 * of type NGX_HTTP_MIM_REDIS_FAILED with the reason in reply->str.
 */
#ifndef NGX_HTTP_MIM_REDIS_H_INCLUDED_
#define NGX_HTTP_MIM_REDIS_H_INCLUDED_

#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>


/* reply types: hiredis' REDIS_REPLY_* values, plus FAILED (no reply) */
#define NGX_HTTP_MIM_REDIS_FAILED   0
#define NGX_HTTP_MIM_REDIS_STRING   1
#define NGX_HTTP_MIM_REDIS_ARRAY    2
#define NGX_HTTP_MIM_REDIS_INTEGER  3
#define NGX_HTTP_MIM_REDIS_NIL      4
#define NGX_HTTP_MIM_REDIS_STATUS   5
#define NGX_HTTP_MIM_REDIS_ERROR    6


typedef struct ngx_http_mim_redis_reply_s  ngx_http_mim_redis_reply_t;

/* a reply, copied into the request's pool */
struct ngx_http_mim_redis_reply_s {
    ngx_uint_t                    type;
    long long                     integer;   /* INTEGER */
    ngx_str_t                     str;       /* STRING, STATUS, ERROR, and
                                                the reason of FAILED */
    ngx_http_mim_redis_reply_t   *element;   /* ARRAY */
    size_t                        elements;
};


typedef void (*ngx_http_mim_redis_handler_pt)(ngx_http_request_t *r,
    void *data, ngx_http_mim_redis_reply_t *reply);


typedef struct {
    ngx_str_t                     address;   /* as configured, for logs */
    ngx_str_t                     host;      /* numeric IP or unix path,
                                                NUL-terminated */
    ngx_uint_t                    port;      /* 0: a unix socket */
    ngx_str_t                     password;  /* AUTH, when not empty */
    ngx_int_t                     db;        /* SELECT, when not 0 */
    ngx_msec_t                    timeout;   /* connect and per command */
} ngx_http_mim_redis_main_conf_t;


extern ngx_module_t  ngx_http_mim_redis_module;


/* Is mim_redis configured?  (at configuration time) */
ngx_flag_t ngx_http_mim_redis_configured(ngx_conf_t *cf);

/* Is mim_redis configured?  (at request time) */
ngx_flag_t ngx_http_mim_redis_enabled(ngx_http_request_t *r);

/* Send one command (argv[0] is its name); see the top of this file. */
ngx_int_t ngx_http_mim_redis_send(ngx_http_request_t *r, ngx_uint_t argc,
    ngx_str_t *argv, ngx_http_mim_redis_handler_pt done, void *data,
    ngx_str_t *reason);


/*
 * A command of no request (the DSP outbox, from a timer): the reply is
 * copied into pool and done(data, reply) is called once, from a posted
 * event, also with a FAILED reply when Redis drops or the command times
 * out; only a worker that exits never calls it.  Whatever data and pool
 * are must live until then.  Return values as for ngx_http_mim_redis_send.
 */
typedef void (*ngx_http_mim_redis_task_pt)(void *data,
    ngx_http_mim_redis_reply_t *reply);

ngx_int_t ngx_http_mim_redis_send_task(ngx_pool_t *pool, ngx_uint_t argc,
    ngx_str_t *argv, ngx_http_mim_redis_task_pt done, void *data,
    ngx_str_t *reason);


/*
 * Hand over a reply made without Redis (the DSP's embedded store) exactly
 * as a Redis reply is: for r (done) or for a task (task, pool), from a
 * posted event, never to a request that is gone.  reply lives in r's pool
 * or in pool.  NGX_OK or NGX_ERROR.
 */
ngx_int_t ngx_http_mim_redis_deliver(ngx_http_request_t *r, ngx_pool_t *pool,
    ngx_http_mim_redis_handler_pt done, ngx_http_mim_redis_task_pt task,
    void *data, ngx_http_mim_redis_reply_t *reply);


#endif /* NGX_HTTP_MIM_REDIS_H_INCLUDED_ */
