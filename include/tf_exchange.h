/*
 * tf_exchange.h: one request on one backend connection, for any FastCGI
 * role: send BEGIN_REQUEST, PARAMS and STDIN while reading the answer
 * (poll in both directions, so a backend that answers before reading its
 * input cannot deadlock us), decode the records and hand them to a sink.
 *
 * The role is a parameter and the answer goes to a sink of callbacks: the
 * RESPONDER's is src/response.c; an AUTHORIZER or an X-Sendfile answer is
 * another sink, not another branch here. The request body comes from a
 * source of callbacks (src/body.c in httpd; a buffer in the unit tests).
 *
 * APR, apr-util buckets, the codec and src/backend.c only: no httpd, no
 * logging. What went wrong is returned (tf_xend_e, with an APR status or
 * a codec code) for the caller to log and to turn into a status. Its state
 * (tf_exchange_t) is made fresh for each attempt: a replay inherits
 * nothing of a failed one.
 */
#ifndef TF_EXCHANGE_H
#define TF_EXCHANGE_H

#include <sys/uio.h>

#include "apr_buckets.h"

#include "tf_backend.h"
#include "tf_fcgi_proto.h"

/** What the sink's callbacks return. */
#define TF_SINK_GO_ON 0
#define TF_SINK_STOP (-1)        /* the sink failed the exchange (it knows
                                  * why: it logged it and keeps its outcome) */
#define TF_SINK_CLIENT_GONE (-2) /* the client went away */

/** Where the answer goes; @c ctx is passed to each callback. */
typedef struct {
    /** STDOUT bytes, a slice of the read buffer @p buf (a heap bucket the
     * sink may copy to keep the bytes without copying them); @p buf is
     * NULL when the bytes are elsewhere. */
    int (*on_stdout)(void *ctx, const unsigned char *data, apr_size_t len,
                     apr_bucket *buf);
    /** STDERR bytes, in pieces of any size. */
    void (*on_stderr)(void *ctx, const unsigned char *data, apr_size_t len);
    /** END_REQUEST: the answer is complete (or refused: @p protocol_status
     * is not TF_FCGI_REQUEST_COMPLETE). TF_SINK_GO_ON: done. */
    int (*on_end)(void *ctx, apr_uint32_t app_status,
                  unsigned protocol_status);
    /** A read was handled (@p paused 0), or the backend paused (1): pass
     * on what is gathered; on a pause, flushed. */
    int (*on_read)(void *ctx, int paused);
    void *ctx;
} tf_xsink_t;

/** Where the request body comes from (read again from its start for a
 * replay: rewind). */
typedef struct {
    apr_status_t (*rewind)(void *ctx);
    /** Next piece of at most @p max bytes: APR_SUCCESS, APR_EOF at the
     * end, or an error. @p stable: the piece stays valid until the request
     * ends (else only until the next call). */
    apr_status_t (*next)(void *ctx, apr_size_t max, const char **data,
                         apr_size_t *len, int *stable);
    /** NULL, or: the next piece if it lies in a file, as @p len bytes at
     * @p off of the open descriptor @p fd (sent with sendfile(): no copy
     * through our memory): content of at most @p max bytes for a record
     * of its own, or (@p records 1) whole STDIN records, headers
     * included, sent as they are; APR_ENOTIMPL: it does not, take it
     * with next(). The descriptor stays open until the request ends. */
    apr_status_t (*next_file)(void *ctx, apr_size_t max, int *fd,
                              apr_off_t *off, apr_size_t *len, int *records);
    void *ctx;
} tf_xbody_t;

/** How an exchange ended. */
typedef enum {
    TF_XEND_DONE = 0,   /* END_REQUEST, and the sink took it */
    TF_XEND_UNREACHED,  /* connecting failed (rv): the request never
                         * reached the backend */
    TF_XEND_CONNECT_TIMEUP, /* its listen queue stayed full */
    TF_XEND_SILENT,     /* closed before sending a byte (rv: 0 or the read
                         * error): it may have read the request */
    TF_XEND_CLOSED,     /* closed mid-answer (rv: 0 or the read error) */
    TF_XEND_TIMEUP,     /* nothing happened for the I/O timeout */
    TF_XEND_BUSY,       /* the deadline passed (TracFcgiBusyTimeout),
                         * however busy the backend was */
    TF_XEND_PROTOCOL,   /* the backend broke the protocol (fcgi_rc) */
    TF_XEND_NOMEM,      /* no read buffer */
    TF_XEND_BODY,       /* the body source failed (rv) */
    TF_XEND_SINK,       /* the sink stopped it */
    TF_XEND_CLIENT_GONE /* the sink's client went away */
} tf_xend_e;

#define TF_X_MAX_IOV 8  /* pieces gathered into one sendmsg() */

/** The state of one attempt. Zero it, set the inputs, call
 * tf_exchange_run(), read the outputs. */
typedef struct {
    /* inputs */
    const tf_backend_addr_t *addr;
    unsigned role;              /* TF_FCGI_RESPONDER, ... */
    const unsigned char *params; /* encoded PARAMS records, empty one
                                 * included */
    apr_size_t params_len;
    const tf_xbody_t *body;     /* NULL: no STDIN but its end */
    const tf_xsink_t *sink;
    apr_interval_time_t connect_timeout, io_timeout;
    apr_time_t deadline;        /* the exchange ends TF_XEND_BUSY once
                                 * this time has passed; 0: never */
    apr_bucket_alloc_t *ba;     /* for the read buffer's bucket */
    int reuse;                  /* 1: use the open connection x->fd (kept
                                 * from an earlier request) */
    int keep_conn;              /* 1: ask the backend to keep the
                                 * connection open (FCGI_KEEP_CONN) */

    /* outputs */
    int fd;                     /* the connection, -1 if none; the caller
                                 * closes it (the backend's release depends
                                 * on what it does next) */
    apr_status_t rv;            /* with UNREACHED, SILENT, CLOSED, BODY */
    tf_fcgi_rc fcgi_rc;         /* with PROTOCOL */
    int got_any;                /* a byte came from the backend */
    unsigned skipped;           /* records of types we do not know */
    int clean;                  /* DONE with the whole request sent and
                                 * nothing read past END_REQUEST: the
                                 * connection may serve another */

    /* private */
    unsigned char begin[TF_FCGI_BEGIN_REQUEST_LEN];
    int out_phase;              /* 0 begin+params, 1 body, 2 end of stdin,
                                 * 3 done */
    unsigned char rec[TF_X_MAX_IOV / 2][TF_FCGI_HEADER_LEN]; /* record
                                                 * headers in flight */
    struct iovec iov[TF_X_MAX_IOV]; /* what is still to send, in order */
    int iov_n;
    int sf_fd;                  /* then sf_left bytes at sf_off of this
                                 * file (a body piece to sendfile()) */
    apr_off_t sf_off;
    apr_size_t sf_left;
    apr_status_t send_rv;       /* the body's file ended early */
    tf_fcgi_decoder_t dec;
    apr_bucket *rd;             /* the read buffer: a heap bucket owning
                                 * it, which body slices share */
    apr_size_t rd_used;         /* bytes of it filled */
    int read_on;                /* the last read brought data: read again
                                 * before polling */
    int tail;                   /* bytes came after END_REQUEST */
} tf_exchange_t;

/**
 * Connect to x->addr (or use x->fd, with x->reuse) and run the exchange
 * to its end.
 * @return how it ended; x->fd is the connection (or -1), for the caller
 *         to close once it knows what becomes of the backend.
 */
tf_xend_e tf_exchange_run(tf_exchange_t *x);

/** Let go of the read buffer (the sink's slices keep it alive). */
void tf_exchange_done(tf_exchange_t *x);

#endif /* TF_EXCHANGE_H */
