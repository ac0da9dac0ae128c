/* test_vk_select.c — Vulkan device selection on made-up snapshots: one GPU
 * seen by two drivers keeps the preferred one, devices come out discrete,
 * integrated, ..., CPU, then by memory, then by index. */
#include <check.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "vk_select.h"

#define GiB (1ull << 30)
#define API(maj, min, pat) (((uint32_t)(maj) << 22) | ((uint32_t)(min) << 12) | (uint32_t)(pat))
#define POISON 0x5a5a5a5a

static pce_vk_phys_info dev(int index, const char *name, uint32_t vendor, int type, int driver,
                            uint32_t api, uint8_t uuid_seed, uint64_t local)
{
    pce_vk_phys_info d;
    memset(&d, 0, sizeof d);
    d.index = index;
    snprintf(d.name, sizeof d.name, "%s", name);
    d.vendor_id = vendor;
    d.device_id = 0x1000u + (uint32_t)index;
    d.type = type;
    d.driver_id = driver;
    d.api_version = api;
    /* uuid_seed 0 leaves the all-zero UUID */
    for (int i = 0; uuid_seed && i < 16; i++)
        d.uuid[i] = (uint8_t)(uuid_seed * 31 + i * 7 + 1);
    d.device_local_bytes = local;
    return d;
}

static void poison(int *v, int n)
{
    for (int i = 0; i < n; i++)
        v[i] = POISON;
}

START_TEST(nvidia_proprietary_kept_over_nvk)
{
    pce_vk_phys_info in[3] = {
        /* NVK reports a newer API version: the driver rule still wins */
        dev(0, "NVIDIA GeForce RTX 4090 (NVK AD102)", 0x10de, PCE_VK_TYPE_DISCRETE,
            PCE_VK_DRIVER_MESA_NVK, API(1, 4, 300), 7, 24 * GiB),
        dev(1, "NVIDIA GeForce RTX 4090", 0x10de, PCE_VK_TYPE_DISCRETE,
            PCE_VK_DRIVER_NVIDIA_PROPRIETARY, API(1, 3, 277), 7, 24 * GiB),
        dev(2, "Intel(R) UHD Graphics 770", 0x8086, PCE_VK_TYPE_INTEGRATED,
            PCE_VK_DRIVER_INTEL_OPEN_SOURCE_MESA, API(1, 3, 289), 9, 0),
    };
    int order[3], dropped[3];
    poison(order, 3);
    poison(dropped, 3);
    ck_assert_int_eq(pce_vk_select(in, 3, order, dropped), 2);
    ck_assert_int_eq(order[0], 1);
    ck_assert_int_eq(order[1], 2);
    ck_assert_int_eq(order[2], POISON); /* nothing written past the count */
    ck_assert_int_eq(dropped[0], 1);
    ck_assert_int_eq(dropped[1], -1);
    ck_assert_int_eq(dropped[2], -1);
    /* the same with the proprietary driver enumerated first */
    pce_vk_phys_info swapped[2] = {in[1], in[0]};
    ck_assert_int_eq(pce_vk_select(swapped, 2, order, dropped), 1);
    ck_assert_int_eq(order[0], 0);
    ck_assert_int_eq(dropped[0], -1);
    ck_assert_int_eq(dropped[1], 0);
}
END_TEST

START_TEST(amd_radv_before_amdvlk_before_proprietary)
{
    pce_vk_phys_info in[3] = {
        dev(0, "AMD Radeon RX 7900 XTX (AMDVLK)", 0x1002, PCE_VK_TYPE_DISCRETE,
            PCE_VK_DRIVER_AMD_OPEN_SOURCE, API(1, 3, 280), 3, 24 * GiB),
        dev(1, "AMD Radeon RX 7900 XTX", 0x1002, PCE_VK_TYPE_DISCRETE,
            PCE_VK_DRIVER_AMD_PROPRIETARY, API(1, 3, 290), 3, 24 * GiB),
        dev(2, "AMD Radeon RX 7900 XTX (RADV NAVI31)", 0x1002, PCE_VK_TYPE_DISCRETE,
            PCE_VK_DRIVER_MESA_RADV, API(1, 3, 270), 3, 24 * GiB),
    };
    int order[3], dropped[3];
    poison(order, 3);
    poison(dropped, 3);
    ck_assert_int_eq(pce_vk_select(in, 3, order, dropped), 1);
    ck_assert_int_eq(order[0], 2);
    ck_assert_int_eq(dropped[0], 2);
    ck_assert_int_eq(dropped[1], 2);
    ck_assert_int_eq(dropped[2], -1);
    /* without RADV, AMDVLK beats the proprietary driver's newer API */
    ck_assert_int_eq(pce_vk_select(in, 2, order, dropped), 1);
    ck_assert_int_eq(order[0], 0);
    ck_assert_int_eq(dropped[0], -1);
    ck_assert_int_eq(dropped[1], 0);
}
END_TEST

START_TEST(same_driver_twice_keeps_higher_api_then_lower_index)
{
    pce_vk_phys_info in[3] = {
        dev(0, "GPU (old ICD)", 0x10de, PCE_VK_TYPE_DISCRETE, PCE_VK_DRIVER_NVIDIA_PROPRIETARY,
            API(1, 3, 200), 5, 8 * GiB),
        dev(1, "GPU (new ICD)", 0x10de, PCE_VK_TYPE_DISCRETE, PCE_VK_DRIVER_NVIDIA_PROPRIETARY,
            API(1, 3, 280), 5, 8 * GiB),
        dev(2, "GPU (new ICD, again)", 0x10de, PCE_VK_TYPE_DISCRETE,
            PCE_VK_DRIVER_NVIDIA_PROPRIETARY, API(1, 3, 280), 5, 8 * GiB),
    };
    int order[3], dropped[3];
    poison(order, 3);
    poison(dropped, 3);
    ck_assert_int_eq(pce_vk_select(in, 3, order, dropped), 1);
    ck_assert_int_eq(order[0], 1);
    ck_assert_int_eq(dropped[0], 1);
    ck_assert_int_eq(dropped[1], -1);
    ck_assert_int_eq(dropped[2], 1);
    /* the enumeration index field decides, not the position in `in` */
    in[1].index = 9;
    ck_assert_int_eq(pce_vk_select(in, 3, order, dropped), 1);
    ck_assert_int_eq(order[0], 2);
    ck_assert_int_eq(dropped[1], 2);
}
END_TEST

START_TEST(discrete_then_integrated_then_cpu)
{
    pce_vk_phys_info in[3] = {
        dev(0, "llvmpipe (LLVM 15.0.7, 256 bits)", 0x10005, PCE_VK_TYPE_CPU,
            PCE_VK_DRIVER_MESA_LLVMPIPE, API(1, 3, 255), 1, 64 * GiB),
        dev(1, "AMD Radeon Graphics (RADV RAPHAEL_MENDOCINO)", 0x1002, PCE_VK_TYPE_INTEGRATED,
            PCE_VK_DRIVER_MESA_RADV, API(1, 3, 255), 2, 2 * GiB),
        dev(2, "NVIDIA GeForce RTX 3060", 0x10de, PCE_VK_TYPE_DISCRETE,
            PCE_VK_DRIVER_NVIDIA_PROPRIETARY, API(1, 3, 277), 3, 12 * GiB),
    };
    int order[3], dropped[3];
    poison(order, 3);
    poison(dropped, 3);
    ck_assert_int_eq(pce_vk_select(in, 3, order, dropped), 3);
    ck_assert_int_eq(order[0], 2);
    ck_assert_int_eq(order[1], 1);
    ck_assert_int_eq(order[2], 0);
    for (int i = 0; i < 3; i++)
        ck_assert_int_eq(dropped[i], -1);
    /* virtual and other between integrated and CPU; dropped_by may be NULL */
    pce_vk_phys_info more[5] = {
        in[0],
        dev(1, "other", 0x1234, PCE_VK_TYPE_OTHER, 99, API(1, 1, 0), 4, 32 * GiB),
        dev(2, "virtio-gpu (Venus)", 0x1af4, PCE_VK_TYPE_VIRTUAL, 22, API(1, 3, 0), 5, 1 * GiB),
        in[1],
        in[2],
    };
    int o5[5];
    poison(o5, 5);
    ck_assert_int_eq(pce_vk_select(more, 5, o5, NULL), 5);
    ck_assert_int_eq(o5[0], 4);
    ck_assert_int_eq(o5[1], 3);
    ck_assert_int_eq(o5[2], 2);
    ck_assert_int_eq(o5[3], 1);
    ck_assert_int_eq(o5[4], 0);
}
END_TEST

START_TEST(identical_gpus_ordered_by_memory_then_index)
{
    pce_vk_phys_info in[4];
    for (int i = 0; i < 4; i++)
        in[i] = dev(i, "NVIDIA H100 80GB HBM3", 0x10de, PCE_VK_TYPE_DISCRETE,
                    PCE_VK_DRIVER_NVIDIA_PROPRIETARY, API(1, 3, 277), (uint8_t)(10 + i), 80 * GiB);
    in[0].device_local_bytes = 40 * GiB;
    in[2].device_local_bytes = 94 * GiB;
    int order[4], dropped[4];
    poison(order, 4);
    poison(dropped, 4);
    ck_assert_int_eq(pce_vk_select(in, 4, order, dropped), 4);
    ck_assert_int_eq(order[0], 2);
    ck_assert_int_eq(order[1], 1);
    ck_assert_int_eq(order[2], 3);
    ck_assert_int_eq(order[3], 0);
    for (int i = 0; i < 4; i++)
        ck_assert_int_eq(dropped[i], -1);
}
END_TEST

START_TEST(zero_uuids_are_never_duplicates)
{
    pce_vk_phys_info in[3] = {
        dev(0, "SwiftShader Device", 0x1ae0, PCE_VK_TYPE_CPU, 10, API(1, 3, 0), 0, 0),
        dev(1, "SwiftShader Device", 0x1ae0, PCE_VK_TYPE_CPU, 10, API(1, 3, 0), 0, 0),
        dev(2, "NVIDIA (NVK)", 0x10de, PCE_VK_TYPE_DISCRETE, PCE_VK_DRIVER_MESA_NVK, API(1, 3, 0),
            0, 4 * GiB),
    };
    int order[3], dropped[3];
    poison(order, 3);
    poison(dropped, 3);
    ck_assert_int_eq(pce_vk_select(in, 3, order, dropped), 3);
    ck_assert_int_eq(order[0], 2);
    ck_assert_int_eq(order[1], 0);
    ck_assert_int_eq(order[2], 1);
    for (int i = 0; i < 3; i++)
        ck_assert_int_eq(dropped[i], -1);
}
END_TEST

START_TEST(empty_and_null_inputs)
{
    int order[2] = {POISON, POISON}, dropped[2] = {POISON, POISON};
    ck_assert_int_eq(pce_vk_select(NULL, 0, NULL, NULL), 0);
    ck_assert_int_eq(pce_vk_select(NULL, 0, order, dropped), 0);
    ck_assert_int_eq(order[0], POISON);
    ck_assert_int_eq(dropped[0], POISON);
    ck_assert_int_eq(pce_vk_select(NULL, -3, order, dropped), 0);
    ck_assert_int_eq(pce_vk_select(NULL, 2, order, dropped), 0);
    ck_assert_int_eq(dropped[0], -1);
    ck_assert_int_eq(dropped[1], -1);
    pce_vk_phys_info one = dev(0, "x", 1, PCE_VK_TYPE_DISCRETE, 0, 0, 1, 1);
    ck_assert_int_eq(pce_vk_select(&one, 1, NULL, NULL), 0);
    ck_assert_int_eq(pce_vk_select(&one, 1, order, NULL), 1);
    ck_assert_int_eq(order[0], 0);
}
END_TEST

START_TEST(driver_ranks)
{
    ck_assert_int_lt(pce_vk_driver_rank(PCE_VK_DRIVER_NVIDIA_PROPRIETARY),
                     pce_vk_driver_rank(PCE_VK_DRIVER_MESA_NVK));
    ck_assert_int_lt(pce_vk_driver_rank(PCE_VK_DRIVER_MESA_RADV),
                     pce_vk_driver_rank(PCE_VK_DRIVER_AMD_OPEN_SOURCE));
    ck_assert_int_lt(pce_vk_driver_rank(PCE_VK_DRIVER_AMD_OPEN_SOURCE),
                     pce_vk_driver_rank(PCE_VK_DRIVER_AMD_PROPRIETARY));
    ck_assert_int_lt(pce_vk_driver_rank(PCE_VK_DRIVER_INTEL_OPEN_SOURCE_MESA),
                     pce_vk_driver_rank(PCE_VK_DRIVER_INTEL_PROPRIETARY_WINDOWS));
    const int known[] = {
        PCE_VK_DRIVER_AMD_PROPRIETARY,
        PCE_VK_DRIVER_AMD_OPEN_SOURCE,
        PCE_VK_DRIVER_MESA_RADV,
        PCE_VK_DRIVER_NVIDIA_PROPRIETARY,
        PCE_VK_DRIVER_INTEL_PROPRIETARY_WINDOWS,
        PCE_VK_DRIVER_INTEL_OPEN_SOURCE_MESA,
        PCE_VK_DRIVER_MESA_NVK,
    };
    /* unknown: 0, Qualcomm (8), MoltenVK (14), Turnip (18), a future id */
    const int unknown[] = {PCE_VK_DRIVER_UNKNOWN, 8, 14, 18, 1000, -1};
    for (size_t k = 0; k < sizeof known / sizeof *known; k++)
        for (size_t u = 0; u < sizeof unknown / sizeof *unknown; u++)
            ck_assert_int_lt(pce_vk_driver_rank(known[k]), pce_vk_driver_rank(unknown[u]));
    for (size_t u = 0; u < sizeof unknown / sizeof *unknown; u++)
        ck_assert_int_lt(pce_vk_driver_rank(unknown[u]),
                         pce_vk_driver_rank(PCE_VK_DRIVER_MESA_LLVMPIPE));
}
END_TEST

/* Random snapshots (a fresh seed per run): every invariant of the result,
 * checked pairwise against the rules rather than a second implementation. */
static uint64_t rng;

static uint32_t rnd(void)
{
    rng = rng * 6364136223846793005ull + 1442695040888963407ull;
    return (uint32_t)(rng >> 33);
}

static int rank_of(const pce_vk_phys_info *d)
{
    return pce_vk_driver_rank(d->driver_id);
}

static int type_pos(int t)
{
    static const int pos[] = {3, 1, 0, 2, 4};
    return t >= 0 && t <= 4 ? pos[t] : 3;
}

START_TEST(random_snapshots_obey_the_rules)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    uint64_t seed = (uint64_t)ts.tv_nsec ^ ((uint64_t)ts.tv_sec << 24) ^ (uint64_t)getpid();
    rng = seed;
    static const int drivers[] = {0, 1, 2, 3, 4, 5, 6, 13, 24, 8, 18};
    for (int round = 0; round < 500; round++) {
        enum { MAXN = 12 };
        pce_vk_phys_info in[MAXN];
        int n = 1 + (int)(rnd() % MAXN);
        for (int i = 0; i < n; i++) {
            in[i] = dev((int)(rnd() % 6), "rand", rnd(), (int)(rnd() % 5),
                        drivers[rnd() % (sizeof drivers / sizeof *drivers)], API(1, rnd() % 4, 0),
                        (uint8_t)(rnd() % 4), (uint64_t)(rnd() % 4) * GiB);
        }
        int order[MAXN], dropped[MAXN];
        poison(order, MAXN);
        poison(dropped, MAXN);
        int kept = pce_vk_select(in, n, order, dropped);
        ck_assert_msg(kept >= 1 && kept <= n, "seed %llu", (unsigned long long)seed);
        bool is_kept[MAXN] = {false};
        for (int k = 0; k < kept; k++) {
            ck_assert_int_ge(order[k], 0);
            ck_assert_int_lt(order[k], n);
            ck_assert_msg(!is_kept[order[k]], "seed %llu: listed twice", (unsigned long long)seed);
            is_kept[order[k]] = true;
        }
        uint8_t zero[16] = {0};
        for (int i = 0; i < n; i++) {
            if (is_kept[i]) {
                ck_assert_int_eq(dropped[i], -1);
                continue;
            }
            int w = dropped[i];
            ck_assert_msg(w >= 0 && w < n && is_kept[w], "seed %llu: dropped_by[%d] = %d",
                          (unsigned long long)seed, i, w);
            ck_assert(memcmp(in[i].uuid, zero, 16) != 0);
            ck_assert(memcmp(in[i].uuid, in[w].uuid, 16) == 0);
        }
        /* a kept device is the best of its UUID group */
        for (int i = 0; i < n; i++) {
            if (!is_kept[i] || memcmp(in[i].uuid, zero, 16) == 0)
                continue;
            for (int j = 0; j < n; j++) {
                if (j == i || memcmp(in[i].uuid, in[j].uuid, 16) != 0)
                    continue;
                ck_assert_msg(!is_kept[j], "seed %llu: %d and %d share a UUID",
                              (unsigned long long)seed, i, j);
                int ri = rank_of(&in[i]), rj = rank_of(&in[j]);
                ck_assert_int_le(ri, rj);
                if (ri == rj) {
                    ck_assert_uint_ge(in[i].api_version, in[j].api_version);
                    if (in[i].api_version == in[j].api_version)
                        ck_assert_int_le(in[i].index, in[j].index);
                }
            }
        }
        for (int k = 1; k < kept; k++) {
            const pce_vk_phys_info *a = &in[order[k - 1]], *b = &in[order[k]];
            int ta = type_pos(a->type), tb = type_pos(b->type);
            ck_assert_msg(ta <= tb, "seed %llu: type order", (unsigned long long)seed);
            if (ta == tb) {
                ck_assert_uint_ge(a->device_local_bytes, b->device_local_bytes);
                if (a->device_local_bytes == b->device_local_bytes)
                    ck_assert_int_le(a->index, b->index);
            }
        }
    }
}
END_TEST

int main(void)
{
    Suite *s = suite_create("vk_select");
    TCase *tc = tcase_create("vk_select");
    tcase_add_test(tc, nvidia_proprietary_kept_over_nvk);
    tcase_add_test(tc, amd_radv_before_amdvlk_before_proprietary);
    tcase_add_test(tc, same_driver_twice_keeps_higher_api_then_lower_index);
    tcase_add_test(tc, discrete_then_integrated_then_cpu);
    tcase_add_test(tc, identical_gpus_ordered_by_memory_then_index);
    tcase_add_test(tc, zero_uuids_are_never_duplicates);
    tcase_add_test(tc, empty_and_null_inputs);
    tcase_add_test(tc, driver_ranks);
    tcase_add_test(tc, random_snapshots_obey_the_rules);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
