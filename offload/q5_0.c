/* Q5_0: 32 values, fp16 scale, 5-bit quants (low nibbles in qs, fifth bits in qh)
 * meaning (q - 16) * d. */
#include "codec.h"
#include "matmul.h"
#include "search.h"

#pragma omp declare target
static inline void q5_0_pack(OMQ_NOESCAPE omq_block_q5_0 *y, OMQ_NOESCAPE const int *L) {
    uint32_t qh = 0;
    for (int j = 0; j < 16; ++j) {
        y->qs[j] = (uint8_t)((L[j] & 0x0F) | ((L[j + 16] & 0x0F) << 4));
        qh |= (uint32_t)((L[j] >> 4) & 1) << j;
        qh |= (uint32_t)((L[j + 16] >> 4) & 1) << (j + 16);
    }
    __builtin_memcpy(y->qh, &qh, sizeof qh);
}

static inline void q5_0_quantize_block(OMQ_NOESCAPE const float *x, OMQ_NOESCAPE omq_block_q5_0 *y, OMQ_NOESCAPE const float *qw,
                                       float sigma2) {
    int L[OMQ_QK];
    if (qw) {
        float w[OMQ_QK];
        int8_t Lq[OMQ_QK];
        for (int j = 0; j < OMQ_QK; ++j) w[j] = qw[j] * omq_sqrtf(sigma2 + x[j] * x[j]);
        const float d = omq_make_qx_quants(OMQ_QK, 16, x, Lq, w);
        y->d = omq_fp32_to_fp16(d);
        for (int j = 0; j < OMQ_QK; ++j) L[j] = Lq[j];
    } else {
        const float d = omq_signed_absmax(x, OMQ_QK) / -16;
        const float id = d ? 1.0f / d : 0.0f;
        y->d = omq_fp32_to_fp16(d);
        for (int j = 0; j < OMQ_QK; ++j) L[j] = omq_trunc_clamp(x[j] * id + 16.5f, 31);
    }
    q5_0_pack(y, L);
}

static inline void q5_0_dequantize_group(OMQ_NOESCAPE const omq_block_q5_0 *x, int g, OMQ_NOESCAPE float *y) {
    const float d = omq_fp16_to_fp32(x->d);
    int q[8];
    omq_q5_group(x->qs, x->qh, g, q);
    for (int i = 0; i < 8; ++i) y[i] = (q[i] - 16) * d; /* signed, as ggml */
}

static inline void q5_0_dequantize_block(OMQ_NOESCAPE const omq_block_q5_0 *x, OMQ_NOESCAPE float *y) {
    const float d = omq_fp16_to_fp32(x->d);
    uint32_t qh;
    __builtin_memcpy(&qh, x->qh, sizeof qh);
    for (int j = 0; j < 16; ++j) {
        const int h0 = ((qh >> j) << 4) & 0x10;
        const int h1 = (qh >> (j + 12)) & 0x10;
        y[j] = (((x->qs[j] & 0x0F) | h0) - 16) * d;
        y[j + 16] = (((x->qs[j] >> 4) | h1) - 16) * d;
    }
}
/* the block as one group (matmul.h): quants q - 16, value d * q */
static inline void q5_0_group_words(const omq_block_q5_0 *w, int g, OMQ_NOESCAPE uint32_t *q,
                                    OMQ_NOESCAPE omq_group_coef *cf) {
    (void)g;
    omq_q5_words(w->qs, w->qh, 0, q);
    for (int i = 0; i < 8; ++i) q[i] = omq_sub_bytes(q[i], 16);
    *cf = omq_coef_sym(omq_fp16_scale(w->d));
}

/* device form (matmul.h): the quants unpacked a word at a time, unsigned, the offset taken
 * off the integer sum (omq_vdot_off32_words) */
OMQ_DEVICE_FORM void q5_0_vec_dot_q8_1_words(const omq_block_q5_0 *w, const omq_block_q8_1 *x,
                                           int64_t xs, int nc, float *acc) {
    uint32_t q[8];
    omq_q5_words(w->qs, w->qh, 0, q);
    omq_vdot_off32_words(q, 16, omq_fp16_scale(w->d), x, xs, nc, acc);
}

/* value (q - 16) * d, q with its fifth bit from qh; offset applied in the int8 quants */
#pragma omp declare variant(q5_0_vec_dot_q8_1_words) match(device = {kind(gpu)})
static inline void q5_0_vec_dot_q8_1(const omq_block_q5_0 *w, const omq_block_q8_1 *x, int64_t xs,
                                     int nc, float *acc) {
    uint32_t qh;
    __builtin_memcpy(&qh, w->qh, sizeof qh);
    int8_t q[OMQ_QK];
    for (int j = 0; j < 16; ++j) {
        q[j] = (int8_t)(((w->qs[j] & 0x0F) | (((qh >> j) << 4) & 0x10)) - 16);
        q[j + 16] = (int8_t)(((w->qs[j] >> 4) | ((qh >> (j + 12)) & 0x10)) - 16);
    }
    omq_vdot_sym32(q, omq_fp16_scale(w->d), x, xs, nc, acc);
}
#pragma omp end declare target

OMQ_DEFINE_CODEC_ROW_SIGMA2(q5_0, omq_block_q5_0, OMQ_QK)
OMQ_DEFINE_MATMUL(q5_0, omq_block_q5_0, OMQ_QK, OMQ_GF_SYM)
