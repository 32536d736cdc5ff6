
/*
 * Copyright (C) ngx_ws_module authors
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include "ngx_ws_module.h"


static ngx_int_t ngx_ws_variable_connection_id(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);
static ngx_int_t ngx_ws_variable_subprotocol(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);


static ngx_http_variable_t  ngx_ws_vars[] = {

    { ngx_string("ws_connection_id"), NULL, ngx_ws_variable_connection_id,
      0, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("ws_subprotocol"), NULL, ngx_ws_variable_subprotocol,
      0, NGX_HTTP_VAR_NOCACHEABLE, 0 },

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


static ngx_int_t
ngx_ws_variable_connection_id(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data)
{
    ngx_ws_conn_t  *ws;

    ws = ngx_ws_variable_conn(r);

    if (ws == NULL) {
        v->not_found = 1;
        return NGX_OK;
    }

    v->len = ws->id.len;
    v->valid = 1;
    v->no_cacheable = 0;
    v->not_found = 0;
    v->data = ws->id.data;

    return NGX_OK;
}


static ngx_int_t
ngx_ws_variable_subprotocol(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data)
{
    ngx_ws_conn_t  *ws;

    ws = ngx_ws_variable_conn(r);

    if (ws == NULL) {
        v->not_found = 1;
        return NGX_OK;
    }

    v->len = ws->subprotocol.len;
    v->valid = 1;
    v->no_cacheable = 0;
    v->not_found = 0;
    v->data = ws->subprotocol.data;

    return NGX_OK;
}
