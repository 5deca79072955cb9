/*
 * ngx_http_mim_redis - Redis through hiredis' async API on nginx events.
 *
 * One connection per worker, made in init_process.  The hiredis context's
 * socket is wrapped in an ngx_connection_t whose read and write events
 * call redisAsyncHandleRead/Write; hiredis asks for events through the
 * ev.addRead/delRead/addWrite/delWrite/cleanup hooks below (the pattern
 * of hiredis' adapters/ headers, for nginx).  Events are level-triggered:
 * hiredis reads one buffer per call and relies on being called again.
 *
 * Lifecycle: DOWN (a retry timer runs) -> CONNECTING (non-blocking
 * connect; AUTH, SELECT and PING pipelined; requests' commands queue
 * behind them) -> READY.  Any error, a handshake that takes longer than
 * the timeout, or a command without a reply within the timeout drops the
 * connection: every pending command fails at once, and the next attempt
 * comes after a backoff doubling from 100 ms to 5 s.
 *
 * Commands outlive requests: a command is malloc()ed, and a cleanup of the
 * request's pool clears its request pointer, so a late reply is dropped.
 * Replies never resume a request from inside hiredis: the callback copies
 * the reply into the request's pool and posts an event that does.
 */

#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include <hiredis/hiredis.h>
#include <hiredis/async.h>

#include "ngx_http_mim_redis.h"


#define NGX_HTTP_MIM_REDIS_DOWN         0
#define NGX_HTTP_MIM_REDIS_CONNECTING   1
#define NGX_HTTP_MIM_REDIS_READY        2

#define NGX_HTTP_MIM_REDIS_BACKOFF_MIN  100
#define NGX_HTTP_MIM_REDIS_BACKOFF_MAX  5000
#define NGX_HTTP_MIM_REDIS_REASON_LEN   256
#define NGX_HTTP_MIM_REDIS_MAX_DEPTH    8

/* handshake steps, passed to their callback as privdata */
#define NGX_HTTP_MIM_REDIS_AUTH         1
#define NGX_HTTP_MIM_REDIS_SELECT       2
#define NGX_HTTP_MIM_REDIS_PING         3


typedef struct {
    ngx_http_request_t             *request;   /* NULL once it is gone */
    ngx_http_mim_redis_task_pt      task;      /* or a task's command */
    ngx_pool_t                     *pool;      /* the task's pool */
    ngx_pool_cleanup_t             *cleanup;   /* in the request's pool */
    ngx_http_mim_redis_handler_pt   done;
    void                           *data;
    ngx_http_mim_redis_reply_t     *reply;     /* in the request's pool */
    ngx_http_event_handler_pt       reading;   /* the request's, restored */
    ngx_event_t                     timer;     /* no reply: drop Redis */
    ngx_event_t                     wake;      /* posted: resume request */
} ngx_http_mim_redis_cmd_t;


/* per worker process; never in a configuration structure */
typedef struct {
    ngx_http_mim_redis_main_conf_t *conf;      /* NULL: not configured */
    ngx_log_t                      *log;
    redisAsyncContext              *ac;
    ngx_connection_t               *conn;
    ngx_uint_t                      state;
    ngx_msec_t                      backoff;
    ngx_event_t                     retry;     /* reconnect */
    ngx_event_t                     deadline;  /* connect + handshake */
    ngx_flag_t                      exiting;
    u_char                          reason[NGX_HTTP_MIM_REDIS_REASON_LEN];
    size_t                          reason_len;
} ngx_http_mim_redis_worker_t;


static ngx_http_mim_redis_worker_t  ngx_http_mim_redis_worker;


static void ngx_http_mim_redis_connect(ngx_http_mim_redis_worker_t *w);
static ngx_int_t ngx_http_mim_redis_attach(ngx_http_mim_redis_worker_t *w,
    redisAsyncContext *ac);
static ngx_int_t ngx_http_mim_redis_handshake(ngx_http_mim_redis_worker_t *w);
static void ngx_http_mim_redis_handshake_reply(redisAsyncContext *ac,
    void *reply, void *privdata);
static void ngx_http_mim_redis_on_connect(const redisAsyncContext *ac,
    int status);
static void ngx_http_mim_redis_drop(ngx_http_mim_redis_worker_t *w);
static void ngx_http_mim_redis_went_down(ngx_http_mim_redis_worker_t *w);
static void ngx_http_mim_redis_release_conn(ngx_http_mim_redis_worker_t *w);
static void ngx_http_mim_redis_set_reason(ngx_http_mim_redis_worker_t *w,
    const char *fmt, ...);
static void ngx_http_mim_redis_retry_handler(ngx_event_t *ev);
static void ngx_http_mim_redis_deadline_handler(ngx_event_t *ev);
static void ngx_http_mim_redis_read_handler(ngx_event_t *ev);
static void ngx_http_mim_redis_write_handler(ngx_event_t *ev);
static void ngx_http_mim_redis_add_read(void *privdata);
static void ngx_http_mim_redis_del_read(void *privdata);
static void ngx_http_mim_redis_add_write(void *privdata);
static void ngx_http_mim_redis_del_write(void *privdata);
static void ngx_http_mim_redis_cleanup(void *privdata);
static void ngx_http_mim_redis_reply(redisAsyncContext *ac, void *reply,
    void *privdata);
static ngx_int_t ngx_http_mim_redis_copy_reply(ngx_pool_t *pool,
    ngx_http_mim_redis_reply_t *to, redisReply *from, ngx_uint_t depth);
static void ngx_http_mim_redis_fail_reply(ngx_http_mim_redis_reply_t *reply,
    ngx_pool_t *pool, ngx_http_mim_redis_worker_t *w);
static void ngx_http_mim_redis_wake(ngx_event_t *ev);
static void ngx_http_mim_redis_detach(void *data);
static void ngx_http_mim_redis_cmd_timeout(ngx_event_t *ev);
static void ngx_http_mim_redis_free_cmd(ngx_http_mim_redis_cmd_t *cmd);

static char *ngx_http_mim_redis(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static void *ngx_http_mim_redis_create_main_conf(ngx_conf_t *cf);
static char *ngx_http_mim_redis_init_main_conf(ngx_conf_t *cf, void *conf);
static ngx_int_t ngx_http_mim_redis_init_process(ngx_cycle_t *cycle);
static void ngx_http_mim_redis_exit_process(ngx_cycle_t *cycle);


static ngx_command_t  ngx_http_mim_redis_commands[] = {

    { ngx_string("mim_redis"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_1MORE,
      ngx_http_mim_redis,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

      ngx_null_command
};


static ngx_http_module_t  ngx_http_mim_redis_module_ctx = {
    NULL,                                  /* preconfiguration */
    NULL,                                  /* postconfiguration */

    ngx_http_mim_redis_create_main_conf,   /* create main configuration */
    ngx_http_mim_redis_init_main_conf,     /* init main configuration */

    NULL,                                  /* create server configuration */
    NULL,                                  /* merge server configuration */

    NULL,                                  /* create location configuration */
    NULL                                   /* merge location configuration */
};


ngx_module_t  ngx_http_mim_redis_module = {
    NGX_MODULE_V1,
    &ngx_http_mim_redis_module_ctx,        /* module context */
    ngx_http_mim_redis_commands,           /* module directives */
    NGX_HTTP_MODULE,                       /* module type */
    NULL,                                  /* init master */
    NULL,                                  /* init module */
    ngx_http_mim_redis_init_process,       /* init process */
    NULL,                                  /* init thread */
    NULL,                                  /* exit thread */
    ngx_http_mim_redis_exit_process,       /* exit process */
    NULL,                                  /* exit master */
    NGX_MODULE_V1_PADDING
};


/* ---- the API -------------------------------------------------------- */

ngx_flag_t
ngx_http_mim_redis_configured(ngx_conf_t *cf)
{
    ngx_http_mim_redis_main_conf_t  *rmcf;

    rmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_mim_redis_module);

    return rmcf->address.len != 0;
}


ngx_flag_t
ngx_http_mim_redis_enabled(ngx_http_request_t *r)
{
    ngx_http_mim_redis_main_conf_t  *rmcf;

    rmcf = ngx_http_get_module_main_conf(r, ngx_http_mim_redis_module);

    return rmcf->address.len != 0;
}


/*
 * Queue one command whose reply will be copied into pool: NGX_OK with
 * *cmd (its timer armed, its events ready), NGX_DECLINED, NGX_BUSY with
 * *reason, or NGX_ERROR; the caller says who the command is for.
 */
static ngx_int_t
ngx_http_mim_redis_submit(ngx_pool_t *pool, ngx_uint_t argc, ngx_str_t *argv,
    ngx_http_mim_redis_cmd_t **cmdp, ngx_str_t *reason)
{
    size_t                       *lens;
    ngx_uint_t                    i;
    const char                  **args;
    ngx_http_mim_redis_cmd_t     *cmd;
    ngx_http_mim_redis_worker_t  *w = &ngx_http_mim_redis_worker;

    if (w->conf == NULL) {
        return NGX_DECLINED;
    }

    if (w->ac == NULL || w->state == NGX_HTTP_MIM_REDIS_DOWN) {
        /* NUL-terminated: callers put it in JSON bodies as C text */
        reason->data = ngx_pnalloc(pool, w->reason_len + 1);
        if (reason->data == NULL) {
            return NGX_ERROR;
        }
        reason->len = w->reason_len;
        ngx_memcpy(reason->data, w->reason, w->reason_len);
        reason->data[reason->len] = '\0';
        return NGX_BUSY;
    }

    args = ngx_palloc(pool, argc * sizeof(char *));
    lens = ngx_palloc(pool, argc * sizeof(size_t));
    if (args == NULL || lens == NULL) {
        return NGX_ERROR;
    }

    for (i = 0; i < argc; i++) {
        args[i] = (const char *) argv[i].data;
        lens[i] = argv[i].len;
    }

    cmd = ngx_calloc(sizeof(ngx_http_mim_redis_cmd_t), w->log);
    if (cmd == NULL) {
        return NGX_ERROR;
    }

    cmd->reply = ngx_pcalloc(pool, sizeof(ngx_http_mim_redis_reply_t));
    if (cmd->reply == NULL) {
        ngx_free(cmd);
        return NGX_ERROR;
    }

    if (redisAsyncCommandArgv(w->ac, ngx_http_mim_redis_reply, cmd,
                              (int) argc, args, lens)
        != REDIS_OK)
    {
        ngx_free(cmd);
        ngx_str_set(reason, "the Redis connection is closing");
        return NGX_BUSY;
    }

    /* the events may fire after the request (and its log) is gone */
    cmd->timer.handler = ngx_http_mim_redis_cmd_timeout;
    cmd->timer.data = cmd;
    cmd->timer.log = w->log;

    cmd->wake.handler = ngx_http_mim_redis_wake;
    cmd->wake.data = cmd;
    cmd->wake.log = w->log;

    ngx_add_timer(&cmd->timer, w->conf->timeout);

    *cmdp = cmd;

    return NGX_OK;
}


ngx_int_t
ngx_http_mim_redis_send(ngx_http_request_t *r, ngx_uint_t argc,
    ngx_str_t *argv, ngx_http_mim_redis_handler_pt done, void *data,
    ngx_str_t *reason)
{
    ngx_int_t                  rc;
    ngx_pool_cleanup_t        *cln;
    ngx_http_mim_redis_cmd_t  *cmd;

    /* added first: a command is never left without its cleanup */
    cln = ngx_pool_cleanup_add(r->pool, 0);
    if (cln == NULL) {
        return NGX_ERROR;
    }

    rc = ngx_http_mim_redis_submit(r->pool, argc, argv, &cmd, reason);
    if (rc != NGX_OK) {
        return rc;
    }

    cln->handler = ngx_http_mim_redis_detach;
    cln->data = cmd;

    cmd->cleanup = cln;
    cmd->request = r;
    cmd->done = done;
    cmd->data = data;

    /* a client that goes away meanwhile ends the request (499) */
    cmd->reading = r->read_event_handler;
    r->read_event_handler = ngx_http_test_reading;

    r->main->count++;

    return NGX_OK;
}


ngx_int_t
ngx_http_mim_redis_send_task(ngx_pool_t *pool, ngx_uint_t argc,
    ngx_str_t *argv, ngx_http_mim_redis_task_pt done, void *data,
    ngx_str_t *reason)
{
    ngx_int_t                  rc;
    ngx_http_mim_redis_cmd_t  *cmd;

    rc = ngx_http_mim_redis_submit(pool, argc, argv, &cmd, reason);
    if (rc != NGX_OK) {
        return rc;
    }

    cmd->task = done;
    cmd->pool = pool;
    cmd->data = data;

    return NGX_OK;
}


ngx_int_t
ngx_http_mim_redis_deliver(ngx_http_request_t *r, ngx_pool_t *pool,
    ngx_http_mim_redis_handler_pt done, ngx_http_mim_redis_task_pt task,
    void *data, ngx_http_mim_redis_reply_t *reply)
{
    ngx_log_t                    *log;
    ngx_pool_cleanup_t           *cln;
    ngx_http_mim_redis_cmd_t     *cmd;
    ngx_http_mim_redis_worker_t  *w = &ngx_http_mim_redis_worker;

    log = w->log ? w->log : ngx_cycle->log;

    cln = NULL;

    if (r) {
        cln = ngx_pool_cleanup_add(r->pool, 0);
        if (cln == NULL) {
            return NGX_ERROR;
        }
    }

    cmd = ngx_calloc(sizeof(ngx_http_mim_redis_cmd_t), log);
    if (cmd == NULL) {
        return NGX_ERROR;
    }

    cmd->reply = reply;
    cmd->data = data;

    cmd->wake.handler = ngx_http_mim_redis_wake;
    cmd->wake.data = cmd;
    cmd->wake.log = log;

    if (r) {
        cln->handler = ngx_http_mim_redis_detach;
        cln->data = cmd;

        cmd->cleanup = cln;
        cmd->request = r;
        cmd->done = done;

        cmd->reading = r->read_event_handler;
        r->read_event_handler = ngx_http_test_reading;

        r->main->count++;

    } else {
        cmd->task = task;
        cmd->pool = pool;
    }

    ngx_post_event(&cmd->wake, &ngx_posted_events);

    return NGX_OK;
}


/* ---- commands and replies ------------------------------------------- */

static void
ngx_http_mim_redis_reply(redisAsyncContext *ac, void *reply, void *privdata)
{
    ngx_http_mim_redis_cmd_t  *cmd = privdata;

    ngx_pool_t                   *pool;
    ngx_http_mim_redis_worker_t  *w = &ngx_http_mim_redis_worker;

    if (cmd->timer.timer_set) {
        ngx_del_timer(&cmd->timer);
    }

    if ((cmd->request == NULL && cmd->task == NULL) || w->exiting) {
        ngx_http_mim_redis_free_cmd(cmd);
        return;
    }

    pool = cmd->task ? cmd->pool : cmd->request->pool;

    if (reply == NULL) {
        ngx_http_mim_redis_fail_reply(cmd->reply, pool, w);

    } else if (ngx_http_mim_redis_copy_reply(pool, cmd->reply, reply, 0)
               != NGX_OK)
    {
        cmd->reply->type = NGX_HTTP_MIM_REDIS_FAILED;
        ngx_str_set(&cmd->reply->str, "out of memory for a Redis reply");
    }

    /* resume the request outside hiredis' callback loop */
    ngx_post_event(&cmd->wake, &ngx_posted_events);
}


static ngx_int_t
ngx_http_mim_redis_copy_reply(ngx_pool_t *pool,
    ngx_http_mim_redis_reply_t *to, redisReply *from, ngx_uint_t depth)
{
    size_t  i;

    to->type = from->type;

    switch (from->type) {

    case REDIS_REPLY_STRING:
    case REDIS_REPLY_STATUS:
    case REDIS_REPLY_ERROR:
        to->str.len = from->len;
        to->str.data = ngx_pnalloc(pool, from->len + 1);
        if (to->str.data == NULL) {
            return NGX_ERROR;
        }
        ngx_memcpy(to->str.data, from->str, from->len);
        to->str.data[from->len] = '\0';
        return NGX_OK;

    case REDIS_REPLY_INTEGER:
        to->integer = from->integer;
        return NGX_OK;

    case REDIS_REPLY_NIL:
        return NGX_OK;

    case REDIS_REPLY_ARRAY:
        if (depth >= NGX_HTTP_MIM_REDIS_MAX_DEPTH) {
            return NGX_ERROR;
        }

        to->elements = from->elements;

        if (from->elements == 0) {
            return NGX_OK;
        }

        to->element = ngx_pcalloc(pool, from->elements
                                        * sizeof(ngx_http_mim_redis_reply_t));
        if (to->element == NULL) {
            return NGX_ERROR;
        }

        for (i = 0; i < from->elements; i++) {
            if (ngx_http_mim_redis_copy_reply(pool, &to->element[i],
                                              from->element[i], depth + 1)
                != NGX_OK)
            {
                return NGX_ERROR;
            }
        }

        return NGX_OK;

    default:
        return NGX_ERROR;
    }
}


static void
ngx_http_mim_redis_fail_reply(ngx_http_mim_redis_reply_t *reply,
    ngx_pool_t *pool, ngx_http_mim_redis_worker_t *w)
{
    reply->type = NGX_HTTP_MIM_REDIS_FAILED;
    reply->str.len = w->reason_len;
    reply->str.data = ngx_pnalloc(pool, w->reason_len + 1);

    if (reply->str.data == NULL) {
        ngx_str_set(&reply->str, "Redis is unavailable");
        return;
    }

    ngx_memcpy(reply->str.data, w->reason, w->reason_len);
    reply->str.data[w->reason_len] = '\0';
}


static void
ngx_http_mim_redis_wake(ngx_event_t *ev)
{
    ngx_http_mim_redis_cmd_t  *cmd = ev->data;

    ngx_connection_t    *c;
    ngx_http_request_t  *r;

    if (cmd->task) {
        cmd->task(cmd->data, cmd->reply);
        ngx_http_mim_redis_free_cmd(cmd);
        return;
    }

    r = cmd->request;

    if (r == NULL) {
        /* the request went away after the reply came */
        ngx_http_mim_redis_free_cmd(cmd);
        return;
    }

    c = r->connection;

    cmd->cleanup->handler = NULL;
    cmd->request = NULL;

    r->read_event_handler = cmd->reading;

    /*
     * Release our reference; the request's own keeps it alive (had it
     * been terminated meanwhile, its pool cleanup would have detached
     * this command).
     */
    r->main->count--;

    cmd->done(r, cmd->data, cmd->reply);

    ngx_http_mim_redis_free_cmd(cmd);

    ngx_http_run_posted_requests(c);
}


/* a cleanup of the request's pool: the request is being freed */
static void
ngx_http_mim_redis_detach(void *data)
{
    ngx_http_mim_redis_cmd_t  *cmd = data;

    cmd->request = NULL;
}


static void
ngx_http_mim_redis_cmd_timeout(ngx_event_t *ev)
{
    ngx_http_mim_redis_worker_t  *w = &ngx_http_mim_redis_worker;

    /*
     * Redis answers in order: one command without a reply means every
     * later one waits too.  Fail them all now and reconnect.
     */
    ngx_http_mim_redis_set_reason(w, "Redis at %V did not answer within "
                                  "%M ms", &w->conf->address,
                                  w->conf->timeout);
    ngx_http_mim_redis_drop(w);
}


static void
ngx_http_mim_redis_free_cmd(ngx_http_mim_redis_cmd_t *cmd)
{
    if (cmd->timer.timer_set) {
        ngx_del_timer(&cmd->timer);
    }

    if (cmd->wake.posted) {
        ngx_delete_posted_event(&cmd->wake);
    }

    if (cmd->request) {
        cmd->cleanup->handler = NULL;
    }

    ngx_free(cmd);
}


/* ---- the connection ------------------------------------------------- */

static void
ngx_http_mim_redis_connect(ngx_http_mim_redis_worker_t *w)
{
    redisAsyncContext               *ac;
    ngx_http_mim_redis_main_conf_t  *conf = w->conf;

    if (conf->port) {
        ac = redisAsyncConnect((char *) conf->host.data, (int) conf->port);
    } else {
        ac = redisAsyncConnectUnix((char *) conf->host.data);
    }

    if (ac == NULL) {
        ngx_http_mim_redis_set_reason(w, "Redis at %V is unavailable: "
                                      "out of memory", &conf->address);
        ngx_http_mim_redis_went_down(w);
        return;
    }

    if (ac->err) {
        ngx_http_mim_redis_set_reason(w, "Redis at %V is unavailable: %s",
                                      &conf->address, ac->errstr);
        redisAsyncFree(ac);
        ngx_http_mim_redis_went_down(w);
        return;
    }

    if (ngx_http_mim_redis_attach(w, ac) != NGX_OK) {
        ngx_http_mim_redis_set_reason(w, "Redis at %V is unavailable: no "
                                      "free connection in this worker",
                                      &conf->address);
        redisAsyncFree(ac);
        ngx_http_mim_redis_went_down(w);
        return;
    }

    if (ngx_http_mim_redis_handshake(w) != NGX_OK) {
        ngx_http_mim_redis_set_reason(w, "Redis at %V: cannot queue the "
                                      "handshake", &conf->address);
        ngx_http_mim_redis_drop(w);
        return;
    }

    /* the first write event tells that the connect completed */
    ngx_http_mim_redis_add_write(ac);

    ngx_add_timer(&w->deadline, conf->timeout);
}


static ngx_int_t
ngx_http_mim_redis_attach(ngx_http_mim_redis_worker_t *w,
    redisAsyncContext *ac)
{
    ngx_connection_t  *c;

    c = ngx_get_connection(ac->c.fd, w->log);
    if (c == NULL) {
        return NGX_ERROR;
    }

    c->log = w->log;
    c->read->log = w->log;
    c->write->log = w->log;
    c->data = ac;
    c->read->handler = ngx_http_mim_redis_read_handler;
    c->write->handler = ngx_http_mim_redis_write_handler;
    c->number = ngx_atomic_fetch_add(ngx_connection_counter, 1);

    /* privdata is the context itself: hooks of an old one are ignored */
    ac->ev.data = ac;
    ac->ev.addRead = ngx_http_mim_redis_add_read;
    ac->ev.delRead = ngx_http_mim_redis_del_read;
    ac->ev.addWrite = ngx_http_mim_redis_add_write;
    ac->ev.delWrite = ngx_http_mim_redis_del_write;
    ac->ev.cleanup = ngx_http_mim_redis_cleanup;

    w->ac = ac;
    w->conn = c;
    w->state = NGX_HTTP_MIM_REDIS_CONNECTING;

    redisAsyncSetConnectCallback(ac, ngx_http_mim_redis_on_connect);

    return NGX_OK;
}


/* AUTH and SELECT when configured, then PING: READY on its PONG */
static ngx_int_t
ngx_http_mim_redis_handshake(ngx_http_mim_redis_worker_t *w)
{
    int                              rc;
    char                             db[NGX_INT_T_LEN + 1];
    ngx_http_mim_redis_main_conf_t  *conf = w->conf;

    if (conf->password.len) {
        rc = redisAsyncCommand(w->ac, ngx_http_mim_redis_handshake_reply,
                               (void *) (uintptr_t) NGX_HTTP_MIM_REDIS_AUTH,
                               "AUTH %b", conf->password.data,
                               conf->password.len);
        if (rc != REDIS_OK) {
            return NGX_ERROR;
        }
    }

    if (conf->db) {
        *ngx_sprintf((u_char *) db, "%i", conf->db) = '\0';

        rc = redisAsyncCommand(w->ac, ngx_http_mim_redis_handshake_reply,
                               (void *) (uintptr_t) NGX_HTTP_MIM_REDIS_SELECT,
                               "SELECT %s", db);
        if (rc != REDIS_OK) {
            return NGX_ERROR;
        }
    }

    rc = redisAsyncCommand(w->ac, ngx_http_mim_redis_handshake_reply,
                           (void *) (uintptr_t) NGX_HTTP_MIM_REDIS_PING,
                           "PING");

    return rc == REDIS_OK ? NGX_OK : NGX_ERROR;
}


static void
ngx_http_mim_redis_handshake_reply(redisAsyncContext *ac, void *reply,
    void *privdata)
{
    redisReply                   *rr = reply;
    ngx_uint_t                    step = (uintptr_t) privdata;
    ngx_http_mim_redis_worker_t  *w = &ngx_http_mim_redis_worker;

    static const char  *names[] = { "", "AUTH", "SELECT", "PING" };

    if (ac != w->ac || rr == NULL) {
        /* an old connection, or this one is going down anyway */
        return;
    }

    if (rr->type == REDIS_REPLY_ERROR) {
        ngx_http_mim_redis_set_reason(w, "Redis at %V refused %s: %*s",
                                      &w->conf->address, names[step],
                                      (size_t) rr->len, rr->str);
        ngx_http_mim_redis_drop(w);
        return;
    }

    if (step != NGX_HTTP_MIM_REDIS_PING) {
        return;
    }

    if (w->deadline.timer_set) {
        ngx_del_timer(&w->deadline);
    }

    w->state = NGX_HTTP_MIM_REDIS_READY;
    w->backoff = NGX_HTTP_MIM_REDIS_BACKOFF_MIN;

    ngx_log_error(NGX_LOG_INFO, w->log, 0,
                  "mim_redis: connected to %V", &w->conf->address);
}


static void
ngx_http_mim_redis_on_connect(const redisAsyncContext *ac, int status)
{
    ngx_http_mim_redis_worker_t  *w = &ngx_http_mim_redis_worker;

    if (status != REDIS_OK && ac == w->ac) {
        /* hiredis frees the context next, and our cleanup hook runs */
        ngx_http_mim_redis_set_reason(w, "Redis at %V is unavailable: %s",
                                      &w->conf->address,
                                      ac->errstr ? ac->errstr : "error");
    }
}


/* our decision to end the connection (timeout, refused handshake) */
static void
ngx_http_mim_redis_drop(ngx_http_mim_redis_worker_t *w)
{
    redisAsyncContext  *ac = w->ac;

    if (ac == NULL) {
        return;
    }

    ngx_http_mim_redis_went_down(w);

    /*
     * Pending commands get a NULL reply now (or, inside a hiredis
     * callback, right after it returns) and fail with w->reason.
     */
    redisAsyncFree(ac);
}


/* the connection is gone or never came: forget it and plan a retry */
static void
ngx_http_mim_redis_went_down(ngx_http_mim_redis_worker_t *w)
{
    ngx_uint_t  level;

    level = (w->state == NGX_HTTP_MIM_REDIS_READY) ? NGX_LOG_ERR
                                                    : NGX_LOG_WARN;

    ngx_http_mim_redis_release_conn(w);

    w->ac = NULL;
    w->state = NGX_HTTP_MIM_REDIS_DOWN;

    if (w->deadline.timer_set) {
        ngx_del_timer(&w->deadline);
    }

    if (w->exiting || ngx_exiting || ngx_quit || ngx_terminate) {
        return;
    }

    ngx_log_error(level, w->log, 0, "mim_redis: %*s; next attempt in %M ms",
                  w->reason_len, w->reason, w->backoff);

    if (!w->retry.timer_set) {
        ngx_add_timer(&w->retry, w->backoff);
    }

    w->backoff = ngx_min(w->backoff * 2, NGX_HTTP_MIM_REDIS_BACKOFF_MAX);
}


/* remove the socket from nginx's events; hiredis closes it */
static void
ngx_http_mim_redis_release_conn(ngx_http_mim_redis_worker_t *w)
{
    ngx_connection_t  *c = w->conn;

    if (c == NULL) {
        return;
    }

    w->conn = NULL;

    if (c->read->active) {
        ngx_del_event(c->read, NGX_READ_EVENT, 0);
    }

    if (c->write->active) {
        ngx_del_event(c->write, NGX_WRITE_EVENT, 0);
    }

    if (c->read->posted) {
        ngx_delete_posted_event(c->read);
    }

    if (c->write->posted) {
        ngx_delete_posted_event(c->write);
    }

    ngx_free_connection(c);

    c->fd = (ngx_socket_t) -1;
}


static void
ngx_http_mim_redis_set_reason(ngx_http_mim_redis_worker_t *w,
    const char *fmt, ...)
{
    u_char   *p;
    va_list   args;

    va_start(args, fmt);
    p = ngx_vslprintf(w->reason, w->reason + sizeof(w->reason), fmt, args);
    va_end(args);

    w->reason_len = p - w->reason;
}


static void
ngx_http_mim_redis_retry_handler(ngx_event_t *ev)
{
    ngx_http_mim_redis_worker_t  *w = ev->data;

    if (w->exiting || ngx_exiting || ngx_quit || ngx_terminate) {
        return;
    }

    ngx_http_mim_redis_connect(w);
}


static void
ngx_http_mim_redis_deadline_handler(ngx_event_t *ev)
{
    ngx_http_mim_redis_worker_t  *w = ev->data;

    if (w->state != NGX_HTTP_MIM_REDIS_CONNECTING) {
        return;
    }

    ngx_http_mim_redis_set_reason(w, "Redis at %V did not complete the "
                                  "connection within %M ms",
                                  &w->conf->address, w->conf->timeout);
    ngx_http_mim_redis_drop(w);
}


/* ---- the hiredis event adapter ------------------------------------- */

static void
ngx_http_mim_redis_read_handler(ngx_event_t *ev)
{
    ngx_connection_t  *c = ev->data;

    redisAsyncHandleRead(c->data);
}


static void
ngx_http_mim_redis_write_handler(ngx_event_t *ev)
{
    ngx_connection_t  *c = ev->data;

    redisAsyncHandleWrite(c->data);
}


static ngx_event_t *
ngx_http_mim_redis_event(void *privdata, ngx_flag_t write)
{
    ngx_http_mim_redis_worker_t  *w = &ngx_http_mim_redis_worker;

    if (privdata != w->ac || w->conn == NULL) {
        return NULL;
    }

    return write ? w->conn->write : w->conn->read;
}


static void
ngx_http_mim_redis_add_read(void *privdata)
{
    ngx_event_t  *ev = ngx_http_mim_redis_event(privdata, 0);

    if (ev != NULL && !ev->active
        && ngx_add_event(ev, NGX_READ_EVENT, 0) != NGX_OK)
    {
        ngx_log_error(NGX_LOG_ERR, ev->log, 0,
                      "mim_redis: cannot watch the connection for reading");
    }
}


static void
ngx_http_mim_redis_del_read(void *privdata)
{
    ngx_event_t  *ev = ngx_http_mim_redis_event(privdata, 0);

    if (ev != NULL && ev->active) {
        ngx_del_event(ev, NGX_READ_EVENT, 0);
    }
}


static void
ngx_http_mim_redis_add_write(void *privdata)
{
    ngx_event_t  *ev = ngx_http_mim_redis_event(privdata, 1);

    if (ev != NULL && !ev->active
        && ngx_add_event(ev, NGX_WRITE_EVENT, 0) != NGX_OK)
    {
        ngx_log_error(NGX_LOG_ERR, ev->log, 0,
                      "mim_redis: cannot watch the connection for writing");
    }
}


static void
ngx_http_mim_redis_del_write(void *privdata)
{
    ngx_event_t  *ev = ngx_http_mim_redis_event(privdata, 1);

    if (ev != NULL && ev->active) {
        ngx_del_event(ev, NGX_WRITE_EVENT, 0);
    }
}


/*
 * hiredis tears the context down (an error, EOF, a failed connect): it may
 * call this twice, and for contexts we already dropped ourselves.
 */
static void
ngx_http_mim_redis_cleanup(void *privdata)
{
    redisAsyncContext            *ac = privdata;
    ngx_http_mim_redis_worker_t  *w = &ngx_http_mim_redis_worker;

    if (ac != w->ac) {
        return;
    }

    if (ac->err && ac->errstr) {
        ngx_http_mim_redis_set_reason(w, "Redis at %V is unavailable: %s",
                                      &w->conf->address, ac->errstr);

    } else if (w->state != NGX_HTTP_MIM_REDIS_CONNECTING
               || w->reason_len == 0)
    {
        ngx_http_mim_redis_set_reason(w, "Redis at %V closed the "
                                      "connection", &w->conf->address);
    }

    ngx_http_mim_redis_went_down(w);
}


/* ---- configuration and process life --------------------------------- */

static char *
ngx_http_mim_redis(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_mim_redis_main_conf_t *rmcf = conf;

    u_char     *p;
    ngx_str_t  *value, s;
    ngx_int_t   n;
    ngx_url_t   u;
    ngx_uint_t  i;

    if (rmcf->address.data != NULL) {
        return "is duplicate";
    }

    value = cf->args->elts;
    rmcf->address = value[1];

    if (value[1].len > 5 && ngx_strncmp(value[1].data, "unix:", 5) == 0) {
        s.len = value[1].len - 5;
        s.data = value[1].data + 5;

        p = ngx_pnalloc(cf->pool, s.len + 1);
        if (p == NULL) {
            return NGX_CONF_ERROR;
        }

        *ngx_cpymem(p, s.data, s.len) = '\0';
        rmcf->host.data = p;
        rmcf->host.len = s.len;
        rmcf->port = 0;

    } else {
        /* resolved now, once: a worker never waits for DNS */
        ngx_memzero(&u, sizeof(ngx_url_t));
        u.url = value[1];
        u.default_port = 6379;

        if (ngx_parse_url(cf->pool, &u) != NGX_OK || u.naddrs == 0) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "mim_redis \"%V\": %s",
                               &value[1], u.err ? u.err : "no address");
            return NGX_CONF_ERROR;
        }

        if (u.uri.len) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "mim_redis \"%V\": "
                               "an address is host:port, without a path",
                               &value[1]);
            return NGX_CONF_ERROR;
        }

        p = ngx_pnalloc(cf->pool, NGX_SOCKADDR_STRLEN + 1);
        if (p == NULL) {
            return NGX_CONF_ERROR;
        }

        rmcf->host.data = p;
        rmcf->host.len = ngx_sock_ntop(u.addrs[0].sockaddr,
                                       u.addrs[0].socklen, p,
                                       NGX_SOCKADDR_STRLEN, 0);
        p[rmcf->host.len] = '\0';
        rmcf->port = ngx_inet_get_port(u.addrs[0].sockaddr);
    }

    for (i = 2; i < cf->args->nelts; i++) {

        if (ngx_strncmp(value[i].data, "password=", 9) == 0) {
            rmcf->password.len = value[i].len - 9;
            rmcf->password.data = value[i].data + 9;
            continue;
        }

        if (ngx_strncmp(value[i].data, "db=", 3) == 0) {
            n = ngx_atoi(value[i].data + 3, value[i].len - 3);
            if (n == NGX_ERROR) {
                goto invalid;
            }
            rmcf->db = n;
            continue;
        }

        if (ngx_strncmp(value[i].data, "timeout=", 8) == 0) {
            s.len = value[i].len - 8;
            s.data = value[i].data + 8;
            n = ngx_parse_time(&s, 0);
            if (n == NGX_ERROR || n == 0) {
                goto invalid;
            }
            rmcf->timeout = (ngx_msec_t) n;
            continue;
        }

        goto invalid;
    }

    return NGX_CONF_OK;

invalid:

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "mim_redis: invalid parameter "
                       "\"%V\" (password=..., db=N, timeout=TIME)",
                       &value[i]);
    return NGX_CONF_ERROR;
}


static void *
ngx_http_mim_redis_create_main_conf(ngx_conf_t *cf)
{
    ngx_http_mim_redis_main_conf_t  *conf;

    conf = ngx_pcalloc(cf->pool, sizeof(ngx_http_mim_redis_main_conf_t));
    if (conf == NULL) {
        return NULL;
    }

    /*
     * set by ngx_pcalloc():
     *
     *     conf->address = { 0, NULL };
     *     conf->host = { 0, NULL };
     *     conf->port = 0;
     *     conf->password = { 0, NULL };
     *     conf->db = 0;
     */

    conf->timeout = NGX_CONF_UNSET_MSEC;

    return conf;
}


static char *
ngx_http_mim_redis_init_main_conf(ngx_conf_t *cf, void *conf)
{
    ngx_http_mim_redis_main_conf_t *rmcf = conf;

    ngx_conf_init_msec_value(rmcf->timeout, 1000);

    return NGX_CONF_OK;
}


static ngx_int_t
ngx_http_mim_redis_init_process(ngx_cycle_t *cycle)
{
    ngx_http_mim_redis_worker_t     *w = &ngx_http_mim_redis_worker;
    ngx_http_mim_redis_main_conf_t  *rmcf;

    rmcf = ngx_http_cycle_get_module_main_conf(cycle,
                                               ngx_http_mim_redis_module);

    ngx_memzero(w, sizeof(ngx_http_mim_redis_worker_t));

    if (rmcf == NULL || rmcf->address.len == 0) {
        return NGX_OK;
    }

    w->conf = rmcf;
    w->log = cycle->log;
    w->backoff = NGX_HTTP_MIM_REDIS_BACKOFF_MIN;

    w->retry.handler = ngx_http_mim_redis_retry_handler;
    w->retry.data = w;
    w->retry.log = cycle->log;
    w->retry.cancelable = 1;

    w->deadline.handler = ngx_http_mim_redis_deadline_handler;
    w->deadline.data = w;
    w->deadline.log = cycle->log;
    w->deadline.cancelable = 1;

    ngx_http_mim_redis_set_reason(w, "Redis at %V is not connected yet",
                                  &rmcf->address);

    ngx_http_mim_redis_connect(w);

    return NGX_OK;
}


static void
ngx_http_mim_redis_exit_process(ngx_cycle_t *cycle)
{
    redisAsyncContext            *ac;
    ngx_http_mim_redis_worker_t  *w = &ngx_http_mim_redis_worker;

    w->exiting = 1;

    if (w->retry.timer_set) {
        ngx_del_timer(&w->retry);
    }

    if (w->deadline.timer_set) {
        ngx_del_timer(&w->deadline);
    }

    ac = w->ac;

    if (ac == NULL) {
        return;
    }

    /* before nginx looks for sockets left open */
    ngx_http_mim_redis_release_conn(w);
    w->ac = NULL;

    redisAsyncFree(ac);
}
