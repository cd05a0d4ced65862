/* Q4_K: 256 values in 8 groups of 32; per group a 6-bit scale and a 6-bit min of the fp16
 * super-scales d and dmin; 4-bit quants meaning d*sc*q - dmin*m. */
#include "codec.h"
#include "matmul.h"
#include "kquant.h"

#pragma omp declare target
static inline void q4_K_quantize_block(OMQ_NOESCAPE const float *x, OMQ_NOESCAPE omq_block_q4_K *y, OMQ_NOESCAPE const float *qw,
                                       float sigma2_unused) {
    (void)sigma2_unused;
    uint8_t L[OMQ_QK_K];
    omq_kquant_scales_mins(x, qw, 15, -1.f, 20, L, &y->d, &y->dmin, y->scales);
    omq_kquant_requantize(x, y->d, y->dmin, y->scales, 15, L);
    uint8_t *q = y->qs;
    for (int j = 0; j < OMQ_QK_K; j += 64) {
        for (int l = 0; l < 32; ++l) q[l] = (uint8_t)(L[j + l] | (L[j + l + 32] << 4));
        q += 32;
    }
}

/* value v: pair p = v / 64 of 32-value groups in qs[32p ..]: low nibbles are group 2p,
 * high nibbles group 2p + 1 */
static inline void q4_K_dequantize_group(OMQ_NOESCAPE const omq_block_q4_K *x, int g, OMQ_NOESCAPE float *y) {
    const int v = 8 * g, p = v >> 6, hi = (v >> 5) & 1;
    uint8_t sc, m;
    omq_get_scale_min_k4(2 * p + hi, x->scales, &sc, &m);
    const float d1 = omq_fp16_to_fp32(x->d) * sc, m1 = omq_fp16_to_fp32(x->dmin) * m;
    const uint8_t *q = x->qs + 32 * p + (v & 31);
    for (int i = 0; i < 8; ++i) y[i] = d1 * ((q[i] >> (4 * hi)) & 0xF) - m1;
}

static inline void q4_K_dequantize_block(OMQ_NOESCAPE const omq_block_q4_K *x, OMQ_NOESCAPE float *y) {
    const float d = omq_fp16_to_fp32(x->d);
    const float min = omq_fp16_to_fp32(x->dmin);
    const uint8_t *q = x->qs;
    for (int is = 0; is < 8; is += 2) {
        uint8_t sc, m;
        omq_get_scale_min_k4(is + 0, x->scales, &sc, &m);
        const float d1 = d * sc, m1 = min * m;
        omq_get_scale_min_k4(is + 1, x->scales, &sc, &m);
        const float d2 = d * sc, m2 = min * m;
        for (int l = 0; l < 32; ++l) *y++ = d1 * (q[l] & 0xF) - m1;
        for (int l = 0; l < 32; ++l) *y++ = d2 * (q[l] >> 4) - m2;
        q += 32;
    }
}
/* value d * sc * q - dmin * m per group of 32 (one Q8_1 block each) */
static inline void q4_K_vec_dot_q8_1(const omq_block_q4_K *w, const omq_block_q8_1 *x, int64_t xs,
                                     int nc, float *acc) {
    int8_t q[OMQ_QK_K];
    int sc[8], mn[8];
    for (int p = 0; p < 4; ++p)
        for (int l = 0; l < 32; ++l) {
            q[64 * p + l] = (int8_t)(w->qs[32 * p + l] & 0xF);
            q[64 * p + 32 + l] = (int8_t)(w->qs[32 * p + l] >> 4);
        }
    omq_scales_mins_k4(w->scales, sc, mn);
    omq_vdot_k32_min(q, sc, mn, omq_fp16_scale(w->d), omq_fp16_scale(w->dmin), x, xs, nc, acc);
}

/* group g (values 32g..32g+31: quants in qs[32 (g / 2) ..], low nibbles for even g) as
 * matmul.h's group words */
static inline void q4_K_group_words(const omq_block_q4_K *w, int g, OMQ_NOESCAPE uint32_t *q,
                                    OMQ_NOESCAPE omq_group_coef *cf) {
    uint8_t sc, mn;
    omq_get_scale_min_k4(g, w->scales, &sc, &mn);
    const uint8_t *qs = w->qs + 32 * (g / 2);
    const int shift = 4 * (g & 1);
    for (int i = 0; i < 8; ++i) q[i] = (omq_ld32_a4(qs + 4 * i) >> shift) & 0x0F0F0F0Fu;
    *cf = (omq_group_coef){omq_fp16_scale(w->d), omq_fp16_scale(w->dmin), {sc, sc}, {mn, mn}};
}

/* groups 2p and 2p + 1 (the low and the high nibbles of qs[32p ..]) times the two Q8_1
 * blocks they meet: the row kernels' unit, the 32 bytes read once for both */
static inline void q4_K_vec_dot_q8_1_pair(const omq_block_q4_K *w, int p, const omq_block_q8_1 *x, int64_t xs,
                                          int nc, float *acc) {
    uint32_t v[8], lo[8], hi[8];
    omq_ld_run(w->qs + 32 * p, 1, 8, v);
    for (int i = 0; i < 8; ++i) {
        lo[i] = v[i] & 0x0F0F0F0Fu;
        hi[i] = (v[i] >> 4) & 0x0F0F0F0Fu;
    }
    omq_vdot_k32_min_pair(lo, hi, w->scales, w->d, w->dmin, p, x, xs, nc, acc);
}

#pragma omp end declare target

OMQ_DEFINE_CODEC(q4_K, omq_block_q4_K, OMQ_QK_K)
OMQ_DEFINE_MATMUL_PAIRS(q4_K, omq_block_q4_K, OMQ_QK_K, OMQ_GF_MIN)
