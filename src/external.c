/*
 * external.c: FastCGI servers that something else starts
 * (TracFcgiExternalServer; see tf_external.h): the way in for their
 * requests, configtest's word on them, and their pools in the table.
 *
 * Runs in the httpd parent (the checks, post_config) and in request
 * threads (translate_name, map_to_storage, the handler's lookup). What a
 * request does at the server is the request path's (src/bridge.c); the
 * health probes are the manager's (src/health.c).
 */
#include <string.h>

#include "apr_strings.h"
#include "http_core.h"
#include "http_main.h"
#include "http_request.h"

#include "tf_external.h"
#include "tf_pool.h"
#include "tf_private.h"
#include "tf_spec.h"

/* The longest URL-PATH of @list under which @uri lies. */
static const tf_external_t *match(const apr_array_header_t *list,
                                  const char *uri,
                                  const tf_external_t *best)
{
    int i;

    for (i = 0; list && i < list->nelts; i++) {
        const tf_external_t *x = APR_ARRAY_IDX(list, i, tf_external_t *);

        if (!x->file && strncmp(uri, x->url, x->url_len) == 0
            && (uri[x->url_len] == '\0' || uri[x->url_len] == '/')
            && (!best || x->url_len > best->url_len)) {
            best = x;
        }
    }
    return best;
}

int tf_external_translate(request_rec *r)
{
    const tf_external_t *x;

    if (r->proxyreq || !r->uri || r->uri[0] != '/') {
        return DECLINED;
    }
    x = match(tf_config_externals_of(r->server), r->uri, NULL);
    if (r->server->is_virtual) {
        /* the virtual host's own win a tie: it was matched first */
        const tf_external_t *m = match(tf_config_externals_of(ap_server_conf),
                                       r->uri, x);

        x = m;
    }
    if (!x) {
        return DECLINED;
    }
    ap_set_module_config(r->request_config, &tracfcgi_module, (void *)x);
    r->handler = TF_EXTERNAL_HANDLER;
    r->filename = apr_pstrcat(r->pool, ap_document_root(r), x->url, NULL);
    r->path_info = apr_pstrdup(r->pool, r->uri + x->url_len);
    return OK;
}

int tf_external_fixups(request_rec *r)
{
    const apr_array_header_t *files;
    int i;

    if (!r->filename || tf_external_of(r)) {
        return DECLINED;
    }
    /* one list for every virtual host: mod_fastcgi's applications are
     * global (its docs: another host's requests for the file use it) */
    files = tf_config_srv_get(r->server)->external_files;
    for (i = 0; files && i < files->nelts; i++) {
        const tf_external_t *x = APR_ARRAY_IDX(files, i, tf_external_t *);

        if (strcmp(x->file, r->filename) == 0) {
            ap_set_module_config(r->request_config, &tracfcgi_module,
                                 (void *)x);
            r->handler = TF_EXTERNAL_HANDLER;
            return OK;
        }
    }
    return DECLINED;
}

int tf_external_map_to_storage(request_rec *r)
{
    return tf_external_of(r) ? OK : DECLINED;
}

const tf_external_t *tf_external_of(request_rec *r)
{
    return ap_get_module_config(r->request_config, &tracfcgi_module);
}

/* --- What configtest says ----------------------------------------------- */

/* Spawn-time environment set in @x's server: it cannot reach a server
 * that something else starts. @return the directives and names, or
 * NULL. */
static const char *unreachable_env(apr_pool_t *p, const tf_external_t *x)
{
    const tf_dir_conf_t *dc = ap_get_module_config(x->s->lookup_defaults,
                                                   &tracfcgi_module);
    const char *out = NULL;
    int i;

    for (i = 0; dc && dc->init_env && i < dc->init_env->nelts; i++) {
        const tf_env_t *e = &APR_ARRAY_IDX(dc->init_env, i, tf_env_t);

        /* TracEnv & co: their FastCGI params reach it */
        if (strncmp(e->name, "TRAC_ENV", 8) != 0) {
            out = apr_psprintf(p, "%s%sTracFcgiInitEnv %s", out ? out : "",
                               out ? ", " : "", e->name);
        }
    }
    for (i = 0; dc && dc->pass_env && i < dc->pass_env->nelts; i++) {
        out = apr_psprintf(p, "%s%sTracFcgiPassEnv %s", out ? out : "",
                           out ? ", " : "",
                           APR_ARRAY_IDX(dc->pass_env, i, tf_env_t).name);
    }
    return out;
}

/* configtest: is anything there? Up to 2 s an address. */
static void probe(apr_pool_t *p, const tf_external_t *x)
{
    tf_dir_conf_t dc;
    apr_interval_time_t t;
    apr_uint32_t conns;
    apr_status_t rv;
    char err[120];
    int i;

    tf_config_dir_resolve(ap_get_module_config(x->s->lookup_defaults,
                                               &tracfcgi_module),
                          &dc);
    t = apr_time_from_sec(dc.connect_timeout < 2 ? dc.connect_timeout : 2);
    for (i = 0; i < x->n_addrs; i++) {
        if ((rv = tf_backend_health(&x->addrs[i], t, &conns))
            == APR_SUCCESS) {
            continue;
        }
        ap_log_error(APLOG_MARK, APLOG_STARTUP | APLOG_WARNING, 0, x->s,
                     TFLOGNO(00601) "TracFcgiExternalServer %s (%s): "
                     "nothing answers at %s now (%s); its requests get 503 "
                     "until something does",
                     *x->url ? x->url : "/", x->where, x->addr_text[i],
                     APR_STATUS_IS_TIMEUP(rv)
                         ? "no connection within 2 s"
                         : apr_strerror(rv, err, sizeof(err)));
    }
}

void tf_external_check(apr_pool_t *p, server_rec *s, int do_probe)
{
    apr_array_header_t *all = tf_config_externals(p);
    int i;

    for (i = 0; all && i < all->nelts; i++) {
        const tf_external_t *x = APR_ARRAY_IDX(all, i, tf_external_t *);
        const char *env = unreachable_env(p, x);

        if (env) {
            ap_log_error(APLOG_MARK, APLOG_STARTUP | APLOG_WARNING, 0, x->s,
                         TFLOGNO(00602) "TracFcgiExternalServer %s (%s): %s "
                         "of this server cannot reach it: something else "
                         "starts it, with its own environment (TracFcgiParam "
                         "sends a value with every request)",
                         *x->url ? x->url : "/", x->where, env);
        }
        if (do_probe) {
            probe(p, x);
        }
    }
}

/* --- Pools --------------------------------------------------------------- */

apr_uint32_t tf_external_count_addrs(apr_pool_t *pconf)
{
    apr_array_header_t *all = tf_config_externals(pconf);
    apr_uint32_t n = 0;
    int i;

    for (i = 0; all && i < all->nelts; i++) {
        n += (apr_uint32_t)APR_ARRAY_IDX(all, i, tf_external_t *)->n_addrs;
    }
    return n;
}

/* A pool key no spawned pool has: FNV-1a of where it was declared. */
static apr_uint64_t key_of(const tf_external_t *x, int i)
{
    const char *parts[3] = {"TracFcgiExternalServer", x->where, x->url};
    apr_uint64_t h = 14695981039346656037ULL;
    int k;
    const char *c;

    for (k = 0; k < 3; k++) {
        for (c = parts[k]; *c; c++) {
            h = (h ^ (unsigned char)*c) * 1099511628211ULL;
        }
        h = (h ^ 0xff) * 1099511628211ULL;
    }
    h ^= (apr_uint64_t)i;
    return h ? h : 1;
}

void tf_external_declare(apr_pool_t *pconf, server_rec *s, tf_shm_t *shm)
{
    apr_array_header_t *all = tf_config_externals(pconf);
    int i;

    for (i = 0; all && i < all->nelts; i++) {
        tf_external_t *x = APR_ARRAY_IDX(all, i, tf_external_t *);
        tf_pool_desc_t d;
        tf_pool_ext_t e;
        int k;

        d.uid = d.gid = -1;
        d.script = *x->url ? x->url : "/";
        d.vhost = tf_spec_vhost_label(pconf, x->s);
        d.env_summary = "external:";
        for (k = 0; k < x->n_addrs; k++) {
            d.env_summary = apr_pstrcat(pconf, d.env_summary, " ",
                                        x->addr_text[k], NULL);
        }
        e.where = x->addr_text;
        e.n = (apr_uint32_t)x->n_addrs;
        e.conns = (apr_uint32_t)x->conns;
        e.check_secs = (apr_uint32_t)x->check;
        e.fails = (apr_uint32_t)x->fails;
        e.keep_secs = (apr_uint32_t)x->keepalive;
        tf_shm_lock(shm);
        x->pool = tf_pool_ext_create(tf_shm_table(shm), key_of(x, i),
                                     apr_psprintf(pconf, "%s (external)",
                                                  d.script),
                                     &d, &e, apr_time_now());
        tf_shm_unlock(shm);
        if (x->pool < 0) {
            ap_log_error(APLOG_MARK, APLOG_ERR, 0, x->s, TFLOGNO(00603)
                         "TracFcgiExternalServer %s (%s): no room for it in "
                         "the process table; its requests get 503",
                         d.script, x->where);
        }
    }
}
