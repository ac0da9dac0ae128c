/* test_vulkan.c — the Vulkan backend through the public API: errors found on
 * the device fail the run with a message and corrupt nothing, a recorded
 * plan replays with new inputs, allocation failures are OUT_OF_MEMORY, and
 * a broken module leaves the backend unavailable instead of crashing.
 * Device cases SKIP (exit 77) without a Vulkan device unless
 * PCE_REQUIRE_BACKENDS names vulkan. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <math.h>
#include <unistd.h>

#include "pce.h"
#include "vulkan_probe.h"

static pce_context *ctx;

static void setup(void)
{
    pce_context_options o;
    pce_context_options_init(&o);
    o.vulkan_validation = 1;
    ck_assert_int_eq(pce_context_create(&o, &ctx), PCE_OK);
    ck_assert_ptr_nonnull(pce_device_find(ctx, "vulkan0"));
}

static void teardown(void)
{
    pce_context_destroy(ctx);
    ctx = NULL;
}

static pce_plan *plan_on_vulkan(pce_graph *g)
{
    pce_plan_options po;
    pce_plan_options_init(&po);
    po.device = "vulkan0";
    pce_plan *p = NULL;
    ck_assert_msg(pce_plan_create(ctx, g, &po, &p) == PCE_OK, "%s", pce_context_last_error(ctx));
    return p;
}

START_TEST(bad_ids_fail_the_run_and_leave_the_cache)
{
    pce_graph *g;
    ck_assert_int_eq(pce_graph_create(ctx, &g), PCE_OK);
    const int64_t dc[] = {4, 3}, dr[] = {2, 3}, di[] = {2};
    pce_tensor *cache = pce_graph_input(g, "cache", PCE_DTYPE_F32, 2, dc);
    pce_tensor *rows = pce_graph_input(g, "rows", PCE_DTYPE_F32, 2, dr);
    pce_tensor *ids = pce_graph_input(g, "ids", PCE_DTYPE_I32, 1, di);
    pce_tensor *out = pce_set_rows(g, cache, rows, ids);
    pce_tensor_set_name(out, "cache_written");
    ck_assert_int_eq(pce_graph_output(g, out), PCE_OK);
    pce_plan *p = plan_on_vulkan(g);

    float c[12], r[6], got[12];
    for (int i = 0; i < 12; i++)
        c[i] = 100.0f + (float)i;
    for (int i = 0; i < 6; i++)
        r[i] = -1.0f - (float)i;
    int32_t bad[2] = {1, 7}, good[2] = {3, 0};
    ck_assert_int_eq(pce_plan_set_input(p, cache, c, sizeof c), PCE_OK);
    ck_assert_int_eq(pce_plan_set_input(p, rows, r, sizeof r), PCE_OK);
    ck_assert_int_eq(pce_plan_set_input(p, ids, bad, sizeof bad), PCE_OK);
    ck_assert_int_eq(pce_plan_run(p), PCE_ERR_INVALID_ARGUMENT);
    const char *msg = pce_context_last_error(ctx);
    ck_assert_msg(strstr(msg, "set_rows") && strstr(msg, "cache_written") &&
                      strstr(msg, "ids[1] = 7") && strstr(msg, "[0, 4)"),
                  "message: %s", msg);
    /* nothing written: row 1 (the valid id) is unchanged too */
    ck_assert_int_eq(pce_plan_get_output(p, cache, got, sizeof got), PCE_OK);
    ck_assert_mem_eq(got, c, sizeof c);

    /* the same recorded plan then runs with good ids */
    ck_assert_int_eq(pce_plan_set_input(p, ids, good, sizeof good), PCE_OK);
    ck_assert_int_eq(pce_plan_run(p), PCE_OK);
    ck_assert_int_eq(pce_plan_get_output(p, out, got, sizeof got), PCE_OK);
    for (int i = 0; i < 4; i++)
        for (int j = 0; j < 3; j++) {
            float want = i == 3 ? r[j] : i == 0 ? r[3 + j] : c[3 * i + j];
            ck_assert_float_eq(got[3 * i + j], want);
        }
    pce_plan_destroy(p);
    pce_graph_destroy(g);
}
END_TEST

START_TEST(get_rows_bad_id_names_the_node)
{
    pce_graph *g;
    ck_assert_int_eq(pce_graph_create(ctx, &g), PCE_OK);
    const int64_t dt[] = {5, 8}, di[] = {3};
    float table[40];
    for (int i = 0; i < 40; i++)
        table[i] = (float)i * 0.5f;
    pce_tensor *t = pce_graph_weight(g, "emb", PCE_DTYPE_F32, 2, dt, table);
    pce_tensor *ids = pce_graph_input(g, "ids", PCE_DTYPE_I32, 1, di);
    pce_tensor *out = pce_get_rows(g, t, ids);
    pce_tensor_set_name(out, "lookup");
    pce_graph_output(g, out);
    pce_plan *p = plan_on_vulkan(g);
    int32_t bad[3] = {0, -2, 4}, good[3] = {4, 0, 2};
    ck_assert_int_eq(pce_plan_set_input(p, ids, bad, sizeof bad), PCE_OK);
    ck_assert_int_eq(pce_plan_run(p), PCE_ERR_INVALID_ARGUMENT);
    const char *msg = pce_context_last_error(ctx);
    ck_assert_msg(strstr(msg, "lookup") && strstr(msg, "ids[1] = -2") && strstr(msg, "[0, 5)"),
                  "message: %s", msg);
    ck_assert_int_eq(pce_plan_set_input(p, ids, good, sizeof good), PCE_OK);
    ck_assert_int_eq(pce_plan_run(p), PCE_OK);
    float got[24];
    ck_assert_int_eq(pce_plan_get_output(p, out, got, sizeof got), PCE_OK);
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < 8; j++)
            ck_assert_float_eq(got[8 * i + j], table[8 * good[i] + j]);
    pce_plan_stats st;
    pce_plan_get_stats(p, &st);
    /* Vulkan cannot read host memory: the weight was copied once */
    ck_assert_uint_eq(st.weight_copied_bytes, sizeof table);
    pce_plan_destroy(p);
    pce_graph_destroy(g);
}
END_TEST

/* A plan is recorded once; every run replays it with the inputs of the
 * moment, and outputs follow. */
START_TEST(replay_sees_new_inputs)
{
    pce_graph *g;
    ck_assert_int_eq(pce_graph_create(ctx, &g), PCE_OK);
    const int64_t d[] = {3, 129};
    pce_tensor *x = pce_graph_input(g, "x", PCE_DTYPE_F32, 2, d);
    pce_tensor *y = pce_graph_input(g, "y", PCE_DTYPE_F32, 2, d);
    pce_tensor *o = pce_add(g, pce_scale(g, x, 2.0f), pce_mul(g, x, y));
    pce_graph_output(g, o);
    pce_plan *p = plan_on_vulkan(g);
    float xv[387], yv[387], got[387];
    unsigned seed = 12345;
    for (int run = 0; run < 5; run++) {
        for (int i = 0; i < 387; i++) {
            seed = seed * 1103515245u + 12345u;
            xv[i] = (float)((seed >> 8) % 2001) / 1000.0f - 1.0f;
            yv[i] = (float)((seed >> 4) % 1999) / 500.0f - 2.0f;
        }
        ck_assert_int_eq(pce_plan_set_input(p, x, xv, sizeof xv), PCE_OK);
        if (run != 3) /* run 3 keeps y from run 2: inputs persist */
            ck_assert_int_eq(pce_plan_set_input(p, y, yv, sizeof yv), PCE_OK);
        ck_assert_int_eq(pce_plan_run(p), PCE_OK);
        ck_assert_int_eq(pce_plan_get_output(p, o, got, sizeof got), PCE_OK);
        static float ykept[387];
        if (run != 3)
            memcpy(ykept, yv, sizeof yv);
        for (int i = 0; i < 387; i++) {
            float want = 2.0f * xv[i] + xv[i] * ykept[i];
            ck_assert_msg(fabsf(got[i] - want) <= 1e-5f * (1.0f + fabsf(want)),
                          "run %d element %d: %g, want %g", run, i, (double)got[i], (double)want);
        }
    }
    pce_plan_stats st;
    pce_plan_get_stats(p, &st);
    ck_assert_uint_eq(st.runs, 5);
    char text[4096];
    size_t len;
    ck_assert_int_eq(pce_plan_explain(p, text, sizeof text, &len), PCE_OK);
    ck_assert_ptr_nonnull(strstr(text, "vulkan0"));
    pce_plan_destroy(p);
    pce_graph_destroy(g);
}
END_TEST

/* A plan destroyed before it ever ran (its fence never submitted) must not
 * wait for a run. */
START_TEST(destroy_without_run)
{
    pce_graph *g;
    ck_assert_int_eq(pce_graph_create(ctx, &g), PCE_OK);
    const int64_t d[] = {64};
    pce_tensor *x = pce_graph_input(g, "x", PCE_DTYPE_F32, 1, d);
    pce_graph_output(g, pce_exp(g, x));
    for (int i = 0; i < 3; i++)
        pce_plan_destroy(plan_on_vulkan(g));
    pce_graph_destroy(g);
}
END_TEST

START_TEST(too_big_is_out_of_memory)
{
    /* 24 inputs of 100 MB each: every tensor fits a descriptor, the whole
     * does not fit lavapipe's budget (0.80 of its heap); the plan says so
     * before allocating anything, per device */
    pce_graph *g;
    ck_assert_int_eq(pce_graph_create(ctx, &g), PCE_OK);
    const int64_t d[] = {25 * 1000 * 1000};
    pce_tensor *acc = NULL;
    for (int i = 0; i < 24; i++) {
        char name[16];
        snprintf(name, sizeof name, "x%d", i);
        pce_tensor *x = pce_graph_input(g, name, PCE_DTYPE_F32, 1, d);
        acc = acc ? pce_add(g, acc, x) : x;
    }
    pce_graph_output(g, acc);
    pce_plan_options po;
    pce_plan_options_init(&po);
    po.device = "vulkan0";
    po.strict = true;
    pce_plan *p = NULL;
    ck_assert_int_eq(pce_plan_create(ctx, g, &po, &p), PCE_ERR_OUT_OF_MEMORY);
    ck_assert_ptr_null(p);
    const char *msg = pce_context_last_error(ctx);
    ck_assert_msg(strstr(msg, "vulkan0 needs") && strstr(msg, "inputs 2400000000") &&
                      strstr(msg, "budget"),
                  "message: %s", msg);
    pce_graph_destroy(g);
    /* one tensor over maxStorageBufferRange: strict placement says which
     * node and why, naming the limit */
    ck_assert_int_eq(pce_graph_create(ctx, &g), PCE_OK);
    const int64_t big[] = {(int64_t)1 << 40}; /* 4 TiB of f32 */
    pce_graph_output(g, pce_neg(g, pce_graph_input(g, "huge", PCE_DTYPE_F32, 1, big)));
    ck_assert_int_eq(pce_plan_create(ctx, g, &po, &p), PCE_ERR_UNSUPPORTED);
    msg = pce_context_last_error(ctx);
    ck_assert_msg(strstr(msg, "vulkan0") && strstr(msg, "maxStorageBufferRange"), "message: %s",
                  msg);
    pce_graph_destroy(g);
}
END_TEST

/* A module file that is not a loadable library: the backend is listed as
 * unavailable with the loader's reason, and the context still works. */
START_TEST(broken_module_is_unavailable)
{
    char dir[] = "/tmp/pce-test-modXXXXXX";
    ck_assert_ptr_nonnull(mkdtemp(dir));
    char path[256];
    snprintf(path, sizeof path, "%s/libpce-backend-vulkan.so", dir);
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fputs("not an ELF file\n", f);
    fclose(f);
    pce_context_options o;
    pce_context_options_init(&o);
    o.backend_path = dir;
    o.log_level = PCE_LOG_ERROR;
    pce_context *c = NULL;
    ck_assert_int_eq(pce_context_create(&o, &c), PCE_OK);
    ck_assert_ptr_null(pce_device_find(c, "vulkan0"));
    ck_assert_ptr_nonnull(pce_device_find(c, "cpu0"));
    bool found = false;
    for (int i = 0; i < pce_backend_unavailable_count(c); i++) {
        const char *b, *r;
        pce_backend_unavailable_get(c, i, &b, &r);
        if (!strcmp(b, "vulkan")) {
            found = true;
            ck_assert_msg(strstr(r, "does not load") && strstr(r, dir), "reason: %s", r);
        }
    }
    ck_assert(found);
    pce_context_destroy(c);
    unlink(path);
    rmdir(dir);
}
END_TEST

int main(void)
{
    int have = vulkan_present();
    if (have < 0)
        return EXIT_FAILURE;

    Suite *s = suite_create("vulkan");
    TCase *mod = tcase_create("module");
    tcase_add_test(mod, broken_module_is_unavailable);
    suite_add_tcase(s, mod);
    if (have) {
        TCase *tc = tcase_create("device");
        tcase_set_timeout(tc, 60);
        tcase_add_checked_fixture(tc, setup, teardown);
        tcase_add_test(tc, bad_ids_fail_the_run_and_leave_the_cache);
        tcase_add_test(tc, get_rows_bad_id_names_the_node);
        tcase_add_test(tc, replay_sees_new_inputs);
        tcase_add_test(tc, too_big_is_out_of_memory);
        tcase_add_test(tc, destroy_without_run);
        suite_add_tcase(s, tc);
    }
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    if (failed)
        return EXIT_FAILURE;
    if (!have) {
        printf("no vulkan0: device cases not run\n");
        return vulkan_required() ? EXIT_FAILURE : 77;
    }
    return EXIT_SUCCESS;
}
