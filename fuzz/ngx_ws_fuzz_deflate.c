
/*
 * Copyright (C) ngx_ws_module authors
 */


/*
 * permessage-deflate (RFC 7692): the offers of Sec-WebSocket-Extensions
 * lines through ngx_ws_deflate_negotiate(), then frames through the frame
 * parser with the negotiated inflater (RSV1 messages, small message
 * limits, so inflated sizes hit them) and echoed messages through the
 * deflater, on the fake connection of ngx_ws_fuzz_conn.h: the chunked and
 * the whole run must write the same bytes and end the same way.
 *
 * The input:
 *   the chunking of ngx_ws_fuzz.h, then
 *   a configuration byte as in the frames target, then
 *   a deflate configuration byte:
 *     bits 0-3  ws_deflate_level        1..9
 *     bits 4-6  ws_deflate_window_bits  9..15
 *     bit 7     ws_deflate_context_takeover
 *   the Sec-WebSocket-Extensions values, one header line each, separated
 *   by CR and ended by LF, then
 *   the frames.
 *
 * An accepted offer is checked against its answer: offered back, the
 * answer must be accepted and agree on every parameter, except that an
 * answer without client_max_window_bits (the client's own offer limited
 * it) leaves the client's window at up to 15 bits.
 */


#include "ngx_ws_fuzz_conn.h"

/* for the negotiated parameters, ngx_ws_deflate_t, known to that file only */
#include "../ngx_ws_module/ngx_ws_deflate.c"


typedef struct {
    const u_char   *offers;
    size_t          len;
} ngx_ws_fuzz_offers_t;


static ngx_int_t ngx_ws_fuzz_negotiate(ngx_ws_conn_t *ws,
    ngx_http_request_t *r, void *data);
static ngx_int_t ngx_ws_fuzz_offer(ngx_http_request_t *r, const u_char *p,
    size_t len);


static size_t  ngx_ws_fuzz_frame_sizes[] = { 1, 16, 126, 65536 };
static size_t  ngx_ws_fuzz_message_sizes[] = { 1, 20, 300, 1024 * 1024 };
static size_t  ngx_ws_fuzz_send_buffers[] = { 0, 16, 256, 1024 * 1024 };


int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
    ngx_ws_fuzz_init();

    return 0;
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    u_char                 cf, cf2;
    const u_char          *lf;
    ngx_ws_loc_conf_t      conf;
    ngx_ws_fuzz_chunks_t   ch, whole;
    ngx_ws_fuzz_offers_t   offers;
    ngx_ws_fuzz_result_t   chunked, once;

    (void) ngx_ws_fuzz_chunking(&ch, &data, &size);

    if (size < 2) {
        return 0;
    }

    cf = data[0];
    cf2 = data[1];
    data += 2;
    size -= 2;

    lf = memchr(data, '\n', size);

    offers.offers = data;
    offers.len = lf ? (size_t) (lf - data) : size;

    data += offers.len;
    size -= offers.len;

    if (size) {
        data++;
        size--;
    }

    ngx_memzero(&conf, sizeof(ngx_ws_loc_conf_t));

    conf.enable = 1;
    conf.echo = cf & 1;
    conf.max_frame_size = ngx_ws_fuzz_frame_sizes[(cf >> 2) & 3];
    conf.max_message_size = ngx_ws_fuzz_message_sizes[(cf >> 4) & 3];
    conf.send_buffer = ngx_ws_fuzz_send_buffers[(cf >> 6) & 3];
    conf.send_timeout = 60000;
    conf.close_timeout = 5000;

    conf.deflate = 1;
    conf.deflate_level = (cf2 & 0x0f) % 9 + 1;
    conf.deflate_window_bits = 9 + ((cf2 >> 4) & 7) % 7;
    conf.deflate_mem_level = 8;
    conf.deflate_min_length = 8;
    conf.deflate_takeover = cf2 >> 7;

    ngx_ws_fuzz_log.log_level = (cf & 2) ? NGX_LOG_DEBUG_ALL : NGX_LOG_INFO;

    ngx_memzero(&chunked, sizeof(ngx_ws_fuzz_result_t));
    ngx_memzero(&once, sizeof(ngx_ws_fuzz_result_t));

    ngx_ws_fuzz_run(&conf, data, size, &ch, &chunked,
                    ngx_ws_fuzz_negotiate, &offers);

    ngx_memzero(&whole, sizeof(ngx_ws_fuzz_chunks_t));
    ngx_ws_fuzz_run(&conf, data, size, &whole, &once,
                    ngx_ws_fuzz_negotiate, &offers);

    /*
     * A message that is both too big and corrupt fails with 1009 or 1007
     * depending on which the inflater meets first, and that depends on
     * where the reads split it (how much output one inflate() call made
     * before the bad data): both are right.  Only that code may differ.
     */

    if (chunked.conn_state == NGX_WS_CONN_FAILING
        && once.conn_state == NGX_WS_CONN_FAILING
        && chunked.close_code != once.close_code
        && (chunked.close_code == NGX_WS_CLOSE_TOO_BIG
            || chunked.close_code == NGX_WS_CLOSE_BAD_DATA)
        && (once.close_code == NGX_WS_CLOSE_TOO_BIG
            || once.close_code == NGX_WS_CLOSE_BAD_DATA)
        && chunked.len == once.len && once.len >= 2)
    {
        once.data[once.len - 2] = chunked.data[chunked.len - 2];
        once.data[once.len - 1] = chunked.data[chunked.len - 1];
        once.close_code = chunked.close_code;
    }

    ngx_ws_fuzz_compare(&chunked, &once);

    ngx_ws_fuzz_log.log_level = NGX_LOG_INFO;

    return 0;
}


static ngx_int_t
ngx_ws_fuzz_negotiate(ngx_ws_conn_t *ws, ngx_http_request_t *r, void *data)
{
    ngx_ws_fuzz_offers_t *offers = data;

    const u_char        *p, *last, *cr;
    ngx_int_t            rc;
    ngx_str_t            answer, again;
    ngx_pool_t          *pool;
    ngx_ws_conn_t       *ws2;
    ngx_ws_deflate_t    *d, *d2;
    ngx_http_request_t  *r2;

    p = offers->offers;
    last = p + offers->len;

    if (ngx_list_init(&r->headers_in.headers, r->pool, 2,
                      sizeof(ngx_table_elt_t))
        != NGX_OK)
    {
        abort();
    }

    while (p < last) {
        cr = memchr(p, '\r', last - p);
        if (cr == NULL) {
            cr = last;
        }

        if (ngx_ws_fuzz_offer(r, p, cr - p) != NGX_OK) {
            abort();
        }

        p = (cr < last) ? cr + 1 : last;
    }

    rc = ngx_ws_deflate_negotiate(r, ws, &answer);

    if (rc == NGX_DECLINED) {
        if (ws->deflate != NULL) {
            abort();
        }

        return NGX_OK;
    }

    if (rc != NGX_OK || ws->deflate == NULL) {
        abort();
    }

    /* the answer, offered back, is accepted with the same parameters */

    pool = ngx_create_pool(1024, &ngx_ws_fuzz_log);
    r2 = pool ? ngx_pcalloc(pool, sizeof(ngx_http_request_t)) : NULL;
    ws2 = pool ? ngx_pcalloc(pool, sizeof(ngx_ws_conn_t)) : NULL;

    if (r2 == NULL || ws2 == NULL
        || ngx_list_init(&r2->headers_in.headers, pool, 1,
                         sizeof(ngx_table_elt_t))
           != NGX_OK)
    {
        abort();
    }

    r2->connection = r->connection;
    r2->pool = pool;
    r2->main = r2;
    ws2->signature = NGX_WS_SIGNATURE;
    ws2->request = r2;
    ws2->connection = ws->connection;
    ws2->conf = ws->conf;
    ws2->pool = pool;

    if (ngx_ws_fuzz_offer(r2, answer.data, answer.len) != NGX_OK) {
        abort();
    }

    rc = ngx_ws_deflate_negotiate(r2, ws2, &again);

    d = ws->deflate;
    d2 = ws2->deflate;

    if (rc != NGX_OK
        || d2->server_wbits != d->server_wbits
        || d2->client_wbits < d->client_wbits
        || d2->server_takeover != d->server_takeover
        || d2->client_takeover != d->client_takeover
        || d2->strategy != d->strategy
        || d2->key != d->key)
    {
        fprintf(stderr, "deflate: the answer \"%.*s\" offered back gives "
                "%d \"%.*s\"\n", (int) answer.len, answer.data, (int) rc,
                rc == NGX_OK ? (int) again.len : 0,
                rc == NGX_OK ? (char *) again.data : "");
        abort();
    }

    ngx_destroy_pool(pool);

    return NGX_OK;
}


/* a header line as nginx would have parsed it: no NUL, CR or LF */

static ngx_int_t
ngx_ws_fuzz_offer(ngx_http_request_t *r, const u_char *p, size_t len)
{
    size_t            i;
    u_char           *v;
    ngx_table_elt_t  *h;

    h = ngx_list_push(&r->headers_in.headers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    v = ngx_pnalloc(r->pool, len ? len : 1);
    if (v == NULL) {
        return NGX_ERROR;
    }

    ngx_memcpy(v, p, len);

    for (i = 0; i < len; i++) {
        if (v[i] == '\0' || v[i] == '\n') {
            v[i] = ' ';
        }
    }

    h->hash = 1;
    ngx_str_set(&h->key, "Sec-WebSocket-Extensions");
    h->lowcase_key = (u_char *) "sec-websocket-extensions";
    h->value.data = v;
    h->value.len = len;

    return NGX_OK;
}
