
/*
 * Copyright (C) ngx_ws_module authors
 */


/*
 * EventSource subscribers (ws_sse): a GET that joins the ws_subscribe
 * channels of its location and gets their messages as a text/event-stream
 * response.  Each message is formatted once per worker (ngx_ws_sse_format,
 * called by the channel code through ngx_ws_transports) and the same
 * memory is written to every subscriber of the worker.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include "ngx_ws_module.h"
#include "ngx_ws_zone.h"


typedef struct ngx_ws_sse_item_s  ngx_ws_sse_item_t;

struct ngx_ws_sse_item_s {
    ngx_ws_sse_item_t          *next;
    ngx_ws_shared_t            *sh;               /* or NULL: static bytes */
    u_char                     *own;              /* its own id line */
    size_t                      size;             /* bytes to write */
    size_t                      mem;              /* what it holds */
    int64_t                     id;               /* of a message */
    ngx_uint_t                  chan;             /* in ctx->names */
    ngx_chain_t                 cl[2];
    ngx_buf_t                   buf[2];
};


typedef struct {
    ngx_ws_stream_t             st;               /* first */
    ngx_http_request_t         *request;
    ngx_ws_loc_conf_t          *conf;
    ngx_queue_t                 subs;             /* ngx_ws_sub_t link */
    ngx_uint_t                  nsubs;

    ngx_ws_sse_item_t          *head;             /* queued, oldest first */
    ngx_ws_sse_item_t         **last;
    ngx_ws_sse_item_t          *unsent;           /* not passed on yet */
    ngx_ws_sse_item_t          *free;
    ngx_uint_t                  nfree;
    size_t                      queued;           /* the items' mem */
    off_t                       sent;             /* as the timer started */

    ngx_event_t                 ping;
    ngx_buf_t                   flush;            /* nothing new to pass */
    ngx_chain_t                 flush_cl;
    u_char                      retry[sizeof("retry: \n\n") + NGX_INT_T_LEN];

    unsigned                    multi:1;          /* several channels */
    unsigned                    ending:1;         /* the last chunk next */
    unsigned                    closing:1;        /* closed at once */
    unsigned                    streaming:1;      /* the header is sent */
    unsigned                    draining:1;       /* the worker exits */
    unsigned                    trimmed:1;        /* a replay was cut */

    /* the channels in ws_subscribe order, for the id of a multi stream */
    ngx_str_t                  *names;
    int64_t                    *starts;
    int64_t                    *lost;             /* the last cut, or -1 */
    ngx_ws_sub_t              **joined;
    ngx_uint_t                  nnames;
} ngx_ws_sse_ctx_t;


static ngx_int_t ngx_ws_sse_handler(ngx_http_request_t *r);
static ngx_int_t ngx_ws_sse_subscribe(ngx_http_request_t *r,
    ngx_ws_sse_ctx_t *ctx);
static ngx_int_t ngx_ws_sse_header(ngx_http_request_t *r);
static ngx_ws_shared_t *ngx_ws_sse_format(ngx_ws_sh_msg_t *m,
    ngx_str_t *channel, ngx_log_t *log);
static ngx_int_t ngx_ws_sse_deliver(ngx_ws_sub_t *sub, ngx_ws_shared_t *sh);
static void ngx_ws_sse_end(ngx_ws_sub_t *sub, char *why);
static ngx_int_t ngx_ws_sse_static(ngx_ws_sse_ctx_t *ctx, u_char *data,
    size_t len);
static ngx_ws_sse_item_t *ngx_ws_sse_item(ngx_ws_sse_ctx_t *ctx);
static void ngx_ws_sse_queue(ngx_ws_sse_ctx_t *ctx, ngx_ws_sse_item_t *it);
static ngx_uint_t ngx_ws_sse_chan(ngx_ws_sse_ctx_t *ctx, ngx_ws_sub_t *sub);
static void ngx_ws_sse_trim(ngx_ws_sse_ctx_t *ctx, size_t size);
static ngx_int_t ngx_ws_sse_lost(ngx_ws_sse_ctx_t *ctx);
static u_char *ngx_ws_sse_id_line(ngx_ws_sse_ctx_t *ctx, ngx_ws_sub_t *cur,
    int64_t *ids, size_t *len);
static void ngx_ws_sse_write(ngx_http_request_t *r);
static void ngx_ws_sse_reclaim(ngx_ws_sse_ctx_t *ctx);
static void ngx_ws_sse_release(ngx_ws_sse_ctx_t *ctx,
    ngx_ws_sse_item_t *it);
static void ngx_ws_sse_ping(ngx_event_t *ev);
static void ngx_ws_sse_stop(ngx_ws_sse_ctx_t *ctx, ngx_uint_t end,
    char *why);
static void ngx_ws_sse_drain(ngx_ws_stream_t *st);
static void ngx_ws_stream_read_handler(ngx_event_t *rev);
static void ngx_ws_sse_cleanup(void *data);


static ngx_ws_transport_t  ngx_ws_sse_transport = {
    ngx_ws_sse_format,
    ngx_ws_sse_deliver,
    ngx_ws_sse_end,
    0
};


static u_char  ngx_ws_sse_ping_line[] = ": ping\n\n";

/* the read handler of an HTTP/1 request, called by the stream's own */
static ngx_event_handler_pt  ngx_ws_stream_http_handler;
static ngx_str_t  ngx_ws_sse_last_event_id = ngx_string("Last-Event-ID");


ngx_int_t
ngx_ws_sse_init_conf(ngx_conf_t *cf)
{
    ngx_ws_transports[ngx_ws_sse_transport.index] = &ngx_ws_sse_transport;

    return NGX_OK;
}


/* ws_sse: the location's content handler */

char *
ngx_ws_sse_conf(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_ws_loc_conf_t *wlcf = conf;

    ngx_http_core_loc_conf_t  *clcf;

    if (wlcf->sse) {
        return "is duplicate";
    }

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);

    if (clcf->handler != NULL || wlcf->enable || wlcf->longpoll) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"ws_sse\" conflicts with another content "
                           "handler in this location");
        return NGX_CONF_ERROR;
    }

    wlcf->sse = 1;
    clcf->handler = ngx_ws_sse_handler;

    return NGX_CONF_OK;
}


/*
 * What an EventSource or long-poll request must be, before anything is
 * subscribed: a main GET or HEAD request of a location with channels, from
 * an allowed Origin; its body, if any, discarded.
 */

ngx_int_t
ngx_ws_sse_request_check(ngx_http_request_t *r, ngx_ws_loc_conf_t *wlcf,
    char *directive)
{
    ngx_int_t  rc;

    if (r != r->main) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "%s location cannot serve a subrequest", directive);
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (!(r->method & (NGX_HTTP_GET|NGX_HTTP_HEAD))) {
        return NGX_HTTP_NOT_ALLOWED;
    }

    if (wlcf->subscribe == NULL) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "%s location has no ws_subscribe channel", directive);
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    rc = ngx_http_discard_request_body(r);

    if (rc != NGX_OK) {
        return rc;
    }

    if (wlcf->origins != NULL) {
        rc = ngx_ws_check_origin(r, wlcf);

        if (rc != NGX_OK) {
            ngx_ws_stat_reject(rc);
            return rc;
        }
    }

    return NGX_OK;
}


static ngx_int_t
ngx_ws_sse_handler(ngx_http_request_t *r)
{
    u_char              *p;
    ngx_int_t            rc;
    ngx_ws_sse_ctx_t    *ctx;
    ngx_ws_loc_conf_t   *wlcf;
    ngx_pool_cleanup_t  *cln;

    wlcf = ngx_http_get_module_loc_conf(r, ngx_ws_module);

    rc = ngx_ws_sse_request_check(r, wlcf, "ws_sse");

    if (rc != NGX_OK) {
        return rc;
    }

    ctx = ngx_pcalloc(r->pool, sizeof(ngx_ws_sse_ctx_t));
    if (ctx == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ctx->request = r;
    ctx->conf = wlcf;
    ctx->last = &ctx->head;
    ngx_queue_init(&ctx->subs);

    cln = ngx_pool_cleanup_add(r->pool, 0);
    if (cln == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    cln->handler = ngx_ws_sse_cleanup;
    cln->data = ctx;

    if (ngx_ws_ctx_set_part(r, NGX_WS_CTX_SSE, ctx) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ctx->ping.handler = ngx_ws_sse_ping;
    ctx->ping.data = ctx;
    ctx->ping.log = r->connection->log;

    ctx->flush.flush = 1;
    ctx->flush.tag = (ngx_buf_tag_t) &ngx_ws_sse_transport;
    ctx->flush_cl.buf = &ctx->flush;

    /* the reconnection delay goes first */

    if (wlcf->sse_retry) {
        p = ngx_sprintf(ctx->retry, "retry: %M\n\n", wlcf->sse_retry);

        if (ngx_ws_sse_static(ctx, ctx->retry, p - ctx->retry) != NGX_OK) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }
    }

    rc = ngx_ws_sse_subscribe(r, ctx);

    if (rc != NGX_OK) {
        return rc;
    }

    if (ctx->trimmed && ngx_ws_sse_lost(ctx) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ctx->st.transport = NGX_WS_STREAM_SSE;
    ctx->st.drain = ngx_ws_sse_drain;

    if (ngx_ws_stream_start(r, &ctx->st, ctx->names, ctx->nnames) != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    rc = ngx_ws_sse_header(r);

    if (rc == NGX_ERROR || rc > NGX_OK || r->header_only) {
        return rc;
    }

    ctx->streaming = 1;

    ngx_ws_stats->sse++;
    ngx_ws_stats->sse_total++;

    r->main->count++;
    r->read_event_handler = ngx_http_test_reading;
    r->write_event_handler = ngx_ws_sse_write;

    if (wlcf->sse_heartbeat) {
        ngx_add_timer(&ctx->ping, wlcf->sse_heartbeat);
    }

    ngx_post_event(r->connection->write, &ngx_posted_events);

    ngx_ws_stream_watch(r, &ctx->st);

    return NGX_DONE;
}


/*
 * What the $ws_* variables show of an EventSource or long-poll request:
 * an id of the same form as a WebSocket's, its channels, its start.
 */

ngx_int_t
ngx_ws_stream_start(ngx_http_request_t *r, ngx_ws_stream_t *st,
    ngx_str_t *names, ngx_uint_t n)
{
    u_char      *p;
    size_t       len;
    ngx_uint_t   i;
    ngx_time_t  *tp;

    if (ngx_ws_random_id(r->pool, r->connection->log, &st->id) != NGX_OK) {
        return NGX_ERROR;
    }

    len = 0;

    for (i = 0; i < n; i++) {
        len += names[i].len + 1;
    }

    p = ngx_pnalloc(r->pool, len);
    if (p == NULL) {
        return NGX_ERROR;
    }

    st->channels.data = p;

    for (i = 0; i < n; i++) {
        p = ngx_cpymem(p, names[i].data, names[i].len);
        *p++ = ',';
    }

    st->channels.len = len - 1;

    tp = ngx_timeofday();
    st->start_sec = tp->sec;
    st->start_msec = tp->msec;

    return NGX_OK;
}


/*
 * A worker that shuts down (a reload, a graceful stop) closes the idle
 * connections: a waiting stream is one, and is told by its drain hook
 * instead of being closed at once.  HTTP/1 only: an HTTP/2 stream is not
 * a connection of its own, its timer sees ngx_exiting.
 *
 * A client that closed or reset the connection right behind its request
 * was told of in the event that brought the request, which is spent: a
 * long-poll writes nothing before a message or its timeout, so the read
 * event is posted for ngx_http_test_reading to see the end now.
 */

void
ngx_ws_stream_watch(ngx_http_request_t *r, ngx_ws_stream_t *st)
{
    ngx_connection_t  *c;

    c = r->connection;

    if (c->read->pending_eof && !c->read->posted) {
        ngx_post_event(c->read, &ngx_posted_events);
    }

    if (r->http_version >= NGX_HTTP_VERSION_20
        || c->read->handler == ngx_ws_stream_read_handler)
    {
        return;
    }

    ngx_ws_stream_http_handler = c->read->handler;
    c->read->handler = ngx_ws_stream_read_handler;
    c->idle = 1;

    if (ngx_exiting) {
        /* the idle connections have been closed already */
        st->drain(st);
    }
}


void
ngx_ws_stream_unwatch(ngx_http_request_t *r)
{
    ngx_connection_t  *c;

    c = r->connection;

    if (c->read->handler == ngx_ws_stream_read_handler) {
        c->read->handler = ngx_ws_stream_http_handler;
        c->idle = 0;
    }
}


static void
ngx_ws_stream_read_handler(ngx_event_t *rev)
{
    ngx_ws_stream_t     *st;
    ngx_connection_t    *c;
    ngx_http_request_t  *r;

    c = rev->data;
    r = c->data;

    if (c->close && !c->error) {
        st = ngx_ws_ctx_part(r, NGX_WS_CTX_SSE);

        if (st) {
            c->close = 0;
            c->idle = 0;
            st->drain(st);
            return;
        }
    }

    /* worker_shutdown_timeout, or the request's own events */

    ngx_ws_stream_http_handler(rev);
}


/*
 * ws_shutdown_delay, then a moment drawn uniformly from ws_drain_window,
 * as for a WebSocket: the clients of a reloaded worker do not all come
 * back in the same instant.
 */

ngx_msec_t
ngx_ws_stream_drain_delay(ngx_ws_loc_conf_t *wlcf)
{
    ngx_msec_t  delay;

    delay = wlcf->shutdown_delay;

    if (wlcf->drain_window) {
        delay += (ngx_msec_t) ((uint64_t) ngx_random()
                               % ((uint64_t) wlcf->drain_window + 1));
    }

    return delay;
}


/* the worker shuts down: the stream ends, with its last chunk, in a while */

static void
ngx_ws_sse_drain(ngx_ws_stream_t *st)
{
    ngx_msec_t         delay;
    ngx_ws_sse_ctx_t  *ctx;

    ctx = (ngx_ws_sse_ctx_t *) st;

    if (ctx->draining || ctx->ending || ctx->closing) {
        return;
    }

    ctx->draining = 1;

    if (ctx->ping.timer_set) {
        ngx_del_timer(&ctx->ping);
    }

    delay = ngx_ws_stream_drain_delay(ctx->conf);

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, ctx->request->connection->log, 0,
                   "event stream ends in %M", delay);

    /*
     * the heartbeat timer, not cancelable: the worker waits for it, and
     * for the last chunk it writes (a posted event alone would not keep
     * the worker, even for no delay)
     */
    ngx_add_timer(&ctx->ping, delay ? delay : 1);
}


static void
ngx_ws_sse_stop(ngx_ws_sse_ctx_t *ctx, ngx_uint_t end, char *why)
{
    if (ctx->closing || ctx->ending) {
        return;
    }

    ngx_log_error(NGX_LOG_INFO, ctx->request->connection->log, 0,
                  "event stream ends: %s", why);

    ctx->st.end = end;
    ctx->st.reason.data = (u_char *) why;
    ctx->st.reason.len = ngx_strlen(why);

    ctx->ending = 1;
    ngx_post_event(ctx->request->connection->write, &ngx_posted_events);
}


/*
 * The channels of the location, resumed from Last-Event-ID, or else from
 * ws_last_id (the first connection); their names are checked before any
 * is joined.
 */

static ngx_int_t
ngx_ws_sse_subscribe(ngx_http_request_t *r, ngx_ws_sse_ctx_t *ctx)
{
    ngx_str_t              *names, resume;
    ngx_ws_zone_t         **zones;
    ngx_uint_t              i, n;
    ngx_table_elt_t        *h;
    ngx_ws_auth_ctx_t      *auth;
    ngx_ws_channel_conf_t  *cc;

    cc = ctx->conf->subscribe->elts;
    auth = ngx_ws_ctx_auth(r);

    names = ngx_palloc(r->pool,
                       ctx->conf->subscribe->nelts * sizeof(ngx_str_t));
    if (names == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    n = 0;

    for (i = 0; i < ctx->conf->subscribe->nelts; i++) {

        /* the names ws_auth_request was shown, when it was asked */

        if (auth && auth->channels) {
            names[i] = auth->subscribe[i];

        } else if (ngx_http_complex_value(r, &cc[i].name, &names[i])
                   != NGX_OK)
        {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        if (names[i].len == 0) {
            continue;
        }

        if (ngx_ws_channel_name(cc[i].zone, &names[i], NGX_LOG_INFO,
                                "client", r->connection->log)
            != NGX_OK)
        {
            return NGX_HTTP_BAD_REQUEST;
        }

        n++;
    }

    if (n == 0) {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "client asked for no channel");
        return NGX_HTTP_BAD_REQUEST;
    }

    ctx->multi = (n > 1);

    ngx_str_null(&resume);

    h = ngx_ws_find_header(&r->headers_in.headers,
                           &ngx_ws_sse_last_event_id, NULL);
    if (h) {
        resume = h->value;
    }

    if (resume.len == 0
        && ctx->conf->last_id
        && ngx_http_complex_value(r, ctx->conf->last_id, &resume) != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ctx->names = ngx_palloc(r->pool, n * sizeof(ngx_str_t));
    ctx->starts = ngx_palloc(r->pool, n * sizeof(int64_t));
    ctx->lost = ngx_palloc(r->pool, n * sizeof(int64_t));
    ctx->joined = ngx_pcalloc(r->pool, n * sizeof(ngx_ws_sub_t *));
    zones = ngx_palloc(r->pool, n * sizeof(ngx_ws_zone_t *));

    if (ctx->names == NULL || ctx->starts == NULL || ctx->lost == NULL
        || ctx->joined == NULL || zones == NULL)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    for (i = 0; i < n; i++) {
        ctx->lost[i] = -1;
    }

    for (i = 0; i < ctx->conf->subscribe->nelts; i++) {
        if (names[i].len) {
            ctx->names[ctx->nnames] = names[i];
            ctx->starts[ctx->nnames] = ngx_ws_channel_last_id(r->pool,
                                                              &resume,
                                                              &names[i]);
            zones[ctx->nnames++] = cc[i].zone;
        }
    }

    for (i = 0; i < ctx->nnames; i++) {
        ctx->joined[i] = ngx_ws_channel_subscribe(zones[i], &ctx->names[i],
                                                  ctx->starts[i],
                                                  &ngx_ws_sse_transport, ctx,
                                                  &ctx->subs,
                                                  r->connection->log);
        if (ctx->joined[i] == NULL) {
            return NGX_HTTP_SERVICE_UNAVAILABLE;
        }

        ctx->nsubs++;
    }

    return NGX_OK;
}


static ngx_int_t
ngx_ws_sse_header(ngx_http_request_t *r)
{
    ngx_table_elt_t  *h;

    r->headers_out.status = NGX_HTTP_OK;
    r->headers_out.content_length_n = -1;
    r->allow_ranges = 0;

    ngx_str_set(&r->headers_out.content_type,
                "text/event-stream; charset=utf-8");
    r->headers_out.content_type_len = sizeof("text/event-stream") - 1;
    r->headers_out.content_type_lowcase = NULL;

    h = ngx_list_push(&r->headers_out.headers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    h->hash = 1;
    ngx_str_set(&h->key, "Cache-Control");
    ngx_str_set(&h->value, "no-cache");

    h = ngx_list_push(&r->headers_out.headers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    h->hash = 1;
    ngx_str_set(&h->key, "X-Accel-Buffering");
    ngx_str_set(&h->value, "no");

    if (ngx_ws_sse_cors(r) != NGX_OK) {
        return NGX_ERROR;
    }

    return ngx_http_send_header(r);
}


/* CORS: an Origin that ws_origins allowed is allowed to read the answer */

ngx_int_t
ngx_ws_sse_cors(ngx_http_request_t *r)
{
    ngx_uint_t        i;
    ngx_list_part_t  *part;
    ngx_table_elt_t  *h, *origin;

    origin = NULL;

    if (((ngx_ws_loc_conf_t *) ngx_http_get_module_loc_conf(r, ngx_ws_module))
        ->origins)
    {
        part = &r->headers_in.headers.part;
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

            if (h[i].key.len == sizeof("Origin") - 1
                && ngx_strncasecmp(h[i].key.data, (u_char *) "Origin",
                                   sizeof("Origin") - 1) == 0)
            {
                origin = &h[i];
            }
        }
    }

    if (origin) {
        h = ngx_list_push(&r->headers_out.headers);
        if (h == NULL) {
            return NGX_ERROR;
        }

        h->hash = 1;
        ngx_str_set(&h->key, "Access-Control-Allow-Origin");
        h->value = origin->value;

        h = ngx_list_push(&r->headers_out.headers);
        if (h == NULL) {
            return NGX_ERROR;
        }

        h->hash = 1;
        ngx_str_set(&h->key, "Access-Control-Allow-Credentials");
        ngx_str_set(&h->value, "true");

        h = ngx_list_push(&r->headers_out.headers);
        if (h == NULL) {
            return NGX_ERROR;
        }

        h->hash = 1;
        ngx_str_set(&h->key, "Vary");
        ngx_str_set(&h->value, "Origin");
    }

    return NGX_OK;
}


/*
 * A message as an event, once per worker (the zone is locked):
 *
 *     id: ID
 *     event: message | binary | history_lost
 *     data: LINE                (one per line of the message)
 *
 * A binary message is one data line in base64.  The "id:" line comes
 * first, its length in sh->payload: a subscriber of several channels
 * writes an id line of its own instead.
 */

static ngx_ws_shared_t *
ngx_ws_sse_format(ngx_ws_sh_msg_t *m, ngx_str_t *channel, ngx_log_t *log)
{
    u_char           *p, *start, *d, *end;
    size_t            len, lines;
    ngx_str_t         src, dst;
    ngx_pool_t       *pool;
    ngx_ws_shared_t  *sh;
    const char       *event;

    end = m->data + m->len;

    if (m->opcode == NGX_WS_OP_BINARY) {
        event = "binary";
        lines = 1;
        len = ngx_base64_encoded_length(m->len);

    } else {
        event = (m->opcode == 0) ? "history_lost" : "message";
        lines = 1;

        for (d = m->data; d < end; d++) {
            if (*d == '\n' || (*d == '\r' && (d + 1 == end || d[1] != '\n')))
            {
                lines++;
            }
        }

        len = m->len;
    }

    len += sizeof("id: \nevent: \n\n") - 1 + NGX_INT64_LEN
           + ngx_strlen(event) + lines * (sizeof("data: \n") - 1);

    pool = ngx_create_pool(ngx_ws_pool_size(len), log);
    if (pool == NULL) {
        return NULL;
    }

    sh = ngx_palloc(pool, sizeof(ngx_ws_shared_t));
    start = ngx_pnalloc(pool, len);

    if (sh == NULL || start == NULL) {
        ngx_destroy_pool(pool);
        return NULL;
    }

    p = ngx_sprintf(start, "id: %uL\n", m->id);

    sh->payload = p - start;

    p = ngx_sprintf(p, "event: %s\ndata: ", event);

    if (m->opcode == NGX_WS_OP_BINARY) {
        src.data = m->data;
        src.len = m->len;
        dst.data = p;
        ngx_encode_base64(&dst, &src);
        p += dst.len;

    } else {
        for (d = m->data; d < end; d++) {
            if (*d == '\r' || *d == '\n') {
                if (*d == '\r' && d + 1 < end && d[1] == '\n') {
                    d++;
                }

                p = ngx_cpymem(p, "\ndata: ", sizeof("\ndata: ") - 1);
                continue;
            }

            *p++ = *d;
        }
    }

    *p++ = '\n';
    *p++ = '\n';

    sh->pool = pool;
    sh->refs = 1;                   /* the maker's, until shared_done() */
    sh->frame = start;
    sh->len = p - start;

    return sh;
}


/*
 * A message for one subscriber: queued, or the subscriber is closed when
 * more than ws_send_buffer would wait to be written (a gap in an event
 * stream would go unseen: it reconnects and resumes from history).
 */

static ngx_int_t
ngx_ws_sse_deliver(ngx_ws_sub_t *sub, ngx_ws_shared_t *sh)
{
    u_char              *own;
    size_t               size, len, mem;
    ngx_ws_sse_ctx_t    *ctx;
    ngx_ws_sse_item_t   *it;

    ctx = sub->data;

    if (ctx->closing || ctx->ending) {
        return NGX_DONE;
    }

    own = NULL;
    len = 0;

    if (ctx->multi) {
        own = ngx_ws_sse_id_line(ctx, sub, NULL, &len);
        if (own == NULL) {
            ngx_ws_sse_end(sub, "no memory");
            return NGX_DONE;
        }

        size = len + sh->len - sh->payload;

    } else {
        size = sh->len;
    }

    /*
     * ws_send_buffer bounds what the queue holds, not its bytes alone: the
     * item, the frame's pool (as for a WebSocket, ngx_ws_shared_mem()),
     * the id line
     */

    mem = sizeof(ngx_ws_sse_item_t) + ngx_ws_shared_mem(sh) + len;

    if (!ctx->streaming && ctx->queued + mem > ctx->conf->send_buffer) {

        /*
         * the replay of a resume, before the response header: it is not
         * a slow reader yet, the oldest events of the replay give way
         * (a history_lost event tells it) to the newest that fit
         */

        ngx_ws_sse_trim(ctx, mem);

    } else if (ctx->queued && ctx->queued + mem > ctx->conf->send_buffer) {
        if (own) {
            ngx_free(own);
        }

        ngx_log_error(NGX_LOG_WARN, ctx->request->connection->log, 0,
                      "event stream subscriber is too slow, closing");

        ctx->st.end = NGX_WS_END_LIMIT;
        ngx_str_set(&ctx->st.reason, "too slow");
        ctx->closing = 1;
        ngx_post_event(ctx->request->connection->write, &ngx_posted_events);

        return NGX_DONE;
    }

    it = ngx_ws_sse_item(ctx);
    if (it == NULL) {
        if (own) {
            ngx_free(own);
        }

        ngx_ws_sse_end(sub, "no memory");
        return NGX_DONE;
    }

    sh->refs++;
    it->sh = sh;
    it->own = own;
    it->size = size;
    it->mem = mem;
    it->id = (int64_t) sub->last_id;

    /* a replay's item may be trimmed (ngx_ws_sse_trim()): whose it is */
    it->chan = ctx->streaming ? 0 : ngx_ws_sse_chan(ctx, sub);

    if (own) {
        it->buf[0].pos = own;
        it->buf[0].last = own + len;
        it->buf[1].pos = sh->frame + sh->payload;

    } else {
        it->buf[0].pos = sh->frame;
        it->buf[0].last = sh->frame;
        it->buf[1].pos = sh->frame;
    }

    it->buf[1].last = sh->frame + sh->len;

    ngx_ws_sse_queue(ctx, it);

    ngx_ws_stats->delivered++;

    return NGX_OK;
}


/* the index of the subscriber's channel in ctx->names */

static ngx_uint_t
ngx_ws_sse_chan(ngx_ws_sse_ctx_t *ctx, ngx_ws_sub_t *sub)
{
    ngx_str_t   *name;
    ngx_uint_t   i;

    for (i = 0; i < ctx->nnames; i++) {
        if (ctx->joined[i] == sub) {
            return i;
        }
    }

    /* not joined yet: its replay is under way */

    for (i = 0; i < ctx->nnames; i++) {
        name = &ctx->names[i];

        if (ctx->joined[i] == NULL
            && sub->spool->name.len == name->len
            && ngx_memcmp(sub->spool->name.data, name->data, name->len) == 0)
        {
            return i;
        }
    }

    return 0;
}


/*
 * A replay larger than ws_send_buffer, before the response header: the
 * oldest events queued are dropped until the next one (which holds "size"
 * bytes of memory, ngx_ws_sse_deliver()) fits, with room left for the
 * history_lost events that ngx_ws_sse_lost() puts before the rest.
 * Static lines (retry) stay.
 */

static void
ngx_ws_sse_trim(ngx_ws_sse_ctx_t *ctx, size_t size)
{
    size_t               room, idl;
    ngx_uint_t           i;
    ngx_ws_sse_item_t   *it, **pp;

    idl = sizeof("id: \n") - 1;

    for (i = 0; i < ctx->nnames; i++) {
        idl += ctx->names[i].len * 3 + sizeof(",=") - 1 + NGX_INT64_LEN;
    }

    room = 0;

    for (i = 0; i < ctx->nnames; i++) {
        /*
         * what a history_lost event holds: its item, its frame's pool
         * (twice the JSON and the event's lines, the name escaped in
         * both, and at least 1 KB), its id line
         */
        room += sizeof(ngx_ws_sse_item_t) + sizeof(ngx_ws_msg_t) + 1024
                + 2 * (256 + 6 * ctx->names[i].len)
                + (ctx->multi ? idl : 0);
    }

    pp = &ctx->head;

    while (ctx->queued + size + room > ctx->conf->send_buffer) {

        while (*pp && (*pp)->sh == NULL) {
            pp = &(*pp)->next;
        }

        it = *pp;

        if (it == NULL) {
            break;
        }

        *pp = it->next;

        if (*pp == NULL) {
            ctx->last = pp;
        }

        ctx->lost[it->chan] = it->id;
        ctx->trimmed = 1;

        ngx_ws_sse_release(ctx, it);
    }

    /* nothing was passed on yet */
    ctx->unsent = ctx->head;
}


/*
 * A history_lost event for each channel whose replay was trimmed, before
 * the events left (after the static lines): as the channel's own, from
 * the id the client resumed from to the first event it gets; its id is
 * the last one dropped, so that a reconnect after it does not ask again.
 */

static ngx_int_t
ngx_ws_sse_lost(ngx_ws_sse_ctx_t *ctx)
{
    u_char              *own;
    size_t               len;
    int64_t             *ids;
    ngx_uint_t           i;
    ngx_ws_shared_t     *sh;
    ngx_ws_sse_item_t   *it, **pp;

    ids = NULL;

    if (ctx->multi) {

        /* where each channel is before the first event left */

        ids = ngx_palloc(ctx->request->pool, ctx->nnames * sizeof(int64_t));
        if (ids == NULL) {
            return NGX_ERROR;
        }

        for (i = 0; i < ctx->nnames; i++) {
            if (ctx->lost[i] >= 0) {
                ids[i] = ctx->lost[i];

            } else if (ctx->starts[i] >= 0) {
                ids[i] = ctx->starts[i];

            } else {
                ids[i] = (int64_t) ctx->joined[i]->last_id;
            }
        }
    }

    pp = &ctx->head;

    while (*pp && (*pp)->sh == NULL) {
        pp = &(*pp)->next;
    }

    for (i = 0; i < ctx->nnames; i++) {

        if (ctx->lost[i] < 0) {
            continue;
        }

        sh = ngx_ws_channel_history_lost(&ctx->names[i],
                                         ngx_max(ctx->starts[i], 0),
                                         (uint64_t) ctx->lost[i] + 1,
                                         &ngx_ws_sse_transport,
                                         ctx->request->connection->log);
        if (sh == NULL) {
            return NGX_ERROR;
        }

        own = NULL;
        len = 0;

        if (ids) {
            own = ngx_ws_sse_id_line(ctx, NULL, ids, &len);
            if (own == NULL) {
                ngx_destroy_pool(sh->pool);
                return NGX_ERROR;
            }
        }

        it = ngx_ws_sse_item(ctx);
        if (it == NULL) {
            if (own) {
                ngx_free(own);
            }

            ngx_destroy_pool(sh->pool);
            return NGX_ERROR;
        }

        /* the item takes the maker's reference */

        it->sh = sh;
        it->own = own;
        it->id = ctx->lost[i];
        it->chan = i;

        if (own) {
            it->size = len + sh->len - sh->payload;
            it->buf[0].pos = own;
            it->buf[0].last = own + len;
            it->buf[1].pos = sh->frame + sh->payload;

        } else {
            it->size = sh->len;
            it->buf[0].pos = sh->frame;
            it->buf[0].last = sh->frame;
            it->buf[1].pos = sh->frame;
        }

        it->buf[1].last = sh->frame + sh->len;
        it->mem = sizeof(ngx_ws_sse_item_t) + ngx_ws_shared_mem(sh) + len;

        it->next = *pp;
        *pp = it;
        pp = &it->next;

        if (it->next == NULL) {
            ctx->last = &it->next;
        }

        ctx->queued += it->mem;
    }

    ctx->unsent = ctx->head;

    return NGX_OK;
}


/*
 * "id: NAME=ID,...": the ws_last_id value of every channel of the stream,
 * in ws_subscribe order: where each is as of this event.  A channel not
 * joined yet (the replay of an earlier one is under way) has the id it
 * is resumed from, or is left out for none.
 */

static u_char *
ngx_ws_sse_id_line(ngx_ws_sse_ctx_t *ctx, ngx_ws_sub_t *cur, int64_t *ids,
    size_t *len)
{
    u_char        *p, *buf, *n, *end;
    size_t         size;
    int64_t        id;
    ngx_str_t     *name;
    ngx_uint_t     i, any;
    ngx_ws_sub_t  *sub;

    static u_char  hex[] = "0123456789ABCDEF";

    size = sizeof("id: \n") - 1;

    for (i = 0; i < ctx->nnames; i++) {
        size += ctx->names[i].len * 3 + sizeof(",=") - 1 + NGX_INT64_LEN;
    }

    buf = ngx_alloc(size, ctx->request->connection->log);
    if (buf == NULL) {
        return NULL;
    }

    p = ngx_cpymem(buf, "id: ", sizeof("id: ") - 1);
    any = 0;

    for (i = 0; i < ctx->nnames; i++) {
        name = &ctx->names[i];
        sub = ctx->joined[i];

        if (ids == NULL
            && sub == NULL
            && cur->spool->name.len == name->len
            && ngx_memcmp(cur->spool->name.data, name->data, name->len) == 0)
        {
            sub = cur;
        }

        if (ids) {
            /* given: where each channel is at this event, or -1 */
            id = ids[i];

        } else if (sub) {
            id = (int64_t) sub->last_id;

        } else {
            id = ctx->starts[i];
        }

        if (id < 0) {
            continue;
        }

        if (any) {
            *p++ = ',';
        }

        any = 1;

        end = name->data + name->len;

        for (n = name->data; n < end; n++) {

            if ((*n >= 'A' && *n <= 'Z') || (*n >= 'a' && *n <= 'z')
                || (*n >= '0' && *n <= '9')
                || *n == '-' || *n == '.' || *n == '_' || *n == '~'
                || *n == ':' || *n == '@' || *n == '/')
            {
                *p++ = *n;
                continue;
            }

            *p++ = '%';
            *p++ = hex[*n >> 4];
            *p++ = hex[*n & 0xf];
        }

        p = ngx_sprintf(p, "=%L", id);
    }

    *p++ = '\n';
    *len = p - buf;

    return buf;
}


/* the channel was deleted, or a message cannot be given: the stream ends */

static void
ngx_ws_sse_end(ngx_ws_sub_t *sub, char *why)
{
    ngx_ws_sse_stop(sub->data, NGX_WS_END_SERVER, why);
}


static ngx_int_t
ngx_ws_sse_static(ngx_ws_sse_ctx_t *ctx, u_char *data, size_t len)
{
    ngx_ws_sse_item_t  *it;

    it = ngx_ws_sse_item(ctx);
    if (it == NULL) {
        return NGX_ERROR;
    }

    it->sh = NULL;
    it->own = NULL;
    it->size = len;
    it->mem = sizeof(ngx_ws_sse_item_t) + len;
    it->buf[0].pos = data;
    it->buf[0].last = data;
    it->buf[1].pos = data;
    it->buf[1].last = data + len;

    ngx_ws_sse_queue(ctx, it);

    return NGX_OK;
}


static ngx_ws_sse_item_t *
ngx_ws_sse_item(ngx_ws_sse_ctx_t *ctx)
{
    ngx_uint_t          k;
    ngx_ws_sse_item_t  *it;

    it = ctx->free;

    if (it) {
        ctx->free = it->next;
        ctx->nfree--;

    } else {
        it = ngx_alloc(sizeof(ngx_ws_sse_item_t),
                       ctx->request->connection->log);
        if (it == NULL) {
            return NULL;
        }
    }

    ngx_memzero(it, sizeof(ngx_ws_sse_item_t));

    for (k = 0; k < 2; k++) {
        it->buf[k].memory = 1;
        it->buf[k].tag = (ngx_buf_tag_t) &ngx_ws_sse_transport;
        it->cl[k].buf = &it->buf[k];
    }

    it->cl[0].next = &it->cl[1];

    return it;
}


static void
ngx_ws_sse_queue(ngx_ws_sse_ctx_t *ctx, ngx_ws_sse_item_t *it)
{
    *ctx->last = it;
    ctx->last = &it->next;

    if (ctx->unsent == NULL) {
        ctx->unsent = it;
    }

    ctx->queued += it->mem;

    if (ctx->streaming) {
        ngx_post_event(ctx->request->connection->write, &ngx_posted_events);
    }
}


/* what is queued is passed on; a stream that ends gets its last chunk */

static void
ngx_ws_sse_write(ngx_http_request_t *r)
{
    ngx_int_t            rc;
    ngx_chain_t         *out, **ll;
    ngx_event_t         *wev;
    ngx_connection_t    *c;
    ngx_ws_sse_ctx_t    *ctx;
    ngx_ws_sse_item_t   *it;

    c = r->connection;
    wev = c->write;
    ctx = ngx_ws_ctx_part(r, NGX_WS_CTX_SSE);

    if (wev->timedout) {
        if (c->sent == ctx->sent) {
            ngx_log_error(NGX_LOG_INFO, c->log, NGX_ETIMEDOUT,
                          "event stream client timed out");
            ctx->st.end = NGX_WS_END_TIMEOUT;
            ngx_str_set(&ctx->st.reason, "send timeout");
            c->timedout = 1;
            ngx_http_finalize_request(r, NGX_HTTP_REQUEST_TIME_OUT);
            return;
        }

        /* written meanwhile, not by this handler (HTTP/2) */
        wev->timedout = 0;
    }

    if (ctx->closing) {
        ngx_http_finalize_request(r, NGX_ERROR);
        return;
    }

    /*
     * The socket takes nothing now: the events queued meanwhile wait for
     * it to drain and then leave in one pass.  Passed down one by one
     * while it is full, each would cost a walk of everything that waits
     * in the filters' chains, and a chunk header more.  (Over HTTP/2 the
     * stream's writes are the connection's business: passed on.)
     */

    if (!ctx->ending && !wev->ready && wev->timer_set
        && (c->buffered & NGX_HTTP_WRITE_BUFFERED)
#if (NGX_HTTP_V2)
        && r->stream == NULL
#endif
       )
    {
        return;
    }

    out = NULL;
    ll = &out;

    for (it = ctx->unsent; it; it = it->next) {
        *ll = it->own ? &it->cl[0] : &it->cl[1];
        ll = &it->cl[1].next;
        it->cl[1].next = NULL;
        it->buf[1].flush = (it->next == NULL);
    }

    ctx->unsent = NULL;

    if (ctx->ending) {
        if (out) {
            rc = ngx_http_output_filter(r, out);

            if (rc == NGX_ERROR) {
                ngx_http_finalize_request(r, NGX_ERROR);
                return;
            }

            ngx_ws_sse_reclaim(ctx);
        }

        if (wev->timer_set) {
            ngx_del_timer(wev);
        }

        ngx_ws_stream_unwatch(r);

        r->keepalive = 0;
        r->write_event_handler = ngx_http_request_empty_handler;

        ngx_http_finalize_request(r, ngx_http_send_special(r,
                                                       NGX_HTTP_LAST));
        return;
    }

    /*
     * Nothing new (the header alone, at once, or the socket drains): a
     * flush buffer, never a NULL chain.  The chunked filter passes a NULL
     * chain on without updating its busy list, which still links the bufs
     * of items written meanwhile and released below: its next pass would
     * read freed memory.  The buffer is the stream's own, not one from
     * the request's pool on every write event.
     */

    rc = ngx_http_output_filter(r, out ? out : &ctx->flush_cl);

    if (rc == NGX_ERROR) {
        ngx_http_finalize_request(r, NGX_ERROR);
        return;
    }

    ngx_ws_sse_reclaim(ctx);

    if (c->buffered & NGX_HTTP_WRITE_BUFFERED) {

        /*
         * ws_send_timeout is how long a write may make no progress: any
         * byte written since the timer started starts it again
         */

        if (!wev->timer_set || c->sent != ctx->sent) {
            ctx->sent = c->sent;
            ngx_add_timer(wev, ctx->conf->send_timeout);
        }

        if (ngx_handle_write_event(wev, 0) != NGX_OK) {
            ngx_http_finalize_request(r, NGX_ERROR);
        }

        return;
    }

    if (wev->timer_set) {
        ngx_del_timer(wev);
    }
}


/* the items written are released, oldest first */

static void
ngx_ws_sse_reclaim(ngx_ws_sse_ctx_t *ctx)
{
    ngx_ws_sse_item_t  *it;

    while (ctx->head && ctx->head != ctx->unsent) {
        it = ctx->head;

        if (ngx_buf_size(&it->buf[0]) || ngx_buf_size(&it->buf[1])) {
            break;
        }

        ctx->head = it->next;

        if (ctx->head == NULL) {
            ctx->last = &ctx->head;
        }

        if (it->sh) {
            /* an event written: $ws_messages_out, $ws_bytes_out */
            ctx->st.messages_out++;
            ctx->st.bytes_out += it->size;
        }

        ngx_ws_sse_release(ctx, it);
    }
}


static void
ngx_ws_sse_release(ngx_ws_sse_ctx_t *ctx, ngx_ws_sse_item_t *it)
{
    ctx->queued -= it->mem;

    if (it->sh && --it->sh->refs == 0) {
        ngx_destroy_pool(it->sh->pool);
    }

    if (it->own) {
        ngx_free(it->own);
    }

    if (ctx->nfree < 16) {
        it->next = ctx->free;
        ctx->free = it;
        ctx->nfree++;
        return;
    }

    ngx_free(it);
}


/*
 * A comment line every ws_sse_heartbeat keeps proxies from closing the
 * stream.  When the worker shuts down the same timer (not cancelable: the
 * worker waits for it) ends the stream at its moment of ws_drain_window,
 * and the browsers reconnect with Last-Event-ID.
 */

static void
ngx_ws_sse_ping(ngx_event_t *ev)
{
    ngx_ws_sse_ctx_t  *ctx;

    ctx = ev->data;

    if (ctx->draining) {
        ngx_ws_sse_stop(ctx, NGX_WS_END_SERVER,
                        "the worker is shutting down");
        return;
    }

    if (ngx_exiting || ngx_terminate || ngx_quit) {
        /* not told by its connection (HTTP/2) */
        ngx_ws_sse_drain(&ctx->st);
        return;
    }

    if (ctx->queued == 0
        && ngx_ws_sse_static(ctx, ngx_ws_sse_ping_line,
                             sizeof(ngx_ws_sse_ping_line) - 1)
           != NGX_OK)
    {
        ctx->closing = 1;
        ngx_post_event(ctx->request->connection->write, &ngx_posted_events);
        return;
    }

    ngx_add_timer(ev, ctx->conf->sse_heartbeat);
}


/* the request is freed: its channels are left, its items released */

static void
ngx_ws_sse_cleanup(void *data)
{
    ngx_ws_sse_ctx_t *ctx = data;

    ngx_queue_t        *q;
    ngx_ws_sse_item_t  *it;

    if (ctx->streaming && ngx_ws_stats->sse) {
        ngx_ws_stats->sse--;
    }

    if (ctx->ping.timer_set) {
        ngx_del_timer(&ctx->ping);
    }

    if (ctx->ping.posted) {
        ngx_delete_posted_event(&ctx->ping);
    }

    while (!ngx_queue_empty(&ctx->subs)) {
        q = ngx_queue_head(&ctx->subs);
        ngx_ws_channel_unsubscribe(ngx_queue_data(q, ngx_ws_sub_t, link));
    }

    while (ctx->head) {
        it = ctx->head;
        ctx->head = it->next;
        ctx->nfree = 16;
        ngx_ws_sse_release(ctx, it);
    }

    while (ctx->free) {
        it = ctx->free;
        ctx->free = it->next;
        ngx_free(it);
    }
}
