
/*
 * Copyright (C) ngx_ws_module authors
 */


#ifndef _NGX_WS_JSON_H_INCLUDED_
#define _NGX_WS_JSON_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>


#define NGX_WS_JSON_MAX_DEPTH      32

/* what ngx_ws_json_fields() returns besides NGX_OK and NGX_ERROR */
#define NGX_WS_JSON_INVALID        1     /* not JSON, or not an object */
#define NGX_WS_JSON_DEEP           2     /* nested deeper than the limit */

/* what it found of a field */
#define NGX_WS_JSON_ABSENT         0
#define NGX_WS_JSON_STRING         1     /* value: the decoded string */
#define NGX_WS_JSON_OTHER          2     /* value: a number, object, ...
                                            as written, in the message */


typedef struct {
    ngx_str_t                   name;             /* in */
    ngx_str_t                   value;            /* out */
    ngx_uint_t                  found;            /* out: NGX_WS_JSON_* */
} ngx_ws_json_field_t;


ngx_int_t ngx_ws_json_fields(u_char *p, size_t len, ngx_ws_json_field_t *f,
    ngx_uint_t n, ngx_pool_t *pool);


#endif /* _NGX_WS_JSON_H_INCLUDED_ */
