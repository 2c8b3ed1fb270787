/*
 * tf_pm_daemon.h: between the two halves of the process manager, internal
 * to them: src/pm_parent.c (the httpd parent: forks, restarts and stops
 * the manager) and src/pm.c (the manager daemon itself). Nothing else
 * includes it; the module's interface is tf_pm.h.
 */
#ifndef TF_PM_DAEMON_H
#define TF_PM_DAEMON_H

#include "httpd.h"
#include "apr_pools.h"
#include "apr_tables.h"

#include "tf_shm.h"

/* Exit code of a manager that cannot start at all: the parent then does
 * not restart it in a loop (mod_cgid's DAEMON_STARTUP_ERROR). */
#define TF_PM_STARTUP_ERROR 254

/** What the parent hands each manager it forks (read-only for it). */
typedef struct {
    apr_pool_t *pconf;        /* the generation's configuration pool */
    server_rec *s;            /* main server: the manager logs with it */
    tf_shm_t *shm;            /* the generation's process table */
    const char *sock_dir;     /* backend sockets (0700, owned by User) */
    const char *ctl_path;     /* the control socket's path */
    apr_uint32_t gen;         /* httpd configuration generation */
    int ctl_fd;               /* the control socket, bound and listening
                               * in the parent; inherited by the manager */
    apr_array_header_t *declared; /* tf_spec_declared_t, with spec.pool
                                   * set (-1: the table was full) */
} tf_pm_args_t;

/**
 * Run the manager in the process the parent has just forked for it: drop
 * privileges, serve the control socket, supervise the backends, until
 * SIGTERM or the end of a drain.
 * @return the process's exit code: 0, or TF_PM_STARTUP_ERROR.
 */
int tf_pm_daemon_run(const tf_pm_args_t *args);

#endif /* TF_PM_DAEMON_H */
