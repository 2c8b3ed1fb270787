/*
 * tf_body.h: the request body, read completely before a backend is taken:
 * kept in memory up to a threshold, then spooled to a temporary file. A
 * slow uploader therefore never holds a backend, and a request whose
 * backend died before answering can be sent again to another one.
 */
#ifndef TF_BODY_H
#define TF_BODY_H

#include "httpd.h"

typedef struct tf_body tf_body_t;

/**
 * Read the whole body of @p r (dechunked; LimitRequestBody applies).
 * @param mem_limit  bytes kept in memory before spooling to a file.
 * @return OK with @p body set, or an HTTP status (413, 400, ...) to return.
 */
int tf_body_read(request_rec *r, apr_off_t mem_limit, tf_body_t **body);

/** @return the body's length in bytes. */
apr_off_t tf_body_length(const tf_body_t *body);

/** @return 1 if the request announced a body (even an empty one). */
int tf_body_present(const tf_body_t *body);

/** Start reading the body from its beginning (for a replay too). */
apr_status_t tf_body_rewind(tf_body_t *body);

/**
 * Next piece of at most @p max bytes.
 * @param[out] stable  1: the piece stays valid as long as the request (it
 *                     is in memory); 0: only until the next call.
 * @return APR_SUCCESS with data and len set, APR_EOF at the end, or a
 *         file read error.
 */
apr_status_t tf_body_next(tf_body_t *body, apr_size_t max, const char **data,
                          apr_size_t *len, int *stable);

#endif /* TF_BODY_H */
