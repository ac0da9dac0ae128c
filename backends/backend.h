/* backend.h — the one internal interface every backend implements.
 *
 * Core places a plan's nodes on devices, lays out memory and hands each
 * backend a segment: a run of nodes whose operands are already resolved to
 * (buffer, offset, shape, strides). The backend prepares it once (compile
 * pipelines, record command buffers, size scratch) and runs it many times.
 * Optional entries may be NULL. */
#ifndef PCE_BACKEND_H
#define PCE_BACKEND_H

#include "../core/internal.h"

typedef struct pce_buffer pce_buffer; /* backend-defined */

/* A resolved operand: where the data is and how it is laid out. */
typedef struct pce_tref {
    pce_dtype dtype;
    int64_t ne[PCE_MAX_DIMS];
    int64_t nb[PCE_MAX_DIMS]; /* byte strides */
    pce_buffer *buf;          /* NULL for host memory (weights) */
    size_t offset;            /* byte offset in buf */
    void *host;               /* host address when readable by the host, else NULL */
} pce_tref;

/* One node as a backend sees it. */
typedef struct pce_exec_node {
    pce_op op;
    const pce_tensor *tensor; /* for names in messages */
    pce_tref dst;
    pce_tref src[PCE_MAX_SRC];
    int nsrc;
    bool has_src[PCE_MAX_SRC];
    int32_t ip[8];
    float fp[4];
} pce_exec_node;

typedef struct pce_segment {
    pce_device *dev;
    pce_exec_node *nodes;
    int n_nodes;
    bool reference; /* use reference kernels */
    void *impl;     /* backend state from prepare */
} pce_segment;

struct pce_backend_vtbl {
    const char *name;
    void (*device_destroy)(pce_device *dev);
    /* Whether dev can run this node (op, dtypes, layout); when not, why
     * (one line, for the plan's explanation). NULL: all. */
    bool (*supports)(const pce_device *dev, const pce_exec_node *node, char *why, size_t cap);
    pce_status (*buffer_alloc)(pce_device *dev, size_t bytes, pce_buffer **out);
    void (*buffer_free)(pce_device *dev, pce_buffer *buf);
    /* Host address of a buffer's start, or NULL if not host-visible. */
    void *(*buffer_host_ptr)(pce_device *dev, pce_buffer *buf);
    pce_status (*upload)(pce_device *dev, pce_buffer *buf, size_t offset, const void *src,
                         size_t bytes);
    pce_status (*download)(pce_device *dev, pce_buffer *buf, size_t offset, void *dst,
                           size_t bytes);
    pce_status (*segment_prepare)(pce_device *dev, pce_segment *seg);
    pce_status (*segment_run)(pce_device *dev, pce_segment *seg);
    void (*segment_release)(pce_device *dev, pce_segment *seg);
    pce_status (*synchronize)(pce_device *dev);
    /* Host memory the device copies to and from fastest (pinned), for the
     * staging of cross-device copies. NULL: plain malloc. */
    pce_status (*host_alloc)(pce_device *dev, size_t bytes, void **out);
    void (*host_free)(pce_device *dev, void *ptr);
};

/* Built-in backend probes: each adds devices (or an unavailable entry). */
pce_status pce_cpu_backend_probe(pce_context *ctx);

/* ---- loadable backend modules ------------------------------------------
 * A GPU backend is a shared module (libpce-backend-vulkan.so, ...) so that a
 * pce built with every backend still runs where a vendor runtime is
 * missing: the module fails to load (or finds no device) and the backend is
 * listed as unavailable with the reason. A module links nothing of libpce;
 * it reaches core through this table, given to its one exported entry
 * point. Core and module must come from the same build: the ABI number and
 * the sizes of the shared structs are checked before anything else. */
#define PCE_BACKEND_ABI 1
#define PCE_BACKEND_ENTRY "pce_backend_module_probe"

typedef struct pce_backend_host {
    uint32_t abi;          /* PCE_BACKEND_ABI */
    uint32_t size_context; /* sizeof(pce_context) ... as core was built */
    uint32_t size_device;
    uint32_t size_tensor;
    uint32_t size_exec_node;
    const char *version; /* pce_version_string() */
    pce_status (*fail)(pce_context *ctx, pce_status status, const char *message);
    void (*log)(const pce_context *ctx, pce_log_level level, const char *message);
    pce_status (*add_device)(pce_context *ctx, pce_device *dev);
    void (*add_unavailable)(pce_context *ctx, const char *backend, const char *reason);
    const char *(*op_name)(pce_op op);
} pce_backend_host;

/* The entry point a module exports under the name PCE_BACKEND_ENTRY: adds
 * the module's devices to ctx, or one unavailable entry saying why none. */
typedef pce_status (*pce_backend_module_probe_fn)(pce_context *ctx, const pce_backend_host *host);

/* Loads the modules this pce was built with and probes them (module.c). */
void pce_modules_probe(pce_context *ctx);
void pce_modules_release(pce_context *ctx);

#endif
