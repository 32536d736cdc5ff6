
/*
 * Copyright (C) ngx_ws_module authors
 */


#ifndef _NGX_WS_REDIS_H_INCLUDED_
#define _NGX_WS_REDIS_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_event.h>
#include "ngx_ws_module.h"


/* commands a connection has sent and not had answered, at most */

#define NGX_WS_REDIS_MAX_INFLIGHT   1024


/* the nodes of a Redis Cluster a worker knows, at most */

#define NGX_WS_REDIS_MAX_NODES      32


/* the states of a connection */

#define NGX_WS_REDIS_IDLE           0             /* waiting to reconnect */
#define NGX_WS_REDIS_CONNECTING     1             /* until PING answers */
#define NGX_WS_REDIS_READY          2
#define NGX_WS_REDIS_CLOSED         3             /* the worker exits */

/* commands may be given: ready, or queued behind the first start */
#define ngx_ws_redis_usable(rd)                                             \
    ((rd)->state == NGX_WS_REDIS_READY                                      \
     || ((rd)->state == NGX_WS_REDIS_CONNECTING && (rd)->greeted))

/*
 * An error answer of a Redis Cluster whose slot is moving (a MOVED or ASK
 * that could not be followed: a loop while the nodes learn the migration,
 * a node not connected yet; TRYAGAIN during a migration): transient
 */
#define ngx_ws_redis_moving(r)                                              \
    ((r)->type == REDIS_REPLY_ERROR                                         \
     && (((r)->len > 6 && ngx_strncmp((r)->str, "MOVED ", 6) == 0)          \
         || ((r)->len > 4 && ngx_strncmp((r)->str, "ASK ", 4) == 0)         \
         || ((r)->len >= 8 && ngx_strncmp((r)->str, "TRYAGAIN", 8) == 0)))


typedef struct ngx_ws_redis_s  ngx_ws_redis_t;
typedef struct ngx_ws_redis_hooks_s  ngx_ws_redis_hooks_t;
typedef struct ngx_ws_redis_cluster_s  ngx_ws_redis_cluster_t;

/*
 * The reply to a command (a redisReply), or NULL when the connection went
 * before it came; the handler must not free it.
 */

typedef void (*ngx_ws_redis_reply_pt)(ngx_ws_redis_t *rd, void *reply,
    void *data);

/* a wake of a Redis Cluster's slot (sharded pub/sub, the reader's) */

typedef void (*ngx_ws_redis_woken_pt)(void *data, ngx_uint_t slot);


/*
 * The Redis figures of an instance, in the zone's shared memory (for
 * ws_status): counters for all the connections of the zone, the state of
 * each worker's connections by slot.
 */

typedef struct {
    ngx_atomic_t                connects;
    ngx_atomic_t                reconnects;
    ngx_atomic_t                commands;
    ngx_atomic_t                errors;
    ngx_atomic_t                read;             /* messages from streams */
    ngx_atomic_t                gaps;             /* lost by Redis */
    ngx_atomic_t                refused;          /* publishes, Redis away */
    ngx_atomic_t                rtt;              /* ms, the last reply's */
    ngx_atomic_t                rtt_max;
    ngx_atomic_t                moved;            /* cluster redirects */
    ngx_atomic_t                asked;
    ngx_atomic_t                backfilled;       /* read after a return */
    ngx_atomic_t                wakes;            /* cluster: wakes read */
    ngx_atomic_t                wake_conns;       /* subscribers ready */
    ngx_atomic_t                connected[NGX_WS_MAX_SLOTS];
    ngx_atomic_t                inflight[NGX_WS_MAX_SLOTS];

    /* redis_sentinel=: the master last found, masters that followed */
    ngx_atomic_t                failovers;
    ngx_atomic_t                master_lock;
    u_char                      master[NGX_SOCKADDR_STRLEN + 1];
} ngx_ws_redis_stat_t;


/* a node of redis_cluster= */

typedef struct {
    u_char                     *host;             /* an IP */
    int                         port;
} ngx_ws_redis_seed_t;


/* redis= and its companions of a ws_zone line */

typedef struct {
    ngx_str_t                   addr;             /* as configured */
    u_char                     *host;             /* an IP, or a path */
    int                         port;             /* 0 for a path */
    ngx_str_t                   user;             /* AUTH user pass */
    ngx_str_t                   password;
    ngx_int_t                   db;               /* SELECT, or -1 */
    ngx_msec_t                  connect_timeout;
    ngx_msec_t                  timeout;

    /* redis_sentinel= (ngx_ws_redis_sentinel.c), else hooks is NULL */
    ngx_array_t                *sentinels;
    ngx_str_t                   master_name;
    ngx_str_t                   sentinel_user;
    ngx_str_t                   sentinel_password;
    ngx_ws_redis_hooks_t       *hooks;
    ngx_ws_redis_t             *watch;            /* +switch-master */
    ngx_ws_redis_t             *conns;            /* this worker's, all */

    ngx_ws_redis_t             *conn;             /* this worker's */
    void                       *reader;           /* ngx_ws_redis_bp.c */
    ngx_ws_redis_stat_t        *stat;             /* in the zone */
    ngx_uint_t                  slot;             /* this worker's */

    ngx_array_t                *seeds;            /* redis_cluster=, of
                                                     ngx_ws_redis_seed_t */
    ngx_ws_redis_cluster_t     *cluster;          /* this worker's */
} ngx_ws_redis_conf_t;

/*
 * The instances of a Redis-backed zone (redis=, Sentinel or
 * redis_cluster=) share their connections and counts through it (a
 * heartbeat, an inbox per instance)
 */
#define ngx_ws_redis_shares(rcf)  ((rcf) != NULL)


typedef struct {
    ngx_ws_redis_reply_pt       handler;
    void                       *data;
    ngx_msec_t                  start;
} ngx_ws_redis_cmd_t;


/*
 * How a connection finds its server other than by redis= (Sentinel):
 * called by ngx_ws_redis.c when a connection is made, when it starts,
 * when it fails.
 */

struct ngx_ws_redis_hooks_s {
    /* the address to connect to */
    void                      (*target)(ngx_ws_redis_t *rd, char **host,
                                        int *port);
    /* the first commands; NGX_DONE: the only ones, not AUTH nor PING */
    ngx_int_t                 (*start)(ngx_ws_redis_t *rd);
    /* after AUTH and SELECT, before PING makes the connection ready */
    void                      (*check)(ngx_ws_redis_t *rd);
    /*
     * it failed (why, or NULL if logged): NGX_AGAIN to retry at once,
     * NGX_DONE: logged by the hook, the backoff applies
     */
    ngx_int_t                 (*failed)(ngx_ws_redis_t *rd,
                                        const char *why);
    /* in each worker, besides its connection: a watch, or NULL */
    ngx_ws_redis_t           *(*watch)(ngx_ws_redis_conf_t *rcf,
                                       ngx_cycle_t *cycle);
};


/* one connection of a worker to a Redis server */

struct ngx_ws_redis_s {
    ngx_ws_redis_conf_t        *conf;
    void                       *ac;               /* redisAsyncContext */
    ngx_connection_t           *c;                /* around its fd */
    ngx_log_t                  *log;
    ngx_uint_t                  state;            /* NGX_WS_REDIS_* */
    ngx_uint_t                  quiet;            /* outages at info */

    ngx_event_t                 timer;            /* connect or reconnect */
    ngx_event_t                 timeout;          /* the oldest command's */

    ngx_uint_t                  counted;          /* as connected */
    ngx_uint_t                  failures;         /* in a row */
    ngx_uint_t                  outage;           /* warned about it */
    ngx_uint_t                  starting;         /* in the hooks' start */
    ngx_uint_t                  greeted;          /* first start queued */

    /* redis_sentinel=: the sentinel to ask, the master it named */
    ngx_uint_t                  sentinel;
    ngx_uint_t                  asked;            /* in this round */
    ngx_uint_t                  asking;           /* connected to one */
    int                         master_port;      /* 0: ask */
    u_char                      master[NGX_SOCKADDR_STRLEN + 1];
    ngx_uint_t                  refused;          /* AUTH... logged */
    ngx_ws_redis_t             *next;             /* in conf->conns */

    /*
     * a subscriber (Sentinel's SUBSCRIBE, a cluster's SSUBSCRIBE): every
     * reply goes to push, not to cmds; once ready, commands are sent by
     * ngx_ws_redis_send() and have no handler
     */
    ngx_ws_redis_reply_pt       push;
    void                       *push_data;

    /* commands in flight, oldest first (replies come in order) */
    ngx_ws_redis_cmd_t          cmds[NGX_WS_REDIS_MAX_INFLIGHT];
    ngx_uint_t                  head;
    ngx_uint_t                  inflight;

    /* for ws_status */
    uint64_t                    connects;
    uint64_t                    reconnects;
    uint64_t                    commands;
    uint64_t                    errors;
    ngx_msec_t                  rtt;              /* of the last reply */
    ngx_msec_t                  rtt_max;
};


ngx_ws_redis_conf_t *ngx_ws_redis_conf(ngx_conf_t *cf,
    ngx_ws_redis_conf_t **rcfp);
ngx_int_t ngx_ws_redis_param(ngx_conf_t *cf, ngx_ws_redis_conf_t **rcfp,
    ngx_str_t *v);
char *ngx_ws_redis_check(ngx_conf_t *cf, ngx_ws_redis_conf_t *rcf,
    ngx_str_t *zone);
ngx_int_t ngx_ws_redis_command(ngx_ws_redis_t *rd,
    ngx_ws_redis_reply_pt handler, void *data, int argc, const char **argv,
    const size_t *argvlen);
ngx_int_t ngx_ws_redis_send(ngx_ws_redis_t *rd, int argc,
    const char **argv, const size_t *argvlen);
ngx_ws_redis_t *ngx_ws_redis_open(ngx_ws_redis_conf_t *rcf, ngx_log_t *log,
    ngx_uint_t quiet);
ngx_ws_redis_t *ngx_ws_redis_open_push(ngx_ws_redis_conf_t *rcf,
    ngx_log_t *log, ngx_ws_redis_reply_pt push, void *data);
ngx_int_t ngx_ws_redis_subscribe(ngx_ws_redis_t *rd, int argc,
    const char **argv, const size_t *argvlen);
void ngx_ws_redis_close(ngx_ws_redis_t *rd);
void ngx_ws_redis_failed(ngx_ws_redis_t *rd, const char *why);
void ngx_ws_redis_next(ngx_ws_redis_t *rd);
ngx_int_t ngx_ws_redis_sentinel_param(ngx_conf_t *cf,
    ngx_ws_redis_conf_t **rcfp, ngx_str_t *v);
char *ngx_ws_redis_sentinel_check(ngx_conf_t *cf, ngx_ws_redis_conf_t *rcf,
    ngx_str_t *zone);
ngx_int_t ngx_ws_redis_init_process(ngx_cycle_t *cycle);
void ngx_ws_redis_exit_process(ngx_cycle_t *cycle);

/* Redis Cluster (ngx_ws_redis_cluster.c, hiredis builds only) */

ngx_ws_redis_cluster_t *ngx_ws_redis_cluster_open(ngx_ws_redis_conf_t *rcf,
    ngx_log_t *log, ngx_uint_t quiet);
void ngx_ws_redis_cluster_close(ngx_ws_redis_cluster_t *cl);
ngx_uint_t ngx_ws_redis_cluster_slot(u_char *key, size_t len);
ngx_ws_redis_t *ngx_ws_redis_cluster_conn(ngx_ws_redis_cluster_t *cl,
    ngx_uint_t slot);
ngx_uint_t ngx_ws_redis_cluster_ready(ngx_ws_redis_cluster_t *cl);
uint64_t ngx_ws_redis_cluster_connects(ngx_ws_redis_cluster_t *cl);
void ngx_ws_redis_cluster_wakes(ngx_ws_redis_cluster_t *cl,
    ngx_ws_redis_woken_pt handler, void *data);
uint64_t ngx_ws_redis_cluster_wake_gen(ngx_ws_redis_cluster_t *cl,
    ngx_uint_t slot);
ngx_int_t ngx_ws_redis_cluster_subscribe(ngx_ws_redis_cluster_t *cl,
    ngx_uint_t slot, int argc, const char **argv, const size_t *argvlen);
void ngx_ws_redis_cluster_unsubscribe(ngx_ws_redis_cluster_t *cl,
    ngx_uint_t slot, const char **argv, const size_t *argvlen);
ngx_uint_t ngx_ws_redis_cluster_wake_ready(ngx_ws_redis_cluster_t *cl,
    uint64_t *connects);
ngx_int_t ngx_ws_redis_cluster_command(ngx_ws_redis_cluster_t *cl,
    ngx_uint_t slot, ngx_ws_redis_reply_pt handler, void *data, int argc,
    const char **argv, const size_t *argvlen);


#endif /* _NGX_WS_REDIS_H_INCLUDED_ */
