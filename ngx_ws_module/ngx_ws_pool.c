
/*
 * Copyright (C) ngx_ws_module authors
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include "ngx_ws_module.h"


/* pools kept by a worker for the next messages, at most */
#define NGX_WS_MAX_FREE_POOLS     64
#define NGX_WS_MAX_FREE_CONTROL   16

/*
 * the pools of requests without a client kept: at most as many as were in
 * flight at once, up to the first; however long unused, the second
 */
#define NGX_WS_MAX_FREE_REQUEST_POOLS  256
#define NGX_WS_MIN_FREE_REQUEST_POOLS  16

/* how long kept request pools beyond the minimum may go unused, ms */
#define NGX_WS_REQUEST_POOLS_TRIM      10000


static ngx_inline ngx_pool_t *ngx_ws_pool_take(ngx_pool_t **list,
    ngx_uint_t *n, size_t size, ngx_log_t *log);
static ngx_inline void ngx_ws_pool_reset(ngx_pool_t *pool);
static void ngx_ws_pool_trim_handler(ngx_event_t *ev);


static ngx_pool_t  *ngx_ws_free_pools[NGX_WS_MAX_FREE_POOLS];
static ngx_uint_t   ngx_ws_nfree_pools;
static ngx_pool_t  *ngx_ws_free_control[NGX_WS_MAX_FREE_CONTROL];
static ngx_uint_t   ngx_ws_nfree_control;

static ngx_pool_t  *ngx_ws_free_request_pools[NGX_WS_MAX_FREE_REQUEST_POOLS];
static ngx_uint_t   ngx_ws_nfree_request_pools;
static ngx_uint_t   ngx_ws_nfree_request_pools_low;   /* since the last trim */
static ngx_event_t  ngx_ws_request_pools_trim;


/*
 * The pools of small messages (NGX_WS_MSG_POOL_SIZE: what the parser
 * creates for a message of up to 512 bytes, what a route creates for a
 * key) are reused: a pool that is done with goes to a small per-worker
 * list instead of back to malloc(), reset, and the next message takes it
 * from there.  Only a pool of that size with one block and no cleanup is
 * kept, so a kept pool is what ngx_create_pool() would return but for its
 * log (ngx_ws_pool_get() sets it), and the list is bounded: the worker
 * holds at most NGX_WS_MAX_FREE_POOLS of them, whatever the number of
 * connections, and an idle connection none.
 * ngx_ws_pool_free() replaces ngx_destroy_pool() where a pool is done
 * with, so nothing points into a pool that is kept.  The smaller pools of
 * the frames the server makes up (NGX_WS_CONTROL_POOL_SIZE: a Pong, a
 * Ping, a Close, an upstream's error message) have a shorter list of their
 * own, and a frame holds the memory it held when each had a new pool, as
 * ws_send_buffer counts it.
 */

ngx_pool_t *
ngx_ws_pool_get(ngx_log_t *log)
{
    return ngx_ws_pool_take(ngx_ws_free_pools, &ngx_ws_nfree_pools,
                            NGX_WS_MSG_POOL_SIZE, log);
}


ngx_pool_t *
ngx_ws_control_pool_get(ngx_log_t *log)
{
    return ngx_ws_pool_take(ngx_ws_free_control, &ngx_ws_nfree_control,
                            NGX_WS_CONTROL_POOL_SIZE, log);
}


/* a kept pool of a list, or a new one of its size when the list is empty */

static ngx_inline ngx_pool_t *
ngx_ws_pool_take(ngx_pool_t **list, ngx_uint_t *n, size_t size,
    ngx_log_t *log)
{
    ngx_pool_t  *pool;

    if (*n == 0) {
        return ngx_create_pool(size, log);
    }

    pool = list[--*n];
    pool->log = log;

    return pool;
}


/*
 * The pool of a payload of len bytes (ngx_ws_pool_size()): a kept one
 * when it is of their size, as it is for any payload of up to 768 bytes.
 * It goes with ngx_ws_pool_free() as well.
 */

ngx_pool_t *
ngx_ws_pool_for(size_t len, ngx_log_t *log)
{
    size_t  size;

    size = ngx_ws_pool_size(len);

    if (size == NGX_WS_MSG_POOL_SIZE) {
        return ngx_ws_pool_get(log);
    }

    return ngx_create_pool(size, log);
}


void
ngx_ws_pool_free(ngx_pool_t *pool)
{
    size_t  size;

    size = (size_t) (pool->d.end - (u_char *) pool);

    if (pool->d.next != NULL || pool->cleanup != NULL || ngx_exiting) {
        ngx_destroy_pool(pool);
        return;
    }

    if (size == NGX_WS_MSG_POOL_SIZE
        && ngx_ws_nfree_pools < NGX_WS_MAX_FREE_POOLS)
    {
        ngx_ws_pool_reset(pool);
        ngx_ws_free_pools[ngx_ws_nfree_pools++] = pool;
        return;
    }

    if (size == NGX_WS_CONTROL_POOL_SIZE
        && ngx_ws_nfree_control < NGX_WS_MAX_FREE_CONTROL)
    {
        ngx_ws_pool_reset(pool);
        ngx_ws_free_control[ngx_ws_nfree_control++] = pool;
        return;
    }

    ngx_destroy_pool(pool);
}


/* a pool of one block, kept: as ngx_create_pool() would return it */

static ngx_inline void
ngx_ws_pool_reset(ngx_pool_t *pool)
{
    if (pool->large == NULL) {
        /* what ngx_reset_pool() does to a pool of one block */
        pool->d.last = (u_char *) pool + sizeof(ngx_pool_t);
        pool->d.failed = 0;
        pool->current = pool;
        pool->chain = NULL;

    } else {
        ngx_reset_pool(pool);
    }

    /*
     * pool->log, the log of the connection that had it, is left as it is
     * for nothing logs with it until ngx_ws_pool_get() sets the next one
     * or ngx_ws_pool_free_all() the cycle's
     */
}


/*
 * The pool of a request without a client (ngx_ws_request.c), some pages
 * of one block for the request, its subrequest and the upstream's
 * buffers, is kept too, by as many as the worker has had in flight at
 * once: a pool done with (ngx_ws_pool_free_request()) has its cleanups run
 * as ngx_destroy_pool() would run them, and when it is still of one block,
 * is reset and kept; the next request of its size takes it.  Freeing the
 * pools of a hundred events in flight to malloc() only to ask for them
 * again made the heap's top shrink and grow (brk()) and fault its pages
 * in again, about once per event.  What a peak left behind does not stay:
 * a timer frees, every NGX_WS_REQUEST_POOLS_TRIM ms, the kept pools beyond
 * NGX_WS_MIN_FREE_REQUEST_POOLS that no request took meanwhile (the fewest
 * the list had since the timer ran before).
 */

ngx_pool_t *
ngx_ws_pool_get_request(size_t size, ngx_log_t *log)
{
    ngx_uint_t   i;
    ngx_pool_t  *pool;

    for (i = 0; i < ngx_ws_nfree_request_pools; i++) {
        pool = ngx_ws_free_request_pools[i];

        if ((size_t) (pool->d.end - (u_char *) pool) == size) {
            ngx_ws_free_request_pools[i] =
                       ngx_ws_free_request_pools[--ngx_ws_nfree_request_pools];

            if (ngx_ws_nfree_request_pools < ngx_ws_nfree_request_pools_low) {
                ngx_ws_nfree_request_pools_low = ngx_ws_nfree_request_pools;
            }

            pool->log = log;
            return pool;
        }
    }

    return ngx_create_pool(size, log);
}


void
ngx_ws_pool_free_request(ngx_pool_t *pool)
{
    ngx_event_t         *ev;
    ngx_pool_cleanup_t  *c;

    for (c = pool->cleanup; c; c = c->next) {
        if (c->handler) {
            c->handler(c->data);
        }
    }

    pool->cleanup = NULL;

    if (ngx_ws_nfree_request_pools == NGX_WS_MAX_FREE_REQUEST_POOLS
        || pool->d.next != NULL
        || ngx_exiting)
    {
        ngx_destroy_pool(pool);
        return;
    }

    ngx_reset_pool(pool);

    pool->log = ngx_cycle->log;

    ngx_ws_free_request_pools[ngx_ws_nfree_request_pools++] = pool;

    ev = &ngx_ws_request_pools_trim;

    if (ngx_ws_nfree_request_pools > NGX_WS_MIN_FREE_REQUEST_POOLS
        && !ev->timer_set)
    {
        ev->handler = ngx_ws_pool_trim_handler;
        ev->log = ngx_cycle->log;
        ev->data = ev;
        ev->cancelable = 1;

        ngx_ws_nfree_request_pools_low = ngx_ws_nfree_request_pools;
        ngx_add_timer(ev, NGX_WS_REQUEST_POOLS_TRIM);
    }
}


/* the kept request pools that went unused since the last run go */

static void
ngx_ws_pool_trim_handler(ngx_event_t *ev)
{
    ngx_uint_t   n, low;
    ngx_pool_t  *pool;

    /* the cycle's log of now: a reload in one process frees the old one */

    ev->log = ngx_cycle->log;

    low = ngx_ws_nfree_request_pools_low;

    n = low > NGX_WS_MIN_FREE_REQUEST_POOLS
        ? low - NGX_WS_MIN_FREE_REQUEST_POOLS : 0;

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, ev->log, 0,
                   "ws request pools: %ui kept, %ui unused go",
                   ngx_ws_nfree_request_pools, n);

    while (n--) {
        pool = ngx_ws_free_request_pools[--ngx_ws_nfree_request_pools];
        pool->log = ev->log;
        ngx_destroy_pool(pool);
    }

    ngx_ws_nfree_request_pools_low = ngx_ws_nfree_request_pools;

    if (ngx_ws_nfree_request_pools > NGX_WS_MIN_FREE_REQUEST_POOLS
        && !ngx_exiting)
    {
        ngx_add_timer(ev, NGX_WS_REQUEST_POOLS_TRIM);
    }
}


/* the worker exits: the pools kept go */

void
ngx_ws_pool_free_all(void)
{
    ngx_pool_t  *pool;

    while (ngx_ws_nfree_pools) {
        pool = ngx_ws_free_pools[--ngx_ws_nfree_pools];
        pool->log = ngx_cycle->log;
        ngx_destroy_pool(pool);
    }

    while (ngx_ws_nfree_control) {
        pool = ngx_ws_free_control[--ngx_ws_nfree_control];
        pool->log = ngx_cycle->log;
        ngx_destroy_pool(pool);
    }

    while (ngx_ws_nfree_request_pools) {
        pool = ngx_ws_free_request_pools[--ngx_ws_nfree_request_pools];
        pool->log = ngx_cycle->log;
        ngx_destroy_pool(pool);
    }

    if (ngx_ws_request_pools_trim.timer_set) {
        ngx_del_timer(&ngx_ws_request_pools_trim);
    }
}
