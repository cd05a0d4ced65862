/* Q8_1: Q8_0 plus s = fp16(d * sum(q)), the block sum that matrix products with Q4_1/Q5_1
 * and K-quant weights use. Activations format: ggml has no Q8_1 dequantizer; omq's gives
 * q * d, as ggml's Q8_0 one does. */
#include "codec.h"

#pragma omp declare target
static inline void q8_1_quantize_block(OMQ_NOESCAPE const float *x, OMQ_NOESCAPE omq_block_q8_1 *y, OMQ_NOESCAPE const float *qw,
                                       float sigma2) {
    (void)qw;
    (void)sigma2;
    float amax = 0.0f;
    for (int j = 0; j < OMQ_QK; ++j) {
        const float a = omq_fabsf(x[j]);
        amax = amax > a ? amax : a;
    }
    const float d = amax / 127;
    const float id = d ? 1.0f / d : 0.0f;
    y->d = omq_fp32_to_fp16(d);
    int sum = 0;
    for (int j = 0; j < OMQ_QK; ++j) {
        y->qs[j] = (int8_t)omq_roundf(x[j] * id);
        sum += y->qs[j];
    }
    y->s = omq_fp32_to_fp16(sum * d);
}

static inline void q8_1_dequantize_group(OMQ_NOESCAPE const omq_block_q8_1 *x, int g, OMQ_NOESCAPE float *y) {
    const float d = omq_fp16_to_fp32(x->d);
    for (int i = 0; i < 8; ++i) y[i] = x->qs[8 * g + i] * d;
}

static inline void q8_1_dequantize_block(OMQ_NOESCAPE const omq_block_q8_1 *x, OMQ_NOESCAPE float *y) {
    const float d = omq_fp16_to_fp32(x->d);
    for (int j = 0; j < OMQ_QK; ++j) y[j] = x->qs[j] * d;
}
#pragma omp end declare target

OMQ_DEFINE_CODEC32(q8_1, omq_block_q8_1)
