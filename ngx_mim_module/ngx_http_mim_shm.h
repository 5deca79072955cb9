/*
 * ngx_http_mim_shm.h - a shared-memory zone of short-lived entries, shared
 * by the workers: an rbtree keyed by (kind, generation, scope, id) whose
 * values are opaque bytes with an expiry time (the model is nginx's
 * limit_req zone: ngx_slab under the pool's mutex, an LRU queue).
 *
 * Two sorts of entries:
 *   - cached (ngx_http_mim_shm_set): evictable, least recently used first
 *     when memory runs short; losing one costs a recomputation.
 *   - pinned (ngx_http_mim_shm_add_pinned): a fact that must not be
 *     forgotten before it expires (a used jti).  A zone too full to take
 *     one refuses it (NGX_BUSY), and the caller fails closed.
 *
 * The generation counts the configurations loaded while the zone lived:
 * an entry computed under one configuration (which keys, which trust
 * lists) is not trusted under the next; put the generation in the key of
 * such entries, and 0 in the key of those that must survive a reload.
 */
#ifndef NGX_HTTP_MIM_SHM_H_INCLUDED_
#define NGX_HTTP_MIM_SHM_H_INCLUDED_

#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>


#define NGX_HTTP_MIM_SHM_ID_MAX     64      /* bytes of a key's id */
#define NGX_HTTP_MIM_SHM_VALUE_MAX  16384   /* bytes of a value */


typedef struct {
    ngx_uint_t     kind;        /* what the entry is: one value per use */
    uint32_t       generation;  /* ngx_http_mim_shm_generation(), or 0 */
    uint32_t       scope;       /* e.g. which server's configuration */
    ngx_str_t      id;          /* up to NGX_HTTP_MIM_SHM_ID_MAX bytes */
} ngx_http_mim_shm_key_t;


/* `NAME SIZE` of a directive: the zone, created once per name */
ngx_shm_zone_t *ngx_http_mim_shm_zone_add(ngx_conf_t *cf, ngx_str_t *name,
    size_t size, void *tag);

/* this configuration's generation (1, 2, ...) */
uint32_t ngx_http_mim_shm_generation(ngx_shm_zone_t *zone);

/*
 * The value of key, copied into pool: NGX_OK, NGX_DECLINED when absent or
 * expired at now, NGX_ERROR when pool is out of memory.
 */
ngx_int_t ngx_http_mim_shm_get(ngx_shm_zone_t *zone,
    ngx_http_mim_shm_key_t *key, time_t now, ngx_pool_t *pool,
    ngx_str_t *value);

/*
 * Cache value under key until expires (replacing an older value), making
 * room by evicting the least recently used cached entries: NGX_OK, or
 * NGX_DECLINED when it cannot be kept (too large, no room).
 */
ngx_int_t ngx_http_mim_shm_set(ngx_shm_zone_t *zone,
    ngx_http_mim_shm_key_t *key, time_t now, time_t expires,
    ngx_str_t *value);

/*
 * Record key until expires unless it is already there: NGX_OK when added,
 * NGX_DECLINED when present and not expired, NGX_BUSY when the zone has no
 * room even after evicting every cached entry.
 */
ngx_int_t ngx_http_mim_shm_add_pinned(ngx_shm_zone_t *zone,
    ngx_http_mim_shm_key_t *key, time_t now, time_t expires);


/*
 * Pinned counters (the data plane's use counters without Redis): add
 * delta to the counter of key, created at 0 when absent or expired and
 * kept until expires, never below 0; *value is the new value.  The
 * read-modify-write is done under the zone's mutex, so concurrent workers
 * each get their own value.  NGX_OK, or NGX_BUSY when the zone has no
 * room for a new counter even after evicting every cached entry.
 */
ngx_int_t ngx_http_mim_shm_incr(ngx_shm_zone_t *zone,
    ngx_http_mim_shm_key_t *key, time_t now, time_t expires, int64_t delta,
    int64_t *value);

/* give one back: ngx_http_mim_shm_incr() with delta -1 */
ngx_int_t ngx_http_mim_shm_decr(ngx_shm_zone_t *zone,
    ngx_http_mim_shm_key_t *key, time_t now, time_t expires,
    int64_t *value);


#endif /* NGX_HTTP_MIM_SHM_H_INCLUDED_ */
