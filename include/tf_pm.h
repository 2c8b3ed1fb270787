/*
 * tf_pm.h: the process manager, a daemon forked from the httpd parent (one
 * per configuration generation). It alone starts backends (on request of
 * httpd children, over its control socket), reaps them, stops idle or
 * broken ones, and logs their stderr. httpd restarts it if it dies.
 *
 * Two files, one for each process: src/pm_parent.c runs in the httpd
 * parent and implements this interface; src/pm.c is the daemon.
 */
#ifndef TF_PM_H
#define TF_PM_H

#include "httpd.h"
#include "apr_pools.h"

#include "tf_shm.h"
#include "apr_tables.h"

/**
 * Fork the process manager and register it with httpd (other_child:
 * restarted when it dies, unless httpd is stopping; stopped with @p pconf).
 * @param sock_dir  directory of the backend sockets (exists, owned by the
 *                  httpd User, mode 0700).
 * @param ctl_path  path of the PM's control socket.
 * @param declared  pools of TracFcgiServer (tf_spec_declared_t): entered
 *                  in the table now, their minimum started at once.
 */
apr_status_t tf_pm_start(apr_pool_t *pconf, server_rec *s, tf_shm_t *shm,
                         const char *sock_dir, const char *ctl_path,
                         apr_uint32_t generation,
                         apr_array_header_t *declared);

#endif /* TF_PM_H */
