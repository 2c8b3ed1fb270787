/*
 * xsendfile.c: X-Sendfile, the RESPONDER's answer filter (see
 * tf_xsendfile.h). src/response.c takes the header while it parses the
 * answer's headers and drops the answer's body; once the backend is
 * given back, src/bridge.c has this file send the named file.
 *
 * Confinement: the path is resolved with realpath() (every `..` and
 * symbolic link, the last component included), and what it resolves to
 * must lie under one of the TracFcgiXSendfilePath directories, resolved
 * the same way; the file is then opened beneath that directory by the
 * rest of the resolved name, following no symbolic link (openat2()), so
 * that a component replaced by a link between the two steps leads
 * nowhere, and must be a regular file. (mod_xsendfile
 * 0.12 compares the path's prefix before resolving it: a symbolic link
 * inside its directory leads out of it.)
 *
 * Runs in request threads, after the backend is given back.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <linux/openat2.h>

#include "apr_strings.h"
#include "http_core.h"
#include "http_protocol.h"
#include "http_request.h"

#include "tf_private.h"
#include "tf_xsendfile.h"

#define HEADER "X-Sendfile"

const char *tf_xsendfile_take(request_rec *r)
{
    const char *v = apr_table_get(r->headers_out, HEADER);

    if (!v) {
        v = apr_table_get(r->err_headers_out, HEADER);
    }
    if (v) {
        apr_table_unset(r->headers_out, HEADER);
        apr_table_unset(r->err_headers_out, HEADER);
    }
    return v;
}

/* A refusal: one log line, the status. */
static int refuse(request_rec *r, int status, const char *path,
                  const char *why)
{
    ap_log_rerror(APLOG_MARK, status == HTTP_INTERNAL_SERVER_ERROR
                                  ? APLOG_ERR : APLOG_WARNING,
                  0, r, TFLOGNO(00801) "X-Sendfile %s not sent: %s; "
                  "answering %d", ap_escape_logitem(r->pool, path), why,
                  status);
    return status;
}

/* @return 1 if @real lies under one of the allowed directories, whose
 * resolved name is then in @dir. */
static int allowed(const tf_dir_conf_t *dc, const char *real,
                   char dir[PATH_MAX])
{
    int i;

    for (i = 0; i < dc->xsendfile_paths->nelts; i++) {
        const char *d = APR_ARRAY_IDX(dc->xsendfile_paths, i, const char *);
        size_t n;

        if (!realpath(d, dir)) {
            continue; /* not there (any more): nothing is under it */
        }
        n = strlen(dir);
        if (n == 1 || (strncmp(real, dir, n) == 0 && real[n] == '/')) {
            return 1;
        }
    }
    return 0;
}

/* Open @real, which realpath() gave and which lies under @dir, without
 * leaving @dir however its components change meanwhile: openat2()
 * beneath @dir, following no symbolic link (a resolved name has none; a
 * component made a link since, by whoever may write under @dir, fails
 * with ELOOP instead of leading out). Where the kernel has no openat2()
 * (before Linux 5.6), the name is opened as it is, its last component
 * not followed. @return the descriptor, or -1 with errno. */
static int open_beneath(const char *dir, const char *real)
{
    const int flags = O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK;
    struct open_how how;
    const char *rel = real + strlen(dir);
    int dfd, fd, err;

    while (*rel == '/') {
        rel++;
    }
    if ((dfd = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC)) < 0) {
        return -1;
    }
    memset(&how, 0, sizeof(how));
    how.flags = (apr_uint64_t)flags;
    how.resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS
                  | RESOLVE_NO_MAGICLINKS;
    fd = (int)syscall(SYS_openat2, dfd, rel, &how, sizeof(how));
    err = errno;
    close(dfd);
    if (fd < 0 && (err == ENOSYS || err == EPERM)) {
        /* no openat2() here (EPERM: a seccomp filter that does not know
         * it) */
        return open(real, flags);
    }
    errno = err;
    return fd;
}

/* The regular file @real, resolved from @path and under @dir, as it is
 * now: opened by APR into *@f, r->finfo filled in. @return OK, or the
 * status of the refusal (logged). */
static int open_regular(request_rec *r, const char *path, const char *dir,
                        const char *real, apr_file_t **f)
{
    struct stat st;
    int fd, rc;

    /* what the resolved name is now, without leaving its directory... */
    fd = open_beneath(dir, real);
    if (fd < 0) {
        return refuse(r, errno == ENOENT ? HTTP_NOT_FOUND : HTTP_FORBIDDEN,
                      path, apr_psprintf(r->pool, "cannot open %s (%s)",
                                         real, errno == ELOOP
                                         ? "a symbolic link on the way, "
                                           "made since it was resolved"
                                         : strerror(errno)));
    }
    rc = fstat(fd, &st);
    close(fd);
    if (rc < 0) {
        return refuse(r, HTTP_FORBIDDEN, path, "cannot stat it");
    }
    if (!S_ISREG(st.st_mode)) {
        return refuse(r, HTTP_FORBIDDEN, path, S_ISDIR(st.st_mode)
                          ? "it is a directory" : "it is not a regular file");
    }
    /* ...and the same file opened by APR, whose file buckets can outlive
     * the request (the event MPM's write completion sets them aside) */
    if (apr_file_open(f, real, APR_FOPEN_READ | APR_FOPEN_SENDFILE_ENABLED
                                   | APR_FOPEN_LARGEFILE,
                      APR_OS_DEFAULT, r->pool) != APR_SUCCESS
        || apr_file_info_get(&r->finfo, APR_FINFO_NORM, *f) != APR_SUCCESS
        || r->finfo.inode != (apr_ino_t)st.st_ino
        || r->finfo.device != (apr_dev_t)st.st_dev) {
        return refuse(r, HTTP_FORBIDDEN, path,
                      "it changed while it was opened");
    }
    return OK;
}

int tf_xsendfile_serve(request_rec *r, const tf_dir_conf_t *dc,
                       const char *path)
{
    char real[PATH_MAX], dir[PATH_MAX];
    apr_bucket_brigade *bb;
    apr_file_t *f = NULL;
    const char *c;
    int rc;

    if (!dc->xsendfile_paths || dc->xsendfile_paths->nelts == 0) {
        return refuse(r, HTTP_INTERNAL_SERVER_ERROR, path,
                      "TracFcgiXSendfile is On but no TracFcgiXSendfilePath "
                      "says which directories may be sent");
    }
    for (c = path; *c; c++) {
        if ((unsigned char)*c < 0x20 || *c == 0x7f) {
            return refuse(r, HTTP_INTERNAL_SERVER_ERROR, path,
                          "the path holds a control character");
        }
    }
    if (path[0] != '/') {
        return refuse(r, HTTP_INTERNAL_SERVER_ERROR, path,
                      "the application must name an absolute path");
    }
    if (!realpath(path, real)) {
        return errno == ENOENT || errno == ENOTDIR
                   ? refuse(r, HTTP_NOT_FOUND, path, "no such file")
                   : refuse(r, HTTP_FORBIDDEN, path,
                            apr_psprintf(r->pool, "cannot resolve it (%s)",
                                         strerror(errno)));
    }
    if (!allowed(dc, real, dir)) {
        return refuse(r, HTTP_FORBIDDEN, path, apr_psprintf(
                          r->pool, "it resolves to %s, outside every "
                          "TracFcgiXSendfilePath", real));
    }
    if ((rc = open_regular(r, path, dir, real, &f)) != OK) {
        return rc;
    }
    r->filename = apr_pstrdup(r->pool, real);
    r->canonical_filename = r->filename;
    /* as the core's default handler sends a file */
    ap_update_mtime(r, r->finfo.mtime);
    ap_set_last_modified(r);
    ap_set_etag(r);
    ap_set_accept_ranges(r);
    ap_set_content_length(r, r->finfo.size);
    if ((rc = ap_meets_conditions(r)) != OK) {
        r->status = rc;
        return rc;
    }
    bb = apr_brigade_create(r->pool, r->connection->bucket_alloc);
    if (r->finfo.size > 0) {
        apr_brigade_insert_file(bb, f, 0, r->finfo.size, r->pool);
    }
    APR_BRIGADE_INSERT_TAIL(bb, apr_bucket_eos_create(
                                    r->connection->bucket_alloc));
    ap_pass_brigade(r->output_filters, bb);
    return OK;
}
