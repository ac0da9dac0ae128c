/* test_plan.c — plans through the public API: inputs and outputs, repeated
 * runs, persistent inputs as a KV cache, run-time errors that leave the plan
 * usable, explain text, context options and the log sink. */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pce.h"

static pce_context *ctx;

static void setup(void)
{
    ck_assert_int_eq(pce_context_create(NULL, &ctx), PCE_OK);
}

static void teardown(void)
{
    pce_context_destroy(ctx);
}

START_TEST(io_errors_are_reported_and_plan_reruns)
{
    pce_graph *g;
    pce_graph_create(ctx, &g);
    int64_t d[2] = {3, 4};
    pce_tensor *x = pce_graph_input(g, "x", PCE_DTYPE_F32, 2, d);
    pce_tensor *h = pce_exp(g, x);
    pce_tensor *y = pce_transpose(g, pce_scale(g, h, 2.0f));
    pce_graph_output(g, y);
    pce_plan *p;
    ck_assert_int_eq(pce_plan_create(ctx, g, NULL, &p), PCE_OK);
    float in[12], out[12];
    ck_assert_int_eq(pce_plan_set_input(p, x, in, 11 * sizeof(float)), PCE_ERR_INVALID_ARGUMENT);
    ck_assert_ptr_nonnull(strstr(pce_context_last_error(ctx), "expected 48"));
    ck_assert_int_eq(pce_plan_set_input(p, h, in, sizeof in), PCE_ERR_INVALID_ARGUMENT);
    ck_assert_int_eq(pce_plan_get_output(p, h, out, sizeof out), PCE_ERR_INVALID_ARGUMENT);
    ck_assert_ptr_nonnull(strstr(pce_context_last_error(ctx), "neither an output"));
    for (int run = 0; run < 3; run++) {
        for (int i = 0; i < 12; i++)
            in[i] = (float)(i - 5) * 0.1f * (float)(run + 1);
        ck_assert_int_eq(pce_plan_set_input(p, x, in, sizeof in), PCE_OK);
        ck_assert_int_eq(pce_plan_run(p), PCE_OK);
        ck_assert_int_eq(pce_plan_get_output(p, y, out, sizeof out), PCE_OK);
        /* y is the transposed view [4, 3]: gathered to contiguous */
        for (int i = 0; i < 3; i++)
            for (int j = 0; j < 4; j++)
                ck_assert_float_eq_tol(out[j * 3 + i], 2.0f * expf(in[i * 4 + j]), 1e-5f);
    }
    pce_plan_stats st;
    pce_plan_get_stats(p, &st);
    ck_assert_uint_eq(st.runs, 3);
    pce_plan_destroy(p);
    pce_graph_destroy(g);
}
END_TEST

/* A KV cache: an input that set_rows writes; its contents persist across runs. */
START_TEST(input_persists_as_kv_cache)
{
    pce_graph *g;
    pce_graph_create(ctx, &g);
    int64_t dc[2] = {8, 4}, dn[2] = {1, 4}, di[1] = {1};
    pce_tensor *cache = pce_graph_input(g, "cache", PCE_DTYPE_F16, 2, dc);
    pce_tensor *row = pce_graph_input(g, "row", PCE_DTYPE_F32, 2, dn);
    pce_tensor *pos = pce_graph_input(g, "pos", PCE_DTYPE_I32, 1, di);
    pce_tensor *c2 = pce_set_rows(g, cache, row, pos);
    pce_tensor *s = pce_sum_rows(g, pce_cast(g, pce_transpose(g, c2), PCE_DTYPE_F32));
    pce_graph_output(g, s);
    pce_plan *p;
    ck_assert_int_eq(pce_plan_create(ctx, g, NULL, &p), PCE_OK);
    uint16_t zeros[32] = {0};
    pce_plan_set_input(p, cache, zeros, sizeof zeros);
    float out[4];
    for (int step = 0; step < 8; step++) {
        float r[4] = {1.0f, 2.0f, 3.0f, (float)step};
        int32_t id = step;
        pce_plan_set_input(p, row, r, sizeof r);
        pce_plan_set_input(p, pos, &id, sizeof id);
        ck_assert_int_eq(pce_plan_run(p), PCE_OK);
        ck_assert_int_eq(pce_plan_get_output(p, s, out, sizeof out), PCE_OK);
        ck_assert_float_eq(out[0], 1.0f * (float)(step + 1));
        ck_assert_float_eq(out[2], 3.0f * (float)(step + 1));
        ck_assert_float_eq(out[3], (float)(step * (step + 1) / 2));
    }
    /* the cache itself can be read back */
    uint16_t back[32];
    ck_assert_int_eq(pce_plan_get_output(p, cache, back, sizeof back), PCE_OK);
    float f[32];
    pce_dtype_to_f32(PCE_DTYPE_F16, back, f, 32);
    ck_assert_float_eq(f[7 * 4 + 3], 7.0f);
    /* an id outside the cache fails the run, names the problem, corrupts nothing */
    int32_t bad = 8;
    pce_plan_set_input(p, pos, &bad, sizeof bad);
    ck_assert_int_eq(pce_plan_run(p), PCE_ERR_INVALID_ARGUMENT);
    ck_assert_ptr_nonnull(strstr(pce_context_last_error(ctx), "ids[0] = 8 is outside [0, 8)"));
    uint16_t after[32];
    pce_plan_get_output(p, cache, after, sizeof after);
    ck_assert_mem_eq(back, after, sizeof back);
    int32_t good = 0;
    pce_plan_set_input(p, pos, &good, sizeof good);
    ck_assert_int_eq(pce_plan_run(p), PCE_OK);
    pce_plan_destroy(p);
    pce_graph_destroy(g);
}
END_TEST

START_TEST(explain_and_devices)
{
    pce_graph *g;
    pce_graph_create(ctx, &g);
    int64_t d[1] = {16};
    pce_tensor *x = pce_graph_input(g, "x", PCE_DTYPE_F32, 1, d);
    pce_tensor *y = pce_silu(g, pce_exp(g, x));
    pce_tensor_set_name(y, "activation");
    pce_graph_output(g, y);
    pce_plan_options o;
    pce_plan_options_init(&o);
    o.device = "gpu7";
    pce_plan *p = (pce_plan *)1;
    ck_assert_int_eq(pce_plan_create(ctx, g, &o, &p), PCE_ERR_NOT_FOUND);
    ck_assert_ptr_null(p);
    ck_assert_ptr_nonnull(strstr(pce_context_last_error(ctx), "gpu7"));
    ck_assert_ptr_nonnull(strstr(pce_context_last_error(ctx), "cpu0"));
    o.device = "cpu0";
    ck_assert_int_eq(pce_plan_create(ctx, g, &o, &p), PCE_OK);
    size_t len = 0;
    ck_assert_int_eq(pce_plan_explain(p, NULL, 0, &len), PCE_OK);
    ck_assert_uint_gt(len, 50);
    char *buf = malloc(len + 1);
    ck_assert_int_eq(pce_plan_explain(p, buf, len + 1, &len), PCE_OK);
    ck_assert_uint_eq(strlen(buf), len);
    ck_assert_ptr_nonnull(strstr(buf, "activation"));
    ck_assert_ptr_nonnull(strstr(buf, "silu"));
    ck_assert_ptr_nonnull(strstr(buf, "in place of"));
    ck_assert_ptr_nonnull(strstr(buf, "peak"));
    char small[20];
    ck_assert_int_eq(pce_plan_explain(p, small, sizeof small, &len), PCE_OK);
    ck_assert_uint_eq(strlen(small), sizeof small - 1);
    free(buf);
    pce_plan_destroy(p);
    pce_graph_destroy(g);

    ck_assert_int_ge(pce_device_count(ctx), 1);
    pce_device_props props;
    ck_assert_int_eq(pce_device_get_props(pce_device_find(ctx, "cpu0"), &props), PCE_OK);
    ck_assert_str_eq(props.backend, "cpu");
    ck_assert(props.host_memory);
    ck_assert_uint_gt(props.memory_total, 0);
    ck_assert_ptr_null(pce_device_get(ctx, 99));
    ck_assert_int_eq(pce_device_get_props(NULL, &props), PCE_ERR_INVALID_ARGUMENT);
    const char *b, *r;
    ck_assert_int_ge(pce_backend_unavailable_count(ctx), 1);
    ck_assert_int_eq(pce_backend_unavailable_get(ctx, 0, &b, &r), PCE_OK);
    ck_assert_uint_gt(strlen(r), 0);
}
END_TEST

typedef struct log_capture {
    int n;
    char last[256];
} log_capture;

static void capture(void *user, pce_log_level level, const char *msg)
{
    log_capture *c = user;
    (void)level;
    c->n++;
    snprintf(c->last, sizeof c->last, "%s", msg);
}

START_TEST(options_and_log)
{
    pce_context_options o;
    pce_context_options_init(&o);
    o.cpu_kernels = "fastest";
    pce_context *c2 = (pce_context *)1;
    ck_assert_int_eq(pce_context_create(&o, &c2), PCE_ERR_INVALID_ARGUMENT);
    ck_assert_ptr_null(c2);
    o.size = 3;
    ck_assert_int_eq(pce_context_create(&o, &c2), PCE_ERR_INVALID_ARGUMENT);

    log_capture cap = {0};
    pce_context_options_init(&o);
    o.num_threads = 1;
    o.cpu_kernels = "reference";
    o.log_level = PCE_LOG_DEBUG;
    o.log_fn = capture;
    o.log_user = &cap;
    ck_assert_int_eq(pce_context_create(&o, &c2), PCE_OK);
    ck_assert_int_gt(cap.n, 0); /* devices are announced at info level */
    pce_device_props props;
    pce_device_get_props(pce_device_get(c2, 0), &props);
    ck_assert_int_eq(props.compute_units, 1);
    pce_graph *g;
    pce_graph_create(c2, &g);
    int64_t d[2] = {2, 3};
    pce_tensor *x = pce_graph_input(g, "x", PCE_DTYPE_F32, 2, d);
    pce_graph_output(g, pce_add(g, x, pce_graph_input(g, "x2", PCE_DTYPE_F16, 2, d)));
    pce_plan *p;
    ck_assert_int_eq(pce_plan_create(c2, g, NULL, &p), PCE_ERR_INVALID_ARGUMENT);
    ck_assert_ptr_nonnull(strstr(cap.last, "dtypes differ")); /* logged at debug */
    pce_graph_destroy(g);
    pce_context_destroy(c2);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("plan");
    TCase *tc = tcase_create("plan");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, io_errors_are_reported_and_plan_reruns);
    tcase_add_test(tc, input_persists_as_kv_cache);
    tcase_add_test(tc, explain_and_devices);
    tcase_add_test(tc, options_and_log);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
