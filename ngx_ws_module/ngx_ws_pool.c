
/*
 * Copyright (C) ngx_ws_module authors
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include "ngx_ws_module.h"


/* message pools kept by a worker for the next messages, at most */
#define NGX_WS_MAX_FREE_POOLS     64


/* the pools of requests without a client kept, at most */
#define NGX_WS_MAX_FREE_REQUEST_POOLS  16


static ngx_pool_t  *ngx_ws_free_pools[NGX_WS_MAX_FREE_POOLS];
static ngx_uint_t   ngx_ws_nfree_pools;

static ngx_pool_t  *ngx_ws_free_request_pools[NGX_WS_MAX_FREE_REQUEST_POOLS];
static ngx_uint_t   ngx_ws_nfree_request_pools;


/*
 * The pools of small messages (NGX_WS_MSG_POOL_SIZE: what the parser
 * creates for a message of up to 512 bytes, what a route creates for a
 * key) are reused: a pool that is done with goes to a small per-worker
 * list instead of back to malloc(), reset, and the next message takes it
 * from there.  Only a pool of that size with one block and no cleanup is
 * kept, so a kept pool is exactly what ngx_create_pool() would return, and
 * the list is bounded: the worker holds at most NGX_WS_MAX_FREE_POOLS of
 * them, whatever the number of connections, and an idle connection none.
 * ngx_ws_pool_free() replaces ngx_destroy_pool() where a pool is done
 * with, so nothing points into a pool that is kept.
 */

ngx_pool_t *
ngx_ws_pool_get(ngx_log_t *log)
{
    ngx_pool_t  *pool;

    if (ngx_ws_nfree_pools == 0) {
        return ngx_create_pool(NGX_WS_MSG_POOL_SIZE, log);
    }

    pool = ngx_ws_free_pools[--ngx_ws_nfree_pools];
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
    if (ngx_ws_nfree_pools == NGX_WS_MAX_FREE_POOLS
        || pool->d.next != NULL
        || pool->cleanup != NULL
        || (size_t) (pool->d.end - (u_char *) pool) != NGX_WS_MSG_POOL_SIZE
        || ngx_exiting)
    {
        ngx_destroy_pool(pool);
        return;
    }

    if (pool->large == NULL) {
        /* what ngx_reset_pool() does to a pool of one block */
        pool->d.last = (u_char *) pool + sizeof(ngx_pool_t);
        pool->d.failed = 0;
        pool->current = pool;
        pool->chain = NULL;

    } else {
        ngx_reset_pool(pool);
    }

    /* the connection's log goes with the connection */
    pool->log = ngx_cycle->log;

    ngx_ws_free_pools[ngx_ws_nfree_pools++] = pool;
}


/*
 * The pool of a request without a client (ngx_ws_request.c), some pages
 * of one block for the request, its subrequest and the upstream's
 * buffers, is kept too, by the few the worker has in flight at once: a
 * pool done with (ngx_ws_pool_free_request()) has its cleanups run as
 * ngx_destroy_pool() would run them, and when it is still of one block,
 * is reset and kept; the next request of its size takes it.
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
            pool->log = log;
            return pool;
        }
    }

    return ngx_create_pool(size, log);
}


void
ngx_ws_pool_free_request(ngx_pool_t *pool)
{
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
}


/* the worker exits: the pools kept go */

void
ngx_ws_pool_free_all(void)
{
    while (ngx_ws_nfree_pools) {
        ngx_destroy_pool(ngx_ws_free_pools[--ngx_ws_nfree_pools]);
    }

    while (ngx_ws_nfree_request_pools) {
        ngx_destroy_pool(
                ngx_ws_free_request_pools[--ngx_ws_nfree_request_pools]);
    }
}
