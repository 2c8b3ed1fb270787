/*
 * spill.c: an answer's body held back from the client (see tf_spill.h).
 *
 * The file is unlinked as soon as it is made: nothing is left behind if
 * httpd dies, and its pages go when the last file bucket that refers to
 * it is gone (httpd may still be sending it after the handler returned).
 * Writes go to explicit offsets, so that nothing else that reads the file
 * through its buckets can move them.
 */
#include <sys/uio.h>

#include "apr_file_io.h"
#include "apr_strings.h"
#include "httpd.h"
#include "http_log.h"

#include "tf_private.h"
#include "tf_spill.h"
#include "tf_tmpfile.h"

#define SPILL_IOV 64 /* buckets written by one writev() */

struct tf_spill {
    request_rec *r;
    apr_file_t *file;
    apr_off_t size; /* bytes written */
};

tf_spill_t *tf_spill_create(request_rec *r)
{
    tf_spill_t *sp = apr_pcalloc(r->pool, sizeof(*sp));

    sp->r = r;
    return sp;
}

apr_off_t tf_spill_size(const tf_spill_t *sp)
{
    return sp->size;
}

static apr_status_t make_file(tf_spill_t *sp)
{
    request_rec *r = sp->r;
    const char *dir;
    apr_status_t rv;

    rv = tf_tmpfile_create(&sp->file, "tracfcgi-answer",
                           APR_FOPEN_SENDFILE_ENABLED, r->pool, &dir);
    if (rv == APR_SUCCESS) {
        return APR_SUCCESS;
    }
    sp->file = NULL;
    ap_log_rerror(APLOG_MARK, APLOG_WARNING, rv, r, TFLOGNO(01001)
                  "cannot create a temporary file in %s to hold the "
                  "answer back (TracFcgiResponseBuffer): it is streamed to "
                  "the client instead", dir);
    return rv;
}

/* Write the buckets of @bb from @b on (memory buckets), in order, after
 * what the file holds. */
static apr_status_t write_out(tf_spill_t *sp, apr_bucket_brigade *bb,
                              apr_bucket *b)
{
    struct iovec vec[SPILL_IOV];
    apr_off_t at = sp->size;
    apr_size_t n = 0, written;
    apr_status_t rv = APR_SUCCESS;

    for (;;) {
        int end = b == APR_BRIGADE_SENTINEL(bb);

        if (!end) {
            const char *data;
            apr_size_t len;

            rv = apr_bucket_read(b, &data, &len, APR_BLOCK_READ);
            if (rv != APR_SUCCESS) {
                return rv;
            }
            if (len) {
                vec[n].iov_base = (void *)data;
                vec[n++].iov_len = len;
            }
        }
        if (n && (end || n == SPILL_IOV)) {
            if ((rv = apr_file_seek(sp->file, APR_SET, &at)) != APR_SUCCESS
                || (rv = apr_file_writev_full(sp->file, vec, n, &written))
                       != APR_SUCCESS) {
                return rv;
            }
            at += (apr_off_t)written;
            n = 0;
        }
        if (end) {
            break;
        }
        b = APR_BUCKET_NEXT(b);
    }
    sp->size = at;
    return APR_SUCCESS;
}

apr_status_t tf_spill_move(tf_spill_t *sp, apr_bucket_brigade *bb)
{
    request_rec *r = sp->r;
    apr_off_t before = sp->size;
    apr_bucket *held = NULL, *b;
    apr_status_t rv;

    if (!sp->file && (rv = make_file(sp)) != APR_SUCCESS) {
        return rv;
    }
    for (b = APR_BRIGADE_FIRST(bb);
         b != APR_BRIGADE_SENTINEL(bb) && APR_BUCKET_IS_FILE(b);
         b = APR_BUCKET_NEXT(b)) {
        held = b; /* the last of them (pieces of one, if any) */
    }
    if ((rv = write_out(sp, bb, b)) != APR_SUCCESS) {
        sp->size = before;
        ap_log_rerror(APLOG_MARK, APLOG_WARNING, rv, r, TFLOGNO(01002)
                      "cannot write the answer to its temporary file "
                      "(TracFcgiResponseBuffer): the rest is streamed to "
                      "the client instead");
        return rv;
    }
    while (b != APR_BRIGADE_SENTINEL(bb)) {
        apr_bucket *next = APR_BUCKET_NEXT(b);

        apr_bucket_delete(b);
        b = next;
    }
    /* The file bucket grows: httpd's core, keeping a file bucket back,
     * takes its file over (apr_file_setaside() leaves the old apr_file_t
     * without a descriptor), and another bucket made on the same
     * apr_file_t would then read nothing (pieces of one bucket share
     * what the core changes). It ends where the file does. */
    if (held) {
        held->length += (apr_size_t)(sp->size - before);
    }
    else {
        apr_brigade_insert_file(bb, sp->file, before, sp->size - before,
                                r->pool);
    }
    return APR_SUCCESS;
}

apr_status_t tf_spill_take(tf_spill_t *sp, apr_bucket *b, apr_size_t max,
                           apr_bucket **piece)
{
    apr_bucket_alloc_t *ba = sp->r->connection->bucket_alloc;
    apr_size_t n = b->length < max ? b->length : max, got;
    apr_off_t at = b->start;
    apr_status_t rv;
    char *buf;

    buf = apr_bucket_alloc(n, ba);
    if ((rv = apr_file_seek(sp->file, APR_SET, &at)) != APR_SUCCESS
        || (rv = apr_file_read_full(sp->file, buf, n, &got)) != APR_SUCCESS) {
        apr_bucket_free(buf);
        ap_log_rerror(APLOG_MARK, APLOG_ERR, rv, sp->r, TFLOGNO(01003)
                      "cannot read the answer back from its temporary file "
                      "(TracFcgiResponseBuffer)");
        return rv;
    }
    *piece = apr_bucket_heap_create(buf, n, apr_bucket_free, ba);
    b->start += (apr_off_t)n;
    b->length -= n;
    if (b->length == 0) {
        apr_bucket_delete(b);
    }
    return APR_SUCCESS;
}
