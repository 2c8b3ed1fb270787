/*
 * backend.c: where a backend listens, connecting to it for a request, and
 * the FCGI_GET_VALUES probe (FastCGI 1.0 section 4.1).
 *
 * Called from request threads (src/exchange.c connects, src/bridge.c asks
 * whether a backend whose client went away is free again) and from the
 * process manager's spawn threads (is a new backend ready). Blocks for at
 * most the timeout it is given; holds no lock; logs nothing.
 */
#include <errno.h>
#include <fcntl.h>
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

static int addr_unix(const tf_backend_addr_t *a, struct sockaddr_un *sa)
{
    if (a->family != TF_BACKEND_UNIX || strlen(a->path) >= sizeof(sa->sun_path)) {
        return EINVAL;
    }
    memset(sa, 0, sizeof(*sa));
    sa->sun_family = AF_UNIX;
    apr_cpystrn(sa->sun_path, a->path, sizeof(sa->sun_path));
    return 0;
}

/* A unix connect() cannot be polled for: while the listen queue is full it
 * fails with EAGAIN on a non-blocking socket, or blocks. Block, bounded by
 * SO_SNDTIMEO. @return 0 or an errno (EAGAIN: still full at the end). */
static int connect_blocking(int fd, const struct sockaddr_un *sa,
                            apr_interval_time_t timeout)
{
    struct timeval tv;

    tv.tv_sec = (time_t)apr_time_sec(timeout);
    tv.tv_usec = (suseconds_t)apr_time_usec(timeout);
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    if (connect(fd, (const struct sockaddr *)sa, sizeof(*sa)) < 0) {
        return errno == EINPROGRESS ? EAGAIN : errno;
    }
    return 0;
}

apr_status_t tf_backend_connect(const tf_backend_addr_t *a,
                                apr_interval_time_t connect_timeout, int *fd)
{
    struct sockaddr_un sa;
    int rc;

    *fd = -1;
    if ((rc = addr_unix(a, &sa)) != 0) {
        return rc;
    }
    *fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (*fd < 0) {
        return errno;
    }
    if (connect(*fd, (struct sockaddr *)&sa, sizeof(sa)) == 0) {
        return APR_SUCCESS;
    }
    rc = errno;
    if (rc == EAGAIN) {
        /* the listen backlog is full: wait for a place */
        fcntl(*fd, F_SETFL, 0);
        rc = connect_blocking(*fd, &sa, connect_timeout);
        fcntl(*fd, F_SETFL, O_NONBLOCK);
    }
    if (rc != 0) {
        close(*fd);
        *fd = -1;
        return rc == EAGAIN ? APR_TIMEUP : rc;
    }
    return APR_SUCCESS;
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
    struct sockaddr_un sa;
    apr_status_t rv;
    int fd, rc;

    *max_conns = 1;
    if ((rc = addr_unix(a, &sa)) != 0) {
        return rc;
    }
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        return errno;
    }
    /* not longer than we wait for the answer */
    if ((rc = connect_blocking(fd, &sa, timeout)) != 0) {
        close(fd);
        return rc == EAGAIN ? APR_TIMEUP : rc;
    }
    if ((rv = ask(fd)) == APR_SUCCESS) {
        rv = read_answer(fd, deadline, max_conns);
    }
    close(fd);
    return rv;
}
