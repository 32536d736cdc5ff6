
/*
 * Copyright (C) ngx_ws_module authors
 */


/*
 * The JSON field reader of ws_route against a reference parser written
 * here from RFC 8259's grammar, the other way round: it decodes strings to
 * code points first and encodes them afterwards, and tracks the depth on
 * its own.  The input is the message; the fields asked for are "type" and
 * "id" (only "type" when the first byte is odd, which is also part of the
 * message).  The reader must agree with the reference exactly:
 *
 *   - the result: NGX_OK when every field was seen before any error, or
 *     when the whole input is one valid object; otherwise the first
 *     error's kind (invalid, or nested deeper than the limit);
 *   - with NGX_OK, for each field: absent, a string with the decoded value
 *     of its first occurrence, or another value with its text as written.
 *
 * The message is a copy of the exact size, so ASan sees any read past it.
 */


#include "ngx_ws_fuzz.h"
#include "ngx_ws_json.h"


#define REF_MAX_FIELDS  2

typedef struct {
    const u_char   *p;
    const u_char   *start;
    const u_char   *end;
    ngx_int_t       error;             /* NGX_OK or NGX_WS_JSON_* */
    ngx_uint_t      nfields;
    ngx_uint_t      left;
    const char     *names[REF_MAX_FIELDS];
    ngx_uint_t      found[REF_MAX_FIELDS];
    u_char         *value[REF_MAX_FIELDS];
    size_t          len[REF_MAX_FIELDS];
} ref_t;


/* vectors with known answers, checked once at start */

typedef struct {
    const char     *in;
    ngx_int_t       rc;
    ngx_uint_t      found;             /* of "type" */
    const char     *type;
    ngx_uint_t      id_found;
    const char     *id;
} vector_t;


static vector_t  vectors[] = {
    { " {\"type\":\"chat\",\"id\":\"c1\"}", NGX_OK,
      NGX_WS_JSON_STRING, "chat", NGX_WS_JSON_STRING, "c1" },
    { " {\"id\": 42 ,\"type\":\"x\"}", NGX_OK,
      NGX_WS_JSON_STRING, "x", NGX_WS_JSON_OTHER, "42" },
    { " {\"t\\u0079pe\":\"\\u00e9\\ud83d\\ude00\\n\"}", NGX_OK,
      NGX_WS_JSON_STRING, "\xc3\xa9\xf0\x9f\x98\x80\n", 0, "" },
    { " {\"type\":\"a\",\"type\":\"b\",\"id\":null}", NGX_OK,
      NGX_WS_JSON_STRING, "a", NGX_WS_JSON_OTHER, "null" },
    { " {\"type\":\"a\",\"id\":[1,{}]  garbage", NGX_OK,
      NGX_WS_JSON_STRING, "a", NGX_WS_JSON_OTHER, "[1,{}]" },
    { " {\"a\":{\"type\":\"inner\"}}", NGX_OK, 0, "", 0, "" },
    { " {}", NGX_OK, 0, "", 0, "" },
    { " {\"type\":{\"k\":[]}}", NGX_OK, NGX_WS_JSON_OTHER, "{\"k\":[]}",
      0, "" },
    { " {\"a\":01,\"type\":\"x\"}", NGX_WS_JSON_INVALID, 0, "", 0, "" },
    { " {\"a\":1,}", NGX_WS_JSON_INVALID, 0, "", 0, "" },
    { " {\"type\":\"\\ud83d\"}", NGX_WS_JSON_INVALID, 0, "", 0, "" },
    { " {\"type\":\"\\ude00\"}", NGX_WS_JSON_INVALID, 0, "", 0, "" },
    { " {\"type\":\"a\tb\"}", NGX_WS_JSON_INVALID, 0, "", 0, "" },
    { " {\"type\":\"\\x\"}", NGX_WS_JSON_INVALID, 0, "", 0, "" },
    { " {\"a\":1} x", NGX_WS_JSON_INVALID, 0, "", 0, "" },
    { " [1]", NGX_WS_JSON_INVALID, 0, "", 0, "" },
    { "", NGX_WS_JSON_INVALID, 0, "", 0, "" },
    { " {\"a\":[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[["
      "]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]}",
      NGX_OK, 0, "", 0, "" },
    { " {\"a\":[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[["
      "]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]}",
      NGX_WS_JSON_DEEP, 0, "", 0, "" },
    { " {\"type\":\"x\",\"a\":[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[",
      NGX_WS_JSON_DEEP, 0, "", 0, "" },
    { " {\"type\":\"x\",\"id\":1,\"a\":[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[",
      NGX_OK, NGX_WS_JSON_STRING, "x", NGX_WS_JSON_OTHER, "1" }
};


static void vectors_check(void);
static void ref_ws(ref_t *r);
static ngx_int_t ref_string(ref_t *r, u_char **out, size_t *outlen);
static ngx_int_t ref_value(ref_t *r, ngx_uint_t depth);
static ngx_int_t ref_object(ref_t *r);


int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
    ngx_ws_fuzz_init();
    vectors_check();

    return 0;
}


static void
vectors_check(void)
{
    size_t                len;
    ngx_int_t             rc;
    ngx_uint_t            i;
    ngx_pool_t           *pool;
    vector_t             *v;
    ngx_ws_json_field_t   f[2];

    for (i = 0; i < sizeof(vectors) / sizeof(vectors[0]); i++) {
        v = &vectors[i];

        pool = ngx_create_pool(1024, ngx_cycle->log);
        if (pool == NULL) {
            abort();
        }

        ngx_str_set(&f[0].name, "type");
        ngx_str_set(&f[1].name, "id");

        len = strlen(v->in);
        rc = ngx_ws_json_fields((u_char *) v->in, len, f, 2, pool);

        if (rc != v->rc
            || (rc == NGX_OK
                && (f[0].found != v->found || f[1].found != v->id_found
                    || f[0].value.len != strlen(v->type)
                    || (f[0].value.len
                        && ngx_memcmp(f[0].value.data, v->type,
                                      f[0].value.len) != 0)
                    || f[1].value.len != strlen(v->id)
                    || (f[1].value.len
                        && ngx_memcmp(f[1].value.data, v->id,
                                      f[1].value.len) != 0))))
        {
            fprintf(stderr, "json: vector %d \"%s\": rc %d\n", (int) i,
                    v->in, (int) rc);
            abort();
        }

        ngx_destroy_pool(pool);
    }
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    u_char               *buf;
    ref_t                 ref;
    ngx_int_t             rc, want;
    ngx_uint_t            i, n;
    ngx_pool_t           *pool;
    ngx_ws_json_field_t   f[REF_MAX_FIELDS];

    buf = malloc(size ? size : 1);
    if (buf == NULL) {
        abort();
    }

    ngx_memcpy(buf, data, size);

    n = (size && (buf[0] & 1)) ? 1 : 2;

    ngx_str_set(&f[0].name, "type");
    ngx_str_set(&f[1].name, "id");

    pool = ngx_create_pool(1024, ngx_cycle->log);
    if (pool == NULL) {
        abort();
    }

    rc = ngx_ws_json_fields(buf, size, f, n, pool);

    ngx_memzero(&ref, sizeof(ref_t));
    ref.p = buf;
    ref.start = buf;
    ref.end = buf + size;
    ref.nfields = n;
    ref.left = n;
    ref.names[0] = "type";
    ref.names[1] = "id";

    want = ref_object(&ref);

    if (rc != want) {
        fprintf(stderr, "json: reader %d, reference %d\n", (int) rc,
                (int) want);
        abort();
    }

    if (rc == NGX_OK) {
        for (i = 0; i < n; i++) {
            if (f[i].found != ref.found[i]
                || (f[i].found != NGX_WS_JSON_ABSENT
                    && (f[i].value.len != ref.len[i]
                        || ngx_memcmp(f[i].value.data, ref.value[i],
                                      ref.len[i]) != 0)))
            {
                fprintf(stderr, "json: field %d: reader %d \"%.*s\", "
                        "reference %d \"%.*s\"\n", (int) i,
                        (int) f[i].found, (int) f[i].value.len,
                        f[i].value.data, (int) ref.found[i],
                        (int) ref.len[i], ref.value[i]);
                abort();
            }
        }
    }

    for (i = 0; i < n; i++) {
        if (ref.found[i] == NGX_WS_JSON_STRING) {
            free(ref.value[i]);
        }
    }

    ngx_destroy_pool(pool);
    free(buf);

    return 0;
}


/* NGX_OK: the fields were all seen, or the object is whole and alone */

static ngx_int_t
ref_object(ref_t *r)
{
    u_char          *key, *val;
    size_t           klen, vlen;
    ngx_int_t        rc;
    ngx_uint_t       i, first;
    const u_char    *vstart;

    ref_ws(r);

    if (r->p >= r->end || *r->p != '{') {
        return NGX_WS_JSON_INVALID;
    }

    r->p++;
    first = 1;

    for ( ;; ) {
        ref_ws(r);

        if (first && r->p < r->end && *r->p == '}') {
            r->p++;
            break;
        }

        first = 0;

        if (r->p >= r->end || *r->p != '"') {
            return NGX_WS_JSON_INVALID;
        }

        rc = ref_string(r, &key, &klen);
        if (rc != NGX_OK) {
            return rc;
        }

        ref_ws(r);

        if (r->p >= r->end || *r->p != ':') {
            free(key);
            return NGX_WS_JSON_INVALID;
        }

        r->p++;
        ref_ws(r);

        vstart = r->p;

        for (i = 0; i < r->nfields; i++) {
            if (r->found[i] == NGX_WS_JSON_ABSENT
                && klen == strlen(r->names[i])
                && memcmp(key, r->names[i], klen) == 0)
            {
                break;
            }
        }

        free(key);

        if (i < r->nfields && r->p < r->end && *r->p == '"') {
            rc = ref_string(r, &val, &vlen);
            if (rc != NGX_OK) {
                return rc;
            }

            r->found[i] = NGX_WS_JSON_STRING;
            r->value[i] = val;
            r->len[i] = vlen;

        } else {
            rc = ref_value(r, 2);
            if (rc != NGX_OK) {
                return rc;
            }

            if (i < r->nfields) {
                r->found[i] = NGX_WS_JSON_OTHER;
                r->value[i] = (u_char *) vstart;
                r->len[i] = r->p - vstart;
            }
        }

        if (i < r->nfields && --r->left == 0) {
            return NGX_OK;
        }

        ref_ws(r);

        if (r->p < r->end && *r->p == ',') {
            r->p++;
            continue;
        }

        if (r->p < r->end && *r->p == '}') {
            r->p++;
            break;
        }

        return NGX_WS_JSON_INVALID;
    }

    ref_ws(r);

    return (r->p == r->end) ? NGX_OK : NGX_WS_JSON_INVALID;
}


static void
ref_ws(ref_t *r)
{
    while (r->p < r->end && strchr(" \t\r\n", *r->p) != NULL && *r->p) {
        r->p++;
    }
}


static int
ref_hex(const u_char *p, uint32_t *v)
{
    int  i, d;

    *v = 0;

    for (i = 0; i < 4; i++) {
        if (p[i] >= '0' && p[i] <= '9') {
            d = p[i] - '0';

        } else if (p[i] >= 'a' && p[i] <= 'f') {
            d = p[i] - 'a' + 10;

        } else if (p[i] >= 'A' && p[i] <= 'F') {
            d = p[i] - 'A' + 10;

        } else {
            return 0;
        }

        *v = *v * 16 + d;
    }

    return 1;
}


/* at the opening quote; out: malloc()ed, decoded */

static ngx_int_t
ref_string(ref_t *r, u_char **out, size_t *outlen)
{
    size_t     n, k, i;
    u_char    *o;
    uint32_t  *cps, cp, lo;

    cps = malloc(sizeof(uint32_t) * (r->end - r->p + 1));
    if (cps == NULL) {
        abort();
    }

    n = 0;
    r->p++;

    /* code points first */

    for ( ;; ) {
        if (r->p >= r->end || *r->p < 0x20) {
            free(cps);
            return NGX_WS_JSON_INVALID;
        }

        if (*r->p == '"') {
            r->p++;
            break;
        }

        if (*r->p != '\\') {
            cps[n++] = 0x80000000 | *r->p++;     /* a raw byte */
            continue;
        }

        if (r->end - r->p < 2) {
            free(cps);
            return NGX_WS_JSON_INVALID;
        }

        switch (r->p[1]) {
        case '"': case '\\': case '/':
            cp = r->p[1]; break;
        case 'b': cp = 8; break;
        case 'f': cp = 12; break;
        case 'n': cp = 10; break;
        case 'r': cp = 13; break;
        case 't': cp = 9; break;

        case 'u':
            if (r->end - r->p < 6 || !ref_hex(r->p + 2, &cp)) {
                free(cps);
                return NGX_WS_JSON_INVALID;
            }

            r->p += 6;

            if (cp >= 0xd800 && cp < 0xdc00) {
                if (r->end - r->p < 6 || r->p[0] != '\\' || r->p[1] != 'u'
                    || !ref_hex(r->p + 2, &lo) || lo < 0xdc00 || lo > 0xdfff)
                {
                    free(cps);
                    return NGX_WS_JSON_INVALID;
                }

                r->p += 6;
                cp = ((cp & 0x3ff) << 10 | (lo & 0x3ff)) + 0x10000;

            } else if (cp >= 0xdc00 && cp < 0xe000) {
                free(cps);
                return NGX_WS_JSON_INVALID;
            }

            cps[n++] = cp;
            continue;

        default:
            free(cps);
            return NGX_WS_JSON_INVALID;
        }

        cps[n++] = cp;
        r->p += 2;
    }

    /* then UTF-8 */

    o = malloc(4 * n + 1);
    if (o == NULL) {
        abort();
    }

    k = 0;

    for (i = 0; i < n; i++) {
        cp = cps[i];

        if (cp & 0x80000000) {
            o[k++] = (u_char) cp;

        } else if (cp < 0x80) {
            o[k++] = cp;

        } else if (cp < 0x800) {
            o[k++] = 0xc0 + (cp / 64);
            o[k++] = 0x80 + (cp % 64);

        } else if (cp < 0x10000) {
            o[k++] = 0xe0 + (cp / 4096);
            o[k++] = 0x80 + (cp / 64 % 64);
            o[k++] = 0x80 + (cp % 64);

        } else {
            o[k++] = 0xf0 + (cp / 262144);
            o[k++] = 0x80 + (cp / 4096 % 64);
            o[k++] = 0x80 + (cp / 64 % 64);
            o[k++] = 0x80 + (cp % 64);
        }
    }

    free(cps);

    *out = o;
    *outlen = k;

    return NGX_OK;
}


static ngx_int_t
ref_digits(ref_t *r)
{
    const u_char  *s;

    s = r->p;

    while (r->p < r->end && isdigit(*r->p)) {
        r->p++;
    }

    return r->p > s;
}


static ngx_int_t
ref_value(ref_t *r, ngx_uint_t depth)
{
    u_char     *s;
    size_t      len;
    ngx_int_t   rc;
    u_char      close;
    ngx_uint_t  first;

    if (r->p >= r->end) {
        return NGX_WS_JSON_INVALID;
    }

    if (*r->p == '"') {
        rc = ref_string(r, &s, &len);
        if (rc == NGX_OK) {
            free(s);
        }

        return rc;
    }

    if (*r->p == '{' || *r->p == '[') {
        if (depth > NGX_WS_JSON_MAX_DEPTH) {
            return NGX_WS_JSON_DEEP;
        }

        close = (*r->p == '{') ? '}' : ']';
        r->p++;
        first = 1;

        for ( ;; ) {
            ref_ws(r);

            if (first && r->p < r->end && *r->p == close) {
                r->p++;
                return NGX_OK;
            }

            first = 0;

            if (close == '}') {
                if (r->p >= r->end || *r->p != '"') {
                    return NGX_WS_JSON_INVALID;
                }

                rc = ref_string(r, &s, &len);
                if (rc != NGX_OK) {
                    return rc;
                }

                free(s);
                ref_ws(r);

                if (r->p >= r->end || *r->p != ':') {
                    return NGX_WS_JSON_INVALID;
                }

                r->p++;
                ref_ws(r);
            }

            rc = ref_value(r, depth + 1);
            if (rc != NGX_OK) {
                return rc;
            }

            ref_ws(r);

            if (r->p < r->end && *r->p == ',') {
                r->p++;
                continue;
            }

            if (r->p < r->end && *r->p == close) {
                r->p++;
                return NGX_OK;
            }

            return NGX_WS_JSON_INVALID;
        }
    }

    if ((size_t) (r->end - r->p) >= 4 && memcmp(r->p, "true", 4) == 0) {
        r->p += 4;
        return NGX_OK;
    }

    if ((size_t) (r->end - r->p) >= 5 && memcmp(r->p, "false", 5) == 0) {
        r->p += 5;
        return NGX_OK;
    }

    if ((size_t) (r->end - r->p) >= 4 && memcmp(r->p, "null", 4) == 0) {
        r->p += 4;
        return NGX_OK;
    }

    /* a number */

    if (*r->p == '-') {
        r->p++;
    }

    if (r->p < r->end && *r->p == '0') {
        r->p++;

    } else if (!ref_digits(r)) {
        return NGX_WS_JSON_INVALID;
    }

    if (r->p < r->end && *r->p == '.') {
        r->p++;

        if (!ref_digits(r)) {
            return NGX_WS_JSON_INVALID;
        }
    }

    if (r->p < r->end && (*r->p == 'e' || *r->p == 'E')) {
        r->p++;

        if (r->p < r->end && (*r->p == '+' || *r->p == '-')) {
            r->p++;
        }

        if (!ref_digits(r)) {
            return NGX_WS_JSON_INVALID;
        }
    }

    return NGX_OK;
}
