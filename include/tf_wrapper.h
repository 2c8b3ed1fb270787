/*
 * tf_wrapper.h: TracFcgiWrapper (mod_fcgid's FcgidWrapper): the files of
 * a section, or those with a suffix, are served by processes of one
 * command (php-cgi, a starter script) instead of being run themselves.
 * The pool is the command's: a directory of a hundred .php files is one
 * pool, and the file reaches the command as SCRIPT_FILENAME.
 */
#ifndef TF_WRAPPER_H
#define TF_WRAPPER_H

#include "apr_pools.h"
#include "apr_tables.h"

typedef struct {
    const char *cmdline;          /* as configured, for names and keys */
    const char *const *argv;      /* the command and its arguments;
                                   * argv[0] an absolute path */
    const char *suffix;           /* ".php", or NULL: every file */
    int virtual_files;            /* "virtual": the file need not exist */
} tf_wrapper_t;

/**
 * Read TracFcgiWrapper's arguments: COMMAND [SUFFIX] [virtual], COMMAND
 * quoted when it has arguments. The command must be an absolute path to
 * an executable file.
 * @return NULL with @p out filled, or the error for configtest.
 */
const char *tf_wrapper_parse(apr_pool_t *p, const char *args,
                             tf_wrapper_t *out);

/**
 * @return NULL when @p path is an absolute path to an executable file,
 *         else why not ("PATH: no such file", ...): for TracFcgiWrapper's
 *         command and the authorizers' (src/config.c).
 */
const char *tf_command_check(apr_pool_t *p, const char *path);

/**
 * @return @p base's wrappers with @p add's over them (by suffix, the one
 *         without a suffix being one more), as mod_fcgid merges its
 *         sections: arrays of const tf_wrapper_t *.
 */
apr_array_header_t *tf_wrapper_merge(apr_pool_t *p,
                                     const apr_array_header_t *base,
                                     const apr_array_header_t *add);

/** Put @p w into @p list, replacing the one with its suffix. */
void tf_wrapper_set(apr_array_header_t *list, const tf_wrapper_t *w);

/**
 * @return the wrapper of @p wrappers that serves @p filename: the one of
 *         its suffix (the file name's last ".xxx", as mod_fcgid takes
 *         it), else the one without a suffix; or NULL: the file runs
 *         itself.
 */
const tf_wrapper_t *tf_wrapper_for(const apr_array_header_t *wrappers,
                                   const char *filename);

#endif /* TF_WRAPPER_H */
