/*
 * tf_compat.h: mod_fcgid's and mod_fastcgi's directive and handler
 * names, accepted with their meaning when that module is not loaded, so
 * that a site's configuration keeps working after `a2dismod fcgid;
 * a2enmod tracfcgi` (or fastcgi). Each maps to the native directive
 * (src/compat.c holds the tables); the knobs that mean nothing here are
 * accepted, and configtest says, one line each, that they are ignored
 * and why. With the module loaded, its own directives win: ours step
 * aside (DECLINE_CMD).
 */
#ifndef TF_COMPAT_H
#define TF_COMPAT_H

#include "httpd.h"
#include "http_config.h"

/** The one handler of every mod_fcgid and mod_fastcgi name (RAW_ARGS). */
const char *tf_compat_directive(cmd_parms *cmd, void *dconf,
                                const char *args);

/* The entries of the module's command table (in tf_config_cmds). */
#define TF_COMPAT_DIR (RSRC_CONF | ACCESS_CONF)
#define TF_COMPAT_AUTH (ACCESS_CONF | OR_AUTHCFG | OR_FILEINFO)
#define TF_COMPAT(name, where)                                              \
    AP_INIT_RAW_ARGS(name, tf_compat_directive, NULL, where,                \
                     "mod_fcgid's or mod_fastcgi's name (mod_tracfcgi: "    \
                     "see README, Migration)")
#define TF_COMPAT_CMDS                                                      \
    TF_COMPAT("FcgidInitialEnv", TF_COMPAT_DIR),                            \
    TF_COMPAT("FcgidMaxProcessesPerClass", TF_COMPAT_DIR),                  \
    TF_COMPAT("FcgidMinProcessesPerClass", TF_COMPAT_DIR),                  \
    TF_COMPAT("FcgidMaxProcesses", RSRC_CONF),                              \
    TF_COMPAT("FcgidIdleTimeout", TF_COMPAT_DIR),                           \
    TF_COMPAT("FcgidIOTimeout", TF_COMPAT_DIR),                             \
    TF_COMPAT("FcgidBusyTimeout", TF_COMPAT_DIR),                           \
    TF_COMPAT("FcgidConnectTimeout", TF_COMPAT_DIR),                        \
    TF_COMPAT("FcgidProcessLifeTime", TF_COMPAT_DIR),                       \
    TF_COMPAT("FcgidMaxRequestsPerProcess", TF_COMPAT_DIR),                 \
    TF_COMPAT("FcgidMaxRequestInMem", TF_COMPAT_DIR),                       \
    TF_COMPAT("FcgidMaxRequestLen", TF_COMPAT_DIR),                         \
    TF_COMPAT("FcgidIPCDir", RSRC_CONF),                                    \
    TF_COMPAT("FcgidPassHeader", TF_COMPAT_DIR),                            \
    TF_COMPAT("FcgidWrapper", TF_COMPAT_DIR | OR_FILEINFO),                 \
    TF_COMPAT("FcgidCmdOptions", RSRC_CONF),                                \
    TF_COMPAT("FcgidAuthenticator", TF_COMPAT_AUTH),                        \
    TF_COMPAT("FcgidAuthenticatorAuthoritative", TF_COMPAT_AUTH),           \
    TF_COMPAT("FcgidAuthorizer", TF_COMPAT_AUTH),                           \
    TF_COMPAT("FcgidAuthorizerAuthoritative", TF_COMPAT_AUTH),              \
    TF_COMPAT("FcgidAccessChecker", TF_COMPAT_AUTH),                        \
    TF_COMPAT("FcgidAccessCheckerAuthoritative", TF_COMPAT_AUTH),           \
    TF_COMPAT("FcgidSpawnScore", RSRC_CONF),                                \
    TF_COMPAT("FcgidSpawnScoreUpLimit", RSRC_CONF),                         \
    TF_COMPAT("FcgidTerminationScore", RSRC_CONF),                          \
    TF_COMPAT("FcgidTimeScore", RSRC_CONF),                                 \
    TF_COMPAT("FcgidIdleScanInterval", RSRC_CONF),                          \
    TF_COMPAT("FcgidBusyScanInterval", RSRC_CONF),                          \
    TF_COMPAT("FcgidErrorScanInterval", RSRC_CONF),                         \
    TF_COMPAT("FcgidZombieScanInterval", RSRC_CONF),                        \
    TF_COMPAT("FcgidProcessTableFile", RSRC_CONF),                          \
    TF_COMPAT("FcgidOutputBufferSize", TF_COMPAT_DIR),                      \
    TF_COMPAT("FcgidFixPathinfo", RSRC_CONF),                               \
    TF_COMPAT("FcgidWin32PreventOrphans", RSRC_CONF),                       \
    TF_COMPAT("FastCgiServer", RSRC_CONF),                                  \
    TF_COMPAT("AppClass", RSRC_CONF),                                       \
    TF_COMPAT("FastCgiExternalServer", RSRC_CONF),                          \
    TF_COMPAT("ExternalAppClass", RSRC_CONF),                               \
    TF_COMPAT("FastCgiConfig", RSRC_CONF),                                  \
    TF_COMPAT("FCGIConfig", RSRC_CONF),                                     \
    TF_COMPAT("FastCgiIpcDir", RSRC_CONF),                                  \
    TF_COMPAT("FastCgiWrapper", RSRC_CONF),                                 \
    TF_COMPAT("FastCgiAuthenticator", TF_COMPAT_AUTH),                      \
    TF_COMPAT("FastCgiAuthenticatorAuthoritative", TF_COMPAT_AUTH),         \
    TF_COMPAT("FastCgiAuthorizer", TF_COMPAT_AUTH),                         \
    TF_COMPAT("FastCgiAuthorizerAuthoritative", TF_COMPAT_AUTH),            \
    TF_COMPAT("FastCgiAccessChecker", TF_COMPAT_AUTH),                      \
    TF_COMPAT("FastCgiAccessCheckerAuthoritative", TF_COMPAT_AUTH),         \
    TF_COMPAT("FastCgiSuexec", RSRC_CONF)

/** @return 1 when @p handler is mod_fcgid's (fcgid-script) or
 *          mod_fastcgi's (fastcgi-script) and that module is not loaded
 *          (the request is ours). */
int tf_compat_handler(const char *handler);

/** configtest: one line for each ignored knob of the configuration. */
void tf_compat_check(apr_pool_t *pconf);

#endif /* TF_COMPAT_H */
