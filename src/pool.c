/*
 * pool.c: bookkeeping of the shared process table (see tf_pool.h).
 *
 * Pure: no lock, no system call, no httpd. The caller holds the table lock
 * and is told through TF_WAKE_* flags whom to wake. Every list is a chain
 * of indices so that the table can live in shared memory.
 *
 * Invariants (checked by tf_table_check()):
 * - hdr->total_procs is the number of slots not FREE; each pool's n_procs
 *   counts its own; the free list holds exactly the FREE slots.
 * - a pool's available list holds READY slots with conns < max_conns:
 *   idle ones (conns == 0) before partly busy ones, and these by conns,
 *   fewest first (a request that finds none idle takes the least loaded).
 * - a pool's FIFO holds exactly its WAITING waiters, oldest first, and a
 *   waiter is granted only from the head.
 */
#include <string.h>

#include "tf_pool.h"

#define NIL (-1)

/* --- Layout -------------------------------------------------------------- */

static apr_uint32_t buckets_for(apr_uint32_t n_pools)
{
    apr_uint32_t n = 16;

    while (n < 2 * n_pools) {
        n <<= 1;
    }
    return n;
}

#define ALIGN_UP(x) (((x) + 63) & ~(apr_size_t)63)

static void layout(tf_table_t *t, void *base, apr_uint32_t n_pools,
                   apr_uint32_t n_procs, apr_uint32_t n_waiters,
                   apr_uint32_t n_buckets, apr_size_t *total)
{
    char *p = base;
    apr_size_t off = 0;

    t->hdr = (tf_table_hdr_t *)(void *)p;
    off = ALIGN_UP(sizeof(tf_table_hdr_t));
    t->pools = (tf_pool_ent_t *)(void *)(p + off);
    off = ALIGN_UP(off + sizeof(tf_pool_ent_t) * n_pools);
    t->procs = (tf_proc_ent_t *)(void *)(p + off);
    off = ALIGN_UP(off + sizeof(tf_proc_ent_t) * n_procs);
    t->waiters = (tf_waiter_t *)(void *)(p + off);
    off = ALIGN_UP(off + sizeof(tf_waiter_t) * n_waiters);
    t->buckets = (apr_int32_t *)(void *)(p + off);
    off = ALIGN_UP(off + sizeof(apr_int32_t) * n_buckets);
    t->children = (pid_t *)(void *)(p + off);
    off = ALIGN_UP(off + sizeof(pid_t) * n_waiters);
    if (total) {
        *total = off;
    }
}

apr_size_t tf_table_size(apr_uint32_t n_pools, apr_uint32_t n_procs,
                         apr_uint32_t n_waiters)
{
    tf_table_t t;
    apr_size_t total;

    layout(&t, NULL, n_pools, n_procs, n_waiters, buckets_for(n_pools),
           &total);
    return total;
}

void tf_table_init(tf_table_t *t, void *base, apr_uint32_t n_pools,
                   apr_uint32_t n_procs, apr_uint32_t n_waiters,
                   apr_uint32_t max_total)
{
    apr_uint32_t i, n_buckets = buckets_for(n_pools);

    layout(t, base, n_pools, n_procs, n_waiters, n_buckets, NULL);
    t->hdr->magic = TF_TABLE_MAGIC;
    t->hdr->n_pools = n_pools;
    t->hdr->n_procs = n_procs;
    t->hdr->n_waiters = n_waiters;
    t->hdr->n_buckets = n_buckets;
    t->hdr->max_total = max_total;
    for (i = 0; i < n_buckets; i++) {
        t->buckets[i] = NIL;
    }
    for (i = 0; i < n_procs; i++) {
        t->procs[i].next = (i + 1 < n_procs) ? (apr_int32_t)i + 1 : NIL;
        t->procs[i].prev = NIL;
        t->procs[i].pool = NIL;
    }
    t->hdr->free_proc = n_procs ? 0 : NIL;
    for (i = 0; i < n_waiters; i++) {
        t->waiters[i].next = (i + 1 < n_waiters) ? (apr_int32_t)i + 1 : NIL;
    }
    t->hdr->free_waiter = n_waiters ? 0 : NIL;
    t->hdr->wake_head = NIL;
}

void tf_table_attach(tf_table_t *t, void *base)
{
    const tf_table_hdr_t *h = base;

    layout(t, base, h->n_pools, h->n_procs, h->n_waiters, h->n_buckets,
           NULL);
}

/* --- Pools --------------------------------------------------------------- */

int tf_pool_find(const tf_table_t *t, apr_uint64_t key)
{
    apr_int32_t i = t->buckets[key & (t->hdr->n_buckets - 1)];

    while (i != NIL && t->pools[i].key != key) {
        i = t->pools[i].hash_next;
    }
    return i;
}

/* strncpy() that always ends the copy (libc only: no apr_cpystrn here) */
static void copy_str(char *dst, const char *src, size_t size)
{
    strncpy(dst, src ? src : "", size - 1);
    dst[size - 1] = '\0';
}

/* The entry of the empty pool used least recently, taken out of its hash
 * chain and cleared for another key; or NIL. O(n_pools), and only when a
 * pool is created with the table full. */
static apr_int32_t recycle(tf_table_t *t, apr_time_t now)
{
    apr_int32_t best = NIL, *at;
    apr_uint32_t i;

    for (i = 0; i < t->hdr->used_pools; i++) {
        const tf_pool_ent_t *p = &t->pools[i];

        if (p->n_procs || p->n_waiting || p->wait_head != NIL
            || p->external || p->lim.min_procs || p->fail_streak
            || now < p->backoff_until) {
            continue;
        }
        if (best == NIL || p->last_used < t->pools[best].last_used) {
            best = (apr_int32_t)i;
        }
    }
    if (best == NIL) {
        return NIL;
    }
    at = &t->buckets[t->pools[best].key & (t->hdr->n_buckets - 1)];
    while (*at != best) {
        at = &t->pools[*at].hash_next;
    }
    *at = t->pools[best].hash_next;
    memset(&t->pools[best], 0, sizeof(t->pools[best]));
    t->hdr->recycled_pools++;
    return best;
}

int tf_pool_create(tf_table_t *t, apr_uint64_t key,
                   const tf_pool_limits_t *lim, const char *name,
                   apr_time_t now)
{
    tf_pool_ent_t *p;
    apr_int32_t idx;
    apr_uint32_t b;

    if (key == 0) {
        return NIL;
    }
    if (t->hdr->used_pools < t->hdr->n_pools) {
        idx = (apr_int32_t)t->hdr->used_pools++;
    }
    else if ((idx = recycle(t, now)) == NIL) {
        return NIL;
    }
    p = &t->pools[idx];
    p->key = key;
    p->last_used = now;
    p->lim = *lim;
    if (p->lim.max_conns < 1) {
        p->lim.max_conns = 1;
    }
    p->idle_head = p->wait_head = p->wait_tail = NIL;
    p->created = now;
    copy_str(p->name, name, sizeof(p->name));
    b = (apr_uint32_t)(key & (t->hdr->n_buckets - 1));
    p->hash_next = t->buckets[b];
    t->buckets[b] = idx;
    return idx;
}

int tf_pool_find_or_create(tf_table_t *t, apr_uint64_t key,
                           const tf_pool_limits_t *lim, const char *name,
                           const tf_pool_desc_t *d, apr_time_t now,
                           int *created)
{
    int pool = tf_pool_find(t, key);
    tf_pool_ent_t *p;

    *created = 0;
    if (pool >= 0 || (pool = tf_pool_create(t, key, lim, name, now)) < 0) {
        return pool;
    }
    *created = 1;
    p = &t->pools[pool];
    p->uid = d->uid;
    p->gid = d->gid;
    copy_str(p->script, d->script, sizeof(p->script));
    copy_str(p->vhost, d->vhost, sizeof(p->vhost));
    copy_str(p->env_summary, d->env_summary, sizeof(p->env_summary));
    return pool;
}

int tf_pool_limits_same(const tf_table_t *t, int pool,
                        const tf_pool_limits_t *want)
{
    tf_pool_limits_t w = *want;

    if (w.max_conns < 1) {
        w.max_conns = 1; /* as tf_pool_create() stores it */
    }
    return memcmp(&w, &t->pools[pool].lim, sizeof(w)) == 0;
}

/* --- Available list: idle slots first, partly busy ones after ------------ */

static void avail_remove(tf_table_t *t, tf_proc_ent_t *pr)
{
    tf_pool_ent_t *p = &t->pools[pr->pool];

    if (!pr->listed) {
        return;
    }
    if (pr->prev != NIL) {
        t->procs[pr->prev].next = pr->next;
    }
    else {
        p->idle_head = pr->next;
    }
    if (pr->next != NIL) {
        t->procs[pr->next].prev = pr->prev;
    }
    pr->next = pr->prev = NIL;
    pr->listed = 0;
}

static void avail_insert(tf_table_t *t, apr_int32_t idx)
{
    tf_proc_ent_t *pr = &t->procs[idx];
    tf_pool_ent_t *p = &t->pools[pr->pool];
    apr_int32_t i, last = NIL;

    avail_remove(t, pr);
    if (pr->conns >= pr->max_conns || pr->state != TF_PROC_READY) {
        return;
    }
    if (pr->conns > 0) {
        /* partly busy: after the idle ones and those with as few
         * connections or fewer, so that a request that finds none idle
         * takes the least loaded (a threaded backend's requests share
         * its CPU), equals in turn (lists are short: one pool's) */
        for (i = p->idle_head; i != NIL && t->procs[i].conns <= pr->conns;
             i = t->procs[i].next) {
            last = i;
        }
    }
    /* idle: at the head, so that the one used last is taken first (it
     * is warm) */
    pr->prev = last;
    pr->next = last != NIL ? t->procs[last].next : p->idle_head;
    if (pr->next != NIL) {
        t->procs[pr->next].prev = idx;
    }
    if (last != NIL) {
        t->procs[last].next = idx;
    }
    else {
        p->idle_head = idx;
    }
    pr->listed = 1;
}

/* --- Slots --------------------------------------------------------------- */

/* Remember that httpd child @pid uses one more connection of @pr. */
static void holder_add(tf_proc_ent_t *pr, pid_t pid)
{
    unsigned i;

    for (i = 0; pid && i < TF_HOLDERS; i++) {
        if (pr->holders[i] == 0) {
            pr->holders[i] = pid;
            return;
        }
    }
}

/* Forget one connection of @pid; @return 1 if one was remembered. */
static int holder_drop(tf_proc_ent_t *pr, pid_t pid)
{
    unsigned i;

    for (i = 0; pid && i < TF_HOLDERS; i++) {
        if (pr->holders[i] == pid) {
            pr->holders[i] = 0;
            return 1;
        }
    }
    return 0;
}

/* The holder entry @from of @pr becomes @to (a connection kept idle is
 * held by -pid). @return 1 if there was one. */
static int holder_swap(tf_proc_ent_t *pr, pid_t from, pid_t to)
{
    unsigned i;

    for (i = 0; from && i < TF_HOLDERS; i++) {
        if (pr->holders[i] == from) {
            pr->holders[i] = to;
            return 1;
        }
    }
    return 0;
}

/* Take a free slot for @pool, zeroed but for its next seq. */
static apr_int32_t slot_claim(tf_table_t *t, int pool, apr_time_t now)
{
    apr_int32_t idx = t->hdr->free_proc;
    tf_proc_ent_t *pr;
    apr_uint32_t seq;

    if (idx == NIL) {
        return NIL;
    }
    pr = &t->procs[idx];
    t->hdr->free_proc = pr->next;
    seq = pr->seq + 1;
    memset(pr, 0, sizeof(*pr));
    pr->seq = seq;
    pr->pool = pool;
    pr->next = pr->prev = NIL;
    pr->started = pr->last_used = now;
    t->pools[pool].n_procs++;
    return idx;
}

static apr_int32_t slot_alloc(tf_table_t *t, int pool, pid_t holder,
                              apr_time_t now)
{
    apr_int32_t idx = slot_claim(t, pool, now);
    tf_proc_ent_t *pr;

    if (idx == NIL) {
        return NIL;
    }
    pr = &t->procs[idx];
    pr->state = TF_PROC_STARTING;
    pr->conns = 1;
    pr->max_conns = 1;
    holder_add(pr, holder);
    t->hdr->total_procs++;
    return idx;
}

static void slot_free(tf_table_t *t, apr_int32_t idx)
{
    tf_proc_ent_t *pr = &t->procs[idx];

    avail_remove(t, pr);
    t->pools[pr->pool].n_procs--;
    t->hdr->total_procs--;
    pr->state = TF_PROC_FREE;
    pr->pid = 0;
    pr->conns = 0;
    memset(pr->holders, 0, sizeof(pr->holders));
    pr->pool = NIL;
    pr->prev = NIL;
    pr->next = t->hdr->free_proc;
    t->hdr->free_proc = idx;
}

static int can_grow(const tf_table_t *t, const tf_pool_ent_t *p,
                    tf_limit_e *limit)
{
    tf_limit_e l = TF_LIMIT_NONE;


    if (p->n_procs >= p->lim.max_procs) {
        l = TF_LIMIT_POOL;
    }
    else if (t->hdr->total_procs >= t->hdr->max_total) {
        l = TF_LIMIT_TOTAL;
    }
    else if (t->hdr->free_proc == NIL) {
        l = TF_LIMIT_SLOTS;
    }
    if (limit) {
        *limit = l;
    }
    return l == TF_LIMIT_NONE;
}

/* One more failure in a row: @return TF_BACKOFF when it starts a pause. */
static int note_failure(tf_pool_ent_t *p, apr_time_t now)
{
    apr_uint32_t secs;

    if (++p->fail_streak < 2) {
        return 0;
    }
    secs = p->fail_streak - 2 < 6 ? 1u << (p->fail_streak - 2)
                                  : TF_BACKOFF_MAX_SEC;
    if (secs > TF_BACKOFF_MAX_SEC) {
        secs = TF_BACKOFF_MAX_SEC;
    }
    p->backoff_until = now + apr_time_from_sec(secs);
    return TF_BACKOFF;
}

/* --- The FIFO of waiters ------------------------------------------------- */

static apr_int32_t fifo_pop(tf_table_t *t, tf_pool_ent_t *p)
{
    apr_int32_t w = p->wait_head;

    if (w == NIL) {
        return NIL;
    }
    p->wait_head = t->waiters[w].next;
    if (p->wait_head == NIL) {
        p->wait_tail = NIL;
    }
    t->waiters[w].next = NIL;
    p->n_waiting--;
    t->hdr->waiting--;
    return w;
}

/* A granted waiter goes on the wake list; whoever holds the lock next
 * signals it (tf_shm_unlock). */
static void to_wake(tf_table_t *t, apr_int32_t w)
{
    t->waiters[w].wake_next = t->hdr->wake_head;
    t->hdr->wake_head = w;
}

apr_int32_t tf_table_take_wakes(tf_table_t *t)
{
    apr_int32_t w = t->hdr->wake_head;

    t->hdr->wake_head = NIL;
    return w;
}

static void waiter_free(tf_table_t *t, apr_int32_t w)
{
    t->waiters[w].state = TF_WAIT_FREE;
    t->waiters[w].holder = 0;
    t->waiters[w].next = t->hdr->free_waiter;
    t->hdr->free_waiter = w;
}

/* Hand the spare connections of @idx to the oldest waiters, one each. */
static int grant_proc(tf_table_t *t, tf_pool_ent_t *p, apr_int32_t idx)
{
    tf_proc_ent_t *pr = &t->procs[idx];
    int flags = 0;
    apr_int32_t w;

    while (pr->state == TF_PROC_READY && pr->conns < pr->max_conns
           && (w = fifo_pop(t, p)) != NIL) {
        pr->conns++;
        holder_add(pr, t->waiters[w].holder);
        t->waiters[w].state = TF_WAIT_GRANTED_PROC;
        t->waiters[w].proc = idx;
        t->waiters[w].seq = pr->seq;
        to_wake(t, w);
        flags = TF_WAKE_WAITERS;
    }
    avail_insert(t, idx);
    return flags;
}

/* A slot was freed: waiters of any pool blocked by the totals may now be
 * able to start a process. Scans pools only while requests are queued. */
static int grant_spawns(tf_table_t *t, int first_pool, apr_time_t now)
{
    apr_uint32_t n;
    int flags = 0;
    apr_int32_t pi, w, idx;

    for (n = 0; n < t->hdr->used_pools && t->hdr->waiting > 0; n++) {
        tf_pool_ent_t *p;

        pi = (apr_int32_t)((first_pool + n) % t->hdr->used_pools);
        p = &t->pools[pi];
        while (p->wait_head != NIL && now >= p->backoff_until
               && can_grow(t, p, NULL)) {
            w = fifo_pop(t, p);
            idx = slot_alloc(t, pi, t->waiters[w].holder, now);
            t->waiters[w].state = TF_WAIT_GRANTED_SPAWN;
            t->waiters[w].proc = idx;
            t->waiters[w].seq = t->procs[idx].seq;
            to_wake(t, w);
            flags |= TF_WAKE_WAITERS;
        }
    }
    return flags;
}

/* --- Request side -------------------------------------------------------- */

/* Queue a request at the end of @p's FIFO. */
static tf_acq_e enqueue(tf_table_t *t, tf_pool_ent_t *p, pid_t holder,
                        apr_int32_t *waiter)
{
    apr_int32_t w = t->hdr->free_waiter;

    if (w == NIL) {
        return TF_ACQ_QUEUE_FULL;
    }
    t->hdr->free_waiter = t->waiters[w].next;
    t->waiters[w].state = TF_WAIT_WAITING;
    t->waiters[w].next = NIL;
    t->waiters[w].proc = NIL;
    t->waiters[w].holder = holder;
    if (p->wait_tail != NIL) {
        t->waiters[p->wait_tail].next = w;
    }
    else {
        p->wait_head = w;
    }
    p->wait_tail = w;
    p->n_waiting++;
    p->queued++;
    t->hdr->waiting++;
    *waiter = w;
    return TF_ACQ_WAIT;
}

/* One more connection of listed slot @idx, for @holder. */
static void take_conn(tf_table_t *t, apr_int32_t idx, pid_t holder,
                      tf_proc_ref_t *ref)
{
    tf_proc_ent_t *pr = &t->procs[idx];

    pr->conns++;
    holder_add(pr, holder);
    avail_insert(t, idx);
    ref->idx = idx;
    ref->seq = pr->seq;
}

static tf_acq_e acquire_ext(tf_table_t *t, tf_pool_ent_t *p, pid_t holder,
                            apr_time_t now, apr_int32_t avoid,
                            tf_proc_ref_t *ref, apr_int32_t *waiter);

tf_acq_e tf_pool_req_acquire(tf_table_t *t, int pool, pid_t holder,
                             apr_time_t now, tf_proc_ref_t *ref,
                             apr_int32_t *waiter, tf_limit_e *limit)
{
    tf_pool_ent_t *p = &t->pools[pool];
    apr_int32_t idx = p->idle_head;

    *limit = TF_LIMIT_NONE;
    if (p->external) {
        return acquire_ext(t, p, holder, now, -1, ref, waiter);
    }
    p->last_used = now; /* an empty pool used least recently is recycled */
    /* 1. an idle process, unless others queued first */
    if (idx != NIL && t->procs[idx].conns == 0 && p->wait_head == NIL) {
        goto take;
    }
    /* 2. a new process while the pool and the server may grow, unless
     * the pool is backing off from a crash loop */
    if (now < p->backoff_until) {
        if (idx != NIL && p->wait_head == NIL) {
            goto take;
        }
        if (p->n_procs == 0) {
            return TF_ACQ_BACKOFF;
        }
    }
    else if (p->wait_head == NIL && can_grow(t, p, limit)) {
        idx = slot_alloc(t, pool, holder, now);
        ref->idx = idx;
        ref->seq = t->procs[idx].seq;
        return TF_ACQ_SPAWN;
    }
    /* 3. a busy process with a spare connection */
    if (idx != NIL && p->wait_head == NIL) {
        goto take;
    }
    if (*limit == TF_LIMIT_NONE) {
        can_grow(t, p, limit);
    }
    /* 4. the queue */
    return enqueue(t, p, holder, waiter);

take:
    take_conn(t, idx, holder, ref);
    return TF_ACQ_PROC;
}

tf_wait_state_e tf_pool_req_wait_check(tf_table_t *t, int pool,
                                       apr_int32_t waiter,
                                       tf_proc_ref_t *ref)
{
    tf_waiter_t *w = &t->waiters[waiter];
    tf_wait_state_e st = (tf_wait_state_e)w->state;

    if (st == TF_WAIT_REFUSED) {
        waiter_free(t, waiter);
        return st;
    }
    if (st != TF_WAIT_GRANTED_PROC && st != TF_WAIT_GRANTED_SPAWN) {
        return st;
    }
    ref->idx = w->proc;
    ref->seq = w->seq;
    waiter_free(t, waiter);
    return st;
}

/* Take @waiter out of @p's FIFO and free it. @return 1 if it was there. */
static int fifo_remove(tf_table_t *t, tf_pool_ent_t *p, apr_int32_t waiter)
{
    apr_int32_t i, prev = NIL;

    for (i = p->wait_head; i != NIL; prev = i, i = t->waiters[i].next) {
        if (i != waiter) {
            continue;
        }
        if (prev == NIL) {
            p->wait_head = t->waiters[i].next;
        }
        else {
            t->waiters[prev].next = t->waiters[i].next;
        }
        if (p->wait_tail == i) {
            p->wait_tail = prev;
        }
        p->n_waiting--;
        t->hdr->waiting--;
        waiter_free(t, waiter);
        return 1;
    }
    return 0;
}

void tf_pool_req_wait_cancel(tf_table_t *t, int pool, apr_int32_t waiter)
{
    tf_pool_ent_t *p = &t->pools[pool];

    if (fifo_remove(t, p, waiter)) {
        p->queue_timeouts++;
    }
}

void tf_pool_req_note_wait(tf_table_t *t, int pool,
                           apr_interval_time_t waited)
{
    tf_pool_ent_t *p = &t->pools[pool];

    if (waited > p->longest_wait) {
        p->longest_wait = waited;
    }
}

int tf_pool_req_claim_lim_warning(tf_table_t *t, int pool)
{
    tf_pool_ent_t *p = &t->pools[pool];

    if (p->lim_warned) {
        return 0;
    }
    p->lim_warned = 1;
    return 1;
}

int tf_pool_req_evict(tf_table_t *t, int pool)
{
    apr_int32_t best = NIL;
    apr_uint32_t k, stopping = 0;

    for (k = 0; k < t->hdr->n_procs; k++) {
        const tf_proc_ent_t *pr = &t->procs[k];

        if (pr->state == TF_PROC_STOPPING) {
            stopping++;
        }
        if (pr->state != TF_PROC_READY || pr->conns != 0
            || pr->pool == pool || t->pools[pr->pool].external
            || t->pools[pr->pool].n_procs <= t->pools[pr->pool].lim.min_procs) {
            continue;
        }
        if (best == NIL || pr->last_used < t->procs[best].last_used) {
            best = (apr_int32_t)k;
        }
    }
    if (best == NIL || stopping >= t->hdr->waiting) {
        return 0;
    }
    tf_pool_pm_stop_idle(t, best, TF_EXIT_IDLE);
    return TF_WAKE_PM;
}

int tf_pool_ref_valid(const tf_table_t *t, tf_proc_ref_t ref)
{
    return ref.idx >= 0 && (apr_uint32_t)ref.idx < t->hdr->n_procs
           && t->procs[ref.idx].seq == ref.seq
           && t->procs[ref.idx].state != TF_PROC_FREE;
}

static int retire_due(const tf_pool_ent_t *p, const tf_proc_ent_t *pr,
                      apr_time_t now)
{
    if (p->lim.max_requests && pr->requests >= p->lim.max_requests) {
        return 1;
    }
    if (p->lim.lifetime
        && now - pr->started >= apr_time_from_sec(p->lim.lifetime)) {
        return 1;
    }
    return 0;
}

/* How a connection comes back. */
typedef enum {
    GAVE_SERVED, /* the request was served */
    GAVE_BROKEN, /* the process must not serve again */
    GAVE_CUT     /* its httpd child died, or its client went away before
                  * the answer ended: the request ended unserved */
} gave_e;

/* A request of @pr ended unserved, and what the process does now is
 * unknown: a ready one-connection process must not serve again; one with
 * more connections serves its others. */
static gave_e cut_how(const tf_proc_ent_t *pr)
{
    return pr->max_conns <= 1 && pr->state == TF_PROC_READY ? GAVE_BROKEN
                                                            : GAVE_CUT;
}

static int release_ext(tf_table_t *t, tf_proc_ent_t *pr, apr_int32_t idx,
                       int how, apr_time_t now);

static int release_conn(tf_table_t *t, tf_proc_ref_t ref, gave_e how,
                        pid_t holder, apr_time_t now)
{
    tf_proc_ent_t *pr;
    tf_pool_ent_t *p;
    int pool, broken = how == GAVE_BROKEN;

    if (!tf_pool_ref_valid(t, ref) || t->procs[ref.idx].conns == 0) {
        return 0;
    }
    pr = &t->procs[ref.idx];
    pool = pr->pool;
    p = &t->pools[pool];
    if (p->external) {
        holder_drop(pr, holder);
        return release_ext(t, pr, ref.idx,
                           how == GAVE_SERVED ? TF_RELEASE_SERVED
                                              : TF_RELEASE_CUT, now);
    }
    pr->conns--;
    holder_drop(pr, holder);
    pr->last_used = now;
    if (how == GAVE_SERVED) {
        pr->requests++;
        p->requests++;
        p->fail_streak = 0;
    }
    if (pr->state == TF_PROC_STARTING) {
        if (how == GAVE_CUT && pr->conns == 0 && !pr->spawner) {
            /* the reserver's httpd child died before the manager read
             * its spawn request (if it ever sent it): nobody would start
             * this slot, and it would count against the pool's limit
             * for ever. A request that still comes is stale: the slot's
             * seq changes. */
            slot_free(t, ref.idx);
            return grant_spawns(t, pool, now);
        }
        /* the reserver gave up before the process was ready: the
         * manager makes it ready (idle) or frees it */
        return 0;
    }
    if (pr->state == TF_PROC_READY) {
        if (broken || retire_due(p, pr, now) || t->hdr->draining
            || pr->retire) {
            avail_remove(t, pr);
            pr->state = TF_PROC_STOPPING;
            pr->exit_reason = broken            ? TF_EXIT_BROKEN
                              : t->hdr->draining ? TF_EXIT_SHUTDOWN
                                                 : TF_EXIT_RETIRED;
        }
        else {
            return grant_proc(t, p, ref.idx);
        }
    }
    if (pr->conns > 0) {
        return 0;
    }
    if (pr->state == TF_PROC_EXITED) {
        slot_free(t, ref.idx);
        return grant_spawns(t, pool, now);
    }
    /* STOPPING and now idle: the PM stops it; a waiter gets a new one once
     * the slot is free. */
    return TF_WAKE_PM;
}

int tf_pool_req_release(tf_table_t *t, tf_proc_ref_t ref, int how,
                        pid_t holder, apr_time_t now)
{
    gave_e gave = how == TF_RELEASE_BROKEN || how == TF_RELEASE_DOWN
                      ? GAVE_BROKEN
                      : GAVE_SERVED;
    tf_proc_ent_t *pr;

    if (!tf_pool_ref_valid(t, ref)) {
        return 0;
    }
    pr = &t->procs[ref.idx];
    if (t->pools[pr->pool].external) {
        if (pr->conns == 0) {
            return 0;
        }
        holder_drop(pr, holder);
        return release_ext(t, pr, ref.idx, how, now);
    }
    if (how == TF_RELEASE_CUT) {
        gave = cut_how(pr);
    }
    return release_conn(t, ref, gave, holder, now);
}

int tf_pool_pm_reclaim(tf_table_t *t, pid_t dead, apr_time_t now,
                       unsigned *n)
{
    apr_uint32_t k;
    int flags = 0;

    *n = 0;
    if (!dead) {
        return 0;
    }
    /* its requests still queued, or granted and never claimed */
    for (k = 0; k < t->hdr->used_pools; k++) {
        apr_int32_t w = t->pools[k].wait_head, next;

        for (; w != NIL; w = next) {
            next = t->waiters[w].next;
            if (t->waiters[w].holder == dead) {
                fifo_remove(t, &t->pools[k], w);
            }
        }
    }
    for (k = 0; k < t->hdr->n_waiters; k++) {
        tf_waiter_t *w = &t->waiters[k];

        if (w->holder == dead && (w->state == TF_WAIT_GRANTED_PROC
                                  || w->state == TF_WAIT_GRANTED_SPAWN
                                  || w->state == TF_WAIT_REFUSED)) {
            waiter_free(t, (apr_int32_t)k);
        }
    }
    for (k = 0; k < t->hdr->n_procs; k++) {
        tf_proc_ent_t *pr = &t->procs[k];
        tf_proc_ref_t ref;

        ref.idx = (apr_int32_t)k;
        ref.seq = pr->seq;
        /* its idle kept connections to an external server */
        while (pr->state != TF_PROC_FREE && pr->kept > 0
               && holder_drop(pr, -dead)) {
            pr->kept--;
            if (pr->shed > pr->kept) {
                pr->shed = pr->kept;
            }
            flags |= release_ext(t, pr, (apr_int32_t)k, TF_RELEASE_CUT, now);
            (*n)++;
        }
        while (pr->state != TF_PROC_FREE && pr->conns > 0
               && holder_drop(pr, dead)) {
            /* dropped above: release_conn finds no entry left to drop */
            gave_e how = cut_how(pr);

            flags |= release_conn(t, ref, how, 0, now);
            if (how == GAVE_BROKEN && pr->state == TF_PROC_STOPPING) {
                pr->exit_reason = TF_EXIT_ORPHANED;
            }
            (*n)++;
        }
    }
    return flags;
}

/* --- Process-manager side ------------------------------------------------ */

int tf_pool_pm_reserve(tf_table_t *t, int pool, apr_time_t now,
                       tf_proc_ref_t *ref)
{
    tf_pool_ent_t *p = &t->pools[pool];
    apr_int32_t idx;

    if (t->hdr->draining || now < p->backoff_until || !can_grow(t, p, NULL)) {
        return -1;
    }
    idx = slot_alloc(t, pool, 0, now);
    t->procs[idx].conns = 0; /* nobody holds it: idle once ready */
    ref->idx = idx;
    ref->seq = t->procs[idx].seq;
    return 0;
}

int tf_pool_pm_grant(tf_table_t *t, int pool, apr_time_t now)
{
    return grant_spawns(t, pool, now);
}

int tf_pool_pm_spawn_claim(tf_table_t *t, tf_proc_ref_t ref, int pool,
                           apr_uint64_t key, pid_t spawner)
{
    /* pool comes from the spawn request: checked before it indexes */
    if (!tf_pool_ref_valid(t, ref)
        || t->procs[ref.idx].state != TF_PROC_STARTING || pool < 0
        || (apr_uint32_t)pool >= t->hdr->used_pools
        || t->pools[pool].key != key) {
        return 0;
    }
    t->procs[ref.idx].spawner = spawner;
    return 1;
}

void tf_pool_pm_forked(tf_table_t *t, tf_proc_ref_t ref, pid_t pid,
                       const char *sock, apr_time_t now)
{
    tf_proc_ent_t *pr;

    if (!tf_pool_ref_valid(t, ref)) {
        return;
    }
    pr = &t->procs[ref.idx];
    pr->pid = pid;
    pr->started = now;
    copy_str(pr->sock, sock, sizeof(pr->sock));
    t->pools[pr->pool].spawns++;
}

int tf_pool_pm_ready(tf_table_t *t, tf_proc_ref_t ref, apr_uint32_t max_conns,
                     apr_time_t now)
{
    tf_proc_ent_t *pr;
    int flags;

    if (!tf_pool_ref_valid(t, ref)
        || t->procs[ref.idx].state != TF_PROC_STARTING) {
        return -1;
    }
    pr = &t->procs[ref.idx];
    pr->state = TF_PROC_READY;
    pr->max_conns = max_conns ? max_conns : 1;
    pr->last_used = now;
    /* connections its reserver does not use (all, if it left, or the
     * spare ones of a threaded app) go to the requests queued meanwhile */
    flags = grant_proc(t, &t->pools[pr->pool], ref.idx);
    if (t->hdr->draining && pr->conns == 0) {
        /* started before the drain, and nobody of the old generation
         * wants it: it stops now, as a released one would, instead of
         * keeping the old manager alive until its idle timeout */
        tf_pool_pm_stop_idle(t, ref.idx, TF_EXIT_SHUTDOWN);
    }
    else if (pr->retire && pr->conns == 0) {
        /* started before its script changed, and nobody waits for it */
        tf_pool_pm_stop_idle(t, ref.idx, TF_EXIT_RETIRED);
    }
    return flags;
}

static int spawn_ended(tf_table_t *t, tf_proc_ref_t ref, apr_time_t now,
                       int count)
{
    int pool, flags = 0;

    if (!tf_pool_ref_valid(t, ref)) {
        return 0;
    }
    pool = t->procs[ref.idx].pool;
    slot_free(t, ref.idx);
    if (count) {
        t->pools[pool].exits[TF_EXIT_STARTUP]++;
        flags = note_failure(&t->pools[pool], now);
    }
    return flags | grant_spawns(t, pool, now);
}

int tf_pool_pm_spawn_failed(tf_table_t *t, tf_proc_ref_t ref, apr_time_t now)
{
    return spawn_ended(t, ref, now, 1);
}

int tf_pool_spawn_abandoned(tf_table_t *t, tf_proc_ref_t ref, apr_time_t now)
{
    return spawn_ended(t, ref, now, 0);
}

int tf_table_child_attach(tf_table_t *t, pid_t pid)
{
    apr_uint32_t i;

    for (i = 0; i < t->hdr->n_waiters; i++) {
        if (t->children[i] == 0) {
            t->children[i] = pid;
            return (int)i;
        }
    }
    return -1;
}

void tf_table_child_detach(tf_table_t *t, int idx, pid_t pid)
{
    if (idx >= 0 && (apr_uint32_t)idx < t->hdr->n_waiters
        && t->children[idx] == pid) {
        t->children[idx] = 0;
    }
}

int tf_pool_pm_exited(tf_table_t *t, int idx, tf_exit_reason_e why,
                      apr_time_t now)
{
    tf_proc_ent_t *pr = &t->procs[idx];
    int pool = pr->pool, flags = 0;

    if (pr->state == TF_PROC_FREE || pr->state == TF_PROC_STARTING
        || pr->state == TF_PROC_EXITED) {
        /* STARTING: the spawning thread reports the failure itself */
        return 0;
    }
    if (pr->state == TF_PROC_STOPPING) {
        why = (tf_exit_reason_e)pr->exit_reason;
    }
    t->pools[pool].exits[why]++;
    /* a crash loop is a process that dies by itself before it serves:
     * one that dies while serving was killed by its request, and a poison
     * request must not stop the pool */
    if (why == TF_EXIT_DIED && pr->requests == 0 && pr->conns == 0
        && now - pr->started < apr_time_from_sec(TF_EARLY_DEATH_SEC)) {
        flags = note_failure(&t->pools[pool], now);
    }
    pr->pid = 0;
    if (pr->conns > 0) {
        avail_remove(t, pr);
        pr->state = TF_PROC_EXITED;
        return flags;
    }
    slot_free(t, idx);
    return flags | grant_spawns(t, pool, now);
}

int tf_pool_pm_stop_idle(tf_table_t *t, int idx, tf_exit_reason_e why)
{
    tf_proc_ent_t *pr = &t->procs[idx];

    if (pr->state != TF_PROC_READY || pr->conns != 0
        || t->pools[pr->pool].external) {
        return -1;
    }
    avail_remove(t, pr);
    pr->state = TF_PROC_STOPPING;
    pr->exit_reason = why;
    return 0;
}

void tf_pool_pm_stop_sent(tf_table_t *t, int idx, apr_time_t now)
{
    t->procs[idx].stop_sent = now;
}

int tf_pool_pm_take_over(tf_table_t *t, pid_t self, apr_time_t now,
                         pid_t *to_kill, apr_uint32_t *n_kill)
{
    apr_uint32_t k;
    int n = 0;

    *n_kill = 0;
    for (k = 0; k < t->hdr->n_procs; k++) {
        tf_proc_ent_t *pr = &t->procs[k];
        tf_proc_ref_t ref;

        if (pr->state == TF_PROC_FREE) {
            continue;
        }
        if (pr->state == TF_PROC_STARTING) {
            if (!pr->spawner) {
                /* its spawn request waits in the control socket's
                 * backlog (the parent bound it): the new manager's */
                continue;
            }
            /* cut short by the predecessor's death; its requester was
             * told. Not the backend's fault: no back-off */
            if (pr->pid > 0) {
                to_kill[(*n_kill)++] = pr->pid;
            }
            ref.idx = (apr_int32_t)k;
            ref.seq = pr->seq;
            tf_pool_spawn_abandoned(t, ref, now);
            continue;
        }
        if (pr->pid > 0) { /* not an external server's address */
            pr->adopted = 1;
            n++;
        }
    }
    t->hdr->pm_pid = self;
    t->hdr->pm_starts++;
    t->hdr->pm_started = now;
    return n;
}

void tf_pool_pm_drain(tf_table_t *t)
{
    apr_uint32_t k;

    t->hdr->draining = 1;
    for (k = 0; k < t->hdr->n_procs; k++) {
        tf_pool_pm_stop_idle(t, (int)k, TF_EXIT_SHUTDOWN);
    }
}

int tf_pool_pm_retire_all(tf_table_t *t, int pool)
{
    apr_uint32_t k;
    int n = 0;

    for (k = 0; k < t->hdr->n_procs; k++) {
        tf_proc_ent_t *pr = &t->procs[k];

        if (pr->pool != pool || (pr->state != TF_PROC_READY
                                 && pr->state != TF_PROC_STARTING)) {
            continue;
        }
        n++;
        if (pr->state == TF_PROC_READY && pr->conns == 0) {
            tf_pool_pm_stop_idle(t, (int)k, TF_EXIT_RETIRED);
        }
        else {
            /* busy; or still starting, from what was there before the
             * change perhaps: it serves the request it was started for,
             * if any, and stops (tf_pool_pm_ready(), the release) */
            pr->retire = 1;
        }
    }
    return n;
}

tf_stop_e tf_pool_pm_stop_policy(const tf_pool_ent_t *p,
                                 const tf_proc_ent_t *pr, apr_uint32_t kept,
                                 apr_time_t now, tf_exit_reason_e *why)
{
    if (pr->state == TF_PROC_FREE || pr->state == TF_PROC_STARTING
        || pr->pid <= 0 || pr->conns > 0) {
        return TF_STOP_NONE;
    }
    if (pr->state == TF_PROC_READY) {
        if (kept > p->lim.min_procs && p->lim.idle_timeout
            && now - pr->last_used >= apr_time_from_sec(p->lim.idle_timeout)) {
            *why = TF_EXIT_IDLE;
            return TF_STOP_MARK;
        }
        if (retire_due(p, pr, now)) {
            *why = TF_EXIT_RETIRED;
            return TF_STOP_MARK;
        }
        return TF_STOP_NONE;
    }
    if (pr->state != TF_PROC_STOPPING) {
        return TF_STOP_NONE; /* EXITED: gone already, freed on release */
    }
    if (pr->stop_sent
        && now - pr->stop_sent <= apr_time_from_sec(TF_STOP_GRACE_SEC)) {
        return TF_STOP_NONE; /* signalled: give it its grace */
    }
    *why = (tf_exit_reason_e)pr->exit_reason;
    if (pr->stop_sent) {
        return TF_STOP_OVERDUE;
    }
    /* a broken backend may be wedged: do not wait for it */
    return pr->exit_reason == TF_EXIT_BROKEN
                   || pr->exit_reason == TF_EXIT_ORPHANED
               ? TF_STOP_KILL
               : TF_STOP_TERM;
}

void tf_pool_note_error(tf_table_t *t, int pool, const char *msg,
                        apr_time_t now)
{
    tf_pool_ent_t *p = &t->pools[pool];

    strncpy(p->last_error, msg, sizeof(p->last_error) - 1);
    p->last_error[sizeof(p->last_error) - 1] = '\0';
    p->last_error_time = now;
}

/* --- External servers ---------------------------------------------------- */

int tf_pool_ext_create(tf_table_t *t, apr_uint64_t key, const char *name,
                       const tf_pool_desc_t *d, const tf_pool_ext_t *x,
                       apr_time_t now)
{
    tf_pool_limits_t lim;
    apr_int32_t idx, j;
    apr_uint32_t i, n_free = 0;
    tf_pool_ent_t *p;
    int pool, created;

    for (j = t->hdr->free_proc; j != NIL && n_free < x->n;
         j = t->procs[j].next) {
        n_free++;
    }
    if (x->n < 1 || n_free < x->n || tf_pool_find(t, key) >= 0) {
        return NIL;
    }
    memset(&lim, 0, sizeof(lim));
    lim.max_procs = x->n;
    lim.max_conns = x->conns ? x->conns : 1;
    lim.conns_auto = x->conns == 0;
    pool = tf_pool_find_or_create(t, key, &lim, name, d, now, &created);
    if (pool < 0) {
        return NIL;
    }
    p = &t->pools[pool];
    p->external = 1;
    p->ext_check = x->check_secs ? x->check_secs : 1;
    p->ext_fails = x->fails ? x->fails : 1;
    p->ext_keep = x->keep_secs;
    for (i = 0; i < x->n; i++) {
        tf_proc_ent_t *pr;

        idx = slot_claim(t, pool, now); /* there is room: counted above */
        pr = &t->procs[idx];
        pr->state = TF_PROC_READY;
        pr->max_conns = lim.max_conns;
        pr->addr = i;
        copy_str(pr->where, x->where[i], sizeof(pr->where));
        p->ext_up++;
        t->hdr->ext_procs++;
        avail_insert(t, idx);
    }
    return pool;
}

/* Every connection of @p is taken, some by idle kept ones: ask one's
 * owner to close it (its place then goes to the FIFO's head). One ask
 * per waiting request, as long as kept connections are not all asked. */
static void ask_to_shed(tf_table_t *t, tf_pool_ent_t *p)
{
    apr_uint32_t k;

    if (!p->ext_keep) {
        return;
    }
    for (k = 0; k < t->hdr->n_procs; k++) {
        tf_proc_ent_t *pr = &t->procs[k];

        if (pr->state == TF_PROC_READY && &t->pools[pr->pool] == p
            && pr->kept > pr->shed) {
            pr->shed++;
            t->hdr->shed_seq++;
            return;
        }
    }
}

/* The READY address with the fewest requests in progress; of those, the
 * one least recently used, so that idle addresses take turns. @avoid
 * (the address a replayed request failed at) only when no other is
 * free. */
static tf_acq_e acquire_ext(tf_table_t *t, tf_pool_ent_t *p, pid_t holder,
                            apr_time_t now, apr_int32_t avoid,
                            tf_proc_ref_t *ref, apr_int32_t *waiter)
{
    apr_int32_t i, best = NIL;

    if (p->ext_up == 0) {
        return TF_ACQ_ALL_DOWN;
    }
    if (p->wait_head != NIL) {
        return enqueue(t, p, holder, waiter);
    }
    for (i = p->idle_head; i != NIL; i = t->procs[i].next) {
        const tf_proc_ent_t *pr = &t->procs[i];

        if (i == avoid) {
            continue;
        }
        if (best == NIL || pr->conns < t->procs[best].conns
            || (pr->conns == t->procs[best].conns
                && pr->last_used < t->procs[best].last_used)) {
            best = i;
        }
    }
    if (best == NIL && avoid >= 0 && t->procs[avoid].listed
        && &t->pools[t->procs[avoid].pool] == p) {
        best = avoid;
    }
    if (best == NIL) {
        ask_to_shed(t, p);
        return enqueue(t, p, holder, waiter);
    }
    t->procs[best].last_used = now;
    take_conn(t, best, holder, ref);
    return TF_ACQ_PROC;
}

tf_acq_e tf_pool_req_acquire_other(tf_table_t *t, int pool, pid_t holder,
                                   apr_time_t now, apr_int32_t avoid,
                                   tf_proc_ref_t *ref, apr_int32_t *waiter)
{
    tf_pool_ent_t *p = &t->pools[pool];
    tf_limit_e limit;

    if (!p->external || avoid < 0 || (apr_uint32_t)avoid >= t->hdr->n_procs) {
        return tf_pool_req_acquire(t, pool, holder, now, ref, waiter,
                                   &limit);
    }
    return acquire_ext(t, p, holder, now, avoid, ref, waiter);
}

/* The last address of @p went down: nobody waits for one (never a hang:
 * they answer 503 now). */
static int refuse_waiters(tf_table_t *t, tf_pool_ent_t *p)
{
    apr_int32_t w;
    int flags = 0;

    while ((w = fifo_pop(t, p)) != NIL) {
        t->waiters[w].state = TF_WAIT_REFUSED;
        t->waiters[w].proc = NIL;
        to_wake(t, w);
        flags = TF_WAKE_WAITERS;
    }
    return flags;
}

/* Address @idx is down from @now. @return TF_WENT_DOWN and what follows. */
static int ext_mark_down(tf_table_t *t, apr_int32_t idx, apr_time_t now)
{
    tf_proc_ent_t *pr = &t->procs[idx];
    tf_pool_ent_t *p = &t->pools[pr->pool];

    if (pr->state != TF_PROC_READY) {
        return 0;
    }
    avail_remove(t, pr);
    pr->state = TF_PROC_DOWN;
    pr->down_since = now;
    if (pr->kept > pr->shed) {
        pr->shed = pr->kept; /* no reuse of a connection to it */
        t->hdr->shed_seq++;
    }
    pr->next_probe = now + apr_time_from_sec(p->ext_check);
    if (--p->ext_up > 0) {
        return TF_WENT_DOWN;
    }
    return TF_WENT_DOWN | TF_ALL_DOWN | refuse_waiters(t, p);
}

static int release_ext(tf_table_t *t, tf_proc_ent_t *pr, apr_int32_t idx,
                       int how, apr_time_t now)
{
    tf_pool_ent_t *p = &t->pools[pr->pool];
    int flags = 0;

    pr->conns--;
    pr->last_used = now;
    switch (how) {
    case TF_RELEASE_SERVED:
        pr->requests++;
        p->requests++;
        pr->fails_row = 0;
        break;
    case TF_RELEASE_DOWN:
        pr->failures++;
        if (++pr->fails_row >= p->ext_fails) {
            flags = ext_mark_down(t, idx, now);
        }
        break;
    case TF_RELEASE_BROKEN:
        pr->failures++;
        break;
    default: /* TF_RELEASE_CUT: the client went away, or its child died */
        break;
    }
    if (pr->state == TF_PROC_READY) {
        flags |= grant_proc(t, p, idx);
    }
    return flags;
}

int tf_pool_req_keep(tf_table_t *t, tf_proc_ref_t ref, pid_t holder,
                     apr_time_t now)
{
    tf_proc_ent_t *pr;
    tf_pool_ent_t *p;

    if (!tf_pool_ref_valid(t, ref)) {
        return 0;
    }
    pr = &t->procs[ref.idx];
    p = &t->pools[pr->pool];
    if (!p->external || !p->ext_keep || pr->state != TF_PROC_READY
        || pr->shed || p->wait_head != NIL || pr->conns == 0
        || !holder_swap(pr, holder, -holder)) {
        return 0;
    }
    pr->kept++;
    pr->requests++;
    p->requests++;
    pr->fails_row = 0;
    pr->last_used = now;
    return 1;
}

int tf_pool_req_drop_kept(tf_table_t *t, tf_proc_ref_t ref, pid_t holder,
                          apr_time_t now)
{
    tf_proc_ent_t *pr;

    if (!tf_pool_ref_valid(t, ref) || t->procs[ref.idx].kept == 0) {
        return 0;
    }
    pr = &t->procs[ref.idx];
    holder_drop(pr, -holder);
    pr->kept--;
    if (pr->shed > 0) {
        pr->shed--; /* a close is a close, whatever asked for it */
    }
    return release_ext(t, pr, ref.idx, TF_RELEASE_CUT, now);
}

int tf_pool_req_reuse(tf_table_t *t, tf_proc_ref_t ref, pid_t holder,
                      apr_time_t now, int *flags)
{
    tf_proc_ent_t *pr;

    *flags = 0;
    if (!tf_pool_ref_valid(t, ref) || t->procs[ref.idx].kept == 0) {
        return -1;
    }
    pr = &t->procs[ref.idx];
    if (pr->state != TF_PROC_READY || pr->shed > 0) {
        *flags = tf_pool_req_drop_kept(t, ref, holder, now);
        return 0;
    }
    if (!holder_swap(pr, -holder, holder)) {
        return -1;
    }
    pr->kept--;
    pr->last_used = now;
    return 1;
}

int tf_pool_kept_must_go(const tf_table_t *t, tf_proc_ref_t ref)
{
    const tf_proc_ent_t *pr;

    if (!tf_pool_ref_valid(t, ref)) {
        return 1;
    }
    pr = &t->procs[ref.idx];
    return pr->state != TF_PROC_READY || pr->shed > 0;
}

void tf_pool_req_ext_error(tf_table_t *t, tf_proc_ref_t ref,
                           const char *err, apr_time_t now)
{
    tf_proc_ent_t *pr;

    if (!tf_pool_ref_valid(t, ref)) {
        return;
    }
    pr = &t->procs[ref.idx];
    copy_str(pr->error, err, sizeof(pr->error));
    tf_pool_note_error(t, pr->pool, err, now);
}

apr_uint32_t tf_pool_pm_ext_due(const tf_table_t *t, apr_time_t now,
                                tf_proc_ref_t *refs, apr_uint32_t max)
{
    apr_uint32_t k, n = 0;

    for (k = 0; k < t->hdr->n_procs && n < max; k++) {
        const tf_proc_ent_t *pr = &t->procs[k];

        if (pr->state == TF_PROC_FREE || !t->pools[pr->pool].external) {
            continue;
        }
        if (!pr->probed || (pr->state == TF_PROC_DOWN
                            && now >= pr->next_probe)) {
            refs[n].idx = (apr_int32_t)k;
            refs[n].seq = pr->seq;
            n++;
        }
    }
    return n;
}

int tf_pool_pm_ext_up(tf_table_t *t, tf_proc_ref_t ref, apr_uint32_t conns,
                      apr_time_t now)
{
    tf_proc_ent_t *pr;
    tf_pool_ent_t *p;
    int flags = 0;

    if (!tf_pool_ref_valid(t, ref)) {
        return 0;
    }
    pr = &t->procs[ref.idx];
    p = &t->pools[pr->pool];
    pr->probed = 1;
    if (p->lim.conns_auto && conns > 0) {
        pr->max_conns = conns < TF_HOLDERS ? conns : TF_HOLDERS;
    }
    if (pr->state == TF_PROC_DOWN) {
        pr->state = TF_PROC_READY;
        pr->down_since = 0;
        pr->fails_row = 0;
        p->ext_up++;
        flags = TF_CAME_UP;
    }
    pr->last_used = now;
    return flags | grant_proc(t, p, ref.idx);
}

int tf_pool_pm_ext_down(tf_table_t *t, tf_proc_ref_t ref, const char *err,
                        apr_time_t now)
{
    tf_proc_ent_t *pr;

    if (!tf_pool_ref_valid(t, ref)) {
        return 0;
    }
    pr = &t->procs[ref.idx];
    pr->probed = 1;
    copy_str(pr->error, err, sizeof(pr->error));
    if (pr->state == TF_PROC_DOWN) {
        pr->next_probe = now + apr_time_from_sec(t->pools[pr->pool].ext_check);
        return 0;
    }
    tf_pool_note_error(t, pr->pool, err, now);
    return ext_mark_down(t, ref.idx, now);
}

/* --- Metrics ------------------------------------------------------------- */

void tf_pool_count_error(tf_table_t *t, int pool, tf_err_kind_e kind)
{
    if (pool >= 0 && (apr_uint32_t)pool < t->hdr->used_pools
        && kind < TF_ERR_KINDS) {
        __atomic_add_fetch(&t->pools[pool].errors[kind], 1,
                           __ATOMIC_RELAXED);
    }
}

void tf_pool_count_duration(tf_table_t *t, int pool, apr_uint64_t us)
{
    static const apr_uint64_t bounds[] = TF_DURATION_BOUNDS_US;
    unsigned b = 0;

    if (pool < 0 || (apr_uint32_t)pool >= t->hdr->used_pools) {
        return;
    }
    while (b < TF_DURATION_BUCKETS - 1 && us > bounds[b]) {
        b++;
    }
    __atomic_add_fetch(&t->pools[pool].duration[b], 1, __ATOMIC_RELAXED);
    __atomic_add_fetch(&t->pools[pool].duration_sum_us, us,
                       __ATOMIC_RELAXED);
}

void tf_pool_count_recent(tf_table_t *t, int pool, apr_uint32_t sec,
                          int failed)
{
    tf_pool_ent_t *p;
    unsigned b = sec % TF_RECENT_SECS;
    apr_uint32_t seen;

    if (pool < 0 || (apr_uint32_t)pool >= t->hdr->used_pools) {
        return;
    }
    p = &t->pools[pool];
    seen = __atomic_load_n(&p->recent_sec[b], __ATOMIC_ACQUIRE);
    if (seen != sec
        && __atomic_compare_exchange_n(&p->recent_sec[b], &seen, sec, 0,
                                       __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) {
        /* this bucket was a minute ago: it starts anew */
        __atomic_store_n(&p->recent_req[b], 0, __ATOMIC_RELAXED);
        __atomic_store_n(&p->recent_err[b], 0, __ATOMIC_RELAXED);
    }
    __atomic_add_fetch(&p->recent_req[b], 1, __ATOMIC_RELAXED);
    if (failed) {
        __atomic_add_fetch(&p->recent_err[b], 1, __ATOMIC_RELAXED);
    }
}

apr_uint32_t tf_pool_recent(const tf_pool_ent_t *p, apr_uint32_t now_sec,
                            apr_uint32_t *failed)
{
    apr_uint32_t req = 0, i;

    *failed = 0;
    for (i = 0; i < TF_RECENT_SECS; i++) {
        if (p->recent_sec[i] + TF_RECENT_SECS > now_sec
            && p->recent_sec[i] <= now_sec) {
            req += p->recent_req[i];
            *failed += p->recent_err[i];
        }
    }
    return req;
}

/* --- Invariants ---------------------------------------------------------- */

/* The process slots: holders within their connections, the count of
 * used slots, and the free list. @return 1 if they hold. */
static int check_slots(const tf_table_t *t)
{
    const tf_table_hdr_t *h = t->hdr;
    apr_uint32_t i, used = 0, nfree = 0;
    apr_int32_t j;

    for (i = 0; i < h->n_procs; i++) {
        const tf_proc_ent_t *pr = &t->procs[i];
        apr_uint32_t k, held = 0, kept = 0;

        for (k = 0; k < TF_HOLDERS; k++) {
            held += pr->holders[k] > 0;
            kept += pr->holders[k] < 0; /* an idle kept connection: -pid */
        }
        /* a connection may be granted and not yet claimed by its waiter:
         * fewer holders than connections, never more; every kept one
         * records its owner */
        if (held + kept > pr->conns || kept != pr->kept
            || pr->shed > pr->kept) {
            return 0;
        }
        if (pr->state != TF_PROC_FREE) {
            used++;
        }
    }
    if (used != h->total_procs + h->ext_procs) {
        return 0;
    }
    for (j = h->free_proc; j != NIL; j = t->procs[j].next) {
        if (t->procs[j].state != TF_PROC_FREE || ++nfree > h->n_procs) {
            return 0;
        }
    }
    return nfree + used == h->n_procs;
}

/* Pool @i's slots: their count and states, and the listed ones on the
 * idle list (those with room, fully idle first, then by connections in
 * use). @return 1 if they hold. */
static int check_pool_slots(const tf_table_t *t, apr_uint32_t i)
{
    const tf_pool_ent_t *p = &t->pools[i];
    apr_uint32_t n = 0, listed = 0, up = 0, k;
    apr_uint32_t seen_busy = 0; /* connections of the last partly busy */
    apr_int32_t j;

    for (k = 0; k < t->hdr->n_procs; k++) {
        const tf_proc_ent_t *pr = &t->procs[k];

        if (pr->state != TF_PROC_FREE && pr->pool == (apr_int32_t)i) {
            n++;
            listed += pr->listed;
            up += pr->state == TF_PROC_READY;
            /* an external pool's slots are addresses: READY or
             * DOWN, no pid; a process's are never DOWN */
            if (p->external
                    ? (pr->pid != 0 || (pr->state != TF_PROC_READY
                                        && pr->state != TF_PROC_DOWN))
                    : pr->state == TF_PROC_DOWN) {
                return 0;
            }
        }
    }
    if (n != p->n_procs || n > p->lim.max_procs
        || (p->external && (n != p->lim.max_procs || up != p->ext_up))) {
        return 0;
    }
    /* a pool with no address up has nobody waiting */
    if (p->external && up == 0 && p->n_waiting) {
        return 0;
    }
    for (j = p->idle_head; j != NIL; j = t->procs[j].next) {
        const tf_proc_ent_t *pr = &t->procs[j];

        if (pr->state != TF_PROC_READY || pr->conns >= pr->max_conns
            || !pr->listed || pr->pool != (apr_int32_t)i) {
            return 0;
        }
        if (pr->conns > 0) {
            if (pr->conns < seen_busy) {
                return 0; /* partly busy ones by their connections */
            }
            seen_busy = pr->conns;
        }
        else if (seen_busy) {
            return 0; /* idle after partly busy */
        }
        listed--;
    }
    return listed == 0;
}

/* Pool @i's waiters: the list matches the count, and nobody waits while
 * a process is idle. @return 1 if they hold. */
static int check_pool_waiters(const tf_table_t *t, apr_uint32_t i)
{
    const tf_pool_ent_t *p = &t->pools[i];
    apr_uint32_t nw = 0;
    apr_int32_t j;

    for (j = p->wait_head; j != NIL; j = t->waiters[j].next) {
        if (t->waiters[j].state != TF_WAIT_WAITING || ++nw > p->n_waiting) {
            return 0;
        }
    }
    if (nw != p->n_waiting) {
        return 0;
    }
    return !(nw > 0 && p->idle_head != NIL
             && t->procs[p->idle_head].conns == 0);
}

int tf_table_check(const tf_table_t *t)
{
    const tf_table_hdr_t *h = t->hdr;
    apr_uint32_t i, waiting = 0;

    if (!check_slots(t)) {
        return 0;
    }
    for (i = 0; i < h->used_pools; i++) {
        if (!check_pool_slots(t, i) || !check_pool_waiters(t, i)) {
            return 0;
        }
        waiting += t->pools[i].n_waiting;
    }
    return waiting == h->waiting;
}
