/*
 * metrics.c: the Prometheus exposition of the status handler (see
 * tf_metrics.h). Works on the status page's copy of the table; reads
 * each process's RSS from /proc/PID/statm. Runs in request threads.
 */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "apr_strings.h"
#include "http_protocol.h"

#include "tf_metrics.h"

static const char *const exit_names[TF_EXIT_REASONS] = {
    "idle_timeout", "broken", "died", "startup", "retired", "orphaned",
    "shutdown"};

#define GENERATION_NOTE " (since the configuration was loaded: a " \
                        "graceful restart starts it again)"

int tf_metrics_wanted(const request_rec *r)
{
    const char *accept = apr_table_get(r->headers_in, "Accept");

    return (r->args && strcmp(r->args, "prometheus") == 0)
           || (accept && ap_strstr_c(accept, "text/plain")
               && ap_strstr_c(accept, "version=0.0.4"));
}

/* A label value: backslash, double quote and newline escaped. */
static const char *esc(apr_pool_t *p, const char *s)
{
    apr_size_t n = 0;
    const char *c;
    char *out, *o;

    for (c = s; *c; c++) {
        n += (*c == '\\' || *c == '"' || *c == '\n') ? 2 : 1;
    }
    o = out = apr_palloc(p, n + 1);
    for (c = s; *c; c++) {
        if (*c == '\n') {
            *o++ = '\\';
            *o++ = 'n';
        }
        else {
            if (*c == '\\' || *c == '"') {
                *o++ = '\\';
            }
            *o++ = *c;
        }
    }
    *o = '\0';
    return out;
}

/* The labels of pool @p (without the closing brace). */
static const char *labels(apr_pool_t *p, const tf_pool_ent_t *pe)
{
    const char *env = pe->env_summary;

    env = strncmp(env, "TRAC_ENV=", 9) == 0 ? env + 9 : "";
    return apr_psprintf(p, "pool=\"%s\",script=\"%s\",vhost=\"%s\","
                        "uid=\"%d\",trac_env=\"%s\"", esc(p, pe->name),
                        esc(p, pe->script), esc(p, pe->vhost), (int)pe->uid,
                        esc(p, env));
}

static void head(request_rec *r, const char *name, const char *type,
                 const char *help)
{
    ap_rprintf(r, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

apr_uint64_t tf_metrics_rss(pid_t pid)
{
    char path[64];
    unsigned long size = 0, resident = 0;
    FILE *f;

    snprintf(path, sizeof(path), "/proc/%d/statm", (int)pid);
    if (!(f = fopen(path, "r"))) {
        return 0;
    }
    if (fscanf(f, "%lu %lu", &size, &resident) != 2) {
        resident = 0;
    }
    fclose(f);
    return (apr_uint64_t)resident * (apr_uint64_t)sysconf(_SC_PAGESIZE);
}

static const char *state_of(const tf_proc_ent_t *pr)
{
    switch (pr->state) {
    case TF_PROC_STARTING:
        return "starting";
    case TF_PROC_READY:
        return pr->conns ? "busy" : "idle";
    case TF_PROC_STOPPING:
        return "stopping";
    case TF_PROC_DOWN:
        return "down";
    default:
        return "exited";
    }
}

void tf_metrics_emit(request_rec *r, const tf_table_hdr_t *hdr,
                     const tf_pool_ent_t *pools, const tf_proc_ent_t *procs,
                     apr_time_t now)
{
    static const apr_uint64_t bounds[] = TF_DURATION_BOUNDS_US;
    static const char *const states[] = {"starting", "idle", "busy",
                                         "stopping", "exited", "down"};
    static const char *const kinds[TF_ERR_KINDS] = {"502", "503", "504"};
    apr_pool_t *p = r->pool;
    const char **lab = apr_palloc(p, sizeof(char *) * (hdr->used_pools + 1));
    apr_uint32_t i, k, s;

    (void)now;
    ap_set_content_type(r, "text/plain; version=0.0.4; charset=utf-8");
    for (i = 0; i < hdr->used_pools; i++) {
        lab[i] = labels(p, &pools[i]);
    }

    head(r, "tracfcgi_processes", "gauge", "Backend processes (or, for an "
         "external server, addresses) of the pool, by state.");
    for (i = 0; i < hdr->used_pools; i++) {
        for (s = 0; s < sizeof(states) / sizeof(states[0]); s++) {
            apr_uint32_t n = 0;

            for (k = 0; k < hdr->n_procs; k++) {
                n += procs[k].state != TF_PROC_FREE
                     && procs[k].pool == (apr_int32_t)i
                     && strcmp(state_of(&procs[k]), states[s]) == 0;
            }
            ap_rprintf(r, "tracfcgi_processes{%s,state=\"%s\"} %u\n",
                       lab[i], states[s], n);
        }
    }
    head(r, "tracfcgi_connections_in_use", "gauge",
         "Backend connections held by requests (and kept idle) now.");
    for (i = 0; i < hdr->used_pools; i++) {
        apr_uint32_t n = 0;

        for (k = 0; k < hdr->n_procs; k++) {
            if (procs[k].state != TF_PROC_FREE
                && procs[k].pool == (apr_int32_t)i) {
                n += procs[k].conns;
            }
        }
        ap_rprintf(r, "tracfcgi_connections_in_use{%s} %u\n", lab[i], n);
    }
    head(r, "tracfcgi_requests_waiting", "gauge",
         "Requests waiting in the pool's queue now.");
    for (i = 0; i < hdr->used_pools; i++) {
        ap_rprintf(r, "tracfcgi_requests_waiting{%s} %u\n", lab[i],
                   pools[i].n_waiting);
    }
#define COUNTER(name, help, field)                                          \
    head(r, name, "counter", help GENERATION_NOTE ".");                     \
    for (i = 0; i < hdr->used_pools; i++) {                                 \
        ap_rprintf(r, name "{%s} %" APR_UINT64_T_FMT "\n", lab[i],          \
                   pools[i].field);                                         \
    }
    COUNTER("tracfcgi_requests_total", "Requests served", requests)
    COUNTER("tracfcgi_queued_total", "Requests that had to wait", queued)
    COUNTER("tracfcgi_queue_timeouts_total",
            "Requests answered 503 after TracFcgiQueueTimeout",
            queue_timeouts)
    COUNTER("tracfcgi_spawns_total", "Backend processes started", spawns)
#undef COUNTER
    head(r, "tracfcgi_exits_total", "counter",
         "Backend processes that ended, by reason" GENERATION_NOTE ".");
    for (i = 0; i < hdr->used_pools; i++) {
        for (s = 0; s < TF_EXIT_REASONS; s++) {
            ap_rprintf(r, "tracfcgi_exits_total{%s,reason=\"%s\"} %"
                       APR_UINT64_T_FMT "\n", lab[i], exit_names[s],
                       pools[i].exits[s]);
        }
    }
    head(r, "tracfcgi_errors_total", "counter",
         "Requests answered 502 (gateway), 503 (unavailable) or 504 "
         "(timeout)" GENERATION_NOTE ".");
    for (i = 0; i < hdr->used_pools; i++) {
        for (s = 0; s < TF_ERR_KINDS; s++) {
            ap_rprintf(r, "tracfcgi_errors_total{%s,status=\"%s\"} %"
                       APR_UINT64_T_FMT "\n", lab[i], kinds[s],
                       pools[i].errors[s]);
        }
    }
    head(r, "tracfcgi_request_duration_seconds", "histogram",
         "How long requests held a backend, from taking it to the end of "
         "the answer" GENERATION_NOTE ".");
    for (i = 0; i < hdr->used_pools; i++) {
        apr_uint64_t cum = 0;

        for (s = 0; s < TF_DURATION_BUCKETS; s++) {
            cum += pools[i].duration[s];
            if (s < TF_DURATION_BUCKETS - 1) {
                ap_rprintf(r, "tracfcgi_request_duration_seconds_bucket{%s,"
                           "le=\"%g\"} %" APR_UINT64_T_FMT "\n", lab[i],
                           (double)bounds[s] / 1e6, cum);
            }
            else {
                ap_rprintf(r, "tracfcgi_request_duration_seconds_bucket{%s,"
                           "le=\"+Inf\"} %" APR_UINT64_T_FMT "\n", lab[i],
                           cum);
            }
        }
        ap_rprintf(r, "tracfcgi_request_duration_seconds_sum{%s} %.6f\n"
                   "tracfcgi_request_duration_seconds_count{%s} %"
                   APR_UINT64_T_FMT "\n", lab[i],
                   (double)pools[i].duration_sum_us / 1e6, lab[i], cum);
    }
    head(r, "tracfcgi_process_resident_memory_bytes", "gauge",
         "Resident memory of each backend process.");
    for (k = 0; k < hdr->n_procs; k++) {
        const tf_proc_ent_t *pr = &procs[k];

        if (pr->state != TF_PROC_FREE && pr->pid > 0) {
            ap_rprintf(r, "tracfcgi_process_resident_memory_bytes{%s,"
                       "pid=\"%d\"} %" APR_UINT64_T_FMT "\n", lab[pr->pool],
                       (int)pr->pid, tf_metrics_rss(pr->pid));
        }
    }
}
