/*
 * ipc.c: spawn requests from httpd request threads to the process manager
 * and the PM's replies (see tf_ipc.h). Runs in both: the request side uses
 * APR sockets with timeouts, the PM side plain blocking descriptors in its
 * spawn threads.
 *
 * The message format is built and parsed by pure functions (encode,
 * decode: no I/O), which the socket functions wrap, so that the format is
 * unit-tested without a manager (t/unit/test_ipc.c). A decoder trusts
 * nothing it reads: every count and length is checked against the bytes
 * actually there before it is used.
 */
#include <errno.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

#include "apr_network_io.h"
#include "apr_strings.h"

#include "tf_ipc.h"

/* --- The message format -------------------------------------------------- */

static apr_size_t strv_len(const char *const *v, apr_uint32_t *n)
{
    apr_size_t len = 0;

    for (*n = 0; v && v[*n]; (*n)++) {
        len += strlen(v[*n]) + 1;
    }
    return len;
}

static char *put_str(char *at, const char *s)
{
    apr_size_t n = strlen(s) + 1;

    memcpy(at, s, n);
    return at + n;
}

apr_status_t tf_ipc_spawn_encode(apr_pool_t *p, const tf_spawn_spec_t *spec,
                                 char **buf, apr_size_t *len_out)
{
    tf_ipc_hdr_t hdr;
    tf_ipc_spawn_fixed_t fx;
    apr_size_t len;
    apr_uint32_t i;
    char *at;

    memset(&fx, 0, sizeof(fx)); /* padding too: no stray bytes sent */
    fx.ref = spec->ref;
    fx.pool = spec->pool;
    fx.key = spec->key;
    fx.uid = spec->uid;
    fx.gid = spec->gid;
    fx.lim = spec->lim;
    fx.startup_timeout = spec->startup_timeout;
    len = sizeof(fx) + strlen(spec->name) + 1 + strlen(spec->cwd) + 1;
    len += strv_len(spec->argv, &fx.n_argv);
    len += strv_len(spec->env, &fx.n_env);
    len += strv_len(spec->watch, &fx.n_watch);
    if (len > TF_IPC_MAX_LEN) {
        return APR_EINVAL;
    }
    hdr.magic = TF_IPC_MAGIC;
    hdr.version = TF_IPC_VERSION;
    hdr.len = (apr_uint32_t)len;
    *buf = apr_palloc(p, sizeof(hdr) + len);
    memcpy(*buf, &hdr, sizeof(hdr));
    memcpy(*buf + sizeof(hdr), &fx, sizeof(fx));
    at = *buf + sizeof(hdr) + sizeof(fx);
    at = put_str(at, spec->name);
    at = put_str(at, spec->cwd);
    for (i = 0; i < fx.n_argv; i++) {
        at = put_str(at, spec->argv[i]);
    }
    for (i = 0; i < fx.n_env; i++) {
        at = put_str(at, spec->env[i]);
    }
    for (i = 0; i < fx.n_watch; i++) {
        at = put_str(at, spec->watch[i]);
    }
    *len_out = sizeof(hdr) + len;
    return APR_SUCCESS;
}

apr_status_t tf_ipc_spawn_decode_header(const void *in, apr_size_t *body_len)
{
    tf_ipc_hdr_t hdr;

    memcpy(&hdr, in, sizeof(hdr));
    if (hdr.magic != TF_IPC_MAGIC || hdr.version != TF_IPC_VERSION
        || hdr.len < sizeof(tf_ipc_spawn_fixed_t)
        || hdr.len > TF_IPC_MAX_LEN) {
        return APR_EINVAL;
    }
    *body_len = hdr.len;
    return APR_SUCCESS;
}

/* Take @n NUL-terminated strings from [*at, end). */
static apr_status_t take_strv(apr_pool_t *p, char **at, const char *end,
                              apr_uint32_t n, const char *const **out)
{
    const char **v;
    apr_uint32_t i;
    char *nul;

    /* each string takes a byte at least: a count the bytes cannot hold
     * is refused before it sizes an allocation */
    if (n > (apr_size_t)(end - *at)) {
        return APR_EINVAL;
    }
    v = apr_pcalloc(p, sizeof(char *) * ((apr_size_t)n + 1));
    for (i = 0; i < n; i++) {
        nul = memchr(*at, '\0', (apr_size_t)(end - *at));
        if (!nul) {
            return APR_EINVAL;
        }
        v[i] = *at;
        *at = nul + 1;
    }
    *out = v;
    return APR_SUCCESS;
}

apr_status_t tf_ipc_spawn_decode_body(apr_pool_t *p, char *body,
                                      apr_size_t len, tf_spawn_spec_t *spec)
{
    tf_ipc_spawn_fixed_t fx;
    const char *const *one;
    char *at, *end;
    apr_status_t rv;

    if (len < sizeof(fx)) {
        return APR_EINVAL;
    }
    memcpy(&fx, body, sizeof(fx));
    at = body + sizeof(fx);
    end = body + len;
    memset(spec, 0, sizeof(*spec));
    spec->ref = fx.ref;
    spec->pool = fx.pool;
    spec->key = fx.key;
    spec->uid = fx.uid;
    spec->gid = fx.gid;
    spec->lim = fx.lim;
    spec->startup_timeout = fx.startup_timeout;
    if ((rv = take_strv(p, &at, end, 1, &one)) != APR_SUCCESS) {
        return rv;
    }
    spec->name = one[0];
    if ((rv = take_strv(p, &at, end, 1, &one)) != APR_SUCCESS) {
        return rv;
    }
    spec->cwd = one[0];
    if (fx.n_argv < 1
        || (rv = take_strv(p, &at, end, fx.n_argv, &spec->argv))
        || (rv = take_strv(p, &at, end, fx.n_env, &spec->env))
        || (rv = take_strv(p, &at, end, fx.n_watch, &spec->watch))) {
        return rv ? rv : APR_EINVAL;
    }
    /* the encoder fills the length exactly: more is a corrupt message */
    return at == end ? APR_SUCCESS : APR_EINVAL;
}

apr_status_t tf_ipc_reply_decode(const void *buf, apr_size_t len,
                                 tf_ipc_reply_t *reply)
{
    if (len != sizeof(*reply)) {
        return APR_EINVAL;
    }
    memcpy(reply, buf, sizeof(*reply));
    reply->msg[sizeof(reply->msg) - 1] = '\0';
    return APR_SUCCESS;
}

/* --- Request side -------------------------------------------------------- */

apr_status_t tf_ipc_spawn_request(apr_pool_t *p, const char *ctl_path,
                                  const tf_spawn_spec_t *spec,
                                  apr_interval_time_t timeout,
                                  tf_ipc_reply_t *reply)
{
    char rbuf[sizeof(tf_ipc_reply_t)];
    apr_size_t len, n, got;
    char *buf;
    apr_sockaddr_t *sa;
    apr_socket_t *sock;
    apr_status_t rv;

    if ((rv = tf_ipc_spawn_encode(p, spec, &buf, &len)) != APR_SUCCESS) {
        return rv;
    }
    if ((rv = apr_sockaddr_info_get(&sa, ctl_path, APR_UNIX, 0, 0, p))
        || (rv = apr_socket_create(&sock, APR_UNIX, SOCK_STREAM, 0, p))) {
        return rv;
    }
    apr_socket_timeout_set(sock, timeout);
    if ((rv = apr_socket_connect(sock, sa)) != APR_SUCCESS) {
        apr_socket_close(sock);
        return rv;
    }
    for (got = 0; rv == APR_SUCCESS && got < len; got += n) {
        n = len - got;
        rv = apr_socket_send(sock, buf + got, &n);
    }
    for (got = 0; rv == APR_SUCCESS && got < sizeof(rbuf); got += n) {
        n = sizeof(rbuf) - got;
        rv = apr_socket_recv(sock, rbuf + got, &n);
    }
    apr_socket_close(sock);
    if (rv == APR_EOF) {
        rv = APR_ECONNRESET; /* the PM went away before it answered */
    }
    if (rv == APR_SUCCESS) {
        rv = tf_ipc_reply_decode(rbuf, got, reply);
    }
    return rv;
}

void tf_ipc_wake_pm(pid_t pm_pid)
{
    if (pm_pid > 0) {
        kill(pm_pid, SIGUSR2);
    }
}

/* --- PM side ------------------------------------------------------------- */

static apr_status_t read_full(int fd, void *buf, apr_size_t len)
{
    char *at = buf;
    ssize_t n;

    while (len > 0) {
        n = read(fd, at, len);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            return n == 0 ? APR_EOF : errno;
        }
        at += n;
        len -= (apr_size_t)n;
    }
    return APR_SUCCESS;
}

apr_status_t tf_ipc_spawn_read(int fd, apr_pool_t *p, tf_spawn_spec_t *spec)
{
    char hdr[sizeof(tf_ipc_hdr_t)];
    apr_size_t len;
    char *buf;
    apr_status_t rv;

    if ((rv = read_full(fd, hdr, sizeof(hdr))) != APR_SUCCESS
        || (rv = tf_ipc_spawn_decode_header(hdr, &len)) != APR_SUCCESS) {
        return rv;
    }
    buf = apr_palloc(p, len);
    if ((rv = read_full(fd, buf, len)) != APR_SUCCESS) {
        return rv;
    }
    return tf_ipc_spawn_decode_body(p, buf, len, spec);
}

apr_status_t tf_ipc_reply_write(int fd, const tf_ipc_reply_t *reply)
{
    const char *at = (const char *)reply;
    apr_size_t len = sizeof(*reply);
    ssize_t n;

    while (len > 0) {
        n = write(fd, at, len);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            return errno;
        }
        at += n;
        len -= (apr_size_t)n;
    }
    return APR_SUCCESS;
}
