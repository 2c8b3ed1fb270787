/*
 * authorizer.c: the FastCGI AUTHORIZER role (see tf_authorizer.h).
 *
 * Each phase that has a command asks it once per request: a backend of
 * the command's pool (tf_lease_take(), the same table, FIFO and limits as
 * a responder's, under the request's suexec identity), one exchange with
 * role AUTHORIZER, the request's params without a body
 * (tf_params_encode_authorizer()), and the whole answer read into memory
 * (an authorizer's answer is a status and a few headers: more than
 * MAX_ANSWER is an error). A backend that could not be reached, or closed
 * before answering, is replaced once: asking has no side effect.
 *
 * Where mod_fcgid turns every refusal into a bare 401, the client here
 * gets the application's answer as it is: status, headers and body
 * (sent from the hook, which then returns DONE). In a subrequest only the
 * status counts.
 *
 * Runs in request threads, in the access, authentication and
 * authorization phases, before any handler.
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "apr_lib.h"
#include "apr_strings.h"
#include "http_protocol.h"
#include "http_request.h"
#include "util_filter.h"

#include "tf_authorizer.h"
#include "tf_bridge.h"
#include "tf_config.h"
#include "tf_exchange.h"
#include "tf_lease.h"
#include "tf_outcome.h"
#include "tf_params.h"
#include "tf_private.h"
#include "tf_spec_cache.h"

#define MAX_ANSWER (64 * 1024) /* an authorizer's answer, bytes */

/* How each phase names itself: to the application (FCGI_APACHE_ROLE, as
 * mod_fcgid) and in log lines (the directive). */
static const char *const role_name[TF_AUTH_PHASES] = {
    "AUTHENTICATOR", "AUTHORIZER", "ACCESS_CHECKER"};
static const char *const directive[TF_AUTH_PHASES] = {
    "TracFcgiAuthenticator", "TracFcgiAuthorizer", "TracFcgiAccessChecker"};

/* The answer, as it comes. */
typedef struct {
    request_rec *r;
    const tf_peer_t *peer;
    apr_bucket_brigade *bb; /* copies of the STDOUT bytes */
    apr_size_t len;
    int too_long;
    unsigned protocol_status;
} answer_t;

static int on_stdout(void *ctx, const unsigned char *data, apr_size_t len,
                     apr_bucket *b)
{
    answer_t *a = ctx;

    if (a->len + len > MAX_ANSWER) {
        a->too_long = 1;
        return TF_SINK_STOP;
    }
    a->len += len;
    apr_brigade_write(a->bb, NULL, NULL, (const char *)data, len);
    return TF_SINK_GO_ON;
}

static void on_stderr(void *ctx, const unsigned char *data, apr_size_t len)
{
    answer_t *a = ctx;

    while (len && (data[len - 1] == '\n' || data[len - 1] == '\r')) {
        len--;
    }
    if (len) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, a->r, TFLOGNO(01100)
                      TF_PEER_MSG(a->r->pool, a->peer, " stderr: %.*s"),
                      (int)len, (const char *)data);
    }
}

static int on_end(void *ctx, apr_uint32_t app_status,
                  unsigned protocol_status)
{
    answer_t *a = ctx;

    a->protocol_status = protocol_status;
    return TF_SINK_GO_ON;
}

static int on_read(void *ctx, int paused)
{
    return TF_SINK_GO_ON;
}

/* The answer taken apart: its status, its header lines (in @hdrs, names
 * as sent), its body. @return 0, or -1: not a CGI answer. */
static int parse(answer_t *a, apr_table_t *hdrs, int *status,
                 const char **body, apr_size_t *body_len)
{
    char *p, *end;
    apr_size_t rest = a->len;

    *status = HTTP_OK;
    if (apr_brigade_pflatten(a->bb, &p, &rest, a->r->pool) != APR_SUCCESS
        || !rest) {
        return -1;
    }
    p = apr_pstrmemdup(a->r->pool, p, rest); /* a string: strchr() */
    for (;;) {
        char *eol = memchr(p, '\n', rest), *colon, *v;
        apr_size_t n;

        if (!eol) {
            return -1; /* no blank line: no end of the headers */
        }
        n = (apr_size_t)(eol - p) + 1;
        end = eol;
        if (end > p && end[-1] == '\r') {
            end--;
        }
        *end = '\0';
        rest -= n;
        if (end == p) {
            p = eol + 1;
            break;
        }
        if (!(colon = strchr(p, ':')) || colon == p) {
            return -1;
        }
        *colon = '\0';
        for (v = colon + 1; *v == ' ' || *v == '\t'; v++) {
        }
        if (strcasecmp(p, "Status") == 0) {
            *status = atoi(v);
            if (*status < 100 || *status > 599) {
                return -1;
            }
        }
        else {
            apr_table_add(hdrs, p, v);
        }
        p = eol + 1;
    }
    *body = p;
    *body_len = rest;
    return 0;
}

/* Variable-NAME: VALUE of an accepting answer: the request's variable
 * NAME, which the responder gets as a param. */
static int take_variable(void *ctx, const char *key, const char *val)
{
    request_rec *r = ctx;

    if (strncasecmp(key, "Variable-", 9) == 0 && key[9]) {
        apr_table_set(r->subprocess_env, key + 9, val);
    }
    return 1;
}

/* A refusal, as the application gave it: @return DONE once sent (or the
 * status alone, in a subrequest). */
static int refuse(request_rec *r, tf_auth_phase_e phase, int status,
                  apr_table_t *hdrs, const char *body, apr_size_t body_len)
{
    const apr_array_header_t *arr = apr_table_elts(hdrs);
    const apr_table_entry_t *e = (const apr_table_entry_t *)arr->elts;
    apr_bucket_brigade *bb;
    int i;

    for (i = 0; i < arr->nelts; i++) {
        if (strcasecmp(e[i].key, "Content-Type") == 0) {
            ap_set_content_type(r, apr_pstrdup(r->pool, e[i].val));
        }
        else if (strcasecmp(e[i].key, "Content-Length") != 0
                 && strcasecmp(e[i].key, "Transfer-Encoding") != 0
                 && strncasecmp(e[i].key, "Variable-", 9) != 0) {
            apr_table_add(r->err_headers_out, e[i].key, e[i].val);
        }
    }
    if (status == HTTP_UNAUTHORIZED && phase != TF_ACCESS
        && !apr_table_get(hdrs, "WWW-Authenticate")) {
        ap_note_auth_failure(r); /* the challenge of the AuthType */
    }
    if (r->main) {
        return status; /* a subrequest sends nothing of its own */
    }
    r->status = status;
    if (!r->content_type && body_len) {
        ap_set_content_type(r, "text/plain");
    }
    ap_set_content_length(r, (apr_off_t)body_len);
    bb = apr_brigade_create(r->pool, r->connection->bucket_alloc);
    if (body_len && !r->header_only) {
        apr_brigade_write(bb, NULL, NULL, body, body_len);
    }
    APR_BRIGADE_INSERT_TAIL(bb,
                            apr_bucket_eos_create(r->connection->bucket_alloc));
    ap_pass_brigade(r->output_filters, bb);
    return DONE;
}

/* One exchange on one backend of the pool. @return how it ended. */
static tf_xend_e exchange(request_rec *r, const tf_dir_conf_t *dc,
                          tf_lease_t *l, const unsigned char *params,
                          apr_size_t params_len, answer_t *a)
{
    tf_xsink_t sink = {on_stdout, on_stderr, on_end, on_read, a};
    tf_exchange_t x;
    tf_xend_e end;

    memset(&x, 0, sizeof(x));
    memset(a, 0, sizeof(*a));
    a->r = r;
    a->peer = &l->peer;
    a->bb = apr_brigade_create(r->pool, r->connection->bucket_alloc);
    x.addr = &l->addr;
    x.fd = -1;
    x.role = TF_FCGI_AUTHORIZER;
    x.params = params;
    x.params_len = params_len;
    x.sink = &sink;
    x.connect_timeout = apr_time_from_sec(dc->connect_timeout);
    x.io_timeout = apr_time_from_sec(dc->io_timeout);
    x.deadline = dc->busy_timeout
                     ? apr_time_now() + apr_time_from_sec(dc->busy_timeout)
                     : 0;
    x.ba = r->connection->bucket_alloc;
    end = tf_exchange_run(&x);
    tf_exchange_done(&x);
    if (x.fd >= 0) {
        close(x.fd);
    }
    tf_lease_give_back(r, l,
                       end == TF_XEND_DONE ? TF_RELEASE_SERVED
                                           : TF_RELEASE_BROKEN,
                       NULL);
    return end;
}

/* How an exchange that did not end well ends the request, logged.
 * @return its status (tf_bridge_answer(): a 503 says when to retry). */
static int failed(request_rec *r, tf_auth_phase_e phase, const tf_peer_t *peer,
                  tf_xend_e end, const answer_t *a)
{
    tf_outcome_e o = end == TF_XEND_TIMEUP || end == TF_XEND_BUSY
                         ? TF_OUT_TIMEOUT
                     : end == TF_XEND_UNREACHED
                             || end == TF_XEND_CONNECT_TIMEUP
                         ? TF_OUT_UNAVAILABLE
                         : TF_OUT_GATEWAY;
    const char *what = end == TF_XEND_SINK && a->too_long
                           ? apr_psprintf(r->pool, "answered more than %d "
                                          "bytes", MAX_ANSWER)
                       : end == TF_XEND_TIMEUP ? "did not answer in time"
                       : end == TF_XEND_BUSY ? "was not done within "
                                               "TracFcgiBusyTimeout"
                       : o == TF_OUT_UNAVAILABLE ? "could not be reached"
                                                 : "did not answer";

    ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, TFLOGNO(01101)
                  TF_PEER_MSG(r->pool, peer, " (%s) %s; answering %d"),
                  directive[phase], what, tf_outcome_status(o));
    return tf_bridge_answer(r, o);
}

/* The Basic credentials a TracFcgiAuthenticator checks, in @password.
 * @return OK, or the status (401 with httpd's challenge when there are
 * none; 500, logged, when the section has no AuthType Basic). */
static int credentials(request_rec *r, const char *command,
                       const char **password)
{
    int rc = ap_get_basic_auth_pw(r, password);

    if (rc == DECLINED) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, TFLOGNO(01106)
                      "TracFcgiAuthenticator %s takes Basic credentials: "
                      "this section needs AuthType Basic and an AuthName; "
                      "answering 500", command);
        return HTTP_INTERNAL_SERVER_ERROR;
    }
    return rc;
}

/* Ask a backend of @command's pool, once more if the first could not be
 * reached or closed at once (a php-cgi at its request limit: asking has
 * no side effect). @return OK with the answer in @a and whom it came
 * from in @l, or the status the request gets (logged). */
static int ask_backend(request_rec *r, const tf_dir_conf_t *dc,
                       tf_auth_phase_e phase, const unsigned char *params,
                       apr_size_t params_len, tf_lease_t *l, answer_t *a)
{
    const char *command = dc->auth_cmd[phase];
    tf_spawn_spec_t spec;
    apr_uint64_t key;
    tf_xend_e end = TF_XEND_DONE;
    int n;

    tf_spec_get_for(r, dc, command, &spec, &key);
    for (n = 0; n < 2; n++) {
        tf_outcome_e o;

        memset(l, 0, sizeof(*l));
        if ((o = tf_lease_take(r, dc, &spec, key, l)) != TF_OUT_NONE) {
            return tf_bridge_answer(r, o); /* logged by the lease */
        }
        end = exchange(r, dc, l, params, params_len, a);
        if (end != TF_XEND_UNREACHED && end != TF_XEND_SILENT) {
            break;
        }
    }
    return end == TF_XEND_DONE ? OK : failed(r, phase, &l->peer, end, a);
}

/* What the answer @a of @l decides. @return OK (the request goes on),
 * DECLINED (...Authoritative Off: the other modules decide), DONE (the
 * refusal was sent), or 500 for an answer that is none (logged). */
static int decide(request_rec *r, const tf_dir_conf_t *dc,
                  tf_auth_phase_e phase, const tf_lease_t *l, answer_t *a)
{
    const char *command = dc->auth_cmd[phase], *body;
    apr_table_t *hdrs = apr_table_make(r->pool, 8);
    apr_size_t body_len;
    int status;

    if (a->protocol_status != TF_FCGI_REQUEST_COMPLETE) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, TFLOGNO(01102)
                      TF_PEER_MSG(r->pool, &l->peer, " (%s) refused the "
                      "AUTHORIZER role (protocol status %u): is it an "
                      "authorizer?; answering 500"), directive[phase],
                      a->protocol_status);
        return HTTP_INTERNAL_SERVER_ERROR;
    }
    if (parse(a, hdrs, &status, &body, &body_len) < 0) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, TFLOGNO(01103)
                      TF_PEER_MSG(r->pool, &l->peer, " (%s) answered "
                      "without a valid CGI header block; answering 500"),
                      directive[phase]);
        return HTTP_INTERNAL_SERVER_ERROR;
    }
    if (status == HTTP_OK) {
        apr_table_do(take_variable, r, hdrs, NULL);
        ap_log_rerror(APLOG_MARK, APLOG_DEBUG, 0, r, TFLOGNO(01104)
                      "%s %s lets %s%s have %s", directive[phase], command,
                      r->user ? "user " : "the client",
                      r->user ? r->user : "", r->uri);
        return OK;
    }
    ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, r, TFLOGNO(01105)
                  "%s %s answered %d for %s%s%s%s", directive[phase],
                  command, status, r->uri, r->user ? " (user " : "",
                  r->user ? r->user : "", r->user ? ")" : "");
    if (!dc->auth_authoritative[phase]) {
        return DECLINED; /* ...Authoritative Off: the others decide */
    }
    return refuse(r, phase, status, hdrs, body, body_len);
}

static int ask(request_rec *r, tf_auth_phase_e phase)
{
    const char *password = NULL;
    unsigned char *params;
    apr_size_t params_len;
    tf_dir_conf_t dc;
    tf_lease_t l;
    answer_t a;
    int rc;

    /* every request passes here: the section's own word first, before
     * the configuration is resolved */
    if (!((const tf_dir_conf_t *)ap_get_module_config(
              r->per_dir_config, &tracfcgi_module))->auth_cmd[phase]) {
        return DECLINED;
    }
    tf_config_dir_get(r, &dc);
    if (!tf_lease_ready()) {
        return HTTP_INTERNAL_SERVER_ERROR;
    }
    if ((phase == TF_AUTHN
         && (rc = credentials(r, dc.auth_cmd[phase], &password)) != OK)
        || (rc = tf_params_encode_authorizer(r, &dc, role_name[phase],
                                             password, &params,
                                             &params_len)) != OK
        || (rc = ask_backend(r, &dc, phase, params, params_len, &l, &a))
               != OK) {
        return rc;
    }
    return decide(r, &dc, phase, &l, &a);
}

int tf_authorizer_authn(request_rec *r)
{
    return ask(r, TF_AUTHN);
}

int tf_authorizer_authz(request_rec *r)
{
    return ask(r, TF_AUTHZ);
}

int tf_authorizer_access(request_rec *r)
{
    return ask(r, TF_ACCESS);
}
