/* test_conformance.c — the conformance suite on the devices of one backend
 * (argv[1]: "cpu" by default, or "vulkan", ...), as a Check test. A backend
 * with no device here is a SKIP (exit 77) naming why, unless
 * PCE_REQUIRE_BACKENDS lists it (CI does, for the backends it installs):
 * then it fails. On Vulkan the Khronos validation layer is on, and any
 * message it sends at warning or error level fails the test. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "conformance.h"

static const char *backend = "cpu";
static int layer_messages;

static void on_result(const pce_conf_result *r, void *user)
{
    (void)user;
    if (r->status != PCE_CONF_PASS)
        printf("%s %s %s %s %s nmse=%.3g: %s\n", r->status == PCE_CONF_FAIL ? "FAIL" : "SKIP",
               r->op, r->dtype, r->shape, r->device, r->nmse, r->reason);
}

static void on_log(void *user, pce_log_level level, const char *msg)
{
    (void)user;
    fprintf(stderr, "log %d: %s\n", (int)level, msg);
    if (level <= PCE_LOG_WARN && (strstr(msg, "vulkan validation") || strstr(msg, "VK_LAYER")))
        layer_messages++;
}

static pce_context *open_ctx(void)
{
    pce_context_options o;
    pce_context_options_init(&o);
    o.log_fn = on_log;
    o.log_level = PCE_LOG_WARN;
    o.vulkan_validation = strcmp(backend, "vulkan") == 0;
    pce_context *ctx = NULL;
    ck_assert_int_eq(pce_context_create(&o, &ctx), PCE_OK);
    return ctx;
}

static int devices_of(pce_context *ctx)
{
    int n = 0;
    for (int i = 0; i < pce_device_count(ctx); i++) {
        pce_device_props p;
        pce_device_get_props(pce_device_get(ctx, i), &p);
        n += strcmp(p.backend, backend) == 0;
    }
    return n;
}

START_TEST(every_op_matches_reference)
{
    const char *env = getenv("PCE_SEED");
    uint64_t seed = env && *env ? strtoull(env, NULL, 0) : (uint64_t)time(NULL);
    printf("conformance on %s, seed %llu (set PCE_SEED to reproduce)\n", backend,
           (unsigned long long)seed);
    layer_messages = 0;
    pce_context *ctx = open_ctx();
    pce_conf_summary sum;
    ck_assert_int_eq(pce_conformance_run(ctx, backend, seed, on_result, NULL, &sum), PCE_OK);
    printf("conformance on %s: %d passed, %d failed, %d skipped, %d validation messages\n", backend,
           sum.pass, sum.fail, sum.skip, layer_messages);
    ck_assert_int_eq(sum.fail, 0);
    /* every op x dtype x shape: several hundred cases per device */
    ck_assert_int_ge(sum.pass, 400 * devices_of(ctx));
    pce_context_destroy(ctx);
    ck_assert_int_eq(layer_messages, 0);
}
END_TEST

START_TEST(unknown_backend_is_reported)
{
    pce_context *ctx = open_ctx();
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

/* Whether PCE_REQUIRE_BACKENDS (comma-separated) names the backend. */
static bool required(void)
{
    const char *s = getenv("PCE_REQUIRE_BACKENDS");
    size_t n = strlen(backend);
    while (s && *s) {
        size_t k = strcspn(s, ",");
        if (k == n && strncmp(s, backend, n) == 0)
            return true;
        s += k + (s[k] == ',');
    }
    return false;
}

int main(int argc, char **argv)
{
    if (argc > 1)
        backend = argv[1];
    pce_context *ctx = NULL;
    if (pce_context_create(NULL, &ctx) != PCE_OK) {
        fprintf(stderr, "cannot create a context\n");
        return EXIT_FAILURE;
    }
    if (!devices_of(ctx)) {
        const char *why = "no such backend";
        for (int i = 0; i < pce_backend_unavailable_count(ctx); i++) {
            const char *b, *r;
            if (pce_backend_unavailable_get(ctx, i, &b, &r) == PCE_OK && !strcmp(b, backend))
                why = r;
        }
        printf("%s: no device: %s\n", backend, why);
        pce_context_destroy(ctx);
        if (required()) {
            printf("PCE_REQUIRE_BACKENDS names %s: failing\n", backend);
            return EXIT_FAILURE;
        }
        return 77; /* meson: skipped */
    }
    pce_context_destroy(ctx);
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
