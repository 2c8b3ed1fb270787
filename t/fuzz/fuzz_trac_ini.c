/*
 * fuzz_trac_ini.c: libFuzzer target for tf_trac_ini_database() and
 * tf_db_uri_parse().
 *
 * The input is a trac.ini text (not NUL-terminated): finding `database`
 * must stay inside it and always end its copy; the value found, and the
 * input itself as a URI, must parse without reading or writing out of
 * bounds, and whatever follows a ':' before an '@' (the password) must
 * never appear in the text shown for log lines when it is long enough to
 * be told apart.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tf_trac_ini.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond) \
    do { \
        if (!(cond)) { \
            __builtin_trap(); \
        } \
    } while (0)

/* The password of a postgres://user:PASSWORD@... URI, if it has one of at
 * least 6 characters of its own (shorter ones may occur elsewhere). */
static int password_of(const char *uri, char *out, size_t size)
{
    const char *p = strstr(uri, "://"), *at, *colon, *end;

    if (!p) {
        return 0;
    }
    p += 3;
    end = p + strcspn(p, "/?");
    at = NULL;
    for (const char *c = p; c < end; c++) {
        if (*c == '@') {
            at = c;
        }
    }
    if (!at || !(colon = memchr(p, ':', (size_t)(at - p)))
        || at - colon - 1 < 6 || (size_t)(at - colon - 1) >= size) {
        return 0;
    }
    memcpy(out, colon + 1, (size_t)(at - colon - 1));
    out[at - colon - 1] = '\0';
    return 1;
}

static void check_uri(const char *uri)
{
    tf_db_uri_t u;
    char pw[256];

    tf_db_uri_parse(uri, &u);
    CHECK(memchr(u.shown, '\0', sizeof(u.shown)) != NULL);
    CHECK(memchr(u.path, '\0', sizeof(u.path)) != NULL);
    if (u.kind != TF_DB_SQLITE && password_of(uri, pw, sizeof(pw))
        && strstr(uri, pw) == strrchr(uri, pw[0])) {
        CHECK(strstr(u.shown, pw) == NULL);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char out[300], *s;

    memset(out, 'x', sizeof(out));
    if (tf_trac_ini_database((const char *)data, size, out, sizeof(out))) {
        CHECK(memchr(out, '\0', sizeof(out)) != NULL);
        check_uri(out);
    }
    s = malloc(size + 1);
    if (!s) {
        return 0;
    }
    memcpy(s, data, size);
    s[size] = '\0';
    check_uri(s);
    free(s);
    return 0;
}
