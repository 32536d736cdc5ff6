
/*
 * Copyright (C) ngx_ws_module authors
 */


/*
 * Long-poll subscribers (ws_longpoll): a GET with the last id it has gets
 * at once the messages after it, as one JSON batch, or waits until one
 * arrives or ws_longpoll_timeout passes (an empty batch).  The next GET
 * continues from the batch's last_id, so nothing is lost between polls.
 * A message is formatted as a JSON entry once per worker (the channel
 * code calls ngx_ws_longpoll_format through ngx_ws_transports).
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include "ngx_ws_module.h"
#include "ngx_ws_zone.h"


#define NGX_WS_LONGPOLL_MAX         64            /* messages per answer */


typedef struct {
    ngx_ws_stream_t             st;               /* first */
    ngx_http_request_t         *request;
    ngx_ws_loc_conf_t          *conf;
    ngx_queue_t                 subs;             /* ngx_ws_sub_t link */

    ngx_chain_t                *out;              /* the entries */
    ngx_chain_t               **last;
    ngx_uint_t                  n;
    size_t                      size;

    ngx_event_t                 timer;
    ngx_msec_t                  deadline;

    /* the channels in ws_subscribe order and where each is */
    ngx_str_t                  *names;
    int64_t                    *ids;
    ngx_ws_sub_t              **joined;
    ngx_uint_t                  nnames;

    unsigned                    waiting:1;
    unsigned                    full:1;           /* no more entries */
    unsigned                    answered:1;
} ngx_ws_longpoll_ctx_t;


static ngx_int_t ngx_ws_longpoll_handler(ngx_http_request_t *r);
static ngx_int_t ngx_ws_longpoll_subscribe(ngx_http_request_t *r,
    ngx_ws_longpoll_ctx_t *ctx);
static ngx_ws_shared_t *ngx_ws_longpoll_format(ngx_ws_sh_msg_t *m,
    ngx_str_t *channel, ngx_log_t *log);
static ngx_int_t ngx_ws_longpoll_deliver(ngx_ws_sub_t *sub,
    ngx_ws_shared_t *sh);
static void ngx_ws_longpoll_end(ngx_ws_sub_t *sub, char *why);
static ngx_int_t ngx_ws_longpoll_answer(ngx_http_request_t *r,
    ngx_ws_longpoll_ctx_t *ctx);
static void ngx_ws_longpoll_write(ngx_http_request_t *r);
static void ngx_ws_longpoll_timer(ngx_event_t *ev);
static void ngx_ws_longpoll_leave(ngx_ws_longpoll_ctx_t *ctx);
static void ngx_ws_longpoll_drain(ngx_ws_stream_t *st);
static void ngx_ws_longpoll_cleanup(void *data);


static ngx_ws_transport_t  ngx_ws_longpoll_transport = {
    ngx_ws_longpoll_format,
    ngx_ws_longpoll_deliver,
    ngx_ws_longpoll_end,
    1
};


static ngx_str_t  ngx_ws_longpoll_last_event_id =
    ngx_string("Last-Event-ID");


ngx_int_t
ngx_ws_longpoll_init_conf(ngx_conf_t *cf)
{
    ngx_ws_transports[ngx_ws_longpoll_transport.index] =
        &ngx_ws_longpoll_transport;

    return NGX_OK;
}


char *
ngx_ws_longpoll_conf(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_ws_loc_conf_t *wlcf = conf;

    ngx_http_core_loc_conf_t  *clcf;

    if (wlcf->longpoll) {
        return "is duplicate";
    }

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);

    if (clcf->handler != NULL || wlcf->enable || wlcf->sse) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"ws_longpoll\" conflicts with another content "
                           "handler in this location");
        return NGX_CONF_ERROR;
    }

    wlcf->longpoll = 1;
    clcf->handler = ngx_ws_longpoll_handler;

    return NGX_CONF_OK;
}


static ngx_int_t
ngx_ws_longpoll_handler(ngx_http_request_t *r)
{
    ngx_int_t               rc;
    ngx_ws_loc_conf_t      *wlcf;
    ngx_pool_cleanup_t     *cln;
    ngx_ws_longpoll_ctx_t  *ctx;

    wlcf = ngx_http_get_module_loc_conf(r, ngx_ws_module);

    rc = ngx_ws_sse_request_check(r, wlcf, "ws_longpoll");

    if (rc != NGX_OK) {
        return rc;
    }

    ctx = ngx_pcalloc(r->pool, sizeof(ngx_ws_longpoll_ctx_t));
    if (ctx == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ctx->request = r;
    ctx->conf = wlcf;
    ctx->last = &ctx->out;
    ngx_queue_init(&ctx->subs);

    cln = ngx_pool_cleanup_add(r->pool, 0);
    if (cln == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    cln->handler = ngx_ws_longpoll_cleanup;
    cln->data = ctx;

    if (ngx_ws_ctx_set_part(r, NGX_WS_CTX_SSE, ctx) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ctx->timer.handler = ngx_ws_longpoll_timer;
    ctx->timer.data = ctx;
    ctx->timer.log = r->connection->log;

    rc = ngx_ws_longpoll_subscribe(r, ctx);

    if (rc != NGX_OK) {
        return rc;
    }

    ctx->st.transport = NGX_WS_STREAM_LONGPOLL;
    ctx->st.drain = ngx_ws_longpoll_drain;

    if (ngx_ws_stream_start(r, &ctx->st, ctx->names, ctx->nnames) != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    /* r->header_only is only set by the header filter */

    if (ctx->n || ctx->full || r->method == NGX_HTTP_HEAD) {
        /* messages after the last id, or only a header: at once */
        ngx_ws_longpoll_leave(ctx);
        return ngx_ws_longpoll_answer(r, ctx);
    }

    ctx->waiting = 1;
    ctx->deadline = ngx_current_msec + wlcf->longpoll_timeout;

    r->main->count++;
    r->read_event_handler = ngx_http_test_reading;
    r->write_event_handler = ngx_ws_longpoll_write;

    /*
     * a worker that shuts down answers at once: told through the
     * connection (ngx_ws_longpoll_drain), or, for HTTP/2, seen by the
     * timer, which looks every second
     */
    ngx_add_timer(&ctx->timer, ngx_min(wlcf->longpoll_timeout, 1000));

    ngx_ws_stream_watch(r, &ctx->st);

    return NGX_DONE;
}


/* the worker shuts down: the answer now, with the last_id to go on from */

static void
ngx_ws_longpoll_drain(ngx_ws_stream_t *st)
{
    ngx_ws_longpoll_ctx_t  *ctx;

    ctx = (ngx_ws_longpoll_ctx_t *) st;

    if (ctx->answered) {
        return;
    }

    ngx_log_error(NGX_LOG_INFO, ctx->request->connection->log, 0,
                  "long poll answered: the worker is shutting down");

    if (ctx->st.reason.len == 0) {
        ngx_str_set(&ctx->st.reason, "shutdown");
    }

    ngx_post_event(ctx->request->connection->write, &ngx_posted_events);
}


/* as for ws_sse: Last-Event-ID, else ws_last_id */

static ngx_int_t
ngx_ws_longpoll_subscribe(ngx_http_request_t *r, ngx_ws_longpoll_ctx_t *ctx)
{
    ngx_str_t              *name, resume;
    ngx_uint_t              i, n;
    ngx_list_part_t        *part;
    ngx_table_elt_t        *h;
    ngx_ws_zone_t         **zones;
    ngx_ws_auth_ctx_t      *auth;
    ngx_ws_channel_conf_t  *cc;

    cc = ctx->conf->subscribe->elts;
    n = ctx->conf->subscribe->nelts;
    auth = ngx_ws_ctx_auth(r);

    ctx->names = ngx_palloc(r->pool, n * sizeof(ngx_str_t));
    ctx->ids = ngx_palloc(r->pool, n * sizeof(int64_t));
    ctx->joined = ngx_pcalloc(r->pool, n * sizeof(ngx_ws_sub_t *));
    zones = ngx_palloc(r->pool, n * sizeof(ngx_ws_zone_t *));

    if (ctx->names == NULL || ctx->ids == NULL || ctx->joined == NULL
        || zones == NULL)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    for (i = 0; i < n; i++) {
        name = &ctx->names[ctx->nnames];

        if (auth && auth->channels) {
            *name = auth->subscribe[i];

        } else if (ngx_http_complex_value(r, &cc[i].name, name) != NGX_OK) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        if (name->len == 0) {
            continue;
        }

        if (ngx_ws_channel_name(cc[i].zone, name, NGX_LOG_INFO, "client",
                                r->connection->log)
            != NGX_OK)
        {
            return NGX_HTTP_BAD_REQUEST;
        }

        zones[ctx->nnames++] = cc[i].zone;
    }

    if (ctx->nnames == 0) {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "client asked for no channel");
        return NGX_HTTP_BAD_REQUEST;
    }

    ngx_str_null(&resume);

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

        if (h[i].key.len == ngx_ws_longpoll_last_event_id.len
            && ngx_strncasecmp(h[i].key.data,
                               ngx_ws_longpoll_last_event_id.data,
                               h[i].key.len) == 0)
        {
            resume = h[i].value;
        }
    }

    if (resume.len == 0
        && ctx->conf->last_id
        && ngx_http_complex_value(r, ctx->conf->last_id, &resume) != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    for (i = 0; i < ctx->nnames; i++) {
        ctx->ids[i] = ngx_ws_channel_last_id(r->pool, &resume,
                                             &ctx->names[i]);
    }

    for (i = 0; i < ctx->nnames; i++) {
        ctx->joined[i] = ngx_ws_channel_subscribe(zones[i], &ctx->names[i],
                                                  ctx->ids[i],
                                                  &ngx_ws_longpoll_transport,
                                                  ctx, &ctx->subs,
                                                  r->connection->log);
        if (ctx->joined[i] == NULL) {
            return NGX_HTTP_SERVICE_UNAVAILABLE;
        }

        if (ctx->ids[i] < 0) {
            /* no id: from where the channel is now (nothing replayed) */
            ctx->ids[i] = (int64_t) ctx->joined[i]->last_id;
        }
    }

    return NGX_OK;
}


/*
 * A message as a JSON entry, once per worker (the zone is locked):
 * {"channel":"NAME","id":N,"data":"TEXT","binary":false}, binary data in
 * base64 with "binary":true, a history_lost event as
 * {"channel":"NAME","id":LAST_LOST,"event":"history_lost","data":{...}}.
 */

static ngx_ws_shared_t *
ngx_ws_longpoll_format(ngx_ws_sh_msg_t *m, ngx_str_t *channel,
    ngx_log_t *log)
{
    u_char           *p, *start;
    size_t            len;
    ngx_str_t         src, dst;
    ngx_pool_t       *pool;
    ngx_ws_shared_t  *sh;

    len = sizeof("{\"channel\":\"\",\"id\":,\"event\":\"history_lost\","
                 "\"data\":\"\",\"binary\":false}") - 1
          + channel->len + ngx_escape_json(NULL, channel->data, channel->len)
          + NGX_INT64_LEN;

    if (m->opcode == NGX_WS_OP_BINARY) {
        len += ngx_base64_encoded_length(m->len);

    } else {
        len += m->len + ngx_escape_json(NULL, m->data, m->len);
    }

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

    p = ngx_cpymem(start, "{\"channel\":\"", sizeof("{\"channel\":\"") - 1);
    p = (u_char *) ngx_escape_json(p, channel->data, channel->len);
    p = ngx_sprintf(p, "\",\"id\":%uL,", m->id);

    if (m->opcode == 0) {
        p = ngx_cpymem(p, "\"event\":\"history_lost\",\"data\":",
                       sizeof("\"event\":\"history_lost\",\"data\":") - 1);
        p = ngx_cpymem(p, m->data, m->len);
        *p++ = '}';

    } else if (m->opcode == NGX_WS_OP_BINARY) {
        p = ngx_cpymem(p, "\"data\":\"", sizeof("\"data\":\"") - 1);
        src.data = m->data;
        src.len = m->len;
        dst.data = p;
        ngx_encode_base64(&dst, &src);
        p += dst.len;
        p = ngx_cpymem(p, "\",\"binary\":true}",
                       sizeof("\",\"binary\":true}") - 1);

    } else {
        p = ngx_cpymem(p, "\"data\":\"", sizeof("\"data\":\"") - 1);
        p = (u_char *) ngx_escape_json(p, m->data, m->len);
        p = ngx_cpymem(p, "\",\"binary\":false}",
                       sizeof("\",\"binary\":false}") - 1);
    }

    sh->pool = pool;
    sh->refs = 1;                   /* the maker's, until shared_done() */
    sh->frame = start;
    sh->len = p - start;
    sh->payload = 0;

    return sh;
}


/*
 * An entry for the answer, copied into the request's pool (an answer is
 * sent once); after NGX_WS_LONGPOLL_MAX entries or ws_send_buffer bytes
 * the batch is full and the rest waits for the next poll.
 */

static ngx_int_t
ngx_ws_longpoll_deliver(ngx_ws_sub_t *sub, ngx_ws_shared_t *sh)
{
    ngx_buf_t              *b;
    ngx_uint_t              i;
    ngx_chain_t            *cl;
    ngx_ws_longpoll_ctx_t  *ctx;

    ctx = sub->data;

    if (ctx->full || ctx->answered) {
        return NGX_DONE;
    }

    if (ctx->n && (ctx->n >= NGX_WS_LONGPOLL_MAX
                   || ctx->size + sh->len > ctx->conf->send_buffer))
    {
        ctx->full = 1;
        return NGX_DONE;
    }

    b = ngx_create_temp_buf(ctx->request->pool, sh->len + 1);
    cl = ngx_alloc_chain_link(ctx->request->pool);

    if (b == NULL || cl == NULL) {
        ngx_ws_longpoll_end(sub, "no memory");
        return NGX_DONE;
    }

    if (ctx->n) {
        *b->last++ = ',';
    }

    b->last = ngx_cpymem(b->last, sh->frame, sh->len);

    cl->buf = b;
    cl->next = NULL;
    *ctx->last = cl;
    ctx->last = &cl->next;

    ctx->n++;
    ctx->size += b->last - b->pos;

    /* where this channel is now */

    for (i = 0; i < ctx->nnames; i++) {
        if (ctx->joined[i] == sub
            || (ctx->joined[i] == NULL
                && sub->spool->name.len == ctx->names[i].len
                && ngx_memcmp(sub->spool->name.data, ctx->names[i].data,
                              ctx->names[i].len) == 0))
        {
            ctx->ids[i] = (int64_t) sub->last_id;
            break;
        }
    }

    ngx_ws_stats->delivered++;

    if (ctx->waiting) {
        ngx_post_event(ctx->request->connection->write, &ngx_posted_events);
    }

    return NGX_OK;
}


/* the channel was deleted: the poll is answered with what it has */

static void
ngx_ws_longpoll_end(ngx_ws_sub_t *sub, char *why)
{
    ngx_ws_longpoll_ctx_t  *ctx;

    ctx = sub->data;

    ngx_log_error(NGX_LOG_INFO, ctx->request->connection->log, 0,
                  "long poll answered: %s", why);

    if (ctx->st.reason.len == 0) {
        ctx->st.reason.data = (u_char *) why;
        ctx->st.reason.len = ngx_strlen(why);
    }

    ctx->full = 1;

    if (ctx->waiting) {
        ngx_post_event(ctx->request->connection->write, &ngx_posted_events);
    }
}


/* {"messages":[...],"last_id":"NAME=ID,..."} */

static ngx_int_t
ngx_ws_longpoll_answer(ngx_http_request_t *r, ngx_ws_longpoll_ctx_t *ctx)
{
    u_char            *p, *q, *end;
    size_t             len;
    ngx_int_t          rc;
    ngx_buf_t         *head, *tail;
    ngx_uint_t         i, any;
    ngx_chain_t       *hl, *tl;
    ngx_table_elt_t   *h;

    static u_char      hex[] = "0123456789ABCDEF";

    ctx->answered = 1;
    ngx_ws_stats->longpoll_total++;

    ctx->st.end = NGX_WS_END_SERVER;
    ctx->st.messages_out = ctx->n;
    ctx->st.bytes_out = ctx->size;

    if (ctx->st.reason.len == 0) {
        if (ctx->n) {
            ngx_str_set(&ctx->st.reason, "messages");

        } else {
            ngx_str_set(&ctx->st.reason, "timeout");
        }
    }

    len = sizeof("],\"last_id\":\"\"}\n") - 1;

    for (i = 0; i < ctx->nnames; i++) {
        len += ctx->names[i].len * 3 + sizeof(",=") - 1 + NGX_INT64_LEN;
    }

    head = ngx_calloc_buf(r->pool);
    tail = ngx_create_temp_buf(r->pool, len);
    hl = ngx_alloc_chain_link(r->pool);
    tl = ngx_alloc_chain_link(r->pool);

    if (head == NULL || tail == NULL || hl == NULL || tl == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    head->pos = (u_char *) "{\"messages\":[";
    head->last = head->pos + sizeof("{\"messages\":[") - 1;
    head->memory = 1;

    p = ngx_cpymem(tail->last, "],\"last_id\":\"",
                   sizeof("],\"last_id\":\"") - 1);
    any = 0;

    for (i = 0; i < ctx->nnames; i++) {
        if (ctx->ids[i] < 0) {
            continue;
        }

        if (any) {
            *p++ = ',';
        }

        any = 1;
        end = ctx->names[i].data + ctx->names[i].len;

        for (q = ctx->names[i].data; q < end; q++) {

            if ((*q >= 'A' && *q <= 'Z') || (*q >= 'a' && *q <= 'z')
                || (*q >= '0' && *q <= '9')
                || *q == '-' || *q == '.' || *q == '_' || *q == '~'
                || *q == ':' || *q == '@' || *q == '/')
            {
                *p++ = *q;
                continue;
            }

            *p++ = '%';
            *p++ = hex[*q >> 4];
            *p++ = hex[*q & 0xf];
        }

        p = ngx_sprintf(p, "=%L", ctx->ids[i]);
    }

    p = ngx_cpymem(p, "\"}\n", 3);
    tail->last = p;
    tail->last_buf = (r == r->main);
    tail->last_in_chain = 1;

    tl->buf = tail;
    tl->next = NULL;
    *ctx->last = tl;
    hl->buf = head;
    hl->next = ctx->out;

    r->headers_out.status = NGX_HTTP_OK;
    r->headers_out.content_length_n = (head->last - head->pos) + ctx->size
                                      + (tail->last - tail->pos);
    ngx_str_set(&r->headers_out.content_type, "application/json");
    r->headers_out.content_type_len = sizeof("application/json") - 1;
    r->headers_out.content_type_lowcase = NULL;

    h = ngx_list_push(&r->headers_out.headers);
    if (h == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    h->hash = 1;
    ngx_str_set(&h->key, "Cache-Control");
    ngx_str_set(&h->value, "no-cache");

    if (ngx_ws_sse_cors(r) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    rc = ngx_http_send_header(r);

    if (rc == NGX_ERROR || rc > NGX_OK || r->header_only) {
        return rc;
    }

    return ngx_http_output_filter(r, hl);
}


/* a message came, the channel was deleted, or the time is up */

static void
ngx_ws_longpoll_write(ngx_http_request_t *r)
{
    ngx_ws_longpoll_ctx_t  *ctx;

    ctx = ngx_ws_ctx_part(r, NGX_WS_CTX_SSE);

    if (ctx->answered) {
        return;
    }

    ngx_ws_longpoll_leave(ctx);

    if (ctx->timer.timer_set) {
        ngx_del_timer(&ctx->timer);
    }

    ngx_ws_stream_unwatch(r);

    r->write_event_handler = ngx_http_request_empty_handler;

    ngx_http_finalize_request(r, ngx_ws_longpoll_answer(r, ctx));
}


static void
ngx_ws_longpoll_timer(ngx_event_t *ev)
{
    ngx_msec_int_t          left;
    ngx_ws_longpoll_ctx_t  *ctx;

    ctx = ev->data;
    left = (ngx_msec_int_t) (ctx->deadline - ngx_current_msec);

    if (left > 0 && !ngx_exiting && !ngx_terminate && !ngx_quit) {
        ngx_add_timer(ev, ngx_min((ngx_msec_t) left, 1000));
        return;
    }

    if (left > 0) {
        ngx_ws_longpoll_drain(&ctx->st);
        return;
    }

    ngx_post_event(ctx->request->connection->write, &ngx_posted_events);
}


/* the channels are left once the answer is decided */

static void
ngx_ws_longpoll_leave(ngx_ws_longpoll_ctx_t *ctx)
{
    ngx_uint_t    i;
    ngx_queue_t  *q;

    for (i = 0; i < ctx->nnames; i++) {
        ctx->joined[i] = NULL;
    }

    while (!ngx_queue_empty(&ctx->subs)) {
        q = ngx_queue_head(&ctx->subs);
        ngx_ws_channel_unsubscribe(ngx_queue_data(q, ngx_ws_sub_t, link));
    }
}


static void
ngx_ws_longpoll_cleanup(void *data)
{
    ngx_ws_longpoll_ctx_t *ctx = data;

    if (ctx->timer.timer_set) {
        ngx_del_timer(&ctx->timer);
    }

    ngx_ws_longpoll_leave(ctx);
}
