/*
 * tf_iobuf.h: a per-process cache of the fixed-size buffers that backend
 * answers are read into (libc and pthreads only).
 *
 * Body slices of an answer point into these buffers (no copy), so a buffer
 * lives until the client has been sent its last slice. Taking them from the
 * connection's apr allocator left every connection's allocator holding up
 * to MaxMemFree of freed buffers, and glibc's per-thread arenas growing as
 * more worker threads happened to serve a large answer: httpd's RSS crept
 * up for the first ~100,000 requests of a soak. One small shared free list
 * bounds what is kept to TF_IOBUF_KEEP buffers per process, reached as soon
 * as that many answers have been in flight at once.
 */
#ifndef TF_IOBUF_H
#define TF_IOBUF_H

#include <stddef.h>

#define TF_IOBUF_SIZE 65536u /* bytes in one buffer */
#define TF_IOBUF_KEEP 16     /* free buffers kept per process, at most */

/** @return a TF_IOBUF_SIZE buffer (a kept one if any), or NULL (no memory). */
void *tf_iobuf_get(void);

/**
 * Give a buffer back: kept for the next tf_iobuf_get() while fewer than
 * TF_IOBUF_KEEP are kept, freed otherwise. Safe from any thread; usable as
 * the free function of an apr heap bucket. NULL is ignored.
 */
void tf_iobuf_put(void *buf);

/** @return how many free buffers are kept now (tests, status). */
size_t tf_iobuf_kept(void);

#endif /* TF_IOBUF_H */
