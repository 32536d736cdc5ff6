
/*
 * Copyright (C) ngx_ws_module authors
 */


#ifndef _NGX_WS_MODULE_H_INCLUDED_
#define _NGX_WS_MODULE_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>


#define NGX_WS_OP_CONT            0x0
#define NGX_WS_OP_TEXT            0x1
#define NGX_WS_OP_BINARY          0x2
#define NGX_WS_OP_CLOSE           0x8
#define NGX_WS_OP_PING            0x9
#define NGX_WS_OP_PONG            0xa

#define NGX_WS_CLOSE_NORMAL       1000
#define NGX_WS_CLOSE_GOING_AWAY   1001
#define NGX_WS_CLOSE_PROTOCOL     1002
#define NGX_WS_CLOSE_NO_STATUS    1005
#define NGX_WS_CLOSE_ABNORMAL     1006
#define NGX_WS_CLOSE_BAD_DATA     1007
#define NGX_WS_CLOSE_POLICY       1008
#define NGX_WS_CLOSE_TOO_BIG      1009
#define NGX_WS_CLOSE_INTERNAL     1011
#define NGX_WS_CLOSE_RESTART      1012

/* a frame header is at most 2 + 8 + 4 bytes */
#define NGX_WS_MAX_HEADER         14
#define NGX_WS_MAX_CONTROL        125

#define NGX_WS_RECV_BUFFER_SIZE   65536

/*
 * The header of an unmasked frame (a server's) of len payload bytes:
 * ngx_ws_frame_header() writes it at p, first byte (FIN, RSV1, opcode)
 * and length, and returns where the payload goes.  It is here, not in a
 * file, because the output queue, the channel frames and the compressed
 * channel frames (deflate, below the output) all need it.
 */
#define ngx_ws_frame_header_size(len)                                         \
    (((len) < 126) ? 2 : (((len) < 65536) ? 4 : 10))

static ngx_inline u_char *
ngx_ws_frame_header(u_char *p, u_char first, size_t len)
{
    ngx_uint_t  i, n;

    *p++ = first;

    if (len < 126) {
        *p++ = (u_char) len;
        return p;
    }

    if (len < 65536) {
        *p++ = 126;
        n = 2;

    } else {
        *p++ = 127;
        n = 8;
    }

    for (i = n; i > 0; i--) {
        *p++ = (u_char) ((uint64_t) len >> ((i - 1) * 8));
    }

    return p;
}

/*
 * The size of a pool made for one payload of len bytes and a little more:
 * a payload too large to come from a pool block is allocated on its own,
 * and a block the size of the payload would then be wasted.
 */
#define ngx_ws_pool_size(len)                                                 \
    (((len) + 256 <= NGX_MAX_ALLOC_FROM_POOL)                                 \
     ? ngx_align(ngx_max((len) + 256, 1024), NGX_ALIGNMENT) : 1024)


#define NGX_WS_SNAPSHOT_CLOSE      0
#define NGX_WS_SNAPSHOT_CONTINUE   1

#define NGX_WS_PASS_ERROR_CLOSE    0
#define NGX_WS_PASS_ERROR_IGNORE   1
#define NGX_WS_PASS_ERROR_MESSAGE  2

#define NGX_WS_PASS_FORMAT_HEADERS 0
#define NGX_WS_PASS_FORMAT_EVENTS  1      /* application/websocket-events */


#define NGX_WS_SLOW_CLOSE          0
#define NGX_WS_SLOW_DROP           1

#define NGX_WS_MAX_SLOTS           64


/* who ended a connection: $ws_closed_by */
#define NGX_WS_END_OPEN            0
#define NGX_WS_END_CLIENT          1
#define NGX_WS_END_SERVER          2
#define NGX_WS_END_TIMEOUT         3
#define NGX_WS_END_LIMIT           4
#define NGX_WS_END_PROTOCOL        5


/*
 * Where a connection is in its life (ws->conn_state).  It only moves
 * forward, and only ngx_ws_conn.c moves it (ngx_ws_set_state()): mostly
 * ngx_ws_end(), and the engine for CLOSED, LINGERING and FINALIZED.
 *
 *   OPEN       data both ways;
 *   CLOSING    a goodbye: our Close is queued (ws->close_sent) and the
 *              client's awaited for up to ws_close_timeout; input is still
 *              parsed for it, data messages are discarded;
 *   CLOSED     the client's Close is read (ws->close_received) and ours
 *              queued in answer: the close handshake is complete, input is
 *              discarded;
 *   FAILING    failed (RFC 6455 7.1.7): a Close is queued, input is
 *              discarded, the TCP connection is closed once it is written;
 *   LINGERING  CLOSED or FAILING and the Close written: the write side is
 *              shut down, input drained for up to ws_close_timeout;
 *   ABORTED    the TCP connection is to be closed at once;
 *   FINALIZED  released, the request (and ws) is being freed.
 *
 *   OPEN -> CLOSING -> CLOSED -> LINGERING -> FINALIZED
 *   OPEN | CLOSING | CLOSED -> FAILING -> LINGERING
 *   any -> ABORTED -> FINALIZED
 *   any -> FINALIZED (timeouts, a broken socket, the worker's exit)
 */

typedef enum {
    NGX_WS_CONN_OPEN = 0,
    NGX_WS_CONN_CLOSING,
    NGX_WS_CONN_CLOSED,
    NGX_WS_CONN_FAILING,
    NGX_WS_CONN_LINGERING,
    NGX_WS_CONN_ABORTED,
    NGX_WS_CONN_FINALIZED
} ngx_ws_conn_state_e;


/* how to end a connection: ngx_ws_end() */
#define NGX_WS_GOODBYE             0      /* the close handshake */
#define NGX_WS_FAIL                1      /* Close, then TCP close */
#define NGX_WS_ABORT               2      /* TCP close at once */


#define NGX_WS_MODULE_VERSION      "0.1.0"


/*
 * A connection's counters as other workers see them (the connections API):
 * in its record in shared memory, stored by the engine as they change.
 */

typedef struct {
    uint64_t                    messages_in;
    uint64_t                    messages_out;
    uint64_t                    bytes_in;
    uint64_t                    bytes_out;
} ngx_ws_counters_t;


/* counters of a worker for the status page (ngx_ws_status.c) */

#define NGX_WS_STAT_REJECTS        8      /* ngx_ws_reject_codes + other */
#define NGX_WS_STAT_CLOSES         17     /* 1000 ... 1015 + other */
#define NGX_WS_STAT_ENDS           6      /* NGX_WS_END_* */
#define NGX_WS_STAT_EVENTS         3      /* ok, failed, timed out */

/* why a message found no route: ngx_ws_route_errors[], the status page */
#define NGX_WS_ROUTE_ERR_INVALID   0      /* not JSON, not an object */
#define NGX_WS_ROUTE_ERR_DEEP      1
#define NGX_WS_ROUTE_ERR_NO_FIELD  2
#define NGX_WS_ROUTE_ERR_NOT_STR   3
#define NGX_WS_ROUTE_ERR_BAD       4      /* control characters, too long */
#define NGX_WS_ROUTE_ERR_UNKNOWN   5
#define NGX_WS_ROUTE_ERR_BINARY    6
#define NGX_WS_ROUTE_ERR_TARGET    7      /* bad URI or channel name */
#define NGX_WS_STAT_ROUTE_ERRORS   8

#define NGX_WS_STAT_ROUTES         32     /* route names counted */
#define NGX_WS_STAT_ROUTE_NAME     32

typedef struct {
    uint64_t                    connections;      /* open now */
    uint64_t                    connections_total;
    uint64_t                    messages_in;
    uint64_t                    messages_out;
    uint64_t                    bytes_in;
    uint64_t                    bytes_out;
    uint64_t                    delivered;        /* channel messages */
    uint64_t                    dropped;
    uint64_t                    dropped_droppable;  /* of dropped */
    uint64_t                    conflated;
    uint64_t                    critical_closes;
    uint64_t                    rejected[NGX_WS_STAT_REJECTS];
    uint64_t                    closes[NGX_WS_STAT_CLOSES];
    uint64_t                    ends[NGX_WS_STAT_ENDS];
    uint64_t                    events[NGX_WS_STAT_EVENTS];

    /* ws_route: messages per route name (the first ones), errors */
    uint64_t                    routed[NGX_WS_STAT_ROUTES];
    u_char                      route_names[NGX_WS_STAT_ROUTES]
                                           [NGX_WS_STAT_ROUTE_NAME];
    uint64_t                    route_errors[NGX_WS_STAT_ROUTE_ERRORS];
    /* the other transports (ngx_ws_sse.c, ngx_ws_longpoll.c) */
    uint64_t                    sse;              /* streams open now */
    uint64_t                    sse_total;
    uint64_t                    longpoll_total;   /* polls answered */
    uint64_t                    limited;          /* ws_limit_message */
    /* ws_message_auth_request (ngx_ws_msgauth.c) */
    uint64_t                    msgauth_requests; /* subrequests */
    uint64_t                    msgauth_cached;   /* decisions reused */
    uint64_t                    msgauth_denied;   /* messages refused */
    /* ws_snapshot (ngx_ws_snapshot.c) */
    uint64_t                    snapshots_sent;
    uint64_t                    snapshots_failed;
    /* writes of the output queues: send_chain() calls (ngx_ws_output.c) */
    uint64_t                    writes;
} ngx_ws_stats_t;


#define NGX_WS_LIMIT_DELAY         0
#define NGX_WS_LIMIT_CLOSE         1


/*
 * An EventSource or long-poll request (the first member of its context):
 * what its $ws_* variables show, and how a worker that shuts down ends it.
 */

#define NGX_WS_STREAM_SSE          1
#define NGX_WS_STREAM_LONGPOLL     2

typedef struct ngx_ws_stream_s   ngx_ws_stream_t;

struct ngx_ws_stream_s {
    ngx_str_t                   id;
    ngx_str_t                   channels;         /* "a,b" */
    ngx_str_t                   reason;           /* why it ended */
    uint64_t                    messages_out;
    uint64_t                    bytes_out;
    time_t                      start_sec;
    ngx_msec_t                  start_msec;
    ngx_uint_t                  end;              /* NGX_WS_END_* */
    ngx_uint_t                  transport;        /* NGX_WS_STREAM_* */
    void                      (*drain)(ngx_ws_stream_t *st);
};


typedef struct ngx_ws_conn_s     ngx_ws_conn_t;
typedef struct ngx_ws_msg_s      ngx_ws_msg_t;
typedef struct ngx_ws_session_s  ngx_ws_session_t;
typedef struct ngx_ws_zone_s     ngx_ws_zone_t;
typedef struct ngx_ws_spool_s    ngx_ws_spool_t;
typedef struct ngx_ws_deflate_s  ngx_ws_deflate_t;   /* ngx_ws_deflate.c */
typedef struct ngx_ws_msgauth_s  ngx_ws_msgauth_t;   /* ngx_ws_msgauth.c */


/* a variable's value cached on a request that was released */

typedef struct {
    ngx_uint_t                  index;
    ngx_str_t                   value;
} ngx_ws_kept_var_t;


/* what a released request kept besides its bytes, when there is any */

typedef struct {
    ngx_ws_kept_var_t          *vars;             /* cached variables */
    ngx_uint_t                  nvars;
    ngx_str_t                   uri;              /* $uri and $args, if */
    ngx_str_t                   args;             /* not the request line's */
    ngx_uint_t                  internal;         /* rewritten, redirected */
} ngx_ws_kept_extra_t;


/* the first field of ngx_ws_conn_t, told from a request's in c->data */
#define NGX_WS_SIGNATURE           0x4e435357         /* "WSCN" */


typedef struct {
    u_char                     *recv_buffer;
    ngx_array_t                 zones;            /* ngx_ws_zone_t * */

    /* ngx_ws_status.c: the counters' zone, and this worker's slot or -1 */
    ngx_shm_zone_t             *status_zone;
    ngx_int_t                   status_slot;

    /* the locations with ws_push, for the events of a dead worker's */
    ngx_array_t                *push_locations;   /* ngx_http_conf_ctx_t */

    ngx_uint_t                  limit_zones;      /* ws_limit_message lines */
} ngx_ws_main_conf_t;


/* what a request without a client needs of the WebSocket's request */

typedef struct {
    void                      **main_conf;
    void                      **srv_conf;
    void                      **loc_conf;
    ngx_http_connection_t       hc;
    ngx_listening_t            *listening;
    struct sockaddr            *sockaddr;
    socklen_t                   socklen;
    struct sockaddr            *local_sockaddr;
    socklen_t                   local_socklen;
    ngx_str_t                   addr_text;
    ngx_str_t                   server;
    ngx_log_handler_pt          log_handler;
    ngx_http_log_handler_pt     request_log_handler;
    ngx_array_t                 headers;          /* ngx_table_elt_t */

    /* what limit_conn and limit_req decided for the handshake */
    unsigned                    limit_conn_status:2;
    unsigned                    limit_req_status:3;
} ngx_ws_fake_origin_t;


/* a payload framed once and written to many connections */

typedef struct {
    ngx_pool_t                 *pool;
    ngx_uint_t                  refs;
    u_char                     *frame;
    size_t                      len;
    size_t                      payload;          /* before compression */

    /* a channel message's: its channel, id and class (message-policy.md) */
    uint64_t                    uid;              /* or 0: not a message */
    uint64_t                    id;
    uint32_t                    hash;             /* of key */
    ngx_uint_t                  cls;              /* NGX_WS_CLASS_* */
    size_t                      key_len;
    u_char                     *key;              /* conflation key */
} ngx_ws_shared_t;


/*
 * The class of a channel message and its conflation key, given by the
 * publisher (docs/message-policy.md): what goes first when a subscriber
 * cannot keep up.
 */

#define NGX_WS_CLASS_NORMAL        0
#define NGX_WS_CLASS_DROPPABLE     1
#define NGX_WS_CLASS_CRITICAL      2

#define NGX_WS_MAX_CONFLATE        64

typedef struct {
    ngx_uint_t                  cls;
    ngx_str_t                   key;              /* empty: none */
} ngx_ws_policy_t;


typedef struct {
    ngx_ws_zone_t              *zone;
    ngx_http_complex_value_t    name;
} ngx_ws_channel_conf_t;


/* ws_limit_messages, ws_limit_bytes: a bucket in thousandths of a unit */

typedef struct {
    uint64_t                    rate;             /* per second, x 1000 */
    uint64_t                    burst;            /* x 1000 */
} ngx_ws_limit_t;


/* ws_limit_message: a limit_req_zone shared by connections (ngx_ws_limit.c) */

typedef struct {
    ngx_shm_zone_t             *shm_zone;
    ngx_uint_t                  burst;            /* x 1000 */
    ngx_uint_t                  close;            /* 1008, not a delay */
} ngx_ws_limit_zone_t;


typedef struct {
    ngx_str_t                   scheme;
    ngx_str_t                   host;
    ngx_str_t                   port;
    unsigned                    wildcard:1;
} ngx_ws_origin_t;


/* ws_route: a route by message type (ngx_ws_route.c) */

#define NGX_WS_ROUTE_ECHO          0
#define NGX_WS_ROUTE_PASS          1
#define NGX_WS_ROUTE_PUBLISH       2
#define NGX_WS_ROUTE_REPLY         3

typedef struct {
    ngx_str_t                   value;            /* type, default, binary */
    ngx_uint_t                  action;           /* NGX_WS_ROUTE_* */
    ngx_http_complex_value_t    arg;              /* URI, channel, reply */
    ngx_ws_zone_t              *zone;             /* publish */
    ngx_uint_t                  cls;              /* publish class= */
    ngx_http_complex_value_t   *conflate;         /* publish conflate= */
} ngx_ws_route_t;


/* what an upstream event of a routed message carries, in its pool */

typedef struct {
    ngx_str_t                   uri;
    ngx_str_t                   args;
    ngx_str_t                   route;            /* X-WS-Route */
    ngx_str_t                   type;             /* X-WS-Message-Type-Field */
    ngx_str_t                   correlation;      /* X-WS-Correlation-Id */
} ngx_ws_routed_t;


typedef struct {
    ngx_flag_t                  enable;
    ngx_flag_t                  echo;

    ngx_array_t                *origins;          /* ngx_ws_origin_t */
    ngx_flag_t                  origin_none;

    ngx_array_t                *subprotocols;     /* ngx_str_t */
    ngx_flag_t                  subprotocol_required;

    size_t                      max_frame_size;
    size_t                      max_message_size;
    size_t                      send_buffer;

    ngx_msec_t                  ping_interval;
    ngx_msec_t                  pong_timeout;
    ngx_msec_t                  idle_timeout;
    ngx_msec_t                  close_timeout;
    ngx_msec_t                  send_timeout;
    ngx_msec_t                  shutdown_delay;
    ngx_msec_t                  drain_window;

    ngx_str_t                   pass;              /* ws_pass */
    ngx_str_t                   on_connect;
    ngx_str_t                   on_disconnect;
    ngx_uint_t                  pass_queue;
    ngx_uint_t                  pass_error;
    ngx_uint_t                  pass_format;

    ngx_str_t                   auth_request;
    ngx_array_t                *auth_pass_headers; /* ngx_str_t */

    ngx_array_t                *subscribe;         /* ngx_ws_channel_conf_t */
    ngx_ws_channel_conf_t      *publish;
    ngx_ws_zone_t              *push;
    ngx_ws_zone_t              *publisher;
    ngx_ws_zone_t              *connections;      /* ws_connections */
    ngx_uint_t                  push_location;    /* in push_locations */
    ngx_http_complex_value_t   *last_id;
    ngx_http_complex_value_t   *presence;
    ngx_flag_t                  envelope;
    ngx_uint_t                  slow_subscriber;
    ngx_uint_t                  publish_class;    /* NGX_WS_CLASS_* */
    ngx_http_complex_value_t   *publish_conflate;
    ngx_http_complex_value_t   *snapshot;         /* ws_snapshot */
    ngx_uint_t                  snapshot_error;
    ngx_msec_t                  snapshot_timeout;

    ngx_ws_limit_t             *limit_messages;
    ngx_ws_limit_t             *limit_bytes;
    ngx_uint_t                  limit_action;
    ngx_array_t                *limit_zones;      /* ngx_ws_limit_zone_t */

    ngx_flag_t                  deflate;
    ngx_uint_t                  deflate_level;
    ngx_uint_t                  deflate_window_bits;
    ngx_uint_t                  deflate_mem_level;
    size_t                      deflate_min_length;
    ngx_flag_t                  deflate_takeover;

    ngx_uint_t                  security_log_level;

    ngx_array_t                *routes;           /* ngx_ws_route_t */
    ngx_ws_route_t             *route_default;
    ngx_ws_route_t             *route_binary;
    ngx_uint_t                  route_pass;       /* a pass route */
    ngx_str_t                   route_field;
    ngx_str_t                   route_correlation;
    ngx_uint_t                  route_error;      /* 0 reply, or close */
    ngx_uint_t                  route_error_code; /* 0: by the case */

    /* ws_message_auth_* (ngx_ws_msgauth.c) */
    ngx_str_t                   msgauth;          /* the auth URI */
    ngx_msec_t                  msgauth_allow;    /* cache times */
    ngx_msec_t                  msgauth_deny;
    ngx_uint_t                  msgauth_error;    /* 0 reply, or close */
    ngx_uint_t                  msgauth_error_code;
    /* EventSource subscribers (ngx_ws_sse.c) */
    ngx_flag_t                  sse;
    ngx_msec_t                  sse_retry;
    ngx_msec_t                  sse_heartbeat;

    /* long-poll subscribers (ngx_ws_longpoll.c) */
    ngx_flag_t                  longpoll;
    ngx_msec_t                  longpoll_timeout;

    /* nothing reads the request after the upgrade: it can be released */
    ngx_flag_t                  release_request;
} ngx_ws_loc_conf_t;


/* what ws_auth_request learned before the upgrade */

typedef struct {
    ngx_uint_t                  done;
    ngx_uint_t                  status;
    ngx_http_request_t         *subrequest;
    ngx_array_t                 headers;           /* ngx_table_elt_t */

    /* the channels shown to the auth service: the ones joined */
    ngx_str_t                  *subscribe;         /* one per ws_subscribe */
    ngx_str_t                   publish;
    unsigned                    channels:1;        /* evaluated */
} ngx_ws_auth_ctx_t;


typedef struct ngx_ws_event_ctx_s  ngx_ws_event_ctx_t;

/*
 * The one type in the module's ctx slot of a request: what
 * ws_auth_request learned (before the upgrade), the WebSocket (after it),
 * or, on the fake request of an upstream event, that event; and nginx's
 * log handler of the request once ngx_ws_log_error() has replaced it.
 * Read and set with ngx_ws_ctx_*() only.
 */

/*
 * What else a request of the module may carry, each kind its own: an event
 * stream or a long poll (ngx_ws_sse.c, ngx_ws_longpoll.c), the subrequest
 * of a message's authorization (ngx_ws_msgauth.c), that of a snapshot
 * (ngx_ws_snapshot.c).
 */

#define NGX_WS_CTX_SSE             0
#define NGX_WS_CTX_MSGAUTH         1
#define NGX_WS_CTX_SNAPSHOT        2
#define NGX_WS_CTX_PARTS           3

typedef struct {
    ngx_ws_auth_ctx_t          *auth;
    ngx_ws_conn_t              *ws;
    ngx_ws_event_ctx_t         *event;
    void                       *part[NGX_WS_CTX_PARTS];
    ngx_http_log_handler_pt     log_handler;
} ngx_ws_ctx_t;


/* a message (or a control frame) on its way out, in its own pool */

struct ngx_ws_msg_s {
    ngx_ws_msg_t               *next;
    ngx_pool_t                 *pool;
    ngx_ws_shared_t            *shared;           /* or a shared frame */

    ngx_chain_t                 head;
    ngx_chain_t                 body;
    ngx_buf_t                   head_buf;
    ngx_buf_t                   body_buf;

    size_t                      size;             /* frame bytes */
    size_t                      mem;              /* memory held */
    u_char                      header[10];
};


typedef enum {
    ngx_ws_st_head = 0,
    ngx_ws_st_payload
} ngx_ws_state_e;


/* what ngx_ws_parse() found (ngx_ws_parse.c) */

typedef enum {
    NGX_WS_PARSE_AGAIN = 0,
    NGX_WS_PARSE_BYTES,
    NGX_WS_PARSE_CONTROL,
    NGX_WS_PARSE_MESSAGE,
    NGX_WS_PARSE_ERROR
} ngx_ws_parse_e;


/* the parser (or inflate) found why the connection must fail */

#define ngx_ws_parse_error(ws, code, reason)                                  \
    (ws)->parse.err_code = (code);                                            \
    (ws)->parse.err_reason = (reason)


/*
 * Why the input of a connection is not parsed now (ws->hold, a mask): any
 * bit stops the parser at the next message and the reading of the socket;
 * the part that set a bit clears it and posts the read event
 */

#define NGX_WS_HOLD_OUTPUT      0x01    /* the output queue is full */
#define NGX_WS_HOLD_ROUTES      0x02    /* the ws_pass queue is full */
#define NGX_WS_HOLD_AUTH        0x04    /* ws_message_auth_request waits */
#define NGX_WS_HOLD_LIMIT       0x08    /* a rate limit paused reading */
#define NGX_WS_HOLD_OWN         0x10    /* its own publish goes first */


struct ngx_ws_conn_s {
    uint32_t                    signature;        /* NGX_WS_SIGNATURE */
    ngx_http_request_t         *request;          /* NULL once released */
    ngx_connection_t           *connection;
    ngx_ws_loc_conf_t          *conf;

    /*
     * what lives as long as the connection is allocated from pool: the
     * request's, or the connection's when the request is to be released
     * once upgraded (ngx_ws_request_release())
     */
    ngx_pool_t                 *pool;

    /* what the access log needs of a released request (ngx_ws_release.c) */
    struct {
        u_char                 *raw;              /* its line and headers */
        u_char                 *host;             /* the validated Host */
        ngx_http_connection_t  *hc;
        void                  **srv_conf;
        void                  **loc_conf;
        ngx_ws_kept_extra_t    *extra;            /* or NULL */
        ngx_http_log_handler_pt log_handler;      /* nginx's, or seclog's */
        time_t                  start_sec;
        ngx_msec_t              start_msec;
        uint32_t                raw_len;
        uint32_t                request_length;   /* as read: raw's room */
        uint32_t                header_size;
        uint16_t                host_len;         /* or 0 */
        unsigned                stat_writing:1;

        /* the request's own flags that variables and the log read */
        unsigned                valid_location:1; /* $request_filename */
        unsigned                limit_req_status:3;
        unsigned                limit_conn_status:2;
        unsigned                pipeline:1;       /* $pipe */
        unsigned                request_complete:1;
    } kept;

    ngx_ws_conn_state_e         conn_state;        /* NGX_WS_CONN_* */

    ngx_str_t                   id;
    ngx_str_t                   subprotocol;
    ngx_ws_auth_ctx_t          *auth;
    ngx_ws_session_t           *session;          /* upstream events */
    ngx_ws_deflate_t           *deflate;          /* permessage-deflate */
    ngx_ws_msgauth_t           *msgauth;          /* message auth, cache */

    /* input not parsed yet while parsing is paused */
    u_char                     *stash;
    size_t                      stash_off;         /* where they begin */
    size_t                      stash_len;

    /* the frame parser (ngx_ws_parse.c) */
    struct {
        ngx_ws_state_e          state;
        ngx_uint_t              opcode;           /* of the current frame */
        uint64_t                frame_left;
        u_char                  mask[4];
        ngx_uint_t              mask_off;
        u_char                  hbuf[NGX_WS_MAX_HEADER];
        size_t                  hlen;
        uint32_t                utf8_state;

        size_t                  bytes;            /* NGX_WS_PARSE_BYTES */
        ngx_uint_t              err_code;         /* NGX_WS_PARSE_ERROR */
        const char             *err_reason;

        /* the control frame being assembled */
        u_char                  ctl[NGX_WS_MAX_CONTROL];
        size_t                  ctl_len;

        unsigned                fin:1;
        unsigned                in_message:1;
        unsigned                charged:1;        /* bytes are */
    } parse;

    /* the data message being assembled, in its own pool */
    struct {
        ngx_pool_t             *pool;
        u_char                 *start;
        size_t                  len;
        size_t                  cap;
        ngx_uint_t              opcode;
    } msg;

    /* the output queue (ngx_ws_output.c) */
    struct {
        ngx_ws_msg_t           *head;
        ngx_ws_msg_t          **last;
        ngx_ws_msg_t           *free;             /* for shared frames */
        ngx_uint_t              nfree;
        ngx_ws_msg_t           *pong;             /* not started yet */
        size_t                  queued;           /* frame bytes not sent */
        size_t                  mem;              /* memory the queue holds */
    } out;

    /* rate limits (ngx_ws_limit.c): the buckets' excess, x 1000 */
    struct {
        uint64_t                excess;           /* messages */
        uint64_t                bexcess;          /* bytes */
        ngx_msec_t              last;
        ngx_event_t            *ev;               /* on the first delay */
        unsigned                logged:1;
        unsigned                zlogged:1;        /* ws_limit_message */
        unsigned                closed:1;         /* ws_limit_message */
    } limit;

    /*
     * beat: ws_ping_interval and ws_idle_timeout, each due at its time
     * (ngx_ws_beat_handler()); end: the drain before a shutdown's Close,
     * then ws_close_timeout from our Close on
     */
    struct {
        ngx_event_t             beat;
        ngx_event_t             end;
        ngx_msec_t              ping_at;
        ngx_msec_t              idle_at;
        ngx_msec_t              last_recv;
        ngx_msec_t              last_data;
        unsigned                ping_sent:1;
    } timer;

    /* what the $ws_* variables and the status page report */
    struct {
        time_t                  start_sec;
        ngx_msec_t              start_msec;
        uint64_t                messages_in;
        uint64_t                messages_out;
        uint64_t                bytes_in;         /* data payload bytes */
        uint64_t                bytes_out;
        ngx_str_t               channels;         /* at the close */
        ngx_ws_counters_t      *shared;           /* in its record */
    } stat;

    /* the message being routed by type (ngx_ws_route.c), for variables */
    struct {
        ngx_str_t               type;             /* the field's value */
        ngx_str_t               correlation;
    } route;

    /* channels */
    ngx_queue_t                 subs;             /* ngx_ws_sub_t */
    ngx_str_t                   publish;
    ngx_str_t                   member;           /* ws_presence, or "" */

    /* how it ended, for the variables and the status page too */
    ngx_uint_t                  close_code;       /* sent */
    ngx_uint_t                  peer_close_code;  /* received */
    ngx_str_t                   close_reason;     /* of the first Close */
    ngx_uint_t                  end;              /* NGX_WS_END_* */

    unsigned                    close_sent:1;     /* our Close queued */
    unsigned                    close_received:1; /* the client's read */
    unsigned                    closed_by_server:1;
    unsigned                    hold:5;           /* NGX_WS_HOLD_* */
    unsigned                    route_replay:1;   /* a held message runs
                                                     again */
    unsigned                    unsubscribe:1;    /* a slow subscriber */
    unsigned                    compacted:1;      /* header buffer freed */
};


/*
 * The routes as the engine sees them: ngx_ws_route.c fills them in at
 * configuration time (ngx_ws_route_init(), from the module's
 * postconfiguration, as a filter sets ngx_http_top_header_filter), and
 * ngx_ws_conn.c calls through them; the engine names no route.
 *
 *   open     the connection is upgraded: NGX_OK, or NGX_ERROR to abort;
 *   message  a complete data message, ws->msg.opcode, ws->msg.start and
 *            ws->msg.len in pool (NULL when empty; the pool is the
 *            route's): NGX_OK or the close code to fail the connection;
 *   leave    the connection takes nothing more from others: its close
 *            handshake is over, or a route set ws->unsubscribe;
 *   drain    the worker shuts down and is about to close the connection:
 *            NGX_OK with the close reason that tells the client where to
 *            resume from written to buf (at most size bytes with the
 *            final NUL), or NGX_DECLINED;
 *   close    the connection is about to be freed.
 */

typedef ngx_int_t (*ngx_ws_open_pt)(ngx_ws_conn_t *ws);
typedef ngx_int_t (*ngx_ws_message_pt)(ngx_ws_conn_t *ws, ngx_pool_t *pool);
typedef ngx_int_t (*ngx_ws_drain_pt)(ngx_ws_conn_t *ws, u_char *buf,
    size_t size);
typedef void (*ngx_ws_close_pt)(ngx_ws_conn_t *ws);

typedef struct {
    ngx_ws_open_pt              open;
    ngx_ws_message_pt           message;
    ngx_ws_close_pt             leave;
    ngx_ws_drain_pt             drain;
    ngx_ws_close_pt             close;
} ngx_ws_routes_t;


ngx_int_t ngx_ws_handshake_handler(ngx_http_request_t *r);
ngx_int_t ngx_ws_random_init_process(ngx_cycle_t *cycle);
void ngx_ws_random_exit_process(ngx_cycle_t *cycle);
ngx_int_t ngx_ws_random_id(ngx_pool_t *pool, ngx_log_t *log, ngx_str_t *id);

void ngx_ws_conn_init(ngx_ws_conn_t *ws);
void ngx_ws_conn_exit_process(ngx_cycle_t *cycle);
void ngx_ws_read_handler(ngx_event_t *rev);
void ngx_ws_write_handler(ngx_event_t *wev);
void ngx_ws_end(ngx_ws_conn_t *ws, ngx_uint_t how, ngx_uint_t code,
    const char *reason);
u_char *ngx_ws_input(ngx_ws_conn_t *ws, u_char *pos, u_char *end);

void ngx_ws_handle_output(ngx_ws_conn_t *ws);
void ngx_ws_post_delivery(ngx_ws_conn_t *ws);
void ngx_ws_resume(ngx_ws_conn_t *ws);
void ngx_ws_set_end(ngx_ws_conn_t *ws, ngx_uint_t end);
ngx_uint_t ngx_ws_end_code(ngx_ws_conn_t *ws);

ngx_int_t ngx_ws_route_init(ngx_conf_t *cf);
char *ngx_ws_route_conf(ngx_conf_t *cf, ngx_command_t *cmd, void *conf);
char *ngx_ws_route_error_conf(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
char *ngx_ws_route_merge(ngx_conf_t *cf, ngx_ws_loc_conf_t *conf,
    ngx_ws_loc_conf_t *prev);
ngx_int_t ngx_ws_route_typed(ngx_ws_conn_t *ws, ngx_pool_t *pool);

/*
 * ws_message_auth_request (ngx_ws_msgauth.c): ngx_ws_msgauth_check()
 * answers NGX_OK (allowed), NGX_DECLINED (refused, *status says why, and
 * *cached whether the answer was remembered from an earlier message),
 * NGX_AGAIN (asked: the message and pool are held, parsing pauses, and
 * ngx_ws_msgauth_replay is called with them once the answer is in) or
 * NGX_ERROR.  The replay pointer is set by ngx_ws_route_init().
 */

typedef ngx_int_t (*ngx_ws_replay_pt)(ngx_ws_conn_t *ws, ngx_pool_t *pool);

char *ngx_ws_msgauth_cache_conf(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
char *ngx_ws_msgauth_error_conf(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
char *ngx_ws_msgauth_merge(ngx_conf_t *cf, ngx_ws_loc_conf_t *conf,
    ngx_ws_loc_conf_t *prev);
ngx_int_t ngx_ws_msgauth_check(ngx_ws_conn_t *ws, ngx_pool_t *pool,
    ngx_str_t *type, ngx_str_t *route, ngx_str_t *channel,
    ngx_uint_t *status, ngx_uint_t *cached);
void ngx_ws_msgauth_revoke(ngx_ws_conn_t *ws, ngx_uint_t close);
ngx_int_t ngx_ws_msgauth_identity(ngx_ws_conn_t *ws, ngx_str_t *name,
    ngx_str_t *value);
void ngx_ws_msgauth_detach(ngx_ws_conn_t *ws);

ngx_ws_parse_e ngx_ws_parse(ngx_ws_conn_t *ws, u_char **pos, u_char *end);

char *ngx_ws_limit_conf(ngx_conf_t *cf, ngx_command_t *cmd, void *conf);
ngx_int_t ngx_ws_limit(ngx_ws_conn_t *ws);
ngx_int_t ngx_ws_limit_bytes(ngx_ws_conn_t *ws, size_t size);
void ngx_ws_limit_lift(ngx_ws_conn_t *ws);
char *ngx_ws_limit_zone_conf(ngx_conf_t *cf, ngx_command_t *cmd, void *conf);
ngx_int_t ngx_ws_limit_init_module(ngx_cycle_t *cycle);
ngx_http_complex_value_t *ngx_ws_limit_zone_key(ngx_ws_limit_zone_t *lz);
ngx_int_t ngx_ws_limit_message(ngx_ws_conn_t *ws, ngx_str_t *keys);

ngx_int_t ngx_ws_auth_init(ngx_conf_t *cf);
ngx_int_t ngx_ws_channel_names(ngx_http_request_t *r, ngx_ws_loc_conf_t *wlcf,
    ngx_ws_auth_ctx_t *ctx);
ngx_int_t ngx_ws_add_variables(ngx_conf_t *cf);
u_char *ngx_ws_log_error(ngx_http_request_t *r, ngx_http_request_t *sr,
    u_char *buf, size_t len);

ngx_int_t ngx_ws_seclog_init(ngx_conf_t *cf);
void ngx_cdecl ngx_ws_security_refused(ngx_http_request_t *r,
    ngx_int_t status, const char *fmt, ...);
void ngx_cdecl ngx_ws_security_closed(ngx_ws_conn_t *ws, ngx_uint_t code,
    ngx_err_t err, const char *fmt, ...);
void ngx_cdecl ngx_ws_security_denied(ngx_ws_conn_t *ws, ngx_uint_t level,
    ngx_uint_t status, const char *fmt, ...);

ngx_table_elt_t *ngx_ws_find_header(ngx_list_t *headers, ngx_str_t *name,
    ngx_table_elt_t *after);
ngx_uint_t ngx_ws_content_opcode(ngx_str_t *type);
ngx_uint_t ngx_ws_module_header(ngx_str_t *name);
ngx_uint_t ngx_ws_header_name_eq(u_char *a, u_char *b, size_t n);
ngx_ws_auth_ctx_t *ngx_ws_ctx_auth(ngx_http_request_t *r);
ngx_ws_event_ctx_t *ngx_ws_ctx_event(ngx_http_request_t *r);
ngx_int_t ngx_ws_ctx_set_auth(ngx_http_request_t *r, ngx_ws_auth_ctx_t *auth);
void *ngx_ws_ctx_part(ngx_http_request_t *r, ngx_uint_t part);
ngx_int_t ngx_ws_ctx_set_part(ngx_http_request_t *r, ngx_uint_t part,
    void *data);
ngx_int_t ngx_ws_ctx_set_conn(ngx_http_request_t *r, ngx_ws_conn_t *ws);
ngx_int_t ngx_ws_ctx_set_event(ngx_http_request_t *r,
    ngx_ws_event_ctx_t *event);
ngx_int_t ngx_ws_ctx_set_log_handler(ngx_http_request_t *r,
    ngx_http_log_handler_pt handler);
ngx_http_log_handler_pt ngx_ws_ctx_log_handler(ngx_http_request_t *r);

ngx_int_t ngx_ws_fake_origin_conf(ngx_ws_fake_origin_t *o,
    ngx_http_conf_ctx_t *ctx, ngx_listening_t *ls, struct sockaddr *sa,
    socklen_t socklen, ngx_str_t *addr_text, ngx_str_t *server,
    ngx_pool_t *pool);
ngx_int_t ngx_ws_fake_origin(ngx_ws_fake_origin_t *o, ngx_http_request_t *r,
    ngx_pool_t *pool);
ngx_http_request_t *ngx_ws_fake_request(ngx_ws_fake_origin_t *o,
    ngx_log_t *log, ngx_str_t *uri, u_char *data, size_t len);
ngx_http_request_t *ngx_ws_fake_request_sized(ngx_ws_fake_origin_t *o,
    ngx_log_t *log, ngx_str_t *uri, ngx_str_t *line, u_char *data,
    size_t len, size_t size);
ngx_int_t ngx_ws_fake_request_line(ngx_str_t *line, ngx_pool_t *pool,
    ngx_str_t *uri);
void ngx_ws_fake_request_free(ngx_http_request_t *fr);
void ngx_ws_fake_request_close(ngx_http_request_t *fr);
ngx_int_t ngx_ws_request_compact(ngx_http_request_t *r);
u_char *ngx_ws_log_error_connection(ngx_log_t *log, u_char *buf, size_t len);
ngx_uint_t ngx_ws_request_releasable(ngx_http_request_t *r);
ngx_int_t ngx_ws_request_release(ngx_ws_conn_t *ws);
void ngx_ws_request_finalize(ngx_ws_conn_t *ws);
ngx_int_t ngx_ws_fake_request_body(ngx_http_request_t *fr, u_char *data,
    size_t len);
ngx_int_t ngx_ws_fake_add_header(ngx_http_request_t *r, char *name,
    u_char *value, size_t len);
ngx_int_t ngx_ws_fake_header(ngx_array_t *headers, ngx_pool_t *pool,
    char *name, u_char *value, size_t len);
ngx_int_t ngx_ws_fake_add_headers(ngx_http_request_t *r,
    ngx_array_t *headers);

ngx_int_t ngx_ws_session_create(ngx_ws_conn_t *ws);
ngx_int_t ngx_ws_session_message(ngx_ws_conn_t *ws, ngx_uint_t opcode,
    ngx_pool_t *pool, u_char *data, size_t len);
ngx_int_t ngx_ws_session_routed(ngx_ws_conn_t *ws, ngx_uint_t opcode,
    ngx_pool_t *pool, u_char *data, size_t len, ngx_ws_routed_t *routed);
void ngx_ws_session_detach(ngx_ws_conn_t *ws);
ngx_int_t ngx_ws_origin_headers(ngx_ws_fake_origin_t *o, ngx_pool_t *pool,
    ngx_ws_conn_t *ws);
ngx_int_t ngx_ws_snapshot_init_conf(ngx_conf_t *cf);
ngx_int_t ngx_ws_session_orphan(ngx_ws_loc_conf_t *wlcf, ngx_pool_t *pool,
    ngx_ws_fake_origin_t *o, ngx_str_t *id, ngx_str_t *uri,
    ngx_str_t *subprotocol, char *reason);
ngx_int_t ngx_ws_orphans_init_process(ngx_cycle_t *cycle);

ngx_int_t ngx_ws_send_shared(ngx_ws_conn_t *ws, ngx_ws_shared_t *sh);
size_t ngx_ws_shared_mem(ngx_ws_shared_t *sh);
ngx_uint_t ngx_ws_drop_output(ngx_ws_conn_t *ws, size_t limit);
ngx_uint_t ngx_ws_drop_output_class(ngx_ws_conn_t *ws, size_t limit,
    ngx_uint_t classes);
ngx_uint_t ngx_ws_conflate_output(ngx_ws_conn_t *ws, ngx_ws_shared_t *sh);
ngx_uint_t ngx_ws_output_waiting(ngx_ws_conn_t *ws, ngx_uint_t classes);

char *ngx_ws_zone(ngx_conf_t *cf, ngx_command_t *cmd, void *conf);
char *ngx_ws_zone_ref(ngx_conf_t *cf, ngx_str_t *name, ngx_ws_zone_t **zp);
ngx_int_t ngx_ws_notify_init_module(ngx_cycle_t *cycle);
ngx_int_t ngx_ws_zone_init_process(ngx_cycle_t *cycle);
void ngx_ws_zone_exit_process(ngx_cycle_t *cycle);
ngx_int_t ngx_ws_channel_init_conf(ngx_conf_t *cf);
ngx_int_t ngx_ws_sse_init_conf(ngx_conf_t *cf);
char *ngx_ws_sse_conf(ngx_conf_t *cf, ngx_command_t *cmd, void *conf);
ngx_int_t ngx_ws_sse_cors(ngx_http_request_t *r);
ngx_int_t ngx_ws_sse_request_check(ngx_http_request_t *r,
    ngx_ws_loc_conf_t *wlcf, char *directive);
ngx_int_t ngx_ws_stream_start(ngx_http_request_t *r, ngx_ws_stream_t *st,
    ngx_str_t *names, ngx_uint_t n);
void ngx_ws_stream_watch(ngx_http_request_t *r, ngx_ws_stream_t *st);
void ngx_ws_stream_unwatch(ngx_http_request_t *r);
ngx_msec_t ngx_ws_stream_drain_delay(ngx_ws_loc_conf_t *wlcf);
ngx_int_t ngx_ws_longpoll_init_conf(ngx_conf_t *cf);
char *ngx_ws_longpoll_conf(ngx_conf_t *cf, ngx_command_t *cmd, void *conf);
ngx_int_t ngx_ws_check_origin(ngx_http_request_t *r, ngx_ws_loc_conf_t *wlcf);
ngx_int_t ngx_ws_channels_init(ngx_ws_conn_t *ws);
ngx_int_t ngx_ws_channel_join(ngx_ws_conn_t *ws, ngx_str_t *name);
void ngx_ws_channel_part(ngx_ws_conn_t *ws, ngx_str_t *name);
void ngx_ws_channels_release(ngx_ws_conn_t *ws);
ngx_int_t ngx_ws_channels_list(ngx_ws_conn_t *ws, ngx_pool_t *pool,
    ngx_str_t *list);
ngx_int_t ngx_ws_channels_resume_hint(ngx_ws_conn_t *ws, u_char *buf,
    size_t size);
ngx_int_t ngx_ws_channel_publish_message(ngx_ws_conn_t *ws,
    ngx_ws_policy_t *pol, ngx_uint_t opcode, u_char *data, size_t len);
ngx_int_t ngx_ws_channel_publish_to(ngx_ws_conn_t *ws, ngx_ws_zone_t *zone,
    ngx_str_t *name, ngx_uint_t opcode, u_char *data, size_t len);
ngx_int_t ngx_ws_channel_publish_pol(ngx_ws_conn_t *ws, ngx_ws_zone_t *zone,
    ngx_str_t *name, ngx_ws_policy_t *pol, ngx_uint_t opcode, u_char *data,
    size_t len);
ngx_int_t ngx_ws_policy_class(ngx_str_t *value, ngx_uint_t *cls);
ngx_int_t ngx_ws_publisher_handler(ngx_http_request_t *r);
ngx_int_t ngx_ws_conns_handler(ngx_http_request_t *r);

#define NGX_WS_UTF8_ACCEPT  0
#define NGX_WS_UTF8_REJECT  0xffffffff

uint32_t ngx_ws_utf8_validate(uint32_t state, u_char *p, size_t len);

ngx_int_t ngx_ws_reserve(ngx_ws_conn_t *ws, size_t size);

/* the free bytes in front of a message's payload: a server frame header */
#define NGX_WS_FRAME_ROOM     10

/*
 * What the parser keeps free in front of a message: with ws_echo, the
 * ngx_ws_msg_t of the frame that echoes it too (ngx_ws_send_parsed()), at
 * the aligned start of the allocation
 */
#define ngx_ws_msg_room(ws)                                                   \
    (NGX_WS_FRAME_ROOM + ((ws)->conf->echo ? sizeof(ngx_ws_msg_t) : 0))

/* the pool of a small message, reused (ngx_ws_pool.c) */
#define NGX_WS_MSG_POOL_SIZE      1024

/* the pool of a control frame, reused too */
#define NGX_WS_CONTROL_POOL_SIZE  512

ngx_pool_t *ngx_ws_pool_get(ngx_log_t *log);
ngx_pool_t *ngx_ws_control_pool_get(ngx_log_t *log);
ngx_pool_t *ngx_ws_pool_for(size_t len, ngx_log_t *log);
void ngx_ws_pool_free(ngx_pool_t *pool);
void ngx_ws_pool_free_all(void);
ngx_pool_t *ngx_ws_pool_get_request(size_t size, ngx_log_t *log);
void ngx_ws_pool_free_request(ngx_pool_t *pool);

ngx_int_t ngx_ws_deflate_negotiate(ngx_http_request_t *r, ngx_ws_conn_t *ws,
    ngx_str_t *answer);
ngx_uint_t ngx_ws_deflate_inflating(ngx_ws_deflate_t *deflate);

/* per frame: a connection without permessage-deflate pays no call */
#define ngx_ws_inflating(ws)                                                  \
    ((ws)->deflate && ngx_ws_deflate_inflating((ws)->deflate))

ngx_int_t ngx_ws_inflate_begin(ngx_ws_conn_t *ws);
ngx_int_t ngx_ws_inflate_frame(ngx_ws_conn_t *ws, uint64_t len);
ngx_int_t ngx_ws_inflate(ngx_ws_conn_t *ws, u_char *in, size_t len,
    ngx_uint_t last);
ngx_int_t ngx_ws_deflate_message(ngx_ws_conn_t *ws, ngx_pool_t *pool,
    u_char **data, size_t *len);
ngx_ws_shared_t *ngx_ws_deflate_shared(ngx_ws_conn_t *ws,
    ngx_ws_shared_t *sh);
ngx_uint_t ngx_ws_deflate_key(ngx_ws_conn_t *ws);

ngx_int_t ngx_ws_send_frame(ngx_ws_conn_t *ws, ngx_uint_t opcode, u_char *data,
    size_t len);
ngx_int_t ngx_ws_send_message(ngx_ws_conn_t *ws, ngx_uint_t opcode,
    ngx_pool_t *pool, u_char *data, size_t len);
ngx_int_t ngx_ws_send_room(ngx_ws_conn_t *ws, ngx_uint_t opcode,
    ngx_pool_t *pool, u_char *data, size_t len);
ngx_int_t ngx_ws_send_parsed(ngx_ws_conn_t *ws, ngx_uint_t opcode,
    ngx_pool_t *pool, u_char *data, size_t len);
ngx_int_t ngx_ws_send_pong(ngx_ws_conn_t *ws, u_char *data, size_t len);
ngx_int_t ngx_ws_send_close(ngx_ws_conn_t *ws, ngx_uint_t code,
    const char *reason);
ngx_int_t ngx_ws_flush(ngx_ws_conn_t *ws);
ngx_int_t ngx_ws_close_now(ngx_ws_conn_t *ws, ngx_uint_t code,
    u_char *reason, size_t len);
void ngx_ws_free_output(ngx_ws_conn_t *ws);


ngx_int_t ngx_ws_status_add_zone(ngx_conf_t *cf);
ngx_int_t ngx_ws_status_init_module(ngx_cycle_t *cycle);
ngx_uint_t ngx_ws_status_retired(void);
ngx_uint_t ngx_ws_status_generation(void);
ngx_int_t ngx_ws_status_init_process(ngx_cycle_t *cycle);
void ngx_ws_status_exit_process(ngx_cycle_t *cycle);
ngx_int_t ngx_ws_status_handler(ngx_http_request_t *r);
char *ngx_ws_status(ngx_conf_t *cf, ngx_command_t *cmd, void *conf);
void ngx_ws_stat_reject(ngx_uint_t status);
void ngx_ws_stat_close(ngx_uint_t code, ngx_uint_t end);
void ngx_ws_stat_event(ngx_uint_t status);
void ngx_ws_stat_route(ngx_str_t *name, ngx_uint_t err);


extern ngx_ws_stats_t  *ngx_ws_stats;
extern ngx_str_t        ngx_ws_route_errors[];
extern ngx_ws_routes_t  ngx_ws_routes;
extern ngx_ws_replay_pt ngx_ws_msgauth_replay;
extern ngx_module_t     ngx_ws_module;


/* the WebSocket of a request: on every read and write event, so inline */

static ngx_inline ngx_ws_conn_t *
ngx_ws_ctx_conn(ngx_http_request_t *r)
{
    ngx_ws_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_ws_module);

    return ctx ? ctx->ws : NULL;
}


/*
 * The WebSocket of an upgraded connection: c->data is its request, or,
 * once the request is released, the WebSocket itself
 */

static ngx_inline ngx_ws_conn_t *
ngx_ws_conn_of(ngx_connection_t *c)
{
    if (*(uint32_t *) c->data == NGX_WS_SIGNATURE) {
        return c->data;
    }

    return ngx_ws_ctx_conn(c->data);
}


#endif /* _NGX_WS_MODULE_H_INCLUDED_ */
