/*
 * responder.c - FastCGI test backend for the mod_tracfcgi integration tests.
 *
 * A single-threaded libfcgi responder that accepts on fd 0 (the listening
 * socket the process manager hands it).  What it does for a request is chosen
 * by the QUERY_STRING: keys separated by '&', each either "key" or
 * "key=value" (value URL-decoded), e.g. "?sleep=200&big=1024&cl".
 *
 * Start-up:
 *   env RESPONDER_STARTUP_FAIL set  exit(7) at once, before accepting anything.
 *   env RESPONDER_ONE_ACCEPT set     take one connection (the readiness
 *                                    probe), read it to its end, close it,
 *                                    exit(8): dies right after looking ready.
 *   SIGTERM: libfcgi's handler ends the accept loop and it exits 0 (when
 *   idle); SIGPIPE is ignored.
 *
 * Actions that happen first, in this order:
 *   count=PATH      append one byte to PATH (the number of backends that
 *                   got the request, replays included, is its size).
 *   exit=N          exit(N) as soon as the request is accepted, reply nothing.
 *   exitonce=PATH   if PATH does not exist: create it and exit(9) without
 *                   replying; if it exists: go on normally (lets a test make
 *                   exactly one backend die before answering).
 *   act=PATH        read the whole request body, then append one line
 *                   "METHOD LEN pid=N" to PATH (what the application did:
 *                   the test reads how often it ran).
 *   dieonce=FLAG    after act, if FLAG does not exist: create it and kill
 *                   itself with SIGKILL (as kill -9 would) before answering
 *                   anything; if it exists, go on (a replay then answers).
 *   sleep=MS        sleep MS milliseconds before replying.
 *   stderr=TEXT     write TEXT and a newline to the FastCGI stderr stream.
 *
 * Body ("mode"); the first of these present wins, default is "hello":
 *   (none)          "hello from pid N\n", Content-Type: text/plain.
 *   env             one line per FastCGI param "param:NAME=VALUE", then one
 *                   per process environment variable "environ:NAME=VALUE",
 *                   then "pid:N", "ppid:N", "uid:N", "gid:N", "requests:N"
 *                   (requests served by this process, this one included).
 *   pid             "pid:N\n".
 *   echo            read the whole request body, reply "len:N\nfnv:HEX\n"
 *                   (FNV-1a 64-bit of the body, 16 lowercase hex digits).
 *   echo=raw        read the whole request body and send it back as is
 *                   (Content-Type: application/octet-stream).
 *   big=N           N KiB of body, byte i = 'a' + i % 26, Content-Type
 *                   application/octet-stream, written in 64 KiB pieces.
 *   stream=N        N lines "line i\n", each flushed, with interval=MS
 *                   (default 100) sleep between them; pad=B puts B bytes
 *                   'p' before each line's newline. burst=K: the first K
 *                   lines come at once, padded; the rest unpadded.
 *   redirect=PATH   only a "Location: PATH" header (CGI local redirect).
 *   noheader        "no header block\n" on stdout, no CGI header at all
 *                   (an invalid CGI response), and a normal end.
 *   silent          nothing on stdout, a normal end (a script that failed
 *                   before writing its header).
 *   method          "method:METHOD\nlen:N\n" (N: request body bytes read).
 *   location=URL    "Status: 302 Found" + "Location: URL", short body.
 *   xsendfile=PATH  "X-Sendfile: PATH" (value as given, URL-decoded: CR
 *                   and LF too), Content-Type application/x-test,
 *                   Content-Disposition attachment, and a body of its own
 *                   ("backend body, not to be sent") that X-Sendfile
 *                   replaces.
 *   die-mid-body    headers + 64 KiB of body, FCGX_FFlush, then _exit(3).
 *
 * Modifiers:
 *   status=NNN      "Status: NNN Test Status" header.
 *   headers=N       N extra headers "X-Big-i: <hsize bytes>" (i from 0).
 *   hsize=S         size of each X-Big-i value (default 100).
 *   nobody          send the headers only, no body (not for die-mid-body).
 *   cl              with big=N (and die-mid-body): send a Content-Length
 *                   header (for die-mid-body: the length it would have had,
 *                   1 MiB, of which only 64 KiB is sent).
 *   noct            send no Content-Type header.
 *   allow=TEXT      an "Allow: TEXT" header (an OPTIONS answer).
 *   nobuffer        an "X-Accel-Buffering: no" header.
 */
#include <errno.h>
#include <fcgiapp.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

#define MAX_KEYS 32
#define PIECE (64 * 1024)

struct kv {
    char *key;
    char *val; /* NULL for a bare key */
};

struct query {
    struct kv kv[MAX_KEYS];
    int n;
    char *buf;
};

static unsigned long served;

static int hexval(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

static void url_decode(char *s)
{
    char *o = s;
    while (*s) {
        if (*s == '%' && hexval(s[1]) >= 0 && hexval(s[2]) >= 0) {
            *o++ = (char)(hexval(s[1]) * 16 + hexval(s[2]));
            s += 3;
        } else if (*s == '+') {
            *o++ = ' ';
            s++;
        } else {
            *o++ = *s++;
        }
    }
    *o = '\0';
}

static void parse_query(struct query *q, const char *qs)
{
    char *p, *save = NULL;
    q->n = 0;
    q->buf = strdup(qs ? qs : "");
    if (!q->buf)
        exit(70);
    for (p = strtok_r(q->buf, "&", &save); p && q->n < MAX_KEYS;
         p = strtok_r(NULL, "&", &save)) {
        char *eq = strchr(p, '=');
        if (eq) {
            *eq = '\0';
            url_decode(eq + 1);
        }
        url_decode(p);
        q->kv[q->n].key = p;
        q->kv[q->n].val = eq ? eq + 1 : NULL;
        q->n++;
    }
}

static int has(const struct query *q, const char *key)
{
    int i;
    for (i = 0; i < q->n; i++)
        if (strcmp(q->kv[i].key, key) == 0)
            return 1;
    return 0;
}

static const char *get(const struct query *q, const char *key)
{
    int i;
    for (i = 0; i < q->n; i++)
        if (strcmp(q->kv[i].key, key) == 0)
            return q->kv[i].val ? q->kv[i].val : "";
    return NULL;
}

static long getnum(const struct query *q, const char *key, long dflt)
{
    const char *v = get(q, key);
    if (!v || !*v)
        return dflt;
    return strtol(v, NULL, 10);
}

static void sleep_ms(long ms)
{
    struct timespec ts;
    if (ms <= 0)
        return;
    ts.tv_sec = ms / 1000;
    ts.tv_nsec = (ms % 1000) * 1000000L;
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

static uint64_t fnv1a(uint64_t h, const unsigned char *p, size_t n)
{
    size_t i;
    for (i = 0; i < n; i++) {
        h ^= p[i];
        h *= 0x100000001b3ULL;
    }
    return h;
}

static void fill_pattern(char *buf, size_t n, uint64_t offset)
{
    size_t i;
    for (i = 0; i < n; i++)
        buf[i] = (char)('a' + (offset + i) % 26);
}

/* Headers common to every reply; ct may be NULL for none. */
static void put_headers(FCGX_Request *r, const struct query *q, const char *ct)
{
    long nh = getnum(q, "headers", 0), hs = getnum(q, "hsize", 100), i;
    const char *st = get(q, "status"), *v;

    if (st && *st)
        FCGX_FPrintF(r->out, "Status: %s Test Status\r\n", st);
    if ((v = get(q, "allow")) != NULL)
        FCGX_FPrintF(r->out, "Allow: %s\r\n", v);
    if (has(q, "nobuffer"))
        FCGX_PutS("X-Accel-Buffering: no\r\n", r->out);
    if (ct && !has(q, "noct"))
        FCGX_FPrintF(r->out, "Content-Type: %s\r\n", ct);
    if (nh > 0) {
        char *v = malloc((size_t)(hs > 0 ? hs : 0) + 1);
        if (!v)
            exit(70);
        for (i = 0; i < hs; i++)
            v[i] = (char)('A' + i % 26);
        v[hs > 0 ? hs : 0] = '\0';
        for (i = 0; i < nh; i++) {
            FCGX_FPrintF(r->out, "X-Big-%ld: ", i);
            FCGX_PutS(v, r->out);
            FCGX_PutS("\r\n", r->out);
        }
        free(v);
    }
}

static void do_env(FCGX_Request *r)
{
    char **e;
    for (e = r->envp; e && *e; e++) {
        FCGX_PutS("param:", r->out);
        FCGX_PutS(*e, r->out);
        FCGX_PutS("\n", r->out);
    }
    for (e = environ; e && *e; e++) {
        FCGX_PutS("environ:", r->out);
        FCGX_PutS(*e, r->out);
        FCGX_PutS("\n", r->out);
    }
    FCGX_FPrintF(r->out, "pid:%ld\nppid:%ld\nuid:%ld\ngid:%ld\nrequests:%lu\n",
                 (long)getpid(), (long)getppid(), (long)getuid(),
                 (long)getgid(), served);
}

/* Read the whole request body; returns a malloc'ed buffer (raw) or NULL. */
static unsigned char *read_body(FCGX_Request *r, size_t *len, uint64_t *hash,
                                int keep)
{
    unsigned char *all = NULL;
    size_t cap = 0;
    char buf[PIECE];
    int n;
    uint64_t h = 0xcbf29ce484222325ULL;

    *len = 0;
    while ((n = FCGX_GetStr(buf, sizeof buf, r->in)) > 0) {
        h = fnv1a(h, (const unsigned char *)buf, (size_t)n);
        if (keep) {
            if (*len + (size_t)n > cap) {
                unsigned char *na;
                cap = (cap ? cap * 2 : PIECE);
                while (cap < *len + (size_t)n)
                    cap *= 2;
                na = realloc(all, cap);
                if (!na)
                    exit(70);
                all = na;
            }
            memcpy(all + *len, buf, (size_t)n);
        }
        *len += (size_t)n;
    }
    *hash = h;
    return all;
}

/* The application acts on the request: it reads the body and records the
 * run, so a test can count runs the client cannot see. */
static void act(FCGX_Request *r, const char *path, const char *flag)
{
    size_t len;
    uint64_t h;
    const char *m = FCGX_GetParam("REQUEST_METHOD", r->envp);
    int fd;

    read_body(r, &len, &h, 0);
    fd = open(path, O_WRONLY | O_CREAT | O_APPEND, 0666);
    if (fd >= 0) {
        char line[128];
        int n = snprintf(line, sizeof(line), "%s %lu pid=%ld\n",
                         m ? m : "?", (unsigned long)len, (long)getpid());
        if (write(fd, line, (size_t)n) != n)
            exit(71);
        close(fd);
    }
    if (flag && *flag && (fd = open(flag, O_WRONLY | O_CREAT | O_EXCL,
                                    0666)) >= 0) {
        close(fd);
        kill(getpid(), SIGKILL);
    }
}

static void handle(FCGX_Request *r)
{
    struct query q;
    const char *v;
    int body = 1;

    parse_query(&q, FCGX_GetParam("QUERY_STRING", r->envp));
    body = !has(&q, "nobody");

    if ((v = get(&q, "count")) != NULL && *v) {
        int fd = open(v, O_WRONLY | O_CREAT | O_APPEND, 0666);
        if (fd >= 0) {
            if (write(fd, "x", 1) != 1)
                exit(71);
            close(fd);
        }
    }
    if ((v = get(&q, "exit")) != NULL)
        exit((int)strtol(v, NULL, 10));
    if ((v = get(&q, "exitonce")) != NULL && *v) {
        int fd = open(v, O_WRONLY | O_CREAT | O_EXCL, 0666);
        if (fd >= 0) {
            close(fd);
            exit(9);
        }
    }
    if ((v = get(&q, "act")) != NULL && *v)
        act(r, v, get(&q, "dieonce"));
    sleep_ms(getnum(&q, "sleep", 0));
    if ((v = get(&q, "stderr")) != NULL) {
        FCGX_PutS(v, r->err);
        FCGX_PutS("\n", r->err);
        FCGX_FFlush(r->err);
    }

    if (has(&q, "env")) {
        put_headers(r, &q, "text/plain");
        FCGX_PutS("\r\n", r->out);
        if (body)
            do_env(r);
    } else if (has(&q, "pid")) {
        put_headers(r, &q, "text/plain");
        FCGX_PutS("\r\n", r->out);
        if (body)
            FCGX_FPrintF(r->out, "pid:%ld\n", (long)getpid());
    } else if ((v = get(&q, "echo")) != NULL) {
        size_t len;
        uint64_t h;
        int raw = strcmp(v, "raw") == 0;
        unsigned char *all = read_body(r, &len, &h, raw);
        if (raw) {
            put_headers(r, &q, "application/octet-stream");
            FCGX_FPrintF(r->out, "Content-Length: %lu\r\n\r\n",
                         (unsigned long)len);
            if (body && len)
                FCGX_PutStr((const char *)all, (int)len, r->out);
            free(all);
        } else {
            put_headers(r, &q, "text/plain");
            FCGX_PutS("\r\n", r->out);
            if (body)
                FCGX_FPrintF(r->out, "len:%lu\nfnv:%016llx\n",
                             (unsigned long)len, (unsigned long long)h);
        }
    } else if ((v = get(&q, "big")) != NULL) {
        uint64_t total = (uint64_t)strtoll(v, NULL, 10) * 1024, off = 0;
        static char piece[PIECE];
        put_headers(r, &q, "application/octet-stream");
        if (has(&q, "cl"))
            FCGX_FPrintF(r->out, "Content-Length: %llu\r\n",
                         (unsigned long long)total);
        FCGX_PutS("\r\n", r->out);
        while (body && off < total) {
            size_t n = total - off > PIECE ? PIECE : (size_t)(total - off);
            fill_pattern(piece, n, off);
            if (FCGX_PutStr(piece, (int)n, r->out) < 0)
                break;
            off += n;
        }
    } else if ((v = get(&q, "stream")) != NULL) {
        long n = strtol(v, NULL, 10), i;
        long iv = getnum(&q, "interval", 100);
        put_headers(r, &q, "text/plain");
        FCGX_PutS("\r\n", r->out);
        FCGX_FFlush(r->out);
        long pad = getnum(&q, "pad", 0), k;
        long burst = getnum(&q, "burst", 0);
        for (i = 0; body && i < n; i++) {
            if (i && i >= burst)
                sleep_ms(iv);
            FCGX_FPrintF(r->out, "line %ld", i);
            for (k = 0; (!burst || i < burst) && k < pad; k++)
                FCGX_PutChar('p', r->out);
            FCGX_PutS("\n", r->out);
            if (FCGX_FFlush(r->out) < 0)
                break;
        }
    } else if (has(&q, "noheader")) {
        FCGX_PutS("no header block\n", r->out);
    } else if (has(&q, "silent")) {
        /* nothing */
    } else if (has(&q, "method")) {
        size_t len;
        uint64_t h;
        const char *m = FCGX_GetParam("REQUEST_METHOD", r->envp);
        read_body(r, &len, &h, 0);
        put_headers(r, &q, "text/plain");
        FCGX_PutS("\r\n", r->out);
        if (body)
            FCGX_FPrintF(r->out, "method:%s\nlen:%lu\n", m ? m : "",
                         (unsigned long)len);
    } else if ((v = get(&q, "redirect")) != NULL) {
        FCGX_FPrintF(r->out, "Location: %s\r\n\r\n", v);
    } else if ((v = get(&q, "xsendfile")) != NULL) {
        FCGX_FPrintF(r->out, "X-Sendfile: %s\r\n"
                     "Content-Disposition: attachment; filename=file.bin\r\n",
                     v);
        put_headers(r, &q, "application/x-test");
        FCGX_PutS("\r\n", r->out);
        if (body)
            FCGX_PutS("backend body, not to be sent\n", r->out);
    } else if ((v = get(&q, "location")) != NULL) {
        FCGX_FPrintF(r->out, "Status: 302 Found\r\nLocation: %s\r\n", v);
        put_headers(r, &q, "text/plain");
        FCGX_PutS("\r\n", r->out);
        if (body)
            FCGX_FPrintF(r->out, "moved to %s\n", v);
    } else if (has(&q, "die-mid-body")) {
        static char piece[PIECE];
        put_headers(r, &q, "application/octet-stream");
        if (has(&q, "cl"))
            FCGX_FPrintF(r->out, "Content-Length: %d\r\n", 1024 * 1024);
        FCGX_PutS("\r\n", r->out);
        fill_pattern(piece, PIECE, 0);
        FCGX_PutStr(piece, PIECE, r->out);
        FCGX_FFlush(r->out);
        _exit(3);
    } else {
        put_headers(r, &q, "text/plain");
        FCGX_PutS("\r\n", r->out);
        if (body)
            FCGX_FPrintF(r->out, "hello from pid %ld\n", (long)getpid());
    }
    free(q.buf);
}

/* The AUTHORIZER role (TracFcgiAuthenticator, TracFcgiAuthorizer,
 * TracFcgiAccessChecker): who may, by user (REMOTE_USER, else the X-User
 * request header):
 *   alice   200 with Variable-AUTH_GROUP: admins and Variable-AUTH_SEEN:
 *           what it was given (FCGI_APACHE_ROLE, CONTENT_LENGTH or "-",
 *           PATH_INFO or "-", its pid)
 *   bob     403, an X-Denied-By header and a body
 *   carol   200 only with REMOTE_PASSWD "secret", else 401 with its
 *           WWW-Authenticate and a body
 *   anyone else, or no one: 302 to /login?back=REQUEST_URI */
static void authorize(FCGX_Request *r)
{
    const char *user = FCGX_GetParam("REMOTE_USER", r->envp);
    const char *pw = FCGX_GetParam("REMOTE_PASSWD", r->envp);
    const char *cl = FCGX_GetParam("CONTENT_LENGTH", r->envp);
    const char *pi = FCGX_GetParam("PATH_INFO", r->envp);
    const char *phase = FCGX_GetParam("FCGI_APACHE_ROLE", r->envp);
    const char *uri = FCGX_GetParam("REQUEST_URI", r->envp);

    if (!user || !*user) {
        user = FCGX_GetParam("HTTP_X_USER", r->envp);
    }
    if (!user) {
        user = "";
    }
    if (strcmp(user, "alice") == 0
        || (strcmp(user, "carol") == 0 && pw && strcmp(pw, "secret") == 0)) {
        FCGX_FPrintF(r->out, "Status: 200\r\nVariable-AUTH_GROUP: admins\r\n"
                     "Variable-AUTH_SEEN: %s %s %s %ld\r\n\r\n",
                     phase ? phase : "-", cl ? cl : "-", pi ? pi : "-",
                     (long)getpid());
    }
    else if (strcmp(user, "bob") == 0) {
        FCGX_PutS("Status: 403 Forbidden\r\nContent-Type: text/plain\r\n"
                  "X-Denied-By: test-authorizer\r\n\r\nbob may not\n",
                  r->out);
    }
    else if (strcmp(user, "carol") == 0) {
        FCGX_PutS("Status: 401\r\nContent-Type: text/plain\r\n"
                  "WWW-Authenticate: Basic realm=\"test authorizer\"\r\n"
                  "\r\nwrong password\n", r->out);
    }
    else {
        FCGX_FPrintF(r->out, "Status: 302\r\nLocation: /login?back=%s\r\n"
                     "\r\n", uri ? uri : "");
    }
}

static void one_accept(void)
{
    char buf[4096];
    int fd = accept(0, NULL, NULL);

    while (fd >= 0 && read(fd, buf, sizeof(buf)) > 0) {
    }
    if (fd >= 0) {
        close(fd);
    }
    exit(8);
}

int main(void)
{
    FCGX_Request req;

    if (getenv("RESPONDER_STARTUP_FAIL"))
        exit(7);
    if (getenv("RESPONDER_ONE_ACCEPT"))
        one_accept();
    signal(SIGPIPE, SIG_IGN);
    if (FCGX_Init() != 0)
        return 1;
    if (FCGX_InitRequest(&req, 0, 0) != 0)
        return 1;
    while (FCGX_Accept_r(&req) >= 0) {
        const char *role = FCGX_GetParam("FCGI_ROLE", req.envp);

        served++;
        if (role && strcmp(role, "AUTHORIZER") == 0)
            authorize(&req);
        else
            handle(&req);
        FCGX_Finish_r(&req);
    }
    return 0;
}
