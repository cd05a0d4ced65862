/* x86 microkernels for the host's Q8_1 products (mmvq, n columns read against each weight row
 * once) and its float32 <-> binary16 conversions: AVX2, FMA and F16C. This file alone is
 * compiled with those instructions enabled; cpu.c calls into it only after the processor has
 * said it has them.
 *
 * Why intrinsics: compilers do not turn portable C of these dot products into the pmaddubsw /
 * pmaddwd sequences that make them cheap (docs/perf.md has the measurements), and the host
 * GEMV ran at a fifth of ggml-cpu's speed without them.
 *
 * The arithmetic is the portable mmvq's, up to float rounding: integer dot products of a
 * weight group with its Q8_1 block, scaled by the two scales; terms that need sum(x) take the
 * exact integer sums of X's quants (never the block's rounded fp16 `s`), computed once per
 * call for all rows. Float sums are kept in 8 lanes and added at the end of a row.
 * X's quants are ggml's Q8_1 range -127..127 (pmaddubsw's sign trick cannot represent -128
 * times -128; omq's and ggml's quantizers never write -128). */
#include <immintrin.h>
#include <stdint.h>

#include "../../offload/kscales.h"
#include "cpu.h"

/* Q8_1 blocks of X per pass: their float scales and integer sums fit the stack of each thread
 * for up to OMQ_CPU_MAX_COLS columns */
#define XCHUNK 512

typedef struct {
    const omq_block_q8_1 *q; /* the pass's blocks of one column */
    const float *d;          /* their scales */
    const int16_t *s16;      /* integer sums of each half block: s16[2 b], s16[2 b + 1] */
    const int32_t *s32;      /* and of each block */
} xpass;

static inline float hsum8(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

static inline float f16(uint16_t h) { return _mm_cvtss_f32(_mm_cvtph_ps(_mm_cvtsi32_si128(h))); }

/* sum over pairs of u8 x s8 products, widened to 8 int32 lanes, as float */
static inline __m256 dot_u8s8(__m256i u, __m256i s) {
    return _mm256_cvtepi32_ps(_mm256_madd_epi16(_mm256_maddubs_epi16(u, s), _mm256_set1_epi16(1)));
}

static inline __m256i load_x(const omq_block_q8_1 *x) { return _mm256_loadu_si256((const __m256i *)x->qs); }

/* 16 packed bytes -> low nibbles in bytes 0..15, high nibbles in bytes 16..31 (ggml's order) */
static inline __m256i nibbles(const uint8_t *qs) {
    const __m128i t = _mm_loadu_si128((const __m128i *)qs);
    return _mm256_and_si256(_mm256_set_m128i(_mm_srli_epi16(t, 4), t), _mm256_set1_epi8(0x0F));
}

/* the 32 high bits of a Q5 block as bytes 0x10 / 0x00 */
static inline __m256i high_bits(const uint8_t *qh) {
    uint32_t h;
    __builtin_memcpy(&h, qh, 4);
    const __m256i shuf = _mm256_set_epi64x(0x0303030303030303LL, 0x0202020202020202LL,
                                           0x0101010101010101LL, 0x0000000000000000LL);
    const __m256i bit = _mm256_set1_epi64x((long long)0x8040201008040201ULL);
    __m256i v = _mm256_shuffle_epi8(_mm256_set1_epi32((int)h), shuf);
    v = _mm256_cmpeq_epi8(_mm256_and_si256(v, bit), bit);
    return _mm256_and_si256(v, _mm256_set1_epi8(0x10));
}

/* ---- one row of a pass: nb weight blocks against their Q8_1 blocks. A block's float fma
 * waits for the previous one's: two chains (even and odd blocks) keep two in flight. */

#define ROW32(T, BLOCK, finish)                                                                  \
    static float row_##T(const void *wv, const xpass *x, int64_t nb) {                          \
        const BLOCK *w = wv;                                                                     \
        __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps();                               \
        float s0 = 0, s1 = 0;                                                                    \
        int64_t b = 0;                                                                           \
        for (; b + 1 < nb; b += 2) {                                                             \
            const __m128 d = pair_scales(w[b].d, w[b + 1].d, x->d + b);                           \
            step_##T(w + b, x, b, _mm_cvtss_f32(d), &a0, &s0);                                   \
            step_##T(w + b + 1, x, b + 1, _mm_cvtss_f32(_mm_movehdup_ps(d)), &a1, &s1);          \
        }                                                                                        \
        if (b < nb) step_##T(w + b, x, b, f16(w[b].d) * x->d[b], &a0, &s0);                      \
        const float dot = hsum8(_mm256_add_ps(a0, a1)), s = s0 + s1;                             \
        (void)s;                                                                                 \
        return finish;                                                                           \
    }

/* d * d8 of two blocks: their fp16 scales converted together (clang otherwise combines the
 * two conversions itself, inserting into a register the loop carries: a false dependency that
 * serialized its loop) */
static inline __m128 pair_scales(uint16_t d0, uint16_t d1, const float *d8) {
    const __m128 d = _mm_cvtph_ps(_mm_cvtsi32_si128((int)(d0 | (uint32_t)d1 << 16)));
    return _mm_mul_ps(d, _mm_castsi128_ps(_mm_loadl_epi64((const __m128i *)d8)));
}

/* value (q - 8) d: s gathers d d8 sum(x) for the offset */
static inline void step_q4_0(const omq_block_q4_0 *w, const xpass *x, int64_t b, float d, __m256 *acc, float *s) {
    *acc = _mm256_fmadd_ps(_mm256_set1_ps(d), dot_u8s8(nibbles(w->qs), load_x(x->q + b)), *acc);
    *s += d * (float)x->s32[b];
}
ROW32(q4_0, omq_block_q4_0, dot - 8 * s)

/* value d q + m: s gathers m d8 sum(x) */
static inline void step_q4_1(const omq_block_q4_1 *w, const xpass *x, int64_t b, float d, __m256 *acc, float *s) {
    *acc = _mm256_fmadd_ps(_mm256_set1_ps(d), dot_u8s8(nibbles(w->qs), load_x(x->q + b)), *acc);
    *s += f16(w->m) * x->d[b] * (float)x->s32[b];
}
ROW32(q4_1, omq_block_q4_1, dot + s)

static inline void step_q5_0(const omq_block_q5_0 *w, const xpass *x, int64_t b, float d, __m256 *acc, float *s) {
    const __m256i q = _mm256_or_si256(nibbles(w->qs), high_bits(w->qh));
    *acc = _mm256_fmadd_ps(_mm256_set1_ps(d), dot_u8s8(q, load_x(x->q + b)), *acc);
    *s += d * (float)x->s32[b];
}
ROW32(q5_0, omq_block_q5_0, dot - 16 * s)

static inline void step_q5_1(const omq_block_q5_1 *w, const xpass *x, int64_t b, float d, __m256 *acc, float *s) {
    const __m256i q = _mm256_or_si256(nibbles(w->qs), high_bits(w->qh));
    *acc = _mm256_fmadd_ps(_mm256_set1_ps(d), dot_u8s8(q, load_x(x->q + b)), *acc);
    *s += f16(w->m) * x->d[b] * (float)x->s32[b];
}
ROW32(q5_1, omq_block_q5_1, dot + s)

/* signed quants: pmaddubsw's sign trick (|q| times x with q's sign) */
static inline void step_q8_0(const omq_block_q8_0 *w, const xpass *x, int64_t b, float d, __m256 *acc, float *s) {
    (void)s;
    const __m256i q = _mm256_loadu_si256((const __m256i *)w->qs), xq = load_x(x->q + b);
    const __m256 p = dot_u8s8(_mm256_sign_epi8(q, q), _mm256_sign_epi8(xq, q));
    *acc = _mm256_fmadd_ps(_mm256_set1_ps(d), p, *acc);
}
ROW32(q8_0, omq_block_q8_0, dot)

static inline __m256 sum4(const __m256 *a) {
    return _mm256_add_ps(_mm256_add_ps(a[0], a[1]), _mm256_add_ps(a[2], a[3]));
}

/* lane g of v in every lane */
static inline __m256 lane(__m256 v, int g) { return _mm256_permutevar8x32_ps(v, _mm256_set1_epi32(g)); }

/* value d * sc[g] * q - dmin * mn[g] per group g of 32 (Q4_K, Q5_K): the groups' float
 * coefficients d * sc * d8, 8 groups per vector; the minimums' term goes into *acc_min */
static inline __m256 k4_coefficients(const uint8_t *scales, uint16_t d, uint16_t dmin, const xpass *x, int64_t b,
                                     __m256 *acc_min) {
    uint8_t sc[8], mn[8];
    omq_scales_mins_k4_words(scales, sc, mn);
    const __m256 d8 = _mm256_loadu_ps(x->d + 8 * b);
    const __m256 xs = _mm256_cvtepi32_ps(_mm256_loadu_si256((const __m256i *)(x->s32 + 8 * b)));
    const __m256 m = _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)mn)));
    *acc_min = _mm256_fmadd_ps(_mm256_mul_ps(_mm256_set1_ps(f16(dmin)), m), _mm256_mul_ps(d8, xs), *acc_min);
    const __m256 s = _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)sc)));
    return _mm256_mul_ps(_mm256_mul_ps(_mm256_set1_ps(f16(d)), s), d8);
}

static float row_q4_K(const void *wv, const xpass *x, int64_t nb) {
    const omq_block_q4_K *w = wv;
    __m256 acc[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps()};
    __m256 accm = _mm256_setzero_ps();
    const __m256i m4 = _mm256_set1_epi8(0x0F);
    for (int64_t b = 0; b < nb; ++b) {
        const __m256 cf = k4_coefficients(w[b].scales, w[b].d, w[b].dmin, x, b, &accm);
        const omq_block_q8_1 *xq = x->q + 8 * b;
        for (int j = 0; j < 4; ++j) {
            const __m256i q = _mm256_loadu_si256((const __m256i *)(w[b].qs + 32 * j));
            const __m256 lo = dot_u8s8(_mm256_and_si256(q, m4), load_x(xq + 2 * j));
            const __m256 hi = dot_u8s8(_mm256_and_si256(_mm256_srli_epi16(q, 4), m4), load_x(xq + 2 * j + 1));
            acc[2 * (j & 1)] = _mm256_fmadd_ps(lane(cf, 2 * j), lo, acc[2 * (j & 1)]);
            acc[2 * (j & 1) + 1] = _mm256_fmadd_ps(lane(cf, 2 * j + 1), hi, acc[2 * (j & 1) + 1]);
        }
    }
    return hsum8(_mm256_sub_ps(sum4(acc), accm));
}

static float row_q5_K(const void *wv, const xpass *x, int64_t nb) {
    const omq_block_q5_K *w = wv;
    __m256 acc[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps()};
    __m256 accm = _mm256_setzero_ps();
    const __m256i m4 = _mm256_set1_epi8(0x0F), b16 = _mm256_set1_epi8(0x10);
    for (int64_t b = 0; b < nb; ++b) {
        const __m256 cf = k4_coefficients(w[b].scales, w[b].d, w[b].dmin, x, b, &accm);
        const omq_block_q8_1 *xq = x->q + 8 * b;
        __m256i qh = _mm256_loadu_si256((const __m256i *)w[b].qh);
        for (int j = 0; j < 4; ++j) {
            /* group 2j's fifth bits are bit 2j of qh, group 2j+1's bit 2j+1 */
            const __m256i q = _mm256_loadu_si256((const __m256i *)(w[b].qs + 32 * j));
            const __m256i h0 = _mm256_and_si256(_mm256_slli_epi16(qh, 4), b16);
            const __m256i h1 = _mm256_and_si256(_mm256_slli_epi16(qh, 3), b16);
            qh = _mm256_srli_epi16(qh, 2);
            const __m256 lo = dot_u8s8(_mm256_or_si256(_mm256_and_si256(q, m4), h0), load_x(xq + 2 * j));
            const __m256 hi = dot_u8s8(_mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(q, 4), m4), h1),
                                       load_x(xq + 2 * j + 1));
            acc[2 * (j & 1)] = _mm256_fmadd_ps(lane(cf, 2 * j), lo, acc[2 * (j & 1)]);
            acc[2 * (j & 1) + 1] = _mm256_fmadd_ps(lane(cf, 2 * j + 1), hi, acc[2 * (j & 1) + 1]);
        }
    }
    return hsum8(_mm256_sub_ps(sum4(acc), accm));
}

/* int16 lanes 0..7 <- v's int16 element 2k, lanes 8..15 <- element 2k + 1 (v in both halves) */
static inline __m256i scale_pair(__m256i v, int k) {
    const char a = (char)(4 * k), b = (char)(4 * k + 2);
    const __m256i shuf = _mm256_setr_epi8(a, a + 1, a, a + 1, a, a + 1, a, a + 1, a, a + 1, a, a + 1, a, a + 1, a, a + 1,
                                          b, b + 1, b, b + 1, b, b + 1, b, b + 1, b, b + 1, b, b + 1, b, b + 1, b, b + 1);
    return _mm256_shuffle_epi8(v, shuf);
}

/* 16 scales per super-block, one per 16 values (Q3_K, Q6_K): the group of 32 values q
 * (unsigned) against X block xq, scaled in integers by its two scales */
static inline __m256 dot_k16(__m256i q, __m256i xq, __m256i sc2) {
    return _mm256_cvtepi32_ps(_mm256_madd_epi16(_mm256_maddubs_epi16(q, xq), sc2));
}

static float row_q6_K(const void *wv, const xpass *x, int64_t nb) {
    const omq_block_q6_K *w = wv;
    /* the quants' offset 32 goes through X's integer sums of 16: per group g,
     * d * d8[g] * (sc[2g] s16[2g] + sc[2g+1] s16[2g+1]), 8 groups per vector */
    __m256 acc[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps()};
    __m256 acco = _mm256_setzero_ps();
    const __m256i m4 = _mm256_set1_epi8(0x0F);
    for (int64_t b = 0; b < nb; ++b) {
        const __m256 d = _mm256_set1_ps(f16(w[b].d));
        const __m256 cf = _mm256_mul_ps(d, _mm256_loadu_ps(x->d + 8 * b));
        const __m256i sc = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)w[b].scales));
        const __m256i so = _mm256_madd_epi16(sc, _mm256_loadu_si256((const __m256i *)(x->s16 + 16 * b)));
        acco = _mm256_fmadd_ps(cf, _mm256_cvtepi32_ps(so), acco);
        for (int h = 0; h < 2; ++h) {
            const uint8_t *ql = w[b].ql + 64 * h, *qhp = w[b].qh + 32 * h;
            const omq_block_q8_1 *xq = x->q + 8 * b + 4 * h;
            const __m256i l0 = _mm256_loadu_si256((const __m256i *)ql);
            const __m256i l1 = _mm256_loadu_si256((const __m256i *)(ql + 32));
            const __m256i qh = _mm256_loadu_si256((const __m256i *)qhp);
            const __m256i sv = _mm256_broadcastsi128_si256(
                _mm_cvtepi8_epi16(_mm_loadl_epi64((const __m128i *)(w[b].scales + 8 * h))));
            const __m256i q[4] = {
                _mm256_or_si256(_mm256_and_si256(l0, m4), _mm256_slli_epi16(_mm256_and_si256(qh, _mm256_set1_epi8(0x03)), 4)),
                _mm256_or_si256(_mm256_and_si256(l1, m4), _mm256_slli_epi16(_mm256_and_si256(qh, _mm256_set1_epi8(0x0C)), 2)),
                _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l0, 4), m4), _mm256_and_si256(qh, _mm256_set1_epi8(0x30))),
                _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l1, 4), m4),
                                _mm256_srli_epi16(_mm256_and_si256(qh, _mm256_set1_epi8((char)0xC0)), 2)),
            };
            for (int k = 0; k < 4; ++k)
                acc[k] = _mm256_fmadd_ps(lane(cf, 4 * h + k), dot_k16(q[k], load_x(xq + k), scale_pair(sv, k)), acc[k]);
        }
    }
    return hsum8(_mm256_fnmadd_ps(_mm256_set1_ps(32), acco, sum4(acc)));
}

/* value d * sc - dmin * mn per 16 values, quants of 2 bits (Q2_K): like Q6_K, the minimums
 * through X's integer sums of 16 */
static float row_q2_K(const void *wv, const xpass *x, int64_t nb) {
    const omq_block_q2_K *w = wv;
    __m256 acc[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps()};
    __m256 accm = _mm256_setzero_ps();
    const __m256i m2 = _mm256_set1_epi8(3);
    for (int64_t b = 0; b < nb; ++b) {
        const __m256 d8 = _mm256_loadu_ps(x->d + 8 * b);
        const __m256 cf = _mm256_mul_ps(_mm256_set1_ps(f16(w[b].d)), d8);
        const __m128i sb = _mm_loadu_si128((const __m128i *)w[b].scales);
        const __m256i mn = _mm256_cvtepu8_epi16(_mm_and_si128(_mm_srli_epi16(sb, 4), _mm_set1_epi8(0x0F)));
        const __m256i mo = _mm256_madd_epi16(mn, _mm256_loadu_si256((const __m256i *)(x->s16 + 16 * b)));
        accm = _mm256_fmadd_ps(_mm256_mul_ps(_mm256_set1_ps(f16(w[b].dmin)), d8), _mm256_cvtepi32_ps(mo), accm);
        const __m128i scl = _mm_and_si128(sb, _mm_set1_epi8(0x0F));
        for (int h = 0; h < 2; ++h) {
            const __m256i qs = _mm256_loadu_si256((const __m256i *)(w[b].qs + 32 * h));
            const __m256i sv = _mm256_broadcastsi128_si256(_mm_cvtepu8_epi16(h ? _mm_srli_si128(scl, 8) : scl));
            const omq_block_q8_1 *xq = x->q + 8 * b + 4 * h;
            for (int k = 0; k < 4; ++k) {
                const __m256i q = _mm256_and_si256(_mm256_srli_epi16(qs, 2 * k), m2);
                acc[k] = _mm256_fmadd_ps(lane(cf, 4 * h + k), dot_k16(q, load_x(xq + k), scale_pair(sv, k)), acc[k]);
            }
        }
    }
    return hsum8(_mm256_sub_ps(sum4(acc), accm));
}

/* value d * (sc - 32) * (q - 4) per 16 values, q of 3 bits: low 2 in qs, the third in hmask
 * (Q3_K); the offset 4 through X's integer sums of 16 */
static float row_q3_K(const void *wv, const xpass *x, int64_t nb) {
    const omq_block_q3_K *w = wv;
    __m256 acc[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps()};
    __m256 acco = _mm256_setzero_ps();
    const __m256i m2 = _mm256_set1_epi8(3), b4 = _mm256_set1_epi8(4);
    for (int64_t b = 0; b < nb; ++b) {
        uint8_t s8[16];
        omq_q3_K_scales_words(w[b].scales, s8);
        const __m256i sc = _mm256_sub_epi16(_mm256_cvtepu8_epi16(_mm_loadu_si128((const __m128i *)s8)), _mm256_set1_epi16(32));
        const __m256 cf = _mm256_mul_ps(_mm256_set1_ps(f16(w[b].d)), _mm256_loadu_ps(x->d + 8 * b));
        const __m256i so = _mm256_madd_epi16(sc, _mm256_loadu_si256((const __m256i *)(x->s16 + 16 * b)));
        acco = _mm256_fmadd_ps(cf, _mm256_cvtepi32_ps(so), acco);
        __m256i hm = _mm256_loadu_si256((const __m256i *)w[b].hmask);
        for (int h = 0; h < 2; ++h) {
            const __m256i qs = _mm256_loadu_si256((const __m256i *)(w[b].qs + 32 * h));
            const __m256i sv = h ? _mm256_permute2x128_si256(sc, sc, 0x11) : _mm256_permute2x128_si256(sc, sc, 0x00);
            const omq_block_q8_1 *xq = x->q + 8 * b + 4 * h;
            for (int k = 0; k < 4; ++k) {
                /* group 4h+k: the third bits are bit 4h+k of hmask */
                const __m256i q = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(qs, 2 * k), m2),
                                                  _mm256_and_si256(_mm256_slli_epi16(hm, 2), b4));
                hm = _mm256_srli_epi16(hm, 1);
                acc[k] = _mm256_fmadd_ps(lane(cf, 4 * h + k), dot_k16(q, load_x(xq + k), scale_pair(sv, k)), acc[k]);
            }
        }
    }
    return hsum8(_mm256_fnmadd_ps(_mm256_set1_ps(4), acco, sum4(acc)));
}

/* ---- the driver: rows split over the threads, X prepared once per thread and pass */

typedef float (*row_fn)(const void *w, const xpass *x, int64_t nb);

static void gemv(const void *w, size_t wbytes, int xpb, int64_t rows, int64_t K,
                 const omq_block_q8_1 *X, int64_t n, float *Y, row_fn row) {
    const int64_t nbx = K / 32, nbw = nbx / xpb;
    const int64_t pass = (XCHUNK / xpb) * xpb; /* X blocks per pass, whole weight blocks */
#pragma omp parallel
    {
        float d[OMQ_CPU_MAX_COLS][XCHUNK];
        int16_t s16[OMQ_CPU_MAX_COLS][2 * XCHUNK];
        int32_t s32[OMQ_CPU_MAX_COLS][XCHUNK];
        for (int64_t c0 = 0; c0 < n; c0 += OMQ_CPU_MAX_COLS) {
            const int nc = (int)(n - c0 < OMQ_CPU_MAX_COLS ? n - c0 : OMQ_CPU_MAX_COLS);
            for (int64_t b0 = 0; b0 < nbx; b0 += pass) {
                const int64_t cb = nbx - b0 < pass ? nbx - b0 : pass;
                xpass xp[OMQ_CPU_MAX_COLS];
                for (int c = 0; c < nc; ++c) {
                    const omq_block_q8_1 *xc = X + (c0 + c) * nbx + b0;
                    for (int64_t b = 0; b < cb; ++b) {
                        d[c][b] = f16(xc[b].d);
                        int s0 = 0, s1 = 0;
                        for (int i = 0; i < 16; ++i) {
                            s0 += xc[b].qs[i];
                            s1 += xc[b].qs[i + 16];
                        }
                        s16[c][2 * b] = (int16_t)s0;
                        s16[c][2 * b + 1] = (int16_t)s1;
                        s32[c][b] = s0 + s1;
                    }
                    xp[c] = (xpass){xc, d[c], s16[c], s32[c]};
                }
                /* the same static schedule each pass: a thread adds to the rows it wrote */
#pragma omp for schedule(static) nowait
                for (int64_t r = 0; r < rows; ++r) {
                    const void *wr = (const char *)w + ((size_t)r * (size_t)nbw + (size_t)(b0 / xpb)) * wbytes;
                    for (int c = 0; c < nc; ++c) {
                        const float v = row(wr, &xp[c], cb / xpb);
                        float *y = Y + (c0 + c) * rows + r;
                        *y = b0 ? *y + v : v;
                    }
                }
            }
        }
    }
}

#define DEFINE_GEMV(T, BLOCK, XPB)                                                               \
    void omq_x86_mmvq_##T(const omq_exec *ex, const void *w, int64_t rows, int64_t K,           \
                          const void *x, int64_t n, float *Y) {                                  \
        (void)ex;                                                                                \
        gemv(w, sizeof(BLOCK), (XPB), rows, K, (const omq_block_q8_1 *)x, n, Y, row_##T);       \
    }

DEFINE_GEMV(q4_0, omq_block_q4_0, 1)
DEFINE_GEMV(q4_1, omq_block_q4_1, 1)
DEFINE_GEMV(q5_0, omq_block_q5_0, 1)
DEFINE_GEMV(q5_1, omq_block_q5_1, 1)
DEFINE_GEMV(q8_0, omq_block_q8_0, 1)
DEFINE_GEMV(q2_K, omq_block_q2_K, 8)
DEFINE_GEMV(q3_K, omq_block_q3_K, 8)
DEFINE_GEMV(q4_K, omq_block_q4_K, 8)
DEFINE_GEMV(q5_K, omq_block_q5_K, 8)
DEFINE_GEMV(q6_K, omq_block_q6_K, 8)

/* ---- binary16 <-> float32 (F16 rows): F16C's conversions. vcvtps2ph rounds to nearest even
 * with subnormals and overflow to Inf as omq_fp32_to_fp16 does (equal for all 2^32 inputs);
 * only NaNs differ, whose payload it keeps, so they are set to omq's sign | 0x7e00.
 * vcvtph2ps is omq_fp16_to_fp32 (equal for all 65536 inputs, NaNs included). Baseline
 * x86-64 has neither: the portable forms ran at 7-17 GB/s on 2 threads (docs/perf.md). */
static inline __m128i f16x8(const float *x) {
    const __m128i h = _mm256_cvtps_ph(_mm256_loadu_ps(x), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    const __m128i nan = _mm_cmpgt_epi16(_mm_and_si128(h, _mm_set1_epi16(0x7fff)), _mm_set1_epi16(0x7c00));
    const __m128i fix = _mm_or_si128(_mm_and_si128(h, _mm_set1_epi16((short)0x8000)), _mm_set1_epi16(0x7e00));
    return _mm_blendv_epi8(h, fix, nan);
}

void omq_x86_f32_to_f16(const float *x, uint16_t *y, int64_t n) {
    const int64_t n8 = n / 8;
#pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < n8; ++i) _mm_storeu_si128((__m128i *)(y + 8 * i), f16x8(x + 8 * i));
    if (n % 8) {
        float t[8] = {0};
        uint16_t h[8];
        for (int64_t j = 8 * n8; j < n; ++j) t[j - 8 * n8] = x[j];
        _mm_storeu_si128((__m128i *)h, f16x8(t));
        for (int64_t j = 8 * n8; j < n; ++j) y[j] = h[j - 8 * n8];
    }
}

void omq_x86_f16_to_f32(const uint16_t *x, float *y, int64_t n) {
    const int64_t n8 = n / 8;
#pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < n8; ++i)
        _mm256_storeu_ps(y + 8 * i, _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(x + 8 * i))));
    for (int64_t j = 8 * n8; j < n; ++j) y[j] = f16(x[j]);
}
