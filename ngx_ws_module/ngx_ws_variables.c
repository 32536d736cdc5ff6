
/*
 * Copyright (C) ngx_ws_module authors
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include "ngx_ws_module.h"


static ngx_ws_conn_t *ngx_ws_variable_conn(ngx_http_request_t *r);
static ngx_int_t ngx_ws_variable_str(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);


static ngx_http_variable_t  ngx_ws_vars[] = {

    { ngx_string("ws_connection_id"), NULL, ngx_ws_variable_str,
      offsetof(ngx_ws_conn_t, id), NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("ws_subprotocol"), NULL, ngx_ws_variable_str,
      offsetof(ngx_ws_conn_t, subprotocol), NGX_HTTP_VAR_NOCACHEABLE, 0 },

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

    return ngx_http_get_module_ctx(r->main, ngx_ws_module);
}


/* an ngx_str_t of the connection, at offset data */

static ngx_int_t
ngx_ws_variable_str(ngx_http_request_t *r, ngx_http_variable_value_t *v,
    uintptr_t data)
{
    ngx_str_t      *s;
    ngx_ws_conn_t  *ws;

    ws = ngx_ws_variable_conn(r);

    if (ws == NULL) {
        v->not_found = 1;
        return NGX_OK;
    }

    s = (ngx_str_t *) ((u_char *) ws + data);

    v->len = s->len;
    v->valid = 1;
    v->no_cacheable = 0;
    v->not_found = 0;
    v->data = s->data;

    return NGX_OK;
}
