#version 450
#extension GL_GOOGLE_include_directive : require
// dst[ids[i], :] = src[i, :] (A is src, binding 2 the ids, D the dst); one
// item per source element (pc.ne is src's shape). ip[0] dst rows. Writes
// nothing once any error is recorded in this run, so a bad id leaves the
// destination (a persistent input such as a KV cache) untouched.
#include "common.glsl"
layout(local_size_x_id = 0) in;
layout(std430, binding = 2) readonly buffer BufIds { int ids_[]; };

void item(uint i)
{
    if (err_[0] != 0u)
        return;
    uvec4 c = coords(i);
    int id = ids_[pc.off[2] + c.z * uint(pc.nb[11])];
    if (id < 0 || id >= pc.ip[0])
        return;
    STORE_D(at(3, uvec4(0u, 0u, uint(id), c.w)), LOAD_A(at(0, c)));
}

void main()
{
    for (uint i = ITEM_INDEX; i < pc.n; i += ITEM_STRIDE)
        item(i);
}
