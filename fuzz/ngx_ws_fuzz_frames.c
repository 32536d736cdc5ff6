
/*
 * Copyright (C) ngx_ws_module authors
 */


/*
 * The incremental frame parser (ngx_ws_parse) driven by the engine's read
 * loop (ngx_ws_input): control frames are answered, messages echoed, and
 * failures queue a Close, through the module's own output queue (see
 * ngx_ws_fuzz_conn.h: each input runs chunked and whole, and both runs
 * must write the same bytes and end the same way).
 *
 * The first byte of the stream chooses the configuration, with small
 * limits so that the size checks are hit:
 *   bit 0     ws_echo
 *   bit 1     debug log level (the log goes to /dev/null)
 *   bits 2-3  ws_max_frame_size    1, 16, 126, 65536
 *   bits 4-5  ws_max_message_size  1, 20, 300, 1m
 *   bits 6-7  ws_send_buffer       0, 16, 256, 1m
 */


#include "ngx_ws_fuzz_conn.h"


static size_t  ngx_ws_fuzz_frame_sizes[] = { 1, 16, 126, 65536 };
static size_t  ngx_ws_fuzz_message_sizes[] = { 1, 20, 300, 1024 * 1024 };
static size_t  ngx_ws_fuzz_send_buffers[] = { 0, 16, 256, 1024 * 1024 };


int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
    ngx_ws_fuzz_init();

    return 0;
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    u_char                 cf;
    ngx_ws_loc_conf_t      conf;
    ngx_ws_fuzz_chunks_t   ch, whole;
    ngx_ws_fuzz_result_t   chunked, once;

    (void) ngx_ws_fuzz_chunking(&ch, &data, &size);

    if (size == 0) {
        return 0;
    }

    cf = data[0];
    data++;
    size--;

    ngx_memzero(&conf, sizeof(ngx_ws_loc_conf_t));

    conf.enable = 1;
    conf.echo = cf & 1;
    conf.max_frame_size = ngx_ws_fuzz_frame_sizes[(cf >> 2) & 3];
    conf.max_message_size = ngx_ws_fuzz_message_sizes[(cf >> 4) & 3];
    conf.send_buffer = ngx_ws_fuzz_send_buffers[(cf >> 6) & 3];
    conf.send_timeout = 60000;
    conf.close_timeout = 5000;

    ngx_ws_fuzz_log.log_level = (cf & 2) ? NGX_LOG_DEBUG_ALL : NGX_LOG_INFO;

    ngx_memzero(&chunked, sizeof(ngx_ws_fuzz_result_t));
    ngx_memzero(&once, sizeof(ngx_ws_fuzz_result_t));

    ngx_ws_fuzz_run(&conf, data, size, &ch, &chunked, NULL, NULL);

    ngx_memzero(&whole, sizeof(ngx_ws_fuzz_chunks_t));
    ngx_ws_fuzz_run(&conf, data, size, &whole, &once, NULL, NULL);

    ngx_ws_fuzz_compare(&chunked, &once);

    ngx_ws_fuzz_log.log_level = NGX_LOG_INFO;

    return 0;
}
