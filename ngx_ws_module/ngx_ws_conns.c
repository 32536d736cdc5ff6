
/*
 * Copyright (C) ngx_ws_module authors
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include "ngx_ws_module.h"
#include "ngx_ws_zone.h"


/*
 * The connections API (ws_connections): GET lists the connections of a
 * ws_push zone a page at a time, or tells one; POST sends it a message;
 * DELETE has its owner worker close it.  It reads the registry
 * (ngx_ws_registry.c) and reaches a connection through its push channel,
 * as ws_publisher does: it never touches another worker's connection.
 */


#define NGX_WS_CONNS_LIMIT         100
#define NGX_WS_CONNS_MAX_LIMIT     1000
#define NGX_WS_CONNS_MAX_SCAN      10000      /* records looked at a page */


static ngx_int_t ngx_ws_conns_list(ngx_http_request_t *r,
    ngx_ws_zone_t *zone);
static ngx_int_t ngx_ws_conns_one(ngx_http_request_t *r, ngx_ws_zone_t *zone,
    ngx_str_t *id);
static ngx_int_t ngx_ws_conns_close(ngx_http_request_t *r,
    ngx_ws_zone_t *zone, ngx_str_t *id);
static void ngx_ws_conns_body(ngx_http_request_t *r);
static ngx_int_t ngx_ws_conns_send(ngx_http_request_t *r, ngx_uint_t status,
    ngx_chain_t *out, size_t len);
static ngx_int_t ngx_ws_conns_id(ngx_str_t *id);


ngx_int_t
ngx_ws_conns_handler(ngx_http_request_t *r)
{
    ngx_int_t           rc;
    ngx_str_t           id;
    ngx_ws_zone_t      *zone;
    ngx_ws_loc_conf_t  *wlcf;

    wlcf = ngx_http_get_module_loc_conf(r, ngx_ws_module);
    zone = wlcf->connections;

    if (zone->sh == NULL || zone->slot == -1) {
        return NGX_HTTP_SERVICE_UNAVAILABLE;
    }

    if (r->method == NGX_HTTP_POST) {
        if (ngx_ws_publisher_arg(r, "id", &id) != NGX_OK
            || ngx_ws_conns_id(&id) != NGX_OK)
        {
            return NGX_HTTP_BAD_REQUEST;
        }

        r->request_body_in_single_buf = 1;

        rc = ngx_http_read_client_request_body(r, ngx_ws_conns_body);

        if (rc >= NGX_HTTP_SPECIAL_RESPONSE) {
            return rc;
        }

        return NGX_DONE;
    }

    if (r->method != NGX_HTTP_GET && r->method != NGX_HTTP_HEAD
        && r->method != NGX_HTTP_DELETE)
    {
        return NGX_HTTP_NOT_ALLOWED;
    }

    rc = ngx_http_discard_request_body(r);

    if (rc != NGX_OK) {
        return rc;
    }

    if (ngx_ws_publisher_arg(r, "id", &id) != NGX_OK) {
        if (r->method == NGX_HTTP_DELETE) {
            return NGX_HTTP_BAD_REQUEST;
        }

        return ngx_ws_conns_list(r, zone);
    }

    if (ngx_ws_conns_id(&id) != NGX_OK) {
        return NGX_HTTP_BAD_REQUEST;
    }

    if (r->method == NGX_HTTP_DELETE) {
        return ngx_ws_conns_close(r, zone, &id);
    }

    return ngx_ws_conns_one(r, zone, &id);
}


/*
 * A page: the connections after the cursor (?after=, from the "next" of
 * the previous page), in the order they came, that pass the filters.  At
 * most NGX_WS_CONNS_MAX_SCAN records are looked at under the lock: a page
 * may then hold fewer than limit, its "next" says where to go on.
 */

static ngx_int_t
ngx_ws_conns_list(ngx_http_request_t *r, ngx_ws_zone_t *zone)
{
    u_char                *p;
    size_t                 len, total;
    uint64_t               after, last;
    ngx_int_t              n;
    ngx_str_t              arg;
    ngx_buf_t             *b;
    ngx_uint_t             limit, count, scanned, more;
    ngx_chain_t           *out, **ll, *cl;
    ngx_ws_conn_rec_t     *rec;
    ngx_ws_conn_filter_t   flt;

    ngx_memzero(&flt, sizeof(ngx_ws_conn_filter_t));

    limit = NGX_WS_CONNS_LIMIT;
    after = 0;

    if (ngx_ws_publisher_arg(r, "limit", &arg) == NGX_OK) {
        n = ngx_atoi(arg.data, arg.len);

        if (n <= 0) {
            return NGX_HTTP_BAD_REQUEST;
        }

        limit = ngx_min((ngx_uint_t) n, NGX_WS_CONNS_MAX_LIMIT);
    }

    if (ngx_ws_publisher_arg(r, "after", &arg) == NGX_OK) {
        for (p = arg.data; p < arg.data + arg.len; p++) {
            if (*p < '0' || *p > '9' || after > ((uint64_t) -1) / 10) {
                return NGX_HTTP_BAD_REQUEST;
            }

            after = after * 10 + (*p - '0');
        }
    }

    (void) ngx_ws_publisher_arg(r, "location", &flt.location);
    (void) ngx_ws_publisher_arg(r, "channel", &flt.channel);

    if (ngx_ws_publisher_arg(r, "header", &arg) == NGX_OK) {
        p = ngx_strlchr(arg.data, arg.data + arg.len, ':');

        if (p == NULL || p == arg.data) {
            return NGX_HTTP_BAD_REQUEST;
        }

        flt.header.data = arg.data;
        flt.header.len = p - arg.data;
        flt.value.data = p + 1;
        flt.value.len = arg.data + arg.len - (p + 1);
    }

    b = ngx_create_temp_buf(r->pool, sizeof("{\"connections\":[") - 1);
    out = ngx_alloc_chain_link(r->pool);

    if (b == NULL || out == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    b->last = ngx_cpymem(b->last, "{\"connections\":[",
                         sizeof("{\"connections\":[") - 1);
    out->buf = b;
    ll = &out->next;

    total = b->last - b->pos;
    count = 0;
    scanned = 0;
    more = 0;
    last = after;

    ngx_shmtx_lock(&zone->shpool->mutex);

    for (rec = ngx_ws_registry_after(zone, after);
         rec;
         rec = ngx_ws_registry_next(zone, rec))
    {
        if (count == limit || scanned == NGX_WS_CONNS_MAX_SCAN) {
            more = 1;
            break;
        }

        scanned++;
        last = rec->node.key;

        if (!ngx_ws_registry_match(rec, &flt)) {
            continue;
        }

        len = ngx_ws_registry_json_len(rec) + 1;

        b = ngx_create_temp_buf(r->pool, len);
        cl = ngx_alloc_chain_link(r->pool);

        if (b == NULL || cl == NULL) {
            ngx_shmtx_unlock(&zone->shpool->mutex);
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        if (count) {
            *b->last++ = ',';
        }

        b->last = ngx_ws_registry_json(b->last, rec);
        total += b->last - b->pos;

        cl->buf = b;
        *ll = cl;
        ll = &cl->next;

        count++;
    }

    ngx_shmtx_unlock(&zone->shpool->mutex);

    /* {"connections":[...],"count":N,"next":"CURSOR"|null} */

    b = ngx_create_temp_buf(r->pool, sizeof("],\"count\":,\"next\":\"\"}\n")
                                     + 2 * NGX_INT64_LEN);
    cl = ngx_alloc_chain_link(r->pool);

    if (b == NULL || cl == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (more) {
        b->last = ngx_sprintf(b->last, "],\"count\":%ui,\"next\":\"%uL\"}\n",
                              count, last);

    } else {
        b->last = ngx_sprintf(b->last, "],\"count\":%ui,\"next\":null}\n",
                              count);
    }

    cl->buf = b;
    cl->next = NULL;
    *ll = cl;
    total += b->last - b->pos;

    return ngx_ws_conns_send(r, NGX_HTTP_OK, out, total);
}


static ngx_int_t
ngx_ws_conns_one(ngx_http_request_t *r, ngx_ws_zone_t *zone, ngx_str_t *id)
{
    size_t              len;
    ngx_buf_t          *b;
    ngx_chain_t         out;
    ngx_ws_conn_rec_t  *rec;

    ngx_shmtx_lock(&zone->shpool->mutex);

    rec = ngx_ws_registry_find(zone, id, r->pool);

    if (rec == NULL) {
        ngx_shmtx_unlock(&zone->shpool->mutex);
        return NGX_HTTP_NOT_FOUND;
    }

    len = ngx_ws_registry_json_len(rec) + 1;

    b = ngx_create_temp_buf(r->pool, len);
    if (b == NULL) {
        ngx_shmtx_unlock(&zone->shpool->mutex);
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    b->last = ngx_ws_registry_json(b->last, rec);
    *b->last++ = '\n';

    ngx_shmtx_unlock(&zone->shpool->mutex);

    out.buf = b;
    out.next = NULL;

    return ngx_ws_conns_send(r, NGX_HTTP_OK, &out, b->last - b->pos);
}


/*
 * DELETE ?id=&code=&reason=: a Close message in the connection's push
 * channel, which its owner worker is woken for and acts on
 * (ngx_ws_channel_deliver()).  The code is one a server may send, the
 * reason at most 123 bytes of UTF-8.
 */

static ngx_int_t
ngx_ws_conns_close(ngx_http_request_t *r, ngx_ws_zone_t *zone, ngx_str_t *id)
{
    u_char       *p;
    uint64_t      msg;
    ngx_int_t     code, rc;
    ngx_str_t     arg, reason, name;
    ngx_buf_t    *b;
    ngx_uint_t    subscribers;
    ngx_chain_t   out;
    u_char        data[NGX_WS_MAX_CONTROL];

    code = NGX_WS_CLOSE_NORMAL;

    /*
     * ?auth=revoke: the answers of ws_message_auth_request are forgotten
     * and the connection stays; a Close message without a code
     */

    if (ngx_ws_publisher_arg(r, "auth", &arg) == NGX_OK) {
        if (arg.len != 6 || ngx_strncmp(arg.data, "revoke", 6) != 0) {
            return NGX_HTTP_BAD_REQUEST;
        }

        code = 0;

    } else if (ngx_ws_publisher_arg(r, "code", &arg) == NGX_OK) {
        code = ngx_atoi(arg.data, arg.len);

        if (!((code >= 1000 && code <= 1003)
              || (code >= 1007 && code <= 1014)
              || (code >= 3000 && code <= 4999)))
        {
            ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                          "client asked for close code \"%V\", which a "
                          "server may not send", &arg);
            return NGX_HTTP_BAD_REQUEST;
        }
    }

    ngx_str_null(&reason);

    if (ngx_ws_publisher_arg(r, "reason", &reason) == NGX_OK
        && (reason.len > NGX_WS_MAX_CONTROL - 2
            || ngx_ws_utf8_validate(NGX_WS_UTF8_ACCEPT, reason.data,
                                    reason.len)
               != NGX_WS_UTF8_ACCEPT))
    {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "client sent a close reason over %d bytes or not "
                      "UTF-8", NGX_WS_MAX_CONTROL - 2);
        return NGX_HTTP_BAD_REQUEST;
    }

    data[0] = (u_char) (code >> 8);
    data[1] = (u_char) code;
    if (reason.len) {
        ngx_memcpy(data + 2, reason.data, reason.len);
    }

    name.len = id->len + 1;
    name.data = ngx_pnalloc(r->pool, name.len);
    if (name.data == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    name.data[0] = '@';
    ngx_memcpy(name.data + 1, id->data, id->len);

    rc = ngx_ws_publish(zone, &name, 1, NGX_WS_OP_CLOSE, data,
                        reason.len + 2, &msg, &subscribers);

    if (rc == NGX_DECLINED && ngx_ws_redis_shares(zone->redis)) {
        /* not here: to the instance that has it; finalized when answered */
        r->main->count++;
        ngx_ws_publisher_push(r, zone, &name, NGX_WS_OP_CLOSE, data,
                              reason.len + 2);
        return NGX_DONE;
    }

    if (rc == NGX_DECLINED) {
        return NGX_HTTP_NOT_FOUND;
    }

    if (rc != NGX_OK) {
        ngx_ws_zone_refused(zone, rc, reason.len + 2, r->connection->log);
        return 507;
    }

    b = ngx_create_temp_buf(r->pool, sizeof("{\"closing\":true,\"code\":}\n")
                                     + NGX_INT_T_LEN);
    if (b == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    p = code ? ngx_sprintf(b->last, "{\"closing\":true,\"code\":%i}\n", code)
             : ngx_sprintf(b->last, "{\"revoked\":true}\n");
    b->last = p;

    out.buf = b;
    out.next = NULL;

    return ngx_ws_conns_send(r, NGX_HTTP_ACCEPTED, &out, b->last - b->pos);
}


static void
ngx_ws_conns_body(ngx_http_request_t *r)
{
    ngx_str_t           id, name;
    ngx_ws_loc_conf_t  *wlcf;

    wlcf = ngx_http_get_module_loc_conf(r, ngx_ws_module);

    if (ngx_ws_publisher_arg(r, "id", &id) != NGX_OK) {
        ngx_http_finalize_request(r, NGX_HTTP_BAD_REQUEST);
        return;
    }

    name.len = id.len + 1;
    name.data = ngx_pnalloc(r->pool, name.len);
    if (name.data == NULL) {
        ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    name.data[0] = '@';
    ngx_memcpy(name.data + 1, id.data, id.len);

    ngx_ws_publisher_post(r, wlcf->connections, &name, 1);
}


static ngx_int_t
ngx_ws_conns_send(ngx_http_request_t *r, ngx_uint_t status, ngx_chain_t *out,
    size_t len)
{
    ngx_int_t     rc;
    ngx_chain_t  *cl;

    for (cl = out; cl->next; cl = cl->next) { /* void */ }

    cl->buf->last_buf = (r == r->main) ? 1 : 0;
    cl->buf->last_in_chain = 1;

    r->headers_out.status = status;
    r->headers_out.content_length_n = len;
    ngx_str_set(&r->headers_out.content_type, "application/json");
    r->headers_out.content_type_len = r->headers_out.content_type.len;

    rc = ngx_http_send_header(r);

    if (rc == NGX_ERROR || rc > NGX_OK || r->header_only) {
        return rc;
    }

    return ngx_http_output_filter(r, out);
}


/* a connection id is 32 hex digits: anything else names nobody */

static ngx_int_t
ngx_ws_conns_id(ngx_str_t *id)
{
    u_char  *p;

    if (id->len == 0 || id->len > 64) {
        return NGX_DECLINED;
    }

    for (p = id->data; p < id->data + id->len; p++) {
        if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f')
              || (*p >= 'A' && *p <= 'F')))
        {
            return NGX_DECLINED;
        }
    }

    return NGX_OK;
}
