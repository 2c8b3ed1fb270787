/*
 * test_ipc.c: the message format between request threads and the process
 * manager (src/ipc.c): spawn requests round trip with every field, long
 * argv and env, empty strings; every truncation and a set of corruptions
 * are refused cleanly, through the pure decoders and through a descriptor;
 * replies round trip and are always NUL-terminated.
 */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "apr_general.h"
#include "apr_pools.h"
#include "apr_strings.h"

#include "tf_ipc.h"
#include "tf_test.h"

static apr_pool_t *pool;

static int strv_eq(const char *const *a, const char *const *b)
{
    size_t i;

    for (i = 0; a[i] && b[i]; i++) {
        if (strcmp(a[i], b[i]) != 0) {
            return 0;
        }
    }
    return a[i] == NULL && b[i] == NULL;
}

static int spec_eq(const tf_spawn_spec_t *a, const tf_spawn_spec_t *b)
{
    return a->ref.idx == b->ref.idx && a->ref.seq == b->ref.seq
           && a->pool == b->pool && a->key == b->key && a->uid == b->uid
           && a->gid == b->gid
           && memcmp(&a->lim, &b->lim, sizeof(a->lim)) == 0
           && a->startup_timeout == b->startup_timeout
           && strcmp(a->name, b->name) == 0 && strcmp(a->cwd, b->cwd) == 0
           && strv_eq(a->argv, b->argv) && strv_eq(a->env, b->env)
           && strv_eq(a->watch ? a->watch : (const char *const[]){NULL},
                      b->watch ? b->watch : (const char *const[]){NULL});
}

static char *filled(size_t n, char c)
{
    char *s = apr_palloc(pool, n + 1);

    memset(s, c, n);
    s[n] = '\0';
    return s;
}

/* A spec with every field set, a long argv and a long environment. */
static tf_spawn_spec_t full_spec(void)
{
    static const char *argv[6];
    static const char *env[1003];
    static const char *watch[] = {"/srv/trac/plugins-shared",
                                  "/usr/lib/python3/dist-packages/trac",
                                  NULL};
    tf_spawn_spec_t s;
    int i;

    memset(&s, 0, sizeof(s));
    s.ref.idx = 17;
    s.ref.seq = 0xfffffffeu;
    s.pool = 5;
    s.key = 0x0123456789abcdefULL;
    s.uid = 33;
    s.gid = -2;
    s.lim.min_procs = 1;
    s.lim.max_procs = 8;
    s.lim.max_conns = 4;
    s.lim.conns_auto = 1;
    s.lim.reload = 1;
    s.lim.idle_timeout = 300;
    s.lim.max_requests = 1000;
    s.lim.lifetime = 86400;
    s.startup_timeout = 30;
    s.name = "/srv/trac/cgi-bin/trac.fcgi (trac.example.org)";
    s.cwd = "/srv/trac/cgi-bin";
    argv[0] = "/usr/lib/apache2/suexec";
    argv[1] = "trac";
    argv[2] = "";                      /* an empty argument */
    argv[3] = filled(100000, 'a');     /* a long one */
    argv[4] = "caf\xc3\xa9 \t\n";      /* bytes as they are */
    argv[5] = NULL;
    for (i = 0; i < 1000; i++) {
        env[i] = apr_psprintf(pool, "VAR_%d=%s", i, i % 100 ? "v" : "");
    }
    env[1000] = apr_pstrcat(pool, "BIG=", filled(70000, 'e'), NULL);
    env[1001] = "TRAC_ENV=/srv/trac/projects/main";
    env[1002] = NULL;
    s.argv = argv;
    s.env = env;
    s.watch = watch;
    return s;
}

static void test_roundtrip(void)
{
    tf_spawn_spec_t in = full_spec(), out;
    const char *one_argv[] = {"/bin/app", NULL};
    const char *no_env[] = {NULL};
    apr_size_t len, body_len;
    char *buf;

    TF_CHECK("encode",
             tf_ipc_spawn_encode(pool, &in, &buf, &len) == APR_SUCCESS);
    TF_CHECK("header", tf_ipc_spawn_decode_header(buf, &body_len)
                           == APR_SUCCESS);
    TF_CHECK("length", len == sizeof(tf_ipc_hdr_t) + body_len);
    TF_CHECK("decode", tf_ipc_spawn_decode_body(pool,
                                                buf + sizeof(tf_ipc_hdr_t),
                                                body_len, &out)
                           == APR_SUCCESS);
    TF_CHECK("every field back", spec_eq(&in, &out));
    TF_CHECK("the long argument whole", strlen(out.argv[3]) == 100000);
    TF_CHECK("the long variable whole", strlen(out.env[1000]) == 70004);
    TF_CHECK("the watched paths",
             out.watch && out.watch[1] && !out.watch[2]
                 && strcmp(out.watch[1], "/usr/lib/python3/dist-packages/"
                                         "trac") == 0);

    /* the smallest: one argv entry, no environment, empty strings */
    in.name = "";
    in.cwd = "";
    in.argv = one_argv;
    in.env = no_env;
    in.watch = NULL;
    TF_CHECK("encode small",
             tf_ipc_spawn_encode(pool, &in, &buf, &len) == APR_SUCCESS);
    TF_CHECK("header small", tf_ipc_spawn_decode_header(buf, &body_len)
                                 == APR_SUCCESS);
    TF_CHECK("exact size",
             body_len == sizeof(tf_ipc_spawn_fixed_t) + 1 + 1 + 9 + 0);
    TF_CHECK("decode small",
             tf_ipc_spawn_decode_body(pool, buf + sizeof(tf_ipc_hdr_t),
                                      body_len, &out) == APR_SUCCESS
                 && spec_eq(&in, &out) && out.env[0] == NULL);
    in.env = NULL; /* no environment at all: sent as none */
    TF_CHECK("NULL env encodes as empty",
             tf_ipc_spawn_encode(pool, &in, &buf, &len) == APR_SUCCESS
                 && tf_ipc_spawn_decode_header(buf, &body_len) == APR_SUCCESS
                 && tf_ipc_spawn_decode_body(pool,
                                             buf + sizeof(tf_ipc_hdr_t),
                                             body_len, &out) == APR_SUCCESS
                 && out.env[0] == NULL);
}

static void test_too_big(void)
{
    tf_spawn_spec_t in = full_spec();
    const char *env[2];
    apr_size_t len;
    char *buf = NULL;

    env[0] = filled(TF_IPC_MAX_LEN, 'x');
    env[1] = NULL;
    in.env = env;
    TF_CHECK("over TF_IPC_MAX_LEN refused",
             tf_ipc_spawn_encode(pool, &in, &buf, &len) == APR_EINVAL
                 && buf == NULL);
}

/* A copy of a valid message's body, to corrupt. */
static char *body_of(const tf_spawn_spec_t *in, apr_size_t *body_len)
{
    apr_size_t len;
    char *buf;

    tf_ipc_spawn_encode(pool, in, &buf, &len);
    tf_ipc_spawn_decode_header(buf, body_len);
    return apr_pmemdup(pool, buf + sizeof(tf_ipc_hdr_t), *body_len);
}

static void set_u32(char *body, size_t off, apr_uint32_t v)
{
    memcpy(body + off, &v, sizeof(v));
}

static void test_header_refused(void)
{
    tf_ipc_hdr_t h;
    apr_size_t len = 12345;

    h.magic = TF_IPC_MAGIC;
    h.version = TF_IPC_VERSION;
    h.len = sizeof(tf_ipc_spawn_fixed_t);
    TF_CHECK("smallest length accepted",
             tf_ipc_spawn_decode_header(&h, &len) == APR_SUCCESS
                 && len == sizeof(tf_ipc_spawn_fixed_t));
    h.len = TF_IPC_MAX_LEN;
    TF_CHECK("largest accepted",
             tf_ipc_spawn_decode_header(&h, &len) == APR_SUCCESS);
    len = 12345;
    h.len = sizeof(tf_ipc_spawn_fixed_t) - 1;
    TF_CHECK("shorter than the fixed part",
             tf_ipc_spawn_decode_header(&h, &len) == APR_EINVAL
                 && len == 12345);
    h.len = TF_IPC_MAX_LEN + 1;
    TF_CHECK("over the bound",
             tf_ipc_spawn_decode_header(&h, &len) == APR_EINVAL);
    h.len = 0xffffffffu;
    TF_CHECK("huge", tf_ipc_spawn_decode_header(&h, &len) == APR_EINVAL);
    h.len = 100;
    h.magic ^= 1;
    TF_CHECK("magic", tf_ipc_spawn_decode_header(&h, &len) == APR_EINVAL);
    h.magic = TF_IPC_MAGIC;
    h.version = TF_IPC_VERSION + 1;
    TF_CHECK("version", tf_ipc_spawn_decode_header(&h, &len) == APR_EINVAL);
}

static void test_body_refused(void)
{
    tf_spawn_spec_t in = full_spec(), out;
    const char *argv[] = {"/bin/app", "-x", NULL};
    const char *env[] = {"A=1", "B=", NULL};
    size_t n_argv = offsetof(tf_ipc_spawn_fixed_t, n_argv);
    size_t n_env = offsetof(tf_ipc_spawn_fixed_t, n_env);
    apr_size_t len, cut;
    char *body, *copy;
    int bad = 0;

    in.argv = argv;
    in.env = env;
    body = body_of(&in, &len);
    TF_CHECK("the base decodes",
             tf_ipc_spawn_decode_body(pool, apr_pmemdup(pool, body, len), len,
                                      &out) == APR_SUCCESS);
    /* every truncation: each cut leaves a string or an entry missing */
    for (cut = 0; cut < len; cut++) {
        copy = apr_pmemdup(pool, body, len);
        if (tf_ipc_spawn_decode_body(pool, copy, cut, &out) != APR_EINVAL) {
            bad++;
        }
    }
    TF_CHECK("every truncation refused", bad == 0);

    copy = apr_pmemdup(pool, body, len);
    set_u32(copy, n_argv, 0);
    TF_CHECK("no argv[0]",
             tf_ipc_spawn_decode_body(pool, copy, len, &out) == APR_EINVAL);
    copy = apr_pmemdup(pool, body, len);
    set_u32(copy, n_argv, 0xffffffffu);
    TF_CHECK("argv count past the bytes (no huge allocation)",
             tf_ipc_spawn_decode_body(pool, copy, len, &out) == APR_EINVAL);
    copy = apr_pmemdup(pool, body, len);
    set_u32(copy, n_env, 0x7fffffffu);
    TF_CHECK("env count past the bytes",
             tf_ipc_spawn_decode_body(pool, copy, len, &out) == APR_EINVAL);
    copy = apr_pmemdup(pool, body, len);
    set_u32(copy, n_env, 3);
    TF_CHECK("one env entry more than there is",
             tf_ipc_spawn_decode_body(pool, copy, len, &out) == APR_EINVAL);
    copy = apr_pmemdup(pool, body, len);
    set_u32(copy, n_env, 1);
    TF_CHECK("one env entry less: bytes left over",
             tf_ipc_spawn_decode_body(pool, copy, len, &out) == APR_EINVAL);
    copy = apr_pmemdup(pool, body, len);
    copy[len - 1] = 'x';
    TF_CHECK("last string without its NUL",
             tf_ipc_spawn_decode_body(pool, copy, len, &out) == APR_EINVAL);
    copy = apr_palloc(pool, len + 1);
    memcpy(copy, body, len);
    copy[len] = '\0';
    TF_CHECK("a byte after the last string",
             tf_ipc_spawn_decode_body(pool, copy, len + 1, &out)
                 == APR_EINVAL);
}

/* Random damage to a valid body: refused or decoded, never more. */
static void test_mutations(void)
{
    tf_spawn_spec_t in = full_spec(), out;
    const char *argv[] = {"/bin/app", "-x", "", NULL};
    const char *env[] = {"A=1", "B=", "C=3", NULL};
    unsigned long long rs = 0x9e3779b97f4a7c15ULL;
    apr_size_t len, i;
    apr_pool_t *sub;
    char *body;
    int k, j, escaped = 0;

    in.argv = argv;
    in.env = env;
    body = body_of(&in, &len);
    apr_pool_create(&sub, pool);
    for (k = 0; k < 20000; k++) {
        char *copy = apr_pmemdup(sub, body, len);

        for (j = 0; j < 1 + k % 4; j++) {
            rs ^= rs << 13;
            rs ^= rs >> 7;
            rs ^= rs << 17;
            copy[rs % len] = (char)(rs >> 32);
        }
        if (tf_ipc_spawn_decode_body(sub, copy, len, &out) != APR_SUCCESS) {
            continue;
        }
        /* decoded: every string lies inside the body */
        for (i = 0; out.argv[i]; i++) {
            escaped += out.argv[i] < copy || out.argv[i] >= copy + len;
        }
        for (i = 0; out.env[i]; i++) {
            escaped += out.env[i] < copy || out.env[i] >= copy + len;
        }
        escaped += out.argv[0] == NULL;
        if (k % 1000 == 999) {
            apr_pool_clear(sub);
        }
    }
    TF_CHECK("20000 mutations: nothing outside the body", escaped == 0);
    apr_pool_destroy(sub);
}

/* The socket functions over a descriptor (a temporary file: no writer
 * thread needed for a message larger than a pipe holds). */
static int temp_fd_with(const void *data, size_t len)
{
    FILE *f = tmpfile();
    int fd;

    if (!f || fwrite(data, 1, len, f) != len || fflush(f) != 0) {
        return -1;
    }
    fd = dup(fileno(f));
    fclose(f);
    lseek(fd, 0, SEEK_SET);
    return fd;
}

static void test_read_fd(void)
{
    tf_spawn_spec_t in = full_spec(), out;
    apr_size_t len;
    char *buf;
    int fd;

    tf_ipc_spawn_encode(pool, &in, &buf, &len);
    fd = temp_fd_with(buf, len);
    TF_CHECK("read from a descriptor",
             fd >= 0 && tf_ipc_spawn_read(fd, pool, &out) == APR_SUCCESS
                 && spec_eq(&in, &out));
    close(fd);
    fd = temp_fd_with(buf, len - 1);
    TF_CHECK("one byte short: EOF",
             tf_ipc_spawn_read(fd, pool, &out) == APR_EOF);
    close(fd);
    fd = temp_fd_with(buf, sizeof(tf_ipc_hdr_t));
    TF_CHECK("header only: EOF",
             tf_ipc_spawn_read(fd, pool, &out) == APR_EOF);
    close(fd);
    fd = temp_fd_with(buf, 5);
    TF_CHECK("part of a header: EOF",
             tf_ipc_spawn_read(fd, pool, &out) == APR_EOF);
    close(fd);
    buf[0] ^= 0x40;
    fd = temp_fd_with(buf, len);
    TF_CHECK("bad magic: refused",
             tf_ipc_spawn_read(fd, pool, &out) == APR_EINVAL);
    close(fd);
}

static void test_reply(void)
{
    tf_ipc_reply_t in, out;
    char raw[sizeof(tf_ipc_reply_t) + 1];
    int fd;

    memset(&in, 0, sizeof(in));
    in.status = 13; /* EACCES */
    in.max_conns = 7;
    in.pid = 4242;
    strcpy(in.msg, "suexec refused to run /srv/x/app as trac:trac");
    fd = temp_fd_with("", 0);
    TF_CHECK("write", fd >= 0 && tf_ipc_reply_write(fd, &in) == APR_SUCCESS);
    lseek(fd, 0, SEEK_SET);
    TF_CHECK("as many bytes as the struct",
             read(fd, raw, sizeof(raw)) == (ssize_t)sizeof(in));
    close(fd);
    TF_CHECK("decode",
             tf_ipc_reply_decode(raw, sizeof(in), &out) == APR_SUCCESS);
    TF_CHECK("status, connections, pid back", out.status == 13
                                                  && out.max_conns == 7
                                                  && out.pid == 4242);
    TF_CHECK("message back", strcmp(out.msg, in.msg) == 0);

    memset(raw, 'z', sizeof(raw));
    TF_CHECK("a message without its NUL is cut, terminated",
             tf_ipc_reply_decode(raw, sizeof(in), &out) == APR_SUCCESS
                 && strlen(out.msg) == sizeof(out.msg) - 1);
    TF_CHECK("short refused",
             tf_ipc_reply_decode(raw, sizeof(in) - 1, &out) == APR_EINVAL);
    TF_CHECK("empty refused", tf_ipc_reply_decode(raw, 0, &out)
                                  == APR_EINVAL);
    TF_CHECK("long refused",
             tf_ipc_reply_decode(raw, sizeof(in) + 1, &out) == APR_EINVAL);
}

int main(void)
{
    apr_initialize();
    apr_pool_create(&pool, NULL);
    test_roundtrip();
    test_too_big();
    test_header_refused();
    test_body_refused();
    test_mutations();
    test_read_fd();
    test_reply();
    apr_pool_destroy(pool);
    apr_terminate();
    return TF_REPORT();
}
