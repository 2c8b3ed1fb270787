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
 * Move everything in @bb to the end of the temporary file and leave @bb
 * holding the file from its start (file buckets only). @bb must hold
 * nothing but what an earlier call left there and memory buckets.
 * @return APR_SUCCESS, or why not (logged; @bb is then unchanged).
 */
apr_status_t tf_spill_move(tf_spill_t *sp, apr_bucket_brigade *bb);

/** @return the bytes in the temporary file so far. */
apr_off_t tf_spill_size(const tf_spill_t *sp);

#endif /* TF_SPILL_H */
