/* test_quant.c — GGUF's block-quantized dtypes (core/quant.c) against
 * gguf-py, llama.cpp's Python reader and writer.
 *
 * The fixtures (tests/fixtures/quant/<type>.bin, made by
 * make_quant_fixtures.py) hold gguf-py's dequantization of every type and,
 * for the five types gguf-py can quantize, its quantization of an f32 input:
 * pce must reproduce both bit for bit. pce's own K-quant quantizer, which has
 * no oracle, is held to an error bound on fresh random data.
 *
 * argv[1]: the fixtures folder (tests/fixtures/quant). */
#include <check.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "quant.h"

static const char *fixtures = "tests/fixtures/quant";

static const struct qtype {
    pce_dtype dt;
    const char *name;
    int block_size;
    size_t block_bytes;
    bool gguf_quantizes; /* the fixture holds gguf-py's quantize() of an input */
} qtypes[] = {
    {PCE_DTYPE_Q8_0, "q8_0", 32, 34, true},    {PCE_DTYPE_Q4_0, "q4_0", 32, 18, true},
    {PCE_DTYPE_Q4_1, "q4_1", 32, 20, true},    {PCE_DTYPE_Q5_0, "q5_0", 32, 22, true},
    {PCE_DTYPE_Q5_1, "q5_1", 32, 24, true},    {PCE_DTYPE_Q4_K, "q4_k", 256, 144, false},
    {PCE_DTYPE_Q5_K, "q5_k", 256, 176, false}, {PCE_DTYPE_Q6_K, "q6_k", 256, 210, false},
};
#define N_QTYPES ((int)(sizeof qtypes / sizeof qtypes[0]))

/* ---- helpers ------------------------------------------------------------ */

static uint64_t rng_state;

static uint64_t rng_next(void)
{
    rng_state ^= rng_state >> 12; /* xorshift64* */
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 0x2545f4914f6cdd1dull;
}

static double rng_uniform(void) /* [0, 1) */
{
    return (double)(rng_next() >> 11) * 0x1p-53;
}

static double rng_normal(void)
{
    double u = rng_uniform(), v = rng_uniform();
    return sqrt(-2.0 * log(1.0 - u)) * cos(6.283185307179586 * v);
}

static uint32_t f32_bits(float f)
{
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    return u;
}

typedef struct fixture {
    uint32_t flags, n_rows, n_cols, row_bytes;
    float *input; /* NULL unless flags & 1 */
    uint8_t *q;
    float *deq;
} fixture;

static uint32_t rd_u32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* Reads <fixtures>/<name>.bin (format: make_quant_fixtures.py). */
static void fixture_load(const char *name, fixture *f)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s.bin", fixtures, name);
    FILE *fp = fopen(path, "rb");
    ck_assert_msg(fp != NULL, "cannot open %s", path);
    uint8_t hdr[32];
    ck_assert_msg(fread(hdr, 1, sizeof hdr, fp) == sizeof hdr, "%s: short header", path);
    ck_assert_msg(memcmp(hdr, "PCEQ", 4) == 0 && rd_u32(hdr + 4) == 1, "%s: not a v1 fixture",
                  path);
    char fname[9] = {0};
    memcpy(fname, hdr + 8, 8);
    ck_assert_str_eq(fname, name);
    f->flags = rd_u32(hdr + 16);
    f->n_rows = rd_u32(hdr + 20);
    f->n_cols = rd_u32(hdr + 24);
    f->row_bytes = rd_u32(hdr + 28);
    ck_assert(f->n_rows > 0 && f->n_rows < 4096 && f->n_cols > 0 && f->n_cols < 65536);
    size_t nel = (size_t)f->n_rows * f->n_cols, nq = (size_t)f->n_rows * f->row_bytes;
    f->input = (f->flags & 1) ? malloc(nel * sizeof(float)) : NULL;
    f->q = malloc(nq);
    f->deq = malloc(nel * sizeof(float));
    ck_assert(f->q && f->deq && (f->input || !(f->flags & 1)));
    if (f->input)
        ck_assert_msg(fread(f->input, sizeof(float), nel, fp) == nel, "%s: short input", path);
    ck_assert_msg(fread(f->q, 1, nq, fp) == nq, "%s: short blocks", path);
    ck_assert_msg(fread(f->deq, sizeof(float), nel, fp) == nel, "%s: short output", path);
    ck_assert_msg(fgetc(fp) == EOF, "%s: trailing bytes", path);
    fclose(fp);
}

static void fixture_free(fixture *f)
{
    free(f->input);
    free(f->q);
    free(f->deq);
}

/* ---- the table ---------------------------------------------------------- */

START_TEST(test_info)
{
    const struct qtype *t = &qtypes[_i];
    const pce_dtype_info *in = pce_dtype_get_info(t->dt);
    ck_assert_ptr_nonnull(in);
    ck_assert_str_eq(in->name, t->name);
    ck_assert_int_eq(in->block_size, t->block_size);
    ck_assert_uint_eq(in->block_bytes, t->block_bytes);
    ck_assert(in->is_float && !in->is_integer && in->is_quantized);

    pce_dtype back = PCE_DTYPE_COUNT;
    ck_assert_int_eq(pce_dtype_from_name(t->name, &back), PCE_OK);
    ck_assert_int_eq(back, t->dt);

    const int bs = t->block_size;
    ck_assert_uint_eq(pce_dtype_bytes(t->dt, 0), 0);
    ck_assert_uint_eq(pce_dtype_bytes(t->dt, bs), t->block_bytes);
    ck_assert_uint_eq(pce_dtype_bytes(t->dt, 7 * bs), 7 * t->block_bytes);
    ck_assert_uint_eq(pce_dtype_bytes(t->dt, 1), 0);
    ck_assert_uint_eq(pce_dtype_bytes(t->dt, bs - 1), 0);
    ck_assert_uint_eq(pce_dtype_bytes(t->dt, bs + 1), 0);
    ck_assert_uint_eq(pce_dtype_bytes(t->dt, -bs), 0);

    /* a length that is not whole blocks is refused, nothing written */
    uint8_t q[2 * 210];
    float f[2 * 256];
    memset(q, 0x5a, sizeof q);
    for (int i = 0; i < 2 * 256; i++)
        f[i] = 1.0f;
    ck_assert_int_eq(pce_dtype_to_f32(t->dt, q, f, bs + 1), PCE_ERR_INVALID_ARGUMENT);
    ck_assert_int_eq(pce_dtype_from_f32(t->dt, f, q, bs - 1), PCE_ERR_INVALID_ARGUMENT);
    ck_assert_int_eq(pce_dequantize_row(t->dt, q, f, 1), PCE_ERR_INVALID_ARGUMENT);
    ck_assert_int_eq(pce_quantize_row(t->dt, f, q, bs + bs / 2), PCE_ERR_INVALID_ARGUMENT);
    ck_assert_int_eq(pce_dequantize_row(t->dt, NULL, f, bs), PCE_ERR_INVALID_ARGUMENT);
    ck_assert_int_eq(pce_quantize_row(t->dt, f, NULL, bs), PCE_ERR_INVALID_ARGUMENT);
    for (int i = 0; i < 2 * 256; i++)
        ck_assert(f[i] == 1.0f);
    for (size_t i = 0; i < sizeof q; i++)
        ck_assert_uint_eq(q[i], 0x5a);
    ck_assert_int_eq(pce_dequantize_row(t->dt, NULL, NULL, 0), PCE_OK);
    ck_assert_int_eq(pce_quantize_row(t->dt, NULL, NULL, 0), PCE_OK);
}
END_TEST

START_TEST(test_names_and_non_quant)
{
    pce_dtype d = PCE_DTYPE_F32;
    ck_assert_int_eq(pce_dtype_from_name("q4_k", &d), PCE_OK);
    ck_assert_int_eq(d, PCE_DTYPE_Q4_K);
    ck_assert_int_eq(pce_dtype_from_name("q6_k", &d), PCE_OK);
    ck_assert_int_eq(d, PCE_DTYPE_Q6_K);
    d = PCE_DTYPE_I8;
    ck_assert_int_eq(pce_dtype_from_name("Q4_K", &d), PCE_ERR_INVALID_ARGUMENT);
    ck_assert_int_eq(pce_dtype_from_name("q4_K", &d), PCE_ERR_INVALID_ARGUMENT);
    ck_assert_int_eq(pce_dtype_from_name("q2_k", &d), PCE_ERR_INVALID_ARGUMENT);
    ck_assert_int_eq(d, PCE_DTYPE_I8);
    /* quant.c's entry points take block-quantized dtypes only */
    float f[32] = {0};
    uint8_t q[128] = {0};
    ck_assert_int_eq(pce_dequantize_row(PCE_DTYPE_F32, q, f, 32), PCE_ERR_INVALID_ARGUMENT);
    ck_assert_int_eq(pce_quantize_row(PCE_DTYPE_F16, f, q, 32), PCE_ERR_INVALID_ARGUMENT);
    ck_assert_int_eq(pce_dequantize_row(PCE_DTYPE_COUNT, q, f, 32), PCE_ERR_INVALID_ARGUMENT);
    ck_assert_int_eq(pce_quantize_row((pce_dtype)-1, f, q, 32), PCE_ERR_INVALID_ARGUMENT);
    /* the block structs are the table's sizes */
    ck_assert_uint_eq(sizeof(pce_block_q8_0), pce_dtype_get_info(PCE_DTYPE_Q8_0)->block_bytes);
    ck_assert_uint_eq(sizeof(pce_block_q4_k), pce_dtype_get_info(PCE_DTYPE_Q4_K)->block_bytes);
    ck_assert_uint_eq(sizeof(pce_block_q6_k), pce_dtype_get_info(PCE_DTYPE_Q6_K)->block_bytes);
}
END_TEST

/* ---- against gguf-py ---------------------------------------------------- */

START_TEST(test_dequantize_matches_gguf)
{
    const struct qtype *t = &qtypes[_i];
    fixture fx;
    fixture_load(t->name, &fx);
    ck_assert_int_eq(fx.n_cols % t->block_size, 0);
    ck_assert_uint_eq(fx.row_bytes, fx.n_cols / t->block_size * t->block_bytes);
    const int64_t nel = (int64_t)fx.n_rows * fx.n_cols;
    float *got = malloc((size_t)nel * sizeof *got), *got2 = malloc((size_t)nel * sizeof *got2);
    ck_assert(got && got2);
    const uint32_t poison = 0x7fc0dead;
    for (int64_t i = 0; i < nel; i++)
        memcpy(&got[i], &poison, 4);
    memcpy(got2, got, (size_t)nel * sizeof *got);

    /* the whole tensor in one call, and row by row through quant.c */
    ck_assert_int_eq(pce_dtype_to_f32(t->dt, fx.q, got, nel), PCE_OK);
    for (uint32_t r = 0; r < fx.n_rows; r++)
        ck_assert_int_eq(pce_dequantize_row(t->dt, fx.q + (size_t)r * fx.row_bytes,
                                            got2 + (size_t)r * fx.n_cols, fx.n_cols),
                         PCE_OK);
    int bad = 0;
    for (int64_t i = 0; i < nel; i++) {
        uint32_t g = f32_bits(got[i]), w = f32_bits(fx.deq[i]);
        if (g != w && bad++ < 8)
            fprintf(stderr,
                    "%s: element %lld (block %lld): got 0x%08x (%.9g), gguf-py 0x%08x (%.9g)\n",
                    t->name, (long long)i, (long long)(i / t->block_size), g, (double)got[i], w,
                    (double)fx.deq[i]);
        ck_assert_uint_eq(f32_bits(got2[i]), g);
    }
    ck_assert_msg(bad == 0, "%s: %d of %lld elements differ from gguf-py's dequantize", t->name,
                  bad, (long long)nel);
    free(got);
    free(got2);
    fixture_free(&fx);
}
END_TEST

START_TEST(test_quantize_matches_gguf)
{
    const struct qtype *t = &qtypes[_i];
    if (!t->gguf_quantizes)
        return; /* no oracle: test_k_quantize_error covers pce's own quantizer */
    fixture fx;
    fixture_load(t->name, &fx);
    ck_assert_msg(fx.input != NULL, "%s: the fixture has no input", t->name);
    const int64_t nel = (int64_t)fx.n_rows * fx.n_cols;
    const size_t nq = (size_t)fx.n_rows * fx.row_bytes;
    uint8_t *got = malloc(nq);
    ck_assert_ptr_nonnull(got);
    memset(got, 0xa5, nq);
    ck_assert_int_eq(pce_dtype_from_f32(t->dt, fx.input, got, nel), PCE_OK);
    int bad = 0;
    for (size_t i = 0; i < nq; i++) {
        if (got[i] != fx.q[i] && bad++ < 8)
            fprintf(stderr, "%s: byte %zu (block %zu, offset %zu): got 0x%02x, gguf-py 0x%02x\n",
                    t->name, i, i / t->block_bytes, i % t->block_bytes, got[i], fx.q[i]);
    }
    ck_assert_msg(bad == 0, "%s: %d of %zu bytes differ from gguf-py's quantize", t->name, bad, nq);
    /* and the same through quant.c, one row at a time */
    memset(got, 0xa5, nq);
    for (uint32_t r = 0; r < fx.n_rows; r++)
        ck_assert_int_eq(pce_quantize_row(t->dt, fx.input + (size_t)r * fx.n_cols,
                                          got + (size_t)r * fx.row_bytes, fx.n_cols),
                         PCE_OK);
    ck_assert(memcmp(got, fx.q, nq) == 0);
    free(got);
    fixture_free(&fx);
}
END_TEST

/* ---- round trips on fresh random data ----------------------------------- */

/* A bound on |x - dequantize(quantize(x))| for the elements [b, b + len) of
 * x, one sub-block (or block) of type t. sup is the block's super-block
 * (the same range for the 32-element types). See quant.h for the K-quants'
 * bound; the others follow from gguf-py's rounding and f16 scales. */
static double error_bound(const struct qtype *t, const float *x, int b, int len, int sup,
                          int sup_len)
{
    double lo = x[b], hi = x[b], amax = 0;
    for (int i = b; i < b + len; i++) {
        lo = fmin(lo, x[i]);
        hi = fmax(hi, x[i]);
        amax = fmax(amax, fabs(x[i]));
    }
    double samax = 0;
    for (int i = sup; i < sup + sup_len; i++)
        samax = fmax(samax, fabs(x[i]));
    /* f16: a scale's relative rounding (twice the true half ulp); f16_step:
     * the subnormal f16 step, times the largest weight it multiplies */
    const double f16 = 0x1p-10, f16_step = 0x1p-24, slack = 1e-6 * samax + 64 * f16_step;
    switch (t->dt) {
    case PCE_DTYPE_Q8_0: return amax / 127 * (0.5 + 127 * f16) * 1.01 + slack;
    case PCE_DTYPE_Q4_0: return amax / 8 * (1 + 8 * f16) + slack; /* +8 clips to 7 */
    case PCE_DTYPE_Q5_0: return amax / 16 * (1 + 16 * f16) + slack;
    case PCE_DTYPE_Q4_1: return (hi - lo) / 15 * (0.5 + 15 * f16) + fabs(lo) * f16 + slack;
    case PCE_DTYPE_Q5_1: return (hi - lo) / 31 * (0.5 + 31 * f16) + fabs(lo) * f16 + slack;
    case PCE_DTYPE_Q4_K:
    case PCE_DTYPE_Q5_K: {
        const int nmax = t->dt == PCE_DTYPE_Q4_K ? 15 : 31;
        double max_scale = 0, max_mn = 0;
        for (int s = sup; s < sup + sup_len; s += 32) {
            double l = x[s], h = x[s];
            for (int i = s; i < s + 32; i++) {
                l = fmin(l, x[i]);
                h = fmax(h, x[i]);
            }
            l = fmin(l, 0);
            max_scale = fmax(max_scale, (h - l) / nmax);
            max_mn = fmax(max_mn, -l);
        }
        double d = max_scale / 63 * (1 + 2 * f16) + f16_step;
        double dmin = max_mn / 63 * (1 + 2 * f16) + f16_step;
        return 0.5 * ((hi - fmin(lo, 0)) / nmax + d) + 0.5 * dmin + slack;
    }
    case PCE_DTYPE_Q6_K: {
        double max_scale = 0;
        for (int s = sup; s < sup + sup_len; s += 16) {
            double a = 0;
            for (int i = s; i < s + 16; i++)
                a = fmax(a, fabs(x[i]));
            max_scale = fmax(max_scale, a / 32);
        }
        double d = max_scale / 127 * (1 + 2 * f16) + f16_step;
        return amax / 32 + d + slack; /* +32 clips to 31: one step */
    }
    default: return 0;
    }
}

START_TEST(test_roundtrip_error)
{
    const struct qtype *t = &qtypes[_i];
    rng_state = 0x9e3779b97f4a7c15ull ^ (uint64_t)(_i + 1) * 0x100000001b3ull;
    const int bs = t->block_size, n_blocks = 24, n = n_blocks * bs;
    float *x = malloc((size_t)n * sizeof *x), *y = malloc((size_t)n * sizeof *y);
    uint8_t *q = malloc((size_t)n_blocks * t->block_bytes);
    ck_assert(x && y && q);
    for (int b = 0; b < n_blocks; b++) {
        float *xb = x + b * bs;
        double scale = pow(10.0, -2 + 4 * rng_uniform());
        double shift = (b % 3 == 0) ? scale * 3 * rng_normal() : 0.0;
        for (int i = 0; i < bs; i++)
            xb[i] = (float)(shift + scale * rng_normal());
        if (b == 0) /* zeros */
            memset(xb, 0, (size_t)bs * sizeof *xb);
        if (b == 1 || b == 2) /* a constant, negative then positive */
            for (int i = 0; i < bs; i++)
                xb[i] = b == 1 ? -2.5f : 0.375f;
        if (b == 3) /* one sub-block much larger than the rest (f16 scales and mins stay finite) */
            for (int i = 0; i < bs; i++)
                xb[i] = (float)(rng_normal() * (i < 16 ? 1000.0 : 1.0));
    }
    memset(q, 0xa5, (size_t)n_blocks * t->block_bytes);
    for (int i = 0; i < n; i++)
        y[i] = NAN;
    ck_assert_int_eq(pce_dtype_from_f32(t->dt, x, q, n), PCE_OK);
    ck_assert_int_eq(pce_dtype_to_f32(t->dt, q, y, n), PCE_OK);
    const int sub = t->dt == PCE_DTYPE_Q6_K ? 16 : 32;
    for (int b = 0; b < n_blocks; b++) {
        for (int s = 0; s < bs; s += sub) {
            double bound = error_bound(t, x, b * bs + s, sub, b * bs, bs);
            for (int i = b * bs + s; i < b * bs + s + sub; i++) {
                double err = fabs((double)y[i] - (double)x[i]);
                ck_assert_msg(err <= bound,
                              "%s block %d element %d: %.9g -> %.9g, error %.3g > %.3g", t->name, b,
                              i - b * bs, (double)x[i], (double)y[i], err, bound);
            }
        }
    }
    for (int i = 0; i < bs; i++) /* zeros come back exactly */
        ck_assert_msg(y[i] == 0.0f, "%s: zero input gave %g at %d", t->name, (double)y[i], i);
    free(x);
    free(y);
    free(q);
}
END_TEST

/* pce's K-quant quantizer keeps the sub-blocks' scale ratios: on a
 * super-block whose sub-blocks span very different ranges each still gets its
 * own 6-bit scale (not all squashed onto the largest). */
START_TEST(test_k_quantize_scales)
{
    float x[256], y[256];
    rng_state = 0x1234567887654321ull;
    for (int i = 0; i < 256; i++)
        x[i] = (float)((1 + i / 32) * (1 + i / 32) * rng_normal()); /* spans ~ (j + 1)^2 */
    const pce_dtype dts[] = {PCE_DTYPE_Q4_K, PCE_DTYPE_Q5_K};
    for (int k = 0; k < 2; k++) {
        uint8_t raw[176];
        ck_assert_int_eq(pce_quantize_row(dts[k], x, raw, 256), PCE_OK);
        const uint8_t *sc = raw + 4;
        int ls[8];
        for (int j = 0; j < 8; j++)
            ls[j] = j < 4 ? sc[j] & 63 : (sc[j + 4] & 0x0f) | ((sc[j - 4] >> 6) << 4);
        ck_assert_int_ge(ls[7], 60); /* the widest sub-block uses the top of the grid */
        ck_assert_int_lt(ls[0], ls[7] / 3);
        ck_assert_int_eq(pce_dequantize_row(dts[k], raw, y, 256), PCE_OK);
        double e0 = 0, e7 = 0;
        for (int i = 0; i < 32; i++) {
            e0 = fmax(e0, fabs((double)y[i] - x[i]));
            e7 = fmax(e7, fabs((double)y[224 + i] - x[224 + i]));
        }
        ck_assert_msg(e0 < e7, "sub-block 0 error %g not below sub-block 7's %g", e0, e7);
    }
}
END_TEST

static Suite *quant_suite(void)
{
    Suite *s = suite_create("quant");
    TCase *tc = tcase_create("table");
    tcase_add_loop_test(tc, test_info, 0, N_QTYPES);
    tcase_add_test(tc, test_names_and_non_quant);
    suite_add_tcase(s, tc);

    tc = tcase_create("gguf");
    tcase_set_timeout(tc, 60);
    tcase_add_loop_test(tc, test_dequantize_matches_gguf, 0, N_QTYPES);
    tcase_add_loop_test(tc, test_quantize_matches_gguf, 0, N_QTYPES);
    suite_add_tcase(s, tc);

    tc = tcase_create("roundtrip");
    tcase_set_timeout(tc, 60);
    tcase_add_loop_test(tc, test_roundtrip_error, 0, N_QTYPES);
    tcase_add_test(tc, test_k_quantize_scales);
    suite_add_tcase(s, tc);
    return s;
}

int main(int argc, char **argv)
{
    if (argc > 1)
        fixtures = argv[1];
    SRunner *sr = srunner_create(quant_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
