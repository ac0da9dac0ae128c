#version 450
#extension GL_GOOGLE_include_directive : require
// Elementwise a (op) b with broadcasting (zero strides), one item per
// destination element. OP: 0 add, 1 sub, 2 mul, 3 div, 4 swiglu (silu(a) * b).
// ip[2] = 1: every operand is contiguous with the destination's shape.
#include "common.glsl"
layout(local_size_x_id = 0) in;

void item(uint i)
{
    uint ia, ib, id;
    if (pc.ip[2] != 0) { // all contiguous, same shape: no index arithmetic
        ia = pc.off[0] + i;
        ib = pc.off[1] + i;
        id = pc.off[3] + i;
    } else {
        uvec4 c = coords(i);
        ia = at(0, c);
        ib = at(1, c);
        id = at(3, c);
    }
    float x = LOAD_A(ia), y = LOAD_B(ib), v;
    switch (OP) {
    case 0: v = x + y; break;
    case 1: v = x - y; break;
    case 2: v = x * y; break;
    case 3: v = x / y; break;
    default: v = x / (1.0 + exp(-x)) * y; break;
    }
    STORE_D(id, v);
}

#if A_DT == DT_F32 && B_DT == DT_F32 && D_DT == DT_F32
// ip[2] = 2: also every offset is a multiple of 4, so whole vec4s move (a
// quarter of the accesses; what lavapipe and wide GPU loads both like).
layout(std430, binding = 0) readonly buffer BufA4 { vec4 a4_[]; };
layout(std430, binding = 1) readonly buffer BufB4 { vec4 b4_[]; };
layout(std430, binding = 3) buffer BufD4 { vec4 d4_[]; };

bool vec4_items()
{
    if (pc.ip[2] != 2)
        return false;
    uint n4 = pc.n / 4u;
    for (uint i = ITEM_INDEX; i < n4; i += ITEM_STRIDE) {
        vec4 x = a4_[pc.off[0] / 4u + i], y = b4_[pc.off[1] / 4u + i], v;
        switch (OP) {
        case 0: v = x + y; break;
        case 1: v = x - y; break;
        case 2: v = x * y; break;
        case 3: v = x / y; break;
        default: v = x / (1.0 + exp(-x)) * y; break;
        }
        d4_[pc.off[3] / 4u + i] = v;
    }
    for (uint i = n4 * 4u + ITEM_INDEX; i < pc.n; i += ITEM_STRIDE)
        item(i);
    return true;
}
#else
bool vec4_items()
{
    return false;
}
#endif

void main()
{
    if (vec4_items())
        return;
    for (uint i = ITEM_INDEX; i < pc.n; i += ITEM_STRIDE)
        item(i);
}
