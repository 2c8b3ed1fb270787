/*
 * bridge.c: one request, from the handler to the backend and back: the
 * handler gate, the replay rule and the one mapping from outcome to
 * status. The parts it puts together:
 *
 *   src/body.c      the request body (read first, or streamed)
 *   src/params.c    the CGI/1.1 params, encoded once
 *   src/lease.c     take a backend of the pool, give it back
 *   src/external.c  which TracFcgiExternalServer a request is for
 *   src/exchange.c  one request on one backend connection (any role)
 *   src/response.c  the RESPONDER's sink: CGI headers, redirects, body
 *   src/backend.c   where a backend listens, connect, probe
 *
 * Each attempt has its own exchange and response state, made fresh: a
 * replay inherits nothing of a failed attempt. Memory per request is
 * bounded: one 64 KiB read buffer, the header block, and what the output
 * filters hold.
 *
 * Every failure is an outcome (tf_outcome_e) with one log line;
 * tf_bridge_answer() is the one place where an outcome becomes an HTTP status (README
 * "Statuses and replays"): the application's output is not a CGI response
 * 500, as mod_cgi; the gateway failed 502; no backend in time 503 (+
 * Retry-After); the backend silent past TracFcgiIOTimeout 504.
 *
 * A request is sent to a second backend only when the first cannot have
 * acted on it (may_replay(), as nginx's proxy_next_upstream): connecting
 * failed, or the backend closed before answering and the method is
 * idempotent (RFC 9110 9.2.2); and its whole body is still at hand. A POST
 * whose backend died after taking it gets 502 and never runs twice. Once
 * part of the answer has gone to the client, a failure aborts the
 * connection, so that a truncated answer never looks complete.
 */
#include <string.h>
#include <unistd.h>

#include "apr_strings.h"
#include "http_core.h"
#include "http_protocol.h"
#include "http_request.h"

#include "tf_backend.h"
#include "tf_compat.h"
#include "tf_external.h"
#include "tf_body.h"
#include "tf_bridge.h"
#include "tf_config.h"
#include "tf_exchange.h"
#include "tf_iobuf.h"
#include "tf_lease.h"
#include "tf_params.h"
#include "tf_private.h"
#include "tf_response.h"
#include "tf_spec.h"
#include "tf_spec_cache.h"
#include "tf_wrapper.h"

#define RETRY_AFTER "5"
#define LET_GO_SECS 2         /* the client is gone: how long a backend
                               * may take to be free again */

void tf_bridge_runtime_set(tf_shm_t *shm, const char *ctl_path)
{
    tf_lease_runtime_set(shm, ctl_path);
}

void tf_bridge_child_init(void)
{
    tf_lease_child_init();
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
    if (strcmp(r->handler, TF_EXTERNAL_HANDLER) == 0) {
        return tf_external_of(r) != NULL;
    }
    if (tf_compat_handler(r->handler)) {
        return 1; /* mod_fcgid's name, and mod_fcgid is not loaded */
    }
    /* ScriptAlias sets cgi-script: a .fcgi target there is ours */
    if (strcmp(r->handler, "cgi-script") == 0 && r->filename) {
        n = strlen(r->filename);
        return n > 5 && strcmp(r->filename + n - 5, ".fcgi") == 0;
    }
    return 0;
}

/* --- Outcomes and their statuses ----------------------------------------- */

/* (tf_bridge.h) */
int tf_bridge_answer(request_rec *r, tf_outcome_e o)
{
    if (o == TF_OUT_UNAVAILABLE
        && !apr_table_get(r->err_headers_out, "Retry-After")) {
        apr_table_setn(r->err_headers_out, "Retry-After", RETRY_AFTER);
    }
    return tf_outcome_status(o);
}

/* --- One attempt --------------------------------------------------------- */

/* The request, as every attempt sends it. */
typedef struct {
    const tf_dir_conf_t *dc;
    tf_body_t *body;
    tf_xbody_t source;        /* the body, for the exchange */
    const unsigned char *params;
    apr_size_t params_len;
} req_t;

/* One attempt: made fresh for each. */
typedef struct {
    tf_lease_t lease;
    tf_exchange_t x;
    tf_xsink_t sink;
    tf_response_t *rs;
    tf_xend_e end;
    tf_outcome_e outcome;     /* with a failure: what the client gets */
    int client_status;        /* the client failed mid-body: 400/408/413 */
    int cut, broken;          /* what becomes of the backend */
} attempt_t;

static apr_status_t body_rewind(void *ctx)
{
    return tf_body_rewind(ctx);
}

static apr_status_t body_next(void *ctx, apr_size_t max, const char **data,
                              apr_size_t *len, int *stable)
{
    return tf_body_next(ctx, max, data, len, stable);
}

static apr_status_t body_next_file(void *ctx, apr_size_t max, int *fd,
                                   apr_off_t *off, apr_size_t *len,
                                   int *records)
{
    return tf_body_next_file(ctx, max, fd, off, len, records);
}

/* Hang up on the backend. */
static void hang_up(attempt_t *at)
{
    if (at->x.fd >= 0) {
        close(at->x.fd);
        at->x.fd = -1;
    }
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
static void let_go(request_rec *r, attempt_t *at)
{
    apr_uint32_t conns;
    apr_status_t rv;

    hang_up(at);
    if (at->lease.max_conns > 1) {
        return;
    }
    rv = tf_backend_probe(&at->lease.addr, apr_time_from_sec(LET_GO_SECS),
                          &conns);
    if (rv == APR_TIMEUP) {
        /* why it was let go: its client went away, or the answer held
         * for the client was lost */
        const char *why = at->rs && tf_response_lost(at->rs)
                              ? TFLOGNO(00452) "the answer held for the "
                                "client was lost"
                              : TFLOGNO(00441) "the client went away";

        ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, r, "%s; %s was not free "
                      "again within %d s%s", why,
                      tf_peer_name(r->pool, &at->lease.peer), LET_GO_SECS,
                      at->lease.ext ? "" : ": it is stopped");
        at->cut = 1;
    }
    else if (rv != APR_SUCCESS && rv != APR_EOF) {
        at->broken = 1; /* nobody listens: it is gone */
    }
}

/* What a failure of outcome @o does to the client, for its log line. */
static const char *consequence(request_rec *r, const attempt_t *at,
                               tf_outcome_e o)
{
    if (at->rs && tf_response_sent(at->rs)) {
        return "aborting the client connection";
    }
    return apr_psprintf(r->pool, "answering %d", tf_outcome_status(o));
}

/* What a failed exchange costs the client, logged. @return the outcome
 * (TF_OUT_NONE where the client has its answer or is gone). */
static tf_outcome_e judge(request_rec *r, const req_t *q, attempt_t *at)
{
    tf_exchange_t *x = &at->x;
    const tf_peer_t *peer = &at->lease.peer;

    switch (at->end) {
    case TF_XEND_DONE:
    case TF_XEND_CLIENT_GONE:
        return TF_OUT_NONE;
    case TF_XEND_SINK:
        return tf_response_outcome(at->rs); /* the sink logged it */
    case TF_XEND_UNREACHED:
        if (!at->lease.ext) { /* an address: the lease logs it down */
            ap_log_rerror(APLOG_MARK, APLOG_INFO, x->rv, r, TFLOGNO(00417)
                          TF_PEER_MSG(r->pool, peer, " is gone (cannot "
                          "connect to %s)"), at->lease.sock);
        }
        return TF_OUT_GATEWAY;
    case TF_XEND_SILENT:
        return TF_OUT_GATEWAY; /* the replay rule logs it */
    case TF_XEND_CONNECT_TIMEUP:
        if (at->lease.ext) {
            return TF_OUT_GATEWAY; /* not reached: as TF_XEND_UNREACHED */
        }
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, TFLOGNO(00416)
                      TF_PEER_MSG(r->pool, peer, ": no connection within "
                      "TracFcgiConnectTimeout %ds (its listen queue is "
                      "full); %s"), q->dc->connect_timeout,
                      consequence(r, at, TF_OUT_UNAVAILABLE));
        return TF_OUT_UNAVAILABLE;
    case TF_XEND_TIMEUP:
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, TFLOGNO(00419)
                      TF_PEER_MSG(r->pool, peer, ": nothing happened for "
                      "TracFcgiIOTimeout %ds; %s"), q->dc->io_timeout,
                      consequence(r, at, TF_OUT_TIMEOUT));
        return TF_OUT_TIMEOUT;
    case TF_XEND_BUSY:
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, TFLOGNO(00451)
                      TF_PEER_MSG(r->pool, peer, ": the request is not done "
                      "after TracFcgiBusyTimeout %ds (FcgidBusyTimeout); "
                      "%s; %s"), q->dc->busy_timeout,
                      at->lease.ext ? "closing the connection"
                                    : "stopping the backend",
                      consequence(r, at, TF_OUT_TIMEOUT));
        return TF_OUT_TIMEOUT;
    case TF_XEND_CLOSED:
        ap_log_rerror(APLOG_MARK, APLOG_ERR, x->rv, r, TFLOGNO(00420)
                      TF_PEER_MSG(r->pool, peer, " closed the connection "
                      "mid-response; %s"),
                      consequence(r, at, TF_OUT_GATEWAY));
        return TF_OUT_GATEWAY;
    case TF_XEND_PROTOCOL:
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, TFLOGNO(00414)
                      TF_PEER_MSG(r->pool, peer, " broke the FastCGI "
                      "protocol: %s"),
                      tf_fcgi_strerror(x->fcgi_rc));
        return TF_OUT_GATEWAY;
    case TF_XEND_NOMEM:
        ap_log_rerror(APLOG_MARK, APLOG_CRIT, APR_ENOMEM, r, TFLOGNO(00439)
                      "no memory for a %u-byte read buffer", TF_IOBUF_SIZE);
        return TF_OUT_INTERNAL;
    default: /* TF_XEND_BODY */
        if ((at->client_status = tf_body_client_error(q->body)) != 0) {
            return TF_OUT_NONE; /* logged by tf_body (TF00205) */
        }
        ap_log_rerror(APLOG_MARK, APLOG_ERR, x->rv, r, TFLOGNO(00418)
                      "cannot read the spooled request body");
        return TF_OUT_INTERNAL;
    }
}

/* An external server's address failed in a way that says it is down
 * (refused, unreachable, reset, timed out). @return what, or NULL. */
static const char *down_reason(request_rec *r, const req_t *q,
                               const attempt_t *at)
{
    char buf[120];

    if (!at->lease.ext) {
        return NULL;
    }
    switch (at->end) {
    case TF_XEND_UNREACHED:
        return apr_pstrdup(r->pool, apr_strerror(at->x.rv, buf, sizeof(buf)));
    case TF_XEND_CONNECT_TIMEUP:
        return apr_psprintf(r->pool, "no connection within "
                            "TracFcgiConnectTimeout %ds",
                            q->dc->connect_timeout);
    case TF_XEND_TIMEUP:
        return apr_psprintf(r->pool, "nothing happened for "
                            "TracFcgiIOTimeout %ds", q->dc->io_timeout);
    case TF_XEND_CLOSED:
    case TF_XEND_SILENT:
        /* a kept connection the server let go says nothing of it */
        return APR_STATUS_IS_ECONNRESET(at->x.rv) && !at->lease.reused
                   ? "connection reset"
                   : NULL;
    default:
        return NULL;
    }
}

/* What becomes of the backend after the attempt. */
static int release_how(request_rec *r, attempt_t *at)
{
    switch (at->end) {
    case TF_XEND_DONE:
    case TF_XEND_SINK:
        break;
    case TF_XEND_CLIENT_GONE:
        let_go(r, at);
        break;
    case TF_XEND_BODY:
        if (at->client_status) {
            /* the backend must not see the end of a body it did not get
             * whole: we hang up without sending the empty STDIN record */
            let_go(r, at);
            break;
        }
        at->broken = 1;
        break;
    default:
        at->broken = 1;
    }
    if (at->cut) {
        return TF_RELEASE_CUT;
    }
    return at->broken || tf_response_broken(at->rs) ? TF_RELEASE_BROKEN
                                                     : TF_RELEASE_SERVED;
}

/* One request on the leased backend, then the backend given back. */
static void attempt(request_rec *r, const req_t *q, attempt_t *at)
{
    tf_exchange_t *x = &at->x;
    const char *down;
    int how;

    at->rs = tf_response_create(r, q->dc, &at->lease.peer, &at->sink);
    x->addr = &at->lease.addr;
    x->reuse = at->lease.reused;
    x->fd = at->lease.fd;
    x->keep_conn = at->lease.ext && at->lease.ext->keepalive;
    x->role = TF_FCGI_RESPONDER;
    x->params = q->params;
    x->params_len = q->params_len;
    x->body = &q->source;
    x->sink = &at->sink;
    x->connect_timeout = apr_time_from_sec(q->dc->connect_timeout);
    x->io_timeout = apr_time_from_sec(q->dc->io_timeout);
    x->deadline = q->dc->busy_timeout
                      ? apr_time_now() + apr_time_from_sec(q->dc->busy_timeout)
                      : 0;
    x->ba = r->connection->bucket_alloc;
    at->end = tf_exchange_run(x);
    tf_exchange_done(x);
    tf_response_stderr_flush(at->rs);
    if (x->skipped) {
        ap_log_rerror(APLOG_MARK, APLOG_DEBUG, 0, r, TFLOGNO(00413)
                      TF_PEER_MSG(r->pool, &at->lease.peer, " sent %u "
                      "record(s) of a type we do not know; skipped"),
                      x->skipped);
    }
    at->outcome = judge(r, q, at);
    how = release_how(r, at);
    if (how == TF_RELEASE_SERVED && x->clean && x->keep_conn
        && tf_lease_keep(&at->lease, x->fd)) {
        x->fd = -1; /* kept for this child's next request: given back */
        return;
    }
    hang_up(at);
    if ((down = down_reason(r, q, at)) != NULL) {
        how = TF_RELEASE_DOWN;
    }
    tf_lease_give_back(r, &at->lease, how, down);
}

/* The attempt never reached its backend: connecting failed (for an
 * external server's address, timing out too: a backend of ours that does
 * not take the connection in time is overloaded, not gone). */
static int unreached(const attempt_t *at)
{
    return at->end == TF_XEND_UNREACHED
           || (at->lease.ext && at->end == TF_XEND_CONNECT_TIMEUP);
}

/* --- The replay rule ----------------------------------------------------- */

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
 * @return 1 to replay, or 0 with the reason logged.
 */
static int may_replay(request_rec *r, const req_t *q, const attempt_t *at,
                      int n)
{
    const tf_peer_t *peer = &at->lease.peer;
    const char *what = unreached(at)
                           ? "could not be reached"
                           : "closed the connection before answering";

    if (n > 0) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, TFLOGNO(00435)
                      TF_PEER_MSG(r->pool, peer, " %s, as did the one "
                      "before it; %s"), what,
                      consequence(r, at, TF_OUT_GATEWAY));
        return 0;
    }
    if (at->end == TF_XEND_SILENT && !idempotent(r)) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, TFLOGNO(00444)
                      TF_PEER_MSG(r->pool, peer, " closed the connection "
                      "before answering; the %s request is not sent to "
                      "another backend, as the first may have acted on it; "
                      "%s"),
                      r->method, consequence(r, at, TF_OUT_GATEWAY));
        return 0;
    }
    if (tf_body_rewind(q->body) == APR_EINCOMPLETE) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, TFLOGNO(00440)
                      TF_PEER_MSG(r->pool, peer, " %s, after part of the "
                      "streamed request body had gone to it "
                      "(TracFcgiRequestBuffering Off): it cannot be sent "
                      "again; %s"), what,
                      consequence(r, at, TF_OUT_GATEWAY));
        return 0;
    }
    ap_log_rerror(APLOG_MARK, APLOG_WARNING, 0, r, TFLOGNO(00436)
                  TF_PEER_MSG(r->pool, peer, " %s; sending the %s request "
                  "to another backend"), what, r->method);
    return 1;
}

/* --- The handler --------------------------------------------------------- */

/* As mod_cgi checks a script; @p declared: a mod_fastcgi static
 * application, which mod_fastcgi runs without ExecCGI (its FastCgiServer
 * line is the permission); @p w: the TracFcgiWrapper that serves the
 * file, which need not exist if it says "virtual" (as mod_fcgid). */
static int check_script(request_rec *r, int declared, const tf_wrapper_t *w)
{
    int scriptaliased = apr_table_get(r->notes, "alias-forced-type") != NULL;

    if (!scriptaliased && !declared && !(ap_allow_options(r) & OPT_EXECCGI)) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, TFLOGNO(00430)
                      "Options ExecCGI is off in this directory: %s",
                      r->filename);
        return HTTP_FORBIDDEN;
    }
    if (w && w->virtual_files) {
        return OK;
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

/* Set up what every attempt sends (@p x: for an external server; @p sd:
 * for a mod_fastcgi static application). @return OK, or a status. */
static int prepare(request_rec *r, tf_dir_conf_t *dc, req_t *q,
                   const tf_external_t *x, const tf_spec_declared_t *sd)
{
    const tf_wrapper_t *w = NULL;
    const tf_dir_conf_t *over;
    unsigned char *params;
    int rc;

    if (x || sd) {
        /* an application's options (mod_fastcgi) over the sections */
        tf_config_dir_get_app(r, x ? x->over : sd->over, dc);
    }
    else {
        tf_config_dir_get(r, dc);
        w = tf_wrapper_for(dc->wrappers, r->filename);
        /* mod_fcgid's FcgidCmdOptions: the command's own settings */
        if ((over = tf_config_cmd_options(r, w ? w->argv[0] : r->filename))) {
            tf_config_dir_get_app(r, over, dc);
        }
    }
    if (!x && (rc = check_script(r, sd != NULL, w)) != OK) {
        return rc;
    }
    if (!tf_lease_ready()) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, TFLOGNO(00434)
                      "mod_tracfcgi is not initialised (no shared memory)");
        return tf_bridge_answer(r, TF_OUT_INTERNAL);
    }
    memset(q, 0, sizeof(*q));
    q->dc = dc;
    if ((rc = tf_body_read(r, dc->body_in_memory, dc->max_request_len,
                           !dc->request_buffering, &q->body)) != OK) {
        return rc;
    }
    q->source.rewind = body_rewind;
    q->source.next = body_next;
    q->source.next_file = body_next_file;
    q->source.ctx = q->body;
    rc = tf_params_encode(r, dc, tf_body_length(q->body),
                          tf_body_present(q->body), &params, &q->params_len);
    q->params = params;
    return rc;
}

/* The last attempt's end, as the client gets it. */
static int conclude(request_rec *r, attempt_t *at)
{
    if (at->end == TF_XEND_DONE) {
        return tf_response_deliver(at->rs);
    }
    if (at->end == TF_XEND_CLIENT_GONE && !tf_response_lost(at->rs)) {
        return OK;
    }
    if (tf_response_sent(at->rs)) {
        tf_lease_note_error(at->lease.pool, "aborted mid-response from %s",
                            tf_peer_name(r->pool, &at->lease.peer));
        tf_response_abort(at->rs);
        return OK;
    }
    if (at->client_status) {
        return at->client_status;
    }
    tf_lease_note_error(at->lease.pool, "%d from %s",
                        tf_outcome_status(at->outcome),
                        tf_peer_name(r->pool, &at->lease.peer));
    return tf_bridge_answer(r, at->outcome);
}

int tf_bridge_handle(request_rec *r)
{
    const tf_external_t *x = tf_external_of(r);
    const tf_spec_declared_t *sd = x ? NULL : tf_spec_bound(r);
    apr_time_t taken = 0;
    tf_dir_conf_t dc;
    tf_spawn_spec_t spec;
    apr_uint64_t key = 0;
    tf_outcome_e o;
    attempt_t at;
    req_t q;
    int rc, n;

    if (r->method_number == M_OPTIONS && strcmp(r->uri, "*") == 0) {
        return DECLINED; /* the server's, not a script's */
    }
    if ((rc = prepare(r, &dc, &q, x, sd)) != OK) {
        return rc;
    }
    if (sd) {
        /* its own pool, whatever the request's section would build */
        spec = sd->spec;
        key = sd->spec.key;
    }
    else if (!x) {
        tf_spec_get(r, &dc, &spec, &key);
    }
    for (n = 0;; n++) {
        /* a replay goes to another address of an external server */
        apr_int32_t avoid = n ? at.lease.ref.idx : -1;

        memset(&at, 0, sizeof(at));
        o = x ? tf_lease_take_external(r, &dc, x, avoid, &at.lease)
              : tf_lease_take(r, &dc, &spec, key, &at.lease);
        if (o != TF_OUT_NONE) {
            rc = tf_bridge_answer(r, o);
            tf_lease_count(at.lease.pool, rc, -1);
            return rc;
        }
        if (!n) {
            taken = apr_time_now();
        }
        attempt(r, &q, &at);
        if (!unreached(&at) && at.end != TF_XEND_SILENT) {
            break;
        }
        if (!may_replay(r, &q, &at, n)) {
            break;
        }
    }
    rc = conclude(r, &at);
    tf_lease_count(at.lease.pool, rc, apr_time_now() - taken);
    return rc;
}
