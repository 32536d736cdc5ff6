
/*
 * Copyright (C) ngx_ws_module authors
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include "ngx_ws_module.h"


/*
 * ws_message_auth_request: whether a client's message may go its way is
 * asked of an internal location, as ws_auth_request asks about the
 * handshake: a GET subrequest with the connection's identity (the headers
 * kept by ws_auth_pass_header), the message's type, route and channel as
 * headers, never its payload.  2xx allows, 401 and 403 refuse; anything
 * else refuses too, as a failure, and is not remembered.
 *
 * The subrequest is issued from a fake request of its own (as upstream
 * events are, ngx_ws_request.c), so that nothing grows in the WebSocket's
 * pool per question.  While the answer is awaited the message is held and
 * parsing pauses (NGX_WS_HOLD_AUTH): messages keep their order.  The answer
 * replays the held message through ngx_ws_msgauth_replay (the routes'
 * message handler), which finds its answer waiting.
 *
 * Answers are remembered per connection, by type and channel, for
 * ws_message_auth_cache; a revocation (an X-WS-Revoke reply header of an
 * upstream event, the connections API) forgets them, and an answer asked
 * before it is not remembered.
 */


#define NGX_WS_MSGAUTH_CACHE     8        /* answers per connection */
#define NGX_WS_MSGAUTH_KEY       128      /* type and channel bytes */


typedef struct {
    ngx_msec_t                  expires;
    ngx_uint_t                  status;
    size_t                      tlen;             /* the type's bytes */
    size_t                      len;              /* 0: free */
    u_char                      key[NGX_WS_MSGAUTH_KEY];
} ngx_ws_msgauth_entry_t;


/* a question in flight: lives in the fake request's pool */

typedef struct {
    ngx_ws_msgauth_t           *ma;
    ngx_uint_t                  status;
    ngx_uint_t                  generation;
    unsigned                    done:1;
    unsigned                    finished:1;
} ngx_ws_msgauth_ctx_t;


struct ngx_ws_msgauth_s {
    ngx_pool_t                 *pool;
    ngx_ws_conn_t              *ws;               /* NULL once it is gone */
    ngx_log_t                  *log;
    ngx_ws_fake_origin_t        origin;           /* the identity */
    ngx_str_t                   id;
    ngx_str_t                   uri;              /* of the handshake */

    ngx_http_request_t         *active;           /* the fake request */
    ngx_event_t                 answered;         /* posted: the replay */

    /* the message that waits for the answer, in its pool (or NULL) */
    ngx_pool_t                 *held;
    u_char                     *start;
    size_t                      len;
    ngx_uint_t                  opcode;
    ngx_uint_t                  status;           /* its answer */
    unsigned                    holding:1;
    unsigned                    answer:1;         /* status is in */

    /* the question's key, remembered with the answer; qlen 0: too long */
    u_char                      qkey[NGX_WS_MSGAUTH_KEY];
    size_t                      qtlen;
    size_t                      qlen;

    ngx_uint_t                  generation;       /* revocations */
    ngx_uint_t                  next;             /* the entry to reuse */
    ngx_ws_msgauth_entry_t      cache[NGX_WS_MSGAUTH_CACHE];
};


static ngx_ws_msgauth_t *ngx_ws_msgauth_create(ngx_ws_conn_t *ws);
static ngx_int_t ngx_ws_msgauth_lookup(ngx_ws_msgauth_t *ma,
    ngx_uint_t *status);
static ngx_int_t ngx_ws_msgauth_ask(ngx_ws_msgauth_t *ma, ngx_str_t *type,
    ngx_str_t *route, ngx_str_t *channel);
static ngx_int_t ngx_ws_msgauth_add(ngx_http_request_t *fr, char *name,
    ngx_str_t *value);
static ngx_int_t ngx_ws_msgauth_response(ngx_http_request_t *sr,
    void *data, ngx_int_t rc);
static void ngx_ws_msgauth_finish(ngx_http_request_t *fr);
static void ngx_ws_msgauth_cleanup(void *data);
static void ngx_ws_msgauth_answer(ngx_ws_msgauth_ctx_t *ctx);
static void ngx_ws_msgauth_answered_handler(ngx_event_t *ev);
static void ngx_ws_msgauth_done(ngx_ws_msgauth_t *ma);


ngx_ws_replay_pt  ngx_ws_msgauth_replay;


/*
 * Allowed, refused or asked (see ngx_ws_module.h).  type is the message's
 * type (ws_route's field, or empty), route the route's name (or empty),
 * channel the channel it goes to (or empty): all three are in the
 * question, type and channel make the key of the answer.
 */

ngx_int_t
ngx_ws_msgauth_check(ngx_ws_conn_t *ws, ngx_pool_t *pool, ngx_str_t *type,
    ngx_str_t *route, ngx_str_t *channel, ngx_uint_t *status,
    ngx_uint_t *cached)
{
    u_char            *p;
    ngx_ws_msgauth_t  *ma;

    ma = ws->msgauth;
    *cached = 0;

    if (ma == NULL) {
        ma = ngx_ws_msgauth_create(ws);
        if (ma == NULL) {
            return NGX_ERROR;
        }
    }

    if (ma->answer) {
        /* the held message, replayed: its answer is in */
        ma->answer = 0;
        *status = ma->status;

        return (ma->status >= NGX_HTTP_OK && ma->status < 300)
               ? NGX_OK : NGX_DECLINED;
    }

    if (type->len + channel->len <= NGX_WS_MSGAUTH_KEY) {
        /* an empty type or channel may have no data at all */

        p = ma->qkey;

        if (type->len) {
            p = ngx_cpymem(p, type->data, type->len);
        }

        if (channel->len) {
            ngx_memcpy(p, channel->data, channel->len);
        }

        ma->qtlen = type->len;
        ma->qlen = type->len + channel->len;

        /* an empty key (no type, no channel) is a key too */

        if (ngx_ws_msgauth_lookup(ma, status) == NGX_OK) {
            ngx_ws_stats->msgauth_cached++;
            *cached = 1;

            return (*status >= NGX_HTTP_OK && *status < 300)
                   ? NGX_OK : NGX_DECLINED;
        }

    } else {
        ma->qlen = (size_t) -1;
    }

    /*
     * the message waits for the answer, parsing pauses behind it; before
     * the question, which may be answered at once
     */

    ma->held = pool;
    ma->start = ws->msg.start;
    ma->len = ws->msg.len;
    ma->opcode = ws->msg.opcode;
    ma->holding = 1;

    ws->hold |= NGX_WS_HOLD_AUTH;

    if (ngx_ws_msgauth_ask(ma, type, route, channel) != NGX_OK) {
        /* the pool is the caller's again */
        ma->held = NULL;
        ma->holding = 0;
        ma->answer = 0;

        if (ma->answered.posted) {
            ngx_delete_posted_event(&ma->answered);
        }

        ws->hold &= ~NGX_WS_HOLD_AUTH;

        return NGX_ERROR;
    }

    if (ma->held) {
        ma->held->log = ma->log;
    }

    return NGX_AGAIN;
}


static ngx_ws_msgauth_t *
ngx_ws_msgauth_create(ngx_ws_conn_t *ws)
{
    ngx_uint_t           i;
    ngx_pool_t          *pool;
    ngx_table_elt_t     *h, *nh;
    ngx_ws_msgauth_t    *ma;
    ngx_http_request_t  *r;

    r = ws->request;

    pool = ngx_create_pool(1024, ngx_cycle->log);
    if (pool == NULL) {
        return NULL;
    }

    ma = ngx_pcalloc(pool, sizeof(ngx_ws_msgauth_t));
    if (ma == NULL) {
        goto failed;
    }

    ma->pool = pool;
    ma->ws = ws;

    /* copies: a question may outlive the connection */

    ma->log = ngx_palloc(pool, sizeof(ngx_log_t));
    if (ma->log == NULL) {
        goto failed;
    }

    *ma->log = *ngx_cycle->log;

    if (ngx_ws_fake_origin(&ma->origin, r, pool) != NGX_OK) {
        goto failed;
    }

    ma->id.data = ngx_pstrdup(pool, &ws->id);
    ma->uri.data = ngx_pstrdup(pool, &r->unparsed_uri);

    if (ma->id.data == NULL || ma->uri.data == NULL) {
        goto failed;
    }

    ma->id.len = ws->id.len;
    ma->uri.len = r->unparsed_uri.len;

    /* the identity: what ws_auth_pass_header kept of the auth answer */

    if (ws->auth) {
        h = ws->auth->headers.elts;

        for (i = 0; i < ws->auth->headers.nelts; i++) {
            nh = ngx_array_push(&ma->origin.headers);
            if (nh == NULL) {
                goto failed;
            }

            *nh = h[i];
            nh->key.data = ngx_pstrdup(pool, &h[i].key);
            nh->value.data = ngx_pnalloc(pool, h[i].value.len + 1);
            nh->lowcase_key = ngx_pnalloc(pool, h[i].key.len);

            if (nh->key.data == NULL || nh->value.data == NULL
                || nh->lowcase_key == NULL)
            {
                goto failed;
            }

            *ngx_cpymem(nh->value.data, h[i].value.data, h[i].value.len) =
                '\0';
            ngx_strlow(nh->lowcase_key, nh->key.data, nh->key.len);
        }
    }

    ma->answered.handler = ngx_ws_msgauth_answered_handler;
    ma->answered.data = ma;
    ma->answered.log = ma->log;

    ws->msgauth = ma;

    return ma;

failed:

    ngx_destroy_pool(pool);
    return NULL;
}


static ngx_int_t
ngx_ws_msgauth_lookup(ngx_ws_msgauth_t *ma, ngx_uint_t *status)
{
    ngx_uint_t               i;
    ngx_ws_msgauth_entry_t  *e;

    for (i = 0; i < NGX_WS_MSGAUTH_CACHE; i++) {
        e = &ma->cache[i];

        if (e->len == 0) {
            continue;
        }

        if ((ngx_msec_int_t) (e->expires - ngx_current_msec) <= 0) {
            e->len = 0;
            continue;
        }

        if (e->len - 1 == ma->qlen && e->tlen == ma->qtlen
            && ngx_memcmp(e->key, ma->qkey, ma->qlen) == 0)
        {
            *status = e->status;
            return NGX_OK;
        }
    }

    return NGX_DECLINED;
}


/* the question: a fake request, and a GET subrequest from it */

static ngx_int_t
ngx_ws_msgauth_ask(ngx_ws_msgauth_t *ma, ngx_str_t *type, ngx_str_t *route,
    ngx_str_t *channel)
{
    ngx_str_t                    *uri;
    ngx_connection_t             *fc;
    ngx_http_request_t           *fr, *sr;
    ngx_pool_cleanup_t           *cln;
    ngx_ws_msgauth_ctx_t         *ctx;
    ngx_http_post_subrequest_t   *ps;

    static ngx_str_t  get = ngx_string("GET");

    uri = &ma->ws->conf->msgauth;

    fr = ngx_ws_fake_request(&ma->origin, ma->log, uri, NULL, 0);
    if (fr == NULL) {
        return NGX_ERROR;
    }

    fc = fr->connection;

    fr->method = NGX_HTTP_GET;
    fr->method_name = get;
    fc->log->action = "asking whether a WebSocket message is allowed";

    ctx = ngx_pcalloc(fr->pool, sizeof(ngx_ws_msgauth_ctx_t));
    if (ctx == NULL) {
        ngx_ws_fake_request_free(fr);
        return NGX_ERROR;
    }

    ctx->ma = ma;
    ctx->generation = ma->generation;

    /* no X-WS-Event: it is no event, as ws_auth_request's is not */

    if (ngx_ws_msgauth_add(fr, "X-WS-Connection-Id", &ma->id) != NGX_OK
        || ngx_ws_msgauth_add(fr, "X-WS-URI", &ma->uri) != NGX_OK
        || ngx_ws_fake_add_header(fr, "X-WS-Message-Type",
                                  (u_char *) (ma->ws->msg.opcode
                                              == NGX_WS_OP_BINARY
                                              ? "binary" : "text"),
                                  ma->ws->msg.opcode == NGX_WS_OP_BINARY
                                  ? 6 : 4)
           != NGX_OK
        || (type->len && ngx_ws_msgauth_add(fr, "X-WS-Type", type) != NGX_OK)
        || (route->len
            && ngx_ws_msgauth_add(fr, "X-WS-Route", route) != NGX_OK)
        || (channel->len
            && ngx_ws_msgauth_add(fr, "X-WS-Channel", channel) != NGX_OK)
        || ngx_ws_ctx_set_part(fr, NGX_WS_CTX_MSGAUTH, ctx) != NGX_OK)
    {
        ngx_ws_fake_request_free(fr);
        return NGX_ERROR;
    }

    fr->write_event_handler = ngx_ws_msgauth_finish;

    ps = ngx_palloc(fr->pool, sizeof(ngx_http_post_subrequest_t));
    if (ps == NULL) {
        goto failed;
    }

    ps->handler = ngx_ws_msgauth_response;
    ps->data = ctx;

    if (ngx_http_subrequest(fr, uri, NULL, &sr, ps,
                            NGX_HTTP_SUBREQUEST_WAITED)
        != NGX_OK)
    {
        goto failed;
    }

    /* the answer's body is not read, as auth_request does not */
    sr->header_only = 1;

    cln = ngx_pool_cleanup_add(fr->pool, 0);
    if (cln == NULL) {
        goto failed;
    }

    cln->handler = ngx_ws_msgauth_cleanup;
    cln->data = ctx;

    ma->active = fr;

    ngx_ws_stats->msgauth_requests++;

    ngx_log_debug3(NGX_LOG_DEBUG_HTTP, ma->ws->connection->log, 0,
                   "ws message auth type:\"%V\" channel:\"%V\" to \"%V\"",
                   type, channel, uri);

    /* the subrequest runs; it may even be finished when this returns */

    ngx_http_run_posted_requests(fc);

    return NGX_OK;

failed:

    ctx->finished = 1;
    ngx_http_free_request(fr, 0);
    ngx_http_close_connection(fc);

    return NGX_ERROR;
}


/* a header of the question: a copy, NUL-terminated, in the request's pool */

static ngx_int_t
ngx_ws_msgauth_add(ngx_http_request_t *fr, char *name, ngx_str_t *value)
{
    u_char  *p;

    p = ngx_pnalloc(fr->pool, value->len + 1);
    if (p == NULL) {
        return NGX_ERROR;
    }

    if (value->len) {
        ngx_memcpy(p, value->data, value->len);
    }

    p[value->len] = '\0';

    return ngx_ws_fake_add_header(fr, name, p, value->len);
}


/* the subrequest is finalized: its status is the answer */

static ngx_int_t
ngx_ws_msgauth_response(ngx_http_request_t *sr, void *data, ngx_int_t rc)
{
    ngx_ws_msgauth_ctx_t *ctx = data;

    if (ctx->done || rc == NGX_AGAIN) {
        return rc;
    }

    ctx->done = 1;
    ctx->status = sr->headers_out.status;

    if (rc == NGX_ERROR || rc >= NGX_HTTP_SPECIAL_RESPONSE) {
        if (rc >= NGX_HTTP_SPECIAL_RESPONSE
            && (ctx->status == 0 || sr->upstream == NULL))
        {
            ctx->status = rc;

        } else if (ctx->status == 0 || rc == NGX_ERROR) {
            ctx->status = NGX_HTTP_INTERNAL_SERVER_ERROR;
        }
    }

    if (ctx->status == 0) {
        ctx->status = NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, sr->connection->log, 0,
                   "ws message auth rc:%i status:%ui", rc, ctx->status);

    return (rc == NGX_ERROR || rc >= NGX_HTTP_SPECIAL_RESPONSE) ? NGX_OK : rc;
}


/* the fake request, posted by nginx once the subrequest is done */

static void
ngx_ws_msgauth_finish(ngx_http_request_t *fr)
{
    ngx_ws_msgauth_ctx_t  *ctx;

    ctx = ngx_ws_ctx_part(fr, NGX_WS_CTX_MSGAUTH);

    if (ctx->finished || fr->postponed) {
        return;
    }

    ctx->finished = 1;

    ngx_ws_msgauth_answer(ctx);

    fr->connection->read->eof = 1;

    ngx_http_finalize_request(fr, NGX_DONE);
}


/* the fake request's pool is gone */

static void
ngx_ws_msgauth_cleanup(void *data)
{
    ngx_ws_msgauth_ctx_t *ctx = data;

    ngx_ws_msgauth_t  *ma;

    ma = ctx->ma;

    if (!ctx->finished) {
        /* nginx closed the fake request itself: a failure */
        ctx->finished = 1;

        if (!ctx->done || (ctx->status >= NGX_HTTP_OK && ctx->status < 300))
        {
            ctx->status = NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        ngx_ws_msgauth_answer(ctx);
    }

    ma->active = NULL;

    ngx_ws_msgauth_done(ma);
}


/* the answer: remembered, and handed to the held message */

static void
ngx_ws_msgauth_answer(ngx_ws_msgauth_ctx_t *ctx)
{
    ngx_msec_t               ttl;
    ngx_uint_t               status, allowed, denied;
    ngx_ws_msgauth_t        *ma;
    ngx_ws_msgauth_entry_t  *e;

    ma = ctx->ma;
    status = ctx->status;

    allowed = (status >= NGX_HTTP_OK && status < 300);
    denied = (status == NGX_HTTP_UNAUTHORIZED
              || status == NGX_HTTP_FORBIDDEN);

    if (!allowed && !denied) {
        ngx_log_error(NGX_LOG_ERR, ma->ws ? ma->ws->connection->log : ma->log,
                      0, "ws message auth answered %ui, the message is "
                      "refused", status);
    }

    if (ma->ws == NULL || !ma->holding) {
        return;
    }

    /* remembered unless revoked since it was asked, or not an answer */

    ttl = allowed ? ma->ws->conf->msgauth_allow
                  : denied ? ma->ws->conf->msgauth_deny : 0;

    if (ttl && ctx->generation == ma->generation
        && ma->qlen != (size_t) -1)
    {
        e = &ma->cache[ma->next];
        ma->next = (ma->next + 1) % NGX_WS_MSGAUTH_CACHE;

        ngx_memcpy(e->key, ma->qkey, ma->qlen);
        e->tlen = ma->qtlen;
        e->len = ma->qlen + 1;
        e->status = status;
        e->expires = ngx_current_msec + ttl;
    }

    ma->status = status;
    ma->answer = 1;

    if (!ma->answered.posted) {
        ngx_post_event(&ma->answered, &ngx_posted_events);
    }
}


/*
 * The held message goes on with its answer, through the routes, and
 * parsing resumes behind it.
 */

static void
ngx_ws_msgauth_answered_handler(ngx_event_t *ev)
{
    ngx_int_t          code;
    ngx_pool_t        *pool;
    ngx_ws_conn_t     *ws;
    ngx_ws_msgauth_t  *ma;

    ma = ev->data;
    ws = ma->ws;

    pool = ma->held;
    ma->held = NULL;
    ma->holding = 0;

    ws->hold &= ~NGX_WS_HOLD_AUTH;

    if (pool) {
        pool->log = ws->connection->log;
    }

    if (ws->close_sent) {
        /*
         * the close handshake has begun: data is discarded, and what the
         * hold left unread (the client's Close) is read now, or the
         * handshake would wait for ws_close_timeout
         */

        if (pool) {
            ngx_destroy_pool(pool);
        }

        ma->answer = 0;

        if (!(ws->hold & NGX_WS_HOLD_AUTH) && !ws->connection->read->posted) {
            ngx_post_event(ws->connection->read, &ngx_posted_events);
        }

        ngx_ws_handle_output(ws);
        return;
    }

    ws->msg.opcode = ma->opcode;
    ws->msg.start = ma->start;
    ws->msg.len = ma->len;

    /* charged to ws_limit_message when it came in: not a second time */
    ws->route_replay = 1;
    code = ngx_ws_msgauth_replay(ws, pool);
    ws->route_replay = 0;

    ma->answer = 0;

    if (code != NGX_OK) {
        if (code == NGX_WS_CLOSE_TOO_BIG || code == NGX_WS_CLOSE_POLICY) {
            ngx_ws_security_closed(ws, code, 0, "message refused");
        }

        ngx_ws_end(ws, NGX_WS_FAIL, (ngx_uint_t) code, NULL);

    } else if (!(ws->hold & NGX_WS_HOLD_AUTH)
               && !ws->connection->read->posted)
    {
        /* what waits is parsed, then the socket read */
        ngx_post_event(ws->connection->read, &ngx_posted_events);
    }

    ngx_ws_handle_output(ws);
}


/*
 * Forgets every answer, and the ones asked before now; close ends the
 * connection with 1008 too.
 */

void
ngx_ws_msgauth_revoke(ngx_ws_conn_t *ws, ngx_uint_t close)
{
    ngx_uint_t         i;
    ngx_ws_msgauth_t  *ma;

    ma = ws->msgauth;

    if (ma) {
        for (i = 0; i < NGX_WS_MSGAUTH_CACHE; i++) {
            ma->cache[i].len = 0;
        }

        ma->generation++;
    }

    ngx_log_error(NGX_LOG_INFO, ws->connection->log, 0,
                  "ws message auth answers revoked%s",
                  close ? ", closing with 1008" : "");

    if (close) {
        ngx_ws_set_end(ws, NGX_WS_END_SERVER);
        ngx_ws_end(ws, NGX_WS_GOODBYE, NGX_WS_CLOSE_POLICY, "revoked");
    }
}


/*
 * A new value of an identity header (one of ws_auth_pass_header) for the
 * questions that follow: the answers so far are forgotten.  The old value
 * stays in the pool: a refresh is rare, not per message.
 */

ngx_int_t
ngx_ws_msgauth_identity(ngx_ws_conn_t *ws, ngx_str_t *name,
    ngx_str_t *value)
{
    ngx_str_t         *hn;
    ngx_uint_t         i, known;
    ngx_table_elt_t   *h, *nh;
    ngx_ws_msgauth_t  *ma;

    if (ws->conf->msgauth.len == 0) {
        return NGX_DECLINED;
    }

    known = 0;

    if (ws->conf->auth_pass_headers) {
        hn = ws->conf->auth_pass_headers->elts;

        for (i = 0; i < ws->conf->auth_pass_headers->nelts; i++) {
            if (hn[i].len == name->len
                && ngx_ws_header_name_eq(hn[i].data, name->data, name->len))
            {
                known = 1;
                break;
            }
        }
    }

    if (!known) {
        return NGX_DECLINED;
    }

    ma = ws->msgauth;

    if (ma == NULL) {
        ma = ngx_ws_msgauth_create(ws);
        if (ma == NULL) {
            return NGX_ERROR;
        }
    }

    nh = NULL;
    h = ma->origin.headers.elts;

    for (i = 0; i < ma->origin.headers.nelts; i++) {
        if (h[i].key.len == name->len
            && ngx_ws_header_name_eq(h[i].key.data, name->data, name->len))
        {
            nh = &h[i];
            break;
        }
    }

    if (nh == NULL) {
        nh = ngx_array_push(&ma->origin.headers);
        if (nh == NULL) {
            return NGX_ERROR;
        }

        nh->key.len = name->len;
        nh->key.data = ngx_pstrdup(ma->pool, name);
        nh->lowcase_key = ngx_pnalloc(ma->pool, name->len);

        if (nh->key.data == NULL || nh->lowcase_key == NULL) {
            return NGX_ERROR;
        }

        nh->hash = ngx_hash_strlow(nh->lowcase_key, nh->key.data,
                                   nh->key.len);
    }

    nh->value.data = ngx_pnalloc(ma->pool, value->len + 1);
    if (nh->value.data == NULL) {
        return NGX_ERROR;
    }

    if (value->len) {
        ngx_memcpy(nh->value.data, value->data, value->len);
    }

    nh->value.data[value->len] = '\0';
    nh->value.len = value->len;

    ngx_ws_msgauth_revoke(ws, 0);

    return NGX_OK;
}


/* the connection is freed: a question in flight ends on its own */

void
ngx_ws_msgauth_detach(ngx_ws_conn_t *ws)
{
    ngx_ws_msgauth_t  *ma;

    ma = ws->msgauth;
    ws->msgauth = NULL;

    ma->ws = NULL;
    ma->holding = 0;
    ma->answer = 0;

    if (ma->held) {
        ngx_destroy_pool(ma->held);
        ma->held = NULL;
    }

    if (ma->answered.posted) {
        ngx_delete_posted_event(&ma->answered);
    }

    ngx_ws_msgauth_done(ma);
}


static void
ngx_ws_msgauth_done(ngx_ws_msgauth_t *ma)
{
    if (ma->ws || ma->active) {
        return;
    }

    ngx_destroy_pool(ma->pool);
}


/* ws_message_auth_cache TIME [deny=TIME]; */

char *
ngx_ws_msgauth_cache_conf(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_ws_loc_conf_t *wlcf = conf;

    ngx_str_t   *value, s;
    ngx_msec_t   t;

    if (wlcf->msgauth_allow != NGX_CONF_UNSET_MSEC) {
        return "is duplicate";
    }

    value = cf->args->elts;

    t = ngx_parse_time(&value[1], 0);
    if (t == (ngx_msec_t) NGX_ERROR) {
        return "has an invalid time";
    }

    wlcf->msgauth_allow = t;
    wlcf->msgauth_deny = 0;

    if (cf->args->nelts == 3) {
        if (ngx_strncmp(value[2].data, "deny=", 5) != 0) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid parameter \"%V\"", &value[2]);
            return NGX_CONF_ERROR;
        }

        s.data = value[2].data + 5;
        s.len = value[2].len - 5;

        t = ngx_parse_time(&s, 0);
        if (t == (ngx_msec_t) NGX_ERROR) {
            return "has an invalid deny= time";
        }

        wlcf->msgauth_deny = t;
    }

    return NGX_CONF_OK;
}


/* ws_message_auth_error reply | close [code]; */

char *
ngx_ws_msgauth_error_conf(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_ws_loc_conf_t *wlcf = conf;

    ngx_int_t   code;
    ngx_str_t  *value;

    if (wlcf->msgauth_error != NGX_CONF_UNSET_UINT) {
        return "is duplicate";
    }

    value = cf->args->elts;

    if (ngx_strcmp(value[1].data, "reply") == 0) {
        if (cf->args->nelts != 2) {
            return "takes no code with \"reply\"";
        }

        wlcf->msgauth_error = 0;
        wlcf->msgauth_error_code = 0;
        return NGX_CONF_OK;
    }

    if (ngx_strcmp(value[1].data, "close") != 0) {
        return "takes \"reply\" or \"close\"";
    }

    wlcf->msgauth_error = 1;
    wlcf->msgauth_error_code = NGX_WS_CLOSE_POLICY;

    if (cf->args->nelts == 3) {
        code = ngx_atoi(value[2].data, value[2].len);

        if (code == NGX_ERROR
            || !(code == NGX_WS_CLOSE_POLICY
                 || (code >= 4000 && code <= 4999)))
        {
            return "takes a close code of 1008 or 4000-4999";
        }

        wlcf->msgauth_error_code = code;
    }

    return NGX_CONF_OK;
}


char *
ngx_ws_msgauth_merge(ngx_conf_t *cf, ngx_ws_loc_conf_t *conf,
    ngx_ws_loc_conf_t *prev)
{
    ngx_conf_merge_str_value(conf->msgauth, prev->msgauth, "");

    if (conf->msgauth_allow == NGX_CONF_UNSET_MSEC) {
        if (prev->msgauth_allow == NGX_CONF_UNSET_MSEC) {
            conf->msgauth_allow = 30000;
            conf->msgauth_deny = 5000;

        } else {
            conf->msgauth_allow = prev->msgauth_allow;
            conf->msgauth_deny = prev->msgauth_deny;
        }
    }

    if (conf->msgauth_error == NGX_CONF_UNSET_UINT) {
        if (prev->msgauth_error == NGX_CONF_UNSET_UINT) {
            conf->msgauth_error = 0;
            conf->msgauth_error_code = 0;

        } else {
            conf->msgauth_error = prev->msgauth_error;
            conf->msgauth_error_code = prev->msgauth_error_code;
        }
    }

    return NGX_CONF_OK;
}
