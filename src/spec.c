/*
 * spec.c: the backend spec and pool key of a request (see tf_spec.h).
 *
 * The spawn environment is built from scratch: PATH (httpd's own, or a
 * safe default), then TracFcgiInitEnv / DefaultInitEnv in configuration
 * order. Nothing from the request leaks into it, so the first request of a
 * pool does not decide what later ones run with (mod_fcgid passes the
 * first request's CGI variables to the process it spawns).
 *
 * A file with a TracFcgiWrapper is served by the wrapper's command: that
 * is what runs, and what the key and the pool's name are made of.
 *
 * With a suexec identity (SuexecUserGroup, ~user) the backend is started
 * through httpd's suexec exactly as mod_cgi starts a script; suexec then
 * keeps only its safe list of variables, which is why TracEnv is also sent
 * as the trac.env_path param on every request.
 */
#include <grp.h>
#include <pwd.h>
#include <stdlib.h>
#include <string.h>

#include "apr_strings.h"
#include "unixd.h"

#include "tf_private.h"
#include "tf_spec.h"
#include "tf_wrapper.h"

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

/* argv to run @filename (with the arguments @args, NULL-terminated, or
 * none) through suexec as @ugid, with names. */
static const char *const *suexec_argv(apr_pool_t *p, const char *filename,
                                      const char *const *args,
                                      const ap_unix_identity_t *ugid,
                                      tf_spawn_spec_t *spec)
{
    const char **argv;
    const char *user, *group, *base;
    struct passwd pw, *pwp = NULL;
    struct group gr, *grp = NULL;
    char buf[4096];
    int n = 0;

    if (getpwuid_r(ugid->uid, &pw, buf, sizeof(buf), &pwp) != 0 || !pwp) {
        user = apr_psprintf(p, "#%ld", (long)ugid->uid);
    }
    else {
        user = apr_pstrdup(p, pw.pw_name);
    }
    if (getgrgid_r(ugid->gid, &gr, buf, sizeof(buf), &grp) != 0 || !grp) {
        group = apr_psprintf(p, "#%ld", (long)ugid->gid);
    }
    else {
        group = apr_pstrdup(p, gr.gr_name);
    }
    if (ugid->userdir) {
        user = apr_pstrcat(p, "~", user, NULL);
    }
    base = strrchr(filename, '/');
    base = base ? base + 1 : filename;
    /* exactly as httpd starts a CGI script through suexec: run from the
     * script's directory, by its base name, so suexec's checks apply */
    while (args && args[n]) {
        n++;
    }
    argv = apr_pcalloc(p, (5 + n) * sizeof(char *));
    argv[0] = SUEXEC_BIN;
    argv[1] = user;
    argv[2] = group;
    argv[3] = base;
    memcpy(argv + 4, args, n * sizeof(char *));
    spec->uid = (apr_int32_t)ugid->uid;
    spec->gid = (apr_int32_t)ugid->gid;
    return argv;
}

static const char *env_get(const apr_array_header_t *env, const char *name)
{
    const tf_env_t *e = tf_config_env_find(env, name);

    return e ? e->value : NULL;
}

/* What runs for @filename: argv (its [0] the command, what the key and
 * the name are made of) and the working directory, into @spec; the
 * identity is User's, or @ugid's through suexec. The file's
 * TracFcgiWrapper @w, if any, runs instead, whatever the file: its pool
 * is the same for every file it serves (copied: a wrapper of .htaccess
 * lives in a request's pool). @return the command. */
static const char *command(apr_pool_t *p, const char *filename,
                           const tf_wrapper_t *w,
                           const ap_unix_identity_t *ugid,
                           tf_spawn_spec_t *spec)
{
    const char *run = filename;
    const char **argv;
    char *dir, *slash;
    int i, n = 1;

    if (w) {
        for (n = 0; w->argv[n]; n++) {
        }
        run = apr_pstrdup(p, w->argv[0]);
    }
    argv = apr_pcalloc(p, (n + 1) * sizeof(char *));
    argv[0] = run;
    for (i = 1; i < n; i++) {
        argv[i] = apr_pstrdup(p, w->argv[i]);
    }
    spec->argv = argv;
    dir = apr_pstrdup(p, run);
    slash = strrchr(dir, '/');
    if (slash) {
        *(slash == dir ? slash + 1 : slash) = '\0';
    }
    spec->cwd = dir;
    spec->uid = (apr_int32_t)ap_unixd_config.user_id;
    spec->gid = (apr_int32_t)ap_unixd_config.group_id;
    if (ugid) {
        spec->argv = suexec_argv(p, run, argv + 1, ugid, spec);
    }
    return run;
}

/* The spawn environment of @dc, in order (see the top of this file),
 * NULL-terminated. */
static apr_array_header_t *spawn_env(apr_pool_t *p, const tf_dir_conf_t *dc)
{
    apr_array_header_t *env = apr_array_make(p, 8, sizeof(char *));
    const char *path = getenv("PATH");
    const char *trac;
    int i;

    if (!env_get(dc->init_env, "PATH")) {
        APR_ARRAY_PUSH(env, const char *) =
            apr_pstrcat(p, "PATH=", path ? path : TF_DEFAULT_PATH, NULL);
    }
    for (i = 0; dc->pass_env && i < dc->pass_env->nelts; i++) {
        const char *name = APR_ARRAY_IDX(dc->pass_env, i, tf_env_t).name;
        const char *v = getenv(name);

        if (v && !env_get(dc->init_env, name)) {
            APR_ARRAY_PUSH(env, const char *) =
                apr_pstrcat(p, name, "=", v, NULL);
        }
    }
    for (i = 0; dc->init_env && i < dc->init_env->nelts; i++) {
        const tf_env_t *e = &APR_ARRAY_IDX(dc->init_env, i, tf_env_t);

        APR_ARRAY_PUSH(env, const char *) =
            apr_pstrcat(p, e->name, "=", e->value, NULL);
    }
    /* Trac's setuptools plugins unpack into PYTHON_EGG_CACHE; its default
     * (~/.python-eggs of a user without a home) is the classic failure.
     * Inside the environment it is writable by the same user as db/. */
    trac = env_get(dc->init_env, "TRAC_ENV");
    if (!trac) {
        trac = env_get(dc->init_env, "TRAC_ENV_PARENT_DIR");
    }
    if (trac && !env_get(dc->init_env, "PYTHON_EGG_CACHE")
        && !getenv("PYTHON_EGG_CACHE")) {
        APR_ARRAY_PUSH(env, const char *) =
            apr_pstrcat(p, "PYTHON_EGG_CACHE=", trac, "/.egg-cache",
                        NULL);
    }
    APR_ARRAY_PUSH(env, const char *) = NULL;
    return env;
}

void tf_spec_build_for(apr_pool_t *p, server_rec *s, const tf_dir_conf_t *dc,
                       const char *filename, const ap_unix_identity_t *ugid,
                       tf_spawn_spec_t *spec, apr_uint64_t *key)
{
    const tf_wrapper_t *w = tf_wrapper_for(dc->wrappers, filename);
    apr_array_header_t *env;
    const char *run, *vhost;
    apr_uint64_t h = 0xcbf29ce484222325ULL;
    int i;

    memset(spec, 0, sizeof(*spec));
    run = command(p, filename, w, ugid, spec);
    env = spawn_env(p, dc);
    spec->env = (const char *const *)env->elts;

    /* the virtual host, by where it is defined: stable in every process */
    vhost = s->is_virtual
                ? apr_psprintf(p, "%s:%d",
                               s->defn_name ? s->defn_name
                                                    : "",
                               (int)s->defn_line_number)
                : "main";
    h = hash_add(h, run);
    for (i = 0; spec->argv[i]; i++) {
        h = hash_add(h, spec->argv[i]);
    }
    h = hash_add(h, apr_psprintf(p, "%d:%d", spec->uid, spec->gid));
    h = hash_add(h, vhost);
    for (i = 0; i < env->nelts - 1; i++) {
        h = hash_add(h, APR_ARRAY_IDX(env, i, const char *));
    }
    *key = h ? h : 1;

    spec->name = apr_pstrcat(p, w ? w->cmdline : filename, "@",
                             tf_spec_vhost_label(p, s), NULL);
    spec->lim.min_procs = (apr_uint32_t)dc->min_procs;
    spec->lim.max_procs = (apr_uint32_t)dc->max_procs;
    spec->lim.conns_auto = dc->conns == 0;
    spec->lim.max_conns = (apr_uint32_t)(dc->conns ? dc->conns
                                                   : dc->conns_cap);
    spec->lim.idle_timeout = (apr_uint32_t)dc->idle_timeout;
    spec->lim.reload = (apr_uint32_t)dc->reload;
    spec->watch = NULL;
    if (dc->reload && dc->reload_paths && dc->reload_paths->nelts) {
        apr_array_header_t *paths = apr_array_copy(p, dc->reload_paths);

        APR_ARRAY_PUSH(paths, const char *) = NULL;
        spec->watch = (const char *const *)paths->elts;
    }
    spec->lim.max_requests = (apr_uint32_t)dc->max_requests;
    spec->lim.lifetime = (apr_uint32_t)dc->lifetime;
    spec->startup_timeout = (apr_uint32_t)dc->startup_timeout;
}

void tf_spec_build(request_rec *r, const tf_dir_conf_t *dc,
                   tf_spawn_spec_t *spec, apr_uint64_t *key)
{
    const ap_unix_identity_t *ugid = NULL;

    if (ap_unixd_config.suexec_enabled) {
        ugid = ap_run_get_suexec_identity(r);
    }
    tf_spec_build_for(r->pool, r->server, dc, r->filename, ugid, spec, key);
}

const ap_unix_identity_t *tf_spec_server_identity(apr_pool_t *p,
                                                  server_rec *s)
{
    request_rec *r;

    if (!ap_unixd_config.suexec_enabled) {
        return NULL;
    }
    /* mod_suexec reads SuexecUserGroup from the virtual host's per-dir
     * defaults: a skeleton request carries just those */
    r = apr_pcalloc(p, sizeof(*r));
    r->pool = p;
    r->server = s;
    r->per_dir_config = s->lookup_defaults;
    r->notes = apr_table_make(p, 1);
    return ap_run_get_suexec_identity(r);
}

const char *tf_spec_env_summary(apr_pool_t *p, const tf_dir_conf_t *dc)
{
    const char *v, *names = "";
    int i;

    if ((v = env_get(dc->init_env, "TRAC_ENV")) != NULL) {
        return apr_pstrcat(p, "TRAC_ENV=", v, NULL);
    }
    if ((v = env_get(dc->init_env, "TRAC_ENV_PARENT_DIR")) != NULL) {
        return apr_pstrcat(p, "TRAC_ENV_PARENT_DIR=", v, NULL);
    }
    for (i = 0; dc->init_env && i < dc->init_env->nelts; i++) {
        names = apr_pstrcat(p, names, i ? " " : "",
                            APR_ARRAY_IDX(dc->init_env, i, tf_env_t).name,
                            NULL);
    }
    return names;
}

/* What httpd's suexec passes on of the environment it is given
 * (support/suexec.c, safe_env_lst): names starting with HTTP_ or SSL_,
 * and these. */
static const char *const suexec_safe[] = {
    "AUTH_TYPE", "CONTENT_LENGTH", "CONTENT_TYPE", "CONTEXT_DOCUMENT_ROOT",
    "CONTEXT_PREFIX", "DATE_GMT", "DATE_LOCAL", "DOCUMENT_ARGS",
    "DOCUMENT_NAME", "DOCUMENT_PATH_INFO", "DOCUMENT_ROOT", "DOCUMENT_URI",
    "GATEWAY_INTERFACE", "HTTPS", "LAST_MODIFIED", "PATH_INFO",
    "PATH_TRANSLATED", "QUERY_STRING", "QUERY_STRING_UNESCAPED",
    "REMOTE_ADDR", "REMOTE_HOST", "REMOTE_IDENT", "REMOTE_PORT",
    "REMOTE_USER", "REDIRECT_ERROR_NOTES", "REDIRECT_HANDLER",
    "REDIRECT_QUERY_STRING", "REDIRECT_REMOTE_USER",
    "REDIRECT_SCRIPT_FILENAME", "REDIRECT_STATUS", "REDIRECT_URL",
    "REQUEST_METHOD", "REQUEST_SCHEME", "REQUEST_URI", "SCRIPT_FILENAME",
    "SCRIPT_NAME", "SCRIPT_URI", "SCRIPT_URL", "SERVER_ADDR",
    "SERVER_ADMIN", "SERVER_NAME", "SERVER_PORT", "SERVER_PROTOCOL",
    "SERVER_SIGNATURE", "SERVER_SOFTWARE", "TZ", "UNIQUE_ID", "USER_NAME",
    NULL};

static int suexec_keeps(const tf_dir_conf_t *dc, const char *name)
{
    int i;

    if (strncmp(name, "HTTP_", 5) == 0 || strncmp(name, "SSL_", 4) == 0) {
        return 1;
    }
    for (i = 0; suexec_safe[i]; i++) {
        if (strcmp(name, suexec_safe[i]) == 0) {
            return 1;
        }
    }
    /* TracEnv and its kin set a FastCGI param beside the variable */
    for (i = 0; i < TF_TRAC_TWINS; i++) {
        if (strcmp(name, tf_config_trac_twins[i][0]) == 0
            && env_get(dc->params, tf_config_trac_twins[i][1])) {
            return 1; /* lost as a variable, there as a param */
        }
    }
    return 0;
}

const char *tf_spec_suexec_dropped(apr_pool_t *p, const tf_dir_conf_t *dc,
                                   const tf_spawn_spec_t *spec)
{
    const char *names = NULL;
    int i;

    if (strcmp(spec->argv[0], SUEXEC_BIN) != 0) {
        return NULL;
    }
    for (i = 0; dc->init_env && i < dc->init_env->nelts; i++) {
        const char *name = APR_ARRAY_IDX(dc->init_env, i, tf_env_t).name;

        if (!suexec_keeps(dc, name)) {
            names = names ? apr_pstrcat(p, names, " ", name, NULL) : name;
        }
    }
    for (i = 0; dc->pass_env && i < dc->pass_env->nelts; i++) {
        const char *name = APR_ARRAY_IDX(dc->pass_env, i, tf_env_t).name;

        if (getenv(name) && !env_get(dc->init_env, name)
            && !suexec_keeps(dc, name)) {
            names = names ? apr_pstrcat(p, names, " ", name, NULL) : name;
        }
    }
    return names;
}

/* This generation's mod_fastcgi static applications (FastCgiServer), whose
 * requests are known by their file: set in the httpd parent at
 * post_config, before the children fork; read-only afterwards. */
static const apr_array_header_t *bound;

apr_array_header_t *tf_spec_declared(apr_pool_t *pconf)
{
    apr_array_header_t *all = tf_config_declared(pconf);
    apr_array_header_t *out = apr_array_make(pconf, 4,
                                             sizeof(tf_spec_declared_t));
    int i, n_bound = 0;

    for (i = 0; all && i < all->nelts; i++) {
        const tf_declared_t *d = &APR_ARRAY_IDX(all, i, tf_declared_t);
        tf_spec_declared_t *sd = apr_array_push(out);
        void *defaults = ap_get_module_config(d->s->lookup_defaults,
                                              &tracfcgi_module);
        tf_dir_conf_t dc;
        apr_uint64_t key;

        /* mod_fastcgi's options over the server's configuration */
        tf_config_dir_resolve(d->over ? tf_config_dir_merge(pconf, defaults,
                                                            (void *)d->over)
                                      : defaults,
                              &dc);
        sd->over = d->over;
        n_bound += d->over != NULL;
        if (d->env) {
            dc.init_env = tf_config_env_merge(pconf, dc.init_env, d->env);
        }
        tf_spec_build_for(pconf, d->s, &dc, d->path,
                          tf_spec_server_identity(pconf, d->s), &sd->spec,
                          &key);
        sd->spec.key = key;
        sd->spec.pool = -1;
        sd->script = d->path;
        sd->vhost = tf_spec_vhost_label(pconf, d->s);
        sd->env_summary = tf_spec_env_summary(pconf, &dc);
        sd->suexec_dropped = tf_spec_suexec_dropped(pconf, &dc, &sd->spec);
    }
    bound = n_bound ? out : NULL;
    return out;
}

const tf_spec_declared_t *tf_spec_bound(request_rec *r)
{
    const ap_unix_identity_t *ugid = NULL;
    apr_int32_t uid, gid;
    int i;

    if (!bound || !r->filename) {
        return NULL;
    }
    for (i = 0; i < bound->nelts; i++) {
        const tf_spec_declared_t *sd = &APR_ARRAY_IDX(bound, i,
                                                      tf_spec_declared_t);

        if (!sd->over || strcmp(sd->script, r->filename) != 0) {
            continue;
        }
        /* mod_fastcgi's rule: the application serves every virtual host
         * whose requests run as its user; another identity gets a pool
         * of its own, as any script */
        if (ap_unixd_config.suexec_enabled) {
            ugid = ap_run_get_suexec_identity(r);
        }
        uid = (apr_int32_t)(ugid ? ugid->uid : ap_unixd_config.user_id);
        gid = (apr_int32_t)(ugid ? ugid->gid : ap_unixd_config.group_id);
        return sd->spec.uid == uid && sd->spec.gid == gid ? sd : NULL;
    }
    return NULL;
}

const char *tf_spec_vhost_label(apr_pool_t *p, const server_rec *s)
{
    const char *name = s->server_hostname ? s->server_hostname : "";
    unsigned port = s->is_virtual && s->addrs ? s->addrs->host_port
                                              : s->port;

    /* no ":0" for the main server: its address record has no port */
    return port ? apr_psprintf(p, "%s:%u", name, port) : name;
}
