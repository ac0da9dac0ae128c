/* vulkan_probe.h — what the Vulkan tests ask before they start: whether
 * this machine has vulkan0, and whether CI requires it. */
#ifndef PCE_TESTS_VULKAN_PROBE_H
#define PCE_TESTS_VULKAN_PROBE_H

#include "pce.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* PCE_REQUIRE_BACKENDS names vulkan: a missing device fails, not skips. */
static inline bool vulkan_required(void)
{
    const char *s = getenv("PCE_REQUIRE_BACKENDS");
    return s && strstr(s, "vulkan");
}

/* 1 when vulkan0 exists; 0 when not, printing why the backend is
 * unavailable (when it says); -1 when no context can be made. */
static inline int vulkan_present(void)
{
    pce_context *probe = NULL;
    if (pce_context_create(NULL, &probe) != PCE_OK)
        return -1;
    bool have = pce_device_find(probe, "vulkan0") != NULL;
    for (int i = 0; !have && i < pce_backend_unavailable_count(probe); i++) {
        const char *b, *r;
        pce_backend_unavailable_get(probe, i, &b, &r);
        if (!strcmp(b, "vulkan"))
            printf("vulkan: %s\n", r);
    }
    pce_context_destroy(probe);
    return have;
}

#endif
