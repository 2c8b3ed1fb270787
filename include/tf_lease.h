/*
 * tf_lease.h: a request's hold on one backend process of its pool, from
 * the shared table: take one (idle, a new one started by the process
 * manager, or the first to come free in the pool's FIFO within
 * TracFcgiQueueTimeout), and give it back with what became of it.
 *
 * Request threads only. The table lock is held for microseconds at a
 * time, never across I/O or a log line.
 */
#ifndef TF_LEASE_H
#define TF_LEASE_H

#include "httpd.h"

#include "tf_backend.h"
#include "tf_config.h"
#include "tf_ipc.h"
#include "tf_outcome.h"
#include "tf_pool.h"
#include "tf_shm.h"

typedef struct {
    tf_proc_ref_t ref;
    int pool;               /* index in the table */
    pid_t pid;              /* the backend's (0: an external server) */
    pid_t holder;           /* this httpd child, as the table knows it */
    apr_uint32_t max_conns; /* connections the backend takes */
    char sock[TF_SOCK_PATH_LEN];
    tf_backend_addr_t addr; /* where to connect */
    tf_peer_t peer;         /* whom log lines name */
    const tf_external_t *ext; /* TracFcgiExternalServer, else NULL */
    int fd;                 /* with reused: a kept connection to use */
    int reused;
} tf_lease_t;

/** Set once in the httpd parent (post_config), inherited by children. */
void tf_lease_runtime_set(tf_shm_t *shm, const char *ctl_path);

/** child_init: this child's pid (getpid() is a system call). */
void tf_lease_child_init(void);

/** @return 1 once tf_lease_runtime_set() gave it a table. */
int tf_lease_ready(void);

/**
 * Take a backend of the pool @p key for @p r, creating the pool from
 * @p spec if it is new.
 * @return TF_OUT_NONE with @p l filled, or TF_OUT_UNAVAILABLE (logged,
 *         with the limit that was hit; Retry-After set where it is known
 *         better than the default: a crash-loop back-off).
 */
tf_outcome_e tf_lease_take(request_rec *r, const tf_dir_conf_t *dc,
                           tf_spawn_spec_t *spec, apr_uint64_t key,
                           tf_lease_t *l);

/**
 * Take an address of the external server @p x for @p r: the one with the
 * fewest requests in progress, else the first to come free within
 * TracFcgiQueueTimeout.
 * @param avoid  a replay: the slot (tf_lease_t.ref.idx) the request failed
 *               at, taken again only when no other address is free; -1.
 * @return TF_OUT_NONE with @p l filled, or TF_OUT_UNAVAILABLE (logged;
 *         at once, with Retry-After, when no address is up).
 */
tf_outcome_e tf_lease_take_external(request_rec *r, const tf_dir_conf_t *dc,
                                    const tf_external_t *x,
                                    apr_int32_t avoid, tf_lease_t *l);

/**
 * A request served by an external server (keepalive=) ended cleanly on
 * @p fd: keep the connection for this child's next request?
 * @return 1 when kept (the lease is given back with it; @p fd is not the
 *         caller's any more), 0 when the caller closes @p fd and gives
 *         the lease back as usual.
 */
int tf_lease_keep(tf_lease_t *l, int fd);

/**
 * Give the backend back: @p how is TF_RELEASE_SERVED, _BROKEN, _CUT or
 * _DOWN (src/pool.c says what each does). Wakes the manager if it must
 * act. With _DOWN, @p err says what happened at the address (refused,
 * reset, timed out): it is logged once when the address is marked down.
 */
void tf_lease_give_back(request_rec *r, tf_lease_t *l, int how,
                        const char *err);

/**
 * Count a request of @p pool for the metrics: its answer's @p status
 * (502, 503 and 504 are counted by kind) and, when it had a backend
 * (@p held >= 0), how long it held one. A few atomic additions.
 */
void tf_lease_count(int pool, int status, apr_interval_time_t held);

/** Remember a failure as the pool's last error (the status page). */
void tf_lease_note_error(int pool, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

#endif /* TF_LEASE_H */
