/*
 * test_trac_ini.c: the database option of trac.ini and Trac's database
 * URIs (src/trac_ini.c): ConfigParser's rules, every form of URI Trac
 * documents, and that a password never reaches what is shown.
 */
#include <string.h>

#include "tf_test.h"
#include "tf_trac_ini.h"

static const char *db_of(const char *ini)
{
    static char out[256];

    return tf_trac_ini_database(ini, strlen(ini), out, sizeof(out)) ? out
                                                                     : NULL;
}

static void test_ini(void)
{
    const char *v;

    v = db_of("[trac]\ndatabase = sqlite:db/trac.db\n");
    TF_CHECK("plain", v && strcmp(v, "sqlite:db/trac.db") == 0);
    v = db_of("[header_logo]\ndatabase = no\n[trac]\nbase_url = x\n"
              "Database:postgres://u:p@h/d  \r\n[other]\ndatabase = z\n");
    TF_CHECK("its section, case of the name, ':' and CR LF",
             v && strcmp(v, "postgres://u:p@h/d") == 0);
    v = db_of("[trac]\n# database = sqlite:a\n; database = sqlite:b\n"
              "  database = indented\n");
    TF_CHECK("comments and continuation lines are not options", v == NULL);
    v = db_of("[tracker]\ndatabase = sqlite:x\n");
    TF_CHECK("[tracker] is not [trac]", v == NULL);
    v = db_of("[trac]\ndatabase_tables = 1\ndatabasex = 2\n");
    TF_CHECK("other names that start alike", v == NULL);
    v = db_of("[trac]\ndatabase =\n");
    TF_CHECK("empty value", v && *v == '\0');
    v = db_of("[trac]\ndatabase = sqlite:a");
    TF_CHECK("no final newline", v && strcmp(v, "sqlite:a") == 0);
    TF_CHECK("empty file", db_of("") == NULL);
    {
        char small[6];

        TF_CHECK("cut to fit",
                 tf_trac_ini_database("[trac]\ndatabase=sqlite:db/x\n", 27,
                                      small, sizeof(small))
                     && strcmp(small, "sqlit") == 0);
    }
}

static void test_value(void)
{
    static const char ini[] = "[trac]\ndatabase = sqlite:db/trac.db\n"
                              "[inherit]\nPlugins_Dir = ../../shared\n"
                              "templates_dir =\n[inheritance]\nx = 1\n";
    char out[64];

    TF_CHECK("[inherit] plugins_dir",
             tf_trac_ini_value(ini, sizeof(ini) - 1, "inherit",
                               "plugins_dir", out, sizeof(out))
                 && strcmp(out, "../../shared") == 0);
    TF_CHECK("[inheritance] is another section",
             !tf_trac_ini_value(ini, sizeof(ini) - 1, "inheritance",
                                "plugins_dir", out, sizeof(out)));
    TF_CHECK("[inherit] x is not there",
             !tf_trac_ini_value(ini, sizeof(ini) - 1, "inherit", "x", out,
                                sizeof(out)));
    TF_CHECK("empty value", tf_trac_ini_value(ini, sizeof(ini) - 1,
                                              "inherit", "templates_dir",
                                              out, sizeof(out))
                                && out[0] == '\0');
}

static void test_uri(void)
{
    tf_db_uri_t u;

    TF_CHECK("sqlite", tf_db_uri_parse("sqlite:db/trac.db", &u) == 0
                           && u.kind == TF_DB_SQLITE
                           && strcmp(u.path, "db/trac.db") == 0
                           && strcmp(u.shown, "sqlite:db/trac.db") == 0);
    TF_CHECK("sqlite absolute",
             tf_db_uri_parse("sqlite:/srv/db/t.db", &u) == 0
                 && strcmp(u.path, "/srv/db/t.db") == 0);
    TF_CHECK("postgres full",
             tf_db_uri_parse("postgres://trac:s3cret@db.example:5433/trac"
                             "?schema=main", &u) == 0
                 && u.kind == TF_DB_POSTGRES && strcmp(u.user, "trac") == 0
                 && strcmp(u.host, "db.example") == 0 && u.port == 5433
                 && strcmp(u.path, "trac") == 0);
    TF_CHECK("no password shown",
             strstr(u.shown, "s3cret") == NULL
                 && strcmp(u.shown, "postgres://trac@db.example:5433/trac")
                        == 0);
    TF_CHECK("nor anywhere kept",
             memmem(&u, sizeof(u), "s3cret", 6) == NULL);
    TF_CHECK("postgres unix socket",
             tf_db_uri_parse("postgres://trac:pw@/trac?host=/var/run/"
                             "postgresql", &u) == 0
                 && u.host[0] == '\0' && u.port == 0
                 && strcmp(u.socket_dir, "/var/run/postgresql") == 0
                 && strcmp(u.path, "trac") == 0);
    TF_CHECK("postgres no user, default host",
             tf_db_uri_parse("postgres:///trac", &u) == 0
                 && !u.user[0] && !u.host[0]
                 && strcmp(u.shown, "postgres:///trac") == 0);
    TF_CHECK("postgres v6",
             tf_db_uri_parse("postgres://u@[::1]:5432/t", &u) == 0
                 && strcmp(u.host, "::1") == 0 && u.port == 5432
                 && strcmp(u.shown, "postgres://u@[::1]:5432/t") == 0);
    TF_CHECK("password with @ and :",
             tf_db_uri_parse("postgres://u:p@ss:w@h/d", &u) == 0
                 && strcmp(u.user, "u") == 0 && strcmp(u.host, "h") == 0
                 && memmem(&u, sizeof(u), "ss:w", 4) == NULL);
    TF_CHECK("mysql",
             tf_db_uri_parse("mysql://trac:x@localhost/trac", &u) == 0
                 && u.kind == TF_DB_MYSQL && u.port == 0
                 && strcmp(u.shown, "mysql://trac@localhost/trac") == 0);
    TF_CHECK("a plugin's scheme: not read",
             tf_db_uri_parse("odbc://u:secret@h/d", &u) == 0
                 && u.kind == TF_DB_UNKNOWN
                 && strcmp(u.shown, "odbc:...") == 0);
    TF_CHECK("bad port", tf_db_uri_parse("postgres://h:99999/d", &u) != 0);
    TF_CHECK("bad port text", tf_db_uri_parse("postgres://h:x/d", &u) != 0);
    TF_CHECK("no database", tf_db_uri_parse("postgres://h:5432", &u) != 0);
    TF_CHECK("no //", tf_db_uri_parse("postgres:h/d", &u) != 0);
    TF_CHECK("no scheme", tf_db_uri_parse("trac.db", &u) != 0);
    TF_CHECK("empty sqlite", tf_db_uri_parse("sqlite:", &u) != 0);
    TF_CHECK("malformed: password still not shown",
             tf_db_uri_parse("postgres://u:topsecret@h:bad/d", &u) != 0
                 && strstr(u.shown, "topsecret") == NULL);
}

int main(void)
{
    test_ini();
    test_value();
    test_uri();
    return TF_REPORT();
}
