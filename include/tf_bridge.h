/*
 * tf_bridge.h: the request path. Takes a backend from the pool (starting
 * one through the process manager, or waiting in the pool's FIFO), sends
 * the request to it over its unix socket and streams the answer back.
 */
#ifndef TF_BRIDGE_H
#define TF_BRIDGE_H

#include "httpd.h"

#include "tf_outcome.h"
#include "tf_shm.h"

/** Set once in the httpd parent (post_config), inherited by children. */
void tf_bridge_runtime_set(tf_shm_t *shm, const char *ctl_path);

/** child_init: remember this child's pid (getpid() is a system call). */
void tf_bridge_child_init(void);

/**
 * @return 1 if @p r is ours: handler tracfcgi-script, or a .fcgi file
 *         reached through ScriptAlias (handler cgi-script).
 */
int tf_bridge_wants(request_rec *r);

/**
 * @return the status the client gets for @p o (tf_outcome_status(), the
 *         one mapping); a 503 says when to come back (Retry-After: 5)
 *         unless the caller knows better (a back-off's end) and set it
 *         already. For the request path and the authorizers.
 */
int tf_bridge_answer(request_rec *r, tf_outcome_e o);

/** Serve @p r. @return OK or an HTTP status, as a handler does. */
int tf_bridge_handle(request_rec *r);

#endif /* TF_BRIDGE_H */
