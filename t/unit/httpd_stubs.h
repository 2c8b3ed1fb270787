/*
 * httpd_stubs.h: the stand-ins for httpd that the unit tests of
 * src/config.c and src/spec.c link against (t/unit/httpd_stubs.c), and
 * the knobs a test turns on them.
 */
#ifndef TF_HTTPD_STUBS_H
#define TF_HTTPD_STUBS_H

#include "httpd.h"
#include "http_config.h"
#include "unixd.h"

/* ServerRoot and DefaultRuntimeDir as the stand-ins see them */
#define TF_STUB_SERVER_ROOT "/stub/server-root"
#define TF_STUB_RUNTIME_DIR "/stub/server-root/run"

/** What ap_run_get_suexec_identity() answers (NULL: no identity). */
extern ap_unix_identity_t *tf_stub_suexec_identity;

/** The request ap_run_get_suexec_identity() was last asked about. */
extern const request_rec *tf_stub_suexec_request;

/**
 * Run one directive of @p cmds as httpd's configuration reader would: find
 * it by name (case-insensitively), refuse it where its req_override does
 * not allow it (@p cmd->override: RSRC_CONF at server or virtual-host
 * level, ACCESS_CONF inside <Directory>/<Location>/<Files>), check the
 * number of arguments for its args_how, set cmd->cmd and cmd->info and
 * call it with @p mconfig.
 * @param ...  the words of its arguments, then NULL (RAW_ARGS: joined
 *             with one space).
 * @return NULL, or the error message httpd would report.
 */
const char *tf_stub_directive(const command_rec *cmds, cmd_parms *cmd,
                              void *mconfig, const char *name, ...);

/* The module ap_find_linked_module() finds (NULL: none). */
extern const char *tf_stub_linked_module;

#endif /* TF_HTTPD_STUBS_H */
