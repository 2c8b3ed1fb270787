/*
 * spawn.c: fork/exec of one backend with its listening socket on fd 0.
 * (Whether it is ready is asked by src/backend.c's probe.)
 *
 * Runs in the process manager, which has several threads: between fork()
 * and execve() the child calls only async-signal-safe functions, on data
 * prepared before the fork. An exec failure is reported to the parent
 * through a close-on-exec pipe, so "not found" and "not executable" are
 * told apart from a backend that started and died.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <unistd.h>

#include "apr_strings.h"

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
