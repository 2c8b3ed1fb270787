/*
 * tf_metrics.h: the status handler's figures in Prometheus's text
 * exposition format (version 0.0.4): ?prometheus, or Accept: text/plain;
 * version=0.0.4. Per pool (labels pool, script, vhost, uid, trac_env):
 * processes by state, connections in use, requests waiting, requests,
 * queue timeouts, spawns, exits by reason, answers 502/503/504, and the
 * histogram of how long requests held a backend; per process its RSS.
 * The counters are those of this configuration generation: a graceful
 * restart starts them again (their HELP says so).
 */
#ifndef TF_METRICS_H
#define TF_METRICS_H

#include "httpd.h"

#include "tf_pool.h"

/** @return 1 when @p r asks for the exposition format. */
int tf_metrics_wanted(const request_rec *r);

/** @return the resident memory of process @p pid in bytes (0 when it
 *          cannot be read). */
apr_uint64_t tf_metrics_rss(pid_t pid);

/** Write the exposition of a table copy (the status page's snapshot). */
void tf_metrics_emit(request_rec *r, const tf_table_hdr_t *hdr,
                     const tf_pool_ent_t *pools, const tf_proc_ent_t *procs,
                     apr_time_t now);

#endif /* TF_METRICS_H */
