/* gpu_compat.h — what differs between CUDA (nvcc) and HIP (hipcc) for
 * gpu_kernels.cu: runtime and half-precision headers, the stream and error
 * types, warp shuffles and the warp (wavefront) size. Everything else in the
 * kernels is common CUDA/HIP C++.
 *
 * The warp size is 32 on NVIDIA and RDNA (gfx10+, wave32 by default) and 64
 * on CDNA/GCN (gfx90a); reductions loop over PCE_WARP so that both work.
 * On HIP it is `warpSize`: a compile-time constant per target up to ROCm 6,
 * a run-time value after (where __AMDGCN_WAVEFRONT_SIZE is deprecated). */
#ifndef PCE_GPU_COMPAT_H
#define PCE_GPU_COMPAT_H

#if defined(__HIP__) || defined(__HIPCC__)
#define PCE_GPU_HIP 1
#include <hip/hip_fp16.h>
#include <hip/hip_runtime.h>

typedef hipStream_t pce_gpu_stream_t;
typedef hipError_t pce_gpu_error_t;
#define pce_gpu_get_last_error hipGetLastError
#define pce_gpu_get_error_name hipGetErrorName
#define PCE_GPU_SUCCESS hipSuccess
#define PCE_GPU_ERROR_INVALID_VALUE hipErrorInvalidValue
#define PCE_WARP warpSize

/* HIP shuffles act on the whole wavefront; no mask */
#define PCE_SHFL_XOR(v, m) __shfl_xor((v), (m))

#else
#define PCE_GPU_HIP 0
#include <cuda_fp16.h>
#include <cuda_runtime.h>

typedef cudaStream_t pce_gpu_stream_t;
typedef cudaError_t pce_gpu_error_t;
#define pce_gpu_get_last_error cudaGetLastError
#define pce_gpu_get_error_name cudaGetErrorName
#define PCE_GPU_SUCCESS cudaSuccess
#define PCE_GPU_ERROR_INVALID_VALUE cudaErrorInvalidValue
#define PCE_WARP 32

/* every lane of the warp takes part in each reduction */
#define PCE_SHFL_XOR(v, m) __shfl_xor_sync(0xffffffffu, (v), (m))
#endif

/* Most warps a 256-thread block can have (32-lane warps): the size of the
 * shared arrays that hold one value per warp. */
#define PCE_MAX_WARPS_PER_BLOCK (256 / 32)

/* f16 storage is raw 16-bit words; conversions round to nearest even. */
static __device__ __forceinline__ float pce_h2f(unsigned short h)
{
    return __half2float(__ushort_as_half(h));
}

static __device__ __forceinline__ unsigned short pce_f2h(float v)
{
    return __half_as_ushort(__float2half_rn(v));
}

#endif
