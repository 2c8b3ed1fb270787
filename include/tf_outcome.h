/*
 * tf_outcome.h: how a request ended when the application's answer did not
 * reach the client. The part of the request path that finds a failure logs
 * it and returns its outcome; src/bridge.c alone turns an outcome into the
 * status the client gets (README "Statuses and replays").
 */
#ifndef TF_OUTCOME_H
#define TF_OUTCOME_H

typedef enum {
    TF_OUT_NONE = 0,     /* no failure */
    TF_OUT_APP_INVALID,  /* the app answered, but not with a CGI response
                          * (no header block, a malformed header, a bad
                          * Status, a bad local redirect): 500, as mod_cgi */
    TF_OUT_INTERNAL,     /* our own failure (memory, the spooled body): 500 */
    TF_OUT_GATEWAY,      /* reaching or reading the backend failed: connect,
                          * protocol violation, closed mid-stream, its own
                          * FCGI_OVERLOADED / FCGI_UNKNOWN_ROLE, a dead
                          * backend not replayed: 502 */
    TF_OUT_UNAVAILABLE,  /* no backend free in time, back-off, suexec
                          * refusal, a full pool table: 503, Retry-After */
    TF_OUT_TIMEOUT       /* the backend was silent past TracFcgiIOTimeout:
                          * 504 */
} tf_outcome_e;

#endif /* TF_OUTCOME_H */
