/* mlp.c — embeds pce through pce.h only: a two-layer perceptron
 *
 *     y = W2 · gelu(W1 · x + b1) + b2      x [4, 8], hidden 16, y [4, 3]
 *
 * with made-up deterministic weights held in host arrays (borrowed by the
 * graph, not copied), planned once on the default device and run for two
 * input batches. Each result is checked against the same MLP computed in
 * plain C; the program exits 1 on any error or mismatch.
 *
 *     cc -std=c11 -Wall -Wextra mlp.c $(pkg-config --cflags --libs pce) -lm
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include <pce.h>

enum { BATCH = 4, IN = 8, HIDDEN = 16, OUT = 3, RUNS = 2 };

#define TOLERANCE 1e-4

/* Weights as a model file would hold them: W [out, in], row-major. They must
 * stay valid while the graph and its plans exist, hence static storage. */
static float w1[HIDDEN][IN], b1[HIDDEN], w2[OUT][HIDDEN], b2[OUT];

/* Stops the program when a pce call failed, saying which and why. */
static void check(pce_context *ctx, pce_status status, const char *what)
{
    if (status == PCE_OK)
        return;
    fprintf(stderr, "mlp: %s failed: %s: %s\n", what, pce_status_name(status),
            ctx ? pce_context_last_error(ctx) : "(no context)");
    exit(1);
}

/* A small deterministic generator: values in [-1, 1). */
static float next_value(uint32_t *state)
{
    *state = *state * 1664525u + 1013904223u;
    return (float)((double)(*state >> 8) / 16777216.0 * 2.0 - 1.0);
}

static void fill(float *v, int n, float scale, uint32_t *state)
{
    for (int i = 0; i < n; i++)
        v[i] = scale * next_value(state);
}

/* GELU, tanh approximation (the one pce_gelu computes). */
static double gelu_ref(double x)
{
    const double k = 0.7978845608028654; /* sqrt(2 / pi) */
    return 0.5 * x * (1.0 + tanh(k * (x + 0.044715 * x * x * x)));
}

/* The same MLP in plain C, accumulating in double. */
static void mlp_ref(const float x[BATCH][IN], double y[BATCH][OUT])
{
    for (int b = 0; b < BATCH; b++) {
        double h[HIDDEN];
        for (int j = 0; j < HIDDEN; j++) {
            double acc = b1[j];
            for (int i = 0; i < IN; i++)
                acc += (double)w1[j][i] * x[b][i];
            h[j] = gelu_ref(acc);
        }
        for (int k = 0; k < OUT; k++) {
            double acc = b2[k];
            for (int j = 0; j < HIDDEN; j++)
                acc += (double)w2[k][j] * h[j];
            y[b][k] = acc;
        }
    }
}

int main(void)
{
    uint32_t seed = 12345u;
    fill(&w1[0][0], HIDDEN * IN, 0.35f, &seed); /* about 1 / sqrt(IN) */
    fill(b1, HIDDEN, 0.1f, &seed);
    fill(&w2[0][0], OUT * HIDDEN, 0.25f, &seed); /* 1 / sqrt(HIDDEN) */
    fill(b2, OUT, 0.1f, &seed);

    pce_context *ctx = NULL;
    check(NULL, pce_context_create(NULL, &ctx), "pce_context_create");

    /* Build the graph. Builder calls return NULL on a bad call and leave a
     * sticky error in the graph, so one check after building is enough. */
    pce_graph *g = NULL;
    check(ctx, pce_graph_create(ctx, &g), "pce_graph_create");

    const int64_t x_dims[2] = {BATCH, IN};
    const int64_t w1_dims[2] = {HIDDEN, IN}, b1_dims[1] = {HIDDEN};
    const int64_t w2_dims[2] = {OUT, HIDDEN}, b2_dims[1] = {OUT};

    pce_tensor *x = pce_graph_input(g, "x", PCE_DTYPE_F32, 2, x_dims);
    pce_tensor *tw1 = pce_graph_weight(g, "w1", PCE_DTYPE_F32, 2, w1_dims, w1);
    pce_tensor *tb1 = pce_graph_weight(g, "b1", PCE_DTYPE_F32, 1, b1_dims, b1);
    pce_tensor *tw2 = pce_graph_weight(g, "w2", PCE_DTYPE_F32, 2, w2_dims, w2);
    pce_tensor *tb2 = pce_graph_weight(g, "b2", PCE_DTYPE_F32, 1, b2_dims, b2);

    /* x [4, 8] · W1^T [8, 16] -> [4, 16]; b1 [16] broadcasts over the batch. */
    pce_tensor *h = pce_gelu(g, pce_add(g, pce_matmul(g, x, pce_transpose(g, tw1)), tb1));
    pce_tensor *y = pce_add(g, pce_matmul(g, h, pce_transpose(g, tw2)), tb2);
    if (pce_graph_status(g) != PCE_OK) {
        fprintf(stderr, "mlp: building the graph failed: %s: %s\n",
                pce_status_name(pce_graph_status(g)), pce_graph_error(g));
        return 1;
    }
    check(ctx, pce_tensor_set_name(y, "y"), "pce_tensor_set_name");
    check(ctx, pce_graph_output(g, y), "pce_graph_output");

    /* Plan once (device NULL: the best available device), run many times. */
    pce_plan_options opts;
    pce_plan_options_init(&opts);
    pce_plan *plan = NULL;
    check(ctx, pce_plan_create(ctx, g, &opts, &plan), "pce_plan_create");

    printf("mlp: y = W2 . gelu(W1 . x + b1) + b2, x [%d, %d], hidden %d, y [%d, %d]\n", BATCH, IN,
           HIDDEN, BATCH, OUT);

    double max_diff = 0.0;
    for (int run = 0; run < RUNS; run++) {
        float xv[BATCH][IN];
        fill(&xv[0][0], BATCH * IN, 1.0f, &seed);

        check(ctx, pce_plan_set_input(plan, x, xv, sizeof xv), "pce_plan_set_input");
        check(ctx, pce_plan_run(plan), "pce_plan_run");
        float yv[BATCH][OUT];
        check(ctx, pce_plan_get_output(plan, y, yv, sizeof yv), "pce_plan_get_output");

        double yr[BATCH][OUT];
        mlp_ref((const float(*)[IN])xv, yr);

        printf("run %d:\n", run + 1);
        for (int b = 0; b < BATCH; b++) {
            printf("  y[%d] =", b);
            for (int k = 0; k < OUT; k++) {
                printf(" %10.6f", yv[b][k]);
                double d = fabs((double)yv[b][k] - yr[b][k]);
                if (isnan(d) || d > max_diff) /* a NaN sticks */
                    max_diff = d;
            }
            printf("\n");
        }
    }

    pce_plan_stats stats;
    check(ctx, pce_plan_get_stats(plan, &stats), "pce_plan_get_stats");
    printf("plan: %lld compute nodes, %llu activation bytes (%llu without reuse)\n",
           (long long)stats.nodes, (unsigned long long)stats.peak_bytes,
           (unsigned long long)stats.naive_bytes);

    pce_plan_destroy(plan);
    pce_graph_destroy(g);
    pce_context_destroy(ctx);

    printf("max |pce - plain C| = %.3g (tolerance %g)\n", max_diff, TOLERANCE);
    if (!(max_diff <= TOLERANCE)) {
        fprintf(stderr, "mlp: pce and plain C disagree\n");
        return 1;
    }
    printf("mlp: ok\n");
    return 0;
}
