
/*
 * Copyright (C) ngx_ws_module authors
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include "ngx_ws_module.h"


/*
 * The output queue.  Every frame the server sends is an ngx_ws_msg_t that
 * lives in a pool of its own together with its payload (small frames that
 * follow one another may share one, ngx_ws_append()); the queue is
 * written with one send_chain() call per flush, and a frame's pool is
 * destroyed (or kept for the worker's next messages, ngx_ws_pool_free())
 * as soon as its last byte has left, so nothing accumulates on a
 * long-lived connection.  ws->out.queued counts the frame bytes waiting,
 * ws->out.mem the memory behind them (the pools, the per-connection
 * ngx_ws_msg_t of a shared frame): that is what ws_send_buffer bounds, so
 * that many small frames cannot cost much more than their bytes say.  The
 * parser and the reader stop as soon as it is above ws_send_buffer.  While
 * the socket is full, at most one Pong waits: a Ping that finds one not yet
 * started replaces its payload (RFC 6455 5.5.3 lets a Pong answer only the
 * latest Ping).
 */


#define NGX_WS_MAX_FREE_MSGS      32

/* what is in front of a payload given to ngx_ws_queue_message() */
#define NGX_WS_ROOM_NONE          0
#define NGX_WS_ROOM_HEADER        1     /* NGX_WS_FRAME_ROOM */
#define NGX_WS_ROOM_MSG           2     /* and the ngx_ws_msg_t before it */

#if (NGX_HTTP_SSL)
#define ngx_ws_ssl_buffered(c)                                                \
    ((c)->ssl && ((c)->buffered & NGX_SSL_BUFFERED))
#else
#define ngx_ws_ssl_buffered(c)    0
#endif


static ngx_int_t ngx_ws_queue_message(ngx_ws_conn_t *ws, ngx_uint_t opcode,
    ngx_pool_t *pool, u_char *data, size_t len, ngx_uint_t room);
static ngx_int_t ngx_ws_append(ngx_ws_conn_t *ws, ngx_uint_t opcode,
    u_char *data, size_t len);
static ngx_inline void ngx_ws_count_out(ngx_ws_conn_t *ws,
    ngx_uint_t opcode, size_t size);
static ngx_buf_t *ngx_ws_msg_buf(ngx_buf_t *b, u_char *pos, u_char *last);
static void ngx_ws_enqueue(ngx_ws_conn_t *ws, ngx_ws_msg_t *m);
static size_t ngx_ws_data_mem(ngx_pool_t *pool, u_char *data, size_t len);
static ngx_uint_t ngx_ws_pool_holds(ngx_pool_t *pool, u_char *data);
static void ngx_ws_msg_free(ngx_ws_conn_t *ws, ngx_ws_msg_t *m);
static void ngx_ws_output_relink(ngx_ws_conn_t *ws);


ngx_int_t
ngx_ws_send_message(ngx_ws_conn_t *ws, ngx_uint_t opcode, ngx_pool_t *pool,
    u_char *data, size_t len)
{
    return ngx_ws_queue_message(ws, opcode, pool, data, len,
                                NGX_WS_ROOM_NONE);
}


/*
 * The same for a payload with NGX_WS_FRAME_ROOM bytes of its pool free in
 * front of it (a message as the parser assembled it, ngx_ws_reserve()):
 * unless it is compressed, the frame header is written there and the frame
 * is one buffer, one iovec for send_chain().
 */

ngx_int_t
ngx_ws_send_room(ngx_ws_conn_t *ws, ngx_uint_t opcode, ngx_pool_t *pool,
    u_char *data, size_t len)
{
    return ngx_ws_queue_message(ws, opcode, pool, data, len,
                                NGX_WS_ROOM_HEADER);
}


/*
 * The same for a message as the parser assembled it with ws_echo on: the
 * room in front of it holds the frame's ngx_ws_msg_t too (ngx_ws_msg_room()),
 * so nothing is allocated after the payload, which stays the last thing in
 * its pool for the frames that may join it (ngx_ws_append()).
 */

ngx_int_t
ngx_ws_send_parsed(ngx_ws_conn_t *ws, ngx_uint_t opcode, ngx_pool_t *pool,
    u_char *data, size_t len)
{
    return ngx_ws_queue_message(ws, opcode, pool, data, len,
                                NGX_WS_ROOM_MSG);
}


static ngx_int_t
ngx_ws_queue_message(ngx_ws_conn_t *ws, ngx_uint_t opcode, ngx_pool_t *pool,
    u_char *data, size_t len, ngx_uint_t room)
{
    u_char        *h, *orig;
    size_t         size, hlen;
    ngx_int_t      rc;
    ngx_buf_t     *b;
    ngx_uint_t     rsv;
    ngx_ws_msg_t  *m;

    if (ws->close_sent || ws->conn_state == NGX_WS_CONN_FINALIZED) {
        if (pool) {
            ngx_destroy_pool(pool);
        }

        return NGX_DECLINED;
    }

    if (ws->out.head && room && len && pool && ws->deflate == NULL
        && ngx_ws_append(ws, opcode, data, len) == NGX_OK)
    {
        /* the frame is a copy now: its pool is done with */

        ngx_ws_pool_free(pool);
        ngx_ws_count_out(ws, opcode, len);

        ngx_log_debug4(NGX_LOG_DEBUG_HTTP, ws->connection->log, 0,
                       "ws send op:%ui len:%uz queued:%uz mem:%uz joined",
                       opcode, len, ws->out.queued, ws->out.mem);

        return NGX_OK;
    }

    if (pool == NULL) {
        pool = ngx_ws_control_pool_get(ws->connection->log);
        if (pool == NULL) {
            return NGX_ERROR;
        }
    }

    if (room == NGX_WS_ROOM_MSG && data) {
        m = (ngx_ws_msg_t *) (data - NGX_WS_FRAME_ROOM - sizeof(ngx_ws_msg_t));

    } else {
        m = ngx_palloc(pool, sizeof(ngx_ws_msg_t));
        if (m == NULL) {
            ngx_destroy_pool(pool);
            return NGX_ERROR;
        }
    }

    m->next = NULL;
    m->pool = pool;
    m->shared = NULL;

    rsv = 0;
    size = len;                     /* counted before compression */
    orig = data;

    if (ws->deflate && !(opcode & 0x8)) {
        rc = ngx_ws_deflate_message(ws, pool, &data, &len);

        if (rc == NGX_ERROR) {
            ngx_destroy_pool(pool);
            return NGX_ERROR;
        }

        if (rc == NGX_OK) {
            rsv = 0x40;
        }
    }

    /* the payload is in the pool's blocks or a large allocation of it */

    m->mem = ngx_ws_data_mem(pool, data, len);

    if (room && len && rsv == 0) {

        /* the header in front of the payload: one buffer */

        hlen = (len < 126) ? 2 : ((len < 65536) ? 4 : 10);
        h = data - hlen;

        (void) ngx_ws_frame_header(h, (u_char) (0x80 | opcode), len);

        m->head.buf = ngx_ws_msg_buf(&m->head_buf, h, data + len);
        m->body.buf = NULL;
        m->size = hlen + len;

    } else {
        h = ngx_ws_frame_header(m->header, (u_char) (0x80 | rsv | opcode),
                                len);

        m->head.buf = ngx_ws_msg_buf(&m->head_buf, m->header, h);
        m->size = (h - m->header) + len;

        if (rsv && !ngx_ws_pool_holds(pool, orig)) {
            m->mem += size;
        }

        /* set up even when empty: a Pong may get a payload later */

        b = ngx_ws_msg_buf(&m->body_buf, data, data ? data + len : NULL);
        m->body.buf = len ? b : NULL;
    }

    m->head.next = NULL;
    m->body.next = NULL;

    ngx_ws_enqueue(ws, m);

    ngx_ws_count_out(ws, opcode, size);

    ngx_log_debug4(NGX_LOG_DEBUG_HTTP, ws->connection->log, 0,
                   "ws send op:%ui len:%uz queued:%uz mem:%uz",
                   opcode, len, ws->out.queued, ws->out.mem);

    return NGX_OK;
}


/*
 * A frame whose payload has room for its header joins the last frame of
 * the queue when that one is a frame of its own pool whose buffer ends
 * where the pool's free part begins, and the rest of its block holds the
 * new frame: the echoes of the messages of one read leave as one buffer,
 * one iovec, from one pool, and the new frame's pool is done with at once.
 * The queue's memory is that of its pools and does not grow; its bytes
 * do.  A frame whose header is in its ngx_ws_msg_t (a control frame,
 * a compressed one) has its payload apart: nothing joins it.
 */

static ngx_int_t
ngx_ws_append(ngx_ws_conn_t *ws, ngx_uint_t opcode, u_char *data, size_t len)
{
    size_t         hlen;
    u_char        *p;
    ngx_pool_t    *pool;
    ngx_ws_msg_t  *t;

    t = (ngx_ws_msg_t *) ((u_char *) ws->out.last
                          - offsetof(ngx_ws_msg_t, next));

    pool = t->pool;
    hlen = ngx_ws_frame_header_size(len);

    if (pool == NULL
        || t->head_buf.start == t->header
        || t->body.buf != NULL
        || t->head_buf.last != pool->d.last
        || (size_t) (pool->d.end - pool->d.last) < hlen + len)
    {
        return NGX_DECLINED;
    }

    p = ngx_ws_frame_header(pool->d.last, (u_char) (0x80 | opcode), len);
    p = ngx_cpymem(p, data, len);

    pool->d.last = p;

    t->head_buf.last = p;
    t->head_buf.end = p;
    t->size += hlen + len;

    ws->out.queued += hlen + len;

    return NGX_OK;
}


/* a frame queued: the close handshake, or a data message counted */

static ngx_inline void
ngx_ws_count_out(ngx_ws_conn_t *ws, ngx_uint_t opcode, size_t size)
{
    if (opcode == NGX_WS_OP_CLOSE) {
        ws->close_sent = 1;

    } else if (!(opcode & 0x8)) {
        ws->timer.last_data = ngx_current_msec;
        ws->stat.messages_out++;
        ws->stat.bytes_out += size;
        ngx_ws_stats->messages_out++;
        ngx_ws_stats->bytes_out += size;

        if (ws->stat.shared) {
            ws->stat.shared->messages_out = ws->stat.messages_out;
            ws->stat.shared->bytes_out = ws->stat.bytes_out;
        }
    }
}


/* a buffer of a frame, in memory from pos to last */

static ngx_buf_t *
ngx_ws_msg_buf(ngx_buf_t *b, u_char *pos, u_char *last)
{
    ngx_memzero(b, sizeof(ngx_buf_t));

    b->pos = pos;
    b->last = last;
    b->start = pos;
    b->end = last;
    b->memory = 1;

    return b;
}


static void
ngx_ws_enqueue(ngx_ws_conn_t *ws, ngx_ws_msg_t *m)
{
    *ws->out.last = m;
    ws->out.last = &m->next;
    ws->out.queued += m->size;
    ws->out.mem += m->mem;

    /* the parser stops after this frame, the reader before the next read */

    if (ws->out.mem > ws->conf->send_buffer
        && !(ws->hold & NGX_WS_HOLD_OUTPUT))
    {
        ngx_log_debug2(NGX_LOG_DEBUG_HTTP, ws->connection->log, 0,
                       "ws reading paused queued:%uz mem:%uz",
                       ws->out.queued, ws->out.mem);
        ws->hold |= NGX_WS_HOLD_OUTPUT;
    }
}


/*
 * The memory behind len bytes at data in a pool: its blocks, all as large
 * as the first one, and the bytes themselves unless a block holds them
 * (what is larger than a pool's max is a large allocation outside them).
 * A pool of one block, the common case, is one pass of the loop.
 */

static size_t
ngx_ws_data_mem(ngx_pool_t *pool, u_char *data, size_t len)
{
    size_t       block, mem;
    ngx_pool_t  *p;

    block = (size_t) (pool->d.end - (u_char *) pool);
    mem = 0;

    for (p = pool; p; p = p->d.next) {
        mem += block;

        if (data >= (u_char *) p && data < p->d.end) {
            len = 0;
        }
    }

    return mem + len;
}


static ngx_uint_t
ngx_ws_pool_holds(ngx_pool_t *pool, u_char *data)
{
    ngx_pool_t  *p;

    for (p = pool; p; p = p->d.next) {
        if (data >= (u_char *) p && data < p->d.end) {
            return 1;
        }
    }

    return 0;
}


/* what a shared frame costs a connection that queues it */

size_t
ngx_ws_shared_mem(ngx_ws_shared_t *sh)
{
    return sizeof(ngx_ws_msg_t) + ngx_ws_data_mem(sh->pool, sh->frame,
                                                  sh->len);
}


/* a control frame: the payload (at most 125 bytes) is copied */

ngx_int_t
ngx_ws_send_frame(ngx_ws_conn_t *ws, ngx_uint_t opcode, u_char *data,
    size_t len)
{
    u_char      *p;
    ngx_pool_t  *pool;

    if (ws->close_sent || ws->conn_state == NGX_WS_CONN_FINALIZED) {
        return NGX_DECLINED;
    }

    pool = ngx_ws_control_pool_get(ws->connection->log);
    if (pool == NULL) {
        return NGX_ERROR;
    }

    p = NULL;

    if (len) {
        p = ngx_pnalloc(pool, len);
        if (p == NULL) {
            ngx_destroy_pool(pool);
            return NGX_ERROR;
        }

        ngx_memcpy(p, data, len);
    }

    return ngx_ws_send_message(ws, opcode, pool, p, len);
}


/*
 * The answer to a Ping.  While the socket takes no more, a Pong still
 * waiting, not started, gets the new payload instead of a second Pong
 * being queued: a client that sends Pings and does not read costs one
 * Pong, not one per Ping.  A client that reads gets a Pong for every Ping.
 */

ngx_int_t
ngx_ws_send_pong(ngx_ws_conn_t *ws, u_char *data, size_t len)
{
    u_char        *p;
    ngx_int_t      rc;
    ngx_pool_t    *pool;
    ngx_ws_msg_t  *m;

    if (ws->close_sent || ws->conn_state == NGX_WS_CONN_FINALIZED) {
        return NGX_DECLINED;
    }

    m = ws->out.pong;

    if (m && m->head_buf.pos == m->header && !ws->connection->write->ready) {
        p = m->body_buf.start;

        ngx_memcpy(p, data, len);

        ws->out.queued -= m->size;

        m->header[1] = (u_char) len;
        m->size = 2 + len;
        m->body_buf.pos = p;
        m->body_buf.last = p + len;
        m->body.buf = len ? &m->body_buf : NULL;

        ws->out.queued += m->size;

        ngx_log_debug1(NGX_LOG_DEBUG_HTTP, ws->connection->log, 0,
                       "ws pong replaced len:%uz", len);

        return NGX_OK;
    }

    pool = ngx_ws_control_pool_get(ws->connection->log);
    if (pool == NULL) {
        return NGX_ERROR;
    }

    /* room for any payload, for the Pings to come */

    p = ngx_pnalloc(pool, NGX_WS_MAX_CONTROL);
    if (p == NULL) {
        ngx_destroy_pool(pool);
        return NGX_ERROR;
    }

    ngx_memcpy(p, data, len);

    rc = ngx_ws_queue_message(ws, NGX_WS_OP_PONG, pool, p, len,
                              NGX_WS_ROOM_NONE);

    if (rc == NGX_OK) {
        /* the last frame: nothing joins a frame without room */
        ws->out.pong = (ngx_ws_msg_t *) ((u_char *) ws->out.last
                                         - offsetof(ngx_ws_msg_t, next));
    }

    return rc;
}


/*
 * A Close with a status code and a reason cut to the 123 bytes a control
 * frame leaves, at a character boundary; a reason that is not UTF-8 is
 * left out.
 */

ngx_int_t
ngx_ws_send_close(ngx_ws_conn_t *ws, ngx_uint_t code, const char *reason)
{
    size_t  len, n;
    u_char  buf[NGX_WS_MAX_CONTROL];

    if (!ws->close_sent && !ws->close_received) {
        ws->closed_by_server = 1;

        /* as ngx_ws_set_end(): the first to end the connection is right */
        if (ws->end == NGX_WS_END_OPEN) {
            ws->end = NGX_WS_END_SERVER;
        }
    }

    if (code == 0) {
        return ngx_ws_send_frame(ws, NGX_WS_OP_CLOSE, NULL, 0);
    }

    buf[0] = (u_char) (code >> 8);
    buf[1] = (u_char) code;
    len = 2;

    if (reason) {
        n = ngx_strlen(reason);

        if (n > NGX_WS_MAX_CONTROL - 2) {
            n = NGX_WS_MAX_CONTROL - 2;

            while (n && (reason[n] & 0xc0) == 0x80) {
                n--;
            }
        }

        if (ngx_ws_utf8_validate(NGX_WS_UTF8_ACCEPT, (u_char *) reason, n)
            == NGX_WS_UTF8_ACCEPT)
        {
            ngx_memcpy(buf + 2, reason, n);
            len += n;
        }
    }

    ws->close_code = code;

    if (ws->closed_by_server && len > 2 && !ws->close_sent) {
        ws->close_reason.data = ngx_pnalloc(ws->pool, len - 2);
        if (ws->close_reason.data) {
            ngx_memcpy(ws->close_reason.data, buf + 2, len - 2);
            ws->close_reason.len = len - 2;
        }
    }

    return ngx_ws_send_frame(ws, NGX_WS_OP_CLOSE, buf, len);
}


/*
 * Writes as much of the queue as the socket takes.  Returns NGX_OK when
 * the queue is empty, NGX_AGAIN when the rest waits for a write event, and
 * NGX_ERROR when the connection is broken.
 */

ngx_int_t
ngx_ws_flush(ngx_ws_conn_t *ws)
{
    off_t               sent;
    ngx_buf_t           *last;
    ngx_int_t           rc;
    ngx_chain_t         *out, **ll, *cl;
    ngx_event_t         *wev;
    ngx_ws_msg_t        *m;
    ngx_connection_t    *c;
    ngx_http_request_t  *r;

    c = ws->connection;
    r = ws->request;
    wev = c->write;

    if (c->error) {
        return NGX_ERROR;
    }

    /* what is left of the 101 response goes first */

    if (c->buffered & NGX_HTTP_LOWLEVEL_BUFFERED) {
        rc = ngx_http_output_filter(r, NULL);

        if (rc == NGX_ERROR) {
            c->error = 1;
            return NGX_ERROR;
        }

        if (c->buffered & NGX_HTTP_LOWLEVEL_BUFFERED) {
            goto again;
        }
    }

    if (ws->out.head == NULL && !ngx_ws_ssl_buffered(c)) {
        goto done;
    }

    if (!wev->ready) {
        goto again;
    }

    out = NULL;
    ll = &out;
    last = NULL;

    for (m = ws->out.head; m; m = m->next) {
        *ll = &m->head;
        ll = &m->head.next;
        last = m->head.buf;

        if (m->body.buf) {
            *ll = &m->body;
            ll = &m->body.next;
            last = m->body.buf;
        }
    }

    *ll = NULL;

    /*
     * with TLS, send_chain() copies into a record buffer and writes it only
     * when it is full or told to flush; an empty chain flushes what is left
     */

    if (last) {
        last->flush = 1;
    }

    c->log->action = "sending WebSocket frames";

    sent = c->sent;

    cl = c->send_chain(c, out, 0);

    ngx_ws_stats->writes++;

    c->log->action = "processing WebSocket";

    if (cl == NGX_CHAIN_ERROR) {
        c->error = 1;
        return NGX_ERROR;
    }

    ws->out.queued -= (size_t) (c->sent - sent);

    while (ws->out.head) {
        m = ws->out.head;

        if (ngx_buf_size(m->head.buf)
            || (m->body.buf && ngx_buf_size(m->body.buf)))
        {
            break;
        }

        ws->out.head = m->next;
        ngx_ws_msg_free(ws, m);
    }

    if (ws->out.head == NULL) {
        ws->out.last = &ws->out.head;

        if (!ngx_ws_ssl_buffered(c)) {
            goto done;
        }
    }

    if (c->sent != sent || !wev->timer_set) {
        ngx_add_timer(wev, ws->conf->send_timeout);
    }

again:

    if (ngx_handle_write_event(wev, 0) != NGX_OK) {
        c->error = 1;
        return NGX_ERROR;
    }

    return NGX_AGAIN;

done:

    if (wev->timer_set) {
        ngx_del_timer(wev);
    }

    if (ngx_handle_write_event(wev, 0) != NGX_OK) {
        c->error = 1;
        return NGX_ERROR;
    }

    return NGX_OK;
}


void
ngx_ws_free_output(ngx_ws_conn_t *ws)
{
    ngx_ws_msg_t  *m;

    while (ws->out.head) {
        m = ws->out.head;
        ws->out.head = m->next;
        ngx_ws_msg_free(ws, m);
    }

    ws->out.last = &ws->out.head;
    ws->out.queued = 0;
    ws->out.mem = 0;

    while (ws->out.free) {
        m = ws->out.free;
        ws->out.free = m->next;
        ngx_free(m);
    }

    ws->out.nfree = 0;
}


/*
 * A frame shared by many connections (a channel message): only a small
 * ngx_ws_msg_t is per connection, recycled through ws->out.free, and the
 * frame's pool goes when the last connection has written it.
 */

ngx_int_t
ngx_ws_send_shared(ngx_ws_conn_t *ws, ngx_ws_shared_t *sh)
{
    ngx_buf_t     *b;
    ngx_ws_msg_t  *m;

    if (ws->close_sent || ws->conn_state == NGX_WS_CONN_FINALIZED) {
        return NGX_DECLINED;
    }

    m = ws->out.free;

    if (m) {
        ws->out.free = m->next;
        ws->out.nfree--;

    } else {
        m = ngx_alloc(sizeof(ngx_ws_msg_t), ws->connection->log);
        if (m == NULL) {
            return NGX_ERROR;
        }
    }

    m->next = NULL;
    m->pool = NULL;
    m->shared = sh;
    m->size = sh->len;
    m->mem = ngx_ws_shared_mem(sh);

    b = ngx_ws_msg_buf(&m->head_buf, sh->frame, sh->frame + sh->len);

    m->head.buf = b;
    m->head.next = NULL;
    m->body.buf = NULL;

    sh->refs++;

    ngx_ws_enqueue(ws, m);

    ws->timer.last_data = ngx_current_msec;

    ws->stat.messages_out++;
    ws->stat.bytes_out += sh->payload;
    ngx_ws_stats->messages_out++;
    ngx_ws_stats->bytes_out += sh->payload;
    ngx_ws_stats->delivered++;

    if (ws->stat.shared) {
        ws->stat.shared->messages_out = ws->stat.messages_out;
        ws->stat.shared->bytes_out = ws->stat.bytes_out;
    }

    return NGX_OK;
}



/*
 * A fast shutdown (SIGTERM) waits for nothing: a Close is written once,
 * straight to the socket (with TLS, one SSL_write()), and whatever cannot
 * be written at once is given up.  Nothing is written when a frame has
 * been partly written (the Close would land inside it) or TLS holds bytes
 * not written yet.
 */

ngx_int_t
ngx_ws_close_now(ngx_ws_conn_t *ws, ngx_uint_t code, u_char *reason,
    size_t len)
{
    size_t             total;
    ssize_t            n;
    ngx_ws_msg_t      *m;
    ngx_connection_t  *c;
    u_char             frame[2 + NGX_WS_MAX_CONTROL];

    c = ws->connection;

    if (ws->close_sent || c->error || ngx_ws_ssl_buffered(c)) {
        return NGX_DECLINED;
    }

    total = 0;

    for (m = ws->out.head; m; m = m->next) {
        total += m->size;
    }

    if (total != ws->out.queued) {
        /* the first frame is partly written */
        return NGX_DECLINED;
    }

    if (len > NGX_WS_MAX_CONTROL - 2) {
        len = 0;
    }

    frame[0] = 0x80 | NGX_WS_OP_CLOSE;
    frame[1] = (u_char) (2 + len);
    frame[2] = (u_char) (code >> 8);
    frame[3] = (u_char) code;
    ngx_memcpy(frame + 4, reason, len);

    ws->close_sent = 1;
    ws->closed_by_server = 1;
    ws->close_code = code;

    n = c->send(c, frame, 4 + len);

    return (n == (ssize_t) (4 + len)) ? NGX_OK : NGX_AGAIN;
}

/*
 * Drops the frames that have not started to be written, oldest first,
 * until the queue holds no more than limit bytes of memory; returns how
 * many were dropped.
 */

ngx_uint_t
ngx_ws_drop_output(ngx_ws_conn_t *ws, size_t limit)
{
    return ngx_ws_drop_output_class(ws, limit,
                                    (1 << NGX_WS_CLASS_NORMAL)
                                    | (1 << NGX_WS_CLASS_DROPPABLE)
                                    | (1 << NGX_WS_CLASS_CRITICAL));
}


/*
 * The same for the channel frames of the classes in the mask
 * (1 << NGX_WS_CLASS_*) only.
 */

ngx_uint_t
ngx_ws_drop_output_class(ngx_ws_conn_t *ws, size_t limit, ngx_uint_t classes)
{
    ngx_uint_t      n;
    ngx_ws_msg_t  **mp, *m;

    n = 0;

    /* the first frame may be partly written: it stays */

    if (ws->out.head == NULL) {
        return 0;
    }

    mp = &ws->out.head->next;

    while (*mp && ws->out.mem > limit) {
        m = *mp;

        /* only channel frames are dropped, never control frames */

        if (m->shared == NULL || !(classes & (1 << m->shared->cls))) {
            mp = &m->next;
            continue;
        }

        *mp = m->next;
        ws->out.queued -= m->size;
        ngx_ws_msg_free(ws, m);
        n++;
    }

    ngx_ws_output_relink(ws);

    return n;
}


static void
ngx_ws_output_relink(ngx_ws_conn_t *ws)
{
    ngx_ws_msg_t  *m;

    ws->out.last = &ws->out.head;

    for (m = ws->out.head; m; m = m->next) {
        ws->out.last = &m->next;
    }
}


/*
 * A newer message of a conflation key replaces the frames of the same
 * channel and key that have not started to be written: they are dropped,
 * and the newer one, queued next by the caller, keeps the order of ids.
 * Returns how many were dropped.
 */

ngx_uint_t
ngx_ws_conflate_output(ngx_ws_conn_t *ws, ngx_ws_shared_t *sh)
{
    ngx_uint_t        n;
    ngx_ws_msg_t    **mp, *m;
    ngx_ws_shared_t  *o;

    if (ws->out.head == NULL || sh->key_len == 0) {
        return 0;
    }

    n = 0;

    for (mp = &ws->out.head->next; *mp; /* void */) {
        m = *mp;
        o = m->shared;

        if (o == NULL || o->uid != sh->uid || o->hash != sh->hash
            || o->key_len != sh->key_len
            || ngx_memcmp(o->key, sh->key, sh->key_len) != 0)
        {
            mp = &m->next;
            continue;
        }

        *mp = m->next;
        ws->out.queued -= m->size;
        ngx_ws_msg_free(ws, m);
        n++;
    }

    if (n) {
        ngx_ws_output_relink(ws);
    }

    return n;
}


/*
 * Whether channel frames of the classes in the mask wait that have not
 * started to be written.
 */

ngx_uint_t
ngx_ws_output_waiting(ngx_ws_conn_t *ws, ngx_uint_t classes)
{
    ngx_ws_msg_t  *m;

    if (ws->out.head == NULL) {
        return 0;
    }

    for (m = ws->out.head->next; m; m = m->next) {
        if (m->shared && (classes & (1 << m->shared->cls))) {
            return 1;
        }
    }

    return 0;
}


static void
ngx_ws_msg_free(ngx_ws_conn_t *ws, ngx_ws_msg_t *m)
{
    ngx_ws_shared_t  *sh;

    ws->out.mem -= m->mem;

    if (m == ws->out.pong) {
        ws->out.pong = NULL;
    }

    if (m->shared == NULL) {
        ngx_ws_pool_free(m->pool);
        return;
    }

    sh = m->shared;

    if (--sh->refs == 0) {
        ngx_destroy_pool(sh->pool);
    }

    if (ws->out.nfree >= NGX_WS_MAX_FREE_MSGS) {
        ngx_free(m);
        return;
    }

    m->next = ws->out.free;
    ws->out.free = m;
    ws->out.nfree++;
}
