/*
 * preflight.c: the TracEnv checks of TracFcgiCheckEnv (see tf_preflight.h).
 * Runs in the httpd parent at configtest and startup, as root or as the
 * user who started httpd: it opens the database read-only and judges write
 * access from the file modes for the backend's uid and groups, since the
 * parent's own access says nothing about the backend's.
 *
 * Attachments need files/ (or the environment, where Trac makes it)
 * writable by that user too.
 *
 * The database is the one conf/trac.ini names ([trac] database; Trac's
 * default sqlite:db/trac.db). SQLite is checked as above. For PostgreSQL
 * and MySQL only what needs no credentials is: that the server takes a
 * connection where the URI says (TCP, or the unix socket of the default
 * host); the user, password and schema are Trac's to try, and the log
 * line says that they were not checked. The password is never read into
 * anything that is logged (src/trac_ini.c).
 */
#include <grp.h>
#include <pwd.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sqlite3.h>

#include "apr_strings.h"
#include "apr_file_info.h"
#include "unixd.h"

#include "tf_config.h"
#include "tf_preflight.h"
#include "tf_private.h"
#include "tf_spec.h"
#include "tf_trac_ini.h"

typedef struct {
    uid_t uid;
    gid_t gid;
    const char *user;
    const char *group;
} identity_t;

/* The user a backend of @s runs as: its suexec identity, else User. */
static void backend_identity(apr_pool_t *p, server_rec *s, identity_t *id)
{
    const ap_unix_identity_t *ugid;
    struct passwd pw, *pwp = NULL;
    struct group gr, *grp = NULL;
    char buf[4096];

    id->uid = ap_unixd_config.user_id;
    id->gid = ap_unixd_config.group_id;
    ugid = tf_spec_server_identity(p, s);
    if (ugid) {
        id->uid = ugid->uid;
        id->gid = ugid->gid;
    }
    id->user = (getpwuid_r(id->uid, &pw, buf, sizeof(buf), &pwp) == 0 && pwp)
                   ? apr_pstrdup(p, pw.pw_name)
                   : apr_psprintf(p, "#%ld", (long)id->uid);
    id->group = (getgrgid_r(id->gid, &gr, buf, sizeof(buf), &grp) == 0 && grp)
                    ? apr_pstrdup(p, gr.gr_name)
                    : apr_psprintf(p, "#%ld", (long)id->gid);
}

/* Write permission of @id on @path, from its mode bits. */
static int writable_by(const char *path, const identity_t *id)
{
    struct stat st;
    gid_t groups[256];
    int n = 256, i;

    if (stat(path, &st) < 0) {
        return 0;
    }
    if (id->uid == 0) {
        return 1;
    }
    if (st.st_uid == id->uid) {
        return (st.st_mode & S_IWUSR) != 0;
    }
    if (id->user[0] != '#'
        && getgrouplist(id->user, id->gid, groups, &n) >= 0) {
        for (i = 0; i < n; i++) {
            if (groups[i] == st.st_gid) {
                return (st.st_mode & S_IWGRP) != 0;
            }
        }
    }
    else if (st.st_gid == id->gid) {
        return (st.st_mode & S_IWGRP) != 0;
    }
    return (st.st_mode & S_IWOTH) != 0;
}

#define DB_CONNECT_SECS 2

/* The database URI of the environment at @env (its conf/trac.ini, else
 * Trac's default), taken apart into @u. @return 0, or -1 (logged). */
static int env_database(apr_pool_t *p, server_rec *s, const tf_trac_env_t *te,
                        const char *env, tf_db_uri_t *u)
{
    const char *ini = apr_pstrcat(p, env, "/conf/trac.ini", NULL);
    char value[1024];
    apr_file_t *f;
    apr_finfo_t fi;
    char *text;
    apr_size_t len = 0;

    strcpy(value, "sqlite:db/trac.db");
    if (apr_file_open(&f, ini, APR_FOPEN_READ, 0, p) == APR_SUCCESS) {
        if (apr_file_info_get(&fi, APR_FINFO_SIZE, f) == APR_SUCCESS
            && fi.size > 0 && fi.size < 4 * 1024 * 1024) {
            len = (apr_size_t)fi.size;
            text = apr_palloc(p, len);
            if (apr_file_read_full(f, text, len, &len) == APR_SUCCESS
                && !tf_trac_ini_database(text, len, value, sizeof(value))) {
                strcpy(value, "sqlite:db/trac.db");
            }
        }
        apr_file_close(f);
    }
    if (tf_db_uri_parse(value, u) != 0) {
        ap_log_error(APLOG_MARK, APLOG_WARNING, 0, s, TFLOGNO(00506)
                     "TracEnv %s (%s): [trac] database in %s is not a "
                     "database URI Trac reads (%s)", env, te->where, ini,
                     u->shown);
        return -1;
    }
    return 0;
}

/* A PostgreSQL or MySQL server: does it take a connection where @u says?
 * @return the number of problems (0 or 1). */
static int check_db_server(apr_pool_t *p, server_rec *s,
                           const tf_trac_env_t *te, const char *env,
                           const tf_db_uri_t *u)
{
    int pg = u->kind == TF_DB_POSTGRES;
    int port = u->port ? u->port : pg ? 5432 : 3306;
    const char *where, *err;
    tf_backend_addr_t a;
    apr_status_t rv;
    char buf[120];
    int fd;

    if (u->host[0] && u->host[0] != '/') {
        where = apr_psprintf(p, strchr(u->host, ':') ? "[%s]:%d" : "%s:%d",
                             u->host, port);
    }
    else if (pg) { /* libpq's default: the unix socket */
        where = apr_psprintf(p, "unix:%s/.s.PGSQL.%d",
                             u->host[0] ? u->host
                             : u->socket_dir[0] ? u->socket_dir
                                                : "/var/run/postgresql",
                             port);
    }
    else {
        where = "unix:/var/run/mysqld/mysqld.sock";
    }
    if ((err = tf_backend_addr_parse(p, where, &a)) != NULL) {
        rv = APR_EGENERAL;
    }
    else if ((rv = tf_backend_connect(&a, apr_time_from_sec(DB_CONNECT_SECS),
                                      &fd)) == APR_SUCCESS) {
        close(fd);
        ap_log_error(APLOG_MARK, APLOG_INFO, 0, s, TFLOGNO(00507)
                     "TracEnv %s (%s): database %s: its server takes "
                     "connections at %s; the user, password and schema are "
                     "not checked here (Trac uses them)", env, te->where,
                     u->shown, where);
        return 0;
    }
    ap_log_error(APLOG_MARK, APLOG_WARNING, 0, s, TFLOGNO(00508)
                 "TracEnv %s (%s): database %s: nothing takes a connection "
                 "at %s (%s); Trac will fail to connect until its %s server "
                 "answers there", env, te->where, u->shown, where,
                 err ? err
                 : APR_STATUS_IS_TIMEUP(rv)
                     ? apr_psprintf(p, "no answer within %d s",
                                    DB_CONNECT_SECS)
                     : apr_strerror(rv, buf, sizeof(buf)),
                 pg ? "PostgreSQL" : "MySQL");
    return 1;
}

/* Attachments go to files/ (made by Trac on the first one when it is
 * missing): the backend's user must be able to write there. @return the
 * number of problems (0 or 1). */
static int check_files(apr_pool_t *p, server_rec *s, const tf_trac_env_t *te,
                       const char *env, const identity_t *id)
{
    const char *files = apr_pstrcat(p, env, "/files", NULL);
    apr_finfo_t fi;
    const char *where = apr_stat(&fi, files, APR_FINFO_TYPE, p)
                                == APR_SUCCESS
                            ? files
                            : env;

    if (writable_by(where, id)) {
        return 0;
    }
    ap_log_error(APLOG_MARK, APLOG_WARNING, 0, s, TFLOGNO(00510)
                 "TracEnv %s (%s): %s is not writable by %s (uid %ld), the "
                 "user its backend runs as: attachments cannot be stored; "
                 "fix: chown %s:%s %s", env, te->where, where, id->user,
                 (long)id->uid, id->user, id->group, where);
    return 1;
}

/* @return the number of problems of the environment at @env. */
static int check_env(apr_pool_t *p, server_rec *s, const tf_trac_env_t *te,
                     const char *env, const identity_t *id)
{
    const char *version = apr_pstrcat(p, env, "/VERSION", NULL);
    const char *dbdir, *db, *slash;
    sqlite3 *h = NULL;
    sqlite3_stmt *st = NULL;
    apr_finfo_t fi;
    tf_db_uri_t u;
    int problems = 0, rc;

    if (apr_stat(&fi, version, APR_FINFO_TYPE, p) != APR_SUCCESS) {
        ap_log_error(APLOG_MARK, APLOG_WARNING, 0, s, TFLOGNO(00501)
                     "TracEnv %s (%s) is not a Trac environment: %s is "
                     "missing; create it with 'trac-admin %s initenv', or "
                     "fix the path", env, te->where, version, env);
        return 1;
    }
    problems += check_files(p, s, te, env, id);
    if (env_database(p, s, te, env, &u) != 0) {
        return problems + 1;
    }
    if (u.kind == TF_DB_POSTGRES || u.kind == TF_DB_MYSQL) {
        return problems + check_db_server(p, s, te, env, &u);
    }
    if (u.kind != TF_DB_SQLITE) {
        ap_log_error(APLOG_MARK, APLOG_INFO, 0, s, TFLOGNO(00509)
                     "TracEnv %s (%s): database %s is of a kind this check "
                     "does not know; not checked", env, te->where, u.shown);
        return problems;
    }
    db = u.path[0] == '/' ? apr_pstrdup(p, u.path)
                          : apr_pstrcat(p, env, "/", u.path, NULL);
    slash = strrchr(db, '/');
    dbdir = apr_pstrmemdup(p, db, (apr_size_t)(slash - db));
    rc = sqlite3_open_v2(db, &h, SQLITE_OPEN_READONLY, NULL);
    if (rc == SQLITE_OK) {
        sqlite3_busy_timeout(h, 1000);
        rc = sqlite3_prepare_v2(h, "SELECT value FROM system WHERE "
                                "name='database_version'", -1, &st, NULL);
        if (rc == SQLITE_OK) {
            rc = sqlite3_step(st) == SQLITE_ROW ? SQLITE_OK : SQLITE_ERROR;
        }
    }
    if (rc != SQLITE_OK) {
        int missing = apr_stat(&fi, db, APR_FINFO_TYPE, p) != APR_SUCCESS;

        ap_log_error(APLOG_MARK, APLOG_WARNING, 0, s, TFLOGNO(00502)
                     "TracEnv %s (%s): %s is not a readable Trac SQLite "
                     "database (%s); %s", env, te->where, db,
                     missing ? "no such file"
                     : h     ? sqlite3_errmsg(h)
                             : "cannot open",
                     missing ? apr_psprintf(p, "create the environment with "
                                            "'trac-admin %s initenv', or "
                                            "fix [trac] database", env)
                             : apr_psprintf(p, "check the file, or run "
                                            "'trac-admin %s upgrade'", env));
        problems++;
    }
    sqlite3_finalize(st);
    sqlite3_close(h);
    if (!writable_by(dbdir, id) || !writable_by(db, id)) {
        ap_log_error(APLOG_MARK, APLOG_WARNING, 0, s, TFLOGNO(00503)
                     "TracEnv %s (%s): %s or %s is not writable by %s "
                     "(uid %ld), the user its backend runs as: Trac will "
                     "fail with \"unable to open database file\" or "
                     "\"database is locked\"; fix: chown -R %s:%s %s",
                     env, te->where, dbdir, db, id->user, (long)id->uid,
                     id->user, id->group, dbdir);
        problems++;
    }
    return problems;
}

/* Each TracFcgiServer's script: there, a file, executable (else its
 * pool fails at its first start, long after configtest said OK).
 * @return the number of problems. */
static int check_servers(apr_pool_t *p)
{
    apr_array_header_t *decl = tf_config_declared(p);
    int i, problems = 0;

    for (i = 0; decl && i < decl->nelts; i++) {
        const tf_declared_t *d = &APR_ARRAY_IDX(decl, i, tf_declared_t);
        struct stat st;
        const char *why = NULL;

        if (stat(d->path, &st) < 0) {
            why = "no such file";
        }
        else if (!S_ISREG(st.st_mode)) {
            why = "it is not a file";
        }
        else if (!(st.st_mode & (S_IXUSR | S_IXGRP | S_IXOTH))) {
            why = "it is not executable (chmod +x)";
        }
        if (why) {
            ap_log_error(APLOG_MARK, APLOG_WARNING, 0, d->s, TFLOGNO(00511)
                         "TracFcgiServer %s (%s): %s; its pool cannot start "
                         "a process", d->path, d->where, why);
            problems++;
        }
    }
    return problems;
}

int tf_preflight_run(apr_pool_t *p, server_rec *main_server, int *strict)
{
    apr_array_header_t *envs = tf_config_trac_envs(p);
    int i, problems = 0;

    *strict = 0;
    problems += check_servers(p);
    for (i = 0; envs && i < envs->nelts; i++) {
        const tf_trac_env_t *te = &APR_ARRAY_IDX(envs, i, tf_trac_env_t);
        int mode = tf_config_check_mode(te, main_server), before = problems;
        identity_t id;

        if (mode == TF_CHECK_OFF) {
            continue;
        }
        backend_identity(p, te->s, &id);
        if (!te->parent_dir) {
            problems += check_env(p, te->s, te, te->path, &id);
        }
        else {
            apr_dir_t *d;
            apr_finfo_t fi;
            int found = 0;

            if (apr_dir_open(&d, te->path, p) != APR_SUCCESS) {
                ap_log_error(APLOG_MARK, APLOG_WARNING, 0, te->s,
                             TFLOGNO(00504) "TracEnvParentDir %s (%s) "
                             "cannot be read", te->path, te->where);
                problems++;
                *strict += mode == TF_CHECK_STRICT;
                continue;
            }
            while (apr_dir_read(&fi, APR_FINFO_NAME | APR_FINFO_TYPE, d)
                   == APR_SUCCESS) {
                const char *sub;

                if (fi.filetype != APR_DIR || fi.name[0] == '.') {
                    continue;
                }
                sub = apr_pstrcat(p, te->path, "/", fi.name, NULL);
                if (apr_stat(&fi, apr_pstrcat(p, sub, "/VERSION", NULL),
                             APR_FINFO_TYPE, p) != APR_SUCCESS) {
                    continue; /* not a project: Trac's index skips it too */
                }
                found++;
                problems += check_env(p, te->s, te, sub, &id);
            }
            apr_dir_close(d);
            if (!found) {
                ap_log_error(APLOG_MARK, APLOG_WARNING, 0, te->s,
                             TFLOGNO(00505) "TracEnvParentDir %s (%s) holds "
                             "no Trac environment", te->path, te->where);
                problems++;
            }
        }
        if (mode == TF_CHECK_STRICT) {
            *strict += problems - before;
        }
    }
    return problems;
}
