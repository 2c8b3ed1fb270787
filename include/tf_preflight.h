/*
 * tf_preflight.h: checks of each configured Trac environment, run at
 * startup and by `apachectl configtest` (TracFcgiCheckEnv): the things
 * that otherwise show up as Trac's "unable to open database file" or
 * "database is locked" on the first request.
 */
#ifndef TF_PREFLIGHT_H
#define TF_PREFLIGHT_H

#include "httpd.h"

/**
 * Check every TracEnv and every project under each TracEnvParentDir: a
 * VERSION file, db/trac.db readable as SQLite (system.database_version),
 * db/ and the database writable by the backend's user (the suexec user of
 * the virtual host, else User). Each problem is one warn-level line with
 * the fix. Environments whose TracFcgiCheckEnv is Off are skipped.
 * @param[out] strict  problems found in environments checked Strict.
 * @return the number of problems found.
 */
int tf_preflight_run(apr_pool_t *p, server_rec *main_server, int *strict);

#endif /* TF_PREFLIGHT_H */
