/*
 * pm_parent.c: the process manager as the httpd parent sees it (see
 * tf_pm.h): at post_config it enters the TracFcgiServer pools in the
 * table, binds the control socket and forks the manager, whose own code is
 * in pm.c; it restarts the manager when it dies, and tells it to drain
 * (graceful restart) or stop (httpd stop) when the configuration goes.
 *
 * Runs in the httpd parent process only: tf_pm_start() at post_config,
 * pm_maint() from the MPM's other_child checks, the cleanups when pconf is
 * cleared. A file of its own, next to pm.c, because the two halves run in
 * different processes and share nothing but tf_pm_daemon.h.
 *
 * It must not: exit (errors go back to post_config); block the parent's
 * main loop (only the stop cleanup waits for the manager, at most
 * PM_STOP_WAIT_MS); keep the table lock across anything but bookkeeping;
 * start backends (the manager alone does).
 *
 * Lifetime: the record lives in the process pool, not pconf, because a
 * manager outlives its configuration on a graceful restart: pconf's
 * cleanup then tells it to drain (SIGUSR1) and returns at once, and the
 * manager exits by itself once the old generation's requests are done. On
 * stop the cleanup stops it (SIGTERM) and waits for it, so that nothing it
 * started outlives httpd.
 */
#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "apr_strings.h"
#include "apr_thread_proc.h"
#include "ap_mpm.h"
#include "http_core.h"
#include "http_main.h"
#include "unixd.h"

#include "tf_pm.h"
#include "tf_pm_daemon.h"
#include "tf_private.h"
#include "tf_spec.h"

#define PM_STOP_WAIT_MS 5000

/* Parent-side record, for restarts by other_child. */
typedef struct {
    tf_pm_args_t args;     /* what each manager forked gets */
    apr_proc_t *proc;      /* the current manager process */
    int draining;          /* its generation is over */
} pm_parent_t;

static apr_status_t fork_pm(pm_parent_t *pp);

static void pm_maint(int reason, void *data, apr_wait_t status)
{
    pm_parent_t *pp = data;
    int mpm_state = AP_MPMQ_STOPPING;
    char how[96];

    switch (reason) {
    case APR_OC_REASON_DEATH:
    case APR_OC_REASON_LOST:
        apr_proc_other_child_unregister(pp);
        if (pp->draining) {
            ap_log_error(APLOG_MARK, APLOG_INFO, 0, ap_server_conf,
                         TFLOGNO(00117) "process manager pid=%d of an "
                         "earlier generation has drained and exited",
                         (int)pp->proc->pid);
            break;
        }
        ap_mpm_query(AP_MPMQ_MPM_STATE, &mpm_state);
        if (mpm_state == AP_MPMQ_STOPPING) {
            break;
        }
        if (reason == APR_OC_REASON_DEATH && WIFEXITED(status)
            && WEXITSTATUS(status) == TF_PM_STARTUP_ERROR) {
            ap_log_error(APLOG_MARK, APLOG_CRIT, 0, ap_server_conf,
                         TFLOGNO(00115) "process manager failed to start; "
                         "not restarting it (see the lines above)");
            break;
        }
        if (WIFSIGNALED(status)) {
            apr_snprintf(how, sizeof(how), "killed by signal %d",
                         WTERMSIG(status));
        }
        else {
            apr_snprintf(how, sizeof(how), "exit status %d",
                         WEXITSTATUS(status));
        }
        ap_log_error(APLOG_MARK, APLOG_ERR, 0, ap_server_conf,
                     TFLOGNO(00116) "process manager pid=%d died (%s); "
                     "restarting it", (int)pp->proc->pid, how);
        fork_pm(pp);
        break;
    default:
        break;
    }
}

static apr_status_t pm_pconf_cleanup(void *data)
{
    pm_parent_t *pp = data;
    int i;
    apr_exit_why_e why;
    int code;

    if (!pp->proc || pp->draining) {
        return APR_SUCCESS;
    }
    /* httpd clears pconf for a restart while the MPM state still says
     * STOPPING; only an exit sets the main state to EXITING */
    if (ap_state_query(AP_SQ_MAIN_STATE) != AP_SQ_MS_EXITING) {
        /* a restart: the old generation's children may still be using
         * our backends; the manager stops them once idle, then exits */
        pp->draining = 1;
        kill(pp->proc->pid, SIGUSR1);
        return APR_SUCCESS;
    }
    apr_proc_other_child_unregister(pp);
    kill(pp->proc->pid, SIGTERM);
    for (i = 0; i < PM_STOP_WAIT_MS / 20; i++) {
        if (apr_proc_wait(pp->proc, &code, &why, APR_NOWAIT)
            != APR_CHILD_NOTDONE) {
            return APR_SUCCESS;
        }
        apr_sleep(apr_time_from_msec(20));
    }
    kill(pp->proc->pid, SIGKILL);
    apr_proc_wait(pp->proc, &code, &why, APR_WAIT);
    return APR_SUCCESS;
}

static apr_status_t fork_pm(pm_parent_t *pp)
{
    apr_proc_t *proc = pp->proc;
    apr_status_t rv;

    if (!proc) {
        proc = apr_pcalloc(pp->args.s->process->pool, sizeof(*proc));
    }
    rv = apr_proc_fork(proc, pp->args.pconf);
    if (rv == APR_INCHILD) {
        /* _exit: the parent's pool cleanups (pconf's subprocesses, other
         * modules' daemons) are not ours to run */
        _exit(tf_pm_daemon_run(&pp->args));
    }
    if (rv != APR_INPARENT) {
        return rv;
    }
    pp->proc = proc;
    apr_proc_other_child_register(proc, pm_maint, pp, NULL,
                                  pp->args.s->process->pool);
    return APR_SUCCESS;
}

static apr_status_t close_control(void *data)
{
    pm_parent_t *pp = data;

    if (pp->args.ctl_fd >= 0) {
        close(pp->args.ctl_fd);
        pp->args.ctl_fd = -1;
    }
    return APR_SUCCESS;
}

/* Bind the control socket in the parent, before any manager or child
 * exists: owned by User, mode 0600, in the 0700 socket directory. */
static apr_status_t open_control(pm_parent_t *pp)
{
    const char *path = pp->args.ctl_path;
    struct sockaddr_un sa;
    int fd;

    memset(&sa, 0, sizeof(sa));
    sa.sun_family = AF_UNIX;
    apr_cpystrn(sa.sun_path, path, sizeof(sa.sun_path));
    unlink(path);
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        return errno;
    }
    if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0
        || chmod(path, 0600) < 0
        || (geteuid() == 0
            && chown(path, ap_unixd_config.user_id,
                     ap_unixd_config.group_id) < 0)
        || listen(fd, 511) < 0) {
        apr_status_t rv = errno;

        close(fd);
        return rv;
    }
    pp->args.ctl_fd = fd;
    return APR_SUCCESS;
}

/* The pool of TracFcgiServer @sd: found, or created and described for the
 * status page (as a request that creates a pool does: src/lease.c).
 * @return its index, or -1 when the pool table is full. */
static int find_or_create_pool(tf_shm_t *shm, tf_spec_declared_t *sd,
                               apr_time_t now, int *created)
{
    tf_table_t *t = tf_shm_table(shm);
    tf_pool_desc_t d = {sd->spec.uid, sd->spec.gid, sd->script, sd->vhost,
                        sd->env_summary};
    int pool;

    tf_shm_lock(shm);
    pool = tf_pool_find_or_create(t, sd->spec.key, &sd->spec.lim,
                                  sd->spec.name, &d, now, created);
    tf_shm_unlock(shm);
    return pool;
}

/* Enter the TracFcgiServer pools in the table before anything runs. */
static void declare_pools(pm_parent_t *pp)
{
    apr_array_header_t *declared = pp->args.declared;
    apr_time_t now = apr_time_now();
    int i;

    for (i = 0; declared && i < declared->nelts; i++) {
        tf_spec_declared_t *sd = &APR_ARRAY_IDX(declared, i,
                                                tf_spec_declared_t);
        int pool, created;

        pool = find_or_create_pool(pp->args.shm, sd, now, &created);
        if (created && sd->suexec_dropped) {
            ap_log_error(APLOG_MARK, APLOG_WARNING, 0, pp->args.s,
                         TFLOGNO(00123) TF_SUEXEC_DROPPED_FMT, sd->spec.name,
                         sd->suexec_dropped);
        }
        sd->spec.pool = pool;
        if (pool < 0) {
            ap_log_error(APLOG_MARK, APLOG_ERR, 0, pp->args.s, TFLOGNO(00121)
                         "TracFcgiServer %s: the pool table is full",
                         sd->script);
        }
    }
}

apr_status_t tf_pm_start(apr_pool_t *pconf, server_rec *s, tf_shm_t *shm,
                         const char *sock_dir, const char *ctl_path,
                         apr_uint32_t generation,
                         apr_array_header_t *declared)
{
    pm_parent_t *pp = apr_pcalloc(s->process->pool, sizeof(*pp));
    apr_status_t rv;

    pp->args.pconf = pconf;
    pp->args.s = s;
    pp->args.shm = shm;
    pp->args.sock_dir = sock_dir;
    pp->args.ctl_path = ctl_path;
    pp->args.gen = generation;
    pp->args.ctl_fd = -1;
    pp->args.declared = declared;
    declare_pools(pp);
    if ((rv = open_control(pp)) != APR_SUCCESS) {
        ap_log_error(APLOG_MARK, APLOG_STARTUP | APLOG_EMERG, rv, s,
                     TFLOGNO(00112) "cannot listen on the control socket %s",
                     ctl_path);
        return rv;
    }
    /* registered first, so run last: after the manager was told */
    apr_pool_cleanup_register(pconf, pp, close_control,
                              apr_pool_cleanup_null);
    apr_pool_cleanup_register(pconf, pp, pm_pconf_cleanup,
                              apr_pool_cleanup_null);
    return fork_pm(pp);
}
