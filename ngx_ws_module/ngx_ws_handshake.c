
/*
 * Copyright (C) ngx_ws_module authors
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include <ngx_sha1.h>
#include "ngx_ws_module.h"


#if (NGX_WS_HAVE_GETRANDOM)
#include <sys/random.h>
#endif


#define NGX_WS_GUID  "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

/* a connection id: 128 random bits, in hex */
#define NGX_WS_ID_BYTES     16
#define NGX_WS_RANDOM_SIZE  (NGX_WS_ID_BYTES * 64)


static ngx_int_t ngx_ws_handshake(ngx_http_request_t *r);
static ngx_int_t ngx_ws_check_request(ngx_http_request_t *r, ngx_str_t *key);
static ngx_int_t ngx_ws_accept_key(ngx_http_request_t *r, ngx_str_t *key,
    ngx_str_t *accept);
static ngx_ws_conn_t *ngx_ws_handshake_conn(ngx_http_request_t *r,
    ngx_ws_loc_conf_t *wlcf, ngx_str_t *proto);
static ngx_int_t ngx_ws_handshake_send(ngx_http_request_t *r,
    ngx_ws_conn_t *ws, ngx_str_t *accept, ngx_str_t *proto, ngx_str_t *ext);
static ngx_int_t ngx_ws_reject(ngx_http_request_t *r, ngx_int_t status,
    char *name, char *value);
static ngx_uint_t ngx_ws_find_headers(ngx_http_request_t *r, ngx_str_t *name,
    ngx_table_elt_t **first);
static ngx_uint_t ngx_ws_has_token(ngx_http_request_t *r, ngx_str_t *name,
    ngx_str_t *token, ngx_uint_t caseless);
static void ngx_ws_trim(ngx_str_t *s);
static ngx_int_t ngx_ws_check_key(ngx_http_request_t *r, ngx_str_t *key);
static ngx_int_t ngx_ws_match_origin(ngx_ws_origin_t *o, ngx_str_t *scheme,
    ngx_str_t *host, ngx_str_t *port);
static ngx_str_t *ngx_ws_select_subprotocol(ngx_http_request_t *r,
    ngx_ws_loc_conf_t *wlcf);
static ngx_int_t ngx_ws_add_header(ngx_http_request_t *r, char *name,
    ngx_str_t *value);
static void ngx_ws_channels_cleanup(void *data);
static ngx_int_t ngx_ws_random_fill(ngx_log_t *log);


static ngx_str_t  ngx_ws_upgrade = ngx_string("Upgrade");
static ngx_str_t  ngx_ws_connection = ngx_string("Connection");
static ngx_str_t  ngx_ws_websocket = ngx_string("websocket");
static ngx_str_t  ngx_ws_upgrade_token = ngx_string("upgrade");
static ngx_str_t  ngx_ws_key = ngx_string("Sec-WebSocket-Key");
static ngx_str_t  ngx_ws_version = ngx_string("Sec-WebSocket-Version");
static ngx_str_t  ngx_ws_protocol = ngx_string("Sec-WebSocket-Protocol");
static ngx_str_t  ngx_ws_origin = ngx_string("Origin");


/*
 * Random bytes for connection ids, read from the kernel a buffer at a time
 * (no system call per connection) by each worker when it starts and when
 * the buffer is used up: workers forked from one master never share bytes.
 * /dev/urandom, opened when the worker starts, is for systems without
 * getrandom().  State of the process, not of a cycle: set at init_process,
 * wiped and closed at exit_process.
 */

static u_char      ngx_ws_random[NGX_WS_RANDOM_SIZE];
static size_t      ngx_ws_random_pos = NGX_WS_RANDOM_SIZE;
static ngx_fd_t    ngx_ws_urandom = NGX_INVALID_FILE;


ngx_int_t
ngx_ws_handshake_handler(ngx_http_request_t *r)
{
    ngx_int_t  rc;

    rc = ngx_ws_handshake(r);

    if (rc >= NGX_HTTP_SPECIAL_RESPONSE) {
        ngx_ws_stat_reject(rc);
    }

    return rc;
}


static ngx_int_t
ngx_ws_handshake(ngx_http_request_t *r)
{
    ngx_int_t            rc;
    ngx_str_t            key, accept, *proto, ext;
    ngx_ws_conn_t       *ws;
    ngx_ws_loc_conf_t   *wlcf;
    ngx_pool_cleanup_t  *cln;

    wlcf = ngx_http_get_module_loc_conf(r, ngx_ws_module);

    if (r != r->main) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "WebSocket location cannot serve a subrequest");
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    rc = ngx_ws_check_request(r, &key);

    if (rc != NGX_OK) {
        return rc;
    }

    if (wlcf->origins != NULL) {
        rc = ngx_ws_check_origin(r, wlcf);

        if (rc != NGX_OK) {
            return ngx_ws_reject(r, rc, NULL, NULL);
        }
    }

    proto = ngx_ws_select_subprotocol(r, wlcf);

    if (proto == NULL && wlcf->subprotocol_required) {
        ngx_ws_security_refused(r, NGX_HTTP_BAD_REQUEST,
                                "client sent no acceptable subprotocol");
        return ngx_ws_reject(r, NGX_HTTP_BAD_REQUEST, NULL, NULL);
    }

    if (ngx_ws_accept_key(r, &key, &accept) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ws = ngx_ws_handshake_conn(r, wlcf, proto);
    if (ws == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    /* before subscribing: the history replayed is compressed too */

    ext.len = 0;

    if (wlcf->deflate) {
        rc = ngx_ws_deflate_negotiate(r, ws, &ext);

        if (rc == NGX_ERROR) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }
    }

    if (wlcf->subscribe || wlcf->publish || wlcf->push) {

        /* subscribed before the client can see the 101 */

        cln = ngx_pool_cleanup_add(ws->pool, 0);
        if (cln == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        cln->handler = ngx_ws_channels_cleanup;
        cln->data = ws;

        rc = ngx_ws_channels_init(ws);

        if (rc != NGX_OK) {
            ngx_ws_channels_release(ws);
            ngx_ws_free_output(ws);
            r->keepalive = 0;

            /* NGX_DECLINED: an invalid channel name */

            if (rc == NGX_DECLINED) {
                ngx_ws_security_refused(r, NGX_HTTP_BAD_REQUEST,
                                        "invalid channel name");
                return NGX_HTTP_BAD_REQUEST;
            }

            ngx_ws_security_refused(r, NGX_HTTP_SERVICE_UNAVAILABLE,
                                    "channels could not be joined");
            return NGX_HTTP_SERVICE_UNAVAILABLE;
        }
    }

    return ngx_ws_handshake_send(r, ws, &accept, proto, &ext);
}


/*
 * RFC 6455 4.2.1: a GET over HTTP/1.1, asking for the upgrade, without a
 * body, with one valid key and version 13; *key is the client's key
 */

static ngx_int_t
ngx_ws_check_request(ngx_http_request_t *r, ngx_str_t *key)
{
    ngx_str_t         v;
    ngx_uint_t        n;
    ngx_table_elt_t  *h;

    if (r->method != NGX_HTTP_GET) {
        ngx_ws_security_refused(r, NGX_HTTP_NOT_ALLOWED,
                                "client sent WebSocket handshake with method "
                                "other than GET");
        return ngx_ws_reject(r, NGX_HTTP_NOT_ALLOWED, "Allow", "GET");
    }

    if (r->http_version < NGX_HTTP_VERSION_11) {
        ngx_ws_security_refused(r, 426, "client sent WebSocket handshake "
                                "over HTTP/1.0");
        return ngx_ws_reject(r, 426, "Upgrade", "websocket");
    }

    if (r->http_version >= NGX_HTTP_VERSION_20) {
        ngx_ws_security_refused(r, 426, "client sent WebSocket handshake "
                                "over HTTP/2 or later");

        /*
         * without "Upgrade": a connection-specific header makes an HTTP/2
         * or HTTP/3 response malformed (RFC 9113, 8.2.2), and the client
         * would see a stream error instead of the 426
         */

        return ngx_ws_reject(r, 426, NULL, NULL);
    }

    if (!ngx_ws_has_token(r, &ngx_ws_upgrade, &ngx_ws_websocket, 1)
        || !ngx_ws_has_token(r, &ngx_ws_connection, &ngx_ws_upgrade_token, 1))
    {
        ngx_ws_security_refused(r, 426, "client sent request without "
                                "WebSocket upgrade");
        return ngx_ws_reject(r, 426, "Upgrade", "websocket");
    }

    if (r->headers_in.content_length_n > 0 || r->headers_in.chunked) {
        ngx_ws_security_refused(r, NGX_HTTP_BAD_REQUEST,
                                "client sent WebSocket handshake with a body");
        return ngx_ws_reject(r, NGX_HTTP_BAD_REQUEST, NULL, NULL);
    }

    n = ngx_ws_find_headers(r, &ngx_ws_key, &h);

    if (n == 0) {
        ngx_ws_security_refused(r, NGX_HTTP_BAD_REQUEST,
                                "client sent no Sec-WebSocket-Key header");
        return ngx_ws_reject(r, NGX_HTTP_BAD_REQUEST, NULL, NULL);
    }

    if (n > 1) {
        ngx_ws_security_refused(r, NGX_HTTP_BAD_REQUEST, "client sent "
                                "duplicate Sec-WebSocket-Key header");
        return ngx_ws_reject(r, NGX_HTTP_BAD_REQUEST, NULL, NULL);
    }

    *key = h->value;
    ngx_ws_trim(key);

    if (ngx_ws_check_key(r, key) != NGX_OK) {
        ngx_ws_security_refused(r, NGX_HTTP_BAD_REQUEST,
                                "client sent invalid Sec-WebSocket-Key header");
        return ngx_ws_reject(r, NGX_HTTP_BAD_REQUEST, NULL, NULL);
    }

    n = ngx_ws_find_headers(r, &ngx_ws_version, &h);

    if (n == 0) {
        ngx_ws_security_refused(r, 426,
                                "client sent no Sec-WebSocket-Version header");
        return ngx_ws_reject(r, 426, "Sec-WebSocket-Version", "13");
    }

    if (n > 1) {
        ngx_ws_security_refused(r, 426, "client sent duplicate "
                                "Sec-WebSocket-Version header");
        return ngx_ws_reject(r, 426, "Sec-WebSocket-Version", "13");
    }

    v = h->value;
    ngx_ws_trim(&v);

    if (v.len != 2 || v.data[0] != '1' || v.data[1] != '3') {
        ngx_ws_security_refused(r, 426, "client sent unsupported "
                                "Sec-WebSocket-Version \"%V\"", &h->value);
        return ngx_ws_reject(r, 426, "Sec-WebSocket-Version", "13");
    }

    return NGX_OK;
}


/* Sec-WebSocket-Accept: base64(SHA-1(key + GUID)) */

static ngx_int_t
ngx_ws_accept_key(ngx_http_request_t *r, ngx_str_t *key, ngx_str_t *accept)
{
    u_char      *p;
    ngx_str_t    digest_str;
    ngx_sha1_t   sha1;
    u_char       digest[20];

    ngx_sha1_init(&sha1);
    ngx_sha1_update(&sha1, key->data, key->len);
    ngx_sha1_update(&sha1, NGX_WS_GUID, sizeof(NGX_WS_GUID) - 1);
    ngx_sha1_final(digest, &sha1);

    p = ngx_pnalloc(r->pool, ngx_base64_encoded_length(20));
    if (p == NULL) {
        return NGX_ERROR;
    }

    digest_str.data = digest;
    digest_str.len = 20;
    accept->data = p;
    ngx_encode_base64(accept, &digest_str);

    return NGX_OK;
}


/* the connection, the request's ctx from now on */

static ngx_ws_conn_t *
ngx_ws_handshake_conn(ngx_http_request_t *r, ngx_ws_loc_conf_t *wlcf,
    ngx_str_t *proto)
{
    size_t          room;
    ngx_pool_t     *pool;
    ngx_ws_conn_t  *ws;

    /*
     * a request to be released once upgraded: the WebSocket goes in the
     * connection's pool, with room behind it for the request as read,
     * which the access log parses again at the close
     */

    pool = r->pool;
    room = 0;

    if (wlcf->release_request && ngx_ws_request_releasable(r)) {
        pool = r->connection->pool;
        room = r->request_length;

        /* a refusal from now on closes: nothing is left in its pool */
        r->keepalive = 0;
    }

    ws = ngx_pcalloc(pool, sizeof(ngx_ws_conn_t) + room);
    if (ws == NULL) {
        return NULL;
    }

    ws->signature = NGX_WS_SIGNATURE;
    ws->request = r;
    ws->connection = r->connection;
    ws->conf = wlcf;
    ws->pool = pool;
    ws->kept.request_length = room;

    if (wlcf->auth_request.len) {
        /* set by the access phase handler of ws_auth_request */
        ws->auth = ngx_ws_ctx_auth(r);
    }

    /*
     * the id names the connection to the application and is its push
     * channel "@id": nobody may guess it
     */

    if (ngx_ws_random_id(pool, r->connection->log, &ws->id) != NGX_OK) {
        return NULL;
    }

    if (proto) {
        ws->subprotocol = *proto;
    }

    if (ngx_ws_ctx_set_conn(r, ws) != NGX_OK) {
        return NULL;
    }

    ws->out.head = NULL;
    ws->out.last = &ws->out.head;
    ngx_queue_init(&ws->subs);

    return ws;
}


/* the 101, flushed; then the engine takes over */

static ngx_int_t
ngx_ws_handshake_send(ngx_http_request_t *r, ngx_ws_conn_t *ws,
    ngx_str_t *accept, ngx_str_t *proto, ngx_str_t *ext)
{
    ngx_int_t  rc;

    r->headers_out.status = NGX_HTTP_SWITCHING_PROTOCOLS;
    ngx_str_set(&r->headers_out.status_line, "101 Switching Protocols");
    r->headers_out.content_length_n = -1;
    r->keepalive = 0;

    /*
     * error log lines of a 101 name the connection: see ngx_ws_log_error();
     * set with the status, after the refusals (an error_page's internal
     * redirect would clear the ctx that keeps nginx's handler)
     */

    if (ngx_ws_ctx_set_log_handler(r, ngx_ws_log_error) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (ngx_ws_add_header(r, "Upgrade", &ngx_ws_websocket) != NGX_OK
        || ngx_ws_add_header(r, "Sec-WebSocket-Accept", accept) != NGX_OK
        || (proto && ngx_ws_add_header(r, "Sec-WebSocket-Protocol", proto)
                     != NGX_OK)
        || (ext->len && ngx_ws_add_header(r, "Sec-WebSocket-Extensions", ext)
                       != NGX_OK))
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "ws handshake accept:\"%V\" subprotocol:\"%V\"",
                   accept, &ws->subprotocol);

    rc = ngx_http_send_header(r);

    if (rc == NGX_ERROR || rc > NGX_OK) {
        return rc;
    }

    if (ngx_http_send_special(r, NGX_HTTP_FLUSH) == NGX_ERROR) {
        return NGX_ERROR;
    }

    r->main->count++;

    ngx_ws_conn_init(ws);

    return NGX_DONE;
}


/*
 * Refusals close the connection afterwards: a client that wanted an upgrade
 * may have pipelined frames that must never be read as HTTP.
 */

static ngx_int_t
ngx_ws_reject(ngx_http_request_t *r, ngx_int_t status, char *name,
    char *value)
{
    ngx_int_t  rc;
    ngx_str_t  v;

    r->keepalive = 0;

    rc = ngx_http_discard_request_body(r);

    if (rc != NGX_OK) {
        return rc;
    }

    if (name) {
        v.data = (u_char *) value;
        v.len = ngx_strlen(value);

        if (ngx_ws_add_header(r, name, &v) != NGX_OK) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }
    }

    return status;
}


/*
 * Counts the request headers called name; *first is the first of them.
 * The handshake needs the count, not only the values: a Sec-WebSocket-Key
 * or -Version or an Origin sent twice is refused, so this wraps
 * ngx_ws_find_header() rather than repeating its loop.
 */

static ngx_uint_t
ngx_ws_find_headers(ngx_http_request_t *r, ngx_str_t *name,
    ngx_table_elt_t **first)
{
    ngx_uint_t        n;
    ngx_table_elt_t  *h;

    n = 0;

    *first = ngx_ws_find_header(&r->headers_in.headers, name, NULL);

    for (h = *first;
         h;
         h = ngx_ws_find_header(&r->headers_in.headers, name, h))
    {
        n++;
    }

    return n;
}


/* looks for a token in comma-separated lists over repeated headers */

static ngx_uint_t
ngx_ws_has_token(ngx_http_request_t *r, ngx_str_t *name, ngx_str_t *token,
    ngx_uint_t caseless)
{
    u_char           *p, *last, *start, *end;
    ngx_table_elt_t  *h;

    for (h = ngx_ws_find_header(&r->headers_in.headers, name, NULL);
         h;
         h = ngx_ws_find_header(&r->headers_in.headers, name, h))
    {
        p = h->value.data;
        last = p + h->value.len;

        while (p < last) {
            while (p < last && (*p == ' ' || *p == '\t' || *p == ',')) {
                p++;
            }

            start = p;

            while (p < last && *p != ',') {
                p++;
            }

            end = p;

            while (end > start && (end[-1] == ' ' || end[-1] == '\t')) {
                end--;
            }

            if ((size_t) (end - start) != token->len) {
                continue;
            }

            if (caseless) {
                if (ngx_strncasecmp(start, token->data, token->len) == 0) {
                    return 1;
                }

            } else if (ngx_strncmp(start, token->data, token->len) == 0) {
                return 1;
            }
        }
    }

    return 0;
}


static void
ngx_ws_trim(ngx_str_t *s)
{
    while (s->len && (s->data[0] == ' ' || s->data[0] == '\t')) {
        s->data++;
        s->len--;
    }

    while (s->len
           && (s->data[s->len - 1] == ' ' || s->data[s->len - 1] == '\t'))
    {
        s->len--;
    }
}


/* the key must be base64 of exactly 16 bytes: 22 characters and "==" */

static ngx_int_t
ngx_ws_check_key(ngx_http_request_t *r, ngx_str_t *key)
{
    ngx_str_t  decoded;
    u_char     buf[18];

    if (key->len != 24 || key->data[22] != '=' || key->data[23] != '=') {
        return NGX_DECLINED;
    }

    decoded.data = buf;

    if (ngx_decode_base64(&decoded, key) != NGX_OK || decoded.len != 16) {
        return NGX_DECLINED;
    }

    return NGX_OK;
}


ngx_int_t
ngx_ws_check_origin(ngx_http_request_t *r, ngx_ws_loc_conf_t *wlcf)
{
    u_char           *p, *last, *colon;
    ngx_str_t         value, scheme, host, port;
    ngx_uint_t        i, n;
    ngx_ws_origin_t  *o;
    ngx_table_elt_t  *h;

    n = ngx_ws_find_headers(r, &ngx_ws_origin, &h);

    if (n == 0) {
        if (wlcf->origin_none) {
            return NGX_OK;
        }

        ngx_ws_security_refused(r, NGX_HTTP_FORBIDDEN,
                                "client sent no Origin header");
        return NGX_HTTP_FORBIDDEN;
    }

    if (n > 1) {
        ngx_ws_security_refused(r, NGX_HTTP_FORBIDDEN,
                                "client sent duplicate Origin header");
        return NGX_HTTP_FORBIDDEN;
    }

    value = h->value;
    ngx_ws_trim(&value);

    /* scheme "://" host [ ":" port ], compared in lower case */

    p = ngx_pnalloc(r->pool, value.len);
    if (p == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_strlow(p, value.data, value.len);
    last = p + value.len;

    colon = ngx_strlcasestrn(p, last, (u_char *) "://", 3 - 1);
    if (colon == NULL || colon == p) {
        goto forbidden;
    }

    scheme.data = p;
    scheme.len = colon - p;
    p = colon + 3;

    ngx_str_null(&port);

    colon = ngx_strlchr(p, last, ':');

    if (colon != NULL) {
        port.data = colon + 1;
        port.len = last - colon - 1;
        last = colon;
    }

    host.data = p;
    host.len = last - p;

    if (host.len == 0 || ngx_strlchr(p, last, '/') != NULL) {
        goto forbidden;
    }

    /* the default port is the same origin as no port */

    if ((scheme.len == 5 && ngx_strncmp(scheme.data, "https", 5) == 0
         && port.len == 3 && ngx_strncmp(port.data, "443", 3) == 0)
        || (scheme.len == 4 && ngx_strncmp(scheme.data, "http", 4) == 0
            && port.len == 2 && ngx_strncmp(port.data, "80", 2) == 0))
    {
        ngx_str_null(&port);
    }

    o = wlcf->origins->elts;

    for (i = 0; i < wlcf->origins->nelts; i++) {
        if (ngx_ws_match_origin(&o[i], &scheme, &host, &port) == NGX_OK) {
            return NGX_OK;
        }
    }

forbidden:

    ngx_ws_security_refused(r, NGX_HTTP_FORBIDDEN,
                            "client sent disallowed Origin \"%V\"", &h->value);

    return NGX_HTTP_FORBIDDEN;
}


static ngx_int_t
ngx_ws_match_origin(ngx_ws_origin_t *o, ngx_str_t *scheme, ngx_str_t *host,
    ngx_str_t *port)
{
    ngx_str_t  *want;
    ngx_str_t   none = ngx_null_string;

    if (o->wildcard) {
        /* o->host is ".example.com": a proper suffix, at any depth */

        if (host->len <= o->host.len
            || ngx_strncmp(host->data + host->len - o->host.len,
                           o->host.data, o->host.len) != 0)
        {
            return NGX_DECLINED;
        }

    } else if (host->len != o->host.len
               || ngx_strncmp(host->data, o->host.data, host->len) != 0)
    {
        return NGX_DECLINED;
    }

    if (o->scheme.len == 0) {
        return NGX_OK;
    }

    if (scheme->len != o->scheme.len
        || ngx_strncmp(scheme->data, o->scheme.data, scheme->len) != 0)
    {
        return NGX_DECLINED;
    }

    want = &o->port;

    if ((o->scheme.len == 5 && ngx_strncmp(o->scheme.data, "https", 5) == 0
         && o->port.len == 3 && ngx_strncmp(o->port.data, "443", 3) == 0)
        || (o->scheme.len == 4 && ngx_strncmp(o->scheme.data, "http", 4) == 0
            && o->port.len == 2 && ngx_strncmp(o->port.data, "80", 2) == 0))
    {
        want = &none;
    }

    /* no port is a null string: strncmp() must not see its NULL */

    if (port->len != want->len
        || (port->len
            && ngx_strncmp(port->data, want->data, port->len) != 0))
    {
        return NGX_DECLINED;
    }

    return NGX_OK;
}


static ngx_str_t *
ngx_ws_select_subprotocol(ngx_http_request_t *r, ngx_ws_loc_conf_t *wlcf)
{
    ngx_str_t   *s;
    ngx_uint_t   i;

    if (wlcf->subprotocols == NULL) {
        return NULL;
    }

    s = wlcf->subprotocols->elts;

    for (i = 0; i < wlcf->subprotocols->nelts; i++) {
        if (ngx_ws_has_token(r, &ngx_ws_protocol, &s[i], 0)) {
            return &s[i];
        }
    }

    return NULL;
}


static ngx_int_t
ngx_ws_add_header(ngx_http_request_t *r, char *name, ngx_str_t *value)
{
    ngx_table_elt_t  *h;

    h = ngx_list_push(&r->headers_out.headers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    h->hash = 1;
    h->key.data = (u_char *) name;
    h->key.len = ngx_strlen(name);
    h->value = *value;

    return NGX_OK;
}


/*
 * The request ends before the engine took over (the 101 could not be
 * written: a client that reset the connection in mid-handshake): leave the
 * channels.  This runs in ngx_destroy_pool(): the access log line is
 * written already ($ws_channels reads the subscriptions themselves) and
 * the request has no pool any more (r->pool is NULL), so the list that
 * ngx_ws_channels_release() keeps for the log must not be made.
 */

static void
ngx_ws_channels_cleanup(void *data)
{
    ngx_ws_conn_t *ws = data;

    if (ws->stat.channels.data == NULL) {
        ngx_str_set(&ws->stat.channels, "");
    }

    ngx_ws_channels_release(ws);
    ngx_ws_free_output(ws);
}


ngx_int_t
ngx_ws_random_init_process(ngx_cycle_t *cycle)
{
    ngx_ws_random_pos = NGX_WS_RANDOM_SIZE;

#if (NGX_WS_HAVE_GETRANDOM)

    if (getrandom(ngx_ws_random, NGX_WS_ID_BYTES, 0) != -1) {
        return ngx_ws_random_fill(cycle->log);
    }

    if (ngx_errno != NGX_ENOSYS) {
        ngx_log_error(NGX_LOG_ALERT, cycle->log, ngx_errno,
                      "getrandom() failed");
        return NGX_ERROR;
    }

#endif

    ngx_ws_urandom = ngx_open_file("/dev/urandom", NGX_FILE_RDONLY,
                                   NGX_FILE_OPEN, 0);

    if (ngx_ws_urandom == NGX_INVALID_FILE) {
        ngx_log_error(NGX_LOG_ALERT, cycle->log, ngx_errno,
                      ngx_open_file_n " \"/dev/urandom\" failed");
        return NGX_ERROR;
    }

    (void) fcntl(ngx_ws_urandom, F_SETFD, FD_CLOEXEC);

    return ngx_ws_random_fill(cycle->log);
}


void
ngx_ws_random_exit_process(ngx_cycle_t *cycle)
{
    ngx_explicit_memzero(ngx_ws_random, NGX_WS_RANDOM_SIZE);
    ngx_ws_random_pos = NGX_WS_RANDOM_SIZE;

    if (ngx_ws_urandom != NGX_INVALID_FILE) {
        (void) ngx_close_file(ngx_ws_urandom);
        ngx_ws_urandom = NGX_INVALID_FILE;
    }
}


static ngx_int_t
ngx_ws_random_fill(ngx_log_t *log)
{
    size_t   got;
    ssize_t  n;

    for (got = 0; got < NGX_WS_RANDOM_SIZE; got += n) {

        if (ngx_ws_urandom != NGX_INVALID_FILE) {
            n = read(ngx_ws_urandom, ngx_ws_random + got,
                     NGX_WS_RANDOM_SIZE - got);

        } else {
#if (NGX_WS_HAVE_GETRANDOM)
            n = getrandom(ngx_ws_random + got, NGX_WS_RANDOM_SIZE - got, 0);
#else
            n = -1;
            ngx_set_errno(NGX_ENOSYS);
#endif
        }

        if (n == -1 && ngx_errno == NGX_EINTR) {
            n = 0;
            continue;
        }

        if (n <= 0) {
            ngx_log_error(NGX_LOG_ALERT, log, (n == 0) ? 0 : ngx_errno,
                          "ws could not read random bytes for an id");
            return NGX_ERROR;
        }
    }

    ngx_ws_random_pos = 0;

    return NGX_OK;
}


/* 128 bits from the kernel's generator, in 32 hex digits */

ngx_int_t
ngx_ws_random_id(ngx_pool_t *pool, ngx_log_t *log, ngx_str_t *id)
{
    u_char  *p;

    if (ngx_ws_random_pos + NGX_WS_ID_BYTES > NGX_WS_RANDOM_SIZE
        && ngx_ws_random_fill(log) != NGX_OK)
    {
        return NGX_ERROR;
    }

    p = ngx_pnalloc(pool, NGX_WS_ID_BYTES * 2);
    if (p == NULL) {
        return NGX_ERROR;
    }

    id->data = p;
    id->len = ngx_hex_dump(p, ngx_ws_random + ngx_ws_random_pos,
                           NGX_WS_ID_BYTES)
              - p;

    /* a byte is used once, and does not stay in memory */
    ngx_memzero(ngx_ws_random + ngx_ws_random_pos, NGX_WS_ID_BYTES);
    ngx_ws_random_pos += NGX_WS_ID_BYTES;

    return NGX_OK;
}
