/*
 * tf_spec.h: what a request's backend is: the command, identity, virtual
 * host and spawn environment that the configuration gives it, and the pool
 * key that hashes them. Requests whose spec differs never share a process.
 */
#ifndef TF_SPEC_H
#define TF_SPEC_H

#include "httpd.h"
#include "unixd.h"

#include "tf_config.h"
#include "tf_ipc.h"

/**
 * Fill @p spec (argv, env, cwd, identity, limits, display name) for the
 * script of @p r, and compute its pool key. A script with a
 * TracFcgiWrapper (tf_dir_conf_t.wrappers) gets the wrapper's: every
 * script a wrapper serves has the same spec and key.
 * @param[out] key  non-zero 64-bit hash of everything that makes the
 *                  backend different.
 */
void tf_spec_build(request_rec *r, const tf_dir_conf_t *dc,
                   tf_spawn_spec_t *spec, apr_uint64_t *key);

/**
 * The same without a request: for @p filename served by @p s with the
 * resolved configuration @p dc, run as @p ugid (NULL: User). A request for
 * that script with the same configuration gets the same key.
 */
void tf_spec_build_for(apr_pool_t *p, server_rec *s, const tf_dir_conf_t *dc,
                       const char *filename, const ap_unix_identity_t *ugid,
                       tf_spawn_spec_t *spec, apr_uint64_t *key);

/**
 * @return the suexec identity of virtual host @p s (SuexecUserGroup), or
 *         NULL when suexec is off or the host has none.
 */
const ap_unix_identity_t *tf_spec_server_identity(apr_pool_t *p,
                                                  server_rec *s);

/**
 * @return a one-line summary of the spawn environment for the status page:
 *         TRAC_ENV or TRAC_ENV_PARENT_DIR when set, else the variable
 *         names.
 */
const char *tf_spec_env_summary(apr_pool_t *p, const tf_dir_conf_t *dc);

/**
 * @return the names, space separated, of the variables that @p dc puts in
 *         the backend's environment (TracFcgiInitEnv, DefaultInitEnv,
 *         TracFcgiPassEnv) and that suexec will not pass on (it keeps
 *         only its safe list, and sets PATH itself); NULL when @p spec
 *         does not run through suexec or nothing is lost. TracEnv and
 *         its kin are left out: their FastCGI params reach Trac anyway.
 */
const char *tf_spec_suexec_dropped(apr_pool_t *p, const tf_dir_conf_t *dc,
                                   const tf_spawn_spec_t *spec);

/** The warning for those names, logged once when such a pool is created:
 * by a request (src/lease.c) or at startup (src/pm_parent.c). Arguments: the
 * pool's name, the names. */
#define TF_SUEXEC_DROPPED_FMT                                              \
    "pool %s runs through suexec, which passes a backend only its own "  \
    "list of safe variables: %s will not reach it (TracFcgiParam sends " \
    "a value with every request instead)"

/**
 * @return how log lines and the status page name the virtual host @p s:
 *         "name:port", or the ServerName alone outside any (with its port
 *         if it names one). No blank: log lines are parsed by it.
 */
const char *tf_spec_vhost_label(apr_pool_t *p, const server_rec *s);

/** A pool declared with TracFcgiServer, ready for the table. */
typedef struct {
    tf_spawn_spec_t spec;      /* key and limits set; pool not yet */
    const char *script;
    const char *vhost;
    const char *env_summary;
    const char *suexec_dropped; /* tf_spec_suexec_dropped(), or NULL */
    const tf_dir_conf_t *over; /* mod_fastcgi's FastCgiServer: its
                                * options (tf_declared_t.over), else NULL */
} tf_spec_declared_t;

/**
 * Build the spec of every TracFcgiServer of the configuration in @p pconf.
 * @return an array of tf_spec_declared_t (maybe empty).
 */
apr_array_header_t *tf_spec_declared(apr_pool_t *pconf);

/**
 * The mod_fastcgi static application (FastCgiServer, src/compat.c) that
 * serves @p r: the one whose file is r->filename and whose processes run
 * as @p r's would (User, or its suexec identity), whatever the request's
 * section says: its requests take its pool (spec and key) and its
 * options (over). Known in the children of the generation whose
 * tf_spec_declared() ran in the parent.
 * @return it, or NULL.
 */
const tf_spec_declared_t *tf_spec_bound(request_rec *r);

#endif /* TF_SPEC_H */
