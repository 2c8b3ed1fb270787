/*
 * fuzz_cgi_headers.c: the CGI header-block end (src/cgi_head.c). The first
 * byte picks chunk sizes; the rest is fed as a growing buffer, as the
 * bridge gathers it. Checks: the incremental result equals the one-shot
 * result and a plain reference scan, and the end lies inside the input
 * right after an empty line.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tf_cgi_head.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static size_t reference(const char *b, size_t n)
{
    size_t i;

    if (n >= 1 && b[0] == '\n') {
        return 1;
    }
    if (n >= 2 && b[0] == '\r' && b[1] == '\n') {
        return 2;
    }
    for (i = 0; i + 1 < n; i++) {
        if (b[i] == '\n' && b[i + 1] == '\n') {
            return i + 2;
        }
        if (b[i] == '\n' && i + 2 < n && b[i + 1] == '\r' && b[i + 2] == '\n') {
            return i + 3;
        }
    }
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *in;
    size_t n, have = 0, end = 0, step, whole;
    unsigned seed;

    if (size < 1) {
        return 0;
    }
    seed = data[0];
    in = (const char *)data + 1;
    n = size - 1;
    whole = tf_cgi_header_end(in, n, 0);
    if (whole != reference(in, n) || whole > n) {
        abort();
    }
    while (have < n && !end) {
        step = 1 + (seed % 7);
        seed = seed * 1103515245u + 12345u;
        if (have + step > n) {
            step = n - have;
        }
        end = tf_cgi_header_end(in, have + step, have);
        have += step;
    }
    /* the first end found while growing is the end of the whole input */
    if (end != whole) {
        abort();
    }
    if (end && in[end - 1] != '\n') {
        abort();
    }
    return 0;
}
