
/*
 * Copyright (C) ngx_ws_module authors
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include "ngx_ws_module.h"


/*
 * Small HTTP helpers: the bottom layer, calling nothing else in the
 * module.
 */


/*
 * The first header called name (case-insensitive) in a list of
 * ngx_table_elt_t after the header "after", or from the start if it is
 * NULL: so all of them are
 *
 *     for (h = ngx_ws_find_header(list, name, NULL);
 *          h;
 *          h = ngx_ws_find_header(list, name, h))
 *
 * Headers with a zero hash are deleted ones, as nginx marks them.
 */

ngx_table_elt_t *
ngx_ws_find_header(ngx_list_t *headers, ngx_str_t *name,
    ngx_table_elt_t *after)
{
    ngx_uint_t        i;
    ngx_list_part_t  *part;
    ngx_table_elt_t  *h;

    part = &headers->part;
    i = 0;

    if (after) {

        /* the part that holds it */

        for ( ;; ) {
            h = part->elts;

            if (after >= h && after < h + part->nelts) {
                i = after - h + 1;
                break;
            }

            part = part->next;

            if (part == NULL) {
                return NULL;
            }
        }
    }

    h = part->elts;

    for ( ;; i++) {

        if (i >= part->nelts) {
            if (part->next == NULL) {
                break;
            }

            part = part->next;
            h = part->elts;
            i = 0;
        }

        if (h[i].hash != 0
            && h[i].key.len == name->len
            && ngx_strncasecmp(h[i].key.data, name->data, name->len) == 0)
        {
            return &h[i];
        }
    }

    return NULL;
}


/*
 * A message with this Content-Type goes out in a text frame: text/...,
 * and JSON of any kind (application/json, application/ld+json, ...).
 */

ngx_uint_t
ngx_ws_content_opcode(ngx_str_t *type)
{
    if ((type->len >= 5
         && ngx_strncasecmp(type->data, (u_char *) "text/", 5) == 0)
        || (type->len >= 4
            && ngx_strlcasestrn(type->data, type->data + type->len,
                                (u_char *) "json", 4 - 1)
               != NULL))
    {
        return NGX_WS_OP_TEXT;
    }

    return NGX_WS_OP_BINARY;
}
