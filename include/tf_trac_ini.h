/*
 * tf_trac_ini.h: what the preflight (TracFcgiCheckEnv) reads of a Trac
 * environment's conf/trac.ini: the `database` option of its [trac]
 * section, and that database URI taken apart (sqlite:, postgres://,
 * mysql://) without ever keeping its password. libc only: unit-tested
 * and fuzzed.
 */
#ifndef TF_TRAC_INI_H
#define TF_TRAC_INI_H

#include <stddef.h>

/**
 * Find `database` in the [trac] section of a trac.ini text (@p len bytes,
 * not necessarily NUL-terminated), as Python's ConfigParser reads it:
 * section names exact, option names case-insensitive, `=` or `:`,
 * surrounding blanks dropped, comment lines (# ;) skipped; a value
 * continued on indented lines is taken as its first line.
 * @param[out] out  the value, NUL-terminated (cut to @p size - 1 bytes).
 * @return 1 when found, 0 when the file does not set it (Trac's default
 *         is sqlite:db/trac.db).
 */
int tf_trac_ini_database(const char *text, size_t len, char *out,
                         size_t size);

/**
 * The same for option @p option of section [@p section] (exact section
 * name, option name of any case).
 */
int tf_trac_ini_value(const char *text, size_t len, const char *section,
                      const char *option, char *out, size_t size);

typedef enum {
    TF_DB_UNKNOWN = 0, /* a scheme Trac may know (a plugin's); unchecked */
    TF_DB_SQLITE,      /* sqlite:PATH (relative to the environment) */
    TF_DB_POSTGRES,    /* postgres://[user[:pass]@][host][:port]/db[?..] */
    TF_DB_MYSQL        /* mysql://[user[:pass]@][host][:port]/db[?..] */
} tf_db_kind_e;

typedef struct {
    tf_db_kind_e kind;
    char path[512];   /* sqlite: the file; else the database name */
    char user[64];    /* may be empty */
    char host[256];   /* empty: the default (a unix socket, or localhost) */
    char socket_dir[256]; /* postgres ?host=/dir: its unix socket dir */
    int port;         /* 0: the default (5432, 3306) */
    char shown[1024]; /* the URI for a log line: no password, no params */
} tf_db_uri_t;

/**
 * Take a Trac database URI apart. Never copies the password anywhere.
 * @return 0, or -1 when it is malformed (out->shown still says what it
 *         was, without a password, as far as it could be read).
 */
int tf_db_uri_parse(const char *uri, tf_db_uri_t *out);

#endif /* TF_TRAC_INI_H */
