/* gpu_kernels.cu — the kernels of the CUDA and HIP backends, one source for
 * nvcc and hipcc (gpu_compat.h holds the differences). Each kernel does what
 * the Vulkan shader of the same name in shaders/ does (same ops, rounding,
 * error record), with device pointers instead of descriptor offsets and
 * 64-bit element indices. The interface is gpu_kernels.h.
 *
 * Layout: storage-type loads and stores; block reductions; elementwise
 * grid-stride kernels; row kernels (a block per row); matmul and gemv;
 * get_rows, gemv and matmul for block-quantized weights (decoded by
 * gpu_quant.cuh); the dtype dispatch behind pce_gpu_kernel_exists /
 * pce_gpu_kernel_launch. */
#include "gpu_compat.h"
#include "gpu_kernels.h"
#include "gpu_quant.cuh"

#include <stdint.h>

namespace
{

constexpr int kThreads = 256; /* every kernel's block size */
constexpr uint32_t kNoIndex = 0xffffffffu;
constexpr int64_t kMaxGridX = 1 << 20; /* elementwise blocks, whatever max_blocks says */
constexpr int64_t kMaxGridYZ = 65535;  /* portable limit of a grid dimension */
constexpr int kRowBlocks = 65535;      /* row kernels: blocks, each striding over rows */

/* ---- storage types ---------------------------------------------------- */

template <int DT> struct storage;
template <> struct storage<PCE_GPU_F32> {
    typedef float type;
};
template <> struct storage<PCE_GPU_F16> {
    typedef uint16_t type;
};
template <> struct storage<PCE_GPU_BF16> {
    typedef uint16_t type;
};
template <> struct storage<PCE_GPU_I32> {
    typedef int32_t type;
};
template <> struct storage<PCE_GPU_I8> {
    typedef int8_t type;
};

__device__ __forceinline__ float neg_inf()
{
    return __uint_as_float(0xff800000u);
}

template <int DT> __device__ __forceinline__ float ld(const void *p, int64_t i)
{
    const typename storage<DT>::type v = static_cast<const typename storage<DT>::type *>(p)[i];
    if constexpr (DT == PCE_GPU_F32)
        return v;
    else if constexpr (DT == PCE_GPU_F16)
        return pce_h2f(v);
    else if constexpr (DT == PCE_GPU_BF16)
        return __uint_as_float((uint32_t)v << 16);
    else
        return (float)v;
}

/* round to nearest even by bits; a NaN stays a (quiet) NaN */
__device__ __forceinline__ uint16_t f32_to_bf16(float v)
{
    uint32_t x = __float_as_uint(v);
    if ((x & 0x7fffffffu) > 0x7f800000u)
        return (uint16_t)((x >> 16) | 0x40u);
    return (uint16_t)((x + 0x7fffu + ((x >> 16) & 1u)) >> 16);
}

/* round to nearest even and saturate, as the CPU reference; NaN gives 0 */
__device__ __forceinline__ int32_t f32_to_i32(float v)
{
    if (isnan(v))
        return 0;
    v = rintf(v);
    if (v <= -2147483648.0f)
        return INT32_MIN;
    if (v >= 2147483648.0f)
        return INT32_MAX;
    return (int32_t)v;
}

__device__ __forceinline__ int8_t f32_to_i8(float v)
{
    if (isnan(v))
        return 0;
    v = rintf(v);
    if (v <= -128.0f)
        return -128;
    if (v >= 127.0f)
        return 127;
    return (int8_t)(int32_t)v;
}

template <int DT> __device__ __forceinline__ void st(void *p, int64_t i, float v)
{
    typename storage<DT>::type *q = static_cast<typename storage<DT>::type *>(p);
    if constexpr (DT == PCE_GPU_F32)
        q[i] = v;
    else if constexpr (DT == PCE_GPU_F16)
        q[i] = pce_f2h(v);
    else if constexpr (DT == PCE_GPU_BF16)
        q[i] = f32_to_bf16(v);
    else if constexpr (DT == PCE_GPU_I32)
        q[i] = f32_to_i32(v);
    else
        q[i] = f32_to_i8(v);
}

/* same dtype: the bits move (an i32 above 2^24 survives) */
template <int DT>
__device__ __forceinline__ void copy_bits(void *d, int64_t id, const void *a, int64_t ia)
{
    typedef typename storage<DT>::type T;
    static_cast<T *>(d)[id] = static_cast<const T *>(a)[ia];
}

/* Small operands whose float dtype may differ from the main one (norm
 * weight and bias, softmax mask): dtype at run time, not more variants. */
__device__ __forceinline__ float ld_any(int dt, const void *p, int64_t i)
{
    switch (dt) {
    case PCE_GPU_F32: return ld<PCE_GPU_F32>(p, i);
    case PCE_GPU_F16: return ld<PCE_GPU_F16>(p, i);
    case PCE_GPU_BF16: return ld<PCE_GPU_BF16>(p, i);
    case PCE_GPU_I32: return ld<PCE_GPU_I32>(p, i);
    default: return ld<PCE_GPU_I8>(p, i);
    }
}

/* ---- indexing ----------------------------------------------------------- */

struct crd {
    int64_t x, y, z, w;
};

/* Coordinates of item i in shape ne (outermost first); `small`: the item
 * count fits 32 bits, so 32-bit divisions do (64-bit ones are emulated). */
__device__ __forceinline__ crd coords(int64_t i, const int64_t ne[4], bool small)
{
    crd c;
    if (small) {
        uint32_t u = (uint32_t)i, n1 = (uint32_t)ne[1], n2 = (uint32_t)ne[2], n3 = (uint32_t)ne[3];
        c.w = u % n3;
        u /= n3;
        c.z = u % n2;
        u /= n2;
        c.y = u % n1;
        c.x = u / n1;
    } else {
        c.w = i % ne[3];
        i /= ne[3];
        c.z = i % ne[2];
        i /= ne[2];
        c.y = i % ne[1];
        c.x = i / ne[1];
    }
    return c;
}

/* Coordinates (x, y, z) of row r of shape ne; w = 0. Not via r * ne[3],
 * which would be 0 for every row of an empty last dim. */
__device__ __forceinline__ crd row_coords(int64_t r, const int64_t ne[4], bool small)
{
    crd c;
    if (small) {
        uint32_t u = (uint32_t)r, n1 = (uint32_t)ne[1], n2 = (uint32_t)ne[2];
        c.z = u % n2;
        u /= n2;
        c.y = u % n1;
        c.x = u / n1;
    } else {
        c.z = r % ne[2];
        r /= ne[2];
        c.y = r % ne[1];
        c.x = r / ne[1];
    }
    c.w = 0;
    return c;
}

__device__ __forceinline__ int64_t at(const pce_gpu_tensor &t, const crd &c)
{
    return c.x * t.nb[0] + c.y * t.nb[1] + c.z * t.nb[2] + c.w * t.nb[3];
}

__device__ __forceinline__ int64_t item_index()
{
    return (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
}

__device__ __forceinline__ int64_t item_stride()
{
    return (int64_t)gridDim.x * blockDim.x;
}

/* First failure of the run: flag, then node, position, offending value. */
__device__ __forceinline__ void report_error(uint32_t *err, int node, int64_t pos, int32_t value)
{
    if (err && atomicCAS(err, 0u, 1u) == 0u) {
        err[1] = (uint32_t)node;
        err[2] = (uint32_t)pos;
        err[3] = (uint32_t)value;
    }
}

/* ---- block reductions ---------------------------------------------------
 * A warp (wavefront: 32 or 64 lanes) reduces by xor shuffles, then one value
 * per warp goes through shared memory. Every thread of the block must call
 * these (they hold barriers); all threads get the same result. */

__device__ __forceinline__ float warp_sum(float v)
{
    for (int o = PCE_WARP / 2; o > 0; o >>= 1)
        v += PCE_SHFL_XOR(v, o);
    return v;
}

__device__ __forceinline__ float warp_max(float v)
{
    for (int o = PCE_WARP / 2; o > 0; o >>= 1)
        v = fmaxf(v, PCE_SHFL_XOR(v, o));
    return v;
}

__device__ __forceinline__ uint32_t warp_min(uint32_t v)
{
    for (int o = PCE_WARP / 2; o > 0; o >>= 1)
        v = min(v, (uint32_t)PCE_SHFL_XOR(v, o));
    return v;
}

__device__ __forceinline__ float block_sum(float v, float *red)
{
    const int nw = kThreads / PCE_WARP;
    v = warp_sum(v);
    if (threadIdx.x % PCE_WARP == 0)
        red[threadIdx.x / PCE_WARP] = v;
    __syncthreads();
    float r = 0.0f;
    for (int s = 0; s < nw; s++)
        r += red[s];
    __syncthreads();
    return r;
}

__device__ __forceinline__ float block_max(float v, float *red)
{
    const int nw = kThreads / PCE_WARP;
    v = warp_max(v);
    if (threadIdx.x % PCE_WARP == 0)
        red[threadIdx.x / PCE_WARP] = v;
    __syncthreads();
    float r = red[0];
    for (int s = 1; s < nw; s++)
        r = fmaxf(r, red[s]);
    __syncthreads();
    return r;
}

__device__ __forceinline__ uint32_t block_min(uint32_t v, uint32_t *red)
{
    const int nw = kThreads / PCE_WARP;
    v = warp_min(v);
    if (threadIdx.x % PCE_WARP == 0)
        red[threadIdx.x / PCE_WARP] = v;
    __syncthreads();
    uint32_t r = red[0];
    for (int s = 1; s < nw; s++)
        r = min(r, red[s]);
    __syncthreads();
    return r;
}

/* ---- math shared with the Vulkan shaders -------------------------------- */

/* tanh that does not overflow: 1 - 2 / (e^2x + 1) */
__device__ __forceinline__ float tanh_safe(float x)
{
    return 1.0f - 2.0f / (expf(2.0f * x) + 1.0f);
}

/* erfc for x >= 0 (Numerical Recipes erfcc, relative error < 1.2e-7) */
__device__ __forceinline__ float erfc_pos(float x)
{
    float t = 1.0f / (1.0f + 0.5f * x);
    float p =
        -x * x - 1.26551223f +
        t * (1.00002368f +
             t * (0.37409196f +
                  t * (0.09678418f +
                       t * (-0.18628806f +
                            t * (0.27886807f + t * (-1.13520398f +
                                                    t * (1.48851587f + t * (-0.82215223f +
                                                                            t * 0.17087277f))))))));
    return t * expf(p);
}

__device__ __forceinline__ float silu(float x)
{
    return x / (1.0f + expf(-x));
}

/* ---- elementwise kernels -----------------------------------------------
 * Grid-stride over l.n items. `flat`: every operand is contiguous with the
 * iteration shape, so item i is element i of each (no index arithmetic). */

template <int DT>
__global__ void __launch_bounds__(kThreads) k_binary(const pce_gpu_launch l, bool flat, bool small)
{
    const pce_gpu_tensor &A = l.t[0], &B = l.t[1], &D = l.t[3];
    for (int64_t i = item_index(); i < l.n; i += item_stride()) {
        int64_t ia = i, ib = i, id = i;
        if (!flat) {
            crd c = coords(i, l.ne, small);
            ia = at(A, c);
            ib = at(B, c);
            id = at(D, c);
        }
        float x = ld<DT>(A.data, ia), y = ld<DT>(B.data, ib), v;
        switch (l.op) {
        case 0: v = x + y; break;
        case 1: v = x - y; break;
        case 2: v = x * y; break;
        case 3: v = x / y; break;
        default: v = silu(x) * y; break;
        }
        st<DT>(D.data, id, v);
    }
}

/* UNARY op 0: copy or cast between any two dtypes */
template <int AT, int DT>
__global__ void __launch_bounds__(kThreads) k_cast(const pce_gpu_launch l, bool flat, bool small)
{
    const pce_gpu_tensor &A = l.t[0], &D = l.t[3];
    for (int64_t i = item_index(); i < l.n; i += item_stride()) {
        int64_t ia = i, id = i;
        if (!flat) {
            crd c = coords(i, l.ne, small);
            ia = at(A, c);
            id = at(D, c);
        }
        if constexpr (AT == DT)
            copy_bits<DT>(D.data, id, A.data, ia);
        else
            st<DT>(D.data, id, ld<AT>(A.data, ia));
    }
}

/* UNARY ops 1..12, one float dtype */
template <int DT>
__global__ void __launch_bounds__(kThreads) k_unary(const pce_gpu_launch l, bool flat, bool small)
{
    const pce_gpu_tensor &A = l.t[0], &D = l.t[3];
    for (int64_t i = item_index(); i < l.n; i += item_stride()) {
        int64_t ia = i, id = i;
        crd c = {0, 0, 0, 0};
        if (!flat) {
            c = coords(i, l.ne, small);
            ia = at(A, c);
            id = at(D, c);
        }
        float x = ld<DT>(A.data, ia), v;
        switch (l.op) {
        case 1: v = x * l.fp[0]; break;
        case 2: v = -x; break;
        case 3: v = fabsf(x); break;
        case 4: v = x * x; break;
        case 5: v = sqrtf(x); break;
        case 6: v = expf(x); break;
        case 7: v = tanh_safe(x); break;
        case 8: v = x > 0.0f ? x : 0.0f; break;
        case 9: v = x / (1.0f + expf(-1.5957691216057308f * (x + 0.044715f * x * x * x))); break;
        case 10: {
            float z = -x * 0.7071067811865476f;
            float e = z >= 0.0f ? erfc_pos(z) : 2.0f - erfc_pos(-z);
            v = 0.5f * x * e;
            break;
        }
        case 11: v = silu(x); break;
        case 12: v = c.w > c.z + l.ip[0] ? neg_inf() : x; break;
        default: v = x; break;
        }
        st<DT>(D.data, id, v);
    }
}

/* Rotary embedding. Items j < n_rot/2 rotate pair j, items j >= n_rot copy,
 * the rest idle, so it may run in place. The angle is pos * fraction of a
 * turn (64-bit fixed point, mod 1) in integer arithmetic: exact to ~2e-7
 * rad at any position. */
template <int DT>
__global__ void __launch_bounds__(kThreads) k_rope(const pce_gpu_launch l, bool small)
{
    const pce_gpu_tensor &A = l.t[0], &P = l.t[1], &D = l.t[3];
    const int32_t *pos = static_cast<const int32_t *>(P.data);
    const int64_t n_rot = l.ip[0], half_rot = n_rot / 2;
    const bool neox = l.ip[1] == 1;
    for (int64_t i = item_index(); i < l.n; i += item_stride()) {
        crd c = coords(i, l.ne, small);
        const int64_t j = c.w;
        if (j >= n_rot) {
            st<DT>(D.data, at(D, c), ld<DT>(A.data, at(A, c)));
            continue;
        }
        if (j >= half_rot)
            continue;
        const int64_t j0 = neox ? j : 2 * j, j1 = neox ? j + half_rot : 2 * j + 1;
        if (j1 >= l.ne[3]) /* n_rot beyond the row: the host rejects it */
            continue;
        const int32_t p = pos[c.y * P.nb[3]];
        const uint32_t plo = (uint32_t)p, phi = p < 0 ? 0xffffffffu : 0u;
        const uint32_t fhi = l.rope_tab[2 * j], flo = l.rope_tab[2 * j + 1];
        /* the top 32 bits of the product mod 2^64: the turn's fraction */
        const uint32_t top = __umulhi(plo, flo) + plo * fhi + phi * flo;
        const float turns = (float)(int32_t)top * (1.0f / 4294967296.0f);
        const float th = turns * 6.283185307179586f;
        float sn, cs;
        sincosf(th, &sn, &cs);
        crd c0 = c, c1 = c;
        c0.w = j0;
        c1.w = j1;
        const float x0 = ld<DT>(A.data, at(A, c0)), x1 = ld<DT>(A.data, at(A, c1));
        st<DT>(D.data, at(D, c0), x0 * cs - x1 * sn);
        st<DT>(D.data, at(D, c1), x0 * sn + x1 * cs);
    }
}

/* D[i, :] = A[ids[i], :]; a bad id writes zeros and is recorded. */
template <int AT>
__global__ void __launch_bounds__(kThreads) k_get_rows(const pce_gpu_launch l, bool small)
{
    const pce_gpu_tensor &A = l.t[0], &I = l.t[1], &D = l.t[3];
    const int32_t *ids = static_cast<const int32_t *>(I.data);
    for (int64_t i = item_index(); i < l.n; i += item_stride()) {
        crd c = coords(i, l.ne, small);
        const int32_t id = ids[c.z * I.nb[3]];
        float v = 0.0f;
        if (id < 0 || id >= l.ip[0]) {
            if (c.w == 0)
                report_error(l.err, l.ip[1], c.z, id);
        } else {
            v = ld<AT>(A.data, (int64_t)id * A.nb[2] + c.w * A.nb[3]);
        }
        st<PCE_GPU_F32>(D.data, at(D, c), v);
    }
}

/* Checks ids against [0, ip[0]) before set_rows writes anything. */
static __global__ void __launch_bounds__(kThreads) k_ids_check(const pce_gpu_launch l)
{
    const pce_gpu_tensor &I = l.t[1];
    const int32_t *ids = static_cast<const int32_t *>(I.data);
    for (int64_t i = item_index(); i < l.n; i += item_stride()) {
        const int32_t id = ids[i * I.nb[3]];
        if (id < 0 || id >= l.ip[0])
            report_error(l.err, l.ip[1], i, id);
    }
}

/* D[ids[i], :] = A[i, :]; nothing once an error is recorded in this run, so
 * a bad id leaves the destination (a KV cache, say) untouched. */
template <int AT, int DT>
__global__ void __launch_bounds__(kThreads) k_set_rows(const pce_gpu_launch l, bool small)
{
    const pce_gpu_tensor &A = l.t[0], &I = l.t[2], &D = l.t[3];
    /* written by earlier kernels only (ids_check), so one read does */
    if (l.err && *(volatile const uint32_t *)l.err != 0u)
        return;
    const int32_t *ids = static_cast<const int32_t *>(I.data);
    for (int64_t i = item_index(); i < l.n; i += item_stride()) {
        crd c = coords(i, l.ne, small);
        const int32_t id = ids[c.z * I.nb[3]];
        if (id < 0 || id >= l.ip[0])
            continue;
        st<DT>(D.data, (int64_t)id * D.nb[2] + c.w * D.nb[3], ld<AT>(A.data, at(A, c)));
    }
}

/* ---- row kernels ---------------------------------------------------------
 * One block per row of the last dim (a block strides over rows when there
 * are more than the grid has blocks; the row loop is uniform across the
 * block, so every thread reaches every barrier). */

__device__ __forceinline__ int64_t row_count(const pce_gpu_launch &l)
{
    return l.ne[0] * l.ne[1] * l.ne[2];
}

/* op 0 sum, 1 mean, 2 max, 3 argmax (first index of the max) */
template <int AT, int DT>
__global__ void __launch_bounds__(kThreads) k_reduce(const pce_gpu_launch l, bool small)
{
    __shared__ float red[PCE_MAX_WARPS_PER_BLOCK];
    __shared__ uint32_t redu[PCE_MAX_WARPS_PER_BLOCK];
    const pce_gpu_tensor &A = l.t[0], &D = l.t[3];
    const int64_t rows = row_count(l), n = l.ne[3];
    const int tid = threadIdx.x;
    for (int64_t r = blockIdx.x; r < rows; r += gridDim.x) {
        const crd c = row_coords(r, l.ne, small);
        const int64_t abase = at(A, c), dofs = at(D, c);
        if (l.op <= 1) {
            float s = 0.0f;
            for (int64_t j = tid; j < n; j += kThreads)
                s += ld<AT>(A.data, abase + j * A.nb[3]);
            s = block_sum(s, red);
            if (tid == 0)
                st<DT>(D.data, dofs, l.op == 1 ? s / (float)n : s);
            continue;
        }
        float m = neg_inf();
        uint32_t arg = kNoIndex;
        for (int64_t j = tid; j < n; j += kThreads) {
            const float x = ld<AT>(A.data, abase + j * A.nb[3]);
            if (x > m || arg == kNoIndex) {
                m = x;
                arg = (uint32_t)j;
            }
        }
        const float gm = block_max(m, red);
        if (l.op == 2) {
            if (tid == 0)
                st<DT>(D.data, dofs, gm);
            continue;
        }
        const uint32_t best = block_min(m == gm ? arg : kNoIndex, redu);
        if (tid == 0) {
            const uint32_t b = best == kNoIndex ? 0u : best;
            if constexpr (DT == PCE_GPU_I32)
                static_cast<int32_t *>(D.data)[dofs] = (int32_t)b;
            else
                st<DT>(D.data, dofs, (float)b);
        }
    }
}

/* op 0 RMS norm, 1 layer norm; fp[0] eps; weight t[1], bias t[2] optional,
 * each of its own float dtype, strided along the row by nb[3]. */
template <int DT>
__global__ void __launch_bounds__(kThreads) k_norm(const pce_gpu_launch l, bool small)
{
    __shared__ float red[PCE_MAX_WARPS_PER_BLOCK];
    const pce_gpu_tensor &A = l.t[0], &W = l.t[1], &B = l.t[2], &D = l.t[3];
    const int64_t rows = row_count(l), n = l.ne[3];
    const int tid = threadIdx.x;
    for (int64_t r = blockIdx.x; r < rows; r += gridDim.x) {
        const crd c = row_coords(r, l.ne, small);
        const int64_t abase = at(A, c), dbase = at(D, c);
        float mean = 0.0f;
        if (l.op == 1) {
            float s = 0.0f;
            for (int64_t j = tid; j < n; j += kThreads)
                s += ld<DT>(A.data, abase + j * A.nb[3]);
            mean = block_sum(s, red) / (float)n;
        }
        float ss = 0.0f;
        for (int64_t j = tid; j < n; j += kThreads) {
            const float v = ld<DT>(A.data, abase + j * A.nb[3]) - mean;
            ss += v * v;
        }
        const float inv = 1.0f / sqrtf(block_sum(ss, red) / (float)n + l.fp[0]);
        for (int64_t j = tid; j < n; j += kThreads) {
            float v = (ld<DT>(A.data, abase + j * A.nb[3]) - mean) * inv;
            if (W.data)
                v *= ld_any(W.dtype, W.data, j * W.nb[3]);
            if (B.data)
                v += ld_any(B.dtype, B.data, j * B.nb[3]);
            st<DT>(D.data, dbase + j * D.nb[3], v);
        }
    }
}

/* softmax(A * fp[0] + mask); mask t[1] optional, own float dtype, broadcast
 * by zero strides. A row masked everywhere gives zeros. */
template <int DT>
__global__ void __launch_bounds__(kThreads) k_softmax(const pce_gpu_launch l, bool small)
{
    __shared__ float red[PCE_MAX_WARPS_PER_BLOCK];
    const pce_gpu_tensor &A = l.t[0], &M = l.t[1], &D = l.t[3];
    const int64_t rows = row_count(l), n = l.ne[3];
    const float scale = l.fp[0];
    const int tid = threadIdx.x;
    for (int64_t r = blockIdx.x; r < rows; r += gridDim.x) {
        const crd c = row_coords(r, l.ne, small);
        const int64_t abase = at(A, c), mbase = at(M, c), dbase = at(D, c);
        auto logit = [&](int64_t j) {
            float v = ld<DT>(A.data, abase + j * A.nb[3]) * scale;
            if (M.data)
                v += ld_any(M.dtype, M.data, mbase + j * M.nb[3]);
            return v;
        };
        float m = neg_inf();
        for (int64_t j = tid; j < n; j += kThreads)
            m = fmaxf(m, logit(j));
        m = block_max(m, red);
        float s = 0.0f;
        if (m != neg_inf())
            for (int64_t j = tid; j < n; j += kThreads)
                s += expf(logit(j) - m);
        s = block_sum(s, red);
        const float inv = s > 0.0f ? 1.0f / s : 0.0f;
        for (int64_t j = tid; j < n; j += kThreads)
            st<DT>(D.data, dbase + j * D.nb[3], s > 0.0f ? expf(logit(j) - m) * inv : 0.0f);
    }
}

/* ---- matmul ------------------------------------------------------------
 * D[b, m, n] = sum_k A[b, m, k] B[b, k, n] in f32: a 64x64 tile of D per
 * block of 256 threads, each a 4x4 block of D (4 consecutive rows x 4
 * consecutive columns), K in steps of 16 through shared memory. Tiles are
 * loaded along whichever dim of each operand is contiguous, so transposed
 * weights (y = x w^T) read coalesced too. Blocks stride over tiles and
 * batches beyond the grid (uniform per block: barriers stay reached). */

constexpr int BM = 64, BN = 64, BK = 16;
constexpr int kPad = 4; /* keeps float4 alignment, spreads column writes over banks */

/* The tiles' inner step, shared by k_matmul and k_qmatmul: this thread's
 * 4x4 block of D accumulates As[k][4ty + i] * Bs[k][4tx + j] over the KT
 * values of k in shared memory. */
template <int KT>
__device__ __forceinline__ void tile_mac(float (&acc)[4][4], const float (&As)[KT][BM + kPad],
                                         const float (&Bs)[KT][BN + kPad], int ty, int tx)
{
#pragma unroll
    for (int k = 0; k < KT; k++) {
        const float4 a = *reinterpret_cast<const float4 *>(&As[k][4 * ty]);
        const float4 b = *reinterpret_cast<const float4 *>(&Bs[k][4 * tx]);
        const float av[4] = {a.x, a.y, a.z, a.w}, bv[4] = {b.x, b.y, b.z, b.w};
#pragma unroll
        for (int i = 0; i < 4; i++)
#pragma unroll
            for (int j = 0; j < 4; j++)
                acc[i][j] = fmaf(av[i], bv[j], acc[i][j]);
    }
}

/* Writes this thread's 4x4 block of the tile at (m0, n0), inside M x N. */
__device__ __forceinline__ void tile_store(const float (&acc)[4][4], float *Dp, int64_t dbase,
                                           const pce_gpu_tensor &D, int64_t m0, int64_t n0,
                                           int64_t M, int64_t N, int ty, int tx)
{
#pragma unroll
    for (int i = 0; i < 4; i++) {
        const int64_t m = m0 + 4 * ty + i;
#pragma unroll
        for (int j = 0; j < 4; j++) {
            const int64_t nn = n0 + 4 * tx + j;
            if (m < M && nn < N)
                Dp[dbase + m * D.nb[2] + nn * D.nb[3]] = acc[i][j];
        }
    }
}

template <int AT, int BT>
__global__ void __launch_bounds__(kThreads)
    k_matmul(const pce_gpu_launch l, int64_t batch, int64_t tiles_m, int64_t tiles_n)
{
    __shared__ __align__(16) float As[BK][BM + kPad]; /* As[k][m] */
    __shared__ __align__(16) float Bs[BK][BN + kPad]; /* Bs[k][n] */
    const pce_gpu_tensor &A = l.t[0], &B = l.t[1], &D = l.t[3];
    const int64_t M = l.ne[2], N = l.ne[3], K = l.ip[0];
    const int tid = threadIdx.x, tx = tid % 16, ty = tid / 16;
    const bool a_kfast = A.nb[3] == 1, b_nfast = B.nb[3] == 1;
    float *Dp = static_cast<float *>(D.data);

    for (int64_t bz = blockIdx.z; bz < batch; bz += gridDim.z) {
        const int64_t b0 = bz / l.ne[1], b1 = bz % l.ne[1];
        const int64_t abase = b0 * A.nb[0] + b1 * A.nb[1];
        const int64_t bbase = b0 * B.nb[0] + b1 * B.nb[1];
        const int64_t dbase = b0 * D.nb[0] + b1 * D.nb[1];
        for (int64_t tm = blockIdx.y; tm < tiles_m; tm += gridDim.y)
            for (int64_t tn = blockIdx.x; tn < tiles_n; tn += gridDim.x) {
                const int64_t m0 = tm * BM, n0 = tn * BN;
                float acc[4][4];
#pragma unroll
                for (int i = 0; i < 4; i++)
#pragma unroll
                    for (int j = 0; j < 4; j++)
                        acc[i][j] = 0.0f;

                for (int64_t k0 = 0; k0 < K; k0 += BK) {
#pragma unroll
                    for (int q = 0; q < 4; q++) {
                        const int e = tid + q * kThreads;
                        const int am = a_kfast ? e / BK : e % BM;
                        const int ak = a_kfast ? e % BK : e / BM;
                        const int64_t gm = m0 + am, gak = k0 + ak;
                        As[ak][am] = gm < M && gak < K
                                         ? ld<AT>(A.data, abase + gm * A.nb[2] + gak * A.nb[3])
                                         : 0.0f;
                        const int bk = b_nfast ? e / BN : e % BK;
                        const int bn = b_nfast ? e % BN : e / BK;
                        const int64_t gn = n0 + bn, gbk = k0 + bk;
                        Bs[bk][bn] = gn < N && gbk < K
                                         ? ld<BT>(B.data, bbase + gbk * B.nb[2] + gn * B.nb[3])
                                         : 0.0f;
                    }
                    __syncthreads();
                    tile_mac<BK>(acc, As, Bs, ty, tx);
                    __syncthreads();
                }
                tile_store(acc, Dp, dbase, D, m0, n0, M, N, ty, tx);
            }
    }
}

/* ---- gemv --------------------------------------------------------------
 * D[b, i] = sum_k X[b, i, k] V[b, k] for decode (M = 1) and N = 1. */

constexpr int kGemvRowsPerBlock = kThreads / 32;                  /* warp-per-output kernel */
constexpr int kGemvCols = 32, kGemvSlices = kThreads / kGemvCols; /* column kernel */

/* X's k is contiguous (the usual case): one warp per output, its lanes
 * splitting K, so each warp reads a row of X coalesced. A block covers
 * kGemvRowsPerBlock outputs; with 64-lane wavefronts each warp takes two. */
template <int XT, int VT>
__global__ void __launch_bounds__(kThreads)
    k_gemv_rows(const pce_gpu_launch l, int64_t outs, int64_t batch, int64_t groups)
{
    const pce_gpu_tensor &X = l.t[0], &V = l.t[1], &D = l.t[3];
    const int64_t K = l.ip[0];
    const int lane = threadIdx.x % PCE_WARP, warp = threadIdx.x / PCE_WARP;
    const int nw = kThreads / PCE_WARP;
    float *Dp = static_cast<float *>(D.data);
    for (int64_t bz = blockIdx.z; bz < batch; bz += gridDim.z) {
        const int64_t b0 = bz / l.ne[1], b1 = bz % l.ne[1];
        const int64_t xb = b0 * X.nb[0] + b1 * X.nb[1], vb = b0 * V.nb[0] + b1 * V.nb[1];
        for (int64_t g = blockIdx.x; g < groups; g += gridDim.x)
            for (int o = warp; o < kGemvRowsPerBlock; o += nw) {
                const int64_t row = g * kGemvRowsPerBlock + o;
                if (row >= outs) /* uniform across the warp: shuffles stay whole */
                    break;
                const int64_t xr = xb + row * X.nb[2];
                float s = 0.0f;
                for (int64_t k = lane; k < K; k += PCE_WARP)
                    s = fmaf(ld<XT>(X.data, xr + k * X.nb[3]), ld<VT>(V.data, vb + k * V.nb[3]), s);
                s = warp_sum(s);
                if (lane == 0)
                    Dp[b0 * D.nb[0] + b1 * D.nb[1] + row * D.nb[2]] = s;
            }
    }
}

/* X's outputs are contiguous (k strided, as X = B of y = x w with w [K,
 * N]): a block covers 32 consecutive outputs, one per thread column, and 8
 * slices of K, summed through shared memory. */
template <int XT, int VT>
__global__ void __launch_bounds__(kThreads)
    k_gemv_cols(const pce_gpu_launch l, int64_t outs, int64_t batch, int64_t groups)
{
    __shared__ float part[kGemvSlices][kGemvCols + 1];
    const pce_gpu_tensor &X = l.t[0], &V = l.t[1], &D = l.t[3];
    const int64_t K = l.ip[0];
    const int tx = threadIdx.x % kGemvCols, ty = threadIdx.x / kGemvCols;
    float *Dp = static_cast<float *>(D.data);
    for (int64_t bz = blockIdx.z; bz < batch; bz += gridDim.z) {
        const int64_t b0 = bz / l.ne[1], b1 = bz % l.ne[1];
        const int64_t xb = b0 * X.nb[0] + b1 * X.nb[1], vb = b0 * V.nb[0] + b1 * V.nb[1];
        for (int64_t g = blockIdx.x; g < groups; g += gridDim.x) {
            const int64_t row = g * kGemvCols + tx;
            float s = 0.0f;
            if (row < outs) {
                const int64_t xr = xb + row * X.nb[2];
                for (int64_t k = ty; k < K; k += kGemvSlices)
                    s = fmaf(ld<XT>(X.data, xr + k * X.nb[3]), ld<VT>(V.data, vb + k * V.nb[3]), s);
            }
            part[ty][tx] = s;
            __syncthreads();
            if (ty == 0 && row < outs) {
                float t = 0.0f;
                for (int q = 0; q < kGemvSlices; q++)
                    t += part[q][tx];
                Dp[b0 * D.nb[0] + b1 * D.nb[1] + row * D.nb[2]] = t;
            }
            __syncthreads();
        }
    }
}

/* ---- block-quantized weights -------------------------------------------
 * get_rows, a matrix-vector and a tiled matmul for GGUF's formats, read in
 * their blocks through gpu_quant.cuh (never an f32 copy of the weights). */

/* get_rows from a quantized table: one item per group of 8 weights of a
 * destination row (l.ne is D's shape; its rows of ne[3] weights). */
template <int QT>
__global__ void __launch_bounds__(kThreads)
    k_qget_rows(const pce_gpu_launch l, int64_t items, bool small)
{
    const pce_gpu_tensor &A = l.t[0], &I = l.t[1], &D = l.t[3];
    const int32_t *ids = static_cast<const int32_t *>(I.data);
    const uint8_t *tab = static_cast<const uint8_t *>(A.data);
    float *Dp = static_cast<float *>(D.data);
    const int64_t gpr = l.ne[3] / 8; /* groups per row */
    for (int64_t i = item_index(); i < items; i += item_stride()) {
        const int64_t r = i / gpr, g = i % gpr, it = g >> 2;
        const int p = (int)(g & 3);
        const crd c = row_coords(r, l.ne, small);
        const int32_t id = ids[c.z * I.nb[3]];
        const int64_t db = at(D, c);
        const int64_t klo = 32 * it + q_pos_lo<QT>(p), khi = 32 * it + q_pos_hi<QT>(p);
        if (id < 0 || id >= l.ip[0]) {
            if (g == 0)
                report_error(l.err, l.ip[1], c.z, id);
#pragma unroll
            for (int j = 0; j < 4; j++) {
                Dp[db + (klo + j) * D.nb[3]] = 0.0f;
                Dp[db + (khi + j) * D.nb[3]] = 0.0f;
            }
            continue;
        }
        const qgroup q = q_group<QT>(q_head<QT>(tab + (int64_t)id * A.nb[2], it), p);
#pragma unroll
        for (int j = 0; j < 4; j++) {
            Dp[db + (klo + j) * D.nb[3]] = q_deq<QT>(q, q.lo[j]);
            Dp[db + (khi + j) * D.nb[3]] = q_deq<QT>(q, q.hi[j]);
        }
    }
}

/* x w^T with w quantized, for decode (M = 1) and short prompts: D[b, m, n]
 * = sum_k A[b, m, k] W[b, n, k]. A block takes kQGemvRows rows of W and XR
 * rows of A (a chunk; blockIdx.z spreads the batch times the chunks); each
 * warp takes kQRows rows of W at a time, its lanes the rows' groups of 8
 * weights in turn (neighbouring lanes read neighbouring bytes), each group
 * decoded once for the XR rows of A and each load of A serving the kQRows
 * rows; scale and min are folded into one multiply-add per group, and a
 * warp sum ends each output. */
constexpr int kQRows = 4;
constexpr int kQGemvRows = 32;
constexpr int kQGemvXRows = 4; /* XR: 1 (decode) or this */
constexpr int64_t kQGemvMaxM = 8;

template <int AT, int QT, int XR>
__global__ void __launch_bounds__(kThreads)
    k_qgemv(const pce_gpu_launch l, int64_t zs, int64_t chunks, int64_t row_groups)
{
    typedef qtype<QT> Q;
    /* groups an invocation takes per head: the K-quants' heads cost more */
    constexpr int QG = Q::weights == 256 ? 2 : 1;
    const pce_gpu_tensor &A = l.t[0], &W = l.t[1], &D = l.t[3];
    const int64_t M = l.ne[2], N = l.ne[3], K = l.ip[0], units = K / (8 * QG);
    const int lane = threadIdx.x % PCE_WARP, warp = threadIdx.x / PCE_WARP;
    const int nw = kThreads / PCE_WARP;
    const uint8_t *Wp = static_cast<const uint8_t *>(W.data);
    float *Dp = static_cast<float *>(D.data);
    for (int64_t z = blockIdx.z; z < zs; z += gridDim.z) {
        const int64_t bz = z / chunks, m0 = z % chunks * XR;
        const int xn = M - m0 < XR ? (int)(M - m0) : XR; /* rows of A here */
        const int64_t b0 = bz / l.ne[1], b1 = bz % l.ne[1];
        const int64_t ab = b0 * A.nb[0] + b1 * A.nb[1] + m0 * A.nb[2];
        const int64_t db = b0 * D.nb[0] + b1 * D.nb[1] + m0 * D.nb[2];
        const uint8_t *wb = Wp + b0 * W.nb[0] + b1 * W.nb[1];
        for (int64_t g = blockIdx.x; g < row_groups; g += gridDim.x)
            for (int r = warp * kQRows; r < kQGemvRows; r += nw * kQRows) {
                const int64_t row = g * kQGemvRows + r;
                if (row >= N) /* uniform across the warp: shuffles stay whole */
                    break;
                const uint8_t *rb[kQRows];
#pragma unroll
                for (int i = 0; i < kQRows; i++) /* past N: computed, not stored */
                    rb[i] = wb + (row + i < N ? row + i : N - 1) * W.nb[3];
                float s[XR][kQRows];
#pragma unroll
                for (int m = 0; m < XR; m++)
#pragma unroll
                    for (int i = 0; i < kQRows; i++)
                        s[m][i] = 0.0f;
                for (int64_t u = lane; u < units; u += PCE_WARP) {
                    const int64_t it = u * QG >> 2;
                    const int p0 = (int)(u * QG & 3);
                    qhead hd[kQRows];
#pragma unroll
                    for (int i = 0; i < kQRows; i++)
                        hd[i] = q_head<QT>(rb[i], it);
#pragma unroll
                    for (int pp = 0; pp < QG; pp++) {
                        const int p = p0 + pp;
                        qgroup q[kQRows];
#pragma unroll
                        for (int i = 0; i < kQRows; i++)
                            q[i] = q_group<QT>(hd[i], p);
                        const int64_t kl = ab + (32 * it + q_pos_lo<QT>(p)) * A.nb[3];
                        const int64_t kh = ab + (32 * it + q_pos_hi<QT>(p)) * A.nb[3];
#pragma unroll
                        for (int m = 0; m < XR; m++) {
                            if (m >= xn) /* no break: the loop unrolls */
                                continue;
                            float xl[4], xh[4];
#pragma unroll
                            for (int j = 0; j < 4; j++) {
                                xl[j] = ld<AT>(A.data, kl + m * A.nb[2] + j * A.nb[3]);
                                xh[j] = ld<AT>(A.data, kh + m * A.nb[2] + j * A.nb[3]);
                            }
#pragma unroll
                            for (int i = 0; i < kQRows; i++) {
                                float t = 0.0f;
#pragma unroll
                                for (int j = 0; j < 4; j++)
                                    t = fmaf(xh[j], q[i].hi[j], fmaf(xl[j], q[i].lo[j], t));
                                s[m][i] = fmaf(q[i].sc, t, s[m][i]);
                                if constexpr (Q::has_min)
                                    s[m][i] = fmaf(q[i].mn,
                                                   ((xl[0] + xh[0]) + (xl[1] + xh[1])) +
                                                       ((xl[2] + xh[2]) + (xl[3] + xh[3])),
                                                   s[m][i]);
                            }
                        }
                    }
                }
#pragma unroll
                for (int m = 0; m < XR; m++) {
                    if (m >= xn)
                        continue;
#pragma unroll
                    for (int i = 0; i < kQRows; i++) {
                        const float t = warp_sum(s[m][i]);
                        if (lane == 0 && row + i < N)
                            Dp[db + m * D.nb[2] + (row + i) * D.nb[3]] = t;
                    }
                }
            }
    }
}

/* x w^T with w quantized, for M > 8: k_matmul's 64x64 tiles of D, K in
 * steps of 32 (one item of each row of W). Each step every thread
 * dequantizes one group of 8 weights of one row of W, exactly, into shared
 * memory, so W is read once per tile and never copied out dequantized. */
constexpr int QBK = 32;

template <int AT, int QT>
__global__ void __launch_bounds__(kThreads)
    k_qmatmul(const pce_gpu_launch l, int64_t batch, int64_t tiles_m, int64_t tiles_n)
{
    __shared__ __align__(16) float As[QBK][BM + kPad]; /* As[k][m] */
    __shared__ __align__(16) float Bs[QBK][BN + kPad]; /* Bs[k][n] = W[n, k] */
    const pce_gpu_tensor &A = l.t[0], &W = l.t[1], &D = l.t[3];
    const int64_t M = l.ne[2], N = l.ne[3], K = l.ip[0];
    const int tid = threadIdx.x, tx = tid % 16, ty = tid / 16;
    const bool a_kfast = A.nb[3] == 1;
    /* this thread's group of W: row n0 + wn, group wp of each item */
    const int wn = tid >> 2, wp = tid & 3;
    const int plo = q_pos_lo<QT>(wp), phi = q_pos_hi<QT>(wp);
    const uint8_t *Wp = static_cast<const uint8_t *>(W.data);
    float *Dp = static_cast<float *>(D.data);

    for (int64_t bz = blockIdx.z; bz < batch; bz += gridDim.z) {
        const int64_t b0 = bz / l.ne[1], b1 = bz % l.ne[1];
        const int64_t abase = b0 * A.nb[0] + b1 * A.nb[1];
        const int64_t dbase = b0 * D.nb[0] + b1 * D.nb[1];
        const uint8_t *wb = Wp + b0 * W.nb[0] + b1 * W.nb[1];
        for (int64_t tm = blockIdx.y; tm < tiles_m; tm += gridDim.y)
            for (int64_t tn = blockIdx.x; tn < tiles_n; tn += gridDim.x) {
                const int64_t m0 = tm * BM, n0 = tn * BN, gn = n0 + wn;
                const uint8_t *rb = wb + (gn < N ? gn : 0) * W.nb[3];
                float acc[4][4];
#pragma unroll
                for (int i = 0; i < 4; i++)
#pragma unroll
                    for (int j = 0; j < 4; j++)
                        acc[i][j] = 0.0f;

                for (int64_t k0 = 0; k0 < K; k0 += QBK) {
#pragma unroll
                    for (int q = 0; q < BM * QBK / kThreads; q++) {
                        const int e = tid + q * kThreads;
                        const int am = a_kfast ? e / QBK : e % BM;
                        const int ak = a_kfast ? e % QBK : e / BM;
                        const int64_t gm = m0 + am;
                        As[ak][am] =
                            gm < M ? ld<AT>(A.data, abase + gm * A.nb[2] + (k0 + ak) * A.nb[3])
                                   : 0.0f;
                    }
                    if (gn < N) {
                        const qgroup g = q_group<QT>(q_head<QT>(rb, k0 / 32), wp);
#pragma unroll
                        for (int i = 0; i < 4; i++) {
                            Bs[plo + i][wn] = q_deq<QT>(g, g.lo[i]);
                            Bs[phi + i][wn] = q_deq<QT>(g, g.hi[i]);
                        }
                    } else {
#pragma unroll
                        for (int i = 0; i < 4; i++) {
                            Bs[plo + i][wn] = 0.0f;
                            Bs[phi + i][wn] = 0.0f;
                        }
                    }
                    __syncthreads();
                    tile_mac<QBK>(acc, As, Bs, ty, tx);
                    __syncthreads();
                }
                tile_store(acc, Dp, dbase, D, m0, n0, M, N, ty, tx);
            }
    }
}

/* ---- dispatch ----------------------------------------------------------- */

template <int V> struct dtc {
    static constexpr int value = V;
};

static bool is_float(int dt)
{
    return dt == PCE_GPU_F32 || dt == PCE_GPU_F16 || dt == PCE_GPU_BF16;
}

static bool is_dtype(int dt)
{
    return dt >= PCE_GPU_F32 && dt <= PCE_GPU_I8;
}

static bool is_quant(int dt)
{
    return dt >= PCE_GPU_Q8_0 && dt <= PCE_GPU_Q6_K;
}

/* weights per block of a quantized dtype */
static int64_t quant_weights(int dt)
{
    return dt >= PCE_GPU_Q4_K ? 256 : 32;
}

/* Calls f(dtc<dt>()) for a float dtype (checked before). */
template <typename F> void with_float(int dt, F &&f)
{
    switch (dt) {
    case PCE_GPU_F32: f(dtc<PCE_GPU_F32>()); break;
    case PCE_GPU_F16: f(dtc<PCE_GPU_F16>()); break;
    default: f(dtc<PCE_GPU_BF16>()); break;
    }
}

/* Calls f(dtc<dt>()) for a quantized dtype (checked before). */
template <typename F> void with_quant(int dt, F &&f)
{
    switch (dt) {
    case PCE_GPU_Q8_0: f(dtc<PCE_GPU_Q8_0>()); break;
    case PCE_GPU_Q4_0: f(dtc<PCE_GPU_Q4_0>()); break;
    case PCE_GPU_Q4_1: f(dtc<PCE_GPU_Q4_1>()); break;
    case PCE_GPU_Q5_0: f(dtc<PCE_GPU_Q5_0>()); break;
    case PCE_GPU_Q5_1: f(dtc<PCE_GPU_Q5_1>()); break;
    case PCE_GPU_Q4_K: f(dtc<PCE_GPU_Q4_K>()); break;
    case PCE_GPU_Q5_K: f(dtc<PCE_GPU_Q5_K>()); break;
    default: f(dtc<PCE_GPU_Q6_K>()); break;
    }
}

/* Calls f(dtc<dt>()) for any dtype (checked before). */
template <typename F> void with_any(int dt, F &&f)
{
    switch (dt) {
    case PCE_GPU_F32: f(dtc<PCE_GPU_F32>()); break;
    case PCE_GPU_F16: f(dtc<PCE_GPU_F16>()); break;
    case PCE_GPU_BF16: f(dtc<PCE_GPU_BF16>()); break;
    case PCE_GPU_I32: f(dtc<PCE_GPU_I32>()); break;
    default: f(dtc<PCE_GPU_I8>()); break;
    }
}

static bool exists(const pce_gpu_launch *l)
{
    const int a = l->t[0].dtype, b = l->t[1].dtype, c = l->t[2].dtype, d = l->t[3].dtype;
    const int op = l->op;
    switch (l->kernel) {
    case PCE_GPU_BINARY: return op >= 0 && op <= 4 && is_float(a) && b == a && d == a;
    case PCE_GPU_UNARY:
        if (op == 0)
            return is_dtype(a) && is_dtype(d);
        return op >= 1 && op <= 12 && is_float(a) && d == a;
    case PCE_GPU_REDUCE:
        if (op == 3)
            return is_float(a) && d == PCE_GPU_I32;
        return op >= 0 && op <= 2 && is_float(a) && d == a;
    case PCE_GPU_NORM:
        return (op == 0 || op == 1) && is_float(a) && d == a && (!l->t[1].data || is_float(b)) &&
               (!l->t[2].data || is_float(c));
    case PCE_GPU_SOFTMAX: return is_float(a) && d == a && (!l->t[1].data || is_float(b));
    case PCE_GPU_ROPE: return is_float(a) && d == a && b == PCE_GPU_I32;
    case PCE_GPU_GET_ROWS:
        /* a quantized table: rows of whole blocks, read a group of 8 at a time */
        return (is_float(a) || (is_quant(a) && l->ne[3] % quant_weights(a) == 0)) &&
               b == PCE_GPU_I32 && d == PCE_GPU_F32;
    case PCE_GPU_IDS_CHECK: return b == PCE_GPU_I32;
    case PCE_GPU_SET_ROWS: return is_float(a) && c == PCE_GPU_I32 && is_float(d);
    case PCE_GPU_MATMUL:
        if (is_quant(b))
            return is_float(a) && d == PCE_GPU_F32 && op >= 0 && op <= 2 && l->ip[0] >= 0 &&
                   l->ip[0] % quant_weights(b) == 0;
        return is_float(a) && is_float(b) && d == PCE_GPU_F32;
    case PCE_GPU_GEMV: return is_float(a) && is_float(b) && d == PCE_GPU_F32;
    default: return false;
    }
}

/* Operands the kernel dereferences unconditionally. */
static bool has_pointers(const pce_gpu_launch *l)
{
    const void *a = l->t[0].data, *b = l->t[1].data, *c = l->t[2].data, *d = l->t[3].data;
    switch (l->kernel) {
    case PCE_GPU_BINARY: return a && b && d;
    case PCE_GPU_ROPE: return a && b && d && l->rope_tab;
    case PCE_GPU_GET_ROWS: return a && b && d && l->err;
    case PCE_GPU_IDS_CHECK: return b && l->err;
    case PCE_GPU_SET_ROWS: return a && c && d;
    case PCE_GPU_GEMV:
    case PCE_GPU_MATMUL: return a && b && d;
    default: return a && d;
    }
}

/* Every operand of slots `mask` contiguous over shape ne (dims of 1 have
 * any stride): then item i is element i of each. */
static bool dense(const pce_gpu_launch *l, unsigned mask)
{
    for (int s = 0; s < 4; s++) {
        if (!(mask & (1u << s)))
            continue;
        int64_t want = 1;
        for (int i = 3; i >= 0; i--) {
            if (l->ne[i] > 1 && l->t[s].nb[i] != want)
                return false;
            want *= l->ne[i];
        }
    }
    return true;
}

static int64_t min64(int64_t a, int64_t b)
{
    return a < b ? a : b;
}

/* Whether the launch has anything to do: no kernel runs on an empty shape
 * (a grid of 0 blocks is a launch error), and its pointers may be NULL. */
static bool has_work(const pce_gpu_launch *l)
{
    const int64_t *ne = l->ne;
    switch (l->kernel) {
    case PCE_GPU_REDUCE:
    case PCE_GPU_NORM:
    case PCE_GPU_SOFTMAX: return ne[0] > 0 && ne[1] > 0 && ne[2] > 0;
    case PCE_GPU_MATMUL: return ne[0] > 0 && ne[1] > 0 && ne[2] > 0 && ne[3] > 0;
    case PCE_GPU_GEMV: return ne[0] > 0 && ne[1] > 0 && ne[2] > 0;
    default: return l->n > 0;
    }
}

/* x w^T with w quantized: the matrix-vector kernel (op 1, or op 0 with M
 * up to kQGemvMaxM) or the tiled one. */
static int launch_qmatmul(const pce_gpu_launch &L, pce_gpu_stream_t s)
{
    const int64_t batch = L.ne[0] * L.ne[1], M = L.ne[2], N = L.ne[3];
    const dim3 block(kThreads);
    if (L.op == 1 || (L.op == 0 && M <= kQGemvMaxM)) {
        const int xr = M == 1 ? 1 : kQGemvXRows;
        const int64_t chunks = (M + xr - 1) / xr, zs = batch * chunks;
        const int64_t groups = (N + kQGemvRows - 1) / kQGemvRows;
        const dim3 g((unsigned)min64(groups, kMaxGridYZ), 1, (unsigned)min64(zs, kMaxGridYZ));
        with_float(L.t[0].dtype, [&](auto A) {
            with_quant(L.t[1].dtype, [&](auto Q) {
                constexpr int AT = decltype(A)::value, QT = decltype(Q)::value;
                if (xr == 1)
                    k_qgemv<AT, QT, 1><<<g, block, 0, s>>>(L, zs, chunks, groups);
                else
                    k_qgemv<AT, QT, kQGemvXRows><<<g, block, 0, s>>>(L, zs, chunks, groups);
            });
        });
    } else {
        const int64_t tm = (M + BM - 1) / BM, tn = (N + BN - 1) / BN;
        const dim3 g((unsigned)min64(tn, kMaxGridYZ), (unsigned)min64(tm, kMaxGridYZ),
                     (unsigned)min64(batch, kMaxGridYZ));
        with_float(L.t[0].dtype, [&](auto A) {
            with_quant(L.t[1].dtype, [&](auto Q) {
                k_qmatmul<decltype(A)::value, decltype(Q)::value>
                    <<<g, block, 0, s>>>(L, batch, tm, tn);
            });
        });
    }
    return (int)pce_gpu_get_last_error();
}

static int launch(const pce_gpu_launch *l, pce_gpu_stream_t s, int max_blocks)
{
    const pce_gpu_launch &L = *l;
    const int a = L.t[0].dtype, b = L.t[1].dtype, d = L.t[3].dtype;
    const bool small = L.n <= (int64_t)UINT32_MAX && L.ne[0] <= (int64_t)UINT32_MAX &&
                       L.ne[1] <= (int64_t)UINT32_MAX && L.ne[2] <= (int64_t)UINT32_MAX &&
                       L.ne[3] <= (int64_t)UINT32_MAX;
    const int64_t cap = max_blocks > 0 ? min64(max_blocks, kMaxGridX) : kMaxGridX;
    const dim3 block(kThreads);
    const dim3 grid((unsigned)min64((L.n + kThreads - 1) / kThreads, cap));
    const int64_t rows = L.ne[0] * L.ne[1] * L.ne[2];
    const bool rows_small = rows <= (int64_t)UINT32_MAX;
    const dim3 row_grid((unsigned)min64(rows, kRowBlocks));

    switch (L.kernel) {
    case PCE_GPU_BINARY: {
        const bool flat = dense(l, 1u | 2u | 8u);
        with_float(a, [&](auto A) {
            k_binary<decltype(A)::value><<<grid, block, 0, s>>>(L, flat, small);
        });
        break;
    }
    case PCE_GPU_UNARY: {
        const bool flat = L.op != 12 && dense(l, 1u | 8u);
        if (L.op == 0)
            with_any(a, [&](auto A) {
                with_any(d, [&](auto D) {
                    k_cast<decltype(A)::value, decltype(D)::value>
                        <<<grid, block, 0, s>>>(L, flat, small);
                });
            });
        else
            with_float(a, [&](auto A) {
                k_unary<decltype(A)::value><<<grid, block, 0, s>>>(L, flat, small);
            });
        break;
    }
    case PCE_GPU_ROPE:
        with_float(a, [&](auto A) { k_rope<decltype(A)::value><<<grid, block, 0, s>>>(L, small); });
        break;
    case PCE_GPU_GET_ROWS:
        if (is_quant(a)) {
            const int64_t items = L.n / 8; /* groups of 8 weights */
            const dim3 qg((unsigned)min64((items + kThreads - 1) / kThreads, cap));
            with_quant(a, [&](auto Q) {
                k_qget_rows<decltype(Q)::value><<<qg, block, 0, s>>>(L, items, rows_small);
            });
            break;
        }
        with_float(
            a, [&](auto A) { k_get_rows<decltype(A)::value><<<grid, block, 0, s>>>(L, small); });
        break;
    case PCE_GPU_IDS_CHECK: k_ids_check<<<grid, block, 0, s>>>(L); break;
    case PCE_GPU_SET_ROWS:
        with_float(a, [&](auto A) {
            with_float(d, [&](auto D) {
                k_set_rows<decltype(A)::value, decltype(D)::value><<<grid, block, 0, s>>>(L, small);
            });
        });
        break;
    case PCE_GPU_REDUCE:
        with_float(a, [&](auto A) {
            if (d == PCE_GPU_I32)
                k_reduce<decltype(A)::value, PCE_GPU_I32><<<row_grid, block, 0, s>>>(L, rows_small);
            else
                k_reduce<decltype(A)::value, decltype(A)::value>
                    <<<row_grid, block, 0, s>>>(L, rows_small);
        });
        break;
    case PCE_GPU_NORM:
        with_float(a, [&](auto A) {
            k_norm<decltype(A)::value><<<row_grid, block, 0, s>>>(L, rows_small);
        });
        break;
    case PCE_GPU_SOFTMAX:
        with_float(a, [&](auto A) {
            k_softmax<decltype(A)::value><<<row_grid, block, 0, s>>>(L, rows_small);
        });
        break;
    case PCE_GPU_MATMUL: {
        if (is_quant(b))
            return launch_qmatmul(L, s);
        const int64_t batch = L.ne[0] * L.ne[1], M = L.ne[2], N = L.ne[3];
        const int64_t tm = (M + BM - 1) / BM, tn = (N + BN - 1) / BN;
        const dim3 g((unsigned)min64(tn, kMaxGridYZ), (unsigned)min64(tm, kMaxGridYZ),
                     (unsigned)min64(batch, kMaxGridYZ));
        with_float(a, [&](auto A) {
            with_float(b, [&](auto B) {
                k_matmul<decltype(A)::value, decltype(B)::value>
                    <<<g, block, 0, s>>>(L, batch, tm, tn);
            });
        });
        break;
    }
    case PCE_GPU_GEMV: {
        const int64_t batch = L.ne[0] * L.ne[1], outs = L.ne[2];
        /* outputs contiguous and k strided: threads along the outputs */
        const bool cols = L.t[0].nb[2] == 1 && L.t[0].nb[3] != 1 && outs > 1;
        const int64_t per = cols ? kGemvCols : kGemvRowsPerBlock;
        const int64_t groups = (outs + per - 1) / per;
        const dim3 g((unsigned)min64(groups, kMaxGridYZ), 1, (unsigned)min64(batch, kMaxGridYZ));
        with_float(a, [&](auto A) {
            with_float(b, [&](auto B) {
                if (cols)
                    k_gemv_cols<decltype(A)::value, decltype(B)::value>
                        <<<g, block, 0, s>>>(L, outs, batch, groups);
                else
                    k_gemv_rows<decltype(A)::value, decltype(B)::value>
                        <<<g, block, 0, s>>>(L, outs, batch, groups);
            });
        });
        break;
    }
    default: return (int)PCE_GPU_ERROR_INVALID_VALUE;
    }
    return (int)pce_gpu_get_last_error();
}

} // namespace

extern "C" {

int pce_gpu_kernel_exists(const pce_gpu_launch *l)
{
    return l && exists(l) ? 1 : 0;
}

int pce_gpu_kernel_launch(const pce_gpu_launch *l, void *stream, int max_blocks)
{
    /* a combination without a kernel, or a missing operand: invalid value,
     * never a silent no-op */
    if (!l || !exists(l))
        return (int)PCE_GPU_ERROR_INVALID_VALUE;
    if (!has_work(l))
        return 0;
    if (!has_pointers(l))
        return (int)PCE_GPU_ERROR_INVALID_VALUE;
    return launch(l, static_cast<pce_gpu_stream_t>(stream), max_blocks);
}

const char *pce_gpu_error_name(int code)
{
    return pce_gpu_get_error_name(static_cast<pce_gpu_error_t>(code));
}

} /* extern "C" */
