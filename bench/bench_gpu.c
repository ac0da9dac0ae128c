/* bench_gpu.c — the GPU figures of tests/gpu/device-check.sh, through the
 * public API, on one device (default cuda0):
 *   - f16 matmul n^3 (default 8192), y = x w^T as a model does it, with pce's
 *     own kernel and with the vendor BLAS (cuBLAS) in the same run: TFLOP/s,
 *     and the two results compared;
 *   - decode matvec: x [1, n] times w^T for w [n, n] f16: GB/s over the
 *     weight's bytes, against a plain device-to-device copy of the same
 *     bytes (pce_contiguous: read + write) as the memory ceiling.
 * Usage: pce-bench-gpu [--device cuda0] [--size 8192] [--reps 5] */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "pce.h"

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* Small random f16 values, converted by pce's own (public) conversion. */
static void fill_f16(uint16_t *v, size_t n, unsigned seed)
{
    float chunk[4096];
    for (size_t i = 0; i < n; i += 4096) {
        size_t k = n - i < 4096 ? n - i : 4096;
        for (size_t j = 0; j < k; j++) {
            seed = seed * 1664525u + 1013904223u;
            chunk[j] = ((float)(seed >> 8) / 16777216.0f - 0.5f) * 0.25f;
        }
        pce_dtype_from_f32(PCE_DTYPE_F16, chunk, v + i, (int64_t)k);
    }
}

static void die(pce_context *ctx, const char *what)
{
    fprintf(stderr, "pce-bench-gpu: %s: %s\n", what, ctx ? pce_context_last_error(ctx) : "");
    exit(1);
}

typedef struct run {
    pce_plan *p;
    double best, median;
} run;

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static void time_runs(pce_context *ctx, run *r, int reps)
{
    double t[64];
    if (reps > 64)
        reps = 64;
    if (pce_plan_run(r->p) != PCE_OK) /* warm-up */
        die(ctx, "run");
    for (int i = 0; i < reps; i++) {
        double t0 = now();
        if (pce_plan_run(r->p) != PCE_OK)
            die(ctx, "run");
        t[i] = now() - t0;
    }
    qsort(t, (size_t)reps, sizeof t[0], cmp);
    r->best = t[0];
    r->median = t[reps / 2];
}

static pce_context *open_ctx(const char *gemm)
{
    pce_context_options o;
    pce_context_options_init(&o);
    o.gpu_gemm = gemm;
    pce_context *ctx = NULL;
    if (pce_context_create(&o, &ctx) != PCE_OK)
        die(NULL, "context");
    return ctx;
}

/* y [m, n] = x [m, k] w^T for w [n, k], all f16 inputs; returns the plan. */
static pce_plan *linear(pce_context *ctx, const char *dev, int64_t m, int64_t n, int64_t k,
                        const uint16_t *w, const uint16_t *x, pce_tensor **out)
{
    pce_graph *g;
    if (pce_graph_create(ctx, &g) != PCE_OK)
        die(ctx, "graph");
    const int64_t dw[] = {n, k}, dx[] = {m, k};
    pce_tensor *tw = pce_graph_weight(g, "w", PCE_DTYPE_F16, 2, dw, w);
    pce_tensor *tx = pce_graph_input(g, "x", PCE_DTYPE_F16, 2, dx);
    *out = pce_matmul(g, tx, pce_transpose(g, tw));
    pce_graph_output(g, *out);
    pce_plan_options o;
    pce_plan_options_init(&o);
    o.device = dev;
    o.strict = true;
    pce_plan *p = NULL;
    if (pce_plan_create(ctx, g, &o, &p) != PCE_OK)
        die(ctx, "plan (matmul)");
    if (pce_plan_set_input(p, tx, x, (size_t)(m * k) * 2) != PCE_OK)
        die(ctx, "set_input");
    pce_graph_destroy(g);
    return p;
}

int main(int argc, char **argv)
{
    const char *dev = "cuda0";
    int64_t n = 8192;
    int reps = 5;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--device") && i + 1 < argc)
            dev = argv[++i];
        else if (!strcmp(argv[i], "--size") && i + 1 < argc)
            n = atoll(argv[++i]);
        else if (!strcmp(argv[i], "--reps") && i + 1 < argc)
            reps = atoi(argv[++i]);
        else {
            printf("usage: pce-bench-gpu [--device cuda0] [--size 8192] [--reps 5]\n");
            return strcmp(argv[i], "--help") ? 2 : 0;
        }
    }
    pce_context *own = open_ctx("own"), *blas = open_ctx("auto");
    pce_device *d = pce_device_find(own, dev);
    if (!d) {
        fprintf(stderr, "pce-bench-gpu: no device %s here\n", dev);
        return 2;
    }
    pce_device_props props;
    pce_device_get_props(d, &props);
    printf("device %s: %s\n  %s\n", props.name, props.description, props.details);

    size_t nn = (size_t)(n * n);
    uint16_t *w = malloc(nn * 2), *x = malloc(nn * 2);
    float *y_own = malloc(nn * 4), *y_blas = malloc(nn * 4);
    if (!w || !x || !y_own || !y_blas)
        die(NULL, "host memory");
    fill_f16(w, nn, 1);
    fill_f16(x, nn, 2);

    /* matmul n^3: own kernel vs BLAS, same inputs */
    pce_tensor *o1, *o2;
    run r_own = {linear(own, dev, n, n, n, w, x, &o1), 0, 0};
    run r_blas = {linear(blas, dev, n, n, n, w, x, &o2), 0, 0};
    time_runs(own, &r_own, reps);
    time_runs(blas, &r_blas, reps);
    if (pce_plan_get_output(r_own.p, o1, y_own, nn * 4) != PCE_OK ||
        pce_plan_get_output(r_blas.p, o2, y_blas, nn * 4) != PCE_OK)
        die(own, "get_output");
    double err = 0, ref = 0;
    for (size_t i = 0; i < nn; i++) {
        double e = fabs((double)y_own[i] - y_blas[i]);
        err = e > err || isnan(e) ? e : err;
        ref = fabs(y_blas[i]) > ref ? fabs(y_blas[i]) : ref;
    }
    double flop = 2.0 * (double)n * (double)n * (double)n;
    pce_plan_destroy(r_own.p);
    pce_plan_destroy(r_blas.p);

    /* decode matvec vs copy */
    run r_mv_own = {linear(own, dev, 1, n, n, w, x, &o1), 0, 0};
    run r_mv_blas = {linear(blas, dev, 1, n, n, w, x, &o2), 0, 0};
    time_runs(own, &r_mv_own, reps * 4);
    time_runs(blas, &r_mv_blas, reps * 4);
    pce_graph *g;
    pce_graph_create(own, &g);
    const int64_t dw[] = {n, n};
    pce_tensor *cin = pce_graph_input(g, "w", PCE_DTYPE_F16, 2, dw);
    pce_tensor *cout = pce_contiguous(g, pce_reshape(g, cin, 2, dw));
    pce_graph_output(g, cout);
    pce_plan_options po;
    pce_plan_options_init(&po);
    po.device = dev;
    po.strict = true;
    run r_copy = {NULL, 0, 0};
    if (pce_plan_create(own, g, &po, &r_copy.p) != PCE_OK)
        die(own, "plan (copy)");
    pce_plan_set_input(r_copy.p, cin, w, nn * 2);
    time_runs(own, &r_copy, reps * 4);
    double wbytes = (double)nn * 2;

    printf("\n%-34s %12s %12s\n", "benchmark", "median", "best");
    printf("%-34s %9.1f TF %9.1f TF\n", "matmul f16 n^3, pce kernel", flop / r_own.median / 1e12,
           flop / r_own.best / 1e12);
    printf("%-34s %9.1f TF %9.1f TF\n", "matmul f16 n^3, vendor BLAS", flop / r_blas.median / 1e12,
           flop / r_blas.best / 1e12);
    printf("%-34s %12.3f\n", "  pce / BLAS (median)", r_blas.median / r_own.median);
    printf("%-34s %12.2e\n", "  max |pce - BLAS| / max |BLAS|", ref > 0 ? err / ref : err);
    printf("%-34s %9.0f GB/s %7.0f GB/s\n", "matvec f16 n x n, pce kernel",
           wbytes / r_mv_own.median / 1e9, wbytes / r_mv_own.best / 1e9);
    printf("%-34s %9.0f GB/s %7.0f GB/s\n", "matvec f16 n x n, vendor BLAS",
           wbytes / r_mv_blas.median / 1e9, wbytes / r_mv_blas.best / 1e9);
    printf("%-34s %9.0f GB/s %7.0f GB/s\n", "copy n x n f16 (read + write)",
           2 * wbytes / r_copy.median / 1e9, 2 * wbytes / r_copy.best / 1e9);
    printf("%-34s %12.3f\n", "  matvec pce / copy (median)",
           (wbytes / r_mv_own.median) / (2 * wbytes / r_copy.median));
    printf("(n = %lld, %d reps; TF = TFLOP/s)\n", (long long)n, reps);
    pce_plan_destroy(r_mv_own.p);
    pce_plan_destroy(r_mv_blas.p);
    pce_plan_destroy(r_copy.p);
    pce_graph_destroy(g);
    free(w);
    free(x);
    free(y_own);
    free(y_blas);
    pce_context_destroy(own);
    pce_context_destroy(blas);
    return err / (ref > 0 ? ref : 1) > 1e-2 ? 3 : 0;
}
