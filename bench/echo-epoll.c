/*
 * echo-epoll: the smallest WebSocket echo server we could write, as the
 * machine's limit for the echo benchmark.
 *
 *   echo-epoll [-w WORKERS] [-b BACKLOG] PORT
 *
 * Listens on 127.0.0.1:PORT; each worker process has its own SO_REUSEPORT
 * listener and one edge-triggered epoll loop.  It answers the opening
 * handshake (Sec-WebSocket-Key -> Sec-WebSocket-Accept, nothing else is
 * checked), unmasks client frames and sends each data frame back with the
 * same opcode and FIN bit, answers Ping with Pong and Close with Close.  It
 * does not validate UTF-8 nor reassemble fragments: less work than any
 * conforming server, which is the point.  Reads go into one buffer per
 * worker; a connection keeps bytes only for an incomplete frame or for
 * output the socket did not take (while any is pending it is not read).
 *
 * It is also the limit of the fan-out benchmark: a handshake for a path
 * "/sub/NAME" makes a subscriber of channel NAME, and each "POST /pub/NAME"
 * (HTTP/1.1, Content-Length, kept alive, pipelined or not) sends its body
 * as one text frame to every subscriber of NAME, one write() each, in the
 * order they came, then answers 200.  No history, no ids, no check of any
 * kind: the fewest steps a delivery can take.
 */

#define _GNU_SOURCE

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "wsproto.h"

#define BUF_SIZE   (1024 * 1024 + 64)    /* largest frame: 1 MiB */
#define OUT_FLUSH  (256 * 1024)

typedef struct chan_s  chan_t;
typedef struct conn_s  conn_t;

struct conn_s {
    int       fd;
    int       upgraded;
    int       publisher;    /* HTTP POSTs to /pub/NAME */
    int       closing;      /* close after the output is written */
    uint8_t  *in;           /* an incomplete frame or request */
    size_t    in_len;
    uint8_t  *out;          /* output not yet taken by the socket */
    size_t    out_pos, out_len;
    chan_t   *chan;         /* a subscriber's channel */
    conn_t   *prev, *next;  /* its subscribers, in the order they came */
};

struct chan_s {
    chan_t   *next;
    conn_t   *head, *tail;
    char      name[64];
};

static uint8_t  *rbuf;
static uint8_t  *obuf;
static size_t    olen;
static int       ep;
static chan_t   *chans;

static chan_t *
chan_get(const char *name, size_t len, int create)
{
    chan_t  *ch;

    if (len >= sizeof(ch->name)) {
        len = sizeof(ch->name) - 1;
    }

    for (ch = chans; ch; ch = ch->next) {
        if (strlen(ch->name) == len && memcmp(ch->name, name, len) == 0) {
            return ch;
        }
    }

    if (!create || (ch = calloc(1, sizeof(*ch))) == NULL) {
        return NULL;
    }

    memcpy(ch->name, name, len);
    ch->next = chans;
    chans = ch;
    return ch;
}

static void
conn_free(conn_t *c)
{
    if (c->chan) {
        if (c->prev) {
            c->prev->next = c->next;
        } else {
            c->chan->head = c->next;
        }
        if (c->next) {
            c->next->prev = c->prev;
        } else {
            c->chan->tail = c->prev;
        }
    }

    close(c->fd);
    free(c->in);
    free(c->out);
    free(c);
}

/* writes obuf; keeps what the socket does not take; -1: connection gone */
static int
flush_out(conn_t *c)
{
    size_t   off = 0;
    ssize_t  n;

    /* output already waiting goes first: append behind it */
    while (c->out == NULL && off < olen) {
        n = write(c->fd, obuf + off, olen - off);
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            if (errno == EAGAIN) {
                break;
            }
            olen = 0;
            return -1;
        }
        off += (size_t) n;
    }

    if (off < olen) {
        uint8_t  *p = realloc(c->out, c->out_len - c->out_pos + olen - off);

        if (p == NULL) {
            olen = 0;
            return -1;
        }
        memmove(p, p + c->out_pos, c->out_len - c->out_pos);
        c->out_len -= c->out_pos;
        c->out_pos = 0;
        memcpy(p + c->out_len, obuf + off, olen - off);
        c->out_len += olen - off;
        c->out = p;
    }

    olen = 0;
    return 0;
}

static int
pending_flush(conn_t *c)
{
    ssize_t  n;

    while (c->out_pos < c->out_len) {
        n = write(c->fd, c->out + c->out_pos, c->out_len - c->out_pos);
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            return errno == EAGAIN ? 0 : -1;
        }
        c->out_pos += (size_t) n;
    }

    free(c->out);
    c->out = NULL;
    c->out_pos = c->out_len = 0;
    return 0;
}

static void
put_header(int fin_op, size_t len)
{
    olen += ws_server_header(obuf + olen, fin_op, len);
}


/* 0: ok, 1: need more, -1: close */
static int
handshake(conn_t *c, uint8_t *p, size_t n, size_t *used)
{
    uint8_t  *end, *k, *e;
    char      accept[32];
    int       l;

    end = memmem(p, n, "\r\n\r\n", 4);
    if (end == NULL) {
        return n > 8192 ? -1 : 1;
    }

    if (n >= 5 && memcmp(p, "POST ", 5) == 0) {
        c->publisher = 1;
        *used = 0;
        return 0;
    }

    if (n >= 9 && memcmp(p, "GET /sub/", 9) == 0) {
        for (e = p + 9; *e != ' ' && *e != '?' && *e != '\r'; e++) {
            /* void */
        }
        c->chan = chan_get((char *) p + 9, (size_t) (e - p - 9), 1);
        if (c->chan) {
            c->prev = c->chan->tail;
            if (c->prev) {
                c->prev->next = c;
            } else {
                c->chan->head = c;
            }
            c->chan->tail = c;
        }
    }

    k = memmem(p, (size_t) (end - p), "Sec-WebSocket-Key:", 18);
    if (k == NULL) {
        k = memmem(p, (size_t) (end - p), "sec-websocket-key:", 18);
    }
    if (k == NULL) {
        static const char  bad[] =
            "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n"
            "Connection: close\r\n\r\n";

        memcpy(obuf, bad, sizeof(bad) - 1);
        olen = sizeof(bad) - 1;
        c->closing = 1;
        *used = n;
        return 0;
    }

    k += 18;
    while (*k == ' ') {
        k++;
    }
    for (e = k; *e != '\r' && *e != ' '; e++) { /* void */ }

    ws_accept_key((char *) k, (size_t) (e - k), accept);
    l = sprintf((char *) obuf + olen,
                "HTTP/1.1 101 Switching Protocols\r\n"
                "Upgrade: websocket\r\n"
                "Connection: Upgrade\r\n"
                "Sec-WebSocket-Accept: %s\r\n\r\n", accept);
    olen += (size_t) l;
    c->upgraded = 1;
    *used = (size_t) (end + 4 - p);
    return 0;
}

/* handles the frames in p; returns bytes used or -1 to close */
static long
frames(conn_t *c, uint8_t *p, size_t n)
{
    size_t  used = 0;

    while (n - used >= 2 && !c->closing) {
        uint8_t   *f = p + used, mask[4];
        size_t     left = n - used, hl;
        uint64_t   len;
        int        op = f[0] & 0x0f, rc;

        rc = ws_client_frame(f, left, &len, &hl);
        if (rc < 0) {
            return -1;                       /* unmasked */
        }
        if (rc == 0) {
            break;
        }

        if (len > BUF_SIZE - 64) {
            return -1;
        }
        if (left < hl + len) {
            break;
        }

        memcpy(mask, f + hl - 4, 4);

        if (olen + 10 + len > BUF_SIZE) {
            if (flush_out(c) < 0) {
                return -1;
            }
        }

        if (op == 8) {                        /* close: answer its code */
            put_header(0x88, len >= 2 ? 2 : 0);
            ws_mask(obuf + olen, f + hl, len >= 2 ? 2 : 0, mask, 0);
            olen += len >= 2 ? 2 : 0;
            c->closing = 1;

        } else if (op == 10) {                /* pong: ignored */

        } else {                              /* data or ping */
            put_header(op == 9 ? 0x8a : f[0], (size_t) len);
            ws_mask(obuf + olen, f + hl, (size_t) len, mask, 0);
            olen += (size_t) len;
        }

        used += hl + (size_t) len;

        if (olen > OUT_FLUSH && flush_out(c) < 0) {
            return -1;
        }
    }

    return (long) used;
}

/* one frame to one subscriber: written now, or kept behind its output */
static void
deliver(conn_t *s, uint8_t *f, size_t len)
{
    ssize_t   n = 0;
    uint8_t  *p;

    if (s->out == NULL) {
        do {
            n = write(s->fd, f, len);
        } while (n < 0 && errno == EINTR);

        if (n < 0) {
            if (errno != EAGAIN) {
                return;            /* gone: its next event closes it */
            }
            n = 0;
        }
        if ((size_t) n == len) {
            return;
        }
    }

    p = realloc(s->out, s->out_len + len - (size_t) n);
    if (p == NULL) {
        return;
    }
    memcpy(p + s->out_len, f + n, len - (size_t) n);
    s->out = p;
    s->out_len += len - (size_t) n;
}

/* the publisher's complete POSTs in p; returns bytes used or -1 to close */
static long
publish(uint8_t *p, size_t n)
{
    static const char  ok[] = "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";
    size_t    used = 0, hl, bl;
    uint8_t  *r, *end, *cl, *e, *f;
    chan_t   *ch;
    conn_t   *s, *next;

    while (used < n) {
        r = p + used;
        end = memmem(r, n - used, "\r\n\r\n", 4);
        if (end == NULL) {
            return n - used > 8192 ? -1 : (long) used;
        }
        hl = (size_t) (end + 4 - r);

        cl = memmem(r, hl, "Content-Length:", 15);
        if (cl == NULL) {
            cl = memmem(r, hl, "content-length:", 15);
        }
        bl = cl ? (size_t) strtoul((char *) cl + 15, NULL, 10) : 0;
        if (bl > BUF_SIZE - 64) {
            return -1;
        }
        if (n - used < hl + bl) {
            break;
        }

        if (hl > 10 && memcmp(r, "POST /pub/", 10) == 0) {
            for (e = r + 10; *e != ' ' && *e != '?' && *e != '\r'; e++) {
                /* void */
            }
            ch = chan_get((char *) r + 10, (size_t) (e - r - 10), 0);

            if (ch && ch->head) {
                /* the frame in front of the body: the header's room is
                 * the request's own last bytes, already used */
                uint8_t  h[10];
                size_t   fl = ws_server_header(h, 0x81, bl);

                f = end + 4 - fl;
                memcpy(f, h, fl);

                for (s = ch->head; s; s = next) {
                    next = s->next;
                    deliver(s, f, fl + bl);
                }
            }
        }

        memcpy(obuf + olen, ok, sizeof(ok) - 1);
        olen += sizeof(ok) - 1;
        used += hl + bl;
    }

    return (long) used;
}

static void
conn_event(conn_t *c, uint32_t ev)
{
    ssize_t  n;
    size_t   have, used;
    long     u;
    int      short_read;

    if (ev & EPOLLOUT && c->out) {
        if (pending_flush(c) < 0) {
            conn_free(c);
            return;
        }
        if (c->out == NULL && c->closing) {
            conn_free(c);
            return;
        }
    }

    while (c->out == NULL && !c->closing) {
        have = c->in_len;
        if (have) {
            memcpy(rbuf, c->in, have);
        }

        n = read(c->fd, rbuf + have, BUF_SIZE - have);
        if (n == 0) {
            conn_free(c);
            return;
        }
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            if (errno == EAGAIN) {
                return;
            }
            conn_free(c);
            return;
        }

        have += (size_t) n;
        used = 0;

        if (!c->upgraded) {
            int  rc = handshake(c, rbuf, have, &used);

            if (rc < 0) {
                conn_free(c);
                return;
            }
        }

        if (c->publisher) {
            u = publish(rbuf + used, have - used);
            if (u < 0) {
                conn_free(c);
                return;
            }
            used += (size_t) u;

        } else if (c->upgraded) {
            u = frames(c, rbuf + used, have - used);
            if (u < 0) {
                conn_free(c);
                return;
            }
            used += (size_t) u;
        }

        if (olen && flush_out(c) < 0) {
            conn_free(c);
            return;
        }

        short_read = (size_t) n < BUF_SIZE - c->in_len;

        if (used < have) {
            uint8_t  *p = realloc(c->in, have - used);

            if (p == NULL) {
                conn_free(c);
                return;
            }
            memcpy(p, rbuf + used, have - used);
            c->in = p;
            c->in_len = have - used;
        } else if (c->in) {
            free(c->in);
            c->in = NULL;
            c->in_len = 0;
        }

        /*
         * a short read drained the socket: edge-triggered epoll reports
         * the next data, so no read to see EAGAIN (as nginx does)
         */
        if (short_read) {
            break;
        }
    }

    if (c->closing && c->out == NULL) {
        conn_free(c);
    }
}

static int  lfd;

static void
accept_all(void)
{
    struct epoll_event  ev;
    conn_t             *c;
    int                 fd, one = 1;

    for ( ;; ) {
        fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED) {
                continue;
            }
            if (errno != EAGAIN) {
                perror("echo-epoll: accept4");
            }
            return;
        }

        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));

        c = calloc(1, sizeof(*c));
        if (c == NULL) {
            close(fd);
            continue;
        }
        c->fd = fd;

        ev.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET;
        ev.data.ptr = c;
        if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) < 0) {
            conn_free(c);
        }
    }
}

static void
worker(int port, int backlog)
{
    struct sockaddr_in  sa;
    struct epoll_event  ev, evs[512];
    int                 one = 1, n, i;

    lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    setsockopt(lfd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one));

    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t) port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);

    if (bind(lfd, (struct sockaddr *) &sa, sizeof(sa)) < 0
        || listen(lfd, backlog) < 0)
    {
        perror("echo-epoll: bind/listen");
        exit(1);
    }

    rbuf = malloc(BUF_SIZE);
    obuf = malloc(BUF_SIZE + 64);
    ep = epoll_create1(EPOLL_CLOEXEC);
    if (rbuf == NULL || obuf == NULL || ep < 0) {
        perror("echo-epoll");
        exit(1);
    }

    ev.events = EPOLLIN;
    ev.data.ptr = NULL;
    epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &ev);

    for ( ;; ) {
        n = epoll_wait(ep, evs, 512, -1);
        for (i = 0; i < n; i++) {
            if (evs[i].data.ptr == NULL) {
                accept_all();
            } else {
                conn_event(evs[i].data.ptr, evs[i].events);
            }
        }
    }
}

static volatile sig_atomic_t  stop;

static void
on_signal(int sig)
{
    (void) sig;
    stop = 1;
}

int
main(int argc, char **argv)
{
    int     opt, workers = 1, backlog = 4096, port, i;
    pid_t   pids[64];

    while ((opt = getopt(argc, argv, "w:b:")) != -1) {
        switch (opt) {
        case 'w': workers = atoi(optarg); break;
        case 'b': backlog = atoi(optarg); break;
        default:
            fprintf(stderr, "usage: echo-epoll [-w WORKERS] [-b BACKLOG] PORT\n");
            return 2;
        }
    }

    if (optind != argc - 1 || workers < 1 || workers > 64) {
        fprintf(stderr, "usage: echo-epoll [-w WORKERS] [-b BACKLOG] PORT\n");
        return 2;
    }

    port = atoi(argv[optind]);
    signal(SIGPIPE, SIG_IGN);

    if (workers == 1) {
        worker(port, backlog);
        return 0;
    }

    /* a parent that stops its workers when it is stopped */
    for (i = 0; i < workers; i++) {
        pids[i] = fork();
        if (pids[i] == 0) {
            worker(port, backlog);
            return 0;
        }
    }

    signal(SIGTERM, on_signal);
    signal(SIGINT, on_signal);
    while (!stop) {
        pause();
    }

    for (i = 0; i < workers; i++) {
        kill(pids[i], SIGTERM);
    }
    for (i = 0; i < workers; i++) {
        waitpid(pids[i], NULL, 0);
    }

    return 0;
}
