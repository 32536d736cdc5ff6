
/*
 * Copyright (C) ngx_ws_module authors
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include "ngx_ws_module.h"


/*
 * The incremental frame parser.  It consumes whatever bytes a read brought,
 * in any split: a header cut anywhere is saved in ws->parse.hbuf (at most 14
 * bytes) and completed by the next read; payload bytes are unmasked while
 * they are copied into the message (or control frame) being assembled, and
 * text is validated as it arrives so that bad UTF-8 fails at once.
 * No I/O and no decisions here: it returns what it found to its driver,
 * the read loop (ngx_ws_input() in ngx_ws_conn.c), which answers control
 * frames, routes messages, charges the rate limits and fails the
 * connection with the close code the parser leaves in ws->parse.err_code.
 */


static ngx_int_t ngx_ws_whole_frame(ngx_ws_conn_t *ws, u_char **pos,
    u_char *end);
static ngx_ws_parse_e ngx_ws_state_head(ngx_ws_conn_t *ws, u_char **pos,
    u_char *end);
static ngx_int_t ngx_ws_data_frame(ngx_ws_conn_t *ws, uint64_t len,
    ngx_uint_t rsv1);
static ngx_int_t ngx_ws_check_header(ngx_ws_conn_t *ws, u_char *h);
static ngx_ws_parse_e ngx_ws_state_payload(ngx_ws_conn_t *ws, u_char **pos,
    u_char *end);
static ngx_ws_parse_e ngx_ws_frame_complete(ngx_ws_conn_t *ws);
static void ngx_ws_unmask(u_char *dst, u_char *src, size_t n, u_char *mask,
    ngx_uint_t off);


/*
 * Parses from *pos until it has something to report, and moves *pos past
 * what it consumed:
 *   NGX_WS_PARSE_AGAIN    all input is consumed, more is needed;
 *   NGX_WS_PARSE_BYTES    ws->parse.bytes payload bytes are next, not yet
 *                         consumed: the driver charges them to
 *                         ws_limit_bytes, sets ws->parse.charged and calls
 *                         again;
 *   NGX_WS_PARSE_CONTROL  a complete control frame is in ws->parse.ctl;
 *   NGX_WS_PARSE_MESSAGE  a complete data message is in ws->msg;
 *   NGX_WS_PARSE_ERROR    the connection must fail with ws->parse.err_code,
 *                         ws->parse.err_reason naming the client's mistake
 *                         for the log (NULL when it is logged already).
 */

ngx_ws_parse_e
ngx_ws_parse(ngx_ws_conn_t *ws, u_char **pos, u_char *end)
{
    ngx_ws_parse_e  rc;

    while (*pos < end) {

        if (ws->parse.state == ngx_ws_st_head) {

            if (ws->parse.hlen == 0 && !ws->parse.in_message) {
                switch (ngx_ws_whole_frame(ws, pos, end)) {

                case NGX_OK:
                    return NGX_WS_PARSE_MESSAGE;

                case NGX_ERROR:
                    return NGX_WS_PARSE_ERROR;

                default: /* NGX_DECLINED */
                    break;
                }
            }

            rc = ngx_ws_state_head(ws, pos, end);

        } else {
            rc = ngx_ws_state_payload(ws, pos, end);
        }

        if (rc != NGX_WS_PARSE_AGAIN) {
            return rc;
        }
    }

    return NGX_WS_PARSE_AGAIN;
}


/*
 * The common case in one step: a whole unfragmented text or binary
 * message, masked, no reserved bits, a length under 65536 within the
 * limits, entirely in the input, not inflated and not charged to
 * ws_limit_bytes: its header is decoded, its payload unmasked into the
 * message and text validated as the state machine would, with the same
 * result.  Anything else is NGX_DECLINED, for the state machine, which
 * also finds the errors.
 */

static ngx_int_t
ngx_ws_whole_frame(ngx_ws_conn_t *ws, u_char **pos, u_char *end)
{
    size_t       len, hlen;
    u_char      *h;
    ngx_uint_t   opcode;

    h = *pos;

    if (end - h < 6
        || (h[0] & 0xf0) != 0x80
        || (h[1] & 0x80) == 0
        || ws->conf->limit_bytes)
    {
        return NGX_DECLINED;
    }

    opcode = h[0] & 0x0f;

    if (opcode != NGX_WS_OP_TEXT && opcode != NGX_WS_OP_BINARY) {
        return NGX_DECLINED;
    }

    len = h[1] & 0x7f;

    if (len < 126) {
        hlen = 6;

    } else if (len == 126) {
        if (end - h < 8) {
            return NGX_DECLINED;
        }

        len = ((size_t) h[2] << 8) | h[3];
        hlen = 8;

    } else {
        return NGX_DECLINED;
    }

    if ((size_t) (end - h) - hlen < len
        || len > ws->conf->max_frame_size
        || len > ws->conf->max_message_size
        || ngx_ws_inflating(ws))
    {
        return NGX_DECLINED;
    }

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, ws->connection->log, 0,
                   "ws frame op:%ui fin:1 len:%uz", opcode, len);

    ws->parse.opcode = opcode;
    ws->parse.fin = 1;
    ws->parse.frame_left = 0;

    ws->msg.opcode = opcode;
    ws->msg.len = 0;

    if (ngx_ws_reserve(ws, len) != NGX_OK) {
        ngx_ws_parse_error(ws, NGX_WS_CLOSE_INTERNAL, NULL);
        return NGX_ERROR;
    }

    ngx_ws_unmask(ws->msg.start, h + hlen, len, h + hlen - 4, 0);

    ws->msg.len = len;
    *pos = h + hlen + len;

    if (opcode == NGX_WS_OP_TEXT
        && ngx_ws_utf8_validate(NGX_WS_UTF8_ACCEPT, ws->msg.start, len)
           != NGX_WS_UTF8_ACCEPT)
    {
        ngx_ws_parse_error(ws, NGX_WS_CLOSE_BAD_DATA,
                           "invalid UTF-8 in text message");
        return NGX_ERROR;
    }

    ws->parse.utf8_state = NGX_WS_UTF8_ACCEPT;

    return NGX_OK;
}


static ngx_ws_parse_e
ngx_ws_state_head(ngx_ws_conn_t *ws, u_char **pos, u_char *end)
{
    size_t       avail, need, n, saved;
    u_char      *h;
    uint64_t     len;
    ngx_uint_t   len7, masked, rsv1;

    saved = ws->parse.hlen;

    if (saved == 0 && (size_t) (end - *pos) >= NGX_WS_MAX_HEADER) {
        h = *pos;
        avail = end - *pos;

    } else {
        n = ngx_min((size_t) (end - *pos), NGX_WS_MAX_HEADER - saved);
        ngx_memcpy(ws->parse.hbuf + saved, *pos, n);
        h = ws->parse.hbuf;
        avail = saved + n;
    }

    if (avail < 2) {
        ws->parse.hlen = avail;
        *pos = end;
        return NGX_WS_PARSE_AGAIN;
    }

    len7 = h[1] & 0x7f;
    masked = h[1] >> 7;

    need = 2 + (len7 == 126 ? 2 : (len7 == 127 ? 8 : 0)) + (masked ? 4 : 0);

    if (avail < need) {
        /* the early checks fail fast even on a partial header */

        if (ngx_ws_check_header(ws, h) != NGX_OK) {
            return NGX_WS_PARSE_ERROR;
        }

        ws->parse.hlen = avail;
        *pos = end;
        return NGX_WS_PARSE_AGAIN;
    }

    ws->parse.opcode = h[0] & 0x0f;
    ws->parse.fin = h[0] >> 7;
    rsv1 = h[0] & 0x40;

    if (ngx_ws_check_header(ws, h) != NGX_OK) {
        return NGX_WS_PARSE_ERROR;
    }

    if (len7 == 126) {
        len = ((uint64_t) h[2] << 8) | h[3];
        h += 4;

    } else if (len7 == 127) {
        if (h[2] & 0x80) {
            ngx_ws_parse_error(ws, NGX_WS_CLOSE_PROTOCOL,
                               "frame with invalid 64-bit length");
            return NGX_WS_PARSE_ERROR;
        }

        len = ((uint64_t) h[2] << 56) | ((uint64_t) h[3] << 48)
              | ((uint64_t) h[4] << 40) | ((uint64_t) h[5] << 32)
              | ((uint64_t) h[6] << 24) | ((uint64_t) h[7] << 16)
              | ((uint64_t) h[8] << 8) | h[9];
        h += 10;

    } else {
        len = len7;
        h += 2;
    }

    ngx_memcpy(ws->parse.mask, h, 4);

    *pos += need - saved;
    ws->parse.hlen = 0;

    ngx_log_debug3(NGX_LOG_DEBUG_HTTP, ws->connection->log, 0,
                   "ws frame op:%ui fin:%ui len:%uL",
                   ws->parse.opcode, (ngx_uint_t) ws->parse.fin, len);

    ws->parse.frame_left = len;
    ws->parse.mask_off = 0;

    if (ws->parse.opcode & 0x8) {

        /* a non-minimal length form is tolerated, a long payload is not */

        if (len > NGX_WS_MAX_CONTROL) {
            ngx_ws_parse_error(ws, NGX_WS_CLOSE_PROTOCOL,
                               "too long control frame");
            return NGX_WS_PARSE_ERROR;
        }

        ws->parse.ctl_len = 0;

    } else {

        if (ngx_ws_data_frame(ws, len, rsv1) != NGX_OK) {
            return NGX_WS_PARSE_ERROR;
        }
    }

    ws->parse.state = ngx_ws_st_payload;

    if (len == 0) {
        return ngx_ws_frame_complete(ws);
    }

    return NGX_WS_PARSE_AGAIN;
}


/* the size checks of a data frame, and the room for its payload */

static ngx_int_t
ngx_ws_data_frame(ngx_ws_conn_t *ws, uint64_t len, ngx_uint_t rsv1)
{
    uint64_t  len_check;

    if (len > ws->conf->max_frame_size) {
        ngx_ws_parse_error(ws, NGX_WS_CLOSE_TOO_BIG, "too large frame");
        return NGX_ERROR;
    }

    if (ws->parse.opcode != NGX_WS_OP_CONT) {
        ws->msg.opcode = ws->parse.opcode;
        ws->parse.in_message = 1;
        ws->msg.len = 0;
        ws->parse.utf8_state = NGX_WS_UTF8_ACCEPT;

        if (rsv1 && ngx_ws_inflate_begin(ws) != NGX_OK) {
            return NGX_ERROR;
        }
    }

    if ngx_ws_inflating(ws) {

        /* the inflated size is checked as it grows */

        if (ngx_ws_inflate_frame(ws, len) != NGX_OK) {
            return NGX_ERROR;
        }

        len_check = 0;

    } else {
        len_check = len;
    }

    if (len_check > ws->conf->max_message_size - ws->msg.len) {
        ngx_ws_parse_error(ws, NGX_WS_CLOSE_TOO_BIG, "too large message");
        return NGX_ERROR;
    }

    if (ngx_ws_reserve(ws, ws->msg.len + (size_t) len_check) != NGX_OK) {
        ngx_ws_parse_error(ws, NGX_WS_CLOSE_INTERNAL, NULL);
        return NGX_ERROR;
    }

    return NGX_OK;
}


/* the checks that need only the first two bytes of a header */

static ngx_int_t
ngx_ws_check_header(ngx_ws_conn_t *ws, u_char *h)
{
    ngx_uint_t  opcode;

    opcode = h[0] & 0x0f;

    /* RSV1 marks the first frame of a compressed message (RFC 7692) */

    if ((h[0] & 0x70) == 0x40 && ws->deflate
        && (opcode == NGX_WS_OP_TEXT || opcode == NGX_WS_OP_BINARY))
    {
        /* void */

    } else if (h[0] & 0x70) {
        ngx_ws_parse_error(ws, NGX_WS_CLOSE_PROTOCOL,
                           "frame with reserved bits set");
        return NGX_ERROR;
    }

    switch (opcode) {

    case NGX_WS_OP_CONT:
        if (!ws->parse.in_message) {
            ngx_ws_parse_error(ws, NGX_WS_CLOSE_PROTOCOL,
                               "continuation frame without a message");
            return NGX_ERROR;
        }
        break;

    case NGX_WS_OP_TEXT:
    case NGX_WS_OP_BINARY:
        if (ws->parse.in_message) {
            ngx_ws_parse_error(ws, NGX_WS_CLOSE_PROTOCOL,
                               "new data frame inside a fragmented message");
            return NGX_ERROR;
        }
        break;

    case NGX_WS_OP_CLOSE:
    case NGX_WS_OP_PING:
    case NGX_WS_OP_PONG:
        if (!(h[0] & 0x80)) {
            ngx_ws_parse_error(ws, NGX_WS_CLOSE_PROTOCOL,
                               "fragmented control frame");
            return NGX_ERROR;
        }
        break;

    default:
        ngx_log_error(NGX_LOG_INFO, ws->connection->log, 0,
                      "client sent frame with reserved opcode %ui, "
                      "closing with %d", opcode, NGX_WS_CLOSE_PROTOCOL);
        ngx_ws_parse_error(ws, NGX_WS_CLOSE_PROTOCOL, NULL);
        return NGX_ERROR;
    }

    if (!(h[1] & 0x80)) {
        ngx_ws_parse_error(ws, NGX_WS_CLOSE_PROTOCOL, "unmasked frame");
        return NGX_ERROR;
    }

    return NGX_OK;
}


static ngx_ws_parse_e
ngx_ws_state_payload(ngx_ws_conn_t *ws, u_char **pos, u_char *end)
{
    size_t   n;
    u_char  *dst, *src;

    src = *pos;
    n = (size_t) ngx_min((uint64_t) (end - src), ws->parse.frame_left);

    /* the bytes are charged to ws_limit_bytes before they are used */

    if (ws->conf->limit_bytes && ws->parse.opcode != NGX_WS_OP_CLOSE
        && !ws->parse.charged)
    {
        ws->parse.bytes = n;
        return NGX_WS_PARSE_BYTES;
    }

    ws->parse.charged = 0;

    if (ws->parse.opcode & 0x8) {
        dst = ws->parse.ctl + ws->parse.ctl_len;
        ws->parse.ctl_len += n;

    } else if ngx_ws_inflating(ws) {

        /* unmasked in place, then inflated into the message */

        ngx_ws_unmask(src, src, n, ws->parse.mask, ws->parse.mask_off);

        ws->parse.mask_off = (ws->parse.mask_off + n) & 3;
        ws->parse.frame_left -= n;

        if (ngx_ws_inflate(ws, src, n, 0) != NGX_OK) {
            return NGX_WS_PARSE_ERROR;
        }

        *pos = src + n;

        if (ws->parse.frame_left == 0) {
            return ngx_ws_frame_complete(ws);
        }

        return NGX_WS_PARSE_AGAIN;

    } else {
        dst = ws->msg.start + ws->msg.len;
        ws->msg.len += n;
    }

    ngx_ws_unmask(dst, src, n, ws->parse.mask, ws->parse.mask_off);

    ws->parse.mask_off = (ws->parse.mask_off + n) & 3;
    ws->parse.frame_left -= n;
    *pos = src + n;

    if (!(ws->parse.opcode & 0x8) && ws->msg.opcode == NGX_WS_OP_TEXT) {
        ws->parse.utf8_state = ngx_ws_utf8_validate(ws->parse.utf8_state,
                                                    dst, n);

        if (ws->parse.utf8_state == NGX_WS_UTF8_REJECT) {
            ngx_ws_parse_error(ws, NGX_WS_CLOSE_BAD_DATA,
                               "invalid UTF-8 in text message");
            return NGX_WS_PARSE_ERROR;
        }
    }

    if (ws->parse.frame_left == 0) {
        return ngx_ws_frame_complete(ws);
    }

    return NGX_WS_PARSE_AGAIN;
}


/* the end of a frame: a control frame or a message may be complete */

static ngx_ws_parse_e
ngx_ws_frame_complete(ngx_ws_conn_t *ws)
{
    ws->parse.state = ngx_ws_st_head;

    if (ws->parse.opcode & 0x8) {
        return NGX_WS_PARSE_CONTROL;
    }

    if (!ws->parse.fin) {
        return NGX_WS_PARSE_AGAIN;
    }

    if ngx_ws_inflating(ws) {
        if (ngx_ws_inflate(ws, NULL, 0, 1) != NGX_OK) {
            return NGX_WS_PARSE_ERROR;
        }
    }

    if (ws->msg.opcode == NGX_WS_OP_TEXT
        && ws->parse.utf8_state != NGX_WS_UTF8_ACCEPT)
    {
        ngx_ws_parse_error(ws, NGX_WS_CLOSE_BAD_DATA,
                           "invalid UTF-8 in text message");
        return NGX_WS_PARSE_ERROR;
    }

    ws->parse.in_message = 0;

    return NGX_WS_PARSE_MESSAGE;
}


/*
 * XOR with the mask from its byte off on: eight bytes at a time with the
 * four bytes of the mask twice over, which is the same key in either byte
 * order, then what is left byte by byte
 */

static void
ngx_ws_unmask(u_char *dst, u_char *src, size_t n, u_char *mask,
    ngx_uint_t off)
{
    size_t     i;
    uint32_t   m4;
    uint64_t   m, w;
    u_char     k[4];

    if (off == 0) {
        ngx_memcpy(k, mask, 4);

    } else {
        for (i = 0; i < 4; i++) {
            k[i] = mask[(off + i) & 3];
        }
    }

    ngx_memcpy(&m4, k, 4);
    m = ((uint64_t) m4 << 32) | m4;

    for (i = 0; i + 8 <= n; i += 8) {
        ngx_memcpy(&w, src + i, 8);
        w ^= m;
        ngx_memcpy(dst + i, &w, 8);
    }

    for ( /* void */ ; i < n; i++) {
        dst[i] = src[i] ^ k[i & 3];
    }
}
