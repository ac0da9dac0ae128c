#version 450
#extension GL_GOOGLE_include_directive : require
// Rotary embedding; one item per element of x [.., T, H, D] (pc.ne). Items
// j < n_rot/2 rotate pair j, items j >= n_rot copy, the rest idle, so the
// op may run in place. pos (binding 1, i32) is indexed by the token (dim 1).
// Binding 2 holds per pair i the 64-bit fixed-point fraction of a turn that
// theta_base^(-2i/n_rot) radians is (hi word, lo word), made on the host in
// double: pos * fraction mod 1 in integer arithmetic gives the angle to
// ~2e-7 rad at any position, where float pos * theta loses it by 10^5.
// ip[0] n_rot, ip[1] mode (0 pairs (2i, 2i+1), 1 pairs (i, i + n_rot/2)).
#include "common.glsl"
layout(local_size_x_id = 0) in;
layout(std430, binding = 1) readonly buffer BufPos { int pos_[]; };
layout(std430, binding = 2) readonly buffer BufTab { uint tab_[]; };

void item(uint i)
{
    uvec4 c = coords(i);
    uint j = c.w, n_rot = uint(pc.ip[0]), half_rot = n_rot / 2u;
    if (j >= n_rot) {
        STORE_D(at(3, c), LOAD_A(at(0, c)));
        return;
    }
    if (j >= half_rot)
        return;
    int p = pos_[pc.off[1] + c.y * uint(pc.nb[7])];
    uint plo = uint(p), phi = p < 0 ? 0xffffffffu : 0u;
    uint fhi = tab_[2u * j], flo = tab_[2u * j + 1u];
    uint msb, lsb;
    umulExtended(plo, flo, msb, lsb);
    uint top = msb + plo * fhi + phi * flo; // mod 2^32: the turn's fraction
    float turns = float(int(top)) * (1.0 / 4294967296.0);
    float th = turns * 6.283185307179586;
    float cs = cos(th), sn = sin(th);
    uint j0 = pc.ip[1] == 1 ? j : 2u * j, j1 = pc.ip[1] == 1 ? j + half_rot : 2u * j + 1u;
    uvec4 c0 = uvec4(c.xyz, j0), c1 = uvec4(c.xyz, j1);
    float x0 = LOAD_A(at(0, c0)), x1 = LOAD_A(at(0, c1));
    STORE_D(at(3, c0), x0 * cs - x1 * sn);
    STORE_D(at(3, c1), x0 * sn + x1 * cs);
}

void main()
{
    for (uint i = ITEM_INDEX; i < pc.n; i += ITEM_STRIDE)
        item(i);
}
