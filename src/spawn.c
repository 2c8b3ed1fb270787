/*
 * spawn.c: fork/exec of one backend with its listening socket on fd 0,
 * and the FCGI_GET_VALUES readiness probe.
 *
 * Runs in the process manager, which has several threads: between fork()
 * and execve() the child calls only async-signal-safe functions, on data
 * prepared before the fork. An exec failure is reported to the parent
 * through a close-on-exec pipe, so "not found" and "not executable" are
 * told apart from a backend that started and died.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include "apr_strings.h"

#include "tf_fcgi_proto.h"
#include "tf_spawn.h"

static int listen_unix(const char *path, int *fd_out)
{
    struct sockaddr_un sa;
    int fd, fd3;

    memset(&sa, 0, sizeof(sa));
    sa.sun_family = AF_UNIX;
    if (strlen(path) >= sizeof(sa.sun_path)) {
        return ENAMETOOLONG;
    }
    strcpy(sa.sun_path, path);
    unlink(path);
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        return errno;
    }
    /* keep it off 0..2, which the child overwrites */
    if (fd <= 2) {
        fd3 = fcntl(fd, F_DUPFD_CLOEXEC, 3);
        close(fd);
        if (fd3 < 0) {
            return errno;
        }
        fd = fd3;
    }
    if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0
        || chmod(path, 0600) < 0 || listen(fd, SOMAXCONN) < 0) {
        int rc = errno;

        close(fd);
        unlink(path);
        return rc;
    }
    *fd_out = fd;
    return 0;
}

/* Close descriptors @p lo to @p hi (-1: every one above @p lo) with one
 * system call, whatever RLIMIT_NOFILE says (a loop of close() calls up to
 * it took 2-3 ms of every spawn at a limit of 20,000, and had to stop
 * somewhere). @return 0, or -1 where the kernel has no close_range (before
 * 5.9): the caller loops instead. Async-signal-safe. */
static int close_from(int lo, int hi)
{
#ifdef SYS_close_range
    if (hi >= 0 && hi < lo) {
        return 0;
    }
    return (int)syscall(SYS_close_range, (unsigned int)lo,
                        hi < 0 ? ~0U : (unsigned int)hi, 0u);
#else
    (void)lo;
    (void)hi;
    return -1;
#endif
}

/* Child side, async-signal-safe only. */
static void exec_child(const tf_spawn_spec_t *spec, int lfd, int outw,
                       int statw, long max_fd)
{
    static const int sigs[] = {SIGPIPE, SIGHUP, SIGUSR1, SIGUSR2, SIGTERM,
                               SIGCHLD, SIGWINCH, SIGINT, SIGQUIT, SIGALRM};
    struct sigaction sa;
    sigset_t none;
    unsigned i;
    long fd;
    int rc;

    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = SIG_DFL;
    for (i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++) {
        sigaction(sigs[i], &sa, NULL);
    }
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    setsid();
    if (dup2(lfd, 0) < 0 || dup2(outw, 1) < 0 || dup2(outw, 2) < 0) {
        goto fail;
    }
    /* nothing else of httpd's: no listener, no log, no shm handle */
    if (close_from(3, statw - 1) < 0 || close_from(statw + 1, -1) < 0) {
        for (fd = 3; fd < max_fd; fd++) {
            if (fd != statw) {
                close((int)fd);
            }
        }
    }
    if (spec->cwd[0] && chdir(spec->cwd) < 0) {
        goto fail;
    }
    execve(spec->argv[0], (char *const *)spec->argv,
           (char *const *)spec->env);
fail:
    rc = errno;
    if (write(statw, &rc, sizeof(rc)) < 0) {
        /* nothing left to tell it with */
    }
    _exit(127);
}

apr_status_t tf_spawn_backend(const tf_spawn_spec_t *spec,
                              const char *sock_path, pid_t *pid_out,
                              int *stderr_fd, char *err, apr_size_t errlen)
{
    int lfd = -1, outp[2] = {-1, -1}, statp[2] = {-1, -1};
    long max_fd = sysconf(_SC_OPEN_MAX);
    int rc, child_errno = 0;
    ssize_t n;
    pid_t pid;

    if (max_fd < 0 || max_fd > 65536) {
        max_fd = 65536;
    }
    if ((rc = listen_unix(sock_path, &lfd)) != 0) {
        apr_snprintf(err, errlen, "cannot listen on %s: %s", sock_path,
                     strerror(rc));
        return rc;
    }
    if (pipe2(outp, O_CLOEXEC) < 0 || pipe2(statp, O_CLOEXEC) < 0) {
        rc = errno;
        apr_snprintf(err, errlen, "pipe: %s", strerror(rc));
        goto fail;
    }
    pid = fork();
    if (pid < 0) {
        rc = errno;
        apr_snprintf(err, errlen, "fork: %s", strerror(rc));
        goto fail;
    }
    if (pid == 0) {
        exec_child(spec, lfd, outp[1], statp[1], max_fd);
    }
    /* the backend holds the listener now: when it dies, connections to it
     * are refused instead of queueing forever */
    close(lfd);
    close(outp[1]);
    close(statp[1]);
    do {
        n = read(statp[0], &child_errno, sizeof(child_errno));
    } while (n < 0 && errno == EINTR);
    close(statp[0]);
    if (n == (ssize_t)sizeof(child_errno)) {
        /* exec failed; the child is reaped by the PM's reaper */
        unlink(sock_path);
        close(outp[0]);
        if (child_errno == ENOENT) {
            apr_snprintf(err, errlen, "cannot run %s: not found (or its "
                         "#! interpreter is missing)", spec->argv[0]);
        }
        else if (child_errno == EACCES) {
            apr_snprintf(err, errlen, "cannot run %s: not executable (check "
                         "its mode and the directories' x bits)",
                         spec->argv[0]);
        }
        else {
            apr_snprintf(err, errlen, "cannot run %s: %s", spec->argv[0],
                         strerror(child_errno));
        }
        return child_errno ? child_errno : APR_EGENERAL;
    }
    *pid_out = pid;
    *stderr_fd = outp[0];
    return APR_SUCCESS;

fail:
    if (lfd >= 0) {
        close(lfd);
        unlink(sock_path);
    }
    if (outp[0] >= 0) {
        close(outp[0]);
        close(outp[1]);
    }
    if (statp[0] >= 0) {
        close(statp[0]);
        close(statp[1]);
    }
    return rc;
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

apr_status_t tf_spawn_probe(const char *sock_path, apr_interval_time_t timeout,
                            apr_uint32_t *max_conns)
{
    static const char *const names[] = {"FCGI_MAX_CONNS", "FCGI_MAX_REQS",
                                        "FCGI_MPXS_CONNS"};
    unsigned char out[128], in[4096], result[4096];
    size_t out_len = 0, result_len = 0, used, off;
    struct sockaddr_un sa;
    apr_time_t deadline = apr_time_now() + timeout;
    tf_fcgi_decoder_t dec;
    tf_fcgi_event_t ev;
    tf_fcgi_rc frc;
    struct pollfd pfd;
    struct timeval tv;
    apr_status_t rv = APR_TIMEUP;
    ssize_t n;
    int fd;

    *max_conns = 1;
    memset(&sa, 0, sizeof(sa));
    sa.sun_family = AF_UNIX;
    apr_cpystrn(sa.sun_path, sock_path, sizeof(sa.sun_path));
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        return errno;
    }
    /* a unix connect() blocks while the listen queue is full: not for
     * longer than we wait for the answer */
    tv.tv_sec = (time_t)apr_time_sec(timeout);
    tv.tv_usec = (suseconds_t)apr_time_usec(timeout);
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
        rv = errno == EAGAIN || errno == EINPROGRESS ? APR_TIMEUP : errno;
        close(fd);
        return rv;
    }
    tf_fcgi_get_values_encode(out, sizeof(out), names, 3, &out_len);
    if (send(fd, out, out_len, MSG_NOSIGNAL) != (ssize_t)out_len) {
        rv = errno;
        close(fd);
        return rv;
    }
    /* Half-close: an application that ignores management records (libfcgi
     * does) sees end-of-input and closes at once, which tells us it
     * accepts connections, instead of waiting for a request that never
     * comes. One that answers (flup, Trac, php-cgi) answers first. */
    shutdown(fd, SHUT_WR);
    tf_fcgi_decoder_init(&dec, 0);
    for (;;) {
        apr_interval_time_t left = deadline - apr_time_now();

        if (left <= 0) {
            rv = APR_TIMEUP;
            break;
        }
        pfd.fd = fd;
        pfd.events = POLLIN;
        if (poll(&pfd, 1, (int)(left / 1000) + 1) <= 0) {
            continue; /* EINTR or timeout: the loop head decides */
        }
        n = recv(fd, in, sizeof(in), 0);
        if (n == 0) {
            rv = APR_EOF;
            break;
        }
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            rv = errno;
            break;
        }
        for (off = 0; off < (size_t)n; off += used) {
            frc = tf_fcgi_decode(&dec, in + off, (size_t)n - off, &used, &ev);
            if (frc < 0) {
                close(fd);
                return APR_EGENERAL;
            }
            if (frc == TF_FCGI_OK && ev.type == TF_FCGI_GET_VALUES_RESULT) {
                if (result_len + ev.len <= sizeof(result)) {
                    memcpy(result + result_len, ev.data, ev.len);
                    result_len += ev.len;
                }
                if (ev.record_end) {
                    *max_conns = parse_max_conns(result, result_len);
                    close(fd);
                    return APR_SUCCESS;
                }
            }
        }
    }
    close(fd);
    return rv;
}
