
/*
 * Copyright (C) ngx_ws_module authors
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include "ngx_ws_module.h"
#include "ngx_ws_zone.h"


/*
 * The disconnect events of a dead worker's connections.  When a worker is
 * found dead, the zone takes its slot back and moves the records of its
 * connections whose location has ws_on_disconnect to the zone's queue of
 * the dead (ngx_ws_zone_forget_slot()).  Every worker looks at that queue
 * a few times a second and takes records one at a time under the lock, so
 * each event is sent once, by one worker, whoever found the death; a
 * worker has at most NGX_WS_ORPHANS_MAX events in flight, so a worker that
 * held thousands of connections does not become thousands of requests at
 * once.  The record is freed when it is taken: what the event needs is
 * copied into a pool of its own first.
 *
 * The location is known by its index in the configuration's table of
 * ws_push locations, valid in the workers of the same configuration
 * (generation); a record of an older configuration cannot be sent.
 */


#define NGX_WS_ORPHANS_INTERVAL    200
#define NGX_WS_ORPHANS_MAX         8


/* what an event needs of a record, copied out of the zone */

typedef struct {
    ngx_pid_t                   pid;
    ngx_uint_t                  generation;
    ngx_uint_t                  location;
    ngx_uint_t                  listening;
    socklen_t                   socklen;
    ngx_sockaddr_t              sockaddr;
    ngx_str_t                   f[NGX_WS_REC_FIELDS];
} ngx_ws_orphan_t;


static void ngx_ws_orphans_handler(ngx_event_t *ev);
static ngx_int_t ngx_ws_orphan_take(ngx_ws_zone_t *zone);
static ngx_ws_orphan_t *ngx_ws_orphan_copy(ngx_ws_conn_rec_t *rec,
    ngx_pool_t *pool);
static ngx_int_t ngx_ws_orphan_send(ngx_ws_zone_t *zone, ngx_ws_orphan_t *o,
    ngx_pool_t *pool);
static void ngx_ws_orphan_done(void *data);


static ngx_event_t  ngx_ws_orphans_event;
static ngx_uint_t   ngx_ws_orphans_active;
static void        *ngx_ws_orphans_ident[4];


ngx_int_t
ngx_ws_orphans_init_process(ngx_cycle_t *cycle)
{
    ngx_ws_main_conf_t  *wmcf;

    wmcf = ngx_http_cycle_get_module_main_conf(cycle, ngx_ws_module);

    if (wmcf == NULL || wmcf->zones.nelts == 0) {
        return NGX_OK;
    }

    ngx_ws_orphans_ident[3] = (void *) -1;

    ngx_ws_orphans_event.handler = ngx_ws_orphans_handler;
    ngx_ws_orphans_event.data = ngx_ws_orphans_ident;
    ngx_ws_orphans_event.log = cycle->log;
    ngx_ws_orphans_event.cancelable = 1;

    ngx_add_timer(&ngx_ws_orphans_event, NGX_WS_ORPHANS_INTERVAL);

    return NGX_OK;
}


static void
ngx_ws_orphans_handler(ngx_event_t *ev)
{
    ngx_uint_t           i;
    ngx_ws_zone_t      **zones, *zone;
    ngx_ws_main_conf_t  *wmcf;

    wmcf = ngx_http_cycle_get_module_main_conf(ngx_cycle, ngx_ws_module);
    zones = wmcf->zones.elts;

    for (i = 0; i < wmcf->zones.nelts; i++) {
        zone = zones[i];

        if (zone->sh == NULL || zone->slot == -1) {
            continue;
        }

        /* a look without the lock first: nothing to do most of the time */

        while (zone->sh->ndead
               && ngx_ws_orphans_active < NGX_WS_ORPHANS_MAX
               && !ngx_exiting && !ngx_terminate && !ngx_quit)
        {
            if (ngx_ws_orphan_take(zone) != NGX_OK) {
                break;
            }
        }
    }

    if (!ngx_exiting && !ngx_terminate && !ngx_quit && !ev->timer_set) {
        ngx_add_timer(ev, NGX_WS_ORPHANS_INTERVAL);
    }
}


/* one record off the queue: NGX_DONE when there was none */

static ngx_int_t
ngx_ws_orphan_take(ngx_ws_zone_t *zone)
{
    ngx_int_t           rc;
    ngx_pool_t         *pool;
    ngx_queue_t        *q;
    ngx_ws_orphan_t    *o;
    ngx_ws_conn_rec_t  *rec;

    pool = ngx_create_pool(2048, ngx_cycle->log);
    if (pool == NULL) {
        return NGX_ERROR;
    }

    ngx_shmtx_lock(&zone->shpool->mutex);

    if (ngx_queue_empty(&zone->sh->dead)) {
        ngx_shmtx_unlock(&zone->shpool->mutex);
        ngx_destroy_pool(pool);
        return NGX_DONE;
    }

    q = ngx_queue_head(&zone->sh->dead);
    ngx_queue_remove(q);
    zone->sh->ndead--;

    rec = ngx_queue_data(q, ngx_ws_conn_rec_t, dead);

    /* only a copy is made with the zone locked: the event is built after */

    o = ngx_ws_orphan_copy(rec, pool);

    if (rec->channels) {
        ngx_slab_free_locked(zone->shpool, rec->channels);
    }

    ngx_slab_free_locked(zone->shpool, rec);

    ngx_shmtx_unlock(&zone->shpool->mutex);

    if (o == NULL) {
        ngx_log_error(NGX_LOG_ALERT, ngx_cycle->log, 0,
                      "ws_zone \"%V\": could not copy the record of a dead "
                      "worker's connection, its disconnect event is lost",
                      &zone->name);
        ngx_destroy_pool(pool);
        return NGX_ERROR;
    }

    rc = ngx_ws_orphan_send(zone, o, pool);

    if (rc == NGX_DECLINED) {
        ngx_destroy_pool(pool);
        return NGX_OK;
    }

    if (rc != NGX_OK) {
        ngx_log_error(NGX_LOG_ALERT, ngx_cycle->log, 0,
                      "ws could not send the disconnect event of %V, "
                      "whose worker died", &o->f[NGX_WS_REC_ID]);
        ngx_destroy_pool(pool);
        return NGX_ERROR;
    }

    ngx_ws_orphans_active++;

    return NGX_OK;
}


/* with the zone locked: the record is freed next */

static ngx_ws_orphan_t *
ngx_ws_orphan_copy(ngx_ws_conn_rec_t *rec, ngx_pool_t *pool)
{
    u_char           *p;
    ngx_uint_t        i;
    ngx_ws_orphan_t  *o;

    o = ngx_palloc(pool, sizeof(ngx_ws_orphan_t));
    if (o == NULL) {
        return NULL;
    }

    o->pid = rec->pid;
    o->generation = rec->generation;
    o->location = rec->location;
    o->listening = rec->listening;
    o->socklen = rec->socklen;
    ngx_memcpy(&o->sockaddr, &rec->sockaddr, sizeof(ngx_sockaddr_t));

    for (i = 0; i < NGX_WS_REC_FIELDS; i++) {
        (void) ngx_ws_registry_field(rec, i, &o->f[i]);

        p = ngx_pnalloc(pool, o->f[i].len + 1);
        if (p == NULL) {
            return NULL;
        }

        if (o->f[i].len) {
            ngx_memcpy(p, o->f[i].data, o->f[i].len);
        }

        p[o->f[i].len] = '\0';
        o->f[i].data = p;
    }

    return o;
}


/*
 * The event is made from the copy and queued; it is issued from a posted
 * event.  NGX_DECLINED when it cannot be sent (logged).
 */

static ngx_int_t
ngx_ws_orphan_send(ngx_ws_zone_t *zone, ngx_ws_orphan_t *o, ngx_pool_t *pool)
{
    u_char                *p, *last;
    size_t                 n;
    ngx_str_t             *f, *id;
    ngx_listening_t       *ls;
    ngx_table_elt_t       *h;
    ngx_ws_loc_conf_t     *wlcf;
    ngx_pool_cleanup_t    *cln;
    ngx_ws_main_conf_t    *wmcf;
    ngx_http_conf_ctx_t   *ctx;
    ngx_ws_fake_origin_t   origin;

    f = o->f;
    id = &f[NGX_WS_REC_ID];

    wmcf = ngx_http_cycle_get_module_main_conf(ngx_cycle, ngx_ws_module);

    if (o->generation != ngx_ws_status_generation()
        || wmcf->push_locations == NULL
        || o->location >= wmcf->push_locations->nelts)
    {
        ngx_log_error(NGX_LOG_WARN, ngx_cycle->log, 0,
                      "ws_zone \"%V\": the disconnect event of %V (worker "
                      "%P died) cannot be sent: the configuration it was "
                      "made with has been reloaded since", &zone->name, id,
                      o->pid);
        return NGX_DECLINED;
    }

    ctx = wmcf->push_locations->elts;
    ctx = &ctx[o->location];

    wlcf = ctx->loc_conf[ngx_ws_module.ctx_index];

    if (wlcf->on_disconnect.len == 0) {
        return NGX_DECLINED;
    }

    ls = NULL;

    if (o->listening < ngx_cycle->listening.nelts) {
        ls = ngx_cycle->listening.elts;
        ls = &ls[o->listening];
    }

    if (ls == NULL) {
        ngx_log_error(NGX_LOG_WARN, ngx_cycle->log, 0,
                      "ws_zone \"%V\": the disconnect event of %V (worker "
                      "%P died) cannot be sent: its listening socket is "
                      "not known", &zone->name, id, o->pid);
        return NGX_DECLINED;
    }

    if (ngx_ws_fake_origin_conf(&origin, ctx, ls,
                                (struct sockaddr *) &o->sockaddr,
                                o->socklen, &f[NGX_WS_REC_ADDR],
                                &f[NGX_WS_REC_SERVER], pool)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    /* the identity headers, "name\0value\0" */

    p = f[NGX_WS_REC_HEADERS].data;
    last = p + f[NGX_WS_REC_HEADERS].len;

    while (p < last) {
        h = ngx_array_push(&origin.headers);
        if (h == NULL) {
            return NGX_ERROR;
        }

        n = ngx_strlen(p);

        h->key.data = p;
        h->key.len = n;
        h->lowcase_key = ngx_pnalloc(pool, n);
        if (h->lowcase_key == NULL) {
            return NGX_ERROR;
        }

        h->hash = ngx_hash_strlow(h->lowcase_key, p, n);

        p += n + 1;
        n = ngx_strlen(p);

        h->value.data = p;
        h->value.len = n;

        p += n + 1;
    }

    cln = ngx_pool_cleanup_add(pool, 0);
    if (cln == NULL) {
        return NGX_ERROR;
    }

    if (ngx_ws_session_orphan(wlcf, pool, &origin, id, &f[NGX_WS_REC_URI],
                              &f[NGX_WS_REC_SUBPROTOCOL], "worker-died")
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    /* from now on the session frees the pool */

    cln->handler = ngx_ws_orphan_done;
    cln->data = NULL;

    ngx_log_error(NGX_LOG_INFO, ngx_cycle->log, 0,
                  "ws_zone \"%V\": sending the disconnect event of %V, "
                  "whose worker %P died", &zone->name, id, o->pid);

    return NGX_OK;
}


/* an event is done (its session's pool is freed): the next may go */

static void
ngx_ws_orphan_done(void *data)
{
    ngx_ws_orphans_active--;

    if (ngx_exiting || ngx_terminate || ngx_quit) {
        return;
    }

    if (!ngx_ws_orphans_event.posted) {
        ngx_post_event(&ngx_ws_orphans_event, &ngx_posted_events);
    }
}
