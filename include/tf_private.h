/*
 * tf_private.h: the module's identity for logging, shared by every file in
 * src/ (not by mod_tracfcgi.c, where AP_DECLARE_MODULE already declares the
 * log module index; declaring it twice is a compile error).
 */
#ifndef TF_PRIVATE_H
#define TF_PRIVATE_H

#include "httpd.h"
#include "http_config.h"
#include "http_log.h"

#include "tf_backend.h" /* tf_peer_t */
#include "tf_logno.h"  /* TFLOGNO() */

APLOG_USE_MODULE(tracfcgi);

/* How a log line names a backend process, as mod_http2's H2_STRM_MSG: the
 * format's prefix and its argument, the message's own arguments after:
 *   ap_log_rerror(..., TFLOGNO(00420) TF_BACKEND_MSG(pid, " closed %s"),
 *                 what); */
#define TF_BACKEND_MSG(pid, msg) "backend pid=%d" msg, (int)(pid)

/* How a log line names a request's peer (tf_peer_t, tf_backend.h); the
 * argument is made only when the line is written:
 *   ap_log_rerror(..., TFLOGNO(00420) TF_PEER_MSG(r->pool, peer,
 *                 " closed %s"), what); */
#define TF_PEER_MSG(p, peer, msg) "%s" msg, tf_peer_name((p), (peer))

/* The same, for the manager's lines, which name the pool first. */
#define TF_POOL_BACKEND_MSG(pool, pid, msg)                                \
    "pool %s: backend pid=%d" msg, (pool), (int)(pid)

#endif /* TF_PRIVATE_H */
