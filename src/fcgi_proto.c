/*
 * fcgi_proto.c: FastCGI 1.0 record codec (spec §3.3 Records, §3.4
 * Name-Value Pairs, §4 Management records, §5 Application records).
 *
 * Pure: libc only. No APR, no httpd, no malloc, no I/O, no logging.
 * Encoders write into caller-supplied buffers; the decoder is a resumable
 * byte state machine (in the style of nginx's
 * ngx_http_fastcgi_process_record) that hands back slices of the caller's
 * input and never copies content.
 */

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "tf_fcgi_proto.h"

/* FCGI §3.4: a length >= 2^31 cannot be written (31-bit field). */
#define TF_FCGI_NV_MAX_LEN 0x7fffffffUL

/* Largest record we emit: header + content + up to 7 padding bytes. */
#define TF_FCGI_MAX_RECORD \
    (TF_FCGI_HEADER_LEN + TF_FCGI_MAX_CONTENT + 7)

/* Decoder states (tf_fcgi_decoder_t.state). */
enum {
    ST_HEADER = 0,  /* gathering the 8 header bytes (d->have) */
    ST_CONTENT,     /* handing out content slices (STDOUT, STDERR, ...) */
    ST_END_BODY,    /* gathering the 8-byte END_REQUEST body (d->have) */
    ST_END_PADDING, /* END_REQUEST padding; the event follows it */
    ST_SKIP,        /* dropping a whole record nobody handles */
    ST_PADDING,     /* padding after the last slice of a record */
    ST_ERROR        /* sticky error: state = ST_ERROR + -rc */
};

const char *
tf_fcgi_strerror(tf_fcgi_rc rc)
{
    switch (rc) {
    case TF_FCGI_OK:
        return "success";
    case TF_FCGI_AGAIN:
        return "incomplete input, more bytes needed";
    case TF_FCGI_SKIPPED:
        return "FastCGI record of an unhandled type skipped";
    case TF_FCGI_E_VERSION:
        return "unsupported FastCGI protocol version";
    case TF_FCGI_E_REQUEST_ID:
        return "record for an unexpected request id";
    case TF_FCGI_E_END_REQUEST:
        return "malformed END_REQUEST record (body is not 8 bytes)";
    case TF_FCGI_E_AFTER_END:
        return "record after END_REQUEST";
    case TF_FCGI_E_TOO_BIG:
        return "name-value pair does not fit one FastCGI record, "
               "or output buffer too small";
    case TF_FCGI_E_NV:
        return "malformed FastCGI name-value pair";
    case TF_FCGI_E_TYPE:
        return "record type a FastCGI application must not send";
    }
    return "unknown FastCGI codec error";
}

/* --- Encoding --------------------------------------------------------- */

static void
put_u16(unsigned char *p, size_t v)
{
    p[0] = (unsigned char)((v >> 8) & 0xff);
    p[1] = (unsigned char)(v & 0xff);
}

static size_t
put_nv_len(unsigned char *p, size_t len)
{
    /* FCGI §3.4: lengths < 128 use 1 byte; others 4 bytes, high bit set */
    if (len < 128) {
        p[0] = (unsigned char)len;
        return 1;
    }
    p[0] = (unsigned char)(((len >> 24) & 0x7f) | 0x80);
    p[1] = (unsigned char)((len >> 16) & 0xff);
    p[2] = (unsigned char)((len >> 8) & 0xff);
    p[3] = (unsigned char)(len & 0xff);
    return 4;
}

/* FCGI §3.3: padding "recommended" to align content to 8 bytes. */
static unsigned
padding_for(size_t content_len)
{
    return (unsigned)((8 - (content_len & 7)) & 7);
}

size_t
tf_fcgi_header_encode(unsigned char *buf, unsigned type, unsigned request_id,
                      size_t content_len, unsigned padding_len)
{
    /* FCGI §3.3: FCGI_Header, all multi-byte fields big-endian */
    buf[0] = TF_FCGI_VERSION_1;
    buf[1] = (unsigned char)(type & 0xff);
    put_u16(buf + 2, request_id & 0xffff);
    put_u16(buf + 4, content_len & 0xffff);
    buf[6] = (unsigned char)(padding_len & 0xff);
    buf[7] = 0; /* reserved */
    return TF_FCGI_HEADER_LEN;
}

size_t
tf_fcgi_begin_request_encode(unsigned char *buf, unsigned request_id,
                             unsigned role, unsigned flags)
{
    /* FCGI §5.1: FCGI_BeginRequestBody is role(2) flags(1) reserved(5) */
    tf_fcgi_header_encode(buf, TF_FCGI_BEGIN_REQUEST, request_id, 8, 0);
    put_u16(buf + 8, role & 0xffff);
    buf[10] = (unsigned char)(flags & 0xff);
    memset(buf + 11, 0, 5);
    return TF_FCGI_BEGIN_REQUEST_LEN;
}

size_t
tf_fcgi_abort_request_encode(unsigned char *buf, unsigned request_id)
{
    /* FCGI §5.4: FCGI_ABORT_REQUEST has no content */
    return tf_fcgi_header_encode(buf, TF_FCGI_ABORT_REQUEST, request_id, 0,
                                 0);
}

size_t
tf_fcgi_nv_size(size_t nlen, size_t vlen)
{
    size_t size;

    /* FCGI §3.4: a length is at most 31 bits */
    if (nlen > TF_FCGI_NV_MAX_LEN || vlen > TF_FCGI_NV_MAX_LEN) {
        return 0;
    }
    size = (size_t)(nlen < 128 ? 1 : 4) + (size_t)(vlen < 128 ? 1 : 4);
    /* overflow is only possible with a 32-bit size_t */
    if (nlen > (size_t)-1 - size || vlen > (size_t)-1 - size - nlen) {
        return 0;
    }
    return size + nlen + vlen;
}

static size_t
write_nv(unsigned char *p, const char *name, size_t nlen, const char *value,
         size_t vlen)
{
    size_t off;

    off = put_nv_len(p, nlen);
    off += put_nv_len(p + off, vlen);
    if (nlen) {
        memcpy(p + off, name, nlen);
        off += nlen;
    }
    if (vlen) {
        memcpy(p + off, value, vlen);
        off += vlen;
    }
    return off;
}

/*
 * Walk the pairs the way tf_fcgi_params_encode() packs them. Each record
 * holds as many whole pairs as fit TF_FCGI_MAX_CONTENT bytes.
 * @return the number of pairs in the record starting at @p first and its
 *         content length in @p *clen; 0 pairs with *clen == 0 at the end.
 *         Sets @p *bad to the index of a pair that fits no record.
 */
static size_t
count_record_pairs(const tf_fcgi_nv_t *nv, size_t n, size_t first,
                   size_t *clen, size_t *bad)
{
    size_t i, sz;

    *clen = 0;
    *bad = n;
    for (i = first; i < n; i++) {
        sz = tf_fcgi_nv_size(nv[i].nlen, nv[i].vlen);
        /* FCGI §3.3: contentLength is 16 bits; a pair is never split */
        if (sz == 0 || sz > TF_FCGI_MAX_CONTENT) {
            *bad = i;
            return 0;
        }
        if (*clen + sz > TF_FCGI_MAX_CONTENT) {
            break;
        }
        *clen += sz;
    }
    return i - first;
}

size_t
tf_fcgi_params_size(const tf_fcgi_nv_t *nv, size_t n, size_t *bad_pair)
{
    size_t total = 0, i = 0, k, clen, bad;

    while (i < n) {
        k = count_record_pairs(nv, n, i, &clen, &bad);
        if (k == 0) {
            if (bad_pair) {
                *bad_pair = bad;
            }
            return 0;
        }
        if (total > (size_t)-1 - TF_FCGI_MAX_RECORD - TF_FCGI_HEADER_LEN) {
            /* 32-bit size_t only: report the pair that would overflow */
            if (bad_pair) {
                *bad_pair = i;
            }
            return 0;
        }
        total += TF_FCGI_HEADER_LEN + clen + padding_for(clen);
        i += k;
    }
    if (bad_pair) {
        *bad_pair = n;
    }
    /* FCGI §5.2: an empty PARAMS record closes the stream */
    return total + TF_FCGI_HEADER_LEN;
}

size_t
tf_fcgi_params_bound(size_t n, size_t text_len)
{
    /* each pair in a record of its own: header, 4-byte lengths, padding */
    const size_t per_pair = TF_FCGI_HEADER_LEN + 8 + 7;

    if (n > ((size_t)-1 - TF_FCGI_HEADER_LEN) / per_pair
        || text_len > (size_t)-1 - TF_FCGI_HEADER_LEN - n * per_pair) {
        return 0;
    }
    return text_len + n * per_pair + TF_FCGI_HEADER_LEN;
}

/* Fill in the header at @p head of the record whose @p clen content bytes
 * end at *@p off, and pad it. @return 0 when @p buflen has no room. */
static int
close_record(unsigned char *buf, size_t buflen, size_t *off, size_t head,
             unsigned request_id, size_t clen)
{
    unsigned pad = padding_for(clen);

    if (buflen - *off < pad) {
        return 0;
    }
    tf_fcgi_header_encode(buf + head, TF_FCGI_PARAMS, request_id, clen, pad);
    memset(buf + *off, 0, pad);
    *off += pad;
    return 1;
}

tf_fcgi_rc
tf_fcgi_params_encode(unsigned char *buf, size_t buflen, unsigned request_id,
                      const tf_fcgi_nv_t *nv, size_t n, size_t *written)
{
    size_t off = 0, head = 0, clen = 0, i, sz;
    int open = 0;

    /* one pass, each pair sized once; the packing is count_record_pairs'
     * (the unit tests and the fuzz target hold the two to the same bytes) */
    *written = 0;
    for (i = 0; i < n; i++) {
        sz = tf_fcgi_nv_size(nv[i].nlen, nv[i].vlen);
        if (sz == 0 || sz > TF_FCGI_MAX_CONTENT) {
            return TF_FCGI_E_TOO_BIG;
        }
        if (open && clen + sz > TF_FCGI_MAX_CONTENT) {
            if (!close_record(buf, buflen, &off, head, request_id, clen)) {
                return TF_FCGI_E_TOO_BIG;
            }
            open = 0;
        }
        if (!open) {
            if (buflen - off < TF_FCGI_HEADER_LEN) {
                return TF_FCGI_E_TOO_BIG;
            }
            head = off; /* written when the record's length is known */
            off += TF_FCGI_HEADER_LEN;
            clen = 0;
            open = 1;
        }
        if (buflen - off < sz) {
            return TF_FCGI_E_TOO_BIG;
        }
        off += write_nv(buf + off, nv[i].name, nv[i].nlen, nv[i].value,
                        nv[i].vlen);
        clen += sz;
    }
    if (open && !close_record(buf, buflen, &off, head, request_id, clen)) {
        return TF_FCGI_E_TOO_BIG;
    }
    /* FCGI §5.2: an empty PARAMS record closes the stream */
    if (buflen - off < TF_FCGI_HEADER_LEN) {
        return TF_FCGI_E_TOO_BIG;
    }
    off += tf_fcgi_header_encode(buf + off, TF_FCGI_PARAMS, request_id, 0, 0);
    *written = off;
    return TF_FCGI_OK;
}

tf_fcgi_rc
tf_fcgi_get_values_encode(unsigned char *buf, size_t buflen,
                          const char *const *names, size_t n,
                          size_t *written)
{
    size_t clen = 0, sz, i, off, nlen;
    unsigned pad;

    *written = 0;
    for (i = 0; i < n; i++) {
        /* FCGI §4.1: GET_VALUES pairs carry empty values */
        sz = tf_fcgi_nv_size(strlen(names[i]), 0);
        if (sz == 0 || sz > TF_FCGI_MAX_CONTENT - clen) {
            return TF_FCGI_E_TOO_BIG;
        }
        clen += sz;
    }
    pad = padding_for(clen);
    if (buflen < TF_FCGI_HEADER_LEN + clen + pad) {
        return TF_FCGI_E_TOO_BIG;
    }
    /* FCGI §4: management records use request id 0 */
    off = tf_fcgi_header_encode(buf, TF_FCGI_GET_VALUES,
                                TF_FCGI_NULL_REQUEST_ID, clen, pad);
    for (i = 0; i < n; i++) {
        nlen = strlen(names[i]);
        off += write_nv(buf + off, names[i], nlen, NULL, 0);
    }
    memset(buf + off, 0, pad);
    off += pad;
    *written = off;
    return TF_FCGI_OK;
}

/* FCGI §3.4: 1-byte length if the high bit is clear, else 31-bit BE. */
static int
get_nv_len(const unsigned char *buf, size_t len, size_t *pos, size_t *out)
{
    const unsigned char *p;

    if (*pos >= len) {
        return 0;
    }
    p = buf + *pos;
    if (!(p[0] & 0x80)) {
        *out = p[0];
        *pos += 1;
        return 1;
    }
    if (len - *pos < 4) {
        return 0;
    }
    *out = ((size_t)(p[0] & 0x7f) << 24) | ((size_t)p[1] << 16)
           | ((size_t)p[2] << 8) | (size_t)p[3];
    *pos += 4;
    return 1;
}

tf_fcgi_rc
tf_fcgi_nv_decode(const unsigned char *buf, size_t len, tf_fcgi_nv_t *nv,
                  size_t *consumed)
{
    size_t pos = 0, nlen, vlen;

    *consumed = 0;
    if (!get_nv_len(buf, len, &pos, &nlen)
        || !get_nv_len(buf, len, &pos, &vlen)) {
        return TF_FCGI_AGAIN;
    }
    /* compare against what is left: no overflow even on 32-bit size_t */
    if (nlen > len - pos || vlen > len - pos - nlen) {
        return TF_FCGI_AGAIN;
    }
    nv->name = (const char *)buf + pos;
    nv->nlen = nlen;
    nv->value = (const char *)buf + pos + nlen;
    nv->vlen = vlen;
    *consumed = pos + nlen + vlen;
    return TF_FCGI_OK;
}

/* --- Decoding --------------------------------------------------------- */

void
tf_fcgi_decoder_init(tf_fcgi_decoder_t *d, unsigned request_id)
{
    memset(d, 0, sizeof(*d));
    d->request_id = request_id;
    d->state = ST_HEADER;
}

int
tf_fcgi_decoder_done(const tf_fcgi_decoder_t *d)
{
    return d->ended;
}

static tf_fcgi_rc
fail_decoder(tf_fcgi_decoder_t *d, tf_fcgi_rc rc)
{
    d->state = ST_ERROR + (unsigned)(-(int)rc);
    return rc;
}

static size_t
min_size(size_t a, size_t b)
{
    return a < b ? a : b;
}

/*
 * A whole header is in d->hdr: validate it and pick the next state.
 * @return TF_FCGI_OK or the TF_FCGI_E_* code for this record.
 */
static tf_fcgi_rc
parse_header(tf_fcgi_decoder_t *d)
{
    const unsigned char *h = d->hdr;
    unsigned id;

    /* FCGI §3.3: version must be FCGI_VERSION_1 */
    if (h[0] != TF_FCGI_VERSION_1) {
        return TF_FCGI_E_VERSION;
    }
    d->type = h[1];
    id = ((unsigned)h[2] << 8) | h[3];
    d->content_len = ((size_t)h[4] << 8) | h[5];
    d->content_left = d->content_len;
    d->padding_left = h[6];

    /* FCGI §4: request id 0 is a management record */
    if (id == TF_FCGI_NULL_REQUEST_ID) {
        if (d->type == TF_FCGI_GET_VALUES_RESULT
            || d->type == TF_FCGI_UNKNOWN_TYPE) {
            d->state = ST_CONTENT;
        }
        else {
            d->state = ST_SKIP;
        }
        return TF_FCGI_OK;
    }
    if (id != d->request_id) {
        return TF_FCGI_E_REQUEST_ID;
    }

    switch (d->type) {
    case TF_FCGI_STDOUT:
    case TF_FCGI_STDERR:
        d->state = ST_CONTENT;
        return TF_FCGI_OK;
    case TF_FCGI_END_REQUEST:
        /* FCGI §5.5: FCGI_EndRequestBody is exactly 8 bytes */
        if (d->content_len != 8) {
            return TF_FCGI_E_END_REQUEST;
        }
        d->have = 0;
        d->state = ST_END_BODY;
        return TF_FCGI_OK;
    case TF_FCGI_BEGIN_REQUEST:
    case TF_FCGI_ABORT_REQUEST:
    case TF_FCGI_PARAMS:
    case TF_FCGI_STDIN:
    case TF_FCGI_GET_VALUES:
        /* FCGI §5: these travel web server -> application only */
        return TF_FCGI_E_TYPE;
    default:
        /* DATA (filter role only), GET_VALUES_RESULT/UNKNOWN_TYPE with a
         * non-null id, and unknown types: skip the whole record */
        d->state = ST_SKIP;
        return TF_FCGI_OK;
    }
}

/* Swallow as much padding as @p in holds; on completion, next header. */
static void
skip_padding(tf_fcgi_decoder_t *d, size_t len, size_t *pos)
{
    size_t n = min_size(d->padding_left, len - *pos);

    *pos += n;
    d->padding_left -= n;
    d->state = d->padding_left ? ST_PADDING : ST_HEADER;
}

/*
 * One step of the decoder per state. Each takes bytes from in[*pos, len),
 * advances *pos past what it used, and returns STEP_ON to go on with the
 * (new) state, or what tf_fcgi_decode() returns, with *pos as the bytes
 * consumed.
 */
#define STEP_ON 100 /* not a tf_fcgi_rc */

/* ST_HEADER: gather the 8 header bytes, then validate them. */
static int
step_header(tf_fcgi_decoder_t *d, const unsigned char *in, size_t len,
            size_t *pos, tf_fcgi_event_t *ev)
{
    size_t n;
    tf_fcgi_rc rc;

    if (*pos == len) {
        return TF_FCGI_AGAIN;
    }
    if (d->ended) {
        /* any byte after the END_REQUEST record is an error */
        *pos += 1;
        return fail_decoder(d, TF_FCGI_E_AFTER_END);
    }
    n = min_size(TF_FCGI_HEADER_LEN - d->have, len - *pos);
    memcpy(d->hdr + d->have, in + *pos, n);
    d->have += n;
    *pos += n;
    if (d->have < TF_FCGI_HEADER_LEN) {
        return TF_FCGI_AGAIN;
    }
    d->have = 0;
    rc = parse_header(d);
    if (rc != TF_FCGI_OK) {
        ev->type = d->hdr[1];
        return fail_decoder(d, rc);
    }
    return STEP_ON;
}

/* ST_CONTENT: hand out the content bytes at hand as one event. */
static int
step_content(tf_fcgi_decoder_t *d, const unsigned char *in, size_t len,
             size_t *pos, tf_fcgi_event_t *ev)
{
    size_t n;

    if (d->content_len == 0) {
        /* FCGI §5.3: an empty STDOUT/STDERR record ends the
         * stream; an empty management record is just empty */
        ev->type = d->type;
        ev->data = in ? in + *pos : NULL;
        ev->eos = (d->type == TF_FCGI_STDOUT || d->type == TF_FCGI_STDERR);
        ev->record_end = 1;
        skip_padding(d, len, pos);
        return TF_FCGI_OK;
    }
    if (*pos == len) {
        /* never emit a zero-length slice of a non-empty record */
        return TF_FCGI_AGAIN;
    }
    /* hand out what we have now: this is what makes streaming
     * work; the rest of the record comes in later events */
    n = min_size(d->content_left, len - *pos);
    ev->type = d->type;
    ev->data = in + *pos;
    ev->len = n;
    *pos += n;
    d->content_left -= n;
    if (d->content_left == 0) {
        ev->record_end = 1;
        skip_padding(d, len, pos);
    }
    return TF_FCGI_OK;
}

/* ST_END_BODY: gather the 8-byte END_REQUEST body. */
static int
step_end_body(tf_fcgi_decoder_t *d, const unsigned char *in, size_t len,
              size_t *pos)
{
    size_t n;

    if (*pos == len) {
        return TF_FCGI_AGAIN;
    }
    n = min_size(8 - d->have, len - *pos);
    memcpy(d->body + d->have, in + *pos, n);
    d->have += n;
    *pos += n;
    if (d->have < 8) {
        return TF_FCGI_AGAIN;
    }
    d->have = 0;
    d->state = ST_END_PADDING;
    return STEP_ON;
}

/* ST_END_PADDING: swallow the padding, then report END_REQUEST. */
static int
step_end_padding(tf_fcgi_decoder_t *d, size_t len, size_t *pos,
                 tf_fcgi_event_t *ev)
{
    size_t n = min_size(d->padding_left, len - *pos);

    *pos += n;
    d->padding_left -= n;
    if (d->padding_left) {
        return TF_FCGI_AGAIN;
    }
    /* FCGI §5.5: appStatus (32-bit BE), protocolStatus, 3 reserved;
     * reported once the whole record, padding included, is read */
    ev->type = TF_FCGI_END_REQUEST;
    ev->record_end = 1;
    ev->app_status = ((uint32_t)d->body[0] << 24)
                     | ((uint32_t)d->body[1] << 16)
                     | ((uint32_t)d->body[2] << 8) | (uint32_t)d->body[3];
    ev->protocol_status = d->body[4];
    d->ended = 1;
    d->state = ST_HEADER;
    return TF_FCGI_OK;
}

/* ST_SKIP: drop a whole record, content and padding. */
static int
step_skip(tf_fcgi_decoder_t *d, size_t len, size_t *pos, tf_fcgi_event_t *ev)
{
    size_t n = min_size(d->content_left, len - *pos);

    *pos += n;
    d->content_left -= n;
    n = min_size(d->padding_left, len - *pos);
    *pos += n;
    d->padding_left -= n;
    if (d->content_left || d->padding_left) {
        return TF_FCGI_AGAIN;
    }
    ev->type = d->type;
    ev->record_end = 1;
    d->state = ST_HEADER;
    return TF_FCGI_SKIPPED;
}

/* ST_PADDING: the rest of a record's padding. */
static int
step_padding(tf_fcgi_decoder_t *d, size_t len, size_t *pos)
{
    skip_padding(d, len, pos);
    return d->state == ST_PADDING ? TF_FCGI_AGAIN : STEP_ON;
}

tf_fcgi_rc
tf_fcgi_decode(tf_fcgi_decoder_t *d, const unsigned char *in, size_t len,
               size_t *consumed, tf_fcgi_event_t *ev)
{
    size_t pos = 0;
    int rc;

    memset(ev, 0, sizeof(*ev));
    *consumed = 0;
    if (d->state >= ST_ERROR) {
        /* errors are sticky and consume nothing */
        return (tf_fcgi_rc)(-(int)(d->state - ST_ERROR));
    }
    do {
        switch (d->state) {
        case ST_HEADER:
            rc = step_header(d, in, len, &pos, ev);
            break;
        case ST_CONTENT:
            rc = step_content(d, in, len, &pos, ev);
            break;
        case ST_END_BODY:
            rc = step_end_body(d, in, len, &pos);
            break;
        case ST_END_PADDING:
            rc = step_end_padding(d, len, &pos, ev);
            break;
        case ST_SKIP:
            rc = step_skip(d, len, &pos, ev);
            break;
        case ST_PADDING:
            rc = step_padding(d, len, &pos);
            break;
        default:
            /* corrupted state: refuse to go on */
            return fail_decoder(d, TF_FCGI_E_TYPE);
        }
    } while (rc == STEP_ON);
    *consumed = pos;
    return (tf_fcgi_rc)rc;
}
