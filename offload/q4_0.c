/* Q4_0: 32 values, one fp16 scale, 4-bit quants q in 0..15 meaning (q - 8) * d. */
#include "codec.h"
#include "matmul.h"
#include "search.h"

#pragma omp declare target
static inline void q4_0_quantize_block(OMQ_NOESCAPE const float *x, OMQ_NOESCAPE omq_block_q4_0 *y, OMQ_NOESCAPE const float *qw,
                                       float sigma2) {
    if (qw) {
        float w[OMQ_QK];
        int8_t L[OMQ_QK];
        for (int j = 0; j < OMQ_QK; ++j) w[j] = qw[j] * omq_sqrtf(sigma2 + x[j] * x[j]);
        const float d = omq_make_qx_quants(OMQ_QK, 8, x, L, w);
        y->d = omq_fp32_to_fp16(d);
        for (int j = 0; j < 16; ++j) y->qs[j] = (uint8_t)(L[j] | (L[j + 16] << 4));
        return;
    }
    /* the value of largest magnitude maps to -8, keeping its sign in d */
    const float d = omq_signed_absmax(x, OMQ_QK) / -8;
    const float id = d ? 1.0f / d : 0.0f;
    y->d = omq_fp32_to_fp16(d);
    for (int j = 0; j < 16; ++j) {
        const int q0 = omq_trunc_clamp(x[j] * id + 8.5f, 15);
        const int q1 = omq_trunc_clamp(x[j + 16] * id + 8.5f, 15);
        y->qs[j] = (uint8_t)(q0 | (q1 << 4));
    }
}

/* values 8g .. 8g+7: the same arithmetic as the block form, value by value */
static inline void q4_0_dequantize_group(OMQ_NOESCAPE const omq_block_q4_0 *x, int g, OMQ_NOESCAPE float *y) {
    const float d = omq_fp16_to_fp32(x->d);
    const uint8_t *q = x->qs + (g & 1) * 8;
    const int shift = (g >> 1) * 4;
    for (int i = 0; i < 8; ++i) y[i] = (((q[i] >> shift) & 0x0F) - 8) * d;
}

static inline void q4_0_dequantize_block(OMQ_NOESCAPE const omq_block_q4_0 *x, OMQ_NOESCAPE float *y) {
    const float d = omq_fp16_to_fp32(x->d);
    for (int j = 0; j < 16; ++j) {
        y[j] = ((x->qs[j] & 0x0F) - 8) * d;
        y[j + 16] = ((x->qs[j] >> 4) - 8) * d;
    }
}
/* the block as one group (matmul.h): quants q - 8, value d * q */
static inline void q4_0_group_words(const omq_block_q4_0 *w, int g, OMQ_NOESCAPE uint32_t *q,
                                    OMQ_NOESCAPE omq_group_coef *cf) {
    (void)g;
    omq_nibbles_words(w->qs, 0, q);
    for (int i = 0; i < 8; ++i) q[i] = omq_sub_bytes(q[i], 8);
    *cf = omq_coef_sym(omq_fp16_scale(w->d));
}

/* device form (matmul.h): the quants unpacked a word at a time, unsigned, the offset taken
 * off the integer sum (omq_vdot_off32_words) */
OMQ_DEVICE_FORM void q4_0_vec_dot_q8_1_words(const omq_block_q4_0 *w, const omq_block_q8_1 *x,
                                           int64_t xs, int nc, float *acc) {
    uint32_t q[8];
    omq_nibbles_words(w->qs, 0, q);
    omq_vdot_off32_words(q, 8, omq_fp16_scale(w->d), x, xs, nc, acc);
}

/* value (q - 8) * d: the offset goes into the int8 quants, so one integer dot per group */
#pragma omp declare variant(q4_0_vec_dot_q8_1_words) match(device = {kind(gpu)})
static inline void q4_0_vec_dot_q8_1(const omq_block_q4_0 *w, const omq_block_q8_1 *x, int64_t xs,
                                     int nc, float *acc) {
    int8_t q[OMQ_QK];
    for (int j = 0; j < 16; ++j) {
        q[j] = (int8_t)((w->qs[j] & 0x0F) - 8);
        q[j + 16] = (int8_t)((w->qs[j] >> 4) - 8);
    }
    omq_vdot_sym32(q, omq_fp16_scale(w->d), x, xs, nc, acc);
}
#pragma omp end declare target

OMQ_DEFINE_CODEC_ROW_SIGMA2(q4_0, omq_block_q4_0, OMQ_QK)
OMQ_DEFINE_MATMUL(q4_0, omq_block_q4_0, OMQ_QK, OMQ_GF_SYM)
