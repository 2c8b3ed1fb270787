/*
 * test_stop_policy.c: tf_pool_pm_stop_policy() (src/pool.c), the rules by
 * which the process manager's scan stops processes, one table row per
 * rule and edge: exactly at a limit, one second short of it, at and below
 * TracFcgiMinProcesses, busy processes, each state, the stop grace.
 */
#include <string.h>

#include "tf_pool.h"
#include "tf_test.h"

#define S(n) apr_time_from_sec(n)
#define T0 S(1000000) /* "now" of most rows: far from the epoch */

typedef struct {
    const char *desc;
    /* the pool */
    apr_uint32_t min_procs, idle_timeout, lifetime, max_requests;
    apr_uint32_t kept;
    /* the process */
    tf_proc_state_e state;
    pid_t pid;
    apr_uint32_t conns;
    apr_interval_time_t idle_for;  /* now - last_used */
    apr_interval_time_t age;       /* now - started */
    apr_uint64_t requests;
    tf_exit_reason_e exit_reason;
    apr_interval_time_t stopped_for; /* now - stop_sent; -1: not sent */
    /* expected */
    tf_stop_e act;
    tf_exit_reason_e why;          /* checked unless act is NONE */
} row_t;

#define NOTSENT (-1)

static const row_t rows[] = {
    /* idle timeout, above the minimum */
    {"idle exactly at the timeout", 0, 60, 0, 0, 1, TF_PROC_READY, 10, 0,
     S(60), S(100), 1, 0, NOTSENT, TF_STOP_MARK, TF_EXIT_IDLE},
    {"idle past the timeout", 0, 60, 0, 0, 1, TF_PROC_READY, 10, 0, S(500),
     S(900), 1, 0, NOTSENT, TF_STOP_MARK, TF_EXIT_IDLE},
    {"idle one second short", 0, 60, 0, 0, 1, TF_PROC_READY, 10, 0, S(59),
     S(100), 1, 0, NOTSENT, TF_STOP_NONE, 0},
    {"idle one microsecond short", 0, 60, 0, 0, 1, TF_PROC_READY, 10, 0,
     S(60) - 1, S(100), 1, 0, NOTSENT, TF_STOP_NONE, 0},
    {"just used", 0, 60, 0, 0, 1, TF_PROC_READY, 10, 0, 0, S(100), 1, 0,
     NOTSENT, TF_STOP_NONE, 0},
    {"idle timeout 0: never idle-stopped", 0, 0, 0, 0, 3, TF_PROC_READY, 10,
     0, S(100000), S(100000), 1, 0, NOTSENT, TF_STOP_NONE, 0},
    /* ... never to the minimum or below */
    {"kept one above the minimum", 2, 60, 0, 0, 3, TF_PROC_READY, 10, 0,
     S(60), S(100), 1, 0, NOTSENT, TF_STOP_MARK, TF_EXIT_IDLE},
    {"kept at the minimum", 2, 60, 0, 0, 2, TF_PROC_READY, 10, 0, S(600),
     S(700), 1, 0, NOTSENT, TF_STOP_NONE, 0},
    {"kept below the minimum", 2, 60, 0, 0, 1, TF_PROC_READY, 10, 0, S(600),
     S(700), 1, 0, NOTSENT, TF_STOP_NONE, 0},
    {"minimum 1, kept 1", 1, 60, 0, 0, 1, TF_PROC_READY, 10, 0, S(600),
     S(700), 1, 0, NOTSENT, TF_STOP_NONE, 0},
    {"minimum 0, kept 0 (not counted yet)", 0, 60, 0, 0, 0, TF_PROC_READY,
     10, 0, S(600), S(700), 1, 0, NOTSENT, TF_STOP_NONE, 0},
    /* lifetime: even at the minimum (a new process replaces it) */
    {"lifetime exactly reached", 0, 0, 3600, 0, 1, TF_PROC_READY, 10, 0, 0,
     S(3600), 5, 0, NOTSENT, TF_STOP_MARK, TF_EXIT_RETIRED},
    {"lifetime one second short", 0, 0, 3600, 0, 1, TF_PROC_READY, 10, 0, 0,
     S(3599), 5, 0, NOTSENT, TF_STOP_NONE, 0},
    {"lifetime reached at the minimum", 2, 300, 3600, 0, 2, TF_PROC_READY,
     10, 0, S(400), S(3600), 5, 0, NOTSENT, TF_STOP_MARK, TF_EXIT_RETIRED},
    {"lifetime 0: unlimited", 0, 0, 0, 0, 1, TF_PROC_READY, 10, 0, 0,
     S(900000), 5, 0, NOTSENT, TF_STOP_NONE, 0},
    {"idle timeout wins over lifetime", 0, 60, 3600, 0, 1, TF_PROC_READY,
     10, 0, S(60), S(3600), 5, 0, NOTSENT, TF_STOP_MARK, TF_EXIT_IDLE},
    {"lifetime when the idle one is at the minimum", 1, 60, 3600, 0, 1,
     TF_PROC_READY, 10, 0, S(60), S(3600), 5, 0, NOTSENT, TF_STOP_MARK,
     TF_EXIT_RETIRED},
    /* max requests */
    {"max requests reached", 0, 0, 0, 100, 1, TF_PROC_READY, 10, 0, 0, S(5),
     100, 0, NOTSENT, TF_STOP_MARK, TF_EXIT_RETIRED},
    {"one request short", 0, 0, 0, 100, 1, TF_PROC_READY, 10, 0, 0, S(5),
     99, 0, NOTSENT, TF_STOP_NONE, 0},
    {"max requests 0: unlimited", 0, 0, 0, 0, 1, TF_PROC_READY, 10, 0, 0,
     S(5), 1000000, 0, NOTSENT, TF_STOP_NONE, 0},
    /* busy processes are never stopped nor signalled */
    {"busy, idle timeout long past", 0, 60, 0, 0, 5, TF_PROC_READY, 10, 1,
     S(6000), S(7000), 1, 0, NOTSENT, TF_STOP_NONE, 0},
    {"busy, lifetime past", 0, 0, 60, 0, 5, TF_PROC_READY, 10, 2, 0,
     S(7000), 1, 0, NOTSENT, TF_STOP_NONE, 0},
    {"busy, max requests past", 0, 0, 0, 1, 5, TF_PROC_READY, 10, 1, 0,
     S(7000), 10, 0, NOTSENT, TF_STOP_NONE, 0},
    {"busy stopping: not signalled", 0, 60, 0, 0, 5, TF_PROC_STOPPING, 10,
     1, S(6000), S(7000), 1, TF_EXIT_RETIRED, NOTSENT, TF_STOP_NONE, 0},
    {"busy broken: not killed", 0, 60, 0, 0, 5, TF_PROC_STOPPING, 10, 1,
     S(6000), S(7000), 1, TF_EXIT_BROKEN, NOTSENT, TF_STOP_NONE, 0},
    {"busy, signalled long ago: not killed", 0, 0, 0, 0, 5,
     TF_PROC_STOPPING, 10, 1, 0, S(7000), 1, TF_EXIT_IDLE, S(600),
     TF_STOP_NONE, 0},
    /* stopping and idle: signalled once, killed after the grace */
    {"stopping idle: SIGTERM", 0, 0, 0, 0, 0, TF_PROC_STOPPING, 10, 0, 0,
     S(5), 1, TF_EXIT_IDLE, NOTSENT, TF_STOP_TERM, TF_EXIT_IDLE},
    {"retired: SIGTERM", 0, 0, 0, 0, 0, TF_PROC_STOPPING, 10, 0, 0, S(5), 1,
     TF_EXIT_RETIRED, NOTSENT, TF_STOP_TERM, TF_EXIT_RETIRED},
    {"shutdown: SIGTERM", 0, 0, 0, 0, 0, TF_PROC_STOPPING, 10, 0, 0, S(5),
     1, TF_EXIT_SHUTDOWN, NOTSENT, TF_STOP_TERM, TF_EXIT_SHUTDOWN},
    {"broken: SIGKILL at once", 0, 0, 0, 0, 0, TF_PROC_STOPPING, 10, 0, 0,
     S(5), 1, TF_EXIT_BROKEN, NOTSENT, TF_STOP_KILL, TF_EXIT_BROKEN},
    {"orphaned: SIGKILL at once", 0, 0, 0, 0, 0, TF_PROC_STOPPING, 10, 0, 0,
     S(5), 1, TF_EXIT_ORPHANED, NOTSENT, TF_STOP_KILL, TF_EXIT_ORPHANED},
    {"signalled just now: wait", 0, 0, 0, 0, 0, TF_PROC_STOPPING, 10, 0, 0,
     S(5), 1, TF_EXIT_IDLE, 0, TF_STOP_NONE, 0},
    {"signalled exactly the grace ago: wait", 0, 0, 0, 0, 0,
     TF_PROC_STOPPING, 10, 0, 0, S(50), 1, TF_EXIT_IDLE,
     S(TF_STOP_GRACE_SEC), TF_STOP_NONE, 0},
    {"signalled just over the grace ago: SIGKILL", 0, 0, 0, 0, 0,
     TF_PROC_STOPPING, 10, 0, 0, S(50), 1, TF_EXIT_IDLE,
     S(TF_STOP_GRACE_SEC) + 1, TF_STOP_OVERDUE, TF_EXIT_IDLE},
    {"broken, SIGKILLed over the grace ago: again", 0, 0, 0, 0, 0,
     TF_PROC_STOPPING, 10, 0, 0, S(50), 1, TF_EXIT_BROKEN, S(60),
     TF_STOP_OVERDUE, TF_EXIT_BROKEN},
    /* slots the scan leaves alone */
    {"free slot", 0, 60, 60, 1, 5, TF_PROC_FREE, 0, 0, S(6000), S(6000), 9,
     0, NOTSENT, TF_STOP_NONE, 0},
    {"starting, never idle-stopped", 0, 60, 60, 1, 5, TF_PROC_STARTING, 10,
     0, S(6000), S(6000), 0, 0, NOTSENT, TF_STOP_NONE, 0},
    {"starting, not forked yet", 0, 60, 60, 1, 5, TF_PROC_STARTING, 0, 1,
     S(6000), S(6000), 0, 0, NOTSENT, TF_STOP_NONE, 0},
    {"ready without a pid", 0, 60, 60, 1, 5, TF_PROC_READY, 0, 0, S(6000),
     S(6000), 9, 0, NOTSENT, TF_STOP_NONE, 0},
    {"exited, held by a request", 0, 60, 60, 1, 5, TF_PROC_EXITED, 0, 1,
     S(6000), S(6000), 9, TF_EXIT_DIED, NOTSENT, TF_STOP_NONE, 0},
};

static void make(const row_t *r, tf_pool_ent_t *p, tf_proc_ent_t *pr,
                 apr_time_t now)
{
    memset(p, 0, sizeof(*p));
    memset(pr, 0, sizeof(*pr));
    p->key = 1;
    p->lim.min_procs = r->min_procs;
    p->lim.max_procs = 16;
    p->lim.max_conns = 4;
    p->lim.idle_timeout = r->idle_timeout;
    p->lim.lifetime = r->lifetime;
    p->lim.max_requests = r->max_requests;
    pr->state = r->state;
    pr->pid = r->pid;
    pr->conns = r->conns;
    pr->max_conns = 4;
    pr->last_used = now - r->idle_for;
    pr->started = now - r->age;
    pr->requests = r->requests;
    pr->exit_reason = r->exit_reason;
    pr->stop_sent = r->stopped_for == NOTSENT ? 0 : now - r->stopped_for;
}

static void test_rows(void)
{
    size_t i;

    for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        const row_t *r = &rows[i];
        tf_pool_ent_t p;
        tf_proc_ent_t pr;
        tf_exit_reason_e why = TF_EXIT_REASONS;
        tf_stop_e act;

        make(r, &p, &pr, T0);
        act = tf_pool_pm_stop_policy(&p, &pr, r->kept, T0, &why);
        TF_CHECK(r->desc, act == r->act);
        if (act != r->act) {
            printf("  got %d, want %d\n", (int)act, (int)r->act);
        }
        if (r->act != TF_STOP_NONE) {
            TF_CHECK(r->desc, why == r->why);
        }
        else {
            TF_CHECK("NONE leaves why alone", why == TF_EXIT_REASONS);
        }
    }
}

/* The pure function changes nothing it is given. */
static void test_pure(void)
{
    tf_pool_ent_t p, p0;
    tf_proc_ent_t pr, pr0;
    tf_exit_reason_e why;
    size_t i;

    for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        make(&rows[i], &p, &pr, T0);
        p0 = p;
        pr0 = pr;
        tf_pool_pm_stop_policy(&p, &pr, rows[i].kept, T0, &why);
        TF_CHECK("pool untouched", memcmp(&p, &p0, sizeof(p)) == 0);
        TF_CHECK("process untouched", memcmp(&pr, &pr0, sizeof(pr)) == 0);
    }
}

/* The way pm.c's scan applies it, on a real table: four idle processes
 * past the timeout in a pool with a minimum of two; one scan stops two
 * (the oldest slots first, in table order), signals them in the same
 * scan, and the next scans leave the other two alone. */
static void test_scan_keeps_minimum(void)
{
    static char mem[1 << 16];
    tf_table_t t;
    tf_pool_limits_t lim;
    tf_proc_ref_t ref[4];
    apr_uint32_t kept, k;
    apr_time_t now = S(1000);
    int pool, i, marked = 0, termed = 0, pass;

    if (tf_table_size(2, 8, 4) > sizeof(mem)) {
        TF_CHECK("test table fits", 0);
        return;
    }
    tf_table_init(&t, mem, 2, 8, 4, 8);
    memset(&lim, 0, sizeof(lim));
    lim.min_procs = 2;
    lim.max_procs = 4;
    lim.max_conns = 1;
    lim.idle_timeout = 60;
    pool = tf_pool_create(&t, 7, &lim, "scan", 0);
    for (i = 0; i < 4; i++) {
        TF_CHECK("reserve", tf_pool_pm_reserve(&t, pool, 0, &ref[i]) == 0);
        tf_pool_pm_forked(&t, ref[i], 100 + i, "", 0);
        tf_pool_pm_ready(&t, ref[i], 1, 0);
    }
    for (pass = 0; pass < 3; pass++) {
        kept = 0;
        for (k = 0; k < t.hdr->n_procs; k++) {
            kept += t.procs[k].state == TF_PROC_READY
                    || t.procs[k].state == TF_PROC_STARTING;
        }
        for (k = 0; k < t.hdr->n_procs; k++) {
            tf_exit_reason_e why;
            tf_stop_e act = tf_pool_pm_stop_policy(&t.pools[pool],
                                                   &t.procs[k], kept, now,
                                                   &why);

            if (t.procs[k].state == TF_PROC_FREE) {
                continue;
            }
            if (act == TF_STOP_MARK) {
                TF_CHECK("marked for the idle timeout", why == TF_EXIT_IDLE);
                tf_pool_pm_stop_idle(&t, (int)k, why);
                kept--;
                marked++;
                act = tf_pool_pm_stop_policy(&t.pools[pool], &t.procs[k],
                                             kept, now, &why);
                TF_CHECK("signalled in the same scan", act == TF_STOP_TERM);
            }
            if (act == TF_STOP_TERM) {
                tf_pool_pm_stop_sent(&t, (int)k, now);
                termed++;
            }
        }
        TF_CHECK("sane", tf_table_check(&t));
        now += S(1);
    }
    TF_CHECK("two stopped, over three scans", marked == 2 && termed == 2);
    TF_CHECK("two kept ready",
             t.procs[ref[2].idx].state == TF_PROC_READY
                 && t.procs[ref[3].idx].state == TF_PROC_READY);
}

int main(void)
{
    test_rows();
    test_pure();
    test_scan_keeps_minimum();
    return TF_REPORT();
}
