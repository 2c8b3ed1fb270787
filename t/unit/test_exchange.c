/*
 * test_exchange.c: one request on one backend connection (src/exchange.c)
 * against a scripted peer: a forked process listening on a unix socket in
 * a fresh directory, which reads the request as a backend would, checks
 * it (its exit status says whether BEGIN_REQUEST, PARAMS and STDIN came
 * whole and in order) and answers with the bytes the case gives, then
 * closes, stalls or stays. No httpd: the sink and the body source are the
 * test's own.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <netinet/in.h>
#include <sys/wait.h>
#include <unistd.h>

#include "apr_general.h"
#include "apr_strings.h"

#include "tf_exchange.h"
#include "tf_fcgi_proto.h"
#include "tf_test.h"

#define BIG_BODY (300 * 1024)

/* --- The peer ------------------------------------------------------------ */

typedef enum { THEN_CLOSE, THEN_STALL } then_e;

typedef struct {
    const char *name;
    int read_request;      /* read it whole before answering */
    const unsigned char *answer;
    size_t answer_len;
    then_e then;
} peer_t;

static int read_full(int fd, unsigned char *buf, size_t n)
{
    size_t got = 0;

    while (got < n) {
        ssize_t r = read(fd, buf + got, n - got);

        if (r <= 0) {
            return -1;
        }
        got += (size_t)r;
    }
    return 0;
}

/* Read records until the empty STDIN; check what came. @return 0 if the
 * request is what the test sent. */
static int read_request(int fd, const unsigned char *body, size_t blen)
{
    unsigned char h[8], *content = malloc(65535 + 255);
    size_t bgot = 0, n;
    int seen_begin = 0, bad = 0;

    for (;;) {
        if (read_full(fd, h, 8) != 0) {
            return 10;
        }
        n = ((size_t)h[4] << 8 | h[5]) + h[6];
        if (h[0] != 1 || read_full(fd, content, n) != 0) {
            return 11;
        }
        n -= h[6];
        switch (h[1]) {
        case TF_FCGI_BEGIN_REQUEST:
            seen_begin = content[1] == TF_FCGI_RESPONDER && n == 8;
            break;
        case TF_FCGI_PARAMS:
            bad |= !seen_begin; /* BEGIN_REQUEST comes first */
            break;
        case TF_FCGI_STDIN:
            if (n == 0) {
                free(content);
                return bad || !seen_begin || bgot != blen ? 12 : 0;
            }
            bad |= bgot + n > blen || memcmp(body + bgot, content, n) != 0;
            bgot += n;
            break;
        default:
            bad = 1;
        }
    }
}

static pid_t peer_start(const peer_t *pc, int lfd, const unsigned char *body,
                        size_t blen)
{
    pid_t pid = fork();
    int fd, rc = 0;

    if (pid != 0) {
        return pid;
    }
    signal(SIGPIPE, SIG_IGN);
    fd = accept(lfd, NULL, NULL);
    if (fd < 0) {
        _exit(20);
    }
    if (pc->read_request) {
        rc = read_request(fd, body, blen);
    }
    if (pc->answer_len
        && write(fd, pc->answer, pc->answer_len) != (ssize_t)pc->answer_len) {
        rc = 21;
    }
    if (pc->then == THEN_STALL) {
        sleep(3);
    }
    close(fd);
    _exit(rc);
}

/* --- The test's sink and body source -------------------------------------- */

typedef struct {
    unsigned char *out;
    size_t out_len;
    char err[256];
    size_t err_len;
    int ended;
    apr_uint32_t app_status;
    unsigned protocol_status;
    int in_buffer;         /* STDOUT pieces handed as read-buffer slices */
    int stdout_calls;
    int stop_at;           /* return STOP on this STDOUT call (1-based) */
    int gone_on_read;      /* return CLIENT_GONE from on_read */
} tsink_t;

static int t_stdout(void *ctx, const unsigned char *d, apr_size_t n,
                    apr_bucket *buf)
{
    tsink_t *s = ctx;

    s->stdout_calls++;
    if (buf) {
        const char *base = ((apr_bucket_heap *)buf->data)->base;

        s->in_buffer += (const char *)d >= base;
    }
    memcpy(s->out + s->out_len, d, n);
    s->out_len += n;
    return s->stop_at && s->stdout_calls == s->stop_at ? TF_SINK_STOP
                                                       : TF_SINK_GO_ON;
}

static void t_stderr(void *ctx, const unsigned char *d, apr_size_t n)
{
    tsink_t *s = ctx;

    if (s->err_len + n < sizeof(s->err)) {
        memcpy(s->err + s->err_len, d, n);
        s->err_len += n;
    }
}

static int t_end(void *ctx, apr_uint32_t app, unsigned proto)
{
    tsink_t *s = ctx;

    s->ended++;
    s->app_status = app;
    s->protocol_status = proto;
    return TF_SINK_GO_ON;
}

static int t_read(void *ctx, int paused)
{
    tsink_t *s = ctx;

    return s->gone_on_read ? TF_SINK_CLIENT_GONE : TF_SINK_GO_ON;
}

typedef struct {
    const unsigned char *data;
    size_t len, pos;
    size_t fail_at;        /* fail once pos reaches it (0: never) */
    int in_file;           /* 1: from file_from on, the pieces are ranges
                            * of fd (which holds the whole body) */
    int fd;
    size_t file_from;
    size_t file_pieces;    /* handed out as file ranges */
} tbody_t;

static apr_status_t b_rewind(void *ctx)
{
    ((tbody_t *)ctx)->pos = 0;
    return APR_SUCCESS;
}

static apr_status_t b_next(void *ctx, apr_size_t max, const char **data,
                           apr_size_t *len, int *stable)
{
    tbody_t *b = ctx;
    size_t n = b->len - b->pos;

    if (b->fail_at && b->pos >= b->fail_at) {
        return APR_EGENERAL;
    }
    if (n == 0) {
        return APR_EOF;
    }
    if (n > max) {
        n = max;
    }
    if (n > 40000) {
        n = 40000; /* several pieces, not record-aligned */
    }
    *data = (const char *)b->data + b->pos;
    *len = n;
    *stable = 1;
    b->pos += n;
    return APR_SUCCESS;
}

static apr_status_t b_next_file(void *ctx, apr_size_t max, int *fd,
                                apr_off_t *off, apr_size_t *len,
                                int *records)
{
    tbody_t *b = ctx;
    size_t n = b->len - b->pos;

    if (!b->in_file || b->pos < b->file_from || n == 0) {
        return APR_ENOTIMPL;
    }
    *records = b->in_file == 2;
    if (*records) {
        /* the rest, as the file's records (it holds the whole body) */
        *fd = b->fd;
        *off = (apr_off_t)(b->pos / 65535 * (65535 + 8));
        *len = n + (n + 65534) / 65535 * 8;
        b->pos = b->len;
        b->file_pieces++;
        return APR_SUCCESS;
    }
    if (n > max) {
        n = max;
    }
    if (n > 50000) {
        n = 50000;
    }
    *fd = b->fd;
    *off = (apr_off_t)b->pos;
    *len = n;
    b->pos += n;
    b->file_pieces++;
    return APR_SUCCESS;
}

/* --- Answers ------------------------------------------------------------- */

/* Append one record of @type with @content to @buf at *off. */
static void put_record(unsigned char *buf, size_t *off, unsigned type,
                       unsigned id, const void *content, size_t len,
                       unsigned pad)
{
    tf_fcgi_header_encode(buf + *off, type, id, len, pad);
    *off += TF_FCGI_HEADER_LEN;
    memcpy(buf + *off, content, len);
    *off += len;
    memset(buf + *off, 0, pad);
    *off += pad;
}

static void put_end(unsigned char *buf, size_t *off, unsigned id,
                    apr_uint32_t app, unsigned proto)
{
    unsigned char e[8] = {(unsigned char)(app >> 24), (unsigned char)(app >> 16),
                          (unsigned char)(app >> 8), (unsigned char)app,
                          (unsigned char)proto, 0, 0, 0};

    put_record(buf, off, TF_FCGI_END_REQUEST, id, e, 8, 0);
}

/* --- Running a case ------------------------------------------------------ */

typedef struct {
    apr_pool_t *p;
    apr_bucket_alloc_t *ba;
    char dir[64];
    char path[128];
    unsigned char params[64];
    size_t params_len;
    unsigned char *body;
    int tcp;               /* the peer listens on TCP on the loopback */
    char tcp_addr[32];     /* then: "127.0.0.1:PORT" */
} env_t;

/* @p b's bytes from @p from on come from a file (unlinked) holding the
 * first @p file_len bytes of the test's body. */
static void body_in_file(const env_t *e, tbody_t *b, size_t file_len,
                         size_t from)
{
    char path[128];
    int fd;

    snprintf(path, sizeof(path), "%s/body", e->dir);
    fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
    if (fd < 0 || write(fd, e->body, file_len) != (ssize_t)file_len) {
        perror("body file");
        exit(2);
    }
    unlink(path);
    b->in_file = 1;
    b->fd = fd;
    b->file_from = from;
}

/* @p b comes from a file holding the whole body as STDIN records of
 * 65535 bytes, their headers included (as src/body.c spools a body of
 * known length). */
static void body_in_records(const env_t *e, tbody_t *b)
{
    unsigned char h[TF_FCGI_HEADER_LEN];
    size_t at, n;

    body_in_file(e, b, 0, 0);
    for (at = 0; at < b->len; at += n) {
        n = b->len - at < 65535 ? b->len - at : 65535;
        tf_fcgi_header_encode(h, TF_FCGI_STDIN, 1, n, 0);
        if (write(b->fd, h, sizeof(h)) != (ssize_t)sizeof(h)
            || write(b->fd, e->body + at, n) != (ssize_t)n) {
            perror("record file");
            exit(2);
        }
    }
    b->in_file = 2;
}

typedef struct {
    tf_xend_e end;
    int peer_status;
    tf_exchange_t x;
} result_t;

static int listen_tcp(env_t *e)
{
    struct sockaddr_in sa;
    socklen_t len = sizeof(sa);
    int fd = socket(AF_INET, SOCK_STREAM, 0);

    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0
        || listen(fd, 8) < 0
        || getsockname(fd, (struct sockaddr *)&sa, &len) < 0) {
        perror("listen");
        exit(2);
    }
    snprintf(e->tcp_addr, sizeof(e->tcp_addr), "127.0.0.1:%d",
             ntohs(sa.sin_port));
    return fd;
}

static int listen_at(const char *path)
{
    struct sockaddr_un sa;
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);

    memset(&sa, 0, sizeof(sa));
    sa.sun_family = AF_UNIX;
    strcpy(sa.sun_path, path);
    unlink(path);
    if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0
        || listen(fd, 8) < 0) {
        perror("listen");
        exit(2);
    }
    return fd;
}

/* TracFcgiBusyTimeout of the next run()s: 0, none */
static apr_interval_time_t busy_for;

static void run(env_t *e, const peer_t *pc, tbody_t *body, tsink_t *s,
                apr_interval_time_t io_timeout, result_t *res)
{
    tf_backend_addr_t addr;
    tf_xsink_t sink = {t_stdout, t_stderr, t_end, t_read, s};
    tf_xbody_t src = {b_rewind, b_next, b_next_file, body};
    int lfd = e->tcp ? listen_tcp(e) : listen_at(e->path), st;
    pid_t pid = peer_start(pc, lfd, body->data, body->len);

    tf_backend_addr_unix(&addr, e->path);
    if (e->tcp && tf_backend_addr_parse(e->p, e->tcp_addr, &addr) != NULL) {
        exit(2);
    }
    close(lfd);
    memset(&res->x, 0, sizeof(res->x));
    res->x.addr = &addr;
    res->x.role = TF_FCGI_RESPONDER;
    res->x.params = e->params;
    res->x.params_len = e->params_len;
    res->x.body = &src;
    res->x.sink = &sink;
    res->x.connect_timeout = apr_time_from_sec(1);
    res->x.io_timeout = io_timeout;
    res->x.deadline = busy_for ? apr_time_now() + busy_for : 0;
    res->x.ba = e->ba;
    res->end = tf_exchange_run(&res->x);
    if (res->x.fd >= 0) {
        close(res->x.fd);
    }
    tf_exchange_done(&res->x);
    if (pc->then == THEN_STALL) {
        kill(pid, SIGKILL);
    }
    waitpid(pid, &st, 0);
    res->peer_status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
    if (getenv("TF_TEST_VERBOSE")) {
        printf("%s: end %d rv %d peer %d\n", pc->name, (int)res->end,
               (int)res->x.rv, res->peer_status);
    }
    unlink(e->path);
}

static void sink_init(tsink_t *s)
{
    static unsigned char out[1 << 20];

    memset(s, 0, sizeof(*s));
    s->out = out;
}

/* --- The cases ----------------------------------------------------------- */

static void test_answer(env_t *e)
{
    static unsigned char ans[4096];
    static const char h[] = "Status: 200 OK\r\nContent-Type: text/plain\r\n\r\n";
    size_t off = 0;
    tbody_t body = {.data = e->body, .len = BIG_BODY};
    peer_t pc = {"answer", 1, ans, 0, THEN_CLOSE};
    unsigned char unknown[3] = {1, 2, 3};
    tsink_t s;
    result_t res;

    put_record(ans, &off, TF_FCGI_STDOUT, 1, h, 10, 6);   /* split header */
    put_record(ans, &off, TF_FCGI_STDERR, 1, "warn", 4, 4);
    put_record(ans, &off, TF_FCGI_STDOUT, 1, h + 10, sizeof(h) - 11, 0);
    put_record(ans, &off, 0x42, 1, unknown, 3, 5);       /* skipped */
    put_record(ans, &off, TF_FCGI_STDOUT, 1, "hello", 5, 3);
    put_record(ans, &off, TF_FCGI_STDOUT, 1, "", 0, 0);
    put_end(ans, &off, 1, 7, TF_FCGI_REQUEST_COMPLETE);
    pc.answer_len = off;
    sink_init(&s);
    run(e, &pc, &body, &s, apr_time_from_sec(5), &res);
    TF_CHECK("a whole answer ends the exchange", res.end == TF_XEND_DONE);
    TF_CHECK("the peer got BEGIN, PARAMS and the 300 KiB body whole",
             res.peer_status == 0);
    TF_CHECK("STDOUT reaches the sink in order",
             s.out_len == sizeof(h) - 1 + 5
                 && memcmp(s.out, h, sizeof(h) - 1) == 0
                 && memcmp(s.out + sizeof(h) - 1, "hello", 5) == 0);
    TF_CHECK("STDOUT comes as slices of the read buffer",
             s.in_buffer == s.stdout_calls && s.stdout_calls >= 3);
    TF_CHECK("STDERR reaches the sink",
             s.err_len == 4 && memcmp(s.err, "warn", 4) == 0);
    TF_CHECK("END_REQUEST once, with its statuses",
             s.ended == 1 && s.app_status == 7
                 && s.protocol_status == TF_FCGI_REQUEST_COMPLETE);
    TF_CHECK("an unknown record type is skipped and counted",
             res.x.skipped == 1);
    TF_CHECK("the connection is the caller's to close", res.x.got_any);
    TF_CHECK("all sent, nothing after END_REQUEST: reusable",
             res.x.clean == 1);

    /* the body's first 1000 bytes in memory, the rest in a file: sent
     * with sendfile() between the record headers */
    body_in_file(e, &body, BIG_BODY, 1000);
    sink_init(&s);
    run(e, &pc, &body, &s, apr_time_from_sec(5), &res);
    TF_CHECK("a body from a file: the peer got it whole, in order",
             res.end == TF_XEND_DONE && res.peer_status == 0
                 && body.file_pieces >= 6 && res.x.clean == 1);
    sink_init(&s);
    run(e, &pc, &body, &s, apr_time_from_sec(5), &res);
    TF_CHECK("... and again (a replay reads the file from its start)",
             res.end == TF_XEND_DONE && res.peer_status == 0);
    close(body.fd);

    /* a file of whole STDIN records: sent as it is, in one piece */
    body.file_pieces = 0;
    body_in_records(e, &body);
    sink_init(&s);
    run(e, &pc, &body, &s, apr_time_from_sec(5), &res);
    TF_CHECK("a body as the file's records: the peer got it whole",
             res.end == TF_XEND_DONE && res.peer_status == 0
                 && body.file_pieces == 1 && res.x.clean == 1);
    close(body.fd);
    body.in_file = 0;

    /* bytes after END_REQUEST: done, but not a connection to reuse */
    put_record(ans, &off, TF_FCGI_STDOUT, 1, "late", 4, 4);
    pc.answer_len = off;
    sink_init(&s);
    run(e, &pc, &body, &s, apr_time_from_sec(5), &res);
    TF_CHECK("done", res.end == TF_XEND_DONE);
    TF_CHECK("something after END_REQUEST: not reusable", res.x.clean == 0);
}

static void test_failures(env_t *e)
{
    static unsigned char ans[256];
    size_t off = 0;
    tbody_t body = {.data = e->body, .len = 1000};
    peer_t silent = {"silent", 1, NULL, 0, THEN_CLOSE};
    peer_t mid = {"mid", 1, ans, 0, THEN_CLOSE};
    peer_t stall = {"stall", 1, NULL, 0, THEN_STALL};
    peer_t v2 = {"version 2", 1, ans, 0, THEN_STALL};
    tsink_t s;
    result_t res;
    apr_time_t t0;

    sink_init(&s);
    run(e, &silent, &body, &s, apr_time_from_sec(5), &res);
    TF_CHECK("closed before a byte: SILENT (it may have read it)",
             res.end == TF_XEND_SILENT && !res.x.got_any
                 && res.peer_status == 0);

    put_record(ans, &off, TF_FCGI_STDOUT, 1, "Status: 200\r\n", 13, 3);
    mid.answer_len = off;
    sink_init(&s);
    run(e, &mid, &body, &s, apr_time_from_sec(5), &res);
    TF_CHECK("closed mid-answer: CLOSED", res.end == TF_XEND_CLOSED
                                              && res.x.got_any);

    sink_init(&s);
    run(e, &stall, &body, &s, apr_time_from_msec(300), &res);
    TF_CHECK("silent past the I/O timeout: TIMEUP",
             res.end == TF_XEND_TIMEUP);

    sink_init(&s);
    busy_for = apr_time_from_msec(300);
    t0 = apr_time_now();
    run(e, &stall, &body, &s, apr_time_from_sec(5), &res);
    busy_for = 0;
    TF_CHECK("past the deadline before the I/O timeout: BUSY, on time",
             res.end == TF_XEND_BUSY
                 && apr_time_now() - t0 < apr_time_from_sec(2));

    off = 0;
    put_record(ans, &off, TF_FCGI_STDOUT, 1, "x", 1, 7);
    ans[0] = 2;
    v2.answer_len = off;
    sink_init(&s);
    run(e, &v2, &body, &s, apr_time_from_sec(5), &res);
    TF_CHECK("version 2: PROTOCOL, with the codec's reason",
             res.end == TF_XEND_PROTOCOL
                 && res.x.fcgi_rc == TF_FCGI_E_VERSION);
}

static void test_unreached(env_t *e)
{
    tf_backend_addr_t addr;
    tsink_t s;
    tf_xsink_t sink = {t_stdout, t_stderr, t_end, t_read, &s};
    tf_exchange_t x;
    tf_xend_e end;

    sink_init(&s);
    tf_backend_addr_unix(&addr, e->path);
    memset(&x, 0, sizeof(x));
    x.addr = &addr;
    x.role = TF_FCGI_RESPONDER;
    x.params = e->params;
    x.params_len = e->params_len;
    x.sink = &sink;
    x.io_timeout = apr_time_from_sec(1);
    x.ba = e->ba;
    unlink(e->path);
    end = tf_exchange_run(&x);
    TF_CHECK("nobody listens: UNREACHED, the request never left",
             end == TF_XEND_UNREACHED && x.fd == -1
                 && (x.rv == ENOENT || x.rv == ECONNREFUSED));
}

static void test_sink_and_body(env_t *e)
{
    static unsigned char ans[256];
    size_t off = 0;
    tbody_t body = {.data = e->body, .len = 1000};
    tbody_t failing = {.data = e->body, .len = BIG_BODY, .fail_at = 100000};
    peer_t pc = {"answer", 1, ans, 0, THEN_STALL};
    peer_t early = {"early", 0, ans, 0, THEN_STALL};
    peer_t stalled = {"stalled", 1, ans, 0, THEN_STALL};
    tsink_t s;
    result_t res;

    put_record(ans, &off, TF_FCGI_STDOUT, 1, "Status: 200\r\n\r\nab", 17, 7);
    put_end(ans, &off, 1, 0, TF_FCGI_REQUEST_COMPLETE);
    pc.answer_len = early.answer_len = off;

    sink_init(&s);
    s.stop_at = 1;
    run(e, &pc, &body, &s, apr_time_from_sec(5), &res);
    TF_CHECK("the sink stops it: SINK", res.end == TF_XEND_SINK);

    /* the answer's start, then nothing: the sink is asked to pass it on
     * after the read, and its client is gone */
    sink_init(&s);
    s.gone_on_read = 1;
    stalled.answer_len = off - TF_FCGI_HEADER_LEN - 8;
    run(e, &stalled, &body, &s, apr_time_from_sec(5), &res);
    TF_CHECK("the client went away: CLIENT_GONE",
             res.end == TF_XEND_CLIENT_GONE);

    sink_init(&s);
    run(e, &pc, &failing, &s, apr_time_from_sec(5), &res);
    TF_CHECK("the body source failed: BODY with its status",
             res.end == TF_XEND_BODY && res.x.rv == APR_EGENERAL);

    /* an answer before the body was read: the rest of the body is
     * dropped, the answer taken */
    body.len = BIG_BODY;
    body.data = e->body;
    sink_init(&s);
    run(e, &early, &body, &s, apr_time_from_sec(5), &res);
    TF_CHECK("an early answer is taken", res.end == TF_XEND_DONE
                                             && s.out_len == 17);

    /* the same from a file: sendfile() stops at the closed connection */
    body_in_file(e, &body, BIG_BODY, 0);
    sink_init(&s);
    run(e, &early, &body, &s, apr_time_from_sec(5), &res);
    TF_CHECK("an early answer is taken (body from a file)",
             res.end == TF_XEND_DONE && s.out_len == 17);
    close(body.fd);

    /* a file shorter than the body it should hold: the body failed, the
     * exchange does not wait for bytes that will never come */
    body_in_file(e, &body, 1000, 0);
    sink_init(&s);
    run(e, &stalled, &body, &s, apr_time_from_sec(5), &res);
    TF_CHECK("a file that ends early: BODY, at once",
             res.end == TF_XEND_BODY && res.x.rv == APR_EOF);
    close(body.fd);
}

int main(void)
{
    env_t e;
    size_t i;

    apr_initialize();
    signal(SIGPIPE, SIG_IGN);
    apr_pool_create(&e.p, NULL);
    e.ba = apr_bucket_alloc_create(e.p);
    strcpy(e.dir, "/tmp/tf-xchg-XXXXXX");
    if (!mkdtemp(e.dir)) {
        perror("mkdtemp");
        return 2;
    }
    snprintf(e.path, sizeof(e.path), "%s/b.sock", e.dir);
    tf_fcgi_header_encode(e.params, TF_FCGI_PARAMS, 1, 0, 0);
    e.params_len = TF_FCGI_HEADER_LEN;
    e.body = malloc(BIG_BODY);
    for (i = 0; i < BIG_BODY; i++) {
        e.body[i] = (unsigned char)(i * 131 + (i >> 8));
    }

    test_answer(&e);
    test_failures(&e);
    e.tcp = 1;        /* the same over TCP: the exchange knows no family */
    test_answer(&e);
    test_failures(&e);
    e.tcp = 0;
    test_unreached(&e);
    test_sink_and_body(&e);

    rmdir(e.dir);
    free(e.body);
    apr_pool_destroy(e.p);
    apr_terminate();
    return TF_REPORT();
}
