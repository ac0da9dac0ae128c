#version 450
#extension GL_GOOGLE_include_directive : require
// RMS norm (OP 0) and layer norm (OP 1) over the last dim, one workgroup
// per row. Weight (binding 1) and bias (binding 2) are read with their own
// dtype: ip[0] / ip[1] are their dtypes or -1 when absent; their strides
// along the row are nb[7] and nb[11]. fp[0] is eps.
#define B_GENERIC
#define C_GENERIC
#include "common.glsl"
layout(local_size_x_id = 0) in;
#include "rowreduce.glsl"

void main()
{
    uint row = group_index();
    if (row >= pc.n)
        return;
    uvec4 c = coords(row * pc.ne[3]);
    uint D = pc.ne[3];
    uint tid = gl_LocalInvocationID.x;
    float mean = 0.0;
    if (OP == 1) {
        float s = 0.0;
        for (uint j = tid; j < D; j += gl_WorkGroupSize.x)
            s += LOAD_A(at(0, uvec4(c.xyz, j)));
        mean = wg_sum(s) / float(D);
    }
    float ss = 0.0;
    for (uint j = tid; j < D; j += gl_WorkGroupSize.x) {
        float v = LOAD_A(at(0, uvec4(c.xyz, j))) - mean;
        ss += v * v;
    }
    float inv = inversesqrt(wg_sum(ss) / float(D) + pc.fp[0]);
    for (uint j = tid; j < D; j += gl_WorkGroupSize.x) {
        float v = (LOAD_A(at(0, uvec4(c.xyz, j))) - mean) * inv;
        if (pc.ip[0] >= 0)
            v *= load_b_any(pc.ip[0], pc.off[1] + j * uint(pc.nb[7]));
        if (pc.ip[1] >= 0)
            v += load_c_any(pc.ip[1], pc.off[2] + j * uint(pc.nb[11]));
        STORE_D(at(3, uvec4(c.xyz, j)), v);
    }
}
