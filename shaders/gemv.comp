#version 450
#extension GL_GOOGLE_include_directive : require
// Matrix-vector product for decode (M = 1) and N = 1: D[b, i] =
// sum_k X[b, i, k] V[b, k], one workgroup per output (x and y spread the
// outputs, z the batch), the invocations splitting K. X is binding 0 with
// strides nb[0..3] = (batch0, batch1, i, k); V is binding 1 with nb[4],
// nb[5] batch and nb[7] along k; D's strides nb[12], nb[13] batch and
// nb[14] along i. pc.ne = (batch0, batch1, outputs, -), ip[0] = K.
#include "common.glsl"
layout(local_size_x_id = 0) in;
#include "rowreduce.glsl"

void main()
{
    uint row = group_index();
    if (row >= pc.ne[2])
        return;
    uint bz = gl_WorkGroupID.z;
    uint b0 = bz / pc.ne[1], b1 = bz % pc.ne[1];
    uint K = uint(pc.ip[0]);
    int xb = int(pc.off[0]) + int(b0) * pc.nb[0] + int(b1) * pc.nb[1] + int(row) * pc.nb[2];
    int vb = int(pc.off[1]) + int(b0) * pc.nb[4] + int(b1) * pc.nb[5];
    float s = 0.0;
    for (uint k = gl_LocalInvocationID.x; k < K; k += gl_WorkGroupSize.x)
        s = fma(LOAD_A(uint(xb + int(k) * pc.nb[3])), LOAD_B(uint(vb + int(k) * pc.nb[7])), s);
    s = wg_sum(s);
    if (gl_LocalInvocationID.x == 0u)
        STORE_D(uint(int(pc.off[3]) + int(b0) * pc.nb[12] + int(b1) * pc.nb[13] +
                     int(row) * pc.nb[14]),
                s);
}
