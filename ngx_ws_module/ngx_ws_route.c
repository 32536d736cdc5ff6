
/*
 * Copyright (C) ngx_ws_module authors
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include "ngx_ws_module.h"


/*
 * The routes: what a complete data message from the client becomes.  The
 * read loop (ngx_ws_input() in ngx_ws_conn.c) calls this, and only it,
 * once the message is counted and within ws_limit_messages.  A new route
 * is one more case here; it takes the message, or a copy of it, and
 * reports failure by the close code to end the connection with.
 *
 * The message is ws->msg.opcode, ws->msg.start and ws->msg.len, in pool
 * (NULL for an empty message): the pool is this function's, to hand to a
 * route that keeps the message (ws_pass without ws_echo, ws_echo) or to
 * destroy.  Returns NGX_OK or the close code.
 */

ngx_int_t
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
