/*
 * httpd_stubs.c: the httpd functions and data that src/config.c and
 * src/spec.c call, for unit tests that run without httpd (lighttpd's way:
 * link the file under test with stubs). These are exactly the symbols the
 * linker asks for; each does the least its callers need, and one that is
 * reached where httpd itself would not be, or with input it does not
 * model, aborts with a message rather than answer something made up.
 *
 * tf_stub_directive() stands in for httpd's configuration reader, so that
 * tests set configuration through the module's own directive table.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "apr_file_info.h"
#include "apr_lib.h"
#include "apr_strings.h"

#include "httpd_stubs.h"
#include "http_log.h"

/* module_index 0: tests keep the module's configuration at index 0 of
 * their per-server and per-directory vectors (set by static storage) */
module AP_MODULE_DECLARE_DATA tracfcgi_module;

/* User, Group and suexec as the tests set them (static storage: uid 0,
 * gid 0, suexec off) */
AP_DECLARE_DATA unixd_config_rec ap_unixd_config;

ap_unix_identity_t *tf_stub_suexec_identity;
const request_rec *tf_stub_suexec_request;

static void stub_abort(const char *what)
{
    fprintf(stderr, "httpd_stubs: %s\n", what);
    fflush(stderr);
    abort();
}

AP_DECLARE(ap_unix_identity_t *) ap_run_get_suexec_identity(
    const request_rec *r)
{
    /* mod_suexec answers only when suexec is on, and every caller in the
     * module checks that first */
    if (!ap_unixd_config.suexec_enabled) {
        stub_abort("get_suexec_identity asked with suexec off");
    }
    tf_stub_suexec_request = r;
    return tf_stub_suexec_identity;
}

/* src/compat.c asks whether mod_fcgid is loaded: here it never is,
 * unless a test says so */
const char *tf_stub_linked_module = NULL;

AP_DECLARE(module *) ap_find_linked_module(const char *name)
{
    static module m;

    return tf_stub_linked_module && strcmp(name, tf_stub_linked_module) == 0
               ? &m : NULL;
}

/* src/compat.c logs at configtest only: not in these tests */
AP_DECLARE(void) ap_log_error_(const char *file, int line, int module_index,
                               int level, apr_status_t status,
                               const server_rec *s, const char *fmt, ...)
{
    stub_abort("ap_log_error");
}

AP_DECLARE(int) ap_cstr_casecmp(const char *s1, const char *s2)
{
    const unsigned char *a = (const unsigned char *)s1;
    const unsigned char *b = (const unsigned char *)s2;

    while (apr_tolower(*a) == apr_tolower(*b)) {
        if (*a == '\0') {
            return 0;
        }
        a++;
        b++;
    }
    return apr_tolower(*a) - apr_tolower(*b);
}

/* Words separated by white space; quoting is not modelled. */
AP_DECLARE(char *) ap_getword_conf(apr_pool_t *p, const char **line)
{
    const char *s = *line, *start;
    char *word;

    while (apr_isspace(*s)) {
        s++;
    }
    if (*s == '"' || *s == '\'' || strchr(s, '\\')) {
        stub_abort("ap_getword_conf: quoting is not modelled");
    }
    start = s;
    while (*s && !apr_isspace(*s)) {
        s++;
    }
    word = apr_pstrmemdup(p, start, (apr_size_t)(s - start));
    while (apr_isspace(*s)) {
        s++;
    }
    *line = s;
    return word;
}

static char *merge_path(apr_pool_t *p, const char *root, const char *fname)
{
    char *out;

    if (apr_filepath_merge(&out, root, fname, APR_FILEPATH_TRUENAME, p)
        != APR_SUCCESS) {
        return NULL;
    }
    return out;
}

AP_DECLARE(char *) ap_server_root_relative(apr_pool_t *p, const char *fname)
{
    return merge_path(p, TF_STUB_SERVER_ROOT, fname);
}

AP_DECLARE(char *) ap_runtime_dir_relative(apr_pool_t *p, const char *fname)
{
    return merge_path(p, TF_STUB_RUNTIME_DIR, fname);
}

/* GLOBAL_ONLY and its parts; a section is known only as cmd->path set. */
AP_DECLARE(const char *) ap_check_cmd_context(cmd_parms *cmd,
                                              unsigned forbidden)
{
    if (forbidden & ~(unsigned)GLOBAL_ONLY) {
        stub_abort("ap_check_cmd_context: only GLOBAL_ONLY is modelled");
    }
    if ((forbidden & NOT_IN_VIRTUALHOST) && cmd->server->is_virtual) {
        return apr_pstrcat(cmd->pool, cmd->cmd->name,
                           " cannot occur within <VirtualHost> section",
                           NULL);
    }
    if ((forbidden & NOT_IN_LIMIT) && cmd->limited != -1) {
        return apr_pstrcat(cmd->pool, cmd->cmd->name,
                           " cannot occur within <Limit> section", NULL);
    }
    if ((forbidden & (NOT_IN_DIR_LOC_FILE | NOT_IN_PROXY)) && cmd->path) {
        return apr_pstrcat(cmd->pool, cmd->cmd->name,
                           " cannot occur within <Directory/Location/Files> "
                           "section",
                           NULL);
    }
    return NULL;
}

const char *tf_stub_directive(const command_rec *cmds, cmd_parms *cmd,
                              void *mconfig, const char *name, ...)
{
    const command_rec *c;
    const char *w[16], *a; /* mod_fastcgi's directives take many */
    va_list ap;
    int n = 0, i;

    va_start(ap, name);
    while ((a = va_arg(ap, const char *)) != NULL) {
        if (n == (int)(sizeof(w) / sizeof(w[0]))) {
            stub_abort("tf_stub_directive: too many arguments");
        }
        w[n++] = a;
    }
    va_end(ap);

    for (c = cmds; c->name; c++) {
        if (ap_cstr_casecmp(c->name, name) == 0) {
            break;
        }
    }
    if (!c->name) {
        return apr_psprintf(cmd->pool, "Invalid command '%s'", name);
    }
    if (!(c->req_override & cmd->override)) {
        return apr_pstrcat(cmd->pool, c->name, " not allowed here", NULL);
    }
    cmd->cmd = c;
    cmd->info = c->cmd_data;
    switch (c->args_how) {
    case RAW_ARGS: {
        const char *args = "";

        for (i = 0; i < n; i++) {
            args = apr_pstrcat(cmd->pool, args, i ? " " : "", w[i], NULL);
        }
        return c->AP_RAW_ARGS(cmd, mconfig, args);
    }
    case TAKE1:
        if (n != 1) {
            return apr_pstrcat(cmd->pool, c->name, " takes one argument",
                               NULL);
        }
        return c->AP_TAKE1(cmd, mconfig, w[0]);
    case TAKE2:
        if (n != 2) {
            return apr_pstrcat(cmd->pool, c->name, " takes two arguments",
                               NULL);
        }
        return c->AP_TAKE2(cmd, mconfig, w[0], w[1]);
    case TAKE12:
        if (n < 1 || n > 2) {
            return apr_pstrcat(cmd->pool, c->name, " takes 1-2 arguments",
                               NULL);
        }
        return c->AP_TAKE2(cmd, mconfig, w[0], n > 1 ? w[1] : NULL);
    case ITERATE: {
        const char *err = NULL;

        if (n < 1) {
            return apr_pstrcat(cmd->pool, c->name, " requires at least one "
                               "argument", NULL);
        }
        for (i = 0; i < n && !err; i++) {
            err = c->AP_TAKE1(cmd, mconfig, w[i]);
        }
        return err;
    }
    case FLAG:
        if (n != 1 || (ap_cstr_casecmp(w[0], "on") != 0
                       && ap_cstr_casecmp(w[0], "off") != 0)) {
            return apr_pstrcat(cmd->pool, c->name, " must be On or Off",
                               NULL);
        }
        return c->AP_FLAG(cmd, mconfig, ap_cstr_casecmp(w[0], "on") == 0);
    default:
        stub_abort("tf_stub_directive: args_how not modelled");
    }
    return NULL;
}
