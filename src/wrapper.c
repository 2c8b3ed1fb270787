/*
 * wrapper.c: TracFcgiWrapper (see tf_wrapper.h).
 *
 * Configuration time reads the directive; request time finds a file's
 * wrapper by suffix in the merged section. Which command runs, and under
 * whose identity, is src/spec.c's business: the wrapper takes the
 * script's place there.
 */
#include <string.h>

#include "apr_file_info.h"
#include "apr_strings.h"

#include "tf_wrapper.h"

#define VIRTUAL_FLAG "virtual"

const char *tf_command_check(apr_pool_t *p, const char *path)
{
    apr_finfo_t fi;

    if (path[0] != '/') {
        return apr_psprintf(p, "%s: the command must be an absolute path",
                            path);
    }
    if (apr_stat(&fi, path, APR_FINFO_TYPE | APR_FINFO_PROT, p)
        != APR_SUCCESS) {
        return apr_psprintf(p, "%s: no such file", path);
    }
    if (fi.filetype != APR_REG
        || !(fi.protection & (APR_UEXECUTE | APR_GEXECUTE | APR_WEXECUTE))) {
        return apr_psprintf(p, "%s: not an executable file", path);
    }
    return NULL;
}

const char *tf_wrapper_parse(apr_pool_t *p, const char *args,
                             tf_wrapper_t *out)
{
    char **words, **argv;
    const char *err;
    int n;

    memset(out, 0, sizeof(*out));
    if (apr_tokenize_to_argv(args, &words, p) != APR_SUCCESS || !words[0]) {
        return "expected COMMAND [SUFFIX] [virtual]";
    }
    for (n = 0; words[n]; n++) {
    }
    if (n > 3) {
        return "expected COMMAND [SUFFIX] [virtual]: quote a command "
               "that has arguments";
    }
    /* mod_fcgid takes "COMMAND virtual" as a wrapper of every file */
    if (n >= 2 && strcmp(words[n - 1], VIRTUAL_FLAG) == 0) {
        out->virtual_files = 1;
        n--;
    }
    if (n == 3) {
        return apr_psprintf(p, "'%s' is neither a suffix nor 'virtual'",
                            words[2]);
    }
    if (n == 2) {
        if (words[1][0] != '.' || !words[1][1] || strchr(words[1], '/')) {
            return apr_psprintf(p, "suffix '%s': expected one that starts "
                                "with a dot, as .php", words[1]);
        }
        out->suffix = words[1];
    }
    if (apr_tokenize_to_argv(words[0], &argv, p) != APR_SUCCESS
        || !argv[0]) {
        return "expected a command";
    }
    if ((err = tf_command_check(p, argv[0])) != NULL) {
        return err;
    }
    out->cmdline = words[0];
    out->argv = (const char *const *)argv;
    return NULL;
}

static int same_suffix(const tf_wrapper_t *a, const tf_wrapper_t *b)
{
    return a->suffix == b->suffix
           || (a->suffix && b->suffix && strcmp(a->suffix, b->suffix) == 0);
}

void tf_wrapper_set(apr_array_header_t *list, const tf_wrapper_t *w)
{
    int i;

    for (i = 0; i < list->nelts; i++) {
        if (same_suffix(APR_ARRAY_IDX(list, i, const tf_wrapper_t *), w)) {
            APR_ARRAY_IDX(list, i, const tf_wrapper_t *) = w;
            return;
        }
    }
    APR_ARRAY_PUSH(list, const tf_wrapper_t *) = w;
}

apr_array_header_t *tf_wrapper_merge(apr_pool_t *p,
                                     const apr_array_header_t *base,
                                     const apr_array_header_t *add)
{
    apr_array_header_t *out;
    int i;

    if (!base || !add) {
        return (apr_array_header_t *)(add ? add : base);
    }
    out = apr_array_copy(p, base);
    for (i = 0; i < add->nelts; i++) {
        tf_wrapper_set(out, APR_ARRAY_IDX(add, i, const tf_wrapper_t *));
    }
    return out;
}

const tf_wrapper_t *tf_wrapper_for(const apr_array_header_t *wrappers,
                                   const char *filename)
{
    const tf_wrapper_t *all = NULL;
    const char *dot;
    int i;

    if (!wrappers || !filename) {
        return NULL;
    }
    dot = strrchr(filename, '.');
    if (dot && strchr(dot, '/')) {
        dot = NULL; /* a dot in a directory's name */
    }
    for (i = 0; i < wrappers->nelts; i++) {
        const tf_wrapper_t *w = APR_ARRAY_IDX(wrappers, i,
                                              const tf_wrapper_t *);

        if (!w->suffix) {
            all = w;
        }
        else if (dot && strcmp(w->suffix, dot) == 0) {
            return w;
        }
    }
    return all;
}
