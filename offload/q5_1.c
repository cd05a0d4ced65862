/* Q5_1: 32 values, fp16 scale d and minimum m, 5-bit quants meaning q * d + m. */
#include "codec.h"
#include "matmul.h"
#include "search.h"

#pragma omp declare target
static inline void q5_1_quantize_block(OMQ_NOESCAPE const float *x, OMQ_NOESCAPE omq_block_q5_1 *y, OMQ_NOESCAPE const float *qw,
                                       float sigma2) {
    int L[OMQ_QK];
    if (qw) {
        float w[OMQ_QK];
        uint8_t Lq[OMQ_QK], Laux[OMQ_QK];
        float min;
        for (int j = 0; j < OMQ_QK; ++j) w[j] = qw[j] * omq_sqrtf(sigma2 + x[j] * x[j]);
        const float d = omq_make_qkx3_quants(OMQ_QK, 31, x, w, Lq, &min, Laux, -0.9f, 0.05f, 36, 0);
        y->d = omq_fp32_to_fp16(d);
        y->m = omq_fp32_to_fp16(-min);
        for (int j = 0; j < OMQ_QK; ++j) L[j] = Lq[j];
    } else {
        float min, max;
        omq_min_max(x, OMQ_QK, &min, &max);
        const float d = (max - min) / 31;
        const float id = d ? 1.0f / d : 0.0f;
        y->d = omq_fp32_to_fp16(d);
        y->m = omq_fp32_to_fp16(min);
        for (int j = 0; j < OMQ_QK; ++j) L[j] = omq_trunc_clamp((x[j] - min) * id + 0.5f, 31);
    }
    uint32_t qh = 0;
    for (int j = 0; j < 16; ++j) {
        y->qs[j] = (uint8_t)((L[j] & 0x0F) | ((L[j + 16] & 0x0F) << 4));
        qh |= (uint32_t)((L[j] >> 4) & 1) << j;
        qh |= (uint32_t)((L[j + 16] >> 4) & 1) << (j + 16);
    }
    __builtin_memcpy(y->qh, &qh, sizeof qh);
}

static inline void q5_1_dequantize_group(OMQ_NOESCAPE const omq_block_q5_1 *x, int g, OMQ_NOESCAPE float *y) {
    const float d = omq_fp16_to_fp32(x->d);
    const float m = omq_fp16_to_fp32(x->m);
    int q[8];
    omq_q5_group(x->qs, x->qh, g, q);
    for (int i = 0; i < 8; ++i) y[i] = q[i] * d + m;
}

static inline void q5_1_dequantize_block(OMQ_NOESCAPE const omq_block_q5_1 *x, OMQ_NOESCAPE float *y) {
    const float d = omq_fp16_to_fp32(x->d);
    const float m = omq_fp16_to_fp32(x->m);
    uint32_t qh;
    __builtin_memcpy(&qh, x->qh, sizeof qh);
    for (int j = 0; j < 16; ++j) {
        const int h0 = ((qh >> j) << 4) & 0x10;
        const int h1 = (qh >> (j + 12)) & 0x10;
        y[j] = ((x->qs[j] & 0x0F) | h0) * d + m;
        y[j + 16] = ((x->qs[j] >> 4) | h1) * d + m;
    }
}
/* the block as one group (matmul.h): value d * q + m */
static inline void q5_1_group_words(const omq_block_q5_1 *w, int g, OMQ_NOESCAPE uint32_t *q,
                                    OMQ_NOESCAPE omq_group_coef *cf) {
    (void)g;
    omq_q5_words(w->qs, w->qh, 1, q);
    *cf = omq_coef_min(omq_fp16_scale(w->d), omq_fp16_scale(w->m));
}

/* device form (matmul.h): the quants unpacked a word at a time */
OMQ_DEVICE_FORM void q5_1_vec_dot_q8_1_words(const omq_block_q5_1 *w, const omq_block_q8_1 *x,
                                           int64_t xs, int nc, float *acc) {
    uint32_t q[8];
    omq_group_coef cf;
    q5_1_group_words(w, 0, q, &cf);
    omq_vdot_min32_words(q, cf.d, -cf.dmin, x, xs, nc, acc);
}

/* value q * d + m with 5-bit q: as Q4_1 */
#pragma omp declare variant(q5_1_vec_dot_q8_1_words) match(device = {kind(gpu)})
static inline void q5_1_vec_dot_q8_1(const omq_block_q5_1 *w, const omq_block_q8_1 *x, int64_t xs,
                                     int nc, float *acc) {
    uint32_t qh;
    __builtin_memcpy(&qh, w->qh, sizeof qh);
    int8_t q[OMQ_QK];
    for (int j = 0; j < 16; ++j) {
        q[j] = (int8_t)((w->qs[j] & 0x0F) | (((qh >> j) << 4) & 0x10));
        q[j + 16] = (int8_t)((w->qs[j] >> 4) | ((qh >> (j + 12)) & 0x10));
    }
    omq_vdot_min32(q, omq_fp16_scale(w->d), omq_fp16_scale(w->m), x, xs, nc, acc);
}
#pragma omp end declare target

OMQ_DEFINE_CODEC_ROW_SIGMA2(q5_1, omq_block_q5_1, OMQ_QK)
OMQ_DEFINE_MATMUL(q5_1, omq_block_q5_1, OMQ_QK, OMQ_GF_MIN)
