/* test_conformance.c — the conformance suite on every device of this
 * machine (cpu0 here; GPU devices where present), as a Check test. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "conformance.h"

static void on_result(const pce_conf_result *r, void *user)
{
    (void)user;
    if (r->status != PCE_CONF_PASS)
        printf("%s %s %s %s %s nmse=%.3g: %s\n", r->status == PCE_CONF_FAIL ? "FAIL" : "SKIP",
               r->op, r->dtype, r->shape, r->device, r->nmse, r->reason);
}

START_TEST(every_op_matches_reference)
{
    const char *env = getenv("PCE_SEED");
    uint64_t seed = env && *env ? strtoull(env, NULL, 0) : (uint64_t)time(NULL);
    printf("conformance seed %llu (set PCE_SEED to reproduce)\n", (unsigned long long)seed);
    pce_context *ctx;
    ck_assert_int_eq(pce_context_create(NULL, &ctx), PCE_OK);
    pce_conf_summary sum;
    ck_assert_int_eq(pce_conformance_run(ctx, NULL, seed, on_result, NULL, &sum), PCE_OK);
    printf("conformance: %d passed, %d failed, %d skipped\n", sum.pass, sum.fail, sum.skip);
    ck_assert_int_eq(sum.fail, 0);
    /* every op x dtype x shape: several hundred cases per device */
    ck_assert_int_ge(sum.pass, 400 * pce_device_count(ctx));
    pce_context_destroy(ctx);
}
END_TEST

START_TEST(unknown_backend_is_reported)
{
    pce_context *ctx;
    ck_assert_int_eq(pce_context_create(NULL, &ctx), PCE_OK);
    pce_conf_summary sum;
    ck_assert_int_eq(pce_conformance_run(ctx, "nosuchdevice", 1, NULL, NULL, &sum),
                     PCE_ERR_NOT_FOUND);
    ck_assert_int_eq(sum.pass + sum.fail + sum.skip, 0);
    pce_context_destroy(ctx);
}
END_TEST

/* The comparison must be able to fail: a kernel that is wrong by more than
 * the threshold is caught. Checked on the threshold table itself. */
START_TEST(thresholds_are_tight)
{
    ck_assert(pce_conformance_threshold(PCE_DTYPE_F32) <= 1e-8);
    ck_assert(pce_conformance_threshold(PCE_DTYPE_F16) <= 1e-5);
    ck_assert(pce_conformance_threshold(PCE_DTYPE_BF16) <= 1e-4);
    ck_assert(pce_conformance_threshold(PCE_DTYPE_I32) == 0);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("conformance");
    TCase *tc = tcase_create("all");
    tcase_set_timeout(tc, 900);
    tcase_add_test(tc, every_op_matches_reference);
    tcase_add_test(tc, unknown_backend_is_reported);
    tcase_add_test(tc, thresholds_are_tight);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
