// quant.glsl — reading GGUF block-quantized weights (llama.cpp's byte
// layouts, core/quant.h) in a shader, without a dequantized copy.
//
// The includer defines QT (the operand's pce_dtype code: 5 Q8_0, 6 Q4_0,
// 7 Q4_1, 8 Q5_0, 9 Q5_1, 10 Q4_K, 11 Q5_K, 12 Q6_K) and Q_BINDING. The
// buffer is a uint view read at byte offsets, which needs no 8- or 16-bit
// storage. Blocks of 20, 24, 144 and 176 bytes start on a word (Q_ALIGN4:
// the backend checks that the tensor's start and strides are multiples of
// 4); those of 18, 22, 34 and 210 bytes on an even byte, half of them not
// on a word, where a 32-bit read takes two words.
//
// A row is read in items of 32 consecutive weights (a block of the
// 32-weight types, one 32-weight sub-block of a K-quant super-block): its
// head (q_head: scales, min) once, then its 4 groups of 8 (q_group_in):
// group p holds the weights at item positions q_pos_lo(p) .. +3 and
// q_pos_hi(p) .. +3. Within a group every weight is
// w = sc * q + mn (mn only where Q_HAS_MIN), each operation rounded on its
// own as core/quant.c does (sc itself is d * scale, exact in f32), so q_deq
// reproduces the reference dequantization bit for bit.

// per type: bytes of a block, whether blocks start on a word, whether a
// weight has an added min (w = sc * q + mn)
#if QT == 5
#define Q_BLOCK_BYTES 34u
#define Q_ALIGN4 0
#define Q_HAS_MIN 0
#elif QT == 6
#define Q_BLOCK_BYTES 18u
#define Q_ALIGN4 0
#define Q_HAS_MIN 0
#elif QT == 7
#define Q_BLOCK_BYTES 20u
#define Q_ALIGN4 1
#define Q_HAS_MIN 1
#elif QT == 8
#define Q_BLOCK_BYTES 22u
#define Q_ALIGN4 0
#define Q_HAS_MIN 0
#elif QT == 9
#define Q_BLOCK_BYTES 24u
#define Q_ALIGN4 1
#define Q_HAS_MIN 1
#elif QT == 10
#define Q_BLOCK_BYTES 144u
#define Q_ALIGN4 1
#define Q_HAS_MIN 1
#elif QT == 11
#define Q_BLOCK_BYTES 176u
#define Q_ALIGN4 1
#define Q_HAS_MIN 1
#elif QT == 12
#define Q_BLOCK_BYTES 210u
#define Q_ALIGN4 0
#define Q_HAS_MIN 0
#else
#error "QT: not a block-quantized pce_dtype"
#endif

layout(std430, binding = Q_BINDING) readonly buffer BufQ { uint q_[]; };

// 16 bits at even byte b
uint q_u16(uint b)
{
    return (q_[b >> 2] >> ((b & 2u) << 3)) & 0xffffu;
}

// 32 bits at byte b (little-endian): a multiple of 4 where Q_ALIGN4 (the
// block size is, and the backend checks the start and strides), else even
uint q_u32(uint b)
{
#if Q_ALIGN4
    return q_[b >> 2];
#else
    // two words without a branch (neighbouring blocks differ in alignment);
    // the second clamped to the last word, where it is not needed
    uint i = b >> 2, sh = (b & 2u) << 3;
    uint lo = q_[i], hi = q_[min(i + 1u, uint(q_.length()) - 1u)];
    return (lo >> sh) | ((hi << 16) << (16u - sh));
#endif
}

// 64 bits at byte b (as q_u32): three words where they straddle one
uvec2 q_u64(uint b)
{
#if Q_ALIGN4
    uint i = b >> 2;
    return uvec2(q_[i], q_[i + 1u]);
#else
    uint i = b >> 2, sh = (b & 2u) << 3;
    uint w0 = q_[i], w1 = q_[i + 1u], w2 = q_[min(i + 2u, uint(q_.length()) - 1u)];
    return uvec2((w0 >> sh) | ((w1 << 16) << (16u - sh)), (w1 >> sh) | ((w2 << 16) << (16u - sh)));
#endif
}

float q_f16(uint b)
{
    return unpackHalf2x16(q_u16(b)).x;
}

// the four bytes of w, each in [0, 255]
uvec4 q_bytes(uint w)
{
    return (uvec4(w) >> uvec4(0u, 8u, 16u, 24u)) & 0xffu;
}

struct qgroup {
    vec4 lo, hi; // the 8 quantized values (small integers, offsets applied)
    float sc, mn;
};

// What the groups of one item share, read once: where its block starts,
// the item within the block, its scales (sc.x for positions 0..15, sc.y
// for 16..31: they differ only in Q6_K), its min, Q5's high bits.
struct qhead {
    uint bo, j;
    vec2 sc;
    float mn;
    uint qh;
};

#if QT <= 9
// The head of a block of 32 (Q8_0, Q4_0/1, Q5_0/1): the f16 scale d at the
// block's start and, in the formats with one, the f16 minimum m after it.
qhead q_head32(uint rb, uint it)
{
    qhead h;
    h.bo = rb + it * Q_BLOCK_BYTES;
    h.j = 0u;
    h.qh = 0u;
#if Q_HAS_MIN
    vec2 dm = unpackHalf2x16(q_u32(h.bo));
    h.sc = vec2(dm.x);
    h.mn = dm.y;
#else
    h.sc = vec2(q_f16(h.bo));
    h.mn = 0.0;
#endif
    return h;
}
#endif

#if QT == 5 // Q8_0 {f16 d; i8 qs[32]}: w = q * d
uint q_pos_lo(uint p) { return 8u * p; }
uint q_pos_hi(uint p) { return 8u * p + 4u; }
qhead q_head(uint rb, uint it) { return q_head32(rb, it); }
qgroup q_group_in(qhead h, uint p)
{
    qgroup g;
    g.sc = h.sc.x;
    g.mn = 0.0;
    ivec4 sh = ivec4(24, 16, 8, 0);
    uvec2 w = q_u64(h.bo + 2u + 8u * p);
    g.lo = vec4((ivec4(w.x) << sh) >> 24);
    g.hi = vec4((ivec4(w.y) << sh) >> 24);
    return g;
}

#elif QT == 6 || QT == 7 // Q4_0 {d; qs[16]}: w = d * (q - 8); Q4_1 {d, m; qs[16]}: d * q + m
uint q_pos_lo(uint p) { return 4u * p; }
uint q_pos_hi(uint p) { return 4u * p + 16u; }
qhead q_head(uint rb, uint it) { return q_head32(rb, it); }
qgroup q_group_in(qhead h, uint p)
{
    qgroup g;
    g.sc = h.sc.x;
    g.mn = h.mn;
    uvec4 b = q_bytes(q_u32(h.bo + (QT == 6 ? 2u : 4u) + 4u * p));
    g.lo = vec4(b & 15u);
    g.hi = vec4(b >> 4);
#if QT == 6
    g.lo -= 8.0;
    g.hi -= 8.0;
#endif
    return g;
}

#elif QT == 8 || QT == 9 // Q5_0 {d; qh[4]; qs[16]}: d * (q - 16); Q5_1 {d, m; qh[4]; qs[16]}
uint q_pos_lo(uint p) { return 4u * p; }
uint q_pos_hi(uint p) { return 4u * p + 16u; }
#define Q5_QH (QT == 8 ? 2u : 4u) // byte offset of qh in the block
qhead q_head(uint rb, uint it)
{
    qhead h = q_head32(rb, it);
    h.qh = q_u32(h.bo + Q5_QH); // bit j: the fifth bit of position j
    return h;
}
qgroup q_group_in(qhead h, uint p)
{
    qgroup g;
    g.sc = h.sc.x;
    g.mn = h.mn;
    uvec4 b = q_bytes(q_u32(h.bo + Q5_QH + 4u + 4u * p));
    uvec4 j = uvec4(4u * p) + uvec4(0u, 1u, 2u, 3u);
    g.lo = vec4((b & 15u) | (((uvec4(h.qh) >> j) & 1u) << 4));
    g.hi = vec4((b >> 4) | (((uvec4(h.qh) >> (j + 16u)) & 1u) << 4));
#if QT == 8
    g.lo -= 16.0;
    g.hi -= 16.0;
#endif
    return g;
}

#elif QT == 10 || QT == 11 // Q4_K, Q5_K: w = (d * sc) * q - dmin * m per sub-block of 32
uint q_pos_lo(uint p) { return 8u * p; }
uint q_pos_hi(uint p) { return 8u * p + 4u; }
qhead q_head(uint rb, uint it)
{
    qhead h;
    h.bo = rb + (it >> 3) * Q_BLOCK_BYTES;
    h.j = it & 7u;
    h.qh = 0u;
    vec2 dm = unpackHalf2x16(q_u32(h.bo));
    // ggml's get_scale_min_k4 from byte j % 4 of each word of the 12 scale bytes
    uvec3 b = (uvec3(q_u32(h.bo + 4u), q_u32(h.bo + 8u), q_u32(h.bo + 12u)) >> (8u * (h.j & 3u))) &
              0xffu;
    uint sc, m;
    if (h.j < 4u) {
        sc = b.x & 63u;
        m = b.y & 63u;
    } else {
        sc = (b.z & 15u) | ((b.x >> 6) << 4);
        m = (b.z >> 4) | ((b.y >> 6) << 4);
    }
    precise float dl = dm.x * float(sc), ml = dm.y * float(m);
    h.sc = vec2(dl);
    h.mn = -ml;
    return h;
}
qgroup q_group_in(qhead h, uint p)
{
    qgroup g;
    g.sc = h.sc.x;
    g.mn = h.mn;
    uint qb = h.bo + (QT == 10 ? 16u : 48u) + 32u * (h.j >> 1) + 8u * p;
    uint sh = 4u * (h.j & 1u);
    uvec2 w = q_u64(qb);
    uvec4 l0 = (q_bytes(w.x) >> sh) & 15u, l1 = (q_bytes(w.y) >> sh) & 15u;
#if QT == 11
    // bit j of qh[l]: the fifth bit of position l
    uvec2 hb = q_u64(h.bo + 16u + 8u * p);
    l0 |= ((q_bytes(hb.x) >> h.j) & 1u) << 4;
    l1 |= ((q_bytes(hb.y) >> h.j) & 1u) << 4;
#endif
    g.lo = vec4(l0);
    g.hi = vec4(l1);
    return g;
}

#elif QT == 12 // Q6_K {ql[128]; qh[64]; i8 scales[16]; f16 d}: (d * sc) * (q - 32) per 16
uint q_pos_lo(uint p) { return 8u * p; }
uint q_pos_hi(uint p) { return 8u * p + 4u; }
// item j of the super-block: quarter t = j % 4 (of q1..q4 in core/quant.c)
// of half j / 4
qhead q_head(uint rb, uint it)
{
    qhead h;
    h.bo = rb + (it >> 3) * Q_BLOCK_BYTES;
    h.j = it & 7u;
    h.qh = 0u;
    h.mn = 0.0;
    // its two scales, signed bytes 2j and 2j + 1
    uint s = q_u16(h.bo + 192u + 2u * h.j);
    float d = q_f16(h.bo + 208u);
    precise vec2 dl = d * vec2(bitfieldExtract(int(s), 0, 8), bitfieldExtract(int(s), 8, 8));
    h.sc = dl;
    return h;
}
qgroup q_group_in(qhead h, uint p)
{
    qgroup g;
    g.sc = p < 2u ? h.sc.x : h.sc.y;
    g.mn = 0.0;
    uint hf = h.j >> 2, t = h.j & 3u;
    uint lb = h.bo + 64u * hf + 32u * (t & 1u) + 8u * p, sh = 4u * (t >> 1);
    uint hb = h.bo + 128u + 32u * hf + 8u * p, hs = 2u * t;
    uvec2 l = q_u64(lb), hw = q_u64(hb);
    uvec4 l0 = ((q_bytes(l.x) >> sh) & 15u) | (((q_bytes(hw.x) >> hs) & 3u) << 4);
    uvec4 l1 = ((q_bytes(l.y) >> sh) & 15u) | (((q_bytes(hw.y) >> hs) & 3u) << 4);
    g.lo = vec4(l0) - 32.0;
    g.hi = vec4(l1) - 32.0;
    return g;
}

#endif

// Group p (0..3) of item `it` of the row starting at byte rb.
qgroup q_group(uint rb, uint it, uint p)
{
    return q_group_in(q_head(rb, it), p);
}

// Weight i (0..3) of the group's low (hi = false) or high quad, exactly as
// the reference dequantizes it.
float q_deq(qgroup g, bool hi, uint i)
{
    precise float v = g.sc * (hi ? g.hi[i] : g.lo[i]);
#if Q_HAS_MIN
    v = v + g.mn;
#endif
    return v;
}
