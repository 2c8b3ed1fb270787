/*
 * tf_spec_cache.h: the spawn spec and pool key of a script, kept per httpd
 * child: they depend only on the configuration, the virtual host, the
 * script and the suexec identity, and building them anew for every
 * request was a twelfth of the module's instructions per request.
 */
#ifndef TF_SPEC_CACHE_H
#define TF_SPEC_CACHE_H

#include "httpd.h"

#include "tf_config.h"
#include "tf_ipc.h"

/** Make the child's cache (child_init). Without it, tf_spec_get() builds
 * every spec anew. */
void tf_spec_cache_child_init(apr_pool_t *pchild);

/**
 * tf_spec_build(), from the cache when the same inputs were seen before.
 * @p spec then points into the child's memory: read-only, valid for the
 * child's life.
 */
void tf_spec_get(request_rec *r, const tf_dir_conf_t *dc,
                 tf_spawn_spec_t *spec, apr_uint64_t *key);

/** The same for the application @p filename instead of r->filename (an
 * authorizer's, src/authorizer.c). */
void tf_spec_get_for(request_rec *r, const tf_dir_conf_t *dc,
                     const char *filename, tf_spawn_spec_t *spec,
                     apr_uint64_t *key);

#endif /* TF_SPEC_CACHE_H */
