/*
 * tracapp.c - a Trac-like FastCGI application for the mod_tracfcgi tests and
 * demo.
 *
 * A single-threaded libfcgi responder accepting on fd 0 (the listening socket
 * the process manager hands it). It has the shape of a Trac deployment
 * without Python: it finds its Trac environment the way trac.web.main does,
 * opens the environment's SQLite database and answers with a text/plain page
 * of "key: value" lines that a test can parse.
 *
 * Environment selection (trac.web.main.dispatch_request):
 *   1. the FastCGI param "trac.env_path", else the process environment
 *      variable TRAC_ENV: that directory is the environment;
 *   2. otherwise "trac.env_parent_dir", else TRAC_ENV_PARENT_DIR: the first
 *      PATH_INFO segment names the project ("/projA/ticket/1" is project
 *      projA, environment <parent>/projA); as Trac does, the segment moves
 *      from PATH_INFO to the end of SCRIPT_NAME. PATH_INFO "/" or empty gives
 *      the project index: "index: <parent>", "index_template: <path or ->"
 *      ("trac.env_index_template", else TRAC_ENV_INDEX_TEMPLATE), then one
 *      line "project: NAME" per subdirectory holding a VERSION file, sorted.
 *      A project that does not exist: 404, "error: Environment not found".
 *   3. neither: 500, "error: no Trac environment configured ...".
 *   A param that is present but empty counts as absent.
 *
 * The environment page (every path; "/login" included: Apache authenticates
 * in front of it and REMOTE_USER shows up):
 *   VERSION must start with "Trac Environment Version 1"; <env>/db/trac.db is
 *   opened read-write (never created) with a busy timeout of 2000 ms and
 *   "SELECT value FROM system WHERE name='project_name'" gives the name.
 *   Lines, in this order:
 *     project: NAME
 *     env: PATH
 *     source: param|environ      (where the env path, or parent dir, came
 *                                 from)
 *     user: REMOTE_USER or -
 *     auth_type: AUTH_TYPE or -
 *     pid: N
 *     uid: N
 *     gid: N
 *     script_name: SCRIPT_NAME   (after the project move of case 2)
 *     path_info: PATH_INFO       (idem)
 *     egg_cache: PYTHON_EGG_CACHE (process environment) or -
 *     locale: the "trac.locale" param (Trac reads it) or -
 *     ticket: ID SUMMARY         (one per row of table ticket, by id)
 *
 * POST <...>/newticket with an application/x-www-form-urlencoded body holding
 * summary=TEXT (URL-decoded) inserts a ticket and answers 200 with
 * "created: ID" before the lines above. No summary: 400; another content
 * type: 415.
 *
 * Errors (no environment, no VERSION, database that cannot be opened or
 * read or written): "Status: 500 Internal Server Error" and one body line
 * "error: <reason or SQLite message>"; the same line, prefixed with
 * "tracapp: ", goes to the request's FastCGI stderr stream.
 */
#include <dirent.h>
#include <fcgiapp.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#define VERSION_MAGIC "Trac Environment Version 1"
#define BUSY_TIMEOUT_MS 2000
#define MAX_FORM_BODY (64 * 1024)
#define MAX_PROJECTS 256

/* What one request is about, once the environment is resolved. */
struct target
{
    const char *env;         /* environment directory */
    const char *source;      /* "param" or "environ" */
    const char *script_name; /* SCRIPT_NAME as Trac would see it */
    const char *path_info;   /* PATH_INFO as Trac would see it */
};

/* --------------------------------------------------------------------- */
/* small helpers                                                         */

static const char *or_dash(const char *s)
{
    return (s && *s) ? s : "-";
}

/* malloc or die: the process manager starts a new backend. */
static void *xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);

    if (!p) {
        exit(70);
    }
    return p;
}

static char *xstrdup(const char *s)
{
    size_t n = strlen(s) + 1;

    return memcpy(xmalloc(n), s, n);
}

/* "a" + "/" + "b" */
static char *path_join(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    char *p = xmalloc(la + lb + 2);

    memcpy(p, a, la);
    p[la] = '/';
    memcpy(p + la + 1, b, lb + 1);
    return p;
}

static int hexval(int c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }
    if (c >= 'A' && c <= 'F') {
        return c - 'A' + 10;
    }
    return -1;
}

/* In-place application/x-www-form-urlencoded decoding. */
static void url_decode(char *s)
{
    char *o = s;

    while (*s) {
        if (*s == '%' && hexval(s[1]) >= 0 && hexval(s[2]) >= 0) {
            *o++ = (char)(hexval(s[1]) * 16 + hexval(s[2]));
            s += 3;
        }
        else if (*s == '+') {
            *o++ = ' ';
            s++;
        }
        else {
            *o++ = *s++;
        }
    }
    *o = '\0';
}

/* A FastCGI param if present and not empty, else NULL. */
static const char *param(FCGX_Request *r, const char *name)
{
    const char *v = FCGX_GetParam(name, r->envp);

    return (v && *v) ? v : NULL;
}

/* The param @pname if set, else the process environment variable @ename;
 * *source tells which. */
static const char *param_or_env(FCGX_Request *r, const char *pname,
                                const char *ename, const char **source)
{
    const char *v = param(r, pname);

    if (v) {
        *source = "param";
        return v;
    }
    v = getenv(ename);
    if (v && *v) {
        *source = "environ";
        return v;
    }
    return NULL;
}

/* --------------------------------------------------------------------- */
/* replies                                                               */

static void send_head(FCGX_Request *r, const char *status)
{
    if (status) {
        FCGX_FPrintF(r->out, "Status: %s\r\n", status);
    }
    FCGX_PutS("Content-Type: text/plain; charset=utf-8\r\n\r\n", r->out);
}

/* A whole error reply; the same text goes to the FastCGI stderr stream. */
static void send_error(FCGX_Request *r, const char *status,
                       const char *fmt, ...)
{
    char msg[2048];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    send_head(r, status);
    FCGX_FPrintF(r->out, "error: %s\n", msg);
    FCGX_FPrintF(r->err, "tracapp: error: %s\n", msg);
}

/* --------------------------------------------------------------------- */
/* the project index (TRAC_ENV_PARENT_DIR, PATH_INFO "/")                  */

static int has_version_file(const char *dir)
{
    char *p = path_join(dir, "VERSION");
    struct stat st;
    int ok = stat(p, &st) == 0 && S_ISREG(st.st_mode);

    free(p);
    return ok;
}

static int cmp_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void send_index(FCGX_Request *r, const char *parent)
{
    const char *src, *tmpl;
    char *names[MAX_PROJECTS];
    struct dirent *de;
    DIR *d;
    int n = 0, i;

    d = opendir(parent);
    if (!d) {
        send_error(r, "500 Internal Server Error",
                   "cannot read TRAC_ENV_PARENT_DIR %s", parent);
        return;
    }
    while ((de = readdir(d)) != NULL && n < MAX_PROJECTS) {
        char *p;

        if (de->d_name[0] == '.') {
            continue;
        }
        p = path_join(parent, de->d_name);
        if (has_version_file(p)) {
            names[n++] = xstrdup(de->d_name);
        }
        free(p);
    }
    closedir(d);
    qsort(names, (size_t)n, sizeof names[0], cmp_names);

    tmpl = param_or_env(r, "trac.env_index_template",
                        "TRAC_ENV_INDEX_TEMPLATE", &src);
    send_head(r, NULL);
    FCGX_FPrintF(r->out, "index: %s\n", parent);
    FCGX_FPrintF(r->out, "index_template: %s\n", or_dash(tmpl));
    for (i = 0; i < n; i++) {
        FCGX_FPrintF(r->out, "project: %s\n", names[i]);
        free(names[i]);
    }
}

/* --------------------------------------------------------------------- */
/* the environment                                                       */

/* Trac's Environment.verify(): VERSION starts with the magic line. */
static int verify_env(FCGX_Request *r, const char *env)
{
    char line[128] = "";
    char *p = path_join(env, "VERSION");
    FILE *f = fopen(p, "r");

    free(p);
    if (!f || !fgets(line, sizeof line, f)
        || strncmp(line, VERSION_MAGIC, strlen(VERSION_MAGIC)) != 0) {
        if (f) {
            fclose(f);
        }
        send_error(r, "500 Internal Server Error",
                   "No Trac environment found at %s", env);
        return 0;
    }
    fclose(f);
    return 1;
}

static sqlite3 *open_db(FCGX_Request *r, const char *env)
{
    char *path = path_join(env, "db/trac.db");
    sqlite3 *db = NULL;
    int rc;

    rc = sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL);
    if (rc != SQLITE_OK) {
        send_error(r, "500 Internal Server Error", "%s: %s", path,
                   db ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
        sqlite3_close(db);
        free(path);
        return NULL;
    }
    sqlite3_busy_timeout(db, BUSY_TIMEOUT_MS);
    free(path);
    return db;
}

/* SELECT value FROM system WHERE name='project_name' (malloc'ed), or NULL
 * after answering with the error. */
static char *project_name(FCGX_Request *r, sqlite3 *db)
{
    sqlite3_stmt *st = NULL;
    char *name = NULL;
    int rc;

    rc = sqlite3_prepare_v2(db, "SELECT value FROM system "
                                "WHERE name='project_name'", -1, &st, NULL);
    if (rc == SQLITE_OK) {
        rc = sqlite3_step(st);
        if (rc == SQLITE_ROW) {
            const unsigned char *v = sqlite3_column_text(st, 0);

            name = xstrdup(v ? (const char *)v : "");
        }
        else if (rc == SQLITE_DONE) {
            sqlite3_finalize(st);
            send_error(r, "500 Internal Server Error",
                       "no project_name in table system");
            return NULL;
        }
    }
    if (!name) {
        send_error(r, "500 Internal Server Error", "%s", sqlite3_errmsg(db));
    }
    sqlite3_finalize(st);
    return name;
}

/* The first value of an urlencoded form field (malloc'ed), or NULL. */
static char *form_field(char *body, const char *field)
{
    char *p, *save = NULL;

    for (p = strtok_r(body, "&", &save); p; p = strtok_r(NULL, "&", &save)) {
        char *eq = strchr(p, '=');

        if (eq) {
            *eq = '\0';
        }
        url_decode(p);
        if (strcmp(p, field) == 0) {
            if (!eq) {
                return xstrdup("");
            }
            url_decode(eq + 1);
            return xstrdup(eq + 1);
        }
    }
    return NULL;
}

/* POST .../newticket: insert the ticket; 0 after answering an error, else
 * the new ticket id. */
static sqlite3_int64 new_ticket(FCGX_Request *r, sqlite3 *db)
{
    const char *ct = FCGX_GetParam("CONTENT_TYPE", r->envp);
    const char *form = "application/x-www-form-urlencoded";
    char *body, *summary;
    sqlite3_stmt *st = NULL;
    sqlite3_int64 id = 0;
    int n, len = 0;

    if (!ct || strncasecmp(ct, form, strlen(form)) != 0) {
        send_error(r, "415 Unsupported Media Type",
                   "newticket wants %s", form);
        return 0;
    }
    body = xmalloc(MAX_FORM_BODY + 1);
    while (len < MAX_FORM_BODY
           && (n = FCGX_GetStr(body + len, MAX_FORM_BODY - len, r->in)) > 0) {
        len += n;
    }
    body[len] = '\0';
    summary = form_field(body, "summary");
    free(body);
    if (!summary || !*summary) {
        free(summary);
        send_error(r, "400 Bad Request", "summary missing");
        return 0;
    }
    if (sqlite3_prepare_v2(db, "INSERT INTO ticket (summary) VALUES (?)", -1,
                           &st, NULL) == SQLITE_OK
        && sqlite3_bind_text(st, 1, summary, -1, SQLITE_TRANSIENT) == SQLITE_OK
        && sqlite3_step(st) == SQLITE_DONE) {
        id = sqlite3_last_insert_rowid(db);
    }
    else {
        send_error(r, "500 Internal Server Error", "%s", sqlite3_errmsg(db));
    }
    sqlite3_finalize(st);
    free(summary);
    return id;
}

static void send_tickets(FCGX_Request *r, sqlite3 *db)
{
    sqlite3_stmt *st = NULL;

    if (sqlite3_prepare_v2(db, "SELECT id, summary FROM ticket ORDER BY id",
                           -1, &st, NULL) != SQLITE_OK) {
        /* the head is out: say it in the body and on stderr */
        FCGX_FPrintF(r->out, "error: %s\n", sqlite3_errmsg(db));
        FCGX_FPrintF(r->err, "tracapp: error: %s\n", sqlite3_errmsg(db));
        return;
    }
    while (sqlite3_step(st) == SQLITE_ROW) {
        const unsigned char *s = sqlite3_column_text(st, 1);

        FCGX_FPrintF(r->out, "ticket: %lld %s\n",
                     (long long)sqlite3_column_int64(st, 0),
                     s ? (const char *)s : "");
    }
    sqlite3_finalize(st);
}

static void send_page(FCGX_Request *r, const struct target *t)
{
    const char *method = FCGX_GetParam("REQUEST_METHOD", r->envp);
    size_t lp = strlen(t->path_info);
    sqlite3_int64 created = 0;
    sqlite3 *db;
    char *name;

    if (!verify_env(r, t->env) || !(db = open_db(r, t->env))) {
        return;
    }
    if (!(name = project_name(r, db))) {
        sqlite3_close(db);
        return;
    }
    if (method && strcmp(method, "POST") == 0 && lp >= 10
        && strcmp(t->path_info + lp - 10, "/newticket") == 0) {
        created = new_ticket(r, db);
        if (!created) {
            free(name);
            sqlite3_close(db);
            return;
        }
    }

    send_head(r, NULL);
    if (created) {
        FCGX_FPrintF(r->out, "created: %lld\n", (long long)created);
    }
    FCGX_FPrintF(r->out, "project: %s\n", name);
    FCGX_FPrintF(r->out, "env: %s\n", t->env);
    FCGX_FPrintF(r->out, "source: %s\n", t->source);
    FCGX_FPrintF(r->out, "user: %s\n",
                 or_dash(FCGX_GetParam("REMOTE_USER", r->envp)));
    FCGX_FPrintF(r->out, "auth_type: %s\n",
                 or_dash(FCGX_GetParam("AUTH_TYPE", r->envp)));
    FCGX_FPrintF(r->out, "pid: %ld\n", (long)getpid());
    FCGX_FPrintF(r->out, "uid: %ld\n", (long)getuid());
    FCGX_FPrintF(r->out, "gid: %ld\n", (long)getgid());
    FCGX_FPrintF(r->out, "script_name: %s\n", t->script_name);
    FCGX_FPrintF(r->out, "path_info: %s\n", t->path_info);
    FCGX_FPrintF(r->out, "egg_cache: %s\n",
                 or_dash(getenv("PYTHON_EGG_CACHE")));
    FCGX_FPrintF(r->out, "locale: %s\n", or_dash(param(r, "trac.locale")));
    send_tickets(r, db);
    free(name);
    sqlite3_close(db);
}

/* --------------------------------------------------------------------- */
/* dispatch                                                              */

static void handle(FCGX_Request *r)
{
    const char *script = FCGX_GetParam("SCRIPT_NAME", r->envp);
    const char *pinfo = FCGX_GetParam("PATH_INFO", r->envp);
    const char *env, *parent, *source, *seg, *rest;
    struct target t;
    char *name, *sn, *envdir;
    struct stat st;
    size_t ls;

    script = script ? script : "";
    pinfo = pinfo ? pinfo : "";

    env = param_or_env(r, "trac.env_path", "TRAC_ENV", &source);
    if (env) {
        t.env = env;
        t.source = source;
        t.script_name = script;
        t.path_info = pinfo;
        send_page(r, &t);
        return;
    }

    parent = param_or_env(r, "trac.env_parent_dir", "TRAC_ENV_PARENT_DIR",
                          &source);
    if (!parent) {
        send_error(r, "500 Internal Server Error",
                   "no Trac environment configured (trac.env_path, TRAC_ENV, "
                   "trac.env_parent_dir, TRAC_ENV_PARENT_DIR)");
        return;
    }

    /* the first PATH_INFO segment names the project */
    for (seg = pinfo; *seg == '/'; seg++) {
    }
    rest = strchr(seg, '/');
    if (!rest) {
        rest = seg + strlen(seg);
    }
    if (rest == seg) {
        send_index(r, parent);
        return;
    }
    name = xmalloc((size_t)(rest - seg) + 1);
    memcpy(name, seg, (size_t)(rest - seg));
    name[rest - seg] = '\0';
    envdir = path_join(parent, name);
    if (name[0] == '.' || stat(envdir, &st) != 0 || !S_ISDIR(st.st_mode)) {
        send_error(r, "404 Not Found", "Environment not found");
        free(name);
        free(envdir);
        return;
    }

    /* SCRIPT_NAME gets "/NAME", PATH_INFO keeps the rest (Trac's Href) */
    ls = strlen(script);
    while (ls > 0 && script[ls - 1] == '/') {
        ls--;
    }
    sn = xmalloc(ls + strlen(name) + 2);
    memcpy(sn, script, ls);
    sn[ls] = '/';
    strcpy(sn + ls + 1, name);

    t.env = envdir;
    t.source = source;
    t.script_name = sn;
    t.path_info = *rest ? rest : "/";
    send_page(r, &t);
    free(sn);
    free(envdir);
    free(name);
}

int main(void)
{
    FCGX_Request req;

    signal(SIGPIPE, SIG_IGN);
    if (FCGX_Init() != 0) {
        return 1;
    }
    if (FCGX_InitRequest(&req, 0, 0) != 0) {
        return 1;
    }
    while (FCGX_Accept_r(&req) >= 0) {
        handle(&req);
        FCGX_Finish_r(&req);
    }
    return 0;
}
