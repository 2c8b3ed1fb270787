/*
 * test_cgi_head.c: the end of a CGI header block (src/cgi_head.c), found
 * whole and when the block arrives split at every point.
 */
#include <string.h>

#include "tf_cgi_head.h"
#include "tf_test.h"

static const struct {
    const char *in;
    size_t end; /* 0: not ended */
} cases[] = {
    {"Status: 200 OK\r\n\r\nbody", 18},
    {"Content-Type: text/plain\n\nbody", 26},
    {"A: b\r\nC: d\r\n\r\n", 14},
    {"A: b\n\r\nbody", 7},
    {"A: b\r\n", 0},
    {"A: b\r\n\r", 0},
    {"A: b", 0},
    {"\r\nbody", 2},   /* no headers at all, as mod_cgi accepts */
    {"\nbody", 1},
    {"", 0},
    {"A: b\r\nX: \r\n\r\n", 13},
};

/* feed growing prefixes, split once at @cut, as the bridge does */
static size_t split_end(const char *in, size_t len, size_t cut)
{
    size_t end = tf_cgi_header_end(in, cut, 0);

    if (end) {
        return end;
    }
    return tf_cgi_header_end(in, len, cut);
}

int main(void)
{
    size_t i, cut;

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const char *in = cases[i].in;
        size_t len = strlen(in);
        int all_same = 1;

        TF_CHECK(in, tf_cgi_header_end(in, len, 0) == cases[i].end);
        for (cut = 0; cut <= len; cut++) {
            if (split_end(in, len, cut) != cases[i].end) {
                all_same = 0;
            }
        }
        TF_CHECK("same end at every split point", all_same);
    }
    return TF_REPORT();
}
