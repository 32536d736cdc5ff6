
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


/* the states of a connection */

#define NGX_WS_REDIS_IDLE           0             /* waiting to reconnect */
#define NGX_WS_REDIS_CONNECTING     1             /* until PING answers */
#define NGX_WS_REDIS_READY          2
#define NGX_WS_REDIS_CLOSED         3             /* the worker exits */


typedef struct ngx_ws_redis_s  ngx_ws_redis_t;

/*
 * The reply to a command (a redisReply), or NULL when the connection went
 * before it came; the handler must not free it.
 */

typedef void (*ngx_ws_redis_reply_pt)(ngx_ws_redis_t *rd, void *reply,
    void *data);


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
    ngx_atomic_t                backfilled;       /* read after a return */
    ngx_atomic_t                connected[NGX_WS_MAX_SLOTS];
    ngx_atomic_t                inflight[NGX_WS_MAX_SLOTS];
} ngx_ws_redis_stat_t;


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

    ngx_ws_redis_t             *conn;             /* this worker's */
    void                       *reader;           /* ngx_ws_redis_bp.c */
    ngx_ws_redis_stat_t        *stat;             /* in the zone */
    ngx_uint_t                  slot;             /* this worker's */
} ngx_ws_redis_conf_t;


typedef struct {
    ngx_ws_redis_reply_pt       handler;
    void                       *data;
    ngx_msec_t                  start;
} ngx_ws_redis_cmd_t;


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
    ngx_uint_t                  refused;          /* AUTH... logged */

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


ngx_int_t ngx_ws_redis_param(ngx_conf_t *cf, ngx_ws_redis_conf_t **rcfp,
    ngx_str_t *v);
char *ngx_ws_redis_check(ngx_conf_t *cf, ngx_ws_redis_conf_t *rcf,
    ngx_str_t *zone);
ngx_int_t ngx_ws_redis_command(ngx_ws_redis_t *rd,
    ngx_ws_redis_reply_pt handler, void *data, int argc, const char **argv,
    const size_t *argvlen);
ngx_ws_redis_t *ngx_ws_redis_open(ngx_ws_redis_conf_t *rcf, ngx_log_t *log,
    ngx_uint_t quiet);
void ngx_ws_redis_close(ngx_ws_redis_t *rd);
ngx_int_t ngx_ws_redis_init_process(ngx_cycle_t *cycle);
void ngx_ws_redis_exit_process(ngx_cycle_t *cycle);


#endif /* _NGX_WS_REDIS_H_INCLUDED_ */
