/*
 * body.c: reading and spooling the request body (see tf_body.h). Runs in
 * request threads; memory use is bounded by the threshold plus one
 * I/O buffer, whatever the body's size.
 */
#include "apr_strings.h"
#include "apr_file_io.h"
#include "http_protocol.h"
#include "http_request.h"
#include "util_filter.h"

#include "tf_body.h"
#include "tf_private.h"

#define IOBUF 65536

struct tf_body {
    request_rec *r;
    int present;
    apr_off_t len;
    char *mem;            /* first bytes, up to the threshold */
    apr_size_t mem_len;
    apr_size_t mem_cap;
    apr_file_t *file;     /* the rest, when larger (APR_DELONCLOSE) */
    apr_off_t pos;        /* read position for tf_body_next */
    char *iobuf;
};

static apr_status_t spool(tf_body_t *b, const char *data, apr_size_t len,
                          apr_off_t mem_limit)
{
    apr_size_t room;
    apr_status_t rv;
    const char *tmpdir;
    char *tpl;

    if (!b->file && b->mem_len + len <= (apr_size_t)mem_limit) {
        if (b->mem_len + len > b->mem_cap) {
            apr_size_t cap = b->mem_cap ? b->mem_cap * 2 : 8192;
            char *m;

            while (cap < b->mem_len + len) {
                cap *= 2;
            }
            if (cap > (apr_size_t)mem_limit) {
                cap = (apr_size_t)mem_limit;
            }
            m = apr_palloc(b->r->pool, cap);
            if (b->mem_len) {
                memcpy(m, b->mem, b->mem_len);
            }
            b->mem = m;
            b->mem_cap = cap;
        }
        memcpy(b->mem + b->mem_len, data, len);
        b->mem_len += len;
        return APR_SUCCESS;
    }
    if (!b->file) {
        /* fill memory to the brim, the rest goes to the file */
        room = b->mem_cap > b->mem_len ? b->mem_cap - b->mem_len : 0;
        if (room > len) {
            room = len;
        }
        if (room) {
            memcpy(b->mem + b->mem_len, data, room);
            b->mem_len += room;
            data += room;
            len -= room;
        }
        if ((rv = apr_temp_dir_get(&tmpdir, b->r->pool)) != APR_SUCCESS) {
            return rv;
        }
        tpl = apr_pstrcat(b->r->pool, tmpdir, "/tracfcgi-body.XXXXXX", NULL);
        rv = apr_file_mktemp(&b->file, tpl,
                             APR_FOPEN_CREATE | APR_FOPEN_READ
                                 | APR_FOPEN_WRITE | APR_FOPEN_EXCL
                                 | APR_FOPEN_DELONCLOSE,
                             b->r->pool);
        if (rv != APR_SUCCESS) {
            ap_log_rerror(APLOG_MARK, APLOG_ERR, rv, b->r, TFLOGNO(00201)
                          "cannot create a temporary file for the request "
                          "body in %s", tmpdir);
            return rv;
        }
    }
    return apr_file_write_full(b->file, data, len, NULL);
}

int tf_body_read(request_rec *r, apr_off_t mem_limit, tf_body_t **out)
{
    tf_body_t *b = apr_pcalloc(r->pool, sizeof(*b));
    apr_bucket_brigade *bb;
    const char *cl;
    apr_off_t announced;
    apr_status_t rv;
    int seen_eos = 0;

    b->r = r;
    b->present = apr_table_get(r->headers_in, "Transfer-Encoding") != NULL
                 || apr_table_get(r->headers_in, "Content-Length") != NULL;
    *out = b;
    if (!b->present) {
        return OK;
    }
    /* a body whose length is announced and fits memory gets one buffer
     * of that size: no regrowth */
    if ((cl = apr_table_get(r->headers_in, "Content-Length")) != NULL
        && apr_strtoff(&announced, cl, NULL, 10) == APR_SUCCESS
        && announced > 0 && announced <= mem_limit) {
        b->mem = apr_palloc(r->pool, (apr_size_t)announced);
        b->mem_cap = (apr_size_t)announced;
    }
    bb = apr_brigade_create(r->pool, r->connection->bucket_alloc);
    do {
        apr_bucket *e;

        rv = ap_get_brigade(r->input_filters, bb, AP_MODE_READBYTES,
                            APR_BLOCK_READ, IOBUF);
        if (rv != APR_SUCCESS) {
            ap_log_rerror(APLOG_MARK, APLOG_INFO, rv, r, TFLOGNO(00202)
                          "error reading the request body from the client");
            return ap_map_http_request_error(rv, HTTP_BAD_REQUEST);
        }
        for (e = APR_BRIGADE_FIRST(bb); e != APR_BRIGADE_SENTINEL(bb);
             e = APR_BUCKET_NEXT(e)) {
            const char *data;
            apr_size_t len;

            if (APR_BUCKET_IS_EOS(e)) {
                seen_eos = 1;
                break;
            }
            if (APR_BUCKET_IS_METADATA(e)) {
                continue;
            }
            rv = apr_bucket_read(e, &data, &len, APR_BLOCK_READ);
            if (rv == APR_SUCCESS) {
                rv = spool(b, data, len, mem_limit);
            }
            if (rv != APR_SUCCESS) {
                return HTTP_INTERNAL_SERVER_ERROR;
            }
            b->len += (apr_off_t)len;
        }
        apr_brigade_cleanup(bb);
    } while (!seen_eos);
    return OK;
}

apr_off_t tf_body_length(const tf_body_t *b)
{
    return b->len;
}

int tf_body_present(const tf_body_t *b)
{
    return b->present;
}

apr_status_t tf_body_rewind(tf_body_t *b)
{
    apr_off_t zero = 0;

    b->pos = 0;
    return b->file ? apr_file_seek(b->file, APR_SET, &zero) : APR_SUCCESS;
}

apr_status_t tf_body_next(tf_body_t *b, apr_size_t max, const char **data,
                          apr_size_t *len, int *stable)
{
    apr_status_t rv;

    *stable = b->pos < (apr_off_t)b->mem_len;
    if (b->pos < (apr_off_t)b->mem_len) {
        *data = b->mem + b->pos;
        *len = b->mem_len - (apr_size_t)b->pos;
        if (*len > max) {
            *len = max;
        }
        b->pos += (apr_off_t)*len;
        return APR_SUCCESS;
    }
    if (!b->file || b->pos >= b->len) {
        return APR_EOF;
    }
    if (!b->iobuf) {
        b->iobuf = apr_palloc(b->r->pool, IOBUF);
    }
    *len = max < IOBUF ? max : IOBUF;
    rv = apr_file_read(b->file, b->iobuf, len);
    if (rv != APR_SUCCESS) {
        return rv;
    }
    *data = b->iobuf;
    b->pos += (apr_off_t)*len;
    return APR_SUCCESS;
}
