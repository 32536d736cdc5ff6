
/*
 * Copyright (C) ngx_ws_module authors
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include "ngx_ws_module.h"


static ngx_ws_conn_t *ngx_ws_variable_conn(ngx_http_request_t *r);
static ngx_ws_stream_t *ngx_ws_variable_stream(ngx_http_request_t *r);
static ngx_int_t ngx_ws_variable_transport(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);
static ngx_int_t ngx_ws_variable_str(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);
static ngx_int_t ngx_ws_variable_uint64(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);
static ngx_int_t ngx_ws_variable_close_code(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);
static ngx_int_t ngx_ws_variable_closed_by(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);
static ngx_int_t ngx_ws_variable_duration(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);
static ngx_int_t ngx_ws_variable_channels(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);
static ngx_int_t ngx_ws_variable_auth(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);


static ngx_http_variable_t  ngx_ws_vars[] = {

    { ngx_string("ws_connection_id"), NULL, ngx_ws_variable_str,
      offsetof(ngx_ws_conn_t, id), NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("ws_subprotocol"), NULL, ngx_ws_variable_str,
      offsetof(ngx_ws_conn_t, subprotocol), NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("ws_messages_in"), NULL, ngx_ws_variable_uint64,
      offsetof(ngx_ws_conn_t, stat.messages_in), NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("ws_messages_out"), NULL, ngx_ws_variable_uint64,
      offsetof(ngx_ws_conn_t, stat.messages_out), NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("ws_bytes_in"), NULL, ngx_ws_variable_uint64,
      offsetof(ngx_ws_conn_t, stat.bytes_in), NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("ws_bytes_out"), NULL, ngx_ws_variable_uint64,
      offsetof(ngx_ws_conn_t, stat.bytes_out), NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("ws_close_code"), NULL, ngx_ws_variable_close_code,
      0, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("ws_close_reason"), NULL, ngx_ws_variable_str,
      offsetof(ngx_ws_conn_t, close_reason), NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("ws_closed_by"), NULL, ngx_ws_variable_closed_by,
      0, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("ws_duration"), NULL, ngx_ws_variable_duration,
      0, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("ws_channels"), NULL, ngx_ws_variable_channels,
      0, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("ws_message_type"), NULL, ngx_ws_variable_str,
      offsetof(ngx_ws_conn_t, route.type), NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("ws_message_correlation"), NULL, ngx_ws_variable_str,
      offsetof(ngx_ws_conn_t, route.correlation), NGX_HTTP_VAR_NOCACHEABLE,
      0 },

    { ngx_string("ws_transport"), NULL, ngx_ws_variable_transport,
      0, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("ws_auth_"), NULL, ngx_ws_variable_auth,
      0, NGX_HTTP_VAR_NOCACHEABLE|NGX_HTTP_VAR_PREFIX, 0 },

      ngx_http_null_variable
};


ngx_int_t
ngx_ws_add_variables(ngx_conf_t *cf)
{
    ngx_http_variable_t  *var, *v;

    for (v = ngx_ws_vars; v->name.len; v++) {
        var = ngx_http_add_variable(cf, &v->name, v->flags);
        if (var == NULL) {
            return NGX_ERROR;
        }

        var->get_handler = v->get_handler;
        var->data = v->data;
    }

    return NGX_OK;
}


/* the WebSocket of this request, once it is upgraded */

static ngx_ws_conn_t *
ngx_ws_variable_conn(ngx_http_request_t *r)
{
    ngx_ws_loc_conf_t  *wlcf;

    wlcf = ngx_http_get_module_loc_conf(r->main, ngx_ws_module);

    if (!wlcf->enable || r->main->headers_out.status != 101) {
        return NULL;
    }

    return ngx_ws_ctx_conn(r->main);
}


/* an EventSource or long-poll request of this location, once it is one */

static ngx_ws_stream_t *
ngx_ws_variable_stream(ngx_http_request_t *r)
{
    ngx_ws_stream_t    *st;
    ngx_ws_loc_conf_t  *wlcf;

    wlcf = ngx_http_get_module_loc_conf(r->main, ngx_ws_module);

    if (!wlcf->sse && !wlcf->longpoll) {
        return NULL;
    }

    st = ngx_ws_ctx_part(r->main, NGX_WS_CTX_SSE);

    return (st && st->transport) ? st : NULL;
}


/* "websocket", "sse" or "longpoll" */

static ngx_int_t
ngx_ws_variable_transport(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data)
{
    ngx_ws_stream_t  *st;

    v->valid = 1;
    v->no_cacheable = 0;
    v->not_found = 0;

    if (ngx_ws_variable_conn(r)) {
        v->len = sizeof("websocket") - 1;
        v->data = (u_char *) "websocket";
        return NGX_OK;
    }

    st = ngx_ws_variable_stream(r);

    if (st == NULL) {
        v->not_found = 1;
        return NGX_OK;
    }

    if (st->transport == NGX_WS_STREAM_SSE) {
        v->len = sizeof("sse") - 1;
        v->data = (u_char *) "sse";

    } else {
        v->len = sizeof("longpoll") - 1;
        v->data = (u_char *) "longpoll";
    }

    return NGX_OK;
}


/* an ngx_str_t of the connection, at offset data */

static ngx_int_t
ngx_ws_variable_str(ngx_http_request_t *r, ngx_http_variable_value_t *v,
    uintptr_t data)
{
    ngx_str_t        *s;
    ngx_ws_conn_t    *ws;
    ngx_ws_stream_t  *st;

    ws = ngx_ws_variable_conn(r);

    if (ws) {
        s = (ngx_str_t *) ((u_char *) ws + data);

    } else if ((st = ngx_ws_variable_stream(r)) == NULL) {
        s = NULL;

    } else if (data == offsetof(ngx_ws_conn_t, id)) {
        s = &st->id;

    } else if (data == offsetof(ngx_ws_conn_t, close_reason)) {
        s = &st->reason;

    } else {
        s = NULL;
    }

    if (s == NULL || (ws == NULL && s->len == 0)) {
        v->not_found = 1;
        return NGX_OK;
    }

    v->len = s->len;
    v->valid = 1;
    v->no_cacheable = 0;
    v->not_found = 0;
    v->data = s->data;

    return NGX_OK;
}


static ngx_int_t
ngx_ws_variable_uint64(ngx_http_request_t *r, ngx_http_variable_value_t *v,
    uintptr_t data)
{
    u_char           *p;
    uint64_t          n;
    ngx_ws_conn_t    *ws;
    ngx_ws_stream_t  *st;

    ws = ngx_ws_variable_conn(r);

    if (ws) {
        n = *(uint64_t *) ((u_char *) ws + data);

    } else if ((st = ngx_ws_variable_stream(r)) != NULL
               && (data == offsetof(ngx_ws_conn_t, stat.messages_out)
                   || data == offsetof(ngx_ws_conn_t, stat.bytes_out)))
    {
        /* a stream only sends */
        n = (data == offsetof(ngx_ws_conn_t, stat.messages_out))
            ? st->messages_out : st->bytes_out;

    } else {
        v->not_found = 1;
        return NGX_OK;
    }

    p = ngx_pnalloc(r->pool, NGX_INT64_LEN);
    if (p == NULL) {
        return NGX_ERROR;
    }

    v->len = ngx_sprintf(p, "%uL", n) - p;
    v->valid = 1;
    v->no_cacheable = 0;
    v->not_found = 0;
    v->data = p;

    return NGX_OK;
}


/* the code that ended the connection; not found while it is open */

static ngx_int_t
ngx_ws_variable_close_code(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data)
{
    u_char         *p;
    ngx_uint_t      code;
    ngx_ws_conn_t  *ws;

    ws = ngx_ws_variable_conn(r);
    code = (ws == NULL) ? 0 : ngx_ws_end_code(ws);

    if (code == 0) {
        v->not_found = 1;
        return NGX_OK;
    }

    p = ngx_pnalloc(r->pool, NGX_INT_T_LEN);
    if (p == NULL) {
        return NGX_ERROR;
    }

    v->len = ngx_sprintf(p, "%ui", code) - p;
    v->valid = 1;
    v->no_cacheable = 0;
    v->not_found = 0;
    v->data = p;

    return NGX_OK;
}


static ngx_str_t  ngx_ws_end_names[] = {
    ngx_null_string,
    ngx_string("client"),
    ngx_string("server"),
    ngx_string("timeout"),
    ngx_string("limit"),
    ngx_string("protocol")
};


static ngx_int_t
ngx_ws_variable_closed_by(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data)
{
    ngx_uint_t        end;
    ngx_ws_conn_t    *ws;
    ngx_ws_stream_t  *st;

    ws = ngx_ws_variable_conn(r);

    if (ws) {
        end = ws->end;

    } else if ((st = ngx_ws_variable_stream(r)) != NULL) {
        /* a stream the server did not end was left by its client */
        end = st->end ? st->end : NGX_WS_END_CLIENT;

    } else {
        end = NGX_WS_END_OPEN;
    }

    if (end == NGX_WS_END_OPEN) {
        v->not_found = 1;
        return NGX_OK;
    }

    v->len = ngx_ws_end_names[end].len;
    v->valid = 1;
    v->no_cacheable = 0;
    v->not_found = 0;
    v->data = ngx_ws_end_names[end].data;

    return NGX_OK;
}


/* seconds since the 101, with milliseconds, like $request_time */

static ngx_int_t
ngx_ws_variable_duration(ngx_http_request_t *r, ngx_http_variable_value_t *v,
    uintptr_t data)
{
    u_char           *p;
    time_t            sec;
    ngx_msec_t        msec;
    ngx_time_t       *tp;
    ngx_msec_int_t    ms;
    ngx_ws_conn_t    *ws;
    ngx_ws_stream_t  *st;

    ws = ngx_ws_variable_conn(r);
    st = ws ? NULL : ngx_ws_variable_stream(r);

    if (ws) {
        sec = ws->stat.start_sec;
        msec = ws->stat.start_msec;

    } else if (st) {
        sec = st->start_sec;
        msec = st->start_msec;

    } else {
        sec = 0;
        msec = 0;
    }

    if (sec == 0) {
        v->not_found = 1;
        return NGX_OK;
    }

    p = ngx_pnalloc(r->pool, NGX_TIME_T_LEN + 4);
    if (p == NULL) {
        return NGX_ERROR;
    }

    tp = ngx_timeofday();

    ms = (ngx_msec_int_t) ((tp->sec - sec) * 1000 + (tp->msec - msec));
    ms = ngx_max(ms, 0);

    v->len = ngx_sprintf(p, "%T.%03M", (time_t) ms / 1000, ms % 1000) - p;
    v->valid = 1;
    v->no_cacheable = 0;
    v->not_found = 0;
    v->data = p;

    return NGX_OK;
}


/* the channels it is subscribed to; at the close, those it was */

static ngx_int_t
ngx_ws_variable_channels(ngx_http_request_t *r, ngx_http_variable_value_t *v,
    uintptr_t data)
{
    ngx_str_t         list;
    ngx_ws_conn_t    *ws;
    ngx_ws_stream_t  *st;

    ws = ngx_ws_variable_conn(r);

    if (ws == NULL) {
        st = ngx_ws_variable_stream(r);

        if (st == NULL) {
            v->not_found = 1;
            return NGX_OK;
        }

        list = st->channels;

    } else if (ngx_queue_empty(&ws->subs)) {
        list = ws->stat.channels;

    } else if (ngx_ws_channels_list(ws, r->pool, &list) != NGX_OK) {
        return NGX_ERROR;
    }

    v->len = list.len;
    v->valid = 1;
    v->no_cacheable = 0;
    v->not_found = 0;
    v->data = list.data;

    return NGX_OK;
}


/*
 * Error log lines of an upgraded connection end with its id:
 * ", ws: 6565d3a8.4242.7".
 */

u_char *
ngx_ws_log_error(ngx_http_request_t *r, ngx_http_request_t *sr, u_char *buf,
    size_t len)
{
    u_char                   *p;
    ngx_ws_conn_t            *ws;
    ngx_http_log_handler_pt   handler;

    /* NULL only if an internal redirect cleared the ctx: no context then */

    handler = ngx_ws_ctx_log_handler(r);

    p = handler ? handler(r, sr, buf, len) : buf;

    ws = ngx_ws_ctx_conn(r->main);

    if (ws && r->main->headers_out.status == NGX_HTTP_SWITCHING_PROTOCOLS) {
        len -= p - buf;
        p = ngx_snprintf(p, len, ", ws: %V", &ws->id);
    }

    return p;
}


/*
 * $ws_auth_NAME: a header of the ws_auth_request response kept with
 * ws_auth_pass_header, NAME lower-case with "_" for "-" as in
 * $upstream_http_NAME.  It is known from the end of the auth subrequest
 * on, before the 101 (ws_presence is evaluated then).
 */

static ngx_int_t
ngx_ws_variable_auth(ngx_http_request_t *r, ngx_http_variable_value_t *v,
    uintptr_t data)
{
    ngx_str_t *var = (ngx_str_t *) data;

    u_char           *name, ch;
    size_t            len, i;
    ngx_uint_t        k;
    ngx_ws_conn_t    *ws;
    ngx_table_elt_t  *h;

    v->not_found = 1;

    ws = ngx_ws_ctx_conn(r->main);

    if (ws == NULL || ws->auth == NULL) {
        return NGX_OK;
    }

    name = var->data + sizeof("ws_auth_") - 1;
    len = var->len - (sizeof("ws_auth_") - 1);

    h = ws->auth->headers.elts;

    for (k = 0; k < ws->auth->headers.nelts; k++) {

        if (h[k].key.len != len) {
            continue;
        }

        for (i = 0; i < len; i++) {
            ch = ngx_tolower(h[k].key.data[i]);

            if (ch == '-') {
                ch = '_';
            }

            if (ch != name[i]) {
                break;
            }
        }

        if (i == len) {
            v->len = h[k].value.len;
            v->valid = 1;
            v->no_cacheable = 0;
            v->not_found = 0;
            v->data = h[k].value.data;

            return NGX_OK;
        }
    }

    return NGX_OK;
}
