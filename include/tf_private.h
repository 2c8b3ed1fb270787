/*
 * tf_private.h: the module's identity for logging, shared by every file in
 * src/ (not by mod_tracfcgi.c, where AP_DECLARE_MODULE already declares the
 * log module index; declaring it twice is a compile error).
 */
#ifndef TF_PRIVATE_H
#define TF_PRIVATE_H

#include "httpd.h"
#include "http_config.h"
#include "http_log.h"

#include "tf_logno.h" /* TFLOGNO() */

APLOG_USE_MODULE(tracfcgi);

#endif /* TF_PRIVATE_H */
