
/*
 * Copyright (C) ngx_ws_module authors
 */


#ifndef _NGX_WS_FUZZ_CONN_H_INCLUDED_
#define _NGX_WS_FUZZ_CONN_H_INCLUDED_


/*
 * A WebSocket connection without a socket, for the targets that drive the
 * frame parser (frames, deflate): ngx_ws_input(), the engine's driver of
 * ngx_ws_parse(), with the real control, message and fail paths and the
 * module's output queue, written by
 * ngx_ws_flush() through a fake send_chain() that takes only as many
 * bytes as the input allows each time.
 *
 * Each input is run twice: in the chunks it names (ngx_ws_fuzz.h), each
 * chunk in a buffer of its own so that ASan catches a read beyond what a
 * recv() brought, with partial writes; and as one piece with whole writes.
 * ngx_ws_fuzz_compare() then requires the same bytes written and the same
 * end of the connection.
 */


#include "ngx_ws_fuzz.h"


typedef struct {
    u_char      *data;
    size_t       len;
    size_t       size;
    ngx_uint_t   conn_state;
    ngx_uint_t   close_received;
    ngx_uint_t   close_code;
    ngx_uint_t   peer_close_code;
} ngx_ws_fuzz_result_t;


/* called once the connection exists, before any input: NGX_OK or abort */
typedef ngx_int_t (*ngx_ws_fuzz_setup_pt)(ngx_ws_conn_t *ws,
    ngx_http_request_t *r, void *data);


static ngx_chain_t *ngx_ws_fuzz_send_chain(ngx_connection_t *c,
    ngx_chain_t *in, off_t limit);
static void ngx_ws_fuzz_run(ngx_ws_loc_conf_t *conf, const u_char *stream,
    size_t size, ngx_ws_fuzz_chunks_t *ch, ngx_ws_fuzz_result_t *res,
    ngx_ws_fuzz_setup_pt setup, void *data);
static void ngx_ws_fuzz_check(ngx_ws_conn_t *ws);


static size_t                  ngx_ws_fuzz_budget;
static ngx_ws_fuzz_result_t   *ngx_ws_fuzz_out;


static void
ngx_ws_fuzz_compare(ngx_ws_fuzz_result_t *chunked, ngx_ws_fuzz_result_t *once)
{
    if (chunked->len != once->len
        || (once->len && ngx_memcmp(chunked->data, once->data, once->len) != 0)
        || chunked->conn_state != once->conn_state
        || chunked->close_received != once->close_received
        || chunked->close_code != once->close_code
        || chunked->peer_close_code != once->peer_close_code)
    {
        fprintf(stderr, "fuzz: chunked and whole runs differ: "
                "written %zu/%zu state %d/%d close %d/%d code %d/%d\n",
                chunked->len, once->len, (int) chunked->conn_state,
                (int) once->conn_state, (int) chunked->close_received,
                (int) once->close_received, (int) chunked->close_code,
                (int) once->close_code);
        abort();
    }

    free(chunked->data);
    free(once->data);
}


static void
ngx_ws_fuzz_run(ngx_ws_loc_conf_t *conf, const u_char *stream, size_t size,
    ngx_ws_fuzz_chunks_t *ch, ngx_ws_fuzz_result_t *res,
    ngx_ws_fuzz_setup_pt setup, void *data)
{
    u_char              *buf, *p;
    size_t               done, n;
    ngx_int_t            rc;
    ngx_pool_t          *pool;
    ngx_event_t         *rev, *wev;
    ngx_ws_conn_t       *ws;
    ngx_connection_t    *c;
    ngx_http_request_t  *r;

    pool = ngx_create_pool(1024, &ngx_ws_fuzz_log);
    if (pool == NULL) {
        abort();
    }

    c = ngx_pcalloc(pool, sizeof(ngx_connection_t));
    rev = ngx_pcalloc(pool, sizeof(ngx_event_t));
    wev = ngx_pcalloc(pool, sizeof(ngx_event_t));
    ws = ngx_pcalloc(pool, sizeof(ngx_ws_conn_t));
    r = ngx_pcalloc(pool, sizeof(ngx_http_request_t));

    if (c == NULL || rev == NULL || wev == NULL || ws == NULL || r == NULL) {
        abort();
    }

    /* a request only for what the setup needs: its pool, headers, log */

    r->connection = c;
    r->pool = pool;
    r->main = r;

    c->fd = (ngx_socket_t) -1;
    c->pool = pool;
    c->log = &ngx_ws_fuzz_log;
    c->read = rev;
    c->write = wev;
    c->send_chain = ngx_ws_fuzz_send_chain;

    rev->data = c;
    rev->log = c->log;
    rev->ready = 1;

    wev->data = c;
    wev->log = c->log;
    wev->write = 1;
    wev->ready = 1;

    ws->signature = NGX_WS_SIGNATURE;
    ws->request = r;
    ws->connection = c;
    ws->conf = conf;
    ws->pool = pool;
    ws->out.head = NULL;
    ws->out.last = &ws->out.head;
    ws->parse.state = ngx_ws_st_head;
    ngx_queue_init(&ws->subs);

    /* ngx_ws_end() posts the write event, as for another connection */

    if (ngx_posted_events.next == NULL) {
        ngx_queue_init(&ngx_posted_events);
    }

    /* the routes, as the module's postconfiguration sets them */

    if (ngx_ws_route_init(NULL) != NGX_OK) {
        abort();
    }

    if (setup && setup(ws, r, data) != NGX_OK) {
        abort();
    }

    ngx_ws_fuzz_out = res;

    done = 0;

    /* until the connection fails, is aborted or the client's Close read */

    while (done < size && ws->conn_state < NGX_WS_CONN_CLOSED) {

        if (ws->hold & NGX_WS_HOLD_OUTPUT) {
            /*
             * the engine stops parsing and reading until the memory of
             * the queue is back within ws_send_buffer
             */
            ngx_ws_fuzz_budget = ngx_ws_fuzz_next_chunk(ch);

            if (ngx_ws_flush(ws) == NGX_ERROR) {
                abort();
            }

            if (ws->out.mem <= conf->send_buffer) {
                ws->hold &= ~NGX_WS_HOLD_OUTPUT;
            }

            continue;
        }

        n = ngx_ws_fuzz_next_chunk(ch);     /* ngx_min() evaluates twice */
        n = ngx_min(n, size - done);

        buf = malloc(n);
        if (buf == NULL) {
            abort();
        }

        ngx_memcpy(buf, stream + done, n);

        p = ngx_ws_input(ws, buf, buf + n);

        if (p != NULL && p != buf + n && !(ws->hold & NGX_WS_HOLD_OUTPUT)) {
            fprintf(stderr, "fuzz: parser stopped at %zu of %zu\n",
                    (size_t) (p - buf), n);
            abort();
        }

        /* what the parser left while the queue is full comes again */
        done += (p != NULL) ? (size_t) (p - buf) : n;

        free(buf);

        ngx_ws_fuzz_check(ws);

        ngx_ws_fuzz_budget = ngx_ws_fuzz_next_chunk(ch);

        if (ngx_ws_flush(ws) == NGX_ERROR) {
            abort();
        }
    }

    /* what is queued is written in the end, whatever the budget */

    ngx_ws_fuzz_budget = (size_t) -1;

    rc = ngx_ws_flush(ws);

    if (rc != NGX_OK || ws->out.head != NULL || ws->out.queued != 0
        || ws->out.mem != 0 || ws->out.pong != NULL)
    {
        fprintf(stderr, "fuzz: flush %d left %zu bytes, %zu of memory\n",
                (int) rc, ws->out.queued, ws->out.mem);
        abort();
    }

    res->conn_state = ws->conn_state;
    res->close_received = ws->close_received;
    res->close_code = ws->close_code;
    res->peer_close_code = ws->peer_close_code;

    /* what ngx_ws_release() and ngx_close_connection() do */

    if (wev->timer_set) {
        ngx_del_timer(wev);
    }

    if (wev->posted) {
        ngx_delete_posted_event(wev);
    }

    if (ws->msg.pool) {
        ngx_destroy_pool(ws->msg.pool);
        ws->msg.pool = NULL;
    }

    ngx_ws_free_output(ws);

    /* the pool's cleanups end what the setup attached (zlib streams) */
    ngx_destroy_pool(pool);
}


/* takes at most the budget, as a socket with a small send buffer would */

static ngx_chain_t *
ngx_ws_fuzz_send_chain(ngx_connection_t *c, ngx_chain_t *in, off_t limit)
{
    size_t                 n, want;
    ngx_buf_t             *b;
    ngx_ws_fuzz_result_t  *res;

    res = ngx_ws_fuzz_out;

    for ( /* void */ ; in; in = in->next) {
        b = in->buf;

        if (!ngx_buf_in_memory(b) || b->pos > b->last) {
            fprintf(stderr, "fuzz: bad buffer in the output chain\n");
            abort();
        }

        want = b->last - b->pos;
        n = ngx_min(want, ngx_ws_fuzz_budget);

        if (n) {
            if (res->len + n > res->size) {
                res->size = ngx_max(res->size * 2, res->len + n);
                res->data = realloc(res->data, res->size);
                if (res->data == NULL) {
                    abort();
                }
            }

            ngx_memcpy(res->data + res->len, b->pos, n);
            res->len += n;
            b->pos += n;
            c->sent += n;

            if (ngx_ws_fuzz_budget != (size_t) -1) {
                ngx_ws_fuzz_budget -= n;
            }
        }

        if (n < want) {
            return in;
        }
    }

    return NULL;
}


static void
ngx_ws_fuzz_check(ngx_ws_conn_t *ws)
{
    if (ws->parse.hlen >= NGX_WS_MAX_HEADER
        || ws->parse.ctl_len > NGX_WS_MAX_CONTROL
        || ws->msg.len > ws->conf->max_message_size
        || (ws->msg.pool && ws->msg.len > ws->msg.cap)
        || (ws->msg.cap > ws->conf->max_message_size))
    {
        fprintf(stderr, "fuzz: state out of bounds: hlen %zu ctl %zu "
                "msg %zu cap %zu\n", ws->parse.hlen, ws->parse.ctl_len,
                ws->msg.len, ws->msg.cap);
        abort();
    }
}


#endif /* _NGX_WS_FUZZ_CONN_H_INCLUDED_ */
