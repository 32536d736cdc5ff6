
/*
 * Copyright (C) ngx_ws_module authors
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include "ngx_ws_module.h"


/*
 * ws_auth_request: a subrequest in the access phase, before the handshake
 * is even looked at, as auth_request does: 2xx lets the upgrade go on,
 * 401 and 403 are returned to the client, anything else is a 500.  The
 * response headers named by ws_auth_pass_header are kept, and every
 * upstream event of the connection carries them.
 */


static ngx_int_t ngx_ws_auth_handler(ngx_http_request_t *r);
static ngx_int_t ngx_ws_auth_done(ngx_http_request_t *r, void *data,
    ngx_int_t rc);
static ngx_int_t ngx_ws_auth_keep_headers(ngx_http_request_t *r,
    ngx_http_request_t *sr, ngx_ws_auth_ctx_t *ctx);


ngx_int_t
ngx_ws_auth_init(ngx_conf_t *cf)
{
    ngx_http_handler_pt        *h;
    ngx_http_core_main_conf_t  *cmcf;

    cmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_core_module);

    h = ngx_array_push(&cmcf->phases[NGX_HTTP_ACCESS_PHASE].handlers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    *h = ngx_ws_auth_handler;

    return NGX_OK;
}


static ngx_int_t
ngx_ws_auth_handler(ngx_http_request_t *r)
{
    ngx_table_elt_t             *h, *ho;
    ngx_ws_loc_conf_t           *wlcf;
    ngx_ws_auth_ctx_t           *ctx;
    ngx_http_request_t          *sr;
    ngx_http_post_subrequest_t  *ps;

    wlcf = ngx_http_get_module_loc_conf(r, ngx_ws_module);

    if (!wlcf->enable || wlcf->auth_request.len == 0 || r != r->main) {
        return NGX_DECLINED;
    }

    ctx = ngx_http_get_module_ctx(r, ngx_ws_module);

    if (ctx != NULL) {
        if (!ctx->done) {
            return NGX_AGAIN;
        }

        if (ctx->status >= NGX_HTTP_OK
            && ctx->status < NGX_HTTP_SPECIAL_RESPONSE)
        {
            return NGX_OK;
        }

        /* a refused upgrade is never followed by another request */
        r->keepalive = 0;

        if (ctx->status == NGX_HTTP_FORBIDDEN) {
            ngx_ws_stat_reject(NGX_HTTP_FORBIDDEN);
            return ctx->status;
        }

        if (ctx->status == NGX_HTTP_UNAUTHORIZED) {
            sr = ctx->subrequest;

            h = sr->headers_out.www_authenticate;

            if (h == NULL && sr->upstream) {
                /* 1.22 keeps an upstream's WWW-Authenticate only there */
                h = sr->upstream->headers_in.www_authenticate;
            }

            if (h) {
                ho = ngx_list_push(&r->headers_out.headers);
                if (ho == NULL) {
                    return NGX_ERROR;
                }

                *ho = *h;
#if (nginx_version >= 1023000)
                ho->next = NULL;
#endif

                r->headers_out.www_authenticate = ho;
            }

            ngx_ws_stat_reject(NGX_HTTP_UNAUTHORIZED);
            return ctx->status;
        }

        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "ws auth request unexpected status: %ui", ctx->status);

        ngx_ws_stat_reject(NGX_HTTP_INTERNAL_SERVER_ERROR);
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ctx = ngx_pcalloc(r->pool, sizeof(ngx_ws_auth_ctx_t));
    if (ctx == NULL) {
        return NGX_ERROR;
    }

    if (ngx_array_init(&ctx->headers, r->pool, 2, sizeof(ngx_table_elt_t))
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    ps = ngx_palloc(r->pool, sizeof(ngx_http_post_subrequest_t));
    if (ps == NULL) {
        return NGX_ERROR;
    }

    ps->handler = ngx_ws_auth_done;
    ps->data = ctx;

    if (ngx_http_subrequest(r, &wlcf->auth_request, NULL, &sr, ps,
                            NGX_HTTP_SUBREQUEST_WAITED)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    /*
     * allocate fake request body to avoid attempts to read it and to make
     * sure real body file (if already read) won't be closed by upstream
     */

    sr->request_body = ngx_pcalloc(r->pool, sizeof(ngx_http_request_body_t));
    if (sr->request_body == NULL) {
        return NGX_ERROR;
    }

    sr->header_only = 1;

    ctx->subrequest = sr;

    ngx_http_set_ctx(r, ctx, ngx_ws_module);

    return NGX_AGAIN;
}


static ngx_int_t
ngx_ws_auth_done(ngx_http_request_t *r, void *data, ngx_int_t rc)
{
    ngx_ws_auth_ctx_t *ctx = data;

    if (ctx->done) {
        return rc;
    }

    ctx->done = 1;
    ctx->status = r->headers_out.status;

    if (ctx->status == 0 && rc >= NGX_HTTP_SPECIAL_RESPONSE) {
        ctx->status = rc;
    }

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "ws auth request done rc:%i status:%ui", rc, ctx->status);

    if (ctx->status >= NGX_HTTP_OK
        && ctx->status < NGX_HTTP_SPECIAL_RESPONSE
        && ngx_ws_auth_keep_headers(r->parent, r, ctx) != NGX_OK)
    {
        ctx->status = NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return rc;
}


static ngx_int_t
ngx_ws_auth_keep_headers(ngx_http_request_t *r, ngx_http_request_t *sr,
    ngx_ws_auth_ctx_t *ctx)
{
    ngx_str_t          *name;
    ngx_uint_t          i, k;
    ngx_list_part_t    *part;
    ngx_table_elt_t    *h, *nh;
    ngx_ws_loc_conf_t  *wlcf;

    wlcf = ngx_http_get_module_loc_conf(r, ngx_ws_module);

    if (wlcf->auth_pass_headers == NULL) {
        return NGX_OK;
    }

    name = wlcf->auth_pass_headers->elts;

    part = &sr->headers_out.headers.part;
    h = part->elts;

    for (i = 0; /* void */ ; i++) {

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

        for (k = 0; k < wlcf->auth_pass_headers->nelts; k++) {
            if (h[i].key.len == name[k].len
                && ngx_strncasecmp(h[i].key.data, name[k].data,
                                   name[k].len) == 0)
            {
                nh = ngx_array_push(&ctx->headers);
                if (nh == NULL) {
                    return NGX_ERROR;
                }

                *nh = h[i];
                break;
            }
        }
    }

    return NGX_OK;
}
