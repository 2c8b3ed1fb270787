/*
 * tf_spill.h: the body of an answer held back from the client
 * (TracFcgiResponseBuffer): memory buckets moved to an unlinked temporary
 * file, so that a backend is free as soon as it has written its answer,
 * however slowly the client then reads it.
 */
#ifndef TF_SPILL_H
#define TF_SPILL_H

#include "apr_buckets.h"
#include "httpd.h"

typedef struct tf_spill tf_spill_t;

/** A spill area for @r's answer; the file is made on first use. */
tf_spill_t *tf_spill_create(request_rec *r);

/**
 * Move the memory buckets of @bb to the end of the temporary file: @bb
 * then holds one file bucket (or pieces of one), what an earlier call
 * left there (less what tf_spill_take() took from it) grown by what was
 * just written. @bb must hold that bucket, if any, then memory buckets.
 * @return APR_SUCCESS, or why not (logged; @bb is then unchanged).
 */
apr_status_t tf_spill_move(tf_spill_t *sp, apr_bucket_brigade *bb);

/**
 * Read up to @max bytes from the start of @b, a file bucket of this
 * file, into a new heap bucket *@piece (not in any brigade), and drop
 * them from @b (deleted when nothing is left). A piece read back is the
 * module's own memory: httpd may keep it back as it likes, where it would
 * take over the file of a file bucket (apr_file_setaside()).
 * @return APR_SUCCESS, or why not (logged; @b is then unchanged).
 */
apr_status_t tf_spill_take(tf_spill_t *sp, apr_bucket *b, apr_size_t max,
                           apr_bucket **piece);

/** @return the bytes in the temporary file so far. */
apr_off_t tf_spill_size(const tf_spill_t *sp);

#endif /* TF_SPILL_H */
