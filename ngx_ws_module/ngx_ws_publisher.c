
/*
 * Copyright (C) ngx_ws_module authors
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include "ngx_ws_module.h"
#include "ngx_ws_zone.h"


/*
 * The HTTP publisher endpoint (ws_publisher): an application POSTs a
 * message to a channel or to one connection's own channel, GETs what a
 * channel holds, or DELETEs it.  It is one more way into the channel code,
 * beside a client's ws_publish and the X-WS-* replies of upstream events.
 */


static void ngx_ws_publisher_body(ngx_http_request_t *r);
static void ngx_ws_publisher_redis(ngx_http_request_t *r, ngx_ws_zone_t *zone,
    ngx_str_t *name, ngx_ws_policy_t *pol, ngx_uint_t opcode, u_char *data,
    size_t len);
static void ngx_ws_publisher_redis_done(void *data, ngx_int_t rc,
    uint64_t id);
static void ngx_ws_publisher_redis_counted(void *data, ngx_int_t rc,
    ngx_uint_t subscribers, uint64_t last_id, ngx_array_t *members);
static void ngx_ws_publisher_unavailable(ngx_http_request_t *r);
static void ngx_ws_publisher_refused(ngx_http_request_t *r,
    ngx_ws_zone_t *zone, ngx_int_t rc, size_t len, char *what,
    ngx_str_t *name);
static void ngx_ws_publisher_pushed(void *data, ngx_int_t rc);
static ngx_int_t ngx_ws_publisher_count(ngx_http_request_t *r,
    ngx_ws_zone_t *zone, ngx_str_t *name, ngx_uint_t listing);
static void ngx_ws_publisher_counted(void *data, ngx_int_t rc,
    ngx_uint_t subscribers, uint64_t last_id, ngx_array_t *members);
static ngx_int_t ngx_ws_publisher_tell(ngx_http_request_t *r,
    ngx_ws_zone_t *zone, ngx_str_t *name, ngx_uint_t listing,
    ngx_uint_t remote, uint64_t remote_id, ngx_array_t *others);
static u_char *ngx_ws_publisher_members(ngx_http_request_t *r,
    ngx_ws_channel_node_t *cn, ngx_array_t *others, size_t *len);
static ngx_uint_t ngx_ws_publisher_flag(ngx_http_request_t *r, char *name);
static ngx_int_t ngx_ws_publisher_policy(ngx_http_request_t *r,
    ngx_ws_policy_t *pol);


/* ws_publisher: POST publishes, GET tells, DELETE removes */

ngx_int_t
ngx_ws_publisher_handler(ngx_http_request_t *r)
{
    u_char                 *p;
    uint64_t                workers, uid;
    ngx_int_t               rc;
    ngx_str_t               name;
    ngx_uint_t              subscribers, listing;
    ngx_ws_zone_t          *zone;
    ngx_ws_loc_conf_t      *wlcf;
    ngx_ws_channel_node_t  *cn;
    u_char                  buf[256];

    wlcf = ngx_http_get_module_loc_conf(r, ngx_ws_module);
    zone = wlcf->publisher;

    if (r->method == NGX_HTTP_POST) {
        r->request_body_in_single_buf = 1;

        rc = ngx_http_read_client_request_body(r, ngx_ws_publisher_body);

        if (rc >= NGX_HTTP_SPECIAL_RESPONSE) {
            return rc;
        }

        return NGX_DONE;
    }

    if (r->method != NGX_HTTP_GET && r->method != NGX_HTTP_DELETE) {
        return NGX_HTTP_NOT_ALLOWED;
    }

    rc = ngx_http_discard_request_body(r);

    if (rc != NGX_OK) {
        return rc;
    }

    if (ngx_ws_publisher_arg(r, "channel", &name) != NGX_OK) {
        return NGX_HTTP_BAD_REQUEST;
    }

    if (ngx_ws_channel_name(zone, &name, NGX_LOG_INFO, "client",
                            r->connection->log)
        != NGX_OK)
    {
        return NGX_HTTP_BAD_REQUEST;
    }

    listing = (r->method == NGX_HTTP_GET
               && ngx_ws_publisher_flag(r, "members"));

    if (r->method == NGX_HTTP_GET) {
        if (ngx_ws_redis_shares(zone->redis)) {
            /* with the subscribers of the other instances */
            return ngx_ws_publisher_count(r, zone, &name, listing);
        }

        return ngx_ws_publisher_tell(r, zone, &name, listing, 0, 0, NULL);
    }

    /* DELETE: the channel as this instance's zone has it */

    ngx_shmtx_lock(&zone->shpool->mutex);

    cn = ngx_ws_channel_lookup(zone, &name, 0);

    if (cn == NULL) {
        ngx_shmtx_unlock(&zone->shpool->mutex);
        return NGX_HTTP_NOT_FOUND;
    }

    subscribers = cn->subscribers;
    workers = cn->workers;
    uid = cn->uid;

    ngx_ws_channel_delete(zone, cn);

    ngx_shmtx_unlock(&zone->shpool->mutex);

    if (ngx_ws_redis_shares(zone->redis)) {
        ngx_ws_redis_channel_gone(zone, &name);
    }

    ngx_ws_channel_notify(zone, workers, uid);

    p = ngx_snprintf(buf, sizeof(buf),
                     "{\"deleted\":true,\"subscribers\":%ui}\n",
                     subscribers);

    return ngx_ws_publisher_json(r, buf, p - buf);
}


/*
 * GET ?channel=: what the zone has of the channel; remote counts the
 * subscribers of the other instances of a Redis-backed zone, remote_id the
 * channel's last id in Redis (0: none), others their members (or NULL).
 * 404 for a channel nobody has.
 */

static ngx_int_t
ngx_ws_publisher_tell(ngx_http_request_t *r, ngx_ws_zone_t *zone,
    ngx_str_t *name, ngx_uint_t listing, ngx_uint_t remote,
    uint64_t remote_id, ngx_array_t *others)
{
    u_char                 *p, *json, *members;
    size_t                  len;
    uint64_t                last_id;
    ngx_uint_t              subscribers, count;
    ngx_ws_channel_node_t  *cn;

    members = NULL;
    len = 0;
    subscribers = 0;
    last_id = 0;
    count = 0;

    ngx_shmtx_lock(&zone->shpool->mutex);

    cn = ngx_ws_channel_lookup(zone, name, 0);

    if (cn == NULL && remote == 0 && remote_id == 0) {
        ngx_shmtx_unlock(&zone->shpool->mutex);
        return NGX_HTTP_NOT_FOUND;
    }

    if (listing && others) {
        /* the instance's members and those of the others */

        members = ngx_ws_publisher_members(r, cn, others, &len);
        if (members == NULL) {
            ngx_shmtx_unlock(&zone->shpool->mutex);
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

    } else if (listing && cn) {
        /* the worker's own memory: nothing in the zone is waited for */

        members = ngx_pnalloc(r->pool, ngx_ws_presence_json_len(cn));
        if (members == NULL) {
            ngx_shmtx_unlock(&zone->shpool->mutex);
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        len = ngx_ws_presence_json(members, cn) - members;
    }

    if (cn) {
        ngx_ws_channel_trim(zone, cn);

        subscribers = cn->subscribers;
        last_id = cn->last_id;
        count = cn->last_id + 1 - ngx_ws_channel_first(zone, cn);
    }

    ngx_shmtx_unlock(&zone->shpool->mutex);

    subscribers += remote;

    if (remote_id > last_id) {
        last_id = remote_id;
    }

    if (listing && members == NULL) {
        members = (u_char *) "[]";
        len = 2;
    }

    json = ngx_pnalloc(r->pool, name->len
                                + ngx_escape_json(NULL, name->data, name->len)
                                + len + 128);
    if (json == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    p = ngx_cpymem(json, "{\"channel\":\"", sizeof("{\"channel\":\"") - 1);
    p = (u_char *) ngx_escape_json(p, name->data, name->len);
    p = ngx_sprintf(p, "\",\"subscribers\":%ui,\"last_id\":%uL,"
                    "\"history\":%ui",
                    subscribers, last_id, count);

    if (listing) {
        p = ngx_cpymem(p, ",\"members\":", sizeof(",\"members\":") - 1);
        p = ngx_cpymem(p, members, len);
    }

    *p++ = '}';
    *p++ = LF;

    return ngx_ws_publisher_json(r, json, p - json);
}


/* GET ?channel= of a Redis-backed zone: the request waits for Redis */

typedef struct {
    ngx_http_request_t         *r;
    ngx_ws_zone_t              *zone;
    ngx_str_t                   name;
    ngx_uint_t                  listing;
} ngx_ws_publisher_count_t;


static ngx_int_t
ngx_ws_publisher_count(ngx_http_request_t *r, ngx_ws_zone_t *zone,
    ngx_str_t *name, ngx_uint_t listing)
{
    ngx_ws_publisher_count_t  *pc;

    pc = ngx_palloc(r->pool, sizeof(ngx_ws_publisher_count_t));
    if (pc == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    pc->r = r;
    pc->zone = zone;
    pc->name = *name;
    pc->listing = listing;

    r->main->count++;

    if (ngx_ws_redis_count(zone, name, listing, ngx_ws_publisher_counted, pc)
        != NGX_OK)
    {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "channel \"%V\" not counted: redis \"%V\" is "
                      "unavailable or busy", name, &zone->redis->addr);

        ngx_ws_publisher_unavailable(r);
    }

    return NGX_DONE;
}


static void
ngx_ws_publisher_counted(void *data, ngx_int_t rc, ngx_uint_t subscribers,
    uint64_t last_id, ngx_array_t *members)
{
    ngx_ws_publisher_count_t *pc = data;

    if (rc != NGX_OK) {
        ngx_ws_publisher_unavailable(pc->r);
        return;
    }

    ngx_http_finalize_request(pc->r,
                              ngx_ws_publisher_tell(pc->r, pc->zone,
                                                    &pc->name, pc->listing,
                                                    subscribers, last_id,
                                                    members));
}


/*
 * With the zone locked: the members of the channel on this instance (cn,
 * or NULL) and on the others, the connections of an identity summed, as
 * JSON: [{"id":"alice","connections":3},...]
 */

static u_char *
ngx_ws_publisher_members(ngx_http_request_t *r, ngx_ws_channel_node_t *cn,
    ngx_array_t *others, size_t *len)
{
    u_char                 *json, *p;
    size_t                  size;
    ngx_uint_t              i, k, n;
    ngx_array_t             all;
    ngx_ws_sh_member_t     *m;
    ngx_ws_redis_member_t  *o, *a;

    if (ngx_array_init(&all, r->pool, 8, sizeof(ngx_ws_redis_member_t))
        != NGX_OK)
    {
        return NULL;
    }

    for (m = cn ? cn->members : NULL; m; m = m->next) {
        a = ngx_array_push(&all);
        if (a == NULL) {
            return NULL;
        }

        a->id.len = m->len;
        a->id.data = ngx_pnalloc(r->pool, m->len);
        if (a->id.data == NULL) {
            return NULL;
        }

        ngx_memcpy(a->id.data, m->id, m->len);
        a->n = m->n;
    }

    n = all.nelts;
    o = others->elts;

    for (i = 0; i < others->nelts; i++) {
        a = all.elts;

        for (k = 0; k < n; k++) {
            if (a[k].id.len == o[i].id.len
                && ngx_strncmp(a[k].id.data, o[i].id.data, o[i].id.len) == 0)
            {
                break;
            }
        }

        if (k < n) {
            a[k].n += o[i].n;
            continue;
        }

        /* the others' ids are distinct already, and kept by the caller */

        a = ngx_array_push(&all);
        if (a == NULL) {
            return NULL;
        }

        *a = o[i];
    }

    a = all.elts;
    size = sizeof("[]") - 1;

    for (k = 0; k < all.nelts; k++) {
        size += sizeof("{\"id\":\"\",\"connections\":},") - 1 + NGX_INT_T_LEN
                + a[k].id.len
                + ngx_escape_json(NULL, a[k].id.data, a[k].id.len);
    }

    json = ngx_pnalloc(r->pool, size);
    if (json == NULL) {
        return NULL;
    }

    p = json;
    *p++ = '[';

    for (k = 0; k < all.nelts; k++) {
        p = ngx_cpymem(p, "{\"id\":\"", sizeof("{\"id\":\"") - 1);
        p = (u_char *) ngx_escape_json(p, a[k].id.data, a[k].id.len);
        p = ngx_sprintf(p, "\",\"connections\":%ui}%s", a[k].n,
                        (k + 1 < all.nelts) ? "," : "");
    }

    *p++ = ']';
    *len = p - json;

    return json;
}


/* an argument without a value, "?channel=a&members" */

static ngx_uint_t
ngx_ws_publisher_flag(ngx_http_request_t *r, char *name)
{
    u_char  *p, *last, *end;
    size_t   len;

    len = ngx_strlen(name);
    p = r->args.data;
    last = p + r->args.len;

    while (p < last) {
        end = ngx_strlchr(p, last, '&');

        if (end == NULL) {
            end = last;
        }

        if ((size_t) (end - p) >= len && ngx_strncmp(p, name, len) == 0
            && (p + len == end || p[len] == '='))
        {
            return 1;
        }

        p = end + 1;
    }

    return 0;
}


static void
ngx_ws_publisher_body(ngx_http_request_t *r)
{
    ngx_str_t           name, type;
    ngx_uint_t          push;
    ngx_ws_zone_t      *zone;
    ngx_ws_loc_conf_t  *wlcf;

    wlcf = ngx_http_get_module_loc_conf(r, ngx_ws_module);
    zone = wlcf->publisher;

    push = 0;

    if (ngx_ws_publisher_arg(r, "channel", &name) != NGX_OK) {

        if (ngx_ws_publisher_arg(r, "id", &type) != NGX_OK) {
            ngx_http_finalize_request(r, NGX_HTTP_BAD_REQUEST);
            return;
        }

        /* a connection's own channel */

        name.data = ngx_pnalloc(r->pool, type.len + 1);
        if (name.data == NULL) {
            ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
            return;
        }

        name.data[0] = '@';
        ngx_memcpy(name.data + 1, type.data, type.len);
        name.len = type.len + 1;
        push = 1;

    } else if (ngx_ws_channel_name(zone, &name, NGX_LOG_INFO, "client",
                                   r->connection->log)
               != NGX_OK)
    {
        ngx_http_finalize_request(r, NGX_HTTP_BAD_REQUEST);
        return;
    }

    ngx_ws_publisher_post(r, zone, &name, push);
}


/*
 * The message policy of a published message (docs/message-policy.md):
 * "X-WS-Class: normal|droppable|critical" and "X-WS-Conflate: KEY".
 */

static ngx_int_t
ngx_ws_publisher_policy(ngx_http_request_t *r, ngx_ws_policy_t *pol)
{
    ngx_table_elt_t  *h;

    static ngx_str_t  cls = ngx_string("X-WS-Class");
    static ngx_str_t  key = ngx_string("X-WS-Conflate");

    pol->cls = NGX_WS_CLASS_NORMAL;
    ngx_str_null(&pol->key);

    h = ngx_ws_find_header(&r->headers_in.headers, &cls, NULL);

    if (h && ngx_ws_policy_class(&h->value, &pol->cls) != NGX_OK) {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "client sent an invalid X-WS-Class \"%V\"",
                      &h->value);
        return NGX_DECLINED;
    }

    h = ngx_ws_find_header(&r->headers_in.headers, &key, NULL);

    if (h) {
        pol->key = h->value;
    }

    return NGX_OK;
}


/*
 * The request body, read, goes to channel name (a connection's own with
 * push): from ws_publisher and from the connections API (ngx_ws_conns.c).
 * Finalizes the request.
 */

void
ngx_ws_publisher_post(ngx_http_request_t *r, ngx_ws_zone_t *zone,
    ngx_str_t *name, ngx_uint_t push)
{
    u_char       *data, *p;
    size_t        len;
    ssize_t       n;
    uint64_t         id;
    ngx_int_t        rc;
    ngx_str_t        type;
    ngx_buf_t       *b;
    ngx_uint_t       opcode, subscribers;
    ngx_chain_t     *cl;
    ngx_ws_policy_t  pol;
    u_char           buf[128];

    /* the body, in one piece */

    len = 0;

    for (cl = r->request_body ? r->request_body->bufs : NULL;
         cl;
         cl = cl->next)
    {
        len += ngx_buf_size(cl->buf);
    }

    data = NULL;

    if (len) {
        data = ngx_pnalloc(r->pool, len);
        if (data == NULL) {
            ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
            return;
        }

        p = data;

        for (cl = r->request_body->bufs; cl; cl = cl->next) {
            b = cl->buf;

            if (b->in_file) {
                n = ngx_read_file(b->file, p, (size_t) (b->file_last
                                                        - b->file_pos),
                                  b->file_pos);
                if (n == NGX_ERROR) {
                    ngx_http_finalize_request(r,
                                              NGX_HTTP_INTERNAL_SERVER_ERROR);
                    return;
                }

                p += n;

            } else {
                p = ngx_cpymem(p, b->pos, b->last - b->pos);
            }
        }

        len = p - data;
    }

    opcode = r->headers_in.content_type
             ? ngx_ws_content_opcode(&r->headers_in.content_type->value)
             : NGX_WS_OP_BINARY;

    if (ngx_http_arg(r, (u_char *) "type", 4, &type) == NGX_OK) {
        if (type.len == 4 && ngx_strncmp(type.data, "text", 4) == 0) {
            opcode = NGX_WS_OP_TEXT;

        } else if (type.len == 6 && ngx_strncmp(type.data, "binary", 6) == 0) {
            opcode = NGX_WS_OP_BINARY;

        } else {
            ngx_http_finalize_request(r, NGX_HTTP_BAD_REQUEST);
            return;
        }
    }

    if (opcode == NGX_WS_OP_TEXT
        && ngx_ws_utf8_validate(NGX_WS_UTF8_ACCEPT, data, len)
           != NGX_WS_UTF8_ACCEPT)
    {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "client sent a text message that is not UTF-8");
        ngx_http_finalize_request(r, NGX_HTTP_BAD_REQUEST);
        return;
    }

    if (ngx_ws_publisher_policy(r, &pol) != NGX_OK) {
        ngx_http_finalize_request(r, NGX_HTTP_BAD_REQUEST);
        return;
    }

    if (zone->redis && !push) {
        /* through Redis: answered when Redis has taken it */
        ngx_ws_publisher_redis(r, zone, name, &pol, opcode, data, len);
        return;
    }

    rc = ngx_ws_publish_pol(zone, name, push, &pol, opcode, data, len, &id,
                            &subscribers);

    if (rc == NGX_DECLINED && push && ngx_ws_redis_shares(zone->redis)) {
        /* not here: to the instance that has it, through Redis */
        ngx_ws_publisher_push(r, zone, name, opcode, data, len);
        return;
    }

    if (rc == NGX_DECLINED) {
        ngx_http_finalize_request(r, NGX_HTTP_NOT_FOUND);
        return;
    }

    if (rc != NGX_OK) {
        ngx_ws_zone_refused(zone, rc, len, r->connection->log);
        ngx_http_finalize_request(r, (rc == NGX_WS_ZONE_TOO_BIG)
                                     ? NGX_HTTP_REQUEST_ENTITY_TOO_LARGE
                                     : 507);
        return;
    }

    p = ngx_snprintf(buf, sizeof(buf), "{\"id\":%uL,\"subscribers\":%ui}\n",
                     id, subscribers);

    ngx_http_finalize_request(r, ngx_ws_publisher_json(r, buf, p - buf));
}


/*
 * To a Redis-backed zone: the request waits for Redis's answer (the body's
 * reference keeps it); 503 with a JSON body when Redis is unavailable or
 * fails.  "subscribers" counts those of all instances, as GET ?channel=
 * does (those of this one alone if the count fails: the message went);
 * the count is sent with the publish, not after its answer, and the
 * request is answered when both have come.
 */

typedef struct {
    ngx_http_request_t         *r;
    ngx_ws_zone_t              *zone;
    ngx_str_t                   name;
    uint64_t                    id;
    ngx_int_t                   rc;               /* the publish's */
    ngx_uint_t                  others;           /* counted elsewhere */
    ngx_uint_t                  waiting;          /* answers to come */
} ngx_ws_publisher_redis_t;


static void ngx_ws_publisher_redis_answer(ngx_ws_publisher_redis_t *pr);


static void
ngx_ws_publisher_redis(ngx_http_request_t *r, ngx_ws_zone_t *zone,
    ngx_str_t *name, ngx_ws_policy_t *pol, ngx_uint_t opcode, u_char *data,
    size_t len)
{
    ngx_int_t                  rc;
    ngx_ws_publisher_redis_t  *pr;

    pr = ngx_palloc(r->pool, sizeof(ngx_ws_publisher_redis_t));
    if (pr == NULL) {
        ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    pr->r = r;
    pr->zone = zone;
    pr->name = *name;
    pr->id = 0;
    pr->rc = NGX_ERROR;
    pr->others = 0;
    pr->waiting = 2;

    rc = ngx_ws_redis_publish(zone, name, pol, opcode, data, len,
                              ngx_ws_publisher_redis_done, pr);

    if (rc != NGX_OK) {
        ngx_ws_publisher_refused(r, zone, rc, len, "channel", name);
        return;
    }

    /* the subscribers of the other instances, as GET ?channel= */

    if (ngx_ws_redis_count(zone, name, 0, ngx_ws_publisher_redis_counted, pr)
        != NGX_OK)
    {
        pr->waiting--;
    }
}


/* a message that Redis did not take: 413, or 503 with a JSON body */

static void
ngx_ws_publisher_refused(ngx_http_request_t *r, ngx_ws_zone_t *zone,
    ngx_int_t rc, size_t len, char *what, ngx_str_t *name)
{
    if (rc == NGX_WS_ZONE_TOO_BIG) {
        ngx_ws_zone_refused(zone, rc, len, r->connection->log);
        ngx_http_finalize_request(r, NGX_HTTP_REQUEST_ENTITY_TOO_LARGE);
        return;
    }

    ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                  "message to %s \"%V\" refused: redis \"%V\" %s",
                  what, name, &zone->redis->addr,
                  (rc == NGX_BUSY) ? "has too many commands in flight"
                                   : "is unavailable");

    ngx_ws_publisher_unavailable(r);
}


static void
ngx_ws_publisher_redis_done(void *data, ngx_int_t rc, uint64_t id)
{
    ngx_ws_publisher_redis_t *pr = data;

    pr->rc = rc;
    pr->id = id;

    if (--pr->waiting == 0) {
        ngx_ws_publisher_redis_answer(pr);
    }
}


static void
ngx_ws_publisher_redis_counted(void *data, ngx_int_t rc,
    ngx_uint_t subscribers, uint64_t last_id, ngx_array_t *members)
{
    ngx_ws_publisher_redis_t *pr = data;

    if (rc == NGX_OK) {
        pr->others = subscribers;
    }

    if (--pr->waiting == 0) {
        ngx_ws_publisher_redis_answer(pr);
    }
}


static void
ngx_ws_publisher_redis_answer(ngx_ws_publisher_redis_t *pr)
{
    u_char                 *p, buf[128];
    ngx_uint_t              n;
    ngx_http_request_t     *r;
    ngx_ws_channel_node_t  *cn;

    r = pr->r;

    if (pr->rc != NGX_OK) {
        ngx_ws_publisher_unavailable(r);
        return;
    }

    ngx_shmtx_lock(&pr->zone->shpool->mutex);

    cn = ngx_ws_channel_lookup(pr->zone, &pr->name, 0);
    n = cn ? cn->subscribers : 0;

    ngx_shmtx_unlock(&pr->zone->shpool->mutex);

    n += pr->others;

    p = ngx_snprintf(buf, sizeof(buf), "{\"id\":%uL,\"subscribers\":%ui}\n",
                     pr->id, n);

    ngx_http_finalize_request(r, ngx_ws_publisher_json(r, buf, p - buf));
}


/*
 * A message (or a Close: opcode 8, the connections API's DELETE) to a
 * connection that is not on this instance: to the instance that has it,
 * through Redis.  Finalizes the request: 200 {"id":null,"subscribers":1}
 * (the id is the other instance's to give), 202 for a Close, 404 when no
 * instance has it, 503 when Redis is unavailable.  name is "@ID".
 */

void
ngx_ws_publisher_push(ngx_http_request_t *r, ngx_ws_zone_t *zone,
    ngx_str_t *name, ngx_uint_t opcode, u_char *data, size_t len)
{
    ngx_int_t   rc;
    ngx_str_t   id;

    id.data = name->data + 1;
    id.len = name->len - 1;

    rc = ngx_ws_redis_push(zone, &id, opcode, data, len,
                           ngx_ws_publisher_pushed, r);

    if (rc != NGX_OK) {
        ngx_ws_publisher_refused(r, zone, rc, len, "connection", &id);
    }
}


static void
ngx_ws_publisher_pushed(void *data, ngx_int_t rc)
{
    ngx_http_request_t *r = data;

    u_char     *p, buf[64];
    ngx_int_t   code;
    ngx_str_t   arg;

    static u_char  sent[] = "{\"id\":null,\"subscribers\":1}\n";

    if (rc == NGX_DECLINED) {
        ngx_http_finalize_request(r, NGX_HTTP_NOT_FOUND);
        return;
    }

    if (rc != NGX_OK) {
        ngx_ws_publisher_unavailable(r);
        return;
    }

    if (r->method == NGX_HTTP_DELETE) {
        /* the connections API's answer, its arguments checked already */

        if (ngx_ws_publisher_arg(r, "auth", &arg) == NGX_OK) {
            p = ngx_sprintf(buf, "{\"revoked\":true}\n");

        } else {
            code = NGX_WS_CLOSE_NORMAL;

            if (ngx_ws_publisher_arg(r, "code", &arg) == NGX_OK) {
                code = ngx_atoi(arg.data, arg.len);
            }

            p = ngx_sprintf(buf, "{\"closing\":true,\"code\":%i}\n", code);
        }

        r->headers_out.status = NGX_HTTP_ACCEPTED;
        ngx_http_finalize_request(r, ngx_ws_publisher_json(r, buf, p - buf));
        return;
    }

    ngx_http_finalize_request(r, ngx_ws_publisher_json(r, sent,
                                                       sizeof(sent) - 1));
}


static void
ngx_ws_publisher_unavailable(ngx_http_request_t *r)
{
    static u_char  json[] = "{\"error\":\"redis unavailable\"}\n";

    r->headers_out.status = NGX_HTTP_SERVICE_UNAVAILABLE;

    ngx_http_finalize_request(r,
                              ngx_ws_publisher_json(r, json, sizeof(json) - 1));
}


ngx_int_t
ngx_ws_publisher_arg(ngx_http_request_t *r, char *name, ngx_str_t *value)
{
    u_char     *dst, *src;
    ngx_str_t   raw;

    if (ngx_http_arg(r, (u_char *) name, ngx_strlen(name), &raw) != NGX_OK
        || raw.len == 0)
    {
        return NGX_DECLINED;
    }

    dst = ngx_pnalloc(r->pool, raw.len);
    if (dst == NULL) {
        return NGX_ERROR;
    }

    value->data = dst;
    src = raw.data;

    ngx_unescape_uri(&dst, &src, raw.len, NGX_UNESCAPE_URI);

    value->len = dst - value->data;

    return value->len ? NGX_OK : NGX_DECLINED;
}


ngx_int_t
ngx_ws_publisher_json(ngx_http_request_t *r, u_char *json, size_t len)
{
    ngx_int_t     rc;
    ngx_buf_t    *b;
    ngx_chain_t   out;

    b = ngx_create_temp_buf(r->pool, len);
    if (b == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    b->last = ngx_cpymem(b->last, json, len);
    b->last_buf = (r == r->main) ? 1 : 0;
    b->last_in_chain = 1;

    if (r->headers_out.status == 0) {
        r->headers_out.status = NGX_HTTP_OK;
    }

    r->headers_out.content_length_n = len;
    ngx_str_set(&r->headers_out.content_type, "application/json");
    r->headers_out.content_type_len = r->headers_out.content_type.len;

    rc = ngx_http_send_header(r);

    if (rc == NGX_ERROR || rc > NGX_OK || r->header_only) {
        return rc;
    }

    out.buf = b;
    out.next = NULL;

    return ngx_http_output_filter(r, &out);
}
