
/*
 * Copyright (C) ngx_ws_module authors
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include "ngx_ws_module.h"
#include "ngx_ws_json.h"


/*
 * The routes: what a connection becomes besides its frames.  This is the
 * one file that knows echo, upstream events and channels; the engine
 * (ngx_ws_conn.c) calls it only through ngx_ws_routes, which
 * ngx_ws_route_init() fills in from the module's postconfiguration.  A new
 * route is one more case here (or a file called from here); it takes the
 * message, or a copy of it, and reports failure by the close code to end
 * the connection with.  The channels of ws_subscribe and ws_publish are
 * joined earlier, by the handshake, so that a bad name gets 400.
 *
 * A message is ws->msg.opcode, ws->msg.start and ws->msg.len, in pool
 * (NULL for an empty message): the pool is the route's, to hand to a route
 * that keeps the message (ws_pass without ws_echo, ws_echo) or to destroy.
 */


static ngx_int_t ngx_ws_route_open(ngx_ws_conn_t *ws);
static ngx_int_t ngx_ws_route_message(ngx_ws_conn_t *ws, ngx_pool_t *pool);
static ngx_int_t ngx_ws_route_publish(ngx_ws_conn_t *ws);
static char *ngx_ws_route_policy_conf(ngx_conf_t *cf, ngx_ws_route_t *rt,
    ngx_uint_t from);
static void ngx_ws_route_close(ngx_ws_conn_t *ws);
static ngx_ws_route_t *ngx_ws_route_find(ngx_ws_loc_conf_t *wlcf,
    ngx_str_t *type);
static ngx_uint_t ngx_ws_route_safe(ngx_str_t *s);
static ngx_uint_t ngx_ws_route_path(ngx_str_t *uri);
static ngx_int_t ngx_ws_route_go(ngx_ws_conn_t *ws, ngx_ws_route_t *rt,
    ngx_uint_t err, ngx_pool_t *pool, ngx_uint_t corr_string);
static ngx_int_t ngx_ws_route_limit(ngx_ws_conn_t *ws);
static ngx_int_t ngx_ws_route_run(ngx_ws_conn_t *ws, ngx_ws_route_t *rt,
    ngx_pool_t *pool, ngx_uint_t corr_string);
static ngx_int_t ngx_ws_route_publish_to(ngx_ws_conn_t *ws,
    ngx_ws_route_t *rt, ngx_pool_t *pool, ngx_str_t *channel,
    ngx_uint_t corr_string);
static ngx_int_t ngx_ws_route_reply(ngx_ws_conn_t *ws, ngx_pool_t *pool,
    ngx_str_t *value);
static ngx_int_t ngx_ws_route_auth(ngx_ws_conn_t *ws, ngx_pool_t *pool,
    ngx_str_t *type, ngx_str_t *route, ngx_str_t *channel,
    ngx_uint_t corr_string);
static ngx_int_t ngx_ws_route_value(ngx_ws_conn_t *ws, ngx_pool_t *pool,
    ngx_http_complex_value_t *cv, ngx_str_t *value);
static ngx_int_t ngx_ws_route_error(ngx_ws_conn_t *ws, ngx_uint_t err,
    ngx_pool_t *pool, ngx_uint_t corr_string);
static ngx_int_t ngx_ws_route_error_reply(ngx_ws_conn_t *ws, ngx_str_t *name,
    ngx_pool_t *pool, ngx_uint_t corr_string);
static u_char *ngx_ws_route_json_str(u_char *p, ngx_str_t *s);


#define NGX_WS_ROUTE_FIELD_MAX     256


/* the errors' names (in the error message, the status page) and codes */

ngx_str_t  ngx_ws_route_errors[NGX_WS_STAT_ROUTE_ERRORS] = {
    ngx_string("invalid_json"),
    ngx_string("too_deep"),
    ngx_string("no_field"),
    ngx_string("not_a_string"),
    ngx_string("bad_field"),
    ngx_string("unknown_type"),
    ngx_string("binary_unsupported"),
    ngx_string("bad_target")
};


static ngx_uint_t  ngx_ws_route_error_codes[NGX_WS_STAT_ROUTE_ERRORS] = {
    NGX_WS_CLOSE_BAD_DATA,          /* 1007: not JSON */
    NGX_WS_CLOSE_TOO_BIG,           /* 1009: deeper than we read */
    NGX_WS_CLOSE_POLICY,            /* 1008: no field */
    NGX_WS_CLOSE_POLICY,            /* 1008: not a string */
    NGX_WS_CLOSE_POLICY,            /* 1008: control characters, length */
    1003,                           /* unsupported data: unknown type */
    1003,                           /* unsupported data: binary */
    NGX_WS_CLOSE_POLICY             /* 1008: a bad URI or channel name */
};


ngx_int_t
ngx_ws_route_init(ngx_conf_t *cf)
{
    ngx_ws_routes.open = ngx_ws_route_open;
    ngx_ws_routes.message = ngx_ws_route_message;

    /*
     * leaving is leaving the channels; the upstream session lasts until
     * the close, which gives its disconnect event the close code
     */
    ngx_ws_routes.leave = ngx_ws_channels_release;

    /* a draining worker's close reason: where the channels resume from */
    ngx_ws_routes.drain = ngx_ws_channels_resume_hint;

    ngx_ws_routes.close = ngx_ws_route_close;

    /* a message held for ws_message_auth_request comes back here */
    ngx_ws_msgauth_replay = ngx_ws_route_message;

    return NGX_OK;
}


/*
 * ws_publish, with the class of ws_publish_class and the key of
 * ws_publish_conflate, evaluated in a pool of the message's own
 */

static ngx_int_t
ngx_ws_route_publish(ngx_ws_conn_t *ws)
{
    ngx_int_t         rc;
    ngx_pool_t       *pool;
    ngx_ws_policy_t   pol;

    pol.cls = ws->conf->publish_class;
    ngx_str_null(&pol.key);
    pool = NULL;

    if (ws->conf->publish_conflate
        && ws->conf->publish_conflate->lengths == NULL)
    {
        pol.key = ws->conf->publish_conflate->value;

    } else if (ws->conf->publish_conflate) {
        pool = ngx_ws_pool_get(ws->connection->log);
        if (pool == NULL) {
            return NGX_ERROR;
        }

        if (ngx_ws_route_value(ws, pool, ws->conf->publish_conflate,
                               &pol.key)
            != NGX_OK)
        {
            ngx_ws_pool_free(pool);
            return NGX_ERROR;
        }
    }

    rc = ngx_ws_channel_publish_message(ws, &pol, ws->msg.opcode,
                                        ws->msg.start, ws->msg.len);

    if (pool) {
        ngx_ws_pool_free(pool);
    }

    return rc;
}


/* the upgrade: ws_pass, ws_on_connect and ws_on_disconnect need a session */

static ngx_int_t
ngx_ws_route_open(ngx_ws_conn_t *ws)
{
    if (ws->conf->pass.len || ws->conf->on_connect.len
        || ws->conf->on_disconnect.len || ws->conf->route_pass)
    {
        return ngx_ws_session_create(ws);
    }

    return NGX_OK;
}


/*
 * A complete data message from the client, once the read loop has counted
 * it and it is within ws_limit_messages.  The message is ws->msg.opcode,
 * ws->msg.start and ws->msg.len, in pool (NULL for an empty message): the
 * pool is this function's, to hand to a route that keeps the message
 * (ws_pass without ws_echo, ws_echo) or to destroy.  Returns NGX_OK or the
 * close code.
 */

static ngx_int_t
ngx_ws_route_message(ngx_ws_conn_t *ws, ngx_pool_t *pool)
{
    ngx_int_t  rc;

    static ngx_str_t  none = ngx_null_string;

    /*
     * ws_route: by the message's type, and nothing else; an external
     * function, so that the compiler does not inline it here and give
     * every message of the other routes its stack frame
     */

    if (ws->conf->routes) {
        return ngx_ws_route_typed(ws, pool);
    }

    /* ws_limit_message: charged before the message goes anywhere */

    if (ws->conf->limit_zones && !ws->route_replay) {
        rc = ngx_ws_route_limit(ws);

        if (rc != NGX_OK) {
            if (pool) {
                ngx_ws_pool_free(pool);
            }

            return rc;
        }
    }

    /* ws_message_auth_request: no type, the channel of ws_publish */

    if (ws->conf->msgauth.len) {
        rc = ngx_ws_route_auth(ws, pool, &none, &none, &ws->publish, 0);

        if (rc != NGX_OK) {
            return (rc == NGX_DONE) ? NGX_OK : rc;
        }
    }

    /* ws_publish: into the channel, for its subscribers */

    if (ws->publish.len) {
        rc = ngx_ws_route_publish(ws);

        if (rc != NGX_OK) {
            if (pool) {
                ngx_ws_pool_free(pool);
            }

            /* 1009: larger than the zone takes; 1013: try again later */
            return (rc == NGX_DECLINED) ? NGX_WS_CLOSE_TOO_BIG : 1013;
        }
    }

    /* ws_pass: an upstream event; with ws_echo too, a copy */

    if (ws->session && ws->conf->pass.len) {

        if (!ws->conf->echo) {
            if (ngx_ws_session_message(ws, ws->msg.opcode, pool, ws->msg.start,
                                       ws->msg.len)
                != NGX_OK)
            {
                return NGX_WS_CLOSE_INTERNAL;
            }

            return NGX_OK;
        }

        if (ngx_ws_session_message(ws, ws->msg.opcode, NULL, ws->msg.start,
                                   ws->msg.len)
            != NGX_OK)
        {
            if (pool) {
                ngx_ws_pool_free(pool);
            }

            return NGX_WS_CLOSE_INTERNAL;
        }
    }

    /* ws_echo: back to the client */

    if (ws->conf->echo) {
        if (ngx_ws_send_parsed(ws, ws->msg.opcode, pool, ws->msg.start,
                               ws->msg.len)
            == NGX_ERROR)
        {
            return NGX_WS_CLOSE_INTERNAL;
        }

        return NGX_OK;
    }

    if (pool) {
        ngx_ws_pool_free(pool);
    }

    return NGX_OK;
}


/* the connection is freed: its upstream session and its channels end */

static void
ngx_ws_route_close(ngx_ws_conn_t *ws)
{
    if (ws->msgauth) {
        ngx_ws_msgauth_detach(ws);
    }

    if (ws->session) {
        ngx_ws_session_detach(ws);
    }

    ngx_ws_channels_release(ws);
}


/*
 * ws_route: the route of a message by the value of a top-level string
 * field of a JSON text message (ws_route_field), binary messages by the
 * "binary" route; "default" takes a type without a route of its own, a
 * message without the field, or with a field that is not a string.  The
 * value and the correlation field are the $ws_message_type and
 * $ws_message_correlation variables while the route runs.
 */

ngx_int_t
ngx_ws_route_typed(ngx_ws_conn_t *ws, ngx_pool_t *pool)
{
    ngx_int_t             rc;
    ngx_uint_t            n, err, corr_string;
    ngx_ws_route_t       *rt;
    ngx_ws_loc_conf_t    *wlcf;
    ngx_ws_json_field_t   f[2];

    wlcf = ws->conf;
    corr_string = 0;

    if (ws->msg.opcode == NGX_WS_OP_BINARY) {
        return ngx_ws_route_go(ws, wlcf->route_binary,
                               NGX_WS_ROUTE_ERR_BINARY, pool, 0);
    }

    if (ws->msg.len == 0) {
        /* an empty text message is not JSON */
        return ngx_ws_route_go(ws, NULL, NGX_WS_ROUTE_ERR_INVALID, pool, 0);
    }

    f[0].name = wlcf->route_field;
    f[1].name = wlcf->route_correlation;
    n = wlcf->route_correlation.len ? 2 : 1;

    rc = ngx_ws_json_fields(ws->msg.start, ws->msg.len, f, n, pool);

    if (rc == NGX_ERROR) {
        ngx_destroy_pool(pool);
        return NGX_WS_CLOSE_INTERNAL;
    }

    if (rc != NGX_OK) {
        err = (rc == NGX_WS_JSON_DEEP) ? NGX_WS_ROUTE_ERR_DEEP
                                       : NGX_WS_ROUTE_ERR_INVALID;
        return ngx_ws_route_go(ws, NULL, err, pool, 0);
    }

    /* a correlation id: a string or a number, or anything, as it is */

    if (n == 2 && f[1].found != NGX_WS_JSON_ABSENT) {
        if (!ngx_ws_route_safe(&f[1].value)) {
            return ngx_ws_route_go(ws, NULL, NGX_WS_ROUTE_ERR_BAD, pool, 0);
        }

        ws->route.correlation = f[1].value;
        corr_string = (f[1].found == NGX_WS_JSON_STRING);
    }

    switch (f[0].found) {

    case NGX_WS_JSON_STRING:
        if (!ngx_ws_route_safe(&f[0].value)) {
            err = NGX_WS_ROUTE_ERR_BAD;
            rt = NULL;
            break;
        }

        ws->route.type = f[0].value;

        err = NGX_WS_ROUTE_ERR_UNKNOWN;
        rt = ngx_ws_route_find(wlcf, &f[0].value);

        if (rt == NULL) {
            rt = wlcf->route_default;
        }

        break;

    case NGX_WS_JSON_OTHER:
        err = NGX_WS_ROUTE_ERR_NOT_STR;
        rt = wlcf->route_default;
        break;

    default: /* NGX_WS_JSON_ABSENT */
        err = NGX_WS_ROUTE_ERR_NO_FIELD;
        rt = wlcf->route_default;
    }

    rc = ngx_ws_route_go(ws, rt, err, pool, corr_string);

    ngx_str_null(&ws->route.type);
    ngx_str_null(&ws->route.correlation);

    return rc;
}


/*
 * A message whose type is known: charged to ws_limit_message (the keys may
 * use $ws_message_type), then its route, or the error when it has none.
 */

static ngx_int_t
ngx_ws_route_go(ngx_ws_conn_t *ws, ngx_ws_route_t *rt, ngx_uint_t err,
    ngx_pool_t *pool, ngx_uint_t corr_string)
{
    ngx_int_t  rc;

    if (ws->conf->limit_zones && !ws->route_replay) {
        rc = ngx_ws_route_limit(ws);

        if (rc != NGX_OK) {
            if (pool) {
                ngx_destroy_pool(pool);
            }

            return rc;
        }
    }

    if (rt == NULL) {
        return ngx_ws_route_error(ws, err, pool, corr_string);
    }

    return ngx_ws_route_run(ws, rt, pool, corr_string);
}


/*
 * ws_limit_message: each zone's key evaluated for this message in a pool
 * that is freed at once (a bucket keeps its own copy of the key), so that
 * neither the connection's pool nor a message kept by a route grows.
 * Returns NGX_OK, reading perhaps paused, or the close code.
 */

static ngx_int_t
ngx_ws_route_limit(ngx_ws_conn_t *ws)
{
    ngx_int_t             rc;
    ngx_str_t            *keys;
    ngx_uint_t            i, n;
    ngx_pool_t           *pool;
    ngx_ws_limit_zone_t  *lz;

    lz = ws->conf->limit_zones->elts;
    n = ws->conf->limit_zones->nelts;

    pool = ngx_ws_pool_get(ws->connection->log);
    if (pool == NULL) {
        return NGX_WS_CLOSE_INTERNAL;
    }

    keys = ngx_palloc(pool, n * sizeof(ngx_str_t));
    if (keys == NULL) {
        ngx_ws_pool_free(pool);
        return NGX_WS_CLOSE_INTERNAL;
    }

    for (i = 0; i < n; i++) {
        if (ngx_ws_route_value(ws, pool, ngx_ws_limit_zone_key(&lz[i]),
                               &keys[i])
            != NGX_OK)
        {
            ngx_ws_pool_free(pool);
            return NGX_WS_CLOSE_INTERNAL;
        }
    }

    rc = ngx_ws_limit_message(ws, keys);

    ngx_ws_pool_free(pool);

    return rc;
}


static ngx_ws_route_t *
ngx_ws_route_find(ngx_ws_loc_conf_t *wlcf, ngx_str_t *type)
{
    ngx_uint_t       i;
    ngx_ws_route_t  *rt;

    rt = wlcf->routes->elts;

    for (i = 0; i < wlcf->routes->nelts; i++) {
        if (rt[i].value.len == type->len
            && &rt[i] != wlcf->route_default
            && &rt[i] != wlcf->route_binary
            && ngx_memcmp(rt[i].value.data, type->data, type->len) == 0)
        {
            return &rt[i];
        }
    }

    return NULL;
}


/* a value for a header and a log line: no control characters, bounded */

static ngx_uint_t
ngx_ws_route_safe(ngx_str_t *s)
{
    size_t  i;

    if (s->len > NGX_WS_ROUTE_FIELD_MAX) {
        return 0;
    }

    for (i = 0; i < s->len; i++) {
        if (s->data[i] < 0x20 || s->data[i] == 0x7f) {
            return 0;
        }
    }

    return 1;
}


/*
 * A pass route's URI made from variables: no "." or ".." segment in its
 * path, written or percent-encoded, which the message could have put
 * there ("pass /app/$ws_message_type" with a type "../admin") and an
 * upstream would resolve out of the path the configuration meant.
 */

static ngx_uint_t
ngx_ws_route_path(ngx_str_t *uri)
{
    u_char  *p, *end, *seg;
    size_t   dots;

    end = ngx_strlchr(uri->data, uri->data + uri->len, '?');
    if (end == NULL) {
        end = uri->data + uri->len;
    }

    for (p = uri->data; p < end; /* void */) {

        /* a segment: after a "/", up to the next one */

        seg = ++p;
        dots = 0;

        while (p < end && *p != '/') {
            if (*p == '.') {
                dots++;
                p++;

            } else if (end - p >= 3 && p[0] == '%' && p[1] == '2'
                       && (p[2] == 'e' || p[2] == 'E'))
            {
                dots++;
                p += 3;

            } else {
                dots = 3;
                p++;
            }
        }

        if (p > seg && dots <= 2) {
            return 0;
        }
    }

    return 1;
}


/* the message goes its route; the pool is the route's (NULL if empty) */

static ngx_int_t
ngx_ws_route_run(ngx_ws_conn_t *ws, ngx_ws_route_t *rt, ngx_pool_t *pool,
    ngx_uint_t corr_string)
{
    u_char           *q;
    ngx_int_t         rc;
    ngx_str_t         value, channel;
    ngx_ws_routed_t  *routed;

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, ws->connection->log, 0,
                   "ws route \"%V\" type:\"%V\"", &rt->value,
                   &ws->route.type);

    /* ws_message_auth_request: by the type and the channel published to */

    if (ws->conf->msgauth.len) {
        ngx_str_null(&channel);

        if (rt->action == NGX_WS_ROUTE_PUBLISH) {
            if (pool == NULL) {
                pool = ngx_create_pool(ngx_ws_pool_size(0),
                                       ws->connection->log);
                if (pool == NULL) {
                    return NGX_WS_CLOSE_INTERNAL;
                }
            }

            if (ngx_ws_route_value(ws, pool, &rt->arg, &channel) != NGX_OK) {
                ngx_destroy_pool(pool);
                return NGX_WS_CLOSE_INTERNAL;
            }
        }

        rc = ngx_ws_route_auth(ws, pool, &ws->route.type, &rt->value,
                               &channel, corr_string);

        if (rc != NGX_OK) {
            return (rc == NGX_DONE) ? NGX_OK : rc;
        }
    }

    if (rt->action == NGX_WS_ROUTE_ECHO) {
        ngx_ws_stat_route(&rt->value, 0);

        if (ngx_ws_send_room(ws, ws->msg.opcode, pool, ws->msg.start,
                             ws->msg.len)
            == NGX_ERROR)
        {
            return NGX_WS_CLOSE_INTERNAL;
        }

        return NGX_OK;
    }

    /* the other routes evaluate their argument into the message's pool */

    if (pool == NULL) {
        pool = ngx_create_pool(ngx_ws_pool_size(0), ws->connection->log);
        if (pool == NULL) {
            return NGX_WS_CLOSE_INTERNAL;
        }
    }

    if (ngx_ws_route_value(ws, pool, &rt->arg, &value) != NGX_OK) {
        ngx_destroy_pool(pool);
        return NGX_WS_CLOSE_INTERNAL;
    }

    switch (rt->action) {

    case NGX_WS_ROUTE_REPLY:
        ngx_ws_stat_route(&rt->value, 0);

        return ngx_ws_route_reply(ws, pool, &value);

    case NGX_WS_ROUTE_PUBLISH:
        return ngx_ws_route_publish_to(ws, rt, pool, &value, corr_string);

    default: /* NGX_WS_ROUTE_PASS */
        break;
    }

    /*
     * an internal location: a path, no control characters, nor "." or
     * ".." segments that a variable put there
     */

    if (value.len == 0 || value.data[0] != '/'
        || !ngx_ws_route_safe(&value)
        || (rt->arg.lengths && !ngx_ws_route_path(&value)))
    {
        ngx_log_error(NGX_LOG_INFO, ws->connection->log, 0,
                      "ws route \"%V\": invalid URI", &rt->value);
        return ngx_ws_route_error(ws, NGX_WS_ROUTE_ERR_TARGET, pool,
                                  corr_string);
    }

    routed = ngx_pcalloc(pool, sizeof(ngx_ws_routed_t));
    if (routed == NULL) {
        ngx_destroy_pool(pool);
        return NGX_WS_CLOSE_INTERNAL;
    }

    routed->uri = value;

    q = ngx_strlchr(value.data, value.data + value.len, '?');

    if (q) {
        routed->uri.len = q - value.data;
        routed->args.data = q + 1;
        routed->args.len = value.data + value.len - (q + 1);
    }

    routed->route = rt->value;
    routed->type = ws->route.type;
    routed->correlation = ws->route.correlation;

    ngx_ws_stat_route(&rt->value, 0);

    if (ngx_ws_session_routed(ws, ws->msg.opcode, pool, ws->msg.start,
                              ws->msg.len, routed)
        != NGX_OK)
    {
        return NGX_WS_CLOSE_INTERNAL;
    }

    return NGX_OK;
}


/*
 * A publish route: the message goes into the channel named by value, with
 * the route's class and conflation key; the pool is destroyed.
 */

static ngx_int_t
ngx_ws_route_publish_to(ngx_ws_conn_t *ws, ngx_ws_route_t *rt,
    ngx_pool_t *pool, ngx_str_t *channel, ngx_uint_t corr_string)
{
    ngx_int_t         rc;
    ngx_ws_policy_t   pol;

    pol.cls = rt->cls;
    ngx_str_null(&pol.key);

    if (rt->conflate
        && ngx_ws_route_value(ws, pool, rt->conflate, &pol.key) != NGX_OK)
    {
        ngx_destroy_pool(pool);
        return NGX_WS_CLOSE_INTERNAL;
    }

    rc = ngx_ws_channel_publish_pol(ws, rt->zone, channel, &pol,
                                    ws->msg.opcode, ws->msg.start,
                                    ws->msg.len);

    if (rc == NGX_ABORT) {
        return ngx_ws_route_error(ws, NGX_WS_ROUTE_ERR_TARGET, pool,
                                  corr_string);
    }

    ngx_destroy_pool(pool);

    if (rc != NGX_OK) {
        /* 1009: larger than the zone takes; 1013: try again later */
        return (rc == NGX_DECLINED) ? NGX_WS_CLOSE_TOO_BIG : 1013;
    }

    ngx_ws_stat_route(&rt->value, 0);

    return NGX_OK;
}


/*
 * A reply route's text, sent in the message's pool when the message is in
 * the pool's blocks.  A larger message is an allocation of its own, which
 * the output does not count against ws_send_buffer (it counts the pool's
 * blocks and the reply): kept until the reply is sent, a client that does
 * not read could pin a whole message per small reply.  Then the reply is
 * copied into a pool of its own and the message goes at once.
 */

static ngx_int_t
ngx_ws_route_reply(ngx_ws_conn_t *ws, ngx_pool_t *pool, ngx_str_t *value)
{
    u_char      *p;
    ngx_pool_t  *reply;

    if (pool->large != NULL) {
        reply = ngx_ws_pool_for(value->len, ws->connection->log);
        if (reply == NULL) {
            ngx_destroy_pool(pool);
            return NGX_WS_CLOSE_INTERNAL;
        }

        p = ngx_pnalloc(reply, value->len);
        if (p == NULL) {
            ngx_destroy_pool(reply);
            ngx_destroy_pool(pool);
            return NGX_WS_CLOSE_INTERNAL;
        }

        ngx_memcpy(p, value->data, value->len);
        value->data = p;

        ngx_destroy_pool(pool);
        pool = reply;
    }

    if (ngx_ws_send_message(ws, NGX_WS_OP_TEXT, pool, value->data,
                            value->len)
        == NGX_ERROR)
    {
        return NGX_WS_CLOSE_INTERNAL;
    }

    return NGX_OK;
}


/*
 * ws_message_auth_request: NGX_OK when the message may go on, NGX_DONE
 * when it is taken (held for the answer, or refused with an error
 * message), or the close code.  The error message names the answer:
 *
 *     {"type":"error","error":"forbidden","id":"42"}
 */

static ngx_int_t
ngx_ws_route_auth(ngx_ws_conn_t *ws, ngx_pool_t *pool, ngx_str_t *type,
    ngx_str_t *route, ngx_str_t *channel, ngx_uint_t corr_string)
{
    ngx_int_t    rc;
    ngx_str_t   *name;
    ngx_uint_t   status, cached;

    static ngx_str_t  names[] = {
        ngx_string("unauthorized"),
        ngx_string("forbidden"),
        ngx_string("auth_failed")
    };

    status = 0;

    rc = ngx_ws_msgauth_check(ws, pool, type, route, channel, &status,
                              &cached);

    switch (rc) {

    case NGX_OK:
        return NGX_OK;

    case NGX_AGAIN:
        return NGX_DONE;

    case NGX_DECLINED:
        break;

    default:
        if (pool) {
            ngx_destroy_pool(pool);
        }

        return NGX_WS_CLOSE_INTERNAL;
    }

    ngx_ws_stats->msgauth_denied++;

    /*
     * the type and the route are safe to log; the channel and the payload
     * not.  An answer at warn, its repeats from the cache at info: a
     * client cannot fill the log by sending what it was refused.
     */

    ngx_ws_security_denied(ws, cached ? NGX_LOG_INFO : NGX_LOG_WARN, status,
                           "message refused by ws_message_auth_request, "
                           "route \"%V\", type \"%V\"", route, type);

    if (ws->conf->msgauth_error) {
        if (pool) {
            ngx_destroy_pool(pool);
        }

        return ws->conf->msgauth_error_code;
    }

    name = (status == NGX_HTTP_UNAUTHORIZED) ? &names[0]
           : (status == NGX_HTTP_FORBIDDEN) ? &names[1] : &names[2];

    rc = ngx_ws_route_error_reply(ws, name, pool, corr_string);

    return (rc == NGX_OK) ? NGX_DONE : rc;
}


/*
 * A complex value evaluated per message into the message's pool, not the
 * connection's, which would grow with every message: the request's pool
 * is lent for the evaluation, and the variables' cache and the regex
 * captures are put back as they were, so that nothing the request keeps
 * points into a pool that goes away (a map or "if" with captures
 * allocates r->captures in the pool of the time, and every later match
 * writes there).
 */

static ngx_int_t
ngx_ws_route_value(ngx_ws_conn_t *ws, ngx_pool_t *pool,
    ngx_http_complex_value_t *cv, ngx_str_t *value)
{
    int                        *captures;
    size_t                      size;
    u_char                     *captures_data;
    unsigned                    realloc_captures;
    ngx_int_t                   rc;
    ngx_uint_t                  ncaptures;
    ngx_pool_t                 *saved;
    ngx_http_request_t         *r;
    ngx_http_variable_value_t  *vars;
    ngx_http_core_main_conf_t  *cmcf;

    if (cv->lengths == NULL) {
        *value = cv->value;
        return NGX_OK;
    }

    r = ws->request;
    cmcf = ngx_http_get_module_main_conf(r, ngx_http_core_module);
    size = cmcf->variables.nelts * sizeof(ngx_http_variable_value_t);

    vars = ngx_pnalloc(pool, size);
    if (vars == NULL) {
        return NGX_ERROR;
    }

    ngx_memcpy(vars, r->variables, size);

    saved = r->pool;
    captures = r->captures;
    ncaptures = r->ncaptures;
    captures_data = r->captures_data;
    realloc_captures = r->realloc_captures;

    r->pool = pool;

    rc = ngx_http_complex_value(r, cv, value);

    r->pool = saved;
    r->captures = captures;
    r->ncaptures = ncaptures;
    r->captures_data = captures_data;
    r->realloc_captures = realloc_captures;

    ngx_memcpy(r->variables, vars, size);

    return rc;
}


/*
 * A message without a route: an error message to the client, or a close,
 * as ws_route_error says.  The error message names the case and carries
 * the correlation id back:
 *
 *     {"type":"error","error":"unknown_type","id":"42"}
 */

static ngx_int_t
ngx_ws_route_error(ngx_ws_conn_t *ws, ngx_uint_t err, ngx_pool_t *pool,
    ngx_uint_t corr_string)
{
    ngx_str_t          *name;
    ngx_ws_loc_conf_t  *wlcf;

    wlcf = ws->conf;
    name = &ngx_ws_route_errors[err];

    ngx_ws_stat_route(NULL, err);

    ngx_log_error(NGX_LOG_INFO, ws->connection->log, 0,
                  "ws route: client sent a message without a route: %V",
                  name);

    if (wlcf->route_error) {
        if (pool) {
            ngx_destroy_pool(pool);
        }

        return wlcf->route_error_code ? wlcf->route_error_code
                                      : ngx_ws_route_error_codes[err];
    }

    return ngx_ws_route_error_reply(ws, name, pool, corr_string);
}


/*
 * The error message of a message that found no route or was refused:
 * the message's pool (or NULL) is destroyed once it is built.
 */

static ngx_int_t
ngx_ws_route_error_reply(ngx_ws_conn_t *ws, ngx_str_t *name,
    ngx_pool_t *pool, ngx_uint_t corr_string)
{
    u_char             *p, *msg;
    size_t              len;
    ngx_pool_t         *mpool;
    ngx_ws_loc_conf_t  *wlcf;

    wlcf = ws->conf;

    /* the message's pool holds the correlation id: it goes last */

    mpool = pool;

    /* every byte may become \u00XX: 6 each */

    len = sizeof("{\"\":\"error\",\"error\":\"\",\"\":\"\"}") - 1
          + 6 * (wlcf->route_field.len + name->len
                 + wlcf->route_correlation.len + ws->route.correlation.len);

    pool = ngx_create_pool(ngx_ws_pool_size(len), ws->connection->log);
    if (pool == NULL) {
        goto failed;
    }

    msg = ngx_pnalloc(pool, len);
    if (msg == NULL) {
        ngx_destroy_pool(pool);
        goto failed;
    }

    p = msg;
    *p++ = '{';
    p = ngx_ws_route_json_str(p, &wlcf->route_field);
    p = ngx_cpymem(p, ":\"error\",\"error\":", 17);
    p = ngx_ws_route_json_str(p, name);

    if (ws->route.correlation.len) {
        *p++ = ',';
        p = ngx_ws_route_json_str(p, &wlcf->route_correlation);
        *p++ = ':';

        if (corr_string) {
            p = ngx_ws_route_json_str(p, &ws->route.correlation);

        } else {
            /* a number (or any JSON value) as the client wrote it */
            p = ngx_cpymem(p, ws->route.correlation.data,
                           ws->route.correlation.len);
        }
    }

    *p++ = '}';

    if (mpool) {
        ngx_destroy_pool(mpool);
    }

    if (ngx_ws_send_message(ws, NGX_WS_OP_TEXT, pool, msg, p - msg)
        == NGX_ERROR)
    {
        return NGX_WS_CLOSE_INTERNAL;
    }

    return NGX_OK;

failed:

    if (mpool) {
        ngx_destroy_pool(mpool);
    }

    return NGX_WS_CLOSE_INTERNAL;
}


static u_char *
ngx_ws_route_json_str(u_char *p, ngx_str_t *s)
{
    size_t  i;
    u_char  c;

    static u_char  hex[] = "0123456789abcdef";

    *p++ = '"';

    for (i = 0; i < s->len; i++) {
        c = s->data[i];

        if (c == '"' || c == '\\') {
            *p++ = '\\';
            *p++ = c;

        } else if (c < 0x20 || c == 0x7f) {
            p = ngx_cpymem(p, "\\u00", 4);
            *p++ = hex[c >> 4];
            *p++ = hex[c & 0xf];

        } else {
            *p++ = c;
        }
    }

    *p++ = '"';

    return p;
}


/*
 * ws_route VALUE echo;
 * ws_route VALUE pass URI;
 * ws_route VALUE publish ZONE CHANNEL [class=CLASS] [conflate=KEY];
 * ws_route VALUE reply TEXT;
 *
 * VALUE "default" and "binary" are the routes of a type without a route
 * of its own and of binary messages.
 */

char *
ngx_ws_route_conf(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_ws_loc_conf_t *wlcf = conf;

    ngx_str_t                         *value, *action;
    ngx_uint_t                         i, nargs;
    ngx_ws_route_t                    *rt;
    ngx_http_compile_complex_value_t   ccv;

    value = cf->args->elts;
    action = &value[2];

    if (wlcf->routes == NGX_CONF_UNSET_PTR) {
        wlcf->routes = ngx_array_create(cf->pool, 4, sizeof(ngx_ws_route_t));
        if (wlcf->routes == NULL) {
            return NGX_CONF_ERROR;
        }
    }

    /* the value is shown on the status page and in headers as it is */

    if (value[1].len == 0 || value[1].len > NGX_WS_ROUTE_FIELD_MAX) {
        return "has an invalid type value";
    }

    for (i = 0; i < value[1].len; i++) {
        if (value[1].data[i] < 0x20 || value[1].data[i] == 0x7f
            || value[1].data[i] == '"' || value[1].data[i] == '\\')
        {
            return "has an invalid type value";
        }
    }

    rt = wlcf->routes->elts;

    for (i = 0; i < wlcf->routes->nelts; i++) {
        if (rt[i].value.len == value[1].len
            && ngx_strncmp(rt[i].value.data, value[1].data, value[1].len)
               == 0)
        {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "duplicate ws_route \"%V\"", &value[1]);
            return NGX_CONF_ERROR;
        }
    }

    rt = ngx_array_push(wlcf->routes);
    if (rt == NULL) {
        return NGX_CONF_ERROR;
    }

    ngx_memzero(rt, sizeof(ngx_ws_route_t));
    rt->value = value[1];

    if (ngx_strcmp(action->data, "echo") == 0) {
        rt->action = NGX_WS_ROUTE_ECHO;
        nargs = 3;

    } else if (ngx_strcmp(action->data, "pass") == 0) {
        rt->action = NGX_WS_ROUTE_PASS;
        nargs = 4;

    } else if (ngx_strcmp(action->data, "reply") == 0) {
        rt->action = NGX_WS_ROUTE_REPLY;
        nargs = 4;

    } else if (ngx_strcmp(action->data, "publish") == 0) {
        rt->action = NGX_WS_ROUTE_PUBLISH;
        nargs = 5;

    } else {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "unknown ws_route action \"%V\"", action);
        return NGX_CONF_ERROR;
    }

    if (rt->action == NGX_WS_ROUTE_PUBLISH
        && ngx_ws_route_policy_conf(cf, rt, nargs) != NGX_CONF_OK)
    {
        return NGX_CONF_ERROR;
    }

    if (cf->args->nelts < nargs
        || (cf->args->nelts > nargs && rt->action != NGX_WS_ROUTE_PUBLISH))
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid number of arguments for "
                           "ws_route action \"%V\"", action);
        return NGX_CONF_ERROR;
    }

    if (rt->action == NGX_WS_ROUTE_PUBLISH) {
        if (ngx_ws_zone_ref(cf, &value[3], &rt->zone) != NGX_CONF_OK) {
            return NGX_CONF_ERROR;
        }
    }

    if (nargs > 3) {
        ngx_memzero(&ccv, sizeof(ngx_http_compile_complex_value_t));

        ccv.cf = cf;
        ccv.value = &value[nargs - 1];
        ccv.complex_value = &rt->arg;

        if (ngx_http_compile_complex_value(&ccv) != NGX_OK) {
            return NGX_CONF_ERROR;
        }

        if (rt->action == NGX_WS_ROUTE_PASS && rt->arg.lengths == NULL
            && (rt->arg.value.len == 0 || rt->arg.value.data[0] != '/'))
        {
            return "needs a URI that starts with \"/\"";
        }
    }

    return NGX_CONF_OK;
}


/* ws_route ... publish ZONE CHANNEL [class=CLASS] [conflate=KEY] */

static char *
ngx_ws_route_policy_conf(ngx_conf_t *cf, ngx_ws_route_t *rt, ngx_uint_t from)
{
    ngx_str_t                         *value, s;
    ngx_uint_t                         i;
    ngx_http_compile_complex_value_t   ccv;

    value = cf->args->elts;

    for (i = from; i < cf->args->nelts; i++) {

        if (ngx_strncmp(value[i].data, "class=", 6) == 0) {
            s.data = value[i].data + 6;
            s.len = value[i].len - 6;

            if (ngx_ws_policy_class(&s, &rt->cls) != NGX_OK) {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "invalid message class \"%V\"",
                                   &s);
                return NGX_CONF_ERROR;
            }

            continue;
        }

        if (ngx_strncmp(value[i].data, "conflate=", 9) == 0
            && value[i].len > 9 && rt->conflate == NULL)
        {
            rt->conflate = ngx_palloc(cf->pool,
                                      sizeof(ngx_http_complex_value_t));
            if (rt->conflate == NULL) {
                return NGX_CONF_ERROR;
            }

            s.data = value[i].data + 9;
            s.len = value[i].len - 9;

            ngx_memzero(&ccv, sizeof(ngx_http_compile_complex_value_t));

            ccv.cf = cf;
            ccv.value = &s;
            ccv.complex_value = rt->conflate;

            if (ngx_http_compile_complex_value(&ccv) != NGX_OK) {
                return NGX_CONF_ERROR;
            }

            continue;
        }

        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid parameter \"%V\"", &value[i]);
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


/* after the location's directives: the default and binary routes */

char *
ngx_ws_route_merge(ngx_conf_t *cf, ngx_ws_loc_conf_t *conf,
    ngx_ws_loc_conf_t *prev)
{
    ngx_uint_t       i;
    ngx_ws_route_t  *rt;

    ngx_conf_merge_ptr_value(conf->routes, prev->routes, NULL);
    ngx_conf_merge_str_value(conf->route_field, prev->route_field, "type");
    ngx_conf_merge_str_value(conf->route_correlation,
                             prev->route_correlation, "");

    if (conf->route_error == NGX_CONF_UNSET_UINT) {
        conf->route_error = (prev->route_error == NGX_CONF_UNSET_UINT)
                            ? 0 : prev->route_error;
        conf->route_error_code = prev->route_error_code;
    }

    if (conf->route_field.len > NGX_WS_ROUTE_FIELD_MAX
        || conf->route_correlation.len > NGX_WS_ROUTE_FIELD_MAX)
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"ws_route_field\" and "
                           "\"ws_route_correlation\" take at most %d "
                           "bytes", NGX_WS_ROUTE_FIELD_MAX);
        return NGX_CONF_ERROR;
    }

    conf->route_default = NULL;
    conf->route_binary = NULL;
    conf->route_pass = 0;

    if (conf->routes == NULL) {
        return NGX_CONF_OK;
    }

    if (!conf->enable) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"ws_route\" needs \"websocket\" "
                           "in the same location");
        return NGX_CONF_ERROR;
    }

    rt = conf->routes->elts;

    for (i = 0; i < conf->routes->nelts; i++) {
        if (rt[i].action == NGX_WS_ROUTE_PASS) {
            conf->route_pass = 1;
        }

        if (rt[i].value.len == 7
            && ngx_strncmp(rt[i].value.data, "default", 7) == 0)
        {
            conf->route_default = &rt[i];

        } else if (rt[i].value.len == 6
                   && ngx_strncmp(rt[i].value.data, "binary", 6) == 0)
        {
            conf->route_binary = &rt[i];
        }
    }

    return NGX_CONF_OK;
}


/* ws_route_error reply | close [code]; */

char *
ngx_ws_route_error_conf(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_ws_loc_conf_t *wlcf = conf;

    ngx_int_t   code;
    ngx_str_t  *value;

    if (wlcf->route_error != NGX_CONF_UNSET_UINT) {
        return "is duplicate";
    }

    value = cf->args->elts;

    if (ngx_strcmp(value[1].data, "reply") == 0) {
        if (cf->args->nelts != 2) {
            return "takes no code with \"reply\"";
        }

        wlcf->route_error = 0;
        wlcf->route_error_code = 0;
        return NGX_CONF_OK;
    }

    if (ngx_strcmp(value[1].data, "close") != 0) {
        return "takes \"reply\" or \"close\"";
    }

    wlcf->route_error = 1;
    wlcf->route_error_code = 0;

    if (cf->args->nelts == 3) {
        code = ngx_atoi(value[2].data, value[2].len);

        if (code == NGX_ERROR
            || !(code == 1003 || (code >= 1007 && code <= 1009)
                 || (code >= 4000 && code <= 4999)))
        {
            return "takes a close code of 1003, 1007, 1008, 1009 "
                   "or 4000-4999";
        }

        wlcf->route_error_code = code;
    }

    return NGX_CONF_OK;
}
