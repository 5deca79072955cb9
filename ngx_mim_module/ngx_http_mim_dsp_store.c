/*
 * ngx_http_mim_dsp_store.c - where the DSP provider keeps its state: Redis
 * (mim_redis), or, without it, a shared-memory zone of its own (embedded
 * mode: `mim_dsp_zone`).
 *
 * The handlers and the outbox speak in Redis commands and Lua scripts
 * (ngx_http_mim_dsp.h); without Redis, each of the few operations they use
 * is done here on the zone, under its mutex, with the same arguments and
 * the same replies, handed over from a posted event as a Redis reply is.
 * One change is all-or-nothing here too: every node it needs is allocated
 * before anything is replaced.
 *
 * The zone survives a reload (same name and size), not a restart.
 */

#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_mim_dsp.h"
#include "ngx_http_mim_redis.h"


#define NGX_HTTP_MIM_DSP_RECORD  1
#define NGX_HTTP_MIM_DSP_AGR     2
#define NGX_HTTP_MIM_DSP_JOB     3


typedef struct {
    ngx_str_node_t                sn;       /* key: the Redis key, or the
                                               job's id */
    u_char                        kind;
    u_char                        pending;  /* records: in mim:neg:pending */
    int64_t                       due;      /* jobs: epoch ms */
    ngx_str_t                     pid;      /* jobs: their record's key */
    ngx_str_t                     value;
    u_char                        data[1];
} ngx_http_mim_dsp_entry_t;


typedef struct {
    ngx_rbtree_t                  rbtree;
    ngx_rbtree_node_t             sentinel;
} ngx_http_mim_dsp_sh_t;


typedef struct {
    ngx_http_mim_dsp_sh_t        *sh;
    ngx_slab_pool_t              *shpool;
} ngx_http_mim_dsp_zone_t;


static ngx_int_t ngx_http_mim_dsp_zone_init(ngx_shm_zone_t *shm_zone,
    void *data);
static ngx_http_mim_redis_reply_t *ngx_http_mim_dsp_local(
    ngx_http_mim_dsp_zone_t *z, ngx_pool_t *pool, ngx_uint_t op,
    ngx_str_t *argv);
static ngx_http_mim_dsp_entry_t *ngx_http_mim_dsp_find(
    ngx_http_mim_dsp_zone_t *z, ngx_str_t *key);
static ngx_http_mim_dsp_entry_t *ngx_http_mim_dsp_alloc(
    ngx_http_mim_dsp_zone_t *z, u_char kind, ngx_str_t *key,
    ngx_str_t *pid, ngx_str_t *value);
static void ngx_http_mim_dsp_replace(ngx_http_mim_dsp_zone_t *z,
    ngx_http_mim_dsp_entry_t *old, ngx_http_mim_dsp_entry_t *e);
static void ngx_http_mim_dsp_remove(ngx_http_mim_dsp_zone_t *z,
    ngx_http_mim_dsp_entry_t *e);


/* ---- configuration ---------------------------------------------------- */

ngx_shm_zone_t *
ngx_http_mim_dsp_zone_add(ngx_conf_t *cf, size_t size)
{
    ngx_str_t                 name = ngx_string("mim_dsp");
    ngx_shm_zone_t           *shm_zone;
    ngx_http_mim_dsp_zone_t  *z;

    z = ngx_pcalloc(cf->pool, sizeof(ngx_http_mim_dsp_zone_t));
    if (z == NULL) {
        return NULL;
    }

    shm_zone = ngx_shared_memory_add(cf, &name, size,
                                     &ngx_http_mim_dsp_module);
    if (shm_zone == NULL) {
        return NULL;
    }

    shm_zone->init = ngx_http_mim_dsp_zone_init;
    shm_zone->data = z;

    return shm_zone;
}


static ngx_int_t
ngx_http_mim_dsp_zone_init(ngx_shm_zone_t *shm_zone, void *data)
{
    ngx_http_mim_dsp_zone_t  *oz = data;

    size_t                    len;
    ngx_http_mim_dsp_zone_t  *z;

    z = shm_zone->data;

    if (oz) {
        /* a reload: the negotiations go on */
        z->sh = oz->sh;
        z->shpool = oz->shpool;
        return NGX_OK;
    }

    z->shpool = (ngx_slab_pool_t *) shm_zone->shm.addr;

    if (shm_zone->shm.exists) {
        z->sh = z->shpool->data;
        return NGX_OK;
    }

    z->sh = ngx_slab_alloc(z->shpool, sizeof(ngx_http_mim_dsp_sh_t));
    if (z->sh == NULL) {
        return NGX_ERROR;
    }

    z->shpool->data = z->sh;

    ngx_rbtree_init(&z->sh->rbtree, &z->sh->sentinel,
                    ngx_str_rbtree_insert_value);

    len = sizeof(" in mim_dsp zone \"\"") + shm_zone->shm.name.len;

    z->shpool->log_ctx = ngx_slab_alloc(z->shpool, len);
    if (z->shpool->log_ctx == NULL) {
        return NGX_ERROR;
    }

    ngx_sprintf(z->shpool->log_ctx, " in mim_dsp zone \"%V\"%Z",
                &shm_zone->shm.name);

    z->shpool->log_nomem = 0;

    return NGX_OK;
}


/* ---- the one entry point -------------------------------------------- */

ngx_int_t
ngx_http_mim_dsp_store(ngx_http_request_t *r, ngx_pool_t *pool,
    ngx_uint_t op, ngx_uint_t argc, ngx_str_t *argv,
    ngx_http_mim_redis_handler_pt done, ngx_http_mim_redis_task_pt task,
    void *data, ngx_str_t *reason)
{
    ngx_http_mim_dsp_zone_t       *z;
    ngx_http_mim_redis_reply_t    *reply;
    ngx_http_mim_dsp_main_conf_t  *dmcf;

    dmcf = ngx_http_cycle_get_module_main_conf(ngx_cycle,
                                               ngx_http_mim_dsp_module);

    if (dmcf->store == NULL) {
        return r ? ngx_http_mim_redis_send(r, argc, argv, done, data, reason)
                 : ngx_http_mim_redis_send_task(pool, argc, argv, task, data,
                                                reason);
    }

    z = dmcf->store->data;

    reply = ngx_http_mim_dsp_local(z, r ? r->pool : pool, op, argv);
    if (reply == NULL) {
        return NGX_ERROR;
    }

    return ngx_http_mim_redis_deliver(r, pool, done, task, data, reply);
}


/* ---- the operations, as the scripts do them ------------------------- */

static ngx_int_t
ngx_http_mim_dsp_copy(ngx_pool_t *pool, ngx_http_mim_redis_reply_t *to,
    ngx_str_t *value)
{
    to->type = NGX_HTTP_MIM_REDIS_STRING;

    return ngx_http_mim_dsp_pstr(pool, &to->str, (char *) value->data,
                                 value->len);
}


static ngx_http_mim_redis_reply_t *
ngx_http_mim_dsp_array(ngx_pool_t *pool, ngx_http_mim_redis_reply_t *reply,
    ngx_uint_t n)
{
    reply->type = NGX_HTTP_MIM_REDIS_ARRAY;
    reply->elements = 0;
    reply->element = ngx_pcalloc(pool, (n ? n : 1)
                                       * sizeof(ngx_http_mim_redis_reply_t));
    return reply->element ? reply : NULL;
}


/* the CAS script of ngx_http_mim_dsp_cas_args(), on the zone */
static ngx_int_t
ngx_http_mim_dsp_local_cas(ngx_http_mim_dsp_zone_t *z, ngx_str_t *argv)
{
    ngx_str_t                  none = ngx_null_string;
    ngx_http_mim_dsp_entry_t  *rec, *job, *agr, *new_rec, *new_job, *new_agr;

    /* as ngx_http_mim_dsp_cas_args(); mim:tp:gen is not kept here: the
       data plane reads the transfers of this store at each request */
    enum {
        K_NEG = 3, K_AGR = 6, A_OLD = 9, A_NEW, A_DEL_JOB, A_ADD_JOB, A_DUE,
        A_JOB, A_AGREEMENT, A_PENDING, A_PID
    };

    rec = ngx_http_mim_dsp_find(z, &argv[K_NEG]);

    if (argv[A_OLD].len == 0) {
        if (rec) {
            return 0;
        }

    } else if (rec == NULL || rec->value.len != argv[A_OLD].len
               || ngx_memcmp(rec->value.data, argv[A_OLD].data,
                             argv[A_OLD].len) != 0)
    {
        return 0;
    }

    /* everything the change needs, or nothing changes */
    new_rec = ngx_http_mim_dsp_alloc(z, NGX_HTTP_MIM_DSP_RECORD, &argv[K_NEG],
                                     &none, &argv[A_NEW]);
    new_job = NULL;
    new_agr = NULL;

    if (new_rec && argv[A_ADD_JOB].len) {
        /* a job keeps its record's key, for the claim */
        new_job = ngx_http_mim_dsp_alloc(z, NGX_HTTP_MIM_DSP_JOB,
                                         &argv[A_ADD_JOB], &argv[K_NEG],
                                         &argv[A_JOB]);
    }

    if (new_rec && argv[A_AGREEMENT].len) {
        new_agr = ngx_http_mim_dsp_alloc(z, NGX_HTTP_MIM_DSP_AGR,
                                         &argv[K_AGR], &none,
                                         &argv[A_AGREEMENT]);
    }

    if (new_rec == NULL
        || (argv[A_ADD_JOB].len && new_job == NULL)
        || (argv[A_AGREEMENT].len && new_agr == NULL))
    {
        if (new_rec) {
            ngx_slab_free_locked(z->shpool, new_rec);
        }
        if (new_job) {
            ngx_slab_free_locked(z->shpool, new_job);
        }
        if (new_agr) {
            ngx_slab_free_locked(z->shpool, new_agr);
        }
        return NGX_ERROR;
    }

    new_rec->pending = rec ? rec->pending : 0;

    if (argv[A_PENDING].len == 1 && argv[A_PENDING].data[0] == '1') {
        new_rec->pending = 1;

    } else if (argv[A_PENDING].len == 2) {           /* "-1" */
        new_rec->pending = 0;
    }

    ngx_http_mim_dsp_replace(z, rec, new_rec);

    if (argv[A_DEL_JOB].len) {
        job = ngx_http_mim_dsp_find(z, &argv[A_DEL_JOB]);
        if (job) {
            ngx_http_mim_dsp_remove(z, job);
        }
    }

    if (new_job) {
        new_job->due = ngx_atoof(argv[A_DUE].data, argv[A_DUE].len);
        ngx_http_mim_dsp_replace(z, ngx_http_mim_dsp_find(z,
                                                          &argv[A_ADD_JOB]),
                                 new_job);
    }

    if (new_agr) {
        agr = ngx_http_mim_dsp_find(z, &argv[K_AGR]);
        ngx_http_mim_dsp_replace(z, agr, new_agr);
    }

    return 1;
}


static ngx_http_mim_redis_reply_t *
ngx_http_mim_dsp_local(ngx_http_mim_dsp_zone_t *z, ngx_pool_t *pool,
    ngx_uint_t op, ngx_str_t *argv)
{
    int64_t                      now, lease;
    ngx_int_t                    rc, limit;
    ngx_uint_t                   n;
    ngx_str_t                    key;
    ngx_rbtree_node_t           *node, *root, *sentinel;
    ngx_http_mim_dsp_entry_t    *e, *rec;
    ngx_http_mim_redis_reply_t  *reply, *el;

    reply = ngx_pcalloc(pool, sizeof(ngx_http_mim_redis_reply_t));
    if (reply == NULL) {
        return NULL;
    }

    ngx_shmtx_lock(&z->shpool->mutex);

    rc = NGX_OK;
    root = z->sh->rbtree.root;
    sentinel = z->sh->rbtree.sentinel;

    switch (op) {

    case NGX_HTTP_MIM_DSP_OP_GET:
        e = ngx_http_mim_dsp_find(z, &argv[1]);
        if (e == NULL) {
            reply->type = NGX_HTTP_MIM_REDIS_NIL;
            break;
        }
        rc = ngx_http_mim_dsp_copy(pool, reply, &e->value);
        break;

    case NGX_HTTP_MIM_DSP_OP_CAS:
        rc = ngx_http_mim_dsp_local_cas(z, argv);
        if (rc == NGX_ERROR) {
            reply->type = NGX_HTTP_MIM_REDIS_ERROR;
            ngx_str_set(&reply->str, "the mim_dsp zone is full");
            rc = NGX_OK;
            break;
        }
        reply->type = NGX_HTTP_MIM_REDIS_INTEGER;
        reply->integer = rc;
        rc = NGX_OK;
        break;

    case NGX_HTTP_MIM_DSP_OP_LIST:
    case NGX_HTTP_MIM_DSP_OP_CLAIM:
        now = (op == NGX_HTTP_MIM_DSP_OP_CLAIM)
              ? ngx_atoof(argv[5].data, argv[5].len) : 0;
        lease = (op == NGX_HTTP_MIM_DSP_OP_CLAIM)
                ? ngx_atoof(argv[6].data, argv[6].len) : 0;
        limit = (op == NGX_HTTP_MIM_DSP_OP_CLAIM)
                ? ngx_atoi(argv[7].data, argv[7].len) : NGX_MAX_INT_T_VALUE;

        /* count first, then fill */
        n = 0;
        if (root != sentinel) {
            for (node = ngx_rbtree_min(root, sentinel); node;
                 node = ngx_rbtree_next(&z->sh->rbtree, node))
            {
                n++;
            }
        }

        if (ngx_http_mim_dsp_array(pool, reply, 3 * n) == NULL) {
            rc = NGX_ERROR;
            break;
        }

        if (root == sentinel) {
            break;
        }

        for (node = ngx_rbtree_min(root, sentinel);
             node && (ngx_int_t) reply->elements < 3 * limit;
             node = ngx_rbtree_next(&z->sh->rbtree, node))
        {
            e = (ngx_http_mim_dsp_entry_t *) node;
            el = &reply->element[reply->elements];

            if (op == NGX_HTTP_MIM_DSP_OP_LIST) {
                if (e->kind != NGX_HTTP_MIM_DSP_RECORD || !e->pending) {
                    continue;
                }
                rc = ngx_http_mim_dsp_copy(pool, el, &e->value);
                reply->elements++;

            } else {
                if (e->kind != NGX_HTTP_MIM_DSP_JOB || e->due > now) {
                    continue;
                }

                e->due = now + lease;
                rec = ngx_http_mim_dsp_find(z, &e->pid);

                rc = ngx_http_mim_dsp_copy(pool, &el[0], &e->sn.str);
                if (rc == NGX_OK) {
                    rc = ngx_http_mim_dsp_copy(pool, &el[1], &e->value);
                }
                if (rc == NGX_OK) {
                    ngx_str_null(&key);
                    rc = ngx_http_mim_dsp_copy(pool, &el[2],
                                               rec ? &rec->value : &key);
                }
                reply->elements += 3;
            }

            if (rc != NGX_OK) {
                break;
            }
        }
        break;

    case NGX_HTTP_MIM_DSP_OP_DELETE:
        e = ngx_http_mim_dsp_find(z, &argv[5]);
        if (e) {
            ngx_http_mim_dsp_remove(z, e);
        }
        reply->type = NGX_HTTP_MIM_REDIS_INTEGER;
        reply->integer = 1;
        break;

    default: /* NGX_HTTP_MIM_DSP_OP_RETRY: id, job, due */
        reply->type = NGX_HTTP_MIM_REDIS_INTEGER;
        e = ngx_http_mim_dsp_find(z, &argv[5]);
        if (e == NULL) {
            break;
        }

        rec = ngx_http_mim_dsp_alloc(z, NGX_HTTP_MIM_DSP_JOB, &argv[5],
                                     &e->pid, &argv[6]);
        if (rec == NULL) {
            reply->type = NGX_HTTP_MIM_REDIS_ERROR;
            ngx_str_set(&reply->str, "the mim_dsp zone is full");
            break;
        }

        rec->due = ngx_atoof(argv[7].data, argv[7].len);
        ngx_http_mim_dsp_replace(z, e, rec);
        reply->integer = 1;
        break;
    }

    ngx_shmtx_unlock(&z->shpool->mutex);

    return rc == NGX_OK ? reply : NULL;
}


/* ---- entries ---------------------------------------------------------- */

static ngx_http_mim_dsp_entry_t *
ngx_http_mim_dsp_find(ngx_http_mim_dsp_zone_t *z, ngx_str_t *key)
{
    return (ngx_http_mim_dsp_entry_t *)
               ngx_str_rbtree_lookup(&z->sh->rbtree, key,
                                     ngx_crc32_short(key->data, key->len));
}


static ngx_http_mim_dsp_entry_t *
ngx_http_mim_dsp_alloc(ngx_http_mim_dsp_zone_t *z, u_char kind,
    ngx_str_t *key, ngx_str_t *pid, ngx_str_t *value)
{
    u_char                    *p;
    ngx_http_mim_dsp_entry_t  *e;

    e = ngx_slab_alloc_locked(z->shpool,
                              offsetof(ngx_http_mim_dsp_entry_t, data)
                              + key->len + pid->len + value->len);
    if (e == NULL) {
        return NULL;
    }

    ngx_memzero(e, sizeof(ngx_http_mim_dsp_entry_t));

    p = e->data;

    e->sn.str.data = p;
    e->sn.str.len = key->len;
    p = ngx_cpymem(p, key->data, key->len);

    e->pid.data = p;
    e->pid.len = pid->len;
    p = ngx_cpymem(p, pid->data, pid->len);

    e->value.data = p;
    e->value.len = value->len;
    ngx_memcpy(p, value->data, value->len);

    e->sn.node.key = ngx_crc32_short(key->data, key->len);
    e->kind = kind;

    return e;
}


/* e takes old's place (old may be NULL) */
static void
ngx_http_mim_dsp_replace(ngx_http_mim_dsp_zone_t *z,
    ngx_http_mim_dsp_entry_t *old, ngx_http_mim_dsp_entry_t *e)
{
    if (old) {
        ngx_http_mim_dsp_remove(z, old);
    }

    ngx_rbtree_insert(&z->sh->rbtree, &e->sn.node);
}


static void
ngx_http_mim_dsp_remove(ngx_http_mim_dsp_zone_t *z,
    ngx_http_mim_dsp_entry_t *e)
{
    ngx_rbtree_delete(&z->sh->rbtree, &e->sn.node);
    ngx_slab_free_locked(z->shpool, e);
}
