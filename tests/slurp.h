/* slurp.h — a whole file read into memory, for the Check tests (a missing
 * or unreadable file fails the test). */
#ifndef PCE_TESTS_SLURP_H
#define PCE_TESTS_SLURP_H

#include <check.h>
#include <stdio.h>
#include <stdlib.h>

/* The file's bytes, NUL-terminated (free them); its length in *len if len. */
static inline char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    ck_assert_msg(f != NULL, "cannot open %s", path);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *p = malloc((size_t)n + 1);
    ck_assert_ptr_nonnull(p);
    ck_assert_uint_eq(fread(p, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    p[n] = 0;
    if (len)
        *len = (size_t)n;
    return p;
}

#endif
