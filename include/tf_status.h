/*
 * tf_status.h: the live state of every pool, for administrators: the
 * tracfcgi-status handler (HTML, or JSON with ?json or Accept:
 * application/json) and a short section on mod_status's page. Both work
 * on a copy of the table taken under the lock in one memcpy, so a status
 * request never holds up request processing.
 */
#ifndef TF_STATUS_H
#define TF_STATUS_H

#include "httpd.h"

#include "tf_shm.h"

/** Serve the status page. @return OK or an HTTP status. */
int tf_status_handle(request_rec *r, tf_shm_t *shm);

/** mod_status hook: a short summary (@p flags: AP_STATUS_SHORT & co). */
int tf_status_mod_status(request_rec *r, tf_shm_t *shm, int flags);

#endif /* TF_STATUS_H */
