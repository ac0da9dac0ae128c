// CPU emulation of the CUDA subset gpu_kernels.cu uses: one std::thread per
// GPU thread, blocks run one after another; __syncthreads is a barrier of the
// block, warp shuffles an exchange through memory with a barrier per warp.
#pragma once
#include <array>
#include <atomic>
#include <barrier>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <memory>
#include <thread>
#include <vector>
#include <stdint.h>
#include <math.h>

#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __launch_bounds__(x)
#define __shared__ static
#define __align__(n) __attribute__((aligned(n)))

#ifndef EMU_WARP
#define EMU_WARP 32
#endif
#define PCE_GPU_HIP 0
#define PCE_WARP EMU_WARP
#define PCE_MAX_WARPS_PER_BLOCK (256 / 32)
#define PCE_GPU_SUCCESS 0
#define PCE_GPU_ERROR_INVALID_VALUE 1
typedef void *pce_gpu_stream_t;
typedef int pce_gpu_error_t;
inline int pce_gpu_get_last_error()
{
    return 0;
}
inline const char *pce_gpu_get_error_name(int c)
{
    return c ? "emuError" : "emuSuccess";
}

struct dim3 {
    unsigned x, y, z;
    dim3(unsigned x_ = 1, unsigned y_ = 1, unsigned z_ = 1) : x(x_), y(y_), z(z_)
    {
    }
};
struct uint3e {
    unsigned x, y, z;
};
inline thread_local uint3e threadIdx, blockIdx;
inline dim3 gridDim, blockDim;
inline std::barrier<> *emu_bar;
inline std::barrier<> *emu_wbar[1024 / EMU_WARP + 1];
inline uint64_t emu_slots[1024];

inline void __syncthreads()
{
    emu_bar->arrive_and_wait();
}

template <class T> T emu_shfl_xor(T v, int m)
{
    unsigned w = threadIdx.x / EMU_WARP, lane = threadIdx.x % EMU_WARP;
    std::memcpy(&emu_slots[threadIdx.x], &v, sizeof v);
    emu_wbar[w]->arrive_and_wait();
    T r;
    std::memcpy(&r, &emu_slots[w * EMU_WARP + (lane ^ (unsigned)m)], sizeof r);
    emu_wbar[w]->arrive_and_wait();
    return r;
}
#define PCE_SHFL_XOR(v, m) emu_shfl_xor((v), (m))

inline float __uint_as_float(uint32_t u)
{
    float f;
    std::memcpy(&f, &u, 4);
    return f;
}
inline uint32_t __float_as_uint(float f)
{
    uint32_t u;
    std::memcpy(&u, &f, 4);
    return u;
}
inline uint32_t __umulhi(uint32_t a, uint32_t b)
{
    return (uint32_t)(((uint64_t)a * b) >> 32);
}
inline uint32_t atomicCAS(uint32_t *p, uint32_t cmp, uint32_t val)
{
    std::atomic_ref<uint32_t> r(*p);
    r.compare_exchange_strong(cmp, val);
    return cmp;
}
inline uint32_t min(uint32_t a, uint32_t b)
{
    return a < b ? a : b;
}
struct alignas(16) float4 {
    float x, y, z, w;
};
static inline float pce_h2f(unsigned short h)
{
    _Float16 f;
    std::memcpy(&f, &h, 2);
    return (float)f;
}
static inline unsigned short pce_f2h(float v)
{
    _Float16 f = (_Float16)v;
    unsigned short h;
    std::memcpy(&h, &f, 2);
    return h;
}

template <class F, class... A> void emu_launch(dim3 g, dim3 b, unsigned, void *, F f, A... args)
{
    gridDim = g;
    blockDim = b;
    for (unsigned z = 0; z < g.z; z++)
        for (unsigned y = 0; y < g.y; y++)
            for (unsigned x = 0; x < g.x; x++) {
                std::barrier<> bar((std::ptrdiff_t)b.x);
                std::vector<std::unique_ptr<std::barrier<>>> wb;
                for (unsigned w = 0; w < b.x / EMU_WARP; w++) {
                    wb.emplace_back(new std::barrier<>(EMU_WARP));
                    emu_wbar[w] = wb.back().get();
                }
                emu_bar = &bar;
                std::vector<std::thread> ts;
                for (unsigned t = 0; t < b.x; t++)
                    ts.emplace_back([=] {
                        threadIdx = {t, 0, 0};
                        blockIdx = {x, y, z};
                        f(args...);
                    });
                for (auto &t : ts)
                    t.join();
            }
}
