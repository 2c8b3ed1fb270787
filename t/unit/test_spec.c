/*
 * test_spec.c: the backend spec and pool key (src/spec.c). The key keeps
 * tenants apart: it hashes the script, the identity (User/Group, or the
 * suexec one), the virtual host and the resolved spawn environment, so
 * any one difference there gives another key, and the same inputs give
 * the same key in every process. The table below lists configurations in
 * groups: two rows of one group must share a key, rows of two groups must
 * not; it includes the cases that a hash of the fields run together would
 * confuse (characters that shift from one field, or one variable, to the
 * next). Then what the spec holds, the request and TracFcgiServer paths
 * agreeing on the key, the status page's environment summary and the
 * variables suexec will drop.
 *
 * Configuration is set through the module's directive table
 * (src/config.c), as httpd would; links APR and t/unit/httpd_stubs.c.
 */
#include <stdlib.h>
#include <string.h>

#include "apr_general.h"
#include "apr_strings.h"

#include "tf_config.h"
#include "tf_spec.h"
#include "tf_wrapper.h"
#include "httpd_stubs.h"
#include "tf_test.h"

#define HTTPD_PATH "/usr/bin:/bin" /* httpd's own PATH in these tests */

typedef struct {
    const char *words[4]; /* directive and arguments */
} line_t;

typedef struct {
    const char *what;
    int same;           /* rows with the same number share a key */
    const char *script; /* NULL: /srv/a.fcgi */
    const char *vfile;  /* virtual host defined in vfile:vline; NULL: main */
    int vline;
    long user, group;   /* User and Group; 0: 1000 */
    int su;             /* 1: a suexec identity (su_uid, su_gid, userdir) */
    long su_uid, su_gid;
    int userdir;
    line_t outer[4];    /* at server or virtual-host level */
    line_t inner[4];    /* in a <Location> */
    const char *env_name, *env_value; /* in httpd's environment */
} key_case_t;

static const key_case_t key_cases[] = {
    {.what = "base", .same = 1},
    {.what = "base again", .same = 1},
    {.what = "a TracFcgiParam is sent per request, not spawned with",
     .same = 1, .outer = {{{"TracFcgiParam", "x.y", "1"}}}},
    {.what = "limits are not part of the key (README: TF00443)", .same = 1,
     .outer = {{{"TracFcgiMaxProcesses", "9"}},
               {{"TracFcgiIdleTimeout", "7"}}}},
    {.what = "TracFcgiPassEnv of a variable httpd does not have",
     .same = 1, .outer = {{{"TracFcgiPassEnv", "TF_TEST_UNSET"}}}},
    {.what = "PATH set to what httpd has: the same environment", .same = 1,
     .outer = {{{"TracFcgiInitEnv", "PATH", HTTPD_PATH}}}},

    {.what = "another script", .same = 2, .script = "/srv/b.fcgi"},
    {.what = "the script one character shorter", .same = 3,
     .script = "/srv/a.fcg"},
    {.what = "a script in another directory", .same = 4,
     .script = "/srv/x/a.fcgi"},

    {.what = "a virtual host", .same = 5, .vfile = "x.conf", .vline = 10},
    {.what = "the same virtual host", .same = 5, .vfile = "x.conf",
     .vline = 10},
    {.what = "a virtual host on the next line", .same = 6,
     .vfile = "x.conf", .vline = 11},
    {.what = "a virtual host in another file", .same = 7,
     .vfile = "y.conf", .vline = 10},
    {.what = "a virtual host defined in a file named main", .same = 8,
     .vfile = "main", .vline = 1},

    {.what = "another User", .same = 9, .user = 1001},
    {.what = "another Group (1000:1001, the row above swapped)",
     .same = 10, .group = 1001},
    {.what = "suexec identity equal to User and Group", .same = 12,
     .su = 1, .su_uid = 1000, .su_gid = 1000},
    {.what = "the same through ~user (UserDir)", .same = 13, .su = 1,
     .su_uid = 1000, .su_gid = 1000, .userdir = 1},
    {.what = "suexec as root", .same = 14, .su = 1},
    {.what = "suexec, another group", .same = 15, .su = 1, .su_uid = 1000,
     .su_gid = 1001},

    {.what = "InitEnv A 1", .same = 16,
     .outer = {{{"TracFcgiInitEnv", "A", "1"}}}},
    {.what = "DefaultInitEnv A 1 (alias)", .same = 16,
     .outer = {{{"DefaultInitEnv", "A", "1"}}}},
    {.what = "InitEnv A 1 in a Location", .same = 16,
     .inner = {{{"TracFcgiInitEnv", "A", "1"}}}},
    {.what = "InitEnv A 2", .same = 17,
     .outer = {{{"TracFcgiInitEnv", "A", "2"}}}},
    {.what = "InitEnv A 2 in a Location over A 1", .same = 17,
     .outer = {{{"TracFcgiInitEnv", "A", "1"}}},
     .inner = {{{"TracFcgiInitEnv", "A", "2"}}}},
    {.what = "InitEnv B 1", .same = 18,
     .outer = {{{"TracFcgiInitEnv", "B", "1"}}}},
    {.what = "InitEnv A (empty value) is not no variable", .same = 19,
     .outer = {{{"TracFcgiInitEnv", "A"}}}},

    {.what = "TracEnv /srv/t1", .same = 20,
     .outer = {{{"TracEnv", "/srv/t1"}}}},
    {.what = "TRAC_ENV /srv/t1 by InitEnv: the same environment",
     .same = 20, .outer = {{{"TracFcgiInitEnv", "TRAC_ENV", "/srv/t1"}}}},
    {.what = "TracEnv /srv/t2", .same = 21,
     .outer = {{{"TracEnv", "/srv/t2"}}}},
    {.what = "TracEnv /srv/t2 in a Location over the vhost's /srv/t1",
     .same = 21, .outer = {{{"TracEnv", "/srv/t1"}}},
     .inner = {{{"TracEnv", "/srv/t2"}}}},
    {.what = "TracEnvParentDir /srv/t1", .same = 22,
     .outer = {{{"TracEnvParentDir", "/srv/t1"}}}},
    {.what = "TracEnvIndexTemplate /srv/t1", .same = 23,
     .outer = {{{"TracEnvIndexTemplate", "/srv/t1"}}}},
    {.what = "PYTHON_EGG_CACHE set to another place than TracEnv's",
     .same = 24, .outer = {{{"TracEnv", "/srv/t1"}},
                           {{"TracFcgiInitEnv", "PYTHON_EGG_CACHE", "/e"}}}},

    {.what = "TracFcgiPassEnv of a variable httpd has", .same = 25,
     .outer = {{{"TracFcgiPassEnv", "TF_TEST_PASS"}}},
     .env_name = "TF_TEST_PASS", .env_value = "v1"},
    {.what = "the same value by InitEnv: the same environment", .same = 25,
     .outer = {{{"TracFcgiInitEnv", "TF_TEST_PASS", "v1"}}}},
    {.what = "TracFcgiPassEnv, httpd has another value", .same = 26,
     .outer = {{{"TracFcgiPassEnv", "TF_TEST_PASS"}}},
     .env_name = "TF_TEST_PASS", .env_value = "v2"},
    {.what = "TracFcgiInitEnv wins over TracFcgiPassEnv", .same = 27,
     .outer = {{{"TracFcgiPassEnv", "TF_TEST_PASS"}},
               {{"TracFcgiInitEnv", "TF_TEST_PASS", "v3"}}},
     .env_name = "TF_TEST_PASS", .env_value = "v1"},
    {.what = "PATH of its own", .same = 28,
     .outer = {{{"TracFcgiInitEnv", "PATH", "/opt/bin"}}}},

    /* a run-together hash would confuse each pair below */
    {.what = "one variable A='b C=d'", .same = 40,
     .outer = {{{"TracFcgiInitEnv", "A", "b C=d"}}}},
    {.what = "two variables A=b C=d", .same = 41,
     .outer = {{{"TracFcgiInitEnv", "A", "b"}},
               {{"TracFcgiInitEnv", "C", "d"}}}},
    {.what = "one variable A='bC=d'", .same = 42,
     .outer = {{{"TracFcgiInitEnv", "A", "bC=d"}}}},
    {.what = "name AB, value VALUE", .same = 43,
     .outer = {{{"TracFcgiInitEnv", "AB", "VALUE"}}}},
    {.what = "name A, value BVALUE", .same = 44,
     .outer = {{{"TracFcgiInitEnv", "A", "BVALUE"}}}},
    {.what = "Group 1, vhost in 0x.conf:10", .same = 45, .group = 1,
     .vfile = "0x.conf", .vline = 10},
    {.what = "Group 10, vhost in x.conf:10", .same = 46, .group = 10,
     .vfile = "x.conf", .vline = 10},
    {.what = "vhost v.conf:1, variables 0X=1 PATH=/p", .same = 47,
     .vfile = "v.conf", .vline = 1,
     .outer = {{{"TracFcgiInitEnv", "0X", "1"}},
               {{"TracFcgiInitEnv", "PATH", "/p"}}}},
    {.what = "vhost v.conf:10, variables X=1 PATH=/p", .same = 48,
     .vfile = "v.conf", .vline = 10,
     .outer = {{{"TracFcgiInitEnv", "X", "1"}},
               {{"TracFcgiInitEnv", "PATH", "/p"}}}},
    {.what = "script /srv/a, vhost in b.conf:1", .same = 49,
     .script = "/srv/a", .vfile = "b.conf", .vline = 1},
    {.what = "script /srv/ab, vhost in .conf:1", .same = 50,
     .script = "/srv/ab", .vfile = ".conf", .vline = 1},
    {.what = "User 1000 Group 11", .same = 51, .group = 11},
    {.what = "User 10001 Group 1", .same = 52, .user = 10001, .group = 1},
};
#define N_KEY_CASES (sizeof(key_cases) / sizeof(key_cases[0]))

static void apply(apr_pool_t *p, server_rec *s, const char *path,
                  tf_dir_conf_t *c, const line_t *lines, const char *what)
{
    int i;

    for (i = 0; i < 4 && lines[i].words[0]; i++) {
        const char *const *w = lines[i].words;
        cmd_parms cmd;

        memset(&cmd, 0, sizeof(cmd));
        cmd.pool = p;
        cmd.temp_pool = p;
        cmd.server = s;
        cmd.path = (char *)path;
        cmd.override = path ? ACCESS_CONF : RSRC_CONF;
        cmd.limited = -1;
        TF_CHECK(what, tf_stub_directive(tf_config_cmds, &cmd, c, w[0], w[1],
                                         w[2], w[3], NULL)
                           == NULL);
    }
}

/* Build @c in a pool of its own, from copies of its strings: nothing of
 * where things sit in memory may reach the key. */
static apr_uint64_t build(const key_case_t *c, apr_pool_t *p,
                          tf_spawn_spec_t *spec, tf_dir_conf_t *dc)
{
    server_rec *s = apr_pcalloc(p, sizeof(*s));
    tf_dir_conf_t *outer = tf_config_dir_create(p, NULL);
    tf_dir_conf_t *inner = tf_config_dir_create(p, NULL);
    ap_unix_identity_t *id = NULL;
    apr_uint64_t key = 0;

    if (c->vfile) {
        s->is_virtual = 1;
        s->defn_name = apr_pstrdup(p, c->vfile);
        s->defn_line_number = (unsigned)c->vline;
    }
    s->server_hostname = "tf.test";
    ap_unixd_config.user_id = (uid_t)(c->user ? c->user : 1000);
    ap_unixd_config.group_id = (gid_t)(c->group ? c->group : 1000);
    if (c->su) {
        id = apr_pcalloc(p, sizeof(*id));
        id->uid = (uid_t)c->su_uid;
        id->gid = (gid_t)c->su_gid;
        id->userdir = c->userdir;
    }
    apply(p, s, NULL, outer, c->outer, c->what);
    apply(p, s, "/loc", inner, c->inner, c->what);
    tf_config_dir_resolve(tf_config_dir_merge(p, outer, inner), dc);
    if (c->env_name) {
        setenv(c->env_name, c->env_value, 1);
    }
    tf_spec_build_for(p, s, dc,
                      apr_pstrdup(p, c->script ? c->script : "/srv/a.fcgi"),
                      id, spec, &key);
    if (c->env_name) {
        unsetenv(c->env_name);
    }
    return key;
}

static void test_keys(void)
{
    apr_uint64_t keys[N_KEY_CASES];
    apr_pool_t *p;
    size_t i, j;
    int zero = 0, unstable = 0, bad = 0;

    for (i = 0; i < N_KEY_CASES; i++) {
        tf_spawn_spec_t spec;
        tf_dir_conf_t dc;
        apr_uint64_t again;

        apr_pool_create(&p, NULL);
        keys[i] = build(&key_cases[i], p, &spec, &dc);
        apr_pool_destroy(p);
        apr_pool_create(&p, NULL);
        again = build(&key_cases[i], p, &spec, &dc);
        apr_pool_destroy(p);
        zero += keys[i] == 0;
        if (again != keys[i]) {
            unstable++;
            printf("  built twice, two keys: %s\n", key_cases[i].what);
        }
    }
    TF_CHECK("no key is 0", zero == 0);
    TF_CHECK("the same inputs built twice give the same key", unstable == 0);
    for (i = 0; i < N_KEY_CASES; i++) {
        for (j = i + 1; j < N_KEY_CASES; j++) {
            int same = key_cases[i].same == key_cases[j].same;

            if ((keys[i] == keys[j]) != same) {
                bad++;
                printf("  %s: '%s' and '%s'\n",
                       same ? "two keys for one pool" : "one key, two pools",
                       key_cases[i].what, key_cases[j].what);
            }
        }
    }
    TF_CHECK("one key per group of the table, and only one", bad == 0);
}

/* --- what the spec holds ------------------------------------------------ */

static const char *env_str(apr_pool_t *p, const char *const *env)
{
    const char *out = "";
    int i;

    for (i = 0; env[i]; i++) {
        out = apr_pstrcat(p, out, i ? "|" : "", env[i], NULL);
    }
    return out;
}

static const char *argv_str(apr_pool_t *p, const char *const *argv)
{
    return env_str(p, argv);
}

static void test_spec_fields(void)
{
    static const struct {
        key_case_t in;
        const char *argv, *cwd, *env;
        long uid, gid;
    } cases[] = {
        {{.what = "plain"}, "/srv/a.fcgi", "/srv", "PATH=" HTTPD_PATH, 1000,
         1000},
        {{.what = "script at the root", .script = "/a.fcgi"}, "/a.fcgi", "/",
         "PATH=" HTTPD_PATH, 1000, 1000},
        {{.what = "suexec runs the base name from the script's directory",
          .su = 1, .su_uid = 0, .su_gid = 0, .userdir = 1},
         SUEXEC_BIN "|~root|root|a.fcgi", "/srv", "PATH=" HTTPD_PATH, 0, 0},
        {{.what = "environment order: PATH, PassEnv, InitEnv, egg cache",
          .outer = {{{"TracFcgiInitEnv", "B", "2"}},
                    {{"TracEnv", "/srv/t"}},
                    {{"TracFcgiPassEnv", "TF_TEST_PASS"}}},
          .env_name = "TF_TEST_PASS", .env_value = "p"},
         "/srv/a.fcgi", "/srv",
         "PATH=" HTTPD_PATH "|TF_TEST_PASS=p|B=2|TRAC_ENV=/srv/t|"
         "PYTHON_EGG_CACHE=/srv/t/.egg-cache",
         1000, 1000},
        {{.what = "a PATH of its own takes the first one's place",
          .outer = {{{"TracFcgiInitEnv", "A", "1"}},
                    {{"TracFcgiInitEnv", "PATH", "/p"}},
                    {{"TracEnvParentDir", "/srv/all"}}}},
         "/srv/a.fcgi", "/srv",
         "A=1|PATH=/p|TRAC_ENV_PARENT_DIR=/srv/all|"
         "PYTHON_EGG_CACHE=/srv/all/.egg-cache",
         1000, 1000},
    };
    size_t i;

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const char *what = cases[i].in.what;
        tf_spawn_spec_t spec;
        tf_dir_conf_t dc;
        apr_pool_t *p;

        apr_pool_create(&p, NULL);
        build(&cases[i].in, p, &spec, &dc);
        TF_CHECK(what, strcmp(argv_str(p, spec.argv), cases[i].argv) == 0);
        TF_CHECK(what, strcmp(spec.cwd, cases[i].cwd) == 0);
        TF_CHECK(what, strcmp(env_str(p, spec.env), cases[i].env) == 0);
        TF_CHECK(what, spec.uid == cases[i].uid && spec.gid == cases[i].gid);
        if (strcmp(env_str(p, spec.env), cases[i].env) != 0) {
            printf("  env: %s\n", env_str(p, spec.env));
        }
        apr_pool_destroy(p);
    }
}

/* --- the same key by every path ------------------------------------------ */

/* A request (tf_spec_build) gets the key tf_spec_build_for gives its
 * script, server, configuration and suexec identity. */
static void test_request_path(void)
{
    static const key_case_t in = {
        .what = "request", .vfile = "x.conf", .vline = 3,
        .outer = {{{"TracEnv", "/srv/t"}}}};
    ap_unix_identity_t id = {1000, 1000, 0};
    tf_spawn_spec_t spec, spec2;
    tf_dir_conf_t dc;
    apr_uint64_t want, got = 0, want_su;
    request_rec r;
    apr_pool_t *p;

    apr_pool_create(&p, NULL);
    want = build(&in, p, &spec, &dc);
    memset(&r, 0, sizeof(r));
    r.pool = p;
    r.server = apr_pcalloc(p, sizeof(server_rec));
    r.server->is_virtual = 1;
    r.server->defn_name = "x.conf";
    r.server->defn_line_number = 3;
    r.filename = "/srv/a.fcgi";

    ap_unixd_config.suexec_enabled = 0;
    tf_spec_build(&r, &dc, &spec2, &got);
    TF_CHECK("no suexec: the key of the script as User", got == want);

    ap_unixd_config.suexec_enabled = 1;
    tf_stub_suexec_identity = NULL;
    tf_spec_build(&r, &dc, &spec2, &got);
    TF_CHECK("suexec on, no identity for the request: as User",
             got == want && strcmp(spec2.argv[0], "/srv/a.fcgi") == 0);
    TF_CHECK("the request's identity was asked", tf_stub_suexec_request
                                                     == &r);

    tf_stub_suexec_identity = &id;
    ap_unixd_config.user_id = ap_unixd_config.group_id = 1000;
    tf_spec_build_for(p, r.server, &dc, "/srv/a.fcgi", &id, &spec, &want_su);
    tf_spec_build(&r, &dc, &spec2, &got);
    TF_CHECK("suexec identity: the key of the script as that identity",
             got == want_su && got != want);
    ap_unixd_config.suexec_enabled = 0;
    tf_stub_suexec_identity = NULL;
    apr_pool_destroy(p);
}

/* TracFcgiWrapper: every file it serves gets its spec and key; other
 * files run themselves; under suexec its arguments follow its name. */
static void test_wrapped(void)
{
    static const char *const php_argv[] = {"/usr/bin/php-cgi", "-d",
                                           "x=1", NULL};
    static const char *const other_argv[] = {"/usr/bin/php-cgi", NULL};
    tf_wrapper_t php = {"/usr/bin/php-cgi -d x=1", php_argv, ".php", 0};
    tf_wrapper_t other = {"/usr/bin/php-cgi", other_argv, ".php", 0};
    ap_unix_identity_t id = {1234, 1235, 0};
    tf_spawn_spec_t a, b, c;
    apr_uint64_t ka, kb, kc;
    tf_dir_conf_t dc;
    server_rec s;
    apr_pool_t *p;

    apr_pool_create(&p, NULL);
    memset(&s, 0, sizeof(s));
    s.server_hostname = "tf.test";
    tf_config_dir_resolve(tf_config_dir_create(p, NULL), &dc);
    dc.wrappers = apr_array_make(p, 1, sizeof(const tf_wrapper_t *));
    APR_ARRAY_PUSH(dc.wrappers, const tf_wrapper_t *) = &php;

    tf_spec_build_for(p, &s, &dc, "/srv/www/a.php", NULL, &a, &ka);
    tf_spec_build_for(p, &s, &dc, "/srv/www/sub/b.php", NULL, &b, &kb);
    TF_CHECK("two files of one wrapper: one key", ka == kb);
    TF_CHECK("the wrapper runs, with its arguments",
             strcmp(a.argv[0], "/usr/bin/php-cgi") == 0
                 && strcmp(a.argv[1], "-d") == 0
                 && strcmp(a.argv[2], "x=1") == 0 && !a.argv[3]);
    TF_CHECK("from its own directory", strcmp(a.cwd, "/usr/bin") == 0);
    TF_CHECK("named by its command",
             strcmp(a.name, "/usr/bin/php-cgi -d x=1@tf.test") == 0);
    TF_CHECK("its strings are the spec's pool's, not the wrapper's",
             a.argv[1] != php_argv[1]);

    tf_spec_build_for(p, &s, &dc, "/srv/www/x.fcgi", NULL, &c, &kc);
    TF_CHECK("a file of another suffix runs itself",
             strcmp(c.argv[0], "/srv/www/x.fcgi") == 0 && !c.argv[1]
                 && kc != ka);

    APR_ARRAY_IDX(dc.wrappers, 0, const tf_wrapper_t *) = &other;
    tf_spec_build_for(p, &s, &dc, "/srv/www/a.php", NULL, &c, &kc);
    TF_CHECK("another command line: another pool", kc != ka);

    APR_ARRAY_IDX(dc.wrappers, 0, const tf_wrapper_t *) = &php;
    tf_spec_build_for(p, &s, &dc, "/srv/www/a.php", &id, &c, &kc);
    TF_CHECK("under suexec: suexec user group name args",
             strcmp(c.argv[0], SUEXEC_BIN) == 0
                 && strcmp(c.argv[3], "php-cgi") == 0
                 && strcmp(c.argv[4], "-d") == 0
                 && strcmp(c.argv[5], "x=1") == 0 && !c.argv[6]
                 && strcmp(c.cwd, "/usr/bin") == 0 && c.uid == 1234
                 && kc != ka);
    apr_pool_destroy(p);
}

static void test_server_identity(void)
{
    ap_unix_identity_t id = {1234, 1235, 0};
    void *vec[1] = {NULL};
    server_rec s;
    const request_rec *asked;
    apr_pool_t *p;

    apr_pool_create(&p, NULL);
    memset(&s, 0, sizeof(s));
    s.lookup_defaults = (ap_conf_vector_t *)vec;
    ap_unixd_config.suexec_enabled = 0;
    /* the stub aborts if the hook is run with suexec off */
    TF_CHECK("suexec off: none", tf_spec_server_identity(p, &s) == NULL);
    ap_unixd_config.suexec_enabled = 1;
    tf_stub_suexec_identity = &id;
    TF_CHECK("suexec on: SuexecUserGroup of the host",
             tf_spec_server_identity(p, &s) == &id);
    asked = tf_stub_suexec_request;
    TF_CHECK("asked with the host's defaults",
             asked && asked->server == &s
                 && asked->per_dir_config == s.lookup_defaults
                 && asked->pool == p && asked->notes != NULL);
    ap_unixd_config.suexec_enabled = 0;
    tf_stub_suexec_identity = NULL;
    apr_pool_destroy(p);
}

/* README: "A request for that script with the same configuration uses
 * the same pool" as its TracFcgiServer. */
static void test_declared(void)
{
    static const line_t vh_lines[4] = {{{"TracEnv", "/srv/t"}},
                                       {{"TracFcgiMinProcesses", "2"}}};
    static const line_t loc_lines[4] = {{{"TracFcgiInitEnv", "A", "1"}}};
    ap_unix_identity_t id = {1000, 1001, 0};
    apr_pool_t *pconf;
    server_rec vh;
    void *main_dir[1], *vh_dir[1]; /* the module at index 0 */
    tf_dir_conf_t *vconf, *loc, dc;
    apr_array_header_t *decl;
    const tf_spec_declared_t *sd;
    tf_spawn_spec_t spec;
    apr_uint64_t key;
    cmd_parms cmd;
    int su;

    for (su = 0; su <= 1; su++) {
        apr_pool_create(&pconf, NULL);
        memset(&vh, 0, sizeof(vh));
        main_dir[0] = tf_config_dir_create(pconf, NULL);
        vh.is_virtual = 1;
        vh.defn_name = "sites.conf";
        vh.defn_line_number = 7;
        vh.server_hostname = "trac.test";
        vconf = tf_config_dir_create(pconf, NULL);
        apply(pconf, &vh, NULL, vconf, vh_lines, "vhost");
        memset(&cmd, 0, sizeof(cmd));
        cmd.pool = pconf;
        cmd.temp_pool = pconf;
        cmd.server = &vh;
        cmd.override = RSRC_CONF;
        cmd.limited = -1;
        TF_CHECK("TracFcgiServer",
                 tf_stub_directive(tf_config_cmds, &cmd, vconf,
                                   "TracFcgiServer", "/srv/app.fcgi", "A=1",
                                   NULL) == NULL);
        /* httpd: the vhost's defaults are the main server's merged with
         * its own */
        vh_dir[0] = tf_config_dir_merge(pconf, main_dir[0], vconf);
        vh.lookup_defaults = (ap_conf_vector_t *)vh_dir;
        ap_unixd_config.user_id = ap_unixd_config.group_id = 33;
        ap_unixd_config.suexec_enabled = su;
        tf_stub_suexec_identity = su ? &id : NULL;

        decl = tf_spec_declared(pconf);
        TF_CHECK("one pool declared", decl->nelts == 1);
        sd = &APR_ARRAY_IDX(decl, 0, tf_spec_declared_t);

        /* a request in a <Location> that sets what TracFcgiServer gave */
        loc = tf_config_dir_create(pconf, NULL);
        apply(pconf, &vh, "/app", loc, loc_lines, "location");
        tf_config_dir_resolve(tf_config_dir_merge(pconf, vh_dir[0], loc),
                              &dc);
        tf_spec_build_for(pconf, &vh, &dc, "/srv/app.fcgi",
                          su ? &id : NULL, &spec, &key);
        TF_CHECK("declared key = the request's key", sd->spec.key == key);
        TF_CHECK("not yet in the table", sd->spec.pool == -1);
        TF_CHECK("its limits", sd->spec.lim.min_procs == 2);
        TF_CHECK("script", strcmp(sd->script, "/srv/app.fcgi") == 0);
        /* no address record, no port: the name alone, never ":0" */
        TF_CHECK("vhost", strcmp(sd->vhost, "trac.test") == 0);
        TF_CHECK("summary", strcmp(sd->env_summary, "TRAC_ENV=/srv/t") == 0);
        TF_CHECK("suexec drops A, not TRAC_ENV",
                 su ? sd->suexec_dropped
                          && strcmp(sd->suexec_dropped, "A") == 0
                    : sd->suexec_dropped == NULL);
        /* without the variable, another pool */
        tf_config_dir_resolve(vh_dir[0], &dc);
        tf_spec_build_for(pconf, &vh, &dc, "/srv/app.fcgi",
                          su ? &id : NULL, &spec, &key);
        TF_CHECK("without A=1: another key", sd->spec.key != key);
        apr_pool_destroy(pconf);
    }
    ap_unixd_config.suexec_enabled = 0;
    tf_stub_suexec_identity = NULL;
}

/* --- status summary and suexec's losses ---------------------------------- */

static void test_env_summary(void)
{
    static const struct {
        key_case_t in;
        const char *want;
    } cases[] = {
        {{.what = "nothing"}, ""},
        {{.what = "names", .outer = {{{"TracFcgiInitEnv", "A", "1"}},
                                     {{"TracFcgiInitEnv", "B", "2"}}}},
         "A B"},
        {{.what = "TracEnv first", .outer = {{{"TracFcgiInitEnv", "A", "1"}},
                                             {{"TracEnvParentDir", "/p"}},
                                             {{"TracEnv", "/t"}}}},
         "TRAC_ENV=/t"},
        {{.what = "then TracEnvParentDir",
          .outer = {{{"TracFcgiInitEnv", "A", "1"}},
                    {{"TracEnvParentDir", "/p"}}}},
         "TRAC_ENV_PARENT_DIR=/p"},
        {{.what = "TracEnvIndexTemplate is a name",
          .outer = {{{"TracEnvIndexTemplate", "/i.html"}}}},
         "TRAC_ENV_INDEX_TEMPLATE"},
        {{.what = "TracFcgiPassEnv is not listed",
          .outer = {{{"TracFcgiPassEnv", "TF_TEST_PASS"}}},
          .env_name = "TF_TEST_PASS", .env_value = "x"},
         ""},
    };
    size_t i;

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        tf_spawn_spec_t spec;
        tf_dir_conf_t dc;
        apr_pool_t *p;
        const char *got;

        apr_pool_create(&p, NULL);
        build(&cases[i].in, p, &spec, &dc);
        got = tf_spec_env_summary(p, &dc);
        TF_CHECK(cases[i].in.what, strcmp(got, cases[i].want) == 0);
        if (strcmp(got, cases[i].want) != 0) {
            printf("  got '%s'\n", got);
        }
        apr_pool_destroy(p);
    }
}

static void test_suexec_dropped(void)
{
    static const struct {
        key_case_t in;
        const char *want; /* NULL: nothing dropped */
    } cases[] = {
        {{.what = "no suexec: nothing dropped",
          .outer = {{{"TracFcgiInitEnv", "A", "1"}}}},
         NULL},
        {{.what = "suexec, no variables", .su = 1}, NULL},
        {{.what = "suexec drops a plain variable", .su = 1,
          .outer = {{{"TracFcgiInitEnv", "A", "1"}}}},
         "A"},
        {{.what = "keeps HTTP_, SSL_ and its safe list; sets PATH itself",
          .su = 1,
          .outer = {{{"TracFcgiInitEnv", "HTTP_X", "1"}},
                    {{"TracFcgiInitEnv", "SSL_Y", "1"}},
                    {{"TracFcgiInitEnv", "TZ", "UTC"}},
                    {{"TracFcgiInitEnv", "PATH", "/p"}}}},
         "PATH"},
        {{.what = "HTTP without its underscore is not HTTP_", .su = 1,
          .outer = {{{"TracFcgiInitEnv", "HTTPX", "1"}},
                    {{"TracFcgiInitEnv", "SERVER_NAMEX", "1"}}}},
         "HTTPX SERVER_NAMEX"},
        {{.what = "TracEnv and kin reach Trac as params", .su = 1,
          .outer = {{{"TracEnv", "/t"}},
                    {{"TracEnvParentDir", "/p"}},
                    {{"TracEnvIndexTemplate", "/i"}}}},
         NULL},
        {{.what = "TRAC_ENV by InitEnv has no param", .su = 1,
          .outer = {{{"TracFcgiInitEnv", "TRAC_ENV", "/t"}}}},
         "TRAC_ENV"},
        {{.what = "unless TracFcgiParam sends one", .su = 1,
          .outer = {{{"TracFcgiInitEnv", "TRAC_ENV", "/t"}},
                    {{"TracFcgiParam", "trac.env_path", "/t"}}}},
         NULL},
        {{.what = "PassEnv of a variable httpd has, in order", .su = 1,
          .outer = {{{"TracFcgiPassEnv", "TF_TEST_PASS"}},
                    {{"TracFcgiPassEnv", "TF_TEST_UNSET"}},
                    {{"TracFcgiInitEnv", "A", "1"}},
                    {{"TracFcgiInitEnv", "B", "1"}}},
          .env_name = "TF_TEST_PASS", .env_value = "x"},
         "A B TF_TEST_PASS"},
        {{.what = "a name in both lists, once", .su = 1,
          .outer = {{{"TracFcgiPassEnv", "TF_TEST_PASS"}},
                    {{"TracFcgiInitEnv", "TF_TEST_PASS", "y"}}},
          .env_name = "TF_TEST_PASS", .env_value = "x"},
         "TF_TEST_PASS"},
    };
    size_t i;

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const key_case_t *in = &cases[i].in;
        tf_spawn_spec_t spec;
        tf_dir_conf_t dc;
        apr_pool_t *p;
        const char *got;

        apr_pool_create(&p, NULL);
        build(in, p, &spec, &dc);
        if (in->env_name) {
            setenv(in->env_name, in->env_value, 1);
        }
        got = tf_spec_suexec_dropped(p, &dc, &spec);
        if (in->env_name) {
            unsetenv(in->env_name);
        }
        TF_CHECK(in->what, cases[i].want ? got && strcmp(got,
                                                         cases[i].want) == 0
                                         : got == NULL);
        if (cases[i].want ? !got || strcmp(got, cases[i].want) != 0 : !!got) {
            printf("  got %s\n", got ? got : "NULL");
        }
        apr_pool_destroy(p);
    }
}

int main(void)
{
    apr_initialize();
    setenv("PATH", HTTPD_PATH, 1);
    unsetenv("PYTHON_EGG_CACHE");
    unsetenv("TF_TEST_PASS");
    unsetenv("TF_TEST_UNSET");
    test_keys();
    test_spec_fields();
    test_request_path();
    test_wrapped();
    test_server_identity();
    test_declared();
    test_env_summary();
    test_suexec_dropped();
    apr_terminate();
    return TF_REPORT();
}
