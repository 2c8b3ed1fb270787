/*
 * compat.c: mod_fcgid's names (see tf_compat.h). One table maps each
 * directive to the native one, which is called with the same arguments
 * (and its own cmd_parms identity), or marks it ignored with the reason
 * configtest gives. Runs at configuration time in the httpd parent
 * (directives never log: the ignored ones are remembered and said by
 * tf_compat_check()), and at request time for the handler names.
 */
#include <string.h>

#include "apr_strings.h"
#include "httpd.h"
#include "http_config.h"
#include "http_log.h"

#include "tf_compat.h"
#include "tf_config.h"
#include "tf_private.h"

#define IGNORED_KEY "tracfcgi-compat-ignored"

typedef struct {
    const char *name;     /* mod_fcgid's */
    const char *native;   /* ours, or NULL: ignored */
    const char *why;      /* ignored: the reason configtest gives */
} compat_t;

static const compat_t table[] = {
    {"FcgidInitialEnv", "TracFcgiInitEnv", NULL},
    {"FcgidMaxProcessesPerClass", "TracFcgiMaxProcesses", NULL},
    {"FcgidMinProcessesPerClass", "TracFcgiMinProcesses", NULL},
    {"FcgidMaxProcesses", "TracFcgiMaxProcessesTotal", NULL},
    {"FcgidIdleTimeout", "TracFcgiIdleTimeout", NULL},
    {"FcgidIOTimeout", "TracFcgiIOTimeout", NULL},
    {"FcgidConnectTimeout", "TracFcgiConnectTimeout", NULL},
    {"FcgidProcessLifeTime", "TracFcgiProcessLifetime", NULL},
    {"FcgidMaxRequestsPerProcess", "TracFcgiMaxRequestsPerProcess", NULL},
    {"FcgidMaxRequestInMem", "TracFcgiBodyInMemory", NULL},
    {"FcgidMaxRequestLen", "TracFcgiMaxRequestLen", NULL},
    {"FcgidIPCDir", "TracFcgiSocketDir", NULL},
    {"FcgidPassHeader", "TracFcgiPassHeader", NULL},
    {"FcgidSpawnScore", NULL, "a process is started as soon as a request "
     "finds none free, within TracFcgiMaxProcesses: there is no spawn "
     "score"},
    {"FcgidSpawnScoreUpLimit", NULL, "there is no spawn score (see "
     "FcgidSpawnScore)"},
    {"FcgidTerminationScore", NULL, "there is no spawn score (see "
     "FcgidSpawnScore)"},
    {"FcgidTimeScore", NULL, "there is no spawn score (see "
     "FcgidSpawnScore)"},
    {"FcgidIdleScanInterval", NULL, "the process manager looks once a "
     "second"},
    {"FcgidBusyScanInterval", NULL, "the process manager looks once a "
     "second"},
    {"FcgidErrorScanInterval", NULL, "the process manager reaps a process "
     "the moment it exits"},
    {"FcgidZombieScanInterval", NULL, "the process manager reaps a process "
     "the moment it exits"},
    {"FcgidProcessTableFile", NULL, "the process table is anonymous "
     "shared memory"},
    {"FcgidOutputBufferSize", NULL, "an answer's first 64 KiB are passed "
     "on as they come, the rest is read into TracFcgiResponseBuffer "
     "(default 16M) so that a slow client does not hold the backend"},
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

/* Call the native directive @c with @args, as httpd would have. */
static const char *call_native(cmd_parms *cmd, void *dconf,
                               const command_rec *c, const char *args)
{
    const command_rec *old = cmd->cmd;
    void *old_info = cmd->info;
    const char *w1, *w2, *err = NULL;

    cmd->cmd = c;
    cmd->info = (void *)c->cmd_data;
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
    default:
        err = apr_pstrcat(cmd->pool, old->name, ": not mapped", NULL);
    }
    cmd->cmd = old;
    cmd->info = old_info;
    return err;
}

const char *tf_compat_directive(cmd_parms *cmd, void *dconf,
                                const char *args)
{
    const compat_t *m = find(cmd->cmd->name);
    const command_rec *c;
    void *v = NULL;

    if (ap_find_linked_module("mod_fcgid.c")) {
        return DECLINE_CMD; /* mod_fcgid is loaded: its own */
    }
    if (!m) {
        return apr_pstrcat(cmd->pool, cmd->cmd->name, ": not mapped", NULL);
    }
    if (!m->native) {
        apr_array_header_t *ign;

        apr_pool_userdata_get(&v, IGNORED_KEY, cmd->pool);
        if (!(ign = v)) {
            ign = apr_array_make(cmd->pool, 4, sizeof(const char *));
            apr_pool_userdata_set(ign, IGNORED_KEY, apr_pool_cleanup_null,
                                  cmd->pool);
        }
        APR_ARRAY_PUSH(ign, const char *) = apr_psprintf(
            cmd->pool, "%s (%s:%d) is ignored: %s", m->name,
            cmd->directive ? cmd->directive->filename : "?",
            cmd->directive ? cmd->directive->line_num : 0, m->why);
        return NULL;
    }
    for (c = tf_config_cmds; c->name; c++) {
        if (strcmp(c->name, m->native) == 0) {
            return call_native(cmd, dconf, c, args);
        }
    }
    return apr_pstrcat(cmd->pool, cmd->cmd->name, ": no ", m->native, NULL);
}

int tf_compat_handler(const char *handler)
{
    return strcmp(handler, "fcgid-script") == 0
           && !ap_find_linked_module("mod_fcgid.c");
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
