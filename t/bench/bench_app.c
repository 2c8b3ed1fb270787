/*
 * bench_app.c: the FastCGI responder that t/bench/run.py serves through
 * every configuration it compares (libfcgi, one request at a time).
 *
 *   GET  .../small          20 bytes
 *   GET  .../big?kib=N      N KiB (N >= 0), written 64 KiB at a time
 *   POST .../count          reads the whole body, replies its length
 *   GET  .../sleep?ms=N     sleeps N ms, then replies "slept N\n"
 *
 * The route is the last path segment of REQUEST_URI (falling back to
 * PATH_INFO), so the same binary answers behind ScriptAlias, Alias and
 * ProxyPass alike. Every reply carries a Content-Length.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <fcgiapp.h>

#define CHUNK 65536
#define SMALL "small reply 20 bytes"

static char chunk[CHUNK];

/* Value of @name in the query string @qs as a non-negative number, or @def. */
static long query_num(const char *qs, const char *name, long def)
{
    size_t n = strlen(name);
    const char *p = qs;

    while (p && *p) {
        if (strncmp(p, name, n) == 0 && p[n] == '=') {
            long v = strtol(p + n + 1, NULL, 10);
            return v < 0 ? def : v;
        }
        p = strchr(p, '&');
        if (p) {
            p++;
        }
    }
    return def;
}

/* The last path segment of the request, without the query string. */
static void route(FCGX_ParamArray envp, char *out, size_t outlen)
{
    const char *uri = FCGX_GetParam("REQUEST_URI", envp);
    const char *end, *seg;

    if (!uri || !*uri) {
        uri = FCGX_GetParam("PATH_INFO", envp);
    }
    if (!uri) {
        uri = "";
    }
    end = strchr(uri, '?');
    if (!end) {
        end = uri + strlen(uri);
    }
    seg = end;
    while (seg > uri && seg[-1] != '/') {
        seg--;
    }
    if ((size_t)(end - seg) >= outlen) {
        end = seg + outlen - 1;
    }
    memcpy(out, seg, (size_t)(end - seg));
    out[end - seg] = '\0';
}

static void reply(FCGX_Stream *out, const char *status, const char *body,
                  long len)
{
    FCGX_FPrintF(out, "Status: %s\r\nContent-Type: text/plain\r\n"
                      "Content-Length: %ld\r\n\r\n", status, len);
    if (len) {
        FCGX_PutStr(body, (int)len, out);
    }
}

int main(void)
{
    FCGX_Request req;
    char what[64], buf[64];

    memset(chunk, 'x', sizeof(chunk));
    if (FCGX_Init() != 0 || FCGX_InitRequest(&req, 0, 0) != 0) {
        return 1;
    }
    while (FCGX_Accept_r(&req) >= 0) {
        const char *qs = FCGX_GetParam("QUERY_STRING", req.envp);

        route(req.envp, what, sizeof(what));
        if (strcmp(what, "small") == 0) {
            reply(req.out, "200 OK", SMALL, (long)strlen(SMALL));
        }
        else if (strcmp(what, "big") == 0) {
            long left = query_num(qs, "kib", 1024) * 1024;

            FCGX_FPrintF(req.out, "Content-Type: application/octet-stream"
                                  "\r\nContent-Length: %ld\r\n\r\n", left);
            while (left > 0) {
                int n = left > CHUNK ? CHUNK : (int)left;

                if (FCGX_PutStr(chunk, n, req.out) != n) {
                    break; /* the server went away */
                }
                left -= n;
            }
        }
        else if (strcmp(what, "count") == 0) {
            long long total = 0;
            int n;

            while ((n = FCGX_GetStr(chunk, CHUNK, req.in)) > 0) {
                total += n;
            }
            snprintf(buf, sizeof(buf), "%lld\n", total);
            reply(req.out, "200 OK", buf, (long)strlen(buf));
            memset(chunk, 'x', sizeof(chunk));
        }
        else if (strcmp(what, "sleep") == 0) {
            long ms = query_num(qs, "ms", 50);
            struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

            while (nanosleep(&ts, &ts) != 0) {
            }
            snprintf(buf, sizeof(buf), "slept %ld\n", ms);
            reply(req.out, "200 OK", buf, (long)strlen(buf));
        }
        else {
            reply(req.out, "404 Not Found", "no such route\n", 14);
        }
        FCGX_Finish_r(&req);
    }
    return 0;
}
