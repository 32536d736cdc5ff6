
/*
 * Copyright (C) ngx_ws_module authors
 */


#ifndef _NGX_WS_ZONE_H_INCLUDED_
#define _NGX_WS_ZONE_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include "ngx_ws_module.h"
#include "ngx_ws_redis.h"


/* ngx_ws_publish() and ngx_ws_channel_store() refusals, besides NGX_BUSY */

#define NGX_WS_ZONE_TOO_BIG         NGX_ABORT     /* over max_message */
#define NGX_WS_ZONE_TOO_MANY        NGX_AGAIN     /* at max_channels */

#define NGX_WS_NAMES_ASCII          0
#define NGX_WS_NAMES_UTF8           1

#define NGX_WS_PRESENCE_OFF         0
#define NGX_WS_PRESENCE_CHANNEL     1
#define NGX_WS_PRESENCE_COMPANION   2


/*
 * Message ids carry the time their channel was made: a channel's first
 * message is (ms since 2024-01-01T00:00:00Z) * NGX_WS_IDS_PER_MS + 1 and
 * the next ones follow by one, so that an id of a channel as it was before
 * a restart, a zone resize or a delete is never taken for one of the
 * channel as it is now.  The ids stay below 2^53 (JSON numbers) for about
 * 70 years.
 */

#define NGX_WS_IDS_EPOCH            1704067200
#define NGX_WS_IDS_PER_MS           4096


/* a message in shared memory */

typedef struct {
    ngx_queue_t                 queue;
    uint64_t                    id;
    uint64_t                    pending;          /* slots yet to read it */
    time_t                      time;
    ngx_uint_t                  opcode;
    size_t                      len;
    uint32_t                    hash;             /* of the key */
    u_char                      cls;              /* NGX_WS_CLASS_* */
    u_char                      key_len;          /* after the data */
    u_char                      data[1];
} ngx_ws_sh_msg_t;


/* the subscribers one worker slot has of a channel */

typedef struct ngx_ws_sh_count_s  ngx_ws_sh_count_t;

struct ngx_ws_sh_count_s {
    ngx_ws_sh_count_t          *next;
    uint32_t                    slot;
    uint32_t                    n;
};


typedef struct ngx_ws_conn_rec_s  ngx_ws_conn_rec_t;


/* a member of a channel (ngx_ws_presence.c): an identity, its count */

typedef struct ngx_ws_sh_member_s  ngx_ws_sh_member_t;

struct ngx_ws_sh_member_s {
    ngx_ws_sh_member_t         *next;
    ngx_ws_sh_count_t          *counts;           /* per slot */
    ngx_uint_t                  n;                /* its subscriptions */
    size_t                      len;
    u_char                      id[1];
};


/* a channel in shared memory; overlays ngx_rbtree_node_t from color */

typedef struct {
    u_char                      color;
    u_char                      push;             /* a connection's own */
    u_short                     len;
    ngx_queue_t                 queue;            /* LRU */
    uint64_t                    uid;              /* never reused */
    uint64_t                    base;             /* the id before the 1st */
    uint64_t                    last_id;
    uint64_t                    workers;          /* slots with subscribers */
    ngx_uint_t                  subscribers;
    ngx_uint_t                  count;
    ngx_queue_t                 msgs;             /* oldest first */
    ngx_ws_sh_count_t          *counts;           /* per slot, of subscribers */
    ngx_ws_conn_rec_t          *rec;              /* a push channel's */
    ngx_ws_sh_member_t         *members;          /* with ws_presence */
    ngx_uint_t                  nmembers;
    ngx_uint_t                  synced;           /* with Redis */
    uint64_t                    sync_id;          /* Redis's id then */
    ngx_uint_t                  redis_count;      /* subscribers told */
    ngx_uint_t                  members_gen;      /* changes of members */
    ngx_uint_t                  redis_members;    /* members_gen told */
    uint64_t                    redis_wake;       /* subscribed, cluster */
    u_char                      name[1];
} ngx_ws_channel_node_t;


typedef struct {
    ngx_pid_t                   pid;
    ngx_atomic_t                rescan;           /* a wake-up was lost */
    uint64_t                    start;            /* of the process, or 0 */
} ngx_ws_sh_slot_t;


typedef struct {
    ngx_rbtree_t                rbtree;
    ngx_rbtree_node_t           sentinel;
    ngx_queue_t                 lru;
    uint64_t                    uids;
    ngx_uint_t                  channels;
    uint64_t                    published;
    uint64_t                    ids;              /* of channels removed */
    ngx_uint_t                  named;            /* channels not ws_push's */
    ngx_ws_sh_slot_t            slots[NGX_WS_MAX_SLOTS];

    /* the connections of ws_push locations (ngx_ws_registry.c) */
    ngx_rbtree_t                conns;            /* by channel uid */
    ngx_rbtree_node_t           conns_sentinel;
    ngx_uint_t                  nconns;

    /* the records of dead workers' connections, for their events */
    ngx_queue_t                 dead;
    ngx_uint_t                  ndead;

    /* the worker reading the zone's Redis streams (ngx_ws_redis_bp.c) */
    ngx_pid_t                   redis_reader;
    uint64_t                    redis_lease;      /* ms, wall clock */
    ngx_ws_redis_stat_t         redis;

    /* the instance among the others of the zone (ngx_ws_redis_bp.c) */
    u_char                      redis_inst[16];   /* hex, random */
    uint64_t                    redis_inbox[2];   /* last entry read */
    uint64_t                    redis_beat;       /* ms, last heartbeat */
    ngx_uint_t                  redis_resync;     /* tell Redis it all */
} ngx_ws_sh_t;


/*
 * What the zone knows of a connection of a ws_push location
 * (ngx_ws_registry.c): hung on its push channel, freed with it.  The
 * strings follow the struct, their lengths in len[]; identity headers are
 * "name\0value\0" pairs, channels "name\0" in a block of their own.
 */

#define NGX_WS_REC_ID              0
#define NGX_WS_REC_ADDR            1
#define NGX_WS_REC_URI             2
#define NGX_WS_REC_SERVER          3
#define NGX_WS_REC_LOCATION        4
#define NGX_WS_REC_SUBPROTOCOL     5
#define NGX_WS_REC_HEADERS         6
#define NGX_WS_REC_FIELDS          7

struct ngx_ws_conn_rec_s {
    ngx_rbtree_node_t           node;             /* key: channel uid */
    ngx_ws_channel_node_t      *channel;
    ngx_queue_t                 dead;             /* its worker died */
    ngx_ws_counters_t           counters;         /* the owner's stores */
    ngx_pid_t                   pid;
    ngx_uint_t                  slot;
    time_t                      start;

    /* what its disconnect event needs when its worker dies */
    ngx_uint_t                  notify;           /* ws_on_disconnect */
    ngx_uint_t                  generation;       /* of the configuration */
    ngx_uint_t                  location;         /* in push_locations */
    ngx_uint_t                  listening;        /* in cycle->listening */
    socklen_t                   socklen;
    ngx_sockaddr_t              sockaddr;

    u_char                     *channels;
    size_t                      channels_len;
    ngx_uint_t                  nchannels;
    ngx_uint_t                  channels_cut;     /* more than were kept */
    size_t                      len[NGX_WS_REC_FIELDS];
    u_char                      data[1];
};


/*
 * a notification datagram; the zone is that of the socket it came on
 * (ngx_ws_notify.c)
 */

typedef struct {
    uint64_t                    uid;
} ngx_ws_notice_t;


/*
 * What a worker does when it is woken for the channel uid of a zone, or,
 * for uid 0, when a wake-up was lost: every channel of the zone it has
 * subscribers of.  The channel code sets it at configuration time;
 * ngx_ws_notify.c calls it.
 */

typedef void (*ngx_ws_wake_pt)(ngx_ws_zone_t *zone, uint64_t uid);


struct ngx_ws_zone_s {
    ngx_str_t                   name;
    ngx_shm_zone_t             *shm_zone;
    ngx_ws_sh_t                *sh;
    ngx_slab_pool_t            *shpool;
    ngx_uint_t                  index;
    ngx_uint_t                  history;
    time_t                      ttl;
    ngx_uint_t                  max_channels;
    size_t                      max_name;
    size_t                      max_message;
    ngx_uint_t                  names;            /* NGX_WS_NAMES_* */

    /* presence (ngx_ws_presence.c) */
    ngx_uint_t                  max_members;      /* per channel */
    size_t                      max_member;       /* an identity's bytes */
    ngx_uint_t                  presence_events;  /* NGX_WS_PRESENCE_* */
    ngx_str_t                   presence_suffix;  /* of the companion */
    uint64_t                    presence_wake;    /* slots to wake */
    ngx_uint_t                  presence_lost;    /* Redis drops warned */

    ngx_ws_redis_conf_t        *redis;            /* redis=, or NULL */

    /* per worker */
    ngx_int_t                   slot;
    ngx_rbtree_t                spools;           /* by channel uid */
    ngx_rbtree_node_t           spools_sentinel;

    /* the wake-up socket pairs, one per slot, made by the master */
    ngx_ws_zone_t              *prev;             /* of the previous cycle */
    ngx_uint_t                  notify_n;         /* pairs this zone owns */
    ngx_socket_t                notify[NGX_WS_MAX_SLOTS][2];
};


/* what a worker knows of a channel it has subscribers of */

struct ngx_ws_spool_s {
    ngx_rbtree_node_t           node;             /* key: uid */
    ngx_ws_zone_t              *zone;
    ngx_str_t                   name;
    uint64_t                    uid;
    uint64_t                    last_id;          /* delivered up to */
    ngx_queue_t                 subs;
    ngx_uint_t                  nsubs;
    ngx_uint_t                  push;
    ngx_uint_t                  resume;           /* subs wait for a sync */
    ngx_event_t                 deliver_ev;       /* posted by a publish */
};


/* what ngx_ws_channel_put() stored, and whom to wake for it */

typedef struct {
    uint64_t                    id;
    uint64_t                    workers;          /* slots with subscribers */
    uint64_t                    uid;
    ngx_uint_t                  subscribers;
} ngx_ws_stored_t;


/* one subscription of one connection */

typedef struct ngx_ws_sub_s  ngx_ws_sub_t;


/*
 * A transport that is not a WebSocket (ngx_ws_sse.c): the channel code
 * formats each message once per worker with format() (the zone is
 * locked) and hands the same buffer to every subscriber of the transport
 * with deliver(), which takes a reference (sh->refs) and returns NGX_OK,
 * or NGX_DONE when the subscriber is ending (it stops getting messages).
 * end() ends a subscriber that missed a message or whose channel was
 * deleted.  A history_lost event comes to format() as a message of
 * opcode 0, its JSON in data, its id the last one lost.  Neither
 * deliver() nor end() may free the subscription: the transport
 * unsubscribes later, from an event of its own.  The transports register
 * in ngx_ws_transports[] at configuration time; slot 1 is free for
 * long-polling.
 */

#define NGX_WS_TRANSPORTS           2

typedef struct {
    ngx_ws_shared_t          *(*format)(ngx_ws_sh_msg_t *m,
                                        ngx_str_t *channel, ngx_log_t *log);
    ngx_int_t                 (*deliver)(ngx_ws_sub_t *sub,
                                         ngx_ws_shared_t *sh);
    void                      (*end)(ngx_ws_sub_t *sub, char *why);
    ngx_uint_t                  index;            /* in ngx_ws_transports */
} ngx_ws_transport_t;


struct ngx_ws_sub_s {
    ngx_queue_t                 queue;            /* in the spool */
    ngx_queue_t                 link;             /* in the connection */
    ngx_ws_spool_t             *spool;
    ngx_ws_conn_t              *ws;               /* or NULL: */
    ngx_ws_transport_t         *transport;        /* another transport's */
    void                       *data;             /* the transport's */
    uint64_t                    last_id;          /* handed to it, if so */
    ngx_uint_t                  member;           /* counted as a member */
    void                       *hold;             /* waits for a snapshot */
    int64_t                     resume;           /* waits for a sync, or -1 */
    uint64_t                    skip;             /* up to: in its snapshot */
};


/*
 * ws_snapshot: ngx_ws_snapshot.c sets ngx_ws_snapshot_start at
 * configuration time; the channel code calls it when a WebSocket joins a
 * channel and holds the subscriber's messages until the outcome comes back
 * through ngx_ws_channel_snapshot() (NULL: it failed).  It returns where to
 * say that the subscription is gone (set to NULL), or NULL if it could not
 * start.
 */

typedef struct {
    ngx_uint_t                  opcode;
    u_char                     *data;
    size_t                      len;
    uint64_t                    id;
    unsigned                    has_id:1;
} ngx_ws_snapshot_t;

typedef ngx_ws_sub_t **(*ngx_ws_snapshot_start_pt)(ngx_ws_conn_t *ws,
    ngx_ws_sub_t *sub, ngx_str_t *name, int64_t last_id);

extern ngx_ws_snapshot_start_pt  ngx_ws_snapshot_start;

void ngx_ws_channel_snapshot(ngx_ws_sub_t *sub, ngx_ws_snapshot_t *snap);


ngx_ws_channel_node_t *ngx_ws_channel_lookup(ngx_ws_zone_t *zone,
    ngx_str_t *name, ngx_uint_t push);
ngx_ws_channel_node_t *ngx_ws_channel_create(ngx_ws_zone_t *zone,
    ngx_str_t *name, ngx_uint_t push, ngx_int_t *rc);
ngx_int_t ngx_ws_channel_name_check(ngx_ws_zone_t *zone, ngx_str_t *name,
    u_char *err, size_t size);
void ngx_ws_channel_delete(ngx_ws_zone_t *zone, ngx_ws_channel_node_t *node);
ngx_int_t ngx_ws_channel_store(ngx_ws_zone_t *zone,
    ngx_ws_channel_node_t *node, ngx_ws_policy_t *pol, ngx_uint_t opcode,
    u_char *data, size_t len);
ngx_int_t ngx_ws_channel_store_id(ngx_ws_zone_t *zone,
    ngx_ws_channel_node_t *node, ngx_ws_policy_t *pol, ngx_uint_t opcode,
    u_char *data, size_t len, uint64_t id);
void ngx_ws_channel_reset(ngx_ws_zone_t *zone, ngx_ws_channel_node_t *node,
    uint64_t id);
void ngx_ws_channel_gap(ngx_ws_zone_t *zone, ngx_ws_channel_node_t *node,
    uint64_t id);
ngx_ws_sh_msg_t *ngx_ws_channel_after(ngx_ws_channel_node_t *node,
    uint64_t id);
ngx_ws_sh_msg_t *ngx_ws_channel_next(ngx_ws_channel_node_t *node,
    ngx_ws_sh_msg_t *m);
uint64_t ngx_ws_channel_first(ngx_ws_zone_t *zone,
    ngx_ws_channel_node_t *node);
void ngx_ws_channel_trim(ngx_ws_zone_t *zone, ngx_ws_channel_node_t *node);
void ngx_ws_channel_leave(ngx_ws_zone_t *zone, ngx_ws_channel_node_t *node,
    uint64_t after);
void ngx_ws_zone_notify(ngx_ws_zone_t *zone, uint64_t workers, uint64_t uid);
ngx_int_t ngx_ws_channel_add_subscriber(ngx_ws_zone_t *zone,
    ngx_ws_channel_node_t *node);
void ngx_ws_channel_del_subscriber(ngx_ws_zone_t *zone,
    ngx_ws_channel_node_t *node);
void ngx_ws_channel_free_counts(ngx_ws_zone_t *zone,
    ngx_ws_channel_node_t *node);
void ngx_ws_zone_forget_slot(ngx_ws_zone_t *zone, ngx_uint_t slot);
void *ngx_ws_zone_alloc(ngx_ws_zone_t *zone, size_t size,
    ngx_ws_channel_node_t *keep);
void ngx_ws_conn_rec_free(ngx_ws_zone_t *zone, ngx_ws_conn_rec_t *rec);
ngx_int_t ngx_ws_channel_put(ngx_ws_zone_t *zone, ngx_str_t *name,
    ngx_uint_t push, ngx_ws_policy_t *pol, ngx_uint_t opcode, u_char *data,
    size_t len, ngx_ws_stored_t *st);
void ngx_ws_channel_notify(ngx_ws_zone_t *zone, uint64_t workers,
    uint64_t uid);
ngx_int_t ngx_ws_publish(ngx_ws_zone_t *zone, ngx_str_t *name,
    ngx_uint_t push, ngx_uint_t opcode, u_char *data, size_t len,
    uint64_t *id, ngx_uint_t *subscribers);
ngx_int_t ngx_ws_publish_pol(ngx_ws_zone_t *zone, ngx_str_t *name,
    ngx_uint_t push, ngx_ws_policy_t *pol, ngx_uint_t opcode, u_char *data,
    size_t len, uint64_t *id, ngx_uint_t *subscribers);

/* the registry of connections (ngx_ws_registry.c) */

typedef struct {
    ngx_str_t                   location;
    ngx_str_t                   channel;
    ngx_str_t                   header;           /* its name */
    ngx_str_t                   value;
} ngx_ws_conn_filter_t;

ngx_int_t ngx_ws_registry_add(ngx_ws_conn_t *ws, ngx_ws_zone_t *zone,
    ngx_str_t *name);
void ngx_ws_registry_channels(ngx_ws_conn_t *ws);
ngx_ws_conn_rec_t *ngx_ws_registry_find(ngx_ws_zone_t *zone, ngx_str_t *id,
    ngx_pool_t *pool);
ngx_ws_conn_rec_t *ngx_ws_registry_after(ngx_ws_zone_t *zone,
    uint64_t after);
ngx_ws_conn_rec_t *ngx_ws_registry_next(ngx_ws_zone_t *zone,
    ngx_ws_conn_rec_t *rec);
u_char *ngx_ws_registry_field(ngx_ws_conn_rec_t *rec, ngx_uint_t f,
    ngx_str_t *value);
ngx_uint_t ngx_ws_registry_match(ngx_ws_conn_rec_t *rec,
    ngx_ws_conn_filter_t *flt);
size_t ngx_ws_registry_json_len(ngx_ws_conn_rec_t *rec);
u_char *ngx_ws_registry_json(u_char *p, ngx_ws_conn_rec_t *rec);

/* presence: the members of channels (ngx_ws_presence.c) */
ngx_int_t ngx_ws_presence_join(ngx_ws_zone_t *zone,
    ngx_ws_channel_node_t *cn, ngx_str_t *id, ngx_log_t *log,
    ngx_uint_t *member, ngx_ws_stored_t *st);
ngx_int_t ngx_ws_presence_part(ngx_ws_zone_t *zone,
    ngx_ws_channel_node_t *cn, ngx_str_t *id, char *reason, ngx_log_t *log,
    ngx_ws_stored_t *st);
void ngx_ws_presence_forget_slot(ngx_ws_zone_t *zone, ngx_uint_t slot,
    char *reason);
size_t ngx_ws_presence_json_len(ngx_ws_channel_node_t *cn);
u_char *ngx_ws_presence_json(u_char *p, ngx_ws_channel_node_t *cn);

/* for the publisher endpoint (ngx_ws_publisher.c) */
ngx_int_t ngx_ws_channel_name(ngx_ws_zone_t *zone, ngx_str_t *name,
    ngx_uint_t level, char *who, ngx_log_t *log);
void ngx_ws_zone_refused(ngx_ws_zone_t *zone, ngx_int_t rc, size_t len,
    ngx_log_t *log);
void ngx_ws_publisher_push(ngx_http_request_t *r, ngx_ws_zone_t *zone,
    ngx_str_t *name, ngx_uint_t opcode, u_char *data, size_t len);
void ngx_ws_publisher_post(ngx_http_request_t *r, ngx_ws_zone_t *zone,
    ngx_str_t *name, ngx_uint_t push);
ngx_int_t ngx_ws_publisher_arg(ngx_http_request_t *r, char *name,
    ngx_str_t *value);
ngx_int_t ngx_ws_publisher_json(ngx_http_request_t *r, u_char *json,
    size_t len);


/* the backplane of a Redis-backed zone (ngx_ws_redis_bp.c) */

/* the outcome of a publish: NGX_OK and its id, or NGX_ERROR */
typedef void (*ngx_ws_redis_published_pt)(void *data, ngx_int_t rc,
    uint64_t id);

ngx_int_t ngx_ws_redis_bp_init_process(ngx_cycle_t *cycle);
void ngx_ws_redis_bp_exit_process(ngx_cycle_t *cycle);
ngx_int_t ngx_ws_redis_publish(ngx_ws_zone_t *zone, ngx_str_t *name,
    ngx_ws_policy_t *pol, ngx_uint_t opcode, u_char *data, size_t len,
    ngx_ws_redis_published_pt handler, void *hdata);

/*
 * the outcome of a push to a connection of another instance: NGX_OK,
 * NGX_DECLINED (gone everywhere) or NGX_ERROR (Redis failed)
 */
typedef void (*ngx_ws_redis_pushed_pt)(void *data, ngx_int_t rc);

ngx_int_t ngx_ws_redis_push(ngx_ws_zone_t *zone, ngx_str_t *id,
    ngx_uint_t opcode, u_char *data, size_t len,
    ngx_ws_redis_pushed_pt handler, void *hdata);
void ngx_ws_redis_conn_seen(ngx_ws_zone_t *zone, ngx_str_t *name,
    ngx_uint_t on);
void ngx_ws_redis_channel_gone(ngx_ws_zone_t *zone, ngx_str_t *name);

typedef struct {
    ngx_str_t                   id;
    ngx_uint_t                  n;                /* its connections */
} ngx_ws_redis_member_t;

/*
 * the subscribers of a channel on the other live instances, its last id
 * in Redis (0: none) and, when asked for, the members on the other live
 * instances (ngx_ws_redis_member_t, valid during the call); rc as above
 */
typedef void (*ngx_ws_redis_counted_pt)(void *data, ngx_int_t rc,
    ngx_uint_t subscribers, uint64_t last_id, ngx_array_t *members);

ngx_int_t ngx_ws_redis_count(ngx_ws_zone_t *zone, ngx_str_t *name,
    ngx_uint_t members, ngx_ws_redis_counted_pt handler, void *hdata);


/* subscribers of other transports (ngx_ws_sse.c) */
ngx_ws_sub_t *ngx_ws_channel_subscribe(ngx_ws_zone_t *zone, ngx_str_t *name,
    int64_t last_id, ngx_ws_transport_t *t, void *data, ngx_queue_t *subs,
    ngx_log_t *log);
void ngx_ws_channel_unsubscribe(ngx_ws_sub_t *sub);
int64_t ngx_ws_channel_last_id(ngx_pool_t *pool, ngx_str_t *value,
    ngx_str_t *name);
ngx_ws_shared_t *ngx_ws_channel_history_lost(ngx_str_t *name,
    int64_t last_id, uint64_t first, ngx_ws_transport_t *t, ngx_log_t *log);


extern ngx_ws_wake_pt       ngx_ws_wake_handler;
extern ngx_ws_transport_t  *ngx_ws_transports[NGX_WS_TRANSPORTS];

/*
 * The publish of the presence events of Redis-backed zones: as
 * ngx_ws_redis_publish(), or NGX_AGAIN while the worker's first connection
 * is being made; set by ngx_ws_redis_bp.c (which wakes through
 * ngx_ws_notify.c, which calls the presence code)
 */
typedef ngx_int_t (*ngx_ws_redis_publish_pt)(ngx_ws_zone_t *zone,
    ngx_str_t *name, ngx_ws_policy_t *pol, ngx_uint_t opcode, u_char *data,
    size_t len, ngx_ws_redis_published_pt handler, void *hdata);

extern ngx_ws_redis_publish_pt  ngx_ws_presence_publisher;


#endif /* _NGX_WS_ZONE_H_INCLUDED_ */
