#version 450
#extension GL_GOOGLE_include_directive : require
// Matrix-vector product with a block-quantized weight, for decode (M = 1)
// and a few rows of X (M up to 8, a prompt of a few tokens): D[b, m, n] =
// sum_k X[b, m, k] W[b, n, k], W read in its blocks (quant.glsl), never
// dequantized to memory. One subgroup per QR rows of W: its invocations
// take the rows' groups of 8 weights in turn (neighbours read neighbouring
// bytes), each group decoded once for up to MX rows of X and each load of
// X serving the QR rows; the group's scale (and min) is folded into one
// multiply-add per group, and a subgroup sum ends the rows, so there are no
// barriers. A workgroup takes ip[1] consecutive rows of W (its subgroups
// loop over them); x and y spread the workgroups, z the batch times the
// ip[2] chunks of XR (the OP constant, at most MX) rows of X.
// Push constants: ne = D's shape (batch0, batch1, M, N), ip[0] = K (a
// multiple of 32). X, binding 0: off[0], nb[0..3] = (batch0, batch1, m, k)
// in elements. W, binding 1: off[1] and nb[4], nb[5] batch, nb[7] between
// rows, all in bytes. D: off[3], nb[12..15].
#include "common.glsl"
layout(local_size_x_id = 0) in;
#extension GL_KHR_shader_subgroup_arithmetic : enable
#extension GL_KHR_shader_subgroup_basic : enable
#define Q_BINDING 1
#include "quant.glsl"

#define QR 4 // rows of W per subgroup at once (QGEMV_ROWS in vk_segment.c)
#define MX 4 // rows of X per workgroup at most (QGEMV_XROWS in vk_segment.c)
// rows of X per workgroup, 1..MX: the OP specialization constant, so that
// the loops over them unroll and M = 1 pays nothing for the others
const uint XR = uint(OP);
// groups of 8 weights an invocation takes at a time, all of one item: the
// K-quants' heads (6-bit scales and mins) cost more to read than a group
#ifndef QG
#define QG (QT >= 10 ? 2u : 1u)
#endif

void main()
{
    uint rows = uint(pc.ip[1]), N = pc.ne[3], chunks = uint(pc.ip[2]);
    uint row0 = group_index() * rows;
    uint bz = gl_WorkGroupID.z / chunks, m0 = gl_WorkGroupID.z % chunks * XR;
    uint xn = min(XR, pc.ne[2] - m0); // rows of X here
    uint b0 = bz / pc.ne[1], b1 = bz % pc.ne[1];
    uint groups = uint(pc.ip[0]) >> 3;
    int xb = int(pc.off[0]) + int(b0) * pc.nb[0] + int(b1) * pc.nb[1] + int(m0) * pc.nb[2];
    int xm = pc.nb[2], xk = pc.nb[3];
    uint wb = pc.off[1] + b0 * uint(pc.nb[4]) + b1 * uint(pc.nb[5]);
    for (uint r = gl_SubgroupID * QR; r < rows; r += gl_NumSubgroups * QR) {
        uint row = row0 + r;
        if (row >= N)
            break;
        uint rb[QR];
        [[unroll]] for (uint i = 0u; i < QR; i++)
            rb[i] = wb + min(row + i, N - 1u) * uint(pc.nb[7]); // past N: computed, not stored
        vec4 s[MX]; // s[m][i]: row m of X, row + i of W
        [[unroll]] for (uint m = 0u; m < XR; m++)
            s[m] = vec4(0.0);
        for (uint u = gl_SubgroupInvocationID; u < groups / QG; u += gl_SubgroupSize) {
            uint it = (u * QG) >> 2, p0 = (u * QG) & 3u;
            qhead hd[QR];
            [[unroll]] for (uint i = 0u; i < QR; i++)
                hd[i] = q_head(rb[i], it);
            [[unroll]] for (uint pp = 0u; pp < QG; pp++) {
                uint p = p0 + pp;
                qgroup q[QR];
                [[unroll]] for (uint i = 0u; i < QR; i++)
                    q[i] = q_group_in(hd[i], p);
                int kl = xb + int(32u * it + q_pos_lo(p)) * xk;
                int kh = xb + int(32u * it + q_pos_hi(p)) * xk;
                [[unroll]] for (uint m = 0u; m < XR; m++) {
                    if (m >= xn)
                        break;
                    int ml = kl + int(m) * xm, mh = kh + int(m) * xm;
                    vec4 xl = vec4(LOAD_A(uint(ml)), LOAD_A(uint(ml + xk)),
                                   LOAD_A(uint(ml + 2 * xk)), LOAD_A(uint(ml + 3 * xk)));
                    vec4 xh = vec4(LOAD_A(uint(mh)), LOAD_A(uint(mh + xk)),
                                   LOAD_A(uint(mh + 2 * xk)), LOAD_A(uint(mh + 3 * xk)));
#if Q_HAS_MIN
                    float xs = dot(xl + xh, vec4(1.0));
#endif
                    [[unroll]] for (uint i = 0u; i < QR; i++) {
                        s[m][i] = fma(q[i].sc, dot(xl, q[i].lo) + dot(xh, q[i].hi), s[m][i]);
#if Q_HAS_MIN
                        s[m][i] = fma(q[i].mn, xs, s[m][i]);
#endif
                    }
                }
            }
        }
        int db = int(pc.off[3]) + int(b0) * pc.nb[12] + int(b1) * pc.nb[13];
        [[unroll]] for (uint m = 0u; m < XR; m++) {
            if (m >= xn)
                break;
            vec4 t = subgroupAdd(s[m]);
            if (subgroupElect()) {
                [[unroll]] for (uint i = 0u; i < QR; i++)
                    if (row + i < N)
                        STORE_D(uint(db + int(m0 + m) * pc.nb[14] + int(row + i) * pc.nb[15]),
                                t[i]);
            }
        }
    }
}
