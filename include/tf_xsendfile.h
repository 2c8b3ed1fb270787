/*
 * tf_xsendfile.h: an answer filter of the RESPONDER role: an application
 * that answers with `X-Sendfile: PATH` (Trac's [trac] use_xsendfile) has
 * Apache send the file instead, as its core sends a static one (length,
 * ETag, Last-Modified, Range, conditional requests), so that the backend
 * is free at once. Only files under TracFcgiXSendfilePath, after `..` and
 * symbolic links are resolved, are ever sent; the client never sees the
 * header. TracFcgiXSendfile Off (the default) leaves the header to
 * whatever follows (mod_xsendfile).
 */
#ifndef TF_XSENDFILE_H
#define TF_XSENDFILE_H

#include "httpd.h"

#include "tf_config.h"

/**
 * Take the X-Sendfile header out of @p r's response headers.
 * @return its value, or NULL when the answer has none.
 */
const char *tf_xsendfile_take(request_rec *r);

/**
 * Send the file at @p path for @p r (the backend's status 200 and its
 * Content-Type and Content-Disposition stand), or refuse: a path that is
 * not absolute or holds a control character 500, outside the allowed
 * directories or a directory 403, missing 404; each refusal one log line
 * naming the path and the rule.
 * @return OK when sent, or the status to answer (304, 412 too).
 */
int tf_xsendfile_serve(request_rec *r, const tf_dir_conf_t *dc,
                       const char *path);

#endif /* TF_XSENDFILE_H */
