#version 450
#extension GL_GOOGLE_include_directive : require
// D[b, m, n] = sum_k A[b, m, k] W[b, n, k] with W block-quantized (quant.glsl),
// for M > 1: matmul.comp's 64x64 tiles of D per workgroup of 256
// invocations, each a 4x4 block, K in steps of 32 (one item of W). Each
// step every invocation dequantizes one group of 8 weights of one row of
// W, exactly (as core/quant.c), into shared memory, so W is read once per
// tile and never copied out dequantized.
// Push constants: ne = D's shape (batch0, batch1, M, N), ip[0] = K (a
// multiple of 32), ip[1] bit 0: A is contiguous along k. A, binding 0:
// off[0], nb[0..3] = (batch0, batch1, m, k) in elements. W, binding 1:
// off[1], nb[4], nb[5] batch, nb[7] between rows, in bytes. D: off[3],
// nb[12..15].
#include "common.glsl"
layout(local_size_x = 256) in;
#define Q_BINDING 1
#include "quant.glsl"

#define BM 64
#define BN 64
#define BK 32

shared vec4 As[BK][BM / 4]; // As[k][r] = A rows 4r..4r+3 at column k
shared vec4 Bs[BK][BN / 4]; // Bs[k][c] = W rows 4c..4c+3 at column k

void main()
{
    uint M = pc.ne[2], N = pc.ne[3], K = uint(pc.ip[0]);
    uint bz = gl_WorkGroupID.z;
    uint b0 = bz / pc.ne[1], b1 = bz % pc.ne[1];
    uint m0 = gl_WorkGroupID.y * BM, n0 = gl_WorkGroupID.x * BN;
    uint tid = gl_LocalInvocationID.x;
    uint tx = tid % 16u, ty = tid / 16u;
    int abase = int(pc.off[0]) + int(b0) * pc.nb[0] + int(b1) * pc.nb[1];
    uint wb = pc.off[1] + b0 * uint(pc.nb[4]) + b1 * uint(pc.nb[5]);
    bool a_kfast = (pc.ip[1] & 1) != 0;
    // this invocation's group of W: row n0 + wn, group wp of each item
    uint wn = tid >> 2, wp = tid & 3u, gn = n0 + wn;
    uint rb = wb + gn * uint(pc.nb[7]);
    uint plo = q_pos_lo(wp), phi = q_pos_hi(wp);

    vec4 acc[4] = vec4[4](vec4(0.0), vec4(0.0), vec4(0.0), vec4(0.0));

    for (uint k0 = 0u; k0 < K; k0 += BK) {
        [[unroll]] for (uint l = 0u; l < 8u; l++) {
            uint e = tid + l * 256u;
            uint am, ak;
            if (a_kfast) {
                am = e / BK;
                ak = e % BK;
            } else {
                am = e % BM;
                ak = e / BM;
            }
            uint gm = m0 + am;
            As[ak][am / 4u][am % 4u] =
                gm < M ? LOAD_A(uint(abase + int(gm) * pc.nb[2] + int(k0 + ak) * pc.nb[3])) : 0.0;
        }
        if (gn < N) {
            qgroup q = q_group(rb, k0 / 32u, wp);
            [[unroll]] for (uint i = 0u; i < 4u; i++) {
                Bs[plo + i][wn / 4u][wn % 4u] = q_deq(q, false, i);
                Bs[phi + i][wn / 4u][wn % 4u] = q_deq(q, true, i);
            }
        } else {
            [[unroll]] for (uint i = 0u; i < 4u; i++) {
                Bs[plo + i][wn / 4u][wn % 4u] = 0.0;
                Bs[phi + i][wn / 4u][wn % 4u] = 0.0;
            }
        }
        barrier();
        [[unroll]] for (uint k = 0u; k < BK; k++) {
            vec4 a = As[k][ty], b = Bs[k][tx];
            acc[0] = fma(vec4(a.x), b, acc[0]);
            acc[1] = fma(vec4(a.y), b, acc[1]);
            acc[2] = fma(vec4(a.z), b, acc[2]);
            acc[3] = fma(vec4(a.w), b, acc[3]);
        }
        barrier();
    }
    [[unroll]] for (uint i = 0u; i < 4u; i++) {
        uint m = m0 + 4u * ty + i;
        [[unroll]] for (uint j = 0u; j < 4u; j++) {
            uint n = n0 + 4u * tx + j;
            if (m < M && n < N)
                STORE_D(at(3, uvec4(b0, b1, m, n)), acc[i][j]);
        }
    }
}
