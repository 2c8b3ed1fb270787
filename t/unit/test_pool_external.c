/*
 * test_pool_external.c: the process table's external pools (src/pool.c,
 * TracFcgiExternalServer): one slot per address, least outstanding
 * requests first, down after N failures in a row, refused at once when no
 * address is up, back up by the manager's probe; and that nothing meant
 * for processes (stops, evictions, drains, take-over, the server-wide
 * cap) ever touches an address. tf_table_check() after every step.
 */
#include <stdlib.h>
#include <string.h>

#include "tf_pool.h"
#include "tf_test.h"

#define SEC(n) apr_time_from_sec(n)

static tf_table_t t;
static void *mem;

static void setup(apr_uint32_t procs, apr_uint32_t max_total)
{
    free(mem);
    mem = calloc(1, tf_table_size(8, procs, 16));
    tf_table_init(&t, mem, 8, procs, 16, max_total);
}

static int ext_pool(apr_uint64_t key, apr_uint32_t n, apr_uint32_t conns,
                    apr_uint32_t fails)
{
    static const char *const where[] = {"127.0.0.1:9000", "[::1]:9001",
                                        "unix:/run/app.sock", "h:1"};
    tf_pool_desc_t d = {0, 0, "/trac", "web:80", ""};
    tf_pool_ext_t x;

    memset(&x, 0, sizeof(x));
    x.where = where;
    x.n = n;
    x.conns = conns;
    x.check_secs = 5;
    x.fails = fails;
    return tf_pool_ext_create(&t, key, "/trac", &d, &x, 0);
}

/* acquire that must get an address at once; @return its index */
static apr_int32_t take(int pool, pid_t holder, apr_time_t now,
                        tf_proc_ref_t *ref)
{
    apr_int32_t w;
    tf_limit_e lim;

    if (tf_pool_req_acquire(&t, pool, holder, now, ref, &w, &lim)
        != TF_ACQ_PROC) {
        return -1;
    }
    return (apr_int32_t)t.procs[ref->idx].addr;
}

static void test_create(void)
{
    int pool;
    apr_uint32_t k, n = 0;

    setup(8, 2);
    pool = ext_pool(1, 3, 2, 1);
    TF_CHECK("created", pool == 0);
    TF_CHECK("sane", tf_table_check(&t));
    TF_CHECK("flagged", t.pools[pool].external == 1);
    TF_CHECK("all up", t.pools[pool].ext_up == 3);
    TF_CHECK("not processes", t.hdr->total_procs == 0
                                  && t.hdr->ext_procs == 3);
    for (k = 0; k < t.hdr->n_procs; k++) {
        const tf_proc_ent_t *pr = &t.procs[k];

        if (pr->state == TF_PROC_READY) {
            TF_CHECK("address in order", pr->addr == n);
            TF_CHECK("no pid", pr->pid == 0);
            TF_CHECK("conns", pr->max_conns == 2);
            n++;
        }
    }
    TF_CHECK("three slots", n == 3);
    TF_CHECK("where kept", strcmp(t.procs[0].where, "127.0.0.1:9000") == 0);
    TF_CHECK("same key refused", ext_pool(1, 1, 1, 1) == -1);
    TF_CHECK("no room for 6 more", ext_pool(2, 6, 1, 1) == -1);
    TF_CHECK("no pool made", t.hdr->used_pools == 1);
    TF_CHECK("room for 5", ext_pool(3, 4, 1, 1) == 1);
    TF_CHECK("sane", tf_table_check(&t));
}

static void test_spread(void)
{
    tf_proc_ref_t r[8];
    int pool, seen[2] = {0, 0}, i;
    apr_int32_t a, b;

    setup(8, 4);
    pool = ext_pool(1, 2, 2, 1);
    /* one at a time: the least recently used address takes its turn */
    for (i = 0; i < 10; i++) {
        a = take(pool, 100, SEC(i + 1), &r[0]);
        TF_CHECK("taken", a == 0 || a == 1);
        if (a >= 0) {
            seen[a]++;
        }
        tf_pool_req_release(&t, r[0], TF_RELEASE_SERVED, 100, SEC(i + 1));
        TF_CHECK("sane", tf_table_check(&t));
    }
    TF_CHECK("turns", seen[0] == 5 && seen[1] == 5);
    /* in parallel: the one with fewer requests in progress */
    a = take(pool, 100, SEC(20), &r[0]);
    b = take(pool, 100, SEC(20), &r[1]);
    TF_CHECK("the other", a >= 0 && b >= 0 && a != b);
    a = take(pool, 100, SEC(21), &r[2]);
    b = take(pool, 100, SEC(21), &r[3]);
    TF_CHECK("second round on both", a >= 0 && b >= 0 && a != b);
    TF_CHECK("all four conns", t.pools[pool].idle_head == -1);
    TF_CHECK("sane", tf_table_check(&t));
    for (i = 0; i < 4; i++) {
        tf_pool_req_release(&t, r[i], TF_RELEASE_SERVED, 100, SEC(22));
    }
    TF_CHECK("requests counted", t.pools[pool].requests == 14);
    TF_CHECK("sane", tf_table_check(&t));
}

/* A replay gets another address while one is free. */
static void test_replay_avoids(void)
{
    tf_proc_ref_t r, o;
    apr_int32_t w;
    int pool, i;

    setup(8, 4);
    pool = ext_pool(1, 2, 2, 1);
    for (i = 0; i < 6; i++) {
        take(pool, 100, SEC(i + 1), &r);
        TF_CHECK("another address",
                 tf_pool_req_acquire_other(&t, pool, 100, SEC(i + 1), r.idx,
                                           &o, &w) == TF_ACQ_PROC
                     && o.idx != r.idx);
        tf_pool_req_release(&t, r, TF_RELEASE_SERVED, 100, SEC(i + 1));
        tf_pool_req_release(&t, o, TF_RELEASE_SERVED, 100, SEC(i + 1));
    }
    /* the other one full: the same address rather than a wait */
    {
        tf_proc_ref_t h[3], again;
        int one = -1;

        for (i = 0; i < 3; i++) {
            take(pool, 100, SEC(10), &h[i]);
        }
        for (i = 0; i < 3; i++) {
            if (t.procs[h[i].idx].conns == 1) {
                one = i;
            }
        }
        TF_CHECK("one address half busy", one >= 0);
        TF_CHECK("the same when the other is full",
                 one >= 0
                     && tf_pool_req_acquire_other(&t, pool, 100, SEC(10),
                                                  h[one].idx, &again, &w)
                            == TF_ACQ_PROC
                     && again.idx == h[one].idx);
    }
    TF_CHECK("sane", tf_table_check(&t));
}

static void test_full_waits(void)
{
    tf_proc_ref_t r[3], got;
    apr_int32_t w;
    tf_limit_e lim;
    int pool, flags;

    setup(8, 4);
    pool = ext_pool(1, 1, 2, 1);
    take(pool, 100, SEC(1), &r[0]);
    take(pool, 100, SEC(1), &r[1]);
    TF_CHECK("queued when full",
             tf_pool_req_acquire(&t, pool, 101, SEC(1), &r[2], &w, &lim)
                 == TF_ACQ_WAIT);
    TF_CHECK("no process limit named", lim == TF_LIMIT_NONE);
    TF_CHECK("sane", tf_table_check(&t));
    flags = tf_pool_req_release(&t, r[0], TF_RELEASE_SERVED, 100, SEC(2));
    TF_CHECK("granted", (flags & TF_WAKE_WAITERS)
                            && tf_pool_req_wait_check(&t, pool, w, &got)
                                   == TF_WAIT_GRANTED_PROC);
    TF_CHECK("same address", got.idx == r[0].idx);
    TF_CHECK("sane", tf_table_check(&t));
}

static void test_down_and_up(void)
{
    tf_proc_ref_t r[4], due[8];
    apr_int32_t w, a;
    tf_limit_e lim;
    int pool, flags, i;

    setup(8, 4);
    pool = ext_pool(1, 2, 1, 1);
    a = take(pool, 100, SEC(1), &r[0]);
    flags = tf_pool_req_release(&t, r[0], TF_RELEASE_DOWN, 100, SEC(1));
    TF_CHECK("went down", flags & TF_WENT_DOWN);
    TF_CHECK("not the last", !(flags & TF_ALL_DOWN));
    TF_CHECK("state", t.procs[r[0].idx].state == TF_PROC_DOWN
                          && t.procs[r[0].idx].down_since == SEC(1));
    TF_CHECK("failure counted", t.procs[r[0].idx].failures == 1);
    TF_CHECK("sane", tf_table_check(&t));
    for (i = 0; i < 4; i++) {
        TF_CHECK("the other takes all", take(pool, 100, SEC(2), &r[1]) == 1 - a);
        tf_pool_req_release(&t, r[1], TF_RELEASE_SERVED, 100, SEC(2));
    }
    /* the other one busy: a request waits, then it goes down too */
    take(pool, 100, SEC(3), &r[1]);
    TF_CHECK("waits", tf_pool_req_acquire(&t, pool, 101, SEC(3), &r[2], &w,
                                          &lim) == TF_ACQ_WAIT);
    flags = tf_pool_req_release(&t, r[1], TF_RELEASE_DOWN, 100, SEC(3));
    TF_CHECK("last down", (flags & TF_ALL_DOWN) && (flags & TF_WAKE_WAITERS));
    TF_CHECK("waiter refused",
             tf_pool_req_wait_check(&t, pool, w, &r[2]) == TF_WAIT_REFUSED);
    TF_CHECK("sane", tf_table_check(&t));
    TF_CHECK("refused at once",
             tf_pool_req_acquire(&t, pool, 101, SEC(3), &r[2], &w, &lim)
                 == TF_ACQ_ALL_DOWN);
    TF_CHECK("nothing queued", t.hdr->waiting == 0);
    /* the manager: nothing due before check seconds have passed, except
     * the first probe of each */
    for (i = 0; i < 8; i++) {
        t.procs[i].probed = 1;
    }
    TF_CHECK("not due yet", tf_pool_pm_ext_due(&t, SEC(4), due, 8) == 0);
    TF_CHECK("both due", tf_pool_pm_ext_due(&t, SEC(8), due, 8) == 2);
    flags = tf_pool_pm_ext_down(&t, due[0], "connection refused", SEC(8));
    TF_CHECK("stays down, quietly", flags == 0);
    TF_CHECK("error kept", strcmp(t.procs[due[0].idx].error,
                                  "connection refused") == 0);
    TF_CHECK("one due", tf_pool_pm_ext_due(&t, SEC(8), due + 2, 6) == 1);
    flags = tf_pool_pm_ext_up(&t, due[1], 0, SEC(8));
    TF_CHECK("came up", flags & TF_CAME_UP);
    TF_CHECK("sane", tf_table_check(&t));
    TF_CHECK("served again", take(pool, 100, SEC(9), &r[3]) >= 0);
    TF_CHECK("up again", t.pools[pool].ext_up == 1);
    TF_CHECK("next probe later",
             tf_pool_pm_ext_due(&t, SEC(12), due, 8) == 0
                 && tf_pool_pm_ext_due(&t, SEC(13), due, 8) == 1);
    tf_pool_req_release(&t, r[3], TF_RELEASE_SERVED, 100, SEC(9));
    TF_CHECK("sane", tf_table_check(&t));
}

static void test_fails_in_a_row(void)
{
    tf_proc_ref_t r;
    int pool, flags;

    setup(8, 4);
    pool = ext_pool(1, 1, 1, 3);
    take(pool, 100, SEC(1), &r);
    TF_CHECK("1 of 3", tf_pool_req_release(&t, r, TF_RELEASE_DOWN, 100,
                                           SEC(1)) == 0);
    take(pool, 100, SEC(1), &r);
    TF_CHECK("2 of 3", tf_pool_req_release(&t, r, TF_RELEASE_DOWN, 100,
                                           SEC(1)) == 0);
    take(pool, 100, SEC(1), &r);
    tf_pool_req_release(&t, r, TF_RELEASE_SERVED, 100, SEC(1));
    take(pool, 100, SEC(1), &r);
    TF_CHECK("a success starts over",
             tf_pool_req_release(&t, r, TF_RELEASE_DOWN, 100, SEC(1)) == 0);
    take(pool, 100, SEC(1), &r);
    tf_pool_req_release(&t, r, TF_RELEASE_DOWN, 100, SEC(1));
    take(pool, 100, SEC(1), &r);
    /* a protocol error says nothing of the address */
    tf_pool_req_release(&t, r, TF_RELEASE_BROKEN, 100, SEC(1));
    take(pool, 100, SEC(1), &r);
    flags = tf_pool_req_release(&t, r, TF_RELEASE_DOWN, 100, SEC(1));
    TF_CHECK("third in a row", (flags & TF_WENT_DOWN) && (flags & TF_ALL_DOWN));
    TF_CHECK("failures", t.procs[r.idx].failures == 6);
    TF_CHECK("sane", tf_table_check(&t));
}

static void test_auto_conns(void)
{
    tf_proc_ref_t due[4];
    int pool;

    setup(8, 4);
    pool = ext_pool(1, 2, 0, 1);
    TF_CHECK("one until asked", t.procs[0].max_conns == 1
                                    && t.pools[pool].lim.conns_auto);
    TF_CHECK("first probes due", tf_pool_pm_ext_due(&t, 0, due, 4) == 2);
    tf_pool_pm_ext_up(&t, due[0], 8, 0);
    tf_pool_pm_ext_up(&t, due[1], 1000, 0);
    TF_CHECK("answer taken", t.procs[due[0].idx].max_conns == 8);
    TF_CHECK("capped", t.procs[due[1].idx].max_conns == TF_HOLDERS);
    TF_CHECK("probed once", tf_pool_pm_ext_due(&t, SEC(60), due, 4) == 0);
    TF_CHECK("sane", tf_table_check(&t));
    /* a fixed conns= is kept whatever the server says */
    pool = ext_pool(2, 1, 3, 1);
    tf_pool_pm_ext_due(&t, 0, due, 4);
    tf_pool_pm_ext_up(&t, due[0], 8, 0);
    TF_CHECK("fixed kept", t.procs[due[0].idx].max_conns == 3);
    /* the first probe finds it down */
    pool = ext_pool(3, 1, 0, 1);
    TF_CHECK("one due", tf_pool_pm_ext_due(&t, 0, due, 4) == 1);
    TF_CHECK("down at start",
             tf_pool_pm_ext_down(&t, due[0], "no such file", 0)
                 & TF_ALL_DOWN);
    TF_CHECK("pool error", strcmp(t.pools[pool].last_error,
                                  "no such file") == 0);
    TF_CHECK("sane", tf_table_check(&t));
}

/* Nothing meant for processes touches an address. */
static void test_not_a_process(void)
{
    tf_pool_limits_t lim;
    tf_proc_ref_t r, sp;
    apr_int32_t w;
    tf_limit_e l;
    pid_t kill[8];
    apr_uint32_t n_kill, k;
    tf_exit_reason_e why;
    unsigned n;
    int ext, pool;

    setup(8, 1);
    ext = ext_pool(1, 2, 2, 1);
    memset(&lim, 0, sizeof(lim));
    lim.max_procs = 2;
    lim.max_conns = 1;
    lim.idle_timeout = 1;
    pool = tf_pool_create(&t, 2, &lim, "spawned", 0);
    /* the server-wide cap of 1 counts processes only */
    TF_CHECK("spawns despite 2 addresses",
             tf_pool_req_acquire(&t, pool, 100, 0, &sp, &w, &l)
                 == TF_ACQ_SPAWN);
    tf_pool_pm_forked(&t, sp, 4242, "", 0);
    tf_pool_pm_ready(&t, sp, 1, 0);
    tf_pool_req_release(&t, sp, TF_RELEASE_SERVED, 100, 0);
    TF_CHECK("sane", tf_table_check(&t));
    /* a request of the full spawned pool evicts nothing external */
    TF_CHECK("no eviction", tf_pool_req_evict(&t, pool) == 0);
    for (k = 0; k < t.hdr->n_procs; k++) {
        if (t.procs[k].state != TF_PROC_FREE
            && t.pools[t.procs[k].pool].external) {
            TF_CHECK("no stop", tf_pool_pm_stop_policy(
                                    &t.pools[ext], &t.procs[k], 2,
                                    SEC(1000), &why) == TF_STOP_NONE);
            TF_CHECK("not stoppable",
                     tf_pool_pm_stop_idle(&t, (int)k, TF_EXIT_IDLE) == -1);
        }
    }
    TF_CHECK("take-over adopts the process only",
             tf_pool_pm_take_over(&t, 77, 0, kill, &n_kill) == 1);
    TF_CHECK("sane", tf_table_check(&t));
    /* a dead httpd child's connection to an address comes back */
    take(ext, 555, SEC(1), &r);
    tf_pool_pm_reclaim(&t, 555, SEC(1), &n);
    TF_CHECK("reclaimed", n == 1 && t.procs[r.idx].conns == 0
                              && t.procs[r.idx].state == TF_PROC_READY);
    TF_CHECK("sane", tf_table_check(&t));
    tf_pool_pm_drain(&t);
    TF_CHECK("drain leaves addresses", t.pools[ext].ext_up == 2);
    TF_CHECK("drain stops the process",
             t.procs[sp.idx].state == TF_PROC_STOPPING);
    take(ext, 100, SEC(2), &r);
    tf_pool_req_release(&t, r, TF_RELEASE_SERVED, 100, SEC(2));
    TF_CHECK("served while draining",
             t.procs[r.idx].state == TF_PROC_READY);
    TF_CHECK("sane", tf_table_check(&t));
}

static int keep_pool(apr_uint64_t key, apr_uint32_t n, apr_uint32_t conns)
{
    static const char *const where[] = {"127.0.0.1:9000", "127.0.0.1:9001"};
    tf_pool_desc_t d = {0, 0, "/k", "web:80", ""};
    tf_pool_ext_t x;

    memset(&x, 0, sizeof(x));
    x.where = where;
    x.n = n;
    x.conns = conns;
    x.check_secs = 5;
    x.fails = 1;
    x.keep_secs = 10;
    return tf_pool_ext_create(&t, key, "/k", &d, &x, 0);
}

static int negative_holders(apr_int32_t idx)
{
    int i, n = 0;

    for (i = 0; i < TF_HOLDERS; i++) {
        n += t.procs[idx].holders[i] < 0;
    }
    return n;
}

/* keepalive=: an idle connection kept for its child's next request, and
 * given up as soon as somebody else needs its place. */
static void test_keepalive(void)
{
    tf_proc_ref_t r, r2, got;
    apr_int32_t w;
    tf_limit_e lim;
    unsigned n;
    int pool, flags, seq;

    setup(8, 4);
    pool = ext_pool(9, 1, 2, 1);
    take(pool, 100, SEC(1), &r);
    TF_CHECK("no keepalive configured: not kept",
             tf_pool_req_keep(&t, r, 100, SEC(1)) == 0);
    tf_pool_req_release(&t, r, TF_RELEASE_SERVED, 100, SEC(1));

    pool = keep_pool(1, 1, 2);
    take(pool, 100, SEC(1), &r);
    TF_CHECK("kept", tf_pool_req_keep(&t, r, 100, SEC(1)) == 1);
    TF_CHECK("its place stays taken", t.procs[r.idx].conns == 1
                                          && t.procs[r.idx].kept == 1);
    TF_CHECK("owner as -pid", negative_holders(r.idx) == 1);
    TF_CHECK("counted as served", t.pools[pool].requests == 1);
    TF_CHECK("sane", tf_table_check(&t));
    TF_CHECK("reused by its owner",
             tf_pool_req_reuse(&t, r, 100, SEC(2), &flags) == 1
                 && t.procs[r.idx].kept == 0 && negative_holders(r.idx) == 0
                 && t.procs[r.idx].conns == 1);
    TF_CHECK("sane", tf_table_check(&t));
    TF_CHECK("kept again", tf_pool_req_keep(&t, r, 100, SEC(2)) == 1);
    /* another child fills the other place, then one more must wait: the
     * kept connection's owner is asked to close it */
    take(pool, 200, SEC(3), &r2);
    seq = (int)t.hdr->shed_seq;
    TF_CHECK("waits", tf_pool_req_acquire(&t, pool, 300, SEC(3), &got, &w,
                                          &lim) == TF_ACQ_WAIT);
    TF_CHECK("shed asked", t.procs[r.idx].shed == 1
                               && (int)t.hdr->shed_seq == seq + 1);
    TF_CHECK("must go", tf_pool_kept_must_go(&t, r));
    TF_CHECK("sane", tf_table_check(&t));
    TF_CHECK("not kept while somebody waits",
             tf_pool_req_keep(&t, r2, 200, SEC(3)) == 0);
    TF_CHECK("the owner may not reuse it",
             tf_pool_req_reuse(&t, r, 100, SEC(3), &flags) == 0
                 && (flags & TF_WAKE_WAITERS));
    TF_CHECK("its place went to the waiter",
             tf_pool_req_wait_check(&t, pool, w, &got)
                 == TF_WAIT_GRANTED_PROC && got.idx == r.idx);
    TF_CHECK("shed done", t.procs[r.idx].shed == 0
                              && t.procs[r.idx].kept == 0);
    TF_CHECK("sane", tf_table_check(&t));
    tf_pool_req_release(&t, got, TF_RELEASE_SERVED, 300, SEC(4));
    tf_pool_req_release(&t, r2, TF_RELEASE_SERVED, 200, SEC(4));
    /* the idle timeout: the owner drops it */
    take(pool, 100, SEC(5), &r);
    tf_pool_req_keep(&t, r, 100, SEC(5));
    flags = tf_pool_req_drop_kept(&t, r, 100, SEC(20));
    TF_CHECK("dropped", t.procs[r.idx].conns == 0 && t.procs[r.idx].kept == 0
                            && negative_holders(r.idx) == 0);
    TF_CHECK("sane", tf_table_check(&t));
    /* down: every kept connection must go */
    take(pool, 100, SEC(21), &r);
    take(pool, 101, SEC(21), &r2);
    tf_pool_req_keep(&t, r, 100, SEC(21));
    tf_pool_req_keep(&t, r2, 101, SEC(21));
    tf_pool_pm_ext_down(&t, r, "refused", SEC(22));
    TF_CHECK("all shed", t.procs[r.idx].shed == 2 && tf_pool_kept_must_go(&t,
                                                                        r));
    TF_CHECK("sane", tf_table_check(&t));
    tf_pool_req_drop_kept(&t, r, 100, SEC(22));
    TF_CHECK("one left", t.procs[r.idx].kept == 1 && t.procs[r.idx].shed == 1);
    /* the other's child dies: the manager takes its kept one back */
    tf_pool_pm_reclaim(&t, 101, SEC(23), &n);
    TF_CHECK("reclaimed", n == 1 && t.procs[r.idx].kept == 0
                              && t.procs[r.idx].shed == 0
                              && t.procs[r.idx].conns == 0);
    TF_CHECK("sane", tf_table_check(&t));
}

/* A random walk over take, give back (every way) and probes. */
static void test_random_walk(void)
{
    tf_proc_ref_t held[32], due[8];
    apr_int32_t waiting[32];
    int n_held = 0, n_wait = 0, pool, i, j;
    apr_time_t now = 0;
    unsigned seed = 12345;

    setup(8, 4);
    pool = ext_pool(1, 3, 2, 2);
    for (i = 0; i < 20000; i++) {
        int op;
        tf_limit_e l;
        apr_int32_t w;
        tf_proc_ref_t r;

        seed = seed * 1103515245u + 12345u;
        op = (int)((seed >> 16) % 6);
        now += 100000;
        if (op <= 1 && n_held < 32 && n_wait < 32) {
            tf_acq_e a = tf_pool_req_acquire(&t, pool, 100, now, &r, &w, &l);

            if (a == TF_ACQ_PROC) {
                held[n_held++] = r;
            }
            else if (a == TF_ACQ_WAIT) {
                waiting[n_wait++] = w;
            }
        }
        else if (op <= 3 && n_held > 0) {
            static const int hows[] = {TF_RELEASE_SERVED, TF_RELEASE_DOWN,
                                       TF_RELEASE_BROKEN, TF_RELEASE_CUT};

            j = (int)((seed >> 8) % (unsigned)n_held);
            tf_pool_req_release(&t, held[j], hows[(seed >> 4) % 4], 100, now);
            held[j] = held[--n_held];
        }
        else if (op == 4) {
            apr_uint32_t n = tf_pool_pm_ext_due(&t, now, due, 8), k;

            for (k = 0; k < n; k++) {
                if ((seed >> (k + 3)) & 1) {
                    tf_pool_pm_ext_up(&t, due[k], 2, now);
                }
                else {
                    tf_pool_pm_ext_down(&t, due[k], "refused", now);
                }
            }
        }
        /* waiters look at their state, as their threads would */
        for (j = 0; j < n_wait; j++) {
            tf_wait_state_e st =
                tf_pool_req_wait_check(&t, pool, waiting[j], &r);

            if (st == TF_WAIT_GRANTED_PROC) {
                held[n_held++] = r;
            }
            if (st != TF_WAIT_WAITING) {
                waiting[j--] = waiting[--n_wait];
            }
        }
        if (!tf_table_check(&t)) {
            TF_CHECK("sane throughout", 0);
            return;
        }
        tf_table_take_wakes(&t);
    }
    TF_CHECK("sane throughout", 1);
}

/* The same walk with keepalive=: requests of two children keep, reuse and
 * drop connections among the rest. */
static void test_random_walk_keep(void)
{
    struct {
        tf_proc_ref_t ref;
        pid_t who;
    } held[32], kept[32];
    struct {
        apr_int32_t w;
        pid_t who;
    } waiting[32];
    int n_held = 0, n_kept = 0, n_wait = 0, pool, i, j, flags;
    apr_time_t now = 0;
    unsigned seed = 777;

    setup(8, 4);
    pool = keep_pool(1, 2, 3);
    for (i = 0; i < 20000; i++) {
        pid_t who;
        tf_limit_e l;
        apr_int32_t w;
        tf_proc_ref_t r;
        int op;

        seed = seed * 1103515245u + 12345u;
        op = (int)((seed >> 16) % 8);
        who = 100 + (pid_t)((seed >> 8) & 1);
        now += 50000;
        if (op <= 1 && n_held < 32 && n_wait < 32) {
            tf_acq_e a = tf_pool_req_acquire(&t, pool, who, now, &r, &w, &l);

            if (a == TF_ACQ_PROC) {
                held[n_held].ref = r;
                held[n_held++].who = who;
            }
            else if (a == TF_ACQ_WAIT) {
                waiting[n_wait].w = w;
                waiting[n_wait++].who = who;
            }
        }
        else if (op <= 3 && n_held > 0) {
            j = (int)((seed >> 4) % (unsigned)n_held);
            if (op == 2 && n_kept < 32
                && tf_pool_req_keep(&t, held[j].ref, held[j].who, now)) {
                kept[n_kept++] = held[j];
            }
            else {
                tf_pool_req_release(&t, held[j].ref, op == 2
                                    ? TF_RELEASE_SERVED : TF_RELEASE_DOWN,
                                    held[j].who, now);
            }
            held[j] = held[--n_held];
        }
        else if (op <= 5 && n_kept > 0) {
            j = (int)((seed >> 4) % (unsigned)n_kept);
            if (op == 4 && n_held < 32
                && tf_pool_req_reuse(&t, kept[j].ref, kept[j].who, now,
                                     &flags) == 1) {
                held[n_held++] = kept[j];
            }
            else if (op == 5) {
                tf_pool_req_drop_kept(&t, kept[j].ref, kept[j].who, now);
            }
            kept[j] = kept[--n_kept];
        }
        else if (op == 6) {
            tf_proc_ref_t due[8];
            apr_uint32_t n = tf_pool_pm_ext_due(&t, now, due, 8), k;

            for (k = 0; k < n; k++) {
                tf_pool_pm_ext_up(&t, due[k], 3, now);
            }
        }
        /* owners close what they are asked to */
        for (j = 0; j < n_kept; j++) {
            if (tf_pool_kept_must_go(&t, kept[j].ref)) {
                tf_pool_req_drop_kept(&t, kept[j].ref, kept[j].who, now);
                kept[j--] = kept[--n_kept];
            }
        }
        for (j = 0; j < n_wait; j++) {
            tf_wait_state_e st =
                tf_pool_req_wait_check(&t, pool, waiting[j].w, &r);

            if (st == TF_WAIT_GRANTED_PROC) {
                held[n_held].ref = r;
                held[n_held++].who = waiting[j].who;
            }
            if (st != TF_WAIT_WAITING) {
                waiting[j--] = waiting[--n_wait];
            }
        }
        if (!tf_table_check(&t)) {
            TF_CHECK("sane throughout (keepalive)", 0);
            return;
        }
        tf_table_take_wakes(&t);
    }
    TF_CHECK("sane throughout (keepalive)", 1);
    TF_CHECK("nobody waits for ever", n_wait < 32);
}

int main(void)
{
    test_create();
    test_spread();
    test_replay_avoids();
    test_full_waits();
    test_down_and_up();
    test_fails_in_a_row();
    test_auto_conns();
    test_not_a_process();
    test_keepalive();
    test_random_walk();
    test_random_walk_keep();
    free(mem);
    return TF_REPORT();
}
