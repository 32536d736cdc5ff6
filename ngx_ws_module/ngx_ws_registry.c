
/*
 * Copyright (C) ngx_ws_module authors
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include "ngx_ws_module.h"
#include "ngx_ws_zone.h"


/*
 * The registry of connections: a record in the ws_push zone for each
 * connection of a ws_push location, hung on its push channel and freed
 * with it (ngx_ws_conn_rec_free()), and kept in the zone's tree of
 * connections by the channel's uid: the order in which they came, which
 * the connections API pages through.  The owner worker writes it (at the
 * handshake, on a join or a leave, its counters as they change); any
 * worker reads it under the zone's lock.
 */


#define NGX_WS_REC_MAX_URI         1024
#define NGX_WS_REC_MAX_HEADERS     2048
#define NGX_WS_REC_MAX_CHANNELS    1024


static size_t ngx_ws_json_str_len(u_char *s, size_t len);
static u_char *ngx_ws_json_str(u_char *p, u_char *s, size_t len);


/*
 * The connection has joined its push channel "name" in zone (under no
 * lock): its record.  A full zone leaves it out of the registry, not out
 * of service.
 */

ngx_int_t
ngx_ws_registry_add(ngx_ws_conn_t *ws, ngx_ws_zone_t *zone, ngx_str_t *name)
{
    u_char                    *p;
    size_t                     size, hlen;
    ngx_uint_t                 i;
    ngx_listening_t           *ls;
    ngx_table_elt_t           *h;
    ngx_ws_conn_rec_t         *rec;
    ngx_http_request_t        *r;
    ngx_ws_channel_node_t     *cn;
    ngx_http_core_loc_conf_t  *clcf;
    ngx_str_t                  f[NGX_WS_REC_FIELDS];

    r = ws->request;
    clcf = ngx_http_get_module_loc_conf(r, ngx_http_core_module);

    f[NGX_WS_REC_ID] = ws->id;
    f[NGX_WS_REC_ADDR] = ws->connection->addr_text;
    f[NGX_WS_REC_URI] = r->unparsed_uri;
    f[NGX_WS_REC_SERVER] = r->headers_in.server;
    f[NGX_WS_REC_LOCATION] = clcf->name;
    f[NGX_WS_REC_SUBPROTOCOL] = ws->subprotocol;

    if (f[NGX_WS_REC_URI].len > NGX_WS_REC_MAX_URI) {
        f[NGX_WS_REC_URI].len = NGX_WS_REC_MAX_URI;
    }

    /* the identity headers: whole pairs, up to the limit */

    hlen = 0;
    h = NULL;

    if (ws->auth) {
        h = ws->auth->headers.elts;

        for (i = 0; i < ws->auth->headers.nelts; i++) {
            size = h[i].key.len + h[i].value.len + 2;

            if (hlen + size > NGX_WS_REC_MAX_HEADERS) {
                ngx_log_error(NGX_LOG_WARN, ws->connection->log, 0,
                              "ws identity headers over %d bytes are not "
                              "kept in the connection's record",
                              NGX_WS_REC_MAX_HEADERS);
                break;
            }

            hlen += size;
        }
    }

    f[NGX_WS_REC_HEADERS].len = hlen;

    size = offsetof(ngx_ws_conn_rec_t, data);

    for (i = 0; i < NGX_WS_REC_FIELDS; i++) {
        size += f[i].len;
    }

    ngx_shmtx_lock(&zone->shpool->mutex);

    cn = ngx_ws_channel_lookup(zone, name, 1);

    if (cn == NULL || cn->rec) {
        ngx_shmtx_unlock(&zone->shpool->mutex);
        return NGX_OK;
    }

    rec = ngx_ws_zone_alloc(zone, size, cn);

    if (rec == NULL) {
        ngx_shmtx_unlock(&zone->shpool->mutex);

        ngx_log_error(NGX_LOG_ERR, ws->connection->log, 0,
                      "ws_zone \"%V\" is full: the connection is not in "
                      "the connections API", &zone->name);
        return NGX_OK;
    }

    ngx_memzero(rec, offsetof(ngx_ws_conn_rec_t, data));

    rec->node.key = (ngx_rbtree_key_t) cn->uid;
    rec->channel = cn;
    rec->pid = ngx_pid;
    rec->slot = zone->slot;
    rec->start = ngx_time();

    rec->notify = (ws->conf->on_disconnect.len != 0);
    rec->generation = ngx_ws_status_generation();
    rec->location = ws->conf->push_location;
    rec->listening = NGX_CONF_UNSET_UINT;

    ls = ngx_cycle->listening.elts;

    for (i = 0; i < ngx_cycle->listening.nelts; i++) {
        if (&ls[i] == ws->connection->listening) {
            rec->listening = i;
            break;
        }
    }

    if (ws->connection->socklen <= sizeof(ngx_sockaddr_t)) {
        rec->socklen = ws->connection->socklen;
        ngx_memcpy(&rec->sockaddr, ws->connection->sockaddr, rec->socklen);
    }

    p = rec->data;

    for (i = 0; i < NGX_WS_REC_HEADERS; i++) {
        rec->len[i] = f[i].len;

        if (f[i].len) {
            p = ngx_cpymem(p, f[i].data, f[i].len);
        }
    }

    rec->len[NGX_WS_REC_HEADERS] = hlen;

    for (i = 0; hlen; i++) {
        size = h[i].key.len + h[i].value.len + 2;
        hlen -= size;

        p = ngx_cpymem(p, h[i].key.data, h[i].key.len);
        *p++ = '\0';
        p = ngx_cpymem(p, h[i].value.data, h[i].value.len);
        *p++ = '\0';
    }

    cn->rec = rec;

    ngx_rbtree_insert(&zone->sh->conns, &rec->node);
    zone->sh->nconns++;

    ws->stat.shared = &rec->counters;

    rec->counters.messages_in = ws->stat.messages_in;
    rec->counters.messages_out = ws->stat.messages_out;
    rec->counters.bytes_in = ws->stat.bytes_in;
    rec->counters.bytes_out = ws->stat.bytes_out;

    ngx_shmtx_unlock(&zone->shpool->mutex);

    return NGX_OK;
}


/* the channels of the connection changed: its record lists them anew */

void
ngx_ws_registry_channels(ngx_ws_conn_t *ws)
{
    u_char             *p, *old;
    size_t              len;
    ngx_uint_t          n, cut;
    ngx_queue_t        *q;
    ngx_ws_sub_t       *sub;
    ngx_ws_zone_t      *zone;
    ngx_ws_conn_rec_t  *rec;

    if (ws->stat.shared == NULL) {
        return;
    }

    rec = (ngx_ws_conn_rec_t *) ((u_char *) ws->stat.shared
                                 - offsetof(ngx_ws_conn_rec_t, counters));
    zone = ws->conf->push;

    len = 0;
    n = 0;
    cut = 0;

    for (q = ngx_queue_head(&ws->subs);
         q != ngx_queue_sentinel(&ws->subs);
         q = ngx_queue_next(q))
    {
        sub = ngx_queue_data(q, ngx_ws_sub_t, link);

        if (sub->spool->push) {
            continue;
        }

        if (len + sub->spool->name.len + 1 > NGX_WS_REC_MAX_CHANNELS) {
            cut = 1;
            continue;
        }

        len += sub->spool->name.len + 1;
        n++;
    }

    ngx_shmtx_lock(&zone->shpool->mutex);

    old = rec->channels;
    rec->channels = NULL;
    rec->channels_len = 0;
    rec->nchannels = 0;
    rec->channels_cut = cut;

    if (old) {
        ngx_slab_free_locked(zone->shpool, old);
    }

    if (len) {
        p = ngx_ws_zone_alloc(zone, len, rec->channel);

        if (p == NULL) {
            rec->channels_cut = 1;
            ngx_shmtx_unlock(&zone->shpool->mutex);
            return;
        }

        rec->channels = p;
        rec->channels_len = len;
        rec->nchannels = n;

        for (q = ngx_queue_head(&ws->subs);
             q != ngx_queue_sentinel(&ws->subs) && n;
             q = ngx_queue_next(q))
        {
            sub = ngx_queue_data(q, ngx_ws_sub_t, link);

            if (sub->spool->push
                || (size_t) (p - rec->channels) + sub->spool->name.len + 1
                   > len)
            {
                continue;
            }

            p = ngx_cpymem(p, sub->spool->name.data, sub->spool->name.len);
            *p++ = '\0';
            n--;
        }
    }

    ngx_shmtx_unlock(&zone->shpool->mutex);
}


/* with the zone locked: the record of connection id, or NULL */

ngx_ws_conn_rec_t *
ngx_ws_registry_find(ngx_ws_zone_t *zone, ngx_str_t *id, ngx_pool_t *pool)
{
    ngx_str_t               name;
    ngx_ws_channel_node_t  *cn;

    name.len = id->len + 1;
    name.data = ngx_pnalloc(pool, name.len);
    if (name.data == NULL) {
        return NULL;
    }

    name.data[0] = '@';
    ngx_memcpy(name.data + 1, id->data, id->len);

    cn = ngx_ws_channel_lookup(zone, &name, 1);

    return cn ? cn->rec : NULL;
}


/* with the zone locked: the first record after the cursor, or NULL */

ngx_ws_conn_rec_t *
ngx_ws_registry_after(ngx_ws_zone_t *zone, uint64_t after)
{
    ngx_rbtree_node_t  *node, *sentinel, *found;

    node = zone->sh->conns.root;
    sentinel = zone->sh->conns.sentinel;
    found = NULL;

    while (node != sentinel) {
        if ((uint64_t) node->key > after) {
            found = node;
            node = node->left;

        } else {
            node = node->right;
        }
    }

    return (ngx_ws_conn_rec_t *) found;
}


ngx_ws_conn_rec_t *
ngx_ws_registry_next(ngx_ws_zone_t *zone, ngx_ws_conn_rec_t *rec)
{
    return (ngx_ws_conn_rec_t *) ngx_rbtree_next(&zone->sh->conns,
                                                 &rec->node);
}


/* does the record pass the filters (those with a length) */

ngx_uint_t
ngx_ws_registry_match(ngx_ws_conn_rec_t *rec, ngx_ws_conn_filter_t *flt)
{
    u_char  *p, *last, *v;
    size_t   n;

    if (flt->location.len) {
        p = ngx_ws_registry_field(rec, NGX_WS_REC_LOCATION, NULL);

        if (flt->location.len != rec->len[NGX_WS_REC_LOCATION]
            || ngx_memcmp(flt->location.data, p, flt->location.len) != 0)
        {
            return 0;
        }
    }

    if (flt->channel.len) {
        p = rec->channels;
        last = p ? p + rec->channels_len : NULL;

        for ( ;; ) {
            if (p == NULL || p >= last) {
                return 0;
            }

            n = ngx_strlen(p);

            if (n == flt->channel.len
                && ngx_memcmp(p, flt->channel.data, n) == 0)
            {
                break;
            }

            p += n + 1;
        }
    }

    if (flt->header.len) {
        p = ngx_ws_registry_field(rec, NGX_WS_REC_HEADERS, NULL);
        last = p + rec->len[NGX_WS_REC_HEADERS];

        for ( ;; ) {
            if (p >= last) {
                return 0;
            }

            n = ngx_strlen(p);
            v = p + n + 1;

            if (n == flt->header.len
                && ngx_strncasecmp(p, flt->header.data, n) == 0
                && ngx_strlen(v) == flt->value.len
                && ngx_memcmp(v, flt->value.data, flt->value.len) == 0)
            {
                break;
            }

            p = v + ngx_strlen(v) + 1;
        }
    }

    return 1;
}


/* with the zone locked: the record as a JSON object, its length first */

size_t
ngx_ws_registry_json_len(ngx_ws_conn_rec_t *rec)
{
    u_char      *p, *last;
    size_t       len, n;
    ngx_uint_t   i;

    len = sizeof("{\"id\":,\"worker\":,\"start\":,\"remote_addr\":,"
                 "\"uri\":,\"server\":,\"location\":,\"subprotocol\":,"
                 "\"headers\":{},\"channels\":[],\"channels_truncated\":false,"
                 "\"messages_in\":,\"messages_out\":,\"bytes_in\":,"
                 "\"bytes_out\":}") - 1
          + NGX_INT64_LEN * 7;

    for (i = 0; i < NGX_WS_REC_HEADERS; i++) {
        p = ngx_ws_registry_field(rec, i, NULL);
        len += ngx_ws_json_str_len(p, rec->len[i]);
    }

    p = ngx_ws_registry_field(rec, NGX_WS_REC_HEADERS, NULL);
    last = p + rec->len[NGX_WS_REC_HEADERS];

    while (p < last) {
        n = ngx_strlen(p);
        len += ngx_ws_json_str_len(p, n) + 2;       /* ":" and "," */
        p += n + 1;
    }

    p = rec->channels;
    last = p ? p + rec->channels_len : NULL;

    while (p && p < last) {
        n = ngx_strlen(p);
        len += ngx_ws_json_str_len(p, n) + 1;
        p += n + 1;
    }

    return len;
}


u_char *
ngx_ws_registry_json(u_char *p, ngx_ws_conn_rec_t *rec)
{
    u_char      *s, *last;
    size_t       n;
    ngx_uint_t   i;

    static char *names[] = {
        "{\"id\":", ",\"remote_addr\":", ",\"uri\":", ",\"server\":",
        ",\"location\":", ",\"subprotocol\":"
    };

    for (i = 0; i < NGX_WS_REC_HEADERS; i++) {
        p = ngx_cpymem(p, names[i], ngx_strlen(names[i]));
        s = ngx_ws_registry_field(rec, i, NULL);
        p = ngx_ws_json_str(p, s, rec->len[i]);

        if (i == NGX_WS_REC_ID) {
            p = ngx_sprintf(p, ",\"worker\":%P,\"start\":%T",
                            rec->pid, rec->start);
        }
    }

    p = ngx_cpymem(p, ",\"headers\":{", sizeof(",\"headers\":{") - 1);

    s = ngx_ws_registry_field(rec, NGX_WS_REC_HEADERS, NULL);
    last = s + rec->len[NGX_WS_REC_HEADERS];

    for (i = 0; s < last; i++) {
        if (i & 1) {
            *p++ = ':';

        } else if (i) {
            *p++ = ',';
        }

        n = ngx_strlen(s);
        p = ngx_ws_json_str(p, s, n);
        s += n + 1;
    }

    p = ngx_cpymem(p, "},\"channels\":[", sizeof("},\"channels\":[") - 1);

    s = rec->channels;
    last = s ? s + rec->channels_len : NULL;

    for (i = 0; s && s < last; i++) {
        if (i) {
            *p++ = ',';
        }

        n = ngx_strlen(s);
        p = ngx_ws_json_str(p, s, n);
        s += n + 1;
    }

    p = ngx_sprintf(p, "],\"channels_truncated\":%s,\"messages_in\":%uL,"
                    "\"messages_out\":%uL,\"bytes_in\":%uL,"
                    "\"bytes_out\":%uL}",
                    rec->channels_cut ? "true" : "false",
                    rec->counters.messages_in, rec->counters.messages_out,
                    rec->counters.bytes_in, rec->counters.bytes_out);

    return p;
}


static size_t
ngx_ws_json_str_len(u_char *s, size_t len)
{
    return len + ngx_escape_json(NULL, s, len) + 2;
}


static u_char *
ngx_ws_json_str(u_char *p, u_char *s, size_t len)
{
    *p++ = '"';
    p = (u_char *) ngx_escape_json(p, s, len);
    *p++ = '"';

    return p;
}


/* a string of the record; value, when given, gets it too */

u_char *
ngx_ws_registry_field(ngx_ws_conn_rec_t *rec, ngx_uint_t f, ngx_str_t *value)
{
    u_char      *p;
    ngx_uint_t   i;

    p = rec->data;

    for (i = 0; i < f; i++) {
        p += rec->len[i];
    }

    if (value) {
        value->data = p;
        value->len = rec->len[f];
    }

    return p;
}
