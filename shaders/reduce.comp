#version 450
#extension GL_GOOGLE_include_directive : require
// Reductions over the last dim, one workgroup per row. pc.ne is the
// source's shape, pc.n the number of rows. OP: 0 sum, 1 mean, 2 max,
// 3 argmax (D is i32; the first index of the maximum).
#include "common.glsl"
layout(local_size_x_id = 0) in;
#include "rowreduce.glsl"

shared uint arg_[gl_WorkGroupSize.x / SG_MIN];

void main()
{
    uint row = group_index();
    if (row >= pc.n)
        return;
    uvec4 c = coords(row * pc.ne[3]);
    uint D = pc.ne[3];
    uint tid = gl_LocalInvocationID.x;
    if (OP <= 1) {
        float s = 0.0;
        for (uint j = tid; j < D; j += gl_WorkGroupSize.x)
            s += LOAD_A(at(0, uvec4(c.xyz, j)));
        s = wg_sum(s);
        if (tid == 0u)
            STORE_D(at(3, c), OP == 1 ? s / float(D) : s);
        return;
    }
    float m = uintBitsToFloat(0xff800000u);
    uint arg = 0xffffffffu;
    for (uint j = tid; j < D; j += gl_WorkGroupSize.x) {
        float x = LOAD_A(at(0, uvec4(c.xyz, j)));
        if (x > m || arg == 0xffffffffu) {
            m = x;
            arg = j;
        }
    }
    float gm = wg_max(m);
    if (OP == 2) {
        if (tid == 0u)
            STORE_D(at(3, c), gm);
        return;
    }
    // argmax: the smallest index holding the maximum
    uint cand = m == gm ? arg : 0xffffffffu;
    cand = subgroupMin(cand);
    if (subgroupElect())
        arg_[gl_SubgroupID] = cand;
    barrier();
    if (tid == 0u) {
        uint best = arg_[0];
        for (uint s = 1u; s < gl_NumSubgroups; s++)
            best = min(best, arg_[s]);
#if D_DT == DT_I32
        d_[at(3, c)] = int(best == 0xffffffffu ? 0u : best);
#else
        STORE_D(at(3, c), float(best == 0xffffffffu ? 0u : best));
#endif
    }
}
