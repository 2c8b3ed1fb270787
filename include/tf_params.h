/*
 * tf_params.h: the FastCGI params of a request: the CGI/1.1 variables
 * exactly as mod_cgi builds them (RFC 3875, ap_add_common_vars and
 * ap_add_cgi_vars), encoded as one PARAMS stream.
 */
#ifndef TF_PARAMS_H
#define TF_PARAMS_H

#include "httpd.h"

#include "tf_config.h"

/**
 * Build and encode the PARAMS stream (request id 1) for @p r.
 * @param body_len  length of the buffered body; CONTENT_LENGTH is sent
 *                  when the request has a body (@p has_body).
 * @param[out] buf, len  the encoded records, allocated from r->pool.
 * @return OK, or HTTP_INTERNAL_SERVER_ERROR (logged) when one variable
 *         cannot fit a FastCGI record.
 */
int tf_params_encode(request_rec *r, const tf_dir_conf_t *dc,
                     apr_off_t body_len, int has_body, unsigned char **buf,
                     apr_size_t *len);

/**
 * The same for the AUTHORIZER role (src/authorizer.c): no CONTENT_LENGTH,
 * PATH_INFO, PATH_TRANSLATED or SCRIPT_NAME (FastCGI 6.3), and, as
 * mod_fcgid sends them, FCGI_APACHE_ROLE = @p phase (AUTHENTICATOR,
 * AUTHORIZER, ACCESS_CHECKER) and REMOTE_PASSWD = @p password (NULL:
 * none). r->subprocess_env is left as it was.
 */
int tf_params_encode_authorizer(request_rec *r, const tf_dir_conf_t *dc,
                                const char *phase, const char *password,
                                unsigned char **buf, apr_size_t *len);

#endif /* TF_PARAMS_H */
