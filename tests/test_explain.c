/* test_explain.c — `pce devices --explain` through the public API, on a
 * saved snapshot of another machine (PCE_SNAPSHOT): the Zen 5 host's profile
 * is named with its deciding line, OpenBLAS's core is shown, the CPU ranks
 * above lavapipe; a broken snapshot is reported and detection used instead.
 * argv[1]: the snapshot fixtures folder. */
#include <check.h>
#include <dirent.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "pce.h"

static const char *fixtures;

static char *explain(void)
{
    pce_context *ctx = NULL;
    ck_assert_int_eq(pce_context_create(NULL, &ctx), PCE_OK);
    size_t len = 0;
    ck_assert_int_eq(pce_devices_explain(ctx, NULL, 0, &len), PCE_OK);
    char *text = malloc(len + 1);
    ck_assert_ptr_nonnull(text);
    ck_assert_int_eq(pce_devices_explain(ctx, text, len + 1, &len), PCE_OK);
    ck_assert_uint_eq(strlen(text), len);
    pce_context_destroy(ctx);
    return text;
}

START_TEST(zen5_snapshot_names_its_profile)
{
    char path[512];
    snprintf(path, sizeof path, "%s/zen5-epyc.json", fixtures);
    setenv("PCE_SNAPSHOT", path, 1);
    char *t = explain();
    unsetenv("PCE_SNAPSHOT");
    ck_assert_ptr_nonnull(strstr(t, "from PCE_SNAPSHOT"));
    ck_assert_ptr_nonnull(strstr(t, "AuthenticAMD family 26"));
    const char *host = strstr(t, "profiles for the host");
    const char *devs = strstr(t, "devices, best first");
    ck_assert_ptr_nonnull(host);
    ck_assert_ptr_nonnull(devs);
    const char *z5 = strstr(host, "amd-epyc-zen5 (");
    ck_assert_msg(z5 && z5 < devs, "%s", t);
    /* the deciding line of the OpenBLAS workaround, and the core in use */
    ck_assert_ptr_nonnull(strstr(t, "[openblas] core_candidates = Cooperlake, SkylakeX, Haswell"));
    ck_assert_ptr_nonnull(strstr(t, "amd-epyc-zen5.ini:"));
    ck_assert_ptr_nonnull(strstr(t, "core in use: Haswell"));
    /* cpu0 is ranked first; lavapipe, where present, only when asked for */
    ck_assert_ptr_nonnull(strstr(devs, "  1. cpu0 "));
    const char *lvp = strstr(devs, "vulkan0 (llvmpipe");
    if (lvp)
        ck_assert_ptr_nonnull(strstr(lvp, "only when asked for by name"));
    free(t);
}
END_TEST

START_TEST(broken_snapshot_is_reported)
{
    char path[] = "/tmp/pce-snap-XXXXXX";
    int fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    FILE *f = fdopen(fd, "w");
    fputs("{\"format\": \"something else\"", f);
    fclose(f);
    setenv("PCE_SNAPSHOT", path, 1);
    char *t = explain();
    unsetenv("PCE_SNAPSHOT");
    remove(path);
    ck_assert_ptr_nonnull(strstr(t, "PCE_SNAPSHOT ignored"));
    ck_assert_ptr_null(strstr(t, "from PCE_SNAPSHOT"));
    ck_assert_ptr_nonnull(strstr(t, "devices, best first"));
    free(t);
}
END_TEST

/* Saved snapshots of other machines: the ranking and the profiles that
 * decide it, as --explain prints them. */
START_TEST(machines_from_snapshots)
{
    static const struct {
        const char *file;
        const char *order[3]; /* expected ranking, best first */
        const char *profile;  /* a profile that must show */
        const char *line;     /* a line that must show */
    } m[] = {
        {"h200-xeon.json",
         {"1. cuda0 ", "2. vulkan0 ", "3. cpu0 "},
         "profile nvidia-hopper",
         "[features] fp8 = on"},
        {"a100-epyc7763.json",
         {"1. cuda0 ", "2. cpu0 ", NULL},
         "profile nvidia-ampere",
         "amd-epyc-zen3 ("},
        {"mi250-epyc.json",
         {"1. hip0 ", "2. vulkan0 ", "3. cpu0 "},
         "profile amd-cdna2",
         "[backends] order = hip, vulkan, cpu"},
        {"laptop-nvidia-no-cuda.json",
         {"1. vulkan0 ", "2. vulkan1 ", "3. cpu0 "},
         "profile nvidia-no-cuda-runtime",
         "no CUDA runtime (libcuda.so.1 missing)"},
        {"xeon-emr-lavapipe.json", /* recorded on this project's CI-like host */
         {"1. cpu0 ", "2. vulkan0 ", NULL},
         "openblas-sse-fallback (",
         "[perf] gflops = 4"},
        {"zen5-epyc.json",
         {"1. cpu0 ", "2. vulkan0 ", NULL},
         "profile mesa-lavapipe",
         "only when asked for by name"},
    };
    for (size_t i = 0; i < sizeof m / sizeof m[0]; i++) {
        char path[512];
        snprintf(path, sizeof path, "%s/%s", fixtures, m[i].file);
        setenv("PCE_SNAPSHOT", path, 1);
        char *t = explain();
        unsetenv("PCE_SNAPSHOT");
        const char *devs = strstr(t, "devices, best first");
        ck_assert_msg(devs != NULL, "%s: %s", m[i].file, t);
        const char *prev = devs;
        for (int k = 0; k < 3 && m[i].order[k]; k++) {
            const char *at = strstr(devs, m[i].order[k]);
            ck_assert_msg(at && at >= prev, "%s: '%s' missing or out of order:\n%s", m[i].file,
                          m[i].order[k], devs);
            prev = at;
        }
        ck_assert_msg(strstr(t, m[i].profile), "%s: no '%s'", m[i].file, m[i].profile);
        ck_assert_msg(strstr(t, m[i].line), "%s: no '%s'", m[i].file, m[i].line);
        free(t);
    }
}
END_TEST

/* PCE_DEVICES orders the devices and picks the default one for plans. */
START_TEST(pce_devices_overrides_the_ranking)
{
    setenv("PCE_DEVICES", "vulkan0,cpu0", 1);
    pce_context *ctx = NULL;
    ck_assert_int_eq(pce_context_create(NULL, &ctx), PCE_OK);
    unsetenv("PCE_DEVICES");
    bool have_vk = pce_device_find(ctx, "vulkan0") != NULL;
    pce_graph *g;
    ck_assert_int_eq(pce_graph_create(ctx, &g), PCE_OK);
    const int64_t d[] = {8};
    pce_graph_output(g, pce_neg(g, pce_graph_input(g, "x", PCE_DTYPE_F32, 1, d)));
    pce_plan *p = NULL;
    ck_assert_int_eq(pce_plan_create(ctx, g, NULL, &p), PCE_OK);
    char text[512];
    size_t len;
    pce_plan_explain(p, text, sizeof text, &len);
    ck_assert_ptr_nonnull(strstr(text, have_vk ? "on vulkan0" : "on cpu0"));
    pce_plan_destroy(p);
    pce_graph_destroy(g);
    size_t n = 0;
    pce_devices_explain(ctx, NULL, 0, &n);
    char *t = malloc(n + 1);
    ck_assert_ptr_nonnull(t);
    pce_devices_explain(ctx, t, n + 1, &n);
    ck_assert_ptr_nonnull(strstr(t, "#2 in PCE_DEVICES=vulkan0,cpu0"));
    free(t);
    /* the JSON form carries the same decisions */
    n = 0;
    ck_assert_int_eq(pce_devices_explain_json(ctx, NULL, 0, &n), PCE_OK);
    t = malloc(n + 1);
    ck_assert_ptr_nonnull(t);
    ck_assert_int_eq(pce_devices_explain_json(ctx, t, n + 1, &n), PCE_OK);
    ck_assert_ptr_nonnull(strstr(t, "\"snapshot\""));
    ck_assert_ptr_nonnull(strstr(t, "\"not_matched\""));
    ck_assert_ptr_nonnull(strstr(t, "#2 in PCE_DEVICES=vulkan0,cpu0"));
    ck_assert_ptr_nonnull(strstr(t, "\"name\":\"cpu0\""));
    free(t);
    pce_context_destroy(ctx);
}
END_TEST

/* A user profile's [cpu] threads sizes the CPU backend, unless the
 * environment (PCE_NUM_THREADS) says otherwise; --explain names its line. */
START_TEST(user_profile_sets_cpu_threads)
{
    char dir[] = "/tmp/pce-profiles-XXXXXX";
    ck_assert_ptr_nonnull(mkdtemp(dir));
    char path[256];
    snprintf(path, sizeof path, "%s/one-thread.ini", dir);
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fputs("[profile]\nname = one-thread\npriority = 1\n[cpu]\nthreads = 1\n", f);
    fclose(f);
    setenv("PCE_PROFILE_PATH", dir, 1);
    unsetenv("PCE_NUM_THREADS");
    pce_context *ctx = NULL;
    ck_assert_int_eq(pce_context_create(NULL, &ctx), PCE_OK);
    pce_device_props p;
    pce_device_get_props(pce_device_find(ctx, "cpu0"), &p);
    ck_assert_int_eq(p.compute_units, 1);
    size_t n = 0;
    pce_devices_explain(ctx, NULL, 0, &n);
    char *t = malloc(n + 1);
    pce_devices_explain(ctx, t, n + 1, &n);
    ck_assert_ptr_nonnull(strstr(t, "[cpu] threads = 1"));
    ck_assert_ptr_nonnull(strstr(t, "one-thread.ini:5"));
    free(t);
    pce_context_destroy(ctx);
    setenv("PCE_NUM_THREADS", "2", 1);
    ck_assert_int_eq(pce_context_create(NULL, &ctx), PCE_OK);
    pce_device_get_props(pce_device_find(ctx, "cpu0"), &p);
    ck_assert_int_eq(p.compute_units, 2);
    pce_context_destroy(ctx);
    unsetenv("PCE_NUM_THREADS");
    unsetenv("PCE_PROFILE_PATH");
    remove(path);
    rmdir(dir);
}
END_TEST

/* [cpu] pinning = cores: each worker thread runs on one CPU of those the
 * process may use (read back from /proc), and cpu0 says so. */
START_TEST(user_profile_pins_cpu_workers)
{
    cpu_set_t allowed;
    ck_assert_int_eq(sched_getaffinity(0, sizeof allowed, &allowed), 0);
    int n_cpus = CPU_COUNT(&allowed);
    char dir[] = "/tmp/pce-profiles-XXXXXX";
    ck_assert_ptr_nonnull(mkdtemp(dir));
    char path[256];
    snprintf(path, sizeof path, "%s/pin.ini", dir);
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fputs("[profile]\nname = pin\npriority = 1\n[cpu]\npinning = cores\n", f);
    fclose(f);
    setenv("PCE_PROFILE_PATH", dir, 1);
    char threads[16];
    snprintf(threads, sizeof threads, "%d", n_cpus);
    setenv("PCE_NUM_THREADS", threads, 1);
    pce_context *ctx = NULL;
    ck_assert_int_eq(pce_context_create(NULL, &ctx), PCE_OK);
    pce_device_props p;
    pce_device_get_props(pce_device_find(ctx, "cpu0"), &p);
    ck_assert_msg(strstr(p.details, "pinning=cores"), "%s", p.details);
    /* the workers (every thread but this one) each allow exactly one CPU */
    int pinned = 0;
    DIR *d = opendir("/proc/self/task");
    ck_assert_ptr_nonnull(d);
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        char sp[300], line[256];
        snprintf(sp, sizeof sp, "/proc/self/task/%s/status", e->d_name);
        FILE *st = fopen(sp, "r");
        if (!st)
            continue;
        while (fgets(line, sizeof line, st))
            if (!strncmp(line, "Cpus_allowed_list:", 18)) {
                const char *v = line + 18;
                while (*v == ' ' || *v == '\t')
                    v++;
                if (!strchr(v, ',') && !strchr(v, '-'))
                    pinned++;
            }
        fclose(st);
    }
    closedir(d);
    if (n_cpus > 1)
        ck_assert_int_ge(pinned, n_cpus - 1);
    pce_context_destroy(ctx);
    unsetenv("PCE_NUM_THREADS");
    unsetenv("PCE_PROFILE_PATH");
    remove(path);
    rmdir(dir);
}
END_TEST

int main(int argc, char **argv)
{
    fixtures = argc > 1 ? argv[1] : "tests/fixtures/snapshots";
    Suite *s = suite_create("explain");
    TCase *tc = tcase_create("explain");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, zen5_snapshot_names_its_profile);
    tcase_add_test(tc, broken_snapshot_is_reported);
    tcase_add_test(tc, machines_from_snapshots);
    tcase_add_test(tc, pce_devices_overrides_the_ranking);
    tcase_add_test(tc, user_profile_sets_cpu_threads);
    tcase_add_test(tc, user_profile_pins_cpu_workers);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_set_fork_status(sr, CK_FORK);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
