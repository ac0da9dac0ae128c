/* test_detect.c — hardware detection: the CPU as /proc/cpuinfo describes it
 * (never a hard-coded host), PCI scanning on a made-up sysfs tree, and the
 * snapshot's JSON. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "detect.h"

/* The first value of `key` in /proc/cpuinfo, or "" */
static void cpuinfo(const char *key, char *out, size_t cap)
{
    out[0] = 0;
    FILE *f = fopen("/proc/cpuinfo", "r");
    char line[4096];
    size_t n = strlen(key);
    while (f && fgets(line, sizeof line, f)) {
        if (strncmp(line, key, n) == 0 && (line[n] == ' ' || line[n] == '\t' || line[n] == ':')) {
            const char *v = strchr(line, ':');
            if (v) {
                snprintf(out, cap, "%s", v + 2);
                out[strcspn(out, "\n")] = 0;
            }
            break;
        }
    }
    if (f)
        fclose(f);
}

static bool flag(const char *flags, const char *f)
{
    size_t n = strlen(f);
    for (const char *p = flags; (p = strstr(p, f)) != NULL; p += n)
        if ((p == flags || p[-1] == ' ') && (p[n] == ' ' || p[n] == 0))
            return true;
    return false;
}

START_TEST(cpu_matches_proc_cpuinfo)
{
    pce_hw_snapshot s;
    pce_hw_detect(&s, "/");
    ck_assert_int_ge(s.cpu.threads, 1);
    ck_assert_int_ge(s.cpu.cores, 1);
    ck_assert_int_le(s.cpu.cores, s.cpu.threads);
    ck_assert_int_eq(s.cpu.threads, (int)sysconf(_SC_NPROCESSORS_ONLN));
#if defined(__x86_64__)
    char v[256], fam[32], mod[32];
    static char flags[8192];
    cpuinfo("vendor_id", v, sizeof v);
    cpuinfo("cpu family", fam, sizeof fam);
    cpuinfo("model", mod, sizeof mod);
    cpuinfo("flags", flags, sizeof flags);
    if (!v[0])
        return; /* no /proc here: nothing to compare with */
    ck_assert_str_eq(s.cpu.vendor, v);
    ck_assert_int_eq(s.cpu.family, atoi(fam));
    ck_assert_int_eq(s.cpu.model, atoi(mod));
    /* the kernel lists a feature only when the OS supports it, as we do */
    static const char *pairs[][2] = {{"avx2", "avx2"},
                                     {"fma", "fma"},
                                     {"avx512f", "avx512f"},
                                     {"avx512bw", "avx512bw"},
                                     {"avx512_vnni", "avx512vnni"},
                                     {"amx_tile", "amx-tile"},
                                     {"avx_vnni", "avx-vnni"},
                                     {"f16c", "f16c"}};
    for (size_t i = 0; i < sizeof pairs / sizeof pairs[0]; i++)
        ck_assert_msg(flag(flags, pairs[i][0]) == pce_hw_has_feature(&s.cpu, pairs[i][1]),
                      "%s: /proc/cpuinfo %d, pce %d", pairs[i][1], flag(flags, pairs[i][0]),
                      pce_hw_has_feature(&s.cpu, pairs[i][1]));
#endif
}
END_TEST

static void put(const char *root, const char *slot, const char *file, const char *text)
{
    char p[512];
    snprintf(p, sizeof p, "%s/sys/bus/pci/devices/%s", root, slot);
    mkdir(p, 0755);
    snprintf(p, sizeof p, "%s/sys/bus/pci/devices/%s/%s", root, slot, file);
    FILE *f = fopen(p, "w");
    ck_assert_ptr_nonnull(f);
    fputs(text, f);
    fclose(f);
}

static void driver(const char *root, const char *slot, const char *name)
{
    char p[512], t[512];
    snprintf(p, sizeof p, "%s/sys/bus/pci/devices/%s/driver", root, slot);
    snprintf(t, sizeof t, "../../../bus/pci/drivers/%s", name);
    ck_assert_int_eq(symlink(t, p), 0);
}

/* A made-up machine: an NVIDIA GPU bound to nvidia, an AMD GPU bound to
 * amdgpu, an accelerator with no driver, a NIC and a device with a broken
 * class file (both ignored). */
START_TEST(pci_scan_of_a_made_up_tree)
{
    char root[] = "/tmp/pce-sysfs-XXXXXX";
    ck_assert_ptr_nonnull(mkdtemp(root));
    char p[512];
    const char *dirs[] = {"/sys", "/sys/bus", "/sys/bus/pci", "/sys/bus/pci/devices"};
    for (int i = 0; i < 4; i++) {
        snprintf(p, sizeof p, "%s%s", root, dirs[i]);
        ck_assert_int_eq(mkdir(p, 0755), 0);
    }
    put(root, "0000:c1:00.0", "class", "0x030200\n");
    put(root, "0000:c1:00.0", "vendor", "0x10de\n");
    put(root, "0000:c1:00.0", "device", "0x2335\n");
    driver(root, "0000:c1:00.0", "nvidia");
    put(root, "0000:03:00.0", "class", "0x030000\n");
    put(root, "0000:03:00.0", "vendor", "0x1002\n");
    put(root, "0000:03:00.0", "device", "0x740f\n");
    driver(root, "0000:03:00.0", "amdgpu");
    put(root, "0000:05:00.0", "class", "0x120000\n");
    put(root, "0000:05:00.0", "vendor", "0x1ded\n");
    put(root, "0000:05:00.0", "device", "0x0001\n");
    put(root, "0000:01:00.0", "class", "0x020000\n");
    put(root, "0000:01:00.0", "vendor", "0x8086\n");
    put(root, "0000:01:00.0", "device", "0x1572\n");
    put(root, "0000:02:00.0", "class", "garbage\xff\n");
    put(root, "0000:02:00.0", "vendor", "0x10de\n");
    put(root, "0000:02:00.0", "device", "0x0000\n");

    pce_hw_pci pci[8];
    int n = pce_hw_scan_pci(root, pci, 8);
    ck_assert_int_eq(n, 3);
    ck_assert_str_eq(pci[0].slot, "0000:03:00.0"); /* sorted by slot */
    ck_assert_uint_eq(pci[0].vendor, 0x1002);
    ck_assert_uint_eq(pci[0].device, 0x740f);
    ck_assert_str_eq(pci[0].driver, "amdgpu");
    ck_assert_str_eq(pci[1].slot, "0000:05:00.0");
    ck_assert_uint_eq(pci[1].class_code, 0x120000);
    ck_assert_str_eq(pci[1].driver, "");
    ck_assert_str_eq(pci[2].slot, "0000:c1:00.0");
    ck_assert_uint_eq(pci[2].vendor, 0x10de);
    ck_assert_str_eq(pci[2].driver, "nvidia");
    ck_assert_int_eq(pce_hw_scan_pci(root, pci, 1), 1); /* capacity respected */
    ck_assert_int_eq(pce_hw_scan_pci("/nonexistent-root", pci, 8), 0);

    /* the snapshot of that tree writes its GPUs into the JSON */
    pce_hw_snapshot s;
    pce_hw_detect(&s, root);
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    pce_hw_write_json(&s, f);
    fclose(f);
    ck_assert_ptr_nonnull(strstr(buf, "\"format\": \"pce-snapshot\""));
    ck_assert_ptr_nonnull(strstr(buf, "\"vendor\": \"10de\", \"device\": \"2335\""));
    ck_assert_ptr_nonnull(strstr(buf, "\"driver\": \"amdgpu\""));
    ck_assert_ptr_null(strstr(buf, "1572"));
    free(buf);
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", root);
    ck_assert_int_eq(system(cmd), 0);
}
END_TEST

START_TEST(feature_words_are_whole)
{
    pce_hw_cpu c = {0};
    snprintf(c.features, sizeof c.features, "avx2 avx512f avx512fp16");
    ck_assert(pce_hw_has_feature(&c, "avx512f"));
    ck_assert(pce_hw_has_feature(&c, "avx512fp16"));
    ck_assert(!pce_hw_has_feature(&c, "avx"));
    ck_assert(!pce_hw_has_feature(&c, "avx512"));
    ck_assert_str_eq(pce_hw_vendor_name(0x10de), "NVIDIA");
    ck_assert_ptr_null(pce_hw_vendor_name(0xabcd));
}
END_TEST

int main(void)
{
    Suite *s = suite_create("detect");
    TCase *tc = tcase_create("detect");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, cpu_matches_proc_cpuinfo);
    tcase_add_test(tc, pci_scan_of_a_made_up_tree);
    tcase_add_test(tc, feature_words_are_whole);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
