
/*
 * Copyright (C) ngx_ws_module authors
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include "ngx_ws_module.h"


/*
 * Per-connection rate limits (ws_limit_messages, ws_limit_bytes).  Each is
 * a leaky bucket kept in thousandths of a unit: a message adds 1000 when it
 * is complete, payload bytes 1000 each as they are read; time drains
 * rate * ms / 1000, and "excess" is what the bucket holds.  A message, or
 * bytes, that find more than the burst in their bucket are over the limit:
 * with ws_limit_action close the connection is closed with 1008; with delay
 * (the default) they are let through but reading stops, with what was read
 * and not parsed kept, until the bucket has drained back to the burst, so
 * that TCP pushes back on the client.
 */


static void ngx_ws_limit_update(ngx_ws_conn_t *ws);
static ngx_int_t ngx_ws_limit_close(ngx_ws_conn_t *ws, const char *what);
static ngx_int_t ngx_ws_limit_delay(ngx_ws_conn_t *ws);
static uint64_t ngx_ws_limit_drain(uint64_t excess, ngx_ws_limit_t *limit,
    ngx_msec_t ms);
static ngx_msec_t ngx_ws_limit_wait(uint64_t excess, ngx_ws_limit_t *limit);
static ngx_event_t *ngx_ws_limit_event(ngx_ws_conn_t *ws);
static void ngx_ws_limit_handler(ngx_event_t *ev);


/*
 * ws_limit_message uses the zones of limit_req_zone: the key and the rate
 * are the zone's, and a message is charged to the same bucket as an HTTP
 * request with the same key, by the same leaky bucket.  What follows is
 * the layout that nginx's ngx_http_limit_req_module.c gives the zone (its
 * context, the shared part and the nodes of the tree); it has not changed
 * since nginx 1.7, and ngx_ws_limit_init_module() checks that a zone's
 * context points where the zone's memory is before any worker starts.
 */

typedef struct {
    u_char                      color;
    u_char                      dummy;
    u_short                     len;
    ngx_queue_t                 queue;
    ngx_msec_t                  last;             /* ngx_timeofday() */
    ngx_uint_t                  excess;           /* x 1000 */
    ngx_uint_t                  count;            /* requests pending */
    u_char                      data[1];
} ngx_ws_lr_node_t;


typedef struct {
    ngx_rbtree_t                rbtree;
    ngx_rbtree_node_t           sentinel;
    ngx_queue_t                 queue;            /* the newest first */
} ngx_ws_lr_sh_t;


typedef struct {
    ngx_ws_lr_sh_t             *sh;
    ngx_slab_pool_t            *shpool;
    ngx_uint_t                  rate;             /* per second, x 1000 */
    ngx_http_complex_value_t    key;
    void                       *node;
} ngx_ws_lr_ctx_t;


static ngx_int_t ngx_ws_limit_charge(ngx_ws_limit_zone_t *lz,
    ngx_str_t *key);
static void ngx_ws_limit_expire(ngx_ws_lr_ctx_t *ctx, ngx_uint_t force);
static ngx_int_t ngx_ws_limit_pause(ngx_ws_conn_t *ws, ngx_msec_t delay);


extern ngx_module_t  ngx_http_limit_req_module;


/*
 * ws_limit_messages rate=Nr/s|Nr/m [burst=N] | off;
 * ws_limit_bytes rate=SIZE/s [burst=SIZE] | off;
 */

char *
ngx_ws_limit_conf(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    char  *p = conf;

    ssize_t           size;
    ngx_int_t         n, scale;
    ngx_str_t        *value, s;
    ngx_uint_t        i, bytes;
    ngx_ws_limit_t  **lp, *limit;

    lp = (ngx_ws_limit_t **) (p + cmd->offset);

    if (*lp != NGX_CONF_UNSET_PTR) {
        return "is duplicate";
    }

    value = cf->args->elts;

    if (cf->args->nelts == 2 && ngx_strcmp(value[1].data, "off") == 0) {
        *lp = NULL;
        return NGX_CONF_OK;
    }

    bytes = (cmd->offset == offsetof(ngx_ws_loc_conf_t, limit_bytes));

    limit = ngx_pcalloc(cf->pool, sizeof(ngx_ws_limit_t));
    if (limit == NULL) {
        return NGX_CONF_ERROR;
    }

    for (i = 1; i < cf->args->nelts; i++) {

        if (ngx_strncmp(value[i].data, "rate=", 5) == 0) {

            s.data = value[i].data + 5;
            s.len = value[i].len - 5;

            if (bytes) {
                if (s.len < 3
                    || ngx_strncmp(s.data + s.len - 2, "/s", 2) != 0)
                {
                    goto invalid;
                }

                s.len -= 2;

                size = ngx_parse_size(&s);
                if (size <= 0) {
                    goto invalid;
                }

                limit->rate = (uint64_t) size * 1000;
                continue;
            }

            if (s.len < 4) {
                goto invalid;
            }

            if (ngx_strncmp(s.data + s.len - 3, "r/s", 3) == 0) {
                scale = 1;

            } else if (ngx_strncmp(s.data + s.len - 3, "r/m", 3) == 0) {
                scale = 60;

            } else {
                goto invalid;
            }

            n = ngx_atoi(s.data, s.len - 3);
            if (n <= 0) {
                goto invalid;
            }

            limit->rate = (uint64_t) n * 1000 / scale;
            continue;
        }

        if (ngx_strncmp(value[i].data, "burst=", 6) == 0) {

            s.data = value[i].data + 6;
            s.len = value[i].len - 6;

            if (bytes) {
                size = ngx_parse_size(&s);
                if (size == NGX_ERROR) {
                    goto invalid;
                }

                limit->burst = (uint64_t) size * 1000;
                continue;
            }

            n = ngx_atoi(s.data, s.len);
            if (n == NGX_ERROR) {
                goto invalid;
            }

            limit->burst = (uint64_t) n * 1000;
            continue;
        }

        goto invalid;
    }

    if (limit->rate == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"%V\" must have \"rate\" parameter",
                           &cmd->name);
        return NGX_CONF_ERROR;
    }

    *lp = limit;

    return NGX_CONF_OK;

invalid:

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "invalid parameter \"%V\"", &value[i]);

    return NGX_CONF_ERROR;
}


/*
 * Charges a data message (when it is complete) or a Ping or Pong to
 * ws_limit_messages.  Returns the verdict, and the read loop acts on it:
 * NGX_OK, go on (NGX_WS_HOLD_LIMIT in ws->hold says whether reading is to
 * stop after this frame), or the close code to fail the connection with
 * (1008, with ws_limit_action close).
 */

ngx_int_t
ngx_ws_limit(ngx_ws_conn_t *ws)
{
    ngx_ws_limit_t  *lm;

    lm = ws->conf->limit_messages;

    if (lm == NULL || ws->close_sent) {
        return NGX_OK;
    }

    ngx_ws_limit_update(ws);

    if (ws->conf->limit_action == NGX_WS_LIMIT_CLOSE
        && ws->limit.excess > lm->burst)
    {
        return ngx_ws_limit_close(ws, "ws_limit_messages");
    }

    ws->limit.excess += 1000;

    return ngx_ws_limit_delay(ws);
}


/*
 * Charges payload bytes of a data frame, Ping or Pong to ws_limit_bytes as
 * they are read (for a compressed message, as they are on the wire), so
 * that no message, however long it goes on, escapes the limit.  Returns as
 * ngx_ws_limit().
 */

ngx_int_t
ngx_ws_limit_bytes(ngx_ws_conn_t *ws, size_t size)
{
    ngx_ws_limit_t  *lb;

    lb = ws->conf->limit_bytes;

    if (lb == NULL || ws->close_sent) {
        return NGX_OK;
    }

    ngx_ws_limit_update(ws);

    if (ws->conf->limit_action == NGX_WS_LIMIT_CLOSE
        && ws->limit.bexcess > lb->burst)
    {
        return ngx_ws_limit_close(ws, "ws_limit_bytes");
    }

    ws->limit.bexcess += (uint64_t) size * 1000;

    return ngx_ws_limit_delay(ws);
}


/* drains both buckets up to now */

static void
ngx_ws_limit_update(ngx_ws_conn_t *ws)
{
    ngx_msec_t       ms;
    ngx_ws_limit_t  *lm, *lb;

    lm = ws->conf->limit_messages;
    lb = ws->conf->limit_bytes;

    ms = ngx_current_msec - ws->limit.last;
    ws->limit.last = ngx_current_msec;

    ws->limit.excess = lm ? ngx_ws_limit_drain(ws->limit.excess, lm, ms) : 0;
    ws->limit.bexcess = lb ? ngx_ws_limit_drain(ws->limit.bexcess, lb, ms)
                           : 0;

    if (ws->limit.excess == 0 && ws->limit.bexcess == 0) {
        /* the client has calmed down: a new flood gets a new log line */
        ws->limit.logged = 0;
    }
}


static ngx_int_t
ngx_ws_limit_close(ngx_ws_conn_t *ws, const char *what)
{
    ngx_ws_security_closed(ws, NGX_WS_CLOSE_POLICY, 0,
                           "connection %V exceeded %s", &ws->id, what);

    return NGX_WS_CLOSE_POLICY;
}


/* delay: stop reading until the next frame would be within the burst */

static ngx_int_t
ngx_ws_limit_delay(ngx_ws_conn_t *ws)
{
    ngx_msec_t         delay, d;
    const char        *what;
    ngx_event_t       *ev;
    ngx_ws_limit_t    *lm, *lb;
    ngx_connection_t  *c;

    if (ws->conf->limit_action == NGX_WS_LIMIT_CLOSE) {
        return NGX_OK;
    }

    c = ws->connection;
    lm = ws->conf->limit_messages;
    lb = ws->conf->limit_bytes;

    delay = 0;
    what = NULL;

    if (lm && ws->limit.excess > lm->burst) {
        delay = ngx_ws_limit_wait(ws->limit.excess - lm->burst, lm);
        what = "ws_limit_messages";
    }

    if (lb && ws->limit.bexcess > lb->burst) {
        d = ngx_ws_limit_wait(ws->limit.bexcess - lb->burst, lb);

        if (d > delay) {
            delay = d;
            what = "ws_limit_bytes";
        }
    }

    if (delay == 0) {
        return NGX_OK;
    }

    if (!ws->limit.logged) {
        ws->limit.logged = 1;

        ngx_log_error(NGX_LOG_WARN, c->log, 0,
                      "connection %V exceeded %s, delaying reading",
                      &ws->id, what);
    }

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, c->log, 0,
                   "ws reading paused for %s: %Mms", what, delay);

    ev = ngx_ws_limit_event(ws);
    if (ev == NULL) {
        return NGX_WS_CLOSE_INTERNAL;
    }

    ws->hold |= NGX_WS_HOLD_LIMIT;

    ngx_add_timer(ev, delay);

    return NGX_OK;
}


/*
 * The timer that resumes reading, made on the first delay: most
 * connections are never delayed, and an idle one is the smaller for it
 */

static ngx_event_t *
ngx_ws_limit_event(ngx_ws_conn_t *ws)
{
    ngx_event_t  *ev;

    if (ws->limit.ev) {
        return ws->limit.ev;
    }

    ev = ngx_pcalloc(ws->pool, sizeof(ngx_event_t));
    if (ev == NULL) {
        return NULL;
    }

    ev->handler = ngx_ws_limit_handler;
    ev->data = ws;
    ev->log = ws->connection->log;
    ev->cancelable = 1;

    ws->limit.ev = ev;

    return ev;
}


/* what is left in a bucket after ms milliseconds */

static uint64_t
ngx_ws_limit_drain(uint64_t excess, ngx_ws_limit_t *limit, ngx_msec_t ms)
{
    /* the first test keeps rate * ms from overflowing */

    if (excess == 0 || (uint64_t) ms >= excess * 1000 / limit->rate + 1) {
        return 0;
    }

    return excess - limit->rate * ms / 1000;
}


/* how long, rounded up, a bucket takes to drain excess */

static ngx_msec_t
ngx_ws_limit_wait(uint64_t excess, ngx_ws_limit_t *limit)
{
    return (ngx_msec_t) ((excess * 1000 + limit->rate - 1) / limit->rate);
}


static void
ngx_ws_limit_handler(ngx_event_t *ev)
{
    ngx_ws_conn_t  *ws;

    ws = ev->data;

    ngx_log_debug0(NGX_LOG_DEBUG_HTTP, ev->log, 0, "ws reading resumed");

    ws->hold &= ~NGX_WS_HOLD_LIMIT;

    /* the client's silence is measured from when we read again */
    ws->timer.last_recv = ngx_current_msec;

    /* the read handler parses what was kept, then reads */
    ngx_post_event(ws->connection->read, &ngx_posted_events);
}


/* the close handshake has begun: the client's Close must be read */

void
ngx_ws_limit_lift(ngx_ws_conn_t *ws)
{
    if (ws->limit.ev && ws->limit.ev->timer_set) {
        ngx_del_timer(ws->limit.ev);
    }

    if (ws->hold & NGX_WS_HOLD_LIMIT) {
        ws->hold &= ~NGX_WS_HOLD_LIMIT;
        ngx_post_event(ws->connection->read, &ngx_posted_events);
    }
}


/*
 * ws_limit_message zone=NAME [burst=N] [delay | close];
 * ws_limit_message off;
 *
 * NAME is a limit_req_zone; it may be declared before or after.
 */

char *
ngx_ws_limit_zone_conf(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_ws_loc_conf_t  *wlcf = conf;

    ngx_int_t             n;
    ngx_str_t            *value, name, s;
    ngx_uint_t            i;
    ngx_shm_zone_t       *shm_zone;
    ngx_ws_main_conf_t   *wmcf;
    ngx_ws_limit_zone_t  *lz;

    value = cf->args->elts;

    if (cf->args->nelts == 2 && ngx_strcmp(value[1].data, "off") == 0) {
        if (wlcf->limit_zones != NGX_CONF_UNSET_PTR) {
            return "is duplicate";
        }

        wlcf->limit_zones = NULL;
        return NGX_CONF_OK;
    }

    if (wlcf->limit_zones == NULL) {
        return "is mixed with \"off\"";
    }

    if (wlcf->limit_zones == NGX_CONF_UNSET_PTR) {
        wlcf->limit_zones = ngx_array_create(cf->pool, 2,
                                             sizeof(ngx_ws_limit_zone_t));
        if (wlcf->limit_zones == NULL) {
            return NGX_CONF_ERROR;
        }
    }

    ngx_str_null(&name);

    lz = ngx_array_push(wlcf->limit_zones);
    if (lz == NULL) {
        return NGX_CONF_ERROR;
    }

    ngx_memzero(lz, sizeof(ngx_ws_limit_zone_t));

    for (i = 1; i < cf->args->nelts; i++) {

        if (ngx_strncmp(value[i].data, "zone=", 5) == 0) {
            name.data = value[i].data + 5;
            name.len = value[i].len - 5;

            if (name.len == 0) {
                goto invalid;
            }

            continue;
        }

        if (ngx_strncmp(value[i].data, "burst=", 6) == 0) {
            s.data = value[i].data + 6;
            s.len = value[i].len - 6;

            n = ngx_atoi(s.data, s.len);
            if (n == NGX_ERROR) {
                goto invalid;
            }

            lz->burst = (ngx_uint_t) n * 1000;
            continue;
        }

        if (ngx_strcmp(value[i].data, "delay") == 0) {
            lz->close = 0;
            continue;
        }

        if (ngx_strcmp(value[i].data, "close") == 0) {
            lz->close = 1;
            continue;
        }

        goto invalid;
    }

    if (name.len == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"%V\" must have \"zone\" parameter",
                           &cmd->name);
        return NGX_CONF_ERROR;
    }

    /* the limit_req_zone of that name, as limit_req finds it */

    shm_zone = ngx_shared_memory_add(cf, &name, 0,
                                     &ngx_http_limit_req_module);
    if (shm_zone == NULL) {
        return NGX_CONF_ERROR;
    }

    lz->shm_zone = shm_zone;

    for (i = 0; i + 1 < wlcf->limit_zones->nelts; i++) {
        if (((ngx_ws_limit_zone_t *) wlcf->limit_zones->elts)[i].shm_zone
            == shm_zone)
        {
            return "is duplicate";
        }
    }

    wmcf = ngx_http_conf_get_module_main_conf(cf, ngx_ws_module);
    wmcf->limit_zones++;

    return NGX_CONF_OK;

invalid:

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "invalid parameter \"%V\"", &value[i]);

    return NGX_CONF_ERROR;
}


/*
 * In the master, after the zones are made and before a worker starts:
 * every limit_req zone has the layout above, or nginx does not start (a
 * limit_req_zone that was never declared has failed already, with "zero
 * size shared memory zone").
 */

ngx_int_t
ngx_ws_limit_init_module(ngx_cycle_t *cycle)
{
    ngx_uint_t           i;
    ngx_list_part_t     *part;
    ngx_shm_zone_t      *shm_zone;
    ngx_ws_lr_ctx_t     *ctx;
    ngx_ws_main_conf_t  *wmcf;

    wmcf = ngx_http_cycle_get_module_main_conf(cycle, ngx_ws_module);

    if (wmcf == NULL || wmcf->limit_zones == 0) {
        return NGX_OK;
    }

    part = &cycle->shared_memory.part;
    shm_zone = part->elts;

    for (i = 0; /* void */ ; i++) {

        if (i >= part->nelts) {
            if (part->next == NULL) {
                break;
            }

            part = part->next;
            shm_zone = part->elts;
            i = 0;
        }

        if (shm_zone[i].tag != &ngx_http_limit_req_module) {
            continue;
        }

        ctx = shm_zone[i].data;

        if (ctx == NULL
            || ctx->shpool != (ngx_slab_pool_t *) shm_zone[i].shm.addr
            || ctx->shpool->data != ctx->sh
            || ctx->rate == 0)
        {
            ngx_log_error(NGX_LOG_EMERG, cycle->log, 0,
                          "ws_limit_message cannot use the limit_req_zone "
                          "\"%V\" of this nginx build",
                          &shm_zone[i].shm.name);
            return NGX_ERROR;
        }
    }

    return NGX_OK;
}


/* the zone's key, for the routes to evaluate per message */

ngx_http_complex_value_t *
ngx_ws_limit_zone_key(ngx_ws_limit_zone_t *lz)
{
    ngx_ws_lr_ctx_t  *ctx;

    ctx = lz->shm_zone->data;

    return &ctx->key;
}


/*
 * Charges a data message to each ws_limit_message zone of the location,
 * under keys[i], the value of zone i's key for this message (an empty key
 * is not limited, as in limit_req).  A message that finds more than the
 * burst in a bucket is over the limit: with "close" the connection is to
 * be closed with 1008 (the verdict returned; ws->limit.closed says who
 * decided); otherwise the message goes on, and reading stops until every
 * bucket it is over is back at its burst.  Logged once per episode: until
 * a message of the connection is within every limit again.
 */

ngx_int_t
ngx_ws_limit_message(ngx_ws_conn_t *ws, ngx_str_t *keys)
{
    ngx_int_t             excess;
    ngx_uint_t            i;
    ngx_msec_t            delay, d;
    ngx_ws_lr_ctx_t      *ctx;
    ngx_ws_limit_zone_t  *lz, *over;

    lz = ws->conf->limit_zones->elts;

    delay = 0;
    over = NULL;

    for (i = 0; i < ws->conf->limit_zones->nelts; i++) {

        if (keys[i].len == 0) {
            continue;
        }

        if (keys[i].len > 65535) {
            ngx_log_error(NGX_LOG_WARN, ws->connection->log, 0,
                          "the key of zone \"%V\" is longer than 65535 "
                          "bytes, not limited", &lz[i].shm_zone->shm.name);
            continue;
        }

        excess = ngx_ws_limit_charge(&lz[i], &keys[i]);

        if (excess == NGX_ERROR || (ngx_uint_t) excess <= lz[i].burst) {
            continue;
        }

        if (lz[i].close) {
            ngx_ws_stats->limited++;
            ws->limit.closed = 1;

            ngx_ws_security_closed(ws, NGX_WS_CLOSE_POLICY, 0,
                                   "connection %V exceeded ws_limit_message "
                                   "zone \"%V\"", &ws->id,
                                   &lz[i].shm_zone->shm.name);

            return NGX_WS_CLOSE_POLICY;
        }

        ctx = lz[i].shm_zone->data;

        /* until the bucket is back at the burst, rounded up */

        d = (ngx_msec_t) (((ngx_uint_t) excess - lz[i].burst) * 1000
                          + ctx->rate - 1) / ctx->rate;

        if (over == NULL || d > delay) {
            delay = d;
            over = &lz[i];
        }
    }

    if (over == NULL) {
        /* within every limit: a new flood gets a new log line */
        ws->limit.zlogged = 0;
        return NGX_OK;
    }

    ngx_ws_stats->limited++;

    if (!ws->limit.zlogged) {
        ws->limit.zlogged = 1;

        ngx_log_error(NGX_LOG_WARN, ws->connection->log, 0,
                      "connection %V exceeded ws_limit_message zone \"%V\", "
                      "delaying reading", &ws->id, &over->shm_zone->shm.name);
    }

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, ws->connection->log, 0,
                   "ws reading paused for zone \"%V\": %Mms",
                   &over->shm_zone->shm.name, delay);

    return ngx_ws_limit_pause(ws, delay);
}


/*
 * The bucket of key in the zone, found or made under the zone's lock, as
 * limit_req keeps it: "excess" is what the bucket holds beyond the one
 * message that always passes, drained at the zone's rate since "last".
 * Returns the excess with this message; it is stored unless the message
 * is to be refused (over the burst with "close"), as limit_req does not
 * store a request it rejects.  NGX_ERROR: the zone is full even after
 * the oldest bucket was taken (limit_req logs that at alert too).
 */

static ngx_int_t
ngx_ws_limit_charge(ngx_ws_limit_zone_t *lz, ngx_str_t *key)
{
    size_t              size;
    uint32_t            hash;
    ngx_int_t           rc, excess;
    ngx_time_t         *tp;
    ngx_msec_t          now;
    ngx_msec_int_t      ms;
    ngx_ws_lr_ctx_t    *ctx;
    ngx_ws_lr_node_t   *lr;
    ngx_rbtree_node_t  *node, *sentinel;

    ctx = lz->shm_zone->data;

    hash = ngx_crc32_short(key->data, key->len);

    /* the clock of limit_req: the same in every worker */

    tp = ngx_timeofday();
    now = (ngx_msec_t) (tp->sec * 1000 + tp->msec);

    ngx_shmtx_lock(&ctx->shpool->mutex);

    node = ctx->sh->rbtree.root;
    sentinel = ctx->sh->rbtree.sentinel;

    while (node != sentinel) {

        if (hash != node->key) {
            node = (hash < node->key) ? node->left : node->right;
            continue;
        }

        lr = (ngx_ws_lr_node_t *) &node->color;

        rc = ngx_memn2cmp(key->data, lr->data, key->len, (size_t) lr->len);

        if (rc != 0) {
            node = (rc < 0) ? node->left : node->right;
            continue;
        }

        /* the newest at the head: expiry takes from the tail */

        ngx_queue_remove(&lr->queue);
        ngx_queue_insert_head(&ctx->sh->queue, &lr->queue);

        /*
         * the workers' clocks are read at different times: a bucket last
         * touched by a worker a little ahead is not drained for a negative
         * time, nor set back to it (a drain counted twice); a clock that
         * went back by more than a minute counts as a moment
         */

        ms = (ngx_msec_int_t) (now - lr->last);

        if (ms < -60000) {
            ms = 1;

        } else if (ms < 0) {
            ms = 0;
        }

        excess = (ngx_int_t) lr->excess
                 - (ngx_int_t) (ctx->rate * ms / 1000) + 1000;

        if (excess < 0) {
            excess = 0;
        }

        if (!lz->close || (ngx_uint_t) excess <= lz->burst) {
            lr->excess = excess;

            if (ms) {
                lr->last = now;
            }
        }

        ngx_shmtx_unlock(&ctx->shpool->mutex);

        return excess;
    }

    /* a new bucket: this message is the one that always passes */

    size = offsetof(ngx_rbtree_node_t, color)
           + offsetof(ngx_ws_lr_node_t, data) + key->len;

    ngx_ws_limit_expire(ctx, 0);

    node = ngx_slab_alloc_locked(ctx->shpool, size);

    if (node == NULL) {
        ngx_ws_limit_expire(ctx, 1);

        node = ngx_slab_alloc_locked(ctx->shpool, size);

        if (node == NULL) {
            ngx_shmtx_unlock(&ctx->shpool->mutex);

            ngx_log_error(NGX_LOG_ALERT, ngx_cycle->log, 0,
                          "could not allocate node%s", ctx->shpool->log_ctx);
            return NGX_ERROR;
        }
    }

    node->key = hash;

    lr = (ngx_ws_lr_node_t *) &node->color;

    lr->len = (u_short) key->len;
    lr->excess = 0;
    lr->last = now;
    lr->count = 0;

    ngx_memcpy(lr->data, key->data, key->len);

    /* the tree's insert function is limit_req's: the same order */

    ngx_rbtree_insert(&ctx->sh->rbtree, node);

    ngx_queue_insert_head(&ctx->sh->queue, &lr->queue);

    ngx_shmtx_unlock(&ctx->shpool->mutex);

    return 0;
}


/*
 * Frees the oldest buckets, under the lock: one or two that are empty and
 * unused for a minute, and with force the oldest whatever it holds first
 * (a bucket with requests pending in limit_req stops the search).
 */

static void
ngx_ws_limit_expire(ngx_ws_lr_ctx_t *ctx, ngx_uint_t force)
{
    ngx_int_t           excess;
    ngx_uint_t          n;
    ngx_time_t         *tp;
    ngx_msec_t          now;
    ngx_queue_t        *q;
    ngx_msec_int_t      ms;
    ngx_ws_lr_node_t   *lr;
    ngx_rbtree_node_t  *node;

    tp = ngx_timeofday();
    now = (ngx_msec_t) (tp->sec * 1000 + tp->msec);

    for (n = force ? 0 : 1; n < 3; n++) {

        if (ngx_queue_empty(&ctx->sh->queue)) {
            return;
        }

        q = ngx_queue_last(&ctx->sh->queue);
        lr = ngx_queue_data(q, ngx_ws_lr_node_t, queue);

        if (lr->count) {
            return;
        }

        if (n != 0) {
            ms = (ngx_msec_int_t) (now - lr->last);
            ms = ngx_abs(ms);

            if (ms < 60000) {
                return;
            }

            excess = (ngx_int_t) lr->excess
                     - (ngx_int_t) (ctx->rate * ms / 1000);

            if (excess > 0) {
                return;
            }
        }

        ngx_queue_remove(q);

        node = (ngx_rbtree_node_t *)
                   ((u_char *) lr - offsetof(ngx_rbtree_node_t, color));

        ngx_rbtree_delete(&ctx->sh->rbtree, node);

        ngx_slab_free_locked(ctx->shpool, node);
    }
}


/* stops reading for delay, or longer if a limit already said so */

static ngx_int_t
ngx_ws_limit_pause(ngx_ws_conn_t *ws, ngx_msec_t delay)
{
    ngx_event_t  *ev;

    ev = ngx_ws_limit_event(ws);
    if (ev == NULL) {
        return NGX_WS_CLOSE_INTERNAL;
    }

    if (ev->timer_set) {
        if ((ngx_msec_int_t) (ev->timer.key - (ngx_current_msec + delay))
            >= 0)
        {
            return NGX_OK;
        }

        ngx_del_timer(ev);
    }

    ws->hold |= NGX_WS_HOLD_LIMIT;

    ngx_add_timer(ev, delay);

    return NGX_OK;
}
