
/*
 * Copyright (C) ngx_ws_module authors
 */


#ifndef _NGX_WS_FUZZ_H_INCLUDED_
#define _NGX_WS_FUZZ_H_INCLUDED_


/*
 * What the libFuzzer harnesses share: the process-wide state nginx code
 * expects (page size, cached time, timers, a cycle with a log) and the
 * chunking of an input.  Each harness is linked with the objects of an
 * nginx built with the module compiled in (util/build-nginx fuzz), minus
 * nginx.o and its main().
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_event.h>
#include <ngx_http.h>
#include "ngx_ws_module.h"


int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);


static ngx_open_file_t  ngx_ws_fuzz_file;
static ngx_log_t        ngx_ws_fuzz_log;
static ngx_cycle_t      ngx_ws_fuzz_cycle;


/* the log goes to /dev/null: what matters is that formatting it is safe */

static void
ngx_ws_fuzz_init(void)
{
    ngx_uint_t  n;

    ngx_pagesize = getpagesize();
    for (n = ngx_pagesize; n >>= 1; ngx_pagesize_shift++) { /* void */ }
    ngx_cacheline_size = NGX_CPU_CACHE_LINE;

    ngx_time_init();

    ngx_use_stderr = 0;

    /* NGX_WS_FUZZ_LOG=1: the log to stderr, to read a reproduction */

    ngx_ws_fuzz_file.fd = getenv("NGX_WS_FUZZ_LOG")
                          ? STDERR_FILENO : open("/dev/null", O_WRONLY);
    if (ngx_ws_fuzz_file.fd == -1) {
        abort();
    }

    ngx_ws_fuzz_log.file = &ngx_ws_fuzz_file;
    ngx_ws_fuzz_log.log_level = NGX_LOG_INFO;

    ngx_ws_fuzz_cycle.log = &ngx_ws_fuzz_log;
    ngx_cycle = &ngx_ws_fuzz_cycle;

    ngx_event_timer_init(&ngx_ws_fuzz_log);
}


/*
 * An input may start with its own chunking: a byte k, then k chunk sizes
 * (1..256 each, used in turn); the rest is the stream.
 */

typedef struct {
    const u_char  *sizes;
    size_t         nsizes;
    size_t         next;
} ngx_ws_fuzz_chunks_t;


static size_t
ngx_ws_fuzz_chunking(ngx_ws_fuzz_chunks_t *ch, const u_char **data,
    size_t *size)
{
    size_t  k;

    ch->sizes = NULL;
    ch->nsizes = 0;
    ch->next = 0;

    if (*size == 0) {
        return 0;
    }

    k = (*data)[0] % 16;
    (*data)++;
    (*size)--;

    if (k > *size) {
        k = *size;
    }

    ch->sizes = *data;
    ch->nsizes = k;

    *data += k;
    *size -= k;

    return k;
}


static size_t
ngx_ws_fuzz_next_chunk(ngx_ws_fuzz_chunks_t *ch)
{
    size_t  n;

    if (ch->nsizes == 0) {
        return (size_t) -1;           /* all at once */
    }

    n = (size_t) ch->sizes[ch->next++ % ch->nsizes] + 1;

    return n;
}


#endif /* _NGX_WS_FUZZ_H_INCLUDED_ */
