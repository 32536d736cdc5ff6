
/*
 * Copyright (C) ngx_ws_module authors
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include "ngx_ws_module.h"


/*
 * ws_pass, ws_on_connect, ws_on_disconnect: every event of a WebSocket
 * becomes a POST subrequest to an internal location, where proxy_pass and
 * the rest of nginx's upstream machinery take over.
 *
 * A WebSocket request lives for hours, and subrequests allocate from their
 * parent's pool, so each event is issued from a fake request of its own: a
 * pool, a request and a connection without a socket, all freed when the
 * event's response has been handled.  Nothing grows per message on the
 * WebSocket's side.
 *
 * Events of one connection go out one at a time, in order; they wait in the
 * session, which outlives the WebSocket so that the disconnect event still
 * follows every earlier message.  When ws_pass_queue events wait, the engine
 * stops parsing and reading that client.
 */


#define NGX_WS_EVENT_CONNECT     0
#define NGX_WS_EVENT_MESSAGE     1
#define NGX_WS_EVENT_DISCONNECT  2

#define NGX_WS_REPLY_MAX_HEADER  128

/* an event's request pool, before the body of the websocket-events format */
#define NGX_WS_EVENT_POOL_SIZE   (6 * ngx_pagesize)


/* ws_pass_format websocket-events: the events of Pushpin's protocol */

#define NGX_WS_WSE_OPEN          0
#define NGX_WS_WSE_TEXT          1
#define NGX_WS_WSE_BINARY        2
#define NGX_WS_WSE_CLOSE         3
#define NGX_WS_WSE_DISCONNECT    4
#define NGX_WS_WSE_PING          5
#define NGX_WS_WSE_PONG          6

/* every event of the connection goes to ws_pass in this format */
#define ngx_ws_session_wse(conf)                                              \
    ((conf)->pass_format == NGX_WS_PASS_FORMAT_EVENTS && (conf)->pass.len)


typedef struct ngx_ws_event_s  ngx_ws_event_t;

struct ngx_ws_event_s {
    ngx_ws_event_t             *next;
    ngx_pool_t                 *pool;            /* the message's pool */
    ngx_uint_t                  type;
    ngx_uint_t                  opcode;
    u_char                     *data;
    size_t                      len;
    uint64_t                    seq;
    ngx_ws_routed_t            *routed;          /* ws_route, in pool */
};


struct ngx_ws_session_s {
    ngx_pool_t                 *pool;
    ngx_ws_conn_t              *ws;              /* NULL once it is gone */
    ngx_ws_loc_conf_t          *conf;
    ngx_log_t                  *log;

    ngx_ws_fake_origin_t        origin;          /* for fake requests */

    ngx_str_t                   id;
    ngx_str_t                   uri;             /* of the handshake */
    ngx_str_t                   subprotocol;

    /* made once for every event: see ngx_ws_session_prepare() */
    ngx_array_t                 headers;         /* ngx_table_elt_t */
    ngx_str_t                   request_line;    /* to ws_pass */

    ngx_ws_event_t             *head;
    ngx_ws_event_t            **last;
    ngx_ws_event_t             *free;
    ngx_uint_t                  queued;          /* waiting or in flight */
    uint64_t                    seq;

    ngx_http_request_t         *active;          /* the fake request */
    ngx_event_t                 next_ev;

    ngx_uint_t                  close_code;
    char                       *disconnect_reason;   /* without the ws */
    unsigned                    closed_by_server:1;
    unsigned                    dispatching:1;   /* keeps it alive */
};


/* one event in flight: lives in the fake request's pool */

struct ngx_ws_event_ctx_s {
    ngx_ws_session_t           *session;
    ngx_ws_event_t             *event;           /* and ->next: a batch */
    ngx_connection_t           *connection;      /* fake */

    ngx_uint_t                  status;
    ngx_pool_t                 *reply_pool;
    u_char                     *reply;
    size_t                      reply_len;
    ngx_uint_t                  reply_opcode;
    ngx_uint_t                  close_code;
    ngx_str_t                   close_reason;
    ngx_array_t                *join;            /* X-WS-Subscribe */
    ngx_array_t                *part;            /* X-WS-Unsubscribe */
    ngx_array_t                *identity;        /* X-WS-Identity-* */

    unsigned                    revoke:2;        /* X-WS-Revoke */
    unsigned                    done:1;
    unsigned                    finished:1;
};


static ngx_int_t ngx_ws_session_headers(ngx_ws_session_t *s,
    ngx_ws_conn_t *ws);
static ngx_int_t ngx_ws_session_prepare(ngx_ws_session_t *s);
static ngx_ws_event_t *ngx_ws_session_event(ngx_ws_session_t *s,
    ngx_uint_t type);
static void ngx_ws_session_enqueue(ngx_ws_session_t *s, ngx_ws_event_t *ev);
static ngx_int_t ngx_ws_session_queue(ngx_ws_conn_t *ws, ngx_uint_t opcode,
    ngx_pool_t *pool, u_char *data, size_t len, ngx_ws_routed_t *routed);
static void ngx_ws_session_next_handler(ngx_event_t *ev);
static ngx_uint_t ngx_ws_session_batch(ngx_ws_session_t *s,
    ngx_ws_event_t *ev);
static void ngx_ws_session_release(ngx_ws_session_t *s, ngx_ws_event_t *ev);
static ngx_str_t *ngx_ws_event_uri(ngx_ws_session_t *s, ngx_ws_event_t *ev);
static ngx_int_t ngx_ws_session_dispatch(ngx_ws_session_t *s,
    ngx_ws_event_t *ev, ngx_uint_t n);
static ngx_http_request_t *ngx_ws_event_request(ngx_ws_session_t *s,
    ngx_ws_event_t *ev);
static ngx_int_t ngx_ws_event_wse_body(ngx_ws_session_t *s,
    ngx_ws_event_t *ev, ngx_http_request_t *fr);
static ngx_int_t ngx_ws_event_wse_headers(ngx_ws_session_t *s,
    ngx_ws_event_t *ev, ngx_http_request_t *fr);
static u_char *ngx_ws_wse_hex(u_char *p, size_t n);
static ngx_int_t ngx_ws_wse_next(u_char **pos, u_char *last,
    ngx_uint_t *type, ngx_str_t *content, char **err);
static ngx_int_t ngx_ws_wse_check(ngx_ws_conn_t *ws, ngx_ws_event_ctx_t *ctx,
    ngx_uint_t *open);
static ngx_int_t ngx_ws_event_apply_wse(ngx_ws_session_t *s,
    ngx_ws_event_ctx_t *ctx);
static u_char *ngx_ws_event_log_error(ngx_http_request_t *r,
    ngx_http_request_t *sr, u_char *buf, size_t len);
static ngx_int_t ngx_ws_event_headers(ngx_ws_session_t *s, ngx_ws_event_t *ev,
    ngx_http_request_t *fr);
static ngx_int_t ngx_ws_event_response(ngx_http_request_t *sr, void *data,
    ngx_int_t rc);
static void ngx_ws_event_reply(ngx_ws_event_ctx_t *ctx,
    ngx_http_request_t *sr);
static void ngx_ws_event_reply_names(ngx_ws_event_ctx_t *ctx,
    ngx_list_t *headers, ngx_str_t *header, ngx_array_t **list);
static void ngx_ws_event_reply_auth(ngx_ws_event_ctx_t *ctx,
    ngx_list_t *headers);
static void ngx_ws_event_reply_close(ngx_ws_event_ctx_t *ctx,
    ngx_str_t *value, ngx_log_t *log);
static void ngx_ws_event_reply_body(ngx_ws_event_ctx_t *ctx,
    ngx_http_request_t *sr);
static void ngx_ws_event_finish(ngx_http_request_t *fr);
static void ngx_ws_event_cleanup(void *data);
static void ngx_ws_event_apply(ngx_ws_session_t *s, ngx_ws_event_ctx_t *ctx);
static void ngx_ws_session_done(ngx_ws_session_t *s);
static ngx_int_t ngx_ws_event_apply_auth(ngx_ws_conn_t *ws,
    ngx_ws_event_ctx_t *ctx);
static ngx_uint_t ngx_ws_sendable_close_code(ngx_int_t code);
static ngx_uint_t ngx_ws_auth_header(ngx_ws_loc_conf_t *wlcf,
    ngx_str_t *name);
static u_char *ngx_ws_strdupz(ngx_pool_t *pool, ngx_str_t *s);


static ngx_str_t  ngx_ws_event_names[] = {
    ngx_string("connect"),
    ngx_string("message"),
    ngx_string("disconnect")
};


/* in NGX_WS_WSE_* order */

static ngx_str_t  ngx_ws_wse_names[] = {
    ngx_string("OPEN"),
    ngx_string("TEXT"),
    ngx_string("BINARY"),
    ngx_string("CLOSE"),
    ngx_string("DISCONNECT"),
    ngx_string("PING"),
    ngx_string("PONG"),
    ngx_null_string
};


/* handshake headers that make no sense on an event request */

static ngx_str_t  ngx_ws_skip_headers[] = {
    ngx_string("Connection"),
    ngx_string("Upgrade"),
    ngx_string("Content-Length"),
    ngx_string("Content-Type"),
    ngx_string("Transfer-Encoding"),
    ngx_string("Keep-Alive"),
    ngx_string("Sec-WebSocket-Key"),
    ngx_string("Sec-WebSocket-Version"),
    ngx_string("Sec-WebSocket-Extensions"),
    ngx_null_string
};


ngx_int_t
ngx_ws_session_create(ngx_ws_conn_t *ws)
{
    ngx_pool_t          *pool;
    ngx_ws_session_t    *s;
    ngx_http_request_t  *r;

    r = ws->request;

    pool = ngx_create_pool(2048, ngx_cycle->log);
    if (pool == NULL) {
        return NGX_ERROR;
    }

    s = ngx_pcalloc(pool, sizeof(ngx_ws_session_t));
    if (s == NULL) {
        goto failed;
    }

    s->pool = pool;
    s->ws = ws;
    s->conf = ws->conf;
    s->last = &s->head;

    if (ngx_ws_fake_origin(&s->origin, r, pool) != NGX_OK) {
        goto failed;
    }

    /* copies: the session may outlive the connection */

    s->log = ngx_palloc(pool, sizeof(ngx_log_t));
    if (s->log == NULL) {
        goto failed;
    }

    *s->log = *ngx_cycle->log;

    s->id.data = ngx_pstrdup(pool, &ws->id);
    s->uri.data = ngx_pstrdup(pool, &r->unparsed_uri);
    s->uri.len = r->unparsed_uri.len;
    s->subprotocol.data = ngx_pstrdup(pool, &ws->subprotocol);

    if (s->id.data == NULL
        || (r->unparsed_uri.len && s->uri.data == NULL)
        || (ws->subprotocol.len && s->subprotocol.data == NULL))
    {
        goto failed;
    }

    s->id.len = ws->id.len;
    s->subprotocol.len = ws->subprotocol.len;

    if (ngx_ws_session_headers(s, ws) != NGX_OK
        || ngx_ws_session_prepare(s) != NGX_OK)
    {
        goto failed;
    }

    s->next_ev.handler = ngx_ws_session_next_handler;
    s->next_ev.data = s;
    s->next_ev.log = s->log;

    ws->session = s;

    if (s->conf->on_connect.len || ngx_ws_session_wse(s->conf)) {
        if (ngx_ws_session_event(s, NGX_WS_EVENT_CONNECT) == NULL) {
            ws->session = NULL;
            goto failed;
        }
    }

    return NGX_OK;

failed:

    ngx_destroy_pool(pool);
    return NGX_ERROR;
}


/*
 * The handshake's headers for the fake requests, and what ws_auth_request
 * passed on.
 */

static ngx_int_t
ngx_ws_session_headers(ngx_ws_session_t *s, ngx_ws_conn_t *ws)
{
    return ngx_ws_origin_headers(&s->origin, s->pool, ws);
}


/*
 * What every event request of the session has that does not change from
 * one to the next: the module's headers that tell the connection (and,
 * in the websocket-events format, the format's), their names' lowercase
 * forms and hashes, and the request line of ws_pass.
 */

static ngx_int_t
ngx_ws_session_prepare(ngx_ws_session_t *s)
{
    ngx_array_t  *a;

    static u_char  type[] = "application/websocket-events";

    a = &s->headers;

    if (ngx_array_init(a, s->pool, 6, sizeof(ngx_table_elt_t)) != NGX_OK) {
        return NGX_ERROR;
    }

    if (s->conf->pass_format == NGX_WS_PASS_FORMAT_EVENTS
        && (ngx_ws_fake_header(a, s->pool, "Content-Type", type,
                               sizeof(type) - 1)
            != NGX_OK
            || ngx_ws_fake_header(a, s->pool, "Accept", type,
                                  sizeof(type) - 1)
               != NGX_OK
            || ngx_ws_fake_header(a, s->pool, "Connection-Id", s->id.data,
                                  s->id.len)
               != NGX_OK))
    {
        return NGX_ERROR;
    }

    if (ngx_ws_fake_header(a, s->pool, "X-WS-Connection-Id", s->id.data,
                           s->id.len)
        != NGX_OK
        || ngx_ws_fake_header(a, s->pool, "X-WS-URI", s->uri.data,
                              s->uri.len)
           != NGX_OK)
    {
        return NGX_ERROR;
    }

    if (s->subprotocol.len
        && ngx_ws_fake_header(a, s->pool, "X-WS-Subprotocol",
                              s->subprotocol.data, s->subprotocol.len)
           != NGX_OK)
    {
        return NGX_ERROR;
    }

    if (s->conf->pass.len
        && ngx_ws_fake_request_line(&s->request_line, s->pool,
                                    &s->conf->pass)
           != NGX_OK)
    {
        return NGX_ERROR;
    }

    return NGX_OK;
}


/* the same for other requests without a client (ws_snapshot) */

ngx_int_t
ngx_ws_origin_headers(ngx_ws_fake_origin_t *o, ngx_pool_t *pool,
    ngx_ws_conn_t *ws)
{
    size_t            len;
    ngx_uint_t        i, k;
    ngx_list_part_t  *part;
    ngx_table_elt_t  *h, *nh;

    part = &ws->request->headers_in.headers.part;
    h = part->elts;

    for (i = 0; /* void */ ; i++) {

        if (i >= part->nelts) {
            if (part->next == NULL) {
                break;
            }

            part = part->next;
            h = part->elts;
            i = 0;
        }

        for (k = 0; ngx_ws_skip_headers[k].len; k++) {
            len = ngx_ws_skip_headers[k].len;

            if (h[i].key.len == len
                && ngx_strncasecmp(h[i].key.data,
                                   ngx_ws_skip_headers[k].data, len) == 0)
            {
                break;
            }
        }

        if (ngx_ws_skip_headers[k].len) {
            continue;
        }

        /*
         * a client must not pass for the module or the auth service, not
         * even as "X_WS_Event" (underscores_in_headers): many applications
         * see "_" and "-" in a header name as the same (CGI, WSGI, Rack)
         */

        if (ngx_ws_module_header(&h[i].key)) {
            continue;
        }

        if (ngx_ws_auth_header(ws->conf, &h[i].key)) {
            continue;
        }

        nh = ngx_array_push(&o->headers);
        if (nh == NULL) {
            return NGX_ERROR;
        }

        nh->hash = h[i].hash;
        nh->key.len = h[i].key.len;
        nh->key.data = ngx_ws_strdupz(pool, &h[i].key);
        nh->value.len = h[i].value.len;
        nh->value.data = ngx_ws_strdupz(pool, &h[i].value);
        nh->lowcase_key = ngx_pnalloc(pool, h[i].key.len);

        if (nh->key.data == NULL || nh->value.data == NULL
            || nh->lowcase_key == NULL)
        {
            return NGX_ERROR;
        }

        ngx_strlow(nh->lowcase_key, nh->key.data, nh->key.len);
    }

    if (ws->auth) {
        h = ws->auth->headers.elts;

        for (i = 0; i < ws->auth->headers.nelts; i++) {
            nh = ngx_array_push(&o->headers);
            if (nh == NULL) {
                return NGX_ERROR;
            }

            *nh = h[i];
            nh->key.data = ngx_ws_strdupz(pool, &h[i].key);
            nh->value.data = ngx_ws_strdupz(pool, &h[i].value);
            nh->lowcase_key = ngx_pnalloc(pool, h[i].key.len);

            if (nh->key.data == NULL || nh->value.data == NULL
                || nh->lowcase_key == NULL)
            {
                return NGX_ERROR;
            }

            ngx_strlow(nh->lowcase_key, nh->key.data, nh->key.len);
        }
    }

    return NGX_OK;
}


/*
 * The disconnect event of a connection that has no WebSocket here any
 * more: its worker died (ngx_ws_orphans.c).  The pool holds the origin,
 * the id, the URI and the subprotocol; the session frees it once the event
 * is done, as a detached session does.
 */

ngx_int_t
ngx_ws_session_orphan(ngx_ws_loc_conf_t *wlcf, ngx_pool_t *pool,
    ngx_ws_fake_origin_t *o, ngx_str_t *id, ngx_str_t *uri,
    ngx_str_t *subprotocol, char *reason)
{
    ngx_ws_session_t  *s;

    s = ngx_pcalloc(pool, sizeof(ngx_ws_session_t));
    if (s == NULL) {
        return NGX_ERROR;
    }

    s->log = ngx_palloc(pool, sizeof(ngx_log_t));
    if (s->log == NULL) {
        return NGX_ERROR;
    }

    *s->log = *ngx_cycle->log;

    s->pool = pool;
    s->conf = wlcf;
    s->last = &s->head;
    s->origin = *o;
    s->id = *id;
    s->uri = *uri;
    s->subprotocol = *subprotocol;
    s->close_code = NGX_WS_CLOSE_ABNORMAL;
    s->closed_by_server = 1;
    s->disconnect_reason = reason;

    if (ngx_ws_session_prepare(s) != NGX_OK) {
        return NGX_ERROR;
    }

    s->next_ev.handler = ngx_ws_session_next_handler;
    s->next_ev.data = s;
    s->next_ev.log = s->log;

    if (ngx_ws_session_event(s, NGX_WS_EVENT_DISCONNECT) == NULL) {
        return NGX_ERROR;
    }

    return NGX_OK;
}


static ngx_ws_event_t *
ngx_ws_session_event(ngx_ws_session_t *s, ngx_uint_t type)
{
    ngx_ws_event_t  *ev;

    ev = s->free;

    if (ev) {
        s->free = ev->next;

    } else {
        ev = ngx_palloc(s->pool, sizeof(ngx_ws_event_t));
        if (ev == NULL) {
            return NULL;
        }
    }

    ngx_memzero(ev, sizeof(ngx_ws_event_t));
    ev->type = type;

    ngx_ws_session_enqueue(s, ev);

    return ev;
}


static void
ngx_ws_session_enqueue(ngx_ws_session_t *s, ngx_ws_event_t *ev)
{
    ev->next = NULL;
    *s->last = ev;
    s->last = &ev->next;
    s->queued++;

    if (s->active == NULL && !s->next_ev.posted) {
        ngx_post_event(&s->next_ev, &ngx_posted_events);
    }
}


/*
 * A complete message for ws_pass; the event owns pool (the message's own)
 * from now on, or a copy of the data is made when pool is NULL.
 */

ngx_int_t
ngx_ws_session_message(ngx_ws_conn_t *ws, ngx_uint_t opcode, ngx_pool_t *pool,
    u_char *data, size_t len)
{
    return ngx_ws_session_queue(ws, opcode, pool, data, len, NULL);
}


static ngx_int_t
ngx_ws_session_queue(ngx_ws_conn_t *ws, ngx_uint_t opcode, ngx_pool_t *pool,
    u_char *data, size_t len, ngx_ws_routed_t *routed)
{
    u_char            *p;
    ngx_ws_event_t    *ev;
    ngx_ws_session_t  *s;

    s = ws->session;

    if (pool == NULL) {
        pool = ngx_ws_pool_for(len, ws->connection->log);
        if (pool == NULL) {
            return NGX_ERROR;
        }

        p = NULL;

        if (len) {
            p = ngx_pnalloc(pool, len);
            if (p == NULL) {
                ngx_ws_pool_free(pool);
                return NGX_ERROR;
            }

            ngx_memcpy(p, data, len);
        }

        data = p;
    }

    ev = ngx_ws_session_event(s, NGX_WS_EVENT_MESSAGE);
    if (ev == NULL) {
        ngx_ws_pool_free(pool);
        return NGX_ERROR;
    }

    /* the pool may outlive the connection and its log */
    pool->log = s->log;

    ev->pool = pool;
    ev->opcode = opcode;
    ev->data = data;
    ev->len = len;
    ev->seq = ++s->seq;
    ev->routed = routed;

    if (s->queued >= s->conf->pass_queue) {
        ngx_log_debug1(NGX_LOG_DEBUG_HTTP, ws->connection->log, 0,
                       "ws pass queue full:%ui, reading paused", s->queued);
        ws->hold |= NGX_WS_HOLD_ROUTES;
    }

    return NGX_OK;
}


/*
 * A message of a ws_route pass route: to its own URI, with the route, the
 * type and the correlation id as headers; routed and the strings it
 * points to are in pool, which must not be NULL.
 */

ngx_int_t
ngx_ws_session_routed(ngx_ws_conn_t *ws, ngx_uint_t opcode, ngx_pool_t *pool,
    u_char *data, size_t len, ngx_ws_routed_t *routed)
{
    return ngx_ws_session_queue(ws, opcode, pool, data, len, routed);
}


/* the WebSocket is gone; what it queued still goes, then disconnect */

void
ngx_ws_session_detach(ngx_ws_conn_t *ws)
{
    ngx_ws_session_t  *s;

    s = ws->session;
    ws->session = NULL;

    s->ws = NULL;

    s->close_code = ngx_ws_end_code(ws);
    s->closed_by_server = (ws->closed_by_server && ws->close_code);

    if (s->conf->on_disconnect.len || ngx_ws_session_wse(s->conf)) {
        if (ngx_ws_session_event(s, NGX_WS_EVENT_DISCONNECT) == NULL) {
            ngx_log_error(NGX_LOG_ALERT, s->log, 0,
                          "ws could not queue the disconnect event of %V",
                          &s->id);
        }
    }

    ngx_ws_session_done(s);
}


/* frees the session when nothing waits and nobody needs it */

static void
ngx_ws_session_done(ngx_ws_session_t *s)
{
    if (s->ws || s->active || s->head || s->dispatching) {
        return;
    }

    if (s->next_ev.posted) {
        ngx_delete_posted_event(&s->next_ev);
    }

    ngx_destroy_pool(s->pool);
}


/*
 * Issues the next event.  Closing the WebSocket after a failed event, or
 * an event finished at once, may detach the session and would free it:
 * "dispatching" keeps it until the loop is done with it.
 */

static void
ngx_ws_session_next_handler(ngx_event_t *event)
{
    ngx_uint_t         n, type;
    ngx_ws_event_t    *ev;
    ngx_ws_session_t  *s;

    s = event->data;

    s->dispatching = 1;

    while (s->active == NULL && s->head) {
        ev = s->head;
        n = ngx_ws_session_batch(s, ev);
        type = ev->type;

        if (ngx_ws_session_dispatch(s, ev, n) == NGX_OK) {
            /* the rest follows when this one is finished */
            break;
        }

        /* could not even be issued: it counts as a failed event */

        ngx_ws_session_release(s, ev);

        if (s->ws && type != NGX_WS_EVENT_DISCONNECT) {
            ngx_log_error(NGX_LOG_ERR, s->ws->connection->log, 0,
                          "ws could not send %V event to upstream",
                          &ngx_ws_event_names[type]);

            if (s->conf->pass_error == NGX_WS_PASS_ERROR_CLOSE) {
                /* the connection ends from its write event */
                ngx_ws_end(s->ws, NGX_WS_GOODBYE, NGX_WS_CLOSE_INTERNAL, NULL);
            }
        }
    }

    s->dispatching = 0;

    ngx_ws_session_done(s);
}


/*
 * Takes the next request's events off the queue: one event, or, in the
 * websocket-events format, every message waiting behind a first message
 * (not those of ws_route, which go to their own URIs).  The events stay
 * linked by ->next; returns how many.
 */

static ngx_uint_t
ngx_ws_session_batch(ngx_ws_session_t *s, ngx_ws_event_t *ev)
{
    ngx_uint_t       n;
    ngx_ws_event_t  *last;

    n = 1;
    last = ev;

    if (s->conf->pass_format == NGX_WS_PASS_FORMAT_EVENTS
        && ev->type == NGX_WS_EVENT_MESSAGE && ev->routed == NULL)
    {
        while (last->next
               && last->next->type == NGX_WS_EVENT_MESSAGE
               && last->next->routed == NULL)
        {
            last = last->next;
            n++;
        }
    }

    s->head = last->next;

    if (s->head == NULL) {
        s->last = &s->head;
    }

    last->next = NULL;

    return n;
}


/* the events of a request are done with: their memory goes */

static void
ngx_ws_session_release(ngx_ws_session_t *s, ngx_ws_event_t *ev)
{
    ngx_ws_event_t  *next;

    while (ev) {
        next = ev->next;

        if (ev->pool) {
            ngx_ws_pool_free(ev->pool);
            ev->pool = NULL;
        }

        ev->next = s->free;
        s->free = ev;
        s->queued--;

        ev = next;
    }
}


static ngx_str_t *
ngx_ws_event_uri(ngx_ws_session_t *s, ngx_ws_event_t *ev)
{
    switch (ev->type) {

    case NGX_WS_EVENT_CONNECT:
        return s->conf->on_connect.len ? &s->conf->on_connect : &s->conf->pass;

    case NGX_WS_EVENT_MESSAGE:
        return ev->routed ? &ev->routed->uri : &s->conf->pass;

    default: /* NGX_WS_EVENT_DISCONNECT */
        return s->conf->on_disconnect.len ? &s->conf->on_disconnect
                                          : &s->conf->pass;
    }
}


static ngx_int_t
ngx_ws_session_dispatch(ngx_ws_session_t *s, ngx_ws_event_t *ev,
    ngx_uint_t n)
{
    ngx_str_t                    *uri;
    ngx_connection_t             *fc;
    ngx_ws_event_ctx_t           *ctx;
    ngx_http_request_t           *fr, *sr;
    ngx_pool_cleanup_t           *cln;
    ngx_http_post_subrequest_t   *ps;

    fr = ngx_ws_event_request(s, ev);
    if (fr == NULL) {
        return NGX_ERROR;
    }

    fc = fr->connection;
    ctx = ngx_ws_ctx_event(fr);

    ps = ngx_palloc(fr->pool, sizeof(ngx_http_post_subrequest_t));
    if (ps == NULL) {
        goto failed;
    }

    ps->handler = ngx_ws_event_response;
    ps->data = ctx;

    uri = ngx_ws_event_uri(s, ev);

    if (ngx_http_subrequest(fr, uri, ev->routed ? &ev->routed->args : NULL,
                            &sr, ps,
                            NGX_HTTP_SUBREQUEST_IN_MEMORY
                            |NGX_HTTP_SUBREQUEST_WAITED)
        != NGX_OK)
    {
        goto failed;
    }

    sr->method = NGX_HTTP_POST;
    ngx_str_set(&sr->method_name, "POST");

    cln = ngx_pool_cleanup_add(fr->pool, 0);
    if (cln == NULL) {
        goto failed;
    }

    cln->handler = ngx_ws_event_cleanup;
    cln->data = ctx;

    s->active = fr;

    ngx_log_debug4(NGX_LOG_DEBUG_HTTP, s->log, 0,
                   "ws event %V seq:%uL n:%ui to \"%V\"",
                   &ngx_ws_event_names[ev->type], ev->seq, n, uri);

    /* the subrequest runs; it may even be finished when this returns */

    ngx_http_run_posted_requests(fc);

    return NGX_OK;

failed:

    ctx->finished = 1;
    ngx_http_free_request(fr, 0);
    ngx_http_close_connection(fc);

    return NGX_ERROR;
}


/* the fake request of an event: its headers, handlers and ctx */

static ngx_http_request_t *
ngx_ws_event_request(ngx_ws_session_t *s, ngx_ws_event_t *ev)
{
    size_t               size;
    ngx_int_t            rc;
    ngx_str_t           *uri;
    ngx_uint_t           wse;
    ngx_ws_event_t      *e;
    ngx_ws_event_ctx_t  *ctx;
    ngx_http_request_t  *fr;

    uri = ngx_ws_event_uri(s, ev);
    wse = (s->conf->pass_format == NGX_WS_PASS_FORMAT_EVENTS);

    /*
     * one block for the request, the upstream's and the body it builds; a
     * large body goes to malloc() on its own, as the blocks that may follow
     * the first one are of its size
     */

    size = 0;

    for (e = ev; wse && e; e = e->next) {
        size += e->len + sizeof("BINARY " CRLF CRLF) + NGX_OFF_T_LEN;
    }

    size = NGX_WS_EVENT_POOL_SIZE + (size <= NGX_WS_EVENT_POOL_SIZE ? size : 0);

    fr = ngx_ws_fake_request_sized(&s->origin, s->log, uri,
                                   (uri == &s->conf->pass) ? &s->request_line
                                                           : NULL,
                                   wse ? NULL : ev->data, wse ? 0 : ev->len,
                                   size);
    if (fr == NULL) {
        return NULL;
    }

    ctx = ngx_pcalloc(fr->pool, sizeof(ngx_ws_event_ctx_t));
    if (ctx == NULL) {
        goto failed;
    }

    if (wse) {
        rc = ngx_ws_event_wse_headers(s, ev, fr);

        if (rc == NGX_OK) {
            rc = ngx_ws_event_wse_body(s, ev, fr);
        }

    } else {
        rc = ngx_ws_event_headers(s, ev, fr);
    }

    if (rc != NGX_OK) {
        goto failed;
    }

    fr->log_handler = ngx_ws_event_log_error;
    fr->write_event_handler = ngx_ws_event_finish;

    ctx->session = s;
    ctx->event = ev;
    ctx->connection = fr->connection;

    if (ngx_ws_ctx_set_event(fr, ctx) != NGX_OK) {
        goto failed;
    }

    return fr;

failed:

    ngx_ws_fake_request_free(fr);

    return NULL;
}


/*
 * Error log lines of an event (the proxy module's too) name the WebSocket
 * it belongs to, like the lines of the connection itself.
 */

static u_char *
ngx_ws_event_log_error(ngx_http_request_t *r, ngx_http_request_t *sr,
    u_char *buf, size_t len)
{
    u_char              *p;
    ngx_ws_event_ctx_t  *ctx;

    ctx = ngx_ws_ctx_event(r->main);

    p = ctx->session->origin.request_log_handler(r, sr, buf, len);
    len -= p - buf;

    return ngx_snprintf(p, len, ", ws: %V", &ctx->session->id);
}


static ngx_int_t
ngx_ws_event_headers(ngx_ws_session_t *s, ngx_ws_event_t *ev,
    ngx_http_request_t *fr)
{
    u_char     *p;
    ngx_str_t  *name;

    name = &ngx_ws_event_names[ev->type];

    /* X-WS-Connection-Id, X-WS-URI, X-WS-Subprotocol */

    if (ngx_ws_fake_add_header(fr, "X-WS-Event", name->data, name->len)
        != NGX_OK
        || ngx_ws_fake_add_headers(fr, &s->headers) != NGX_OK)
    {
        return NGX_ERROR;
    }

    if (ev->type == NGX_WS_EVENT_MESSAGE) {
        p = ngx_pnalloc(fr->pool, NGX_INT64_LEN);
        if (p == NULL) {
            return NGX_ERROR;
        }

        if (ngx_ws_fake_add_header(fr, "X-WS-Seq", p,
                                   ngx_sprintf(p, "%uL", ev->seq) - p)
            != NGX_OK)
        {
            return NGX_ERROR;
        }

        if (ev->opcode == NGX_WS_OP_TEXT) {
            if (ngx_ws_fake_add_header(fr, "X-WS-Message-Type",
                                       (u_char *) "text", 4) != NGX_OK
                || ngx_ws_fake_add_header(fr, "Content-Type",
                                          (u_char *)
                                          "text/plain; charset=utf-8", 25)
                   != NGX_OK)
            {
                return NGX_ERROR;
            }

        } else {
            if (ngx_ws_fake_add_header(fr, "X-WS-Message-Type",
                                       (u_char *) "binary", 6) != NGX_OK
                || ngx_ws_fake_add_header(fr, "Content-Type",
                                          (u_char *)
                                          "application/octet-stream", 24)
                   != NGX_OK)
            {
                return NGX_ERROR;
            }
        }
    }

    if (ev->routed) {
        if (ngx_ws_fake_add_header(fr, "X-WS-Route", ev->routed->route.data,
                                   ev->routed->route.len)
            != NGX_OK)
        {
            return NGX_ERROR;
        }

        if (ev->routed->type.len
            && ngx_ws_fake_add_header(fr, "X-WS-Message-Type-Field",
                                      ev->routed->type.data,
                                      ev->routed->type.len)
               != NGX_OK)
        {
            return NGX_ERROR;
        }

        if (ev->routed->correlation.len
            && ngx_ws_fake_add_header(fr, "X-WS-Correlation-Id",
                                      ev->routed->correlation.data,
                                      ev->routed->correlation.len)
               != NGX_OK)
        {
            return NGX_ERROR;
        }
    }

    if (ev->type == NGX_WS_EVENT_DISCONNECT) {
        p = ngx_pnalloc(fr->pool, NGX_INT_T_LEN);
        if (p == NULL) {
            return NGX_ERROR;
        }

        if (ngx_ws_fake_add_header(fr, "X-WS-Close-Code", p,
                                   ngx_sprintf(p, "%ui", s->close_code) - p)
            != NGX_OK
            || ngx_ws_fake_add_header(fr, "X-WS-Closed-By",
                                      (u_char *) (s->closed_by_server
                                                  ? "server" : "client"),
                                      6)
               != NGX_OK)
        {
            return NGX_ERROR;
        }

        if (s->disconnect_reason
            && ngx_ws_fake_add_header(fr, "X-WS-Disconnect-Reason",
                                      (u_char *) s->disconnect_reason,
                                      ngx_strlen(s->disconnect_reason))
               != NGX_OK)
        {
            return NGX_ERROR;
        }
    }

    return NGX_OK;
}


/*
 * ws_pass_format websocket-events: the headers Pushpin sends with its
 * WebSocket-over-HTTP requests, and the module's own that do not depend on
 * the event (the body tells the events).
 */

static ngx_int_t
ngx_ws_event_wse_headers(ngx_ws_session_t *s, ngx_ws_event_t *ev,
    ngx_http_request_t *fr)
{
    /*
     * Content-Type, Accept, Connection-Id, X-WS-Connection-Id, X-WS-URI,
     * X-WS-Subprotocol
     */

    if (ngx_ws_fake_add_headers(fr, &s->headers) != NGX_OK) {
        return NGX_ERROR;
    }

    if (ev->routed
        && ngx_ws_fake_add_header(fr, "X-WS-Route", ev->routed->route.data,
                                  ev->routed->route.len)
           != NGX_OK)
    {
        return NGX_ERROR;
    }

    return NGX_OK;
}


/*
 * The body: each event as "TYPE\r\n", or "TYPE hexlen\r\n" then the
 * content and "\r\n".  connect is OPEN; each message of the batch is TEXT
 * or BINARY; disconnect is CLOSE with the client's code (none when its
 * Close had none), or DISCONNECT when the connection went without a Close.
 */

static ngx_int_t
ngx_ws_event_wse_body(ngx_ws_session_t *s, ngx_ws_event_t *ev,
    ngx_http_request_t *fr)
{
    u_char          *p, *body;
    size_t           len;
    ngx_str_t       *name;
    ngx_ws_event_t  *e;

    len = 0;

    for (e = ev; e; e = e->next) {

        switch (e->type) {

        case NGX_WS_EVENT_CONNECT:
            len += sizeof("OPEN" CRLF) - 1;
            break;

        case NGX_WS_EVENT_MESSAGE:
            len += sizeof("BINARY " CRLF CRLF) - 1 + NGX_OFF_T_LEN + e->len;
            break;

        default: /* NGX_WS_EVENT_DISCONNECT */
            len += sizeof("DISCONNECT" CRLF "CLOSE 2" CRLF CRLF) - 1 + 2;
        }
    }

    body = ngx_pnalloc(fr->pool, len);
    if (body == NULL) {
        return NGX_ERROR;
    }

    p = body;

    for (e = ev; e; e = e->next) {

        switch (e->type) {

        case NGX_WS_EVENT_CONNECT:
            p = ngx_cpymem(p, "OPEN" CRLF, sizeof("OPEN" CRLF) - 1);
            break;

        case NGX_WS_EVENT_MESSAGE:
            name = &ngx_ws_wse_names[e->opcode == NGX_WS_OP_TEXT
                                     ? NGX_WS_WSE_TEXT : NGX_WS_WSE_BINARY];
            p = ngx_cpymem(p, name->data, name->len);
            *p++ = ' ';
            p = ngx_ws_wse_hex(p, e->len);
            *p++ = CR; *p++ = LF;
            p = ngx_cpymem(p, e->data, e->len);
            *p++ = CR; *p++ = LF;
            break;

        default: /* NGX_WS_EVENT_DISCONNECT */

            if (s->close_code == NGX_WS_CLOSE_ABNORMAL) {
                p = ngx_cpymem(p, "DISCONNECT" CRLF,
                               sizeof("DISCONNECT" CRLF) - 1);

            } else if (s->close_code == NGX_WS_CLOSE_NO_STATUS) {
                p = ngx_cpymem(p, "CLOSE" CRLF, sizeof("CLOSE" CRLF) - 1);

            } else {
                p = ngx_cpymem(p, "CLOSE 2" CRLF, sizeof("CLOSE 2" CRLF) - 1);
                *p++ = (u_char) (s->close_code >> 8);
                *p++ = (u_char) (s->close_code & 0xff);
                *p++ = CR; *p++ = LF;
            }
        }
    }

    return ngx_ws_fake_request_body(fr, body, p - body);
}


/* a length as "%Xz" writes it, without ngx_sprintf()'s format parsing */

static u_char *
ngx_ws_wse_hex(u_char *p, size_t n)
{
    u_char  *q;
    u_char   buf[sizeof(size_t) * 2];

    static u_char  hex[] = "0123456789ABCDEF";

    q = buf + sizeof(buf);

    do {
        *--q = hex[n & 0xf];
        n >>= 4;
    } while (n);

    return ngx_cpymem(p, q, buf + sizeof(buf) - q);
}


/*
 * The subrequest is finalized: keep what the client is to get, while the
 * subrequest still exists.  Called for every finalization; the first one
 * counts.  Errors are swallowed here: the fake request must end normally.
 */

static ngx_int_t
ngx_ws_event_response(ngx_http_request_t *sr, void *data, ngx_int_t rc)
{
    ngx_ws_event_ctx_t *ctx = data;

    if (ctx->done || rc == NGX_AGAIN) {
        return rc;
    }

    ctx->done = 1;

    ctx->status = sr->headers_out.status;

    if (rc == NGX_ERROR || rc >= NGX_HTTP_SPECIAL_RESPONSE
        || sr->upstream == NULL)
    {
        if (rc >= NGX_HTTP_SPECIAL_RESPONSE
            && (ctx->status == 0 || sr->upstream == NULL))
        {
            ctx->status = rc;

        } else if (ctx->status == 0 || rc == NGX_ERROR) {
            ctx->status = NGX_HTTP_INTERNAL_SERVER_ERROR;
        }
    }

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, sr->connection->log, 0,
                   "ws event response rc:%i status:%ui", rc, ctx->status);

    if (ctx->status >= NGX_HTTP_OK && ctx->status < 300) {
        ngx_ws_event_reply(ctx, sr);
    }

    return (rc == NGX_ERROR || rc >= NGX_HTTP_SPECIAL_RESPONSE) ? NGX_OK : rc;
}


static void
ngx_ws_event_reply(ngx_ws_event_ctx_t *ctx, ngx_http_request_t *sr)
{
    ngx_list_t       *headers;
    ngx_table_elt_t  *h;

    static ngx_str_t  type = ngx_string("X-WS-Message-Type");
    static ngx_str_t  subscribe = ngx_string("X-WS-Subscribe");
    static ngx_str_t  unsubscribe = ngx_string("X-WS-Unsubscribe");
    static ngx_str_t  close = ngx_string("X-WS-Close");

    headers = &sr->headers_out.headers;

    /* the events of the websocket-events format tell their own types */

    if (ctx->session->conf->pass_format != NGX_WS_PASS_FORMAT_EVENTS) {
        ctx->reply_opcode =
                ngx_ws_content_opcode(&sr->headers_out.content_type);

        for (h = ngx_ws_find_header(headers, &type, NULL);
             h;
             h = ngx_ws_find_header(headers, &type, h))
        {
            if (h->value.len == 4
                && ngx_strncasecmp(h->value.data, (u_char *) "text", 4) == 0)
            {
                ctx->reply_opcode = NGX_WS_OP_TEXT;

            } else if (h->value.len == 6
                       && ngx_strncasecmp(h->value.data,
                                          (u_char *) "binary", 6)
                          == 0)
            {
                ctx->reply_opcode = NGX_WS_OP_BINARY;
            }
        }
    }

    ngx_ws_event_reply_names(ctx, headers, &subscribe, &ctx->join);
    ngx_ws_event_reply_names(ctx, headers, &unsubscribe, &ctx->part);

    for (h = ngx_ws_find_header(headers, &close, NULL);
         h;
         h = ngx_ws_find_header(headers, &close, h))
    {
        ngx_ws_event_reply_close(ctx, &h->value, sr->connection->log);
    }

    ngx_ws_event_reply_auth(ctx, headers);

    ngx_ws_event_reply_body(ctx, sr);
}


/*
 * For ws_message_auth_request: "X-WS-Revoke: 1" forgets the answers of
 * the connection, "X-WS-Revoke: close" closes it too; "X-WS-Identity-Name:
 * value" gives the kept header Name a new value for the questions to come.
 */

static void
ngx_ws_event_reply_auth(ngx_ws_event_ctx_t *ctx, ngx_list_t *headers)
{
    ngx_uint_t        i;
    ngx_list_part_t  *part;
    ngx_table_elt_t  *h, *id;

    part = &headers->part;
    h = part->elts;

    for (i = 0; /* void */ ; i++) {

        if (i >= part->nelts) {
            if (part->next == NULL) {
                break;
            }

            part = part->next;
            h = part->elts;
            i = 0;
        }

        if (h[i].hash == 0) {
            continue;
        }

        if (h[i].key.len == sizeof("X-WS-Revoke") - 1
            && ngx_strncasecmp(h[i].key.data, (u_char *) "X-WS-Revoke",
                               h[i].key.len)
               == 0)
        {
            if (h[i].value.len == 5
                && ngx_strncasecmp(h[i].value.data, (u_char *) "close", 5)
                   == 0)
            {
                ctx->revoke = 2;

            } else if (ctx->revoke == 0) {
                ctx->revoke = 1;
            }

            continue;
        }

        if (h[i].key.len > sizeof("X-WS-Identity-") - 1
            && ngx_strncasecmp(h[i].key.data, (u_char *) "X-WS-Identity-",
                               sizeof("X-WS-Identity-") - 1)
               == 0)
        {
            if (ctx->identity == NULL) {
                ctx->identity = ngx_array_create(ctx->connection->pool, 2,
                                                 sizeof(ngx_table_elt_t));
                if (ctx->identity == NULL) {
                    return;
                }
            }

            id = ngx_array_push(ctx->identity);
            if (id == NULL) {
                return;
            }

            *id = h[i];
            id->key.data += sizeof("X-WS-Identity-") - 1;
            id->key.len -= sizeof("X-WS-Identity-") - 1;
        }
    }
}


/* the channels of X-WS-Subscribe or X-WS-Unsubscribe headers */

static void
ngx_ws_event_reply_names(ngx_ws_event_ctx_t *ctx, ngx_list_t *headers,
    ngx_str_t *header, ngx_array_t **list)
{
    ngx_str_t        *name;
    ngx_table_elt_t  *h;

    for (h = ngx_ws_find_header(headers, header, NULL);
         h;
         h = ngx_ws_find_header(headers, header, h))
    {
        if (*list == NULL) {
            *list = ngx_array_create(ctx->connection->pool, 2,
                                     sizeof(ngx_str_t));
        }

        if (*list && h->value.len) {
            name = ngx_array_push(*list);
            if (name) {
                *name = h->value;
            }
        }
    }
}


/* "X-WS-Close: 4000 some reason" */

static void
ngx_ws_event_reply_close(ngx_ws_event_ctx_t *ctx, ngx_str_t *value,
    ngx_log_t *log)
{
    u_char     *p, *last;
    size_t      len;
    ngx_int_t   code;

    p = value->data;
    last = p + value->len;

    while (p < last && *p >= '0' && *p <= '9') {
        p++;
    }

    code = ngx_atoi(value->data, p - value->data);

    if (code == NGX_ERROR || !ngx_ws_sendable_close_code(code)) {
        ngx_log_error(NGX_LOG_ERR, log, 0,
                      "upstream sent invalid \"X-WS-Close\" "
                      "header \"%V\"", value);
        return;
    }

    while (p < last && *p == ' ') {
        p++;
    }

    /* ngx_ws_send_close() cuts it at a character boundary */
    len = ngx_min((size_t) (last - p), 1024);

    ctx->close_code = code;
    ctx->close_reason.len = len;
    ctx->close_reason.data = ngx_pnalloc(ctx->connection->pool, len + 1);
    if (ctx->close_reason.data == NULL) {
        ctx->close_reason.len = 0;
        return;
    }

    ngx_memcpy(ctx->close_reason.data, p, len);
    ctx->close_reason.data[len] = '\0';
}


/* the reply outlives the fake request: a pool of its own (but see below) */

static void
ngx_ws_event_reply_body(ngx_ws_event_ctx_t *ctx, ngx_http_request_t *sr)
{
    size_t      len;
    ngx_buf_t  *b;

    if (sr->out == NULL || sr->out->buf == NULL) {
        return;
    }

    b = sr->out->buf;
    len = b->last - b->pos;

    if (len == 0) {
        return;
    }

    if (ctx->session->conf->pass_format == NGX_WS_PASS_FORMAT_EVENTS) {
        /*
         * its events are copied one by one into messages: read where it
         * is, in the fake request's pool, which lives until they are
         */
        ctx->reply = b->pos;
        ctx->reply_len = len;
        return;
    }

    ctx->reply_pool = ngx_ws_pool_for(len, ctx->session->log);
    if (ctx->reply_pool == NULL) {
        return;
    }

    /* with room for the frame header (ngx_ws_send_room()) */

    ctx->reply = ngx_pnalloc(ctx->reply_pool, NGX_WS_FRAME_ROOM + len);
    if (ctx->reply == NULL) {
        ngx_ws_pool_free(ctx->reply_pool);
        ctx->reply_pool = NULL;
        return;
    }

    ctx->reply += NGX_WS_FRAME_ROOM;

    ngx_memcpy(ctx->reply, b->pos, len);
    ctx->reply_len = len;
}


/*
 * The parent of the finished subrequest, posted by nginx: the outcome
 * goes to the client, then the fake request and its connection are
 * closed the way nginx closes any request.
 */

static void
ngx_ws_event_finish(ngx_http_request_t *fr)
{
    ngx_ws_event_ctx_t  *ctx;

    ctx = ngx_ws_ctx_event(fr);

    if (ctx->finished || fr->postponed) {
        return;
    }

    ctx->finished = 1;

    ngx_ws_event_apply(ctx->session, ctx);

    ngx_ws_fake_request_close(fr);
}


/* the fake request's pool is gone: the session moves on */

static void
ngx_ws_event_cleanup(void *data)
{
    ngx_ws_event_ctx_t *ctx = data;

    ngx_ws_event_t    *ev;
    ngx_ws_session_t  *s;

    s = ctx->session;
    ev = ctx->event;

    if (!ctx->finished) {
        /* nginx closed the fake request itself: a failed event */

        ctx->finished = 1;

        ngx_log_error(NGX_LOG_ERR, s->log, 0,
                      "ws %V event %uL of %V failed",
                      &ngx_ws_event_names[ev->type], ev->seq, &s->id);

        if (ctx->reply_pool) {
            ngx_ws_pool_free(ctx->reply_pool);
            ctx->reply_pool = NULL;
        }

        if (ctx->status >= NGX_HTTP_OK && ctx->status < 300) {
            ctx->status = NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        ctx->close_code = 0;

        ngx_ws_event_apply(s, ctx);
    }

    ngx_ws_session_release(s, ev);

    s->active = NULL;

    if (s->ws && s->queued < s->conf->pass_queue) {
        ngx_ws_resume(s->ws);
    }

    if (s->head) {
        if (!s->next_ev.posted) {
            ngx_post_event(&s->next_ev, &ngx_posted_events);
        }

        return;
    }

    ngx_ws_session_done(s);
}


/* the event's outcome reaches the client, if it is still there */

static void
ngx_ws_event_apply(ngx_ws_session_t *s, ngx_ws_event_ctx_t *ctx)
{
    u_char          *p;
    size_t           len;
    ngx_str_t       *name;
    ngx_uint_t       i, level;
    ngx_ws_conn_t   *ws;
    ngx_ws_event_t  *ev;
    u_char           buf[NGX_WS_REPLY_MAX_HEADER];

    ws = s->ws;
    ev = ctx->event;

    ngx_ws_stat_event(ctx->status);

    if (ctx->status < NGX_HTTP_OK || ctx->status >= 300) {

        level = (ctx->status >= 500) ? NGX_LOG_ERR : NGX_LOG_WARN;

        if (ws) {
            ngx_log_error(level, ws->connection->log, 0,
                          "upstream answered %ui to %V event %uL",
                          ctx->status, &ngx_ws_event_names[ev->type],
                          ev->seq);

        } else {
            ngx_log_error(level, s->log, 0,
                          "upstream answered %ui to %V event %uL of %V",
                          ctx->status, &ngx_ws_event_names[ev->type],
                          ev->seq, &s->id);
        }
    }

    if (ws == NULL || ev->type == NGX_WS_EVENT_DISCONNECT
        || ws->close_sent)
    {
        if (ctx->reply_pool) {
            ngx_ws_pool_free(ctx->reply_pool);
            ctx->reply_pool = NULL;
        }

        return;
    }

    if (ctx->status < NGX_HTTP_OK || ctx->status >= 300) {

        switch (s->conf->pass_error) {

        case NGX_WS_PASS_ERROR_CLOSE:
            ngx_ws_end(ws, NGX_WS_GOODBYE, NGX_WS_CLOSE_INTERNAL, NULL);
            return;

        case NGX_WS_PASS_ERROR_MESSAGE:
            p = buf;
            len = ngx_snprintf(p, sizeof(buf),
                               "{\"error\":\"upstream\",\"status\":%ui,"
                               "\"event\":\"%V\",\"seq\":%uL}",
                               ctx->status, &ngx_ws_event_names[ev->type],
                               ev->seq)
                  - p;

            if (ngx_ws_send_frame(ws, NGX_WS_OP_TEXT, p, len) == NGX_ERROR) {
                ngx_ws_end(ws, NGX_WS_GOODBYE, NGX_WS_CLOSE_INTERNAL, NULL);
                return;
            }

            break;

        default: /* NGX_WS_PASS_ERROR_IGNORE */
            break;
        }

        ngx_ws_handle_output(ws);
        return;
    }

    if (s->conf->pass_format == NGX_WS_PASS_FORMAT_EVENTS) {
        if (ngx_ws_event_apply_wse(s, ctx) != NGX_OK) {
            return;
        }

    } else if (ctx->reply_pool) {

        /* from now on it lives and dies with the connection */
        ctx->reply_pool->log = ws->connection->log;

        if (ctx->reply_opcode == NGX_WS_OP_TEXT
            && ngx_ws_utf8_validate(NGX_WS_UTF8_ACCEPT, ctx->reply,
                                    ctx->reply_len)
               != NGX_WS_UTF8_ACCEPT)
        {
            ngx_log_error(NGX_LOG_ERR, ws->connection->log, 0,
                          "upstream sent a text reply to %V event %uL "
                          "that is not UTF-8, dropped",
                          &ngx_ws_event_names[ev->type], ev->seq);

            ngx_ws_pool_free(ctx->reply_pool);

        } else if (ngx_ws_send_room(ws, ctx->reply_opcode, ctx->reply_pool,
                                    ctx->reply, ctx->reply_len)
                   == NGX_ERROR)
        {
            ctx->reply_pool = NULL;
            ngx_ws_end(ws, NGX_WS_GOODBYE, NGX_WS_CLOSE_INTERNAL, NULL);
            return;
        }

        ctx->reply_pool = NULL;
        ws->timer.last_data = ngx_current_msec;
    }

    if (ctx->part) {
        name = ctx->part->elts;

        for (i = 0; i < ctx->part->nelts; i++) {
            ngx_ws_channel_part(ws, &name[i]);
        }
    }

    if (ctx->join) {
        name = ctx->join->elts;

        for (i = 0; i < ctx->join->nelts; i++) {
            if (ngx_ws_channel_join(ws, &name[i]) == NGX_ERROR) {
                ngx_ws_end(ws, NGX_WS_GOODBYE, NGX_WS_CLOSE_INTERNAL, NULL);
                return;
            }
        }
    }

    if ((ctx->identity || ctx->revoke)
        && ngx_ws_event_apply_auth(ws, ctx) != NGX_OK)
    {
        return;
    }

    if (ctx->close_code) {
        ngx_log_error(NGX_LOG_INFO, ws->connection->log, 0,
                      "upstream asked to close, closing with %ui",
                      ctx->close_code);

        ngx_ws_end(ws, NGX_WS_GOODBYE, ctx->close_code,
                   (char *) ctx->close_reason.data);
        return;
    }

    ngx_ws_handle_output(ws);
}


/* X-WS-Identity-* and X-WS-Revoke: NGX_DONE when the connection ends */

static ngx_int_t
ngx_ws_event_apply_auth(ngx_ws_conn_t *ws, ngx_ws_event_ctx_t *ctx)
{
    ngx_uint_t        i;
    ngx_table_elt_t  *h;

    if (ctx->identity) {
        h = ctx->identity->elts;

        for (i = 0; i < ctx->identity->nelts; i++) {
            if (ngx_ws_msgauth_identity(ws, &h[i].key, &h[i].value)
                == NGX_ERROR)
            {
                ngx_ws_end(ws, NGX_WS_GOODBYE, NGX_WS_CLOSE_INTERNAL, NULL);
                return NGX_DONE;
            }
        }
    }

    if (ctx->revoke) {
        ngx_ws_msgauth_revoke(ws, ctx->revoke == 2);

        if (ctx->revoke == 2) {
            return NGX_DONE;
        }
    }

    return NGX_OK;
}


/*
 * One event of a websocket-events reply at *pos: its type and content;
 * NGX_DONE at the end of the body, NGX_ERROR with err set when it is not
 * an event of the format.
 */

static ngx_int_t
ngx_ws_wse_next(u_char **pos, u_char *last, ngx_uint_t *type,
    ngx_str_t *content, char **err)
{
    u_char      *p, *name;
    size_t       len, n;
    ngx_uint_t   i;

    p = *pos;

    if (p == last) {
        return NGX_DONE;
    }

    name = p;

    while (p < last && *p >= 'A' && *p <= 'Z') {
        p++;
    }

    n = p - name;

    for (i = 0; ngx_ws_wse_names[i].len; i++) {
        if (ngx_ws_wse_names[i].len == n
            && ngx_strncmp(ngx_ws_wse_names[i].data, name, n) == 0)
        {
            break;
        }
    }

    if (ngx_ws_wse_names[i].len == 0) {
        *err = "unknown event";
        return NGX_ERROR;
    }

    *type = i;
    content->len = 0;
    content->data = p;

    if (p < last && *p == ' ') {
        p++;
        len = 0;
        n = 0;

        while (p < last && n < 16) {
            if (*p >= '0' && *p <= '9') {
                len = len * 16 + (*p - '0');

            } else if ((*p | 0x20) >= 'a' && (*p | 0x20) <= 'f') {
                len = len * 16 + ((*p | 0x20) - 'a' + 10);

            } else {
                break;
            }

            p++;
            n++;
        }

        if (n == 0 || n == 16) {
            *err = "bad content length";
            return NGX_ERROR;
        }

        if (last - p < 2 || p[0] != CR || p[1] != LF) {
            *err = "no CRLF after the event's name";
            return NGX_ERROR;
        }

        p += 2;

        if ((size_t) (last - p) < len + 2) {
            *err = "content shorter than its length";
            return NGX_ERROR;
        }

        content->data = p;
        content->len = len;
        p += len;
    }

    if (last - p < 2 || p[0] != CR || p[1] != LF) {
        *err = "no CRLF after the event";
        return NGX_ERROR;
    }

    *pos = p + 2;

    return NGX_OK;
}


/* the whole reply is checked before any of it is used */

static ngx_int_t
ngx_ws_wse_check(ngx_ws_conn_t *ws, ngx_ws_event_ctx_t *ctx,
    ngx_uint_t *open)
{
    u_char          *pos, *last;
    char            *err;
    ngx_int_t        rc;
    ngx_str_t        content;
    ngx_uint_t       type;
    ngx_ws_event_t  *ev;

    ev = ctx->event;
    pos = ctx->reply;
    last = ctx->reply_len ? pos + ctx->reply_len : pos;  /* NULL if empty */
    err = NULL;

    while ((rc = ngx_ws_wse_next(&pos, last, &type, &content, &err))
           == NGX_OK)
    {
        switch (type) {

        case NGX_WS_WSE_OPEN:
            *open = 1;
            break;

        case NGX_WS_WSE_TEXT:
            if (ngx_ws_utf8_validate(NGX_WS_UTF8_ACCEPT, content.data,
                                     content.len)
                != NGX_WS_UTF8_ACCEPT)
            {
                err = "TEXT that is not UTF-8";
                rc = NGX_ERROR;
            }

            break;

        case NGX_WS_WSE_CLOSE:
            if (content.len == 1
                || (content.len >= 2
                    && !ngx_ws_sendable_close_code((content.data[0] << 8)
                                                   | content.data[1])))
            {
                err = "CLOSE with an invalid code";
                rc = NGX_ERROR;
            }

            break;

        default:
            break;
        }

        if (rc == NGX_ERROR) {
            break;
        }
    }

    if (rc == NGX_ERROR) {
        ngx_log_error(NGX_LOG_ERR, ws->connection->log, 0,
                      "upstream sent a malformed websocket-events reply to "
                      "%V event %uL: %s at byte %uz, closing with 1011",
                      &ngx_ws_event_names[ev->type], ev->seq, err,
                      (size_t) (pos - ctx->reply));
        return NGX_ERROR;
    }

    return NGX_OK;
}


/*
 * The reply to a websocket-events request: checked whole first, so that a
 * malformed one sends nothing, then its events in order: TEXT and BINARY
 * to the client, CLOSE closes with its code, DISCONNECT drops the
 * connection, OPEN accepts the connection (the reply to OPEN must have
 * it).  PING and PONG are accepted and ignored: nginx keeps the client's
 * heartbeat itself.  NGX_OK when the connection goes on.
 */

static ngx_int_t
ngx_ws_event_apply_wse(ngx_ws_session_t *s, ngx_ws_event_ctx_t *ctx)
{
    u_char          *pos, *last, *reason, *data;
    char            *err;
    ngx_str_t        content;
    ngx_uint_t       type, code, open, opcode;
    ngx_pool_t      *pool;
    ngx_ws_conn_t   *ws;
    ngx_ws_event_t  *ev;

    ws = s->ws;
    ev = ctx->event;
    open = 0;

    if (ngx_ws_wse_check(ws, ctx, &open) != NGX_OK) {
        goto close;
    }

    if (ev->type == NGX_WS_EVENT_CONNECT && !open) {
        ngx_log_error(NGX_LOG_INFO, ws->connection->log, 0,
                      "upstream did not accept the connection: no OPEN in "
                      "the reply to its OPEN event, closing with 1008");

        if (ctx->reply_pool) {
            ngx_ws_pool_free(ctx->reply_pool);
            ctx->reply_pool = NULL;
        }

        ngx_ws_end(ws, NGX_WS_GOODBYE, NGX_WS_CLOSE_POLICY, NULL);
        return NGX_DONE;
    }

    pos = ctx->reply;
    last = ctx->reply_len ? pos + ctx->reply_len : pos;

    while (ngx_ws_wse_next(&pos, last, &type, &content, &err) == NGX_OK) {

        switch (type) {

        case NGX_WS_WSE_TEXT:
        case NGX_WS_WSE_BINARY:
            opcode = (type == NGX_WS_WSE_TEXT) ? NGX_WS_OP_TEXT
                                               : NGX_WS_OP_BINARY;

            pool = ngx_ws_pool_for(content.len, ws->connection->log);
            if (pool == NULL) {
                goto failed;
            }

            data = NULL;

            if (content.len) {
                data = ngx_pnalloc(pool, NGX_WS_FRAME_ROOM + content.len);
                if (data == NULL) {
                    ngx_ws_pool_free(pool);
                    goto failed;
                }

                data += NGX_WS_FRAME_ROOM;

                ngx_memcpy(data, content.data, content.len);
            }

            if (ngx_ws_send_room(ws, opcode, pool, data, content.len)
                == NGX_ERROR)
            {
                goto failed;
            }

            ws->timer.last_data = ngx_current_msec;
            break;

        case NGX_WS_WSE_CLOSE:
            code = NGX_WS_CLOSE_NORMAL;
            reason = NULL;

            if (content.len >= 2) {
                code = (content.data[0] << 8) | content.data[1];

                reason = ngx_pnalloc(ctx->connection->pool, content.len - 1);
                if (reason == NULL) {
                    goto failed;
                }

                ngx_memcpy(reason, content.data + 2, content.len - 2);
                reason[content.len - 2] = '\0';
            }

            ngx_log_error(NGX_LOG_INFO, ws->connection->log, 0,
                          "upstream sent CLOSE, closing with %ui", code);

            if (ctx->reply_pool) {
                ngx_ws_pool_free(ctx->reply_pool);
                ctx->reply_pool = NULL;
            }

            ngx_ws_end(ws, NGX_WS_GOODBYE, code, (char *) reason);
            return NGX_DONE;

        case NGX_WS_WSE_DISCONNECT:
            ngx_log_error(NGX_LOG_INFO, ws->connection->log, 0,
                          "upstream sent DISCONNECT, closing the connection");

            if (ctx->reply_pool) {
                ngx_ws_pool_free(ctx->reply_pool);
                ctx->reply_pool = NULL;
            }

            ngx_ws_end(ws, NGX_WS_ABORT, 0, NULL);
            return NGX_DONE;

        default: /* OPEN, PING, PONG */
            break;
        }
    }

    if (ctx->reply_pool) {
        ngx_ws_pool_free(ctx->reply_pool);
        ctx->reply_pool = NULL;
    }

    return NGX_OK;

failed:

    ngx_log_error(NGX_LOG_ALERT, ws->connection->log, 0,
                  "ws could not queue a websocket-events reply");

close:

    if (ctx->reply_pool) {
        ngx_ws_pool_free(ctx->reply_pool);
        ctx->reply_pool = NULL;
    }

    ngx_ws_end(ws, NGX_WS_GOODBYE, NGX_WS_CLOSE_INTERNAL, NULL);
    return NGX_DONE;
}


/* header values are NUL-terminated, as nginx's header handlers expect */

static u_char *
ngx_ws_strdupz(ngx_pool_t *pool, ngx_str_t *s)
{
    u_char  *p;

    p = ngx_pnalloc(pool, s->len + 1);
    if (p == NULL) {
        return NULL;
    }

    ngx_memcpy(p, s->data, s->len);
    p[s->len] = '\0';

    return p;
}


/*
 * The codes an endpoint may put in a Close frame (RFC 6455 7.4 and the
 * IANA registry): 1004-1006 and 1015 are reserved or never sent, and
 * 1016-2999 are for the protocol and its extensions.
 */

static ngx_uint_t
ngx_ws_sendable_close_code(ngx_int_t code)
{
    if ((code >= 1000 && code <= 1003)
        || (code >= 1007 && code <= 1014)
        || (code >= 3000 && code <= 4999))
    {
        return 1;
    }

    return 0;
}


static ngx_uint_t
ngx_ws_auth_header(ngx_ws_loc_conf_t *wlcf, ngx_str_t *name)
{
    ngx_str_t   *h;
    ngx_uint_t   i;

    if (wlcf->auth_pass_headers == NULL) {
        return 0;
    }

    h = wlcf->auth_pass_headers->elts;

    for (i = 0; i < wlcf->auth_pass_headers->nelts; i++) {
        if (h[i].len == name->len
            && ngx_ws_header_name_eq(h[i].data, name->data, name->len))
        {
            return 1;
        }
    }

    return 0;
}

