/* bench_gemm_own.c — compares pce_gemm_f32_own with OpenBLAS cblas_sgemm on
 * square sizes, single-threaded and on 2 threads, reporting best-of-N
 * GFLOP/s (the machine is shared, so the best run is the least disturbed).
 * Standalone; build with e.g.
 *   gcc -std=c11 -O2 -I core/include -I backends/cpu bench/bench_gemm_own.c \
 *     backends/cpu/gemm_own.c backends/cpu/threadpool.c \
 *     $(pkg-config --cflags --libs openblas) -lpthread -lm -o /tmp/bench_gemm
 * Usage: bench_gemm_own [size...] [-t ta tb] [-r batches] [-1]
 *   default sizes 256 512 1024 2048; -1 skips the 2-thread runs. */
#define _POSIX_C_SOURCE 200809L /* clock_gettime */

#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "gemm.h"

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

typedef struct run {
    int n, ta, tb;
    const float *a, *b;
    float *c;
    pce_threadpool *pool; /* own only */
} run;

static void call_own(const run *r)
{
    pce_gemm_f32_own(r->ta, r->tb, r->n, r->n, r->n, r->a, r->n, r->b, r->n, r->c, r->n, r->pool);
}

static void call_blas(const run *r)
{
    cblas_sgemm(CblasRowMajor, r->ta ? CblasTrans : CblasNoTrans, r->tb ? CblasTrans : CblasNoTrans,
                r->n, r->n, r->n, 1.0f, r->a, r->n, r->b, r->n, 0.0f, r->c, r->n);
}

/* Best GFLOP/s over repeated timed batches of about 0.1 s each. */
static double best_gflops(void (*fn)(const run *), const run *r, int batches)
{
    double flops = 2.0 * r->n * r->n * (double)r->n, best = 0.0;
    fn(r); /* warm up: page faults, thread start */
    int reps = 1;
    double t0 = now();
    fn(r);
    double one = now() - t0;
    if (one < 0.1)
        reps = (int)(0.1 / (one > 1e-7 ? one : 1e-7)) + 1;
    for (int b = 0; b < batches; b++) {
        t0 = now();
        for (int i = 0; i < reps; i++)
            fn(r);
        double g = flops * reps / (now() - t0) / 1e9;
        best = g > best ? g : best;
    }
    return best;
}

int main(int argc, char **argv)
{
    int sizes[16], n_sizes = 0, ta = 0, tb = 0, batches = 7, single = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "-t") == 0 && i + 2 < argc) {
            ta = atoi(argv[++i]);
            tb = atoi(argv[++i]);
        } else if (strcmp(argv[i], "-r") == 0 && i + 1 < argc) {
            batches = atoi(argv[++i]);
        } else if (strcmp(argv[i], "-1") == 0) {
            single = 1;
        } else if (n_sizes < 16) {
            sizes[n_sizes++] = atoi(argv[i]);
        }
    }
    if (n_sizes == 0) {
        const int def[] = {256, 512, 1024, 2048};
        memcpy(sizes, def, sizeof def);
        n_sizes = 4;
    }
    pce_threadpool *pool2 = NULL;
    if (pce_threadpool_create(2, NULL, &pool2) != PCE_OK)
        return 1;
    printf("own isa %s, ta=%d tb=%d\n", pce_gemm_own_isa(), ta, tb);
    printf("%6s %10s %10s %7s %10s %10s %7s\n", "n", "own 1t", "blas 1t", "ratio", "own 2t",
           "blas 2t", "ratio");
    for (int s = 0; s < n_sizes; s++) {
        int n = sizes[s];
        size_t sz = (size_t)n * (size_t)n;
        float *a = malloc(sz * sizeof *a), *b = malloc(sz * sizeof *b), *c = malloc(sz * sizeof *c);
        if (!a || !b || !c)
            return 1;
        for (size_t i = 0; i < sz; i++) {
            a[i] = (float)rand() / (float)RAND_MAX - 0.5f;
            b[i] = (float)rand() / (float)RAND_MAX - 0.5f;
        }
        run r = {n, ta, tb, a, b, c, NULL};
        openblas_set_num_threads(1);
        double own1 = best_gflops(call_own, &r, batches);
        double blas1 = best_gflops(call_blas, &r, batches);
        double own2 = 0.0, blas2 = 0.0;
        if (!single) {
            r.pool = pool2;
            openblas_set_num_threads(2);
            own2 = best_gflops(call_own, &r, batches);
            blas2 = best_gflops(call_blas, &r, batches);
        }
        printf("%6d %10.1f %10.1f %7.2f", n, own1, blas1, own1 / blas1);
        if (!single)
            printf(" %10.1f %10.1f %7.2f", own2, blas2, own2 / blas2);
        printf("\n");
        fflush(stdout);
        free(a);
        free(b);
        free(c);
    }
    pce_threadpool_destroy(pool2);
    return 0;
}
