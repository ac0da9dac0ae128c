/* gpu_backend.c — the CUDA backend, and with PCE_GPU_HIP the HIP backend:
 * one host source over gpu_api.h, one kernel source (gpu_kernels.cu).
 * Devices from the runtime; memory from a pool of large cudaMalloc blocks
 * (backends/common/pool.c); pinned host staging and async copies on one
 * stream per device; a plan's segment captured once as a CUDA/HIP graph and
 * replayed; f32/f16/bf16 matmul through cuBLAS (cublasGemmStridedBatchedEx)
 * when the build has it and the layout allows, else our tiled kernel. */
#include "../backend.h"
#include "gpu_api.h"
#include "gpu_common.h"
#include "gpu_kernels.h"
#include "pool.h"

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

pce_status pce_module_shim_attach(pce_context *ctx, const pce_backend_host *h, const char *name);

#define BLOCK_BYTES (256ull << 20)
#define STAGING_BYTES (32ull << 20)

struct pce_buffer {
    pce_pool_slice slice;
    char *ptr; /* device address */
    uint64_t size;
};

typedef struct gpu_device {
    int ordinal;
    pthread_mutex_t lock; /* recursive: stream, pool, staging, error record */
    bool ready;
    pce_status ready_status;
    gpuStream_t stream;
    pce_pool pool;
    char *staging; /* pinned host memory */
    uint32_t *err_dev, *err_host;
    int max_blocks;
#ifdef PCE_GPU_CUBLAS
    cublasHandle_t blas;
    void *blas_ws;
#endif
    bool use_blas; /* PCE_GPU_GEMM=own turns cuBLAS off */
} gpu_device;

typedef struct gemm_call {
    int transa, transb; /* 1: transposed (column-major view) */
    int m, n, k;
    const void *a, *b;
    void *c;
    int dta, dtb;
    long long lda, ldb, ldc, sa, sb, sc;
    int batch;
} gemm_call;

typedef struct gpu_item {
    bool blas;
    pce_gpu_launch l;
    gemm_call g;
} gpu_item;

typedef struct gpu_segment {
    gpu_item *it;
    int n;
    pce_buffer **owned;
    int n_owned;
    gpuGraph_t graph;
    gpuGraphExec_t exec;
} gpu_segment;

static pce_status gpu_fail(pce_device *dev, gpuError_t e, const char *what)
{
    pce_status st = e == gpuErrorMemoryAllocation ? PCE_ERR_OUT_OF_MEMORY : PCE_ERR_INTERNAL;
#ifdef PCE_GPU_HIP
    if (e == hipErrorLaunchFailure || e == hipErrorIllegalAddress || e == hipErrorECCNotCorrectable)
        st = PCE_ERR_DEVICE_LOST;
#else
    if (e == cudaErrorLaunchFailure || e == cudaErrorIllegalAddress ||
        e == cudaErrorECCUncorrectable || e == cudaErrorHardwareStackError ||
        e == cudaErrorIllegalInstruction || e == cudaErrorMisalignedAddress)
        st = PCE_ERR_DEVICE_LOST;
#endif
    return pce_fail(dev->ctx, st, "%s: %s: %s (%s)", dev->props.name, what, gpuGetErrorName(e),
                    gpuGetErrorString(e));
}

/* ---- memory ------------------------------------------------------------ */

static int block_alloc(void *user, uint64_t size, void **handle)
{
    (void)user;
    void *p = NULL;
    if (gpuMalloc(&p, size) != gpuSuccess) {
        gpuGetLastError(); /* clear the error */
        return 1;
    }
    *handle = p;
    return 0;
}

static void block_free(void *user, void *handle)
{
    (void)user;
    gpuFree(handle);
}

static pce_status ready(pce_device *dev)
{
    gpu_device *gd = dev->impl;
    if (gd->ready)
        return gd->ready_status;
    gd->ready = true;
    gpuError_t e = gpuSetDevice(gd->ordinal);
    if (e == gpuSuccess)
        e = gpuStreamCreate(&gd->stream);
    if (e == gpuSuccess)
        e = gpuMallocHost((void **)&gd->staging, STAGING_BYTES);
    if (e == gpuSuccess)
        e = gpuMallocHost((void **)&gd->err_host, 64);
    if (e == gpuSuccess)
        e = gpuMalloc((void **)&gd->err_dev, 64);
    if (e != gpuSuccess)
        return gd->ready_status = gpu_fail(dev, e, "stream, pinned staging and error record");
    memset(gd->err_host, 0, 64);
    pce_pool_block_ops ops = {.alloc = block_alloc, .free = block_free, .user = gd};
    uint64_t block = BLOCK_BYTES;
    if (dev->props.memory_total / 16 < block)
        block = dev->props.memory_total / 16 > (16ull << 20) ? dev->props.memory_total / 16
                                                             : (16ull << 20);
    pce_pool_init(&gd->pool, &ops, block, 0);
    /* the profile's [kernels] matmul = own, unless the context chose */
    if (gd->use_blas && !dev->ctx->gpu_gemm[0] && !strcmp(dev->settings.matmul, "own")) {
        pce_log(dev->ctx, PCE_LOG_INFO, "%s: matmul on pce's kernel ([kernels] matmul = own, %s)",
                dev->props.name, dev->settings.matmul_from);
        gd->use_blas = false;
    }
#ifdef PCE_GPU_CUBLAS
    if (gd->use_blas) {
        if (cublasCreate(&gd->blas) != CUBLAS_STATUS_SUCCESS) {
            pce_log(dev->ctx, PCE_LOG_WARN, "%s: cublasCreate failed: matmul uses pce's kernel",
                    dev->props.name);
            gd->use_blas = false;
        } else {
            /* graphs need the workspace fixed up front; set after the
             * stream, as cublasSetStream resets the workspace to the
             * default pool */
            cublasSetStream(gd->blas, gd->stream);
            size_t ws = 32u << 20;
            if (gpuMalloc(&gd->blas_ws, ws) == gpuSuccess) {
                cublasSetWorkspace(gd->blas, gd->blas_ws, ws);
            } else {
                gd->blas_ws = NULL;
                gpuGetLastError(); /* else the next launch reports it */
            }
        }
    }
#endif
    return gd->ready_status = PCE_OK;
}

static pce_status buffer_alloc(pce_device *dev, size_t bytes, pce_buffer **out)
{
    *out = NULL;
    pce_status st = ready(dev);
    if (st != PCE_OK)
        return st;
    gpu_device *gd = dev->impl;
    pce_buffer *b = calloc(1, sizeof *b);
    if (!b)
        return pce_fail(dev->ctx, PCE_ERR_OUT_OF_MEMORY, "%s: buffer record", dev->props.name);
    uint64_t size = ((uint64_t)bytes + 255) & ~255ull;
    int rc = pce_pool_alloc(&gd->pool, size ? size : 256, 256, &b->slice);
    if (rc != PCE_POOL_OK) {
        free(b);
        size_t fr = 0, tot = 0;
        gpuMemGetInfo(&fr, &tot);
        return pce_fail(dev->ctx, PCE_ERR_OUT_OF_MEMORY,
                        "%s: cannot allocate %zu bytes (%s; %llu bytes in use by pce in %d "
                        "blocks, %zu of %zu bytes free on the device)",
                        dev->props.name, bytes,
                        rc == PCE_POOL_NO_MEMORY ? "out of device memory" : "pool error",
                        (unsigned long long)gd->pool.bytes_used, gd->pool.n_blocks, fr, tot);
    }
    b->ptr = (char *)b->slice.block->handle + b->slice.offset;
    b->size = size ? size : 256;
    *out = b;
    return PCE_OK;
}

static void buffer_free(pce_device *dev, pce_buffer *b)
{
    if (!b)
        return;
    gpu_device *gd = dev->impl;
    pce_pool_free(&gd->pool, &b->slice);
    free(b);
}

static pce_status copy(pce_device *dev, pce_buffer *b, size_t off, void *host, size_t n, bool up)
{
    if (off > b->size || n > b->size - off)
        return pce_fail(dev->ctx, PCE_ERR_INVALID_ARGUMENT,
                        "%s: %zu bytes at offset %zu do not fit a buffer of %llu bytes",
                        dev->props.name, n, off, (unsigned long long)b->size);
    gpu_device *gd = dev->impl;
    for (size_t done = 0; done < n;) {
        size_t k = n - done < STAGING_BYTES ? n - done : STAGING_BYTES;
        gpuError_t e;
        if (up) {
            memcpy(gd->staging, (char *)host + done, k);
            e = gpuMemcpyAsync(b->ptr + off + done, gd->staging, k, gpuMemcpyHostToDevice,
                               gd->stream);
        } else {
            e = gpuMemcpyAsync(gd->staging, b->ptr + off + done, k, gpuMemcpyDeviceToHost,
                               gd->stream);
        }
        if (e == gpuSuccess)
            e = gpuStreamSynchronize(gd->stream);
        if (e != gpuSuccess)
            return gpu_fail(dev, e, up ? "upload" : "download");
        if (!up)
            memcpy((char *)host + done, gd->staging, k);
        done += k;
    }
    return PCE_OK;
}

static pce_status upload(pce_device *dev, pce_buffer *b, size_t off, const void *src, size_t n)
{
    return copy(dev, b, off, (void *)src, n, true);
}

static pce_status download(pce_device *dev, pce_buffer *b, size_t off, void *dst, size_t n)
{
    return copy(dev, b, off, dst, n, false);
}

/* ---- node translation -------------------------------------------------- */

_Static_assert(PCE_GPU_I8 == (int)PCE_DTYPE_I8 && PCE_GPU_Q8_0 == (int)PCE_DTYPE_Q8_0 &&
                   PCE_GPU_Q6_K == (int)PCE_DTYPE_Q6_K,
               "the kernels' dtype codes are pce_dtype's values");

static pce_gpu_tensor tensor(const pce_tref *r, bool write)
{
    pce_gpu_tensor t = {0};
    int64_t es = (int64_t)pce_dtype_get_info(r->dtype)->block_bytes;
    t.data = r->buf ? r->buf->ptr + r->offset : NULL;
    t.dtype = (int)r->dtype;
    for (int i = 0; i < PCE_MAX_DIMS; i++)
        t.nb[i] = write || r->ne[i] > 1 ? r->nb[i] / es : 0;
    return t;
}

/* Whether block-quantized operand r can be read by the kernels: its rows
 * of blocks along dim kdim (nb[kdim] one block, whole blocks), its start
 * and other strides multiples of 4 for blocks whose size is (read a word at
 * a time), else of 2. If not, why (when why is not NULL). */
static bool quant_ok(const pce_tref *r, int kdim, char *why, size_t cap)
{
    const pce_dtype_info *in = pce_dtype_get_info(r->dtype);
    int64_t al = in->block_bytes % 4 ? 2 : 4;
    const char *fail = NULL;
    char buf[160];
    if (r->nb[kdim] != (int64_t)in->block_bytes || r->ne[kdim] % in->block_size) {
        fail = "must be read along its rows of whole blocks";
    } else {
        uint64_t base = (r->buf ? (uint64_t)(uintptr_t)r->buf->ptr : 0) + r->offset;
        for (int i = 0; i < PCE_MAX_DIMS && !fail; i++)
            if (i != kdim && r->ne[i] > 1 && (r->nb[i] < 0 || r->nb[i] % al)) {
                snprintf(buf, sizeof buf, "has a stride of %lld bytes, not a multiple of %lld",
                         (long long)r->nb[i], (long long)al);
                fail = buf;
            }
        if (!fail && base % (uint64_t)al) {
            snprintf(buf, sizeof buf, "starts at byte %llu, not a multiple of %lld",
                     (unsigned long long)base, (long long)al);
            fail = buf;
        }
    }
    if (fail && why)
        snprintf(why, cap, "a %s operand %s", in->name, fail);
    return !fail;
}

/* A block-quantized operand as the kernels take it: strides in bytes. */
static pce_gpu_tensor qtensor(const pce_tref *r, int kdim)
{
    pce_gpu_tensor t = {0};
    t.data = r->buf ? r->buf->ptr + r->offset : NULL;
    t.dtype = (int)r->dtype;
    for (int i = 0; i < PCE_MAX_DIMS; i++)
        t.nb[i] = i == kdim || r->ne[i] > 1 ? r->nb[i] : 0;
    return t;
}

/* Whether a quantized operand of node n sits where a kernel reads one:
 * matmul's weight (src[1], k along its rows) or get_rows' table; why not
 * otherwise. */
static bool quant_operands_ok(const pce_exec_node *n, const char *backend, char *why, size_t cap)
{
    for (int i = 0; i < n->nsrc; i++) {
        if (!n->has_src[i] || !pce_dtype_get_info(n->src[i].dtype)->is_quantized)
            continue;
        bool weight = (n->op == PCE_OP_MATMUL && i == 1) || (n->op == PCE_OP_GET_ROWS && i == 0);
        if (!weight) {
            if (why)
                snprintf(why, cap, "%s is read by %s only as matmul's weight and get_rows' table",
                         pce_dtype_get_info(n->src[i].dtype)->name, backend);
            return false;
        }
        if (!quant_ok(&n->src[i], n->op == PCE_OP_MATMUL ? 2 : 3, why, cap))
            return false;
    }
    return true;
}

static void init_item(gpu_item *it, int kernel, int op, const int64_t ne[4])
{
    memset(it, 0, sizeof *it);
    it->l.kernel = kernel;
    it->l.op = op;
    it->l.n = 1;
    for (int i = 0; i < 4; i++) {
        it->l.ne[i] = ne[i];
        it->l.n *= ne[i];
    }
}

#ifdef PCE_GPU_CUBLAS
/* D [.., M, N] = A [.., M, K] B [.., K, N] through cuBLAS when A and B share
 * a float dtype, each is a plain (possibly transposed) matrix per batch and
 * the batch is one regular dim. Row-major D is column-major D^T = B^T A^T. */
static bool blas_gemm(const pce_exec_node *n, gemm_call *g)
{
    const pce_tref *a = &n->src[0], *b = &n->src[1], *d = &n->dst;
    if (a->dtype != b->dtype || d->dtype != PCE_DTYPE_F32)
        return false;
    int64_t ea = (int64_t)pce_dtype_get_info(a->dtype)->block_bytes;
    int64_t M = d->ne[2], N = d->ne[3], K = a->ne[3];
    /* operand strides in elements */
    int64_t am = a->nb[2] / ea, ak = a->nb[3] / ea, bk = b->nb[2] / ea, bn = b->nb[3] / ea;
    int64_t dm = d->nb[2] / 4, dn = d->nb[3] / 4;
    if (dn != 1 || dm < N)
        return false;
    /* B^T as column-major: N x K; op N if n is contiguous (ld = bk), else op T */
    if (bn == 1 && bk >= N) {
        g->transa = 0;
        g->lda = bk;
    } else if (bk == 1 && bn >= K) {
        g->transa = 1;
        g->lda = bn;
    } else {
        return false;
    }
    if (ak == 1 && am >= K) {
        g->transb = 0;
        g->ldb = am;
    } else if (am == 1 && ak >= M) {
        g->transb = 1;
        g->ldb = ak;
    } else {
        return false;
    }
    /* batch: one regular dim (the other 1), broadcast as stride 0 */
    int64_t nbatch = d->ne[0] * d->ne[1];
    int bd = d->ne[0] > 1 ? 0 : 1;
    if (d->ne[0] > 1 && d->ne[1] > 1) {
        /* both batch dims: collapse if each operand's strides chain */
        if (d->nb[0] != d->ne[1] * d->nb[1])
            return false;
        const pce_tref *ops[2] = {a, b};
        for (int i = 0; i < 2; i++) {
            const pce_tref *o = ops[i];
            bool b0 = o->ne[0] > 1, b1 = o->ne[1] > 1;
            if (b0 != b1 || (b0 && o->nb[0] != o->ne[1] * o->nb[1]))
                return false;
        }
        bd = 1;
    }
    g->sa = b->ne[bd] > 1 ? b->nb[bd] / ea : 0;
    g->sb = a->ne[bd] > 1 ? a->nb[bd] / ea : 0;
    g->sc = d->nb[bd] / 4;
    if (nbatch == 1)
        g->sa = g->sb = g->sc = 0;
    if (M > INT32_MAX || N > INT32_MAX || K > INT32_MAX || nbatch > INT32_MAX ||
        g->lda > INT32_MAX || g->ldb > INT32_MAX || dm > INT32_MAX)
        return false;
    g->m = (int)N;
    g->n = (int)M;
    g->k = (int)K;
    g->a = b->buf->ptr + b->offset;
    g->b = a->buf->ptr + a->offset;
    g->c = d->buf->ptr + d->offset;
    g->ldc = dm;
    g->dta = g->dtb = (int)a->dtype;
    g->batch = (int)nbatch;
    return true;
}
#endif

/* Strides the kernels can address: whole, non-negative element counts. */
static bool strides_ok(const pce_tref *r)
{
    int64_t es = (int64_t)pce_dtype_get_info(r->dtype)->block_bytes;
    for (int i = 0; i < PCE_MAX_DIMS; i++)
        if (r->nb[i] < 0 || r->nb[i] % es)
            return false;
    return true;
}

/* Node n (position idx) as one or two items; 0 if it cannot run here. */
static int translate(const pce_device *dev, const pce_exec_node *n, int idx, gpu_item out[2])
{
    if (!strides_ok(&n->dst) || !quant_operands_ok(n, dev->props.backend, NULL, 0))
        return 0;
    for (int i = 0; i < n->nsrc; i++)
        if (n->has_src[i] && !pce_dtype_get_info(n->src[i].dtype)->is_quantized &&
            !strides_ok(&n->src[i]))
            return 0;
    const gpu_device *gd = dev->impl;
    const pce_tref *dst = &n->dst, *s0 = &n->src[0];
    gpu_item *it = &out[0];
    switch (n->op) {
    case PCE_OP_ADD:
    case PCE_OP_SUB:
    case PCE_OP_MUL:
    case PCE_OP_DIV:
    case PCE_OP_SWIGLU:
        init_item(it, PCE_GPU_BINARY, n->op == PCE_OP_SWIGLU ? 4 : (int)(n->op - PCE_OP_ADD),
                  dst->ne);
        it->l.t[0] = tensor(s0, false);
        it->l.t[1] = tensor(&n->src[1], false);
        it->l.t[3] = tensor(dst, true);
        break;
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
    case PCE_OP_CONTIGUOUS:
    case PCE_OP_CAST:
    case PCE_OP_CAUSAL_MASK:
    case PCE_OP_COPY_INTO: {
        int op = n->op == PCE_OP_CAUSAL_MASK ? 12
                 : n->op == PCE_OP_CONTIGUOUS || n->op == PCE_OP_CAST || n->op == PCE_OP_COPY_INTO
                     ? 0
                     : 1 + (int)(n->op - PCE_OP_SCALE);
        init_item(it, PCE_GPU_UNARY, op, dst->ne);
        it->l.t[0] = tensor(n->op == PCE_OP_COPY_INTO ? &n->src[1] : s0, false);
        it->l.t[3] = tensor(dst, true);
        it->l.fp[0] = n->fp[0];
        it->l.ip[0] = n->ip[0];
        break;
    }
    case PCE_OP_CONCAT: {
        int c = n->ip[0];
        pce_tref part = *dst;
        memcpy(part.ne, s0->ne, sizeof part.ne);
        init_item(it, PCE_GPU_UNARY, 0, s0->ne);
        it->l.t[0] = tensor(s0, false);
        it->l.t[3] = tensor(&part, true);
        const pce_tref *s1 = &n->src[1];
        memcpy(part.ne, s1->ne, sizeof part.ne);
        part.offset = dst->offset + (size_t)(s0->ne[c] * dst->nb[c]);
        init_item(&out[1], PCE_GPU_UNARY, 0, s1->ne);
        out[1].l.t[0] = tensor(s1, false);
        out[1].l.t[3] = tensor(&part, true);
        return pce_gpu_kernel_exists(&it->l) && pce_gpu_kernel_exists(&out[1].l) ? 2 : 0;
    }
    case PCE_OP_SUM_ROWS:
    case PCE_OP_MEAN_ROWS:
    case PCE_OP_MAX_ROWS:
    case PCE_OP_ARGMAX:
        init_item(it, PCE_GPU_REDUCE, (int)(n->op - PCE_OP_SUM_ROWS), s0->ne);
        it->l.t[0] = tensor(s0, false);
        it->l.t[3] = tensor(dst, true);
        break;
    case PCE_OP_RMS_NORM:
    case PCE_OP_LAYER_NORM:
        init_item(it, PCE_GPU_NORM, n->op == PCE_OP_LAYER_NORM, s0->ne);
        it->l.t[0] = tensor(s0, false);
        it->l.t[3] = tensor(dst, true);
        for (int k = 1; k <= 2; k++)
            if (n->has_src[k]) {
                it->l.t[k] = tensor(&n->src[k], false);
                it->l.t[k].nb[3] =
                    n->src[k].nb[3] / (int64_t)pce_dtype_get_info(n->src[k].dtype)->block_bytes;
            }
        it->l.fp[0] = n->fp[0];
        break;
    case PCE_OP_SOFTMAX:
        init_item(it, PCE_GPU_SOFTMAX, 0, s0->ne);
        it->l.t[0] = tensor(s0, false);
        if (n->has_src[1])
            it->l.t[1] = tensor(&n->src[1], false);
        it->l.t[3] = tensor(dst, true);
        it->l.fp[0] = n->fp[0];
        break;
    case PCE_OP_ROPE:
        init_item(it, PCE_GPU_ROPE, 0, s0->ne);
        it->l.t[0] = tensor(s0, false);
        it->l.t[1] = tensor(&n->src[1], false);
        it->l.t[3] = tensor(dst, true);
        it->l.ip[0] = n->ip[0];
        it->l.ip[1] = n->ip[1];
        break;
    case PCE_OP_GET_ROWS:
        init_item(it, PCE_GPU_GET_ROWS, 0, dst->ne);
        it->l.t[0] =
            pce_dtype_get_info(s0->dtype)->is_quantized ? qtensor(s0, 3) : tensor(s0, false);
        it->l.t[1] = tensor(&n->src[1], false);
        it->l.t[3] = tensor(dst, true);
        it->l.ip[0] = (int32_t)s0->ne[2];
        it->l.ip[1] = idx;
        break;
    case PCE_OP_SET_ROWS:
        init_item(it, PCE_GPU_IDS_CHECK, 0, n->src[2].ne);
        it->l.t[1] = tensor(&n->src[2], false);
        it->l.ip[0] = (int32_t)dst->ne[2];
        it->l.ip[1] = idx;
        init_item(&out[1], PCE_GPU_SET_ROWS, 0, n->src[1].ne);
        out[1].l.t[0] = tensor(&n->src[1], false);
        out[1].l.t[2] = tensor(&n->src[2], false);
        out[1].l.t[3] = tensor(dst, true);
        out[1].l.ip[0] = (int32_t)dst->ne[2];
        return pce_gpu_kernel_exists(&it->l) && pce_gpu_kernel_exists(&out[1].l) ? 2 : 0;
    case PCE_OP_MATMUL: {
        const pce_tref *a = s0, *b = &n->src[1];
        int64_t M = dst->ne[2], N = dst->ne[3];
        if (pce_dtype_get_info(b->dtype)->is_quantized) {
            /* x w^T, w in its blocks: never cuBLAS; op 0, the kernel picks
             * the matrix-vector or the tiled form by M */
            init_item(it, PCE_GPU_MATMUL, 0, dst->ne);
            it->l.t[0] = tensor(a, false);
            it->l.t[1] = qtensor(b, 2);
            it->l.t[3] = tensor(dst, true);
            it->l.ip[0] = (int32_t)a->ne[3];
            break;
        }
#ifdef PCE_GPU_CUBLAS
        if (gd->use_blas && a->buf && b->buf && dst->buf && blas_gemm(n, &it->g)) {
            it->blas = true;
            return 1;
        }
#else
        (void)gd;
#endif
        if (M == 1 || N == 1) {
            const pce_tref *x = M == 1 ? b : a, *v = M == 1 ? a : b;
            int64_t ne[4] = {dst->ne[0], dst->ne[1], M == 1 ? N : M, 1};
            init_item(it, PCE_GPU_GEMV, 0, ne);
            it->l.t[0] = tensor(x, false);
            it->l.t[1] = tensor(v, false);
            it->l.t[3] = tensor(dst, true);
            pce_gpu_tensor *X = &it->l.t[0], *V = &it->l.t[1], *D = &it->l.t[3];
            int64_t xs2 = X->nb[2], xs3 = X->nb[3];
            if (M == 1) { /* X = B: i along n, k along B's rows */
                X->nb[2] = xs3;
                X->nb[3] = xs2;
                D->nb[2] = D->nb[3];
            } else { /* V = B column: k along B's rows */
                V->nb[3] = V->nb[2];
            }
        } else {
            init_item(it, PCE_GPU_MATMUL, 0, dst->ne);
            it->l.t[0] = tensor(a, false);
            it->l.t[1] = tensor(b, false);
            it->l.t[3] = tensor(dst, true);
        }
        it->l.ip[0] = (int32_t)a->ne[3];
        break;
    }
    default: return 0;
    }
    return pce_gpu_kernel_exists(&it->l) ? 1 : 0;
}

static bool supports(const pce_device *dev, const pce_exec_node *n, char *why, size_t cap)
{
    if (!quant_operands_ok(n, dev->props.backend, why, cap))
        return false;
    gpu_item it[2];
    if (translate(dev, n, 0, it))
        return true;
    snprintf(why, cap, "no %s kernel for %s with these dtypes", dev->props.backend,
             pce_op_name(n->op));
    return false;
}

/* ---- segments ---------------------------------------------------------- */

/* The rope node's angle table, in a buffer the segment owns. */
static pce_status rope_table(pce_device *dev, gpu_segment *gs, const pce_exec_node *n, gpu_item *it)
{
    size_t bytes = pce_rope_table_bytes(n);
    uint32_t *t = calloc(1, bytes);
    pce_buffer **own = realloc(gs->owned, (size_t)(gs->n_owned + 1) * sizeof *own);
    if (own)
        gs->owned = own;
    if (!t || !own) {
        free(t);
        return pce_fail(dev->ctx, PCE_ERR_OUT_OF_MEMORY, "rope table of %zu bytes", bytes);
    }
    pce_rope_table_fill(n, t);
    pce_buffer *b;
    pce_status st = buffer_alloc(dev, bytes, &b);
    if (st == PCE_OK) {
        gs->owned[gs->n_owned++] = b;
        st = upload(dev, b, 0, t, bytes);
    }
    free(t);
    if (st == PCE_OK)
        it->l.rope_tab = (const uint32_t *)b->ptr;
    return st;
}

static pce_status enqueue(pce_device *dev, const gpu_item *it)
{
    gpu_device *gd = dev->impl;
    if (!it->blas) {
        /* the launch reports gpuGetLastError: drop a stale error of an
         * earlier call (a sticky one comes back from the launch itself) */
        gpuGetLastError();
        int e = pce_gpu_kernel_launch(&it->l, gd->stream, gd->max_blocks);
        if (e) {
            char what[48];
            snprintf(what, sizeof what, "kernel %d launch", it->l.kernel);
            return gpu_fail(dev, (gpuError_t)e, what); /* device lost, out of memory, ... */
        }
        return PCE_OK;
    }
#ifdef PCE_GPU_CUBLAS
    const gemm_call *g = &it->g;
    static const cudaDataType types[] = {CUDA_R_32F, CUDA_R_16F, CUDA_R_16BF};
    float one = 1.0f, zero = 0.0f;
    cublasStatus_t s = cublasGemmStridedBatchedEx(
        gd->blas, g->transa ? CUBLAS_OP_T : CUBLAS_OP_N, g->transb ? CUBLAS_OP_T : CUBLAS_OP_N,
        g->m, g->n, g->k, &one, g->a, types[g->dta], (int)g->lda, g->sa, g->b, types[g->dtb],
        (int)g->ldb, g->sb, &zero, g->c, CUDA_R_32F, (int)g->ldc, g->sc, g->batch,
        CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT);
    if (s != CUBLAS_STATUS_SUCCESS)
        return pce_fail(dev->ctx,
                        s == CUBLAS_STATUS_ALLOC_FAILED ? PCE_ERR_OUT_OF_MEMORY : PCE_ERR_INTERNAL,
                        "%s: cublasGemmStridedBatchedEx (%d x %d x %d, batch %d): %s",
                        dev->props.name, g->m, g->n, g->k, g->batch, cublasGetStatusName(s));
    return PCE_OK;
#else
    return pce_fail(dev->ctx, PCE_ERR_INTERNAL, "%s: BLAS call in a build without BLAS",
                    dev->props.name);
#endif
}

/* Everything a run does, in order: clear the error record, the items, copy
 * the error record to pinned host memory. */
static pce_status enqueue_all(pce_device *dev, gpu_segment *gs)
{
    gpu_device *gd = dev->impl;
    gpuError_t e = gpuMemsetAsync(gd->err_dev, 0, 16, gd->stream);
    if (e != gpuSuccess)
        return gpu_fail(dev, e, "clearing the error record");
    for (int i = 0; i < gs->n; i++) {
        pce_status st = enqueue(dev, &gs->it[i]);
        if (st != PCE_OK)
            return st;
    }
    e = gpuMemcpyAsync(gd->err_host, gd->err_dev, 16, gpuMemcpyDeviceToHost, gd->stream);
    return e == gpuSuccess ? PCE_OK : gpu_fail(dev, e, "reading the error record");
}

static pce_status segment_prepare(pce_device *dev, pce_segment *seg)
{
    pce_status st = ready(dev);
    if (st != PCE_OK)
        return st;
    gpu_device *gd = dev->impl;
    gpu_segment *gs = calloc(1, sizeof *gs);
    if (!gs)
        return pce_fail(dev->ctx, PCE_ERR_OUT_OF_MEMORY, "%s: segment", dev->props.name);
    seg->impl = gs;
    gs->it = calloc((size_t)(2 * seg->n_nodes + 1), sizeof *gs->it);
    if (!gs->it)
        return pce_fail(dev->ctx, PCE_ERR_OUT_OF_MEMORY, "%s: %d items", dev->props.name,
                        2 * seg->n_nodes);
    for (int i = 0; i < seg->n_nodes; i++) {
        const pce_exec_node *n = &seg->nodes[i];
        int k = translate(dev, n, i, gs->it + gs->n);
        if (!k)
            return pce_fail(dev->ctx, PCE_ERR_UNSUPPORTED, "%s: node '%s' (%s): no kernel",
                            dev->props.name, n->tensor ? n->tensor->name : "?", pce_op_name(n->op));
        for (int j = 0; j < k; j++)
            gs->it[gs->n + j].l.err = gd->err_dev;
        if (n->op == PCE_OP_ROPE && (st = rope_table(dev, gs, n, &gs->it[gs->n])) != PCE_OK)
            return st;
        gs->n += k;
    }
    /* capture the whole run once as a graph; replay it with one launch */
    gpuError_t e = gpuStreamBeginCapture(gd->stream);
    char failed[160] = "";
    if (e == gpuSuccess) {
        st = enqueue_all(dev, gs);
        gpuError_t e2 = gpuStreamEndCapture(gd->stream, &gs->graph);
        if (st != PCE_OK) /* something refused capture: keep its message */
            snprintf(failed, sizeof failed, "%.150s", dev->ctx->error);
        e = e2;
        if (st == PCE_OK && e == gpuSuccess)
            e = gpuGraphInstantiate(&gs->exec, gs->graph);
    }
    if (st != PCE_OK || e != gpuSuccess) {
        /* not fatal: a run then launches the items one by one, and a real
         * error shows up there */
        pce_log(dev->ctx, PCE_LOG_WARN, "%s: graph capture failed (%s): launching %d items per run",
                dev->props.name, failed[0] ? failed : gpuGetErrorName(e), gs->n);
        gpuGetLastError();
        if (gs->exec)
            gpuGraphExecDestroy(gs->exec);
        if (gs->graph)
            gpuGraphDestroy(gs->graph);
        gs->exec = NULL;
        gs->graph = NULL;
    }
    return PCE_OK;
}

static pce_status segment_run(pce_device *dev, pce_segment *seg)
{
    gpu_device *gd = dev->impl;
    gpu_segment *gs = seg->impl;
    if (!gs || !gs->n)
        return PCE_OK;
    pce_status st = PCE_OK;
    if (gs->exec) {
        gpuError_t e = gpuGraphLaunch(gs->exec, gd->stream);
        if (e != gpuSuccess)
            return gpu_fail(dev, e, "graph launch");
    } else if ((st = enqueue_all(dev, gs)) != PCE_OK) {
        return st;
    }
    gpuError_t e = gpuStreamSynchronize(gd->stream);
    if (e != gpuSuccess)
        return gpu_fail(dev, e, "running the plan");
    if (gd->err_host[0])
        return pce_ids_error(dev, seg, gd->err_host);
    return PCE_OK;
}

static void segment_release(pce_device *dev, pce_segment *seg)
{
    gpu_device *gd = dev->impl;
    gpu_segment *gs = seg->impl;
    if (!gs)
        return;
    if (gd->stream)
        gpuStreamSynchronize(gd->stream);
    if (gs->exec)
        gpuGraphExecDestroy(gs->exec);
    if (gs->graph)
        gpuGraphDestroy(gs->graph);
    for (int i = 0; i < gs->n_owned; i++)
        buffer_free(dev, gs->owned[i]);
    free(gs->owned);
    free(gs->it);
    free(gs);
    seg->impl = NULL;
}

static pce_status synchronize(pce_device *dev)
{
    gpu_device *gd = dev->impl;
    if (!gd->stream)
        return PCE_OK;
    gpuError_t e = gpuStreamSynchronize(gd->stream);
    return e == gpuSuccess ? PCE_OK : gpu_fail(dev, e, "synchronize");
}

/* ---- the vtable, under the device lock ---------------------------------- */

static gpu_device *lock(pce_device *dev)
{
    gpu_device *gd = dev->impl;
    pthread_mutex_lock(&gd->lock);
    gpuSetDevice(gd->ordinal);
    return gd;
}

static pce_status unlock(gpu_device *gd, pce_status st)
{
    pthread_mutex_unlock(&gd->lock);
    return st;
}

static pce_status l_alloc(pce_device *dev, size_t bytes, pce_buffer **out)
{
    gpu_device *gd = lock(dev);
    return unlock(gd, buffer_alloc(dev, bytes, out));
}

static void l_free(pce_device *dev, pce_buffer *b)
{
    gpu_device *gd = lock(dev);
    buffer_free(dev, b);
    unlock(gd, PCE_OK);
}

static pce_status l_upload(pce_device *dev, pce_buffer *b, size_t off, const void *src, size_t n)
{
    gpu_device *gd = lock(dev);
    return unlock(gd, upload(dev, b, off, src, n));
}

static pce_status l_download(pce_device *dev, pce_buffer *b, size_t off, void *dst, size_t n)
{
    gpu_device *gd = lock(dev);
    return unlock(gd, download(dev, b, off, dst, n));
}

static pce_status l_prepare(pce_device *dev, pce_segment *seg)
{
    gpu_device *gd = lock(dev);
    return unlock(gd, segment_prepare(dev, seg));
}

static pce_status l_run(pce_device *dev, pce_segment *seg)
{
    gpu_device *gd = lock(dev);
    return unlock(gd, segment_run(dev, seg));
}

static void l_release(pce_device *dev, pce_segment *seg)
{
    gpu_device *gd = lock(dev);
    segment_release(dev, seg);
    unlock(gd, PCE_OK);
}

static pce_status l_sync(pce_device *dev)
{
    gpu_device *gd = lock(dev);
    return unlock(gd, synchronize(dev));
}

static void device_destroy(pce_device *dev)
{
    gpu_device *gd = dev->impl;
    if (!gd)
        return;
    if (gd->ready) {
        gpuSetDevice(gd->ordinal);
        if (gd->stream)
            gpuStreamSynchronize(gd->stream);
#ifdef PCE_GPU_CUBLAS
        if (gd->blas)
            cublasDestroy(gd->blas);
        if (gd->blas_ws)
            gpuFree(gd->blas_ws);
#endif
        pce_pool_destroy(&gd->pool);
        if (gd->err_dev)
            gpuFree(gd->err_dev);
        if (gd->err_host)
            gpuFreeHost(gd->err_host);
        if (gd->staging)
            gpuFreeHost(gd->staging);
        if (gd->stream)
            gpuStreamDestroy(gd->stream);
    }
    pthread_mutex_destroy(&gd->lock);
    free(gd);
    dev->impl = NULL;
}

/* Pinned host memory for the staging of cross-device copies. */
static pce_status host_alloc(pce_device *dev, size_t bytes, void **out)
{
    gpu_device *gd = dev->impl;
    pthread_mutex_lock(&gd->lock);
    gpuSetDevice(gd->ordinal);
    gpuError_t e = gpuMallocHost(out, bytes ? bytes : 1);
    pthread_mutex_unlock(&gd->lock);
    if (e != gpuSuccess) {
        *out = NULL;
        return pce_fail(dev->ctx, PCE_ERR_OUT_OF_MEMORY, "%s: %zu bytes of pinned host memory: %s",
                        dev->props.name, bytes, gpuGetErrorString(e));
    }
    return PCE_OK;
}

static void host_free(pce_device *dev, void *ptr)
{
    (void)dev;
    if (ptr)
        gpuFreeHost(ptr);
}

static const pce_backend_vtbl gpu_vtbl = {
    .name = GPU_BACKEND,
    .device_destroy = device_destroy,
    .supports = supports,
    .buffer_alloc = l_alloc,
    .buffer_free = l_free,
    .upload = l_upload,
    .download = l_download,
    .segment_prepare = l_prepare,
    .segment_run = l_run,
    .segment_release = l_release,
    .synchronize = l_sync,
    .host_alloc = host_alloc,
    .host_free = host_free,
};

/* ---- probe ------------------------------------------------------------- */

/* CUDA encodes 13.0 as 13000; HIP 5.2.21153 as 50221153. */
static void runtime_version(int v, char *buf, size_t cap)
{
#ifdef PCE_GPU_HIP
    snprintf(buf, cap, "%d.%d.%d", v / 10000000, (v / 100000) % 100, v % 100000);
#else
    snprintf(buf, cap, "%d.%d", v / 1000, (v % 1000) / 10);
#endif
}

static pce_status add_device(pce_context *ctx, int ordinal, const char *gemm_choice)
{
    gpuDeviceProp p;
    gpuError_t e = gpuGetDeviceProperties(&p, ordinal);
    if (e != gpuSuccess)
        return pce_fail(ctx, PCE_ERR_UNAVAILABLE, "%s device %d: properties: %s", GPU_RUNTIME,
                        ordinal, gpuGetErrorName(e));
    pce_device *dev = calloc(1, sizeof *dev);
    gpu_device *gd = calloc(1, sizeof *gd);
    if (!dev || !gd) {
        free(dev);
        free(gd);
        return pce_fail(ctx, PCE_ERR_OUT_OF_MEMORY, "%s device state", GPU_RUNTIME);
    }
    gd->ordinal = ordinal;
    pthread_mutexattr_t ma;
    pthread_mutexattr_init(&ma);
    pthread_mutexattr_settype(&ma, PTHREAD_MUTEX_RECURSIVE);
    pthread_mutex_init(&gd->lock, &ma);
    pthread_mutexattr_destroy(&ma);
    gd->max_blocks = p.multiProcessorCount > 0 ? 32 * p.multiProcessorCount : 4096;
#ifdef PCE_GPU_CUBLAS
    gd->use_blas = !(gemm_choice && strcmp(gemm_choice, "own") == 0);
#else
    (void)gemm_choice;
#endif
    size_t fr = p.totalGlobalMem, tot = p.totalGlobalMem;
    if (gpuSetDevice(ordinal) == gpuSuccess)
        gpuMemGetInfo(&fr, &tot);
    int drv = 0, rt = 0;
    gpuDriverGetVersion(&drv);
    gpuRuntimeGetVersion(&rt);
    pce_device_props *pp = &dev->props;
    snprintf(pp->name, sizeof pp->name, "%s%d", GPU_BACKEND, ordinal);
    snprintf(pp->backend, sizeof pp->backend, "%s", GPU_BACKEND);
    snprintf(pp->description, sizeof pp->description, "%.127s", p.name);
    pp->type = p.integrated ? PCE_DEVICE_GPU_INTEGRATED : PCE_DEVICE_GPU_DISCRETE;
    pp->memory_total = tot;
    pp->memory_free = fr;
    pp->compute_units = p.multiProcessorCount;
    for (int d = 0; d < PCE_DTYPE_COUNT; d++)
        pp->dtype_supported[d] = true;
    char arch[80];
#ifdef PCE_GPU_HIP
    snprintf(arch, sizeof arch, "%.60s, wave %d", p.gcnArchName, p.warpSize);
#else
    snprintf(arch, sizeof arch, "cc %d.%d", p.major, p.minor);
#endif
    char details[400], dv[32], rv[32];
    runtime_version(drv, dv, sizeof dv);
    runtime_version(rt, rv, sizeof rv);
    snprintf(details, sizeof details,
             "%s, %d %s, PCI %04x:%02x:%02x.0, driver %s, runtime %s, matmul %s", arch,
             p.multiProcessorCount,
#ifdef PCE_GPU_HIP
             "CUs",
#else
             "SMs",
#endif
             p.pciDomainID, p.pciBusID, p.pciDeviceID, dv, rv,
             gd->use_blas ? "cuBLAS (pce kernel otherwise)" : "pce kernel");
    size_t len = strlen(details);
    if (len >= sizeof pp->details)
        len = sizeof pp->details - 1;
    memcpy(pp->details, details, len);
    pp->details[len] = 0;
    pce_device_facts *f = &dev->facts;
    snprintf(f->backend, sizeof f->backend, "%s", GPU_BACKEND);
    snprintf(f->name, sizeof f->name, "%.127s", p.name);
#ifdef PCE_GPU_HIP
    snprintf(f->driver, sizeof f->driver, "amdgpu");
    snprintf(f->arch, sizeof f->arch, "%.47s", p.gcnArchName);
    f->pci_vendor = 0x1002;
#else
    snprintf(f->driver, sizeof f->driver, "nvidia");
    snprintf(f->arch, sizeof f->arch, "%d.%d", p.major, p.minor);
    f->pci_vendor = 0x10de;
#endif
    snprintf(f->driver_version, sizeof f->driver_version, "%s", dv);
    dev->vtbl = &gpu_vtbl;
    dev->impl = gd;
    pce_status st = pce_context_add_device(ctx, dev);
    if (st != PCE_OK) {
        device_destroy(dev);
        free(dev);
    }
    return st;
}

__attribute__((visibility("default"))) pce_status
pce_backend_module_probe(pce_context *ctx, const pce_backend_host *host)
{
    pce_status st = pce_module_shim_attach(ctx, host, GPU_MODULE);
    if (st != PCE_OK)
        return st;
    int n = 0, rt = 0;
    gpuRuntimeGetVersion(&rt);
    gpuError_t e = gpuGetDeviceCount(&n);
    if (e != gpuSuccess || n == 0) {
        const char *hint = "";
#ifdef PCE_GPU_HIP
        if (access("/dev/kfd", F_OK) != 0)
            hint = "; /dev/kfd is missing: no amdgpu kernel driver with ROCm support here";
#else
        if (e == cudaErrorInsufficientDriver)
            hint = "; the NVIDIA driver (libcuda.so.1) is missing or older than the runtime";
#endif
        char ver[32];
        runtime_version(rt, ver, sizeof ver);
        return pce_fail(ctx, PCE_ERR_UNAVAILABLE, "%s runtime %s found no device: %s (%s)%s",
                        GPU_RUNTIME, ver, e == gpuSuccess ? "0 devices" : gpuGetErrorName(e),
                        e == gpuSuccess ? "none visible" : gpuGetErrorString(e), hint);
    }
    const char *gemm = ctx->gpu_gemm;
    for (int i = 0; i < n && st == PCE_OK; i++)
        st = add_device(ctx, i, gemm);
    return st;
}
