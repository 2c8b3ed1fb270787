/*
 * shm.c: anonymous shared memory for the process table, and its lock.
 *
 * The lock is a process-shared, robust pthread mutex inside the segment,
 * and each waiter entry has a futex word on which its queued request
 * sleeps (no polling: a release wakes the one request it was granted to,
 * at once, and no other). Not a condition variable: a thread woken from
 * pthread_cond_wait() takes the mutex back marked as contended (glibc
 * cannot know better), so its next unlock was a futex wake-up system call
 * for nobody, once for every request that had queued. Robust:
 * if an httpd child dies while holding the lock (it holds it for
 * microseconds, never across I/O), the next locker recovers it instead of
 * hanging every child.
 */
#include <errno.h>
#include <limits.h>
#include <linux/futex.h>
#include <pthread.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "apr_shm.h"

#include "tf_shm.h"

struct tf_shm {
    apr_shm_t *shm;
    tf_table_t table;
};

static apr_status_t destroy_sync(void *data)
{
    /* Nothing to do: the segment goes with the last process mapping it.
     * A pthread mutex in anonymous shared memory needs no destruction on
     * Linux, and destroying it while old-generation children still use
     * it (graceful restart) would be wrong. */
    return APR_SUCCESS;
}

apr_status_t tf_shm_create(tf_shm_t **out, apr_pool_t *p,
                           apr_uint32_t n_pools, apr_uint32_t n_procs,
                           apr_uint32_t n_waiters, apr_uint32_t max_total)
{
    tf_shm_t *s = apr_pcalloc(p, sizeof(*s));
    apr_size_t size = tf_table_size(n_pools, n_procs, n_waiters);
    pthread_mutexattr_t ma;
    apr_status_t rv;
    int rc;

    rv = apr_shm_create(&s->shm, size, NULL, p);
    if (rv != APR_SUCCESS) {
        return rv;
    }
    tf_table_init(&s->table, apr_shm_baseaddr_get(s->shm), n_pools, n_procs,
                  n_waiters, max_total);
    if ((rc = pthread_mutexattr_init(&ma)) != 0
        || (rc = pthread_mutexattr_setpshared(&ma, PTHREAD_PROCESS_SHARED))
        || (rc = pthread_mutexattr_setrobust(&ma, PTHREAD_MUTEX_ROBUST))
        || (rc = pthread_mutex_init(&s->table.hdr->mutex, &ma))) {
        return rc;
    }
    pthread_mutexattr_destroy(&ma);
    apr_pool_cleanup_register(p, s, destroy_sync, apr_pool_cleanup_null);
    *out = s;
    return APR_SUCCESS;
}

tf_table_t *tf_shm_table(tf_shm_t *s)
{
    return &s->table;
}

typedef struct {
    tf_shm_t *shm;
    int idx;
    pid_t pid;
} child_entry_t;

static apr_status_t child_detach(void *data)
{
    child_entry_t *c = data;

    tf_shm_lock(c->shm);
    tf_table_child_detach(&c->shm->table, c->idx, c->pid);
    tf_shm_unlock(c->shm);
    return APR_SUCCESS;
}

void tf_shm_child_attach(tf_shm_t *s, apr_pool_t *pchild)
{
    child_entry_t *c = apr_palloc(pchild, sizeof(*c));

    c->shm = s;
    c->pid = getpid();
    tf_shm_lock(s);
    c->idx = tf_table_child_attach(&s->table, c->pid);
    tf_shm_unlock(s);
    if (c->idx >= 0) {
        apr_pool_cleanup_register(pchild, c, child_detach,
                                  apr_pool_cleanup_null);
    }
}

void tf_shm_lock(tf_shm_t *s)
{
    if (pthread_mutex_lock(&s->table.hdr->mutex) == EOWNERDEAD) {
        /* the holder died mid-update of a few counters: carry on */
        pthread_mutex_consistent(&s->table.hdr->mutex);
    }
}

/* The waiter entry's futex word: shared (not FUTEX_PRIVATE_FLAG), the
 * table is mapped by several processes. */
static long futex_op(apr_uint32_t *word, int op, apr_uint32_t val,
                     const struct timespec *abs)
{
    return syscall(SYS_futex, word, op, val, abs, NULL,
                   FUTEX_BITSET_MATCH_ANY);
}

static void wake_one(tf_waiter_t *w)
{
    __atomic_add_fetch(&w->wake, 1, __ATOMIC_RELEASE);
    futex_op(&w->wake, FUTEX_WAKE, 1, NULL);
}

#define WAKE_BATCH 16

void tf_shm_unlock(tf_shm_t *s)
{
    apr_int32_t wake[WAKE_BATCH], w;
    int n = 0, i;

    /* Whatever was granted under the lock is woken here, so that no
     * caller can forget to; after the unlock, so that the woken thread
     * does not at once block on the lock we still hold (that cost a
     * futex wait, a futex wake and a context switch more per hand-over).
     * A wake-up after the unlock is not lost: the waiter read its word
     * under the lock, and a changed word ends its futex wait at once. A
     * waiter entry reused meanwhile gets a spurious wake-up, which its
     * loop tolerates. */
    if (s->table.hdr->wake_head >= 0) {
        for (w = tf_table_take_wakes(&s->table); w >= 0;
             w = s->table.waiters[w].wake_next) {
            if (n < WAKE_BATCH) {
                wake[n++] = w;
            }
            else {
                wake_one(&s->table.waiters[w]);
            }
        }
    }
    pthread_mutex_unlock(&s->table.hdr->mutex);
    for (i = 0; i < n; i++) {
        wake_one(&s->table.waiters[wake[i]]);
    }
}

apr_status_t tf_shm_wait(tf_shm_t *s, int waiter, apr_time_t deadline)
{
    apr_interval_time_t left = deadline - apr_time_now();
    tf_waiter_t *w = &s->table.waiters[waiter];
    apr_uint32_t seen = __atomic_load_n(&w->wake, __ATOMIC_ACQUIRE);
    struct timespec ts;
    long rc;
    int err;

    if (left <= 0) {
        return APR_TIMEUP;
    }
    /* an absolute CLOCK_MONOTONIC deadline (FUTEX_WAIT_BITSET without
     * FUTEX_CLOCK_REALTIME): wall-clock steps do not stretch or cut the
     * wait, and an interrupted wait resumes with what is left */
    clock_gettime(CLOCK_MONOTONIC, &ts);
    ts.tv_sec += (time_t)apr_time_sec(left);
    ts.tv_nsec += (long)apr_time_usec(left) * 1000;
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    tf_shm_unlock(s);
    do {
        rc = futex_op(&w->wake, FUTEX_WAIT_BITSET, seen, &ts);
        err = rc < 0 ? errno : 0;
    } while (err == EINTR);
    tf_shm_lock(s);
    return err == ETIMEDOUT ? APR_TIMEUP : APR_SUCCESS;
}

void tf_shm_shed_wake(tf_shm_t *s)
{
    futex_op(&s->table.hdr->shed_seq, FUTEX_WAKE, INT_MAX, NULL);
}

void tf_shm_shed_wait(tf_shm_t *s, apr_uint32_t seen,
                      apr_interval_time_t timeout)
{
    struct timespec ts;

    ts.tv_sec = (time_t)apr_time_sec(timeout);
    ts.tv_nsec = (long)(apr_time_usec(timeout) * 1000);
    /* FUTEX_WAIT's timeout is relative; a changed word returns at once */
    futex_op(&s->table.hdr->shed_seq, FUTEX_WAIT, seen, &ts);
}
