/*
 * tf_backend.h: where a backend listens, and the two ways of talking to it
 * at the socket level: a connection for a request, and the FCGI_GET_VALUES
 * probe (is it ready, is it free again, how many connections does it
 * take).
 *
 * A unix socket, or TCP over IPv4 or IPv6 (for FastCGI servers that
 * something else starts, here or on another host). APR and the codec
 * only: no httpd, no logging (the callers log), so that the request path,
 * the process manager and the unit tests share it.
 */
#ifndef TF_BACKEND_H
#define TF_BACKEND_H

#include <sys/socket.h>
#include <sys/types.h>

#include "apr_errno.h"
#include "apr_pools.h"
#include "apr_strings.h"
#include "apr_time.h"

typedef enum {
    TF_BACKEND_UNIX = 0, /* a unix stream socket at a path */
    TF_BACKEND_TCP       /* TCP, IPv4 or IPv6 */
} tf_backend_family_e;

typedef struct {
    tf_backend_family_e family;
    const char *path;   /* TF_BACKEND_UNIX: the socket (dumb pointer) */
    /* TF_BACKEND_TCP: */
    struct sockaddr_storage sa; /* resolved once, when it is parsed */
    socklen_t salen;
} tf_backend_addr_t;

/** Whom a request talks to: a backend process of ours, or one address of
 * a FastCGI server that something else started (TracFcgiExternalServer). */
typedef struct {
    pid_t pid;          /* a process of ours, else 0 */
    const char *addr;   /* an external server's: "host:port", "unix:/p" */
} tf_peer_t;

/** @return "backend pid=N" or "FastCGI server ADDR", for a log line. */
static inline const char *tf_peer_name(apr_pool_t *p, const tf_peer_t *peer)
{
    return peer->addr ? apr_pstrcat(p, "FastCGI server ", peer->addr, NULL)
                      : apr_psprintf(p, "backend pid=%d", (int)peer->pid);
}

/**
 * Parse where a FastCGI server listens: "unix:/absolute/path",
 * "HOST:PORT" (a name is resolved now, to its first address) or
 * "[IPv6]:PORT".
 * @param p  for @p a's strings.
 * @return NULL with @p a filled, or what is wrong (for configtest).
 */
const char *tf_backend_addr_parse(apr_pool_t *p, const char *text,
                                  tf_backend_addr_t *a);

/** Make @p a the unix socket at @p path (kept as a dumb pointer). */
void tf_backend_addr_unix(tf_backend_addr_t *a, const char *path);

/** @return @p a as text: "unix:/path", "127.0.0.1:9000", "[::1]:9000". */
const char *tf_backend_addr_text(apr_pool_t *p, const tf_backend_addr_t *a);

/**
 * Open a connection to @p a for a request: non-blocking, close-on-exec.
 * A full listen queue (unix) or a connection not yet set up (TCP, with
 * TCP_NODELAY) is waited on up to @p connect_timeout.
 * @param[out] fd  the connection, or -1.
 * @return APR_SUCCESS; APR_TIMEUP when it did not connect in time; or the
 *         errno of socket()/connect() (ECONNREFUSED, ENOENT, EHOSTUNREACH:
 *         nobody listens: the request never reached a backend).
 */
apr_status_t tf_backend_connect(const tf_backend_addr_t *a,
                                apr_interval_time_t connect_timeout,
                                int *fd);

/**
 * Ask the backend at @p a for FCGI_MAX_CONNS with FCGI_GET_VALUES, waiting
 * up to @p timeout (connecting included). A one-connection backend accepts
 * only once it is free: the probe answers "is it free again" too.
 * @param[out] max_conns  its answer (1 when it gave none).
 * @return APR_SUCCESS (answered), APR_EOF (closed without answering: it
 *         accepts connections, but ignores management records, as libfcgi
 *         does), APR_TIMEUP, APR_EGENERAL (it broke the protocol), or the
 *         connect/read error (ECONNREFUSED: nobody listens any more).
 */
apr_status_t tf_backend_probe(const tf_backend_addr_t *a,
                              apr_interval_time_t timeout,
                              apr_uint32_t *max_conns);

/**
 * Is a FastCGI server that something else started there (the health
 * probe of TracFcgiExternalServer)? It is when it takes a connection
 * within @p timeout: answering FCGI_GET_VALUES, closing (libfcgi ignores
 * management records) or staying silent until the time is up (all its
 * workers busy) all count.
 * @param[out] max_conns  its FCGI_MAX_CONNS, or 0 when it gave none.
 * @return APR_SUCCESS; APR_TIMEUP when it did not connect in time;
 *         APR_EGENERAL when what answered is not FastCGI; or the errno of
 *         connecting (ECONNREFUSED, ENOENT, EHOSTUNREACH, ...).
 */
apr_status_t tf_backend_health(const tf_backend_addr_t *a,
                               apr_interval_time_t timeout,
                               apr_uint32_t *max_conns);

#endif /* TF_BACKEND_H */
