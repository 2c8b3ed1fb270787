/*
 * tf_config.h: configuration of mod_tracfcgi as the rest of the module
 * reads it. Only src/config.c knows directive names and how values merge;
 * everyone else reads the merged, resolved values through these structs.
 */
#ifndef TF_CONFIG_H
#define TF_CONFIG_H

#include "httpd.h"
#include "http_config.h"
#include "apr_hash.h"
#include "apr_tables.h"

#include "tf_backend.h"

/** One spawn-time environment variable (TracFcgiInitEnv, TracEnv, ...). */
typedef struct {
    const char *name;
    const char *value;
} tf_env_t;

/** The phases of the FastCGI AUTHORIZER role (src/authorizer.c), as
 * mod_fcgid has them: authentication, authorization, access control. */
typedef enum {
    TF_AUTHN = 0,   /* TracFcgiAuthenticator: check_authn */
    TF_AUTHZ,       /* TracFcgiAuthorizer: check_authz */
    TF_ACCESS,      /* TracFcgiAccessChecker: check_access */
    TF_AUTH_PHASES
} tf_auth_phase_e;

/** Per-directory configuration (server and vhost level included). */
typedef struct {
    /* spawn environment, in configuration order, inner context wins by
     * name (array of tf_env_t) */
    apr_array_header_t *init_env;
    /* FastCGI params sent verbatim with every request (array of tf_env_t:
     * TracFcgiParam, and trac.env_path & co from TracEnv*) */
    apr_array_header_t *params;
    /* variables copied from httpd's environment (TracFcgiPassEnv) */
    apr_array_header_t *pass_env;
    int min_procs;       /* TracFcgiMinProcesses, default 0 */
    int max_procs;       /* TracFcgiMaxProcesses, default 4 */
    int idle_timeout;    /* seconds, default 300 */
    int queue_timeout;   /* seconds, default 30 */
    int connect_timeout; /* seconds, default 5 */
    int io_timeout;      /* seconds, default 60 */
    int busy_timeout;    /* TracFcgiBusyTimeout seconds a request may
                          * take on its backend, 0 = no limit (default) */
    int startup_timeout; /* seconds, default 30 */
    int max_requests;    /* TracFcgiMaxRequestsPerProcess, 0 = no limit */
    int lifetime;        /* TracFcgiProcessLifetime seconds, 0 = none */
    int pass_auth;       /* TracFcgiPassAuthorization, default off */
    /* TracFcgiPassHeader: request headers sent as HTTP_* params, those
     * httpd withholds from CGI included (tf_env_t: the header's name, its
     * param's); outer sections' first */
    apr_array_header_t *pass_headers;
    int conns;           /* TracFcgiConnsPerProcess N, or 0 = auto */
    int conns_cap;       /* with auto: at most this many, default 16 */
    int check_env;       /* TracFcgiCheckEnv (tf_check_env_e), -1 unset */
    int reload;          /* TracFcgiReloadOnChange, default off */
    apr_array_header_t *reload_paths; /* its PATH arguments: more to
                                       * watch (const char *, absolute) */
    apr_off_t body_in_memory; /* request body bytes kept in memory before
                               * spooling to a temporary file */
    apr_off_t max_request_len; /* TracFcgiMaxRequestLen: a longer body
                                * gets 413; 0 = no limit of ours */
    int request_buffering; /* TracFcgiRequestBuffering, default on */
    apr_off_t response_buffer; /* TracFcgiResponseBuffer: answer bytes
                                * held back from the client, 0 = none */
    /* TracFcgiWrapper: the commands that serve the section's files
     * instead of the files themselves (const tf_wrapper_t *, one per
     * suffix: src/wrapper.c), or NULL */
    apr_array_header_t *wrappers;
    /* TracFcgiAuthenticator, TracFcgiAuthorizer, TracFcgiAccessChecker
     * (by tf_auth_phase_e): the command, absolute, or NULL; and their
     * ...Authoritative (default On: a refusal is final) */
    const char *auth_cmd[TF_AUTH_PHASES];
    int auth_authoritative[TF_AUTH_PHASES];
    int xsendfile;       /* TracFcgiXSendfile, default off */
    /* TracFcgiXSendfilePath: the only directories whose files X-Sendfile
     * may send (const char *, absolute; outer sections' first) */
    apr_array_header_t *xsendfile_paths;
} tf_dir_conf_t;

typedef enum {
    TF_CHECK_OFF = 0,
    TF_CHECK_WARN,
    TF_CHECK_STRICT
} tf_check_env_e;

/** A FastCGI server that something else starts (TracFcgiExternalServer):
 * requests under its URL-PATH go to its addresses. */
typedef struct {
    server_rec *s;          /* where it was declared */
    const char *where;      /* file:line, for messages */
    const char *url;        /* URL-PATH without a trailing slash ("" for
                             * /); for @file, the file */
    apr_size_t url_len;
    const char *file;       /* mod_fastcgi's FastCgiExternalServer: the
                             * requests whose file (r->filename) this is
                             * go to it, not those under a URL-PATH;
                             * else NULL */
    const tf_dir_conf_t *over; /* with @file: what its options set, over
                                * the request's section (unset fields
                                * -1); else NULL */
    int n_addrs;
    tf_backend_addr_t *addrs;
    const char **addr_text; /* as tf_backend_addr_text() gives them */
    int conns;              /* conns=: per address, 0 = ask the server */
    int check;              /* check=: seconds between probes of a down
                             * address (default 5) */
    int fails;              /* fails=: failures in a row that mark an
                             * address down (default 1) */
    int keepalive;          /* keepalive=: seconds a connection is kept
                             * idle for reuse (default 0: never) */
    int pool;               /* its pool in this generation's table, set at
                             * post_config before the children fork; -1 */
} tf_external_t;

/** Server-wide configuration (one record, which virtual hosts share). */
typedef struct {
    const char *socket_dir; /* TracFcgiSocketDir, resolved absolute */
    int max_total;          /* TracFcgiMaxProcessesTotal, default 64 */
    apr_hash_t *externals;  /* server_rec * -> its TracFcgiExternalServer
                             * (array of tf_external_t *); set by
                             * tf_config_post() */
    apr_array_header_t *external_files; /* those with a file (mod_fastcgi's
                                         * FastCgiExternalServer), of every
                                         * server: mod_fastcgi's are
                                         * global; set by tf_config_post() */
    tf_dir_conf_t *dynamic; /* mod_fastcgi's FastCgiConfig: defaults of
                             * the applications no FastCgiServer or
                             * FastCgiExternalServer names, under every
                             * section (src/compat.c), or NULL */
    apr_array_header_t *cmd_options; /* mod_fcgid's FcgidCmdOptions
                                      * (tf_cmd_options_t), or NULL */
} tf_srv_conf_t;

/** mod_fcgid's FcgidCmdOptions: settings of one command (a script, or a
 * TracFcgiWrapper's), over every section its requests come from. */
typedef struct {
    server_rec *s;              /* where it was given */
    const char *command;        /* absolute path */
    const tf_dir_conf_t *over;  /* what its options set (unset: -1) */
} tf_cmd_options_t;

/** Keep @p over as the settings of @p command in @p cmd's server. */
void tf_config_add_cmd_options(cmd_parms *cmd, const char *command,
                               const tf_dir_conf_t *over);

/**
 * @return the settings of @p command for @p r (FcgidCmdOptions of its
 *         virtual host, else of the main server), or NULL.
 */
const tf_dir_conf_t *tf_config_cmd_options(request_rec *r,
                                           const char *command);

/** A Trac environment named by the configuration, for the preflight. */
typedef struct {
    const char *path;
    int parent_dir;         /* 1: TracEnvParentDir */
    server_rec *s;          /* where it was configured */
    const char *where;      /* file:line, for messages */
    const tf_dir_conf_t *dconf; /* its section's configuration, read at
                                 * check time (TracFcgiCheckEnv may follow
                                 * TracEnv in the section) */
} tf_trac_env_t;

/**
 * @return the TracFcgiCheckEnv mode that applies to @p te: its section's,
 *         else its virtual host's, else the main server's, else Warn.
 */
int tf_config_check_mode(const tf_trac_env_t *te, server_rec *main_server);

/**
 * @return every TracEnv / TracEnvParentDir of the configuration being
 *         read (array of tf_trac_env_t), or NULL.
 */
apr_array_header_t *tf_config_trac_envs(apr_pool_t *pconf);

extern const command_rec tf_config_cmds[];

void *tf_config_dir_create(apr_pool_t *p, char *dir);
void *tf_config_dir_merge(apr_pool_t *p, void *base, void *add);
void *tf_config_srv_create(apr_pool_t *p, server_rec *s);
void *tf_config_srv_merge(apr_pool_t *p, void *base, void *add);

/**
 * Copy the merged per-directory configuration of @p r into @p out with
 * every unset value replaced by its default: mod_fastcgi's FastCgiConfig
 * (tf_srv_conf_t.dynamic), if any, then the built-in one. For a script
 * of @p r's own; see tf_config_dir_get_app() for an application with
 * settings of its own.
 */
void tf_config_dir_get(request_rec *r, tf_dir_conf_t *out);

/** The same for a configuration at hand (e.g. a server's defaults). */
void tf_config_dir_resolve(const tf_dir_conf_t *in, tf_dir_conf_t *out);

/**
 * The configuration of @p r for an application with settings of its own
 * (an external server, a mod_fastcgi FastCgiServer): the request's
 * sections, with @p over's set fields over them (the options of a
 * mod_fastcgi application, tf_declared_t.over and tf_external_t.over;
 * NULL: none), and the built-in defaults; never FastCgiConfig's, which
 * are for the other scripts.
 */
void tf_config_dir_get_app(request_rec *r, const tf_dir_conf_t *over,
                           tf_dir_conf_t *out);

/** A pool declared up front with TracFcgiServer. */
typedef struct {
    server_rec *s;          /* where it was declared */
    const char *path;       /* the script */
    apr_array_header_t *env;/* NAME=VALUE arguments (tf_env_t) */
    const char *where;      /* file:line, for messages */
    const tf_dir_conf_t *over; /* mod_fastcgi's FastCgiServer: what its
                                * options set, over the server's
                                * configuration (unset fields -1), and
                                * every request whose file is @path uses
                                * this pool (src/spec.c tf_spec_bound());
                                * NULL for TracFcgiServer */
} tf_declared_t;

/* TracFcgiServer and TracFcgiExternalServer take, as cmd->info (NULL in
 * the directive table), the tf_dir_conf_t of a mod_fastcgi application's
 * options (src/compat.c): the application is then a file, as in
 * mod_fastcgi, and the options apply to it and its requests. */

/** TracEnv, TracEnvParentDir and TracEnvIndexTemplate: the variable each
 * sets and the FastCGI param beside it, which Trac reads first. The
 * first two are alternatives: the innermost section that sets one
 * decides. */
#define TF_TRAC_TWINS 3
extern const char *const tf_config_trac_twins[TF_TRAC_TWINS][2];

/** @return the entry of @p arr (tf_env_t; may be NULL) named @p name, or
 * NULL. */
const tf_env_t *tf_config_env_find(const apr_array_header_t *arr,
                                   const char *name);

/** @return @p base with @p add's variables set over it (tf_env_t). */
apr_array_header_t *tf_config_env_merge(apr_pool_t *p,
                                        const apr_array_header_t *base,
                                        const apr_array_header_t *add);

/** @return every TracFcgiExternalServer of the configuration (array of
 *          tf_external_t *), or NULL. */
apr_array_header_t *tf_config_externals(apr_pool_t *pconf);

/** @return the TracFcgiExternalServer declared in @p s itself (not those
 *          of the main server for a virtual host), or NULL; known once
 *          tf_config_post() ran. */
const apr_array_header_t *tf_config_externals_of(server_rec *s);

/** @return every TracFcgiServer of the configuration, or NULL. */
apr_array_header_t *tf_config_declared(apr_pool_t *pconf);

/** @return the server-wide configuration, resolved. */
tf_srv_conf_t *tf_config_srv_get(server_rec *s);

/**
 * Check and finish the configuration at post_config (resolve the socket
 * directory, check its length for sun_path).
 * @return NULL, or an error message for the log.
 */
const char *tf_config_post(apr_pool_t *p, server_rec *s);

#endif /* TF_CONFIG_H */
