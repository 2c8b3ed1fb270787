/*
 * test_config.c: the configuration of mod_tracfcgi (src/config.c) as
 * httpd builds it: directives set through the module's own table
 * (tf_stub_directive, at server, virtual-host or section level), then
 * merged level by level (main server -> virtual host -> <Location>) and
 * resolved. What a merge must do is README's Directives section: unset
 * fields inherit, set ones (0 and Off included) override, variables merge
 * by name with the inner section winning, and the two server-wide
 * directives stay global.
 *
 * Links src/config.c, APR and t/unit/httpd_stubs.c; no httpd.
 */
#include <stddef.h>
#include <string.h>

#include "apr_general.h"
#include "apr_strings.h"

#include "tf_config.h"
#include "tf_pool.h"
#include "httpd_stubs.h"
#include "tf_test.h"

#define DIR(...) tf_stub_directive(tf_config_cmds, __VA_ARGS__, NULL)

/* One configuration read: its pool, the main server and a virtual host,
 * each with its own per-server and default per-directory configuration
 * (the module is index 0 of every vector). */
static apr_pool_t *pconf, *ptemp;
static server_rec main_s, vhost_s;
static void *main_srv[1], *vhost_srv[1], *main_dir[1], *vhost_dir[1];
static int line; /* of the next directive in "tracfcgi-test.conf" */

static void setup(void)
{
    if (pconf) {
        apr_pool_destroy(pconf);
    }
    apr_pool_create(&pconf, NULL);
    apr_pool_create(&ptemp, pconf);
    memset(&main_s, 0, sizeof(main_s));
    memset(&vhost_s, 0, sizeof(vhost_s));
    main_s.module_config = (ap_conf_vector_t *)main_srv;
    main_s.lookup_defaults = (ap_conf_vector_t *)main_dir;
    vhost_s.module_config = (ap_conf_vector_t *)vhost_srv;
    vhost_s.lookup_defaults = (ap_conf_vector_t *)vhost_dir;
    vhost_s.is_virtual = 1;
    main_srv[0] = tf_config_srv_create(pconf, &main_s);
    /* httpd merges a virtual host's server config over the main one's */
    vhost_srv[0] = tf_config_srv_merge(pconf, main_srv[0],
                                       tf_config_srv_create(pconf, &vhost_s));
    main_dir[0] = tf_config_dir_create(pconf, NULL);
    vhost_dir[0] = tf_config_dir_create(pconf, NULL);
    line = 0;
}

/* cmd_parms for a directive at server or virtual-host level of @s
 * (@path NULL) or inside a <Location @path> of it, on a line of its own. */
static cmd_parms at(server_rec *s, const char *path)
{
    cmd_parms cmd;
    ap_directive_t *d = apr_pcalloc(pconf, sizeof(*d));

    d->filename = "tracfcgi-test.conf";
    d->line_num = ++line;
    memset(&cmd, 0, sizeof(cmd));
    cmd.pool = pconf;
    cmd.temp_pool = ptemp;
    cmd.server = s;
    cmd.path = (char *)path;
    cmd.override = path ? ACCESS_CONF | OR_ALL : RSRC_CONF | OR_ALL;
    cmd.limited = -1;
    cmd.directive = d;
    return cmd;
}

static tf_dir_conf_t *dir_new(void)
{
    return tf_config_dir_create(pconf, NULL);
}

static tf_dir_conf_t *merge(const tf_dir_conf_t *base,
                            const tf_dir_conf_t *add)
{
    return tf_config_dir_merge(pconf, (void *)base, (void *)add);
}

/* "A=1|B=2" (a NULL value, as TracFcgiPassEnv stores: "A") */
static const char *env_str(const apr_array_header_t *a)
{
    const char *out = "";
    int i;

    if (!a) {
        return "(none)";
    }
    for (i = 0; i < a->nelts; i++) {
        const tf_env_t *e = &APR_ARRAY_IDX(a, i, tf_env_t);

        out = apr_pstrcat(pconf, out, i ? "|" : "", e->name,
                          e->value ? "=" : "", e->value ? e->value : "",
                          NULL);
    }
    return out;
}

#define FIELD(f) offsetof(tf_dir_conf_t, f)
#define INT_AT(c, off) (*(const int *)((const char *)(c) + (off)))

/* Every int field: a directive and two values to set it to (the second
 * 0 or Off where the directive allows it: an inner 0 is a setting, not
 * "unset"), and what resolve gives when nothing sets it. */
static const struct {
    const char *name;
    const char *arg1;
    int val1;
    const char *arg2;
    int val2;
    size_t off;
    int deflt;
} int_fields[] = {
    {"TracFcgiMinProcesses", "2", 2, "0", 0, FIELD(min_procs), 0},
    {"TracFcgiMaxProcesses", "7", 7, "1", 1, FIELD(max_procs), 4},
    {"TracFcgiMaxRequestsPerProcess", "100", 100, "0", 0,
     FIELD(max_requests), 0},
    {"TracFcgiProcessLifetime", "3600", 3600, "0", 0, FIELD(lifetime), 0},
    {"TracFcgiIdleTimeout", "60", 60, "1", 1, FIELD(idle_timeout), 300},
    {"TracFcgiQueueTimeout", "5", 5, "1", 1, FIELD(queue_timeout), 30},
    {"TracFcgiConnectTimeout", "2", 2, "9", 9, FIELD(connect_timeout), 5},
    {"TracFcgiIOTimeout", "9", 9, "120", 120, FIELD(io_timeout), 60},
    {"TracFcgiStartupTimeout", "11", 11, "1", 1, FIELD(startup_timeout),
     30},
    {"TracFcgiPassAuthorization", "On", 1, "Off", 0, FIELD(pass_auth), 0},
    {"TracFcgiReloadOnChange", "On", 1, "Off", 0, FIELD(reload), 0},
    {"TracFcgiRequestBuffering", "Off", 0, "On", 1,
     FIELD(request_buffering), 1},
    {"TracFcgiConnsPerProcess", "3", 3, "auto", 0, FIELD(conns), 0},
    /* resolve leaves it unset (-1): tf_config_check_mode() looks further
     * out, by the section of each TracEnv */
    {"TracFcgiCheckEnv", "Strict", TF_CHECK_STRICT, "Off", TF_CHECK_OFF,
     FIELD(check_env), -1},
};
#define N_INT_FIELDS (sizeof(int_fields) / sizeof(int_fields[0]))

static void test_int_fields_merge(void)
{
    size_t i;

    for (i = 0; i < N_INT_FIELDS; i++) {
        const char *name = int_fields[i].name;
        size_t off = int_fields[i].off;
        tf_dir_conf_t *none, *b1, *a2, *m, r;
        cmd_parms cs, cl;

        setup();
        cs = at(&main_s, NULL);
        cl = at(&main_s, "/x");
        none = dir_new();
        b1 = dir_new();
        a2 = dir_new();
        TF_CHECK(name, DIR(&cs, b1, name, int_fields[i].arg1) == NULL);
        TF_CHECK(name, DIR(&cl, a2, name, int_fields[i].arg2) == NULL);
        TF_CHECK(name, INT_AT(b1, off) == int_fields[i].val1);
        TF_CHECK(name, INT_AT(a2, off) == int_fields[i].val2);

        /* unset everywhere: the default after resolve */
        tf_config_dir_resolve(merge(none, none), &r);
        TF_CHECK(name, INT_AT(&r, off) == int_fields[i].deflt);
        /* unset inside: the outer value is inherited */
        m = merge(b1, none);
        TF_CHECK(name, INT_AT(m, off) == int_fields[i].val1);
        tf_config_dir_resolve(m, &r);
        TF_CHECK(name, INT_AT(&r, off) == int_fields[i].val1);
        /* set inside only */
        m = merge(none, a2);
        TF_CHECK(name, INT_AT(m, off) == int_fields[i].val2);
        /* set on both levels: the inner one, even when it is 0 or Off */
        m = merge(b1, a2);
        TF_CHECK(name, INT_AT(m, off) == int_fields[i].val2);
        tf_config_dir_resolve(m, &r);
        TF_CHECK(name, INT_AT(&r, off) == int_fields[i].val2);
        /* and the other way round */
        m = merge(a2, b1);
        TF_CHECK(name, INT_AT(m, off) == int_fields[i].val1);
        /* merging leaves both inputs as they were */
        TF_CHECK(name, INT_AT(b1, off) == int_fields[i].val1
                           && INT_AT(a2, off) == int_fields[i].val2
                           && INT_AT(none, off) == -1);
    }
}

/* main server -> virtual host -> <Location> -> <Location> inside it */
static void test_three_levels(void)
{
    tf_dir_conf_t *top, *vh, *loc, *inner, *m, r;
    cmd_parms cm, cv, cl, ci;

    setup();
    cm = at(&main_s, NULL);
    cv = at(&vhost_s, NULL);
    cl = at(&vhost_s, "/trac");
    ci = at(&vhost_s, "/trac/login");
    top = main_dir[0];
    vh = vhost_dir[0];
    loc = dir_new();
    inner = dir_new();
    TF_CHECK("main", DIR(&cm, top, "TracFcgiMaxProcesses", "8") == NULL);
    TF_CHECK("main", DIR(&cm, top, "TracFcgiIdleTimeout", "100") == NULL);
    TF_CHECK("main", DIR(&cm, top, "TracFcgiBodyInMemory", "4096") == NULL);
    TF_CHECK("vhost", DIR(&cv, vh, "TracFcgiIdleTimeout", "200") == NULL);
    TF_CHECK("vhost", DIR(&cv, vh, "TracFcgiMinProcesses", "1") == NULL);
    TF_CHECK("loc", DIR(&cl, loc, "TracFcgiMinProcesses", "3") == NULL);
    TF_CHECK("inner", DIR(&ci, inner, "TracFcgiConnsPerProcess", "auto",
                          "5") == NULL);

    /* what httpd does: vhost defaults = main + vhost, then per request
     * the sections over the vhost's defaults */
    m = merge(merge(merge(top, vh), loc), inner);
    tf_config_dir_resolve(m, &r);
    TF_CHECK("max from main", r.max_procs == 8);
    TF_CHECK("idle from vhost over main", r.idle_timeout == 200);
    TF_CHECK("min from the Location over vhost", r.min_procs == 3);
    TF_CHECK("conns auto, cap from the inner Location",
             r.conns == 0 && r.conns_cap == 5);
    TF_CHECK("body from main", r.body_in_memory == 4096);
    TF_CHECK("queue default", r.queue_timeout == 30);

    /* a sibling Location sees the vhost, not its neighbour */
    m = merge(merge(top, vh), dir_new());
    tf_config_dir_resolve(m, &r);
    TF_CHECK("sibling: min from vhost", r.min_procs == 1);
    TF_CHECK("sibling: conns cap default", r.conns_cap == 16);
}

static void test_resolve_defaults(void)
{
    tf_dir_conf_t *c, r;
    cmd_parms cs;

    setup();
    c = dir_new();
    TF_CHECK("created unset", c->min_procs == -1 && c->max_procs == -1
                                  && c->body_in_memory == -1
                                  && c->conns_cap == -1
                                  && !c->init_env && !c->params
                                  && !c->pass_env);
    tf_config_dir_resolve(c, &r);
    TF_CHECK("conns: auto", r.conns == 0);
    TF_CHECK("conns cap 16", r.conns_cap == 16);
    TF_CHECK("body in memory 65536 (README, mod_fcgid's)",
             r.body_in_memory == 65536);
    TF_CHECK("input untouched", c->max_procs == -1 && c->conns_cap == -1);

    /* min above max is brought down to max, set or default */
    cs = at(&main_s, NULL);
    TF_CHECK("set", DIR(&cs, c, "TracFcgiMinProcesses", "6") == NULL);
    tf_config_dir_resolve(c, &r);
    TF_CHECK("min 6 over default max 4 -> 4",
             r.min_procs == 4 && r.max_procs == 4);
    TF_CHECK("set", DIR(&cs, c, "TracFcgiMaxProcesses", "2") == NULL);
    tf_config_dir_resolve(c, &r);
    TF_CHECK("min 6 max 2 -> 2", r.min_procs == 2 && r.max_procs == 2);
    TF_CHECK("set", DIR(&cs, c, "TracFcgiMaxProcesses", "9") == NULL);
    tf_config_dir_resolve(c, &r);
    TF_CHECK("min 6 max 9 kept", r.min_procs == 6 && r.max_procs == 9);
}

static void test_body_in_memory(void)
{
    tf_dir_conf_t *b, *a, *m, r;
    cmd_parms cs, cl;

    setup();
    cs = at(&main_s, NULL);
    cl = at(&main_s, "/x");
    b = dir_new();
    a = dir_new();
    TF_CHECK("set", DIR(&cs, b, "TracFcgiBodyInMemory", "5000000000") == NULL);
    TF_CHECK("above 2^32 kept", b->body_in_memory == (apr_off_t)5000000000LL);
    TF_CHECK("set", DIR(&cl, a, "TracFcgiBodyInMemory", "0") == NULL);
    m = merge(b, dir_new());
    TF_CHECK("inherited", m->body_in_memory == (apr_off_t)5000000000LL);
    m = merge(b, a);
    tf_config_dir_resolve(m, &r);
    TF_CHECK("inner 0 overrides", r.body_in_memory == 0);
}

static void test_response_buffer(void)
{
    tf_dir_conf_t *b, *a, *m, r;
    cmd_parms cs, cl;

    setup();
    cs = at(&main_s, NULL);
    cl = at(&main_s, "/stream");
    b = dir_new();
    a = dir_new();
    TF_CHECK("unset", b->response_buffer == -1);
    tf_config_dir_resolve(b, &r);
    TF_CHECK("default 16 MiB (README)", r.response_buffer == 16 * 1048576);
    TF_CHECK("set", DIR(&cs, b, "TracFcgiResponseBuffer", "3G") == NULL);
    TF_CHECK("3G", b->response_buffer == (apr_off_t)3 << 30);
    TF_CHECK("set", DIR(&cs, b, "TracFcgiResponseBuffer", "512k") == NULL);
    TF_CHECK("512k", b->response_buffer == 512 * 1024);
    TF_CHECK("set", DIR(&cl, a, "TracFcgiResponseBuffer", "0") == NULL);
    m = merge(b, dir_new());
    tf_config_dir_resolve(m, &r);
    TF_CHECK("inherited", r.response_buffer == 512 * 1024);
    m = merge(b, a);
    tf_config_dir_resolve(m, &r);
    TF_CHECK("inner 0 overrides", r.response_buffer == 0);
}

/* TracFcgiMaxRequestLen: unset is no limit (0), not mod_fcgid's 131072
 * default; set, exactly the value, through either name. */
static void test_max_request_len(void)
{
    tf_dir_conf_t *b, *a, *m, r;
    cmd_parms cs, cl;

    setup();
    cs = at(&main_s, NULL);
    cl = at(&main_s, "/upload");
    b = dir_new();
    a = dir_new();
    TF_CHECK("unset", b->max_request_len == -1);
    tf_config_dir_resolve(b, &r);
    TF_CHECK("default: no limit", r.max_request_len == 0);
    TF_CHECK("set", DIR(&cs, b, "FcgidMaxRequestLen", "131072") == NULL);
    TF_CHECK("mod_fcgid's name, exactly", b->max_request_len == 131072);
    TF_CHECK("set", DIR(&cs, b, "TracFcgiMaxRequestLen", "5G") == NULL);
    TF_CHECK("5G", b->max_request_len == (apr_off_t)5 << 30);
    TF_CHECK("set", DIR(&cl, a, "TracFcgiMaxRequestLen", "0") == NULL);
    m = merge(b, dir_new());
    tf_config_dir_resolve(m, &r);
    TF_CHECK("inherited", r.max_request_len == (apr_off_t)5 << 30);
    m = merge(b, a);
    tf_config_dir_resolve(m, &r);
    TF_CHECK("inner 0 lifts it", r.max_request_len == 0);
}

/* TracFcgiPassHeader: the param name computed once; headers add up from
 * the outer section in; FcgidPassHeader is the same directive. */
static void test_pass_headers(void)
{
    tf_dir_conf_t *b, *a, *m, r;
    cmd_parms cs, cl;

    setup();
    cs = at(&main_s, NULL);
    cl = at(&main_s, "/x");
    b = dir_new();
    a = dir_new();
    TF_CHECK("unset", b->pass_headers == NULL);
    TF_CHECK("set", DIR(&cs, b, "TracFcgiPassHeader", "Authorization",
                        "x-api-Key") == NULL);
    TF_CHECK("param names", strcmp(env_str(b->pass_headers),
                                   "Authorization=HTTP_AUTHORIZATION|"
                                   "x-api-Key=HTTP_X_API_KEY") == 0);
    TF_CHECK("set", DIR(&cl, a, "FcgidPassHeader", "Proxy-Authorization")
                        == NULL);
    TF_CHECK("mod_fcgid's name",
             strcmp(env_str(a->pass_headers),
                    "Proxy-Authorization=HTTP_PROXY_AUTHORIZATION") == 0);
    m = merge(b, a);
    tf_config_dir_resolve(m, &r);
    TF_CHECK("outer first, then inner",
             strcmp(env_str(r.pass_headers),
                    "Authorization=HTTP_AUTHORIZATION|"
                    "x-api-Key=HTTP_X_API_KEY|"
                    "Proxy-Authorization=HTTP_PROXY_AUTHORIZATION") == 0);
    TF_CHECK("inputs kept", b->pass_headers->nelts == 2
                                && a->pass_headers->nelts == 1);
    TF_CHECK("inherited", merge(b, dir_new())->pass_headers
                              == b->pass_headers);
    TF_CHECK("Proxy refused (httpoxy)",
             DIR(&cs, b, "TracFcgiPassHeader", "proxy") != NULL);
}

/* --- variables: merged by name, the inner section winning --------------- */

typedef struct {
    const char *words[4]; /* directive and arguments */
} line_t;

static const struct {
    const char *what;
    line_t outer[4]; /* in the virtual host */
    line_t inner[4]; /* in a <Location> */
    const char *init_env, *params, *pass_env;
} env_cases[] = {
    {"inner replaces by name, keeps the outer order, appends new ones",
     {{{"TracFcgiInitEnv", "A", "1"}}, {{"TracFcgiInitEnv", "B", "2"}}},
     {{{"TracFcgiInitEnv", "B", "3"}}, {{"TracFcgiInitEnv", "C", "4"}}},
     "A=1|B=3|C=4", "(none)", "(none)"},
    {"nothing outside",
     {{{NULL}}},
     {{{"TracFcgiInitEnv", "A", "1"}}},
     "A=1", "(none)", "(none)"},
    {"nothing inside",
     {{{"TracFcgiInitEnv", "A", "1"}}},
     {{{NULL}}},
     "A=1", "(none)", "(none)"},
    {"DefaultInitEnv is TracFcgiInitEnv",
     {{{"TracFcgiInitEnv", "A", "1"}}},
     {{{"DefaultInitEnv", "A", "2"}}, {{"DefaultInitEnv", "B"}}},
     "A=2|B=", "(none)", "(none)"},
    {"the same name twice in one section: the last value, first place",
     {{{NULL}}},
     {{{"TracFcgiInitEnv", "A", "1"}}, {{"TracFcgiInitEnv", "B", "2"}},
      {{"TracFcgiInitEnv", "A", "3"}}},
     "A=3|B=2", "(none)", "(none)"},
    {"TracEnv in a Location overrides the virtual host's, variable and "
     "param",
     {{{"TracEnv", "/srv/trac/one"}}, {{"TracFcgiInitEnv", "X", "1"}}},
     {{{"TracEnv", "/srv/trac/two"}}},
     "TRAC_ENV=/srv/trac/two|X=1", "trac.env_path=/srv/trac/two",
     "(none)"},
    {"TracEnvParentDir and TracEnvIndexTemplate set variable and param",
     {{{"TracEnvParentDir", "/srv/trac"}}},
     {{{"TracEnvIndexTemplate", "/srv/t.html"}},
      {{"TracEnvParentDir", "/srv/other"}}},
     "TRAC_ENV_PARENT_DIR=/srv/other|TRAC_ENV_INDEX_TEMPLATE=/srv/t.html",
     "trac.env_parent_dir=/srv/other|"
     "trac.env_index_template=/srv/t.html",
     "(none)"},
    {"TracEnv over a TracFcgiInitEnv TRAC_ENV of the virtual host",
     {{{"TracFcgiInitEnv", "TRAC_ENV", "/srv/a"}}},
     {{{"TracEnv", "/srv/b"}}},
     "TRAC_ENV=/srv/b", "trac.env_path=/srv/b", "(none)"},
    {"TracFcgiParam merges by name; TracEnv replaces a param of its name",
     {{{"TracFcgiParam", "trac.env_path", "/srv/a"}},
      {{"TracFcgiParam", "x.y", "1"}}},
     {{{"TracFcgiParam", "x.y", "2"}}, {{"TracEnv", "/srv/b"}}},
     "TRAC_ENV=/srv/b", "trac.env_path=/srv/b|x.y=2", "(none)"},
    {"TracFcgiPassEnv merges by name",
     {{{"TracFcgiPassEnv", "HOME"}}, {{"TracFcgiPassEnv", "LANG"}}},
     {{{"TracFcgiPassEnv", "LANG"}}, {{"TracFcgiPassEnv", "TZ"}}},
     "(none)", "(none)", "HOME|LANG|TZ"},
    {"a value with spaces and '=' is one value",
     {{{NULL}}},
     {{{"TracFcgiInitEnv", "A", "b C=d"}}},
     "A=b C=d", "(none)", "(none)"},
};

static void apply(cmd_parms cmd, tf_dir_conf_t *c, const line_t *lines,
                  const char *what)
{
    int i;

    for (i = 0; i < 4 && lines[i].words[0]; i++) {
        const char *const *w = lines[i].words;

        TF_CHECK(what, tf_stub_directive(tf_config_cmds, &cmd, c, w[0], w[1],
                                         w[2], w[3], NULL)
                           == NULL);
    }
}

static void test_env_merge(void)
{
    size_t i;

    for (i = 0; i < sizeof(env_cases) / sizeof(env_cases[0]); i++) {
        const char *what = env_cases[i].what;
        tf_dir_conf_t *outer, *inner, *m, r;
        const char *before_o, *before_i;

        setup();
        outer = dir_new();
        inner = dir_new();
        apply(at(&vhost_s, NULL), outer, env_cases[i].outer, what);
        apply(at(&vhost_s, "/loc"), inner, env_cases[i].inner, what);
        before_o = apr_pstrcat(pconf, env_str(outer->init_env),
                               env_str(outer->params),
                               env_str(outer->pass_env), NULL);
        before_i = apr_pstrcat(pconf, env_str(inner->init_env),
                               env_str(inner->params),
                               env_str(inner->pass_env), NULL);
        m = merge(outer, inner);
        tf_config_dir_resolve(m, &r);
        TF_CHECK(what, strcmp(env_str(r.init_env),
                              env_cases[i].init_env) == 0);
        TF_CHECK(what, strcmp(env_str(r.params), env_cases[i].params) == 0);
        TF_CHECK(what, strcmp(env_str(r.pass_env),
                              env_cases[i].pass_env) == 0);
        if (strcmp(env_str(r.init_env), env_cases[i].init_env) != 0) {
            printf("  init_env: %s\n", env_str(r.init_env));
        }
        /* the inputs are left as they were: a sibling section merges
         * from the same outer configuration */
        TF_CHECK(what, strcmp(before_o,
                              apr_pstrcat(pconf, env_str(outer->init_env),
                                          env_str(outer->params),
                                          env_str(outer->pass_env), NULL))
                           == 0);
        TF_CHECK(what, strcmp(before_i,
                              apr_pstrcat(pconf, env_str(inner->init_env),
                                          env_str(inner->params),
                                          env_str(inner->pass_env), NULL))
                           == 0);
    }
}

/* Two Locations under one virtual host, merged in turn: neither sees the
 * other's variables, and the virtual host's stay as configured. */
static void test_env_siblings(void)
{
    tf_dir_conf_t *vh, *a, *b, *ma, *mb;
    cmd_parms cv, ca, cb;

    setup();
    cv = at(&vhost_s, NULL);
    ca = at(&vhost_s, "/a");
    cb = at(&vhost_s, "/b");
    vh = dir_new();
    a = dir_new();
    b = dir_new();
    TF_CHECK("vh", DIR(&cv, vh, "TracFcgiInitEnv", "V", "1") == NULL);
    TF_CHECK("a", DIR(&ca, a, "TracFcgiInitEnv", "MARK", "A") == NULL);
    TF_CHECK("a", DIR(&ca, a, "TracEnv", "/srv/a") == NULL);
    TF_CHECK("b", DIR(&cb, b, "TracFcgiInitEnv", "MARK", "B") == NULL);
    ma = merge(vh, a);
    mb = merge(vh, b);
    TF_CHECK("a", strcmp(env_str(ma->init_env),
                         "V=1|MARK=A|TRAC_ENV=/srv/a") == 0);
    TF_CHECK("b", strcmp(env_str(mb->init_env), "V=1|MARK=B") == 0);
    TF_CHECK("b has no TracEnv param", mb->params == NULL);
    TF_CHECK("vh", strcmp(env_str(vh->init_env), "V=1") == 0);
    /* merging a merge again (a nested section) copies, too */
    TF_CHECK("nested", strcmp(env_str(merge(ma, b)->init_env),
                              "V=1|MARK=B|TRAC_ENV=/srv/a") == 0);
    TF_CHECK("a kept", strcmp(env_str(ma->init_env),
                              "V=1|MARK=A|TRAC_ENV=/srv/a") == 0);
}

static void test_env_merge_api(void)
{
    apr_array_header_t *b, *a, *m;
    tf_env_t *e;

    setup();
    TF_CHECK("NULL, NULL", tf_config_env_merge(pconf, NULL, NULL) == NULL);
    b = apr_array_make(pconf, 2, sizeof(tf_env_t));
    e = apr_array_push(b);
    e->name = "A";
    e->value = "1";
    a = apr_array_make(pconf, 2, sizeof(tf_env_t));
    e = apr_array_push(a);
    e->name = "A";
    e->value = "2";
    e = apr_array_push(a);
    e->name = "B";
    e->value = "3";
    TF_CHECK("base only", tf_config_env_merge(pconf, b, NULL) == b);
    TF_CHECK("add only", tf_config_env_merge(pconf, NULL, a) == a);
    m = tf_config_env_merge(pconf, b, a);
    TF_CHECK("merged", strcmp(env_str(m), "A=2|B=3") == 0);
    TF_CHECK("base kept", strcmp(env_str(b), "A=1") == 0);
}

/* --- directive arguments --------------------------------------------------
 */

static const struct {
    const char *words[4];
    int ok;
} args_cases[] = {
    {{"TracFcgiInitEnv", "PATH", "/bin"}, 1},
    {{"TracFcgiXSendfile", "On"}, 1},
    {{"TracFcgiReloadOnChange", "On", "/srv/trac/plugins"}, 1},
    {{"TracFcgiReloadOnChange", "On", "plugins"}, 0},
    {{"TracFcgiReloadOnChange", "Off", "/srv/x"}, 0},
    {{"TracFcgiReloadOnChange", "maybe"}, 0},
    {{"TracFcgiXSendfile", "maybe"}, 0},
    {{"TracFcgiXSendfilePath", "/srv/trac/files", "/srv/dl"}, 1},
    {{"TracFcgiXSendfilePath", "files"}, 0},
    {{"TracFcgiXSendfilePath"}, 0},
    {{"TracFcgiExternalServer", "/trac", "unix:/run/trac.sock"}, 1},
    {{"TracFcgiExternalServer", "/", "127.0.0.1:9000", "[::1]:9000"}, 1},
    {{"TracFcgiExternalServer", "/t", "127.0.0.1:9000", "conns=auto"}, 1},
    {{"TracFcgiExternalServer", "/t", "127.0.0.1:9000", "conns=64"}, 1},
    {{"TracFcgiExternalServer", "/t", "127.0.0.1:9000", "conns=65"}, 0},
    {{"TracFcgiExternalServer", "/t", "127.0.0.1:9000", "conns=0"}, 0},
    {{"TracFcgiExternalServer", "/t", "127.0.0.1:9000", "check=0"}, 0},
    {{"TracFcgiExternalServer", "/t", "127.0.0.1:9000", "check=2x"}, 0},
    {{"TracFcgiExternalServer", "/t", "127.0.0.1:9000", "fails=3"}, 1},
    {{"TracFcgiExternalServer", "/t", "127.0.0.1:9000", "keepalive=30"}, 1},
    {{"TracFcgiExternalServer", "/t", "127.0.0.1:9000", "keepalive=0"}, 1},
    {{"TracFcgiExternalServer", "/t", "127.0.0.1:9000", "keepalive=9999"},
     0},
    {{"TracFcgiExternalServer", "/t", "127.0.0.1:9000", "weight=3"}, 0},
    {{"TracFcgiExternalServer", "/t", "unix:relative.sock"}, 0},
    {{"TracFcgiExternalServer", "/t", "127.0.0.1"}, 0},
    {{"TracFcgiExternalServer", "/t", "127.0.0.1:0"}, 0},
    {{"TracFcgiExternalServer", "/t", "conns=2"}, 0},
    {{"TracFcgiExternalServer", "/t"}, 0},
    {{"TracFcgiExternalServer", "trac", "127.0.0.1:9000"}, 0},
    {{"TracFcgiExternalServer"}, 0},
    {{"TracFcgiInitEnv", "0X", "1"}, 1},
    {{"TracFcgiInitEnv", "a.b", "1"}, 1},
    {{"TracFcgiInitEnv", "A=B", "1"}, 0},
    {{"TracFcgiInitEnv", "", "1"}, 0},
    {{"TracFcgiInitEnv", "A B", "1"}, 0},
    {{"TracFcgiInitEnv", "A\tB"}, 0},
    {{"TracFcgiInitEnv", "A\001"}, 0},
    {{"DefaultInitEnv", "=A"}, 0},
    {{"TracFcgiInitEnv"}, 0},
    {{"TracFcgiPassEnv", "HOME"}, 1},
    {{"TracFcgiPassEnv", "HO=ME"}, 0},
    {{"TracFcgiParam", "trac.env_path", "/x"}, 1},
    {{"TracFcgiParam", "a=b", "/x"}, 0},
    {{"TracFcgiParam", "", "/x"}, 0},
    {{"TracFcgiParam", "a"}, 0},
    {{"TracEnv", "/srv/trac"}, 1},
    {{"TracEnv", "srv/trac"}, 0},
    {{"TracEnvParentDir", "relative"}, 0},
    {{"TracEnvIndexTemplate", "t.html"}, 0},
    {{"TracFcgiMaxProcesses", "1"}, 1},
    {{"TracFcgiMaxProcesses", "0"}, 0},
    {{"TracFcgiMinProcesses", "0"}, 1},
    {{"TracFcgiMinProcesses", "-1"}, 0},
    {{"TracFcgiMinProcesses", "1000000"}, 1},
    {{"TracFcgiMinProcesses", "1000001"}, 0},
    {{"TracFcgiMinProcesses", "5x"}, 0},
    {{"TracFcgiMinProcesses", ""}, 0},
    {{"TracFcgiIdleTimeout", "0"}, 0},
    {{"TracFcgiIdleTimeout", "1"}, 1},
    {{"TracFcgiIOTimeout", "ten"}, 0},
    {{"TracFcgiConnsPerProcess", "auto"}, 1},
    {{"TracFcgiConnsPerProcess", "AUTO", "8"}, 1},
    {{"TracFcgiConnsPerProcess", "auto", "0"}, 0},
    {{"TracFcgiConnsPerProcess", "4", "8"}, 0},
    {{"TracFcgiConnsPerProcess", "0"}, 0},
    {{"TracFcgiBodyInMemory", "0"}, 1},
    {{"TracFcgiBodyInMemory", "-1"}, 0},
    {{"TracFcgiBodyInMemory", "1k"}, 1},
    {{"TracFcgiBodyInMemory", "1x"}, 0},
    {{"TracFcgiResponseBuffer", "16M"}, 1},
    {{"TracFcgiResponseBuffer", "0"}, 1},
    {{"TracFcgiResponseBuffer", "1G"}, 1},
    {{"TracFcgiResponseBuffer", "2T"}, 0},
    {{"TracFcgiResponseBuffer", "1.5M"}, 0},
    {{"TracFcgiResponseBuffer", "M"}, 0},
    {{"TracFcgiResponseBuffer", "99999999999999999999"}, 0},
    {{"TracFcgiResponseBuffer", "9223372036854775807G"}, 0},
    {{"TracFcgiCheckEnv", "warn"}, 1},
    {{"TracFcgiCheckEnv", "OFF"}, 1},
    {{"TracFcgiCheckEnv", "maybe"}, 0},
    {{"TracFcgiPassAuthorization", "yes"}, 0},
    {{"TracFcgiMaxRequestLen", "1000"}, 1},
    {{"TracFcgiMaxRequestLen", "10M"}, 1},
    {{"TracFcgiMaxRequestLen", "-1"}, 0},
    {{"TracFcgiMaxRequestLen", "lots"}, 0},
    {{"FcgidMaxRequestLen", "131072"}, 1},
    {{"FcgidMaxRequestLen", "1.5"}, 0},
    {{"TracFcgiPassHeader", "Authorization"}, 1},
    {{"TracFcgiPassHeader", "X_Legacy_Name", "X-Other"}, 1},
    {{"TracFcgiPassHeader", "X-Bad:"}, 0},
    {{"TracFcgiPassHeader", "X Bad"}, 0},
    {{"TracFcgiPassHeader", "Proxy"}, 0},
    {{"TracFcgiPassHeader"}, 0},
    {{"FcgidPassHeader", "Authorization"}, 1},
    {{"FcgidPassHeader", "PROXY"}, 0},
    {{"TracFcgiServer", "/srv/app.fcgi", "A=1", "B="}, 1},
    {{"TracFcgiServer", "app.fcgi"}, 0},
    {{"TracFcgiServer", "/srv/app.fcgi", "=1"}, 0},
    {{"TracFcgiServer", "/srv/app.fcgi", "A"}, 0},
    {{"TracFcgiMaxProcessesTotal", "0"}, 0},
    {{"TracFcgiMaxProcessesTotal", "10"}, 1},
    {{"TracFcgiWhatever", "1"}, 0},
};

static void test_arguments(void)
{
    size_t i;

    for (i = 0; i < sizeof(args_cases) / sizeof(args_cases[0]); i++) {
        const char *const *w = args_cases[i].words;
        cmd_parms cmd;
        const char *err;
        tf_dir_conf_t *c;

        setup();
        cmd = at(&main_s, NULL);
        c = dir_new();
        err = tf_stub_directive(tf_config_cmds, &cmd, c, w[0], w[1], w[2],
                                w[3], NULL);
        TF_CHECK(apr_pstrcat(pconf, w[0], " ", w[1] ? w[1] : "", NULL),
                 (err == NULL) == args_cases[i].ok);
        if ((err == NULL) != args_cases[i].ok) {
            printf("  got: %s\n", err ? err : "accepted");
        }
    }
}

/* --- where each directive may appear (README's "any", "server",
 *     "server, vhost") ------------------------------------------------------
 */

static const char *const ctx_any[] = {
    "TracEnv", "TracEnvParentDir", "TracEnvIndexTemplate", "TracFcgiParam",
    "TracFcgiPassEnv", "TracFcgiCheckEnv", "TracFcgiConnsPerProcess",
    "TracFcgiInitEnv", "DefaultInitEnv", "TracFcgiMinProcesses",
    "TracFcgiMaxProcesses", "TracFcgiMaxRequestsPerProcess",
    "TracFcgiProcessLifetime", "TracFcgiIdleTimeout", "TracFcgiQueueTimeout",
    "TracFcgiConnectTimeout", "TracFcgiIOTimeout", "TracFcgiStartupTimeout",
    "TracFcgiPassAuthorization", "TracFcgiPassHeader",
    "TracFcgiBodyInMemory", "TracFcgiMaxRequestLen",
    "TracFcgiRequestBuffering", "TracFcgiResponseBuffer",
    "TracFcgiReloadOnChange", "TracFcgiXSendfile", "TracFcgiXSendfilePath",
    "TracFcgiWrapper", "TracFcgiBusyTimeout",
    /* mod_fcgid's names (src/compat.c) */
    "FcgidInitialEnv", "FcgidMaxProcessesPerClass",
    "FcgidMinProcessesPerClass", "FcgidIdleTimeout", "FcgidIOTimeout",
    "FcgidConnectTimeout", "FcgidProcessLifeTime",
    "FcgidMaxRequestsPerProcess", "FcgidMaxRequestInMem",
    "FcgidOutputBufferSize", "FcgidPassHeader", "FcgidMaxRequestLen",
    "FcgidWrapper", "FcgidBusyTimeout", NULL};
/* ... and in .htaccess with AllowOverride FileInfo, as mod_fcgid's */
static const char *const ctx_htaccess[] = {"TracFcgiWrapper", "FcgidWrapper",
                                           NULL};
static const char *const ctx_vhost[] = {
    "TracFcgiServer", "TracFcgiExternalServer",
    "FcgidMaxProcesses", "FcgidIPCDir", "FcgidSpawnScore",
    "FcgidSpawnScoreUpLimit", "FcgidTerminationScore", "FcgidTimeScore",
    "FcgidIdleScanInterval", "FcgidBusyScanInterval",
    "FcgidErrorScanInterval", "FcgidZombieScanInterval",
    "FcgidProcessTableFile", "FcgidCmdOptions", "FcgidFixPathinfo",
    "FcgidWin32PreventOrphans",
    /* mod_fastcgi's names (src/compat.c) */
    "FastCgiServer", "AppClass", "FastCgiExternalServer", "ExternalAppClass",
    NULL};
static const char *const ctx_server[] = {
    "TracFcgiMaxProcessesTotal", "TracFcgiSocketDir",
    /* mod_fastcgi's, refused in a virtual host as mod_fastcgi does */
    "FastCgiConfig", "FCGIConfig", "FastCgiIpcDir", "FastCgiWrapper",
    "FastCgiSuexec", NULL};

/* mod_fcgid's authorizer directives: sections and .htaccess (AuthConfig
 * or FileInfo), not the server or a virtual host */
static const char *const ctx_auth[] = {
    "TracFcgiAuthenticator", "TracFcgiAuthenticatorAuthoritative",
    "TracFcgiAuthorizer", "TracFcgiAuthorizerAuthoritative",
    "TracFcgiAccessChecker", "TracFcgiAccessCheckerAuthoritative",
    "FcgidAuthenticator", "FcgidAuthenticatorAuthoritative",
    "FcgidAuthorizer", "FcgidAuthorizerAuthoritative", "FcgidAccessChecker",
    "FcgidAccessCheckerAuthoritative", "FastCgiAuthenticator",
    "FastCgiAuthenticatorAuthoritative", "FastCgiAuthorizer",
    "FastCgiAuthorizerAuthoritative", "FastCgiAccessChecker",
    "FastCgiAccessCheckerAuthoritative", NULL};

static int listed(const char *const *list, const char *name)
{
    for (; *list; list++) {
        if (strcmp(*list, name) == 0) {
            return 1;
        }
    }
    return 0;
}

static void test_contexts(void)
{
    const command_rec *c;
    int n = 0;

    for (c = tf_config_cmds; c->name; c++) {
        int any = listed(ctx_any, c->name);
        int top = listed(ctx_vhost, c->name) || listed(ctx_server, c->name);
        int auth = listed(ctx_auth, c->name);

        n++;
        TF_CHECK(c->name, any + top + auth == 1);
        if (auth) {
            TF_CHECK(c->name, c->req_override
                                  == (ACCESS_CONF | OR_AUTHCFG
                                      | OR_FILEINFO));
        }
        else if (any) {
            TF_CHECK(c->name, (c->req_override & (RSRC_CONF | ACCESS_CONF))
                                  == (RSRC_CONF | ACCESS_CONF));
            TF_CHECK(c->name, !(c->req_override & OR_FILEINFO)
                                  == !listed(ctx_htaccess, c->name));
        }
        else {
            TF_CHECK(c->name, c->req_override == RSRC_CONF);
        }
    }
    TF_CHECK("every directive of README in the table",
             n == (int)(sizeof(ctx_any) / sizeof(ctx_any[0])
                        + sizeof(ctx_vhost) / sizeof(ctx_vhost[0])
                        + sizeof(ctx_server) / sizeof(ctx_server[0])
                        + sizeof(ctx_auth) / sizeof(ctx_auth[0]) - 4));
}

static void test_server_wide(void)
{
    static const char *const args[][2] = {
        {"TracFcgiMaxProcessesTotal", "10"},
        {"TracFcgiSocketDir", "/run/tf"},
        {"TracFcgiServer", "/srv/app.fcgi"},
    };
    tf_srv_conf_t *sc;
    cmd_parms cmd;
    size_t i;
    char longdir[TF_SOCK_PATH_LEN + 1];
    size_t max_len = TF_SOCK_PATH_LEN - 1 - 44;

    for (i = 0; i < sizeof(args) / sizeof(args[0]); i++) {
        int vhost_ok = i == 2;

        setup();
        cmd = at(&main_s, NULL);
        TF_CHECK(args[i][0], DIR(&cmd, dir_new(), args[i][0], args[i][1])
                                 == NULL);
        cmd = at(&vhost_s, NULL);
        TF_CHECK(args[i][0], (DIR(&cmd, dir_new(), args[i][0], args[i][1])
                              == NULL)
                                 == vhost_ok);
        cmd = at(&vhost_s, "/x");
        TF_CHECK(args[i][0], DIR(&cmd, dir_new(), args[i][0], args[i][1])
                                 != NULL);
    }

    /* created unset; the virtual host's is the main server's */
    setup();
    sc = tf_config_srv_get(&main_s);
    TF_CHECK("unset", sc->max_total == -1 && sc->socket_dir == NULL);
    TF_CHECK("vhost sees main's", tf_config_srv_get(&vhost_s) == sc);
    TF_CHECK("merge keeps base",
             tf_config_srv_merge(pconf, sc, tf_config_srv_create(
                                                pconf, &vhost_s)) == sc);
    TF_CHECK("post", tf_config_post(pconf, &main_s) == NULL);
    TF_CHECK("default total 64", sc->max_total == 64);
    TF_CHECK("default socket dir under DefaultRuntimeDir",
             strcmp(sc->socket_dir, TF_STUB_RUNTIME_DIR "/tracfcgi") == 0);

    setup();
    sc = tf_config_srv_get(&main_s);
    cmd = at(&main_s, NULL);
    TF_CHECK("set", DIR(&cmd, NULL, "TracFcgiMaxProcessesTotal", "7")
                        == NULL);
    TF_CHECK("set", DIR(&cmd, NULL, "TracFcgiSocketDir", "tf") == NULL);
    TF_CHECK("post", tf_config_post(pconf, &main_s) == NULL);
    TF_CHECK("total kept", sc->max_total == 7);
    TF_CHECK("relative to ServerRoot",
             strcmp(sc->socket_dir, TF_STUB_SERVER_ROOT "/tf") == 0);
    TF_CHECK("the vhost sees it",
             tf_config_srv_get(&vhost_s)->socket_dir == sc->socket_dir);

    /* the longest directory the message allows is accepted, one more
     * character is not */
    memset(longdir, 'd', sizeof(longdir));
    longdir[0] = '/';
    longdir[max_len] = '\0';
    sc->socket_dir = longdir;
    TF_CHECK("longest allowed", tf_config_post(pconf, &main_s) == NULL);
    longdir[max_len] = 'd';
    longdir[max_len + 1] = '\0';
    TF_CHECK("one more refused",
             tf_config_post(pconf, &main_s) != NULL
                 && strstr(tf_config_post(pconf, &main_s),
                           apr_psprintf(pconf, "at most %d characters",
                                        (int)max_len)));
}

/* --- what the configuration collects for post_config -------------------- */

static void test_registries(void)
{
    apr_array_header_t *envs, *decl;
    const tf_trac_env_t *te;
    const tf_declared_t *d;
    tf_dir_conf_t *vh, *loc;
    cmd_parms cv, cl;

    setup();
    TF_CHECK("none yet", tf_config_trac_envs(pconf) == NULL
                             && tf_config_declared(pconf) == NULL);
    vh = vhost_dir[0];
    loc = dir_new();
    cv = at(&vhost_s, NULL);
    cl = at(&vhost_s, "/p");
    TF_CHECK("set", DIR(&cv, vh, "TracEnv", "/srv/one") == NULL);
    TF_CHECK("set", DIR(&cl, loc, "TracEnvParentDir", "/srv/all") == NULL);
    TF_CHECK("set", DIR(&cl, loc, "TracEnvIndexTemplate", "/srv/i.html")
                        == NULL);
    TF_CHECK("set", DIR(&cv, vh, "TracFcgiServer", "/srv/app.fcgi", "A=1",
                        "B=2", "A=3")
                        == NULL);
    envs = tf_config_trac_envs(pconf);
    TF_CHECK("two environments (not the index template)",
             envs && envs->nelts == 2);
    if (envs && envs->nelts == 2) {
        te = &APR_ARRAY_IDX(envs, 0, tf_trac_env_t);
        TF_CHECK("TracEnv", strcmp(te->path, "/srv/one") == 0
                                && !te->parent_dir && te->s == &vhost_s
                                && te->dconf == vh);
        TF_CHECK("where: file and line of the directive",
                 strcmp(te->where, apr_psprintf(pconf,
                                                "tracfcgi-test.conf:%d",
                                                cv.directive->line_num))
                     == 0);
        te = &APR_ARRAY_IDX(envs, 1, tf_trac_env_t);
        TF_CHECK("TracEnvParentDir", strcmp(te->path, "/srv/all") == 0
                                         && te->parent_dir
                                         && te->dconf == loc);
    }
    decl = tf_config_declared(pconf);
    TF_CHECK("one TracFcgiServer", decl && decl->nelts == 1);
    if (decl && decl->nelts == 1) {
        d = &APR_ARRAY_IDX(decl, 0, tf_declared_t);
        TF_CHECK("declared", d->s == &vhost_s
                                 && strcmp(d->path, "/srv/app.fcgi") == 0);
        TF_CHECK("its variables, by name",
                 strcmp(env_str(d->env), "A=3|B=2") == 0);
    }
    /* the next configuration read starts empty */
    setup();
    TF_CHECK("a new read starts empty", tf_config_trac_envs(pconf) == NULL
                                            && tf_config_declared(pconf)
                                                   == NULL);
}

/* TracFcgiExternalServer: kept per server, in the registry, URL-PATH
 * without its trailing slash, options read, a URL-PATH once per server. */
static void test_externals(void)
{
    const apr_array_header_t *mine;
    apr_array_header_t *all;
    const tf_external_t *x;
    cmd_parms cm, cv;

    setup();
    TF_CHECK("none yet", tf_config_externals(pconf) == NULL
                             && tf_config_externals_of(&main_s) == NULL);
    cm = at(&main_s, NULL);
    cv = at(&vhost_s, NULL);
    TF_CHECK("set", DIR(&cm, NULL, "TracFcgiExternalServer", "/trac/",
                        "unix:/run/t.sock", "127.0.0.1:9000") == NULL);
    TF_CHECK("set", DIR(&cv, NULL, "TracFcgiExternalServer", "/",
                        "[::1]:9001", "conns=4", "check=2") == NULL);
    TF_CHECK("vhost may reuse the path",
             DIR(&cv, NULL, "TracFcgiExternalServer", "/trac",
                 "127.0.0.1:9002", "fails=3") == NULL);
    TF_CHECK("not twice in one server",
             DIR(&cv, NULL, "TracFcgiExternalServer", "/trac/",
                 "127.0.0.1:9003") != NULL);
    all = tf_config_externals(pconf);
    TF_CHECK("three in the registry", all && all->nelts == 3);
    TF_CHECK("known after post", tf_config_externals_of(&main_s) == NULL
                                     && tf_config_post(pconf, &main_s)
                                            == NULL);
    mine = tf_config_externals_of(&main_s);
    TF_CHECK("one of main's", mine && mine->nelts == 1);
    if (mine && mine->nelts == 1) {
        x = APR_ARRAY_IDX(mine, 0, const tf_external_t *);
        TF_CHECK("no trailing slash", strcmp(x->url, "/trac") == 0
                                          && x->url_len == 5);
        TF_CHECK("two addresses", x->n_addrs == 2
                                      && x->addrs[0].family
                                             == TF_BACKEND_UNIX
                                      && x->addrs[1].family
                                             == TF_BACKEND_TCP);
        TF_CHECK("texts", strcmp(x->addr_text[0], "unix:/run/t.sock") == 0
                              && strcmp(x->addr_text[1], "127.0.0.1:9000")
                                     == 0);
        TF_CHECK("defaults", x->conns == 0 && x->check == 5
                                 && x->fails == 1 && x->keepalive == 0
                                 && x->pool == -1 && x->s == &main_s);
    }
    mine = tf_config_externals_of(&vhost_s);
    TF_CHECK("two of the vhost's", mine && mine->nelts == 2);
    if (mine && mine->nelts == 2) {
        x = APR_ARRAY_IDX(mine, 0, const tf_external_t *);
        TF_CHECK("root mount", strcmp(x->url, "") == 0 && x->url_len == 0);
        TF_CHECK("options", x->conns == 4 && x->check == 2 && x->fails == 1);
        TF_CHECK("v6", strcmp(x->addr_text[0], "[::1]:9001") == 0);
        x = APR_ARRAY_IDX(mine, 1, const tf_external_t *);
        TF_CHECK("fails", x->fails == 3);
    }
    setup();
    TF_CHECK("a new read starts empty", tf_config_externals(pconf) == NULL);
}

/* mod_fcgid's names map to the native directives; its knobs that mean
 * nothing here are accepted; with mod_fcgid loaded, they step aside. */
static void test_compat(void)
{
    tf_dir_conf_t *c;
    cmd_parms cmd;

    setup();
    c = dir_new();
    cmd = at(&main_s, "/app");
    TF_CHECK("FcgidMaxProcessesPerClass",
             DIR(&cmd, c, "FcgidMaxProcessesPerClass", "3") == NULL
                 && c->max_procs == 3);
    TF_CHECK("FcgidIOTimeout", DIR(&cmd, c, "FcgidIOTimeout", "45") == NULL
                                   && c->io_timeout == 45);
    TF_CHECK("FcgidInitialEnv",
             DIR(&cmd, c, "FcgidInitialEnv", "PHP_FCGI_CHILDREN", "0")
                     == NULL
                 && strcmp(env_str(c->init_env), "PHP_FCGI_CHILDREN=0")
                        == 0);
    TF_CHECK("a bad value is the native directive's error",
             DIR(&cmd, c, "FcgidMaxProcessesPerClass", "many") != NULL);
    TF_CHECK("ignored knobs are accepted",
             DIR(&cmd, c, "FcgidOutputBufferSize", "65536") == NULL);
    cmd = at(&main_s, NULL);
    TF_CHECK("FcgidSpawnScore", DIR(&cmd, NULL, "FcgidSpawnScore", "1")
                                    == NULL);
    tf_stub_linked_module = "mod_fcgid.c";
    {
        const char *err = DIR(&cmd, c, "FcgidIOTimeout", "99");

        TF_CHECK("mod_fcgid loaded: its own",
                 err && strcmp(err, DECLINE_CMD) == 0);
    }
    TF_CHECK("untouched", c->io_timeout == 45);
    tf_stub_linked_module = NULL;
}

/* What configtest will say is ignored (src/compat.c), one string each. */
static const char *ignored_lines(void)
{
    apr_array_header_t *ign;
    const char *out = "";
    void *v = NULL;
    int i;

    apr_pool_userdata_get(&v, "tracfcgi-compat-ignored", pconf);
    for (i = 0, ign = v; ign && i < ign->nelts; i++) {
        out = apr_pstrcat(pconf, out, "|", APR_ARRAY_IDX(ign, i,
                                                         const char *),
                          NULL);
    }
    return out;
}

/* mod_fastcgi's FastCgiServer: a TracFcgiServer whose pool has its
 * options' settings and min = max = -processes (default 1). */
static void test_fastcgi_server(void)
{
    apr_array_header_t *decl;
    const tf_declared_t *d;
    const char *err;
    tf_dir_conf_t r;
    cmd_parms cm, cv;

    setup();
    cm = at(&main_s, NULL);
    TF_CHECK("set", DIR(&cm, main_dir[0], "FastCgiServer", "/srv/app.fcgi",
                        "-processes", "2", "-initial-env", "FOO=bar=baz",
                        "-initial-env", "EMPTY=", "-initial-env", "HOME",
                        "-idle-timeout", "30", "-appConnTimeout", "3",
                        "-pass-header", "Authorization") == NULL);
    cm = at(&main_s, NULL);
    TF_CHECK("options, any case", DIR(&cm, main_dir[0], "FastCgiServer",
                                      "fcgi-bin/other.fcgi", "-FLUSH",
                                      "-Port", "9000", "-nph", "-user",
                                      "www") == NULL);
    decl = tf_config_declared(pconf);
    TF_CHECK("two declared", decl && decl->nelts == 2);
    if (!decl || decl->nelts != 2) {
        return;
    }
    d = &APR_ARRAY_IDX(decl, 0, tf_declared_t);
    TF_CHECK("its file", strcmp(d->path, "/srv/app.fcgi") == 0 && d->over);
    tf_config_dir_resolve(merge(main_dir[0], d->over), &r);
    TF_CHECK("-processes 2: min = max = 2",
             r.min_procs == 2 && r.max_procs == 2);
    TF_CHECK("-initial-env", strcmp(env_str(r.init_env),
                                    "FOO=bar=baz|EMPTY=") == 0);
    TF_CHECK("-initial-env NAME: httpd's own",
             strcmp(env_str(r.pass_env), "HOME") == 0);
    TF_CHECK("-idle-timeout is the IO timeout",
             r.io_timeout == 30 && r.idle_timeout == 300);
    TF_CHECK("-appConnTimeout", r.connect_timeout == 3);
    TF_CHECK("-pass-header", strcmp(env_str(r.pass_headers),
                                    "Authorization=HTTP_AUTHORIZATION")
                                 == 0);
    TF_CHECK("the server's own configuration untouched",
             ((tf_dir_conf_t *)main_dir[0])->max_procs == -1
                 && !((tf_dir_conf_t *)main_dir[0])->init_env);
    d = &APR_ARRAY_IDX(decl, 1, tf_declared_t);
    TF_CHECK("relative to ServerRoot",
             strcmp(d->path, TF_STUB_SERVER_ROOT "/fcgi-bin/other.fcgi")
                 == 0);
    tf_config_dir_resolve(merge(main_dir[0], d->over), &r);
    TF_CHECK("no -processes: one, as mod_fastcgi",
             r.min_procs == 1 && r.max_procs == 1);
    TF_CHECK("-flush: answers streamed", r.response_buffer == 0);
    TF_CHECK("ignored ones said",
             strstr(ignored_lines(), "|FastCgiServer -port "
                                     "(tracfcgi-test.conf:2) is ignored: ")
                 && strstr(ignored_lines(), "|FastCgiServer -nph ")
                 && strstr(ignored_lines(), "|FastCgiServer -user "));

    TF_CHECK("the old name", DIR(&cm, NULL, "AppClass", "/srv/old.fcgi")
                                 == NULL);
    err = DIR(&cm, NULL, "FastCgiServer", "/srv/x.fcgi", "-bogus", "1");
    TF_CHECK("an unknown option is an error naming it",
             err && strstr(err, "FastCgiServer /srv/x.fcgi: invalid option: "
                                "-bogus"));
    err = DIR(&cm, NULL, "FastCgiServer", "/srv/x.fcgi", "-host",
              "127.0.0.1:9000");
    TF_CHECK("another directive's option too",
             err && strstr(err, "invalid option: -host"));
    TF_CHECK("-processes 0", DIR(&cm, NULL, "FastCgiServer", "/srv/x.fcgi",
                                 "-processes", "0") != NULL);
    TF_CHECK("-processes x", DIR(&cm, NULL, "FastCgiServer", "/srv/x.fcgi",
                                 "-processes", "x") != NULL);
    err = DIR(&cm, NULL, "FastCgiServer", "/srv/x.fcgi", "-idle-timeout");
    TF_CHECK("a value missing", err && strstr(err, "-idle-timeout"));
    TF_CHECK("a bad variable name",
             DIR(&cm, NULL, "FastCgiServer", "/srv/x.fcgi", "-initial-env",
                 "=x") != NULL);
    TF_CHECK("no path", DIR(&cm, NULL, "FastCgiServer") != NULL);
    cv = at(&vhost_s, "/x");
    TF_CHECK("not in a section",
             DIR(&cv, NULL, "FastCgiServer", "/srv/y.fcgi") != NULL);
    TF_CHECK("nothing more declared", tf_config_declared(pconf)->nelts == 3);
}

/* mod_fastcgi's FastCgiExternalServer: a TracFcgiExternalServer for a
 * file, with its options' settings. */
static void test_fastcgi_external(void)
{
    apr_array_header_t *all;
    const tf_external_t *x;
    const char *err;
    tf_dir_conf_t r;
    cmd_parms cm, cv;

    setup();
    cm = at(&main_s, NULL);
    cv = at(&vhost_s, NULL);
    TF_CHECK("set", DIR(&cm, NULL, "FastCgiExternalServer",
                        "/srv/www/php.fcgi", "-host", "127.0.0.1:9000",
                        "-idle-timeout", "20", "-pass-header",
                        "Authorization", "-user", "www") == NULL);
    TF_CHECK("set", DIR(&cv, NULL, "FastCgiExternalServer", "ext/a.fcgi",
                        "-socket", "a.sock") == NULL);
    TF_CHECK("set", DIR(&cm, NULL, "FastCgiIpcDir", "/run/fcgi") == NULL);
    TF_CHECK("set", DIR(&cm, NULL, "ExternalAppClass", "/srv/b.fcgi",
                        "-socket", "b.sock", "-flush") == NULL);
    TF_CHECK("set", DIR(&cm, NULL, "FastCgiExternalServer", "/srv/c.fcgi",
                        "-socket", "/var/run/c.sock") == NULL);
    all = tf_config_externals(pconf);
    TF_CHECK("four", all && all->nelts == 4);
    if (!all || all->nelts != 4) {
        return;
    }
    x = APR_ARRAY_IDX(all, 0, const tf_external_t *);
    TF_CHECK("by file", x->file && strcmp(x->file, "/srv/www/php.fcgi") == 0
                            && strcmp(x->addr_text[0], "127.0.0.1:9000")
                                   == 0);
    tf_config_dir_resolve(merge(dir_new(), x->over), &r);
    TF_CHECK("its options", r.io_timeout == 20
                                && r.pass_headers
                                && r.pass_headers->nelts == 1);
    x = APR_ARRAY_IDX(all, 1, const tf_external_t *);
    TF_CHECK("a relative file: ServerRoot; a relative socket: "
             "mod_fastcgi's default FastCgiIpcDir",
             strcmp(x->file, TF_STUB_SERVER_ROOT "/ext/a.fcgi") == 0
                 && strcmp(x->addr_text[0], "unix:" TF_STUB_RUNTIME_DIR
                                            "/fastcgi/a.sock") == 0
                 && x->s == &vhost_s);
    x = APR_ARRAY_IDX(all, 2, const tf_external_t *);
    TF_CHECK("a relative socket in FastCgiIpcDir",
             strcmp(x->addr_text[0], "unix:/run/fcgi/b.sock") == 0);
    tf_config_dir_resolve(merge(dir_new(), x->over), &r);
    TF_CHECK("-flush", r.response_buffer == 0);
    x = APR_ARRAY_IDX(all, 3, const tf_external_t *);
    TF_CHECK("an absolute socket",
             strcmp(x->addr_text[0], "unix:/var/run/c.sock") == 0);
    TF_CHECK("post", tf_config_post(pconf, &main_s) == NULL);
    TF_CHECK("every file, for every server",
             tf_config_srv_get(&vhost_s)->external_files
                 && tf_config_srv_get(&vhost_s)->external_files->nelts == 4);
    TF_CHECK("not under a URL-PATH", tf_config_externals_of(&main_s)
                                         && tf_config_externals_of(&main_s)
                                                    ->nelts == 3);

    err = DIR(&cm, NULL, "FastCgiExternalServer", "/srv/d.fcgi");
    TF_CHECK("no address", err && strstr(err, "-socket or -host option "
                                              "missing"));
    err = DIR(&cm, NULL, "FastCgiExternalServer", "/srv/d.fcgi", "-host",
              "127.0.0.1:9000", "-socket", "d.sock");
    TF_CHECK("two", err && strstr(err, "mutually exclusive"));
    err = DIR(&cm, NULL, "FastCgiExternalServer", "/srv/d.fcgi", "-host",
              "127.0.0.1:9000", "-processes", "2");
    TF_CHECK("FastCgiServer's option", err && strstr(err, "invalid option: "
                                                          "-processes"));
    TF_CHECK("a bad address", DIR(&cm, NULL, "FastCgiExternalServer",
                                  "/srv/d.fcgi", "-host", "nowhere")
                                  != NULL);
    TF_CHECK("the same file twice in a server",
             DIR(&cm, NULL, "FastCgiExternalServer", "/srv/c.fcgi", "-host",
                 "127.0.0.1:9001") != NULL);
    TF_CHECK("a URL-PATH of the same text is another thing",
             DIR(&cm, NULL, "TracFcgiExternalServer", "/srv/c.fcgi",
                 "127.0.0.1:9001") == NULL);
}

/* mod_fastcgi's FastCgiConfig: the server's defaults; FastCgiWrapper. */
static void test_fastcgi_config(void)
{
    tf_dir_conf_t r;
    const char *err;
    cmd_parms cm, cv;

    setup();
    cm = at(&main_s, NULL);
    cv = at(&vhost_s, NULL);
    TF_CHECK("set", DIR(&cm, main_dir[0], "FastCgiConfig",
                        "-maxClassProcesses", "3", "-maxProcesses", "20",
                        "-idle-timeout", "45", "-autoUpdate",
                        "-initial-env", "PHP_FCGI_CHILDREN=0") == NULL);
    TF_CHECK("ignored ones", DIR(&cm, main_dir[0], "FCGIConfig",
                                 "-killInterval", "10", "-gainValue", "0.5",
                                 "-singleThreshhold", "0", "-minProcesses",
                                 "2", "-restart") == NULL);
    TF_CHECK("not the server's own settings",
             ((tf_dir_conf_t *)main_dir[0])->max_procs == -1);
    TF_CHECK("kept apart", tf_config_srv_get(&vhost_s)->dynamic != NULL);
    tf_config_dir_resolve(tf_config_srv_get(&main_s)->dynamic, &r);
    TF_CHECK("-maxClassProcesses", r.max_procs == 3);
    TF_CHECK("-idle-timeout", r.io_timeout == 45);
    TF_CHECK("-autoUpdate", r.reload == 1);
    TF_CHECK("-initial-env", strcmp(env_str(r.init_env),
                                    "PHP_FCGI_CHILDREN=0") == 0);
    TF_CHECK("post", tf_config_post(pconf, &main_s) == NULL);
    TF_CHECK("-maxProcesses", tf_config_srv_get(&main_s)->max_total == 20);
    TF_CHECK("each ignored one said",
             strstr(ignored_lines(), "|FCGIConfig -killInterval ")
                 && strstr(ignored_lines(), "|FCGIConfig -gainValue ")
                 && strstr(ignored_lines(), "|FCGIConfig -singleThreshhold ")
                 && strstr(ignored_lines(), "|FCGIConfig -minProcesses ")
                 && strstr(ignored_lines(), "|FCGIConfig -restart "));
    TF_CHECK("-gainValue 2", DIR(&cm, main_dir[0], "FastCgiConfig",
                                 "-gainValue", "2") != NULL);
    err = DIR(&cm, main_dir[0], "FastCgiConfig", "-processes", "2");
    TF_CHECK("FastCgiServer's option",
             err && strstr(err, "invalid option: -processes"));
    TF_CHECK("not in a virtual host",
             DIR(&cv, vhost_dir[0], "FastCgiConfig", "-idle-timeout", "9")
                 != NULL);

    TF_CHECK("FastCgiWrapper On", DIR(&cm, NULL, "FastCgiWrapper", "On")
                                      == NULL);
    TF_CHECK("FastCgiSuexec off", DIR(&cm, NULL, "FastCgiSuexec", "off")
                                      == NULL);
    TF_CHECK("said", strstr(ignored_lines(), "|FastCgiWrapper On ")
                         && strstr(ignored_lines(), "|FastCgiSuexec Off "));
    err = DIR(&cm, NULL, "FastCgiWrapper", "/usr/bin/cgiwrap");
    TF_CHECK("another wrapper is an error",
             err && strstr(err, "/usr/bin/cgiwrap"));
    TF_CHECK("FastCgiWrapper in a virtual host",
             DIR(&cv, NULL, "FastCgiWrapper", "On") != NULL);

    /* a request: FastCgiConfig under its sections; an application's
     * options over them, without FastCgiConfig's */
    {
        request_rec req;
        void *vec[1];
        tf_dir_conf_t *over = dir_new(), out;
        cmd_parms cl = at(&main_s, "/app");

        memset(&req, 0, sizeof(req));
        req.server = &main_s;
        req.pool = pconf;
        req.per_dir_config = (ap_conf_vector_t *)vec;
        vec[0] = dir_new();
        TF_CHECK("set", DIR(&cl, vec[0], "TracFcgiIOTimeout", "99") == NULL);
        tf_config_dir_get(&req, &out);
        TF_CHECK("the section's own wins", out.io_timeout == 99);
        TF_CHECK("FastCgiConfig where it sets nothing",
                 out.max_procs == 3 && out.reload == 1);
        TF_CHECK("set", DIR(&cl, over, "TracFcgiIOTimeout", "7") == NULL);
        tf_config_dir_get_app(&req, over, &out);
        TF_CHECK("an application's option over the section",
                 out.io_timeout == 7);
        TF_CHECK("no FastCgiConfig for it",
                 out.max_procs == 4 && out.reload == 0);
        tf_config_dir_get_app(&req, NULL, &out);
        TF_CHECK("nor for an external server of a URL-PATH",
                 out.io_timeout == 99 && out.max_procs == 4);
    }

    tf_stub_linked_module = "mod_fastcgi.c";
    err = DIR(&cm, NULL, "FastCgiServer", "/srv/app.fcgi", "-bogus");
    TF_CHECK("mod_fastcgi loaded: its own",
             err && strcmp(err, DECLINE_CMD) == 0);
    err = DIR(&cm, main_dir[0], "FcgidIOTimeout", "5");
    TF_CHECK("but not mod_fcgid's", err == NULL);
    tf_stub_linked_module = NULL;
}

/* TracFcgiCheckEnv: the TracEnv's section, else its virtual host, else
 * the main server, else Warn. */
static void test_check_mode(void)
{
    static const struct {
        const char *sect, *vhost, *top;
        int want;
    } cases[] = {
        {NULL, NULL, NULL, TF_CHECK_WARN},
        {NULL, NULL, "Strict", TF_CHECK_STRICT},
        {NULL, "Off", "Strict", TF_CHECK_OFF},
        {"Strict", "Off", "Warn", TF_CHECK_STRICT},
        {"Off", NULL, NULL, TF_CHECK_OFF},
        {"Warn", "Strict", "Strict", TF_CHECK_WARN},
        {NULL, "Strict", NULL, TF_CHECK_STRICT},
    };
    size_t i;

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        tf_dir_conf_t *loc;
        cmd_parms cm, cv, cl;
        const apr_array_header_t *envs;

        setup();
        cm = at(&main_s, NULL);
        cv = at(&vhost_s, NULL);
        cl = at(&vhost_s, "/p");
        loc = dir_new();
        TF_CHECK("set", DIR(&cl, loc, "TracEnv", "/srv/p") == NULL);
        if (cases[i].sect) {
            TF_CHECK("set", DIR(&cl, loc, "TracFcgiCheckEnv", cases[i].sect)
                                == NULL);
        }
        if (cases[i].vhost) {
            TF_CHECK("set", DIR(&cv, vhost_dir[0], "TracFcgiCheckEnv",
                                cases[i].vhost) == NULL);
        }
        if (cases[i].top) {
            TF_CHECK("set", DIR(&cm, main_dir[0], "TracFcgiCheckEnv",
                                cases[i].top) == NULL);
        }
        envs = tf_config_trac_envs(pconf);
        TF_CHECK("check mode",
                 tf_config_check_mode(&APR_ARRAY_IDX(envs, 0, tf_trac_env_t),
                                      &main_s)
                     == cases[i].want);
    }
}

static void test_dir_get(void)
{
    request_rec r;
    tf_dir_conf_t out;
    void *vec[1];
    cmd_parms cl;

    setup();
    memset(&r, 0, sizeof(r));
    r.server = &main_s;
    vec[0] = dir_new();
    cl = at(&main_s, "/x");
    TF_CHECK("set", DIR(&cl, vec[0], "TracFcgiMaxProcesses", "3") == NULL);
    r.per_dir_config = (ap_conf_vector_t *)vec;
    tf_config_dir_get(&r, &out);
    TF_CHECK("the request's, resolved",
             out.max_procs == 3 && out.idle_timeout == 300);
}

int main(void)
{
    apr_initialize();
    test_int_fields_merge();
    test_three_levels();
    test_resolve_defaults();
    test_body_in_memory();
    test_response_buffer();
    test_pass_headers();
    test_max_request_len();
    test_env_merge();
    test_env_siblings();
    test_env_merge_api();
    test_arguments();
    test_contexts();
    test_server_wide();
    test_registries();
    test_externals();
    test_compat();
    test_fastcgi_server();
    test_fastcgi_external();
    test_fastcgi_config();
    test_check_mode();
    test_dir_get();
    apr_pool_destroy(pconf);
    apr_terminate();
    return TF_REPORT();
}
