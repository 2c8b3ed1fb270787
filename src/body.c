/*
 * body.c: reading, spooling or streaming the request body (see
 * tf_body.h). Runs in request threads; memory use is bounded by the
 * threshold plus one I/O buffer, whatever the body's size.
 */
#include "apr_strings.h"
#include "apr_file_io.h"
#include "apr_portable.h"
#include "http_protocol.h"
#include "http_request.h"
#include "util_filter.h"

#include "tf_body.h"
#include "tf_fcgi_proto.h"
#include "tf_iobuf.h"
#include "tf_tmpfile.h"
#include "tf_private.h"

#define IOBUF 65536
/* a whole STDIN record of a framed spool file */
#define RECORD (TF_FCGI_HEADER_LEN + TF_FCGI_MAX_CONTENT)

struct tf_body {
    request_rec *r;
    int present;
    apr_off_t len;
    char *mem;            /* first bytes, up to the threshold */
    apr_size_t mem_len;
    apr_size_t mem_cap;
    apr_file_t *file;     /* the rest, when larger (unlinked) */
    int framed;           /* the file holds the whole body as STDIN
                           * records, their headers included (its length
                           * was announced: sent with one sendfile()) */
    apr_off_t announced;  /* framed: the Content-Length */
    apr_off_t filed;      /* body bytes put into the file so far */
    apr_off_t pos;        /* read position for tf_body_next */
    char *staging;        /* while spooling: pieces gathered for one
                           * write() (from src/iobuf.c's cache) */
    apr_size_t staged;    /* bytes in it not written to the file yet */
    char *iobuf;          /* read back into by tf_body_next (file pieces
                           * not sent with sendfile()); streamed: the
                           * client's next piece */
    int stream;           /* the rest comes from the client on demand */
    int eos;              /* streamed: the client's body is all read */
    int consumed;         /* streamed: read past what memory holds */
    int client_status;    /* streamed: the client failed (HTTP status) */
    apr_bucket_brigade *bb;
};

/* Copy up to @p room bytes of the client's body into @p dst: wait for the
 * first piece, then take what has arrived (the core hands the body over in
 * pieces of 8 KiB or less; a STDIN record of 64 KiB costs one system call
 * instead of eight). */
static apr_status_t fetch(tf_body_t *b, char *dst, apr_size_t room,
                          apr_size_t *got)
{
    apr_read_type_e block = APR_BLOCK_READ;
    apr_status_t rv;

    *got = 0;
    while (room && !b->eos) {
        apr_bucket *e;

        rv = ap_get_brigade(b->r->input_filters, b->bb, AP_MODE_READBYTES,
                            block, room);
        if (rv != APR_SUCCESS) {
            apr_brigade_cleanup(b->bb);
            if (block == APR_NONBLOCK_READ && APR_STATUS_IS_EAGAIN(rv)) {
                return APR_SUCCESS;
            }
            return rv;
        }
        if (APR_BRIGADE_EMPTY(b->bb)) {
            /* a blocking read that brings nothing is a broken body */
            return block == APR_BLOCK_READ ? APR_INCOMPLETE : APR_SUCCESS;
        }
        for (e = APR_BRIGADE_FIRST(b->bb); e != APR_BRIGADE_SENTINEL(b->bb);
             e = APR_BUCKET_NEXT(e)) {
            const char *data;
            apr_size_t len;

            if (APR_BUCKET_IS_EOS(e)) {
                b->eos = 1;
                break;
            }
            if (APR_BUCKET_IS_METADATA(e)) {
                continue;
            }
            rv = apr_bucket_read(e, &data, &len, APR_BLOCK_READ);
            if (rv == APR_SUCCESS && len > room) {
                rv = APR_EGENERAL; /* more than asked for: never */
            }
            if (rv != APR_SUCCESS) {
                apr_brigade_cleanup(b->bb);
                return rv;
            }
            memcpy(dst, data, len);
            dst += len;
            *got += len;
            room -= len;
        }
        apr_brigade_cleanup(b->bb);
        block = APR_NONBLOCK_READ;
    }
    return APR_SUCCESS;
}

/* Write what is gathered for the file. The client's body arrives in
 * pieces of 8 KiB or less; one write() per 64 KiB instead of one per piece
 * makes spooled uploads 25-55% faster (t/bench/run.py). */
static apr_status_t unstage(tf_body_t *b)
{
    apr_size_t n = b->staged;

    b->staged = 0;
    return n ? apr_file_write_full(b->file, b->staging, n, NULL)
             : APR_SUCCESS;
}

/* Bytes for the file, gathered into 64 KiB writes. */
static apr_status_t stage(tf_body_t *b, const char *data, apr_size_t len)
{
    apr_status_t rv;

    while (len) {
        apr_size_t n = TF_IOBUF_SIZE - b->staged;

        if (b->staged == 0 && len >= TF_IOBUF_SIZE) {
            return apr_file_write_full(b->file, data, len, NULL);
        }
        if (n > len) {
            n = len;
        }
        memcpy(b->staging + b->staged, data, n);
        b->staged += n;
        data += n;
        len -= n;
        if (b->staged == TF_IOBUF_SIZE
            && (rv = unstage(b)) != APR_SUCCESS) {
            return rv;
        }
    }
    return APR_SUCCESS;
}

/* Body bytes for the file; framed, each TF_FCGI_MAX_CONTENT of them
 * preceded by the header of the STDIN record they make. */
static apr_status_t to_file(tf_body_t *b, const char *data, apr_size_t len)
{
    unsigned char h[TF_FCGI_HEADER_LEN];
    apr_status_t rv;

    while (len) {
        apr_size_t n = len;

        if (b->framed) {
            apr_size_t in_rec = (apr_size_t)(b->filed % TF_FCGI_MAX_CONTENT);
            apr_off_t left = b->announced - b->filed;

            if (left < (apr_off_t)len) {
                return APR_EGENERAL; /* more than announced: never */
            }
            if (in_rec == 0) {
                tf_fcgi_header_encode(h, TF_FCGI_STDIN, 1,
                                      left < TF_FCGI_MAX_CONTENT
                                          ? (size_t)left
                                          : TF_FCGI_MAX_CONTENT, 0);
                if ((rv = stage(b, (const char *)h, sizeof(h)))
                    != APR_SUCCESS) {
                    return rv;
                }
            }
            if (n > TF_FCGI_MAX_CONTENT - in_rec) {
                n = TF_FCGI_MAX_CONTENT - in_rec;
            }
        }
        if ((rv = stage(b, data, n)) != APR_SUCCESS) {
            return rv;
        }
        b->filed += (apr_off_t)n;
        data += n;
        len -= n;
    }
    return APR_SUCCESS;
}

/* Give the staging buffer back to the process's cache (the body is all
 * in the file, or the request is over). */
static apr_status_t put_staging(void *data)
{
    tf_body_t *b = data;

    tf_iobuf_put(b->staging);
    b->staging = NULL;
    return APR_SUCCESS;
}

/* The spool file, and its staging buffer: one of the process's answer
 * buffers, not the request's memory (a connection's allocator would keep
 * it, up to MaxMemFree, for every connection that ever spooled).
 * @return APR_SUCCESS, or the error (logged). */
static apr_status_t open_file(tf_body_t *b)
{
    apr_status_t rv;
    const char *dir;

    rv = tf_tmpfile_create(&b->file, "tracfcgi-body", 0, b->r->pool, &dir);
    if (rv != APR_SUCCESS) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, rv, b->r, TFLOGNO(00201)
                      "cannot create a temporary file for the request "
                      "body in %s", dir);
        return rv;
    }
    if (!(b->staging = tf_iobuf_get())) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, APR_ENOMEM, b->r,
                      TFLOGNO(00207) "no memory to spool the request body");
        return APR_ENOMEM;
    }
    apr_pool_cleanup_register(b->r->pool, b, put_staging,
                              apr_pool_cleanup_null);
    return APR_SUCCESS;
}

static apr_status_t spool(tf_body_t *b, const char *data, apr_size_t len,
                          apr_off_t mem_limit)
{
    apr_size_t room;
    apr_status_t rv;

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
        if ((rv = open_file(b)) != APR_SUCCESS) {
            return rv;
        }
    }
    return to_file(b, data, len);
}

/* The client failed to send its body: log it, @return the HTTP status. */
static int client_error(request_rec *r, apr_status_t rv)
{
    ap_log_rerror(APLOG_MARK, APLOG_INFO, rv, r, TFLOGNO(00202)
                  "error reading the request body from the client");
    return ap_map_http_request_error(rv, HTTP_BAD_REQUEST);
}

/* TracFcgiMaxRequestLen (or mod_fcgid's FcgidMaxRequestLen) @max is
 * passed: said once, as httpd says LimitRequestBody's. @p len is what
 * the client announced, or (@p announced 0) what it had sent so far.
 * @return 413. */
static int too_long(request_rec *r, apr_off_t max, apr_off_t len,
                    int announced)
{
    ap_log_rerror(APLOG_MARK, APLOG_WARNING, 0, r, TFLOGNO(00206)
                  "request body %s%" APR_OFF_T_FMT " bytes is over "
                  "TracFcgiMaxRequestLen (FcgidMaxRequestLen) %"
                  APR_OFF_T_FMT "; answering 413 before any backend is "
                  "taken", announced ? "of " : "of at least ", len, max);
    return HTTP_REQUEST_ENTITY_TOO_LARGE;
}

/* Streamed: the first 64 KiB now (a small body is then read whole, and
 * LimitRequestBody or a client that sends nothing is answered before a
 * backend is taken), the rest in tf_body_next(). */
static int read_first(tf_body_t *b, apr_off_t announced)
{
    apr_size_t got;
    apr_status_t rv;

    b->mem_cap = announced < IOBUF ? (apr_size_t)announced : IOBUF;
    b->mem = apr_palloc(b->r->pool, b->mem_cap);
    b->bb = apr_brigade_create(b->r->pool, b->r->connection->bucket_alloc);
    b->len = announced;
    while (b->mem_len < b->mem_cap && !b->eos) {
        rv = fetch(b, b->mem + b->mem_len, b->mem_cap - b->mem_len, &got);
        if (rv != APR_SUCCESS) {
            return client_error(b->r, rv);
        }
        b->mem_len += got;
    }
    if ((apr_off_t)b->mem_len >= announced) {
        b->eos = 1; /* all of it in memory: it behaves as if buffered */
    }
    b->stream = !b->eos;
    if (b->stream) {
        b->iobuf = apr_palloc(b->r->pool, IOBUF);
    }
    return OK;
}

/* Buffered: read the whole body into memory, then (past @p mem_limit, or
 * from the start if b->file is open already) the spool file. @return OK,
 * or the HTTP status to answer (logged). */
static int read_whole(tf_body_t *b, apr_off_t mem_limit, apr_off_t max_len)
{
    request_rec *r = b->r;
    apr_bucket_brigade *bb;
    apr_status_t rv;
    int seen_eos = 0;

    bb = apr_brigade_create(r->pool, r->connection->bucket_alloc);
    do {
        apr_bucket *e;

        rv = ap_get_brigade(r->input_filters, bb, AP_MODE_READBYTES,
                            APR_BLOCK_READ, IOBUF);
        if (rv != APR_SUCCESS) {
            return client_error(r, rv);
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
            if (rv == APR_SUCCESS && max_len > 0
                && b->len + (apr_off_t)len > max_len) {
                apr_brigade_cleanup(bb);
                return too_long(r, max_len, b->len + (apr_off_t)len, 0);
            }
            if (rv == APR_SUCCESS) {
                rv = spool(b, data, len, mem_limit);
            }
            if (rv != APR_SUCCESS) {
                goto spool_failed;
            }
            b->len += (apr_off_t)len;
        }
        apr_brigade_cleanup(bb);
    } while (!seen_eos);
    if (b->file) {
        if ((rv = unstage(b)) != APR_SUCCESS) {
            goto spool_failed;
        }
        put_staging(b);
    }
    if (b->framed && b->len != b->announced) {
        /* its records would say more than there is */
        return client_error(r, APR_INCOMPLETE);
    }
    return OK;

spool_failed:
    /* no file or no staging buffer: open_file() said so */
    if (b->file && b->staging) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, rv, r, TFLOGNO(00203)
                      "cannot write the request body to its temporary file");
    }
    return HTTP_INTERNAL_SERVER_ERROR;
}

int tf_body_read(request_rec *r, apr_off_t mem_limit, apr_off_t max_len,
                 int stream, tf_body_t **out)
{
    tf_body_t *b = apr_pcalloc(r->pool, sizeof(*b));
    const char *cl, *te;
    apr_off_t announced;

    b->r = r;
    te = apr_table_get(r->headers_in, "Transfer-Encoding");
    cl = apr_table_get(r->headers_in, "Content-Length");
    b->present = te || cl;
    *out = b;
    if (!b->present) {
        return OK;
    }
    if (!cl || apr_strtoff(&announced, cl, NULL, 10) != APR_SUCCESS) {
        announced = 0;
    }
    /* a Content-Length says it at once (chunked has none: counted) */
    if (max_len > 0 && !te && announced > max_len) {
        return too_long(r, max_len, announced, 1);
    }
    if (stream && !te && announced > 0) {
        return read_first(b, announced);
    }
    /* a body whose length is announced and fits memory gets one buffer
     * of that size: no regrowth; one that does not goes to the file from
     * its first byte (none of it is held in memory while the rest comes) */
    if (announced > 0 && announced <= mem_limit) {
        b->mem = apr_palloc(r->pool, (apr_size_t)announced);
        b->mem_cap = (apr_size_t)announced;
    }
    else if (announced > mem_limit && !te) {
        if (open_file(b) != APR_SUCCESS) {
            return HTTP_INTERNAL_SERVER_ERROR;
        }
        b->framed = 1;
        b->announced = announced;
    }
    return read_whole(b, mem_limit, max_len);
}

apr_off_t tf_body_length(const tf_body_t *b)
{
    return b->len;
}

int tf_body_present(const tf_body_t *b)
{
    return b->present;
}

int tf_body_client_error(const tf_body_t *b)
{
    return b->client_status;
}

apr_status_t tf_body_rewind(tf_body_t *b)
{
    apr_off_t zero = 0;

    if (b->consumed) {
        return APR_EINCOMPLETE;
    }
    b->pos = 0;
    return b->file ? apr_file_seek(b->file, APR_SET, &zero) : APR_SUCCESS;
}

apr_status_t tf_body_next(tf_body_t *b, apr_size_t max, const char **data,
                          apr_size_t *len, int *stable)
{
    apr_status_t rv;

    /* streamed: what is in memory goes out before the client is waited
     * for (the caller stops gathering after a piece that is not stable) */
    *stable = b->pos < (apr_off_t)b->mem_len && !b->stream;
    if (b->pos < (apr_off_t)b->mem_len) {
        *data = b->mem + b->pos;
        *len = b->mem_len - (apr_size_t)b->pos;
        if (*len > max) {
            *len = max;
        }
        b->pos += (apr_off_t)*len;
        return APR_SUCCESS;
    }
    if (b->stream) {
        if (b->eos || b->client_status) {
            return APR_EOF;
        }
        b->consumed = 1;
        rv = fetch(b, b->iobuf, max < IOBUF ? max : IOBUF, len);
        if (rv != APR_SUCCESS) {
            b->client_status = ap_map_http_request_error(rv,
                                                         HTTP_BAD_REQUEST);
            ap_log_rerror(APLOG_MARK, APLOG_INFO, rv, b->r, TFLOGNO(00205)
                          "error reading the request body from the client "
                          "while streaming it to a backend "
                          "(TracFcgiRequestBuffering Off)");
            return rv;
        }
        if (*len == 0) {
            return APR_EOF;
        }
        *data = b->iobuf;
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
    if (b->framed) {
        /* the payload of the record at pos, past its header */
        apr_off_t in_rec = b->pos % TF_FCGI_MAX_CONTENT;
        apr_off_t at = b->pos / TF_FCGI_MAX_CONTENT * RECORD
                       + TF_FCGI_HEADER_LEN + in_rec;

        if (*len > (apr_size_t)(TF_FCGI_MAX_CONTENT - in_rec)) {
            *len = (apr_size_t)(TF_FCGI_MAX_CONTENT - in_rec);
        }
        if ((rv = apr_file_seek(b->file, APR_SET, &at)) != APR_SUCCESS) {
            return rv;
        }
    }
    rv = apr_file_read(b->file, b->iobuf, len);
    if (rv != APR_SUCCESS) {
        return rv;
    }
    *data = b->iobuf;
    b->pos += (apr_off_t)*len;
    return APR_SUCCESS;
}

apr_status_t tf_body_next_file(tf_body_t *b, apr_size_t max, int *fd,
                               apr_off_t *off, apr_size_t *len,
                               int *records)
{
    apr_os_file_t os;
    apr_off_t left = b->len - b->pos;

    if (b->stream || !b->file || b->pos < (apr_off_t)b->mem_len
        || left <= 0 || apr_os_file_get(&os, b->file) != APR_SUCCESS) {
        return APR_ENOTIMPL;
    }
    *fd = os;
    *records = b->framed;
    if (b->framed) {
        /* the rest of the body, whole records with their headers */
        if (b->pos % TF_FCGI_MAX_CONTENT) {
            return APR_ENOTIMPL; /* read partly by tf_body_next() */
        }
        *off = b->pos / TF_FCGI_MAX_CONTENT * RECORD;
        *len = (apr_size_t)(left + (left + TF_FCGI_MAX_CONTENT - 1)
                                       / TF_FCGI_MAX_CONTENT
                                       * TF_FCGI_HEADER_LEN);
        b->pos = b->len;
        return APR_SUCCESS;
    }
    *off = b->pos - (apr_off_t)b->mem_len;
    *len = left < (apr_off_t)max ? (apr_size_t)left : max;
    b->pos += (apr_off_t)*len;
    return APR_SUCCESS;
}
