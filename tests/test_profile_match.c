/* test_profile_match.c — the shipped hw-profiles matched against made-up
 * snapshots of documented machines: the Zen 5 host this project runs on, an
 * H200 host, an A100 host with an EPYC 7763, an MI250 host, a laptop with an
 * NVIDIA dGPU but no CUDA runtime, a lavapipe-only host. argv[1]: the
 * hw-profiles folder. */
#include <check.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "detect.h"
#include "profile.h"

static const char *dir;
static pce_profile profiles[64];
static int n_profiles;

static void load_all(void)
{
    if (n_profiles)
        return;
    DIR *d = opendir(dir);
    ck_assert_ptr_nonnull(d);
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        size_t n = strlen(e->d_name);
        if (n < 5 || strcmp(e->d_name + n - 4, ".ini"))
            continue;
        char path[512], err[512];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        ck_assert_int_lt(n_profiles, 64);
        ck_assert_msg(pce_profile_load(path, &profiles[n_profiles], err, sizeof err) == PCE_OK,
                      "%s", err);
        n_profiles++;
    }
    closedir(d);
    ck_assert_int_ge(n_profiles, 10);
}

/* The names of the profiles matching the host (dev NULL) or a device. */
static int matching(const pce_hw_snapshot *s, const pce_device_facts *dev, const pce_profile **out)
{
    load_all();
    int n = 0;
    for (int i = 0; i < n_profiles; i++)
        if (pce_profile_matches(&profiles[i], s, dev, NULL, 0))
            out[n++] = &profiles[i];
    return n;
}

static bool has(const pce_profile **m, int n, const char *name)
{
    for (int i = 0; i < n; i++)
        if (!strcmp(m[i]->name, name))
            return true;
    return false;
}

static const char *value(const pce_profile **m, int n, const char *section, const char *key)
{
    pce_setting st = pce_profiles_resolve(m, n, section, key);
    return st.entry ? st.entry->value : NULL;
}

static void cpu(pce_hw_snapshot *s, const char *vendor, int fam, int model, const char *brand,
                const char *features, const char *openblas)
{
    memset(s, 0, sizeof *s);
    snprintf(s->cpu.arch, sizeof s->cpu.arch, "x86_64");
    snprintf(s->cpu.vendor, sizeof s->cpu.vendor, "%s", vendor);
    s->cpu.family = fam;
    s->cpu.model = model;
    snprintf(s->cpu.brand, sizeof s->cpu.brand, "%s", brand);
    snprintf(s->cpu.features, sizeof s->cpu.features, "%s", features);
    snprintf(s->libs.openblas_config, sizeof s->libs.openblas_config, "OpenBLAS %s DYNAMIC_ARCH",
             openblas);
    s->libs.libvulkan = true;
}

/* the core OpenBLAS picks when left alone on that host */
static void default_core(pce_hw_snapshot *s, const char *core)
{
    snprintf(s->libs.openblas_default_core, sizeof s->libs.openblas_default_core, "%s", core);
}

static void pci(pce_hw_snapshot *s, uint16_t vendor, uint16_t device, const char *driver)
{
    pce_hw_pci *p = &s->pci[s->n_pci++];
    snprintf(p->slot, sizeof p->slot, "0000:%02x:00.0", s->n_pci);
    p->vendor = vendor;
    p->device = device;
    p->class_code = 0x030000;
    snprintf(p->driver, sizeof p->driver, "%s", driver);
}

static pce_device_facts facts(const char *backend, const char *name, const char *driver,
                              const char *arch, uint16_t vendor)
{
    pce_device_facts f = {0};
    snprintf(f.backend, sizeof f.backend, "%s", backend);
    snprintf(f.name, sizeof f.name, "%s", name);
    snprintf(f.driver, sizeof f.driver, "%s", driver);
    snprintf(f.arch, sizeof f.arch, "%s", arch);
    f.pci_vendor = vendor;
    return f;
}

START_TEST(zen5_host_with_old_openblas_and_lavapipe)
{
    pce_hw_snapshot s;
    cpu(&s, "AuthenticAMD", 26, 2, "AMD EPYC 9755 128-Core Processor",
        "avx avx2 fma avx512f avx512bw avx512vl avx512bf16", "0.3.21");
    const pce_profile *m[64];
    int n = matching(&s, NULL, m);
    ck_assert(has(m, n, "generic-x86-64"));
    ck_assert(has(m, n, "amd-epyc-zen5"));
    ck_assert(!has(m, n, "amd-epyc-zen4"));
    ck_assert(!has(m, n, "amd-epyc-zen3"));
    ck_assert(!has(m, n, "openblas-sse-fallback")); /* OpenBLAS's own pick unknown */
    /* the Zen 5 profile, not the generic one, decides OpenBLAS's core */
    ck_assert_str_eq(value(m, n, "openblas", "core_candidates"), "Cooperlake, SkylakeX, Haswell");
    pce_setting st = pce_profiles_resolve(m, n, "openblas", "core_candidates");
    ck_assert_ptr_nonnull(strstr(st.from->file, "amd-epyc-zen5.ini"));
    ck_assert_int_gt(st.entry->line, 1);
    /* lavapipe is never chosen automatically */
    pce_device_facts lvp = facts("vulkan", "llvmpipe (LLVM 15.0.6, 256 bits)", "llvmpipe", "",
                                 0 /* Mesa: vendor 0x10005 is not a PCI id */);
    n = matching(&s, &lvp, m);
    ck_assert(has(m, n, "mesa-lavapipe"));
    ck_assert_str_eq(value(m, n, "backends", "auto"), "off");
    /* its measured peaks feed placement's cost model */
    ck_assert_str_eq(value(m, n, "perf", "gflops"), "4");
    ck_assert_str_eq(value(m, n, "memory", "target_utilisation"), "0.80");
}
END_TEST

START_TEST(h200_host)
{
    pce_hw_snapshot s;
    cpu(&s, "GenuineIntel", 6, 143, "Intel(R) Xeon(R) Platinum 8480+",
        "avx avx2 fma avx512f avx512bw amx-tile amx-bf16", "0.3.26");
    pci(&s, 0x10de, 0x2335, "nvidia");
    s.libs.libcuda = s.libs.libcudart = true;
    const pce_profile *m[64];
    int n = matching(&s, NULL, m);
    ck_assert(has(m, n, "generic-x86-64"));
    default_core(&s, "SapphireRapids");
    n = matching(&s, NULL, m);
    ck_assert(!has(m, n, "openblas-sse-fallback")); /* 0.3.26 knows it */
    pce_device_facts h200 = facts("cuda", "NVIDIA H200", "nvidia", "9.0", 0x10de);
    n = matching(&s, &h200, m);
    ck_assert(has(m, n, "nvidia-hopper"));
    ck_assert(!has(m, n, "nvidia-ampere"));
    ck_assert(!has(m, n, "nvidia-no-cuda-runtime"));
    ck_assert_str_eq(value(m, n, "features", "fp8"), "on");
    ck_assert_str_eq(value(m, n, "backends", "order"), "cuda, hip, vulkan, cpu");
    ck_assert_str_eq(value(m, n, "perf", "link_gbs"), "50");
    /* with OpenBLAS 0.3.21, the same Xeon falls back to Prescott: the quirk applies */
    cpu(&s, "GenuineIntel", 6, 143, "Intel(R) Xeon(R) Platinum 8480+",
        "avx avx2 fma avx512f avx512bw amx-tile amx-bf16", "0.3.21");
    default_core(&s, "Prescott");
    n = matching(&s, NULL, m);
    ck_assert(has(m, n, "openblas-sse-fallback"));
    ck_assert_str_eq(value(m, n, "openblas", "core_candidates"), "Cooperlake, SkylakeX, Haswell");
    /* by what OpenBLAS picks, not by model: a part newer than any list
     * (Granite Rapids, model 173, AMX hidden by the hypervisor) too */
    cpu(&s, "GenuineIntel", 6, 173, "Intel(R) Xeon(R) 6", "avx avx2 fma avx512f avx-vnni",
        "0.3.21");
    default_core(&s, "prescott"); /* any case */
    n = matching(&s, NULL, m);
    ck_assert(has(m, n, "openblas-sse-fallback"));
    /* a core OpenBLAS chose on purpose is left alone */
    default_core(&s, "Haswell");
    n = matching(&s, NULL, m);
    ck_assert(!has(m, n, "openblas-sse-fallback"));
    /* and an SSE pick on a CPU without AVX2 is right */
    cpu(&s, "GenuineIntel", 6, 26, "Intel(R) Xeon(R) CPU X5570", "sse4_2", "0.3.21");
    default_core(&s, "Nehalem");
    n = matching(&s, NULL, m);
    ck_assert(!has(m, n, "openblas-sse-fallback"));
}
END_TEST

START_TEST(a100_host_with_epyc_7763)
{
    pce_hw_snapshot s;
    cpu(&s, "AuthenticAMD", 25, 1, "AMD EPYC 7763 64-Core Processor", "avx avx2 fma", "0.3.21");
    pci(&s, 0x10de, 0x20b2, "nvidia");
    s.libs.libcuda = s.libs.libcudart = true;
    const pce_profile *m[64];
    int n = matching(&s, NULL, m);
    ck_assert(has(m, n, "amd-epyc-zen3"));
    ck_assert(!has(m, n, "amd-epyc-zen5"));
    ck_assert(!has(m, n, "amd-gpu-no-cuda")); /* an NVIDIA host */
    pce_device_facts a100 = facts("cuda", "NVIDIA A100-SXM4-80GB", "nvidia", "8.0", 0x10de);
    n = matching(&s, &a100, m);
    ck_assert(has(m, n, "nvidia-ampere"));
    ck_assert_str_eq(value(m, n, "features", "fp8"), "off");
}
END_TEST

START_TEST(mi250_host)
{
    pce_hw_snapshot s;
    cpu(&s, "AuthenticAMD", 25, 1, "AMD EPYC 7713 64-Core Processor", "avx avx2 fma", "0.3.26");
    pci(&s, 0x1002, 0x740c, "amdgpu");
    s.libs.libamdhip64 = s.libs.dev_kfd = true;
    const pce_profile *m[64];
    int n = matching(&s, NULL, m);
    ck_assert(has(m, n, "amd-gpu-no-cuda"));
    /* the AMD host profile (priority 10) orders backends over the generic one */
    ck_assert_str_eq(value(m, n, "backends", "order"), "hip, vulkan, cpu");
    pce_device_facts mi =
        facts("hip", "AMD Instinct MI250X", "amdgpu", "gfx90a:sramecc+:xnack-", 0x1002);
    n = matching(&s, &mi, m);
    ck_assert(has(m, n, "amd-cdna2"));
    ck_assert(!has(m, n, "amd-cdna3"));
    ck_assert(!has(m, n, "amd-rdna"));
}
END_TEST

START_TEST(laptop_nvidia_without_cuda_runtime)
{
    pce_hw_snapshot s;
    cpu(&s, "GenuineIntel", 6, 186, "13th Gen Intel(R) Core(TM) i7-13700H", "avx avx2 fma avx-vnni",
        "0.3.21");
    pci(&s, 0x8086, 0xa7a0, "i915");
    pci(&s, 0x10de, 0x28e0, "nvidia");
    pce_device_facts nv =
        facts("vulkan", "NVIDIA GeForce RTX 4060 Laptop GPU", "nvidia", "", 0x10de);
    const pce_profile *m[64];
    char why[256];
    int n = matching(&s, &nv, m);
    ck_assert(has(m, n, "nvidia-no-cuda-runtime"));
    ck_assert_str_eq(value(m, n, "backends", "order"), "vulkan, cpu");
    /* with the CUDA runtime present, the quirk no longer applies, and says why */
    s.libs.libcuda = s.libs.libcudart = true;
    for (int i = 0; i < n_profiles; i++)
        if (!strcmp(profiles[i].name, "nvidia-no-cuda-runtime")) {
            ck_assert(!pce_profile_matches(&profiles[i], &s, &nv, why, sizeof why));
            ck_assert_ptr_nonnull(strstr(why, "runtime_missing = cuda"));
            ck_assert_ptr_nonnull(strstr(why, "nvidia-no-cuda-runtime.ini:"));
        }
    /* a device-level profile never matches the host alone */
    for (int i = 0; i < n_profiles; i++)
        if (!strcmp(profiles[i].name, "nvidia-hopper"))
            ck_assert(!pce_profile_matches(&profiles[i], &s, NULL, NULL, 0));
}
END_TEST

int main(int argc, char **argv)
{
    dir = argc > 1 ? argv[1] : "hw-profiles";
    Suite *s = suite_create("profile-match");
    TCase *tc = tcase_create("machines");
    tcase_add_test(tc, zen5_host_with_old_openblas_and_lavapipe);
    tcase_add_test(tc, h200_host);
    tcase_add_test(tc, a100_host_with_epyc_7763);
    tcase_add_test(tc, mi250_host);
    tcase_add_test(tc, laptop_nvidia_without_cuda_runtime);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
