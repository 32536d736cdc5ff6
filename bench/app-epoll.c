/*
 * app-epoll: the smallest WebSocket-to-HTTP bridge we could write, as the
 * limit of the application path (bench/run app): what a server that cost
 * nothing beyond its system calls would reach with the same Node app.
 *
 *   app-epoll PORT APP_PORT
 *
 * One process, one edge-triggered epoll loop, listening on 127.0.0.1:PORT.
 * It answers the opening handshake (Sec-WebSocket-Key only) and gives each
 * WebSocket connection its own keep-alive HTTP connection to
 * 127.0.0.1:APP_PORT, opened at the upgrade.  The data frames of a client
 * go to the app in the application/websocket-events format (Pushpin's),
 * every frame that waits while a request is out in the next request, so
 * one request at a time per connection and order kept; the TEXT and BINARY
 * events of the reply (Content-Length or chunked) go back as frames.  No
 * UTF-8 check, no fragments, no OPEN or CLOSE events, no Ping; a Close is
 * answered with its code and the connection closed.  Less than any
 * conforming server, which is the point.
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
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "wsproto.h"

#define MAX_FRAME  (1024 * 1024)

typedef struct {
    uint8_t  *p;
    size_t    pos, len, cap;
} buf_t;

typedef struct side_s  side_t;
typedef struct pair_s  pair_t;

struct side_s {
    int       fd;
    int       app;          /* 1: the app's side of the pair */
    pair_t   *pair;
    buf_t     in;           /* read, not yet used */
    buf_t     out;          /* to write */
};

struct pair_s {
    pair_t   *next_dead;    /* freed after the events of this wait */
    int       dead;
    side_t    client;
    side_t    app;
    int       upgraded;
    int       inflight;     /* a request is out to the app */
    buf_t     events;       /* events waiting for the next request */
    unsigned long  id;
};

static int            ep;
static pair_t        *dead;
static struct sockaddr_in  app_addr;
static unsigned long  next_id;
static uint8_t        rbuf[256 * 1024];

static int
buf_add(buf_t *b, const void *p, size_t n)
{
    if (b->len + n > b->cap) {
        size_t    cap = b->cap ? b->cap : 4096;
        uint8_t  *q;

        if (b->pos) {
            memmove(b->p, b->p + b->pos, b->len - b->pos);
            b->len -= b->pos;
            b->pos = 0;
        }
        while (b->len + n > cap) {
            cap *= 2;
        }
        if (cap != b->cap) {
            q = realloc(b->p, cap);
            if (q == NULL) {
                return -1;
            }
            b->p = q;
            b->cap = cap;
        }
    }

    memcpy(b->p + b->len, p, n);
    b->len += n;
    return 0;
}

static void
buf_used(buf_t *b, size_t n)
{
    b->pos += n;
    if (b->pos == b->len) {
        b->pos = b->len = 0;
    }
}

/* closed now; freed after the wait's other events, which may name it */
static void
pair_close(pair_t *pr)
{
    if (pr->dead) {
        return;
    }
    pr->dead = 1;
    close(pr->client.fd);
    if (pr->app.fd >= 0) {
        close(pr->app.fd);
    }
    pr->next_dead = dead;
    dead = pr;
}

static void
pair_free(pair_t *pr)
{
    free(pr->client.in.p);
    free(pr->client.out.p);
    free(pr->app.in.p);
    free(pr->app.out.p);
    free(pr->events.p);
    free(pr);
}

/* writes what waits; -1: gone */
static int
side_flush(side_t *s)
{
    ssize_t  n;

    while (s->out.pos < s->out.len) {
        n = write(s->fd, s->out.p + s->out.pos, s->out.len - s->out.pos);
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            return errno == EAGAIN ? 0 : -1;
        }
        buf_used(&s->out, (size_t) n);
    }

    return 0;
}

/* the waiting events, as one request, if none is out */
static int
send_request(pair_t *pr)
{
    char  h[256];
    int   n;

    if (pr->inflight || pr->events.len == pr->events.pos) {
        return 0;
    }

    n = snprintf(h, sizeof(h),
                 "POST / HTTP/1.1\r\n"
                 "Host: app\r\n"
                 "Connection-Id: %lu\r\n"
                 "Content-Type: application/websocket-events\r\n"
                 "Content-Length: %zu\r\n\r\n",
                 pr->id, pr->events.len - pr->events.pos);

    if (buf_add(&pr->app.out, h, (size_t) n) < 0
        || buf_add(&pr->app.out, pr->events.p + pr->events.pos,
                   pr->events.len - pr->events.pos) < 0)
    {
        return -1;
    }

    pr->events.pos = pr->events.len = 0;
    pr->inflight = 1;
    return side_flush(&pr->app);
}

static int
put_frame(side_t *s, int op, const uint8_t *p, size_t n)
{
    uint8_t  h[10];
    size_t   hl = ws_server_header(h, 0x80 | op, n);

    return buf_add(&s->out, h, hl) < 0 || buf_add(&s->out, p, n) < 0 ? -1 : 0;
}


/* the client's bytes: the handshake, then frames; -1: close */
static int
client_input(pair_t *pr)
{
    buf_t    *b = &pr->client.in;
    uint8_t  *p, *end, *k, *e;
    char      accept[32], h[160];
    size_t    left, hl;
    uint64_t  len;
    int       n, op;

    if (!pr->upgraded) {
        p = b->p + b->pos;
        end = memmem(p, b->len - b->pos, "\r\n\r\n", 4);
        if (end == NULL) {
            return b->len - b->pos > 8192 ? -1 : 0;
        }
        k = memmem(p, (size_t) (end - p), "Sec-WebSocket-Key:", 18);
        if (k == NULL) {
            k = memmem(p, (size_t) (end - p), "sec-websocket-key:", 18);
        }
        if (k == NULL) {
            return -1;
        }
        for (k += 18; *k == ' '; k++) { /* void */ }
        for (e = k; *e != '\r' && *e != ' '; e++) { /* void */ }

        ws_accept_key((char *) k, (size_t) (e - k), accept);
        n = snprintf(h, sizeof(h),
                     "HTTP/1.1 101 Switching Protocols\r\n"
                     "Upgrade: websocket\r\n"
                     "Connection: Upgrade\r\n"
                     "Sec-WebSocket-Accept: %s\r\n\r\n", accept);
        if (buf_add(&pr->client.out, h, (size_t) n) < 0) {
            return -1;
        }
        buf_used(b, (size_t) (end + 4 - p));
        pr->upgraded = 1;
    }

    while ((left = b->len - b->pos) >= 2) {
        p = b->p + b->pos;
        op = p[0] & 0x0f;

        n = ws_client_frame(p, left, &len, &hl);
        if (n < 0 || len > MAX_FRAME) {
            return -1;
        }
        if (n == 0 || left < hl + len) {
            break;
        }

        ws_mask(p + hl, p + hl, (size_t) len, p + hl - 4, 0);

        if (op == 8) {                /* answered with its code, closed */
            if (put_frame(&pr->client, 8, p + hl, len >= 2 ? 2 : 0) == 0) {
                (void) side_flush(&pr->client);
            }
            return -1;
        }

        if (op == 1 || op == 2) {
            n = snprintf(h, sizeof(h), "%s %llx\r\n", op == 1 ? "TEXT" : "BINARY",
                         (unsigned long long) len);
            if (buf_add(&pr->events, h, (size_t) n) < 0
                || buf_add(&pr->events, p + hl, (size_t) len) < 0
                || buf_add(&pr->events, "\r\n", 2) < 0)
            {
                return -1;
            }
        }

        buf_used(b, hl + (size_t) len);
    }

    if (send_request(pr) < 0) {
        return -1;
    }

    return side_flush(&pr->client);
}

/* the events of a reply's body, as frames to the client */
static int
reply_events(pair_t *pr, const uint8_t *p, size_t n)
{
    const uint8_t  *eol, *sp;
    size_t          len;

    while (n) {
        eol = memmem(p, n, "\r\n", 2);
        if (eol == NULL) {
            return -1;
        }
        sp = memchr(p, ' ', (size_t) (eol - p));
        len = sp ? strtoul((const char *) sp + 1, NULL, 16) : 0;
        if ((size_t) (eol + 2 - p) + len + (sp ? 2 : 0) > n) {
            return -1;
        }
        if (sp && (memcmp(p, "TEXT ", 5) == 0 || memcmp(p, "BINARY ", 7) == 0)) {
            if (put_frame(&pr->client, p[0] == 'T' ? 1 : 2, eol + 2, len) < 0) {
                return -1;
            }
        }
        len += (size_t) (eol + 2 - p) + (sp ? 2 : 0);
        p += len;
        n -= len;
    }

    return 0;
}

/* the app's bytes: whole replies, Content-Length or chunked; -1: close */
static int
app_input(pair_t *pr)
{
    buf_t    *b = &pr->app.in;
    uint8_t  *p, *end, *cl, *q, *last, *body;
    size_t    n, hl, bl, blen, cap;

    for ( ;; ) {
        p = b->p + b->pos;
        n = b->len - b->pos;
        end = memmem(p, n, "\r\n\r\n", 4);
        if (end == NULL) {
            return 0;
        }
        hl = (size_t) (end + 4 - p);
        last = p + n;

        if (memmem(p, hl, "chunked", 7)) {
            /* complete when the last chunk is in; then its data moved
             * together, in place, behind the headers */
            q = p + hl;
            for ( ;; ) {
                uint8_t  *eol = memmem(q, (size_t) (last - q), "\r\n", 2);

                if (eol == NULL) {
                    return 0;
                }
                cap = strtoul((char *) q, NULL, 16);
                if ((size_t) (last - eol) < 2 + cap + 2) {
                    return 0;
                }
                q = eol + 2 + cap + 2;
                if (cap == 0) {
                    break;
                }
            }
            bl = (size_t) (q - (p + hl));

            body = q = p + hl;
            blen = 0;
            while ((cap = strtoul((char *) q, NULL, 16)) != 0) {
                uint8_t  *eol = memmem(q, (size_t) (last - q), "\r\n", 2);

                memmove(body + blen, eol + 2, cap);
                blen += cap;
                q = eol + 2 + cap + 2;
            }

        } else {
            cl = memmem(p, hl, "ontent-Length:", 14);
            bl = cl ? strtoul((char *) cl + 14, NULL, 10) : 0;
            if (n < hl + bl) {
                return 0;
            }
            body = p + hl;
            blen = bl;
        }

        if (memcmp(p, "HTTP/1.1 200", 12) != 0
            || reply_events(pr, body, blen) < 0)
        {
            return -1;
        }

        buf_used(b, hl + bl);
        pr->inflight = 0;

        if (send_request(pr) < 0 || side_flush(&pr->client) < 0) {
            return -1;
        }
    }
}

/* reads what the socket has; 0 ok, -1 gone */
static int
side_read(side_t *s)
{
    ssize_t  n;

    for ( ;; ) {
        n = read(s->fd, rbuf, sizeof(rbuf));
        if (n == 0) {
            return -1;
        }
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            return errno == EAGAIN ? 0 : -1;
        }
        if (buf_add(&s->in, rbuf, (size_t) n) < 0) {
            return -1;
        }
        if ((size_t) n < sizeof(rbuf)) {
            return 0;
        }
    }
}

static int
app_connect(pair_t *pr)
{
    struct epoll_event  ev;
    int                 one = 1;

    pr->app.fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (pr->app.fd < 0) {
        return -1;
    }
    setsockopt(pr->app.fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    if (connect(pr->app.fd, (struct sockaddr *) &app_addr, sizeof(app_addr)) < 0
        && errno != EINPROGRESS)
    {
        return -1;
    }

    ev.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET;
    ev.data.ptr = &pr->app;
    return epoll_ctl(ep, EPOLL_CTL_ADD, pr->app.fd, &ev);
}

static void
side_event(side_t *s, uint32_t events)
{
    pair_t  *pr = s->pair;

    if (pr->dead) {
        return;
    }

    if (events & EPOLLOUT && side_flush(s) < 0) {
        pair_close(pr);
        return;
    }

    if (!(events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR))) {
        return;
    }

    if (side_read(s) < 0
        || (s->app ? app_input(pr) : client_input(pr)) < 0)
    {
        pair_close(pr);
    }
}

int
main(int argc, char **argv)
{
    struct sockaddr_in  sa;
    struct epoll_event  ev, evs[512];
    pair_t             *pr;
    int                 lfd, fd, one = 1, n, i;

    if (argc != 3) {
        fprintf(stderr, "usage: app-epoll PORT APP_PORT\n");
        return 2;
    }

    signal(SIGPIPE, SIG_IGN);

    memset(&app_addr, 0, sizeof(app_addr));
    app_addr.sin_family = AF_INET;
    app_addr.sin_port = htons((uint16_t) atoi(argv[2]));
    app_addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);

    lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));

    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t) atoi(argv[1]));
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);

    ep = epoll_create1(EPOLL_CLOEXEC);
    if (bind(lfd, (struct sockaddr *) &sa, sizeof(sa)) < 0
        || listen(lfd, 4096) < 0 || ep < 0)
    {
        perror("app-epoll");
        return 1;
    }

    ev.events = EPOLLIN;
    ev.data.ptr = NULL;
    epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &ev);

    for ( ;; ) {
        n = epoll_wait(ep, evs, 512, -1);

        for (i = 0; i < n; i++) {
            if (evs[i].data.ptr != NULL) {
                side_event(evs[i].data.ptr, evs[i].events);
                continue;
            }

            while ((fd = accept4(lfd, NULL, NULL,
                                 SOCK_NONBLOCK | SOCK_CLOEXEC)) >= 0)
            {
                setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
                pr = calloc(1, sizeof(*pr));
                if (pr == NULL) {
                    close(fd);
                    continue;
                }
                pr->id = ++next_id;
                pr->client.fd = fd;
                pr->client.pair = pr;
                pr->app.app = 1;
                pr->app.pair = pr;
                pr->app.fd = -1;

                ev.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET;
                ev.data.ptr = &pr->client;
                if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) < 0
                    || app_connect(pr) < 0)
                {
                    pair_close(pr);
                }
            }
        }

        while (dead) {
            pr = dead;
            dead = pr->next_dead;
            pair_free(pr);
        }
    }
}
