/*
 * tf_outcome.h: how a request ended when the application's answer did not
 * reach the client. The part of the request path that finds a failure logs
 * it and returns its outcome; src/bridge.c answers the client with the
 * status tf_outcome_status() gives (README "Statuses and replays"), and a
 * log line that says what the client gets quotes the same.
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

/** The one mapping from outcome to the HTTP status the client gets (0 for
 * TF_OUT_NONE). */
static inline int tf_outcome_status(tf_outcome_e o)
{
    static const int status[] = {
        0,   /* TF_OUT_NONE */
        500, /* TF_OUT_APP_INVALID */
        500, /* TF_OUT_INTERNAL */
        502, /* TF_OUT_GATEWAY */
        503, /* TF_OUT_UNAVAILABLE */
        504  /* TF_OUT_TIMEOUT */
    };

    return status[o];
}

#endif /* TF_OUTCOME_H */
