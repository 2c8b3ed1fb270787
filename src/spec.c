/*
 * spec.c: the backend spec and pool key of a request (see tf_spec.h).
 *
 * The spawn environment is built from scratch: PATH (httpd's own, or a
 * safe default), then TracFcgiInitEnv / DefaultInitEnv in configuration
 * order. Nothing from the request leaks into it, so the first request of a
 * pool does not decide what later ones run with (mod_fcgid passes the
 * first request's CGI variables to the process it spawns).
 */
#include <stdlib.h>

#include "apr_strings.h"
#include "unixd.h"

#include "tf_spec.h"

#define TF_DEFAULT_PATH "/usr/local/bin:/usr/bin:/bin"

/* FNV-1a, 64 bit; a 0 separates fields so that "ab","c" != "a","bc". */
static apr_uint64_t hash_add(apr_uint64_t h, const char *s)
{
    const unsigned char *p = (const unsigned char *)s;

    while (*p) {
        h ^= *p++;
        h *= 0x100000001b3ULL;
    }
    h ^= 0;
    h *= 0x100000001b3ULL;
    return h;
}

void tf_spec_build(request_rec *r, const tf_dir_conf_t *dc,
                   tf_spawn_spec_t *spec, apr_uint64_t *key)
{
    apr_array_header_t *env = apr_array_make(r->pool, 8, sizeof(char *));
    const char **argv = apr_pcalloc(r->pool, 2 * sizeof(char *));
    const char *path = getenv("PATH");
    const char *vhost;
    char *dir, *slash;
    apr_uint64_t h = 0xcbf29ce484222325ULL;
    int i, have_path = 0;

    memset(spec, 0, sizeof(*spec));
    argv[0] = r->filename;
    spec->argv = argv;
    dir = apr_pstrdup(r->pool, r->filename);
    slash = strrchr(dir, '/');
    if (slash) {
        *(slash == dir ? slash + 1 : slash) = '\0';
    }
    spec->cwd = dir;
    spec->uid = (apr_int32_t)ap_unixd_config.user_id;
    spec->gid = (apr_int32_t)ap_unixd_config.group_id;

    if (dc->init_env) {
        for (i = 0; i < dc->init_env->nelts; i++) {
            const tf_env_t *e = &APR_ARRAY_IDX(dc->init_env, i, tf_env_t);

            have_path |= strcmp(e->name, "PATH") == 0;
        }
    }
    if (!have_path) {
        APR_ARRAY_PUSH(env, const char *) =
            apr_pstrcat(r->pool, "PATH=", path ? path : TF_DEFAULT_PATH, NULL);
    }
    if (dc->init_env) {
        for (i = 0; i < dc->init_env->nelts; i++) {
            const tf_env_t *e = &APR_ARRAY_IDX(dc->init_env, i, tf_env_t);

            APR_ARRAY_PUSH(env, const char *) =
                apr_pstrcat(r->pool, e->name, "=", e->value, NULL);
        }
    }
    APR_ARRAY_PUSH(env, const char *) = NULL;
    spec->env = (const char *const *)env->elts;

    /* the virtual host, by where it is defined: stable in every process */
    vhost = r->server->is_virtual
                ? apr_psprintf(r->pool, "%s:%d",
                               r->server->defn_name ? r->server->defn_name
                                                    : "",
                               (int)r->server->defn_line_number)
                : "main";
    h = hash_add(h, r->filename);
    h = hash_add(h, apr_psprintf(r->pool, "%d:%d", spec->uid, spec->gid));
    h = hash_add(h, vhost);
    for (i = 0; i < env->nelts - 1; i++) {
        h = hash_add(h, APR_ARRAY_IDX(env, i, const char *));
    }
    *key = h ? h : 1;

    spec->name = apr_psprintf(r->pool, "%s@%s:%u", r->filename,
                              r->server->server_hostname
                                  ? r->server->server_hostname
                                  : "",
                              r->server->addrs
                                  ? (unsigned)r->server->addrs->host_port
                                  : 0u);
    spec->lim.min_procs = (apr_uint32_t)dc->min_procs;
    spec->lim.max_procs = (apr_uint32_t)dc->max_procs;
    spec->lim.max_conns = 1;
    spec->lim.idle_timeout = (apr_uint32_t)dc->idle_timeout;
    spec->lim.max_requests = (apr_uint32_t)dc->max_requests;
    spec->lim.lifetime = (apr_uint32_t)dc->lifetime;
    spec->startup_timeout = (apr_uint32_t)dc->startup_timeout;
}
