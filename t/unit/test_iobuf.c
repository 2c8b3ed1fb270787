/*
 * test_iobuf.c: the answer-buffer cache: buffers are reused, no more than
 * TF_IOBUF_KEEP are kept, and threads taking and giving back at once never
 * get the same buffer twice (each writes a pattern and checks it).
 */
#include <pthread.h>
#include <stdint.h>
#include <string.h>

#include "tf_iobuf.h"
#include "tf_test.h"

#define THREADS 8
#define ROUNDS 20000

static int clashes;
static pthread_mutex_t clash_lock = PTHREAD_MUTEX_INITIALIZER;

static void *worker(void *arg)
{
    unsigned char tag = (unsigned char)(uintptr_t)arg;
    int i, bad = 0;

    for (i = 0; i < ROUNDS; i++) {
        unsigned char *a = tf_iobuf_get(), *b = tf_iobuf_get();

        if (!a || !b) {
            bad++;
            break;
        }
        memset(a, tag, 64);
        memset(b, tag ^ 0xff, 64);
        a[TF_IOBUF_SIZE - 1] = tag; /* the whole size is ours */
        if (a[0] != tag || a[63] != tag || b[0] != (tag ^ 0xff)
            || a[TF_IOBUF_SIZE - 1] != tag) {
            bad++;
        }
        tf_iobuf_put(b);
        tf_iobuf_put(a);
    }
    pthread_mutex_lock(&clash_lock);
    clashes += bad;
    pthread_mutex_unlock(&clash_lock);
    return NULL;
}

int main(void)
{
    void *held[TF_IOBUF_KEEP + 8];
    void *first;
    pthread_t th[THREADS];
    size_t i;

    TF_CHECK("starts empty", tf_iobuf_kept() == 0);
    first = tf_iobuf_get();
    TF_CHECK("a buffer when nothing is kept", first != NULL);
    tf_iobuf_put(first);
    TF_CHECK("a given-back buffer is kept", tf_iobuf_kept() == 1);
    TF_CHECK("and handed out again", tf_iobuf_get() == first);
    TF_CHECK("taken from the cache", tf_iobuf_kept() == 0);
    tf_iobuf_put(first);

    for (i = 0; i < TF_IOBUF_KEEP + 8; i++) {
        held[i] = tf_iobuf_get();
        TF_CHECK("more buffers than are kept", held[i] != NULL);
    }
    TF_CHECK("all kept ones handed out", tf_iobuf_kept() == 0);
    for (i = 0; i < TF_IOBUF_KEEP + 8; i++) {
        tf_iobuf_put(held[i]);
    }
    TF_CHECK("no more than TF_IOBUF_KEEP kept",
             tf_iobuf_kept() == TF_IOBUF_KEEP);
    tf_iobuf_put(NULL);
    TF_CHECK("NULL is ignored", tf_iobuf_kept() == TF_IOBUF_KEEP);

    for (i = 0; i < THREADS; i++) {
        pthread_create(&th[i], NULL, worker, (void *)(uintptr_t)(i + 1));
    }
    for (i = 0; i < THREADS; i++) {
        pthread_join(th[i], NULL);
    }
    TF_CHECK("no buffer held by two threads at once", clashes == 0);
    TF_CHECK("still bounded after the threads",
             tf_iobuf_kept() <= TF_IOBUF_KEEP);
    return TF_REPORT();
}
