#version 450
#extension GL_GOOGLE_include_directive : require
// D[b, m, n] = sum_k A[b, m, k] B[b, k, n] in f32, tiled through shared
// memory: a 64x64 tile of D per workgroup of 256 invocations, each a 4x4
// block of D (4 consecutive rows x 4 consecutive columns, so the inner loop
// is 2 vec4 loads from shared memory per 16 FMAs), K in steps of 16. pc.ne is D's shape (batch0, batch1, M, N), ip[0]
// is K; strides of A: nb[0..3] = (batch0, batch1, m, k), of B: nb[4..7] =
// (batch0, batch1, k, n), zero on broadcast batch dims. Tiles are loaded
// along whichever dim is contiguous in memory (ip[1] bit 0: A's k, bit 1:
// B's n), so transposed weights (y = x w^T) read coalesced too.
#include "common.glsl"
layout(local_size_x = 256) in;

#define BM 64
#define BN 64
#define BK 16

shared vec4 As[BK][BM / 4]; // As[k][r] = A rows 4r..4r+3 at column k
shared vec4 Bs[BK][BN / 4]; // Bs[k][c] = B columns 4c..4c+3 at row k

void main()
{
    uint M = pc.ne[2], N = pc.ne[3], K = uint(pc.ip[0]);
    uint bz = gl_WorkGroupID.z;
    uint b0 = bz / pc.ne[1], b1 = bz % pc.ne[1];
    uint m0 = gl_WorkGroupID.y * BM, n0 = gl_WorkGroupID.x * BN;
    uint tid = gl_LocalInvocationID.x;
    uint tx = tid % 16u, ty = tid / 16u;
    int abase = int(pc.off[0]) + int(b0) * pc.nb[0] + int(b1) * pc.nb[1];
    int bbase = int(pc.off[1]) + int(b0) * pc.nb[4] + int(b1) * pc.nb[5];
    bool a_kfast = (pc.ip[1] & 1) != 0, b_nfast = (pc.ip[1] & 2) != 0;

    vec4 acc[4] = vec4[4](vec4(0.0), vec4(0.0), vec4(0.0), vec4(0.0));

    for (uint k0 = 0u; k0 < K; k0 += BK) {
        [[unroll]] for (uint l = 0u; l < 4u; l++) {
            uint e = tid + l * 256u;
            uint am, ak;
            if (a_kfast) {
                am = e / BK;
                ak = e % BK;
            } else {
                am = e % BM;
                ak = e / BM;
            }
            uint gm = m0 + am, gk = k0 + ak;
            As[ak][am / 4u][am % 4u] =
                gm < M && gk < K ? LOAD_A(uint(abase + int(gm) * pc.nb[2] + int(gk) * pc.nb[3]))
                                 : 0.0;
            uint bk, bn;
            if (b_nfast) {
                bk = e / BN;
                bn = e % BN;
            } else {
                bk = e % BK;
                bn = e / BK;
            }
            uint gn = n0 + bn;
            gk = k0 + bk;
            Bs[bk][bn / 4u][bn % 4u] =
                gn < N && gk < K ? LOAD_B(uint(bbase + int(gk) * pc.nb[6] + int(gn) * pc.nb[7]))
                                 : 0.0;
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
