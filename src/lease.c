/*
 * lease.c: a request's hold on one backend process of its pool.
 *
 * Fast path, under the table lock for microseconds: find the pool, take an
 * idle process (or reserve a slot for a new one) and go; no round trip to
 * the process manager. A new process is asked of the manager over its
 * control socket (src/ipc.c), without the lock. When the pool is full the
 * request waits in the pool's FIFO on a futex word (src/shm.c) until a
 * backend is handed to it or TracFcgiQueueTimeout passes.
 *
 * Runs in request threads. Never holds the lock across I/O or a log line:
 * what must be logged is decided under the lock and written after it.
 */
#include <stdarg.h>
#include <string.h>
#include <unistd.h>

#include "apr_strings.h"

#include "tf_keepalive.h"
#include "tf_lease.h"
#include "tf_private.h"
#include "tf_spec.h"

/* what every failure here costs the client (log lines say it) */
#define UNAVAILABLE tf_outcome_status(TF_OUT_UNAVAILABLE)

static tf_shm_t *rt_shm;      /* set before the children fork */
static const char *rt_ctl;
static pid_t rt_self;         /* this httpd child, set in child_init */

void tf_lease_runtime_set(tf_shm_t *shm, const char *ctl_path)
{
    rt_shm = shm;
    rt_ctl = ctl_path;
}

void tf_lease_child_init(void)
{
    rt_self = getpid();
}

int tf_lease_ready(void)
{
    return rt_shm != NULL;
}

void tf_lease_count(int pool, int status, apr_interval_time_t held)
{
    tf_table_t *t = tf_shm_table(rt_shm);

    if (status == HTTP_BAD_GATEWAY) {
        tf_pool_count_error(t, pool, TF_ERR_502);
    }
    else if (status == HTTP_SERVICE_UNAVAILABLE) {
        tf_pool_count_error(t, pool, TF_ERR_503);
    }
    else if (status == HTTP_GATEWAY_TIME_OUT) {
        tf_pool_count_error(t, pool, TF_ERR_504);
    }
    if (held >= 0) {
        tf_pool_count_duration(t, pool, (apr_uint64_t)held);
    }
    tf_pool_count_recent(t, pool, (apr_uint32_t)apr_time_sec(apr_time_now()),
                         status == HTTP_BAD_GATEWAY
                             || status == HTTP_SERVICE_UNAVAILABLE
                             || status == HTTP_GATEWAY_TIME_OUT);
}

void tf_lease_note_error(int pool, const char *fmt, ...)
{
    char msg[TF_POOL_NAME_LEN];
    va_list ap;

    va_start(ap, fmt);
    apr_vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    tf_shm_lock(rt_shm);
    tf_pool_note_error(tf_shm_table(rt_shm), pool, msg, apr_time_now());
    tf_shm_unlock(rt_shm);
}

/* --- Log lines (written after the lock is let go) ------------------------ */

static const char *limit_text(request_rec *r, tf_limit_e l,
                              const tf_pool_limits_t *lim, apr_uint32_t total)
{
    switch (l) {
    case TF_LIMIT_POOL:
        return apr_psprintf(r->pool, "TracFcgiMaxProcesses %u",
                            lim->max_procs);
    case TF_LIMIT_TOTAL:
        return apr_psprintf(r->pool, "TracFcgiMaxProcessesTotal %u", total);
    case TF_LIMIT_SLOTS:
        return "the process table is full";
    default:
        return "every connection of the pool is busy";
    }
}

/* A new pool runs through suexec: what of its spawn environment suexec
 * will strip. Once per pool and configuration generation. */
static void warn_suexec_env(request_rec *r, const tf_dir_conf_t *dc,
                            const tf_spawn_spec_t *spec)
{
    const char *lost = tf_spec_suexec_dropped(r->pool, dc, spec);

    if (lost) {
        ap_log_rerror(APLOG_MARK, APLOG_WARNING, 0, r,
                      TFLOGNO(00442) TF_SUEXEC_DROPPED_FMT, spec->name,
                      lost);
    }
}

static const char *conns_text(apr_pool_t *p, const tf_pool_limits_t *l)
{
    return l->conns_auto ? apr_psprintf(p, "auto %u", l->max_conns)
                         : apr_psprintf(p, "%u", l->max_conns);
}

/* Once per pool: a request whose section sets other limits than the pool
 * was created with (the pool key is script, identity, virtual host and
 * environment; the limits are the first request's). */
static void warn_other_limits(request_rec *r, const tf_spawn_spec_t *spec,
                              const tf_pool_limits_t *has)
{
    const tf_pool_limits_t *want = &spec->lim;
    const char *d = "";

#define DIFF(field, name)                                                  \
    if (want->field != has->field) {                                       \
        d = apr_psprintf(r->pool, "%s%s" name " %u (the pool's: %u)", d,   \
                         *d ? ", " : "", want->field, has->field);         \
    }
    DIFF(min_procs, "TracFcgiMinProcesses")
    DIFF(max_procs, "TracFcgiMaxProcesses")
    DIFF(max_requests, "TracFcgiMaxRequestsPerProcess")
    DIFF(lifetime, "TracFcgiProcessLifetime")
    DIFF(idle_timeout, "TracFcgiIdleTimeout")
#undef DIFF
    if (want->conns_auto != has->conns_auto
        || want->max_conns != has->max_conns) {
        d = apr_psprintf(r->pool, "%s%sTracFcgiConnsPerProcess %s (the "
                         "pool's: %s)", d, *d ? ", " : "",
                         conns_text(r->pool, want), conns_text(r->pool, has));
    }
    if (want->reload != has->reload) {
        d = apr_psprintf(r->pool, "%s%sTracFcgiReloadOnChange %s (the "
                         "pool's: %s)", d, *d ? ", " : "",
                         want->reload ? "On" : "Off",
                         has->reload ? "On" : "Off");
    }
    ap_log_rerror(APLOG_MARK, APLOG_WARNING, 0, r, TFLOGNO(00443)
                  "pool %s: this request's configuration sets %s; the pool "
                  "keeps the limits it was created with. One script, "
                  "identity, virtual host and environment make one pool: "
                  "give its sections the same limits, or tell them apart "
                  "with a TracFcgiInitEnv", spec->name, d);
}

/* --- Finding or creating the pool ---------------------------------------- */

/* Display fields of a new pool, for the status page: made before the lock
 * is taken, copied in under it. */
static void describe(request_rec *r, const tf_dir_conf_t *dc,
                     const tf_spawn_spec_t *spec, tf_pool_desc_t *d)
{
    d->uid = spec->uid;
    d->gid = spec->gid;
    d->script = r->filename;
    d->vhost = tf_spec_vhost_label(r->pool, r->server);
    d->env_summary = tf_spec_env_summary(r->pool, dc);
}

/* What must be said once the lock is let go. */
typedef struct {
    int created;              /* the pool is new: suexec warning */
    int other_limits;         /* this request's limits differ */
    tf_pool_limits_t has;     /* the pool's, for that warning */
} pool_news_t;

/* Under the lock: the pool of @key, created if absent (with @d, when the
 * caller made it: else -2, "describe it and call again"). @return its
 * index, -2, or -1 (the table is full). */
static int find_pool(tf_table_t *t, apr_uint64_t key,
                     const tf_spawn_spec_t *spec, const tf_pool_desc_t *d,
                     pool_news_t *news, apr_time_t now)
{
    int pool = tf_pool_find(t, key);

    if (pool < 0) {
        return d ? tf_pool_find_or_create(t, key, &spec->lim, spec->name, d,
                                          now, &news->created)
                 : -2;
    }
    /* the flag first: once warned, no comparison on every request */
    if (!t->pools[pool].lim_warned
        && !tf_pool_limits_same(t, pool, &spec->lim)
        && tf_pool_req_claim_lim_warning(t, pool)) {
        news->other_limits = 1;
        news->has = t->pools[pool].lim;
    }
    return pool;
}

/* Take the lock and find the pool (describing it first if it is new).
 * Returns with the lock held. */
static int lock_pool(request_rec *r, const tf_dir_conf_t *dc,
                     const tf_spawn_spec_t *spec, apr_uint64_t key,
                     pool_news_t *news, apr_time_t now)
{
    tf_table_t *t = tf_shm_table(rt_shm);
    tf_pool_desc_t d;
    int pool;

    tf_shm_lock(rt_shm);
    if ((pool = find_pool(t, key, spec, NULL, news, now)) != -2) {
        return pool;
    }
    tf_shm_unlock(rt_shm);
    describe(r, dc, spec, &d);
    tf_shm_lock(rt_shm);
    return find_pool(t, key, spec, &d, news, now);
}

static void tell_news(request_rec *r, const tf_dir_conf_t *dc,
                      const tf_spawn_spec_t *spec, const pool_news_t *news)
{
    if (news->created) {
        warn_suexec_env(r, dc, spec);
    }
    if (news->other_limits) {
        warn_other_limits(r, spec, &news->has);
    }
}

/* --- Taking a backend ---------------------------------------------------- */

/* The request a slot serves now, for the status page (under the lock):
 * method and path, never the query string. */
static void note_request(tf_proc_ent_t *pr, const request_rec *r)
{
    apr_size_t n = strlen(r->method), u = strlen(r->uri);

    if (n > 16) {
        n = 16; /* an extension method's name, cut */
    }
    if (n + 1 + u >= sizeof(pr->req)) {
        u = sizeof(pr->req) - n - 2;
    }
    memcpy(pr->req, r->method, n);
    pr->req[n] = ' ';
    memcpy(pr->req + n + 1, r->uri, u);
    pr->req[n + 1 + u] = '\0';
    pr->req_since = r->request_time;
}

/* What a request needs of the slot it holds, read under the lock. */
static void lease_fill(tf_lease_t *l, const tf_proc_ent_t *pr)
{
    l->pid = l->peer.pid = pr->pid;
    l->max_conns = pr->max_conns;
    apr_cpystrn(l->sock, pr->sock, sizeof(l->sock));
    tf_backend_addr_unix(&l->addr, l->sock);
}

/* The same for an external server's address. */
static void lease_fill_external(tf_lease_t *l, const tf_proc_ent_t *pr)
{
    l->max_conns = pr->max_conns;
    l->addr = l->ext->addrs[pr->addr];
    l->peer.addr = l->ext->addr_text[pr->addr];
}

/* The manager could not start the process: the slot must not stay
 * STARTING. Only when the manager never saw the request; otherwise it
 * frees it itself. */
static void abandon_spawn(tf_lease_t *l, int pm_saw_it)
{
    tf_shm_lock(rt_shm);
    if (pm_saw_it) {
        tf_pool_req_release(tf_shm_table(rt_shm), l->ref, TF_RELEASE_BROKEN,
                            l->holder, apr_time_now());
    }
    else {
        /* not the backend's fault: no crash-loop back-off */
        tf_pool_spawn_abandoned(tf_shm_table(rt_shm), l->ref,
                                apr_time_now());
    }
    tf_shm_unlock(rt_shm);
}

/* A slot was reserved for a new process: ask the manager to start it. */
static tf_outcome_e start_backend(request_rec *r, tf_spawn_spec_t *spec,
                                  tf_lease_t *l)
{
    tf_ipc_reply_t reply;
    apr_status_t rv;

    spec->ref = l->ref;
    spec->pool = l->pool;
    memset(&reply, 0, sizeof(reply));
    rv = tf_ipc_spawn_request(r->pool, rt_ctl, spec,
                              apr_time_from_sec(spec->startup_timeout + 5),
                              &reply);
    if (rv != APR_SUCCESS) {
        int pm_saw_it = !(APR_STATUS_IS_ECONNREFUSED(rv)
                          || APR_STATUS_IS_ENOENT(rv));

        ap_log_rerror(APLOG_MARK, APLOG_ERR, rv, r, TFLOGNO(00401)
                      "pool %s: the process manager did not start a "
                      "backend (%s); answering %d", spec->name,
                      APR_STATUS_IS_TIMEUP(rv)
                          ? "no answer within TracFcgiStartupTimeout"
                          : "it is not reachable at its control socket",
                      UNAVAILABLE);
        abandon_spawn(l, pm_saw_it);
        tf_lease_note_error(l->pool, "process manager did not start a "
                            "backend");
        return TF_OUT_UNAVAILABLE;
    }
    if (reply.status != APR_SUCCESS) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, reply.status, r, TFLOGNO(00402)
                      "pool %s: could not start a backend: %s; answering "
                      "%d", spec->name, reply.msg, UNAVAILABLE);
        tf_lease_note_error(l->pool, "%s", reply.msg);
        return TF_OUT_UNAVAILABLE;
    }
    tf_shm_lock(rt_shm);
    if (!tf_pool_ref_valid(tf_shm_table(rt_shm), l->ref)) {
        tf_shm_unlock(rt_shm);
        return TF_OUT_UNAVAILABLE;
    }
    lease_fill(l, &tf_shm_table(rt_shm)->procs[l->ref.idx]);
    note_request(&tf_shm_table(rt_shm)->procs[l->ref.idx], r);
    tf_shm_unlock(rt_shm);
    return TF_OUT_NONE;
}

/* The pool is full: wait in its FIFO, the lock held on entry and on
 * return (the futex wait lets go of it meanwhile). @return TF_ACQ_PROC or
 * TF_ACQ_SPAWN when granted, or TF_ACQ_QUEUE_FULL when the time is up
 * (the waiter is gone from the queue). */
static tf_acq_e wait_turn(request_rec *r, const tf_dir_conf_t *dc,
                          tf_lease_t *l, apr_int32_t waiter, tf_limit_e limit,
                          apr_time_t since)
{
    tf_table_t *t = tf_shm_table(rt_shm);
    apr_time_t deadline = since + apr_time_from_sec(dc->queue_timeout);
    tf_wait_state_e st;
    apr_status_t rv;

    if ((limit == TF_LIMIT_TOTAL || limit == TF_LIMIT_SLOTS)
        && (tf_pool_req_evict(t, l->pool) & TF_WAKE_PM)) {
        /* an idle process of another pool gives way; its slot comes to
         * this pool's FIFO when the manager has stopped it */
        tf_ipc_wake_pm(t->hdr->pm_pid);
    }
    for (;;) {
        rv = tf_shm_wait(rt_shm, waiter, deadline);
        st = tf_pool_req_wait_check(t, l->pool, waiter, &l->ref);
        if (st == TF_WAIT_REFUSED) {
            return TF_ACQ_ALL_DOWN; /* an external pool's last address */
        }
        if (st == TF_WAIT_GRANTED_PROC || st == TF_WAIT_GRANTED_SPAWN) {
            tf_pool_req_note_wait(t, l->pool, apr_time_now() - since);
            return st == TF_WAIT_GRANTED_PROC ? TF_ACQ_PROC : TF_ACQ_SPAWN;
        }
        if (rv == APR_TIMEUP) {
            tf_pool_req_wait_cancel(t, l->pool, waiter);
            tf_pool_note_error(t, l->pool, "503: no backend free within "
                               "TracFcgiQueueTimeout", apr_time_now());
            return TF_ACQ_QUEUE_FULL;
        }
    }
}

/* The pool is crash-looping: no new process until its back-off ends. */
static tf_outcome_e backing_off(request_rec *r, const tf_spawn_spec_t *spec,
                                apr_time_t left)
{
    ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, r, TFLOGNO(00406)
                  "pool %s: its backends keep failing at startup "
                  "(crash-loop back-off for %" APR_TIME_T_FMT " more s); "
                  "answering %d", spec->name, apr_time_sec(left) + 1,
                  UNAVAILABLE);
    apr_table_setn(r->err_headers_out, "Retry-After",
                   apr_psprintf(r->pool, "%" APR_TIME_T_FMT,
                                apr_time_sec(left) + 1));
    return TF_OUT_UNAVAILABLE;
}

tf_outcome_e tf_lease_take(request_rec *r, const tf_dir_conf_t *dc,
                           tf_spawn_spec_t *spec, apr_uint64_t key,
                           tf_lease_t *l)
{
    tf_table_t *t = tf_shm_table(rt_shm);
    apr_time_t now = apr_time_now();
    tf_limit_e limit = TF_LIMIT_NONE;
    pool_news_t news = {0, 0, {0}};
    tf_pool_limits_t lim;
    apr_int32_t waiter = -1;
    apr_uint32_t total;
    apr_time_t backoff_left;
    int waited = 0;
    tf_acq_e a;

    memset(l, 0, sizeof(*l));
    l->holder = rt_self ? rt_self : getpid();
    if ((l->pool = lock_pool(r, dc, spec, key, &news, now)) < 0) {
        total = t->hdr->n_pools;
        tf_shm_unlock(rt_shm);
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, TFLOGNO(00403)
                      "pool %s: the pool table is full (%u pools); raise "
                      "TracFcgiMaxProcessesTotal; answering %d", spec->name,
                      total, UNAVAILABLE);
        return TF_OUT_UNAVAILABLE;
    }
    spec->key = key;
    a = tf_pool_req_acquire(t, l->pool, l->holder, now, &l->ref, &waiter,
                            &limit);
    if (a == TF_ACQ_WAIT) {
        a = wait_turn(r, dc, l, waiter, limit, now);
        waited = 1;
    }
    if (a == TF_ACQ_PROC) {
        lease_fill(l, &t->procs[l->ref.idx]);
        note_request(&t->procs[l->ref.idx], r);
    }
    lim = t->pools[l->pool].lim;
    total = t->hdr->max_total;
    backoff_left = t->pools[l->pool].backoff_until - now;
    tf_shm_unlock(rt_shm);
    tell_news(r, dc, spec, &news);

    switch (a) {
    case TF_ACQ_PROC:
        return TF_OUT_NONE;
    case TF_ACQ_SPAWN:
        return start_backend(r, spec, l);
    case TF_ACQ_BACKOFF:
        return backing_off(r, spec, backoff_left);
    default: /* TF_ACQ_QUEUE_FULL: full, or waited in vain */
        if (waited) {
            ap_log_rerror(APLOG_MARK, APLOG_WARNING, 0, r, TFLOGNO(00405)
                          "pool %s: no backend free within "
                          "TracFcgiQueueTimeout %ds (limit hit: %s); "
                          "answering %d", spec->name, dc->queue_timeout,
                          limit_text(r, limit, &lim, total), UNAVAILABLE);
        }
        else {
            ap_log_rerror(APLOG_MARK, APLOG_WARNING, 0, r, TFLOGNO(00404)
                          "pool %s: no backend free (%s) and the request "
                          "queue is full; answering %d", spec->name,
                          limit_text(r, limit, &lim, total), UNAVAILABLE);
        }
        return TF_OUT_UNAVAILABLE;
    }
}

/* --- External servers ---------------------------------------------------- */

/* No address of @x is up: 503 at once, back when a probe may have
 * found one. */
static tf_outcome_e all_down(request_rec *r, const tf_external_t *x,
                             const char *last)
{
    ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, TFLOGNO(00446)
                  "TracFcgiExternalServer %s: no address is up (last "
                  "error: %s; each is probed every %d s); answering %d",
                  *x->url ? x->url : "/", last, x->check, UNAVAILABLE);
    apr_table_setn(r->err_headers_out, "Retry-After",
                   apr_psprintf(r->pool, "%d", x->check));
    return TF_OUT_UNAVAILABLE;
}

/* Take a connection this child kept for l->ext, if the table still lets
 * it: @return 1 with @l filled (l->fd, l->reused), else 0. */
static int reuse_kept(request_rec *r, tf_lease_t *l)
{
    tf_table_t *t = tf_shm_table(rt_shm);
    tf_proc_ref_t ref;
    int fd, ok, flags;

    while ((fd = tf_keepalive_take(l->pool, &ref)) >= 0) {
        tf_shm_lock(rt_shm);
        ok = tf_pool_req_reuse(t, ref, l->holder, apr_time_now(), &flags);
        if (ok == 1) {
            l->ref = ref;
            lease_fill_external(l, &t->procs[ref.idx]);
            note_request(&t->procs[ref.idx], r);
        }
        tf_shm_unlock(rt_shm);
        if (ok == 1) {
            l->fd = fd;
            l->reused = 1;
            return 1;
        }
        close(fd); /* its place was given back (or was not ours) */
    }
    return 0;
}

int tf_lease_keep(tf_lease_t *l, int fd)
{
    return l->ext && l->ext->keepalive
           && tf_keepalive_keep(fd, l->pool, l->ref,
                                (apr_uint32_t)l->ext->keepalive);
}

tf_outcome_e tf_lease_take_external(request_rec *r, const tf_dir_conf_t *dc,
                                    const tf_external_t *x,
                                    apr_int32_t avoid, tf_lease_t *l)
{
    tf_table_t *t = tf_shm_table(rt_shm);
    apr_time_t now = apr_time_now();
    tf_limit_e limit = TF_LIMIT_NONE;
    apr_int32_t waiter = -1;
    char last[TF_POOL_NAME_LEN];
    apr_uint32_t seq;
    int waited = 0;
    tf_acq_e a;

    memset(l, 0, sizeof(*l));
    l->holder = rt_self ? rt_self : getpid();
    l->ext = x;
    l->fd = -1;
    if ((l->pool = x->pool) < 0) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, TFLOGNO(00447)
                      "TracFcgiExternalServer %s: it has no place in the "
                      "process table (see the startup log); answering %d",
                      *x->url ? x->url : "/", UNAVAILABLE);
        return TF_OUT_UNAVAILABLE;
    }
    /* a connection this child kept (not for a replay: a fresh one) */
    if (x->keepalive && avoid < 0 && reuse_kept(r, l)) {
        return TF_OUT_NONE;
    }
    seq = t->hdr->shed_seq;
    tf_shm_lock(rt_shm);
    a = tf_pool_req_acquire_other(t, l->pool, l->holder, now, avoid,
                                  &l->ref, &waiter);
    if (a == TF_ACQ_WAIT && t->hdr->shed_seq != seq) {
        /* an idle kept connection is asked to make room: its owner's
         * closer wakes (it takes the lock; the futex wake needs none) */
        tf_shm_shed_wake(rt_shm);
    }
    if (a == TF_ACQ_WAIT) {
        a = wait_turn(r, dc, l, waiter, limit, now);
        waited = 1;
    }
    if (a == TF_ACQ_PROC) {
        lease_fill_external(l, &t->procs[l->ref.idx]);
        note_request(&t->procs[l->ref.idx], r);
    }
    else if (a == TF_ACQ_ALL_DOWN) {
        apr_cpystrn(last, t->pools[l->pool].last_error, sizeof(last));
    }
    tf_shm_unlock(rt_shm);

    switch (a) {
    case TF_ACQ_PROC:
        return TF_OUT_NONE;
    case TF_ACQ_ALL_DOWN:
        return all_down(r, x, last);
    default: /* TF_ACQ_QUEUE_FULL */
        ap_log_rerror(APLOG_MARK, APLOG_WARNING, 0, r, TFLOGNO(00448)
                      "TracFcgiExternalServer %s: %s; answering %d",
                      *x->url ? x->url : "/",
                      waited ? apr_psprintf(r->pool, "no connection free "
                                            "within TracFcgiQueueTimeout %ds",
                                            dc->queue_timeout)
                             : "every connection is busy and the request "
                               "queue is full",
                      UNAVAILABLE);
        return TF_OUT_UNAVAILABLE;
    }
}

void tf_lease_give_back(request_rec *r, tf_lease_t *l, int how,
                        const char *err)
{
    tf_table_t *t = tf_shm_table(rt_shm);
    apr_time_t now = apr_time_now();
    int flags;
    pid_t pm = 0;

    tf_shm_lock(rt_shm);
    if (how == TF_RELEASE_DOWN && l->ext) {
        tf_pool_req_ext_error(t, l->ref, err, now);
    }
    flags = tf_pool_req_release(t, l->ref, how, l->holder, now);
    if (flags & TF_WAKE_PM) {
        pm = t->hdr->pm_pid;
    }
    tf_shm_unlock(rt_shm);
    if (pm) {
        tf_ipc_wake_pm(pm);
    }
    if (flags & TF_WENT_DOWN) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, TFLOGNO(00449)
                      "TracFcgiExternalServer %s: FastCGI server %s is "
                      "down (%s); no request goes to it until a probe "
                      "answers, every %d s%s",
                      *l->ext->url ? l->ext->url : "/", l->peer.addr, err,
                      l->ext->check,
                      (flags & TF_ALL_DOWN) ? "; no address of it is up"
                                            : "");
    }
}
