
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
 *
 * The subrequest carries the client's headers, less any X-WS-* header of
 * the client's, and the channels the connection is about to join and
 * publish to, evaluated here once for the handshake too:
 * "X-WS-Subscribe: a,b" and "X-WS-Publish: c", each name percent-encoded.
 */


static ngx_int_t ngx_ws_auth_handler(ngx_http_request_t *r);
static ngx_int_t ngx_ws_auth_done(ngx_http_request_t *r, void *data,
    ngx_int_t rc);
static ngx_int_t ngx_ws_auth_keep_headers(ngx_http_request_t *r,
    ngx_http_request_t *sr, ngx_ws_auth_ctx_t *ctx);
static ngx_int_t ngx_ws_auth_headers(ngx_http_request_t *r,
    ngx_http_request_t *sr, ngx_ws_auth_ctx_t *ctx);
static ngx_int_t ngx_ws_auth_add_names(ngx_http_request_t *sr,
    ngx_pool_t *pool, char *header, ngx_str_t *names, ngx_uint_t n);
static ngx_uint_t ngx_ws_name_char(u_char ch);


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

    if ((!wlcf->enable && !wlcf->sse && !wlcf->longpoll)
        || wlcf->auth_request.len == 0
        || r != r->main)
    {
        return NGX_DECLINED;
    }

    ctx = ngx_ws_ctx_auth(r);

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
            ngx_ws_security_refused(r, NGX_HTTP_FORBIDDEN,
                                    "ws auth request denied the %s",
                                    wlcf->sse ? "event stream"
                                    : wlcf->longpoll ? "long poll"
                                    : "upgrade");
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

            ngx_ws_security_refused(r, NGX_HTTP_UNAUTHORIZED,
                                    "ws auth request asked for "
                                    "authentication");
            ngx_ws_stat_reject(NGX_HTTP_UNAUTHORIZED);
            return ctx->status;
        }

        ngx_ws_security_refused(r, NGX_HTTP_INTERNAL_SERVER_ERROR,
                                "ws auth request unexpected status: %ui",
                                ctx->status);

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

    if (ngx_ws_channel_names(r, wlcf, ctx) != NGX_OK) {
        return NGX_ERROR;
    }

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

    if (ngx_ws_auth_headers(r, sr, ctx) != NGX_OK) {
        return NGX_ERROR;
    }

    ctx->subrequest = sr;

    if (ngx_ws_ctx_set_auth(r, ctx) != NGX_OK) {
        return NGX_ERROR;
    }

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


/*
 * The channels of ws_subscribe and ws_publish, evaluated once: the auth
 * service is shown exactly the names that the handshake joins.
 */

ngx_int_t
ngx_ws_channel_names(ngx_http_request_t *r, ngx_ws_loc_conf_t *wlcf,
    ngx_ws_auth_ctx_t *ctx)
{
    ngx_uint_t              i;
    ngx_ws_channel_conf_t  *cc;

    if (wlcf->publish
        && ngx_http_complex_value(r, &wlcf->publish->name, &ctx->publish)
           != NGX_OK)
    {
        return NGX_ERROR;
    }

    if (wlcf->subscribe) {
        ctx->subscribe = ngx_palloc(r->pool,
                                    wlcf->subscribe->nelts * sizeof(ngx_str_t));
        if (ctx->subscribe == NULL) {
            return NGX_ERROR;
        }

        cc = wlcf->subscribe->elts;

        for (i = 0; i < wlcf->subscribe->nelts; i++) {
            if (ngx_http_complex_value(r, &cc[i].name, &ctx->subscribe[i])
                != NGX_OK)
            {
                return NGX_ERROR;
            }
        }
    }

    ctx->channels = 1;

    return NGX_OK;
}


/*
 * The subrequest gets a list of its own: the client's headers without
 * X-WS-*, so that the service can trust the names the module adds.
 */

static ngx_int_t
ngx_ws_auth_headers(ngx_http_request_t *r, ngx_http_request_t *sr,
    ngx_ws_auth_ctx_t *ctx)
{
    ngx_uint_t          i, n;
    ngx_list_part_t    *part;
    ngx_table_elt_t    *h, *nh;
    ngx_ws_loc_conf_t  *wlcf;

    wlcf = ngx_http_get_module_loc_conf(r, ngx_ws_module);

    n = 2;

    for (part = &r->headers_in.headers.part; part; part = part->next) {
        n += part->nelts;
    }

    if (ngx_list_init(&sr->headers_in.headers, r->pool, n,
                      sizeof(ngx_table_elt_t))
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    part = &r->headers_in.headers.part;
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

        if (ngx_ws_module_header(&h[i].key)) {
            continue;
        }

        nh = ngx_list_push(&sr->headers_in.headers);
        if (nh == NULL) {
            return NGX_ERROR;
        }

        *nh = h[i];
    }

    if (wlcf->subscribe
        && ngx_ws_auth_add_names(sr, r->pool, "X-WS-Subscribe",
                                 ctx->subscribe, wlcf->subscribe->nelts)
           != NGX_OK)
    {
        return NGX_ERROR;
    }

    if (wlcf->publish
        && ngx_ws_auth_add_names(sr, r->pool, "X-WS-Publish", &ctx->publish,
                                 1)
           != NGX_OK)
    {
        return NGX_ERROR;
    }

    return NGX_OK;
}


/* "a,b": the names that are not empty, percent-encoded */

static ngx_int_t
ngx_ws_auth_add_names(ngx_http_request_t *sr, ngx_pool_t *pool, char *header,
    ngx_str_t *names, ngx_uint_t n)
{
    u_char           *p;
    size_t            len;
    ngx_uint_t        i, k;
    ngx_table_elt_t  *h;

    static u_char     hex[] = "0123456789ABCDEF";

    len = 0;

    for (i = 0; i < n; i++) {
        for (k = 0; k < names[i].len; k++) {
            len += ngx_ws_name_char(names[i].data[k]) ? 1 : 3;
        }

        len += names[i].len ? 1 : 0;
    }

    if (len == 0) {
        return NGX_OK;
    }

    p = ngx_pnalloc(pool, len);
    if (p == NULL) {
        return NGX_ERROR;
    }

    h = ngx_list_push(&sr->headers_in.headers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    h->key.data = (u_char *) header;
    h->key.len = ngx_strlen(header);
    h->value.data = p;

    for (i = 0; i < n; i++) {
        if (names[i].len == 0) {
            continue;
        }

        if (p != h->value.data) {
            *p++ = ',';
        }

        for (k = 0; k < names[i].len; k++) {
            if (ngx_ws_name_char(names[i].data[k])) {
                *p++ = names[i].data[k];
                continue;
            }

            *p++ = '%';
            *p++ = hex[names[i].data[k] >> 4];
            *p++ = hex[names[i].data[k] & 0xf];
        }
    }

    h->value.len = p - h->value.data;

    h->lowcase_key = ngx_pnalloc(pool, h->key.len);
    if (h->lowcase_key == NULL) {
        return NGX_ERROR;
    }

    h->hash = ngx_hash_strlow(h->lowcase_key, h->key.data, h->key.len);
#if (nginx_version >= 1023000)
    h->next = NULL;
#endif

    return NGX_OK;
}


/* what a channel name keeps as it is in X-WS-Subscribe and X-WS-Publish */

static ngx_uint_t
ngx_ws_name_char(u_char ch)
{
    if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z')
        || (ch >= '0' && ch <= '9'))
    {
        return 1;
    }

    switch (ch) {
    case '-':
    case '.':
    case '_':
    case '~':
    case ':':
    case '@':
    case '/':
        return 1;
    }

    return 0;
}
