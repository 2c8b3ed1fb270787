/*
 * tf_tmpfile.h: the temporary files that hold request bodies (src/body.c)
 * and answers kept back for slow clients (src/spill.c). Made in httpd's
 * temporary directory (TMPDIR, else /tmp), which a child looks up once,
 * and unlinked as soon as they are open: nothing is left behind when a
 * child dies, and no other process can open them.
 */
#ifndef TF_TMPFILE_H
#define TF_TMPFILE_H

#include "apr_file_io.h"

/** Look the temporary directory up once for this child. */
void tf_tmpfile_child_init(apr_pool_t *pchild);

/**
 * Make an unlinked temporary file named @p prefix.XXXXXX, open for
 * reading and writing (and @p flags: APR_FOPEN_SENDFILE_ENABLED, ...),
 * closed with @p p.
 * @param[out] dir  the directory, for a log line.
 * @return APR_SUCCESS, or the error (nothing logged).
 */
apr_status_t tf_tmpfile_create(apr_file_t **f, const char *prefix,
                               apr_int32_t flags, apr_pool_t *p,
                               const char **dir);

#endif /* TF_TMPFILE_H */
