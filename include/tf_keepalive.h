/*
 * tf_keepalive.h: the connections to external FastCGI servers that an
 * httpd child keeps open, idle, for its next request (keepalive= of
 * TracFcgiExternalServer; FCGI_KEEP_CONN), and the thread of the child
 * that closes them: after keepalive= seconds idle, and at once when the
 * table says their place is wanted by a waiting request or their address
 * is no longer up (see "Kept connections" in tf_pool.h).
 */
#ifndef TF_KEEPALIVE_H
#define TF_KEEPALIVE_H

#include "httpd.h"

#include "tf_pool.h"
#include "tf_shm.h"

/** child_init: this child's table and pid; its kept connections are
 * closed, and their places given back, when @p pchild goes. */
void tf_keepalive_child_init(apr_pool_t *pchild, tf_shm_t *shm, pid_t self);

/**
 * A kept connection of pool @p pool, taken out of the cache (the newest
 * first; one the server has closed meanwhile is dropped on the way).
 * @param[out] ref  its slot.
 * @return its descriptor, or -1.
 */
int tf_keepalive_take(int pool, tf_proc_ref_t *ref);

/**
 * Keep @p fd, which just served a request on @p ref of pool @p pool,
 * for @p secs idle, if the table agrees (tf_pool_req_keep()).
 * @return 1 when kept (the cache owns @p fd now), 0 when the caller
 *         closes it and gives the connection back as usual.
 */
int tf_keepalive_keep(int fd, int pool, tf_proc_ref_t ref,
                      apr_uint32_t secs);

#endif /* TF_KEEPALIVE_H */
