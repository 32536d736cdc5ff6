
/*
 * Copyright (C) ngx_ws_module authors
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include "ngx_ws_module.h"


/*
 * Security events: a refused handshake, a connection closed by a policy.
 * Each is one error log line at ws_security_log_level (error unless set,
 * as limit_req_log_level), starting with "ws security: ", naming the
 * reason and the status or close code; the request's log handler adds the
 * client's address, the request and, after the 101, the connection id.
 *
 * That handler is ours in WebSocket locations, from the rewrite phase on
 * (before limit_req, limit_conn and ws_auth_request run): nginx's writes
 * the request line as the client sent it, with whatever token its query
 * carries.  Ours writes the same fields with the values of secret-looking
 * query arguments, in the request line, the upstream and the referrer,
 * replaced by "***".  Headers are never logged, Authorization and Cookie
 * included.
 *
 * The access log is written in the log phase, with $request, $request_uri,
 * $args, $query_string and $http_referer as the client sent them: for the
 * same requests, a log phase handler that runs before nginx's access log
 * masks the fields these variables read, and forgets their cached values.
 */


static ngx_int_t ngx_ws_seclog_rewrite(ngx_http_request_t *r);
static ngx_int_t ngx_ws_seclog_log_phase(ngx_http_request_t *r);
static ngx_int_t ngx_ws_seclog_mask_field(ngx_http_request_t *r,
    ngx_str_t *s, ngx_uint_t query);
static u_char *ngx_ws_seclog_mask_query(u_char *p, u_char *last,
    u_char *src, u_char *stop);
static u_char *ngx_ws_seclog_handler(ngx_http_request_t *r,
    ngx_http_request_t *sr, u_char *buf, size_t len);
static u_char *ngx_ws_seclog_mask(u_char *p, u_char *last, ngx_str_t *s);
static u_char *ngx_ws_seclog_copy(u_char *p, u_char *last, u_char *src,
    size_t n);
static ngx_uint_t ngx_ws_seclog_secret(u_char *name, size_t len);
static void ngx_ws_seclog(ngx_log_t *log, ngx_uint_t level, ngx_err_t err,
    ngx_str_t *id, const char *what, ngx_int_t code, const char *fmt,
    va_list args);


/*
 * A query argument whose name contains one of these words, in any case,
 * has its value masked ("access_token", "apiKey", "X-Auth", "sig"...).
 */

static ngx_str_t  ngx_ws_seclog_words[] = {
    ngx_string("token"),
    ngx_string("key"),
    ngx_string("secret"),
    ngx_string("pass"),
    ngx_string("auth"),
    ngx_string("jwt"),
    ngx_string("sig"),
    ngx_string("session"),
    ngx_string("cred"),
    ngx_null_string
};


/* the variables of the access log that read what the log phase masks */

static ngx_str_t  ngx_ws_seclog_vars[] = {
    ngx_string("request"),
    ngx_string("request_uri"),
    ngx_string("args"),
    ngx_string("query_string"),
    ngx_string("http_referer"),
    ngx_null_string
};

static ngx_int_t  ngx_ws_seclog_var_index[sizeof(ngx_ws_seclog_vars)
                                          / sizeof(ngx_str_t)];


ngx_int_t
ngx_ws_seclog_init(ngx_conf_t *cf)
{
    ngx_uint_t                  i;
    ngx_http_handler_pt        *h, *first;
    ngx_http_core_main_conf_t  *cmcf;

    cmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_core_module);

    h = ngx_array_push(&cmcf->phases[NGX_HTTP_REWRITE_PHASE].handlers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    *h = ngx_ws_seclog_rewrite;

    /*
     * the log phase handlers run in the order they were added, and nginx's
     * access log was added first: the mask goes before it
     */

    h = ngx_array_push(&cmcf->phases[NGX_HTTP_LOG_PHASE].handlers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    first = cmcf->phases[NGX_HTTP_LOG_PHASE].handlers.elts;
    ngx_memmove(first + 1, first, (h - first) * sizeof(ngx_http_handler_pt));
    *first = ngx_ws_seclog_log_phase;

    for (i = 0; ngx_ws_seclog_vars[i].len; i++) {
        ngx_ws_seclog_var_index[i] =
                       ngx_http_get_variable_index(cf, &ngx_ws_seclog_vars[i]);

        if (ngx_ws_seclog_var_index[i] == NGX_ERROR) {
            return NGX_ERROR;
        }
    }

    return NGX_OK;
}


static ngx_int_t
ngx_ws_seclog_rewrite(ngx_http_request_t *r)
{
    ngx_ws_loc_conf_t  *wlcf;

    wlcf = ngx_http_get_module_loc_conf(r, ngx_ws_module);

    /* the handler keeps no state: an internal redirect does not undo it */

    if (wlcf->enable && r == r->main) {
        r->log_handler = ngx_ws_seclog_handler;
    }

    return NGX_DECLINED;
}


/*
 * Before the access log of a request whose error log lines are masked (a
 * WebSocket location's, and its subrequests' with log_subrequest on): the
 * request line, the URI, the query and the referrer lose the values of
 * secret query arguments.  Nothing reads them after the log phase but the
 * log handlers.
 */

static ngx_int_t
ngx_ws_seclog_log_phase(ngx_http_request_t *r)
{
    ngx_str_t                 referer;
    ngx_uint_t                i, changed;
    ngx_http_log_handler_pt   handler;

    /* after the 101 the connection's own handler calls ours */

    handler = r->main->log_handler;

    if (handler == ngx_ws_log_error) {
        handler = ngx_ws_ctx_log_handler(r->main);
    }

    if (handler != ngx_ws_seclog_handler) {
        return NGX_OK;
    }

    changed = 0;

    if (ngx_ws_seclog_mask_field(r, &r->request_line, 0) == NGX_OK) {
        changed = 1;
    }

    if (ngx_ws_seclog_mask_field(r, &r->unparsed_uri, 0) == NGX_OK) {
        changed = 1;
    }

    if (ngx_ws_seclog_mask_field(r, &r->args, 1) == NGX_OK) {
        changed = 1;
    }

    if (r->headers_in.referer) {
        referer = r->headers_in.referer->value;

        if (ngx_ws_seclog_mask_field(r, &referer, 0) == NGX_OK) {
            r->headers_in.referer->value = referer;
            changed = 1;
        }
    }

    if (changed && r->variables) {
        for (i = 0; ngx_ws_seclog_vars[i].len; i++) {
            r->variables[ngx_ws_seclog_var_index[i]].valid = 0;
            r->variables[ngx_ws_seclog_var_index[i]].not_found = 0;
        }
    }

    return NGX_OK;
}


/*
 * s masked in a copy from the request's pool: NGX_OK when a value was
 * masked, NGX_DECLINED when there was nothing to mask (or no memory: the
 * access log is then written as it would be without the module)
 */

static ngx_int_t
ngx_ws_seclog_mask_field(ngx_http_request_t *r, ngx_str_t *s,
    ngx_uint_t query)
{
    u_char  *p, *last;
    size_t   size;

    if (s->len == 0) {
        return NGX_DECLINED;
    }

    /* an empty value grows the most: "a=" becomes "a=***" */

    size = s->len * 3 + 4;

    p = ngx_pnalloc(r->pool, size);
    if (p == NULL) {
        return NGX_DECLINED;
    }

    last = query ? ngx_ws_seclog_mask_query(p, p + size, s->data,
                                            s->data + s->len)
                 : ngx_ws_seclog_mask(p, p + size, s);

    if ((size_t) (last - p) == s->len && ngx_memcmp(p, s->data, s->len) == 0)
    {
        return NGX_DECLINED;
    }

    s->data = p;
    s->len = last - p;

    return NGX_OK;
}


/*
 * a handshake refused with status; a 500 (the auth service failed) is
 * logged at error at least
 */

void ngx_cdecl
ngx_ws_security_refused(ngx_http_request_t *r, ngx_int_t status,
    const char *fmt, ...)
{
    va_list             args;
    ngx_uint_t          level;
    ngx_ws_loc_conf_t  *wlcf;

    wlcf = ngx_http_get_module_loc_conf(r, ngx_ws_module);

    level = wlcf->security_log_level;

    if (status == NGX_HTTP_INTERNAL_SERVER_ERROR && level > NGX_LOG_ERR) {
        level = NGX_LOG_ERR;
    }

    va_start(args, fmt);
    ngx_ws_seclog(r->connection->log, level, 0, NULL, "refused with", status,
                  fmt, args);
    va_end(args);
}


/*
 * a connection closed with code, or dropped (code 0); before its 101 is
 * sent (a slow subscriber that the replay of history overflows) the
 * log handler does not name the connection yet: the line does
 */

void ngx_cdecl
ngx_ws_security_closed(ngx_ws_conn_t *ws, ngx_uint_t code, ngx_err_t err,
    const char *fmt, ...)
{
    va_list     args;
    ngx_str_t  *id;

    id = (ws->request == NULL
          || ws->request->headers_out.status == NGX_HTTP_SWITCHING_PROTOCOLS)
         ? NULL : &ws->id;

    va_start(args, fmt);
    ngx_ws_seclog(ws->connection->log, ws->conf->security_log_level, err, id,
                  code ? "closing with" : NULL, (ngx_int_t) code, fmt, args);
    va_end(args);
}


/*
 * A message refused by ws_message_auth_request, at the level given
 * whatever ws_security_log_level says; the caller names the route and the
 * type, never the payload.  After the 101 the request's log handler names
 * the connection.
 */

void ngx_cdecl
ngx_ws_security_denied(ngx_ws_conn_t *ws, ngx_uint_t level,
    ngx_uint_t status, const char *fmt, ...)
{
    va_list  args;

    va_start(args, fmt);
    ngx_ws_seclog(ws->connection->log, level, 0, NULL, "status",
                  (ngx_int_t) status, fmt, args);
    va_end(args);
}


/* "ws security: <reason>[, ws: <id>][, <what> <code>]" */

static void
ngx_ws_seclog(ngx_log_t *log, ngx_uint_t level, ngx_err_t err, ngx_str_t *id,
    const char *what, ngx_int_t code, const char *fmt, va_list args)
{
    u_char  *p, *last;
    u_char   reason[NGX_MAX_ERROR_STR];

    if (log->log_level < level) {
        return;
    }

    last = reason + sizeof(reason);

    p = ngx_vslprintf(reason, last, fmt, args);

    if (id) {
        p = ngx_slprintf(p, last, ", ws: %V", id);
    }

    if (what) {
        p = ngx_slprintf(p, last, ", %s %i", what, code);
    }

    ngx_log_error(level, log, err, "ws security: %*s", p - reason, reason);
}


/*
 * nginx's fields of a request's error log line, the secrets masked:
 * server, request, subrequest, upstream, host, referrer.
 */

static u_char *
ngx_ws_seclog_handler(ngx_http_request_t *r, ngx_http_request_t *sr,
    u_char *buf, size_t len)
{
    u_char                    *p, *last;
    ngx_http_upstream_t       *u;
    ngx_http_core_srv_conf_t  *cscf;

    last = buf + len;

    cscf = ngx_http_get_module_srv_conf(r, ngx_http_core_module);

    p = ngx_slprintf(buf, last, ", server: %V", &cscf->server_name);

    if (r->request_line.len) {
        p = ngx_slprintf(p, last, ", request: \"");
        p = ngx_ws_seclog_mask(p, last, &r->request_line);
        p = ngx_slprintf(p, last, "\"");
    }

    if (r != sr) {
        p = ngx_slprintf(p, last, ", subrequest: \"%V\"", &sr->uri);
    }

    u = sr->upstream;

    if (u && u->peer.name) {
        p = ngx_slprintf(p, last, ", upstream: \"%V%V", &u->schema,
                         u->peer.name);

#if (NGX_HAVE_UNIX_DOMAIN)
        if (u->peer.sockaddr && u->peer.sockaddr->sa_family == AF_UNIX) {
            p = ngx_slprintf(p, last, ":");
        }
#endif

        p = ngx_ws_seclog_mask(p, last, &u->uri);
        p = ngx_slprintf(p, last, "\"");
    }

    if (r->headers_in.host) {
        p = ngx_slprintf(p, last, ", host: \"%V\"",
                         &r->headers_in.host->value);
    }

    if (r->headers_in.referer) {
        p = ngx_slprintf(p, last, ", referrer: \"");
        p = ngx_ws_seclog_mask(p, last, &r->headers_in.referer->value);
        p = ngx_slprintf(p, last, "\"");
    }

    return p;
}


/*
 * s (a request line, a URI, a URL) with the value of each secret query
 * argument written as "***"; the query ends at a space (the request
 * line's version) or a "#"
 */

static u_char *
ngx_ws_seclog_mask(u_char *p, u_char *last, ngx_str_t *s)
{
    u_char  *src, *end, *stop, *value;

    src = s->data;
    end = s->data + s->len;

    value = ngx_strlchr(src, end, '?');

    if (value == NULL) {
        return ngx_ws_seclog_copy(p, last, src, s->len);
    }

    value++;
    p = ngx_ws_seclog_copy(p, last, src, value - src);
    src = value;

    for (stop = src; stop < end && *stop != ' ' && *stop != '#'; stop++) {
        /* void */
    }

    p = ngx_ws_seclog_mask_query(p, last, src, stop);

    return ngx_ws_seclog_copy(p, last, stop, end - stop);
}


/* a query, "name=value&...", with the values of secret arguments masked */

static u_char *
ngx_ws_seclog_mask_query(u_char *p, u_char *last, u_char *src, u_char *stop)
{
    u_char  *name, *value;

    while (src < stop) {
        name = src;

        while (src < stop && *src != '=' && *src != '&') {
            src++;
        }

        p = ngx_ws_seclog_copy(p, last, name, src - name);

        if (src < stop && *src == '=') {
            value = ++src;

            while (src < stop && *src != '&') {
                src++;
            }

            if (ngx_ws_seclog_secret(name, value - 1 - name)) {
                p = ngx_ws_seclog_copy(p, last, (u_char *) "=***", 4);

            } else {
                p = ngx_ws_seclog_copy(p, last, value - 1, src - value + 1);
            }
        }

        if (src < stop) {
            /* the "&" */
            p = ngx_ws_seclog_copy(p, last, src++, 1);
        }
    }

    return p;
}


static u_char *
ngx_ws_seclog_copy(u_char *p, u_char *last, u_char *src, size_t n)
{
    if (n > (size_t) (last - p)) {
        n = last - p;
    }

    return ngx_cpymem(p, src, n);
}


static ngx_uint_t
ngx_ws_seclog_secret(u_char *name, size_t len)
{
    ngx_str_t  *w;

    for (w = ngx_ws_seclog_words; w->len; w++) {
        if (len >= w->len
            && ngx_strlcasestrn(name, name + len, w->data, w->len - 1)
               != NULL)
        {
            return 1;
        }
    }

    return 0;
}
