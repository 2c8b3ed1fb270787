/*
 * params.c: CGI/1.1 variables of a request as FastCGI params (see
 * tf_params.h). The variables are exactly mod_cgi's (httpd's own
 * ap_add_common_vars and ap_add_cgi_vars: SCRIPT_NAME/PATH_INFO for root
 * mounts included, no HTTP_PROXY), with two differences a FastCGI app
 * needs: CONTENT_LENGTH is the length of the dechunked, buffered body, and
 * the headers httpd withholds (Authorization, Proxy-Authorization) are
 * passed only when the configuration names them: TracFcgiPassHeader (and
 * mod_fcgid's FcgidPassHeader, mod_fastcgi's -pass-header), for
 * Authorization also TracFcgiPassAuthorization On or httpd's own
 * CGIPassAuth On. The configured verbatim params (TracEnv's
 * trac.env_path, TracFcgiParam) come last.
 */
#include "apr_strings.h"
#include "httpd.h"
#include "util_script.h"

#include "tf_fcgi_proto.h"
#include "tf_params.h"
#include "tf_private.h"

/* The request header @name, if the request has it, as the param @param
 * (HTTP_NAME), whatever httpd withheld. */
static void pass_header(request_rec *r, const char *name, const char *param)
{
    const char *v = apr_table_get(r->headers_in, name);

    if (v) {
        apr_table_setn(r->subprocess_env, param, v);
    }
}

/* The PARAMS stream of r->subprocess_env once the CGI variables are in
 * it, without the names in @drop (NULL-terminated, or NULL). */
static int build(request_rec *r, const tf_dir_conf_t *dc, apr_off_t body_len,
                 int has_body, const char *const *drop, unsigned char **buf,
                 apr_size_t *len)
{
    const apr_array_header_t *arr;
    const apr_table_entry_t *elts;
    apr_table_t *e = r->subprocess_env;
    tf_fcgi_nv_t *nv;
    size_t size, text = 0, n = 0, written;
    int i;

    ap_add_common_vars(r);
    ap_add_cgi_vars(r);
    /* httpoxy: a Proxy: request header must never become HTTP_PROXY */
    apr_table_unset(e, "HTTP_PROXY");
    if (has_body) {
        apr_table_setn(e, "CONTENT_LENGTH",
                       apr_off_t_toa(r->pool, body_len));
    }
    else {
        apr_table_unset(e, "CONTENT_LENGTH");
    }
    for (i = 0; drop && drop[i]; i++) {
        apr_table_unset(e, drop[i]);
    }
    if (dc->pass_auth) {
        pass_header(r, "Authorization", "HTTP_AUTHORIZATION");
    }
    for (i = 0; dc->pass_headers && i < dc->pass_headers->nelts; i++) {
        const tf_env_t *h = &APR_ARRAY_IDX(dc->pass_headers, i, tf_env_t);

        pass_header(r, h->name, h->value);
    }

    /* verbatim params last, replacing any variable of the same name: a
     * request header (HTTP_*) can never produce or change one */
    if (dc->params) {
        for (i = 0; i < dc->params->nelts; i++) {
            const tf_env_t *pe = &APR_ARRAY_IDX(dc->params, i, tf_env_t);

            apr_table_unset(e, pe->name);
            apr_table_addn(e, pe->name, pe->value);
        }
    }
    arr = apr_table_elts(e);
    elts = (const apr_table_entry_t *)arr->elts;
    nv = apr_palloc(r->pool, sizeof(*nv) * (apr_size_t)(arr->nelts + 1));
    for (i = 0; i < arr->nelts; i++) {
        if (!elts[i].key || !elts[i].val) {
            continue;
        }
        nv[n].name = elts[i].key;
        nv[n].nlen = strlen(elts[i].key);
        nv[n].value = elts[i].val;
        nv[n].vlen = strlen(elts[i].val);
        text += nv[n].nlen + nv[n].vlen;
        n++;
    }
    /* room for the worst packing, so that the pairs are sized only once,
     * as they are written; what goes unused stays in the request pool */
    size = tf_fcgi_params_bound(n, text);
    *buf = size ? apr_palloc(r->pool, size) : NULL;
    if (!size
        || tf_fcgi_params_encode(*buf, size, 1, nv, n, &written)
               != TF_FCGI_OK) {
        size_t bad = n;

        tf_fcgi_params_size(nv, n, &bad); /* which pair fits no record */
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, TFLOGNO(00301)
                      "the variable %s (%" APR_SIZE_T_FMT " bytes) does not "
                      "fit one FastCGI record (65535 bytes)",
                      bad < n ? nv[bad].name : "?",
                      bad < n ? nv[bad].nlen + nv[bad].vlen : 0);
        return HTTP_INTERNAL_SERVER_ERROR;
    }
    *len = written;
    return OK;
}

int tf_params_encode(request_rec *r, const tf_dir_conf_t *dc,
                     apr_off_t body_len, int has_body, unsigned char **buf,
                     apr_size_t *len)
{
    return build(r, dc, body_len, has_body, NULL, buf, len);
}

/* What the FastCGI specification (6.3) leaves out of an Authorizer's
 * params, and the hop-by-hop headers that mean nothing to it. */
static const char *const authorizer_drop[] = {
    "CONTENT_LENGTH", "PATH_INFO", "PATH_TRANSLATED", "SCRIPT_NAME",
    "HTTP_KEEP_ALIVE", "HTTP_TE", "HTTP_TRAILER", "HTTP_TRANSFER_ENCODING",
    "HTTP_UPGRADE", NULL};

int tf_params_encode_authorizer(request_rec *r, const tf_dir_conf_t *dc,
                                const char *phase, const char *password,
                                unsigned char **buf, apr_size_t *len)
{
    apr_table_t *saved = r->subprocess_env;
    int rc;

    /* on a copy: the request's own variables stay as they were */
    r->subprocess_env = apr_table_copy(r->pool, saved);
    apr_table_setn(r->subprocess_env, "FCGI_APACHE_ROLE", phase);
    if (password) {
        apr_table_setn(r->subprocess_env, "REMOTE_PASSWD", password);
    }
    rc = build(r, dc, 0, 0, authorizer_drop, buf, len);
    r->subprocess_env = saved;
    return rc;
}
