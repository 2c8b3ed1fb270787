/*
 * tf_logno.h: TFLOGNO(), the tag of every log message of mod_tracfcgi, in
 * the shape of httpd's APLOGNO(): TFLOGNO(00012) "text" logs
 * "TF00012: text". Third-party modules may not use AH numbers
 * (docs/log-message-tags/README).
 *
 * Its own header so that there is one definition for both its users:
 * src/ gets it through tf_private.h, and mod_tracfcgi.c, which cannot
 * include tf_private.h (AP_DECLARE_MODULE already declares the log module
 * index that tf_private.h's APLOG_USE_MODULE would declare again),
 * includes it directly.
 *
 * The next free number of each file is in src/next-logno; numbers are
 * never reused. `make check-logtags` fails on an empty tag, a number used
 * twice, and a number next-logno offers that is already in use.
 */
#ifndef TF_LOGNO_H
#define TF_LOGNO_H

#define TFLOGNO(n) "TF" #n ": "

#endif /* TF_LOGNO_H */
