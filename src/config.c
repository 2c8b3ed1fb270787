/*
 * config.c: directives of mod_tracfcgi, their defaults and merge rules.
 *
 * Runs at configuration time in the httpd parent (directive handlers, which
 * return a message and never log) and in request threads (merge, getters).
 * Every directive that shapes a backend is allowed wherever Apache
 * configuration can be (server, <VirtualHost>, <Directory>, <Location>,
 * <Files>): the pool key includes the resolved environment, so different
 * values simply give different pools. Only the socket directory and the
 * server-wide process cap are global.
 */
#include <errno.h>

#include "apr_strings.h"
#include "apr_hash.h"
#include "apr_lib.h"
#include "http_core.h"

#include "tf_compat.h"
#include "tf_config.h"
#include "tf_wrapper.h"
#include "tf_pool.h"
#include "tf_private.h"

#define DEF_VAL (-1)

#define DEFAULT_MAX_PROCS 4
#define DEFAULT_IDLE_TIMEOUT 300
#define DEFAULT_QUEUE_TIMEOUT 30
#define DEFAULT_CONNECT_TIMEOUT 5
#define DEFAULT_IO_TIMEOUT 60
#define DEFAULT_STARTUP_TIMEOUT 30
#define DEFAULT_MAX_TOTAL 64
#define DEFAULT_CONNS_CAP 16
#define DEFAULT_BODY_IN_MEMORY 65536 /* mod_fcgid's FcgidMaxRequestInMem */
#define DEFAULT_RESPONSE_BUFFER (16 * 1024 * 1024)

/* The longest socket name we append to the directory:
 * "/b-<gen>-<slot>-<seq>.sock" with 10-digit numbers. */
#define SOCK_NAME_MAX 44

void *tf_config_dir_create(apr_pool_t *p, char *dir)
{
    tf_dir_conf_t *c = apr_pcalloc(p, sizeof(*c));
    int i;

    /* set by apr_pcalloc(): init_env = NULL (nothing configured) */
    c->min_procs = c->max_procs = DEF_VAL;
    c->idle_timeout = c->queue_timeout = DEF_VAL;
    c->connect_timeout = c->io_timeout = c->startup_timeout = DEF_VAL;
    c->busy_timeout = DEF_VAL;
    for (i = 0; i < TF_AUTH_PHASES; i++) {
        c->auth_authoritative[i] = DEF_VAL;
    }
    c->max_requests = c->lifetime = c->pass_auth = DEF_VAL;
    c->conns = c->conns_cap = c->check_env = c->reload = DEF_VAL;
    c->body_in_memory = c->max_request_len = DEF_VAL;
    c->request_buffering = DEF_VAL;
    c->response_buffer = DEF_VAL;
    c->xsendfile = DEF_VAL;
    return c;
}

const char *const tf_config_trac_twins[TF_TRAC_TWINS][2] = {
    {"TRAC_ENV", "trac.env_path"},
    {"TRAC_ENV_PARENT_DIR", "trac.env_parent_dir"},
    {"TRAC_ENV_INDEX_TEMPLATE", "trac.env_index_template"},
};

const tf_env_t *tf_config_env_find(const apr_array_header_t *arr,
                                   const char *name)
{
    int i;

    for (i = 0; arr && i < arr->nelts; i++) {
        if (strcmp(APR_ARRAY_IDX(arr, i, tf_env_t).name, name) == 0) {
            return &APR_ARRAY_IDX(arr, i, tf_env_t);
        }
    }
    return NULL;
}

/* Inner entries replace outer ones of the same name; order is kept. */
static apr_array_header_t *merge_env(apr_pool_t *p,
                                     const apr_array_header_t *base,
                                     const apr_array_header_t *add)
{
    apr_array_header_t *out;
    int i;

    if (!base || !add) {
        return add ? (apr_array_header_t *)add : (apr_array_header_t *)base;
    }
    out = apr_array_copy(p, base);
    for (i = 0; i < add->nelts; i++) {
        const tf_env_t *a = &APR_ARRAY_IDX(add, i, tf_env_t);
        tf_env_t *o = (tf_env_t *)tf_config_env_find(out, a->name);

        if (!o) {
            o = apr_array_push(out);
        }
        *o = *a;
    }
    return out;
}

apr_array_header_t *tf_config_env_merge(apr_pool_t *p,
                                        const apr_array_header_t *base,
                                        const apr_array_header_t *add)
{
    return merge_env(p, base, add);
}

/* The entries of @arr without the one named @name (none: @arr itself). */
static apr_array_header_t *env_without(apr_pool_t *p,
                                       apr_array_header_t *arr,
                                       const char *name)
{
    apr_array_header_t *out;
    int i;

    if (!tf_config_env_find(arr, name)) {
        return arr;
    }
    out = apr_array_make(p, arr->nelts, sizeof(tf_env_t));
    for (i = 0; i < arr->nelts; i++) {
        const tf_env_t *e = &APR_ARRAY_IDX(arr, i, tf_env_t);

        if (strcmp(e->name, name) != 0) {
            *(tf_env_t *)apr_array_push(out) = *e;
        }
    }
    return out;
}

/* TracEnv and TracEnvParentDir are alternatives, and Trac takes
 * trac.env_path first: the innermost section that sets one of them
 * decides, so what it does not set of the other is not inherited. */
static void inner_trac_wins(apr_pool_t *p, tf_dir_conf_t *c,
                            const tf_dir_conf_t *add)
{
    int i;

    for (i = 0; i < 2; i++) {
        const char *const *mine = tf_config_trac_twins[i];
        const char *const *other = tf_config_trac_twins[1 - i];

        if (tf_config_env_find(add->init_env, mine[0])
            && !tf_config_env_find(add->init_env, other[0])) {
            c->init_env = env_without(p, c->init_env, other[0]);
            c->params = env_without(p, c->params, other[1]);
        }
    }
}

#define MERGE_INT(f) c->f = (add->f != DEF_VAL) ? add->f : base->f

void *tf_config_dir_merge(apr_pool_t *p, void *basev, void *addv)
{
    const tf_dir_conf_t *base = basev, *add = addv;
    tf_dir_conf_t *c = apr_pcalloc(p, sizeof(*c));
    int i;

    c->init_env = merge_env(p, base->init_env, add->init_env);
    c->params = merge_env(p, base->params, add->params);
    c->pass_env = merge_env(p, base->pass_env, add->pass_env);
    inner_trac_wins(p, c, add);
    MERGE_INT(min_procs);
    MERGE_INT(max_procs);
    MERGE_INT(idle_timeout);
    MERGE_INT(queue_timeout);
    MERGE_INT(connect_timeout);
    MERGE_INT(io_timeout);
    MERGE_INT(busy_timeout);
    MERGE_INT(startup_timeout);
    MERGE_INT(max_requests);
    MERGE_INT(lifetime);
    MERGE_INT(pass_auth);
    MERGE_INT(conns);
    MERGE_INT(conns_cap);
    MERGE_INT(check_env);
    MERGE_INT(reload);
    MERGE_INT(body_in_memory);
    MERGE_INT(max_request_len);
    MERGE_INT(request_buffering);
    MERGE_INT(response_buffer);
    MERGE_INT(xsendfile);
    c->reload_paths = add->reload_paths ? add->reload_paths
                                        : base->reload_paths;
    /* directories add up, as mod_xsendfile's XSendFilePath */
    c->xsendfile_paths = base->xsendfile_paths && add->xsendfile_paths
                             ? apr_array_append(p, base->xsendfile_paths,
                                                add->xsendfile_paths)
                         : add->xsendfile_paths ? add->xsendfile_paths
                                                : base->xsendfile_paths;
    c->wrappers = tf_wrapper_merge(p, base->wrappers, add->wrappers);
    for (i = 0; i < TF_AUTH_PHASES; i++) {
        c->auth_cmd[i] = add->auth_cmd[i] ? add->auth_cmd[i]
                                          : base->auth_cmd[i];
        MERGE_INT(auth_authoritative[i]);
    }
    /* headers add up, as mod_fcgid's FcgidPassHeader */
    c->pass_headers = base->pass_headers && add->pass_headers
                          ? apr_array_append(p, base->pass_headers,
                                             add->pass_headers)
                      : add->pass_headers ? add->pass_headers
                                          : base->pass_headers;
    return c;
}

void *tf_config_srv_create(apr_pool_t *p, server_rec *s)
{
    tf_srv_conf_t *c = apr_pcalloc(p, sizeof(*c));

    /* set by apr_pcalloc(): socket_dir = NULL (default under
     * DefaultRuntimeDir, resolved in tf_config_post) */
    c->max_total = DEF_VAL;
    return c;
}

void *tf_config_srv_merge(apr_pool_t *p, void *basev, void *addv)
{
    /* one record for all: its directives are global, and the external
     * servers are kept by server (tf_config_externals_of()) */
    return basev;
}

static apr_hash_t *registry_hash(apr_pool_t *pconf);

#define RESOLVE(f, d) out->f = (out->f == DEF_VAL) ? (d) : out->f

void tf_config_dir_get(request_rec *r, tf_dir_conf_t *out)
{
    tf_dir_conf_t *dc = ap_get_module_config(r->per_dir_config,
                                             &tracfcgi_module);
    tf_dir_conf_t *dynamic = tf_config_srv_get(r->server)->dynamic;

    /* mod_fastcgi's FastCgiConfig: under the sections, a merge per
     * request (for such a configuration only: it is no section) */
    tf_config_dir_resolve(dynamic ? tf_config_dir_merge(r->pool, dynamic,
                                                        dc)
                                  : dc,
                          out);
}

void tf_config_dir_get_app(request_rec *r, const tf_dir_conf_t *over,
                           tf_dir_conf_t *out)
{
    tf_dir_conf_t *dc = ap_get_module_config(r->per_dir_config,
                                             &tracfcgi_module);

    /* a merge per request, for mod_fastcgi's applications only: their
     * options are settings of a file, which no section of the request's
     * configuration holds */
    tf_config_dir_resolve(over ? tf_config_dir_merge(r->pool, dc,
                                                     (void *)over)
                               : dc,
                          out);
}

void tf_config_add_cmd_options(cmd_parms *cmd, const char *command,
                               const tf_dir_conf_t *over)
{
    tf_srv_conf_t *sc = tf_config_srv_get(cmd->server);
    tf_cmd_options_t *o;
    int i;

    if (!sc->cmd_options) {
        sc->cmd_options = apr_array_make(cmd->pool, 2, sizeof(*o));
    }
    for (i = 0; i < sc->cmd_options->nelts; i++) {
        o = &APR_ARRAY_IDX(sc->cmd_options, i, tf_cmd_options_t);
        if (o->s == cmd->server && strcmp(o->command, command) == 0) {
            o->over = over; /* the last one, as mod_fcgid's table */
            return;
        }
    }
    o = apr_array_push(sc->cmd_options);
    o->s = cmd->server;
    o->command = command;
    o->over = over;
}

const tf_dir_conf_t *tf_config_cmd_options(request_rec *r,
                                           const char *command)
{
    const apr_array_header_t *all = tf_config_srv_get(r->server)
                                        ->cmd_options;
    const tf_dir_conf_t *main_over = NULL;
    int i;

    for (i = 0; all && command && i < all->nelts; i++) {
        const tf_cmd_options_t *o = &APR_ARRAY_IDX(all, i,
                                                   tf_cmd_options_t);

        if (strcmp(o->command, command) != 0) {
            continue;
        }
        if (o->s == r->server) {
            return o->over;
        }
        if (!o->s->is_virtual) {
            main_over = o->over;
        }
    }
    return main_over;
}

void tf_config_dir_resolve(const tf_dir_conf_t *in, tf_dir_conf_t *out)
{
    int i;

    *out = *in;
    RESOLVE(min_procs, 0);
    RESOLVE(max_procs, DEFAULT_MAX_PROCS);
    RESOLVE(idle_timeout, DEFAULT_IDLE_TIMEOUT);
    RESOLVE(queue_timeout, DEFAULT_QUEUE_TIMEOUT);
    RESOLVE(connect_timeout, DEFAULT_CONNECT_TIMEOUT);
    RESOLVE(io_timeout, DEFAULT_IO_TIMEOUT);
    RESOLVE(busy_timeout, 0);
    for (i = 0; i < TF_AUTH_PHASES; i++) {
        RESOLVE(auth_authoritative[i], 1);
    }
    RESOLVE(startup_timeout, DEFAULT_STARTUP_TIMEOUT);
    RESOLVE(max_requests, 0);
    RESOLVE(lifetime, 0);
    RESOLVE(pass_auth, 0);
    RESOLVE(conns, 0);
    RESOLVE(conns_cap, DEFAULT_CONNS_CAP);
    RESOLVE(reload, 0);
    RESOLVE(body_in_memory, DEFAULT_BODY_IN_MEMORY);
    /* not mod_fcgid's 131072: a site that never set FcgidMaxRequestLen
     * had no limit it knew of, and gets none of ours */
    RESOLVE(max_request_len, 0);
    RESOLVE(request_buffering, 1);
    RESOLVE(response_buffer, DEFAULT_RESPONSE_BUFFER);
    RESOLVE(xsendfile, 0);
    if (out->min_procs > out->max_procs) {
        out->min_procs = out->max_procs;
    }
}

tf_srv_conf_t *tf_config_srv_get(server_rec *s)
{
    return ap_get_module_config(s->module_config, &tracfcgi_module);
}

const char *tf_config_post(apr_pool_t *p, server_rec *s)
{
    tf_srv_conf_t *c = tf_config_srv_get(s);
    apr_array_header_t *all;
    int i;

    if (c->max_total == DEF_VAL) {
        c->max_total = DEFAULT_MAX_TOTAL;
    }
    if ((all = tf_config_externals(p)) != NULL) {
        c->externals = registry_hash(p);
        c->external_files = apr_array_make(p, 2, sizeof(tf_external_t *));
        for (i = 0; i < all->nelts; i++) {
            tf_external_t *x = APR_ARRAY_IDX(all, i, tf_external_t *);

            if (x->file) {
                APR_ARRAY_PUSH(c->external_files, tf_external_t *) = x;
            }
        }
    }
    if (!c->socket_dir) {
        c->socket_dir = ap_runtime_dir_relative(p, "tracfcgi");
    }
    if (!c->socket_dir) {
        return "TracFcgiSocketDir: cannot resolve the default under "
               "DefaultRuntimeDir";
    }
    if (strlen(c->socket_dir) + SOCK_NAME_MAX >= TF_SOCK_PATH_LEN) {
        return apr_psprintf(p,
                            "TracFcgiSocketDir %s is too long: a unix socket "
                            "path holds %d bytes; choose a directory name of "
                            "at most %d characters",
                            c->socket_dir, TF_SOCK_PATH_LEN - 1,
                            TF_SOCK_PATH_LEN - 1 - SOCK_NAME_MAX);
    }
    return NULL;
}

/* --- Directive handlers -------------------------------------------------- */

static const char *parse_count(cmd_parms *cmd, const char *arg, int min,
                               int *out)
{
    char *end;
    apr_int64_t v = apr_strtoi64(arg, &end, 10);

    if (*arg == '\0' || *end != '\0' || v < min || v > 1000000) {
        return apr_psprintf(cmd->pool, "%s: '%s' is not a whole number "
                            "from %d to 1000000", cmd->cmd->name, arg, min);
    }
    *out = (int)v;
    return NULL;
}

static const char *set_int(cmd_parms *cmd, void *dconf, const char *arg)
{
    int offset = (int)(apr_uintptr_t)cmd->info;
    /* a pool must be allowed at least one process */
    int min = (offset == (int)APR_OFFSETOF(tf_dir_conf_t, max_procs)) ? 1 : 0;
    int v;
    const char *err;

    if ((err = parse_count(cmd, arg, min, &v)) != NULL) {
        return err;
    }
    *(int *)((char *)dconf + offset) = v;
    return NULL;
}

static const char *set_timeout(cmd_parms *cmd, void *dconf, const char *arg)
{
    int offset = (int)(apr_uintptr_t)cmd->info;
    int v;
    const char *err;

    if ((err = parse_count(cmd, arg, 1, &v)) != NULL) {
        return apr_pstrcat(cmd->pool, err, " (seconds)", NULL);
    }
    *(int *)((char *)dconf + offset) = v;
    return NULL;
}

/* TracFcgiConnsPerProcess N | auto [CAP] */
static const char *set_conns(cmd_parms *cmd, void *dconf, const char *arg,
                             const char *cap)
{
    tf_dir_conf_t *c = dconf;
    const char *err;

    if (ap_cstr_casecmp(arg, "auto") == 0) {
        c->conns = 0;
        if (cap && (err = parse_count(cmd, cap, 1, &c->conns_cap)) != NULL) {
            return err;
        }
        return NULL;
    }
    if (cap) {
        return "TracFcgiConnsPerProcess: a cap goes with auto only";
    }
    if ((err = parse_count(cmd, arg, 1, &c->conns)) != NULL) {
        return apr_pstrcat(cmd->pool, err, ", or auto [CAP] (ask the "
                           "process)", NULL);
    }
    return NULL;
}

static const char *set_flag(cmd_parms *cmd, void *dconf, int on)
{
    *(int *)((char *)dconf + (apr_uintptr_t)cmd->info) = on;
    return NULL;
}

/* BYTES, or with a K, M or G after it (KiB, MiB, GiB): an apr_off_t
 * field of the directory configuration at cmd->info. */
static const char *set_bytes(cmd_parms *cmd, void *dconf, const char *arg)
{
    apr_off_t *f = (apr_off_t *)((char *)dconf + (apr_size_t)cmd->info);
    char *end;
    apr_int64_t v;
    int shift = 0;

    errno = 0;
    v = apr_strtoi64(arg, &end, 10);

    switch (*end) {
    case 'K': case 'k': shift = 10; end++; break;
    case 'M': case 'm': shift = 20; end++; break;
    case 'G': case 'g': shift = 30; end++; break;
    default: break;
    }
    if (!apr_isdigit(*arg) || *end != '\0' || v < 0 || errno == ERANGE
        || v > (APR_INT64_MAX >> shift)) {
        return apr_psprintf(cmd->pool, "%s: expected a number of bytes "
                            "(with K, M or G after it for KiB, MiB, GiB), "
                            "not '%s'", cmd->cmd->name, arg);
    }
    *f = (apr_off_t)(v << shift);
    return NULL;
}

static int valid_env_name(const char *name)
{
    const char *s;

    if (!*name) {
        return 0;
    }
    for (s = name; *s; s++) {
        if (*s == '=' || apr_iscntrl(*s) || apr_isspace(*s)) {
            return 0;
        }
    }
    return 1;
}

/* Set @name in an array of tf_env_t, replacing an earlier value. */
static void env_set(apr_pool_t *p, apr_array_header_t **arr, const char *name,
                    const char *value)
{
    tf_env_t *e;

    if (!*arr) {
        *arr = apr_array_make(p, 4, sizeof(tf_env_t));
    }
    if ((e = (tf_env_t *)tf_config_env_find(*arr, name)) == NULL) {
        e = apr_array_push(*arr);
        e->name = name;
    }
    e->value = value;
}

/* TracFcgiInitEnv NAME [VALUE] (alias: DefaultInitEnv). No limit on the
 * number or length of variables: values are stored as given. */
static const char *set_init_env(cmd_parms *cmd, void *dconf, const char *name,
                                const char *value)
{
    tf_dir_conf_t *c = dconf;

    if (!valid_env_name(name)) {
        return apr_psprintf(cmd->pool, "%s: '%s' is not a valid environment "
                            "variable name", cmd->cmd->name, name);
    }
    env_set(cmd->pool, &c->init_env, name, value ? value : "");
    return NULL;
}

static const char *set_pass_env(cmd_parms *cmd, void *dconf, const char *name)
{
    tf_dir_conf_t *c = dconf;

    if (!valid_env_name(name)) {
        return apr_psprintf(cmd->pool, "TracFcgiPassEnv: '%s' is not a valid "
                            "environment variable name", name);
    }
    env_set(cmd->pool, &c->pass_env, name, NULL);
    return NULL;
}

/* TracFcgiReloadOnChange On|Off [PATH...]: the paths, absolute, are
 * watched besides the script and a TracEnv's plugins. */
static const char *set_reload(cmd_parms *cmd, void *dconf, const char *args)
{
    tf_dir_conf_t *c = dconf;
    const char *w = ap_getword_conf(cmd->pool, &args);

    if (ap_cstr_casecmp(w, "on") == 0) {
        c->reload = 1;
    }
    else if (ap_cstr_casecmp(w, "off") == 0) {
        c->reload = 0;
    }
    else {
        return "TracFcgiReloadOnChange: expected On or Off, then the paths "
               "to watch besides the script and plugins, if any";
    }
    while (*(w = ap_getword_conf(cmd->pool, &args)) != '\0') {
        if (w[0] != '/') {
            return apr_psprintf(cmd->pool, "TracFcgiReloadOnChange: '%s' "
                                "must be an absolute path", w);
        }
        if (!c->reload) {
            return "TracFcgiReloadOnChange: paths go with On only";
        }
        if (!c->reload_paths) {
            c->reload_paths = apr_array_make(cmd->pool, 2,
                                             sizeof(const char *));
        }
        APR_ARRAY_PUSH(c->reload_paths, const char *) = w;
    }
    return NULL;
}

/* TracFcgiXSendfilePath DIR...: an absolute directory, kept as given
 * (resolved when a file is sent: it may not exist yet). */
static const char *add_xsendfile_path(cmd_parms *cmd, void *dconf,
                                      const char *dir)
{
    tf_dir_conf_t *c = dconf;

    if (dir[0] != '/') {
        return apr_psprintf(cmd->pool, "TracFcgiXSendfilePath: '%s' must be "
                            "an absolute path", dir);
    }
    if (!c->xsendfile_paths) {
        c->xsendfile_paths = apr_array_make(cmd->pool, 2,
                                            sizeof(const char *));
    }
    APR_ARRAY_PUSH(c->xsendfile_paths, const char *) = dir;
    return NULL;
}

/* TracFcgiPassHeader NAME...: the request header NAME goes to the
 * application as the param HTTP_NAME (upper case, '-' made '_'), which
 * is computed here once. The name is what httpd makes a CGI variable of
 * (letters, digits, '-'), and '_', which mod_fcgid's FcgidPassHeader
 * took too. */
static const char *add_pass_header(cmd_parms *cmd, void *dconf,
                                   const char *name)
{
    tf_dir_conf_t *c = dconf;
    char *param, *d;
    const char *s;
    tf_env_t *e;

    if (!*name) {
        return apr_psprintf(cmd->pool, "%s: expected a header name",
                            cmd->cmd->name);
    }
    /* httpoxy (CVE-2016-5385): HTTP_PROXY is the proxy of many HTTP
     * client libraries; params.c never sends one */
    if (ap_cstr_casecmp(name, "Proxy") == 0) {
        return apr_psprintf(cmd->pool, "%s: the Proxy header is never "
                            "passed: as HTTP_PROXY it would name the proxy "
                            "of the application's own HTTP requests "
                            "(httpoxy, CVE-2016-5385)", cmd->cmd->name);
    }
    param = apr_palloc(cmd->pool, strlen(name) + 6);
    memcpy(param, "HTTP_", 5);
    for (s = name, d = param + 5; *s; s++, d++) {
        if (!apr_isalnum(*s) && *s != '-' && *s != '_') {
            return apr_psprintf(cmd->pool, "%s: '%s' is not a header name "
                                "(letters, digits, '-' and '_')",
                                cmd->cmd->name, name);
        }
        *d = *s == '-' ? '_' : (char)apr_toupper(*s);
    }
    *d = '\0';
    if (!c->pass_headers) {
        c->pass_headers = apr_array_make(cmd->pool, 2, sizeof(tf_env_t));
    }
    e = apr_array_push(c->pass_headers);
    e->name = name;
    e->value = param;
    return NULL;
}

/* TracFcgiAuthenticator, TracFcgiAuthorizer, TracFcgiAccessChecker PATH
 * (cmd->info: the tf_auth_phase_e): the command that decides. */
static const char *set_auth_cmd(cmd_parms *cmd, void *dconf,
                                const char *path)
{
    tf_dir_conf_t *c = dconf;
    const char *err = tf_command_check(cmd->pool, path);

    if (err) {
        return apr_psprintf(cmd->pool, "%s: %s", cmd->cmd->name, err);
    }
    c->auth_cmd[(apr_uintptr_t)cmd->info] = path;
    return NULL;
}

static const char *set_auth_flag(cmd_parms *cmd, void *dconf, int on)
{
    ((tf_dir_conf_t *)dconf)->auth_authoritative[(apr_uintptr_t)cmd->info] =
        on;
    return NULL;
}

/* TracFcgiWrapper COMMAND [SUFFIX] [virtual] (src/wrapper.c). */
static const char *set_wrapper(cmd_parms *cmd, void *dconf,
                               const char *args)
{
    tf_dir_conf_t *c = dconf;
    tf_wrapper_t *w = apr_palloc(cmd->pool, sizeof(*w));
    const char *err = tf_wrapper_parse(cmd->pool, args, w);

    if (err) {
        return apr_psprintf(cmd->pool, "%s: %s", cmd->cmd->name, err);
    }
    if (!c->wrappers) {
        c->wrappers = apr_array_make(cmd->pool, 2,
                                     sizeof(const tf_wrapper_t *));
    }
    tf_wrapper_set(c->wrappers, w);
    return NULL;
}

/* TracFcgiParam NAME VALUE: a FastCGI param sent verbatim (a name with a
 * dot stays a dot: Apache's own environment would make it "_"). */
static const char *set_param(cmd_parms *cmd, void *dconf, const char *name,
                             const char *value)
{
    tf_dir_conf_t *c = dconf;

    if (!*name || strchr(name, '=')) {
        return apr_psprintf(cmd->pool, "TracFcgiParam: '%s' is not a valid "
                            "param name", name);
    }
    env_set(cmd->pool, &c->params, name, value);
    return NULL;
}

/* Lists the configuration collects for post_config (TracEnv paths for
 * the preflight, TracFcgiServer pools), kept as userdata of pconf so that
 * each configuration read starts empty. */
#define TRAC_ENVS_KEY "tracfcgi-trac-envs"
#define DECLARED_KEY "tracfcgi-declared"
#define EXTERNALS_KEY "tracfcgi-externals"
#define EXTERNALS_BY_SERVER_KEY "tracfcgi-externals-by-server"

static apr_array_header_t *registry(apr_pool_t *pconf, const char *key,
                                    int elt_size, int create)
{
    void *v = NULL;

    apr_pool_userdata_get(&v, key, pconf);
    if (!v && create) {
        v = apr_array_make(pconf, 4, elt_size);
        apr_pool_userdata_set(v, key, apr_pool_cleanup_null, pconf);
    }
    return v;
}

apr_array_header_t *tf_config_trac_envs(apr_pool_t *pconf)
{
    return registry(pconf, TRAC_ENVS_KEY, 0, 0);
}

apr_array_header_t *tf_config_declared(apr_pool_t *pconf)
{
    return registry(pconf, DECLARED_KEY, 0, 0);
}

apr_array_header_t *tf_config_externals(apr_pool_t *pconf)
{
    return registry(pconf, EXTERNALS_KEY, 0, 0);
}

/* The TracFcgiExternalServer of each server, of the configuration being
 * read (created on first use). */
static apr_hash_t *registry_hash(apr_pool_t *pconf)
{
    void *v = NULL;

    apr_pool_userdata_get(&v, EXTERNALS_BY_SERVER_KEY, pconf);
    if (!v) {
        v = apr_hash_make(pconf);
        apr_pool_userdata_set(v, EXTERNALS_BY_SERVER_KEY,
                              apr_pool_cleanup_null, pconf);
    }
    return v;
}

const apr_array_header_t *tf_config_externals_of(server_rec *s)
{
    const tf_srv_conf_t *sc = tf_config_srv_get(s);

    return sc->externals ? apr_hash_get(sc->externals, &s,
                                        sizeof(server_rec *))
                         : NULL;
}

#define EXT_MAX_CONNS TF_HOLDERS /* connections a table slot tracks */
#define EXT_DEFAULT_CHECK 5
#define EXT_MAX_ADDRS 64

/* One NAME=VALUE option of TracFcgiExternalServer. @return NULL or why
 * not. */
static const char *ext_option(cmd_parms *cmd, tf_external_t *x,
                              const char *name, const char *value)
{
    int *out, lo, hi;
    char *end;
    apr_int64_t v;

    if (strcmp(name, "conns") == 0) {
        if (ap_cstr_casecmp(value, "auto") == 0) {
            x->conns = 0;
            return NULL;
        }
        out = &x->conns, lo = 1, hi = EXT_MAX_CONNS;
    }
    else if (strcmp(name, "check") == 0) {
        out = &x->check, lo = 1, hi = 3600;
    }
    else if (strcmp(name, "fails") == 0) {
        out = &x->fails, lo = 1, hi = 100;
    }
    else if (strcmp(name, "keepalive") == 0) {
        out = &x->keepalive, lo = 0, hi = 3600;
    }
    else {
        return apr_psprintf(cmd->pool, "TracFcgiExternalServer: unknown "
                            "option '%s' (conns=, check=, fails=, "
                            "keepalive=)", name);
    }
    v = apr_strtoi64(value, &end, 10);
    if (*value == '\0' || *end != '\0' || v < lo || v > hi) {
        return apr_psprintf(cmd->pool, "TracFcgiExternalServer: %s=%s: "
                            "expected a whole number from %d to %d%s", name,
                            value, lo, hi,
                            out == &x->conns ? ", or auto" : "");
    }
    *out = (int)v;
    return NULL;
}

/* TracFcgiExternalServer URL-PATH ADDR [ADDR...] [NAME=VALUE...]: requests
 * under URL-PATH go to the FastCGI servers at ADDR (mod_fastcgi's
 * FastCgiExternalServer, mod_proxy_fcgi's balancer members). From
 * src/compat.c with cmd->info (mod_fastcgi's FastCgiExternalServer): the
 * first word is a file, and the requests for that file go to ADDR. */
/* The options and addresses after TracFcgiExternalServer's URL-PATH. */
static const char *ext_words(cmd_parms *cmd, tf_external_t *x,
                             const char *url, const char *args)
{
    apr_array_header_t *addrs = apr_array_make(cmd->pool, 2,
                                               sizeof(tf_backend_addr_t));
    const char *w, *err;
    int i;

    while (*(w = ap_getword_conf(cmd->pool, &args)) != '\0') {
        char *eq = strchr(w, '=');

        if (eq && w[0] != '[' && strncmp(w, "unix:", 5) != 0) {
            *eq = '\0';
            if ((err = ext_option(cmd, x, w, eq + 1)) != NULL) {
                return err;
            }
            continue;
        }
        if (addrs->nelts >= EXT_MAX_ADDRS) {
            return apr_psprintf(cmd->pool, "TracFcgiExternalServer %s: "
                                "more than %d addresses", url,
                                EXT_MAX_ADDRS);
        }
        if ((err = tf_backend_addr_parse(cmd->pool, w,
                                         apr_array_push(addrs))) != NULL) {
            return apr_psprintf(cmd->pool, "TracFcgiExternalServer %s: %s",
                                url, err);
        }
    }
    if (addrs->nelts == 0) {
        return apr_psprintf(cmd->pool, "TracFcgiExternalServer %s: no "
                            "address (unix:/path, HOST:PORT, [IPv6]:PORT)",
                            url);
    }
    x->n_addrs = addrs->nelts;
    x->addrs = (tf_backend_addr_t *)addrs->elts;
    x->addr_text = apr_pcalloc(cmd->pool, sizeof(char *) * addrs->nelts);
    for (i = 0; i < addrs->nelts; i++) {
        x->addr_text[i] = tf_backend_addr_text(cmd->pool, &x->addrs[i]);
    }
    return NULL;
}

/* Keep @x, once per URL-PATH and server: by server, since a virtual
 * host's own server record is replaced by the main one's when they
 * merge (tf_config_post() hands it this hash), and in the list of all. */
static const char *ext_register(cmd_parms *cmd, tf_external_t *x,
                                const char *url)
{
    apr_hash_t *by_server = registry_hash(cmd->pool);
    apr_array_header_t *mine;
    tf_external_t **slot;
    int i;

    if (!by_server) {
        return "TracFcgiExternalServer: out of memory";
    }
    mine = apr_hash_get(by_server, &cmd->server, sizeof(server_rec *));
    for (i = 0; mine && i < mine->nelts; i++) {
        const tf_external_t *o = APR_ARRAY_IDX(mine, i, tf_external_t *);

        if (strcmp(o->url, x->url) == 0 && !o->file == !x->file) {
            return apr_psprintf(cmd->pool, "TracFcgiExternalServer %s: "
                                "already declared for this server at %s",
                                url, o->where);
        }
    }
    if (!mine) {
        mine = apr_array_make(cmd->pool, 2, sizeof(tf_external_t *));
        apr_hash_set(by_server,
                     apr_pmemdup(cmd->pool, &cmd->server,
                                 sizeof(server_rec *)),
                     sizeof(server_rec *), mine);
    }
    APR_ARRAY_PUSH(mine, tf_external_t *) = x;
    slot = apr_array_push(registry(cmd->pool, EXTERNALS_KEY,
                                   sizeof(tf_external_t *), 1));
    *slot = x;
    return NULL;
}

static const char *set_external(cmd_parms *cmd, void *dconf,
                                const char *args)
{
    const char *url = ap_getword_conf(cmd->pool, &args), *err;
    tf_external_t *x;
    apr_size_t n;

    if (*url != '/') {
        return "TracFcgiExternalServer: expected a URL-PATH starting with "
               "/, then one address or more (unix:/path, HOST:PORT, "
               "[IPv6]:PORT)";
    }
    x = apr_pcalloc(cmd->pool, sizeof(*x));
    x->s = cmd->server;
    x->over = cmd->info;
    x->pool = -1;
    x->conns = 0;
    x->check = EXT_DEFAULT_CHECK;
    x->fails = 1;
    x->where = cmd->directive && cmd->directive->filename
                   ? apr_psprintf(cmd->pool, "%s:%d",
                                  cmd->directive->filename,
                                  cmd->directive->line_num)
                   : "";
    /* "/trac/" is "/trac": its requests are /trac and below */
    n = strlen(url);
    while (n > 0 && url[n - 1] == '/') {
        n--;
    }
    x->url = apr_pstrmemdup(cmd->pool, url, n);
    x->url_len = n;
    x->file = x->over ? x->url : NULL;
    if ((err = ext_words(cmd, x, url, args)) != NULL) {
        return err;
    }
    return ext_register(cmd, x, url);
}

/* TracEnv, TracEnvParentDir, TracEnvIndexTemplate: Trac reads its
 * settings from the WSGI environ first (the FastCGI params, names with a
 * dot), then from the process environment: set both. cmd->info holds the
 * variable name; the param is derived from it. */
static const char *set_trac(cmd_parms *cmd, void *dconf, const char *arg)
{
    tf_dir_conf_t *c = dconf;
    const char *var = cmd->info, *param = NULL, *path;
    apr_array_header_t *envs;
    int i;

    for (i = 0; i < TF_TRAC_TWINS; i++) {
        if (strcmp(var, tf_config_trac_twins[i][0]) == 0) {
            param = tf_config_trac_twins[i][1];
        }
    }
    path = arg;
    if (*arg != '/') {
        return apr_psprintf(cmd->pool, "%s: '%s' must be an absolute path",
                            cmd->cmd->name, arg);
    }
    env_set(cmd->pool, &c->init_env, var, path);
    env_set(cmd->pool, &c->params, param, path);
    if (strcmp(param, "trac.env_index_template") != 0) {
        tf_trac_env_t *e;

        envs = registry(cmd->pool, TRAC_ENVS_KEY, sizeof(tf_trac_env_t), 1);
        e = apr_array_push(envs);
        e->path = path;
        e->parent_dir = strcmp(var, "TRAC_ENV_PARENT_DIR") == 0;
        e->s = cmd->server;
        e->dconf = c;
        e->where = cmd->directive && cmd->directive->filename
                       ? apr_psprintf(cmd->pool, "%s:%d",
                                      cmd->directive->filename,
                                      cmd->directive->line_num)
                       : "";
    }
    return NULL;
}

/* TracFcgiServer PATH [NAME=VALUE ...]: a pool known before any request,
 * so that its TracFcgiMinProcesses start with httpd (mod_fastcgi's
 * FastCgiServer). It runs with the server's (or virtual host's)
 * configuration plus the given variables; from src/compat.c, with the
 * settings of mod_fastcgi's options (cmd->info) over them. */
static const char *set_server(cmd_parms *cmd, void *dconf, const char *args)
{
    const char *path = ap_getword_conf(cmd->pool, &args), *w;
    tf_declared_t *d;

    if (!*path || *path != '/') {
        return "TracFcgiServer: expected the absolute path of a script";
    }
    d = apr_array_push(registry(cmd->pool, DECLARED_KEY,
                                sizeof(tf_declared_t), 1));
    d->s = cmd->server;
    d->path = path;
    d->env = NULL;
    d->over = cmd->info;
    d->where = cmd->directive && cmd->directive->filename
                   ? apr_psprintf(cmd->pool, "%s:%d",
                                  cmd->directive->filename,
                                  cmd->directive->line_num)
                   : "";
    while (*(w = ap_getword_conf(cmd->pool, &args)) != '\0') {
        char *eq = strchr(w, '=');

        if (!eq || eq == w) {
            return apr_psprintf(cmd->pool, "TracFcgiServer: '%s' is not "
                                "NAME=VALUE", w);
        }
        *eq = '\0';
        env_set(cmd->pool, &d->env, w, eq + 1);
    }
    return NULL;
}

static const char *set_check_env(cmd_parms *cmd, void *dconf,
                                 const char *arg)
{
    tf_dir_conf_t *c = dconf;

    if (ap_cstr_casecmp(arg, "off") == 0) {
        c->check_env = TF_CHECK_OFF;
    }
    else if (ap_cstr_casecmp(arg, "warn") == 0) {
        c->check_env = TF_CHECK_WARN;
    }
    else if (ap_cstr_casecmp(arg, "strict") == 0) {
        c->check_env = TF_CHECK_STRICT;
    }
    else {
        return "TracFcgiCheckEnv: expected Off, Warn or Strict";
    }
    return NULL;
}

int tf_config_check_mode(const tf_trac_env_t *te, server_rec *main_server)
{
    const tf_dir_conf_t *vh, *top;

    if (te->dconf->check_env != DEF_VAL) {
        return te->dconf->check_env;
    }
    vh = ap_get_module_config(te->s->lookup_defaults, &tracfcgi_module);
    if (vh->check_env != DEF_VAL) {
        return vh->check_env;
    }
    top = ap_get_module_config(main_server->lookup_defaults,
                               &tracfcgi_module);
    return top->check_env != DEF_VAL ? top->check_env : TF_CHECK_WARN;
}

static const char *set_socket_dir(cmd_parms *cmd, void *dconf,
                                  const char *arg)
{
    tf_srv_conf_t *c = tf_config_srv_get(cmd->server);
    const char *err = ap_check_cmd_context(cmd, GLOBAL_ONLY);

    if (err) {
        return err;
    }
    c->socket_dir = ap_server_root_relative(cmd->pool, arg);
    if (!c->socket_dir) {
        return apr_pstrcat(cmd->pool, "TracFcgiSocketDir: invalid path ",
                           arg, NULL);
    }
    return NULL;
}

static const char *set_max_total(cmd_parms *cmd, void *dconf,
                                 const char *arg)
{
    tf_srv_conf_t *c = tf_config_srv_get(cmd->server);
    const char *err = ap_check_cmd_context(cmd, GLOBAL_ONLY);

    if (err) {
        return err;
    }
    return parse_count(cmd, arg, 1, &c->max_total);
}

#define DIR_CTX (RSRC_CONF | ACCESS_CONF)
/* mod_fcgid's authorizer directives: sections, .htaccess with AuthConfig
 * (or FileInfo, as mod_fcgid) */
#define AUTH_CTX (ACCESS_CONF | OR_AUTHCFG | OR_FILEINFO)
#define OFF(f) ((void *)APR_OFFSETOF(tf_dir_conf_t, f))

const command_rec tf_config_cmds[] = {
    AP_INIT_TAKE12("TracFcgiInitEnv", set_init_env, NULL, DIR_CTX,
                   "NAME [VALUE]: environment variable of the backend "
                   "process"),
    AP_INIT_TAKE12("DefaultInitEnv", set_init_env, NULL, DIR_CTX,
                   "alias of TracFcgiInitEnv (mod_fcgid's name)"),
    AP_INIT_TAKE1("TracFcgiPassEnv", set_pass_env, NULL, DIR_CTX,
                  "NAME: copy a variable of httpd's environment to the "
                  "backend's"),
    AP_INIT_TAKE2("TracFcgiParam", set_param, NULL, DIR_CTX,
                  "NAME VALUE: FastCGI param sent verbatim with every "
                  "request"),
    AP_INIT_TAKE1("TracEnv", set_trac, "TRAC_ENV", DIR_CTX,
                  "PATH: the Trac environment (TRAC_ENV, trac.env_path)"),
    AP_INIT_TAKE1("TracEnvParentDir", set_trac, "TRAC_ENV_PARENT_DIR",
                  DIR_CTX, "PATH: a directory of Trac environments "
                  "(TRAC_ENV_PARENT_DIR, trac.env_parent_dir)"),
    AP_INIT_TAKE1("TracEnvIndexTemplate", set_trac,
                  "TRAC_ENV_INDEX_TEMPLATE", DIR_CTX,
                  "PATH: template of the project index "
                  "(TRAC_ENV_INDEX_TEMPLATE, trac.env_index_template)"),
    AP_INIT_TAKE1("TracFcgiCheckEnv", set_check_env, NULL, DIR_CTX,
                  "Off|Warn|Strict: check each TracEnv at startup and "
                  "configtest (default Warn)"),
    AP_INIT_TAKE1("TracFcgiMinProcesses", set_int, OFF(min_procs), DIR_CTX,
                  "processes kept running per pool (default 0)"),
    AP_INIT_TAKE1("TracFcgiMaxProcesses", set_int, OFF(max_procs), DIR_CTX,
                  "processes per pool at most (default 4)"),
    AP_INIT_TAKE1("TracFcgiMaxRequestsPerProcess", set_int,
                  OFF(max_requests), DIR_CTX,
                  "retire a process after this many requests (0: never)"),
    AP_INIT_TAKE1("TracFcgiProcessLifetime", set_int, OFF(lifetime), DIR_CTX,
                  "retire a process after this many seconds (0: never)"),
    AP_INIT_TAKE12("TracFcgiConnsPerProcess", set_conns, NULL, DIR_CTX,
                   "N | auto [CAP]: concurrent connections one process "
                   "takes; auto asks it (FCGI_MAX_CONNS), at most CAP "
                   "(default auto 16)"),
    AP_INIT_TAKE1("TracFcgiIdleTimeout", set_timeout, OFF(idle_timeout),
                  DIR_CTX, "seconds before an idle process above the "
                  "minimum is stopped (default 300)"),
    AP_INIT_TAKE1("TracFcgiQueueTimeout", set_timeout, OFF(queue_timeout),
                  DIR_CTX, "seconds a request waits for a free backend "
                  "before 503 (default 30)"),
    AP_INIT_TAKE1("TracFcgiConnectTimeout", set_timeout,
                  OFF(connect_timeout), DIR_CTX,
                  "seconds to connect to a backend (default 5)"),
    AP_INIT_TAKE1("TracFcgiIOTimeout", set_timeout, OFF(io_timeout),
                  DIR_CTX, "seconds a backend may stay silent (default 60)"),
    AP_INIT_TAKE1("TracFcgiBusyTimeout", set_int, OFF(busy_timeout),
                  DIR_CTX, "seconds a request may take on its backend, "
                  "however busy: then 504 (or a cut connection) and the "
                  "backend is stopped (default 0: no limit)"),
    AP_INIT_TAKE1("TracFcgiStartupTimeout", set_timeout,
                  OFF(startup_timeout), DIR_CTX,
                  "seconds a new backend may take to get ready (default 30)"),
    AP_INIT_FLAG("TracFcgiPassAuthorization", set_flag, OFF(pass_auth),
                 DIR_CTX, "On: pass the Authorization header as "
                 "HTTP_AUTHORIZATION (default Off)"),
    AP_INIT_ITERATE("TracFcgiPassHeader", add_pass_header, NULL, DIR_CTX,
                    "NAME...: pass the request header NAME as the param "
                    "HTTP_NAME, Authorization and Proxy-Authorization "
                    "included"),
    AP_INIT_RAW_ARGS("TracFcgiWrapper", set_wrapper, NULL,
                     DIR_CTX | OR_FILEINFO,
                     "COMMAND [SUFFIX] [virtual]: the section's files (or "
                     "those ending in SUFFIX) are served by processes of "
                     "COMMAND, e.g. /usr/bin/php-cgi .php, one pool for "
                     "all; 'virtual': the file need not exist"),
    AP_INIT_TAKE1("TracFcgiAuthenticator", set_auth_cmd, (void *)TF_AUTHN,
                  AUTH_CTX, "PATH: FastCGI authorizer application that "
                  "checks the Basic credentials (FCGI_APACHE_ROLE "
                  "AUTHENTICATOR, REMOTE_PASSWD)"),
    AP_INIT_FLAG("TracFcgiAuthenticatorAuthoritative", set_auth_flag,
                 (void *)TF_AUTHN, AUTH_CTX, "Off: a refusal lets the "
                 "other authentication modules decide (default On)"),
    AP_INIT_TAKE1("TracFcgiAuthorizer", set_auth_cmd, (void *)TF_AUTHZ,
                  AUTH_CTX, "PATH: FastCGI authorizer application that "
                  "decides whether the user may have the request"),
    AP_INIT_FLAG("TracFcgiAuthorizerAuthoritative", set_auth_flag,
                 (void *)TF_AUTHZ, AUTH_CTX, "Off: a refusal lets the "
                 "other authorization modules decide (default On)"),
    AP_INIT_TAKE1("TracFcgiAccessChecker", set_auth_cmd, (void *)TF_ACCESS,
                  AUTH_CTX, "PATH: FastCGI authorizer application asked "
                  "first, before any authentication"),
    AP_INIT_FLAG("TracFcgiAccessCheckerAuthoritative", set_auth_flag,
                 (void *)TF_ACCESS, AUTH_CTX, "Off: a refusal lets the "
                 "other access modules decide (default On)"),
    AP_INIT_RAW_ARGS("TracFcgiReloadOnChange", set_reload, NULL, DIR_CTX,
                     "On|Off [PATH...]: replace a pool's processes, without "
                     "failing requests, when its script, its TracEnv's "
                     "plugins or a PATH changes (default Off)"),
    AP_INIT_TAKE1("TracFcgiBodyInMemory", set_bytes, OFF(body_in_memory),
                  DIR_CTX,
                  "request body bytes kept in memory before spooling to a "
                  "temporary file (default 65536)"),
    AP_INIT_TAKE1("TracFcgiMaxRequestLen", set_bytes, OFF(max_request_len),
                  DIR_CTX, "request body bytes at most: a longer body gets "
                  "413 before a backend is taken (default 0: no limit but "
                  "LimitRequestBody)"),
    AP_INIT_FLAG("TracFcgiRequestBuffering", set_flag,
                 OFF(request_buffering), DIR_CTX,
                 "Off: stream a request body with a Content-Length to the "
                 "backend instead of reading it first (default On)"),
    AP_INIT_TAKE1("TracFcgiResponseBuffer", set_bytes, OFF(response_buffer),
                  DIR_CTX, "answer bytes read from the backend (memory, "
                  "then a temporary file) before the client gets them, so "
                  "that a slow client does not hold a backend; 0 = stream "
                  "(default 16M)"),
    AP_INIT_FLAG("TracFcgiXSendfile", set_flag, OFF(xsendfile), DIR_CTX,
                 "On: an answer's X-Sendfile header has Apache send that "
                 "file, from TracFcgiXSendfilePath only (default Off)"),
    AP_INIT_ITERATE("TracFcgiXSendfilePath", add_xsendfile_path, NULL,
                    DIR_CTX, "DIR...: directories whose files X-Sendfile "
                    "may send"),
    AP_INIT_RAW_ARGS("TracFcgiServer", set_server, NULL, RSRC_CONF,
                     "PATH [NAME=VALUE ...]: a pool started with httpd "
                     "(its TracFcgiMinProcesses), in this server's or "
                     "virtual host's configuration"),
    AP_INIT_RAW_ARGS("TracFcgiExternalServer", set_external, NULL,
                     RSRC_CONF,
                     "URL-PATH ADDR [ADDR...] [conns=N|auto] [check=SECONDS] "
                     "[fails=N] [keepalive=SECONDS]: requests under URL-PATH "
                     "go to the FastCGI servers at unix:/path, HOST:PORT or "
                     "[IPv6]:PORT"),
    AP_INIT_TAKE1("TracFcgiSocketDir", set_socket_dir, NULL, RSRC_CONF,
                  "directory of the backend sockets (default: tracfcgi "
                  "under DefaultRuntimeDir)"),
    AP_INIT_TAKE1("TracFcgiMaxProcessesTotal", set_max_total, NULL,
                  RSRC_CONF, "processes of all pools at most (default 64)"),
    TF_COMPAT_CMDS, /* mod_fcgid's names: src/compat.c */
    AP_INIT_TAKE1(NULL, NULL, NULL, RSRC_CONF, NULL)
};
