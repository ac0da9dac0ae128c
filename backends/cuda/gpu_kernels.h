/* gpu_kernels.h — the one interface between the CUDA/HIP host code
 * (gpu_backend.c, C) and the kernels (gpu_kernels.cu, built by nvcc for
 * CUDA and by hipcc for HIP from the same source). Plain C, so both sides
 * include it.
 *
 * The semantics of each kernel are those of the Vulkan shaders of the same
 * name in shaders/ (read them): same ops, same operand slots, same
 * parameters, same rounding and saturation, with device pointers in place
 * of descriptor offsets. Every operand is addressed as
 *   data + i0 * nb[0] + i1 * nb[1] + i2 * nb[2] + i3 * nb[3]
 * in elements of its dtype (strides are 0 on broadcast dims), except a
 * block-quantized operand (PCE_GPU_Q*: a weight, read in its blocks), whose
 * strides are in bytes and whose dim along its rows of blocks has the
 * stride of one block (see MATMUL and GET_ROWS). */
#ifndef PCE_GPU_KERNELS_H
#define PCE_GPU_KERNELS_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Dtype codes: pce_dtype's values (the Q* are GGUF's block-quantized
 * formats, core/quant.h). */
enum {
    PCE_GPU_F32 = 0,
    PCE_GPU_F16 = 1,
    PCE_GPU_BF16 = 2,
    PCE_GPU_I32 = 3,
    PCE_GPU_I8 = 4,
    PCE_GPU_Q8_0 = 5,
    PCE_GPU_Q4_0 = 6,
    PCE_GPU_Q4_1 = 7,
    PCE_GPU_Q5_0 = 8,
    PCE_GPU_Q5_1 = 9,
    PCE_GPU_Q4_K = 10,
    PCE_GPU_Q5_K = 11,
    PCE_GPU_Q6_K = 12
};

typedef enum pce_gpu_kernel {
    /* D = A op B, broadcast by zero strides; A, B, D one float dtype.
     * op: 0 add, 1 sub, 2 mul, 3 div, 4 swiglu (silu(A) * B). */
    PCE_GPU_BINARY = 0,
    /* D = f(A). op: 0 copy/cast (any dtype pair: float <-> float, float ->
     * int rounds to nearest even and saturates, NaN -> 0; same dtype copies
     * the bits), 1 scale (fp[0]), 2 neg, 3 abs, 4 sqr, 5 sqrt, 6 exp, 7 tanh,
     * 8 relu, 9 gelu (tanh form), 10 gelu_erf, 11 silu, 12 causal mask
     * (-inf where i3 > i2 + ip[0]). */
    PCE_GPU_UNARY,
    /* Over the last dim of A (ne is A's shape), D has last dim 1.
     * op: 0 sum, 1 mean, 2 max, 3 argmax (D is i32, first index of the max). */
    PCE_GPU_REDUCE,
    /* op: 0 RMS norm, 1 layer norm over the last dim; fp[0] eps; t[1]
     * weight and t[2] bias: data NULL when absent, own float dtype, stride
     * along the row nb[3]. */
    PCE_GPU_NORM,
    /* softmax(A * fp[0] + B) over the last dim; t[1] (mask, f32 or A's
     * dtype) data NULL when absent; a row masked everywhere gives zeros. */
    PCE_GPU_SOFTMAX,
    /* Rotary embedding of A [.., T, H, D] (ne = A's shape); t[1] pos i32
     * indexed by i1 (stride nb[3]); rope_tab: per pair i two words (hi, lo)
     * of the 64-bit fixed-point turn fraction (see shaders/rope.comp);
     * ip[0] n_rot, ip[1] mode (0 pairs (2i, 2i+1), 1 pairs (i, i+n_rot/2)).
     * May run in place (D == A). */
    PCE_GPU_ROPE,
    /* D[i, :] = A[ids[i], :] (ne = D's shape, canonical [1, 1, N, D]); t[1]
     * ids i32 (stride nb[3]); ip[0] rows of A; a bad id writes zeros and
     * records the error (ip[1] is the node). A may be block-quantized: its
     * rows (nb[2], bytes) are whole blocks, dequantized exactly as
     * core/quant.c does (bit for bit). */
    PCE_GPU_GET_ROWS,
    /* Checks t[1] ids (n of them, stride nb[3]) against [0, ip[0]); records
     * the first bad one (node ip[1]). */
    PCE_GPU_IDS_CHECK,
    /* D[ids[i], :] = A[i, :] (ne = A's shape); t[2] ids (stride nb[3]);
     * ip[0] rows of D; writes nothing once err[0] != 0. */
    PCE_GPU_SET_ROWS,
    /* D[b, m, n] = sum_k A[b, m, k] B[b, k, n] in f32; ne = D's shape
     * (batch0, batch1, M, N); ip[0] = K; A, B any float dtypes; D f32.
     * B may be block-quantized, a transposed weight (x w^T): k runs along
     * its rows of blocks (K a multiple of the block's weights), nb[3]
     * between rows and nb[0], nb[1] batch, in bytes; the start and strides
     * a multiple of 4 for blocks of 20, 24, 144 and 176 bytes, else of 2.
     * Then op 0 picks the kernel by M (matrix-vector up to 8 rows of A,
     * else 64x64 tiles), 1 forces the matrix-vector one, 2 the tiles. */
    PCE_GPU_MATMUL,
    /* D[b, i] = sum_k X[b, i, k] V[b, k]: X = t[0] with strides (batch0,
     * batch1, i, k), V = t[1] with batch strides nb[0], nb[1] and k stride
     * nb[3]; D = t[3] with batch strides nb[0], nb[1] and i stride nb[2];
     * ne = (batch0, batch1, outputs, 1); ip[0] = K. For M = 1 or N = 1. */
    PCE_GPU_GEMV,
    PCE_GPU_KERNEL_COUNT
} pce_gpu_kernel;

typedef struct pce_gpu_tensor {
    void *data; /* device address of element (0, 0, 0, 0); NULL: absent */
    int dtype;  /* PCE_GPU_* */
    int64_t nb[4];
} pce_gpu_tensor;

typedef struct pce_gpu_launch {
    int kernel; /* pce_gpu_kernel */
    int op;
    int64_t ne[4];       /* iteration shape, see each kernel */
    int64_t n;           /* items: elements (or ids for IDS_CHECK) */
    pce_gpu_tensor t[4]; /* 0 A, 1 B, 2 C, 3 D */
    int32_t ip[4];
    float fp[4];
    uint32_t *err;            /* device error record: [0] flag, [1] node, [2] position, [3] value */
    const uint32_t *rope_tab; /* device, for ROPE */
} pce_gpu_launch;

/* Whether a kernel exists for this launch's kernel and dtypes (1) or not (0). */
int pce_gpu_kernel_exists(const pce_gpu_launch *l);
/* Enqueues the kernel on `stream` (a cudaStream_t or hipStream_t). Grid-
 * stride kernels use at most max_blocks blocks. Returns 0, or the runtime's
 * error code (cudaError_t / hipError_t) of the launch. */
int pce_gpu_kernel_launch(const pce_gpu_launch *l, void *stream, int max_blocks);
/* The runtime's name of an error code from pce_gpu_kernel_launch. */
const char *pce_gpu_error_name(int code);

#ifdef __cplusplus
}
#endif
#endif
