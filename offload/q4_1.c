/* Q4_1: 32 values, fp16 scale d and minimum m, 4-bit quants meaning q * d + m. */
#include "codec.h"
#include "matmul.h"
#include "search.h"

#pragma omp declare target
static inline void q4_1_quantize_block(OMQ_NOESCAPE const float *x, OMQ_NOESCAPE omq_block_q4_1 *y, OMQ_NOESCAPE const float *qw,
                                       float sigma2) {
    if (qw) {
        float w[OMQ_QK];
        uint8_t L[OMQ_QK], Laux[OMQ_QK];
        float min;
        for (int j = 0; j < OMQ_QK; ++j) w[j] = qw[j] * omq_sqrtf(sigma2 + x[j] * x[j]);
        const float d = omq_make_qkx3_quants(OMQ_QK, 15, x, w, L, &min, Laux, -0.9f, 0.05f, 36, 0);
        y->d = omq_fp32_to_fp16(d);
        y->m = omq_fp32_to_fp16(-min);
        for (int j = 0; j < 16; ++j) y->qs[j] = (uint8_t)(L[j] | (L[j + 16] << 4));
        return;
    }
    float min, max;
    omq_min_max(x, OMQ_QK, &min, &max);
    const float d = (max - min) / 15;
    const float id = d ? 1.0f / d : 0.0f;
    y->d = omq_fp32_to_fp16(d);
    y->m = omq_fp32_to_fp16(min);
    for (int j = 0; j < 16; ++j) {
        const int q0 = omq_trunc_clamp((x[j] - min) * id + 0.5f, 15);
        const int q1 = omq_trunc_clamp((x[j + 16] - min) * id + 0.5f, 15);
        y->qs[j] = (uint8_t)(q0 | (q1 << 4));
    }
}

static inline void q4_1_dequantize_group(OMQ_NOESCAPE const omq_block_q4_1 *x, int g, OMQ_NOESCAPE float *y) {
    const float d = omq_fp16_to_fp32(x->d);
    const float m = omq_fp16_to_fp32(x->m);
    const uint8_t *q = x->qs + (g & 1) * 8;
    const int shift = (g >> 1) * 4;
    for (int i = 0; i < 8; ++i) y[i] = ((q[i] >> shift) & 0x0F) * d + m;
}

static inline void q4_1_dequantize_block(OMQ_NOESCAPE const omq_block_q4_1 *x, OMQ_NOESCAPE float *y) {
    const float d = omq_fp16_to_fp32(x->d);
    const float m = omq_fp16_to_fp32(x->m);
    for (int j = 0; j < 16; ++j) {
        y[j] = (x->qs[j] & 0x0F) * d + m;
        y[j + 16] = (x->qs[j] >> 4) * d + m;
    }
}
/* the block as one group (matmul.h): value d * q + m */
static inline void q4_1_group_words(const omq_block_q4_1 *w, int g, OMQ_NOESCAPE uint32_t *q,
                                    OMQ_NOESCAPE omq_group_coef *cf) {
    (void)g;
    omq_nibbles_words(w->qs, 1, q);
    *cf = omq_coef_min(omq_fp16_scale(w->d), omq_fp16_scale(w->m));
}

/* device form (matmul.h): the quants unpacked a word at a time */
OMQ_DEVICE_FORM void q4_1_vec_dot_q8_1_words(const omq_block_q4_1 *w, const omq_block_q8_1 *x,
                                           int64_t xs, int nc, float *acc) {
    uint32_t q[8];
    omq_group_coef cf;
    q4_1_group_words(w, 0, q, &cf);
    omq_vdot_min32_words(q, cf.d, -cf.dmin, x, xs, nc, acc);
}

/* value q * d + m: d8 * (d * sum(q q8) + m * sum(q8)) */
#pragma omp declare variant(q4_1_vec_dot_q8_1_words) match(device = {kind(gpu)})
static inline void q4_1_vec_dot_q8_1(const omq_block_q4_1 *w, const omq_block_q8_1 *x, int64_t xs,
                                     int nc, float *acc) {
    int8_t q[OMQ_QK];
    for (int j = 0; j < 16; ++j) {
        q[j] = (int8_t)(w->qs[j] & 0x0F);
        q[j + 16] = (int8_t)(w->qs[j] >> 4);
    }
    omq_vdot_min32(q, omq_fp16_scale(w->d), omq_fp16_scale(w->m), x, xs, nc, acc);
}
#pragma omp end declare target

OMQ_DEFINE_CODEC_ROW_SIGMA2(q4_1, omq_block_q4_1, OMQ_QK)
OMQ_DEFINE_MATMUL(q4_1, omq_block_q4_1, OMQ_QK, OMQ_GF_MIN)
