
/*
 * Copyright (C) ngx_ws_module authors
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include "ngx_ws_module.h"
#include "ngx_ws_zone.h"


/*
 * The per-worker side of channels.  A worker keeps one spool per channel it
 * has subscribers of, with the id it has delivered up to.  When it learns
 * of new messages it copies each one out of the zone once, frames it once
 * (once more for subscribers that want the JSON envelope), and queues that
 * same frame on every subscriber; each connection then writes it on its
 * own write event, so a slow one holds nobody back.
 */



/* a Close message of a push channel without a code: a revocation */
#define NGX_WS_PUSH_REVOKE         1


typedef struct {
    ngx_ws_shared_t            *raw;
    ngx_ws_shared_t            *env;

    /* compressed once for the subscribers with the same deflate key */
    ngx_ws_shared_t            *zraw;
    ngx_ws_shared_t            *zenv;
    ngx_uint_t                  zkey;

    /* formatted once for the subscribers of each other transport */
    ngx_ws_shared_t            *http[NGX_WS_TRANSPORTS];
    uint64_t                    id;
} ngx_ws_frames_t;


/*
 * A WebSocket subscriber waiting for its snapshot (ws_snapshot): the
 * frames of the channel are held here, referenced, up to ws_send_buffer;
 * beyond that they are let go (overflow) and the history is replayed
 * instead once the snapshot has come.
 */

typedef struct {
    ngx_ws_shared_t            *sh;
    uint64_t                    id;
} ngx_ws_held_t;

typedef struct {
    ngx_ws_sub_t              **owner;            /* the snapshot's */
    ngx_ws_held_t              *held;
    ngx_uint_t                  nheld;
    ngx_uint_t                  nalloc;
    size_t                      mem;
    uint64_t                    start;            /* delivered here then */
    uint64_t                    chan_last;        /* the channel's then */
    int64_t                     last_id;          /* the client's, or -1 */
    ngx_uint_t                  overflow;
    ngx_uint_t                  waiting;          /* for the Redis sync */
} ngx_ws_hold_t;


ngx_ws_snapshot_start_pt  ngx_ws_snapshot_start;


static ngx_int_t ngx_ws_subscribe_one(ngx_ws_conn_t *ws, ngx_ws_zone_t *zone,
    ngx_str_t *name, ngx_uint_t push, int64_t last_id);
static ngx_int_t ngx_ws_replay(ngx_ws_conn_t *ws, ngx_ws_zone_t *zone,
    ngx_ws_spool_t *spool, ngx_str_t *name, ngx_uint_t push, int64_t last_id,
    uint64_t upto);
static void ngx_ws_channel_resume(ngx_ws_spool_t *spool);
static ngx_ws_sh_msg_t *ngx_ws_replay_skip(ngx_ws_channel_node_t *cn,
    ngx_ws_sh_msg_t *from, uint64_t upto, size_t room, ngx_uint_t *skipped);
static size_t ngx_ws_frame_mem(size_t len);
static void ngx_ws_unsubscribe_one(ngx_ws_sub_t *sub);
static ngx_ws_zone_t *ngx_ws_channel_zone(ngx_ws_conn_t *ws);
static ngx_int_t ngx_ws_subscribe_name(ngx_ws_conn_t *ws, ngx_uint_t i,
    ngx_str_t *name);
static ngx_ws_shared_t *ngx_ws_frame_msg(ngx_ws_sh_msg_t *m,
    ngx_str_t *channel, uint64_t uid, ngx_uint_t envelope, ngx_log_t *log);
static ngx_ws_shared_t *ngx_ws_history_lost_t(ngx_str_t *name,
    int64_t last_id, uint64_t first, ngx_ws_transport_t *t, ngx_log_t *log);
static ngx_int_t ngx_ws_http_replay(ngx_ws_sub_t *sub, ngx_str_t *name,
    int64_t last_id, uint64_t upto, ngx_log_t *log);
static ngx_ws_shared_t *ngx_ws_history_lost(ngx_str_t *name, int64_t last_id,
    uint64_t first, ngx_log_t *log);
static void ngx_ws_queue_frame(ngx_ws_conn_t *ws, ngx_ws_shared_t *sh);
static ngx_int_t ngx_ws_make_room(ngx_ws_conn_t *ws, ngx_ws_shared_t *sh,
    size_t room);
static void ngx_ws_slow_close(ngx_ws_conn_t *ws, ngx_ws_shared_t *sh);
static ngx_int_t ngx_ws_resume_reason(ngx_ws_conn_t *ws, ngx_ws_shared_t *sh,
    u_char *buf, size_t size);
static ngx_uint_t ngx_ws_frames_build(ngx_ws_spool_t *spool,
    ngx_ws_channel_node_t *cn, ngx_ws_frames_t *frames, ngx_uint_t raw,
    ngx_uint_t env, ngx_ws_transport_t **want, ngx_uint_t *close,
    u_char *reason);
static void ngx_ws_frames_done(ngx_ws_frames_t *frames, ngx_uint_t n);
static void ngx_ws_lost_done(ngx_ws_shared_t **hlost);
static void ngx_ws_push_control(ngx_ws_spool_t *spool, ngx_uint_t close,
    u_char *reason);
static void ngx_ws_frames_wanted(ngx_ws_spool_t *spool, ngx_uint_t *raw,
    ngx_uint_t *env, ngx_ws_transport_t **want);
static ngx_ws_shared_t *ngx_ws_frame_for(ngx_ws_conn_t *ws,
    ngx_ws_frames_t *f, ngx_ws_shared_t **tmp);
static void ngx_ws_queue_one(ngx_ws_conn_t *ws, ngx_ws_shared_t *sh);
static void ngx_ws_shared_done(ngx_ws_shared_t *sh);
static void ngx_ws_spool_gone(ngx_ws_spool_t *spool);
static void ngx_ws_subscriber_fail(ngx_ws_conn_t *ws);
static void ngx_ws_deliver_http(ngx_ws_sub_t *sub, ngx_ws_shared_t *lost,
    uint64_t lost_id, ngx_ws_frames_t *frames, ngx_uint_t n,
    ngx_uint_t missed);
static void ngx_ws_deliver_ws(ngx_ws_sub_t *sub, ngx_ws_shared_t *lost,
    ngx_ws_frames_t *frames, ngx_uint_t n, ngx_uint_t missed);
static int64_t ngx_ws_last_id(ngx_pool_t *pool, ngx_str_t *value,
    ngx_str_t *name);
static ngx_ws_spool_t *ngx_ws_spool_find(ngx_ws_zone_t *zone, uint64_t uid);
static ngx_ws_spool_t *ngx_ws_spool_make(ngx_ws_zone_t *zone,
    ngx_ws_channel_node_t *cn, ngx_str_t *name, ngx_uint_t push,
    ngx_ws_spool_t **fresh);
static void ngx_ws_channel_deliver(ngx_ws_spool_t *spool);
static void ngx_ws_channel_wake(ngx_ws_zone_t *zone, uint64_t uid);
static void ngx_ws_spool_deliver_handler(ngx_event_t *ev);
static ngx_uint_t ngx_ws_publisher_subscribed(ngx_ws_conn_t *ws,
    ngx_str_t *name, ngx_ws_zone_t *zone);
static ngx_int_t ngx_ws_presence_identity(ngx_ws_conn_t *ws);
static ngx_uint_t ngx_ws_subscribed(ngx_ws_conn_t *ws, ngx_ws_zone_t *zone,
    ngx_str_t *name, ngx_uint_t push);
static char *ngx_ws_presence_reason(ngx_ws_conn_t *ws);
static ngx_int_t ngx_ws_hold_start(ngx_ws_sub_t *sub, ngx_str_t *name,
    int64_t last_id, uint64_t upto, uint64_t chan_last, ngx_uint_t wait);
static void ngx_ws_hold_ask(ngx_ws_sub_t *sub, ngx_str_t *name);
static void ngx_ws_hold_frames(ngx_ws_sub_t *sub, ngx_uint_t missed,
    ngx_ws_frames_t *frames, ngx_uint_t n);
static void ngx_ws_hold_frame(ngx_ws_sub_t *sub, ngx_ws_shared_t *sh,
    uint64_t id);
static void ngx_ws_hold_free(ngx_ws_sub_t *sub);
static ngx_ws_shared_t *ngx_ws_snapshot_frame(ngx_ws_snapshot_t *snap,
    ngx_str_t *name, uint64_t id, ngx_uint_t envelope, ngx_log_t *log);


#define NGX_WS_CLOSE_TRY_AGAIN  1013


/* the channel code is woken by ngx_ws_notify.c through a handler */

ngx_ws_transport_t  *ngx_ws_transports[NGX_WS_TRANSPORTS];


ngx_int_t
ngx_ws_channel_init_conf(ngx_conf_t *cf)
{
    ngx_ws_wake_handler = ngx_ws_channel_wake;

    return NGX_OK;
}


static ngx_ws_spool_t *
ngx_ws_spool_find(ngx_ws_zone_t *zone, uint64_t uid)
{
    ngx_rbtree_node_t  *node, *sentinel;

    node = zone->spools.root;
    sentinel = zone->spools.sentinel;

    if (node == NULL) {
        return NULL;
    }

    while (node != sentinel) {

        if ((ngx_rbtree_key_t) uid < node->key) {
            node = node->left;
            continue;
        }

        if ((ngx_rbtree_key_t) uid > node->key) {
            node = node->right;
            continue;
        }

        return (ngx_ws_spool_t *) node;
    }

    return NULL;
}


/*
 * The worker's spool of a channel, made from *fresh (then set to NULL)
 * for the first subscriber here; the zone is locked.
 */

static ngx_ws_spool_t *
ngx_ws_spool_make(ngx_ws_zone_t *zone, ngx_ws_channel_node_t *cn,
    ngx_str_t *name, ngx_uint_t push, ngx_ws_spool_t **fresh)
{
    ngx_ws_spool_t  *spool;

    spool = ngx_ws_spool_find(zone, cn->uid);

    if (spool) {
        return spool;
    }

    spool = *fresh;
    *fresh = NULL;

    ngx_memzero(spool, sizeof(ngx_ws_spool_t));
    spool->node.key = (ngx_rbtree_key_t) cn->uid;
    spool->zone = zone;
    spool->uid = cn->uid;
    spool->last_id = cn->last_id;
    spool->push = push;
    spool->name.data = (u_char *) spool + sizeof(ngx_ws_spool_t);
    spool->name.len = name->len;
    ngx_memcpy(spool->name.data, name->data, name->len);
    ngx_queue_init(&spool->subs);

    spool->deliver_ev.handler = ngx_ws_spool_deliver_handler;
    spool->deliver_ev.data = spool;
    spool->deliver_ev.log = ngx_cycle->log;

    ngx_rbtree_insert(&zone->spools, &spool->node);

    cn->workers |= (uint64_t) 1 << zone->slot;

    return spool;
}


/*
 * At the upgrade: join the configured channels.  NGX_DECLINED: a name
 * made from variables is not a valid channel name (the handshake gets 400).
 */

ngx_int_t
ngx_ws_channels_init(ngx_ws_conn_t *ws)
{
    u_char                 *p;
    int64_t                 last_id;
    ngx_str_t               name, resume;
    ngx_uint_t              i;
    ngx_ws_loc_conf_t      *wlcf;
    ngx_http_request_t     *r;
    ngx_ws_channel_conf_t  *cc;

    r = ws->request;
    wlcf = ws->conf;

    /* the names ws_auth_request was shown, when it was asked */

    if (wlcf->publish) {
        if (ws->auth && ws->auth->channels) {
            ws->publish = ws->auth->publish;

        } else if (ngx_http_complex_value(r, &wlcf->publish->name,
                                          &ws->publish)
                   != NGX_OK)
        {
            return NGX_ERROR;
        }

        if (ws->publish.len
            && ngx_ws_channel_name(wlcf->publish->zone, &ws->publish,
                                   NGX_LOG_INFO, "client",
                                   ws->connection->log)
               != NGX_OK)
        {
            return NGX_DECLINED;
        }
    }

    cc = wlcf->subscribe ? wlcf->subscribe->elts : NULL;

    for (i = 0; wlcf->subscribe && i < wlcf->subscribe->nelts; i++) {
        if (ngx_ws_subscribe_name(ws, i, &name) != NGX_OK) {
            return NGX_ERROR;
        }

        if (name.len
            && ngx_ws_channel_name(cc[i].zone, &name, NGX_LOG_INFO, "client",
                                   ws->connection->log)
               != NGX_OK)
        {
            return NGX_DECLINED;
        }
    }

    if (wlcf->presence && ngx_ws_presence_identity(ws) != NGX_OK) {
        return NGX_ERROR;
    }

    if (wlcf->push) {
        p = ngx_pnalloc(r->pool, ws->id.len + 1);
        if (p == NULL) {
            return NGX_ERROR;
        }

        *p = '@';
        ngx_memcpy(p + 1, ws->id.data, ws->id.len);

        name.data = p;
        name.len = ws->id.len + 1;

        if (ngx_ws_subscribe_one(ws, wlcf->push, &name, 1, -1) != NGX_OK) {
            return NGX_ERROR;
        }

        if (ngx_ws_registry_add(ws, wlcf->push, &name) != NGX_OK) {
            return NGX_ERROR;
        }

        if (wlcf->push->redis) {
            /* for pushes from the other instances */
            ngx_ws_redis_conn_seen(wlcf->push, &name, 1);
        }
    }

    if (wlcf->subscribe == NULL) {
        return NGX_OK;
    }

    ngx_str_null(&resume);

    if (wlcf->last_id
        && ngx_http_complex_value(r, wlcf->last_id, &resume) != NGX_OK)
    {
        return NGX_ERROR;
    }

    cc = wlcf->subscribe->elts;

    for (i = 0; i < wlcf->subscribe->nelts; i++) {
        if (ngx_ws_subscribe_name(ws, i, &name) != NGX_OK) {
            return NGX_ERROR;
        }

        if (name.len == 0) {
            continue;
        }

        last_id = ngx_ws_last_id(r->pool, &resume, &name);

        if (ngx_ws_subscribe_one(ws, cc[i].zone, &name, 0, last_id)
            != NGX_OK)
        {
            return NGX_ERROR;
        }

        if (ws->close_sent || ws->conn_state >= NGX_WS_CONN_FAILING) {
            /* closed as slow by its replay: the other channels are moot */
            return NGX_OK;
        }
    }

    ngx_ws_registry_channels(ws);

    return NGX_OK;
}


/*
 * The connection's identity for presence (ws_presence), evaluated once.
 * An empty one, one over the zone's max_member bytes, or one that is not
 * printable UTF-8 leaves the connection anonymous: counted as a
 * subscriber, not as a member.
 */

static ngx_int_t
ngx_ws_presence_identity(ngx_ws_conn_t *ws)
{
    u_char         *p, *last;
    ngx_str_t       id;
    ngx_ws_zone_t  *zone;

    ngx_str_null(&ws->member);

    if (ngx_http_complex_value(ws->request, ws->conf->presence, &id)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    if (id.len == 0) {
        return NGX_OK;
    }

    zone = ngx_ws_channel_zone(ws);

    if (zone && id.len > zone->max_member) {
        ngx_log_error(NGX_LOG_WARN, ws->connection->log, 0,
                      "ws_presence identity of %uz bytes is over "
                      "max_member=%uz of ws_zone \"%V\": the connection "
                      "is not a member", id.len, zone->max_member,
                      &zone->name);
        return NGX_OK;
    }

    last = id.data + id.len;

    for (p = id.data; p < last; p++) {
        if (*p < 0x20 || *p == 0x7f) {
            break;
        }
    }

    if (p != last
        || ngx_ws_utf8_validate(NGX_WS_UTF8_ACCEPT, id.data, id.len)
           != NGX_WS_UTF8_ACCEPT)
    {
        ngx_log_error(NGX_LOG_INFO, ws->connection->log, 0,
                      "ws_presence identity is not printable UTF-8: "
                      "the connection is not a member");
        return NGX_OK;
    }

    ws->member = id;

    return NGX_OK;
}


/* why a member's connection leaves a channel */

static char *
ngx_ws_presence_reason(ngx_ws_conn_t *ws)
{
    switch (ws->end) {

    case NGX_WS_END_OPEN:
    case NGX_WS_END_CLIENT:
        return "leave";

    case NGX_WS_END_TIMEOUT:
        return "timeout";

    default:
        return "closed";
    }
}


/* the i-th ws_subscribe name: the one ws_auth_request was shown, if asked */

static ngx_int_t
ngx_ws_subscribe_name(ngx_ws_conn_t *ws, ngx_uint_t i, ngx_str_t *name)
{
    ngx_ws_channel_conf_t  *cc;

    if (ws->auth && ws->auth->channels) {
        *name = ws->auth->subscribe[i];
        return NGX_OK;
    }

    cc = ws->conf->subscribe->elts;

    return ngx_http_complex_value(ws->request, &cc[i].name, name);
}


/* a channel name from a client or the application is checked */

ngx_int_t
ngx_ws_channel_name(ngx_ws_zone_t *zone, ngx_str_t *name, ngx_uint_t level,
    char *who, ngx_log_t *log)
{
    u_char  err[NGX_MAX_ERROR_STR];

    if (ngx_ws_channel_name_check(zone, name, err, sizeof(err)) == NGX_OK) {
        return NGX_OK;
    }

    /* the name itself is not logged: it may hold control characters */

    ngx_log_error(level, log, 0,
                  "%s sent an invalid channel name for ws zone \"%V\": %s",
                  who, &zone->name, err);

    return NGX_DECLINED;
}


/* why a channel or a message was refused, at the level it deserves */

void
ngx_ws_zone_refused(ngx_ws_zone_t *zone, ngx_int_t rc, size_t len,
    ngx_log_t *log)
{
    switch (rc) {

    case NGX_WS_ZONE_TOO_BIG:
        ngx_log_error(NGX_LOG_WARN, log, 0,
                      "message of %uz bytes is larger than max_message=%uz "
                      "of ws zone \"%V\"", len, zone->max_message,
                      &zone->name);
        break;

    case NGX_WS_ZONE_TOO_MANY:
        ngx_log_error(NGX_LOG_WARN, log, 0,
                      "ws zone \"%V\" has max_channels=%ui channels in use",
                      &zone->name, zone->max_channels);
        break;

    default:
        ngx_log_error(NGX_LOG_ERR, log, 0,
                      "ws zone \"%V\" is full", &zone->name);
    }
}


/*
 * The id to resume a channel from, or -1: the ws_last_id value is a list
 * "entry[,entry...]" where an entry is "N", for every channel not named,
 * or "NAME=N" with NAME percent-encoded.  An entry that does not parse is
 * ignored.
 */

static int64_t
ngx_ws_last_id(ngx_pool_t *pool, ngx_str_t *value, ngx_str_t *name)
{
    u_char     *p, *end, *next, *eq, *dst, *src;
    int64_t     any, named;
    ngx_int_t   n;

    any = -1;
    named = -1;

    end = value->data + value->len;

    for (p = value->data; p < end && named == -1; p = next + 1) {

        next = ngx_strlchr(p, end, ',');
        if (next == NULL) {
            next = end;
        }

        eq = NULL;

        for (src = next; src > p; src--) {
            if (src[-1] == '=') {
                eq = src - 1;
                break;
            }
        }

        if (eq == NULL) {
            n = ngx_atoi(p, next - p);

            if (n != NGX_ERROR) {
                any = n;
            }

            continue;
        }

        n = ngx_atoi(eq + 1, next - eq - 1);

        if (n == NGX_ERROR || eq == p || (size_t) (eq - p) > name->len * 3) {
            continue;
        }

        dst = ngx_pnalloc(pool, eq - p);
        if (dst == NULL) {
            return -1;
        }

        src = p;
        p = dst;
        ngx_unescape_uri(&dst, &src, eq - src, 0);

        if ((size_t) (dst - p) == name->len
            && ngx_memcmp(p, name->data, name->len) == 0)
        {
            named = n;
        }
    }

    return (named != -1) ? named : any;
}


/* already a subscriber: nothing to do */

static ngx_uint_t
ngx_ws_subscribed(ngx_ws_conn_t *ws, ngx_ws_zone_t *zone, ngx_str_t *name,
    ngx_uint_t push)
{
    ngx_queue_t     *q;
    ngx_ws_sub_t    *sub;
    ngx_ws_spool_t  *spool;

    for (q = ngx_queue_head(&ws->subs);
         q != ngx_queue_sentinel(&ws->subs);
         q = ngx_queue_next(q))
    {
        sub = ngx_queue_data(q, ngx_ws_sub_t, link);
        spool = sub->spool;

        if (spool->zone == zone && spool->push == push
            && spool->name.len == name->len
            && ngx_strncmp(spool->name.data, name->data, name->len) == 0)
        {
            return 1;
        }
    }

    return 0;
}


static ngx_int_t
ngx_ws_subscribe_one(ngx_ws_conn_t *ws, ngx_ws_zone_t *zone, ngx_str_t *name,
    ngx_uint_t push, int64_t last_id)
{
    uint64_t                upto, chan_last;
    ngx_int_t               rc, joined;
    ngx_uint_t              behind, unsynced;
    ngx_ws_sub_t           *sub;
    ngx_ws_stored_t         st;
    ngx_ws_spool_t         *spool, *fresh;
    ngx_connection_t       *c;
    ngx_ws_channel_node_t  *cn;

    c = ws->connection;

    if (ngx_ws_subscribed(ws, zone, name, push)) {
        return NGX_OK;
    }

    if (zone->slot == -1) {
        ngx_log_error(NGX_LOG_ALERT, c->log, 0,
                      "ws_zone \"%V\" is not usable in this worker",
                      &zone->name);
        return NGX_ERROR;
    }

    fresh = ngx_alloc(sizeof(ngx_ws_spool_t) + name->len, c->log);
    if (fresh == NULL) {
        return NGX_ERROR;
    }

    sub = ngx_alloc(sizeof(ngx_ws_sub_t), c->log);
    if (sub == NULL) {
        ngx_free(fresh);
        return NGX_ERROR;
    }

    ngx_shmtx_lock(&zone->shpool->mutex);

    cn = ngx_ws_channel_lookup(zone, name, push);

    if (cn == NULL) {
        cn = ngx_ws_channel_create(zone, name, push, &rc);

        if (cn == NULL) {
            ngx_shmtx_unlock(&zone->shpool->mutex);
            ngx_free(fresh);
            ngx_free(sub);

            ngx_ws_zone_refused(zone, rc, 0, c->log);
            return NGX_ERROR;
        }
    }

    if (ngx_ws_channel_add_subscriber(zone, cn) != NGX_OK) {
        ngx_shmtx_unlock(&zone->shpool->mutex);
        ngx_free(fresh);
        ngx_free(sub);

        ngx_log_error(NGX_LOG_ERR, c->log, 0,
                      "ws zone \"%V\" is full", &zone->name);
        return NGX_ERROR;
    }

    spool = ngx_ws_spool_make(zone, cn, name, push, &fresh);

    /* a member joins after its spool: it gets its own join event */

    sub->member = 0;
    joined = NGX_DECLINED;

    if (ws->member.len && !push) {
        joined = ngx_ws_presence_join(zone, cn, &ws->member, c->log,
                                      &sub->member, &st);
    }

    /* what a reconnecting client missed is sent after subscribing */

    upto = spool->last_id;

    /*
     * A client can be ahead of this worker: it comes from another worker
     * (a reload, a reconnect) that has delivered messages this one has
     * only been woken for.  They are delivered to this worker's
     * subscribers first, so that the new one neither gets them again nor
     * takes its id for one from a former channel.
     */
    behind = (last_id > 0 && (uint64_t) last_id > upto
              && (uint64_t) last_id <= cn->last_id);

    chan_last = cn->last_id;

    /* Redis-backed, new to the instance: the history comes with the sync */
    unsynced = (zone->redis && !push && !cn->synced);

    ngx_shmtx_unlock(&zone->shpool->mutex);

    if (fresh) {
        ngx_free(fresh);
    }

    if (joined == NGX_OK) {
        ngx_ws_channel_notify(zone, st.workers, st.uid);
    }

    if (behind) {
        ngx_ws_channel_deliver(spool);
        upto = spool->last_id;
    }

    sub->spool = spool;
    sub->transport = NULL;
    sub->data = NULL;
    sub->hold = NULL;
    sub->resume = -1;
    sub->skip = 0;
    sub->ws = ws;
    ngx_queue_insert_tail(&spool->subs, &sub->queue);
    ngx_queue_insert_tail(&ws->subs, &sub->link);
    spool->nsubs++;

    ngx_log_debug3(NGX_LOG_DEBUG_HTTP, c->log, 0,
                   "ws subscribe \"%V\" uid:%uL last_id:%L",
                   name, spool->uid, last_id);

    if (!push && ws->conf->snapshot && ngx_ws_snapshot_start) {
        /*
         * the replay waits for the snapshot; on a channel new to the
         * instance the snapshot is asked for once it is synced (where the
         * spool starts is known then: ngx_ws_channel_resume())
         */
        if (unsynced) {
            spool->resume = 1;
        }

        return ngx_ws_hold_start(sub, name, last_id, upto, chan_last,
                                 unsynced);
    }

    if (unsynced && last_id >= 0) {
        /* replayed once the channel is synced (ngx_ws_channel_resume()) */
        sub->resume = last_id;
        spool->resume = 1;
        return NGX_OK;
    }

    if (last_id < 0 || (uint64_t) last_id == upto) {
        return NGX_OK;
    }

    return ngx_ws_replay(ws, zone, spool, name, push, last_id, upto);
}


/*
 * A channel of a Redis-backed zone was synced: the subscribers (of every
 * transport) that came with an id before get what they missed, up to
 * where the spool starts.
 */

static void
ngx_ws_channel_resume(ngx_ws_spool_t *spool)
{
    int64_t                 from;
    uint64_t                upto, chan_last;
    ngx_queue_t            *q, *next;
    ngx_ws_sub_t           *sub;
    ngx_ws_zone_t          *zone;
    ngx_ws_hold_t          *hold;
    ngx_ws_channel_node_t  *cn;

    zone = spool->zone;

    ngx_shmtx_lock(&zone->shpool->mutex);

    cn = ngx_ws_channel_lookup(zone, &spool->name, spool->push);

    if (cn == NULL || cn->uid != spool->uid || !cn->synced) {
        ngx_shmtx_unlock(&zone->shpool->mutex);
        return;
    }

    if (spool->last_id < cn->sync_id) {
        spool->last_id = cn->sync_id;
    }

    upto = spool->last_id;
    chan_last = cn->last_id;

    ngx_shmtx_unlock(&zone->shpool->mutex);

    spool->resume = 0;

    for (q = ngx_queue_head(&spool->subs);
         q != ngx_queue_sentinel(&spool->subs);
         q = next)
    {
        next = ngx_queue_next(q);
        sub = ngx_queue_data(q, ngx_ws_sub_t, queue);

        hold = sub->hold;

        if (hold && hold->waiting) {
            /* ws_snapshot: asked for now, as of the sync */
            hold->waiting = 0;
            hold->start = upto;
            hold->chan_last = chan_last;

            ngx_ws_hold_ask(sub, &spool->name);

            /* a failure may have ended subscribers: from the start again */
            next = ngx_queue_head(&spool->subs);
            continue;
        }

        if (sub->resume < 0) {
            continue;
        }

        from = sub->resume;
        sub->resume = -1;

        if ((uint64_t) from == upto) {
            continue;
        }

        if (sub->ws == NULL) {
            /* EventSource, long-polling */
            (void) ngx_ws_http_replay(sub, &spool->name, from, upto,
                                      ngx_cycle->log);

        } else if (!sub->ws->close_sent) {
            (void) ngx_ws_replay(sub->ws, zone, spool, &spool->name,
                                 spool->push, from, upto);
        }
    }
}


/*
 * What a reconnecting client missed (after last_id, up to what this worker
 * has delivered: upto) is sent to it alone after subscribing.  It stops
 * early when the channel is gone or the connection is closing.
 */

static ngx_int_t
ngx_ws_replay(ngx_ws_conn_t *ws, ngx_ws_zone_t *zone, ngx_ws_spool_t *spool,
    ngx_str_t *name, ngx_uint_t push, int64_t last_id, uint64_t upto)
{
    size_t                  size, limit;
    uint64_t                first, from;
    ngx_uint_t              k, nreplay, more, beyond, skipped, skip;
    ngx_ws_sh_msg_t        *m;
    ngx_ws_shared_t        *replay[64], *lost;
    ngx_connection_t       *c;
    ngx_ws_channel_node_t  *cn;

    c = ws->connection;

    /*
     * An id from the future: one of the channel as it was before a
     * restart, a resize or a delete, when the clock was set back.  An id
     * of a former channel is otherwise below the current one's base: it
     * is caught below, as history lost.
     */
    beyond = ((uint64_t) last_id > upto);

    /*
     * Replayed in batches, up to what this worker has delivered; each batch
     * is copied under the zone's mutex, so it holds at most what fits in
     * ws_send_buffer (and 64 messages), and the replay stops as soon as the
     * connection is closed as a slow subscriber.
     */

    limit = ws->conf->send_buffer;
    skip = (ws->conf->slow_subscriber == NGX_WS_SLOW_DROP);

    for ( ;; ) {
        nreplay = 0;
        lost = NULL;
        size = 0;
        skipped = 0;

        ngx_shmtx_lock(&zone->shpool->mutex);

        cn = ngx_ws_channel_lookup(zone, name, push);

        if (cn == NULL || cn->uid != spool->uid) {
            ngx_shmtx_unlock(&zone->shpool->mutex);
            return NGX_OK;
        }

        ngx_ws_channel_trim(zone, cn);

        first = ngx_ws_channel_first(zone, cn);

        /* "0" asks for the whole history: lost only if some of it is gone */

        from = last_id ? (uint64_t) last_id : cn->base;

        if (from + 1 < first || beyond) {
            lost = ngx_ws_history_lost(name, last_id, first, c->log);
            last_id = first - 1;
            beyond = 0;
        }

        m = ngx_ws_channel_after(cn, last_id);

        if (skip && m && m->id <= upto) {
            /* once: later batches fit, give or take frame headers */
            skip = 0;

            m = ngx_ws_replay_skip(cn, m, upto,
                                   limit > ws->out.mem
                                   ? limit - ws->out.mem : 0,
                                   &skipped);
            last_id = m->id - 1;
        }

        for ( /* void */ ;
             m && m->id <= upto && nreplay < 64;
             m = ngx_ws_channel_next(cn, m))
        {
            if (nreplay && ws->out.mem + size > limit) {
                /* the message that went over the limit is the last */
                break;
            }

            last_id = m->id;

            if (zone->ttl && ngx_time() - m->time > zone->ttl) {
                continue;
            }

            replay[nreplay] = ngx_ws_frame_msg(m, name, spool->uid,
                                               ws->conf->envelope, c->log);
            if (replay[nreplay]) {
                size += ngx_ws_shared_mem(replay[nreplay]);
                nreplay++;
            }
        }

        more = (m != NULL && m->id <= upto);

        ngx_shmtx_unlock(&zone->shpool->mutex);

        if (skipped) {
            ngx_log_error(NGX_LOG_WARN, c->log, 0,
                          "dropped %ui messages for a slow subscriber",
                          skipped);
            ngx_ws_stats->dropped += skipped;
        }

        if (lost) {
            ngx_ws_queue_one(ws, lost);
            ngx_ws_shared_done(lost);
        }

        for (k = 0; k < nreplay; k++) {
            ngx_ws_queue_one(ws, replay[k]);
            ngx_ws_shared_done(replay[k]);
        }

        if (!more || ws->close_sent
            || ws->conn_state >= NGX_WS_CONN_FAILING)
        {
            return NGX_OK;
        }
    }
}


/*
 * With ws_slow_subscriber drop, the oldest messages of a replay larger
 * than what ws_send_buffer has room for would be dropped as soon as they
 * are queued: they are skipped instead of copied, and counted as dropped;
 * not a critical message, nor what follows it.  Returns the first message
 * to replay (at least the newest one).
 */

static ngx_ws_sh_msg_t *
ngx_ws_replay_skip(ngx_ws_channel_node_t *cn, ngx_ws_sh_msg_t *from,
    uint64_t upto, size_t room, ngx_uint_t *skipped)
{
    size_t            size;
    ngx_queue_t      *q;
    ngx_ws_sh_msg_t  *m, *start;

    size = 0;
    start = NULL;

    for (q = ngx_queue_last(&cn->msgs);
         q != ngx_queue_sentinel(&cn->msgs);
         q = ngx_queue_prev(q))
    {
        m = ngx_queue_data(q, ngx_ws_sh_msg_t, queue);

        if (m->id > upto) {
            continue;
        }

        if (m->id < from->id
            || (start && size + ngx_ws_frame_mem(m->len) > room))
        {
            break;
        }

        size += ngx_ws_frame_mem(m->len);
        start = m;
    }

    if (start == NULL) {
        return from;
    }

    /* a critical message is never skipped */

    for (q = &from->queue; q != &start->queue; q = ngx_queue_next(q)) {
        m = ngx_queue_data(q, ngx_ws_sh_msg_t, queue);

        if (m->cls == NGX_WS_CLASS_CRITICAL) {
            start = m;
            break;
        }
    }

    /* the ids of a channel's history follow each other */

    *skipped = (ngx_uint_t) (start->id - from->id);

    return start;
}


/* the connection ends: leave every channel (presence counts are exact) */

void
ngx_ws_channels_release(ngx_ws_conn_t *ws)
{
    ngx_queue_t   *q;
    ngx_ws_sub_t  *sub;

    /* its record goes with its push channel */
    ws->stat.shared = NULL;

    if (ws->stat.channels.data == NULL && !ngx_queue_empty(&ws->subs)) {
        /* $ws_channels in the access log: what it was subscribed to */
        (void) ngx_ws_channels_list(ws, ws->pool, &ws->stat.channels);
    }

    while (!ngx_queue_empty(&ws->subs)) {
        q = ngx_queue_head(&ws->subs);
        sub = ngx_queue_data(q, ngx_ws_sub_t, link);

        ngx_ws_unsubscribe_one(sub);
    }
}


/* the channels the connection is subscribed to, "a,b" (not ws_push's) */

ngx_int_t
ngx_ws_channels_list(ngx_ws_conn_t *ws, ngx_pool_t *pool, ngx_str_t *list)
{
    u_char        *p;
    size_t         len;
    ngx_queue_t   *q;
    ngx_ws_sub_t  *sub;

    len = 0;

    for (q = ngx_queue_head(&ws->subs);
         q != ngx_queue_sentinel(&ws->subs);
         q = ngx_queue_next(q))
    {
        sub = ngx_queue_data(q, ngx_ws_sub_t, link);

        if (!sub->spool->push) {
            len += sub->spool->name.len + 1;
        }
    }

    if (len == 0) {
        ngx_str_set(list, "");
        return NGX_OK;
    }

    p = ngx_pnalloc(pool, len);
    if (p == NULL) {
        return NGX_ERROR;
    }

    list->data = p;

    for (q = ngx_queue_head(&ws->subs);
         q != ngx_queue_sentinel(&ws->subs);
         q = ngx_queue_next(q))
    {
        sub = ngx_queue_data(q, ngx_ws_sub_t, link);

        if (!sub->spool->push) {
            p = ngx_cpymem(p, sub->spool->name.data, sub->spool->name.len);
            *p++ = ',';
        }
    }

    list->len = len - 1;

    return NGX_OK;
}


/*
 * The close reason of a draining worker: "resume:" and, for each channel
 * of the connection (not its ws_push one), "NAME=ID" with the id of the
 * last message queued to it, comma-separated, NAME percent-encoded but
 * for A-Z a-z 0-9 - . _ ~ : @ /.  It is a ws_last_id value as it is: every
 * message up to ID is written before the Close, nothing after it is, so a
 * client that comes back with it misses nothing and gets nothing twice.
 * NGX_DECLINED when there is no channel or the list does not fit in size
 * bytes with the final NUL (a Close reason is at most 123 bytes).
 */

ngx_int_t
ngx_ws_channels_resume_hint(ngx_ws_conn_t *ws, u_char *buf, size_t size)
{
    return ngx_ws_resume_reason(ws, NULL, buf, size);
}


/*
 * The same when the frames not yet started are given up with sh, which was
 * not queued (a slow subscriber's close): a channel resumes from before
 * the first of them.
 */

static ngx_int_t
ngx_ws_resume_reason(ngx_ws_conn_t *ws, ngx_ws_shared_t *sh, u_char *buf,
    size_t size)
{
    u_char          *p, *last, *n, *end, *id;
    uint64_t         upto;
    ngx_uint_t       any;
    ngx_queue_t     *q;
    ngx_ws_msg_t    *m;
    ngx_ws_sub_t    *sub;
    ngx_ws_spool_t  *spool;
    u_char           num[NGX_INT64_LEN + 2];

    static u_char    hex[] = "0123456789ABCDEF";

    if (size < sizeof("resume:")) {
        return NGX_DECLINED;
    }

    p = buf;
    last = buf + size - 1;                 /* room for the NUL */
    any = 0;

    p = ngx_cpymem(p, "resume:", sizeof("resume:") - 1);

    for (q = ngx_queue_head(&ws->subs);
         q != ngx_queue_sentinel(&ws->subs);
         q = ngx_queue_next(q))
    {
        sub = ngx_queue_data(q, ngx_ws_sub_t, link);
        spool = sub->spool;

        if (spool->push) {
            continue;
        }

        if (any) {
            if (p == last) {
                return NGX_DECLINED;
            }

            *p++ = ',';
        }

        any = 1;

        end = spool->name.data + spool->name.len;

        for (n = spool->name.data; n < end; n++) {

            if ((*n >= 'A' && *n <= 'Z') || (*n >= 'a' && *n <= 'z')
                || (*n >= '0' && *n <= '9')
                || *n == '-' || *n == '.' || *n == '_' || *n == '~'
                || *n == ':' || *n == '@' || *n == '/')
            {
                if (p == last) {
                    return NGX_DECLINED;
                }

                *p++ = *n;
                continue;
            }

            if (last - p < 3) {
                return NGX_DECLINED;
            }

            *p++ = '%';
            *p++ = hex[*n >> 4];
            *p++ = hex[*n & 0xf];
        }

        upto = spool->last_id;

        if (sh) {
            if (sh->uid == spool->uid && sh->id <= upto) {
                upto = sh->id - 1;
            }

            for (m = ws->out.head ? ws->out.head->next : NULL;
                 m;
                 m = m->next)
            {
                if (m->shared && m->shared->uid == spool->uid
                    && m->shared->id <= upto)
                {
                    upto = m->shared->id - 1;
                }
            }
        }

        id = ngx_sprintf(num, "=%uL", upto);

        if ((size_t) (last - p) < (size_t) (id - num)) {
            return NGX_DECLINED;
        }

        p = ngx_cpymem(p, num, id - num);
    }

    if (!any) {
        return NGX_DECLINED;
    }

    *p = '\0';

    return NGX_OK;
}


static void
ngx_ws_unsubscribe_one(ngx_ws_sub_t *sub)
{
    ngx_int_t               left;
    ngx_uint_t              member;
    ngx_ws_conn_t          *ws;
    ngx_ws_zone_t          *zone;
    ngx_ws_spool_t         *spool;
    ngx_ws_stored_t         st;
    ngx_ws_channel_node_t  *cn;

    spool = sub->spool;
    zone = spool->zone;
    ws = sub->ws;
    member = sub->member;

    if (sub->hold) {
        ngx_ws_hold_free(sub);
    }

    ngx_queue_remove(&sub->queue);
    ngx_queue_remove(&sub->link);
    ngx_free(sub);

    spool->nsubs--;
    left = NGX_DECLINED;

    ngx_shmtx_lock(&zone->shpool->mutex);

    cn = ngx_ws_channel_lookup(zone, &spool->name, spool->push);

    if (cn && cn->uid == spool->uid) {

        /* while it is still counted: the channel cannot be evicted */

        if (member) {
            left = ngx_ws_presence_part(zone, cn, &ws->member,
                                        ngx_ws_presence_reason(ws),
                                        ws->connection->log, &st);
        }

        ngx_ws_channel_del_subscriber(zone, cn);

        if (spool->nsubs == 0) {
            ngx_ws_channel_leave(zone, cn, spool->last_id);
        }

        if (cn->push && cn->subscribers == 0) {
            ngx_ws_channel_delete(zone, cn);
        }
    }

    ngx_shmtx_unlock(&zone->shpool->mutex);

    if (left == NGX_OK) {
        ngx_ws_channel_notify(zone, st.workers, st.uid);
    }

    if (spool->nsubs == 0) {
        if (spool->push && zone->redis) {
            ngx_ws_redis_conn_seen(zone, &spool->name, 0);
        }

        if (spool->deliver_ev.posted) {
            ngx_delete_posted_event(&spool->deliver_ev);
        }

        ngx_rbtree_delete(&zone->spools, &spool->node);
        ngx_free(spool);
    }
}


/*
 * X-WS-Subscribe and X-WS-Unsubscribe from the application: channels of
 * the location's zone (that of ws_subscribe, ws_publish or ws_push).
 */

ngx_int_t
ngx_ws_channel_join(ngx_ws_conn_t *ws, ngx_str_t *name)
{
    ngx_ws_zone_t  *zone;

    zone = ngx_ws_channel_zone(ws);

    if (zone == NULL) {
        ngx_log_error(NGX_LOG_ERR, ws->connection->log, 0,
                      "upstream asked to subscribe to \"%V\", but the "
                      "location has no ws_zone", name);
        return NGX_DECLINED;
    }

    if (ngx_ws_channel_name(zone, name, NGX_LOG_ERR, "upstream",
                            ws->connection->log)
        != NGX_OK)
    {
        return NGX_DECLINED;
    }

    if (ngx_ws_subscribe_one(ws, zone, name, 0, -1) != NGX_OK) {
        return NGX_ERROR;
    }

    ngx_ws_registry_channels(ws);

    return NGX_OK;
}


void
ngx_ws_channel_part(ngx_ws_conn_t *ws, ngx_str_t *name)
{
    ngx_queue_t     *q;
    ngx_ws_sub_t    *sub;
    ngx_ws_spool_t  *spool;

    for (q = ngx_queue_head(&ws->subs);
         q != ngx_queue_sentinel(&ws->subs);
         q = ngx_queue_next(q))
    {
        sub = ngx_queue_data(q, ngx_ws_sub_t, link);
        spool = sub->spool;

        if (!spool->push && spool->name.len == name->len
            && ngx_strncmp(spool->name.data, name->data, name->len) == 0)
        {
            ngx_ws_unsubscribe_one(sub);
            ngx_ws_registry_channels(ws);
            return;
        }
    }
}


static ngx_ws_zone_t *
ngx_ws_channel_zone(ngx_ws_conn_t *ws)
{
    ngx_ws_channel_conf_t  *cc;

    if (ws->conf->subscribe) {
        cc = ws->conf->subscribe->elts;
        return cc[0].zone;
    }

    if (ws->conf->publish) {
        return ws->conf->publish->zone;
    }

    return ws->conf->push;
}


/* new messages (or a deletion) of a channel this worker has subscribers of */

static void
ngx_ws_channel_deliver(ngx_ws_spool_t *spool)
{
    uint64_t                first, missed;
    ngx_uint_t              n, t, env, raw, close;
    ngx_queue_t            *q;
    ngx_ws_sub_t           *sub;
    ngx_ws_zone_t          *zone;
    ngx_ws_frames_t         frames[64];
    ngx_ws_shared_t        *lost;
    ngx_ws_shared_t        *hlost[NGX_WS_TRANSPORTS];
    ngx_ws_transport_t     *want[NGX_WS_TRANSPORTS];
    ngx_ws_channel_node_t  *cn;
    u_char                  reason[NGX_WS_MAX_CONTROL];

    zone = spool->zone;

    if (spool->resume) {
        ngx_ws_channel_resume(spool);
    }

    ngx_ws_frames_wanted(spool, &raw, &env, want);

    for ( ;; ) {
        n = 0;
        lost = NULL;
        missed = 0;
        ngx_memzero(hlost, sizeof(hlost));

        ngx_shmtx_lock(&zone->shpool->mutex);

        cn = ngx_ws_channel_lookup(zone, &spool->name, spool->push);

        if (cn == NULL || cn->uid != spool->uid) {
            ngx_shmtx_unlock(&zone->shpool->mutex);
            ngx_ws_spool_gone(spool);
            return;
        }

        if (spool->last_id < cn->sync_id) {
            /*
             * Redis-backed: the spool was made before its channel was
             * synced with the stream; it goes on from there
             */
            spool->last_id = cn->sync_id;
        }

        if (cn->last_id <= spool->last_id) {
            ngx_shmtx_unlock(&zone->shpool->mutex);
            return;
        }

        first = ngx_ws_channel_first(NULL, cn);

        if (spool->last_id + 1 < first) {
            /* evicted before this worker read them (the zone was full) */
            missed = first - spool->last_id - 1;
            lost = (raw || env)
                   ? ngx_ws_history_lost(&spool->name, spool->last_id, first,
                                         ngx_cycle->log)
                   : NULL;

            for (t = 0; t < NGX_WS_TRANSPORTS; t++) {
                hlost[t] = want[t] ? ngx_ws_history_lost_t(&spool->name,
                                         spool->last_id, first, want[t],
                                         ngx_cycle->log)
                                   : NULL;
            }

            spool->last_id = first - 1;
        }

        close = 0;
        n = ngx_ws_frames_build(spool, cn, frames, raw, env, want, &close,
                                reason);

        ngx_ws_channel_trim(zone, cn);

        ngx_shmtx_unlock(&zone->shpool->mutex);

        if (missed) {
            ngx_log_error(NGX_LOG_WARN, ngx_cycle->log, 0,
                          "ws worker missed %uL messages of channel \"%V\"",
                          missed, &spool->name);

            if (lost == NULL && (raw || env)) {
                ngx_log_error(NGX_LOG_ALERT, ngx_cycle->log, 0,
                              "ws history_lost event of channel \"%V\" "
                              "could not be framed", &spool->name);
            }
        }

        for (q = ngx_queue_head(&spool->subs);
             q != ngx_queue_sentinel(&spool->subs);
             q = ngx_queue_next(q))
        {
            sub = ngx_queue_data(q, ngx_ws_sub_t, queue);

            if (sub->ws == NULL) {
                ngx_ws_deliver_http(sub, hlost[sub->transport->index],
                                    first - 1, frames, n, missed);
                continue;
            }

            ngx_ws_deliver_ws(sub, lost, frames, n, missed);
        }

        if (lost) {
            ngx_ws_shared_done(lost);
        }

        ngx_ws_lost_done(hlost);
        ngx_ws_frames_done(frames, n);

        if (close) {
            ngx_ws_push_control(spool, close, reason);
        }
    }
}


/*
 * The connections API asked the owner to close the connection, or to
 * forget the answers of ws_message_auth_request (NGX_WS_PUSH_REVOKE).
 */

static void
ngx_ws_push_control(ngx_ws_spool_t *spool, ngx_uint_t close, u_char *reason)
{
    ngx_queue_t   *q;
    ngx_ws_sub_t  *sub;

    for (q = ngx_queue_head(&spool->subs);
         q != ngx_queue_sentinel(&spool->subs);
         q = ngx_queue_next(q))
    {
        sub = ngx_queue_data(q, ngx_ws_sub_t, queue);

        if (sub->ws == NULL) {
            continue;
        }

        if (close == NGX_WS_PUSH_REVOKE) {
            ngx_ws_msgauth_revoke(sub->ws, 0);
            continue;
        }

        ngx_log_error(NGX_LOG_INFO, sub->ws->connection->log, 0,
                      "ws connection closed through the connections "
                      "API with %ui", close);

        ngx_ws_set_end(sub->ws, NGX_WS_END_SERVER);
        ngx_ws_end(sub->ws, NGX_WS_GOODBYE, close, (char *) reason);
    }
}


static void
ngx_ws_lost_done(ngx_ws_shared_t **hlost)
{
    ngx_uint_t  t;

    for (t = 0; t < NGX_WS_TRANSPORTS; t++) {
        if (hlost[t]) {
            ngx_ws_shared_done(hlost[t]);
        }
    }
}


/* which frames the subscribers of a spool want */

static void
ngx_ws_frames_wanted(ngx_ws_spool_t *spool, ngx_uint_t *raw, ngx_uint_t *env,
    ngx_ws_transport_t **want)
{
    ngx_queue_t   *q;
    ngx_ws_sub_t  *sub;

    *raw = 0;
    *env = 0;
    ngx_memzero(want, NGX_WS_TRANSPORTS * sizeof(ngx_ws_transport_t *));

    for (q = ngx_queue_head(&spool->subs);
         q != ngx_queue_sentinel(&spool->subs);
         q = ngx_queue_next(q))
    {
        sub = ngx_queue_data(q, ngx_ws_sub_t, queue);

        if (sub->ws == NULL) {
            want[sub->transport->index] = sub->transport;

        } else if (sub->ws->conf->envelope) {
            *env = 1;

        } else {
            *raw = 1;
        }
    }
}


/*
 * With the zone locked: the next messages of the channel (64 at most),
 * copied out and framed once for the subscribers that want them raw and
 * once for those that want the envelope.  Marks them read by this worker.
 */

static ngx_uint_t
ngx_ws_frames_build(ngx_ws_spool_t *spool, ngx_ws_channel_node_t *cn,
    ngx_ws_frames_t *frames, ngx_uint_t raw, ngx_uint_t env,
    ngx_ws_transport_t **want, ngx_uint_t *close, u_char *reason)
{
    size_t            len;
    uint64_t          bit;
    ngx_uint_t        n, t;
    ngx_ws_sh_msg_t  *m;

    bit = (uint64_t) 1 << spool->zone->slot;
    n = 0;

    for (m = ngx_ws_channel_after(cn, spool->last_id);
         m && n < 64;
         m = ngx_ws_channel_next(cn, m))
    {
        if (m->opcode == NGX_WS_OP_CLOSE) {

            /*
             * Only in a push channel (ngx_ws_conns.c): a code and a
             * reason, ending a batch of its own once the frames before
             * it are queued.
             */

            if (n) {
                break;
            }

            if (m->len >= 2 && m->len <= NGX_WS_MAX_CONTROL) {
                /* code 0: the message auth answers are revoked */
                *close = (m->data[0] << 8) | m->data[1];
                *close = *close ? *close : NGX_WS_PUSH_REVOKE;
                len = m->len - 2;
                ngx_memcpy(reason, m->data + 2, len);
                reason[len] = '\0';
            }

            m->pending &= ~bit;
            spool->last_id = m->id;
            break;
        }

        frames[n].raw = raw ? ngx_ws_frame_msg(m, &spool->name, spool->uid,
                                               0, ngx_cycle->log)
                            : NULL;
        frames[n].env = env ? ngx_ws_frame_msg(m, &spool->name, spool->uid,
                                               1, ngx_cycle->log)
                            : NULL;
        frames[n].zraw = NULL;
        frames[n].zenv = NULL;
        frames[n].zkey = 0;

        frames[n].id = m->id;

        for (t = 0; t < NGX_WS_TRANSPORTS; t++) {
            frames[n].http[t] = want[t] ? want[t]->format(m, &spool->name,
                                                          ngx_cycle->log)
                                        : NULL;
        }

        if ((raw && frames[n].raw == NULL)
            || (env && frames[n].env == NULL))
        {
            ngx_log_error(NGX_LOG_ALERT, ngx_cycle->log, 0,
                          "ws message %uL of channel \"%V\" could not "
                          "be framed", m->id, &spool->name);
        }

        m->pending &= ~bit;
        spool->last_id = m->id;
        n++;
    }

    return n;
}


/* the frames of a batch are released once every subscriber has them */

static void
ngx_ws_frames_done(ngx_ws_frames_t *frames, ngx_uint_t n)
{
    ngx_uint_t  k, t;

    for (k = 0; k < n; k++) {
        for (t = 0; t < NGX_WS_TRANSPORTS; t++) {
            if (frames[k].http[t]) {
                ngx_ws_shared_done(frames[k].http[t]);
            }
        }

        if (frames[k].raw) {
            ngx_ws_shared_done(frames[k].raw);
        }

        if (frames[k].env) {
            ngx_ws_shared_done(frames[k].env);
        }

        if (frames[k].zraw && frames[k].zraw != frames[k].raw) {
            ngx_ws_shared_done(frames[k].zraw);
        }

        if (frames[k].zenv && frames[k].zenv != frames[k].env) {
            ngx_ws_shared_done(frames[k].zenv);
        }
    }
}


/*
 * The frame a subscriber gets: with permessage-deflate, the first
 * subscriber of a deflate key has it compressed for all that share the key;
 * another key (rare: another level or window) gets it compressed for itself
 * in *tmp, which the caller releases.
 */

static ngx_ws_shared_t *
ngx_ws_frame_for(ngx_ws_conn_t *ws, ngx_ws_frames_t *f, ngx_ws_shared_t **tmp)
{
    ngx_uint_t         key;
    ngx_ws_shared_t   *sh, **zp;

    *tmp = NULL;

    sh = ws->conf->envelope ? f->env : f->raw;
    key = ngx_ws_deflate_key(ws);

    if (sh == NULL || key == 0) {
        return sh;
    }

    if (f->zkey && f->zkey != key) {
        *tmp = ngx_ws_deflate_shared(ws, sh);
        return *tmp ? *tmp : sh;
    }

    f->zkey = key;
    zp = ws->conf->envelope ? &f->zenv : &f->zraw;

    if (*zp == NULL) {
        *zp = ngx_ws_deflate_shared(ws, sh);

        if (*zp == NULL) {
            /* it would not shrink: everybody gets it as it is */
            *zp = sh;
        }
    }

    return *zp;
}


/* a frame for one subscriber only (a replay), compressed for it */

static void
ngx_ws_queue_one(ngx_ws_conn_t *ws, ngx_ws_shared_t *sh)
{
    ngx_ws_shared_t  *z;

    z = NULL;

    if (sh && ngx_ws_deflate_key(ws)) {
        z = ngx_ws_deflate_shared(ws, sh);
    }

    ngx_ws_queue_frame(ws, z ? z : sh);

    if (z) {
        ngx_ws_shared_done(z);
    }
}


/* the channel was deleted: its subscribers here are closed */

static void
ngx_ws_spool_gone(ngx_ws_spool_t *spool)
{
    ngx_queue_t   *q;
    ngx_ws_sub_t  *sub;

    for (q = ngx_queue_head(&spool->subs);
         q != ngx_queue_sentinel(&spool->subs);
         q = ngx_queue_next(q))
    {
        sub = ngx_queue_data(q, ngx_ws_sub_t, queue);

        if (sub->ws == NULL) {
            sub->transport->end(sub, "channel deleted");
            continue;
        }

        if (!sub->ws->close_sent) {
            ngx_log_error(NGX_LOG_INFO, sub->ws->connection->log, 0,
                          "channel \"%V\" deleted, closing with %d",
                          &spool->name, NGX_WS_CLOSE_NORMAL);

            ngx_ws_end(sub->ws, NGX_WS_FAIL, NGX_WS_CLOSE_NORMAL,
                       "channel deleted");
        }
    }
}


/*
 * A message could not be framed for the subscriber (no memory): it is
 * closed with 1011 rather than left with a gap it cannot see.
 */

static void
ngx_ws_subscriber_fail(ngx_ws_conn_t *ws)
{
    if (ws->close_sent || ws->conn_state == NGX_WS_CONN_FINALIZED) {
        return;
    }

    ngx_log_error(NGX_LOG_ERR, ws->connection->log, 0,
                  "subscriber misses a message, closing with %d",
                  NGX_WS_CLOSE_INTERNAL);

    ngx_ws_end(ws, NGX_WS_FAIL, NGX_WS_CLOSE_INTERNAL, NULL);
    ws->unsubscribe = 1;
}


/*
 * Queues a frame on a subscriber, making room by the messages' classes and
 * ws_slow_subscriber when more than ws_send_buffer of memory waits
 * (ngx_ws_output.c); the subscriber writes it on its own event, on the
 * next turn of the event loop (ngx_ws_post_delivery()).
 */

static void
ngx_ws_queue_frame(ngx_ws_conn_t *ws, ngx_ws_shared_t *sh)
{
    size_t  limit, mem;

    if (sh == NULL || ws->close_sent
        || ws->conn_state == NGX_WS_CONN_FINALIZED)
    {
        return;
    }

    limit = ws->conf->send_buffer;
    mem = ngx_ws_shared_mem(sh);

    /* a message larger than the limit still goes to a connection that
     * has nothing else waiting */

    if (ws->out.mem && ws->out.mem + mem > limit
        && ngx_ws_make_room(ws, sh, limit > mem ? limit - mem : 0) != NGX_OK)
    {
        return;
    }

    if (ngx_ws_send_shared(ws, sh) == NGX_ERROR) {
        ngx_ws_end(ws, NGX_WS_ABORT, 0, NULL);
    }

    ngx_ws_post_delivery(ws);
}


/*
 * Over ws_send_buffer (docs/message-policy.md): the queued frames of the
 * new message's conflation key go first, then droppable frames, oldest
 * first; then ws_slow_subscriber decides for the others, but a critical
 * message is never dropped: the subscriber is closed with 1013 and where
 * to resume in the reason.  NGX_OK when the frame is to be queued (there
 * is room, or only the partly written frame waits), NGX_DECLINED when it
 * was dropped or the subscriber closed.
 */

static ngx_int_t
ngx_ws_make_room(ngx_ws_conn_t *ws, ngx_ws_shared_t *sh, size_t room)
{
    ngx_int_t   rc;
    ngx_uint_t  n, dropped;

    n = ngx_ws_conflate_output(ws, sh);

    if (n) {
        ngx_log_debug1(NGX_LOG_DEBUG_HTTP, ws->connection->log, 0,
                       "ws conflated %ui messages", n);
        ngx_ws_stats->conflated += n;

        if (ws->out.mem <= room) {
            return NGX_OK;
        }
    }

    dropped = ngx_ws_drop_output_class(ws, room,
                                       1 << NGX_WS_CLASS_DROPPABLE);
    ngx_ws_stats->dropped_droppable += dropped;

    if (ws->out.mem > room) {

        if (sh->cls == NGX_WS_CLASS_DROPPABLE) {
            /* the newest droppable one when no older one is left */
            ngx_ws_stats->dropped_droppable++;
            dropped++;
            rc = NGX_DECLINED;
            goto done;
        }

        if (ws->conf->slow_subscriber == NGX_WS_SLOW_CLOSE) {
            ngx_ws_slow_close(ws, sh);
            rc = NGX_DECLINED;
            goto done;
        }

        dropped += ngx_ws_drop_output_class(ws, room,
                                            1 << NGX_WS_CLASS_NORMAL);
    }

    rc = NGX_OK;

    if (ws->out.mem > room
        && ngx_ws_output_waiting(ws, 1 << NGX_WS_CLASS_CRITICAL))
    {
        /* critical messages hold the queue */

        if (sh->cls == NGX_WS_CLASS_CRITICAL) {
            ngx_ws_slow_close(ws, sh);

        } else {
            dropped++;
        }

        rc = NGX_DECLINED;
    }

done:

    if (dropped) {
        ngx_log_error(NGX_LOG_WARN, ws->connection->log, 0,
                      "dropped %ui messages for a slow subscriber",
                      dropped);
        ngx_ws_stats->dropped += dropped;
    }

    return rc;
}


/*
 * A slow subscriber closed: with 1008 as ws_slow_subscriber close says,
 * with 1013 when a critical message would be lost; then the reason tells
 * where to resume, so that the client gets from the history what was not
 * written.
 */

static void
ngx_ws_slow_close(ngx_ws_conn_t *ws, ngx_ws_shared_t *sh)
{
    char        *why;
    ngx_uint_t   code, critical;
    u_char       reason[NGX_WS_MAX_CONTROL - 2 + 1];

    critical = (sh->cls == NGX_WS_CLASS_CRITICAL
                || ngx_ws_output_waiting(ws, 1 << NGX_WS_CLASS_CRITICAL));

    if (critical) {
        code = NGX_WS_CLOSE_TRY_AGAIN;
        why = "critical message does not fit";
        ngx_ws_stats->critical_closes++;

        if (ngx_ws_resume_reason(ws, sh, reason, sizeof(reason)) != NGX_OK) {
            ngx_cpystrn(reason, (u_char *) why, sizeof(reason));
        }

    } else {
        code = NGX_WS_CLOSE_POLICY;
        why = "subscriber is too slow";
    }

    ngx_ws_security_closed(ws, code, 0, "%s", why);

    (void) ngx_ws_drop_output(ws, 0);
    ngx_ws_end(ws, NGX_WS_FAIL, code, critical ? (char *) reason : NULL);

    /* it leaves its channels at once, not when its socket closes */
    ws->unsubscribe = 1;
}


/*
 * The maker of a frame holds a reference to it until the frame has been
 * offered to every subscriber of the batch: a subscriber that drops the
 * frame again within the batch (closed as slow, or its oldest messages
 * dropped) must not free it under the subscribers that follow.  A frame
 * nobody took is freed here.
 */

static void
ngx_ws_shared_done(ngx_ws_shared_t *sh)
{
    if (--sh->refs == 0) {
        ngx_destroy_pool(sh->pool);
    }
}


/*
 * The memory a channel frame of a message of len bytes holds in a queue,
 * as ngx_ws_shared_mem() will count it once ngx_ws_frame_msg() has made
 * it (without the JSON envelope): for a replay to know what fits in
 * ws_send_buffer before it copies anything.
 */

static size_t
ngx_ws_frame_mem(size_t len)
{
    size_t  mem;

    mem = sizeof(ngx_ws_msg_t) + ngx_ws_pool_size(len);

#if (NGX_DEBUG_PALLOC)
    /* every allocation is made outside the pool's block */
    mem += len + NGX_WS_MAX_HEADER;
#else
    if (len + 256 > NGX_MAX_ALLOC_FROM_POOL) {
        mem += len + NGX_WS_MAX_HEADER;
    }
#endif

    return mem;
}


/* a frame of a message, copied out of the zone (the mutex is held) */

static ngx_ws_shared_t *
ngx_ws_frame_msg(ngx_ws_sh_msg_t *m, ngx_str_t *channel, uint64_t uid,
    ngx_uint_t envelope, ngx_log_t *log)
{
    u_char           *p;
    size_t            len, extra;
    ngx_pool_t       *pool;
    ngx_ws_shared_t  *sh;

    if (!envelope || m->opcode != NGX_WS_OP_TEXT) {
        len = m->len;
        extra = 0;

    } else {
        extra = ngx_escape_json(NULL, m->data, m->len);
        len = sizeof("{\"channel\":\"\",\"id\":,\"data\":\"\"}") - 1
              + channel->len + ngx_escape_json(NULL, channel->data,
                                               channel->len)
              + NGX_INT64_LEN + m->len + extra;
    }

    pool = ngx_create_pool(ngx_ws_pool_size(len), log);
    if (pool == NULL) {
        return NULL;
    }

    sh = ngx_palloc(pool, sizeof(ngx_ws_shared_t));
    p = ngx_pnalloc(pool, len + 10 + m->key_len);

    if (sh == NULL || p == NULL) {
        ngx_destroy_pool(pool);
        return NULL;
    }

    sh->pool = pool;
    sh->refs = 1;                   /* the maker's, until shared_done() */
    sh->frame = p;

    /* the class and key go with the frame into the queues */

    sh->uid = uid;
    sh->id = m->id;
    sh->cls = m->cls;
    sh->hash = m->hash;
    sh->key_len = m->key_len;
    sh->key = p + len + 10;

    if (m->key_len) {
        ngx_memcpy(sh->key, m->data + m->len, m->key_len);
    }

    /* the header goes in front of the payload, written below */

    p += 10;

    if (!envelope || m->opcode != NGX_WS_OP_TEXT) {
        ngx_memcpy(p, m->data, m->len);

    } else {
        p = ngx_cpymem(p, "{\"channel\":\"", sizeof("{\"channel\":\"") - 1);
        p = (u_char *) ngx_escape_json(p, channel->data, channel->len);
        p = ngx_sprintf(p, "\",\"id\":%uL,\"data\":\"", m->id);
        p = (u_char *) ngx_escape_json(p, m->data, m->len);
        *p++ = '"';
        *p++ = '}';

        len = p - (sh->frame + 10);
    }

    /* the frame header right before the payload */

    p = sh->frame + 10 - ngx_ws_frame_header_size(len);
    (void) ngx_ws_frame_header(p, (u_char) (0x80 | m->opcode), len);

    sh->len = (sh->frame + 10 + len) - p;
    sh->payload = len;
    sh->frame = p;

    return sh;
}


/* {"event":"history_lost","channel":"...","last_id":N,"first_id":M} */

static ngx_ws_shared_t *
ngx_ws_history_lost(ngx_str_t *name, int64_t last_id, uint64_t first,
    ngx_log_t *log)
{
    return ngx_ws_history_lost_t(name, last_id, first, NULL, log);
}


/* the same event as a WebSocket frame, or formatted by a transport */

static ngx_ws_shared_t *
ngx_ws_history_lost_t(ngx_str_t *name, int64_t last_id, uint64_t first,
    ngx_ws_transport_t *t, ngx_log_t *log)
{
    u_char           *p;
    size_t            len;
    ngx_ws_sh_msg_t  *m;
    ngx_ws_shared_t  *sh;
    ngx_pool_t       *pool;

    len = sizeof("{\"event\":\"history_lost\",\"channel\":\"\","
                 "\"last_id\":,\"first_id\":}") - 1
          + name->len + ngx_escape_json(NULL, name->data, name->len)
          + 2 * NGX_INT64_LEN;

    pool = ngx_create_pool(ngx_align(ngx_max(2 * len + 512, 1024),
                                     NGX_ALIGNMENT), log);
    if (pool == NULL) {
        return NULL;
    }

    m = ngx_palloc(pool, offsetof(ngx_ws_sh_msg_t, data) + len);
    if (m == NULL) {
        ngx_destroy_pool(pool);
        return NULL;
    }

    p = ngx_cpymem(m->data, "{\"event\":\"history_lost\",\"channel\":\"",
                   sizeof("{\"event\":\"history_lost\",\"channel\":\"") - 1);
    p = (u_char *) ngx_escape_json(p, name->data, name->len);
    p = ngx_sprintf(p, "\",\"last_id\":%L,\"first_id\":%uL}",
                    last_id, first);

    m->len = p - m->data;
    m->cls = NGX_WS_CLASS_NORMAL;
    m->key_len = 0;
    m->hash = 0;

    if (t) {
        m->opcode = 0;
        m->id = first - 1;
        sh = t->format(m, name, log);

    } else {
        m->opcode = NGX_WS_OP_TEXT;
        sh = ngx_ws_frame_msg(m, NULL, 0, 0, log);
    }

    ngx_destroy_pool(pool);

    return sh;
}


/*
 * Publishes a message: the zone stores it and tells which workers have
 * subscribers of the channel; the others are woken, and this worker's
 * subscribers get it from the spool's posted event, once the handler that
 * published (a client's read pass, the publisher endpoint) has returned:
 * a publishing client never fans out from inside the frame parser.
 * Refusals as ngx_ws_channel_put().
 */

ngx_int_t
ngx_ws_publish(ngx_ws_zone_t *zone, ngx_str_t *name, ngx_uint_t push,
    ngx_uint_t opcode, u_char *data, size_t len, uint64_t *id,
    ngx_uint_t *subscribers)
{
    return ngx_ws_publish_pol(zone, name, push, NULL, opcode, data, len, id,
                              subscribers);
}


/* the same with a class and a conflation key (NULL: a normal message) */

ngx_int_t
ngx_ws_publish_pol(ngx_ws_zone_t *zone, ngx_str_t *name, ngx_uint_t push,
    ngx_ws_policy_t *pol, ngx_uint_t opcode, u_char *data, size_t len,
    uint64_t *id, ngx_uint_t *subscribers)
{
    ngx_int_t        rc;
    ngx_ws_stored_t  st;

    rc = ngx_ws_channel_put(zone, name, push, pol, opcode, data, len, &st);

    if (rc != NGX_OK) {
        return rc;
    }

    *id = st.id;
    *subscribers = st.subscribers;

    ngx_ws_channel_notify(zone, st.workers, st.uid);

    return NGX_OK;
}


/*
 * A channel changed (a message, a deletion): the workers in the mask are
 * woken, and this worker delivers from a posted event.  Several publishes
 * in one pass of the event loop make one delivery of all of them.
 */

void
ngx_ws_channel_notify(ngx_ws_zone_t *zone, uint64_t workers, uint64_t uid)
{
    ngx_ws_spool_t  *spool;

    ngx_ws_zone_notify(zone, workers, uid);

    spool = ngx_ws_spool_find(zone, uid);

    if (spool) {
        ngx_post_event(&spool->deliver_ev, &ngx_posted_events);
    }
}


static void
ngx_ws_spool_deliver_handler(ngx_event_t *ev)
{
    ngx_ws_channel_deliver(ev->data);
}


/*
 * Another worker published (ngx_ws_notify.c): the channel uid is
 * delivered to this worker's subscribers; for uid 0 (a wake-up was lost)
 * every channel of the zone that this worker has subscribers of is.
 */

static void
ngx_ws_channel_wake(ngx_ws_zone_t *zone, uint64_t uid)
{
    ngx_ws_spool_t     *spool;
    ngx_rbtree_node_t  *node, *next, *root, *sentinel;

    if (uid) {
        spool = ngx_ws_spool_find(zone, uid);

        if (spool) {
            ngx_ws_channel_deliver(spool);
        }

        return;
    }

    sentinel = zone->spools.sentinel;
    root = zone->spools.root;

    if (root == NULL || root == sentinel) {
        return;
    }

    for (node = ngx_rbtree_min(root, sentinel);
         node;
         node = next)
    {
        next = ngx_rbtree_next(&zone->spools, node);
        ngx_ws_channel_deliver((ngx_ws_spool_t *) node);
    }
}


/*
 * Is the client subscribed to the channel it has just published to, with
 * that channel's delivery posted?  Usually it has no subscription, or one.
 */

static ngx_uint_t
ngx_ws_publisher_subscribed(ngx_ws_conn_t *ws, ngx_str_t *name,
    ngx_ws_zone_t *zone)
{
    ngx_queue_t     *q;
    ngx_ws_sub_t    *sub;
    ngx_ws_spool_t  *spool;

    for (q = ngx_queue_head(&ws->subs);
         q != ngx_queue_sentinel(&ws->subs);
         q = ngx_queue_next(q))
    {
        sub = ngx_queue_data(q, ngx_ws_sub_t, link);
        spool = sub->spool;

        if (spool->zone == zone && !spool->push
            && spool->name.len == name->len
            && ngx_strncmp(spool->name.data, name->data, name->len) == 0)
        {
            return spool->deliver_ev.posted;
        }
    }

    return 0;
}


/*
 * A message from a client of a ws_publish location.  Its delivery here is
 * posted like every other.  A client subscribed to the channel it publishes
 * to must still get its message before anything that follows it on the
 * connection (the Pong for a Ping sent after it, the echo of its Close, a
 * Close for a protocol error): NGX_WS_HOLD_OWN stops the read loop at the end
 * of this message, and the read loop resumes from a read event it posts
 * behind the channel's delivery event (ngx_ws_read() in ngx_ws_conn.c).
 */

ngx_int_t
ngx_ws_channel_publish_message(ngx_ws_conn_t *ws, ngx_ws_policy_t *pol,
    ngx_uint_t opcode, u_char *data, size_t len)
{
    ngx_int_t  rc;

    if (ws->publish.len == 0) {
        return NGX_OK;
    }

    rc = ngx_ws_channel_publish_pol(ws, ws->conf->publish->zone, &ws->publish,
                                    pol, opcode, data, len);

    return (rc == NGX_ABORT) ? NGX_BUSY : rc;
}


/*
 * A message of the connection to a channel of a zone (ws_publish, a
 * ws_route publish route): NGX_OK, NGX_DECLINED (too big), NGX_BUSY, or
 * NGX_ABORT for an invalid name (a name made from variables).
 */

ngx_int_t
ngx_ws_channel_publish_to(ngx_ws_conn_t *ws, ngx_ws_zone_t *zone,
    ngx_str_t *name, ngx_uint_t opcode, u_char *data, size_t len)
{
    return ngx_ws_channel_publish_pol(ws, zone, name, NULL, opcode, data,
                                      len);
}


ngx_int_t
ngx_ws_channel_publish_pol(ngx_ws_conn_t *ws, ngx_ws_zone_t *zone,
    ngx_str_t *name, ngx_ws_policy_t *pol, ngx_uint_t opcode, u_char *data,
    size_t len)
{
    uint64_t    id;
    ngx_int_t   rc;
    ngx_uint_t  n;

    if (name != &ws->publish
        && ngx_ws_channel_name(zone, name, NGX_LOG_INFO, "client",
                               ws->connection->log)
           != NGX_OK)
    {
        return NGX_ABORT;
    }

    if (zone->redis) {
        /*
         * through Redis: delivered, here too, when read from the stream;
         * refused (1013) while Redis is unavailable
         */
        rc = ngx_ws_redis_publish(zone, name, pol, opcode, data, len, NULL,
                                  NULL);
        if (rc == NGX_OK) {
            return NGX_OK;
        }

        if (rc == NGX_WS_ZONE_TOO_BIG) {
            ngx_ws_zone_refused(zone, rc, len, ws->connection->log);
            return NGX_DECLINED;
        }

        ngx_log_error(NGX_LOG_INFO, ws->connection->log, 0,
                      "client message to channel \"%V\" refused: redis "
                      "\"%V\" %s", name, &zone->redis->addr,
                      (rc == NGX_BUSY) ? "has too many commands in flight"
                                       : "is unavailable");

        return NGX_BUSY;
    }

    rc = ngx_ws_publish_pol(zone, name, 0, pol, opcode, data, len, &id, &n);

    if (rc == NGX_OK) {
        ngx_log_debug3(NGX_LOG_DEBUG_HTTP, ws->connection->log, 0,
                       "ws published to \"%V\" id:%uL subscribers:%ui",
                       name, id, n);

        if (ngx_ws_publisher_subscribed(ws, name, zone)) {
            ws->hold |= NGX_WS_HOLD_OWN;
        }

        return NGX_OK;
    }

    ngx_ws_zone_refused(zone, rc, len, ws->connection->log);

    /* the caller closes with 1009 for NGX_DECLINED, 1013 otherwise */

    return (rc == NGX_WS_ZONE_TOO_BIG) ? NGX_DECLINED : NGX_BUSY;
}


/*
 * Hands a batch to a WebSocket subscriber: queued for it, or held while its
 * snapshot is on its way; one that would miss a message it cannot be told
 * of (the history_lost event or a frame could not be made) is ended.
 */

static void
ngx_ws_deliver_ws(ngx_ws_sub_t *sub, ngx_ws_shared_t *lost,
    ngx_ws_frames_t *frames, ngx_uint_t n, ngx_uint_t missed)
{
    ngx_uint_t        k;
    ngx_ws_shared_t  *sh, *tmp;

    if (sub->hold) {
        ngx_ws_hold_frames(sub, missed, frames, n);
        return;
    }

    if (missed && lost == NULL) {
        ngx_ws_subscriber_fail(sub->ws);
        return;
    }

    if (lost) {
        ngx_ws_queue_one(sub->ws, lost);
    }

    for (k = 0; k < n; k++) {
        if (frames[k].id <= sub->skip) {
            /* in the snapshot it got (a Redis-backed zone) */
            continue;
        }

        sub->skip = 0;

        sh = ngx_ws_frame_for(sub->ws, &frames[k], &tmp);

        if (sh == NULL) {
            /* a gap in its messages would go unseen */
            ngx_ws_subscriber_fail(sub->ws);
            return;
        }

        ngx_ws_queue_frame(sub->ws, sh);

        if (tmp) {
            ngx_ws_shared_done(tmp);
        }
    }
}


/*
 * Hands a batch to a subscriber of another transport; one that would miss
 * a message it cannot be told of is ended.
 */

static void
ngx_ws_deliver_http(ngx_ws_sub_t *sub, ngx_ws_shared_t *lost,
    uint64_t lost_id, ngx_ws_frames_t *frames, ngx_uint_t n,
    ngx_uint_t missed)
{
    ngx_uint_t           k, idx;
    ngx_ws_transport_t  *t;

    t = sub->transport;
    idx = t->index;

    if (missed) {
        if (lost == NULL) {
            t->end(sub, "history_lost event could not be formatted");
            return;
        }

        sub->last_id = lost_id;

        if (t->deliver(sub, lost) != NGX_OK) {
            return;
        }
    }

    for (k = 0; k < n; k++) {
        if (frames[k].http[idx] == NULL) {
            t->end(sub, "a message could not be formatted");
            return;
        }

        sub->last_id = frames[k].id;

        if (t->deliver(sub, frames[k].http[idx]) != NGX_OK) {
            return;
        }
    }
}


/*
 * A subscriber of another transport joins a channel: it gets the messages
 * after last_id (or only new ones for -1), as a WebSocket subscriber does,
 * then every new one through t->deliver().  Returns NULL on failure (the
 * zone is full, no memory), logged.
 */

ngx_ws_sub_t *
ngx_ws_channel_subscribe(ngx_ws_zone_t *zone, ngx_str_t *name,
    int64_t last_id, ngx_ws_transport_t *t, void *data, ngx_queue_t *subs,
    ngx_log_t *log)
{
    uint64_t                upto;
    ngx_int_t               rc;
    ngx_uint_t              behind, unsynced;
    ngx_ws_sub_t           *sub;
    ngx_ws_spool_t         *spool, *fresh;
    ngx_ws_channel_node_t  *cn;

    if (zone->slot == -1) {
        ngx_log_error(NGX_LOG_ALERT, log, 0,
                      "ws_zone \"%V\" is not usable in this worker",
                      &zone->name);
        return NULL;
    }

    fresh = ngx_alloc(sizeof(ngx_ws_spool_t) + name->len, log);
    if (fresh == NULL) {
        return NULL;
    }

    sub = ngx_alloc(sizeof(ngx_ws_sub_t), log);
    if (sub == NULL) {
        ngx_free(fresh);
        return NULL;
    }

    ngx_shmtx_lock(&zone->shpool->mutex);

    cn = ngx_ws_channel_lookup(zone, name, 0);

    if (cn == NULL) {
        cn = ngx_ws_channel_create(zone, name, 0, &rc);

        if (cn == NULL) {
            ngx_shmtx_unlock(&zone->shpool->mutex);
            ngx_free(fresh);
            ngx_free(sub);

            ngx_ws_zone_refused(zone, rc, 0, log);
            return NULL;
        }
    }

    if (ngx_ws_channel_add_subscriber(zone, cn) != NGX_OK) {
        ngx_shmtx_unlock(&zone->shpool->mutex);
        ngx_free(fresh);
        ngx_free(sub);

        ngx_log_error(NGX_LOG_ERR, log, 0,
                      "ws zone \"%V\" is full", &zone->name);
        return NULL;
    }

    spool = ngx_ws_spool_make(zone, cn, name, 0, &fresh);

    upto = spool->last_id;

    /* ahead of this worker: as in ngx_ws_subscribe_one() */
    behind = (last_id > 0 && (uint64_t) last_id > upto
              && (uint64_t) last_id <= cn->last_id);

    unsynced = (zone->redis && !cn->synced);

    ngx_shmtx_unlock(&zone->shpool->mutex);

    if (fresh) {
        ngx_free(fresh);
    }

    if (behind) {
        ngx_ws_channel_deliver(spool);
        upto = spool->last_id;
    }

    sub->spool = spool;
    sub->ws = NULL;
    sub->transport = t;
    sub->data = data;
    sub->member = 0;
    sub->hold = NULL;
    sub->resume = -1;
    sub->skip = 0;
    sub->last_id = (last_id < 0) ? upto : (uint64_t) last_id;
    ngx_queue_insert_tail(&spool->subs, &sub->queue);
    ngx_queue_insert_tail(subs, &sub->link);
    spool->nsubs++;

    ngx_log_debug3(NGX_LOG_DEBUG_HTTP, log, 0,
                   "ws subscribe \"%V\" uid:%uL last_id:%L",
                   name, spool->uid, last_id);

    if (unsynced && last_id >= 0) {
        /* replayed once the channel is synced (ngx_ws_channel_resume()) */
        sub->resume = last_id;
        spool->resume = 1;
        return sub;
    }

    if (last_id >= 0 && (uint64_t) last_id != upto) {
        ngx_ws_http_replay(sub, name, last_id, upto, log);
    }

    return sub;
}


/* what a subscriber of another transport missed, in batches of 64 */

static ngx_int_t
ngx_ws_http_replay(ngx_ws_sub_t *sub, ngx_str_t *name, int64_t last_id,
    uint64_t upto, ngx_log_t *log)
{
    uint64_t                first, from, ids[64], lost_id;
    ngx_int_t               rc;
    ngx_uint_t              k, n, more, beyond, failed;
    ngx_ws_zone_t          *zone;
    ngx_ws_spool_t         *spool;
    ngx_ws_sh_msg_t        *m;
    ngx_ws_shared_t        *batch[64], *lost;
    ngx_ws_transport_t     *t;
    ngx_ws_channel_node_t  *cn;

    spool = sub->spool;
    zone = spool->zone;
    t = sub->transport;

    beyond = ((uint64_t) last_id > upto);

    for ( ;; ) {
        n = 0;
        lost = NULL;
        lost_id = 0;
        failed = 0;

        ngx_shmtx_lock(&zone->shpool->mutex);

        cn = ngx_ws_channel_lookup(zone, name, 0);

        if (cn == NULL || cn->uid != spool->uid) {
            ngx_shmtx_unlock(&zone->shpool->mutex);
            return NGX_OK;
        }

        ngx_ws_channel_trim(zone, cn);

        first = ngx_ws_channel_first(zone, cn);

        from = last_id ? (uint64_t) last_id : cn->base;

        if (from + 1 < first || beyond) {
            lost = ngx_ws_history_lost_t(name, last_id, first, t, log);
            failed = (lost == NULL);
            lost_id = first - 1;
            last_id = first - 1;
            beyond = 0;
        }

        for (m = ngx_ws_channel_after(cn, last_id);
             m && m->id <= upto && n < 64 && !failed;
             m = ngx_ws_channel_next(cn, m))
        {
            last_id = m->id;

            if (zone->ttl && ngx_time() - m->time > zone->ttl) {
                continue;
            }

            batch[n] = t->format(m, name, log);

            if (batch[n] == NULL) {
                failed = 1;
                break;
            }

            ids[n++] = m->id;
        }

        more = (m != NULL && m->id <= upto);

        ngx_shmtx_unlock(&zone->shpool->mutex);

        rc = NGX_OK;

        if (lost) {
            sub->last_id = lost_id;
            rc = t->deliver(sub, lost);
            ngx_ws_shared_done(lost);
        }

        for (k = 0; k < n; k++) {
            if (rc == NGX_OK) {
                sub->last_id = ids[k];
                rc = t->deliver(sub, batch[k]);
            }

            ngx_ws_shared_done(batch[k]);
        }

        if (failed && rc == NGX_OK) {
            t->end(sub, "a message could not be formatted");
            return NGX_OK;
        }

        if (!more || rc != NGX_OK) {
            return NGX_OK;
        }
    }
}


/* a subscriber of another transport leaves (from its own event) */

void
ngx_ws_channel_unsubscribe(ngx_ws_sub_t *sub)
{
    ngx_ws_unsubscribe_one(sub);
}


int64_t
ngx_ws_channel_last_id(ngx_pool_t *pool, ngx_str_t *value, ngx_str_t *name)
{
    return ngx_ws_last_id(pool, value, name);
}


/* a history_lost event of the channel, formatted by the transport */

ngx_ws_shared_t *
ngx_ws_channel_history_lost(ngx_str_t *name, int64_t last_id, uint64_t first,
    ngx_ws_transport_t *t, ngx_log_t *log)
{
    return ngx_ws_history_lost_t(name, last_id, first, t, log);
}


/* "normal", "droppable" or "critical" (docs/message-policy.md) */

ngx_int_t
ngx_ws_policy_class(ngx_str_t *value, ngx_uint_t *cls)
{
    if (value->len == 6 && ngx_strncmp(value->data, "normal", 6) == 0) {
        *cls = NGX_WS_CLASS_NORMAL;

    } else if (value->len == 9
               && ngx_strncmp(value->data, "droppable", 9) == 0)
    {
        *cls = NGX_WS_CLASS_DROPPABLE;

    } else if (value->len == 8
               && ngx_strncmp(value->data, "critical", 8) == 0)
    {
        *cls = NGX_WS_CLASS_CRITICAL;

    } else {
        return NGX_ERROR;
    }

    return NGX_OK;
}


/*
 * ws_snapshot: the subscriber gets nothing of the channel until its
 * snapshot has come (or failed); the snapshot request is started, and what
 * the channel delivers meanwhile is held (ngx_ws_hold_frame()).
 */

static ngx_int_t
ngx_ws_hold_start(ngx_ws_sub_t *sub, ngx_str_t *name, int64_t last_id,
    uint64_t upto, uint64_t chan_last, ngx_uint_t wait)
{
    ngx_ws_hold_t  *hold;

    hold = ngx_calloc(sizeof(ngx_ws_hold_t), sub->ws->connection->log);
    if (hold == NULL) {
        return NGX_ERROR;
    }

    hold->start = upto;
    hold->chan_last = chan_last;
    hold->last_id = last_id;
    hold->waiting = wait;

    sub->hold = hold;

    if (!wait) {
        ngx_ws_hold_ask(sub, name);
    }

    return NGX_OK;
}


/* the snapshot request */

static void
ngx_ws_hold_ask(ngx_ws_sub_t *sub, ngx_str_t *name)
{
    ngx_ws_hold_t  *hold;

    hold = sub->hold;

    hold->owner = ngx_ws_snapshot_start(sub->ws, sub, name, hold->last_id);

    if (hold->owner == NULL) {
        ngx_log_error(NGX_LOG_ERR, sub->ws->connection->log, 0,
                      "ws snapshot of channel \"%V\" could not be asked for",
                      name);
        ngx_ws_channel_snapshot(sub, NULL);
    }
}


/* a batch while the snapshot is awaited; a gap comes back as history_lost */

static void
ngx_ws_hold_frames(ngx_ws_sub_t *sub, ngx_uint_t missed,
    ngx_ws_frames_t *frames, ngx_uint_t n)
{
    ngx_uint_t        k;
    ngx_ws_shared_t  *sh, *tmp;

    if (missed) {
        ngx_ws_hold_frame(sub, NULL, 0);
    }

    for (k = 0; k < n; k++) {
        if (frames[k].id <= sub->skip) {
            /* in the snapshot it got (a Redis-backed zone) */
            continue;
        }

        sub->skip = 0;

        sh = ngx_ws_frame_for(sub->ws, &frames[k], &tmp);
        ngx_ws_hold_frame(sub, sh, frames[k].id);

        if (tmp) {
            ngx_ws_shared_done(tmp);
        }
    }
}


/* a frame of the channel while the snapshot is awaited; NULL: let go */

static void
ngx_ws_hold_frame(ngx_ws_sub_t *sub, ngx_ws_shared_t *sh, uint64_t id)
{
    size_t          mem;
    ngx_uint_t      k;
    ngx_ws_conn_t  *ws;
    ngx_ws_hold_t  *hold;
    ngx_ws_held_t  *held;

    hold = sub->hold;
    ws = sub->ws;

    if (hold->overflow) {
        return;
    }

    mem = sh ? ngx_ws_shared_mem(sh) : 0;

    if (sh == NULL || ws->out.mem + hold->mem + mem > ws->conf->send_buffer) {
        goto overflow;
    }

    if (hold->nheld == hold->nalloc) {
        k = hold->nalloc ? 2 * hold->nalloc : 16;

        held = ngx_alloc(k * sizeof(ngx_ws_held_t), ws->connection->log);
        if (held == NULL) {
            goto overflow;
        }

        if (hold->held) {
            ngx_memcpy(held, hold->held, hold->nheld * sizeof(ngx_ws_held_t));
            ngx_free(hold->held);
        }

        hold->held = held;
        hold->nalloc = k;
    }

    sh->refs++;
    hold->held[hold->nheld].sh = sh;
    hold->held[hold->nheld].id = id;
    hold->nheld++;
    hold->mem += mem;

    return;

overflow:

    /*
     * Nothing more is held: all is replayed from the history after the
     * snapshot.  What is held stays until then (it is within
     * ws_send_buffer): released here, a frame of the batch being
     * delivered could be freed under the other subscribers.
     */

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, ws->connection->log, 0,
                   "ws snapshot hold over after %ui frames", hold->nheld);

    hold->overflow = 1;
}


static void
ngx_ws_hold_free(ngx_ws_sub_t *sub)
{
    ngx_uint_t        k;
    ngx_ws_hold_t    *hold;
    ngx_ws_shared_t  *sh;

    hold = sub->hold;
    sub->hold = NULL;

    if (hold->owner) {
        /* the snapshot, still on its way, goes nowhere */
        *hold->owner = NULL;
    }

    for (k = 0; k < hold->nheld; k++) {
        sh = hold->held[k].sh;

        if (--sh->refs == 0) {
            ngx_destroy_pool(sh->pool);
        }
    }

    if (hold->held) {
        ngx_free(hold->held);
    }

    ngx_free(hold);
}


/*
 * The snapshot came (snap), or failed (NULL).  The client gets the
 * snapshot, then every message after the id it reflects: from the history
 * up to what this worker had delivered when the subscriber joined, then
 * what was held since.
 */

void
ngx_ws_channel_snapshot(ngx_ws_sub_t *sub, ngx_ws_snapshot_t *snap)
{
    int64_t           from;
    uint64_t          upto, after;
    ngx_uint_t        k, resume;
    ngx_ws_conn_t    *ws;
    ngx_ws_hold_t    *hold;
    ngx_ws_spool_t   *spool;
    ngx_ws_shared_t  *sh;

    ws = sub->ws;
    spool = sub->spool;
    hold = sub->hold;

    hold->owner = NULL;

    if (snap == NULL) {
        ngx_ws_stats->snapshots_failed++;

        if (ws->conf->snapshot_error == NGX_WS_SNAPSHOT_CLOSE) {
            ngx_log_error(NGX_LOG_ERR, ws->connection->log, 0,
                          "no snapshot of channel \"%V\", closing with %d",
                          &spool->name, NGX_WS_CLOSE_INTERNAL);

            ngx_ws_hold_free(sub);
            ngx_ws_end(ws, NGX_WS_GOODBYE, NGX_WS_CLOSE_INTERNAL, NULL);
            ws->unsubscribe = 1;
            return;
        }

        ngx_log_error(NGX_LOG_WARN, ws->connection->log, 0,
                      "no snapshot of channel \"%V\", going on without",
                      &spool->name);
    }

    /* what other workers published meanwhile, held too */
    ngx_ws_channel_deliver(spool);

    if (sub->hold == NULL || ws->close_sent) {
        if (sub->hold) {
            ngx_ws_hold_free(sub);
        }

        return;
    }

    /*
     * Where the client resumes: the snapshot's id; a snapshot without
     * X-WS-Snapshot-Id reflects the channel as it was when it was asked
     * for; without a snapshot (an empty reply, a failure), the client's
     * last id or the moment it joined.
     */

    resume = 0;

    if (snap && snap->has_id) {
        from = (int64_t) snap->id;

        if (snap->id > spool->last_id && spool->zone->redis) {
            /*
             * the application saw messages of Redis that this instance
             * has not read yet: they are in the snapshot, so they are
             * skipped when they come
             */
            sub->skip = snap->id;

        } else if (snap->id > spool->last_id) {
            ngx_log_error(NGX_LOG_WARN, ws->connection->log, 0,
                          "upstream sent X-WS-Snapshot-Id %uL of channel "
                          "\"%V\" ahead of its last id %uL",
                          snap->id, &spool->name, spool->last_id);
            from = (int64_t) spool->last_id;
        }

    } else if (snap && snap->len) {
        from = (int64_t) hold->chan_last;

    } else if (hold->last_id >= 0) {
        from = hold->last_id;
        resume = 1;

    } else {
        from = (int64_t) hold->start;
    }

    if (snap && snap->len) {
        sh = ngx_ws_snapshot_frame(snap, &spool->name, (uint64_t) from,
                                   ws->conf->envelope, ws->connection->log);
        if (sh == NULL) {
            ngx_ws_hold_free(sub);
            ngx_ws_subscriber_fail(ws);
            return;
        }

        ngx_ws_queue_one(ws, sh);
        ngx_ws_shared_done(sh);

        ngx_ws_stats->snapshots_sent++;
    }

    /* the history covers up to upto, the held frames what follows */

    upto = hold->overflow ? spool->last_id : hold->start;
    after = upto;

    if ((uint64_t) from < upto || (resume && (uint64_t) from != upto)) {
        (void) ngx_ws_replay(ws, spool->zone, spool, &spool->name,
                             spool->push, from, upto);

    } else {
        after = (uint64_t) from;
    }

    for (k = 0; k < hold->nheld && !ws->close_sent; k++) {
        if (!hold->overflow && hold->held[k].id > after) {
            ngx_ws_queue_frame(ws, hold->held[k].sh);
        }
    }

    if (sub->hold) {
        ngx_ws_hold_free(sub);
    }
}


/* {"event":"snapshot","channel":"...","id":N,"data":"..."}, or as it is */

static ngx_ws_shared_t *
ngx_ws_snapshot_frame(ngx_ws_snapshot_t *snap, ngx_str_t *name, uint64_t id,
    ngx_uint_t envelope, ngx_log_t *log)
{
    u_char           *p;
    size_t            len;
    ngx_pool_t       *pool;
    ngx_ws_sh_msg_t  *m;
    ngx_ws_shared_t  *sh;

    envelope = (envelope && snap->opcode == NGX_WS_OP_TEXT);

    len = snap->len;

    if (envelope) {
        len = sizeof("{\"event\":\"snapshot\",\"channel\":\"\",\"id\":,"
                     "\"data\":\"\"}") - 1
              + name->len + ngx_escape_json(NULL, name->data, name->len)
              + NGX_INT64_LEN
              + snap->len + ngx_escape_json(NULL, snap->data, snap->len);
    }

    pool = ngx_create_pool(ngx_ws_pool_size(len), log);
    if (pool == NULL) {
        return NULL;
    }

    m = ngx_palloc(pool, offsetof(ngx_ws_sh_msg_t, data) + len);
    if (m == NULL) {
        ngx_destroy_pool(pool);
        return NULL;
    }

    if (envelope) {
        p = ngx_cpymem(m->data, "{\"event\":\"snapshot\",\"channel\":\"",
                       sizeof("{\"event\":\"snapshot\",\"channel\":\"") - 1);
        p = (u_char *) ngx_escape_json(p, name->data, name->len);
        p = ngx_sprintf(p, "\",\"id\":%uL,\"data\":\"", id);
        p = (u_char *) ngx_escape_json(p, snap->data, snap->len);
        *p++ = '"';
        *p++ = '}';

    } else {
        p = ngx_cpymem(m->data, snap->data, snap->len);
    }

    m->len = p - m->data;
    m->opcode = envelope ? NGX_WS_OP_TEXT : snap->opcode;
    m->id = id;
    m->cls = NGX_WS_CLASS_NORMAL;
    m->key_len = 0;
    m->hash = 0;

    sh = ngx_ws_frame_msg(m, NULL, 0, 0, log);

    ngx_destroy_pool(pool);

    return sh;
}
