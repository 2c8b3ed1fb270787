/*
 * tf_shm.h: the shared memory that holds the process table (tf_pool.h),
 * the lock that guards it and the futex words its waiters sleep on.
 *
 * The segment is anonymous: created by the httpd parent at post_config and
 * inherited by every httpd child and the process manager through fork, so
 * no file is left behind. This is the only code that takes the table lock.
 * Locks are held for table bookkeeping only, never across I/O.
 */
#ifndef TF_SHM_H
#define TF_SHM_H

#include "apr_pools.h"
#include "apr_time.h"

#include "tf_pool.h"

typedef struct tf_shm tf_shm_t;

/**
 * Create and format the table in a new anonymous segment.
 * @return APR_SUCCESS, or the error of apr_shm_create / pthread setup.
 */
apr_status_t tf_shm_create(tf_shm_t **shm, apr_pool_t *p,
                           apr_uint32_t n_pools, apr_uint32_t n_procs,
                           apr_uint32_t n_waiters, apr_uint32_t max_total);

/** @return the table of @p shm (pointers valid in every forked process). */
tf_table_t *tf_shm_table(tf_shm_t *shm);

/** Take the table lock (recovers the lock of a process that died). */
void tf_shm_lock(tf_shm_t *shm);

/** Wake the waiters granted under the lock, then release it. */
void tf_shm_unlock(tf_shm_t *shm);

/**
 * With the lock held: sleep until waiter @p waiter is woken or @p deadline
 * (apr_time_now() clock) passes.
 * @return APR_SUCCESS when woken (maybe spuriously), APR_TIMEUP at the
 *         deadline.
 */
apr_status_t tf_shm_wait(tf_shm_t *shm, int waiter, apr_time_t deadline);

/** Wake every thread in tf_shm_shed_wait() (hdr->shed_seq was bumped
 * under the lock: a kept connection must be closed). */
void tf_shm_shed_wake(tf_shm_t *shm);

/** Without the lock: sleep until hdr->shed_seq is no longer @p seen, or
 * @p timeout passes (src/keepalive.c). */
void tf_shm_shed_wait(tf_shm_t *shm, apr_uint32_t seen,
                      apr_interval_time_t timeout);

/**
 * child_init: record this httpd child as a user of the table until
 * @p pchild is destroyed, so that a draining manager of this generation
 * waits for it.
 */
void tf_shm_child_attach(tf_shm_t *shm, apr_pool_t *pchild);


#endif /* TF_SHM_H */
