/*
 * pm.c: the process manager daemon (see tf_pm.h).
 *
 * Runs in the manager process only, which the httpd parent forks at
 * post_config and restarts when it dies (pattern of mod_cgid's daemon;
 * that side is pm_parent.c, and tf_pm_daemon.h is all the two share). It
 * drops to the httpd User at once, and it never sees a request.
 *
 * Threads: the main thread runs a poll() loop over the control socket, a
 * self-pipe fed by signal handlers (SIGCHLD, SIGUSR2 "a process awaits
 * stopping", SIGUSR1 "drain", SIGTERM "shut down") and the backends'
 * stdout/stderr pipes;
 * once a second (and on SIGUSR2) it scans the table to stop idle, retired
 * and broken processes (which ones, and how, is tf_pool_pm_stop_policy()
 * in pool.c; the scan acts on it). Each spawn request gets a short-lived
 * thread that forks the backend, probes it and answers the requesting
 * httpd thread, so a slow-starting application never delays the others.
 *
 * Table lock: taken for bookkeeping only. Fork, the readiness probe,
 * signals, liveness checks (/proc), stat and unlink, and logging happen
 * outside it: what to act on is collected under the lock and acted on
 * after, by pid or path (a slot may be reused meanwhile).
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "apr_strings.h"
#include "apr_thread_proc.h"
#include "ap_listen.h"
#include "mpm_common.h"
#include "unixd.h"

#include "tf_ipc.h"
#include "tf_pm_daemon.h"
#include "tf_private.h"
#include "tf_backend.h"
#include "tf_health.h"
#include "tf_spawn.h"
#include "tf_spec.h"
#include "tf_trac_ini.h"

#define TICK_MS 1000
#define SHUTDOWN_WAIT_MS 1500
#define MAX_PIPES_PENDING 256
#define MAX_EXITS 64
#define DRAIN_MAX_SEC 600   /* an old generation's requests end by then */

typedef struct {
    int fd;
    pid_t pid;
    apr_size_t used;
    char buf[2048];
} out_pipe_t;

typedef struct {
    server_rec *s;
    apr_pool_t *pool;      /* pm lifetime, main thread only */
    tf_shm_t *shm;
    tf_table_t *t;
    const char *sock_dir;
    const char *ctl_path;
    apr_uint32_t gen;
    int ctl_fd;
    int sig_r, sig_w;      /* self-pipe */
    apr_array_header_t *pipes; /* out_pipe_t *, main thread only */

    int keep_root;         /* saved uid 0, to signal suexec'd backends */
    pthread_mutex_t priv_mu; /* held while euid is 0, and across fork */
    int no_more_forks;       /* shutting down: guarded by priv_mu */
    pthread_mutex_t spec_mu;   /* guards specs and spec_pool */
    tf_spawn_spec_t **specs;   /* by pool index: see remember_spec() */
    apr_time_t *mtimes;        /* by pool index: the script's, when seen */
    apr_pool_t *spec_pool;
    apr_pool_t *scratch;       /* main thread, cleared every tick */
    pthread_mutex_t mu;    /* guards the two rings below */
    struct {
        int fd;
        pid_t pid;
    } pending[MAX_PIPES_PENDING];
    int n_pending;
    struct {
        pid_t pid;
        int status;
    } exits[MAX_EXITS];    /* recent exits of processes not in the table
                            * yet (or STARTING), for startup diagnosis */
    int exits_next;
} pm_t;

static int sig_fd = -1; /* write end of the self-pipe, for handlers */

static void on_signal(int sig)
{
    char c = sig == SIGCHLD   ? 'C'
             : sig == SIGUSR2 ? 'U'
             : sig == SIGUSR1 ? 'D'
                              : 'T';
    int saved = errno;

    if (write(sig_fd, &c, 1) < 0) {
        /* the pipe is full: a wake-up is pending anyway */
    }
    errno = saved;
}

/* --- Privileges --------------------------------------------------------- */

/* The PM runs as User. With suexec, backends run as other users, whom User
 * may not signal: the PM then keeps 0 as its saved uid and takes it back
 * for the kill() alone (as mod_fcgid does). The fork of a backend holds
 * the same mutex, so no backend is ever forked with euid 0. */
static int drop_privileges(pm_t *pm)
{
    if (geteuid() != 0) {
        return OK;
    }
    if (!ap_unixd_config.suexec_enabled) {
        return ap_run_drop_privileges(pm->pool, pm->s);
    }
    if (setgid(ap_unixd_config.group_id) < 0
        || initgroups(ap_unixd_config.user_name, ap_unixd_config.group_id) < 0
        || setresuid(ap_unixd_config.user_id, ap_unixd_config.user_id, 0)
               < 0) {
        return HTTP_INTERNAL_SERVER_ERROR;
    }
    pm->keep_root = 1;
    return OK;
}

static void pm_kill(pm_t *pm, pid_t pid, int sig)
{
    if (kill(pid, sig) == 0 || errno != EPERM || !pm->keep_root) {
        return;
    }
    pthread_mutex_lock(&pm->priv_mu);
    if (seteuid(0) == 0) {
        kill(pid, sig);
        if (seteuid(ap_unixd_config.user_id) < 0) {
            /* cannot happen: the saved uid allows it; stop rather than
             * go on with euid 0 */
            _exit(TF_PM_STARTUP_ERROR);
        }
    }
    pthread_mutex_unlock(&pm->priv_mu);
}

/* --- Exit status bookkeeping --------------------------------------------- */

static const char *describe_status(apr_pool_t *p, int status)
{
    if (WIFEXITED(status)) {
        return apr_psprintf(p, "exit status %d", WEXITSTATUS(status));
    }
    if (WIFSIGNALED(status)) {
        return apr_psprintf(p, "killed by signal %d (%s)", WTERMSIG(status),
                            strsignal(WTERMSIG(status)));
    }
    return apr_psprintf(p, "wait status 0x%x", status);
}

static void note_exit(pm_t *pm, pid_t pid, int status)
{
    pthread_mutex_lock(&pm->mu);
    pm->exits[pm->exits_next].pid = pid;
    pm->exits[pm->exits_next].status = status;
    pm->exits_next = (pm->exits_next + 1) % MAX_EXITS;
    pthread_mutex_unlock(&pm->mu);
}

/* @return 1 and the status if @pid was reaped recently. */
static int find_exit(pm_t *pm, pid_t pid, int *status)
{
    int i, found = 0;

    pthread_mutex_lock(&pm->mu);
    for (i = 0; i < MAX_EXITS; i++) {
        if (pm->exits[i].pid == pid) {
            *status = pm->exits[i].status;
            found = 1;
            break;
        }
    }
    pthread_mutex_unlock(&pm->mu);
    return found;
}

/* Alive and not a zombie (a process we cannot reap: adopted). */
static int process_alive(pid_t pid)
{
    char path[64], buf[256], *rp;
    FILE *f;
    int alive = 1;

    if (pid <= 0 || (kill(pid, 0) < 0 && errno == ESRCH)) {
        return 0;
    }
    apr_snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
    if ((f = fopen(path, "r")) != NULL) {
        if (fgets(buf, sizeof(buf), f) && (rp = strrchr(buf, ')')) != NULL
            && rp[1] == ' ' && (rp[2] == 'Z' || rp[2] == 'X')) {
            alive = 0;
        }
        fclose(f);
    }
    return alive;
}

/* --- Spawning ------------------------------------------------------------ */

typedef struct {
    pm_t *pm;
    int fd;               /* a request's connection, or -1: the PM's own
                           * spawn (TracFcgiMinProcesses) */
    tf_proc_ref_t ref;    /* with fd == -1: the slot reserved */
    int pool;
} spawn_job_t;

/* Specs of the pools seen, by pool index, so that the manager can keep
 * TracFcgiMinProcesses running without a request asking. Deep copies in
 * spec_pool, guarded by spec_mu. */
/* A NULL-terminated string list, copied into @p (NULL stays NULL). */
static const char *const *strv_dup(apr_pool_t *p, const char *const *in)
{
    const char **v;
    int n, i;

    if (!in) {
        return NULL;
    }
    for (n = 0; in[n]; n++) {
    }
    v = apr_pcalloc(p, sizeof(char *) * (apr_size_t)(n + 1));
    for (i = 0; i < n; i++) {
        v[i] = apr_pstrdup(p, in[i]);
    }
    return v;
}

static tf_spawn_spec_t *copy_spec(apr_pool_t *p, const tf_spawn_spec_t *in)
{
    tf_spawn_spec_t *out = apr_pmemdup(p, in, sizeof(*in));

    out->name = apr_pstrdup(p, in->name);
    out->cwd = apr_pstrdup(p, in->cwd);
    out->argv = strv_dup(p, in->argv);
    out->env = strv_dup(p, in->env);
    out->watch = strv_dup(p, in->watch);
    return out;
}

/* The script a spec runs: argv[0], or under suexec cwd/argv[3]. */
static const char *script_of(apr_pool_t *p, const tf_spawn_spec_t *spec)
{
    if (strcmp(spec->argv[0], SUEXEC_BIN) == 0 && spec->argv[1]
        && spec->argv[2] && spec->argv[3]) {
        return apr_pstrcat(p, spec->cwd, "/", spec->argv[3], NULL);
    }
    return spec->argv[0];
}

/* @path's modification time, and for a directory those of what it holds
 * too (one level: a plugin dropped in, or replaced): the newest goes to
 * *best, its path to *what. */
static void newest(apr_pool_t *p, const char *path, apr_time_t *best,
                   const char **what)
{
    apr_finfo_t fi;
    apr_dir_t *d;

    if (apr_stat(&fi, path, APR_FINFO_MTIME | APR_FINFO_TYPE, p)
        != APR_SUCCESS) {
        return;
    }
    if (fi.mtime > *best) {
        *best = fi.mtime;
        *what = path;
    }
    if (fi.filetype != APR_DIR || apr_dir_open(&d, path, p) != APR_SUCCESS) {
        return;
    }
    while (apr_dir_read(&fi, APR_FINFO_NAME | APR_FINFO_MTIME, d)
           == APR_SUCCESS) {
        if (fi.name[0] != '.' && fi.mtime > *best) {
            *best = fi.mtime;
            *what = apr_pstrcat(p, path, "/", fi.name, NULL);
        }
    }
    apr_dir_close(d);
}

/* The [inherit] plugins_dir of the environment @env, absolute (a relative
 * one is relative to its conf/, as Trac reads it), or NULL. */
static const char *inherited_plugins(apr_pool_t *p, const char *env)
{
    const char *conf = apr_pstrcat(p, env, "/conf", NULL);
    char value[1024], *text;
    apr_size_t len = 64 * 1024;
    apr_file_t *f;

    if (apr_file_open(&f, apr_pstrcat(p, conf, "/trac.ini", NULL),
                      APR_FOPEN_READ, 0, p) != APR_SUCCESS) {
        return NULL;
    }
    text = apr_palloc(p, len);
    apr_file_read_full(f, text, len, &len);
    apr_file_close(f);
    if (!tf_trac_ini_value(text, len, "inherit", "plugins_dir", value,
                           sizeof(value))
        || !value[0]) {
        return NULL;
    }
    {
        char real[PATH_MAX];
        const char *dir = value[0] == '/'
                              ? value
                              : apr_pstrcat(p, conf, "/", value, NULL);

        /* "../../shared": the directory it names, for the log line */
        return realpath(dir, real) ? apr_pstrdup(p, real) : NULL;
    }
}

/* What TracFcgiReloadOnChange watches of @spec (README, Directives): its
 * script; with TRAC_ENV, the environment's plugins/ and the [inherit]
 * plugins_dir of its trac.ini, and what each holds; the paths the
 * directive names, and what each directory of them holds.
 * @param[out] what  the path of the newest change.
 * @return that change's time, or 0 when nothing is there. */
static apr_time_t watched_mtime(apr_pool_t *p, const tf_spawn_spec_t *spec,
                                const char **what)
{
    apr_time_t best = 0;
    const char *inherit;
    int i;

    *what = NULL;
    newest(p, script_of(p, spec), &best, what);
    for (i = 0; spec->env[i]; i++) {
        if (strncmp(spec->env[i], "TRAC_ENV=", 9) == 0) {
            newest(p, apr_pstrcat(p, spec->env[i] + 9, "/plugins", NULL),
                   &best, what);
            if ((inherit = inherited_plugins(p, spec->env[i] + 9))) {
                newest(p, inherit, &best, what);
            }
        }
    }
    for (i = 0; spec->watch && spec->watch[i]; i++) {
        newest(p, spec->watch[i], &best, what);
    }
    return best;
}

static void remember_spec(pm_t *pm, const tf_spawn_spec_t *spec)
{
    const char *what;
    apr_pool_t *tmp;

    if (spec->pool < 0 || (apr_uint32_t)spec->pool >= pm->t->hdr->n_pools) {
        return;
    }
    /* spawn threads come here too: a pool of this call's own */
    apr_pool_create(&tmp, NULL);
    pthread_mutex_lock(&pm->spec_mu);
    if (!pm->specs[spec->pool] || pm->specs[spec->pool]->key != spec->key) {
        pm->specs[spec->pool] = copy_spec(pm->spec_pool, spec);
        pm->mtimes[spec->pool] = watched_mtime(tmp, spec, &what);
    }
    pthread_mutex_unlock(&pm->spec_mu);
    apr_pool_destroy(tmp);
}

static const tf_spawn_spec_t *known_spec(pm_t *pm, int pool, apr_pool_t *p)
{
    const tf_spawn_spec_t *spec = NULL;

    pthread_mutex_lock(&pm->spec_mu);
    if (pm->specs[pool]) {
        spec = copy_spec(p, pm->specs[pool]);
    }
    pthread_mutex_unlock(&pm->spec_mu);
    return spec;
}

static void pass_pipe(pm_t *pm, int fd, pid_t pid)
{
    char c = 'P';

    pthread_mutex_lock(&pm->mu);
    if (pm->n_pending < MAX_PIPES_PENDING) {
        pm->pending[pm->n_pending].fd = fd;
        pm->pending[pm->n_pending].pid = pid;
        pm->n_pending++;
        fd = -1;
    }
    pthread_mutex_unlock(&pm->mu);
    if (fd >= 0) {
        close(fd); /* cannot happen in practice: 256 spawns in one tick */
    }
    if (write(pm->sig_w, &c, 1) < 0) {
        /* a wake-up is pending anyway */
    }
}

/* One warn line per back-off step: why, and for how long. */
static void log_backoff(pm_t *pm, int pool)
{
    char name[TF_POOL_NAME_LEN];
    apr_uint32_t streak;
    apr_time_t until;

    tf_shm_lock(pm->shm);
    apr_cpystrn(name, pm->t->pools[pool].name, sizeof(name));
    streak = pm->t->pools[pool].fail_streak;
    until = pm->t->pools[pool].backoff_until;
    tf_shm_unlock(pm->shm);
    ap_log_error(APLOG_MARK, APLOG_WARNING, 0, pm->s, TFLOGNO(00119)
                 "pool %s: its backends keep failing (%u in a row, each "
                 "dying before it served a request); starting none for %"
                 APR_TIME_T_FMT " s, requests meanwhile get 503 (crash-loop "
                 "back-off)", name, streak,
                 apr_time_sec(until - apr_time_now() + apr_time_from_msec(500)));
}

static void spawn_fail(pm_t *pm, const tf_spawn_spec_t *spec,
                       const char *why)
{
    int flags;

    tf_shm_lock(pm->shm);
    tf_pool_note_error(pm->t, spec->pool, why, apr_time_now());
    flags = tf_pool_pm_spawn_failed(pm->t, spec->ref, apr_time_now());
    tf_shm_unlock(pm->shm);
    if (flags & TF_BACKOFF) {
        log_backoff(pm, spec->pool);
    }
}

/* Take the STARTING slot of @spec for this manager.
 * @return 1, or 0 with @reply filled: the request is stale. */
static int claim_slot(pm_t *pm, const tf_spawn_spec_t *spec,
                      tf_ipc_reply_t *reply)
{
    int valid;

    tf_shm_lock(pm->shm);
    valid = tf_pool_pm_spawn_claim(pm->t, spec->ref, spec->pool, spec->key,
                                   getpid());
    tf_shm_unlock(pm->shm);
    if (!valid) {
        reply->status = APR_EINVAL;
        apr_cpystrn(reply->msg, "stale spawn request (slot reused)",
                    sizeof(reply->msg));
    }
    return valid;
}

/* Fork the backend of @spec listening on @sock_path, and enter it in the
 * table. @return APR_SUCCESS with @pid set, or the error, logged, counted
 * and in @reply. */
static apr_status_t fork_backend(pm_t *pm, const tf_spawn_spec_t *spec,
                                 const char *sock_path, pid_t *pid,
                                 tf_ipc_reply_t *reply)
{
    apr_status_t rv;
    int out_fd = -1;

    /* the socket is bound and the process forked and entered in the
     * table in one hold of priv_mu: shutdown_all() takes it too, so a
     * backend either is in the table it stops, or never starts */
    pthread_mutex_lock(&pm->priv_mu);
    if (pm->no_more_forks) {
        pthread_mutex_unlock(&pm->priv_mu);
        apr_cpystrn(reply->msg, "the process manager is shutting down",
                    sizeof(reply->msg));
        reply->status = APR_EGENERAL;
        spawn_fail(pm, spec, reply->msg);
        return APR_EGENERAL;
    }
    rv = tf_spawn_backend(spec, sock_path, pid, &out_fd, reply->msg,
                          sizeof(reply->msg));
    if (rv == APR_SUCCESS) {
        tf_shm_lock(pm->shm);
        tf_pool_pm_forked(pm->t, spec->ref, *pid, sock_path,
                          apr_time_now());
        tf_shm_unlock(pm->shm);
    }
    pthread_mutex_unlock(&pm->priv_mu);
    if (rv != APR_SUCCESS) {
        ap_log_error(APLOG_MARK, APLOG_ERR, rv, pm->s, TFLOGNO(00101)
                     "pool %s: %s", spec->name, reply->msg);
        reply->status = rv;
        spawn_fail(pm, spec, reply->msg);
        return rv;
    }
    pass_pipe(pm, out_fd, *pid);
    return APR_SUCCESS;
}

/* Is the new backend @pid up? FCGI_GET_VALUES on its socket.
 * @return APR_SUCCESS with @conns (its FCGI_MAX_CONNS, or 1), or why
 *         not. */
static apr_status_t probe_backend(pm_t *pm, const tf_spawn_spec_t *spec,
                                  const char *sock_path, pid_t pid,
                                  apr_uint32_t *conns)
{
    apr_interval_time_t limit = apr_time_from_sec(spec->startup_timeout);
    tf_backend_addr_t addr;
    apr_status_t rv;
    int i;

    tf_backend_addr_unix(&addr, sock_path);
    rv = tf_backend_probe(&addr, limit, conns);
    if (rv == APR_EOF) {
        /* It closed the probe without answering (libfcgi ignores
         * management records): accepting, unless it is dying right now.
         * A second probe tells at once: an accept loop takes it and
         * closes it again; the listening socket of a process that exits
         * refuses or resets it. (A 10 ms look at the process used to
         * decide: every libfcgi backend came up 10 ms later for it.) */
        rv = tf_backend_probe(&addr, limit, conns);
        if (rv == APR_EOF) {
            rv = APR_SUCCESS;
            *conns = 1;
        }
    }
    if (rv == APR_TIMEUP) {
        /* kept the probe without answering: alive, unless it is dying
         * right now; look a moment longer before trusting it */
        for (i = 0; i < 2 && process_alive(pid); i++) {
            apr_sleep(apr_time_from_msec(5));
        }
        if (process_alive(pid)) {
            ap_log_error(APLOG_MARK, APLOG_WARNING, 0, pm->s, TFLOGNO(00102)
                         TF_POOL_BACKEND_MSG(spec->name, pid, " did not "
                         "answer FCGI_GET_VALUES within "
                         "TracFcgiStartupTimeout (%us); using it anyway "
                         "with one connection"), spec->startup_timeout);
            rv = APR_SUCCESS;
            *conns = 1;
        }
    }
    return rv;
}

/* The backend @pid did not come up (@rv): say how it ended, as exactly
 * as the reaper can tell within half a second, in the log and @reply. */
static void startup_failed(pm_t *pm, apr_pool_t *p,
                           const tf_spawn_spec_t *spec,
                           const char *sock_path, pid_t pid, apr_status_t rv,
                           tf_ipc_reply_t *reply)
{
    const char *how = "it stopped accepting connections";
    int i, status = 0;

    /* wait briefly for the reaper to tell how it ended */
    for (i = 0; i < 50; i++) {
        if (find_exit(pm, pid, &status)) {
            how = describe_status(p, status);
            break;
        }
        apr_sleep(apr_time_from_msec(10));
    }
    if (i == 50 && process_alive(pid)) {
        pm_kill(pm, pid, SIGKILL);
    }
    if (strcmp(spec->argv[0], SUEXEC_BIN) == 0 && spec->argv[1]
        && spec->argv[2] && i < 50 && WIFEXITED(status)
        && WEXITSTATUS(status) > 100) {
        /* suexec exits 101-120 when one of its checks refuses */
        apr_snprintf(reply->msg, sizeof(reply->msg),
                     "suexec refused to run %s/%s as %s:%s (%s): its "
                     "log (suexec.log beside the error log) says why",
                     spec->cwd, spec->argv[3], spec->argv[1], spec->argv[2],
                     how);
    }
    else {
        apr_snprintf(reply->msg, sizeof(reply->msg),
                     TF_BACKEND_MSG(pid, " died during startup (%s); its "
                     "stderr, if any, is logged above"), how);
    }
    ap_log_error(APLOG_MARK, APLOG_ERR, rv, pm->s, TFLOGNO(00103)
                 "pool %s: %s", spec->name, reply->msg);
    unlink(sock_path);
    reply->status = rv == APR_SUCCESS ? APR_EGENERAL : rv;
    spawn_fail(pm, spec, reply->msg);
}

/* Start one backend for @spec and fill @reply. */
static void do_spawn(pm_t *pm, apr_pool_t *p, const tf_spawn_spec_t *spec,
                     tf_ipc_reply_t *reply)
{
    char sock_path[TF_SOCK_PATH_LEN];
    apr_time_t t0 = apr_time_now();
    apr_uint32_t conns = 1;
    apr_status_t rv;
    pid_t pid = 0;

    apr_snprintf(sock_path, sizeof(sock_path), "%s/b-%u-%d-%u.sock",
                 pm->sock_dir, pm->gen, spec->ref.idx, spec->ref.seq);
    if (!claim_slot(pm, spec, reply)
        || fork_backend(pm, spec, sock_path, &pid, reply) != APR_SUCCESS) {
        return;
    }
    rv = probe_backend(pm, spec, sock_path, pid, &conns);
    if (rv != APR_SUCCESS) {
        startup_failed(pm, p, spec, sock_path, pid, rv, reply);
        return;
    }
    if (!spec->lim.conns_auto) {
        conns = spec->lim.max_conns; /* configured: the answer is moot */
    }
    else if (conns > spec->lim.max_conns) {
        conns = spec->lim.max_conns;
    }
    tf_shm_lock(pm->shm);
    tf_pool_pm_ready(pm->t, spec->ref, conns, apr_time_now());
    tf_shm_unlock(pm->shm);
    ap_log_error(APLOG_MARK, APLOG_INFO, 0, pm->s, TFLOGNO(00104)
                 TF_POOL_BACKEND_MSG(spec->name, pid, " ready in %"
                 APR_TIME_T_FMT " ms, %u connection(s)"),
                 apr_time_as_msec(apr_time_now() - t0), conns);
    reply->status = APR_SUCCESS;
    reply->pid = pid;
    reply->max_conns = conns;
}

static void *spawn_thread(void *data)
{
    spawn_job_t *job = data;
    pm_t *pm = job->pm;
    tf_spawn_spec_t spec;
    tf_ipc_reply_t reply;
    apr_pool_t *p;
    apr_status_t rv;

    /* a pool with its own allocator: threads never share one */
    if (apr_pool_create_unmanaged_ex(&p, NULL, NULL) != APR_SUCCESS) {
        close(job->fd);
        free(job);
        return NULL;
    }
    memset(&reply, 0, sizeof(reply));
    if (job->fd < 0) {
        const tf_spawn_spec_t *known = known_spec(pm, job->pool, p);

        if (known) {
            spec = *known;
            spec.ref = job->ref;
            do_spawn(pm, p, &spec, &reply);
        }
    }
    else if ((rv = tf_ipc_spawn_read(job->fd, p, &spec)) != APR_SUCCESS) {
        ap_log_error(APLOG_MARK, APLOG_ERR, rv, pm->s, TFLOGNO(00105)
                     "malformed request on the control socket");
    }
    else {
        remember_spec(pm, &spec);
        do_spawn(pm, p, &spec, &reply);
        tf_ipc_reply_write(job->fd, &reply);
    }
    if (job->fd >= 0) {
        close(job->fd);
    }
    free(job); /* malloc'd by the main thread: see accept_spawn() */
    apr_pool_destroy(p);
    return NULL;
}

/* Run one spawn on a thread of its own. @return 0, or -1 (job freed). */
static int start_job(pm_t *pm, int fd, int pool, tf_proc_ref_t ref)
{
    pthread_attr_t attr;
    pthread_t th;
    spawn_job_t *job;
    int rc = 0;

    /* plain malloc: the job crosses threads, and APR pools may not */
    job = malloc(sizeof(*job));
    if (!job) {
        return -1;
    }
    job->pm = pm;
    job->fd = fd;
    job->pool = pool;
    job->ref = ref;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    if (pthread_create(&th, &attr, spawn_thread, job) != 0) {
        ap_log_error(APLOG_MARK, APLOG_ERR, errno, pm->s, TFLOGNO(00106)
                     "cannot create a spawn thread");
        free(job);
        rc = -1;
    }
    pthread_attr_destroy(&attr);
    return rc;
}

static void accept_spawn(pm_t *pm)
{
    tf_proc_ref_t none = {-1, 0};
    int fd = accept4(pm->ctl_fd, NULL, NULL, SOCK_CLOEXEC);

    if (fd >= 0 && start_job(pm, fd, -1, none) < 0) {
        close(fd);
    }
}

static void scan(pm_t *pm);

/* Keep each pool at its TracFcgiMinProcesses, and let waiters of pools
 * whose back-off has ended start processes. Main thread. */
static void keep_minimum(pm_t *pm)
{
    tf_table_t *t = pm->t;
    apr_time_t now = apr_time_now();
    apr_uint32_t i;

    for (i = 0; i < t->hdr->used_pools; i++) {
        tf_proc_ref_t ref[16];
        int have, script_changed = 0, want = 0, changed = 0, j;
        const char *what = NULL, *script = NULL;
        apr_uint64_t spec_key = 0;

        /* the stats, before the table lock: no I/O under it */
        pthread_mutex_lock(&pm->spec_mu);
        have = pm->specs[i] != NULL;
        if (have) {
            spec_key = pm->specs[i]->key;
        }
        if (have && pm->specs[i]->lim.reload) {
            apr_time_t m = watched_mtime(pm->scratch, pm->specs[i], &what);

            if (m && m != pm->mtimes[i]) {
                pm->mtimes[i] = m;
                script_changed = 1;
                script = script_of(pm->scratch, pm->specs[i]);
            }
        }
        pthread_mutex_unlock(&pm->spec_mu);
        tf_shm_lock(pm->shm);
        if (have && t->pools[i].key != spec_key) {
            /* the entry was given to another pool (tf_pool_create()):
             * what we know is the old one's, until a spawn request of
             * the new one tells us its spec */
            have = script_changed = 0;
        }
        if (t->pools[i].n_waiting) {
            tf_pool_pm_grant(t, (int)i, now);
        }
        if (script_changed) {
            changed = tf_pool_pm_retire_all(t, (int)i);
        }
        /* all that are missing at once (a few per tick at most) */
        while (have && !t->hdr->draining && want < 16
               && t->pools[i].n_procs < t->pools[i].lim.min_procs
               && tf_pool_pm_reserve(t, (int)i, now, &ref[want]) == 0) {
            want++;
        }
        tf_shm_unlock(pm->shm);
        if (changed) {
            ap_log_error(APLOG_MARK, APLOG_NOTICE, 0, pm->s, TFLOGNO(00120)
                         "pool %s: %s changed; replacing its %d "
                         "process(es) as their requests end",
                         t->pools[i].name,
                         what && script && strcmp(what, script) != 0
                             ? what : "its script",
                         changed);
            scan(pm);
        }
        for (j = 0; j < want; j++) {
            if (start_job(pm, -1, (int)i, ref[j]) < 0) {
                tf_shm_lock(pm->shm);
                tf_pool_spawn_abandoned(t, ref[j], now);
                tf_shm_unlock(pm->shm);
            }
        }
    }
}

/* --- Backend output ------------------------------------------------------ */

static void log_lines(pm_t *pm, out_pipe_t *op, int flush)
{
    char *start = op->buf, *nl;
    apr_size_t left = op->used;

    while ((nl = memchr(start, '\n', left)) != NULL || (flush && left)) {
        apr_size_t len = nl ? (apr_size_t)(nl - start) : left;

        if (len && start[len - 1] == '\r') {
            len--;
        }
        /* at error, as mod_cgi logs a script's stderr (and TF00410 the
         * FastCGI STDERR stream) */
        ap_log_error(APLOG_MARK, APLOG_ERR, 0, pm->s, TFLOGNO(00107)
                     TF_BACKEND_MSG(op->pid, " stderr: %.*s"), (int)len,
                     start);
        if (!nl) {
            left = 0;
            break;
        }
        left -= (apr_size_t)(nl - start) + 1;
        start = nl + 1;
    }
    memmove(op->buf, start, left);
    op->used = left;
}

static void read_pipe(pm_t *pm, int i)
{
    out_pipe_t *op = APR_ARRAY_IDX(pm->pipes, i, out_pipe_t *);
    ssize_t n = read(op->fd, op->buf + op->used, sizeof(op->buf) - op->used);

    if (n > 0) {
        op->used += (apr_size_t)n;
        /* a line longer than the buffer is logged in pieces */
        log_lines(pm, op, op->used == sizeof(op->buf));
        return;
    }
    if (n < 0 && (errno == EINTR || errno == EAGAIN)) {
        return;
    }
    log_lines(pm, op, 1);
    close(op->fd);
    op->fd = -1;
}

static void take_pending_pipes(pm_t *pm)
{
    int i, j;

    pthread_mutex_lock(&pm->mu);
    for (i = 0; i < pm->n_pending; i++) {
        out_pipe_t *op = NULL;

        for (j = 0; j < pm->pipes->nelts; j++) {
            if (APR_ARRAY_IDX(pm->pipes, j, out_pipe_t *)->fd < 0) {
                op = APR_ARRAY_IDX(pm->pipes, j, out_pipe_t *);
                break;
            }
        }
        if (!op) {
            op = apr_palloc(pm->pool, sizeof(*op));
            APR_ARRAY_PUSH(pm->pipes, out_pipe_t *) = op;
        }
        op->fd = pm->pending[i].fd;
        op->pid = pm->pending[i].pid;
        op->used = 0;
        fcntl(op->fd, F_SETFL, O_NONBLOCK);
    }
    pm->n_pending = 0;
    pthread_mutex_unlock(&pm->mu);
}

/* --- Reaping and stopping ------------------------------------------------ */

static int find_slot(tf_table_t *t, pid_t pid)
{
    apr_uint32_t i;

    for (i = 0; i < t->hdr->n_procs; i++) {
        if (t->procs[i].state != TF_PROC_FREE && t->procs[i].pid == pid) {
            return (int)i;
        }
    }
    return -1;
}

/* A process left the table's view: update it, unlink its socket, log. */
static void process_gone(pm_t *pm, pid_t pid, int status, int have_status)
{
    char sock[TF_SOCK_PATH_LEN], name[TF_POOL_NAME_LEN];
    apr_uint32_t state = TF_PROC_FREE, conns = 0, reason = TF_EXIT_DIED;
    int idx, flags = 0, pool = -1;

    tf_shm_lock(pm->shm);
    idx = find_slot(pm->t, pid);
    if (idx >= 0) {
        tf_proc_ent_t *pr = &pm->t->procs[idx];

        state = pr->state;
        conns = pr->conns;
        pool = pr->pool;
        reason = pr->state == TF_PROC_STOPPING ? pr->exit_reason
                                               : TF_EXIT_DIED;
        apr_cpystrn(sock, pr->sock, sizeof(sock));
        apr_cpystrn(name, pm->t->pools[pool].name, sizeof(name));
        if (state != TF_PROC_STARTING) {
            flags = tf_pool_pm_exited(pm->t, idx, TF_EXIT_DIED,
                                      apr_time_now());
        }
    }
    tf_shm_unlock(pm->shm);
    if (idx < 0 || state == TF_PROC_STARTING) {
        /* its spawn thread reports it */
        return;
    }
    if (flags & TF_BACKOFF) {
        log_backoff(pm, pool);
    }
    if (sock[0]) {
        unlink(sock);
    }
    if (state == TF_PROC_STOPPING) {
        ap_log_error(APLOG_MARK, APLOG_INFO, 0, pm->s, TFLOGNO(00108)
                     TF_POOL_BACKEND_MSG(name, pid, " stopped (%s)%s%s"),
                     reason == TF_EXIT_IDLE      ? "idle timeout"
                     : reason == TF_EXIT_BROKEN  ? "broken connection"
                     : reason == TF_EXIT_RETIRED ? "retired"
                     : reason == TF_EXIT_ORPHANED ? "holder vanished"
                                                 : "shutdown",
                     have_status ? ", " : "",
                     have_status ? describe_status(pm->scratch, status) : "");
    }
    else {
        ap_log_error(APLOG_MARK, APLOG_WARNING, 0, pm->s, TFLOGNO(00109)
                     TF_POOL_BACKEND_MSG(name, pid, " exited on its own "
                     "(%s) %s"),
                     have_status ? describe_status(pm->scratch, status)
                                 : "no longer running",
                     conns ? "while serving a request" : "while idle");
    }
}

static void reap(pm_t *pm)
{
    int status;
    pid_t pid;

    while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
        note_exit(pm, pid, status);
        process_gone(pm, pid, status, 1);
    }
}

/* An httpd child that died mid-request (a crash, a SIGKILL) never gave
 * its connections back: give them back, so that a threaded backend does
 * not lose capacity for good. Liveness is checked outside the lock (it
 * reads /proc); a child is one entry of the table's attach list. */
static void reclaim_dead_children(pm_t *pm)
{
    tf_table_t *t = pm->t;
    apr_uint32_t i, n = t->hdr->n_waiters;
    pid_t *kids = apr_palloc(pm->scratch, n * sizeof(pid_t));
    unsigned *got = apr_pcalloc(pm->scratch, n * sizeof(unsigned));
    int any = 0;

    tf_shm_lock(pm->shm);
    memcpy(kids, t->children, n * sizeof(pid_t));
    tf_shm_unlock(pm->shm);
    for (i = 0; i < n; i++) {
        if (kids[i] && process_alive(kids[i])) {
            kids[i] = 0;
        }
        any |= kids[i] != 0;
    }
    if (!any) {
        return;
    }
    tf_shm_lock(pm->shm);
    for (i = 0; i < n; i++) {
        if (kids[i] && t->children[i] == kids[i]) {
            tf_table_child_detach(t, (int)i, kids[i]);
            tf_pool_pm_reclaim(t, kids[i], apr_time_now(), &got[i]);
        }
    }
    tf_shm_unlock(pm->shm);
    for (i = 0; i < n; i++) {
        if (got[i]) {
            ap_log_error(APLOG_MARK, APLOG_WARNING, 0, pm->s, TFLOGNO(00122)
                         "httpd child pid=%d died holding %u backend "
                         "connection(s); given back (a one-connection "
                         "backend it held is stopped)", (int)kids[i],
                         got[i]);
        }
    }
}

/* Processes of a predecessor (adopted: not ours to reap) that are gone.
 * Looked up under the lock, checked after it: liveness reads /proc.
 * @return how many pids were put in @gone (at most @max). */
static int find_gone_adopted(pm_t *pm, pid_t *gone, int max)
{
    tf_table_t *t = pm->t;
    pid_t *pids = apr_palloc(pm->scratch, sizeof(pid_t) * t->hdr->n_procs);
    apr_uint32_t k, n = 0;
    int n_gone = 0;

    tf_shm_lock(pm->shm);
    for (k = 0; k < t->hdr->n_procs; k++) {
        const tf_proc_ent_t *pr = &t->procs[k];

        if (pr->adopted && pr->state != TF_PROC_FREE
            && pr->state != TF_PROC_STARTING && pr->pid > 0) {
            pids[n++] = pr->pid;
        }
    }
    tf_shm_unlock(pm->shm);
    for (k = 0; k < n && n_gone < max; k++) {
        if (!process_alive(pids[k])) {
            gone[n_gone++] = pids[k];
        }
    }
    return n_gone;
}

static int pid_in(const pid_t *pids, int n, pid_t pid)
{
    int i;

    for (i = 0; i < n; i++) {
        if (pids[i] == pid) {
            return 1;
        }
    }
    return 0;
}

/* Once a second, and when a request asks: stop what must stop. */
static void scan(pm_t *pm)
{
    tf_table_t *t = pm->t;
    apr_time_t now = apr_time_now();
    /* as many as the table holds: a graceful restart may stop them all */
    int max = (int)t->hdr->n_procs;
    pid_t *term = apr_palloc(pm->scratch, sizeof(pid_t) * max);
    pid_t *killp = apr_palloc(pm->scratch, sizeof(pid_t) * max);
    pid_t *gone = apr_palloc(pm->scratch, sizeof(pid_t) * max);
    int n_term = 0, n_kill = 0, n_gone, i;
    apr_uint32_t k, *kept;

    n_gone = find_gone_adopted(pm, gone, max);
    tf_shm_lock(pm->shm);
    /* processes each pool keeps (neither stopping nor gone): the idle
     * timeout never takes a pool below TracFcgiMinProcesses */
    kept = apr_pcalloc(pm->scratch, sizeof(apr_uint32_t)
                                        * (t->hdr->used_pools + 1));
    for (k = 0; k < t->hdr->n_procs; k++) {
        if (t->procs[k].state == TF_PROC_READY
            || t->procs[k].state == TF_PROC_STARTING) {
            kept[t->procs[k].pool]++;
        }
    }
    for (k = 0; k < t->hdr->n_procs; k++) {
        const tf_proc_ent_t *pr = &t->procs[k];
        tf_exit_reason_e why;
        tf_stop_e act;

        if (pr->state == TF_PROC_FREE || pr->state == TF_PROC_STARTING
            || pr->pid <= 0
            || (pr->adopted && pid_in(gone, n_gone, pr->pid))) {
            continue; /* adopted and gone: process_gone() below */
        }
        act = tf_pool_pm_stop_policy(&t->pools[pr->pool], pr,
                                     kept[pr->pool], now, &why);
        if (act == TF_STOP_MARK) {
            tf_pool_pm_stop_idle(t, (int)k, why);
            if (why == TF_EXIT_IDLE) {
                kept[pr->pool]--;
            }
            act = tf_pool_pm_stop_policy(&t->pools[pr->pool], pr,
                                         kept[pr->pool], now, &why);
        }
        if (act == TF_STOP_TERM || act == TF_STOP_KILL) {
            tf_pool_pm_stop_sent(t, (int)k, now);
        }
        if (act == TF_STOP_TERM) {
            term[n_term++] = pr->pid;
        }
        else if (act == TF_STOP_KILL || act == TF_STOP_OVERDUE) {
            killp[n_kill++] = pr->pid;
        }
    }
    tf_shm_unlock(pm->shm);
    for (i = 0; i < n_term; i++) {
        pm_kill(pm, term[i], SIGTERM);
    }
    for (i = 0; i < n_kill; i++) {
        pm_kill(pm, killp[i], SIGKILL);
    }
    for (i = 0; i < n_gone; i++) {
        process_gone(pm, gone[i], 0, 0);
    }
}

/* A manager that (re)starts finds the table of its predecessor: backends
 * it cannot reap (adopted: watched by liveness), and spawns that were cut
 * short (their requesters already got an error). */
static void adopt(pm_t *pm)
{
    pid_t *cut = apr_palloc(pm->scratch, sizeof(pid_t) * pm->t->hdr->n_procs);
    apr_uint32_t n_cut, i;
    int n;

    tf_shm_lock(pm->shm);
    n = tf_pool_pm_take_over(pm->t, getpid(), apr_time_now(), cut, &n_cut);
    tf_shm_unlock(pm->shm);
    /* processes of spawns cut short: nobody waits for them */
    for (i = 0; i < n_cut; i++) {
        pm_kill(pm, cut[i], SIGKILL);
    }
    if (n) {
        ap_log_error(APLOG_MARK, APLOG_NOTICE, 0, pm->s, TFLOGNO(00110)
                     "process manager took over %d running backend(s) of "
                     "its predecessor", n);
    }
}

/* SIGUSR1: httpd restarted with a new configuration, which has its own
 * manager. Ours serves the old generation's requests to their end: from
 * now on a released process is stopped instead of kept, idle ones stop at
 * the next scan, and the manager exits once the table is empty. */
static void start_drain(pm_t *pm)
{
    tf_shm_lock(pm->shm);
    tf_pool_pm_drain(pm->t);
    tf_shm_unlock(pm->shm);
    ap_log_error(APLOG_MARK, APLOG_INFO, 0, pm->s, TFLOGNO(00118)
                 "process manager pid=%d: configuration replaced; stopping "
                 "its backends as their requests end", (int)getpid());
}

/* Drained: no process, nobody queued, and no httpd child of our
 * generation left that could still ask for one (a child that died
 * without detaching is found by its pid, outside the lock: liveness
 * reads /proc). */
static int drained(pm_t *pm)
{
    tf_table_t *t = pm->t;
    apr_uint32_t i, n = t->hdr->n_waiters;
    pid_t *kids = apr_palloc(pm->scratch, n * sizeof(pid_t));
    int empty;

    tf_shm_lock(pm->shm);
    empty = t->hdr->total_procs == 0 && t->hdr->waiting == 0;
    if (empty) {
        memcpy(kids, t->children, n * sizeof(pid_t));
    }
    tf_shm_unlock(pm->shm);
    if (!empty) {
        return 0;
    }
    /* the dead ones up to the first that lives (enough to answer) */
    for (i = 0; i < n; i++) {
        if (kids[i] && process_alive(kids[i])) {
            memset(kids + i, 0, (n - i) * sizeof(pid_t));
            break;
        }
    }
    tf_shm_lock(pm->shm);
    empty = t->hdr->total_procs == 0 && t->hdr->waiting == 0;
    for (i = 0; i < n; i++) {
        if (kids[i]) {
            tf_table_child_detach(t, (int)i, kids[i]);
        }
        empty = empty && t->children[i] == 0;
    }
    tf_shm_unlock(pm->shm);
    return empty;
}

/* The pids of every process in the table; @return how many. */
static apr_uint32_t running_pids(pm_t *pm, pid_t *pids)
{
    tf_table_t *t = pm->t;
    apr_uint32_t k, n = 0;

    tf_shm_lock(pm->shm);
    for (k = 0; k < t->hdr->n_procs; k++) {
        if (t->procs[k].state != TF_PROC_FREE && t->procs[k].pid > 0) {
            pids[n++] = t->procs[k].pid;
        }
    }
    tf_shm_unlock(pm->shm);
    return n;
}

/* Unlink every socket path the table holds (of freed slots too: they
 * keep theirs). The paths are copied under the lock, unlinked after. */
static void unlink_sockets(pm_t *pm)
{
    tf_table_t *t = pm->t;
    char(*socks)[TF_SOCK_PATH_LEN] =
        apr_palloc(pm->scratch, TF_SOCK_PATH_LEN * t->hdr->n_procs);
    apr_uint32_t k, n = 0;

    tf_shm_lock(pm->shm);
    for (k = 0; k < t->hdr->n_procs; k++) {
        if (t->procs[k].sock[0]) {
            memcpy(socks[n++], t->procs[k].sock, TF_SOCK_PATH_LEN);
        }
    }
    tf_shm_unlock(pm->shm);
    for (k = 0; k < n; k++) {
        unlink(socks[k]);
    }
}

/* SIGTERM: stop every backend, give them a moment, then kill. */
static void shutdown_all(pm_t *pm)
{
    tf_table_t *t = pm->t;
    apr_time_t until = apr_time_now() + apr_time_from_msec(SHUTDOWN_WAIT_MS);
    pid_t *pids = apr_palloc(pm->scratch, sizeof(pid_t) * t->hdr->n_procs);
    apr_uint32_t k, n;
    int left;

    /* no spawn thread forks after this, and none is half-way through
     * (socket bound, process not yet in the table): see fork_backend() */
    pthread_mutex_lock(&pm->priv_mu);
    pm->no_more_forks = 1;
    pthread_mutex_unlock(&pm->priv_mu);
    tf_shm_lock(pm->shm);
    for (k = 0; k < t->hdr->n_procs; k++) {
        tf_proc_ent_t *pr = &t->procs[k];

        if (pr->state == TF_PROC_READY && pr->conns == 0 && pr->pid > 0) {
            tf_pool_pm_stop_idle(t, (int)k, TF_EXIT_SHUTDOWN);
        }
    }
    tf_shm_unlock(pm->shm);
    n = running_pids(pm, pids);
    for (k = 0; k < n; k++) {
        pm_kill(pm, pids[k], SIGTERM);
    }
    do {
        reap(pm);
        left = 0;
        n = running_pids(pm, pids);
        for (k = 0; k < n; k++) {
            if (process_alive(pids[k])) {
                left++;
                if (apr_time_now() >= until) {
                    pm_kill(pm, pids[k], SIGKILL);
                }
            }
        }
        if (left) {
            apr_sleep(apr_time_from_msec(20));
        }
    } while (left && apr_time_now() < until + apr_time_from_msec(500));
    reap(pm);
    unlink_sockets(pm);
    unlink(pm->ctl_path);
}

/* --- Main loop ----------------------------------------------------------- */

static void setup_signals(void)
{
    struct sigaction sa;

    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sa.sa_flags = SA_RESTART | SA_NOCLDSTOP;
    sigaction(SIGCHLD, &sa, NULL);
    sigaction(SIGUSR2, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    /* SIGUSR1: our generation is over (graceful restart): drain */
    sigaction(SIGUSR1, &sa, NULL);
    sa.sa_handler = SIG_IGN;
    sa.sa_flags = 0;
    /* httpd signals its process group on restart; those are not for us */
    sigaction(SIGHUP, &sa, NULL);
    sigaction(SIGWINCH, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGPIPE, &sa, NULL);
}

/* The manager's state, before anything runs. */
static void init_pm(pm_t *pm, const tf_pm_args_t *args)
{
    memset(pm, 0, sizeof(*pm));
    pm->s = args->s;
    apr_pool_create(&pm->pool, args->pconf);
    apr_pool_tag(pm->pool, "tf_pm");
    pm->shm = args->shm;
    pm->t = tf_shm_table(args->shm);
    pm->sock_dir = args->sock_dir;
    pm->ctl_path = args->ctl_path;
    pm->gen = args->gen;
    pm->pipes = apr_array_make(pm->pool, 16, sizeof(out_pipe_t *));
    pthread_mutex_init(&pm->mu, NULL);
    pthread_mutex_init(&pm->priv_mu, NULL);
    pthread_mutex_init(&pm->spec_mu, NULL);
    apr_pool_create(&pm->spec_pool, pm->pool);
    apr_pool_tag(pm->spec_pool, "tf_pm_specs");
    apr_pool_create(&pm->scratch, pm->pool);
    apr_pool_tag(pm->scratch, "tf_pm_scratch");
    pm->specs = apr_pcalloc(pm->pool, sizeof(tf_spawn_spec_t *)
                                          * pm->t->hdr->n_pools);
    pm->mtimes = apr_pcalloc(pm->pool,
                             sizeof(apr_time_t) * pm->t->hdr->n_pools);
}

/* Become the manager: privileges, signals, the table of a predecessor,
 * the declared pools. @return OK, or TF_PM_STARTUP_ERROR. */
static int start_pm(pm_t *pm, const tf_pm_args_t *args)
{
    int sp[2], i;

    ap_close_listeners();
    if (drop_privileges(pm) != OK) {
        ap_log_error(APLOG_MARK, APLOG_ALERT, 0, pm->s, TFLOGNO(00111)
                     "process manager could not drop privileges");
        return TF_PM_STARTUP_ERROR;
    }
    if (pipe2(sp, O_CLOEXEC | O_NONBLOCK) < 0) {
        return TF_PM_STARTUP_ERROR;
    }
    pm->sig_r = sp[0];
    pm->sig_w = sig_fd = sp[1];
    setup_signals();
    /* the control socket was bound by the parent: requests that come
     * before we got here wait in its backlog instead of failing */
    pm->ctl_fd = args->ctl_fd;
    adopt(pm);
    for (i = 0; args->declared && i < args->declared->nelts; i++) {
        const tf_spec_declared_t *sd =
            &APR_ARRAY_IDX(args->declared, i, tf_spec_declared_t);

        if (sd->spec.pool >= 0) {
            remember_spec(pm, &sd->spec);
        }
    }
    if (tf_health_start(args->pconf, pm->s, pm->shm) != APR_SUCCESS) {
        ap_log_error(APLOG_MARK, APLOG_CRIT, 0, pm->s, TFLOGNO(00124)
                     "process manager could not start probing the "
                     "TracFcgiExternalServer addresses");
    }
    ap_log_error(APLOG_MARK, APLOG_NOTICE, 0, pm->s, TFLOGNO(00113)
                 "process manager pid=%d started (sockets in %s)",
                 (int)getpid(), pm->sock_dir);
    return OK;
}

/* The main loop's state across passes. */
typedef struct {
    int stopping;            /* SIGTERM came: shut down */
    int draining;            /* SIGUSR1 came: our generation is over */
    apr_time_t drain_until;  /* give up waiting for the drain then */
    apr_time_t next_scan;
    int chld, usr2;          /* this pass: SIGCHLD, SIGUSR2 (or a drain
                              * that began) came */
} loop_t;

/* Read the self-pipe: which signals came. */
static void read_signals(pm_t *pm, loop_t *lp)
{
    char sigs[64];
    ssize_t got;
    int i;

    while ((got = read(pm->sig_r, sigs, sizeof(sigs))) > 0) {
        for (i = 0; i < got; i++) {
            lp->chld |= sigs[i] == 'C';
            lp->usr2 |= sigs[i] == 'U';
            lp->stopping |= sigs[i] == 'T';
            if (sigs[i] == 'D' && !lp->draining) {
                lp->draining = 1;
                lp->drain_until = apr_time_now()
                                  + apr_time_from_sec(DRAIN_MAX_SEC);
                start_drain(pm);
                lp->usr2 = 1;
            }
        }
    }
}

/* Wait, until the next scan at most, for a signal, a spawn request or
 * backend output, and take what came. */
static void poll_once(pm_t *pm, apr_array_header_t *pfds, loop_t *lp)
{
    struct pollfd *pf;
    int i, n, wait_ms;

    apr_array_clear(pfds);
    pf = apr_array_push(pfds);
    pf->fd = pm->sig_r;
    pf->events = POLLIN;
    pf = apr_array_push(pfds);
    pf->fd = pm->ctl_fd;
    pf->events = POLLIN;
    for (i = 0; i < pm->pipes->nelts; i++) {
        pf = apr_array_push(pfds);
        pf->fd = APR_ARRAY_IDX(pm->pipes, i, out_pipe_t *)->fd;
        pf->events = POLLIN;
    }
    wait_ms = (int)apr_time_as_msec(lp->next_scan - apr_time_now());
    n = poll((struct pollfd *)pfds->elts, (nfds_t)pfds->nelts,
             wait_ms < 0 ? 0 : wait_ms > TICK_MS ? TICK_MS : wait_ms);
    if (n <= 0) {
        return;
    }
    pf = (struct pollfd *)pfds->elts;
    if (pf[0].revents & POLLIN) {
        read_signals(pm, lp);
    }
    if (pf[1].revents & POLLIN) {
        accept_spawn(pm);
    }
    for (i = 2; i < pfds->nelts; i++) {
        if (pf[i].revents & (POLLIN | POLLHUP | POLLERR)) {
            read_pipe(pm, i - 2);
        }
    }
}

/* Until SIGTERM, or the end of a drain. */
static void run_loop(pm_t *pm)
{
    apr_array_header_t *pfds;
    loop_t lp;

    memset(&lp, 0, sizeof(lp));
    pfds = apr_array_make(pm->pool, 16, sizeof(struct pollfd));
    while (!lp.stopping) {
        lp.chld = lp.usr2 = 0;
        take_pending_pipes(pm);
        apr_pool_clear(pm->scratch);
        poll_once(pm, pfds, &lp);
        if (lp.chld) {
            reap(pm);
        }
        if (lp.usr2 || apr_time_now() >= lp.next_scan) {
            reclaim_dead_children(pm);
            scan(pm);
            keep_minimum(pm);
            lp.next_scan = apr_time_now() + apr_time_from_msec(TICK_MS);
        }
        if (lp.draining
            && (drained(pm) || apr_time_now() >= lp.drain_until)) {
            break;
        }
    }
}

int tf_pm_daemon_run(const tf_pm_args_t *args)
{
    pm_t pm;
    int rc;

    init_pm(&pm, args);
    if ((rc = start_pm(&pm, args)) != OK) {
        return rc;
    }
    run_loop(&pm);
    ap_log_error(APLOG_MARK, APLOG_INFO, 0, pm.s, TFLOGNO(00114)
                 "process manager pid=%d stopping its backends",
                 (int)getpid());
    shutdown_all(&pm);
    return 0;
}
