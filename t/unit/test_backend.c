/*
 * test_backend.c: where a FastCGI server listens (src/backend.c): the
 * address forms a configuration may give, what is refused and why, and
 * how an address is written back in log lines; a probe of a TCP server
 * on the loopback that answers FCGI_GET_VALUES, and of a port where
 * nobody listens.
 */
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "apr_general.h"

#include "tf_backend.h"
#include "tf_fcgi_proto.h"
#include "tf_test.h"

static apr_pool_t *p;

static void check_parse(const char *text, int ok, const char *as_text,
                        const char *err_part)
{
    tf_backend_addr_t a;
    const char *err = tf_backend_addr_parse(p, text, &a);
    char desc[160];

    snprintf(desc, sizeof(desc), "parse '%s'", text);
    if (!ok) {
        TF_CHECK(desc, err != NULL && strstr(err, err_part) != NULL);
        if (err && !strstr(err, err_part)) {
            printf("  said: %s\n", err);
        }
        return;
    }
    TF_CHECK(desc, err == NULL);
    if (!err) {
        const char *t = tf_backend_addr_text(p, &a);

        TF_CHECK(desc, strcmp(t, as_text) == 0);
        if (strcmp(t, as_text) != 0) {
            printf("  written back as %s\n", t);
        }
    }
}

static void test_parse(void)
{
    check_parse("unix:/run/trac/trac.sock", 1, "unix:/run/trac/trac.sock",
                NULL);
    check_parse("127.0.0.1:9000", 1, "127.0.0.1:9000", NULL);
    check_parse("[::1]:9000", 1, "[::1]:9000", NULL);
    check_parse("[2001:db8::7]:80", 1, "[2001:db8::7]:80", NULL);
    check_parse("unix:run/trac.sock", 0, NULL, "absolute path");
    check_parse("unix:", 0, NULL, "absolute path");
    check_parse("127.0.0.1", 0, NULL, "expected unix:/path");
    check_parse("127.0.0.1:0", 0, NULL, "bad port");
    check_parse("127.0.0.1:65536", 0, NULL, "bad port");
    check_parse("127.0.0.1:90x", 0, NULL, "bad port");
    check_parse("127.0.0.1:", 0, NULL, "bad port");
    check_parse("::1:9000", 0, NULL, "in brackets");
    check_parse("[::1]9000", 0, NULL, "[ADDR]:PORT");
    check_parse(":9000", 0, NULL, "expected unix:/path");
}

static void test_long_unix_path(void)
{
    char text[200];
    tf_backend_addr_t a;

    memcpy(text, "unix:/", 6);
    memset(text + 6, 'x', sizeof(text) - 7);
    text[sizeof(text) - 1] = '\0';
    TF_CHECK("a unix path too long for sun_path is refused",
             tf_backend_addr_parse(p, text, &a) != NULL);
}

/* A TCP FastCGI server on the loopback that answers one GET_VALUES with
 * FCGI_MAX_CONNS=5. @return its pid; *port its port. */
static pid_t values_server(int *port)
{
    struct sockaddr_in sa;
    socklen_t len = sizeof(sa);
    int lfd = socket(AF_INET, SOCK_STREAM, 0), fd;
    pid_t pid;

    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(lfd, (struct sockaddr *)&sa, sizeof(sa)) < 0
        || listen(lfd, 4) < 0
        || getsockname(lfd, (struct sockaddr *)&sa, &len) < 0) {
        perror("values_server");
        _exit(2);
    }
    *port = ntohs(sa.sin_port);
    if ((pid = fork()) != 0) {
        close(lfd);
        return pid;
    }
    fd = accept(lfd, NULL, NULL);
    if (fd >= 0) {
        static const unsigned char nv[] = {14, 1, 'F', 'C', 'G', 'I', '_', 'M',
                                           'A', 'X', '_', 'C', 'O', 'N', 'N',
                                           'S', '5'};
        unsigned char out[64], in[256];
        size_t n = tf_fcgi_header_encode(out, TF_FCGI_GET_VALUES_RESULT, 0,
                                         sizeof(nv), 7);

        if (read(fd, in, sizeof(in)) > 0) {
            memcpy(out + n, nv, sizeof(nv));
            memset(out + n + sizeof(nv), 0, 7);
            if (write(fd, out, n + sizeof(nv) + 7) < 0) {
                _exit(3);
            }
        }
        close(fd);
    }
    _exit(0);
}

static void test_probe_tcp(void)
{
    tf_backend_addr_t a;
    apr_uint32_t conns = 0;
    char text[64];
    int port, st;
    pid_t pid = values_server(&port);

    snprintf(text, sizeof(text), "127.0.0.1:%d", port);
    TF_CHECK("loopback address", tf_backend_addr_parse(p, text, &a) == NULL);
    TF_CHECK("a TCP server answers the probe",
             tf_backend_probe(&a, apr_time_from_sec(2), &conns)
                 == APR_SUCCESS);
    TF_CHECK("with its FCGI_MAX_CONNS", conns == 5);
    waitpid(pid, &st, 0);
    /* nobody listens there now */
    TF_CHECK("a port nobody listens on is refused at once",
             tf_backend_probe(&a, apr_time_from_sec(2), &conns)
                 == ECONNREFUSED);
}

/* The health probe of an external server: up when it takes the
 * connection, whatever it does with the question. */
static void test_health(void)
{
    tf_backend_addr_t a;
    apr_uint32_t conns = 99;
    struct sockaddr_in sa;
    socklen_t len = sizeof(sa);
    char text[64];
    int port, st, lfd;
    pid_t pid = values_server(&port);

    snprintf(text, sizeof(text), "127.0.0.1:%d", port);
    tf_backend_addr_parse(p, text, &a);
    TF_CHECK("answered: up", tf_backend_health(&a, apr_time_from_sec(2),
                                               &conns) == APR_SUCCESS);
    TF_CHECK("its FCGI_MAX_CONNS", conns == 5);
    waitpid(pid, &st, 0);
    TF_CHECK("refused: down", tf_backend_health(&a, apr_time_from_sec(2),
                                                &conns) == ECONNREFUSED);
    TF_CHECK("no answer: 0", conns == 0);
    /* a server that never accepts (every worker busy): the kernel takes
     * the connection into its backlog; it is there */
    lfd = socket(AF_INET, SOCK_STREAM, 0);
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bind(lfd, (struct sockaddr *)&sa, sizeof(sa));
    listen(lfd, 4);
    getsockname(lfd, (struct sockaddr *)&sa, &len);
    snprintf(text, sizeof(text), "127.0.0.1:%d", ntohs(sa.sin_port));
    tf_backend_addr_parse(p, text, &a);
    conns = 99;
    TF_CHECK("silent: up", tf_backend_health(&a, apr_time_from_msec(200),
                                             &conns) == APR_SUCCESS);
    TF_CHECK("silent: no figure", conns == 0);
    close(lfd);
    tf_backend_addr_parse(p, "unix:/nonexistent/tf-health.sock", &a);
    TF_CHECK("no socket file: down",
             tf_backend_health(&a, apr_time_from_sec(1), &conns) == ENOENT);
}

int main(void)
{
    apr_initialize();
    apr_pool_create(&p, NULL);
    signal(SIGPIPE, SIG_IGN);
    test_parse();
    test_long_unix_path();
    test_probe_tcp();
    test_health();
    apr_pool_destroy(p);
    apr_terminate();
    return TF_REPORT();
}
