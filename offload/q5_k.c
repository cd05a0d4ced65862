/* Q5_K: Q4_K's scales and mins with 5-bit quants: low nibbles in qs, fifth bits in qh
 * (bit 2k and 2k+1 of qh[l] for the k-th pair of 32-value groups). */
#define OMQ_DEQUANTIZE_GROUP_F16(T) T##_dequantize_group_f16 /* codec.h */
#include "codec.h"
/* The GEMV takes one Q5_K group (16 words of weights) at a time: two spilled 52-68 bytes a
 * lane (ptxas) and were 3-8 us slower; and walks bands of rows (OMQ_GEMV_BANDS), which for
 * Q5_K alone was faster than ranges and tiles at every shape (H100, docs/perf.md) */
#define OMQ_GEMV_ILP 1
#define OMQ_GEMV_BANDS
#include "matmul.h"
#include "kquant.h"

#pragma omp declare target
static inline void q5_K_quantize_block(OMQ_NOESCAPE const float *x, OMQ_NOESCAPE omq_block_q5_K *y, OMQ_NOESCAPE const float *qw,
                                       float sigma2_unused) {
    (void)sigma2_unused;
    uint8_t L[OMQ_QK_K];
    omq_kquant_scales_mins(x, qw, 31, -0.5f, 15, L, &y->d, &y->dmin, y->scales);
    omq_kquant_requantize(x, y->d, y->dmin, y->scales, 31, L);
    uint8_t *qh = y->qh, *ql = y->qs;
    __builtin_memset(qh, 0, sizeof y->qh);
    uint8_t m1 = 1, m2 = 2;
    for (int n = 0; n < OMQ_QK_K; n += 64) {
        for (int j = 0; j < 32; ++j) {
            int l1 = L[n + j], l2 = L[n + j + 32];
            if (l1 > 15) {
                l1 -= 16;
                qh[j] |= m1;
            }
            if (l2 > 15) {
                l2 -= 16;
                qh[j] |= m2;
            }
            ql[j] = (uint8_t)(l1 | (l2 << 4));
        }
        m1 <<= 2;
        m2 <<= 2;
        ql += 32;
    }
}

/* device form for f16 output (codec.h): the 8 quants as two words of bytes (4-byte loads; the
 * type's alignment), the fifth bits merged a word at a time; the same values. The byte-wise
 * form left that kernel bound by the integer pipe (H100 ncu: ALU 74 % busy, DRAM 48 %). */
OMQ_DEVICE_FORM void q5_K_dequantize_group_words(const omq_block_q5_K *x, int g, float *y) {
    const int v = 8 * g, p = v >> 6, hi = (v >> 5) & 1, l = v & 31;
    uint8_t sc, m;
    omq_get_scale_min_k4(2 * p + hi, x->scales, &sc, &m);
    const float d1 = omq_fp16_scale(x->d) * sc, m1 = omq_fp16_scale(x->dmin) * m;
    uint32_t ql[2], qh[2];
    omq_ld_run(x->qs + 32 * p + l, 1, 2, ql);
    omq_ld_run(x->qh + l, 1, 2, qh);
    for (int i = 0; i < 8; ++i) {
        const uint32_t q = ((ql[i / 4] >> (4 * hi)) & 0x0F0F0F0Fu) | ((qh[i / 4] >> (2 * p + hi)) & 0x01010101u) << 4;
        y[i] = d1 * (int)((q >> 8 * (i % 4)) & 0xFF) - m1;
    }
}

static inline void q5_K_dequantize_group(OMQ_NOESCAPE const omq_block_q5_K *x, int g, OMQ_NOESCAPE float *y) {
    const int v = 8 * g, p = v >> 6, hi = (v >> 5) & 1, l = v & 31;
    uint8_t sc, m;
    omq_get_scale_min_k4(2 * p + hi, x->scales, &sc, &m);
    const float d1 = omq_fp16_to_fp32(x->d) * sc, m1 = omq_fp16_to_fp32(x->dmin) * m;
    const uint8_t u = (uint8_t)(1u << (2 * p + hi));
    const uint8_t *ql = x->qs + 32 * p + l, *qh = x->qh + l;
    for (int i = 0; i < 8; ++i) y[i] = d1 * (((ql[i] >> (4 * hi)) & 0xF) + (qh[i] & u ? 16 : 0)) - m1;
}

#pragma omp declare variant(q5_K_dequantize_group_words) match(device = {kind(gpu)})
static inline void q5_K_dequantize_group_f16(OMQ_NOESCAPE const omq_block_q5_K *x, int g, OMQ_NOESCAPE float *y) {
    q5_K_dequantize_group(x, g, y);
}

static inline void q5_K_dequantize_block(OMQ_NOESCAPE const omq_block_q5_K *x, OMQ_NOESCAPE float *y) {
    const float d = omq_fp16_to_fp32(x->d);
    const float min = omq_fp16_to_fp32(x->dmin);
    const uint8_t *ql = x->qs, *qh = x->qh;
    uint8_t u1 = 1, u2 = 2;
    for (int is = 0; is < 8; is += 2) {
        uint8_t sc, m;
        omq_get_scale_min_k4(is + 0, x->scales, &sc, &m);
        const float d1 = d * sc, m1 = min * m;
        omq_get_scale_min_k4(is + 1, x->scales, &sc, &m);
        const float d2 = d * sc, m2 = min * m;
        for (int l = 0; l < 32; ++l) *y++ = d1 * ((ql[l] & 0xF) + (qh[l] & u1 ? 16 : 0)) - m1;
        for (int l = 0; l < 32; ++l) *y++ = d2 * ((ql[l] >> 4) + (qh[l] & u2 ? 16 : 0)) - m2;
        ql += 32;
        u1 <<= 2;
        u2 <<= 2;
    }
}
/* as Q4_K with a fifth bit: group g's bit g of qh[l] */
static inline void q5_K_vec_dot_q8_1(const omq_block_q5_K *w, const omq_block_q8_1 *x, int64_t xs,
                                     int nc, float *acc) {
    int8_t q[OMQ_QK_K];
    int sc[8], mn[8];
    for (int p = 0; p < 4; ++p)
        for (int l = 0; l < 32; ++l) {
            q[64 * p + l] = (int8_t)((w->qs[32 * p + l] & 0xF) | (((w->qh[l] >> (2 * p)) & 1) << 4));
            q[64 * p + 32 + l] = (int8_t)((w->qs[32 * p + l] >> 4) | (((w->qh[l] >> (2 * p + 1)) & 1) << 4));
        }
    omq_scales_mins_k4(w->scales, sc, mn);
    omq_vdot_k32_min(q, sc, mn, omq_fp16_scale(w->d), omq_fp16_scale(w->dmin), x, xs, nc, acc);
}

/* group g (Q4_K's nibbles, fifth bits in bit g of qh[l]) as matmul.h's group words */
static inline void q5_K_group_words(const omq_block_q5_K *w, int g, OMQ_NOESCAPE uint32_t *q,
                                    OMQ_NOESCAPE omq_group_coef *cf) {
    uint8_t sc, mn;
    omq_get_scale_min_k4(g, w->scales, &sc, &mn);
    const uint8_t *qs = w->qs + 32 * (g / 2);
    const int shift = 4 * (g & 1);
    for (int i = 0; i < 8; ++i)
        q[i] = ((omq_ld32_a4(qs + 4 * i) >> shift) & 0x0F0F0F0Fu) |
               ((omq_ld32_a4(w->qh + 4 * i) >> g) & 0x01010101u) << 4;
    *cf = (omq_group_coef){omq_fp16_scale(w->d), omq_fp16_scale(w->dmin), {sc, sc}, {mn, mn}};
}

/* groups 2p and 2p + 1 (low and high nibbles of qs[32p ..], fifth bits 2p and 2p + 1 of qh)
 * times the two Q8_1 blocks they meet: the row kernels' unit, the bytes read once for both */
static inline void q5_K_vec_dot_q8_1_pair(const omq_block_q5_K *w, int p, const omq_block_q8_1 *x, int64_t xs,
                                          int nc, float *acc) {
    uint32_t lo[8], hi[8];
    for (int i = 0; i < 8; ++i) {
        const uint32_t v = omq_ld32_a4(w->qs + 32 * p + 4 * i), h = omq_ld32_a4(w->qh + 4 * i) >> (2 * p);
        lo[i] = (v & 0x0F0F0F0Fu) | (h & 0x01010101u) << 4;
        hi[i] = ((v >> 4) & 0x0F0F0F0Fu) | ((h >> 1) & 0x01010101u) << 4;
    }
    omq_vdot_k32_min_pair(lo, hi, w->scales, w->d, w->dmin, p, x, xs, nc, acc);
}

#pragma omp end declare target

OMQ_DEFINE_CODEC(q5_K, omq_block_q5_K, OMQ_QK_K)
OMQ_DEFINE_MATMUL_PAIRS(q5_K, omq_block_q5_K, OMQ_QK_K, OMQ_GF_MIN)
