// common.glsl — included by every pce compute shader.
//
// The interface between the Vulkan backend (backends/vulkan/vk_kernels.c)
// and the shaders, the same for every pipeline:
//   set 0, binding 0..3: storage buffers of operands A, B, C and the
//                        destination D, typed by A_DT .. D_DT (defines)
//   set 0, binding 4:    uint error record of the run (ids out of range)
//   push constants:      the Push block below (128 bytes, the minimum every
//                        device offers)
//   constant_id 0:       workgroup size (local_size_x), from the device
//   constant_id 1:       the device's minimum subgroup size
//   constant_id 2:       the op, for shaders that serve several ops
// Offsets and strides are in elements of the binding's dtype; a stride of 0
// broadcasts. Dtype codes are pce_dtype's: 0 f32, 1 f16, 2 bf16, 3 i32, 4 i8.
#extension GL_EXT_shader_16bit_storage : enable
#extension GL_EXT_shader_8bit_storage : enable
#extension GL_EXT_control_flow_attributes : enable

#define DT_F32 0
#define DT_F16 1
#define DT_BF16 2
#define DT_I32 3
#define DT_I8 4

layout(push_constant) uniform Push {
    uint ne[4];  // iteration shape, outermost first
    uint off[4]; // element offset of bindings 0..3
    int nb[16];  // element strides: nb[4 * binding + dim]
    uint n;      // work items (elements or rows)
    int ip[3];   // op parameters
    float fp[4];
} pc;

layout(constant_id = 1) const uint SG_MIN = 8;
layout(constant_id = 2) const int OP = 0;

#define CAT_(a, b) a##b
#define CAT(a, b) CAT_(a, b)

#define T_0 float
#define T_1 float16_t
#define T_2 uint16_t
#define T_3 int
#define T_4 int8_t
#define TYPE(dt) CAT(T_, dt)

uint f32_to_bf16(float v)
{
    uint x = floatBitsToUint(v);
    if ((x & 0x7fffffffu) > 0x7f800000u)
        return (x >> 16) | 0x40u; // keep NaN quiet
    return (x + 0x7fffu + ((x >> 16) & 1u)) >> 16;
}

// Round to nearest even and saturate, as the CPU reference does; NaN gives 0.
int f32_to_int(float v, float lo, float hi)
{
    if (isnan(v))
        return 0;
    v = roundEven(v);
    if (v <= lo)
        return int(lo);
    if (v >= hi)
        return v >= 2147483520.0 && hi > 2147483520.0 ? 2147483647 : int(hi);
    return int(v);
}

#define LD_0(buf, i) buf[i]
#define LD_1(buf, i) float(buf[i])
#define LD_2(buf, i) uintBitsToFloat(uint(buf[i]) << 16)
#define LD_3(buf, i) float(buf[i])
#define LD_4(buf, i) float(int(buf[i]))
#define LOAD(dt, buf, i) CAT(LD_, dt)(buf, i)

#define ST_0(buf, i, v) buf[i] = (v)
#define ST_1(buf, i, v) buf[i] = float16_t(v)
#define ST_2(buf, i, v) buf[i] = uint16_t(f32_to_bf16(v))
#define ST_3(buf, i, v) buf[i] = f32_to_int(v, -2147483648.0, 2147483647.0)
#define ST_4(buf, i, v) buf[i] = int8_t(f32_to_int(v, -128.0, 127.0))
#define STORE(dt, buf, i, v) CAT(ST_, dt)(buf, i, v)

#ifdef A_DT
layout(std430, binding = 0) readonly buffer BufA { TYPE(A_DT) a_[]; };
#define LOAD_A(i) LOAD(A_DT, a_, i)
#endif
#ifdef B_DT
layout(std430, binding = 1) readonly buffer BufB { TYPE(B_DT) b_[]; };
#define LOAD_B(i) LOAD(B_DT, b_, i)
#endif
#ifdef C_DT
layout(std430, binding = 2) readonly buffer BufC { TYPE(C_DT) c_[]; };
#define LOAD_C(i) LOAD(C_DT, c_, i)
#endif
#ifdef D_DT
layout(std430, binding = 3) buffer BufD { TYPE(D_DT) d_[]; };
#define STORE_D(i, v) STORE(D_DT, d_, i, v)
#endif

// Any float dtype read through a uint view, for small operands whose dtype
// may differ from the main one (norm weights, softmax masks): dtype at run
// time instead of one more variant per combination.
#ifdef B_GENERIC
layout(std430, binding = 1) readonly buffer BufBG { uint bg_[]; };
float load_b_any(int dt, uint i)
{
    if (dt == DT_F32)
        return uintBitsToFloat(bg_[i]);
    uint w = bg_[i >> 1];
    uint h = (i & 1u) != 0u ? w >> 16 : w & 0xffffu;
    return dt == DT_F16 ? unpackHalf2x16(h).x : uintBitsToFloat(h << 16);
}
#endif
#ifdef C_GENERIC
layout(std430, binding = 2) readonly buffer BufCG { uint cg_[]; };
float load_c_any(int dt, uint i)
{
    if (dt == DT_F32)
        return uintBitsToFloat(cg_[i]);
    uint w = cg_[i >> 1];
    uint h = (i & 1u) != 0u ? w >> 16 : w & 0xffffu;
    return dt == DT_F16 ? unpackHalf2x16(h).x : uintBitsToFloat(h << 16);
}
#endif

// The run's error record: [0] set to 1 by the first failure, [1] node index,
// [2] position, [3] offending value. Reset before every run.
layout(std430, binding = 4) buffer BufErr { uint err_[]; };

void report_error(int node, uint pos, int value)
{
    if (atomicCompSwap(err_[0], 0u, 1u) == 0u) {
        err_[1] = uint(node);
        err_[2] = pos;
        err_[3] = uint(value);
    }
}

// Elementwise kernels loop over their items with a grid stride: the host
// launches at most as many workgroups as the device wants (few on a CPU
// implementation, where each workgroup costs microseconds to start).
// Macros, not functions: gl_WorkGroupSize only takes the specialised size
// after the shader's own `layout(local_size_x_id = 0) in;`.
#define ITEM_INDEX (gl_GlobalInvocationID.x + gl_GlobalInvocationID.y * gl_NumWorkGroups.x * gl_WorkGroupSize.x)
#define ITEM_STRIDE (gl_NumWorkGroups.x * gl_NumWorkGroups.y * gl_WorkGroupSize.x)
uint group_index()
{
    return gl_WorkGroupID.x + gl_WorkGroupID.y * gl_NumWorkGroups.x;
}

uvec4 coords(uint i)
{
    uvec4 c;
    c.w = i % pc.ne[3];
    i /= pc.ne[3];
    c.z = i % pc.ne[2];
    i /= pc.ne[2];
    c.y = i % pc.ne[1];
    c.x = i / pc.ne[1];
    return c;
}

uint at(int b, uvec4 c)
{
    return uint(int(pc.off[b]) + int(c.x) * pc.nb[4 * b] + int(c.y) * pc.nb[4 * b + 1] +
                int(c.z) * pc.nb[4 * b + 2] + int(c.w) * pc.nb[4 * b + 3]);
}
