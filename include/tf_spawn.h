/*
 * tf_spawn.h: start one backend process and probe it. tf_spawn_backend()
 * runs only in the process manager (src/pm.c), from its spawn threads;
 * tf_spawn_probe() there too, and in a request whose client went away
 * (src/bridge.c: is the backend free again?).
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

/**
 * Ask the backend listening at @p sock_path for FCGI_MAX_CONNS with
 * FCGI_GET_VALUES, waiting up to @p timeout.
 * @param[out] max_conns  its answer (1 when it gave none).
 * @return APR_SUCCESS (answered), APR_EOF (closed without answering: it
 *         accepts connections, but ignores management records),
 *         APR_TIMEUP, or the connect/read error (ECONNREFUSED: nobody
 *         listens any more, the backend is gone).
 */
apr_status_t tf_spawn_probe(const char *sock_path, apr_interval_time_t timeout,
                            apr_uint32_t *max_conns);

#endif /* TF_SPAWN_H */
