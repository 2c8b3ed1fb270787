/*
 * keepalive.c: an httpd child's kept connections to external FastCGI
 * servers (see tf_keepalive.h and "Kept connections" in tf_pool.h).
 *
 * The cache is this process's: a connection is only ever reused by the
 * child that opened it. The table knows each one (kept, held by -pid), so
 * that a request of another child that finds every place of an address
 * taken can ask for one back (shed): the closer, a thread of each child
 * that has kept something, sleeps on the table's shed_seq futex word and
 * closes what the table says must go, or what has been idle past its
 * keepalive= seconds, and gives the place back. Nothing here holds the
 * table lock across a system call other than the lock itself.
 *
 * Runs in the request threads of an httpd child (take, keep) and in its
 * closer thread.
 */
#include <poll.h>
#include <pthread.h>
#include <string.h>
#include <unistd.h>

#include "tf_keepalive.h"

#define MAX_KEPT 64          /* per child */
#define CLOSER_NAP_SEC 1     /* at most this long between sweeps */

typedef struct {
    int fd;
    int pool;
    tf_proc_ref_t ref;
    apr_time_t until;        /* idle until then at most */
} kept_t;

static struct {
    pthread_mutex_t mu;      /* guards e, n */
    kept_t e[MAX_KEPT];
    int n;
    tf_shm_t *shm;
    pid_t self;
    pthread_once_t closer_once;
} kc = {PTHREAD_MUTEX_INITIALIZER, {{0, 0, {0, 0}, 0}}, 0, NULL, 0,
        PTHREAD_ONCE_INIT};

/* Give back the places of @n kept connections and close them. */
static void drop(const kept_t *k, int n)
{
    tf_table_t *t = tf_shm_table(kc.shm);
    apr_time_t now = apr_time_now();
    int i;

    tf_shm_lock(kc.shm);
    for (i = 0; i < n; i++) {
        tf_pool_req_drop_kept(t, k[i].ref, kc.self, now);
    }
    tf_shm_unlock(kc.shm); /* wakes the waiters the places went to */
    for (i = 0; i < n; i++) {
        close(k[i].fd);
    }
}

/* Take out of the cache what must go (idle too long, or asked for by
 * the table), and drop it. */
static void sweep(void)
{
    tf_table_t *t = tf_shm_table(kc.shm);
    apr_time_t now = apr_time_now();
    kept_t out[MAX_KEPT];
    int i, n = 0;

    pthread_mutex_lock(&kc.mu);
    tf_shm_lock(kc.shm);
    for (i = 0; i < kc.n; i++) {
        if (now >= kc.e[i].until || tf_pool_kept_must_go(t, kc.e[i].ref)) {
            out[n++] = kc.e[i];
            kc.e[i--] = kc.e[--kc.n];
        }
    }
    tf_shm_unlock(kc.shm);
    pthread_mutex_unlock(&kc.mu);
    if (n) {
        drop(out, n);
    }
}

static void *closer(void *arg)
{
    apr_uint32_t seen;

    (void)arg;
    for (;;) {
        seen = __atomic_load_n(&tf_shm_table(kc.shm)->hdr->shed_seq,
                               __ATOMIC_ACQUIRE);
        sweep();
        tf_shm_shed_wait(kc.shm, seen, apr_time_from_sec(CLOSER_NAP_SEC));
    }
    return NULL;
}

static void start_closer(void)
{
    pthread_attr_t attr;
    pthread_t tid;

    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    pthread_create(&tid, &attr, closer, NULL);
    pthread_attr_destroy(&attr);
}

/* The child goes: every kept connection too. */
static apr_status_t child_exit(void *data)
{
    kept_t out[MAX_KEPT];
    int n;

    (void)data;
    pthread_mutex_lock(&kc.mu);
    n = kc.n;
    memcpy(out, kc.e, sizeof(kept_t) * (apr_size_t)n);
    kc.n = 0;
    pthread_mutex_unlock(&kc.mu);
    if (n) {
        drop(out, n);
    }
    return APR_SUCCESS;
}

void tf_keepalive_child_init(apr_pool_t *pchild, tf_shm_t *shm, pid_t self)
{
    kc.shm = shm;
    kc.self = self;
    apr_pool_cleanup_register(pchild, NULL, child_exit,
                              apr_pool_cleanup_null);
}

/* @return 1 if the server has closed @fd (EOF or an error waits). */
static int closed_by_server(int fd)
{
    struct pollfd pfd = {fd, POLLIN | POLLRDHUP, 0};

    return poll(&pfd, 1, 0) != 0;
}

int tf_keepalive_take(int pool, tf_proc_ref_t *ref)
{
    kept_t k;
    int i;

    for (;;) {
        pthread_mutex_lock(&kc.mu);
        for (i = kc.n - 1; i >= 0 && kc.e[i].pool != pool; i--) {
        }
        if (i < 0) {
            pthread_mutex_unlock(&kc.mu);
            return -1;
        }
        k = kc.e[i];
        kc.e[i] = kc.e[--kc.n];
        pthread_mutex_unlock(&kc.mu);
        if (!closed_by_server(k.fd)) {
            *ref = k.ref;
            return k.fd;
        }
        drop(&k, 1); /* the server let it go: so do we */
    }
}

int tf_keepalive_keep(int fd, int pool, tf_proc_ref_t ref, apr_uint32_t secs)
{
    tf_table_t *t = tf_shm_table(kc.shm);
    int kept = 0;

    if (!kc.shm || closed_by_server(fd)) {
        return 0;
    }
    pthread_mutex_lock(&kc.mu);
    if (kc.n < MAX_KEPT) {
        tf_shm_lock(kc.shm);
        kept = tf_pool_req_keep(t, ref, kc.self, apr_time_now());
        tf_shm_unlock(kc.shm);
    }
    if (kept) {
        kc.e[kc.n].fd = fd;
        kc.e[kc.n].pool = pool;
        kc.e[kc.n].ref = ref;
        kc.e[kc.n].until = apr_time_now() + apr_time_from_sec(secs);
        kc.n++;
    }
    pthread_mutex_unlock(&kc.mu);
    if (kept) {
        pthread_once(&kc.closer_once, start_closer);
    }
    return kept;
}
