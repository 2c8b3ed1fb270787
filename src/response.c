/*
 * response.c: the RESPONDER role's sink. The answer's STDOUT is a CGI
 * response: its header block is gathered (up to MAX_HEADER_BLOCK) and
 * parsed by httpd's own parser as mod_cgi parses a script's; then the
 * body goes to the output filters as slices of the exchange's read
 * buffers (no copy), in batches while the backend keeps sending, flushed
 * when it pauses (streamed answers, progress pages); with
 * TracFcgiResponseBuffer, past its first 64 KiB, passed on as far as the
 * client's connection takes it at once, and what it leaves held back
 * (memory, then a temporary file: src/spill.c) until the backend is done,
 * up to that many bytes, so that a slow client does not hold the
 * backend. What is
 * not a CGI response is the application's fault, not the gateway's:
 * outcome TF_OUT_APP_INVALID (500, as mod_cgi).
 *
 * Runs in a request thread, one per attempt. Logs what it finds wrong;
 * src/bridge.c turns its outcome into a status.
 */
#include <string.h>

#include "apr_strings.h"
#include "http_core.h"
#include "http_protocol.h"
#include "http_request.h"
#include "util_script.h"

#include "tf_cgi_head.h"
#include "tf_iobuf.h"
#include "tf_private.h"
#include "tf_response.h"
#include "tf_spill.h"
#include "tf_xsendfile.h"

/* A log line that names the backend of @rs (TF_PEER_MSG). */
#define RS_MSG(rs, msg) TF_PEER_MSG((rs)->r->pool, &(rs)->peer, msg)

#define MAX_HEADER_BLOCK (256 * 1024) /* response header block, bytes */
#define PASS_BATCH (256 * 1024) /* body bytes gathered before passing on */
#define HOLD_IN_MEMORY (64 * 1024) /* body held in memory, at most */
#define STREAM_START (64 * 1024) /* body streamed before it is held */
#define FLUSH_UP_TO (16 * 1024) /* body that a pause flushes while it is
                                 * streamed before being held: what an
                                 * empty socket send buffer takes */
#define DRAIN_STEP (32 * 1024) /* held body passed on at a time while the
                               * client keeps up: below what httpd's core
                               * output filter keeps without waiting */
#define STDERR_LINE_MAX 8192    /* a longer line is logged in pieces */

struct tf_response {
    request_rec *r;
    const tf_dir_conf_t *dc;
    tf_peer_t peer;           /* for log lines */
    apr_bucket_brigade *bb; /* body gathered, not passed on yet */
    apr_bucket_brigade *out; /* a piece of it being passed on (drain()) */
    char *hdr;              /* header block being gathered */
    apr_size_t hdr_len, hdr_cap;
    int headers_done;
    int discard;            /* body not wanted (redirect, 304) */
    int sent;               /* something was passed to the client */
    int holding;            /* body held back (TracFcgiResponseBuffer) */
    tf_spill_t *spill;      /* where it is held beyond HOLD_IN_MEMORY */
    int unflushed;          /* passed on without a FLUSH since the last */
    int broken;             /* the backend must not serve again */
    int lost;               /* what was held cannot be read back: the
                             * client's answer ends short */
    apr_off_t cl;           /* the backend's Content-Length, -1 if none */
    apr_off_t body_sent;
    apr_size_t pending;     /* body bytes in bb */
    const char *redirect;   /* local redirect target */
    const char *sendfile;   /* X-Sendfile: the file Apache sends */
    int status;             /* 302/304/412 after the headers */
    tf_outcome_e outcome;   /* after TF_SINK_STOP */
    char *errline;          /* STDERR line being gathered */
    apr_size_t errlen;
};

/* The sink cannot go on: remember why. */
static int stop(tf_response_t *rs, tf_outcome_e o, int broken)
{
    rs->outcome = o;
    rs->broken |= broken;
    return TF_SINK_STOP;
}

/* --- STDERR: the error log, a line at a time ------------------------------ */

static void log_stderr_line(tf_response_t *rs, const char *s, apr_size_t n)
{
    if (n && s[n - 1] == '\r') {
        n--;
    }
    if (n) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, rs->r, TFLOGNO(00410)
                      RS_MSG(rs, " stderr: %.*s"), (int)n, s);
    }
}

/* STDERR arrives in pieces of any size, across records: log whole lines. */
static void on_stderr(void *ctx, const unsigned char *data, apr_size_t len)
{
    tf_response_t *rs = ctx;
    const char *s = (const char *)data, *end = s + len, *nl;

    while (s < end) {
        apr_size_t n, room;

        nl = memchr(s, '\n', (apr_size_t)(end - s));
        n = nl ? (apr_size_t)(nl - s) : (apr_size_t)(end - s);
        if (!rs->errline) {
            rs->errline = apr_palloc(rs->r->pool, STDERR_LINE_MAX);
        }
        room = STDERR_LINE_MAX - rs->errlen;
        if (n > room) {
            n = room;
            nl = NULL;
        }
        memcpy(rs->errline + rs->errlen, s, n);
        rs->errlen += n;
        s += n;
        if (nl) {
            s++;
        }
        if (nl || rs->errlen == STDERR_LINE_MAX) {
            log_stderr_line(rs, rs->errline, rs->errlen);
            rs->errlen = 0;
        }
    }
}

void tf_response_stderr_flush(tf_response_t *rs)
{
    if (rs->errlen) {
        log_stderr_line(rs, rs->errline, rs->errlen);
        rs->errlen = 0;
    }
}

/* --- The body ------------------------------------------------------------ */

/* Body bytes: a slice of the read buffer @buf when there is one (no copy),
 * else a copy. */
static int body_piece(tf_response_t *rs, const unsigned char *data,
                      apr_size_t len, apr_bucket *buf)
{
    apr_bucket *b;

    if (rs->discard || len == 0) {
        return TF_SINK_GO_ON;
    }
    if (rs->cl >= 0 && rs->body_sent + (apr_off_t)len > rs->cl) {
        if (!rs->broken) {
            ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, rs->r, TFLOGNO(00438)
                          RS_MSG(rs, " sent more than its "
                          "Content-Length %" APR_OFF_T_FMT "; the rest is "
                          "dropped and the backend stopped"), rs->cl);
        }
        len = (apr_size_t)(rs->cl - rs->body_sent);
        rs->broken = 1; /* more than it announced: stream suspect */
        if (len == 0) {
            return TF_SINK_GO_ON;
        }
    }
    if (buf) {
        apr_bucket_copy(buf, &b);
        b->start = (apr_off_t)((const char *)data
                               - ((apr_bucket_heap *)buf->data)->base);
        b->length = len;
    }
    else {
        b = apr_bucket_heap_create((const char *)data, len, NULL,
                                   rs->r->connection->bucket_alloc);
    }
    APR_BRIGADE_INSERT_TAIL(rs->bb, b);
    rs->body_sent += (apr_off_t)len;
    rs->pending += len;
    return TF_SINK_GO_ON;
}

/* Pass @bb to the client and empty it. @return 0, or -1 if it is gone. */
static int send_out(tf_response_t *rs, apr_bucket_brigade *bb)
{
    request_rec *r = rs->r;
    apr_status_t rv;

    rs->sent = 1;
    rv = ap_pass_brigade(r->output_filters, bb);
    apr_brigade_cleanup(bb);
    if (rv != APR_SUCCESS || r->connection->aborted) {
        return -1;
    }
    return 0;
}

/* Pass what is gathered to the client. @return 0, or -1 if it is gone. */
static int pass_on(tf_response_t *rs, int flush)
{
    if (APR_BRIGADE_EMPTY(rs->bb) && !(flush && rs->unflushed)) {
        return 0;
    }
    rs->unflushed = !flush;
    if (flush) {
        APR_BRIGADE_INSERT_TAIL(rs->bb, apr_bucket_flush_create(
                                            rs->r->connection->bucket_alloc));
    }
    return send_out(rs, rs->bb);
}

/* httpd's core output filter when it is the last of @c's (it is not on
 * an HTTP/2 stream's connection, whose last filter may wait for the
 * client), else NULL. */
static ap_filter_t *core_filter(conn_rec *c)
{
    ap_filter_t *f = c->output_filters;

    while (f && f->next) {
        f = f->next;
    }
    return f && f->frec == ap_core_output_filter_handle ? f : NULL;
}

/* What the core output filter keeps back, written as far as the socket
 * takes it now: the core's own non-blocking write, called as the event
 * MPM's write completion calls it (a NULL brigade). It keeps back a
 * piece under 4 KiB until more comes; this sends it. */
static int nudge(conn_rec *c, ap_filter_t *core)
{
    if (core->frec->filter_func.out_func(core, NULL) != APR_SUCCESS
        || c->aborted) {
        return -1;
    }
    return 0;
}

/* Move up to DRAIN_STEP bytes from the head of what is held to rs->out:
 * memory as it is; what is in the temporary file, read back into memory
 * (httpd's core would take the file over if it kept a file bucket back:
 * apr_file_setaside()). @return 0, or -1 if the file cannot be read. */
static int next_piece(tf_response_t *rs)
{
    apr_size_t n = 0;

    while (!APR_BRIGADE_EMPTY(rs->bb) && n < DRAIN_STEP) {
        apr_bucket *b = APR_BRIGADE_FIRST(rs->bb);

        if (APR_BUCKET_IS_FILE(b)) {
            if (tf_spill_take(rs->spill, b, DRAIN_STEP - n, &b)
                != APR_SUCCESS) {
                return -1;
            }
        }
        else {
            if (b->length > DRAIN_STEP - n) {
                apr_bucket_split(b, DRAIN_STEP - n);
            }
            rs->pending -= b->length;
            APR_BUCKET_REMOVE(b);
        }
        n += b->length;
        APR_BRIGADE_INSERT_TAIL(rs->out, b);
    }
    return 0;
}

/* While the body is held: what the client takes now goes out, a
 * DRAIN_STEP at a time, as long as httpd's core output filter keeps
 * nothing back (c->data_in_output_filters): a client that keeps up gets
 * the answer as it comes and nothing piles up here; what a slow one
 * leaves stays here, and goes out as it catches up. A piece is smaller
 * than what the core keeps back without waiting for the client
 * (FlushMaxThreshold, 64 KiB unless lowered), so this never waits. At a
 * pause what the core keeps goes out too. Where the core is not the
 * connection's last filter, everything is held as it comes. @return 0,
 * or -1 if the client is gone or what is held cannot be read. */
static int drain(tf_response_t *rs, int paused)
{
    conn_rec *c = rs->r->connection;
    ap_filter_t *core = core_filter(c);

    if (!core) {
        return 0;
    }
    if (!rs->out) {
        rs->out = apr_brigade_create(rs->r->pool, c->bucket_alloc);
    }
    if (c->data_in_output_filters && nudge(c, core) < 0) {
        return -1;
    }
    while (!c->data_in_output_filters && !APR_BRIGADE_EMPTY(rs->bb)) {
        if (next_piece(rs) < 0) {
            rs->lost = 1; /* the exchange ends as for a client gone */
            return -1;
        }
        rs->unflushed = 1;
        if (send_out(rs, rs->out) < 0) {
            return -1;
        }
    }
    if (paused && c->data_in_output_filters && nudge(c, core) < 0) {
        return -1;
    }
    return 0;
}

/* TracFcgiResponseBuffer: the first STREAM_START bytes of an answer go out
 * as they come (a progress page streams): flushed at a pause for the
 * first FLUSH_UP_TO (httpd's core output filter keeps a piece under 4 KiB
 * back until a FLUSH), which the socket takes at once; after that
 * without a FLUSH, which would wait for the client (on_read()): what
 * the socket does not take, httpd keeps, below its FlushMaxThreshold
 * (64 KiB). So a slow client never holds the backend; past them
 * what the client does not take at once (drain()) stays here until the
 * backend has ended the request or the client catches up, up to
 * HOLD_IN_MEMORY in memory, the rest in the temporary file (when all of
 * an answer past 64 KiB was held, a 1 MiB answer in the file cost a
 * quarter of the 1 MiB GET throughput of t/bench/run.py; now that a
 * client that keeps up takes it as it comes, 64 KiB cost nothing
 * measurable there, and keep 8 slow clients' answers to 512 KiB of
 * memory). An answer longer
 * than the buffer, or one the file cannot take, is streamed from there
 * on (what is held goes first). */
static int hold(tf_response_t *rs, int paused)
{
    if (drain(rs, paused) < 0) {
        return TF_SINK_CLIENT_GONE;
    }
    if (rs->body_sent > rs->dc->response_buffer) {
        ap_log_rerror(APLOG_MARK, APLOG_DEBUG, 0, rs->r, TFLOGNO(00450)
                      "the answer is longer than TracFcgiResponseBuffer %"
                      APR_OFF_T_FMT "; streamed from byte %" APR_OFF_T_FMT,
                      rs->dc->response_buffer, rs->body_sent);
    }
    else if (rs->pending < HOLD_IN_MEMORY) {
        return TF_SINK_GO_ON;
    }
    else {
        if (!rs->spill) {
            rs->spill = tf_spill_create(rs->r);
        }
        if (tf_spill_move(rs->spill, rs->bb) == APR_SUCCESS) {
            rs->pending = 0;
            return TF_SINK_GO_ON;
        }
    }
    rs->holding = 0;
    rs->pending = 0;
    return pass_on(rs, 0) < 0 ? TF_SINK_CLIENT_GONE : TF_SINK_GO_ON;
}

/* A read was handled or the backend paused: pass on a full batch, or on a
 * pause everything (flushed). At the end, what is gathered goes out with
 * the EOS in one brigade instead (tf_response_deliver()): a small answer
 * then gets a Content-Length and a single write. */
static int on_read(void *ctx, int paused)
{
    tf_response_t *rs = ctx;

    if (rs->redirect || rs->discard) {
        return TF_SINK_GO_ON;
    }
    if (rs->holding && rs->body_sent >= STREAM_START) {
        return hold(rs, paused);
    }
    if (!paused && rs->pending < PASS_BATCH) {
        return TF_SINK_GO_ON;
    }
    rs->pending = 0;
    /* a FLUSH waits for the client: with the buffer on, only for what
     * the socket surely takes at once */
    return pass_on(rs, paused && (!rs->holding
                                  || rs->body_sent <= FLUSH_UP_TO))
                   < 0
               ? TF_SINK_CLIENT_GONE
               : TF_SINK_GO_ON;
}

/* --- The header block ---------------------------------------------------- */

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

/* Never trust the backend's framing: httpd frames the answer itself. A
 * Content-Length is kept, but checked against what really comes. */
static void take_framing(tf_response_t *rs)
{
    request_rec *r = rs->r;
    const char *cl;
    char *end;
    apr_off_t v;

    apr_table_unset(r->headers_out, "Transfer-Encoding");
    rs->cl = -1;
    if ((cl = apr_table_get(r->headers_out, "Content-Length")) == NULL) {
        return;
    }
    if (apr_strtoff(&v, cl, &end, 10) == APR_SUCCESS && *end == '\0'
        && v >= 0) {
        rs->cl = v;
    }
    else {
        apr_table_unset(r->headers_out, "Content-Length");
    }
}

/* The application asks for its answer to be streamed as it comes (server-
 * sent events, progress pages) with nginx's header for it, which is
 * passed on: a proxy in front of httpd should not buffer it either. */
static int wants_stream(request_rec *r)
{
    const char *v = apr_table_get(r->headers_out, "X-Accel-Buffering");

    if (!v) { /* where httpd's CGI header parser may have put it */
        v = apr_table_get(r->err_headers_out, "X-Accel-Buffering");
    }
    return v && strcasecmp(v, "no") == 0;
}

/* A Location with no Status: a redirect, local (followed inside httpd) or
 * not (302); whatever body comes with it is dropped, as by mod_cgi. */
static int take_location(tf_response_t *rs, const char *location)
{
    rs->discard = 1;
    if (location[0] != '/') {
        rs->status = HTTP_MOVED_TEMPORARILY;
        return TF_SINK_GO_ON;
    }
    if (!local_url_ok(location)) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, rs->r, TFLOGNO(00445)
                      RS_MSG(rs, " sent a local redirect to a "
                      "bad URL (%.80s); answering %d"), location,
                      tf_outcome_status(TF_OUT_APP_INVALID));
        return stop(rs, TF_OUT_APP_INVALID, 1);
    }
    rs->redirect = location;
    return TF_SINK_GO_ON;
}

/* The header block is complete in rs->hdr: parse it like mod_cgi, then
 * what follows it in the block is the start of the body. */
static int parse_headers(tf_response_t *rs)
{
    request_rec *r = rs->r;
    conn_rec *c = r->connection;
    char sbuf[MAX_STRING_LEN];
    const char *location;
    apr_bucket_brigade *hb;
    apr_size_t len;
    char *rest;
    int ret;

    hb = apr_brigade_create(r->pool, c->bucket_alloc);
    APR_BRIGADE_INSERT_TAIL(hb, apr_bucket_transient_create(
                                    rs->hdr, rs->hdr_len, c->bucket_alloc));
    sbuf[0] = '\0';
    ret = ap_scan_script_header_err_brigade_ex(r, hb, sbuf,
                                               APLOG_MODULE_INDEX);
    rs->headers_done = 1;
    if (ret == HTTP_NOT_MODIFIED || ret == HTTP_PRECONDITION_FAILED) {
        rs->status = ret;
        rs->discard = 1;
        return TF_SINK_GO_ON;
    }
    if (ret != OK) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, TFLOGNO(00411)
                      RS_MSG(rs, " sent malformed response "
                      "headers (%.200s); answering %d"), sbuf,
                      tf_outcome_status(TF_OUT_APP_INVALID));
        return stop(rs, TF_OUT_APP_INVALID, 1);
    }
    if (!ap_is_HTTP_VALID_RESPONSE(r->status)) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, TFLOGNO(00437)
                      RS_MSG(rs, " sent an invalid Status "
                      "header (%.40s); answering %d"),
                      r->status_line ? r->status_line : "",
                      tf_outcome_status(TF_OUT_APP_INVALID));
        r->status = HTTP_OK;
        r->status_line = NULL;
        return stop(rs, TF_OUT_APP_INVALID, 1);
    }
    take_framing(rs);
    rs->holding = rs->dc->response_buffer > 0 && !wants_stream(r);
    if (rs->dc->xsendfile && (rs->sendfile = tf_xsendfile_take(r))) {
        if (r->status != HTTP_OK) {
            rs->sendfile = NULL; /* an error page stays as it is */
        }
        else {
            rs->discard = 1; /* the answer is the file, not this body */
            return TF_SINK_GO_ON;
        }
    }
    location = apr_table_get(r->headers_out, "Location");
    if (location && r->status == HTTP_OK) {
        return take_location(rs, location);
    }
    if (APR_BRIGADE_EMPTY(hb)) {
        return TF_SINK_GO_ON;
    }
    /* it counts against the announced length like everything after it */
    if (apr_brigade_pflatten(hb, &rest, &len, r->pool) != APR_SUCCESS) {
        return stop(rs, TF_OUT_INTERNAL, 1);
    }
    apr_brigade_cleanup(hb);
    return body_piece(rs, (const unsigned char *)rest, len, NULL);
}

/* Gather the header block until its empty line; parse it then. */
static int gather_header(tf_response_t *rs, const unsigned char *data,
                         apr_size_t len)
{
    if (rs->hdr_len + len > rs->hdr_cap) {
        apr_size_t cap = rs->hdr_cap ? rs->hdr_cap * 2 : 8192;
        char *n;

        while (cap < rs->hdr_len + len) {
            cap *= 2;
        }
        if (cap > MAX_HEADER_BLOCK + TF_IOBUF_SIZE) {
            ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, rs->r, TFLOGNO(00412)
                          RS_MSG(rs, " sent more than %d bytes "
                          "without ending its response headers; answering "
                          "%d"), MAX_HEADER_BLOCK,
                          tf_outcome_status(TF_OUT_APP_INVALID));
            return stop(rs, TF_OUT_APP_INVALID, 1);
        }
        n = apr_palloc(rs->r->pool, cap);
        if (rs->hdr_len) {
            memcpy(n, rs->hdr, rs->hdr_len);
        }
        rs->hdr = n;
        rs->hdr_cap = cap;
    }
    memcpy(rs->hdr + rs->hdr_len, data, len);
    rs->hdr_len += len;
    if (!tf_cgi_header_end(rs->hdr, rs->hdr_len, rs->hdr_len - len)) {
        return TF_SINK_GO_ON;
    }
    return parse_headers(rs);
}

static int on_stdout(void *ctx, const unsigned char *data, apr_size_t len,
                     apr_bucket *buf)
{
    tf_response_t *rs = ctx;

    if (rs->headers_done) {
        return body_piece(rs, data, len, buf);
    }
    return gather_header(rs, data, len);
}

/* --- The end ------------------------------------------------------------- */

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

static int on_end(void *ctx, apr_uint32_t app_status, unsigned protocol_status)
{
    tf_response_t *rs = ctx;
    request_rec *r = rs->r;

    if (protocol_status != TF_FCGI_REQUEST_COMPLETE && !rs->headers_done) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, TFLOGNO(00415)
                      RS_MSG(rs, " refused the request "
                      "(FastCGI protocol status %u: %s); answering %d"),
                      protocol_status, refusal_name(protocol_status),
                      tf_outcome_status(TF_OUT_GATEWAY));
        return stop(rs, TF_OUT_GATEWAY, 0);
    }
    if (!rs->headers_done) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, TFLOGNO(00421)
                      RS_MSG(rs, " ended the request without a "
                      "complete CGI header block (%" APR_SIZE_T_FMT " bytes "
                      "of output: %s); answering %d"), rs->hdr_len,
                      rs->hdr_len ? "no empty line after the headers"
                                  : "nothing on stdout",
                      tf_outcome_status(TF_OUT_APP_INVALID));
        return stop(rs, TF_OUT_APP_INVALID, 0);
    }
    if (rs->cl >= 0 && rs->body_sent != rs->cl && !rs->discard
        && !r->header_only) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, TFLOGNO(00422)
                      RS_MSG(rs, " announced Content-Length %"
                      APR_OFF_T_FMT " but sent %" APR_OFF_T_FMT " bytes; "
                      "aborting the client connection"), rs->cl,
                      rs->body_sent);
        return stop(rs, TF_OUT_GATEWAY, 1);
    }
    return TF_SINK_GO_ON;
}

/* --- The sink's life ----------------------------------------------------- */

tf_response_t *tf_response_create(request_rec *r, const tf_dir_conf_t *dc,
                                  const tf_peer_t *peer, tf_xsink_t *sink)
{
    tf_response_t *rs = apr_pcalloc(r->pool, sizeof(*rs));

    rs->r = r;
    rs->dc = dc;
    rs->peer = *peer;
    rs->cl = -1;
    rs->bb = apr_brigade_create(r->pool, r->connection->bucket_alloc);
    sink->on_stdout = on_stdout;
    sink->on_stderr = on_stderr;
    sink->on_end = on_end;
    sink->on_read = on_read;
    sink->ctx = rs;
    return rs;
}

int tf_response_deliver(tf_response_t *rs)
{
    request_rec *r = rs->r;

    if (rs->redirect) {
        /* as mod_cgi: the redirect is a GET, and its body was consumed.
         * In a sub-request (mod_include), httpd keeps the including
         * request's filters and drops this one's. */
        r->method = "GET";
        r->method_number = M_GET;
        apr_table_unset(r->headers_in, "Content-Length");
        ap_internal_redirect_handler(rs->redirect, r);
        return OK;
    }
    if (rs->status == HTTP_MOVED_TEMPORARILY
        || rs->status == HTTP_PRECONDITION_FAILED) {
        return rs->status;
    }
    if (rs->sendfile) {
        return tf_xsendfile_serve(r, rs->dc, rs->sendfile);
    }
    if (rs->status == HTTP_NOT_MODIFIED) {
        r->status = rs->status;
    }
    APR_BRIGADE_INSERT_TAIL(rs->bb, apr_bucket_eos_create(
                                        r->connection->bucket_alloc));
    ap_pass_brigade(r->output_filters, rs->bb);
    return OK;
}

void tf_response_abort(tf_response_t *rs)
{
    request_rec *r = rs->r;
    conn_rec *c = r->connection;

    r->no_cache = 1;
    c->keepalive = AP_CONN_CLOSE;
    if (rs->lost) {
        /* a gap: nothing after it may go out */
        apr_brigade_cleanup(rs->bb);
        if (rs->out) {
            apr_brigade_cleanup(rs->out);
        }
    }
    APR_BRIGADE_INSERT_TAIL(rs->bb, ap_bucket_error_create(HTTP_BAD_GATEWAY,
                                                           NULL, r->pool,
                                                           c->bucket_alloc));
    APR_BRIGADE_INSERT_TAIL(rs->bb, apr_bucket_eos_create(c->bucket_alloc));
    ap_pass_brigade(r->output_filters, rs->bb);
    apr_brigade_cleanup(rs->bb);
}

int tf_response_sent(const tf_response_t *rs)
{
    return rs->sent;
}

int tf_response_lost(const tf_response_t *rs)
{
    return rs->lost;
}

int tf_response_broken(const tf_response_t *rs)
{
    return rs->broken;
}

tf_outcome_e tf_response_outcome(const tf_response_t *rs)
{
    return rs->outcome;
}
