/*
 * tf_external.h: FastCGI servers that something else starts
 * (TracFcgiExternalServer): which requests go to them, what configtest
 * says of them, and their pools in the process table.
 *
 * The request side is the one every backend has (src/bridge.c,
 * src/lease.c): only the way in differs. A request whose path is a
 * TracFcgiExternalServer's URL-PATH or lies under it is taken at
 * translate_name, as mod_proxy takes its own: no file behind it, no
 * <Directory> walk; <Location> sections apply. mod_fastcgi's
 * FastCgiExternalServer names a file instead (src/compat.c): a request
 * for that file is taken at fixups, once the sections are walked.
 */
#ifndef TF_EXTERNAL_H
#define TF_EXTERNAL_H

#include "httpd.h"

#include "tf_config.h"
#include "tf_shm.h"

/* The handler name of a request for an external server. */
#define TF_EXTERNAL_HANDLER "tracfcgi-external"

/**
 * translate_name: a request under a TracFcgiExternalServer's URL-PATH
 * (the virtual host's own first, then the main server's; the longest
 * wins) gets the handler, SCRIPT_NAME the URL-PATH ("" for /), PATH_INFO
 * the rest, and SCRIPT_FILENAME DocumentRoot + URL-PATH (as nginx's
 * $document_root$fastcgi_script_name: what php-fpm needs).
 * @return OK when it is one, else DECLINED.
 */
int tf_external_translate(request_rec *r);

/**
 * fixups: a request whose file (r->filename, once the core has split off
 * PATH_INFO) is a mod_fastcgi FastCgiExternalServer's (tf_external_t.file)
 * goes to it, whatever its handler, as mod_fastcgi's own fixup does: the
 * file need not exist; SCRIPT_NAME and PATH_INFO are those of any script.
 * @return OK when it is one, else DECLINED.
 */
int tf_external_fixups(request_rec *r);

/** map_to_storage: OK for such a request (no file to walk to). */
int tf_external_map_to_storage(request_rec *r);

/** @return the external server @p r is for, or NULL. */
const tf_external_t *tf_external_of(request_rec *r);

/**
 * Say what is wrong with the configuration's external servers: spawn-time
 * environment that cannot reach them (at startup and configtest) and, at
 * configtest only, addresses where nothing answers now (not fatal:
 * requests get 503 until something does).
 */
void tf_external_check(apr_pool_t *p, server_rec *s, int probe);

/** @return the number of addresses of every external server. */
apr_uint32_t tf_external_count_addrs(apr_pool_t *pconf);

/**
 * post_config, in the parent before the children fork: enter each
 * external server's pool in the generation's table, and remember its
 * index in the configuration (tf_external_t.pool).
 */
void tf_external_declare(apr_pool_t *pconf, server_rec *s, tf_shm_t *shm);

#endif /* TF_EXTERNAL_H */
