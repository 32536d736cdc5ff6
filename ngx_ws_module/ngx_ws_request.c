
/*
 * Copyright (C) ngx_ws_module authors
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include "ngx_ws_module.h"


/*
 * Requests without a client: what upstream events are sent from.  This is
 * the code that knows most of nginx's internals (how a connection, a
 * request and its headers_in look after nginx has read a client request),
 * kept in one place.  It calls nothing else in the module.
 *
 * The origin is a copy of what a fake request needs of the WebSocket's
 * request (configuration, addresses, log handlers, headers): the fake
 * requests may be made after the WebSocket is gone.
 */


static ngx_connection_t *ngx_ws_fake_connection(ngx_ws_fake_origin_t *o,
    ngx_log_t *log);
static void ngx_ws_fake_connection_close(ngx_connection_t *fc);
static void ngx_ws_fake_request_release(ngx_http_request_t *fr);
static ngx_http_request_t *ngx_ws_fake_request_alloc(
    ngx_ws_fake_origin_t *o, ngx_connection_t *fc, size_t size);
static ngx_int_t ngx_ws_fake_headers_in(ngx_ws_fake_origin_t *o,
    ngx_http_request_t *fr, size_t len);
static ngx_int_t ngx_ws_fake_body(ngx_http_request_t *fr, u_char *data,
    size_t len);
static ngx_int_t ngx_ws_fake_header_set(ngx_table_elt_t *h,
    ngx_pool_t *pool, char *name, u_char *value, size_t len);
static void ngx_ws_fake_empty_handler(ngx_event_t *ev);
static u_char *ngx_ws_fake_request_log_error(ngx_http_request_t *r,
    ngx_http_request_t *sr, u_char *buf, size_t len);
static void ngx_ws_fake_request_empty_handler(ngx_http_request_t *r);


/* the headers are the caller's to choose: o->headers is left empty */

ngx_int_t
ngx_ws_fake_origin(ngx_ws_fake_origin_t *o, ngx_http_request_t *r,
    ngx_pool_t *pool)
{
    ngx_connection_t         *c;
    ngx_http_connection_t    *hc;
    ngx_http_log_handler_pt   handler;

    c = r->connection;

    o->main_conf = r->main_conf;
    o->srv_conf = r->srv_conf;
    o->loc_conf = r->loc_conf;
    o->listening = c->listening;
    o->log_handler = c->log->handler;
    /* nginx's own: the fake requests have no ws to name */
    handler = ngx_ws_ctx_log_handler(r);
    o->request_log_handler = handler ? handler : r->log_handler;
    o->limit_conn_status = r->main->limit_conn_status;
    o->limit_req_status = r->main->limit_req_status;

    hc = r->http_connection;
    o->hc.addr_conf = hc->addr_conf;
    o->hc.conf_ctx = hc->conf_ctx;

    /* copies: the origin may outlive the connection */

    o->sockaddr = ngx_palloc(pool, c->socklen);
    o->local_sockaddr = ngx_palloc(pool, NGX_SOCKADDRLEN);
    o->addr_text.data = ngx_pstrdup(pool, &c->addr_text);
    o->server.data = ngx_pstrdup(pool, &r->headers_in.server);

    if (o->sockaddr == NULL || o->local_sockaddr == NULL
        || (c->addr_text.len && o->addr_text.data == NULL)
        || (r->headers_in.server.len && o->server.data == NULL))
    {
        return NGX_ERROR;
    }

    ngx_memcpy(o->sockaddr, c->sockaddr, c->socklen);
    o->socklen = c->socklen;
    o->addr_text.len = c->addr_text.len;
    o->server.len = r->headers_in.server.len;

    /* $server_addr on the fake connection must not ask its descriptor */

    if (ngx_connection_local_sockaddr(c, NULL, 0) == NGX_OK
        && c->local_sockaddr)
    {
        ngx_memcpy(o->local_sockaddr, c->local_sockaddr, c->local_socklen);
        o->local_socklen = c->local_socklen;

    } else {
        o->local_sockaddr = NULL;
    }

    return ngx_array_init(&o->headers, pool, 16, sizeof(ngx_table_elt_t));
}


/*
 * An origin without a request: a location's configuration (ctx), the
 * listening socket, the client's address and the server name, kept from a
 * connection that another worker held (its worker died).  The log
 * handlers are this file's: nginx's are not known here.  Nothing is left
 * for limit_conn and limit_req to count: it is no client request.
 */

ngx_int_t
ngx_ws_fake_origin_conf(ngx_ws_fake_origin_t *o, ngx_http_conf_ctx_t *ctx,
    ngx_listening_t *ls, struct sockaddr *sa, socklen_t socklen,
    ngx_str_t *addr_text, ngx_str_t *server, ngx_pool_t *pool)
{
    ngx_memzero(o, sizeof(ngx_ws_fake_origin_t));

    o->main_conf = ctx->main_conf;
    o->srv_conf = ctx->srv_conf;
    o->loc_conf = ctx->loc_conf;
    o->listening = ls;
    o->log_handler = ngx_ws_log_error_connection;
    o->request_log_handler = ngx_ws_fake_request_log_error;
    o->hc.conf_ctx = ctx;

    /* the values of limit_conn and limit_req for "passed" */
    o->limit_conn_status = 1;
    o->limit_req_status = 1;

    o->sockaddr = ngx_pcalloc(pool, sizeof(ngx_sockaddr_t));
    if (o->sockaddr == NULL) {
        return NGX_ERROR;
    }

    if (socklen && socklen <= sizeof(ngx_sockaddr_t)) {
        ngx_memcpy(o->sockaddr, sa, socklen);
        o->socklen = socklen;

    } else {
        o->sockaddr->sa_family = AF_UNSPEC;
        o->socklen = sizeof(struct sockaddr);
    }

    o->addr_text = *addr_text;
    o->server = *server;

    return ngx_array_init(&o->headers, pool, 4, sizeof(ngx_table_elt_t));
}


/*
 * A POST of data to uri, internal, on a connection without a socket, in a
 * pool of its own, that looks to nginx like a client request to the
 * WebSocket's server.  The caller adds its headers (ngx_ws_fake_add_header),
 * sets the request's handlers and ctx, and frees it with
 * ngx_ws_fake_request_free() if it cannot go on.
 */

ngx_http_request_t *
ngx_ws_fake_request(ngx_ws_fake_origin_t *o, ngx_log_t *log,
    ngx_str_t *uri, u_char *data, size_t len)
{
    return ngx_ws_fake_request_sized(o, log, uri, NULL, data, len, 4096);
}


/*
 * The same with a request pool of size bytes, from which anything up to
 * that size is allocated (nginx's pools send anything over a page to
 * malloc() one by one).  A request that goes upstream needs some 20 KB:
 * its own structures, the subrequest's, the upstream's, and two buffers
 * of a page (proxy_buffer_size, subrequest_output_buffer_size).  In a
 * 4 KB pool these are five malloc() and free() per request; in a pool of
 * that size, one.  A caller that sends many requests to one URI gives
 * their request line, made once (ngx_ws_fake_request_line()); without it,
 * it is made here.
 */

ngx_http_request_t *
ngx_ws_fake_request_sized(ngx_ws_fake_origin_t *o, ngx_log_t *log,
    ngx_str_t *uri, ngx_str_t *line, u_char *data, size_t len, size_t size)
{
    ngx_time_t          *tp;
    ngx_connection_t    *fc;
    ngx_http_request_t  *fr;

    fc = ngx_ws_fake_connection(o, log);
    if (fc == NULL) {
        return NULL;
    }

    fr = ngx_ws_fake_request_alloc(o, fc, size);
    if (fr == NULL) {
        return NULL;
    }

    if (ngx_ws_fake_headers_in(o, fr, len) != NGX_OK
        || ngx_ws_fake_body(fr, data, len) != NGX_OK)
    {
        goto failed;
    }

    fr->method = NGX_HTTP_POST;
    ngx_str_set(&fr->method_name, "POST");
    fr->http_version = NGX_HTTP_VERSION_11;
    ngx_str_set(&fr->http_protocol, "HTTP/1.1");
    ngx_str_set(&fr->schema, "http");

    fr->uri = *uri;
    fr->unparsed_uri = fr->uri;

    if (line) {
        fr->request_line = *line;

    } else if (ngx_ws_fake_request_line(&fr->request_line, fr->pool, uri)
               != NGX_OK)
    {
        goto failed;
    }

    fr->internal = 1;
    fr->logged = 1;

    /*
     * a fake request is part of the WebSocket's request, which limit_conn
     * and limit_req have already counted: they must not count it again (a
     * second connection slot for the same client would be refused while
     * the WebSocket holds the first)
     */
    fr->limit_conn_status = o->limit_conn_status;
    fr->limit_req_status = o->limit_req_status;

    fr->uri_changes = NGX_HTTP_MAX_URI_CHANGES + 1;
    fr->subrequests = NGX_HTTP_MAX_SUBREQUESTS + 1;
    fr->http_state = NGX_HTTP_PROCESS_REQUEST_STATE;
    fr->log_handler = o->request_log_handler;
    fr->read_event_handler = ngx_ws_fake_request_empty_handler;
    fr->write_event_handler = ngx_ws_fake_request_empty_handler;

    tp = ngx_timeofday();
    fr->start_sec = tp->sec;
    fr->start_msec = tp->msec;

    return fr;

failed:

    ngx_ws_fake_request_free(fr);

    return NULL;
}


/* "POST uri HTTP/1.1", what nginx would have read of such a request */

ngx_int_t
ngx_ws_fake_request_line(ngx_str_t *line, ngx_pool_t *pool, ngx_str_t *uri)
{
    line->data = ngx_pnalloc(pool, uri->len + 32);
    if (line->data == NULL) {
        return NGX_ERROR;
    }

    line->len = ngx_sprintf(line->data, "POST %V HTTP/1.1", uri)
                - line->data;

    return NGX_OK;
}


/* before the request is started; nginx closes it itself after that */

void
ngx_ws_fake_request_free(ngx_http_request_t *fr)
{
    ngx_connection_t  *fc;

    fc = fr->connection;

    ngx_destroy_pool(fr->pool);
    ngx_ws_fake_connection_close(fc);
}


/*
 * A started fake request that its caller is done with: what
 * ngx_http_finalize_request(fr, NGX_DONE) does with a request whose
 * connection has reached its end (ngx_http_close_request()), but the
 * request's pool and the connection's are kept for the next one.  While
 * nginx still counts a reference to it, nginx closes it, when the last
 * one goes.
 */

void
ngx_ws_fake_request_close(ngx_http_request_t *fr)
{
    ngx_connection_t  *fc;

    fc = fr->connection;
    fc->read->eof = 1;

    if (fr != fr->main || fr->count != 1 || fr->blocked) {
        ngx_http_finalize_request(fr, NGX_DONE);
        return;
    }

    fr->count = 0;

    ngx_ws_fake_request_release(fr);
    ngx_ws_fake_connection_close(fc);
}


/*
 * What ngx_http_free_request() does with a fake request that went its
 * whole way (logged, not timed out), its pool kept for the next one
 * (ngx_ws_pool_free_request() runs the pool's cleanups); any other goes
 * to nginx's.
 */

static void
ngx_ws_fake_request_release(ngx_http_request_t *fr)
{
    ngx_log_t           *log;
    ngx_pool_t          *pool;
    ngx_http_cleanup_t  *cln;
    ngx_http_log_ctx_t  *ctx;

    if (!fr->logged || fr->connection->timedout) {
        ngx_http_free_request(fr, 0);
        return;
    }

    log = fr->connection->log;

    cln = fr->cleanup;
    fr->cleanup = NULL;

    while (cln) {
        if (cln->handler) {
            cln->handler(cln->data);
        }

        cln = cln->next;
    }

#if (NGX_STAT_STUB)

    if (fr->stat_reading) {
        (void) ngx_atomic_fetch_add(ngx_stat_reading, -1);
    }

    if (fr->stat_writing) {
        (void) ngx_atomic_fetch_add(ngx_stat_writing, -1);
    }

#endif

    log->action = "closing request";

    ctx = log->data;
    ctx->request = NULL;

    fr->request_line.len = 0;

    fr->connection->destroyed = 1;

    pool = fr->pool;
    fr->pool = NULL;

    ngx_ws_pool_free_request(pool);
}


/*
 * nginx may close the fake request itself (on a fatal error of a
 * subrequest), and then closes its connection as any other: so the
 * connection has a descriptor (/dev/null) and a pool of its own, holding
 * what must outlive the request's pool.  The descriptor is the worker's
 * one, opened once: the connection is "shared", as nginx's UDP
 * connections that share their listening socket are, so closing it
 * neither closes the descriptor nor asks the event loop about it.  One
 * open() and one close() less per event.  Its pool is one of the worker's
 * kept message pools (ngx_ws_pool.c), back to them when the module closes
 * the connection itself (ngx_ws_fake_connection_close()); when nginx does,
 * it is destroyed, as any.
 */

static ngx_connection_t *
ngx_ws_fake_connection(ngx_ws_fake_origin_t *o, ngx_log_t *log)
{
    ngx_log_t              *flog;
    ngx_connection_t       *fc;
    ngx_http_log_ctx_t     *lctx;

    static ngx_fd_t         fd = NGX_INVALID_FILE;
    static ngx_pid_t        pid;

    if (fd != NGX_INVALID_FILE && pid != ngx_pid) {
        /* inherited by a new process: it opens its own */
        fd = NGX_INVALID_FILE;
    }

    if (fd == NGX_INVALID_FILE) {
        fd = ngx_open_file("/dev/null", NGX_FILE_RDONLY, NGX_FILE_OPEN, 0);

        if (fd == NGX_INVALID_FILE) {
            ngx_log_error(NGX_LOG_ALERT, log, ngx_errno,
                          ngx_open_file_n " \"/dev/null\" failed");
            return NULL;
        }

        (void) fcntl(fd, F_SETFD, FD_CLOEXEC);
        pid = ngx_pid;
    }

    fc = ngx_get_connection((ngx_socket_t) fd, log);

    if (fc == NULL) {
        return NULL;
    }

    fc->shared = 1;

#if (NGX_STAT_STUB)
    (void) ngx_atomic_fetch_add(ngx_stat_active, 1);
#endif

    fc->pool = ngx_ws_pool_get(log);
    if (fc->pool == NULL) {
        ngx_http_close_connection(fc);
        return NULL;
    }

    flog = ngx_palloc(fc->pool, sizeof(ngx_log_t));
    lctx = ngx_pcalloc(fc->pool, sizeof(ngx_http_log_ctx_t));

    if (flog == NULL || lctx == NULL) {
        ngx_http_close_connection(fc);
        return NULL;
    }

    fc->number = ngx_atomic_fetch_add(ngx_connection_counter, 1);

    *flog = *log;
    flog->connection = fc->number;
    flog->handler = o->log_handler;
    flog->data = lctx;
    flog->action = "sending a WebSocket event to upstream";
    lctx->connection = fc;

    fc->log = flog;
    fc->log_error = NGX_ERROR_INFO;
    fc->pool->log = flog;             /* the origin may go before it */
    fc->listening = o->listening;
    fc->sockaddr = o->sockaddr;
    fc->socklen = o->socklen;
    fc->local_sockaddr = o->local_sockaddr;
    fc->local_socklen = o->local_socklen;
    fc->addr_text = o->addr_text;
    fc->start_time = ngx_current_msec;
    fc->requests = 1;

    fc->read->log = flog;
    fc->read->handler = ngx_ws_fake_empty_handler;
    fc->write->log = flog;
    fc->write->handler = ngx_ws_fake_empty_handler;

    /* the upstream must not add this connection to the event loop */
    fc->read->active = 1;
    fc->write->active = 1;
    fc->write->ready = 1;

    return fc;
}


/* what ngx_http_close_connection() does, the pool kept */

static void
ngx_ws_fake_connection_close(ngx_connection_t *fc)
{
    ngx_pool_t  *pool;

    ngx_log_debug0(NGX_LOG_DEBUG_HTTP, fc->log, 0, "ws close fake connection");

#if (NGX_STAT_STUB)
    (void) ngx_atomic_fetch_add(ngx_stat_active, -1);
#endif

    fc->destroyed = 1;

    pool = fc->pool;

    ngx_close_connection(fc);

    ngx_ws_pool_free(pool);
}


/* closes fc on failure */

static ngx_http_request_t *
ngx_ws_fake_request_alloc(ngx_ws_fake_origin_t *o, ngx_connection_t *fc,
    size_t size)
{
    ngx_pool_t                 *pool;
    ngx_http_request_t         *fr;
    ngx_http_log_ctx_t         *lctx;
    ngx_http_connection_t      *hc;
    ngx_http_core_main_conf_t  *cmcf;

    hc = ngx_palloc(fc->pool, sizeof(ngx_http_connection_t));
    if (hc == NULL) {
        ngx_http_close_connection(fc);
        return NULL;
    }

    *hc = o->hc;

    /* in whole pages: the pools of one size are kept for the next ones */

    size = ngx_align(size, ngx_pagesize);

    pool = ngx_ws_pool_get_request(size, fc->log);
    if (pool == NULL) {
        ngx_http_close_connection(fc);
        return NULL;
    }

    if (pool->max < size - sizeof(ngx_pool_t)) {
        /* a new block is of the same size: anything up to max fits */
        pool->max = size - sizeof(ngx_pool_t);
    }

    fr = ngx_pcalloc(pool, sizeof(ngx_http_request_t));
    if (fr == NULL) {
        goto failed;
    }

    fc->data = fr;
    lctx = fc->log->data;
    lctx->request = fr;
    lctx->current_request = fr;

    fr->signature = NGX_HTTP_MODULE;
    fr->connection = fc;
    fr->pool = pool;
    fr->http_connection = hc;
    fr->main = fr;
    fr->count = 1;
    fr->main_conf = o->main_conf;
    fr->srv_conf = o->srv_conf;
    fr->loc_conf = o->loc_conf;

    fr->ctx = ngx_pcalloc(pool, sizeof(void *) * ngx_http_max_module);
    if (fr->ctx == NULL) {
        goto failed;
    }

    cmcf = ngx_http_get_module_main_conf(fr, ngx_http_core_module);

    fr->variables = ngx_pcalloc(pool, cmcf->variables.nelts
                                      * sizeof(ngx_http_variable_value_t));
    if (fr->variables == NULL) {
        goto failed;
    }

    return fr;

failed:

    ngx_destroy_pool(pool);
    ngx_http_close_connection(fc);

    return NULL;
}


/*
 * The origin's headers, run through nginx's headers_in handlers as for a
 * client request: $http_user_agent, $http_cookie,
 * $proxy_add_x_forwarded_for and the like read the fields they set.
 */

static ngx_int_t
ngx_ws_fake_headers_in(ngx_ws_fake_origin_t *o, ngx_http_request_t *fr,
    size_t len)
{
    ngx_uint_t                  i;
    ngx_table_elt_t            *h, *nh;
    ngx_http_header_t          *hh;
    ngx_http_core_main_conf_t  *cmcf;

    if (ngx_list_init(&fr->headers_in.headers, fr->pool, 20,
                      sizeof(ngx_table_elt_t))
        != NGX_OK
        || ngx_list_init(&fr->headers_out.headers, fr->pool, 4,
                         sizeof(ngx_table_elt_t))
           != NGX_OK
        || ngx_list_init(&fr->headers_out.trailers, fr->pool, 4,
                         sizeof(ngx_table_elt_t))
           != NGX_OK)
    {
        return NGX_ERROR;
    }

    fr->headers_in.content_length_n = len;
    fr->headers_in.keep_alive_n = -1;
    fr->headers_in.server = o->server;
    fr->headers_out.content_length_n = -1;
    fr->headers_out.last_modified_time = -1;

    cmcf = ngx_http_get_module_main_conf(fr, ngx_http_core_module);

    h = o->headers.elts;

    for (i = 0; i < o->headers.nelts; i++) {
        nh = ngx_list_push(&fr->headers_in.headers);
        if (nh == NULL) {
            return NGX_ERROR;
        }

        *nh = h[i];

        hh = ngx_hash_find(&cmcf->headers_in_hash, nh->hash, nh->lowcase_key,
                           nh->key.len);

        if (hh && hh->handler(fr, nh, hh->offset) != NGX_OK) {
            return NGX_ERROR;
        }
    }

    return NGX_OK;
}


/* the data is the body, in memory */

static ngx_int_t
ngx_ws_fake_body(ngx_http_request_t *fr, u_char *data, size_t len)
{
    ngx_http_request_body_t  *rb;

    rb = ngx_pcalloc(fr->pool, sizeof(ngx_http_request_body_t));
    if (rb == NULL) {
        return NGX_ERROR;
    }

    if (len) {
        rb->bufs = ngx_alloc_chain_link(fr->pool);
        rb->buf = ngx_calloc_buf(fr->pool);

        if (rb->bufs == NULL || rb->buf == NULL) {
            return NGX_ERROR;
        }

        rb->buf->pos = data;
        rb->buf->last = data + len;
        rb->buf->start = rb->buf->pos;
        rb->buf->end = rb->buf->last;
        rb->buf->memory = 1;
        rb->buf->last_buf = 1;
        rb->buf->last_in_chain = 1;

        rb->bufs->buf = rb->buf;
        rb->bufs->next = NULL;
    }

    fr->request_body = rb;

    return NGX_OK;
}


/*
 * A body the caller built in the request's pool after the request was
 * made (the events of a websocket-events request), instead of the one
 * given to ngx_ws_fake_request().
 */

ngx_int_t
ngx_ws_fake_request_body(ngx_http_request_t *fr, u_char *data, size_t len)
{
    fr->headers_in.content_length_n = len;

    return ngx_ws_fake_body(fr, data, len);
}


/*
 * A header that the caller adds to many requests, made once in pool: its
 * name's lowercase form and hash are not computed again per request.  The
 * name and the value must live as long as the array.
 */

ngx_int_t
ngx_ws_fake_header(ngx_array_t *headers, ngx_pool_t *pool, char *name,
    u_char *value, size_t len)
{
    ngx_table_elt_t  *h;

    h = ngx_array_push(headers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    return ngx_ws_fake_header_set(h, pool, name, value, len);
}


/* the headers made by ngx_ws_fake_header(), added after those before */

ngx_int_t
ngx_ws_fake_add_headers(ngx_http_request_t *r, ngx_array_t *headers)
{
    ngx_uint_t        i;
    ngx_table_elt_t  *h, *nh;

    h = headers->elts;

    for (i = 0; i < headers->nelts; i++) {
        nh = ngx_list_push(&r->headers_in.headers);
        if (nh == NULL) {
            return NGX_ERROR;
        }

        *nh = h[i];
    }

    return NGX_OK;
}


/* a header of the caller's, added after the origin's */

ngx_int_t
ngx_ws_fake_add_header(ngx_http_request_t *r, char *name, u_char *value,
    size_t len)
{
    ngx_table_elt_t  *h;

    h = ngx_list_push(&r->headers_in.headers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    return ngx_ws_fake_header_set(h, r->pool, name, value, len);
}


/* a header element filled: its name's lowercase form and hash from pool */

static ngx_int_t
ngx_ws_fake_header_set(ngx_table_elt_t *h, ngx_pool_t *pool, char *name,
    u_char *value, size_t len)
{
    size_t  n;

    n = ngx_strlen(name);

    h->key.data = (u_char *) name;
    h->key.len = n;
    h->value.data = value;
    h->value.len = len;
    h->lowcase_key = ngx_pnalloc(pool, n);

    if (h->lowcase_key == NULL) {
        return NGX_ERROR;
    }

    h->hash = ngx_hash_strlow(h->lowcase_key, h->key.data, n);

#if (nginx_version >= 1023000)
    h->next = NULL;
#endif

    return NGX_OK;
}


static void
ngx_ws_fake_empty_handler(ngx_event_t *ev)
{
    return;
}


static void
ngx_ws_fake_request_empty_handler(ngx_http_request_t *r)
{
    return;
}


/*
 * The log handlers of ngx_ws_fake_origin_conf()'s requests.  The
 * connection's handler is also the start of the handler of a WebSocket
 * whose request was released (ngx_ws_release.c): the action, the client,
 * and the fields of the request being logged, if one is.
 */

u_char *
ngx_ws_log_error_connection(ngx_log_t *log, u_char *buf, size_t len)
{
    u_char              *p;
    ngx_http_log_ctx_t  *ctx;

    p = buf;

    if (log->action) {
        p = ngx_snprintf(p, len, " while %s", log->action);
        len -= p - buf;
        buf = p;
    }

    ctx = log->data;

    p = ngx_snprintf(p, len, ", client: %V", &ctx->connection->addr_text);
    len -= p - buf;

    if (ctx->request) {
        return ctx->request->log_handler(ctx->request, ctx->current_request,
                                         p, len);
    }

    return p;
}


static u_char *
ngx_ws_fake_request_log_error(ngx_http_request_t *r, ngx_http_request_t *sr,
    u_char *buf, size_t len)
{
    u_char  *p;

    p = ngx_snprintf(buf, len, ", request: \"%V\"", &r->request_line);

    if (sr && sr != r) {
        len -= p - buf;
        p = ngx_snprintf(p, len, ", subrequest: \"%V\"", &sr->uri);
    }

    return p;
}


/*
 * The header buffer of an upgraded request (c->buffer, 1k by default) is
 * held for the whole life of a WebSocket only because the request line and
 * the headers lie in it: the access log, the $http_* variables, the error
 * log lines and the events read them until the close.  Once the bytes that
 * came behind the handshake are read, ngx_ws_request_compact() moves what
 * was read into a piece of the request's pool just its size (or one
 * allocation of its own when no block of the pool has room), points nginx's
 * fields and the request's cached variables at the copy, and frees the
 * buffer, as nginx's keep-alive handler frees it between requests.
 *
 * Only a request read whole into c->buffer is moved (larger headers went
 * to large header buffers, which nginx keeps in hc->busy), and only a
 * buffer nginx allocated on its own (a large allocation of c->pool), so
 * that it can be freed.  Returns NGX_DECLINED when nothing was moved.
 */

#define ngx_ws_move(p, from, to, n)                                           \
    if ((u_char *) (p) >= (from) && (u_char *) (p) <= (from) + (n)) {         \
        (p) = (void *) ((to) + ((u_char *) (p) - (from)));                    \
    }

#define ngx_ws_move_str(s, from, to, n)                                       \
    if ((s).len) {                                                            \
        ngx_ws_move((s).data, from, to, n);                                   \
    }


static void ngx_ws_request_compact_cleanup(void *data);


ngx_int_t
ngx_ws_request_compact(ngx_http_request_t *r)
{
    u_char                     *old, *new;
    size_t                      n;
    ngx_buf_t                  *b;
    ngx_uint_t                  i, found;
    ngx_pool_t                 *p;
    ngx_list_part_t            *part;
    ngx_table_elt_t            *h;
    ngx_connection_t           *c;
    ngx_pool_large_t           *l;
    ngx_pool_cleanup_t         *cln;
    ngx_http_variable_value_t  *v;
    ngx_http_core_main_conf_t  *cmcf;

    c = r->connection;
    b = c->buffer;

    if (b == NULL || r->header_in != b || b->start == NULL
        || b->pos != b->last)
    {
        return NGX_DECLINED;
    }

    found = 0;

    for (l = c->pool->large; l; l = l->next) {
        if (l->alloc == b->start) {
            found = 1;
            break;
        }
    }

    if (!found) {
        return NGX_DECLINED;
    }

    old = b->start;
    n = b->last - b->start;

    /* a block of the request's pool with room, or an allocation of its own */

    new = NULL;

    for (p = r->pool->current; p; p = p->d.next) {
        if ((size_t) (p->d.end - p->d.last) >= n) {
            new = ngx_pnalloc(r->pool, n);
            break;
        }
    }

    if (new == NULL) {
        cln = ngx_pool_cleanup_add(r->pool, 0);
        if (cln == NULL) {
            return NGX_ERROR;
        }

        new = ngx_alloc(n ? n : 1, c->log);
        if (new == NULL) {
            return NGX_ERROR;
        }

        cln->handler = ngx_ws_request_compact_cleanup;
        cln->data = new;
    }

    ngx_memcpy(new, old, n);

    ngx_ws_move_str(r->request_line, old, new, n);
    ngx_ws_move_str(r->uri, old, new, n);
    ngx_ws_move_str(r->args, old, new, n);
    ngx_ws_move_str(r->exten, old, new, n);
    ngx_ws_move_str(r->unparsed_uri, old, new, n);
    ngx_ws_move_str(r->method_name, old, new, n);
    ngx_ws_move_str(r->http_protocol, old, new, n);
    ngx_ws_move_str(r->schema, old, new, n);
    ngx_ws_move_str(r->headers_in.server, old, new, n);
    ngx_ws_move_str(r->headers_in.user, old, new, n);
    ngx_ws_move_str(r->headers_in.passwd, old, new, n);

    ngx_ws_move(r->captures_data, old, new, n);
    ngx_ws_move(r->request_start, old, new, n);
    ngx_ws_move(r->request_end, old, new, n);
    ngx_ws_move(r->method_end, old, new, n);
    ngx_ws_move(r->uri_start, old, new, n);
    ngx_ws_move(r->uri_end, old, new, n);
    ngx_ws_move(r->uri_ext, old, new, n);
    ngx_ws_move(r->args_start, old, new, n);
    ngx_ws_move(r->schema_start, old, new, n);
    ngx_ws_move(r->schema_end, old, new, n);
    ngx_ws_move(r->host_start, old, new, n);
    ngx_ws_move(r->host_end, old, new, n);
    ngx_ws_move(r->header_name_start, old, new, n);
    ngx_ws_move(r->header_name_end, old, new, n);
    ngx_ws_move(r->header_start, old, new, n);
    ngx_ws_move(r->header_end, old, new, n);

    for (part = &r->headers_in.headers.part; part; part = part->next) {
        h = part->elts;

        for (i = 0; i < part->nelts; i++) {
            ngx_ws_move_str(h[i].key, old, new, n);
            ngx_ws_move_str(h[i].value, old, new, n);
            ngx_ws_move(h[i].lowcase_key, old, new, n);
        }
    }

    /* the variables evaluated so far keep where their values lie */

    cmcf = ngx_http_get_module_main_conf(r, ngx_http_core_module);
    v = r->variables;

    for (i = 0; v && i < cmcf->variables.nelts; i++) {
        if ((v[i].valid || v[i].not_found) && v[i].len && v[i].data) {
            ngx_ws_move(v[i].data, old, new, n);
        }
    }

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, c->log, 0,
                   "ws header buffer released, %uz bytes moved to %p", n, new);

    (void) ngx_pfree(c->pool, old);

    b->start = new;
    b->pos = new + n;
    b->last = new + n;
    b->end = new + n;

    return NGX_OK;
}


static void
ngx_ws_request_compact_cleanup(void *data)
{
    ngx_free(data);
}
