/* cpu_backend.c — the CPU device: host buffers, segment preparation (kernel
 * choice, scratch sizing) and execution. Always present. */
#include "cpu.h"
#include "gemm.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct pce_buffer {
    void *data;
    size_t bytes;
};

/* A weight repacked for the integer dot products (quant_packed.c), shared
 * by every segment of the device that multiplies by it, freed with the
 * last of them. Keyed by the weight's host address and layout. */
typedef struct cpu_pack {
    const void *src;
    pce_dtype dtype;
    int64_t rows, cols;
    void *data;
    int refs;
    struct cpu_pack *next;
} cpu_pack;

typedef struct cpu_device {
    pce_threadpool *pool;
    int n_threads;
    cpu_pack *packs;
} cpu_device;

typedef struct cpu_segment {
    cpu_kernel_fn *kernels;
    cpu_pack **packs; /* per node: its weight's packing, or NULL */
    cpu_exec ex;
} cpu_segment;

/* Memory the system can still give without swapping (MemAvailable), or
 * the free pages where /proc/meminfo cannot be read. */
static size_t mem_available(void)
{
    FILE *f = fopen("/proc/meminfo", "r");
    if (f) {
        char line[128];
        unsigned long long kb = 0;
        while (fgets(line, sizeof line, f))
            if (sscanf(line, "MemAvailable: %llu kB", &kb) == 1)
                break;
        fclose(f);
        if (kb)
            return (size_t)kb * 1024;
    }
    long pages = sysconf(_SC_AVPHYS_PAGES), page = sysconf(_SC_PAGESIZE);
    return pages > 0 && page > 0 ? (size_t)pages * (size_t)page : SIZE_MAX;
}

/* The packing of node n's weight, made on first use; NULL when it cannot
 * be had (then the kernel reads the weight as stored). A packing is as big
 * as its weight and is anonymous memory (the mapped file's pages can be
 * dropped, these cannot): it is made only while it takes at most half of
 * the memory still available, so that packing a model never pushes the
 * machine into swap or the OOM killer (malloc would not fail first). */
static cpu_pack *pack_get(pce_device *dev, const pce_exec_node *n)
{
    cpu_device *cd = dev->impl;
    const pce_tref *b = &n->src[1];
    for (cpu_pack *p = cd->packs; p; p = p->next)
        if (p->src == b->host && p->dtype == b->dtype && p->rows == b->ne[3] &&
            p->cols == b->ne[2]) {
            p->refs++;
            return p;
        }
    size_t bytes = pce_cpu_qpack_bytes(n), rounded = (bytes + 63) / 64 * 64;
    size_t avail = mem_available();
    if (rounded > avail / 2) {
        pce_log(dev->ctx, PCE_LOG_WARN,
                "cpu: the weight of node '%s' is read as stored, not repacked: its packing "
                "(%zu bytes) would take more than half of the %zu bytes still available",
                n->tensor->name, rounded, avail);
        return NULL;
    }
    cpu_pack *p = calloc(1, sizeof *p);
    void *data = rounded ? aligned_alloc(64, rounded) : NULL;
    if (!p || !data) {
        free(p);
        free(data);
        pce_log(dev->ctx, PCE_LOG_WARN,
                "cpu: no memory to repack the weight of node '%s' (%zu bytes): it is read as "
                "stored",
                n->tensor->name, bytes);
        return NULL;
    }
    pce_cpu_qpack(n, data);
    *p = (cpu_pack){b->host, b->dtype, b->ne[3], b->ne[2], data, 1, cd->packs};
    cd->packs = p;
    return p;
}

static void pack_put(pce_device *dev, cpu_pack *p)
{
    cpu_device *cd = dev->impl;
    if (!p || --p->refs > 0)
        return;
    for (cpu_pack **pp = &cd->packs; *pp; pp = &(*pp)->next)
        if (*pp == p) {
            *pp = p->next;
            break;
        }
    free(p->data);
    free(p);
}

static void cpu_device_destroy(pce_device *dev)
{
    cpu_device *cd = dev->impl;
    if (cd) {
        pce_threadpool_destroy(cd->pool);
        free(cd);
    }
}

static bool cpu_supports(const pce_device *dev, const pce_exec_node *n, char *why, size_t cap)
{
    (void)dev;
    if ((unsigned)n->op < PCE_OP_COUNT && pce_cpu_fast_kernels[n->op] && pce_cpu_ref_kernels[n->op])
        return true;
    snprintf(why, cap, "no CPU kernel for %s", pce_op_name(n->op));
    return false;
}

static pce_status cpu_buffer_alloc(pce_device *dev, size_t bytes, pce_buffer **out)
{
    (void)dev;
    *out = NULL;
    pce_buffer *b = malloc(sizeof *b);
    size_t rounded = (bytes + 63) / 64 * 64;
    void *data = rounded ? aligned_alloc(64, rounded) : NULL;
    if (!b || (rounded && !data)) {
        free(b);
        free(data);
        return PCE_ERR_OUT_OF_MEMORY;
    }
    b->data = data;
    b->bytes = bytes;
    *out = b;
    return PCE_OK;
}

static void cpu_buffer_free(pce_device *dev, pce_buffer *b)
{
    (void)dev;
    if (b) {
        free(b->data);
        free(b);
    }
}

static void *cpu_buffer_host_ptr(pce_device *dev, pce_buffer *b)
{
    (void)dev;
    return b->data;
}

static pce_status cpu_upload(pce_device *dev, pce_buffer *b, size_t off, const void *src,
                             size_t bytes)
{
    (void)dev;
    if (off > b->bytes || bytes > b->bytes - off)
        return PCE_ERR_INVALID_ARGUMENT;
    memcpy((char *)b->data + off, src, bytes);
    return PCE_OK;
}

static pce_status cpu_download(pce_device *dev, pce_buffer *b, size_t off, void *dst, size_t bytes)
{
    (void)dev;
    if (off > b->bytes || bytes > b->bytes - off)
        return PCE_ERR_INVALID_ARGUMENT;
    memcpy(dst, (char *)b->data + off, bytes);
    return PCE_OK;
}

static void cpu_segment_release(pce_device *dev, pce_segment *seg)
{
    cpu_segment *cs = seg->impl;
    if (!cs)
        return;
    if (cs->packs)
        for (int i = 0; i < seg->n_nodes; i++)
            pack_put(dev, cs->packs[i]);
    free(cs->packs);
    free(cs->kernels);
    free(cs->ex.scratch);
    free(cs->ex.row_scratch);
    free(cs);
    seg->impl = NULL;
}

static pce_status cpu_segment_prepare(pce_device *dev, pce_segment *seg)
{
    cpu_device *cd = dev->impl;
    cpu_segment *cs = calloc(1, sizeof *cs);
    if (!cs)
        return pce_fail(dev->ctx, PCE_ERR_OUT_OF_MEMORY, "cpu segment state");
    seg->impl = cs;
    cs->kernels = calloc((size_t)(seg->n_nodes ? seg->n_nodes : 1), sizeof *cs->kernels);
    cs->packs = calloc((size_t)(seg->n_nodes ? seg->n_nodes : 1), sizeof *cs->packs);
    if (!cs->kernels || !cs->packs)
        return pce_fail(dev->ctx, PCE_ERR_OUT_OF_MEMORY, "cpu kernel table of %d", seg->n_nodes);
    cs->ex.dev = dev;
    cs->ex.pool = cd->pool;
    cs->ex.gemm_own = !strcmp(dev->settings.matmul, "own");
    cs->ex.n_threads = cd->n_threads;
    size_t scratch = 0, row = 1;
    for (int i = 0; i < seg->n_nodes; i++) {
        const pce_exec_node *n = &seg->nodes[i];
        cs->kernels[i] = seg->reference ? pce_cpu_ref_kernels[n->op] : pce_cpu_fast_kernels[n->op];
        if (!cs->kernels[i])
            return pce_fail(dev->ctx, PCE_ERR_UNSUPPORTED, "op %s has no CPU kernel",
                            pce_op_name(n->op));
        if (seg->reference)
            continue;
        if (pce_cpu_qpack_eligible(n))
            cs->packs[i] = pack_get(dev, n);
        size_t s = pce_cpu_fast_scratch(n, cd->n_threads);
        scratch = s > scratch ? s : scratch;
        if ((size_t)n->dst.ne[3] > row)
            row = (size_t)n->dst.ne[3];
        for (int k = 0; k < n->nsrc; k++)
            if (n->has_src[k] && (size_t)n->src[k].ne[3] > row)
                row = (size_t)n->src[k].ne[3];
    }
    row = (row + 15) / 16 * 16; /* keep each thread's rows 64-byte aligned */
    cs->ex.row_floats = row;
    size_t row_bytes = (size_t)cd->n_threads * 4 * row * sizeof(float);
    cs->ex.row_scratch = aligned_alloc(64, row_bytes);
    if (!cs->ex.row_scratch)
        return pce_fail(dev->ctx, PCE_ERR_OUT_OF_MEMORY, "cpu row scratch of %zu bytes", row_bytes);
    if (scratch) {
        size_t bytes = (scratch * sizeof(float) + 63) / 64 * 64;
        cs->ex.scratch = aligned_alloc(64, bytes);
        if (!cs->ex.scratch)
            return pce_fail(dev->ctx, PCE_ERR_OUT_OF_MEMORY,
                            "cpu matmul conversion scratch of %zu bytes", bytes);
        cs->ex.scratch_floats = scratch;
    }
    return PCE_OK;
}

static pce_status cpu_segment_run(pce_device *dev, pce_segment *seg)
{
    cpu_segment *cs = seg->impl;
    for (int i = 0; i < seg->n_nodes; i++) {
        cs->ex.packed = cs->packs[i] ? cs->packs[i]->data : NULL;
        pce_status st = cs->kernels[i](&seg->nodes[i], &cs->ex);
        if (st != PCE_OK)
            return pce_fail(dev->ctx, st, "%s: node #%d '%s' (%s)",
                            cs->ex.err[0] ? cs->ex.err : "kernel failed", i,
                            seg->nodes[i].tensor->name, pce_op_name(seg->nodes[i].op));
    }
    return PCE_OK;
}

static const pce_backend_vtbl cpu_vtbl = {
    .name = "cpu",
    .device_destroy = cpu_device_destroy,
    .supports = cpu_supports,
    .buffer_alloc = cpu_buffer_alloc,
    .buffer_free = cpu_buffer_free,
    .buffer_host_ptr = cpu_buffer_host_ptr,
    .upload = cpu_upload,
    .download = cpu_download,
    .segment_prepare = cpu_segment_prepare,
    .segment_run = cpu_segment_run,
    .segment_release = cpu_segment_release,
};

static void cpu_brand(char *out, size_t cap)
{
    snprintf(out, cap, "unknown CPU");
    FILE *f = fopen("/proc/cpuinfo", "r");
    if (!f)
        return;
    char line[512];
    while (fgets(line, sizeof line, f)) {
        if (strncmp(line, "model name", 10) == 0 || strncmp(line, "Model", 5) == 0) {
            char *c = strchr(line, ':');
            if (c) {
                c++;
                while (*c == ' ' || *c == '\t')
                    c++;
                c[strcspn(c, "\n")] = 0;
                snprintf(out, cap, "%s", c);
                break;
            }
        }
    }
    fclose(f);
}

static const char *cpu_isa(void)
{
#if defined(__x86_64__) && defined(__GNUC__)
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
        __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq"))
        return "avx512";
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
        return "avx2";
    return "sse2";
#elif defined(__aarch64__)
    return "neon";
#else
    return "portable";
#endif
}

/* The CPUs this process may run on, in order. */
static int allowed_cpus(int *out, int cap)
{
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof set, &set) != 0)
        return 0;
    int n = 0;
    for (int c = 0; c < CPU_SETSIZE && n < cap; c++)
        if (CPU_ISSET(c, &set))
            out[n++] = c;
    return n;
}

/* The NUMA node of each allowed CPU (sysfs; -1 where unknown). */
static void numa_nodes(const int *cpus, int n, int *node)
{
    for (int i = 0; i < n; i++)
        node[i] = -1;
    for (int nd = 0; nd < 64; nd++) {
        char path[64], list[4096];
        snprintf(path, sizeof path, "/sys/devices/system/node/node%d/cpulist", nd);
        FILE *f = fopen(path, "r");
        if (!f)
            continue;
        size_t k = fread(list, 1, sizeof list - 1, f);
        fclose(f);
        list[k] = 0;
        for (char *save, *r = strtok_r(list, ",\n", &save); r; r = strtok_r(NULL, ",\n", &save)) {
            int lo = -1, hi = -1;
            if (sscanf(r, "%d-%d", &lo, &hi) < 2)
                hi = lo;
            for (int i = 0; i < n; i++)
                if (cpus[i] >= lo && cpus[i] <= hi)
                    node[i] = nd;
        }
    }
}

/* Per-worker CPU sets for the profile's [cpu] pinning, or NULL (none).
 * cores: worker i on the i-th allowed CPU (the caller, not pinned, is
 * expected on the first); numa: workers spread over the NUMA nodes in
 * blocks, each free within its node. */
static cpu_set_t *pin_threads(pce_context *ctx, int threads)
{
    const char *mode = ctx->cpu_pinning;
    if (!mode[0] || !strcmp(mode, "none") || threads < 2)
        return NULL;
    int cpus[CPU_SETSIZE], node[CPU_SETSIZE];
    int n = allowed_cpus(cpus, CPU_SETSIZE);
    cpu_set_t *aff = calloc((size_t)threads, sizeof *aff);
    if (!aff || n < 1) {
        free(aff);
        return NULL;
    }
    if (!strcmp(mode, "numa"))
        numa_nodes(cpus, n, node);
    for (int t = 0; t < threads; t++) {
        CPU_ZERO(&aff[t]);
        int c = (int)((int64_t)t * n / threads); /* spread evenly over the allowed CPUs */
        if (!strcmp(mode, "cores") || node[c] < 0) {
            CPU_SET(cpus[c], &aff[t]);
        } else {
            for (int i = 0; i < n; i++)
                if (node[i] == node[c])
                    CPU_SET(cpus[i], &aff[t]);
        }
    }
    pce_log(ctx, PCE_LOG_INFO, "CPU workers pinned (%s, %s) over %d CPUs", mode,
            ctx->cpu_pinning_from, n);
    return aff;
}

pce_status pce_cpu_backend_probe(pce_context *ctx)
{
    long online = sysconf(_SC_NPROCESSORS_ONLN);
    int threads = ctx->num_threads > 0 ? ctx->num_threads : (online > 0 ? (int)online : 1);
    pce_device *dev = calloc(1, sizeof *dev);
    cpu_device *cd = calloc(1, sizeof *cd);
    if (!dev || !cd) {
        free(dev);
        free(cd);
        return pce_fail(ctx, PCE_ERR_OUT_OF_MEMORY, "cpu device");
    }
    cd->n_threads = threads;
    cpu_set_t *aff = pin_threads(ctx, threads);
    pce_status st = pce_threadpool_create(threads, aff, &cd->pool);
    free(aff);
    if (st != PCE_OK) {
        free(dev);
        free(cd);
        return pce_fail(ctx, st, "starting %d CPU worker threads", threads);
    }
    dev->vtbl = &cpu_vtbl;
    dev->impl = cd;
    pce_device_props *p = &dev->props;
    snprintf(p->name, sizeof p->name, "cpu0");
    snprintf(p->backend, sizeof p->backend, "cpu");
    cpu_brand(p->description, sizeof p->description);
    static const char *const quant[] = {"portable", "avx2", "avx-vnni", "avx512-vnni"};
    snprintf(p->details, sizeof p->details, "isa=%s threads=%d pinning=%s gemm=%s int8=%s",
             cpu_isa(), threads, ctx->cpu_pinning[0] ? ctx->cpu_pinning : "none",
             pce_gemm_backend_name(), quant[pce_cpu_quant_isa() & 3]);
    p->type = PCE_DEVICE_CPU;
    long pages = sysconf(_SC_PHYS_PAGES), avail = sysconf(_SC_AVPHYS_PAGES);
    long psize = sysconf(_SC_PAGESIZE);
    p->memory_total = pages > 0 && psize > 0 ? (uint64_t)pages * (uint64_t)psize : 0;
    p->memory_free = avail > 0 && psize > 0 ? (uint64_t)avail * (uint64_t)psize : 0;
    p->compute_units = threads;
    p->host_memory = true;
    for (int i = 0; i < PCE_DTYPE_COUNT; i++)
        p->dtype_supported[i] = true;
    snprintf(dev->facts.backend, sizeof dev->facts.backend, "cpu");
    snprintf(dev->facts.name, sizeof dev->facts.name, "%s", p->description);
    st = pce_context_add_device(ctx, dev);
    if (st != PCE_OK) {
        cpu_device_destroy(dev);
        free(dev);
    }
    return st;
}
