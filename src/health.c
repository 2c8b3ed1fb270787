/*
 * health.c: the manager's prober of external servers' addresses (see
 * tf_health.h). One thread: every PROBE_TICK_MS it asks the table which
 * addresses are due (tf_pool_pm_ext_due()), probes them one after the
 * other without the lock (tf_backend_health(): a connection taken is
 * "up"), and tells the table (tf_pool_pm_ext_up/_down), whose unlock wakes
 * the requests that a returning address can serve. It logs each change of
 * state once: an address found down at start, and one that is up again
 * (requests log the address they find down: src/lease.c).
 *
 * Runs in the manager process only; it never signals anything, and it
 * ends with the manager's process.
 */
#include <pthread.h>
#include <string.h>
#include <time.h>

#include "apr_strings.h"

#include "tf_config.h"
#include "tf_health.h"
#include "tf_pool.h"
#include "tf_private.h"

#define PROBE_TICK_MS 200
#define MAX_DUE 64

typedef struct {
    server_rec *s;
    tf_shm_t *shm;
    apr_uint32_t n_pools;
    const tf_external_t **by_pool;   /* table pool index -> its server */
    apr_interval_time_t *timeout;    /* by pool: its connect timeout */
} prober_t;

/* What the table said of one address, copied out under the lock. */
typedef struct {
    tf_proc_ref_t ref;
    int pool;
    apr_uint32_t addr;
    int first;                /* never probed: the start */
    apr_time_t down_since;
} due_t;

static apr_uint32_t collect(prober_t *pr, due_t *due)
{
    tf_table_t *t = tf_shm_table(pr->shm);
    tf_proc_ref_t refs[MAX_DUE];
    apr_uint32_t n, i;

    tf_shm_lock(pr->shm);
    n = tf_pool_pm_ext_due(t, apr_time_now(), refs, MAX_DUE);
    for (i = 0; i < n; i++) {
        const tf_proc_ent_t *e = &t->procs[refs[i].idx];

        due[i].ref = refs[i];
        due[i].pool = e->pool;
        due[i].addr = e->addr;
        due[i].first = !e->probed;
        due[i].down_since = e->down_since;
    }
    tf_shm_unlock(pr->shm);
    return n;
}

static void probe_one(prober_t *pr, apr_pool_t *p, const due_t *d)
{
    const tf_external_t *x;
    apr_uint32_t conns = 0;
    apr_status_t rv;
    const char *err = NULL;
    char buf[120];
    int flags;
    apr_time_t now;

    if (d->pool < 0 || (apr_uint32_t)d->pool >= pr->n_pools
        || !(x = pr->by_pool[d->pool]) || (int)d->addr >= x->n_addrs) {
        return;
    }
    rv = tf_backend_health(&x->addrs[d->addr], pr->timeout[d->pool],
                           &conns);
    if (rv != APR_SUCCESS) {
        err = APR_STATUS_IS_TIMEUP(rv)
                  ? apr_psprintf(p, "no connection within %" APR_TIME_T_FMT
                                 " s", apr_time_sec(pr->timeout[d->pool]))
              : rv == APR_EGENERAL ? "what answers is not FastCGI"
                                   : apr_strerror(rv, buf, sizeof(buf));
    }
    now = apr_time_now();
    tf_shm_lock(pr->shm);
    flags = rv == APR_SUCCESS
                ? tf_pool_pm_ext_up(tf_shm_table(pr->shm), d->ref, conns, now)
                : tf_pool_pm_ext_down(tf_shm_table(pr->shm), d->ref, err,
                                      now);
    tf_shm_unlock(pr->shm);
    if (flags & TF_CAME_UP) {
        ap_log_error(APLOG_MARK, APLOG_NOTICE, 0, x->s, TFLOGNO(00701)
                     "TracFcgiExternalServer %s: FastCGI server %s is up "
                     "again (down for %" APR_TIME_T_FMT " s); it takes "
                     "requests", *x->url ? x->url : "/", x->addr_text[d->addr],
                     apr_time_sec(now - d->down_since));
    }
    else if (flags & TF_WENT_DOWN) {
        ap_log_error(APLOG_MARK, APLOG_ERR, 0, x->s, TFLOGNO(00702)
                     "TracFcgiExternalServer %s: FastCGI server %s is down "
                     "(%s); no request goes to it until a probe answers, "
                     "every %d s%s", *x->url ? x->url : "/",
                     x->addr_text[d->addr], err, x->check,
                     (flags & TF_ALL_DOWN) ? "; no address of it is up"
                                           : "");
    }
    else if (d->first && rv == APR_SUCCESS) {
        ap_log_error(APLOG_MARK, APLOG_INFO, 0, x->s, TFLOGNO(00703)
                     "TracFcgiExternalServer %s: FastCGI server %s is up "
                     "(FCGI_MAX_CONNS: %s)", *x->url ? x->url : "/",
                     x->addr_text[d->addr],
                     conns ? apr_psprintf(p, "%u", conns) : "not said");
    }
}

static void *prober_main(void *arg)
{
    prober_t *pr = arg;
    struct timespec tick = {0, PROBE_TICK_MS * 1000000L};
    due_t due[MAX_DUE];
    apr_pool_t *p;
    apr_uint32_t n, i;

    apr_pool_create(&p, NULL);
    for (;;) {
        n = collect(pr, due);
        for (i = 0; i < n; i++) {
            probe_one(pr, p, &due[i]);
        }
        apr_pool_clear(p);
        nanosleep(&tick, NULL);
    }
    return NULL;
}

apr_status_t tf_health_start(apr_pool_t *pconf, server_rec *s,
                             tf_shm_t *shm)
{
    apr_array_header_t *all = tf_config_externals(pconf);
    prober_t *pr;
    pthread_attr_t attr;
    pthread_t tid;
    int i, rc;

    if (!all || all->nelts == 0) {
        return APR_SUCCESS;
    }
    pr = apr_pcalloc(pconf, sizeof(*pr));
    pr->s = s;
    pr->shm = shm;
    pr->n_pools = tf_shm_table(shm)->hdr->n_pools;
    pr->by_pool = apr_pcalloc(pconf, sizeof(*pr->by_pool) * pr->n_pools);
    pr->timeout = apr_pcalloc(pconf, sizeof(*pr->timeout) * pr->n_pools);
    for (i = 0; i < all->nelts; i++) {
        const tf_external_t *x = APR_ARRAY_IDX(all, i, tf_external_t *);
        tf_dir_conf_t dc;

        if (x->pool < 0 || (apr_uint32_t)x->pool >= pr->n_pools) {
            continue;
        }
        tf_config_dir_resolve(ap_get_module_config(x->s->lookup_defaults,
                                                   &tracfcgi_module),
                              &dc);
        pr->by_pool[x->pool] = x;
        pr->timeout[x->pool] = apr_time_from_sec(dc.connect_timeout);
    }
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    rc = pthread_create(&tid, &attr, prober_main, pr);
    pthread_attr_destroy(&attr);
    return rc;
}
