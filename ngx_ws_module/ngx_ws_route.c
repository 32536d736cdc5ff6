
/*
 * Copyright (C) ngx_ws_module authors
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include "ngx_ws_module.h"


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
static void ngx_ws_route_close(ngx_ws_conn_t *ws);


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

    return NGX_OK;
}


/* the upgrade: ws_pass, ws_on_connect and ws_on_disconnect need a session */

static ngx_int_t
ngx_ws_route_open(ngx_ws_conn_t *ws)
{
    if (ws->conf->pass.len || ws->conf->on_connect.len
        || ws->conf->on_disconnect.len)
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

    /* ws_publish: into the channel, for its subscribers */

    if (ws->publish.len) {
        rc = ngx_ws_channel_publish_message(ws, ws->msg.opcode, ws->msg.start,
                                            ws->msg.len);

        if (rc != NGX_OK) {
            if (pool) {
                ngx_destroy_pool(pool);
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
                ngx_destroy_pool(pool);
            }

            return NGX_WS_CLOSE_INTERNAL;
        }
    }

    /* ws_echo: back to the client */

    if (ws->conf->echo) {
        if (ngx_ws_send_message(ws, ws->msg.opcode, pool, ws->msg.start,
                                ws->msg.len)
            == NGX_ERROR)
        {
            return NGX_WS_CLOSE_INTERNAL;
        }

        return NGX_OK;
    }

    if (pool) {
        ngx_destroy_pool(pool);
    }

    return NGX_OK;
}


/* the connection is freed: its upstream session and its channels end */

static void
ngx_ws_route_close(ngx_ws_conn_t *ws)
{
    if (ws->session) {
        ngx_ws_session_detach(ws);
    }

    ngx_ws_channels_release(ws);
}
