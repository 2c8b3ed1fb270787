/*
 * fuzz_fcgi_decode.c: libFuzzer target for tf_fcgi_decode().
 *
 * Input: byte 0 seeds the chunk sizes (its high bit selects a GET_VALUES
 * probe decoder, request id 0, instead of request id 1); the rest is the
 * backend stream. The stream is decoded whole and again in chunks: every
 * event must respect the decoder's contract and both runs must agree.
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

enum { OUT, ERR, MGMT, NBUF };

typedef struct {
    unsigned char *buf[NBUF]; /* STDOUT, STDERR, management content */
    size_t len[NBUF];
    size_t records;           /* record_end on content events */
    size_t eos;
    size_t ends;
    size_t skipped;
    uint32_t app_status;
    unsigned protocol_status;
    int rc;                   /* first error, or TF_FCGI_AGAIN */
} summary_t;

static void
check_event(const tf_fcgi_decoder_t *d, const unsigned char *in, size_t c,
            const tf_fcgi_event_t *ev, tf_fcgi_rc rc, summary_t *s)
{
    int b;

    if (rc == TF_FCGI_SKIPPED) {
        CHECK(ev->data == NULL && ev->len == 0 && ev->record_end);
        s->skipped++;
        return;
    }
    if (ev->type == TF_FCGI_END_REQUEST) {
        CHECK(ev->data == NULL && ev->len == 0 && ev->record_end && !ev->eos);
        CHECK(tf_fcgi_decoder_done(d) && d->request_id != 0);
        s->ends++;
        s->app_status = ev->app_status;
        s->protocol_status = ev->protocol_status;
        return;
    }
    switch (ev->type) {
    case TF_FCGI_STDOUT:
        b = OUT;
        break;
    case TF_FCGI_STDERR:
        b = ERR;
        break;
    case TF_FCGI_GET_VALUES_RESULT:
    case TF_FCGI_UNKNOWN_TYPE:
        b = MGMT;
        break;
    default:
        __builtin_trap();
    }
    CHECK(d->request_id != 0 || b == MGMT);
    /* the slice lies inside the bytes this call consumed */
    CHECK(ev->data != NULL && ev->data >= in && ev->data + ev->len <= in + c);
    CHECK(ev->len > 0 || ev->record_end);
    CHECK(ev->len <= TF_FCGI_MAX_CONTENT);
    if (ev->eos) {
        CHECK(ev->len == 0 && ev->record_end && b != MGMT);
    }
    if (ev->len) {
        memcpy(s->buf[b] + s->len[b], ev->data, ev->len);
        s->len[b] += ev->len;
    }
    s->records += (size_t)ev->record_end;
    s->eos += (size_t)ev->eos;
}

/* Feed one chunk until the decoder wants more; @return 0 on error. */
static int
feed(tf_fcgi_decoder_t *d, const unsigned char *in, size_t len,
     summary_t *s)
{
    size_t off = 0, c, c2;
    tf_fcgi_event_t ev;
    tf_fcgi_rc rc;
    int was_done;

    for (;;) {
        was_done = tf_fcgi_decoder_done(d);
        rc = tf_fcgi_decode(d, in + off, len - off, &c, &ev);
        CHECK(c <= len - off);
        if (rc < 0) {
            CHECK(rc == TF_FCGI_E_VERSION || rc == TF_FCGI_E_REQUEST_ID
                  || rc == TF_FCGI_E_END_REQUEST || rc == TF_FCGI_E_AFTER_END
                  || rc == TF_FCGI_E_TYPE);
            CHECK(tf_fcgi_strerror(rc) != NULL);
            CHECK(c > 0);
            /* sticky, and consumes nothing */
            c2 = 1;
            CHECK(tf_fcgi_decode(d, in, len, &c2, &ev) == rc && c2 == 0);
            s->rc = rc;
            return 0;
        }
        if (rc == TF_FCGI_AGAIN) {
            CHECK(c == len - off);
            return 1;
        }
        CHECK(rc == TF_FCGI_OK || rc == TF_FCGI_SKIPPED);
        CHECK(c > 0);
        /* once END_REQUEST was seen: only AGAIN or an error */
        CHECK(!was_done);
        check_event(d, in + off, c, &ev, rc, s);
        off += c;
    }
}

static uint32_t
next_rand(uint32_t *x)
{
    *x ^= *x << 13;
    *x ^= *x >> 17;
    *x ^= *x << 5;
    return *x;
}

static void
run(const unsigned char *in, size_t len, unsigned id, uint32_t seed,
    summary_t *s)
{
    tf_fcgi_decoder_t d;
    size_t off = 0, n;
    uint32_t r;
    int b;

    memset(s, 0, sizeof(*s));
    for (b = 0; b < NBUF; b++) {
        s->buf[b] = malloc(len + 1);
        CHECK(s->buf[b] != NULL);
    }
    s->rc = TF_FCGI_AGAIN;
    tf_fcgi_decoder_init(&d, id);
    if (seed == 0) {
        feed(&d, in, len, s);
    }
    else {
        while (off < len) {
            r = next_rand(&seed);
            n = (r & 7) == 0 ? (r >> 3) % 512 : (r >> 3) % 12;
            if (n > len - off) {
                n = len - off;
            }
            if (!feed(&d, in + off, n, s)) {
                break;
            }
            off += n;
        }
    }
    if (s->rc == TF_FCGI_AGAIN) {
        feed(&d, in + len, 0, s);
    }
    CHECK(s->ends <= 1);
    CHECK(tf_fcgi_decoder_done(&d) == (s->ends == 1));
    CHECK(s->len[OUT] + s->len[ERR] + s->len[MGMT] <= len);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    summary_t whole, chunked;
    unsigned id;
    uint32_t seed;
    int b;

    if (size < 1) {
        return 0;
    }
    id = (data[0] & 0x80) ? 0 : 1;
    seed = 0x9e3779b9u * ((uint32_t)data[0] + 1);
    run(data + 1, size - 1, id, 0, &whole);
    run(data + 1, size - 1, id, seed, &chunked);

    CHECK(whole.rc == chunked.rc);
    CHECK(whole.ends == chunked.ends && whole.eos == chunked.eos);
    CHECK(whole.records == chunked.records);
    CHECK(whole.skipped == chunked.skipped);
    CHECK(whole.app_status == chunked.app_status);
    CHECK(whole.protocol_status == chunked.protocol_status);
    for (b = 0; b < NBUF; b++) {
        CHECK(whole.len[b] == chunked.len[b]);
        CHECK(memcmp(whole.buf[b], chunked.buf[b], whole.len[b]) == 0);
        free(whole.buf[b]);
        free(chunked.buf[b]);
    }
    return 0;
}
