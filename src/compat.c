/*
 * compat.c: mod_fcgid's and mod_fastcgi's names (see tf_compat.h). One
 * table maps each directive to the native one, which is called with the
 * same arguments (and its own cmd_parms identity), or marks it ignored
 * with the reason configtest gives. mod_fastcgi's application directives
 * (FastCgiServer, FastCgiExternalServer, FastCgiConfig) take options: a
 * second table maps each option onto a native directive, or says why it
 * is ignored, and the directive itself becomes TracFcgiServer or
 * TracFcgiExternalServer with the options' settings (a tf_dir_conf_t
 * handed over as cmd->info: see tf_config.h).
 *
 * Runs at configuration time in the httpd parent (directives never log:
 * the ignored ones are remembered and said by tf_compat_check()), and at
 * request time for the handler names.
 */
#include <stdlib.h>
#include <string.h>

#include "apr_lib.h"
#include "apr_strings.h"
#include "httpd.h"
#include "http_config.h"
#include "http_log.h"

#include "tf_compat.h"
#include "tf_config.h"
#include "tf_private.h"

#define IGNORED_KEY "tracfcgi-compat-ignored"

#define FCGID "mod_fcgid.c"
#define FASTCGI "mod_fastcgi.c"

typedef const char *(*parse_fn)(cmd_parms *cmd, void *dconf,
                                const char *args);

static const char *fastcgi_server(cmd_parms *cmd, void *dconf,
                                  const char *args);
static const char *fastcgi_external(cmd_parms *cmd, void *dconf,
                                    const char *args);
static const char *fastcgi_config(cmd_parms *cmd, void *dconf,
                                  const char *args);
static const char *fastcgi_wrapper(cmd_parms *cmd, void *dconf,
                                   const char *args);
static const char *fcgid_cmd_options(cmd_parms *cmd, void *dconf,
                                     const char *args);
static const char *fastcgi_auth(cmd_parms *cmd, void *dconf,
                                const char *args);

typedef struct {
    const char *name;     /* mod_fcgid's or mod_fastcgi's */
    const char *module;   /* whose: while it is loaded, the name is its */
    const char *native;   /* ours, or NULL: ignored (or @parse) */
    const char *why;      /* ignored: the reason configtest gives */
    parse_fn parse;       /* a directive with options: its own reader */
} compat_t;

static const compat_t table[] = {
    {"FcgidInitialEnv", FCGID, "TracFcgiInitEnv", NULL, NULL},
    {"FcgidMaxProcessesPerClass", FCGID, "TracFcgiMaxProcesses", NULL, NULL},
    {"FcgidMinProcessesPerClass", FCGID, "TracFcgiMinProcesses", NULL, NULL},
    {"FcgidMaxProcesses", FCGID, "TracFcgiMaxProcessesTotal", NULL, NULL},
    {"FcgidIdleTimeout", FCGID, "TracFcgiIdleTimeout", NULL, NULL},
    {"FcgidIOTimeout", FCGID, "TracFcgiIOTimeout", NULL, NULL},
    {"FcgidBusyTimeout", FCGID, "TracFcgiBusyTimeout", NULL, NULL},
    {"FcgidConnectTimeout", FCGID, "TracFcgiConnectTimeout", NULL, NULL},
    {"FcgidProcessLifeTime", FCGID, "TracFcgiProcessLifetime", NULL, NULL},
    {"FcgidMaxRequestsPerProcess", FCGID, "TracFcgiMaxRequestsPerProcess",
     NULL, NULL},
    {"FcgidMaxRequestInMem", FCGID, "TracFcgiBodyInMemory", NULL, NULL},
    {"FcgidMaxRequestLen", FCGID, "TracFcgiMaxRequestLen", NULL, NULL},
    {"FcgidIPCDir", FCGID, "TracFcgiSocketDir", NULL, NULL},
    {"FcgidPassHeader", FCGID, "TracFcgiPassHeader", NULL, NULL},
    {"FcgidWrapper", FCGID, "TracFcgiWrapper", NULL, NULL},
    {"FcgidCmdOptions", FCGID, NULL, NULL, fcgid_cmd_options},
    {"FcgidAuthenticator", FCGID, "TracFcgiAuthenticator", NULL, NULL},
    {"FcgidAuthenticatorAuthoritative", FCGID,
     "TracFcgiAuthenticatorAuthoritative", NULL, NULL},
    {"FcgidAuthorizer", FCGID, "TracFcgiAuthorizer", NULL, NULL},
    {"FcgidAuthorizerAuthoritative", FCGID, "TracFcgiAuthorizerAuthoritative",
     NULL, NULL},
    {"FcgidAccessChecker", FCGID, "TracFcgiAccessChecker", NULL, NULL},
    {"FcgidAccessCheckerAuthoritative", FCGID,
     "TracFcgiAccessCheckerAuthoritative", NULL, NULL},
    {"FcgidSpawnScore", FCGID, NULL, "a process is started as soon as a "
     "request finds none free, within TracFcgiMaxProcesses: there is no "
     "spawn score", NULL},
    {"FcgidSpawnScoreUpLimit", FCGID, NULL, "there is no spawn score (see "
     "FcgidSpawnScore)", NULL},
    {"FcgidTerminationScore", FCGID, NULL, "there is no spawn score (see "
     "FcgidSpawnScore)", NULL},
    {"FcgidTimeScore", FCGID, NULL, "there is no spawn score (see "
     "FcgidSpawnScore)", NULL},
    {"FcgidIdleScanInterval", FCGID, NULL, "the process manager looks once "
     "a second", NULL},
    {"FcgidBusyScanInterval", FCGID, NULL, "the process manager looks once "
     "a second", NULL},
    {"FcgidErrorScanInterval", FCGID, NULL, "the process manager reaps a "
     "process the moment it exits", NULL},
    {"FcgidZombieScanInterval", FCGID, NULL, "the process manager reaps a "
     "process the moment it exits", NULL},
    {"FcgidProcessTableFile", FCGID, NULL, "the process table is anonymous "
     "shared memory", NULL},
    {"FcgidFixPathinfo", FCGID, NULL, "SCRIPT_NAME stays the script's URL "
     "path, as mod_cgi sends it, and php-cgi's cgi.fix_pathinfo=1 works with "
     "it (PATH_INFO, PHP_SELF and SCRIPT_FILENAME as under mod_fcgid "
     "without this directive)", NULL},
    {"FcgidWin32PreventOrphans", FCGID, NULL, "it is for Windows; here a "
     "backend whose httpd is gone is stopped by the process manager", NULL},
    {"FcgidOutputBufferSize", FCGID, NULL, "an answer's first 64 KiB are "
     "passed on as they come, the rest is read into TracFcgiResponseBuffer "
     "(default 16M) so that a slow client does not hold the backend", NULL},

    /* mod_fastcgi; AppClass, ExternalAppClass, FCGIConfig and
     * FastCgiSuexec are its older names */
    {"FastCgiIpcDir", FASTCGI, "TracFcgiSocketDir", NULL, NULL},
    {"FastCgiServer", FASTCGI, NULL, NULL, fastcgi_server},
    {"AppClass", FASTCGI, NULL, NULL, fastcgi_server},
    {"FastCgiExternalServer", FASTCGI, NULL, NULL, fastcgi_external},
    {"ExternalAppClass", FASTCGI, NULL, NULL, fastcgi_external},
    {"FastCgiConfig", FASTCGI, NULL, NULL, fastcgi_config},
    {"FCGIConfig", FASTCGI, NULL, NULL, fastcgi_config},
    {"FastCgiWrapper", FASTCGI, NULL, NULL, fastcgi_wrapper},
    {"FastCgiAuthenticator", FASTCGI, "TracFcgiAuthenticator", NULL,
     fastcgi_auth},
    {"FastCgiAuthenticatorAuthoritative", FASTCGI,
     "TracFcgiAuthenticatorAuthoritative", NULL, NULL},
    {"FastCgiAuthorizer", FASTCGI, "TracFcgiAuthorizer", NULL, fastcgi_auth},
    {"FastCgiAuthorizerAuthoritative", FASTCGI,
     "TracFcgiAuthorizerAuthoritative", NULL, NULL},
    {"FastCgiAccessChecker", FASTCGI, "TracFcgiAccessChecker", NULL,
     fastcgi_auth},
    {"FastCgiAccessCheckerAuthoritative", FASTCGI,
     "TracFcgiAccessCheckerAuthoritative", NULL, NULL},
    {"FastCgiSuexec", FASTCGI, NULL, NULL, fastcgi_wrapper},
};

static const compat_t *find(const char *name)
{
    apr_size_t i;

    for (i = 0; i < sizeof(table) / sizeof(table[0]); i++) {
        if (strcasecmp(table[i].name, name) == 0) {
            return &table[i];
        }
    }
    return NULL;
}

/* Remember for configtest that @what (a directive, or a directive and
 * one of its options) is ignored, and @why. */
static void ignored(cmd_parms *cmd, const char *what, const char *why)
{
    apr_array_header_t *ign;
    void *v = NULL;

    apr_pool_userdata_get(&v, IGNORED_KEY, cmd->pool);
    if (!(ign = v)) {
        ign = apr_array_make(cmd->pool, 4, sizeof(const char *));
        apr_pool_userdata_set(ign, IGNORED_KEY, apr_pool_cleanup_null,
                              cmd->pool);
    }
    APR_ARRAY_PUSH(ign, const char *) = apr_psprintf(
        cmd->pool, "%s (%s:%d) is ignored: %s", what,
        cmd->directive ? cmd->directive->filename : "?",
        cmd->directive ? cmd->directive->line_num : 0, why);
}

/* Call the native directive @c with @args, as httpd would have, with
 * @info as its cmd->info. */
static const char *call_native(cmd_parms *cmd, void *dconf,
                               const command_rec *c, void *info,
                               const char *args)
{
    const command_rec *old = cmd->cmd;
    void *old_info = cmd->info;
    const char *w1, *w2, *err = NULL;

    cmd->cmd = c;
    cmd->info = info;
    switch (c->args_how) {
    case RAW_ARGS:
        err = c->AP_RAW_ARGS(cmd, dconf, args);
        break;
    case ITERATE:
        /* one word or more, each on its own, as httpd calls it */
        do {
            w1 = ap_getword_conf(cmd->pool, &args);
            err = *w1 ? c->AP_TAKE1(cmd, dconf, w1)
                      : apr_pstrcat(cmd->pool, old->name, ": expected an "
                                    "argument (see ", c->name, ")", NULL);
        } while (!err && *args);
        break;
    case TAKE1:
    case TAKE12:
        w1 = ap_getword_conf(cmd->pool, &args);
        w2 = ap_getword_conf(cmd->pool, &args);
        if (!*w1 || *args || (c->args_how == TAKE1 && *w2)) {
            err = apr_pstrcat(cmd->pool, old->name, ": wrong number of "
                              "arguments (see ", c->name, ")", NULL);
        }
        else if (c->args_how == TAKE1) {
            err = c->AP_TAKE1(cmd, dconf, w1);
        }
        else {
            err = c->AP_TAKE2(cmd, dconf, w1, *w2 ? w2 : NULL);
        }
        break;
    case FLAG:
        w1 = ap_getword_conf(cmd->pool, &args);
        if (*args || (strcasecmp(w1, "On") != 0 && strcasecmp(w1, "Off")
                                                     != 0)) {
            err = apr_pstrcat(cmd->pool, old->name, " must be On or Off",
                              NULL);
        }
        else {
            err = c->AP_FLAG(cmd, dconf, strcasecmp(w1, "On") == 0);
        }
        break;
    default:
        err = apr_pstrcat(cmd->pool, old->name, ": not mapped", NULL);
    }
    cmd->cmd = old;
    cmd->info = old_info;
    return err;
}

/* The native directive @name, called with @args (its own syntax) on
 * @dconf; @info for its cmd->info, NULL: its table's. */
static const char *native(cmd_parms *cmd, void *dconf, const char *name,
                          void *info, const char *args)
{
    const command_rec *c;

    for (c = tf_config_cmds; c->name; c++) {
        if (strcmp(c->name, name) == 0) {
            return call_native(cmd, dconf, c, info ? info
                                                    : (void *)c->cmd_data,
                               args);
        }
    }
    return apr_pstrcat(cmd->pool, cmd->cmd->name, ": no ", name, NULL);
}

/* @w as one word of a directive's arguments, as ap_getword_conf() reads
 * them back: quoted when it holds a blank or a quote (a '"' escaped; a
 * word ending in a backslash is not representable, and no path or value
 * of these directives needs one). */
static const char *word(apr_pool_t *p, const char *w)
{
    const char *s;
    char *out, *d;

    if (*w && !strpbrk(w, " \t\"'")) {
        return w;
    }
    out = d = apr_palloc(p, 2 * strlen(w) + 3);
    *d++ = '"';
    for (s = w; *s; s++) {
        if (*s == '"') {
            *d++ = '\\';
        }
        *d++ = *s;
    }
    *d++ = '"';
    *d = '\0';
    return out;
}

const char *tf_compat_directive(cmd_parms *cmd, void *dconf,
                                const char *args)
{
    const compat_t *m = find(cmd->cmd->name);

    if (!m) {
        return apr_pstrcat(cmd->pool, cmd->cmd->name, ": not mapped", NULL);
    }
    if (ap_find_linked_module(m->module)) {
        return DECLINE_CMD; /* the module is loaded: its own */
    }
    if (m->parse) {
        return m->parse(cmd, dconf, args);
    }
    if (!m->native) {
        ignored(cmd, m->name, m->why);
        return NULL;
    }
    return native(cmd, dconf, m->native, NULL, args);
}

/* --- mod_fastcgi's options ----------------------------------------------- */

/* The directives that take an option (fastcgi_opt_t.in). */
#define IN_SERVER 1u   /* FastCgiServer */
#define IN_EXTERNAL 2u /* FastCgiExternalServer */
#define IN_CONFIG 4u   /* FastCgiConfig (dynamic applications) */
#define IN_ALL (IN_SERVER | IN_EXTERNAL | IN_CONFIG)

typedef enum {
    ARG_NONE,     /* a flag */
    ARG_COUNT,    /* a whole number, at least fastcgi_opt_t.min */
    ARG_FRACTION, /* a number from 0 to 1 */
    ARG_WORD      /* a word */
} arg_e;

typedef struct {
    const char *name;   /* mod_fastcgi's (matched ignoring case, as it
                         * does) */
    unsigned in;        /* IN_*: the directives that take it */
    arg_e arg;
    int min;            /* ARG_COUNT: mod_fastcgi's least value */
    const char *native; /* the native directive it sets, with its value
                         * or with @fixed; NULL: @why, or read by the
                         * directive itself (app_t) */
    const char *fixed;  /* ARG_NONE: the native directive's argument */
    const char *why;    /* ignored: the reason configtest gives */
} fastcgi_opt_t;

#define WHY_SOCKET                                                         \
    "the process manager binds each backend's own unix socket in "         \
    "TracFcgiSocketDir: nothing else reaches the application at an "       \
    "address of its choosing (start it with spawn-fcgi and use "           \
    "FastCgiExternalServer for that)"
#define WHY_QUEUE                                                          \
    "each process has a socket of its own; requests wait in "              \
    "mod_tracfcgi's queue (TracFcgiQueueTimeout), not in a listen queue"
#define WHY_PRIORITY                                                       \
    "there is no native setting for a backend's priority (start the "      \
    "application under nice from a wrapper script)"
#define WHY_RESTART                                                        \
    "a process that keeps dying as it starts is started again with a "     \
    "back-off of its own (1 s, doubling up to 60 s)"
#define WHY_START_DELAY                                                    \
    "a process is started as soon as a request finds none free, within "   \
    "TracFcgiMaxProcesses, without a delay"
#define WHY_USER                                                           \
    "backends run as User, or through httpd's suexec as the virtual "      \
    "host's SuexecUserGroup"
#define WHY_NPH                                                            \
    "answers are always read as CGI responses: an application that "       \
    "writes its own status line gets 500"
#define WHY_KILL                                                           \
    "there is no load-based kill policy: a process above "                 \
    "TracFcgiMinProcesses is stopped once idle for TracFcgiIdleTimeout "   \
    "(default 300 s)"

static const fastcgi_opt_t fastcgi_opts[] = {
    /* mapped */
    {"-idle-timeout", IN_ALL, ARG_COUNT, 1, "TracFcgiIOTimeout", NULL, NULL},
    {"-appConnTimeout", IN_ALL, ARG_COUNT, 0, "TracFcgiConnectTimeout",
     NULL, NULL},
    {"-pass-header", IN_ALL, ARG_WORD, 0, "TracFcgiPassHeader", NULL, NULL},
    {"-flush", IN_ALL, ARG_NONE, 0, "TracFcgiResponseBuffer", "0", NULL},
    {"-maxProcesses", IN_CONFIG, ARG_COUNT, 1, "TracFcgiMaxProcessesTotal",
     NULL, NULL},
    {"-maxClassProcesses", IN_CONFIG, ARG_COUNT, 1, "TracFcgiMaxProcesses",
     NULL, NULL},
    {"-autoUpdate", IN_CONFIG, ARG_NONE, 0, "TracFcgiReloadOnChange", "On",
     NULL},
    /* read by the directive */
    {"-processes", IN_SERVER, ARG_COUNT, 1, NULL, NULL, NULL},
    {"-initial-env", IN_SERVER | IN_CONFIG, ARG_WORD, 0, NULL, NULL, NULL},
    {"-host", IN_EXTERNAL, ARG_WORD, 0, NULL, NULL, NULL},
    {"-socket", IN_EXTERNAL, ARG_WORD, 0, NULL, NULL, NULL},
    /* ignored */
    {"-socket", IN_SERVER, ARG_WORD, 0, NULL, NULL, WHY_SOCKET},
    {"-port", IN_SERVER, ARG_COUNT, 1, NULL, NULL, WHY_SOCKET},
    {"-listen-queue-depth", IN_SERVER | IN_CONFIG, ARG_COUNT, 1, NULL, NULL,
     WHY_QUEUE},
    {"-priority", IN_SERVER | IN_CONFIG, ARG_COUNT, 0, NULL, NULL,
     WHY_PRIORITY},
    {"-restart-delay", IN_SERVER | IN_CONFIG, ARG_COUNT, 0, NULL, NULL,
     WHY_RESTART},
    {"-min-server-life", IN_SERVER | IN_CONFIG, ARG_COUNT, 0, NULL, NULL,
     WHY_RESTART},
    {"-init-start-delay", IN_SERVER | IN_CONFIG, ARG_COUNT, 0, NULL, NULL,
     WHY_START_DELAY},
    {"-user", IN_SERVER | IN_EXTERNAL, ARG_WORD, 0, NULL, NULL, WHY_USER},
    {"-group", IN_SERVER | IN_EXTERNAL, ARG_WORD, 0, NULL, NULL, WHY_USER},
    {"-nph", IN_SERVER | IN_EXTERNAL, ARG_NONE, 0, NULL, NULL, WHY_NPH},
    {"-minProcesses", IN_CONFIG, ARG_COUNT, 0, NULL, NULL,
     "it is a minimum for all dynamic applications together: "
     "TracFcgiMinProcesses keeps a minimum per pool (default 0)"},
    {"-killInterval", IN_CONFIG, ARG_COUNT, 1, NULL, NULL, WHY_KILL},
    {"-updateInterval", IN_CONFIG, ARG_COUNT, 1, NULL, NULL, WHY_KILL},
    {"-gainValue", IN_CONFIG, ARG_FRACTION, 0, NULL, NULL, WHY_KILL},
    {"-singleThreshold", IN_CONFIG, ARG_COUNT, 0, NULL, NULL, WHY_KILL},
    {"-singleThreshhold", IN_CONFIG, ARG_COUNT, 0, NULL, NULL, WHY_KILL},
    {"-multiThreshold", IN_CONFIG, ARG_COUNT, 0, NULL, NULL, WHY_KILL},
    {"-multiThreshhold", IN_CONFIG, ARG_COUNT, 0, NULL, NULL, WHY_KILL},
    {"-processSlack", IN_CONFIG, ARG_COUNT, 1, NULL, NULL, WHY_KILL},
    {"-startDelay", IN_CONFIG, ARG_COUNT, 1, NULL, NULL,
     "a request that finds no process free waits in the pool's queue "
     "while one is started (TracFcgiQueueTimeout)"},
    {"-restart", IN_CONFIG, ARG_NONE, 0, NULL, NULL,
     "a process that exits is replaced as soon as a request needs one"},
};

/* What an application directive reads of its options for itself. */
typedef struct {
    const char *processes; /* FastCgiServer -processes */
    const char *host;      /* FastCgiExternalServer -host */
    const char *socket;    /* FastCgiExternalServer -socket */
} app_t;

static const fastcgi_opt_t *find_opt(const char *name, unsigned in)
{
    apr_size_t i;

    for (i = 0; i < sizeof(fastcgi_opts) / sizeof(fastcgi_opts[0]); i++) {
        if ((fastcgi_opts[i].in & in)
            && strcasecmp(fastcgi_opts[i].name, name) == 0) {
            return &fastcgi_opts[i];
        }
    }
    return NULL;
}

/* The value of option @o from @args into @val, checked as mod_fastcgi
 * checks it. @return NULL, or why not. */
static const char *opt_value(apr_pool_t *p, const fastcgi_opt_t *o,
                             const char **args, const char **val)
{
    char *end;

    *val = NULL;
    if (o->arg == ARG_NONE) {
        return NULL;
    }
    *val = ap_getword_conf(p, args);
    if (!**val) {
        return "a value is missing";
    }
    if (o->arg == ARG_COUNT) {
        apr_int64_t v = apr_strtoi64(*val, &end, 10);

        if (!apr_isdigit(**val) || *end || v > 1000000) {
            return apr_psprintf(p, "'%s' is not a whole number", *val);
        }
        if (v < o->min) {
            return apr_psprintf(p, "'%s' must be %d or more", *val, o->min);
        }
    }
    else if (o->arg == ARG_FRACTION) {
        double v = strtod(*val, &end);

        if (*end || !(v >= 0.0 && v <= 1.0)) {
            return apr_psprintf(p, "'%s' is not a number from 0 to 1",
                                *val);
        }
    }
    return NULL;
}

/* -initial-env NAME=VALUE sets it for the processes; NAME alone passes
 * httpd's own, as mod_fastcgi does. */
static const char *initial_env(cmd_parms *cmd, void *dconf, const char *v)
{
    const char *eq = strchr(v, '=');

    if (eq == v) {
        return apr_psprintf(cmd->pool, "'%s' is not NAME=VALUE", v);
    }
    if (!eq) {
        return native(cmd, dconf, "TracFcgiPassEnv", NULL, word(cmd->pool,
                                                               v));
    }
    /* NAME= is an empty value: TracFcgiInitEnv NAME */
    return native(cmd, dconf, "TracFcgiInitEnv", NULL,
                  apr_pstrcat(cmd->pool,
                              word(cmd->pool,
                                   apr_pstrmemdup(cmd->pool, v,
                                                  (apr_size_t)(eq - v))),
                              eq[1] ? " " : "",
                              eq[1] ? word(cmd->pool, eq + 1) : "", NULL));
}

/* The options of mod_fastcgi's directive of kind @in from @args (@what:
 * the directive, and the application's file, for messages): a mapped
 * one sets its native directive on @dconf, an ignored one is said at
 * configtest, the application's own are left in @app. An unknown option
 * is an error, as in mod_fastcgi. @return NULL, or the error. */
static const char *read_options(cmd_parms *cmd, void *dconf, unsigned in,
                                const char *what, const char *args,
                                app_t *app)
{
    const char *w, *val, *err;

    while (*(w = ap_getword_conf(cmd->pool, &args)) != '\0') {
        const fastcgi_opt_t *o = find_opt(w, in);

        if (!o) {
            return apr_psprintf(cmd->pool, "%s: invalid option: %s (not an "
                                "option of mod_fastcgi's %s)", what, w,
                                cmd->cmd->name);
        }
        if ((err = opt_value(cmd->pool, o, &args, &val)) != NULL) {
            return apr_psprintf(cmd->pool, "%s: invalid value for %s: %s",
                                what, o->name, err);
        }
        if (o->why) {
            ignored(cmd, apr_pstrcat(cmd->pool, cmd->cmd->name, " ", o->name,
                                     NULL),
                    o->why);
            continue;
        }
        if (strcasecmp(o->name, "-processes") == 0) {
            app->processes = val;
        }
        else if (strcasecmp(o->name, "-host") == 0) {
            app->host = val;
        }
        else if (strcasecmp(o->name, "-socket") == 0) {
            app->socket = val;
        }
        else if (strcasecmp(o->name, "-initial-env") == 0) {
            err = initial_env(cmd, dconf, val);
        }
        else if (strcasecmp(o->name, "-appConnTimeout") == 0
                 && atoi(val) == 0) {
            ignored(cmd, apr_pstrcat(cmd->pool, cmd->cmd->name,
                                     " -appConnTimeout 0", NULL),
                    "mod_fastcgi's blocking connect: TracFcgiConnectTimeout "
                    "(default 5 s) bounds the wait for a connection");
        }
        else {
            err = native(cmd, dconf, o->native, NULL,
                         word(cmd->pool, val ? val : o->fixed));
        }
        if (err) {
            return apr_psprintf(cmd->pool, "%s: %s: %s", what, o->name, err);
        }
    }
    return NULL;
}

/* mod_fastcgi's file of an application: relative to ServerRoot, with
 * "." and ".." resolved, as it compares it to r->filename. @return it,
 * or NULL when it is not a path. */
static const char *app_file(cmd_parms *cmd, const char *path)
{
    return *path ? ap_server_root_relative(cmd->pool, path) : NULL;
}

/* FastCgiServer FILE [OPTION...]: TracFcgiServer FILE, whose pool has
 * the options' settings and exactly -processes processes (default 1),
 * started with httpd and replaced when they exit; every request for FILE
 * uses it (tf_spec_bound()). */
static const char *fastcgi_server(cmd_parms *cmd, void *dconf,
                                  const char *args)
{
    const char *given = ap_getword_conf(cmd->pool, &args);
    const char *file = app_file(cmd, given), *what, *err;
    tf_dir_conf_t *over = tf_config_dir_create(cmd->pool, NULL);
    app_t app = {"1", NULL, NULL};

    if (!file) {
        return apr_pstrcat(cmd->pool, cmd->cmd->name, ": expected the path "
                           "of the application, then its options", NULL);
    }
    what = apr_pstrcat(cmd->pool, cmd->cmd->name, " ", file, NULL);
    if ((err = read_options(cmd, over, IN_SERVER, what, args, &app))
        != NULL) {
        return err;
    }
    if ((err = native(cmd, over, "TracFcgiMaxProcesses", NULL,
                      app.processes)) != NULL
        || (err = native(cmd, over, "TracFcgiMinProcesses", NULL,
                         app.processes)) != NULL) {
        return apr_psprintf(cmd->pool, "%s: -processes: %s", what, err);
    }
    return native(cmd, dconf, "TracFcgiServer", over, word(cmd->pool, file));
}

/* FastCgiExternalServer FILE -host HOST:PORT | -socket PATH [OPTION...]:
 * TracFcgiExternalServer for the requests whose file is FILE (which
 * need not exist), with the options' settings. A relative -socket is in
 * FastCgiIpcDir (TracFcgiSocketDir), or, with none set before it,
 * mod_fastcgi's default: fastcgi/ under DefaultRuntimeDir. */
static const char *fastcgi_external(cmd_parms *cmd, void *dconf,
                                    const char *args)
{
    const char *given = ap_getword_conf(cmd->pool, &args);
    const char *file = app_file(cmd, given), *what, *err, *addr;
    tf_dir_conf_t *over = tf_config_dir_create(cmd->pool, NULL);
    app_t app = {NULL, NULL, NULL};

    if (!file) {
        return apr_pstrcat(cmd->pool, cmd->cmd->name, ": expected the path "
                           "of the application, then -host HOST:PORT or "
                           "-socket PATH", NULL);
    }
    what = apr_pstrcat(cmd->pool, cmd->cmd->name, " ", file, NULL);
    if ((err = read_options(cmd, over, IN_EXTERNAL, what, args, &app))
        != NULL) {
        return err;
    }
    if (app.host && app.socket) {
        return apr_pstrcat(cmd->pool, what, ": -host and -socket are "
                           "mutually exclusive options", NULL);
    }
    if (!app.host && !app.socket) {
        return apr_pstrcat(cmd->pool, what, ": -socket or -host option "
                           "missing", NULL);
    }
    if (app.host) {
        addr = app.host;
    }
    else if (app.socket[0] == '/') {
        addr = apr_pstrcat(cmd->pool, "unix:", app.socket, NULL);
    }
    else {
        const char *dir = tf_config_srv_get(cmd->server)->socket_dir;

        addr = apr_pstrcat(cmd->pool, "unix:",
                           dir ? apr_pstrcat(cmd->pool, dir, "/",
                                             app.socket, NULL)
                               : ap_runtime_dir_relative(
                                     cmd->pool,
                                     apr_pstrcat(cmd->pool, "fastcgi/",
                                                 app.socket, NULL)),
                           NULL);
    }
    if ((err = native(cmd, dconf, "TracFcgiExternalServer", over,
                      apr_pstrcat(cmd->pool, word(cmd->pool, file), " ",
                                  word(cmd->pool, addr), NULL)))
        != NULL) {
        return apr_pstrcat(cmd->pool, what, ": ", err, NULL);
    }
    return NULL;
}

/* FastCgiConfig [OPTION...]: the settings of dynamic applications (the
 * scripts no FastCgiServer or FastCgiExternalServer names), kept apart
 * (tf_srv_conf_t.dynamic): under every section of their requests, as
 * defaults, and not for the applications that mod_fastcgi does not
 * apply them to either. */
static const char *fastcgi_config(cmd_parms *cmd, void *dconf,
                                  const char *args)
{
    tf_srv_conf_t *sc = tf_config_srv_get(cmd->server);
    const char *err = ap_check_cmd_context(cmd, GLOBAL_ONLY);
    app_t app = {NULL, NULL, NULL};

    if (err) {
        return err;
    }
    if (!sc->dynamic) {
        sc->dynamic = tf_config_dir_create(cmd->pool, NULL);
    }
    return read_options(cmd, sc->dynamic, IN_CONFIG, cmd->cmd->name, args,
                        &app);
}

/* FastCgiAuthenticator (Authorizer, AccessChecker) FILE [-compat]: the
 * native directive with FILE. -compat (Variable- headers under the names
 * of mod_fastcgi 2.2) is said and ignored. */
static const char *fastcgi_auth(cmd_parms *cmd, void *dconf,
                                const char *args)
{
    const compat_t *m = find(cmd->cmd->name);
    const char *file = app_file(cmd, ap_getword_conf(cmd->pool, &args));
    const char *w = ap_getword_conf(cmd->pool, &args);

    if (!file || *args || (*w && strcasecmp(w, "-compat") != 0)) {
        return apr_pstrcat(cmd->pool, cmd->cmd->name, ": expected the path "
                           "of the application, and maybe -compat", NULL);
    }
    if (*w) {
        ignored(cmd, apr_pstrcat(cmd->pool, cmd->cmd->name, " -compat",
                                 NULL),
                "the application's Variable-NAME headers set NAME, as "
                "the FastCGI specification says");
    }
    return native(cmd, dconf, m->native, NULL, word(cmd->pool, file));
}

/* --- mod_fcgid's FcgidCmdOptions ---------------------------------------- */

/* Its options (matched ignoring case, as mod_fcgid) and the native
 * directive each sets; @name_value: the value is NAME[=VALUE], the
 * native directive's two arguments. */
static const struct {
    const char *name;
    const char *native;
    int name_value;
} cmd_opts[] = {
    {"ConnectTimeout", "TracFcgiConnectTimeout", 0},
    {"IdleTimeout", "TracFcgiIdleTimeout", 0},
    {"InitialEnv", "TracFcgiInitEnv", 1},
    {"IOTimeout", "TracFcgiIOTimeout", 0},
    {"MaxProcesses", "TracFcgiMaxProcesses", 0},
    {"MaxRequestsPerProcess", "TracFcgiMaxRequestsPerProcess", 0},
    {"MinProcesses", "TracFcgiMinProcesses", 0},
};

/* FcgidCmdOptions COMMAND OPTION VALUE [OPTION VALUE...]: settings of
 * the processes of COMMAND (a script, or a wrapper's command), over the
 * sections its requests come from (tf_config_cmd_options()).
 * InitialEnv's value is NAME[=VALUE]. */
static const char *fcgid_cmd_options(cmd_parms *cmd, void *dconf,
                                     const char *args)
{
    const char *command = ap_getword_conf(cmd->pool, &args), *w, *v, *err;
    tf_dir_conf_t *over = tf_config_dir_create(cmd->pool, NULL);
    apr_finfo_t fi;
    apr_size_t i;

    if (*command != '/') {
        return apr_pstrcat(cmd->pool, cmd->cmd->name, ": expected the "
                           "absolute path of a command, then its options",
                           NULL);
    }
    if (apr_stat(&fi, command, APR_FINFO_TYPE, cmd->pool) != APR_SUCCESS
        || fi.filetype != APR_REG) {
        return apr_psprintf(cmd->pool, "%s %s: no such file",
                            cmd->cmd->name, command);
    }
    if (!*args) {
        return apr_psprintf(cmd->pool, "%s %s: expected an option",
                            cmd->cmd->name, command);
    }
    while (*(w = ap_getword_conf(cmd->pool, &args)) != '\0') {
        for (i = 0; i < sizeof(cmd_opts) / sizeof(cmd_opts[0]); i++) {
            if (strcasecmp(cmd_opts[i].name, w) == 0) {
                break;
            }
        }
        if (i == sizeof(cmd_opts) / sizeof(cmd_opts[0])) {
            return apr_psprintf(cmd->pool, "%s %s: invalid option: %s",
                                cmd->cmd->name, command, w);
        }
        if (!*(v = ap_getword_conf(cmd->pool, &args))) {
            return apr_psprintf(cmd->pool, "%s %s: %s: expected a value",
                                cmd->cmd->name, command, w);
        }
        if (cmd_opts[i].name_value) {
            const char *eq = strchr(v, '=');

            v = eq ? apr_pstrcat(cmd->pool, word(cmd->pool,
                                                 apr_pstrmemdup(cmd->pool, v,
                                                                eq - v)),
                                 " ", word(cmd->pool, eq + 1), NULL)
                   : word(cmd->pool, v);
        }
        else {
            v = word(cmd->pool, v);
        }
        if ((err = native(cmd, over, cmd_opts[i].native, NULL, v)) != NULL) {
            return apr_psprintf(cmd->pool, "%s %s: %s: %s", cmd->cmd->name,
                                command, w, err);
        }
    }
    tf_config_add_cmd_options(cmd, command, over);
    return NULL;
}

#define WHY_WRAPPER                                                        \
    "mod_tracfcgi starts a backend through httpd's suexec whenever suexec " \
    "is enabled and the request has an identity (SuexecUserGroup, "        \
    "~user), as mod_cgi starts a CGI script"

/* FastCgiWrapper On|Off|PATH: On and Off are what httpd's suexec
 * decides anyway; another wrapper is not run, which must not pass
 * silently (the application would run as another user). */
static const char *fastcgi_wrapper(cmd_parms *cmd, void *dconf,
                                   const char *args)
{
    const char *err = ap_check_cmd_context(cmd, GLOBAL_ONLY);
    const char *w = ap_getword_conf(cmd->pool, &args);

    if (err) {
        return err;
    }
    if (!*w || *args) {
        return apr_pstrcat(cmd->pool, cmd->cmd->name, ": expected On, Off "
                           "or the path of a wrapper", NULL);
    }
    if (strcasecmp(w, "On") == 0) {
        ignored(cmd, apr_pstrcat(cmd->pool, cmd->cmd->name, " On", NULL),
                WHY_WRAPPER ": there is nothing to switch on");
        return NULL;
    }
    if (strcasecmp(w, "Off") == 0) {
        ignored(cmd, apr_pstrcat(cmd->pool, cmd->cmd->name, " Off", NULL),
                WHY_WRAPPER ", and Off does not keep it from that");
        return NULL;
    }
    return apr_psprintf(cmd->pool, "%s %s: a wrapper other than httpd's "
                        "suexec is not supported: %s (FastCgiWrapper On)",
                        cmd->cmd->name, w, WHY_WRAPPER);
}

/* --- Request time and configtest ---------------------------------------- */

int tf_compat_handler(const char *handler)
{
    if (strcmp(handler, "fcgid-script") == 0) {
        return !ap_find_linked_module(FCGID);
    }
    if (strcmp(handler, "fastcgi-script") == 0) {
        return !ap_find_linked_module(FASTCGI);
    }
    return 0;
}

void tf_compat_check(apr_pool_t *pconf)
{
    apr_array_header_t *ign;
    void *v = NULL;
    int i;

    apr_pool_userdata_get(&v, IGNORED_KEY, pconf);
    for (i = 0, ign = v; ign && i < ign->nelts; i++) {
        ap_log_error(APLOG_MARK, APLOG_STARTUP | APLOG_NOTICE, 0, NULL,
                     TFLOGNO(00901) "%s",
                     APR_ARRAY_IDX(ign, i, const char *));
    }
}
