
/*
 * Copyright (C) ngx_ws_module authors
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include "ngx_ws_module.h"


/*
 * A strict incremental UTF-8 validator (RFC 3629): overlong forms,
 * surrogates (U+D800..U+DFFF) and code points above U+10FFFF are refused
 * at the first byte that makes them impossible, so that a bad text message
 * fails fast.  The state carries across calls:
 *
 *     bits 0..7    continuation bytes still expected
 *     bits 8..15   lowest allowed value of the next byte
 *     bits 16..23  highest allowed value of the next byte
 *
 * NGX_WS_UTF8_ACCEPT (0) is the state between complete characters.
 */


#define ngx_ws_utf8_state(need, lo, hi)                                       \
    ((uint32_t) (need) | ((uint32_t) (lo) << 8) | ((uint32_t) (hi) << 16))


uint32_t
ngx_ws_utf8_validate(uint32_t state, u_char *p, size_t len)
{
    u_char     c, lo, hi;
    uint64_t   w;
    u_char    *end;
    uint32_t   need;

    if (state == NGX_WS_UTF8_REJECT || len == 0) {
        /* an empty body has no buffer: p may be NULL */
        return state;
    }

    end = p + len;

    need = state & 0xff;
    lo = (u_char) (state >> 8);
    hi = (u_char) (state >> 16);

    while (p < end) {

        if (need == 0) {

            /* ASCII runs are the common case: test eight bytes at once */

            while (end - p >= 8) {
                ngx_memcpy(&w, p, 8);

                if (w & 0x8080808080808080ULL) {
                    break;
                }

                p += 8;
            }

            if (p == end) {
                break;
            }

            c = *p++;

            if (c < 0x80) {
                continue;
            }

            if (c >= 0xc2 && c <= 0xdf) {
                need = 1; lo = 0x80; hi = 0xbf;

            } else if (c == 0xe0) {
                need = 2; lo = 0xa0; hi = 0xbf;

            } else if (c == 0xed) {
                need = 2; lo = 0x80; hi = 0x9f;

            } else if (c >= 0xe1 && c <= 0xef) {
                need = 2; lo = 0x80; hi = 0xbf;

            } else if (c == 0xf0) {
                need = 3; lo = 0x90; hi = 0xbf;

            } else if (c >= 0xf1 && c <= 0xf3) {
                need = 3; lo = 0x80; hi = 0xbf;

            } else if (c == 0xf4) {
                need = 3; lo = 0x80; hi = 0x8f;

            } else {
                return NGX_WS_UTF8_REJECT;
            }

            continue;
        }

        c = *p++;

        if (c < lo || c > hi) {
            return NGX_WS_UTF8_REJECT;
        }

        need--;
        lo = 0x80;
        hi = 0xbf;
    }

    if (need == 0) {
        return NGX_WS_UTF8_ACCEPT;
    }

    return ngx_ws_utf8_state(need, lo, hi);
}
