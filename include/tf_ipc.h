/*
 * tf_ipc.h: messages between httpd request threads and the process
 * manager (PM), over the PM's unix control socket.
 *
 * One connection per message, in the style of mod_cgid's cgid_req_t: a
 * fixed header with explicit lengths, then the variable data. A request
 * thread asks the PM to start a backend in a slot it reserved, and blocks
 * reading the reply, which comes when the backend is ready or has failed.
 */
#ifndef TF_IPC_H
#define TF_IPC_H

#include <sys/types.h>

#include "apr_pools.h"
#include "apr_time.h"

#include "tf_pool.h"

#define TF_IPC_MAGIC 0x74664950u /* "tfIP" */
#define TF_IPC_VERSION 1
#define TF_IPC_MAX_LEN (64u * 1024 * 1024) /* sanity bound on a message */

/** Everything the PM needs to start one backend of a pool. */
typedef struct {
    tf_proc_ref_t ref;            /* the STARTING slot reserved for it */
    apr_int32_t pool;             /* pool index in the table */
    apr_uint64_t key;             /* pool key hash (sanity check) */
    apr_int32_t uid, gid;         /* identity (for the log and checks) */
    tf_pool_limits_t lim;
    apr_uint32_t startup_timeout; /* seconds */
    const char *name;             /* display name of the pool */
    const char *cwd;              /* working directory of the backend */
    const char *const *argv;      /* NULL-terminated; argv[0] is run */
    const char *const *env;       /* NULL-terminated NAME=VALUE list */
} tf_spawn_spec_t;

/** The PM's answer to a spawn request. */
typedef struct {
    apr_int32_t status;           /* APR_SUCCESS or an error (errno) */
    apr_uint32_t max_conns;       /* connections the backend takes */
    apr_int32_t pid;              /* the backend's pid, when started */
    char msg[496];                /* on failure: what happened */
} tf_ipc_reply_t;

/**
 * Request side: connect to the PM at @p ctl_path, send @p spec and wait up
 * to @p timeout for the reply.
 * @return APR_SUCCESS with @p reply filled (reply->status says whether the
 *         backend started), or a transport error (the PM is not there,
 *         went away, or did not answer in time: APR_TIMEUP).
 */
apr_status_t tf_ipc_spawn_request(apr_pool_t *p, const char *ctl_path,
                                  const tf_spawn_spec_t *spec,
                                  apr_interval_time_t timeout,
                                  tf_ipc_reply_t *reply);

/**
 * PM side: read one spawn request from connected socket @p fd (blocking).
 * Strings of @p spec live in @p p.
 * @return APR_SUCCESS, or an error for a short or malformed message.
 */
apr_status_t tf_ipc_spawn_read(int fd, apr_pool_t *p, tf_spawn_spec_t *spec);

/** PM side: write @p reply to @p fd. */
apr_status_t tf_ipc_reply_write(int fd, const tf_ipc_reply_t *reply);

/** Request side: tell the PM (by signal) that a process awaits stopping. */
void tf_ipc_wake_pm(pid_t pm_pid);

#endif /* TF_IPC_H */
