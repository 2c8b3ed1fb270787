/*
 * status.c: the status page and the mod_status section (see tf_status.h).
 * Runs in request threads; reads a snapshot of the table, never the live
 * one, so formatting happens without the lock.
 */
#include <pwd.h>
#include <stdlib.h>

#include "apr_strings.h"
#include "http_protocol.h"
#include "util_script.h"
#include "mod_status.h"

#include "tf_metrics.h"
#include "tf_private.h"
#include "tf_status.h"

typedef struct {
    tf_table_hdr_t hdr;
    tf_pool_ent_t *pools;
    tf_proc_ent_t *procs;
    apr_time_t now;
} snapshot_t;

static void take_snapshot(apr_pool_t *p, tf_shm_t *shm, snapshot_t *sn)
{
    tf_table_t *t = tf_shm_table(shm);
    apr_uint32_t np = t->hdr->n_procs;

    sn->pools = apr_palloc(p, sizeof(tf_pool_ent_t) * t->hdr->n_pools);
    sn->procs = apr_palloc(p, sizeof(tf_proc_ent_t) * np);
    tf_shm_lock(shm);
    sn->hdr = *t->hdr;
    memcpy(sn->pools, t->pools, sizeof(tf_pool_ent_t) * sn->hdr.used_pools);
    memcpy(sn->procs, t->procs, sizeof(tf_proc_ent_t) * np);
    tf_shm_unlock(shm);
    sn->now = apr_time_now();
}

static const char *const state_names[] = {"free", "starting", "ready",
                                          "stopping", "exited", "down"};
static const char *const exit_names[TF_EXIT_REASONS] = {
    "idle_timeout", "broken", "died", "startup", "retired", "orphaned",
    "shutdown"};

static const char *proc_state(const tf_proc_ent_t *pr)
{
    if (pr->state == TF_PROC_READY) {
        return pr->conns ? "busy" : "idle";
    }
    return pr->state <= TF_PROC_DOWN ? state_names[pr->state] : "?";
}

/* An external server's address: "up" or "down", and since when. */
static const char *addr_state(const tf_proc_ent_t *pr)
{
    return pr->state == TF_PROC_DOWN ? "down" : "up";
}

static apr_time_t down_for(const snapshot_t *sn, const tf_proc_ent_t *pr)
{
    return pr->state == TF_PROC_DOWN ? apr_time_sec(sn->now - pr->down_since)
                                     : 0;
}

/* JSON string body, escaped (RFC 8259 §7). */
static const char *json_str(apr_pool_t *p, const char *s)
{
    apr_size_t n = 0;
    const unsigned char *c;
    char *out, *o;

    for (c = (const unsigned char *)s; *c; c++) {
        n += (*c < 0x20 || *c == '"' || *c == '\\') ? 6 : 1;
    }
    o = out = apr_palloc(p, n + 1);
    for (c = (const unsigned char *)s; *c; c++) {
        if (*c == '"' || *c == '\\') {
            *o++ = '\\';
            *o++ = (char)*c;
        }
        else if (*c < 0x20) {
            apr_snprintf(o, 7, "\\u%04x", *c);
            o += 6;
        }
        else {
            *o++ = (char)*c;
        }
    }
    *o = '\0';
    return out;
}

/* The next entry of pool @pool in the table from *@k on (and *@k past
 * it), or NULL when there is none. */
static const tf_proc_ent_t *next_member(const snapshot_t *sn,
                                        apr_uint32_t pool, apr_uint32_t *k)
{
    while (*k < sn->hdr.n_procs) {
        const tf_proc_ent_t *pr = &sn->procs[(*k)++];

        if (pr->state != TF_PROC_FREE && pr->pool == (apr_int32_t)pool) {
            return pr;
        }
    }
    return NULL;
}

/* The processes, or an external pool's addresses, of pool @i. */
static void emit_json_members(request_rec *r, const snapshot_t *sn,
                              apr_uint32_t i, int external)
{
    const tf_proc_ent_t *pr;
    apr_uint32_t k = 0;
    int first_proc = 1;

    while ((pr = next_member(sn, i, &k)) != NULL) {
        if (external) {
            ap_rprintf(r, "%s\n  {\"address\": \"%s\", \"state\": "
                       "\"%s\", \"down_s\": %" APR_TIME_T_FMT ", "
                       "\"conns\": %u, \"max_conns\": %u, "
                       "\"kept\": %u, "
                       "\"requests\": %" APR_UINT64_T_FMT ", "
                       "\"failures\": %" APR_UINT64_T_FMT ", "
                       "\"last_error\": \"%s\"}",
                       first_proc ? "" : ",",
                       json_str(r->pool, pr->where), addr_state(pr),
                       down_for(sn, pr), pr->conns, pr->max_conns,
                       pr->kept, pr->requests, pr->failures,
                       json_str(r->pool, pr->error));
            first_proc = 0;
            continue;
        }
        ap_rprintf(r, "%s\n  {\"pid\": %d, \"state\": \"%s\", "
                   "\"conns\": %u, \"max_conns\": %u, \"requests\": %"
                   APR_UINT64_T_FMT ", \"age_s\": %" APR_TIME_T_FMT
                   ", \"idle_s\": %" APR_TIME_T_FMT ", \"rss_bytes\": %"
                   APR_UINT64_T_FMT "}",
                   first_proc ? "" : ",", (int)pr->pid, proc_state(pr),
                   pr->conns, pr->max_conns, pr->requests,
                   apr_time_sec(sn->now - pr->started),
                   pr->conns ? 0 : apr_time_sec(sn->now - pr->last_used),
                   pr->pid > 0 ? tf_metrics_rss(pr->pid) : 0);
        first_proc = 0;
    }
}

static void emit_json(request_rec *r, const snapshot_t *sn)
{
    apr_uint32_t i;
    int j;

    ap_set_content_type(r, "application/json");
    ap_rprintf(r, "{\"generation\": %u, \"pm_pid\": %d, \"pm_starts\": %u, "
               "\"draining\": %s, \"total_procs\": %u, \"max_total\": %u, "
               "\"waiting\": %u, \"pool_entries\": %u, "
               "\"pools_recycled\": %u, \"pools\": [",
               sn->hdr.generation, (int)sn->hdr.pm_pid, sn->hdr.pm_starts,
               sn->hdr.draining ? "true" : "false", sn->hdr.total_procs,
               sn->hdr.max_total, sn->hdr.waiting, sn->hdr.n_pools,
               sn->hdr.recycled_pools);
    for (i = 0; i < sn->hdr.used_pools; i++) {
        const tf_pool_ent_t *p = &sn->pools[i];

        ap_rprintf(r, "%s\n {\"name\": \"%s\", \"script\": \"%s\", "
                   "\"vhost\": \"%s\", \"uid\": %d, \"gid\": %d, "
                   "\"env\": \"%s\", \"min_procs\": %u, \"max_procs\": %u, "
                   "\"procs\": %u, \"waiting\": %u, \"queued\": %"
                   APR_UINT64_T_FMT ", \"queue_timeouts\": %" APR_UINT64_T_FMT
                   ", \"longest_wait_ms\": %" APR_TIME_T_FMT ", \"requests\": %"
                   APR_UINT64_T_FMT ", \"spawns\": %" APR_UINT64_T_FMT
                   ", \"exits\": {",
                   i ? "," : "", json_str(r->pool, p->name),
                   json_str(r->pool, p->script), json_str(r->pool, p->vhost),
                   (int)p->uid, (int)p->gid,
                   json_str(r->pool, p->env_summary), p->lim.min_procs,
                   p->lim.max_procs, p->n_procs, p->n_waiting, p->queued,
                   p->queue_timeouts, apr_time_as_msec(p->longest_wait),
                   p->requests, p->spawns);
        for (j = 0; j < TF_EXIT_REASONS; j++) {
            ap_rprintf(r, "%s\"%s\": %" APR_UINT64_T_FMT, j ? ", " : "",
                       exit_names[j], p->exits[j]);
        }
        ap_rprintf(r, "}, \"errors\": {\"502\": %" APR_UINT64_T_FMT
                   ", \"503\": %" APR_UINT64_T_FMT ", \"504\": %"
                   APR_UINT64_T_FMT "}, \"duration\": {\"sum_s\": %.6f, "
                   "\"buckets\": [", p->errors[TF_ERR_502],
                   p->errors[TF_ERR_503], p->errors[TF_ERR_504],
                   (double)p->duration_sum_us / 1e6);
        for (j = 0; j < TF_DURATION_BUCKETS; j++) {
            ap_rprintf(r, "%s%" APR_UINT64_T_FMT, j ? ", " : "",
                       p->duration[j]);
        }
        ap_rprintf(r, "]}, \"last_error\": \"%s\", \"last_error_age_s\": %"
                   APR_TIME_T_FMT ", \"external\": %s, \"%s\": [",
                   json_str(r->pool, p->last_error),
                   p->last_error_time
                       ? apr_time_sec(sn->now - p->last_error_time)
                       : -1,
                   p->external ? "true" : "false",
                   p->external ? "addresses" : "processes");
        emit_json_members(r, sn, i, p->external);
        ap_rputs("]}", r);
    }
    ap_rputs("\n]}\n", r);
}

/* An external pool's addresses, as rows. */
static void emit_html_addresses(request_rec *r, const snapshot_t *sn,
                                apr_uint32_t pool)
{
    const tf_proc_ent_t *pr;
    apr_uint32_t k = 0;

    ap_rputs("</p><table><tr><th>address</th><th>state</th>"
             "<th>down for (s)</th><th>connections (kept idle)</th>"
             "<th>requests</th>"
             "<th>failures</th><th>last error</th></tr>\n", r);
    while ((pr = next_member(sn, pool, &k)) != NULL) {
        ap_rprintf(r, "<tr><td>%s</td><td>%s</td><td>%" APR_TIME_T_FMT
                   "</td><td>%u/%u (%u)</td><td>%" APR_UINT64_T_FMT
                   "</td><td>%"
                   APR_UINT64_T_FMT "</td><td class=\"err\">%s</td></tr>\n",
                   ap_escape_html(r->pool, pr->where), addr_state(pr),
                   down_for(sn, pr), pr->conns, pr->max_conns, pr->kept,
                   pr->requests, pr->failures,
                   ap_escape_html(r->pool, pr->error));
    }
    ap_rputs("</table>\n", r);
}

/* What one pool comes to, for the summary table. */
typedef struct {
    apr_uint32_t idx, busy, idle, other;
    apr_uint64_t errors;
} pool_sum_t;

static int by_load(const void *a, const void *b)
{
    const pool_sum_t *x = a, *y = b;

    /* the busiest first; then the one with more failures */
    if (x->busy != y->busy) {
        return x->busy > y->busy ? -1 : 1;
    }
    return x->errors > y->errors ? -1 : x->errors < y->errors ? 1 : 0;
}

/* How the summary names a pool: its virtual host, and its project (the
 * last part of TRAC_ENV) or its script. */
static const char *pool_label(apr_pool_t *p, const tf_pool_ent_t *pe)
{
    const char *what = pe->script, *slash;

    if (strncmp(pe->env_summary, "TRAC_ENV=", 9) == 0) {
        what = pe->env_summary + 9;
    }
    slash = strrchr(what, '/');
    return apr_pstrcat(p, pe->vhost, " ", slash && slash[1] ? slash + 1
                                                           : what, NULL);
}

static const char *user_name(apr_pool_t *p, apr_int32_t uid)
{
    struct passwd pw, *pwp = NULL;
    char buf[1024];

    if (uid < 0) {
        return "-";
    }
    return getpwuid_r((uid_t)uid, &pw, buf, sizeof(buf), &pwp) == 0 && pwp
               ? apr_pstrdup(p, pw.pw_name)
               : apr_psprintf(p, "#%d", (int)uid);
}

/* One row per pool, the busiest first. */
static void emit_summary(request_rec *r, const snapshot_t *sn)
{
    pool_sum_t *sum = apr_pcalloc(r->pool, sizeof(pool_sum_t)
                                               * (sn->hdr.used_pools + 1));
    apr_uint32_t i, k;
    int j;

    for (i = 0; i < sn->hdr.used_pools; i++) {
        sum[i].idx = i;
        for (j = 0; j < TF_ERR_KINDS; j++) {
            sum[i].errors += sn->pools[i].errors[j];
        }
    }
    for (k = 0; k < sn->hdr.n_procs; k++) {
        const tf_proc_ent_t *pr = &sn->procs[k];

        if (pr->state == TF_PROC_FREE) {
            continue;
        }
        if (pr->state != TF_PROC_READY) {
            sum[pr->pool].other++;
        }
        else if (pr->conns) {
            sum[pr->pool].busy++;
        }
        else {
            sum[pr->pool].idle++;
        }
    }
    qsort(sum, sn->hdr.used_pools, sizeof(*sum), by_load);
    ap_rputs("<table><caption>Pools, the busiest first</caption>"
             "<tr><th>pool</th><th>user</th><th>busy</th><th>idle</th>"
             "<th>other</th><th>max</th><th>waiting</th>"
             "<th>last minute: requests</th><th>failed</th>"
             "<th>requests</th><th>502/503/504</th>"
             "<th>longest wait (ms)</th></tr>\n", r);
    for (i = 0; i < sn->hdr.used_pools; i++) {
        const tf_pool_ent_t *p = &sn->pools[sum[i].idx];
        apr_uint32_t failed, recent = tf_pool_recent(
            p, (apr_uint32_t)apr_time_sec(sn->now), &failed);

        ap_rprintf(r, "<tr class=\"%s\"><td><a href=\"#pool%u\">%s</a>"
                   "</td><td>%s</td><td class=\"busy\">%u</td><td>%u</td>"
                   "<td>%u</td><td>%u</td><td>%u</td><td>%u</td>"
                   "<td class=\"failed\">%u</td><td>%" APR_UINT64_T_FMT
                   "</td><td>%" APR_UINT64_T_FMT "/%" APR_UINT64_T_FMT "/%"
                   APR_UINT64_T_FMT "</td><td>%" APR_TIME_T_FMT
                   "</td></tr>\n",
                   p->n_waiting ? "waiting" : failed ? "failing" : "fine",
                   sum[i].idx,
                   ap_escape_html(r->pool, pool_label(r->pool, p)),
                   ap_escape_html(r->pool, user_name(r->pool, p->uid)),
                   sum[i].busy, sum[i].idle, sum[i].other,
                   p->lim.max_procs, p->n_waiting, recent, failed,
                   p->requests,
                   p->errors[TF_ERR_502], p->errors[TF_ERR_503],
                   p->errors[TF_ERR_504], apr_time_as_msec(p->longest_wait));
    }
    ap_rputs("</table>\n", r);
}

/* A pool's own processes, as rows. */
static void emit_html_processes(request_rec *r, const snapshot_t *sn,
                                apr_uint32_t i)
{
    const tf_proc_ent_t *pr;
    apr_uint32_t k = 0;

    ap_rputs("</p><table><tr><th>pid</th><th>state</th>"
             "<th>connections</th><th>requests</th><th>age (s)</th>"
             "<th>idle (s)</th><th>RSS (KiB)</th><th>serving</th>"
             "</tr>\n", r);
    while ((pr = next_member(sn, i, &k)) != NULL) {
        const char *serving = "";

        if (pr->conns && pr->req[0]) {
            serving = apr_psprintf(r->pool, "%s for %" APR_TIME_T_FMT " ms",
                                   ap_escape_html(r->pool, pr->req),
                                   apr_time_as_msec(sn->now - pr->req_since));
        }
        ap_rprintf(r, "<tr><td>%d</td><td class=\"%s\">%s</td><td>%u/%u"
                   "</td><td>%" APR_UINT64_T_FMT "</td><td>%"
                   APR_TIME_T_FMT "</td><td>%" APR_TIME_T_FMT
                   "</td><td>%" APR_UINT64_T_FMT "</td><td>%s</td>"
                   "</tr>\n",
                   (int)pr->pid, proc_state(pr), proc_state(pr),
                   pr->conns, pr->max_conns, pr->requests,
                   apr_time_sec(sn->now - pr->started),
                   pr->conns ? 0 : apr_time_sec(sn->now - pr->last_used),
                   pr->pid > 0 ? tf_metrics_rss(pr->pid) / 1024 : 0,
                   serving);
    }
    ap_rputs("</table>\n", r);
}

static void emit_html(request_rec *r, const snapshot_t *sn)
{
    apr_uint32_t i;
    int j;

    ap_set_content_type(r, "text/html; charset=utf-8");
    ap_rputs("<!DOCTYPE html>\n<html lang=\"en\"><head>"
             "<meta charset=\"utf-8\"><title>mod_tracfcgi status</title>"
             "<style>"
             "body{font-family:sans-serif}"
             "table{border-collapse:collapse;margin:0 0 1.5em 0}"
             "td,th{border:1px solid #bbb;padding:2px 8px;text-align:left}"
             "th{background:#eee}.err{color:#a00}"
             "tr.waiting{background:#fde2b8}tr.failing{background:#f8d0d0}"
             ".busy{font-weight:bold}</style></head><body>\n", r);
    ap_rprintf(r, "<h1>mod_tracfcgi</h1><p>Process manager pid %d "
               "(started %u time(s)%s), %u of %u processes, %u request(s) "
               "waiting. <a href=\"?json\">JSON</a> "
               "<a href=\"?prometheus\">Prometheus</a></p>\n",
               (int)sn->hdr.pm_pid, sn->hdr.pm_starts,
               sn->hdr.draining ? ", draining" : "", sn->hdr.total_procs,
               sn->hdr.max_total, sn->hdr.waiting);
    emit_summary(r, sn);
    for (i = 0; i < sn->hdr.used_pools; i++) {
        const tf_pool_ent_t *p = &sn->pools[i];

        ap_rprintf(r, "<h2 id=\"pool%u\">%s</h2><p>script %s, virtual host "
                   "%s, uid %d gid %d, environment: %s<br>processes %u "
                   "(min %u, max %u), waiting %u, requests %"
                   APR_UINT64_T_FMT ", queued %" APR_UINT64_T_FMT
                   ", queue timeouts %" APR_UINT64_T_FMT
                   ", longest wait %" APR_TIME_T_FMT " ms, spawns %"
                   APR_UINT64_T_FMT "<br>exits:", i,
                   ap_escape_html(r->pool, pool_label(r->pool, p)),
                   ap_escape_html(r->pool, p->script),
                   ap_escape_html(r->pool, p->vhost), (int)p->uid,
                   (int)p->gid, ap_escape_html(r->pool, p->env_summary),
                   p->n_procs, p->lim.min_procs, p->lim.max_procs,
                   p->n_waiting, p->requests, p->queued, p->queue_timeouts,
                   apr_time_as_msec(p->longest_wait), p->spawns);
        for (j = 0; j < TF_EXIT_REASONS; j++) {
            ap_rprintf(r, " %s %" APR_UINT64_T_FMT, exit_names[j],
                       p->exits[j]);
        }
        if (p->last_error[0]) {
            ap_rprintf(r, "<br><span class=\"err\">last error (%"
                       APR_TIME_T_FMT " s ago): %s</span>",
                       apr_time_sec(sn->now - p->last_error_time),
                       ap_escape_html(r->pool, p->last_error));
        }
        if (p->external) {
            emit_html_addresses(r, sn, i);
        }
        else {
            emit_html_processes(r, sn, i);
        }
    }
    ap_rputs("</body></html>\n", r);
}

int tf_status_handle(request_rec *r, tf_shm_t *shm)
{
    const char *accept = apr_table_get(r->headers_in, "Accept");
    snapshot_t sn;

    if (r->method_number != M_GET) {
        r->allowed = AP_METHOD_BIT << M_GET;
        return r->method_number == M_OPTIONS ? DECLINED
                                             : HTTP_METHOD_NOT_ALLOWED;
    }
    if (!shm) {
        return HTTP_SERVICE_UNAVAILABLE;
    }
    take_snapshot(r->pool, shm, &sn);
    apr_table_setn(r->headers_out, "Cache-Control", "no-store");
    if (tf_metrics_wanted(r)) {
        tf_metrics_emit(r, &sn.hdr, sn.pools, sn.procs, sn.now);
    }
    else if ((r->args && strcmp(r->args, "json") == 0)
             || (accept && ap_strstr_c(accept, "application/json"))) {
        emit_json(r, &sn);
    }
    else {
        emit_html(r, &sn);
    }
    return OK;
}

int tf_status_mod_status(request_rec *r, tf_shm_t *shm, int flags)
{
    snapshot_t sn;
    apr_uint32_t k, busy = 0, idle = 0;

    if (!shm) {
        return OK;
    }
    take_snapshot(r->pool, shm, &sn);
    for (k = 0; k < sn.hdr.n_procs; k++) {
        if (sn.procs[k].state == TF_PROC_READY && sn.procs[k].pid > 0) {
            if (sn.procs[k].conns) {
                busy++;
            }
            else {
                idle++;
            }
        }
    }
    if (flags & AP_STATUS_SHORT) {
        ap_rprintf(r, "TracFcgiPools: %u\nTracFcgiProcesses: %u\n"
                   "TracFcgiBusy: %u\nTracFcgiIdle: %u\nTracFcgiWaiting: %u\n",
                   sn.hdr.used_pools, sn.hdr.total_procs, busy, idle,
                   sn.hdr.waiting);
    }
    else {
        ap_rprintf(r, "<hr><h2>mod_tracfcgi</h2><p>%u pool(s), %u of %u "
                   "process(es): %u busy, %u idle; %u request(s) waiting"
                   "</p>\n", sn.hdr.used_pools, sn.hdr.total_procs,
                   sn.hdr.max_total, busy, idle, sn.hdr.waiting);
    }
    return OK;
}
