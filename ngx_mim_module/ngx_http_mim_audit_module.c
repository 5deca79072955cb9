/*
 * ngx_http_mim_audit_module - the signed, tamper-evident access log
 * (mim_audit_log; docs/audit.md).
 *
 * One JSON line per request, written in the log phase into a buffer
 * flushed by size and by a timer, like access_log buffer= flush=.  Every
 * worker writes its own file, PATH.<worker index>, as one hash chain
 * (trust/mim_audit.c); every N lines or T seconds, on rotation and at
 * exit it appends a checkpoint signed with mim_signing_key.
 *
 * The files are nginx "open files": the master creates them (as root,
 * then handed to the workers' user) and reopens them on USR1, calling our
 * flush handler first, which closes the old file with a checkpoint and
 * queues a link record for the new one.  A worker holds an flock() on its
 * file while it writes, so a worker started by a reload waits (holding
 * its records in memory) until the old worker of the same index has
 * written its exit checkpoint, then goes on with the same chain; one that
 * finds no exit checkpoint at the end of the file (its predecessor was
 * killed) writes a break record.  Logging never fails a request.
 */

#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include <sys/file.h>

#include "ngx_http_mim.h"
#include "mim_audit.h"


#define NGX_HTTP_MIM_AUDIT_IDLE      0
#define NGX_HTTP_MIM_AUDIT_WAITING   1   /* another process has the file */
#define NGX_HTTP_MIM_AUDIT_ACTIVE    2
#define NGX_HTTP_MIM_AUDIT_FAILED    3

#define NGX_HTTP_MIM_AUDIT_RETRY     100                 /* ms, waiting */
#define NGX_HTTP_MIM_AUDIT_HOLD_MAX  (64 * 1024 * 1024)  /* while waiting */
#define NGX_HTTP_MIM_AUDIT_EXIT_WAIT 2000                /* ms, at exit */


/* the record fields that come from variables */
enum {
    NGX_HTTP_MIM_AUDIT_PARTY = 0,
    NGX_HTTP_MIM_AUDIT_SUBJECT,
    NGX_HTTP_MIM_AUDIT_AUTH_METHOD,
    NGX_HTTP_MIM_AUDIT_AGREEMENT,
    NGX_HTTP_MIM_AUDIT_TRANSFER,
    NGX_HTTP_MIM_AUDIT_TARGET,
    NGX_HTTP_MIM_AUDIT_ACTION,
    NGX_HTTP_MIM_AUDIT_DECISION,
    NGX_HTTP_MIM_AUDIT_REASONS,
    NGX_HTTP_MIM_AUDIT_NFIELDS
};


typedef struct {
    ngx_str_t       field;          /* name in mim_audit_field */
    ngx_str_t       variable;       /* the variable used by default */
} ngx_http_mim_audit_field_t;


static ngx_http_mim_audit_field_t  ngx_http_mim_audit_fields[] = {
    { ngx_string("party"),       ngx_string("mim_party") },
    { ngx_string("subject"),     ngx_string("mim_subject") },
    { ngx_string("auth_method"), ngx_string("mim_auth_method") },
    { ngx_string("agreement"),   ngx_string("mim_agreement") },
    { ngx_string("transfer"),    ngx_string("mim_transfer") },
    { ngx_string("target"),      ngx_string("mim_target") },
    { ngx_string("action"),      ngx_string("mim_action") },
    { ngx_string("decision"),    ngx_string("mim_decision") },
    { ngx_string("reasons"),     ngx_string("mim_policy_reasons") }
};


typedef struct {
    ngx_str_t              path;        /* full name; files are PATH.<n> */
    ngx_uint_t             checkpoint;  /* lines between checkpoints */
    ngx_msec_t             interval;    /* longest time between them */
    size_t                 buffer;
    ngx_msec_t             flush;
    ngx_flag_t             fsync;
    mim_key_t             *key;         /* of the servers that use it */
    ngx_uint_t             index;
    ngx_open_file_t      **files;       /* one per worker, init_module */
    ngx_uint_t             nfiles;
} ngx_http_mim_audit_sink_t;


typedef struct {
    ngx_array_t            sinks;       /* ngx_http_mim_audit_sink_t * */
    ngx_int_t              request_id;  /* $request_id index */
} ngx_http_mim_audit_main_conf_t;


typedef struct {
    ngx_http_mim_audit_sink_t  *sink;   /* NULL: off */
    ngx_http_complex_value_t   *fields[NGX_HTTP_MIM_AUDIT_NFIELDS];
} ngx_http_mim_audit_loc_conf_t;


/* what a worker process keeps for one sink: never in a *_conf_t */
typedef struct {
    ngx_http_mim_audit_sink_t  *sink;
    ngx_open_file_t            *file;
    mim_audit_chain_t           chain;
    ngx_fd_t                    lock_fd;    /* our own: read and flock */
    ngx_uint_t                  state;
    u_char                     *buf;        /* chained lines to write */
    size_t                      len;
    u_char                     *hold;       /* bodies, while waiting */
    size_t                      hold_len;
    size_t                      hold_cap;
    u_char                     *scratch;    /* one record's body */
    size_t                      scratch_cap;
    ngx_uint_t                  dropped;
    ngx_msec_t                  last_checkpoint;
    ngx_uint_t                  write_failed;
    ngx_event_t                 timer;
    ngx_log_t                  *log;
} ngx_http_mim_audit_worker_t;


static ngx_int_t ngx_http_mim_audit_handler(ngx_http_request_t *r);
static void ngx_http_mim_audit_record(ngx_http_request_t *r,
    ngx_http_mim_audit_loc_conf_t *alcf, mim_audit_request_t *rec,
    ngx_str_t *values);
static void ngx_http_mim_audit_field(ngx_http_request_t *r,
    ngx_http_mim_audit_loc_conf_t *alcf, ngx_uint_t i, ngx_str_t *value);
static void ngx_http_mim_audit_append(ngx_http_mim_audit_worker_t *w,
    u_char *body, size_t len);
static void ngx_http_mim_audit_hold(ngx_http_mim_audit_worker_t *w,
    mim_audit_request_t *rec, size_t size);
static u_char *ngx_http_mim_audit_scratch(ngx_http_mim_audit_worker_t *w,
    size_t size);
static void ngx_http_mim_audit_write(ngx_http_mim_audit_worker_t *w,
    u_char *data, size_t len);
static void ngx_http_mim_audit_flush(ngx_http_mim_audit_worker_t *w);
static void ngx_http_mim_audit_checkpoint(ngx_http_mim_audit_worker_t *w,
    const char *reason);
static void ngx_http_mim_audit_segment(ngx_http_mim_audit_worker_t *w,
    const char *type, const char *after, mim_audit_tail_t *tail);
static void ngx_http_mim_audit_acquire(ngx_http_mim_audit_worker_t *w);
static ngx_int_t ngx_http_mim_audit_resume(ngx_http_mim_audit_worker_t *w);
static void ngx_http_mim_audit_drain(ngx_http_mim_audit_worker_t *w);
static void ngx_http_mim_audit_timer(ngx_event_t *ev);
static void ngx_http_mim_audit_reopen(ngx_open_file_t *file, ngx_log_t *log);
static int64_t ngx_http_mim_audit_now(void);

static char *ngx_http_mim_audit_log(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_mim_audit_field_directive(ngx_conf_t *cf,
    ngx_command_t *cmd, void *conf);
static void *ngx_http_mim_audit_create_main_conf(ngx_conf_t *cf);
static void *ngx_http_mim_audit_create_loc_conf(ngx_conf_t *cf);
static char *ngx_http_mim_audit_merge_loc_conf(ngx_conf_t *cf, void *parent,
    void *child);
static ngx_int_t ngx_http_mim_audit_init(ngx_conf_t *cf);
static ngx_int_t ngx_http_mim_audit_init_module(ngx_cycle_t *cycle);
static ngx_int_t ngx_http_mim_audit_init_process(ngx_cycle_t *cycle);
static void ngx_http_mim_audit_exit_process(ngx_cycle_t *cycle);


static ngx_command_t  ngx_http_mim_audit_commands[] = {

    { ngx_string("mim_audit_log"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_1MORE,
      ngx_http_mim_audit_log,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("mim_audit_field"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE2,
      ngx_http_mim_audit_field_directive,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

      ngx_null_command
};


static ngx_http_module_t  ngx_http_mim_audit_module_ctx = {
    NULL,                                  /* preconfiguration */
    ngx_http_mim_audit_init,               /* postconfiguration */

    ngx_http_mim_audit_create_main_conf,   /* create main configuration */
    NULL,                                  /* init main configuration */

    NULL,                                  /* create server configuration */
    NULL,                                  /* merge server configuration */

    ngx_http_mim_audit_create_loc_conf,    /* create location configuration */
    ngx_http_mim_audit_merge_loc_conf      /* merge location configuration */
};


ngx_module_t  ngx_http_mim_audit_module = {
    NGX_MODULE_V1,
    &ngx_http_mim_audit_module_ctx,        /* module context */
    ngx_http_mim_audit_commands,           /* module directives */
    NGX_HTTP_MODULE,                       /* module type */
    NULL,                                  /* init master */
    ngx_http_mim_audit_init_module,        /* init module */
    ngx_http_mim_audit_init_process,       /* init process */
    NULL,                                  /* init thread */
    NULL,                                  /* exit thread */
    ngx_http_mim_audit_exit_process,       /* exit process */
    NULL,                                  /* exit master */
    NGX_MODULE_V1_PADDING
};


/* per process: set in init_process of a worker, NULL elsewhere */
static ngx_http_mim_audit_worker_t  *ngx_http_mim_audit_workers;
static ngx_uint_t                    ngx_http_mim_audit_nworkers;

/* the default variables that exist, resolved once per process */
static ngx_flag_t  ngx_http_mim_audit_var_exists[NGX_HTTP_MIM_AUDIT_NFIELDS];
static ngx_uint_t  ngx_http_mim_audit_var_key[NGX_HTTP_MIM_AUDIT_NFIELDS];


/* ---- the log phase ---- */

static ngx_int_t
ngx_http_mim_audit_handler(ngx_http_request_t *r)
{
    size_t                          size;
    u_char                         *body;
    ngx_str_t                       values[NGX_HTTP_MIM_AUDIT_NFIELDS];
    mim_audit_request_t             rec;
    ngx_http_mim_audit_worker_t    *w;
    ngx_http_mim_audit_loc_conf_t  *alcf;

    alcf = ngx_http_get_module_loc_conf(r, ngx_http_mim_audit_module);

    if (alcf->sink == NULL || ngx_http_mim_audit_workers == NULL
        || alcf->sink->index >= ngx_http_mim_audit_nworkers)
    {
        return NGX_OK;
    }

    w = &ngx_http_mim_audit_workers[alcf->sink->index];

    if (w->state != NGX_HTTP_MIM_AUDIT_ACTIVE
        && w->state != NGX_HTTP_MIM_AUDIT_WAITING)
    {
        w->dropped++;
        return NGX_OK;
    }

    ngx_http_mim_audit_record(r, alcf, &rec, values);

    size = mim_audit_request_size(&rec);

    if (w->state == NGX_HTTP_MIM_AUDIT_WAITING) {
        ngx_http_mim_audit_hold(w, &rec, size);
        return NGX_OK;
    }

    body = ngx_http_mim_audit_scratch(w, size);
    if (body == NULL) {
        w->dropped++;
        return NGX_OK;
    }

    ngx_http_mim_audit_append(w, body, mim_audit_request_body(&rec,
                                                              (char *) body));

    if (w->chain.since_checkpoint >= w->sink->checkpoint) {
        ngx_http_mim_audit_checkpoint(w, "count");
    }

    return NGX_OK;
}


#define ngx_http_mim_audit_str(s)                                            \
    (mim_audit_str_t) { (const char *) (s).data, (s).len }


static void
ngx_http_mim_audit_record(ngx_http_request_t *r,
    ngx_http_mim_audit_loc_conf_t *alcf, mim_audit_request_t *rec,
    ngx_str_t *values)
{
    ngx_uint_t                       i, status;
    ngx_str_t                        digest;
    ngx_http_variable_value_t       *id;
    ngx_http_mim_audit_main_conf_t  *amcf;

    ngx_memzero(rec, sizeof(mim_audit_request_t));

    amcf = ngx_http_get_module_main_conf(r, ngx_http_mim_audit_module);

    rec->time_ms = ngx_http_mim_audit_now();
    rec->worker = (int) ngx_worker;

    id = ngx_http_get_indexed_variable(r, amcf->request_id);
    if (id != NULL && !id->not_found) {
        rec->request_id.data = (const char *) id->data;
        rec->request_id.len = id->len;
    }

    rec->client = ngx_http_mim_audit_str(r->connection->addr_text);
    rec->method = ngx_http_mim_audit_str(r->method_name);
    rec->uri = ngx_http_mim_audit_str(r->unparsed_uri);

    /* as $status does */
    if (r->err_status) {
        status = r->err_status;

    } else if (r->headers_out.status) {
        status = r->headers_out.status;

    } else if (r->http_version == NGX_HTTP_VERSION_9) {
        status = 9;

    } else {
        status = 0;
    }

    rec->status = (int) status;
    rec->bytes = (uint64_t) r->connection->sent;

    for (i = 0; i < NGX_HTTP_MIM_AUDIT_NFIELDS; i++) {
        ngx_http_mim_audit_field(r, alcf, i, &values[i]);
    }

    rec->party = ngx_http_mim_audit_str(values[NGX_HTTP_MIM_AUDIT_PARTY]);
    rec->subject = ngx_http_mim_audit_str(values[NGX_HTTP_MIM_AUDIT_SUBJECT]);
    rec->auth_method =
        ngx_http_mim_audit_str(values[NGX_HTTP_MIM_AUDIT_AUTH_METHOD]);
    rec->agreement =
        ngx_http_mim_audit_str(values[NGX_HTTP_MIM_AUDIT_AGREEMENT]);
    rec->transfer = ngx_http_mim_audit_str(values[NGX_HTTP_MIM_AUDIT_TRANSFER]);
    rec->target = ngx_http_mim_audit_str(values[NGX_HTTP_MIM_AUDIT_TARGET]);
    rec->action = ngx_http_mim_audit_str(values[NGX_HTTP_MIM_AUDIT_ACTION]);
    rec->decision = ngx_http_mim_audit_str(values[NGX_HTTP_MIM_AUDIT_DECISION]);
    rec->reasons = ngx_http_mim_audit_str(values[NGX_HTTP_MIM_AUDIT_REASONS]);

    if (ngx_http_mim_sign_digest(r, &digest) == NGX_OK) {
        rec->digest = ngx_http_mim_audit_str(digest);
    }
}


/* a field's value: mim_audit_field, else its variable if it exists */
static void
ngx_http_mim_audit_field(ngx_http_request_t *r,
    ngx_http_mim_audit_loc_conf_t *alcf, ngx_uint_t i, ngx_str_t *value)
{
    ngx_http_variable_value_t  *vv;

    ngx_str_null(value);

    if (alcf->fields[i] != NULL) {
        if (ngx_http_complex_value(r, alcf->fields[i], value) != NGX_OK) {
            ngx_str_null(value);
        }

        return;
    }

    if (!ngx_http_mim_audit_var_exists[i]) {
        return;
    }

    vv = ngx_http_get_variable(r, &ngx_http_mim_audit_fields[i].variable,
                               ngx_http_mim_audit_var_key[i]);

    if (vv != NULL && !vv->not_found && vv->len > 0) {
        value->data = vv->data;
        value->len = vv->len;
    }
}


static int64_t
ngx_http_mim_audit_now(void)
{
    ngx_time_t  *tp;

    tp = ngx_timeofday();

    return (int64_t) tp->sec * 1000 + (int64_t) tp->msec;
}


/* ---- buffering and writing ---- */

static u_char *
ngx_http_mim_audit_scratch(ngx_http_mim_audit_worker_t *w, size_t size)
{
    u_char  *p;

    if (size <= w->scratch_cap) {
        return w->scratch;
    }

    p = ngx_alloc(size, w->log);
    if (p == NULL) {
        return NULL;
    }

    ngx_free(w->scratch);
    w->scratch = p;
    w->scratch_cap = size;

    return p;
}


/* chain a body and buffer the line (a line larger than the buffer goes
   straight to the file) */
static void
ngx_http_mim_audit_append(ngx_http_mim_audit_worker_t *w, u_char *body,
    size_t len)
{
    size_t   need, n;
    u_char  *line;

    need = len + MIM_AUDIT_LINE_OVERHEAD;

    if (need > w->sink->buffer - w->len) {
        ngx_http_mim_audit_flush(w);
    }

    if (need <= w->sink->buffer) {
        w->len += mim_audit_chain_append(&w->chain, (const char *) body, len,
                                         (char *) w->buf + w->len);
        return;
    }

    line = ngx_alloc(need, w->log);
    if (line == NULL) {
        w->dropped++;
        return;
    }

    n = mim_audit_chain_append(&w->chain, (const char *) body, len,
                               (char *) line);
    ngx_http_mim_audit_write(w, line, n);
    ngx_free(line);
}


/* waiting for the file: keep the body, chain it later */
static void
ngx_http_mim_audit_hold(ngx_http_mim_audit_worker_t *w,
    mim_audit_request_t *rec, size_t size)
{
    size_t   cap;
    u_char  *p;

    if (size + 1 > w->hold_cap - w->hold_len) {
        cap = w->hold_cap ? w->hold_cap : 65536;

        while (cap < w->hold_len + size + 1) {
            cap *= 2;
        }

        if (cap > NGX_HTTP_MIM_AUDIT_HOLD_MAX) {
            if (w->dropped++ == 0) {
                ngx_log_error(NGX_LOG_CRIT, w->log, 0,
                              "mim_audit_log \"%V\": more than %uz bytes "
                              "of records while waiting for the previous "
                              "worker to finish; records are dropped",
                              &w->file->name,
                              (size_t) NGX_HTTP_MIM_AUDIT_HOLD_MAX);
            }

            return;
        }

        p = ngx_alloc(cap, w->log);
        if (p == NULL) {
            w->dropped++;
            return;
        }

        if (w->hold_len) {
            ngx_memcpy(p, w->hold, w->hold_len);
        }

        ngx_free(w->hold);
        w->hold = p;
        w->hold_cap = cap;
    }

    w->hold_len += mim_audit_request_body(rec,
                                          (char *) w->hold + w->hold_len);
    w->hold[w->hold_len++] = '\n';
}


static void
ngx_http_mim_audit_write(ngx_http_mim_audit_worker_t *w, u_char *data,
    size_t len)
{
    ssize_t    n;
    ngx_err_t  err;

    while (len > 0) {
        n = ngx_write_fd(w->file->fd, data, len);

        if (n == -1) {
            err = ngx_errno;

            if (err == NGX_EINTR) {
                continue;
            }

            /* lost lines show as a gap to the verifier; say it once */
            if (w->write_failed++ == 0) {
                ngx_log_error(NGX_LOG_CRIT, w->log, err,
                              "mim_audit_log: write() to \"%V\" failed",
                              &w->file->name);
            }

            return;
        }

        data += n;
        len -= n;
    }

    w->write_failed = 0;
}


static void
ngx_http_mim_audit_flush(ngx_http_mim_audit_worker_t *w)
{
    if (w->len) {
        ngx_http_mim_audit_write(w, w->buf, w->len);
        w->len = 0;
    }
}


static void
ngx_http_mim_audit_checkpoint(ngx_http_mim_audit_worker_t *w,
    const char *reason)
{
    char          *line;
    size_t         len;
    mim_result_t   rc;

    rc = mim_audit_checkpoint(&w->chain, w->sink->key,
                              ngx_http_mim_audit_now(), reason, &line, &len);

    /* the next one is due as if this one was written */
    w->last_checkpoint = ngx_current_msec;

    if (!mim_ok(rc)) {
        ngx_log_error(NGX_LOG_CRIT, w->log, 0,
                      "mim_audit_log \"%V\": checkpoint: %s",
                      &w->file->name, rc.msg);
        return;
    }

    if (len > w->sink->buffer - w->len) {
        ngx_http_mim_audit_flush(w);
    }

    if (len <= w->sink->buffer) {
        ngx_memcpy(w->buf + w->len, line, len);
        w->len += len;

    } else {
        ngx_http_mim_audit_write(w, (u_char *) line, len);
    }

    free(line);

    if (w->sink->fsync) {
        ngx_http_mim_audit_flush(w);

        if (fsync(w->file->fd) == -1) {
            ngx_log_error(NGX_LOG_ERR, w->log, ngx_errno,
                          "mim_audit_log: fsync(\"%V\") failed",
                          &w->file->name);
        }
    }
}


static void
ngx_http_mim_audit_segment(ngx_http_mim_audit_worker_t *w, const char *type,
    const char *after, mim_audit_tail_t *tail)
{
    u_char  *body;
    size_t   len;

    body = ngx_http_mim_audit_scratch(w, MIM_AUDIT_SEGMENT_MAX
                                         + w->chain.chain_len);
    if (body == NULL) {
        return;
    }

    len = mim_audit_segment_body(&w->chain, type, ngx_http_mim_audit_now(),
                                 (int) ngx_worker, (long) ngx_pid, after,
                                 tail && tail->known ? tail->seq : 0,
                                 tail ? tail->partial : 0, (char *) body);

    ngx_http_mim_audit_append(w, body, len);
}


/* ---- taking the file over ---- */

/*
 * Lock the file (our own descriptor, so the lock dies with this process)
 * and go on with its chain; while the previous worker of this index still
 * writes it, wait.
 */
static void
ngx_http_mim_audit_acquire(ngx_http_mim_audit_worker_t *w)
{
    ngx_err_t        err;
    ngx_file_info_t  fi, path_fi;

    for ( ;; ) {
        if (w->lock_fd == NGX_INVALID_FILE) {
            w->lock_fd = ngx_open_file(w->file->name.data, NGX_FILE_RDONLY,
                                       NGX_FILE_OPEN, 0);

            if (w->lock_fd == NGX_INVALID_FILE) {
                ngx_log_error(NGX_LOG_CRIT, w->log, ngx_errno,
                              "mim_audit_log: cannot open \"%V\" to go on "
                              "with its chain", &w->file->name);
                w->state = NGX_HTTP_MIM_AUDIT_FAILED;
                return;
            }

            (void) fcntl(w->lock_fd, F_SETFD, FD_CLOEXEC);
        }

        if (flock(w->lock_fd, LOCK_EX|LOCK_NB) == -1) {
            err = ngx_errno;

            if (err == EWOULDBLOCK || err == EINTR) {
                w->state = NGX_HTTP_MIM_AUDIT_WAITING;
                return;
            }

            ngx_log_error(NGX_LOG_CRIT, w->log, err,
                          "mim_audit_log: flock(\"%V\") failed",
                          &w->file->name);
            w->state = NGX_HTTP_MIM_AUDIT_FAILED;
            return;
        }

        /* the file was rotated meanwhile: lock the one at the path */
        if (ngx_fd_info(w->lock_fd, &fi) == 0
            && ngx_file_info(w->file->name.data, &path_fi) == 0
            && (fi.st_ino != path_fi.st_ino || fi.st_dev != path_fi.st_dev))
        {
            ngx_close_file(w->lock_fd);
            w->lock_fd = NGX_INVALID_FILE;
            continue;
        }

        break;
    }

    if (ngx_http_mim_audit_resume(w) != NGX_OK) {
        w->state = NGX_HTTP_MIM_AUDIT_FAILED;
        return;
    }

    w->state = NGX_HTTP_MIM_AUDIT_ACTIVE;
    w->last_checkpoint = ngx_current_msec;

    ngx_http_mim_audit_drain(w);
}


static ngx_int_t
ngx_http_mim_audit_resume(ngx_http_mim_audit_worker_t *w)
{
    off_t             size, from;
    ssize_t           n;
    u_char           *tail;
    ngx_file_info_t   fi;
    mim_audit_tail_t  t;

    if (ngx_fd_info(w->lock_fd, &fi) == NGX_FILE_ERROR) {
        ngx_log_error(NGX_LOG_CRIT, w->log, ngx_errno,
                      "mim_audit_log: fstat(\"%V\") failed", &w->file->name);
        return NGX_ERROR;
    }

    size = ngx_file_size(&fi);
    from = size > MIM_AUDIT_TAIL_MAX ? size - MIM_AUDIT_TAIL_MAX : 0;

    tail = ngx_alloc(MIM_AUDIT_TAIL_MAX, w->log);
    if (tail == NULL) {
        return NGX_ERROR;
    }

    n = pread(w->lock_fd, tail, (size_t) (size - from), from);

    if (n == -1) {
        ngx_log_error(NGX_LOG_CRIT, w->log, ngx_errno,
                      "mim_audit_log: pread(\"%V\") failed", &w->file->name);
        ngx_free(tail);
        return NGX_ERROR;
    }

    mim_audit_tail_read((const char *) tail, (size_t) n, from == 0, &t);
    ngx_free(tail);

    mim_audit_chain_resume(&w->chain, &t);

    if (t.partial) {
        /* a line cut by a crash: ours start on a line of their own */
        w->buf[w->len++] = '\n';
    }

    if (t.partial || (!t.empty && !t.clean)) {
        ngx_log_error(NGX_LOG_WARN, w->log, 0,
                      "mim_audit_log: \"%V\" does not end with an exit "
                      "checkpoint (last seq %uL%s): writing a break record",
                      &w->file->name, (uint64_t) t.seq,
                      t.partial ? ", then a partial line" : "");
        ngx_http_mim_audit_segment(w, "break", NULL, &t);

    } else {
        ngx_http_mim_audit_segment(w, "start", t.empty ? "new" : "exit",
                                   NULL);
    }

    return NGX_OK;
}


/* chain what was held while waiting */
static void
ngx_http_mim_audit_drain(ngx_http_mim_audit_worker_t *w)
{
    u_char  *p, *end, *nl;

    p = w->hold;
    end = w->hold + w->hold_len;

    while (p < end) {
        nl = ngx_strlchr(p, end, '\n');
        if (nl == NULL) {
            break;
        }

        ngx_http_mim_audit_append(w, p, nl - p);

        if (w->chain.since_checkpoint >= w->sink->checkpoint) {
            ngx_http_mim_audit_checkpoint(w, "count");
        }

        p = nl + 1;
    }

    ngx_free(w->hold);
    w->hold = NULL;
    w->hold_len = 0;
    w->hold_cap = 0;

    if (w->dropped) {
        ngx_log_error(NGX_LOG_CRIT, w->log, 0,
                      "mim_audit_log \"%V\": %ui records were dropped",
                      &w->file->name, w->dropped);
        w->dropped = 0;
    }
}


static void
ngx_http_mim_audit_timer(ngx_event_t *ev)
{
    ngx_http_mim_audit_worker_t  *w = ev->data;

    if (w->state == NGX_HTTP_MIM_AUDIT_WAITING) {
        ngx_http_mim_audit_acquire(w);
    }

    if (w->state == NGX_HTTP_MIM_AUDIT_ACTIVE) {
        if (w->chain.since_checkpoint > 0
            && ngx_current_msec - w->last_checkpoint >= w->sink->interval)
        {
            ngx_http_mim_audit_checkpoint(w, "interval");
        }

        ngx_http_mim_audit_flush(w);
    }

    if (w->state == NGX_HTTP_MIM_AUDIT_WAITING) {
        ngx_add_timer(ev, NGX_HTTP_MIM_AUDIT_RETRY);

    } else if (w->state == NGX_HTTP_MIM_AUDIT_ACTIVE) {
        ngx_add_timer(ev, w->sink->flush);
    }
}


/*
 * USR1: called before nginx reopens the file.  The old file ends with a
 * checkpoint; the link record is buffered for the new one.  nginx also
 * calls it when a worker exits (ngx_conf_module flushes every open file):
 * then it only flushes, exit_process writes the exit checkpoint.
 */
static void
ngx_http_mim_audit_reopen(ngx_open_file_t *file, ngx_log_t *log)
{
    ngx_uint_t                    i;
    ngx_http_mim_audit_worker_t  *w;

    for (i = 0; i < ngx_http_mim_audit_nworkers; i++) {
        w = &ngx_http_mim_audit_workers[i];

        if (w->file != file) {
            continue;
        }

        if (ngx_exiting || ngx_terminate || ngx_quit) {
            if (w->state == NGX_HTTP_MIM_AUDIT_ACTIVE) {
                ngx_http_mim_audit_flush(w);
            }

            continue;
        }

        if (w->state == NGX_HTTP_MIM_AUDIT_ACTIVE) {
            ngx_http_mim_audit_checkpoint(w, "rotate");
            ngx_http_mim_audit_flush(w);
            ngx_http_mim_audit_segment(w, "link", NULL, NULL);
        }

        /* the lock now belongs with the file at the path */
        if (w->lock_fd != NGX_INVALID_FILE) {
            ngx_close_file(w->lock_fd);
            w->lock_fd = NGX_INVALID_FILE;
        }

        if (w->state == NGX_HTTP_MIM_AUDIT_ACTIVE) {
            w->lock_fd = ngx_open_file(file->name.data, NGX_FILE_RDONLY,
                                       NGX_FILE_OPEN, 0);

            if (w->lock_fd != NGX_INVALID_FILE) {
                (void) fcntl(w->lock_fd, F_SETFD, FD_CLOEXEC);

                if (flock(w->lock_fd, LOCK_EX|LOCK_NB) == -1) {
                    ngx_log_error(NGX_LOG_WARN, log, ngx_errno,
                                  "mim_audit_log: flock(\"%V\") failed "
                                  "after reopening", &file->name);
                }
            }
        }
    }
}


/* ---- process life ---- */

static ngx_int_t
ngx_http_mim_audit_init_module(ngx_cycle_t *cycle)
{
    size_t                           len;
    ngx_uint_t                       i, n, k;
    ngx_open_file_t                 *file;
    ngx_core_conf_t                 *ccf;
    ngx_http_mim_audit_sink_t      **sinks, *sink;
    ngx_http_mim_audit_main_conf_t  *amcf;

    amcf = ngx_http_cycle_get_module_main_conf(cycle,
                                               ngx_http_mim_audit_module);
    if (amcf == NULL || amcf->sinks.nelts == 0) {
        return NGX_OK;
    }

    ccf = (ngx_core_conf_t *) ngx_get_conf(cycle->conf_ctx, ngx_core_module);

    n = ccf->master ? (ngx_uint_t) ccf->worker_processes : 1;

    sinks = amcf->sinks.elts;

    for (i = 0; i < amcf->sinks.nelts; i++) {
        sink = sinks[i];

        if (sink->key == NULL) {
            continue;           /* declared, used by no server */
        }

        sink->files = ngx_pcalloc(cycle->pool, n * sizeof(ngx_open_file_t *));
        if (sink->files == NULL) {
            return NGX_ERROR;
        }

        for (k = 0; k < n; k++) {
            file = ngx_list_push(&cycle->open_files);
            if (file == NULL) {
                return NGX_ERROR;
            }

            len = sink->path.len + NGX_INT_T_LEN + 2;

            file->name.data = ngx_pnalloc(cycle->pool, len);
            if (file->name.data == NULL) {
                return NGX_ERROR;
            }

            file->name.len = ngx_sprintf(file->name.data, "%V.%ui%Z",
                                         &sink->path, k)
                             - file->name.data - 1;
            file->flush = ngx_http_mim_audit_reopen;
            file->data = sink;

            /* as nginx opens its own logs: by the master, for the workers */
            file->fd = ngx_open_file(file->name.data, NGX_FILE_APPEND,
                                     NGX_FILE_CREATE_OR_OPEN,
                                     NGX_FILE_DEFAULT_ACCESS);

            if (file->fd == NGX_INVALID_FILE) {
                ngx_log_error(NGX_LOG_EMERG, cycle->log, ngx_errno,
                              ngx_open_file_n " \"%s\" failed",
                              file->name.data);

                /* a reload must not kill the master (fatal here) */
                if (ngx_is_init_cycle(cycle->old_cycle)) {
                    return NGX_ERROR;
                }

                continue;
            }

            (void) fcntl(file->fd, F_SETFD, FD_CLOEXEC);

            if (geteuid() == 0 && ccf->user != (ngx_uid_t) NGX_CONF_UNSET_UINT
                && fchown(file->fd, ccf->user, -1) == -1)
            {
                ngx_log_error(NGX_LOG_WARN, cycle->log, ngx_errno,
                              "fchown(\"%s\") failed", file->name.data);
            }

            sink->files[k] = file;
        }

        sink->nfiles = n;
    }

    return NGX_OK;
}


static ngx_int_t
ngx_http_mim_audit_init_process(ngx_cycle_t *cycle)
{
    u_char                           *id;
    size_t                            len;
    ngx_uint_t                        i;
    mim_result_t                      rc;
    ngx_http_variable_t              *v;
    ngx_http_mim_audit_sink_t       **sinks;
    ngx_http_core_main_conf_t        *cmcf;
    ngx_http_mim_audit_worker_t      *w;
    ngx_http_mim_audit_main_conf_t   *amcf;

    if (ngx_process != NGX_PROCESS_WORKER
        && ngx_process != NGX_PROCESS_SINGLE)
    {
        return NGX_OK;
    }

    amcf = ngx_http_cycle_get_module_main_conf(cycle,
                                               ngx_http_mim_audit_module);
    if (amcf == NULL || amcf->sinks.nelts == 0) {
        return NGX_OK;
    }

    cmcf = ngx_http_cycle_get_module_main_conf(cycle, ngx_http_core_module);

    for (i = 0; i < NGX_HTTP_MIM_AUDIT_NFIELDS; i++) {
        ngx_http_mim_audit_var_key[i] =
            ngx_hash_key(ngx_http_mim_audit_fields[i].variable.data,
                         ngx_http_mim_audit_fields[i].variable.len);

        v = ngx_hash_find(&cmcf->variables_hash,
                          ngx_http_mim_audit_var_key[i],
                          ngx_http_mim_audit_fields[i].variable.data,
                          ngx_http_mim_audit_fields[i].variable.len);

        ngx_http_mim_audit_var_exists[i] = (v != NULL);
    }

    w = ngx_pcalloc(cycle->pool,
                    amcf->sinks.nelts * sizeof(ngx_http_mim_audit_worker_t));
    if (w == NULL) {
        return NGX_ERROR;
    }

    ngx_http_mim_audit_workers = w;
    ngx_http_mim_audit_nworkers = amcf->sinks.nelts;

    sinks = amcf->sinks.elts;

    for (i = 0; i < amcf->sinks.nelts; i++, w++) {
        w->sink = sinks[i];
        w->log = cycle->log;
        w->lock_fd = NGX_INVALID_FILE;
        w->state = NGX_HTTP_MIM_AUDIT_FAILED;

        if (w->sink->key == NULL) {
            continue;
        }

        if (ngx_worker >= w->sink->nfiles
            || w->sink->files[ngx_worker] == NULL)
        {
            ngx_log_error(NGX_LOG_CRIT, cycle->log, 0,
                          "mim_audit_log \"%V\": no file for worker %ui",
                          &w->sink->path, ngx_worker);
            continue;
        }

        w->file = w->sink->files[ngx_worker];

        /* the chain id: host and file, e.g. "gw1:/var/log/mim/audit.log.0" */
        len = cycle->hostname.len + 1 + w->file->name.len;

        id = ngx_pnalloc(cycle->pool, len);
        if (id == NULL) {
            return NGX_ERROR;
        }

        ngx_sprintf(id, "%V:%V", &cycle->hostname, &w->file->name);

        rc = mim_audit_chain_init(&w->chain, (const char *) id,
                                  len > MIM_AUDIT_CHAIN_MAX
                                  ? MIM_AUDIT_CHAIN_MAX : len);
        if (!mim_ok(rc)) {
            ngx_log_error(NGX_LOG_CRIT, cycle->log, 0,
                          "mim_audit_log: %s", rc.msg);
            continue;
        }

        w->buf = ngx_alloc(w->sink->buffer, cycle->log);
        if (w->buf == NULL) {
            return NGX_ERROR;
        }

        w->timer.handler = ngx_http_mim_audit_timer;
        w->timer.data = w;
        w->timer.log = cycle->log;
        w->timer.cancelable = 1;

        ngx_http_mim_audit_acquire(w);

        if (w->state == NGX_HTTP_MIM_AUDIT_WAITING) {
            ngx_add_timer(&w->timer, NGX_HTTP_MIM_AUDIT_RETRY);

        } else if (w->state == NGX_HTTP_MIM_AUDIT_ACTIVE) {
            ngx_http_mim_audit_flush(w);
            ngx_add_timer(&w->timer, w->sink->flush);
        }
    }

    return NGX_OK;
}


static void
ngx_http_mim_audit_exit_process(ngx_cycle_t *cycle)
{
    ngx_uint_t                    i, tries;
    ngx_http_mim_audit_worker_t  *w;

    for (i = 0; i < ngx_http_mim_audit_nworkers; i++) {
        w = &ngx_http_mim_audit_workers[i];

        /* the previous worker may be about to finish: wait a little */
        for (tries = 0;
             w->state == NGX_HTTP_MIM_AUDIT_WAITING
             && tries < NGX_HTTP_MIM_AUDIT_EXIT_WAIT / 20;
             tries++)
        {
            ngx_msleep(20);
            ngx_http_mim_audit_acquire(w);
        }

        if (w->state == NGX_HTTP_MIM_AUDIT_WAITING && w->hold_len) {
            ngx_log_error(NGX_LOG_CRIT, w->log, 0,
                          "mim_audit_log \"%V\": the previous worker still "
                          "holds the file; held records are lost",
                          &w->file->name);
        }

        if (w->state == NGX_HTTP_MIM_AUDIT_ACTIVE) {
            ngx_http_mim_audit_checkpoint(w, "exit");
            ngx_http_mim_audit_flush(w);

            if (w->sink->fsync && fsync(w->file->fd) == -1) {
                ngx_log_error(NGX_LOG_ERR, w->log, ngx_errno,
                              "mim_audit_log: fsync(\"%V\") failed",
                              &w->file->name);
            }
        }

        w->state = NGX_HTTP_MIM_AUDIT_IDLE;

        if (w->lock_fd != NGX_INVALID_FILE) {
            ngx_close_file(w->lock_fd);
            w->lock_fd = NGX_INVALID_FILE;
        }

        mim_audit_chain_free(&w->chain);
        ngx_free(w->buf);
        ngx_free(w->hold);
        ngx_free(w->scratch);
        w->buf = NULL;
        w->hold = NULL;
        w->scratch = NULL;
    }

    ngx_http_mim_audit_workers = NULL;
    ngx_http_mim_audit_nworkers = 0;
}


/* ---- configuration ---- */

static char *
ngx_http_mim_audit_log(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_mim_audit_loc_conf_t *alcf = conf;

    ssize_t                           size;
    ngx_int_t                         n;
    ngx_str_t                        *value, path, s, dir;
    ngx_msec_t                        ms;
    ngx_uint_t                        i;
    ngx_file_info_t                   fi;
    ngx_http_mim_audit_sink_t        *sink, **sinks, **slot;
    ngx_http_mim_audit_main_conf_t   *amcf;

    if (alcf->sink != NGX_CONF_UNSET_PTR) {
        return "is duplicate";
    }

    value = cf->args->elts;

    if (ngx_strcmp(value[1].data, "off") == 0) {
        if (cf->args->nelts != 2) {
            return "takes no parameters with \"off\"";
        }

        alcf->sink = NULL;
        return NGX_CONF_OK;
    }

    sink = ngx_pcalloc(cf->pool, sizeof(ngx_http_mim_audit_sink_t));
    if (sink == NULL) {
        return NGX_CONF_ERROR;
    }

    sink->checkpoint = 1000;
    sink->interval = 10000;
    sink->buffer = 64 * 1024;
    sink->flush = 1000;
    sink->fsync = 0;

    path = value[1];

    if (ngx_conf_full_name(cf->cycle, &path, 0) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    sink->path = path;

    for (i = 2; i < cf->args->nelts; i++) {

        if (ngx_strncmp(value[i].data, "checkpoint=", 11) == 0) {
            n = ngx_atoi(value[i].data + 11, value[i].len - 11);
            if (n == NGX_ERROR || n < 1) {
                goto invalid;
            }

            sink->checkpoint = (ngx_uint_t) n;
            continue;
        }

        if (ngx_strncmp(value[i].data, "interval=", 9) == 0) {
            s.data = value[i].data + 9;
            s.len = value[i].len - 9;

            ms = ngx_parse_time(&s, 0);
            if (ms == (ngx_msec_t) NGX_ERROR || ms == 0) {
                goto invalid;
            }

            sink->interval = ms;
            continue;
        }

        if (ngx_strncmp(value[i].data, "flush=", 6) == 0) {
            s.data = value[i].data + 6;
            s.len = value[i].len - 6;

            ms = ngx_parse_time(&s, 0);
            if (ms == (ngx_msec_t) NGX_ERROR || ms == 0) {
                goto invalid;
            }

            sink->flush = ms;
            continue;
        }

        if (ngx_strncmp(value[i].data, "buffer=", 7) == 0) {
            s.data = value[i].data + 7;
            s.len = value[i].len - 7;

            size = ngx_parse_size(&s);
            if (size == NGX_ERROR || size < 4096) {
                goto invalid;
            }

            sink->buffer = (size_t) size;
            continue;
        }

        if (ngx_strcmp(value[i].data, "fsync=on") == 0) {
            sink->fsync = 1;
            continue;
        }

        if (ngx_strcmp(value[i].data, "fsync=off") == 0) {
            sink->fsync = 0;
            continue;
        }

        goto invalid;
    }

    /* a missing directory fails here, at nginx -t, not in the master */
    dir = path;

    while (dir.len > 1 && dir.data[dir.len - 1] != '/') {
        dir.len--;
    }

    if (dir.len > 1) {
        dir.len--;
    }

    s.data = ngx_pnalloc(cf->temp_pool, dir.len + 1);
    if (s.data == NULL) {
        return NGX_CONF_ERROR;
    }

    ngx_memcpy(s.data, dir.data, dir.len);
    s.data[dir.len] = '\0';

    if (ngx_file_info(s.data, &fi) == NGX_FILE_ERROR || !ngx_is_dir(&fi)) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "mim_audit_log \"%V\": no directory \"%s\"",
                           &path, s.data);
        return NGX_CONF_ERROR;
    }

    /* one sink per path: every place naming it shares the chains */
    amcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_mim_audit_module);

    sinks = amcf->sinks.elts;

    for (i = 0; i < amcf->sinks.nelts; i++) {
        if (sinks[i]->path.len != path.len
            || ngx_strncmp(sinks[i]->path.data, path.data, path.len) != 0)
        {
            continue;
        }

        if (sinks[i]->checkpoint != sink->checkpoint
            || sinks[i]->interval != sink->interval
            || sinks[i]->buffer != sink->buffer
            || sinks[i]->flush != sink->flush
            || sinks[i]->fsync != sink->fsync)
        {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "mim_audit_log \"%V\" is given elsewhere "
                               "with other parameters", &path);
            return NGX_CONF_ERROR;
        }

        alcf->sink = sinks[i];
        return NGX_CONF_OK;
    }

    sink->index = amcf->sinks.nelts;

    slot = ngx_array_push(&amcf->sinks);
    if (slot == NULL) {
        return NGX_CONF_ERROR;
    }

    *slot = sink;
    alcf->sink = sink;

    return NGX_CONF_OK;

invalid:

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "invalid parameter \"%V\"", &value[i]);

    return NGX_CONF_ERROR;
}


static char *
ngx_http_mim_audit_field_directive(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_http_mim_audit_loc_conf_t *alcf = conf;

    ngx_str_t                         *value;
    ngx_uint_t                         i;
    ngx_http_compile_complex_value_t   ccv;

    value = cf->args->elts;

    for (i = 0; i < NGX_HTTP_MIM_AUDIT_NFIELDS; i++) {
        if (value[1].len == ngx_http_mim_audit_fields[i].field.len
            && ngx_strncmp(value[1].data,
                           ngx_http_mim_audit_fields[i].field.data,
                           value[1].len) == 0)
        {
            break;
        }
    }

    if (i == NGX_HTTP_MIM_AUDIT_NFIELDS) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "unknown audit field \"%V\" (party, subject, "
                           "auth_method, agreement, transfer, target, "
                           "action, decision, reasons)", &value[1]);
        return NGX_CONF_ERROR;
    }

    if (alcf->fields[i] != NGX_CONF_UNSET_PTR) {
        return "is duplicate";
    }

    alcf->fields[i] = ngx_palloc(cf->pool, sizeof(ngx_http_complex_value_t));
    if (alcf->fields[i] == NULL) {
        return NGX_CONF_ERROR;
    }

    ngx_memzero(&ccv, sizeof(ngx_http_compile_complex_value_t));

    ccv.cf = cf;
    ccv.value = &value[2];
    ccv.complex_value = alcf->fields[i];

    if (ngx_http_compile_complex_value(&ccv) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


static void *
ngx_http_mim_audit_create_main_conf(ngx_conf_t *cf)
{
    ngx_http_mim_audit_main_conf_t  *amcf;

    amcf = ngx_pcalloc(cf->pool, sizeof(ngx_http_mim_audit_main_conf_t));
    if (amcf == NULL) {
        return NULL;
    }

    if (ngx_array_init(&amcf->sinks, cf->pool, 2,
                       sizeof(ngx_http_mim_audit_sink_t *))
        != NGX_OK)
    {
        return NULL;
    }

    amcf->request_id = NGX_ERROR;

    return amcf;
}


static void *
ngx_http_mim_audit_create_loc_conf(ngx_conf_t *cf)
{
    ngx_uint_t                      i;
    ngx_http_mim_audit_loc_conf_t  *alcf;

    alcf = ngx_pcalloc(cf->pool, sizeof(ngx_http_mim_audit_loc_conf_t));
    if (alcf == NULL) {
        return NULL;
    }

    alcf->sink = NGX_CONF_UNSET_PTR;

    for (i = 0; i < NGX_HTTP_MIM_AUDIT_NFIELDS; i++) {
        alcf->fields[i] = NGX_CONF_UNSET_PTR;
    }

    return alcf;
}


static char *
ngx_http_mim_audit_merge_loc_conf(ngx_conf_t *cf, void *parent, void *child)
{
    ngx_http_mim_audit_loc_conf_t *prev = parent;
    ngx_http_mim_audit_loc_conf_t *conf = child;

    ngx_uint_t                i;
    ngx_http_mim_srv_conf_t  *mscf;

    ngx_conf_merge_ptr_value(conf->sink, prev->sink, NULL);

    for (i = 0; i < NGX_HTTP_MIM_AUDIT_NFIELDS; i++) {
        ngx_conf_merge_ptr_value(conf->fields[i], prev->fields[i], NULL);
    }

    if (conf->sink == NULL) {
        return NGX_CONF_OK;
    }

    /* checkpoints are signed with the key of the server that logs */
    mscf = ngx_http_conf_get_module_srv_conf(cf, ngx_http_mim_module);

    if (mscf->signing_key == NULL) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "mim_audit_log \"%V\" requires mim_signing_key "
                           "(its checkpoints are signed)", &conf->sink->path);
        return NGX_CONF_ERROR;
    }

    if (conf->sink->key == NULL) {
        conf->sink->key = mscf->signing_key;

    } else if (conf->sink->key != mscf->signing_key) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "mim_audit_log \"%V\" is used by servers with "
                           "different signing keys", &conf->sink->path);
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


static ngx_int_t
ngx_http_mim_audit_init(ngx_conf_t *cf)
{
    ngx_str_t                        name = ngx_string("request_id");
    ngx_http_handler_pt             *h;
    ngx_http_core_main_conf_t       *cmcf;
    ngx_http_mim_audit_main_conf_t  *amcf;

    amcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_mim_audit_module);

    if (amcf->sinks.nelts == 0) {
        return NGX_OK;
    }

    amcf->request_id = ngx_http_get_variable_index(cf, &name);
    if (amcf->request_id == NGX_ERROR) {
        return NGX_ERROR;
    }

    cmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_core_module);

    h = ngx_array_push(&cmcf->phases[NGX_HTTP_LOG_PHASE].handlers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    *h = ngx_http_mim_audit_handler;

    return NGX_OK;
}
