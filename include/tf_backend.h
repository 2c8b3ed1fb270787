/*
 * tf_backend.h: where a backend listens, and the two ways of talking to it
 * at the socket level: a connection for a request, and the FCGI_GET_VALUES
 * probe (is it ready, is it free again, how many connections does it
 * take).
 *
 * A unix socket today; a TCP address or an external server is a new
 * family here, not a new branch in the request path. APR and the codec
 * only: no httpd, no logging (the callers log), so that the request path,
 * the process manager and the unit tests share it.
 */
#ifndef TF_BACKEND_H
#define TF_BACKEND_H

#include "apr_errno.h"
#include "apr_time.h"

typedef enum {
    TF_BACKEND_UNIX = 0 /* a unix stream socket at a path */
} tf_backend_family_e;

typedef struct {
    tf_backend_family_e family;
    const char *path;   /* TF_BACKEND_UNIX: the socket (dumb pointer) */
} tf_backend_addr_t;

/**
 * Open a connection to @p a for a request: non-blocking, close-on-exec.
 * A full listen queue is waited on (blocking) up to @p connect_timeout.
 * @param[out] fd  the connection, or -1.
 * @return APR_SUCCESS; APR_TIMEUP when the listen queue stayed full; or
 *         the errno of socket()/connect() (ECONNREFUSED, ENOENT: nobody
 *         listens, the backend is gone: the request never reached it).
 */
apr_status_t tf_backend_connect(const tf_backend_addr_t *a,
                                apr_interval_time_t connect_timeout,
                                int *fd);

/**
 * Ask the backend at @p a for FCGI_MAX_CONNS with FCGI_GET_VALUES, waiting
 * up to @p timeout (connecting included). A one-connection backend accepts
 * only once it is free: the probe answers "is it free again" too.
 * @param[out] max_conns  its answer (1 when it gave none).
 * @return APR_SUCCESS (answered), APR_EOF (closed without answering: it
 *         accepts connections, but ignores management records, as libfcgi
 *         does), APR_TIMEUP, APR_EGENERAL (it broke the protocol), or the
 *         connect/read error (ECONNREFUSED: nobody listens any more).
 */
apr_status_t tf_backend_probe(const tf_backend_addr_t *a,
                              apr_interval_time_t timeout,
                              apr_uint32_t *max_conns);

#endif /* TF_BACKEND_H */
