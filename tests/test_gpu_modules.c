/* test_gpu_modules.c — the CUDA and HIP modules on a machine that may lack
 * their driver or device: a context still comes up, the CPU still runs,
 * and each backend without a device is listed as unavailable with a reason
 * that says what is missing. argv: "cuda=built|off" "hip=built|off" (what
 * this build made). Where a device exists, it must be listed instead. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pce.h"

static bool built[2];
static const char *const names[2] = {"cuda", "hip"};

static const char *reason_of(pce_context *ctx, const char *backend)
{
    for (int i = 0; i < pce_backend_unavailable_count(ctx); i++) {
        const char *b, *r;
        if (pce_backend_unavailable_get(ctx, i, &b, &r) == PCE_OK && !strcmp(b, backend))
            return r;
    }
    return NULL;
}

static int devices_of(pce_context *ctx, const char *backend)
{
    int n = 0;
    for (int i = 0; i < pce_device_count(ctx); i++) {
        pce_device_props p;
        pce_device_get_props(pce_device_get(ctx, i), &p);
        n += !strcmp(p.backend, backend);
    }
    return n;
}

START_TEST(unavailable_with_a_reason)
{
    pce_context *ctx = NULL;
    ck_assert_int_eq(pce_context_create(NULL, &ctx), PCE_OK);
    for (int b = 0; b < 2; b++) {
        const char *r = reason_of(ctx, names[b]);
        int n = devices_of(ctx, names[b]);
        printf("%s: %d devices; %s\n", names[b], n, r ? r : "(available)");
        if (n > 0) {
            ck_assert_ptr_null(r);
            continue;
        }
        ck_assert_ptr_nonnull(r);
        if (!built[b]) {
            ck_assert_ptr_nonnull(strstr(r, "not built"));
            continue;
        }
        /* built: the module loaded (or said why not) and named what is missing */
        ck_assert_msg(strstr(r, "found no device") || strstr(r, "does not load"), "%s reason: %s",
                      names[b], r);
        ck_assert_ptr_null(strstr(r, "not built"));
    }
    /* the CPU works as before */
    pce_graph *g;
    ck_assert_int_eq(pce_graph_create(ctx, &g), PCE_OK);
    const int64_t d[] = {4};
    float in[4] = {1, -2, 3, -4}, out[4];
    pce_tensor *x = pce_graph_input(g, "x", PCE_DTYPE_F32, 1, d);
    pce_tensor *y = pce_abs(g, x);
    pce_graph_output(g, y);
    pce_plan *p;
    ck_assert_int_eq(pce_plan_create(ctx, g, NULL, &p), PCE_OK);
    ck_assert_int_eq(pce_plan_set_input(p, x, in, sizeof in), PCE_OK);
    ck_assert_int_eq(pce_plan_run(p), PCE_OK);
    ck_assert_int_eq(pce_plan_get_output(p, y, out, sizeof out), PCE_OK);
    ck_assert_float_eq(out[3], 4.0f);
    pce_plan_destroy(p);
    pce_graph_destroy(g);
    pce_context_destroy(ctx);
}
END_TEST

/* A plan asked for on a GPU that is not there fails cleanly, naming it. */
START_TEST(missing_device_is_not_found)
{
    pce_context *ctx = NULL;
    ck_assert_int_eq(pce_context_create(NULL, &ctx), PCE_OK);
    for (int b = 0; b < 2; b++) {
        char name[16];
        snprintf(name, sizeof name, "%s0", names[b]);
        if (pce_device_find(ctx, name))
            continue;
        pce_graph *g;
        pce_graph_create(ctx, &g);
        const int64_t d[] = {4};
        pce_graph_output(g, pce_neg(g, pce_graph_input(g, "x", PCE_DTYPE_F32, 1, d)));
        pce_plan_options o;
        pce_plan_options_init(&o);
        o.device = name;
        pce_plan *p = NULL;
        ck_assert_int_eq(pce_plan_create(ctx, g, &o, &p), PCE_ERR_NOT_FOUND);
        ck_assert_ptr_nonnull(strstr(pce_context_last_error(ctx), name));
        pce_graph_destroy(g);
    }
    pce_context_destroy(ctx);
}
END_TEST

/* PCE_DISABLE keeps GPU backends from loading at all, and says so. */
START_TEST(disabled_backends_are_not_loaded)
{
    setenv("PCE_DISABLE", "vulkan,cuda, hip", 1);
    pce_context *ctx = NULL;
    ck_assert_int_eq(pce_context_create(NULL, &ctx), PCE_OK);
    unsetenv("PCE_DISABLE");
    const char *all[3] = {"vulkan", "cuda", "hip"};
    for (int b = 0; b < 3; b++) {
        ck_assert_int_eq(devices_of(ctx, all[b]), 0);
        const char *r = reason_of(ctx, all[b]);
        ck_assert_ptr_nonnull(r);
        ck_assert_ptr_nonnull(strstr(r, "disabled by PCE_DISABLE"));
    }
    ck_assert_ptr_nonnull(pce_device_find(ctx, "cpu0"));
    pce_context_destroy(ctx);
}
END_TEST

int main(int argc, char **argv)
{
    for (int i = 1; i < argc; i++)
        for (int b = 0; b < 2; b++)
            if (!strncmp(argv[i], names[b], strlen(names[b])) && strstr(argv[i], "=built"))
                built[b] = true;
    Suite *s = suite_create("gpu-modules");
    TCase *tc = tcase_create("modules");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, unavailable_with_a_reason);
    tcase_add_test(tc, missing_device_is_not_found);
    tcase_add_test(tc, disabled_backends_are_not_loaded);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
