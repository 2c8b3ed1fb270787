/*
 * backend.c: where a backend listens (a unix socket, or TCP over IPv4 or
 * IPv6), connecting to it for a request, and the FCGI_GET_VALUES probe
 * (FastCGI 1.0 section 4.1).
 *
 * Called from request threads (src/exchange.c connects, src/bridge.c asks
 * whether a backend whose client went away is free again), from the
 * process manager's spawn threads (is a new backend ready), and at
 * configuration time (parsing an address). Connecting and probing block
 * for at most the timeout given; hold no lock; log nothing.
 */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include "apr_strings.h"

#include "tf_backend.h"
#include "tf_fcgi_proto.h"

/* --- Addresses ----------------------------------------------------------- */

/* "HOST" and "PORT" of "HOST:PORT" or "[V6]:PORT". @return NULL or why
 * not. */
static const char *split_host_port(apr_pool_t *p, const char *text,
                                   char **host, char **port)
{
    const char *colon;

    if (text[0] == '[') {
        const char *end = strchr(text, ']');

        if (!end || end[1] != ':') {
            return "an IPv6 address is written [ADDR]:PORT";
        }
        *host = apr_pstrndup(p, text + 1, (apr_size_t)(end - text - 1));
        *port = apr_pstrdup(p, end + 2);
        return NULL;
    }
    colon = strrchr(text, ':');
    if (!colon || colon == text) {
        return "expected unix:/path, HOST:PORT or [IPv6]:PORT";
    }
    if (memchr(text, ':', (apr_size_t)(colon - text))) {
        return "an IPv6 address is written in brackets: [ADDR]:PORT";
    }
    *host = apr_pstrndup(p, text, (apr_size_t)(colon - text));
    *port = apr_pstrdup(p, colon + 1);
    return NULL;
}

static const char *parse_tcp(apr_pool_t *p, const char *text,
                             tf_backend_addr_t *a)
{
    struct addrinfo hints, *res = NULL;
    const char *err;
    char *host, *port, *end;
    long n;
    int rc;

    if ((err = split_host_port(p, text, &host, &port)) != NULL) {
        return err;
    }
    n = strtol(port, &end, 10);
    if (!*port || *end || n < 1 || n > 65535) {
        return apr_psprintf(p, "bad port '%s' (1 to 65535)", port);
    }
    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_NUMERICSERV;
    if ((rc = getaddrinfo(host, port, &hints, &res)) != 0) {
        return apr_psprintf(p, "cannot resolve '%s': %s", host,
                            gai_strerror(rc));
    }
    memcpy(&a->sa, res->ai_addr, res->ai_addrlen);
    a->salen = res->ai_addrlen;
    freeaddrinfo(res);
    a->family = TF_BACKEND_TCP;
    return NULL;
}

const char *tf_backend_addr_parse(apr_pool_t *p, const char *text,
                                  tf_backend_addr_t *a)
{
    struct sockaddr_un un;

    memset(a, 0, sizeof(*a));
    if (strncmp(text, "unix:", 5) != 0) {
        return parse_tcp(p, text, a);
    }
    if (text[5] != '/') {
        return "a unix socket is given by its absolute path: unix:/path";
    }
    if (strlen(text + 5) >= sizeof(un.sun_path)) {
        return apr_psprintf(p, "the socket path is longer than %d bytes",
                            (int)sizeof(un.sun_path) - 1);
    }
    a->family = TF_BACKEND_UNIX;
    a->path = apr_pstrdup(p, text + 5);
    return NULL;
}

void tf_backend_addr_unix(tf_backend_addr_t *a, const char *path)
{
    memset(a, 0, sizeof(*a));
    a->family = TF_BACKEND_UNIX;
    a->path = path;
}

const char *tf_backend_addr_text(apr_pool_t *p, const tf_backend_addr_t *a)
{
    char host[INET6_ADDRSTRLEN];
    const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)&a->sa;
    const struct sockaddr_in *s4 = (const struct sockaddr_in *)&a->sa;

    if (a->family == TF_BACKEND_UNIX) {
        return apr_pstrcat(p, "unix:", a->path, NULL);
    }
    if (a->sa.ss_family == AF_INET6) {
        inet_ntop(AF_INET6, &s6->sin6_addr, host, sizeof(host));
        return apr_psprintf(p, "[%s]:%u", host, ntohs(s6->sin6_port));
    }
    inet_ntop(AF_INET, &s4->sin_addr, host, sizeof(host));
    return apr_psprintf(p, "%s:%u", host, ntohs(s4->sin_port));
}

/* --- Connecting ---------------------------------------------------------- */

/* The sockaddr of @a, in @un for a unix socket. @return its length, or 0
 * (EINVAL: not an address). */
static socklen_t sockaddr_of(const tf_backend_addr_t *a,
                             struct sockaddr_un *un,
                             const struct sockaddr **sa)
{
    if (a->family == TF_BACKEND_TCP) {
        *sa = (const struct sockaddr *)&a->sa;
        return a->salen;
    }
    if (!a->path || strlen(a->path) >= sizeof(un->sun_path)) {
        return 0;
    }
    memset(un, 0, sizeof(*un));
    un->sun_family = AF_UNIX;
    apr_cpystrn(un->sun_path, a->path, sizeof(un->sun_path));
    *sa = (const struct sockaddr *)un;
    return sizeof(*un);
}

/* A unix connect() cannot be polled for: while the listen queue is full it
 * fails with EAGAIN on a non-blocking socket, or blocks. Block, bounded by
 * SO_SNDTIMEO. @return 0 or an errno (EAGAIN: still full at the end). */
static int connect_unix(int fd, const struct sockaddr *sa, socklen_t len,
                        apr_interval_time_t timeout)
{
    struct timeval tv;
    int rc;

    tv.tv_sec = (time_t)apr_time_sec(timeout);
    tv.tv_usec = (suseconds_t)apr_time_usec(timeout);
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    fcntl(fd, F_SETFL, 0);
    rc = connect(fd, sa, len) < 0 ? errno : 0;
    fcntl(fd, F_SETFL, O_NONBLOCK);
    return rc == EINPROGRESS ? EAGAIN : rc;
}

/* A TCP connect() in progress: wait for it. @return 0 or an errno
 * (EAGAIN: not connected in time). */
static int connect_tcp_wait(int fd, apr_interval_time_t timeout)
{
    struct pollfd pfd;
    socklen_t len = sizeof(int);
    int n, err = 0;

    pfd.fd = fd;
    pfd.events = POLLOUT;
    do {
        n = poll(&pfd, 1, (int)(timeout / 1000));
    } while (n < 0 && errno == EINTR);
    if (n == 0) {
        return EAGAIN;
    }
    if (n < 0 || getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0) {
        return errno;
    }
    return err;
}

/* Open a non-blocking connection to @a within @timeout. @return 0 or an
 * errno (EAGAIN: not in time). */
static int open_connection(const tf_backend_addr_t *a,
                           apr_interval_time_t timeout, int *fd)
{
    struct sockaddr_un un;
    const struct sockaddr *sa;
    socklen_t len = sockaddr_of(a, &un, &sa);
    int one = 1, rc;

    if (len == 0) {
        return EINVAL;
    }
    *fd = socket(sa->sa_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK,
                 0);
    if (*fd < 0) {
        return errno;
    }
    if (a->family == TF_BACKEND_TCP) {
        /* a request's records go out at once, not after a delayed ACK */
        setsockopt(*fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    }
    rc = connect(*fd, sa, len) == 0 ? 0 : errno;
    if (rc == EAGAIN && a->family == TF_BACKEND_UNIX) {
        rc = connect_unix(*fd, sa, len, timeout); /* backlog full: wait */
    }
    else if (rc == EINPROGRESS) {
        rc = connect_tcp_wait(*fd, timeout);
    }
    if (rc != 0) {
        close(*fd);
        *fd = -1;
    }
    return rc;
}

apr_status_t tf_backend_connect(const tf_backend_addr_t *a,
                                apr_interval_time_t connect_timeout, int *fd)
{
    int rc;

    *fd = -1;
    rc = open_connection(a, connect_timeout, fd);
    return rc == EAGAIN ? APR_TIMEUP : rc;
}

/* Parse FCGI_MAX_CONNS out of a GET_VALUES_RESULT body. */
static apr_uint32_t parse_max_conns(const unsigned char *buf, size_t len)
{
    tf_fcgi_nv_t nv;
    size_t used;
    char num[16];

    while (len > 0 && tf_fcgi_nv_decode(buf, len, &nv, &used) == TF_FCGI_OK) {
        if (nv.nlen == 14 && memcmp(nv.name, "FCGI_MAX_CONNS", 14) == 0
            && nv.vlen > 0 && nv.vlen < sizeof(num)) {
            long v;

            memcpy(num, nv.value, nv.vlen);
            num[nv.vlen] = '\0';
            v = strtol(num, NULL, 10);
            return v > 0 ? (apr_uint32_t)(v > 1024 ? 1024 : v) : 1;
        }
        buf += used;
        len -= used;
    }
    return 1;
}

/* Send the question and half-close: an application that ignores management
 * records (libfcgi does) sees end-of-input and closes at once, which tells
 * us it accepts connections, instead of waiting for a request that never
 * comes. One that answers (flup, Trac, php-cgi) answers first. */
static apr_status_t ask(int fd)
{
    static const char *const names[] = {"FCGI_MAX_CONNS", "FCGI_MAX_REQS",
                                        "FCGI_MPXS_CONNS"};
    unsigned char out[128];
    size_t out_len = 0;

    tf_fcgi_get_values_encode(out, sizeof(out), names, 3, &out_len);
    if (send(fd, out, out_len, MSG_NOSIGNAL) != (ssize_t)out_len) {
        return errno;
    }
    shutdown(fd, SHUT_WR);
    return APR_SUCCESS;
}

/* Read the answer until its GET_VALUES_RESULT record is whole. */
static apr_status_t read_answer(int fd, apr_time_t deadline,
                                apr_uint32_t *max_conns)
{
    unsigned char in[4096], result[4096];
    size_t result_len = 0, used, off;
    tf_fcgi_decoder_t dec;
    tf_fcgi_event_t ev;
    tf_fcgi_rc frc;
    struct pollfd pfd;
    ssize_t n;

    tf_fcgi_decoder_init(&dec, 0);
    for (;;) {
        apr_interval_time_t left = deadline - apr_time_now();

        if (left <= 0) {
            return APR_TIMEUP;
        }
        pfd.fd = fd;
        pfd.events = POLLIN;
        if (poll(&pfd, 1, (int)(left / 1000) + 1) <= 0) {
            continue; /* EINTR or timeout: the loop head decides */
        }
        n = recv(fd, in, sizeof(in), 0);
        if (n == 0) {
            return APR_EOF;
        }
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            return errno;
        }
        for (off = 0; off < (size_t)n; off += used) {
            frc = tf_fcgi_decode(&dec, in + off, (size_t)n - off, &used, &ev);
            if (frc < 0) {
                return APR_EGENERAL;
            }
            if (frc == TF_FCGI_OK && ev.type == TF_FCGI_GET_VALUES_RESULT) {
                if (result_len + ev.len <= sizeof(result)) {
                    memcpy(result + result_len, ev.data, ev.len);
                    result_len += ev.len;
                }
                if (ev.record_end) {
                    *max_conns = parse_max_conns(result, result_len);
                    return APR_SUCCESS;
                }
            }
        }
    }
}

apr_status_t tf_backend_probe(const tf_backend_addr_t *a,
                              apr_interval_time_t timeout,
                              apr_uint32_t *max_conns)
{
    apr_time_t deadline = apr_time_now() + timeout;
    apr_status_t rv;
    int fd, rc;

    *max_conns = 1;
    /* connecting takes no longer than we wait for the answer */
    if ((rc = open_connection(a, timeout, &fd)) != 0) {
        return rc == EAGAIN ? APR_TIMEUP : rc;
    }
    if ((rv = ask(fd)) == APR_SUCCESS) {
        rv = read_answer(fd, deadline, max_conns);
    }
    close(fd);
    return rv;
}

apr_status_t tf_backend_health(const tf_backend_addr_t *a,
                               apr_interval_time_t timeout,
                               apr_uint32_t *max_conns)
{
    apr_time_t deadline = apr_time_now() + timeout;
    apr_uint32_t answered = 0;
    apr_status_t rv;
    int fd, rc;

    *max_conns = 0;
    if ((rc = open_connection(a, timeout, &fd)) != 0) {
        return rc == EAGAIN ? APR_TIMEUP : rc;
    }
    if ((rv = ask(fd)) == APR_SUCCESS) {
        rv = read_answer(fd, deadline, &answered);
    }
    close(fd);
    if (rv == APR_SUCCESS) {
        *max_conns = answered;
        return APR_SUCCESS;
    }
    /* it took the connection: it is there, busy or deaf to management
     * records (libfcgi closes; php-fpm answers once a worker is free) */
    return rv == APR_EOF || APR_STATUS_IS_TIMEUP(rv) || rv == ECONNRESET
               ? APR_SUCCESS
               : rv;
}
