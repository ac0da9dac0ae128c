/* partial_backend.c — see partial_backend.h. */
#include "partial_backend.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct pce_buffer {
    char *data;
    size_t bytes;
};

typedef struct partial_dev {
    partial_config cfg;
    char name[32];
    pce_device *cpu; /* whose kernels run the segments */
    uint64_t used;
} partial_dev;

static bool p_supports(const pce_device *dev, const pce_exec_node *n, char *why, size_t cap)
{
    const partial_dev *pd = dev->impl;
    if (pd->cfg.ops & OPBIT(n->op))
        return true;
    snprintf(why, cap, "%s is not among the partial device's ops", pce_op_name(n->op));
    return false;
}

static pce_status p_alloc(pce_device *dev, size_t bytes, pce_buffer **out)
{
    partial_dev *pd = dev->impl;
    *out = NULL;
    if (pd->used + bytes > pd->cfg.memory)
        return pce_fail(dev->ctx, PCE_ERR_OUT_OF_MEMORY, "%s: %zu bytes with %llu of %llu in use",
                        dev->props.name, bytes, (unsigned long long)pd->used,
                        (unsigned long long)pd->cfg.memory);
    pce_buffer *b = calloc(1, sizeof *b);
    if (!b || !(b->data = malloc(bytes ? bytes : 1))) {
        free(b);
        return pce_fail(dev->ctx, PCE_ERR_OUT_OF_MEMORY, "%s: host memory", dev->props.name);
    }
    b->bytes = bytes;
    pd->used += bytes;
    *out = b;
    return PCE_OK;
}

static void p_free(pce_device *dev, pce_buffer *b)
{
    partial_dev *pd = dev->impl;
    if (!b)
        return;
    pd->used -= b->bytes;
    free(b->data);
    free(b);
}

static void *p_host_ptr(pce_device *dev, pce_buffer *b)
{
    const partial_dev *pd = dev->impl;
    return pd->cfg.host_visible ? b->data : NULL;
}

static pce_status p_upload(pce_device *dev, pce_buffer *b, size_t off, const void *src, size_t n)
{
    if (off + n > b->bytes)
        return pce_fail(dev->ctx, PCE_ERR_INTERNAL, "upload past a buffer's end");
    memcpy(b->data + off, src, n);
    return PCE_OK;
}

static pce_status p_download(pce_device *dev, pce_buffer *b, size_t off, void *dst, size_t n)
{
    if (off + n > b->bytes)
        return pce_fail(dev->ctx, PCE_ERR_INTERNAL, "download past a buffer's end");
    memcpy(dst, b->data + off, n);
    return PCE_OK;
}

/* The CPU kernels read host addresses: give every operand its own. */
static void fix_host(pce_tref *r)
{
    if (r->buf)
        r->host = r->buf->data + r->offset;
}

static pce_status p_prepare(pce_device *dev, pce_segment *seg)
{
    partial_dev *pd = dev->impl;
    for (int i = 0; i < seg->n_nodes; i++) {
        pce_exec_node *n = &seg->nodes[i];
        fix_host(&n->dst);
        for (int k = 0; k < n->nsrc; k++)
            if (n->has_src[k])
                fix_host(&n->src[k]);
    }
    return pd->cpu->vtbl->segment_prepare(pd->cpu, seg);
}

static pce_status p_run(pce_device *dev, pce_segment *seg)
{
    partial_dev *pd = dev->impl;
    return pd->cpu->vtbl->segment_run(pd->cpu, seg);
}

static void p_release(pce_device *dev, pce_segment *seg)
{
    partial_dev *pd = dev->impl;
    pd->cpu->vtbl->segment_release(pd->cpu, seg);
}

static void p_destroy(pce_device *dev)
{
    free(dev->impl);
    dev->impl = NULL;
}

static const pce_backend_vtbl partial_vtbl = {
    .name = "partial",
    .device_destroy = p_destroy,
    .supports = p_supports,
    .buffer_alloc = p_alloc,
    .buffer_free = p_free,
    .buffer_host_ptr = p_host_ptr,
    .upload = p_upload,
    .download = p_download,
    .segment_prepare = p_prepare,
    .segment_run = p_run,
    .segment_release = p_release,
};

pce_device *partial_device_add(pce_context *ctx, const partial_config *cfg)
{
    pce_context_probe_modules(ctx);
    pce_device *cpu = pce_device_find(ctx, "cpu0");
    pce_device *dev = calloc(1, sizeof *dev);
    partial_dev *pd = calloc(1, sizeof *pd);
    if (!cpu || !dev || !pd) {
        free(dev);
        free(pd);
        return NULL;
    }
    pd->cfg = *cfg;
    pd->cpu = cpu;
    dev->vtbl = &partial_vtbl;
    dev->impl = pd;
    pce_device_props *p = &dev->props;
    snprintf(p->name, sizeof p->name, "%s", cfg->name);
    snprintf(p->backend, sizeof p->backend, "partial");
    snprintf(p->description, sizeof p->description, "test device: some ops, %llu bytes",
             (unsigned long long)cfg->memory);
    p->type = PCE_DEVICE_GPU_DISCRETE;
    p->memory_total = p->memory_free = cfg->memory;
    p->compute_units = 1;
    p->host_memory = false; /* weights are copied to it */
    for (int i = 0; i < PCE_DTYPE_COUNT; i++)
        p->dtype_supported[i] = true;
    snprintf(dev->facts.backend, sizeof dev->facts.backend, "partial");
    snprintf(dev->facts.name, sizeof dev->facts.name, "%s", p->description);
    if (pce_context_add_device(ctx, dev) != PCE_OK) {
        p_destroy(dev);
        free(dev);
        return NULL;
    }
    pce_device_settings_resolve(ctx, dev);
    return dev;
}

uint64_t partial_device_used(const pce_device *dev)
{
    return ((const partial_dev *)dev->impl)->used;
}
