
/*
 * Copyright (C) ngx_ws_module authors
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include <nginx.h>
#include "ngx_ws_module.h"
#include "ngx_ws_zone.h"


/*
 * Counters for the status page.  Each worker owns a slot of a small shared
 * memory zone and is the only writer of its counters, so counting is a
 * plain increment; the status handler of any worker reads every slot.  A
 * worker that exits adds its counters to "exited", so that the totals
 * only grow across reloads; the slot of a worker that died is reclaimed
 * the same way by the next reader or the next worker to start.
 */


#define NGX_WS_STATUS_SIZE    (128 * 1024)
#define NGX_WS_STATUS_STRIDE  ngx_align(sizeof(ngx_ws_stat_slot_t), 128)

#define NGX_WS_ZONE_METRICS       7
#define NGX_WS_REDIS_METRICS      12

#define NGX_WS_FORMAT_JSON        0
#define NGX_WS_FORMAT_PROMETHEUS  1


typedef struct {
    ngx_pid_t                   pid;
    ngx_ws_stats_t              stats;
} ngx_ws_stat_slot_t;


typedef struct {
    ngx_ws_stats_t              exited;
    ngx_uint_t                  reloads;
    ngx_atomic_t                generation;        /* of the newest cycle */
    u_char                      slots[1];          /* NGX_WS_STATUS_STRIDE */
} ngx_ws_stat_sh_t;


typedef struct {
    ngx_slab_pool_t            *shpool;
    ngx_ws_stat_sh_t           *sh;
    ngx_atomic_uint_t           generation;        /* of this cycle */
} ngx_ws_status_ctx_t;


/* the bodies are built in two passes: measure, then print */

typedef struct {
    u_char                     *pos;
    size_t                      len;
    ngx_uint_t                  format;
} ngx_ws_out_t;


static ngx_int_t ngx_ws_status_init_zone(ngx_shm_zone_t *shm_zone,
    void *data);
static ngx_ws_stat_slot_t *ngx_ws_status_slot(ngx_ws_stat_sh_t *sh,
    ngx_uint_t i);
static void ngx_ws_status_fold(ngx_ws_stats_t *to, ngx_ws_stats_t *from);
static void ngx_ws_stat_route_add(ngx_ws_stats_t *st, u_char *key,
    uint64_t n);
static void ngx_ws_status_reap(ngx_ws_stat_sh_t *sh);
static ngx_uint_t ngx_ws_status_format(ngx_http_request_t *r);
static void ngx_ws_status_print(ngx_ws_out_t *o, ngx_http_request_t *r,
    ngx_ws_stat_sh_t *sh, ngx_uint_t *slots, ngx_uint_t n);
static void ngx_ws_status_json_stats(ngx_ws_out_t *o, ngx_ws_stats_t *st,
    ngx_uint_t counters_only);
static void ngx_ws_status_prom_stats(ngx_ws_out_t *o, ngx_ws_stat_sh_t *sh,
    ngx_uint_t *slots, ngx_uint_t n);
static void ngx_ws_status_prom_routes(ngx_ws_out_t *o, ngx_ws_stat_sh_t *sh,
    ngx_uint_t *slots, ngx_uint_t n);
static ngx_ws_stats_t *ngx_ws_status_worker(ngx_ws_stat_sh_t *sh,
    ngx_uint_t *slots, ngx_uint_t n, ngx_uint_t w, u_char *label);
static void ngx_ws_status_zones(ngx_ws_out_t *o, ngx_http_request_t *r);
static void ngx_ws_status_redis(ngx_ws_out_t *o, ngx_ws_zone_t *zone,
    ngx_uint_t m, ngx_uint_t first);
static void ngx_ws_status_sentinel(ngx_ws_out_t *o, ngx_ws_zone_t **zones,
    ngx_uint_t n);
static void ngx_ws_status_cluster(ngx_ws_out_t *o, ngx_ws_zone_t **zones,
    ngx_uint_t n);
static void ngx_ws_out(ngx_ws_out_t *o, const char *fmt, ...);


static ngx_str_t  ngx_ws_status_zone_name = ngx_string("ngx_ws_module_status");

/*
 * The counters of this worker, counted from everywhere.  Unlike the zone
 * and the slot (in the main conf, which a reload replaces), this pointer
 * is a global for speed and is safe across reloads: a worker belongs to
 * one cycle and sets it at init_process to its slot in that cycle's zone,
 * and puts it back on the dummy at exit_process; the master never points
 * it anywhere else (it counts nothing), so no process can see a slot of a
 * zone it does not have.
 */

static ngx_ws_stats_t       ngx_ws_stats_none;
ngx_ws_stats_t             *ngx_ws_stats = &ngx_ws_stats_none;


/* the handshake statuses counted one by one; the rest are "other" */
static ngx_uint_t  ngx_ws_reject_codes[NGX_WS_STAT_REJECTS - 1] = {
    400, 401, 403, 405, 426, 500, 503
};

static const char  *ngx_ws_end_label[NGX_WS_STAT_ENDS] = {
    "open", "client", "server", "timeout", "limit", "protocol"
};

static const char  *ngx_ws_event_label[NGX_WS_STAT_EVENTS] = {
    "ok", "failed", "timed_out"
};


/* at postconfiguration: the status zone always exists */

ngx_int_t
ngx_ws_status_add_zone(ngx_conf_t *cf)
{
    ngx_shm_zone_t       *shm_zone;
    ngx_ws_main_conf_t   *wmcf;
    ngx_ws_status_ctx_t  *ctx;

    ctx = ngx_pcalloc(cf->pool, sizeof(ngx_ws_status_ctx_t));
    if (ctx == NULL) {
        return NGX_ERROR;
    }

    shm_zone = ngx_shared_memory_add(cf, &ngx_ws_status_zone_name,
                                     NGX_WS_STATUS_SIZE, &ngx_ws_module);
    if (shm_zone == NULL) {
        return NGX_ERROR;
    }

    shm_zone->init = ngx_ws_status_init_zone;
    shm_zone->data = ctx;
    shm_zone->noreuse = 0;

    wmcf = ngx_http_conf_get_module_main_conf(cf, ngx_ws_module);
    wmcf->status_zone = shm_zone;
    wmcf->status_slot = -1;

    return NGX_OK;
}


static ngx_int_t
ngx_ws_status_init_zone(ngx_shm_zone_t *shm_zone, void *data)
{
    ngx_ws_status_ctx_t  *octx = data;

    size_t                size;
    ngx_ws_status_ctx_t  *ctx;

    ctx = shm_zone->data;

    if (octx) {
        /* a reload: the counters go on */
        ctx->shpool = octx->shpool;
        ctx->sh = octx->sh;
        ctx->sh->reloads++;
        return NGX_OK;
    }

    ctx->shpool = (ngx_slab_pool_t *) shm_zone->shm.addr;

    if (shm_zone->shm.exists) {
        ctx->sh = ctx->shpool->data;
        return NGX_OK;
    }

    size = offsetof(ngx_ws_stat_sh_t, slots)
           + NGX_WS_MAX_SLOTS * NGX_WS_STATUS_STRIDE;

    ctx->sh = ngx_slab_calloc(ctx->shpool, size);
    if (ctx->sh == NULL) {
        return NGX_ERROR;
    }

    ctx->shpool->data = ctx->sh;

    return NGX_OK;
}


static ngx_ws_stat_slot_t *
ngx_ws_status_slot(ngx_ws_stat_sh_t *sh, ngx_uint_t i)
{
    return (ngx_ws_stat_slot_t *) (sh->slots + i * NGX_WS_STATUS_STRIDE);
}


/*
 * A worker cannot tell a reload from a shutdown by its signal: both are
 * SIGQUIT.  So every cycle takes a generation number from the status
 * zone, which a reload keeps: at init_module, in the master, once the
 * cycle can no longer fail (a configuration that fails to load makes no
 * generation) and before the old workers are signalled.  A worker that
 * shuts down while the zone holds a newer generation than its own has
 * been retired by a reload: its clients are told to come back at once.
 */

ngx_int_t
ngx_ws_status_init_module(ngx_cycle_t *cycle)
{
    ngx_ws_main_conf_t   *wmcf;
    ngx_ws_status_ctx_t  *ctx;

    wmcf = ngx_http_cycle_get_module_main_conf(cycle, ngx_ws_module);

    if (wmcf == NULL || wmcf->status_zone == NULL) {
        return NGX_OK;
    }

    ctx = wmcf->status_zone->data;

    ctx->generation = ngx_atomic_fetch_add(&ctx->sh->generation, 1) + 1;

    return NGX_OK;
}


/* the worker's cycle is no longer the newest one: it was reloaded */

ngx_uint_t
ngx_ws_status_retired(void)
{
    ngx_ws_main_conf_t   *wmcf;
    ngx_ws_status_ctx_t  *ctx;

    wmcf = ngx_http_cycle_get_module_main_conf(ngx_cycle, ngx_ws_module);

    if (wmcf == NULL || wmcf->status_zone == NULL) {
        return 0;
    }

    ctx = wmcf->status_zone->data;

    if (ctx->sh == NULL) {
        return 0;
    }

    return (ngx_atomic_uint_t) ctx->sh->generation != ctx->generation;
}


/* the generation of this worker's cycle, 0 without the status zone */

ngx_uint_t
ngx_ws_status_generation(void)
{
    ngx_ws_main_conf_t   *wmcf;
    ngx_ws_status_ctx_t  *ctx;

    wmcf = ngx_http_cycle_get_module_main_conf(ngx_cycle, ngx_ws_module);

    if (wmcf == NULL || wmcf->status_zone == NULL) {
        return 0;
    }

    ctx = wmcf->status_zone->data;

    return (ngx_uint_t) ctx->generation;
}


/* in each worker: take a free slot, or the slot of a worker that died */

ngx_int_t
ngx_ws_status_init_process(ngx_cycle_t *cycle)
{
    ngx_uint_t            i;
    ngx_ws_stat_sh_t     *sh;
    ngx_ws_main_conf_t   *wmcf;
    ngx_ws_stat_slot_t   *slot;
    ngx_ws_status_ctx_t  *ctx;

    wmcf = ngx_http_cycle_get_module_main_conf(cycle, ngx_ws_module);

    if (wmcf == NULL || wmcf->status_zone == NULL) {
        return NGX_OK;
    }

    ctx = wmcf->status_zone->data;
    sh = ctx->sh;

    ngx_shmtx_lock(&ctx->shpool->mutex);

    ngx_ws_status_reap(sh);

    for (i = 0; i < NGX_WS_MAX_SLOTS; i++) {
        slot = ngx_ws_status_slot(sh, i);

        if (slot->pid == 0) {
            ngx_memzero(&slot->stats, sizeof(ngx_ws_stats_t));
            slot->pid = ngx_pid;

            ngx_ws_stats = &slot->stats;
            wmcf->status_slot = i;
            break;
        }
    }

    ngx_shmtx_unlock(&ctx->shpool->mutex);

    if (wmcf->status_slot == -1) {
        ngx_log_error(NGX_LOG_WARN, cycle->log, 0,
                      "ws status has no free worker slot: the counters of "
                      "this worker are not reported (at most %d workers, "
                      "old ones included)", NGX_WS_MAX_SLOTS);
    }

    return NGX_OK;
}


void
ngx_ws_status_exit_process(ngx_cycle_t *cycle)
{
    ngx_ws_stat_sh_t     *sh;
    ngx_ws_main_conf_t   *wmcf;
    ngx_ws_stat_slot_t   *slot;
    ngx_ws_status_ctx_t  *ctx;

    wmcf = ngx_http_cycle_get_module_main_conf(cycle, ngx_ws_module);

    if (wmcf == NULL || wmcf->status_slot == -1) {
        return;
    }

    ctx = wmcf->status_zone->data;
    sh = ctx->sh;
    slot = ngx_ws_status_slot(sh, wmcf->status_slot);

    ngx_shmtx_lock(&ctx->shpool->mutex);

    if (slot->pid == ngx_pid) {
        ngx_ws_status_fold(&sh->exited, &slot->stats);
        slot->pid = 0;
    }

    ngx_shmtx_unlock(&ctx->shpool->mutex);

    ngx_ws_stats = &ngx_ws_stats_none;
    wmcf->status_slot = -1;
}


/* with the zone locked: the slots of workers that died without exiting */

static void
ngx_ws_status_reap(ngx_ws_stat_sh_t *sh)
{
    ngx_uint_t           i;
    ngx_ws_stat_slot_t  *slot;

    for (i = 0; i < NGX_WS_MAX_SLOTS; i++) {
        slot = ngx_ws_status_slot(sh, i);

        if (slot->pid != 0 && slot->pid != ngx_pid
            && kill(slot->pid, 0) == -1 && ngx_errno == NGX_ESRCH)
        {
            ngx_ws_status_fold(&sh->exited, &slot->stats);
            slot->pid = 0;
        }
    }
}


/* adds the counters (not the gauges) */

static void
ngx_ws_status_fold(ngx_ws_stats_t *to, ngx_ws_stats_t *from)
{
    ngx_uint_t  i;

    to->connections_total += from->connections_total;
    to->messages_in += from->messages_in;
    to->messages_out += from->messages_out;
    to->writes += from->writes;
    to->bytes_in += from->bytes_in;
    to->bytes_out += from->bytes_out;
    to->delivered += from->delivered;
    to->dropped += from->dropped;
    to->dropped_droppable += from->dropped_droppable;
    to->conflated += from->conflated;
    to->critical_closes += from->critical_closes;
    to->sse_total += from->sse_total;
    to->longpoll_total += from->longpoll_total;
    to->limited += from->limited;
    to->msgauth_requests += from->msgauth_requests;
    to->msgauth_cached += from->msgauth_cached;
    to->msgauth_denied += from->msgauth_denied;
    to->snapshots_sent += from->snapshots_sent;
    to->snapshots_failed += from->snapshots_failed;

    for (i = 0; i < NGX_WS_STAT_REJECTS; i++) {
        to->rejected[i] += from->rejected[i];
    }

    for (i = 0; i < NGX_WS_STAT_CLOSES; i++) {
        to->closes[i] += from->closes[i];
    }

    for (i = 0; i < NGX_WS_STAT_ENDS; i++) {
        to->ends[i] += from->ends[i];
    }

    for (i = 0; i < NGX_WS_STAT_EVENTS; i++) {
        to->events[i] += from->events[i];
    }

    for (i = 0; i < NGX_WS_STAT_ROUTE_ERRORS; i++) {
        to->route_errors[i] += from->route_errors[i];
    }

    /* routes by name: the names may be in other places, or new */

    for (i = 0; i < NGX_WS_STAT_ROUTES && from->route_names[i][0]; i++) {
        ngx_ws_stat_route_add(to, from->route_names[i], from->routed[i]);
    }
}


/* a message went a route (name), or found none (err) */

void
ngx_ws_stat_route(ngx_str_t *name, ngx_uint_t err)
{
    size_t  len;
    u_char  key[NGX_WS_STAT_ROUTE_NAME];

    if (name == NULL) {
        ngx_ws_stats->route_errors[err]++;
        return;
    }

    /* the first NGX_WS_STAT_ROUTES names are counted, truncated */

    len = name->len;

    if (len >= sizeof(key)) {
        len = sizeof(key) - 1;

        /* not in the middle of a UTF-8 character */
        while (len && (name->data[len] & 0xc0) == 0x80) {
            len--;
        }
    }

    ngx_memcpy(key, name->data, len);
    key[len] = '\0';

    ngx_ws_stat_route_add(ngx_ws_stats, key, 1);
}


static void
ngx_ws_stat_route_add(ngx_ws_stats_t *st, u_char *key, uint64_t n)
{
    ngx_uint_t  i;

    for (i = 0; i < NGX_WS_STAT_ROUTES; i++) {

        if (st->route_names[i][0] == '\0') {
            ngx_cpystrn(st->route_names[i], key, NGX_WS_STAT_ROUTE_NAME);
            st->routed[i] = n;
            return;
        }

        if (ngx_strcmp(st->route_names[i], key) == 0) {
            st->routed[i] += n;
            return;
        }
    }
}


void
ngx_ws_stat_reject(ngx_uint_t status)
{
    ngx_uint_t  i;

    for (i = 0; i < NGX_WS_STAT_REJECTS - 1; i++) {
        if (ngx_ws_reject_codes[i] == status) {
            break;
        }
    }

    ngx_ws_stats->rejected[i]++;
}


/* a connection is closed: code as ngx_ws_end_code() gives, end NGX_WS_END_* */

void
ngx_ws_stat_close(ngx_uint_t code, ngx_uint_t end)
{
    if (code >= 1000 && code < 1000 + NGX_WS_STAT_CLOSES - 1) {
        ngx_ws_stats->closes[code - 1000]++;

    } else {
        ngx_ws_stats->closes[NGX_WS_STAT_CLOSES - 1]++;
    }

    ngx_ws_stats->ends[end < NGX_WS_STAT_ENDS ? end : 0]++;

    if (ngx_ws_stats->connections) {
        ngx_ws_stats->connections--;
    }
}


void
ngx_ws_stat_event(ngx_uint_t status)
{
    if (status >= NGX_HTTP_OK && status < NGX_HTTP_SPECIAL_RESPONSE) {
        ngx_ws_stats->events[0]++;

    } else if (status == NGX_HTTP_GATEWAY_TIME_OUT) {
        ngx_ws_stats->events[2]++;

    } else {
        ngx_ws_stats->events[1]++;
    }
}


/* ws_status: the content handler */

ngx_int_t
ngx_ws_status_handler(ngx_http_request_t *r)
{
    ngx_int_t             rc;
    ngx_buf_t            *b;
    ngx_uint_t            i, n, slots[NGX_WS_MAX_SLOTS];
    ngx_chain_t           out;
    ngx_ws_out_t          o;
    ngx_ws_stat_sh_t     *sh;
    ngx_ws_main_conf_t   *wmcf;
    ngx_ws_stat_slot_t   *slot;
    ngx_ws_status_ctx_t  *ctx;

    if (!(r->method & (NGX_HTTP_GET|NGX_HTTP_HEAD))) {
        return NGX_HTTP_NOT_ALLOWED;
    }

    rc = ngx_http_discard_request_body(r);

    if (rc != NGX_OK) {
        return rc;
    }

    wmcf = ngx_http_get_module_main_conf(r, ngx_ws_module);

    if (wmcf->status_zone == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ctx = wmcf->status_zone->data;
    sh = ctx->sh;

    ngx_shmtx_lock(&ctx->shpool->mutex);
    ngx_ws_status_reap(sh);
    ngx_shmtx_unlock(&ctx->shpool->mutex);

    /* the workers alive now; a worker that starts meanwhile shows next time */

    n = 0;

    for (i = 0; i < NGX_WS_MAX_SLOTS; i++) {
        slot = ngx_ws_status_slot(sh, i);

        if (slot->pid != 0) {
            slots[n++] = i;
        }
    }

    o.format = ngx_ws_status_format(r);
    o.pos = NULL;
    o.len = 0;

    ngx_ws_status_print(&o, r, sh, slots, n);

    /* counters may have grown between the two passes: room for that */
    o.len += 1024 + n * 256;

    b = ngx_create_temp_buf(r->pool, o.len);
    if (b == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    o.pos = b->pos;
    ngx_ws_status_print(&o, r, sh, slots, n);
    b->last = o.pos;

    r->headers_out.status = NGX_HTTP_OK;
    r->headers_out.content_length_n = b->last - b->pos;

    if (o.format == NGX_WS_FORMAT_PROMETHEUS) {
        ngx_str_set(&r->headers_out.content_type,
                    "text/plain; version=0.0.4; charset=utf-8");

    } else {
        ngx_str_set(&r->headers_out.content_type, "application/json");
    }

    r->headers_out.content_type_len = r->headers_out.content_type.len;
    r->headers_out.content_type_lowcase = NULL;

    rc = ngx_http_send_header(r);

    if (rc == NGX_ERROR || rc > NGX_OK || r->header_only) {
        return rc;
    }

    b->last_buf = (r == r->main) ? 1 : 0;
    b->last_in_chain = 1;

    out.buf = b;
    out.next = NULL;

    return ngx_http_output_filter(r, &out);
}


/*
 * ?format=json or ?format=prometheus decides; otherwise an Accept that
 * names the Prometheus or OpenMetrics text formats gets Prometheus's,
 * and everything else JSON.
 */

static ngx_uint_t
ngx_ws_status_format(ngx_http_request_t *r)
{
    u_char           *end;
    ngx_str_t         value;
    ngx_table_elt_t  *h;

    static ngx_str_t  accept = ngx_string("Accept");

    if (ngx_http_arg(r, (u_char *) "format", 6, &value) == NGX_OK) {

        if (value.len == 10
            && ngx_strncmp(value.data, "prometheus", 10) == 0)
        {
            return NGX_WS_FORMAT_PROMETHEUS;
        }

        return NGX_WS_FORMAT_JSON;
    }

    for (h = ngx_ws_find_header(&r->headers_in.headers, &accept, NULL);
         h;
         h = ngx_ws_find_header(&r->headers_in.headers, &accept, h))
    {
        end = h->value.data + h->value.len;

        if (ngx_strlcasestrn(h->value.data, end,
                             (u_char *) "application/openmetrics-text",
                             28 - 1)
            || ngx_strlcasestrn(h->value.data, end,
                                (u_char *) "text/plain", 10 - 1))
        {
            return NGX_WS_FORMAT_PROMETHEUS;
        }
    }

    return NGX_WS_FORMAT_JSON;
}


static void
ngx_ws_status_print(ngx_ws_out_t *o, ngx_http_request_t *r,
    ngx_ws_stat_sh_t *sh, ngx_uint_t *slots, ngx_uint_t n)
{
    ngx_uint_t           i;
    ngx_ws_stats_t       total;
    ngx_ws_stat_slot_t  *slot;

    if (o->format == NGX_WS_FORMAT_PROMETHEUS) {
        ngx_ws_status_prom_stats(o, sh, slots, n);
        ngx_ws_status_zones(o, r);
        return;
    }

    total = sh->exited;
    total.connections = 0;
    total.sse = 0;

    for (i = 0; i < n; i++) {
        slot = ngx_ws_status_slot(sh, slots[i]);
        ngx_ws_status_fold(&total, &slot->stats);
        total.connections += slot->stats.connections;
        total.sse += slot->stats.sse;
    }

    ngx_ws_out(o, "{\"version\":\"%s\",\"nginx\":\"%s\",\"pid\":%P,"
               "\"reloads\":%ui,\"total\":",
               NGX_WS_MODULE_VERSION, NGINX_VERSION, ngx_pid, sh->reloads);

    ngx_ws_status_json_stats(o, &total, 0);

    ngx_ws_out(o, ",\"workers\":[");

    for (i = 0; i < n; i++) {
        slot = ngx_ws_status_slot(sh, slots[i]);

        ngx_ws_out(o, "%s{\"worker\":%ui,\"pid\":%P,\"stats\":",
                   i ? "," : "", slots[i], slot->pid);
        ngx_ws_status_json_stats(o, &slot->stats, 0);
        ngx_ws_out(o, "}");
    }

    ngx_ws_out(o, "],\"exited\":");
    ngx_ws_status_json_stats(o, &sh->exited, 1);

    ngx_ws_out(o, ",\"zones\":[");
    ngx_ws_status_zones(o, r);
    ngx_ws_out(o, "]}\n");
}


static void
ngx_ws_status_json_stats(ngx_ws_out_t *o, ngx_ws_stats_t *st,
    ngx_uint_t counters_only)
{
    ngx_uint_t  i, k;

    ngx_ws_out(o, "{");

    if (!counters_only) {
        ngx_ws_out(o, "\"connections\":%uL,", st->connections);
    }

    ngx_ws_out(o, "\"connections_total\":%uL,\"messages_in\":%uL,"
               "\"messages_out\":%uL,\"bytes_in\":%uL,\"bytes_out\":%uL,"
               "\"messages_limited\":%uL,\"writes\":%uL,"
               "\"handshakes_rejected\":{",
               st->connections_total, st->messages_in, st->messages_out,
               st->bytes_in, st->bytes_out, st->limited, st->writes);

    for (i = 0, k = 0; i < NGX_WS_STAT_REJECTS; i++) {
        if (st->rejected[i] == 0) {
            continue;
        }

        if (i < NGX_WS_STAT_REJECTS - 1) {
            ngx_ws_out(o, "%s\"%ui\":%uL", k++ ? "," : "",
                       ngx_ws_reject_codes[i], st->rejected[i]);

        } else {
            ngx_ws_out(o, "%s\"other\":%uL", k++ ? "," : "",
                       st->rejected[i]);
        }
    }

    ngx_ws_out(o, "},\"closes\":{");

    for (i = 0, k = 0; i < NGX_WS_STAT_CLOSES; i++) {
        if (st->closes[i] == 0) {
            continue;
        }

        if (i < NGX_WS_STAT_CLOSES - 1) {
            ngx_ws_out(o, "%s\"%ui\":%uL", k++ ? "," : "", 1000 + i,
                       st->closes[i]);

        } else {
            ngx_ws_out(o, "%s\"other\":%uL", k++ ? "," : "", st->closes[i]);
        }
    }

    ngx_ws_out(o, "},\"closed_by\":{");

    for (i = 1, k = 0; i < NGX_WS_STAT_ENDS; i++) {
        ngx_ws_out(o, "%s\"%s\":%uL", k++ ? "," : "", ngx_ws_end_label[i],
                   st->ends[i]);
    }

    ngx_ws_out(o, "},\"upstream_events\":{\"ok\":%uL,\"failed\":%uL,"
               "\"timed_out\":%uL},\"channel_messages\":{\"delivered\":%uL,"
               "\"dropped\":%uL,\"dropped_droppable\":%uL,"
               "\"conflated\":%uL,\"critical_closes\":%uL},"
               "\"snapshots\":{\"sent\":%uL,\"failed\":%uL},\"routes\":{",
               st->events[0], st->events[1], st->events[2], st->delivered,
               st->dropped, st->dropped_droppable, st->conflated,
               st->critical_closes, st->snapshots_sent, st->snapshots_failed);

    for (i = 0; i < NGX_WS_STAT_ROUTES && st->route_names[i][0]; i++) {
        ngx_ws_out(o, "%s\"%s\":%uL", i ? "," : "", st->route_names[i],
                   st->routed[i]);
    }

    ngx_ws_out(o, "},\"route_errors\":{");

    for (i = 0, k = 0; i < NGX_WS_STAT_ROUTE_ERRORS; i++) {
        if (st->route_errors[i]) {
            ngx_ws_out(o, "%s\"%V\":%uL", k++ ? "," : "",
                       &ngx_ws_route_errors[i], st->route_errors[i]);
        }
    }

    ngx_ws_out(o, "},\"transports\":{");

    if (!counters_only) {
        ngx_ws_out(o, "\"sse_streams\":%uL,", st->sse);
    }

    ngx_ws_out(o, "\"sse_total\":%uL,\"longpoll_total\":%uL},"
               "\"message_auth\":{\"requests\":%uL,\"cached\":%uL,"
               "\"denied\":%uL}}",
               st->sse_total, st->longpoll_total, st->msgauth_requests,
               st->msgauth_cached, st->msgauth_denied);
}


/* the counters of ngx_ws_stats_t printed as they are, per worker */

typedef struct {
    const char                 *name;
    const char                 *type;
    const char                 *help;
    size_t                      offset;
} ngx_ws_prom_counter_t;


static ngx_ws_prom_counter_t  ngx_ws_prom_simple[] = {
    { "ngx_ws_connections", "gauge", "WebSocket connections open now.",
      offsetof(ngx_ws_stats_t, connections) },
    { "ngx_ws_connections_total", "counter",
      "WebSocket connections upgraded.",
      offsetof(ngx_ws_stats_t, connections_total) },
    { "ngx_ws_messages_received_total", "counter",
      "Data messages received from clients.",
      offsetof(ngx_ws_stats_t, messages_in) },
    { "ngx_ws_messages_sent_total", "counter",
      "Data messages queued for clients.",
      offsetof(ngx_ws_stats_t, messages_out) },
    { "ngx_ws_writes_total", "counter",
      "Writes of the output queues to clients (writev or SSL_write).",
      offsetof(ngx_ws_stats_t, writes) },
    { "ngx_ws_received_bytes_total", "counter",
      "Payload bytes of the data messages received.",
      offsetof(ngx_ws_stats_t, bytes_in) },
    { "ngx_ws_sent_bytes_total", "counter",
      "Payload bytes of the data messages queued.",
      offsetof(ngx_ws_stats_t, bytes_out) },
    { "ngx_ws_channel_messages_delivered_total", "counter",
      "Channel messages queued for subscribers.",
      offsetof(ngx_ws_stats_t, delivered) },
    { "ngx_ws_channel_messages_dropped_total", "counter",
      "Channel messages dropped for slow subscribers.",
      offsetof(ngx_ws_stats_t, dropped) },
    { "ngx_ws_channel_messages_dropped_droppable_total", "counter",
      "Droppable channel messages dropped for slow subscribers.",
      offsetof(ngx_ws_stats_t, dropped_droppable) },
    { "ngx_ws_channel_messages_conflated_total", "counter",
      "Channel messages replaced by a newer one of their key.",
      offsetof(ngx_ws_stats_t, conflated) },
    { "ngx_ws_channel_critical_closes_total", "counter",
      "Subscribers closed because a critical message did not fit.",
      offsetof(ngx_ws_stats_t, critical_closes) },
    { "ngx_ws_snapshots_sent_total", "counter",
      "Channel snapshots (ws_snapshot) sent to subscribers.",
      offsetof(ngx_ws_stats_t, snapshots_sent) },
    { "ngx_ws_snapshots_failed_total", "counter",
      "Channel snapshots (ws_snapshot) that failed.",
      offsetof(ngx_ws_stats_t, snapshots_failed) },
    { "ngx_ws_sse_streams_total", "counter",
      "EventSource streams started.",
      offsetof(ngx_ws_stats_t, sse_total) },
    { "ngx_ws_longpoll_answers_total", "counter",
      "Long-poll requests answered.",
      offsetof(ngx_ws_stats_t, longpoll_total) },
    { "ngx_ws_messages_limited_total", "counter",
      "Messages over a ws_limit_message limit.",
      offsetof(ngx_ws_stats_t, limited) },
    { "ngx_ws_message_auth_requests_total", "counter",
      "Subrequests of ws_message_auth_request.",
      offsetof(ngx_ws_stats_t, msgauth_requests) },
    { "ngx_ws_message_auth_cached_total", "counter",
      "Messages decided by a remembered ws_message_auth_request answer.",
      offsetof(ngx_ws_stats_t, msgauth_cached) },
    { "ngx_ws_message_auth_denied_total", "counter",
      "Messages refused by ws_message_auth_request.",
      offsetof(ngx_ws_stats_t, msgauth_denied) }
};

/* the Prometheus text format, version 0.0.4 */

#define ngx_ws_prom_head(o, name, type, help)                                 \
    ngx_ws_out(o, "# HELP " name " " help "\n# TYPE " name " " type "\n")


static void
ngx_ws_status_prom_stats(ngx_ws_out_t *o, ngx_ws_stat_sh_t *sh,
    ngx_uint_t *slots, ngx_uint_t n)
{
    ngx_uint_t              i, k, w;
    ngx_ws_stats_t         *st;
    ngx_ws_prom_counter_t  *c;
    u_char                  worker[NGX_INT_T_LEN + 1];

    for (i = 0; i < sizeof(ngx_ws_prom_simple) / sizeof(ngx_ws_prom_simple[0]);
         i++)
    {
        c = &ngx_ws_prom_simple[i];

        ngx_ws_out(o, "# HELP %s %s\n# TYPE %s %s\n", c->name, c->help,
                   c->name, c->type);

        /* an exited worker has no connections open */

        for (w = 0; w < n + (i ? 1 : 0); w++) {
            st = ngx_ws_status_worker(sh, slots, n, w, worker);

            ngx_ws_out(o, "%s{worker=\"%s\"} %uL\n", c->name, worker,
                       *(uint64_t *) ((u_char *) st + c->offset));
        }
    }

    ngx_ws_prom_head(o, "ngx_ws_handshakes_rejected_total", "counter",
                     "WebSocket handshakes refused, by HTTP status.");

    for (w = 0; w <= n; w++) {
        st = ngx_ws_status_worker(sh, slots, n, w, worker);

        for (k = 0; k < NGX_WS_STAT_REJECTS; k++) {
            if (st->rejected[k] == 0) {
                continue;
            }

            if (k < NGX_WS_STAT_REJECTS - 1) {
                ngx_ws_out(o, "ngx_ws_handshakes_rejected_total{worker=\"%s\","
                           "status=\"%ui\"} %uL\n", worker,
                           ngx_ws_reject_codes[k], st->rejected[k]);

            } else {
                ngx_ws_out(o, "ngx_ws_handshakes_rejected_total{worker=\"%s\","
                           "status=\"other\"} %uL\n", worker,
                           st->rejected[k]);
            }
        }
    }

    ngx_ws_prom_head(o, "ngx_ws_closes_total", "counter",
                     "WebSocket connections ended, by close code.");

    for (w = 0; w <= n; w++) {
        st = ngx_ws_status_worker(sh, slots, n, w, worker);

        for (k = 0; k < NGX_WS_STAT_CLOSES; k++) {
            if (st->closes[k] == 0) {
                continue;
            }

            if (k < NGX_WS_STAT_CLOSES - 1) {
                ngx_ws_out(o, "ngx_ws_closes_total{worker=\"%s\","
                           "code=\"%ui\"} %uL\n", worker, 1000 + k,
                           st->closes[k]);

            } else {
                ngx_ws_out(o, "ngx_ws_closes_total{worker=\"%s\","
                           "code=\"other\"} %uL\n", worker, st->closes[k]);
            }
        }
    }

    ngx_ws_prom_head(o, "ngx_ws_closed_by_total", "counter",
                     "WebSocket connections ended, by who ended them.");

    for (w = 0; w <= n; w++) {
        st = ngx_ws_status_worker(sh, slots, n, w, worker);

        for (k = 1; k < NGX_WS_STAT_ENDS; k++) {
            ngx_ws_out(o, "ngx_ws_closed_by_total{worker=\"%s\","
                       "closed_by=\"%s\"} %uL\n", worker,
                       ngx_ws_end_label[k], st->ends[k]);
        }
    }

    ngx_ws_prom_head(o, "ngx_ws_upstream_events_total", "counter",
                     "Events sent to upstream applications, by outcome.");

    for (w = 0; w <= n; w++) {
        st = ngx_ws_status_worker(sh, slots, n, w, worker);

        for (k = 0; k < NGX_WS_STAT_EVENTS; k++) {
            ngx_ws_out(o, "ngx_ws_upstream_events_total{worker=\"%s\","
                       "result=\"%s\"} %uL\n", worker,
                       ngx_ws_event_label[k], st->events[k]);
        }
    }

    ngx_ws_status_prom_routes(o, sh, slots, n);
}


/* ws_route: messages per route name, and those without a route */

static void
ngx_ws_status_prom_routes(ngx_ws_out_t *o, ngx_ws_stat_sh_t *sh,
    ngx_uint_t *slots, ngx_uint_t n)
{
    ngx_uint_t       k, w;
    ngx_ws_stats_t  *st;
    u_char           worker[NGX_INT_T_LEN + 1];

    ngx_ws_prom_head(o, "ngx_ws_routed_messages_total", "counter",
                     "Messages routed by ws_route, by route.");

    for (w = 0; w <= n; w++) {
        st = ngx_ws_status_worker(sh, slots, n, w, worker);

        for (k = 0; k < NGX_WS_STAT_ROUTES && st->route_names[k][0]; k++) {
            ngx_ws_out(o, "ngx_ws_routed_messages_total{worker=\"%s\","
                       "route=\"%s\"} %uL\n", worker, st->route_names[k],
                       st->routed[k]);
        }
    }

    ngx_ws_prom_head(o, "ngx_ws_route_errors_total", "counter",
                     "Messages ws_route found no route for, by why.");

    for (w = 0; w <= n; w++) {
        st = ngx_ws_status_worker(sh, slots, n, w, worker);

        for (k = 0; k < NGX_WS_STAT_ROUTE_ERRORS; k++) {
            ngx_ws_out(o, "ngx_ws_route_errors_total{worker=\"%s\","
                       "error=\"%V\"} %uL\n", worker,
                       &ngx_ws_route_errors[k], st->route_errors[k]);
        }
    }
}


/* worker w of n alive, or w == n: the counters of the workers gone */

static ngx_ws_stats_t *
ngx_ws_status_worker(ngx_ws_stat_sh_t *sh, ngx_uint_t *slots, ngx_uint_t n,
    ngx_uint_t w, u_char *label)
{
    if (w == n) {
        ngx_sprintf(label, "exited%Z");
        return &sh->exited;
    }

    ngx_sprintf(label, "%ui%Z", slots[w]);

    return &ngx_ws_status_slot(sh, slots[w])->stats;
}


/* the channel zones: JSON objects, or Prometheus gauges and counters */

static void
ngx_ws_status_zones(ngx_ws_out_t *o, ngx_http_request_t *r)
{
    size_t                  used, size;
    uint64_t                subscribers, messages, bytes, published;
    uint64_t               *values, *p;
    ngx_uint_t              i, k, m, channels, first;
    ngx_queue_t            *q;
    ngx_ws_zone_t         **zones, *zone;
    ngx_rbtree_node_t      *node, *root, *sentinel;
    ngx_ws_sh_msg_t        *msg;
    ngx_ws_main_conf_t     *wmcf;
    ngx_ws_channel_node_t  *cn;

    static struct {
        const char  *name;
        const char  *type;
        const char  *help;
    } metrics[NGX_WS_ZONE_METRICS] = {
        { "ngx_ws_zone_size_bytes", "gauge", "Size of the ws_zone." },
        { "ngx_ws_zone_used_bytes", "gauge",
          "Memory of the ws_zone in use." },
        { "ngx_ws_zone_channels", "gauge", "Channels in the ws_zone." },
        { "ngx_ws_zone_subscribers", "gauge",
          "Subscriptions to the channels of the ws_zone, all workers." },
        { "ngx_ws_zone_published_total", "counter",
          "Messages published to the channels of the ws_zone." },
        { "ngx_ws_zone_history_messages", "gauge",
          "Messages kept in the channel histories of the ws_zone." },
        { "ngx_ws_zone_history_bytes", "gauge",
          "Payload bytes kept in the channel histories of the ws_zone." }
    };

    wmcf = ngx_http_get_module_main_conf(r, ngx_ws_module);
    zones = wmcf->zones.elts;

    values = NULL;

    if (o->format == NGX_WS_FORMAT_PROMETHEUS && wmcf->zones.nelts) {
        values = ngx_palloc(r->pool, wmcf->zones.nelts * NGX_WS_ZONE_METRICS
                                     * sizeof(uint64_t));
        if (values == NULL) {
            return;
        }
    }

    for (i = 0; i < wmcf->zones.nelts; i++) {
        zone = zones[i];

        size = zone->shm_zone->shm.size;

        subscribers = 0;
        messages = 0;
        bytes = 0;

        ngx_shmtx_lock(&zone->shpool->mutex);

        used = size - zone->shpool->pfree * ngx_pagesize;
        channels = zone->sh->channels;
        published = zone->sh->published;

        root = zone->sh->rbtree.root;
        sentinel = zone->sh->rbtree.sentinel;

        if (root != sentinel) {
            for (node = ngx_rbtree_min(root, sentinel);
                 node;
                 node = ngx_rbtree_next(&zone->sh->rbtree, node))
            {
                cn = (ngx_ws_channel_node_t *) &node->color;

                subscribers += cn->subscribers;

                for (q = ngx_queue_head(&cn->msgs);
                     q != ngx_queue_sentinel(&cn->msgs);
                     q = ngx_queue_next(q))
                {
                    msg = ngx_queue_data(q, ngx_ws_sh_msg_t, queue);
                    messages++;
                    bytes += msg->len;
                }
            }
        }

        ngx_shmtx_unlock(&zone->shpool->mutex);

        if (o->format == NGX_WS_FORMAT_JSON) {
            ngx_ws_out(o, "%s{\"name\":\"%V\",\"size\":%uz,\"used\":%uz,"
                       "\"free\":%uz,\"channels\":%ui,\"subscribers\":%uL,"
                       "\"published\":%uL,\"history_messages\":%uL,"
                       "\"history_bytes\":%uL",
                       i ? "," : "", &zone->name, size, used, size - used,
                       channels, subscribers, published, messages, bytes);

            if (zone->redis) {
                ngx_ws_status_redis(o, zone, 0, 0);
            }

            ngx_ws_out(o, "}");
            continue;
        }

        p = values + i * NGX_WS_ZONE_METRICS;

        p[0] = size;
        p[1] = used;
        p[2] = channels;
        p[3] = subscribers;
        p[4] = published;
        p[5] = messages;
        p[6] = bytes;
    }

    if (o->format == NGX_WS_FORMAT_JSON || i == 0) {
        return;
    }

    for (m = 0; m < NGX_WS_ZONE_METRICS; m++) {
        ngx_ws_out(o, "# HELP %s %s\n# TYPE %s %s\n", metrics[m].name,
                   metrics[m].help, metrics[m].name, metrics[m].type);

        for (k = 0; k < i; k++) {
            ngx_ws_out(o, "%s{zone=\"%V\"} %uL\n", metrics[m].name,
                       &zones[k]->name, values[k * NGX_WS_ZONE_METRICS + m]);
        }
    }

    for (m = 0; m < NGX_WS_REDIS_METRICS; m++) {
        first = 1;

        for (k = 0; k < i; k++) {
            if (zones[k]->redis) {
                ngx_ws_status_redis(o, zones[k], m + 1, first);
                first = 0;
            }
        }
    }

    ngx_ws_status_sentinel(o, zones, i);
    ngx_ws_status_cluster(o, zones, i);
}


/*
 * The Redis figures of a zone (ngx_ws_redis_stat_t): in JSON for metric
 * 0, else the Prometheus line of metric m - 1 (after its HELP and TYPE
 * for the first zone).  The gauges add up the slots of live workers.
 */

static void
ngx_ws_status_redis(ngx_ws_out_t *o, ngx_ws_zone_t *zone, ngx_uint_t m,
    ngx_uint_t first)
{
    uint64_t              v[NGX_WS_REDIS_METRICS];
    ngx_uint_t            i;
    ngx_ws_redis_stat_t  *st;

    static struct {
        const char  *json;
        const char  *name;
        const char  *type;
        const char  *help;
    } metrics[NGX_WS_REDIS_METRICS] = {
        { "connections", "ngx_ws_zone_redis_connections", "gauge",
          "Connections to Redis that are ready, all workers." },
        { "in_flight", "ngx_ws_zone_redis_in_flight", "gauge",
          "Redis commands sent and not answered yet." },
        { "connects", "ngx_ws_zone_redis_connects_total", "counter",
          "Connections made to Redis." },
        { "reconnects", "ngx_ws_zone_redis_reconnects_total", "counter",
          "Connections made to Redis again after one was lost." },
        { "commands", "ngx_ws_zone_redis_commands_total", "counter",
          "Commands sent to Redis." },
        { "errors", "ngx_ws_zone_redis_errors_total", "counter",
          "Error replies from Redis." },
        { "rtt_ms", "ngx_ws_zone_redis_rtt_milliseconds", "gauge",
          "Round trip of the last Redis reply." },
        { "rtt_max_ms", "ngx_ws_zone_redis_rtt_max_milliseconds", "gauge",
          "Longest round trip of a Redis reply." },
        { "read", "ngx_ws_zone_redis_read_total", "counter",
          "Messages read from the Redis streams and stored." },
        { "gaps", "ngx_ws_zone_redis_gaps_total", "counter",
          "Gaps in the Redis streams: messages Redis lost or trimmed." },
        { "refused", "ngx_ws_zone_redis_refused_total", "counter",
          "Publishes refused while Redis was unavailable." },
        { "backfilled", "ngx_ws_zone_redis_backfilled_total", "counter",
          "Messages read from the streams after the reader came back." }
    };

    st = &zone->sh->redis;

    v[0] = 0;
    v[1] = 0;

    for (i = 0; i < NGX_WS_MAX_SLOTS; i++) {
        if (zone->sh->slots[i].pid) {
            v[0] += st->connected[i];
            v[1] += st->inflight[i];
        }
    }

    v[2] = st->connects;
    v[3] = st->reconnects;
    v[4] = st->commands;
    v[5] = st->errors;
    v[6] = st->rtt;
    v[7] = st->rtt_max;
    v[8] = st->read;
    v[9] = st->gaps;
    v[10] = st->refused;
    v[11] = st->backfilled;

    if (m == 0) {
        ngx_ws_out(o, ",\"redis\":{\"reader\":%P", zone->sh->redis_reader);

        for (i = 0; i < NGX_WS_REDIS_METRICS; i++) {
            ngx_ws_out(o, ",\"%s\":%uL", metrics[i].json, v[i]);
        }

        if (zone->redis->sentinels) {
            ngx_ws_out(o, ",\"master\":\"%s\",\"failovers\":%uA",
                       st->master, st->failovers);
        }

        if (zone->redis->seeds) {
            /* Redis Cluster: redirections (ngx_ws_redis_cluster.c) */
            ngx_ws_out(o, ",\"cluster\":{\"moved\":%uA,\"asked\":%uA,"
                       "\"wake\":{\"connections\":%uA,\"wakes\":%uA}}",
                       st->moved, st->asked, st->wake_conns, st->wakes);
        }

        ngx_ws_out(o, "}");
        return;
    }

    m--;

    if (first) {
        ngx_ws_out(o, "# HELP %s %s\n# TYPE %s %s\n", metrics[m].name,
                   metrics[m].help, metrics[m].name, metrics[m].type);
    }

    ngx_ws_out(o, "%s{zone=\"%V\"} %uL\n", metrics[m].name, &zone->name,
               v[m]);
}


/*
 * The Prometheus lines of the zones with redis_sentinel=: the masters
 * that followed the first one found, and the master now (as a label)
 */

static void
ngx_ws_status_sentinel(ngx_ws_out_t *o, ngx_ws_zone_t **zones, ngx_uint_t n)
{
    ngx_uint_t            k, m, first;
    ngx_ws_redis_stat_t  *st;

    for (m = 0; m < 2; m++) {
        first = 1;

        for (k = 0; k < n; k++) {
            if (zones[k]->redis == NULL
                || zones[k]->redis->sentinels == NULL)
            {
                continue;
            }

            if (first && m == 0) {
                ngx_ws_out(o, "# HELP ngx_ws_zone_redis_failovers_total "
                           "Masters named by Redis Sentinel after the "
                           "first.\n# TYPE ngx_ws_zone_redis_failovers_total "
                           "counter\n");

            } else if (first) {
                ngx_ws_out(o, "# HELP ngx_ws_zone_redis_master "
                           "The Redis master that Sentinel named last.\n"
                           "# TYPE ngx_ws_zone_redis_master gauge\n");
            }

            first = 0;
            st = &zones[k]->sh->redis;

            if (m == 0) {
                ngx_ws_out(o, "ngx_ws_zone_redis_failovers_total"
                           "{zone=\"%V\"} %uA\n", &zones[k]->name,
                           st->failovers);

            } else {
                ngx_ws_out(o, "ngx_ws_zone_redis_master{zone=\"%V\","
                           "address=\"%s\"} 1\n", &zones[k]->name,
                           st->master);
            }
        }
    }
}


/* appends to the body, or only measures it when o->pos is NULL */

static void
ngx_ws_out(ngx_ws_out_t *o, const char *fmt, ...)
{
    u_char   *p;
    va_list   args;
    u_char    buf[512];

    va_start(args, fmt);
    p = ngx_vslprintf(buf, buf + sizeof(buf), fmt, args);
    va_end(args);

    if (o->pos == NULL) {
        o->len += p - buf;
        return;
    }

    if ((size_t) (p - buf) > o->len) {
        return;
    }

    o->pos = ngx_cpymem(o->pos, buf, p - buf);
    o->len -= p - buf;
}


char *
ngx_ws_status(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_core_loc_conf_t  *clcf;

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);

    if (clcf->handler != NULL) {
        return "conflicts with another content handler";
    }

    clcf->handler = ngx_ws_status_handler;

    return NGX_CONF_OK;
}


/*
 * The Prometheus lines of the zones with redis_cluster=: the redirections
 * followed (MOVED, ASK), the reader's wake subscribers that are ready (one
 * per master) and the wakes they read
 */

static void
ngx_ws_status_cluster(ngx_ws_out_t *o, ngx_ws_zone_t **zones, ngx_uint_t n)
{
    uint64_t              v;
    ngx_uint_t            k, m, first;
    ngx_ws_redis_stat_t  *st;

    static struct {
        const char  *name;
        const char  *type;
        const char  *help;
    } metrics[] = {
        { "ngx_ws_zone_redis_cluster_moved_total", "counter",
          "MOVED redirections followed (Redis Cluster)." },
        { "ngx_ws_zone_redis_cluster_asked_total", "counter",
          "ASK redirections followed (Redis Cluster)." },
        { "ngx_ws_zone_redis_cluster_wake_connections", "gauge",
          "The reader's wake subscribers that are ready, one per master." },
        { "ngx_ws_zone_redis_cluster_wakes_total", "counter",
          "Wakes (sharded pub/sub messages) read by the reader." }
    };

    for (m = 0; m < sizeof(metrics) / sizeof(metrics[0]); m++) {
        first = 1;

        for (k = 0; k < n; k++) {
            if (zones[k]->redis == NULL || zones[k]->redis->seeds == NULL) {
                continue;
            }

            if (first) {
                ngx_ws_out(o, "# HELP %s %s\n# TYPE %s %s\n",
                           metrics[m].name, metrics[m].help,
                           metrics[m].name, metrics[m].type);
                first = 0;
            }

            st = &zones[k]->sh->redis;

            switch (m) {
            case 0:
                v = st->moved;
                break;
            case 1:
                v = st->asked;
                break;
            case 2:
                v = st->wake_conns;
                break;
            default:
                v = st->wakes;
            }

            ngx_ws_out(o, "%s{zone=\"%V\"} %uL\n", metrics[m].name,
                       &zones[k]->name, v);
        }
    }
}
