
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
#endif


/*
 * Redis Sentinel for a Redis-backed zone (ws_zone ... redis_sentinel=
 * redis_master=, docs/cluster.md).  Each connection of ngx_ws_redis.c
 * (a worker's, the reader's) finds the master through the hooks below:
 *
 *   - with no master known, the connection is made to a sentinel, which
 *     is asked "SENTINEL get-master-addr-by-name NAME" (after AUTH with
 *     redis_sentinel_password=); its answer is kept in the connection and
 *     the next connection is made to that address at once.  A sentinel
 *     that fails or does not know the master: the next one is asked at
 *     once; when all failed in a row, the usual backoff applies;
 *
 *   - connected to the master, ROLE is sent after AUTH and SELECT, before
 *     PING makes the connection ready: a server that is not a master any
 *     more (a replica) is left, and the sentinels are asked again;
 *
 *   - the master's connection failed, timed out, or a command had a
 *     READONLY reply (ngx_ws_redis.c): the master is forgotten, and the
 *     sentinels are asked again after the usual backoff and jitter;
 *
 *   - a connection of each worker to a sentinel (the watch) is subscribed
 *     to +switch-master: when a failover of our master is announced, the
 *     worker's connections to another server are made again at once to
 *     the new one, ROLE checking it as above (so the old master, alive
 *     and a replica soon, is not written to meanwhile).
 *     The watch goes from a sentinel that fails to the next one, after
 *     the backoff.
 *
 * All of it is on nginx's event loop, through the same hiredis adapter:
 * a sentinel's answer must be an IP address (never resolved, as
 * resolving would block the worker).
 */


#define NGX_WS_REDIS_SENTINEL_PORT  26379


typedef struct {
    ngx_str_t                   addr;             /* as configured */
    u_char                     *host;             /* an IP */
    int                         port;
} ngx_ws_redis_sentinel_t;


static ngx_int_t ngx_ws_redis_sentinel_addrs(ngx_conf_t *cf,
    ngx_ws_redis_conf_t *rcf, ngx_str_t *list);

#if (NGX_WS_HAVE_HIREDIS)

static void ngx_ws_redis_sentinel_target(ngx_ws_redis_t *rd, char **host,
    int *port);
static ngx_int_t ngx_ws_redis_sentinel_start(ngx_ws_redis_t *rd);
static void ngx_ws_redis_sentinel_check_role(ngx_ws_redis_t *rd);
static ngx_int_t ngx_ws_redis_sentinel_failed(ngx_ws_redis_t *rd,
    const char *why);
static void ngx_ws_redis_sentinel_auth(ngx_ws_redis_t *rd, void *reply,
    void *data);
static void ngx_ws_redis_sentinel_master(ngx_ws_redis_t *rd, void *reply,
    void *data);
static void ngx_ws_redis_sentinel_role(ngx_ws_redis_t *rd, void *reply,
    void *data);
static void ngx_ws_redis_sentinel_found(ngx_ws_redis_t *rd);
static ngx_int_t ngx_ws_redis_sentinel_addr(u_char *ip, size_t len,
    ngx_int_t port);
static ngx_ws_redis_t *ngx_ws_redis_sentinel_watch(ngx_ws_redis_conf_t *rcf,
    ngx_cycle_t *cycle);
static ngx_int_t ngx_ws_redis_watch_start(ngx_ws_redis_t *rd);
static ngx_int_t ngx_ws_redis_sentinel_login(ngx_ws_redis_t *rd);
static ngx_int_t ngx_ws_redis_watch_failed(ngx_ws_redis_t *rd,
    const char *why);
static void ngx_ws_redis_watch_event(ngx_ws_redis_t *rd, void *reply,
    void *data);
static void ngx_ws_redis_watch_switch(ngx_ws_redis_t *rd,
    ngx_ws_redis_conf_t *rcf, u_char *p, u_char *last);


static ngx_ws_redis_hooks_t  ngx_ws_redis_sentinel_hooks = {
    ngx_ws_redis_sentinel_target,
    ngx_ws_redis_sentinel_start,
    ngx_ws_redis_sentinel_check_role,
    ngx_ws_redis_sentinel_failed,
    ngx_ws_redis_sentinel_watch
};


/* the watch: a connection to a sentinel, subscribed */

static ngx_ws_redis_hooks_t  ngx_ws_redis_watch_hooks = {
    ngx_ws_redis_sentinel_target,
    ngx_ws_redis_watch_start,
    ngx_ws_redis_sentinel_check_role,             /* never: no master */
    ngx_ws_redis_watch_failed,
    NULL
};

#endif


/*
 * A parameter of ws_zone: NGX_OK if it is one of redis_sentinel=,
 * redis_master=, redis_sentinel_user=, redis_sentinel_password=;
 * NGX_DECLINED if it is none (ngx_ws_redis_param() comes next).
 */

ngx_int_t
ngx_ws_redis_sentinel_param(ngx_conf_t *cf, ngx_ws_redis_conf_t **rcfp,
    ngx_str_t *v)
{
    ngx_str_t             s;
    ngx_ws_redis_conf_t  *rcf;

    if (!(v->len > 15 && ngx_strncmp(v->data, "redis_sentinel", 14) == 0)
        && !(v->len > 13 && ngx_strncmp(v->data, "redis_master=", 13) == 0))
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

    if (s.len == 0) {
        goto invalid;
    }

    if (ngx_strncmp(v->data, "redis_sentinel=", 15) == 0) {
        return ngx_ws_redis_sentinel_addrs(cf, rcf, &s);
    }

    if (ngx_strncmp(v->data, "redis_master=", 13) == 0) {
        if (rcf->master_name.len) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "duplicate \"redis_master=\" in \"%V\"", v);
            return NGX_ERROR;
        }

        rcf->master_name = s;
        return NGX_OK;
    }

    if (ngx_strncmp(v->data, "redis_sentinel_user=", 20) == 0) {
        rcf->sentinel_user = s;
        return NGX_OK;
    }

    if (ngx_strncmp(v->data, "redis_sentinel_password=", 24) == 0) {
        rcf->sentinel_password = s;
        return NGX_OK;
    }

invalid:

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "invalid parameter \"%V\"", v);

    return NGX_ERROR;
}


/*
 * redis_sentinel=HOST[:PORT][,HOST[:PORT]...], 26379 by default; a name
 * is resolved now, to its first address
 */

static ngx_int_t
ngx_ws_redis_sentinel_addrs(ngx_conf_t *cf, ngx_ws_redis_conf_t *rcf,
    ngx_str_t *list)
{
    u_char                   *p, *last, *comma;
    size_t                    len;
    ngx_url_t                 u;
    ngx_str_t                 addr;
    ngx_ws_redis_sentinel_t  *s;

    if (rcf->sentinels == NULL) {
        rcf->sentinels = ngx_array_create(cf->pool, 3,
                                          sizeof(ngx_ws_redis_sentinel_t));
        if (rcf->sentinels == NULL) {
            return NGX_ERROR;
        }
    }

    p = list->data;
    last = list->data + list->len;

    while (p < last) {
        comma = ngx_strlchr(p, last, ',');

        if (comma == NULL) {
            comma = last;
        }

        addr.data = p;
        addr.len = comma - p;
        p = comma + 1;

        ngx_memzero(&u, sizeof(ngx_url_t));

        u.url = addr;
        u.default_port = NGX_WS_REDIS_SENTINEL_PORT;
        u.no_resolve = 0;

        if (addr.len == 0 || ngx_parse_url(cf->pool, &u) != NGX_OK
            || u.naddrs == 0 || u.uri.len || u.family == AF_UNIX)
        {
            if (u.err) {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "%s in redis_sentinel=\"%V\"", u.err,
                                   &addr);
            } else {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "invalid redis_sentinel=\"%V\"", &addr);
            }

            return NGX_ERROR;
        }

        s = ngx_array_push(rcf->sentinels);
        if (s == NULL) {
            return NGX_ERROR;
        }

        s->addr = addr;

        s->host = ngx_pnalloc(cf->pool, NGX_SOCKADDR_STRLEN + 1);
        if (s->host == NULL) {
            return NGX_ERROR;
        }

        len = ngx_sock_ntop(u.addrs[0].sockaddr, u.addrs[0].socklen, s->host,
                            NGX_SOCKADDR_STRLEN, 0);
        s->host[len] = '\0';
        s->port = ngx_inet_get_port(u.addrs[0].sockaddr);
    }

    return NGX_OK;
}


/*
 * At the end of a ws_zone line, before ngx_ws_redis_check(): Sentinel
 * needs both redis_sentinel= and redis_master=, and excludes redis=
 */

char *
ngx_ws_redis_sentinel_check(ngx_conf_t *cf, ngx_ws_redis_conf_t *rcf,
    ngx_str_t *zone)
{
    if (rcf == NULL
        || (rcf->sentinels == NULL && rcf->master_name.len == 0
            && rcf->sentinel_user.len == 0
            && rcf->sentinel_password.len == 0))
    {
        return NGX_CONF_OK;
    }

    if (rcf->sentinels && rcf->addr.len) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "ws_zone \"%V\": %s and redis_sentinel= "
                           "exclude each other", zone,
                           rcf->seeds ? "redis_cluster=" : "redis=");
        return NGX_CONF_ERROR;
    }

    if (rcf->sentinels == NULL) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "ws_zone \"%V\": redis_master= and "
                           "redis_sentinel_* need redis_sentinel=", zone);
        return NGX_CONF_ERROR;
    }

    if (rcf->master_name.len == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "ws_zone \"%V\": redis_sentinel= needs "
                           "redis_master=", zone);
        return NGX_CONF_ERROR;
    }

    if (rcf->sentinel_user.len && rcf->sentinel_password.len == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "ws_zone \"%V\": redis_sentinel_user= needs "
                           "redis_sentinel_password=", zone);
        return NGX_CONF_ERROR;
    }

    /* the name in the log lines of the connections */

    rcf->addr = rcf->master_name;

#if (NGX_WS_HAVE_HIREDIS)
    rcf->hooks = &ngx_ws_redis_sentinel_hooks;
#endif

    return NGX_CONF_OK;
}


#if (NGX_WS_HAVE_HIREDIS)

/* the master named last, or the sentinel to ask */

static void
ngx_ws_redis_sentinel_target(ngx_ws_redis_t *rd, char **host, int *port)
{
    ngx_ws_redis_sentinel_t  *s;

    if (rd->master_port) {
        rd->asking = 0;
        *host = (char *) rd->master;
        *port = rd->master_port;
        return;
    }

    s = rd->conf->sentinels->elts;
    s = &s[rd->sentinel % rd->conf->sentinels->nelts];

    rd->asking = 1;
    *host = (char *) s->host;
    *port = s->port;
}


/* connected to a sentinel: AUTH, and the question */

static ngx_int_t
ngx_ws_redis_sentinel_start(ngx_ws_redis_t *rd)
{
    const char           *argv[3];
    size_t                argvlen[3];
    ngx_ws_redis_conf_t  *rcf;

    if (!rd->asking) {
        return NGX_OK;
    }

    rcf = rd->conf;

    if (ngx_ws_redis_sentinel_login(rd) != NGX_OK) {
        /* the connect timeout ends it */
        return NGX_DONE;
    }

    argv[0] = "SENTINEL";
    argvlen[0] = 8;
    argv[1] = "get-master-addr-by-name";
    argvlen[1] = sizeof("get-master-addr-by-name") - 1;
    argv[2] = (char *) rcf->master_name.data;
    argvlen[2] = rcf->master_name.len;

    (void) ngx_ws_redis_command(rd, ngx_ws_redis_sentinel_master, NULL, 3,
                                argv, argvlen);

    return NGX_DONE;
}


/* connected to the master named: is it one still? */

static void
ngx_ws_redis_sentinel_check_role(ngx_ws_redis_t *rd)
{
    const char  *argv[1];
    size_t       argvlen[1];

    argv[0] = "ROLE";
    argvlen[0] = 4;

    (void) ngx_ws_redis_command(rd, ngx_ws_redis_sentinel_role, NULL, 1,
                                argv, argvlen);
}


/*
 * A connection failed.  To the master: it is forgotten, and the
 * sentinels are asked again after the backoff.  To a sentinel: the next
 * one is asked at once, unless all failed in a row.
 */

static ngx_int_t
ngx_ws_redis_sentinel_failed(ngx_ws_redis_t *rd, const char *why)
{
    ngx_ws_redis_sentinel_t  *s;

    if (!rd->asking) {
        if (rd->master_port) {
            ngx_log_error(NGX_LOG_INFO, rd->log, 0,
                          "redis \"%V\": master %s:%d left, asking the "
                          "sentinels again", &rd->conf->addr, rd->master,
                          rd->master_port);
        }

        rd->master_port = 0;
        return NGX_OK;
    }

    s = rd->conf->sentinels->elts;
    s = &s[rd->sentinel % rd->conf->sentinels->nelts];

    if (why != NULL) {
        ngx_log_error(NGX_LOG_INFO, rd->log, 0,
                      "redis \"%V\": sentinel \"%V\" unavailable: %s",
                      &rd->conf->addr, &s->addr, why);
    }

    rd->sentinel = (rd->sentinel + 1) % rd->conf->sentinels->nelts;

    if (++rd->asked < rd->conf->sentinels->nelts) {
        return NGX_AGAIN;
    }

    rd->asked = 0;

    return NGX_OK;
}


static void
ngx_ws_redis_sentinel_auth(ngx_ws_redis_t *rd, void *reply, void *data)
{
    redisReply  *r = reply;

    ngx_uint_t                level;
    ngx_ws_redis_sentinel_t  *s;

    if (r == NULL || rd->state != NGX_WS_REDIS_CONNECTING
        || r->type != REDIS_REPLY_ERROR)
    {
        return;
    }

    level = rd->quiet ? NGX_LOG_INFO : NGX_LOG_ERR;

    s = rd->conf->sentinels->elts;
    s = &s[rd->sentinel % rd->conf->sentinels->nelts];

    ngx_log_error(level, rd->log, 0,
                  "redis \"%V\": sentinel \"%V\" refused AUTH: %*s",
                  &rd->conf->addr, &s->addr, (size_t) r->len, r->str);

    ngx_ws_redis_failed(rd, NULL);
}


/* the answer of a sentinel: [IP, port], or nil for a master it ignores */

static void
ngx_ws_redis_sentinel_master(ngx_ws_redis_t *rd, void *reply, void *data)
{
    redisReply  *r = reply;

    ngx_int_t                 port;
    ngx_uint_t                level;
    redisReply               *ip, *pr;
    ngx_ws_redis_sentinel_t  *s;

    if (r == NULL || rd->state != NGX_WS_REDIS_CONNECTING) {
        return;
    }

    s = rd->conf->sentinels->elts;
    s = &s[rd->sentinel % rd->conf->sentinels->nelts];

    level = (rd->quiet || rd->outage) ? NGX_LOG_INFO : NGX_LOG_WARN;

    if (r->type != REDIS_REPLY_ARRAY || r->elements != 2
        || r->element[0]->type != REDIS_REPLY_STRING
        || r->element[1]->type != REDIS_REPLY_STRING)
    {
        if (r->type == REDIS_REPLY_ERROR) {
            ngx_log_error(level, rd->log, 0,
                          "redis \"%V\": sentinel \"%V\" answered: %*s",
                          &rd->conf->addr, &s->addr, (size_t) r->len,
                          r->str);

        } else {
            ngx_log_error(level, rd->log, 0,
                          "redis \"%V\": sentinel \"%V\" knows no such "
                          "master", &rd->conf->addr, &s->addr);
        }

        rd->outage = 1;
        ngx_ws_redis_failed(rd, NULL);
        return;
    }

    ip = r->element[0];
    pr = r->element[1];
    port = ngx_atoi((u_char *) pr->str, pr->len);

    if (ngx_ws_redis_sentinel_addr((u_char *) ip->str, ip->len, port)
        != NGX_OK)
    {
        ngx_log_error(NGX_LOG_ERR, rd->log, 0,
                      "redis \"%V\": sentinel \"%V\" named the master "
                      "\"%*s\" port \"%*s\", not an IP address and port",
                      &rd->conf->addr, &s->addr, (size_t) ip->len, ip->str,
                      (size_t) pr->len, pr->str);

        rd->outage = 1;
        ngx_ws_redis_failed(rd, NULL);
        return;
    }

    ngx_memcpy(rd->master, ip->str, ip->len);
    rd->master[ip->len] = '\0';
    rd->master_port = port;
    rd->asked = 0;

    ngx_log_debug4(NGX_LOG_DEBUG_EVENT, rd->log, 0,
                   "redis \"%V\": sentinel \"%V\" names master %s:%i",
                   &rd->conf->addr, &s->addr, rd->master, port);

    /* to the master, at once */

    ngx_ws_redis_next(rd);
}


/* an IP and a port: a name would need a blocking resolve */

static ngx_int_t
ngx_ws_redis_sentinel_addr(u_char *ip, size_t len, ngx_int_t port)
{
#if (NGX_HAVE_INET6)
    struct in6_addr  in6;
#endif

    if (port <= 0 || port > 65535 || len > NGX_SOCKADDR_STRLEN) {
        return NGX_ERROR;
    }

    if (ngx_inet_addr(ip, len) != INADDR_NONE) {
        return NGX_OK;
    }

#if (NGX_HAVE_INET6)
    if (ngx_inet6_addr(ip, len, in6.s6_addr) == NGX_OK) {
        return NGX_OK;
    }
#endif

    return NGX_ERROR;
}


/* ROLE: ["master", ...] or ["slave", ...], ["sentinel", ...] */

static void
ngx_ws_redis_sentinel_role(ngx_ws_redis_t *rd, void *reply, void *data)
{
    redisReply  *r = reply;

    ngx_uint_t   level;
    redisReply  *role;

    if (r == NULL || rd->state != NGX_WS_REDIS_CONNECTING) {
        return;
    }

    level = rd->quiet ? NGX_LOG_INFO : NGX_LOG_WARN;

    if (r->type == REDIS_REPLY_ARRAY && r->elements > 0) {
        role = r->element[0];

        if (role->type == REDIS_REPLY_STRING && role->len == 6
            && ngx_strncmp(role->str, "master", 6) == 0)
        {
            ngx_ws_redis_sentinel_found(rd);
            return;
        }

        if (role->type == REDIS_REPLY_STRING) {
            ngx_log_error(level, rd->log, 0,
                          "redis \"%V\": %s:%d is not the master (role "
                          "\"%*s\"), asking the sentinels again",
                          &rd->conf->addr, rd->master, rd->master_port,
                          (size_t) role->len, role->str);
            rd->outage = 1;
            ngx_ws_redis_failed(rd, NULL);
            return;
        }
    }

    level = rd->quiet ? NGX_LOG_INFO : NGX_LOG_ERR;

    ngx_log_error(level, rd->log, 0,
                  "redis \"%V\": %s:%d did not answer ROLE%s%*s",
                  &rd->conf->addr, rd->master, rd->master_port,
                  r->type == REDIS_REPLY_ERROR ? ": " : "",
                  (size_t) (r->type == REDIS_REPLY_ERROR ? r->len : 0),
                  r->type == REDIS_REPLY_ERROR ? r->str : "");

    rd->outage = 1;
    ngx_ws_redis_failed(rd, NULL);
}


/*
 * The master is confirmed: for ws_status, the zone's master, and a
 * failover counted when it differs from the one found before (by any
 * connection of the instance)
 */

static void
ngx_ws_redis_sentinel_found(ngx_ws_redis_t *rd)
{
    u_char               *p;
    u_char                addr[NGX_SOCKADDR_STRLEN + 1];
    ngx_ws_redis_stat_t  *st;

    st = rd->conf->stat;

    p = ngx_snprintf(addr, NGX_SOCKADDR_STRLEN, "%s:%d", rd->master,
                     rd->master_port);
    *p = '\0';

    if (st == NULL || !ngx_atomic_cmp_set(&st->master_lock, 0, ngx_pid)) {
        return;
    }

    if (ngx_strcmp(st->master, addr) != 0) {
        if (st->master[0] != '\0') {
            (void) ngx_atomic_fetch_add(&st->failovers, 1);

            ngx_log_error(NGX_LOG_NOTICE, rd->log, 0,
                          "redis \"%V\": the master is %s now, was %s",
                          &rd->conf->addr, addr, st->master);
        } else {
            ngx_log_error(NGX_LOG_INFO, rd->log, 0,
                          "redis \"%V\": the master is %s",
                          &rd->conf->addr, addr);
        }

        ngx_memcpy(st->master, addr, p - addr + 1);
    }

    ngx_memory_barrier();
    st->master_lock = 0;
}


/*
 * In a worker, for a zone with redis_sentinel=: the watch, with a
 * configuration of its own (the sentinels, no figures in the zone)
 */

static ngx_ws_redis_t *
ngx_ws_redis_sentinel_watch(ngx_ws_redis_conf_t *rcf, ngx_cycle_t *cycle)
{
    ngx_ws_redis_conf_t  *wcf;

    wcf = ngx_pcalloc(cycle->pool, sizeof(ngx_ws_redis_conf_t));
    if (wcf == NULL) {
        return NULL;
    }

    wcf->addr = rcf->addr;
    wcf->db = -1;
    wcf->connect_timeout = rcf->connect_timeout;
    wcf->timeout = rcf->timeout;
    wcf->sentinels = rcf->sentinels;
    wcf->master_name = rcf->master_name;
    wcf->sentinel_user = rcf->sentinel_user;
    wcf->sentinel_password = rcf->sentinel_password;
    wcf->hooks = &ngx_ws_redis_watch_hooks;

    return ngx_ws_redis_open_push(wcf, cycle->log,
                                  ngx_ws_redis_watch_event, rcf);
}


/* connected to a sentinel: AUTH, SUBSCRIBE; ready when it is confirmed */

static ngx_int_t
ngx_ws_redis_watch_start(ngx_ws_redis_t *rd)
{
    const char  *argv[2];
    size_t       argvlen[2];

    rd->asking = 1;

    if (ngx_ws_redis_sentinel_login(rd) != NGX_OK) {
        /* the connect timeout ends it */
        return NGX_DONE;
    }

    argv[0] = "SUBSCRIBE";
    argvlen[0] = 9;
    argv[1] = "+switch-master";
    argvlen[1] = sizeof("+switch-master") - 1;

    (void) ngx_ws_redis_subscribe(rd, 2, argv, argvlen);

    return NGX_DONE;
}


/* the watch's connection failed: the next sentinel, after the backoff */

static ngx_int_t
ngx_ws_redis_watch_failed(ngx_ws_redis_t *rd, const char *why)
{
    ngx_ws_redis_sentinel_t  *s;

    s = rd->conf->sentinels->elts;
    s = &s[rd->sentinel % rd->conf->sentinels->nelts];

    ngx_log_error(NGX_LOG_INFO, rd->log, 0,
                  "redis \"%V\": no failover announcements from sentinel "
                  "\"%V\": %s", &rd->conf->addr, &s->addr,
                  why ? why : (rd->state == NGX_WS_REDIS_READY
                               ? "timed out" : "not subscribed"));

    rd->sentinel = (rd->sentinel + 1) % rd->conf->sentinels->nelts;

    return NGX_DONE;
}


/*
 * A reply on the watch: ["subscribe", "+switch-master", 1], then
 * ["message", "+switch-master", "NAME OLD-IP OLD-PORT NEW-IP NEW-PORT"]
 */

static void
ngx_ws_redis_watch_event(ngx_ws_redis_t *rd, void *reply, void *data)
{
    redisReply  *r = reply;

    redisReply               *kind, *msg;
    ngx_ws_redis_sentinel_t  *s;

    if (r == NULL || rd->state == NGX_WS_REDIS_CLOSED
        || r->type != REDIS_REPLY_ARRAY || r->elements != 3
        || r->element[0]->type != REDIS_REPLY_STRING)
    {
        return;
    }

    kind = r->element[0];
    msg = r->element[2];

    if (kind->len == 9 && ngx_strncmp(kind->str, "subscribe", 9) == 0) {
        if (rd->state != NGX_WS_REDIS_CONNECTING) {
            return;
        }

        if (rd->timer.timer_set) {
            ngx_del_timer(&rd->timer);
        }

        rd->state = NGX_WS_REDIS_READY;
        rd->connects++;
        rd->failures = 0;

        s = rd->conf->sentinels->elts;
        s = &s[rd->sentinel % rd->conf->sentinels->nelts];

        ngx_log_error(NGX_LOG_INFO, rd->log, 0,
                      "redis \"%V\": failovers announced by sentinel "
                      "\"%V\" are followed", &rd->conf->addr, &s->addr);
        return;
    }

    if (kind->len == 7 && ngx_strncmp(kind->str, "message", 7) == 0
        && msg->type == REDIS_REPLY_STRING)
    {
        ngx_ws_redis_watch_switch(rd, data, (u_char *) msg->str,
                                  (u_char *) msg->str + msg->len);
    }
}


/*
 * +switch-master of our master: the connections of the worker to another
 * server than the new master are made again at once to the one announced
 * (ROLE checks it, and ws_status counts the failover when confirmed; a
 * sentinel asked now might not know of it yet)
 */

static void
ngx_ws_redis_watch_switch(ngx_ws_redis_t *rd, ngx_ws_redis_conf_t *rcf,
    u_char *p, u_char *last)
{
    u_char          *f[5];
    size_t           len[5];
    ngx_int_t        port;
    ngx_uint_t       n;
    ngx_ws_redis_t  *c, *next;

    /* NAME OLD-IP OLD-PORT NEW-IP NEW-PORT */

    for (n = 0; n < 5; n++) {
        while (p < last && *p == ' ') {
            p++;
        }

        f[n] = p;

        while (p < last && *p != ' ') {
            p++;
        }

        len[n] = p - f[n];

        if (len[n] == 0) {
            return;
        }
    }

    if (len[0] != rcf->master_name.len
        || ngx_strncmp(f[0], rcf->master_name.data, len[0]) != 0)
    {
        return;
    }

    port = ngx_atoi(f[4], len[4]);

    if (ngx_ws_redis_sentinel_addr(f[3], len[3], port) != NGX_OK) {
        ngx_log_error(NGX_LOG_ERR, rd->log, 0,
                      "redis \"%V\": sentinel announced the master \"%*s\" "
                      "port \"%*s\", not an IP address and port",
                      &rcf->addr, len[3], f[3], len[4], f[4]);
        return;
    }

    ngx_log_error(NGX_LOG_INFO, rd->log, 0,
                  "redis \"%V\": sentinel announced a failover to "
                  "%*s:%*s, reconnecting", &rcf->addr, len[3], f[3],
                  len[4], f[4]);

    for (c = rcf->conns; c; c = next) {
        next = c->next;

        if (c->master_port == 0 || c->state == NGX_WS_REDIS_CLOSED
            || (c->master_port == port
                && ngx_strlen(c->master) == len[3]
                && ngx_strncmp(c->master, f[3], len[3]) == 0))
        {
            /* asking the sentinels already, or on the new master */
            continue;
        }

        ngx_memcpy(c->master, f[3], len[3]);
        c->master[len[3]] = '\0';
        c->master_port = port;
        c->asked = 0;

        if (c->state != NGX_WS_REDIS_IDLE) {
            ngx_ws_redis_next(c);
        }
    }
}

#endif


/* AUTH with redis_sentinel_password= (and _user=), if given, first */

static ngx_int_t
ngx_ws_redis_sentinel_login(ngx_ws_redis_t *rd)
{
    int                   argc;
    const char           *argv[3];
    size_t                argvlen[3];
    ngx_ws_redis_conf_t  *rcf;

    rcf = rd->conf;

    if (rcf->sentinel_password.len == 0) {
        return NGX_OK;
    }

    argc = 1;
    argv[0] = "AUTH";
    argvlen[0] = 4;

    if (rcf->sentinel_user.len) {
        argv[argc] = (char *) rcf->sentinel_user.data;
        argvlen[argc++] = rcf->sentinel_user.len;
    }

    argv[argc] = (char *) rcf->sentinel_password.data;
    argvlen[argc++] = rcf->sentinel_password.len;

    return ngx_ws_redis_command(rd, ngx_ws_redis_sentinel_auth, NULL, argc,
                                argv, argvlen);
}
