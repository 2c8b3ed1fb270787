/*
 * exchange.c: one request on one backend connection, for any role.
 *
 * Connect (src/backend.c); send BEGIN_REQUEST, PARAMS and the body in
 * STDIN records, gathered into one sendmsg() where they fit; poll both
 * ways until the END_REQUEST record, each read going on where the last one
 * ended in a read buffer that the sink may slice (no copy of the answer);
 * the records go to the sink. A failure ends the exchange with its reason
 * (tf_xend_e) for the caller to log: nothing here logs or knows httpd.
 *
 * Runs in a request thread. Memory: one TF_IOBUF_SIZE read buffer at a
 * time (from src/iobuf.c), whatever the sink keeps of it.
 */
#include <errno.h>
#include <poll.h>
#include <string.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <unistd.h>

#include "apr_time.h"

#include "tf_exchange.h"
#include "tf_iobuf.h"

#define IOBUF TF_IOBUF_SIZE
#define MIN_ROOM (16 * 1024)  /* a read buffer with less room is done */
#define GO_ON (-1)            /* the exchange goes on (not a tf_xend_e) */

/* Gather into x->iov as much of the request as one sendmsg() can take:
 * BEGIN_REQUEST and PARAMS, STDIN records of the body held in memory, and
 * the empty STDIN that ends it, so that a small request is one system
 * call. A piece that is not stable (read from the spool file, or the
 * client) is valid only until the next one: gathering stops after it. */
static apr_status_t fill_out(tf_exchange_t *x)
{
    const char *data;
    apr_size_t len;
    apr_status_t rv;
    int stable, records, nrec = 0;

    if (x->iov_n > 0 || x->sf_left) {
        return APR_SUCCESS;
    }
    if (x->out_phase == 0) {
        x->iov[0].iov_base = x->begin;
        x->iov[0].iov_len = sizeof(x->begin);
        x->iov[1].iov_base = (void *)x->params;
        x->iov[1].iov_len = x->params_len;
        x->iov_n = 2;
        x->out_phase = x->body ? 1 : 2;
    }
    while (x->out_phase == 1 && x->iov_n + 2 <= TF_X_MAX_IOV - 1) {
        if (x->body->next_file) {
            rv = x->body->next_file(x->body->ctx, TF_FCGI_MAX_CONTENT,
                                    &x->sf_fd, &x->sf_off, &x->sf_left,
                                    &records);
            if (rv == APR_SUCCESS && x->sf_left) {
                /* its header, unless the file has them; then the file's
                 * bytes (send_some) */
                if (!records) {
                    tf_fcgi_header_encode(x->rec[nrec], TF_FCGI_STDIN, 1,
                                          x->sf_left, 0);
                    x->iov[x->iov_n].iov_base = x->rec[nrec];
                    x->iov[x->iov_n++].iov_len = TF_FCGI_HEADER_LEN;
                }
                return APR_SUCCESS;
            }
            if (rv != APR_ENOTIMPL && rv != APR_SUCCESS) {
                return rv;
            }
        }
        rv = x->body->next(x->body->ctx, TF_FCGI_MAX_CONTENT, &data, &len,
                           &stable);
        if (rv == APR_EOF || (rv == APR_SUCCESS && len == 0)) {
            x->out_phase = 2;
            break;
        }
        if (rv != APR_SUCCESS) {
            return rv;
        }
        tf_fcgi_header_encode(x->rec[nrec], TF_FCGI_STDIN, 1, len, 0);
        x->iov[x->iov_n].iov_base = x->rec[nrec++];
        x->iov[x->iov_n++].iov_len = TF_FCGI_HEADER_LEN;
        x->iov[x->iov_n].iov_base = (void *)data;
        x->iov[x->iov_n++].iov_len = len;
        if (!stable) {
            return APR_SUCCESS;
        }
    }
    if (x->out_phase == 2) {
        tf_fcgi_header_encode(x->rec[nrec], TF_FCGI_STDIN, 1, 0, 0);
        x->iov[x->iov_n].iov_base = x->rec[nrec];
        x->iov[x->iov_n++].iov_len = TF_FCGI_HEADER_LEN;
        x->out_phase = 3;
    }
    return APR_SUCCESS;
}

/* A backend that stopped reading may have answered anyway: what it did
 * not take is dropped (send_some) and the answer read. */
static void stop_sending(tf_exchange_t *x)
{
    if (errno != EAGAIN && errno != EINTR) {
        x->iov_n = 0;
        x->sf_left = 0;
        x->out_phase = 3;
    }
}

/* Send what the connection takes now of the file piece that follows the
 * gathered records. */
static void send_file(tf_exchange_t *x)
{
    off_t off = (off_t)x->sf_off;
    ssize_t n;

    n = sendfile(x->fd, x->sf_fd, &off, x->sf_left);
    if (n < 0) {
        stop_sending(x);
    }
    else if (n == 0) {
        /* the file is shorter than the body it holds: the request cannot
         * be sent whole (loop() ends it TF_XEND_BODY) */
        x->send_rv = APR_EOF;
        x->iov_n = 0;
        x->sf_left = 0;
    }
    else {
        x->sf_off = (apr_off_t)off;
        x->sf_left -= (apr_size_t)n;
    }
}

/* Send what sendmsg() takes now; drop it from x->iov; then the file piece
 * (a record header says more follows: MSG_MORE, one TCP segment). */
static void send_some(tf_exchange_t *x)
{
    struct msghdr mh;
    ssize_t n;
    int i;

    if (!x->iov_n) {
        if (x->sf_left) {
            send_file(x);
        }
        return;
    }
    memset(&mh, 0, sizeof(mh));
    mh.msg_iov = x->iov;
    mh.msg_iovlen = (size_t)x->iov_n;
    n = sendmsg(x->fd, &mh, MSG_NOSIGNAL | (x->sf_left ? MSG_MORE : 0));
    if (n < 0) {
        stop_sending(x);
        return;
    }
    for (i = 0; i < x->iov_n && (apr_size_t)n >= x->iov[i].iov_len; i++) {
        n -= (ssize_t)x->iov[i].iov_len;
    }
    if (i < x->iov_n) {
        x->iov[i].iov_base = (char *)x->iov[i].iov_base + n;
        x->iov[i].iov_len -= (apr_size_t)n;
    }
    memmove(x->iov, x->iov + i, sizeof(x->iov[0]) * (apr_size_t)(x->iov_n - i));
    x->iov_n -= i;
    if (!x->iov_n && x->sf_left) {
        send_file(x);
    }
}

/* @return 1 if [data, data+len) lies in the read buffer. */
static int in_read_buffer(const tf_exchange_t *x, const unsigned char *data,
                          apr_size_t len)
{
    const char *base = ((apr_bucket_heap *)x->rd->data)->base;
    const char *p = (const char *)data;

    return p >= base && p + len <= base + IOBUF;
}

/* One record's event to the sink. @return GO_ON, or how the exchange
 * ended; *ended at END_REQUEST. */
static int to_sink(tf_exchange_t *x, const tf_fcgi_event_t *ev, int *ended)
{
    const tf_xsink_t *s = x->sink;
    int rc;

    switch (ev->type) {
    case TF_FCGI_STDOUT:
        rc = s->on_stdout(s->ctx, ev->data, ev->len,
                          in_read_buffer(x, ev->data, ev->len) ? x->rd
                                                               : NULL);
        break;
    case TF_FCGI_STDERR:
        s->on_stderr(s->ctx, ev->data, ev->len);
        return GO_ON;
    case TF_FCGI_END_REQUEST:
        *ended = 1;
        rc = s->on_end(s->ctx, ev->app_status, ev->protocol_status);
        break;
    default:
        return GO_ON;
    }
    if (rc == TF_SINK_GO_ON) {
        return GO_ON;
    }
    return rc == TF_SINK_CLIENT_GONE ? TF_XEND_CLIENT_GONE : TF_XEND_SINK;
}

/* Decode one read's worth; records after END_REQUEST are not looked at.
 * @return GO_ON, or how the exchange ended. */
static int decode(tf_exchange_t *x, const unsigned char *in, apr_size_t n,
                  int *ended)
{
    apr_size_t off = 0, used;
    tf_fcgi_event_t ev;
    tf_fcgi_rc rc;
    int end;

    while (off < n && !*ended) {
        rc = tf_fcgi_decode(&x->dec, in + off, n - off, &used, &ev);
        off += used;
        if (rc == TF_FCGI_AGAIN) {
            break;
        }
        if (rc == TF_FCGI_SKIPPED) {
            x->skipped++;
            continue;
        }
        if (rc != TF_FCGI_OK) {
            x->fcgi_rc = rc;
            return TF_XEND_PROTOCOL;
        }
        if ((end = to_sink(x, &ev, ended)) != GO_ON) {
            return end;
        }
    }
    x->tail = *ended && off < n; /* bytes after END_REQUEST */
    return GO_ON;
}

/* The read buffer, with room for a read. @return it, or NULL (memory). */
static char *read_room(tf_exchange_t *x)
{
    char *buf;

    /* each read goes on where the last one ended: a backend writing 8 KiB
     * records would otherwise pin a whole buffer per 8 KiB in flight */
    if (x->rd && IOBUF - x->rd_used < MIN_ROOM) {
        apr_bucket_destroy(x->rd); /* the sink's slices keep it alive */
        x->rd = NULL;
    }
    if (!x->rd) {
        if (!(buf = tf_iobuf_get())) {
            return NULL;
        }
        x->rd = apr_bucket_heap_create(buf, IOBUF, tf_iobuf_put, x->ba);
        x->rd_used = 0;
    }
    return ((apr_bucket_heap *)x->rd->data)->base + x->rd_used;
}

/* One recv() and what it brought. @return GO_ON, or how it ended. */
static int read_some(tf_exchange_t *x, int *ended)
{
    char *buf;
    ssize_t got;
    int err, end;

    if (!(buf = read_room(x))) {
        return TF_XEND_NOMEM;
    }
    got = recv(x->fd, buf, IOBUF - x->rd_used, 0);
    err = errno;
    if (got < 0 && (err == EAGAIN || err == EINTR)) {
        /* the backend paused: what is gathered goes out now */
        if (err == EAGAIN
            && x->sink->on_read(x->sink->ctx, 1) == TF_SINK_CLIENT_GONE) {
            return TF_XEND_CLIENT_GONE;
        }
        return GO_ON;
    }
    if (got <= 0) {
        x->rv = got < 0 ? err : 0;
        return x->got_any ? TF_XEND_CLOSED : TF_XEND_SILENT;
    }
    x->got_any = 1;
    x->read_on = 1;
    x->rd_used += (apr_size_t)got;
    end = decode(x, (const unsigned char *)buf, (apr_size_t)got, ended);
    if (end != GO_ON || *ended) {
        return end;
    }
    if (x->sink->on_read(x->sink->ctx, 0) == TF_SINK_CLIENT_GONE) {
        return TF_XEND_CLIENT_GONE;
    }
    return GO_ON;
}

/* Until END_REQUEST: send while the backend reads, read what it sends. */
static tf_xend_e loop(tf_exchange_t *x)
{
    struct pollfd pfd;
    apr_status_t rv;
    int ended = 0, n, end;

    while (!ended) {
        apr_interval_time_t wait = x->io_timeout;
        int busy = 0;

        /* a backend that trickles is never silent: only a deadline
         * ends it (checked every pass, polled or not) */
        if (x->deadline) {
            apr_interval_time_t left = x->deadline - apr_time_now();

            if (left <= 0) {
                return TF_XEND_BUSY;
            }
            if (left < wait) {
                wait = left;
                busy = 1;
            }
        }
        if (x->send_rv != APR_SUCCESS) {
            x->rv = x->send_rv;
            return TF_XEND_BODY;
        }
        if ((rv = fill_out(x)) != APR_SUCCESS) {
            x->rv = rv;
            return TF_XEND_BODY;
        }
        if (!x->read_on || x->iov_n || x->sf_left) {
            /* no data just came: wait for something to happen */
            pfd.fd = x->fd;
            pfd.events = POLLIN | (x->iov_n || x->sf_left ? POLLOUT : 0);
            pfd.revents = 0;
            n = poll(&pfd, 1, (int)((wait + 999) / 1000));
            if (n < 0 && errno == EINTR) {
                continue;
            }
            if (n == 0) {
                return busy ? TF_XEND_BUSY : TF_XEND_TIMEUP;
            }
            if (pfd.revents & POLLOUT) {
                send_some(x);
            }
            if (!(pfd.revents & (POLLIN | POLLHUP | POLLERR))) {
                continue;
            }
        }
        x->read_on = 0;
        if ((end = read_some(x, &ended)) != GO_ON) {
            return (tf_xend_e)end;
        }
    }
    return TF_XEND_DONE;
}

tf_xend_e tf_exchange_run(tf_exchange_t *x)
{
    apr_status_t rv;
    tf_xend_e end;

    if (!x->reuse) {
        x->fd = -1;
        rv = tf_backend_connect(x->addr, x->connect_timeout, &x->fd);
        if (rv == APR_TIMEUP) {
            return TF_XEND_CONNECT_TIMEUP;
        }
        if (rv != APR_SUCCESS) {
            x->rv = rv;
            return TF_XEND_UNREACHED;
        }
    }
    tf_fcgi_decoder_init(&x->dec, 1);
    tf_fcgi_begin_request_encode(x->begin, 1, x->role,
                                 x->keep_conn ? TF_FCGI_KEEP_CONN : 0);
    if (x->body && (rv = x->body->rewind(x->body->ctx)) != APR_SUCCESS) {
        x->rv = rv;
        return TF_XEND_BODY;
    }
    /* a fresh connection takes the request at once: send before polling */
    if ((rv = fill_out(x)) != APR_SUCCESS) {
        x->rv = rv;
        return TF_XEND_BODY;
    }
    send_some(x);
    end = loop(x);
    /* everything sent, nothing left over: the connection is reusable */
    x->clean = end == TF_XEND_DONE && x->out_phase == 3 && !x->iov_n
               && !x->sf_left && !x->tail;
    return end;
}

void tf_exchange_done(tf_exchange_t *x)
{
    if (x->rd) {
        apr_bucket_destroy(x->rd); /* our reference to the read buffer */
        x->rd = NULL;
    }
}
