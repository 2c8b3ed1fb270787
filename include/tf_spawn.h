/*
 * tf_spawn.h: start one backend process. tf_spawn_backend() runs only in
 * the process manager (src/pm.c), from its spawn threads; whether the new
 * backend is ready is asked with tf_backend_probe() (src/backend.c).
 */
#ifndef TF_SPAWN_H
#define TF_SPAWN_H

#include <sys/types.h>

#include "apr_time.h"

#include "tf_ipc.h"

/**
 * Bind and listen on a unix socket at @p sock_path, then fork and exec
 * spec->argv with that socket as fd 0 (the FastCGI convention), its
 * stdout and stderr on a pipe whose read end is returned, in a session of
 * its own (httpd's signals to its process group never reach it), with the
 * environment spec->env only, and no other descriptor of ours.
 * @param[out] pid        the backend's pid.
 * @param[out] stderr_fd  read end of its stdout/stderr pipe.
 * @param err  on failure, what went wrong (exec errors included: not
 *             found, not executable, bad interpreter).
 * @return APR_SUCCESS, or the errno of the step that failed.
 */
apr_status_t tf_spawn_backend(const tf_spawn_spec_t *spec,
                              const char *sock_path, pid_t *pid,
                              int *stderr_fd, char *err, apr_size_t errlen);

#endif /* TF_SPAWN_H */
