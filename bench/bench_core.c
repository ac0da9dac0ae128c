/* bench_core.c — the foundation benchmark: pce's CPU backend against its
 * peers in the same run, reported as ratios (the machine is shared and
 * noisy, so only same-run ratios mean much):
 *   - f32 matmul through a pce plan vs OpenBLAS sgemm called directly
 *     (pce's own GEMM when built without OpenBLAS), m = n = k;
 *   - elementwise add (GB/s) vs memcpy (GB/s);
 *   - per-node overhead of a chain of 1,000 tiny adds.
 * Usage: pce-bench-core [--quick] [--sizes 256,512,...] */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "gemm.h"
#include "pce.h"

#ifdef PCE_HAVE_OPENBLAS
#include <cblas.h>
#define PEER_NAME "OpenBLAS sgemm"
#else
#define PEER_NAME "pce own GEMM (no OpenBLAS in this build)"
#endif

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

typedef struct timing {
    double min, median;
    int reps;
} timing;

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* Warm-up, then repeat until min_time and min_reps; min and median. */
typedef void (*work_fn)(void *);
static timing measure(work_fn fn, void *arg, double min_time, int min_reps)
{
    enum { MAXR = 4096 };
    static double t[MAXR];
    fn(arg);
    int n = 0;
    double start = now();
    while (n < MAXR && (n < min_reps || now() - start < min_time)) {
        double t0 = now();
        fn(arg);
        t[n++] = now() - t0;
    }
    qsort(t, (size_t)n, sizeof t[0], cmp_d);
    return (timing){t[0], t[n / 2], n};
}

static void fill(float *v, size_t n)
{
    unsigned s = 12345;
    for (size_t i = 0; i < n; i++) {
        s = s * 1103515245u + 12345u;
        v[i] = (float)((s >> 9) & 0xffff) / 65536.0f - 0.5f;
    }
}

static void die(pce_context *ctx, const char *what)
{
    fprintf(stderr, "pce-bench-core: %s: %s\n", what, pce_context_last_error(ctx));
    exit(1);
}

typedef struct plan_job {
    pce_plan *plan;
} plan_job;

static void run_plan(void *arg)
{
    plan_job *j = arg;
    if (pce_plan_run(j->plan) != PCE_OK)
        exit(1);
}

typedef struct gemm_job {
    int64_t n;
    const float *a, *b;
    float *c;
} gemm_job;

static void run_peer_gemm(void *arg)
{
    gemm_job *j = arg;
#ifdef PCE_HAVE_OPENBLAS
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)j->n, (int)j->n, (int)j->n, 1.0f,
                j->a, (int)j->n, j->b, (int)j->n, 0.0f, j->c, (int)j->n);
#else
    pce_gemm_f32_own(false, false, j->n, j->n, j->n, j->a, j->n, j->b, j->n, j->c, j->n, NULL);
#endif
}

typedef struct copy_job {
    float *dst;
    const float *src;
    size_t n;
} copy_job;

static void run_memcpy(void *arg)
{
    copy_job *j = arg;
    memcpy(j->dst, j->src, j->n * sizeof(float));
}

static pce_plan *make_plan(pce_context *ctx, pce_graph *g, pce_tensor *out)
{
    pce_plan *p;
    if (pce_graph_output(g, out) != PCE_OK || pce_plan_create(ctx, g, NULL, &p) != PCE_OK)
        die(ctx, "plan");
    return p;
}

static void bench_matmul(pce_context *ctx, int64_t n, double min_time)
{
    size_t nn = (size_t)(n * n);
    float *a = malloc(nn * 4), *b = malloc(nn * 4), *c = malloc(nn * 4);
    if (!a || !b || !c)
        die(ctx, "out of memory");
    fill(a, nn);
    fill(b, nn);
    pce_graph *g;
    pce_graph_create(ctx, &g);
    int64_t d[2] = {n, n};
    pce_tensor *x = pce_graph_input(g, "a", PCE_DTYPE_F32, 2, d);
    pce_tensor *w = pce_graph_weight(g, "b", PCE_DTYPE_F32, 2, d, b);
    pce_plan *p = make_plan(ctx, g, pce_matmul(g, x, w));
    if (pce_plan_set_input(p, x, a, nn * 4) != PCE_OK)
        die(ctx, "set_input");
    plan_job pj = {p};
    gemm_job gj = {n, a, b, c};
    /* interleave the two so drift in machine load hits both */
    timing tp = measure(run_plan, &pj, min_time / 2, 3);
    timing tb = measure(run_peer_gemm, &gj, min_time / 2, 3);
    timing tp2 = measure(run_plan, &pj, min_time / 2, 3);
    timing tb2 = measure(run_peer_gemm, &gj, min_time / 2, 3);
    double mp = tp.min < tp2.min ? tp.min : tp2.min, mb = tb.min < tb2.min ? tb.min : tb2.min;
    double flops = 2.0 * (double)n * (double)n * (double)n;
    printf("matmul f32 %5lld^3    pce %8.1f GFLOP/s   %-14s %8.1f GFLOP/s   ratio %.3f\n",
           (long long)n, flops / mp * 1e-9, "peer", flops / mb * 1e-9, mb / mp);
    pce_plan_destroy(p);
    pce_graph_destroy(g);
    free(a);
    free(b);
    free(c);
}

static void bench_add(pce_context *ctx, size_t n, double min_time)
{
    float *a = malloc(n * 4), *b = malloc(n * 4), *c = malloc(n * 4);
    if (!a || !b || !c)
        die(ctx, "out of memory");
    fill(a, n);
    fill(b, n);
    pce_graph *g;
    pce_graph_create(ctx, &g);
    int64_t d[1] = {(int64_t)n};
    pce_tensor *x = pce_graph_input(g, "a", PCE_DTYPE_F32, 1, d);
    pce_tensor *y = pce_graph_weight(g, "b", PCE_DTYPE_F32, 1, d, b);
    pce_plan *p = make_plan(ctx, g, pce_add(g, x, y));
    pce_plan_set_input(p, x, a, n * 4);
    plan_job pj = {p};
    copy_job cj = {c, a, n};
    timing ta = measure(run_plan, &pj, min_time, 5);
    timing tm = measure(run_memcpy, &cj, min_time, 5);
    /* bytes moved: add reads 2 and writes 1; memcpy reads 1 and writes 1 */
    double add_gbs = 3.0 * (double)n * 4 / ta.min * 1e-9;
    double cpy_gbs = 2.0 * (double)n * 4 / tm.min * 1e-9;
    printf("add f32 %zuM elements   pce %8.1f GB/s        memcpy %8.1f GB/s        ratio %.3f\n",
           n >> 20, add_gbs, cpy_gbs, add_gbs / cpy_gbs);
    pce_plan_destroy(p);
    pce_graph_destroy(g);
    free(a);
    free(b);
    free(c);
}

static void bench_chain(pce_context *ctx, int len, int64_t elems, double min_time)
{
    pce_graph *g;
    pce_graph_create(ctx, &g);
    int64_t d[1] = {elems};
    static float w[4096], x[4096];
    fill(w, (size_t)elems);
    fill(x, (size_t)elems);
    pce_tensor *in = pce_graph_input(g, "x", PCE_DTYPE_F32, 1, d);
    pce_tensor *wt = pce_graph_weight(g, "w", PCE_DTYPE_F32, 1, d, w);
    pce_tensor *t = in;
    for (int i = 0; i < len; i++)
        t = pce_add(g, t, wt);
    pce_plan *p = make_plan(ctx, g, t);
    pce_plan_set_input(p, in, x, (size_t)elems * 4);
    pce_plan_stats st;
    pce_plan_get_stats(p, &st);
    plan_job pj = {p};
    timing tc = measure(run_plan, &pj, min_time, 20);
    printf("chain of %d adds of %lld floats: %.3f us per node (median %.3f), arena %llu bytes "
           "(one buffer per tensor: %llu)\n",
           len, (long long)elems, tc.min / len * 1e6, tc.median / len * 1e6,
           (unsigned long long)st.peak_bytes, (unsigned long long)st.naive_bytes);
    pce_plan_destroy(p);
    pce_graph_destroy(g);
}

int main(int argc, char **argv)
{
    bool quick = false;
    int64_t sizes[16] = {256, 512, 1024, 2048};
    int nsizes = 4;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--quick")) {
            quick = true;
        } else if (!strcmp(argv[i], "--sizes") && i + 1 < argc) {
            nsizes = 0;
            for (char *s = strtok(argv[++i], ","); s && nsizes < 16; s = strtok(NULL, ","))
                sizes[nsizes++] = atoll(s);
        } else {
            printf("usage: pce-bench-core [--quick] [--sizes 256,512,...]\n");
            return !strcmp(argv[i], "--help") ? 0 : 2;
        }
    }
    double min_time = quick ? 0.2 : 1.0;
    pce_context *ctx;
    if (pce_context_create(NULL, &ctx) != PCE_OK)
        return 1;
    pce_device_props props;
    pce_device_get_props(pce_device_get(ctx, 0), &props);
    printf("device %s: %s (%s)\npeer for matmul: %s\n\n", props.name, props.description,
           props.details, PEER_NAME);
    for (int i = 0; i < nsizes; i++)
        if (!quick || sizes[i] <= 1024)
            bench_matmul(ctx, sizes[i], min_time);
    bench_add(ctx, (size_t)16 << 20, min_time);
    bench_chain(ctx, 1000, 16, min_time);
    bench_chain(ctx, 1000, 1024, min_time);
    pce_context_destroy(ctx);
    return 0;
}
