/*
 * test_pool.c: the process table's bookkeeping (src/pool.c) on a malloc'ed
 * table: acquire/release/spawn/exit sequences, FIFO order, limits, and a
 * long random walk, with tf_table_check() after every step.
 */
#include <stdlib.h>
#include <string.h>

#include "tf_pool.h"
#include "tf_test.h"

static tf_table_t t;
static void *mem;

static void setup(apr_uint32_t pools, apr_uint32_t procs,
                  apr_uint32_t waiters, apr_uint32_t max_total)
{
    free(mem);
    mem = calloc(1, tf_table_size(pools, procs, waiters));
    tf_table_init(&t, mem, pools, procs, waiters, max_total);
}

static int new_pool(apr_uint64_t key, apr_uint32_t max_procs,
                    apr_uint32_t max_requests)
{
    tf_pool_limits_t lim;

    memset(&lim, 0, sizeof(lim));
    lim.max_procs = max_procs;
    lim.max_conns = 1;
    lim.max_requests = max_requests;
    return tf_pool_create(&t, key, &lim, "test", 0);
}

/* connections of slot @idx that the table says @pid holds */
static int held(apr_int32_t idx, pid_t pid)
{
    int i, n = 0;

    for (i = 0; i < TF_HOLDERS; i++) {
        n += t.procs[idx].holders[i] == pid;
    }
    return n;
}

/* acquire that must start a process, and make it ready */
static tf_proc_ref_t spawn_ready(int pool, pid_t pid, apr_uint32_t conns)
{
    tf_proc_ref_t ref;
    apr_int32_t w;
    tf_limit_e lim;

    TF_CHECK("acquire spawns",
             tf_pool_req_acquire(&t, pool, 100, 0, &ref, &w, &lim)
                 == TF_ACQ_SPAWN);
    tf_pool_pm_forked(&t, ref, pid, "", 0);
    TF_CHECK("ready", tf_pool_pm_ready(&t, ref, conns, 0) == 0);
    TF_CHECK("sane", tf_table_check(&t));
    return ref;
}

static void test_reuse(void)
{
    tf_proc_ref_t a, b;
    apr_int32_t w;
    tf_limit_e lim;
    int p;

    setup(4, 4, 8, 4);
    p = new_pool(42, 2, 0);
    TF_CHECK("pool created", p == 0);
    TF_CHECK("pool found", tf_pool_find(&t, 42) == p);
    TF_CHECK("other key absent", tf_pool_find(&t, 43) == -1);
    a = spawn_ready(p, 1000, 1);
    TF_CHECK("release ok", tf_pool_req_release(&t, a, 0, 100, 1) == 0);
    TF_CHECK("sane", tf_table_check(&t));
    TF_CHECK("idle taken first",
             tf_pool_req_acquire(&t, p, 101, 2, &b, &w, &lim)
                 == TF_ACQ_PROC);
    TF_CHECK("same slot", b.idx == a.idx && b.seq == a.seq);
    TF_CHECK("requests counted", t.procs[a.idx].requests == 1);
    TF_CHECK("holder recorded", held(a.idx, 101) == 1 && held(a.idx, 100) == 0);
    tf_pool_req_release(&t, b, 0, 101, 3);
    TF_CHECK("two requests", t.pools[p].requests == 2);
    TF_CHECK("sane", tf_table_check(&t));
}

static void test_limits_same(void)
{
    tf_pool_limits_t lim;
    int p;

    setup(4, 4, 4, 4);
    p = new_pool(42, 3, 0);
    memset(&lim, 0, sizeof(lim));
    lim.max_procs = 3;
    lim.max_conns = 1;
    TF_CHECK("same limits", tf_pool_limits_same(&t, p, &lim));
    lim.max_conns = 0;
    TF_CHECK("max_conns 0 is stored as 1", tf_pool_limits_same(&t, p, &lim));
    lim.max_procs = 4;
    TF_CHECK("other MaxProcesses", !tf_pool_limits_same(&t, p, &lim));
    lim.max_procs = 3;
    lim.idle_timeout = 60;
    TF_CHECK("other IdleTimeout", !tf_pool_limits_same(&t, p, &lim));
    lim.idle_timeout = 0;
    lim.conns_auto = 1;
    TF_CHECK("auto is not 1", !tf_pool_limits_same(&t, p, &lim));
    TF_CHECK("the pool's own are untouched", t.pools[p].lim.max_procs == 3
                                                 && !t.pools[p].lim_warned);
}

/* the two counters a request path updates on the status page */
static void test_req_notes(void)
{
    int p, q;

    setup(4, 4, 4, 4);
    p = new_pool(42, 3, 0);
    q = new_pool(43, 3, 0);
    TF_CHECK("no wait yet", t.pools[p].longest_wait == 0);
    tf_pool_req_note_wait(&t, p, 1500);
    TF_CHECK("first wait kept", t.pools[p].longest_wait == 1500);
    tf_pool_req_note_wait(&t, p, 900);
    TF_CHECK("a shorter one is not", t.pools[p].longest_wait == 1500);
    tf_pool_req_note_wait(&t, p, 1500);
    TF_CHECK("an equal one changes nothing", t.pools[p].longest_wait == 1500);
    tf_pool_req_note_wait(&t, p, 1501);
    TF_CHECK("a longer one is", t.pools[p].longest_wait == 1501);
    tf_pool_req_note_wait(&t, p, 0);
    TF_CHECK("zero is never longest", t.pools[p].longest_wait == 1501);
    TF_CHECK("other pool untouched", t.pools[q].longest_wait == 0);

    TF_CHECK("first claim wins", tf_pool_req_claim_lim_warning(&t, p) == 1);
    TF_CHECK("flag set", t.pools[p].lim_warned == 1);
    TF_CHECK("second claim loses", tf_pool_req_claim_lim_warning(&t, p) == 0);
    TF_CHECK("third too", tf_pool_req_claim_lim_warning(&t, p) == 0);
    TF_CHECK("each pool has its own",
             tf_pool_req_claim_lim_warning(&t, q) == 1);
    TF_CHECK("limits untouched", t.pools[p].lim.max_procs == 3);
    TF_CHECK("sane", tf_table_check(&t));
}

/* A pool met for the first time is created and described for the status
 * page, once: cut to its fields, always a C string; found again, it is
 * neither created nor described anew, and other pools are untouched. */
static void test_find_or_create(void)
{
    char long_script[600];
    tf_pool_desc_t d = {33, 44, NULL, "trac.example.org:80", NULL};
    tf_pool_desc_t other = {55, 66, "/other", "x:1", "TRAC_ENV=/x"};
    tf_pool_limits_t lim;
    int p, q, again, created;

    setup(4, 4, 4, 4);
    memset(&lim, 0, sizeof(lim));
    lim.max_procs = 1;
    q = new_pool(51, 1, 0);
    memset(long_script, 's', sizeof(long_script) - 1);
    long_script[sizeof(long_script) - 1] = '\0';
    d.script = long_script;
    p = tf_pool_find_or_create(&t, 50, &lim, "new", &d, 0, &created);
    TF_CHECK("created", p >= 0 && p != q && created == 1);
    TF_CHECK("identity kept", t.pools[p].uid == 33 && t.pools[p].gid == 44);
    TF_CHECK("a long script is cut and ended",
             strlen(t.pools[p].script) == sizeof(t.pools[p].script) - 1
                 && t.pools[p].script[0] == 's');
    TF_CHECK("vhost copied",
             strcmp(t.pools[p].vhost, "trac.example.org:80") == 0);
    TF_CHECK("a missing summary is empty", t.pools[p].env_summary[0] == 0);
    again = tf_pool_find_or_create(&t, 50, &lim, "new", &other, 0, &created);
    TF_CHECK("found again, not created", again == p && created == 0);
    TF_CHECK("nor described anew", t.pools[p].uid == 33
                                       && t.pools[p].vhost[0] == 't');
    TF_CHECK("the other pool is not described",
             t.pools[q].script[0] == 0 && t.pools[q].uid == 0);
    TF_CHECK("sane", tf_table_check(&t));
    setup(1, 4, 4, 4);
    spawn_ready(new_pool(1, 1, 0), 1000, 1);
    TF_CHECK("full table (its one pool has a process)",
             tf_pool_find_or_create(&t, 2, &lim, "x", &d, 0, &created) == -1
                 && created == 0);
}

/* Mass virtual hosting: with every entry taken, a new pool gets the
 * entry of the empty pool used least recently; never one with a
 * process, a minimum, an address list or a back-off; the hash chains
 * stay whole (keys 1, 17, 33 share a bucket of 16). */
static void test_recycle(void)
{
    tf_pool_desc_t d = {1, 1, "/s", "v:80", ""};
    tf_pool_limits_t lim;
    int a, b, c, p, created;

    memset(&lim, 0, sizeof(lim));
    lim.max_procs = 1;
    setup(3, 4, 4, 4);
    a = new_pool(1, 1, 0);
    b = new_pool(17, 1, 0);
    c = new_pool(33, 1, 0);
    spawn_ready(a, 1000, 1);
    t.pools[b].last_used = 3;
    t.pools[c].last_used = 5;
    p = tf_pool_find_or_create(&t, 49, &lim, "new", &d, 7, &created);
    TF_CHECK("the empty pool used least recently gives its entry",
             p == b && created == 1 && t.hdr->recycled_pools == 1);
    TF_CHECK("its key is gone, the others are found",
             tf_pool_find(&t, 17) == -1 && tf_pool_find(&t, 49) == b
                 && tf_pool_find(&t, 1) == a && tf_pool_find(&t, 33) == c);
    TF_CHECK("the entry is the new pool's", strcmp(t.pools[b].name, "new")
                                                 == 0
                                             && t.pools[b].spawns == 0
                                             && t.pools[b].last_used == 7);
    spawn_ready(b, 1001, 1);
    TF_CHECK("sane", tf_table_check(&t));

    /* c is empty too, but each of these keeps it */
    t.pools[c].backoff_until = 100;
    TF_CHECK("not while it backs off", new_pool(65, 1, 0) == -1);
    t.pools[c].backoff_until = 0;
    t.pools[c].fail_streak = 1;
    TF_CHECK("not after failed starts", new_pool(65, 1, 0) == -1);
    t.pools[c].fail_streak = 0;
    t.pools[c].lim.min_procs = 1;
    TF_CHECK("not with a minimum", new_pool(65, 1, 0) == -1);
    t.pools[c].lim.min_procs = 0;
    t.pools[c].external = 1;
    TF_CHECK("not an external server's", new_pool(65, 1, 0) == -1);
    t.pools[c].external = 0;
    TF_CHECK("else it goes", new_pool(65, 1, 0) == c
                                 && tf_pool_find(&t, 33) == -1
                                 && tf_pool_find(&t, 65) == c
                                 && tf_pool_find(&t, 1) == a
                                 && tf_pool_find(&t, 49) == b);
    spawn_ready(c, 1002, 1);
    TF_CHECK("none left empty", new_pool(81, 1, 0) == -1);
    TF_CHECK("sane", tf_table_check(&t));
}

/* A process the manager started for the minimum before a graceful
 * restart, ready after it: nobody of the old generation wants it, so it
 * stops at once (a released one would); one a request still holds is
 * stopped by that request's release. */
static void test_ready_while_draining(void)
{
    tf_proc_ref_t kept, held, other;
    tf_exit_reason_e why;
    apr_int32_t w;
    tf_limit_e lim;
    int p;

    setup(4, 4, 4, 4);
    p = new_pool(60, 3, 0);
    TF_CHECK("reserve for the minimum",
             tf_pool_pm_reserve(&t, p, 0, &kept) == 0);
    TF_CHECK("a request's spawn",
             tf_pool_req_acquire(&t, p, 100, 0, &held, &w, &lim)
                 == TF_ACQ_SPAWN);
    tf_pool_pm_forked(&t, kept, 71, "", 0);
    tf_pool_pm_forked(&t, held, 72, "", 0);
    tf_pool_pm_drain(&t);
    TF_CHECK("no reservation while draining",
             tf_pool_pm_reserve(&t, p, 0, &other) == -1);
    TF_CHECK("ready", tf_pool_pm_ready(&t, kept, 1, 1) >= 0);
    TF_CHECK("nobody holds it: stopping at once",
             t.procs[kept.idx].state == TF_PROC_STOPPING
                 && t.procs[kept.idx].exit_reason == TF_EXIT_SHUTDOWN
                 && !t.procs[kept.idx].listed);
    TF_CHECK("the stop policy signals it at the next scan",
             tf_pool_pm_stop_policy(&t.pools[p], &t.procs[kept.idx], 1, 2,
                                    &why) == TF_STOP_TERM
                 && why == TF_EXIT_SHUTDOWN);
    TF_CHECK("ready", tf_pool_pm_ready(&t, held, 1, 1) >= 0);
    TF_CHECK("its requester still holds the other",
             t.procs[held.idx].state == TF_PROC_READY
                 && t.procs[held.idx].conns == 1);
    tf_pool_req_release(&t, held, TF_RELEASE_SERVED, 100, 2);
    TF_CHECK("released while draining: stopping",
             t.procs[held.idx].state == TF_PROC_STOPPING);
    TF_CHECK("sane", tf_table_check(&t));
}

/* The script changes (TracFcgiReloadOnChange) while processes start: a
 * starting one may have read what was there before. One nobody waits for
 * stops as soon as it is ready; one started for a request serves it and
 * stops when it is released; the ready idle one stops at once. */
static void test_retire_all_while_starting(void)
{
    tf_proc_ref_t idle, spare, asked, again;
    apr_int32_t w;
    tf_limit_e lim;
    int p;

    setup(4, 4, 4, 4);
    p = new_pool(61, 3, 0);
    idle = spawn_ready(p, 70, 1);
    TF_CHECK("a request's spawn (the first process is busy)",
             tf_pool_req_acquire(&t, p, 101, 0, &asked, &w, &lim)
                 == TF_ACQ_SPAWN);
    TF_CHECK("reserve for the minimum",
             tf_pool_pm_reserve(&t, p, 0, &spare) == 0);
    tf_pool_req_release(&t, idle, TF_RELEASE_SERVED, 100, 0);
    tf_pool_pm_forked(&t, spare, 71, "", 0);
    tf_pool_pm_forked(&t, asked, 72, "", 0);
    TF_CHECK("all three affected", tf_pool_pm_retire_all(&t, p) == 3);
    TF_CHECK("the idle ready one stops now",
             t.procs[idle.idx].state == TF_PROC_STOPPING
                 && t.procs[idle.idx].exit_reason == TF_EXIT_RETIRED);
    TF_CHECK("sane", tf_table_check(&t));
    TF_CHECK("ready", tf_pool_pm_ready(&t, spare, 1, 1) >= 0);
    TF_CHECK("nobody waits for it: stopping at once",
             t.procs[spare.idx].state == TF_PROC_STOPPING
                 && t.procs[spare.idx].exit_reason == TF_EXIT_RETIRED
                 && !t.procs[spare.idx].listed);
    TF_CHECK("ready", tf_pool_pm_ready(&t, asked, 1, 1) >= 0);
    TF_CHECK("its request has it",
             t.procs[asked.idx].state == TF_PROC_READY
                 && t.procs[asked.idx].conns == 1);
    TF_CHECK("sane", tf_table_check(&t));
    tf_pool_req_release(&t, asked, TF_RELEASE_SERVED, 101, 2);
    TF_CHECK("released: stopping",
             t.procs[asked.idx].state == TF_PROC_STOPPING
                 && t.procs[asked.idx].exit_reason == TF_EXIT_RETIRED);
    tf_pool_pm_exited(&t, spare.idx, TF_EXIT_RETIRED, 3);
    TF_CHECK("once one has exited, the next request starts a new one",
             tf_pool_req_acquire(&t, p, 102, 3, &again, &w, &lim)
                 == TF_ACQ_SPAWN);
    TF_CHECK("sane", tf_table_check(&t));
}

static void test_fifo(void)
{
    tf_proc_ref_t a, b, got;
    apr_int32_t w[3];
    tf_limit_e lim;
    int p, i, flags;

    setup(4, 4, 8, 4);
    p = new_pool(7, 2, 0);
    a = spawn_ready(p, 1000, 1);
    b = spawn_ready(p, 1001, 1);
    for (i = 0; i < 3; i++) {
        TF_CHECK("full pool queues",
                 tf_pool_req_acquire(&t, p, 200 + i, 0, &got, &w[i], &lim)
                     == TF_ACQ_WAIT);
        TF_CHECK("limit is the pool's", lim == TF_LIMIT_POOL);
    }
    TF_CHECK("three waiting", t.pools[p].n_waiting == 3);
    TF_CHECK("sane", tf_table_check(&t));
    /* the first waiter gives up; the next release goes to the second */
    TF_CHECK("first still waiting",
             tf_pool_req_wait_check(&t, p, w[0], &got)
                 == TF_WAIT_WAITING);
    tf_pool_req_wait_cancel(&t, p, w[0]);
    TF_CHECK("timeout counted", t.pools[p].queue_timeouts == 1);
    TF_CHECK("sane", tf_table_check(&t));
    flags = tf_pool_req_release(&t, a, 0, 100, 1);
    TF_CHECK("release wakes waiters", flags & TF_WAKE_WAITERS);
    TF_CHECK("third not yet", tf_pool_req_wait_check(&t, p, w[2], &got)
                                  == TF_WAIT_WAITING);
    TF_CHECK("second granted",
             tf_pool_req_wait_check(&t, p, w[1], &got)
                 == TF_WAIT_GRANTED_PROC);
    TF_CHECK("granted the released slot", got.idx == a.idx);
    TF_CHECK("grant moves the holder",
             held(a.idx, 201) == 1 && held(a.idx, 100) == 0);
    TF_CHECK("sane", tf_table_check(&t));
    tf_pool_req_release(&t, b, 0, 100, 2);
    TF_CHECK("third granted",
             tf_pool_req_wait_check(&t, p, w[2], &got)
                 == TF_WAIT_GRANTED_PROC
                 && got.idx == b.idx);
    TF_CHECK("nobody waits", t.pools[p].n_waiting == 0 && t.hdr->waiting == 0);
    TF_CHECK("sane", tf_table_check(&t));
}

static void test_total_cap(void)
{
    tf_proc_ref_t a, b, got;
    apr_int32_t w;
    tf_limit_e lim;
    int pa, pb, flags;

    setup(4, 8, 8, 2);
    pa = new_pool(1, 4, 0);
    pb = new_pool(2, 4, 0);
    a = spawn_ready(pa, 1000, 1);
    b = spawn_ready(pa, 1001, 1);
    TF_CHECK("server cap queues",
             tf_pool_req_acquire(&t, pb, 300, 0, &got, &w, &lim)
                 == TF_ACQ_WAIT);
    TF_CHECK("limit is the total", lim == TF_LIMIT_TOTAL);
    /* an idle process of pool A stops: B may start one */
    tf_pool_req_release(&t, a, 0, 100, 1);
    TF_CHECK("stop idle", tf_pool_pm_stop_idle(&t, a.idx, TF_EXIT_IDLE) == 0);
    TF_CHECK("stopping is not idle", t.pools[pa].idle_head == -1);
    flags = tf_pool_pm_exited(&t, a.idx, TF_EXIT_DIED, 2);
    TF_CHECK("exit wakes the other pool", flags & TF_WAKE_WAITERS);
    TF_CHECK("idle exit counted", t.pools[pa].exits[TF_EXIT_IDLE] == 1);
    TF_CHECK("B granted a spawn",
             tf_pool_req_wait_check(&t, pb, w, &got)
                 == TF_WAIT_GRANTED_SPAWN);
    TF_CHECK("slot is B's", t.procs[got.idx].pool == pb
                                && t.procs[got.idx].state == TF_PROC_STARTING);
    TF_CHECK("sane", tf_table_check(&t));
    (void)b;
}

static void test_broken_and_exits(void)
{
    tf_proc_ref_t a, b, got;
    apr_int32_t w;
    tf_limit_e lim;
    int p, flags;

    setup(4, 4, 8, 4);
    p = new_pool(9, 1, 0);
    a = spawn_ready(p, 1000, 1);
    TF_CHECK("waits", tf_pool_req_acquire(&t, p, 300, 0, &got, &w, &lim)
                          == TF_ACQ_WAIT);
    flags = tf_pool_req_release(&t, a, 1, 100, 1);
    TF_CHECK("broken: PM must stop it", flags == TF_WAKE_PM);
    TF_CHECK("stopping", t.procs[a.idx].state == TF_PROC_STOPPING);
    TF_CHECK("broken is not counted as served", t.procs[a.idx].requests == 0);
    TF_CHECK("sane", tf_table_check(&t));
    flags = tf_pool_pm_exited(&t, a.idx, TF_EXIT_DIED, 2);
    TF_CHECK("broken exit counted", t.pools[p].exits[TF_EXIT_BROKEN] == 1);
    TF_CHECK("waiter may spawn", flags & TF_WAKE_WAITERS);
    TF_CHECK("granted spawn", tf_pool_req_wait_check(&t, p, w, &got)
                                  == TF_WAIT_GRANTED_SPAWN);
    /* that spawn fails: the slot is freed */
    tf_pool_pm_spawn_failed(&t, got, 3);
    TF_CHECK("startup failure counted",
             t.pools[p].exits[TF_EXIT_STARTUP] == 1);
    TF_CHECK("no process left", t.pools[p].n_procs == 0
                                    && t.hdr->total_procs == 0);
    TF_CHECK("sane", tf_table_check(&t));

    /* died while busy: the slot waits for its request */
    b = spawn_ready(p, 1001, 1);
    /* died while serving: its request killed it; a poison request is no
     * crash loop and must not pause the pool */
    TF_CHECK("exit while busy: no back-off",
             tf_pool_pm_exited(&t, b.idx, TF_EXIT_DIED, 4) == 0);
    TF_CHECK("exited state", t.procs[b.idx].state == TF_PROC_EXITED);
    TF_CHECK("sane", tf_table_check(&t));
    tf_pool_req_release(&t, b, 1, 100, 5);
    TF_CHECK("freed on release", t.procs[b.idx].state == TF_PROC_FREE);
    TF_CHECK("stale ref is ignored", tf_pool_req_release(&t, b, 0, 100, 6) == 0
                                         && !tf_pool_ref_valid(&t, b));
    TF_CHECK("sane", tf_table_check(&t));
}

static void test_backoff(void)
{
    tf_proc_ref_t a, got;
    apr_int32_t w;
    tf_limit_e lim;
    apr_time_t now = apr_time_from_sec(1000);
    int p, flags;

    setup(4, 4, 8, 4);
    p = new_pool(21, 2, 0);
    TF_CHECK("spawn 1", tf_pool_req_acquire(&t, p, 1, now, &a, &w, &lim)
                            == TF_ACQ_SPAWN);
    TF_CHECK("first failure: no pause",
             tf_pool_pm_spawn_failed(&t, a, now) == 0);
    TF_CHECK("spawn 2", tf_pool_req_acquire(&t, p, 1, now, &a, &w, &lim)
                            == TF_ACQ_SPAWN);
    flags = tf_pool_pm_spawn_failed(&t, a, now);
    TF_CHECK("second failure: back-off 1 s", flags == TF_BACKOFF
                  && t.pools[p].backoff_until == now + apr_time_from_sec(1));
    TF_CHECK("no process and backing off: refused at once",
             tf_pool_req_acquire(&t, p, 1, now + 10, &got, &w, &lim)
                 == TF_ACQ_BACKOFF);
    TF_CHECK("after the pause: spawn",
             tf_pool_req_acquire(&t, p, 1, now + apr_time_from_sec(1), &a, &w,
                                 &lim)
                 == TF_ACQ_SPAWN);
    flags = tf_pool_pm_spawn_failed(&t, a, now + apr_time_from_sec(1));
    TF_CHECK("third failure doubles", flags == TF_BACKOFF
                  && t.pools[p].backoff_until
                         == now + apr_time_from_sec(3));
    now += apr_time_from_sec(3);
    TF_CHECK("spawn 4", tf_pool_req_acquire(&t, p, 1, now, &a, &w, &lim)
                            == TF_ACQ_SPAWN);
    tf_pool_pm_forked(&t, a, 77, "", now);
    tf_pool_pm_ready(&t, a, 1, now);
    tf_pool_req_release(&t, a, 0, 1, now);
    TF_CHECK("a served request ends the streak", t.pools[p].fail_streak == 0);
    /* the minimum is kept by the PM: a reservation nobody holds */
    TF_CHECK("reserve", tf_pool_pm_reserve(&t, p, now, &got) == 0
                            && t.procs[got.idx].conns == 0);
    tf_pool_pm_ready(&t, got, 1, now);
    TF_CHECK("reserved process is idle", t.procs[got.idx].listed
                                             && t.procs[got.idx].conns == 0);
    TF_CHECK("pool full: no reservation",
             tf_pool_pm_reserve(&t, p, now, &got) == -1);
    TF_CHECK("sane", tf_table_check(&t));

    /* processes that die idle, soon after start, without serving: the
     * second such death in a row pauses the pool */
    TF_CHECK("early idle death 1",
             tf_pool_pm_exited(&t, got.idx, TF_EXIT_DIED, now) == 0);
    TF_CHECK("reserve again", tf_pool_pm_reserve(&t, p, now, &got) == 0);
    tf_pool_pm_forked(&t, got, 78, "", now);
    tf_pool_pm_ready(&t, got, 1, now);
    TF_CHECK("early idle death 2: back-off",
             tf_pool_pm_exited(&t, got.idx, TF_EXIT_DIED,
                               now + apr_time_from_sec(1))
                 & TF_BACKOFF);
    TF_CHECK("sane", tf_table_check(&t));
}

/* the manager's writes: claiming a spawn, the forked process and its
 * socket, the stop signal, taking over from a predecessor, draining */
static void test_pm_writers(void)
{
    tf_proc_ref_t a, b, c, stale;
    apr_int32_t w;
    tf_limit_e lim;
    pid_t cut[4];
    apr_uint32_t n_cut;
    char longsock[TF_SOCK_PATH_LEN + 20];
    int p, q;

    setup(4, 4, 8, 4);
    p = new_pool(42, 4, 0);
    q = new_pool(43, 4, 0);
    TF_CHECK("acquire spawns",
             tf_pool_req_acquire(&t, p, 100, 0, &a, &w, &lim) == TF_ACQ_SPAWN);
    TF_CHECK("other key: stale", !tf_pool_pm_spawn_claim(&t, a, p, 43, 9));
    TF_CHECK("other pool: stale", !tf_pool_pm_spawn_claim(&t, a, q, 42, 9));
    TF_CHECK("pool out of range: stale",
             !tf_pool_pm_spawn_claim(&t, a, 3, 42, 9)
                 && !tf_pool_pm_spawn_claim(&t, a, -1, 42, 9)
                 && !tf_pool_pm_spawn_claim(&t, a, 1000, 42, 9));
    TF_CHECK("not claimed by a stale call", t.procs[a.idx].spawner == 0);
    stale = a;
    stale.seq++;
    TF_CHECK("other seq: stale", !tf_pool_pm_spawn_claim(&t, stale, p, 42, 9));
    TF_CHECK("claimed", tf_pool_pm_spawn_claim(&t, a, p, 42, 9));
    TF_CHECK("spawner recorded", t.procs[a.idx].spawner == 9);
    tf_pool_pm_forked(&t, a, 1000, "/run/x/b-1-0-1.sock", 5);
    TF_CHECK("pid, start and socket recorded",
             t.procs[a.idx].pid == 1000 && t.procs[a.idx].started == 5
                 && strcmp(t.procs[a.idx].sock, "/run/x/b-1-0-1.sock") == 0
                 && t.pools[p].spawns == 1);
    tf_pool_pm_forked(&t, stale, 2000, "/elsewhere", 6);
    TF_CHECK("stale forked changes nothing",
             t.procs[a.idx].pid == 1000
                 && strcmp(t.procs[a.idx].sock, "/run/x/b-1-0-1.sock") == 0
                 && t.pools[p].spawns == 1);
    tf_pool_pm_ready(&t, a, 1, 6);
    TF_CHECK("a READY slot is no spawn to claim",
             !tf_pool_pm_spawn_claim(&t, a, p, 42, 9));
    memset(longsock, 'x', sizeof(longsock) - 1);
    longsock[sizeof(longsock) - 1] = '\0';
    TF_CHECK("acquire spawns",
             tf_pool_req_acquire(&t, p, 101, 0, &b, &w, &lim) == TF_ACQ_SPAWN);
    tf_pool_pm_forked(&t, b, 1001, longsock, 7);
    TF_CHECK("a long path is cut, terminated",
             strlen(t.procs[b.idx].sock) == TF_SOCK_PATH_LEN - 1);
    tf_pool_pm_stop_sent(&t, a.idx, 77);
    TF_CHECK("stop_sent recorded", t.procs[a.idx].stop_sent == 77);
    TF_CHECK("sane", tf_table_check(&t));

    /* a new manager: a (READY) and b (STARTING, forked, claimed) were
     * its predecessor's; c waits in the backlog (not claimed) */
    TF_CHECK("claim b", tf_pool_pm_spawn_claim(&t, b, p, 42, 9));
    TF_CHECK("acquire spawns",
             tf_pool_req_acquire(&t, q, 102, 0, &c, &w, &lim) == TF_ACQ_SPAWN);
    TF_CHECK("one adopted",
             tf_pool_pm_take_over(&t, 555, 1000, cut, &n_cut) == 1);
    TF_CHECK("a adopted", t.procs[a.idx].adopted == 1);
    TF_CHECK("b's process to kill", n_cut == 1 && cut[0] == 1001);
    TF_CHECK("b freed", !tf_pool_ref_valid(&t, b));
    TF_CHECK("b's end not a startup failure",
             t.pools[p].exits[TF_EXIT_STARTUP] == 0
                 && t.pools[p].fail_streak == 0);
    TF_CHECK("c left for the new manager",
             tf_pool_ref_valid(&t, c)
                 && t.procs[c.idx].state == TF_PROC_STARTING
                 && !t.procs[c.idx].adopted);
    TF_CHECK("manager recorded", t.hdr->pm_pid == 555
                                     && t.hdr->pm_starts == 1
                                     && t.hdr->pm_started == 1000);
    TF_CHECK("again: counted", tf_pool_pm_take_over(&t, 556, 1001, cut,
                                                    &n_cut) == 1
                                   && n_cut == 0 && t.hdr->pm_starts == 2);
    TF_CHECK("sane", tf_table_check(&t));

    /* drain: the idle one stops now, a busy one when released */
    tf_pool_req_release(&t, a, TF_RELEASE_SERVED, 100, 7);
    TF_CHECK("acquire a busy one",
             tf_pool_req_acquire(&t, p, 103, 0, &b, &w, &lim) == TF_ACQ_PROC
                 && b.idx == a.idx);
    tf_pool_pm_forked(&t, c, 1002, "", 8);
    tf_pool_pm_ready(&t, c, 1, 8);
    tf_pool_req_release(&t, c, TF_RELEASE_SERVED, 102, 9);
    TF_CHECK("c idle", t.procs[c.idx].state == TF_PROC_READY
                           && t.procs[c.idx].conns == 0);
    tf_pool_pm_drain(&t);
    TF_CHECK("draining", t.hdr->draining == 1);
    TF_CHECK("idle c stops for shutdown",
             t.procs[c.idx].state == TF_PROC_STOPPING
                 && t.procs[c.idx].exit_reason == TF_EXIT_SHUTDOWN);
    TF_CHECK("busy a keeps serving", t.procs[a.idx].state == TF_PROC_READY);
    TF_CHECK("released: stops",
             tf_pool_req_release(&t, b, TF_RELEASE_SERVED, 103, 10)
                     == TF_WAKE_PM
                 && t.procs[a.idx].state == TF_PROC_STOPPING
                 && t.procs[a.idx].exit_reason == TF_EXIT_SHUTDOWN);
    TF_CHECK("no reservation while draining",
             tf_pool_pm_reserve(&t, q, 11, &c) == -1);
    TF_CHECK("sane", tf_table_check(&t));
}

static void test_retire_and_reserver_gone(void)
{
    tf_proc_ref_t a, got;
    apr_int32_t w;
    tf_limit_e lim;
    int p, flags;

    setup(4, 4, 8, 4);
    p = new_pool(11, 2, 2);
    a = spawn_ready(p, 1000, 1);
    tf_pool_req_release(&t, a, 0, 100, 1);
    tf_pool_req_acquire(&t, p, 100, 2, &got, &w, &lim);
    flags = tf_pool_req_release(&t, got, 0, 100, 3);
    TF_CHECK("retired after max requests", flags == TF_WAKE_PM
                  && t.procs[a.idx].state == TF_PROC_STOPPING
                  && t.procs[a.idx].exit_reason == TF_EXIT_RETIRED);
    TF_CHECK("sane", tf_table_check(&t));

    /* the request that reserved a spawn gave up before it was ready */
    TF_CHECK("spawn", tf_pool_req_acquire(&t, p, 100, 4, &got, &w, &lim)
                          == TF_ACQ_SPAWN);
    tf_pool_req_release(&t, got, 0, 100, 5);
    TF_CHECK("still starting", t.procs[got.idx].state == TF_PROC_STARTING
                                   && t.procs[got.idx].conns == 0);
    tf_pool_pm_ready(&t, got, 1, 6);
    TF_CHECK("ready and idle", t.pools[p].idle_head == got.idx);
    TF_CHECK("sane", tf_table_check(&t));
}

static void test_multi_conn(void)
{
    tf_proc_ref_t a, got;
    apr_int32_t w;
    tf_limit_e lim;
    int p, i;

    setup(4, 4, 8, 4);
    p = new_pool(13, 1, 0);
    a = spawn_ready(p, 1000, 3);
    for (i = 0; i < 2; i++) {
        TF_CHECK("spare connection used",
                 tf_pool_req_acquire(&t, p, 100, 0, &got, &w, &lim)
                         == TF_ACQ_PROC
                     && got.idx == a.idx);
        TF_CHECK("sane", tf_table_check(&t));
    }
    TF_CHECK("three conns", t.procs[a.idx].conns == 3);
    TF_CHECK("then the queue",
             tf_pool_req_acquire(&t, p, 100, 0, &got, &w, &lim)
                 == TF_ACQ_WAIT);
    tf_pool_req_release(&t, a, 0, 100, 1);
    TF_CHECK("granted", tf_pool_req_wait_check(&t, p, w, &got)
                            == TF_WAIT_GRANTED_PROC);
    TF_CHECK("sane", tf_table_check(&t));
}

/* With none idle, a request takes the process with the fewest requests:
 * round robin would stack a threaded process's CPU-bound requests on one
 * while another has fewer. */
static void test_least_loaded(void)
{
    tf_proc_ref_t a, b, c, got;
    apr_int32_t w;
    tf_limit_e lim;
    int p, i;

    setup(4, 4, 8, 4);
    p = new_pool(14, 3, 0);
    a = spawn_ready(p, 1000, 4); /* each holds its spawner's request */
    b = spawn_ready(p, 1001, 4);
    c = spawn_ready(p, 1002, 4);
    for (i = 0; i < 3; i++) {
        TF_CHECK("a spare connection",
                 tf_pool_req_acquire(&t, p, 100, 0, &got, &w, &lim)
                     == TF_ACQ_PROC);
    }
    TF_CHECK("equals in turn: two requests on each",
             t.procs[a.idx].conns == 2 && t.procs[b.idx].conns == 2
                 && t.procs[c.idx].conns == 2);
    tf_pool_req_release(&t, c, 0, 100, 1);
    TF_CHECK("sane, sorted", tf_table_check(&t));
    TF_CHECK("c, down to 1, before a and b (2 each)",
             tf_pool_req_acquire(&t, p, 100, 0, &got, &w, &lim)
                     == TF_ACQ_PROC
                 && got.idx == c.idx);
    tf_pool_req_release(&t, a, 0, 100, 1);
    tf_pool_req_release(&t, a, 0, 100, 1);
    tf_pool_req_release(&t, b, 0, 100, 1);
    TF_CHECK("sane, sorted", tf_table_check(&t));
    TF_CHECK("a, idle, first",
             tf_pool_req_acquire(&t, p, 100, 0, &got, &w, &lim)
                     == TF_ACQ_PROC
                 && got.idx == a.idx);
    for (i = 0; i < 2; i++) {
        TF_CHECK("then a and b (1 each), not c (2)",
                 tf_pool_req_acquire(&t, p, 100, 0, &got, &w, &lim)
                         == TF_ACQ_PROC
                     && got.idx != c.idx);
    }
    TF_CHECK("two requests on each again",
             t.procs[a.idx].conns == 2 && t.procs[b.idx].conns == 2
                 && t.procs[c.idx].conns == 2);
    TF_CHECK("sane", tf_table_check(&t));
}

/* An httpd child dies holding connections: the manager gives them back.
 * A threaded process keeps serving its other requests; a one-connection
 * process is stopped (what it was doing for the dead child is unknown). */
static void test_reclaim(void)
{
    tf_proc_ref_t a, b, got, mine;
    apr_int32_t w, w2;
    tf_limit_e lim;
    unsigned n;
    int p, q, flags;

    setup(4, 4, 8, 4);
    p = new_pool(21, 1, 0);
    a = spawn_ready(p, 1000, 4); /* holder 100 has one connection */
    TF_CHECK("555 takes one", tf_pool_req_acquire(&t, p, 555, 0, &got, &w,
                                                  &lim) == TF_ACQ_PROC);
    TF_CHECK("555 takes two", tf_pool_req_acquire(&t, p, 555, 0, &got, &w,
                                                  &lim) == TF_ACQ_PROC);
    TF_CHECK("556 takes one", tf_pool_req_acquire(&t, p, 556, 0, &mine, &w,
                                                  &lim) == TF_ACQ_PROC);
    TF_CHECK("all four in use", t.procs[a.idx].conns == 4
                                    && held(a.idx, 555) == 2);
    TF_CHECK("557 waits", tf_pool_req_acquire(&t, p, 557, 0, &got, &w, &lim)
                              == TF_ACQ_WAIT);
    flags = tf_pool_pm_reclaim(&t, 555, 1, &n);
    TF_CHECK("both of the dead child's connections", n == 2);
    TF_CHECK("the waiter is granted one", flags & TF_WAKE_WAITERS);
    TF_CHECK("granted",
             tf_pool_req_wait_check(&t, p, w, &got)
                     == TF_WAIT_GRANTED_PROC
                 && got.idx == a.idx);
    TF_CHECK("the threaded process keeps serving",
             t.procs[a.idx].state == TF_PROC_READY
                 && t.procs[a.idx].conns == 3 && held(a.idx, 555) == 0);
    TF_CHECK("cut requests are not counted as served",
             t.procs[a.idx].requests == 0);
    TF_CHECK("nothing left to give back",
             tf_pool_pm_reclaim(&t, 555, 2, &n) == 0 && n == 0);
    TF_CHECK("sane", tf_table_check(&t));
    tf_pool_req_release(&t, mine, 0, 556, 3);
    TF_CHECK("the others release as usual", t.procs[a.idx].conns == 2
                                                && t.procs[a.idx].requests
                                                       == 1);

    q = new_pool(22, 1, 0);
    b = spawn_ready(q, 2000, 1); /* holder 100 again */
    flags = tf_pool_pm_reclaim(&t, 100, 4, &n);
    TF_CHECK("one connection on each process", n == 2);
    TF_CHECK("the one-connection process is stopped",
             t.procs[b.idx].state == TF_PROC_STOPPING
                 && t.procs[b.idx].exit_reason == TF_EXIT_ORPHANED
                 && (flags & TF_WAKE_PM));
    TF_CHECK("the threaded one is not",
             t.procs[a.idx].state == TF_PROC_READY
                 && t.procs[a.idx].conns == 1 && held(a.idx, 557) == 1);
    TF_CHECK("sane", tf_table_check(&t));

    /* requests of a dead child that wait in the queue, or were granted a
     * connection and never came for it */
    tf_pool_req_acquire(&t, p, 560, 5, &got, &w, &lim);
    tf_pool_req_acquire(&t, p, 560, 5, &got, &w, &lim);
    tf_pool_req_acquire(&t, p, 561, 5, &got, &w, &lim);
    TF_CHECK("full again", t.procs[a.idx].conns == 4);
    TF_CHECK("562 waits", tf_pool_req_acquire(&t, p, 562, 5, &got, &w, &lim)
                              == TF_ACQ_WAIT);
    TF_CHECK("563 waits", tf_pool_req_acquire(&t, p, 563, 5, &got, &w2,
                                              &lim) == TF_ACQ_WAIT);
    flags = tf_pool_pm_reclaim(&t, 562, 6, &n);
    TF_CHECK("a dead child's queued request leaves the queue",
             n == 0 && t.pools[p].n_waiting == 1 && t.hdr->waiting == 1);
    flags = tf_pool_pm_reclaim(&t, 560, 7, &n);
    TF_CHECK("two back, one granted to 563", n == 2
                 && (flags & TF_WAKE_WAITERS) && held(a.idx, 563) == 1
                 && t.procs[a.idx].conns == 3);
    TF_CHECK("563 dies before it claims it",
             tf_pool_pm_reclaim(&t, 563, 8, &n) >= 0 && n == 1
                 && t.procs[a.idx].conns == 2 && t.hdr->waiting == 0);
    TF_CHECK("its waiter entry is free again",
             t.waiters[w2].state == TF_WAIT_FREE);
    TF_CHECK("sane", tf_table_check(&t));
}

/* A request whose client went away and whose backend did not come free
 * in time gives its connection back as cut: a one-connection process is
 * stopped, a threaded one keeps serving; neither counts it as served. */
static void test_release_cut(void)
{
    tf_proc_ref_t a, b, got;
    apr_int32_t w;
    tf_limit_e lim;
    int p, q, flags;

    setup(4, 4, 8, 4);
    p = new_pool(51, 2, 0);
    a = spawn_ready(p, 1000, 1);
    flags = tf_pool_req_release(&t, a, TF_RELEASE_CUT, 100, 1);
    TF_CHECK("one connection: stopped",
             t.procs[a.idx].state == TF_PROC_STOPPING
                 && t.procs[a.idx].exit_reason == TF_EXIT_BROKEN
                 && (flags & TF_WAKE_PM) && t.procs[a.idx].requests == 0);
    q = new_pool(52, 1, 0);
    b = spawn_ready(q, 2000, 4);
    TF_CHECK("a second connection",
             tf_pool_req_acquire(&t, q, 101, 2, &got, &w, &lim)
                 == TF_ACQ_PROC && got.idx == b.idx);
    tf_pool_req_release(&t, b, TF_RELEASE_CUT, 100, 3);
    TF_CHECK("threaded: serves on, the cut one not counted",
             t.procs[b.idx].state == TF_PROC_READY
                 && t.procs[b.idx].conns == 1
                 && t.procs[b.idx].requests == 0);
    tf_pool_req_release(&t, got, TF_RELEASE_SERVED, 101, 4);
    TF_CHECK("the other one is", t.procs[b.idx].requests == 1
                                     && t.procs[b.idx].conns == 0);
    TF_CHECK("sane", tf_table_check(&t));
}

/* A request that reserved a slot to spawn into dies with its httpd child
 * before the manager read its spawn request: the slot must not stay
 * STARTING (a pool of one process would never serve again). */
static void test_reclaim_spawn(void)
{
    tf_proc_ref_t a, b, got;
    apr_int32_t w;
    tf_limit_e lim;
    unsigned n;
    int p, flags;

    setup(4, 4, 8, 4);
    p = new_pool(31, 1, 0);
    TF_CHECK("700 reserves the pool's only slot",
             tf_pool_req_acquire(&t, p, 700, 0, &a, &w, &lim)
                 == TF_ACQ_SPAWN);
    TF_CHECK("701 waits for it",
             tf_pool_req_acquire(&t, p, 701, 0, &got, &w, &lim)
                 == TF_ACQ_WAIT);
    flags = tf_pool_pm_reclaim(&t, 700, 1, &n);
    TF_CHECK("the reservation is given back", n == 1);
    TF_CHECK("701 gets the slot to spawn into",
             (flags & TF_WAKE_WAITERS)
                 && tf_pool_req_wait_check(&t, p, w, &b)
                        == TF_WAIT_GRANTED_SPAWN
                 && t.procs[b.idx].state == TF_PROC_STARTING);
    TF_CHECK("a new reservation, not the old one",
             !tf_pool_ref_valid(&t, a) || b.seq != a.seq);
    TF_CHECK("sane", tf_table_check(&t));

    /* the manager already read the request: it finishes the spawn */
    t.procs[b.idx].spawner = 4242;
    flags = tf_pool_pm_reclaim(&t, 701, 2, &n);
    TF_CHECK("given back, the slot stays the manager's",
             n == 1 && t.procs[b.idx].state == TF_PROC_STARTING
                 && t.procs[b.idx].conns == 0 && t.pools[p].n_procs == 1);
    TF_CHECK("sane", tf_table_check(&t));
}

/* Requests queued while a threaded process starts get its spare
 * connections the moment it is ready, not one per release. */
static void test_ready_grants_spare(void)
{
    tf_proc_ref_t a, got;
    apr_int32_t w[4];
    tf_limit_e lim;
    int p, i, granted = 0;

    setup(4, 4, 8, 4);
    p = new_pool(17, 1, 0);
    TF_CHECK("spawn", tf_pool_req_acquire(&t, p, 1, 0, &a, &w[0], &lim)
                          == TF_ACQ_SPAWN);
    for (i = 0; i < 4; i++) {
        TF_CHECK("queued while starting",
                 tf_pool_req_acquire(&t, p, 1, 0, &got, &w[i], &lim)
                     == TF_ACQ_WAIT);
    }
    tf_pool_pm_forked(&t, a, 99, "", 0);
    TF_CHECK("ready wakes waiters",
             tf_pool_pm_ready(&t, a, 4, 0) == TF_WAKE_WAITERS);
    for (i = 0; i < 4; i++) {
        granted += tf_pool_req_wait_check(&t, p, w[i], &got)
                   == TF_WAIT_GRANTED_PROC;
    }
    TF_CHECK("three spare connections granted at once", granted == 3);
    TF_CHECK("process full", t.procs[a.idx].conns == 4);
    TF_CHECK("one still waits", t.pools[p].n_waiting == 1);
    TF_CHECK("sane", tf_table_check(&t));
}

static void test_limits(void)
{
    tf_proc_ref_t got;
    apr_int32_t w;
    tf_limit_e lim;
    int p, i;

    setup(2, 2, 2, 2);
    TF_CHECK("pool 1", new_pool(1, 1, 0) == 0);
    TF_CHECK("pool 2", new_pool(2, 1, 0) == 1);
    p = 0;
    spawn_ready(p, 1000, 1);
    spawn_ready(1, 1001, 1);
    TF_CHECK("pool table full", new_pool(3, 1, 0) == -1);
    TF_CHECK("key 0 refused", tf_pool_find(&t, 0) == -1);
    for (i = 0; i < 2; i++) {
        TF_CHECK("queues", tf_pool_req_acquire(&t, p, 1, 0, &got, &w, &lim)
                               == TF_ACQ_WAIT);
    }
    TF_CHECK("queue full", tf_pool_req_acquire(&t, p, 1, 0, &got, &w, &lim)
                               == TF_ACQ_QUEUE_FULL);
    TF_CHECK("sane", tf_table_check(&t));
}

/* A random walk over every operation, checking the invariants each step. */
static void test_random_walk(void)
{
    enum { NREQ = 64 };
    struct {
        int state; /* 0 none, 1 holds, 2 waits */
        int pool;
        tf_proc_ref_t ref;
        apr_int32_t w;
    } req[NREQ];
    tf_limit_e lim;
    unsigned seed = 12345;
    int step, bad = 0, i;

    setup(8, 12, NREQ, 10);
    for (i = 0; i < 3; i++) {
        new_pool((apr_uint64_t)(100 + i), (apr_uint32_t)(2 + 2 * i), 5);
    }
    memset(req, 0, sizeof(req));
    for (step = 0; step < 200000 && !bad; step++) {
        int k = (int)((seed = seed * 1103515245u + 12345u) >> 8) % NREQ;
        int op = (int)((seed >> 4) % 8);
        apr_uint32_t j;

        if (req[k].state == 0) {
            req[k].pool = op % 3;
            switch (tf_pool_req_acquire(&t, req[k].pool, k, step,
                                        &req[k].ref, &req[k].w, &lim)) {
            case TF_ACQ_PROC:
                req[k].state = 1;
                break;
            case TF_ACQ_SPAWN:
                tf_pool_pm_forked(&t, req[k].ref, 5000 + step, "", step);
                if (op == 7) {
                    tf_pool_pm_spawn_failed(&t, req[k].ref, step);
                }
                else {
                    tf_pool_pm_ready(&t, req[k].ref, 1 + op % 2, step);
                    req[k].state = 1;
                }
                break;
            case TF_ACQ_WAIT:
                req[k].state = 2;
                break;
            default:
                break;
            }
        }
        else if (req[k].state == 2) {
            tf_wait_state_e st = tf_pool_req_wait_check(
                &t, req[k].pool, req[k].w, &req[k].ref);

            if (st == TF_WAIT_GRANTED_PROC) {
                req[k].state = 1;
            }
            else if (st == TF_WAIT_GRANTED_SPAWN) {
                tf_pool_pm_ready(&t, req[k].ref, 1, step);
                req[k].state = 1;
            }
            else if (op < 2) {
                tf_pool_req_wait_cancel(&t, req[k].pool, req[k].w);
                req[k].state = 0;
            }
        }
        else {
            tf_pool_req_release(&t, req[k].ref, op == 0, k, step);
            req[k].state = 0;
        }
        /* the PM side: stop idle or stopping processes now and then */
        if (op == 3) {
            for (j = 0; j < t.hdr->n_procs; j++) {
                tf_proc_ent_t *pr = &t.procs[j];

                if (pr->state == TF_PROC_READY && pr->conns == 0) {
                    tf_pool_pm_stop_idle(&t, (int)j, TF_EXIT_IDLE);
                }
                if (pr->state == TF_PROC_STOPPING && pr->conns == 0) {
                    tf_pool_pm_exited(&t, (int)j, TF_EXIT_DIED, step);
                }
            }
        }
        if (op == 6 && step % 11 == 0) {
            /* a pool's script changes (TracFcgiReloadOnChange) */
            tf_pool_pm_retire_all(&t, (int)(seed % 3));
        }
        if (op == 5 && step % 7 == 0) {
            /* a process dies on its own, busy or not */
            j = (apr_uint32_t)(seed % t.hdr->n_procs);
            if (t.procs[j].state == TF_PROC_READY) {
                tf_pool_pm_exited(&t, (int)j, TF_EXIT_DIED, step);
            }
        }
        if (!tf_table_check(&t)) {
            bad = step + 1;
        }
    }
    TF_CHECK("invariants hold over 200000 random steps", bad == 0);
    if (bad) {
        printf("first broken at step %d\n", bad - 1);
    }
}

int main(void)
{
    test_reuse();
    test_limits_same();
    test_req_notes();
    test_find_or_create();
    test_recycle();
    test_ready_while_draining();
    test_retire_all_while_starting();
    test_fifo();
    test_total_cap();
    test_broken_and_exits();
    test_backoff();
    test_pm_writers();
    test_retire_and_reserver_gone();
    test_multi_conn();
    test_least_loaded();
    test_reclaim();
    test_reclaim_spawn();
    test_release_cut();
    test_ready_grants_spare();
    test_limits();
    test_random_walk();
    free(mem);
    return TF_REPORT();
}
