/*
 * tmpfile.c: unlinked temporary files (see tf_tmpfile.h).
 *
 * apr_temp_dir_get() proves a directory by creating and removing a file
 * in it, every time it is called: two more file system operations for
 * each spooled body and each held answer. The directory is looked up
 * once per child instead (the environment does not change under it).
 */
#include "apr_strings.h"

#include "tf_tmpfile.h"

static const char *tmpdir; /* set by child_init; NULL: ask APR each time */

void tf_tmpfile_child_init(apr_pool_t *pchild)
{
    const char *dir;

    if (apr_temp_dir_get(&dir, pchild) == APR_SUCCESS) {
        tmpdir = dir;
    }
}

apr_status_t tf_tmpfile_create(apr_file_t **f, const char *prefix,
                               apr_int32_t flags, apr_pool_t *p,
                               const char **dir)
{
    const char *name;
    apr_status_t rv;
    char *tpl;

    *dir = tmpdir;
    if (!*dir && (rv = apr_temp_dir_get(dir, p)) != APR_SUCCESS) {
        *dir = "(no temporary directory)";
        return rv;
    }
    tpl = apr_pstrcat(p, *dir, "/", prefix, ".XXXXXX", NULL);
    rv = apr_file_mktemp(f, tpl,
                         APR_FOPEN_CREATE | APR_FOPEN_READ | APR_FOPEN_WRITE
                             | APR_FOPEN_EXCL | flags,
                         p);
    if (rv != APR_SUCCESS) {
        return rv;
    }
    if (apr_file_name_get(&name, *f) == APR_SUCCESS) {
        apr_file_remove(name, p);
    }
    return APR_SUCCESS;
}
