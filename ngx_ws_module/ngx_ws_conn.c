
/*
 * Copyright (C) ngx_ws_module authors
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include "ngx_ws_module.h"


/*
 * The connection engine.  After the 101 the connection's own read and write
 * handlers are replaced by ours (as HTTP/2 does), so that a worker that is
 * shutting down reaches us through c->close and we can say goodbye with
 * 1001 instead of nginx dropping the socket.  The request stays alive by
 * its reference count until ngx_ws_terminate().
 */


static void ngx_ws_read(ngx_ws_conn_t *ws);
static ngx_int_t ngx_ws_message(ngx_ws_conn_t *ws);
static ngx_int_t ngx_ws_control(ngx_ws_conn_t *ws);
static ngx_int_t ngx_ws_limit_verdict(ngx_ws_conn_t *ws, ngx_int_t code);
static ngx_int_t ngx_ws_parse_stash(ngx_ws_conn_t *ws, u_char *pos,
    u_char *end);
static void ngx_ws_client_error(ngx_ws_conn_t *ws, ngx_uint_t code,
    const char *what);
static void ngx_ws_set_state(ngx_ws_conn_t *ws, ngx_ws_conn_state_e state);
static void ngx_ws_release(ngx_ws_conn_t *ws);
static void ngx_ws_linger(ngx_ws_conn_t *ws);
static void ngx_ws_terminate(ngx_ws_conn_t *ws);
static ngx_int_t ngx_ws_valid_close_code(ngx_uint_t code);
static void ngx_ws_beat_handler(ngx_event_t *ev);
static void ngx_ws_beat_arm(ngx_ws_conn_t *ws);
static ngx_uint_t ngx_ws_beat_due(ngx_msec_t at);
static ngx_int_t ngx_ws_ping_check(ngx_ws_conn_t *ws);
static ngx_int_t ngx_ws_idle_check(ngx_ws_conn_t *ws);
static void ngx_ws_close_timer(ngx_ws_conn_t *ws);
static void ngx_ws_close_timeout_handler(ngx_event_t *ev);
static ngx_msec_t ngx_ws_drain_delay(ngx_ws_conn_t *ws);
static void ngx_ws_shutdown_handler(ngx_event_t *ev);
static void ngx_ws_init_timer(ngx_ws_conn_t *ws, ngx_event_t *ev,
    ngx_event_handler_pt handler, ngx_uint_t cancelable);
static void ngx_ws_output(ngx_ws_conn_t *ws);


/* set by ngx_ws_route_init() at configuration time */
ngx_ws_routes_t  ngx_ws_routes;


void
ngx_ws_conn_init(ngx_ws_conn_t *ws)
{
    ngx_time_t                *tp;
    ngx_connection_t          *c;
    ngx_http_request_t        *r;
    ngx_http_core_loc_conf_t  *clcf;

    r = ws->request;
    c = ws->connection;

    c->log->action = "processing WebSocket";

    tp = ngx_timeofday();
    ws->stat.start_sec = tp->sec;
    ws->stat.start_msec = tp->msec;

    ws->parse.state = ngx_ws_st_head;
    ws->timer.last_recv = ngx_current_msec;
    ws->timer.last_data = ngx_current_msec;

    ngx_ws_init_timer(ws, &ws->timer.beat, ngx_ws_beat_handler, 1);
    ngx_ws_init_timer(ws, &ws->timer.end, ngx_ws_close_timeout_handler, 0);

    ws->timer.ping_at = ngx_current_msec + ws->conf->ping_interval;
    ws->timer.idle_at = ngx_current_msec + ws->conf->idle_timeout;
    ngx_ws_beat_arm(ws);

    if (c->read->timer_set) {
        ngx_del_timer(c->read);
    }

    ngx_ws_stats->connections++;
    ngx_ws_stats->connections_total++;

    /* seen by ngx_close_idle_connections() when the worker shuts down */
    c->idle = 1;

    if (ngx_ws_routes.open(ws) != NGX_OK) {
        ngx_ws_end(ws, NGX_WS_ABORT, 0, NULL);

    } else if (ngx_exiting) {
        /*
         * the worker began shutting down while the handshake was being
         * read: ngx_close_idle_connections() has already been through the
         * connections, so this one is closed the same way (1012 or 1001,
         * with ws_drain_window) by the read handler posted below, or the
         * worker would exit with it open, without a Close frame
         */
        c->close = 1;
    }

    c->read->handler = ngx_ws_read_handler;
    c->write->handler = ngx_ws_write_handler;

    clcf = ngx_http_get_module_loc_conf(r, ngx_http_core_module);

    if (clcf->tcp_nodelay) {
        (void) ngx_tcp_nodelay(c);
    }

    /*
     * the first read (and the frames the client may have sent right behind
     * the handshake) happens once the content handler has returned
     */

    ngx_post_event(c->read, &ngx_posted_events);
}


static void
ngx_ws_init_timer(ngx_ws_conn_t *ws, ngx_event_t *ev,
    ngx_event_handler_pt handler, ngx_uint_t cancelable)
{
    ev->handler = handler;
    ev->data = ws;
    ev->log = ws->connection->log;
    ev->cancelable = cancelable;
}


void
ngx_ws_read_handler(ngx_event_t *rev)
{
    ngx_msec_t         delay;
    ngx_ws_conn_t     *ws;
    ngx_connection_t  *c;

    c = rev->data;
    ws = ngx_ws_conn_of(c);

    if (c->close) {
        c->close = 0;

        if (c->error) {
            /* worker_shutdown_timeout has expired */
            ngx_ws_terminate(ws);
            return;
        }

        if (!ws->close_sent && !ws->timer.end.timer_set) {
            delay = ngx_ws_drain_delay(ws);

            if (delay) {
                /*
                 * keep serving a while: clients may then leave by
                 * themselves, and the others come back spread over
                 * ws_drain_window rather than all at once
                 */
                ws->timer.end.handler = ngx_ws_shutdown_handler;
                ngx_add_timer(&ws->timer.end, delay);

            } else {
                ngx_ws_shutdown_handler(&ws->timer.end);
                return;
            }
        }
    }

    ngx_ws_read(ws);

    if ((ws->hold & NGX_WS_HOLD_OWN) || c->write->posted) {
        /* the output of this read waits for more of the same turn */
        ngx_ws_handle_output(ws);
        return;
    }

    /*
     * everything the read brought is answered and queued: written now, so
     * that the frames of many connections' reads are not all held (with
     * their pools) until the end of the turn
     */

    ngx_ws_output(ws);
}


void
ngx_ws_write_handler(ngx_event_t *wev)
{
    ngx_ws_conn_t     *ws;
    ngx_connection_t  *c;

    c = wev->data;
    ws = ngx_ws_conn_of(c);

    if (wev->timedout) {
        wev->timedout = 0;
        c->timedout = 1;

        c->log->action = "sending WebSocket frames";
        ngx_ws_security_closed(ws, 0, NGX_ETIMEDOUT, "client timed out");
        c->log->action = "processing WebSocket";

        ngx_ws_set_end(ws, NGX_WS_END_TIMEOUT);
        ngx_ws_terminate(ws);
        return;
    }

    /* the socket may have become writable while the event was posted */

    if (wev->posted) {
        ngx_delete_posted_event(wev);
    }

    ngx_ws_output(ws);
}


/*
 * The read pass: what came with the handshake, then what was kept from an
 * earlier pass, then the socket, each driven through ngx_ws_input() until
 * it is consumed or parsing pauses.
 *
 * One pause ends within the same turn of the event loop: a client
 * subscribed to the channel it publishes to (NGX_WS_HOLD_OWN, set by
 * ngx_ws_channel_publish_message()).  Its message is delivered, to it and
 * to every other subscriber here, from the channel's posted delivery event,
 * never from this call stack; but it must reach the client before anything
 * that follows it on the connection (the Pong for a Ping read after it, the
 * echo of its Close, a Close for a protocol error, its next message).  So
 * the pass stops at the end of that message, keeps the rest, and posts the
 * read event.  ngx_posted_events runs in order and the delivery event was
 * posted by the publish, before the read event: when the read handler runs
 * again the message is queued, and this pass goes on where it stopped.  A
 * client that publishes without being subscribed to its channel never
 * pauses; one that is pauses once per message, which costs a posted event
 * and no copy (the rest stays in the stash, see ngx_ws_parse_stash()).
 */

static void
ngx_ws_read(ngx_ws_conn_t *ws)
{
    u_char              *buf;
    size_t               len;
    ssize_t              n;
    ngx_event_t         *rev;
    ngx_connection_t    *c;
    ngx_ws_main_conf_t  *wmcf;
    ngx_http_request_t  *r;

    c = ws->connection;
    r = ws->request;
    rev = c->read;

    /* posted behind the delivery of the client's own message: it is queued */
    ws->hold &= ~NGX_WS_HOLD_OWN;

    /* frames the client sent right behind the handshake */

    if (r && r->header_in->pos < r->header_in->last) {
        ngx_log_debug1(NGX_LOG_DEBUG_HTTP, c->log, 0, "ws preread:%uz",
                       (size_t) (r->header_in->last - r->header_in->pos));

        if (ngx_ws_parse_stash(ws, r->header_in->pos, r->header_in->last)
            != NGX_OK)
        {
            ngx_ws_end(ws, NGX_WS_ABORT, 0, NULL);
            return;
        }

        r->header_in->pos = r->header_in->last;
    }

    /*
     * the header buffer is not needed for reading any more (the socket is
     * read into the worker's buffer): what the request still needs of it
     * moves into the request's pool, once
     */

    if (!ws->compacted) {
        ws->compacted = 1;

        /* a release that failed (no memory) has kept the request whole */

        if (ngx_ws_request_release(ws) != NGX_OK
            && ngx_ws_request_compact(r) == NGX_ERROR)
        {
            ngx_ws_end(ws, NGX_WS_ABORT, 0, NULL);
            return;
        }
    }

    /* input left over from when parsing paused, parsed where it lies */

    if (ws->stash_len && ws->hold == 0
        && ws->conn_state < NGX_WS_CONN_CLOSED)
    {
        len = ws->stash_len;
        ws->stash_len = 0;

        if (ngx_ws_parse_stash(ws, ws->stash + ws->stash_off,
                               ws->stash + ws->stash_off + len)
            != NGX_OK)
        {
            ngx_ws_end(ws, NGX_WS_ABORT, 0, NULL);
            return;
        }
    }

    if (ws->stash_len == 0 && ws->stash) {
        ngx_free(ws->stash);
        ws->stash = NULL;
    }

    wmcf = ngx_http_cycle_get_module_main_conf(ngx_cycle, ngx_ws_module);

    /* one receive buffer per worker, shared by all connections */

    buf = wmcf->recv_buffer;

    while (rev->ready && ws->hold == 0
           && ws->conn_state < NGX_WS_CONN_ABORTED)
    {

        n = c->recv(c, buf, NGX_WS_RECV_BUFFER_SIZE);

        if (n == NGX_AGAIN) {
            break;
        }

        if (n == NGX_ERROR) {
            ngx_ws_set_end(ws, NGX_WS_END_CLIENT);
            ngx_ws_end(ws, NGX_WS_ABORT, 0, NULL);
            return;
        }

        if (n == 0) {
            /* rev->eof is set: what is queued is still written */

            ngx_ws_set_end(ws, NGX_WS_END_CLIENT);

            if (!ws->close_sent && !ws->close_received) {
                ngx_log_error(NGX_LOG_INFO, c->log, 0,
                              "client closed connection without "
                              "a close frame");
            }

            return;
        }

        ws->timer.last_recv = ngx_current_msec;
        ws->timer.ping_sent = 0;

        if (ws->conn_state >= NGX_WS_CONN_CLOSED) {
            /* after a failure or the close handshake: discard */
            continue;
        }

        if (ngx_ws_parse_stash(ws, buf, buf + n) != NGX_OK) {
            ngx_ws_end(ws, NGX_WS_ABORT, 0, NULL);
            return;
        }
    }

    if (ws->conn_state >= NGX_WS_CONN_ABORTED) {
        return;
    }

    if (ws->hold & NGX_WS_HOLD_OWN) {
        /* behind the delivery event, even if something posted it before */

        if (rev->posted) {
            ngx_delete_posted_event(rev);
        }

        ngx_post_event(rev, &ngx_posted_events);
        return;
    }

    if (ws->hold) {
        if ((ngx_event_flags & NGX_USE_LEVEL_EVENT) && rev->active) {
            if (ngx_del_event(rev, NGX_READ_EVENT, 0) != NGX_OK) {
                ngx_ws_end(ws, NGX_WS_ABORT, 0, NULL);
                return;
            }
        }

    } else if (ngx_handle_read_event(rev, 0) != NGX_OK) {
        ngx_ws_end(ws, NGX_WS_ABORT, 0, NULL);
    }
}


/*
 * Parses input; what the parser leaves because parsing paused (the routes
 * are full: an upstream queue at its bound; a rate limit; the output queue
 * at ws_send_buffer; the client's own channel message to be delivered) is
 * kept until reading resumes.  Input that is the stash itself is left
 * where it is: a client that pauses after each of many messages of one
 * read does not have the rest copied each time.
 */

static ngx_int_t
ngx_ws_parse_stash(ngx_ws_conn_t *ws, u_char *pos, u_char *end)
{
    size_t   n;
    u_char  *p;

    p = ngx_ws_input(ws, pos, end);

    if (p == NULL || p == end || ws->conn_state >= NGX_WS_CONN_CLOSED) {
        return NGX_OK;
    }

    n = end - p;

    if (ws->stash && pos == ws->stash + ws->stash_off) {
        /* the stash itself, emptied by the caller */
        ws->stash_off = p - ws->stash;
        ws->stash_len = n;
        return NGX_OK;
    }

    if (ws->stash == NULL) {
        ws->stash = ngx_alloc(NGX_WS_RECV_BUFFER_SIZE, ws->connection->log);
        if (ws->stash == NULL) {
            return NGX_ERROR;
        }

        ws->stash_off = 0;
    }

    if (ws->stash_len + n > NGX_WS_RECV_BUFFER_SIZE) {
        ngx_log_error(NGX_LOG_ALERT, ws->connection->log, 0,
                      "ws stash overflow");
        return NGX_ERROR;
    }

    if (ws->stash_off + ws->stash_len + n > NGX_WS_RECV_BUFFER_SIZE) {
        ngx_memmove(ws->stash, ws->stash + ws->stash_off, ws->stash_len);
        ws->stash_off = 0;
    }

    ngx_memcpy(ws->stash + ws->stash_off + ws->stash_len, p, n);
    ws->stash_len += n;

    return NGX_OK;
}


/*
 * Drives the parser over input and acts on what it finds: the rate limits
 * are charged, control frames answered, complete messages routed, and the
 * connection failed with the code the parser gives.  Returns where it
 * stopped: end, or earlier when something holds the input (ws->hold: the
 * routes filled up, a rate limit stopped the reading, the output queue is
 * full, a message waits for its authorization, or the message was published
 * to a channel the client is subscribed to, see ngx_ws_read()); NULL when
 * the connection failed or the client's Close was read.
 */

u_char *
ngx_ws_input(ngx_ws_conn_t *ws, u_char *pos, u_char *end)
{
    ngx_ws_parse_e  rc;

    while (pos < end && (ws->parse.charged || ws->hold == 0)) {
        rc = ngx_ws_parse(ws, &pos, end);

        switch (rc) {

        case NGX_WS_PARSE_AGAIN:
            break;

        case NGX_WS_PARSE_BYTES:

            /* charged as they arrive, so that no long message escapes */

            if (ngx_ws_limit_verdict(ws,
                                     ngx_ws_limit_bytes(ws, ws->parse.bytes))
                != NGX_OK)
            {
                return NULL;
            }

            ws->parse.charged = 1;
            break;

        case NGX_WS_PARSE_CONTROL:
            if (ngx_ws_control(ws) != NGX_OK) {
                return NULL;
            }

            break;

        case NGX_WS_PARSE_MESSAGE:
            if (ngx_ws_message(ws) != NGX_OK) {
                return NULL;
            }

            break;

        default: /* NGX_WS_PARSE_ERROR */
            ngx_ws_client_error(ws, ws->parse.err_code, ws->parse.err_reason);
            return NULL;
        }
    }

    return pos;
}


/* the routes have room again: parse what waits, then read */

void
ngx_ws_resume(ngx_ws_conn_t *ws)
{
    if (!(ws->hold & NGX_WS_HOLD_ROUTES)) {
        return;
    }

    ws->hold &= ~NGX_WS_HOLD_ROUTES;

    ngx_post_event(ws->connection->read, &ngx_posted_events);
}


/*
 * Whether the write may wait for posted events: something is queued, the
 * socket takes more, the connection is live and the worker not exiting
 */

static ngx_inline ngx_uint_t
ngx_ws_output_deferrable(ngx_ws_conn_t *ws)
{
    ngx_connection_t  *c;

    c = ws->connection;

    return ws->out.head && ws->conn_state < NGX_WS_CONN_ABORTED
           && c->write->ready && !c->error && !ngx_exiting;
}


/*
 * Every event handler ends here, and only here may the connection be
 * closed (the request and ws are freed with it): write the queue, then
 * close the connection when a close is complete or it was aborted, or
 * stop or resume reading for backpressure.
 *
 * The queue is written at the end of the turn of the event loop, by the
 * write event: a handler that leaves frames queued (an upstream reply, a
 * channel delivery, a Pong, a read that paused for its own channel
 * message or finds the write event posted already) posts it, or moves it
 * to the back of ngx_posted_events if it was posted already, so that what
 * the other handlers of the same turn queue for the connection, and the
 * posted events they add (a paused read, a channel delivery), leave with
 * it in one writev() (with TLS, one flush of SSL_write()s).  A read that
 * neither paused nor finds the write event posted writes at once
 * (ngx_ws_read_handler()): all the frames its input asked for are queued
 * already.  No timer is involved: the posted events run before the event
 * loop waits again, so a lone frame is not delayed.  Nothing is deferred
 * when there is nothing to write now (an empty queue, a socket that takes
 * no more), for an aborted connection, or while the worker is exiting:
 * ngx_close_idle_connections() calls the read handler from outside a
 * turn, and the Close must not wait for the next event.  The rest of the
 * job (a lifted rate limit, leaving the channels) is the write handler's
 * then, in the same turn.
 */

void
ngx_ws_handle_output(ngx_ws_conn_t *ws)
{
    ngx_event_t  *wev;

    wev = ws->connection->write;

    if (ngx_ws_output_deferrable(ws)) {
        if (wev->posted) {
            ngx_delete_posted_event(wev);
        }

        ngx_post_event(wev, &ngx_posted_events);

        return;
    }

    ngx_ws_output(ws);
}


/*
 * A channel delivery queued frames: the write event is posted to
 * ngx_posted_next_events, which nginx moves to ngx_posted_events at the
 * start of the next turn, polling with a zero timeout.  Every delivery of
 * this turn (pipelined POSTs, each run from a posted read event, other
 * publishers, wake-ups from other workers) comes before the write, so
 * under load a subscriber's messages leave together in one writev() (one
 * TCP segment) instead of one each; a lone message waits for one more
 * turn, not for a timer.  nginx marks the moved events ready, so a socket
 * that takes no more is posted as before, to be a no-op until its EPOLLOUT;
 * so are an ended connection and an exiting worker's.  A write event
 * posted already stays where it is; one that ngx_ws_handle_output() posts
 * later (an echo, a Pong) moves to this turn with what is queued.
 */

void
ngx_ws_post_delivery(ngx_ws_conn_t *ws)
{
    ngx_event_t  *wev;

    wev = ws->connection->write;

    if (wev->posted) {
        return;
    }

    if (ngx_ws_output_deferrable(ws)) {
        ngx_post_event(wev, &ngx_posted_next_events);
        return;
    }

    ngx_post_event(wev, &ngx_posted_events);
}


static void
ngx_ws_output(ngx_ws_conn_t *ws)
{
    ngx_int_t          rc;
    ngx_connection_t  *c;

    if (ws->conn_state == NGX_WS_CONN_FINALIZED) {
        return;
    }

    if (ws->conn_state == NGX_WS_CONN_ABORTED) {
        ngx_ws_terminate(ws);
        return;
    }

    c = ws->connection;

    if ((ws->hold & NGX_WS_HOLD_LIMIT) && ws->close_sent) {
        ngx_ws_limit_lift(ws);
    }

    if (ws->unsubscribe) {
        ws->unsubscribe = 0;
        ngx_ws_routes.leave(ws);
    }

    rc = ngx_ws_flush(ws);

    if (rc == NGX_ERROR) {
        ngx_ws_terminate(ws);
        return;
    }

    if (rc == NGX_OK) {
        if (c->read->eof) {
            ngx_ws_terminate(ws);
            return;
        }

        if (ws->conn_state == NGX_WS_CONN_CLOSED
            || ws->conn_state == NGX_WS_CONN_FAILING)
        {
            ngx_ws_linger(ws);
            return;
        }
    }

    /* the memory behind the queue, not only its bytes (ngx_ws_output.c) */

    if (ws->out.mem > ws->conf->send_buffer) {
        if (!(ws->hold & NGX_WS_HOLD_OUTPUT)) {
            ngx_log_debug2(NGX_LOG_DEBUG_HTTP, c->log, 0,
                           "ws reading paused queued:%uz mem:%uz",
                           ws->out.queued, ws->out.mem);
            ws->hold |= NGX_WS_HOLD_OUTPUT;
        }

        return;
    }

    if (ws->hold & NGX_WS_HOLD_OUTPUT) {
        ngx_log_debug2(NGX_LOG_DEBUG_HTTP, c->log, 0,
                       "ws reading resumed queued:%uz mem:%uz",
                       ws->out.queued, ws->out.mem);

        ws->hold &= ~NGX_WS_HOLD_OUTPUT;

        if (c->read->ready || ws->stash_len) {
            ngx_post_event(c->read, &ngx_posted_events);

        } else if (ngx_handle_read_event(c->read, 0) != NGX_OK) {
            ngx_ws_terminate(ws);
        }
    }
}


/*
 * A complete data message: counted, charged to ws_limit_messages, and
 * handed with its pool to the routes (ngx_ws_routes.message).
 */

static ngx_int_t
ngx_ws_message(ngx_ws_conn_t *ws)
{
    ngx_int_t    code;
    ngx_pool_t  *pool;

    pool = ws->msg.pool;
    ws->msg.pool = NULL;

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, ws->connection->log, 0,
                   "ws message op:%ui len:%uz", ws->msg.opcode, ws->msg.len);

    ws->timer.last_data = ngx_current_msec;
    ws->stat.messages_in++;
    ws->stat.bytes_in += ws->msg.len;
    ngx_ws_stats->messages_in++;
    ngx_ws_stats->bytes_in += ws->msg.len;

    if (ws->stat.shared) {
        ws->stat.shared->messages_in = ws->stat.messages_in;
        ws->stat.shared->bytes_in = ws->stat.bytes_in;
    }

    if (ws->close_sent) {
        /* the close handshake has begun: data is discarded */
        if (pool) {
            ngx_ws_pool_free(pool);
        }

        return NGX_OK;
    }

    /* without ws_limit_messages no call: ngx_ws_limit() has nothing to do */

    if (ws->conf->limit_messages
        && ngx_ws_limit_verdict(ws, ngx_ws_limit(ws)) != NGX_OK)
    {
        if (pool) {
            ngx_ws_pool_free(pool);
        }

        return NGX_ERROR;
    }

    code = ngx_ws_routes.message(ws, pool);

    if (code != NGX_OK && ws->limit.closed) {
        /* ws_limit_message refused it, and logged why */
        return ngx_ws_limit_verdict(ws, code);
    }

    if (code != NGX_OK) {
        if (code == NGX_WS_CLOSE_TOO_BIG || code == NGX_WS_CLOSE_POLICY) {
            /* the route logged why */
            ngx_ws_security_closed(ws, code, 0, "message refused");
        }

        ngx_ws_end(ws, NGX_WS_FAIL, (ngx_uint_t) code, NULL);
        return NGX_ERROR;
    }

    return NGX_OK;
}


/* a complete control frame, in ws->parse.ctl */

static ngx_int_t
ngx_ws_control(ngx_ws_conn_t *ws)
{
    ngx_uint_t  code;

    if (ws->parse.opcode != NGX_WS_OP_CLOSE && ws->conf->limit_messages
        && ngx_ws_limit_verdict(ws, ngx_ws_limit(ws)) != NGX_OK)
    {
        return NGX_ERROR;
    }

    switch (ws->parse.opcode) {

    case NGX_WS_OP_PING:
        if (ngx_ws_send_pong(ws, ws->parse.ctl, ws->parse.ctl_len)
            == NGX_ERROR)
        {
            ngx_ws_end(ws, NGX_WS_FAIL, NGX_WS_CLOSE_INTERNAL, NULL);
            return NGX_ERROR;
        }

        return NGX_OK;

    case NGX_WS_OP_PONG:
        return NGX_OK;

    default: /* NGX_WS_OP_CLOSE */
        break;
    }

    code = 0;

    if (ws->parse.ctl_len == 1) {
        ngx_ws_client_error(ws, NGX_WS_CLOSE_PROTOCOL,
                            "close frame with 1-byte payload");
        return NGX_ERROR;
    }

    if (ws->parse.ctl_len >= 2) {
        code = (ws->parse.ctl[0] << 8) | ws->parse.ctl[1];

        if (ngx_ws_valid_close_code(code) != NGX_OK) {
            ngx_log_error(NGX_LOG_INFO, ws->connection->log, 0,
                          "client sent close frame with invalid code %ui, "
                          "closing with %d", code, NGX_WS_CLOSE_PROTOCOL);
            ngx_ws_end(ws, NGX_WS_FAIL, NGX_WS_CLOSE_PROTOCOL, NULL);
            return NGX_ERROR;
        }

        if (ngx_ws_utf8_validate(NGX_WS_UTF8_ACCEPT, ws->parse.ctl + 2,
                                 ws->parse.ctl_len - 2)
            != NGX_WS_UTF8_ACCEPT)
        {
            ngx_ws_client_error(ws, NGX_WS_CLOSE_PROTOCOL,
                                "close frame with invalid UTF-8 reason");
            return NGX_ERROR;
        }
    }

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, ws->connection->log, 0,
                   "ws close received code:%ui", code);

    ws->close_received = 1;
    ws->peer_close_code = code ? code : NGX_WS_CLOSE_NO_STATUS;

    if (!ws->close_sent) {
        ngx_ws_set_end(ws, NGX_WS_END_CLIENT);

        if (ws->parse.ctl_len > 2) {
            ws->close_reason.data = ngx_pnalloc(ws->pool,
                                                ws->parse.ctl_len - 2);
            if (ws->close_reason.data) {
                ngx_memcpy(ws->close_reason.data, ws->parse.ctl + 2,
                           ws->parse.ctl_len - 2);
                ws->close_reason.len = ws->parse.ctl_len - 2;
            }
        }

        if (ngx_ws_send_close(ws, code, NULL) == NGX_ERROR) {
            ngx_ws_end(ws, NGX_WS_ABORT, 0, NULL);
            return NGX_ERROR;
        }
    }

    ngx_ws_set_state(ws, NGX_WS_CONN_CLOSED);

    /* nothing after a Close is read */
    return NGX_DONE;
}


/*
 * What a rate limit decided (ngx_ws_limit.c): NGX_OK, or the close code to
 * fail the connection with.
 */

static ngx_int_t
ngx_ws_limit_verdict(ngx_ws_conn_t *ws, ngx_int_t code)
{
    if (code == NGX_OK) {
        return NGX_OK;
    }

    ngx_ws_end(ws, NGX_WS_FAIL, (ngx_uint_t) code, "rate limit");

    return NGX_ERROR;
}


/* who ended the connection; the first to say so is right */

void
ngx_ws_set_end(ngx_ws_conn_t *ws, ngx_uint_t end)
{
    if (ws->end == NGX_WS_END_OPEN) {
        ws->end = end;
    }
}


/*
 * The code that ended the connection: the code of the first Close, 1005
 * for a Close without one, 1006 when none was exchanged; 0 while open.
 */

ngx_uint_t
ngx_ws_end_code(ngx_ws_conn_t *ws)
{
    if (ws->closed_by_server && ws->close_code) {
        return ws->close_code;
    }

    if (ws->peer_close_code) {
        return ws->peer_close_code;
    }

    if (ws->closed_by_server || ws->end != NGX_WS_END_OPEN) {
        return 1006;
    }

    return 0;
}


static ngx_int_t
ngx_ws_valid_close_code(ngx_uint_t code)
{
    if (code >= 3000 && code <= 4999) {
        return NGX_OK;
    }

    if (code >= 1000 && code <= 1014
        && code != 1004 && code != 1005 && code != 1006)
    {
        return NGX_OK;
    }

    return NGX_DECLINED;
}


/*
 * The one way to end a connection, safe to call from anywhere: the read
 * loop, a route, another connection's channel delivery, an upstream
 * handler, a timer.  It never frees: the connection's running event
 * handler, or the write event posted here, finishes the job in
 * ngx_ws_handle_output() (a Close flushed, then lingering or closing).
 *
 *   NGX_WS_GOODBYE  the close handshake: a Close with code and reason, then
 *                   up to ws_close_timeout for the client's Close;
 *   NGX_WS_FAIL     failing the connection (RFC 6455 7.1.7): a Close with
 *                   code and reason, the TCP connection closed as soon as
 *                   it is written; code 0 sends a Close without a code;
 *   NGX_WS_ABORT    the TCP connection closed at once.
 *
 * A Close already sent is not sent again; a goodbye may still turn into a
 * failure or an abort.  Who ended it ($ws_closed_by) follows from the code
 * unless a caller said so first with ngx_ws_set_end().
 */

void
ngx_ws_end(ngx_ws_conn_t *ws, ngx_uint_t how, ngx_uint_t code,
    const char *reason)
{
    if (ws->conn_state == NGX_WS_CONN_FINALIZED) {
        return;
    }

    switch (how) {

    case NGX_WS_GOODBYE:
        if (ws->close_sent) {
            return;
        }

        if (ngx_ws_send_close(ws, code, reason) == NGX_ERROR) {
            ngx_ws_set_state(ws, NGX_WS_CONN_ABORTED);
            break;
        }

        ngx_ws_set_state(ws, NGX_WS_CONN_CLOSING);
        ngx_ws_close_timer(ws);
        break;

    case NGX_WS_FAIL:

        switch (code) {

        case NGX_WS_CLOSE_PROTOCOL:
        case NGX_WS_CLOSE_BAD_DATA:
            ngx_ws_set_end(ws, NGX_WS_END_PROTOCOL);
            break;

        case NGX_WS_CLOSE_POLICY:
        case NGX_WS_CLOSE_TOO_BIG:
            ngx_ws_set_end(ws, NGX_WS_END_LIMIT);
            break;

        default:
            ngx_ws_set_end(ws, NGX_WS_END_SERVER);
        }

        ngx_ws_set_state(ws, NGX_WS_CONN_FAILING);

        if (ws->msg.pool) {
            ngx_destroy_pool(ws->msg.pool);
            ws->msg.pool = NULL;
        }

        if (!ws->close_sent
            && ngx_ws_send_close(ws, code, reason) == NGX_ERROR)
        {
            ngx_ws_set_state(ws, NGX_WS_CONN_ABORTED);
        }

        break;

    default: /* NGX_WS_ABORT */
        ngx_ws_set_state(ws, NGX_WS_CONN_ABORTED);
    }

    if (!ws->connection->write->posted) {
        ngx_post_event(ws->connection->write, &ngx_posted_events);
    }
}


/*
 * The one place where ws->conn_state changes: only forward (a goodbye
 * that turns into a failure, a failure into an abort), never back.
 */

static void
ngx_ws_set_state(ngx_ws_conn_t *ws, ngx_ws_conn_state_e state)
{
    if (state <= ws->conn_state) {
        return;
    }

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, ws->connection->log, 0,
                   "ws state %d -> %d", (int) ws->conn_state, (int) state);

    ws->conn_state = state;
}


/*
 * The client broke the protocol or a limit: what names its mistake for
 * the log (NULL when the caller has logged it), then the connection fails.
 */

static void
ngx_ws_client_error(ngx_ws_conn_t *ws, ngx_uint_t code, const char *what)
{
    if (what == NULL) {
        /* logged by the caller */

    } else if (code == NGX_WS_CLOSE_TOO_BIG || code == NGX_WS_CLOSE_POLICY) {
        /* a limit it ran into: a security event */
        ngx_ws_security_closed(ws, code, 0, "client sent %s", what);

    } else {
        /* a client's mistake */
        ngx_log_error(NGX_LOG_INFO, ws->connection->log, 0,
                      "client sent %s, closing with %ui", what, code);
    }

    ngx_ws_end(ws, NGX_WS_FAIL, code, NULL);
}


/*
 * The heartbeat: one timer for ws_ping_interval (with ws_pong_timeout) and
 * ws_idle_timeout, each check kept as the time it is next due, the timer
 * set for the earlier one.  The checks measure from the last input (the
 * ping) and the last data message (the idle timeout), which are only
 * written down as they happen: no timer moves per frame.
 */

static void
ngx_ws_beat_handler(ngx_event_t *ev)
{
    ngx_int_t       rc;
    ngx_ws_conn_t  *ws;

    ws = ev->data;

    if (ws->close_sent) {
        return;
    }

    if (ws->conf->idle_timeout && ngx_ws_beat_due(ws->timer.idle_at)
        && ngx_ws_idle_check(ws) != NGX_OK)
    {
        ngx_ws_handle_output(ws);
        return;
    }

    rc = NGX_OK;

    if (ws->conf->ping_interval && ngx_ws_beat_due(ws->timer.ping_at)) {
        rc = ngx_ws_ping_check(ws);

        if (rc == NGX_ERROR) {
            /* closed */
            return;
        }

        if (rc == NGX_DECLINED) {
            ngx_ws_handle_output(ws);
            return;
        }
    }

    ngx_ws_beat_arm(ws);

    if (rc == NGX_AGAIN) {
        /* a Ping is queued */
        ngx_ws_handle_output(ws);
    }
}


static void
ngx_ws_beat_arm(ngx_ws_conn_t *ws)
{
    ngx_msec_int_t  delay, d;

    delay = -1;

    if (ws->conf->ping_interval) {
        delay = (ngx_msec_int_t) (ws->timer.ping_at - ngx_current_msec);
    }

    if (ws->conf->idle_timeout) {
        d = (ngx_msec_int_t) (ws->timer.idle_at - ngx_current_msec);

        if (delay == -1 || d < delay) {
            delay = d;
        }
    }

    if (delay == -1) {
        return;
    }

    ngx_add_timer(&ws->timer.beat, (ngx_msec_t) ngx_max(delay, 1));
}


static ngx_uint_t
ngx_ws_beat_due(ngx_msec_t at)
{
    return (ngx_msec_int_t) (at - ngx_current_msec) <= 0;
}


/*
 * ws_ping_interval: NGX_OK (ping_at is when to look again), NGX_AGAIN (a
 * Ping is queued), NGX_DECLINED (no answer: failing with 1001) or
 * NGX_ERROR (closed)
 */

static ngx_int_t
ngx_ws_ping_check(ngx_ws_conn_t *ws)
{
    ngx_msec_t  idle;

    idle = ngx_current_msec - ws->timer.last_recv;

    /*
     * ping_sent is cleared by any input: comparing last_recv with the time
     * of the Ping cannot tell an answer received within the same
     * millisecond from none
     */

    if (ws->timer.ping_sent) {

        if ((ws->hold & ~NGX_WS_HOLD_OWN) || ws->connection->read->ready) {
            /*
             * reading is paused (backpressure, a full ws_pass queue, a rate
             * limit, a message waiting for ws_message_auth_request), or was
             * just resumed and the read is posted: an answer may be waiting
             * unread
             */
            ws->timer.ping_at = ngx_current_msec + ws->conf->pong_timeout;
            return NGX_OK;
        }

        ngx_log_error(NGX_LOG_INFO, ws->connection->log, 0,
                      "client did not answer ping");

        ngx_ws_set_end(ws, NGX_WS_END_TIMEOUT);
        ngx_ws_end(ws, NGX_WS_FAIL, NGX_WS_CLOSE_GOING_AWAY, NULL);
        return NGX_DECLINED;
    }

    if (idle < ws->conf->ping_interval) {
        ws->timer.ping_at = ws->timer.last_recv + ws->conf->ping_interval;
        return NGX_OK;
    }

    if (ngx_ws_send_frame(ws, NGX_WS_OP_PING, NULL, 0) == NGX_ERROR) {
        ngx_ws_terminate(ws);
        return NGX_ERROR;
    }

    ws->timer.ping_sent = 1;
    ws->timer.ping_at = ngx_current_msec + ws->conf->pong_timeout;

    return NGX_AGAIN;
}


/* ws_idle_timeout: NGX_OK (idle_at is when to look again) or NGX_DECLINED */

static ngx_int_t
ngx_ws_idle_check(ngx_ws_conn_t *ws)
{
    ngx_msec_t  idle;

    idle = ngx_current_msec - ws->timer.last_data;

    if (ws->hold & NGX_WS_HOLD_LIMIT) {
        idle = 0;
    }

    if (idle < ws->conf->idle_timeout) {
        ws->timer.idle_at = ngx_current_msec + ws->conf->idle_timeout - idle;
        return NGX_OK;
    }

    ngx_log_error(NGX_LOG_INFO, ws->connection->log, 0,
                  "idle timeout, closing with %d", NGX_WS_CLOSE_NORMAL);

    ngx_ws_set_end(ws, NGX_WS_END_TIMEOUT);

    ngx_ws_end(ws, NGX_WS_GOODBYE, NGX_WS_CLOSE_NORMAL, "idle timeout");

    return NGX_DECLINED;
}



/*
 * A fast shutdown (SIGTERM) ends the worker without closing its
 * connections: each WebSocket of the worker is sent a Close 1001 first,
 * best effort and without waiting (ngx_ws_close_now()), with the reason
 * that tells where to resume when the routes have one, and then, without
 * TLS, a FIN, so that the Close is not lost to a reset when nginx closes
 * the socket.
 */

void
ngx_ws_conn_exit_process(ngx_cycle_t *cycle)
{
    size_t               len;
    ngx_int_t            rc;
    ngx_uint_t           i, n;
    ngx_ws_conn_t       *ws;
    ngx_connection_t    *c;
    u_char              *reason;
    u_char               hint[NGX_WS_MAX_CONTROL - 1];

    if (!ngx_terminate) {
        return;
    }

    n = 0;
    c = cycle->connections;

    for (i = 0; i < cycle->connection_n; i++) {

        if (c[i].fd == (ngx_socket_t) -1
            || c[i].read->handler != ngx_ws_read_handler)
        {
            continue;
        }

        ws = ngx_ws_conn_of(&c[i]);

        if (ws == NULL || ws->close_sent || ws->close_received
            || ws->conn_state != NGX_WS_CONN_OPEN)
        {
            continue;
        }

        reason = (u_char *) "server shutting down";
        len = sizeof("server shutting down") - 1;

        if (ngx_ws_routes.drain(ws, hint, sizeof(hint)) == NGX_OK) {
            reason = hint;
            len = ngx_strlen(hint);
        }

        rc = ngx_ws_close_now(ws, NGX_WS_CLOSE_GOING_AWAY, reason, len);

        ngx_log_error(NGX_LOG_INFO, c[i].log, 0,
                      "worker is terminating, %s 1001",
                      rc == NGX_OK ? "closed with" : "could not close with");

        if (rc == NGX_OK) {
            n++;
#if (NGX_HTTP_SSL)
            if (c[i].ssl == NULL)
#endif
            {
                (void) ngx_shutdown_socket(c[i].fd, NGX_WRITE_SHUTDOWN);
            }
        }
    }

    if (n) {
        ngx_log_error(NGX_LOG_INFO, cycle->log, 0,
                      "worker is terminating: %ui WebSocket connections "
                      "were sent Close 1001", n);
    }
}

/*
 * When a worker that shuts down closes a connection: ws_shutdown_delay,
 * then a time drawn uniformly from 0 to ws_drain_window, so that the
 * clients of a reloaded worker do not all come back in the same instant.
 */

static ngx_msec_t
ngx_ws_drain_delay(ngx_ws_conn_t *ws)
{
    ngx_msec_t  delay;

    delay = ws->conf->shutdown_delay;

    if (ws->conf->drain_window) {
        delay += (ngx_msec_t) ((uint64_t) ngx_random()
                               % ((uint64_t) ws->conf->drain_window + 1));
    }

    return delay;
}


/*
 * The close of a worker that shuts down: 1012 when a reload retired it
 * (the new workers are there: come back now), 1001 when nginx stops.  The
 * reason, when the routes have one, tells the client where to resume
 * from; otherwise it only says why.
 */

static void
ngx_ws_shutdown_handler(ngx_event_t *ev)
{
    ngx_uint_t      code;
    ngx_ws_conn_t  *ws;
    const char     *reason;
    u_char          hint[NGX_WS_MAX_CONTROL - 1];

    ws = ev->data;

    if (ws->close_sent) {
        return;
    }

    if (ngx_ws_status_retired()) {
        code = NGX_WS_CLOSE_RESTART;
        reason = "server restarting";

    } else {
        code = NGX_WS_CLOSE_GOING_AWAY;
        reason = "server shutting down";
    }

    if (ngx_ws_routes.drain(ws, hint, sizeof(hint)) == NGX_OK) {
        reason = (const char *) hint;
    }

    ngx_log_error(NGX_LOG_INFO, ws->connection->log, 0,
                  "worker is shutting down, closing with %ui", code);

    ngx_ws_end(ws, NGX_WS_GOODBYE, code, reason);
    ngx_ws_handle_output(ws);
}


/*
 * ws_close_timeout from our Close on.  It takes the timer of the drain
 * before a shutdown's Close (ngx_ws_shutdown_handler()), which has nothing
 * left to do once a Close is sent.
 */

static void
ngx_ws_close_timer(ngx_ws_conn_t *ws)
{
    ws->timer.end.handler = ngx_ws_close_timeout_handler;
    ngx_add_timer(&ws->timer.end, ws->conf->close_timeout);
}


static void
ngx_ws_close_timeout_handler(ngx_event_t *ev)
{
    ngx_ws_conn_t  *ws;

    ws = ev->data;

    if (ws->conn_state != NGX_WS_CONN_LINGERING) {
        ngx_log_error(NGX_LOG_INFO, ws->connection->log, 0,
                      "client did not answer close in time");
    }

    ngx_ws_terminate(ws);
}


static void
ngx_ws_release(ngx_ws_conn_t *ws)
{
    ngx_connection_t  *c;

    c = ws->connection;

    ngx_ws_set_state(ws, NGX_WS_CONN_FINALIZED);

    if (ws->timer.beat.timer_set) {
        ngx_del_timer(&ws->timer.beat);
    }

    if (ws->timer.end.timer_set) {
        ngx_del_timer(&ws->timer.end);
    }

    if (ws->limit.ev && ws->limit.ev->timer_set) {
        ngx_del_timer(ws->limit.ev);
    }

    if (ws->timer.beat.posted) {
        ngx_delete_posted_event(&ws->timer.beat);
    }

    if (c->write->timer_set) {
        ngx_del_timer(c->write);
    }

    if (ws->msg.pool) {
        ngx_destroy_pool(ws->msg.pool);
        ws->msg.pool = NULL;
    }

    ngx_ws_free_output(ws);

    if (ws->stash) {
        ngx_free(ws->stash);
        ws->stash = NULL;
    }

    ngx_ws_routes.close(ws);

    c->idle = 0;
}


/*
 * The close handshake is over and our Close is written: shut down the
 * write side, so the client sees the end at once, and drain what it still
 * sends for at most ws_close_timeout, so that our Close is not lost to a
 * reset caused by unread data.  The read handler closes on EOF.
 */

static void
ngx_ws_linger(ngx_ws_conn_t *ws)
{
    ngx_connection_t  *c;

    if (ws->conn_state >= NGX_WS_CONN_LINGERING) {
        return;
    }

    c = ws->connection;
    ngx_ws_set_state(ws, NGX_WS_CONN_LINGERING);

    /* the close handshake is over: it no longer counts as a subscriber */
    ngx_ws_routes.leave(ws);

#if (NGX_HTTP_SSL)
    if (c->ssl) {
        /*
         * close_notify goes right behind our Close, without waiting for
         * the client's; the rest is the same as without TLS, the socket
         * is read raw (and discarded) from now on
         */

        c->ssl->no_wait_shutdown = 1;
        c->ssl->shutdown_without_free = 1;

        if (ngx_ssl_shutdown(c) != NGX_OK) {
            /* nginx completes the TLS shutdown when it closes */
            c->ssl->shutdown_without_free = 0;
            ngx_ws_terminate(ws);
            return;
        }
    }
#endif

    if (ngx_shutdown_socket(c->fd, NGX_WRITE_SHUTDOWN) == -1) {
        ngx_connection_error(c, ngx_socket_errno,
                             ngx_shutdown_socket_n " failed");
        ngx_ws_terminate(ws);
        return;
    }

    ngx_ws_close_timer(ws);

    if (c->read->ready) {
        ngx_post_event(c->read, &ngx_posted_events);
    }
}


/*
 * Closes the connection: the request is finalized with its last reference,
 * logged, and freed together with ws.
 */

static void
ngx_ws_terminate(ngx_ws_conn_t *ws)
{
    ngx_connection_t    *c;
    ngx_http_request_t  *r;

    if (ws->conn_state == NGX_WS_CONN_FINALIZED) {
        return;
    }

    ngx_ws_set_end(ws, NGX_WS_END_SERVER);
    ngx_ws_stat_close(ngx_ws_end_code(ws), ws->end);
    ngx_ws_release(ws);

    r = ws->request;
    c = ws->connection;

    if (r == NULL) {
        /* released after the upgrade: logged on a request made again */
        ngx_ws_request_finalize(ws);
        return;
    }

    r->lingering_close = 0;
    c->read->eof = 1;

    ngx_http_finalize_request(r, NGX_DONE);
}
