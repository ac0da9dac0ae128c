/* vk_select.h — which Vulkan physical devices become pce devices, and in
 * what order: a pure function of property snapshots, unit-tested with
 * made-up ones.
 *
 * The same GPU can be reported by two drivers (NVIDIA's driver and Mesa's
 * NVK; AMD's AMDVLK and Mesa's RADV). Such duplicates share a device UUID;
 * one of them is kept: the preferred driver for that vendor, then the higher
 * API version, then the lower enumeration index. An all-zero UUID is never a
 * duplicate. The kept devices are ordered discrete GPU, integrated GPU,
 * virtual GPU, other, CPU (lavapipe/llvmpipe, SwiftShader); then by more
 * device-local memory; then by enumeration index. */
#ifndef PCE_VK_SELECT_H
#define PCE_VK_SELECT_H

#include <stdint.h>

/* Same values as VkPhysicalDeviceType. */
enum {
    PCE_VK_TYPE_OTHER = 0,
    PCE_VK_TYPE_INTEGRATED = 1,
    PCE_VK_TYPE_DISCRETE = 2,
    PCE_VK_TYPE_VIRTUAL = 3,
    PCE_VK_TYPE_CPU = 4,
};

/* Same values as VkDriverId (the ones the preference rule names). */
enum {
    PCE_VK_DRIVER_UNKNOWN = 0,
    PCE_VK_DRIVER_AMD_PROPRIETARY = 1,
    PCE_VK_DRIVER_AMD_OPEN_SOURCE = 2, /* AMDVLK */
    PCE_VK_DRIVER_MESA_RADV = 3,
    PCE_VK_DRIVER_NVIDIA_PROPRIETARY = 4,
    PCE_VK_DRIVER_INTEL_PROPRIETARY_WINDOWS = 5,
    PCE_VK_DRIVER_INTEL_OPEN_SOURCE_MESA = 6, /* ANV */
    PCE_VK_DRIVER_MESA_LLVMPIPE = 13,
    PCE_VK_DRIVER_MESA_NVK = 24,
};

/* What selection looks at, filled from vkGetPhysicalDeviceProperties2. */
typedef struct pce_vk_phys_info {
    int index; /* enumeration index */
    char name[256];
    uint32_t vendor_id, device_id;
    int type;      /* PCE_VK_TYPE_* */
    int driver_id; /* PCE_VK_DRIVER_* or another VkDriverId value */
    uint32_t api_version;
    uint8_t uuid[16]; /* deviceUUID */
    uint64_t device_local_bytes;
} pce_vk_phys_info;

/* Writes the kept devices' positions in `in` to order[] (room for n; best
 * first) and returns how many. For each dropped duplicate i, dropped_by[i] is
 * the position of the device kept instead (else -1); dropped_by may be NULL.
 * n <= 0, or `in` or order NULL, returns 0. */
int pce_vk_select(const pce_vk_phys_info *in, int n, int *order, int *dropped_by);

/* Rank of a driver for its vendor (lower is preferred); exposed for tests
 * and for the log line that says why a duplicate was dropped. */
int pce_vk_driver_rank(int driver_id);

#endif
