
/*
 * Copyright (C) ngx_ws_module authors
 */


/*
 * The channel zone (ngx_ws_zone.c) on a real slab pool of a few pages:
 * random subscribe, unsubscribe, publish, deliver, trim and delete steps,
 * as the workers make them (four worker slots, eight named channels with
 * names from 1 to 3000 bytes, two connections' own channels), and the
 * death of a worker (ngx_ws_zone_forget_slot(), as the reaping does); after
 * every step the zone is checked against a simple model:
 *
 *   - a channel the model has exists in the zone with the same uid, or was
 *     evicted, which only a channel without subscribers and without
 *     messages some worker has still to read may be; a channel being
 *     stored into is never evicted by its own store;
 *   - a new channel's ids start at a millisecond's, above those of a
 *     channel of the same name the zone removed;
 *   - ids follow each other; the history is a suffix of what was
 *     published, with the same bytes, the same pending workers and at most
 *     "history" messages unless the oldest is still pending; no pending
 *     message is ever evicted;
 *   - subscriber counts, their records per worker slot, worker masks and
 *     the channel counts agree; named channels stay within max_channels;
 *   - a dead worker's subscribers, pending bits and connections' channels
 *     are gone, those of the others untouched;
 *   - a message over max_message is refused before anything is evicted;
 *   - channel names are checked as the rules say;
 *   - once everything is left, every worker has exited and every channel
 *     is deleted, the slab has as many free pages and used slots as before
 *     the first step.
 *
 * The input:
 *   6 configuration bytes: zone pages (8..39), history (1..16),
 *   max_channels (1..12), max_message (size / 2..15), max_name
 *   (64..4144), names (bit 0: utf8), then
 *   steps: a byte (bits 0-2 the step, bits 3-4 the worker slot, bit 5 for
 *   step 5), a channel byte, and for a publish a length byte; a name check
 *   takes a length byte and that many bytes.  The steps: 0 and 1
 *   subscribe, 2 unsubscribe, 3 publish, 4 deliver, 5 the publisher's
 *   delete (slot 0) or a trim (slots 1-3), or with bit 5 the death of the
 *   worker in the slot (the channel byte is not used), 6 a name check,
 *   7 deliver and unsubscribe.
 */


#include "ngx_ws_fuzz.h"

/* for ngx_ws_channel_insert(), the zone's rbtree insertion */
#include "../ngx_ws_module/ngx_ws_zone.c"


#define NGX_WS_FZ_SLOTS      4
#define NGX_WS_FZ_NAMED      8
#define NGX_WS_FZ_CHANNELS   10
#define NGX_WS_FZ_MAX_MSGS   8192


typedef struct {
    uint64_t               id;
    size_t                 len;
    uint64_t               pending;
} ngx_ws_fz_msg_t;


typedef struct {
    ngx_str_t              name;
    ngx_uint_t             push;
    ngx_uint_t             exists;
    uint64_t               uid;
    uint64_t               last_id;
    ngx_uint_t             subs[NGX_WS_FZ_SLOTS];
    uint64_t               spool[NGX_WS_FZ_SLOTS];   /* delivered up to */
    ngx_ws_fz_msg_t       *msgs;                     /* oldest first */
    ngx_uint_t             nmsgs;
} ngx_ws_fz_channel_t;


static u_char               *ngx_ws_fz_mem;
static size_t                ngx_ws_fz_size;
static u_char                ngx_ws_fz_names[NGX_WS_FZ_CHANNELS][3000];
static ngx_ws_fz_channel_t   ngx_ws_fz_ch[NGX_WS_FZ_CHANNELS];
static ngx_ws_zone_t         ngx_ws_fz_zone;
static u_char                ngx_ws_fz_body[1 << 20];


static size_t  ngx_ws_fz_name_len[NGX_WS_FZ_NAMED] = {
    1, 8, 40, 120, 200, 256, 1500, 3000
};


#define ngx_ws_fz_assert(cond, what)                                          \
    if (!(cond)) {                                                            \
        fprintf(stderr, "zone fuzz: %s (line %d)\n", what, __LINE__);          \
        abort();                                                              \
    }


static u_char
ngx_ws_fz_byte(ngx_uint_t k, uint64_t id, size_t i)
{
    return (u_char) (k * 13 + id * 7 + i);
}


int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
    ngx_uint_t  k, i;

    ngx_ws_fuzz_init();
    ngx_slab_sizes_init();

    ngx_ws_fz_size = 64 * ngx_pagesize;

    if (posix_memalign((void **) &ngx_ws_fz_mem, ngx_pagesize,
                       ngx_ws_fz_size)
        != 0)
    {
        abort();
    }

    for (k = 0; k < NGX_WS_FZ_CHANNELS; k++) {
        ngx_ws_fz_ch[k].msgs = malloc(NGX_WS_FZ_MAX_MSGS
                                      * sizeof(ngx_ws_fz_msg_t));
        if (ngx_ws_fz_ch[k].msgs == NULL) {
            abort();
        }

        if (k >= NGX_WS_FZ_NAMED) {
            /* a connection's own channel: "@" and its id */
            ngx_ws_fz_ch[k].push = 1;
            ngx_ws_fz_ch[k].name.data = ngx_ws_fz_names[k];
            ngx_ws_fz_ch[k].name.len = ngx_sprintf(ngx_ws_fz_names[k],
                                                   "@5f0a.%ui.1", k)
                                       - ngx_ws_fz_names[k];
            continue;
        }

        for (i = 0; i < ngx_ws_fz_name_len[k]; i++) {
            ngx_ws_fz_names[k][i] = (u_char) ('!' + (k * 7 + i) % 94);
        }

        ngx_ws_fz_ch[k].name.data = ngx_ws_fz_names[k];
        ngx_ws_fz_ch[k].name.len = ngx_ws_fz_name_len[k];
    }

    return 0;
}


/* a fresh zone, as ngx_ws_init_zone() makes it */

static void
ngx_ws_fz_zone_init(const u_char *conf)
{
    size_t            size;
    ngx_uint_t        k;
    ngx_ws_zone_t    *zone;
    ngx_slab_pool_t  *sp;

    size = (8 + conf[0] % 32) * ngx_pagesize;

    ngx_memzero(ngx_ws_fz_mem, size);

    sp = (ngx_slab_pool_t *) ngx_ws_fz_mem;
    sp->end = ngx_ws_fz_mem + size;
    sp->min_shift = 3;
    sp->addr = ngx_ws_fz_mem;

    ngx_slab_init(sp);

    sp->log_nomem = 0;

    zone = &ngx_ws_fz_zone;
    ngx_memzero(zone, sizeof(ngx_ws_zone_t));

    ngx_str_set(&zone->name, "fuzz");
    zone->shpool = sp;
    zone->history = 1 + conf[1] % 16;
    zone->ttl = 0;
    zone->max_channels = 1 + conf[2] % 12;
    zone->max_message = size / (2 + conf[3] % 14);
    zone->max_name = 64 + (size_t) conf[4] * 16;
    zone->names = (conf[5] & 1) ? NGX_WS_NAMES_UTF8 : NGX_WS_NAMES_ASCII;
    zone->slot = 0;

    zone->sh = ngx_slab_calloc_locked(sp, sizeof(ngx_ws_sh_t));
    if (zone->sh == NULL) {
        abort();
    }

    sp->data = zone->sh;

    ngx_rbtree_init(&zone->sh->rbtree, &zone->sh->sentinel,
                    ngx_ws_channel_insert);
    ngx_queue_init(&zone->sh->lru);

    for (k = 0; k < NGX_WS_FZ_CHANNELS; k++) {
        ngx_ws_fz_ch[k].exists = 0;
        ngx_ws_fz_ch[k].last_id = 0;
        ngx_ws_fz_ch[k].nmsgs = 0;
        ngx_memzero(ngx_ws_fz_ch[k].subs, sizeof(ngx_ws_fz_ch[k].subs));
    }
}


static ngx_uint_t
ngx_ws_fz_nsubs(ngx_ws_fz_channel_t *ch)
{
    ngx_uint_t  s, n;

    n = 0;

    for (s = 0; s < NGX_WS_FZ_SLOTS; s++) {
        n += ch->subs[s];
    }

    return n;
}


static uint64_t
ngx_ws_fz_workers(ngx_ws_fz_channel_t *ch)
{
    uint64_t    mask;
    ngx_uint_t  s;

    mask = 0;

    for (s = 0; s < NGX_WS_FZ_SLOTS; s++) {
        if (ch->subs[s]) {
            mask |= (uint64_t) 1 << s;
        }
    }

    return mask;
}


static ngx_uint_t
ngx_ws_fz_pending(ngx_ws_fz_channel_t *ch)
{
    ngx_uint_t  i;

    for (i = 0; i < ch->nmsgs; i++) {
        if (ch->msgs[i].pending) {
            return 1;
        }
    }

    return 0;
}


/*
 * A channel just made: its ids start at a millisecond's, and a channel of
 * that name that the zone removed had only ids below them (a connection's
 * own channel has a name of its own: it is not made again).
 */

static void
ngx_ws_fz_new_ids(ngx_ws_channel_node_t *cn, ngx_ws_fz_channel_t *ch)
{
    ngx_ws_fz_assert(cn->last_id == cn->base
                     && cn->base % NGX_WS_IDS_PER_MS == 0
                     && cn->base > 0,
                     "a new channel's ids start at a millisecond's");
    ngx_ws_fz_assert(ch->push || cn->base > ch->last_id,
                     "a channel made again has ids above its former ones");
}


/* the zone against the model; the model forgets what was evicted */

static void
ngx_ws_fz_check(void)
{
    u_char                 *p;
    size_t                  i;
    ngx_uint_t              k, n, s, nnamed, nchannels, drop;
    ngx_queue_t            *q;
    ngx_ws_zone_t          *zone;
    ngx_ws_sh_msg_t        *m;
    ngx_ws_fz_msg_t        *fm;
    ngx_ws_sh_count_t      *c;
    ngx_ws_fz_channel_t    *ch;
    ngx_ws_channel_node_t  *cn;
    ngx_uint_t              seen[NGX_WS_FZ_SLOTS];

    zone = &ngx_ws_fz_zone;

    for (k = 0; k < NGX_WS_FZ_CHANNELS; k++) {
        ch = &ngx_ws_fz_ch[k];

        cn = ngx_ws_channel_lookup(zone, &ch->name, ch->push);

        if (!ch->exists) {
            ngx_ws_fz_assert(cn == NULL, "a channel the model lacks");
            continue;
        }

        if (cn == NULL) {
            ngx_ws_fz_assert(ngx_ws_fz_nsubs(ch) == 0,
                             "a channel with subscribers was evicted");
            ngx_ws_fz_assert(!ngx_ws_fz_pending(ch),
                             "a channel with pending messages was evicted");

            /*
             * a connection's channel is without subscribers only when its
             * first subscription found the zone full: then it may go
             */

            ch->exists = 0;
            ch->nmsgs = 0;
            continue;
        }

        ngx_ws_fz_assert(cn->uid == ch->uid, "another channel's uid");
        ngx_ws_fz_assert(cn->push == ch->push, "push");
        ngx_ws_fz_assert(cn->len == ch->name.len
                         && ngx_memcmp(cn->name, ch->name.data, cn->len) == 0,
                         "the name");
        ngx_ws_fz_assert(cn->last_id == ch->last_id, "last_id");
        ngx_ws_fz_assert(cn->subscribers == ngx_ws_fz_nsubs(ch),
                         "subscribers");
        ngx_ws_fz_assert(cn->workers == ngx_ws_fz_workers(ch), "workers");

        /* one count record for each slot with subscribers, and no other */

        ngx_memzero(seen, sizeof(seen));

        for (c = cn->counts; c; c = c->next) {
            ngx_ws_fz_assert(c->slot < NGX_WS_FZ_SLOTS && !seen[c->slot],
                             "a count record of a slot");
            ngx_ws_fz_assert(c->n != 0 && c->n == ch->subs[c->slot],
                             "the subscribers of a slot");
            seen[c->slot] = 1;
        }

        for (s = 0; s < NGX_WS_FZ_SLOTS; s++) {
            ngx_ws_fz_assert(seen[s] || ch->subs[s] == 0,
                             "no count record for a slot with subscribers");
        }

        /* the zone's history is a suffix of the model's */

        if (ngx_queue_empty(&cn->msgs)) {
            drop = ch->nmsgs;

        } else {
            m = ngx_queue_data(ngx_queue_head(&cn->msgs), ngx_ws_sh_msg_t,
                               queue);

            for (drop = 0;
                 drop < ch->nmsgs && ch->msgs[drop].id < m->id;
                 drop++)
            {
                /* void */
            }
        }

        for (i = 0; i < drop; i++) {
            ngx_ws_fz_assert(ch->msgs[i].pending == 0,
                             "a pending message was evicted");
        }

        ngx_memmove(ch->msgs, ch->msgs + drop,
                    (ch->nmsgs - drop) * sizeof(ngx_ws_fz_msg_t));
        ch->nmsgs -= drop;

        n = 0;

        for (q = ngx_queue_head(&cn->msgs);
             q != ngx_queue_sentinel(&cn->msgs);
             q = ngx_queue_next(q))
        {
            m = ngx_queue_data(q, ngx_ws_sh_msg_t, queue);

            ngx_ws_fz_assert(n < ch->nmsgs, "a message the model lacks");

            fm = &ch->msgs[n++];

            ngx_ws_fz_assert(m->id == fm->id, "message id");
            ngx_ws_fz_assert(m->len == fm->len, "message length");
            ngx_ws_fz_assert(m->pending == fm->pending, "pending");
            ngx_ws_fz_assert(m->opcode == NGX_WS_OP_BINARY, "opcode");

            p = m->data;

            for (i = 0; i < m->len; i++) {
                ngx_ws_fz_assert(p[i] == ngx_ws_fz_byte(k, m->id, i),
                                 "message bytes");
            }
        }

        ngx_ws_fz_assert(n == ch->nmsgs && n == cn->count, "message count");
        ngx_ws_fz_assert(n == 0 || ch->msgs[n - 1].id == cn->last_id,
                         "the newest message is the last id");

        if (cn->count > zone->history) {
            ngx_ws_fz_assert(ch->msgs[0].pending,
                             "history over the limit and not pending");
        }
    }

    /* nothing else in the zone */

    nchannels = 0;
    nnamed = 0;

    for (q = ngx_queue_head(&zone->sh->lru);
         q != ngx_queue_sentinel(&zone->sh->lru);
         q = ngx_queue_next(q))
    {
        cn = ngx_queue_data(q, ngx_ws_channel_node_t, queue);

        nchannels++;
        nnamed += cn->push ? 0 : 1;
    }

    n = 0;

    for (k = 0; k < NGX_WS_FZ_CHANNELS; k++) {
        n += ngx_ws_fz_ch[k].exists;
    }

    ngx_ws_fz_assert(nchannels == n && zone->sh->channels == n,
                     "channel count");
    ngx_ws_fz_assert(zone->sh->named == nnamed, "named channel count");
    ngx_ws_fz_assert(nnamed <= zone->max_channels, "over max_channels");
}


/* the zone's counts of memory: free pages and used slots */

static ngx_uint_t
ngx_ws_fz_used(ngx_slab_pool_t *sp)
{
    ngx_uint_t  i, n, used;

    n = ngx_pagesize_shift - sp->min_shift;
    used = 0;

    for (i = 0; i < n; i++) {
        used += sp->stats[i].used * (i + 1);
    }

    return used;
}


static ngx_uint_t
ngx_ws_fz_name_ok(ngx_ws_zone_t *zone, u_char *p, size_t len)
{
    size_t      i;
    ngx_uint_t  high;

    if (len == 0 || len > zone->max_name) {
        return 0;
    }

    high = 0;

    for (i = 0; i < len; i++) {
        if (p[i] > 0x20 && p[i] < 0x7f) {
            continue;
        }

        if (p[i] >= 0x80 && zone->names == NGX_WS_NAMES_UTF8) {
            high = 1;
            continue;
        }

        return 0;
    }

    return !high || ngx_ws_utf8_validate(NGX_WS_UTF8_ACCEPT, p, len)
                    == NGX_WS_UTF8_ACCEPT;
}


/* as ngx_ws_subscribe_one() in the worker of slot s */

static void
ngx_ws_fz_subscribe(ngx_uint_t k, ngx_uint_t s)
{
    ngx_int_t               rc;
    ngx_ws_fz_channel_t    *ch;
    ngx_ws_channel_node_t  *cn;

    ch = &ngx_ws_fz_ch[k];

    cn = ngx_ws_channel_lookup(&ngx_ws_fz_zone, &ch->name, ch->push);

    if (cn == NULL) {
        /* the model may still have it: evicted since */
        ngx_ws_fz_check();

        cn = ngx_ws_channel_create(&ngx_ws_fz_zone, &ch->name, ch->push,
                                   &rc);

        if (cn == NULL) {
            ngx_ws_fz_assert(rc == NGX_BUSY || rc == NGX_WS_ZONE_TOO_MANY,
                             "create's answer");
            ngx_ws_fz_assert(rc == NGX_BUSY
                             || ngx_ws_fz_zone.sh->named
                                >= ngx_ws_fz_zone.max_channels,
                             "too many channels under max_channels");
            return;
        }

        ngx_ws_fz_assert(cn->count == 0, "a new channel");
        ngx_ws_fz_new_ids(cn, ch);

        ch->exists = 1;
        ch->uid = cn->uid;
        ch->last_id = cn->last_id;
        ch->nmsgs = 0;
    }

    ngx_ws_fz_zone.slot = s;
    rc = ngx_ws_channel_add_subscriber(&ngx_ws_fz_zone, cn);
    ngx_ws_fz_zone.slot = 0;

    if (rc != NGX_OK) {
        /* the zone is full: the channel stays, without this subscriber */
        ngx_ws_fz_assert(rc == NGX_ERROR, "add_subscriber's answer");
        return;
    }

    if (ch->subs[s]++ == 0) {
        /* the worker's spool starts at the channel's last id */
        cn->workers |= (uint64_t) 1 << s;
        ch->spool[s] = cn->last_id;
    }
}


static void
ngx_ws_fz_leave(ngx_ws_channel_node_t *cn, ngx_ws_fz_channel_t *ch,
    ngx_uint_t s)
{
    ngx_uint_t  i;

    ngx_ws_fz_zone.slot = s;
    ngx_ws_channel_leave(&ngx_ws_fz_zone, cn, ch->spool[s]);
    ngx_ws_fz_zone.slot = 0;

    for (i = 0; i < ch->nmsgs; i++) {
        if (ch->msgs[i].id > ch->spool[s]) {
            ch->msgs[i].pending &= ~((uint64_t) 1 << s);
        }
    }
}


/* as ngx_ws_unsubscribe_one() */

static void
ngx_ws_fz_unsubscribe(ngx_uint_t k, ngx_uint_t s)
{
    ngx_ws_fz_channel_t    *ch;
    ngx_ws_channel_node_t  *cn;

    ch = &ngx_ws_fz_ch[k];

    if (!ch->exists || ch->subs[s] == 0) {
        return;
    }

    cn = ngx_ws_channel_lookup(&ngx_ws_fz_zone, &ch->name, ch->push);

    ngx_ws_fz_assert(cn && cn->uid == ch->uid,
                     "a subscribed channel is gone");

    ngx_ws_fz_zone.slot = s;
    ngx_ws_channel_del_subscriber(&ngx_ws_fz_zone, cn);
    ngx_ws_fz_zone.slot = 0;

    if (--ch->subs[s] == 0) {
        ngx_ws_fz_leave(cn, ch, s);
    }

    if (cn->push && cn->subscribers == 0) {
        ngx_ws_channel_delete(&ngx_ws_fz_zone, cn);
        ch->exists = 0;
        ch->nmsgs = 0;
    }
}


/* as ngx_ws_publish(), without the wake-ups */

static void
ngx_ws_fz_publish(ngx_uint_t k, size_t len)
{
    size_t                  i;
    uint64_t                uid;
    ngx_int_t               rc;
    ngx_uint_t              channels, pfree, used;
    ngx_ws_zone_t          *zone;
    ngx_ws_fz_msg_t        *fm;
    ngx_ws_fz_channel_t    *ch;
    ngx_ws_channel_node_t  *cn;

    zone = &ngx_ws_fz_zone;
    ch = &ngx_ws_fz_ch[k];

    cn = ngx_ws_channel_lookup(zone, &ch->name, ch->push);

    if (cn == NULL) {
        if (ch->push) {
            return;
        }

        ngx_ws_fz_check();

        cn = ngx_ws_channel_create(zone, &ch->name, 0, &rc);

        if (cn == NULL) {
            ngx_ws_fz_assert(rc == NGX_BUSY || rc == NGX_WS_ZONE_TOO_MANY,
                             "create's answer");
            return;
        }

        ngx_ws_fz_new_ids(cn, ch);

        ch->exists = 1;
        ch->uid = cn->uid;
        ch->last_id = cn->last_id;
        ch->nmsgs = 0;
    }

    if (ch->push && cn->subscribers == 0) {
        /* the connection is not there (yet) */
        return;
    }

    /* the model learns what the creation evicted */

    ngx_ws_fz_check();

    for (i = 0; i < len; i++) {
        ngx_ws_fz_body[i] = ngx_ws_fz_byte(k, cn->last_id + 1, i);
    }

    channels = zone->sh->channels;
    pfree = zone->shpool->pfree;
    used = ngx_ws_fz_used(zone->shpool);
    uid = cn->uid;

    rc = ngx_ws_channel_store(zone, cn, NULL, NGX_WS_OP_BINARY,
                              ngx_ws_fz_body, len);

    /* whatever the answer, the channel stored into is still there */

    cn = ngx_ws_channel_lookup(zone, &ch->name, ch->push);

    ngx_ws_fz_assert(cn && cn->uid == uid,
                     "the store evicted its own channel");

    if (rc == NGX_WS_ZONE_TOO_BIG) {
        ngx_ws_fz_assert(len > zone->max_message, "too big under the limit");
        ngx_ws_fz_assert(zone->sh->channels == channels
                         && zone->shpool->pfree == pfree
                         && ngx_ws_fz_used(zone->shpool) == used,
                         "a message too big evicted something");
        return;
    }

    ngx_ws_fz_assert(len <= zone->max_message, "a message over max_message");

    if (rc == NGX_BUSY) {
        return;
    }

    ngx_ws_fz_assert(rc == NGX_OK, "store's answer");
    ngx_ws_fz_assert(cn->last_id == ch->last_id + 1, "the next id");

    ch->last_id = cn->last_id;

    ngx_ws_fz_assert(ch->nmsgs < NGX_WS_FZ_MAX_MSGS, "model full");

    fm = &ch->msgs[ch->nmsgs++];
    fm->id = cn->last_id;
    fm->len = len;
    fm->pending = ngx_ws_fz_workers(ch);

    /* the store trimmed: the model does the same */

    while (ch->nmsgs > zone->history && ch->msgs[0].pending == 0) {
        ngx_memmove(ch->msgs, ch->msgs + 1,
                    (ch->nmsgs - 1) * sizeof(ngx_ws_fz_msg_t));
        ch->nmsgs--;
    }
}


/* a worker reads what is new, as ngx_ws_channel_deliver() does */

static void
ngx_ws_fz_deliver(ngx_uint_t k, ngx_uint_t s)
{
    uint64_t                bit, first;
    ngx_uint_t              i;
    ngx_ws_sh_msg_t        *m;
    ngx_ws_fz_channel_t    *ch;
    ngx_ws_channel_node_t  *cn;

    ch = &ngx_ws_fz_ch[k];

    if (!ch->exists || ch->subs[s] == 0) {
        return;
    }

    cn = ngx_ws_channel_lookup(&ngx_ws_fz_zone, &ch->name, ch->push);

    ngx_ws_fz_assert(cn && cn->uid == ch->uid,
                     "a subscribed channel is gone");

    first = ngx_ws_channel_first(NULL, cn);

    ngx_ws_fz_assert(cn->last_id == ch->spool[s]
                     || first <= ch->spool[s] + 1,
                     "a worker missed messages");

    bit = (uint64_t) 1 << s;

    for (m = ngx_ws_channel_after(cn, ch->spool[s]);
         m;
         m = ngx_ws_channel_next(cn, m))
    {
        ngx_ws_fz_assert(m->id == ch->spool[s] + 1, "ids follow each other");

        m->pending &= ~bit;
        ch->spool[s] = m->id;
    }

    for (i = 0; i < ch->nmsgs; i++) {
        ch->msgs[i].pending &= ~bit;
    }

    ngx_ws_channel_trim(&ngx_ws_fz_zone, cn);

    while (ch->nmsgs > ngx_ws_fz_zone.history && ch->msgs[0].pending == 0) {
        ngx_memmove(ch->msgs, ch->msgs + 1,
                    (ch->nmsgs - 1) * sizeof(ngx_ws_fz_msg_t));
        ch->nmsgs--;
    }
}


static void
ngx_ws_fz_trim(ngx_uint_t k)
{
    ngx_ws_fz_channel_t    *ch;
    ngx_ws_channel_node_t  *cn;

    ch = &ngx_ws_fz_ch[k];

    cn = ngx_ws_channel_lookup(&ngx_ws_fz_zone, &ch->name, ch->push);

    if (cn) {
        ngx_ws_channel_trim(&ngx_ws_fz_zone, cn);
    }
}


/* the publisher's DELETE: the subscribers of the channel are closed */

static void
ngx_ws_fz_delete(ngx_uint_t k)
{
    ngx_ws_fz_channel_t    *ch;
    ngx_ws_channel_node_t  *cn;

    ch = &ngx_ws_fz_ch[k];

    if (ch->push) {
        return;
    }

    cn = ngx_ws_channel_lookup(&ngx_ws_fz_zone, &ch->name, 0);

    if (cn == NULL) {
        return;
    }

    ngx_ws_channel_delete(&ngx_ws_fz_zone, cn);

    /* their workers find the channel gone and drop their spools */

    ch->exists = 0;
    ch->nmsgs = 0;
    ngx_memzero(ch->subs, sizeof(ch->subs));
}


/*
 * The worker of slot s is gone (killed, crashed, or it exits): what the
 * reaping does, as another worker finds it, with the zone locked.
 */

static void
ngx_ws_fz_die(ngx_uint_t s)
{
    uint64_t              bit;
    ngx_uint_t            k, i;
    ngx_ws_fz_channel_t  *ch;

    ngx_ws_zone_forget_slot(&ngx_ws_fz_zone, s);

    bit = (uint64_t) 1 << s;

    for (k = 0; k < NGX_WS_FZ_CHANNELS; k++) {
        ch = &ngx_ws_fz_ch[k];

        if (!ch->exists) {
            continue;
        }

        /* its subscribers and its spools are no more */

        ch->subs[s] = 0;

        for (i = 0; i < ch->nmsgs; i++) {
            ch->msgs[i].pending &= ~bit;
        }

        /* a connection's channel goes with its last subscriber */

        if (ch->push && ngx_ws_fz_nsubs(ch) == 0) {
            ch->exists = 0;
            ch->nmsgs = 0;
            continue;
        }

        /* what only it had to read is trimmed */

        while (ch->nmsgs > ngx_ws_fz_zone.history
               && ch->msgs[0].pending == 0)
        {
            ngx_memmove(ch->msgs, ch->msgs + 1,
                        (ch->nmsgs - 1) * sizeof(ngx_ws_fz_msg_t));
            ch->nmsgs--;
        }
    }
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    u_char           name[256];
    size_t           len, n;
    ngx_int_t        rc;
    ngx_str_t        s;
    ngx_uint_t       k, op, slot, pfree, used;
    ngx_ws_zone_t   *zone;
    const u_char    *p, *last;
    u_char           err[NGX_MAX_ERROR_STR];

    if (size < 6) {
        return 0;
    }

    ngx_ws_fz_zone_init(data);

    zone = &ngx_ws_fz_zone;
    pfree = zone->shpool->pfree;
    used = ngx_ws_fz_used(zone->shpool);

    p = data + 6;
    last = data + size;

    while (last - p >= 2) {
        op = p[0] & 7;
        slot = (p[0] >> 3) % NGX_WS_FZ_SLOTS;
        k = p[1] % NGX_WS_FZ_CHANNELS;
        p += 2;

        if (op == 5 && (p[-2] & 0x20)) {
            ngx_ws_fz_die(slot);
            ngx_ws_fz_check();
            continue;
        }

        if (op != 6 && !ngx_ws_fz_ch[k].push
            && ngx_ws_channel_name_check(zone, &ngx_ws_fz_ch[k].name, err,
                                         sizeof(err))
               != NGX_OK)
        {
            /* refused before the zone is reached */
            ngx_ws_fz_assert(ngx_ws_fz_ch[k].name.len > zone->max_name,
                             "a valid name refused");
            continue;
        }

        switch (op) {

        case 0:
        case 1:
            ngx_ws_fz_subscribe(k, slot);
            break;

        case 2:
            ngx_ws_fz_unsubscribe(k, slot);
            break;

        case 3:
            if (p == last) {
                break;
            }

            /* up to a quarter over max_message */
            len = (size_t) *p++ * (zone->max_message + zone->max_message / 4)
                  / 255;

            if (len > sizeof(ngx_ws_fz_body)) {
                len = sizeof(ngx_ws_fz_body);
            }

            ngx_ws_fz_publish(k, len);
            break;

        case 4:
            ngx_ws_fz_deliver(k, slot);
            break;

        case 5:
            if (slot == 0) {
                ngx_ws_fz_delete(k);

            } else {
                ngx_ws_fz_trim(k);
            }

            break;

        case 6:
            /* a name check: the channel byte is the length */
            n = ngx_min((size_t) k * 29 + slot, (size_t) (last - p));
            n = ngx_min(n, sizeof(name));
            ngx_memcpy(name, p, n);
            p += n;

            s.data = name;
            s.len = n;

            rc = ngx_ws_channel_name_check(zone, &s, err, sizeof(err));

            ngx_ws_fz_assert((rc == NGX_OK) == ngx_ws_fz_name_ok(zone, name, n),
                             "the name rules");
            break;

        default: /* 7 */
            ngx_ws_fz_deliver(k, slot);
            ngx_ws_fz_unsubscribe(k, slot);
            break;
        }

        ngx_ws_fz_check();
    }

    /*
     * everybody leaves, every worker exits (a connection's channel left
     * without subscribers by a failed subscription goes then), every
     * channel is deleted: all memory is back
     */

    for (k = 0; k < NGX_WS_FZ_CHANNELS; k++) {
        for (slot = 0; slot < NGX_WS_FZ_SLOTS; slot++) {
            while (ngx_ws_fz_ch[k].exists && ngx_ws_fz_ch[k].subs[slot]) {
                ngx_ws_fz_unsubscribe(k, slot);
            }
        }

        ngx_ws_fz_check();
    }

    for (slot = 0; slot < NGX_WS_FZ_SLOTS; slot++) {
        ngx_ws_fz_die(slot);
        ngx_ws_fz_check();
    }

    for (k = 0; k < NGX_WS_FZ_CHANNELS; k++) {
        ngx_ws_fz_delete(k);
        ngx_ws_fz_check();
    }

    ngx_ws_fz_assert(zone->sh->channels == 0 && zone->sh->named == 0,
                     "channels left");
    ngx_ws_fz_assert(zone->shpool->pfree == pfree, "pages not freed");
    ngx_ws_fz_assert(ngx_ws_fz_used(zone->shpool) == used, "slots not freed");

    return 0;
}
