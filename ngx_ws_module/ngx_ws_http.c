
/*
 * Copyright (C) ngx_ws_module authors
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include "ngx_ws_module.h"


/*
 * Small HTTP helpers: the bottom layer, calling nothing else in the
 * module.
 */


static ngx_ws_ctx_t *ngx_ws_ctx(ngx_http_request_t *r, ngx_uint_t create);


/*
 * The first header called name (case-insensitive) in a list of
 * ngx_table_elt_t after the header "after", or from the start if it is
 * NULL: so all of them are
 *
 *     for (h = ngx_ws_find_header(list, name, NULL);
 *          h;
 *          h = ngx_ws_find_header(list, name, h))
 *
 * Headers with a zero hash are deleted ones, as nginx marks them.
 */

ngx_table_elt_t *
ngx_ws_find_header(ngx_list_t *headers, ngx_str_t *name,
    ngx_table_elt_t *after)
{
    ngx_uint_t        i;
    ngx_list_part_t  *part;
    ngx_table_elt_t  *h;

    part = &headers->part;
    i = 0;

    if (after) {

        /* the part that holds it */

        for ( ;; ) {
            h = part->elts;

            if (after >= h && after < h + part->nelts) {
                i = after - h + 1;
                break;
            }

            part = part->next;

            if (part == NULL) {
                return NULL;
            }
        }
    }

    h = part->elts;

    for ( ;; i++) {

        if (i >= part->nelts) {
            if (part->next == NULL) {
                break;
            }

            part = part->next;
            h = part->elts;
            i = 0;
        }

        if (h[i].hash != 0
            && h[i].key.len == name->len
            && ngx_strncasecmp(h[i].key.data, name->data, name->len) == 0)
        {
            return &h[i];
        }
    }

    return NULL;
}


/*
 * A message with this Content-Type goes out in a text frame: text/...,
 * and JSON of any kind (application/json, application/ld+json, ...).
 */

ngx_uint_t
ngx_ws_content_opcode(ngx_str_t *type)
{
    if ((type->len >= 5
         && ngx_strncasecmp(type->data, (u_char *) "text/", 5) == 0)
        || (type->len >= 4
            && ngx_strlcasestrn(type->data, type->data + type->len,
                                (u_char *) "json", 4 - 1)
               != NULL))
    {
        return NGX_WS_OP_TEXT;
    }

    return NGX_WS_OP_BINARY;
}


/*
 * A header of the module's own, as an application may read its name:
 * "X-WS-..." in any case, with "_" for "-" (CGI, WSGI and Rack see both
 * as "HTTP_X_WS_...").
 */

ngx_uint_t
ngx_ws_module_header(ngx_str_t *name)
{
    return name->len >= 5
           && ngx_ws_header_name_eq(name->data, (u_char *) "x-ws-", 5);
}


/* header names equal, in any case and with "_" for "-" */

ngx_uint_t
ngx_ws_header_name_eq(u_char *a, u_char *b, size_t n)
{
    u_char  ca, cb;

    while (n--) {
        ca = ngx_tolower(*a);
        cb = ngx_tolower(*b);

        if (ca == '_') {
            ca = '-';
        }

        if (cb == '_') {
            cb = '-';
        }

        if (ca != cb) {
            return 0;
        }

        a++;
        b++;
    }

    return 1;
}


/* the module's ctx of a request (ngx_ws_ctx_t), made on the first set */

static ngx_ws_ctx_t *
ngx_ws_ctx(ngx_http_request_t *r, ngx_uint_t create)
{
    ngx_ws_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_ws_module);

    if (ctx == NULL && create) {
        ctx = ngx_pcalloc(r->pool, sizeof(ngx_ws_ctx_t));
        if (ctx == NULL) {
            return NULL;
        }

        ngx_http_set_ctx(r, ctx, ngx_ws_module);
    }

    return ctx;
}


ngx_ws_auth_ctx_t *
ngx_ws_ctx_auth(ngx_http_request_t *r)
{
    ngx_ws_ctx_t  *ctx;

    ctx = ngx_ws_ctx(r, 0);

    return ctx ? ctx->auth : NULL;
}


ngx_ws_event_ctx_t *
ngx_ws_ctx_event(ngx_http_request_t *r)
{
    ngx_ws_ctx_t  *ctx;

    ctx = ngx_ws_ctx(r, 0);

    return ctx ? ctx->event : NULL;
}


ngx_int_t
ngx_ws_ctx_set_auth(ngx_http_request_t *r, ngx_ws_auth_ctx_t *auth)
{
    ngx_ws_ctx_t  *ctx;

    ctx = ngx_ws_ctx(r, 1);
    if (ctx == NULL) {
        return NGX_ERROR;
    }

    ctx->auth = auth;

    return NGX_OK;
}


void *
ngx_ws_ctx_part(ngx_http_request_t *r, ngx_uint_t part)
{
    ngx_ws_ctx_t  *ctx;

    ctx = ngx_ws_ctx(r, 0);

    return ctx ? ctx->part[part] : NULL;
}


ngx_int_t
ngx_ws_ctx_set_part(ngx_http_request_t *r, ngx_uint_t part, void *data)
{
    ngx_ws_ctx_t  *ctx;

    ctx = ngx_ws_ctx(r, 1);
    if (ctx == NULL) {
        return NGX_ERROR;
    }

    ctx->part[part] = data;

    return NGX_OK;
}


ngx_int_t
ngx_ws_ctx_set_conn(ngx_http_request_t *r, ngx_ws_conn_t *ws)
{
    ngx_ws_ctx_t  *ctx;

    ctx = ngx_ws_ctx(r, 1);
    if (ctx == NULL) {
        return NGX_ERROR;
    }

    ctx->ws = ws;

    return NGX_OK;
}


ngx_int_t
ngx_ws_ctx_set_event(ngx_http_request_t *r, ngx_ws_event_ctx_t *event)
{
    ngx_ws_ctx_t  *ctx;

    ctx = ngx_ws_ctx(r, 1);
    if (ctx == NULL) {
        return NGX_ERROR;
    }

    ctx->event = event;

    return NGX_OK;
}


/*
 * Puts handler in place of the request's log handler, which is kept for
 * ngx_ws_ctx_log_handler(): per request, as nginx set it for this one.
 */

ngx_int_t
ngx_ws_ctx_set_log_handler(ngx_http_request_t *r,
    ngx_http_log_handler_pt handler)
{
    ngx_ws_ctx_t  *ctx;

    ctx = ngx_ws_ctx(r, 1);
    if (ctx == NULL) {
        return NGX_ERROR;
    }

    ctx->log_handler = r->log_handler;
    r->log_handler = handler;

    return NGX_OK;
}


/*
 * nginx's log handler of r, replaced by ngx_ws_ctx_set_log_handler(), or
 * NULL: not replaced, or the ctx was cleared since (an internal redirect
 * to an error_page after a failed upgrade)
 */

ngx_http_log_handler_pt
ngx_ws_ctx_log_handler(ngx_http_request_t *r)
{
    ngx_ws_ctx_t  *ctx;

    ctx = ngx_ws_ctx(r, 0);

    return ctx ? ctx->log_handler : NULL;
}
