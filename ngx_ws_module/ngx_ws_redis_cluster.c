
/*
 * Copyright (C) ngx_ws_module authors
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include "ngx_ws_module.h"
#include "ngx_ws_zone.h"

#include <hiredis/hiredis.h>


/*
 * Redis Cluster (ws_zone ... redis_cluster=host:port,...): the slot map
 * and the routing of commands (docs/cluster.md, "Redis Cluster").
 *
 * A cluster object holds one connection (ngx_ws_redis.c) per node it
 * knows: the seeds, then the masters the slot map names; a fixed small
 * number, whatever the number of channels.  The map (CLUSTER SLOTS) is
 * asked for from any ready node when the object starts, after a MOVED,
 * and every second while a master of the map is not connected (its
 * connection reconnects with the backoff of ngx_ws_redis.c meanwhile; a
 * failover shows as a new master in the next map).
 *
 * A command goes to the master of its key's slot (CRC16 of the key's hash
 * tag, modulo 16384).  Its arguments are kept until the answer: on MOVED
 * the slot is given to the node named, the map is asked for again and the
 * command sent there; on ASK it is sent there once, after ASKING.  At most
 * NGX_WS_REDIS_REDIRECTS redirections, then the error is the answer.
 *
 * Each worker has one object per cluster zone for its commands; the
 * reading worker of the instance has a second one (ngx_ws_redis_bp.c).
 *
 * The reader's object also holds a subscriber connection per master
 * (sharded pub/sub, Redis 7.0): the reader SSUBSCRIBEs there the wake
 * channels of the streams it reads (a channel per stream, named as its
 * key, so in its slot), and each message, subscription, unsubscription
 * (a slot migrated) or MOVED of a slot is told to the reader, which reads
 * that slot.  Each (re)connection of a subscriber, and each change of its
 * slots, gives it a new generation: the reader subscribes again what it
 * subscribed with another.
 */


#define NGX_WS_REDIS_SLOTS           16384
#define NGX_WS_REDIS_NO_NODE         0xff
#define NGX_WS_REDIS_REDIRECTS       5

/* the map is checked this often, more often while it is unknown */
#define NGX_WS_REDIS_CLUSTER_TICK    100
#define NGX_WS_REDIS_CLUSTER_START   20
#define NGX_WS_REDIS_CLUSTER_CHECK   1000
#define NGX_WS_REDIS_CLUSTER_PING    1000


typedef struct {
    ngx_ws_redis_cluster_t     *cl;
    u_char                      host[NGX_SOCKADDR_STRLEN + 1];
    u_char                      name[NGX_SOCKADDR_STRLEN + NGX_INT_T_LEN];
    ngx_ws_redis_conf_t         conf;             /* the zone's, its addr */
    ngx_ws_redis_t             *rd;
    ngx_uint_t                  master;           /* owns slots */

    /* the reader's: the subscriber for wakes, its generation */
    ngx_ws_redis_t             *sub;
    uint64_t                    sub_connects;
    uint64_t                    sub_gen;          /* 0: a new one */
    ngx_uint_t                  unsubs;           /* SUNSUBSCRIBE sent */
    ngx_msec_t                  pinged;
} ngx_ws_redis_node_t;


struct ngx_ws_redis_cluster_s {
    ngx_ws_redis_conf_t        *conf;
    ngx_log_t                  *log;
    ngx_uint_t                  quiet;
    ngx_event_t                 timer;

    ngx_uint_t                  known;            /* the map */
    ngx_uint_t                  stale;            /* a MOVED came */
    ngx_uint_t                  asking;           /* CLUSTER SLOTS sent */
    ngx_msec_t                  asked;            /* when */
    ngx_uint_t                  next;             /* the node to ask */

    ngx_ws_redis_woken_pt       woken;            /* the reader's */
    void                       *woken_data;
    uint64_t                    gens;

    ngx_uint_t                  nnodes;
    ngx_ws_redis_node_t         nodes[NGX_WS_REDIS_MAX_NODES];
    u_char                      slots[NGX_WS_REDIS_SLOTS];
    u_char                      map[NGX_WS_REDIS_SLOTS];  /* being read */
};


/* a command, kept until its answer for the redirections */

typedef struct {
    ngx_ws_redis_cluster_t     *cl;
    ngx_ws_redis_reply_pt       handler;
    void                       *data;
    ngx_uint_t                  redirects;
    int                         argc;
    const char                **argv;
    size_t                     *argvlen;
} ngx_ws_redis_ccmd_t;


static ngx_uint_t ngx_ws_redis_cluster_node(ngx_ws_redis_cluster_t *cl,
    u_char *host, size_t len, int port);
static void ngx_ws_redis_cluster_tick(ngx_event_t *ev);
static void ngx_ws_redis_cluster_slots(ngx_ws_redis_t *rd, void *reply,
    void *data);
static void ngx_ws_redis_cluster_reply(ngx_ws_redis_t *rd, void *reply,
    void *data);
static ngx_int_t ngx_ws_redis_cluster_redirect(ngx_ws_redis_t *rd,
    ngx_ws_redis_ccmd_t *cc, redisReply *r);
static void ngx_ws_redis_cluster_asking(ngx_ws_redis_t *rd, void *reply,
    void *data);
static void ngx_ws_redis_cluster_subs(ngx_ws_redis_cluster_t *cl);
static void ngx_ws_redis_cluster_push(ngx_ws_redis_t *rd, void *reply,
    void *data);
static uint16_t ngx_ws_redis_crc16(u_char *p, size_t len);


/* the slot of a key: CRC16 of its hash tag ({...}) or of the whole key */

ngx_uint_t
ngx_ws_redis_cluster_slot(u_char *key, size_t len)
{
    u_char  *open, *close, *last;

    last = key + len;
    open = ngx_strlchr(key, last, '{');

    if (open != NULL) {
        close = ngx_strlchr(open + 1, last, '}');

        if (close != NULL && close > open + 1) {
            key = open + 1;
            len = close - key;
        }
    }

    return ngx_ws_redis_crc16(key, len) & (NGX_WS_REDIS_SLOTS - 1);
}


/*
 * The CRC16 of the cluster specification: CCITT polynomial 0x1021,
 * initial value 0, no reflection (XMODEM)
 */

static uint16_t
ngx_ws_redis_crc16(u_char *p, size_t len)
{
    uint16_t    crc;
    ngx_uint_t  bit;

    crc = 0;

    while (len--) {
        crc ^= (uint16_t) (*p++ << 8);

        for (bit = 0; bit < 8; bit++) {
            if (crc & 0x8000) {
                crc = (uint16_t) ((crc << 1) ^ 0x1021);

            } else {
                crc = (uint16_t) (crc << 1);
            }
        }
    }

    return crc;
}


/* a cluster object: connections to the seeds, the map asked for */

ngx_ws_redis_cluster_t *
ngx_ws_redis_cluster_open(ngx_ws_redis_conf_t *rcf, ngx_log_t *log,
    ngx_uint_t quiet)
{
    ngx_uint_t               i;
    ngx_ws_redis_seed_t     *seeds;
    ngx_ws_redis_cluster_t  *cl;

    cl = ngx_calloc(sizeof(ngx_ws_redis_cluster_t), log);
    if (cl == NULL) {
        return NULL;
    }

    cl->conf = rcf;
    cl->log = log;
    cl->quiet = quiet;

    ngx_memset(cl->slots, NGX_WS_REDIS_NO_NODE, NGX_WS_REDIS_SLOTS);

    cl->timer.handler = ngx_ws_redis_cluster_tick;
    cl->timer.data = cl;
    cl->timer.log = log;
    cl->timer.cancelable = 1;

    seeds = rcf->seeds->elts;

    for (i = 0; i < rcf->seeds->nelts; i++) {
        (void) ngx_ws_redis_cluster_node(cl, seeds[i].host,
                                         ngx_strlen(seeds[i].host),
                                         seeds[i].port);
    }

    ngx_add_timer(&cl->timer, NGX_WS_REDIS_CLUSTER_START);

    return cl;
}


/* its connections are closed (commands in flight answered NULL) */

void
ngx_ws_redis_cluster_close(ngx_ws_redis_cluster_t *cl)
{
    ngx_uint_t       i;
    ngx_ws_redis_t  *rd;

    if (cl->timer.timer_set) {
        ngx_del_timer(&cl->timer);
    }

    for (i = 0; i < cl->nnodes; i++) {
        rd = cl->nodes[i].rd;

        if (rd != NULL) {
            cl->nodes[i].rd = NULL;
            ngx_ws_redis_close(rd);
        }

        rd = cl->nodes[i].sub;

        if (rd != NULL) {
            cl->nodes[i].sub = NULL;
            ngx_ws_redis_close(rd);
        }
    }

    ngx_free(cl);
}


/*
 * The index of a node, known or added now (its connection being made);
 * NGX_WS_REDIS_NO_NODE when there are too many
 */

static ngx_uint_t
ngx_ws_redis_cluster_node(ngx_ws_redis_cluster_t *cl, u_char *host,
    size_t len, int port)
{
    u_char               *p;
    ngx_uint_t            i;
    ngx_ws_redis_node_t  *node;

    if (len > NGX_SOCKADDR_STRLEN) {
        return NGX_WS_REDIS_NO_NODE;
    }

    for (i = 0; i < cl->nnodes; i++) {
        node = &cl->nodes[i];

        if (node->conf.port == port
            && ngx_strlen(node->host) == len
            && ngx_strncmp(node->host, host, len) == 0)
        {
            return i;
        }
    }

    if (cl->nnodes == NGX_WS_REDIS_MAX_NODES) {
        ngx_log_error(NGX_LOG_WARN, cl->log, 0,
                      "redis cluster \"%V\": more than %d nodes, "
                      "%*s:%d ignored", &cl->conf->addr,
                      NGX_WS_REDIS_MAX_NODES, len, host, port);
        return NGX_WS_REDIS_NO_NODE;
    }

    node = &cl->nodes[cl->nnodes];

    node->cl = cl;
    ngx_memcpy(node->host, host, len);
    node->host[len] = '\0';

    p = ngx_sprintf(node->name, "%*s:%d", len, host, port);

    /* the zone's settings (password, timeouts, figures), this address */

    node->conf = *cl->conf;
    node->conf.host = node->host;
    node->conf.port = port;
    node->conf.addr.data = node->name;
    node->conf.addr.len = p - node->name;
    node->conf.conn = NULL;
    node->conf.reader = NULL;
    node->conf.seeds = NULL;
    node->conf.cluster = NULL;

    node->rd = ngx_ws_redis_open(&node->conf, cl->log, cl->quiet);

    return cl->nnodes++;
}


/* the map: asked for when unknown, after a MOVED, or a master is away */

static void
ngx_ws_redis_cluster_tick(ngx_event_t *ev)
{
    ngx_ws_redis_cluster_t *cl = ev->data;

    size_t                argvlen[2];
    ngx_uint_t            i, n, away;
    ngx_msec_t            wait;
    const char           *argv[2];
    ngx_ws_redis_t       *rd;
    ngx_ws_redis_node_t  *node;

    away = 0;

    for (i = 0; i < cl->nnodes; i++) {
        node = &cl->nodes[i];

        if (node->rd == NULL) {
            node->rd = ngx_ws_redis_open(&node->conf, cl->log, cl->quiet);
        }

        if (node->master
            && (node->rd == NULL || node->rd->state != NGX_WS_REDIS_READY))
        {
            away = 1;
        }
    }

    wait = (cl->known && !cl->stale) ? NGX_WS_REDIS_CLUSTER_CHECK
                                     : NGX_WS_REDIS_CLUSTER_TICK;

    if (!cl->asking && (!cl->known || cl->stale || away)
        && (cl->asked == 0 || ngx_current_msec - cl->asked >= wait))
    {
        argv[0] = "CLUSTER";
        argvlen[0] = 7;
        argv[1] = "SLOTS";
        argvlen[1] = 5;

        /* the nodes in turn, from the one after the last asked */

        for (n = 0; n < cl->nnodes; n++) {
            i = (cl->next + n) % cl->nnodes;
            rd = cl->nodes[i].rd;

            if (rd == NULL || rd->state != NGX_WS_REDIS_READY) {
                continue;
            }

            if (ngx_ws_redis_command(rd, ngx_ws_redis_cluster_slots, cl, 2,
                                     argv, argvlen)
                == NGX_OK)
            {
                cl->asking = 1;
                cl->asked = ngx_current_msec;
                cl->next = i + 1;
                break;
            }
        }
    }

    if (cl->woken) {
        ngx_ws_redis_cluster_subs(cl);
    }

    ngx_add_timer(&cl->timer, cl->known ? NGX_WS_REDIS_CLUSTER_TICK
                                        : NGX_WS_REDIS_CLUSTER_START);
}


/*
 * CLUSTER SLOTS: [[start, end, [host, port, id], replica...], ...]; the
 * first address of each range is its master
 */

static void
ngx_ws_redis_cluster_slots(ngx_ws_redis_t *rd, void *reply, void *data)
{
    ngx_ws_redis_cluster_t *cl = data;

    size_t       len;
    u_char      *host;
    long long    start, end, s;
    ngx_uint_t   i, n, masters, changed, level;
    redisReply  *r, *range, *m;

    r = reply;

    cl->asking = 0;

    if (r == NULL) {
        return;
    }

    if (r->type != REDIS_REPLY_ARRAY) {
        ngx_log_error(NGX_LOG_ERR, cl->log, 0,
                      "redis cluster \"%V\": CLUSTER SLOTS refused by %V: "
                      "%*s", &cl->conf->addr, &rd->conf->addr,
                      (size_t) (r->type == REDIS_REPLY_ERROR ? r->len : 0),
                      r->str);
        return;
    }

    ngx_memset(cl->map, NGX_WS_REDIS_NO_NODE, NGX_WS_REDIS_SLOTS);

    for (i = 0; i < r->elements; i++) {
        range = r->element[i];

        if (range->type != REDIS_REPLY_ARRAY || range->elements < 3
            || range->element[0]->type != REDIS_REPLY_INTEGER
            || range->element[1]->type != REDIS_REPLY_INTEGER
            || range->element[2]->type != REDIS_REPLY_ARRAY
            || range->element[2]->elements < 2
            || range->element[2]->element[0]->type != REDIS_REPLY_STRING
            || range->element[2]->element[1]->type != REDIS_REPLY_INTEGER)
        {
            continue;
        }

        start = range->element[0]->integer;
        end = range->element[1]->integer;
        m = range->element[2];

        if (start < 0 || end >= NGX_WS_REDIS_SLOTS || start > end) {
            continue;
        }

        host = (u_char *) m->element[0]->str;
        len = m->element[0]->len;

        /* no address known: the one of the node that answered */

        if (len == 0 || (len == 1 && host[0] == '?')) {
            host = rd->conf->host;
            len = ngx_strlen(host);
        }

        n = ngx_ws_redis_cluster_node(cl, host, len,
                                      (int) m->element[1]->integer);

        for (s = start; s <= end; s++) {
            cl->map[s] = (u_char) n;
        }
    }

    changed = !cl->known
              || ngx_memcmp(cl->map, cl->slots, NGX_WS_REDIS_SLOTS) != 0;

    if (changed) {
        /* a slot moved: the reader subscribes again on every master */
        for (i = 0; i < cl->nnodes; i++) {
            cl->nodes[i].sub_gen = 0;
        }
    }

    ngx_memcpy(cl->slots, cl->map, NGX_WS_REDIS_SLOTS);

    for (i = 0; i < cl->nnodes; i++) {
        cl->nodes[i].master = 0;
    }

    n = 0;

    for (s = 0; s < NGX_WS_REDIS_SLOTS; s++) {
        if (cl->slots[s] == NGX_WS_REDIS_NO_NODE) {
            n++;
            continue;
        }

        cl->nodes[cl->slots[s]].master = 1;
    }

    masters = 0;

    for (i = 0; i < cl->nnodes; i++) {
        masters += cl->nodes[i].master;
    }

    level = n ? NGX_LOG_WARN : NGX_LOG_INFO;

    if (changed) {
        ngx_log_error(level, cl->log, 0,
                      "redis cluster \"%V\": slot map from %V: %ui masters, "
                      "%ui slots without one", &cl->conf->addr,
                      &rd->conf->addr, masters, n);
    }

    cl->known = 1;
    cl->stale = 0;
}


/* the connection to the master of a slot, if it is ready */

ngx_ws_redis_t *
ngx_ws_redis_cluster_conn(ngx_ws_redis_cluster_t *cl, ngx_uint_t slot)
{
    ngx_uint_t       n;
    ngx_ws_redis_t  *rd;

    n = cl->slots[slot & (NGX_WS_REDIS_SLOTS - 1)];

    if (n == NGX_WS_REDIS_NO_NODE) {
        return NULL;
    }

    rd = cl->nodes[n].rd;

    return (rd && rd->state == NGX_WS_REDIS_READY) ? rd : NULL;
}


/* the map is known and some node is ready */

ngx_uint_t
ngx_ws_redis_cluster_ready(ngx_ws_redis_cluster_t *cl)
{
    ngx_uint_t  i;

    if (!cl->known) {
        return 0;
    }

    for (i = 0; i < cl->nnodes; i++) {
        if (cl->nodes[i].rd
            && cl->nodes[i].rd->state == NGX_WS_REDIS_READY)
        {
            return 1;
        }
    }

    return 0;
}


/*
 * The connections made to the nodes so far, summed: it grows with each
 * (re)connection of any node (the reader checks its channels then)
 */

uint64_t
ngx_ws_redis_cluster_connects(ngx_ws_redis_cluster_t *cl)
{
    uint64_t    n;
    ngx_uint_t  i;

    n = 0;

    for (i = 0; i < cl->nnodes; i++) {
        if (cl->nodes[i].rd) {
            n += cl->nodes[i].rd->connects;
        }
    }

    return n;
}


/*
 * A command to the master of a slot, as ngx_ws_redis_command() answers:
 * NGX_DECLINED when that master is not connected (or the map unknown)
 */

ngx_int_t
ngx_ws_redis_cluster_command(ngx_ws_redis_cluster_t *cl, ngx_uint_t slot,
    ngx_ws_redis_reply_pt handler, void *data, int argc, const char **argv,
    const size_t *argvlen)
{
    int                   i;
    u_char               *p;
    size_t                size;
    ngx_int_t             rc;
    ngx_ws_redis_t       *rd;
    ngx_ws_redis_ccmd_t  *cc;

    rd = ngx_ws_redis_cluster_conn(cl, slot);

    if (rd == NULL) {
        return NGX_DECLINED;
    }

    if (rd->inflight == NGX_WS_REDIS_MAX_INFLIGHT) {
        return NGX_BUSY;
    }

    /* one block: the command, the argument vectors, the arguments */

    size = sizeof(ngx_ws_redis_ccmd_t)
           + argc * (sizeof(char *) + sizeof(size_t));

    for (i = 0; i < argc; i++) {
        size += argvlen[i];
    }

    cc = ngx_alloc(size, cl->log);
    if (cc == NULL) {
        return NGX_ERROR;
    }

    cc->cl = cl;
    cc->handler = handler;
    cc->data = data;
    cc->redirects = 0;
    cc->argc = argc;
    cc->argv = (const char **) (cc + 1);
    cc->argvlen = (size_t *) (cc->argv + argc);

    p = (u_char *) (cc->argvlen + argc);

    for (i = 0; i < argc; i++) {
        cc->argv[i] = (char *) p;
        cc->argvlen[i] = argvlen[i];
        p = ngx_cpymem(p, argv[i], argvlen[i]);
    }

    rc = ngx_ws_redis_command(rd, ngx_ws_redis_cluster_reply, cc, argc,
                              cc->argv, cc->argvlen);

    if (rc != NGX_OK) {
        ngx_free(cc);
    }

    return rc;
}


/* an answer: redirected on MOVED or ASK, else given to the caller */

static void
ngx_ws_redis_cluster_reply(ngx_ws_redis_t *rd, void *reply, void *data)
{
    ngx_ws_redis_ccmd_t *cc = data;

    redisReply  *r;

    r = reply;

    if (r != NULL && r->type == REDIS_REPLY_ERROR
        && cc->redirects < NGX_WS_REDIS_REDIRECTS
        && ((r->len > 6 && ngx_strncmp(r->str, "MOVED ", 6) == 0)
            || (r->len > 4 && ngx_strncmp(r->str, "ASK ", 4) == 0))
        && ngx_ws_redis_cluster_redirect(rd, cc, r) == NGX_OK)
    {
        return;
    }

    cc->handler(rd, reply, cc->data);

    ngx_free(cc);
}


/* "MOVED SLOT HOST:PORT" or "ASK SLOT HOST:PORT": sent there */

static ngx_int_t
ngx_ws_redis_cluster_redirect(ngx_ws_redis_t *rd, ngx_ws_redis_ccmd_t *cc,
    redisReply *r)
{
    u_char                  *p, *last, *colon;
    size_t                   argvlen[1];
    ngx_int_t                slot, port;
    ngx_uint_t               n, ask;
    const char              *argv[1];
    ngx_ws_redis_t          *to;
    ngx_ws_redis_cluster_t  *cl;

    cl = cc->cl;
    ask = (r->str[0] == 'A');

    p = (u_char *) r->str + (ask ? 4 : 6);
    last = (u_char *) r->str + r->len;

    colon = ngx_strlchr(p, last, ' ');

    if (colon == NULL) {
        return NGX_ERROR;
    }

    slot = ngx_atoi(p, colon - p);
    p = colon + 1;

    /* the last colon: an IPv6 address has others */

    for (colon = last - 1; colon > p && *colon != ':'; colon--) {
        /* void */
    }

    port = ngx_atoi(colon + 1, last - colon - 1);

    if (slot == NGX_ERROR || slot >= NGX_WS_REDIS_SLOTS || colon == p
        || port == NGX_ERROR || port == 0 || port > 65535)
    {
        return NGX_ERROR;
    }

    n = ngx_ws_redis_cluster_node(cl, p, colon - p, (int) port);

    if (n == NGX_WS_REDIS_NO_NODE) {
        return NGX_ERROR;
    }

    ngx_log_debug4(NGX_LOG_DEBUG_HTTP, cl->log, 0,
                   "ws redis cluster %s slot %i to %V from %V",
                   ask ? "ASK" : "MOVED", slot, &cl->nodes[n].conf.addr,
                   &rd->conf->addr);

    if (!ask) {
        /* the slot is there from now on; the rest of the map may be too */
        cl->slots[slot] = (u_char) n;
        cl->stale = 1;
    }

    if (cl->conf->stat) {
        (void) ngx_atomic_fetch_add(ask ? &cl->conf->stat->asked
                                        : &cl->conf->stat->moved, 1);
    }

    to = cl->nodes[n].rd;

    if (to == NULL || to->state != NGX_WS_REDIS_READY
        || to->inflight + 2 > NGX_WS_REDIS_MAX_INFLIGHT)
    {
        /* the error is the answer: the node is not connected (yet) */
        return NGX_ERROR;
    }

    if (ask) {
        argv[0] = "ASKING";
        argvlen[0] = 6;

        if (ngx_ws_redis_command(to, ngx_ws_redis_cluster_asking, NULL, 1,
                                 argv, argvlen)
            != NGX_OK)
        {
            return NGX_ERROR;
        }
    }

    cc->redirects++;

    return ngx_ws_redis_command(to, ngx_ws_redis_cluster_reply, cc, cc->argc,
                                cc->argv, cc->argvlen);
}


/* ASKING: +OK, nothing to do */

static void
ngx_ws_redis_cluster_asking(ngx_ws_redis_t *rd, void *reply, void *data)
{
}


/*
 * The reader's object: a subscriber per master for wakes, the handler
 * told of the slots to read
 */

void
ngx_ws_redis_cluster_wakes(ngx_ws_redis_cluster_t *cl,
    ngx_ws_redis_woken_pt handler, void *data)
{
    cl->woken = handler;
    cl->woken_data = data;
}


/* each master's subscriber, made if missing, and kept alive by a PING */

static void
ngx_ws_redis_cluster_subs(ngx_ws_redis_cluster_t *cl)
{
    size_t                argvlen[1];
    ngx_uint_t            i;
    const char           *argv[1];
    ngx_ws_redis_node_t  *node;

    for (i = 0; i < cl->nnodes; i++) {
        node = &cl->nodes[i];

        if (!node->master) {
            continue;
        }

        if (node->sub == NULL) {
            node->sub = ngx_ws_redis_open(&node->conf, cl->log, 1);

            if (node->sub == NULL) {
                continue;
            }

            node->sub->push = ngx_ws_redis_cluster_push;
            node->sub->push_data = node;
            node->sub_gen = 0;
            continue;
        }

        if (node->sub->state == NGX_WS_REDIS_READY
            && ngx_current_msec - node->pinged >= NGX_WS_REDIS_CLUSTER_PING)
        {
            node->pinged = ngx_current_msec;

            argv[0] = "PING";
            argvlen[0] = 4;

            (void) ngx_ws_redis_send(node->sub, 1, argv, argvlen);
        }
    }
}


/*
 * The generation of the subscriber of a slot's master, 0 when it is not
 * ready: what was subscribed with another is subscribed again
 */

uint64_t
ngx_ws_redis_cluster_wake_gen(ngx_ws_redis_cluster_t *cl, ngx_uint_t slot)
{
    ngx_uint_t            n;
    ngx_ws_redis_node_t  *node;

    n = cl->slots[slot & (NGX_WS_REDIS_SLOTS - 1)];

    if (n == NGX_WS_REDIS_NO_NODE || cl->stale) {
        return 0;
    }

    node = &cl->nodes[n];

    if (node->sub == NULL || node->sub->state != NGX_WS_REDIS_READY) {
        return 0;
    }

    if (node->sub_gen == 0 || node->sub_connects != node->sub->connects) {
        /* unique across the workers, which may take the reading over */
        node->sub_connects = node->sub->connects;
        node->sub_gen = ((uint64_t) ngx_pid << 32) + ++cl->gens;
        node->unsubs = 0;
    }

    return node->sub_gen;
}


/* SSUBSCRIBE channel... (of one slot) on the subscriber of its master */

ngx_int_t
ngx_ws_redis_cluster_subscribe(ngx_ws_redis_cluster_t *cl, ngx_uint_t slot,
    int argc, const char **argv, const size_t *argvlen)
{
    ngx_uint_t  n;

    n = cl->slots[slot & (NGX_WS_REDIS_SLOTS - 1)];

    if (n == NGX_WS_REDIS_NO_NODE) {
        return NGX_DECLINED;
    }

    return ngx_ws_redis_send(cl->nodes[n].sub, argc, argv, argvlen);
}


/*
 * SUNSUBSCRIBE channel on the subscriber of its slot's master (a channel
 * without subscribers); not needed when it is not ready (a new
 * connection has no subscriptions)
 */

void
ngx_ws_redis_cluster_unsubscribe(ngx_ws_redis_cluster_t *cl,
    ngx_uint_t slot, const char **argv, const size_t *argvlen)
{
    ngx_uint_t            n;
    ngx_ws_redis_node_t  *node;

    n = cl->slots[slot & (NGX_WS_REDIS_SLOTS - 1)];

    if (n == NGX_WS_REDIS_NO_NODE) {
        return;
    }

    node = &cl->nodes[n];

    if (node->sub_gen != 0
        && node->sub_connects == node->sub->connects
        && ngx_ws_redis_send(node->sub, 2, argv, argvlen) == NGX_OK)
    {
        node->unsubs++;
    }
}


/* the masters' subscribers that are ready, and their connections made */

ngx_uint_t
ngx_ws_redis_cluster_wake_ready(ngx_ws_redis_cluster_t *cl,
    uint64_t *connects)
{
    ngx_uint_t       i, n;
    ngx_ws_redis_t  *sub;

    n = 0;
    *connects = 0;

    for (i = 0; i < cl->nnodes; i++) {
        sub = cl->nodes[i].sub;

        if (sub == NULL) {
            continue;
        }

        *connects += sub->connects;

        if (cl->nodes[i].master && sub->state == NGX_WS_REDIS_READY) {
            n++;
        }
    }

    return n;
}


/*
 * What a subscriber reads: ["smessage", channel, data] (a wake),
 * ["ssubscribe", channel, n] (subscribed: what came before is read now),
 * ["sunsubscribe", channel, n] (its slot migrated: the map is asked for
 * again), ["pong", ""], or an error (-MOVED SLOT HOST:PORT to an
 * SSUBSCRIBE).  The slot concerned is read.
 */

static void
ngx_ws_redis_cluster_push(ngx_ws_redis_t *rd, void *reply, void *data)
{
    ngx_ws_redis_node_t *node = data;

    u_char                  *p, *last;
    ngx_int_t                slot;
    redisReply              *r, *kind, *chan;
    ngx_ws_redis_cluster_t  *cl;

    r = reply;
    cl = node->cl;

    if (r->type == REDIS_REPLY_ERROR) {
        slot = NGX_ERROR;

        if (r->len > 6 && ngx_strncmp(r->str, "MOVED ", 6) == 0) {
            p = (u_char *) r->str + 6;
            last = ngx_strlchr(p, (u_char *) r->str + r->len, ' ');
            slot = last ? ngx_atoi(p, last - p) : NGX_ERROR;
        }

        ngx_log_error(NGX_LOG_INFO, rd->log, 0,
                      "redis \"%V\": wake subscriber: %*s", &rd->conf->addr,
                      (size_t) r->len, r->str);

        /* the map is asked for again, and the slot read meanwhile */

        cl->stale = 1;
        node->sub_gen = 0;

        if (slot != NGX_ERROR && slot < NGX_WS_REDIS_SLOTS) {
            cl->woken(cl->woken_data, (ngx_uint_t) slot);
        }

        return;
    }

    if (r->type != REDIS_REPLY_ARRAY || r->elements < 2
        || r->element[0]->type != REDIS_REPLY_STRING
        || r->element[1]->type != REDIS_REPLY_STRING)
    {
        return;
    }

    kind = r->element[0];
    chan = r->element[1];

    if (kind->len == 8 && ngx_strncasecmp((u_char *) kind->str,
                                          (u_char *) "smessage", 8) == 0)
    {
        if (rd->conf->stat) {
            (void) ngx_atomic_fetch_add(&rd->conf->stat->wakes, 1);
        }

    } else if (kind->len == 12
               && ngx_strncasecmp((u_char *) kind->str,
                                  (u_char *) "sunsubscribe", 12) == 0)
    {
        if (node->unsubs) {
            /* the answer to ours */
            node->unsubs--;
            return;
        }

        /* Redis unsubscribed it: the slot went to another master */
        cl->stale = 1;
        node->sub_gen = 0;

    } else if (kind->len != 10
               || ngx_strncasecmp((u_char *) kind->str,
                                  (u_char *) "ssubscribe", 10) != 0)
    {
        return;
    }

    cl->woken(cl->woken_data,
              ngx_ws_redis_cluster_slot((u_char *) chan->str, chan->len));
}
