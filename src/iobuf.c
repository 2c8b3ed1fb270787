/*
 * iobuf.c: the per-process cache of answer buffers (see tf_iobuf.h).
 *
 * A static mutex and array, never destroyed: buckets that point into a
 * buffer may be freed while the child's pools are being torn down, after
 * any cleanup we could register had run. What is kept at exit is reclaimed
 * with the process.
 */
#include <pthread.h>
#include <stdlib.h>

#include "tf_iobuf.h"

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static void *kept[TF_IOBUF_KEEP];
static size_t nkept;

void *tf_iobuf_get(void)
{
    void *buf = NULL;

    pthread_mutex_lock(&lock);
    if (nkept > 0) {
        buf = kept[--nkept];
    }
    pthread_mutex_unlock(&lock);
    return buf ? buf : malloc(TF_IOBUF_SIZE);
}

void tf_iobuf_put(void *buf)
{
    if (!buf) {
        return;
    }
    pthread_mutex_lock(&lock);
    if (nkept < TF_IOBUF_KEEP) {
        kept[nkept++] = buf;
        buf = NULL;
    }
    pthread_mutex_unlock(&lock);
    free(buf);
}

size_t tf_iobuf_kept(void)
{
    size_t n;

    pthread_mutex_lock(&lock);
    n = nkept;
    pthread_mutex_unlock(&lock);
    return n;
}
