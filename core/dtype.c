/* dtype.c — the dtype table and conversions to and from f32.
 * Every dtype is described by (block_size, block_bytes); the block-quantized
 * formats' routines live in quant.c. A NULL from_f32 means pce has no
 * quantizer for the type (pce_dtype_from_f32 says UNSUPPORTED). */
#include "internal.h"
#include "quant.h"

#include <math.h>
#include <string.h>

typedef void (*to_f32_fn)(const void *src, float *dst, int64_t n);
typedef void (*from_f32_fn)(const float *src, void *dst, int64_t n);

typedef struct dtype_entry {
    pce_dtype_info info;
    to_f32_fn to_f32;
    from_f32_fn from_f32;
} dtype_entry;

float pce_f16_to_f32(uint16_t h)
{
    uint32_t sign = (uint32_t)(h & 0x8000) << 16;
    uint32_t exp = (h >> 10) & 0x1f, mant = h & 0x3ff, bits;
    if (exp == 0) {
        if (mant == 0) {
            bits = sign;
        } else { /* subnormal: renormalise */
            int e = -1;
            do {
                e++;
                mant <<= 1;
            } while (!(mant & 0x400));
            bits = sign | (uint32_t)(127 - 15 - e) << 23 | (mant & 0x3ff) << 13;
        }
    } else if (exp == 31) { /* inf, or NaN made quiet (as F16C and every conversion do) */
        bits = sign | 0x7f800000u | mant << 13 | (mant ? 0x400000u : 0);
    } else {
        bits = sign | (exp + 112) << 23 | mant << 13;
    }
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

uint16_t pce_f32_to_f16(float f)
{
    uint32_t x;
    memcpy(&x, &f, 4);
    uint32_t sign = (x >> 16) & 0x8000;
    uint32_t ax = x & 0x7fffffffu;
    if (ax >= 0x7f800000u) /* inf or nan */
        return (uint16_t)(sign | 0x7c00 | (ax > 0x7f800000u ? 0x200 | ((ax >> 13) & 0x3ff) : 0));
    if (ax >= 0x477ff000u) /* rounds to >= 65520: overflow to inf */
        return (uint16_t)(sign | 0x7c00);
    if (ax < 0x38800000u) { /* below the smallest normal f16: subnormal or 0 */
        float af;
        memcpy(&af, &ax, 4);
        /* 2^-24 is the f16 subnormal step; rint rounds half to even */
        uint32_t m = (uint32_t)rintf(af * 16777216.0f);
        return (uint16_t)(sign | m);
    }
    /* normal: round mantissa to 10 bits, nearest even */
    uint32_t r = ax + 0xfffu + ((ax >> 13) & 1);
    return (uint16_t)(sign | (((r >> 13) - (112u << 10)) & 0x7fff));
}

float pce_bf16_to_f32(uint16_t h)
{
    uint32_t bits = (uint32_t)h << 16;
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

uint16_t pce_f32_to_bf16(float f)
{
    uint32_t x;
    memcpy(&x, &f, 4);
    if ((x & 0x7fffffffu) > 0x7f800000u) /* nan: keep it a quiet nan */
        return (uint16_t)((x >> 16) | 0x40);
    return (uint16_t)((x + 0x7fffu + ((x >> 16) & 1)) >> 16);
}

static void f32_to_f32(const void *s, float *d, int64_t n)
{
    memcpy(d, s, (size_t)n * 4);
}
static void f32_from_f32(const float *s, void *d, int64_t n)
{
    memcpy(d, s, (size_t)n * 4);
}

#if defined(__x86_64__) && defined(__GNUC__)
#include <cpuid.h>
#include <immintrin.h>
/* F16C converts 8 at a time, exactly as the scalar code (round to nearest
 * even; NaNs stay NaNs with their payload's top bits, quieted) */
__attribute__((target("avx,f16c"))) static void f16_to_f32_f16c(const uint16_t *p, float *d,
                                                                int64_t n)
{
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(d + i, _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(p + i))));
    for (; i < n; i++)
        d[i] = pce_f16_to_f32(p[i]);
}

__attribute__((target("avx,f16c"))) static void f16_from_f32_f16c(const float *s, uint16_t *p,
                                                                  int64_t n)
{
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm_storeu_si128((__m128i *)(p + i),
                         _mm256_cvtps_ph(_mm256_loadu_ps(s + i), _MM_FROUND_TO_NEAREST_INT));
    for (; i < n; i++)
        p[i] = pce_f32_to_f16(s[i]);
}

static bool have_f16c(void)
{
    static int f = -1;
    if (f < 0) {
        __builtin_cpu_init();
#ifdef __clang__
        /* clang's __builtin_cpu_supports does not know "f16c": CPUID 1, ECX
         * bit 29 (AVX, which it does know, covers the OS's register state) */
        unsigned a, b, c, d;
        f = __builtin_cpu_supports("avx") && __get_cpuid(1, &a, &b, &c, &d) && (c >> 29 & 1u);
#else
        f = __builtin_cpu_supports("f16c") && __builtin_cpu_supports("avx");
#endif
    }
    return f;
}
#else
static bool have_f16c(void)
{
    return false;
}
#endif

static void f16_to_f32(const void *s, float *d, int64_t n)
{
    const uint16_t *p = s;
#if defined(__x86_64__) && defined(__GNUC__)
    if (n >= 8 && have_f16c()) {
        f16_to_f32_f16c(p, d, n);
        return;
    }
#endif
    for (int64_t i = 0; i < n; i++)
        d[i] = pce_f16_to_f32(p[i]);
}

static void f16_from_f32(const float *s, void *d, int64_t n)
{
    uint16_t *p = d;
#if defined(__x86_64__) && defined(__GNUC__)
    if (n >= 8 && have_f16c()) {
        f16_from_f32_f16c(s, p, n);
        return;
    }
#endif
    for (int64_t i = 0; i < n; i++)
        p[i] = pce_f32_to_f16(s[i]);
}

static void bf16_to_f32(const void *s, float *d, int64_t n)
{
    const uint16_t *p = s;
    for (int64_t i = 0; i < n; i++)
        d[i] = pce_bf16_to_f32(p[i]);
}

static void bf16_from_f32(const float *s, void *d, int64_t n)
{
    uint16_t *p = d;
    for (int64_t i = 0; i < n; i++)
        p[i] = pce_f32_to_bf16(s[i]);
}

static float sat_round(float v, float lo, float hi)
{
    if (isnan(v))
        return 0.0f;
    v = rintf(v);
    return v < lo ? lo : v > hi ? hi : v;
}

static void i32_to_f32(const void *s, float *d, int64_t n)
{
    const int32_t *p = s;
    for (int64_t i = 0; i < n; i++)
        d[i] = (float)p[i];
}

static void i32_from_f32(const float *s, void *d, int64_t n)
{
    int32_t *p = d;
    for (int64_t i = 0; i < n; i++) {
        /* clamp in double: INT32_MAX is not a float */
        double v = isnan(s[i]) ? 0.0 : rint((double)s[i]);
        p[i] = v >= 2147483647.0 ? INT32_MAX : v <= -2147483648.0 ? INT32_MIN : (int32_t)v;
    }
}

static void i8_to_f32(const void *s, float *d, int64_t n)
{
    const int8_t *p = s;
    for (int64_t i = 0; i < n; i++)
        d[i] = (float)p[i];
}

static void i8_from_f32(const float *s, void *d, int64_t n)
{
    int8_t *p = d;
    for (int64_t i = 0; i < n; i++)
        p[i] = (int8_t)sat_round(s[i], -128.0f, 127.0f);
}

static const dtype_entry dtype_table[PCE_DTYPE_COUNT] = {
    [PCE_DTYPE_F32] = {{"f32", 1, 4, true, false, false}, f32_to_f32, f32_from_f32},
    [PCE_DTYPE_F16] = {{"f16", 1, 2, true, false, false}, f16_to_f32, f16_from_f32},
    [PCE_DTYPE_BF16] = {{"bf16", 1, 2, true, false, false}, bf16_to_f32, bf16_from_f32},
    [PCE_DTYPE_I32] = {{"i32", 1, 4, false, true, false}, i32_to_f32, i32_from_f32},
    [PCE_DTYPE_I8] = {{"i8", 1, 1, false, true, false}, i8_to_f32, i8_from_f32},
    [PCE_DTYPE_Q8_0] = {{"q8_0", PCE_QK, sizeof(pce_block_q8_0), true, false, true},
                        pce_dequantize_row_q8_0,
                        pce_quantize_row_q8_0},
    [PCE_DTYPE_Q4_0] = {{"q4_0", PCE_QK, sizeof(pce_block_q4_0), true, false, true},
                        pce_dequantize_row_q4_0,
                        pce_quantize_row_q4_0},
    [PCE_DTYPE_Q4_1] = {{"q4_1", PCE_QK, sizeof(pce_block_q4_1), true, false, true},
                        pce_dequantize_row_q4_1,
                        pce_quantize_row_q4_1},
    [PCE_DTYPE_Q5_0] = {{"q5_0", PCE_QK, sizeof(pce_block_q5_0), true, false, true},
                        pce_dequantize_row_q5_0,
                        pce_quantize_row_q5_0},
    [PCE_DTYPE_Q5_1] = {{"q5_1", PCE_QK, sizeof(pce_block_q5_1), true, false, true},
                        pce_dequantize_row_q5_1,
                        pce_quantize_row_q5_1},
    [PCE_DTYPE_Q4_K] = {{"q4_k", PCE_QK_K, sizeof(pce_block_q4_k), true, false, true},
                        pce_dequantize_row_q4_k,
                        pce_quantize_row_q4_k},
    [PCE_DTYPE_Q5_K] = {{"q5_k", PCE_QK_K, sizeof(pce_block_q5_k), true, false, true},
                        pce_dequantize_row_q5_k,
                        pce_quantize_row_q5_k},
    [PCE_DTYPE_Q6_K] = {{"q6_k", PCE_QK_K, sizeof(pce_block_q6_k), true, false, true},
                        pce_dequantize_row_q6_k,
                        pce_quantize_row_q6_k},
};

const pce_dtype_info *pce_dtype_get_info(pce_dtype dtype)
{
    if ((unsigned)dtype >= PCE_DTYPE_COUNT)
        return NULL;
    return &dtype_table[dtype].info;
}

pce_status pce_dtype_from_name(const char *name, pce_dtype *out)
{
    if (!name || !out)
        return PCE_ERR_INVALID_ARGUMENT;
    for (int i = 0; i < PCE_DTYPE_COUNT; i++) {
        if (dtype_table[i].info.name && strcmp(dtype_table[i].info.name, name) == 0) {
            *out = (pce_dtype)i;
            return PCE_OK;
        }
    }
    return PCE_ERR_INVALID_ARGUMENT;
}

size_t pce_dtype_bytes(pce_dtype dtype, int64_t n)
{
    const pce_dtype_info *in = pce_dtype_get_info(dtype);
    if (!in || n < 0 || n % in->block_size)
        return 0;
    return (size_t)(n / in->block_size) * in->block_bytes;
}

pce_status pce_dtype_to_f32(pce_dtype dtype, const void *src, float *dst, int64_t n)
{
    const pce_dtype_info *in = pce_dtype_get_info(dtype);
    if (!in || n < 0 || n % in->block_size || (n && (!src || !dst)))
        return PCE_ERR_INVALID_ARGUMENT;
    if (n > 0)
        dtype_table[dtype].to_f32(src, dst, n);
    return PCE_OK;
}

pce_status pce_dtype_from_f32(pce_dtype dtype, const float *src, void *dst, int64_t n)
{
    const pce_dtype_info *in = pce_dtype_get_info(dtype);
    if (!in || n < 0 || n % in->block_size || (n && (!src || !dst)))
        return PCE_ERR_INVALID_ARGUMENT;
    if (!dtype_table[dtype].from_f32)
        return PCE_ERR_UNSUPPORTED; /* no quantizer for this type */
    if (n > 0)
        dtype_table[dtype].from_f32(src, dst, n);
    return PCE_OK;
}
