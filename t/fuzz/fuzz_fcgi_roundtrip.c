/*
 * fuzz_fcgi_roundtrip.c: libFuzzer target for the PARAMS and GET_VALUES
 * encoders.
 *
 * Input: byte 0 holds options, then one pair after another: a flag byte,
 * the name and value lengths (1 or 2 bytes each, per the flags), and the
 * bytes, taken from the input or from a fixed filler. The pairs are sized
 * and encoded; the records are parsed back one by one (a pair must never
 * cross a record) and must give the input pairs, encoded into the exact
 * size and into tf_fcgi_params_bound()'s room alike. tf_fcgi_params_size()
 * is also compared with an independent model of the packing rules.
 */

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tf_fcgi_proto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond) \
    do { \
        if (!(cond)) { \
            __builtin_trap(); \
        } \
    } while (0)

#define MAX_PAIRS 1000
#define MAX_BYTES (4u << 20)
#define FILLER_LEN 140000

static unsigned char filler[FILLER_LEN];

/* Reference model, written apart from the codec on purpose. */
static size_t
model_pair_size(const tf_fcgi_nv_t *nv)
{
    if (nv->nlen >= 0x80000000UL || nv->vlen >= 0x80000000UL) {
        return 0;
    }
    return (nv->nlen > 127 ? 4 : 1) + (nv->vlen > 127 ? 4 : 1) + nv->nlen
           + nv->vlen;
}

static size_t
model_params_size(const tf_fcgi_nv_t *nv, size_t n, size_t *bad)
{
    size_t i, sz, rec = 0, total = 8;

    for (i = 0; i < n; i++) {
        sz = model_pair_size(&nv[i]);
        if (sz == 0 || sz > 65535) {
            *bad = i;
            return 0;
        }
        if (rec + sz > 65535) {
            total += 8 + rec + (rec % 8 ? 8 - rec % 8 : 0);
            rec = 0;
        }
        rec += sz;
    }
    if (rec) {
        total += 8 + rec + (rec % 8 ? 8 - rec % 8 : 0);
    }
    *bad = n;
    return total;
}

static size_t
get_len(const uint8_t *data, size_t size, size_t *off, int two)
{
    size_t v = 0;

    if (*off < size) {
        v = data[(*off)++];
    }
    if (two && *off < size) {
        v = (v << 8) | data[(*off)++];
    }
    return v;
}

static const char *
get_bytes(const uint8_t *data, size_t size, size_t *off, size_t *len,
          unsigned f)
{
    const char *p;

    if (f & 8) {
        /* from the input: as much as there is */
        if (*len > size - *off) {
            *len = size - *off;
        }
        p = (const char *)data + *off;
        *off += *len;
        return p;
    }
    if (*len > FILLER_LEN - 4096) {
        *len = FILLER_LEN - 4096;
    }
    return (const char *)filler + (f * 131u) % 4096;
}

static void
check_stream(const unsigned char *s, size_t len, unsigned id,
             const tf_fcgi_nv_t *nv, size_t n)
{
    size_t off = 0, k = 0, clen, pad, pos, c, i;
    tf_fcgi_nv_t got;
    int closed = 0;

    while (off < len) {
        CHECK(!closed && len - off >= 8);
        CHECK(s[off] == 1 && s[off + 1] == TF_FCGI_PARAMS);
        CHECK((((unsigned)s[off + 2] << 8) | s[off + 3]) == (id & 0xffff));
        CHECK(s[off + 7] == 0);
        clen = ((size_t)s[off + 4] << 8) | s[off + 5];
        pad = s[off + 6];
        CHECK(pad == ((8 - (clen & 7)) & 7));
        CHECK(len - off - 8 >= clen + pad);
        off += 8;
        closed = clen == 0;
        for (pos = 0; pos < clen; pos += c) {
            /* each record decodes on its own: no pair crosses it */
            CHECK(tf_fcgi_nv_decode(s + off + pos, clen - pos, &got, &c)
                  == TF_FCGI_OK);
            CHECK(k < n && got.nlen == nv[k].nlen && got.vlen == nv[k].vlen);
            CHECK(memcmp(got.name, nv[k].name, got.nlen) == 0);
            CHECK(memcmp(got.value, nv[k].value, got.vlen) == 0);
            k++;
        }
        /* greedy: the next pair would not have fitted this record */
        if (clen && k < n) {
            CHECK(clen + tf_fcgi_nv_size(nv[k].nlen, nv[k].vlen) > 65535);
        }
        for (i = 0; i < pad; i++) {
            CHECK(s[off + clen + i] == 0);
        }
        off += clen + pad;
    }
    CHECK(closed && k == n);
}

static void
check_params(const tf_fcgi_nv_t *nv, size_t n, unsigned id)
{
    size_t size, msize, bad = 7, mbad, w = 7, text = 0, bound, i;
    unsigned char *buf, small[16];

    size = tf_fcgi_params_size(nv, n, &bad);
    msize = model_params_size(nv, n, &mbad);
    CHECK(size == msize && bad == mbad);
    if (size == 0) {
        CHECK(tf_fcgi_params_encode(small, sizeof(small), id, nv, n, &w)
              == TF_FCGI_E_TOO_BIG && w == 0);
        return;
    }
    buf = malloc(size);
    CHECK(buf != NULL);
    CHECK(tf_fcgi_params_encode(buf, size - 1, id, nv, n, &w)
          == TF_FCGI_E_TOO_BIG && w == 0);
    CHECK(tf_fcgi_params_encode(buf, size, id, nv, n, &w) == TF_FCGI_OK);
    CHECK(w == size);
    check_stream(buf, size, id, nv, n);
    free(buf);
    /* the bound params.c allocates holds the same stream */
    for (i = 0; i < n; i++) {
        text += nv[i].nlen + nv[i].vlen;
    }
    bound = tf_fcgi_params_bound(n, text);
    CHECK(bound >= size);
    buf = malloc(bound);
    CHECK(buf != NULL);
    CHECK(tf_fcgi_params_encode(buf, bound, id, nv, n, &w) == TF_FCGI_OK);
    CHECK(w == size);
    check_stream(buf, size, id, nv, n);
    free(buf);
}

/* GET_VALUES: the input split at NUL bytes gives the names. */
static void
check_get_values(const uint8_t *data, size_t size)
{
    char *copy;
    const char *names[256];
    size_t n = 0, i, clen = 0, w = 7, off, c;
    unsigned char *buf;
    tf_fcgi_nv_t got;
    tf_fcgi_rc rc;

    copy = malloc(size + 1);
    CHECK(copy != NULL);
    memcpy(copy, data, size);
    copy[size] = '\0';
    for (i = 0; i <= size && n < 256; i += strlen(copy + i) + 1) {
        names[n++] = copy + i;
        clen += tf_fcgi_nv_size(strlen(copy + i), 0);
    }
    buf = malloc(8 + clen + 8);
    CHECK(buf != NULL);
    rc = tf_fcgi_get_values_encode(buf, 8 + clen + 8, names, n, &w);
    if (clen > 65535) {
        CHECK(rc == TF_FCGI_E_TOO_BIG && w == 0);
    }
    else {
        CHECK(rc == TF_FCGI_OK && w == 8 + clen + ((8 - (clen & 7)) & 7));
        CHECK(buf[0] == 1 && buf[1] == TF_FCGI_GET_VALUES && buf[2] == 0
              && buf[3] == 0 && buf[7] == 0);
        CHECK((((size_t)buf[4] << 8) | buf[5]) == clen);
        for (i = 0, off = 8; i < n; i++, off += c) {
            CHECK(tf_fcgi_nv_decode(buf + off, 8 + clen - off, &got, &c)
                  == TF_FCGI_OK);
            CHECK(got.vlen == 0 && got.nlen == strlen(names[i]));
            CHECK(memcmp(got.name, names[i], got.nlen) == 0);
        }
        CHECK(off == 8 + clen);
        CHECK(tf_fcgi_get_values_encode(buf, w - 1, names, n, &w)
              == TF_FCGI_E_TOO_BIG);
    }
    free(buf);
    free(copy);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static tf_fcgi_nv_t nv[MAX_PAIRS];
    size_t off = 1, n = 0, total = 0, i;
    unsigned f, opts, id;

    if (filler[1] == 0) {
        for (i = 0; i < FILLER_LEN; i++) {
            filler[i] = (unsigned char)((i * 2654435761u) >> 13 | 1);
        }
    }
    if (size < 1) {
        return 0;
    }
    opts = data[0];
    id = (opts & 2) ? 65535 : 1;
    while (off < size && n < MAX_PAIRS && total < MAX_BYTES) {
        f = data[off++];
        nv[n].nlen = get_len(data, size, &off, f & 1);
        nv[n].vlen = get_len(data, size, &off, f & 2);
        if (f & 4) {
            nv[n].vlen *= 3; /* reach lengths past 65535 */
        }
        nv[n].name = get_bytes(data, size, &off, &nv[n].nlen, f);
        nv[n].value = get_bytes(data, size, &off, &nv[n].vlen, f >> 1);
        if ((f & 0xf0) == 0xf0) {
            nv[n].nlen = 0x80000000UL; /* not encodable: never read */
        }
        total += nv[n].nlen + nv[n].vlen;
        n++;
    }
    check_params(nv, n, id);
    if (opts & 1) {
        check_get_values(data + 1, size - 1);
    }
    return 0;
}
