/*
 * wsabuse: a WebSocket abuse client for robustness tests on loopback.
 *
 *   wsabuse [options] 127.0.0.1:PORT
 *
 * Several abuse processes (-p) each hold a number of connections (-c) and
 * keep them busy for a bounded time (-t): every connection picks a route
 * (--target, weighted), then either sends a malformed handshake (bad or
 * missing key, missing or wrong version, no Upgrade, POST, HTTP/1.0, a
 * body, huge headers, garbage, a slowloris dribble, a half handshake) or a
 * good one (sometimes with frames pipelined behind it, sometimes dribbled),
 * and then a random mix of valid traffic (text and binary messages, some
 * fragmented with control frames between the fragments and UTF-8 split
 * inside code points, some dribbled a few bytes at a time, Ping floods,
 * unsolicited Pongs), ended by one "terminal" act: a protocol violation
 * (unmasked frame, reserved bits, reserved opcode, 64-bit length with the
 * top bit set, huge or just-too-large lengths, a message over the message
 * limit, fragmented or too long control frames, a continuation without a
 * message, a data frame inside a fragmented message, invalid UTF-8, bad
 * close codes and reasons), a clean close (sometimes with data after it),
 * silence until the server's heartbeat gives up, a muted reader, garbage,
 * a half-sent frame followed by close() or a reset (SO_LINGER 0), or a
 * plain close() or reset.  Then it reconnects.
 *
 * What can be checked is checked: the HTTP status of each malformed
 * handshake, the close code the server answers each violation with, the
 * echo of a clean Close, the 1001 of an unanswered heartbeat, the echo of
 * every complete message on an echo route (a hash of each message, in
 * order), and that an answer comes within --grace seconds.  Every mismatch
 * is counted and the first ones are printed with what was sent.
 *
 * Meanwhile --good connections (one more process) behave: each sends a
 * message (text with multi-byte UTF-8, or binary; 0 to --good-size bytes;
 * sometimes fragmented with a Ping between fragments), waits for its echo,
 * compares it byte for byte and records the latency, answers the server's
 * Pings, and closes cleanly at the end.  A lost connection, a wrong echo or
 * an echo later than --latency is counted.
 *
 * The random decisions come from one seed (-s, printed); each process
 * derives its own from it.  Timing still varies from run to run, so a seed
 * reproduces the mix of acts, not the exact interleaving.
 *
 * The last line printed is "result key=value ...", meant for scripts.
 */

#define _GNU_SOURCE

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "wsproto.h"

#define MAX_TARGETS  16
#define MAX_PROCS    16
#define MAX_SRV_MSG  (16 * 1024 * 1024)
#define MAX_REPORTS  20
#define EXP_RING     256

/* what a route does with the messages it receives */
#define K_ECHO  0       /* echoes them: echoes are checked */
#define K_APP   1       /* ws_pass: the application answers */
#define K_SUB   2       /* subscriber: receives channel messages */
#define K_PUB   3       /* ws_publish: messages go to a channel */

typedef struct {
    char      path[256];
    int       kind;
    size_t    max_frame;
    size_t    max_msg;
    int       weight;
} target_t;

typedef struct {
    struct sockaddr_in  dst;
    char        host[64];
    double      duration;
    int         conns;
    int         procs;
    int         good;
    int         good_target;
    size_t      good_size;
    double      latency;
    double      grace;
    double      app_grace;
    double      silent_wait;
    double      header_timeout;
    int         pace_ms;
    int         actions;
    int         bad_hs_pct;
    uint64_t    seed;
    int         verbose;
    target_t    t[MAX_TARGETS];
    int         nt;
    int         total_weight;
} opts_t;

static opts_t  o;

/* ------------------------------------------------------------------ */
/* counters, merged by the parent                                      */

#define COUNTERS(X)                                                          \
    X(conns)          /* abuse connections opened */                         \
    X(connect_err)                                                           \
    X(hs_ok)          /* good handshakes answered 101 */                     \
    X(hs_bad)         /* malformed handshakes sent */                        \
    X(hs_status_ok)   /* ... answered with the expected status */            \
    X(hs_slow_closed) /* slowloris handshakes the server gave up on */       \
    X(frames)         /* frames sent, all connections */                     \
    X(bytes)          /* bytes sent */                                       \
    X(messages)       /* complete valid messages sent */                     \
    X(violations)     /* protocol violations sent */                         \
    X(close_ok)       /* answered with the expected close code */            \
    X(clean_close)    /* clean Close echoed */                               \
    X(silent_ok)      /* heartbeat gave up with 1001 */                      \
    X(eof_ok)         /* server closed after our half-close */               \
    X(slow_closed)    /* channel subscriber closed with 1008 */              \
    X(echo_ok)                                                               \
    X(pings)                                                                 \
    X(pongs)                                                                 \
    X(srv_pings)                                                             \
    X(rst)            /* connections ended by a reset */                     \
    X(half)           /* half-sent frames */                                 \
    X(garbage)                                                               \
    X(muted)                                                                 \
    X(abrupt)         /* closed without a close handshake */                 \
    X(mismatch)       /* wrong status, close code, echo; no answer */        \
    X(srv_proto)      /* server frames that break the protocol */            \
    X(unprompted)     /* server closed an abuse connection unasked */        \
    X(good_conns)                                                            \
    X(good_msgs)                                                             \
    X(good_ok)                                                               \
    X(good_bad)                                                              \
    X(good_late)                                                             \
    X(good_lost)                                                             \
    X(good_closed)                                                           \
    X(good_max_us)                                                           \
    X(good_sum_us)

typedef struct {
#define X_FIELD(n)  uint64_t  n;
    COUNTERS(X_FIELD)
#undef X_FIELD
} counters_t;

static counters_t  cnt;
static int         reports;
static int         proc_no;

/* ------------------------------------------------------------------ */
/* time, random                                                        */

static uint64_t  now;

static inline uint64_t
now_ns(void)
{
    struct timespec  ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t) ts.tv_sec * 1000000000ull + (uint64_t) ts.tv_nsec;
}

static uint64_t  rnd_state;

static inline uint64_t
rnd(void)
{
    rnd_state ^= rnd_state << 13;
    rnd_state ^= rnd_state >> 7;
    rnd_state ^= rnd_state << 17;
    return rnd_state;
}

/* 0 .. n - 1 */
static inline size_t
rndn(size_t n)
{
    return n ? (size_t) (rnd() % n) : 0;
}

/* true with probability pct % */
static inline int
chance(int pct)
{
    return (int) rndn(100) < pct;
}

/* mostly small sizes, sometimes up to max */
static size_t
rnd_size(size_t max)
{
    size_t  cap;

    switch (rndn(4)) {
    case 0:
        cap = 16;
        break;
    case 1:
        cap = 256;
        break;
    case 2:
        cap = 4096;
        break;
    default:
        cap = max;
    }

    if (cap > max) {
        cap = max;
    }

    return rndn(cap + 1);
}

static uint64_t
fnv(uint64_t h, const uint8_t *p, size_t n)
{
    size_t  i;

    for (i = 0; i < n; i++) {
        h ^= p[i];
        h *= 0x100000001b3ull;
    }

    return h;
}

#define FNV0  0xcbf29ce484222325ull

static void
die(const char *fmt, ...)
{
    va_list  ap;

    va_start(ap, fmt);
    fprintf(stderr, "wsabuse: ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
    exit(2);
}

static void *
xrealloc(void *p, size_t n)
{
    p = realloc(p, n);
    if (p == NULL) {
        die("out of memory");
    }

    return p;
}

/* ------------------------------------------------------------------ */
/* connections                                                         */

enum {
    S_IDLE = 0,     /* waiting to reconnect */
    S_CONNECTING,
    S_HS,           /* handshake sent, waiting for the response head */
    S_OPEN,
    S_VERIFY,       /* waiting for the server's answer to a terminal act */
    S_LINGER        /* waiting a little, then closing (garbage, mute) */
};

/* what a terminal act expects */
#define E_CODE    1     /* a Close with code "expect" */
#define E_EOF     2     /* the server closes (EOF or any Close) */
#define E_STATUS  3     /* an HTTP status "expect" */
#define E_SLOW    4     /* slowloris: a status, or the server gives up */

typedef struct {
    uint64_t  hash;
    size_t    len;
    int       op;
} expect_t;

typedef struct {
    int         fd;
    int         state;
    int         good;
    int         events;
    const target_t  *t;

    uint8_t    *rbuf;
    size_t      rpos, rlen, rcap;
    uint8_t    *wbuf;
    size_t      wpos, wlen, wcap;

    /* bytes written a few at a time */
    uint8_t    *drip;
    size_t      dpos, dlen, dcap;
    uint64_t    drip_next;
    int         drip_ms;
    size_t      drip_max;

    uint64_t    next;         /* next act, or reconnection */
    uint64_t    deadline;
    int         acts_left;
    int         expect_kind;
    int         expect;
    char        what[96];
    int         silent;       /* do not answer Pings */
    int         pipelined;    /* frames sent right behind the handshake */

    char        key[32];

    /* a server message being received */
    int         in_msg;
    int         msg_op;
    uint64_t    msg_hash;
    size_t      msg_len;
    uint8_t    *msg;          /* good connections keep the bytes */
    size_t      msg_cap;

    /* the client's fragmented message in progress (violations) */
    int         frag_op;

    /* echoes expected on an echo route, oldest first */
    expect_t    exp[EXP_RING];
    unsigned    exp_head, exp_n;

    /* good connections: the message in flight */
    uint8_t    *gbuf;
    size_t      glen;
    int         gop;
    int         inflight;
    int         late;
    uint64_t    gsent;
    uint64_t    gseq;
    int         closing;
    int         garbage;      /* random bytes sent: echoes unknown */

    unsigned    gen;          /* connections made by this slot */
    unsigned    seq;          /* messages sent on this connection */
} conn_t;

static int       ep;
static conn_t   *conns;
static int       nconns;
static int       stopping;

static void conn_end(conn_t *c, int reset);
static void flush(conn_t *c);

static void
report(conn_t *c, const char *fmt, ...)
{
    va_list  ap;

    cnt.mismatch++;

    if (reports++ >= MAX_REPORTS) {
        return;
    }

    va_start(ap, fmt);
    fprintf(stderr, "mismatch [proc %d, %s] ", proc_no,
            c->t ? c->t->path : "-");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
}

static void
ep_set(conn_t *c, int events)
{
    struct epoll_event  ev;

    if (c->events == events) {
        return;
    }

    ev.events = (uint32_t) events;
    ev.data.ptr = c;

    if (epoll_ctl(ep, c->events < 0 ? EPOLL_CTL_ADD : EPOLL_CTL_MOD, c->fd,
                  &ev) < 0)
    {
        die("epoll_ctl: %s", strerror(errno));
    }

    c->events = events;
}

static void
update_events(conn_t *c)
{
    int  ev = 0;

    if (c->state == S_CONNECTING || c->wpos < c->wlen) {
        ev |= EPOLLOUT;
    }

    if (c->state != S_CONNECTING && !(c->state == S_LINGER && c->silent)) {
        ev |= EPOLLIN;
    }

    ep_set(c, ev);
}

static void
buf_add(uint8_t **buf, size_t *pos, size_t *len, size_t *cap,
    const uint8_t *p, size_t n)
{
    if (*pos == *len) {
        *pos = *len = 0;
    }

    if (*len + n > *cap) {
        if (*pos) {
            memmove(*buf, *buf + *pos, *len - *pos);
            *len -= *pos;
            *pos = 0;
        }

        if (*len + n > *cap) {
            *cap = (*len + n) * 2;
            *buf = xrealloc(*buf, *cap);
        }
    }

    memcpy(*buf + *len, p, n);
    *len += n;
}

/* queue bytes behind whatever is still being dribbled */
static void
out(conn_t *c, const uint8_t *p, size_t n)
{
    cnt.bytes += n;

    if (c->dpos < c->dlen) {
        buf_add(&c->drip, &c->dpos, &c->dlen, &c->dcap, p, n);
        return;
    }

    buf_add(&c->wbuf, &c->wpos, &c->wlen, &c->wcap, p, n);
}

static void
out_drip(conn_t *c, const uint8_t *p, size_t n, int ms, size_t max)
{
    cnt.bytes += n;
    buf_add(&c->drip, &c->dpos, &c->dlen, &c->dcap, p, n);
    c->drip_ms = ms;
    c->drip_max = max;

    if (c->drip_next < now) {
        c->drip_next = now;
    }
}

#define F_UNMASKED  0x01
#define F_LEN16     0x02     /* force the 16-bit length form */
#define F_LEN64     0x04     /* force the 64-bit length form */
#define F_DRIP      0x08

/*
 * Builds a frame into "f" (at least n + 14 bytes); "len" is the length
 * announced, which may differ from n.  Returns the frame's size.
 */
static size_t
build_frame(uint8_t *f, int fin, int rsv, int op, const uint8_t *p, size_t n,
    uint64_t len, int flags)
{
    size_t    h = 0;
    uint64_t  r;
    uint8_t   mask[4];
    int       i;

    f[h++] = (uint8_t) ((fin ? 0x80 : 0) | (rsv & 7) << 4 | (op & 0x0f));

    if (len < 126 && !(flags & (F_LEN16 | F_LEN64))) {
        f[h++] = (uint8_t) len;

    } else if (len < 65536 && !(flags & F_LEN64)) {
        f[h++] = 126;
        f[h++] = (uint8_t) (len >> 8);
        f[h++] = (uint8_t) len;

    } else {
        f[h++] = 127;
        for (i = 7; i >= 0; i--) {
            f[h++] = (uint8_t) (len >> (8 * i));
        }
    }

    if (flags & F_UNMASKED) {
        memcpy(f + h, p, n);
        return h + n;
    }

    f[1] |= 0x80;
    r = rnd();
    memcpy(mask, &r, 4);
    memcpy(f + h, mask, 4);
    h += 4;
    ws_mask(f + h, p, n, mask, 0);

    return h + n;
}

static uint8_t  *scratch;
static size_t    scratch_cap;

static void
send_frame_x(conn_t *c, int fin, int rsv, int op, const uint8_t *p, size_t n,
    uint64_t len, int flags)
{
    size_t  fl;

    if (scratch_cap < n + 14) {
        scratch_cap = n + 14 + 65536;
        scratch = xrealloc(scratch, scratch_cap);
    }

    fl = build_frame(scratch, fin, rsv, op, p, n, len, flags);
    cnt.frames++;

    if (flags & F_DRIP) {
        /* a few bytes every few ms, at most some 30 times per frame */
        out_drip(c, scratch, fl, 1 + (int) rndn(10),
                 1 + rndn(16) + fl / 16);

    } else {
        out(c, scratch, fl);
    }
}

static void
send_frame(conn_t *c, int fin, int op, const uint8_t *p, size_t n)
{
    send_frame_x(c, fin, 0, op, p, n, n, 0);
}

static void
send_close(conn_t *c, int code, const char *reason, size_t rlen)
{
    uint8_t  b[125];

    if (code < 0) {
        send_frame(c, 1, 8, NULL, 0);
        return;
    }

    b[0] = (uint8_t) (code >> 8);
    b[1] = (uint8_t) code;
    if (rlen > sizeof(b) - 2) {
        rlen = sizeof(b) - 2;
    }
    memcpy(b + 2, reason, rlen);
    send_frame(c, 1, 8, b, 2 + rlen);
}

/* ------------------------------------------------------------------ */
/* payloads                                                            */

static uint8_t  *pay;
static size_t    pay_cap;

static uint8_t *
payload_buf(size_t n)
{
    if (pay_cap < n + 8) {
        pay_cap = n + 8 + 65536;
        pay = xrealloc(pay, pay_cap);
    }

    return pay;
}

/* valid UTF-8 of exactly n bytes: mostly ASCII, some 2-, 3-, 4-byte */
static void
fill_text(uint8_t *p, size_t n)
{
    static const char  *seq[] = { "\xc3\xa9", "\xe2\x82\xac",
                                  "\xf0\x9f\x98\x80", "\xd0\x96",
                                  "\xe4\xb8\xad", "\xf4\x8f\xbf\xbf" };
    size_t   i = 0, l;
    const char  *s;

    while (i < n) {
        if (chance(85)) {
            p[i++] = (uint8_t) (' ' + rndn(95));
            continue;
        }

        s = seq[rndn(6)];
        l = strlen(s);
        if (i + l > n) {
            p[i++] = 'x';
            continue;
        }

        memcpy(p + i, s, l);
        i += l;
    }
}

static void
fill_binary(uint8_t *p, size_t n)
{
    size_t    i;
    uint64_t  r = 0;

    for (i = 0; i < n; i++) {
        if ((i & 7) == 0) {
            r = rnd();
        }
        p[i] = (uint8_t) (r >> (8 * (i & 7)));
    }
}

/* the application reads a body starting with "?" as instructions */
static void
fill(const conn_t *c, uint8_t *p, size_t n, int op)
{
    if (op == 1) {
        fill_text(p, n);
    } else {
        fill_binary(p, n);
    }

    if (n && c->t->kind == K_APP && p[0] == '?') {
        p[0] = '!';
    }
}

/*
 * Replaces a few bytes of valid text with a sequence that is invalid
 * wherever it lands (a lone continuation byte could complete a code point
 * it overwrites the end of, so it comes after a space).
 */
static size_t
spoil_utf8(uint8_t *p, size_t n)
{
    static const char  *bad[] = { "\xff", "\xc0\x80", "\xed\xa0\x80",
                                  "\xf4\x90\x80\x80", " \x80", "\xfe",
                                  "\xc3\x28", "\xe2\x28\xa1",
                                  "\xf8\x88\x80\x80\x80" };
    const char  *b;
    size_t       l, at;

    b = bad[rndn(9)];
    l = strlen(b);

    if (n < l) {
        return 0;
    }

    if (chance(20)) {
        /* truncated at the very end of the message: E2 82 */
        if (n < 2) {
            return 0;
        }
        p[n - 2] = 0xe2;
        p[n - 1] = 0x82;
        return n - 2;
    }

    at = rndn(n - l + 1);
    memcpy(p + at, b, l);

    return at;
}

/* ------------------------------------------------------------------ */

static void
expect_echo(conn_t *c, int op, const uint8_t *p, size_t n)
{
    expect_t  *e;

    if (c->t->kind != K_ECHO || c->exp_n == EXP_RING) {
        return;
    }

    e = &c->exp[(c->exp_head + c->exp_n++) % EXP_RING];
    e->op = op;
    e->len = n;
    e->hash = fnv(FNV0, p, n);
}

/*
 * Messages on an echo route start with where they come from, so that an
 * unexpected echo can be traced: "<process.connection.generation.seq>";
 * the rest of the message is filled after it.  Returns the tag's length.
 */
static size_t
tag(conn_t *c, uint8_t *p, size_t n)
{
    char  t[64];
    int   l;

    if (c->t->kind != K_ECHO) {
        return 0;
    }

    l = snprintf(t, sizeof(t), "<%d.%d.%u.%u>", proc_no, (int) (c - conns),
                 c->gen, c->seq++);

    if ((size_t) l > n) {
        return 0;
    }

    memcpy(p, t, (size_t) l);

    return (size_t) l;
}


static void
show(char *out, size_t size, const uint8_t *p, size_t n)
{
    size_t  i, o = 0;

    for (i = 0; i < n && i < 40 && o + 5 < size; i++) {
        if (p[i] >= 0x20 && p[i] < 0x7f) {
            out[o++] = (char) p[i];
        } else {
            o += (size_t) snprintf(out + o, size - o, "\\x%02x", p[i]);
        }
    }

    out[o] = '\0';
}

/*
 * A valid message: sometimes fragmented, with control frames between the
 * fragments and text split anywhere (also inside a code point), sometimes
 * dribbled.
 */
static void
send_message(conn_t *c, int op, size_t n)
{
    uint8_t  *p = payload_buf(n);
    size_t    off, part, k;
    int       flags = 0, first = 1;

    k = tag(c, p, n);
    fill(c, p + k, n - k, op);
    expect_echo(c, op, p, n);
    cnt.messages++;

    if (n <= 512 && chance(10)) {
        flags = F_DRIP;
    }

    if (!chance(25) || n > c->t->max_frame * 3 / 4) {
        if (n > c->t->max_frame) {
            n = c->t->max_frame;
        }
        send_frame_x(c, 1, 0, op, p, n, n, flags);
        return;
    }

    off = 0;

    do {
        part = rndn(n - off + 1);
        if (chance(20)) {
            part = 0;
        }

        send_frame_x(c, off + part == n, 0, first ? op : 0, p + off, part,
                     part, flags);
        first = 0;
        off += part;

        if (off < n && chance(20)) {
            if (chance(50)) {
                send_frame_x(c, 1, 0, 9, (uint8_t *) "mid", 3, 3, flags);
                cnt.pings++;
            } else {
                send_frame_x(c, 1, 0, 10, NULL, 0, 0, flags);
            }
        }

    } while (off < n);
}

static void
verify(conn_t *c, int kind, int code, double secs, const char *fmt, ...)
{
    va_list  ap;

    /*
     * a ws_pass route handles a connection's events one at a time, and
     * stops parsing while its queue is full: behind a queue of slow
     * events, an answer may take longer
     */
    if (c->t->kind == K_APP && secs < o.app_grace) {
        secs = o.app_grace;
    }

    c->state = S_VERIFY;
    c->expect_kind = kind;
    c->expect = code;
    c->deadline = now + (uint64_t) (secs * 1e9);

    va_start(ap, fmt);
    vsnprintf(c->what, sizeof(c->what), fmt, ap);
    va_end(ap);
}

/* the last act of an upgraded connection */
static void
terminal(conn_t *c)
{
    const target_t  *t = c->t;
    uint8_t         *p;
    size_t           n, at;
    uint64_t         len;
    int              op, code, i, k;
    static const int bad_codes[] = { 0, 999, 1004, 1005, 1006, 1015, 1016,
                                     1100, 2000, 2999, 5000, 65535 };
    static const int good_codes[] = { 1000, 1001, 1002, 1003, 1007, 1008,
                                      1009, 1010, 1011, 1012, 1013, 1014,
                                      3000, 4000, 4999 };

    op = 1 + (int) rndn(2);
    k = (int) rndn(26);

    if (stopping && (k == 17 || k == 18)) {
        /* at the end, no act that takes seconds to resolve */
        k = 15;
    }

    switch (k) {

    case 0:
        n = rnd_size(t->max_frame);
        p = payload_buf(n);
        fill(c, p, n, op);
        send_frame_x(c, 1, 0, op, p, n, n, F_UNMASKED);
        cnt.violations++;
        verify(c, E_CODE, 1002, o.grace, "unmasked frame of %zu bytes", n);
        return;

    case 1:
        k = 1 + (int) rndn(7);
        i = chance(70) ? op : (chance(50) ? 9 : 10);
        send_frame_x(c, 1, k, i, (uint8_t *) "rsv", 3, 3, 0);
        cnt.violations++;
        verify(c, E_CODE, 1002, o.grace, "reserved bits %d, opcode %d", k, i);
        return;

    case 2:
        i = chance(50) ? 3 + (int) rndn(5) : 11 + (int) rndn(5);
        send_frame_x(c, chance(80), 0, i, (uint8_t *) "op", 2, 2, 0);
        cnt.violations++;
        verify(c, E_CODE, 1002, o.grace, "reserved opcode %d", i);
        return;

    case 3:
        len = (1ull << 63) | (rnd() >> 1);
        i = chance(80) ? op : 9;
        send_frame_x(c, 1, 0, i, NULL, 0, len, 0);
        cnt.violations++;
        verify(c, E_CODE, 1002, o.grace,
               "64-bit length 0x%016llx (top bit set), opcode %d",
               (unsigned long long) len, i);
        return;

    case 4:
        len = (uint64_t) 1 << (32 + rndn(31));
        len |= rnd() & (len - 1);
        send_frame_x(c, 1, 0, op, NULL, 0, len, 0);
        cnt.violations++;
        verify(c, E_CODE, 1009, o.grace, "64-bit length %llu",
               (unsigned long long) len);
        return;

    case 5:
        len = t->max_frame + 1 + rndn(100);
        n = rndn(200);
        p = payload_buf(n);
        fill(c, p, n, op);
        send_frame_x(c, 1, 0, chance(80) ? op : 0, p, n, len,
                     chance(30) ? F_LEN64 : 0);
        cnt.violations++;
        /* a continuation without a message is a protocol error first */
        verify(c, E_CODE, (scratch[0] & 0x0f) ? 1009 : 1002, o.grace,
               "frame of %llu bytes (limit %zu), opcode %d",
               (unsigned long long) len, t->max_frame, scratch[0] & 0x0f);
        return;

    case 6:
        /* fragments each within the frame limit, together over the limit */
        n = t->max_frame;
        p = payload_buf(n);
        fill_binary(p, n);
        for (len = 0, i = 0; len <= t->max_msg; len += n, i++) {
            send_frame_x(c, 0, 0, i ? 0 : 2, p, n, n, 0);
        }
        cnt.violations++;
        verify(c, E_CODE, 1009, o.grace, "%d fragments of %zu bytes"
               " (message limit %zu)", i, n, t->max_msg);
        return;

    case 7:
        i = 8 + (int) rndn(3);
        if (chance(50)) {
            send_frame(c, 0, 1, (uint8_t *) "frag", 4);
        }
        send_frame_x(c, 0, 0, i, (uint8_t *) "ctl", 3, 3, 0);
        cnt.violations++;
        verify(c, E_CODE, 1002, o.grace, "fragmented control frame %d", i);
        return;

    case 8:
        i = 8 + (int) rndn(3);
        n = 126 + rndn(200);
        p = payload_buf(n);
        memset(p, 'c', n);
        if (i == 8) {
            p[0] = 0x03;
            p[1] = 0xe8;
        }
        send_frame_x(c, 1, 0, i, p, n, n, 0);
        cnt.violations++;
        verify(c, E_CODE, 1002, o.grace, "control frame %d of %zu bytes",
               i, n);
        return;

    case 9:
        send_frame(c, chance(50), 0, (uint8_t *) "cont", 4);
        cnt.violations++;
        verify(c, E_CODE, 1002, o.grace, "continuation without a message");
        return;

    case 10:
        send_frame(c, 0, op, (uint8_t *) "first", 5);
        if (chance(50)) {
            send_frame(c, 0, 0, (uint8_t *) "more", 4);
        }
        send_frame(c, chance(50), 1 + (int) rndn(2), (uint8_t *) "new", 3);
        cnt.violations++;
        verify(c, E_CODE, 1002, o.grace, "data frame inside a message");
        return;

    case 11:
    case 12:
        n = t->max_frame < t->max_msg ? t->max_frame : t->max_msg;
        n = 1 + rnd_size((n > 4096 ? 4096 : n) - 1);
        p = payload_buf(n);
        fill_text(p, n);
        if (n && t->kind == K_APP && p[0] == '?') {
            p[0] = '!';
        }
        at = spoil_utf8(p, n);
        if (n < 8) {
            memcpy(p, "\xff", 1);
            at = 0;
        }
        if (chance(50)) {
            send_frame(c, 1, 1, p, n);
        } else {
            /* the bad bytes in a later fragment, or split between two */
            k = (int) (at ? rndn(at + 1) : 0);
            send_frame(c, 0, 1, p, (size_t) k);
            send_frame(c, 1, 0, p + k, n - (size_t) k);
        }
        cnt.violations++;
        verify(c, E_CODE, 1007, o.grace,
               "invalid UTF-8 at byte %zu of %zu", at, n);
        return;

    case 13:
        code = bad_codes[rndn(sizeof(bad_codes) / sizeof(int))];
        send_close(c, code, "", 0);
        cnt.violations++;
        verify(c, E_CODE, 1002, o.grace, "close code %d", code);
        return;

    case 14:
        if (chance(50)) {
            send_frame(c, 1, 8, (uint8_t *) "\x03", 1);
            cnt.violations++;
            verify(c, E_CODE, 1002, o.grace, "close with 1-byte payload");
        } else {
            send_close(c, 1000, "bad \xff reason", 12);
            cnt.violations++;
            verify(c, E_CODE, 1002, o.grace, "close reason not UTF-8");
        }
        return;

    case 15:
    case 16:
        /* a clean close, sometimes with a reason, data or garbage after */
        i = (int) rndn(sizeof(good_codes) / sizeof(int) + 1);
        if (i == sizeof(good_codes) / sizeof(int)) {
            send_close(c, -1, NULL, 0);
            code = 1005;
        } else {
            code = good_codes[i];
            send_close(c, code, "bye \xc3\xa9", chance(50) ? 6 : 0);
        }
        if (chance(40)) {
            n = rndn(300);
            p = payload_buf(n);
            fill_binary(p, n);
            if (chance(50)) {
                send_frame(c, 1, 1, (uint8_t *) "after", 5);
            }
            out(c, p, n);
        }
        verify(c, E_CODE, code, o.grace, "clean close %d", code);
        return;

    case 17:
        /* silence: the heartbeat must give up */
        c->silent = 1;
        verify(c, E_CODE, 1001, o.silent_wait, "no answer to heartbeat");
        return;

    case 18:
        /* stop reading for a while */
        c->silent = 1;
        cnt.muted++;
        for (i = (int) rndn(50); i > 0; i--) {
            send_message(c, op, rnd_size(t->max_frame));
        }
        c->state = S_LINGER;
        c->deadline = now + (uint64_t) (rndn(3000) + 200) * 1000000;
        return;

    case 19:
        /* garbage */
        n = 1 + rndn(300);
        p = payload_buf(n);
        fill_binary(p, n);
        out(c, p, n);
        cnt.garbage++;
        c->garbage = 1;
        c->state = S_LINGER;
        c->deadline = now + (uint64_t) (rndn(1000) + 10) * 1000000;
        return;

    case 20:
    case 21:
        /* a half-sent frame (or header), then close() or a reset */
        n = rnd_size(t->max_frame);
        p = payload_buf(n);
        fill(c, p, n, op);
        if (scratch_cap < n + 14) {
            scratch_cap = n + 14 + 65536;
            scratch = xrealloc(scratch, scratch_cap);
        }
        len = build_frame(scratch, 1, 0, op, p, n, n, 0);
        out(c, scratch, 1 + rndn(len - 1));
        cnt.half++;
        flush(c);
        if (c->fd >= 0) {
            conn_end(c, chance(50));
        }
        return;

    case 22:
        flush(c);
        if (c->fd >= 0) {
            conn_end(c, 1);
        }
        return;

    case 23:
        flush(c);
        if (c->fd >= 0) {
            conn_end(c, 0);
        }
        return;

    case 24:
        /* half-close: the server must close its side */
        flush(c);
        if (c->fd >= 0 && c->wpos == c->wlen && c->dpos == c->dlen) {
            shutdown(c->fd, SHUT_WR);
            verify(c, E_EOF, 0, o.grace, "half-close");
        } else if (c->fd >= 0) {
            conn_end(c, 0);
        }
        return;

    default:
        /* a valid message, then pipelined garbage-looking frames */
        send_message(c, op, rnd_size(t->max_frame));
        send_frame_x(c, 1, 4, 2, NULL, 0, 0, 0);
        n = rndn(100);
        p = payload_buf(n);
        fill_binary(p, n);
        out(c, p, n);
        cnt.violations++;
        verify(c, E_CODE, 1002, o.grace, "rsv1 frame, then %zu junk bytes",
               n);
        return;
    }
}

/* an act of an upgraded abuse connection */
static void
act(conn_t *c)
{
    const target_t  *t = c->t;
    size_t           n;
    int              i, op;

    if (c->acts_left-- <= 0 || stopping) {
        terminal(c);
        return;
    }

    c->next = now + (uint64_t) rndn((size_t) o.pace_ms + 1) * 1000000;
    op = 1 + (int) rndn(2);

    switch (rndn(10)) {

    case 0:
        if (chance(20)) {
            /* a Ping flood */
            for (i = 50 + (int) rndn(250); i > 0; i--) {
                send_frame(c, 1, 9, (uint8_t *) "flood", 5);
                cnt.pings++;
            }
        } else {
            n = rndn(126);
            send_frame(c, 1, 9, payload_buf(n), n);
            cnt.pings++;
        }
        break;

    case 1:
        send_frame(c, 1, 10, (uint8_t *) "unsolicited", 11);
        break;

    case 2:
        send_message(c, op, 0);
        break;

    default:
        n = rnd_size(t->max_frame < t->max_msg ? t->max_frame : t->max_msg);
        send_message(c, op, n);
        break;
    }
}

/* ------------------------------------------------------------------ */
/* handshakes                                                          */

static size_t
handshake(conn_t *c, char *b, size_t size, const char *method,
    const char *version, const char *key, const char *ws_version,
    const char *upgrade, const char *extra)
{
    int  n;

    n = snprintf(b, size, "%s %s %s\r\nHost: %s\r\n%s%s%s"
                 "%s%s%s%s%s%s%s\r\n",
                 method, c->t->path, version, o.host,
                 upgrade ? "Upgrade: " : "", upgrade ? upgrade : "",
                 upgrade ? "\r\nConnection: Upgrade\r\n" : "",
                 key ? "Sec-WebSocket-Key: " : "", key ? key : "",
                 key ? "\r\n" : "",
                 ws_version ? "Sec-WebSocket-Version: " : "",
                 ws_version ? ws_version : "", ws_version ? "\r\n" : "",
                 extra);

    return (size_t) n < size ? (size_t) n : size - 1;
}

static void
new_key(conn_t *c)
{
    uint8_t   k[16];
    uint64_t  r1 = rnd(), r2 = rnd();

    memcpy(k, &r1, 8);
    memcpy(k + 8, &r2, 8);
    ws_base64(k, 16, c->key);
}

/* a malformed handshake and the status it must get */
static void
bad_handshake(conn_t *c)
{
    char    b[2048], *big;
    size_t  n, m;
    int     status = 400;

    cnt.hs_bad++;

    switch (rndn(12)) {
    case 0:
        n = handshake(c, b, sizeof(b), "GET", "HTTP/1.1",
                      chance(50) ? "abc" : "AAAAAAAAAAAAAAAAAAAA",
                      "13", "websocket", "");
        snprintf(c->what, sizeof(c->what), "bad key");
        break;
    case 1:
        n = handshake(c, b, sizeof(b), "GET", "HTTP/1.1", NULL, "13",
                      "websocket", "");
        snprintf(c->what, sizeof(c->what), "no key");
        break;
    case 2:
        n = handshake(c, b, sizeof(b), "GET", "HTTP/1.1", c->key,
                      chance(50) ? NULL : "8", "websocket", "");
        status = 426;
        snprintf(c->what, sizeof(c->what), "no or wrong version");
        break;
    case 3:
        n = handshake(c, b, sizeof(b), "GET", "HTTP/1.1", c->key, "13",
                      NULL, "");
        status = 426;
        snprintf(c->what, sizeof(c->what), "no Upgrade");
        break;
    case 4:
        n = handshake(c, b, sizeof(b), "POST", "HTTP/1.1", c->key, "13",
                      "websocket", "");
        status = 405;
        snprintf(c->what, sizeof(c->what), "POST");
        break;
    case 5:
        n = handshake(c, b, sizeof(b), "GET", "HTTP/1.0", c->key, "13",
                      "websocket", "");
        status = 426;
        snprintf(c->what, sizeof(c->what), "HTTP/1.0");
        break;
    case 6:
        n = handshake(c, b, sizeof(b), "GET", "HTTP/1.1", c->key, "13",
                      "websocket", "Content-Length: 5\r\n");
        if (n + 5 < sizeof(b)) {
            memcpy(b + n, "hello", 5);
            n += 5;
        }
        snprintf(c->what, sizeof(c->what), "handshake with a body");
        break;
    case 7:
    case 8:
        /* a header line larger than large_client_header_buffers */
        m = 9000 + rndn(30000);
        big = xrealloc(NULL, m + 64);
        memcpy(big, "X-Big: ", 7);
        memset(big + 7, 'b', m);
        memcpy(big + 7 + m, "\r\n", 3);
        n = handshake(c, b, sizeof(b), "GET", "HTTP/1.1", c->key, "13",
                      "websocket", "");
        /* the big header goes before the final blank line */
        out(c, (uint8_t *) b, n - 2);
        out(c, (uint8_t *) big, m + 9);
        out(c, (uint8_t *) "\r\n", 2);
        free(big);
        snprintf(c->what, sizeof(c->what), "a %zu-byte header", m);
        c->state = S_VERIFY;
        c->expect_kind = E_STATUS;
        c->expect = 400;
        c->deadline = now + (uint64_t) (o.grace * 1e9);
        return;
    case 9:
        fill_binary((uint8_t *) b, 200);
        memcpy(b + 200, "\r\n\r\n", 4);
        b[0] = 0x16;
        n = 204;
        snprintf(c->what, sizeof(c->what), "binary garbage");
        break;
    case 10:
        /* slowloris: a good handshake, a few bytes at a time */
        n = handshake(c, b, sizeof(b), "GET", "HTTP/1.1", c->key, "13",
                      "websocket", "");
        if (chance(50)) {
            /* all of it, within client_header_timeout */
            m = n;
            out_drip(c, (uint8_t *) b, m, 5 + (int) rndn(15), 8);
        } else {
            /* part of it, until the server gives up */
            m = rndn(n);
            out_drip(c, (uint8_t *) b, m, 100 + (int) rndn(400), 3);
        }
        snprintf(c->what, sizeof(c->what), "slowloris, %zu of %zu bytes",
                 m, n);
        c->state = S_VERIFY;
        c->expect_kind = E_SLOW;
        c->expect = m == n ? 101 : 0;
        c->deadline = now + (uint64_t) ((o.grace + o.header_timeout) * 1e9);
        return;
    default:
        /* half a handshake, then close() or a reset */
        n = handshake(c, b, sizeof(b), "GET", "HTTP/1.1", c->key, "13",
                      "websocket", "");
        out(c, (uint8_t *) b, 1 + rndn(n - 1));
        flush(c);
        if (c->fd >= 0) {
            conn_end(c, chance(50));
        }
        return;
    }

    out(c, (uint8_t *) b, n);
    c->state = S_VERIFY;
    c->expect_kind = E_STATUS;
    c->expect = status;
    c->deadline = now + (uint64_t) (o.grace * 1e9);
}

static void
start_handshake(conn_t *c)
{
    char    b[1024];
    size_t  n;

    new_key(c);

    if (!c->good && chance(o.bad_hs_pct)) {
        bad_handshake(c);
        flush(c);
        return;
    }

    n = handshake(c, b, sizeof(b), "GET", "HTTP/1.1", c->key, "13",
                  "websocket", "");
    c->state = S_HS;
    c->deadline = now + (uint64_t) (o.grace * 1e9);

    if (!c->good && chance(3)) {
        out_drip(c, (uint8_t *) b, n, 5 + (int) rndn(50), 20);
        c->deadline += n / 10 * 60000000ull;
        return;
    }

    out(c, (uint8_t *) b, n);

    if (!c->good && chance(10)) {
        /* frames in the same write as the handshake */
        c->pipelined = 1;
        send_message(c, 1, rnd_size(200));
        send_frame(c, 1, 9, (uint8_t *) "early", 5);
        cnt.pings++;
    }

    flush(c);
}

static const target_t *
pick_target(void)
{
    int  w = (int) rndn((size_t) o.total_weight), i;

    for (i = 0; i < o.nt; i++) {
        if ((w -= o.t[i].weight) < 0) {
            return &o.t[i];
        }
    }

    return &o.t[0];
}

static void
conn_start(conn_t *c)
{
    int  fd, one = 1;

    c->rpos = c->rlen = c->wpos = c->wlen = c->dpos = c->dlen = 0;
    c->in_msg = 0;
    c->exp_head = c->exp_n = 0;
    c->silent = 0;
    c->pipelined = 0;
    c->inflight = 0;
    c->closing = 0;
    c->garbage = 0;
    c->what[0] = '\0';
    c->expect_kind = 0;
    c->gen++;
    c->seq = 0;

    if (!c->good) {
        c->t = pick_target();
        c->acts_left = (int) rndn((size_t) o.actions + 1);
        cnt.conns++;
    } else {
        cnt.good_conns++;
    }

    fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        die("socket: %s", strerror(errno));
    }

    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));

    if (connect(fd, (struct sockaddr *) &o.dst, sizeof(o.dst)) < 0
        && errno != EINPROGRESS)
    {
        cnt.connect_err++;
        close(fd);
        c->next = now + 100000000;
        return;
    }

    c->fd = fd;
    c->events = -1;
    c->state = S_CONNECTING;
    c->deadline = now + (uint64_t) (o.grace * 1e9);
    update_events(c);
}

static void
conn_end(conn_t *c, int reset)
{
    struct linger  l = { 1, 0 };

    if (c->fd < 0) {
        return;
    }

    if (reset) {
        setsockopt(c->fd, SOL_SOCKET, SO_LINGER, &l, sizeof(l));
        cnt.rst++;
    }

    close(c->fd);
    c->fd = -1;
    c->state = S_IDLE;
    c->next = now + rndn(20) * 1000000;
}

static void
flush(conn_t *c)
{
    ssize_t  n;

    if (c->fd < 0) {
        return;
    }

    while (c->wpos < c->wlen) {
        n = send(c->fd, c->wbuf + c->wpos, c->wlen - c->wpos, MSG_NOSIGNAL);

        if (n < 0) {
            if (errno == EAGAIN || errno == EINTR) {
                break;
            }

            /* the server reset us: fine after a violation */
            if (c->good) {
                cnt.good_lost++;
                report(c, "good connection: send: %s", strerror(errno));
            } else if (c->state == S_VERIFY && c->expect_kind == E_CODE) {
                /* the Close may still be in our receive buffer */
                c->wpos = c->wlen;
                return;
            }

            conn_end(c, 0);
            return;
        }

        c->wpos += (size_t) n;
    }

    update_events(c);
}

/* ------------------------------------------------------------------ */
/* what the server sends                                               */

static void
good_send(conn_t *c)
{
    size_t    n = rndn(o.good_size + 1), off, part;
    int       op;

    if (rndn(8) == 0) {
        n = rndn(126);
    }

    op = (o.t[o.good_target].kind == K_APP || chance(50)) ? 1 : 2;

    if (c->glen < n + 8 || c->gbuf == NULL) {
        c->gbuf = xrealloc(c->gbuf, n + 8);
    }

    fill(c, c->gbuf, n, op);
    c->glen = n;
    c->gop = op;

    if (chance(20) && n > 1) {
        off = 0;
        while (off < n) {
            part = 1 + rndn(n - off);
            send_frame(c, off + part == n, off ? 0 : op, c->gbuf + off, part);
            off += part;
            if (off < n && chance(30)) {
                send_frame(c, 1, 9, (uint8_t *) "between", 7);
            }
        }
    } else {
        send_frame(c, 1, op, c->gbuf, n);
    }

    c->inflight = 1;
    c->late = 0;
    c->gsent = now;
    c->gseq++;
    cnt.good_msgs++;
    flush(c);
}

static void
good_message(conn_t *c, int op, const uint8_t *p, size_t n)
{
    uint64_t  us;

    if (!c->inflight) {
        cnt.good_bad++;
        report(c, "good connection: unexpected message of %zu bytes", n);
        return;
    }

    us = (now - c->gsent) / 1000;

    if (op != c->gop || n != c->glen || memcmp(p, c->gbuf, n) != 0) {
        cnt.good_bad++;
        report(c, "good connection: message %llu: echo differs (opcode %d"
               " / %d, %zu / %zu bytes)", (unsigned long long) c->gseq,
               op, c->gop, n, c->glen);
    } else {
        cnt.good_ok++;
    }

    cnt.good_sum_us += us;
    if (us > cnt.good_max_us) {
        cnt.good_max_us = us;
    }

    c->inflight = 0;
    c->next = now + rndn(10) * 1000000;
}

static void
on_message(conn_t *c, int op, uint64_t hash, size_t len)
{
    expect_t  *e;
    char       b[256];

    if (c->good) {
        good_message(c, op, c->msg, len);
        return;
    }

    if (c->t->kind != K_ECHO) {
        return;
    }

    if (c->garbage) {
        /* random bytes may well contain a valid frame */
        return;
    }

    if (c->exp_n == 0) {
        show(b, sizeof(b), c->msg, len);
        report(c, "echo of a message never sent: opcode %d, %zu bytes"
               " \"%s\" on <%d.%d.%u>", op, len, b, proc_no,
               (int) (c - conns), c->gen);
        return;
    }

    e = &c->exp[c->exp_head];
    c->exp_head = (c->exp_head + 1) % EXP_RING;
    c->exp_n--;

    if (e->op != op || e->len != len || e->hash != hash) {
        show(b, sizeof(b), c->msg, len);
        report(c, "echo differs: opcode %d / %d, %zu / %zu bytes \"%s\""
               " on <%d.%d.%u>", op, e->op, len, e->len, b, proc_no,
               (int) (c - conns), c->gen);
        return;
    }

    cnt.echo_ok++;
}

/* a Close from the server; returns 1 when the connection is over */
static int
on_close(conn_t *c, int code)
{
    if (c->good) {
        if (c->closing && code == 1000) {
            cnt.good_closed++;
        } else {
            cnt.good_lost++;
            report(c, "good connection closed by the server with %d", code);
        }
        conn_end(c, 0);
        return 1;
    }

    if (c->state == S_VERIFY && c->expect_kind == E_CODE) {
        if (code == c->expect) {
            if (c->expect == 1001 && c->silent) {
                cnt.silent_ok++;
            } else if (strncmp(c->what, "clean", 5) == 0) {
                cnt.clean_close++;
            } else {
                cnt.close_ok++;
            }

        } else if (code == 1008 && c->t->kind == K_SUB) {
            cnt.slow_closed++;

        } else {
            report(c, "%s: close code %d, expected %d", c->what, code,
                   c->expect);
        }

    } else if (c->state == S_VERIFY && c->expect_kind == E_EOF) {
        cnt.eof_ok++;

    } else if (code == 1008 && c->t->kind == K_SUB) {
        cnt.slow_closed++;

    } else if (c->state != S_LINGER) {
        cnt.unprompted++;
        report(c, "server closed with %d unasked (state %d, after %s)",
               code, c->state, c->pipelined ? "pipelined frames" : "acts");
    }

    /* answer the Close, or not */
    if (chance(60)) {
        send_close(c, code == 1005 ? -1 : 1000, NULL, 0);
        flush(c);
    }

    if (c->fd >= 0) {
        conn_end(c, chance(20));
    }

    return 1;
}

static void
on_eof(conn_t *c)
{
    if (c->good) {
        cnt.good_lost++;
        report(c, "good connection: the server closed the connection");

    } else if (c->state == S_VERIFY) {
        switch (c->expect_kind) {
        case E_EOF:
            cnt.eof_ok++;
            break;
        case E_SLOW:
            if (c->expect == 0) {
                cnt.hs_slow_closed++;
                break;
            }
            /* fall through */
        default:
            report(c, "%s: connection closed without an answer", c->what);
        }

    } else if (c->state == S_HS) {
        report(c, "handshake: connection closed without an answer");

    } else if (c->state == S_OPEN) {
        cnt.unprompted++;
        report(c, "server closed the connection unasked");
    }

    conn_end(c, 0);
}

/* the response head of a handshake; 0: more needed, 1: parsed */
static int
on_head(conn_t *c)
{
    uint8_t  *p = c->rbuf + c->rpos, *end;
    size_t    n = c->rlen - c->rpos;
    char      want[32];
    int       status;

    end = memmem(p, n, "\r\n\r\n", 4);
    if (end == NULL) {
        if (n > 16384) {
            report(c, "%s: response head too long", c->what);
            conn_end(c, 0);
            return 1;
        }
        return 0;
    }

    if (n < 12 || memcmp(p, "HTTP/1.1 ", 9) != 0) {
        report(c, "%s: bad response \"%.12s\"", c->what, (char *) p);
        conn_end(c, 0);
        return 1;
    }

    status = atoi((char *) p + 9);

    if (c->state == S_VERIFY
        && (c->expect_kind == E_STATUS
            || (c->expect_kind == E_SLOW && c->expect != 101)))
    {
        if (status == c->expect) {
            cnt.hs_status_ok++;
        } else {
            report(c, "%s: status %d, expected %d", c->what, status,
                   c->expect);
        }

        conn_end(c, chance(30));
        return 1;
    }

    ws_accept_key(c->key, strlen(c->key), want);

    if (status != 101 || memmem(p, (size_t) (end - p), want, 28) == NULL) {
        if (c->good) {
            cnt.good_lost++;
        }
        report(c, "handshake: status %d%s", status,
               status == 101 ? ", bad Sec-WebSocket-Accept" : "");
        conn_end(c, 0);
        return 1;
    }

    c->rpos += (size_t) (end + 4 - p);

    if (c->good) {
        c->state = S_OPEN;
        c->next = now;

    } else {
        cnt.hs_ok++;
        if (c->expect_kind == E_SLOW) {
            cnt.hs_status_ok++;
        }
        c->state = S_OPEN;
        c->next = now + rndn((size_t) o.pace_ms + 1) * 1000000;
    }

    return 1;
}

/* frames from the server; returns -1 when the connection is over */
static int
on_frames(conn_t *c)
{
    uint8_t   *p;
    size_t     n, h, plen;
    uint64_t   len;
    int        op, fin, code, i;

    for ( ;; ) {
        p = c->rbuf + c->rpos;
        n = c->rlen - c->rpos;

        if (n < 2) {
            return 0;
        }

        fin = p[0] >> 7;
        op = p[0] & 0x0f;
        len = p[1] & 0x7f;
        h = 2;

        if (len == 126) {
            if (n < 4) {
                return 0;
            }
            len = (uint64_t) p[2] << 8 | p[3];
            h = 4;

        } else if (len == 127) {
            if (n < 10) {
                return 0;
            }
            for (len = 0, i = 2; i < 10; i++) {
                len = len << 8 | p[i];
            }
            h = 10;
        }

        if ((p[0] & 0x70) || (p[1] & 0x80) || len > MAX_SRV_MSG
            || (op & 8 && (len > 125 || !fin)))
        {
            cnt.srv_proto++;
            report(c, "server frame breaks the protocol: %02x %02x",
                   p[0], p[1]);
            conn_end(c, 0);
            return -1;
        }

        if (n < h + len) {
            return 0;
        }

        plen = (size_t) len;
        p += h;
        c->rpos += h + plen;

        switch (op) {

        case 9:
            cnt.srv_pings++;
            if (!c->silent) {
                send_frame(c, 1, 10, p, plen);
                flush(c);
                if (c->fd < 0) {
                    return -1;
                }
            }
            break;

        case 10:
            cnt.pongs++;
            break;

        case 8:
            code = plen >= 2 ? (p[0] << 8 | p[1]) : 1005;
            on_close(c, code);
            return -1;

        case 0:
        case 1:
        case 2:
            if ((op == 0) != (c->in_msg != 0)) {
                cnt.srv_proto++;
                report(c, "server sent opcode %d %s a message", op,
                       c->in_msg ? "inside" : "outside");
                conn_end(c, 0);
                return -1;
            }

            if (op) {
                c->in_msg = 1;
                c->msg_op = op;
                c->msg_hash = FNV0;
                c->msg_len = 0;
            }

            c->msg_hash = fnv(c->msg_hash, p, plen);

            if (c->good || c->t->kind == K_ECHO) {
                if (c->msg_cap < c->msg_len + plen) {
                    c->msg_cap = (c->msg_len + plen) * 2;
                    c->msg = xrealloc(c->msg, c->msg_cap);
                }
                memcpy(c->msg + c->msg_len, p, plen);
            }

            c->msg_len += plen;

            if (fin) {
                c->in_msg = 0;
                on_message(c, c->msg_op, c->msg_hash, c->msg_len);
            }
            break;

        default:
            cnt.srv_proto++;
            report(c, "server sent reserved opcode %d", op);
            conn_end(c, 0);
            return -1;
        }
    }
}

static void
on_read(conn_t *c)
{
    ssize_t  n;

    for ( ;; ) {
        if (c->rpos == c->rlen) {
            c->rpos = c->rlen = 0;
        }

        if (c->rcap - c->rlen < 65536) {
            if (c->rpos) {
                memmove(c->rbuf, c->rbuf + c->rpos, c->rlen - c->rpos);
                c->rlen -= c->rpos;
                c->rpos = 0;
            }
            if (c->rcap - c->rlen < 65536) {
                c->rcap = c->rcap * 2 + 65536;
                c->rbuf = xrealloc(c->rbuf, c->rcap);
            }
        }

        n = recv(c->fd, c->rbuf + c->rlen, c->rcap - c->rlen, 0);

        if (n > 0) {
            c->rlen += (size_t) n;
            if ((size_t) n < 65536) {
                break;
            }
            continue;
        }

        if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
            break;
        }

        /* EOF or reset: first look at what came before it */
        if (c->rpos < c->rlen) {
            if (c->state == S_HS || (c->state == S_VERIFY
                                     && (c->expect_kind == E_STATUS
                                         || c->expect_kind == E_SLOW)))
            {
                if (on_head(c) && c->fd < 0) {
                    return;
                }
            }

            if (c->fd >= 0 && (c->state == S_OPEN || c->state == S_VERIFY
                               || c->state == S_LINGER))
            {
                if (on_frames(c) < 0) {
                    return;
                }
            }
        }

        if (c->fd >= 0) {
            if (c->state == S_LINGER) {
                conn_end(c, 0);
            } else {
                on_eof(c);
            }
        }
        return;
    }

    if ((c->state == S_HS
         || (c->state == S_VERIFY
             && (c->expect_kind == E_STATUS || c->expect_kind == E_SLOW))))
    {
        if (!on_head(c) || c->fd < 0) {
            return;
        }
    }

    if (c->state == S_OPEN || c->state == S_VERIFY || c->state == S_LINGER) {
        on_frames(c);
    }
}

/* ------------------------------------------------------------------ */
/* the loop                                                            */

static void
tick(conn_t *c)
{
    size_t    k;
    uint64_t  d;

    if (c->state == S_IDLE) {
        if (!stopping && now >= c->next) {
            conn_start(c);
        }
        return;
    }

    if (c->dpos < c->dlen && (c->state == S_VERIFY || c->state == S_HS)) {
        /* the wait for an answer starts when the last byte is out */
        d = now + (uint64_t) (o.grace * 1e9);
        if (c->deadline < d) {
            c->deadline = d;
        }
    }

    if (c->dpos < c->dlen && now >= c->drip_next) {
        k = 1 + rndn(c->drip_max);
        if (k > c->dlen - c->dpos) {
            k = c->dlen - c->dpos;
        }
        buf_add(&c->wbuf, &c->wpos, &c->wlen, &c->wcap, c->drip + c->dpos, k);
        c->dpos += k;
        c->drip_next = now + (uint64_t) c->drip_ms * 1000000;
        flush(c);
        if (c->fd < 0) {
            return;
        }
    }

    if (c->good) {
        if (c->state != S_OPEN) {
            if (now > c->deadline && c->state != S_OPEN) {
                cnt.good_lost++;
                report(c, "good connection: no handshake answer");
                conn_end(c, 0);
            }
            return;
        }

        if (c->inflight) {
            if (!c->late && now - c->gsent > (uint64_t) (o.latency * 1e9)) {
                c->late = 1;
                cnt.good_late++;
                report(c, "good connection: no echo of message %llu after"
                       " %.1f s", (unsigned long long) c->gseq, o.latency);
            }

            if (c->closing && now > c->deadline) {
                cnt.good_lost++;
                report(c, "good connection: no answer to the close");
                conn_end(c, 0);
            }
            return;
        }

        if (c->closing) {
            if (now > c->deadline) {
                cnt.good_lost++;
                report(c, "good connection: no answer to the close");
                conn_end(c, 0);
            }
            return;
        }

        if (stopping) {
            send_close(c, 1000, NULL, 0);
            c->closing = 1;
            c->deadline = now + (uint64_t) (o.grace * 1e9);
            flush(c);
            return;
        }

        if (now >= c->next) {
            good_send(c);
        }
        return;
    }

    switch (c->state) {

    case S_CONNECTING:
    case S_HS:
        if (now > c->deadline) {
            report(c, "no handshake answer in %.1f s", o.grace);
            conn_end(c, 0);
        }
        return;

    case S_OPEN:
        if (now >= c->next && c->dpos == c->dlen) {
            act(c);
            if (c->fd >= 0) {
                flush(c);
            }
        }
        return;

    case S_VERIFY:
        if (now > c->deadline) {
            report(c, "%s: no answer in time", c->what);
            conn_end(c, 0);
        }
        return;

    case S_LINGER:
        if (now > c->deadline) {
            if (c->silent) {
                cnt.abrupt++;
            }
            conn_end(c, chance(50));
        }
        return;
    }
}

static void
on_connected(conn_t *c)
{
    int        err = 0;
    socklen_t  len = sizeof(err);

    getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len);

    if (err) {
        cnt.connect_err++;
        if (c->good) {
            cnt.good_lost++;
        }
        report(c, "connect: %s", strerror(err));
        conn_end(c, 0);
        c->next = now + 100000000;
        return;
    }

    start_handshake(c);
}

static void
run(int n, int good)
{
    struct epoll_event  ev[256];
    uint64_t            end, stop_at = 0;
    int                 i, k, active;
    conn_t             *c;

    nconns = n;
    conns = calloc((size_t) n, sizeof(conn_t));
    if (conns == NULL) {
        die("out of memory");
    }

    ep = epoll_create1(EPOLL_CLOEXEC);

    now = now_ns();
    end = now + (uint64_t) (o.duration * 1e9);

    for (i = 0; i < n; i++) {
        conns[i].fd = -1;
        conns[i].good = good;
        conns[i].state = S_IDLE;
        /* spread the first connections over 100 ms */
        conns[i].next = now + rndn(100) * 1000000;
        if (good) {
            conns[i].t = &o.t[o.good_target];
        }
    }

    for ( ;; ) {
        now = now_ns();

        if (!stopping && now >= end) {
            stopping = 1;
            stop_at = now + (uint64_t) (((o.grace > o.app_grace
                                          ? o.grace : o.app_grace)
                                         + o.header_timeout + 1) * 1e9);
        }

        active = 0;

        for (i = 0; i < n; i++) {
            tick(&conns[i]);
            if (conns[i].fd >= 0) {
                active++;
            }
        }

        if (stopping && (active == 0 || now > stop_at)) {
            break;
        }

        k = epoll_wait(ep, ev, 256, 5);

        now = now_ns();

        for (i = 0; i < k; i++) {
            c = ev[i].data.ptr;

            if (c->fd < 0) {
                continue;
            }

            if (c->state == S_CONNECTING) {
                on_connected(c);
                continue;
            }

            if (ev[i].events & (EPOLLIN | EPOLLERR | EPOLLHUP)) {
                on_read(c);
            }

            if (c->fd >= 0 && (ev[i].events & EPOLLOUT)) {
                flush(c);
            }
        }
    }

    for (i = 0; i < n; i++) {
        c = &conns[i];
        if (c->fd >= 0) {
            report(c, "still open at the end (state %d%s%s)", c->state,
                   c->what[0] ? ", " : "", c->what);
            if (c->good) {
                cnt.good_lost++;
            }
            conn_end(c, 1);
        }
    }
}

/* ------------------------------------------------------------------ */

static void
usage(void)
{
    fprintf(stderr,
"usage: wsabuse [options] 127.0.0.1:PORT\n"
"  -t SECS        how long to abuse (default 10)\n"
"  -c N           abuse connections per process (default 100)\n"
"  -p N           abuse processes (default 2)\n"
"  -g N           good connections, in one more process (default 10)\n"
"  -s SEED        random seed (default: from the clock; printed)\n"
"  --target PATH:KIND:MAXFRAME:MAXMSG[:WEIGHT]\n"
"                 a route: KIND echo, app, sub or pub; the limits the\n"
"                 server applies there (repeat; default\n"
"                 /echo:echo:16384:65536)\n"
"  --good-target N  index of the --target the good clients use (0)\n"
"  --good-size N  largest good message (default 8192)\n"
"  --latency SECS the longest a good echo may take (default 2)\n"
"  --grace SECS   how long to wait for an answer (default 5)\n"
"  --app-grace SECS  the same on app routes (default 15)\n"
"  --silent-wait SECS  how long the heartbeat may take to give up (5)\n"
"  --pace MS      the longest pause between two acts (default 100)\n"
"  --acts N       the most acts before the terminal one (default 20)\n"
"  --bad-handshakes PCT  malformed handshakes (default 15)\n"
"  --header-timeout SECS  the server's client_header_timeout (60)\n"
"  -v             print the counters of each process\n");
    exit(2);
}

static void
add_target(const char *s)
{
    target_t  *t;
    char       kind[16];
    const char *c1;
    unsigned long long  mf = 0, mm = 0;
    int        w = 1, n;

    if (o.nt == MAX_TARGETS) {
        die("too many targets");
    }

    t = &o.t[o.nt];
    c1 = strchr(s, ':');
    if (c1 == NULL || (size_t) (c1 - s) >= sizeof(t->path) || s[0] != '/') {
        die("bad target \"%s\"", s);
    }

    memcpy(t->path, s, (size_t) (c1 - s));
    t->path[c1 - s] = '\0';

    n = sscanf(c1 + 1, "%15[a-z]:%llu:%llu:%d", kind, &mf, &mm, &w);
    if (n < 3 || mf == 0 || mm == 0 || w < 0) {
        die("bad target \"%s\"", s);
    }

    if (strcmp(kind, "echo") == 0) {
        t->kind = K_ECHO;
    } else if (strcmp(kind, "app") == 0) {
        t->kind = K_APP;
    } else if (strcmp(kind, "sub") == 0) {
        t->kind = K_SUB;
    } else if (strcmp(kind, "pub") == 0) {
        t->kind = K_PUB;
    } else {
        die("bad kind \"%s\"", kind);
    }

    t->max_frame = (size_t) mf;
    t->max_msg = (size_t) mm;
    t->weight = w;
    o.total_weight += w;
    o.nt++;
}

static void
print_counters(const char *prefix, const counters_t *r)
{
    printf("%s", prefix);
#define X_PRINT(n)  printf(" " #n "=%llu", (unsigned long long) r->n);
    COUNTERS(X_PRINT)
#undef X_PRINT
    printf("\n");
}

int
main(int argc, char **argv)
{
    static struct option  lo[] = {
        { "target", required_argument, NULL, 'T' },
        { "good-target", required_argument, NULL, 'G' },
        { "good-size", required_argument, NULL, 'S' },
        { "latency", required_argument, NULL, 'L' },
        { "grace", required_argument, NULL, 'R' },
        { "app-grace", required_argument, NULL, 'E' },
        { "silent-wait", required_argument, NULL, 'W' },
        { "pace", required_argument, NULL, 'P' },
        { "acts", required_argument, NULL, 'A' },
        { "bad-handshakes", required_argument, NULL, 'B' },
        { "header-timeout", required_argument, NULL, 'H' },
        { NULL, 0, NULL, 0 }
    };

    struct rlimit  rl;
    counters_t     total, part;
    uint64_t       gmax = 0;
    pid_t          pids[MAX_PROCS + 1];
    int            pipes[MAX_PROCS + 1][2];
    int            opt, i, nproc, status, failed = 0;
    char          *colon;
    ssize_t        r;

    o.duration = 10;
    o.conns = 100;
    o.procs = 2;
    o.good = 10;
    o.good_size = 8192;
    o.latency = 2;
    o.grace = 5;
    o.app_grace = 15;
    o.silent_wait = 5;
    o.header_timeout = 60;
    o.pace_ms = 100;
    o.actions = 20;
    o.bad_hs_pct = 15;
    o.seed = (uint64_t) time(NULL) ^ ((uint64_t) getpid() << 20);

    while ((opt = getopt_long(argc, argv, "t:c:p:g:s:v", lo, NULL)) != -1) {
        switch (opt) {
        case 't': o.duration = atof(optarg); break;
        case 'c': o.conns = atoi(optarg); break;
        case 'p': o.procs = atoi(optarg); break;
        case 'g': o.good = atoi(optarg); break;
        case 's': o.seed = strtoull(optarg, NULL, 0); break;
        case 'v': o.verbose = 1; break;
        case 'T': add_target(optarg); break;
        case 'G': o.good_target = atoi(optarg); break;
        case 'S': o.good_size = (size_t) atol(optarg); break;
        case 'L': o.latency = atof(optarg); break;
        case 'R': o.grace = atof(optarg); break;
        case 'E': o.app_grace = atof(optarg); break;
        case 'W': o.silent_wait = atof(optarg); break;
        case 'P': o.pace_ms = atoi(optarg); break;
        case 'A': o.actions = atoi(optarg); break;
        case 'B': o.bad_hs_pct = atoi(optarg); break;
        case 'H': o.header_timeout = atof(optarg); break;
        default: usage();
        }
    }

    if (optind != argc - 1 || o.procs < 0 || o.procs > MAX_PROCS
        || o.conns < 1 || o.good < 0 || o.duration <= 0)
    {
        usage();
    }

    if (o.nt == 0) {
        add_target("/echo:echo:16384:65536");
    }

    if (o.good_target < 0 || o.good_target >= o.nt
        || (o.t[o.good_target].kind != K_ECHO
            && o.t[o.good_target].kind != K_APP))
    {
        die("--good-target must name an echo or app target");
    }

    if (o.seed == 0) {
        o.seed = 1;
    }

    colon = strrchr(argv[optind], ':');
    if (colon == NULL || (size_t) (colon - argv[optind]) >= sizeof(o.host)) {
        usage();
    }

    memcpy(o.host, argv[optind], (size_t) (colon - argv[optind]));
    o.host[colon - argv[optind]] = '\0';
    o.dst.sin_family = AF_INET;
    o.dst.sin_port = htons((uint16_t) atoi(colon + 1));

    if (inet_pton(AF_INET, o.host, &o.dst.sin_addr) != 1
        || (ntohl(o.dst.sin_addr.s_addr) >> 24) != 127)
    {
        die("only loopback IPv4 targets: \"%s\"", o.host);
    }

    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }

    printf("seed %llu\n", (unsigned long long) o.seed);
    fflush(stdout);

    nproc = o.procs + (o.good > 0);

    for (i = 0; i < nproc; i++) {
        if (pipe(pipes[i]) < 0) {
            die("pipe: %s", strerror(errno));
        }

        pids[i] = fork();
        if (pids[i] < 0) {
            die("fork: %s", strerror(errno));
        }

        if (pids[i] == 0) {
            close(pipes[i][0]);
            proc_no = i;
            rnd_state = o.seed * 0x9e3779b97f4a7c15ull + (uint64_t) i + 1;
            if (rnd_state == 0) {
                rnd_state = 1;
            }

            if (i < o.procs) {
                run(o.conns, 0);
            } else {
                run(o.good, 1);
            }

            if (write(pipes[i][1], &cnt, sizeof(cnt)) != sizeof(cnt)) {
                _exit(3);
            }
            _exit(0);
        }

        close(pipes[i][1]);
    }

    memset(&total, 0, sizeof(total));

    for (i = 0; i < nproc; i++) {
        r = read(pipes[i][0], &part, sizeof(part));
        waitpid(pids[i], &status, 0);

        if (r != sizeof(part) || !WIFEXITED(status)
            || WEXITSTATUS(status) != 0)
        {
            fprintf(stderr, "wsabuse: process %d failed\n", i);
            failed = 1;
            continue;
        }

        if (o.verbose) {
            printf("proc %d", i);
            print_counters("", &part);
        }

        if (part.good_max_us > gmax) {
            gmax = part.good_max_us;
        }

#define X_SUM(n)  total.n += part.n;
        COUNTERS(X_SUM)
#undef X_SUM
    }

    total.good_max_us = gmax;    /* a maximum, not a sum */

    print_counters(failed ? "result failed=1" : "result failed=0", &total);

    return failed;
}
