/* quant.h — GGUF's block-quantized formats: the block layouts (llama.cpp's
 * ggml-common.h, bit for bit) and the reference conversions to and from f32.
 *
 * Dequantization (all eight types) reproduces gguf-py's numpy code
 * (gguf/quants.py, gguf 0.19) bit for bit: every product and sum is one f32
 * operation in the order numpy evaluates it (e.g. Q4_1 is (d * q) + m, two
 * roundings, never a fused multiply-add; K-quants first form d * scale and
 * dmin * min in f32, then (d * scale) * q - dmin * min).
 *
 * Quantization:
 *  - Q8_0, Q4_0, Q4_1, Q5_0, Q5_1: gguf-py's quantize, bit for bit (which
 *    for Q8_0 is also ggml's quantize_row_q8_0_ref). Inputs must be finite.
 *    Where a block's extreme is a signed zero the sign of the stored scale
 *    follows numpy's argmax/max/min choices, which we mirror (first index
 *    wins; max/min start from the first element).
 *  - Q4_K, Q5_K, Q6_K: gguf-py has no quantizer for these, so pce has a
 *    simple one of its own, NOT llama.cpp's quantize_row_q*_K_ref (no search
 *    over candidate scales, no importance weights). Its output is a valid
 *    block that any Q*_K reader decodes. Per sub-block it takes the range
 *    (Q4_K/Q5_K: [min(0, lo), hi] -> 15 or 31 steps; Q6_K: the signed value
 *    of largest magnitude -> -32), stores the super-block's d and dmin as the
 *    f16 at or above max/63 (Q6_K: max/127), rounds each sub-block's scale
 *    up and its min to nearest, then each weight to nearest. The error per
 *    weight is at most about half a step of its sub-block plus half a step
 *    of the 6-bit scale grid (Q6_K: one step). */
#ifndef PCE_QUANT_H
#define PCE_QUANT_H

#include "pce.h"

#include <stdint.h>

#define PCE_QK 32    /* weights per block of Q8_0, Q4_0, Q4_1, Q5_0, Q5_1 */
#define PCE_QK_K 256 /* weights per super-block of the K-quants */
#define PCE_K_SCALE_SIZE 12

/* f16 values are kept as their raw bits (pce_f16_to_f32 decodes them). */
typedef struct pce_block_q8_0 {
    uint16_t d;        /* scale */
    int8_t qs[PCE_QK]; /* x = d * q */
} pce_block_q8_0;

typedef struct pce_block_q4_0 {
    uint16_t d;
    uint8_t qs[PCE_QK / 2]; /* element j: low nibble of qs[j], j+16: high; x = d * (q - 8) */
} pce_block_q4_0;

typedef struct pce_block_q4_1 {
    uint16_t d, m;
    uint8_t qs[PCE_QK / 2]; /* as Q4_0; x = d * q + m */
} pce_block_q4_1;

typedef struct pce_block_q5_0 {
    uint16_t d;
    uint8_t qh[4];          /* bit j (little-endian u32): the fifth bit of element j */
    uint8_t qs[PCE_QK / 2]; /* the low 4 bits, as Q4_0; x = d * (q - 16) */
} pce_block_q5_0;

typedef struct pce_block_q5_1 {
    uint16_t d, m;
    uint8_t qh[4];
    uint8_t qs[PCE_QK / 2]; /* x = d * q + m */
} pce_block_q5_1;

/* 8 sub-blocks of 32; 6-bit scale and min per sub-block, packed in 12
 * bytes; x = (d * sc) * q - (dmin * m). */
typedef struct pce_block_q4_k {
    uint16_t d, dmin;
    uint8_t scales[PCE_K_SCALE_SIZE];
    uint8_t qs[PCE_QK_K / 2]; /* 32 bytes per pair of sub-blocks: low nibbles, then high */
} pce_block_q4_k;

typedef struct pce_block_q5_k {
    uint16_t d, dmin;
    uint8_t scales[PCE_K_SCALE_SIZE];
    uint8_t qh[PCE_QK_K / 8]; /* bit j of qh[l]: the fifth bit of element 32 j + l */
    uint8_t qs[PCE_QK_K / 2];
} pce_block_q5_k;

/* 16 sub-blocks of 16 with signed 8-bit scales; x = (d * sc) * (q - 32). */
typedef struct pce_block_q6_k {
    uint8_t ql[PCE_QK_K / 2]; /* low 4 bits */
    uint8_t qh[PCE_QK_K / 4]; /* high 2 bits */
    int8_t scales[PCE_QK_K / 16];
    uint16_t d;
} pce_block_q6_k;

_Static_assert(sizeof(pce_block_q8_0) == 34, "block_q8_0 is 34 bytes in ggml");
_Static_assert(sizeof(pce_block_q4_0) == 18, "block_q4_0 is 18 bytes in ggml");
_Static_assert(sizeof(pce_block_q4_1) == 20, "block_q4_1 is 20 bytes in ggml");
_Static_assert(sizeof(pce_block_q5_0) == 22, "block_q5_0 is 22 bytes in ggml");
_Static_assert(sizeof(pce_block_q5_1) == 24, "block_q5_1 is 24 bytes in ggml");
_Static_assert(sizeof(pce_block_q4_k) == 144, "block_q4_K is 144 bytes in ggml");
_Static_assert(sizeof(pce_block_q5_k) == 176, "block_q5_K is 176 bytes in ggml");
_Static_assert(sizeof(pce_block_q6_k) == 210, "block_q6_K is 210 bytes in ggml");

/* Per-type row conversions: n elements, a multiple of the block size (not
 * checked here); src and dst must not overlap. */
void pce_dequantize_row_q8_0(const void *src, float *dst, int64_t n);
void pce_dequantize_row_q4_0(const void *src, float *dst, int64_t n);
void pce_dequantize_row_q4_1(const void *src, float *dst, int64_t n);
void pce_dequantize_row_q5_0(const void *src, float *dst, int64_t n);
void pce_dequantize_row_q5_1(const void *src, float *dst, int64_t n);
void pce_dequantize_row_q4_k(const void *src, float *dst, int64_t n);
void pce_dequantize_row_q5_k(const void *src, float *dst, int64_t n);
void pce_dequantize_row_q6_k(const void *src, float *dst, int64_t n);

void pce_quantize_row_q8_0(const float *src, void *dst, int64_t n);
void pce_quantize_row_q4_0(const float *src, void *dst, int64_t n);
void pce_quantize_row_q4_1(const float *src, void *dst, int64_t n);
void pce_quantize_row_q5_0(const float *src, void *dst, int64_t n);
void pce_quantize_row_q5_1(const float *src, void *dst, int64_t n);
void pce_quantize_row_q4_k(const float *src, void *dst, int64_t n);
void pce_quantize_row_q5_k(const float *src, void *dst, int64_t n);
void pce_quantize_row_q6_k(const float *src, void *dst, int64_t n);

/* Dequantizes n elements of a quantized dtype to f32. INVALID_ARGUMENT for a
 * dtype that is not block-quantized, n negative or not a multiple of the
 * block size, or NULL pointers with n > 0. Nothing is owned or kept. */
pce_status pce_dequantize_row(pce_dtype dtype, const void *src, float *dst, int64_t n);
/* Quantizes n f32 elements (finite) into blocks of dtype; errors as above. */
pce_status pce_quantize_row(pce_dtype dtype, const float *src, void *dst, int64_t n);

#endif /* PCE_QUANT_H */
