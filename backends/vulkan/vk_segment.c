/* vk_segment.c — a plan's Vulkan segment: each node becomes one or two
 * dispatches (pipeline, descriptor set, push constants, group counts),
 * recorded once into a command buffer with a barrier only where a dispatch
 * touches memory an earlier one since the last barrier wrote (or reads
 * what it is about to overwrite), then replayed by every run. */
#include "gpu_common.h"
#include "vk_internal.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const dt_name[PCE_DTYPE_COUNT] = {"f32", "f16", "bf16", "i32", "i8"};

/* Values of the OP specialization constant (see the shaders). */
enum {
    U_COPY = 0,
    U_SCALE,
    U_NEG,
    U_ABS,
    U_SQR,
    U_SQRT,
    U_EXP,
    U_TANH,
    U_RELU,
    U_GELU,
    U_GELU_ERF,
    U_SILU,
    U_CAUSAL
};

typedef struct vk_dispatch {
    int variant, op, node;
    VkPipeline pipe;
    vk_push pc;
    VkDescriptorBufferInfo b[5];
    bool used[5], written[5];
    uint32_t groups[3];
} vk_dispatch;

typedef struct vk_segment {
    vk_dispatch *d;
    int n;
    pce_buffer **owned; /* rope tables */
    int n_owned;
    VkDescriptorPool dpool;
    VkCommandBuffer cmd;
    VkFence fence;
} vk_segment;

typedef struct why_buf {
    char *s;
    size_t cap;
} why_buf;

static bool no(why_buf *w, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static bool no(why_buf *w, const char *fmt, ...)
{
    if (w && w->s) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(w->s, w->cap, fmt, ap);
        va_end(ap);
    }
    return false;
}

/* `weight`: the operand is matmul's b or get_rows' table, which may be
 * block-quantized (read in its blocks by the q* kernels). */
static bool dtype_ok(const vk_device *vd, pce_dtype t, bool weight, why_buf *w)
{
    if ((unsigned)t >= PCE_DTYPE_COUNT)
        return no(w, "dtype %d has no Vulkan kernels", (int)t);
    if (pce_dtype_get_info(t)->is_quantized)
        return weight ? true
                      : no(w, "%s is read by Vulkan only as matmul's weight and get_rows' table",
                           pce_dtype_get_info(t)->name);
    if ((t == PCE_DTYPE_F16 || t == PCE_DTYPE_BF16) && !vd->storage16)
        return no(w, "%s needs storageBuffer16BitAccess, which this device lacks", dt_name[t]);
    if (t == PCE_DTYPE_I8 && !vd->storage8)
        return no(w, "i8 needs storageBuffer8BitAccess, which this device lacks");
    return true;
}

/* The descriptor of an operand of `span` bytes at byte `base` of its
 * buffer: from base rounded down to the device's offset alignment, a whole
 * number of words, within maxStorageBufferRange. */
static bool desc_range(const vk_device *vd, uint64_t base, uint64_t span, uint64_t *desc,
                       uint64_t *range, why_buf *w)
{
    uint64_t align = vd->props.limits.minStorageBufferOffsetAlignment;
    if (align < 4)
        align = 4;
    *desc = base & ~(align - 1);
    *range = (base - *desc + span + 3) & ~3ull;
    if (*range > vd->props.limits.maxStorageBufferRange)
        return no(w, "an operand spans %llu bytes, over maxStorageBufferRange (%u)",
                  (unsigned long long)*range, vd->props.limits.maxStorageBufferRange);
    return true;
}

/* Binds operand r to slot s of d: descriptor range covering exactly the
 * bytes r spans (so a tensor, not the arena, is what must fit
 * maxStorageBufferRange), element offset and strides in push constants.
 * `generic`: the shader reads the slot as uint words. */
static bool bind(const vk_device *vd, vk_dispatch *d, int s, const pce_tref *r, bool generic,
                 bool write, why_buf *w)
{
    /* buf NULL: a question before memory is laid out (supports): the
     * layout is checked as if the tensor started a buffer */
    int64_t es = (int64_t)pce_dtype_get_info(r->dtype)->block_bytes;
    uint64_t span = (uint64_t)es;
    for (int i = 0; i < PCE_MAX_DIMS; i++) {
        if (r->nb[i] % es || r->nb[i] < 0)
            return no(w, "a stride of %lld bytes is not a whole number of %s elements",
                      (long long)r->nb[i], dt_name[r->dtype]);
        span += (uint64_t)((r->ne[i] - 1) * r->nb[i]);
    }
    uint64_t base = (r->buf ? r->buf->offset : 0) + r->offset;
    uint64_t desc, range;
    if (!desc_range(vd, base, span, &desc, &range, w))
        return false;
    if ((base - desc) / (uint64_t)es + span / (uint64_t)es > UINT32_MAX)
        return no(w, "an operand has more than 2^32 elements");
    d->b[s] = (VkDescriptorBufferInfo){r->buf ? r->buf->buf : VK_NULL_HANDLE, desc, range};
    d->used[s] = true;
    d->written[s] = write;
    d->pc.off[s] = (uint32_t)((base - desc) / (uint64_t)es);
    for (int i = 0; i < PCE_MAX_DIMS; i++)
        d->pc.nb[4 * s + i] = write || r->ne[i] > 1 ? (int32_t)(r->nb[i] / es) : 0;
    (void)generic;
    return true;
}

/* Binds block-quantized operand r (a weight whose rows of blocks run
 * along dim kdim, nb[kdim] being one block) to slot s: the shaders read it
 * as uint words at byte offsets (shaders/quant.glsl), so its offset and
 * strides go to the push constants in bytes. Blocks whose size is a
 * multiple of 4 are read a word at a time, so those must start on a word;
 * the others (18, 22, 34, 210 bytes) on an even byte. */
static bool bind_quant(const vk_device *vd, vk_dispatch *d, int s, const pce_tref *r, int kdim,
                       why_buf *w)
{
    const pce_dtype_info *in = pce_dtype_get_info(r->dtype);
    int64_t al = in->block_bytes % 4 ? 2 : 4;
    if (r->nb[kdim] != (int64_t)in->block_bytes || r->ne[kdim] % in->block_size)
        return no(w, "a %s operand must be read along its rows of blocks", in->name);
    uint64_t span = (uint64_t)(r->ne[kdim] / in->block_size) * in->block_bytes;
    for (int i = 0; i < PCE_MAX_DIMS; i++) {
        if (i == kdim || r->ne[i] == 1)
            continue;
        if (r->nb[i] < 0 || r->nb[i] % al || r->nb[i] > INT32_MAX)
            return no(w,
                      "a %s operand's stride of %lld bytes is not a multiple of %lld within 2^31",
                      in->name, (long long)r->nb[i], (long long)al);
        span += (uint64_t)((r->ne[i] - 1) * r->nb[i]);
    }
    uint64_t base = (r->buf ? r->buf->offset : 0) + r->offset;
    if (base % (uint64_t)al)
        return no(w, "a %s operand starts at byte %llu, not a multiple of %lld", in->name,
                  (unsigned long long)base, (long long)al);
    uint64_t desc, range;
    if (!desc_range(vd, base, span, &desc, &range, w))
        return false;
    d->b[s] = (VkDescriptorBufferInfo){r->buf ? r->buf->buf : VK_NULL_HANDLE, desc, range};
    d->used[s] = true;
    d->written[s] = false;
    d->pc.off[s] = (uint32_t)(base - desc);
    for (int i = 0; i < PCE_MAX_DIMS; i++)
        d->pc.nb[4 * s + i] = i == kdim || r->ne[i] > 1 ? (int32_t)r->nb[i] : 0;
    return true;
}

static bool variant(vk_dispatch *d, why_buf *w, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static bool variant(vk_dispatch *d, why_buf *w, const char *fmt, ...)
{
    char name[64];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(name, sizeof name, fmt, ap);
    va_end(ap);
    d->variant = pce_vk_variant_find(name);
    if (d->variant < 0)
        return no(w, "no SPIR-V variant %s", name);
    return true;
}

static bool shape(vk_dispatch *d, const int64_t ne[PCE_MAX_DIMS], why_buf *w)
{
    uint64_t n = 1;
    for (int i = 0; i < PCE_MAX_DIMS; i++) {
        d->pc.ne[i] = (uint32_t)ne[i];
        n *= (uint64_t)ne[i];
    }
    if (n > UINT32_MAX)
        return no(w, "%llu elements: the kernels index with 32 bits", (unsigned long long)n);
    d->pc.n = (uint32_t)n;
    return true;
}

/* Spreads `groups` workgroups over x and y (x at most 65535). */
static bool spread(const vk_device *vd, vk_dispatch *d, uint64_t groups, why_buf *w)
{
    uint64_t gx = groups < 65535 ? groups : 65535;
    if (!gx)
        gx = 1;
    uint64_t gy = (groups + gx - 1) / gx;
    if (gy > vd->props.limits.maxComputeWorkGroupCount[1])
        return no(w, "%llu workgroups exceed the device's limit", (unsigned long long)groups);
    d->groups[0] = (uint32_t)gx;
    d->groups[1] = (uint32_t)(gy ? gy : 1);
    d->groups[2] = 1;
    return true;
}

/* Contiguous strides (in elements) for shape ne? */
static bool dense(const int32_t nb[4], const uint32_t ne[4])
{
    int64_t want = 1;
    for (int i = 3; i >= 0; i--) {
        if (ne[i] > 1 && nb[i] != want)
            return false;
        want *= ne[i];
    }
    return true;
}

/* Sets ip[2] when every bound operand of an elementwise kernel (slots 0, 1
 * and 3) is contiguous over the iteration shape: the shader then indexes
 * linearly, without the divisions of coords() (costly where integer
 * division is not vectorised, as on lavapipe). */
static void mark_flat(vk_dispatch *d)
{
    bool aligned = true;
    for (int s = 0; s < 4; s++) {
        if (!d->used[s])
            continue;
        if (!dense(d->pc.nb + 4 * s, d->pc.ne))
            return;
        aligned = aligned && d->pc.off[s] % 4 == 0;
    }
    /* 2: whole vec4s as well (f32 variants use it; the others index
     * linearly either way) */
    d->pc.ip[2] = aligned ? 2 : 1;
}

static bool elementwise(const vk_device *vd, vk_dispatch *d, why_buf *w)
{
    (void)w;
    uint64_t groups = ((uint64_t)d->pc.n + vd->wg - 1) / vd->wg;
    d->groups[0] = (uint32_t)(groups < vd->max_groups ? (groups ? groups : 1) : vd->max_groups);
    d->groups[1] = d->groups[2] = 1;
    return true;
}

static bool rows(const vk_device *vd, vk_dispatch *d, why_buf *w)
{
    if (!vd->subgroup_arith)
        return no(w, "row kernels need subgroup arithmetic in compute shaders");
    uint64_t r = (uint64_t)d->pc.ne[0] * d->pc.ne[1] * d->pc.ne[2];
    d->pc.n = (uint32_t)r;
    return spread(vd, d, r, w);
}

static void init_dispatch(vk_dispatch *d, int node, int op)
{
    memset(d, 0, sizeof *d);
    d->node = node;
    d->op = op;
}

static bool copy_dispatch(const vk_device *vd, vk_dispatch *d, const pce_tref *src,
                          const pce_tref *dst, int op, why_buf *w)
{
    return variant(d, w, "unary_%s_%s", dt_name[src->dtype], dt_name[dst->dtype]) &&
           bind(vd, d, 0, src, false, false, w) && bind(vd, d, 3, dst, false, true, w) &&
           shape(d, dst->ne, w) && ((void)(d->op = op), elementwise(vd, d, w)) &&
           (op == U_CAUSAL || ((void)mark_flat(d), true));
}

/* shaders/qgemv.comp: rows of w one subgroup takes at once (QR), the most
 * rows of x one workgroup takes (MX; the dispatch's count is the OP
 * constant), and up to which M it beats qmatmul's 64-row tiles (which
 * waste most of their work on a prompt of a few tokens). */
#define QGEMV_ROWS 4
#define QGEMV_XROWS 4
#define QGEMV_MAX_M 8

/* The workgroups of the 64x64-tile kernels (matmul.comp, qmatmul.comp): one
 * per tile of the M x N output, times the batch. */
static bool tile_grid(const vk_device *vd, vk_dispatch *d, int64_t M, int64_t N, uint64_t batch,
                      why_buf *w)
{
    uint64_t gx = ((uint64_t)N + 63) / 64, gy = ((uint64_t)M + 63) / 64;
    if (gx > vd->props.limits.maxComputeWorkGroupCount[0] ||
        gy > vd->props.limits.maxComputeWorkGroupCount[1])
        return no(w, "matmul of %lld x %lld outputs exceeds the workgroup count limit",
                  (long long)M, (long long)N);
    d->groups[0] = (uint32_t)gx;
    d->groups[1] = (uint32_t)gy;
    d->groups[2] = (uint32_t)batch;
    return true;
}

/* a · wᵀ with w block-quantized: qgemv (one subgroup per 4 rows of w) for
 * M <= 8, else qmatmul's tiles, both dequantizing inside the kernel. */
static bool qmatmul(const vk_device *vd, const pce_exec_node *n, vk_dispatch *d, why_buf *w)
{
    const pce_tref *a = &n->src[0], *b = &n->src[1], *o = &n->dst;
    int64_t M = o->ne[2], N = o->ne[3], K = a->ne[3];
    const char *qn = pce_dtype_get_info(b->dtype)->name;
    if (!bind(vd, d, 3, o, false, true, w) || !shape(d, o->ne, w) ||
        !bind(vd, d, 0, a, false, false, w) || !bind_quant(vd, d, 1, b, 2, w))
        return false;
    d->pc.ip[0] = (int32_t)K;
    uint64_t batch = (uint64_t)o->ne[0] * (uint64_t)o->ne[1];
    if (M <= QGEMV_MAX_M && vd->subgroup_arith) {
        /* rows of x per workgroup: the OP constant (the loops over them unroll) */
        d->op = (int)(M < QGEMV_XROWS ? M : QGEMV_XROWS);
        uint64_t chunks = ((uint64_t)M + (uint64_t)d->op - 1) / (uint64_t)d->op;
        if (batch * chunks > vd->props.limits.maxComputeWorkGroupCount[2])
            return no(w, "%llu matmul batches exceed the device's limit",
                      (unsigned long long)batch);
        if (!variant(d, w, "qgemv_%s_%s", dt_name[a->dtype], qn))
            return false;
        /* a workgroup's subgroups take QGEMV_ROWS rows of w each in turn */
        uint32_t sgs = vd->wg / (vd->subgroup ? vd->subgroup : 1);
        d->pc.ip[1] = (int32_t)((sgs ? sgs : 1) * QGEMV_ROWS);
        d->pc.ip[2] = (int32_t)chunks;
        if (!spread(vd, d, ((uint64_t)N + (uint64_t)d->pc.ip[1] - 1) / (uint64_t)d->pc.ip[1], w))
            return false;
        d->groups[2] = (uint32_t)(batch * chunks);
        return true;
    }
    if (batch > vd->props.limits.maxComputeWorkGroupCount[2])
        return no(w, "%llu matmul batches exceed the device's limit", (unsigned long long)batch);
    if (!variant(d, w, "qmatmul_%s_%s", dt_name[a->dtype], qn))
        return false;
    d->pc.ip[1] = d->pc.nb[3] == 1 ? 1 : 0;
    return tile_grid(vd, d, M, N, batch, w);
}

/* shaders/gemv.comp's OP constant: vectors per workgroup (VR, low bits),
 * outputs per subgroup or invocation (R, << 3), column layout, X read
 * several elements at a time, V read 8 at a time, K split across the
 * workgroup (column layout). */
#define GEMV_MAX_VR 4
#define GEMV_R_SHIFT 3
#define GEMV_COLS 64
#define GEMV_WIDE 128
#define GEMV_VWIDE 256
#define GEMV_SPLIT 512

/* Are the offset of gemv slot s (0 X, 1 V) and its strides but the one
 * read along (X's dim `along`; V's batch strides only) multiples of a? */
static bool gemv_aligned(const vk_dispatch *d, int s, int32_t a, int along)
{
    bool ok = d->pc.off[s] % (uint32_t)a == 0;
    for (int i = 0; i < (s ? 2 : 4); i++)
        ok = ok && (i == along || d->pc.nb[4 * s + i] % a == 0);
    return ok;
}

/* M = 1 (decode) or N = 1: D[b, i] = sum_k X[b, i, k] V[b, k] with the
 * output's slot 3 and K (ip[0]) already set. X contiguous along k (a
 * weight, the K cache) takes the row layout: one subgroup per R outputs,
 * the subgroup's invocations splitting K; X contiguous along the outputs
 * (probs · V) the column layout: an invocation per 4 outputs, K split
 * across the workgroup on a GPU. Where X is shared by the batch1 vectors
 * (grouped-query attention), a workgroup serves up to 4 of them with each
 * load of X. */
static bool gemv(const vk_device *vd, vk_dispatch *d, const pce_tref *x, const pce_tref *v, bool m1,
                 why_buf *w)
{
    if (!variant(d, w, "gemv_%s_%s", dt_name[x->dtype], dt_name[v->dtype]) ||
        !bind(vd, d, 0, x, false, false, w) || !bind(vd, d, 1, v, false, false, w))
        return false;
    int32_t xs[4], vs[4], ds[4];
    memcpy(xs, d->pc.nb, sizeof xs);
    memcpy(vs, d->pc.nb + 4, sizeof vs);
    memcpy(ds, d->pc.nb + 12, sizeof ds);
    int32_t *pn = d->pc.nb;
    /* X: (batch0, batch1, i, k); V: k at [7]; D: i at [14] */
    if (m1) {
        pn[2] = xs[3];
        pn[3] = xs[2];
        pn[7] = vs[3];
        pn[14] = ds[3];
    } else {
        pn[7] = vs[2];
        pn[14] = ds[2];
    }
    uint64_t outs = d->pc.ne[m1 ? 3 : 2], b1 = d->pc.ne[1];
    d->pc.ne[2] = (uint32_t)outs;
    /* vectors per workgroup: the batch1 ones that share X, in even chunks */
    bool cols = pn[2] == 1 && pn[3] != 1 && outs > 1;
    uint64_t chunks = b1, vr = 1, maxvr = GEMV_MAX_VR;
    /* the column layout sums its slices in shared memory, a vec4 per
     * invocation and vector */
    while (cols && maxvr > 1 &&
           (uint64_t)vd->wg * maxvr * 16 > vd->props.limits.maxComputeSharedMemorySize)
        maxvr--;
    if (pn[1] == 0 && b1 > 1) {
        chunks = (b1 + maxvr - 1) / maxvr;
        vr = (b1 + chunks - 1) / chunks;
    }
    /* (the caller checked that ne[0] * b1 batches fit z) */
    d->pc.ip[2] = (int32_t)chunks;
    uint32_t sg = vd->subgroup ? vd->subgroup : 1, per;
    /* reads of 16 bytes: 4 elements of f32, 8 of f16/bf16 (the row
     * layout reads X and V w at a time, w from X's dtype; the column layout
     * V 8 at a time), so from a multiple of that (4 for f32) */
    bool xf32 = x->dtype == PCE_DTYPE_F32, vf32 = v->dtype == PCE_DTYPE_F32;
    int32_t wx = xf32 ? 4 : 8, wv = vf32 ? 4 : wx, w8 = vf32 ? 4 : 8;
    if (cols) {
        /* column layout: R = 4 outputs an invocation, read as one, where
         * X allows. A GPU puts at most a quarter of the workgroup side by
         * side, so that K is split at least four ways; a CPU
         * implementation does not split K (a barrier costs it a switch
         * of every invocation's context: lavapipe runs them as
         * coroutines) */
        bool wide = outs % 4 == 0 && gemv_aligned(d, 0, 4, 2);
        uint32_t r = wide ? 4 : 1;
        uint64_t c = ((outs + r - 1) / r + sg - 1) / sg * sg;
        bool split = vd->props.deviceType != VK_PHYSICAL_DEVICE_TYPE_CPU;
        uint32_t cap = split ? vd->wg / 4 : vd->wg;
        if (cap < sg)
            cap = sg;
        per = (uint32_t)(c < cap ? c : cap);
        if (per > vd->wg)
            per = vd->wg;
        bool vwide = pn[7] == 1 && gemv_aligned(d, 1, w8, -1);
        d->op = (int)vr | (int)r << GEMV_R_SHIFT | GEMV_COLS | (wide ? GEMV_WIDE : 0) |
                (vwide ? GEMV_VWIDE : 0) | (split ? GEMV_SPLIT : 0);
        d->pc.ip[1] = (int32_t)per;
        per *= r;
    } else {
        /* row layout: R outputs per subgroup at once (each load of V
         * serves R rows of X); a CPU implementation gains most from that,
         * a GPU wants more subgroups in flight */
        uint32_t r = vd->props.deviceType == VK_PHYSICAL_DEVICE_TYPE_CPU ? 4 : 2;
        if (outs < r)
            r = (uint32_t)outs;
        if (!r)
            r = 1;
        /* X and V both read w elements at a time along k, where K gives
         * every invocation of the subgroup some */
        bool wide = pn[3] == 1 && pn[7] == 1 && gemv_aligned(d, 0, wx, 3) &&
                    gemv_aligned(d, 1, wv, -1) && (uint32_t)d->pc.ip[0] >= (uint32_t)wx * sg;
        uint32_t sgs = vd->wg / sg;
        uint64_t unit = (uint64_t)(sgs ? sgs : 1) * r, units = (outs + unit - 1) / unit;
        /* no more workgroups than the device wants (a CPU implementation
         * pays per workgroup and per subgroup): more rows each instead */
        uint64_t groups = units * (uint64_t)d->pc.ne[0] * chunks, each = 1;
        if (groups > vd->max_groups)
            each = groups / vd->max_groups;
        per = (uint32_t)(unit * (each < units ? each : units));
        d->op = (int)vr | (int)r << GEMV_R_SHIFT | (wide ? GEMV_WIDE : 0);
        d->pc.ip[1] = (int32_t)per;
    }
    if (!spread(vd, d, (outs + per - 1) / per, w))
        return false;
    d->groups[2] = (uint32_t)(d->pc.ne[0] * chunks);
    return true;
}

static bool matmul(const vk_device *vd, const pce_exec_node *n, vk_dispatch *d, why_buf *w)
{
    if (pce_dtype_get_info(n->src[1].dtype)->is_quantized)
        return qmatmul(vd, n, d, w);
    const pce_tref *a = &n->src[0], *b = &n->src[1], *o = &n->dst;
    int64_t M = o->ne[2], N = o->ne[3], K = a->ne[3];
    if (!bind(vd, d, 3, o, false, true, w) || !shape(d, o->ne, w))
        return false;
    d->pc.ip[0] = (int32_t)K;
    uint64_t batch = (uint64_t)o->ne[0] * (uint64_t)o->ne[1];
    if (batch > vd->props.limits.maxComputeWorkGroupCount[2])
        return no(w, "%llu matmul batches exceed the device's limit", (unsigned long long)batch);
    if ((M == 1 || N == 1) && vd->subgroup_arith)
        return gemv(vd, d, M == 1 ? b : a, M == 1 ? a : b, M == 1, w);
    if (!variant(d, w, "matmul_%s_%s", dt_name[a->dtype], dt_name[b->dtype]) ||
        !bind(vd, d, 0, a, false, false, w) || !bind(vd, d, 1, b, false, false, w))
        return false;
    d->pc.ip[1] = (d->pc.nb[3] == 1 ? 1 : 0) | (d->pc.nb[7] == 1 ? 2 : 0);
    return tile_grid(vd, d, M, N, batch, w);
}

/* Translates node n (position idx in the segment) into dispatches; returns
 * how many (1 or 2), or 0 with the reason in w. */
static int translate(const vk_device *vd, const pce_exec_node *n, int idx, vk_dispatch out[2],
                     why_buf *w)
{
    for (int i = 0; i < n->nsrc; i++) {
        bool weight = (n->op == PCE_OP_MATMUL && i == 1) || (n->op == PCE_OP_GET_ROWS && i == 0);
        if (n->has_src[i] && !dtype_ok(vd, n->src[i].dtype, weight, w))
            return 0;
    }
    if (!dtype_ok(vd, n->dst.dtype, false, w))
        return 0;
    vk_dispatch *d = &out[0];
    init_dispatch(d, idx, 0);
    const pce_tref *dst = &n->dst, *s0 = &n->src[0];
    const char *dn = dt_name[dst->dtype];
    bool ok;
    switch (n->op) {
    case PCE_OP_ADD:
    case PCE_OP_SUB:
    case PCE_OP_MUL:
    case PCE_OP_DIV:
    case PCE_OP_SWIGLU:
        d->op = n->op == PCE_OP_SWIGLU ? 4 : (int)(n->op - PCE_OP_ADD);
        ok = variant(d, w, "binary_%s", dn) && bind(vd, d, 0, s0, false, false, w) &&
             bind(vd, d, 1, &n->src[1], false, false, w) && bind(vd, d, 3, dst, false, true, w) &&
             shape(d, dst->ne, w) && elementwise(vd, d, w);
        if (ok)
            mark_flat(d);
        return ok ? 1 : 0;
    case PCE_OP_SCALE:
    case PCE_OP_NEG:
    case PCE_OP_ABS:
    case PCE_OP_SQR:
    case PCE_OP_SQRT:
    case PCE_OP_EXP:
    case PCE_OP_TANH:
    case PCE_OP_RELU:
    case PCE_OP_GELU:
    case PCE_OP_GELU_ERF:
    case PCE_OP_SILU:
        d->pc.fp[0] = n->fp[0];
        return copy_dispatch(vd, d, s0, dst, U_SCALE + (int)(n->op - PCE_OP_SCALE), w) ? 1 : 0;
    case PCE_OP_CONTIGUOUS:
    case PCE_OP_CAST: return copy_dispatch(vd, d, s0, dst, U_COPY, w) ? 1 : 0;
    case PCE_OP_COPY_INTO: return copy_dispatch(vd, d, &n->src[1], dst, U_COPY, w) ? 1 : 0;
    case PCE_OP_CAUSAL_MASK:
        d->pc.ip[0] = n->ip[0];
        return copy_dispatch(vd, d, s0, dst, U_CAUSAL, w) ? 1 : 0;
    case PCE_OP_CONCAT: {
        int c = n->ip[0];
        pce_tref part = *dst;
        memcpy(part.ne, s0->ne, sizeof part.ne);
        if (!copy_dispatch(vd, d, s0, &part, U_COPY, w))
            return 0;
        init_dispatch(&out[1], idx, 0);
        const pce_tref *s1 = &n->src[1];
        memcpy(part.ne, s1->ne, sizeof part.ne);
        part.offset = dst->offset + (size_t)(s0->ne[c] * dst->nb[c]);
        return copy_dispatch(vd, &out[1], s1, &part, U_COPY, w) ? 2 : 0;
    }
    case PCE_OP_SUM_ROWS:
    case PCE_OP_MEAN_ROWS:
    case PCE_OP_MAX_ROWS:
    case PCE_OP_ARGMAX:
        d->op = (int)(n->op - PCE_OP_SUM_ROWS);
        ok = variant(d, w, "%s_%s", n->op == PCE_OP_ARGMAX ? "argmax" : "reduce",
                     dt_name[s0->dtype]) &&
             bind(vd, d, 0, s0, false, false, w) && bind(vd, d, 3, dst, false, true, w) &&
             shape(d, s0->ne, w) && rows(vd, d, w);
        return ok ? 1 : 0;
    case PCE_OP_RMS_NORM:
    case PCE_OP_LAYER_NORM:
        d->op = n->op == PCE_OP_LAYER_NORM;
        d->pc.fp[0] = n->fp[0];
        d->pc.ip[0] = d->pc.ip[1] = -1;
        ok = variant(d, w, "norm_%s", dn) && bind(vd, d, 0, s0, false, false, w) &&
             bind(vd, d, 3, dst, false, true, w) && shape(d, s0->ne, w);
        for (int k = 1; ok && k <= 2; k++)
            if (n->has_src[k]) {
                ok = bind(vd, d, k, &n->src[k], true, false, w);
                d->pc.ip[k - 1] = (int32_t)n->src[k].dtype;
                /* a [D] parameter of any rank: its stride along D */
                d->pc.nb[4 * k + 3] =
                    (int32_t)(n->src[k].nb[3] /
                              (int64_t)pce_dtype_get_info(n->src[k].dtype)->block_bytes);
            }
        return ok && rows(vd, d, w) ? 1 : 0;
    case PCE_OP_SOFTMAX:
        d->pc.fp[0] = n->fp[0];
        d->pc.ip[0] = -1;
        ok = variant(d, w, "softmax_%s", dn) && bind(vd, d, 0, s0, false, false, w) &&
             bind(vd, d, 3, dst, false, true, w) && shape(d, s0->ne, w);
        if (ok && n->has_src[1]) {
            ok = bind(vd, d, 1, &n->src[1], true, false, w);
            d->pc.ip[0] = (int32_t)n->src[1].dtype;
        }
        return ok && rows(vd, d, w) ? 1 : 0;
    case PCE_OP_ROPE:
        d->pc.ip[0] = n->ip[0];
        d->pc.ip[1] = n->ip[1];
        /* binding 2 (the angle table) is made at prepare */
        ok = variant(d, w, "rope_%s", dn) && bind(vd, d, 0, s0, false, false, w) &&
             bind(vd, d, 1, &n->src[1], false, false, w) && bind(vd, d, 3, dst, false, true, w) &&
             shape(d, s0->ne, w) && elementwise(vd, d, w);
        return ok ? 1 : 0;
    case PCE_OP_GET_ROWS:
        d->pc.ip[0] = (int32_t)s0->ne[2];
        d->pc.ip[1] = idx;
        d->used[4] = d->written[4] = true;
        if (pce_dtype_get_info(s0->dtype)->is_quantized) {
            /* one item per group of 8 weights */
            ok = variant(d, w, "get_rows_%s", pce_dtype_get_info(s0->dtype)->name) &&
                 bind_quant(vd, d, 0, s0, 3, w) && bind(vd, d, 1, &n->src[1], false, false, w) &&
                 bind(vd, d, 3, dst, false, true, w) && shape(d, dst->ne, w);
            d->pc.n /= 8;
            return ok && elementwise(vd, d, w) ? 1 : 0;
        }
        ok = variant(d, w, "get_rows_%s", dt_name[s0->dtype]) &&
             bind(vd, d, 0, s0, false, false, w) && bind(vd, d, 1, &n->src[1], false, false, w) &&
             bind(vd, d, 3, dst, false, true, w) && shape(d, dst->ne, w) && elementwise(vd, d, w);
        return ok ? 1 : 0;
    case PCE_OP_SET_ROWS: {
        const pce_tref *src = &n->src[1], *ids = &n->src[2];
        d->pc.ip[0] = (int32_t)dst->ne[2];
        d->pc.ip[1] = idx;
        d->used[4] = d->written[4] = true;
        ok = variant(d, w, "ids_check") && bind(vd, d, 1, ids, false, false, w) &&
             shape(d, ids->ne, w) && elementwise(vd, d, w);
        if (!ok)
            return 0;
        vk_dispatch *e = &out[1];
        init_dispatch(e, idx, 0);
        e->pc.ip[0] = (int32_t)dst->ne[2];
        e->used[4] = true;
        ok = variant(e, w, "set_rows_%s_%s", dt_name[src->dtype], dn) &&
             bind(vd, e, 0, src, false, false, w) && bind(vd, e, 2, ids, false, false, w) &&
             bind(vd, e, 3, dst, false, true, w) && shape(e, src->ne, w) && elementwise(vd, e, w);
        return ok ? 2 : 0;
    }
    case PCE_OP_MATMUL: return matmul(vd, n, d, w) ? 1 : 0;
    default: no(w, "op %s has no Vulkan kernel", pce_op_name(n->op)); return 0;
    }
}

bool pce_vk_supports(const pce_device *dev, const pce_exec_node *n, char *why, size_t cap)
{
    pce_vk_apply_settings((pce_device *)dev);
    why_buf w = {why, cap};
    vk_dispatch d[2];
    return translate(dev->impl, n, 0, d, &w) != 0;
}

/* The rope node's angle table, in a buffer the segment owns. */
static pce_status rope_table(pce_device *dev, vk_segment *vs, const pce_exec_node *n,
                             vk_dispatch *d)
{
    size_t bytes = pce_rope_table_bytes(n);
    uint32_t *t = calloc(1, bytes);
    pce_buffer **own = realloc(vs->owned, (size_t)(vs->n_owned + 1) * sizeof *own);
    if (own)
        vs->owned = own;
    if (!t || !own) {
        free(t);
        return pce_fail(dev->ctx, PCE_ERR_OUT_OF_MEMORY, "rope table of %zu bytes", bytes);
    }
    pce_rope_table_fill(n, t);
    pce_buffer *b;
    pce_status st = pce_vk_buffer_alloc(dev, bytes, &b);
    if (st == PCE_OK) {
        vs->owned[vs->n_owned++] = b;
        st = pce_vk_upload(dev, b, 0, t, bytes);
    }
    free(t);
    if (st != PCE_OK)
        return st;
    d->b[2] = (VkDescriptorBufferInfo){b->buf, b->offset, b->size};
    d->used[2] = true;
    return PCE_OK;
}

static bool overlaps(const VkDescriptorBufferInfo *a, const VkDescriptorBufferInfo *b)
{
    return a->buffer == b->buffer && a->offset < b->offset + b->range &&
           b->offset < a->offset + a->range;
}

/* Whether d must wait for the dispatches since the last barrier. */
static bool hazard(const vk_dispatch *d, const vk_dispatch *since, int n)
{
    for (int j = 0; j < n; j++)
        for (int a = 0; a < 5; a++) {
            if (!d->used[a])
                continue;
            for (int b = 0; b < 5; b++)
                if (since[j].used[b] && (d->written[a] || since[j].written[b]) &&
                    overlaps(&d->b[a], &since[j].b[b]))
                    return true;
        }
    return false;
}

static void barrier(VkCommandBuffer cmd, VkPipelineStageFlags from, VkAccessFlags src,
                    VkPipelineStageFlags to, VkAccessFlags dst)
{
    VkMemoryBarrier mb = {
        .sType = VK_STRUCTURE_TYPE_MEMORY_BARRIER, .srcAccessMask = src, .dstAccessMask = dst};
    vkCmdPipelineBarrier(cmd, from, to, 0, 1, &mb, 0, NULL, 0, NULL);
}

static pce_status record(pce_device *dev, vk_segment *vs)
{
    vk_device *vd = dev->impl;
    VkDescriptorPoolSize ps = {VK_DESCRIPTOR_TYPE_STORAGE_BUFFER, (uint32_t)(5 * vs->n)};
    VkDescriptorPoolCreateInfo dpi = {.sType = VK_STRUCTURE_TYPE_DESCRIPTOR_POOL_CREATE_INFO,
                                      .maxSets = (uint32_t)vs->n,
                                      .poolSizeCount = 1,
                                      .pPoolSizes = &ps};
    VkResult r = vkCreateDescriptorPool(vd->dev, &dpi, NULL, &vs->dpool);
    VkDescriptorSet *sets = calloc((size_t)vs->n, sizeof *sets);
    VkDescriptorSetLayout *layouts = calloc((size_t)vs->n, sizeof *layouts);
    if (!sets || !layouts) {
        free(sets);
        free(layouts);
        return pce_fail(dev->ctx, PCE_ERR_OUT_OF_MEMORY, "%s: %d descriptor sets", dev->props.name,
                        vs->n);
    }
    for (int i = 0; i < vs->n; i++)
        layouts[i] = vd->dsl;
    VkDescriptorSetAllocateInfo dai = {.sType = VK_STRUCTURE_TYPE_DESCRIPTOR_SET_ALLOCATE_INFO,
                                       .descriptorPool = vs->dpool,
                                       .descriptorSetCount = (uint32_t)vs->n,
                                       .pSetLayouts = layouts};
    if (r == VK_SUCCESS)
        r = vkAllocateDescriptorSets(vd->dev, &dai, sets);
    free(layouts);
    VkCommandBufferAllocateInfo cai = {.sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_ALLOCATE_INFO,
                                       .commandPool = vd->cmd_pool,
                                       .level = VK_COMMAND_BUFFER_LEVEL_PRIMARY,
                                       .commandBufferCount = 1};
    if (r == VK_SUCCESS)
        r = vkAllocateCommandBuffers(vd->dev, &cai, &vs->cmd);
    /* signalled: "no run in flight", so a plan destroyed before its first
     * run does not wait for one */
    VkFenceCreateInfo fci = {.sType = VK_STRUCTURE_TYPE_FENCE_CREATE_INFO,
                             .flags = VK_FENCE_CREATE_SIGNALED_BIT};
    if (r == VK_SUCCESS)
        r = vkCreateFence(vd->dev, &fci, NULL, &vs->fence);
    VkCommandBufferBeginInfo bi = {.sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_BEGIN_INFO};
    if (r == VK_SUCCESS)
        r = vkBeginCommandBuffer(vs->cmd, &bi);
    if (r != VK_SUCCESS) {
        free(sets);
        return pce_fail(dev->ctx, pce_vk_status(r), "%s: recording %d dispatches: %s",
                        dev->props.name, vs->n, pce_vk_result_name(r));
    }
    VkDescriptorBufferInfo err = {vd->err_buf, 0, 16};
    for (int i = 0; i < vs->n; i++) {
        vk_dispatch *d = &vs->d[i];
        d->b[4] = err;
        VkWriteDescriptorSet wr[5];
        for (int k = 0; k < 5; k++) {
            if (!d->used[k] && k < 4)
                d->b[k] = err; /* unused slot: any valid buffer */
            wr[k] = (VkWriteDescriptorSet){.sType = VK_STRUCTURE_TYPE_WRITE_DESCRIPTOR_SET,
                                           .dstSet = sets[i],
                                           .dstBinding = (uint32_t)k,
                                           .descriptorCount = 1,
                                           .descriptorType = VK_DESCRIPTOR_TYPE_STORAGE_BUFFER,
                                           .pBufferInfo = &d->b[k]};
        }
        vkUpdateDescriptorSets(vd->dev, 5, wr, 0, NULL);
    }
    /* the error record starts clear on every run */
    vkCmdFillBuffer(vs->cmd, vd->err_buf, 0, 16, 0);
    barrier(vs->cmd, VK_PIPELINE_STAGE_TRANSFER_BIT, VK_ACCESS_TRANSFER_WRITE_BIT,
            VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT,
            VK_ACCESS_SHADER_READ_BIT | VK_ACCESS_SHADER_WRITE_BIT);
    int since = 0, barriers = 0;
    VkPipeline bound = VK_NULL_HANDLE;
    for (int i = 0; i < vs->n; i++) {
        vk_dispatch *d = &vs->d[i];
        if (hazard(d, vs->d + since, i - since)) {
            barrier(vs->cmd, VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT, VK_ACCESS_SHADER_WRITE_BIT,
                    VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT,
                    VK_ACCESS_SHADER_READ_BIT | VK_ACCESS_SHADER_WRITE_BIT);
            since = i;
            barriers++;
        }
        pce_log(dev->ctx, PCE_LOG_DEBUG,
                "%s: dispatch %d: node %d %s op %d groups %ux%ux%u n %u flat %d; "
                "A @%llu+%llu off %u, B @%llu+%llu off %u, D @%llu+%llu off %u",
                dev->props.name, i, d->node, pce_vk_variant_name(d->variant), d->op, d->groups[0],
                d->groups[1], d->groups[2], d->pc.n, d->pc.ip[2],
                (unsigned long long)d->b[0].offset, (unsigned long long)d->b[0].range, d->pc.off[0],
                (unsigned long long)d->b[1].offset, (unsigned long long)d->b[1].range, d->pc.off[1],
                (unsigned long long)d->b[3].offset, (unsigned long long)d->b[3].range,
                d->pc.off[3]);
        if (d->pipe != bound) {
            vkCmdBindPipeline(vs->cmd, VK_PIPELINE_BIND_POINT_COMPUTE, d->pipe);
            bound = d->pipe;
        }
        vkCmdBindDescriptorSets(vs->cmd, VK_PIPELINE_BIND_POINT_COMPUTE, vd->layout, 0, 1, &sets[i],
                                0, NULL);
        vkCmdPushConstants(vs->cmd, vd->layout, VK_SHADER_STAGE_COMPUTE_BIT, 0, sizeof d->pc,
                           &d->pc);
        vkCmdDispatch(vs->cmd, d->groups[0], d->groups[1], d->groups[2]);
    }
    /* results and the error record become visible to the host */
    barrier(vs->cmd, VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT, VK_ACCESS_SHADER_WRITE_BIT,
            VK_PIPELINE_STAGE_HOST_BIT | VK_PIPELINE_STAGE_TRANSFER_BIT,
            VK_ACCESS_HOST_READ_BIT | VK_ACCESS_TRANSFER_READ_BIT);
    free(sets);
    r = vkEndCommandBuffer(vs->cmd);
    if (r != VK_SUCCESS)
        return pce_fail(dev->ctx, pce_vk_status(r), "%s: vkEndCommandBuffer: %s", dev->props.name,
                        pce_vk_result_name(r));
    pce_log(dev->ctx, PCE_LOG_DEBUG, "%s: recorded %d dispatches with %d barriers", dev->props.name,
            vs->n, barriers);
    return PCE_OK;
}

pce_status pce_vk_segment_prepare(pce_device *dev, pce_segment *seg)
{
    pce_status st = pce_vk_ready(dev);
    if (st != PCE_OK)
        return st;
    vk_device *vd = dev->impl;
    vk_segment *vs = calloc(1, sizeof *vs);
    if (!vs)
        return pce_fail(dev->ctx, PCE_ERR_OUT_OF_MEMORY, "%s: segment", dev->props.name);
    seg->impl = vs;
    vs->d = calloc((size_t)(2 * seg->n_nodes + 1), sizeof *vs->d);
    if (!vs->d)
        return pce_fail(dev->ctx, PCE_ERR_OUT_OF_MEMORY, "%s: %d dispatches", dev->props.name,
                        2 * seg->n_nodes);
    for (int i = 0; i < seg->n_nodes; i++) {
        const pce_exec_node *n = &seg->nodes[i];
        char why[256] = "";
        why_buf w = {why, sizeof why};
        int k = translate(vd, n, i, vs->d + vs->n, &w);
        if (!k)
            return pce_fail(dev->ctx, PCE_ERR_UNSUPPORTED, "%s: node '%s' (%s): %s",
                            dev->props.name, n->tensor ? n->tensor->name : "?", pce_op_name(n->op),
                            why);
        if (n->op == PCE_OP_ROPE && (st = rope_table(dev, vs, n, &vs->d[vs->n])) != PCE_OK)
            return st;
        for (int j = 0; j < k; j++) {
            vk_dispatch *d = &vs->d[vs->n + j];
            if ((st = pce_vk_pipeline_get(dev, d->variant, d->op, &d->pipe)) != PCE_OK)
                return st;
        }
        vs->n += k;
    }
    if (!vs->n)
        return PCE_OK;
    return record(dev, vs);
}

pce_status pce_vk_segment_run(pce_device *dev, pce_segment *seg)
{
    vk_device *vd = dev->impl;
    vk_segment *vs = seg->impl;
    if (!vs || !vs->n)
        return PCE_OK;
    VkSubmitInfo si = {.sType = VK_STRUCTURE_TYPE_SUBMIT_INFO,
                       .commandBufferCount = 1,
                       .pCommandBuffers = &vs->cmd};
    VkResult r = vkResetFences(vd->dev, 1, &vs->fence);
    if (r == VK_SUCCESS)
        r = vkQueueSubmit(vd->queue, 1, &si, vs->fence);
    if (r == VK_SUCCESS)
        r = vkWaitForFences(vd->dev, 1, &vs->fence, VK_TRUE, UINT64_MAX);
    if (r != VK_SUCCESS)
        return pce_fail(dev->ctx, pce_vk_status(r), "%s: running %d dispatches: %s",
                        dev->props.name, vs->n, pce_vk_result_name(r));
    if (vd->err_map[0])
        return pce_ids_error(dev, seg, vd->err_map);
    return PCE_OK;
}

void pce_vk_segment_release(pce_device *dev, pce_segment *seg)
{
    vk_device *vd = dev->impl;
    vk_segment *vs = seg->impl;
    if (!vs)
        return;
    if (vs->fence) {
        vkWaitForFences(vd->dev, 1, &vs->fence, VK_TRUE, UINT64_MAX);
        vkDestroyFence(vd->dev, vs->fence, NULL);
    }
    if (vs->cmd)
        vkFreeCommandBuffers(vd->dev, vd->cmd_pool, 1, &vs->cmd);
    if (vs->dpool)
        vkDestroyDescriptorPool(vd->dev, vs->dpool, NULL);
    for (int i = 0; i < vs->n_owned; i++)
        pce_vk_buffer_free(dev, vs->owned[i]);
    free(vs->owned);
    free(vs->d);
    free(vs);
    seg->impl = NULL;
}
