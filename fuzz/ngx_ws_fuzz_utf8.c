
/*
 * Copyright (C) ngx_ws_module authors
 */


/*
 * The incremental UTF-8 validator against a plain reference decoder
 * written from RFC 3629's syntax.  The input is fed in the chunks it names
 * (ngx_ws_fuzz.h), and after every chunk the state must agree with the
 * reference on the prefix seen so far: ACCEPT exactly when the prefix is
 * complete UTF-8, REJECT exactly when no continuation could make it valid
 * (the validator fails at the first impossible byte), otherwise a state
 * that waits for more.
 */


#include "ngx_ws_fuzz.h"


#define NGX_WS_REF_COMPLETE    0
#define NGX_WS_REF_PARTIAL     1
#define NGX_WS_REF_INVALID     2


static ngx_int_t ngx_ws_ref_utf8(const u_char *p, size_t len);


int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
    ngx_ws_fuzz_init();

    return 0;
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    u_char                *buf;
    size_t                 done, n;
    uint32_t               state, once;
    ngx_int_t              ref;
    ngx_ws_fuzz_chunks_t   ch;

    (void) ngx_ws_fuzz_chunking(&ch, &data, &size);

    /* a copy of the exact size, so that ASan sees any overread */

    buf = malloc(size ? size : 1);
    if (buf == NULL) {
        abort();
    }

    ngx_memcpy(buf, data, size);

    state = NGX_WS_UTF8_ACCEPT;
    done = 0;

    while (done < size) {
        n = ngx_ws_fuzz_next_chunk(&ch);     /* ngx_min() evaluates twice */
        n = ngx_min(n, size - done);

        state = ngx_ws_utf8_validate(state, buf + done, n);
        done += n;

        ref = ngx_ws_ref_utf8(buf, done);

        if ((state == NGX_WS_UTF8_ACCEPT) != (ref == NGX_WS_REF_COMPLETE)
            || (state == NGX_WS_UTF8_REJECT) != (ref == NGX_WS_REF_INVALID))
        {
            fprintf(stderr, "utf8: state %08x, reference %d after %zu bytes\n",
                    state, (int) ref, done);
            abort();
        }

        if (state == NGX_WS_UTF8_REJECT) {
            /* the parser stops here; a rejected state stays rejected */

            if (ngx_ws_utf8_validate(state, buf, size) != NGX_WS_UTF8_REJECT) {
                abort();
            }

            break;
        }
    }

    /* the split must not matter; nothing comes as NULL, as an empty body */

    once = ngx_ws_utf8_validate(NGX_WS_UTF8_ACCEPT, size ? buf : NULL, size);

    if (done == size && once != state) {
        fprintf(stderr, "utf8: whole %08x, chunked %08x\n", once, state);
        abort();
    }

    free(buf);

    return 0;
}


/*
 * RFC 3629:
 *   UTF8-2 = %xC2-DF UTF8-tail
 *   UTF8-3 = %xE0 %xA0-BF UTF8-tail / %xE1-EC 2( UTF8-tail ) /
 *            %xED %x80-9F UTF8-tail / %xEE-EF 2( UTF8-tail )
 *   UTF8-4 = %xF0 %x90-BF 2( UTF8-tail ) / %xF1-F3 3( UTF8-tail ) /
 *            %xF4 %x80-8F 2( UTF8-tail )
 */

static ngx_int_t
ngx_ws_ref_utf8(const u_char *p, size_t len)
{
    size_t  i, k, n;
    u_char  c, lo[3], hi[3];

    i = 0;

    while (i < len) {
        c = p[i];

        lo[0] = lo[1] = lo[2] = 0x80;
        hi[0] = hi[1] = hi[2] = 0xbf;

        if (c <= 0x7f) {
            n = 0;

        } else if (c >= 0xc2 && c <= 0xdf) {
            n = 1;

        } else if (c >= 0xe0 && c <= 0xef) {
            n = 2;

            if (c == 0xe0) {
                lo[0] = 0xa0;

            } else if (c == 0xed) {
                hi[0] = 0x9f;
            }

        } else if (c >= 0xf0 && c <= 0xf4) {
            n = 3;

            if (c == 0xf0) {
                lo[0] = 0x90;

            } else if (c == 0xf4) {
                hi[0] = 0x8f;
            }

        } else {
            return NGX_WS_REF_INVALID;
        }

        for (k = 0; k < n; k++) {
            if (i + 1 + k == len) {
                return NGX_WS_REF_PARTIAL;
            }

            c = p[i + 1 + k];

            if (c < lo[k] || c > hi[k]) {
                return NGX_WS_REF_INVALID;
            }
        }

        i += 1 + n;
    }

    return NGX_WS_REF_COMPLETE;
}
