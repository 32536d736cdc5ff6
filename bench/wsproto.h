/*
 * Small pieces of RFC 6455 shared by the benchmark client (wsbench.c) and the
 * reference servers (echo-epoll.c, app-epoll.c): SHA-1 (RFC 3174), base64 and
 * the Sec-WebSocket-Accept computation, XOR masking, and a server's frame
 * headers (a client's masked one read, an unmasked one written).  No
 * external library.
 */

#ifndef WSPROTO_H
#define WSPROTO_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#define WS_GUID  "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

typedef struct {
    uint32_t  h[5];
    uint64_t  len;
    uint8_t   buf[64];
    size_t    used;
} ws_sha1_t;


static inline uint32_t
ws_rol(uint32_t v, int n)
{
    return (v << n) | (v >> (32 - n));
}


static void
ws_sha1_block(ws_sha1_t *s, const uint8_t *p)
{
    uint32_t  w[80], a, b, c, d, e, f, k, t;
    int       i;

    for (i = 0; i < 16; i++) {
        w[i] = (uint32_t) p[4 * i] << 24 | (uint32_t) p[4 * i + 1] << 16
               | (uint32_t) p[4 * i + 2] << 8 | p[4 * i + 3];
    }

    for (i = 16; i < 80; i++) {
        w[i] = ws_rol(w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16], 1);
    }

    a = s->h[0]; b = s->h[1]; c = s->h[2]; d = s->h[3]; e = s->h[4];

    for (i = 0; i < 80; i++) {
        if (i < 20) {
            f = (b & c) | (~b & d); k = 0x5a827999;
        } else if (i < 40) {
            f = b ^ c ^ d; k = 0x6ed9eba1;
        } else if (i < 60) {
            f = (b & c) | (b & d) | (c & d); k = 0x8f1bbcdc;
        } else {
            f = b ^ c ^ d; k = 0xca62c1d6;
        }

        t = ws_rol(a, 5) + f + e + k + w[i];
        e = d; d = c; c = ws_rol(b, 30); b = a; a = t;
    }

    s->h[0] += a; s->h[1] += b; s->h[2] += c; s->h[3] += d; s->h[4] += e;
}


static void
ws_sha1(const uint8_t *data, size_t n, uint8_t out[20])
{
    ws_sha1_t  s = { { 0x67452301, 0xefcdab89, 0x98badcfe, 0x10325476,
                       0xc3d2e1f0 }, 0, { 0 }, 0 };
    uint8_t    tail[128];
    size_t     rest, pad, i;

    s.len = (uint64_t) n * 8;

    while (n >= 64) {
        ws_sha1_block(&s, data);
        data += 64;
        n -= 64;
    }

    rest = n;
    memcpy(tail, data, rest);
    tail[rest] = 0x80;
    pad = (rest < 56) ? 64 : 128;
    memset(tail + rest + 1, 0, pad - rest - 1);

    for (i = 0; i < 8; i++) {
        tail[pad - 1 - i] = (uint8_t) (s.len >> (8 * i));
    }

    ws_sha1_block(&s, tail);
    if (pad == 128) {
        ws_sha1_block(&s, tail + 64);
    }

    for (i = 0; i < 5; i++) {
        out[4 * i] = (uint8_t) (s.h[i] >> 24);
        out[4 * i + 1] = (uint8_t) (s.h[i] >> 16);
        out[4 * i + 2] = (uint8_t) (s.h[i] >> 8);
        out[4 * i + 3] = (uint8_t) s.h[i];
    }
}


/* writes 4 * ceil(n / 3) characters and a NUL; returns the length */
static size_t
ws_base64(const uint8_t *in, size_t n, char *out)
{
    static const char  tab[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    size_t             i, o = 0;
    uint32_t           v;

    for (i = 0; i + 2 < n; i += 3) {
        v = (uint32_t) in[i] << 16 | (uint32_t) in[i + 1] << 8 | in[i + 2];
        out[o++] = tab[v >> 18];
        out[o++] = tab[(v >> 12) & 63];
        out[o++] = tab[(v >> 6) & 63];
        out[o++] = tab[v & 63];
    }

    if (n - i == 1) {
        v = (uint32_t) in[i] << 16;
        out[o++] = tab[v >> 18];
        out[o++] = tab[(v >> 12) & 63];
        out[o++] = '=';
        out[o++] = '=';

    } else if (n - i == 2) {
        v = (uint32_t) in[i] << 16 | (uint32_t) in[i + 1] << 8;
        out[o++] = tab[v >> 18];
        out[o++] = tab[(v >> 12) & 63];
        out[o++] = tab[(v >> 6) & 63];
        out[o++] = '=';
    }

    out[o] = '\0';
    return o;
}


/* accept must hold 29 bytes */
static void
ws_accept_key(const char *key, size_t klen, char *accept)
{
    uint8_t  buf[128], digest[20];

    if (klen > sizeof(buf) - sizeof(WS_GUID)) {
        klen = sizeof(buf) - sizeof(WS_GUID);
    }

    memcpy(buf, key, klen);
    memcpy(buf + klen, WS_GUID, sizeof(WS_GUID) - 1);
    ws_sha1(buf, klen + sizeof(WS_GUID) - 1, digest);
    ws_base64(digest, 20, accept);
}


/*
 * dst[i] = src[i] ^ key[(off + i) % 4], key as the 4 bytes in memory order;
 * dst may equal src.  Returns the new offset.
 */
static inline size_t
ws_mask(uint8_t *dst, const uint8_t *src, size_t n, const uint8_t key[4],
    size_t off)
{
    uint8_t   k[8];
    uint64_t  k64, v;
    size_t    i = 0;

    for (i = 0; i < 8; i++) {
        k[i] = key[(off + i) & 3];
    }

    memcpy(&k64, k, 8);

    for (i = 0; i + 8 <= n; i += 8) {
        memcpy(&v, src + i, 8);
        v ^= k64;
        memcpy(dst + i, &v, 8);
    }

    for (; i < n; i++) {
        dst[i] = src[i] ^ k[i & 7];
    }

    return (off + n) & 3;
}


/*
 * The header of a client frame in p (left bytes): 1 with *len the payload
 * length and *hl the header's, mask key included (the payload may not all
 * be there yet); 0 when the header is not; -1 for an unmasked frame.
 */
static inline int
ws_client_frame(const uint8_t *p, size_t left, uint64_t *len, size_t *hl)
{
    int  i;

    if (left < 2) {
        return 0;
    }
    if (!(p[1] & 0x80)) {
        return -1;
    }

    *len = p[1] & 0x7f;
    *hl = 2;

    if (*len == 126) {
        if (left < 4) {
            return 0;
        }
        *len = (uint64_t) p[2] << 8 | p[3];
        *hl = 4;

    } else if (*len == 127) {
        if (left < 10) {
            return 0;
        }
        for (*len = 0, i = 0; i < 8; i++) {
            *len = *len << 8 | p[2 + i];
        }
        *hl = 10;
    }

    *hl += 4;

    return left >= *hl ? 1 : 0;
}


/* an unmasked frame header for len bytes into h (10 at most); its length */
static inline size_t
ws_server_header(uint8_t *h, int fin_op, uint64_t len)
{
    int  i;

    h[0] = (uint8_t) fin_op;

    if (len < 126) {
        h[1] = (uint8_t) len;
        return 2;
    }

    if (len < 65536) {
        h[1] = 126;
        h[2] = (uint8_t) (len >> 8);
        h[3] = (uint8_t) len;
        return 4;
    }

    h[1] = 127;
    for (i = 0; i < 8; i++) {
        h[2 + i] = (uint8_t) (len >> (56 - 8 * i));
    }
    return 10;
}

#endif /* WSPROTO_H */
