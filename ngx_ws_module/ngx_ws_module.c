
/*
 * Copyright (C) ngx_ws_module authors
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include "ngx_ws_module.h"
#include "ngx_ws_zone.h"


static void *ngx_ws_create_main_conf(ngx_conf_t *cf);
static void *ngx_ws_create_loc_conf(ngx_conf_t *cf);
static char *ngx_ws_merge_loc_conf(ngx_conf_t *cf, void *parent, void *child);
static ngx_flag_t ngx_ws_merge_release(ngx_ws_loc_conf_t *conf);
static char *ngx_ws_websocket(ngx_conf_t *cf, ngx_command_t *cmd, void *conf);
static char *ngx_ws_origins(ngx_conf_t *cf, ngx_command_t *cmd, void *conf);
static ngx_int_t ngx_ws_parse_origin(ngx_conf_t *cf, ngx_str_t *value,
    ngx_ws_origin_t *o);
static char *ngx_ws_subprotocols(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_ws_check_size(ngx_conf_t *cf, void *post, void *data);
static char *ngx_ws_set_uri(ngx_conf_t *cf, ngx_command_t *cmd, void *conf);
static ngx_int_t ngx_ws_init(ngx_conf_t *cf);
static ngx_int_t ngx_ws_init_module(ngx_cycle_t *cycle);
static ngx_int_t ngx_ws_init_process(ngx_cycle_t *cycle);
static void ngx_ws_exit_process(ngx_cycle_t *cycle);
static char *ngx_ws_subscribe(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_ws_publish_conf(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_ws_push(ngx_conf_t *cf, ngx_command_t *cmd, void *conf);


static ngx_conf_enum_t  ngx_ws_slow_subscribers[] = {
    { ngx_string("close"), NGX_WS_SLOW_CLOSE },
    { ngx_string("drop"), NGX_WS_SLOW_DROP },
    { ngx_null_string, 0 }
};


static ngx_conf_enum_t  ngx_ws_publish_classes[] = {
    { ngx_string("normal"), NGX_WS_CLASS_NORMAL },
    { ngx_string("droppable"), NGX_WS_CLASS_DROPPABLE },
    { ngx_string("critical"), NGX_WS_CLASS_CRITICAL },
    { ngx_null_string, 0 }
};


static ngx_conf_enum_t  ngx_ws_pass_errors[] = {
    { ngx_string("close"), NGX_WS_PASS_ERROR_CLOSE },
    { ngx_string("ignore"), NGX_WS_PASS_ERROR_IGNORE },
    { ngx_string("message"), NGX_WS_PASS_ERROR_MESSAGE },
    { ngx_null_string, 0 }
};


static ngx_conf_enum_t  ngx_ws_pass_formats[] = {
    { ngx_string("headers"), NGX_WS_PASS_FORMAT_HEADERS },
    { ngx_string("websocket-events"), NGX_WS_PASS_FORMAT_EVENTS },
    { ngx_null_string, 0 }
};


static ngx_conf_enum_t  ngx_ws_snapshot_errors[] = {
    { ngx_string("close"), NGX_WS_SNAPSHOT_CLOSE },
    { ngx_string("continue"), NGX_WS_SNAPSHOT_CONTINUE },
    { ngx_null_string, 0 }
};


static ngx_conf_enum_t  ngx_ws_limit_actions[] = {
    { ngx_string("delay"), NGX_WS_LIMIT_DELAY },
    { ngx_string("close"), NGX_WS_LIMIT_CLOSE },
    { ngx_null_string, 0 }
};


/* ws_security_log_level: as limit_req_log_level */

static ngx_conf_enum_t  ngx_ws_security_log_levels[] = {
    { ngx_string("info"), NGX_LOG_INFO },
    { ngx_string("notice"), NGX_LOG_NOTICE },
    { ngx_string("warn"), NGX_LOG_WARN },
    { ngx_string("error"), NGX_LOG_ERR },
    { ngx_null_string, 0 }
};


static ngx_conf_num_bounds_t  ngx_ws_pass_queue_bounds = {
    ngx_conf_check_num_bounds, 1, 65536
};


static ngx_conf_num_bounds_t  ngx_ws_deflate_level_bounds = {
    ngx_conf_check_num_bounds, 1, 9
};


static ngx_conf_num_bounds_t  ngx_ws_deflate_window_bits_bounds = {
    ngx_conf_check_num_bounds, 9, 15
};


static ngx_conf_num_bounds_t  ngx_ws_deflate_mem_level_bounds = {
    ngx_conf_check_num_bounds, 1, 9
};


static ngx_conf_post_handler_pt  ngx_ws_check_size_p = ngx_ws_check_size;

static ngx_str_t  ngx_ws_default_last_id = ngx_string("$arg_last_id");


static ngx_command_t  ngx_ws_commands[] = {

    { ngx_string("websocket"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS,
      ngx_ws_websocket,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("ws_echo"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_FLAG,
      ngx_conf_set_flag_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_ws_loc_conf_t, echo),
      NULL },

    { ngx_string("ws_route"),
      NGX_HTTP_LOC_CONF|NGX_CONF_2MORE,
      ngx_ws_route_conf,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("ws_route_field"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_str_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_ws_loc_conf_t, route_field),
      NULL },

    { ngx_string("ws_route_correlation"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_str_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_ws_loc_conf_t, route_correlation),
      NULL },

    { ngx_string("ws_route_error"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF
                        |NGX_CONF_TAKE12,
      ngx_ws_route_error_conf,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("ws_origins"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_1MORE,
      ngx_ws_origins,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("ws_subprotocols"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_1MORE,
      ngx_ws_subprotocols,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("ws_subprotocol_required"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_FLAG,
      ngx_conf_set_flag_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_ws_loc_conf_t, subprotocol_required),
      NULL },

    { ngx_string("ws_max_frame_size"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_size_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_ws_loc_conf_t, max_frame_size),
      &ngx_ws_check_size_p },

    { ngx_string("ws_max_message_size"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_size_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_ws_loc_conf_t, max_message_size),
      &ngx_ws_check_size_p },

    { ngx_string("ws_send_buffer"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_size_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_ws_loc_conf_t, send_buffer),
      &ngx_ws_check_size_p },

    { ngx_string("ws_send_timeout"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_msec_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_ws_loc_conf_t, send_timeout),
      NULL },

    { ngx_string("ws_ping_interval"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_msec_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_ws_loc_conf_t, ping_interval),
      NULL },

    { ngx_string("ws_pong_timeout"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_msec_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_ws_loc_conf_t, pong_timeout),
      NULL },

    { ngx_string("ws_idle_timeout"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_msec_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_ws_loc_conf_t, idle_timeout),
      NULL },

    { ngx_string("ws_shutdown_delay"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_msec_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_ws_loc_conf_t, shutdown_delay),
      NULL },

    { ngx_string("ws_drain_window"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_msec_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_ws_loc_conf_t, drain_window),
      NULL },

    { ngx_string("ws_close_timeout"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_msec_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_ws_loc_conf_t, close_timeout),
      NULL },

    { ngx_string("ws_pass"),
      NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_ws_set_uri,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_ws_loc_conf_t, pass),
      NULL },

    { ngx_string("ws_on_connect"),
      NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_ws_set_uri,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_ws_loc_conf_t, on_connect),
      NULL },

    { ngx_string("ws_on_disconnect"),
      NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_ws_set_uri,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_ws_loc_conf_t, on_disconnect),
      NULL },

    { ngx_string("ws_pass_queue"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_num_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_ws_loc_conf_t, pass_queue),
      &ngx_ws_pass_queue_bounds },

    { ngx_string("ws_pass_error"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_enum_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_ws_loc_conf_t, pass_error),
      &ngx_ws_pass_errors },

    { ngx_string("ws_pass_format"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_enum_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_ws_loc_conf_t, pass_format),
      &ngx_ws_pass_formats },

    { ngx_string("ws_snapshot"),
      NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_set_complex_value_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_ws_loc_conf_t, snapshot),
      NULL },

    { ngx_string("ws_snapshot_error"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_enum_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_ws_loc_conf_t, snapshot_error),
      &ngx_ws_snapshot_errors },

    { ngx_string("ws_snapshot_timeout"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_msec_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_ws_loc_conf_t, snapshot_timeout),
      NULL },

    { ngx_string("ws_auth_request"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_ws_set_uri,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_ws_loc_conf_t, auth_request),
      NULL },

    { ngx_string("ws_auth_pass_header"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_str_array_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_ws_loc_conf_t, auth_pass_headers),
      NULL },

    { ngx_string("ws_message_auth_request"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_ws_set_uri,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_ws_loc_conf_t, msgauth),
      NULL },

    { ngx_string("ws_message_auth_cache"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF
                        |NGX_CONF_TAKE12,
      ngx_ws_msgauth_cache_conf,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("ws_message_auth_error"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF
                        |NGX_CONF_TAKE12,
      ngx_ws_msgauth_error_conf,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("ws_zone"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_2MORE,
      ngx_ws_zone,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("ws_subscribe"),
      NGX_HTTP_LOC_CONF|NGX_CONF_2MORE,
      ngx_ws_subscribe,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("ws_publish"),
      NGX_HTTP_LOC_CONF|NGX_CONF_TAKE2,
      ngx_ws_publish_conf,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("ws_push"),
      NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_ws_push,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_ws_loc_conf_t, push),
      NULL },

    { ngx_string("ws_status"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS,
      ngx_ws_status,
      0,
      0,
      NULL },

    { ngx_string("ws_publisher"),
      NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_ws_push,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_ws_loc_conf_t, publisher),
      NULL },

    { ngx_string("ws_connections"),
      NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_ws_push,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_ws_loc_conf_t, connections),
      NULL },

    { ngx_string("ws_last_id"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_set_complex_value_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_ws_loc_conf_t, last_id),
      NULL },

    { ngx_string("ws_presence"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_set_complex_value_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_ws_loc_conf_t, presence),
      NULL },

    { ngx_string("ws_envelope"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_FLAG,
      ngx_conf_set_flag_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_ws_loc_conf_t, envelope),
      NULL },

    { ngx_string("ws_slow_subscriber"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_enum_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_ws_loc_conf_t, slow_subscriber),
      &ngx_ws_slow_subscribers },

    { ngx_string("ws_publish_class"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_enum_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_ws_loc_conf_t, publish_class),
      &ngx_ws_publish_classes },

    { ngx_string("ws_publish_conflate"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_set_complex_value_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_ws_loc_conf_t, publish_conflate),
      NULL },

    { ngx_string("ws_sse"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS,
      ngx_ws_sse_conf,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("ws_sse_retry"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_msec_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_ws_loc_conf_t, sse_retry),
      NULL },

    { ngx_string("ws_longpoll"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS,
      ngx_ws_longpoll_conf,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("ws_longpoll_timeout"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_msec_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_ws_loc_conf_t, longpoll_timeout),
      NULL },

    { ngx_string("ws_sse_heartbeat"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_msec_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_ws_loc_conf_t, sse_heartbeat),
      NULL },

    { ngx_string("ws_limit_messages"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE12,
      ngx_ws_limit_conf,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_ws_loc_conf_t, limit_messages),
      NULL },

    { ngx_string("ws_limit_bytes"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE12,
      ngx_ws_limit_conf,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_ws_loc_conf_t, limit_bytes),
      NULL },

    { ngx_string("ws_limit_action"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_enum_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_ws_loc_conf_t, limit_action),
      &ngx_ws_limit_actions },

    { ngx_string("ws_limit_message"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE123,
      ngx_ws_limit_zone_conf,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("ws_deflate"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_FLAG,
      ngx_conf_set_flag_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_ws_loc_conf_t, deflate),
      NULL },

    { ngx_string("ws_deflate_level"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_num_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_ws_loc_conf_t, deflate_level),
      &ngx_ws_deflate_level_bounds },

    { ngx_string("ws_deflate_window_bits"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_num_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_ws_loc_conf_t, deflate_window_bits),
      &ngx_ws_deflate_window_bits_bounds },

    { ngx_string("ws_deflate_mem_level"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_num_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_ws_loc_conf_t, deflate_mem_level),
      &ngx_ws_deflate_mem_level_bounds },

    { ngx_string("ws_deflate_min_length"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_size_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_ws_loc_conf_t, deflate_min_length),
      NULL },

    { ngx_string("ws_deflate_context_takeover"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_FLAG,
      ngx_conf_set_flag_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_ws_loc_conf_t, deflate_takeover),
      NULL },

    { ngx_string("ws_security_log_level"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_enum_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_ws_loc_conf_t, security_log_level),
      &ngx_ws_security_log_levels },

      ngx_null_command
};


static ngx_http_module_t  ngx_ws_module_ctx = {
    ngx_ws_add_variables,                  /* preconfiguration */
    ngx_ws_init,                           /* postconfiguration */

    ngx_ws_create_main_conf,               /* create main configuration */
    NULL,                                  /* init main configuration */

    NULL,                                  /* create server configuration */
    NULL,                                  /* merge server configuration */

    ngx_ws_create_loc_conf,                /* create location configuration */
    ngx_ws_merge_loc_conf                  /* merge location configuration */
};


ngx_module_t  ngx_ws_module = {
    NGX_MODULE_V1,
    &ngx_ws_module_ctx,                    /* module context */
    ngx_ws_commands,                       /* module directives */
    NGX_HTTP_MODULE,                       /* module type */
    NULL,                                  /* init master */
    ngx_ws_init_module,                    /* init module */
    ngx_ws_init_process,                   /* init process */
    NULL,                                  /* init thread */
    NULL,                                  /* exit thread */
    ngx_ws_exit_process,                   /* exit process */
    NULL,                                  /* exit master */
    NGX_MODULE_V1_PADDING
};


static void *
ngx_ws_create_main_conf(ngx_conf_t *cf)
{
    ngx_ws_main_conf_t  *wmcf;

    wmcf = ngx_pcalloc(cf->pool, sizeof(ngx_ws_main_conf_t));
    if (wmcf == NULL) {
        return NULL;
    }

    /*
     * set by ngx_pcalloc():
     *
     *     wmcf->recv_buffer = NULL;
     */

    if (ngx_array_init(&wmcf->zones, cf->pool, 2, sizeof(ngx_ws_zone_t *))
        != NGX_OK)
    {
        return NULL;
    }

    return wmcf;
}


static void *
ngx_ws_create_loc_conf(ngx_conf_t *cf)
{
    ngx_ws_loc_conf_t  *wlcf;

    wlcf = ngx_pcalloc(cf->pool, sizeof(ngx_ws_loc_conf_t));
    if (wlcf == NULL) {
        return NULL;
    }

    /*
     * set by ngx_pcalloc():
     *
     *     wlcf->enable = 0;
     *     wlcf->pass = { 0, NULL };
     *     wlcf->on_connect = { 0, NULL };
     *     wlcf->on_disconnect = { 0, NULL };
     *     wlcf->auth_request = { 0, NULL };
     *     wlcf->msgauth = { 0, NULL };
     */

    wlcf->echo = NGX_CONF_UNSET;
    wlcf->origins = NGX_CONF_UNSET_PTR;
    wlcf->origin_none = NGX_CONF_UNSET;
    wlcf->subprotocols = NGX_CONF_UNSET_PTR;
    wlcf->subprotocol_required = NGX_CONF_UNSET;
    wlcf->max_frame_size = NGX_CONF_UNSET_SIZE;
    wlcf->max_message_size = NGX_CONF_UNSET_SIZE;
    wlcf->send_buffer = NGX_CONF_UNSET_SIZE;
    wlcf->send_timeout = NGX_CONF_UNSET_MSEC;
    wlcf->sse_retry = NGX_CONF_UNSET_MSEC;
    wlcf->sse_heartbeat = NGX_CONF_UNSET_MSEC;
    wlcf->longpoll_timeout = NGX_CONF_UNSET_MSEC;
    wlcf->ping_interval = NGX_CONF_UNSET_MSEC;
    wlcf->pong_timeout = NGX_CONF_UNSET_MSEC;
    wlcf->idle_timeout = NGX_CONF_UNSET_MSEC;
    wlcf->close_timeout = NGX_CONF_UNSET_MSEC;
    wlcf->shutdown_delay = NGX_CONF_UNSET_MSEC;
    wlcf->drain_window = NGX_CONF_UNSET_MSEC;
    wlcf->pass_queue = NGX_CONF_UNSET_UINT;
    wlcf->pass_error = NGX_CONF_UNSET_UINT;
    wlcf->pass_format = NGX_CONF_UNSET_UINT;
    wlcf->auth_pass_headers = NGX_CONF_UNSET_PTR;
    wlcf->last_id = NGX_CONF_UNSET_PTR;
    wlcf->presence = NGX_CONF_UNSET_PTR;
    wlcf->snapshot = NGX_CONF_UNSET_PTR;
    wlcf->snapshot_error = NGX_CONF_UNSET_UINT;
    wlcf->snapshot_timeout = NGX_CONF_UNSET_MSEC;
    wlcf->envelope = NGX_CONF_UNSET;
    wlcf->slow_subscriber = NGX_CONF_UNSET_UINT;
    wlcf->publish_class = NGX_CONF_UNSET_UINT;
    wlcf->publish_conflate = NGX_CONF_UNSET_PTR;
    wlcf->limit_messages = NGX_CONF_UNSET_PTR;
    wlcf->limit_bytes = NGX_CONF_UNSET_PTR;
    wlcf->limit_action = NGX_CONF_UNSET_UINT;
    wlcf->limit_zones = NGX_CONF_UNSET_PTR;

    wlcf->deflate = NGX_CONF_UNSET;
    wlcf->deflate_level = NGX_CONF_UNSET_UINT;
    wlcf->deflate_window_bits = NGX_CONF_UNSET_UINT;
    wlcf->deflate_mem_level = NGX_CONF_UNSET_UINT;
    wlcf->deflate_min_length = NGX_CONF_UNSET_SIZE;
    wlcf->deflate_takeover = NGX_CONF_UNSET;

    wlcf->security_log_level = NGX_CONF_UNSET_UINT;

    wlcf->routes = NGX_CONF_UNSET_PTR;
    wlcf->route_error = NGX_CONF_UNSET_UINT;

    wlcf->msgauth_allow = NGX_CONF_UNSET_MSEC;
    wlcf->msgauth_error = NGX_CONF_UNSET_UINT;

    return wlcf;
}


static char *
ngx_ws_merge_loc_conf(ngx_conf_t *cf, void *parent, void *child)
{
    ngx_ws_loc_conf_t *prev = parent;
    ngx_ws_loc_conf_t *conf = child;

    ngx_conf_merge_value(conf->echo, prev->echo, 0);

    ngx_conf_merge_ptr_value(conf->origins, prev->origins, NULL);
    ngx_conf_merge_value(conf->origin_none, prev->origin_none, 0);

    ngx_conf_merge_ptr_value(conf->subprotocols, prev->subprotocols, NULL);
    ngx_conf_merge_value(conf->subprotocol_required,
                         prev->subprotocol_required, 0);

    ngx_conf_merge_size_value(conf->max_frame_size, prev->max_frame_size,
                              1024 * 1024);
    ngx_conf_merge_size_value(conf->max_message_size, prev->max_message_size,
                              1024 * 1024);
    ngx_conf_merge_size_value(conf->send_buffer, prev->send_buffer,
                              1024 * 1024);

    ngx_conf_merge_msec_value(conf->send_timeout, prev->send_timeout, 60000);
    ngx_conf_merge_msec_value(conf->ping_interval, prev->ping_interval,
                              30000);
    ngx_conf_merge_msec_value(conf->pong_timeout, prev->pong_timeout, 10000);
    ngx_conf_merge_msec_value(conf->idle_timeout, prev->idle_timeout, 0);
    ngx_conf_merge_msec_value(conf->close_timeout, prev->close_timeout, 5000);
    ngx_conf_merge_msec_value(conf->shutdown_delay, prev->shutdown_delay, 0);
    ngx_conf_merge_msec_value(conf->drain_window, prev->drain_window, 0);

    ngx_conf_merge_uint_value(conf->pass_queue, prev->pass_queue, 16);
    ngx_conf_merge_uint_value(conf->pass_error, prev->pass_error,
                              NGX_WS_PASS_ERROR_CLOSE);
    ngx_conf_merge_uint_value(conf->pass_format, prev->pass_format,
                              NGX_WS_PASS_FORMAT_HEADERS);

    ngx_conf_merge_str_value(conf->auth_request, prev->auth_request, "");
    ngx_conf_merge_ptr_value(conf->auth_pass_headers, prev->auth_pass_headers,
                             NULL);

    ngx_conf_merge_ptr_value(conf->last_id, prev->last_id, NULL);
    ngx_conf_merge_ptr_value(conf->presence, prev->presence, NULL);
    ngx_conf_merge_ptr_value(conf->snapshot, prev->snapshot, NULL);
    ngx_conf_merge_uint_value(conf->snapshot_error, prev->snapshot_error,
                              NGX_WS_SNAPSHOT_CLOSE);
    ngx_conf_merge_msec_value(conf->snapshot_timeout, prev->snapshot_timeout,
                              10000);
    ngx_conf_merge_value(conf->envelope, prev->envelope, 0);
    ngx_conf_merge_uint_value(conf->slow_subscriber, prev->slow_subscriber,
                              NGX_WS_SLOW_CLOSE);
    ngx_conf_merge_uint_value(conf->publish_class, prev->publish_class,
                              NGX_WS_CLASS_NORMAL);
    ngx_conf_merge_ptr_value(conf->publish_conflate, prev->publish_conflate,
                             NULL);

    ngx_conf_merge_ptr_value(conf->limit_messages, prev->limit_messages,
                             NULL);
    ngx_conf_merge_ptr_value(conf->limit_bytes, prev->limit_bytes, NULL);
    ngx_conf_merge_ptr_value(conf->limit_zones, prev->limit_zones, NULL);
    ngx_conf_merge_uint_value(conf->limit_action, prev->limit_action,
                              NGX_WS_LIMIT_DELAY);

    ngx_conf_merge_value(conf->deflate, prev->deflate, 0);
    ngx_conf_merge_uint_value(conf->deflate_level, prev->deflate_level, 1);
    ngx_conf_merge_uint_value(conf->deflate_window_bits,
                              prev->deflate_window_bits, 15);
    ngx_conf_merge_uint_value(conf->deflate_mem_level,
                              prev->deflate_mem_level, 8);
    ngx_conf_merge_size_value(conf->deflate_min_length,
                              prev->deflate_min_length, 32);
    ngx_conf_merge_value(conf->deflate_takeover, prev->deflate_takeover, 1);

    ngx_conf_merge_uint_value(conf->security_log_level,
                              prev->security_log_level, NGX_LOG_ERR);

    ngx_conf_merge_msec_value(conf->sse_retry, prev->sse_retry, 0);
    ngx_conf_merge_msec_value(conf->sse_heartbeat, prev->sse_heartbeat,
                              15000);
    ngx_conf_merge_msec_value(conf->longpoll_timeout,
                              prev->longpoll_timeout, 30000);

    if (ngx_ws_route_merge(cf, conf, prev) != NGX_CONF_OK) {
        return NGX_CONF_ERROR;
    }

    if (ngx_ws_msgauth_merge(cf, conf, prev) != NGX_CONF_OK) {
        return NGX_CONF_ERROR;
    }

    if (conf->last_id == NULL && conf->subscribe) {
        ngx_http_compile_complex_value_t   ccv;

        conf->last_id = ngx_palloc(cf->pool,
                                   sizeof(ngx_http_complex_value_t));
        if (conf->last_id == NULL) {
            return NGX_CONF_ERROR;
        }

        ngx_memzero(&ccv, sizeof(ngx_http_compile_complex_value_t));

        ccv.cf = cf;
        ccv.value = &ngx_ws_default_last_id;
        ccv.complex_value = conf->last_id;

        if (ngx_http_compile_complex_value(&ccv) != NGX_OK) {
            return NGX_CONF_ERROR;
        }
    }

    if (((conf->subscribe && !conf->sse && !conf->longpoll)
         || conf->publish || conf->push)
        && !conf->enable)
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"ws_subscribe\", \"ws_publish\" and "
                           "\"ws_push\" need \"websocket\" "
                           "in the same location");
        return NGX_CONF_ERROR;
    }

    if ((conf->pass.len || conf->on_connect.len || conf->on_disconnect.len)
        && !conf->enable)
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"ws_pass\", \"ws_on_connect\" and "
                           "\"ws_on_disconnect\" need \"websocket\" "
                           "in the same location");
        return NGX_CONF_ERROR;
    }

    conf->release_request = ngx_ws_merge_release(conf);

    return NGX_CONF_OK;
}


/*
 * The request of a location whose WebSocket reads nothing of it after the
 * upgrade is released then (ngx_ws_request_release()): nothing is
 * evaluated against it per message or later (ws_route values and
 * conflation keys, ws_limit_message keys, ws_snapshot's URI, message
 * authorization, which copies its origin from the request on its first
 * message).  What the upgrade kept of it (ws_auth_request's headers, the
 * ws_presence identity) is copied by the release.
 */

static ngx_flag_t
ngx_ws_merge_release(ngx_ws_loc_conf_t *conf)
{
    ngx_uint_t       i;
    ngx_ws_route_t  *rt;

    if (!conf->enable
        || conf->msgauth.len
        || conf->snapshot
        || conf->limit_zones
        || (conf->publish_conflate && conf->publish_conflate->lengths))
    {
        return 0;
    }

    rt = conf->routes ? conf->routes->elts : NULL;

    for (i = 0; conf->routes && i < conf->routes->nelts; i++) {
        if (rt[i].arg.lengths
            || (rt[i].conflate && rt[i].conflate->lengths))
        {
            return 0;
        }
    }

    return 1;
}


static char *
ngx_ws_websocket(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_ws_loc_conf_t *wlcf = conf;

    ngx_http_core_loc_conf_t  *clcf;

    if (wlcf->enable) {
        return "is duplicate";
    }

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);

    if (clcf->handler != NULL) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"websocket\" conflicts with another content "
                           "handler in this location");
        return NGX_CONF_ERROR;
    }

    wlcf->enable = 1;
    clcf->handler = ngx_ws_handshake_handler;

    return NGX_CONF_OK;
}


static char *
ngx_ws_origins(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_ws_loc_conf_t *wlcf = conf;

    ngx_str_t        *value;
    ngx_uint_t        i;
    ngx_ws_origin_t  *o;

    if (wlcf->origins != NGX_CONF_UNSET_PTR) {
        return "is duplicate";
    }

    wlcf->origins = ngx_array_create(cf->pool, cf->args->nelts,
                                     sizeof(ngx_ws_origin_t));
    if (wlcf->origins == NULL) {
        return NGX_CONF_ERROR;
    }

    wlcf->origin_none = 0;

    value = cf->args->elts;

    for (i = 1; i < cf->args->nelts; i++) {

        if (ngx_strcmp(value[i].data, "none") == 0) {
            wlcf->origin_none = 1;
            continue;
        }

        o = ngx_array_push(wlcf->origins);
        if (o == NULL) {
            return NGX_CONF_ERROR;
        }

        if (ngx_ws_parse_origin(cf, &value[i], o) != NGX_OK) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid origin \"%V\"", &value[i]);
            return NGX_CONF_ERROR;
        }
    }

    return NGX_CONF_OK;
}


/*
 * An origin ("https://app.example.com:8443"), optionally with a wildcard
 * host ("https://" followed by "*.example.com"), or a host pattern alone
 * ("app.example.com", "*.example.com"); stored in lower case.
 */

static ngx_int_t
ngx_ws_parse_origin(ngx_conf_t *cf, ngx_str_t *value, ngx_ws_origin_t *o)
{
    u_char  *p, *last, *colon;

    ngx_memzero(o, sizeof(ngx_ws_origin_t));

    p = ngx_pnalloc(cf->pool, value->len);
    if (p == NULL) {
        return NGX_ERROR;
    }

    ngx_strlow(p, value->data, value->len);
    last = p + value->len;

    colon = ngx_strlcasestrn(p, last, (u_char *) "://", 3 - 1);

    if (colon != NULL) {
        o->scheme.data = p;
        o->scheme.len = colon - p;
        p = colon + 3;

        if (o->scheme.len == 0) {
            return NGX_ERROR;
        }
    }

    if (last - p > 2 && p[0] == '*' && p[1] == '.') {
        o->wildcard = 1;
        p += 1;                                 /* keep the dot */
    }

    colon = ngx_strlchr(p, last, ':');

    if (colon != NULL) {
        o->port.data = colon + 1;
        o->port.len = last - colon - 1;

        if (o->scheme.len == 0 || o->port.len == 0
            || ngx_atoi(o->port.data, o->port.len) == NGX_ERROR)
        {
            return NGX_ERROR;
        }

        last = colon;
    }

    o->host.data = p;
    o->host.len = last - p;

    if (o->host.len == 0 || ngx_strlchr(p, last, '/') != NULL
        || ngx_strlchr(p, last, '*') != NULL)
    {
        return NGX_ERROR;
    }

    return NGX_OK;
}


static char *
ngx_ws_subprotocols(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_ws_loc_conf_t *wlcf = conf;

    ngx_str_t   *value, *s;
    ngx_uint_t   i;

    if (wlcf->subprotocols != NGX_CONF_UNSET_PTR) {
        return "is duplicate";
    }

    wlcf->subprotocols = ngx_array_create(cf->pool, cf->args->nelts - 1,
                                          sizeof(ngx_str_t));
    if (wlcf->subprotocols == NULL) {
        return NGX_CONF_ERROR;
    }

    value = cf->args->elts;

    for (i = 1; i < cf->args->nelts; i++) {

        if (ngx_strlchr(value[i].data, value[i].data + value[i].len, ',')
            != NULL)
        {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid subprotocol \"%V\"", &value[i]);
            return NGX_CONF_ERROR;
        }

        s = ngx_array_push(wlcf->subprotocols);
        if (s == NULL) {
            return NGX_CONF_ERROR;
        }

        *s = value[i];
    }

    return NGX_CONF_OK;
}


static char *
ngx_ws_check_size(ngx_conf_t *cf, void *post, void *data)
{
    size_t  *sp = data;

    if (*sp == 0) {
        return "must be greater than zero";
    }

    return NGX_CONF_OK;
}


/* a URI of an internal location, or "off" (ws_auth_request) */

static char *
ngx_ws_set_uri(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    char  *p = conf;

    ngx_str_t  *field, *value;

    field = (ngx_str_t *) (p + cmd->offset);

    if (field->data) {
        return "is duplicate";
    }

    value = cf->args->elts;

    if (ngx_strcmp(value[1].data, "off") == 0) {
        ngx_str_set(field, "");
        return NGX_CONF_OK;
    }

    if (value[1].len == 0 || value[1].data[0] != '/') {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid URI \"%V\": it must start with \"/\"",
                           &value[1]);
        return NGX_CONF_ERROR;
    }

    *field = value[1];

    return NGX_CONF_OK;
}


static ngx_int_t
ngx_ws_init(ngx_conf_t *cf)
{
    ngx_ws_main_conf_t  *wmcf;

    /*
     * The read buffer of all connections, one per worker process (the
     * memory is the process's own).  Allocated with the configuration, so
     * every cycle has its own and nothing writes the configuration at run
     * time; not at init_process, which is not called again for the cycle
     * of a reload with master_process off.
     */

    wmcf = ngx_http_conf_get_module_main_conf(cf, ngx_ws_module);

    wmcf->recv_buffer = ngx_palloc(cf->pool, NGX_WS_RECV_BUFFER_SIZE);
    if (wmcf->recv_buffer == NULL) {
        return NGX_ERROR;
    }

    if (ngx_ws_status_add_zone(cf) != NGX_OK) {
        return NGX_ERROR;
    }

    if (ngx_ws_channel_init_conf(cf) != NGX_OK) {
        return NGX_ERROR;
    }

    if (ngx_ws_snapshot_init_conf(cf) != NGX_OK) {
        return NGX_ERROR;
    }

    if (ngx_ws_sse_init_conf(cf) != NGX_OK) {
        return NGX_ERROR;
    }

    if (ngx_ws_longpoll_init_conf(cf) != NGX_OK) {
        return NGX_ERROR;
    }

    if (ngx_ws_route_init(cf) != NGX_OK) {
        return NGX_ERROR;
    }

    if (ngx_ws_seclog_init(cf) != NGX_OK) {
        return NGX_ERROR;
    }

    return ngx_ws_auth_init(cf);
}


/*
 * In the master (or the single process), once a new cycle is past the
 * point where it can fail: its generation, then the zones' socket pairs.
 */

static ngx_int_t
ngx_ws_init_module(ngx_cycle_t *cycle)
{
    if (ngx_ws_status_init_module(cycle) != NGX_OK) {
        return NGX_ERROR;
    }

    if (ngx_ws_limit_init_module(cycle) != NGX_OK) {
        return NGX_ERROR;
    }

    return ngx_ws_notify_init_module(cycle);
}


static ngx_int_t
ngx_ws_init_process(ngx_cycle_t *cycle)
{
    if (ngx_ws_random_init_process(cycle) != NGX_OK) {
        return NGX_ERROR;
    }

    if (ngx_ws_status_init_process(cycle) != NGX_OK) {
        return NGX_ERROR;
    }

    if (ngx_ws_zone_init_process(cycle) != NGX_OK) {
        return NGX_ERROR;
    }

    if (ngx_ws_redis_init_process(cycle) != NGX_OK) {
        return NGX_ERROR;
    }

    if (ngx_ws_redis_bp_init_process(cycle) != NGX_OK) {
        return NGX_ERROR;
    }

    return ngx_ws_orphans_init_process(cycle);
}


static void
ngx_ws_exit_process(ngx_cycle_t *cycle)
{
    ngx_ws_conn_exit_process(cycle);
    ngx_ws_redis_bp_exit_process(cycle);
    ngx_ws_redis_exit_process(cycle);
    ngx_ws_zone_exit_process(cycle);
    ngx_ws_status_exit_process(cycle);
    ngx_ws_random_exit_process(cycle);
    ngx_ws_pool_free_all();
}


/* ws_subscribe zone channel ... */

static char *
ngx_ws_subscribe(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_ws_loc_conf_t *wlcf = conf;

    ngx_str_t                         *value;
    ngx_uint_t                         i;
    ngx_ws_zone_t                     *zone;
    ngx_ws_channel_conf_t             *cc;
    ngx_http_compile_complex_value_t   ccv;

    value = cf->args->elts;

    if (ngx_ws_zone_ref(cf, &value[1], &zone) != NGX_CONF_OK) {
        return NGX_CONF_ERROR;
    }

    if (wlcf->subscribe == NULL) {
        wlcf->subscribe = ngx_array_create(cf->pool, 4,
                                           sizeof(ngx_ws_channel_conf_t));
        if (wlcf->subscribe == NULL) {
            return NGX_CONF_ERROR;
        }
    }

    for (i = 2; i < cf->args->nelts; i++) {
        cc = ngx_array_push(wlcf->subscribe);
        if (cc == NULL) {
            return NGX_CONF_ERROR;
        }

        cc->zone = zone;

        ngx_memzero(&ccv, sizeof(ngx_http_compile_complex_value_t));

        ccv.cf = cf;
        ccv.value = &value[i];
        ccv.complex_value = &cc->name;

        if (ngx_http_compile_complex_value(&ccv) != NGX_OK) {
            return NGX_CONF_ERROR;
        }
    }

    return NGX_CONF_OK;
}


/* ws_publish zone channel */

static char *
ngx_ws_publish_conf(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_ws_loc_conf_t *wlcf = conf;

    ngx_str_t                         *value;
    ngx_http_compile_complex_value_t   ccv;

    if (wlcf->publish) {
        return "is duplicate";
    }

    value = cf->args->elts;

    wlcf->publish = ngx_pcalloc(cf->pool, sizeof(ngx_ws_channel_conf_t));
    if (wlcf->publish == NULL) {
        return NGX_CONF_ERROR;
    }

    if (ngx_ws_zone_ref(cf, &value[1], &wlcf->publish->zone)
        != NGX_CONF_OK)
    {
        return NGX_CONF_ERROR;
    }

    ngx_memzero(&ccv, sizeof(ngx_http_compile_complex_value_t));

    ccv.cf = cf;
    ccv.value = &value[2];
    ccv.complex_value = &wlcf->publish->name;

    if (ngx_http_compile_complex_value(&ccv) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


/* ws_push zone; ws_publisher zone; ws_connections zone */

static char *
ngx_ws_push(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    char  *p = conf;

    ngx_str_t                 *value;
    ngx_ws_zone_t            **zp;
    ngx_ws_loc_conf_t         *wlcf;
    ngx_ws_main_conf_t        *wmcf;
    ngx_http_conf_ctx_t       *ctx;
    ngx_http_core_loc_conf_t  *clcf;

    zp = (ngx_ws_zone_t **) (p + cmd->offset);

    if (*zp) {
        return "is duplicate";
    }

    value = cf->args->elts;

    if (ngx_ws_zone_ref(cf, &value[1], zp) != NGX_CONF_OK) {
        return NGX_CONF_ERROR;
    }

    if (cmd->offset == offsetof(ngx_ws_loc_conf_t, publisher)) {
        clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);

        if (clcf->handler != NULL) {
            return "conflicts with another content handler";
        }

        clcf->handler = ngx_ws_publisher_handler;
    }

    if (cmd->offset == offsetof(ngx_ws_loc_conf_t, push)) {

        /*
         * the location by its index, the same in every worker of this
         * configuration: a dead worker's connections get their disconnect
         * events from another worker (ngx_ws_orphans.c)
         */

        wmcf = ngx_http_conf_get_module_main_conf(cf, ngx_ws_module);

        if (wmcf->push_locations == NULL) {
            wmcf->push_locations = ngx_array_create(cf->pool, 4,
                                                   sizeof(ngx_http_conf_ctx_t));
            if (wmcf->push_locations == NULL) {
                return NGX_CONF_ERROR;
            }
        }

        ctx = ngx_array_push(wmcf->push_locations);
        if (ctx == NULL) {
            return NGX_CONF_ERROR;
        }

        *ctx = *(ngx_http_conf_ctx_t *) cf->ctx;

        wlcf = conf;
        wlcf->push_location = wmcf->push_locations->nelts - 1;
    }

    if (cmd->offset == offsetof(ngx_ws_loc_conf_t, connections)) {
        clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);

        if (clcf->handler != NULL) {
            return "conflicts with another content handler";
        }

        clcf->handler = ngx_ws_conns_handler;
    }

    return NGX_CONF_OK;
}
