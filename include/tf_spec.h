/*
 * tf_spec.h: what a request's backend is: the command, identity, virtual
 * host and spawn environment that the configuration gives it, and the pool
 * key that hashes them. Requests whose spec differs never share a process.
 */
#ifndef TF_SPEC_H
#define TF_SPEC_H

#include "httpd.h"

#include "tf_config.h"
#include "tf_ipc.h"

/**
 * Fill @p spec (argv, env, cwd, identity, limits, display name) for the
 * script of @p r, and compute its pool key.
 * @param[out] key  non-zero 64-bit hash of everything that makes the
 *                  backend different.
 */
void tf_spec_build(request_rec *r, const tf_dir_conf_t *dc,
                   tf_spawn_spec_t *spec, apr_uint64_t *key);

/**
 * @return a one-line summary of the spawn environment for the status page:
 *         TRAC_ENV or TRAC_ENV_PARENT_DIR when set, else the variable
 *         names.
 */
const char *tf_spec_env_summary(apr_pool_t *p, const tf_dir_conf_t *dc);

#endif /* TF_SPEC_H */
