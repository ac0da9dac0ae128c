/* quant_packed_rows8.h — the packed kernels of quant_packed.c, included
 * once per instruction set with QP_ATTR (the target), QP_INLINE,
 * QP_DPBUSD(acc, u8, s8) (four u8 · s8 products summed into each int32
 * lane), QP_HI16 (1: the high nibbles are multiplied in place, 16 times
 * their value) and QP_NAME(x) (x with the set's suffix) defined:
 *   AVX-VNNI (VEX; Alder Lake and later, Zen 5) and AVX512-VNNI on 256-bit
 *   registers (EVEX; Ice Lake, Cascade Lake, Zen 4): vpdpbusd;
 *   AVX2 (Haswell, Zen 2/3): maddubs + madd, whose 16-bit pair sums
 *   saturate past 32767, so nibbles are shifted down (QP_HI16 0) and Q8_0
 *   (255 · 127 · 2) has no AVX2 kernel (QP_Q8 0).
 * Not a header to include anywhere else. */

QP_INLINE __m256i QP_NAME(bcast4)(const int8_t *y)
{
    int32_t v;
    memcpy(&v, y, 4);
    return _mm256_set1_epi32(v);
}

/* One 32-byte chunk of eight rows' nibbles (4 bytes a row) into M <= 4
 * activation rows' sums: the low nibbles against the 4 activation bytes at
 * y (row m's at y + m · ystride bytes), the high ones against those hi_off
 * bytes further. With QP_HI16 the high nibbles stay in place, 16 times
 * their value (one mask instead of a shift and a mask): the caller divides
 * s1 back. */
QP_INLINE void QP_NAME(nibble_chunk)(const uint8_t *q, const int8_t *y, int64_t ystride, int hi_off,
                                     const int M, __m256i s0[4], __m256i s1[4])
{
    const __m256i lo4 = _mm256_set1_epi8(15);
    __m256i v = _mm256_loadu_si256((const __m256i *)q);
    __m256i lo = _mm256_and_si256(v, lo4);
#if QP_HI16
    __m256i hi = _mm256_andnot_si256(lo4, v);
#else
    __m256i hi = _mm256_and_si256(_mm256_srli_epi16(v, 4), lo4);
#endif
    for (int m = 0; m < M; m++) {
        const int8_t *ym = y + m * ystride;
        s0[m] = QP_DPBUSD(s0[m], lo, QP_NAME(bcast4)(ym));
        s1[m] = QP_DPBUSD(s1[m], hi, QP_NAME(bcast4)(ym + hi_off));
    }
}

/* Q5's fifth bits for chunk c of eight rows: lane r of h is row r's qh
 * regrouped (byte c: the bits of weights 4c .. 4c+3, then of 16+4c ..);
 * that byte is copied to the lane's 4 bytes and byte j tests its bit j
 * (low weights) or j + 4 (high weights), giving 16 where it is set. */
QP_INLINE void QP_NAME(q5_bits)(__m256i h, int c, __m256i *lo5, __m256i *hi5)
{
    const __m256i pick = _mm256_add_epi32(_mm256_set1_epi32(0x01010101 * c),
                                          _mm256_setr_epi32(0, 0x04040404, 0x08080808, 0x0c0c0c0c,
                                                            0, 0x04040404, 0x08080808, 0x0c0c0c0c));
    const __m256i bl = _mm256_set1_epi32(0x08040201), bh = _mm256_set1_epi32((int)0x80402010u);
    const __m256i f16 = _mm256_set1_epi8(16);
    __m256i v = _mm256_shuffle_epi8(h, pick);
    *lo5 = _mm256_and_si256(_mm256_cmpeq_epi8(_mm256_and_si256(v, bl), bl), f16);
    *hi5 = _mm256_and_si256(_mm256_cmpeq_epi8(_mm256_and_si256(v, bh), bh), f16);
}

/* Eight packed weight rows (nb groups at p) against M <= 4 activation rows
 * (x, xs blocks apart): out[m * 8 + r]. One or two integer accumulators
 * per activation row: two when M is small, so a block's eight vpdpbusd do
 * not form one chain of latencies. */
QP_INLINE void QP_NAME(rows8)(pce_dtype dt, const uint8_t *p, const q8_act *x, int64_t xs,
                              int64_t nb, const int M, float *out)
{
    __m256 acc[4], accm[4];
    for (int m = 0; m < M; m++)
        acc[m] = accm[m] = _mm256_setzero_ps();
    const bool q5 = dt == PCE_DTYPE_Q5_0 || dt == PCE_DTYPE_Q5_1;
    const bool has_min = dt == PCE_DTYPE_Q4_1 || dt == PCE_DTYPE_Q5_1;
    const size_t gb = dt == PCE_DTYPE_Q4_0   ? 144
                      : dt == PCE_DTYPE_Q4_1 ? 160
                      : dt == PCE_DTYPE_Q5_0 ? 176
                      : dt == PCE_DTYPE_Q5_1 ? 192
                                             : 272;
    /* d (and m), Q5's qh (8 × 4 bytes), then the chunks */
    const size_t hoff = has_min ? 32 : 16, qoff = hoff + (q5 ? 32 : 0);
    for (int64_t b = 0; b < nb; b++, p += gb) {
        __m256i s0[4], s1[4];
        for (int m = 0; m < M; m++)
            s0[m] = s1[m] = _mm256_setzero_si256();
        const uint8_t *q = p + qoff;
        if (dt == PCE_DTYPE_Q8_0) {
            for (int c = 0; c < 8; c += 2) {
                __m256i v0 = _mm256_loadu_si256((const __m256i *)(q + 32 * c));
                __m256i v1 = _mm256_loadu_si256((const __m256i *)(q + 32 * c + 32));
                for (int m = 0; m < M; m++) {
                    const int8_t *y = x[m * xs + b].qs;
                    s0[m] = QP_DPBUSD(s0[m], v0, QP_NAME(bcast4)(y + 4 * c));
                    s1[m] = QP_DPBUSD(s1[m], v1, QP_NAME(bcast4)(y + 4 * c + 4));
                }
            }
        } else if (q5) { /* nibbles and fifth bits; the high ones shifted down */
            const __m256i lo4 = _mm256_set1_epi8(15);
            __m256i h = _mm256_loadu_si256((const __m256i *)(p + hoff));
            for (int c = 0; c < 4; c++) {
                __m256i v = _mm256_loadu_si256((const __m256i *)(q + 32 * c)), lo5, hi5;
                QP_NAME(q5_bits)(h, c, &lo5, &hi5);
                __m256i lo = _mm256_or_si256(_mm256_and_si256(v, lo4), lo5);
                __m256i hi = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(v, 4), lo4), hi5);
                for (int m = 0; m < M; m++) {
                    const int8_t *y = x[m * xs + b].qs + 4 * c;
                    s0[m] = QP_DPBUSD(s0[m], lo, QP_NAME(bcast4)(y));
                    s1[m] = QP_DPBUSD(s1[m], hi, QP_NAME(bcast4)(y + 16));
                }
            }
        } else {
            for (int c = 0; c < 4; c++)
                QP_NAME(nibble_chunk)
            (q + 32 * c, x[b].qs + 4 * c, xs * (int64_t)sizeof(q8_act), 16, M, s0, s1);
        }
        __m256 d = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)p));
        __m256 mn = has_min ? _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(p + 16)))
                            : _mm256_setzero_ps();
        for (int m = 0; m < M; m++) {
            const q8_act *a = &x[m * xs + b];
            __m256i s = dt == PCE_DTYPE_Q8_0 || q5
                            ? _mm256_add_epi32(s0[m], s1[m])
                            : _mm256_add_epi32(s0[m], _mm256_srai_epi32(s1[m], 4 * QP_HI16));
            /* unsigned weights: Q4_0 stores q + 8, Q5_0 q + 16, Q8_0 here q + 128 */
            if (dt == PCE_DTYPE_Q4_0)
                s = _mm256_sub_epi32(s, _mm256_set1_epi32(8 * a->sum));
            else if (dt == PCE_DTYPE_Q5_0)
                s = _mm256_sub_epi32(s, _mm256_set1_epi32(16 * a->sum));
            else if (dt == PCE_DTYPE_Q8_0)
                s = _mm256_sub_epi32(s, _mm256_set1_epi32(128 * a->sum));
            acc[m] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(s), _mm256_mul_ps(d, _mm256_set1_ps(a->d)),
                                     acc[m]);
            if (has_min)
                accm[m] = _mm256_fmadd_ps(mn, _mm256_set1_ps(a->s), accm[m]);
        }
    }
    for (int m = 0; m < M; m++)
        _mm256_storeu_ps(out + 8 * m, has_min ? _mm256_add_ps(acc[m], accm[m]) : acc[m]);
}

/* Eight packed Q4_K rows (nsb super-blocks at p) against M <= 4 activation
 * rows (q8_kblk, xs apart): per pair of sub-blocks, 8 chunks whose low
 * nibbles meet sub-block 2p's activations and high nibbles 2p+1's, then
 * each sub-block's integer sums scaled by the rows' d·sc (a vector made
 * from 8 bytes) times its activation scale, and dmin·m times d·Σq off. */
QP_INLINE __m256 QP_NAME(u8x8)(const uint8_t *p)
{
    return _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)p)));
}

QP_INLINE void QP_NAME(rows8k)(const uint8_t *p, const q8_kblk *x, int64_t xs, int64_t nsb,
                               const int M, float *out)
{
    __m256 acc[4], accm[4];
    for (int m = 0; m < M; m++)
        acc[m] = accm[m] = _mm256_setzero_ps();
    for (int64_t b = 0; b < nsb; b++, p += 1184) {
        __m256 d = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)p));
        __m256 dmin = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(p + 16)));
        for (int pr = 0; pr < 4; pr++) {
            __m256i s0[4], s1[4];
            for (int m = 0; m < M; m++)
                s0[m] = s1[m] = _mm256_setzero_si256();
            const uint8_t *q = p + 160 + 256 * pr;
            for (int c = 0; c < 8; c++)
                QP_NAME(nibble_chunk)
            (q + 32 * c, x[b].qs + 64 * pr + 4 * c, xs * (int64_t)sizeof(q8_kblk), 32, M, s0, s1);
            __m256 ds0 = _mm256_mul_ps(d, QP_NAME(u8x8)(p + 32 + 16 * pr));
            __m256 ds1 = _mm256_mul_ps(d, QP_NAME(u8x8)(p + 40 + 16 * pr));
            __m256 dm0 = _mm256_mul_ps(dmin, QP_NAME(u8x8)(p + 96 + 16 * pr));
            __m256 dm1 = _mm256_mul_ps(dmin, QP_NAME(u8x8)(p + 104 + 16 * pr));
            for (int m = 0; m < M; m++) {
                const q8_kblk *a = &x[m * xs + b];
                __m256i h = _mm256_srai_epi32(s1[m], 4 * QP_HI16);
                acc[m] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(s0[m]),
                                         _mm256_mul_ps(ds0, _mm256_set1_ps(a->d[2 * pr])), acc[m]);
                acc[m] =
                    _mm256_fmadd_ps(_mm256_cvtepi32_ps(h),
                                    _mm256_mul_ps(ds1, _mm256_set1_ps(a->d[2 * pr + 1])), acc[m]);
                accm[m] = _mm256_fmadd_ps(dm0, _mm256_set1_ps(a->s[2 * pr]), accm[m]);
                accm[m] = _mm256_fmadd_ps(dm1, _mm256_set1_ps(a->s[2 * pr + 1]), accm[m]);
            }
        }
    }
    for (int m = 0; m < M; m++)
        _mm256_storeu_ps(out + 8 * m, _mm256_sub_ps(acc[m], accm[m]));
}

/* Q6_K's high 2 bits of sub-block t (bits 2t, 2t+1 of each qh byte) moved
 * to bits 4 and 5 */
QP_INLINE __m256i QP_NAME(q6hi)(__m256i h, int t)
{
    const __m256i m30 = _mm256_set1_epi8(0x30);
    switch (t) {
    case 0: return _mm256_and_si256(_mm256_slli_epi16(h, 4), m30);
    case 1: return _mm256_and_si256(_mm256_slli_epi16(h, 2), m30);
    case 2: return _mm256_and_si256(h, m30);
    default: return _mm256_and_si256(_mm256_srli_epi16(h, 2), m30);
    }
}

/* Eight packed Q6_K rows against M <= 4 activation rows: per sub-block j
 * (half h = j / 4, t = j % 4) and 16-weight half, four chunks of values
 * (0..63) against the activations, then Σ (q − 32)·y = Σ q·y − 32 Σ y with
 * the activations' sums of 16, scaled by the rows' d·sc. */
QP_INLINE void QP_NAME(rows8k6)(const uint8_t *p, const q8_kblk *x, int64_t xs, int64_t nsb,
                                const int M, float *out)
{
    __m256 acc[4];
    for (int m = 0; m < M; m++)
        acc[m] = _mm256_setzero_ps();
    const __m256i lo4 = _mm256_set1_epi8(15);
    for (int64_t b = 0; b < nsb; b++, p += 1680) {
        __m256 d = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)p));
        /* unrolled, so that each sub-block's shifts are constants */
#pragma GCC unroll 8
        for (int j = 0; j < 8; j++) {
            const int h = j >> 2, t = j & 3;
            const uint8_t *ql = p + 144 + 32 * (16 * h + 8 * (t & 1)), *qh = p + 1168 + 256 * h;
            for (int half = 0; half < 2; half++) {
                __m256i s[4];
                for (int m = 0; m < M; m++)
                    s[m] = _mm256_setzero_si256();
                for (int c = 4 * half; c < 4 * half + 4; c++) {
                    __m256i a = _mm256_loadu_si256((const __m256i *)(ql + 32 * c));
                    __m256i lo = t < 2 ? _mm256_and_si256(a, lo4)
                                       : _mm256_and_si256(_mm256_srli_epi16(a, 4), lo4);
                    __m256i u = _mm256_or_si256(
                        lo, QP_NAME(q6hi)(_mm256_loadu_si256((const __m256i *)(qh + 32 * c)), t));
                    for (int m = 0; m < M; m++)
                        s[m] =
                            QP_DPBUSD(s[m], u, QP_NAME(bcast4)(x[m * xs + b].qs + 32 * j + 4 * c));
                }
                __m256 sc =
                    _mm256_mul_ps(d, _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_loadl_epi64(
                                         (const __m128i *)(p + 16 + 8 * (2 * j + half))))));
                for (int m = 0; m < M; m++) {
                    const q8_kblk *a = &x[m * xs + b];
                    __m256i v = _mm256_sub_epi32(s[m], _mm256_set1_epi32(32 * a->hs[2 * j + half]));
                    acc[m] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(v),
                                             _mm256_mul_ps(sc, _mm256_set1_ps(a->d[j])), acc[m]);
                }
            }
        }
    }
    for (int m = 0; m < M; m++)
        _mm256_storeu_ps(out + 8 * m, acc[m]);
}

/* The K-quant kernels for M = 1 .. 4, each with M a constant */
#define QP_DEFINE_K(NAME, BODY)                                                                    \
    QP_ATTR static void NAME(const uint8_t *p, const q8_kblk *x, int64_t xs, int64_t nsb, int M,   \
                             float *out)                                                           \
    {                                                                                              \
        switch (M) {                                                                               \
        case 1: BODY(p, x, xs, nsb, 1, out); break;                                                \
        case 2: BODY(p, x, xs, nsb, 2, out); break;                                                \
        case 3: BODY(p, x, xs, nsb, 3, out); break;                                                \
        default: BODY(p, x, xs, nsb, 4, out); break;                                               \
        }                                                                                          \
    }
QP_DEFINE_K(QP_NAME(rows8_q4_k), QP_NAME(rows8k))
QP_DEFINE_K(QP_NAME(rows8_q6_k), QP_NAME(rows8k6))
#undef QP_DEFINE_K

#define QP_DEFINE(NAME, DT)                                                                        \
    QP_ATTR static void NAME(const uint8_t *p, const q8_act *x, int64_t xs, int64_t nb, int M,     \
                             float *out)                                                           \
    {                                                                                              \
        switch (M) {                                                                               \
        case 1: QP_NAME(rows8)(DT, p, x, xs, nb, 1, out); break;                                   \
        case 2: QP_NAME(rows8)(DT, p, x, xs, nb, 2, out); break;                                   \
        case 3: QP_NAME(rows8)(DT, p, x, xs, nb, 3, out); break;                                   \
        default: QP_NAME(rows8)(DT, p, x, xs, nb, 4, out); break;                                  \
        }                                                                                          \
    }
QP_DEFINE(QP_NAME(rows8_q4_0), PCE_DTYPE_Q4_0)
QP_DEFINE(QP_NAME(rows8_q4_1), PCE_DTYPE_Q4_1)
QP_DEFINE(QP_NAME(rows8_q5_0), PCE_DTYPE_Q5_0)
QP_DEFINE(QP_NAME(rows8_q5_1), PCE_DTYPE_Q5_1)
#if QP_Q8
QP_DEFINE(QP_NAME(rows8_q8_0), PCE_DTYPE_Q8_0)
#endif
#undef QP_DEFINE
