
/*
 * Copyright (C) ngx_ws_module authors
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include "ngx_ws_module.h"


/*
 * The request of an upgraded connection, released.
 *
 * An idle WebSocket would otherwise hold its whole HTTP request until the
 * close: the request's pool (two blocks of request_pool_size, some 8 KB)
 * for nothing but the access log line written then.  When nothing in the
 * location reads the request after the upgrade (ngx_ws_merge_release()),
 * and nothing of nginx's hangs on its pool (limit_conn's count and
 * realip's address are restored by the pool's cleanups: such a request is
 * kept), the WebSocket is made in the connection's pool with room for the
 * request line and headers as the client sent them, and on its first read
 * the request is freed as nginx's keep-alive handler frees one between two
 * requests.  What stays is the WebSocket state with the request line and
 * the headers nginx took, and what the log needs besides (the
 * configuration, the start time, the size of the 101, the validated Host,
 * the URI when it is not the request line's, the variables already
 * evaluated, which must not change: $request_id, a map, a set).
 *
 * At the close the request is made again on the connection, its line and
 * headers parsed by nginx's own parsers and headers_in handlers, and the
 * log phase runs on it: $request, $http_*, $status (101), $request_time,
 * $bytes_sent, $ssl_*, $ws_* read what they read on the request itself.
 * Nothing there may finalize the request: what nginx checked when it read
 * the request (the URI, unique headers, Host) is not checked again, for
 * it was checked with the settings of the server the connection came to
 * (merge_slashes, underscores_in_headers...), and the virtual server's
 * may differ.  What is not made again are the 101's response headers
 * ($sent_http_*) other than Upgrade and Sec-WebSocket-Protocol.
 *
 * After the release, c->data is the WebSocket (ngx_ws_conn_of()), and the
 * error log lines of the connection are written by
 * ngx_ws_release_log_error(), with the same fields as before.
 */


static ngx_http_request_t *ngx_ws_release_request(ngx_ws_conn_t *ws);
static ngx_int_t ngx_ws_release_parse(ngx_ws_conn_t *ws,
    ngx_http_request_t *r);
static ngx_int_t ngx_ws_release_keep_vars(ngx_ws_conn_t *ws,
    ngx_http_request_t *r);
static size_t ngx_ws_release_raw(ngx_http_request_t *r, u_char *raw,
    size_t room);
static void ngx_ws_release_request_uri(ngx_ws_conn_t *ws,
    ngx_http_request_t *r);
static ngx_http_header_handler_pt ngx_ws_release_unique(
    ngx_http_core_main_conf_t *cmcf);
static ngx_int_t ngx_ws_release_uri(ngx_ws_conn_t *ws, ngx_http_request_t *r);
static ngx_uint_t ngx_ws_release_cleanups(ngx_http_request_t *r);
static ngx_int_t ngx_ws_release_auth(ngx_ws_conn_t *ws);
static ngx_ws_kept_extra_t *ngx_ws_release_extra(ngx_ws_conn_t *ws);
static ngx_int_t ngx_ws_release_copy(ngx_pool_t *pool, ngx_str_t *s);
static u_char *ngx_ws_release_log_error(ngx_log_t *log, u_char *buf,
    size_t len);
static ngx_int_t ngx_ws_release_response(ngx_ws_conn_t *ws,
    ngx_http_request_t *r);


/*
 * Whether r can be released once upgraded, as far as the request itself
 * tells: read whole into the connection's header buffer (no large header
 * buffers), nothing hung on it by other modules
 */

ngx_uint_t
ngx_ws_request_releasable(ngx_http_request_t *r)
{
    ngx_buf_t              *b;
    ngx_connection_t       *c;
    ngx_http_connection_t  *hc;

    c = r->connection;
    b = c->buffer;
    hc = r->http_connection;

    if (r != r->main
        || ngx_ws_release_cleanups(r)
        || r->http_version > NGX_HTTP_VERSION_11
        || b == NULL
        || r->header_in != b
        || hc->busy
        || r->request_start == NULL
        || r->request_start < b->start
        || r->request_length <= 0
        || r->request_length > b->last - r->request_start)
    {
        return 0;
    }

    return 1;
}


/*
 * Releases the request of an upgraded connection made for it (ws in the
 * connection's pool), once the 101 is sent and what came behind the
 * handshake is read: NGX_DECLINED if it is kept, NGX_ERROR if it is kept
 * for want of memory (what was copied so far stays in the connection's
 * pool, read by nothing).
 */

ngx_int_t
ngx_ws_request_release(ngx_ws_conn_t *ws)
{
    u_char                   *raw;
    size_t                    len;
    ngx_buf_t                *b;
    ngx_connection_t         *c;
    ngx_http_request_t       *r;
    ngx_http_log_handler_pt   handler;

    r = ws->request;
    c = ws->connection;
    b = c->buffer;

    /* nginx's handler (or seclog's), which ngx_ws_log_error() calls */
    handler = r ? ngx_ws_ctx_log_handler(r) : NULL;

    if (handler == NULL
        || r->count != 1
        || ws->pool != c->pool
        || ws->conn_state != NGX_WS_CONN_OPEN
        || c->buffered
        || r->header_in != b
        || b->pos != b->last
        || r->request_length != (off_t) ws->kept.request_length
        || r->headers_in.server.len > 0xffff          /* kept.host_len */
        || ngx_ws_release_cleanups(r))
    {
        return NGX_DECLINED;
    }

    raw = (u_char *) (ws + 1);

    len = ngx_ws_release_raw(r, raw, ws->kept.request_length);
    if (len == 0) {
        return NGX_DECLINED;
    }

    if (ngx_ws_release_keep_vars(ws, r) != NGX_OK
        || ngx_ws_release_uri(ws, r) != NGX_OK
        || ngx_ws_release_auth(ws) != NGX_OK
        || ngx_ws_release_copy(c->pool, &ws->subprotocol) != NGX_OK
        || ngx_ws_release_copy(c->pool, &ws->publish) != NGX_OK
        || ngx_ws_release_copy(c->pool, &ws->member) != NGX_OK)
    {
        return NGX_ERROR;
    }

    /* the Host nginx validated: no port, no trailing dot, lowercase */

    if (r->headers_in.server.len) {
        ws->kept.host = ngx_pnalloc(c->pool, r->headers_in.server.len);
        if (ws->kept.host == NULL) {
            return NGX_ERROR;
        }

        ngx_memcpy(ws->kept.host, r->headers_in.server.data,
                   r->headers_in.server.len);
        ws->kept.host_len = r->headers_in.server.len;
    }

    ws->kept.raw = raw;
    ws->kept.raw_len = len;

    ws->kept.hc = r->http_connection;
    ws->kept.srv_conf = r->srv_conf;
    ws->kept.loc_conf = r->loc_conf;
    ws->kept.start_sec = r->start_sec;
    ws->kept.start_msec = r->start_msec;
    ws->kept.header_size = r->header_size;
    ws->kept.log_handler = handler;

    ws->kept.valid_location = r->valid_location;
    ws->kept.limit_req_status = r->limit_req_status;
    ws->kept.limit_conn_status = r->limit_conn_status;
    ws->kept.pipeline = r->pipeline;
    ws->kept.request_complete = r->request_complete;

    /* the connection counts as a request being written until the close */

    ws->kept.stat_writing = r->stat_writing;
    r->stat_writing = 0;

    /* the header buffer, as between two requests of a keep-alive */

    if (ngx_pfree(c->pool, b->start) == NGX_OK) {
        b->start = NULL;
        b->pos = NULL;
        b->last = NULL;
        b->end = NULL;
    }

    r->logged = 1;
    ws->request = NULL;
    c->data = ws;

    ngx_http_free_request(r, 0);

    c->destroyed = 0;
    c->log->handler = ngx_ws_release_log_error;
    c->log->action = "processing WebSocket";

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, c->log, 0,
                   "ws request released, %uD bytes kept", ws->kept.raw_len);

    return NGX_OK;
}


/*
 * The close of a connection whose request was released: what finalizing
 * the request would have done, the access log on a request made again,
 * then the connection closed
 */

void
ngx_ws_request_finalize(ngx_ws_conn_t *ws)
{
    ngx_uint_t                  i, n;
    ngx_connection_t           *c;
    ngx_http_request_t         *r;
    ngx_http_handler_pt        *handler;
    ngx_http_log_ctx_t         *lctx;
    ngx_http_core_loc_conf_t   *clcf;
    ngx_http_core_main_conf_t  *cmcf;
    struct linger               linger;

    c = ws->connection;

    r = ngx_ws_release_request(ws);

    if (r) {
        lctx = c->log->data;
        lctx->request = r;
        lctx->current_request = r;
        c->log->action = "logging request";

        cmcf = ngx_http_get_module_main_conf(r, ngx_http_core_module);

        handler = cmcf->phases[NGX_HTTP_LOG_PHASE].handlers.elts;
        n = cmcf->phases[NGX_HTTP_LOG_PHASE].handlers.nelts;

        for (i = 0; i < n; i++) {
            handler[i](r);
        }

        c->log->action = "closing request";
        lctx->request = NULL;
        lctx->current_request = NULL;

        ngx_destroy_pool(r->pool);
    }

#if (NGX_STAT_STUB)

    if (ws->kept.stat_writing) {
        (void) ngx_atomic_fetch_add(ngx_stat_writing, -1);
    }

#endif

    if (c->timedout) {
        clcf = ws->kept.loc_conf[ngx_http_core_module.ctx_index];

        if (clcf->reset_timedout_connection) {
            linger.l_onoff = 1;
            linger.l_linger = 0;

            if (setsockopt(c->fd, SOL_SOCKET, SO_LINGER,
                           (const void *) &linger, sizeof(struct linger))
                == -1)
            {
                ngx_log_error(NGX_LOG_ALERT, c->log, ngx_socket_errno,
                              "setsockopt(SO_LINGER) failed");
            }
        }
    }

    ngx_http_close_connection(c);
}


/* the request made again for the log, or NULL (logged at alert) */

static ngx_http_request_t *
ngx_ws_release_request(ngx_ws_conn_t *ws)
{
    ngx_uint_t                  i;
    ngx_pool_t                 *pool;
    ngx_connection_t           *c;
    ngx_http_request_t         *r;
    ngx_ws_kept_var_t          *kv;
    ngx_http_variable_value_t  *v;
    ngx_http_core_srv_conf_t   *cscf;
    ngx_http_core_main_conf_t  *cmcf;

    c = ws->connection;

    cscf = ws->kept.srv_conf[ngx_http_core_module.ctx_index];

    pool = ngx_create_pool(cscf->request_pool_size, c->log);
    if (pool == NULL) {
        goto failed;
    }

    r = ngx_pcalloc(pool, sizeof(ngx_http_request_t));
    if (r == NULL) {
        ngx_destroy_pool(pool);
        goto failed;
    }

    r->signature = NGX_HTTP_MODULE;
    r->connection = c;
    r->pool = pool;
    r->http_connection = ws->kept.hc;
    r->main = r;
    r->main_conf = ws->kept.hc->conf_ctx->main_conf;

    /*
     * one reference more than it has: were one of nginx's functions run on
     * it to finalize or close it (only on a failed allocation: the bytes
     * were checked when they were read), it could not free the request
     * or close the connection under its maker
     */
    r->count = 2;

    r->srv_conf = ws->kept.srv_conf;
    r->loc_conf = ws->kept.loc_conf;

    cmcf = ngx_http_get_module_main_conf(r, ngx_http_core_module);

    r->ctx = ngx_pcalloc(pool, sizeof(void *) * ngx_http_max_module);
    r->variables = ngx_pcalloc(pool, cmcf->variables.nelts
                                     * sizeof(ngx_http_variable_value_t));

    if (r->ctx == NULL || r->variables == NULL
        || ngx_list_init(&r->headers_in.headers, pool, 20,
                         sizeof(ngx_table_elt_t))
           != NGX_OK
        || ngx_list_init(&r->headers_out.headers, pool, 4,
                         sizeof(ngx_table_elt_t))
           != NGX_OK
        || ngx_list_init(&r->headers_out.trailers, pool, 1,
                         sizeof(ngx_table_elt_t))
           != NGX_OK)
    {
        goto free;
    }

    r->headers_in.content_length_n = -1;
    r->headers_in.keep_alive_n = -1;
    r->headers_out.content_length_n = -1;
    r->headers_out.last_modified_time = -1;
    r->uri_changes = NGX_HTTP_MAX_URI_CHANGES + 1;
    r->subrequests = NGX_HTTP_MAX_SUBREQUESTS + 1;
    r->http_state = NGX_HTTP_PROCESS_REQUEST_STATE;

    if (ngx_ws_release_parse(ws, r) != NGX_OK) {
        goto free;
    }

    r->headers_in.server.data = ws->kept.host;
    r->headers_in.server.len = ws->kept.host_len;

    r->request_length = ws->kept.request_length;
    r->start_sec = ws->kept.start_sec;
    r->start_msec = ws->kept.start_msec;
    r->logged = 1;

    /*
     * without valid_location, an "alias" location's $request_filename is
     * refused with an alert, and a log path with variables drops the line
     */

    r->valid_location = ws->kept.valid_location;
    r->limit_req_status = ws->kept.limit_req_status;
    r->limit_conn_status = ws->kept.limit_conn_status;
    r->pipeline = ws->kept.pipeline;
    r->request_complete = ws->kept.request_complete;

    if (ngx_ws_release_response(ws, r) != NGX_OK) {
        goto free;
    }

    /* the values evaluated before the release, not evaluated again */

    v = r->variables;
    kv = ws->kept.extra ? ws->kept.extra->vars : NULL;

    for (i = 0; kv && i < ws->kept.extra->nvars; i++) {
        v[kv[i].index].len = kv[i].value.len;
        v[kv[i].index].data = kv[i].value.data;
        v[kv[i].index].valid = 1;
        v[kv[i].index].no_cacheable = 0;
        v[kv[i].index].not_found = 0;
    }

    /* $ws_* variables, and the fields of error lines as before */

    r->log_handler = ws->kept.log_handler;

    if (ngx_ws_ctx_set_conn(r, ws) != NGX_OK
        || ngx_ws_ctx_set_log_handler(r, ngx_ws_log_error) != NGX_OK)
    {
        goto free;
    }

    return r;

free:

    ngx_destroy_pool(r->pool);

failed:

    ngx_log_error(NGX_LOG_ALERT, c->log, 0,
                  "ws could not make the request again for the access log");

    return NULL;
}


/* the 101 as it was sent, for $status, $body_bytes_sent, $sent_http_* */

static ngx_int_t
ngx_ws_release_response(ngx_ws_conn_t *ws, ngx_http_request_t *r)
{
    ngx_table_elt_t  *h;

    static ngx_str_t  upgrade = ngx_string("Upgrade");
    static ngx_str_t  protocol = ngx_string("Sec-WebSocket-Protocol");
    static ngx_str_t  websocket = ngx_string("websocket");

    r->headers_out.status = NGX_HTTP_SWITCHING_PROTOCOLS;
    ngx_str_set(&r->headers_out.status_line, "101 Switching Protocols");
    r->header_size = ws->kept.header_size;

    h = ngx_list_push(&r->headers_out.headers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    h->hash = 1;
    h->key = upgrade;
    h->value = websocket;
    h->lowcase_key = NULL;

    if (ws->subprotocol.len) {
        h = ngx_list_push(&r->headers_out.headers);
        if (h == NULL) {
            return NGX_ERROR;
        }

        h->hash = 1;
        h->key = protocol;
        h->value = ws->subprotocol;
        h->lowcase_key = NULL;
    }

    return NGX_OK;
}


/*
 * The request line and the headers kept, through nginx's parsers and
 * headers_in handlers as when they were read
 */

static ngx_int_t
ngx_ws_release_parse(ngx_ws_conn_t *ws, ngx_http_request_t *r)
{
    ngx_int_t                    rc;
    ngx_buf_t                   *b;
    ngx_table_elt_t             *h, **ph;
    ngx_http_header_t           *hh;
    ngx_http_core_main_conf_t   *cmcf;
    ngx_http_header_handler_pt   unique;

    b = ngx_calloc_buf(r->pool);
    if (b == NULL) {
        return NGX_ERROR;
    }

    /*
     * a copy: the parsers write NULs into what they parse, and an error
     * line after the access log (a TLS shutdown) still reads the kept bytes
     */

    b->start = ngx_pnalloc(r->pool, ws->kept.raw_len);
    if (b->start == NULL) {
        return NGX_ERROR;
    }

    b->pos = b->start;
    b->last = ngx_cpymem(b->start, ws->kept.raw, ws->kept.raw_len);
    b->end = b->last;
    b->temporary = 1;

    r->header_in = b;

    if (ngx_http_parse_request_line(r, b) != NGX_OK) {
        return NGX_ERROR;
    }

    r->request_line.data = r->request_start;
    r->request_line.len = r->request_end - r->request_start;
    r->method_name.data = r->request_start;
    r->method_name.len = r->method_end - r->request_start + 1;

    if (r->http_protocol.data) {
        r->http_protocol.len = r->request_end - r->http_protocol.data;
    }

    ngx_ws_release_request_uri(ws, r);

    if (r->schema_end) {
        r->schema.len = r->schema_end - r->schema_start;
        r->schema.data = r->schema_start;
    }

    cmcf = ngx_http_get_module_main_conf(r, ngx_http_core_module);
    unique = ngx_ws_release_unique(cmcf);

    /* every header kept is one nginx took: none is left out now */

    for ( ;; ) {
        rc = ngx_http_parse_header_line(r, b, 1);

        if (rc == NGX_HTTP_PARSE_HEADER_DONE) {
            return NGX_OK;
        }

        if (rc != NGX_OK) {
            return NGX_ERROR;
        }

        h = ngx_list_push(&r->headers_in.headers);
        if (h == NULL) {
            return NGX_ERROR;
        }

        h->hash = r->header_hash;
        h->key.len = r->header_name_end - r->header_name_start;
        h->key.data = r->header_name_start;
        h->value.len = r->header_end - r->header_start;
        h->value.data = r->header_start;

        /* the headers_in handlers read up to a NUL, as nginx ends them */
        h->key.data[h->key.len] = '\0';
        h->value.data[h->value.len] = '\0';

        h->lowcase_key = ngx_pnalloc(r->pool, h->key.len);
        if (h->lowcase_key == NULL) {
            return NGX_ERROR;
        }

        if (h->key.len == r->lowcase_index) {
            ngx_memcpy(h->lowcase_key, r->lowcase_header, h->key.len);

        } else {
            ngx_strlow(h->lowcase_key, h->key.data, h->key.len);
        }

        /*
         * not Host's handler: it would choose the virtual server again, and
         * with it the configuration and the error_log; the server it
         * validated is kept
         */

        if (h->key.len == 4 && ngx_strncmp(h->lowcase_key, "host", 4) == 0) {
            if (r->headers_in.host == NULL) {
                r->headers_in.host = h;
            }

            continue;
        }

        hh = ngx_hash_find(&cmcf->headers_in_hash, h->hash, h->lowcase_key,
                           h->key.len);

        if (hh == NULL) {
            continue;
        }

        /*
         * a second of a header nginx takes once would make its handler
         * answer 400; there was none when nginx read them, unless a module
         * added one since: the first is kept
         */

        ph = (ngx_table_elt_t **) ((char *) &r->headers_in + hh->offset);

        if (hh->handler == unique && *ph != NULL) {
            continue;
        }

        if (hh->handler(r, h, hh->offset) != NGX_OK) {
            return NGX_ERROR;
        }
    }
}


/*
 * The request line and the headers nginx took, into raw (room bytes): a
 * line each, "name:value" or "name" when the value is empty, ended by LF,
 * then an empty line.  Never longer than the bytes the client sent, in
 * which each line had a colon or its end after the name and an end after
 * the value; 0 when they do not fit (a module added to them since).
 * nginx's parsers read them as they read the client's, without the NULs
 * nginx wrote into those, and without what it left out.
 */

static size_t
ngx_ws_release_raw(ngx_http_request_t *r, u_char *raw, size_t room)
{
    u_char           *p, *last;
    ngx_uint_t        i;
    ngx_list_part_t  *part;
    ngx_table_elt_t  *h;

    p = raw;
    last = raw + room;

    if (r->request_line.len + 2 > room) {
        return 0;
    }

    p = ngx_cpymem(p, r->request_line.data, r->request_line.len);
    *p++ = LF;

    part = &r->headers_in.headers.part;
    h = part->elts;

    for (i = 0; /* void */; i++) {

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

        /* the line, its LF and the empty line's */

        if ((size_t) (last - p) < h[i].key.len + 1 + h[i].value.len + 2) {
            return 0;
        }

        p = ngx_cpymem(p, h[i].key.data, h[i].key.len);

        if (h[i].value.len) {
            *p++ = ':';
            p = ngx_cpymem(p, h[i].value.data, h[i].value.len);
        }

        *p++ = LF;
    }

    *p++ = LF;

    return p - raw;
}


/*
 * $uri, $args, $request_uri and $exten as nginx made them when it read
 * the request line: the copy kept when they were not the line's (a URI
 * with "%", "/./" or "//" in it, or rewritten since), otherwise the line's
 */

static void
ngx_ws_release_request_uri(ngx_ws_conn_t *ws, ngx_http_request_t *r)
{
    ngx_ws_kept_extra_t  *extra;

    r->unparsed_uri.len = r->uri_end - r->uri_start;
    r->unparsed_uri.data = r->uri_start;
    r->valid_unparsed_uri = r->empty_path_in_uri ? 0 : 1;

    extra = ws->kept.extra;

    if (extra && extra->uri.len) {
        r->uri = extra->uri;
        r->args = extra->args;
        r->internal = extra->internal;

    } else {
        r->uri.data = r->uri_start;
        r->uri.len = (r->args_start ? r->args_start - 1 : r->uri_end)
                     - r->uri_start;

        if (r->args_start && r->uri_end > r->args_start) {
            r->args.len = r->uri_end - r->args_start;
            r->args.data = r->args_start;
        }
    }

    ngx_http_set_exten(r);
}


/*
 * The handler of the headers nginx takes once (Content-Length,
 * If-Modified-Since...), which is not exported: Content-Length's
 */

static ngx_http_header_handler_pt
ngx_ws_release_unique(ngx_http_core_main_conf_t *cmcf)
{
    ngx_http_header_t  *hh;

    static u_char  name[] = "content-length";

    hh = ngx_hash_find(&cmcf->headers_in_hash,
                       ngx_hash_key(name, sizeof(name) - 1),
                       name, sizeof(name) - 1);

    return hh ? hh->handler : NULL;
}


/* the cacheable variables evaluated so far, copied into c->pool */

static ngx_int_t
ngx_ws_release_keep_vars(ngx_ws_conn_t *ws, ngx_http_request_t *r)
{
    u_char                     *p;
    size_t                      size;
    ngx_uint_t                  i, n;
    ngx_ws_kept_var_t          *kv;
    ngx_http_variable_value_t  *v;
    ngx_http_core_main_conf_t  *cmcf;

    cmcf = ngx_http_get_module_main_conf(r, ngx_http_core_module);
    v = r->variables;

    n = 0;
    size = 0;

    for (i = 0; i < cmcf->variables.nelts; i++) {
        if (v[i].valid && !v[i].no_cacheable && !v[i].not_found) {
            n++;
            size += v[i].len;
        }
    }

    if (n == 0) {
        return NGX_OK;
    }

    kv = ngx_palloc(ws->connection->pool, n * sizeof(ngx_ws_kept_var_t)
                                          + size);
    if (kv == NULL || ngx_ws_release_extra(ws) == NULL) {
        return NGX_ERROR;
    }

    p = (u_char *) (kv + n);

    ws->kept.extra->vars = kv;
    ws->kept.extra->nvars = n;

    for (i = 0; i < cmcf->variables.nelts; i++) {
        if (v[i].valid && !v[i].no_cacheable && !v[i].not_found) {
            kv->index = i;
            kv->value.len = v[i].len;
            kv->value.data = p;

            if (v[i].len) {                      /* data may be NULL */
                p = ngx_cpymem(p, v[i].data, v[i].len);
            }

            kv++;
        }
    }

    return NGX_OK;
}


/* $uri and $args when they are not what the request line says */

static ngx_int_t
ngx_ws_release_uri(ngx_ws_conn_t *ws, ngx_http_request_t *r)
{
    u_char               *start, *end;
    ngx_ws_kept_extra_t  *extra;

    start = r->request_start;
    end = start + r->request_length;

    if (!r->internal
        && r->uri.data >= start && r->uri.data + r->uri.len <= end
        && (r->args.len == 0
            || (r->args.data >= start && r->args.data + r->args.len <= end)))
    {
        return NGX_OK;
    }

    extra = ngx_ws_release_extra(ws);
    if (extra == NULL) {
        return NGX_ERROR;
    }

    extra->uri = r->uri;
    extra->args = r->args;
    extra->internal = r->internal;

    if (ngx_ws_release_copy(ws->connection->pool, &extra->uri) != NGX_OK
        || ngx_ws_release_copy(ws->connection->pool, &extra->args) != NGX_OK)
    {
        return NGX_ERROR;
    }

    return NGX_OK;
}


/*
 * Whether something runs when the request goes: a cleanup of another
 * module (limit_conn gives back its count, realip the client's address).
 * The entries of the upstreams of finished subrequests (ws_auth_request's)
 * have no handler any more.
 */

static ngx_uint_t
ngx_ws_release_cleanups(ngx_http_request_t *r)
{
    ngx_http_cleanup_t  *cln;
    ngx_pool_cleanup_t  *pcln;

    for (cln = r->cleanup; cln; cln = cln->next) {
        if (cln->handler) {
            return 1;
        }
    }

    for (pcln = r->pool->cleanup; pcln; pcln = pcln->next) {
        if (pcln->handler) {
            return 1;
        }
    }

    return 0;
}


/*
 * What ws_auth_request learned and the connection still reads: the
 * response headers kept ($ws_auth_*), copied with the ctx into c->pool
 */

static ngx_int_t
ngx_ws_release_auth(ngx_ws_conn_t *ws)
{
    ngx_uint_t          i;
    ngx_pool_t         *pool;
    ngx_table_elt_t    *h, *nh;
    ngx_ws_auth_ctx_t  *auth;

    if (ws->auth == NULL) {
        return NGX_OK;
    }

    pool = ws->connection->pool;

    auth = ngx_pcalloc(pool, sizeof(ngx_ws_auth_ctx_t));
    if (auth == NULL) {
        return NGX_ERROR;
    }

    auth->done = ws->auth->done;
    auth->status = ws->auth->status;

    if (ngx_array_init(&auth->headers, pool,
                       ngx_max(ws->auth->headers.nelts, 1),
                       sizeof(ngx_table_elt_t))
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    h = ws->auth->headers.elts;

    for (i = 0; i < ws->auth->headers.nelts; i++) {
        nh = ngx_array_push(&auth->headers);
        if (nh == NULL) {
            return NGX_ERROR;
        }

        *nh = h[i];
        nh->lowcase_key = NULL;

        if (ngx_ws_release_copy(pool, &nh->key) != NGX_OK
            || ngx_ws_release_copy(pool, &nh->value) != NGX_OK)
        {
            return NGX_ERROR;
        }
    }

    ws->auth = auth;

    return NGX_OK;
}


static ngx_ws_kept_extra_t *
ngx_ws_release_extra(ngx_ws_conn_t *ws)
{
    if (ws->kept.extra == NULL) {
        ws->kept.extra = ngx_pcalloc(ws->connection->pool,
                                     sizeof(ngx_ws_kept_extra_t));
    }

    return ws->kept.extra;
}


static ngx_int_t
ngx_ws_release_copy(ngx_pool_t *pool, ngx_str_t *s)
{
    u_char  *p;

    if (s->len == 0) {
        return NGX_OK;
    }

    p = ngx_pnalloc(pool, s->len);
    if (p == NULL) {
        return NGX_ERROR;
    }

    ngx_memcpy(p, s->data, s->len);
    s->data = p;

    return NGX_OK;
}




/*
 * The error log lines of a connection whose request was released: the
 * fields the request's own handler wrote (nginx's, or the security log's,
 * which masks secrets), from a request on the stack with just what they
 * read, then the connection's id
 */

static u_char *
ngx_ws_release_log_error(ngx_log_t *log, u_char *buf, size_t len)
{
    u_char              *p, *pos, *last, *eol;
    size_t               n;
    ngx_uint_t           i;
    ngx_ws_conn_t       *ws;
    ngx_table_elt_t      host, referer, *h;
    ngx_connection_t    *c;
    ngx_http_log_ctx_t  *ctx;
    ngx_http_request_t   r;

    p = ngx_ws_log_error_connection(log, buf, len);

    ctx = log->data;

    if (ctx->request) {
        /* the request made again for the access log */
        return p;
    }

    len -= p - buf;
    buf = p;
    c = ctx->connection;

    /* once the connection is freed, c->data is another's: not a WebSocket */

    ws = c->data;

    if (ws == NULL || ws->signature != NGX_WS_SIGNATURE) {
        return p;
    }

    ngx_memzero(&r, sizeof(ngx_http_request_t));
    ngx_memzero(&host, sizeof(ngx_table_elt_t));
    ngx_memzero(&referer, sizeof(ngx_table_elt_t));

    r.srv_conf = ws->kept.srv_conf;
    r.main = &r;

    pos = ws->kept.raw;
    last = pos + ws->kept.raw_len;

    for (i = 0; pos < last; i++) {
        eol = ngx_strlchr(pos, last, '\n');
        if (eol == NULL) {
            eol = last;
        }

        n = eol - pos;

        if (n && pos[n - 1] == '\r') {
            n--;
        }

        if (i == 0) {
            r.request_line.data = pos;
            r.request_line.len = n;

        } else {
            h = NULL;

            if (n > 5 && ngx_strncasecmp(pos, (u_char *) "host:", 5) == 0) {
                h = &host;
                r.headers_in.host = h;

            } else if (n > 8
                       && ngx_strncasecmp(pos, (u_char *) "referer:", 8) == 0)
            {
                h = &referer;
                r.headers_in.referer = h;
            }

            if (h) {
                h->value.data = ngx_strlchr(pos, pos + n, ':') + 1;

                while (h->value.data < pos + n && *h->value.data == ' ') {
                    h->value.data++;
                }

                h->value.len = pos + n - h->value.data;
            }
        }

        pos = eol + 1;
    }

    p = ws->kept.log_handler(&r, &r, buf, len);
    len -= p - buf;

    return ngx_snprintf(p, len, ", ws: %V", &ws->id);
}
