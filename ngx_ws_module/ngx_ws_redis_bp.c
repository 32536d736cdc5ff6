
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
#include <ngx_sha1.h>
#include <hiredis/hiredis.h>
#endif


/*
 * The backplane of a Redis-backed zone (docs/cluster.md).
 *
 * A channel is two keys, with the same hash tag: "{ws:ZONE:NAME}:n", the
 * channel's last id, and "{ws:ZONE:NAME}:s", its stream.  A publish is one
 * script (EVALSHA, EVAL if Redis lost it): INCR of the last id, XADD of
 * the message to the stream with that id as the entry's id ("ID-0"),
 * MAXLEN ~ the history, PEXPIRE of both with ttl=, and on one Redis the
 * notice (below).  So ids
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
 * with other data.  So after each connection of the reader to one Redis
 * (or Sentinel's master; on a cluster, to any node), before it reads,
 * each channel it reads is checked (scripts of up to 128 channels, of one
 * slot each on a cluster): when
 * Redis's last id is below the instance's, or the entry under the
 * instance's last id holds other data (it was given again already), the
 * channel moves to a new epoch of ids in Redis and the instance's
 * subscribers are told history_lost from their last id.
 *
 * So that the reader does not name every channel in each XREAD, the
 * publish script also adds a notice, the channel's name, to the zone's
 * stream "{ws:ZONE}:d" (MAXLEN ~ 100000), in the same command, so a
 * publish is still one command in flight; the reader waits on that stream
 * and reads the streams of the channels it names.  Every channel is read
 * besides: after a connection, after a sync, when a read or a wait for
 * notices was cut by its COUNT, and every second (a message written
 * without its notice, or a notice trimmed before it was read).  The wait
 * for notices reads the instance's inbox too.  On a cluster there are no
 * notices (their stream would be in one slot, on one master): the publish
 * script SPUBLISHes a wake on a shard channel named as the stream's key
 * (so in its slot), as does the push script for an inbox; the reader
 * subscribes to those of its streams (ngx_ws_redis_cluster.c) and reads
 * the slots it is woken for, every slot once a second and after a
 * subscriber's connection, and polls the slots whose master's subscriber
 * is not ready.
 */


#define NGX_WS_REDIS_TICK           100
#define NGX_WS_REDIS_LEASE          1000
#define NGX_WS_REDIS_BLOCK          "100"
#define NGX_WS_REDIS_READ_COUNT     "256"
#define NGX_WS_REDIS_READ_MAX       256
#define NGX_WS_REDIS_MIN_MAXLEN     128
#define NGX_WS_REDIS_BEAT           1000
#define NGX_WS_REDIS_INST_TTL       "3000"
#define NGX_WS_REDIS_INST_LEN       16
#define NGX_WS_REDIS_INBOX_MAX      "1024"
#define NGX_WS_REDIS_MAX_ID         64
#define NGX_WS_REDIS_RESYNC_BATCH   256
#define NGX_WS_REDIS_COUNTS_TICK    256
#define NGX_WS_REDIS_POLL           10            /* ms, on a cluster */
#define NGX_WS_REDIS_PROBE          500
#define NGX_WS_REDIS_PROBE_KEY_LEN  128
#define NGX_WS_REDIS_CHECK_BATCH    128           /* channels per script */
#define NGX_WS_REDIS_NOTICE_COUNT   "1024"
#define NGX_WS_REDIS_NOTICE_MAXLEN  "100000"
#define NGX_WS_REDIS_FULL_READ      1000          /* ms, at least that often */
#define NGX_WS_REDIS_CL_SLOTS       16384


#if (NGX_WS_HAVE_HIREDIS)

typedef struct {
    ngx_ws_zone_t              *zone;
    ngx_ws_redis_t             *rd;               /* while the reader */
    ngx_ws_redis_cluster_t     *cl;               /* or, on a cluster */
    ngx_event_t                 tick;
    ngx_event_t                 poll;             /* the next round */
    ngx_uint_t                  busy;             /* commands in flight */
    ngx_uint_t                  got;              /* entries, this round */
    ngx_uint_t                  failed;           /* an XREAD, this round */
    ngx_uint_t                  failing;          /* since a round */
    ngx_pool_t                 *pool;             /* of the round */

    /* the reader's connections counted, and reads to count as backfill */
    uint64_t                    connects;
    ngx_uint_t                  backfill;

    /* the sync script is sent with EVAL (not EVALSHA) after NOSCRIPT */
    ngx_uint_t                  sync_eval;
    ngx_uint_t                  sync_failing;     /* logged at error */
    ngx_uint_t                  share_failing;    /* logged at error */

    /*
     * Redis answered a publish with an error (OOM, READONLY, ...):
     * publishes are refused at once, as in an outage, until a probe write
     * succeeds
     */
    ngx_uint_t                  refusing;
    ngx_event_t                 probe;
    uint64_t                    checked;          /* connects then */

    /* the zone's notices read up to, "MS-SEQ"; 0: to be asked */
    size_t                      notice_len;
    u_char                      notice[2 * NGX_INT64_LEN + 2];
    ngx_uint_t                  full;             /* read all channels */
    ngx_msec_t                  full_at;          /* at least by then */

    /* on a cluster: the slots woken, slots without a subscriber */
    ngx_uint_t                  woke;
    ngx_uint_t                  polling;
    uint64_t                    wake_connects;
    uint64_t                    inbox_wake;       /* its subscription */
    u_char                      woken[NGX_WS_REDIS_CL_SLOTS / 8];
} ngx_ws_redis_reader_t;


typedef struct {
    ngx_uint_t                  slot;
    u_char                     *key;
    size_t                      len;
    u_char                     *id;
    size_t                      idlen;
    void                       *ch;               /* ngx_ws_redis_chan_t */
} ngx_ws_redis_stream_t;


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
    ngx_uint_t                  slot;             /* on a cluster */
    uint64_t                    wake;             /* its subscription */
} ngx_ws_redis_chan_t;


/* the channels of one check script */

typedef struct {
    ngx_ws_redis_reader_t      *rr;
    ngx_ws_redis_chan_t        *ch;
    ngx_uint_t                  n;
} ngx_ws_redis_check_t;


/*
 * A publish in flight: the arguments are kept after the script's sha1,
 * so that it can be sent again with EVAL when Redis lost the script
 * (NOSCRIPT, after a SCRIPT FLUSH or a restart)
 */

#define NGX_WS_REDIS_PUB_ARGS       13

typedef struct {
    ngx_ws_redis_published_pt   handler;
    void                       *data;
    ngx_ws_zone_t              *zone;
    ngx_uint_t                  eval;             /* sent with EVAL */
    const char                 *argv[NGX_WS_REDIS_PUB_ARGS];
    size_t                      argvlen[NGX_WS_REDIS_PUB_ARGS];
} ngx_ws_redis_pub_t;


static void ngx_ws_redis_tick(ngx_event_t *ev);
static void ngx_ws_redis_round(ngx_ws_redis_reader_t *rr);
static void ngx_ws_redis_round_done(ngx_ws_redis_reader_t *rr);
static void ngx_ws_redis_round_send(ngx_ws_redis_reader_t *rr,
    ngx_array_t *sync, ngx_array_t *read);
static void ngx_ws_redis_sync_send(ngx_ws_redis_reader_t *rr,
    ngx_array_t *sync);
static int ngx_ws_redis_xread_head(const char **argv, size_t *argvlen);
static void ngx_ws_redis_read_send(ngx_ws_redis_reader_t *rr,
    ngx_array_t *read);
static void ngx_ws_redis_read_send_cluster(ngx_ws_redis_reader_t *rr,
    ngx_array_t *read);
static void ngx_ws_redis_wake_subscribe(ngx_ws_redis_reader_t *rr,
    ngx_ws_redis_stream_t *st, ngx_uint_t n, uint64_t gen,
    const char **argv, size_t *argvlen);
static void ngx_ws_redis_read_inbox_cluster(ngx_ws_redis_reader_t *rr,
    u_char *woken, ngx_uint_t full, const char **argv, size_t *argvlen);
static void ngx_ws_redis_woken(void *data, ngx_uint_t slot);
static void ngx_ws_redis_wake_unsubscribe(ngx_ws_redis_reader_t *rr,
    ngx_array_t *gone);
static ngx_int_t ngx_ws_redis_stream_cmp(const void *one, const void *two);
static ngx_int_t ngx_ws_redis_chan_cmp(const void *one, const void *two);
static void ngx_ws_redis_poll(ngx_event_t *ev);
static ngx_uint_t ngx_ws_redis_bp_ready(ngx_ws_redis_reader_t *rr);
static void ngx_ws_redis_bp_close(ngx_ws_redis_reader_t *rr);
static void ngx_ws_redis_notice_send(ngx_ws_redis_reader_t *rr);
static void ngx_ws_redis_notices(ngx_ws_redis_t *rd, void *reply,
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
static ngx_uint_t ngx_ws_redis_entries(ngx_ws_redis_reader_t *rr,
    ngx_ws_channel_node_t *cn, redisReply *entries, ngx_uint_t newest_first);
static ngx_int_t ngx_ws_redis_entry_id(redisReply *e, uint64_t *id);
static u_char *ngx_ws_redis_key(ngx_pool_t *pool, ngx_ws_zone_t *zone,
    ngx_str_t *name, char kind, size_t *len);
static ngx_int_t ngx_ws_redis_presence(ngx_ws_zone_t *zone,
    ngx_str_t *name, ngx_ws_policy_t *pol, ngx_uint_t opcode, u_char *data,
    size_t len, ngx_ws_redis_published_pt handler, void *hdata);
static void ngx_ws_redis_published(ngx_ws_redis_t *rd, void *reply,
    void *data);
static void ngx_ws_redis_wake(ngx_ws_zone_t *zone, uint64_t workers,
    uint64_t uid);
static u_char *ngx_ws_redis_inst(ngx_ws_zone_t *zone);
static u_char *ngx_ws_redis_zkey(ngx_pool_t *pool, ngx_ws_zone_t *zone,
    char *kind, ngx_uint_t inst, size_t *len);
static ngx_ws_redis_t *ngx_ws_redis_zconn(ngx_ws_zone_t *zone);
static ngx_int_t ngx_ws_redis_zcommand(ngx_ws_zone_t *zone,
    ngx_ws_redis_t *rd, const char *key, size_t len,
    ngx_ws_redis_reply_pt handler, void *data, int argc, const char **argv,
    const size_t *argvlen);
static void ngx_ws_redis_share(ngx_ws_redis_reader_t *rr, uint64_t now);
static void ngx_ws_redis_beaten(ngx_ws_redis_t *rd, void *reply,
    void *data);
static void ngx_ws_redis_told(ngx_ws_redis_t *rd, void *reply, void *data);
static void ngx_ws_redis_resync(ngx_ws_redis_reader_t *rr,
    ngx_ws_redis_t *rd, ngx_pool_t *pool);
static void ngx_ws_redis_counts(ngx_ws_redis_reader_t *rr,
    ngx_ws_redis_t *rd, ngx_pool_t *pool);
static ngx_int_t ngx_ws_redis_tell(ngx_ws_redis_t *rd, ngx_ws_zone_t *zone,
    ngx_pool_t *pool, ngx_str_t *name, char kind, ngx_uint_t n,
    ngx_ws_sh_member_t *m);
static void ngx_ws_redis_inbox(ngx_ws_redis_reader_t *rr,
    redisReply *entries);
static void ngx_ws_redis_pushed(ngx_ws_redis_t *rd, void *reply,
    void *data);
static void ngx_ws_redis_counted(ngx_ws_redis_t *rd, void *reply,
    void *data);
static ngx_int_t ngx_ws_redis_noscript(redisReply *r);
static void ngx_ws_redis_refuse(ngx_ws_zone_t *zone, ngx_log_t *log,
    redisReply *r);
static void ngx_ws_redis_accept(ngx_ws_zone_t *zone, ngx_log_t *log);
static void ngx_ws_redis_probe(ngx_event_t *ev);
static void ngx_ws_redis_probed(ngx_ws_redis_t *rd, void *reply,
    void *data);
static void ngx_ws_redis_sha1(u_char *sha, char *script, size_t len);


/*
 * KEYS[1] the last id, KEYS[2] the stream; ARGV[1] MAXLEN, ARGV[2] the
 * opcode, ARGV[3] the data, ARGV[4] the class, ARGV[5] the conflation key
 * (ws_publish_class, X-WS-Class, X-WS-Key; empty: none), ARGV[6] the
 * keys' time to live in ms (ttl=; "0": none), ARGV[7] the channel's name
 * and ARGV[8] the zone's stream of notices, "{ws:ZONE}:d", to which the
 * name is added (one Redis; empty on a cluster, where that key is in
 * another slot: so it is an argument, not one of the KEYS).  On a cluster
 * a wake is published instead on the shard channel named as the stream's
 * key (SPUBLISH, Redis 7.0), in the stream's slot.  Lua numbers
 * are doubles: the ids (below 2^53) are exact, but are formatted with %d,
 * never by tostring().
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
    "if ARGV[6] ~= '0' then\n"
    "  redis.call('PEXPIRE', KEYS[1], ARGV[6])\n"
    "  redis.call('PEXPIRE', KEYS[2], ARGV[6])\n"
    "end\n"
    "if ARGV[8] ~= '' then\n"
    "  redis.call('XADD', ARGV[8], 'MAXLEN', '~', '"
    NGX_WS_REDIS_NOTICE_MAXLEN "', '*', 'c', ARGV[7])\n"
    "else\n"
    "  redis.call('SPUBLISH', KEYS[2], '')\n"
    "end\n"
    "return n\n";


/*
 * KEYS as above, ARGV[1] how many entries, ARGV[2] the time to live of a
 * last id made here: {last id, newest entries}
 */

static char  ngx_ws_redis_sync_lua[] =
    NGX_WS_REDIS_FIRST_ID
    "local n = redis.call('GET', KEYS[1])\n"
    "if not n then\n"
    "  n = string.format('%d', first(KEYS[2]))\n"
    "  if ARGV[2] ~= '0' then\n"
    "    redis.call('SET', KEYS[1], n, 'PX', ARGV[2])\n"
    "  else\n"
    "    redis.call('SET', KEYS[1], n)\n"
    "  end\n"
    "end\n"
    "return {n, redis.call('XREVRANGE', KEYS[2], '+', '-', 'COUNT',"
    " ARGV[1])}\n";


/* their sha1s, in hex, for EVALSHA */

static u_char  ngx_ws_redis_publish_sha[40];
static u_char  ngx_ws_redis_sync_sha[40];


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

    ngx_ws_presence_publisher = ngx_ws_redis_presence;

    wmcf = ngx_http_cycle_get_module_main_conf(cycle, ngx_ws_module);

    if (wmcf == NULL) {
        return NGX_OK;
    }

    ngx_ws_redis_sha1(ngx_ws_redis_publish_sha, ngx_ws_redis_publish_lua,
                      sizeof(ngx_ws_redis_publish_lua) - 1);
    ngx_ws_redis_sha1(ngx_ws_redis_sync_sha, ngx_ws_redis_sync_lua,
                      sizeof(ngx_ws_redis_sync_lua) - 1);

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

        /* on a cluster: this worker's connections to its nodes */

        if (zones[i]->redis->seeds) {
            zones[i]->redis->cluster =
                    ngx_ws_redis_cluster_open(zones[i]->redis, cycle->log, 0);

            if (zones[i]->redis->cluster == NULL) {
                return NGX_ERROR;
            }
        }

        rr->tick.handler = ngx_ws_redis_tick;
        rr->tick.data = rr;
        rr->tick.log = cycle->log;
        rr->tick.cancelable = 1;

        rr->poll.handler = ngx_ws_redis_poll;
        rr->poll.data = rr;
        rr->poll.log = cycle->log;
        rr->poll.cancelable = 1;
        rr->probe.handler = ngx_ws_redis_probe;
        rr->probe.data = rr;
        rr->probe.log = cycle->log;
        rr->probe.cancelable = 1;

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

        if (rr->probe.timer_set) {
            ngx_del_timer(&rr->probe);
        }

        ngx_ws_redis_bp_close(rr);

        if (zone->redis->cluster) {
            ngx_ws_redis_cluster_close(zone->redis->cluster);
            zone->redis->cluster = NULL;
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

    uint64_t        now, connects;
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

    if (leader && rr->rd == NULL && rr->cl == NULL) {
        ngx_log_error(NGX_LOG_INFO, ev->log, 0,
                      "ws_zone \"%V\": this worker reads the Redis streams",
                      &zone->name);

        /* the worker's own connection tells of outages: this one quietly */

        if (zone->redis->seeds) {
            rr->cl = ngx_ws_redis_cluster_open(zone->redis, ev->log, 1);

            if (rr->cl) {
                ngx_ws_redis_cluster_wakes(rr->cl, ngx_ws_redis_woken, rr);
            }

        } else {
            rr->rd = ngx_ws_redis_open(zone->redis, ev->log, 1);
        }

        rr->checked = 0;

    } else if (!leader) {
        /* in flight, they are answered NULL: the round ends */
        ngx_ws_redis_bp_close(rr);
        rr->connects = 0;
    }

    if (leader && (rr->rd || rr->cl)) {
        /* the instance's heartbeat and counts */
        ngx_ws_redis_share(rr, now);
    }

    if (rr->cl) {
        zone->sh->redis.wake_conns =
                ngx_ws_redis_cluster_wake_ready(rr->cl, &connects);
    }

    if (ngx_ws_redis_bp_ready(rr) && rr->busy == 0 && !rr->poll.timer_set) {
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
    uint64_t                connects;
    ngx_str_t              *name;
    ngx_uint_t              check;
    ngx_pool_t             *pool;
    ngx_array_t             sync, read, gone;
    ngx_queue_t            *q;
    ngx_ws_zone_t          *zone;
    ngx_ws_redis_chan_t    *ch;
    ngx_ws_channel_node_t  *cn;

    zone = rr->zone;

    if (rr->rd && rr->rd->connects != rr->connects) {
        /*
         * (re)connected: the first reads bring what was missed meanwhile
         * (one Redis; a cluster's nodes come and go one by one)
         */
        rr->connects = rr->rd->connects;
        rr->backfill = 1;
    }

    /*
     * The channels are checked after a connection (Redis lost writes?): to
     * one Redis (or Sentinel's master), or to any node of a cluster
     */
    connects = rr->rd ? rr->rd->connects
                      : (rr->cl ? ngx_ws_redis_cluster_connects(rr->cl) : 0);
    check = ((rr->rd || rr->cl) && rr->checked != connects);

    pool = ngx_create_pool(4096, rr->tick.log);
    if (pool == NULL) {
        return;
    }

    if (ngx_array_init(&sync, pool, 8, sizeof(ngx_str_t)) != NGX_OK
        || ngx_array_init(&gone, pool, 2, sizeof(ngx_str_t)) != NGX_OK
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
            if (!cn->redis_wake) {
                continue;
            }

            /* on a cluster, its wake is not wanted any more */
            cn->redis_wake = 0;
            name = ngx_array_push(&gone);

        } else if (!cn->synced) {
            name = ngx_array_push(&sync);

        } else {
            ch = ngx_array_push(&read);

            if (ch == NULL) {
                break;
            }

            ch->last = cn->last_id;
            ch->known = 0;
            ch->wake = cn->redis_wake;

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
    rr->got = 0;
    rr->failed = 0;

    if (gone.nelts && rr->cl) {
        ngx_ws_redis_wake_unsubscribe(rr, &gone);
    }

    /*
     * After a connection is made, the channels read are checked first (Redis
     * may have lost writes); then the new channels are synced; the next
     * round reads them with the others
     */

    if (check) {
        rr->checked = connects;
        rr->notice_len = 0;
        ngx_ws_redis_check_send(rr, &read);
    }

    if (rr->busy == 0) {
        ngx_ws_redis_round_send(rr, &sync, &read);
    }

    if (rr->busy == 0) {
        /* nothing to do, or nothing could be sent: the next tick tries */
        rr->pool = NULL;
        ngx_destroy_pool(pool);
    }
}


/*
 * The new channels first (the next round reads them with the others).  On
 * a cluster, the channels' streams slot by slot, without notices.  On one
 * Redis: where the notices are, once; then all streams (with the
 * instance's inbox) after a connection, a sync, a read cut by its COUNT
 * or once a second; else the wait for notices and the inbox.
 */

static void
ngx_ws_redis_round_send(ngx_ws_redis_reader_t *rr, ngx_array_t *sync,
    ngx_array_t *read)
{
    if (sync->nelts) {
        ngx_ws_redis_sync_send(rr, sync);
        rr->full = 1;
        return;
    }

    if (rr->cl) {
        /* the channels' streams, slot by slot, and the instance's inbox */
        ngx_ws_redis_read_send_cluster(rr, read);
        return;
    }

    if (rr->notice_len == 0) {
        ngx_ws_redis_notice_send(rr);
        rr->full = 1;

    } else if (read->nelts
               && (rr->full
                   || (ngx_msec_int_t) (ngx_current_msec - rr->full_at) >= 0))
    {
        rr->full = 0;
        rr->full_at = ngx_current_msec + NGX_WS_REDIS_FULL_READ;
        ngx_ws_redis_read_send(rr, read);

    } else {
        ngx_ws_redis_notice_send(rr);
    }
}


/* one script per channel new to the instance */

static void
ngx_ws_redis_sync_send(ngx_ws_redis_reader_t *rr, ngx_array_t *sync)
{
    u_char               *p, *t, num[NGX_INT_T_LEN], ttl[NGX_INT64_LEN];
    size_t                argvlen[7];
    ngx_str_t            *names;
    ngx_uint_t            i;
    const char           *argv[7];
    ngx_ws_zone_t        *zone;
    ngx_ws_redis_sync_t  *s;

    zone = rr->zone;
    names = sync->elts;

    p = ngx_sprintf(num, "%ui", ngx_max(zone->history, 1));
    t = ngx_sprintf(ttl, "%uL", (uint64_t) zone->ttl * 1000);

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

        if (rr->sync_eval) {
            /* Redis lost the script: sent in full, which loads it */
            argv[0] = "EVAL";
            argvlen[0] = 4;
            argv[1] = ngx_ws_redis_sync_lua;
            argvlen[1] = sizeof(ngx_ws_redis_sync_lua) - 1;

        } else {
            argv[0] = "EVALSHA";
            argvlen[0] = 7;
            argv[1] = (char *) ngx_ws_redis_sync_sha;
            argvlen[1] = sizeof(ngx_ws_redis_sync_sha);
        }

        argv[2] = "2";
        argvlen[2] = 1;
        argv[3] = (char *) ngx_ws_redis_key(rr->pool, zone, &s->name, 'n',
                                            &argvlen[3]);
        argv[4] = (char *) ngx_ws_redis_key(rr->pool, zone, &s->name, 's',
                                            &argvlen[4]);
        argv[5] = (char *) num;
        argvlen[5] = p - num;
        argv[6] = (char *) ttl;
        argvlen[6] = t - ttl;

        if (argv[3] == NULL || argv[4] == NULL) {
            return;
        }

        if (rr->cl) {
            /* a master away: the others' channels are synced still */
            if (ngx_ws_redis_cluster_command(rr->cl,
                    ngx_ws_redis_cluster_slot((u_char *) argv[3], argvlen[3]),
                    ngx_ws_redis_synced, s, 7, argv, argvlen)
                != NGX_OK)
            {
                continue;
            }

        } else if (ngx_ws_redis_command(rr->rd, ngx_ws_redis_synced, s, 7,
                                        argv, argvlen)
                   != NGX_OK)
        {
            return;
        }

        rr->busy++;
    }
}


/*
 * "XREAD COUNT NGX_WS_REDIS_READ_COUNT STREAMS", without BLOCK: the start
 * of every read of channels; returns the number of arguments set
 */

static int
ngx_ws_redis_xread_head(const char **argv, size_t *argvlen)
{
    argv[0] = "XREAD";
    argvlen[0] = 5;
    argv[1] = "COUNT";
    argvlen[1] = 5;
    argv[2] = NGX_WS_REDIS_READ_COUNT;
    argvlen[2] = sizeof(NGX_WS_REDIS_READ_COUNT) - 1;
    argv[3] = "STREAMS";
    argvlen[3] = 7;

    return 4;
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

    argv = ngx_palloc(rr->pool, (2 * n + 8) * sizeof(char *));
    argvlen = ngx_palloc(rr->pool, (2 * n + 8) * sizeof(size_t));

    if (argv == NULL || argvlen == NULL) {
        return;
    }

    /* the wait is on the notices: this one answers at once */

    argc = ngx_ws_redis_xread_head(argv, argvlen);

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

    argv[argc] = (char *) ngx_ws_redis_zkey(rr->pool, rr->zone, "q", 1,
                                            &argvlen[argc]);
    if (argv[argc] == NULL) {
        return;
    }

    argc++;

    for (i = 0; i < n; i++) {
        p = ngx_pnalloc(rr->pool, NGX_INT64_LEN + 2);
        if (p == NULL) {
            return;
        }

        argv[argc] = (char *) p;
        argvlen[argc++] = ngx_sprintf(p, "%uL-0", ch[i].last) - p;
    }

    p = ngx_pnalloc(rr->pool, 2 * NGX_INT64_LEN + 1);
    if (p == NULL) {
        return;
    }

    argv[argc] = (char *) p;
    argvlen[argc++] = ngx_sprintf(p, "%uL-%uL", rr->zone->sh->redis_inbox[0],
                                  rr->zone->sh->redis_inbox[1])
                      - p;

    if (ngx_ws_redis_command(rr->rd, ngx_ws_redis_read, rr, argc, argv,
                             argvlen)
        == NGX_OK)
    {
        rr->busy++;
    }
}


/*
 * On a Redis Cluster, streams of different slots cannot be read by one
 * XREAD (CROSSSLOT), nor can several XREAD ... BLOCK wait on one
 * connection: the channels are grouped by slot, one XREAD without BLOCK
 * per slot to read, pipelined on the connection to the slot's master.  A
 * slot is read when it was woken (a message published, its subscription
 * made), when its master's subscriber is not ready (polled every
 * NGX_WS_REDIS_POLL ms meanwhile), and all are read once a second, after
 * a sync, after a subscriber's connection, or when a read was cut by its
 * COUNT.  The channels not subscribed to with their master's subscriber
 * of now are subscribed first.
 */

static void
ngx_ws_redis_read_send_cluster(ngx_ws_redis_reader_t *rr, ngx_array_t *read)
{
    int                     argc;
    u_char                 *p, *woken;
    size_t                 *argvlen;
    uint64_t                gen, connects;
    ngx_uint_t              i, j, k, n, full;
    const char            **argv;
    ngx_ws_redis_chan_t    *ch;
    ngx_ws_redis_stream_t  *st;

    ch = read->elts;
    n = read->nelts;

    st = ngx_palloc(rr->pool, n * sizeof(ngx_ws_redis_stream_t));
    /* (the inbox's XREAD takes 6) */
    argv = ngx_palloc(rr->pool, (2 * n + 6) * sizeof(char *));
    argvlen = ngx_palloc(rr->pool, (2 * n + 6) * sizeof(size_t));
    woken = ngx_pnalloc(rr->pool, sizeof(rr->woken));

    if (st == NULL || argv == NULL || argvlen == NULL || woken == NULL) {
        return;
    }

    /* the slots woken until now; those woken from now on, next round */

    ngx_memcpy(woken, rr->woken, sizeof(rr->woken));
    ngx_memzero(rr->woken, sizeof(rr->woken));
    rr->woke = 0;
    rr->polling = 0;

    (void) ngx_ws_redis_cluster_wake_ready(rr->cl, &connects);

    full = rr->full
           || connects != rr->wake_connects
           || (ngx_msec_int_t) (ngx_current_msec - rr->full_at) >= 0;

    if (full) {
        rr->full = 0;
        rr->wake_connects = connects;
        rr->full_at = ngx_current_msec + NGX_WS_REDIS_FULL_READ;
    }

    for (i = 0; i < n; i++) {
        if (ch[i].name.len == 0) {
            n = i;
            break;
        }

        st[i].key = ngx_ws_redis_key(rr->pool, rr->zone, &ch[i].name, 's',
                                     &st[i].len);
        p = ngx_pnalloc(rr->pool, NGX_INT64_LEN + 2);

        if (st[i].key == NULL || p == NULL) {
            return;
        }

        st[i].id = p;
        st[i].idlen = ngx_sprintf(p, "%uL-0", ch[i].last) - p;
        st[i].slot = ngx_ws_redis_cluster_slot(st[i].key, st[i].len);
        st[i].ch = &ch[i];
    }

    ngx_sort(st, n, sizeof(ngx_ws_redis_stream_t), ngx_ws_redis_stream_cmp);

    for (i = 0; i < n; i = j) {
        for (j = i + 1; j < n && st[j].slot == st[i].slot; j++) {
            /* void */
        }

        gen = ngx_ws_redis_cluster_wake_gen(rr->cl, st[i].slot);

        if (gen == 0) {
            rr->polling = 1;

        } else {
            /* read when the subscription is made, if one is */
            ngx_ws_redis_wake_subscribe(rr, &st[i], j - i, gen, argv,
                                        argvlen);

            if (!full && !(woken[st[i].slot / 8] & (1 << (st[i].slot % 8))))
            {
                continue;
            }
        }

        argc = ngx_ws_redis_xread_head(argv, argvlen);

        for (k = i; k < j; k++) {
            argv[argc] = (char *) st[k].key;
            argvlen[argc++] = st[k].len;
        }

        for (k = i; k < j; k++) {
            argv[argc] = (char *) st[k].id;
            argvlen[argc++] = st[k].idlen;
        }

        /* a master away: the channels of the others are read still */

        if (ngx_ws_redis_cluster_command(rr->cl, st[i].slot,
                                         ngx_ws_redis_read, rr, argc, argv,
                                         argvlen)
            == NGX_OK)
        {
            rr->busy++;
        }
    }

    ngx_ws_redis_read_inbox_cluster(rr, woken, full, argv, argvlen);
}


/*
 * SSUBSCRIBE to the wakes of the streams of one slot that were not
 * subscribed to with the generation of their master's subscriber
 */

static void
ngx_ws_redis_wake_subscribe(ngx_ws_redis_reader_t *rr,
    ngx_ws_redis_stream_t *st, ngx_uint_t n, uint64_t gen,
    const char **argv, size_t *argvlen)
{
    int                     argc;
    ngx_uint_t              k;
    ngx_ws_zone_t          *zone;
    ngx_ws_redis_chan_t    *ch;
    ngx_ws_channel_node_t  *cn;

    argv[0] = "SSUBSCRIBE";
    argvlen[0] = 10;
    argc = 1;

    for (k = 0; k < n; k++) {
        ch = st[k].ch;

        if (ch->wake != gen) {
            argv[argc] = (char *) st[k].key;
            argvlen[argc++] = st[k].len;
        }
    }

    if (argc == 1
        || ngx_ws_redis_cluster_subscribe(rr->cl, st[0].slot, argc, argv,
                                          argvlen)
           != NGX_OK)
    {
        return;
    }

    /* subscribed with this generation: not again until it changes */

    zone = rr->zone;

    ngx_shmtx_lock(&zone->shpool->mutex);

    for (k = 0; k < n; k++) {
        ch = st[k].ch;

        if (ch->wake == gen) {
            continue;
        }

        ch->wake = gen;
        cn = ngx_ws_channel_lookup(zone, &ch->name, 0);

        if (cn != NULL) {
            cn->redis_wake = gen;
        }
    }

    ngx_shmtx_unlock(&zone->shpool->mutex);
}


/*
 * The instance's inbox, in the slot of the zone's keys: read as a slot of
 * channels is, woken by the push script
 */

static void
ngx_ws_redis_read_inbox_cluster(ngx_ws_redis_reader_t *rr, u_char *woken,
    ngx_uint_t full, const char **argv, size_t *argvlen)
{
    u_char      *p;
    uint64_t     gen;
    ngx_uint_t   slot;

    argv[4] = (char *) ngx_ws_redis_zkey(rr->pool, rr->zone, "q", 1,
                                         &argvlen[4]);
    p = ngx_pnalloc(rr->pool, 2 * NGX_INT64_LEN + 1);

    if (argv[4] == NULL || p == NULL) {
        return;
    }

    slot = ngx_ws_redis_cluster_slot((u_char *) argv[4], argvlen[4]);
    gen = ngx_ws_redis_cluster_wake_gen(rr->cl, slot);

    if (gen == 0) {
        rr->polling = 1;

    } else {
        if (rr->inbox_wake != gen) {
            argv[3] = "SSUBSCRIBE";
            argvlen[3] = 10;

            if (ngx_ws_redis_cluster_subscribe(rr->cl, slot, 2, &argv[3],
                                               &argvlen[3])
                == NGX_OK)
            {
                rr->inbox_wake = gen;
            }
        }

        if (!full && !(woken[slot / 8] & (1 << (slot % 8)))) {
            return;
        }
    }

    (void) ngx_ws_redis_xread_head(argv, argvlen);

    argv[5] = (char *) p;
    argvlen[5] = ngx_sprintf(p, "%uL-%uL", rr->zone->sh->redis_inbox[0],
                             rr->zone->sh->redis_inbox[1])
                 - p;

    if (ngx_ws_redis_cluster_command(rr->cl, slot, ngx_ws_redis_read, rr, 6,
                                     argv, argvlen)
        == NGX_OK)
    {
        rr->busy++;
    }
}


/* the wakes of channels that lost their last subscriber of the instance */

static void
ngx_ws_redis_wake_unsubscribe(ngx_ws_redis_reader_t *rr, ngx_array_t *gone)
{
    size_t       argvlen[2];
    ngx_str_t   *names;
    ngx_uint_t   i;
    const char  *argv[2];

    names = gone->elts;

    argv[0] = "SUNSUBSCRIBE";
    argvlen[0] = 12;

    for (i = 0; i < gone->nelts; i++) {
        if (names[i].len == 0) {
            break;
        }

        argv[1] = (char *) ngx_ws_redis_key(rr->pool, rr->zone, &names[i],
                                            's', &argvlen[1]);
        if (argv[1] == NULL) {
            return;
        }

        ngx_ws_redis_cluster_unsubscribe(rr->cl,
            ngx_ws_redis_cluster_slot((u_char *) argv[1], argvlen[1]),
            argv, argvlen);
    }
}


/*
 * A slot woken (ngx_ws_redis_cluster.c): read at once, or by the next
 * round if one is under way
 */

static void
ngx_ws_redis_woken(void *data, ngx_uint_t slot)
{
    ngx_ws_redis_reader_t *rr = data;

    slot &= NGX_WS_REDIS_CL_SLOTS - 1;

    rr->woken[slot / 8] |= (u_char) (1 << (slot % 8));
    rr->woke = 1;

    if (rr->busy || !ngx_ws_redis_bp_ready(rr)) {
        return;
    }

    if (rr->poll.timer_set) {
        ngx_del_timer(&rr->poll);
    }

    ngx_ws_redis_round(rr);
}


/*
 * The wait for notices and for the instance's inbox (XREAD BLOCK), or,
 * before the first, the id of the last notice (XREVRANGE)
 */

static void
ngx_ws_redis_notice_send(ngx_ws_redis_reader_t *rr)
{
    int             argc;
    u_char         *p;
    size_t          argvlen[10];
    const char     *argv[10];
    ngx_ws_zone_t  *zone;

    zone = rr->zone;

    argv[1] = (char *) ngx_ws_redis_notice_key(rr->pool, zone, &argvlen[1]);
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
        argv[6] = argv[1];
        argvlen[6] = argvlen[1];
        argv[7] = (char *) ngx_ws_redis_zkey(rr->pool, zone, "q", 1,
                                             &argvlen[7]);
        p = ngx_pnalloc(rr->pool, 2 * NGX_INT64_LEN + 1);

        if (argv[7] == NULL || p == NULL) {
            return;
        }

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
        argv[8] = (char *) rr->notice;
        argvlen[8] = rr->notice_len;
        argv[9] = (char *) p;
        argvlen[9] = ngx_sprintf(p, "%uL-%uL", zone->sh->redis_inbox[0],
                                 zone->sh->redis_inbox[1])
                     - p;
        argc = 10;
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
 * ...]], [inbox, entries]] or nil.  The channels named that the instance
 * reads are read at once.
 */

static void
ngx_ws_redis_notices(ngx_ws_redis_t *rd, void *reply, void *data)
{
    ngx_ws_redis_reader_t *rr = data;

    size_t          dlen;
    ngx_uint_t      i, n, level;
    redisReply     *r, *id, *k;
    ngx_array_t     read;
    ngx_ws_zone_t  *zone;

    zone = rr->zone;
    r = reply;

    if (r == NULL || r->type == REDIS_REPLY_NIL) {
        goto done;
    }

    if (r->type != REDIS_REPLY_ARRAY) {
        /* once at error until a round reads without one */
        level = rr->failing ? NGX_LOG_INFO : NGX_LOG_ERR;

        ngx_log_error(level, rd->log, 0,
                      "redis \"%V\": notices not read: %*s",
                      &zone->redis->addr,
                      (size_t) (r->type == REDIS_REPLY_ERROR ? r->len : 0),
                      r->str);

        rr->failing = 1;
        rr->failed = 1;
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

    if (ngx_array_init(&read, rr->pool, 16, sizeof(ngx_ws_redis_chan_t))
        != NGX_OK)
    {
        goto done;
    }

    /* "{ws:ZONE}:d"; the other stream is the instance's inbox */
    dlen = sizeof("{ws:}:d") - 1 + zone->name.len;

    for (i = 0; i < r->elements; i++) {
        k = r->element[i];

        if (k->type != REDIS_REPLY_ARRAY || k->elements != 2
            || k->element[0]->type != REDIS_REPLY_STRING
            || k->element[1]->type != REDIS_REPLY_ARRAY)
        {
            continue;
        }

        if (k->element[0]->len != dlen) {
            ngx_ws_redis_inbox(rr, k->element[1]);
            continue;
        }

        k = k->element[1];

        if (k->elements
            >= (size_t) ngx_atoi((u_char *) NGX_WS_REDIS_NOTICE_COUNT,
                                 sizeof(NGX_WS_REDIS_NOTICE_COUNT) - 1))
        {
            /* more than a wait takes: all channels are read next */
            rr->full = 1;
        }

        for (n = 0; n < k->elements; n++) {
            ngx_ws_redis_notice_add(rr, &read, k->element[n]);
        }
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


static ngx_int_t
ngx_ws_redis_stream_cmp(const void *one, const void *two)
{
    const ngx_ws_redis_stream_t  *a = one, *b = two;

    return (ngx_int_t) a->slot - (ngx_int_t) b->slot;
}


static ngx_int_t
ngx_ws_redis_chan_cmp(const void *one, const void *two)
{
    const ngx_ws_redis_chan_t  *a = one, *b = two;

    return (ngx_int_t) a->slot - (ngx_int_t) b->slot;
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
 * could not be sent.  On a cluster a script may touch one slot only: the
 * channels are sorted by slot and each script goes to its slot's master;
 * the channels of a master not connected are checked when it connects
 */

static void
ngx_ws_redis_check_send(ngx_ws_redis_reader_t *rr, ngx_array_t *read)
{
    int                    argc;
    u_char                *p;
    size_t                *argvlen, len;
    ngx_int_t              rc;
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

        if (rr->cl) {
            p = ngx_ws_redis_key(rr->pool, zone, &ch[total].name, 'n', &len);
            if (p == NULL) {
                goto failed;
            }

            ch[total].slot = ngx_ws_redis_cluster_slot(p, len);
        }
    }

    if (rr->cl) {
        ngx_sort(ch, total, sizeof(ngx_ws_redis_chan_t),
                 ngx_ws_redis_chan_cmp);
    }

    for (i = 0; i < total; i += n) {
        n = ngx_min(total - i, NGX_WS_REDIS_CHECK_BATCH);

        if (rr->cl) {
            /* the channels of one slot */
            for (j = i + 1; j < i + n && ch[j].slot == ch[i].slot; j++) {
                /* void */
            }

            n = j - i;
        }

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

        if (rr->cl) {
            rc = ngx_ws_redis_cluster_command(rr->cl, ch[i].slot,
                                              ngx_ws_redis_checked, k, argc,
                                              argv, argvlen);
            if (rc == NGX_DECLINED) {
                /* its master is away: checked when it connects */
                continue;
            }

        } else {
            rc = ngx_ws_redis_command(rr->rd, ngx_ws_redis_checked, k, argc,
                                      argv, argvlen);
        }

        if (rc != NGX_OK) {
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
                      rr->cl ? &rd->conf->addr : &zone->redis->addr,
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
                      rr->cl ? &rd->conf->addr : &zone->redis->addr,
                      &ch->name, ch->last, last);

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

    if (!rr->failed) {
        rr->failing = 0;
    }

    if (!ngx_ws_redis_bp_ready(rr)) {
        return;
    }

    if (rr->failed) {
        /* no XREAD waited for news: a pause after an error */
        ngx_add_timer(&rr->poll, NGX_WS_REDIS_TICK);
        return;
    }

    if (rr->cl && !rr->woke && !rr->full) {
        /*
         * on a cluster, the next round when a slot is woken (or at a tick,
         * for the new channels and the reading of all once a second);
         * slots whose master's subscriber is not ready are polled
         */
        if (rr->polling) {
            ngx_add_timer(&rr->poll, NGX_WS_REDIS_POLL);
        }

        return;
    }

    ngx_ws_redis_round(rr);
}


static void
ngx_ws_redis_poll(ngx_event_t *ev)
{
    ngx_ws_redis_reader_t *rr = ev->data;

    if (ngx_ws_redis_bp_ready(rr) && rr->busy == 0) {
        ngx_ws_redis_round(rr);
    }
}


/* the reader's connection (or cluster) is ready for a round */

static ngx_uint_t
ngx_ws_redis_bp_ready(ngx_ws_redis_reader_t *rr)
{
    if (rr->cl) {
        return ngx_ws_redis_cluster_ready(rr->cl);
    }

    return rr->rd && rr->rd->state == NGX_WS_REDIS_READY;
}


/* the worker is the reader no more, or exits */

static void
ngx_ws_redis_bp_close(ngx_ws_redis_reader_t *rr)
{
    ngx_ws_redis_t          *rd;
    ngx_ws_redis_cluster_t  *cl;

    rd = rr->rd;
    cl = rr->cl;

    /* not ready from now on: the NULL answers start no round */

    rr->rd = NULL;
    rr->cl = NULL;

    if (rd) {
        ngx_ws_redis_close(rd);
    }

    if (cl) {
        ngx_ws_redis_cluster_close(cl);
        rr->zone->sh->redis.wake_conns = 0;
    }

    if (rr->poll.timer_set) {
        ngx_del_timer(&rr->poll);
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
    ngx_uint_t              level;
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

    if (ngx_ws_redis_noscript(r)) {
        /* the next round sends it in full; the channel waits till then */
        rr->sync_eval = 1;
        goto done;
    }

    if (r->type != REDIS_REPLY_ARRAY || r->elements != 2
        || r->element[0]->type != REDIS_REPLY_STRING
        || r->element[1]->type != REDIS_REPLY_ARRAY)
    {
        /* retried each round: logged at error once for the series */
        level = rr->sync_failing ? NGX_LOG_INFO : NGX_LOG_ERR;

        ngx_log_error(level, rd->log, 0,
                      "redis \"%V\": channel \"%V\" not synced: %*s",
                      &zone->redis->addr, &s->name,
                      (size_t) (r->type == REDIS_REPLY_ERROR ? r->len : 0),
                      r->str);
        rr->sync_failing = 1;
        goto done;
    }

    rr->sync_eval = 0;
    rr->sync_failing = 0;

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
        (void) ngx_ws_redis_entries(rr, cn, r->element[1], 1);

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
    ngx_uint_t              i, n, full, level;
    redisReply             *r, *k;
    ngx_ws_zone_t          *zone;
    ngx_ws_channel_node_t  *cn;

    zone = rr->zone;
    r = reply;

    if (r == NULL) {
        goto done;
    }

    if (r->type == REDIS_REPLY_NIL) {
        /* nothing new: caught up */
        rr->backfill = 0;
        goto done;
    }

    if (r->type != REDIS_REPLY_ARRAY) {
        /* once at error until a round reads without one, e.g. CLUSTERDOWN */
        level = rr->failing ? NGX_LOG_INFO : NGX_LOG_ERR;

        ngx_log_error(level, rd->log, 0,
                      "redis \"%V\": XREAD failed: %*s", &rd->conf->addr,
                      (size_t) (r->type == REDIS_REPLY_ERROR ? r->len : 0),
                      r->str);

        rr->failing = 1;
        rr->failed = 1;
        goto done;
    }

    /* "{ws:" zone ":" name "}:s" */
    plen = sizeof("{ws::") - 1 + zone->name.len;
    full = 0;

    for (i = 0; i < r->elements; i++) {
        k = r->element[i];

        if (k->type != REDIS_REPLY_ARRAY || k->elements != 2
            || k->element[0]->type != REDIS_REPLY_STRING
            || k->element[1]->type != REDIS_REPLY_ARRAY)
        {
            continue;
        }

        len = k->element[0]->len;

        if (len > plen && k->element[0]->str[plen - 1] == '}') {
            /* "{ws:ZONE}:q:INST", the instance's inbox */
            ngx_ws_redis_inbox(rr, k->element[1]);
            continue;
        }

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

        n = ngx_ws_redis_entries(rr, cn, k->element[1], 0);

        if (rr->backfill) {
            (void) ngx_atomic_fetch_add(&zone->sh->redis.backfilled, n);
        }

        if (k->element[1]->elements >= NGX_WS_REDIS_READ_MAX) {
            /* more to read: all channels are read next */
            full = 1;
            rr->full = 1;
        }

        rr->got = 1;
        workers = cn->workers;
        uid = cn->uid;

        ngx_shmtx_unlock(&zone->shpool->mutex);

        ngx_ws_redis_wake(zone, workers, uid);
    }

    /* a stream read in full has more: the backfill goes on */

    rr->backfill = full;

done:

    ngx_ws_redis_round_done(rr);
}


/*
 * With the zone locked: stream entries into the channel, oldest first;
 * the number stored
 */

static ngx_uint_t
ngx_ws_redis_entries(ngx_ws_redis_reader_t *rr, ngx_ws_channel_node_t *cn,
    redisReply *entries, ngx_uint_t newest_first)
{
    size_t            len;
    u_char           *data;
    uint64_t          id;
    ngx_int_t         opcode, cls;
    ngx_uint_t        i, j, n, stored;
    redisReply       *e, *f;
    ngx_ws_zone_t    *zone;
    ngx_ws_policy_t   pol;

    zone = rr->zone;
    n = entries->elements;
    stored = 0;

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
        stored++;
    }

    return stored;
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
 * max_message, NGX_DECLINED when Redis is unavailable or refuses writes,
 * NGX_BUSY with too many commands in flight, NGX_ERROR.  The script goes
 * by its sha1 (EVALSHA), and again in full (EVAL) if Redis lost it.
 */

ngx_int_t
ngx_ws_redis_publish(ngx_ws_zone_t *zone, ngx_str_t *name,
    ngx_ws_policy_t *pol, ngx_uint_t opcode, u_char *data, size_t len,
    ngx_ws_redis_published_pt handler, void *hdata)
{
    u_char                 *p;
    size_t                  size, klen;
    ngx_int_t               rc;
    ngx_uint_t              i, slot;
    ngx_ws_redis_t         *rd;
    ngx_ws_redis_pub_t     *pub;
    ngx_ws_redis_reader_t  *rr;

    if (len > zone->max_message) {
        return NGX_WS_ZONE_TOO_BIG;
    }

    rr = zone->redis->reader;

    if (rr != NULL && rr->refusing) {
        (void) ngx_atomic_fetch_add(&zone->sh->redis.refused, 1);
        return NGX_DECLINED;
    }

    klen = (pol && pol->key.len) ? pol->key.len : 0;

    size = 2 * (sizeof("{ws::}:s") - 1 + zone->name.len + name->len)
           + 4 * NGX_INT64_LEN + len + klen
           + name->len + sizeof("{ws:}:d") - 1 + zone->name.len;

    pub = ngx_alloc(sizeof(ngx_ws_redis_pub_t) + size, ngx_cycle->log);
    if (pub == NULL) {
        return NGX_ERROR;
    }

    pub->handler = handler;
    pub->data = hdata;
    pub->zone = zone;
    pub->eval = 0;

    pub->argv[0] = "EVALSHA";
    pub->argvlen[0] = sizeof("EVALSHA") - 1;
    pub->argv[1] = (char *) ngx_ws_redis_publish_sha;
    pub->argvlen[1] = sizeof(ngx_ws_redis_publish_sha);
    pub->argv[2] = "2";
    pub->argvlen[2] = 1;

    /* the other arguments are copied after the structure */

    p = (u_char *) &pub[1];

    pub->argv[3] = (char *) p;
    p = ngx_sprintf(p, "{ws:%V:%V}:n", &zone->name, name);
    pub->argv[4] = (char *) p;
    p = ngx_sprintf(p, "{ws:%V:%V}:s", &zone->name, name);
    pub->argv[5] = (char *) p;
    p = ngx_sprintf(p, "%ui",
                    ngx_max(zone->history, NGX_WS_REDIS_MIN_MAXLEN));
    pub->argv[6] = (char *) p;
    p = ngx_sprintf(p, "%ui", opcode);
    pub->argv[7] = (char *) p;

    if (len) {
        /* data may be NULL when empty */
        p = ngx_cpymem(p, data, len);
    }

    pub->argv[8] = (char *) p;
    p = ngx_sprintf(p, "%ui", pol ? pol->cls : NGX_WS_CLASS_NORMAL);
    pub->argv[9] = (char *) p;

    if (klen) {
        p = ngx_cpymem(p, pol->key.data, klen);
    }

    pub->argv[10] = (char *) p;
    p = ngx_sprintf(p, "%uL", (uint64_t) zone->ttl * 1000);
    pub->argv[11] = (char *) p;
    p = ngx_cpymem(p, name->data, name->len);
    pub->argv[12] = (char *) p;

    if (zone->redis->cluster == NULL) {
        /* the notice for the readers, by the script itself */
        p = ngx_sprintf(p, "{ws:%V}:d", &zone->name);
    }

    for (i = 3; i < NGX_WS_REDIS_PUB_ARGS - 1; i++) {
        pub->argvlen[i] = pub->argv[i + 1] - pub->argv[i];
    }

    pub->argvlen[i] = (char *) p - pub->argv[i];

    /* on a cluster: the connection to the master of the channel's slot */

    slot = 0;
    rd = zone->redis->conn;

    if (zone->redis->cluster) {
        slot = ngx_ws_redis_cluster_slot((u_char *) pub->argv[3],
                                         pub->argvlen[3]);
        rd = ngx_ws_redis_cluster_conn(zone->redis->cluster, slot);
    }

    if (rd == NULL || !ngx_ws_redis_usable(rd)
        || rd->inflight == NGX_WS_REDIS_MAX_INFLIGHT)
    {
        (void) ngx_atomic_fetch_add(&zone->sh->redis.refused, 1);
        ngx_free(pub);
        return (rd && ngx_ws_redis_usable(rd)) ? NGX_BUSY : NGX_DECLINED;
    }

    /* hiredis copies the arguments into its buffer */

    if (zone->redis->cluster) {
        rc = ngx_ws_redis_cluster_command(zone->redis->cluster, slot,
                                          ngx_ws_redis_published, pub,
                                          NGX_WS_REDIS_PUB_ARGS, pub->argv,
                                          pub->argvlen);

    } else {
        rc = ngx_ws_redis_command(rd, ngx_ws_redis_published, pub,
                                  NGX_WS_REDIS_PUB_ARGS, pub->argv,
                                  pub->argvlen);
    }

    if (rc != NGX_OK) {
        ngx_free(pub);
    }

    return rc;
}


/*
 * A presence event (ngx_ws_presence.c): NGX_AGAIN while this worker's
 * first connection to Redis is being made, not counted as refused; else as
 * a publish
 */

static ngx_int_t
ngx_ws_redis_presence(ngx_ws_zone_t *zone, ngx_str_t *name,
    ngx_ws_policy_t *pol, ngx_uint_t opcode, u_char *data, size_t len,
    ngx_ws_redis_published_pt handler, void *hdata)
{
    ngx_ws_redis_t  *rd;

    rd = zone->redis->conn;

    if (zone->redis->cluster == NULL && rd != NULL
        && rd->connects == 0 && rd->failures == 0)
    {
        return NGX_AGAIN;
    }

    return ngx_ws_redis_publish(zone, name, pol, opcode, data, len, handler,
                                hdata);
}


/* the id, to the caller that waits for it (a client's does not) */

static void
ngx_ws_redis_published(ngx_ws_redis_t *rd, void *reply, void *data)
{
    ngx_ws_redis_pub_t *pub = data;

    void                       *hdata;
    size_t                      len;
    redisReply                 *r;
    ngx_ws_zone_t              *zone;
    ngx_ws_redis_published_pt   handler;

    r = reply;

    if (r != NULL && !pub->eval && ngx_ws_redis_noscript(r)) {

        /*
         * Redis lost the script (SCRIPT FLUSH, a restart): the same
         * publish, with the script; the publishes sent after this one
         * meet NOSCRIPT too and follow it in their order
         */

        ngx_log_error(NGX_LOG_INFO, rd->log, 0,
                      "redis \"%V\": publish script not loaded (%*s), "
                      "sent again in full", &rd->conf->addr,
                      (size_t) r->len, r->str);

        pub->eval = 1;
        pub->argv[0] = "EVAL";
        pub->argvlen[0] = sizeof("EVAL") - 1;
        pub->argv[1] = ngx_ws_redis_publish_lua;
        pub->argvlen[1] = sizeof(ngx_ws_redis_publish_lua) - 1;

        if (ngx_ws_redis_command(rd, ngx_ws_redis_published, pub,
                                 NGX_WS_REDIS_PUB_ARGS, pub->argv,
                                 pub->argvlen)
            == NGX_OK)
        {
            return;
        }
    }

    handler = pub->handler;
    hdata = pub->data;
    zone = pub->zone;
    len = pub->argvlen[7];

    ngx_free(pub);

    if (r != NULL && r->type == REDIS_REPLY_INTEGER && r->integer > 0) {
        ngx_ws_redis_accept(zone, rd->log);

        if (handler) {
            handler(hdata, NGX_OK, (uint64_t) r->integer);
        }

        return;
    }

    if (handler) {
        handler(hdata, NGX_ERROR, 0);
    }

    if (r == NULL) {
        /* the outage itself is logged once by the connection */
        ngx_log_error(NGX_LOG_INFO, rd->log, 0,
                      "redis \"%V\": a message may not have been published, "
                      "the connection went before its answer",
                      &rd->conf->addr);
        return;
    }

    if (r->type == REDIS_REPLY_ERROR && r->len >= 18
        && ngx_strncmp(r->str, "ERR Protocol error", 18) == 0)
    {
        /* Redis closes the connection after it: made again, as on a loss */
        ngx_log_error(NGX_LOG_WARN, rd->log, 0,
                      "redis \"%V\" refused a message of %uz bytes and "
                      "closes the connection: %*s (over its "
                      "proto-max-bulk-len?)", &rd->conf->addr, len,
                      (size_t) r->len, r->str);
        return;
    }

    if (r->type == REDIS_REPLY_ERROR) {
        ngx_ws_redis_refuse(zone, rd->log, r);
        return;
    }

    ngx_log_error(NGX_LOG_ERR, rd->log, 0,
                  "redis \"%V\": a message was not published: "
                  "unexpected reply of type %d", &rd->conf->addr, r->type);
}


static ngx_int_t
ngx_ws_redis_noscript(redisReply *r)
{
    return r->type == REDIS_REPLY_ERROR && r->len >= 8
           && ngx_strncmp(r->str, "NOSCRIPT", 8) == 0;
}


/*
 * Redis answered a publish with an error (OOM, READONLY, ...): the
 * publishes of this worker are refused at once, as in an outage, until a
 * probe write goes through; logged at warn once for the series
 */

static void
ngx_ws_redis_refuse(ngx_ws_zone_t *zone, ngx_log_t *log, redisReply *r)
{
    ngx_ws_redis_reader_t  *rr;

    rr = zone->redis->reader;

    if (zone->redis->cluster) {
        /*
         * a node of a cluster refused it: the other nodes' channels go
         * on, so only this message is refused (the probe would ask some
         * other node)
         */
        ngx_log_error(NGX_LOG_ERR, log, 0,
                      "redis \"%V\": a message was not published: %*s",
                      &zone->redis->addr, (size_t) r->len, r->str);
        return;
    }

    if (rr == NULL || rr->refusing) {
        ngx_log_error(NGX_LOG_INFO, log, 0,
                      "redis \"%V\": a message was not published: %*s",
                      &zone->redis->addr, (size_t) r->len, r->str);
        return;
    }

    ngx_log_error(NGX_LOG_WARN, log, 0,
                  "redis \"%V\" refuses publishes: %*s; channels of the "
                  "zone refuse publishes until it takes them again",
                  &zone->redis->addr, (size_t) r->len, r->str);

    rr->refusing = 1;

    if (!rr->probe.timer_set) {
        ngx_add_timer(&rr->probe, NGX_WS_REDIS_PROBE);
    }
}


/* a publish or a probe went through */

static void
ngx_ws_redis_accept(ngx_ws_zone_t *zone, ngx_log_t *log)
{
    ngx_ws_redis_reader_t  *rr;

    rr = zone->redis->reader;

    if (rr == NULL || !rr->refusing) {
        return;
    }

    rr->refusing = 0;

    if (rr->probe.timer_set) {
        ngx_del_timer(&rr->probe);
    }

    ngx_log_error(NGX_LOG_NOTICE, log, 0,
                  "redis \"%V\" takes publishes again", &zone->redis->addr);
}


/* while Redis refuses publishes: a write of a key that expires */

static void
ngx_ws_redis_probe(ngx_event_t *ev)
{
    ngx_ws_redis_reader_t *rr = ev->data;

    u_char          *p;
    size_t           argvlen[5];
    const char      *argv[5];
    ngx_ws_zone_t   *zone;
    u_char           key[NGX_WS_REDIS_PROBE_KEY_LEN];

    zone = rr->zone;

    if (!rr->refusing || ngx_exiting) {
        return;
    }

    p = ngx_snprintf(key, sizeof(key), "{ws:%V}:probe", &zone->name);

    argv[0] = "SET";
    argvlen[0] = 3;
    argv[1] = (char *) key;
    argvlen[1] = p - key;
    argv[2] = "1";
    argvlen[2] = 1;
    argv[3] = "PX";
    argvlen[3] = 2;
    argv[4] = "1000";
    argvlen[4] = 4;

    if (ngx_ws_redis_command(zone->redis->conn, ngx_ws_redis_probed, rr, 5,
                             argv, argvlen)
        != NGX_OK)
    {
        ngx_add_timer(&rr->probe, NGX_WS_REDIS_PROBE);
    }
}


static void
ngx_ws_redis_probed(ngx_ws_redis_t *rd, void *reply, void *data)
{
    ngx_ws_redis_reader_t *rr = data;

    redisReply  *r;

    r = reply;

    if (r != NULL && r->type == REDIS_REPLY_STATUS) {
        ngx_ws_redis_accept(rr->zone, rd->log);
        return;
    }

    if (r != NULL && r->type == REDIS_REPLY_ERROR) {
        ngx_log_debug3(NGX_LOG_DEBUG_HTTP, rd->log, 0,
                       "ws redis \"%V\" still refuses: %*s",
                       &rd->conf->addr, (size_t) r->len, r->str);
    }

    if (rd->state != NGX_WS_REDIS_CLOSED && !ngx_exiting
        && !rr->probe.timer_set)
    {
        ngx_add_timer(&rr->probe, NGX_WS_REDIS_PROBE);
    }
}


/* the hex sha1 of a script, as EVALSHA names it */

static void
ngx_ws_redis_sha1(u_char *sha, char *script, size_t len)
{
    u_char      digest[20];
    ngx_sha1_t  sha1;

    ngx_sha1_init(&sha1);
    ngx_sha1_update(&sha1, script, len);
    ngx_sha1_final(digest, &sha1);

    (void) ngx_hex_dump(sha, digest, sizeof(digest));
}


/*
 * The instance among the others (docs/cluster.md, "Across instances").
 * Each instance of a zone has an id, random, kept in the zone; its reader
 * writes a heartbeat every second: the instance in the sorted set
 * "{ws:ZONE}:insts" (score: when it expires, by Redis's clock), and the
 * expiry of its two keys: "{ws:ZONE}:i:INST", a hash of its connections
 * (ws_push), and "{ws:ZONE}:q:INST", its inbox, a stream that its reader
 * reads with the channels.  A message or a Close to a connection that is
 * not here goes, by a script, to the inbox of the live instance that has
 * it.  The subscribers of a channel on each instance are in the hash
 * "{ws:ZONE:NAME}:c", written when they change (at most once a tick); the
 * publisher's GET sums those of the live instances.
 */

static u_char *
ngx_ws_redis_inst(ngx_ws_zone_t *zone)
{
    u_char    *p;
    uint32_t   a, b;

    p = zone->sh->redis_inst;

    if (p[0] == '\0') {
        a = (uint32_t) ngx_random() ^ ((uint32_t) ngx_pid << 16);
        b = (uint32_t) ngx_random() ^ (uint32_t) ngx_time();

        ngx_shmtx_lock(&zone->shpool->mutex);

        if (p[0] == '\0') {
            (void) ngx_sprintf(p, "%08xD%08xD", a, b);
        }

        ngx_shmtx_unlock(&zone->shpool->mutex);
    }

    return p;
}


/* "{ws:ZONE}:KIND", or "{ws:ZONE}:KIND:INST" with this instance's id */

static u_char *
ngx_ws_redis_zkey(ngx_pool_t *pool, ngx_ws_zone_t *zone, char *kind,
    ngx_uint_t inst, size_t *len)
{
    u_char  *key, *p;

    key = ngx_pnalloc(pool, sizeof("{ws:}::") + zone->name.len
                            + ngx_strlen(kind) + NGX_WS_REDIS_INST_LEN);
    if (key == NULL) {
        return NULL;
    }

    p = ngx_sprintf(key, "{ws:%V}:%s", &zone->name, kind);

    if (inst) {
        p = ngx_sprintf(p, ":%*s", (size_t) NGX_WS_REDIS_INST_LEN,
                        ngx_ws_redis_inst(zone));
    }

    *len = p - key;

    return key;
}


/*
 * KEYS[1] the instances, KEYS[2] this one's connections, KEYS[3] its
 * inbox; ARGV[1] the instance, ARGV[2] the ttl (ms).  {lapsed, kept}:
 * lapsed when the others may have taken it for dead (its counts may have
 * been dropped), kept when its connections are still known.
 */

static char  ngx_ws_redis_beat_lua[] =
    "local t = redis.call('TIME')\n"
    "local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)\n"
    "local old = redis.call('ZSCORE', KEYS[1], ARGV[1])\n"
    "local lapsed = 0\n"
    "if not old or tonumber(old) < now then lapsed = 1 end\n"
    "redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[1])\n"
    "redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)\n"
    "redis.call('PEXPIRE', KEYS[1], ARGV[2])\n"
    "local kept = redis.call('PEXPIRE', KEYS[2], ARGV[2])\n"
    "redis.call('PEXPIRE', KEYS[3], ARGV[2])\n"
    "return {lapsed, kept}\n";


/* KEYS[1] the instances: the live ones */

static char  ngx_ws_redis_live_lua[] =
    "local t = redis.call('TIME')\n"
    "return redis.call('ZRANGEBYSCORE', KEYS[1], tonumber(t[1]) * 1000"
    " + math.floor(tonumber(t[2]) / 1000), '+inf')\n";


/*
 * KEYS[1] the instances; ARGV[1] "{ws:ZONE}:", ARGV[2] the connection id,
 * ARGV[3] the opcode, ARGV[4] the data, ARGV[5] this instance (which has
 * not got it), ARGV[6] "1" on a cluster: the inbox's reader is woken
 * (SPUBLISH on the channel named as the inbox).  1 when a live instance
 * has the connection, else 0.
 */

static char  ngx_ws_redis_push_lua[] =
    "local t = redis.call('TIME')\n"
    "local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)\n"
    "for _, m in ipairs(redis.call('ZRANGEBYSCORE', KEYS[1], now,"
    " '+inf')) do\n"
    "  if m ~= ARGV[5]"
    " and redis.call('HEXISTS', ARGV[1] .. 'i:' .. m, ARGV[2]) == 1 then\n"
    "    redis.call('XADD', ARGV[1] .. 'q:' .. m, 'MAXLEN', '~', '"
    NGX_WS_REDIS_INBOX_MAX "', '*', 'i', ARGV[2], 'o', ARGV[3],"
    " 'd', ARGV[4])\n"
    "    if ARGV[6] == '1' then\n"
    "      redis.call('SPUBLISH', ARGV[1] .. 'q:' .. m, '')\n"
    "    end\n"
    "    return 1\n"
    "  end\n"
    "end\n"
    "return 0\n";


/*
 * The connection for the zone's keys "{ws:ZONE}:...": the one Redis, or
 * on a cluster the master of their slot (one hash tag: one slot), if it
 * is ready
 */

static ngx_ws_redis_t *
ngx_ws_redis_zconn(ngx_ws_zone_t *zone)
{
    u_char      *key, buf[128];
    size_t       len;
    ngx_uint_t   slot;

    if (zone->redis->cluster == NULL) {
        return zone->redis->conn;
    }

    /* the slot of the hash tag "ws:ZONE" */

    len = sizeof("ws:") - 1 + zone->name.len;
    key = (len <= sizeof(buf)) ? buf : ngx_alloc(len, ngx_cycle->log);

    if (key == NULL) {
        return NULL;
    }

    ngx_memcpy(ngx_cpymem(key, "ws:", 3), zone->name.data, zone->name.len);

    slot = ngx_ws_redis_cluster_slot(key, len);

    if (key != buf) {
        ngx_free(key);
    }

    return ngx_ws_redis_cluster_conn(zone->redis->cluster, slot);
}


/*
 * A command of the cross-instance features: to the one Redis (rd), or on
 * a cluster to the master of the slot of its key (which may be another
 * than rd's: one command touches the keys of one slot)
 */

static ngx_int_t
ngx_ws_redis_zcommand(ngx_ws_zone_t *zone, ngx_ws_redis_t *rd,
    const char *key, size_t len, ngx_ws_redis_reply_pt handler, void *data,
    int argc, const char **argv, const size_t *argvlen)
{
    if (zone->redis->cluster) {
        return ngx_ws_redis_cluster_command(zone->redis->cluster,
                   ngx_ws_redis_cluster_slot((u_char *) key, len),
                   handler, data, argc, argv, argvlen);
    }

    return ngx_ws_redis_command(rd, handler, data, argc, argv, argvlen);
}


/* the reader, every tick: the heartbeat, and the counts that changed */

static void
ngx_ws_redis_share(ngx_ws_redis_reader_t *rr, uint64_t now)
{
    size_t           argvlen[8];
    ngx_pool_t      *pool;
    const char      *argv[8];
    ngx_ws_zone_t   *zone;
    ngx_ws_redis_t  *rd;

    zone = rr->zone;
    rd = ngx_ws_redis_zconn(zone);

    if (rd == NULL || rd->state != NGX_WS_REDIS_READY
        || rd->inflight > NGX_WS_REDIS_MAX_INFLIGHT / 2)
    {
        return;
    }

    /* made now: what follows asks for it with the zone locked */
    (void) ngx_ws_redis_inst(zone);

    pool = ngx_create_pool(4096, rr->tick.log);
    if (pool == NULL) {
        return;
    }

    if (now >= zone->sh->redis_beat + NGX_WS_REDIS_BEAT) {
        zone->sh->redis_beat = now;

        argv[0] = "EVAL";
        argvlen[0] = 4;
        argv[1] = ngx_ws_redis_beat_lua;
        argvlen[1] = sizeof(ngx_ws_redis_beat_lua) - 1;
        argv[2] = "3";
        argvlen[2] = 1;
        argv[3] = (char *) ngx_ws_redis_zkey(pool, zone, "insts", 0,
                                             &argvlen[3]);
        argv[4] = (char *) ngx_ws_redis_zkey(pool, zone, "i", 1,
                                             &argvlen[4]);
        argv[5] = (char *) ngx_ws_redis_zkey(pool, zone, "q", 1,
                                             &argvlen[5]);
        argv[6] = (char *) ngx_ws_redis_inst(zone);
        argvlen[6] = NGX_WS_REDIS_INST_LEN;
        argv[7] = NGX_WS_REDIS_INST_TTL;
        argvlen[7] = sizeof(NGX_WS_REDIS_INST_TTL) - 1;

        if (argv[3] && argv[4] && argv[5]) {
            (void) ngx_ws_redis_zcommand(zone, rd, argv[3], argvlen[3],
                                         ngx_ws_redis_beaten, zone, 8, argv,
                                         argvlen);
        }
    }

    if (zone->sh->redis_resync) {
        zone->sh->redis_resync = 0;
        ngx_ws_redis_resync(rr, rd, pool);
    }

    ngx_ws_redis_counts(rr, rd, pool);

    ngx_destroy_pool(pool);
}


/* {lapsed, kept} */

static void
ngx_ws_redis_beaten(ngx_ws_redis_t *rd, void *reply, void *data)
{
    ngx_ws_zone_t *zone = data;

    redisReply             *r;
    ngx_uint_t              level;
    ngx_ws_redis_reader_t  *rr;

    r = reply;
    rr = zone->redis->reader;

    if (r == NULL) {
        return;
    }

    if (r->type != REDIS_REPLY_ARRAY || r->elements != 2
        || r->element[0]->type != REDIS_REPLY_INTEGER
        || r->element[1]->type != REDIS_REPLY_INTEGER)
    {
        /*
         * at error once, then at info until a heartbeat goes through;
         * a slot moving on a cluster at info: the next tick sends it again
         */
        level = ((rr && rr->share_failing) || ngx_ws_redis_moving(r))
                ? NGX_LOG_INFO : NGX_LOG_ERR;

        ngx_log_error(level, rd->log, 0,
                      "redis \"%V\": heartbeat of ws_zone \"%V\" failed: %*s",
                      &zone->redis->addr, &zone->name,
                      (size_t) (r->type == REDIS_REPLY_ERROR ? r->len : 0),
                      r->str);

        if (rr && !ngx_ws_redis_moving(r)) {
            rr->share_failing = 1;
        }

        return;
    }

    if (rr) {
        rr->share_failing = 0;
    }

    if (r->element[0]->integer
        || (r->element[1]->integer == 0 && zone->sh->nconns))
    {
        ngx_log_debug0(NGX_LOG_DEBUG_HTTP, rd->log, 0,
                       "ws redis instance lapsed or forgotten: resync");

        zone->sh->redis_resync = 1;
    }
}


/* a write of the counts or connections failed: all are written again */

static void
ngx_ws_redis_told(ngx_ws_redis_t *rd, void *reply, void *data)
{
    ngx_ws_zone_t *zone = data;

    redisReply             *r;
    ngx_uint_t              level;
    ngx_ws_redis_reader_t  *rr;

    r = reply;
    rr = zone->redis->reader;

    if (r == NULL || r->type == REDIS_REPLY_ERROR) {
        if (r && ngx_ws_redis_moving(r)) {

            /* a slot moving on a cluster: all is written again next tick */

            ngx_log_error(NGX_LOG_INFO, rd->log, 0,
                          "redis \"%V\": ws_zone \"%V\" written again "
                          "after %*s", &zone->redis->addr, &zone->name,
                          (size_t) r->len, r->str);

        } else if (r) {
            level = (rr && rr->share_failing) ? NGX_LOG_INFO : NGX_LOG_ERR;

            ngx_log_error(level, rd->log, 0,
                          "redis \"%V\": ws_zone \"%V\" not shared: %*s",
                          &zone->redis->addr, &zone->name, (size_t) r->len,
                          r->str);

            if (rr) {
                rr->share_failing = 1;
            }
        }

        zone->sh->redis_resync = 1;
    }
}


/*
 * After Redis forgot the instance (restarted, or the instance lapsed):
 * its connections are told again and its counts are written again
 */

static void
ngx_ws_redis_resync(ngx_ws_redis_reader_t *rr, ngx_ws_redis_t *rd,
    ngx_pool_t *pool)
{
    int                     argc;
    size_t                 *argvlen;
    ngx_uint_t              n;
    ngx_queue_t            *q;
    const char            **argv;
    ngx_ws_zone_t          *zone;
    ngx_ws_conn_rec_t      *rec;
    ngx_ws_channel_node_t  *cn;

    zone = rr->zone;

    n = 2 + 2 * NGX_WS_REDIS_RESYNC_BATCH;

    argv = ngx_palloc(pool, n * sizeof(char *));
    argvlen = ngx_palloc(pool, n * sizeof(size_t));

    if (argv == NULL || argvlen == NULL) {
        zone->sh->redis_resync = 1;
        return;
    }

    argv[0] = "HSET";
    argvlen[0] = 4;
    argv[1] = (char *) ngx_ws_redis_zkey(pool, zone, "i", 1, &argvlen[1]);

    if (argv[1] == NULL) {
        zone->sh->redis_resync = 1;
        return;
    }

    argc = 2;

    ngx_shmtx_lock(&zone->shpool->mutex);

    for (q = ngx_queue_head(&zone->sh->lru);
         q != ngx_queue_sentinel(&zone->sh->lru);
         q = ngx_queue_next(q))
    {
        cn = ngx_queue_data(q, ngx_ws_channel_node_t, queue);

        if (!cn->push) {
            cn->redis_count = (ngx_uint_t) -1;

            if (cn->members || cn->members_gen) {
                cn->redis_members = cn->members_gen - 1;
            }
        }
    }

    for (rec = ngx_ws_registry_after(zone, 0);
         rec;
         rec = ngx_ws_registry_next(zone, rec))
    {
        cn = rec->channel;

        if (cn == NULL || cn->len < 2) {
            continue;
        }

        /* hiredis copies the arguments before the zone is unlocked */

        argv[argc] = (char *) cn->name + 1;
        argvlen[argc++] = cn->len - 1;
        argv[argc] = "1";
        argvlen[argc++] = 1;

        if (argc == (int) n) {
            (void) ngx_ws_redis_zcommand(zone, rd, argv[1], argvlen[1],
                                         ngx_ws_redis_told, zone, argc, argv,
                                         argvlen);
            argc = 2;
        }
    }

    if (argc > 2) {
        (void) ngx_ws_redis_zcommand(zone, rd, argv[1], argvlen[1],
                                     ngx_ws_redis_told, zone, argc, argv,
                                     argvlen);
    }

    ngx_shmtx_unlock(&zone->shpool->mutex);
}


/*
 * The subscribers of the channels whose count changed since it was told:
 * HSET "{ws:ZONE:NAME}:c" INST N, or HDEL when none are left
 */

static void
ngx_ws_redis_counts(ngx_ws_redis_reader_t *rr, ngx_ws_redis_t *rd,
    ngx_pool_t *pool)
{
    ngx_str_t               name;
    ngx_uint_t              sent;
    ngx_queue_t            *q;
    ngx_ws_zone_t          *zone;
    ngx_ws_channel_node_t  *cn;

    zone = rr->zone;
    sent = 0;

    ngx_shmtx_lock(&zone->shpool->mutex);

    for (q = ngx_queue_head(&zone->sh->lru);
         q != ngx_queue_sentinel(&zone->sh->lru)
         && sent < NGX_WS_REDIS_COUNTS_TICK
         && rd->inflight < NGX_WS_REDIS_MAX_INFLIGHT / 2;
         q = ngx_queue_next(q))
    {
        cn = ngx_queue_data(q, ngx_ws_channel_node_t, queue);

        if (cn->push) {
            continue;
        }

        name.data = cn->name;
        name.len = cn->len;

        if (cn->subscribers != cn->redis_count) {
            if (ngx_ws_redis_tell(rd, zone, pool, &name, 'c',
                                  cn->subscribers, NULL)
                != NGX_OK)
            {
                break;
            }

            cn->redis_count = cn->subscribers;
            sent++;
        }

        if (cn->members_gen != cn->redis_members) {
            if (ngx_ws_redis_tell(rd, zone, pool, &name, 'm',
                                  cn->nmembers, cn->members)
                != NGX_OK)
            {
                break;
            }

            cn->redis_members = cn->members_gen;
            sent++;
        }
    }

    ngx_shmtx_unlock(&zone->shpool->mutex);
}


/*
 * With the zone locked: the instance's field of the channel's hash kind,
 * HSET or HDEL for none: 'c', its subscribers (n); 'm', its members (n of
 * them, from m), as lines "CONNECTIONS<tab>ID"
 */

static ngx_int_t
ngx_ws_redis_tell(ngx_ws_redis_t *rd, ngx_ws_zone_t *zone, ngx_pool_t *pool,
    ngx_str_t *name, char kind, ngx_uint_t n, ngx_ws_sh_member_t *m)
{
    u_char              *p;
    size_t               argvlen[4], len;
    const char          *argv[4];
    ngx_ws_sh_member_t  *mm;

    argv[0] = n ? "HSET" : "HDEL";
    argvlen[0] = 4;
    argv[1] = (char *) ngx_ws_redis_key(pool, zone, name, kind, &argvlen[1]);
    argv[2] = (char *) ngx_ws_redis_inst(zone);
    argvlen[2] = NGX_WS_REDIS_INST_LEN;

    if (argv[1] == NULL) {
        return NGX_ERROR;
    }

    if (n && kind == 'c') {
        p = ngx_pnalloc(pool, NGX_INT_T_LEN);
        if (p == NULL) {
            return NGX_ERROR;
        }

        argv[3] = (char *) p;
        argvlen[3] = ngx_sprintf(p, "%ui", n) - p;

    } else if (n) {
        len = 0;

        for (mm = m; mm; mm = mm->next) {
            len += NGX_INT_T_LEN + 2 + mm->len;
        }

        p = ngx_pnalloc(pool, len);
        if (p == NULL) {
            return NGX_ERROR;
        }

        argv[3] = (char *) p;

        for (mm = m; mm; mm = mm->next) {
            p = ngx_sprintf(p, "%ui\t", mm->n);
            p = ngx_cpymem(p, mm->id, mm->len);
            *p++ = LF;
        }

        argvlen[3] = p - (u_char *) argv[3];
    }

    /* on a cluster: to the channel's slot */

    return ngx_ws_redis_zcommand(zone, rd, argv[1], argvlen[1],
                                 ngx_ws_redis_told, zone, n ? 4 : 3, argv,
                                 argvlen);
}


/*
 * A connection of this instance's ws_push zone came (on) or went: its id
 * in the instance's hash, so that the others find it.  name is "@ID".
 */

void
ngx_ws_redis_conn_seen(ngx_ws_zone_t *zone, ngx_str_t *name, ngx_uint_t on)
{
    size_t           argvlen[4];
    ngx_pool_t      *pool;
    const char      *argv[4];
    ngx_ws_redis_t  *rd;

    if (zone->redis == NULL || zone->sh == NULL || name->len < 2) {
        return;
    }

    rd = ngx_ws_redis_zconn(zone);

    if (rd == NULL || rd->state != NGX_WS_REDIS_READY) {
        if (on) {
            /* told with the others when Redis is back */
            zone->sh->redis_resync = 1;
        }

        return;
    }

    pool = ngx_create_pool(256, rd->log);
    if (pool == NULL) {
        return;
    }

    argv[0] = on ? "HSET" : "HDEL";
    argvlen[0] = 4;
    argv[1] = (char *) ngx_ws_redis_zkey(pool, zone, "i", 1, &argvlen[1]);
    argv[2] = (char *) name->data + 1;
    argvlen[2] = name->len - 1;
    argv[3] = "1";
    argvlen[3] = 1;

    if ((argv[1] == NULL
         || ngx_ws_redis_zcommand(zone, rd, argv[1], argvlen[1],
                                  ngx_ws_redis_told, zone, on ? 4 : 3, argv,
                                  argvlen)
            != NGX_OK)
        && on)
    {
        zone->sh->redis_resync = 1;
    }

    ngx_destroy_pool(pool);
}


/*
 * A channel of this instance went with its subscribers (ws_publisher's
 * DELETE): its count goes too, the reader will not see it any more
 */

void
ngx_ws_redis_channel_gone(ngx_ws_zone_t *zone, ngx_str_t *name)
{
    ngx_pool_t      *pool;
    ngx_ws_redis_t  *rd;

    /* on a cluster: the connection is for the log, the commands routed */

    rd = ngx_ws_redis_zconn(zone);

    if (rd == NULL || rd->state != NGX_WS_REDIS_READY) {
        zone->sh->redis_resync = 1;
        return;
    }

    pool = ngx_create_pool(256, rd->log);
    if (pool == NULL) {
        return;
    }

    if (ngx_ws_redis_tell(rd, zone, pool, name, 'c', 0, NULL) != NGX_OK
        || ngx_ws_redis_tell(rd, zone, pool, name, 'm', 0, NULL) != NGX_OK)
    {
        zone->sh->redis_resync = 1;
    }

    ngx_destroy_pool(pool);
}


/* the reader: messages and Closes to the connections of this instance */

static void
ngx_ws_redis_inbox(ngx_ws_redis_reader_t *rr, redisReply *entries)
{
    u_char           *p, *last, *data;
    size_t            len;
    uint64_t          ms, seq;
    ngx_int_t         rc, opcode;
    ngx_str_t         name;
    ngx_uint_t        i, j;
    redisReply       *e, *f;
    ngx_ws_zone_t    *zone;
    ngx_ws_stored_t   st;

    zone = rr->zone;

    for (j = 0; j < entries->elements; j++) {
        e = entries->element[j];

        if (e->type != REDIS_REPLY_ARRAY || e->elements != 2
            || e->element[0]->type != REDIS_REPLY_STRING
            || e->element[1]->type != REDIS_REPLY_ARRAY)
        {
            continue;
        }

        /* "MS-SEQ": where the next read starts */

        p = (u_char *) e->element[0]->str;
        last = p + e->element[0]->len;
        ms = 0;
        seq = 0;

        for ( /* void */ ; p < last && *p >= '0' && *p <= '9'; p++) {
            ms = ms * 10 + (*p - '0');
        }

        if (p < last && *p == '-') {
            for (p++; p < last && *p >= '0' && *p <= '9'; p++) {
                seq = seq * 10 + (*p - '0');
            }
        }

        zone->sh->redis_inbox[0] = ms;
        zone->sh->redis_inbox[1] = seq;

        f = e->element[1];
        opcode = NGX_ERROR;
        data = NULL;
        len = 0;
        ngx_str_null(&name);

        for (i = 0; i + 1 < f->elements; i += 2) {
            if (f->element[i]->type != REDIS_REPLY_STRING
                || f->element[i]->len != 1
                || f->element[i + 1]->type != REDIS_REPLY_STRING)
            {
                continue;
            }

            switch (f->element[i]->str[0]) {

            case 'i':
                name.data = (u_char *) f->element[i + 1]->str;
                name.len = f->element[i + 1]->len;
                break;

            case 'o':
                opcode = ngx_atoi((u_char *) f->element[i + 1]->str,
                                  f->element[i + 1]->len);
                break;

            case 'd':
                data = (u_char *) f->element[i + 1]->str;
                len = f->element[i + 1]->len;
                break;
            }
        }

        if (name.len == 0 || name.len > NGX_WS_REDIS_MAX_ID
            || (opcode != NGX_WS_OP_TEXT && opcode != NGX_WS_OP_BINARY
                && opcode != NGX_WS_OP_CLOSE))
        {
            continue;
        }

        p = ngx_pnalloc(rr->pool, name.len + 1);
        if (p == NULL) {
            return;
        }

        *p = '@';
        ngx_memcpy(p + 1, name.data, name.len);
        name.data = p;
        name.len++;

        rc = ngx_ws_channel_put(zone, &name, 1, NULL, opcode, data, len,
                                &st);

        if (rc == NGX_OK) {
            ngx_ws_redis_wake(zone, st.workers, st.uid);
            continue;
        }

        if (rc == NGX_DECLINED) {
            /* it went meanwhile, or its worker died: forgotten */
            ngx_log_debug1(NGX_LOG_DEBUG_HTTP, rr->tick.log, 0,
                           "ws redis push to gone \"%V\"", &name);

            ngx_ws_redis_conn_seen(zone, &name, 0);
            continue;
        }

        ngx_log_error(NGX_LOG_ERR, rr->tick.log, 0,
                      "ws_zone \"%V\": a message from another instance to "
                      "connection \"%V\" could not be stored (%uz bytes)",
                      &zone->name, &name, len);
    }
}


/*
 * A message (or a Close, opcode 8) to connection id, which is not on this
 * instance: to the live instance that has it.  The handler gets NGX_OK,
 * NGX_DECLINED when no instance has it, or NGX_ERROR.  Returns as
 * ngx_ws_redis_publish().
 */

typedef struct {
    ngx_ws_redis_pushed_pt      handler;
    void                       *data;
} ngx_ws_redis_push_t;


ngx_int_t
ngx_ws_redis_push(ngx_ws_zone_t *zone, ngx_str_t *id, ngx_uint_t opcode,
    u_char *data, size_t len, ngx_ws_redis_pushed_pt handler, void *hdata)
{
    u_char               *p, op[NGX_INT_T_LEN];
    size_t                argvlen[10];
    ngx_int_t             rc;
    ngx_pool_t           *pool;
    const char           *argv[10];
    ngx_ws_redis_t       *rd;
    ngx_ws_redis_push_t  *ps;

    if (len > zone->max_message) {
        return NGX_WS_ZONE_TOO_BIG;
    }

    rd = ngx_ws_redis_zconn(zone);

    if (rd == NULL || !ngx_ws_redis_usable(rd)
        || rd->inflight == NGX_WS_REDIS_MAX_INFLIGHT)
    {
        (void) ngx_atomic_fetch_add(&zone->sh->redis.refused, 1);
        return (rd && ngx_ws_redis_usable(rd)) ? NGX_BUSY
                                                      : NGX_DECLINED;
    }

    pool = ngx_create_pool(512, rd->log);
    if (pool == NULL) {
        return NGX_ERROR;
    }

    rc = NGX_ERROR;

    argv[0] = "EVAL";
    argvlen[0] = 4;
    argv[1] = ngx_ws_redis_push_lua;
    argvlen[1] = sizeof(ngx_ws_redis_push_lua) - 1;
    argv[2] = "1";
    argvlen[2] = 1;
    argv[3] = (char *) ngx_ws_redis_zkey(pool, zone, "insts", 0,
                                         &argvlen[3]);
    /* "{ws:ZONE}:" */
    argv[4] = argv[3];
    argvlen[4] = argvlen[3] - (sizeof("insts") - 1);
    argv[5] = (char *) id->data;
    argvlen[5] = id->len;

    p = ngx_sprintf(op, "%ui", opcode);
    argv[6] = (char *) op;
    argvlen[6] = p - op;

    argv[7] = (char *) (data ? data : (u_char *) "");
    argvlen[7] = len;
    argv[8] = (char *) ngx_ws_redis_inst(zone);
    argvlen[8] = NGX_WS_REDIS_INST_LEN;
    argv[9] = zone->redis->cluster ? "1" : "0";
    argvlen[9] = 1;

    ps = ngx_alloc(sizeof(ngx_ws_redis_push_t), rd->log);

    if (argv[3] == NULL || ps == NULL) {
        goto done;
    }

    ps->handler = handler;
    ps->data = hdata;

    rc = ngx_ws_redis_zcommand(zone, rd, argv[3], argvlen[3],
                               ngx_ws_redis_pushed, ps, 10, argv, argvlen);

done:

    if (rc != NGX_OK && ps) {
        ngx_free(ps);
    }

    ngx_destroy_pool(pool);

    return rc;
}


static void
ngx_ws_redis_pushed(ngx_ws_redis_t *rd, void *reply, void *data)
{
    ngx_ws_redis_push_t *ps = data;

    void                    *hdata;
    redisReply              *r;
    ngx_ws_redis_pushed_pt   handler;

    r = reply;
    handler = ps->handler;
    hdata = ps->data;
    ngx_free(ps);

    if (r && r->type == REDIS_REPLY_INTEGER) {
        handler(hdata, r->integer ? NGX_OK : NGX_DECLINED);
        return;
    }

    if (r) {
        ngx_log_error(NGX_LOG_ERR, rd->log, 0,
                      "redis \"%V\": a message to a connection of another "
                      "instance was not sent: %*s", &rd->conf->addr,
                      (size_t) (r->type == REDIS_REPLY_ERROR ? r->len : 0),
                      r->str);
    }

    handler(hdata, NGX_ERROR);
}


/*
 * The subscribers of a channel on the other live instances and its last
 * id in Redis: three commands (four with the members), pipelined (the
 * instances, the counts, the last id, the members), answered in order;
 * the handler is called at the last.  On a cluster, the instances are in
 * the slot of the zone's keys and the others in the channel's: the
 * channel's are sent when the instances are known, to keep the order.
 */

typedef struct {
    ngx_pool_t                 *pool;
    ngx_ws_zone_t              *zone;
    ngx_ws_redis_counted_pt     handler;
    void                       *data;
    ngx_array_t                 live;             /* of ngx_str_t */
    ngx_array_t                 members;          /* the others' */
    ngx_uint_t                  want;             /* the answers */
    ngx_uint_t                  pending;
    ngx_uint_t                  step;
    ngx_uint_t                  failed;
    ngx_uint_t                  subscribers;
    uint64_t                    last_id;
    u_char                     *key;              /* the counts' */
    size_t                      key_len;
    ngx_str_t                   name;             /* the channel */
} ngx_ws_redis_counting_t;


static void ngx_ws_redis_count_channel(ngx_ws_redis_counting_t *ct,
    ngx_ws_redis_t *rd);
static ngx_int_t ngx_ws_redis_counted_live(ngx_ws_redis_counting_t *ct,
    redisReply *r);
static ngx_int_t ngx_ws_redis_counted_fields(ngx_ws_redis_counting_t *ct,
    ngx_ws_redis_t *rd, redisReply *r);
static ngx_int_t ngx_ws_redis_members(ngx_ws_redis_counting_t *ct,
    u_char *p, size_t len);


ngx_int_t
ngx_ws_redis_count(ngx_ws_zone_t *zone, ngx_str_t *name, ngx_uint_t members,
    ngx_ws_redis_counted_pt handler, void *hdata)
{
    size_t                    argvlen[4];
    ngx_pool_t               *pool;
    const char               *argv[4];
    ngx_ws_redis_t           *rd;
    ngx_ws_redis_counting_t  *ct;

    rd = ngx_ws_redis_zconn(zone);

    if (rd == NULL || !ngx_ws_redis_usable(rd)
        || rd->inflight + 4 > NGX_WS_REDIS_MAX_INFLIGHT)
    {
        return (rd && ngx_ws_redis_usable(rd)) ? NGX_BUSY
                                                      : NGX_DECLINED;
    }

    pool = ngx_create_pool(1024, rd->log);
    if (pool == NULL) {
        return NGX_ERROR;
    }

    ct = ngx_pcalloc(pool, sizeof(ngx_ws_redis_counting_t));
    if (ct == NULL
        || ngx_array_init(&ct->live, pool, 4, sizeof(ngx_str_t)) != NGX_OK
        || ngx_array_init(&ct->members, pool, 8,
                          sizeof(ngx_ws_redis_member_t))
           != NGX_OK)
    {
        ngx_destroy_pool(pool);
        return NGX_ERROR;
    }

    ct->pool = pool;
    ct->zone = zone;
    ct->handler = handler;
    ct->data = hdata;
    ct->want = members ? 4 : 3;

    ct->key = ngx_ws_redis_key(pool, zone, name, 'c', &ct->key_len);

    ct->name.len = name->len;
    ct->name.data = ngx_pstrdup(pool, name);

    argv[0] = "EVAL";
    argvlen[0] = 4;
    argv[1] = ngx_ws_redis_live_lua;
    argvlen[1] = sizeof(ngx_ws_redis_live_lua) - 1;
    argv[2] = "1";
    argvlen[2] = 1;
    argv[3] = (char *) ngx_ws_redis_zkey(pool, zone, "insts", 0, &argvlen[3]);

    if (ct->key == NULL || ct->name.data == NULL || argv[3] == NULL
        || ngx_ws_redis_zcommand(zone, rd, argv[3], argvlen[3],
                                 ngx_ws_redis_counted, ct, 4, argv, argvlen)
           != NGX_OK)
    {
        ngx_destroy_pool(pool);
        return NGX_ERROR;
    }

    /* from here, the last answer calls the handler */

    ct->pending = 1;

    if (zone->redis->cluster == NULL) {
        ngx_ws_redis_count_channel(ct, rd);
    }

    return NGX_OK;
}


/* the channel's counts, last id and members, after the live instances */

static void
ngx_ws_redis_count_channel(ngx_ws_redis_counting_t *ct, ngx_ws_redis_t *rd)
{
    size_t          argvlen[2];
    ngx_uint_t      i;
    const char     *argv[2];
    ngx_ws_zone_t  *zone;

    /* the counts (:c), the last id (:n), and the members (:m) if asked */
    static const struct {
        char       *command;
        char        kind;
    } reads[] = {
        { "HGETALL", 'c' },
        { "GET", 'n' },
        { "HGETALL", 'm' }
    };

    zone = ct->zone;

    for (i = 0; i < ct->want - 1; i++) {
        argv[0] = reads[i].command;
        argvlen[0] = ngx_strlen(reads[i].command);

        if (reads[i].kind == 'c') {
            argv[1] = (char *) ct->key;
            argvlen[1] = ct->key_len;

        } else {
            argv[1] = (char *) ngx_ws_redis_key(ct->pool, zone, &ct->name,
                                                reads[i].kind, &argvlen[1]);
        }

        if (argv[1] == NULL
            || ngx_ws_redis_zcommand(zone, rd, argv[1], argvlen[1],
                                     ngx_ws_redis_counted, ct, 2, argv,
                                     argvlen)
               != NGX_OK)
        {
            ct->failed = 1;
            return;
        }

        ct->pending++;
    }
}


/* the answers, in order: the live instances, the counts, the last id */

static void
ngx_ws_redis_counted(ngx_ws_redis_t *rd, void *reply, void *data)
{
    ngx_ws_redis_counting_t *ct = data;

    ngx_int_t    n;
    redisReply  *r;

    r = reply;
    ct->step++;

    if (r == NULL || r->type == REDIS_REPLY_ERROR) {
        if (r) {
            ngx_log_error(NGX_LOG_ERR, rd->log, 0,
                          "redis \"%V\": counting failed: %*s",
                          &rd->conf->addr, (size_t) r->len, r->str);
        }

        ct->failed = 1;
        goto done;
    }

    if (ct->failed) {
        goto done;
    }

    switch (ct->step) {

    case 1:
        if (r->type != REDIS_REPLY_ARRAY
            || ngx_ws_redis_counted_live(ct, r) != NGX_OK)
        {
            ct->failed = 1;
            break;
        }

        if (ct->zone->redis->cluster) {
            /* now the channel's, in its slot, answered in order there */
            ngx_ws_redis_count_channel(ct, rd);
        }

        break;

    case 2:
    case 4:
        if (r->type != REDIS_REPLY_ARRAY
            || ngx_ws_redis_counted_fields(ct, rd, r) != NGX_OK)
        {
            ct->failed = 1;
        }

        break;

    case 3:
        if (r->type == REDIS_REPLY_STRING) {
            n = ngx_atoi((u_char *) r->str, r->len);
            ct->last_id = (n > 0) ? (uint64_t) n : 0;
        }

        break;
    }

done:

    if (--ct->pending) {
        return;
    }

    ct->handler(ct->data, ct->failed ? NGX_ERROR : NGX_OK, ct->subscribers,
                ct->last_id, (ct->want == 4) ? &ct->members : NULL);

    ngx_destroy_pool(ct->pool);
}


/* the live instances, copied: the reply goes after the handler */

static ngx_int_t
ngx_ws_redis_counted_live(ngx_ws_redis_counting_t *ct, redisReply *r)
{
    ngx_str_t   *s;
    ngx_uint_t   i;

    for (i = 0; i < r->elements; i++) {
        if (r->element[i]->type != REDIS_REPLY_STRING) {
            continue;
        }

        s = ngx_array_push(&ct->live);
        if (s == NULL) {
            return NGX_ERROR;
        }

        s->len = r->element[i]->len;
        s->data = ngx_pnalloc(ct->pool, s->len);
        if (s->data == NULL) {
            return NGX_ERROR;
        }

        ngx_memcpy(s->data, r->element[i]->str, s->len);
    }

    return NGX_OK;
}


/*
 * HGETALL of the counts (step 2) or of the members (step 4), one field per
 * instance: this instance's is its zone's own, those of the live others
 * are added, those of the dead are dropped (from the counts)
 */

static ngx_int_t
ngx_ws_redis_counted_fields(ngx_ws_redis_counting_t *ct, ngx_ws_redis_t *rd,
    redisReply *r)
{
    u_char       *inst;
    size_t        argvlen[2 + NGX_WS_REDIS_RESYNC_BATCH];
    ngx_int_t     n;
    ngx_str_t    *live;
    ngx_uint_t    i, k, argc;
    redisReply   *f, *v;
    const char   *argv[2 + NGX_WS_REDIS_RESYNC_BATCH];

    inst = ngx_ws_redis_inst(ct->zone);
    live = ct->live.elts;

    argv[0] = "HDEL";
    argvlen[0] = 4;
    argv[1] = (char *) ct->key;
    argvlen[1] = ct->key_len;
    argc = 2;

    for (i = 0; i + 1 < r->elements; i += 2) {
        f = r->element[i];
        v = r->element[i + 1];

        if (f->type != REDIS_REPLY_STRING || v->type != REDIS_REPLY_STRING
            || (f->len == NGX_WS_REDIS_INST_LEN
                && ngx_strncmp(f->str, inst, NGX_WS_REDIS_INST_LEN) == 0))
        {
            continue;
        }

        for (k = 0; k < ct->live.nelts; k++) {
            if (live[k].len == f->len
                && ngx_strncmp(live[k].data, f->str, f->len) == 0)
            {
                break;
            }
        }

        if (k == ct->live.nelts) {
            if (ct->step == 2 && argc < 2 + NGX_WS_REDIS_RESYNC_BATCH) {
                argv[argc] = f->str;
                argvlen[argc++] = f->len;
            }

            continue;
        }

        if (ct->step == 4) {
            if (ngx_ws_redis_members(ct, (u_char *) v->str, v->len)
                != NGX_OK)
            {
                return NGX_ERROR;
            }

            continue;
        }

        n = ngx_atoi((u_char *) v->str, v->len);

        if (n > 0) {
            ct->subscribers += n;
        }
    }

    if (argc > 2) {
        (void) ngx_ws_redis_command(rd, ngx_ws_redis_told, ct->zone, argc,
                                    argv, argvlen);
    }

    return NGX_OK;
}


/* "CONNECTIONS<tab>ID" lines of an instance: added to the members */

static ngx_int_t
ngx_ws_redis_members(ngx_ws_redis_counting_t *ct, u_char *p, size_t len)
{
    u_char                 *last, *tab, *lf;
    ngx_int_t               n;
    ngx_uint_t              k;
    ngx_ws_redis_member_t  *m;

    last = p + len;

    for ( /* void */ ; p < last; p = lf + 1) {
        lf = ngx_strlchr(p, last, LF);

        if (lf == NULL) {
            lf = last;
        }

        tab = ngx_strlchr(p, lf, '\t');

        if (tab == NULL || tab + 1 == lf) {
            continue;
        }

        n = ngx_atoi(p, tab - p);

        if (n <= 0) {
            continue;
        }

        tab++;
        m = ct->members.elts;

        for (k = 0; k < ct->members.nelts; k++) {
            if (m[k].id.len == (size_t) (lf - tab)
                && ngx_strncmp(m[k].id.data, tab, lf - tab) == 0)
            {
                break;
            }
        }

        if (k < ct->members.nelts) {
            m[k].n += n;
            continue;
        }

        m = ngx_array_push(&ct->members);
        if (m == NULL) {
            return NGX_ERROR;
        }

        m->id.len = lf - tab;
        m->id.data = ngx_pnalloc(ct->pool, m->id.len);
        if (m->id.data == NULL) {
            return NGX_ERROR;
        }

        ngx_memcpy(m->id.data, tab, m->id.len);
        m->n = n;
    }

    return NGX_OK;
}


#else /* !(NGX_WS_HAVE_HIREDIS): no zone has redis= */

ngx_int_t
ngx_ws_redis_push(ngx_ws_zone_t *zone, ngx_str_t *id, ngx_uint_t opcode,
    u_char *data, size_t len, ngx_ws_redis_pushed_pt handler, void *hdata)
{
    return NGX_DECLINED;
}


void
ngx_ws_redis_conn_seen(ngx_ws_zone_t *zone, ngx_str_t *name, ngx_uint_t on)
{
}


void
ngx_ws_redis_channel_gone(ngx_ws_zone_t *zone, ngx_str_t *name)
{
}


ngx_int_t
ngx_ws_redis_count(ngx_ws_zone_t *zone, ngx_str_t *name, ngx_uint_t members,
    ngx_ws_redis_counted_pt handler, void *hdata)
{
    return NGX_DECLINED;
}


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
