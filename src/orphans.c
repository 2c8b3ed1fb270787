/*
 * orphans.c: stop the backends an earlier httpd left (see tf_orphans.h).
 *
 * Runs once, in the httpd parent (root) at the first post_config, before
 * this run's process manager exists: every backend socket of the
 * directory is an earlier run's. /proc/net/unix gives the inodes of the
 * sockets listening under "sock_dir/b-" (the path stays in the table
 * after an unlink), /proc/PID/fd/0 the process holding one as its fd 0:
 * a process is stopped only when both match, never by pid alone.
 */
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "apr_strings.h"
#include "httpd.h"
#include "http_log.h"

#include "tf_orphans.h"
#include "tf_private.h"

#define MAX_ORPHANS 1024
#define SO_ACCEPTCON_FLAG 0x10000 /* /proc/net/unix Flags: listening */

/* The inodes of the sockets listening under @prefix. @return how many. */
static int listening_inodes(const char *prefix, unsigned long *inodes,
                            int max)
{
    char line[4096];
    size_t plen = strlen(prefix);
    FILE *f = fopen("/proc/net/unix", "r");
    int n = 0;

    if (!f) {
        return 0;
    }
    while (n < max && fgets(line, sizeof(line), f)) {
        unsigned long flags, inode;
        char path[4096];

        path[0] = '\0';
        if (sscanf(line, "%*s %*s %*s %lx %*s %*s %lu %4095s", &flags,
                   &inode, path) == 3
            && (flags & SO_ACCEPTCON_FLAG)
            && strncmp(path, prefix, plen) == 0) {
            inodes[n++] = inode;
        }
    }
    fclose(f);
    return n;
}

/* Has @pid ended (gone, or a zombie its new parent has yet to reap)? */
static int ended(pid_t pid)
{
    char path[64], buf[256], *paren;
    FILE *f;
    int gone = 1;

    if (kill(pid, 0) < 0 && errno == ESRCH) {
        return 1;
    }
    apr_snprintf(path, sizeof(path), "/proc/%ld/stat", (long)pid);
    if ((f = fopen(path, "r")) != NULL) {
        if (fgets(buf, sizeof(buf), f) && (paren = strrchr(buf, ')'))
            && paren[1] == ' ') {
            gone = paren[2] == 'Z' || paren[2] == 'X';
        }
        fclose(f);
    }
    return gone;
}

/* Is fd 0 of @pid one of @inodes? */
static int holds_one(const char *pid, const unsigned long *inodes, int n)
{
    char link[64], target[64];
    unsigned long inode;
    ssize_t len;
    int i;

    apr_snprintf(link, sizeof(link), "/proc/%s/fd/0", pid);
    len = readlink(link, target, sizeof(target) - 1);
    if (len <= 0) {
        return 0;
    }
    target[len] = '\0';
    if (sscanf(target, "socket:[%lu]", &inode) != 1) {
        return 0;
    }
    for (i = 0; i < n; i++) {
        if (inodes[i] == inode) {
            return 1;
        }
    }
    return 0;
}

int tf_orphans_stop(apr_pool_t *p, server_rec *s, const char *sock_dir)
{
    unsigned long *inodes = apr_palloc(p, sizeof(*inodes) * MAX_ORPHANS);
    pid_t *pids = apr_palloc(p, sizeof(*pids) * MAX_ORPHANS);
    const char *prefix = apr_pstrcat(p, sock_dir, "/b-", NULL);
    const char *list = "";
    struct dirent *e;
    int n_inodes, n = 0, i, tries;
    DIR *d;

    n_inodes = listening_inodes(prefix, inodes, MAX_ORPHANS);
    if (!n_inodes || !(d = opendir("/proc"))) {
        return 0;
    }
    while (n < MAX_ORPHANS && (e = readdir(d)) != NULL) {
        if (e->d_name[0] >= '1' && e->d_name[0] <= '9'
            && holds_one(e->d_name, inodes, n_inodes)) {
            pids[n++] = (pid_t)atol(e->d_name);
        }
    }
    closedir(d);
    for (i = 0; i < n; i++) {
        kill(pids[i], SIGTERM);
        list = apr_psprintf(p, "%s%s%ld", list, i ? " " : "",
                            (long)pids[i]);
    }
    /* a second for them to end as they would at a stop, then no choice */
    for (tries = 0; tries < 50; tries++) {
        int left = 0;

        for (i = 0; i < n; i++) {
            left += !ended(pids[i]);
        }
        if (!left) {
            break;
        }
        apr_sleep(apr_time_from_msec(20));
    }
    for (i = 0; tries == 50 && i < n; i++) {
        kill(pids[i], SIGKILL);
    }
    if (n) {
        ap_log_error(APLOG_MARK, APLOG_NOTICE, 0, s,
                     TFLOGNO(01200) "stopped %d backend(s) that an earlier "
                     "httpd left running on %s (pid %s)", n, sock_dir,
                     list);
    }
    return n;
}
