/*
 * wsbench: a WebSocket (RFC 6455) load client for loopback benchmarks.
 *
 *   wsbench echo   [options] ws://127.0.0.1:PORT/path
 *   wsbench conns  [options] ws://127.0.0.1:PORT/path
 *   wsbench fanout [options] --pub URL ws://127.0.0.1:PORT/sub-path
 *   wsbench sse    [options] --pub URL http://127.0.0.1:PORT/sub-path
 *   wsbench reload [options] --pub URL --reload-pid PID ws://.../sub-path
 *
 * One epoll loop per client process, non-blocking sockets, TCP_NODELAY.
 * A correct client: every frame masked with a fresh key, the handshake's
 * status, Upgrade and Sec-WebSocket-Accept checked, Pings answered with
 * Pongs, fragmented server messages reassembled, messages optionally sent
 * fragmented, and the close handshake done at the end.  The sse mode is
 * the fan-out with EventSource subscribers: a GET, a checked 200 with
 * text/event-stream, a chunked (or close-delimited) body parsed into
 * events whose ids must increase.
 *
 * Several client processes (--procs) share the load; each may bind its own
 * 127.0.0.x source address (--src) so that more connections than one
 * process's file limit or one address's ephemeral ports can be opened.
 * The parent starts them together and merges their counters and latency
 * histograms.  Only loopback targets are accepted.
 *
 * The last line printed is "result key=value ...", meant for scripts.
 */

#define _GNU_SOURCE

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <math.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "wsproto.h"

#ifndef IP_BIND_ADDRESS_NO_PORT
#define IP_BIND_ADDRESS_NO_PORT  24
#endif

#define MODE_ECHO    1
#define MODE_CONNS   2
#define MODE_FANOUT  3
#define MODE_RELOAD  4

#define MAX_PROCS    64
#define MAX_SRC      64
#define MAX_MSG      (16 * 1024 * 1024)
#define MAX_RELOADS  16
#define MAX_GROUPS   4

/* reload: closes and reconnects counted in 10 ms bins from the start */
#define BIN_NS       10000000ull
#define NBINS        18000

/* ------------------------------------------------------------------ */
/* options                                                             */

typedef struct {
    int          mode;
    const char  *url;
    struct sockaddr_in  dst;
    char         host[64];
    char         path[512];

    int          conns;
    size_t       size;
    int          depth;
    int          pipeline;
    double       duration;
    double       warmup;
    int          frag;
    int          text;
    double       rate;          /* new connections per second, 0: no limit */
    int          max_pending;   /* handshakes in progress at once */
    double       hold;
    double       timeout;       /* connect + handshake, drain, close */
    int          procs;
    struct in_addr  src[MAX_SRC];
    int          nsrc;
    const char  *on_hold;
    int          smoke;
    pid_t        server_pids[64];
    int          nserver_pids;
    /* fanout: more processes whose CPU is reported, group by group */
    struct {
        char     name[16];
        pid_t    pids[16];
        int      npids;
        double   cpu0;
        double   cpu;
    }            groups[MAX_GROUPS];
    int          ngroups;

    /* fan-out */
    const char  *pub_url;
    int          pub_ws;
    struct sockaddr_in  pub_dst;
    char         pub_host[64];
    char         pub_path[512];
    double       pub_rate;
    double       settle;        /* fanout: wait between connected and go */
    double       late_grace;    /* fanout: listen on after the deadline */
    int          sse;           /* EventSource subscribers */

    /* reload */
    double       jitter;        /* reconnect after up to this, after a Close */
    pid_t        reload_pid;    /* the nginx master, sent SIGHUP */
    double       reload_at[MAX_RELOADS];
    int          nreload;
} opts_t;

static opts_t  o;

/* ------------------------------------------------------------------ */
/* time, random                                                        */

static inline uint64_t
now_ns(void)
{
    struct timespec  ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t) ts.tv_sec * 1000000000ull + (uint64_t) ts.tv_nsec;
}

static uint64_t  rnd_state = 88172645463325252ull;

static inline uint64_t
rnd(void)
{
    rnd_state ^= rnd_state << 13;
    rnd_state ^= rnd_state >> 7;
    rnd_state ^= rnd_state << 17;
    return rnd_state;
}

/* ------------------------------------------------------------------ */
/* log-linear histogram of nanoseconds (HDR-like, < 0.8% bucket width) */

#define H_SUB_BITS  7
#define H_SUB       (1 << H_SUB_BITS)
#define H_MAX_EXP   44
#define H_BUCKETS   ((H_MAX_EXP - H_SUB_BITS + 2) * H_SUB)

typedef struct {
    uint64_t  count[H_BUCKETS];
    uint64_t  n;
    uint64_t  max;
    uint64_t  min;
    double    sum;
} hist_t;

static inline unsigned
h_index(uint64_t v)
{
    int  e;

    if (v < H_SUB) {
        return (unsigned) v;
    }

    e = 63 - __builtin_clzll(v);
    if (e > H_MAX_EXP) {
        return H_BUCKETS - 1;
    }

    return (unsigned) ((e - H_SUB_BITS + 1) * H_SUB
                       + ((v >> (e - H_SUB_BITS)) - H_SUB));
}

/* the middle of a bucket */
static uint64_t
h_value(unsigned idx)
{
    unsigned  b, s, e;
    uint64_t  lo, w;

    if (idx < H_SUB) {
        return idx;
    }

    b = idx / H_SUB;
    s = idx % H_SUB;
    e = b + H_SUB_BITS - 1;
    w = 1ull << (e - H_SUB_BITS);
    lo = (uint64_t) (H_SUB + s) << (e - H_SUB_BITS);
    return lo + w / 2;
}

static inline void
h_record(hist_t *h, uint64_t v)
{
    h->count[h_index(v)]++;
    h->n++;
    h->sum += (double) v;
    if (v > h->max) {
        h->max = v;
    }
    if (h->min == 0 || v < h->min) {
        h->min = v;
    }
}

static void
h_merge(hist_t *to, const hist_t *from)
{
    unsigned  i;

    for (i = 0; i < H_BUCKETS; i++) {
        to->count[i] += from->count[i];
    }

    to->n += from->n;
    to->sum += from->sum;
    if (from->max > to->max) {
        to->max = from->max;
    }
    if (from->n && (to->min == 0 || from->min < to->min)) {
        to->min = from->min;
    }
}

static uint64_t
h_percentile(const hist_t *h, double p)
{
    uint64_t  rank, seen = 0, v;
    unsigned  i;

    if (h->n == 0) {
        return 0;
    }

    rank = (uint64_t) ceil(p / 100.0 * (double) h->n);
    if (rank < 1) {
        rank = 1;
    }

    for (i = 0; i < H_BUCKETS; i++) {
        seen += h->count[i];
        if (seen >= rank) {
            v = h_value(i);
            return v > h->max ? h->max : v;
        }
    }

    return h->max;
}

/* ------------------------------------------------------------------ */
/* what a client process reports to the parent                        */

typedef struct {
    uint32_t  kind;            /* 1: connected, 2: finished */
    uint32_t  proc;

    uint64_t  attempted;
    uint64_t  established;
    uint64_t  connect_fail;
    uint64_t  handshake_fail;
    double    connect_secs;    /* first connect to last 101 */

    uint64_t  messages;        /* echoes (or deliveries) counted */
    uint64_t  bytes;
    uint64_t  sent;
    uint64_t  bad_echo;
    uint64_t  lost;            /* not echoed before the drain timeout */
    uint64_t  proto_err;
    uint64_t  server_closed;   /* closed by the server before the end */
    uint64_t  pongs_ok;        /* smoke: Pong matched our Ping */
    uint64_t  pings_answered;  /* server Pings we answered */
    uint64_t  close_clean;     /* close handshake completed */
    uint64_t  close_timeout;

    uint64_t  published;
    uint64_t  pub_errors;
    uint64_t  duplicates;
    uint64_t  reordered;
    uint64_t  unique;
    uint64_t  out_of_range;
    uint64_t  late;            /* fan-out: delivered after the deadline */
    uint64_t  notices;         /* fan-out: server messages that are not
                                  the publisher's (history_lost) */
    uint64_t  t_first;         /* fan-out: first and last delivery */
    uint64_t  t_last;
    uint64_t  id_errors;       /* sse: an event id missing or not above */
    uint64_t  heartbeats;      /* sse: comment lines (": ping") */

    /* reload */
    uint64_t  last_id;         /* publisher: the highest id answered */
    uint64_t  first_id;        /* publisher: the lowest id answered */
    uint64_t  pub_retries;     /* POSTs sent again on a new connection */
    uint64_t  pub_reconnects;
    uint64_t  restarts;        /* Close 1012 or 1001 received */
    uint64_t  resume_reasons;  /* ... with "resume:..." */
    uint64_t  plain_reasons;
    uint64_t  resume_mismatch; /* resume id != the last id the client got */
    uint64_t  reconnects;      /* 101s after the first one of a client */
    uint64_t  reconnect_fail;
    uint64_t  history_lost;
    uint64_t  double_pub;      /* one publish delivered under two ids */
    uint64_t  never;           /* subscribers that got nothing */
    hist_t    gap;             /* per subscriber: its longest gap */
    hist_t    rc_lat;          /* reconnects: connect() to 101 */
    uint64_t  busy_max;        /* the longest time between two epoll_wait */
    uint64_t  busy_cpu;        /* ... and the CPU time used meanwhile */
    uint32_t  close_bins[NBINS];
    uint32_t  accept_bins[NBINS];

    char      first_error[160];
    hist_t    h;
} result_t;

static result_t  res;

static void
note_error(const char *fmt, ...)
{
    va_list  ap;

    if (res.first_error[0]) {
        return;
    }

    va_start(ap, fmt);
    vsnprintf(res.first_error, sizeof(res.first_error), fmt, ap);
    va_end(ap);
}

/* ------------------------------------------------------------------ */
/* connections                                                         */

enum {
    C_IDLE = 0, C_CONNECTING, C_HANDSHAKE, C_OPEN, C_CLOSING, C_CLOSED
};

typedef struct conn_s  conn_t;

struct conn_s {
    int        fd;
    int        state;
    int        id;
    int        is_pub;        /* fan-out publisher */
    int        http_pub;      /* ... over HTTP POST */

    uint8_t   *rbuf;
    size_t     rpos, rlen, rcap;
    uint8_t   *wbuf;
    size_t     wpos, wlen, wcap;

    uint64_t   deadline;      /* handshake or close */
    char       key[32];

    /* a message from the server being reassembled */
    uint8_t   *msg;
    size_t     msg_len, msg_cap;
    int        msg_op;
    int        in_msg;

    /* echo */
    uint64_t  *ts;            /* send times, a ring of depth */
    unsigned   ts_head, ts_n;
    uint64_t   send_seq, recv_seq;
    int        ping_wait;     /* smoke: waiting for our Pong */

    /* fan-out subscriber */
    uint8_t   *seen;          /* bitmap of received sequence numbers */
    uint64_t   max_seq;
    int        any_seq;
    int        pub_inflight;

    /* EventSource subscriber: the body, its lines (in msg), its events */
    int        sse_chunked;
    int        chunk_state;   /* 0: size line, 1: data, 2: CRLF after it */
    uint64_t   chunk_left;
    uint64_t   ev_id[4];      /* the numbers of the event's id line */
    int        ev_nid;        /* 0: no id line yet, -1: no number in it */
    uint64_t   last_ev_id[4];
    int        last_nid;
    int        ev_other;      /* an event type other than "message" */
    int        ev_lines;      /* data lines */
    size_t     ev_len;        /* the data, lines joined with LF */
    uint8_t    ev_head[32];   /* ... its first 32 bytes */

    /* reload: the subscriber outlives its connections */
    uint8_t   *seen_seq;      /* bitmap of publisher sequence numbers */
    char      *upath;         /* path with ?last_id= on a reconnect */
    uint64_t   reconnect_at;
    uint64_t   last_at;       /* its last message */
    uint64_t   max_gap;
    uint64_t   opened_at;     /* its last 101 */
    uint64_t   connect_at;    /* its last connect() */
    int        last_code;     /* the last Close code (0: none) */
    int        opens;
    int        ever_opened;
    char       resume[128];   /* the last_id value to come back with */

    int        close_sent;
    int        close_rcvd;
    int        counted;
};

static int       ep;
static conn_t   *conns;
static int       nconns;
static uint8_t  *pattern;
static int       sending = 0;       /* echo: keep the loop going */
static uint64_t  t_measure0, t_measure1;
static uint64_t  now;
static uint64_t  seen_cap;          /* fan-out bitmap size, in messages */

/*
 * Channel ids start at a time-based base (docs/channels.md, "Messages and
 * ids"), so the bitmaps are indexed from id_base: the first id this process
 * receives, less ID_SLACK for subscribers that lag behind the first one.
 */
#define ID_SLACK  4096
static uint64_t  id_base;
static int       id_base_set;

static uint64_t
id_index(uint64_t id)
{
    if (!id_base_set) {
        id_base = id > ID_SLACK ? id - ID_SLACK : 0;
        id_base_set = 1;
    }
    return id < id_base ? UINT64_MAX : id - id_base;
}
static uint64_t  sub_deadline;      /* fan-out: deliveries after it are lost */
static uint64_t  t_base;            /* reload: time 0 of the bins */
static int       reconnect_on;      /* reload: subscribers come back */
static int       my_idx;            /* this client process */

static void conn_fail(conn_t *c, int closed_by_server);
static void conn_flush(conn_t *c);
static void pub_answered(void);

static void
die(const char *fmt, ...)
{
    va_list  ap;

    va_start(ap, fmt);
    fprintf(stderr, "wsbench: ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
    exit(2);
}

static void *
xrealloc(void *p, size_t n)
{
    p = realloc(p, n);
    if (p == NULL && n) {
        die("out of memory");
    }
    return p;
}

static void
wreserve(conn_t *c, size_t n)
{
    size_t  cap;

    if (c->wpos && c->wpos == c->wlen) {
        c->wpos = c->wlen = 0;
    }

    if (c->wlen + n <= c->wcap) {
        return;
    }

    if (c->wpos) {
        memmove(c->wbuf, c->wbuf + c->wpos, c->wlen - c->wpos);
        c->wlen -= c->wpos;
        c->wpos = 0;
        if (c->wlen + n <= c->wcap) {
            return;
        }
    }

    cap = c->wcap ? c->wcap : 1024;
    while (cap < c->wlen + n) {
        cap *= 2;
    }

    c->wbuf = xrealloc(c->wbuf, cap);
    c->wcap = cap;
}

/* appends one masked client frame */
static void
put_frame(conn_t *c, int fin, int op, const uint8_t *p, size_t n)
{
    uint8_t   *h;
    uint32_t   key32;
    uint8_t    key[4];
    size_t     hl;

    wreserve(c, n + 14);
    h = c->wbuf + c->wlen;
    h[0] = (uint8_t) ((fin ? 0x80 : 0) | op);

    if (n < 126) {
        h[1] = (uint8_t) (0x80 | n);
        hl = 2;
    } else if (n < 65536) {
        h[1] = 0x80 | 126;
        h[2] = (uint8_t) (n >> 8);
        h[3] = (uint8_t) n;
        hl = 4;
    } else {
        int  i;

        h[1] = 0x80 | 127;
        for (i = 0; i < 8; i++) {
            h[2 + i] = (uint8_t) ((uint64_t) n >> (56 - 8 * i));
        }
        hl = 10;
    }

    key32 = (uint32_t) rnd();
    memcpy(key, &key32, 4);
    memcpy(h + hl, key, 4);
    hl += 4;

    ws_mask(h + hl, p, n, key, 0);
    c->wlen += hl + n;
}

/* seq is written in the first 8 bytes of a message of 8 bytes or more */
static void
encode_seq(uint8_t *p, uint64_t seq)
{
    static const char  a32[] = "abcdefghijklmnopqrstuvwxyz012345";
    int                i;

    if (o.text) {
        for (i = 0; i < 8; i++) {
            p[i] = (uint8_t) a32[(seq >> (5 * i)) & 31];
        }
    } else {
        memcpy(p, &seq, 8);
    }
}

static void
send_message(conn_t *c, uint64_t seq)
{
    uint8_t  stackbuf[4096], *m;
    size_t   i, part, off;
    int      op = o.text ? 1 : 2;

    m = (o.size <= sizeof(stackbuf)) ? stackbuf : xrealloc(NULL, o.size);
    memcpy(m, pattern, o.size);
    if (o.size >= 8) {
        encode_seq(m, seq);
    }

    if (o.frag <= 1) {
        put_frame(c, 1, op, m, o.size);

    } else {
        part = o.size / (size_t) o.frag;
        off = 0;
        for (i = 0; i < (size_t) o.frag; i++) {
            size_t  n = (i + 1 == (size_t) o.frag) ? o.size - off : part;

            put_frame(c, i + 1 == (size_t) o.frag, i == 0 ? op : 0,
                      m + off, n);
            off += n;
        }
    }

    if (m != stackbuf) {
        free(m);
    }

    c->ts[(c->ts_head + c->ts_n) % (unsigned) o.depth] = now;
    c->ts_n++;
    res.sent++;
}

/* ------------------------------------------------------------------ */

static void
ep_add(conn_t *c)
{
    struct epoll_event  ev;

    ev.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET;
    ev.data.ptr = c;
    if (epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ev) < 0) {
        die("epoll_ctl: %s", strerror(errno));
    }
}

static int  pending = 0;     /* connecting or handshaking */

static void
conn_start(conn_t *c, const struct sockaddr_in *dst, struct in_addr *src)
{
    int                 fd, one = 1;
    struct sockaddr_in  sa;

    res.attempted++;

    fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        note_error("socket: %s", strerror(errno));
        res.connect_fail++;
        c->state = C_CLOSED;
        return;
    }

    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));

    if (src) {
        setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof(one));
        memset(&sa, 0, sizeof(sa));
        sa.sin_family = AF_INET;
        sa.sin_addr = *src;
        if (bind(fd, (struct sockaddr *) &sa, sizeof(sa)) < 0) {
            note_error("bind: %s", strerror(errno));
            res.connect_fail++;
            close(fd);
            c->state = C_CLOSED;
            return;
        }
    }

    if (connect(fd, (const struct sockaddr *) dst, sizeof(*dst)) < 0
        && errno != EINPROGRESS)
    {
        note_error("connect: %s", strerror(errno));
        res.connect_fail++;
        close(fd);
        c->state = C_CLOSED;
        return;
    }

    c->fd = fd;
    c->state = C_CONNECTING;
    c->deadline = now + (uint64_t) (o.timeout * 1e9);
    pending++;
    ep_add(c);
}

static void
send_handshake(conn_t *c, const char *host, const char *path)
{
    uint8_t  k[16];
    uint64_t r1 = rnd(), r2 = rnd();
    int      n;

    memcpy(k, &r1, 8);
    memcpy(k + 8, &r2, 8);
    ws_base64(k, 16, c->key);

    wreserve(c, 1024);
    n = snprintf((char *) c->wbuf + c->wlen, 1024,
                 "GET %s HTTP/1.1\r\n"
                 "Host: %s\r\n"
                 "Upgrade: websocket\r\n"
                 "Connection: Upgrade\r\n"
                 "Sec-WebSocket-Key: %s\r\n"
                 "Sec-WebSocket-Version: 13\r\n"
                 "\r\n", path, host, c->key);
    c->wlen += (size_t) n;
    c->state = C_HANDSHAKE;
}

/* sse: the EventSource request, a plain GET as a browser sends it */
static void
send_sse_request(conn_t *c, const char *host, const char *path)
{
    int  n;

    wreserve(c, 1024);
    n = snprintf((char *) c->wbuf + c->wlen, 1024,
                 "GET %s HTTP/1.1\r\n"
                 "Host: %s\r\n"
                 "Accept: text/event-stream\r\n"
                 "Cache-Control: no-cache\r\n"
                 "\r\n", path, host);
    c->wlen += (size_t) n;
    c->state = C_HANDSHAKE;
}

static void
send_pub_request(conn_t *c, uint64_t seq)
{
    char     body[4096];
    size_t   n = o.size;
    int      hn;

    if (n > sizeof(body)) {
        n = sizeof(body);
    }

    /* "%016llx%016llx" sequence and send time, then padding */
    memset(body, 'x', n);
    {
        char  tmp[40];

        snprintf(tmp, sizeof(tmp), "%016llx%016llx",
                 (unsigned long long) seq, (unsigned long long) now);
        memcpy(body, tmp, n < 32 ? n : 32);
    }

    if (c->http_pub) {
        wreserve(c, 1024 + n);
        hn = snprintf((char *) c->wbuf + c->wlen, 1024,
                      "POST %s HTTP/1.1\r\n"
                      "Host: %s\r\n"
                      "Content-Type: text/plain\r\n"
                      "Content-Length: %zu\r\n"
                      "\r\n", o.pub_path, o.pub_host, n);
        c->wlen += (size_t) hn;
        memcpy(c->wbuf + c->wlen, body, n);
        c->wlen += n;
        c->pub_inflight++;

    } else {
        put_frame(c, 1, 1, (uint8_t *) body, n);
    }

    if (o.mode != MODE_RELOAD) {
        res.published++;        /* reload: when answered */
    }
}

/* 0: need more, 1: ok, -1: bad */
static int
check_handshake(conn_t *c)
{
    uint8_t  *p = c->rbuf + c->rpos, *end, *line, *eol;
    size_t    n = c->rlen - c->rpos;
    char      want[32];
    int       status_ok = 0, upgrade_ok = 0, accept_ok = 0;

    end = memmem(p, n, "\r\n\r\n", 4);
    if (end == NULL) {
        if (n > 16384) {
            note_error("handshake response too long");
            return -1;
        }
        return 0;
    }

    ws_accept_key(c->key, strlen(c->key), want);

    if (n >= 12 && memcmp(p, "HTTP/1.1 101", 12) == 0) {
        status_ok = 1;
    }

    for (line = p; line < end; line = eol + 2) {
        eol = memmem(line, (size_t) (end + 2 - line), "\r\n", 2);
        if (eol == NULL) {
            break;
        }

        if (eol - line > 21
            && strncasecmp((char *) line, "Sec-WebSocket-Accept:", 21) == 0)
        {
            uint8_t  *v = line + 21;

            while (v < eol && (*v == ' ' || *v == '\t')) {
                v++;
            }
            if ((size_t) (eol - v) >= 28 && memcmp(v, want, 28) == 0) {
                accept_ok = 1;
            }

        } else if (eol - line > 8
                   && strncasecmp((char *) line, "Upgrade:", 8) == 0)
        {
            if (memmem(line + 8, (size_t) (eol - line - 8), "ebsocket", 8)) {
                upgrade_ok = 1;
            }
        }
    }

    if (!(status_ok && upgrade_ok && accept_ok)) {
        int  l = 0;

        while (l < 60 && p + l < end && p[l] != '\r') {
            l++;
        }
        note_error("bad handshake response: \"%.*s\"%s%s", l, (char *) p,
                   upgrade_ok ? "" : " (no Upgrade: websocket)",
                   accept_ok ? "" : " (bad Sec-WebSocket-Accept)");
        return -1;
    }

    c->rpos += (size_t) (end + 4 - p);
    return 1;
}

/* sse: the response header; 0: need more, 1: ok, -1: bad */
static int
check_sse_response(conn_t *c)
{
    uint8_t  *p = c->rbuf + c->rpos, *end, *line, *eol;
    size_t    n = c->rlen - c->rpos;
    int       status_ok = 0, type_ok = 0, l;

    end = memmem(p, n, "\r\n\r\n", 4);
    if (end == NULL) {
        if (n > 16384) {
            note_error("EventSource response header too long");
            return -1;
        }
        return 0;
    }

    if (n >= 12 && (memcmp(p, "HTTP/1.1 200", 12) == 0
                    || memcmp(p, "HTTP/1.0 200", 12) == 0))
    {
        status_ok = 1;
    }

    for (line = p; line < end; line = eol + 2) {
        eol = memmem(line, (size_t) (end + 2 - line), "\r\n", 2);
        if (eol == NULL) {
            break;
        }

        if (eol - line > 13
            && strncasecmp((char *) line, "Content-Type:", 13) == 0)
        {
            if (memmem(line + 13, (size_t) (eol - line - 13),
                       "text/event-stream", 17))
            {
                type_ok = 1;
            }

        } else if (eol - line > 18
                   && strncasecmp((char *) line, "Transfer-Encoding:", 18)
                      == 0)
        {
            if (memmem(line + 18, (size_t) (eol - line - 18), "chunked", 7)) {
                c->sse_chunked = 1;
            }
        }
    }

    if (!(status_ok && type_ok)) {
        for (l = 0; l < 60 && p + l < end && p[l] != '\r'; l++) {
            /* the status line */
        }
        note_error("bad EventSource response: \"%.*s\"%s", l, (char *) p,
                   type_ok ? "" : " (no Content-Type: text/event-stream)");
        return -1;
    }

    c->rpos += (size_t) (end + 4 - p);
    return 1;
}

/* HTTP publisher: consume complete responses; 0 more, -1 bad */
static int
parse_http_responses(conn_t *c)
{
    for ( ;; ) {
        uint8_t  *p = c->rbuf + c->rpos, *end, *cl;
        size_t    n = c->rlen - c->rpos, hl, bl = 0;
        int       status;

        end = memmem(p, n, "\r\n\r\n", 4);
        if (end == NULL) {
            return 0;
        }

        hl = (size_t) (end + 4 - p);
        if (n < 12 || memcmp(p, "HTTP/1.", 7) != 0) {
            note_error("publisher: bad response");
            return -1;
        }

        status = atoi((char *) p + 9);
        cl = memmem(p, hl, "ontent-Length:", 14);
        if (cl) {
            bl = (size_t) strtoul((char *) cl + 14, NULL, 10);
        } else if (memmem(p, hl, "hunked", 6)) {
            note_error("publisher: chunked responses are not supported");
            return -1;
        }

        if (n < hl + bl) {
            return 0;
        }

        if (status < 200 || status > 299) {
            res.pub_errors++;
            note_error("publisher: HTTP status %d", status);

        } else if (o.mode == MODE_RELOAD) {
            /* {"id":17,"subscribers":230} */
            uint8_t   *id = memmem(p + hl, bl, "\"id\":", 5);
            uint64_t   v;

            if (id == NULL) {
                res.pub_errors++;
                note_error("publisher: no id in the answer");
            } else {
                v = strtoull((char *) id + 5, NULL, 10);
                if (v > res.last_id) {
                    res.last_id = v;
                }
                if (res.first_id == 0 || v < res.first_id) {
                    res.first_id = v;
                }
            }
            res.published++;
        }

        if (o.mode == MODE_RELOAD) {
            pub_answered();
        }

        c->rpos += hl + bl;
        c->pub_inflight--;
    }
}

static void
on_echo(conn_t *c, const uint8_t *p, size_t n)
{
    uint64_t  rtt = 0;
    uint8_t   want[8];
    int       bad = 0;

    if (c->ts_n == 0) {
        res.bad_echo++;
        note_error("unexpected message from the server");
        return;
    }

    rtt = now - c->ts[c->ts_head];
    c->ts_head = (c->ts_head + 1) % (unsigned) o.depth;
    c->ts_n--;

    if (n != o.size) {
        bad = 1;
    } else if (n >= 8) {
        encode_seq(want, c->recv_seq);
        if (memcmp(p, want, 8) != 0 || memcmp(p + 8, pattern + 8, n - 8)) {
            bad = 1;
        }
    } else if (memcmp(p, pattern, n) != 0) {
        bad = 1;
    }

    c->recv_seq++;

    if (bad) {
        res.bad_echo++;
        note_error("echo differs from the message sent (%zu bytes)", n);
    }

    if (now >= t_measure0 && now < t_measure1) {
        res.messages++;
        res.bytes += n;
        h_record(&res.h, rtt);
    }

    if (!sending) {
        return;
    }

    if (o.pipeline) {
        if (c->ts_n == 0) {
            int  i;

            for (i = 0; i < o.depth; i++) {
                send_message(c, c->send_seq++);
            }
        }
    } else {
        send_message(c, c->send_seq++);
    }
}

static void
on_delivery(conn_t *c, const uint8_t *p, size_t n)
{
    char      tmp[17];
    size_t    i;
    uint64_t  seq, ts;

    if (n < 32) {
        res.bad_echo++;
        note_error("delivery shorter than 32 bytes");
        return;
    }

    /*
     * the publisher's messages start with 32 hexadecimal digits; another
     * one is the server's (ngx_ws_module's {"event":"history_lost",...}
     * when a subscriber fell behind what is kept): not a delivery
     */
    for (i = 0; i < 32; i++) {
        if (!isxdigit(p[i])) {
            res.notices++;
            return;
        }
    }

    memcpy(tmp, p, 16); tmp[16] = 0;
    seq = strtoull(tmp, NULL, 16);
    memcpy(tmp, p + 16, 16); tmp[16] = 0;
    ts = strtoull(tmp, NULL, 16);

    if (sub_deadline && now > sub_deadline) {
        /*
         * counted among the losses; a late copy of a message this
         * subscriber already had is a duplicate, not a late one
         */
        if (seq < seen_cap && (c->seen[seq >> 3] & (1u << (seq & 7)))) {
            res.duplicates++;
            return;
        }
        if (seq < seen_cap) {
            c->seen[seq >> 3] |= (uint8_t) (1u << (seq & 7));
        }
        res.late++;
        return;
    }

    res.messages++;
    res.bytes += n;
    h_record(&res.h, now > ts ? now - ts : 0);
    if (res.t_first == 0) {
        res.t_first = now;
    }
    res.t_last = now;

    if (seq >= seen_cap) {
        res.out_of_range++;
        return;
    }

    if (c->seen[seq >> 3] & (1u << (seq & 7))) {
        res.duplicates++;
        return;
    }

    c->seen[seq >> 3] |= (uint8_t) (1u << (seq & 7));
    res.unique++;

    if (c->any_seq && seq < c->max_seq) {
        res.reordered++;
    }

    if (!c->any_seq || seq > c->max_seq) {
        c->max_seq = seq;
        c->any_seq = 1;
    }
}

/*
 * sse: an event id as numbers: "378447094706177" (ngx_ws_module) is one,
 * "1733400000:3" (nchan: seconds and a counter) two; ids compare as tuples
 */
static int
sse_parse_id(const uint8_t *p, size_t n, uint64_t *id)
{
    size_t  i = 0;
    int     k = 0;

    while (i < n && k < 4) {
        if (p[i] < '0' || p[i] > '9') {
            i++;
            continue;
        }
        id[k] = 0;
        while (i < n && p[i] >= '0' && p[i] <= '9') {
            id[k] = id[k] * 10 + (uint64_t) (p[i] - '0');
            i++;
        }
        k++;
    }

    return k ? k : -1;
}

static int
sse_id_above(const uint64_t *a, int na, const uint64_t *b, int nb)
{
    int  i;

    for (i = 0; i < na && i < nb; i++) {
        if (a[i] != b[i]) {
            return a[i] > b[i];
        }
    }
    return na > nb;
}

/* sse: an empty line ends an event; a "message" is a delivery */
static void
sse_dispatch(conn_t *c)
{
    if (c->ev_lines == 0) {
        /* a retry: block or an id alone: no event */

    } else if (c->ev_other) {
        res.proto_err++;
        note_error("unexpected event type in the stream");

    } else {
        if (c->ev_nid <= 0) {
            res.id_errors++;
            note_error("event without an id");

        } else if (c->last_nid
                   && !sse_id_above(c->ev_id, c->ev_nid, c->last_ev_id,
                                    c->last_nid))
        {
            res.id_errors++;
            note_error("event id not above the previous one");
        }

        if (c->ev_nid > 0) {
            memcpy(c->last_ev_id, c->ev_id, sizeof(c->ev_id));
            c->last_nid = c->ev_nid;
        }

        on_delivery(c, c->ev_head, c->ev_len);
    }

    c->ev_nid = 0;
    c->ev_other = 0;
    c->ev_lines = 0;
    c->ev_len = 0;
}

static void
sse_line(conn_t *c, const uint8_t *p, size_t n)
{
    const uint8_t  *v, *colon;
    size_t          fl, vl, k;

    if (n == 0) {
        sse_dispatch(c);
        return;
    }

    if (p[0] == ':') {
        res.heartbeats++;
        return;
    }

    colon = memchr(p, ':', n);
    fl = colon ? (size_t) (colon - p) : n;
    v = colon ? colon + 1 : p + n;
    vl = (size_t) (p + n - v);
    if (vl && *v == ' ') {
        v++;
        vl--;
    }

    if (fl == 4 && memcmp(p, "data", 4) == 0) {
        if (c->ev_lines++) {
            if (c->ev_len < sizeof(c->ev_head)) {
                c->ev_head[c->ev_len] = '\n';
            }
            c->ev_len++;
        }
        if (c->ev_len < sizeof(c->ev_head)) {
            k = sizeof(c->ev_head) - c->ev_len;
            memcpy(c->ev_head + c->ev_len, v, vl < k ? vl : k);
        }
        c->ev_len += vl;

    } else if (fl == 2 && memcmp(p, "id", 2) == 0) {
        c->ev_nid = sse_parse_id(v, vl, c->ev_id);

    } else if (fl == 5 && memcmp(p, "event", 5) == 0) {
        c->ev_other = !(vl == 7 && memcmp(v, "message", 7) == 0);
    }

    /* retry: and unknown fields are ignored, as a browser does */
}

/* sse: body bytes into lines (LF, CR LF); a partial line waits in msg */
static int
sse_feed(conn_t *c, const uint8_t *p, size_t n)
{
    const uint8_t  *eol, *line;
    size_t          k, len;

    while (n) {
        eol = memchr(p, '\n', n);
        k = eol ? (size_t) (eol - p) : n;

        if (c->msg_len + k > 65536) {
            res.proto_err++;
            note_error("event stream line longer than 64 KiB");
            conn_fail(c, 0);
            return -1;
        }

        if (eol == NULL || c->msg_len) {
            if (c->msg_cap < c->msg_len + k) {
                c->msg_cap = c->msg_len + k + 256;
                c->msg = xrealloc(c->msg, c->msg_cap);
            }
            memcpy(c->msg + c->msg_len, p, k);
            c->msg_len += k;
            if (eol == NULL) {
                return 0;
            }
            line = c->msg;
            len = c->msg_len;

        } else {
            line = p;
            len = k;
        }

        if (len && line[len - 1] == '\r') {
            len--;
        }

        sse_line(c, line, len);
        c->msg_len = 0;
        p += k + 1;
        n -= k + 1;
    }

    return 0;
}

/* sse: the body, chunked or not; -1 when the connection is gone */
static int
parse_sse(conn_t *c)
{
    uint8_t   *p, *eol, *e;
    size_t     n, k;
    uint64_t   size;

    for ( ;; ) {
        p = c->rbuf + c->rpos;
        n = c->rlen - c->rpos;

        if (n == 0) {
            return 0;
        }

        if (!c->sse_chunked || c->chunk_state == 1) {
            k = c->sse_chunked && c->chunk_left < n ? c->chunk_left : n;
            c->rpos += k;
            if (sse_feed(c, p, k) < 0) {
                return -1;
            }
            if (c->sse_chunked) {
                c->chunk_left -= k;
                if (c->chunk_left == 0) {
                    c->chunk_state = 2;
                }
            }
            continue;
        }

        if (c->chunk_state == 2) {
            if (n < 2) {
                return 0;
            }
            if (p[0] != '\r' || p[1] != '\n') {
                res.proto_err++;
                note_error("no CRLF after a chunk of the event stream");
                conn_fail(c, 0);
                return -1;
            }
            c->rpos += 2;
            c->chunk_state = 0;
            continue;
        }

        eol = memmem(p, n, "\r\n", 2);
        if (eol == NULL) {
            if (n > 64) {
                goto bad_size;
            }
            return 0;
        }

        size = strtoull((char *) p, (char **) &e, 16);
        if (e == p || (e < eol && *e != ';' && *e != ' ')) {
            goto bad_size;
        }

        c->rpos += (size_t) (eol + 2 - p);

        if (size == 0) {
            /* the last chunk: the server ended the stream */
            note_error("server ended the event stream");
            conn_fail(c, 1);
            return -1;
        }

        c->chunk_left = size;
        c->chunk_state = 1;
    }

bad_size:

    res.proto_err++;
    note_error("bad chunk size line in the event stream");
    conn_fail(c, 0);
    return -1;
}

static inline unsigned
bin_of(uint64_t t)
{
    uint64_t  b = t > t_base ? (t - t_base) / BIN_NS : 0;

    return b < NBINS ? (unsigned) b : NBINS - 1;
}

static inline int
bit_test_set(uint8_t *map, uint64_t i)
{
    int  was = (map[i >> 3] >> (i & 7)) & 1;

    map[i >> 3] |= (uint8_t) (1u << (i & 7));
    return was;
}

/*
 * reload: {"channel":"NAME","id":17,"data":"<seq><send time>xxx..."}, the
 * envelope; the id is the channel's, the data the publisher's
 */
static void
on_reload_delivery(conn_t *c, const uint8_t *p, size_t n)
{
    char           tmp[17];
    uint64_t       id, idx, seq, ts;
    const uint8_t *q, *d;

    if (n >= 23 && memcmp(p, "{\"event\":\"history_lost\"", 23) == 0) {
        res.history_lost++;
        note_error("%.*s", (int) (n < 120 ? n : 120), (const char *) p);
        return;
    }

    q = memmem(p, n, "\"id\":", 5);
    d = memmem(p, n, "\"data\":\"", 8);
    if (q == NULL || d == NULL || (size_t) (p + n - d) < 8 + 32 + 2) {
        res.bad_echo++;
        note_error("a message without the envelope: \"%.*s\"",
                   (int) (n < 60 ? n : 60), (const char *) p);
        return;
    }

    id = strtoull((const char *) q + 5, NULL, 10);
    memcpy(tmp, d + 8, 16); tmp[16] = 0;
    seq = strtoull(tmp, NULL, 16);
    memcpy(tmp, d + 24, 16); tmp[16] = 0;
    ts = strtoull(tmp, NULL, 16);

    res.messages++;
    res.bytes += n;
    h_record(&res.h, now > ts ? now - ts : 0);

    if (c->last_at && now - c->last_at > c->max_gap) {
        c->max_gap = now - c->last_at;
    }
    c->last_at = now;

    idx = id ? id_index(id) : UINT64_MAX;

    if (idx >= seen_cap || seq >= seen_cap) {
        res.out_of_range++;
        note_error("id %llu or sequence %llu out of range",
                   (unsigned long long) id, (unsigned long long) seq);
        return;
    }

    if (bit_test_set(c->seen, idx)) {
        res.duplicates++;
        note_error("id %llu received twice by one subscriber",
                   (unsigned long long) id);
        return;
    }

    res.unique++;

    if (bit_test_set(c->seen_seq, seq)) {
        /* not the module's: one POST sent twice published twice */
        res.double_pub++;
    }

    if (id < c->max_seq) {
        res.reordered++;
    } else {
        c->max_seq = id;
    }
}

static void
on_message(conn_t *c, int op, const uint8_t *p, size_t n)
{
    (void) op;

    if (o.mode == MODE_ECHO) {
        on_echo(c, p, n);
    } else if (o.mode == MODE_FANOUT && !c->is_pub) {
        on_delivery(c, p, n);
    } else if (o.mode == MODE_RELOAD && !c->is_pub) {
        on_reload_delivery(c, p, n);
    }
}

/*
 * reload: the server closed a subscriber (code 0: without a Close frame);
 * it comes back after a random jitter with the resume point of the reason,
 * or with the last id it got
 */
static void
reload_lost(conn_t *c, int code, const uint8_t *reason, size_t len)
{
    uint64_t    v;
    const char *eq;

    if (code) {
        res.close_bins[bin_of(now)]++;
    }

    c->last_code = code;

    if (code == 1012 || code == 1001) {
        res.restarts++;
    } else {
        res.server_closed++;
        if (code) {
            note_error("server closed the connection with %d \"%.*s\"", code,
                       (int) len, (const char *) reason);
        } else {
            note_error("server closed the TCP connection");
        }
    }

    if (len > 7 && len < 7 + sizeof(c->resume)
        && memcmp(reason, "resume:", 7) == 0)
    {
        memcpy(c->resume, reason + 7, len - 7);
        c->resume[len - 7] = 0;
        res.resume_reasons++;

        /* one channel: NAME=ID, ID the last one this client got */
        eq = strrchr(c->resume, '=');
        v = eq ? strtoull(eq + 1, NULL, 10) : 0;
        if (v != c->max_seq) {
            res.resume_mismatch++;
        }

    } else {
        if (code) {
            res.plain_reasons++;
        }
        snprintf(c->resume, sizeof(c->resume), "%llu",
                 (unsigned long long) c->max_seq);
    }

    c->reconnect_at = now + 1
                      + (o.jitter > 0 ? rnd() % (uint64_t) (o.jitter * 1e9)
                                      : 0);
}

static void
send_close(conn_t *c, int code)
{
    uint8_t  b[2] = { 0, 0 };

    if (c->close_sent) {
        return;
    }

    c->close_sent = 1;
    if (code) {
        b[0] = (uint8_t) (code >> 8);
        b[1] = (uint8_t) code;
        put_frame(c, 1, 8, b, 2);
    } else {
        put_frame(c, 1, 8, b, 0);
    }
}

/* parses server frames; returns -1 when the connection is gone */
static int
parse_frames(conn_t *c)
{
    for ( ;; ) {
        uint8_t   *p = c->rbuf + c->rpos;
        size_t     n = c->rlen - c->rpos, hl = 2;
        uint64_t   len;
        int        fin, op;

        if (n < 2) {
            return 0;
        }

        fin = p[0] & 0x80;
        op = p[0] & 0x0f;

        if ((p[0] & 0x70) || (p[1] & 0x80)) {
            note_error("server sent a frame with RSV bits or a mask");
            res.proto_err++;
            conn_fail(c, 0);
            return -1;
        }

        len = p[1] & 0x7f;
        if (len == 126) {
            if (n < 4) {
                return 0;
            }
            len = (uint64_t) p[2] << 8 | p[3];
            hl = 4;
        } else if (len == 127) {
            int  i;

            if (n < 10) {
                return 0;
            }
            len = 0;
            for (i = 0; i < 8; i++) {
                len = len << 8 | p[2 + i];
            }
            hl = 10;
        }

        if (len > MAX_MSG) {
            note_error("server frame too long (%llu)", (unsigned long long) len);
            res.proto_err++;
            conn_fail(c, 0);
            return -1;
        }

        if (n < hl + len) {
            /* make room for the whole frame */
            if (c->rcap - c->rpos < hl + len) {
                size_t  need = hl + len + 4096;

                if (c->rpos) {
                    memmove(c->rbuf, c->rbuf + c->rpos, n);
                    c->rlen = n;
                    c->rpos = 0;
                }
                if (c->rcap < need) {
                    c->rbuf = xrealloc(c->rbuf, need);
                    c->rcap = need;
                }
            }
            return 0;
        }

        p += hl;
        c->rpos += hl + (size_t) len;

        if (op >= 8) {
            if (!fin || len > 125) {
                note_error("server sent a bad control frame");
                res.proto_err++;
                conn_fail(c, 0);
                return -1;
            }

            if (op == 9) {                              /* ping */
                if (!c->close_sent) {
                    put_frame(c, 1, 10, p, (size_t) len);
                    res.pings_answered++;
                }

            } else if (op == 10) {                      /* pong */
                if (c->ping_wait && len == 13
                    && memcmp(p, "wsbench-smoke", 13) == 0)
                {
                    c->ping_wait = 0;
                    res.pongs_ok++;
                }

            } else if (op == 8) {                       /* close */
                int  code = 1005;

                if (len >= 2) {
                    code = p[0] << 8 | p[1];
                }

                c->close_rcvd = 1;
                if (o.mode == MODE_RELOAD && !c->close_sent && !c->is_pub) {
                    reload_lost(c, code, p + 2, len >= 2 ? len - 2 : 0);
                    c->state = C_CLOSING;
                    c->deadline = now + 1000000000ull;
                    send_close(c, len >= 2 ? code : 0);
                    conn_flush(c);
                    if (c->state == C_CLOSED) {
                        return -1;
                    }

                } else if (!c->close_sent) {
                    /* the server started it: that is a failure here */
                    res.server_closed++;
                    note_error("server closed the connection with %d", code);
                    send_close(c, len >= 2 ? code : 0);
                    conn_flush(c);
                    c->state = C_CLOSING;
                    c->deadline = now + 1000000000ull;
                } else if (code == 1000 || code == 1005) {
                    res.close_clean++;
                }

            } else {
                note_error("server sent reserved opcode %d", op);
                res.proto_err++;
                conn_fail(c, 0);
                return -1;
            }
            continue;
        }

        if (op == 0) {
            if (!c->in_msg) {
                note_error("server sent a continuation without a message");
                res.proto_err++;
                conn_fail(c, 0);
                return -1;
            }
        } else if (op == 1 || op == 2) {
            if (c->in_msg) {
                note_error("server started a message inside a message");
                res.proto_err++;
                conn_fail(c, 0);
                return -1;
            }
            c->msg_op = op;
            c->msg_len = 0;
        } else {
            note_error("server sent reserved opcode %d", op);
            res.proto_err++;
            conn_fail(c, 0);
            return -1;
        }

        if (c->close_rcvd) {
            continue;
        }

        if (fin && !c->in_msg) {
            on_message(c, c->msg_op, p, (size_t) len);
            continue;
        }

        if (c->msg_len + len > MAX_MSG) {
            note_error("server message too long");
            res.proto_err++;
            conn_fail(c, 0);
            return -1;
        }

        if (c->msg_cap < c->msg_len + len) {
            c->msg_cap = c->msg_len + (size_t) len + 1024;
            c->msg = xrealloc(c->msg, c->msg_cap);
        }
        memcpy(c->msg + c->msg_len, p, (size_t) len);
        c->msg_len += (size_t) len;
        c->in_msg = !fin;

        if (fin) {
            on_message(c, c->msg_op, c->msg, c->msg_len);
        }
    }
}

static void
conn_close_fd(conn_t *c)
{
    if (c->fd >= 0) {
        close(c->fd);
        c->fd = -1;
    }

    if (c->state == C_CONNECTING || c->state == C_HANDSHAKE) {
        pending--;
    }

    c->state = C_CLOSED;
    free(c->rbuf);
    c->rbuf = NULL;
    c->rpos = c->rlen = c->rcap = 0;
    free(c->wbuf);
    c->wbuf = NULL;
    c->wpos = c->wlen = c->wcap = 0;
    free(c->msg);
    c->msg = NULL;
    c->msg_cap = c->msg_len = 0;
}

static void
conn_fail(conn_t *c, int closed_by_server)
{
    if (o.mode == MODE_RELOAD && reconnect_on) {
        /* the load goes on: a subscriber or the publisher comes back */
        if (c->is_pub) {
            res.pub_reconnects++;

        } else if (c->ever_opened
                   && (c->state == C_CONNECTING || c->state == C_HANDSHAKE))
        {
            res.reconnect_fail++;
            c->reconnect_at = now + 100000000ull + rnd() % 100000000ull;

        } else if (c->state == C_OPEN) {
            reload_lost(c, 0, NULL, 0);
        }

        conn_close_fd(c);
        return;
    }

    if (c->state == C_CONNECTING) {
        res.connect_fail++;
    } else if (c->state == C_HANDSHAKE) {
        res.handshake_fail++;
    } else if (c->state == C_OPEN && closed_by_server) {
        res.server_closed++;
        note_error("server closed the TCP connection");
    }

    conn_close_fd(c);
}

static void
conn_flush(conn_t *c)
{
    ssize_t  n;

    while (c->wpos < c->wlen) {
        n = write(c->fd, c->wbuf + c->wpos, c->wlen - c->wpos);
        if (n < 0) {
            if (errno == EAGAIN) {
                return;
            }
            if (errno == EINTR) {
                continue;
            }
            if (c->state == C_CLOSING) {
                conn_close_fd(c);
                return;
            }
            if (!reconnect_on) {
                note_error("write: %s", strerror(errno));
            }
            conn_fail(c, 1);
            return;
        }
        c->wpos += (size_t) n;
    }

    c->wpos = c->wlen = 0;
}

static void
conn_opened(conn_t *c)
{
    pending--;
    c->state = C_OPEN;
    res.established++;

    if (o.mode == MODE_ECHO) {
        c->ts = xrealloc(NULL, sizeof(uint64_t) * (size_t) o.depth);
        if (o.smoke) {
            put_frame(c, 1, 9, (const uint8_t *) "wsbench-smoke", 13);
            c->ping_wait = 1;
        }
    } else if (o.mode == MODE_FANOUT && !c->is_pub) {
        c->seen = calloc(seen_cap / 8 + 1, 1);
        if (c->seen == NULL) {
            die("out of memory");
        }

    } else if (o.mode == MODE_RELOAD && !c->is_pub) {
        c->opens++;
        c->opened_at = now;
        if (c->ever_opened) {
            h_record(&res.rc_lat, now - c->connect_at);
            res.reconnects++;
            res.accept_bins[bin_of(now)]++;
        } else {
            c->ever_opened = 1;
            c->seen = calloc(seen_cap / 8 + 1, 1);
            c->seen_seq = calloc(seen_cap / 8 + 1, 1);
            if (c->seen == NULL || c->seen_seq == NULL) {
                die("out of memory");
            }
        }
    }
}

static void
conn_read(conn_t *c)
{
    ssize_t  n;
    size_t   want;

    for ( ;; ) {
        if (c->rcap - c->rlen < 2048) {
            if (c->rpos) {
                memmove(c->rbuf, c->rbuf + c->rpos, c->rlen - c->rpos);
                c->rlen -= c->rpos;
                c->rpos = 0;
            }
            if (c->rcap - c->rlen < 2048) {
                c->rcap = c->rcap ? c->rcap * 2 : 16384;
                c->rbuf = xrealloc(c->rbuf, c->rcap);
            }
        }

        want = c->rcap - c->rlen;
        n = read(c->fd, c->rbuf + c->rlen, want);
        if (n == 0) {
            if (c->state == C_CLOSING) {
                conn_close_fd(c);
            } else {
                if (c->state == C_HANDSHAKE) {
                    note_error("server closed during the handshake");
                }
                conn_fail(c, 1);
            }
            return;
        }

        if (n < 0) {
            if (errno == EAGAIN) {
                break;
            }
            if (errno == EINTR) {
                continue;
            }
            if (c->state == C_CLOSING) {
                conn_close_fd(c);
                return;
            }
            if (!reconnect_on) {
                note_error("read: %s", strerror(errno));
            }
            conn_fail(c, 1);
            return;
        }

        c->rlen += (size_t) n;
        now = now_ns();

        if (c->state == C_HANDSHAKE) {
            int  rc;

            if (c->is_pub && c->http_pub) {
                rc = parse_http_responses(c);
                if (rc < 0) {
                    res.pub_errors++;
                    conn_fail(c, 0);
                    return;
                }
                continue;
            }

            rc = o.sse ? check_sse_response(c) : check_handshake(c);
            if (rc < 0) {
                conn_fail(c, 0);
                return;
            }
            if (rc == 0) {
                continue;
            }
            conn_opened(c);
        }

        if (c->is_pub && c->http_pub) {
            if (parse_http_responses(c) < 0) {
                res.pub_errors++;
                conn_fail(c, 0);
                return;
            }
            continue;
        }

        if ((o.sse ? parse_sse(c) : parse_frames(c)) < 0) {
            return;
        }

        if (c->state == C_CLOSED) {
            return;
        }

        if (c->rpos == c->rlen) {
            c->rpos = c->rlen = 0;
        }

        /* a short read drained the socket; epoll (edge) tells of more */
        if ((size_t) n < want) {
            break;
        }
    }

    /* an idle connection keeps no read buffer */
    if (o.mode == MODE_CONNS && c->rpos == c->rlen && c->rbuf) {
        free(c->rbuf);
        c->rbuf = NULL;
        c->rpos = c->rlen = c->rcap = 0;
    }
}

static void
conn_event(conn_t *c, uint32_t ev)
{
    if (c->state == C_CONNECTING) {
        int        err = 0;
        socklen_t  l = sizeof(err);

        if (!(ev & (EPOLLOUT | EPOLLERR | EPOLLHUP))) {
            return;
        }

        getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &l);
        if (err) {
            note_error("connect: %s", strerror(err));
            conn_fail(c, 0);
            return;
        }

        if (c->is_pub) {
            if (c->http_pub) {
                /* plain HTTP: no handshake, POST requests follow */
                pending--;
                c->state = C_OPEN;
                res.established++;
            } else {
                send_handshake(c, o.pub_host, o.pub_path);
            }
        } else if (o.sse) {
            send_sse_request(c, o.host, o.path);
        } else {
            send_handshake(c, o.host, c->upath ? c->upath : o.path);
        }
    }

    if (ev & EPOLLIN || ev & EPOLLRDHUP || ev & EPOLLHUP || ev & EPOLLERR) {
        conn_read(c);
        if (c->state == C_CLOSED) {
            return;
        }
    }

    conn_flush(c);
}

/* ------------------------------------------------------------------ */
/* the event loop of one client process                                */

static int   ctl_fd = -1;        /* the parent writes a byte: go / finish */
static int   ctl_signalled = 0;
static int   tfd = -1;           /* fan-out publisher timer */
static uint64_t  pub_due;        /* reload: POSTs due, not yet answered */
static uint64_t  pub_seq;        /* reload: the next POST's sequence */

static int
loop_once(int timeout_ms)
{
    struct epoll_event  evs[512];
    int                 n, i;
    static uint64_t     t_back, c_back;
    struct timespec     ts;
    uint64_t            cpu;

    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    cpu = (uint64_t) ts.tv_sec * 1000000000ull + (uint64_t) ts.tv_nsec;
    if (t_back && now_ns() - t_back > res.busy_max) {
        res.busy_max = now_ns() - t_back;
        res.busy_cpu = cpu - c_back;
    }

    n = epoll_wait(ep, evs, 512, timeout_ms);
    t_back = now_ns();
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    c_back = (uint64_t) ts.tv_sec * 1000000000ull + (uint64_t) ts.tv_nsec;
    if (n < 0) {
        if (errno == EINTR) {
            return 0;
        }
        die("epoll_wait: %s", strerror(errno));
    }

    now = now_ns();

    for (i = 0; i < n; i++) {
        if (evs[i].data.ptr == &ctl_fd) {
            char  b;

            if (read(ctl_fd, &b, 1) < 0 && errno == EINTR) {
                continue;
            }
            ctl_signalled = 1;
            epoll_ctl(ep, EPOLL_CTL_DEL, ctl_fd, NULL);
            continue;
        }

        if (evs[i].data.ptr == &tfd) {
            uint64_t  exp = 0;
            conn_t   *pub = &conns[nconns - 1];

            if (read(tfd, &exp, 8) != 8) {
                continue;
            }

            if (o.mode == MODE_RELOAD) {
                pub_due += exp;
                continue;
            }

            while (exp-- && sending && pub->state == C_OPEN) {
                send_pub_request(pub, res.published);
            }

            if (pub->state == C_OPEN) {
                conn_flush(pub);
            }
            continue;
        }

        conn_event(evs[i].data.ptr, evs[i].events);
    }

    return n;
}

static void
sweep_deadlines(void)
{
    int  i;

    for (i = 0; i < nconns; i++) {
        conn_t  *c = &conns[i];

        if ((c->state == C_CONNECTING || c->state == C_HANDSHAKE)
            && now > c->deadline)
        {
            note_error("%s timed out",
                       c->state == C_CONNECTING ? "connect" : "handshake");
            conn_fail(c, 0);

        } else if (c->state == C_CLOSING && now > c->deadline) {
            if (!c->counted) {
                res.close_timeout++;
                c->counted = 1;
            }
            conn_close_fd(c);
        }
    }
}

static void
report(int fd)
{
    const uint8_t  *p = (const uint8_t *) &res;
    size_t          left = sizeof(res);
    ssize_t         n;

    while (left) {
        n = write(fd, p, left);
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            exit(3);
        }
        p += n;
        left -= (size_t) n;
    }
}

static void
wait_ctl(void)
{
    uint64_t  last = 0;

    while (!ctl_signalled) {
        loop_once(100);
        if (now - last > 100000000ull) {
            sweep_deadlines();
            last = now;
        }
    }
    ctl_signalled = 0;

    if (ctl_fd >= 0) {
        struct epoll_event  ev;

        ev.events = EPOLLIN;
        ev.data.ptr = &ctl_fd;
        epoll_ctl(ep, EPOLL_CTL_ADD, ctl_fd, &ev);
    }
}

/* opens every connection of this process, at the rate asked */
static void
open_all(int n, int idx)
{
    uint64_t  t0 = now_ns(), last_sweep = 0;
    int       started = 0, i;

    now = t0;

    while (started < n || pending > 0) {
        while (started < n && pending < o.max_pending) {
            if (o.rate > 0) {
                double  allowed = (double) (now - t0) / 1e9
                                  * (o.rate / (double) o.procs) + 1;

                if ((double) started >= allowed) {
                    break;
                }
            }
            /* the source addresses in turn, this process starting at its own */
            conn_start(&conns[started], &o.dst,
                       o.nsrc ? &o.src[(idx + started) % o.nsrc] : NULL);
            started++;
        }

        loop_once((o.rate > 0 && started < n) ? 1 : 50);

        if (now - last_sweep > 100000000ull) {
            sweep_deadlines();
            last_sweep = now;
        }
    }
    for (i = 0; i < n; i++) {
        if (conns[i].state == C_OPEN) {
            conn_flush(&conns[i]);
        }
    }

    res.connect_secs = (double) (now_ns() - t0) / 1e9;
}

/* sends Close to every open connection and waits for the handshake */
static void
close_all(void)
{
    uint64_t  deadline, last_sweep = 0;
    int       i, open;

    now = now_ns();
    deadline = now + (uint64_t) (o.timeout * 1e9);

    for (i = 0; i < nconns; i++) {
        conn_t  *c = &conns[i];

        if (c->state == C_OPEN || c->state == C_HANDSHAKE
            || c->state == C_CONNECTING)
        {
            /* plain HTTP ends with the TCP connection */
            if (c->state != C_OPEN || (c->is_pub && c->http_pub) || o.sse) {
                conn_close_fd(c);
                continue;
            }
            send_close(c, 1000);
            c->state = C_CLOSING;
            c->deadline = deadline;
            conn_flush(c);
        }
    }

    for ( ;; ) {
        open = 0;
        for (i = 0; i < nconns; i++) {
            if (conns[i].state == C_CLOSING) {
                open++;
                /* both Close frames seen: wait a little for the server's FIN */
                if (conns[i].close_rcvd && conns[i].deadline > now + 500000000ull)
                {
                    conns[i].deadline = now + 500000000ull;
                    conns[i].counted = 1;
                }
            }
        }
        if (open == 0) {
            break;
        }
        loop_once(20);
        if (now - last_sweep > 20000000ull) {
            sweep_deadlines();
            last_sweep = now;
        }
    }
}

static void
run_echo(void)
{
    uint64_t  t0, end, drain_end, last_sweep = 0;
    int       i, j, inflight;

    sending = 1;
    now = now_ns();
    t0 = now;
    t_measure0 = t0 + (uint64_t) (o.warmup * 1e9);
    t_measure1 = t_measure0 + (uint64_t) (o.duration * 1e9);
    end = t_measure1;

    for (i = 0; i < nconns; i++) {
        conn_t  *c = &conns[i];

        if (c->state != C_OPEN) {
            continue;
        }
        for (j = 0; j < o.depth; j++) {
            send_message(c, c->send_seq++);
        }
        conn_flush(c);
    }

    while (now < end) {
        loop_once((int) ((end - now) / 1000000) + 1);
    }

    /* stop sending and wait for what is in flight */
    sending = 0;
    drain_end = now + (uint64_t) (o.timeout * 1e9);

    for ( ;; ) {
        inflight = 0;
        for (i = 0; i < nconns; i++) {
            if (conns[i].state == C_OPEN) {
                inflight += (int) conns[i].ts_n + conns[i].ping_wait;
            }
        }
        if (inflight == 0 || now > drain_end) {
            break;
        }
        loop_once(20);
        if (now - last_sweep > 100000000ull) {
            sweep_deadlines();
            last_sweep = now;
        }
    }

    for (i = 0; i < nconns; i++) {
        if (conns[i].state == C_OPEN) {
            res.lost += conns[i].ts_n;
            if (conns[i].ping_wait) {
                note_error("no Pong for our Ping");
                res.proto_err++;
            }
        }
    }
    if (res.lost) {
        note_error("%llu messages not echoed within %.1fs",
                   (unsigned long long) res.lost, o.timeout);
    }
}

static void
run_fanout_publisher(void)
{
    struct itimerspec   its;
    struct epoll_event  ev;
    uint64_t            end, ns;
    conn_t             *pub = &conns[nconns - 1];

    sending = 1;
    tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
    if (tfd < 0) {
        die("timerfd_create: %s", strerror(errno));
    }

    ns = (uint64_t) (1e9 / o.pub_rate);
    memset(&its, 0, sizeof(its));
    its.it_interval.tv_sec = (time_t) (ns / 1000000000ull);
    its.it_interval.tv_nsec = (long) (ns % 1000000000ull);
    its.it_value = its.it_interval;
    timerfd_settime(tfd, 0, &its, NULL);

    ev.events = EPOLLIN;
    ev.data.ptr = &tfd;
    epoll_ctl(ep, EPOLL_CTL_ADD, tfd, &ev);

    now = now_ns();
    end = now + (uint64_t) (o.duration * 1e9);

    while (now < end && pub->state == C_OPEN) {
        loop_once((int) ((end - now) / 1000000) + 1);
    }

    sending = 0;
    epoll_ctl(ep, EPOLL_CTL_DEL, tfd, NULL);
    close(tfd);

    /* wait for the last HTTP answers */
    end = now + (uint64_t) (o.timeout * 1e9);
    while (pub->http_pub && pub->state == C_OPEN && pub->pub_inflight > 0
           && now < end)
    {
        loop_once(20);
    }

    if (pub->state != C_OPEN) {
        res.pub_errors++;
        note_error("publisher connection lost");
    }
}

/* ------------------------------------------------------------------ */
/* reload                                                              */

/* a 2xx (or an error) answer to the POST in flight: the next one */
static void
pub_answered(void)
{
    pub_seq++;
    if (pub_due) {
        pub_due--;
    }
}

/*
 * the publisher keeps one POST in flight on a keep-alive connection; a
 * connection that a reload closes is opened again and an unanswered
 * POST sent again (a request nginx did not answer was not processed)
 */
static void
pub_kick(conn_t *pub, struct in_addr *src)
{
    if (pub->state == C_CLOSED && (pub_due || pub->pub_inflight)) {
        if (pub->pub_inflight) {
            res.pub_retries++;
            pub->pub_inflight = 0;
        }
        conn_start(pub, &o.pub_dst, src);
        return;
    }

    if (pub->state == C_OPEN && pub->pub_inflight == 0 && pub_due) {
        send_pub_request(pub, pub_seq);
        conn_flush(pub);
    }
}

static void
run_reload_publisher(struct in_addr *src)
{
    struct itimerspec   its;
    struct epoll_event  ev;
    uint64_t            end, ns;
    conn_t             *pub = &conns[0];

    sending = 1;
    reconnect_on = 1;
    tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
    if (tfd < 0) {
        die("timerfd_create: %s", strerror(errno));
    }

    ns = (uint64_t) (1e9 / o.pub_rate);
    memset(&its, 0, sizeof(its));
    its.it_interval.tv_sec = (time_t) (ns / 1000000000ull);
    its.it_interval.tv_nsec = (long) (ns % 1000000000ull);
    its.it_value = its.it_interval;
    timerfd_settime(tfd, 0, &its, NULL);

    ev.events = EPOLLIN;
    ev.data.ptr = &tfd;
    epoll_ctl(ep, EPOLL_CTL_ADD, tfd, &ev);

    now = now_ns();
    end = now + (uint64_t) (o.duration * 1e9);

    while (now < end) {
        loop_once(5);
        sweep_deadlines();
        pub_kick(pub, src);
    }

    epoll_ctl(ep, EPOLL_CTL_DEL, tfd, NULL);
    close(tfd);

    /* what is due is still sent and answered */
    end = now + (uint64_t) (o.timeout * 1e9);
    while ((pub_due || pub->pub_inflight) && now < end) {
        loop_once(5);
        sweep_deadlines();
        pub_kick(pub, src);
    }

    sending = 0;
    reconnect_on = 0;

    if (pub_due || pub->pub_inflight) {
        res.pub_errors++;
        note_error("publisher: messages left unpublished after --timeout");
    }
}

/* subscribers whose jitter is over connect again, with their resume point */
static void
reload_sweep(void)
{
    conn_t  *c;
    int      i;

    for (i = 0; i < nconns; i++) {
        c = &conns[i];

        if (c->reconnect_at == 0 || now < c->reconnect_at) {
            continue;
        }

        c->reconnect_at = 0;
        if (c->fd >= 0) {
            conn_close_fd(c);           /* the old one, still closing */
        }

        c->close_sent = c->close_rcvd = c->in_msg = c->counted = 0;
        c->msg_len = 0;

        if (c->upath == NULL) {
            c->upath = xrealloc(NULL, sizeof(o.path) + sizeof(c->resume) + 16);
        }
        snprintf(c->upath, sizeof(o.path) + sizeof(c->resume) + 16,
                 "%s%clast_id=%s", o.path, strchr(o.path, '?') ? '&' : '?',
                 c->resume);

        c->connect_at = now;
        conn_start(c, &o.dst,
                   o.nsrc ? &o.src[(my_idx + c->id) % o.nsrc] : NULL);
    }
}

static void
reload_loop(uint64_t until, uint64_t last_id)
{
    uint64_t  last_sweep = 0;
    int       i, behind;

    while (now < until) {
        if (last_id) {
            behind = 0;
            for (i = 0; i < nconns; i++) {
                behind += conns[i].max_seq < last_id;
            }
            if (!behind) {
                return;
            }
        } else if (ctl_signalled) {
            return;
        }

        loop_once(5);
        reload_sweep();

        if (now - last_sweep > 20000000ull) {
            sweep_deadlines();
            last_sweep = now;
        }
    }
}

/*
 * subscribers: from "go" until the parent tells the last id published,
 * then until every subscriber has it (or --timeout); the figures
 */
static int
seen_id(conn_t *c, uint64_t id)
{
    uint64_t  i;

    if (!id_base_set || id < id_base) {
        return 0;
    }
    i = id - id_base;
    return i < seen_cap && ((c->seen[i >> 3] >> (i & 7)) & 1);
}

static void
run_reload_subscribers(void)
{
    uint64_t  last_id = 0, first_id = 0, id, lost, n;
    conn_t   *c;
    int       i;

    reconnect_on = 1;
    now = now_ns();

    /* the publishing, and --timeout for its last answers */
    reload_loop(now + (uint64_t) ((o.duration + o.timeout + 5) * 1e9), 0);

    if (ctl_signalled) {
        ctl_signalled = 0;
        if (read(ctl_fd, &last_id, sizeof(last_id)) != sizeof(last_id)
            || read(ctl_fd, &first_id, sizeof(first_id)) != sizeof(first_id))
        {
            die("no first and last ids from the parent");
        }
    }

    /* the ids published, first_id .. last_id, are what must arrive */
    n = last_id ? last_id - first_id + 1 : 0;

    if (last_id && id_base_set && last_id - id_base >= seen_cap) {
        die("last id %llu beyond the bitmaps", (unsigned long long) last_id);
    }

    if (last_id) {
        reload_loop(now + (uint64_t) (o.timeout * 1e9), last_id);
    }

    reconnect_on = 0;

    for (i = 0; i < nconns; i++) {
        c = &conns[i];
        c->reconnect_at = 0;
        lost = 0;

        if (c->seen == NULL) {
            continue;               /* never connected: counted already */
        }

        for (id = first_id; last_id && id <= last_id; id++) {
            lost += !seen_id(c, id);
        }

        res.lost += lost;
        if (lost == n && n) {
            res.never++;
        }

        if (lost && getenv("WSBENCH_DEBUG")) {
            uint64_t  first = 0, last = 0;

            for (id = first_id; id <= last_id; id++) {
                if (!seen_id(c, id)) {
                    first = first ? first : id;
                    last = id;
                }
            }
            fprintf(stderr, "wsbench: subscriber %d.%d lost %llu (ids %llu "
                    "to %llu), got up to %llu, state %d, opens %d, last "
                    "Close %d, last resume \"%s\", connected at %.3f s, "
                    "101 at %.3f s, last message at %.3f s\n", my_idx, i,
                    (unsigned long long) lost, (unsigned long long) first,
                    (unsigned long long) last,
                    (unsigned long long) c->max_seq, c->state, c->opens,
                    c->last_code, c->resume,
                    (double) (c->connect_at - t_base) / 1e9,
                    (double) (c->opened_at - t_base) / 1e9,
                    (double) (c->last_at - t_base) / 1e9);
        }

        if (c->max_gap) {
            h_record(&res.gap, c->max_gap);
        }
    }

    if (res.lost) {
        note_error("%llu messages lost", (unsigned long long) res.lost);
    }
}

static void
child_main(int idx, int n, struct in_addr *src, int resfd, int cfd)
{
    struct epoll_event  ev;
    int                 i, is_publisher;
    uint64_t            end;

    memset(&res, 0, sizeof(res));
    res.proc = (uint32_t) idx;
    rnd_state ^= (uint64_t) getpid() * 0x9e3779b97f4a7c15ull ^ now_ns();
    if (rnd_state == 0) {
        rnd_state = 1;
    }

    ep = epoll_create1(EPOLL_CLOEXEC);
    if (ep < 0) {
        die("epoll_create1: %s", strerror(errno));
    }

    ctl_fd = cfd;
    ev.events = EPOLLIN;
    ev.data.ptr = &ctl_fd;
    epoll_ctl(ep, EPOLL_CTL_ADD, ctl_fd, &ev);

    my_idx = idx;
    is_publisher = ((o.mode == MODE_FANOUT || o.mode == MODE_RELOAD)
                    && n == 0);

    if (is_publisher) {
        nconns = 1;
        conns = calloc(1, sizeof(conn_t));
        conns[0].fd = -1;
        conns[0].is_pub = 1;
        conns[0].http_pub = !o.pub_ws;
        now = now_ns();
        conn_start(&conns[0], &o.pub_dst, src);
        while (pending > 0) {
            loop_once(50);
            if (now > conns[0].deadline) {
                sweep_deadlines();
            }
        }
        if (conns[0].state == C_OPEN) {
            conn_flush(&conns[0]);
        }
        res.connect_secs = 0;

    } else {
        nconns = n;
        conns = calloc((size_t) n, sizeof(conn_t));
        if (conns == NULL) {
            die("out of memory");
        }
        for (i = 0; i < n; i++) {
            conns[i].fd = -1;
            conns[i].id = i;
        }
        open_all(n, idx);
    }

    /* smoke: wait for every Pong before the load starts */
    if (o.mode == MODE_ECHO && o.smoke) {
        end = now_ns() + (uint64_t) (o.timeout * 1e9);
        for ( ;; ) {
            int  waiting = 0;

            for (i = 0; i < nconns; i++) {
                waiting += conns[i].state == C_OPEN && conns[i].ping_wait;
            }
            if (!waiting || now > end) {
                break;
            }
            loop_once(20);
        }
    }

    res.kind = 1;
    report(resfd);

    wait_ctl();             /* go */

    if (o.mode == MODE_ECHO) {
        run_echo();

    } else if (o.mode == MODE_CONNS) {
        wait_ctl();         /* finish */

    } else if (is_publisher && o.mode == MODE_RELOAD) {
        run_reload_publisher(src);

    } else if (o.mode == MODE_RELOAD) {
        run_reload_subscribers();

    } else if (is_publisher) {
        run_fanout_publisher();

    } else {
        /*
         * subscribers: deliveries count until --timeout after the end of
         * publishing (the same clock for every server, whenever the
         * publisher gets its HTTP answers); they stop earlier once
         * publishing has ended and nothing came for 1 s
         */
        uint64_t  pub_end;

        now = now_ns();
        pub_end = now + (uint64_t) (o.duration * 1e9);
        sub_deadline = pub_end + (uint64_t) (o.timeout * 1e9);
        wait_ctl();
        while (now < sub_deadline + (uint64_t) (o.late_grace * 1e9)
               && !(now > pub_end + 1000000000ull
                    && now > res.t_last + 1000000000ull))
        {
            loop_once(20);
        }
    }

    close_all();

    for (i = 0; i < nconns; i++) {
        if (conns[i].state == C_CLOSING || conns[i].state == C_OPEN) {
            conn_close_fd(&conns[i]);
        }
    }

    res.kind = 2;
    report(resfd);
    exit(0);
}

/* ------------------------------------------------------------------ */
/* the parent                                                          */

typedef struct {
    pid_t  pid;
    int    resfd;
    int    ctlfd;
    int    n;
} child_t;

static void
read_result(child_t *ch, result_t *r, uint32_t kind)
{
    uint8_t  *p = (uint8_t *) r;
    size_t    left = sizeof(*r);
    ssize_t   n;

    while (left) {
        n = read(ch->resfd, p, left);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            die("client process %d ended without reporting", (int) ch->pid);
        }
        p += n;
        left -= (size_t) n;
    }

    if (r->kind != kind) {
        die("client process %d: unexpected report", (int) ch->pid);
    }
}

static void
merge(result_t *to, const result_t *r)
{
#define ADD(f)  to->f += r->f
    ADD(attempted); ADD(established); ADD(connect_fail); ADD(handshake_fail);
    ADD(messages); ADD(bytes); ADD(sent); ADD(bad_echo); ADD(lost);
    ADD(proto_err); ADD(server_closed); ADD(pongs_ok); ADD(pings_answered);
    ADD(close_clean); ADD(close_timeout); ADD(published); ADD(pub_errors);
    ADD(duplicates); ADD(reordered); ADD(unique); ADD(out_of_range);
    ADD(late); ADD(notices); ADD(pub_retries); ADD(pub_reconnects); ADD(restarts);
    ADD(resume_reasons); ADD(plain_reasons); ADD(resume_mismatch);
    ADD(reconnects); ADD(reconnect_fail); ADD(history_lost);
    ADD(double_pub); ADD(never); ADD(id_errors); ADD(heartbeats);
#undef ADD
    {
        int  i;

        for (i = 0; i < NBINS; i++) {
            to->close_bins[i] += r->close_bins[i];
            to->accept_bins[i] += r->accept_bins[i];
        }
    }
    if (r->busy_max > to->busy_max) {
        to->busy_max = r->busy_max;
        to->busy_cpu = r->busy_cpu;
    }
    if (r->last_id > to->last_id) {
        to->last_id = r->last_id;
    }
    if (r->first_id && (to->first_id == 0 || r->first_id < to->first_id)) {
        to->first_id = r->first_id;
    }
    h_merge(&to->gap, &r->gap);
    h_merge(&to->rc_lat, &r->rc_lat);
    if (r->connect_secs > to->connect_secs) {
        to->connect_secs = r->connect_secs;
    }
    if (r->t_first && (to->t_first == 0 || r->t_first < to->t_first)) {
        to->t_first = r->t_first;
    }
    if (r->t_last > to->t_last) {
        to->t_last = r->t_last;
    }
    if (!to->first_error[0] && r->first_error[0]) {
        memcpy(to->first_error, r->first_error, sizeof(to->first_error));
    }
    h_merge(&to->h, &r->h);
}

static void
signal_children(child_t *ch, int n)
{
    int  i;

    for (i = 0; i < n; i++) {
        if (write(ch[i].ctlfd, "g", 1) != 1) {
            die("cannot signal client process %d", (int) ch[i].pid);
        }
    }
}

static double
secs_since(const struct timespec *t0)
{
    struct timespec  t;

    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double) (t.tv_sec - t0->tv_sec)
           + (double) (t.tv_nsec - t0->tv_nsec) / 1e9;
}

/* user + system CPU seconds of a process (all its threads) */
static double
proc_cpu(pid_t pid)
{
    char     path[64], buf[1024], *p;
    FILE    *f;
    size_t   n;
    int      i;
    double   ut = 0, st = 0;

    snprintf(path, sizeof(path), "/proc/%d/stat", (int) pid);
    f = fopen(path, "r");
    if (f == NULL) {
        return 0;
    }
    n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = 0;

    p = strrchr(buf, ')');
    if (p == NULL) {
        return 0;
    }

    /* after ")": state is field 3, utime 14, stime 15 */
    for (i = 3; i <= 15 && p; i++) {
        p = strchr(p + 1, ' ');
        if (p && i == 14) {
            ut = strtod(p + 1, NULL);
        } else if (p && i == 15) {
            st = strtod(p + 1, NULL);
        }
    }

    return (ut + st) / (double) sysconf(_SC_CLK_TCK);
}

/* busy CPU seconds of the whole machine, from /proc/stat */
static double
machine_cpu(void)
{
    FILE                *f;
    unsigned long long   v[8] = { 0 };
    int                  n;

    f = fopen("/proc/stat", "r");
    if (f == NULL) {
        return 0;
    }
    /* user nice system idle iowait irq softirq steal */
    n = fscanf(f, "cpu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1],
               &v[2], &v[3], &v[4], &v[5], &v[6], &v[7]);
    fclose(f);
    if (n < 7) {
        return 0;
    }

    return (double) (v[0] + v[1] + v[2] + v[5] + v[6] + v[7])
           / (double) sysconf(_SC_CLK_TCK);
}

static double
cpu_sum(const pid_t *pids, int n)
{
    double  t = 0;
    int     i;

    for (i = 0; i < n; i++) {
        t += proc_cpu(pids[i]);
    }
    return t;
}

static void
sleep_secs(double s)
{
    struct timespec  ts;

    if (s <= 0) {
        return;
    }
    ts.tv_sec = (time_t) s;
    ts.tv_nsec = (long) ((s - (double) ts.tv_sec) * 1e9);
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR) { /* void */ }
}

static void
print_latency(const char *what, const hist_t *h)
{
    printf("%s (us): p50 %.1f  p90 %.1f  p99 %.1f  p99.9 %.1f  max %.1f\n",
           what, h_percentile(h, 50) / 1e3, h_percentile(h, 90) / 1e3,
           h_percentile(h, 99) / 1e3, h_percentile(h, 99.9) / 1e3,
           (double) h->max / 1e3);
}

/* the most in any 100 ms (10 bins) from bin "from" on */
static uint64_t
peak_100ms(const uint32_t *bins, unsigned from, unsigned *at)
{
    uint64_t  sum = 0, best = 0;
    unsigned  i;

    *at = from;
    for (i = from; i < NBINS; i++) {
        sum += bins[i];
        if (i >= from + 10) {
            sum -= bins[i - 10];
        }
        if (sum > best) {
            best = sum;
            *at = i >= from + 9 ? i - 9 : from;
        }
    }

    return best;
}

static int
reload_report(result_t *t, uint64_t conn_ok, uint64_t errors, double cli_cpu,
    double rest_cpu, double go_s, const double *reload_s)
{
    uint64_t  acc, cls, subs = conn_ok > 0 ? conn_ok - 1 : 0;
    unsigned  acc_at, cls_at, from, to, b, i;
    int       k;

    errors += t->duplicates + t->history_lost + t->out_of_range
              + t->reconnect_fail + (o.nreload && t->restarts == 0);

    acc = peak_100ms(t->accept_bins, 0, &acc_at);
    cls = peak_100ms(t->close_bins, 0, &cls_at);

    printf("reload: %llu subscribers, %llu messages published (ids up to "
           "%llu), %d reload(s), reconnect jitter up to %.2f s\n",
           (unsigned long long) subs, (unsigned long long) t->published,
           (unsigned long long) t->last_id, o.nreload, o.jitter);
    printf("closes by the server: %llu with 1012/1001 (%llu with a resume "
           "point, %llu plain, %llu resume ids not the last id received), "
           "%llu others\n",
           (unsigned long long) t->restarts,
           (unsigned long long) t->resume_reasons,
           (unsigned long long) t->plain_reasons,
           (unsigned long long) t->resume_mismatch,
           (unsigned long long) t->server_closed);
    printf("reconnects: %llu (failed attempts %llu); peak: %llu accepted "
           "(101) in 100 ms at %.2f s, %llu Closes in 100 ms at %.2f s\n",
           (unsigned long long) t->reconnects,
           (unsigned long long) t->reconnect_fail, (unsigned long long) acc,
           (double) acc_at * BIN_NS / 1e9 - go_s, (unsigned long long) cls,
           (double) cls_at * BIN_NS / 1e9 - go_s);

    for (k = 0; k < o.nreload; k++) {
        from = (unsigned) (reload_s[k] * 1e9 / BIN_NS);
        to = k + 1 < o.nreload ? (unsigned) (reload_s[k + 1] * 1e9 / BIN_NS)
                               : from + 600;
        if (to > NBINS) {
            to = NBINS;
        }
        while (to > from && t->accept_bins[to - 1] == 0
               && t->close_bins[to - 1] == 0)
        {
            to--;
        }

        printf("reload %d, per 100 ms from its SIGHUP: closes", k + 1);
        for (b = from; b < to; b += 10) {
            uint64_t  n = 0;

            for (i = b; i < b + 10 && i < NBINS; i++) {
                n += t->close_bins[i];
            }
            printf(" %llu", (unsigned long long) n);
        }
        printf("; accepts");
        for (b = from; b < to; b += 10) {
            uint64_t  n = 0;

            for (i = b; i < b + 10 && i < NBINS; i++) {
                n += t->accept_bins[i];
            }
            printf(" %llu", (unsigned long long) n);
        }
        printf("\n");
    }

    print_latency("reconnect, connect() to 101", &t->rc_lat);
    printf("client: longest time between two epoll_wait calls %.1f ms "
           "(%.1f ms of CPU)\n",
           (double) t->busy_max / 1e6, (double) t->busy_cpu / 1e6);
    print_latency("delivery", &t->h);
    printf("longest gap per subscriber (ms): p50 %.1f  p99 %.1f  max %.1f\n",
           h_percentile(&t->gap, 50) / 1e6, h_percentile(&t->gap, 99) / 1e6,
           (double) t->gap.max / 1e6);
    printf("lost %llu (subscribers that got nothing: %llu), duplicates %llu, "
           "reordered %llu, history_lost %llu; publisher: %llu POSTs sent "
           "again, %llu published twice\n",
           (unsigned long long) t->lost, (unsigned long long) t->never,
           (unsigned long long) t->duplicates,
           (unsigned long long) t->reordered,
           (unsigned long long) t->history_lost,
           (unsigned long long) t->pub_retries,
           (unsigned long long) t->double_pub);
    printf("CPU while publishing (cores): client %.2f, the rest of the "
           "machine (nginx included) %.2f\n", cli_cpu, rest_cpu);
    if (t->first_error[0]) {
        printf("first error: %s\n", t->first_error);
    }

    printf("result mode=reload subscribers=%llu published=%llu "
           "first_id=%llu last_id=%llu reloads=%d jitter=%.3f deliveries=%llu lost=%llu duplicates=%llu "
           "reordered=%llu history_lost=%llu never=%llu restarts=%llu "
           "resume_reasons=%llu plain_reasons=%llu resume_mismatch=%llu "
           "server_closed=%llu reconnects=%llu reconnect_fail=%llu "
           "peak_accept_100ms=%llu peak_close_100ms=%llu gap_p50_ms=%.1f "
           "gap_p99_ms=%.1f gap_max_ms=%.1f p50_us=%.1f p99_us=%.1f "
           "max_us=%.1f reconnect_p50_ms=%.1f reconnect_p99_ms=%.1f "
           "client_stall_ms=%.1f pub_retries=%llu pub_reconnects=%llu "
           "double_pub=%llu client_cpu=%.3f rest_cpu=%.3f errors=%llu\n",
           (unsigned long long) subs, (unsigned long long) t->published,
           (unsigned long long) t->first_id,
           (unsigned long long) t->last_id, o.nreload, o.jitter,
           (unsigned long long) t->messages, (unsigned long long) t->lost,
           (unsigned long long) t->duplicates,
           (unsigned long long) t->reordered,
           (unsigned long long) t->history_lost,
           (unsigned long long) t->never, (unsigned long long) t->restarts,
           (unsigned long long) t->resume_reasons,
           (unsigned long long) t->plain_reasons,
           (unsigned long long) t->resume_mismatch,
           (unsigned long long) t->server_closed,
           (unsigned long long) t->reconnects,
           (unsigned long long) t->reconnect_fail,
           (unsigned long long) acc, (unsigned long long) cls,
           h_percentile(&t->gap, 50) / 1e6, h_percentile(&t->gap, 99) / 1e6,
           (double) t->gap.max / 1e6,
           h_percentile(&t->h, 50) / 1e3, h_percentile(&t->h, 99) / 1e3,
           (double) t->h.max / 1e3, h_percentile(&t->rc_lat, 50) / 1e6,
           h_percentile(&t->rc_lat, 99) / 1e6, (double) t->busy_max / 1e6,
           (unsigned long long) t->pub_retries,
           (unsigned long long) t->pub_reconnects,
           (unsigned long long) t->double_pub, cli_cpu, rest_cpu,
           (unsigned long long) errors);

    return errors ? 1 : 0;
}

static int
parse_url(const char *url, struct sockaddr_in *sa, char *host, size_t hsz,
    char *path, size_t psz, int *is_ws)
{
    const char  *p, *slash, *colon;
    char         ip[64];
    long         port;

    if (strncmp(url, "ws://", 5) == 0) {
        p = url + 5;
        *is_ws = 1;
    } else if (strncmp(url, "http://", 7) == 0) {
        p = url + 7;
        *is_ws = 0;
    } else {
        return -1;
    }

    slash = strchr(p, '/');
    if (slash == NULL) {
        slash = p + strlen(p);
    }

    colon = memchr(p, ':', (size_t) (slash - p));
    if (colon == NULL || (size_t) (colon - p) >= sizeof(ip)) {
        return -1;
    }

    memcpy(ip, p, (size_t) (colon - p));
    ip[colon - p] = 0;
    if (strcmp(ip, "localhost") == 0) {
        strcpy(ip, "127.0.0.1");
    }

    port = strtol(colon + 1, NULL, 10);
    if (port <= 0 || port > 65535) {
        return -1;
    }

    memset(sa, 0, sizeof(*sa));
    sa->sin_family = AF_INET;
    sa->sin_port = htons((uint16_t) port);
    if (inet_pton(AF_INET, ip, &sa->sin_addr) != 1) {
        return -1;
    }

    /* loopback only: this tool generates load */
    if ((ntohl(sa->sin_addr.s_addr) >> 24) != 127) {
        fprintf(stderr, "wsbench: only 127.0.0.0/8 targets are allowed\n");
        exit(2);
    }

    snprintf(host, hsz, "%.*s", (int) (slash - p), p);
    snprintf(path, psz, "%s", *slash ? slash : "/");
    return 0;
}

static void
usage(void)
{
    fprintf(stderr,
"usage: wsbench echo|conns|fanout|reload [options] ws://127.0.0.1:PORT/path\n"
"       wsbench sse [options] --pub URL http://127.0.0.1:PORT/path\n"
"                       (fanout with EventSource subscribers)\n"
"\n"
"  -c, --conns N        connections (fanout: subscribers)        [echo 100]\n"
"  -s, --size BYTES     message size                             [32]\n"
"  -d, --depth N        messages in flight per connection        [1]\n"
"  -P, --pipeline       send the depth messages in one write and the\n"
"                       next batch when all came back (default: a new\n"
"                       message for every echo, closed loop)\n"
"  -t, --duration SEC   measured time                            [5]\n"
"  -w, --warmup SEC     unmeasured time before it                [1]\n"
"      --frag N         send every message as N frames           [1]\n"
"      --text           text messages (default binary)\n"
"  -r, --rate N         new connections per second, 0: unlimited [0]\n"
"      --max-pending N  handshakes in progress at once           [1000]\n"
"      --hold SEC       conns: hold the connections this long    [2]\n"
"      --on-hold CMD    conns: run CMD (sh -c) while held, once\n"
"                       every process has its connections open\n"
"  -p, --procs N        client processes (default: 1 per 18,000\n"
"                       connections)\n"
"      --src A,B,...    source addresses (127.x.y.z), used in turn by the\n"
"                       connections (bind before connect); give enough that\n"
"                       none carries more than the ephemeral port range\n"
"                       (~28,000); a few thousand each connect faster\n"
"      --timeout SEC    connect/handshake, drain and close limit [5]\n"
"      --pub URL        fanout: publisher, http://... (POST) or\n"
"                       ws://... (text messages)\n"
"      --pub-rate N     fanout: messages per second              [100]\n"
"      --server-pids P,.. echo, fanout: report these processes' CPU use\n"
"                       over the measured time (and the client's own)\n"
"      --settle SEC     fanout: wait this long once every subscriber\n"
"                       is connected before publishing (a server that\n"
"                       subscribes elsewhere, e.g. in Redis)     [0]\n"
"      --late-grace SEC fanout: after the --timeout deadline, listen on\n"
"                       this long and count what comes as late, not\n"
"                       lost (result: lost= never came, late= came\n"
"                       after the deadline; losses= is both)     [0]\n"
"      --cpu-pids NAME=P,.. fanout: report these processes' CPU use as\n"
"                       NAME_cpu (a publishing instance, Redis), not in\n"
"                       other_cpu; may be repeated\n"
"      --reload-pid PID reload: the nginx master, sent SIGHUP\n"
"      --reload-at T,.. reload: seconds after publishing starts   [none]\n"
"      --jitter SEC     reload: a subscriber closed by the server\n"
"                       reconnects after a random 0..SEC         [1]\n"
"      --smoke          a 1 s sanity run: 2 connections, text, 200 B,\n"
"                       2 in flight, 2 fragments, a Ping first\n"
"\n"
"The last line is \"result key=value ...\".\n");
    exit(2);
}

int
main(int argc, char **argv)
{
    static const struct option  lo[] = {
        { "conns", 1, NULL, 'c' }, { "size", 1, NULL, 's' },
        { "depth", 1, NULL, 'd' }, { "pipeline", 0, NULL, 'P' },
        { "duration", 1, NULL, 't' }, { "warmup", 1, NULL, 'w' },
        { "frag", 1, NULL, 'F' }, { "text", 0, NULL, 'T' },
        { "rate", 1, NULL, 'r' }, { "max-pending", 1, NULL, 'M' },
        { "hold", 1, NULL, 'H' }, { "on-hold", 1, NULL, 'O' },
        { "procs", 1, NULL, 'p' }, { "src", 1, NULL, 'S' },
        { "timeout", 1, NULL, 'X' }, { "pub", 1, NULL, 'B' },
        { "pub-rate", 1, NULL, 'R' }, { "smoke", 0, NULL, 'k' },
        { "server-pids", 1, NULL, 'V' }, { "jitter", 1, NULL, 'J' },
        { "cpu-pids", 1, NULL, 'G' }, { "late-grace", 1, NULL, 'g' }, { "settle", 1, NULL, 'L' },
        { "reload-pid", 1, NULL, 'U' }, { "reload-at", 1, NULL, 'A' },
        { "help", 0, NULL, 'h' }, { NULL, 0, NULL, 0 }
    };
    child_t          ch[MAX_PROCS + 1];
    result_t         total, r;
    struct timespec  t0;
    struct rlimit    rl;
    int              opt, i, nch, is_ws, conns_set = 0;
    const char      *mode;

    if (argc < 2) {
        usage();
    }

    mode = argv[1];
    if (strcmp(mode, "echo") == 0) {
        o.mode = MODE_ECHO;
    } else if (strcmp(mode, "conns") == 0) {
        o.mode = MODE_CONNS;
    } else if (strcmp(mode, "fanout") == 0) {
        o.mode = MODE_FANOUT;
    } else if (strcmp(mode, "sse") == 0) {
        o.mode = MODE_FANOUT;
        o.sse = 1;
    } else if (strcmp(mode, "reload") == 0) {
        o.mode = MODE_RELOAD;
    } else {
        usage();
    }

    o.conns = 100;
    o.size = 32;
    o.depth = 1;
    o.duration = 5;
    o.warmup = 1;
    o.frag = 1;
    o.max_pending = 1000;
    o.hold = 2;
    o.timeout = 5;
    o.pub_rate = 100;
    o.jitter = 1;

    optind = 2;
    while ((opt = getopt_long(argc, argv, "c:s:d:Pt:w:r:p:h", lo, NULL)) != -1)
    {
        switch (opt) {
        case 'c': o.conns = atoi(optarg); conns_set = 1; break;
        case 's': o.size = (size_t) strtoul(optarg, NULL, 10); break;
        case 'd': o.depth = atoi(optarg); break;
        case 'P': o.pipeline = 1; break;
        case 't': o.duration = atof(optarg); break;
        case 'w': o.warmup = atof(optarg); break;
        case 'F': o.frag = atoi(optarg); break;
        case 'T': o.text = 1; break;
        case 'r': o.rate = atof(optarg); break;
        case 'M': o.max_pending = atoi(optarg); break;
        case 'H': o.hold = atof(optarg); break;
        case 'O': o.on_hold = optarg; break;
        case 'p': o.procs = atoi(optarg); break;
        case 'X': o.timeout = atof(optarg); break;
        case 'B': o.pub_url = optarg; break;
        case 'R': o.pub_rate = atof(optarg); break;
        case 'k': o.smoke = 1; break;
        case 'J': o.jitter = atof(optarg); break;
        case 'U': o.reload_pid = (pid_t) atoi(optarg); break;
        case 'A': {
            char  *s = strdup(optarg), *tok, *save = NULL;

            for (tok = strtok_r(s, ",", &save); tok;
                 tok = strtok_r(NULL, ",", &save))
            {
                if (o.nreload == MAX_RELOADS || atof(tok) < 0
                    || (o.nreload && atof(tok) <= o.reload_at[o.nreload - 1]))
                {
                    die("bad --reload-at (increasing seconds, at most %d)",
                        MAX_RELOADS);
                }
                o.reload_at[o.nreload++] = atof(tok);
            }
            free(s);
            break;
        }
        case 'V': {
            char  *s = strdup(optarg), *tok, *save = NULL;

            for (tok = strtok_r(s, ",", &save); tok;
                 tok = strtok_r(NULL, ",", &save))
            {
                if (o.nserver_pids == 64 || atoi(tok) <= 0) {
                    die("bad --server-pids");
                }
                o.server_pids[o.nserver_pids++] = (pid_t) atoi(tok);
            }
            free(s);
            break;
        }
        case 'L': o.settle = atof(optarg); break;
        case 'g': o.late_grace = atof(optarg); break;
        case 'G': {
            char  *s = strdup(optarg), *tok, *save = NULL, *eq;

            eq = strchr(s, '=');
            if (o.ngroups == MAX_GROUPS || eq == NULL || eq == s
                || eq - s >= (ptrdiff_t) sizeof(o.groups[0].name))
            {
                die("bad --cpu-pids (NAME=PID,PID,..., at most %d)",
                    MAX_GROUPS);
            }
            *eq = '\0';
            strcpy(o.groups[o.ngroups].name, s);
            for (tok = strtok_r(eq + 1, ",", &save); tok;
                 tok = strtok_r(NULL, ",", &save))
            {
                if (o.groups[o.ngroups].npids == 16 || atoi(tok) <= 0) {
                    die("bad --cpu-pids");
                }
                o.groups[o.ngroups].pids[o.groups[o.ngroups].npids++] =
                    (pid_t) atoi(tok);
            }
            o.ngroups++;
            free(s);
            break;
        }
        case 'S': {
            char  *s = strdup(optarg), *tok, *save = NULL;

            for (tok = strtok_r(s, ",", &save); tok;
                 tok = strtok_r(NULL, ",", &save))
            {
                if (o.nsrc == MAX_SRC || inet_pton(AF_INET, tok,
                                                   &o.src[o.nsrc]) != 1
                    || (ntohl(o.src[o.nsrc].s_addr) >> 24) != 127)
                {
                    die("bad --src address \"%s\" (127.x.y.z only)", tok);
                }
                o.nsrc++;
            }
            free(s);
            break;
        }
        default: usage();
        }
    }

    if (optind != argc - 1) {
        usage();
    }

    o.url = argv[optind];
    if (parse_url(o.url, &o.dst, o.host, sizeof(o.host), o.path,
                  sizeof(o.path), &is_ws) < 0 || is_ws == o.sse)
    {
        die("bad URL \"%s\" (%s://127.0.0.1:PORT/path)", o.url,
            o.sse ? "http" : "ws");
    }

    if (o.smoke) {
        if (o.mode != MODE_ECHO) {
            die("--smoke is for the echo mode");
        }
        if (!conns_set) {
            o.conns = 2;
        }
        o.size = 200;
        o.depth = 2;
        o.frag = 2;
        o.text = 1;
        o.duration = 1;
        o.warmup = 0.2;
    }

    if (o.mode == MODE_FANOUT || o.mode == MODE_RELOAD) {
        if (o.pub_url == NULL) {
            die("%s needs --pub URL", mode);
        }
        if (parse_url(o.pub_url, &o.pub_dst, o.pub_host, sizeof(o.pub_host),
                      o.pub_path, sizeof(o.pub_path), &o.pub_ws) < 0)
        {
            die("bad --pub URL \"%s\"", o.pub_url);
        }
        if (o.size < 32) {
            o.size = 32;
        }
        if (o.pub_rate <= 0) {
            die("--pub-rate must be positive");
        }
        seen_cap = (uint64_t) (o.pub_rate * (o.duration + 1) * 1.2) + 1024
                   + ID_SLACK;
    }

    if (o.mode == MODE_RELOAD) {
        if (o.pub_ws) {
            die("reload publishes with HTTP POST: --pub http://...");
        }
        if (o.nreload && o.reload_pid <= 0) {
            die("--reload-at needs --reload-pid (the nginx master)");
        }
        if (o.nreload && o.reload_at[o.nreload - 1] >= o.duration) {
            die("--reload-at: every reload within the publishing (-t)");
        }
        if (o.jitter < 0 || o.duration > 100 || o.timeout > 60) {
            die("reload: --jitter >= 0, -t at most 100 s, --timeout 60 s");
        }
        /* the publisher falls behind while its connection is replaced */
        seen_cap = (uint64_t) (o.pub_rate * (o.duration + o.timeout + 1) * 1.2)
                   + 1024 + ID_SLACK;
    }

    if (o.conns < 1 || o.depth < 1 || o.frag < 1 || o.duration <= 0
        || o.size > MAX_MSG || o.max_pending < 1 || o.timeout <= 0
        || o.warmup < 0 || o.hold < 0 || o.settle < 0
        || o.late_grace < 0)
    {
        die("bad option value");
    }

    /* bounded loads */
    if (o.conns > 200000 || o.duration > 600 || o.hold > 600) {
        die("refusing more than 200,000 connections or 600 s");
    }

    if (o.procs <= 0) {
        o.procs = (o.conns + 17999) / 18000;
    }
    if (o.procs > MAX_PROCS || o.procs > o.conns) {
        die("bad --procs");
    }

    getrlimit(RLIMIT_NOFILE, &rl);
    if (rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    if ((rlim_t) (o.conns / o.procs + 64) > rl.rlim_cur) {
        die("%d connections per process exceed the open file limit %lu: "
            "use more --procs", o.conns / o.procs, (unsigned long) rl.rlim_cur);
    }

    if (o.mode != MODE_ECHO) {
        o.depth = 1;
    }

    pattern = xrealloc(NULL, o.size + 8);
    for (i = 0; i < (int) o.size + 8; i++) {
        pattern[i] = o.text ? (uint8_t) ('a' + i % 26) : (uint8_t) (i * 131 + 7);
    }

    signal(SIGPIPE, SIG_IGN);
    setvbuf(stdout, NULL, _IOLBF, 0);

    nch = o.procs + (o.mode == MODE_FANOUT || o.mode == MODE_RELOAD ? 1 : 0);
    t_base = now_ns();

    for (i = 0; i < nch; i++) {
        int    rp[2], cp[2], n;
        pid_t  pid;

        n = o.conns / o.procs + (i < o.conns % o.procs ? 1 : 0);
        if (i == o.procs) {
            n = 0;                          /* the fan-out publisher */
        }

        if (pipe2(rp, O_CLOEXEC) < 0 || pipe2(cp, O_CLOEXEC) < 0) {
            die("pipe: %s", strerror(errno));
        }

        fflush(stdout);
        pid = fork();
        if (pid < 0) {
            die("fork: %s", strerror(errno));
        }

        if (pid == 0) {
            int  j;

            for (j = 0; j < i; j++) {
                close(ch[j].resfd);
                close(ch[j].ctlfd);
            }
            close(rp[0]);
            close(cp[1]);
            child_main(i, n, o.nsrc ? &o.src[i % o.nsrc] : NULL, rp[1], cp[0]);
        }

        close(rp[1]);
        close(cp[0]);
        ch[i].pid = pid;
        ch[i].resfd = rp[0];
        ch[i].ctlfd = cp[1];
        ch[i].n = n;
    }

    memset(&total, 0, sizeof(total));
    clock_gettime(CLOCK_MONOTONIC, &t0);

    for (i = 0; i < nch; i++) {
        read_result(&ch[i], &r, 1);
        merge(&total, &r);
    }

    printf("connected: %llu of %d in %.2f s (%.0f/s), failed: %llu connect, "
           "%llu handshake\n",
           (unsigned long long) total.established, o.conns, secs_since(&t0),
           (double) total.established / secs_since(&t0),
           (unsigned long long) total.connect_fail,
           (unsigned long long) total.handshake_fail);
    if (total.first_error[0]) {
        printf("first error: %s\n", total.first_error);
    }

    {
        double  connect_time = secs_since(&t0);
        double  elapsed, srv0, cli0, mach0, srv_cpu = 0, cli_cpu = 0,
                other_cpu = 0, go_s = 0, reload_s[MAX_RELOADS];
        uint64_t conn_ok = total.established, cfail = total.connect_fail,
                 hfail = total.handshake_fail;

        if (o.mode == MODE_CONNS) {
            if (o.hold > 0) {
                struct timespec  ts;

                ts.tv_sec = (time_t) o.hold;
                ts.tv_nsec = (long) ((o.hold - (double) ts.tv_sec) * 1e9);
                nanosleep(&ts, NULL);
            }
            if (o.on_hold) {
                char  env[32];
                int   rc;

                snprintf(env, sizeof(env), "%llu", (unsigned long long) conn_ok);
                setenv("WSBENCH_CONNS", env, 1);
                fflush(stdout);
                rc = system(o.on_hold);
                if (rc != 0) {
                    fprintf(stderr, "wsbench: --on-hold command exited %d\n", rc);
                }
            }
            signal_children(ch, nch);               /* go: idle */
            signal_children(ch, nch);               /* finish */

        } else if (o.mode == MODE_RELOAD) {
            pid_t            cpids[MAX_PROCS + 1];
            struct timespec  tp;
            uint8_t          msg[17];
            double           at;

            for (i = 0; i < nch; i++) {
                cpids[i] = ch[i].pid;
            }
            signal_children(ch, nch);               /* go */
            clock_gettime(CLOCK_MONOTONIC, &tp);
            go_s = (double) (now_ns() - t_base) / 1e9;
            cli0 = cpu_sum(cpids, nch);
            mach0 = machine_cpu();

            for (i = 0; i < o.nreload; i++) {
                at = o.reload_at[i] - secs_since(&tp);
                sleep_secs(at);
                reload_s[i] = (double) (now_ns() - t_base) / 1e9;
                if (kill(o.reload_pid, SIGHUP) < 0) {
                    die("kill -HUP %d: %s", (int) o.reload_pid,
                        strerror(errno));
                }
                printf("reload %d: SIGHUP to %d at %.2f s (%.2f s of the "
                       "run)\n", i + 1, (int) o.reload_pid, reload_s[i] - go_s,
                       reload_s[i]);
            }

            /* the publisher's last id, then the subscribers' figures */
            read_result(&ch[o.procs], &r, 2);
            cli_cpu = (cpu_sum(cpids, nch) - cli0) / secs_since(&tp);
            other_cpu = (machine_cpu() - mach0) / secs_since(&tp) - cli_cpu;
            msg[0] = 'g';
            memcpy(msg + 1, &r.last_id, 8);
            memcpy(msg + 9, &r.first_id, 8);
            for (i = 0; i < o.procs; i++) {
                if (write(ch[i].ctlfd, msg, 17) != 17) {
                    die("cannot signal client process %d", (int) ch[i].pid);
                }
            }

        } else if (o.mode == MODE_FANOUT) {
            pid_t            cpids[MAX_PROCS + 1];
            struct timespec  tp;

            for (i = 0; i < nch; i++) {
                cpids[i] = ch[i].pid;
            }
            sleep_secs(o.settle);
            signal_children(ch, nch);               /* go */
            clock_gettime(CLOCK_MONOTONIC, &tp);
            srv0 = cpu_sum(o.server_pids, o.nserver_pids);
            cli0 = cpu_sum(cpids, nch);
            for (i = 0; i < o.ngroups; i++) {
                o.groups[i].cpu0 = cpu_sum(o.groups[i].pids,
                                           o.groups[i].npids);
            }
            mach0 = machine_cpu();
            /* wait for the publisher, then release the subscribers */
            read_result(&ch[o.procs], &r, 2);
            srv_cpu = (cpu_sum(o.server_pids, o.nserver_pids) - srv0)
                      / secs_since(&tp);
            cli_cpu = (cpu_sum(cpids, nch) - cli0) / secs_since(&tp);
            other_cpu = (machine_cpu() - mach0) / secs_since(&tp) - srv_cpu
                        - cli_cpu;
            for (i = 0; i < o.ngroups; i++) {
                o.groups[i].cpu = (cpu_sum(o.groups[i].pids,
                                           o.groups[i].npids)
                                   - o.groups[i].cpu0) / secs_since(&tp);
                other_cpu -= o.groups[i].cpu;
            }
            signal_children(ch, o.procs);

        } else {
            pid_t  cpids[MAX_PROCS];

            for (i = 0; i < nch; i++) {
                cpids[i] = ch[i].pid;
            }
            signal_children(ch, nch);
            sleep_secs(o.warmup);
            srv0 = cpu_sum(o.server_pids, o.nserver_pids);
            cli0 = cpu_sum(cpids, nch);
            mach0 = machine_cpu();
            sleep_secs(o.duration);
            srv_cpu = (cpu_sum(o.server_pids, o.nserver_pids) - srv0)
                      / o.duration;
            cli_cpu = (cpu_sum(cpids, nch) - cli0) / o.duration;
            other_cpu = (machine_cpu() - mach0) / o.duration - srv_cpu
                        - cli_cpu;
        }

        memset(&total, 0, sizeof(total));
        if (o.mode == MODE_FANOUT || o.mode == MODE_RELOAD) {
            merge(&total, &r);
        }

        for (i = 0; i < o.procs; i++) {
            read_result(&ch[i], &r, 2);
            merge(&total, &r);
        }

        for (i = 0; i < nch; i++) {
            int  st;

            waitpid(ch[i].pid, &st, 0);
            if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
                total.proto_err++;
                if (!total.first_error[0]) {
                    snprintf(total.first_error, sizeof(total.first_error),
                             "client process %d failed", (int) ch[i].pid);
                }
            }
        }

        elapsed = secs_since(&t0);
        (void) elapsed;

        if (other_cpu < 0 || (!o.nserver_pids && o.mode != MODE_RELOAD)) {
            other_cpu = 0;      /* rounding, or the server is not known */
        }

        {
            uint64_t  errors = cfail + hfail + total.bad_echo + total.lost
                               + total.proto_err + total.server_closed
                               + total.pub_errors + total.id_errors
                               + (o.smoke ? (uint64_t) o.conns - total.pongs_ok
                                          : 0);

            if (o.mode == MODE_ECHO) {
                double  mps = (double) total.messages / o.duration;

                printf("echo: %d connections, %zu B %s messages, depth %d%s%s\n",
                       o.conns, o.size, o.text ? "text" : "binary", o.depth,
                       o.pipeline ? " pipelined" : "",
                       o.frag > 1 ? ", fragmented" : "");
                printf("messages: %llu in %.1f s: %.0f msg/s, %.2f MB/s "
                       "(payload, each way)\n",
                       (unsigned long long) total.messages, o.duration, mps,
                       mps * (double) o.size / 1e6);
                print_latency("round trip", &total.h);
                printf("CPU (cores): client %.2f", cli_cpu);
                if (o.nserver_pids) {
                    printf(", server %.2f, %.2f us per message; other "
                           "processes %.2f", srv_cpu,
                           mps > 0 ? srv_cpu * 1e6 / mps : 0, other_cpu);
                }
                printf("\n");
                printf("errors: %llu (bad echo %llu, lost %llu, protocol %llu, "
                       "closed by server %llu)\n",
                       (unsigned long long) errors,
                       (unsigned long long) total.bad_echo,
                       (unsigned long long) total.lost,
                       (unsigned long long) total.proto_err,
                       (unsigned long long) total.server_closed);
                if (total.first_error[0]) {
                    printf("first error: %s\n", total.first_error);
                }
                printf("result mode=echo conns=%d size=%zu depth=%d "
                       "pipeline=%d frag=%d text=%d duration=%.2f "
                       "established=%llu messages=%llu msg_s=%.1f mb_s=%.3f "
                       "p50_us=%.1f p90_us=%.1f p99_us=%.1f p999_us=%.1f "
                       "max_us=%.1f client_cpu=%.3f server_cpu=%.3f "
                       "server_us_per_msg=%.3f other_cpu=%.3f pongs=%llu "
                       "close_clean=%llu close_timeout=%llu errors=%llu\n",
                       o.conns, o.size, o.depth, o.pipeline, o.frag, o.text,
                       o.duration, (unsigned long long) conn_ok,
                       (unsigned long long) total.messages, mps,
                       mps * (double) o.size / 1e6,
                       h_percentile(&total.h, 50) / 1e3,
                       h_percentile(&total.h, 90) / 1e3,
                       h_percentile(&total.h, 99) / 1e3,
                       h_percentile(&total.h, 99.9) / 1e3,
                       (double) total.h.max / 1e3, cli_cpu, srv_cpu,
                       mps > 0 && o.nserver_pids ? srv_cpu * 1e6 / mps : 0,
                       other_cpu, (unsigned long long) total.pongs_ok,
                       (unsigned long long) total.close_clean,
                       (unsigned long long) total.close_timeout,
                       (unsigned long long) errors);

            } else if (o.mode == MODE_RELOAD) {
                return reload_report(&total, conn_ok, errors, cli_cpu,
                                     other_cpu, go_s, reload_s);

            } else if (o.mode == MODE_CONNS) {
                printf("held %llu connections for %.1f s; closed by the "
                       "server meanwhile: %llu\n",
                       (unsigned long long) conn_ok, o.hold,
                       (unsigned long long) total.server_closed);
                if (total.first_error[0]) {
                    printf("first error: %s\n", total.first_error);
                }
                printf("result mode=conns conns=%d procs=%d established=%llu "
                       "connect_s=%.3f connect_rate=%.0f connect_fail=%llu "
                       "handshake_fail=%llu server_closed=%llu "
                       "pings_answered=%llu close_clean=%llu "
                       "close_timeout=%llu errors=%llu\n",
                       o.conns, o.procs, (unsigned long long) conn_ok,
                       connect_time, (double) conn_ok / connect_time,
                       (unsigned long long) cfail, (unsigned long long) hfail,
                       (unsigned long long) total.server_closed,
                       (unsigned long long) total.pings_answered,
                       (unsigned long long) total.close_clean,
                       (unsigned long long) total.close_timeout,
                       (unsigned long long) errors);

            } else {
                uint64_t  expected = total.published
                                     * (conn_ok > 0 ? conn_ok - 1 : 0);
                uint64_t  losses = expected > total.unique
                                   ? expected - total.unique : 0;

                double  span = total.t_last > total.t_first
                               ? (double) (total.t_last - total.t_first) / 1e9
                               : o.duration;

                if (span < o.duration) {
                    span = o.duration;
                }

                printf("fanout: %llu subscribers, %llu messages published "
                       "(%.0f/s), %llu deliveries (%.0f/s)\n",
                       (unsigned long long) (conn_ok - 1),
                       (unsigned long long) total.published,
                       (double) total.published / o.duration,
                       (unsigned long long) total.messages,
                       (double) total.messages / span);
                print_latency("delivery", &total.h);
                printf("CPU while publishing (cores): client %.2f, "
                       "server %.2f, other processes %.2f\n", cli_cpu, srv_cpu,
                       other_cpu);
                printf("losses %llu (of which %llu late), duplicates %llu, "
                       "reordered %llu, server notices %llu\n",
                       (unsigned long long) losses,
                       (unsigned long long) total.late,
                       (unsigned long long) total.duplicates,
                       (unsigned long long) total.reordered,
                       (unsigned long long) total.notices);
                if (o.sse) {
                    printf("event ids not increasing or missing: %llu, "
                           "heartbeats %llu\n",
                           (unsigned long long) total.id_errors,
                           (unsigned long long) total.heartbeats);
                }
                if (total.first_error[0]) {
                    printf("first error: %s\n", total.first_error);
                }
                printf("result mode=%s subscribers=%llu published=%llu "
                       "deliveries=%llu deliveries_s=%.1f p50_us=%.1f "
                       "p90_us=%.1f p99_us=%.1f p999_us=%.1f max_us=%.1f "
                       "losses=%llu lost=%llu late=%llu duplicates=%llu "
                       "reordered=%llu "
                       "client_cpu=%.3f server_cpu=%.3f other_cpu=%.3f "
                       "id_errors=%llu heartbeats=%llu notices=%llu "
                       "errors=%llu",
                       o.sse ? "sse" : "fanout",
                       (unsigned long long) (conn_ok - 1),
                       (unsigned long long) total.published,
                       (unsigned long long) total.messages,
                       (double) total.messages / span,
                       h_percentile(&total.h, 50) / 1e3,
                       h_percentile(&total.h, 90) / 1e3,
                       h_percentile(&total.h, 99) / 1e3,
                       h_percentile(&total.h, 99.9) / 1e3,
                       (double) total.h.max / 1e3,
                       (unsigned long long) losses,
                       (unsigned long long) (losses > total.late
                                             ? losses - total.late : 0),
                       (unsigned long long) total.late,
                       (unsigned long long) total.duplicates,
                       (unsigned long long) total.reordered,
                       cli_cpu, srv_cpu, other_cpu,
                       (unsigned long long) total.id_errors,
                       (unsigned long long) total.heartbeats,
                       (unsigned long long) total.notices,
                       (unsigned long long) errors);
                for (i = 0; i < o.ngroups; i++) {
                    printf(" %s_cpu=%.3f", o.groups[i].name,
                           o.groups[i].cpu);
                }
                printf("\n");
            }

            return errors ? 1 : 0;
        }
    }
}
