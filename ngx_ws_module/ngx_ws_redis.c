
/*
 * Copyright (C) ngx_ws_module authors
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include "ngx_ws_module.h"
#include "ngx_ws_zone.h"

#if (NGX_WS_HAVE_HIREDIS)
#include <hiredis/hiredis.h>
#include <hiredis/async.h>
#endif


/*
 * Redis connections of a worker (ws_zone ... redis=).  hiredis's
 * asynchronous API does the protocol; this file drives it from nginx's
 * event loop: the socket hiredis opens (non-blocking) is wrapped in an
 * ngx_connection_t whose read and write events call redisAsyncHandleRead()
 * and redisAsyncHandleWrite(), and hiredis's ev hooks add and delete those
 * events.  The events are level-triggered: hiredis reads at most 16k per
 * call and expects to be called again while the socket has data.  No
 * thread, no blocking call: the address is resolved at configuration
 * time, so hiredis is given an IP (or a path) and never resolves.
 *
 * Commands are pipelined: each is written to hiredis's buffer and sent
 * with the others of the same event loop iteration, at most
 * NGX_WS_REDIS_MAX_INFLIGHT unanswered.  One timer bounds the wait for
 * the oldest one (redis_timeout=): a server that stops answering is
 * dropped and reconnected, and every command in flight is answered NULL.
 *
 * A connection that fails or goes is made again after a backoff that
 * doubles from 100 ms up to 5 s, with jitter (a random part of up to half
 * the delay), so that the instances of a cluster do not come back all at
 * once.  An outage is logged once, at warn; the return at notice.
 */


#define NGX_WS_REDIS_PORT            6379
#define NGX_WS_REDIS_BACKOFF_MIN     100
#define NGX_WS_REDIS_BACKOFF_MAX     5000

/* a quiet connection tells of its outages at info */
#define ngx_ws_redis_level(rd, level)                                         \
    ((rd)->quiet ? (ngx_uint_t) NGX_LOG_INFO : (ngx_uint_t) (level))


static ngx_int_t ngx_ws_redis_param_addr(ngx_conf_t *cf,
    ngx_ws_redis_conf_t *rcf, ngx_str_t *addr);
static ngx_int_t ngx_ws_redis_param_seeds(ngx_conf_t *cf,
    ngx_ws_redis_conf_t *rcf, ngx_str_t *seeds);

#if (NGX_WS_HAVE_HIREDIS)

static void ngx_ws_redis_connect(ngx_ws_redis_t *rd);
static void ngx_ws_redis_timer_handler(ngx_event_t *ev);
static void ngx_ws_redis_timeout_handler(ngx_event_t *ev);
static void ngx_ws_redis_read_handler(ngx_event_t *ev);
static void ngx_ws_redis_push_read(ngx_ws_redis_t *rd);
static void ngx_ws_redis_write_handler(ngx_event_t *ev);
static void ngx_ws_redis_add_read(void *data);
static void ngx_ws_redis_del_read(void *data);
static void ngx_ws_redis_add_write(void *data);
static void ngx_ws_redis_del_write(void *data);
static void ngx_ws_redis_cleanup(void *data);
static void ngx_ws_redis_connected(const redisAsyncContext *ac, int status);
static void ngx_ws_redis_reply(redisAsyncContext *ac, void *r, void *data);
static void ngx_ws_redis_sub_reply(redisAsyncContext *ac, void *r,
    void *data);
static ngx_ws_redis_t *ngx_ws_redis_alloc(ngx_ws_redis_conf_t *rcf,
    ngx_log_t *log);
static void ngx_ws_redis_hello(ngx_ws_redis_t *rd, void *reply, void *data);
static void ngx_ws_redis_retry(ngx_ws_redis_t *rd, ngx_uint_t drop);
static void ngx_ws_redis_drop(ngx_ws_redis_t *rd);

#endif


/*
 * A ws_zone's Redis configuration, made with its defaults at its first
 * redis_* parameter
 */

ngx_ws_redis_conf_t *
ngx_ws_redis_conf(ngx_conf_t *cf, ngx_ws_redis_conf_t **rcfp)
{
    ngx_ws_redis_conf_t  *rcf;

    if (*rcfp) {
        return *rcfp;
    }

    rcf = ngx_pcalloc(cf->pool, sizeof(ngx_ws_redis_conf_t));
    if (rcf == NULL) {
        return NULL;
    }

    rcf->db = -1;
    rcf->connect_timeout = NGX_CONF_UNSET_MSEC;
    rcf->timeout = NGX_CONF_UNSET_MSEC;

    *rcfp = rcf;

    return rcf;
}


/*
 * A parameter of ws_zone: NGX_OK if it is one of redis=, redis_cluster=,
 * redis_user=, redis_password=, redis_db=, redis_connect_timeout=,
 * redis_timeout=; NGX_DECLINED if it is none.
 */

ngx_int_t
ngx_ws_redis_param(ngx_conf_t *cf, ngx_ws_redis_conf_t **rcfp, ngx_str_t *v)
{
    ngx_int_t             n;
    ngx_str_t             s;
    ngx_msec_t            ms;
    ngx_ws_redis_conf_t  *rcf;

    if (v->len < 6 || ngx_strncmp(v->data, "redis", 5) != 0
        || (v->data[5] != '=' && v->data[5] != '_'))
    {
        return NGX_DECLINED;
    }

    rcf = ngx_ws_redis_conf(cf, rcfp);
    if (rcf == NULL) {
        return NGX_ERROR;
    }

    s.data = (u_char *) ngx_strchr(v->data, '=');

    if (s.data == NULL) {
        goto invalid;
    }

    s.data++;
    s.len = v->data + v->len - s.data;

    if (ngx_strncmp(v->data, "redis=", 6) == 0) {
        if (rcf->addr.len) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "duplicate \"redis=\" in \"%V\"%s", v,
                               rcf->seeds ? " after \"redis_cluster=\"" : "");
            return NGX_ERROR;
        }

        return ngx_ws_redis_param_addr(cf, rcf, &s);
    }

    if (ngx_strncmp(v->data, "redis_cluster=", 14) == 0 && s.len) {
        return ngx_ws_redis_param_seeds(cf, rcf, &s);
    }

    if (ngx_strncmp(v->data, "redis_user=", 11) == 0 && s.len) {
        rcf->user = s;
        return NGX_OK;
    }

    if (ngx_strncmp(v->data, "redis_password=", 15) == 0 && s.len) {
        rcf->password = s;
        return NGX_OK;
    }

    if (ngx_strncmp(v->data, "redis_db=", 9) == 0) {
        n = ngx_atoi(s.data, s.len);

        if (n == NGX_ERROR || n > 65535) {
            goto invalid;
        }

        rcf->db = n;
        return NGX_OK;
    }

    if (ngx_strncmp(v->data, "redis_connect_timeout=", 22) == 0
        || ngx_strncmp(v->data, "redis_timeout=", 14) == 0)
    {
        ms = ngx_parse_time(&s, 0);

        if (ms == (ngx_msec_t) NGX_ERROR || ms == 0) {
            goto invalid;
        }

        if (v->data[6] == 'c') {
            rcf->connect_timeout = ms;

        } else {
            rcf->timeout = ms;
        }

        return NGX_OK;
    }

invalid:

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "invalid parameter \"%V\"", v);

    return NGX_ERROR;
}


/*
 * redis=HOST[:PORT] (6379 by default) or redis=unix:PATH; a name is
 * resolved now, to its first address
 */

static ngx_int_t
ngx_ws_redis_param_addr(ngx_conf_t *cf, ngx_ws_redis_conf_t *rcf,
    ngx_str_t *addr)
{
    size_t               len;
    ngx_url_t            u;
    struct sockaddr     *sa;
#if (NGX_HAVE_UNIX_DOMAIN)
    struct sockaddr_un  *saun;
#endif

    ngx_memzero(&u, sizeof(ngx_url_t));

    u.url = *addr;
    u.default_port = NGX_WS_REDIS_PORT;

    if (addr->len == 0 || ngx_parse_url(cf->pool, &u) != NGX_OK) {
        if (u.err) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "%s in redis=\"%V\"", u.err, addr);
        } else {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid redis=\"%V\"", addr);
        }

        return NGX_ERROR;
    }

    if (u.naddrs == 0 || u.uri.len) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid redis=\"%V\"", addr);
        return NGX_ERROR;
    }

    rcf->addr = *addr;
    sa = u.addrs[0].sockaddr;

#if (NGX_HAVE_UNIX_DOMAIN)
    if (sa->sa_family == AF_UNIX) {
        saun = (struct sockaddr_un *) sa;
        len = ngx_strlen(saun->sun_path);

        rcf->host = ngx_pnalloc(cf->pool, len + 1);
        if (rcf->host == NULL) {
            return NGX_ERROR;
        }

        ngx_memcpy(rcf->host, saun->sun_path, len + 1);
        rcf->port = 0;

        return NGX_OK;
    }
#endif

    rcf->host = ngx_pnalloc(cf->pool, NGX_SOCKADDR_STRLEN + 1);
    if (rcf->host == NULL) {
        return NGX_ERROR;
    }

    len = ngx_sock_ntop(sa, u.addrs[0].socklen, rcf->host,
                        NGX_SOCKADDR_STRLEN, 0);
    rcf->host[len] = '\0';
    rcf->port = ngx_inet_get_port(sa);

    return NGX_OK;
}


/*
 * redis_cluster=HOST[:PORT][,HOST[:PORT]...]: the seeds of a Redis
 * Cluster (ngx_ws_redis_cluster.c), resolved now
 */

static ngx_int_t
ngx_ws_redis_param_seeds(ngx_conf_t *cf, ngx_ws_redis_conf_t *rcf,
    ngx_str_t *seeds)
{
    size_t                len;
    u_char               *p, *last, *comma;
    ngx_url_t             u;
    ngx_ws_redis_seed_t  *seed;

    if (rcf->addr.len) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"redis_cluster=\" goes with no other "
                           "\"redis=\" or \"redis_cluster=\"");
        return NGX_ERROR;
    }

    rcf->seeds = ngx_array_create(cf->pool, 4, sizeof(ngx_ws_redis_seed_t));
    if (rcf->seeds == NULL) {
        return NGX_ERROR;
    }

    p = seeds->data;
    last = seeds->data + seeds->len;

    do {
        comma = ngx_strlchr(p, last, ',');

        if (comma == NULL) {
            comma = last;
        }

        ngx_memzero(&u, sizeof(ngx_url_t));

        u.url.data = p;
        u.url.len = comma - p;
        u.default_port = NGX_WS_REDIS_PORT;

        if (u.url.len == 0 || ngx_parse_url(cf->pool, &u) != NGX_OK
            || u.naddrs == 0 || u.uri.len
            || u.addrs[0].sockaddr->sa_family == AF_UNIX)
        {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid node \"%V\" in redis_cluster=\"%V\"%s"
                               "%s", &u.url, seeds, u.err ? ": " : "",
                               u.err ? u.err : "");
            return NGX_ERROR;
        }

        if (rcf->seeds->nelts == NGX_WS_REDIS_MAX_NODES) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "more than %d nodes in redis_cluster=",
                               NGX_WS_REDIS_MAX_NODES);
            return NGX_ERROR;
        }

        seed = ngx_array_push(rcf->seeds);
        if (seed == NULL) {
            return NGX_ERROR;
        }

        seed->host = ngx_pnalloc(cf->pool, NGX_SOCKADDR_STRLEN + 1);
        if (seed->host == NULL) {
            return NGX_ERROR;
        }

        len = ngx_sock_ntop(u.addrs[0].sockaddr, u.addrs[0].socklen,
                            seed->host, NGX_SOCKADDR_STRLEN, 0);
        seed->host[len] = '\0';
        seed->port = ngx_inet_get_port(u.addrs[0].sockaddr);

        p = comma + 1;

    } while (comma < last);

    /* for the log lines that name the zone's Redis */
    rcf->addr = *seeds;

    return NGX_OK;
}


/* at the end of a ws_zone line: the redis_* need redis=, and hiredis */

char *
ngx_ws_redis_check(ngx_conf_t *cf, ngx_ws_redis_conf_t *rcf,
    ngx_str_t *zone)
{
    if (rcf == NULL) {
        return NGX_CONF_OK;
    }

    if (rcf->addr.len == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "ws_zone \"%V\": redis_* parameters need redis=, "
                           "redis_cluster= or redis_sentinel=", zone);
        return NGX_CONF_ERROR;
    }

    if (rcf->seeds && rcf->db > 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "ws_zone \"%V\": redis_db= does not work with "
                           "redis_cluster= (a cluster has database 0 only)",
                           zone);
        return NGX_CONF_ERROR;
    }

    if (rcf->user.len && rcf->password.len == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "ws_zone \"%V\": redis_user= needs "
                           "redis_password=", zone);
        return NGX_CONF_ERROR;
    }

#if !(NGX_WS_HAVE_HIREDIS)

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "ws_zone \"%V\": redis= needs ngx_ws_module built "
                       "with hiredis (Debian: libhiredis-dev), this one was "
                       "built without it", zone);
    return NGX_CONF_ERROR;

#else

    ngx_conf_init_msec_value(rcf->connect_timeout, 3000);
    ngx_conf_init_msec_value(rcf->timeout, 2000);

    return NGX_CONF_OK;

#endif
}


#if (NGX_WS_HAVE_HIREDIS)

/* in each worker: one connection per Redis-backed zone */

ngx_int_t
ngx_ws_redis_init_process(ngx_cycle_t *cycle)
{
    ngx_uint_t            i;
    ngx_ws_zone_t       **zones;
    ngx_ws_main_conf_t   *wmcf;
    ngx_ws_redis_conf_t  *rcf;

    if (ngx_process == NGX_PROCESS_HELPER) {
        return NGX_OK;
    }

    wmcf = ngx_http_cycle_get_module_main_conf(cycle, ngx_ws_module);

    if (wmcf == NULL) {
        return NGX_OK;
    }

    zones = wmcf->zones.elts;

    for (i = 0; i < wmcf->zones.nelts; i++) {
        rcf = zones[i]->redis;

        if (rcf == NULL) {
            continue;
        }

        if (zones[i]->slot >= 0) {
            rcf->stat = &zones[i]->sh->redis;
            rcf->slot = zones[i]->slot;
            rcf->stat->connected[rcf->slot] = 0;
            rcf->stat->inflight[rcf->slot] = 0;
        }

        if (rcf->seeds) {
            /* a cluster: ngx_ws_redis_bp_init_process() connects */
            continue;
        }

        rcf->conn = ngx_ws_redis_open(rcf, cycle->log, 0);

        if (rcf->conn == NULL) {
            return NGX_ERROR;
        }

        if (rcf->hooks && rcf->hooks->watch) {
            /* Sentinel: its +switch-master announcements */
            rcf->watch = rcf->hooks->watch(rcf, cycle);

            if (rcf->watch == NULL) {
                return NGX_ERROR;
            }
        }
    }

    return NGX_OK;
}


/* a connection, being made */

ngx_ws_redis_t *
ngx_ws_redis_open(ngx_ws_redis_conf_t *rcf, ngx_log_t *log, ngx_uint_t quiet)
{
    ngx_ws_redis_t  *rd;

    rd = ngx_ws_redis_alloc(rcf, log);
    if (rd == NULL) {
        return NULL;
    }

    rd->quiet = quiet;

    /* the worker's connections of the zone, for a failover announced */
    rd->next = rcf->conns;
    rcf->conns = rd;

    ngx_ws_redis_connect(rd);

    return rd;
}


/*
 * A connection for a subscription: push is called with each message
 * (and the subscription's confirmation), the hooks' start subscribes
 */

ngx_ws_redis_t *
ngx_ws_redis_open_push(ngx_ws_redis_conf_t *rcf, ngx_log_t *log,
    ngx_ws_redis_reply_pt push, void *data)
{
    ngx_ws_redis_t  *rd;

    rd = ngx_ws_redis_alloc(rcf, log);
    if (rd == NULL) {
        return NULL;
    }

    rd->push = push;
    rd->push_data = data;

    ngx_ws_redis_connect(rd);

    return rd;
}


static ngx_ws_redis_t *
ngx_ws_redis_alloc(ngx_ws_redis_conf_t *rcf, ngx_log_t *log)
{
    ngx_ws_redis_t  *rd;

    rd = ngx_calloc(sizeof(ngx_ws_redis_t), log);
    if (rd == NULL) {
        return NULL;
    }

    rd->conf = rcf;
    rd->log = log;

    rd->timer.handler = ngx_ws_redis_timer_handler;
    rd->timer.data = rd;
    rd->timer.log = log;
    rd->timer.cancelable = 1;

    rd->timeout.handler = ngx_ws_redis_timeout_handler;
    rd->timeout.data = rd;
    rd->timeout.log = log;
    rd->timeout.cancelable = 1;

    return rd;
}


/*
 * Closes a connection and frees it: its commands in flight are answered
 * NULL first.  Not from within a reply handler of its own.
 */

void
ngx_ws_redis_close(ngx_ws_redis_t *rd)
{
    ngx_ws_redis_t  **pp;

    for (pp = &rd->conf->conns; *pp; pp = &(*pp)->next) {
        if (*pp == rd) {
            *pp = rd->next;
            break;
        }
    }

    rd->state = NGX_WS_REDIS_CLOSED;

    ngx_ws_redis_drop(rd);

    if (rd->timer.timer_set) {
        ngx_del_timer(&rd->timer);
    }

    ngx_free(rd);
}


void
ngx_ws_redis_exit_process(ngx_cycle_t *cycle)
{
    ngx_uint_t            i;
    ngx_ws_zone_t       **zones;
    ngx_ws_redis_t       *rd;
    ngx_ws_main_conf_t   *wmcf;

    wmcf = ngx_http_cycle_get_module_main_conf(cycle, ngx_ws_module);

    if (wmcf == NULL) {
        return;
    }

    zones = wmcf->zones.elts;

    for (i = 0; i < wmcf->zones.nelts; i++) {
        if (zones[i]->redis && zones[i]->redis->watch) {
            rd = zones[i]->redis->watch;
            zones[i]->redis->watch = NULL;

            ngx_ws_redis_close(rd);
        }

        if (zones[i]->redis == NULL || zones[i]->redis->conn == NULL) {
            continue;
        }

        rd = zones[i]->redis->conn;
        zones[i]->redis->conn = NULL;

        ngx_ws_redis_close(rd);
    }
}


/*
 * Starts a connection: hiredis opens a non-blocking socket and starts
 * connect(); AUTH, SELECT and PING are queued at once, and the connection
 * is ready when PING answers.
 */

static void
ngx_ws_redis_connect(ngx_ws_redis_t *rd)
{
    int                   argc, port;
    char                 *host;
    const char           *argv[3];
    size_t                argvlen[3];
    ngx_int_t             rc;
    u_char                db[NGX_INT_T_LEN];
    ngx_connection_t     *c;
    redisAsyncContext    *ac;
    ngx_ws_redis_conf_t  *rcf;

    rcf = rd->conf;
    rd->state = NGX_WS_REDIS_CONNECTING;
    rd->greeted = 0;

    host = (char *) rcf->host;
    port = rcf->port;

    if (rcf->hooks) {
        /* a sentinel, or the master it named */
        rcf->hooks->target(rd, &host, &port);
    }

    if (port) {
        ac = redisAsyncConnect(host, port);

    } else {
        ac = redisAsyncConnectUnix(host);
    }

    if (ac == NULL) {
        ngx_ws_redis_failed(rd, "out of memory");
        return;
    }

    if (ac->err) {
        ngx_ws_redis_failed(rd, ac->errstr);
        redisAsyncFree(ac);
        return;
    }

    c = ngx_get_connection(ac->c.fd, rd->log);

    if (c == NULL) {
        ngx_ws_redis_failed(rd, "no free connection");
        redisAsyncFree(ac);
        return;
    }

    c->data = rd;
    c->read->handler = ngx_ws_redis_read_handler;
    c->write->handler = ngx_ws_redis_write_handler;
    c->read->log = rd->log;
    c->write->log = rd->log;

    rd->c = c;
    rd->ac = ac;
    rd->head = 0;
    rd->inflight = 0;

    ac->data = rd;
    ac->ev.data = rd;
    ac->ev.addRead = ngx_ws_redis_add_read;
    ac->ev.delRead = ngx_ws_redis_del_read;
    ac->ev.addWrite = ngx_ws_redis_add_write;
    ac->ev.delWrite = ngx_ws_redis_del_write;
    ac->ev.cleanup = ngx_ws_redis_cleanup;

    /* hiredis learns of the connect() by the first write event */

    redisAsyncSetConnectCallback(ac, ngx_ws_redis_connected);

    ngx_add_timer(&rd->timer, rcf->connect_timeout);

    if (rcf->hooks) {
        rd->starting = 1;
        rc = rcf->hooks->start(rd);
        rd->starting = 0;

        if (rc == NGX_DONE) {
            return;
        }
    }

    if (rcf->password.len) {
        argc = 1;
        argv[0] = "AUTH";
        argvlen[0] = 4;

        if (rcf->user.len) {
            argv[argc] = (char *) rcf->user.data;
            argvlen[argc++] = rcf->user.len;
        }

        argv[argc] = (char *) rcf->password.data;
        argvlen[argc++] = rcf->password.len;

        if (ngx_ws_redis_command(rd, ngx_ws_redis_hello, "AUTH", argc, argv,
                                 argvlen)
            != NGX_OK)
        {
            return;
        }
    }

    if (rcf->db >= 0) {
        argv[0] = "SELECT";
        argvlen[0] = 6;
        argv[1] = (char *) db;
        argvlen[1] = ngx_sprintf(db, "%i", rcf->db) - db;

        if (ngx_ws_redis_command(rd, ngx_ws_redis_hello, "SELECT", 2, argv,
                                 argvlen)
            != NGX_OK)
        {
            return;
        }
    }

    if (rcf->hooks) {
        rd->starting = 1;
        rcf->hooks->check(rd);
        rd->starting = 0;
    }

    argv[0] = "PING";
    argvlen[0] = 4;

    if (ngx_ws_redis_command(rd, ngx_ws_redis_hello, NULL, 1, argv, argvlen)
        == NGX_OK)
    {
        /*
         * the worker's first connection: what comes before it is ready
         * (a publish just after a start or a reload) waits behind PING
         * rather than being refused; after a failure, callers are
         * answered at once until the server is back
         */
        rd->greeted = (rd->connects == 0 && rd->failures == 0);
    }
}


/*
 * Queues a command: NGX_OK, and the handler will be called once, with
 * the reply or with NULL; NGX_DECLINED when not connected, NGX_BUSY with
 * NGX_WS_REDIS_MAX_INFLIGHT in flight, NGX_ERROR if hiredis refused it.
 * Commands other than those of the connection's start wait for it to be
 * ready, but for the worker's first connection, where they are queued
 * behind its start (and answered NULL if it fails).
 */

ngx_int_t
ngx_ws_redis_command(ngx_ws_redis_t *rd, ngx_ws_redis_reply_pt handler,
    void *data, int argc, const char **argv, const size_t *argvlen)
{
    ngx_ws_redis_cmd_t  *cmd;

    if (rd == NULL || rd->ac == NULL
        || (rd->state != NGX_WS_REDIS_READY
            && handler != ngx_ws_redis_hello && !rd->starting
            && !(rd->state == NGX_WS_REDIS_CONNECTING && rd->greeted)))
    {
        return NGX_DECLINED;
    }

    if (rd->inflight == NGX_WS_REDIS_MAX_INFLIGHT) {
        return NGX_BUSY;
    }

    cmd = &rd->cmds[(rd->head + rd->inflight) % NGX_WS_REDIS_MAX_INFLIGHT];

    cmd->handler = handler;
    cmd->data = data;
    cmd->start = ngx_current_msec;

    if (redisAsyncCommandArgv(rd->ac, ngx_ws_redis_reply, cmd, argc, argv,
                              argvlen)
        != REDIS_OK)
    {
        return NGX_ERROR;
    }

    rd->inflight++;
    rd->commands++;

    if (rd->conf->stat) {
        (void) ngx_atomic_fetch_add(&rd->conf->stat->commands, 1);
        (void) ngx_atomic_fetch_add(&rd->conf->stat->inflight[rd->conf->slot],
                                    1);
    }

    if (!rd->timeout.timer_set) {
        ngx_add_timer(&rd->timeout, rd->conf->timeout);
    }

    return NGX_OK;
}


/*
 * Subscribes (SUBSCRIBE): the replies, the confirmation then each
 * message, go to rd->push, and NULL when the connection goes
 */

ngx_int_t
ngx_ws_redis_subscribe(ngx_ws_redis_t *rd, int argc, const char **argv,
    const size_t *argvlen)
{
    if (rd->ac == NULL || rd->push == NULL) {
        return NGX_DECLINED;
    }

    if (redisAsyncCommandArgv(rd->ac, ngx_ws_redis_sub_reply, NULL, argc,
                              argv, argvlen)
        != REDIS_OK)
    {
        return NGX_ERROR;
    }

    rd->commands++;

    return NGX_OK;
}


/*
 * A command on a subscriber's connection (SSUBSCRIBE, PING), once it is
 * ready: written to hiredis's buffer without a callback, its reply goes to
 * the push handler with the messages.  A PING with no answer for
 * redis_timeout drops the connection.
 */

ngx_int_t
ngx_ws_redis_send(ngx_ws_redis_t *rd, int argc, const char **argv,
    const size_t *argvlen)
{
    int                 len;
    char               *cmd;
    redisAsyncContext  *ac;

    if (rd == NULL || rd->ac == NULL || rd->push == NULL
        || rd->state != NGX_WS_REDIS_READY)
    {
        return NGX_DECLINED;
    }

    ac = rd->ac;

    len = redisFormatCommandArgv(&cmd, argc, argv, argvlen);

    if (len < 0) {
        return NGX_ERROR;
    }

    if (redisAppendFormattedCommand(&ac->c, cmd, len) != REDIS_OK) {
        redisFreeCommand(cmd);
        return NGX_ERROR;
    }

    redisFreeCommand(cmd);

    rd->commands++;

    if (rd->conf->stat) {
        (void) ngx_atomic_fetch_add(&rd->conf->stat->commands, 1);
    }

    if (!rd->timeout.timer_set) {
        ngx_add_timer(&rd->timeout, rd->conf->timeout);
    }

    ngx_ws_redis_add_write(rd);

    return NGX_OK;
}


static void
ngx_ws_redis_sub_reply(redisAsyncContext *ac, void *r, void *data)
{
    ngx_ws_redis_t  *rd;

    rd = ac->data;

    if (rd != NULL && rd->push != NULL) {
        rd->push(rd, r, rd->push_data);
    }
}


/* a reply, or NULL for a command the connection's end cut short */

static void
ngx_ws_redis_reply(redisAsyncContext *ac, void *r, void *data)
{
    ngx_ws_redis_cmd_t *cmd = data;

    void                   *cdata;
    ngx_msec_t              now;
    ngx_uint_t              readonly, noscript;
    redisReply             *rr;
    ngx_ws_redis_t         *rd;
    ngx_ws_redis_stat_t    *st;
    ngx_ws_redis_reply_pt   handler;

    rd = ac->data;
    rr = r;

    /* with Sentinel, a master demoted to a replica: ask again */

    readonly = (rr != NULL && rd->conf->hooks != NULL
                && rr->type == REDIS_REPLY_ERROR && rr->len >= 8
                && ngx_strncmp(rr->str, "READONLY", 8) == 0);

    /* replies come in the order of the commands: cmd is the oldest */

    rd->head = (rd->head + 1) % NGX_WS_REDIS_MAX_INFLIGHT;
    rd->inflight--;

    handler = cmd->handler;
    cdata = cmd->data;
    st = rd->conf->stat;

    if (st) {
        (void) ngx_atomic_fetch_add(&st->inflight[rd->conf->slot],
                                    (ngx_atomic_int_t) -1);
    }

    if (r != NULL) {
        now = ngx_current_msec;
        rd->rtt = now - cmd->start;
        rd->rtt_max = ngx_max(rd->rtt_max, rd->rtt);

        /*
         * NOSCRIPT is no error: the caller sends the script in full
         * (EVALSHA first, ngx_ws_redis_bp.c)
         */
        noscript = rr->type == REDIS_REPLY_ERROR && rr->len >= 8
                   && ngx_strncmp(rr->str, "NOSCRIPT", 8) == 0;

        if (rr->type == REDIS_REPLY_ERROR && !noscript) {
            rd->errors++;
        }

        if (st) {
            st->rtt = rd->rtt;

            if (st->rtt_max < rd->rtt) {
                st->rtt_max = rd->rtt;
            }

            if (rr->type == REDIS_REPLY_ERROR && !noscript) {
                (void) ngx_atomic_fetch_add(&st->errors, 1);
            }
        }

        if (rd->timeout.timer_set) {
            ngx_del_timer(&rd->timeout);
        }

        if (rd->inflight) {
            cmd = &rd->cmds[rd->head];
            ngx_add_timer(&rd->timeout,
                          rd->conf->timeout - ngx_min(rd->conf->timeout - 1,
                                                      now - cmd->start));
        }
    }

    handler(rd, r, cdata);

    if (readonly && rd->state == NGX_WS_REDIS_READY) {
        ngx_log_error(NGX_LOG_ERR, rd->log, 0,
                      "redis \"%V\": READONLY from %s:%d, a replica now",
                      &rd->conf->addr, rd->master, rd->master_port);
        rd->outage = 1;
        ngx_ws_redis_failed(rd, NULL);
    }
}


/* the replies to AUTH, SELECT and PING at the start of a connection */

static void
ngx_ws_redis_hello(ngx_ws_redis_t *rd, void *reply, void *data)
{
    char        *what = data;
    redisReply  *r = reply;

    ngx_uint_t   level;

    if (r == NULL || rd->state != NGX_WS_REDIS_CONNECTING) {
        return;
    }

    if (r->type == REDIS_REPLY_ERROR) {
        /* at error once until a connection is made, not at each attempt */
        level = rd->refused ? NGX_LOG_INFO
                            : ngx_ws_redis_level(rd, NGX_LOG_ERR);
        rd->refused = 1;

        ngx_log_error(level, rd->log, 0,
                      "redis \"%V\": %s refused: %*s", &rd->conf->addr,
                      what ? what : "PING", (size_t) r->len, r->str);

        /* after AUTH, SELECT and PING fail too: one line is enough */

        rd->outage = 1;
        ngx_ws_redis_failed(rd, NULL);
        return;
    }

    if (what != NULL) {
        return;
    }

    /* PING answered: ready */

    if (rd->timer.timer_set) {
        ngx_del_timer(&rd->timer);
    }

    rd->state = NGX_WS_REDIS_READY;
    rd->connects++;

    if (rd->conf->stat) {
        (void) ngx_atomic_fetch_add(&rd->conf->stat->connects, 1);
        (void) ngx_atomic_fetch_add(&rd->conf->stat->reconnects,
                                    rd->connects > 1);
        (void) ngx_atomic_fetch_add(
                          &rd->conf->stat->connected[rd->conf->slot], 1);
        rd->counted = 1;
    }

    if (rd->quiet) {
        rd->reconnects += (rd->connects > 1);

        ngx_log_error(NGX_LOG_INFO, rd->log, 0,
                      "redis \"%V\": stream reader connected",
                      &rd->conf->addr);

    } else if (rd->outage || rd->connects > 1) {
        rd->reconnects += (rd->connects > 1);

        ngx_log_error(NGX_LOG_NOTICE, rd->log, 0,
                      "redis \"%V\" connected again after %ui attempts",
                      &rd->conf->addr, rd->failures);

    } else {
        ngx_log_error(NGX_LOG_INFO, rd->log, 0,
                      "redis \"%V\" connected", &rd->conf->addr);
    }

    rd->failures = 0;
    rd->outage = 0;
    rd->refused = 0;
}


static void
ngx_ws_redis_connected(const redisAsyncContext *ac, int status)
{
    ngx_ws_redis_t  *rd;

    rd = ac->data;

    if (status != REDIS_OK) {
        /* hiredis frees the context after this: cleanup() follows */
        ngx_ws_redis_failed(rd, ac->errstr);
    }
}


/*
 * A connection failed or went: it is logged (once per outage) and,
 * unless the worker exits, made again after the backoff.  why is NULL
 * when the cause was logged already.
 */

void
ngx_ws_redis_failed(ngx_ws_redis_t *rd, const char *why)
{
    ngx_int_t   rc;
    ngx_msec_t  delay;
    ngx_uint_t  i;

    if (rd->state == NGX_WS_REDIS_CLOSED) {
        return;
    }

    rc = NGX_OK;

    if (rd->conf->hooks != NULL && rd->state != NGX_WS_REDIS_IDLE) {
        rc = rd->conf->hooks->failed(rd, why);

        if (rc == NGX_AGAIN) {
            /* the hooks told of it: the next sentinel at once */
            ngx_ws_redis_retry(rd, why == NULL);
            return;
        }
    }

    if (rc == NGX_DONE) {
        /* the hooks logged it */

    } else if (why != NULL && rd->quiet) {
        /* the worker's own connection tells of the outage */
        ngx_log_error(NGX_LOG_INFO, rd->log, 0,
                      "redis \"%V\": stream reader disconnected (%s)",
                      &rd->conf->addr, why);
        rd->outage = 1;

    } else if (why != NULL && !rd->outage) {
        ngx_log_error(NGX_LOG_WARN, rd->log, 0,
                      "redis \"%V\" unavailable: %s; channels of the zone "
                      "refuse publishes until it is back", &rd->conf->addr,
                      why);
        rd->outage = 1;

    } else if (why != NULL) {
        ngx_log_error(NGX_LOG_INFO, rd->log, 0,
                      "redis \"%V\" still unavailable: %s",
                      &rd->conf->addr, why);
    }

    if (rd->state == NGX_WS_REDIS_IDLE) {
        /* already waiting to reconnect */
        return;
    }

    rd->state = NGX_WS_REDIS_IDLE;
    rd->failures++;

    delay = NGX_WS_REDIS_BACKOFF_MIN;

    for (i = 1; i < rd->failures && delay < NGX_WS_REDIS_BACKOFF_MAX; i++) {
        delay *= 2;
    }

    delay = ngx_min(delay, NGX_WS_REDIS_BACKOFF_MAX);
    delay += ngx_random() % (delay / 2 + 1);

    if (rd->timer.timer_set) {
        ngx_del_timer(&rd->timer);
    }

    ngx_add_timer(&rd->timer, delay);

    /* from hiredis's own callbacks (why set), hiredis frees the context */

    if (why == NULL) {
        ngx_ws_redis_drop(rd);
    }
}


/*
 * From a reply handler of the connection's start (the hooks'): this
 * connection ends, the next one is made at once.
 */

void
ngx_ws_redis_next(ngx_ws_redis_t *rd)
{
    ngx_ws_redis_retry(rd, 1);
}


/* drop: not from hiredis's own callbacks, where hiredis frees the context */

static void
ngx_ws_redis_retry(ngx_ws_redis_t *rd, ngx_uint_t drop)
{
    if (rd->state == NGX_WS_REDIS_CLOSED) {
        return;
    }

    rd->state = NGX_WS_REDIS_IDLE;

    if (rd->timer.timer_set) {
        ngx_del_timer(&rd->timer);
    }

    ngx_add_timer(&rd->timer, 1);

    if (drop) {
        ngx_ws_redis_drop(rd);
    }
}


/*
 * Frees the hiredis context now: its commands in flight are answered
 * NULL, cleanup() gives the ngx_connection_t back.  From within a
 * callback, hiredis frees it when the callback returns.
 */

static void
ngx_ws_redis_drop(ngx_ws_redis_t *rd)
{
    redisAsyncContext  *ac;

    ac = rd->ac;

    if (ac == NULL) {
        return;
    }

    rd->ac = NULL;

    if (rd->timeout.timer_set) {
        ngx_del_timer(&rd->timeout);
    }

    redisAsyncFree(ac);
}


/* connect timeout while connecting, else the time to reconnect */

static void
ngx_ws_redis_timer_handler(ngx_event_t *ev)
{
    ngx_ws_redis_t  *rd = ev->data;

    if (rd->state == NGX_WS_REDIS_CONNECTING) {
        if (rd->push) {
            /* a subscription's: its hooks tell of it */

        } else if (rd->quiet) {
            ngx_log_error(NGX_LOG_INFO, rd->log, 0,
                          "redis \"%V\": stream reader's connect timed out",
                          &rd->conf->addr);
            rd->outage = 1;

        } else if (!rd->outage) {
            ngx_log_error(NGX_LOG_WARN, rd->log, 0,
                          "redis \"%V\" unavailable: connect timed out; "
                          "channels of the zone refuse publishes until it "
                          "is back", &rd->conf->addr);
            rd->outage = 1;
        }

        ngx_ws_redis_failed(rd, NULL);
        return;
    }

    if (rd->state == NGX_WS_REDIS_IDLE && rd->ac == NULL) {
        ngx_ws_redis_connect(rd);
    }
}


/* the oldest command in flight waited longer than redis_timeout= */

static void
ngx_ws_redis_timeout_handler(ngx_event_t *ev)
{
    ngx_ws_redis_t  *rd = ev->data;

    if (rd->state != NGX_WS_REDIS_READY) {
        /* while connecting, redis_connect_timeout= applies */
        return;
    }

    if (rd->push) {
        ngx_log_error(NGX_LOG_ERR, rd->log, 0,
                      "redis \"%V\": subscriber timed out",
                      &rd->conf->addr);

    } else {
        ngx_log_error(NGX_LOG_ERR, rd->log, 0,
                      "redis \"%V\" timed out with %ui commands in flight",
                      &rd->conf->addr, rd->inflight);
    }

    rd->outage = 1;
    ngx_ws_redis_failed(rd, NULL);
}


/*
 * The events of the socket.  hiredis may free its context (and so, through
 * cleanup(), the connection) within these calls: nothing touches either
 * after them.
 */

static void
ngx_ws_redis_read_handler(ngx_event_t *ev)
{
    ngx_connection_t  *c = ev->data;
    ngx_ws_redis_t    *rd = c->data;

    if (rd->ac == NULL) {
        return;
    }

    if (rd->push && rd->state == NGX_WS_REDIS_READY) {
        ngx_ws_redis_push_read(rd);
        return;
    }

    redisAsyncHandleRead(rd->ac);
}


/*
 * A ready subscriber's socket: read here rather than by hiredis's
 * callbacks (which know SUBSCRIBE, not SSUBSCRIBE, and would take a
 * message for the answer to a command): every reply, message or
 * answer, goes to the push handler
 */

static void
ngx_ws_redis_push_read(ngx_ws_redis_t *rd)
{
    void               *reply;
    redisContext       *c;
    redisAsyncContext  *ac;

    ac = rd->ac;
    c = &ac->c;

    if (redisBufferRead(c) != REDIS_OK) {
        goto failed;
    }

    if (rd->timeout.timer_set) {
        /* the server answers */
        ngx_del_timer(&rd->timeout);
    }

    for ( ;; ) {
        reply = NULL;

        if (redisGetReply(c, &reply) != REDIS_OK) {
            goto failed;
        }

        if (reply == NULL) {
            return;
        }

        rd->push(rd, reply, rd->push_data);

        freeReplyObject(reply);

        if (rd->ac != ac || rd->state != NGX_WS_REDIS_READY) {
            return;
        }
    }

failed:

    ngx_log_error(NGX_LOG_INFO, rd->log, 0,
                  "redis \"%V\": subscriber disconnected (%s)",
                  &rd->conf->addr, c->errstr[0] ? c->errstr : "error");

    rd->outage = 1;
    ngx_ws_redis_failed(rd, NULL);
}


static void
ngx_ws_redis_write_handler(ngx_event_t *ev)
{
    ngx_connection_t  *c = ev->data;
    ngx_ws_redis_t    *rd = c->data;

    if (rd->ac != NULL) {
        redisAsyncHandleWrite(rd->ac);
    }
}


/* hiredis's hooks: idempotent */

static void
ngx_ws_redis_add_read(void *data)
{
    ngx_ws_redis_t *rd = data;

    if (rd->c != NULL && !rd->c->read->active) {
        (void) ngx_add_event(rd->c->read, NGX_READ_EVENT, NGX_LEVEL_EVENT);
    }
}


static void
ngx_ws_redis_del_read(void *data)
{
    ngx_ws_redis_t *rd = data;

    if (rd->c != NULL && rd->c->read->active) {
        (void) ngx_del_event(rd->c->read, NGX_READ_EVENT, 0);
    }
}


static void
ngx_ws_redis_add_write(void *data)
{
    ngx_ws_redis_t *rd = data;

    if (rd->c != NULL && !rd->c->write->active) {
        (void) ngx_add_event(rd->c->write, NGX_WRITE_EVENT, NGX_LEVEL_EVENT);
    }
}


static void
ngx_ws_redis_del_write(void *data)
{
    ngx_ws_redis_t *rd = data;

    if (rd->c != NULL && rd->c->write->active) {
        (void) ngx_del_event(rd->c->write, NGX_WRITE_EVENT, 0);
    }
}


/*
 * hiredis frees its context: the events go, the connection is given back
 * (hiredis closes the socket itself), and a new one is scheduled unless
 * the worker exits.
 */

static void
ngx_ws_redis_cleanup(void *data)
{
    ngx_ws_redis_t *rd = data;

    ngx_connection_t  *c;

    c = rd->c;

    if (c == NULL) {
        return;
    }

    ngx_ws_redis_del_read(rd);
    ngx_ws_redis_del_write(rd);

    if (c->read->timer_set) {
        ngx_del_timer(c->read);
    }

    if (c->write->timer_set) {
        ngx_del_timer(c->write);
    }

    if (c->read->posted) {
        ngx_delete_posted_event(c->read);
    }

    if (c->write->posted) {
        ngx_delete_posted_event(c->write);
    }

    rd->c = NULL;
    rd->ac = NULL;

    if (rd->counted) {
        rd->counted = 0;
        (void) ngx_atomic_fetch_add(&rd->conf->stat->connected[rd->conf->slot],
                                    (ngx_atomic_int_t) -1);
    }

    ngx_free_connection(c);
    c->fd = (ngx_socket_t) -1;

    if (rd->timeout.timer_set) {
        ngx_del_timer(&rd->timeout);
    }

    if (rd->state == NGX_WS_REDIS_READY) {
        /* the server closed the connection, or it broke */
        ngx_ws_redis_failed(rd, "connection lost");

    } else if (rd->state == NGX_WS_REDIS_CONNECTING) {
        ngx_ws_redis_failed(rd, "connection closed");
    }
}


#else /* !(NGX_WS_HAVE_HIREDIS): redis= fails nginx -t before these */

ngx_int_t
ngx_ws_redis_command(ngx_ws_redis_t *rd, ngx_ws_redis_reply_pt handler,
    void *data, int argc, const char **argv, const size_t *argvlen)
{
    return NGX_DECLINED;
}


ngx_int_t
ngx_ws_redis_init_process(ngx_cycle_t *cycle)
{
    return NGX_OK;
}


void
ngx_ws_redis_exit_process(ngx_cycle_t *cycle)
{
}

#endif
