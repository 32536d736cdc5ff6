
/*
 * Copyright (C) ngx_ws_module authors
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include <ngx_sha1.h>
#include "ngx_ws_module.h"
#include "ngx_ws_zone.h"

#if (NGX_WS_HAVE_HIREDIS)
#include <hiredis/hiredis.h>
#endif


/*
 * The backplane of a Redis-backed zone (docs/cluster.md).
 *
 * A channel is two keys, with the same hash tag: "{ws:ZONE:NAME}:n", the
 * channel's last id, and "{ws:ZONE:NAME}:s", its stream.  A publish is one
 * script (EVAL): INCR of the last id, XADD of the message to the stream
 * with that id as the entry's id ("ID-0"), MAXLEN ~ the history.  So ids
 * follow by one in each channel, as the delivery code expects everywhere
 * (gaps are history lost), they are the same on every instance, and the
 * entry id is the message id.  A channel's first id is taken from Redis's
 * clock (ms since 2024 * 4096), as a local zone does: after Redis lost a
 * channel, its ids go on from a later epoch and an old id is history lost.
 *
 * Nothing is stored locally by a publish: one worker per instance, the
 * reader, reads the streams of the channels that have subscribers on the
 * instance (XREAD, on a connection of its own) and stores what it reads in
 * the zone, where every worker delivers it as a local message; the
 * instance that published a message delivers it the same way, in the
 * stream's order.  A channel new to the instance is synced first (its last
 * id and its last history= entries, one script).
 *
 * The reader is elected in shared memory: a lease of a second, renewed
 * every 100 ms by its holder; any worker takes it when it is free or
 * expired (its holder died, or exits).  A worker that exits gives it up.
 *
 * Redis may lose its latest writes (a failover with asynchronous
 * replication, a restart from a snapshot or from an append-only file that
 * missed the last second): the last id of a channel goes back below ids
 * the instance read, and the next publish would give such an id again,
 * with other data.  So after each connection of the reader, before it
 * reads, each channel it reads is checked (one script per channel): when
 * Redis's last id is below the instance's, or the entry under the
 * instance's last id holds other data (it was given again already), the
 * channel moves to a new epoch of ids in Redis and the instance's
 * subscribers are told history_lost from their last id.
 *
 * So that the reader does not name every channel in each XREAD, a publish
 * is followed by a notice, the channel's name, in the zone's stream
 * "{ws:ZONE}:d" (MAXLEN ~ 100000); the reader waits on that stream and
 * reads the streams of the channels it names.  Every channel is read
 * besides: after a connection, after a sync, when a read or a wait for
 * notices was cut by its COUNT, and every second (a notice that was not
 * written, e.g. the connection went between the two commands).
 */


#define NGX_WS_REDIS_TICK           100
#define NGX_WS_REDIS_LEASE          1000
#define NGX_WS_REDIS_BLOCK          "100"
#define NGX_WS_REDIS_READ_COUNT     "256"
#define NGX_WS_REDIS_MIN_MAXLEN     128
#define NGX_WS_REDIS_CHECK_BATCH    128           /* channels per script */
#define NGX_WS_REDIS_NOTICE_COUNT   "1024"
#define NGX_WS_REDIS_NOTICE_MAXLEN  "100000"
#define NGX_WS_REDIS_FULL_READ      1000          /* ms, at least that often */


#if (NGX_WS_HAVE_HIREDIS)

typedef struct {
    ngx_ws_zone_t              *zone;
    ngx_ws_redis_t             *rd;               /* while the reader */
    ngx_event_t                 tick;
    ngx_uint_t                  busy;             /* commands in flight */
    ngx_pool_t                 *pool;             /* of the round */
    uint64_t                    checked;          /* rd->connects then */

    /* the zone's notices read up to, "MS-SEQ"; 0: to be asked */
    size_t                      notice_len;
    u_char                      notice[2 * NGX_INT64_LEN + 2];
    ngx_uint_t                  full;             /* read all channels */
    ngx_msec_t                  full_at;          /* at least by then */
} ngx_ws_redis_reader_t;


typedef struct {
    ngx_ws_redis_reader_t      *rr;
    ngx_str_t                   name;
} ngx_ws_redis_sync_t;


/* a channel to read, from its last id */

typedef struct {
    ngx_str_t                   name;
    uint64_t                    last;
    u_char                      sha1[40];         /* of its data */
    ngx_uint_t                  known;            /* the data was kept */
} ngx_ws_redis_chan_t;


/* the channels of one check script */

typedef struct {
    ngx_ws_redis_reader_t      *rr;
    ngx_ws_redis_chan_t        *ch;
    ngx_uint_t                  n;
} ngx_ws_redis_check_t;


typedef struct {
    ngx_ws_redis_published_pt   handler;
    void                       *data;
} ngx_ws_redis_pub_t;


static void ngx_ws_redis_tick(ngx_event_t *ev);
static void ngx_ws_redis_round(ngx_ws_redis_reader_t *rr);
static void ngx_ws_redis_round_done(ngx_ws_redis_reader_t *rr);
static void ngx_ws_redis_sync_send(ngx_ws_redis_reader_t *rr,
    ngx_array_t *sync);
static void ngx_ws_redis_read_send(ngx_ws_redis_reader_t *rr,
    ngx_array_t *read);
static void ngx_ws_redis_notice_send(ngx_ws_redis_reader_t *rr);
static void ngx_ws_redis_notices(ngx_ws_redis_t *rd, void *reply,
    void *data);
static void ngx_ws_redis_noticed(ngx_ws_redis_t *rd, void *reply,
    void *data);
static void ngx_ws_redis_notice_add(ngx_ws_redis_reader_t *rr,
    ngx_array_t *read, redisReply *e);
static u_char *ngx_ws_redis_notice_key(ngx_pool_t *pool,
    ngx_ws_zone_t *zone, size_t *len);
static void ngx_ws_redis_check_send(ngx_ws_redis_reader_t *rr,
    ngx_array_t *read);
static void ngx_ws_redis_checked(ngx_ws_redis_t *rd, void *reply,
    void *data);
static void ngx_ws_redis_last_sha1(ngx_ws_channel_node_t *cn,
    ngx_ws_redis_chan_t *ch);
static void ngx_ws_redis_synced(ngx_ws_redis_t *rd, void *reply,
    void *data);
static void ngx_ws_redis_read(ngx_ws_redis_t *rd, void *reply, void *data);
static void ngx_ws_redis_entries(ngx_ws_redis_reader_t *rr,
    ngx_ws_channel_node_t *cn, redisReply *entries, ngx_uint_t newest_first);
static ngx_int_t ngx_ws_redis_entry_id(redisReply *e, uint64_t *id);
static u_char *ngx_ws_redis_key(ngx_pool_t *pool, ngx_ws_zone_t *zone,
    ngx_str_t *name, char kind, size_t *len);
static void ngx_ws_redis_published(ngx_ws_redis_t *rd, void *reply,
    void *data);
static void ngx_ws_redis_wake(ngx_ws_zone_t *zone, uint64_t workers,
    uint64_t uid);


/*
 * KEYS[1] the last id, KEYS[2] the stream; ARGV[1] MAXLEN, ARGV[2] the
 * opcode, ARGV[3] the data, ARGV[4] the class, ARGV[5] the conflation key
 * (ws_publish_class, X-WS-Class, X-WS-Key; empty: none).  Lua numbers are doubles: the ids (below
 * 2^53) are exact, but are formatted with %d, never by tostring().
 */

#define NGX_WS_REDIS_FIRST_ID                                                 \
    "local function first(s)\n"                                               \
    "  local t = redis.call('TIME')\n"                                        \
    "  local n = ((tonumber(t[1]) - 1704067200) * 1000"                       \
    " + math.floor(tonumber(t[2]) / 1000)) * 4096\n"                          \
    "  local e = redis.call('XREVRANGE', s, '+', '-', 'COUNT', 1)\n"          \
    "  if e[1] then\n"                                                        \
    "    local l = tonumber(string.match(e[1][1], '^(%d+)'))\n"               \
    "    if l > n then n = l end\n"                                           \
    "  end\n"                                                                 \
    "  return n\n"                                                            \
    "end\n"

static char  ngx_ws_redis_publish_lua[] =
    NGX_WS_REDIS_FIRST_ID
    "local n = redis.call('INCR', KEYS[1])\n"
    "if n == 1 then\n"
    "  n = first(KEYS[2]) + 1\n"
    "  redis.call('SET', KEYS[1], string.format('%d', n))\n"
    "end\n"
    "redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[1],"
    " string.format('%d-0', n), 'o', ARGV[2], 'd', ARGV[3], 'c', ARGV[4],"
    " 'k', ARGV[5])\n"
    "return n\n";


/* KEYS as above, ARGV[1] how many entries: {last id, newest entries} */

static char  ngx_ws_redis_sync_lua[] =
    NGX_WS_REDIS_FIRST_ID
    "local n = redis.call('GET', KEYS[1])\n"
    "if not n then\n"
    "  n = string.format('%d', first(KEYS[2]))\n"
    "  redis.call('SET', KEYS[1], n)\n"
    "end\n"
    "return {n, redis.call('XREVRANGE', KEYS[2], '+', '-', 'COUNT',"
    " ARGV[1])}\n";


/*
 * For each channel, KEYS as above and ARGV: the instance's last id, the
 * SHA-1 (hex) of the data of that message, or empty.  For each, 0: Redis
 * agrees (or the entry was trimmed, or a new epoch follows it: the reader
 * sees the gap); else the id to read on from.  Redis behind the instance:
 * its ids would be given again, the channel moves to a new epoch.  The
 * entry holds other data (its id was given again already): the instance
 * reads on from Redis's last id, or from a new epoch if that is the entry
 * itself.
 */

static char  ngx_ws_redis_check_lua[] =
    NGX_WS_REDIS_FIRST_ID
    "local function check(nk, sk, a, h)\n"
    "  local n = tonumber(redis.call('GET', nk) or '0')\n"
    "  if n >= tonumber(a) then\n"
    "    if h == '' then return 0 end\n"
    "    local id = a .. '-0'\n"
    "    local e = redis.call('XRANGE', sk, id, id)\n"
    "    if not e[1] then return 0 end\n"
    "    local d = ''\n"
    "    for i = 1, #e[1][2], 2 do\n"
    "      if e[1][2][i] == 'd' then d = e[1][2][i + 1] end\n"
    "    end\n"
    "    if redis.sha1hex(d) == h then return 0 end\n"
    "    if n > tonumber(a) then return n end\n"
    "  end\n"
    "  local f = first(sk)\n"
    "  if f > n then\n"
    "    n = f\n"
    "    redis.call('SET', nk, string.format('%d', n))\n"
    "  end\n"
    "  return n\n"
    "end\n"
    "local r = {}\n"
    "for i = 1, #KEYS, 2 do\n"
    "  r[#r + 1] = check(KEYS[i], KEYS[i + 1], ARGV[i], ARGV[i + 1])\n"
    "end\n"
    "return r\n";


/* in each worker, for each Redis-backed zone: a candidate reader */

ngx_int_t
ngx_ws_redis_bp_init_process(ngx_cycle_t *cycle)
{
    ngx_uint_t              i;
    ngx_ws_zone_t         **zones;
    ngx_ws_main_conf_t     *wmcf;
    ngx_ws_redis_reader_t  *rr;

    if (ngx_process == NGX_PROCESS_HELPER) {
        return NGX_OK;
    }

    wmcf = ngx_http_cycle_get_module_main_conf(cycle, ngx_ws_module);

    if (wmcf == NULL) {
        return NGX_OK;
    }

    zones = wmcf->zones.elts;

    for (i = 0; i < wmcf->zones.nelts; i++) {
        if (zones[i]->redis == NULL) {
            continue;
        }

        rr = ngx_pcalloc(cycle->pool, sizeof(ngx_ws_redis_reader_t));
        if (rr == NULL) {
            return NGX_ERROR;
        }

        rr->zone = zones[i];

        rr->tick.handler = ngx_ws_redis_tick;
        rr->tick.data = rr;
        rr->tick.log = cycle->log;
        rr->tick.cancelable = 1;

        zones[i]->redis->reader = rr;

        ngx_add_timer(&rr->tick, ngx_random() % NGX_WS_REDIS_TICK + 1);
    }

    return NGX_OK;
}


/* the worker exits: it is the reader no more */

void
ngx_ws_redis_bp_exit_process(ngx_cycle_t *cycle)
{
    ngx_uint_t              i;
    ngx_ws_zone_t         **zones, *zone;
    ngx_ws_main_conf_t     *wmcf;
    ngx_ws_redis_reader_t  *rr;

    wmcf = ngx_http_cycle_get_module_main_conf(cycle, ngx_ws_module);

    if (wmcf == NULL) {
        return;
    }

    zones = wmcf->zones.elts;

    for (i = 0; i < wmcf->zones.nelts; i++) {
        zone = zones[i];

        if (zone->redis == NULL || zone->redis->reader == NULL) {
            continue;
        }

        rr = zone->redis->reader;

        if (rr->tick.timer_set) {
            ngx_del_timer(&rr->tick);
        }

        if (rr->rd) {
            ngx_ws_redis_close(rr->rd);
            rr->rd = NULL;
        }

        if (zone->sh == NULL) {
            continue;
        }

        ngx_shmtx_lock(&zone->shpool->mutex);

        if (zone->sh->redis_reader == ngx_pid) {
            zone->sh->redis_reader = 0;
        }

        ngx_shmtx_unlock(&zone->shpool->mutex);
    }
}


/*
 * Messages were stored: the workers with subscribers are woken, this one
 * delivers now
 */

static void
ngx_ws_redis_wake(ngx_ws_zone_t *zone, uint64_t workers, uint64_t uid)
{
    ngx_ws_zone_notify(zone, workers, uid);

    if (zone->slot >= 0 && (workers & ((uint64_t) 1 << zone->slot))
        && ngx_ws_wake_handler)
    {
        ngx_ws_wake_handler(zone, uid);
    }
}


/* the lease, and a round of reading when none is under way */

static void
ngx_ws_redis_tick(ngx_event_t *ev)
{
    ngx_ws_redis_reader_t *rr = ev->data;

    uint64_t        now;
    ngx_uint_t      leader;
    ngx_time_t     *tp;
    ngx_ws_zone_t  *zone;

    zone = rr->zone;

    tp = ngx_timeofday();
    now = (uint64_t) tp->sec * 1000 + tp->msec;

    ngx_shmtx_lock(&zone->shpool->mutex);

    leader = 0;

    if (ngx_exiting || ngx_quit || ngx_terminate) {
        if (zone->sh->redis_reader == ngx_pid) {
            zone->sh->redis_reader = 0;
        }

    } else if (zone->sh->redis_reader == ngx_pid
               || zone->sh->redis_reader == 0
               || zone->sh->redis_lease < now)
    {
        zone->sh->redis_reader = ngx_pid;
        zone->sh->redis_lease = now + NGX_WS_REDIS_LEASE;
        leader = 1;
    }

    ngx_shmtx_unlock(&zone->shpool->mutex);

    if (leader && rr->rd == NULL) {
        ngx_log_error(NGX_LOG_INFO, ev->log, 0,
                      "ws_zone \"%V\": this worker reads the Redis streams",
                      &zone->name);

        /* the worker's own connection tells of outages: this one quietly */
        rr->rd = ngx_ws_redis_open(zone->redis, ev->log, 1);
        rr->checked = 0;

    } else if (!leader && rr->rd) {
        /* in flight, they are answered NULL: the round ends */
        ngx_ws_redis_close(rr->rd);
        rr->rd = NULL;
    }

    if (rr->rd && rr->rd->state == NGX_WS_REDIS_READY && rr->busy == 0) {
        ngx_ws_redis_round(rr);
    }

    if (!ngx_exiting) {
        ngx_add_timer(&rr->tick, NGX_WS_REDIS_TICK);
    }
}


/*
 * A round: the channels with subscribers that are new to the instance are
 * synced; else the streams of all are read from their last ids, blocking
 * for a while (the next round starts at once when the answer comes).
 */

static void
ngx_ws_redis_round(ngx_ws_redis_reader_t *rr)
{
    ngx_str_t              *name;
    ngx_uint_t              check;
    ngx_pool_t             *pool;
    ngx_array_t             sync, read;
    ngx_queue_t            *q;
    ngx_ws_zone_t          *zone;
    ngx_ws_redis_chan_t    *ch;
    ngx_ws_channel_node_t  *cn;

    zone = rr->zone;

    /* the channels are checked after a connection (Redis lost writes?) */
    check = (rr->checked != rr->rd->connects);

    pool = ngx_create_pool(4096, rr->tick.log);
    if (pool == NULL) {
        return;
    }

    if (ngx_array_init(&sync, pool, 8, sizeof(ngx_str_t)) != NGX_OK
        || ngx_array_init(&read, pool, 16, sizeof(ngx_ws_redis_chan_t))
           != NGX_OK)
    {
        ngx_destroy_pool(pool);
        return;
    }

    ngx_shmtx_lock(&zone->shpool->mutex);

    for (q = ngx_queue_head(&zone->sh->lru);
         q != ngx_queue_sentinel(&zone->sh->lru);
         q = ngx_queue_next(q))
    {
        cn = ngx_queue_data(q, ngx_ws_channel_node_t, queue);

        if (cn->push || cn->subscribers == 0) {
            continue;
        }

        if (!cn->synced) {
            name = ngx_array_push(&sync);

        } else {
            ch = ngx_array_push(&read);

            if (ch == NULL) {
                break;
            }

            ch->last = cn->last_id;
            ch->known = 0;

            if (check) {
                ngx_ws_redis_last_sha1(cn, ch);
            }

            name = &ch->name;
        }

        if (name == NULL) {
            break;
        }

        name->len = cn->len;
        name->data = ngx_pnalloc(pool, cn->len);

        if (name->data == NULL) {
            name->len = 0;
            break;
        }

        ngx_memcpy(name->data, cn->name, cn->len);
    }

    ngx_shmtx_unlock(&zone->shpool->mutex);

    rr->pool = pool;

    /*
     * After a connection is made, the channels read are checked first (Redis
     * may have lost writes); then the new channels are synced; the next
     * round reads them with the others
     */

    if (check) {
        rr->checked = rr->rd->connects;
        rr->notice_len = 0;
        ngx_ws_redis_check_send(rr, &read);
    }

    if (rr->busy == 0) {
        if (sync.nelts) {
            ngx_ws_redis_sync_send(rr, &sync);
            rr->full = 1;

        } else if (read.nelts == 0) {
            /* void */

        } else if (rr->notice_len == 0) {
            /* where the notices are, before all is read once */
            ngx_ws_redis_notice_send(rr);
            rr->full = 1;

        } else if (rr->full
                   || (ngx_msec_int_t) (ngx_current_msec - rr->full_at) >= 0)
        {
            rr->full = 0;
            rr->full_at = ngx_current_msec + NGX_WS_REDIS_FULL_READ;
            ngx_ws_redis_read_send(rr, &read);

        } else {
            ngx_ws_redis_notice_send(rr);
        }
    }

    if (rr->busy == 0) {
        /* nothing to do, or nothing could be sent: the next tick tries */
        rr->pool = NULL;
        ngx_destroy_pool(pool);
    }
}


/* one script per channel new to the instance */

static void
ngx_ws_redis_sync_send(ngx_ws_redis_reader_t *rr, ngx_array_t *sync)
{
    u_char               *p, num[NGX_INT_T_LEN];
    size_t                argvlen[6];
    ngx_str_t            *names;
    ngx_uint_t            i;
    const char           *argv[6];
    ngx_ws_zone_t        *zone;
    ngx_ws_redis_sync_t  *s;

    zone = rr->zone;
    names = sync->elts;

    p = ngx_sprintf(num, "%ui", ngx_max(zone->history, 1));

    for (i = 0; i < sync->nelts; i++) {
        if (names[i].len == 0) {
            continue;
        }

        s = ngx_palloc(rr->pool, sizeof(ngx_ws_redis_sync_t));
        if (s == NULL) {
            return;
        }

        s->rr = rr;
        s->name = names[i];

        argv[0] = "EVAL";
        argvlen[0] = 4;
        argv[1] = ngx_ws_redis_sync_lua;
        argvlen[1] = sizeof(ngx_ws_redis_sync_lua) - 1;
        argv[2] = "2";
        argvlen[2] = 1;
        argv[3] = (char *) ngx_ws_redis_key(rr->pool, zone, &s->name, 'n',
                                            &argvlen[3]);
        argv[4] = (char *) ngx_ws_redis_key(rr->pool, zone, &s->name, 's',
                                            &argvlen[4]);
        argv[5] = (char *) num;
        argvlen[5] = p - num;

        if (argv[3] == NULL || argv[4] == NULL
            || ngx_ws_redis_command(rr->rd, ngx_ws_redis_synced, s, 6, argv,
                                    argvlen)
               != NGX_OK)
        {
            return;
        }

        rr->busy++;
    }
}


/* XREAD COUNT n BLOCK ms STREAMS key... id... */

static void
ngx_ws_redis_read_send(ngx_ws_redis_reader_t *rr, ngx_array_t *read)
{
    int                   argc;
    u_char               *p;
    size_t               *argvlen;
    ngx_uint_t            i, n;
    const char          **argv;
    ngx_ws_redis_chan_t  *ch;

    ch = read->elts;
    n = read->nelts;

    argv = ngx_palloc(rr->pool, (2 * n + 4) * sizeof(char *));
    argvlen = ngx_palloc(rr->pool, (2 * n + 4) * sizeof(size_t));

    if (argv == NULL || argvlen == NULL) {
        return;
    }

    /* the wait is on the notices: this one answers at once */

    argv[0] = "XREAD";
    argvlen[0] = 5;
    argv[1] = "COUNT";
    argvlen[1] = 5;
    argv[2] = NGX_WS_REDIS_READ_COUNT;
    argvlen[2] = sizeof(NGX_WS_REDIS_READ_COUNT) - 1;
    argv[3] = "STREAMS";
    argvlen[3] = 7;
    argc = 4;

    for (i = 0; i < n; i++) {
        if (ch[i].name.len == 0) {
            n = i;
            break;
        }

        argv[argc] = (char *) ngx_ws_redis_key(rr->pool, rr->zone,
                                               &ch[i].name, 's',
                                               &argvlen[argc]);
        if (argv[argc] == NULL) {
            return;
        }

        argc++;
    }

    if (n == 0) {
        return;
    }

    for (i = 0; i < n; i++) {
        p = ngx_pnalloc(rr->pool, NGX_INT64_LEN + 2);
        if (p == NULL) {
            return;
        }

        argv[argc] = (char *) p;
        argvlen[argc++] = ngx_sprintf(p, "%uL-0", ch[i].last) - p;
    }

    if (ngx_ws_redis_command(rr->rd, ngx_ws_redis_read, rr, argc, argv,
                             argvlen)
        == NGX_OK)
    {
        rr->busy++;
    }
}


/*
 * The wait for notices (XREAD BLOCK), or, before the first, the id of the
 * last one (XREVRANGE)
 */

static void
ngx_ws_redis_notice_send(ngx_ws_redis_reader_t *rr)
{
    int          argc;
    size_t       argvlen[9];
    const char  *argv[9];

    argv[1] = (char *) ngx_ws_redis_notice_key(rr->pool, rr->zone,
                                               &argvlen[1]);
    if (argv[1] == NULL) {
        return;
    }

    if (rr->notice_len == 0) {
        argv[0] = "XREVRANGE";
        argvlen[0] = 9;
        argv[2] = "+";
        argvlen[2] = 1;
        argv[3] = "-";
        argvlen[3] = 1;
        argv[4] = "COUNT";
        argvlen[4] = 5;
        argv[5] = "1";
        argvlen[5] = 1;
        argc = 6;

    } else {
        argv[7] = argv[1];
        argvlen[7] = argvlen[1];
        argv[0] = "XREAD";
        argvlen[0] = 5;
        argv[1] = "COUNT";
        argvlen[1] = 5;
        argv[2] = NGX_WS_REDIS_NOTICE_COUNT;
        argvlen[2] = sizeof(NGX_WS_REDIS_NOTICE_COUNT) - 1;
        argv[3] = "BLOCK";
        argvlen[3] = 5;
        argv[4] = NGX_WS_REDIS_BLOCK;
        argvlen[4] = sizeof(NGX_WS_REDIS_BLOCK) - 1;
        argv[5] = "STREAMS";
        argvlen[5] = 7;
        argv[6] = argv[7];
        argvlen[6] = argvlen[7];
        argv[7] = (char *) rr->notice;
        argvlen[7] = rr->notice_len;
        argc = 8;
    }

    if (ngx_ws_redis_command(rr->rd, ngx_ws_redis_notices, rr, argc, argv,
                             argvlen)
        == NGX_OK)
    {
        rr->busy++;
    }
}


/*
 * XREVRANGE: [[id, fields]] or []; XREAD: [[key, [[id, ["c", name]],
 * ...]]] or nil.  The channels named that the instance reads are read
 * at once.
 */

static void
ngx_ws_redis_notices(ngx_ws_redis_t *rd, void *reply, void *data)
{
    ngx_ws_redis_reader_t *rr = data;

    ngx_uint_t      i, n;
    redisReply     *r, *id;
    ngx_array_t     read;
    ngx_ws_zone_t  *zone;

    zone = rr->zone;
    r = reply;

    if (r == NULL || r->type == REDIS_REPLY_NIL) {
        goto done;
    }

    if (r->type != REDIS_REPLY_ARRAY) {
        ngx_log_error(NGX_LOG_ERR, rd->log, 0,
                      "redis \"%V\": notices not read: %*s",
                      &zone->redis->addr,
                      (size_t) (r->type == REDIS_REPLY_ERROR ? r->len : 0),
                      r->str);
        goto done;
    }

    if (rr->notice_len == 0) {
        /* XREVRANGE: from the last notice, or from the start */

        id = NULL;

        if (r->elements && r->element[0]->type == REDIS_REPLY_ARRAY
            && r->element[0]->elements == 2
            && r->element[0]->element[0]->type == REDIS_REPLY_STRING)
        {
            id = r->element[0]->element[0];
        }

        if (id && id->len < sizeof(rr->notice)) {
            rr->notice_len = ngx_cpymem(rr->notice, id->str, id->len)
                             - rr->notice;

        } else {
            rr->notice_len = ngx_cpymem(rr->notice, "0-0", 3) - rr->notice;
        }

        goto done;
    }

    if (r->elements != 1 || r->element[0]->type != REDIS_REPLY_ARRAY
        || r->element[0]->elements != 2
        || r->element[0]->element[1]->type != REDIS_REPLY_ARRAY)
    {
        goto done;
    }

    r = r->element[0]->element[1];
    n = r->elements;

    if (n >= (ngx_uint_t) ngx_atoi((u_char *) NGX_WS_REDIS_NOTICE_COUNT,
                                   sizeof(NGX_WS_REDIS_NOTICE_COUNT) - 1))
    {
        /* more than a wait takes: all channels are read next */
        rr->full = 1;
    }

    if (ngx_array_init(&read, rr->pool, 16, sizeof(ngx_ws_redis_chan_t))
        != NGX_OK)
    {
        goto done;
    }

    for (i = 0; i < n; i++) {
        ngx_ws_redis_notice_add(rr, &read, r->element[i]);
    }

    if (read.nelts) {
        ngx_ws_redis_read_send(rr, &read);
    }

done:

    ngx_ws_redis_round_done(rr);
}


/* a notice: its channel to read, if the instance reads it (once) */

static void
ngx_ws_redis_notice_add(ngx_ws_redis_reader_t *rr, ngx_array_t *read,
    redisReply *e)
{
    ngx_str_t               name;
    ngx_uint_t              j;
    redisReply             *id, *f;
    ngx_ws_zone_t          *zone;
    ngx_ws_redis_chan_t    *ch;
    ngx_ws_channel_node_t  *cn;

    zone = rr->zone;

    if (e->type != REDIS_REPLY_ARRAY || e->elements != 2
        || e->element[0]->type != REDIS_REPLY_STRING
        || e->element[1]->type != REDIS_REPLY_ARRAY
        || e->element[1]->elements != 2)
    {
        return;
    }

    id = e->element[0];

    if (id->len < sizeof(rr->notice)) {
        rr->notice_len = ngx_cpymem(rr->notice, id->str, id->len)
                         - rr->notice;
    }

    f = e->element[1]->element[1];

    if (f->type != REDIS_REPLY_STRING) {
        return;
    }

    name.data = (u_char *) f->str;
    name.len = f->len;

    ch = read->elts;

    for (j = 0; j < read->nelts; j++) {
        if (ch[j].name.len == name.len
            && ngx_strncmp(ch[j].name.data, name.data, name.len) == 0)
        {
            return;
        }
    }

    ngx_shmtx_lock(&zone->shpool->mutex);

    cn = ngx_ws_channel_lookup(zone, &name, 0);

    if (cn == NULL || !cn->synced || cn->subscribers == 0) {
        ngx_shmtx_unlock(&zone->shpool->mutex);
        return;
    }

    ch = ngx_array_push(read);

    if (ch == NULL) {
        ngx_shmtx_unlock(&zone->shpool->mutex);
        return;
    }

    ch->last = cn->last_id;

    ngx_shmtx_unlock(&zone->shpool->mutex);

    /* the reply lives until the handler returns */

    ch->name.len = name.len;
    ch->name.data = ngx_pstrdup(rr->pool, &name);

    if (ch->name.data == NULL) {
        read->nelts--;
    }
}


/* the SHA-1 of the data of the channel's last message, if it is kept */

static void
ngx_ws_redis_last_sha1(ngx_ws_channel_node_t *cn, ngx_ws_redis_chan_t *ch)
{
    u_char            digest[20];
    ngx_sha1_t        sha1;
    ngx_ws_sh_msg_t  *m;

    ch->known = 0;

    if (cn->count == 0) {
        return;
    }

    m = ngx_queue_data(ngx_queue_last(&cn->msgs), ngx_ws_sh_msg_t, queue);

    if (m->id != cn->last_id) {
        return;
    }

    ngx_sha1_init(&sha1);
    ngx_sha1_update(&sha1, m->data, m->len);
    ngx_sha1_final(digest, &sha1);

    ngx_hex_dump(ch->sha1, digest, 20);
    ch->known = 1;
}


/*
 * After the connection was made: the channels read, in scripts of up to
 * NGX_WS_REDIS_CHECK_BATCH channels; all again at the next round if one
 * could not be sent
 */

static void
ngx_ws_redis_check_send(ngx_ws_redis_reader_t *rr, ngx_array_t *read)
{
    int                    argc;
    u_char                *p;
    size_t                *argvlen;
    ngx_uint_t             i, j, n, total;
    const char           **argv;
    ngx_ws_zone_t         *zone;
    ngx_ws_redis_chan_t   *ch;
    ngx_ws_redis_check_t  *k;

    zone = rr->zone;
    ch = read->elts;

    for (total = 0; total < read->nelts; total++) {
        if (ch[total].name.len == 0) {
            break;
        }
    }

    for (i = 0; i < total; i += n) {
        n = ngx_min(total - i, NGX_WS_REDIS_CHECK_BATCH);

        k = ngx_palloc(rr->pool, sizeof(ngx_ws_redis_check_t));
        argv = ngx_palloc(rr->pool, (4 * n + 3) * sizeof(char *));
        argvlen = ngx_palloc(rr->pool, (4 * n + 3) * sizeof(size_t));
        p = ngx_pnalloc(rr->pool, (n + 1) * NGX_INT64_LEN);

        if (k == NULL || argv == NULL || argvlen == NULL || p == NULL) {
            goto failed;
        }

        k->rr = rr;
        k->ch = &ch[i];
        k->n = n;

        argv[0] = "EVAL";
        argvlen[0] = 4;
        argv[1] = ngx_ws_redis_check_lua;
        argvlen[1] = sizeof(ngx_ws_redis_check_lua) - 1;
        argv[2] = (char *) p;
        argvlen[2] = ngx_sprintf(p, "%ui", 2 * n) - p;
        p += argvlen[2];
        argc = 3;

        for (j = i; j < i + n; j++) {
            argv[argc] = (char *) ngx_ws_redis_key(rr->pool, zone,
                                                   &ch[j].name, 'n',
                                                   &argvlen[argc]);
            argv[argc + 1] = (char *) ngx_ws_redis_key(rr->pool, zone,
                                                       &ch[j].name, 's',
                                                       &argvlen[argc + 1]);

            if (argv[argc] == NULL || argv[argc + 1] == NULL) {
                goto failed;
            }

            argc += 2;
        }

        for (j = i; j < i + n; j++) {
            argv[argc] = (char *) p;
            argvlen[argc] = ngx_sprintf(p, "%uL", ch[j].last) - p;
            p += argvlen[argc];
            argv[argc + 1] = (char *) ch[j].sha1;
            argvlen[argc + 1] = ch[j].known ? 40 : 0;
            argc += 2;
        }

        if (ngx_ws_redis_command(rr->rd, ngx_ws_redis_checked, k, argc, argv,
                                 argvlen)
            != NGX_OK)
        {
            goto failed;
        }

        rr->busy++;
    }

    return;

failed:

    rr->checked = 0;
}


/*
 * 0: Redis has what the instance read; else Redis lost writes, and the
 * instance reads on from the id given (a new epoch, or the ids given again
 * after the loss): what it kept goes, and its subscribers are told
 * history_lost from their last id
 */

static void
ngx_ws_redis_checked(ngx_ws_redis_t *rd, void *reply, void *data)
{
    ngx_ws_redis_check_t *k = data;

    uint64_t                workers, uid, last;
    ngx_uint_t              i;
    redisReply             *r, *e;
    ngx_ws_zone_t          *zone;
    ngx_ws_redis_chan_t    *ch;
    ngx_ws_redis_reader_t  *rr;
    ngx_ws_channel_node_t  *cn;

    rr = k->rr;
    zone = rr->zone;
    r = reply;

    if (r == NULL) {
        goto done;
    }

    if (r->type != REDIS_REPLY_ARRAY || r->elements != k->n) {
        ngx_log_error(NGX_LOG_ERR, rd->log, 0,
                      "redis \"%V\": channels not checked: %*s",
                      &zone->redis->addr,
                      (size_t) (r->type == REDIS_REPLY_ERROR ? r->len : 0),
                      r->str);
        goto done;
    }

    for (i = 0; i < k->n; i++) {
        e = r->element[i];
        ch = &k->ch[i];

        if (e->type != REDIS_REPLY_INTEGER || e->integer <= 0) {
            continue;
        }

        last = (uint64_t) e->integer;

        ngx_shmtx_lock(&zone->shpool->mutex);

        cn = ngx_ws_channel_lookup(zone, &ch->name, 0);

        if (cn == NULL || !cn->synced || cn->last_id >= last) {
            ngx_shmtx_unlock(&zone->shpool->mutex);
            continue;
        }

        ngx_ws_channel_gap(zone, cn, last);

        workers = cn->workers;
        uid = cn->uid;

        ngx_shmtx_unlock(&zone->shpool->mutex);

        (void) ngx_atomic_fetch_add(&zone->sh->redis.gaps, 1);

        ngx_log_error(NGX_LOG_WARN, rd->log, 0,
                      "redis \"%V\" lost messages of channel \"%V\" that "
                      "this instance read (up to id %uL): read on after %uL",
                      &zone->redis->addr, &ch->name, ch->last, last);

        ngx_ws_redis_wake(zone, workers, uid);
    }

done:

    ngx_ws_redis_round_done(rr);
}


static void
ngx_ws_redis_round_done(ngx_ws_redis_reader_t *rr)
{
    if (--rr->busy) {
        return;
    }

    if (rr->pool) {
        ngx_destroy_pool(rr->pool);
        rr->pool = NULL;
    }

    if (rr->rd && rr->rd->state == NGX_WS_REDIS_READY) {
        ngx_ws_redis_round(rr);
    }
}


/* {last id, newest entries}: the channel is synced */

static void
ngx_ws_redis_synced(ngx_ws_redis_t *rd, void *reply, void *data)
{
    ngx_ws_redis_sync_t *s = data;

    size_t                  n;
    uint64_t                last, oldest, workers, uid;
    ngx_int_t               rc;
    redisReply             *r;
    ngx_ws_zone_t          *zone;
    ngx_ws_redis_reader_t  *rr;
    ngx_ws_channel_node_t  *cn;

    rr = s->rr;
    zone = rr->zone;
    r = reply;

    if (r == NULL) {
        goto done;
    }

    if (r->type != REDIS_REPLY_ARRAY || r->elements != 2
        || r->element[0]->type != REDIS_REPLY_STRING
        || r->element[1]->type != REDIS_REPLY_ARRAY)
    {
        ngx_log_error(NGX_LOG_ERR, rd->log, 0,
                      "redis \"%V\": channel \"%V\" not synced: %*s",
                      &zone->redis->addr, &s->name,
                      (size_t) (r->type == REDIS_REPLY_ERROR ? r->len : 0),
                      r->str);
        goto done;
    }

    rc = ngx_atoi((u_char *) r->element[0]->str, r->element[0]->len);

    if (rc == NGX_ERROR) {
        goto done;
    }

    last = (uint64_t) rc;

    ngx_shmtx_lock(&zone->shpool->mutex);

    cn = ngx_ws_channel_lookup(zone, &s->name, 0);

    if (cn == NULL || cn->synced || cn->subscribers == 0) {
        ngx_shmtx_unlock(&zone->shpool->mutex);
        goto done;
    }

    /*
     * The history kept from Redis (newest first in the reply), before the
     * messages to come
     */

    n = r->element[1]->elements;

    if (n && ngx_ws_redis_entry_id(r->element[1]->element[n - 1], &oldest)
             == NGX_OK
        && oldest > 0 && oldest <= last)
    {
        ngx_ws_channel_reset(zone, cn, oldest - 1);
        ngx_ws_redis_entries(rr, cn, r->element[1], 1);

    } else {
        ngx_ws_channel_reset(zone, cn, last);
    }

    cn->last_id = last;
    cn->sync_id = last;

    workers = cn->workers;
    uid = cn->uid;

    ngx_shmtx_unlock(&zone->shpool->mutex);

    ngx_log_debug3(NGX_LOG_DEBUG_HTTP, rd->log, 0,
                   "ws redis synced \"%V\" last:%uL kept:%uz",
                   &s->name, last, n);

    ngx_ws_redis_wake(zone, workers, uid);

done:

    ngx_ws_redis_round_done(rr);
}


/* XREAD: [[key, [[id, [field, value, ...]], ...]], ...], or nil */

static void
ngx_ws_redis_read(ngx_ws_redis_t *rd, void *reply, void *data)
{
    ngx_ws_redis_reader_t *rr = data;

    size_t                  len, plen;
    uint64_t                workers, uid;
    ngx_str_t               name;
    ngx_uint_t              i;
    redisReply             *r, *k;
    ngx_ws_zone_t          *zone;
    ngx_ws_channel_node_t  *cn;

    zone = rr->zone;
    r = reply;

    if (r == NULL || r->type == REDIS_REPLY_NIL) {
        goto done;
    }

    if (r->type != REDIS_REPLY_ARRAY) {
        ngx_log_error(NGX_LOG_ERR, rd->log, 0,
                      "redis \"%V\": XREAD failed: %*s", &zone->redis->addr,
                      (size_t) (r->type == REDIS_REPLY_ERROR ? r->len : 0),
                      r->str);
        goto done;
    }

    /* "{ws:" zone ":" name "}:s" */
    plen = sizeof("{ws::") - 1 + zone->name.len;

    for (i = 0; i < r->elements; i++) {
        k = r->element[i];

        if (k->type != REDIS_REPLY_ARRAY || k->elements != 2
            || k->element[0]->type != REDIS_REPLY_STRING
            || k->element[1]->type != REDIS_REPLY_ARRAY)
        {
            continue;
        }

        len = k->element[0]->len;

        if (len < plen + 3) {
            continue;
        }

        name.data = (u_char *) k->element[0]->str + plen;
        name.len = len - plen - 3;

        ngx_shmtx_lock(&zone->shpool->mutex);

        cn = ngx_ws_channel_lookup(zone, &name, 0);

        if (cn == NULL || !cn->synced) {
            ngx_shmtx_unlock(&zone->shpool->mutex);
            continue;
        }

        ngx_ws_redis_entries(rr, cn, k->element[1], 0);

        if (k->element[1]->elements
            >= (size_t) ngx_atoi((u_char *) NGX_WS_REDIS_READ_COUNT,
                                 sizeof(NGX_WS_REDIS_READ_COUNT) - 1))
        {
            /* more to read */
            rr->full = 1;
        }

        workers = cn->workers;
        uid = cn->uid;

        ngx_shmtx_unlock(&zone->shpool->mutex);

        ngx_ws_redis_wake(zone, workers, uid);
    }

done:

    ngx_ws_redis_round_done(rr);
}


/* with the zone locked: stream entries into the channel, oldest first */

static void
ngx_ws_redis_entries(ngx_ws_redis_reader_t *rr, ngx_ws_channel_node_t *cn,
    redisReply *entries, ngx_uint_t newest_first)
{
    size_t            len;
    u_char           *data;
    uint64_t          id;
    ngx_int_t         opcode, cls;
    ngx_uint_t        i, j, n;
    redisReply       *e, *f;
    ngx_ws_zone_t    *zone;
    ngx_ws_policy_t   pol;

    zone = rr->zone;
    n = entries->elements;

    for (j = 0; j < n; j++) {
        e = entries->element[newest_first ? n - 1 - j : j];

        if (ngx_ws_redis_entry_id(e, &id) != NGX_OK) {
            continue;
        }

        if (id <= cn->last_id) {
            /* read already */
            continue;
        }

        f = e->element[1];
        opcode = NGX_WS_OP_TEXT;
        data = NULL;
        len = 0;
        pol.cls = NGX_WS_CLASS_NORMAL;
        pol.key.len = 0;
        pol.key.data = NULL;

        for (i = 0; i + 1 < f->elements; i += 2) {
            if (f->element[i]->type != REDIS_REPLY_STRING
                || f->element[i]->len != 1
                || f->element[i + 1]->type != REDIS_REPLY_STRING)
            {
                continue;
            }

            if (f->element[i]->str[0] == 'o') {
                opcode = ngx_atoi((u_char *) f->element[i + 1]->str,
                                  f->element[i + 1]->len);

            } else if (f->element[i]->str[0] == 'd') {
                data = (u_char *) f->element[i + 1]->str;
                len = f->element[i + 1]->len;

            } else if (f->element[i]->str[0] == 'c') {
                cls = ngx_atoi((u_char *) f->element[i + 1]->str,
                               f->element[i + 1]->len);

                if (cls == NGX_WS_CLASS_DROPPABLE
                    || cls == NGX_WS_CLASS_CRITICAL)
                {
                    pol.cls = cls;
                }

            } else if (f->element[i]->str[0] == 'k') {
                pol.key.data = (u_char *) f->element[i + 1]->str;
                pol.key.len = f->element[i + 1]->len;
            }
        }

        if (opcode != NGX_WS_OP_TEXT && opcode != NGX_WS_OP_BINARY) {
            opcode = NGX_WS_OP_BINARY;
        }

        if (id != cn->last_id + 1) {
            /* trimmed before it was read, or lost by Redis */
            (void) ngx_atomic_fetch_add(&zone->sh->redis.gaps, 1);
        }

        if (ngx_ws_channel_store_id(zone, cn, &pol, opcode, data, len, id)
            != NGX_OK)
        {
            /*
             * The zone is full (or the message over max_message): it is
             * lost to this instance, and its workers say so, as a gap
             */
            ngx_log_error(NGX_LOG_ERR, rr->tick.log, 0,
                          "ws_zone \"%V\": message %uL of channel \"%*s\" "
                          "from Redis could not be stored (%uz bytes)",
                          &zone->name, id, (size_t) cn->len, cn->name, len);

            ngx_ws_channel_gap(zone, cn, id);
            continue;
        }

        zone->sh->published++;
        (void) ngx_atomic_fetch_add(&zone->sh->redis.read, 1);
    }
}


/* [ "ID-0", [fields] ] */

static ngx_int_t
ngx_ws_redis_entry_id(redisReply *e, uint64_t *id)
{
    u_char  *p, *dash;

    if (e->type != REDIS_REPLY_ARRAY || e->elements != 2
        || e->element[0]->type != REDIS_REPLY_STRING
        || e->element[1]->type != REDIS_REPLY_ARRAY)
    {
        return NGX_ERROR;
    }

    p = (u_char *) e->element[0]->str;
    dash = ngx_strlchr(p, p + e->element[0]->len, '-');

    if (dash == NULL || dash == p) {
        return NGX_ERROR;
    }

    *id = 0;

    for ( /* void */ ; p < dash; p++) {
        if (*p < '0' || *p > '9') {
            return NGX_ERROR;
        }

        *id = *id * 10 + (*p - '0');
    }

    return NGX_OK;
}


/* "{ws:ZONE:NAME}:n" or ":s" */

static u_char *
ngx_ws_redis_key(ngx_pool_t *pool, ngx_ws_zone_t *zone, ngx_str_t *name,
    char kind, size_t *len)
{
    u_char  *key, *p;

    *len = sizeof("{ws::}:s") - 1 + zone->name.len + name->len;

    key = ngx_pnalloc(pool, *len);
    if (key == NULL) {
        return NULL;
    }

    p = ngx_sprintf(key, "{ws:%V:%V}:%c", &zone->name, name, kind);

    *len = p - key;

    return key;
}


/* "{ws:ZONE}:d", the zone's notices */

static u_char *
ngx_ws_redis_notice_key(ngx_pool_t *pool, ngx_ws_zone_t *zone, size_t *len)
{
    u_char  *key, *p;

    key = ngx_pnalloc(pool, sizeof("{ws:}:d") - 1 + zone->name.len);
    if (key == NULL) {
        return NULL;
    }

    p = ngx_sprintf(key, "{ws:%V}:d", &zone->name);

    *len = p - key;

    return key;
}


/*
 * A message to a channel of a Redis-backed zone: the script is sent (the
 * handler, if any, gets the outcome); NGX_WS_ZONE_TOO_BIG over
 * max_message, NGX_DECLINED when Redis is unavailable, NGX_BUSY with too
 * many commands in flight, NGX_ERROR.
 */

ngx_int_t
ngx_ws_redis_publish(ngx_ws_zone_t *zone, ngx_str_t *name,
    ngx_ws_policy_t *pol, ngx_uint_t opcode, u_char *data, size_t len,
    ngx_ws_redis_published_pt handler, void *hdata)
{
    u_char              *p, max[NGX_INT_T_LEN], op[NGX_INT_T_LEN];
    u_char               cls[NGX_INT_T_LEN];
    size_t               argvlen[10];
    ngx_int_t            rc;
    ngx_pool_t          *pool;
    const char          *argv[10];
    ngx_ws_redis_t      *rd;
    ngx_ws_redis_pub_t  *pub;

    if (len > zone->max_message) {
        return NGX_WS_ZONE_TOO_BIG;
    }

    rd = zone->redis->conn;

    if (rd == NULL || rd->state != NGX_WS_REDIS_READY
        || rd->inflight == NGX_WS_REDIS_MAX_INFLIGHT)
    {
        (void) ngx_atomic_fetch_add(&zone->sh->redis.refused, 1);
        return (rd && rd->state == NGX_WS_REDIS_READY) ? NGX_BUSY
                                                        : NGX_DECLINED;
    }

    pool = ngx_create_pool(512, rd->log);
    if (pool == NULL) {
        return NGX_ERROR;
    }

    pub = NULL;

    argv[0] = "EVAL";
    argvlen[0] = 4;
    argv[1] = ngx_ws_redis_publish_lua;
    argvlen[1] = sizeof(ngx_ws_redis_publish_lua) - 1;
    argv[2] = "2";
    argvlen[2] = 1;
    argv[3] = (char *) ngx_ws_redis_key(pool, zone, name, 'n', &argvlen[3]);
    argv[4] = (char *) ngx_ws_redis_key(pool, zone, name, 's', &argvlen[4]);

    if (argv[3] == NULL || argv[4] == NULL) {
        rc = NGX_ERROR;
        goto done;
    }

    p = ngx_sprintf(max, "%ui",
                    ngx_max(zone->history, NGX_WS_REDIS_MIN_MAXLEN));
    argv[5] = (char *) max;
    argvlen[5] = p - max;

    p = ngx_sprintf(op, "%ui", opcode);
    argv[6] = (char *) op;
    argvlen[6] = p - op;

    argv[7] = (char *) (data ? data : (u_char *) "");
    argvlen[7] = len;

    p = ngx_sprintf(cls, "%ui", pol ? pol->cls : NGX_WS_CLASS_NORMAL);
    argv[8] = (char *) cls;
    argvlen[8] = p - cls;

    argv[9] = (pol && pol->key.len) ? (char *) pol->key.data : "";
    argvlen[9] = (pol && pol->key.len) ? pol->key.len : 0;

    if (handler) {
        pub = ngx_alloc(sizeof(ngx_ws_redis_pub_t), rd->log);
        if (pub == NULL) {
            rc = NGX_ERROR;
            goto done;
        }

        pub->handler = handler;
        pub->data = hdata;
    }

    /* hiredis copies the arguments into its buffer */

    rc = ngx_ws_redis_command(rd, ngx_ws_redis_published, pub, 10, argv,
                              argvlen);

    if (rc != NGX_OK && pub) {
        ngx_free(pub);
    }

    if (rc == NGX_OK) {
        /* the notice for the readers; if it is not sent, they read later */

        argv[0] = "XADD";
        argvlen[0] = 4;
        argv[1] = (char *) ngx_ws_redis_notice_key(pool, zone, &argvlen[1]);
        argv[2] = "MAXLEN";
        argvlen[2] = 6;
        argv[3] = "~";
        argvlen[3] = 1;
        argv[4] = NGX_WS_REDIS_NOTICE_MAXLEN;
        argvlen[4] = sizeof(NGX_WS_REDIS_NOTICE_MAXLEN) - 1;
        argv[5] = "*";
        argvlen[5] = 1;
        argv[6] = "c";
        argvlen[6] = 1;
        argv[7] = (char *) name->data;
        argvlen[7] = name->len;

        if (argv[1]) {
            (void) ngx_ws_redis_command(rd, ngx_ws_redis_noticed, NULL, 8,
                                        argv, argvlen);
        }
    }

done:

    ngx_destroy_pool(pool);

    return rc;
}


static void
ngx_ws_redis_noticed(ngx_ws_redis_t *rd, void *reply, void *data)
{
    redisReply  *r;

    r = reply;

    if (r && r->type == REDIS_REPLY_ERROR) {
        ngx_log_error(NGX_LOG_ERR, rd->log, 0,
                      "redis \"%V\": a notice was not written: %*s",
                      &rd->conf->addr, (size_t) r->len, r->str);
    }
}


/* the id, to the caller that waits for it (a client's does not) */

static void
ngx_ws_redis_published(ngx_ws_redis_t *rd, void *reply, void *data)
{
    ngx_ws_redis_pub_t *pub = data;

    void                       *hdata;
    redisReply                 *r;
    ngx_ws_redis_published_pt   handler;

    r = reply;

    if (pub) {
        handler = pub->handler;
        hdata = pub->data;
        ngx_free(pub);

        if (r && r->type == REDIS_REPLY_INTEGER && r->integer > 0) {
            handler(hdata, NGX_OK, (uint64_t) r->integer);
            return;
        }

        handler(hdata, NGX_ERROR, 0);
    }

    if (r == NULL) {
        ngx_log_error(NGX_LOG_WARN, rd->log, 0,
                      "redis \"%V\": a message may not have been published, "
                      "the connection went before its answer",
                      &rd->conf->addr);
        return;
    }

    if (r->type != REDIS_REPLY_INTEGER) {
        ngx_log_error(NGX_LOG_ERR, rd->log, 0,
                      "redis \"%V\": a message was not published: %*s",
                      &rd->conf->addr,
                      (size_t) (r->type == REDIS_REPLY_ERROR ? r->len : 0),
                      r->str);
    }
}


#else /* !(NGX_WS_HAVE_HIREDIS): no zone has redis= */

ngx_int_t
ngx_ws_redis_bp_init_process(ngx_cycle_t *cycle)
{
    return NGX_OK;
}


void
ngx_ws_redis_bp_exit_process(ngx_cycle_t *cycle)
{
}


ngx_int_t
ngx_ws_redis_publish(ngx_ws_zone_t *zone, ngx_str_t *name,
    ngx_ws_policy_t *pol, ngx_uint_t opcode, u_char *data, size_t len,
    ngx_ws_redis_published_pt handler, void *hdata)
{
    return NGX_DECLINED;
}

#endif
