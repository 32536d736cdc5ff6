
/*
 * Copyright (C) ngx_ws_module authors
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include "ngx_ws_module.h"


/*
 * Per-connection rate limits (ws_limit_messages, ws_limit_bytes).  Each is
 * a leaky bucket kept in thousandths of a unit: a message adds 1000 when it
 * is complete, payload bytes 1000 each as they are read; time drains
 * rate * ms / 1000, and "excess" is what the bucket holds.  A message, or
 * bytes, that find more than the burst in their bucket are over the limit:
 * with ws_limit_action close the connection is closed with 1008; with delay
 * (the default) they are let through but reading stops, with what was read
 * and not parsed kept, until the bucket has drained back to the burst, so
 * that TCP pushes back on the client.
 */


static void ngx_ws_limit_update(ngx_ws_conn_t *ws);
static ngx_int_t ngx_ws_limit_close(ngx_ws_conn_t *ws, const char *what);
static ngx_int_t ngx_ws_limit_delay(ngx_ws_conn_t *ws);
static uint64_t ngx_ws_limit_drain(uint64_t excess, ngx_ws_limit_t *limit,
    ngx_msec_t ms);
static ngx_msec_t ngx_ws_limit_wait(uint64_t excess, ngx_ws_limit_t *limit);
static void ngx_ws_limit_handler(ngx_event_t *ev);


/*
 * ws_limit_messages rate=Nr/s|Nr/m [burst=N] | off;
 * ws_limit_bytes rate=SIZE/s [burst=SIZE] | off;
 */

char *
ngx_ws_limit_conf(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    char  *p = conf;

    ssize_t           size;
    ngx_int_t         n, scale;
    ngx_str_t        *value, s;
    ngx_uint_t        i, bytes;
    ngx_ws_limit_t  **lp, *limit;

    lp = (ngx_ws_limit_t **) (p + cmd->offset);

    if (*lp != NGX_CONF_UNSET_PTR) {
        return "is duplicate";
    }

    value = cf->args->elts;

    if (cf->args->nelts == 2 && ngx_strcmp(value[1].data, "off") == 0) {
        *lp = NULL;
        return NGX_CONF_OK;
    }

    bytes = (cmd->offset == offsetof(ngx_ws_loc_conf_t, limit_bytes));

    limit = ngx_pcalloc(cf->pool, sizeof(ngx_ws_limit_t));
    if (limit == NULL) {
        return NGX_CONF_ERROR;
    }

    for (i = 1; i < cf->args->nelts; i++) {

        if (ngx_strncmp(value[i].data, "rate=", 5) == 0) {

            s.data = value[i].data + 5;
            s.len = value[i].len - 5;

            if (bytes) {
                if (s.len < 3
                    || ngx_strncmp(s.data + s.len - 2, "/s", 2) != 0)
                {
                    goto invalid;
                }

                s.len -= 2;

                size = ngx_parse_size(&s);
                if (size <= 0) {
                    goto invalid;
                }

                limit->rate = (uint64_t) size * 1000;
                continue;
            }

            if (s.len < 4) {
                goto invalid;
            }

            if (ngx_strncmp(s.data + s.len - 3, "r/s", 3) == 0) {
                scale = 1;

            } else if (ngx_strncmp(s.data + s.len - 3, "r/m", 3) == 0) {
                scale = 60;

            } else {
                goto invalid;
            }

            n = ngx_atoi(s.data, s.len - 3);
            if (n <= 0) {
                goto invalid;
            }

            limit->rate = (uint64_t) n * 1000 / scale;
            continue;
        }

        if (ngx_strncmp(value[i].data, "burst=", 6) == 0) {

            s.data = value[i].data + 6;
            s.len = value[i].len - 6;

            if (bytes) {
                size = ngx_parse_size(&s);
                if (size == NGX_ERROR) {
                    goto invalid;
                }

                limit->burst = (uint64_t) size * 1000;
                continue;
            }

            n = ngx_atoi(s.data, s.len);
            if (n == NGX_ERROR) {
                goto invalid;
            }

            limit->burst = (uint64_t) n * 1000;
            continue;
        }

        goto invalid;
    }

    if (limit->rate == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"%V\" must have \"rate\" parameter",
                           &cmd->name);
        return NGX_CONF_ERROR;
    }

    *lp = limit;

    return NGX_CONF_OK;

invalid:

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "invalid parameter \"%V\"", &value[i]);

    return NGX_CONF_ERROR;
}


/*
 * Charges a data message (when it is complete) or a Ping or Pong to
 * ws_limit_messages.  Returns the verdict, and the read loop acts on it:
 * NGX_OK, go on (ws->limit.paused says whether reading is to stop after
 * this frame), or the close code to fail the connection with (1008, with
 * ws_limit_action close).
 */

ngx_int_t
ngx_ws_limit(ngx_ws_conn_t *ws)
{
    ngx_ws_limit_t  *lm;

    lm = ws->conf->limit_messages;

    if (lm == NULL || ws->close_sent) {
        return NGX_OK;
    }

    ngx_ws_limit_update(ws);

    if (ws->conf->limit_action == NGX_WS_LIMIT_CLOSE
        && ws->limit.excess > lm->burst)
    {
        return ngx_ws_limit_close(ws, "ws_limit_messages");
    }

    ws->limit.excess += 1000;

    return ngx_ws_limit_delay(ws);
}


/*
 * Charges payload bytes of a data frame, Ping or Pong to ws_limit_bytes as
 * they are read (for a compressed message, as they are on the wire), so
 * that no message, however long it goes on, escapes the limit.  Returns as
 * ngx_ws_limit().
 */

ngx_int_t
ngx_ws_limit_bytes(ngx_ws_conn_t *ws, size_t size)
{
    ngx_ws_limit_t  *lb;

    lb = ws->conf->limit_bytes;

    if (lb == NULL || ws->close_sent) {
        return NGX_OK;
    }

    ngx_ws_limit_update(ws);

    if (ws->conf->limit_action == NGX_WS_LIMIT_CLOSE
        && ws->limit.bexcess > lb->burst)
    {
        return ngx_ws_limit_close(ws, "ws_limit_bytes");
    }

    ws->limit.bexcess += (uint64_t) size * 1000;

    return ngx_ws_limit_delay(ws);
}


/* drains both buckets up to now */

static void
ngx_ws_limit_update(ngx_ws_conn_t *ws)
{
    ngx_msec_t       ms;
    ngx_ws_limit_t  *lm, *lb;

    lm = ws->conf->limit_messages;
    lb = ws->conf->limit_bytes;

    ms = ngx_current_msec - ws->limit.last;
    ws->limit.last = ngx_current_msec;

    ws->limit.excess = lm ? ngx_ws_limit_drain(ws->limit.excess, lm, ms) : 0;
    ws->limit.bexcess = lb ? ngx_ws_limit_drain(ws->limit.bexcess, lb, ms)
                           : 0;

    if (ws->limit.excess == 0 && ws->limit.bexcess == 0) {
        /* the client has calmed down: a new flood gets a new log line */
        ws->limit.logged = 0;
    }
}


static ngx_int_t
ngx_ws_limit_close(ngx_ws_conn_t *ws, const char *what)
{
    ngx_ws_security_closed(ws, NGX_WS_CLOSE_POLICY, 0,
                           "connection %V exceeded %s", &ws->id, what);

    return NGX_WS_CLOSE_POLICY;
}


/* delay: stop reading until the next frame would be within the burst */

static ngx_int_t
ngx_ws_limit_delay(ngx_ws_conn_t *ws)
{
    ngx_msec_t         delay, d;
    const char        *what;
    ngx_ws_limit_t    *lm, *lb;
    ngx_connection_t  *c;

    if (ws->conf->limit_action == NGX_WS_LIMIT_CLOSE) {
        return NGX_OK;
    }

    c = ws->connection;
    lm = ws->conf->limit_messages;
    lb = ws->conf->limit_bytes;

    delay = 0;
    what = NULL;

    if (lm && ws->limit.excess > lm->burst) {
        delay = ngx_ws_limit_wait(ws->limit.excess - lm->burst, lm);
        what = "ws_limit_messages";
    }

    if (lb && ws->limit.bexcess > lb->burst) {
        d = ngx_ws_limit_wait(ws->limit.bexcess - lb->burst, lb);

        if (d > delay) {
            delay = d;
            what = "ws_limit_bytes";
        }
    }

    if (delay == 0) {
        return NGX_OK;
    }

    if (!ws->limit.logged) {
        ws->limit.logged = 1;

        ngx_log_error(NGX_LOG_WARN, c->log, 0,
                      "connection %V exceeded %s, delaying reading",
                      &ws->id, what);
    }

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, c->log, 0,
                   "ws reading paused for %s: %Mms", what, delay);

    ws->limit.paused = 1;

    ws->limit.ev.handler = ngx_ws_limit_handler;
    ws->limit.ev.data = ws;
    ws->limit.ev.log = c->log;
    ws->limit.ev.cancelable = 1;

    ngx_add_timer(&ws->limit.ev, delay);

    return NGX_OK;
}


/* what is left in a bucket after ms milliseconds */

static uint64_t
ngx_ws_limit_drain(uint64_t excess, ngx_ws_limit_t *limit, ngx_msec_t ms)
{
    /* the first test keeps rate * ms from overflowing */

    if (excess == 0 || (uint64_t) ms >= excess * 1000 / limit->rate + 1) {
        return 0;
    }

    return excess - limit->rate * ms / 1000;
}


/* how long, rounded up, a bucket takes to drain excess */

static ngx_msec_t
ngx_ws_limit_wait(uint64_t excess, ngx_ws_limit_t *limit)
{
    return (ngx_msec_t) ((excess * 1000 + limit->rate - 1) / limit->rate);
}


static void
ngx_ws_limit_handler(ngx_event_t *ev)
{
    ngx_ws_conn_t  *ws;

    ws = ev->data;

    ngx_log_debug0(NGX_LOG_DEBUG_HTTP, ev->log, 0, "ws reading resumed");

    ws->limit.paused = 0;

    /* the client's silence is measured from when we read again */
    ws->timer.last_recv = ngx_current_msec;

    /* the read handler parses what was kept, then reads */
    ngx_post_event(ws->connection->read, &ngx_posted_events);
}


/* the close handshake has begun: the client's Close must be read */

void
ngx_ws_limit_lift(ngx_ws_conn_t *ws)
{
    if (ws->limit.ev.timer_set) {
        ngx_del_timer(&ws->limit.ev);
    }

    if (ws->limit.paused) {
        ws->limit.paused = 0;
        ngx_post_event(ws->connection->read, &ngx_posted_events);
    }
}
