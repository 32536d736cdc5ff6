
/*
 * Copyright (C) ngx_ws_module authors
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include "ngx_ws_module.h"
#include "ngx_ws_zone.h"


/*
 * ws_zone: channels and their recent messages in shared memory, and the
 * wake-up of workers.  A channel is an rbtree node (limit_req style: crc32
 * key, the name behind it) with a list of its last messages.  Each worker
 * takes a slot in every zone.  This file stores and looks up; it returns
 * what a publish has to wake, and the channel code (ngx_ws_channel.c) sends
 * a small notice to each worker that has subscribers of the channel, and
 * that worker reads the new messages from the list (the slots and the
 * wake-ups are in ngx_ws_notify.c).  Nothing polls, and workers of an
 * older generation (a reload) keep being woken.
 */


static char *ngx_ws_zone_check(ngx_conf_t *cf, ngx_ws_zone_t *zone,
    ngx_str_t *name);
static ngx_int_t ngx_ws_zone_more_param(ngx_conf_t *cf, ngx_ws_zone_t *zone,
    ngx_str_t *v);
static ngx_int_t ngx_ws_zone_presence_param(ngx_conf_t *cf,
    ngx_ws_zone_t *zone, ngx_str_t *v);
static ngx_int_t ngx_ws_init_zone(ngx_shm_zone_t *shm_zone, void *data);
static void ngx_ws_channel_insert(ngx_rbtree_node_t *temp,
    ngx_rbtree_node_t *node, ngx_rbtree_node_t *sentinel);
static ngx_int_t ngx_ws_zone_evict(ngx_ws_zone_t *zone,
    ngx_ws_channel_node_t *keep);
static ngx_int_t ngx_ws_zone_evict_channel(ngx_ws_zone_t *zone);
static void ngx_ws_zone_orphan(ngx_ws_zone_t *zone, ngx_ws_conn_rec_t *rec);
static uint64_t ngx_ws_channel_base(ngx_ws_zone_t *zone);
static void ngx_ws_channel_drop_oldest(ngx_ws_zone_t *zone,
    ngx_ws_channel_node_t *node);
static void ngx_ws_channel_free_members(ngx_ws_zone_t *zone,
    ngx_ws_channel_node_t *node);


char *
ngx_ws_zone(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ssize_t              size, max;
    ngx_int_t            n;
    ngx_str_t           *value, s;
    ngx_uint_t           i;
    ngx_ws_zone_t       *zone;

    value = cf->args->elts;

    size = ngx_parse_size(&value[2]);

    if (size == NGX_ERROR) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid zone size \"%V\"", &value[2]);
        return NGX_CONF_ERROR;
    }

    if (size < (ssize_t) (8 * ngx_pagesize)) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "zone \"%V\" is too small", &value[1]);
        return NGX_CONF_ERROR;
    }

    if (ngx_ws_zone_ref(cf, &value[1], &zone) != NGX_CONF_OK) {
        return NGX_CONF_ERROR;
    }

    if (zone->shm_zone->data != zone || zone->history) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "duplicate ws_zone \"%V\"", &value[1]);
        return NGX_CONF_ERROR;
    }

    zone->history = 32;
    zone->ttl = 0;

    /*
     * The defaults keep channels from taking more than about half of the
     * zone (a channel with a name of up to 144 bytes takes 256), and a
     * message from taking more than a quarter.
     */

    zone->max_channels = ngx_max(size / 512, 1);
    zone->max_name = 256;
    zone->max_message = size / 4;
    zone->names = NGX_WS_NAMES_ASCII;

    for (i = 3; i < cf->args->nelts; i++) {

        if (ngx_strncmp(value[i].data, "history=", 8) == 0) {
            n = ngx_atoi(value[i].data + 8, value[i].len - 8);

            if (n < 1 || n > 65536) {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "invalid history \"%V\"", &value[i]);
                return NGX_CONF_ERROR;
            }

            zone->history = n;
            continue;
        }

        if (ngx_strncmp(value[i].data, "ttl=", 4) == 0) {
            s.data = value[i].data + 4;
            s.len = value[i].len - 4;

            zone->ttl = ngx_parse_time(&s, 1);

            if (zone->ttl == (time_t) NGX_ERROR) {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "invalid ttl \"%V\"", &value[i]);
                return NGX_CONF_ERROR;
            }

            continue;
        }

        if (ngx_strncmp(value[i].data, "max_channels=", 13) == 0) {
            n = ngx_atoi(value[i].data + 13, value[i].len - 13);

            if (n < 1) {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "invalid max_channels \"%V\"", &value[i]);
                return NGX_CONF_ERROR;
            }

            zone->max_channels = n;
            continue;
        }

        if (ngx_strncmp(value[i].data, "max_name=", 9) == 0) {
            n = ngx_atoi(value[i].data + 9, value[i].len - 9);

            if (n < 1 || n > 65535) {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "invalid max_name \"%V\"", &value[i]);
                return NGX_CONF_ERROR;
            }

            zone->max_name = n;
            continue;
        }

        if (ngx_strncmp(value[i].data, "max_message=", 12) == 0) {
            s.data = value[i].data + 12;
            s.len = value[i].len - 12;

            max = ngx_parse_size(&s);

            if (max == NGX_ERROR || max > size) {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "invalid max_message \"%V\"", &value[i]);
                return NGX_CONF_ERROR;
            }

            zone->max_message = max;
            continue;
        }

        if (ngx_strcmp(value[i].data, "names=ascii") == 0) {
            zone->names = NGX_WS_NAMES_ASCII;
            continue;
        }

        if (ngx_strcmp(value[i].data, "names=utf8") == 0) {
            zone->names = NGX_WS_NAMES_UTF8;
            continue;
        }

        /* the rest: Redis, presence, or an invalid parameter */

        if (ngx_ws_zone_more_param(cf, zone, &value[i]) != NGX_OK) {
            return NGX_CONF_ERROR;
        }
    }

    if (ngx_ws_zone_check(cf, zone, &value[1]) != NGX_CONF_OK) {
        return NGX_CONF_ERROR;
    }

    if (ngx_shared_memory_add(cf, &value[1], size, &ngx_ws_module) == NULL) {
        return NGX_CONF_ERROR;
    }

    zone->shm_zone->init = ngx_ws_init_zone;

    return NGX_CONF_OK;
}


/* the parameters of a ws_zone line, taken together */

static char *
ngx_ws_zone_check(ngx_conf_t *cf, ngx_ws_zone_t *zone, ngx_str_t *name)
{
    if (ngx_ws_redis_sentinel_check(cf, zone->redis, name) != NGX_CONF_OK) {
        return NGX_CONF_ERROR;
    }

    if (ngx_ws_redis_check(cf, zone->redis, name) != NGX_CONF_OK) {
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


/* the parameters of ws_zone for Redis (ngx_ws_redis.c), or for presence */

static ngx_int_t
ngx_ws_zone_more_param(ngx_conf_t *cf, ngx_ws_zone_t *zone, ngx_str_t *v)
{
    ngx_int_t  rc;

    rc = ngx_ws_redis_sentinel_param(cf, &zone->redis, v);

    if (rc != NGX_DECLINED) {
        return rc;
    }

    rc = ngx_ws_redis_param(cf, &zone->redis, v);

    if (rc != NGX_DECLINED) {
        return rc;
    }

    return ngx_ws_zone_presence_param(cf, zone, v);
}


/*
 * The parameters of ws_zone for presence: max_members=, max_member= and
 * presence_events=; NGX_ERROR for anything else.
 */

static ngx_int_t
ngx_ws_zone_presence_param(ngx_conf_t *cf, ngx_ws_zone_t *zone, ngx_str_t *v)
{
    ngx_int_t  n;
    ngx_str_t  s;

    if (ngx_strncmp(v->data, "max_members=", 12) == 0) {
        n = ngx_atoi(v->data + 12, v->len - 12);

        if (n < 1) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid max_members \"%V\"", v);
            return NGX_ERROR;
        }

        zone->max_members = n;
        return NGX_OK;
    }

    if (ngx_strncmp(v->data, "max_member=", 11) == 0) {
        n = ngx_atoi(v->data + 11, v->len - 11);

        if (n < 1 || n > 4096) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid max_member \"%V\"", v);
            return NGX_ERROR;
        }

        zone->max_member = n;
        return NGX_OK;
    }

    if (ngx_strcmp(v->data, "presence_events=off") == 0) {
        zone->presence_events = NGX_WS_PRESENCE_OFF;
        return NGX_OK;
    }

    if (ngx_strcmp(v->data, "presence_events=channel") == 0) {
        zone->presence_events = NGX_WS_PRESENCE_CHANNEL;
        return NGX_OK;
    }

    if (ngx_strncmp(v->data, "presence_events=companion:", 26) == 0) {
        s.data = v->data + 26;
        s.len = v->len - 26;

        if (s.len == 0 || s.len > 64) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid presence_events \"%V\"", v);
            return NGX_ERROR;
        }

        zone->presence_events = NGX_WS_PRESENCE_COMPANION;
        zone->presence_suffix = s;
        return NGX_OK;
    }

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "invalid parameter \"%V\"", v);
    return NGX_ERROR;
}


/*
 * A zone by name, declared or referenced: a reference may come before the
 * ws_zone line, as for limit_req.
 */

char *
ngx_ws_zone_ref(ngx_conf_t *cf, ngx_str_t *name, ngx_ws_zone_t **zp)
{
    ngx_uint_t           i;
    ngx_ws_zone_t       *zone, **zones, **nzp;
    ngx_shm_zone_t      *shm_zone;
    ngx_ws_main_conf_t  *wmcf;

    wmcf = ngx_http_conf_get_module_main_conf(cf, ngx_ws_module);

    zones = wmcf->zones.elts;

    for (i = 0; i < wmcf->zones.nelts; i++) {
        if (zones[i]->name.len == name->len
            && ngx_strncmp(zones[i]->name.data, name->data, name->len) == 0)
        {
            *zp = zones[i];
            return NGX_CONF_OK;
        }
    }

    shm_zone = ngx_shared_memory_add(cf, name, 0, &ngx_ws_module);
    if (shm_zone == NULL) {
        return NGX_CONF_ERROR;
    }

    zone = ngx_pcalloc(cf->pool, sizeof(ngx_ws_zone_t));
    if (zone == NULL) {
        return NGX_CONF_ERROR;
    }

    zone->name = *name;
    zone->shm_zone = shm_zone;
    zone->index = wmcf->zones.nelts;
    zone->slot = -1;
    zone->max_members = 1000;
    zone->max_member = 128;
    zone->presence_events = NGX_WS_PRESENCE_OFF;

    shm_zone->data = zone;

    nzp = ngx_array_push(&wmcf->zones);
    if (nzp == NULL) {
        return NGX_CONF_ERROR;
    }

    *nzp = zone;
    *zp = zone;

    return NGX_CONF_OK;
}


static ngx_int_t
ngx_ws_init_zone(ngx_shm_zone_t *shm_zone, void *data)
{
    ngx_ws_zone_t  *ozone = data;

    size_t          len;
    ngx_ws_zone_t  *zone;

    zone = shm_zone->data;

    if (ozone) {
        /* a reload with the zone unchanged: channels carry on */

        zone->sh = ozone->sh;
        zone->shpool = ozone->shpool;
        zone->prev = ozone;               /* its wake-up sockets go on */

        return NGX_OK;
    }

    zone->shpool = (ngx_slab_pool_t *) shm_zone->shm.addr;

    if (shm_zone->shm.exists) {
        zone->sh = zone->shpool->data;
        return NGX_OK;
    }

    zone->sh = ngx_slab_calloc(zone->shpool, sizeof(ngx_ws_sh_t));
    if (zone->sh == NULL) {
        return NGX_ERROR;
    }

    zone->shpool->data = zone->sh;

    ngx_rbtree_init(&zone->sh->rbtree, &zone->sh->sentinel,
                    ngx_ws_channel_insert);
    ngx_rbtree_init(&zone->sh->conns, &zone->sh->conns_sentinel,
                    ngx_rbtree_insert_value);
    ngx_queue_init(&zone->sh->dead);
    ngx_queue_init(&zone->sh->lru);

    len = sizeof(" in ws_zone \"\"") + shm_zone->shm.name.len;

    zone->shpool->log_ctx = ngx_slab_alloc(zone->shpool, len);
    if (zone->shpool->log_ctx == NULL) {
        return NGX_ERROR;
    }

    ngx_sprintf(zone->shpool->log_ctx, " in ws_zone \"%V\"%Z",
                &shm_zone->shm.name);

    zone->shpool->log_nomem = 0;

    return NGX_OK;
}


static void
ngx_ws_channel_insert(ngx_rbtree_node_t *temp, ngx_rbtree_node_t *node,
    ngx_rbtree_node_t *sentinel)
{
    ngx_rbtree_node_t      **p;
    ngx_ws_channel_node_t   *cn, *cnt;

    for ( ;; ) {

        if (node->key < temp->key) {
            p = &temp->left;

        } else if (node->key > temp->key) {
            p = &temp->right;

        } else {
            cn = (ngx_ws_channel_node_t *) &node->color;
            cnt = (ngx_ws_channel_node_t *) &temp->color;

            /* a connection's own channel never meets a named one */

            if (cn->push != cnt->push) {
                p = (cn->push < cnt->push) ? &temp->left : &temp->right;

            } else {
                p = (ngx_memn2cmp(cn->name, cnt->name, cn->len, cnt->len) < 0)
                    ? &temp->left : &temp->right;
            }
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


/* the zone's mutex is held by the callers of everything below */

ngx_ws_channel_node_t *
ngx_ws_channel_lookup(ngx_ws_zone_t *zone, ngx_str_t *name, ngx_uint_t push)
{
    ngx_int_t               rc;
    ngx_uint_t              hash;
    ngx_rbtree_node_t      *node, *sentinel;
    ngx_ws_channel_node_t  *cn;

    hash = ngx_crc32_short(name->data, name->len);

    node = zone->sh->rbtree.root;
    sentinel = zone->sh->rbtree.sentinel;

    while (node != sentinel) {

        if (hash < node->key) {
            node = node->left;
            continue;
        }

        if (hash > node->key) {
            node = node->right;
            continue;
        }

        cn = (ngx_ws_channel_node_t *) &node->color;

        if (push != cn->push) {
            rc = (push < cn->push) ? -1 : 1;

        } else {
            rc = ngx_memn2cmp(name->data, cn->name, name->len,
                              (size_t) cn->len);
        }

        if (rc == 0) {
            return cn;
        }

        node = (rc < 0) ? node->left : node->right;
    }

    return NULL;
}


/*
 * A new channel, or NULL with *rc: NGX_WS_ZONE_TOO_MANY when max_channels
 * named channels exist and none can go, NGX_BUSY when the zone is full.
 * A connection's own channel (ws_push) does not count against
 * max_channels: there is one per connection.
 */

ngx_ws_channel_node_t *
ngx_ws_channel_create(ngx_ws_zone_t *zone, ngx_str_t *name, ngx_uint_t push,
    ngx_int_t *rc)
{
    size_t                  size;
    ngx_rbtree_node_t      *node;
    ngx_ws_channel_node_t  *cn;

    *rc = NGX_BUSY;

    if (name->len > 65535) {
        return NULL;
    }

    if (!push
        && zone->sh->named >= zone->max_channels
        && ngx_ws_zone_evict_channel(zone) != NGX_OK)
    {
        *rc = NGX_WS_ZONE_TOO_MANY;
        return NULL;
    }

    size = offsetof(ngx_rbtree_node_t, color)
           + offsetof(ngx_ws_channel_node_t, name) + name->len;

    /* nothing is in use yet: anything may be evicted */

    node = ngx_ws_zone_alloc(zone, size, NULL);
    if (node == NULL) {
        return NULL;
    }

    cn = (ngx_ws_channel_node_t *) &node->color;

    node->key = ngx_crc32_short(name->data, name->len);

    cn->push = push ? 1 : 0;
    cn->len = (u_short) name->len;
    cn->uid = ++zone->sh->uids;
    /*
     * The ids of a channel of a Redis-backed zone are Redis's: they are
     * known once the channel is synced with its stream (ngx_ws_redis_bp.c)
     */
    cn->base = (zone->redis && !push) ? 0 : ngx_ws_channel_base(zone);
    cn->last_id = cn->base;
    cn->synced = 0;
    cn->sync_id = 0;
    cn->redis_count = 0;
    cn->members_gen = 0;
    cn->redis_members = 0;
    cn->redis_wake = 0;
    cn->workers = 0;
    cn->subscribers = 0;
    cn->count = 0;
    cn->counts = NULL;
    cn->rec = NULL;
    cn->members = NULL;
    cn->nmembers = 0;
    ngx_queue_init(&cn->msgs);
    ngx_memcpy(cn->name, name->data, name->len);

    ngx_rbtree_insert(&zone->sh->rbtree, node);
    ngx_queue_insert_head(&zone->sh->lru, &cn->queue);
    zone->sh->channels++;

    if (!push) {
        zone->sh->named++;
    }

    *rc = NGX_OK;

    return cn;
}


/*
 * The id before the first message of a channel made now: the time in
 * milliseconds times NGX_WS_IDS_PER_MS, and in any case a later
 * millisecond than every id of a channel this zone has removed, so that a
 * channel deleted and made anew, even after the clock was set back, never
 * gives an id again.  Across a restart or a zone resize nothing is known of
 * the former ids but the clock: it must not go back by more than the time
 * nginx was down.
 */

static uint64_t
ngx_ws_channel_base(ngx_ws_zone_t *zone)
{
    uint64_t     ms;
    ngx_time_t  *tp;

    tp = ngx_timeofday();

    ms = 0;

    if (tp->sec > NGX_WS_IDS_EPOCH) {
        ms = (uint64_t) (tp->sec - NGX_WS_IDS_EPOCH) * 1000 + tp->msec;
    }

    if (ms <= zone->sh->ids / NGX_WS_IDS_PER_MS) {
        ms = zone->sh->ids / NGX_WS_IDS_PER_MS + 1;
    }

    return ms * NGX_WS_IDS_PER_MS;
}


/*
 * A channel name must not be empty, be at most max_name bytes, and consist
 * of printable ASCII characters other than the space (with names=utf8 also
 * of valid UTF-8 beyond ASCII): no control characters reach a log line, a
 * JSON answer or a header.  On a refusal, err gets the reason.
 */

ngx_int_t
ngx_ws_channel_name_check(ngx_ws_zone_t *zone, ngx_str_t *name, u_char *err,
    size_t size)
{
    u_char      *p, *last;
    uint32_t     state;
    ngx_uint_t   utf8;

    if (name->len == 0) {
        ngx_snprintf(err, size, "empty%Z");
        return NGX_DECLINED;
    }

    if (name->len > zone->max_name) {
        ngx_snprintf(err, size, "%uz bytes, more than max_name=%uz%Z",
                     name->len, zone->max_name);
        return NGX_DECLINED;
    }

    utf8 = 0;
    last = name->data + name->len;

    for (p = name->data; p < last; p++) {

        if (*p > 0x20 && *p < 0x7f) {
            continue;
        }

        if (*p >= 0x80 && zone->names == NGX_WS_NAMES_UTF8) {
            utf8 = 1;
            continue;
        }

        ngx_snprintf(err, size, "byte 0x%02xd at %uz is not allowed%Z",
                     (ngx_uint_t) *p, (size_t) (p - name->data));
        return NGX_DECLINED;
    }

    if (utf8) {
        state = ngx_ws_utf8_validate(NGX_WS_UTF8_ACCEPT, name->data,
                                     name->len);

        if (state != NGX_WS_UTF8_ACCEPT) {
            ngx_snprintf(err, size, "not valid UTF-8%Z");
            return NGX_DECLINED;
        }
    }

    return NGX_OK;
}


void
ngx_ws_channel_delete(ngx_ws_zone_t *zone, ngx_ws_channel_node_t *cn)
{
    ngx_rbtree_node_t  *node;

    while (cn->count) {
        ngx_ws_channel_drop_oldest(zone, cn);
    }

    ngx_ws_channel_free_counts(zone, cn);
    ngx_ws_channel_free_members(zone, cn);

    if (cn->rec) {
        ngx_ws_conn_rec_free(zone, cn->rec);
    }

    node = (ngx_rbtree_node_t *)
               ((u_char *) cn - offsetof(ngx_rbtree_node_t, color));

    ngx_queue_remove(&cn->queue);
    ngx_rbtree_delete(&zone->sh->rbtree, node);
    zone->sh->channels--;

    if (!cn->push) {
        zone->sh->named--;

        /* a channel of that name made later goes on from a later epoch */

        if (cn->last_id > zone->sh->ids) {
            zone->sh->ids = cn->last_id;
        }
    }

    ngx_slab_free_locked(zone->shpool, node);
}


static void
ngx_ws_channel_drop_oldest(ngx_ws_zone_t *zone, ngx_ws_channel_node_t *cn)
{
    ngx_queue_t  *q;

    q = ngx_queue_head(&cn->msgs);
    ngx_queue_remove(q);

    ngx_slab_free_locked(zone->shpool,
                         ngx_queue_data(q, ngx_ws_sh_msg_t, queue));
    cn->count--;
}


/*
 * History beyond "history" messages (or older than ttl) goes, but only
 * once every worker that had subscribers when it was published has read
 * it: a burst larger than the history still reaches everybody.
 */

void
ngx_ws_channel_trim(ngx_ws_zone_t *zone, ngx_ws_channel_node_t *cn)
{
    time_t            now;
    ngx_ws_sh_msg_t  *m;

    now = ngx_time();

    while (cn->count) {
        m = ngx_queue_data(ngx_queue_head(&cn->msgs), ngx_ws_sh_msg_t, queue);

        if (m->pending) {
            break;
        }

        if (cn->count <= zone->history
            && (zone->ttl == 0 || now - m->time <= zone->ttl))
        {
            break;
        }

        ngx_ws_channel_drop_oldest(zone, cn);
    }
}


/* a worker is done with a channel: it reads nothing after "after" */

void
ngx_ws_channel_leave(ngx_ws_zone_t *zone, ngx_ws_channel_node_t *cn,
    uint64_t after)
{
    uint64_t          bit;
    ngx_ws_sh_msg_t  *m;

    bit = (uint64_t) 1 << zone->slot;

    cn->workers &= ~bit;

    for (m = ngx_ws_channel_after(cn, after);
         m;
         m = ngx_ws_channel_next(cn, m))
    {
        m->pending &= ~bit;
    }

    ngx_ws_channel_trim(zone, cn);
}


/*
 * The oldest message kept (and, with a zone, not expired), or the next id
 * when there is none.
 */

uint64_t
ngx_ws_channel_first(ngx_ws_zone_t *zone, ngx_ws_channel_node_t *cn)
{
    time_t            now;
    ngx_queue_t      *q;
    ngx_ws_sh_msg_t  *m;

    now = ngx_time();

    for (q = ngx_queue_head(&cn->msgs);
         q != ngx_queue_sentinel(&cn->msgs);
         q = ngx_queue_next(q))
    {
        m = ngx_queue_data(q, ngx_ws_sh_msg_t, queue);

        if (zone == NULL || zone->ttl == 0 || now - m->time <= zone->ttl) {
            return m->id;
        }
    }

    return cn->last_id + 1;
}


/* the first message kept with an id above "id" */

ngx_ws_sh_msg_t *
ngx_ws_channel_after(ngx_ws_channel_node_t *cn, uint64_t id)
{
    ngx_queue_t      *q;
    ngx_ws_sh_msg_t  *m, *found;

    found = NULL;

    for (q = ngx_queue_last(&cn->msgs);
         q != ngx_queue_sentinel(&cn->msgs);
         q = ngx_queue_prev(q))
    {
        m = ngx_queue_data(q, ngx_ws_sh_msg_t, queue);

        if (m->id <= id) {
            break;
        }

        found = m;
    }

    return found;
}


ngx_ws_sh_msg_t *
ngx_ws_channel_next(ngx_ws_channel_node_t *cn, ngx_ws_sh_msg_t *m)
{
    ngx_queue_t  *q;

    q = ngx_queue_next(&m->queue);

    if (q == ngx_queue_sentinel(&cn->msgs)) {
        return NULL;
    }

    return ngx_queue_data(q, ngx_ws_sh_msg_t, queue);
}


/*
 * Allocates, evicting old history (and idle channels) when full; "keep",
 * the channel the memory is for, is never removed, only its delivered
 * history may go.
 */

void *
ngx_ws_zone_alloc(ngx_ws_zone_t *zone, size_t size,
    ngx_ws_channel_node_t *keep)
{
    void  *p;

    for ( ;; ) {
        p = ngx_slab_alloc_locked(zone->shpool, size);

        if (p != NULL) {
            return p;
        }

        if (ngx_ws_zone_evict(zone, keep) != NGX_OK) {
            return NULL;
        }
    }
}


/*
 * Frees the oldest message that every worker has read, from the least
 * recently published channel that has one, or a channel with neither
 * history nor subscribers.  Messages some worker has still to read are
 * never evicted: then the zone is full.
 */

static ngx_int_t
ngx_ws_zone_evict(ngx_ws_zone_t *zone, ngx_ws_channel_node_t *keep)
{
    ngx_queue_t            *q;
    ngx_ws_sh_msg_t        *m;
    ngx_ws_channel_node_t  *cn;

    for (q = ngx_queue_last(&zone->sh->lru);
         q != ngx_queue_sentinel(&zone->sh->lru);
         q = ngx_queue_prev(q))
    {
        cn = ngx_queue_data(q, ngx_ws_channel_node_t, queue);

        if (cn->count) {
            m = ngx_queue_data(ngx_queue_head(&cn->msgs), ngx_ws_sh_msg_t,
                               queue);

            if (m->pending == 0) {
                ngx_ws_channel_drop_oldest(zone, cn);
                return NGX_OK;
            }

            continue;
        }

        if (cn->subscribers == 0 && cn != keep) {
            ngx_ws_channel_delete(zone, cn);
            return NGX_OK;
        }
    }

    return NGX_DECLINED;
}


/*
 * At max_channels: the least recently published named channel without
 * subscribers goes, with its history, unless some worker has still to read
 * a message of it.
 */

static ngx_int_t
ngx_ws_zone_evict_channel(ngx_ws_zone_t *zone)
{
    ngx_queue_t            *q, *mq;
    ngx_ws_sh_msg_t        *m;
    ngx_ws_channel_node_t  *cn;

    for (q = ngx_queue_last(&zone->sh->lru);
         q != ngx_queue_sentinel(&zone->sh->lru);
         q = ngx_queue_prev(q))
    {
        cn = ngx_queue_data(q, ngx_ws_channel_node_t, queue);

        if (cn->push || cn->subscribers) {
            continue;
        }

        for (mq = ngx_queue_head(&cn->msgs);
             mq != ngx_queue_sentinel(&cn->msgs);
             mq = ngx_queue_next(mq))
        {
            m = ngx_queue_data(mq, ngx_ws_sh_msg_t, queue);

            if (m->pending) {
                break;
            }
        }

        if (mq == ngx_queue_sentinel(&cn->msgs)) {
            ngx_ws_channel_delete(zone, cn);
            return NGX_OK;
        }
    }

    return NGX_DECLINED;
}


ngx_int_t
ngx_ws_channel_store(ngx_ws_zone_t *zone, ngx_ws_channel_node_t *cn,
    ngx_ws_policy_t *pol, ngx_uint_t opcode, u_char *data, size_t len)
{
    return ngx_ws_channel_store_id(zone, cn, pol, opcode, data, len,
                                   cn->last_id + 1);
}


/*
 * The same with the id given (a Redis stream's, above the channel's last
 * one): an id that does not follow the last one is a gap that Redis lost
 * (trimmed before it was read, or gone with a restart); the messages kept
 * go too, so that every worker behind sees the gap as history lost
 * instead of skipping it.
 */

ngx_int_t
ngx_ws_channel_store_id(ngx_ws_zone_t *zone, ngx_ws_channel_node_t *cn,
    ngx_ws_policy_t *pol, ngx_uint_t opcode, u_char *data, size_t len,
    uint64_t id)
{
    size_t            klen;
    ngx_ws_sh_msg_t  *m;

    /* what can never be stored is refused before anything is evicted */

    if (len > zone->max_message) {
        return NGX_WS_ZONE_TOO_BIG;
    }

    /* the most recently published; the eviction keeps the channel itself */

    ngx_queue_remove(&cn->queue);
    ngx_queue_insert_head(&zone->sh->lru, &cn->queue);

    /*
     * The conflation key, if any, follows the data: its first
     * NGX_WS_MAX_CONFLATE bytes, and the hash of the whole
     */

    klen = pol ? ngx_min(pol->key.len, NGX_WS_MAX_CONFLATE) : 0;

    m = ngx_ws_zone_alloc(zone, offsetof(ngx_ws_sh_msg_t, data) + len + klen,
                          cn);
    if (m == NULL) {
        return NGX_BUSY;
    }

    if (id != cn->last_id + 1) {
        while (cn->count) {
            ngx_ws_channel_drop_oldest(zone, cn);
        }
    }

    m->id = id;
    cn->last_id = id;
    m->pending = cn->workers;
    m->time = ngx_time();
    m->opcode = opcode;
    m->len = len;
    m->cls = (u_char) (pol ? pol->cls : NGX_WS_CLASS_NORMAL);
    m->key_len = (u_char) klen;
    m->hash = klen ? ngx_crc32_long(pol->key.data, pol->key.len) : 0;

    if (len) {
        /* an empty message has no buffer: data may be NULL */
        ngx_memcpy(m->data, data, len);
    }

    if (klen) {
        ngx_memcpy(m->data + len, pol->key.data, klen);
    }

    ngx_queue_insert_tail(&cn->msgs, &m->queue);
    cn->count++;

    ngx_ws_channel_trim(zone, cn);

    return NGX_OK;
}


/*
 * A channel of a Redis-backed zone is synced with its stream: what was
 * kept goes (the history is read again from the stream), its ids go on
 * from Redis's last one.
 */

void
ngx_ws_channel_reset(ngx_ws_zone_t *zone, ngx_ws_channel_node_t *cn,
    uint64_t id)
{
    while (cn->count) {
        ngx_ws_channel_drop_oldest(zone, cn);
    }

    cn->base = id;
    cn->last_id = id;
    cn->sync_id = id;
    cn->synced = 1;
}


/*
 * A message of a Redis-backed channel that could not be stored: what was
 * kept goes too, so that the workers behind see the gap as history lost.
 */

void
ngx_ws_channel_gap(ngx_ws_zone_t *zone, ngx_ws_channel_node_t *cn,
    uint64_t id)
{
    while (cn->count) {
        ngx_ws_channel_drop_oldest(zone, cn);
    }

    cn->last_id = id;
}


/*
 * Stores a message for ngx_ws_publish() (ngx_ws_channel.c), creating the
 * channel if need be, and returns in *st what the channel code needs to
 * wake the workers that have subscribers.  Refusals: NGX_DECLINED (no such
 * connection), NGX_WS_ZONE_TOO_BIG (over max_message, nothing was
 * evicted), NGX_WS_ZONE_TOO_MANY (a new channel over max_channels) and
 * NGX_BUSY (the zone is full).
 */

ngx_int_t
ngx_ws_channel_put(ngx_ws_zone_t *zone, ngx_str_t *name, ngx_uint_t push,
    ngx_ws_policy_t *pol, ngx_uint_t opcode, u_char *data, size_t len,
    ngx_ws_stored_t *st)
{
    ngx_int_t               rc;
    ngx_ws_channel_node_t  *cn;

    if (len > zone->max_message) {
        return NGX_WS_ZONE_TOO_BIG;
    }

    ngx_shmtx_lock(&zone->shpool->mutex);

    cn = ngx_ws_channel_lookup(zone, name, push);

    if (cn == NULL) {
        if (push) {
            /* a connection's channel exists only while it is connected */
            ngx_shmtx_unlock(&zone->shpool->mutex);
            return NGX_DECLINED;
        }

        cn = ngx_ws_channel_create(zone, name, 0, &rc);

        if (cn == NULL) {
            ngx_shmtx_unlock(&zone->shpool->mutex);
            return rc;
        }
    }

    if (push && cn->subscribers == 0) {
        ngx_shmtx_unlock(&zone->shpool->mutex);
        return NGX_DECLINED;
    }

    rc = ngx_ws_channel_store(zone, cn, pol, opcode, data, len);

    if (rc != NGX_OK) {
        ngx_shmtx_unlock(&zone->shpool->mutex);
        return rc;
    }

    zone->sh->published++;

    st->id = cn->last_id;
    st->subscribers = cn->subscribers;
    st->workers = cn->workers;
    st->uid = cn->uid;

    ngx_shmtx_unlock(&zone->shpool->mutex);

    return NGX_OK;
}


/*
 * A subscriber of this worker joins a channel.  The count is kept per slot
 * as well, so that the subscribers of a worker that died can be taken back
 * (ngx_ws_zone_forget_slot()).
 */

ngx_int_t
ngx_ws_channel_add_subscriber(ngx_ws_zone_t *zone, ngx_ws_channel_node_t *cn)
{
    ngx_ws_sh_count_t  *c;

    for (c = cn->counts; c; c = c->next) {
        if (c->slot == (uint32_t) zone->slot) {
            c->n++;
            cn->subscribers++;
            return NGX_OK;
        }
    }

    /* counted first: the channel is not evicted to make room */
    cn->subscribers++;

    c = ngx_ws_zone_alloc(zone, sizeof(ngx_ws_sh_count_t), cn);
    if (c == NULL) {
        cn->subscribers--;
        return NGX_ERROR;
    }

    c->slot = (uint32_t) zone->slot;
    c->n = 1;
    c->next = cn->counts;
    cn->counts = c;

    return NGX_OK;
}


void
ngx_ws_channel_del_subscriber(ngx_ws_zone_t *zone, ngx_ws_channel_node_t *cn)
{
    ngx_ws_sh_count_t  *c, **cp;

    for (cp = &cn->counts; *cp; cp = &(*cp)->next) {
        c = *cp;

        if (c->slot != (uint32_t) zone->slot) {
            continue;
        }

        cn->subscribers--;

        if (cn->subscribers == 0) {
            /* Redis's stream is read again when subscribers come back */
            cn->synced = 0;
        }

        if (--c->n == 0) {
            *cp = c->next;
            ngx_slab_free_locked(zone->shpool, c);
        }

        return;
    }

    /* the slot was taken back meanwhile: its subscribers are not counted */
}


/* with the zone locked: a connection's record goes with its channel */

void
ngx_ws_conn_rec_free(ngx_ws_zone_t *zone, ngx_ws_conn_rec_t *rec)
{
    if (rec->channel) {
        rec->channel->rec = NULL;
    }

    ngx_rbtree_delete(&zone->sh->conns, &rec->node);
    zone->sh->nconns--;

    if (rec->channels) {
        ngx_slab_free_locked(zone->shpool, rec->channels);
    }

    ngx_slab_free_locked(zone->shpool, rec);
}


void
ngx_ws_channel_free_counts(ngx_ws_zone_t *zone, ngx_ws_channel_node_t *cn)
{
    ngx_ws_sh_count_t  *c;

    while (cn->counts) {
        c = cn->counts;
        cn->counts = c->next;
        ngx_slab_free_locked(zone->shpool, c);
    }
}


/* a deleted channel's members go without events */

static void
ngx_ws_channel_free_members(ngx_ws_zone_t *zone, ngx_ws_channel_node_t *cn)
{
    ngx_ws_sh_count_t   *c;
    ngx_ws_sh_member_t  *m;

    while (cn->members) {
        m = cn->members;
        cn->members = m->next;

        while (m->counts) {
            c = m->counts;
            m->counts = c->next;
            ngx_slab_free_locked(zone->shpool, c);
        }

        ngx_slab_free_locked(zone->shpool, m);
    }

    cn->nmembers = 0;
}


/*
 * With the zone locked: a worker has gone (ngx_ws_notify.c finds it dead,
 * or it exits).  What it had not read is read by nobody, its subscribers
 * are no more, nor are its connections' channels.
 */

void
ngx_ws_zone_forget_slot(ngx_ws_zone_t *zone, ngx_uint_t slot)
{
    uint64_t                bit;
    ngx_queue_t            *q, *next, *mq;
    ngx_ws_sh_msg_t        *m;
    ngx_ws_sh_count_t      *c, **cp;
    ngx_ws_channel_node_t  *cn;

    bit = (uint64_t) 1 << slot;

    for (q = ngx_queue_head(&zone->sh->lru);
         q != ngx_queue_sentinel(&zone->sh->lru);
         q = next)
    {
        next = ngx_queue_next(q);
        cn = ngx_queue_data(q, ngx_ws_channel_node_t, queue);

        cn->workers &= ~bit;

        for (mq = ngx_queue_head(&cn->msgs);
             mq != ngx_queue_sentinel(&cn->msgs);
             mq = ngx_queue_next(mq))
        {
            m = ngx_queue_data(mq, ngx_ws_sh_msg_t, queue);
            m->pending &= ~bit;
        }

        for (cp = &cn->counts; *cp; cp = &(*cp)->next) {
            c = *cp;

            if (c->slot == slot) {
                cn->subscribers -= ngx_min(c->n, cn->subscribers);
                cn->synced = cn->subscribers ? cn->synced : 0;
                *cp = c->next;
                ngx_slab_free_locked(zone->shpool, c);
                break;
            }
        }

        if (cn->push && cn->subscribers == 0) {

            /*
             * a dead worker's connection (not this worker's at its exit)
             * whose location has ws_on_disconnect: its record waits for
             * a worker to send the event (ngx_ws_orphans.c)
             */

            if (cn->rec && cn->rec->notify
                && (ngx_int_t) slot != zone->slot)
            {
                ngx_ws_zone_orphan(zone, cn->rec);
            }

            ngx_ws_channel_delete(zone, cn);
            continue;
        }

        ngx_ws_channel_trim(zone, cn);
    }
}


static void
ngx_ws_zone_orphan(ngx_ws_zone_t *zone, ngx_ws_conn_rec_t *rec)
{
    rec->channel->rec = NULL;
    rec->channel = NULL;

    ngx_rbtree_delete(&zone->sh->conns, &rec->node);
    zone->sh->nconns--;

    ngx_queue_insert_tail(&zone->sh->dead, &rec->dead);
    zone->sh->ndead++;
}
