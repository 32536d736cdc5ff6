
/*
 * Copyright (C) ngx_ws_module authors
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include "ngx_ws_module.h"
#include "ngx_ws_zone.h"


/*
 * Presence: who is in a channel.  A connection of a location with
 * ws_presence has an identity (evaluated once, at the handshake); each
 * channel keeps its members in the zone, an identity with the number of
 * its subscriptions, per worker slot as well so that a dead worker's share
 * can be taken back.  When an identity's count goes from 0 to 1 it joins,
 * from 1 to 0 it leaves: one event for all its connections on all the
 * workers, stored as a message of the channel or of its companion
 * (ws_zone presence_events=), with an id and history like any other.
 *
 * Everything here runs with the zone locked; the callers wake the workers
 * that have subscribers of the channel an event went to.
 *
 * On a Redis-backed zone the members are still counted here, per instance,
 * but an event is not stored here: it is published through Redis like any
 * other message (the publish script, one pipelined command per event), and
 * comes back with its id from the zone's reader, on every instance.  An
 * event Redis cannot take (unavailable, refusing writes, too many commands
 * in flight) is dropped: counted with the refused publishes, logged at
 * warn once until an event goes through again.
 */


static ngx_ws_sh_member_t *ngx_ws_presence_find(ngx_ws_channel_node_t *cn,
    u_char *id, size_t len);
static ngx_int_t ngx_ws_presence_store(ngx_ws_zone_t *zone,
    ngx_ws_channel_node_t *cn, u_char *id, size_t len, char *reason,
    ngx_log_t *log, ngx_ws_stored_t *st);
static ngx_uint_t ngx_ws_presence_companion(ngx_ws_zone_t *zone,
    ngx_ws_channel_node_t *cn);
static void ngx_ws_presence_redis(ngx_ws_zone_t *zone, ngx_str_t *to,
    u_char *data, size_t len, ngx_log_t *log);
static void ngx_ws_presence_published(void *data, ngx_int_t rc,
    uint64_t id);
static void ngx_ws_presence_flush(ngx_event_t *timer);
static void ngx_ws_presence_sent(ngx_ws_zone_t *zone, ngx_str_t *to,
    ngx_int_t rc, ngx_log_t *log);


/* an event of a Redis-backed zone that waits to be sent */

typedef struct {
    ngx_queue_t                 queue;
    ngx_ws_zone_t              *zone;
    ngx_str_t                   to;
    u_char                     *data;
    size_t                      len;
} ngx_ws_presence_ev_t;


#define NGX_WS_PRESENCE_RETRY  50


ngx_ws_redis_publish_pt  ngx_ws_presence_publisher;

static ngx_queue_t       ngx_ws_presence_pending;
static ngx_event_t       ngx_ws_presence_retry;


static ngx_ws_sh_member_t *
ngx_ws_presence_find(ngx_ws_channel_node_t *cn, u_char *id, size_t len)
{
    ngx_ws_sh_member_t  *m;

    for (m = cn->members; m; m = m->next) {
        if (m->len == len && ngx_memcmp(m->id, id, len) == 0) {
            return m;
        }
    }

    return NULL;
}


/* a companion channel (NAME + suffix) has no members of its own */

static ngx_uint_t
ngx_ws_presence_companion(ngx_ws_zone_t *zone, ngx_ws_channel_node_t *cn)
{
    ngx_str_t  *sfx;

    if (zone->presence_events != NGX_WS_PRESENCE_COMPANION) {
        return 0;
    }

    sfx = &zone->presence_suffix;

    return cn->len >= sfx->len
           && ngx_memcmp(cn->name + cn->len - sfx->len, sfx->data, sfx->len)
              == 0;
}


/*
 * A subscription of an identity to a channel.  *member tells whether it is
 * counted (it is not over max_members, nor when the zone is full);
 * NGX_OK when a join event was stored, with st for the wake-up.
 */

ngx_int_t
ngx_ws_presence_join(ngx_ws_zone_t *zone, ngx_ws_channel_node_t *cn,
    ngx_str_t *id, ngx_log_t *log, ngx_uint_t *member, ngx_ws_stored_t *st)
{
    ngx_str_t            name;
    ngx_ws_sh_count_t   *c;
    ngx_ws_sh_member_t  *m;

    *member = 0;

    if (cn->push || ngx_ws_presence_companion(zone, cn)) {
        return NGX_DECLINED;
    }

    m = ngx_ws_presence_find(cn, id->data, id->len);

    if (m) {
        for (c = m->counts; c; c = c->next) {
            if (c->slot == (uint32_t) zone->slot) {
                break;
            }
        }

        if (c == NULL) {
            c = ngx_ws_zone_alloc(zone, sizeof(ngx_ws_sh_count_t), cn);
            if (c == NULL) {
                goto full;
            }

            c->slot = (uint32_t) zone->slot;
            c->n = 0;
            c->next = m->counts;
            m->counts = c;
        }

        c->n++;
        m->n++;
        cn->members_gen++;
        *member = 1;

        return NGX_DECLINED;
    }

    if (cn->nmembers >= zone->max_members) {
        name.len = cn->len;
        name.data = cn->name;

        ngx_log_error(NGX_LOG_WARN, log, 0,
                      "ws_zone \"%V\": channel \"%V\" has max_members=%ui "
                      "members, \"%V\" is not counted as one",
                      &zone->name, &name, zone->max_members, id);
        return NGX_DECLINED;
    }

    m = ngx_ws_zone_alloc(zone, offsetof(ngx_ws_sh_member_t, id) + id->len,
                          cn);
    if (m == NULL) {
        goto full;
    }

    c = ngx_ws_zone_alloc(zone, sizeof(ngx_ws_sh_count_t), cn);
    if (c == NULL) {
        ngx_slab_free_locked(zone->shpool, m);
        goto full;
    }

    c->slot = (uint32_t) zone->slot;
    c->n = 1;
    c->next = NULL;

    m->counts = c;
    m->n = 1;
    m->len = id->len;
    ngx_memcpy(m->id, id->data, id->len);

    m->next = cn->members;
    cn->members = m;
    cn->nmembers++;
    cn->members_gen++;

    *member = 1;

    return ngx_ws_presence_store(zone, cn, id->data, id->len, NULL, log, st);

full:

    ngx_log_error(NGX_LOG_ERR, log, 0,
                  "ws zone \"%V\" is full: \"%V\" is not counted as a member",
                  &zone->name, id);

    return NGX_DECLINED;
}


/*
 * A counted subscription ends; NGX_OK when the identity left, with a leave
 * event stored (st for the wake-up).  Nothing is done when the slot was
 * taken back meanwhile.
 */

ngx_int_t
ngx_ws_presence_part(ngx_ws_zone_t *zone, ngx_ws_channel_node_t *cn,
    ngx_str_t *id, char *reason, ngx_log_t *log, ngx_ws_stored_t *st)
{
    ngx_ws_sh_count_t   *c, **cp;
    ngx_ws_sh_member_t  *m, **mp;

    for (mp = &cn->members; *mp; mp = &(*mp)->next) {
        m = *mp;

        if (m->len != id->len || ngx_memcmp(m->id, id->data, id->len) != 0) {
            continue;
        }

        for (cp = &m->counts; *cp; cp = &(*cp)->next) {
            c = *cp;

            if (c->slot != (uint32_t) zone->slot) {
                continue;
            }

            m->n--;
            cn->members_gen++;

            if (--c->n == 0) {
                *cp = c->next;
                ngx_slab_free_locked(zone->shpool, c);
            }

            if (m->n) {
                return NGX_DECLINED;
            }

            *mp = m->next;
            cn->nmembers--;
            ngx_slab_free_locked(zone->shpool, m);

            return ngx_ws_presence_store(zone, cn, id->data, id->len, reason,
                                         log, st);
        }

        return NGX_DECLINED;
    }

    return NGX_DECLINED;
}


/*
 * A worker has gone: its share of every member goes, and the identities
 * that had no other connection leave with the reason ("crash", or
 * "closed" for this worker's own exit).  The slots to wake are added to
 * zone->presence_wake; the caller wakes them once the zone is unlocked.
 * Storing an event may reorder or evict channels: the walk starts over,
 * and finds nothing more to do where it has been.
 */

void
ngx_ws_presence_forget_slot(ngx_ws_zone_t *zone, ngx_uint_t slot,
    char *reason)
{
    ngx_queue_t            *q;
    ngx_uint_t              again;
    ngx_ws_stored_t         st;
    ngx_ws_sh_count_t      *c, **cp;
    ngx_ws_sh_member_t     *m, **mp;
    ngx_ws_channel_node_t  *cn;

    do {
        again = 0;

        for (q = ngx_queue_head(&zone->sh->lru);
             q != ngx_queue_sentinel(&zone->sh->lru) && !again;
             q = ngx_queue_next(q))
        {
            cn = ngx_queue_data(q, ngx_ws_channel_node_t, queue);

            mp = &cn->members;

            while (*mp) {
                m = *mp;

                for (cp = &m->counts; *cp; cp = &(*cp)->next) {
                    if ((*cp)->slot == (uint32_t) slot) {
                        break;
                    }
                }

                if (*cp == NULL) {
                    mp = &m->next;
                    continue;
                }

                c = *cp;
                *cp = c->next;
                m->n -= ngx_min(m->n, c->n);
                cn->members_gen++;
                ngx_slab_free_locked(zone->shpool, c);

                if (m->n) {
                    mp = &m->next;
                    continue;
                }

                *mp = m->next;
                cn->nmembers--;

                if (ngx_ws_presence_store(zone, cn, m->id, m->len, reason,
                                          ngx_cycle->log, &st)
                    == NGX_OK)
                {
                    zone->presence_wake |= st.workers;
                    again = 1;
                }

                ngx_slab_free_locked(zone->shpool, m);

                if (again) {
                    break;
                }
            }
        }

    } while (again);
}


/*
 * {"event":"join","channel":"NAME","member":"ID"}, or "leave" with
 * ,"reason":"R", into the channel or its companion.
 */

static ngx_int_t
ngx_ws_presence_store(ngx_ws_zone_t *zone, ngx_ws_channel_node_t *cn,
    u_char *id, size_t len, char *reason, ngx_log_t *log, ngx_ws_stored_t *st)
{
    u_char                 *buf, *p;
    size_t                  size;
    ngx_int_t               rc;
    ngx_str_t               name;
    ngx_ws_channel_node_t  *to;

    if (zone->presence_events == NGX_WS_PRESENCE_OFF) {
        return NGX_DECLINED;
    }

    size = sizeof("{\"event\":\"leave\",\"channel\":\"\",\"member\":\"\","
                  "\"reason\":\"\"}") - 1
           + cn->len + ngx_escape_json(NULL, cn->name, cn->len)
           + len + ngx_escape_json(NULL, id, len)
           + (reason ? ngx_strlen(reason) : 0)
           + cn->len + zone->presence_suffix.len;      /* the companion */

    buf = ngx_alloc(size, log);
    if (buf == NULL) {
        return NGX_DECLINED;
    }

    p = ngx_sprintf(buf, "{\"event\":\"%s\",\"channel\":\"",
                    reason ? "leave" : "join");
    p = (u_char *) ngx_escape_json(p, cn->name, cn->len);
    p = ngx_cpymem(p, "\",\"member\":\"", sizeof("\",\"member\":\"") - 1);
    p = (u_char *) ngx_escape_json(p, id, len);

    if (reason) {
        p = ngx_sprintf(p, "\",\"reason\":\"%s\"}", reason);

    } else {
        p = ngx_cpymem(p, "\"}", 2);
    }

    to = cn;

    name.len = cn->len;
    name.data = cn->name;

    if (zone->presence_events == NGX_WS_PRESENCE_COMPANION) {

        /* the name after the message in the buffer */

        name.data = p;
        name.len = cn->len + zone->presence_suffix.len;
        ngx_memcpy(name.data, cn->name, cn->len);
        ngx_memcpy(name.data + cn->len, zone->presence_suffix.data,
                   zone->presence_suffix.len);
    }

    if (zone->redis) {
        /* stored when read back from Redis: nothing to wake now */
        ngx_ws_presence_redis(zone, &name, buf, p - buf, log);
        ngx_free(buf);
        return NGX_DECLINED;
    }

    if (zone->presence_events == NGX_WS_PRESENCE_COMPANION) {
        to = ngx_ws_channel_lookup(zone, &name, 0);

        if (to == NULL) {
            to = ngx_ws_channel_create(zone, &name, 0, &rc);

            if (to == NULL) {
                goto failed;
            }
        }
    }

    rc = ngx_ws_channel_store(zone, to, NULL, NGX_WS_OP_TEXT, buf, p - buf);

    if (rc != NGX_OK) {
        goto failed;
    }

    ngx_free(buf);

    zone->sh->published++;

    st->id = to->last_id;
    st->subscribers = to->subscribers;
    st->workers = to->workers;
    st->uid = to->uid;

    return NGX_OK;

failed:

    name.len = cn->len;
    name.data = cn->name;

    ngx_log_error(NGX_LOG_WARN, log, 0,
                  "ws_zone \"%V\": a presence event of channel \"%V\" "
                  "was not stored (%s)", &zone->name, &name,
                  rc == NGX_WS_ZONE_TOO_BIG ? "over max_message"
                  : rc == NGX_WS_ZONE_TOO_MANY ? "at max_channels"
                  : "the zone is full");

    ngx_free(buf);

    return NGX_DECLINED;
}


/*
 * An event of a Redis-backed zone, to the channel "to": sent (Redis's
 * answer comes in ngx_ws_presence_published()), or dropped.  Sending only
 * appends the command to the connection's output, so it is done with the
 * zone locked, in the order of the events.  While the worker's first
 * connection to Redis is being made (a new worker takes back the members
 * of a dead one in its init), the events wait, in their order, and so do
 * the events that follow them.
 */

static void
ngx_ws_presence_redis(ngx_ws_zone_t *zone, ngx_str_t *to, u_char *data,
    size_t len, ngx_log_t *log)
{
    ngx_int_t              rc;
    ngx_ws_presence_ev_t  *ev;

    if (ngx_ws_presence_pending.next == NULL) {
        ngx_queue_init(&ngx_ws_presence_pending);
    }

    rc = NGX_AGAIN;

    if (ngx_queue_empty(&ngx_ws_presence_pending)
        && ngx_ws_presence_publisher)
    {
        rc = ngx_ws_presence_publisher(zone, to, NULL, NGX_WS_OP_TEXT, data,
                                       len, ngx_ws_presence_published, zone);
    }

    if (rc != NGX_AGAIN) {
        ngx_ws_presence_sent(zone, to, rc, log);
        return;
    }

    ev = ngx_alloc(sizeof(ngx_ws_presence_ev_t) + to->len + len, log);
    if (ev == NULL) {
        return;
    }

    ev->zone = zone;
    ev->to.len = to->len;
    ev->to.data = (u_char *) &ev[1];
    ev->len = len;
    ev->data = ngx_cpymem(ev->to.data, to->data, to->len);
    ngx_memcpy(ev->data, data, len);

    ngx_queue_insert_tail(&ngx_ws_presence_pending, &ev->queue);

    if (!ngx_ws_presence_retry.timer_set) {
        ngx_ws_presence_retry.handler = ngx_ws_presence_flush;
        ngx_ws_presence_retry.log = ngx_cycle->log;
        ngx_ws_presence_retry.data = &ngx_ws_presence_pending;
        ngx_ws_presence_retry.cancelable = 1;
        ngx_add_timer(&ngx_ws_presence_retry, NGX_WS_PRESENCE_RETRY);
    }
}


/* the events that wait, in their order, until one has to wait again */

static void
ngx_ws_presence_flush(ngx_event_t *timer)
{
    ngx_int_t              rc;
    ngx_queue_t           *q;
    ngx_ws_presence_ev_t  *ev;

    while (!ngx_queue_empty(&ngx_ws_presence_pending)) {
        q = ngx_queue_head(&ngx_ws_presence_pending);
        ev = ngx_queue_data(q, ngx_ws_presence_ev_t, queue);

        rc = NGX_AGAIN;

        if (ngx_ws_presence_publisher) {
            rc = ngx_ws_presence_publisher(ev->zone, &ev->to, NULL,
                                           NGX_WS_OP_TEXT, ev->data, ev->len,
                                           ngx_ws_presence_published,
                                           ev->zone);
        }

        if (rc == NGX_AGAIN) {
            ngx_add_timer(timer, NGX_WS_PRESENCE_RETRY);
            return;
        }

        ngx_ws_presence_sent(ev->zone, &ev->to, rc, timer->log);

        ngx_queue_remove(q);
        ngx_free(ev);
    }
}


/* the outcome of sending an event: dropped ones are logged */

static void
ngx_ws_presence_sent(ngx_ws_zone_t *zone, ngx_str_t *to, ngx_int_t rc,
    ngx_log_t *log)
{
    if (rc == NGX_OK) {
        return;
    }

    if (rc == NGX_WS_ZONE_TOO_BIG) {
        ngx_log_error(NGX_LOG_WARN, log, 0,
                      "ws_zone \"%V\": a presence event of channel \"%V\" "
                      "was not published (over max_message)",
                      &zone->name, to);
        return;
    }

    /* refused publishes are counted by ngx_ws_redis_publish() */

    if (zone->presence_lost) {
        ngx_log_error(NGX_LOG_INFO, log, 0,
                      "ws_zone \"%V\": a presence event of channel \"%V\" "
                      "was dropped: redis \"%V\" %s", &zone->name, to,
                      &zone->redis->addr,
                      (rc == NGX_BUSY) ? "has too many commands in flight"
                                       : "is unavailable");
        return;
    }

    zone->presence_lost = 1;

    ngx_log_error(NGX_LOG_WARN, log, 0,
                  "ws_zone \"%V\": presence events are dropped while redis "
                  "\"%V\" %s (first: channel \"%V\")", &zone->name,
                  &zone->redis->addr,
                  (rc == NGX_BUSY) ? "has too many commands in flight"
                                   : "is unavailable", to);
}


/* Redis took an event: the next drop is warned about again */

static void
ngx_ws_presence_published(void *data, ngx_int_t rc, uint64_t id)
{
    ngx_ws_zone_t *zone = data;

    if (rc == NGX_OK && zone->presence_lost) {
        zone->presence_lost = 0;

        ngx_log_error(NGX_LOG_NOTICE, ngx_cycle->log, 0,
                      "ws_zone \"%V\": presence events are published "
                      "again", &zone->name);
    }
}


/* the members of a channel for the publisher's GET: [{"id":..},..] */

size_t
ngx_ws_presence_json_len(ngx_ws_channel_node_t *cn)
{
    size_t               len;
    ngx_ws_sh_member_t  *m;

    len = sizeof("[]") - 1;

    for (m = cn->members; m; m = m->next) {
        len += sizeof("{\"id\":\"\",\"connections\":},") - 1 + NGX_INT_T_LEN
               + m->len + ngx_escape_json(NULL, m->id, m->len);
    }

    return len;
}


u_char *
ngx_ws_presence_json(u_char *p, ngx_ws_channel_node_t *cn)
{
    ngx_ws_sh_member_t  *m;

    *p++ = '[';

    for (m = cn->members; m; m = m->next) {
        p = ngx_cpymem(p, "{\"id\":\"", sizeof("{\"id\":\"") - 1);
        p = (u_char *) ngx_escape_json(p, m->id, m->len);
        p = ngx_sprintf(p, "\",\"connections\":%ui}%s", m->n,
                        m->next ? "," : "");
    }

    *p++ = ']';

    return p;
}
