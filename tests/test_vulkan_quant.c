/* test_vulkan_quant.c — block-quantized weights on Vulkan (qgemv, qmatmul,
 * get_rows from a quantized table), through the public API: every type
 * against the CPU reference kernels (exact dequantization, double
 * accumulation) with strict placement on vulkan0, so a node that fell back
 * would fail the plan. x · wᵀ over M in {1, 5, 64} (the matrix-vector
 * kernel for 1 and 5, one partial chunk of 4 rows of x, and the tiles), K in {256, 576, 1024} (576
 * only for the 32-weight types: a K-quant row is whole super-blocks), N in {7, 100}; f16 and bf16
 * activations, a transposed x, batched and broadcast weights, and a weight
 * view whose rows start 2 bytes past a word. get_rows must be bit-exact.
 * Runs with the validation layer when PCE_VULKAN_VALIDATION=1 (as meson
 * runs it) and fails on any message. SKIP (77) without vulkan0 unless
 * PCE_REQUIRE_BACKENDS names vulkan. PCE_SEED reproduces a run. */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "pce.h"
#include "vulkan_probe.h"

static const pce_dtype types[] = {PCE_DTYPE_Q8_0, PCE_DTYPE_Q4_0, PCE_DTYPE_Q4_1, PCE_DTYPE_Q5_0,
                                  PCE_DTYPE_Q5_1, PCE_DTYPE_Q4_K, PCE_DTYPE_Q5_K, PCE_DTYPE_Q6_K};
#define N_TYPES (int)(sizeof types / sizeof types[0])

static uint64_t seed, rng;
static int validation_messages;
static pce_context *ctx;

static float frand(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (float)((rng >> 40) * (1.0 / 16777216.0)) * 2.0f - 1.0f;
}

static void on_log(void *user, pce_log_level level, const char *msg)
{
    (void)user;
    if (level <= PCE_LOG_WARN)
        fprintf(stderr, "log %d: %s\n", (int)level, msg);
    if (strstr(msg, "vulkan validation") || strstr(msg, "VK_LAYER"))
        validation_messages++;
}

static void setup(void)
{
    pce_context_options o;
    pce_context_options_init(&o);
    o.log_fn = on_log;
    o.log_level = PCE_LOG_WARN;
    ck_assert_int_eq(pce_context_create(&o, &ctx), PCE_OK);
    ck_assert_ptr_nonnull(pce_device_find(ctx, "vulkan0"));
    validation_messages = 0;
}

/* fresh inputs per test and type, reproducible from the seed */
static void seed_rng(int test, int i)
{
    rng = (seed + 1) * 0x9e3779b97f4a7c15ull + (uint64_t)(16 * test + i + 1);
}

static void teardown(void)
{
    pce_context_destroy(ctx);
    ctx = NULL;
    ck_assert_int_eq(validation_messages, 0);
}

/* Runs g once on vulkan0 (strict) or with the CPU reference kernels; the
 * output is returned (malloc'd), the plan's stats in st when asked. */
static float *run(pce_graph *g, pce_tensor *x, const void *xd, pce_tensor *out, bool vulkan,
                  pce_plan_stats *st)
{
    pce_plan_options o;
    pce_plan_options_init(&o);
    o.devices = vulkan ? "vulkan0" : "cpu0";
    o.strict = vulkan;
    o.reference_kernels = !vulkan;
    o.poison = true;
    pce_plan *p;
    pce_status s = pce_plan_create(ctx, g, &o, &p);
    ck_assert_msg(s == PCE_OK, "plan on %s: %s", o.devices, pce_context_last_error(ctx));
    ck_assert_int_eq(pce_plan_set_input(p, x, xd, pce_tensor_bytes(x)), PCE_OK);
    ck_assert_msg(pce_plan_run(p) == PCE_OK, "run on %s: %s", o.devices,
                  pce_context_last_error(ctx));
    float *v = malloc(pce_tensor_bytes(out));
    ck_assert_ptr_nonnull(v);
    ck_assert_int_eq(pce_plan_get_output(p, out, v, pce_tensor_bytes(out)), PCE_OK);
    if (st)
        ck_assert_int_eq(pce_plan_get_stats(p, st), PCE_OK);
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

enum layout { PLAIN, X_TRANSPOSED, W_VIEW };

/* x [bx, M, K] (dtype at) · wᵀ with w [bw, N, K] of dtype qt (bx, bw: 0 for
 * no batch dim); W_VIEW: w is rows 1.. and blocks 1.. of a larger weight. */
static void check_matmul(pce_dtype qt, pce_dtype at, int64_t bx, int64_t bw, int64_t M, int64_t K,
                         int64_t N, enum layout lay)
{
    const pce_dtype_info *qi = pce_dtype_get_info(qt);
    int64_t bs = qi->block_size;
    int64_t nw = N + (lay == W_VIEW), kw = K + (lay == W_VIEW ? bs : 0);
    int64_t bwn = bw ? bw : 1, bxn = bx ? bx : 1, nwt = bwn * nw * kw, nx = bxn * M * K;
    float *wf = malloc((size_t)nwt * sizeof *wf), *xf = malloc((size_t)nx * sizeof *xf);
    void *wq = malloc(pce_dtype_bytes(qt, nwt)), *xd = malloc((size_t)nx * 4);
    ck_assert(wf && xf && wq && xd);
    for (int64_t i = 0; i < nwt; i++)
        wf[i] = frand() * (i % 97 == 0 ? 4.0f : 1.0f);
    for (int64_t i = 0; i < nx; i++)
        xf[i] = frand() * (i % 31 == 0 ? 8.0f : 1.0f);
    ck_assert_int_eq(pce_dtype_from_f32(qt, wf, wq, nwt), PCE_OK);
    ck_assert_int_eq(pce_dtype_from_f32(at, xf, xd, nx), PCE_OK);

    pce_graph *g;
    ck_assert_int_eq(pce_graph_create(ctx, &g), PCE_OK);
    const int64_t dw[] = {bwn, nw, kw}, dx[] = {bxn, M, K}, dxt[] = {K, M};
    pce_tensor *x = lay == X_TRANSPOSED ? pce_graph_input(g, "x", at, 2, dxt)
                                        : pce_graph_input(g, "x", at, bx ? 3 : 2, dx + !bx);
    pce_tensor *a = lay == X_TRANSPOSED ? pce_transpose(g, x) : x;
    pce_tensor *w = pce_graph_weight(g, "w", qt, bw ? 3 : 2, dw + !bw, wq);
    if (lay == W_VIEW)
        w = pce_slice(g, pce_slice(g, w, -2, 1, nw), -1, bs, kw);
    pce_tensor *y = pce_matmul(g, a, pce_transpose(g, w));
    ck_assert_msg(y != NULL, "%s: %s", qi->name, pce_graph_error(g));
    ck_assert_int_eq(pce_graph_output(g, y), PCE_OK);

    pce_plan_stats st;
    float *want = run(g, x, xd, y, false, NULL), *got = run(g, x, xd, y, true, &st);
    double e = nmse(got, want, pce_tensor_numel(y));
    ck_assert_msg(e <= 1e-9,
                  "%s x %s bx=%lld bw=%lld M=%lld K=%lld N=%lld layout %d: nmse %.3g (seed %llu)",
                  qi->name, pce_dtype_get_info(at)->name, (long long)bx, (long long)bw,
                  (long long)M, (long long)K, (long long)N, (int)lay, e, (unsigned long long)seed);
    /* the weight went to the device in its blocks, not as f32 */
    ck_assert_uint_eq(st.weight_copied_bytes, pce_dtype_bytes(qt, nwt));
    free(want);
    free(got);
    pce_graph_destroy(g);
    free(wf);
    free(xf);
    free(wq);
    free(xd);
}

START_TEST(matmul_matches_reference)
{
    pce_dtype qt = types[_i];
    int64_t bs = pce_dtype_get_info(qt)->block_size;
    seed_rng(0, _i);
    static const int64_t Ms[] = {1, 5, 64}, Ks[] = {256, 576, 1024}, Ns[] = {7, 100};
    for (int m = 0; m < 3; m++)
        for (int k = 0; k < 3; k++)
            for (int n = 0; n < 2; n++)
                if (Ks[k] % bs == 0)
                    check_matmul(qt, PCE_DTYPE_F32, 0, 0, Ms[m], Ks[k], Ns[n], PLAIN);
}
END_TEST

START_TEST(matmul_layouts_and_activation_dtypes)
{
    pce_dtype qt = types[_i];
    seed_rng(1, _i);
    /* 288: 9 blocks of 32, so an 18- or 34-byte row is 2 mod 4 bytes long */
    int64_t K = pce_dtype_get_info(qt)->block_size == 32 ? 288 : 256;
    static const int64_t Ms[] = {1, 5, 12}; /* qgemv (1, 5) and the tiles (12) */
    for (int m = 0; m < 3; m++) {
        int64_t M = Ms[m];
        check_matmul(qt, PCE_DTYPE_F16, 0, 0, M, K, 7, PLAIN);
        check_matmul(qt, PCE_DTYPE_BF16, 0, 0, M, K, 7, PLAIN);
        check_matmul(qt, PCE_DTYPE_F32, 0, 0, M, K, 9, X_TRANSPOSED);
        check_matmul(qt, PCE_DTYPE_F32, 0, 0, M, K, 70, W_VIEW);
        check_matmul(qt, PCE_DTYPE_F32, 2, 2, M, K, 9, PLAIN);  /* batched */
        check_matmul(qt, PCE_DTYPE_F32, 3, 0, M, K, 66, PLAIN); /* w broadcast */
    }
}
END_TEST

START_TEST(get_rows_is_exact)
{
    pce_dtype qt = types[_i];
    const pce_dtype_info *qi = pce_dtype_get_info(qt);
    seed_rng(2, _i);
    static const int64_t Ds[] = {256, 512, 288};
    for (int di = 0; di < 3; di++) {
        int64_t R = 40, D = Ds[di];
        if (D % qi->block_size)
            continue;
        float *tf = malloc((size_t)(R * D) * 4), *deq = malloc((size_t)(R * D) * 4);
        void *tq = malloc(pce_dtype_bytes(qt, R * D));
        ck_assert(tf && deq && tq);
        for (int64_t i = 0; i < R * D; i++)
            tf[i] = frand() * (i % 53 == 0 ? 6.0f : 1.0f);
        ck_assert_int_eq(pce_dtype_from_f32(qt, tf, tq, R * D), PCE_OK);
        ck_assert_int_eq(pce_dtype_to_f32(qt, tq, deq, R * D), PCE_OK);
        pce_graph *g;
        ck_assert_int_eq(pce_graph_create(ctx, &g), PCE_OK);
        const int64_t dt[] = {R, D}, dids[] = {7};
        pce_tensor *table = pce_graph_weight(g, "table", qt, 2, dt, tq);
        pce_tensor *ids = pce_graph_input(g, "ids", PCE_DTYPE_I32, 1, dids);
        pce_tensor *rows = pce_get_rows(g, table, ids);
        ck_assert_msg(rows != NULL, "%s: %s", qi->name, pce_graph_error(g));
        pce_tensor_set_name(rows, "lookup");
        pce_graph_output(g, rows);
        int32_t idv[7];
        for (int i = 0; i < 7; i++)
            idv[i] = (int32_t)((rng >> (8 * i)) % (uint64_t)R);
        idv[3] = idv[1]; /* a repeat */
        idv[5] = (int32_t)R - 1;
        pce_plan_stats st;
        float *got = run(g, ids, idv, rows, true, &st);
        for (int i = 0; i < 7; i++)
            ck_assert_msg(!memcmp(got + i * D, deq + idv[i] * D, (size_t)D * 4),
                          "%s D=%lld: row %d differs from the reference dequantization", qi->name,
                          (long long)D, idv[i]);
        ck_assert_uint_eq(st.weight_copied_bytes, pce_dtype_bytes(qt, R * D));
        free(got);

        /* an id out of range fails the run, naming the node and the id */
        pce_plan_options o;
        pce_plan_options_init(&o);
        o.devices = "vulkan0";
        o.strict = true;
        pce_plan *p;
        ck_assert_int_eq(pce_plan_create(ctx, g, &o, &p), PCE_OK);
        int32_t bad[7] = {0, 1, 2, (int32_t)R, 4, 5, 6};
        ck_assert_int_eq(pce_plan_set_input(p, ids, bad, sizeof bad), PCE_OK);
        ck_assert_int_eq(pce_plan_run(p), PCE_ERR_INVALID_ARGUMENT);
        const char *msg = pce_context_last_error(ctx);
        ck_assert_msg(strstr(msg, "lookup") && strstr(msg, "ids[3] = 40"), "message: %s", msg);
        pce_plan_destroy(p);
        pce_graph_destroy(g);
        free(tf);
        free(deq);
        free(tq);
    }
}
END_TEST

int main(void)
{
    int have = vulkan_present();
    if (have < 0)
        return EXIT_FAILURE;
    if (!have) {
        printf("no vulkan0: quantized Vulkan kernels not tested\n");
        return vulkan_required() ? EXIT_FAILURE : 77;
    }
    const char *env = getenv("PCE_SEED");
    seed = env && *env ? strtoull(env, NULL, 0) : (uint64_t)time(NULL);
    printf("seed %llu (set PCE_SEED to reproduce)\n", (unsigned long long)seed);

    Suite *s = suite_create("vulkan-quant");
    TCase *tc = tcase_create("device");
    tcase_set_timeout(tc, 600);
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_loop_test(tc, matmul_matches_reference, 0, N_TYPES);
    tcase_add_loop_test(tc, matmul_layouts_and_activation_dtypes, 0, N_TYPES);
    tcase_add_loop_test(tc, get_rows_is_exact, 0, N_TYPES);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
