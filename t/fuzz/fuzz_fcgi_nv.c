/*
 * fuzz_fcgi_nv.c: libFuzzer target for tf_fcgi_nv_decode().
 *
 * Decodes pairs from the input until AGAIN: every pair must lie inside the
 * buffer, the lengths must add up to what was consumed, every shorter
 * buffer must give AGAIN, and re-encoding the pair must decode the same.
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

/* Re-encode @p nv as a one-pair PARAMS stream and decode it back. */
static void
check_reencode(const tf_fcgi_nv_t *nv)
{
    unsigned char *buf;
    size_t size, bad, w, c, sz;
    tf_fcgi_nv_t got;

    sz = tf_fcgi_nv_size(nv->nlen, nv->vlen);
    CHECK(sz > 0);
    size = tf_fcgi_params_size(nv, 1, &bad);
    if (sz > TF_FCGI_MAX_CONTENT) {
        CHECK(size == 0 && bad == 0);
        return;
    }
    CHECK(bad == 1 && size == 8 + sz + ((8 - (sz & 7)) & 7) + 8);
    buf = malloc(size);
    CHECK(buf != NULL);
    CHECK(tf_fcgi_params_encode(buf, size, 3, nv, 1, &w) == TF_FCGI_OK);
    CHECK(w == size);
    CHECK(tf_fcgi_nv_decode(buf + 8, sz, &got, &c) == TF_FCGI_OK);
    CHECK(c == sz && got.nlen == nv->nlen && got.vlen == nv->vlen);
    CHECK(memcmp(got.name, nv->name, nv->nlen) == 0);
    CHECK(memcmp(got.value, nv->value, nv->vlen) == 0);
    free(buf);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t off = 0, c, c2, hdr;
    tf_fcgi_nv_t nv, nv2;
    tf_fcgi_rc rc;
    const char *base = (const char *)data;

    for (;;) {
        c = 12345;
        rc = tf_fcgi_nv_decode(data + off, size - off, &nv, &c);
        if (rc == TF_FCGI_AGAIN) {
            CHECK(c == 0);
            break;
        }
        CHECK(rc == TF_FCGI_OK);
        CHECK(c > 0 && c <= size - off);
        CHECK(nv.nlen <= 0x7fffffffUL && nv.vlen <= 0x7fffffffUL);
        /* name then value, right after the 2 to 8 length bytes */
        hdr = c - nv.nlen - nv.vlen;
        CHECK(hdr == 2 || hdr == 5 || hdr == 8);
        CHECK(nv.name == base + off + hdr);
        CHECK(nv.value == nv.name + nv.nlen);
        CHECK(nv.value + nv.vlen == base + off + c);
        CHECK(tf_fcgi_nv_size(nv.nlen, nv.vlen) <= c);
        /* one byte less is incomplete; one byte more changes nothing */
        c2 = 1;
        CHECK(tf_fcgi_nv_decode(data + off, c - 1, &nv2, &c2)
              == TF_FCGI_AGAIN && c2 == 0);
        CHECK(tf_fcgi_nv_decode(data + off, c, &nv2, &c2) == TF_FCGI_OK);
        CHECK(c2 == c && nv2.nlen == nv.nlen && nv2.vlen == nv.vlen);
        check_reencode(&nv);
        off += c;
    }
    return 0;
}
