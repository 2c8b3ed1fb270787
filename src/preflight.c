/*
 * preflight.c: the TracEnv checks of TracFcgiCheckEnv (see tf_preflight.h).
 * Runs in the httpd parent at configtest and startup, as root or as the
 * user who started httpd: it opens the database read-only and judges write
 * access from the file modes for the backend's uid and groups, since the
 * parent's own access says nothing about the backend's.
 */
#include <grp.h>
#include <pwd.h>
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

/* @return the number of problems of the environment at @env. */
static int check_env(apr_pool_t *p, server_rec *s, const tf_trac_env_t *te,
                     const char *env, const identity_t *id)
{
    const char *version = apr_pstrcat(p, env, "/VERSION", NULL);
    const char *dbdir = apr_pstrcat(p, env, "/db", NULL);
    const char *db = apr_pstrcat(p, env, "/db/trac.db", NULL);
    sqlite3 *h = NULL;
    sqlite3_stmt *st = NULL;
    apr_finfo_t fi;
    int problems = 0, rc;

    if (apr_stat(&fi, version, APR_FINFO_TYPE, p) != APR_SUCCESS) {
        ap_log_error(APLOG_MARK, APLOG_WARNING, 0, s, TFLOGNO(00501)
                     "TracEnv %s (%s) is not a Trac environment: %s is "
                     "missing; create it with 'trac-admin %s initenv', or "
                     "fix the path", env, te->where, version, env);
        return 1;
    }
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
        ap_log_error(APLOG_MARK, APLOG_WARNING, 0, s, TFLOGNO(00502)
                     "TracEnv %s (%s): %s is not a readable Trac SQLite "
                     "database (%s); check the file, or run 'trac-admin %s "
                     "upgrade'", env, te->where, db,
                     h ? sqlite3_errmsg(h) : "cannot open", env);
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

int tf_preflight_run(apr_pool_t *p, server_rec *main_server, int *strict)
{
    apr_array_header_t *envs = tf_config_trac_envs(p);
    int i, problems = 0;

    *strict = 0;
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
