
/*
 * Copyright (C) ngx_ws_module authors
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include "ngx_ws_module.h"
#include "ngx_ws_zone.h"


/*
 * ws_snapshot: when a WebSocket joins a channel, a POST subrequest to the
 * configured location asks for the channel's state.  Like an upstream
 * event it is issued from a fake request (ngx_ws_request.c), in a pool of
 * its own that outlives the connection if need be.  The channel code holds
 * the subscriber's messages until the answer is handed back with
 * ngx_ws_channel_snapshot().  ws_snapshot_timeout bounds the wait: the
 * request is then terminated, whatever its upstream is doing.
 */


typedef struct {
    ngx_pool_t                 *pool;
    ngx_ws_sub_t               *sub;              /* NULL once it is gone */
    ngx_log_t                  *log;
    ngx_ws_fake_origin_t        origin;

    ngx_str_t                   uri;
    ngx_str_t                   args;
    ngx_str_t                   channel;
    ngx_str_t                   id;               /* of the connection */
    int64_t                     last_id;

    ngx_event_t                 start_ev;
    ngx_event_t                 timer_ev;         /* ws_snapshot_timeout */
    ngx_msec_t                  timeout;
    ngx_http_request_t         *request;          /* the fake one */

    ngx_uint_t                  status;
    ngx_uint_t                  bad_id;
    ngx_ws_snapshot_t           snap;

    unsigned                    done:1;
    unsigned                    finished:1;
    unsigned                    timed_out:1;
} ngx_ws_snap_ctx_t;


static ngx_ws_sub_t **ngx_ws_snapshot_begin(ngx_ws_conn_t *ws,
    ngx_ws_sub_t *sub, ngx_str_t *name, int64_t last_id);
static void ngx_ws_snapshot_start_handler(ngx_event_t *ev);
static void ngx_ws_snapshot_timeout_handler(ngx_event_t *ev);
static ngx_int_t ngx_ws_snapshot_headers(ngx_ws_snap_ctx_t *ctx,
    ngx_http_request_t *fr);
static ngx_int_t ngx_ws_snapshot_response(ngx_http_request_t *sr,
    void *data, ngx_int_t rc);
static void ngx_ws_snapshot_reply(ngx_ws_snap_ctx_t *ctx,
    ngx_http_request_t *sr);
static void ngx_ws_snapshot_finish(ngx_http_request_t *fr);
static void ngx_ws_snapshot_cleanup(void *data);
static void ngx_ws_snapshot_free(void *data);
static void ngx_ws_snapshot_outcome(ngx_ws_snap_ctx_t *ctx);


ngx_int_t
ngx_ws_snapshot_init_conf(ngx_conf_t *cf)
{
    ngx_ws_snapshot_start = ngx_ws_snapshot_begin;

    return NGX_OK;
}


/* what the request needs is copied now: it may outlive the connection */

static ngx_ws_sub_t **
ngx_ws_snapshot_begin(ngx_ws_conn_t *ws, ngx_ws_sub_t *sub, ngx_str_t *name,
    int64_t last_id)
{
    u_char             *q;
    ngx_str_t           uri;
    ngx_pool_t         *pool;
    ngx_ws_snap_ctx_t  *ctx;

    pool = ngx_create_pool(2048, ngx_cycle->log);
    if (pool == NULL) {
        return NULL;
    }

    ctx = ngx_pcalloc(pool, sizeof(ngx_ws_snap_ctx_t));
    if (ctx == NULL) {
        goto failed;
    }

    ctx->pool = pool;
    ctx->sub = sub;
    ctx->last_id = last_id;
    ctx->timeout = ws->conf->snapshot_timeout;

    ctx->log = ngx_palloc(pool, sizeof(ngx_log_t));
    if (ctx->log == NULL) {
        goto failed;
    }

    *ctx->log = *ngx_cycle->log;

    if (ngx_http_complex_value(ws->request, ws->conf->snapshot, &uri)
        != NGX_OK)
    {
        goto failed;
    }

    q = ngx_strlchr(uri.data, uri.data + uri.len, '?');

    ctx->uri.data = ngx_pstrdup(pool, &uri);
    ctx->channel.data = ngx_pstrdup(pool, name);
    ctx->id.data = ngx_pstrdup(pool, &ws->id);

    if (ctx->uri.data == NULL || ctx->channel.data == NULL
        || ctx->id.data == NULL || uri.len == 0)
    {
        goto failed;
    }

    ctx->uri.len = q ? (size_t) (q - uri.data) : uri.len;
    ctx->channel.len = name->len;
    ctx->id.len = ws->id.len;

    if (q) {
        ctx->args.data = ctx->uri.data + ctx->uri.len + 1;
        ctx->args.len = uri.len - ctx->uri.len - 1;
    }

    if (ngx_ws_fake_origin(&ctx->origin, ws->request, pool) != NGX_OK
        || ngx_ws_origin_headers(&ctx->origin, pool, ws) != NGX_OK)
    {
        goto failed;
    }

    /* issued from the event loop, never from inside a handshake */

    ctx->start_ev.handler = ngx_ws_snapshot_start_handler;
    ctx->start_ev.data = ctx;
    ctx->start_ev.log = ctx->log;

    ngx_post_event(&ctx->start_ev, &ngx_posted_events);

    return &ctx->sub;

failed:

    ngx_destroy_pool(pool);
    return NULL;
}


static void
ngx_ws_snapshot_start_handler(ngx_event_t *ev)
{
    ngx_connection_t            *fc;
    ngx_ws_snap_ctx_t           *ctx;
    ngx_http_request_t          *fr, *sr;
    ngx_pool_cleanup_t          *cln;
    ngx_http_post_subrequest_t  *ps;

    ctx = ev->data;

    if (ctx->sub == NULL) {
        /* the subscription went before the request was made */
        ngx_destroy_pool(ctx->pool);
        return;
    }

    fr = ngx_ws_fake_request(&ctx->origin, ctx->log, &ctx->uri, NULL, 0);
    if (fr == NULL) {
        goto failed;
    }

    fc = fr->connection;

    /* the context goes with the fake connection, the last thing freed */

    cln = ngx_pool_cleanup_add(fc->pool, 0);
    if (cln == NULL) {
        ngx_ws_fake_request_free(fr);
        goto failed;
    }

    cln->handler = ngx_ws_snapshot_free;
    cln->data = ctx;

    if (ngx_ws_snapshot_headers(ctx, fr) != NGX_OK
        || ngx_ws_ctx_set_part(fr, NGX_WS_CTX_SNAPSHOT, ctx) != NGX_OK)
    {
        goto failed_request;
    }

    fr->write_event_handler = ngx_ws_snapshot_finish;

    ps = ngx_palloc(fr->pool, sizeof(ngx_http_post_subrequest_t));
    if (ps == NULL) {
        goto failed_request;
    }

    ps->handler = ngx_ws_snapshot_response;
    ps->data = ctx;

    if (ngx_http_subrequest(fr, &ctx->uri, ctx->args.len ? &ctx->args : NULL,
                            &sr, ps,
                            NGX_HTTP_SUBREQUEST_IN_MEMORY
                            |NGX_HTTP_SUBREQUEST_WAITED)
        != NGX_OK)
    {
        goto failed_request;
    }

    sr->method = NGX_HTTP_POST;
    ngx_str_set(&sr->method_name, "POST");

    cln = ngx_pool_cleanup_add(fr->pool, 0);
    if (cln == NULL) {
        goto failed_request;
    }

    cln->handler = ngx_ws_snapshot_cleanup;
    cln->data = ctx;

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, ctx->log, 0,
                   "ws snapshot of \"%V\" from \"%V\"", &ctx->channel,
                   &ctx->uri);

    ctx->request = fr;

    if (ctx->timeout) {
        ctx->timer_ev.handler = ngx_ws_snapshot_timeout_handler;
        ctx->timer_ev.data = ctx;
        ctx->timer_ev.log = ctx->log;

        ngx_add_timer(&ctx->timer_ev, ctx->timeout);
    }

    ngx_http_run_posted_requests(fc);

    return;

failed_request:

    /* the context is freed with the fake connection */

    ctx->finished = 1;
    ngx_ws_snapshot_outcome(ctx);

    ngx_http_free_request(fr, 0);
    ngx_http_close_connection(fc);

    return;

failed:

    ctx->finished = 1;
    ngx_ws_snapshot_outcome(ctx);

    ngx_destroy_pool(ctx->pool);
}


/*
 * ws_snapshot_timeout: the subscriber goes on as for a failed snapshot
 * (ws_snapshot_error), and the request is ended with its upstream, which
 * proxy_read_timeout alone would let trickle on without a bound.
 */

static void
ngx_ws_snapshot_timeout_handler(ngx_event_t *ev)
{
    ngx_connection_t    *fc;
    ngx_ws_snap_ctx_t   *ctx;
    ngx_http_request_t  *fr;

    ctx = ev->data;
    fr = ctx->request;
    fc = fr->connection;

    if (ctx->finished || ctx->done) {
        /* the answer is in, its parent request about to hand it over */
        return;
    }

    ctx->finished = 1;
    ctx->timed_out = 1;
    ctx->status = NGX_HTTP_GATEWAY_TIME_OUT;

    ngx_ws_snapshot_outcome(ctx);

    /* NGX_ERROR terminates it, the subrequest and its upstream with it */

    ngx_http_finalize_request(fr, NGX_ERROR);
    ngx_http_run_posted_requests(fc);
}


static ngx_int_t
ngx_ws_snapshot_headers(ngx_ws_snap_ctx_t *ctx, ngx_http_request_t *fr)
{
    u_char  *p;

    if (ngx_ws_fake_add_header(fr, "X-WS-Channel", ctx->channel.data,
                               ctx->channel.len)
        != NGX_OK
        || ngx_ws_fake_add_header(fr, "X-WS-Connection-Id", ctx->id.data,
                                  ctx->id.len)
           != NGX_OK)
    {
        return NGX_ERROR;
    }

    if (ctx->last_id < 0) {
        return NGX_OK;
    }

    p = ngx_pnalloc(fr->pool, NGX_INT64_LEN);
    if (p == NULL) {
        return NGX_ERROR;
    }

    return ngx_ws_fake_add_header(fr, "X-WS-Last-Id", p,
                                  ngx_sprintf(p, "%L", ctx->last_id) - p);
}


/* the subrequest is finalized: its answer is kept, the first time */

static ngx_int_t
ngx_ws_snapshot_response(ngx_http_request_t *sr, void *data, ngx_int_t rc)
{
    ngx_ws_snap_ctx_t *ctx = data;

    if (ctx->done || rc == NGX_AGAIN) {
        return rc;
    }

    ctx->done = 1;
    ctx->status = sr->headers_out.status;

    if (rc == NGX_ERROR || rc >= NGX_HTTP_SPECIAL_RESPONSE) {
        ctx->status = (rc >= NGX_HTTP_SPECIAL_RESPONSE
                       && (ctx->status == 0 || sr->upstream == NULL))
                      ? (ngx_uint_t) rc
                      : NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (ctx->status >= NGX_HTTP_OK && ctx->status < 300) {
        ngx_ws_snapshot_reply(ctx, sr);
    }

    return (rc == NGX_ERROR || rc >= NGX_HTTP_SPECIAL_RESPONSE) ? NGX_OK : rc;
}


static void
ngx_ws_snapshot_reply(ngx_ws_snap_ctx_t *ctx, ngx_http_request_t *sr)
{
    size_t            len;
    ngx_buf_t        *b;
    ngx_uint_t        n;
    ngx_list_t       *headers;
    ngx_table_elt_t  *h;

    static ngx_str_t  type = ngx_string("X-WS-Message-Type");
    static ngx_str_t  snapshot_id = ngx_string("X-WS-Snapshot-Id");

    headers = &sr->headers_out.headers;

    ctx->snap.opcode = ngx_ws_content_opcode(&sr->headers_out.content_type);

    h = ngx_ws_find_header(headers, &type, NULL);

    if (h && h->value.len == 4
        && ngx_strncasecmp(h->value.data, (u_char *) "text", 4) == 0)
    {
        ctx->snap.opcode = NGX_WS_OP_TEXT;

    } else if (h && h->value.len == 6
               && ngx_strncasecmp(h->value.data, (u_char *) "binary", 6) == 0)
    {
        ctx->snap.opcode = NGX_WS_OP_BINARY;
    }

    h = ngx_ws_find_header(headers, &snapshot_id, NULL);

    if (h) {
        if (h->value.len == 0 || h->value.len > NGX_INT64_LEN - 1) {
            ctx->bad_id = 1;

        } else {
            ctx->snap.id = 0;

            for (n = 0; n < h->value.len; n++) {
                if (h->value.data[n] < '0' || h->value.data[n] > '9') {
                    ctx->bad_id = 1;
                    break;
                }

                ctx->snap.id = ctx->snap.id * 10 + (h->value.data[n] - '0');
            }

            ctx->snap.has_id = !ctx->bad_id;
        }
    }

    if (sr->out == NULL || sr->out->buf == NULL) {
        return;
    }

    b = sr->out->buf;
    len = b->last - b->pos;

    if (len == 0) {
        return;
    }

    /* the context's pool lasts until the fake connection is closed */

    ctx->snap.data = ngx_pnalloc(ctx->pool, len);
    if (ctx->snap.data == NULL) {
        ctx->status = NGX_HTTP_INTERNAL_SERVER_ERROR;
        return;
    }

    ngx_memcpy(ctx->snap.data, b->pos, len);
    ctx->snap.len = len;
}


/* the parent of the finished subrequest, posted by nginx */

static void
ngx_ws_snapshot_finish(ngx_http_request_t *fr)
{
    ngx_ws_snap_ctx_t  *ctx;

    ctx = ngx_ws_ctx_part(fr, NGX_WS_CTX_SNAPSHOT);

    if (ctx->finished || fr->postponed) {
        return;
    }

    ctx->finished = 1;

    ngx_ws_snapshot_outcome(ctx);

    fr->connection->read->eof = 1;

    ngx_http_finalize_request(fr, NGX_DONE);
}


/* nginx closed the fake request itself: the snapshot failed */

static void
ngx_ws_snapshot_cleanup(void *data)
{
    ngx_ws_snap_ctx_t *ctx = data;

    if (ctx->finished) {
        return;
    }

    ctx->finished = 1;
    ctx->status = NGX_HTTP_INTERNAL_SERVER_ERROR;

    ngx_ws_snapshot_outcome(ctx);
}


static void
ngx_ws_snapshot_free(void *data)
{
    ngx_ws_snap_ctx_t *ctx = data;

    if (ctx->timer_ev.timer_set) {
        ngx_del_timer(&ctx->timer_ev);
    }

    ngx_destroy_pool(ctx->pool);
}


/* the outcome goes to the subscriber, if it is still there */

static void
ngx_ws_snapshot_outcome(ngx_ws_snap_ctx_t *ctx)
{
    ngx_uint_t     level;
    ngx_ws_sub_t  *sub;

    if (ctx->timer_ev.timer_set) {
        ngx_del_timer(&ctx->timer_ev);
    }

    sub = ctx->sub;

    if (sub == NULL) {
        return;
    }

    ctx->sub = NULL;

    if (ctx->timed_out) {
        ngx_log_error(NGX_LOG_ERR, sub->ws->connection->log, 0,
                      "ws snapshot of channel \"%V\" timed out after %M ms",
                      &ctx->channel, ctx->timeout);

        ngx_ws_channel_snapshot(sub, NULL);
        return;
    }

    if (ctx->status < NGX_HTTP_OK || ctx->status >= 300) {
        level = (ctx->status >= 500) ? NGX_LOG_ERR : NGX_LOG_WARN;

        ngx_log_error(level, sub->ws->connection->log, 0,
                      "upstream answered %ui to the snapshot of "
                      "channel \"%V\"", ctx->status, &ctx->channel);

        ngx_ws_channel_snapshot(sub, NULL);
        return;
    }

    if (ctx->bad_id) {
        ngx_log_error(NGX_LOG_ERR, sub->ws->connection->log, 0,
                      "upstream sent an invalid X-WS-Snapshot-Id for "
                      "channel \"%V\"", &ctx->channel);

        ngx_ws_channel_snapshot(sub, NULL);
        return;
    }

    if (ctx->snap.len && ctx->snap.opcode == NGX_WS_OP_TEXT
        && ngx_ws_utf8_validate(NGX_WS_UTF8_ACCEPT, ctx->snap.data,
                                ctx->snap.len)
           != NGX_WS_UTF8_ACCEPT)
    {
        ngx_log_error(NGX_LOG_ERR, sub->ws->connection->log, 0,
                      "upstream sent a text snapshot of channel \"%V\" "
                      "that is not UTF-8", &ctx->channel);

        ngx_ws_channel_snapshot(sub, NULL);
        return;
    }

    ngx_ws_channel_snapshot(sub, &ctx->snap);
}
