#version 450
#extension GL_GOOGLE_include_directive : require
// softmax(x * fp[0] + mask) over the last dim, one workgroup per row. The
// mask (binding 1, broadcast by zero strides) is read with its own dtype
// ip[0], or absent when ip[0] is -1. A row masked everywhere gives zeros.
#define B_GENERIC
#include "common.glsl"
layout(local_size_x_id = 0) in;
#include "rowreduce.glsl"

float logit(uvec4 c, uint j)
{
    uvec4 e = uvec4(c.xyz, j);
    float v = LOAD_A(at(0, e)) * pc.fp[0];
    if (pc.ip[0] >= 0)
        v += load_b_any(pc.ip[0], at(1, e));
    return v;
}

void main()
{
    uint row = group_index();
    if (row >= pc.n)
        return;
    uvec4 c = coords(row * pc.ne[3]);
    uint D = pc.ne[3];
    uint tid = gl_LocalInvocationID.x;
    const float NEG_INF = uintBitsToFloat(0xff800000u);
    float m = NEG_INF;
    for (uint j = tid; j < D; j += gl_WorkGroupSize.x)
        m = max(m, logit(c, j));
    m = wg_max(m);
    float s = 0.0;
    if (m != NEG_INF)
        for (uint j = tid; j < D; j += gl_WorkGroupSize.x)
            s += exp(logit(c, j) - m);
    s = wg_sum(s);
    float inv = s > 0.0 ? 1.0 / s : 0.0;
    for (uint j = tid; j < D; j += gl_WorkGroupSize.x)
        STORE_D(at(3, uvec4(c.xyz, j)), s > 0.0 ? exp(logit(c, j) - m) * inv : 0.0);
}
