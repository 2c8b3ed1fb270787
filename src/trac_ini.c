/*
 * trac_ini.c: the database option of a Trac environment's trac.ini, and
 * its URI taken apart (see tf_trac_ini.h). libc only.
 *
 * Trac's URIs (trac.db.api.parse_connection_uri): "sqlite:db/trac.db",
 * "postgres://user:pass@host:port/database?schema=s&host=/socket/dir",
 * "mysql://user:pass@host:port/database". The password is skipped while
 * reading: it is never copied, so it can never reach a log line.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "tf_trac_ini.h"

/* Copy [s, s+n) into out (size bytes, NUL-terminated, cut to fit). */
static void copy_n(char *out, size_t size, const char *s, size_t n)
{
    if (size == 0) {
        return;
    }
    if (n >= size) {
        n = size - 1;
    }
    memcpy(out, s, n);
    out[n] = '\0';
}

static int is_blank(char c)
{
    return c == ' ' || c == '\t' || c == '\r';
}

int tf_trac_ini_database(const char *text, size_t len, char *out,
                         size_t size)
{
    return tf_trac_ini_value(text, len, "trac", "database", out, size);
}

int tf_trac_ini_value(const char *text, size_t len, const char *section,
                      const char *option, char *out, size_t size)
{
    const char *p = text, *end = text + len;
    size_t sl = strlen(section), ol = strlen(option);
    int in_section = 0;

    while (p < end) {
        const char *eol = memchr(p, '\n', (size_t)(end - p));
        const char *ln = p, *le = eol ? eol : end;

        p = eol ? eol + 1 : end;
        if (ln < le && is_blank(*ln)) {
            continue; /* a continuation, or an indented comment */
        }
        while (le > ln && is_blank(le[-1])) {
            le--;
        }
        if (ln == le || *ln == '#' || *ln == ';') {
            continue;
        }
        if (*ln == '[') {
            const char *close = memchr(ln, ']', (size_t)(le - ln));

            in_section = close && (size_t)(close - ln) == sl + 1
                      && memcmp(ln + 1, section, sl) == 0;
            continue;
        }
        if (in_section) {
            const char *sep = ln, *k_end, *v;

            while (sep < le && *sep != '=' && *sep != ':') {
                sep++;
            }
            if (sep == le) {
                continue;
            }
            k_end = sep;
            while (k_end > ln && is_blank(k_end[-1])) {
                k_end--;
            }
            if ((size_t)(k_end - ln) != ol
                || strncasecmp(ln, option, ol) != 0) {
                continue;
            }
            v = sep + 1;
            while (v < le && is_blank(*v)) {
                v++;
            }
            copy_n(out, size, v, (size_t)(le - v));
            return 1;
        }
    }
    if (size) {
        out[0] = '\0';
    }
    return 0;
}

/* ?name=value in the query [q, qe): the value into out. @return 1 if
 * there. */
static int query_param(const char *q, const char *qe, const char *name,
                       char *out, size_t size)
{
    size_t nl = strlen(name);

    while (q < qe) {
        const char *amp = memchr(q, '&', (size_t)(qe - q));
        const char *pe = amp ? amp : qe;

        if ((size_t)(pe - q) > nl && memcmp(q, name, nl) == 0
            && q[nl] == '=') {
            copy_n(out, size, q + nl + 1, (size_t)(pe - q - nl - 1));
            return 1;
        }
        q = amp ? amp + 1 : qe;
    }
    return 0;
}

/* host[:port] ([v6]:port too) of a server URI, from @hp to @end. */
static int parse_host_port(const char *hp, const char *end, tf_db_uri_t *out)
{
    const char *colon = NULL;

    if (hp < end && *hp == '[') {
        const char *rb = memchr(hp, ']', (size_t)(end - hp));

        if (!rb) {
            return -1;
        }
        copy_n(out->host, sizeof(out->host), hp + 1, (size_t)(rb - hp - 1));
        colon = rb + 1 < end && rb[1] == ':' ? rb + 1 : NULL;
        if (rb + 1 < end && !colon) {
            return -1;
        }
    }
    else {
        colon = memchr(hp, ':', (size_t)(end - hp));
        copy_n(out->host, sizeof(out->host), hp,
               (size_t)((colon ? colon : end) - hp));
    }
    if (colon) {
        char num[8];
        char *e;
        long v;

        copy_n(num, sizeof(num), colon + 1, (size_t)(end - colon - 1));
        v = strtol(num, &e, 10);
        if (!num[0] || *e || v < 1 || v > 65535
            || (size_t)(end - colon - 1) >= sizeof(num)) {
            return -1;
        }
        out->port = (int)v;
    }
    return 0;
}

/* What a log line shows of a server URI: no password, ever. */
static void show_server_uri(tf_db_uri_t *out)
{
    int v6 = strchr(out->host, ':') != NULL;
    char port[8] = "";

    if (out->port) {
        snprintf(port, sizeof(port), ":%d", out->port);
    }
    snprintf(out->shown, sizeof(out->shown), "%s://%s%s%s%s%s%s/%s",
             out->kind == TF_DB_POSTGRES ? "postgres" : "mysql", out->user,
             out->user[0] ? "@" : "", v6 ? "[" : "", out->host,
             v6 ? "]" : "", port, out->path);
}

int tf_db_uri_parse(const char *uri, tf_db_uri_t *out)
{
    const char *p, *auth_end, *at, *hp, *colon, *slash, *q, *end;
    const char *scheme_end = strchr(uri, ':');
    size_t sl;

    memset(out, 0, sizeof(*out));
    if (!scheme_end) {
        copy_n(out->shown, sizeof(out->shown), "(no scheme)", 11);
        return -1;
    }
    sl = (size_t)(scheme_end - uri);
    if (sl == 6 && strncmp(uri, "sqlite", 6) == 0) {
        out->kind = TF_DB_SQLITE;
        copy_n(out->path, sizeof(out->path), scheme_end + 1,
               strlen(scheme_end + 1));
        snprintf(out->shown, sizeof(out->shown), "sqlite:%s", out->path);
        return out->path[0] ? 0 : -1;
    }
    out->kind = sl == 8 && strncmp(uri, "postgres", 8) == 0 ? TF_DB_POSTGRES
                : sl == 5 && strncmp(uri, "mysql", 5) == 0  ? TF_DB_MYSQL
                                                             : TF_DB_UNKNOWN;
    /* the scheme alone: a plugin's URI is not ours to read further */
    snprintf(out->shown, sizeof(out->shown), "%.*s:...", (int)sl, uri);
    if (out->kind == TF_DB_UNKNOWN) {
        return 0;
    }
    if (strncmp(scheme_end, "://", 3) != 0) {
        return -1;
    }
    p = scheme_end + 3;
    end = p + strlen(p);
    q = strchr(p, '?');
    auth_end = strchr(p, '/');
    if (q && (!auth_end || q < auth_end)) {
        auth_end = q;
    }
    if (!auth_end) {
        auth_end = end;
    }
    /* user[:password]@ : the password is stepped over, never copied */
    at = NULL;
    for (hp = p; hp < auth_end; hp++) {
        if (*hp == '@') {
            at = hp;
        }
    }
    hp = p;
    if (at) {
        colon = memchr(p, ':', (size_t)(at - p));
        copy_n(out->user, sizeof(out->user), p,
               (size_t)((colon ? colon : at) - p));
        hp = at + 1;
    }
    if (parse_host_port(hp, auth_end, out) != 0) {
        return -1;
    }
    /* /database */
    slash = auth_end < end && *auth_end == '/' ? auth_end + 1 : NULL;
    if (slash) {
        copy_n(out->path, sizeof(out->path), slash,
               (size_t)((q ? q : end) - slash));
    }
    if (q && out->kind == TF_DB_POSTGRES) {
        query_param(q + 1, end, "host", out->socket_dir,
                    sizeof(out->socket_dir));
    }
    show_server_uri(out);
    return out->path[0] ? 0 : -1;
}
