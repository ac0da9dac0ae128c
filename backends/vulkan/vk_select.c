/* vk_select.c — which Vulkan physical devices become pce devices, and in what
 * order (see vk_select.h). A pure function of the snapshots it is given. */
#include "vk_select.h"

#include <stdbool.h>
#include <string.h>

/* Drivers the rule does not name rank after the named ones; llvmpipe, a CPU
 * rasteriser, last of all. */
#define RANK_UNKNOWN 100
#define RANK_LLVMPIPE 200

int pce_vk_driver_rank(int driver_id)
{
    switch (driver_id) {
    /* NVIDIA: the vendor's driver before Mesa's NVK (newer, fewer features). */
    case PCE_VK_DRIVER_NVIDIA_PROPRIETARY: return 0;
    case PCE_VK_DRIVER_MESA_NVK: return 1;
    /* AMD: RADV, then AMDVLK, then the Windows/Linux closed driver. */
    case PCE_VK_DRIVER_MESA_RADV: return 0;
    case PCE_VK_DRIVER_AMD_OPEN_SOURCE: return 1;
    case PCE_VK_DRIVER_AMD_PROPRIETARY: return 2;
    /* Intel: Mesa's ANV, then the Windows driver. */
    case PCE_VK_DRIVER_INTEL_OPEN_SOURCE_MESA: return 0;
    case PCE_VK_DRIVER_INTEL_PROPRIETARY_WINDOWS: return 1;
    case PCE_VK_DRIVER_MESA_LLVMPIPE: return RANK_LLVMPIPE;
    default: return RANK_UNKNOWN;
    }
}

static bool uuid_is_zero(const uint8_t u[16])
{
    for (int i = 0; i < 16; i++)
        if (u[i])
            return false;
    return true;
}

/* True when in[a] is preferred to in[b] among duplicates of one GPU. */
static bool better_duplicate(const pce_vk_phys_info *in, int a, int b)
{
    int ra = pce_vk_driver_rank(in[a].driver_id), rb = pce_vk_driver_rank(in[b].driver_id);
    if (ra != rb)
        return ra < rb;
    if (in[a].api_version != in[b].api_version)
        return in[a].api_version > in[b].api_version;
    if (in[a].index != in[b].index)
        return in[a].index < in[b].index;
    return a < b;
}

/* Position of a device type in the output order; unknown values count as other. */
static int type_order(int type)
{
    switch (type) {
    case PCE_VK_TYPE_DISCRETE: return 0;
    case PCE_VK_TYPE_INTEGRATED: return 1;
    case PCE_VK_TYPE_VIRTUAL: return 2;
    case PCE_VK_TYPE_CPU: return 4;
    default: return 3;
    }
}

/* True when in[a] comes before in[b] in the output. */
static bool goes_first(const pce_vk_phys_info *in, int a, int b)
{
    int ta = type_order(in[a].type), tb = type_order(in[b].type);
    if (ta != tb)
        return ta < tb;
    if (in[a].device_local_bytes != in[b].device_local_bytes)
        return in[a].device_local_bytes > in[b].device_local_bytes;
    if (in[a].index != in[b].index)
        return in[a].index < in[b].index;
    return a < b;
}

int pce_vk_select(const pce_vk_phys_info *in, int n, int *order, int *dropped_by)
{
    if (n <= 0)
        return 0;
    if (dropped_by)
        for (int i = 0; i < n; i++)
            dropped_by[i] = -1;
    if (!in || !order)
        return 0;

    int kept = 0;
    for (int i = 0; i < n; i++) {
        /* The best of i's duplicates (i itself if it has none). The order is
         * total, so every member of a group names the same winner. */
        int best = i;
        if (!uuid_is_zero(in[i].uuid))
            for (int j = 0; j < n; j++)
                if (j != i && memcmp(in[j].uuid, in[i].uuid, sizeof in[i].uuid) == 0 &&
                    better_duplicate(in, j, best))
                    best = j;
        if (best != i) {
            if (dropped_by)
                dropped_by[i] = best;
            continue;
        }
        /* Insertion sort: n is the number of Vulkan devices, a handful. */
        int k = kept++;
        while (k > 0 && goes_first(in, i, order[k - 1])) {
            order[k] = order[k - 1];
            k--;
        }
        order[k] = i;
    }
    return kept;
}
