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
 * VERSION file, and the database its conf/trac.ini names ([trac]
 * database, default sqlite:db/trac.db): an SQLite file readable
 * (system.database_version) whose directory and file the backend's user
 * (the suexec user of the virtual host, else User) may write; a
 * PostgreSQL or MySQL server that takes a connection where the URI says
 * (credentials and schema are not checked, and no password is logged).
 * Each problem is one warn-level line with the fix. Environments whose
 * TracFcgiCheckEnv is Off are skipped. Each TracFcgiServer's script must
 * be there and executable.
 * @param[out] strict  problems found in environments checked Strict.
 * @return the number of problems found.
 */
int tf_preflight_run(apr_pool_t *p, server_rec *main_server, int *strict);

#endif /* TF_PREFLIGHT_H */
