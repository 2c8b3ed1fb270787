/*
 * bridge.c: one request, from the handler to the backend and back.
 *
 * Steps: check the script as mod_cgi does; read the whole body (tf_body;
 * with TracFcgiRequestBuffering Off its first 64 KiB, the rest while it
 * is sent); take a backend (idle, new, or after a FIFO wait); send
 * BEGIN_REQUEST, PARAMS and STDIN while reading the answer (poll, both
 * directions, so a backend that answers before reading its input cannot
 * deadlock us); parse the CGI headers with httpd's own parser; stream the
 * body to the client. Memory per request is bounded: one 64 KiB read
 * buffer, the header block, and what the output filters hold.
 *
 * Every failure is an outcome (outcome_e) with one log line; answer()
 * is the one place where an outcome becomes an HTTP status (README
 * "Statuses"): the application's output is not a CGI response 500, as
 * mod_cgi; the gateway failed 502; no backend in time 503 (+ Retry-After);
 * the backend silent past TracFcgiIOTimeout 504.
 *
 * A request is sent to a second backend only when the first cannot have
 * acted on it (may_replay(), as nginx's proxy_next_upstream): connecting
 * failed, or the backend closed before answering and the method is
 * idempotent (RFC 9110 9.2.2); and its whole body is still at hand. A POST
 * whose backend died after taking it gets 502 and never runs twice. Once
 * part of the answer has gone to the client, a failure aborts the
 * connection, so that a truncated answer never looks complete.
 */
#include <errno.h>
#include <stdarg.h>
#include <fcntl.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <unistd.h>

#include "apr_strings.h"
#include "http_core.h"
#include "http_protocol.h"
#include "http_request.h"
#include "util_script.h"

#include "tf_body.h"
#include "tf_cgi_head.h"
#include "tf_bridge.h"
#include "tf_config.h"
#include "tf_fcgi_proto.h"
#include "tf_iobuf.h"
#include "tf_ipc.h"
#include "tf_params.h"
#include "tf_private.h"
#include "tf_spawn.h"
#include "tf_spec.h"

#define IOBUF TF_IOBUF_SIZE
#define MAX_HEADER_BLOCK (256 * 1024) /* response header block, bytes */
#define RETRY_AFTER "5"
#define MAX_IOV 8             /* pieces gathered into one sendmsg() */
#define PASS_BATCH (256 * 1024) /* body bytes gathered before passing on */
#define MIN_ROOM (16 * 1024)  /* a read buffer with less room is done */
#define LET_GO_SECS 2         /* the client is gone: how long a backend
                               * may take to be free again */

static tf_shm_t *rt_shm;      /* set before the children fork */
static const char *rt_ctl;
static pid_t rt_self;         /* this httpd child, set in child_init */

void tf_bridge_runtime_set(tf_shm_t *shm, const char *ctl_path)
{
    rt_shm = shm;
    rt_ctl = ctl_path;
}

void tf_bridge_child_init(void)
{
    rt_self = getpid();
}

/* --- Outcomes and their statuses ----------------------------------------- */

/* How a request ended when the application's answer did not reach the
 * client. Each failure is logged where it is found; answer() alone turns
 * it into a status. */
typedef enum {
    OUT_NONE = 0,     /* no failure */
    OUT_APP_INVALID,  /* the app answered, but not with a CGI response (no
                       * header block, a malformed header, a bad Status, a
                       * bad local redirect): 500, as mod_cgi */
    OUT_INTERNAL,     /* our own failure (memory, the spooled body): 500 */
    OUT_GATEWAY,      /* reaching or reading the backend failed: connect,
                       * protocol violation, closed mid-stream, its own
                       * FCGI_OVERLOADED / FCGI_UNKNOWN_ROLE, a dead backend
                       * not replayed: 502 */
    OUT_UNAVAILABLE,  /* no backend free in time, back-off, suexec refusal,
                       * a full pool table: 503 with Retry-After */
    OUT_TIMEOUT       /* the backend was silent past TracFcgiIOTimeout: 504 */
} outcome_e;

static const int outcome_status[] = {
    OK,                          /* OUT_NONE */
    HTTP_INTERNAL_SERVER_ERROR,  /* OUT_APP_INVALID */
    HTTP_INTERNAL_SERVER_ERROR,  /* OUT_INTERNAL */
    HTTP_BAD_GATEWAY,            /* OUT_GATEWAY */
    HTTP_SERVICE_UNAVAILABLE,    /* OUT_UNAVAILABLE */
    HTTP_GATEWAY_TIME_OUT        /* OUT_TIMEOUT */
};

/* The status of @o, for log lines ("answering 502"). */
#define STATUS_OF(o) outcome_status[(o)]

/* The one mapping from outcome to the status the client gets. A 503 says
 * when to come back: RETRY_AFTER seconds unless the caller knows better
 * (the back-off's end) and set it already. */
static int answer(request_rec *r, outcome_e o)
{
    if (o == OUT_UNAVAILABLE
        && !apr_table_get(r->err_headers_out, "Retry-After")) {
        apr_table_setn(r->err_headers_out, "Retry-After", RETRY_AFTER);
    }
    return outcome_status[o];
}

int tf_bridge_wants(request_rec *r)
{
    apr_size_t n;

    if (!r->handler) {
        return 0;
    }
    if (strcmp(r->handler, "tracfcgi-script") == 0) {
        return 1;
    }
    /* ScriptAlias sets cgi-script: a .fcgi target there is ours */
    if (strcmp(r->handler, "cgi-script") == 0 && r->filename) {
        n = strlen(r->filename);
        return n > 5 && strcmp(r->filename + n - 5, ".fcgi") == 0;
    }
    return 0;
}

/* --- Taking and giving back a backend ------------------------------------ */

typedef struct {
    tf_proc_ref_t ref;
    int pool;
    pid_t pid;
    pid_t holder;         /* this httpd child, as the table knows it */
    apr_uint32_t max_conns; /* connections the process takes */
    char sock[TF_SOCK_PATH_LEN];
} lease_t;

static const char *limit_text(request_rec *r, tf_limit_e l,
                              const tf_pool_ent_t *p, const tf_table_t *t)
{
    switch (l) {
    case TF_LIMIT_POOL:
        return apr_psprintf(r->pool, "TracFcgiMaxProcesses %u",
                            p->lim.max_procs);
    case TF_LIMIT_TOTAL:
        return apr_psprintf(r->pool, "TracFcgiMaxProcessesTotal %u",
                            t->hdr->max_total);
    case TF_LIMIT_SLOTS:
        return "the process table is full";
    default:
        return "every connection of the pool is busy";
    }
}

/* Display fields of a new pool, for the status page. */
static void describe_pool(request_rec *r, const tf_dir_conf_t *dc,
                          const tf_spawn_spec_t *spec, tf_pool_ent_t *p)
{
    p->uid = spec->uid;
    p->gid = spec->gid;
    apr_cpystrn(p->script, r->filename, sizeof(p->script));
    apr_snprintf(p->vhost, sizeof(p->vhost), "%s:%u",
                 r->server->server_hostname ? r->server->server_hostname
                                            : "",
                 r->server->addrs ? (unsigned)r->server->addrs->host_port
                                  : 0u);
    apr_cpystrn(p->env_summary, tf_spec_env_summary(r->pool, dc),
                sizeof(p->env_summary));
}

/* Once per pool, when it is created: what of its spawn environment suexec
 * will strip. (Under the table lock: one log line per pool and
 * configuration generation.) */
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
 * environment; the limits are the first request's). Under the table
 * lock, as warn_suexec_env(). */
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

/* Remember a failure as the pool's last error (status page). */
static void note_error(request_rec *r, int pool, const char *fmt, ...)
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

/* What a request needs of the slot it holds, read under the lock. */
static void lease_fill(lease_t *l, const tf_proc_ent_t *pr)
{
    l->pid = pr->pid;
    l->max_conns = pr->max_conns;
    apr_cpystrn(l->sock, pr->sock, sizeof(l->sock));
}

/* The PM could not start the process: the slot must not stay STARTING.
 * Only when the PM never saw the request; otherwise it frees it itself. */
static void abandon_spawn(lease_t *l, int pm_saw_it)
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

static outcome_e start_backend(request_rec *r, tf_spawn_spec_t *spec,
                               lease_t *l)
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
                      "backend (%s); answering 503", spec->name,
                      APR_STATUS_IS_TIMEUP(rv)
                          ? "no answer within TracFcgiStartupTimeout"
                          : "it is not reachable at its control socket");
        abandon_spawn(l, pm_saw_it);
        note_error(r, l->pool, "process manager did not start a backend");
        return OUT_UNAVAILABLE;
    }
    if (reply.status != APR_SUCCESS) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, reply.status, r, TFLOGNO(00402)
                      "pool %s: could not start a backend: %s; answering "
                      "503", spec->name, reply.msg);
        note_error(r, l->pool, "%s", reply.msg);
        return OUT_UNAVAILABLE;
    }
    tf_shm_lock(rt_shm);
    if (!tf_pool_ref_valid(tf_shm_table(rt_shm), l->ref)) {
        tf_shm_unlock(rt_shm);
        return OUT_UNAVAILABLE;
    }
    lease_fill(l, &tf_shm_table(rt_shm)->procs[l->ref.idx]);
    tf_shm_unlock(rt_shm);
    return OUT_NONE;
}

/* Take a backend of the request's pool: an idle one, a new one, or the
 * first to come free within TracFcgiQueueTimeout. @return OUT_NONE with
 * @l filled, or the failure (logged). */
static outcome_e acquire(request_rec *r, const tf_dir_conf_t *dc,
                   tf_spawn_spec_t *spec, apr_uint64_t key, lease_t *l)
{
    tf_table_t *t = tf_shm_table(rt_shm);
    apr_time_t now = apr_time_now(), deadline;
    tf_limit_e limit = TF_LIMIT_NONE;
    tf_wait_state_e st;
    apr_int32_t waiter = -1;
    tf_acq_e a;
    int pool;

    l->holder = rt_self ? rt_self : getpid();
    tf_shm_lock(rt_shm);
    pool = tf_pool_find(t, key);
    if (pool < 0) {
        pool = tf_pool_create(t, key, &spec->lim, spec->name, now);
        if (pool >= 0) {
            describe_pool(r, dc, spec, &t->pools[pool]);
            warn_suexec_env(r, dc, spec);
        }
    }
    else if (!t->pools[pool].lim_warned
             && !tf_pool_limits_same(t, pool, &spec->lim)) {
        t->pools[pool].lim_warned = 1;
        warn_other_limits(r, spec, &t->pools[pool].lim);
    }
    if (pool < 0) {
        tf_shm_unlock(rt_shm);
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, TFLOGNO(00403)
                      "pool %s: the pool table is full (%u pools); raise "
                      "TracFcgiMaxProcessesTotal; answering 503", spec->name,
                      t->hdr->n_pools);
        return OUT_UNAVAILABLE;
    }
    l->pool = pool;
    spec->key = key;
    a = tf_pool_req_acquire(t, pool, l->holder, now, &l->ref, &waiter,
                            &limit);
    if (a == TF_ACQ_BACKOFF) {
        apr_time_t left = t->pools[pool].backoff_until - now;

        tf_shm_unlock(rt_shm);
        ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, r, TFLOGNO(00406)
                      "pool %s: its backends keep failing at startup "
                      "(crash-loop back-off for %" APR_TIME_T_FMT " more "
                      "s); answering 503", spec->name,
                      apr_time_sec(left) + 1);
        apr_table_setn(r->err_headers_out, "Retry-After",
                       apr_psprintf(r->pool, "%" APR_TIME_T_FMT,
                                    apr_time_sec(left) + 1));
        return OUT_UNAVAILABLE;
    }
    if (a == TF_ACQ_QUEUE_FULL) {
        tf_shm_unlock(rt_shm);
        ap_log_rerror(APLOG_MARK, APLOG_WARNING, 0, r, TFLOGNO(00404)
                      "pool %s: no backend free (%s) and the request queue "
                      "is full; answering 503", spec->name,
                      limit_text(r, limit, &t->pools[pool], t));
        return OUT_UNAVAILABLE;
    }
    if (a == TF_ACQ_WAIT) {
        if ((limit == TF_LIMIT_TOTAL || limit == TF_LIMIT_SLOTS)
            && (tf_pool_req_evict(t, pool) & TF_WAKE_PM)) {
            /* an idle process of another pool gives way; its slot comes
             * to this pool's FIFO when the manager has stopped it */
            tf_ipc_wake_pm(t->hdr->pm_pid);
        }
        deadline = now + apr_time_from_sec(dc->queue_timeout);
        for (;;) {
            apr_status_t rv = tf_shm_wait(rt_shm, waiter, deadline);

            st = tf_pool_req_wait_check(t, pool, waiter, &l->ref);
            if (st == TF_WAIT_GRANTED_PROC) {
                a = TF_ACQ_PROC;
                break;
            }
            if (st == TF_WAIT_GRANTED_SPAWN) {
                a = TF_ACQ_SPAWN;
                break;
            }
            if (rv == APR_TIMEUP) {
                tf_pool_req_wait_cancel(t, pool, waiter);
                tf_pool_note_error(t, pool, "503: no backend free within "
                                   "TracFcgiQueueTimeout", apr_time_now());
                tf_shm_unlock(rt_shm);
                ap_log_rerror(APLOG_MARK, APLOG_WARNING, 0, r, TFLOGNO(00405)
                              "pool %s: no backend free within "
                              "TracFcgiQueueTimeout %ds (limit hit: %s); "
                              "answering 503", spec->name,
                              dc->queue_timeout,
                              limit_text(r, limit, &t->pools[pool], t));
                return OUT_UNAVAILABLE;
            }
        }
        if (apr_time_now() - now > t->pools[pool].longest_wait) {
            t->pools[pool].longest_wait = apr_time_now() - now;
        }
    }
    if (a == TF_ACQ_PROC) {
        lease_fill(l, &t->procs[l->ref.idx]);
        tf_shm_unlock(rt_shm);
        return OUT_NONE;
    }
    tf_shm_unlock(rt_shm);
    return start_backend(r, spec, l);
}

static void release(lease_t *l, int how)
{
    int flags;
    pid_t pm = 0;

    tf_shm_lock(rt_shm);
    flags = tf_pool_req_release(tf_shm_table(rt_shm), l->ref, how,
                                l->holder, apr_time_now());
    if (flags & TF_WAKE_PM) {
        pm = tf_shm_table(rt_shm)->hdr->pm_pid;
    }
    tf_shm_unlock(rt_shm);
    if (pm) {
        tf_ipc_wake_pm(pm);
    }
}

/* --- One exchange with one backend --------------------------------------- */

typedef enum {
    X_DONE = 0,  /* END_REQUEST seen; answer complete */
    X_UNREACHED, /* connecting failed: the request never reached it */
    X_SILENT,    /* it closed before sending a byte: it may have read the
                  * request and acted on it */
    X_FAILED,    /* nothing went to the client: answer x->outcome */
    X_ABORTED,   /* part went to the client: connection aborted */
    X_CLIENT_GONE, /* the client went away mid-answer */
    X_CLIENT_ERROR /* the client failed while its body was streamed:
                    * answer x->status, or abort if part went out */
} xresult_e;

typedef struct {
    request_rec *r;
    const tf_dir_conf_t *dc;
    pid_t pid;
    const char *sock;     /* the backend's listening socket */
    apr_uint32_t max_conns; /* connections it takes */
    int fd;
    tf_body_t *body;

    /* request side */
    unsigned char begin[TF_FCGI_BEGIN_REQUEST_LEN];
    const unsigned char *params;
    apr_size_t params_len;
    int out_phase;        /* 0 begin+params, 1 body, 2 end of stdin, 3 done */
    unsigned char rec[MAX_IOV / 2][TF_FCGI_HEADER_LEN]; /* record headers
                                                         * in flight */
    struct iovec iov[MAX_IOV]; /* what is still to send, in order */
    int iov_n;

    /* response side */
    tf_fcgi_decoder_t dec;
    apr_bucket *rd;       /* the read buffer: a heap bucket owning it,
                           * which body slices share (no copy of the
                           * answer in our process); reads fill it up */
    apr_size_t rd_used;   /* bytes of it filled */
    int got_any;          /* a byte came from the backend */
    int headers_done;
    int discard;          /* body not wanted (redirect, 304) */
    int sent;             /* something was passed to the client */
    char *hdr;            /* header block being gathered */
    apr_size_t hdr_len, hdr_cap;
    apr_off_t cl;         /* backend's Content-Length, -1 if none */
    apr_off_t body_sent;
    apr_size_t pending;   /* body bytes in bb, not passed on yet */
    int read_on;          /* the last recv() brought data: try another
                           * before polling (saves a poll per read) */
    int unflushed;        /* passed on without a FLUSH since the last one */
    apr_bucket_brigade *bb;
    const char *redirect; /* local redirect target */
    int status;           /* 302/304/412 after headers, or the client's
                           * error with X_CLIENT_ERROR */
    outcome_e outcome;    /* with X_FAILED and X_ABORTED: what failed */
    char *errline;        /* STDERR line being gathered */
    apr_size_t errlen;
    int broken;           /* the backend must not serve again */
    int cut;              /* our request ended before its answer did and
                           * the backend did not come free in time */
} xchg_t;

static apr_status_t close_fd(void *data)
{
    int *fd = data;

    if (*fd >= 0) {
        close(*fd);
        *fd = -1;
    }
    return APR_SUCCESS;
}

static apr_status_t connect_backend(xchg_t *x, const char *path)
{
    struct sockaddr_un sa;
    struct timeval tv;

    memset(&sa, 0, sizeof(sa));
    sa.sun_family = AF_UNIX;
    apr_cpystrn(sa.sun_path, path, sizeof(sa.sun_path));
    x->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (x->fd < 0) {
        return errno;
    }
    apr_pool_cleanup_register(x->r->pool, &x->fd, close_fd,
                              apr_pool_cleanup_null);
    if (connect(x->fd, (struct sockaddr *)&sa, sizeof(sa)) == 0) {
        return APR_SUCCESS;
    }
    if (errno != EAGAIN) {
        return errno;
    }
    /* the listen backlog is full (a unix connect cannot be polled for):
     * wait for a place, up to TracFcgiConnectTimeout, blocking */
    tv.tv_sec = x->dc->connect_timeout;
    tv.tv_usec = 0;
    fcntl(x->fd, F_SETFL, 0);
    setsockopt(x->fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    if (connect(x->fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
        return errno == EAGAIN || errno == EINPROGRESS ? APR_TIMEUP : errno;
    }
    fcntl(x->fd, F_SETFL, O_NONBLOCK);
    return APR_SUCCESS;
}

/* Gather into x->iov as much of the request as one sendmsg() can take:
 * BEGIN_REQUEST and PARAMS, STDIN records of the body held in memory, and
 * the empty STDIN that ends it, so that a small request is one system
 * call. A piece read from the spool file is valid only until the next
 * read: gathering stops after it. */
static apr_status_t fill_out(xchg_t *x)
{
    const char *data;
    apr_size_t len;
    apr_status_t rv;
    int stable, nrec = 0;

    if (x->iov_n > 0) {
        return APR_SUCCESS;
    }
    if (x->out_phase == 0) {
        x->iov[0].iov_base = x->begin;
        x->iov[0].iov_len = sizeof(x->begin);
        x->iov[1].iov_base = (void *)x->params;
        x->iov[1].iov_len = x->params_len;
        x->iov_n = 2;
        x->out_phase = 1;
    }
    while (x->out_phase == 1 && x->iov_n + 2 <= MAX_IOV - 1) {
        rv = tf_body_next(x->body, TF_FCGI_MAX_CONTENT, &data, &len,
                          &stable);
        if (rv == APR_EOF || (rv == APR_SUCCESS && len == 0)) {
            x->out_phase = 2;
            break;
        }
        if (rv != APR_SUCCESS) {
            return rv;
        }
        tf_fcgi_header_encode(x->rec[nrec], TF_FCGI_STDIN, 1, len, 0);
        x->iov[x->iov_n].iov_base = x->rec[nrec++];
        x->iov[x->iov_n++].iov_len = TF_FCGI_HEADER_LEN;
        x->iov[x->iov_n].iov_base = (void *)data;
        x->iov[x->iov_n++].iov_len = len;
        if (!stable) {
            return APR_SUCCESS;
        }
    }
    if (x->out_phase == 2) {
        tf_fcgi_header_encode(x->rec[nrec], TF_FCGI_STDIN, 1, 0, 0);
        x->iov[x->iov_n].iov_base = x->rec[nrec];
        x->iov[x->iov_n++].iov_len = TF_FCGI_HEADER_LEN;
        x->out_phase = 3;
    }
    return APR_SUCCESS;
}

/* @return APR_SUCCESS (maybe partial), or the send error. */
static apr_status_t write_some(xchg_t *x)
{
    struct msghdr mh;
    ssize_t n;
    int i;

    memset(&mh, 0, sizeof(mh));
    mh.msg_iov = x->iov;
    mh.msg_iovlen = (size_t)x->iov_n;
    n = sendmsg(x->fd, &mh, MSG_NOSIGNAL);
    if (n < 0) {
        return errno == EAGAIN || errno == EINTR ? APR_SUCCESS : errno;
    }
    /* drop what went out; keep the rest at the front */
    for (i = 0; i < x->iov_n && (apr_size_t)n >= x->iov[i].iov_len; i++) {
        n -= (ssize_t)x->iov[i].iov_len;
    }
    if (i < x->iov_n) {
        x->iov[i].iov_base = (char *)x->iov[i].iov_base + n;
        x->iov[i].iov_len -= (apr_size_t)n;
    }
    memmove(x->iov, x->iov + i, sizeof(x->iov[0]) * (apr_size_t)(x->iov_n - i));
    x->iov_n -= i;
    return APR_SUCCESS;
}

#define STDERR_LINE_MAX 8192 /* a longer line is logged in pieces */

static void log_stderr_line(xchg_t *x, const char *s, apr_size_t n)
{
    if (n && s[n - 1] == '\r') {
        n--;
    }
    if (n) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, x->r, TFLOGNO(00410)
                      "backend pid=%d stderr: %.*s", (int)x->pid, (int)n, s);
    }
}

/* STDERR arrives in pieces of any size, across records: log whole lines. */
static void log_stderr(xchg_t *x, const unsigned char *data, apr_size_t len)
{
    const char *s = (const char *)data, *end = s + len, *nl;

    while (s < end) {
        apr_size_t n, room;

        nl = memchr(s, '\n', (apr_size_t)(end - s));
        n = nl ? (apr_size_t)(nl - s) : (apr_size_t)(end - s);
        if (!x->errline) {
            x->errline = apr_palloc(x->r->pool, STDERR_LINE_MAX);
        }
        room = STDERR_LINE_MAX - x->errlen;
        if (n > room) {
            n = room;
            nl = NULL;
        }
        memcpy(x->errline + x->errlen, s, n);
        x->errlen += n;
        s += n;
        if (nl) {
            s++;
        }
        if (nl || x->errlen == STDERR_LINE_MAX) {
            log_stderr_line(x, x->errline, x->errlen);
            x->errlen = 0;
        }
    }
}

static void flush_stderr(xchg_t *x)
{
    if (x->errlen) {
        log_stderr_line(x, x->errline, x->errlen);
        x->errlen = 0;
    }
}

static int on_stdout(xchg_t *x, const unsigned char *data, apr_size_t len);

/* The exchange cannot go on: remember why. @return FAILED. */
#define FAILED (-1)
static int fail(xchg_t *x, outcome_e o)
{
    x->outcome = o;
    return FAILED;
}

/* RFC 3875 6.2.2: a local redirect is an abs-path [ "?" query ]; a
 * control character or a space in it is no URL (httpd's own parser would
 * take it apart differently than the application meant). */
static int local_url_ok(const char *s)
{
    for (; *s; s++) {
        if ((unsigned char)*s <= 0x20 || (unsigned char)*s == 0x7f) {
            return 0;
        }
    }
    return 1;
}

/* The backend's header block is complete in x->hdr: parse it like mod_cgi.
 * What is not a CGI response is the application's fault, not the
 * gateway's: 500, as mod_cgi answers it. @return OK or FAILED. */
static int parse_headers(xchg_t *x)
{
    request_rec *r = x->r;
    conn_rec *c = r->connection;
    char sbuf[MAX_STRING_LEN];
    const char *location, *cl;
    apr_bucket_brigade *hb;
    int ret;

    hb = apr_brigade_create(r->pool, c->bucket_alloc);
    APR_BRIGADE_INSERT_TAIL(hb, apr_bucket_transient_create(
                                    x->hdr, x->hdr_len, c->bucket_alloc));
    sbuf[0] = '\0';
    ret = ap_scan_script_header_err_brigade_ex(r, hb, sbuf,
                                               APLOG_MODULE_INDEX);
    x->headers_done = 1;
    if (ret == HTTP_NOT_MODIFIED || ret == HTTP_PRECONDITION_FAILED) {
        x->status = ret;
        x->discard = 1;
        return OK;
    }
    if (ret != OK) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, TFLOGNO(00411)
                      "backend pid=%d sent malformed response headers "
                      "(%.200s); answering %d", (int)x->pid, sbuf,
                      STATUS_OF(OUT_APP_INVALID));
        return fail(x, OUT_APP_INVALID);
    }
    if (!ap_is_HTTP_VALID_RESPONSE(r->status)) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, TFLOGNO(00437)
                      "backend pid=%d sent an invalid Status header (%.40s); "
                      "answering %d", (int)x->pid,
                      r->status_line ? r->status_line : "",
                      STATUS_OF(OUT_APP_INVALID));
        r->status = HTTP_OK;
        r->status_line = NULL;
        return fail(x, OUT_APP_INVALID);
    }
    /* never trust the backend's framing: httpd frames the answer itself;
     * a Content-Length is kept, but checked against what really comes */
    apr_table_unset(r->headers_out, "Transfer-Encoding");
    x->cl = -1;
    if ((cl = apr_table_get(r->headers_out, "Content-Length")) != NULL) {
        char *end;
        apr_off_t v;

        if (apr_strtoff(&v, cl, &end, 10) == APR_SUCCESS && *end == '\0'
            && v >= 0) {
            x->cl = v;
        }
        else {
            apr_table_unset(r->headers_out, "Content-Length");
        }
    }
    location = apr_table_get(r->headers_out, "Location");
    if (location && r->status == HTTP_OK) {
        /* as mod_cgi: whatever body comes with a redirect is dropped */
        x->discard = 1;
        if (location[0] == '/') {
            if (!local_url_ok(location)) {
                ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, TFLOGNO(00445)
                              "backend pid=%d sent a local redirect to a "
                              "bad URL (%.80s); answering %d", (int)x->pid,
                              location, STATUS_OF(OUT_APP_INVALID));
                return fail(x, OUT_APP_INVALID);
            }
            x->redirect = location;
        }
        else {
            x->status = HTTP_MOVED_TEMPORARILY;
        }
        return OK;
    }
    /* the rest of the block is the start of the body: it counts against
     * the announced length like everything after it */
    if (!APR_BRIGADE_EMPTY(hb)) {
        char *rest;
        apr_size_t len;

        if (apr_brigade_pflatten(hb, &rest, &len, r->pool) != APR_SUCCESS) {
            return fail(x, OUT_INTERNAL);
        }
        apr_brigade_cleanup(hb);
        return on_stdout(x, (const unsigned char *)rest, len);
    }
    return OK;
}

/* @return 1 if [data, data+len) lies in the buffer of heap bucket @b. */
static int slice_of(apr_bucket *b, const unsigned char *data, apr_size_t len)
{
    const char *base = ((apr_bucket_heap *)b->data)->base;
    const char *p = (const char *)data;

    return p >= base && p + len <= base + ((apr_bucket_heap *)b->data)->alloc_len;
}

static int on_stdout(xchg_t *x, const unsigned char *data, apr_size_t len)
{
    conn_rec *c = x->r->connection;

    if (x->headers_done) {
        if (x->discard || len == 0) {
            return OK;
        }
        if (x->cl >= 0 && x->body_sent + (apr_off_t)len > x->cl) {
            if (!x->broken) {
                ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, x->r, TFLOGNO(00438)
                              "backend pid=%d sent more than its "
                              "Content-Length %" APR_OFF_T_FMT "; the rest "
                              "is dropped and the backend stopped",
                              (int)x->pid, x->cl);
            }
            len = (apr_size_t)(x->cl - x->body_sent);
            x->broken = 1; /* more than it announced: stream suspect */
        }
        if (len && x->rd && slice_of(x->rd, data, len)) {
            apr_bucket *b;

            apr_bucket_copy(x->rd, &b);
            b->start = (apr_off_t)((const char *)data
                                   - ((apr_bucket_heap *)x->rd->data)->base);
            b->length = len;
            APR_BRIGADE_INSERT_TAIL(x->bb, b);
        }
        else if (len) {
            APR_BRIGADE_INSERT_TAIL(x->bb, apr_bucket_heap_create(
                                               (const char *)data, len, NULL,
                                               c->bucket_alloc));
        }
        x->body_sent += (apr_off_t)len;
        x->pending += len;
        return OK;
    }
    if (x->hdr_len + len > x->hdr_cap) {
        apr_size_t cap = x->hdr_cap ? x->hdr_cap * 2 : 8192;
        char *n;

        while (cap < x->hdr_len + len) {
            cap *= 2;
        }
        if (cap > MAX_HEADER_BLOCK + IOBUF) {
            ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, x->r, TFLOGNO(00412)
                          "backend pid=%d sent more than %d bytes without "
                          "ending its response headers; answering %d",
                          (int)x->pid, MAX_HEADER_BLOCK,
                          STATUS_OF(OUT_APP_INVALID));
            x->broken = 1; /* what else it would send is unknown */
            return fail(x, OUT_APP_INVALID);
        }
        n = apr_palloc(x->r->pool, cap);
        if (x->hdr_len) {
            memcpy(n, x->hdr, x->hdr_len);
        }
        x->hdr = n;
        x->hdr_cap = cap;
    }
    memcpy(x->hdr + x->hdr_len, data, len);
    x->hdr_len += len;
    if (!tf_cgi_header_end(x->hdr, x->hdr_len, x->hdr_len - len)) {
        return OK;
    }
    return parse_headers(x);
}

/* Pass what is gathered to the client. @return 0, or -1 if it is gone. */
static int flush_client(xchg_t *x, int flush)
{
    request_rec *r = x->r;
    apr_status_t rv;

    if (APR_BRIGADE_EMPTY(x->bb) && !(flush && x->unflushed)) {
        return 0;
    }
    x->unflushed = !flush;
    if (flush) {
        APR_BRIGADE_INSERT_TAIL(
            x->bb, apr_bucket_flush_create(r->connection->bucket_alloc));
    }
    x->sent = 1;
    rv = ap_pass_brigade(r->output_filters, x->bb);
    apr_brigade_cleanup(x->bb);
    if (rv != APR_SUCCESS || r->connection->aborted) {
        return -1;
    }
    return 0;
}

static const char *refusal_name(unsigned protocol_status)
{
    switch (protocol_status) {
    case TF_FCGI_CANT_MPX_CONN:
        return "FCGI_CANT_MPX_CONN";
    case TF_FCGI_OVERLOADED:
        return "FCGI_OVERLOADED";
    case TF_FCGI_UNKNOWN_ROLE:
        return "FCGI_UNKNOWN_ROLE";
    default:
        return "unknown";
    }
}

/* Decode one read's worth. @return OK to go on, or FAILED. */
static int on_input(xchg_t *x, const unsigned char *in, apr_size_t n,
                    int *ended)
{
    apr_size_t off = 0, used;
    tf_fcgi_event_t ev;
    tf_fcgi_rc rc;
    int ret;

    while (off < n) {
        rc = tf_fcgi_decode(&x->dec, in + off, n - off, &used, &ev);
        off += used;
        if (rc == TF_FCGI_AGAIN) {
            break;
        }
        if (rc == TF_FCGI_SKIPPED) {
            ap_log_rerror(APLOG_MARK, APLOG_DEBUG, 0, x->r, TFLOGNO(00413)
                          "backend pid=%d sent a record of type %u; "
                          "skipped", (int)x->pid, ev.type);
            continue;
        }
        if (rc != TF_FCGI_OK) {
            ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, x->r, TFLOGNO(00414)
                          "backend pid=%d broke the FastCGI protocol: %s",
                          (int)x->pid, tf_fcgi_strerror(rc));
            x->broken = 1;
            return fail(x, OUT_GATEWAY);
        }
        switch (ev.type) {
        case TF_FCGI_STDOUT:
            if ((ret = on_stdout(x, ev.data, ev.len)) != OK) {
                x->broken = 1;
                return ret;
            }
            break;
        case TF_FCGI_STDERR:
            log_stderr(x, ev.data, ev.len);
            break;
        case TF_FCGI_END_REQUEST:
            *ended = 1;
            if (ev.protocol_status != TF_FCGI_REQUEST_COMPLETE
                && !x->headers_done) {
                ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, x->r, TFLOGNO(00415)
                              "backend pid=%d refused the request "
                              "(FastCGI protocol status %u: %s); answering %d",
                              (int)x->pid, ev.protocol_status,
                              refusal_name(ev.protocol_status),
                              STATUS_OF(OUT_GATEWAY));
                return fail(x, OUT_GATEWAY);
            }
            return OK;
        default:
            break;
        }
    }
    return OK;
}

/* Part of the answer is out: make sure the client cannot take the rest
 * for complete (no final chunk, connection closed). */
static void abort_client(xchg_t *x)
{
    request_rec *r = x->r;
    conn_rec *c = r->connection;

    r->no_cache = 1;
    c->keepalive = AP_CONN_CLOSE;
    APR_BRIGADE_INSERT_TAIL(x->bb, ap_bucket_error_create(HTTP_BAD_GATEWAY,
                                                          NULL, r->pool,
                                                          c->bucket_alloc));
    APR_BRIGADE_INSERT_TAIL(x->bb, apr_bucket_eos_create(c->bucket_alloc));
    ap_pass_brigade(r->output_filters, x->bb);
    apr_brigade_cleanup(x->bb);
}

/*
 * The client went away mid-answer, or failed while its body was streamed.
 * Giving the backend back at once would call a one-connection backend idle
 * while it is still busy with an answer nobody reads: the next request
 * would wait behind it, or time out on a stalled one. So we hang up (its
 * reads see EOF, its writes fail: it ends the request at once) and ask it
 * for FCGI_GET_VALUES on a new connection, which it accepts only once it
 * is done with ours. No answer within LET_GO_SECS: "cut", stopped if it
 * takes one connection at a time (what it does is unknown). A backend
 * that takes several accepts at once: no need to ask.
 */
static xresult_e let_go(xchg_t *x, xresult_e res)
{
    apr_uint32_t conns;
    apr_status_t rv;

    apr_pool_cleanup_run(x->r->pool, &x->fd, close_fd);
    if (x->max_conns > 1) {
        return res;
    }
    rv = tf_spawn_probe(x->sock, apr_time_from_sec(LET_GO_SECS), &conns);
    if (rv == APR_TIMEUP) {
        ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, x->r, TFLOGNO(00441)
                      "the client went away; backend pid=%d was not free "
                      "again within %d s: it is stopped", (int)x->pid,
                      LET_GO_SECS);
        x->cut = 1;
    }
    else if (rv != APR_SUCCESS && rv != APR_EOF) {
        x->broken = 1; /* nobody listens: it is gone */
    }
    return res;
}

static xresult_e exchange(xchg_t *x)
{
    request_rec *r = x->r;
    struct pollfd pfd;
    apr_status_t rv;
    int ended = 0, ret, n, err;
    ssize_t got;
    char *buf;

    rv = connect_backend(x, x->sock);
    if (rv != APR_SUCCESS) {
        x->broken = 1;
        if (rv == APR_TIMEUP) {
            ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, TFLOGNO(00416)
                          "backend pid=%d: no connection within "
                          "TracFcgiConnectTimeout %ds (its listen queue is "
                          "full); answering %d", (int)x->pid,
                          x->dc->connect_timeout,
                          STATUS_OF(OUT_UNAVAILABLE));
            x->outcome = OUT_UNAVAILABLE;
            return X_FAILED;
        }
        ap_log_rerror(APLOG_MARK, APLOG_INFO, rv, r, TFLOGNO(00417)
                      "backend pid=%d is gone (cannot connect to %s)",
                      (int)x->pid, x->sock);
        return X_UNREACHED;
    }
    tf_fcgi_decoder_init(&x->dec, 1);
    tf_fcgi_begin_request_encode(x->begin, 1, TF_FCGI_RESPONDER, 0);
    x->out_phase = 0;
    x->iov_n = 0;
    if ((rv = tf_body_rewind(x->body)) != APR_SUCCESS) {
        x->outcome = OUT_INTERNAL;
        return X_FAILED;
    }

    /* a fresh connection takes the request at once: send before polling */
    if ((rv = fill_out(x)) != APR_SUCCESS) {
        goto body_failed;
    }
    if (write_some(x) != APR_SUCCESS) {
        x->iov_n = 0;
        x->out_phase = 3;
    }
    while (!ended) {
        if ((rv = fill_out(x)) != APR_SUCCESS) {
            goto body_failed;
        }
        if (x->read_on && !x->iov_n) {
            /* data just came: read on, polling only when it runs dry */
            x->read_on = 0;
            goto read_it;
        }
        pfd.fd = x->fd;
        pfd.events = POLLIN | (x->iov_n ? POLLOUT : 0);
        pfd.revents = 0;
        n = poll(&pfd, 1, x->dc->io_timeout * 1000);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n == 0) {
            ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, TFLOGNO(00419)
                          "backend pid=%d: nothing happened for "
                          "TracFcgiIOTimeout %ds; %s", (int)x->pid,
                          x->dc->io_timeout,
                          x->sent ? "aborting the client connection"
                                  : "answering 504");
            x->broken = 1;
            x->outcome = OUT_TIMEOUT;
            goto failed;
        }
        if (pfd.revents & POLLOUT) {
            if (write_some(x) != APR_SUCCESS) {
                /* it stopped reading: maybe it answered anyway */
                x->iov_n = 0;
                x->out_phase = 3;
            }
        }
        if (!(pfd.revents & (POLLIN | POLLHUP | POLLERR))) {
            continue;
        }
read_it:
        /* each read goes on where the last one ended in the buffer: a
         * backend writing 8 KiB records would otherwise pin a whole 64 KiB
         * buffer per 8 KiB in flight to the client */
        if (x->rd && IOBUF - x->rd_used < MIN_ROOM) {
            apr_bucket_destroy(x->rd); /* the slices keep it alive */
            x->rd = NULL;
        }
        if (!x->rd) {
            if (!(buf = tf_iobuf_get())) {
                ap_log_rerror(APLOG_MARK, APLOG_CRIT, ENOMEM, r,
                              TFLOGNO(00439) "no memory for a %u-byte read "
                              "buffer", IOBUF);
                x->broken = 1;
                x->outcome = OUT_INTERNAL;
                goto failed;
            }
            x->rd = apr_bucket_heap_create(buf, IOBUF, tf_iobuf_put,
                                           r->connection->bucket_alloc);
            x->rd_used = 0;
        }
        buf = ((apr_bucket_heap *)x->rd->data)->base + x->rd_used;
        got = recv(x->fd, buf, IOBUF - x->rd_used, 0);
        err = errno;
        if (got < 0 && (err == EAGAIN || err == EINTR)) {
            if (err == EAGAIN && !x->redirect && !x->discard) {
                /* the backend paused: what is gathered goes out now
                 * (streamed answers, progress pages) */
                x->pending = 0;
                if (flush_client(x, 1) < 0) {
                    return let_go(x, X_CLIENT_GONE);
                }
            }
            continue;
        }
        if (got <= 0) {
            x->broken = 1;
            if (!x->got_any) {
                return X_SILENT;
            }
            ap_log_rerror(APLOG_MARK, APLOG_ERR, got < 0 ? err : 0, r,
                          TFLOGNO(00420)
                          "backend pid=%d closed the connection "
                          "mid-response; %s", (int)x->pid,
                          x->sent ? "aborting the client connection"
                                  : "answering 502");
            x->outcome = OUT_GATEWAY;
            goto failed;
        }
        x->got_any = 1;
        x->read_on = 1;
        x->rd_used += (apr_size_t)got;
        ret = on_input(x, (const unsigned char *)buf, (apr_size_t)got,
                       &ended);
        if (ret != OK) {
            goto failed;
        }
        if (x->redirect || x->discard || ended) {
            /* at the end, what is gathered goes out with the EOS in one
             * brigade: a small answer then gets a Content-Length and a
             * single write instead of a flush and a final chunk */
            continue;
        }
        /* pass on in large batches while the backend keeps sending; the
         * next read finding nothing flushes (streaming: SSE, progress) */
        if (x->pending < PASS_BATCH) {
            continue;
        }
        x->pending = 0;
        if (flush_client(x, 0) < 0) {
            return let_go(x, X_CLIENT_GONE);
        }
    }
    if (!x->headers_done) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, TFLOGNO(00421)
                      "backend pid=%d ended the request without a complete "
                      "CGI header block (%" APR_SIZE_T_FMT " bytes of output: "
                      "%s); answering %d", (int)x->pid, x->hdr_len,
                      x->hdr_len ? "no empty line after the headers"
                                 : "nothing on stdout",
                      STATUS_OF(OUT_APP_INVALID));
        x->outcome = OUT_APP_INVALID;
        return X_FAILED;
    }
    if (x->cl >= 0 && x->body_sent != x->cl && !x->discard
        && !r->header_only) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, TFLOGNO(00422)
                      "backend pid=%d announced Content-Length %"
                      APR_OFF_T_FMT " but sent %" APR_OFF_T_FMT " bytes; "
                      "aborting the client connection", (int)x->pid, x->cl,
                      x->body_sent);
        x->broken = 1;
        x->outcome = OUT_GATEWAY;
        goto failed;
    }
    return X_DONE;

body_failed:
    /* the backend must not see the end of a body it did not get whole:
     * we hang up without sending the empty STDIN record */
    if ((x->status = tf_body_client_error(x->body)) != 0) {
        return let_go(x, X_CLIENT_ERROR); /* logged by tf_body (TF00205) */
    }
    ap_log_rerror(APLOG_MARK, APLOG_ERR, rv, r, TFLOGNO(00418)
                  "cannot read the spooled request body");
    x->broken = 1;
    x->outcome = OUT_INTERNAL;

failed:
    return x->sent ? X_ABORTED : X_FAILED;
}

/* --- The handler --------------------------------------------------------- */

static int check_script(request_rec *r)
{
    int scriptaliased = apr_table_get(r->notes, "alias-forced-type") != NULL;

    if (!scriptaliased && !(ap_allow_options(r) & OPT_EXECCGI)) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, TFLOGNO(00430)
                      "Options ExecCGI is off in this directory: %s",
                      r->filename);
        return HTTP_FORBIDDEN;
    }
    if (r->finfo.filetype == APR_NOFILE) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, TFLOGNO(00431)
                      "script not found or unable to stat: %s", r->filename);
        return HTTP_NOT_FOUND;
    }
    if (r->finfo.filetype == APR_DIR) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, TFLOGNO(00432)
                      "attempt to invoke directory as script: %s",
                      r->filename);
        return HTTP_FORBIDDEN;
    }
    if (r->used_path_info == AP_REQ_REJECT_PATH_INFO && r->path_info
        && *r->path_info) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, TFLOGNO(00433)
                      "AcceptPathInfo off disallows user's path: %s%s",
                      r->filename, r->path_info);
        return HTTP_NOT_FOUND;
    }
    return OK;
}

/* RFC 9110 9.2.2: methods whose intended effect is the same however often
 * the request is made (HEAD is M_GET with header_only). Extension methods
 * are not known to be. */
static int idempotent(const request_rec *r)
{
    switch (r->method_number) {
    case M_GET:
    case M_OPTIONS:
    case M_TRACE:
    case M_PUT:
    case M_DELETE:
        return 1;
    default:
        return 0;
    }
}

/*
 * The replay rule, for every way of reaching a backend: the request goes
 * to a second backend only if the first cannot have acted on it: it never
 * reached it (connecting failed), or its method is idempotent; and only if
 * its whole body can be sent again, and only once. A backend that read a
 * request and then died looks exactly like one that never read it, so a
 * POST whose backend closed before answering is not run again.
 * @return OUT_NONE to replay, or OUT_GATEWAY with the reason logged.
 */
static outcome_e may_replay(request_rec *r, const xchg_t *x, xresult_e res,
                            int attempt)
{
    const char *what = res == X_UNREACHED ? "could not be reached"
                                          : "closed the connection before "
                                            "answering";

    if (attempt > 0) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, TFLOGNO(00435)
                      "backend pid=%d %s, as did the one before it; "
                      "answering %d", (int)x->pid, what,
                      STATUS_OF(OUT_GATEWAY));
        return OUT_GATEWAY;
    }
    if (res == X_SILENT && !idempotent(r)) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, TFLOGNO(00444)
                      "backend pid=%d closed the connection before "
                      "answering; the %s request is not sent to another "
                      "backend, as the first may have acted on it; "
                      "answering %d", (int)x->pid, r->method,
                      STATUS_OF(OUT_GATEWAY));
        return OUT_GATEWAY;
    }
    if (tf_body_rewind(x->body) == APR_EINCOMPLETE) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, TFLOGNO(00440)
                      "backend pid=%d %s, after part of the streamed "
                      "request body had gone to it (TracFcgiRequestBuffering "
                      "Off): it cannot be sent again; answering %d",
                      (int)x->pid, what, STATUS_OF(OUT_GATEWAY));
        return OUT_GATEWAY;
    }
    ap_log_rerror(APLOG_MARK, APLOG_WARNING, 0, r, TFLOGNO(00436)
                  "backend pid=%d %s; sending the %s request to another "
                  "backend", (int)x->pid, what, r->method);
    return OUT_NONE;
}

/* One request on one backend, then the backend given back. @x holds the
 * request; each attempt starts from it afresh, so that nothing of a failed
 * attempt reaches the next. */
static xresult_e attempt(request_rec *r, const xchg_t *req, lease_t *l,
                         xchg_t *x)
{
    xresult_e res;

    *x = *req;
    x->pid = l->pid;
    x->sock = l->sock;
    x->max_conns = l->max_conns;
    x->fd = -1;
    res = exchange(x);
    if (x->rd) {
        apr_bucket_destroy(x->rd); /* our reference to the read buffer */
        x->rd = NULL;
    }
    flush_stderr(x);
    apr_pool_cleanup_run(r->pool, &x->fd, close_fd);
    release(l, x->cut ? TF_RELEASE_CUT
                      : x->broken ? TF_RELEASE_BROKEN : TF_RELEASE_SERVED);
    return res;
}

/* The application answered: pass it on, or follow its redirect. */
static int deliver(request_rec *r, xchg_t *x)
{
    if (x->redirect) {
        /* as mod_cgi: the redirect is a GET, and its body was consumed.
         * In a sub-request (mod_include), httpd keeps the including
         * request's filters and drops this one's. */
        r->method = "GET";
        r->method_number = M_GET;
        apr_table_unset(r->headers_in, "Content-Length");
        ap_internal_redirect_handler(x->redirect, r);
        return OK;
    }
    if (x->status == HTTP_MOVED_TEMPORARILY
        || x->status == HTTP_PRECONDITION_FAILED) {
        return x->status;
    }
    if (x->status == HTTP_NOT_MODIFIED) {
        r->status = x->status;
    }
    APR_BRIGADE_INSERT_TAIL(x->bb,
                            apr_bucket_eos_create(r->connection->bucket_alloc));
    ap_pass_brigade(r->output_filters, x->bb);
    return OK;
}

/* Set up the request for its attempts. @return OK, or a status. */
static int prepare(request_rec *r, tf_dir_conf_t *dc, xchg_t *req)
{
    tf_body_t *body;
    int rc;

    if ((rc = check_script(r)) != OK) {
        return rc;
    }
    if (!rt_shm) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, TFLOGNO(00434)
                      "mod_tracfcgi is not initialised (no shared memory)");
        return answer(r, OUT_INTERNAL);
    }
    tf_config_dir_get(r, dc);
    if ((rc = tf_body_read(r, dc->body_in_memory, !dc->request_buffering,
                           &body)) != OK) {
        return rc;
    }
    memset(req, 0, sizeof(*req));
    req->r = r;
    req->dc = dc;
    req->body = body;
    req->bb = apr_brigade_create(r->pool, r->connection->bucket_alloc);
    return tf_params_encode(r, dc, tf_body_length(body),
                            tf_body_present(body),
                            (unsigned char **)&req->params, &req->params_len);
}

int tf_bridge_handle(request_rec *r)
{
    tf_dir_conf_t dc;
    tf_spawn_spec_t spec;
    apr_uint64_t key;
    xchg_t req, x;
    lease_t l;
    xresult_e res;
    outcome_e o;
    int rc, n;

    if (r->method_number == M_OPTIONS && strcmp(r->uri, "*") == 0) {
        return DECLINED; /* the server's, not a script's */
    }
    if ((rc = prepare(r, &dc, &req)) != OK) {
        return rc;
    }
    tf_spec_build(r, &dc, &spec, &key);
    for (n = 0;; n++) {
        memset(&l, 0, sizeof(l));
        if ((o = acquire(r, &dc, &spec, key, &l)) != OUT_NONE) {
            return answer(r, o);
        }
        res = attempt(r, &req, &l, &x);
        if (res != X_UNREACHED && res != X_SILENT) {
            break;
        }
        if ((o = may_replay(r, &x, res, n)) != OUT_NONE) {
            note_error(r, l.pool, "%d from backend pid=%d", STATUS_OF(o),
                       (int)x.pid);
            return answer(r, o);
        }
    }
    switch (res) {
    case X_DONE:
        return deliver(r, &x);
    case X_CLIENT_ERROR:
        if (x.sent) {
            abort_client(&x);
            return OK;
        }
        return x.status;
    case X_FAILED:
        note_error(r, l.pool, "%d from backend pid=%d",
                   STATUS_OF(x.outcome), (int)x.pid);
        return answer(r, x.outcome);
    case X_ABORTED:
        note_error(r, l.pool, "aborted mid-response from backend pid=%d",
                   (int)x.pid);
        abort_client(&x);
        return OK;
    default: /* X_CLIENT_GONE */
        return OK;
    }
}
