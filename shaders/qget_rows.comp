#version 450
#extension GL_GOOGLE_include_directive : require
// get_rows from a block-quantized table: dst[i, :] = table[ids[i], :]
// dequantized exactly (quant.glsl, as core/quant.c). One item per group of
// 8 weights of a destination row: pc.n = rows x D / 8, pc.ne is dst's
// shape. Table, binding 0: off[0] and nb[2] (between rows) in bytes; ids,
// binding 1 (i32): off[1], nb[7]. ip[0] table rows, ip[1] node index for
// the error record; an id out of range is reported and its row written as
// zeros.
#include "common.glsl"
layout(local_size_x_id = 0) in;
layout(std430, binding = 1) readonly buffer BufIds { int ids_[]; };
#define Q_BINDING 0
#include "quant.glsl"

void item(uint i)
{
    uint gpr = pc.ne[3] >> 3;
    uint r = i / gpr, g = i % gpr, it = g >> 2, p = g & 3u;
    int id = ids_[pc.off[1] + r * uint(pc.nb[7])];
    uint klo = 32u * it + q_pos_lo(p), khi = 32u * it + q_pos_hi(p);
    if (id < 0 || id >= pc.ip[0]) {
        if (g == 0u)
            report_error(pc.ip[1], r, id);
        [[unroll]] for (uint j = 0u; j < 4u; j++) {
            STORE_D(at(3, uvec4(0u, 0u, r, klo + j)), 0.0);
            STORE_D(at(3, uvec4(0u, 0u, r, khi + j)), 0.0);
        }
        return;
    }
    qgroup q = q_group(pc.off[0] + uint(id) * uint(pc.nb[2]), it, p);
    [[unroll]] for (uint j = 0u; j < 4u; j++) {
        STORE_D(at(3, uvec4(0u, 0u, r, klo + j)), q_deq(q, false, j));
        STORE_D(at(3, uvec4(0u, 0u, r, khi + j)), q_deq(q, true, j));
    }
}

void main()
{
    for (uint i = ITEM_INDEX; i < pc.n; i += ITEM_STRIDE)
        item(i);
}
