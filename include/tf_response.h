/*
 * tf_response.h: the RESPONDER role's sink (FastCGI 1.0 section 6.2): the
 * answer's STDOUT is a CGI response (RFC 3875 section 6), parsed with
 * httpd's own header parser as mod_cgi does, a local redirect followed
 * inside httpd, the body streamed to the client through the output
 * filters, its length checked against a Content-Length the backend sent;
 * STDERR goes to the error log a line at a time.
 *
 * One per attempt (src/bridge.c makes a new one for a replay), in a
 * request thread; plugged into src/exchange.c as a tf_xsink_t.
 */
#ifndef TF_RESPONSE_H
#define TF_RESPONSE_H

#include <sys/types.h>

#include "httpd.h"

#include "tf_backend.h"
#include "tf_config.h"
#include "tf_exchange.h"
#include "tf_outcome.h"

typedef struct tf_response tf_response_t;

/**
 * A sink for the answer to @p r from @p peer (copied; for log lines),
 * under the section's configuration @p dc (TracFcgiXSendfile).
 * @param[out] sink  its callbacks, for tf_exchange_t.sink.
 */
tf_response_t *tf_response_create(request_rec *r, const tf_dir_conf_t *dc,
                                  const tf_peer_t *peer, tf_xsink_t *sink);

/** Log what is left of a STDERR line (call once the exchange ended). */
void tf_response_stderr_flush(tf_response_t *rs);

/**
 * The exchange ended well: pass the rest of the answer with its end,
 * follow the application's local redirect, or send the file its
 * X-Sendfile names (TracFcgiXSendfile On).
 * @return OK, or the status the application asked httpd to answer (302
 *         with its Location, 412), or that X-Sendfile comes to (304,
 *         403, 404, 500).
 */
int tf_response_deliver(tf_response_t *rs);

/**
 * Part of the answer went out and the rest will not: end the client's
 * connection so that it cannot take what it got for complete (an error
 * bucket, no final chunk, no keep-alive).
 */
void tf_response_abort(tf_response_t *rs);

/** @return 1 if part of the answer was passed to the client. */
int tf_response_sent(const tf_response_t *rs);

/** @return 1 if part of a held answer could not be read back from its
 *          temporary file (logged): the exchange ended as for a client
 *          gone, but the client is there and must not take what it got
 *          for the whole answer (tf_response_abort()). */
int tf_response_lost(const tf_response_t *rs);

/** @return 1 if the backend's stream is suspect (it must not serve
 *          again): it broke the CGI rules mid-answer or sent more than it
 *          announced. */
int tf_response_broken(const tf_response_t *rs);

/** @return why the sink stopped the exchange (after TF_XEND_SINK). */
tf_outcome_e tf_response_outcome(const tf_response_t *rs);

#endif /* TF_RESPONSE_H */
