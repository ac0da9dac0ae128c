/* test_quant_matmul.c — x · wᵀ and get_rows with block-quantized w on the
 * CPU: the fast kernels (8-bit activations and integer dot products, on
 * the stored rows and, where N >= 8, on the 8-row packings) against the
 * reference kernels (exact dequantization,
 * double accumulation), over shapes that cover one row (decode), a few
 * rows, prefill-sized batches, K of one block and of many, and odd N. The
 * instruction set is chosen at run time; meson runs this test again with
 * PCE_QUANT_ISA=portable, =avx2 and =avx512vnni so every path is checked
 * here. Also: shapes and layouts a quantized operand cannot have are clear
 * errors. */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pce.h"

static const pce_dtype types[] = {PCE_DTYPE_Q8_0, PCE_DTYPE_Q4_0, PCE_DTYPE_Q4_1, PCE_DTYPE_Q5_0,
                                  PCE_DTYPE_Q5_1, PCE_DTYPE_Q4_K, PCE_DTYPE_Q5_K, PCE_DTYPE_Q6_K};
#define N_TYPES (int)(sizeof types / sizeof types[0])

static uint64_t rng = 88172645463325252ull;
static float frand(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (float)((rng >> 40) * (1.0 / 16777216.0)) * 2.0f - 1.0f;
}

static float *run(pce_context *ctx, pce_graph *g, pce_tensor *x, const float *xd, pce_tensor *out,
                  bool reference)
{
    pce_plan_options o;
    pce_plan_options_init(&o);
    o.devices = "cpu0";
    o.reference_kernels = reference;
    o.poison = true;
    pce_plan *p;
    pce_status st = pce_plan_create(ctx, g, &o, &p);
    ck_assert_msg(st == PCE_OK, "plan: %s", pce_context_last_error(ctx));
    if (x)
        ck_assert_int_eq(pce_plan_set_input(p, x, xd, pce_tensor_bytes(x)), PCE_OK);
    ck_assert_msg(pce_plan_run(p) == PCE_OK, "run: %s", pce_context_last_error(ctx));
    float *v = malloc(pce_tensor_bytes(out));
    ck_assert_int_eq(pce_plan_get_output(p, out, v, pce_tensor_bytes(out)), PCE_OK);
    pce_plan_destroy(p);
    return v;
}

static double nmse(const float *a, const float *b, int64_t n)
{
    double num = 0, den = 0;
    for (int64_t i = 0; i < n; i++) {
        if (!isfinite(a[i]))
            return INFINITY;
        num += ((double)a[i] - b[i]) * ((double)a[i] - b[i]);
        den += (double)b[i] * b[i];
    }
    return num / (den > 0 ? den : 1);
}

START_TEST(matmul_fast_matches_reference)
{
    pce_dtype dt = types[_i];
    const pce_dtype_info *in = pce_dtype_get_info(dt);
    pce_context *ctx;
    ck_assert_int_eq(pce_context_create(NULL, &ctx), PCE_OK);
    /* N = 13: 8 rows from the packing and 5 from the stored rows, whose
     * four-row kernels (M = 17) the other shapes leave to the packing */
    static const int64_t shapes[][3] = {{1, 256, 7},   {1, 576, 100}, {3, 512, 33},
                                        {17, 256, 64}, {17, 512, 13}, {64, 768, 96}};
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
        int64_t M = shapes[s][0], K = shapes[s][1], N = shapes[s][2];
        if (K % in->block_size)
            continue;
        float *wf = malloc((size_t)(N * K) * sizeof *wf), *xd = malloc((size_t)(M * K) * 4);
        void *wq = malloc(pce_dtype_bytes(dt, N * K));
        for (int64_t i = 0; i < N * K; i++)
            wf[i] = frand() * (i % 97 == 0 ? 4.0f : 1.0f);
        for (int64_t i = 0; i < M * K; i++)
            xd[i] = frand() * (i % 31 == 0 ? 8.0f : 1.0f);
        ck_assert_int_eq(pce_dtype_from_f32(dt, wf, wq, N * K), PCE_OK);
        pce_graph *g;
        ck_assert_int_eq(pce_graph_create(ctx, &g), PCE_OK);
        const int64_t dx[] = {M, K}, dw[] = {N, K};
        pce_tensor *x = pce_graph_input(g, "x", PCE_DTYPE_F32, 2, dx);
        pce_tensor *w = pce_graph_weight(g, "w", dt, 2, dw, wq);
        pce_tensor *y = pce_matmul(g, x, pce_transpose(g, w));
        ck_assert_msg(y != NULL, "%s: %s", in->name, pce_graph_error(g));
        pce_graph_output(g, y);
        float *want = run(ctx, g, x, xd, y, true), *got = run(ctx, g, x, xd, y, false);
        double e = nmse(got, want, M * N);
        /* 8-bit activations (as llama.cpp quantizes them): each value is off
         * by up to half a step of amax / 127, and these rows have outliers
         * of 8x (amax ~ 8): about 3e-4 of relative error in the square. A
         * slip of one sub-block's scale or min, or of a 16-weight half of a
         * Q6_K one, costs more than 1e-2. */
        double bound = 1e-3;
        ck_assert_msg(e <= bound, "%s M=%lld K=%lld N=%lld: nmse %.3g over %.1g", in->name,
                      (long long)M, (long long)K, (long long)N, e, bound);
        free(want);
        free(got);
        pce_graph_destroy(g);
        free(wf);
        free(wq);
        free(xd);
    }
    pce_context_destroy(ctx);
}
END_TEST

START_TEST(get_rows_dequantizes_exactly)
{
    pce_dtype dt = types[_i];
    const pce_dtype_info *in = pce_dtype_get_info(dt);
    pce_context *ctx;
    ck_assert_int_eq(pce_context_create(NULL, &ctx), PCE_OK);
    int64_t R = 40, D = 512;
    float *tf = malloc((size_t)(R * D) * 4);
    void *tq = malloc(pce_dtype_bytes(dt, R * D));
    for (int64_t i = 0; i < R * D; i++)
        tf[i] = frand();
    ck_assert_int_eq(pce_dtype_from_f32(dt, tf, tq, R * D), PCE_OK);
    float *deq = malloc((size_t)(R * D) * 4);
    ck_assert_int_eq(pce_dtype_to_f32(dt, tq, deq, R * D), PCE_OK);
    pce_graph *g;
    ck_assert_int_eq(pce_graph_create(ctx, &g), PCE_OK);
    const int64_t dt2[] = {R, D}, di[] = {5};
    pce_tensor *table = pce_graph_weight(g, "table", dt, 2, dt2, tq);
    pce_tensor *ids = pce_graph_input(g, "ids", PCE_DTYPE_I32, 1, di);
    pce_tensor *rows = pce_get_rows(g, table, ids);
    ck_assert_msg(rows != NULL, "%s: %s", in->name, pce_graph_error(g));
    pce_graph_output(g, rows);
    int32_t idv[5] = {0, 39, 7, 7, 20};
    for (int ref = 0; ref < 2; ref++) {
        float *got = run(ctx, g, ids, (const float *)idv, rows, ref);
        for (int i = 0; i < 5; i++)
            ck_assert_msg(!memcmp(got + i * D, deq + idv[i] * D, (size_t)D * 4),
                          "%s row %d (%s kernels)", in->name, idv[i], ref ? "reference" : "fast");
        free(got);
    }
    pce_graph_destroy(g);
    free(tf);
    free(tq);
    free(deq);
    pce_context_destroy(ctx);
}
END_TEST

START_TEST(bad_layouts_are_errors)
{
    pce_context *ctx;
    ck_assert_int_eq(pce_context_create(NULL, &ctx), PCE_OK);
    pce_graph *g;
    ck_assert_int_eq(pce_graph_create(ctx, &g), PCE_OK);
    static uint8_t blocks[20 * 64];
    const int64_t dw[] = {8, 64}, dx[] = {2, 8};
    pce_tensor *w = pce_graph_weight(g, "w", PCE_DTYPE_Q4_1, 2, dw, blocks);
    pce_tensor *x = pce_graph_input(g, "x", PCE_DTYPE_F32, 2, dx);
    /* x [2, 8] · w [8, 64]: w read across its rows, not along them */
    ck_assert_ptr_null(pce_matmul(g, x, w));
    ck_assert_ptr_nonnull(strstr(pce_graph_error(g), "transposed"));
    pce_graph_destroy(g);
    /* elementwise ops take no quantized operands */
    ck_assert_int_eq(pce_graph_create(ctx, &g), PCE_OK);
    w = pce_graph_weight(g, "w", PCE_DTYPE_Q4_1, 2, dw, blocks);
    ck_assert_ptr_null(pce_add(g, w, w));
    pce_graph_destroy(g);
    /* a row that is not whole blocks */
    ck_assert_int_eq(pce_graph_create(ctx, &g), PCE_OK);
    const int64_t odd[] = {8, 40};
    ck_assert_ptr_null(pce_graph_weight(g, "w", PCE_DTYPE_Q4_1, 2, odd, blocks));
    ck_assert_ptr_nonnull(strstr(pce_graph_error(g), "block size"));
    pce_graph_destroy(g);
    pce_context_destroy(ctx);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("quant-matmul");
    TCase *tc = tcase_create("cpu");
    tcase_set_timeout(tc, 300);
    tcase_add_loop_test(tc, matmul_fast_matches_reference, 0, N_TYPES);
    tcase_add_loop_test(tc, get_rows_dequantizes_exactly, 0, N_TYPES);
    tcase_add_test(tc, bad_layouts_are_errors);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
