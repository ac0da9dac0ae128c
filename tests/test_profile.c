/* test_profile.c — the hardware profile parser: good files load with each
 * value's line; malformed ones (unknown section or key, bad range or value,
 * duplicate section or key, binary garbage, no name) are errors naming
 * file:line, never a crash; version ranges compare numerically. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "profile.h"

static pce_profile p;
static char err[512];

START_TEST(good_profile_keeps_lines)
{
    const char *t = "; comment\n"
                    "[profile]\n"
                    "name = zen5\n"
                    "priority = 30\n"
                    "\n"
                    "[match]\n"
                    "cpu_vendor = AuthenticAMD\n"
                    "cpu_family = 26\n"
                    "openblas_version = <0.3.29\n"
                    "pci_device = 2330-233f\n"
                    "[openblas]\n"
                    "core_candidates = Cooperlake, SkylakeX, Haswell\n"
                    "[env]\n"
                    "OPENBLAS_CORETYPE = Haswell\n";
    ck_assert_int_eq(pce_profile_parse("zen5.ini", t, &p, err, sizeof err), PCE_OK);
    ck_assert_str_eq(p.name, "zen5");
    ck_assert_int_eq(p.priority, 30);
    const pce_profile_entry *e = pce_profile_get(&p, "match", "cpu_family");
    ck_assert_ptr_nonnull(e);
    ck_assert_str_eq(e->value, "26");
    ck_assert_int_eq(e->line, 8);
    e = pce_profile_get(&p, "env", "OPENBLAS_CORETYPE");
    ck_assert_ptr_nonnull(e);
    ck_assert_int_eq(e->line, 14);
    ck_assert_ptr_null(pce_profile_get(&p, "match", "cpu_model"));
}
END_TEST

static void bad(const char *text, const char *want)
{
    ck_assert_int_eq(pce_profile_parse("bad.ini", text, &p, err, sizeof err), PCE_ERR_FORMAT);
    ck_assert_msg(strstr(err, want) != NULL, "error '%s' lacks '%s'", err, want);
}

START_TEST(malformed_profiles_name_file_and_line)
{
    bad("[profile]\nname = x\nnmae = y\n", "bad.ini:3: unknown key 'nmae' in [profile]");
    bad("[profile]\nname = x\n[matchh]\ncpu_vendor = a\n", "bad.ini:4: unknown section [matchh]");
    bad("[profile]\nname = x\n[match]\ncpu_family = 26-20\n", "bad.ini:4:");
    bad("[profile]\nname = x\n[match]\ncpu_family = twenty\n", "expected a number or version");
    bad("[profile]\nname = x\n[match]\na=1\n[match]\n", "bad.ini:4: unknown key 'a'");
    bad("[profile]\nname = x\n[match]\ncpu_family = 1\n[cpu]\nthreads = 2\n[match]\n"
        "cpu_model = 3\n",
        "bad.ini:8: section [match] appears twice");
    bad("[profile]\nname = x\nname = y\n", "bad.ini:3: [profile] name is set twice");
    bad("[profile]\nname = x\n[memory]\ntarget_utilisation = 0.95\n",
        "bad.ini:4: [memory] target_utilisation = '0.95': expected a fraction from 0.75 to 0.85");
    bad("[profile]\nname = x\n[features]\nfp8 = yes\n", "expected on or off");
    bad("[profile]\nname = x\n[backends]\norder = cuda, opencl\n", "of cpu, vulkan, cuda, hip");
    bad("[profile]\nname = x\n[match]\npci_vendor = nvidia\n", "4-digit hex id");
    bad("[profile]\nname = x\n[env]\nlower_case = 1\n", "not an environment variable name");
    bad("[profile]\nname = x\n[ops]\ndisable = rope, warp_drive\n",
        "bad.ini:4: [ops] disable = 'rope, warp_drive': expected a comma-separated list of op "
        "names");
    bad("[profile]\nname = x\n[ops]\ndisable = view\n", "of op names");
    bad("[profile]\nname = x\n[perf]\ngflops = -5\n",
        "bad.ini:4: [perf] gflops = '-5': expected a positive number");
    bad("[profile]\nname = x\n[perf]\nlink_gbs = fast\n", "expected a positive number");
    bad("[profile]\nname = x\n[kernels]\nmatmul = cublas\n", "expected one of |auto|own|blas|");
    bad("[profile]\ndescription = no name\n", "bad.ini: [profile] name is missing");
    bad("[profile]\nname = x\nthis line has no equals sign\n", "bad.ini:3: not INI syntax");
    bad("[profile]\nname = x\n\x01\x02\x7f garbage\n", "bad.ini:3: control character 0x01");
    bad("\x89PNG\r\n\x1a\n", "control character");
}
END_TEST

START_TEST(garbage_files_do_not_crash)
{
    /* random bytes (text-safe and not) through the parser: an error, no crash */
    unsigned seed = 12345u;
    char buf[4096];
    for (int round = 0; round < 300; round++) {
        size_t n = (size_t)(seed % (sizeof buf - 1));
        for (size_t i = 0; i < n; i++) {
            seed = seed * 1103515245u + 12345u;
            char c = (char)(seed >> 16);
            buf[i] = round % 2 ? (char)(" =[]\n;abc#x01"[(seed >> 8) % 13]) : (c ? c : 'z');
        }
        buf[n] = 0;
        pce_status st = pce_profile_parse("fuzz.ini", buf, &p, err, sizeof err);
        ck_assert(st == PCE_OK || st == PCE_ERR_FORMAT);
        if (st != PCE_OK)
            ck_assert_ptr_nonnull(strstr(err, "fuzz.ini"));
    }
    /* a line far longer than inih's buffer */
    char *big = malloc(20000);
    ck_assert_ptr_nonnull(big);
    strcpy(big, "[profile]\nname = x\ndescription = ");
    memset(big + strlen(big), 'y', 10000);
    big[strlen("[profile]\nname = x\ndescription = ") + 10000] = 0;
    pce_status st = pce_profile_parse("long.ini", big, &p, err, sizeof err);
    ck_assert(st == PCE_OK || st == PCE_ERR_FORMAT);
    free(big);
    ck_assert_int_eq(pce_profile_load("/nonexistent/x.ini", &p, err, sizeof err), PCE_ERR_IO);
    ck_assert_ptr_nonnull(strstr(err, "cannot open"));
}
END_TEST

START_TEST(ranges_compare_versions_numerically)
{
    ck_assert_int_eq(pce_range_contains("<0.3.29", "0.3.21"), 1);
    ck_assert_int_eq(pce_range_contains("<0.3.29", "0.3.29"), 0);
    ck_assert_int_eq(pce_range_contains("<0.3.29", "0.3.100"), 0);
    ck_assert_int_eq(pce_range_contains(">=8.9", "9.0"), 1);
    ck_assert_int_eq(pce_range_contains("8.0-8.7", "8.6"), 1);
    ck_assert_int_eq(pce_range_contains("8.0-8.7", "8.9"), 0);
    ck_assert_int_eq(pce_range_contains("143-207", "207"), 1);
    ck_assert_int_eq(pce_range_contains("26", "26"), 1);
    ck_assert_int_eq(pce_range_contains("26", "25"), 0);
    ck_assert_int_eq(pce_range_contains("9-3", "5"), -1);
    ck_assert_int_eq(pce_range_contains("<abc", "1"), -1);
    ck_assert_int_eq(pce_range_contains("", "1"), -1);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("profile");
    TCase *tc = tcase_create("profile");
    tcase_add_test(tc, good_profile_keeps_lines);
    tcase_add_test(tc, malformed_profiles_name_file_and_line);
    tcase_add_test(tc, garbage_files_do_not_crash);
    tcase_add_test(tc, ranges_compare_versions_numerically);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
