/*
 * tf_fcgi_proto.h: FastCGI 1.0 record codec (spec §3 Protocol basics,
 * §4 Management records, §5 Application records).
 *
 * Pure: libc only. No APR, no httpd, no I/O, no logging. Encoders write into
 * caller-supplied buffers (size first, then encode); the decoder is
 * resumable at any byte boundary and never buffers content: it hands back
 * slices of the caller's input.
 */
#ifndef TF_FCGI_PROTO_H
#define TF_FCGI_PROTO_H

#include <stddef.h>
#include <stdint.h>

/* --- Wire constants (spec §8) ------------------------------------------ */

#define TF_FCGI_VERSION_1 1
#define TF_FCGI_HEADER_LEN 8
#define TF_FCGI_MAX_CONTENT 65535 /* contentLength is 16 bits */
#define TF_FCGI_BEGIN_REQUEST_LEN 16 /* header + body */
#define TF_FCGI_NULL_REQUEST_ID 0

#define TF_FCGI_BEGIN_REQUEST 1
#define TF_FCGI_ABORT_REQUEST 2
#define TF_FCGI_END_REQUEST 3
#define TF_FCGI_PARAMS 4
#define TF_FCGI_STDIN 5
#define TF_FCGI_STDOUT 6
#define TF_FCGI_STDERR 7
#define TF_FCGI_DATA 8
#define TF_FCGI_GET_VALUES 9
#define TF_FCGI_GET_VALUES_RESULT 10
#define TF_FCGI_UNKNOWN_TYPE 11

#define TF_FCGI_RESPONDER 1
#define TF_FCGI_AUTHORIZER 2
#define TF_FCGI_KEEP_CONN 1

#define TF_FCGI_REQUEST_COMPLETE 0
#define TF_FCGI_CANT_MPX_CONN 1
#define TF_FCGI_OVERLOADED 2
#define TF_FCGI_UNKNOWN_ROLE 3

/* --- Result codes ------------------------------------------------------- */

typedef enum {
    TF_FCGI_OK = 0,            /* an event was produced / encoding done */
    TF_FCGI_AGAIN = 1,         /* all input consumed, need more bytes */
    TF_FCGI_SKIPPED = 2,       /* a whole record of a type this decoder does
                                * not handle was consumed and dropped; the
                                * stream is still in sync (ev->type says
                                * which type) */
    TF_FCGI_E_VERSION = -1,    /* record version is not 1 */
    TF_FCGI_E_REQUEST_ID = -2, /* record for another request id */
    TF_FCGI_E_END_REQUEST = -3,/* END_REQUEST body is not 8 bytes */
    TF_FCGI_E_AFTER_END = -4,  /* a record after END_REQUEST */
    TF_FCGI_E_TOO_BIG = -5,    /* encode: pair does not fit one record, or
                                * the caller's buffer is too small */
    TF_FCGI_E_NV = -6,         /* malformed name-value pair */
    TF_FCGI_E_TYPE = -7        /* a known type that a backend must never
                                * send (BEGIN_REQUEST, PARAMS, STDIN, ...) */
} tf_fcgi_rc;

/** @return a static, human-readable description of @p rc. */
const char *tf_fcgi_strerror(tf_fcgi_rc rc);

/* --- Encoding ----------------------------------------------------------- */

/** One name-value pair; lengths in bytes, strings need not be NUL-ended. */
typedef struct {
    const char *name;
    size_t nlen;
    const char *value;
    size_t vlen;
} tf_fcgi_nv_t;

/**
 * Write an 8-byte record header.
 * @return TF_FCGI_HEADER_LEN.
 */
size_t tf_fcgi_header_encode(unsigned char *buf, unsigned type,
                             unsigned request_id, size_t content_len,
                             unsigned padding_len);

/** Write BEGIN_REQUEST (header + body, 16 bytes). @return 16. */
size_t tf_fcgi_begin_request_encode(unsigned char *buf, unsigned request_id,
                                    unsigned role, unsigned flags);

/** Write ABORT_REQUEST (8 bytes). @return 8. */
size_t tf_fcgi_abort_request_encode(unsigned char *buf, unsigned request_id);

/**
 * Encoded size of one pair (§3.4: lengths < 128 take 1 byte, else 4).
 * @return 0 if a length does not fit 31 bits.
 */
size_t tf_fcgi_nv_size(size_t nlen, size_t vlen);

/**
 * Size of the whole PARAMS stream for @p nv: every record header, the pairs,
 * the padding and the closing empty PARAMS record. Pairs are packed
 * greedily into records of at most TF_FCGI_MAX_CONTENT content bytes, a
 * pair is never split across two records (Trac's server decodes each
 * record on its own), and each record's content is padded with zero bytes
 * to a multiple of 8. n == 0 gives just the empty PARAMS record (8 bytes).
 * @param[out] bad_pair  if non-NULL, set to the index of the first pair that
 *                       cannot fit one record, or to @p n when all fit.
 * @return the byte count, or 0 when a pair is too big (see @p bad_pair).
 */
size_t tf_fcgi_params_size(const tf_fcgi_nv_t *nv, size_t n,
                           size_t *bad_pair);

/**
 * At least the size of the PARAMS stream of @p n pairs whose names and
 * values are @p text_len bytes together, without looking at them: room
 * for tf_fcgi_params_encode() (each pair in a record of its own, 4-byte
 * lengths, 7 bytes of padding). @return 0 if that overflows a size_t.
 */
size_t tf_fcgi_params_bound(size_t n, size_t text_len);

/**
 * Encode the PARAMS stream of @p nv, in one pass: the bytes
 * tf_fcgi_params_size() counts, which is what @p buflen must hold
 * (tf_fcgi_params_bound() is enough).
 * @param[out] written  bytes written on TF_FCGI_OK.
 * @return TF_FCGI_OK, or TF_FCGI_E_TOO_BIG (pair too big or @p buflen short).
 */
tf_fcgi_rc tf_fcgi_params_encode(unsigned char *buf, size_t buflen,
                                 unsigned request_id, const tf_fcgi_nv_t *nv,
                                 size_t n, size_t *written);

/**
 * Encode one GET_VALUES record (request id 0) asking for @p names
 * (NUL-terminated; values empty, §4.1), content padded to a multiple of 8.
 * The pairs must fit one record (TF_FCGI_MAX_CONTENT bytes).
 * @return TF_FCGI_OK or TF_FCGI_E_TOO_BIG.
 */
tf_fcgi_rc tf_fcgi_get_values_encode(unsigned char *buf, size_t buflen,
                                     const char *const *names, size_t n,
                                     size_t *written);

/**
 * Decode one name-value pair from @p buf.
 * @return TF_FCGI_OK with @p nv pointing into @p buf and @p consumed set;
 *         TF_FCGI_AGAIN (@p consumed 0) when @p buf holds only part of a
 *         pair. A caller decoding one record's content treats AGAIN with
 *         content left over as a malformed record. TF_FCGI_E_NV is
 *         reserved: every byte string is a pair or the start of one, so
 *         it is currently never returned.
 */
tf_fcgi_rc tf_fcgi_nv_decode(const unsigned char *buf, size_t len,
                             tf_fcgi_nv_t *nv, size_t *consumed);

/* --- Decoding (application → web server direction) ---------------------- */

/** An event produced by the decoder. */
typedef struct {
    unsigned type;            /* TF_FCGI_STDOUT, _STDERR, _END_REQUEST,
                               * _GET_VALUES_RESULT, _UNKNOWN_TYPE, or the
                               * skipped type with TF_FCGI_SKIPPED */
    const unsigned char *data;/* content slice inside the caller's input
                               * (STDOUT, STDERR, GET_VALUES_RESULT,
                               * UNKNOWN_TYPE); NULL otherwise */
    size_t len;               /* bytes at data; a record's content may come
                               * as several events. len == 0 with
                               * eos == 1 is the empty record that closes a
                               * STDOUT/STDERR stream */
    int eos;                  /* 1: an empty STDOUT/STDERR record (the
                               * stream is closed); always with len == 0
                               * and record_end == 1. Never set for other
                               * types */
    int record_end;           /* 1: this slice ends its record's content
                               * (also set on END_REQUEST and SKIPPED) */
    uint32_t app_status;      /* END_REQUEST: appStatus */
    unsigned protocol_status; /* END_REQUEST: protocolStatus */
} tf_fcgi_event_t;

/** Decoder state. Treat as opaque; lives on the caller's stack or pool. */
typedef struct {
    unsigned request_id; /* expected id; 0 = management only */
    unsigned state;      /* private */
    unsigned char hdr[TF_FCGI_HEADER_LEN];
    unsigned char body[8];/* END_REQUEST body being gathered */
    size_t have;         /* bytes of hdr/body gathered */
    unsigned type;
    size_t content_left;
    size_t padding_left;
    size_t content_len;
    int ended;           /* END_REQUEST seen */
} tf_fcgi_decoder_t;

/** Start decoding the replies to @p request_id (0 for a management probe). */
void tf_fcgi_decoder_init(tf_fcgi_decoder_t *d, unsigned request_id);

/**
 * Consume bytes from @p in until one event is produced.
 * @param[out] consumed bytes of @p in used (always set).
 * @return TF_FCGI_OK with @p ev filled; TF_FCGI_SKIPPED with ev->type set
 *         after a whole unhandled record was dropped; TF_FCGI_AGAIN when all
 *         of @p in was consumed without an event; a TF_FCGI_E_* code on a
 *         protocol violation (the decoder then stays in error: every further
 *         call returns the same code).
 * Records with request id 0 are management records: GET_VALUES_RESULT and
 * UNKNOWN_TYPE are returned as events (an empty one as one event with
 * len 0, record_end 1, eos 0), any other is skipped.
 *
 * Details: content events come as soon as any content byte is available;
 * a non-empty record never yields a len 0 event. Padding after a record's
 * last slice is swallowed in the same call when present in @p in, else on
 * the next call. The END_REQUEST event is produced only after the record's
 * padding too, so the stream is at a record boundary once it is seen.
 * Records of the expected id with type DATA, GET_VALUES_RESULT,
 * UNKNOWN_TYPE, or an undefined type are SKIPPED. On the call that detects
 * an error, @p consumed counts the bytes up to and including the one that
 * revealed it, and ev->type holds the offending record's type byte (header
 * errors only); later calls return the error with @p consumed 0.
 */
tf_fcgi_rc tf_fcgi_decode(tf_fcgi_decoder_t *d, const unsigned char *in,
                          size_t len, size_t *consumed, tf_fcgi_event_t *ev);

/** @return 1 once END_REQUEST has been decoded. */
int tf_fcgi_decoder_done(const tf_fcgi_decoder_t *d);

#endif /* TF_FCGI_PROTO_H */
