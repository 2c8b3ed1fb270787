/*
 * tf_health.h: the process manager's probes of external FastCGI servers
 * (TracFcgiExternalServer): each address once at the manager's start (to
 * learn its FCGI_MAX_CONNS and whether it is there), then every down one
 * every check= seconds until it answers.
 */
#ifndef TF_HEALTH_H
#define TF_HEALTH_H

#include "httpd.h"

#include "tf_shm.h"

/**
 * Start the prober, a thread of the manager's (when the configuration in
 * @p pconf has external servers). It holds the table lock for bookkeeping
 * only: a probe (up to TracFcgiConnectTimeout) runs without it.
 * @return APR_SUCCESS, also when there is nothing to probe.
 */
apr_status_t tf_health_start(apr_pool_t *pconf, server_rec *s,
                             tf_shm_t *shm);

#endif /* TF_HEALTH_H */
