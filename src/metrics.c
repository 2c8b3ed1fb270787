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

/* What the exposition is made of: the table copy and each pool's
 * labels. */
typedef struct {
    request_rec *r;
    const tf_table_hdr_t *hdr;
    const tf_pool_ent_t *pools;
    const tf_proc_ent_t *procs;
    const char **lab;
} expo_t;

/* Processes by state, connections in use, requests waiting. */
static void emit_gauges(const expo_t *e)
{
    static const char *const states[] = {"starting", "idle", "busy",
                                         "stopping", "exited", "down"};
    request_rec *r = e->r;
    apr_uint32_t i, k, s, n;

    head(r, "tracfcgi_processes", "gauge", "Backend processes (or, for an "
         "external server, addresses) of the pool, by state.");
    for (i = 0; i < e->hdr->used_pools; i++) {
        for (s = 0; s < sizeof(states) / sizeof(states[0]); s++) {
            for (n = 0, k = 0; k < e->hdr->n_procs; k++) {
                n += e->procs[k].state != TF_PROC_FREE
                     && e->procs[k].pool == (apr_int32_t)i
                     && strcmp(state_of(&e->procs[k]), states[s]) == 0;
            }
            ap_rprintf(r, "tracfcgi_processes{%s,state=\"%s\"} %u\n",
                       e->lab[i], states[s], n);
        }
    }
    head(r, "tracfcgi_connections_in_use", "gauge",
         "Backend connections held by requests (and kept idle) now.");
    for (i = 0; i < e->hdr->used_pools; i++) {
        for (n = 0, k = 0; k < e->hdr->n_procs; k++) {
            if (e->procs[k].state != TF_PROC_FREE
                && e->procs[k].pool == (apr_int32_t)i) {
                n += e->procs[k].conns;
            }
        }
        ap_rprintf(r, "tracfcgi_connections_in_use{%s} %u\n", e->lab[i], n);
    }
    head(r, "tracfcgi_requests_waiting", "gauge",
         "Requests waiting in the pool's queue now.");
    for (i = 0; i < e->hdr->used_pools; i++) {
        ap_rprintf(r, "tracfcgi_requests_waiting{%s} %u\n", e->lab[i],
                   e->pools[i].n_waiting);
    }
}

/* One counter of each pool: @field's value, read by @get. */
static void emit_counter(const expo_t *e, const char *name,
                         const char *help,
                         apr_uint64_t (*get)(const tf_pool_ent_t *))
{
    apr_uint32_t i;

    head(e->r, name, "counter", apr_pstrcat(e->r->pool, help,
                                            GENERATION_NOTE ".", NULL));
    for (i = 0; i < e->hdr->used_pools; i++) {
        ap_rprintf(e->r, "%s{%s} %" APR_UINT64_T_FMT "\n", name, e->lab[i],
                   get(&e->pools[i]));
    }
}

static apr_uint64_t get_requests(const tf_pool_ent_t *p)
{
    return p->requests;
}

static apr_uint64_t get_queued(const tf_pool_ent_t *p)
{
    return p->queued;
}

static apr_uint64_t get_queue_timeouts(const tf_pool_ent_t *p)
{
    return p->queue_timeouts;
}

static apr_uint64_t get_spawns(const tf_pool_ent_t *p)
{
    return p->spawns;
}

/* Exits by reason, answers by failing status. */
static void emit_by_kind(const expo_t *e)
{
    static const char *const kinds[TF_ERR_KINDS] = {"502", "503", "504"};
    request_rec *r = e->r;
    apr_uint32_t i, s;

    head(r, "tracfcgi_exits_total", "counter",
         "Backend processes that ended, by reason" GENERATION_NOTE ".");
    for (i = 0; i < e->hdr->used_pools; i++) {
        for (s = 0; s < TF_EXIT_REASONS; s++) {
            ap_rprintf(r, "tracfcgi_exits_total{%s,reason=\"%s\"} %"
                       APR_UINT64_T_FMT "\n", e->lab[i], exit_names[s],
                       e->pools[i].exits[s]);
        }
    }
    head(r, "tracfcgi_errors_total", "counter",
         "Requests answered 502 (gateway), 503 (unavailable) or 504 "
         "(timeout)" GENERATION_NOTE ".");
    for (i = 0; i < e->hdr->used_pools; i++) {
        for (s = 0; s < TF_ERR_KINDS; s++) {
            ap_rprintf(r, "tracfcgi_errors_total{%s,status=\"%s\"} %"
                       APR_UINT64_T_FMT "\n", e->lab[i], kinds[s],
                       e->pools[i].errors[s]);
        }
    }
}

/* How long requests held a backend: cumulative buckets, sum, count. */
static void emit_histogram(const expo_t *e)
{
    static const apr_uint64_t bounds[] = TF_DURATION_BOUNDS_US;
    request_rec *r = e->r;
    apr_uint32_t i, s;

    head(r, "tracfcgi_request_duration_seconds", "histogram",
         "How long requests held a backend, from taking it to the end of "
         "the answer" GENERATION_NOTE ".");
    for (i = 0; i < e->hdr->used_pools; i++) {
        apr_uint64_t cum = 0;

        for (s = 0; s < TF_DURATION_BUCKETS; s++) {
            cum += e->pools[i].duration[s];
            ap_rprintf(r, "tracfcgi_request_duration_seconds_bucket{%s,"
                       "le=\"%s\"} %" APR_UINT64_T_FMT "\n", e->lab[i],
                       s < TF_DURATION_BUCKETS - 1
                           ? apr_psprintf(r->pool, "%g",
                                          (double)bounds[s] / 1e6)
                           : "+Inf",
                       cum);
        }
        ap_rprintf(r, "tracfcgi_request_duration_seconds_sum{%s} %.6f\n"
                   "tracfcgi_request_duration_seconds_count{%s} %"
                   APR_UINT64_T_FMT "\n", e->lab[i],
                   (double)e->pools[i].duration_sum_us / 1e6, e->lab[i],
                   cum);
    }
}

/* Each process's resident memory. */
static void emit_rss(const expo_t *e)
{
    apr_uint32_t k;

    head(e->r, "tracfcgi_process_resident_memory_bytes", "gauge",
         "Resident memory of each backend process.");
    for (k = 0; k < e->hdr->n_procs; k++) {
        const tf_proc_ent_t *pr = &e->procs[k];

        if (pr->state != TF_PROC_FREE && pr->pid > 0) {
            ap_rprintf(e->r, "tracfcgi_process_resident_memory_bytes{%s,"
                       "pid=\"%d\"} %" APR_UINT64_T_FMT "\n",
                       e->lab[pr->pool], (int)pr->pid,
                       tf_metrics_rss(pr->pid));
        }
    }
}

void tf_metrics_emit(request_rec *r, const tf_table_hdr_t *hdr,
                     const tf_pool_ent_t *pools, const tf_proc_ent_t *procs,
                     apr_time_t now)
{
    expo_t e = {r, hdr, pools, procs, NULL};
    apr_uint32_t i;

    (void)now;
    ap_set_content_type(r, "text/plain; version=0.0.4; charset=utf-8");
    e.lab = apr_palloc(r->pool, sizeof(char *) * (hdr->used_pools + 1));
    for (i = 0; i < hdr->used_pools; i++) {
        e.lab[i] = labels(r->pool, &pools[i]);
    }
    emit_gauges(&e);
    emit_counter(&e, "tracfcgi_requests_total", "Requests served",
                 get_requests);
    emit_counter(&e, "tracfcgi_queued_total", "Requests that had to wait",
                 get_queued);
    emit_counter(&e, "tracfcgi_queue_timeouts_total",
                 "Requests answered 503 after TracFcgiQueueTimeout",
                 get_queue_timeouts);
    emit_counter(&e, "tracfcgi_spawns_total", "Backend processes started",
                 get_spawns);
    emit_by_kind(&e);
    emit_histogram(&e);
    emit_rss(&e);
}
