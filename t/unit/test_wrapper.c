/*
 * test_wrapper.c: TracFcgiWrapper's arguments, its lookup by suffix and
 * how sections merge (src/wrapper.c), as mod_fcgid's FcgidWrapper.
 */
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "apr_general.h"
#include "apr_strings.h"

#include "tf_test.h"
#include "tf_wrapper.h"

static apr_pool_t *p;
static char exe[64], plain[64];

static const tf_wrapper_t *parse(const char *args, const char **err)
{
    tf_wrapper_t *w = apr_palloc(p, sizeof(*w));

    *err = tf_wrapper_parse(p, args, w);
    return *err ? NULL : w;
}

static void test_parse(void)
{
    const tf_wrapper_t *w;
    const char *err;

    w = parse(exe, &err);
    TF_CHECK("a command alone: every file", w && !w->suffix
                                                && !w->virtual_files
                                                && !strcmp(w->argv[0], exe)
                                                && !w->argv[1]);
    w = parse(apr_pstrcat(p, exe, " .php", NULL), &err);
    TF_CHECK("a suffix", w && w->suffix && !strcmp(w->suffix, ".php"));
    w = parse(apr_pstrcat(p, exe, " .php virtual", NULL), &err);
    TF_CHECK("a suffix, virtual", w && w->virtual_files
                                      && !strcmp(w->suffix, ".php"));
    w = parse(apr_pstrcat(p, exe, " virtual", NULL), &err);
    TF_CHECK("virtual without a suffix (mod_fcgid)",
             w && w->virtual_files && !w->suffix);
    w = parse(apr_pstrcat(p, "\"", exe, " -d memory_limit=77M -c /x\" .php",
                          NULL), &err);
    TF_CHECK("a quoted command's arguments",
             w && !strcmp(w->argv[0], exe)
                 && !strcmp(w->argv[1], "-d")
                 && !strcmp(w->argv[2], "memory_limit=77M")
                 && !strcmp(w->argv[4], "/x") && !w->argv[5]
                 && !strcmp(w->cmdline,
                            apr_pstrcat(p, exe, " -d memory_limit=77M -c /x",
                                        NULL)));

    TF_CHECK("nothing", !parse("", &err) && err);
    TF_CHECK("relative", !parse("php-cgi .php", &err)
                             && strstr(err, "absolute"));
    TF_CHECK("missing", !parse("/nonexistent/php-cgi .php", &err)
                            && strstr(err, "no such file"));
    TF_CHECK("not executable", !parse(plain, &err)
                                   && strstr(err, "not an executable"));
    TF_CHECK("a directory", !parse("/tmp", &err)
                                && strstr(err, "not an executable"));
    TF_CHECK("suffix without a dot",
             !parse(apr_pstrcat(p, exe, " php", NULL), &err)
                 && strstr(err, "dot"));
    TF_CHECK("suffix of a dot alone",
             !parse(apr_pstrcat(p, exe, " .", NULL), &err));
    TF_CHECK("suffix with a slash",
             !parse(apr_pstrcat(p, exe, " .a/b", NULL), &err));
    TF_CHECK("an unknown flag",
             !parse(apr_pstrcat(p, exe, " .php virtul", NULL), &err)
                 && strstr(err, "virtul"));
    TF_CHECK("unquoted arguments",
             !parse(apr_pstrcat(p, exe, " -d x=1 .php", NULL), &err)
                 && strstr(err, "quote"));
}

static apr_array_header_t *list(const tf_wrapper_t *a, const tf_wrapper_t *b)
{
    apr_array_header_t *l = apr_array_make(p, 2,
                                           sizeof(const tf_wrapper_t *));

    if (a) {
        tf_wrapper_set(l, a);
    }
    if (b) {
        tf_wrapper_set(l, b);
    }
    return l;
}

static void test_lookup_and_merge(void)
{
    const char *err;
    const tf_wrapper_t *php = parse(apr_pstrcat(p, exe, " .php", NULL), &err);
    const tf_wrapper_t *php2 = parse(apr_pstrcat(p, "\"", exe, " -n\" .php",
                                                 NULL), &err);
    const tf_wrapper_t *all = parse(exe, &err);
    apr_array_header_t *outer = list(php, all), *m;

    TF_CHECK("by suffix", tf_wrapper_for(outer, "/www/a.php") == php);
    TF_CHECK("else the one without", tf_wrapper_for(outer, "/www/a.py")
                                         == all);
    TF_CHECK("no suffix at all", tf_wrapper_for(outer, "/www/README")
                                     == all);
    TF_CHECK("a dot in a directory is no suffix",
             tf_wrapper_for(list(php, NULL), "/www/v1.php/run") == NULL);
    TF_CHECK("the last suffix", tf_wrapper_for(list(php, NULL),
                                               "/www/a.php.bak") == NULL);
    TF_CHECK("suffixes are case-sensitive, as mod_fcgid's",
             tf_wrapper_for(list(php, NULL), "/www/a.PHP") == NULL);
    TF_CHECK("none configured", tf_wrapper_for(NULL, "/www/a.php") == NULL);
    TF_CHECK("the same suffix again replaces",
             list(php, php2)->nelts == 1
                 && tf_wrapper_for(list(php, php2), "/a.php") == php2);

    m = tf_wrapper_merge(p, outer, list(php2, NULL));
    TF_CHECK("inner section wins for its suffix",
             tf_wrapper_for(m, "/a.php") == php2);
    TF_CHECK("outer's other wrappers stay",
             tf_wrapper_for(m, "/a.py") == all);
    TF_CHECK("merging leaves the outer section alone",
             tf_wrapper_for(outer, "/a.php") == php);
    TF_CHECK("merge with nothing", tf_wrapper_merge(p, outer, NULL) == outer
                                       && tf_wrapper_merge(p, NULL, outer)
                                              == outer);
}

int main(void)
{
    FILE *f;
    int rc;

    apr_initialize();
    apr_pool_create(&p, NULL);
    snprintf(exe, sizeof(exe), "/tmp/tf-wrapper-x.%d", (int)getpid());
    snprintf(plain, sizeof(plain), "/tmp/tf-wrapper-r.%d", (int)getpid());
    if (!(f = fopen(exe, "w")) || fclose(f) || chmod(exe, 0755)
        || !(f = fopen(plain, "w")) || fclose(f) || chmod(plain, 0644)) {
        perror("test files");
        return 1;
    }
    test_parse();
    test_lookup_and_merge();
    unlink(exe);
    unlink(plain);
    rc = TF_REPORT();
    apr_pool_destroy(p);
    apr_terminate();
    return rc;
}
