#version 450
#extension GL_GOOGLE_include_directive : require
// dst[i, :] = table[ids[i], :]; one item per destination element (pc.ne is
// dst's shape). ip[0] table rows, ip[1] node index for the error record.
// An id out of range is reported and its row written as zeros.
#include "common.glsl"
layout(local_size_x_id = 0) in;
layout(std430, binding = 1) readonly buffer BufIds { int ids_[]; };

void item(uint i)
{
    uvec4 c = coords(i);
    int id = ids_[pc.off[1] + c.z * uint(pc.nb[7])];
    float v = 0.0;
    if (id < 0 || id >= pc.ip[0]) {
        if (c.w == 0u)
            report_error(pc.ip[1], c.z, id);
    } else {
        v = LOAD_A(at(0, uvec4(0u, 0u, uint(id), c.w)));
    }
    STORE_D(at(3, c), v);
}

void main()
{
    for (uint i = ITEM_INDEX; i < pc.n; i += ITEM_STRIDE)
        item(i);
}
