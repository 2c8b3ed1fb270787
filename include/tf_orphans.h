/*
 * tf_orphans.h: backends an earlier httpd left running. A backend lives
 * in a session of its own, so when httpd and its process manager are
 * killed at once (kill -9 of the process group, an OOM kill) its
 * backends stay, blocked in accept() on a socket nobody will connect to.
 * At the first start, before the socket directory is swept, they are
 * found by that socket (their fd 0, listening at a path of the directory)
 * and stopped.
 */
#ifndef TF_ORPHANS_H
#define TF_ORPHANS_H

#include "httpd.h"

/**
 * Stop (SIGTERM, then SIGKILL after a second) every process whose fd 0 is
 * a unix socket listening at "@p sock_dir/b-*"; log what was stopped.
 * @return how many there were.
 */
int tf_orphans_stop(apr_pool_t *p, server_rec *s, const char *sock_dir);

#endif /* TF_ORPHANS_H */
