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
#define TF_IPC_VERSION 2
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
    const char *const *watch;     /* NULL-terminated: more paths that
                                   * TracFcgiReloadOnChange watches (may
                                   * be NULL: none) */
} tf_spawn_spec_t;

/** The PM's answer to a spawn request; sent as it is (wire format). */
typedef struct {
    apr_int32_t status;           /* APR_SUCCESS or an error (errno) */
    apr_uint32_t max_conns;       /* connections the backend takes */
    apr_int32_t pid;              /* the backend's pid, when started */
    char msg[496];                /* on failure: what happened */
} tf_ipc_reply_t;

/*
 * Wire format of a spawn request: tf_ipc_hdr_t, then hdr.len bytes: a
 * tf_ipc_spawn_fixed_t, then NUL-terminated strings, exactly filling
 * them: name, cwd, the n_argv argv entries, the n_env env entries, the
 * n_watch watched paths. Both
 * ends are the same build of the module on the same host: the structs go
 * in native byte order and layout.
 */
typedef struct {
    apr_uint32_t magic;           /* TF_IPC_MAGIC */
    apr_uint32_t version;         /* TF_IPC_VERSION */
    apr_uint32_t len;             /* bytes after this header */
} tf_ipc_hdr_t;

typedef struct {
    tf_proc_ref_t ref;
    apr_int32_t pool;
    apr_uint64_t key;
    apr_int32_t uid, gid;
    tf_pool_limits_t lim;
    apr_uint32_t startup_timeout;
    apr_uint32_t n_argv, n_env;   /* n_argv >= 1 */
    apr_uint32_t n_watch;
} tf_ipc_spawn_fixed_t;

/*
 * Encoding and decoding, apart from the I/O (pure: no I/O, no logging;
 * unit-tested on their own). tf_ipc_spawn_request() and
 * tf_ipc_spawn_read() below are these plus the socket.
 */

/**
 * Encode @p spec as one whole spawn request (header and body).
 * @param[out] buf  the message, allocated from @p p.
 * @param[out] len  its length in bytes.
 * @return APR_SUCCESS, or APR_EINVAL when the body would exceed
 *         TF_IPC_MAX_LEN.
 */
apr_status_t tf_ipc_spawn_encode(apr_pool_t *p, const tf_spawn_spec_t *spec,
                                 char **buf, apr_size_t *len);

/**
 * Check the header of a spawn request (its first sizeof(tf_ipc_hdr_t)
 * bytes, at @p hdr, any alignment).
 * @param[out] body_len  the bytes that follow it.
 * @return APR_SUCCESS, or APR_EINVAL (magic, version, or a length below
 *         the fixed part or above TF_IPC_MAX_LEN).
 */
apr_status_t tf_ipc_spawn_decode_header(const void *hdr,
                                        apr_size_t *body_len);

/**
 * Decode the body of a spawn request (the @p len bytes after the header).
 * @p spec's strings point into @p body, which must outlive it; its argv
 * and env arrays come from @p p.
 * @return APR_SUCCESS, or APR_EINVAL when the body is malformed: shorter
 *         than the fixed part, no argv[0], counts the bytes cannot hold,
 *         a string without its NUL, or bytes left after the last string.
 */
apr_status_t tf_ipc_spawn_decode_body(apr_pool_t *p, char *body,
                                      apr_size_t len, tf_spawn_spec_t *spec);

/**
 * Decode a reply from the @p len bytes read off the socket at @p buf.
 * @return APR_SUCCESS with @p reply filled and reply->msg NUL-terminated
 *         (cut if need be), or APR_EINVAL when @p len is not
 *         sizeof(tf_ipc_reply_t).
 */
apr_status_t tf_ipc_reply_decode(const void *buf, apr_size_t len,
                                 tf_ipc_reply_t *reply);

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
