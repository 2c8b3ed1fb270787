/*
 * replay.c: run a libFuzzer target over saved inputs, without libFuzzer.
 *
 * Usage: replay_<target> FILE|DIR...  Directories are walked recursively
 * (dot files are skipped). Every file is passed once to
 * LLVMFuzzerTestOneInput(); a violated invariant aborts the process. Files
 * that cannot be read count as failed. Prints "replay: N inputs, M failed"
 * and exits non-zero only when M > 0.
 */

#define _POSIX_C_SOURCE 200809L

#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static unsigned long inputs;
static unsigned long failed;

static void
run_file(const char *path)
{
    FILE *f;
    unsigned char *buf = NULL, *nbuf;
    size_t len = 0, cap = 0, n;

    f = fopen(path, "rb");
    if (f == NULL) {
        fprintf(stderr, "replay: %s: %s\n", path, strerror(errno));
        failed++;
        return;
    }
    for (;;) {
        if (len == cap) {
            cap = cap ? cap * 2 : 4096;
            nbuf = realloc(buf, cap);
            if (nbuf == NULL) {
                fprintf(stderr, "replay: %s: out of memory\n", path);
                free(buf);
                fclose(f);
                failed++;
                return;
            }
            buf = nbuf;
        }
        n = fread(buf + len, 1, cap - len, f);
        len += n;
        if (n == 0) {
            break;
        }
    }
    if (ferror(f)) {
        fprintf(stderr, "replay: %s: read error\n", path);
        failed++;
    }
    else {
        /* an exact-size copy, so ASan sees reads past the input */
        unsigned char *exact = malloc(len ? len : 1);

        if (exact == NULL) {
            failed++;
        }
        else {
            if (len) {
                memcpy(exact, buf, len);
            }
            inputs++;
            if (LLVMFuzzerTestOneInput(exact, len) != 0) {
                fprintf(stderr, "replay: %s: target returned non-zero\n",
                        path);
                failed++;
            }
            free(exact);
        }
    }
    free(buf);
    fclose(f);
}

static void
run_path(const char *path)
{
    struct stat st;
    DIR *dir;
    struct dirent *de;
    char *sub;
    size_t len;

    if (stat(path, &st) != 0) {
        fprintf(stderr, "replay: %s: %s\n", path, strerror(errno));
        failed++;
        return;
    }
    if (!S_ISDIR(st.st_mode)) {
        run_file(path);
        return;
    }
    dir = opendir(path);
    if (dir == NULL) {
        fprintf(stderr, "replay: %s: %s\n", path, strerror(errno));
        failed++;
        return;
    }
    while ((de = readdir(dir)) != NULL) {
        if (de->d_name[0] == '.') {
            continue;
        }
        len = strlen(path) + strlen(de->d_name) + 2;
        sub = malloc(len);
        if (sub == NULL) {
            failed++;
            continue;
        }
        snprintf(sub, len, "%s/%s", path, de->d_name);
        run_path(sub);
        free(sub);
    }
    closedir(dir);
}

int
main(int argc, char **argv)
{
    int i;

    for (i = 1; i < argc; i++) {
        run_path(argv[i]);
    }
    printf("replay: %lu inputs, %lu failed\n", inputs, failed);
    return failed ? 1 : 0;
}
