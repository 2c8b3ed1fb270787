/*
 * mod_tracfcgi.c: the module record, the directive table and the hooks.
 * Glue only: each concept lives in src/ (see include/ for the contracts).
 *
 *   post_config  creates the socket directory, the shared process table
 *                and the process manager (src/shm.c, src/pm_parent.c)
 *   child_init   registers the child with its generation's table
 *   translate_name, map_to_storage
 *                take the requests of a TracFcgiExternalServer
 *                (src/external.c)
 *   check_access, check_authn, check_authz
 *                ask TracFcgiAccessChecker, TracFcgiAuthenticator,
 *                TracFcgiAuthorizer (src/authorizer.c)
 *   fixups       take the requests for the file of a mod_fastcgi
 *                FastCgiExternalServer or FastCgiServer (src/compat.c)
 *   handler      serves tracfcgi-script, .fcgi targets of ScriptAlias and
 *                external servers (src/bridge.c), and tracfcgi-status
 *                (src/status.c)
 *   status_hook  a section on mod_status's page (src/status.c)
 */
#include <sys/stat.h>
#include <unistd.h>

#include "apr_strings.h"
#include "apr_file_info.h"
#include "httpd.h"
#include "http_config.h"
#include "http_log.h"
#include "ap_mpm.h"
#include "http_core.h"
#include "http_request.h"
#include "unixd.h"

#include "tf_authorizer.h"
#include "tf_bridge.h"
#include "tf_compat.h"
#include "tf_config.h"
#include "tf_external.h"
#include "tf_keepalive.h"
#include "tf_logno.h"
#include "tf_orphans.h"
#include "tf_pm.h"
#include "tf_preflight.h"
#include "tf_shm.h"
#include "tf_spec.h"
#include "tf_spec_cache.h"
#include "tf_status.h"
#include "tf_tmpfile.h"
#include "mod_status.h"

module AP_MODULE_DECLARE_DATA tracfcgi_module;

/* This generation's table: set in the parent at post_config, before the
 * children fork; read-only afterwards. */
static tf_shm_t *table_shm;

static int preflight(apr_pool_t *pconf, server_rec *s)
{
    int strict = 0;

    tf_preflight_run(pconf, s, &strict);
    if (strict) {
        ap_log_error(APLOG_MARK, APLOG_STARTUP | APLOG_EMERG, 0, s,
                     TFLOGNO(00005) "TracFcgiCheckEnv Strict: %d problem(s) "
                     "with the Trac environments above", strict);
        return HTTP_INTERNAL_SERVER_ERROR;
    }
    return OK;
}

static int tf_check_config(apr_pool_t *pconf, apr_pool_t *plog,
                           apr_pool_t *ptemp, server_rec *s)
{
    const char *err = tf_config_post(pconf, s);

    if (err) {
        ap_log_error(APLOG_MARK, APLOG_STARTUP | APLOG_EMERG, 0, s,
                     TFLOGNO(00001) "%s", err);
        return HTTP_INTERNAL_SERVER_ERROR;
    }
    /* configtest: the preflight speaks to the terminal; a real start runs
     * it at post_config, where the error log is open */
    if (ap_state_query(AP_SQ_RUN_MODE) == AP_SQ_RM_CONFIG_TEST) {
        tf_compat_check(pconf);
        tf_external_check(pconf, s, 1);
        return preflight(pconf, s);
    }
    return OK;
}

/* Create the socket directory (0700, owned by the httpd User) and, at
 * first start, stop the backends and remove the sockets that a killed
 * earlier run left in it (src/orphans.c). */
static apr_status_t prepare_socket_dir(apr_pool_t *p, server_rec *s,
                                       const char *dir, int first_start)
{
    apr_status_t rv;
    apr_dir_t *d;
    apr_finfo_t fi;

    rv = apr_dir_make_recursive(dir, APR_FPROT_UREAD | APR_FPROT_UWRITE
                                         | APR_FPROT_UEXECUTE, p);
    if (rv != APR_SUCCESS && !APR_STATUS_IS_EEXIST(rv)) {
        return rv;
    }
    if (chmod(dir, 0700) < 0) {
        return errno;
    }
    if (geteuid() == 0
        && chown(dir, ap_unixd_config.user_id, ap_unixd_config.group_id)
               < 0) {
        return errno;
    }
    if (!first_start) {
        return APR_SUCCESS;
    }
    /* a killed httpd's backends first: found by their sockets */
    tf_orphans_stop(p, s, dir);
    if (apr_dir_open(&d, dir, p) != APR_SUCCESS) {
        return APR_SUCCESS;
    }
    while (apr_dir_read(&fi, APR_FINFO_NAME | APR_FINFO_TYPE, d)
           == APR_SUCCESS) {
        apr_size_t n = strlen(fi.name);

        if (fi.filetype == APR_SOCK && n > 5
            && strcmp(fi.name + n - 5, ".sock") == 0
            && (strncmp(fi.name, "b-", 2) == 0
                || strncmp(fi.name, "pm-", 3) == 0)) {
            apr_file_remove(apr_pstrcat(p, dir, "/", fi.name, NULL), p);
        }
    }
    apr_dir_close(d);
    return APR_SUCCESS;
}

static int tf_post_config(apr_pool_t *pconf, apr_pool_t *plog,
                          apr_pool_t *ptemp, server_rec *s)
{
    tf_srv_conf_t *sc = tf_config_srv_get(s);
    int gen = ap_state_query(AP_SQ_CONFIG_GEN);
    int daemons = 0, threads = 0;
    apr_uint32_t n_procs, n_pools, n_waiters;
    const char *ctl_path;
    tf_shm_t *shm;
    apr_status_t rv;

    /* the first pass over the configuration is a dry run */
    if (ap_state_query(AP_SQ_MAIN_STATE) == AP_SQ_MS_CREATE_PRE_CONFIG) {
        return OK;
    }
    if (preflight(pconf, s) != OK) {
        return HTTP_INTERNAL_SERVER_ERROR;
    }
    tf_external_check(pconf, s, 0);
    /* generation 1 is httpd's first real configuration (the dry run
     * before it was skipped above); a restart counts on from there */
    rv = prepare_socket_dir(ptemp, s, sc->socket_dir, gen <= 1);
    if (rv != APR_SUCCESS) {
        ap_log_error(APLOG_MARK, APLOG_STARTUP | APLOG_EMERG, rv, s,
                     TFLOGNO(00002) "cannot prepare TracFcgiSocketDir %s",
                     sc->socket_dir);
        return HTTP_INTERNAL_SERVER_ERROR;
    }

    /* size the table from the configuration: every process slot and
     * external server address, a pool for each, and a waiter for every
     * thread that could queue */
    ap_mpm_query(AP_MPMQ_HARD_LIMIT_DAEMONS, &daemons);
    ap_mpm_query(AP_MPMQ_HARD_LIMIT_THREADS, &threads);
    n_procs = (apr_uint32_t)sc->max_total + tf_external_count_addrs(pconf);
    n_pools = n_procs * 2 < 64 ? 64 : n_procs * 2;
    n_waiters = (apr_uint32_t)((daemons > 0 ? daemons : 1)
                               * (threads > 0 ? threads : 1)) + 16;
    rv = tf_shm_create(&shm, pconf, n_pools, n_procs, n_waiters,
                       (apr_uint32_t)sc->max_total);
    if (rv != APR_SUCCESS) {
        ap_log_error(APLOG_MARK, APLOG_STARTUP | APLOG_EMERG, rv, s,
                     TFLOGNO(00003) "cannot create the shared process table");
        return HTTP_INTERNAL_SERVER_ERROR;
    }
    tf_shm_table(shm)->hdr->generation = (apr_uint32_t)gen;
    tf_external_declare(pconf, s, shm);
    ctl_path = apr_psprintf(pconf, "%s/pm-%d.sock", sc->socket_dir, gen);
    table_shm = shm;
    tf_bridge_runtime_set(shm, ctl_path);
    rv = tf_pm_start(pconf, s, shm, sc->socket_dir, ctl_path,
                     (apr_uint32_t)gen, tf_spec_declared(pconf));
    if (rv != APR_SUCCESS) {
        ap_log_error(APLOG_MARK, APLOG_STARTUP | APLOG_EMERG, rv, s,
                     TFLOGNO(00004) "cannot start the process manager");
        return HTTP_INTERNAL_SERVER_ERROR;
    }
    return OK;
}

static void tf_child_init(apr_pool_t *pchild, server_rec *s)
{
    tf_bridge_child_init();
    tf_spec_cache_child_init(pchild);
    tf_tmpfile_child_init(pchild);
    if (table_shm) {
        tf_shm_child_attach(table_shm, pchild);
        tf_keepalive_child_init(pchild, table_shm, getpid());
    }
}

/* mod_fastcgi's way in, for its directives (src/compat.c): a request
 * whose file is an application's goes to it whatever its handler. */
static int tf_fixups(request_rec *r)
{
    if (tf_external_fixups(r) == OK) {
        return OK;
    }
    if (tf_spec_bound(r)) {
        r->handler = "tracfcgi-script";
        return OK;
    }
    return DECLINED;
}

static int tf_handler(request_rec *r)
{
    if (r->handler && strcmp(r->handler, "tracfcgi-status") == 0) {
        return tf_status_handle(r, table_shm);
    }
    if (!tf_bridge_wants(r)) {
        return DECLINED;
    }
    return tf_bridge_handle(r);
}

static int tf_status_hook(request_rec *r, int flags)
{
    return tf_status_mod_status(r, table_shm, flags);
}

static void tf_register_hooks(apr_pool_t *p)
{
    /* before mod_cgi/mod_cgid, which would take a .fcgi under ScriptAlias */
    static const char *const succ[] = {"mod_cgi.c", "mod_cgid.c", NULL};
    static const char *const alias[] = {"mod_alias.c", NULL};

    ap_hook_check_config(tf_check_config, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_post_config(tf_post_config, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_child_init(tf_child_init, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_handler(tf_handler, NULL, succ, APR_HOOK_MIDDLE);
    /* before mod_alias: an Alias over an external server's path loses */
    ap_hook_translate_name(tf_external_translate, NULL, alias,
                           APR_HOOK_MIDDLE);
    ap_hook_map_to_storage(tf_external_map_to_storage, NULL, NULL,
                           APR_HOOK_MIDDLE);
    ap_hook_fixups(tf_fixups, NULL, NULL, APR_HOOK_MIDDLE);
    /* the AUTHORIZER role (src/authorizer.c): before mod_auth_basic and
     * mod_authz_core, so that the application is asked when configured */
    ap_hook_check_access(tf_authorizer_access, NULL, NULL, APR_HOOK_MIDDLE,
                         AP_AUTH_INTERNAL_PER_CONF);
    ap_hook_check_authn(tf_authorizer_authn, NULL, NULL, APR_HOOK_FIRST,
                        AP_AUTH_INTERNAL_PER_CONF);
    ap_hook_check_authz(tf_authorizer_authz, NULL, NULL, APR_HOOK_FIRST,
                        AP_AUTH_INTERNAL_PER_CONF);
    APR_OPTIONAL_HOOK(ap, status_hook, tf_status_hook, NULL, NULL,
                      APR_HOOK_MIDDLE);
}

AP_DECLARE_MODULE(tracfcgi) = {
    STANDARD20_MODULE_STUFF,
    tf_config_dir_create,  /* per-directory config creator */
    tf_config_dir_merge,   /* per-directory config merger */
    tf_config_srv_create,  /* server config creator */
    tf_config_srv_merge,   /* server config merger */
    tf_config_cmds,        /* command table */
    tf_register_hooks,     /* hook registration */
    AP_MODULE_FLAG_NONE    /* flags */
};
