
/*
 * Copyright (C) ngx_ws_module authors
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include "ngx_ws_module.h"


/*
 * permessage-deflate (RFC 7692).  The handshake picks the first offer of
 * the client that is valid and that we can honour; the connection then
 * gets a small ngx_ws_deflate_t with the agreed parameters, and zlib
 * streams only while they are needed:
 *
 *   - the inflater is created by the first compressed message; with
 *     client_no_context_takeover it is freed at the end of every message;
 *   - the deflater of a connection exists only with server context
 *     takeover; without it a per-worker stream, reset for every message, is
 *     shared by all connections with the same parameters, and a channel
 *     message is compressed once for all of a worker's subscribers.
 *
 * zlib allocates through ngx_alloc() and every stream is ended when its
 * connection ends (a cleanup of the request pool), so nothing grows with
 * the number of messages.
 *
 * zlib and ngx_ws_deflate_t are known to this file only: the others test
 * ws->deflate for NULL and call the functions here.  Without zlib (nginx
 * configured without it, NGX_ZLIB undefined) no offer is accepted and
 * ws->deflate stays NULL.
 */


/*
 * The message buffer lives in a pool of its own, created for the message
 * and destroyed (or handed to the output queue) when it is complete, so a
 * long-lived connection keeps nothing from its past messages.  Fragments
 * grow it geometrically, never beyond ws_max_message_size.  It is here,
 * below the parser, because inflating fills it too.  NGX_WS_FRAME_ROOM
 * bytes are kept free in front of the payload: a route that sends the
 * message back as it is (ngx_ws_send_room()) writes the frame header
 * there, and the frame leaves as one buffer.  With ws_echo the frame's
 * ngx_ws_msg_t has its place in front of them (ngx_ws_msg_room(),
 * ngx_ws_send_parsed()): the payload is then the last thing in the pool,
 * and the echoes of the next messages can follow it there.
 */

ngx_int_t
ngx_ws_reserve(ngx_ws_conn_t *ws, size_t size)
{
    size_t   cap, room;
    u_char  *p;

    if (ws->msg.pool == NULL) {

        /*
         * a larger pool for up to 2048 bytes, larger ones are allocated;
         * its size aligned, as every pool's must be: ngx_palloc() aligns
         * the block's free space and then compares it with the block's
         * end, and an aligned start past an unaligned end passes that
         * test as a huge free space
         */

        ws->msg.pool = (size <= NGX_WS_MSG_POOL_SIZE - 512 || size > 2048)
                       ? ngx_ws_pool_get(ws->connection->log)
                       : ngx_create_pool(ngx_align(size + 512, NGX_ALIGNMENT),
                                         ws->connection->log);
        if (ws->msg.pool == NULL) {
            return NGX_ERROR;
        }

        ws->msg.start = NULL;
        ws->msg.cap = 0;
    }

    if (size <= ws->msg.cap) {
        return NGX_OK;
    }

    cap = size;

    if (ws->msg.cap && ws->msg.cap * 2 > cap) {
        cap = ngx_min(ws->msg.cap * 2, ws->conf->max_message_size);
    }

    room = ngx_ws_msg_room(ws);

    p = ngx_palloc(ws->msg.pool, room + cap);
    if (p == NULL) {
        return NGX_ERROR;
    }

    p += room;

    if (ws->msg.len) {
        ngx_memcpy(p, ws->msg.start, ws->msg.len);
    }

    if (ws->msg.start) {
        (void) ngx_pfree(ws->msg.pool, ws->msg.start - room);
    }

    ws->msg.start = p;
    ws->msg.cap = cap;

    return NGX_OK;
}




#if (NGX_ZLIB)

#include <zlib.h>


#define NGX_WS_INFLATE_CHUNK    16384
#define NGX_WS_DEFLATE_STREAMS  8

#define NGX_WS_DEFLATE_NAME     "permessage-deflate"


/*
 * The most a compressor makes of n bytes (zlib's compressBound(): stored
 * blocks with their headers, and the end of the stream)
 */

#define ngx_ws_deflate_bound(n)                                               \
    ((n) + ((n) >> 12) + ((n) >> 14) + ((n) >> 25) + 13)


/* permessage-deflate as negotiated, and its zlib streams while in use */

struct ngx_ws_deflate_s {
    z_stream                   *inflater;
    z_stream                   *deflater;         /* with context takeover */
    ngx_uint_t                  key;              /* deflater parameters */
    int                         level;
    int                         mem_level;
    int                         strategy;
    int                         server_wbits;
    int                         client_wbits;
    unsigned                    server_takeover:1;
    unsigned                    client_takeover:1;
    size_t                      received;         /* compressed bytes of
                                                     the message */
    unsigned                    inflating:1;      /* a compressed message */
    unsigned                    stream_end:1;
    unsigned                    fed:1;
};


typedef struct {
    ngx_uint_t                  server_no_context_takeover;
    ngx_uint_t                  client_no_context_takeover;
    ngx_int_t                   server_max_window_bits;   /* 0: absent */
    ngx_int_t                   client_max_window_bits;   /* -1: absent,
                                                             0: no value */
} ngx_ws_offer_t;


/* one parameter of an offer; a quoted value is unescaped into buf */

typedef struct {
    ngx_str_t                   name;
    ngx_str_t                   value;            /* data NULL: none */
    u_char                      buf[16];
} ngx_ws_ext_param_t;


typedef struct {
    ngx_uint_t                  key;
    z_stream                   *stream;
} ngx_ws_worker_stream_t;


static ngx_int_t ngx_ws_deflate_create(ngx_http_request_t *r,
    ngx_ws_conn_t *ws, ngx_ws_offer_t *offer, ngx_str_t *answer);
static ngx_int_t ngx_ws_deflate_parse(ngx_http_request_t *r, u_char **pp,
    u_char *last, ngx_ws_offer_t *offer);
static ngx_int_t ngx_ws_ext_param(u_char **pp, u_char *last,
    ngx_ws_ext_param_t *param);
static ngx_int_t ngx_ws_ext_quoted(u_char **pp, u_char *last,
    ngx_ws_ext_param_t *param);
static ngx_int_t ngx_ws_deflate_param(ngx_ws_offer_t *offer,
    ngx_ws_ext_param_t *param);
static u_char *ngx_ws_ext_space(u_char *p, u_char *last);
static u_char *ngx_ws_ext_token(u_char *p, u_char *last);
static u_char *ngx_ws_ext_skip(u_char *p, u_char *last);
static ngx_int_t ngx_ws_ext_bits(u_char *p, size_t len);
static void ngx_ws_deflate_accept(ngx_ws_conn_t *ws, ngx_ws_offer_t *offer,
    ngx_str_t *answer);
static z_stream *ngx_ws_deflate_stream(ngx_ws_conn_t *ws);
static z_stream *ngx_ws_zstream_create(ngx_ws_deflate_t *d,
    ngx_uint_t inflate, ngx_log_t *log);
static void ngx_ws_zstream_free(z_stream *z, ngx_uint_t inflate);
static ngx_int_t ngx_ws_inflate_feed(ngx_ws_conn_t *ws, u_char *in,
    size_t len, ngx_uint_t tail);
static ngx_int_t ngx_ws_inflate_append(ngx_ws_conn_t *ws, u_char *p,
    size_t n);
static void ngx_ws_deflate_cleanup(void *data);
static voidpf ngx_ws_zalloc(voidpf opaque, uInt items, uInt size);
static void ngx_ws_zfree(voidpf opaque, voidpf address);


static ngx_str_t  ngx_ws_extensions = ngx_string("Sec-WebSocket-Extensions");

/*
 * Caches of the worker process, not of a cycle: malloc()ed, not in a
 * cycle's pool, and the shared deflaters are found by the values of their
 * parameters, not by a configuration's address.
 */

static u_char                  *ngx_ws_inflate_buf;
static ngx_ws_worker_stream_t   ngx_ws_worker_streams[NGX_WS_DEFLATE_STREAMS];

/* what zlib holds in this worker, for the debug log and the tests */
static size_t                   ngx_ws_zlib_bytes;
static ngx_uint_t               ngx_ws_zlib_streams;


/*
 * Looks at every offer in every Sec-WebSocket-Extensions line and accepts
 * the first valid one.  Returns NGX_OK with the answer in *answer,
 * NGX_DECLINED when nothing was accepted, NGX_ERROR on no memory.
 */

ngx_int_t
ngx_ws_deflate_negotiate(ngx_http_request_t *r, ngx_ws_conn_t *ws,
    ngx_str_t *answer)
{
    u_char           *p, *last;
    ngx_list_t       *headers;
    ngx_ws_offer_t    offer;
    ngx_table_elt_t  *h;

    headers = &r->headers_in.headers;

    for (h = ngx_ws_find_header(headers, &ngx_ws_extensions, NULL);
         h;
         h = ngx_ws_find_header(headers, &ngx_ws_extensions, h))
    {
        p = h->value.data;
        last = p + h->value.len;

        while (p < last) {
            if (ngx_ws_deflate_parse(r, &p, last, &offer) == NGX_OK) {
                return ngx_ws_deflate_create(r, ws, &offer, answer);
            }
        }
    }

    return NGX_DECLINED;
}


/* the connection's ngx_ws_deflate_t for an accepted offer, and the answer */

static ngx_int_t
ngx_ws_deflate_create(ngx_http_request_t *r, ngx_ws_conn_t *ws,
    ngx_ws_offer_t *offer, ngx_str_t *answer)
{
    ngx_pool_cleanup_t  *cln;

    ws->deflate = ngx_pcalloc(ws->pool, sizeof(ngx_ws_deflate_t));
    if (ws->deflate == NULL) {
        return NGX_ERROR;
    }

    answer->data = ngx_pnalloc(r->pool, sizeof(NGX_WS_DEFLATE_NAME) + 128);
    if (answer->data == NULL) {
        return NGX_ERROR;
    }

    cln = ngx_pool_cleanup_add(ws->pool, 0);
    if (cln == NULL) {
        return NGX_ERROR;
    }

    cln->handler = ngx_ws_deflate_cleanup;
    cln->data = ws->deflate;

    ngx_ws_deflate_accept(ws, offer, answer);

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "ws deflate accepted \"%V\"", answer);

    return NGX_OK;
}


/*
 * Parses one offer at *pp (RFC 6455 9.1: a token, then parameters, each
 * a token with an optional token or quoted-string value) and leaves *pp
 * after it.  NGX_OK: a valid permessage-deflate offer; NGX_DECLINED:
 * another extension, or an offer we decline.  Once the offer is invalid
 * the rest of it is skipped.
 */

static ngx_int_t
ngx_ws_deflate_parse(ngx_http_request_t *r, u_char **pp, u_char *last,
    ngx_ws_offer_t *offer)
{
    u_char              *p, *name;
    ngx_uint_t           ours, valid;
    ngx_ws_ext_param_t   param;

    p = *pp;

    while (p < last && (*p == ' ' || *p == '\t' || *p == ',')) {
        p++;
    }

    if (p == last) {
        *pp = p;
        return NGX_DECLINED;
    }

    name = p;
    p = ngx_ws_ext_token(p, last);

    ours = (p - name == sizeof(NGX_WS_DEFLATE_NAME) - 1
            && ngx_strncasecmp(name, (u_char *) NGX_WS_DEFLATE_NAME,
                               sizeof(NGX_WS_DEFLATE_NAME) - 1)
               == 0);

    valid = (p > name);

    offer->server_no_context_takeover = 0;
    offer->client_no_context_takeover = 0;
    offer->server_max_window_bits = 0;
    offer->client_max_window_bits = -1;

    for ( ;; ) {
        p = ngx_ws_ext_space(p, last);

        if (p == last || *p == ',') {
            break;
        }

        if (*p != ';' || !valid) {
            valid = 0;
            p = ngx_ws_ext_skip(p, last);
            break;
        }

        p++;

        if (ngx_ws_ext_param(&p, last, &param) != NGX_OK) {
            valid = 0;
            continue;
        }

        if (ours && ngx_ws_deflate_param(offer, &param) != NGX_OK) {
            valid = 0;
        }
    }

    *pp = p;

    if (!ours) {
        return NGX_DECLINED;
    }

    if (!valid) {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "client sent invalid permessage-deflate offer, "
                      "declined");
        return NGX_DECLINED;
    }

    return NGX_OK;
}


/*
 * One parameter after its ";": a token, and an optional "=" with a token
 * or a quoted-string.  Leaves *pp after what it read; NGX_ERROR: the
 * parameter is malformed.
 */

static ngx_int_t
ngx_ws_ext_param(u_char **pp, u_char *last, ngx_ws_ext_param_t *param)
{
    u_char     *p;
    ngx_int_t   rc;

    p = ngx_ws_ext_space(*pp, last);

    param->name.data = p;
    p = ngx_ws_ext_token(p, last);
    param->name.len = p - param->name.data;

    if (param->name.len == 0) {
        *pp = p;
        return NGX_ERROR;
    }

    p = ngx_ws_ext_space(p, last);

    param->value.data = NULL;
    param->value.len = 0;

    if (p == last || *p != '=') {
        *pp = p;
        return NGX_OK;
    }

    p = ngx_ws_ext_space(p + 1, last);

    if (p < last && *p == '"') {
        rc = ngx_ws_ext_quoted(&p, last, param);

    } else {
        param->value.data = p;
        p = ngx_ws_ext_token(p, last);
        param->value.len = p - param->value.data;
        rc = NGX_OK;
    }

    *pp = p;

    if (param->value.len == 0) {
        return NGX_ERROR;
    }

    return rc;
}


/* a quoted-string value at *pp: unescaped, it must be a token */

static ngx_int_t
ngx_ws_ext_quoted(u_char **pp, u_char *last, ngx_ws_ext_param_t *param)
{
    u_char     *p;
    size_t      n;
    ngx_int_t   rc;

    p = *pp + 1;
    n = 0;
    rc = NGX_OK;

    for ( ;; ) {
        if (p == last) {
            rc = NGX_ERROR;
            break;
        }

        if (*p == '"') {
            p++;
            break;
        }

        if (*p == '\\' && p + 1 < last) {
            p++;
        }

        if (n < sizeof(param->buf)) {
            param->buf[n] = *p;
        }

        n++;
        p++;
    }

    *pp = p;

    param->value.data = param->buf;
    param->value.len = n;

    if (n > sizeof(param->buf)
        || ngx_ws_ext_token(param->buf, param->buf + n) != param->buf + n)
    {
        return NGX_ERROR;
    }

    return rc;
}


/*
 * A parameter of a permessage-deflate offer into *offer; NGX_ERROR: an
 * unknown or repeated parameter, or a bad value (RFC 7692 7.1).
 */

static ngx_int_t
ngx_ws_deflate_param(ngx_ws_offer_t *offer, ngx_ws_ext_param_t *param)
{
    ngx_int_t   bits;
    ngx_str_t  *v;

    v = &param->value;

#define ngx_ws_param_is(s)                                                   \
    (param->name.len == sizeof(s) - 1                                        \
     && ngx_strncasecmp(param->name.data, (u_char *) s, sizeof(s) - 1) == 0)

    if (ngx_ws_param_is("server_no_context_takeover")) {
        if (v->data || offer->server_no_context_takeover) {
            return NGX_ERROR;
        }

        offer->server_no_context_takeover = 1;

    } else if (ngx_ws_param_is("client_no_context_takeover")) {
        if (v->data || offer->client_no_context_takeover) {
            return NGX_ERROR;
        }

        offer->client_no_context_takeover = 1;

    } else if (ngx_ws_param_is("server_max_window_bits")) {
        bits = v->data ? ngx_ws_ext_bits(v->data, v->len) : NGX_ERROR;

        if (bits == NGX_ERROR || offer->server_max_window_bits) {
            return NGX_ERROR;
        }

        offer->server_max_window_bits = bits;

    } else if (ngx_ws_param_is("client_max_window_bits")) {
        bits = v->data ? ngx_ws_ext_bits(v->data, v->len) : 0;

        if (bits == NGX_ERROR || offer->client_max_window_bits != -1) {
            return NGX_ERROR;
        }

        offer->client_max_window_bits = bits;

    } else {
        return NGX_ERROR;
    }

#undef ngx_ws_param_is

    return NGX_OK;
}


static u_char *
ngx_ws_ext_space(u_char *p, u_char *last)
{
    while (p < last && (*p == ' ' || *p == '\t')) {
        p++;
    }

    return p;
}


static u_char *
ngx_ws_ext_token(u_char *p, u_char *last)
{
    static uint32_t  tchar[] = {
        0x00000000, /* control characters */

                    /* ?>=< ;:98 7654 3210  /.-, +*)( '&%$ #"!  */
        0x03ff6cfa, /* 0000 0011 1111 1111  0110 1100 1111 1010 */

                    /* _^]\ [ZYX WVUT SRQP  ONML KJIH GFED CBA@ */
        0xc7fffffe, /* 1100 0111 1111 1111  1111 1111 1111 1110 */

                    /*  ~}| {zyx wvut srqp  onml kjih gfed cba` */
        0x57ffffff, /* 0101 0111 1111 1111  1111 1111 1111 1111 */

        0x00000000, 0x00000000, 0x00000000, 0x00000000
    };

    while (p < last && (tchar[*p >> 5] & (1U << (*p & 0x1f)))) {
        p++;
    }

    return p;
}


/* skips a broken offer up to the next comma outside a quoted-string */

static u_char *
ngx_ws_ext_skip(u_char *p, u_char *last)
{
    ngx_uint_t  quoted;

    quoted = 0;

    while (p < last) {
        if (quoted && *p == '\\' && p + 1 < last) {
            p += 2;
            continue;
        }

        if (*p == '"') {
            quoted = !quoted;

        } else if (*p == ',' && !quoted) {
            break;
        }

        p++;
    }

    return p;
}


/* a window size: "8" to "15", no leading zeros */

static ngx_int_t
ngx_ws_ext_bits(u_char *p, size_t len)
{
    ngx_int_t  n;

    if (len == 0 || len > 2 || p[0] == '0') {
        return NGX_ERROR;
    }

    n = ngx_atoi(p, len);

    if (n < 8 || n > 15) {
        return NGX_ERROR;
    }

    return n;
}




/*
 * The parameters of an accepted offer, and the answer.  Only parameters
 * the client offered are answered, and server_no_context_takeover, which
 * a server may always add (RFC 7692 7.1.1.1).
 */

static void
ngx_ws_deflate_accept(ngx_ws_conn_t *ws, ngx_ws_offer_t *offer,
    ngx_str_t *answer)
{
    u_char             *p;
    ngx_int_t           sbits, cbits;
    ngx_ws_deflate_t   *d;
    ngx_ws_loc_conf_t  *wlcf;

    d = ws->deflate;
    wlcf = ws->conf;

    p = ngx_cpymem(answer->data, NGX_WS_DEFLATE_NAME,
                   sizeof(NGX_WS_DEFLATE_NAME) - 1);

    /*
     * Channel frames are compressed once for many connections, without
     * context; a connection that can get them (or that an upstream can
     * subscribe) must not use a context of its own either, or the
     * client's window would no longer match ours.
     */

    d->server_takeover = !offer->server_no_context_takeover
                         && wlcf->deflate_takeover
                         && wlcf->subscribe == NULL && wlcf->push == NULL
                         && wlcf->pass.len == 0 && wlcf->on_connect.len == 0
                         && wlcf->on_disconnect.len == 0
                         && !wlcf->route_pass;

    if (!d->server_takeover) {
        p = ngx_cpymem(p, "; server_no_context_takeover",
                       sizeof("; server_no_context_takeover") - 1);
    }

    d->client_takeover = !offer->client_no_context_takeover;

    if (!d->client_takeover) {
        p = ngx_cpymem(p, "; client_no_context_takeover",
                       sizeof("; client_no_context_takeover") - 1);
    }

    sbits = wlcf->deflate_window_bits;

    if (offer->server_max_window_bits) {
        sbits = ngx_min(sbits, offer->server_max_window_bits);
        p = ngx_sprintf(p, "; server_max_window_bits=%i", sbits);
    }

    /*
     * zlib cannot compress with a window of 256 bytes (a raw stream with 8
     * is refused, a zlib one silently gets 512): when the client asks for
     * 8, the deflater gets 512 but only ever refers one byte back (Z_RLE),
     * which any window allows, so the answer of 8 is kept.
     */

    if (sbits == 8) {
        d->server_wbits = 9;
        d->strategy = Z_RLE;

    } else {
        d->server_wbits = (int) sbits;
        d->strategy = Z_DEFAULT_STRATEGY;
    }

    cbits = 15;

    if (offer->client_max_window_bits != -1) {
        if (offer->client_max_window_bits) {
            cbits = offer->client_max_window_bits;
        }

        if ((ngx_int_t) wlcf->deflate_window_bits < cbits) {
            cbits = wlcf->deflate_window_bits;
            p = ngx_sprintf(p, "; client_max_window_bits=%i", cbits);
        }
    }

    /* a zlib client that agreed to 8 uses 9 (see above): 9 reads both */

    d->client_wbits = (int) ngx_max(cbits, 9);

    d->level = (int) wlcf->deflate_level;
    d->mem_level = (int) wlcf->deflate_mem_level;

    d->key = (ngx_uint_t) d->level
             | ((ngx_uint_t) d->server_wbits << 4)
             | ((ngx_uint_t) d->mem_level << 8)
             | ((ngx_uint_t) (d->strategy == Z_RLE) << 12);

    answer->len = p - answer->data;
}


/* a data frame of a compressed message is coming (ngx_ws_inflating()) */

ngx_uint_t
ngx_ws_deflate_inflating(ngx_ws_deflate_t *deflate)
{
    return deflate->inflating;
}


/*
 * A frame of len compressed bytes in a compressed message.  The inflated
 * size is checked as it grows; the compressed size must stay within what
 * a compressor makes of ws_max_message_size bytes at worst, or a message
 * of empty blocks would never end.
 */

ngx_int_t
ngx_ws_inflate_frame(ngx_ws_conn_t *ws, uint64_t len)
{
    ngx_ws_deflate_t  *d;

    d = ws->deflate;

    if (len > ngx_ws_deflate_bound(ws->conf->max_message_size) - d->received)
    {
        ngx_ws_parse_error(ws, NGX_WS_CLOSE_TOO_BIG,
                           "too large compressed message");
        return NGX_ERROR;
    }

    d->received += (size_t) len;

    return NGX_OK;
}


/* the first frame of a compressed message */

ngx_int_t
ngx_ws_inflate_begin(ngx_ws_conn_t *ws)
{
    ngx_ws_deflate_t  *d;

    d = ws->deflate;

    if (d->inflater == NULL) {
        d->inflater = ngx_ws_zstream_create(d, 1, ws->connection->log);
        if (d->inflater == NULL) {
            ngx_ws_parse_error(ws, NGX_WS_CLOSE_INTERNAL, NULL);
            return NGX_ERROR;
        }
    }

    d->inflating = 1;
    d->stream_end = 0;
    d->fed = 0;
    d->received = 0;

    return NGX_OK;
}


/*
 * Inflates a part of a compressed message (unmasked) into the message
 * being assembled; at its last frame the 0x00 0x00 0xff 0xff the sender
 * removed is put back (RFC 7692 7.2.2).  Returns NGX_ERROR on bad data or
 * a message that grows beyond the limit, with the close code the caller
 * fails the connection with in ws->parse.err_code (ngx_ws_parse_error()).
 */

ngx_int_t
ngx_ws_inflate(ngx_ws_conn_t *ws, u_char *in, size_t len, ngx_uint_t last)
{
    ngx_ws_deflate_t  *d;
    static u_char      tail[4] = { 0x00, 0x00, 0xff, 0xff };

    d = ws->deflate;

    if (len) {
        d->fed = 1;

        /*
         * data after a final block starts a new stream, which the tail
         * must then complete, wherever the reads split the message
         */
        d->stream_end = 0;

        if (ngx_ws_inflate_feed(ws, in, len, 0) != NGX_OK) {
            return NGX_ERROR;
        }
    }

    if (!last) {
        return NGX_OK;
    }

    /*
     * The tail must complete the last block exactly; not needed after a
     * final block, nor for an empty payload (an empty message that some
     * clients send so when nothing was left to flush).
     */

    if (d->fed && !d->stream_end) {
        if (ngx_ws_inflate_feed(ws, tail, 4, 1) != NGX_OK) {
            return NGX_ERROR;
        }

        if (d->inflater->avail_in || !(d->inflater->data_type & 128)) {
            ngx_log_error(NGX_LOG_INFO, ws->connection->log, 0,
                          "client sent incomplete compressed data, "
                          "closing with %d", NGX_WS_CLOSE_BAD_DATA);
            ngx_ws_parse_error(ws, NGX_WS_CLOSE_BAD_DATA, NULL);
            return NGX_ERROR;
        }
    }

    d->inflating = 0;

    if (!d->client_takeover) {
        ngx_ws_zstream_free(d->inflater, 1);
        d->inflater = NULL;
    }

    return NGX_OK;
}


static ngx_int_t
ngx_ws_inflate_feed(ngx_ws_conn_t *ws, u_char *in, size_t len,
    ngx_uint_t tail)
{
    int                rc;
    size_t             n;
    z_stream          *z;
    ngx_ws_deflate_t  *d;

    d = ws->deflate;
    z = d->inflater;

    if (ngx_ws_inflate_buf == NULL) {
        ngx_ws_inflate_buf = ngx_alloc(NGX_WS_INFLATE_CHUNK,
                                       ngx_cycle->log);
        if (ngx_ws_inflate_buf == NULL) {
            ngx_ws_parse_error(ws, NGX_WS_CLOSE_INTERNAL, NULL);
            return NGX_ERROR;
        }
    }

    z->next_in = in;
    z->avail_in = len;

    for ( ;; ) {
        z->next_out = ngx_ws_inflate_buf;
        z->avail_out = NGX_WS_INFLATE_CHUNK;

        /* the tail stops at the end of the block it completes */
        rc = inflate(z, tail ? Z_BLOCK : Z_SYNC_FLUSH);

        if (rc != Z_OK && rc != Z_STREAM_END && rc != Z_BUF_ERROR) {
            ngx_log_error(NGX_LOG_INFO, ws->connection->log, 0,
                          "client sent invalid compressed data (%s), "
                          "closing with %d",
                          z->msg ? z->msg : "?", NGX_WS_CLOSE_BAD_DATA);
            ngx_ws_parse_error(ws, NGX_WS_CLOSE_BAD_DATA, NULL);
            return NGX_ERROR;
        }

        n = NGX_WS_INFLATE_CHUNK - z->avail_out;

        if (n && ngx_ws_inflate_append(ws, ngx_ws_inflate_buf, n) != NGX_OK)
        {
            return NGX_ERROR;
        }

        if (rc == Z_STREAM_END) {
            /* a final block: what follows starts a new stream */

            (void) inflateReset(z);
            d->stream_end = 1;

            if (z->avail_in == 0 || tail) {
                return NGX_OK;
            }

            d->stream_end = 0;
            continue;
        }

        if (rc == Z_BUF_ERROR || (z->avail_in == 0 && z->avail_out != 0)) {
            return NGX_OK;
        }
    }
}


static ngx_int_t
ngx_ws_inflate_append(ngx_ws_conn_t *ws, u_char *p, size_t n)
{
    if (n > ws->conf->max_message_size - ws->msg.len) {
        ngx_ws_parse_error(ws, NGX_WS_CLOSE_TOO_BIG,
                           "too large message after inflating");
        return NGX_ERROR;
    }

    if (ngx_ws_reserve(ws, ws->msg.len + n) != NGX_OK) {
        ngx_ws_parse_error(ws, NGX_WS_CLOSE_INTERNAL, NULL);
        return NGX_ERROR;
    }

    ngx_memcpy(ws->msg.start + ws->msg.len, p, n);
    ws->msg.len += n;

    if (ws->msg.opcode == NGX_WS_OP_TEXT) {
        ws->parse.utf8_state = ngx_ws_utf8_validate(ws->parse.utf8_state, p, n);

        if (ws->parse.utf8_state == NGX_WS_UTF8_REJECT) {
            ngx_ws_parse_error(ws, NGX_WS_CLOSE_BAD_DATA,
                               "invalid UTF-8 in text message");
            return NGX_ERROR;
        }
    }

    return NGX_OK;
}


/*
 * Compresses an outgoing message into its pool (RFC 7692 7.2.1).  NGX_OK:
 * *data and *len are the compressed payload, to be sent with RSV1;
 * NGX_DECLINED: send it as it is (too short, or it would not shrink).
 */

ngx_int_t
ngx_ws_deflate_message(ngx_ws_conn_t *ws, ngx_pool_t *pool, u_char **data,
    size_t *len)
{
    int                rc;
    u_char            *out, *p;
    size_t             size, n;
    z_stream          *z;
    ngx_ws_deflate_t  *d;

    d = ws->deflate;

    if (*len < ws->conf->deflate_min_length) {
        return NGX_DECLINED;
    }

    z = ngx_ws_deflate_stream(ws);
    if (z == NULL) {
        return NGX_ERROR;
    }

    size = deflateBound(z, *len) + 16;

    out = ngx_pnalloc(pool, size);
    if (out == NULL) {
        return NGX_ERROR;
    }

    z->next_in = *data;
    z->avail_in = *len;
    z->next_out = out;
    z->avail_out = size;

    for ( ;; ) {
        rc = deflate(z, Z_SYNC_FLUSH);

        if (rc != Z_OK && rc != Z_BUF_ERROR) {
            ngx_log_error(NGX_LOG_ALERT, ws->connection->log, 0,
                          "deflate() failed: %d", rc);
            return NGX_ERROR;
        }

        if (z->avail_out) {
            break;
        }

        /* deflateBound() is for Z_FINISH: grow, rarely */

        p = ngx_pnalloc(pool, size * 2);
        if (p == NULL) {
            return NGX_ERROR;
        }

        ngx_memcpy(p, out, size);
        out = p;
        z->next_out = out + size;
        z->avail_out = size;
        size *= 2;
    }

    n = size - z->avail_out;

    if (n >= 4 && ngx_memcmp(out + n - 4, "\x00\x00\xff\xff", 4) == 0) {
        n -= 4;
    }

    if (n == 0) {
        /*
         * nothing to flush after a flush: an empty message is an empty
         * stored block's first byte (RFC 7692 7.2.3.6)
         */

        out[0] = 0x00;
        n = 1;
    }

    ngx_log_debug3(NGX_LOG_DEBUG_HTTP, ws->connection->log, 0,
                   "ws deflate message len:%uz deflated:%uz takeover:%ui",
                   *len, n, (ngx_uint_t) d->server_takeover);

    /* without a context, what would not shrink is sent as it is */

    if (!d->server_takeover && n >= *len) {
        return NGX_DECLINED;
    }

    *data = out;
    *len = n;

    return NGX_OK;
}


/*
 * The deflater for the next message: the connection's own with context
 * takeover, or a worker's one, reset, that all connections with the same
 * parameters share.
 */

static z_stream *
ngx_ws_deflate_stream(ngx_ws_conn_t *ws)
{
    ngx_uint_t               i;
    ngx_ws_deflate_t        *d;
    ngx_ws_worker_stream_t  *s;

    d = ws->deflate;

    if (d->server_takeover) {
        if (d->deflater == NULL) {
            d->deflater = ngx_ws_zstream_create(d, 0, ws->connection->log);
        }

        return d->deflater;
    }

    s = ngx_ws_worker_streams;

    for (i = 0; i < NGX_WS_DEFLATE_STREAMS; i++) {
        if (s[i].key == d->key) {
            (void) deflateReset(s[i].stream);
            return s[i].stream;
        }

        if (s[i].key == 0) {
            s[i].stream = ngx_ws_zstream_create(d, 0, ngx_cycle->log);
            if (s[i].stream == NULL) {
                return NULL;
            }

            s[i].key = d->key;
            return s[i].stream;
        }
    }

    /* more parameter sets than slots: the last slot is taken over */

    i = NGX_WS_DEFLATE_STREAMS - 1;

    ngx_ws_zstream_free(s[i].stream, 0);
    s[i].key = 0;

    s[i].stream = ngx_ws_zstream_create(d, 0, ngx_cycle->log);
    if (s[i].stream == NULL) {
        return NULL;
    }

    s[i].key = d->key;

    return s[i].stream;
}


/*
 * A channel frame compressed for a connection without server context
 * takeover: one frame for all subscribers with the same parameters
 * (ngx_ws_deflate_key()).  Returns NULL when the frame is better sent as
 * it is, or on errors (logged).
 */

ngx_ws_shared_t *
ngx_ws_deflate_shared(ngx_ws_conn_t *ws, ngx_ws_shared_t *sh)
{
    u_char           *payload, *p;
    size_t            hlen, len;
    ngx_pool_t       *pool;
    ngx_ws_shared_t  *z;

    hlen = sh->frame[1] & 0x7f;
    hlen = (hlen == 126) ? 4 : (hlen == 127 ? 10 : 2);

    payload = sh->frame + hlen;
    len = sh->len - hlen;

    pool = ngx_create_pool(ngx_ws_pool_size(len + 256), ngx_cycle->log);
    if (pool == NULL) {
        return NULL;
    }

    if (ngx_ws_deflate_message(ws, pool, &payload, &len) != NGX_OK) {
        ngx_destroy_pool(pool);
        return NULL;
    }

    z = ngx_palloc(pool, sizeof(ngx_ws_shared_t));
    p = ngx_pnalloc(pool, len + 10);

    if (z == NULL || p == NULL) {
        ngx_destroy_pool(pool);
        return NULL;
    }

    z->pool = pool;
    z->refs = 1;                    /* the maker's, until shared_done() */
    z->frame = p;
    z->payload = sh->payload;

    /* the same message: its class and key, which lives as long as it */

    z->uid = sh->uid;
    z->id = sh->id;
    z->hash = sh->hash;
    z->cls = sh->cls;
    z->key_len = sh->key_len;
    z->key = sh->key;

    p = ngx_ws_frame_header(p, (u_char) (sh->frame[0] | 0x40), len);
    p = ngx_cpymem(p, payload, len);

    z->len = p - z->frame;

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, ngx_cycle->log, 0,
                   "ws deflate shared frame len:%uz deflated:%uz",
                   sh->len, z->len);

    return z;
}


/*
 * 0: the connection gets channel frames as they are; otherwise connections
 * with the same key can share one compressed frame.
 */

ngx_uint_t
ngx_ws_deflate_key(ngx_ws_conn_t *ws)
{
    if (ws->deflate == NULL || ws->deflate->server_takeover) {
        return 0;
    }

    return ws->deflate->key;
}


static z_stream *
ngx_ws_zstream_create(ngx_ws_deflate_t *d, ngx_uint_t inflate,
    ngx_log_t *log)
{
    int        rc;
    z_stream  *z;

    z = ngx_alloc(sizeof(z_stream), log);
    if (z == NULL) {
        return NULL;
    }

    ngx_memzero(z, sizeof(z_stream));

    z->zalloc = ngx_ws_zalloc;
    z->zfree = ngx_ws_zfree;
    z->opaque = log;

    if (inflate) {
        rc = inflateInit2(z, -d->client_wbits);

    } else {
        rc = deflateInit2(z, d->level, Z_DEFLATED, -d->server_wbits,
                          d->mem_level, d->strategy);
    }

    if (rc != Z_OK) {
        ngx_log_error(NGX_LOG_ALERT, log, 0, "%s() failed: %d",
                      inflate ? "inflateInit2" : "deflateInit2", rc);
        ngx_free(z);
        return NULL;
    }

    ngx_ws_zlib_streams++;

    ngx_log_debug4(NGX_LOG_DEBUG_HTTP, log, 0,
                   "ws zlib %s created, worker streams:%ui bytes:%uz "
                   "conn:%p", inflate ? "inflater" : "deflater",
                   ngx_ws_zlib_streams, ngx_ws_zlib_bytes, d);

    return z;
}


static void
ngx_ws_zstream_free(z_stream *z, ngx_uint_t inflate)
{
    if (z == NULL) {
        return;
    }

    if (inflate) {
        (void) inflateEnd(z);

    } else {
        (void) deflateEnd(z);
    }

    ngx_free(z);

    ngx_ws_zlib_streams--;

    ngx_log_debug3(NGX_LOG_DEBUG_HTTP, ngx_cycle->log, 0,
                   "ws zlib %s freed, worker streams:%ui bytes:%uz",
                   inflate ? "inflater" : "deflater",
                   ngx_ws_zlib_streams, ngx_ws_zlib_bytes);
}


/* the request (and with it the connection) is gone */

static void
ngx_ws_deflate_cleanup(void *data)
{
    ngx_ws_deflate_t *d = data;

    ngx_ws_zstream_free(d->inflater, 1);
    d->inflater = NULL;

    ngx_ws_zstream_free(d->deflater, 0);
    d->deflater = NULL;
}


/* zlib's allocations, with their size in front for the accounting */

static voidpf
ngx_ws_zalloc(voidpf opaque, uInt items, uInt size)
{
    size_t  *p, n;

    n = (size_t) items * size;

    p = ngx_alloc(n + sizeof(size_t) * 2, opaque);
    if (p == NULL) {
        return Z_NULL;
    }

    p[0] = n;
    ngx_ws_zlib_bytes += n;

    return p + 2;
}


static void
ngx_ws_zfree(voidpf opaque, voidpf address)
{
    size_t  *p;

    p = (size_t *) address - 2;

    ngx_ws_zlib_bytes -= p[0];

    ngx_free(p);
}


#else /* !(NGX_ZLIB) */

/*
 * nginx without zlib: permessage-deflate is never agreed, ws->deflate
 * stays NULL and the functions below it are not reached.
 */

ngx_int_t
ngx_ws_deflate_negotiate(ngx_http_request_t *r, ngx_ws_conn_t *ws,
    ngx_str_t *answer)
{
    ngx_log_debug0(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "ws deflate: built without zlib, no offer accepted");

    return NGX_DECLINED;
}


ngx_uint_t
ngx_ws_deflate_inflating(ngx_ws_deflate_t *deflate)
{
    return 0;
}


ngx_int_t
ngx_ws_inflate_frame(ngx_ws_conn_t *ws, uint64_t len)
{
    ngx_ws_parse_error(ws, NGX_WS_CLOSE_INTERNAL, NULL);
    return NGX_ERROR;
}


ngx_int_t
ngx_ws_inflate_begin(ngx_ws_conn_t *ws)
{
    ngx_ws_parse_error(ws, NGX_WS_CLOSE_INTERNAL, NULL);
    return NGX_ERROR;
}


ngx_int_t
ngx_ws_inflate(ngx_ws_conn_t *ws, u_char *in, size_t len, ngx_uint_t last)
{
    ngx_ws_parse_error(ws, NGX_WS_CLOSE_INTERNAL, NULL);
    return NGX_ERROR;
}


ngx_int_t
ngx_ws_deflate_message(ngx_ws_conn_t *ws, ngx_pool_t *pool, u_char **data,
    size_t *len)
{
    return NGX_DECLINED;
}


ngx_ws_shared_t *
ngx_ws_deflate_shared(ngx_ws_conn_t *ws, ngx_ws_shared_t *sh)
{
    return NULL;
}


ngx_uint_t
ngx_ws_deflate_key(ngx_ws_conn_t *ws)
{
    return 0;
}

#endif /* NGX_ZLIB */
