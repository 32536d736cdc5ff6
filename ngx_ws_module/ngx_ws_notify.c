
/*
 * Copyright (C) ngx_ws_module authors
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include <ngx_channel.h>
#include "ngx_ws_module.h"
#include "ngx_ws_zone.h"


/*
 * Worker slots and wake-ups.  A zone has NGX_WS_MAX_SLOTS slots in its
 * shared header; each worker takes one in every zone at start and gives it
 * back at exit.  The worker in slot k is woken by a datagram on the k-th of
 * the zone's socket pairs: the master makes them (init_module, before any
 * worker is forked) when the zone is new and keeps them as long as the zone
 * lives, across reloads, so the workers of every generation hold the same
 * ones.  They have no name: only the processes of this nginx have them,
 * nobody else can send a wake-up or take the place of a worker to come, two
 * instances never meet, and the socket a notice comes on tells its zone.
 *
 * A worker that dies without exiting (SIGKILL, a crash) is found out by the
 * others within a second (a timer looks at the pids of the slots) and by
 * every worker that starts: its subscribers are taken off the counts, the
 * channels of its connections deleted, its bits cleared from the channels
 * and the messages, and its slot freed.  A pid is told from a newer process
 * with the same pid by the start time of the process (Linux); elsewhere, a
 * pid reused within that second keeps the slot until that process ends.
 */


#define NGX_WS_REAP_INTERVAL  1000


static void ngx_ws_notify_cleanup(void *data);
static ngx_int_t ngx_ws_notify_pairs(ngx_cycle_t *cycle, ngx_ws_zone_t *zone);
static void ngx_ws_zone_take_slot(ngx_cycle_t *cycle, ngx_ws_zone_t *zone);
static ngx_uint_t ngx_ws_slot_gone(ngx_ws_sh_slot_t *slot, ngx_pid_t pid);
static uint64_t ngx_ws_proc_start(ngx_pid_t pid, u_char *state);
static void ngx_ws_zone_reap(ngx_ws_zone_t *zone);
static void ngx_ws_reap_handler(ngx_event_t *ev);
static void ngx_ws_notify_handler(ngx_event_t *ev);
static void ngx_ws_presence_wake(ngx_ws_zone_t *zone);


/*
 * The worker's reap timer, armed at init_process: a worker has one cycle,
 * and the handler reads the zones of ngx_cycle at each run.
 */

static ngx_event_t  ngx_ws_reap_event;
static void        *ngx_ws_reap_ident[4];


/* set at configuration time by the channel code: what a wake-up delivers */
ngx_ws_wake_pt      ngx_ws_wake_handler;


/*
 * In the master, after the zones are set up: a zone kept across a reload
 * keeps its socket pairs (the old workers listen on them), a new one gets
 * its own.  The pairs of a zone that is gone are closed with the old cycle.
 */

ngx_int_t
ngx_ws_notify_init_module(ngx_cycle_t *cycle)
{
    ngx_uint_t           i;
    ngx_ws_zone_t      **zones, *zone;
    ngx_pool_cleanup_t  *cln;
    ngx_ws_main_conf_t  *wmcf;

    wmcf = ngx_http_cycle_get_module_main_conf(cycle, ngx_ws_module);

    if (wmcf == NULL || wmcf->zones.nelts == 0) {
        return NGX_OK;
    }

    cln = ngx_pool_cleanup_add(cycle->pool, 0);
    if (cln == NULL) {
        return NGX_ERROR;
    }

    cln->handler = ngx_ws_notify_cleanup;
    cln->data = wmcf;

    zones = wmcf->zones.elts;

    for (i = 0; i < wmcf->zones.nelts; i++) {
        zone = zones[i];

        if (zone->sh == NULL) {
            continue;
        }

        if (zone->prev && zone->prev->notify_n) {
            ngx_memcpy(zone->notify, zone->prev->notify,
                       sizeof(zone->notify));
            zone->notify_n = zone->prev->notify_n;

            /* the old cycle does not close them */
            zone->prev->notify_n = 0;
            zone->prev = NULL;
            continue;
        }

        zone->prev = NULL;

        if (ngx_ws_notify_pairs(cycle, zone) != NGX_OK) {
            return NGX_ERROR;
        }
    }

    return NGX_OK;
}


static ngx_int_t
ngx_ws_notify_pairs(ngx_cycle_t *cycle, ngx_ws_zone_t *zone)
{
    int          fds[2];
    ngx_uint_t   k, j;

    for (k = 0; k < NGX_WS_MAX_SLOTS; k++) {

        if (socketpair(AF_UNIX, SOCK_DGRAM, 0, fds) == -1) {
            ngx_log_error(NGX_LOG_EMERG, cycle->log, ngx_socket_errno,
                          "ws_zone \"%V\": socketpair() failed",
                          &zone->name);
            return NGX_ERROR;
        }

        zone->notify[k][0] = fds[0];
        zone->notify[k][1] = fds[1];
        zone->notify_n = k + 1;

        for (j = 0; j < 2; j++) {
            if (ngx_nonblocking(fds[j]) == -1) {
                ngx_log_error(NGX_LOG_EMERG, cycle->log, ngx_socket_errno,
                              ngx_nonblocking_n " failed");
                return NGX_ERROR;
            }

            /* workers inherit them; a new binary (USR2) does not */

            if (fcntl(fds[j], F_SETFD, FD_CLOEXEC) == -1) {
                ngx_log_error(NGX_LOG_EMERG, cycle->log, ngx_errno,
                              "fcntl(FD_CLOEXEC) failed");
                return NGX_ERROR;
            }
        }
    }

    return NGX_OK;
}


static void
ngx_ws_notify_cleanup(void *data)
{
    ngx_ws_main_conf_t  *wmcf = data;

    ngx_uint_t       i, k, j;
    ngx_ws_zone_t  **zones, *zone;

    zones = wmcf->zones.elts;

    for (i = 0; i < wmcf->zones.nelts; i++) {
        zone = zones[i];

        for (k = 0; k < zone->notify_n; k++) {
            for (j = 0; j < 2; j++) {
                if (zone->notify[k][j] != (ngx_socket_t) -1) {
                    (void) close(zone->notify[k][j]);
                    zone->notify[k][j] = (ngx_socket_t) -1;
                }
            }
        }

        zone->notify_n = 0;
    }
}


/* in each worker: take a slot in every zone, and listen on its socket */

ngx_int_t
ngx_ws_zone_init_process(ngx_cycle_t *cycle)
{
    ngx_uint_t           i, any;
    ngx_ws_zone_t      **zones, *zone;
    ngx_ws_main_conf_t  *wmcf;

    if (ngx_process == NGX_PROCESS_HELPER) {
        /* the cache manager and loader have no subscribers */
        return NGX_OK;
    }

    wmcf = ngx_http_cycle_get_module_main_conf(cycle, ngx_ws_module);

    if (wmcf == NULL || wmcf->zones.nelts == 0) {
        return NGX_OK;
    }

    zones = wmcf->zones.elts;
    any = 0;

    for (i = 0; i < wmcf->zones.nelts; i++) {
        zone = zones[i];

        ngx_rbtree_init(&zone->spools, &zone->spools_sentinel,
                        ngx_rbtree_insert_value);

        if (zone->sh == NULL) {
            continue;
        }

        ngx_ws_zone_take_slot(cycle, zone);

        if (zone->slot != -1) {
            any = 1;
        }
    }

    if (any) {
        ngx_ws_reap_ident[3] = (void *) -1;

        ngx_ws_reap_event.handler = ngx_ws_reap_handler;
        ngx_ws_reap_event.data = ngx_ws_reap_ident;
        ngx_ws_reap_event.log = cycle->log;
        ngx_ws_reap_event.cancelable = 1;

        ngx_add_timer(&ngx_ws_reap_event, NGX_WS_REAP_INTERVAL);
    }

    return NGX_OK;
}


static void
ngx_ws_zone_take_slot(ngx_cycle_t *cycle, ngx_ws_zone_t *zone)
{
    uint64_t           start;
    ngx_pid_t          pid, gone[NGX_WS_MAX_SLOTS];
    ngx_uint_t         k, n;
    ngx_ws_sh_slot_t  *slot;

    start = ngx_ws_proc_start(ngx_pid, NULL);
    n = 0;

    ngx_shmtx_lock(&zone->shpool->mutex);

    /* every slot of a worker that died, not just one */

    for (k = 0; k < NGX_WS_MAX_SLOTS; k++) {
        slot = &zone->sh->slots[k];
        pid = slot->pid;

        if (pid != 0 && (pid == ngx_pid || ngx_ws_slot_gone(slot, pid))) {
            ngx_ws_presence_forget_slot(zone, k, "crash");
            ngx_ws_zone_forget_slot(zone, k);
            slot->pid = 0;
            gone[n++] = pid;
        }
    }

    for (k = 0; k < NGX_WS_MAX_SLOTS; k++) {
        slot = &zone->sh->slots[k];

        if (slot->pid == 0) {
            slot->pid = ngx_pid;
            slot->start = start;
            slot->rescan = 0;
            zone->slot = k;
            break;
        }
    }

    ngx_shmtx_unlock(&zone->shpool->mutex);

    ngx_ws_presence_wake(zone);

    for (k = 0; k < n; k++) {
        ngx_log_error(NGX_LOG_NOTICE, cycle->log, 0,
                      "ws_zone \"%V\": worker %P is gone, its slot and "
                      "subscribers are taken back", &zone->name, gone[k]);
    }

    if (zone->slot == -1) {
        ngx_log_error(NGX_LOG_ALERT, cycle->log, 0,
                      "ws_zone \"%V\" has no free worker slot: "
                      "this worker's subscribers miss messages "
                      "published by other workers", &zone->name);
        return;
    }

    if ((ngx_uint_t) zone->slot >= zone->notify_n) {
        ngx_log_error(NGX_LOG_ALERT, cycle->log, 0,
                      "ws_zone \"%V\" has no wake-up socket", &zone->name);
        return;
    }

    /* only the slot's own end is read here */

    for (k = 0; k < zone->notify_n; k++) {
        if (k != (ngx_uint_t) zone->slot
            && zone->notify[k][1] != (ngx_socket_t) -1)
        {
            (void) close(zone->notify[k][1]);
            zone->notify[k][1] = (ngx_socket_t) -1;
        }
    }

    if (ngx_add_channel_event(cycle, zone->notify[zone->slot][1],
                              NGX_READ_EVENT, ngx_ws_notify_handler)
        != NGX_OK)
    {
        ngx_log_error(NGX_LOG_ALERT, cycle->log, 0,
                      "ws_zone \"%V\": the wake-up socket cannot be read",
                      &zone->name);
    }
}


/* a slot's worker has died (or its pid belongs to another process now) */

static ngx_uint_t
ngx_ws_slot_gone(ngx_ws_sh_slot_t *slot, ngx_pid_t pid)
{
    u_char    state;
    uint64_t  start;

    if (kill(pid, 0) == -1 && ngx_errno == NGX_ESRCH) {
        return 1;
    }

    state = 0;
    start = ngx_ws_proc_start(pid, &state);

    if (state == 'Z' || state == 'X') {
        return 1;
    }

    return (slot->start && start && start != slot->start) ? 1 : 0;
}


/*
 * The start time of a process (clock ticks since boot) from /proc, and its
 * state; 0 when it cannot be told.
 */

static uint64_t
ngx_ws_proc_start(ngx_pid_t pid, u_char *state)
{
#if (NGX_LINUX)
    u_char      *p, *last;
    ssize_t      n;
    uint64_t     start;
    ngx_fd_t     fd;
    ngx_uint_t   field;
    u_char       path[sizeof("/proc//stat") + NGX_INT64_LEN];
    u_char       buf[1024];

    ngx_sprintf(path, "/proc/%P/stat%Z", pid);

    fd = ngx_open_file(path, NGX_FILE_RDONLY, NGX_FILE_OPEN, 0);
    if (fd == NGX_INVALID_FILE) {
        return 0;
    }

    n = read(fd, buf, sizeof(buf));
    (void) ngx_close_file(fd);

    if (n <= 0) {
        return 0;
    }

    /* the command in parentheses may hold anything: fields follow the last
     * ")"; then the state (field 3) ... the start time (field 22) */

    last = buf + n;

    for (p = last; p > buf && p[-1] != ')'; p--) { /* void */ }

    if (p == buf || last - p < 3) {
        return 0;
    }

    if (state) {
        *state = p[1];
    }

    for (field = 2; p < last && field < 22; p++) {
        if (*p == ' ') {
            field++;
        }
    }

    start = 0;

    while (p < last && *p >= '0' && *p <= '9') {
        start = start * 10 + (*p++ - '0');
    }

    return start;

#else
    return 0;
#endif
}


/*
 * The slots of workers that died: a look without the lock first (nothing
 * to do most of the time), then again under it.
 */

static void
ngx_ws_zone_reap(ngx_ws_zone_t *zone)
{
    ngx_pid_t          pid;
    ngx_uint_t         k, gone;
    ngx_ws_sh_slot_t  *slot;

    for (k = 0; k < NGX_WS_MAX_SLOTS; k++) {
        slot = &zone->sh->slots[k];
        pid = slot->pid;

        if (pid == 0 || k == (ngx_uint_t) zone->slot
            || !ngx_ws_slot_gone(slot, pid))
        {
            continue;
        }

        ngx_shmtx_lock(&zone->shpool->mutex);

        gone = (slot->pid == pid && ngx_ws_slot_gone(slot, pid));

        if (gone) {
            ngx_ws_presence_forget_slot(zone, k, "crash");
            ngx_ws_zone_forget_slot(zone, k);
            slot->pid = 0;
        }

        ngx_shmtx_unlock(&zone->shpool->mutex);

        ngx_ws_presence_wake(zone);

        if (gone) {
            ngx_log_error(NGX_LOG_NOTICE, ngx_cycle->log, 0,
                          "ws_zone \"%V\": worker %P is gone, its slot and "
                          "subscribers are taken back", &zone->name, pid);
        }
    }
}


static void
ngx_ws_reap_handler(ngx_event_t *ev)
{
    ngx_uint_t           i;
    ngx_ws_zone_t      **zones;
    ngx_ws_main_conf_t  *wmcf;

    wmcf = ngx_http_cycle_get_module_main_conf(ngx_cycle, ngx_ws_module);
    zones = wmcf->zones.elts;

    for (i = 0; i < wmcf->zones.nelts; i++) {
        if (zones[i]->sh && zones[i]->slot != -1) {
            ngx_ws_zone_reap(zones[i]);
        }
    }

    ngx_add_timer(ev, NGX_WS_REAP_INTERVAL);
}


void
ngx_ws_zone_exit_process(ngx_cycle_t *cycle)
{
    ngx_uint_t           i;
    ngx_ws_zone_t      **zones, *zone;
    ngx_ws_main_conf_t  *wmcf;

    wmcf = ngx_http_cycle_get_module_main_conf(cycle, ngx_ws_module);

    if (wmcf == NULL) {
        return;
    }

    zones = wmcf->zones.elts;

    for (i = 0; i < wmcf->zones.nelts; i++) {
        zone = zones[i];

        if (zone->sh == NULL || zone->slot == -1) {
            continue;
        }

        ngx_shmtx_lock(&zone->shpool->mutex);

        if (zone->sh->slots[zone->slot].pid == ngx_pid) {
            ngx_ws_presence_forget_slot(zone, zone->slot, "closed");
            ngx_ws_zone_forget_slot(zone, zone->slot);
            zone->sh->slots[zone->slot].pid = 0;
        }

        ngx_shmtx_unlock(&zone->shpool->mutex);

        ngx_ws_presence_wake(zone);
    }
}


/*
 * Presence events stored while a dead worker's slot was taken back
 * (ngx_ws_presence_forget_slot()): the workers with subscribers of their
 * channels look at every channel, this one too.
 */

static void
ngx_ws_presence_wake(ngx_ws_zone_t *zone)
{
    uint64_t  wake;

    wake = zone->presence_wake;

    if (wake == 0) {
        return;
    }

    zone->presence_wake = 0;

    ngx_ws_zone_notify(zone, wake, 0);

    if (zone->slot != -1 && (wake & ((uint64_t) 1 << zone->slot))
        && zone->sh->slots[zone->slot].pid == ngx_pid
        && ngx_ws_wake_handler)
    {
        ngx_ws_wake_handler(zone, 0);
    }
}


/* wakes the workers in the mask (other than this one) */

void
ngx_ws_zone_notify(ngx_ws_zone_t *zone, uint64_t workers, uint64_t uid)
{
    ngx_uint_t        i;
    ngx_ws_notice_t   notice;

    notice.uid = uid;

    for (i = 0; i < zone->notify_n; i++) {

        if (!(workers & ((uint64_t) 1 << i))
            || i == (ngx_uint_t) zone->slot
            || zone->sh->slots[i].pid == 0)
        {
            continue;
        }

        if (send(zone->notify[i][0], &notice, sizeof(ngx_ws_notice_t), 0)
            == -1)
        {
            /* it will look at everything when it wakes up anyway */
            zone->sh->slots[i].rescan = 1;

            ngx_log_debug1(NGX_LOG_DEBUG_HTTP, ngx_cycle->log, ngx_errno,
                           "ws notify slot:%ui failed", i);
        }
    }
}


static void
ngx_ws_notify_handler(ngx_event_t *ev)
{
    ssize_t              n;
    ngx_uint_t           i;
    ngx_ws_zone_t      **zones, *zone;
    ngx_connection_t    *c;
    ngx_ws_notice_t      notice;
    ngx_ws_main_conf_t  *wmcf;

    c = ev->data;

    wmcf = ngx_http_cycle_get_module_main_conf(ngx_cycle, ngx_ws_module);
    zones = wmcf->zones.elts;
    zone = NULL;

    for (i = 0; i < wmcf->zones.nelts; i++) {
        if (zones[i]->slot != -1
            && (ngx_uint_t) zones[i]->slot < zones[i]->notify_n
            && zones[i]->notify[zones[i]->slot][1] == c->fd)
        {
            zone = zones[i];
            break;
        }
    }

    for ( ;; ) {
        n = recv(c->fd, &notice, sizeof(ngx_ws_notice_t), 0);

        if (n == -1) {
            if (ngx_socket_errno != NGX_EAGAIN
                && ngx_socket_errno != NGX_EINTR)
            {
                ngx_log_error(NGX_LOG_ALERT, ev->log, ngx_socket_errno,
                              "ws notification recv() failed");
            }

            break;
        }

        if (zone == NULL || n != sizeof(ngx_ws_notice_t)) {
            continue;
        }

        ngx_ws_wake_handler(zone, notice.uid);
    }

    if (zone && zone->sh->slots[zone->slot].rescan) {
        /* a wake-up was lost: every channel of the zone is looked at */
        zone->sh->slots[zone->slot].rescan = 0;
        ngx_ws_wake_handler(zone, 0);
    }
}

