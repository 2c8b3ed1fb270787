/*
 * tf_pool.h: the process table shared by the httpd children and the process
 * manager: pools (one per pool key), backend process slots, and the FIFO
 * of requests waiting for a backend.
 *
 * The table is one block of memory (shared memory in httpd, malloc in the
 * unit tests) addressed by indices, never pointers. These functions are pure
 * bookkeeping: they take no lock and make no system call. The caller
 * (src/shm.c) holds the table lock around every call and does the waking.
 *
 * Who may call what: tf_pool_req_* run in httpd request threads,
 * tf_pool_pm_* only in the process manager.
 */
#ifndef TF_POOL_H
#define TF_POOL_H

#include <pthread.h>
#include <sys/types.h>

#include "apr.h"
#include "apr_time.h"

#define TF_TABLE_MAGIC 0x74666331u /* "tfc1" */

/* Request durations (from taking a backend to the end of the answer):
 * the upper bounds of the histogram's buckets, in microseconds; the last
 * bucket takes the rest (+Inf). */
#define TF_DURATION_BUCKETS 12
#define TF_DURATION_BOUNDS_US                                               \
    {5000, 10000, 25000, 50000, 100000, 250000, 500000, 1000000, 2500000,   \
     5000000, 10000000}

#define TF_RECENT_SECS 60

/* What failed requests got, counted per pool. */
typedef enum {
    TF_ERR_502 = 0,
    TF_ERR_503,
    TF_ERR_504,
    TF_ERR_KINDS
} tf_err_kind_e;
#define TF_POOL_NAME_LEN 160       /* display only: the status page */
#define TF_SOCK_PATH_LEN 108       /* sizeof(sockaddr_un.sun_path) */
#define TF_ADDR_TEXT_LEN 120       /* "unix:" and a socket path */
#define TF_ADDR_ERROR_LEN 96
#define TF_REQ_TEXT_LEN 96

/* Slot states. READY with conns == 0 is idle (on its pool's idle list). */
typedef enum {
    TF_PROC_FREE = 0, /* unused; on the free list */
    TF_PROC_STARTING, /* reserved for a spawn; the reserver holds 1 conn */
    TF_PROC_READY,    /* serving; idle when conns == 0 */
    TF_PROC_STOPPING, /* takes no new requests; the PM stops it when idle */
    TF_PROC_EXITED,   /* died while requests held it; freed on release */
    TF_PROC_DOWN      /* an external server's address that failed: takes
                       * no request until a probe of the manager's
                       * answers (external pools only) */
} tf_proc_state_e;

/* Why a process left (counted per pool, shown on the status page). */
typedef enum {
    TF_EXIT_IDLE = 0,  /* TracFcgiIdleTimeout */
    TF_EXIT_BROKEN,    /* a request found it broken (I/O error, timeout) */
    TF_EXIT_DIED,      /* exited or was killed on its own */
    TF_EXIT_STARTUP,   /* died or failed before it served */
    TF_EXIT_RETIRED,   /* lifetime / request count */
    TF_EXIT_ORPHANED,  /* its holder (an httpd child) vanished */
    TF_EXIT_SHUTDOWN,  /* httpd stop or restart */
    TF_EXIT_REASONS
} tf_exit_reason_e;

/* Which limit made a request wait (logged at warn). */
typedef enum {
    TF_LIMIT_NONE = 0,
    TF_LIMIT_POOL,  /* TracFcgiMaxProcesses */
    TF_LIMIT_TOTAL, /* TracFcgiMaxProcessesTotal */
    TF_LIMIT_SLOTS  /* no free slot in the table */
} tf_limit_e;

typedef struct {
    apr_uint32_t min_procs;       /* TracFcgiMinProcesses */
    apr_uint32_t max_procs;       /* TracFcgiMaxProcesses */
    apr_uint32_t max_conns;       /* connections a process takes (>= 1);
                                   * with conns_auto, the cap */
    apr_uint32_t conns_auto;      /* 1: ask the process (FCGI_MAX_CONNS) */
    apr_uint32_t reload;          /* TracFcgiReloadOnChange */
    apr_uint32_t idle_timeout;    /* seconds */
    apr_uint32_t max_requests;    /* 0 = unlimited */
    apr_uint32_t lifetime;        /* seconds, 0 = unlimited */
} tf_pool_limits_t;

typedef struct {
    apr_uint64_t key;         /* shm: pool key hash; 0 = unused entry */
    tf_pool_limits_t lim;     /* shm: set when the pool is created */
    apr_uint32_t lim_warned;  /* shm: a request with other limits was
                               * logged (TF00443): once a pool */
    apr_uint32_t n_procs;     /* shm: slots not FREE */
    apr_uint32_t n_waiting;   /* shm: requests in the FIFO */
    apr_int32_t idle_head;    /* shm: idle slots, most recently used first */
    apr_int32_t wait_head;    /* shm: oldest waiter */
    apr_int32_t wait_tail;    /* shm: newest waiter */
    apr_int32_t hash_next;    /* shm: next pool in the same hash bucket */
    apr_uint64_t requests;    /* shm: served (counted at release) */
    apr_uint64_t spawns;      /* shm: processes started */
    apr_uint64_t exits[TF_EXIT_REASONS];
    apr_uint64_t queued;      /* shm: requests that had to wait */
    apr_uint64_t queue_timeouts;
    apr_interval_time_t longest_wait; /* microseconds */
    apr_uint32_t fail_streak; /* startups failed or early deaths in a row */
    apr_time_t backoff_until; /* no new process before this */
    apr_time_t created;
    apr_time_t last_used;     /* shm: a request last took a process */
    char name[TF_POOL_NAME_LEN]; /* display: script, vhost */
    /* display only (status page), set by the request that created it: */
    apr_int32_t uid, gid;
    char script[TF_POOL_NAME_LEN];
    char vhost[96];
    char env_summary[TF_POOL_NAME_LEN]; /* e.g. TRAC_ENV=/srv/trac/x */
    char last_error[TF_POOL_NAME_LEN];
    apr_time_t last_error_time;
    /* external pools (TracFcgiExternalServer): one slot per address, set
     * up at startup, never a process of ours (pid 0) */
    apr_uint32_t external;    /* shm: 1 for an external pool */
    apr_uint32_t ext_up;      /* shm: its addresses in state READY */
    apr_uint32_t ext_check;   /* seconds between probes of a down one */
    apr_uint32_t ext_fails;   /* failures in a row that mark one down */
    apr_uint32_t ext_keep;    /* keepalive=: seconds an idle connection
                               * is kept for reuse, 0 = never */
    /* metrics, added to without the lock (tf_pool_count_*()) */
    apr_uint64_t errors[TF_ERR_KINDS];      /* answers 502, 503, 504 */
    apr_uint64_t duration[TF_DURATION_BUCKETS]; /* requests by duration */
    apr_uint64_t duration_sum_us;
    /* the last minute, a bucket a second (status page): requests that
     * ended, of which answered 5xx by us, in second sec[i] */
    apr_uint32_t recent_sec[TF_RECENT_SECS];
    apr_uint32_t recent_req[TF_RECENT_SECS];
    apr_uint32_t recent_err[TF_RECENT_SECS];
} tf_pool_ent_t;

/* Connections of one process whose httpd child is remembered, so that the
 * manager can give them back when that child dies mid-request. Any past
 * this many (TracFcgiConnsPerProcess above 64) are not reclaimed. */
#define TF_HOLDERS 64

typedef struct {
    apr_uint32_t state;       /* tf_proc_state_e */
    apr_uint32_t seq;         /* bumped each time the slot is reused */
    apr_int32_t pool;         /* owning pool index */
    apr_int32_t next, prev;   /* idle list or free list links */
    pid_t pid;                /* pm: 0 until forked */
    pid_t holders[TF_HOLDERS]; /* req: the httpd child of each connection
                                * in use, in no order; 0 = unused entry */
    apr_uint32_t conns;       /* connections in use */
    apr_uint32_t max_conns;
    apr_uint64_t requests;    /* requests served by this process */
    apr_time_t started;
    apr_time_t last_used;
    apr_uint32_t exit_reason; /* tf_exit_reason_e when STOPPING */
    apr_uint32_t adopted;     /* pm: started by an earlier manager */
    apr_uint32_t listed;      /* on its pool's available list */
    apr_uint32_t retire;      /* stop when released (script changed) */
    pid_t spawner;            /* pm: the manager that read its spawn
                               * request (0: still in the backlog) */
    apr_time_t stop_sent;     /* pm: when SIGTERM was sent, 0 = not yet */
    char sock[TF_SOCK_PATH_LEN]; /* pm: listening socket path */
    /* an external server's address (its pool's `external` is set): */
    apr_uint32_t addr;        /* its index in the directive's list */
    apr_uint32_t fails_row;   /* failures in a row (see ext_fails) */
    apr_uint32_t probed;      /* pm: probed once (conns learnt) */
    apr_uint64_t failures;    /* requests that failed there */
    apr_time_t down_since;    /* when it went down (DOWN), else 0 */
    apr_time_t next_probe;    /* pm: when a down one is probed again */
    apr_uint32_t kept;        /* of conns: idle, kept open for reuse by
                               * their httpd child (holder stored as -pid) */
    apr_uint32_t shed;        /* of kept: their owners must close them
                               * (a request waits, or the address is down) */
    char where[TF_ADDR_TEXT_LEN]; /* "unix:/path", "host:port" */
    /* req: the request it took last, for the status page: "METHOD
     * /uri" (no query string), and since when */
    char req[TF_REQ_TEXT_LEN];
    apr_time_t req_since;
    char error[TF_ADDR_ERROR_LEN]; /* what made it go down, last time */
} tf_proc_ent_t;

typedef enum {
    TF_WAIT_FREE = 0,
    TF_WAIT_WAITING,
    TF_WAIT_GRANTED_PROC,  /* a process (1 conn) was handed over */
    TF_WAIT_GRANTED_SPAWN, /* a STARTING slot was reserved for it */
    TF_WAIT_REFUSED        /* its external pool has no address up */
} tf_wait_state_e;

typedef struct {
    apr_uint32_t state;       /* tf_wait_state_e */
    apr_int32_t next;         /* FIFO or free-list link */
    apr_int32_t proc;         /* granted slot */
    apr_uint32_t seq;         /* granted slot's seq */
    apr_int32_t wake_next;    /* granted, not yet woken: the wake list */
    pid_t holder;             /* the httpd child of the waiting request:
                               * a grant records it on the process */
    apr_uint32_t wake;        /* shm.c: futex word its request sleeps
                               * on alone (bumped by each wake-up), so a
                               * grant wakes exactly one thread */
} tf_waiter_t;

typedef struct {
    apr_uint32_t magic;
    apr_uint32_t n_pools, n_procs, n_waiters, n_buckets; /* capacities */
    apr_uint32_t max_total;   /* TracFcgiMaxProcessesTotal */
    apr_uint32_t total_procs; /* slots of processes not FREE, all pools */
    apr_uint32_t ext_procs;   /* slots of external servers' addresses */
    apr_uint32_t used_pools;
    apr_uint32_t recycled_pools; /* entries given to another key */
    apr_uint32_t waiting;     /* requests queued, all pools */
    apr_uint32_t draining;    /* pm: generation over, stop what is freed */
    apr_int32_t wake_head;    /* granted waiters to wake (shm.c does) */
    apr_int32_t free_proc;    /* free list heads */
    apr_int32_t free_waiter;
    apr_uint32_t shed_seq;    /* futex word: bumped when a kept connection
                               * must be closed (src/keepalive.c waits) */
    pid_t pm_pid;             /* current process manager */
    apr_uint32_t pm_starts;   /* managers started in this generation */
    apr_uint32_t generation;  /* httpd config generation */
    apr_time_t pm_started;
    pthread_mutex_t mutex;    /* shm.c: the table lock */
} tf_table_hdr_t;

/** Pointers into one table block, valid in the process that attached. */
typedef struct {
    tf_table_hdr_t *hdr;
    tf_pool_ent_t *pools;
    tf_proc_ent_t *procs;
    tf_waiter_t *waiters;
    apr_int32_t *buckets;
    pid_t *children;  /* httpd children attached to this table (as many
                       * entries as waiters: at least one per child);
                       * 0 = free */
} tf_table_t;

/** A slot as a request holds it: the seq detects reuse of the slot. */
typedef struct {
    apr_int32_t idx;
    apr_uint32_t seq;
} tf_proc_ref_t;

/** @return bytes needed for a table of the given capacities. */
apr_size_t tf_table_size(apr_uint32_t n_pools, apr_uint32_t n_procs,
                         apr_uint32_t n_waiters);

/**
 * Format a table in @p base: tf_table_size() bytes, zeroed (anonymous
 * shared memory is: the pool entries, most of the table, are not
 * written here, so their pages stay untouched until a pool uses them).
 * The mutex and the waiters' futex words are left to the caller (shm.c).
 */
void tf_table_init(tf_table_t *t, void *base, apr_uint32_t n_pools,
                   apr_uint32_t n_procs, apr_uint32_t n_waiters,
                   apr_uint32_t max_total);

/** Compute @p t's pointers for a table already formatted at @p base. */
void tf_table_attach(tf_table_t *t, void *base);

/**
 * @return 1 if a request's limits @p want are those of pool @p pool (as
 *         tf_pool_create() stored them), else 0: the pool keeps the limits
 *         it was created with.
 */
int tf_pool_limits_same(const tf_table_t *t, int pool,
                        const tf_pool_limits_t *want);

/** @return the pool index for @p key, or -1. */
int tf_pool_find(const tf_table_t *t, apr_uint64_t key);

/**
 * Create the pool for @p key (which must not exist yet). When every entry
 * of the table is taken, the entry of the pool that was used least
 * recently among those that are empty (no process, no waiter, no
 * TracFcgiMinProcesses, not external, not backing off) is given to it
 * (mass virtual hosting: more pools over a generation than the table
 * holds at once); whoever keeps a pool index across the lock checks the
 * key (tf_pool_pm_spawn_claim() does).
 * @return its index, or -1 when the pool table is full.
 */
int tf_pool_create(tf_table_t *t, apr_uint64_t key,
                   const tf_pool_limits_t *lim, const char *name,
                   apr_time_t now);

/** What the status page shows of a pool, beside its name. Made before the
 * table lock is taken (formatting it is not the lock's business). */
typedef struct {
    apr_int32_t uid, gid;     /* the backends' identity */
    const char *script;       /* the command's script */
    const char *vhost;        /* "name:port" */
    const char *env_summary;  /* tf_spec_env_summary() */
} tf_pool_desc_t;

/**
 * The pool of @p key, created (tf_pool_create()) and described by @p d if
 * it is not in the table: for the request that meets a new pool
 * (src/lease.c) and for a TracFcgiServer at startup (src/pm_parent.c).
 * Strings longer than the table's fields are cut.
 * @param[out] created  1 when this call created it.
 * @return its index, or -1 when the pool table is full.
 */
int tf_pool_find_or_create(tf_table_t *t, apr_uint64_t key,
                           const tf_pool_limits_t *lim, const char *name,
                           const tf_pool_desc_t *d, apr_time_t now,
                           int *created);

/** What tf_pool_req_acquire() did. */
typedef enum {
    TF_ACQ_PROC = 0,   /* *ref is a ready process, one conn taken */
    TF_ACQ_SPAWN,      /* *ref is a STARTING slot: ask the PM to start it */
    TF_ACQ_WAIT,       /* queued as *waiter: sleep on its futex word */
    TF_ACQ_QUEUE_FULL, /* no waiter entry left */
    TF_ACQ_BACKOFF,    /* crash loop: no process to give, none to start */
    TF_ACQ_ALL_DOWN    /* an external pool with no address up */
} tf_acq_e;

/**
 * Take a backend for one request: an idle process, else a new slot when
 * the pool and the server may grow, else a busy process with a free
 * connection, else a place in the pool's FIFO.
 * @param holder  pid of the calling httpd child (for orphan detection).
 * @param[out] limit  on TF_ACQ_WAIT/QUEUE_FULL: the limit that was hit.
 */
tf_acq_e tf_pool_req_acquire(tf_table_t *t, int pool, pid_t holder,
                             apr_time_t now, tf_proc_ref_t *ref,
                             apr_int32_t *waiter, tf_limit_e *limit);

/**
 * Take the list of granted waiters to wake (shm.c signals each).
 * @return the first, or -1; follow tf_waiter_t.wake_next.
 */
apr_int32_t tf_table_take_wakes(tf_table_t *t);

/**
 * Look at a waiter after a wake-up.
 * @return TF_WAIT_WAITING (nothing yet), or a grant with *ref set; a
 *         granted waiter entry is freed by this call.
 */
tf_wait_state_e tf_pool_req_wait_check(tf_table_t *t, int pool,
                                       apr_int32_t waiter,
                                       tf_proc_ref_t *ref);

/** Leave the FIFO after a timeout (the entry must still be WAITING). */
void tf_pool_req_wait_cancel(tf_table_t *t, int pool, apr_int32_t waiter);

/**
 * A request of @p pool got its backend after waiting @p waited in the
 * FIFO: the pool's longest_wait (status page) keeps the longest such wait.
 */
void tf_pool_req_note_wait(tf_table_t *t, int pool,
                           apr_interval_time_t waited);

/**
 * A request asks for @p pool with limits other than those the pool was
 * created with (tf_pool_limits_same() said so): that is logged once a
 * pool. Test-and-set of the pool's lim_warned flag.
 * @return 1 if this caller is the first (it logs), 0 if one already was.
 */
int tf_pool_req_claim_lim_warning(tf_table_t *t, int pool);

/**
 * A request of @p pool waits because the server-wide cap is reached: stop
 * the longest-idle process of another pool (above its minimum) to make
 * room, unless enough processes are already stopping.
 * @return TF_WAKE_PM when one was marked, else 0.
 */
int tf_pool_req_evict(tf_table_t *t, int pool);

/** Flags returned by release and PM calls: what the caller must do. */
#define TF_WAKE_WAITERS 1 /* waiters were granted: tf_shm_unlock() wakes them */
#define TF_WAKE_PM 2      /* a process must be stopped: tell the PM */
#define TF_BACKOFF 4      /* the pool entered (or extended) a back-off */
#define TF_WENT_DOWN 8    /* an external address was marked down */
#define TF_ALL_DOWN 16    /* ... and it was its pool's last one up */
#define TF_CAME_UP 32     /* an external address is up again */

/* Crash-loop back-off: 1 s after the second failure in a row, doubling,
 * at most 60 s. A process "fails" when it dies before it was ready, or
 * dies on its own, idle, within TF_EARLY_DEATH_SEC without serving a
 * request. */
#define TF_BACKOFF_MAX_SEC 60
#define TF_EARLY_DEATH_SEC 10

/* How a request gives its connection back (tf_pool_req_release). */
#define TF_RELEASE_SERVED 0
#define TF_RELEASE_BROKEN 1 /* the process must not serve again (I/O error,
                             * timeout, protocol violation): stopped once
                             * idle */
#define TF_RELEASE_DOWN 3   /* external address: it refused, reset or timed
                             * out (TF_RELEASE_BROKEN for a process) */
#define TF_RELEASE_CUT 2    /* the request ended before its answer did (the
                             * client went away): a one-connection process
                             * is busy with it for all we know and is
                             * stopped; another one just loses the
                             * connection. Not counted as served. */

/**
 * Give back one connection of @p ref.
 * @param how     TF_RELEASE_*. For an external address: SERVED and CUT
 *                give the connection back; BROKEN counts a failure that
 *                says nothing of the address (a protocol error); DOWN
 *                counts one that does, and marks it down after its
 *                pool's ext_fails in a row.
 * @param holder  pid of the calling httpd child, as given to acquire.
 * @return TF_WAKE_* flags; TF_WENT_DOWN (and TF_ALL_DOWN) when this
 *         release marked an external address down.
 */
int tf_pool_req_release(tf_table_t *t, tf_proc_ref_t ref, int how,
                        pid_t holder, apr_time_t now);

/**
 * PM: httpd child @p dead is gone without giving back its connections:
 * give them back, and drop its requests from the queues. A one-connection
 * process is stopped (TF_EXIT_ORPHANED: what it was doing for the dead
 * child is unknown); a process with more
 * connections keeps serving its other requests and is not counted as
 * having served the cut ones.
 * @param[out] n  connections given back.
 * @return TF_WAKE_* flags.
 */
int tf_pool_pm_reclaim(tf_table_t *t, pid_t dead, apr_time_t now,
                       unsigned *n);

/** @return 1 while @p ref still names the same slot incarnation. */
int tf_pool_ref_valid(const tf_table_t *t, tf_proc_ref_t ref);

/**
 * PM: reserve a STARTING slot for a process nobody waits for yet
 * (TracFcgiMinProcesses). @return 0 with @p ref set, or -1 when the pool
 * may not grow or is backing off.
 */
int tf_pool_pm_reserve(tf_table_t *t, int pool, apr_time_t now,
                       tf_proc_ref_t *ref);

/**
 * PM: let waiters start processes where the limits and a finished
 * back-off now allow it. @return TF_WAKE_* flags.
 */
int tf_pool_pm_grant(tf_table_t *t, int pool, apr_time_t now);

/**
 * PM: a spawn thread takes the spawn request for @p ref. It may start a
 * process only while the slot is still the STARTING one reserved for pool
 * @p pool of key @p key (a reserver that gave up may have freed it, and
 * the slot been reused); the slot then records @p spawner, after which a
 * reserver that goes away no longer frees it (the manager owns it).
 * @return 1 when the request is claimed, 0 when it is stale.
 */
int tf_pool_pm_spawn_claim(tf_table_t *t, tf_proc_ref_t ref, int pool,
                           apr_uint64_t key, pid_t spawner);

/**
 * PM: the STARTING slot got a process (@p pid), listening on @p sock
 * (copied; at most TF_SOCK_PATH_LEN - 1 bytes). Nothing when @p ref is
 * stale.
 */
void tf_pool_pm_forked(tf_table_t *t, tf_proc_ref_t ref, pid_t pid,
                       const char *sock, apr_time_t now);

/**
 * PM: the STARTING slot's process is ready; the reserving request keeps
 * its connection, its spare ones go to queued requests. While the table
 * drains, or when the process was started before its script changed
 * (tf_pool_pm_retire_all()), one that nobody then holds goes to STOPPING
 * at once.
 * @return the TF_WAKE_* flags of that grant (0: nobody to wake), or -1
 *         when @p ref is stale.
 */
int tf_pool_pm_ready(tf_table_t *t, tf_proc_ref_t ref, apr_uint32_t max_conns,
                     apr_time_t now);

/**
 * PM: a spawn failed or its process died before it was ready; the slot is
 * freed (its reserver is told by the PM's reply). @return TF_WAKE_* flags.
 */
int tf_pool_pm_spawn_failed(tf_table_t *t, tf_proc_ref_t ref, apr_time_t now);

/**
 * PM: the process in slot @p idx is gone (reaped, or found dead).
 * @return TF_WAKE_* flags.
 */
int tf_pool_pm_exited(tf_table_t *t, int idx, tf_exit_reason_e why,
                      apr_time_t now);

/**
 * PM: the manager sent process @p idx its first stop signal at @p now
 * (SIGTERM, or SIGKILL for a broken one); after STOP_GRACE it is killed.
 */
void tf_pool_pm_stop_sent(tf_table_t *t, int idx, apr_time_t now);

/**
 * PM: a manager (pid @p self) starts on this table, maybe after an earlier
 * one died: the processes its predecessor left running are marked adopted
 * (the new manager cannot reap them, it watches them), and the slots its
 * predecessor was starting are freed without counting toward the
 * crash-loop back-off (their requesters were told). Slots still in the
 * control socket's backlog (no spawner yet) are left for the new manager.
 * @param[out] to_kill the pids of the processes those cut spawns had
 *                     forked, for the caller to SIGKILL (after the
 *                     unlock); room for hdr->n_procs entries.
 * @param[out] n_kill  how many.
 * @return the number of processes adopted.
 */
int tf_pool_pm_take_over(tf_table_t *t, pid_t self, apr_time_t now,
                         pid_t *to_kill, apr_uint32_t *n_kill);

/**
 * PM: the generation is over (graceful restart): from now on a released
 * process is stopped instead of kept, and every idle one stops now
 * (TF_EXIT_SHUTDOWN).
 */
void tf_pool_pm_drain(tf_table_t *t);

/**
 * PM: mark idle process @p idx as stopping (idle timeout, retirement,
 * shutdown); it leaves the idle list at once so that no request takes it.
 * @return 0, or -1 if the process is not idle.
 */
int tf_pool_pm_stop_idle(tf_table_t *t, int idx, tf_exit_reason_e why);

/* A stopping process gets SIGTERM, and SIGKILL if it is still there this
 * many seconds later. */
#define TF_STOP_GRACE_SEC 10

/** What the manager does with one process at a scan. */
typedef enum {
    TF_STOP_NONE = 0, /* leave it as it is */
    TF_STOP_MARK,     /* idle and due to stop: mark it STOPPING
                       * (tf_pool_pm_stop_idle() with the reason given),
                       * then ask again: it is signalled in the same scan */
    TF_STOP_TERM,     /* stopping, idle, not signalled yet: SIGTERM, and
                       * tf_pool_pm_stop_sent() */
    TF_STOP_KILL,     /* the same, but broken or orphaned (it may be
                       * wedged): SIGKILL at once, and
                       * tf_pool_pm_stop_sent() */
    TF_STOP_OVERDUE   /* SIGTERM'd more than TF_STOP_GRACE_SEC ago and
                       * not gone: SIGKILL */
} tf_stop_e;

/**
 * PM: the stop policy, for one process of pool @p p at a scan. Pure: it
 * decides, the caller acts (signals, logging) and updates the table.
 * The rules (README, "Directives"):
 * - a busy process (conns > 0) is never stopped nor signalled;
 * - an idle READY process is stopped after TracFcgiIdleTimeout without a
 *   request (last_used + timeout <= @p now), unless that would take its
 *   pool to TracFcgiMinProcesses or below (@p kept), reason TF_EXIT_IDLE;
 * - else it is retired once due (TF_EXIT_RETIRED): TracFcgiProcessLifetime
 *   after its start, or TracFcgiMaxRequestsPerProcess requests (the rule
 *   that tf_pool_req_release() applies; a release that reaches the count
 *   already stops the process, so at a scan only the lifetime is new);
 * - a STOPPING idle process is signalled once (TF_STOP_TERM, or
 *   TF_STOP_KILL for TF_EXIT_BROKEN and TF_EXIT_ORPHANED), then killed
 *   when more than TF_STOP_GRACE_SEC have passed (TF_STOP_OVERDUE).
 * FREE and STARTING slots and slots without a pid are left alone. The
 * drain of a generation and TracFcgiReloadOnChange stop processes through
 * tf_pool_pm_drain(), tf_pool_pm_retire_all() and the release, not here.
 * @param kept  processes of the pool not stopping (READY or STARTING),
 *              minus those this scan already marked: the caller lowers it
 *              after each TF_STOP_MARK with TF_EXIT_IDLE.
 * @param[out] why  the reason: of the stop for TF_STOP_MARK, else the
 *                  process's exit_reason (TF_STOP_NONE: unchanged).
 */
tf_stop_e tf_pool_pm_stop_policy(const tf_pool_ent_t *p,
                                 const tf_proc_ent_t *pr, apr_uint32_t kept,
                                 apr_time_t now, tf_exit_reason_e *why);

/** Remember @p msg as the pool's last error (status page). */
void tf_pool_note_error(tf_table_t *t, int pool, const char *msg,
                        apr_time_t now);

/**
 * An httpd child starts using the table (child_init).
 * @return its entry, for tf_table_child_detach(), or -1 if none is free.
 */
int tf_table_child_attach(tf_table_t *t, pid_t pid);

/** The child of entry @p idx is done with the table. */
void tf_table_child_detach(tf_table_t *t, int idx, pid_t pid);

/**
 * PM: reserve-free a STARTING slot whose spawn was cut short through no
 * fault of its process (a manager died mid-spawn, the manager was not
 * reachable): unlike tf_pool_pm_spawn_failed() it does not count toward
 * the crash-loop back-off. @return TF_WAKE_* flags.
 */
int tf_pool_spawn_abandoned(tf_table_t *t, tf_proc_ref_t ref, apr_time_t now);

/**
 * PM: replace every process of @p pool: idle ones stop now, busy ones
 * when their requests end, starting ones when they are ready (at once if
 * nobody waits for them, else when the requests they serve end).
 * @return the number of processes affected.
 */
int tf_pool_pm_retire_all(tf_table_t *t, int pool);

/* --- External servers (TracFcgiExternalServer) ---------------------------
 * An external pool has one slot per address, in the directive's order,
 * with pid 0: never spawned, stopped, signalled nor reaped. A slot takes
 * up to max_conns requests (its `conns=`, or what the server answers to
 * FCGI_GET_VALUES), is READY while the address is up and DOWN after
 * ext_fails failures in a row (refused, reset, timed out); the manager
 * probes a DOWN one every ext_check seconds and brings it back. Requests
 * take the READY address with the fewest requests in progress (ties: the
 * one least recently used), else wait in the pool's FIFO; with no address
 * up they are refused at once (TF_ACQ_ALL_DOWN, TF_WAIT_REFUSED). The
 * slots do not count toward TracFcgiMaxProcessesTotal. */

/** An external pool's addresses, as tf_pool_ext_create() takes them. */
typedef struct {
    const char *const *where;  /* display text of each address */
    apr_uint32_t n;            /* how many (>= 1) */
    apr_uint32_t conns;        /* connections per address; 0 = ask
                                * (1 until answered) */
    apr_uint32_t check_secs;   /* probe interval of a down one (>= 1) */
    apr_uint32_t fails;        /* failures in a row that mark down (>= 1) */
    apr_uint32_t keep_secs;    /* keepalive=: idle kept for reuse, 0 no */
} tf_pool_ext_t;

/**
 * Create the external pool @p key with one READY slot per address.
 * @return its index, or -1 when the table has no room (pools or slots).
 */
int tf_pool_ext_create(tf_table_t *t, apr_uint64_t key, const char *name,
                       const tf_pool_desc_t *d, const tf_pool_ext_t *x,
                       apr_time_t now);

/* --- Kept connections (keepalive=) --------------------------------------
 * A connection that served a request may stay open, idle, for the next
 * request of the same httpd child (FCGI_KEEP_CONN). It keeps its place in
 * the address's conns (a one-request-at-a-time server's worker sits on
 * it), counted in `kept`. It is kept only while nobody waits for the
 * pool; and when a request finds no free connection but an idle kept one
 * (of any child), the owner is asked to close one (`shed`, shed_seq
 * bumped: the owners' threads wake) and the request waits in the FIFO
 * for the place that frees: an idle connection never makes a request
 * wait for longer than its owner takes to close it. */

/**
 * After a request served on @p ref: keep the connection for reuse?
 * @return 1 when it is kept (the place stays taken), 0 when the caller
 *         must close it and give it back (tf_pool_req_release()).
 */
int tf_pool_req_keep(tf_table_t *t, tf_proc_ref_t ref, pid_t holder,
                     apr_time_t now);

/**
 * Take a kept connection of @p ref for a request of its owner @p holder.
 * @return 1 to use it; 0 when it must be closed instead (its owner was
 *         asked to shed one, or the address is not up: its place is given
 *         back here, see *flags); -1 when @p ref is stale (nothing to
 *         give back).
 */
int tf_pool_req_reuse(tf_table_t *t, tf_proc_ref_t ref, pid_t holder,
                      apr_time_t now, int *flags);

/**
 * The owner closes a kept connection (idle too long, shed, the address
 * down, the child exiting): its place is given back.
 * @return TF_WAKE_* flags.
 */
int tf_pool_req_drop_kept(tf_table_t *t, tf_proc_ref_t ref, pid_t holder,
                          apr_time_t now);

/** @return 1 when the owner of a kept connection of @p ref must close
 *          one (shed, or the address no longer up or no longer this). */
int tf_pool_kept_must_go(const tf_table_t *t, tf_proc_ref_t ref);

/**
 * tf_pool_req_acquire() for a request sent again after it failed at slot
 * @p avoid (-1: none): an external pool gives it another address while
 * one is free (a dead address not yet marked down would fail it twice).
 */
tf_acq_e tf_pool_req_acquire_other(tf_table_t *t, int pool, pid_t holder,
                                   apr_time_t now, apr_int32_t avoid,
                                   tf_proc_ref_t *ref, apr_int32_t *waiter);

/**
 * Remember @p err as what went wrong at the address of @p ref, for the
 * status page (with tf_pool_req_release(..., TF_RELEASE_DOWN, ...)).
 */
void tf_pool_req_ext_error(tf_table_t *t, tf_proc_ref_t ref,
                           const char *err, apr_time_t now);

/**
 * PM: the addresses to probe at @p now: down ones whose time has come,
 * and any not probed yet (the first probe learns FCGI_MAX_CONNS).
 * @return how many refs were written to @p refs (at most @p max).
 */
apr_uint32_t tf_pool_pm_ext_due(const tf_table_t *t, apr_time_t now,
                                tf_proc_ref_t *refs, apr_uint32_t max);

/**
 * PM: the probe of @p ref answered (@p conns: its FCGI_MAX_CONNS, 0 when
 * it gave none). A down address comes back and takes queued requests.
 * @return TF_WAKE_* flags, with TF_CAME_UP when it was down; 0 when
 *         @p ref is stale.
 */
int tf_pool_pm_ext_up(tf_table_t *t, tf_proc_ref_t ref, apr_uint32_t conns,
                      apr_time_t now);

/**
 * PM: the probe of @p ref failed with @p err: the address is (or stays)
 * down and is probed again ext_check seconds from @p now.
 * @return TF_WENT_DOWN (and TF_ALL_DOWN, TF_WAKE_WAITERS) when it was up.
 */
int tf_pool_pm_ext_down(tf_table_t *t, tf_proc_ref_t ref, const char *err,
                        apr_time_t now);

/** A request of @p pool got @p kind (atomic: no lock needed). */
void tf_pool_count_error(tf_table_t *t, int pool, tf_err_kind_e kind);

/** A request of @p pool held its backend for @p us microseconds (atomic:
 * no lock needed). */
void tf_pool_count_duration(tf_table_t *t, int pool, apr_uint64_t us);

/** A request of @p pool ended in second @p sec (apr_time_sec()), failed
 * (502/503/504) or not: the last minute's figures (atomic; a bucket
 * that a second thread starts anew at the same moment may lose a count:
 * a display figure). */
void tf_pool_count_recent(tf_table_t *t, int pool, apr_uint32_t sec,
                          int failed);

/** @return the requests (and in @p *failed the failed ones) of @p p that
 *          ended in the minute before second @p now_sec. */
apr_uint32_t tf_pool_recent(const tf_pool_ent_t *p, apr_uint32_t now_sec,
                            apr_uint32_t *failed);

/**
 * Debug check of every invariant (lists, counters). @return 1 if sane.
 * Used in unit tests and under assert().
 */
int tf_table_check(const tf_table_t *t);

#endif /* TF_POOL_H */
