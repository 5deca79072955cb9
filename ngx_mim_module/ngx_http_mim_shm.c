/*
 * ngx_http_mim_shm - a shared-memory zone of short-lived entries
 * (ngx_http_mim_shm.h says what it is for).
 *
 * Layout: ngx_rbtree_node_t up to its color, then the rest of
 * ngx_http_mim_shm_node_t (as in nginx's limit_req module), then the id
 * and the value bytes.  Cached entries are in the LRU queue, most recently
 * used first; pinned entries in their own queue, newest first.  Every
 * access takes the slab pool's mutex and drops an expired entry or two
 * from each queue's tail; when an allocation fails, cached entries are
 * evicted from the tail and expired pinned entries are swept until it
 * succeeds or nothing is left to free.
 */

#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_mim_shm.h"


typedef struct {
    u_char                  color;
    u_char                  kind;
    u_char                  pinned;
    u_char                  id_len;
    uint32_t                generation;
    uint32_t                scope;
    uint32_t                value_len;
    time_t                  expires;
    ngx_queue_t             queue;
    u_char                  data[1];     /* id, then value */
} ngx_http_mim_shm_node_t;


typedef struct {
    ngx_rbtree_t            rbtree;
    ngx_rbtree_node_t       sentinel;
    ngx_queue_t             lru;
    ngx_queue_t             pinned;
    uint32_t                generation;
} ngx_http_mim_shm_sh_t;


typedef struct {
    ngx_http_mim_shm_sh_t  *sh;
    ngx_slab_pool_t        *shpool;
    uint32_t                generation;  /* of this configuration */
} ngx_http_mim_shm_ctx_t;


static ngx_int_t ngx_http_mim_shm_init_zone(ngx_shm_zone_t *shm_zone,
    void *data);
static void ngx_http_mim_shm_rbtree_insert(ngx_rbtree_node_t *temp,
    ngx_rbtree_node_t *node, ngx_rbtree_node_t *sentinel);
static ngx_int_t ngx_http_mim_shm_compare(ngx_http_mim_shm_node_t *a,
    ngx_http_mim_shm_node_t *b);
static uint32_t ngx_http_mim_shm_hash(ngx_http_mim_shm_key_t *key);
static ngx_http_mim_shm_node_t *ngx_http_mim_shm_lookup(
    ngx_http_mim_shm_ctx_t *ctx, ngx_http_mim_shm_key_t *key,
    uint32_t hash);
static ngx_http_mim_shm_node_t *ngx_http_mim_shm_alloc(
    ngx_http_mim_shm_ctx_t *ctx, size_t size, time_t now);
static void ngx_http_mim_shm_expire(ngx_http_mim_shm_ctx_t *ctx,
    time_t now, ngx_uint_t n);
static ngx_uint_t ngx_http_mim_shm_sweep_pinned(ngx_http_mim_shm_ctx_t *ctx,
    time_t now);
static void ngx_http_mim_shm_delete(ngx_http_mim_shm_ctx_t *ctx,
    ngx_http_mim_shm_node_t *node);
static ngx_http_mim_shm_node_t *ngx_http_mim_shm_insert(
    ngx_http_mim_shm_ctx_t *ctx, ngx_http_mim_shm_key_t *key, uint32_t hash,
    time_t now, time_t expires, ngx_flag_t pinned, ngx_str_t *value);


#define ngx_http_mim_shm_rbnode(node)                                        \
    ((ngx_rbtree_node_t *) ((u_char *) (node)                                \
                            - offsetof(ngx_rbtree_node_t, color)))

#define ngx_http_mim_shm_node(rbnode)                                        \
    ((ngx_http_mim_shm_node_t *) &(rbnode)->color)


ngx_shm_zone_t *
ngx_http_mim_shm_zone_add(ngx_conf_t *cf, ngx_str_t *name, size_t size,
    void *tag)
{
    ngx_shm_zone_t          *zone;
    ngx_http_mim_shm_ctx_t  *ctx;

    zone = ngx_shared_memory_add(cf, name, size, tag);
    if (zone == NULL) {
        return NULL;
    }

    if (zone->data != NULL) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "zone \"%V\" is already defined", name);
        return NULL;
    }

    ctx = ngx_pcalloc(cf->pool, sizeof(ngx_http_mim_shm_ctx_t));
    if (ctx == NULL) {
        return NULL;
    }

    zone->init = ngx_http_mim_shm_init_zone;
    zone->data = ctx;

    return zone;
}


uint32_t
ngx_http_mim_shm_generation(ngx_shm_zone_t *zone)
{
    ngx_http_mim_shm_ctx_t  *ctx = zone->data;

    return ctx->generation;
}


ngx_int_t
ngx_http_mim_shm_get(ngx_shm_zone_t *zone, ngx_http_mim_shm_key_t *key,
    time_t now, ngx_pool_t *pool, ngx_str_t *value)
{
    uint32_t                  hash;
    ngx_int_t                 rc;
    ngx_http_mim_shm_ctx_t   *ctx = zone->data;
    ngx_http_mim_shm_node_t  *node;

    hash = ngx_http_mim_shm_hash(key);

    ngx_shmtx_lock(&ctx->shpool->mutex);

    ngx_http_mim_shm_expire(ctx, now, 1);

    node = ngx_http_mim_shm_lookup(ctx, key, hash);

    if (node == NULL) {
        rc = NGX_DECLINED;

    } else if (node->expires <= now) {
        ngx_http_mim_shm_delete(ctx, node);
        rc = NGX_DECLINED;

    } else {
        if (!node->pinned) {
            ngx_queue_remove(&node->queue);
            ngx_queue_insert_head(&ctx->sh->lru, &node->queue);
        }

        value->len = node->value_len;
        value->data = ngx_pnalloc(pool, node->value_len + 1);

        if (value->data == NULL) {
            rc = NGX_ERROR;

        } else {
            ngx_memcpy(value->data, node->data + node->id_len,
                       node->value_len);
            value->data[value->len] = '\0';
            rc = NGX_OK;
        }
    }

    ngx_shmtx_unlock(&ctx->shpool->mutex);

    return rc;
}


ngx_int_t
ngx_http_mim_shm_set(ngx_shm_zone_t *zone, ngx_http_mim_shm_key_t *key,
    time_t now, time_t expires, ngx_str_t *value)
{
    uint32_t                  hash;
    ngx_http_mim_shm_ctx_t   *ctx = zone->data;
    ngx_http_mim_shm_node_t  *node;

    if (key->id.len > NGX_HTTP_MIM_SHM_ID_MAX
        || value->len > NGX_HTTP_MIM_SHM_VALUE_MAX
        || expires <= now)
    {
        return NGX_DECLINED;
    }

    hash = ngx_http_mim_shm_hash(key);

    ngx_shmtx_lock(&ctx->shpool->mutex);

    ngx_http_mim_shm_expire(ctx, now, 2);

    node = ngx_http_mim_shm_lookup(ctx, key, hash);

    if (node != NULL) {
        if (node->pinned) {
            ngx_shmtx_unlock(&ctx->shpool->mutex);
            return NGX_DECLINED;
        }

        ngx_http_mim_shm_delete(ctx, node);
    }

    node = ngx_http_mim_shm_insert(ctx, key, hash, now, expires, 0, value);

    ngx_shmtx_unlock(&ctx->shpool->mutex);

    return node ? NGX_OK : NGX_DECLINED;
}


ngx_int_t
ngx_http_mim_shm_add_pinned(ngx_shm_zone_t *zone,
    ngx_http_mim_shm_key_t *key, time_t now, time_t expires)
{
    uint32_t                  hash;
    ngx_str_t                 empty = ngx_null_string;
    ngx_http_mim_shm_ctx_t   *ctx = zone->data;
    ngx_http_mim_shm_node_t  *node;

    if (key->id.len > NGX_HTTP_MIM_SHM_ID_MAX) {
        return NGX_BUSY;
    }

    hash = ngx_http_mim_shm_hash(key);

    ngx_shmtx_lock(&ctx->shpool->mutex);

    ngx_http_mim_shm_expire(ctx, now, 2);

    node = ngx_http_mim_shm_lookup(ctx, key, hash);

    if (node != NULL) {
        if (node->expires > now) {
            ngx_shmtx_unlock(&ctx->shpool->mutex);
            return NGX_DECLINED;
        }

        ngx_http_mim_shm_delete(ctx, node);
    }

    node = ngx_http_mim_shm_insert(ctx, key, hash, now, expires, 1, &empty);

    ngx_shmtx_unlock(&ctx->shpool->mutex);

    return node ? NGX_OK : NGX_BUSY;
}


ngx_int_t
ngx_http_mim_shm_incr(ngx_shm_zone_t *zone, ngx_http_mim_shm_key_t *key,
    time_t now, time_t expires, int64_t delta, int64_t *value)
{
    int64_t                   n;
    uint32_t                  hash;
    ngx_str_t                 bytes;
    ngx_http_mim_shm_ctx_t   *ctx = zone->data;
    ngx_http_mim_shm_node_t  *node;

    if (key->id.len > NGX_HTTP_MIM_SHM_ID_MAX) {
        return NGX_BUSY;
    }

    hash = ngx_http_mim_shm_hash(key);

    ngx_shmtx_lock(&ctx->shpool->mutex);

    ngx_http_mim_shm_expire(ctx, now, 2);

    node = ngx_http_mim_shm_lookup(ctx, key, hash);

    if (node != NULL
        && (node->expires <= now || !node->pinned
            || node->value_len != sizeof(int64_t)))
    {
        /* not a live counter: start again */
        ngx_http_mim_shm_delete(ctx, node);
        node = NULL;
    }

    if (node != NULL) {
        /* the value follows the id: not aligned */
        ngx_memcpy(&n, node->data + node->id_len, sizeof(int64_t));
        n += delta;
        n = (n < 0) ? 0 : n;
        ngx_memcpy(node->data + node->id_len, &n, sizeof(int64_t));

        if (expires > node->expires) {
            node->expires = expires;
        }

    } else {
        n = (delta < 0) ? 0 : delta;
        bytes.data = (u_char *) &n;
        bytes.len = sizeof(int64_t);

        node = ngx_http_mim_shm_insert(ctx, key, hash, now, expires, 1,
                                       &bytes);
    }

    ngx_shmtx_unlock(&ctx->shpool->mutex);

    if (node == NULL) {
        return NGX_BUSY;
    }

    *value = n;

    return NGX_OK;
}


ngx_int_t
ngx_http_mim_shm_decr(ngx_shm_zone_t *zone, ngx_http_mim_shm_key_t *key,
    time_t now, time_t expires, int64_t *value)
{
    return ngx_http_mim_shm_incr(zone, key, now, expires, -1, value);
}


/* ---- inside the lock ------------------------------------------------- */

static ngx_http_mim_shm_node_t *
ngx_http_mim_shm_insert(ngx_http_mim_shm_ctx_t *ctx,
    ngx_http_mim_shm_key_t *key, uint32_t hash, time_t now, time_t expires,
    ngx_flag_t pinned, ngx_str_t *value)
{
    size_t                    size;
    ngx_rbtree_node_t        *rbnode;
    ngx_http_mim_shm_node_t  *node;

    size = offsetof(ngx_rbtree_node_t, color)
           + offsetof(ngx_http_mim_shm_node_t, data)
           + key->id.len + value->len;

    node = ngx_http_mim_shm_alloc(ctx, size, now);
    if (node == NULL) {
        return NULL;
    }

    node->kind = (u_char) key->kind;
    node->pinned = (u_char) pinned;
    node->id_len = (u_char) key->id.len;
    node->generation = key->generation;
    node->scope = key->scope;
    node->value_len = (uint32_t) value->len;
    node->expires = expires;

    ngx_memcpy(node->data, key->id.data, key->id.len);

    if (value->len) {
        ngx_memcpy(node->data + key->id.len, value->data, value->len);
    }

    rbnode = ngx_http_mim_shm_rbnode(node);
    rbnode->key = hash;

    ngx_rbtree_insert(&ctx->sh->rbtree, rbnode);

    ngx_queue_insert_head(pinned ? &ctx->sh->pinned : &ctx->sh->lru,
                          &node->queue);

    return node;
}


static ngx_http_mim_shm_node_t *
ngx_http_mim_shm_alloc(ngx_http_mim_shm_ctx_t *ctx, size_t size, time_t now)
{
    ngx_queue_t        *q;
    ngx_rbtree_node_t  *rbnode;

    for ( ;; ) {
        rbnode = ngx_slab_alloc_locked(ctx->shpool, size);
        if (rbnode != NULL) {
            return ngx_http_mim_shm_node(rbnode);
        }

        /* make room: the least recently used cached entry goes first */

        if (!ngx_queue_empty(&ctx->sh->lru)) {
            q = ngx_queue_last(&ctx->sh->lru);
            ngx_http_mim_shm_delete(ctx,
                ngx_queue_data(q, ngx_http_mim_shm_node_t, queue));
            continue;
        }

        if (ngx_http_mim_shm_sweep_pinned(ctx, now) == 0) {
            return NULL;
        }
    }
}


/* drop up to n expired entries from the tail of each queue */
static void
ngx_http_mim_shm_expire(ngx_http_mim_shm_ctx_t *ctx, time_t now,
    ngx_uint_t n)
{
    ngx_uint_t                i;
    ngx_queue_t              *queues[2], *q;
    ngx_http_mim_shm_node_t  *node;

    queues[0] = &ctx->sh->lru;
    queues[1] = &ctx->sh->pinned;

    for (i = 0; i < 2; i++) {
        while (n && !ngx_queue_empty(queues[i])) {
            q = ngx_queue_last(queues[i]);
            node = ngx_queue_data(q, ngx_http_mim_shm_node_t, queue);

            if (node->expires > now) {
                break;
            }

            ngx_http_mim_shm_delete(ctx, node);
            n--;
        }
    }
}


/* every expired pinned entry (they are in insertion order, not expiry) */
static ngx_uint_t
ngx_http_mim_shm_sweep_pinned(ngx_http_mim_shm_ctx_t *ctx, time_t now)
{
    ngx_uint_t                freed = 0;
    ngx_queue_t              *q, *prev;
    ngx_http_mim_shm_node_t  *node;

    q = ngx_queue_last(&ctx->sh->pinned);

    while (q != ngx_queue_sentinel(&ctx->sh->pinned)) {
        prev = ngx_queue_prev(q);
        node = ngx_queue_data(q, ngx_http_mim_shm_node_t, queue);

        if (node->expires <= now) {
            ngx_http_mim_shm_delete(ctx, node);
            freed++;
        }

        q = prev;
    }

    return freed;
}


static void
ngx_http_mim_shm_delete(ngx_http_mim_shm_ctx_t *ctx,
    ngx_http_mim_shm_node_t *node)
{
    ngx_rbtree_node_t  *rbnode = ngx_http_mim_shm_rbnode(node);

    ngx_queue_remove(&node->queue);
    ngx_rbtree_delete(&ctx->sh->rbtree, rbnode);
    ngx_slab_free_locked(ctx->shpool, rbnode);
}


static ngx_http_mim_shm_node_t *
ngx_http_mim_shm_lookup(ngx_http_mim_shm_ctx_t *ctx,
    ngx_http_mim_shm_key_t *key, uint32_t hash)
{
    ngx_int_t                 rc;
    ngx_rbtree_node_t        *rbnode, *sentinel;
    ngx_http_mim_shm_node_t  *node;

    rbnode = ctx->sh->rbtree.root;
    sentinel = ctx->sh->rbtree.sentinel;

    while (rbnode != sentinel) {

        if (hash < rbnode->key) {
            rbnode = rbnode->left;
            continue;
        }

        if (hash > rbnode->key) {
            rbnode = rbnode->right;
            continue;
        }

        /* hash == rbnode->key */

        node = ngx_http_mim_shm_node(rbnode);

        rc = (ngx_int_t) key->kind - node->kind;

        if (rc == 0) {
            rc = (key->generation > node->generation)
                 - (key->generation < node->generation);
        }

        if (rc == 0) {
            rc = (key->scope > node->scope) - (key->scope < node->scope);
        }

        if (rc == 0) {
            rc = ngx_memn2cmp(key->id.data, node->data, key->id.len,
                              node->id_len);
        }

        if (rc == 0) {
            return node;
        }

        rbnode = (rc < 0) ? rbnode->left : rbnode->right;
    }

    return NULL;
}


/* the same order as the lookup: hash, kind, generation, scope, id */
static ngx_int_t
ngx_http_mim_shm_compare(ngx_http_mim_shm_node_t *a,
    ngx_http_mim_shm_node_t *b)
{
    ngx_int_t  rc;

    rc = (ngx_int_t) a->kind - b->kind;

    if (rc == 0) {
        rc = (a->generation > b->generation) - (a->generation < b->generation);
    }

    if (rc == 0) {
        rc = (a->scope > b->scope) - (a->scope < b->scope);
    }

    if (rc == 0) {
        rc = ngx_memn2cmp(a->data, b->data, a->id_len, b->id_len);
    }

    return rc;
}


static void
ngx_http_mim_shm_rbtree_insert(ngx_rbtree_node_t *temp,
    ngx_rbtree_node_t *node, ngx_rbtree_node_t *sentinel)
{
    ngx_rbtree_node_t  **p;

    for ( ;; ) {

        if (node->key < temp->key) {
            p = &temp->left;

        } else if (node->key > temp->key) {
            p = &temp->right;

        } else { /* node->key == temp->key */
            p = (ngx_http_mim_shm_compare(ngx_http_mim_shm_node(node),
                                          ngx_http_mim_shm_node(temp)) < 0)
                ? &temp->left : &temp->right;
        }

        if (*p == sentinel) {
            break;
        }

        temp = *p;
    }

    *p = node;
    node->parent = temp;
    node->left = sentinel;
    node->right = sentinel;
    ngx_rbt_red(node);
}


static uint32_t
ngx_http_mim_shm_hash(ngx_http_mim_shm_key_t *key)
{
    uint32_t  crc;
    u_char    head[9];

    head[0] = (u_char) key->kind;
    ngx_memcpy(&head[1], &key->generation, 4);
    ngx_memcpy(&head[5], &key->scope, 4);

    ngx_crc32_init(crc);
    ngx_crc32_update(&crc, head, sizeof(head));
    ngx_crc32_update(&crc, key->id.data, key->id.len);
    ngx_crc32_final(crc);

    return crc;
}


static ngx_int_t
ngx_http_mim_shm_init_zone(ngx_shm_zone_t *shm_zone, void *data)
{
    ngx_http_mim_shm_ctx_t  *octx = data;

    size_t                   len;
    ngx_http_mim_shm_ctx_t  *ctx;

    ctx = shm_zone->data;

    if (octx) {
        /* a reload: keep the entries, start a new generation */
        ctx->sh = octx->sh;
        ctx->shpool = octx->shpool;

        ngx_shmtx_lock(&ctx->shpool->mutex);
        if (++ctx->sh->generation == 0) {
            ctx->sh->generation = 1;
        }
        ctx->generation = ctx->sh->generation;
        ngx_shmtx_unlock(&ctx->shpool->mutex);

        return NGX_OK;
    }

    ctx->shpool = (ngx_slab_pool_t *) shm_zone->shm.addr;

    if (shm_zone->shm.exists) {
        ctx->sh = ctx->shpool->data;
        ctx->generation = ctx->sh->generation;
        return NGX_OK;
    }

    ctx->sh = ngx_slab_alloc(ctx->shpool, sizeof(ngx_http_mim_shm_sh_t));
    if (ctx->sh == NULL) {
        return NGX_ERROR;
    }

    ctx->shpool->data = ctx->sh;

    ngx_rbtree_init(&ctx->sh->rbtree, &ctx->sh->sentinel,
                    ngx_http_mim_shm_rbtree_insert);
    ngx_queue_init(&ctx->sh->lru);
    ngx_queue_init(&ctx->sh->pinned);

    ctx->sh->generation = 1;
    ctx->generation = 1;

    len = sizeof(" in mim zone \"\"") + shm_zone->shm.name.len;

    ctx->shpool->log_ctx = ngx_slab_alloc(ctx->shpool, len);
    if (ctx->shpool->log_ctx == NULL) {
        return NGX_ERROR;
    }

    ngx_sprintf(ctx->shpool->log_ctx, " in mim zone \"%V\"%Z",
                &shm_zone->shm.name);

    /* a full zone is handled (eviction, or a refusal): no [crit] lines */
    ctx->shpool->log_nomem = 0;

    return NGX_OK;
}
