/* test_gemm.c — checks pce_gemm_f32_own against a double-precision reference
 * over many shapes (1, odd, block-edge and ~1000 sizes), all transpose
 * combinations, padded leading dimensions, single-threaded and on a 2-thread
 * pool, for every microkernel this CPU can run (picked via PCE_GEMM_ISA).
 * Padding in A and B is poisoned with NaN so reading it would show up in the
 * result; C is poisoned entirely so the MxN region must be overwritten and
 * the padding past N left bit-for-bit alone. */
#define _POSIX_C_SOURCE 200809L /* setenv */

#include <check.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "gemm.h"

#define NMSE_MAX 1e-10
#define PAD 5 /* extra elements per row of every operand */

static const uint32_t poison_bits = 0x7fc0dead; /* a quiet NaN we can recognise */

static float poison(void)
{
    float f;
    memcpy(&f, &poison_bits, sizeof f);
    return f;
}

static int is_poison(float f)
{
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    return u == poison_bits;
}

static uint64_t rng_state;

/* Uniform in [-1, 1). xorshift64*: tiny and good enough for test data. */
static float rnd(void)
{
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    uint64_t r = rng_state * 0x2545f4914f6cdd1dull;
    return (float)((double)(r >> 40) / (double)(1ull << 23) - 1.0);
}

typedef struct shape {
    int64_t m, n, k;
} shape;

/* Edge sizes around the microkernel tiles (14x32, 6x16, 6x8 / 8x12) and the
 * cache blocks (MC 1024, KC 256/512, NC 256/512), plus skinny and ~1000
 * shapes. */
static const shape shapes[] = {
    {1, 1, 1},       {1, 1, 7},        {7, 1, 1},        {1, 7, 1},        {7, 7, 7},
    {2, 3, 5},       {13, 17, 19},     {14, 32, 16},     {15, 33, 17},     {33, 33, 33},
    {6, 16, 257},    {28, 64, 384},    {29, 65, 385},    {64, 48, 769},    {100, 200, 300},
    {1, 1000, 1000}, {1000, 1, 1000},  {1000, 7, 513},   {7, 1000, 999},   {33, 1031, 777},
    {1001, 33, 95},  {130, 1537, 129}, {257, 511, 1023}, {1000, 1000, 64}, {383, 385, 1000},
    {2100, 37, 70},  {1, 700, 2049},
};
#define N_SHAPES ((int)(sizeof shapes / sizeof shapes[0]))

static const char *const isas[] = {NULL, "avx2", "portable"};

static pce_threadpool *make_pool(void)
{
    pce_threadpool *pool = NULL;
    ck_assert_int_eq(pce_threadpool_create(2, NULL, &pool), PCE_OK);
    return pool;
}

/* Lays out the logical r x c matrix x in storage, transposed if asked, with
 * PAD poisoned extra elements per stored row; returns the leading dim. */
static int64_t store(const float *x, int64_t r, int64_t c, int trans, float *out)
{
    int64_t rows = trans ? c : r, cols = trans ? r : c, ld = cols + PAD;
    for (int64_t i = 0; i < rows; i++)
        for (int64_t j = 0; j < ld; j++)
            out[i * ld + j] = j >= cols ? poison() : trans ? x[j * c + i] : x[i * c + j];
    return ld;
}

/* Runs every transpose combination of one shape on both pools and checks
 * each result against a reference computed once in double. */
static void check_shape(shape s, pce_threadpool *pool2, uint64_t seed)
{
    const int64_t M = s.m, N = s.n, K = s.k, ldc = N + PAD;
    rng_state = seed * 0x9e3779b97f4a7c15ull + 1;
    float *a = malloc((size_t)(M * K + 1) * sizeof *a),
          *b = malloc((size_t)(K * N + 1) * sizeof *b);
    float *c = malloc((size_t)(M * ldc) * sizeof *c);
    double *ref = calloc((size_t)(M * N), sizeof *ref);
    ck_assert(a && b && c && ref);
    for (int64_t i = 0; i < M * K; i++)
        a[i] = rnd();
    for (int64_t i = 0; i < K * N; i++)
        b[i] = rnd();
    double ref_sq = 0.0;
    for (int64_t i = 0; i < M; i++) {
        double *row = ref + i * N;
        for (int64_t k = 0; k < K; k++) {
            double aik = a[i * K + k];
            for (int64_t j = 0; j < N; j++)
                row[j] += aik * b[k * N + j];
        }
        for (int64_t j = 0; j < N; j++)
            ref_sq += row[j] * row[j];
    }
    for (int combo = 0; combo < 8; combo++) {
        const int ta = combo & 1, tb = (combo >> 1) & 1, threaded = combo >> 2;
        /* Exact sizes, so a sanitizer build catches reads past the end. */
        float *as = malloc((size_t)((ta ? K : M) * ((ta ? M : K) + PAD)) * sizeof *as);
        float *bs = malloc((size_t)((tb ? N : K) * ((tb ? K : N) + PAD)) * sizeof *bs);
        ck_assert(as && bs);
        const int64_t lda = store(a, M, K, ta, as), ldb = store(b, K, N, tb, bs);
        for (int64_t i = 0; i < M * ldc; i++)
            c[i] = poison();
        pce_gemm_f32_own(ta, tb, M, N, K, as, lda, bs, ldb, c, ldc, threaded ? pool2 : NULL);
        free(as);
        free(bs);
        /* Tally, then assert once: every passing ck_assert costs a write(). */
        double err_sq = 0.0, max_err = 0.0;
        int64_t bad_pad = -1, bad_val = -1;
        for (int64_t i = 0; i < M; i++) {
            for (int64_t j = 0; j < ldc; j++) {
                float v = c[i * ldc + j];
                if (j >= N) {
                    if (!is_poison(v) && bad_pad < 0)
                        bad_pad = i * ldc + j;
                    continue;
                }
                if (!isfinite(v) && bad_val < 0)
                    bad_val = i * ldc + j;
                double e = fabs((double)v - ref[i * N + j]);
                err_sq += e * e;
                max_err = e > max_err ? e : max_err;
            }
        }
        ck_assert_msg(bad_pad < 0, "C padding written at offset %lld", (long long)bad_pad);
        ck_assert_msg(bad_val < 0, "C not finite at offset %lld", (long long)bad_val);
        double nmse = err_sq / (ref_sq > 0 ? ref_sq : 1.0);
        double rms = sqrt(ref_sq / (double)(M * N));
        ck_assert_msg(nmse < NMSE_MAX && max_err <= 1e-4 * rms + 1e-30,
                      "%s M=%lld N=%lld K=%lld ta=%d tb=%d threads=%d: nmse %.3g, max err %.3g "
                      "(rms %.3g)",
                      pce_gemm_own_isa(), (long long)M, (long long)N, (long long)K, ta, tb,
                      threaded ? 2 : 1, nmse, max_err, rms);
    }
    free(a);
    free(b);
    free(c);
    free(ref);
}

static void use_isa(int i)
{
    if (isas[i])
        setenv("PCE_GEMM_ISA", isas[i], 1);
    else
        unsetenv("PCE_GEMM_ISA");
}

/* One loop iteration per microkernel. */
START_TEST(test_shapes)
{
    use_isa(_i);
    const char *got = pce_gemm_own_isa();
    ck_assert(strcmp(got, "avx512") == 0 || strcmp(got, "avx2") == 0 ||
              strcmp(got, "portable") == 0);
    if (isas[_i] && strcmp(isas[_i], "portable") == 0)
        ck_assert_str_eq(got, "portable");
    pce_threadpool *pool = make_pool();
    for (int s = 0; s < N_SHAPES; s++)
        check_shape(shapes[s], pool, (uint64_t)(_i * 1000 + s));
    pce_threadpool_destroy(pool);
}
END_TEST

/* A large square product, where every cache block is full and crossed. */
START_TEST(test_large)
{
    use_isa(0);
    pce_threadpool *pool = make_pool();
    check_shape((shape){1024, 1040, 1000}, pool, 77);
    pce_threadpool_destroy(pool);
}
END_TEST

START_TEST(test_k_zero)
{
    use_isa(_i);
    pce_threadpool *pool = make_pool();
    const int64_t M = 9, N = 37, ldc = N + 3;
    float c[9 * 40], dummy = 1.0f;
    for (int t = 0; t < 4; t++) {
        for (int i = 0; i < M * ldc; i++)
            c[i] = poison();
        pce_gemm_f32_own(t & 1, t >> 1, M, N, 0, &dummy, 1, &dummy, N, c, ldc, t & 1 ? pool : NULL);
        int bad = 0;
        for (int64_t i = 0; i < M; i++)
            for (int64_t j = 0; j < ldc; j++)
                bad += j < N ? c[i * ldc + j] != 0.0f : !is_poison(c[i * ldc + j]);
        ck_assert_int_eq(bad, 0);
    }
    /* Empty outputs must touch nothing. */
    c[0] = poison();
    pce_gemm_f32_own(false, false, 0, N, 5, &dummy, 5, &dummy, N, c, ldc, pool);
    pce_gemm_f32_own(false, false, M, 0, 5, &dummy, 5, &dummy, 1, c, ldc, pool);
    ck_assert(is_poison(c[0]));
    pce_threadpool_destroy(pool);
}
END_TEST

/* The same call twice, and threaded vs not, gives bit-identical results:
 * the reduction order must not depend on the thread split. */
START_TEST(test_deterministic)
{
    use_isa(0);
    const int64_t M = 301, N = 263, K = 517;
    pce_threadpool *pool = make_pool();
    float *a = malloc((size_t)(M * K) * sizeof *a), *b = malloc((size_t)(K * N) * sizeof *b);
    float *c1 = malloc((size_t)(M * N) * sizeof *c1), *c2 = malloc((size_t)(M * N) * sizeof *c2);
    ck_assert(a && b && c1 && c2);
    rng_state = 12345;
    for (int64_t i = 0; i < M * K; i++)
        a[i] = rnd();
    for (int64_t i = 0; i < K * N; i++)
        b[i] = rnd();
    pce_gemm_f32_own(false, true, M, N, K, a, K, b, K, c1, N, NULL);
    pce_gemm_f32_own(false, true, M, N, K, a, K, b, K, c2, N, pool);
    ck_assert(memcmp(c1, c2, (size_t)(M * N) * sizeof *c1) == 0);
    free(a);
    free(b);
    free(c1);
    free(c2);
    pce_threadpool_destroy(pool);
}
END_TEST

static Suite *gemm_suite(void)
{
    Suite *s = suite_create("gemm_own");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 300); /* the double reference is the slow part */
    tcase_add_loop_test(tc, test_shapes, 0, 3);
    tcase_add_loop_test(tc, test_k_zero, 0, 3);
    tcase_add_test(tc, test_large);
    tcase_add_test(tc, test_deterministic);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(gemm_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
