
/*
 * Copyright (C) ngx_ws_module authors
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include "ngx_ws_json.h"


/*
 * A strict JSON reader that looks for a few top-level fields of an object
 * (ws_route_field, ws_route_correlation) and reads no further than it
 * needs: once every field asked for is seen, the rest of the message is
 * not looked at.  What it has read must be JSON (RFC 8259, without
 * leniency: no comments, no trailing commas, no single quotes, no control
 * characters in strings, no lone surrogates), nesting is bounded by
 * NGX_WS_JSON_MAX_DEPTH, and nothing is read past p + len.  The first of
 * duplicate keys wins.  The bytes are those of a text message, whose UTF-8
 * the WebSocket layer has checked already.  It calls nothing but the pool.
 */


#define NGX_WS_JSON_KEY_MAX        256


typedef struct {
    u_char                     *p;
    u_char                     *end;
} ngx_ws_json_t;


static void ngx_ws_json_space(ngx_ws_json_t *j);
static ngx_int_t ngx_ws_json_string(ngx_ws_json_t *j, u_char *buf,
    size_t cap, size_t *len);
static ngx_int_t ngx_ws_json_hex4(u_char *p, uint32_t *cp);
static ngx_int_t ngx_ws_json_value(ngx_ws_json_t *j, ngx_uint_t depth);
static ngx_int_t ngx_ws_json_number(ngx_ws_json_t *j);
static ngx_int_t ngx_ws_json_literal(ngx_ws_json_t *j, char *word,
    size_t len);


/*
 * Returns NGX_OK with f[0 .. n-1].found (and .value, decoded into pool,
 * for a string), NGX_WS_JSON_INVALID, NGX_WS_JSON_DEEP or NGX_ERROR.
 */

ngx_int_t
ngx_ws_json_fields(u_char *p, size_t len, ngx_ws_json_field_t *f,
    ngx_uint_t n, ngx_pool_t *pool)
{
    u_char         *start, key[NGX_WS_JSON_KEY_MAX];
    size_t          klen, vlen;
    ngx_int_t       rc;
    ngx_uint_t      i, left, match;
    ngx_ws_json_t   j;

    for (i = 0; i < n; i++) {
        f[i].found = NGX_WS_JSON_ABSENT;
        f[i].value.len = 0;
        f[i].value.data = NULL;
    }

    if (len == 0) {
        return NGX_WS_JSON_INVALID;
    }

    left = n;

    j.p = p;
    j.end = p + len;

    ngx_ws_json_space(&j);

    if (j.p == j.end || *j.p != '{') {
        return NGX_WS_JSON_INVALID;
    }

    j.p++;
    ngx_ws_json_space(&j);

    if (j.p < j.end && *j.p == '}') {
        j.p++;
        goto done;
    }

    for ( ;; ) {

        /* "key" */

        if (j.p == j.end || *j.p != '"') {
            return NGX_WS_JSON_INVALID;
        }

        j.p++;

        rc = ngx_ws_json_string(&j, key, NGX_WS_JSON_KEY_MAX, &klen);
        if (rc != NGX_OK) {
            return rc;
        }

        ngx_ws_json_space(&j);

        if (j.p == j.end || *j.p != ':') {
            return NGX_WS_JSON_INVALID;
        }

        j.p++;
        ngx_ws_json_space(&j);

        match = n;

        if (klen <= NGX_WS_JSON_KEY_MAX) {
            for (i = 0; i < n; i++) {
                if (f[i].found == NGX_WS_JSON_ABSENT
                    && f[i].name.len == klen
                    && ngx_memcmp(f[i].name.data, key, klen) == 0)
                {
                    match = i;
                    break;
                }
            }
        }

        /* the value */

        if (match < n && j.p < j.end && *j.p == '"') {
            j.p++;
            start = j.p;

            /* a first pass validates and measures, a second decodes */

            rc = ngx_ws_json_string(&j, NULL, 0, &vlen);
            if (rc != NGX_OK) {
                return rc;
            }

            f[match].value.data = ngx_pnalloc(pool, vlen ? vlen : 1);
            if (f[match].value.data == NULL) {
                return NGX_ERROR;
            }

            j.p = start;
            (void) ngx_ws_json_string(&j, f[match].value.data, vlen, &vlen);

            f[match].value.len = vlen;
            f[match].found = NGX_WS_JSON_STRING;

        } else {
            start = j.p;

            rc = ngx_ws_json_value(&j, 2);
            if (rc != NGX_OK) {
                return rc;
            }

            if (match < n) {
                /* the value as it is written, in the message */
                f[match].found = NGX_WS_JSON_OTHER;
                f[match].value.data = start;
                f[match].value.len = j.p - start;
            }
        }

        if (match < n && --left == 0) {
            /* all found: the rest is not read */
            return NGX_OK;
        }

        ngx_ws_json_space(&j);

        if (j.p == j.end) {
            return NGX_WS_JSON_INVALID;
        }

        if (*j.p == ',') {
            j.p++;
            ngx_ws_json_space(&j);
            continue;
        }

        if (*j.p == '}') {
            j.p++;
            break;
        }

        return NGX_WS_JSON_INVALID;
    }

done:

    ngx_ws_json_space(&j);

    return (j.p == j.end) ? NGX_OK : NGX_WS_JSON_INVALID;
}


static void
ngx_ws_json_space(ngx_ws_json_t *j)
{
    while (j->p < j->end
           && (*j->p == ' ' || *j->p == '\t' || *j->p == '\n'
               || *j->p == '\r'))
    {
        j->p++;
    }
}


/*
 * After the opening quote: up to and past the closing one.  The decoded
 * bytes go to buf while they fit in cap (buf may be NULL); *len is the
 * decoded length in any case.
 */

static ngx_int_t
ngx_ws_json_string(ngx_ws_json_t *j, u_char *buf, size_t cap, size_t *len)
{
    u_char    *p, out[4];
    size_t     n, k;
    uint32_t   cp, lo;

    n = 0;
    p = j->p;

    for ( ;; ) {

        if (p == j->end || *p < 0x20) {
            return NGX_WS_JSON_INVALID;
        }

        if (*p == '"') {
            j->p = p + 1;
            *len = n;
            return NGX_OK;
        }

        if (*p != '\\') {
            if (buf && n < cap) {
                buf[n] = *p;
            }

            n++;
            p++;
            continue;
        }

        /* an escape */

        if (j->end - p < 2) {
            return NGX_WS_JSON_INVALID;
        }

        switch (p[1]) {

        case '"':  out[0] = '"';  break;
        case '\\': out[0] = '\\'; break;
        case '/':  out[0] = '/';  break;
        case 'b':  out[0] = '\b'; break;
        case 'f':  out[0] = '\f'; break;
        case 'n':  out[0] = '\n'; break;
        case 'r':  out[0] = '\r'; break;
        case 't':  out[0] = '\t'; break;

        case 'u':
            if (j->end - p < 6 || ngx_ws_json_hex4(p + 2, &cp) != NGX_OK) {
                return NGX_WS_JSON_INVALID;
            }

            p += 6;

            if (cp >= 0xdc00 && cp <= 0xdfff) {
                /* a low surrogate alone */
                return NGX_WS_JSON_INVALID;
            }

            if (cp >= 0xd800 && cp <= 0xdbff) {
                if (j->end - p < 6 || p[0] != '\\' || p[1] != 'u'
                    || ngx_ws_json_hex4(p + 2, &lo) != NGX_OK
                    || lo < 0xdc00 || lo > 0xdfff)
                {
                    return NGX_WS_JSON_INVALID;
                }

                p += 6;
                cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
            }

            if (cp < 0x80) {
                out[0] = (u_char) cp;
                k = 1;

            } else if (cp < 0x800) {
                out[0] = (u_char) (0xc0 | (cp >> 6));
                out[1] = (u_char) (0x80 | (cp & 0x3f));
                k = 2;

            } else if (cp < 0x10000) {
                out[0] = (u_char) (0xe0 | (cp >> 12));
                out[1] = (u_char) (0x80 | ((cp >> 6) & 0x3f));
                out[2] = (u_char) (0x80 | (cp & 0x3f));
                k = 3;

            } else {
                out[0] = (u_char) (0xf0 | (cp >> 18));
                out[1] = (u_char) (0x80 | ((cp >> 12) & 0x3f));
                out[2] = (u_char) (0x80 | ((cp >> 6) & 0x3f));
                out[3] = (u_char) (0x80 | (cp & 0x3f));
                k = 4;
            }

            if (buf && n + k <= cap) {
                ngx_memcpy(buf + n, out, k);
            }

            n += k;
            continue;

        default:
            return NGX_WS_JSON_INVALID;
        }

        if (buf && n < cap) {
            buf[n] = out[0];
        }

        n++;
        p += 2;
    }
}


static ngx_int_t
ngx_ws_json_hex4(u_char *p, uint32_t *cp)
{
    u_char      c;
    uint32_t    v;
    ngx_uint_t  i;

    v = 0;

    for (i = 0; i < 4; i++) {
        c = p[i];

        if (c >= '0' && c <= '9') {
            v = (v << 4) | (c - '0');

        } else {
            c |= 0x20;

            if (c < 'a' || c > 'f') {
                return NGX_WS_JSON_INVALID;
            }

            v = (v << 4) | (c - 'a' + 10);
        }
    }

    *cp = v;

    return NGX_OK;
}


/* any value, skipped; depth is its own (the top-level object is 1) */

static ngx_int_t
ngx_ws_json_value(ngx_ws_json_t *j, ngx_uint_t depth)
{
    size_t     len;
    ngx_int_t  rc;
    u_char     close;

    if (j->p == j->end) {
        return NGX_WS_JSON_INVALID;
    }

    switch (*j->p) {

    case '"':
        j->p++;
        return ngx_ws_json_string(j, NULL, 0, &len);

    case 't':
        return ngx_ws_json_literal(j, "true", 4);

    case 'f':
        return ngx_ws_json_literal(j, "false", 5);

    case 'n':
        return ngx_ws_json_literal(j, "null", 4);

    case '{':
    case '[':
        break;

    default:
        return ngx_ws_json_number(j);
    }

    if (depth > NGX_WS_JSON_MAX_DEPTH) {
        return NGX_WS_JSON_DEEP;
    }

    close = (*j->p == '{') ? '}' : ']';

    j->p++;
    ngx_ws_json_space(j);

    if (j->p < j->end && *j->p == close) {
        j->p++;
        return NGX_OK;
    }

    for ( ;; ) {

        if (close == '}') {
            if (j->p == j->end || *j->p != '"') {
                return NGX_WS_JSON_INVALID;
            }

            j->p++;

            rc = ngx_ws_json_string(j, NULL, 0, &len);
            if (rc != NGX_OK) {
                return rc;
            }

            ngx_ws_json_space(j);

            if (j->p == j->end || *j->p != ':') {
                return NGX_WS_JSON_INVALID;
            }

            j->p++;
            ngx_ws_json_space(j);
        }

        rc = ngx_ws_json_value(j, depth + 1);
        if (rc != NGX_OK) {
            return rc;
        }

        ngx_ws_json_space(j);

        if (j->p == j->end) {
            return NGX_WS_JSON_INVALID;
        }

        if (*j->p == close) {
            j->p++;
            return NGX_OK;
        }

        if (*j->p != ',') {
            return NGX_WS_JSON_INVALID;
        }

        j->p++;
        ngx_ws_json_space(j);
    }
}


/* -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)? */

static ngx_int_t
ngx_ws_json_number(ngx_ws_json_t *j)
{
    u_char  *p;

    p = j->p;

    if (p < j->end && *p == '-') {
        p++;
    }

    if (p == j->end || *p < '0' || *p > '9') {
        return NGX_WS_JSON_INVALID;
    }

    if (*p == '0') {
        p++;

    } else {
        while (p < j->end && *p >= '0' && *p <= '9') {
            p++;
        }
    }

    if (p < j->end && *p == '.') {
        p++;

        if (p == j->end || *p < '0' || *p > '9') {
            return NGX_WS_JSON_INVALID;
        }

        while (p < j->end && *p >= '0' && *p <= '9') {
            p++;
        }
    }

    if (p < j->end && (*p == 'e' || *p == 'E')) {
        p++;

        if (p < j->end && (*p == '+' || *p == '-')) {
            p++;
        }

        if (p == j->end || *p < '0' || *p > '9') {
            return NGX_WS_JSON_INVALID;
        }

        while (p < j->end && *p >= '0' && *p <= '9') {
            p++;
        }
    }

    j->p = p;

    return NGX_OK;
}


static ngx_int_t
ngx_ws_json_literal(ngx_ws_json_t *j, char *word, size_t len)
{
    if ((size_t) (j->end - j->p) < len
        || ngx_memcmp(j->p, word, len) != 0)
    {
        return NGX_WS_JSON_INVALID;
    }

    j->p += len;

    return NGX_OK;
}
