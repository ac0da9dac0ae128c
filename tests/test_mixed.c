/* test_mixed.c — real mixed plans on cpu0 + vulkan0 (lavapipe in CI): a
 * Llama-style decoder layer (RMS norm, q/k/v projections, RoPE, causal
 * attention, output projection, SwiGLU MLP, a KV-cache write) planned on
 * Vulkan with RoPE forced off it by a profile switch ([ops] disable = rope
 * in a user profile on PCE_PROFILE_PATH), run twice with new inputs, and
 * compared with the same graph planned on cpu0 alone within the
 * conformance threshold for f32. Skips (77) without a Vulkan device unless
 * PCE_REQUIRE_BACKENDS names vulkan. Public API only. */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "pce.h"
#include "vulkan_probe.h"

enum { T = 6, D = 64, H = 4, DH = 16, FF = 96, S = 16 };

typedef struct layer {
    pce_graph *g;
    pce_tensor *x, *pos, *kcache, *y, *kc, *q_rope, *k_rope, *attn_p;
    float *w[9];
} layer;

static void fill(float *v, int64_t n, float seed, float amp)
{
    for (int64_t i = 0; i < n; i++)
        v[i] = amp * sinf(seed * 1.7f + 0.61f * (float)i) * cosf(0.13f * (float)i + seed);
}

static pce_tensor *weight(layer *l, int i, const char *name, int64_t rows, int64_t cols)
{
    int64_t n = rows * cols;
    l->w[i] = malloc((size_t)n * sizeof(float));
    fill(l->w[i], n, (float)i + 1, cols > 1 ? 1.0f / sqrtf((float)cols) : 1.0f);
    if (cols == 1) /* norm weights near 1 */
        for (int64_t k = 0; k < n; k++)
            l->w[i][k] += 1.0f;
    const int64_t d2[] = {rows, cols}, d1[] = {rows};
    return pce_graph_weight(l->g, name, PCE_DTYPE_F32, cols == 1 ? 1 : 2, cols == 1 ? d1 : d2,
                            l->w[i]);
}

static pce_tensor *linear(pce_graph *g, pce_tensor *x, pce_tensor *w)
{
    return pce_matmul(g, x, pce_transpose(g, w));
}

static void build(pce_context *ctx, layer *l)
{
    memset(l, 0, sizeof *l);
    ck_assert_int_eq(pce_graph_create(ctx, &l->g), PCE_OK);
    pce_graph *g = l->g;
    const int64_t dx[] = {T, D}, dp[] = {T}, dc[] = {S, D};
    l->x = pce_graph_input(g, "x", PCE_DTYPE_F32, 2, dx);
    l->pos = pce_graph_input(g, "pos", PCE_DTYPE_I32, 1, dp);
    l->kcache = pce_graph_input(g, "kcache", PCE_DTYPE_F32, 2, dc);
    pce_tensor *an = weight(l, 0, "attn_norm", D, 1), *wq = weight(l, 1, "wq", D, D),
               *wk = weight(l, 2, "wk", D, D), *wv = weight(l, 3, "wv", D, D),
               *wo = weight(l, 4, "wo", D, D), *fn = weight(l, 5, "ffn_norm", D, 1),
               *wg = weight(l, 6, "wg", FF, D), *wu = weight(l, 7, "wu", FF, D),
               *wd = weight(l, 8, "wd", D, FF);
    const int64_t thd[] = {T, H, DH}, td[] = {T, D};
    pce_tensor *h = pce_rms_norm(g, l->x, an, 1e-5f);
    pce_tensor *q = pce_reshape(g, linear(g, h, wq), 3, thd);
    pce_tensor *k = pce_reshape(g, linear(g, h, wk), 3, thd);
    pce_tensor *v = pce_reshape(g, linear(g, h, wv), 3, thd);
    l->q_rope = pce_rope(g, q, l->pos, DH, 10000.0f, PCE_ROPE_NEOX);
    l->k_rope = pce_rope(g, k, l->pos, DH, 10000.0f, PCE_ROPE_NEOX);
    pce_tensor_set_name(l->q_rope, "q_rope");
    pce_tensor_set_name(l->k_rope, "k_rope");
    l->kc = pce_set_rows(g, l->kcache, pce_reshape(g, l->k_rope, 2, td), l->pos);
    pce_tensor_set_name(l->kc, "kc");
    const int p_htd[] = {1, 0, 2}, p_hdt[] = {1, 2, 0};
    pce_tensor *scores = pce_matmul(g, pce_permute(g, l->q_rope, p_htd),
                                    pce_permute(g, l->k_rope, p_hdt)); /* [H, T, T] */
    l->attn_p = pce_softmax(g, pce_causal_mask(g, scores, 0), NULL, 1.0f / sqrtf((float)DH));
    pce_tensor *o = pce_matmul(g, l->attn_p, pce_permute(g, v, p_htd)); /* [H, T, DH] */
    o = pce_reshape(g, pce_contiguous(g, pce_permute(g, o, p_htd)), 2, td);
    pce_tensor *x2 = pce_add(g, l->x, linear(g, o, wo));
    pce_tensor *h2 = pce_rms_norm(g, x2, fn, 1e-5f);
    pce_tensor *mlp = linear(g, pce_swiglu(g, linear(g, h2, wg), linear(g, h2, wu)), wd);
    l->y = pce_add(g, x2, mlp);
    pce_tensor_set_name(l->y, "y");
    ck_assert_msg(pce_graph_status(g) == PCE_OK, "graph: %s", pce_graph_error(g));
    ck_assert_int_eq(pce_graph_output(g, l->y), PCE_OK);
    ck_assert_int_eq(pce_graph_output(g, l->kc), PCE_OK);
}

static void destroy(layer *l)
{
    pce_graph_destroy(l->g);
    for (int i = 0; i < 9; i++)
        free(l->w[i]);
}

typedef struct result {
    float y[T * D], kc[S * D];
} result;

/* Two runs: positions 0..T-1, then T..2T-1 with new x; the cache keeps the
 * first run's rows. */
static void run_twice(pce_context *ctx, layer *l, pce_plan *p, result out[2])
{
    float zero[S * D] = {0};
    ck_assert_int_eq(pce_plan_set_input(p, l->kcache, zero, sizeof zero), PCE_OK);
    for (int r = 0; r < 2; r++) {
        float x[T * D];
        int32_t pos[T];
        fill(x, T * D, 10.0f + (float)r, 1.0f);
        for (int t = 0; t < T; t++)
            pos[t] = r * T + t;
        ck_assert_int_eq(pce_plan_set_input(p, l->x, x, sizeof x), PCE_OK);
        ck_assert_int_eq(pce_plan_set_input(p, l->pos, pos, sizeof pos), PCE_OK);
        pce_status st = pce_plan_run(p);
        ck_assert_msg(st == PCE_OK, "run: %s", pce_context_last_error(ctx));
        ck_assert_int_eq(pce_plan_get_output(p, l->y, out[r].y, sizeof out[r].y), PCE_OK);
        ck_assert_int_eq(pce_plan_get_output(p, l->kc, out[r].kc, sizeof out[r].kc), PCE_OK);
    }
}

/* Normalised mean squared error; the conformance suite's f32 bound. */
static void close_enough(const float *got, const float *want, int n, const char *what)
{
    double num = 0, den = 0;
    for (int i = 0; i < n; i++) {
        ck_assert_msg(isfinite(got[i]), "%s[%d] is %g", what, i, got[i]);
        double d = (double)got[i] - want[i];
        num += d * d;
        den += (double)want[i] * want[i];
    }
    double nmse = num / (den > 0 ? den : 1);
    ck_assert_msg(nmse <= 1e-9, "%s: nmse %.3g over 1e-9", what, nmse);
}

static pce_context *context(void)
{
    pce_context *ctx;
    ck_assert_int_eq(pce_context_create(NULL, &ctx), PCE_OK);
    pce_context_set_log(ctx, PCE_LOG_ERROR, NULL, NULL);
    return ctx;
}

static pce_plan *plan(pce_context *ctx, layer *l, const char *devices, bool strict)
{
    pce_plan_options o;
    pce_plan_options_init(&o);
    o.devices = devices;
    o.strict = strict;
    o.poison = true;
    pce_plan *p = NULL;
    pce_status st = pce_plan_create(ctx, l->g, &o, &p);
    ck_assert_msg(st == PCE_OK, "plan on %s: %s", devices, pce_context_last_error(ctx));
    return p;
}

static char profile_dir[64];

/* A user profile that takes RoPE off every Vulkan device. */
static void rope_off_vulkan(void)
{
    snprintf(profile_dir, sizeof profile_dir, "/tmp/pce-mixed-%d", (int)getpid());
    mkdir(profile_dir, 0700);
    char path[128];
    snprintf(path, sizeof path, "%s/no-rope-on-vulkan.ini", profile_dir);
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fputs("; test: RoPE forced off Vulkan\n[profile]\nname = test-no-rope-on-vulkan\n"
          "description = test profile\npriority = 50\n\n[match]\nbackend = vulkan\n\n"
          "[ops]\ndisable = rope\n",
          f);
    fclose(f);
    setenv("PCE_PROFILE_PATH", profile_dir, 1);
}

static void cleanup_profile(void)
{
    char path[128];
    snprintf(path, sizeof path, "%s/no-rope-on-vulkan.ini", profile_dir);
    unlink(path);
    rmdir(profile_dir);
}

START_TEST(decoder_layer_all_on_vulkan)
{
    pce_context *ctx = context();
    layer l;
    build(ctx, &l);
    result want[2], got[2];
    pce_plan *ref = plan(ctx, &l, "cpu0", true);
    run_twice(ctx, &l, ref, want);
    pce_plan *p = plan(ctx, &l, "vulkan0,cpu0", false);
    pce_plan_stats st;
    pce_plan_get_stats(p, &st);
    ck_assert_int_eq(st.fallbacks, 0);
    ck_assert_int_eq(st.segments, 1);
    run_twice(ctx, &l, p, got);
    for (int r = 0; r < 2; r++) {
        close_enough(got[r].y, want[r].y, T * D, "y");
        close_enough(got[r].kc, want[r].kc, S * D, "kcache");
    }
    pce_plan_destroy(ref);
    pce_plan_destroy(p);
    destroy(&l);
    pce_context_destroy(ctx);
}
END_TEST

START_TEST(decoder_layer_rope_forced_off_vulkan)
{
    rope_off_vulkan();
    pce_context *ctx = context();
    layer l;
    build(ctx, &l);
    result want[2], got[2];
    pce_plan *ref = plan(ctx, &l, "cpu0", true);
    run_twice(ctx, &l, ref, want);
    pce_plan *p = plan(ctx, &l, "vulkan0,cpu0", false);
    ck_assert_str_eq(pce_plan_tensor_device(p, l.q_rope), "cpu0");
    ck_assert_str_eq(pce_plan_tensor_device(p, l.k_rope), "cpu0");
    ck_assert_str_eq(pce_plan_tensor_device(p, l.attn_p), "vulkan0");
    ck_assert_str_eq(pce_plan_tensor_device(p, l.y), "vulkan0");
    pce_plan_stats st;
    pce_plan_get_stats(p, &st);
    ck_assert_int_eq(st.fallbacks, 2);
    ck_assert_int_ge(st.segments, 3);
    ck_assert_int_gt(st.copies, 0);
    size_t len;
    pce_plan_explain(p, NULL, 0, &len);
    char *txt = malloc(len + 1);
    pce_plan_explain(p, txt, len + 1, NULL);
    if (getenv("PCE_TEST_SHOW"))
        fputs(txt, stdout);
    ck_assert_msg(strstr(txt, "fallback: vulkan0 cannot: [ops] disable lists rope") &&
                      strstr(txt, "no-rope-on-vulkan.ini:11"),
                  "%s", txt);
    free(txt);
    run_twice(ctx, &l, p, got);
    for (int r = 0; r < 2; r++) {
        close_enough(got[r].y, want[r].y, T * D, "y");
        close_enough(got[r].kc, want[r].kc, S * D, "kcache");
    }
    /* strict placement refuses, naming the node, op, dtype and device */
    pce_plan_options o;
    pce_plan_options_init(&o);
    o.devices = "vulkan0,cpu0";
    o.strict = true;
    pce_plan *sp = NULL;
    ck_assert_int_eq(pce_plan_create(ctx, l.g, &o, &sp), PCE_ERR_UNSUPPORTED);
    const char *msg = pce_context_last_error(ctx);
    ck_assert_msg(strstr(msg, "rope f32") && strstr(msg, "vulkan0") && strstr(msg, "[ops] disable"),
                  "%s", msg);
    pce_plan_destroy(ref);
    pce_plan_destroy(p);
    destroy(&l);
    pce_context_destroy(ctx);
    cleanup_profile();
}
END_TEST

int main(void)
{
    int have = vulkan_present();
    if (have < 0)
        return EXIT_FAILURE;
    if (!have) {
        printf("no vulkan0 here%s\n",
               vulkan_required() ? " but PCE_REQUIRE_BACKENDS needs it" : ": SKIP");
        return vulkan_required() ? EXIT_FAILURE : 77;
    }
    Suite *s = suite_create("mixed");
    TCase *tc = tcase_create("cpu0+vulkan0");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, decoder_layer_all_on_vulkan);
    tcase_add_test(tc, decoder_layer_rope_forced_off_vulkan);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
