#version 450
#extension GL_GOOGLE_include_directive : require
// Checks ids (binding 1, i32) against [0, ip[0]) before set_rows writes
// anything; ip[1] is the node index for the error record.
#include "common.glsl"
layout(local_size_x_id = 0) in;
layout(std430, binding = 1) readonly buffer BufIds { int ids_[]; };

void item(uint i)
{
    int id = ids_[pc.off[1] + i * uint(pc.nb[7])];
    if (id < 0 || id >= pc.ip[0])
        report_error(pc.ip[1], i, id);
}

void main()
{
    for (uint i = ITEM_INDEX; i < pc.n; i += ITEM_STRIDE)
        item(i);
}
