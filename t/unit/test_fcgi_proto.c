/*
 * test_fcgi_proto.c: unit tests for src/fcgi_proto.c (FastCGI codec).
 *
 * Encoders are checked byte for byte; the PARAMS packer by decoding every
 * record on its own; the decoder by feeding synthetic backend streams
 * whole, byte by byte, split at every point into two calls, and in random
 * chunks (fixed seed): every mode must give the same events.
 */

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tf_fcgi_proto.h"
#include "tf_test.h"

/* --- small helpers ------------------------------------------------------ */

typedef struct {
    unsigned char *p;
    size_t len;
    size_t cap;
} buf_t;

static void
buf_put(buf_t *b, const void *data, size_t n)
{
    if (b->len + n > b->cap) {
        size_t cap = b->cap ? b->cap : 256;

        while (cap < b->len + n) {
            cap *= 2;
        }
        b->p = realloc(b->p, cap);
        if (b->p == NULL) {
            fprintf(stderr, "out of memory\n");
            exit(2);
        }
        b->cap = cap;
    }
    if (n) {
        memcpy(b->p + b->len, data, n);
        b->len += n;
    }
}

static void
buf_free(buf_t *b)
{
    free(b->p);
    b->p = NULL;
    b->len = b->cap = 0;
}

static uint32_t rng_state;

static uint32_t
rng_next(void)
{
    /* xorshift32: same sequence on every platform */
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 17;
    rng_state ^= rng_state << 5;
    return rng_state;
}

static int
bytes_eq(const unsigned char *got, const unsigned char *want, size_t n)
{
    return memcmp(got, want, n) == 0;
}

/* A raw record with any version/type/id; padding bytes are 0xA5 so that a
 * decoder reading padding as data would be caught. */
static void
put_raw(buf_t *b, unsigned version, unsigned type, unsigned id,
        const void *content, size_t clen, unsigned pad)
{
    unsigned char h[TF_FCGI_HEADER_LEN], p[255];

    tf_fcgi_header_encode(h, type, id, clen, pad);
    h[0] = (unsigned char)version;
    buf_put(b, h, sizeof(h));
    buf_put(b, content, clen);
    memset(p, 0xa5, sizeof(p));
    buf_put(b, p, pad);
}

static void
put_rec(buf_t *b, unsigned type, unsigned id, const void *content,
        size_t clen, unsigned pad)
{
    put_raw(b, TF_FCGI_VERSION_1, type, id, content, clen, pad);
}

static void
put_end(buf_t *b, unsigned id, uint32_t app, unsigned proto, unsigned pad)
{
    unsigned char body[8];

    body[0] = (unsigned char)(app >> 24);
    body[1] = (unsigned char)(app >> 16);
    body[2] = (unsigned char)(app >> 8);
    body[3] = (unsigned char)app;
    body[4] = (unsigned char)proto;
    body[5] = body[6] = body[7] = 0xee; /* reserved: must be ignored */
    put_rec(b, TF_FCGI_END_REQUEST, id, body, 8, pad);
}

/* --- encoders ----------------------------------------------------------- */

static void
test_header_begin_abort(void)
{
    unsigned char b[32];
    static const unsigned char hdr[] = {1, 6, 0x12, 0x34, 0xab, 0xcd, 5, 0};
    static const unsigned char begin[] = {1, 1, 0, 1, 0, 8, 0, 0,
                                          0, 1, 1, 0, 0, 0, 0, 0};
    static const unsigned char begin2[] = {1, 1, 0xff, 0xff, 0, 8, 0, 0,
                                           0, 3, 0, 0, 0, 0, 0, 0};
    static const unsigned char abort_[] = {1, 2, 0, 7, 0, 0, 0, 0};

    memset(b, 0xee, sizeof(b));
    TF_CHECK("header returns 8",
             tf_fcgi_header_encode(b, TF_FCGI_STDOUT, 0x1234, 0xabcd, 5)
             == 8);
    TF_CHECK("header bytes", bytes_eq(b, hdr, 8));
    TF_CHECK("header writes 8 bytes only", b[8] == 0xee);

    memset(b, 0xee, sizeof(b));
    TF_CHECK("begin returns 16",
             tf_fcgi_begin_request_encode(b, 1, TF_FCGI_RESPONDER,
                                          TF_FCGI_KEEP_CONN) == 16);
    TF_CHECK("begin bytes (reserved zeroed)", bytes_eq(b, begin, 16));
    TF_CHECK("begin writes 16 bytes only", b[16] == 0xee);

    memset(b, 0xee, sizeof(b));
    tf_fcgi_begin_request_encode(b, 0xffff, TF_FCGI_UNKNOWN_ROLE, 0);
    TF_CHECK("begin id 65535, no keep-conn", bytes_eq(b, begin2, 16));

    memset(b, 0xee, sizeof(b));
    TF_CHECK("abort returns 8", tf_fcgi_abort_request_encode(b, 7) == 8);
    TF_CHECK("abort bytes", bytes_eq(b, abort_, 8));
    TF_CHECK("abort writes 8 bytes only", b[8] == 0xee);
}

static void
test_nv_size(void)
{
    static const struct {
        size_t nlen, vlen, want;
    } cases[] = {
        {0, 0, 2},
        {1, 1, 4},
        {127, 0, 129},
        {127, 127, 256},
        {128, 0, 4 + 1 + 128},
        {0, 128, 1 + 4 + 128},
        {128, 128, 8 + 256},
        {0x7fffffffUL, 0, 5 + 0x7fffffffUL},
        {0x80000000UL, 0, 0},
        {0, 0x80000000UL, 0},
    };
    size_t i;
    char desc[80];

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        snprintf(desc, sizeof(desc), "nv_size(%lu, %lu)",
                 (unsigned long)cases[i].nlen, (unsigned long)cases[i].vlen);
        TF_CHECK(desc, tf_fcgi_nv_size(cases[i].nlen, cases[i].vlen)
                       == cases[i].want);
    }
}

static void
test_nv_bytes(void)
{
    char name[300], value[300];
    unsigned char out[1024];
    tf_fcgi_nv_t nv[1], got;
    size_t w = 0, c, i;
    static const unsigned char small[] = {
        1, 4, 0, 1, 0, 8, 0, 0, 3, 3, 'F', 'O', 'O', 'b', 'a', 'r',
        1, 4, 0, 1, 0, 0, 0, 0
    };

    nv[0].name = "FOO";
    nv[0].nlen = 3;
    nv[0].value = "bar";
    nv[0].vlen = 3;
    TF_CHECK("one small pair encodes",
             tf_fcgi_params_encode(out, sizeof(out), 1, nv, 1, &w)
             == TF_FCGI_OK);
    TF_CHECK("one small pair: exact bytes",
             w == sizeof(small) && bytes_eq(out, small, sizeof(small)));

    memset(name, 'n', sizeof(name));
    memset(value, 'v', sizeof(value));

    /* FCGI §3.4: 127 -> 1 byte, 128 -> 4 bytes with the high bit set */
    nv[0].name = name;
    nv[0].nlen = 127;
    nv[0].value = value;
    nv[0].vlen = 128;
    tf_fcgi_params_encode(out, sizeof(out), 1, nv, 1, &w);
    TF_CHECK("127/128: content length 1+4+255",
             out[4] == 0x01 && out[5] == 0x04 && out[6] == 4);
    TF_CHECK("127: 1-byte length", out[8] == 127);
    TF_CHECK("128: 4-byte length, high bit",
             out[9] == 0x80 && out[10] == 0 && out[11] == 0
             && out[12] == 128);
    TF_CHECK("127/128: name then value",
             out[13] == 'n' && out[13 + 126] == 'n' && out[13 + 127] == 'v'
             && out[13 + 127 + 127] == 'v');
    TF_CHECK("127/128: padding zero",
             out[268] == 0 && out[269] == 0 && out[270] == 0
             && out[271] == 0);
    TF_CHECK("127/128: total", w == 8 + 260 + 4 + 8);

    nv[0].nlen = 128;
    nv[0].vlen = 127;
    tf_fcgi_params_encode(out, sizeof(out), 1, nv, 1, &w);
    TF_CHECK("128 name: 4-byte", out[8] == 0x80 && out[11] == 128);
    TF_CHECK("127 value: 1-byte", out[12] == 127);

    nv[0].nlen = 300;
    nv[0].vlen = 0;
    tf_fcgi_params_encode(out, sizeof(out), 1, nv, 1, &w);
    TF_CHECK("300: 4-byte BE length",
             out[8] == 0x80 && out[9] == 0 && out[10] == 0x01
             && out[11] == 0x2c && out[12] == 0);

    /* decode: a 4-byte length whose value is small is still valid */
    {
        static const unsigned char four[] = {0x80, 0, 0, 2, 0x80, 0, 0, 1,
                                             'a', 'b', 'c', 'X'};
        TF_CHECK("nv_decode 4-byte small lengths",
                 tf_fcgi_nv_decode(four, sizeof(four), &got, &c)
                 == TF_FCGI_OK && c == 11 && got.nlen == 2
                 && got.vlen == 1 && got.name == (const char *)four + 8
                 && got.value == (const char *)four + 10);
    }
    {
        static const unsigned char huge[] = {0xff, 0xff, 0xff, 0xff,
                                             0xff, 0xff, 0xff, 0xff, 'x'};
        TF_CHECK("nv_decode 2^31-1 lengths: AGAIN",
                 tf_fcgi_nv_decode(huge, sizeof(huge), &got, &c)
                 == TF_FCGI_AGAIN && c == 0);
    }
    TF_CHECK("nv_decode empty buffer: AGAIN",
             tf_fcgi_nv_decode(out, 0, &got, &c) == TF_FCGI_AGAIN && c == 0);

    /* round trip 127/128 and AGAIN at every truncation */
    nv[0].nlen = 128;
    nv[0].vlen = 127;
    tf_fcgi_params_encode(out, sizeof(out), 1, nv, 1, &w);
    for (i = 0; i < 4 + 1 + 128 + 127; i++) {
        if (tf_fcgi_nv_decode(out + 8, i, &got, &c) != TF_FCGI_AGAIN
            || c != 0) {
            break;
        }
    }
    TF_CHECK("nv_decode: AGAIN at every truncation",
             i == 4 + 1 + 128 + 127);
    TF_CHECK("nv_decode: whole pair",
             tf_fcgi_nv_decode(out + 8, i + 3, &got, &c) == TF_FCGI_OK
             && c == i && got.nlen == 128 && got.vlen == 127
             && memcmp(got.name, name, 128) == 0
             && memcmp(got.value, value, 127) == 0);
}

/*
 * Check a PARAMS stream: decode every record on its own (no pair may cross
 * a record boundary), check padding and the closing empty record, and
 * compare the pairs with @p nv. @return 1 if all is well. @p records gets
 * the number of non-empty records.
 */
static int
check_params(const unsigned char *s, size_t len, unsigned id,
             const tf_fcgi_nv_t *nv, size_t n, size_t *records)
{
    size_t off = 0, k = 0, clen, pad, pos, c, i;
    tf_fcgi_nv_t got;
    int closed = 0;

    *records = 0;
    while (off < len) {
        if (closed || len - off < 8 || s[off] != 1
            || s[off + 1] != TF_FCGI_PARAMS
            || (((unsigned)s[off + 2] << 8) | s[off + 3]) != id
            || s[off + 7] != 0) {
            return 0;
        }
        clen = ((size_t)s[off + 4] << 8) | s[off + 5];
        pad = s[off + 6];
        if (pad != ((8 - (clen & 7)) & 7) || len - off - 8 < clen + pad) {
            return 0;
        }
        off += 8;
        if (clen == 0) {
            closed = 1;
        }
        else {
            (*records)++;
        }
        for (pos = 0; pos < clen; pos += c) {
            if (tf_fcgi_nv_decode(s + off + pos, clen - pos, &got, &c)
                != TF_FCGI_OK || k >= n || got.nlen != nv[k].nlen
                || got.vlen != nv[k].vlen
                || memcmp(got.name, nv[k].name, got.nlen) != 0
                || memcmp(got.value, nv[k].value, got.vlen) != 0) {
                return 0;
            }
            k++;
        }
        for (i = 0; i < pad; i++) {
            if (s[off + clen + i] != 0) {
                return 0;
            }
        }
        off += clen + pad;
    }
    return closed && k == n;
}

static int
encode_and_check(const tf_fcgi_nv_t *nv, size_t n, unsigned id,
                 size_t *records)
{
    size_t size, bad = 12345, w = 1;
    unsigned char *out;
    int ok;

    size = tf_fcgi_params_size(nv, n, &bad);
    if (size == 0 || bad != n) {
        return 0;
    }
    out = malloc(size + 16);
    if (out == NULL) {
        return 0;
    }
    ok = tf_fcgi_params_encode(out, size - 1, id, nv, n, &w)
             == TF_FCGI_E_TOO_BIG && w == 0
         && tf_fcgi_params_encode(out, size, id, nv, n, &w) == TF_FCGI_OK
         && w == size && check_params(out, size, id, nv, n, records);
    free(out);
    if (ok) {
        /* what params.c allocates: the bound, never less than the size,
         * and the same bytes written into it */
        size_t text = 0, bound, i;

        for (i = 0; i < n; i++) {
            text += nv[i].nlen + nv[i].vlen;
        }
        bound = tf_fcgi_params_bound(n, text);
        out = malloc(bound);
        ok = out && bound >= size
             && tf_fcgi_params_encode(out, bound, id, nv, n, &w) == TF_FCGI_OK
             && w == size && check_params(out, size, id, nv, n, records);
        free(out);
    }
    return ok;
}

static void
test_params(void)
{
    static char big[70000];
    static tf_fcgi_nv_t nv[2000];
    static char names[2000][16];
    unsigned char out[64];
    size_t i, recs, bad, w, sz;

    memset(big, 'x', sizeof(big));
    for (i = 0; i < sizeof(big); i += 7) {
        big[i] = (char)('a' + i % 26);
    }

    /* zero pairs: just the empty PARAMS record */
    {
        static const unsigned char empty[] = {1, 4, 0, 9, 0, 0, 0, 0};

        bad = 77;
        TF_CHECK("0 pairs: size 8",
                 tf_fcgi_params_size(NULL, 0, &bad) == 8 && bad == 0);
        TF_CHECK("0 pairs: encode",
                 tf_fcgi_params_encode(out, sizeof(out), 9, NULL, 0, &w)
                 == TF_FCGI_OK && w == 8 && bytes_eq(out, empty, 8));
        TF_CHECK("0 pairs: buffer of 7 too small",
                 tf_fcgi_params_encode(out, 7, 9, NULL, 0, &w)
                 == TF_FCGI_E_TOO_BIG && w == 0);
    }

    /* the bound: the closing record alone, and 0 where a size_t overflows */
    TF_CHECK("bound of 0 pairs is 8", tf_fcgi_params_bound(0, 0) == 8);
    TF_CHECK("bound of 1 pair of 2 bytes is 2 + 8 + 8 + 7 + 8",
             tf_fcgi_params_bound(1, 2) == 33);
    TF_CHECK("bound overflowing in the pair count is 0",
             tf_fcgi_params_bound((size_t)-1 / 8, 0) == 0);
    TF_CHECK("bound overflowing in the text is 0",
             tf_fcgi_params_bound(1, (size_t)-1 - 20) == 0);

    /* many pairs of assorted sizes: greedy packing, nothing split */
    for (i = 0; i < 2000; i++) {
        snprintf(names[i], sizeof(names[i]), "HTTP_X_%lu", (unsigned long)i);
        nv[i].name = names[i];
        nv[i].nlen = strlen(names[i]);
        nv[i].value = big + i;
        nv[i].vlen = (i * 7919) % 300 + (i % 50 == 0 ? 3000 : 0);
    }
    TF_CHECK("2000 pairs: round trip, no pair split",
             encode_and_check(nv, 2000, 1, &recs));
    TF_CHECK("2000 pairs: several records", recs >= 5);

    /* ten 7000-byte values: 9 fit one record, the 10th goes to the next */
    for (i = 0; i < 10; i++) {
        nv[i].vlen = 7000;
    }
    TF_CHECK("ten 7000-byte values: round trip",
             encode_and_check(nv, 10, 1, &recs));
    TF_CHECK("ten 7000-byte values: 2 records", recs == 2);

    /* pair encoded in exactly 65535 bytes: 1 + 4 + 1 + 65529 */
    nv[0].name = "N";
    nv[0].nlen = 1;
    nv[0].value = big;
    nv[0].vlen = 65529;
    TF_CHECK("65535-byte pair: size",
             tf_fcgi_nv_size(1, 65529) == 65535);
    TF_CHECK("65535-byte pair: one record",
             encode_and_check(nv, 1, 1, &recs) && recs == 1);
    TF_CHECK("65535-byte pair: size = 8+65535+1 + 8",
             tf_fcgi_params_size(nv, 1, NULL) == 8 + 65535 + 1 + 8);
    /* a small pair before it cannot share its record */
    nv[1] = nv[0];
    nv[0].name = "A";
    nv[0].value = "b";
    nv[0].vlen = 1;
    TF_CHECK("small + 65535-byte pair: two records",
             encode_and_check(nv, 2, 1, &recs) && recs == 2);

    /* 65536 bytes: does not fit one record */
    nv[1].vlen = 65530;
    nv[2] = nv[0];
    bad = 0;
    TF_CHECK("65536-byte pair: size 0",
             tf_fcgi_params_size(nv, 3, &bad) == 0);
    TF_CHECK("65536-byte pair: bad_pair is its index", bad == 1);
    w = 99;
    TF_CHECK("65536-byte pair: encode E_TOO_BIG",
             tf_fcgi_params_encode(out, sizeof(out), 1, nv, 3, &w)
             == TF_FCGI_E_TOO_BIG && w == 0);

    /* the first bad pair is reported, even after many good ones */
    for (i = 0; i < 30; i++) {
        nv[i].name = "K";
        nv[i].nlen = 1;
        nv[i].value = big;
        nv[i].vlen = 5000;
    }
    nv[17].vlen = 69000;
    nv[25].vlen = 69000;
    TF_CHECK("bad pair 17 of 30",
             tf_fcgi_params_size(nv, 30, &bad) == 0 && bad == 17);
    nv[17].nlen = 0x80000000UL; /* not encodable at all */
    nv[17].vlen = 0;
    TF_CHECK("2^31 name length: bad pair",
             tf_fcgi_params_size(nv, 30, &bad) == 0 && bad == 17);
    nv[17].nlen = 1;
    nv[25].vlen = 0;
    sz = tf_fcgi_params_size(nv, 30, &bad);
    TF_CHECK("30 pairs fixed: size > 0, bad == n", sz > 0 && bad == 30);
    TF_CHECK("30 pairs fixed: round trip",
             encode_and_check(nv, 30, 65535, &recs));
}

static void
test_get_values(void)
{
    static const char *const names[] = {"FCGI_MAX_CONNS", "FCGI_MAX_REQS",
                                        "FCGI_MPXS_CONNS"};
    static char longname[70000];
    const char *lnames[1];
    unsigned char out[128];
    size_t w, off, c;
    tf_fcgi_nv_t got;
    int ok = 1, k = 0;

    TF_CHECK("get_values: encode",
             tf_fcgi_get_values_encode(out, sizeof(out), names, 3, &w)
             == TF_FCGI_OK);
    /* 2+14 + 2+13 + 2+15 = 48: already a multiple of 8 */
    TF_CHECK("get_values: header",
             out[0] == 1 && out[1] == TF_FCGI_GET_VALUES && out[2] == 0
             && out[3] == 0 && out[4] == 0 && out[5] == 48 && out[6] == 0
             && out[7] == 0);
    TF_CHECK("get_values: written", w == 56);
    TF_CHECK("get_values: first pair bytes",
             out[8] == 14 && out[9] == 0
             && memcmp(out + 10, "FCGI_MAX_CONNS", 14) == 0);
    for (off = 8; off < 56; off += c, k++) {
        if (tf_fcgi_nv_decode(out + off, 56 - off, &got, &c) != TF_FCGI_OK
            || got.vlen != 0 || got.nlen != strlen(names[k])
            || memcmp(got.name, names[k], got.nlen) != 0) {
            ok = 0;
            break;
        }
    }
    TF_CHECK("get_values: pairs decode, values empty", ok && k == 3);

    TF_CHECK("get_values: 2 names, padded to 8",
             tf_fcgi_get_values_encode(out, sizeof(out), names, 2, &w)
             == TF_FCGI_OK && out[5] == 31 && out[6] == 1 && out[39] == 0
             && w == 40);
    TF_CHECK("get_values: no names",
             tf_fcgi_get_values_encode(out, sizeof(out), names, 0, &w)
             == TF_FCGI_OK && w == 8 && out[5] == 0);
    TF_CHECK("get_values: buffer short",
             tf_fcgi_get_values_encode(out, 55, names, 3, &w)
             == TF_FCGI_E_TOO_BIG && w == 0);

    memset(longname, 'Q', sizeof(longname) - 1);
    longname[65535 - 5] = '\0'; /* 4 + 1 + 65530 = 65535: fits */
    lnames[0] = longname;
    {
        unsigned char *big = malloc(65535 + 16);

        TF_CHECK("get_values: 65535 content fits",
                 big != NULL
                 && tf_fcgi_get_values_encode(big, 65535 + 16, lnames, 1,
                                              &w) == TF_FCGI_OK
                 && w == 8 + 65535 + 1 && big[4] == 0xff && big[5] == 0xff);
        longname[65535 - 5] = 'Q';
        longname[65535 - 4] = '\0';
        TF_CHECK("get_values: 65536 content too big",
                 big != NULL
                 && tf_fcgi_get_values_encode(big, 65535 + 16, lnames, 1,
                                              &w) == TF_FCGI_E_TOO_BIG);
        free(big);
    }
}

static void
test_strerror(void)
{
    static const tf_fcgi_rc codes[] = {
        TF_FCGI_OK, TF_FCGI_AGAIN, TF_FCGI_SKIPPED, TF_FCGI_E_VERSION,
        TF_FCGI_E_REQUEST_ID, TF_FCGI_E_END_REQUEST, TF_FCGI_E_AFTER_END,
        TF_FCGI_E_TOO_BIG, TF_FCGI_E_NV, TF_FCGI_E_TYPE
    };
    size_t i, j;
    int ok = 1;

    for (i = 0; i < sizeof(codes) / sizeof(codes[0]); i++) {
        const char *m = tf_fcgi_strerror(codes[i]);

        if (m == NULL || *m == '\0') {
            ok = 0;
        }
        for (j = 0; ok && j < i; j++) {
            if (strcmp(m, tf_fcgi_strerror(codes[j])) == 0) {
                ok = 0;
            }
        }
    }
    TF_CHECK("strerror: every code has its own message", ok);
    TF_CHECK("strerror: version",
             strstr(tf_fcgi_strerror(TF_FCGI_E_VERSION), "version") != NULL);
    TF_CHECK("strerror: request id",
             strstr(tf_fcgi_strerror(TF_FCGI_E_REQUEST_ID), "request id")
             != NULL);
    TF_CHECK("strerror: END_REQUEST",
             strstr(tf_fcgi_strerror(TF_FCGI_E_END_REQUEST), "8 bytes")
             != NULL);
    TF_CHECK("strerror: unknown code",
             tf_fcgi_strerror((tf_fcgi_rc)-99) != NULL);
}

/* --- decoder ------------------------------------------------------------ */

typedef struct {
    buf_t out, err, mgmt;
    int out_eos, err_eos;   /* empty STDOUT/STDERR records seen */
    int ends;               /* END_REQUEST events */
    uint32_t app_status;
    unsigned protocol_status;
    unsigned skipped[16];
    int nskipped;
    int mgmt_records;       /* management records completed */
    int err_rc;             /* first error, 0 if none */
    int violations;         /* broken decoder invariants */
    int done;               /* tf_fcgi_decoder_done() at the end */
} result_t;

static void
result_free(result_t *r)
{
    buf_free(&r->out);
    buf_free(&r->err);
    buf_free(&r->mgmt);
}

static int
result_eq(const result_t *a, const result_t *b)
{
    return a->out.len == b->out.len
           && (a->out.len == 0 || bytes_eq(a->out.p, b->out.p, a->out.len))
           && a->err.len == b->err.len
           && (a->err.len == 0 || bytes_eq(a->err.p, b->err.p, a->err.len))
           && a->mgmt.len == b->mgmt.len
           && (a->mgmt.len == 0
               || bytes_eq(a->mgmt.p, b->mgmt.p, a->mgmt.len))
           && a->out_eos == b->out_eos && a->err_eos == b->err_eos
           && a->ends == b->ends && a->app_status == b->app_status
           && a->protocol_status == b->protocol_status
           && a->nskipped == b->nskipped
           && memcmp(a->skipped, b->skipped,
                     sizeof(a->skipped[0]) * (size_t)a->nskipped) == 0
           && a->mgmt_records == b->mgmt_records && a->err_rc == b->err_rc
           && a->violations == 0 && b->violations == 0 && a->done == b->done;
}

/* Feed one chunk, calling the decoder until it wants more input. */
static void
feed(tf_fcgi_decoder_t *d, const unsigned char *in, size_t len, result_t *r)
{
    size_t off = 0, c;
    tf_fcgi_event_t ev;
    tf_fcgi_rc rc;

    while (r->err_rc == 0) {
        rc = tf_fcgi_decode(d, in + off, len - off, &c, &ev);
        if (c > len - off) {
            r->violations++;
            return;
        }
        if (rc < 0) {
            r->err_rc = rc;
            /* sticky: same code, nothing consumed */
            if (tf_fcgi_decode(d, in + off + c, len - off - c, &c, &ev) != rc
                || c != 0 || tf_fcgi_decode(d, in, len, &c, &ev) != rc
                || c != 0) {
                r->violations++;
            }
            return;
        }
        if (rc == TF_FCGI_AGAIN) {
            if (c != len - off) {
                r->violations++;
            }
            return;
        }
        if (c == 0) {
            r->violations++; /* an event must consume something */
            return;
        }
        if (rc == TF_FCGI_SKIPPED) {
            if (r->nskipped < 16) {
                r->skipped[r->nskipped++] = ev.type;
            }
            if (!ev.record_end || ev.data != NULL || ev.len != 0) {
                r->violations++;
            }
        }
        else if (rc != TF_FCGI_OK) {
            r->violations++;
            return;
        }
        else if (ev.type == TF_FCGI_END_REQUEST) {
            r->ends++;
            r->app_status = ev.app_status;
            r->protocol_status = ev.protocol_status;
            if (!ev.record_end || ev.eos || ev.data != NULL || ev.len != 0
                || !tf_fcgi_decoder_done(d)) {
                r->violations++;
            }
        }
        else {
            /* a content slice: inside the bytes consumed by this call */
            if (ev.data == NULL || ev.data < in + off
                || ev.data + ev.len > in + off + c) {
                r->violations++;
                return;
            }
            if (ev.len == 0 && !ev.record_end) {
                r->violations++; /* zero-length slice mid record */
            }
            if (ev.eos && (ev.len != 0 || !ev.record_end)) {
                r->violations++;
            }
            switch (ev.type) {
            case TF_FCGI_STDOUT:
                buf_put(&r->out, ev.data, ev.len);
                r->out_eos += ev.eos;
                if (ev.eos != (ev.len == 0)) {
                    r->violations++;
                }
                break;
            case TF_FCGI_STDERR:
                buf_put(&r->err, ev.data, ev.len);
                r->err_eos += ev.eos;
                if (ev.eos != (ev.len == 0)) {
                    r->violations++;
                }
                break;
            case TF_FCGI_GET_VALUES_RESULT:
            case TF_FCGI_UNKNOWN_TYPE:
                buf_put(&r->mgmt, ev.data, ev.len);
                r->mgmt_records += ev.record_end;
                if (ev.eos) {
                    r->violations++;
                }
                break;
            default:
                r->violations++;
            }
        }
        off += c;
    }
}

enum { MODE_WHOLE, MODE_BYTES, MODE_SPLIT, MODE_RANDOM };

static void
run_mode(const unsigned char *s, size_t len, unsigned id, int mode,
         size_t arg, result_t *r)
{
    tf_fcgi_decoder_t d;
    size_t off = 0, n;

    memset(r, 0, sizeof(*r));
    tf_fcgi_decoder_init(&d, id);
    switch (mode) {
    case MODE_WHOLE:
        feed(&d, s, len, r);
        break;
    case MODE_BYTES:
        for (off = 0; off < len; off++) {
            feed(&d, s + off, 1, r);
        }
        break;
    case MODE_SPLIT:
        feed(&d, s, arg, r);
        feed(&d, s + arg, len - arg, r);
        break;
    default:
        rng_state = (uint32_t)arg;
        while (off < len) {
            n = rng_next() % 8 == 0 ? rng_next() % 70000 : rng_next() % 40;
            if (n > len - off) {
                n = len - off;
            }
            feed(&d, s + off, n, r); /* n == 0 chunks are fine too */
            off += n;
        }
        break;
    }
    feed(&d, s + len, 0, r); /* empty call at the end: nothing happens */
    r->done = tf_fcgi_decoder_done(&d);
}

/* Run all the modes; each must reproduce @p want exactly. */
static void
check_all_modes(const char *name, const unsigned char *s, size_t len,
                unsigned id, const result_t *want)
{
    result_t r;
    size_t k, step;
    int ok;
    char desc[128];

    run_mode(s, len, id, MODE_WHOLE, 0, &r);
    snprintf(desc, sizeof(desc), "%s: whole", name);
    TF_CHECK(desc, result_eq(&r, want));
    result_free(&r);

    run_mode(s, len, id, MODE_BYTES, 0, &r);
    snprintf(desc, sizeof(desc), "%s: byte by byte", name);
    TF_CHECK(desc, result_eq(&r, want));
    result_free(&r);

    /* every split point; for big streams all near the ends plus a stride */
    ok = 1;
    for (k = 0; k <= len && ok; k++) {
        step = len <= 4096 || k < 300 || len - k < 300 || k % 97 == 0;
        if (!step) {
            continue;
        }
        run_mode(s, len, id, MODE_SPLIT, k, &r);
        if (!result_eq(&r, want)) {
            printf("  %s: split at %lu differs\n", name, (unsigned long)k);
            ok = 0;
        }
        result_free(&r);
    }
    snprintf(desc, sizeof(desc), "%s: every split point", name);
    TF_CHECK(desc, ok);

    ok = 1;
    for (k = 1; k <= 50 && ok; k++) {
        run_mode(s, len, id, MODE_RANDOM, k * 2654435761u, &r);
        ok = result_eq(&r, want);
        result_free(&r);
    }
    snprintf(desc, sizeof(desc), "%s: random chunks", name);
    TF_CHECK(desc, ok);
}

/* Stream builders: append records to @p s and the expected events to @p e */

static void
add_out(buf_t *s, result_t *e, unsigned type, unsigned id, const char *data,
        size_t n, unsigned pad)
{
    put_rec(s, type, id, data, n, pad);
    if (type == TF_FCGI_STDOUT) {
        buf_put(&e->out, data, n);
        e->out_eos += n == 0;
    }
    else {
        buf_put(&e->err, data, n);
        e->err_eos += n == 0;
    }
}

static void
add_end(buf_t *s, result_t *e, unsigned id, uint32_t app, unsigned proto,
        unsigned pad)
{
    put_end(s, id, app, proto, pad);
    e->ends++;
    e->app_status = app;
    e->protocol_status = proto;
    e->done = 1;
}

static void
add_skip(buf_t *s, result_t *e, unsigned type, unsigned id, size_t n,
         unsigned pad)
{
    static const char junk[300] = "junk that must never surface";

    put_rec(s, type, id, junk, n, pad);
    e->skipped[e->nskipped++] = type;
}

static void
add_mgmt(buf_t *s, result_t *e, unsigned type, const char *data, size_t n,
         unsigned pad)
{
    put_rec(s, type, 0, data, n, pad);
    buf_put(&e->mgmt, data, n);
    e->mgmt_records++;
}

static const char body[] =
    "<html><head><title>Trac</title></head><body>"
    "<p>Lorem ipsum dolor sit amet, consectetur adipiscing elit.</p>"
    "</body></html>\n";

static void
build_basic(buf_t *s, result_t *e)
{
    static const char hdrs[] = "Status: 200 OK\r\n"
                               "Content-Type: text/html\r\n\r\n";

    add_out(s, e, TF_FCGI_STDOUT, 1, hdrs, sizeof(hdrs) - 1, 5);
    add_out(s, e, TF_FCGI_STDERR, 1, "trac: warning\n", 14, 2);
    add_out(s, e, TF_FCGI_STDOUT, 1, body, 40, 0);
    add_out(s, e, TF_FCGI_STDOUT, 1, body + 40, sizeof(body) - 41, 255);
    add_out(s, e, TF_FCGI_STDERR, 1, "x", 1, 7);
    add_out(s, e, TF_FCGI_STDERR, 1, "", 0, 3);
    add_out(s, e, TF_FCGI_STDOUT, 1, "", 0, 7);
    add_end(s, e, 1, 0, TF_FCGI_REQUEST_COMPLETE, 0);
}

static void
build_skips(buf_t *s, result_t *e)
{
    add_out(s, e, TF_FCGI_STDOUT, 300, body, 17, 0);
    add_skip(s, e, 42, 300, 11, 5);
    add_out(s, e, TF_FCGI_STDOUT, 300, body + 17, 20, 4);
    add_skip(s, e, TF_FCGI_DATA, 300, 0, 0);
    add_skip(s, e, TF_FCGI_DATA, 300, 300, 255);
    add_skip(s, e, 255, 300, 0, 9);
    add_skip(s, e, 0, 300, 1, 0);
    add_out(s, e, TF_FCGI_STDOUT, 300, body + 37, 30, 2);
    /* management records of types the decoder does not hand out */
    add_skip(s, e, TF_FCGI_GET_VALUES, 0, 8, 0);
    add_skip(s, e, TF_FCGI_END_REQUEST, 0, 8, 0);
    add_skip(s, e, TF_FCGI_STDOUT, 0, 3, 1);
    add_out(s, e, TF_FCGI_STDOUT, 300, "", 0, 0);
    add_end(s, e, 300, 0xdeadbeef, TF_FCGI_UNKNOWN_ROLE, 16);
}

static void
build_mgmt(buf_t *s, result_t *e)
{
    static const char vals[] = "\016\001FCGI_MAX_CONNS1"
                               "\017\001FCGI_MPXS_CONNS0";
    static const char unk[] = {42, 0, 0, 0, 0, 0, 0, 0};

    add_out(s, e, TF_FCGI_STDOUT, 2, body, 10, 6);
    add_mgmt(s, e, TF_FCGI_GET_VALUES_RESULT, vals, sizeof(vals) - 1, 3);
    add_out(s, e, TF_FCGI_STDOUT, 2, body + 10, 10, 6);
    add_mgmt(s, e, TF_FCGI_UNKNOWN_TYPE, unk, 8, 0);
    add_mgmt(s, e, TF_FCGI_GET_VALUES_RESULT, "", 0, 4);
    add_out(s, e, TF_FCGI_STDOUT, 2, "", 0, 0);
    add_end(s, e, 2, 1, TF_FCGI_OVERLOADED, 7);
}

static void
build_probe(buf_t *s, result_t *e)
{
    static const char vals[] = "\016\002FCGI_MAX_CONNS10";

    add_skip(s, e, 77, 0, 5, 3);
    add_mgmt(s, e, TF_FCGI_GET_VALUES_RESULT, vals, sizeof(vals) - 1, 0);
}

static void
build_max(buf_t *s, result_t *e)
{
    static char big[65535];
    size_t i;

    for (i = 0; i < sizeof(big); i++) {
        big[i] = (char)(i * 31 + (i >> 8));
    }
    add_out(s, e, TF_FCGI_STDOUT, 65535, big, 65535, 255);
    add_out(s, e, TF_FCGI_STDERR, 65535, big + 100, 65535 - 100, 255);
    add_out(s, e, TF_FCGI_STDOUT, 65535, "", 0, 255);
    add_end(s, e, 65535, 0xffffffffu, 0, 255);
}

static void
build_end_only(buf_t *s, result_t *e)
{
    add_end(s, e, 1, 0x01020304, TF_FCGI_CANT_MPX_CONN, 0);
}

static void
test_decode_streams(void)
{
    static const struct {
        const char *name;
        unsigned id;
        void (*build)(buf_t *, result_t *);
    } cases[] = {
        {"basic stream", 1, build_basic},
        {"unknown types skipped", 300, build_skips},
        {"management records mid-stream", 2, build_mgmt},
        {"GET_VALUES probe (id 0)", 0, build_probe},
        {"contentLength 65535 + padding 255", 65535, build_max},
        {"END_REQUEST only", 1, build_end_only},
    };
    size_t i;
    buf_t s;
    result_t want;

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        memset(&s, 0, sizeof(s));
        memset(&want, 0, sizeof(want));
        cases[i].build(&s, &want);
        check_all_modes(cases[i].name, s.p, s.len, cases[i].id, &want);
        buf_free(&s);
        result_free(&want);
    }
}

/* Error streams: valid prefix (expected events in e), then the bad part */

static void
err_version2(buf_t *s, result_t *e)
{
    put_raw(s, 2, TF_FCGI_STDOUT, 1, "abc", 3, 0);
    e->err_rc = TF_FCGI_E_VERSION;
}

static void
err_version0_late(buf_t *s, result_t *e)
{
    add_out(s, e, TF_FCGI_STDOUT, 1, body, 21, 3);
    put_raw(s, 0, TF_FCGI_STDOUT, 1, "abc", 3, 0);
    e->err_rc = TF_FCGI_E_VERSION;
}

static void
err_wrong_id(buf_t *s, result_t *e)
{
    add_out(s, e, TF_FCGI_STDOUT, 1, body, 21, 3);
    put_rec(s, TF_FCGI_STDOUT, 2, "abc", 3, 0);
    e->err_rc = TF_FCGI_E_REQUEST_ID;
}

static void
err_wrong_id_end(buf_t *s, result_t *e)
{
    put_end(s, 256, 0, 0, 0); /* id 0x0100 vs 1: the high byte counts */
    e->err_rc = TF_FCGI_E_REQUEST_ID;
}

static void
err_probe_nonzero(buf_t *s, result_t *e)
{
    put_rec(s, TF_FCGI_STDOUT, 1, "abc", 3, 0);
    e->err_rc = TF_FCGI_E_REQUEST_ID;
}

static void
err_end_len(buf_t *s, result_t *e, size_t n)
{
    static const char z[16];

    add_out(s, e, TF_FCGI_STDOUT, 1, body, 8, 0);
    put_rec(s, TF_FCGI_END_REQUEST, 1, z, n, 0);
    e->err_rc = TF_FCGI_E_END_REQUEST;
}

static void
err_end7(buf_t *s, result_t *e)
{
    err_end_len(s, e, 7);
}

static void
err_end9(buf_t *s, result_t *e)
{
    err_end_len(s, e, 9);
}

static void
err_end0(buf_t *s, result_t *e)
{
    err_end_len(s, e, 0);
}

static void
err_two_ends(buf_t *s, result_t *e)
{
    add_out(s, e, TF_FCGI_STDOUT, 1, "", 0, 0);
    add_end(s, e, 1, 3, 0, 4);
    put_end(s, 1, 3, 0, 0);
    e->err_rc = TF_FCGI_E_AFTER_END;
}

static void
err_stdout_after_end(buf_t *s, result_t *e)
{
    add_end(s, e, 1, 0, 0, 0);
    put_rec(s, TF_FCGI_STDOUT, 1, "late", 4, 4);
    e->err_rc = TF_FCGI_E_AFTER_END;
}

static void
err_mgmt_after_end(buf_t *s, result_t *e)
{
    add_end(s, e, 1, 0, 0, 0);
    put_rec(s, TF_FCGI_GET_VALUES_RESULT, 0, "", 0, 0);
    e->err_rc = TF_FCGI_E_AFTER_END;
}

static void
err_garbage_after_end(buf_t *s, result_t *e)
{
    static const char g = 'G';

    add_end(s, e, 1, 0, 0, 0);
    buf_put(s, &g, 1);
    e->err_rc = TF_FCGI_E_AFTER_END;
}

static void
err_type(buf_t *s, result_t *e, unsigned type, size_t n)
{
    static const char z[16];

    add_out(s, e, TF_FCGI_STDOUT, 1, body, 5, 3);
    put_rec(s, type, 1, z, n, 0);
    e->err_rc = TF_FCGI_E_TYPE;
}

static void
err_begin(buf_t *s, result_t *e)
{
    err_type(s, e, TF_FCGI_BEGIN_REQUEST, 8);
}

static void
err_abort(buf_t *s, result_t *e)
{
    err_type(s, e, TF_FCGI_ABORT_REQUEST, 0);
}

static void
err_params(buf_t *s, result_t *e)
{
    err_type(s, e, TF_FCGI_PARAMS, 0);
}

static void
err_stdin(buf_t *s, result_t *e)
{
    err_type(s, e, TF_FCGI_STDIN, 4);
}

static void
err_get_values(buf_t *s, result_t *e)
{
    err_type(s, e, TF_FCGI_GET_VALUES, 0);
}

static void
test_decode_errors(void)
{
    static const struct {
        const char *name;
        unsigned id;
        void (*build)(buf_t *, result_t *);
    } cases[] = {
        {"version 2", 1, err_version2},
        {"version 0 after STDOUT", 1, err_version0_late},
        {"wrong request id", 1, err_wrong_id},
        {"wrong request id (high byte)", 1, err_wrong_id_end},
        {"probe decoder, non-zero id", 0, err_probe_nonzero},
        {"END_REQUEST length 7", 1, err_end7},
        {"END_REQUEST length 9", 1, err_end9},
        {"END_REQUEST length 0", 1, err_end0},
        {"two END_REQUESTs", 1, err_two_ends},
        {"STDOUT after END_REQUEST", 1, err_stdout_after_end},
        {"management record after END_REQUEST", 1, err_mgmt_after_end},
        {"one byte after END_REQUEST", 1, err_garbage_after_end},
        {"BEGIN_REQUEST from backend", 1, err_begin},
        {"ABORT_REQUEST from backend", 1, err_abort},
        {"PARAMS from backend", 1, err_params},
        {"STDIN from backend", 1, err_stdin},
        {"GET_VALUES with request id", 1, err_get_values},
    };
    size_t i;
    buf_t s;
    result_t want;

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        memset(&s, 0, sizeof(s));
        memset(&want, 0, sizeof(want));
        cases[i].build(&s, &want);
        check_all_modes(cases[i].name, s.p, s.len, cases[i].id, &want);
        buf_free(&s);
        result_free(&want);
    }
}

static void
test_decode_details(void)
{
    tf_fcgi_decoder_t d;
    tf_fcgi_event_t ev;
    buf_t s;
    size_t c;
    tf_fcgi_rc rc;

    memset(&s, 0, sizeof(s));
    put_rec(&s, TF_FCGI_STDOUT, 1, body, 100, 4);
    put_rec(&s, TF_FCGI_STDOUT, 1, "", 0, 0);
    put_end(&s, 1, 0, 0, 0);

    tf_fcgi_decoder_init(&d, 1);
    TF_CHECK("empty input: AGAIN",
             tf_fcgi_decode(&d, s.p, 0, &c, &ev) == TF_FCGI_AGAIN && c == 0);
    TF_CHECK("header only: AGAIN",
             tf_fcgi_decode(&d, s.p, 8, &c, &ev) == TF_FCGI_AGAIN && c == 8);
    /* streaming: one content byte is enough for an event */
    rc = tf_fcgi_decode(&d, s.p + 8, 1, &c, &ev);
    TF_CHECK("first content byte: event at once",
             rc == TF_FCGI_OK && c == 1 && ev.type == TF_FCGI_STDOUT
             && ev.data == s.p + 8 && ev.len == 1 && !ev.record_end
             && !ev.eos);
    rc = tf_fcgi_decode(&d, s.p + 9, 50, &c, &ev);
    TF_CHECK("middle slice",
             rc == TF_FCGI_OK && c == 50 && ev.len == 50 && !ev.record_end);
    /* last slice: padding present in the input is swallowed at once */
    rc = tf_fcgi_decode(&d, s.p + 59, s.len - 59, &c, &ev);
    TF_CHECK("last slice: record_end, padding swallowed",
             rc == TF_FCGI_OK && ev.len == 49 && ev.record_end && !ev.eos
             && ev.data == s.p + 59 && c == 49 + 4);
    rc = tf_fcgi_decode(&d, s.p + 112, s.len - 112, &c, &ev);
    TF_CHECK("empty STDOUT: len 0, eos, record_end",
             rc == TF_FCGI_OK && c == 8 && ev.type == TF_FCGI_STDOUT
             && ev.len == 0 && ev.eos && ev.record_end);
    TF_CHECK("not done before END_REQUEST", !tf_fcgi_decoder_done(&d));
    rc = tf_fcgi_decode(&d, s.p + 120, s.len - 120, &c, &ev);
    TF_CHECK("END_REQUEST event",
             rc == TF_FCGI_OK && c == 16 && ev.type == TF_FCGI_END_REQUEST
             && ev.app_status == 0 && ev.protocol_status == 0
             && ev.record_end && tf_fcgi_decoder_done(&d));
    TF_CHECK("after END_REQUEST: empty input is AGAIN",
             tf_fcgi_decode(&d, s.p, 0, &c, &ev) == TF_FCGI_AGAIN);
    TF_CHECK("after END_REQUEST: any byte is E_AFTER_END",
             tf_fcgi_decode(&d, s.p, 3, &c, &ev) == TF_FCGI_E_AFTER_END
             && c == 1);
    TF_CHECK("errors are sticky",
             tf_fcgi_decode(&d, s.p, 0, &c, &ev) == TF_FCGI_E_AFTER_END
             && c == 0);
    TF_CHECK("done stays set", tf_fcgi_decoder_done(&d));

    /* padding split from its content arrives on the next call */
    tf_fcgi_decoder_init(&d, 1);
    rc = tf_fcgi_decode(&d, s.p, 108, &c, &ev);
    TF_CHECK("record without its padding: record_end",
             rc == TF_FCGI_OK && c == 108 && ev.record_end);
    TF_CHECK("padding alone: AGAIN",
             tf_fcgi_decode(&d, s.p + 108, 3, &c, &ev) == TF_FCGI_AGAIN
             && c == 3);
    rc = tf_fcgi_decode(&d, s.p + 111, 9, &c, &ev);
    TF_CHECK("last padding byte then the empty record",
             rc == TF_FCGI_OK && c == 9 && ev.eos);

    /* E_TYPE reports the offending type */
    buf_free(&s);
    put_rec(&s, TF_FCGI_PARAMS, 5, "", 0, 0);
    tf_fcgi_decoder_init(&d, 5);
    rc = tf_fcgi_decode(&d, s.p, s.len, &c, &ev);
    TF_CHECK("E_TYPE: ev.type is the record type",
             rc == TF_FCGI_E_TYPE && ev.type == TF_FCGI_PARAMS && c == 8);

    /* END_REQUEST waits for its padding */
    buf_free(&s);
    put_end(&s, 1, 0x80000001u, 2, 6);
    tf_fcgi_decoder_init(&d, 1);
    TF_CHECK("END_REQUEST body without padding: AGAIN",
             tf_fcgi_decode(&d, s.p, 16, &c, &ev) == TF_FCGI_AGAIN
             && c == 16 && !tf_fcgi_decoder_done(&d));
    rc = tf_fcgi_decode(&d, s.p + 16, 6, &c, &ev);
    TF_CHECK("END_REQUEST after padding: app_status 32-bit BE",
             rc == TF_FCGI_OK && c == 6 && ev.app_status == 0x80000001u
             && ev.protocol_status == 2 && tf_fcgi_decoder_done(&d));
    buf_free(&s);
}

int
main(void)
{
    test_header_begin_abort();
    test_nv_size();
    test_nv_bytes();
    test_params();
    test_get_values();
    test_strerror();
    test_decode_streams();
    test_decode_errors();
    test_decode_details();
    return TF_REPORT();
}
