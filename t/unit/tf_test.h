/*
 * tf_test.h: minimal test helper (in the style of redis testhelp.h).
 *
 * TF_CHECK(desc, cond) counts a pass or a failure, printing failures with
 * file:line. TF_REPORT() prints "N passed, M failed" (CI parses that line)
 * and evaluates to the exit status: 0 only when nothing failed.
 */
#ifndef TF_TEST_H
#define TF_TEST_H

#include <stdio.h>

static int tf_test_passed = 0;
static int tf_test_failed = 0;

#define TF_CHECK(desc, cond) \
    do { \
        if (cond) { \
            tf_test_passed++; \
        } \
        else { \
            tf_test_failed++; \
            printf("FAIL %s:%d: %s (%s)\n", __FILE__, __LINE__, (desc), \
                   #cond); \
        } \
    } while (0)

#define TF_REPORT() \
    (printf("%d passed, %d failed\n", tf_test_passed, tf_test_failed), \
     fflush(stdout), tf_test_failed ? 1 : 0)

#endif /* TF_TEST_H */
