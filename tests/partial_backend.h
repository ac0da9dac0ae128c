/* partial_backend.h — a test-only backend: a device that runs a chosen
 * subset of ops (on the CPU backend's kernels) and reports a chosen memory
 * size, so placement, fallback, strict mode, copies and memory budgets are
 * tested without GPUs. Its memory is either host-visible (like an
 * integrated GPU or lavapipe) or reachable only through upload/download
 * (like a discrete GPU); allocations past its size fail with
 * OUT_OF_MEMORY. Linked into tests only, through core's internals. */
#ifndef PCE_TEST_PARTIAL_BACKEND_H
#define PCE_TEST_PARTIAL_BACKEND_H

#include "../backends/backend.h"

typedef struct partial_config {
    const char *name;  /* "partial0" */
    uint64_t ops;      /* bit (1 << pce_op) per supported op */
    uint64_t memory;   /* bytes it reports and allows */
    bool host_visible; /* buffer_host_ptr answers (else copies go through upload/download) */
} partial_config;

/* Adds a partial device to ctx (after its modules are probed) with its
 * profile settings resolved like any device's. Returns it, or NULL. */
pce_device *partial_device_add(pce_context *ctx, const partial_config *cfg);
/* Bytes currently allocated on a partial device. */
uint64_t partial_device_used(const pce_device *dev);

#define OPBIT(op) (1ull << (op))

#endif
