
/*
 * Copyright (C) ngx_ws_module authors
 */


/*
 * The handshake's header checks: the Upgrade and Connection token lists,
 * Sec-WebSocket-Key and -Version, Origin against a ws_origins list and the
 * Sec-WebSocket-Protocol choice against a ws_subprotocols list, both lists
 * parsed by the module's own directive handlers.
 *
 * The checks are static functions of ngx_ws_handshake.c; rather than
 * export them, this file includes that source, and the harness is linked
 * without the module's ngx_ws_handshake.o (util/build-fuzz).
 *
 * The input is lines:
 *   1   the arguments of ws_origins, separated by spaces; none: no list
 *   2   the arguments of ws_subprotocols; none: no list
 *   3-  request headers, "Name:value"
 *
 * An input with a NUL byte is dropped: nginx refuses a request with one
 * in a header line (400) before any handler runs, and the configuration
 * tokens are C strings to the directive handlers.
 *
 * The token lists are checked against a reference tokenizer written from
 * RFC 9110's list syntax (elements separated by commas with optional
 * whitespace around them, empty elements allowed).
 */


#include "ngx_ws_fuzz.h"
#include "../ngx_ws_module/ngx_ws_handshake.c"


static ngx_uint_t ngx_ws_ref_has_token(ngx_list_t *headers, ngx_str_t *name,
    ngx_str_t *token, ngx_uint_t caseless);
static ngx_int_t ngx_ws_fuzz_directive(ngx_pool_t *pool, char *name,
    u_char *line, size_t len, ngx_ws_loc_conf_t *wlcf);


int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
    ngx_ws_fuzz_init();

    return 0;
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    u_char              *buf, *p, *last, *eol, *colon;
    ngx_int_t            rc;
    ngx_str_t            key, *proto, *s;
    ngx_uint_t           i, n, line;
    ngx_pool_t          *pool;
    ngx_table_elt_t     *h;
    ngx_connection_t    *c;
    ngx_ws_loc_conf_t   *wlcf;
    ngx_http_request_t  *r;

    if (size && memchr(data, '\0', size) != NULL) {
        return 0;
    }

    pool = ngx_create_pool(1024, &ngx_ws_fuzz_log);
    if (pool == NULL) {
        abort();
    }

    /* an exact copy: ASan sees any read beyond a value */

    buf = ngx_pnalloc(pool, size);
    if (buf == NULL && size) {
        abort();
    }

    if (size) {
        ngx_memcpy(buf, data, size);
    }

    c = ngx_pcalloc(pool, sizeof(ngx_connection_t));
    r = ngx_pcalloc(pool, sizeof(ngx_http_request_t));
    wlcf = ngx_pcalloc(pool, sizeof(ngx_ws_loc_conf_t));

    if (c == NULL || r == NULL || wlcf == NULL) {
        abort();
    }

    c->log = &ngx_ws_fuzz_log;
    c->pool = pool;
    r->connection = c;
    r->pool = pool;
    r->main = r;

    if (ngx_list_init(&r->headers_in.headers, pool, 2, sizeof(ngx_table_elt_t))
        != NGX_OK)
    {
        abort();
    }

    wlcf->origins = NGX_CONF_UNSET_PTR;
    wlcf->origin_none = NGX_CONF_UNSET;
    wlcf->subprotocols = NGX_CONF_UNSET_PTR;

    p = buf;
    last = buf + size;

    for (line = 0; p < last || line < 2; line++) {

        eol = (p < last) ? ngx_strlchr(p, last, '\n') : NULL;
        if (eol == NULL) {
            eol = last;
        }

        if (line == 0) {
            if (ngx_ws_fuzz_directive(pool, "ws_origins", p, eol - p, wlcf)
                != NGX_OK)
            {
                goto done;
            }

        } else if (line == 1) {
            if (ngx_ws_fuzz_directive(pool, "ws_subprotocols", p, eol - p,
                                      wlcf)
                != NGX_OK)
            {
                goto done;
            }

        } else {
            h = ngx_list_push(&r->headers_in.headers);
            if (h == NULL) {
                abort();
            }

            colon = ngx_strlchr(p, eol, ':');
            if (colon == NULL) {
                colon = eol;
            }

            h->hash = 1;
            h->key.data = p;
            h->key.len = colon - p;
            h->value.data = (colon < eol) ? colon + 1 : eol;
            h->value.len = eol - h->value.data;
            h->lowcase_key = ngx_pnalloc(pool, h->key.len ? h->key.len : 1);
            if (h->lowcase_key == NULL) {
                abort();
            }

            ngx_strlow(h->lowcase_key, h->key.data, h->key.len);
        }

        p = (eol < last) ? eol + 1 : last;
    }

    if (wlcf->origins == NGX_CONF_UNSET_PTR) {
        wlcf->origins = NULL;
    }

    if (wlcf->origin_none == NGX_CONF_UNSET) {
        wlcf->origin_none = 0;
    }

    if (wlcf->subprotocols == NGX_CONF_UNSET_PTR) {
        wlcf->subprotocols = NULL;
    }

    /* a refusal reads its log level from the request's location */

    wlcf->security_log_level = NGX_LOG_ERR;

    ngx_ws_module.ctx_index = 0;

    r->loc_conf = ngx_pcalloc(pool, sizeof(void *));
    if (r->loc_conf == NULL) {
        abort();
    }

    r->loc_conf[0] = wlcf;

    /* the order of ngx_ws_handshake_handler() */

    n = ngx_ws_has_token(r, &ngx_ws_upgrade, &ngx_ws_websocket, 1);

    if (n != ngx_ws_ref_has_token(&r->headers_in.headers, &ngx_ws_upgrade,
                                  &ngx_ws_websocket, 1))
    {
        fprintf(stderr, "handshake: Upgrade token: module %d\n", (int) n);
        abort();
    }

    n = ngx_ws_has_token(r, &ngx_ws_connection, &ngx_ws_upgrade_token, 1);

    if (n != ngx_ws_ref_has_token(&r->headers_in.headers, &ngx_ws_connection,
                                  &ngx_ws_upgrade_token, 1))
    {
        fprintf(stderr, "handshake: Connection token: module %d\n", (int) n);
        abort();
    }

    n = ngx_ws_find_headers(r, &ngx_ws_key, &h);

    if (n == 1) {
        key = h->value;
        ngx_ws_trim(&key);

        rc = ngx_ws_check_key(r, &key);

        if (rc == NGX_OK && key.len != 24) {
            abort();
        }
    }

    n = ngx_ws_find_headers(r, &ngx_ws_version, &h);

    if (n == 1) {
        key = h->value;
        ngx_ws_trim(&key);
    }

    if (wlcf->origins != NULL) {
        rc = ngx_ws_check_origin(r, wlcf);

        if (rc != NGX_OK && rc != NGX_HTTP_FORBIDDEN) {
            abort();
        }
    }

    proto = ngx_ws_select_subprotocol(r, wlcf);

    if (wlcf->subprotocols) {
        s = wlcf->subprotocols->elts;

        for (i = 0; i < wlcf->subprotocols->nelts; i++) {
            if (ngx_ws_ref_has_token(&r->headers_in.headers, &ngx_ws_protocol,
                                     &s[i], 0))
            {
                break;
            }
        }

        /* the server's first preference that the client offered */

        if (proto != (i < wlcf->subprotocols->nelts ? &s[i] : NULL)) {
            fprintf(stderr, "handshake: subprotocol choice differs\n");
            abort();
        }

    } else if (proto != NULL) {
        abort();
    }

done:

    ngx_destroy_pool(pool);

    return 0;
}


/* a directive as ngx_conf_handler() would call it, with its arity check */

static ngx_int_t
ngx_ws_fuzz_directive(ngx_pool_t *pool, char *name, u_char *line, size_t len,
    ngx_ws_loc_conf_t *wlcf)
{
    u_char         *p, *last, *start;
    char           *rv;
    ngx_str_t      *arg;
    ngx_conf_t      cf;
    ngx_command_t  *cmd;

    if (len == 0) {
        return NGX_OK;
    }

    for (cmd = ngx_ws_module.commands; cmd->name.len; cmd++) {
        if (ngx_strcmp(cmd->name.data, name) == 0) {
            break;
        }
    }

    if (cmd->name.len == 0) {
        abort();
    }

    ngx_memzero(&cf, sizeof(ngx_conf_t));

    cf.pool = pool;
    cf.temp_pool = pool;
    cf.log = &ngx_ws_fuzz_log;

    cf.args = ngx_array_create(pool, 4, sizeof(ngx_str_t));
    if (cf.args == NULL) {
        abort();
    }

    arg = ngx_array_push(cf.args);
    if (arg == NULL) {
        abort();
    }

    arg->data = (u_char *) name;
    arg->len = ngx_strlen(name);

    /* tokens are NUL-terminated copies, as the configuration parser makes */

    p = line;
    last = line + len;

    while (p < last) {
        while (p < last && *p == ' ') {
            p++;
        }

        start = p;

        while (p < last && *p != ' ') {
            p++;
        }

        if (p == start) {
            break;
        }

        arg = ngx_array_push(cf.args);
        if (arg == NULL) {
            abort();
        }

        arg->len = p - start;
        arg->data = ngx_pnalloc(pool, arg->len + 1);
        if (arg->data == NULL) {
            abort();
        }

        ngx_memcpy(arg->data, start, arg->len);
        arg->data[arg->len] = '\0';
    }

    if ((cmd->type & NGX_CONF_1MORE) && cf.args->nelts < 2) {
        return NGX_DECLINED;
    }

    rv = cmd->set(&cf, cmd, wlcf);

    return (rv == NGX_CONF_OK) ? NGX_OK : NGX_DECLINED;
}


static ngx_uint_t
ngx_ws_ref_has_token(ngx_list_t *headers, ngx_str_t *name, ngx_str_t *token,
    ngx_uint_t caseless)
{
    u_char           *p, *last, *start, *end, c1, c2;
    ngx_uint_t        i, k, match;
    ngx_list_part_t  *part;
    ngx_table_elt_t  *h;

    for (part = &headers->part; part; part = part->next) {
        h = part->elts;

        for (i = 0; i < part->nelts; i++) {
            if (h[i].key.len != name->len) {
                continue;
            }

            for (k = 0; k < name->len; k++) {
                if (ngx_tolower(h[i].key.data[k]) != ngx_tolower(name->data[k]))
                {
                    break;
                }
            }

            if (k < name->len) {
                continue;
            }

            start = h[i].value.data;
            last = start + h[i].value.len;

            for ( ;; ) {
                end = start;
                while (end < last && *end != ',') {
                    end++;
                }

                p = end;

                while (start < end && (*start == ' ' || *start == '\t')) {
                    start++;
                }

                while (end > start && (end[-1] == ' ' || end[-1] == '\t')) {
                    end--;
                }

                if ((size_t) (end - start) == token->len) {
                    match = 1;

                    for (k = 0; k < token->len; k++) {
                        c1 = start[k];
                        c2 = token->data[k];

                        if (caseless ? ngx_tolower(c1) != ngx_tolower(c2)
                                     : c1 != c2)
                        {
                            match = 0;
                            break;
                        }
                    }

                    if (match) {
                        return 1;
                    }
                }

                if (p == last) {
                    break;
                }

                start = p + 1;
            }
        }
    }

    return 0;
}
