/*
 * spec_cache.c: the child's spawn specs (see tf_spec_cache.h).
 *
 * A fixed array of entries, filled once and never changed or evicted:
 * readers scan the published ones without a lock; a miss builds the spec
 * into the cache's pool under a mutex and publishes it. A child serves a
 * handful of scripts; past CACHE_SLOTS combinations (mass virtual hosting
 * with per-host environments) the rest are built per request, as before.
 */
#include <string.h>

#include "apr_strings.h"
#include "apr_thread_mutex.h"
#include "httpd.h"
#include "http_config.h"
#include "unixd.h"

#include "tf_spec.h"
#include "tf_spec_cache.h"
#include "tf_wrapper.h"

#define CACHE_SLOTS 64

/* What the spec is made of: tf_spec_build_for()'s inputs. */
typedef struct {
    const server_rec *s;
    const char *filename;   /* the script; with a wrapper, the first
                             * that built the entry (it makes no odds) */
    const char *wrapper;    /* its TracFcgiWrapper's command, or NULL */
    int has_ugid;
    ap_unix_identity_t ugid;
    tf_dir_conf_t dc; /* the fields tf_spec_build_for() reads; the arrays
                       * copied into the cache's pool */
} inputs_t;

typedef struct {
    inputs_t in;
    tf_spawn_spec_t spec;
    apr_uint64_t key;
} entry_t;

static entry_t cache[CACHE_SLOTS];
static apr_uint32_t n_used; /* published entries */
static apr_pool_t *cache_pool;
static apr_thread_mutex_t *cache_mutex;

void tf_spec_cache_child_init(apr_pool_t *pchild)
{
    if (apr_pool_create(&cache_pool, pchild) != APR_SUCCESS
        || apr_thread_mutex_create(&cache_mutex, APR_THREAD_MUTEX_DEFAULT,
                                   pchild) != APR_SUCCESS) {
        cache_pool = NULL; /* no cache: every spec is built */
    }
}

static int same_env(const apr_array_header_t *a, const apr_array_header_t *b)
{
    int i;

    if (a == b) {
        return 1;
    }
    if (!a || !b || a->nelts != b->nelts) {
        return 0;
    }
    for (i = 0; i < a->nelts; i++) {
        const tf_env_t *x = &APR_ARRAY_IDX(a, i, tf_env_t);
        const tf_env_t *y = &APR_ARRAY_IDX(b, i, tf_env_t);

        if (strcmp(x->name, y->name) != 0
            || (x->value != y->value
                && (!x->value || !y->value || strcmp(x->value, y->value)))) {
            return 0;
        }
    }
    return 1;
}

static int same_paths(const apr_array_header_t *a,
                      const apr_array_header_t *b)
{
    int i;

    if (a == b) {
        return 1;
    }
    if (!a || !b || a->nelts != b->nelts) {
        return 0;
    }
    for (i = 0; i < a->nelts; i++) {
        if (strcmp(APR_ARRAY_IDX(a, i, const char *),
                   APR_ARRAY_IDX(b, i, const char *)) != 0) {
            return 0;
        }
    }
    return 1;
}

static int same_inputs(const inputs_t *e, const inputs_t *q)
{
    const tf_dir_conf_t *a = &e->dc, *b = &q->dc;

    return e->s == q->s && e->has_ugid == q->has_ugid
           && (!e->has_ugid || (e->ugid.uid == q->ugid.uid
                                && e->ugid.gid == q->ugid.gid
                                && e->ugid.userdir == q->ugid.userdir))
           && a->min_procs == b->min_procs && a->max_procs == b->max_procs
           && a->conns == b->conns && a->conns_cap == b->conns_cap
           && a->idle_timeout == b->idle_timeout && a->reload == b->reload
           && a->max_requests == b->max_requests
           && a->lifetime == b->lifetime
           && a->startup_timeout == b->startup_timeout
           && (e->wrapper || q->wrapper
                   ? e->wrapper && q->wrapper
                         && strcmp(e->wrapper, q->wrapper) == 0
                   : strcmp(e->filename, q->filename) == 0)
           && same_env(a->init_env, b->init_env)
           && same_env(a->pass_env, b->pass_env)
           && (!a->reload || same_paths(a->reload_paths, b->reload_paths));
}

static apr_array_header_t *copy_env(apr_pool_t *p,
                                    const apr_array_header_t *a)
{
    apr_array_header_t *c;
    int i;

    if (!a) {
        return NULL;
    }
    c = apr_array_make(p, a->nelts, sizeof(tf_env_t));
    for (i = 0; i < a->nelts; i++) {
        const tf_env_t *x = &APR_ARRAY_IDX(a, i, tf_env_t);
        tf_env_t *y = apr_array_push(c);

        y->name = apr_pstrdup(p, x->name);
        y->value = x->value ? apr_pstrdup(p, x->value) : NULL;
    }
    return c;
}

static apr_array_header_t *copy_paths(apr_pool_t *p,
                                      const apr_array_header_t *a)
{
    apr_array_header_t *c;
    int i;

    if (!a) {
        return NULL;
    }
    c = apr_array_make(p, a->nelts, sizeof(const char *));
    for (i = 0; i < a->nelts; i++) {
        APR_ARRAY_PUSH(c, const char *) =
            apr_pstrdup(p, APR_ARRAY_IDX(a, i, const char *));
    }
    return c;
}

/* Fill a new entry from the request's inputs (under the mutex). */
static void fill(entry_t *e, const inputs_t *q)
{
    apr_pool_t *p = cache_pool;

    e->in = *q;
    e->in.filename = apr_pstrdup(p, q->filename);
    e->in.wrapper = q->wrapper ? apr_pstrdup(p, q->wrapper) : NULL;
    e->in.dc.init_env = copy_env(p, q->dc.init_env);
    e->in.dc.pass_env = copy_env(p, q->dc.pass_env);
    e->in.dc.reload_paths = copy_paths(p, q->dc.reload_paths);
    /* nothing else of the copy is read: no request's pointers kept */
    e->in.dc.params = NULL;
    e->in.dc.xsendfile_paths = NULL;
    tf_spec_build_for(p, (server_rec *)q->s, &e->in.dc, e->in.filename,
                      q->has_ugid ? &e->in.ugid : NULL, &e->spec, &e->key);
    e->in.dc.wrappers = NULL; /* read by the build (which copies what it
                               * keeps), not kept: maybe a request's */
}

void tf_spec_get_for(request_rec *r, const tf_dir_conf_t *dc,
                     const char *filename, tf_spawn_spec_t *spec,
                     apr_uint64_t *key)
{
    const ap_unix_identity_t *ugid = NULL;
    const tf_wrapper_t *w;
    apr_uint32_t i, n;
    inputs_t q;

    if (ap_unixd_config.suexec_enabled) {
        ugid = ap_run_get_suexec_identity(r);
    }
    if (!cache_pool || !filename) {
        tf_spec_build_for(r->pool, r->server, dc, filename, ugid, spec,
                          key);
        return;
    }
    q.s = r->server;
    q.filename = filename;
    w = tf_wrapper_for(dc->wrappers, filename);
    q.wrapper = w ? w->cmdline : NULL;
    q.has_ugid = ugid != NULL;
    if (ugid) {
        q.ugid = *ugid;
    }
    q.dc = *dc;
    n = __atomic_load_n(&n_used, __ATOMIC_ACQUIRE);
    for (i = 0; i < n; i++) {
        if (same_inputs(&cache[i].in, &q)) {
            goto found;
        }
    }
    apr_thread_mutex_lock(cache_mutex);
    n = n_used; /* another thread may have added it meanwhile */
    for (; i < n && !same_inputs(&cache[i].in, &q); i++) {
    }
    if (i == n && n < CACHE_SLOTS) {
        fill(&cache[n], &q);
        __atomic_store_n(&n_used, n + 1, __ATOMIC_RELEASE);
    }
    apr_thread_mutex_unlock(cache_mutex);
    if (i == CACHE_SLOTS) {
        tf_spec_build_for(r->pool, r->server, dc, filename, ugid, spec,
                          key);
        return;
    }
found:
    *spec = cache[i].spec;
    *key = cache[i].key;
}

void tf_spec_get(request_rec *r, const tf_dir_conf_t *dc,
                 tf_spawn_spec_t *spec, apr_uint64_t *key)
{
    tf_spec_get_for(r, dc, r->filename, spec, key);
}
