/*
 * tf_body.h: the request body. Buffered (the default): read completely
 * before a backend is taken, kept in memory up to a threshold, then
 * spooled to a temporary file; a slow uploader therefore never holds a
 * backend, and a request whose backend died before answering can be sent
 * again to another one. Streamed (TracFcgiRequestBuffering Off): its first
 * 64 KiB are read before a backend is taken, the rest while it is sent.
 */
#ifndef TF_BODY_H
#define TF_BODY_H

#include "httpd.h"

typedef struct tf_body tf_body_t;

/**
 * Read the body of @p r (dechunked; LimitRequestBody applies): all of it,
 * or with @p stream and a Content-Length, only its first 64 KiB (a body of
 * unknown length is always read whole: CGI needs CONTENT_LENGTH).
 * @param mem_limit  bytes kept in memory before spooling to a file.
 * @param max_len    a longer body gets 413 (logged): at once when its
 *                   Content-Length says so, else when the count passes
 *                   it; 0: no limit but LimitRequestBody's.
 * @return OK with @p body set, or an HTTP status (413, 400, ...) to return.
 */
int tf_body_read(request_rec *r, apr_off_t mem_limit, apr_off_t max_len,
                 int stream, tf_body_t **body);

/** @return the body's length in bytes. */
apr_off_t tf_body_length(const tf_body_t *body);

/** @return 1 if the request announced a body (even an empty one). */
int tf_body_present(const tf_body_t *body);

/**
 * Start reading the body from its beginning (for a replay too).
 * @return APR_SUCCESS, APR_EINCOMPLETE if part of a streamed body was
 *         already consumed (it cannot be sent again), or a file error.
 */
apr_status_t tf_body_rewind(tf_body_t *body);

/**
 * @return 0, or the HTTP status (400, 408, 413) that a client error while
 *         a streamed body was read calls for; tf_body_next() then returned
 *         that error and logged it.
 */
int tf_body_client_error(const tf_body_t *body);

/**
 * Next piece of at most @p max bytes.
 * @param[out] stable  1: the piece stays valid as long as the request (it
 *                     is in memory); 0: only until the next call.
 * @return APR_SUCCESS with data and len set, APR_EOF at the end, or a
 *         file read error, or (streamed) the client's error. A streamed
 *         body blocks here until the client sends (httpd's Timeout).
 */
apr_status_t tf_body_next(tf_body_t *body, apr_size_t max, const char **data,
                          apr_size_t *len, int *stable);

/**
 * The next piece, if it lies in the spool file: @p len bytes at @p off of
 * the descriptor @p fd, which stays open as long as the request; to be
 * sent with sendfile(), never copied through memory. A body whose
 * Content-Length was past the memory threshold is spooled as STDIN
 * records, headers included (@p records 1): the piece is then the whole
 * rest of the body, ready to send; else (@p records 0) it is at most
 * @p max bytes of content, for a record of its own.
 * @return APR_SUCCESS, or APR_ENOTIMPL when the next piece is in memory,
 *         streamed, or the end (tf_body_next() then).
 */
apr_status_t tf_body_next_file(tf_body_t *body, apr_size_t max, int *fd,
                               apr_off_t *off, apr_size_t *len,
                               int *records);

#endif /* TF_BODY_H */
