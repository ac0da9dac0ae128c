#version 450
#extension GL_GOOGLE_include_directive : require
// Matrix-vector product for decode (M = 1) and N = 1: D[b, i] =
// sum_k X[b, i, k] V[b, k]. X is binding 0 with strides nb[0..3] =
// (batch0, batch1, i, k); V is binding 1 with nb[4], nb[5] batch and nb[7]
// along k; D's strides nb[12], nb[13] batch and nb[14] along i. pc.ne =
// (batch0, batch1, outputs, -), ip[0] = K, ip[1] = outputs per workgroup
// (row layout) or invocations side by side (column layout), ip[2] = chunks
// of batch1 (VR below). The OP specialization constant (vk_segment.c's
// GEMV_*) picks the layout and sizes, so each pipeline runs one of them:
//   bits 0-2 VR, rows of V (batch1 indices) per workgroup, 1..4: where X
//            is broadcast over batch1 (nb[1] = 0: grouped-query attention,
//            several query heads on one KV head) each load of X serves VR
//            vectors; z spreads batch0 times ip[2] chunks of VR.
//   bits 3-5 R, outputs per subgroup (row layout) or per invocation
//            (column layout), 1..4.
//   bit 6    column layout, for X contiguous along i (probs · V): each
//            invocation R neighbouring outputs over K, ip[1] invocations
//            side by side; with bit 9 the rest of the workgroup splits K
//            with them, the slices summed in shared memory (one barrier;
//            for GPUs: a CPU implementation pays more for the barrier).
//            Otherwise the row layout, for X contiguous along k (a weight,
//            the K cache): one subgroup per R outputs, its invocations
//            splitting K, each load of V serving the R rows of X, a
//            subgroup sum and no barriers; a workgroup's subgroups take its
//            ip[1] outputs in turn.
//   bit 7    X read several elements a load: row layout, W along k (V
//            too); column layout, the R = 4 outputs as one.
//   bit 8    column layout: V read 8 elements along k a load.
//   bit 9    column layout: K split across the workgroup (above).
// The host sets the wide bits only where offsets and strides allow.
#include "common.glsl"
layout(local_size_x_id = 0) in;
#extension GL_KHR_shader_subgroup_arithmetic : enable
#extension GL_KHR_shader_subgroup_basic : enable

const uint VR = uint(OP) & 7u;
const uint R = (uint(OP) >> 3) & 7u;
const bool COLS = (uint(OP) & 64u) != 0u;
const bool WIDE = (uint(OP) & 128u) != 0u;
const bool VWIDE = (uint(OP) & 256u) != 0u;
const bool SPLIT = (uint(OP) & 512u) != 0u;

// Reads of 16 bytes (8 bytes for 4 elements of 16 bits) from element e:
// LOAD_A4 4 elements (e a multiple of 4), LOAD_AW the row layout's W (one
// read of X: 4 of f32, 8 of f16/bf16), LOAD_BW W of V, LOAD_B8 8 of V.
#if A_DT == DT_F32
const uint W = 4u;
layout(std430, binding = 0) readonly buffer BufA4 { vec4 a4_[]; };
#define LOAD_A4(e) a4_[(e) >> 2]
#define LOAD_AW(e, lo, hi) lo = a4_[(e) >> 2]
#else
const uint W = 8u;
layout(std430, binding = 0) readonly buffer BufA4 { uvec2 a4_[]; };
layout(std430, binding = 0) readonly buffer BufA8 { uvec4 a8_[]; };
#define LOAD_A4(e) unpack4(a4_[(e) >> 2], A_DT)
#define LOAD_AW(e, lo, hi) unpack8(a8_[(e) >> 3], A_DT, lo, hi)
#endif
#if B_DT == DT_F32
layout(std430, binding = 1) readonly buffer BufB4 { vec4 b4_[]; };
#define LOAD_B8(e, lo, hi) lo = b4_[(e) >> 2], hi = b4_[((e) >> 2) + 1u]
#if A_DT == DT_F32
#define LOAD_BW(e, lo, hi) lo = b4_[(e) >> 2]
#else
#define LOAD_BW(e, lo, hi) LOAD_B8(e, lo, hi)
#endif
#else
layout(std430, binding = 1) readonly buffer BufB4 { uvec2 b4_[]; };
layout(std430, binding = 1) readonly buffer BufB8 { uvec4 b8_[]; };
#define LOAD_B8(e, lo, hi) unpack8(b8_[(e) >> 3], B_DT, lo, hi)
#if A_DT == DT_F32
#define LOAD_BW(e, lo, hi) lo = unpack4(b4_[(e) >> 2], B_DT)
#else
#define LOAD_BW(e, lo, hi) LOAD_B8(e, lo, hi)
#endif
#endif

vec4 unpack4(uvec2 w, int dt)
{
    if (dt == DT_F16)
        return vec4(unpackHalf2x16(w.x), unpackHalf2x16(w.y));
    return uintBitsToFloat(uvec4(w.x << 16, w.x & 0xffff0000u, w.y << 16, w.y & 0xffff0000u));
}

void unpack8(uvec4 w, int dt, out vec4 lo, out vec4 hi)
{
    lo = unpack4(w.xy, dt);
    hi = unpack4(w.zw, dt);
}

shared vec4 red_[COLS && SPLIT ? gl_WorkGroupSize.x * VR : 1u];

// column layout: outputs i + j (X at xr[j]) gain X[., k] v[m] (X at + xo)
void col_step(inout vec4 s[4], int xr[4], int xo, float v[4])
{
    if (WIDE) { // R = 4, X contiguous along i
        vec4 x = LOAD_A4(uint(xr[0] + xo));
        [[unroll]] for (uint m = 0u; m < VR; m++)
            s[m] = fma(x, vec4(v[m]), s[m]);
    } else {
        [[unroll]] for (uint j = 0u; j < R; j++) {
            float x = LOAD_A(uint(xr[j] + xo));
            [[unroll]] for (uint m = 0u; m < VR; m++)
                s[m][j] = fma(x, v[m], s[m][j]);
        }
    }
}

void main()
{
    uint N = pc.ne[2], K = uint(pc.ip[0]), chunks = uint(pc.ip[2]);
    uint b0 = gl_WorkGroupID.z / chunks, m0 = gl_WorkGroupID.z % chunks * VR;
    uint vn = min(VR, pc.ne[1] - m0); // vectors here
    // VR > 1 only where X's batch1 stride is 0
    int xb = int(pc.off[0]) + int(b0) * pc.nb[0] + int(m0) * pc.nb[1];
    int vb = int(pc.off[1]) + int(b0) * pc.nb[4] + int(m0) * pc.nb[5];
    int db = int(pc.off[3]) + int(b0) * pc.nb[12] + int(m0) * pc.nb[13];
    int xi = pc.nb[2], xk = pc.nb[3], vm = pc.nb[5], vk = pc.nb[7];
    if (COLS) {
        uint C = uint(pc.ip[1]), slices = SPLIT ? gl_WorkGroupSize.x / C : 1u;
        uint l = gl_LocalInvocationID.x, c = l % C, sl = l / C;
        uint i = (group_index() * C + c) * R; // outputs i .. i + R - 1
        vec4 s[4];                            // s[m][j]: vector m, output i + j
        [[unroll]] for (uint m = 0u; m < VR; m++)
            s[m] = vec4(0.0);
        if (i < N && sl < slices) {
            int xr[4];
            [[unroll]] for (uint j = 0u; j < R; j++)
                xr[j] = xb + int(min(i + j, N - 1u)) * xi;
            // V read 8 at a time: blocks of 8 k's in turn across the slices
            uint k8 = VWIDE ? K & ~7u : 0u;
            for (uint k0 = sl * 8u; k0 < k8; k0 += slices * 8u) {
                vec4 vl[4], vh[4];
                [[unroll]] for (uint m = 0u; m < VR; m++)
                    LOAD_B8(uint(vb + int(min(m, vn - 1u)) * vm) + k0, vl[m], vh[m]);
                [[unroll]] for (uint t = 0u; t < 8u; t++) {
                    float v[4];
                    [[unroll]] for (uint m = 0u; m < VR; m++)
                        v[m] = t < 4u ? vl[m][t] : vh[m][t - 4u];
                    col_step(s, xr, int(k0 + t) * xk, v);
                }
            }
            for (uint k = k8 + sl; k < K; k += slices) {
                float v[4];
                [[unroll]] for (uint m = 0u; m < VR; m++)
                    v[m] = LOAD_B(uint(vb + int(min(m, vn - 1u)) * vm + int(k) * vk));
                col_step(s, xr, int(k) * xk, v);
            }
        }
        // the slices' sums through shared memory (all invocations get here)
        if (SPLIT) {
            [[unroll]] for (uint m = 0u; m < VR; m++)
                red_[m * gl_WorkGroupSize.x + l] = s[m];
            barrier();
        }
        if (sl == 0u && i < N) {
            [[unroll]] for (uint m = 0u; m < VR; m++) {
                if (m >= vn)
                    break;
                vec4 t = s[m];
                if (SPLIT)
                    for (uint u = 1u; u < slices; u++)
                        t += red_[m * gl_WorkGroupSize.x + u * C + c];
                [[unroll]] for (uint j = 0u; j < R; j++)
                    if (i + j < N)
                        STORE_D(uint(db + int(m) * pc.nb[13] + int(i + j) * pc.nb[14]), t[j]);
            }
        }
        return;
    }
    uint rows = uint(pc.ip[1]), row0 = group_index() * rows;
    for (uint r = gl_SubgroupID * R; r < rows; r += gl_NumSubgroups * R) {
        uint row = row0 + r;
        if (row >= N)
            break;
        int xr[4];
        [[unroll]] for (uint j = 0u; j < R; j++)
            xr[j] = xb + int(min(row + j, N - 1u)) * xi; // past N: computed, not stored
        vec4 s[4]; // s[m][j]: vector m, output row + j
        [[unroll]] for (uint m = 0u; m < VR; m++)
            s[m] = vec4(0.0);
        uint k0 = 0u;
        if (WIDE) {
            k0 = K / W * W;
            for (uint e = gl_SubgroupInvocationID * W; e < k0; e += gl_SubgroupSize * W) {
                vec4 vl[4], vh[4];
                [[unroll]] for (uint m = 0u; m < VR; m++)
                    LOAD_BW(uint(vb + int(min(m, vn - 1u)) * vm) + e, vl[m], vh[m]);
                [[unroll]] for (uint j = 0u; j < R; j++) {
                    vec4 xl, xh;
                    LOAD_AW(uint(xr[j]) + e, xl, xh);
                    [[unroll]] for (uint m = 0u; m < VR; m++)
                        s[m][j] += W == 4u ? dot(xl, vl[m]) : dot(xl, vl[m]) + dot(xh, vh[m]);
                }
            }
        }
        for (uint k = k0 + gl_SubgroupInvocationID; k < K; k += gl_SubgroupSize) {
            float v[4];
            [[unroll]] for (uint m = 0u; m < VR; m++)
                v[m] = LOAD_B(uint(vb + int(min(m, vn - 1u)) * vm + int(k) * vk));
            [[unroll]] for (uint j = 0u; j < R; j++) {
                float x = LOAD_A(uint(xr[j] + int(k) * xk));
                [[unroll]] for (uint m = 0u; m < VR; m++)
                    s[m][j] = fma(x, v[m], s[m][j]);
            }
        }
        // the sums, then one output per invocation (not all by one)
        vec4 t[4];
        [[unroll]] for (uint m = 0u; m < VR; m++)
            t[m] = m < vn ? subgroupAdd(s[m]) : vec4(0.0);
        for (uint q = gl_SubgroupInvocationID; q < vn * R; q += gl_SubgroupSize) {
            uint m = q / R, j = q % R;
            float o = 0.0;
            [[unroll]] for (uint mm = 0u; mm < VR; mm++)
                [[unroll]] for (uint jj = 0u; jj < R; jj++)
                    o = q == mm * R + jj ? t[mm][jj] : o;
            if (row + j < N)
                STORE_D(uint(db + int(m) * pc.nb[13] + int(row + j) * pc.nb[14]), o);
        }
    }
}
