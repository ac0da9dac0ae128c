#version 450
#extension GL_GOOGLE_include_directive : require
// Elementwise a (op) b with broadcasting (zero strides), one item per
// destination element. OP: 0 add, 1 sub, 2 mul, 3 div, 4 swiglu (silu(a) * b).
#include "common.glsl"
layout(local_size_x_id = 0) in;

void main()
{
    uint i = item_index();
    if (i >= pc.n)
        return;
    uvec4 c = coords(i);
    float x = LOAD_A(at(0, c)), y = LOAD_B(at(1, c)), v;
    switch (OP) {
    case 0: v = x + y; break;
    case 1: v = x - y; break;
    case 2: v = x * y; break;
    case 3: v = x / y; break;
    default: v = x / (1.0 + exp(-x)) * y; break;
    }
    STORE_D(at(3, c), v);
}
