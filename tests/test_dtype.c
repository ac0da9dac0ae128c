/* test_dtype.c — the dtype table and the conversions to and from f32.
 *
 * f16 and bf16 are checked against references written here with double
 * arithmetic (decode: sign * mantissa * 2^exp; encode: scale by the format's
 * quantum and round once with nearbyint, i.e. round half to even), both
 * exhaustively over all 65536 bit patterns and over many random floats,
 * including subnormals, ties and overflow. Integer conversions are checked
 * for round-to-nearest and saturation. */
#include <check.h>
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

/* ---- helpers ------------------------------------------------------------ */

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static uint64_t rng_next(void)
{
    /* xorshift64* */
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 0x2545f4914f6cdd1dull;
}

static uint32_t rng_u32(void)
{
    return (uint32_t)(rng_next() >> 32);
}

static float f32_from_bits(uint32_t u)
{
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

static uint32_t f32_bits(float f)
{
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    return u;
}

static int f16_is_nan(uint16_t h)
{
    return (h & 0x7c00) == 0x7c00 && (h & 0x03ff) != 0;
}
static int bf16_is_nan(uint16_t h)
{
    return (h & 0x7f80) == 0x7f80 && (h & 0x007f) != 0;
}

/* Reference decode of a (1, ebits, mbits) binary float pattern to double;
 * non-NaN patterns only. */
static double ref_decode(uint32_t bits, int ebits, int mbits)
{
    int bias = (1 << (ebits - 1)) - 1;
    uint32_t sign = (bits >> (ebits + mbits)) & 1;
    uint32_t e = (bits >> mbits) & ((1u << ebits) - 1);
    uint32_t m = bits & ((1u << mbits) - 1);
    double v;
    if (e == (1u << ebits) - 1)
        v = INFINITY;
    else if (e == 0)
        v = ldexp((double)m, 1 - bias - mbits);
    else
        v = ldexp((double)((1u << mbits) | m), (int)e - bias - mbits);
    return sign ? -v : v;
}

/* Reference encode of a finite or infinite (not NaN) value into a
 * (1, ebits, mbits) pattern, rounding to nearest, ties to even, overflowing
 * to infinity as IEEE 754 does. */
static uint32_t ref_encode(double v, int ebits, int mbits)
{
    int bias = (1 << (ebits - 1)) - 1;
    int emin = 1 - bias, emax = bias;
    uint32_t sign = signbit(v) ? 1u << (ebits + mbits) : 0;
    uint32_t inf = sign | (((1u << ebits) - 1) << mbits);
    double a = fabs(v);
    if (isinf(a))
        return inf;
    if (a == 0.0)
        return sign;
    int e2;
    frexp(a, &e2);  /* a = f * 2^e2, f in [0.5, 1) */
    int E = e2 - 1; /* floor(log2(a)) */
    if (E < emin)
        E = emin;                     /* subnormal range: fixed quantum */
    double m = ldexp(a, mbits - E);   /* exact: scaling by a power of two */
    double r = nearbyint(m);          /* default rounding mode: half to even */
    if (r >= ldexp(1.0, mbits + 1)) { /* rounded up to the next binade */
        r = ldexp(r, -1);
        E++;
    }
    if (E > emax)
        return inf;
    uint32_t ri = (uint32_t)r;
    if (ri < (1u << mbits)) /* subnormal (E == emin) */
        return sign | ri;
    return sign | ((uint32_t)(E + bias) << mbits) | (ri - (1u << mbits));
}

static uint16_t ref_f16(float f)
{
    return (uint16_t)ref_encode((double)f, 5, 10);
}
static uint16_t ref_bf16(float f)
{
    return (uint16_t)ref_encode((double)f, 8, 7);
}

/* A check of the reference itself against well-known values, so a mistake
 * in it cannot hide a library bug. */
START_TEST(test_reference_sanity)
{
    ck_assert_uint_eq(ref_f16(1.0f), 0x3c00);
    ck_assert_uint_eq(ref_f16(-2.0f), 0xc000);
    ck_assert_uint_eq(ref_f16(65504.0f), 0x7bff);
    ck_assert_uint_eq(ref_f16(65520.0f), 0x7c00);
    ck_assert_uint_eq(ref_f16(ldexpf(1.0f, -24)), 0x0001);
    ck_assert_uint_eq(ref_f16(ldexpf(1.0f, -14)), 0x0400);
    ck_assert_uint_eq(ref_f16(0.333251953125f), 0x3555);
    ck_assert_uint_eq(ref_bf16(1.0f), 0x3f80);
    ck_assert_uint_eq(ref_bf16(-3.0f), 0xc040);
    ck_assert_uint_eq(ref_bf16(FLT_MAX), 0x7f80);
    ck_assert(ref_decode(0x3c00, 5, 10) == 1.0);
    ck_assert(ref_decode(0x0001, 5, 10) == ldexp(1.0, -24));
    ck_assert(ref_decode(0xfbff, 5, 10) == -65504.0);
    ck_assert(ref_decode(0x3f80, 8, 7) == 1.0);
}
END_TEST

/* ---- the table ---------------------------------------------------------- */

START_TEST(test_table)
{
    static const struct {
        pce_dtype dt;
        const char *name;
        int block_size;
        size_t block_bytes;
        bool is_float, is_integer, is_quantized;
    } want[] = {
        {PCE_DTYPE_F32, "f32", 1, 4, true, false, false},
        {PCE_DTYPE_F16, "f16", 1, 2, true, false, false},
        {PCE_DTYPE_BF16, "bf16", 1, 2, true, false, false},
        {PCE_DTYPE_I32, "i32", 1, 4, false, true, false},
        {PCE_DTYPE_I8, "i8", 1, 1, false, true, false},
        /* GGUF's blocks (ggml's sizes; test_quant checks their contents) */
        {PCE_DTYPE_Q8_0, "q8_0", 32, 34, true, false, true},
        {PCE_DTYPE_Q4_0, "q4_0", 32, 18, true, false, true},
        {PCE_DTYPE_Q4_1, "q4_1", 32, 20, true, false, true},
        {PCE_DTYPE_Q5_0, "q5_0", 32, 22, true, false, true},
        {PCE_DTYPE_Q5_1, "q5_1", 32, 24, true, false, true},
        {PCE_DTYPE_Q4_K, "q4_k", 256, 144, true, false, true},
        {PCE_DTYPE_Q5_K, "q5_k", 256, 176, true, false, true},
        {PCE_DTYPE_Q6_K, "q6_k", 256, 210, true, false, true},
    };
    ck_assert_int_eq(PCE_DTYPE_COUNT, (int)(sizeof want / sizeof want[0]));
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        ck_assert_int_eq(want[i].dt, (int)i); /* the list is in enum order */
        const pce_dtype_info *in = pce_dtype_get_info(want[i].dt);
        ck_assert_ptr_nonnull(in);
        ck_assert_str_eq(in->name, want[i].name);
        ck_assert_int_eq(in->block_size, want[i].block_size);
        ck_assert_uint_eq(in->block_bytes, want[i].block_bytes);
        ck_assert_int_eq(in->is_float, want[i].is_float);
        ck_assert_int_eq(in->is_integer, want[i].is_integer);
        ck_assert_int_eq(in->is_quantized, want[i].is_quantized);

        pce_dtype back = PCE_DTYPE_COUNT;
        ck_assert_int_eq(pce_dtype_from_name(want[i].name, &back), PCE_OK);
        ck_assert_int_eq(back, want[i].dt);

        const int64_t bs = want[i].block_size;
        ck_assert_uint_eq(pce_dtype_bytes(want[i].dt, 0), 0);
        ck_assert_uint_eq(pce_dtype_bytes(want[i].dt, bs), want[i].block_bytes);
        ck_assert_uint_eq(pce_dtype_bytes(want[i].dt, 1000 * bs), 1000 * want[i].block_bytes);
        ck_assert_uint_eq(pce_dtype_bytes(want[i].dt, -1), 0);
        if (bs > 1) { /* part of a block has no size */
            ck_assert_uint_eq(pce_dtype_bytes(want[i].dt, 1), 0);
            ck_assert_uint_eq(pce_dtype_bytes(want[i].dt, bs + 1), 0);
            ck_assert_uint_eq(pce_dtype_bytes(want[i].dt, 1000 * bs - 1), 0);
        }
    }
    ck_assert_ptr_null(pce_dtype_get_info(PCE_DTYPE_COUNT));
    ck_assert_ptr_null(pce_dtype_get_info((pce_dtype)-1));
    ck_assert_ptr_null(pce_dtype_get_info((pce_dtype)1000));
    ck_assert_uint_eq(pce_dtype_bytes(PCE_DTYPE_COUNT, 4), 0);
    ck_assert_uint_eq(pce_dtype_bytes((pce_dtype)-1, 4), 0);
}
END_TEST

START_TEST(test_from_name_errors)
{
    pce_dtype d = PCE_DTYPE_I8;
    ck_assert_int_eq(pce_dtype_from_name("f64", &d), PCE_ERR_INVALID_ARGUMENT);
    ck_assert_int_eq(pce_dtype_from_name("", &d), PCE_ERR_INVALID_ARGUMENT);
    ck_assert_int_eq(pce_dtype_from_name("F32", &d), PCE_ERR_INVALID_ARGUMENT);
    ck_assert_int_eq(pce_dtype_from_name("f3", &d), PCE_ERR_INVALID_ARGUMENT);
    ck_assert_int_eq(pce_dtype_from_name("f32 ", &d), PCE_ERR_INVALID_ARGUMENT);
    ck_assert_int_eq(d, PCE_DTYPE_I8); /* untouched on failure */
    ck_assert_int_eq(pce_dtype_from_name(NULL, &d), PCE_ERR_INVALID_ARGUMENT);
    ck_assert_int_eq(pce_dtype_from_name("f32", NULL), PCE_ERR_INVALID_ARGUMENT);
}
END_TEST

START_TEST(test_convert_invalid_args)
{
    /* room for one block of any dtype (the largest: 256 elements, 210 bytes) */
    float f[256];
    uint8_t h[256 * 4];
    for (int i = 0; i < 256; i++)
        f[i] = (float)(i + 1);
    memset(h, 0, sizeof h);
    for (int dt = 0; dt < PCE_DTYPE_COUNT; dt++) {
        const int64_t n = pce_dtype_get_info((pce_dtype)dt)->block_size;
        ck_assert_int_eq(pce_dtype_to_f32((pce_dtype)dt, NULL, f, n), PCE_ERR_INVALID_ARGUMENT);
        ck_assert_int_eq(pce_dtype_to_f32((pce_dtype)dt, h, NULL, n), PCE_ERR_INVALID_ARGUMENT);
        ck_assert_int_eq(pce_dtype_from_f32((pce_dtype)dt, NULL, h, n), PCE_ERR_INVALID_ARGUMENT);
        ck_assert_int_eq(pce_dtype_from_f32((pce_dtype)dt, f, NULL, n), PCE_ERR_INVALID_ARGUMENT);
        ck_assert_int_eq(pce_dtype_to_f32((pce_dtype)dt, h, f, -1), PCE_ERR_INVALID_ARGUMENT);
        ck_assert_int_eq(pce_dtype_from_f32((pce_dtype)dt, f, h, -1), PCE_ERR_INVALID_ARGUMENT);
        if (n > 1) { /* part of a block */
            ck_assert_int_eq(pce_dtype_to_f32((pce_dtype)dt, h, f, n - 1),
                             PCE_ERR_INVALID_ARGUMENT);
            ck_assert_int_eq(pce_dtype_from_f32((pce_dtype)dt, f, h, n + 1),
                             PCE_ERR_INVALID_ARGUMENT);
        }
        /* n == 0 with NULL pointers is a valid no-op */
        ck_assert_int_eq(pce_dtype_to_f32((pce_dtype)dt, NULL, NULL, 0), PCE_OK);
        ck_assert_int_eq(pce_dtype_from_f32((pce_dtype)dt, NULL, NULL, 0), PCE_OK);
    }
    ck_assert_int_eq(pce_dtype_to_f32(PCE_DTYPE_COUNT, h, f, 1), PCE_ERR_INVALID_ARGUMENT);
    ck_assert_int_eq(pce_dtype_from_f32(PCE_DTYPE_COUNT, f, h, 1), PCE_ERR_INVALID_ARGUMENT);
    ck_assert_int_eq(pce_dtype_to_f32((pce_dtype)-3, h, f, 1), PCE_ERR_INVALID_ARGUMENT);
    /* nothing was written by the failed calls */
    for (int i = 0; i < 256; i++)
        ck_assert(f[i] == (float)(i + 1));
    for (size_t i = 0; i < sizeof h; i++)
        ck_assert_uint_eq(h[i], 0);
}
END_TEST

/* Every dtype converts a whole block of random values to and from f32
 * (quantized ones lossily: their exact values are test_quant's), and the
 * output of to_f32 is a fixed point of from_f32 + to_f32 for the plain
 * types. */
START_TEST(test_every_dtype_converts)
{
    float src[256], back[256], again[256];
    uint8_t raw[256 * 4], raw2[256 * 4];
    rng_state = 0x0123456789abcdefull;
    for (int dt = 0; dt < PCE_DTYPE_COUNT; dt++) {
        const pce_dtype_info *in = pce_dtype_get_info((pce_dtype)dt);
        const int64_t n = in->block_size == 1 ? 256 : in->block_size;
        for (int i = 0; i < n; i++) /* in i8 range, random sign and size */
            src[i] = (float)((int32_t)(rng_u32() % 20001) - 10000) / 100.0f;
        for (int i = 0; i < 256; i++)
            back[i] = again[i] = NAN;
        ck_assert_int_eq(pce_dtype_from_f32((pce_dtype)dt, src, raw, n), PCE_OK);
        ck_assert_int_eq(pce_dtype_to_f32((pce_dtype)dt, raw, back, n), PCE_OK);
        float amax = 0;
        for (int i = 0; i < n; i++)
            amax = fmaxf(amax, fabsf(src[i]));
        for (int i = 0; i < n; i++) {
            ck_assert_msg(isfinite(back[i]), "%s [%d]: %g", in->name, i, (double)back[i]);
            /* no format here is coarser than 4 bits over the block's range */
            ck_assert_msg(fabsf(back[i] - src[i]) <= amax / 7, "%s [%d]: %g -> %g", in->name, i,
                          (double)src[i], (double)back[i]);
        }
        if (in->is_quantized)
            continue;
        ck_assert_int_eq(pce_dtype_from_f32((pce_dtype)dt, back, raw2, n), PCE_OK);
        ck_assert(memcmp(raw, raw2, (size_t)pce_dtype_bytes((pce_dtype)dt, n)) == 0);
        ck_assert_int_eq(pce_dtype_to_f32((pce_dtype)dt, raw2, again, n), PCE_OK);
        ck_assert(memcmp(back, again, (size_t)n * sizeof *back) == 0);
    }
}
END_TEST

START_TEST(test_f32_identity)
{
    float src[5] = {1.5f, -0.0f, INFINITY, FLT_MIN / 4, -FLT_MAX};
    float dst[5];
    ck_assert_int_eq(pce_dtype_from_f32(PCE_DTYPE_F32, src, dst, 5), PCE_OK);
    ck_assert(memcmp(src, dst, sizeof src) == 0);
    memset(dst, 0, sizeof dst);
    ck_assert_int_eq(pce_dtype_to_f32(PCE_DTYPE_F32, src, dst, 5), PCE_OK);
    ck_assert(memcmp(src, dst, sizeof src) == 0);
}
END_TEST

/* ---- f16 ---------------------------------------------------------------- */

START_TEST(test_f16_exhaustive)
{
    uint16_t *h = malloc(65536 * sizeof *h), *h2 = malloc(65536 * sizeof *h2);
    float *f = malloc(65536 * sizeof *f);
    ck_assert(h && h2 && f);
    for (uint32_t i = 0; i < 65536; i++)
        h[i] = (uint16_t)i;
    ck_assert_int_eq(pce_dtype_to_f32(PCE_DTYPE_F16, h, f, 65536), PCE_OK);
    ck_assert_int_eq(pce_dtype_from_f32(PCE_DTYPE_F16, f, h2, 65536), PCE_OK);
    for (uint32_t i = 0; i < 65536; i++) {
        uint16_t b = (uint16_t)i;
        /* the scalar and the array paths agree */
        ck_assert_uint_eq(f32_bits(pce_f16_to_f32(b)), f32_bits(f[i]));
        ck_assert_uint_eq(pce_f32_to_f16(f[i]), h2[i]);
        if (f16_is_nan(b)) {
            ck_assert_msg(isnan(f[i]), "f16 0x%04x -> %g, want NaN", b, (double)f[i]);
            ck_assert_msg(f16_is_nan(h2[i]), "f16 NaN 0x%04x -> 0x%04x, not NaN", b, h2[i]);
            ck_assert_msg((h2[i] & 0x8000) == (b & 0x8000), "NaN 0x%04x lost its sign", b);
            continue;
        }
        double want = ref_decode(b, 5, 10);
        ck_assert_msg((double)f[i] == want && !signbit(f[i]) == !(b & 0x8000),
                      "f16 0x%04x -> %.17g, want %.17g", b, (double)f[i], want);
        ck_assert_msg(h2[i] == b, "f16 0x%04x -> %.9g -> 0x%04x", b, (double)f[i], h2[i]);
    }
    free(h);
    free(h2);
    free(f);
}
END_TEST

static void check_f16_array(const float *src, int64_t n)
{
    uint16_t *got = malloc((size_t)n * sizeof *got);
    ck_assert_ptr_nonnull(got);
    ck_assert_int_eq(pce_dtype_from_f32(PCE_DTYPE_F16, src, got, n), PCE_OK);
    for (int64_t i = 0; i < n; i++) {
        if (isnan(src[i])) {
            ck_assert(f16_is_nan(got[i]));
            continue;
        }
        uint16_t want = ref_f16(src[i]);
        ck_assert_msg(got[i] == want, "f32 %.9g (0x%08x) -> f16 0x%04x, want 0x%04x",
                      (double)src[i], f32_bits(src[i]), got[i], want);
    }
    free(got);
}

START_TEST(test_f16_named_values)
{
    const float one = 1.0f;
    struct {
        float f;
        uint16_t want;
    } c[] = {
        {0.0f, 0x0000},
        {-0.0f, 0x8000},
        {one + ldexpf(1, -11), 0x3c00},                  /* tie: 1 + half ulp -> even (1.0) */
        {one + 3 * ldexpf(1, -11), 0x3c02},              /* tie: 1 + 3 half ulps -> 1 + 2^-9 */
        {one + ldexpf(1, -11) + ldexpf(1, -20), 0x3c01}, /* just above the tie */
        {-(one + 3 * ldexpf(1, -11)), 0xbc02},
        {65504.0f, 0x7bff},
        {65519.99f, 0x7bff}, /* below the overflow threshold */
        {65520.0f, 0x7c00},  /* tie at the top -> inf */
        {-65520.0f, 0xfc00},
        {1e10f, 0x7c00},
        {FLT_MAX, 0x7c00},
        {INFINITY, 0x7c00},
        {-INFINITY, 0xfc00},
        {ldexpf(1, -24), 0x0001}, /* smallest subnormal */
        {ldexpf(1, -25), 0x0000}, /* tie: half the smallest -> 0 (even) */
        {-ldexpf(1, -25), 0x8000},
        {ldexpf(1, -25) + ldexpf(1, -40), 0x0001}, /* just above that tie */
        {3 * ldexpf(1, -25), 0x0002},              /* tie 1.5 steps -> 2 (even) */
        {5 * ldexpf(1, -25), 0x0002},              /* tie 2.5 steps -> 2 (even) */
        {1023.5f * ldexpf(1, -24), 0x0400},        /* top subnormal tie -> smallest normal */
        {1022.5f * ldexpf(1, -24), 0x03fe},
        {ldexpf(1, -14), 0x0400}, /* smallest normal */
        {FLT_MIN, 0x0000},        /* far below f16 range */
        {FLT_MIN / 8, 0x0000},    /* f32 subnormal */
        {-FLT_MIN / 8, 0x8000},
        {2049.0f, 0x6800}, /* tie at ulp 2 -> 2048 (even) */
        {2051.0f, 0x6802}, /* tie -> 2052 */
        {0.1f, 0x2e66},
    };
    for (size_t i = 0; i < sizeof c / sizeof c[0]; i++) {
        uint16_t got = pce_f32_to_f16(c[i].f);
        ck_assert_msg(got == c[i].want, "f32 %.9g -> f16 0x%04x, want 0x%04x", (double)c[i].f, got,
                      c[i].want);
        /* the reference agrees with the hand-written value too */
        ck_assert_msg(ref_f16(c[i].f) == c[i].want, "reference wrong for %.9g", (double)c[i].f);
        uint16_t arr;
        ck_assert_int_eq(pce_dtype_from_f32(PCE_DTYPE_F16, &c[i].f, &arr, 1), PCE_OK);
        ck_assert_uint_eq(arr, c[i].want);
    }
    /* NaNs of both signs, quiet and signalling, stay NaN */
    const uint32_t nans[] = {0x7fc00000u, 0xffc00000u, 0x7f800001u, 0x7fa00000u,
                             0xff800001u, 0x7fffffffu, 0x7f802000u};
    for (size_t i = 0; i < sizeof nans / sizeof nans[0]; i++) {
        uint16_t got = pce_f32_to_f16(f32_from_bits(nans[i]));
        ck_assert_msg(f16_is_nan(got), "NaN 0x%08x -> f16 0x%04x", nans[i], got);
        ck_assert_uint_eq(got & 0x8000, (nans[i] >> 16) & 0x8000);
    }
}
END_TEST

#define N_RANDOM (1 << 20)

START_TEST(test_f16_random)
{
    float *src = malloc(N_RANDOM * sizeof *src);
    ck_assert_ptr_nonnull(src);
    int64_t n = 0;
    /* any bit pattern */
    for (int i = 0; i < N_RANDOM / 4; i++)
        src[n++] = f32_from_bits(rng_u32());
    /* exponents that matter to f16: f32 biased 95..145 covers 2^-32 .. 2^18 */
    for (int i = 0; i < N_RANDOM / 4; i++) {
        uint32_t e = 95 + (uint32_t)(rng_next() % 51);
        src[n++] = f32_from_bits((rng_u32() & 0x807fffffu) | e << 23);
    }
    /* exact ties (and neighbours) of the normal range: f16-representable
     * mantissa plus half an f16 ulp, +/- one f32 ulp */
    for (int i = 0; i < N_RANDOM / 4; i++) {
        uint32_t e = 113 + (uint32_t)(rng_next() % 30); /* 2^-14 .. 2^15 */
        uint32_t bits = (rng_u32() & 0x807fe000u) | e << 23 | 0x1000u;
        int d = (int)(rng_next() % 3) - 1;
        src[n++] = f32_from_bits(bits + (uint32_t)d);
    }
    /* the subnormal range and its ties: k/2 * 2^-24 for k < 2048, +/- a bit */
    for (int i = 0; i < N_RANDOM / 4; i++) {
        float k = (float)(rng_next() % 2049);
        float v = k * ldexpf(1, -25);
        uint32_t bits = f32_bits(v);
        int d = (int)(rng_next() % 3) - 1;
        if (bits != 0)
            bits = (uint32_t)((int64_t)bits + d);
        if (rng_next() & 1)
            bits |= 0x80000000u;
        src[n++] = f32_from_bits(bits);
    }
    check_f16_array(src, n);
    /* the values around the overflow threshold, one f32 ulp at a time */
    n = 0;
    for (uint32_t b = 0x477fe000u; b <= 0x47800100u; b++) {
        src[n++] = f32_from_bits(b);
        src[n++] = f32_from_bits(b | 0x80000000u);
    }
    check_f16_array(src, n);
    free(src);
}
END_TEST

/* ---- bf16 --------------------------------------------------------------- */

START_TEST(test_bf16_exhaustive)
{
    uint16_t *h = malloc(65536 * sizeof *h), *h2 = malloc(65536 * sizeof *h2);
    float *f = malloc(65536 * sizeof *f);
    ck_assert(h && h2 && f);
    for (uint32_t i = 0; i < 65536; i++)
        h[i] = (uint16_t)i;
    ck_assert_int_eq(pce_dtype_to_f32(PCE_DTYPE_BF16, h, f, 65536), PCE_OK);
    ck_assert_int_eq(pce_dtype_from_f32(PCE_DTYPE_BF16, f, h2, 65536), PCE_OK);
    for (uint32_t i = 0; i < 65536; i++) {
        uint16_t b = (uint16_t)i;
        ck_assert_uint_eq(f32_bits(pce_bf16_to_f32(b)), f32_bits(f[i]));
        ck_assert_uint_eq(pce_f32_to_bf16(f[i]), h2[i]);
        if (bf16_is_nan(b)) {
            ck_assert_msg(isnan(f[i]), "bf16 0x%04x -> %g, want NaN", b, (double)f[i]);
            ck_assert_msg(bf16_is_nan(h2[i]), "bf16 NaN 0x%04x -> 0x%04x", b, h2[i]);
            ck_assert_uint_eq(h2[i] & 0x8000, b & 0x8000);
            continue;
        }
        double want = ref_decode(b, 8, 7);
        ck_assert_msg((double)f[i] == want && !signbit(f[i]) == !(b & 0x8000),
                      "bf16 0x%04x -> %.17g, want %.17g", b, (double)f[i], want);
        /* bf16 is the top half of f32 */
        ck_assert_uint_eq(f32_bits(f[i]), (uint32_t)b << 16);
        ck_assert_msg(h2[i] == b, "bf16 0x%04x -> %.9g -> 0x%04x", b, (double)f[i], h2[i]);
    }
    free(h);
    free(h2);
    free(f);
}
END_TEST

START_TEST(test_bf16_rounding)
{
    const float one = 1.0f;
    struct {
        float f;
        uint16_t want;
    } c[] = {
        {one + ldexpf(1, -8), 0x3f80},                  /* tie -> even (1.0) */
        {one + 3 * ldexpf(1, -8), 0x3f82},              /* tie -> 1 + 2^-6 */
        {one + ldexpf(1, -8) + ldexpf(1, -23), 0x3f81}, /* just above the tie */
        {one + ldexpf(1, -8) - ldexpf(1, -23), 0x3f80}, /* just below */
        {-(one + 3 * ldexpf(1, -8)), 0xbf82},
        {FLT_MAX, 0x7f80},                    /* rounds up past the top: inf */
        {f32_from_bits(0x7f7f7fffu), 0x7f7f}, /* largest below the tie stays finite */
        {f32_from_bits(0x7f7f8000u), 0x7f80}, /* tie with odd lsb -> up to inf */
        {INFINITY, 0x7f80},
        {-INFINITY, 0xff80},
        {0.0f, 0x0000},
        {-0.0f, 0x8000},
        {f32_from_bits(0x00008000u), 0x0000}, /* subnormal tie -> even */
        {f32_from_bits(0x00018000u), 0x0002}, /* subnormal tie -> even (up) */
        {f32_from_bits(0x00008001u), 0x0001},
    };
    for (size_t i = 0; i < sizeof c / sizeof c[0]; i++) {
        uint16_t got = pce_f32_to_bf16(c[i].f);
        ck_assert_msg(got == c[i].want, "f32 0x%08x -> bf16 0x%04x, want 0x%04x", f32_bits(c[i].f),
                      got, c[i].want);
        ck_assert_msg(ref_bf16(c[i].f) == c[i].want, "reference wrong for 0x%08x",
                      f32_bits(c[i].f));
    }
    const uint32_t nans[] = {0x7fc00000u, 0xffc00000u, 0x7f800001u, 0xff800001u,
                             0x7f80ffffu, 0x7fffffffu, 0x7f810000u};
    for (size_t i = 0; i < sizeof nans / sizeof nans[0]; i++) {
        uint16_t got = pce_f32_to_bf16(f32_from_bits(nans[i]));
        ck_assert_msg(bf16_is_nan(got), "NaN 0x%08x -> bf16 0x%04x", nans[i], got);
        ck_assert_uint_eq(got & 0x8000, (nans[i] >> 16) & 0x8000);
    }
    /* random floats (and exact ties) against the reference, through the array API */
    float *src = malloc(N_RANDOM * sizeof *src);
    uint16_t *got = malloc(N_RANDOM * sizeof *got);
    ck_assert(src && got);
    for (int i = 0; i < N_RANDOM; i++) {
        uint32_t b = rng_u32();
        if (i & 1) /* an exact tie, or one ulp off */
            b = ((b & 0xffff0000u) | 0x8000u) + (uint32_t)((int)(rng_next() % 3) - 1);
        src[i] = f32_from_bits(b);
    }
    ck_assert_int_eq(pce_dtype_from_f32(PCE_DTYPE_BF16, src, got, N_RANDOM), PCE_OK);
    for (int i = 0; i < N_RANDOM; i++) {
        if (isnan(src[i])) {
            ck_assert(bf16_is_nan(got[i]));
            continue;
        }
        uint16_t want = ref_bf16(src[i]);
        ck_assert_msg(got[i] == want, "f32 0x%08x -> bf16 0x%04x, want 0x%04x", f32_bits(src[i]),
                      got[i], want);
    }
    free(src);
    free(got);
}
END_TEST

/* ---- integers ----------------------------------------------------------- */

START_TEST(test_i8)
{
    const float src[] = {0.0f,      1.4f,  1.6f,     -1.4f,   -1.6f,   126.6f,  127.4f,  127.5f,
                         300.7f,    1e30f, INFINITY, -127.6f, -128.4f, -129.0f, -300.7f, -1e30f,
                         -INFINITY, NAN,   -NAN,     42.0f,   -42.0f,  0.4999f};
    const int8_t want[] = {0,    1,    2,    -1,   -2,   127,  127, 127, 127, 127, 127,
                           -128, -128, -128, -128, -128, -128, 0,   0,   42,  -42, 0};
    const size_t n = sizeof src / sizeof src[0];
    ck_assert_uint_eq(n, sizeof want);
    int8_t got[sizeof want];
    memset(got, 0x55, sizeof got);
    ck_assert_int_eq(pce_dtype_from_f32(PCE_DTYPE_I8, src, got, (int64_t)n), PCE_OK);
    for (size_t i = 0; i < n; i++)
        ck_assert_msg(got[i] == want[i], "i8 from %g: got %d, want %d", (double)src[i], got[i],
                      want[i]);
    /* exact halves round to one of the two neighbours */
    const float halves[] = {0.5f, 2.5f, -2.5f, 126.5f};
    int8_t h[4];
    ck_assert_int_eq(pce_dtype_from_f32(PCE_DTYPE_I8, halves, h, 4), PCE_OK);
    for (int i = 0; i < 4; i++)
        ck_assert(h[i] == (int8_t)floorf(halves[i]) || h[i] == (int8_t)ceilf(halves[i]));
    /* every i8 value to f32 and back */
    int8_t all[256], back[256];
    float f[256];
    for (int i = 0; i < 256; i++)
        all[i] = (int8_t)(i - 128);
    ck_assert_int_eq(pce_dtype_to_f32(PCE_DTYPE_I8, all, f, 256), PCE_OK);
    ck_assert_int_eq(pce_dtype_from_f32(PCE_DTYPE_I8, f, back, 256), PCE_OK);
    for (int i = 0; i < 256; i++) {
        ck_assert(f[i] == (float)(i - 128));
        ck_assert_int_eq(back[i], all[i]);
    }
}
END_TEST

START_TEST(test_i32)
{
    const float src[] = {0.0f,       1.4f,        1.6f,         -1.4f,          -1.6f, 123456.7f,
                         -123456.7f, 16777216.0f, -1e10f,       -2147483648.0f, -3e9f, -INFINITY,
                         NAN,        -NAN,        2147483520.0f /* the largest float below 2^31 */};
    const int32_t want[] = {0,         1,         2,        -1,        -2,
                            123457,    -123457,   16777216, INT32_MIN, INT32_MIN,
                            INT32_MIN, INT32_MIN, 0,        0,         2147483520};
    const size_t n = sizeof src / sizeof src[0];
    ck_assert_uint_eq(n, sizeof want / sizeof want[0]);
    int32_t got[sizeof want / sizeof want[0]];
    ck_assert_int_eq(pce_dtype_from_f32(PCE_DTYPE_I32, src, got, (int64_t)n), PCE_OK);
    for (size_t i = 0; i < n; i++)
        ck_assert_msg(got[i] == want[i], "i32 from %.9g: got %d, want %d", (double)src[i], got[i],
                      want[i]);
    /* to f32: exact for |v| <= 2^24, nearest float beyond */
    const int32_t ints[] = {0, 1, -1, 16777216, -16777216, 16777217, INT32_MAX, INT32_MIN};
    float f[8];
    ck_assert_int_eq(pce_dtype_to_f32(PCE_DTYPE_I32, ints, f, 8), PCE_OK);
    for (int i = 0; i < 8; i++)
        ck_assert_msg(f[i] == (float)ints[i], "i32 %d -> %.9g", ints[i], (double)f[i]);
    ck_assert(f[5] == 16777216.0f); /* 2^24 + 1 rounds to even */
    ck_assert(f[6] == 2147483648.0f);
}
END_TEST

/* Saturation at the top of the i32 range: values >= 2^31 must give
 * INT32_MAX (the largest i32), the way -1e10 gives INT32_MIN. */
START_TEST(test_i32_saturate_max)
{
    const float src[] = {1e10f, 2147483648.0f, 3e9f, INFINITY, FLT_MAX};
    int32_t got[5];
    ck_assert_int_eq(pce_dtype_from_f32(PCE_DTYPE_I32, src, got, 5), PCE_OK);
    for (int i = 0; i < 5; i++)
        ck_assert_msg(got[i] == INT32_MAX, "i32 from %.9g: got %d, want INT32_MAX (%d)",
                      (double)src[i], got[i], INT32_MAX);
}
END_TEST

static Suite *dtype_suite(void)
{
    Suite *s = suite_create("dtype");
    TCase *tc = tcase_create("table");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, test_reference_sanity);
    tcase_add_test(tc, test_table);
    tcase_add_test(tc, test_from_name_errors);
    tcase_add_test(tc, test_convert_invalid_args);
    tcase_add_test(tc, test_every_dtype_converts);
    tcase_add_test(tc, test_f32_identity);
    suite_add_tcase(s, tc);

    tc = tcase_create("float");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_f16_exhaustive);
    tcase_add_test(tc, test_f16_named_values);
    tcase_add_test(tc, test_f16_random);
    tcase_add_test(tc, test_bf16_exhaustive);
    tcase_add_test(tc, test_bf16_rounding);
    suite_add_tcase(s, tc);

    tc = tcase_create("integer");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, test_i8);
    tcase_add_test(tc, test_i32);
    tcase_add_test(tc, test_i32_saturate_max);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(dtype_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
