/* Q8_0: 32 values, fp16 scale d = amax / 127, int8 quants meaning q * d. */
#include "codec.h"
#include "matmul.h"

#pragma omp declare target
static inline void q8_0_quantize_block(OMQ_NOESCAPE const float *x, OMQ_NOESCAPE omq_block_q8_0 *y, OMQ_NOESCAPE const float *qw,
                                       float sigma2) {
    (void)qw; /* ggml's q8_0 ignores importance weights */
    (void)sigma2;
    float id;
    const float d = omq_q8_scale(omq_absmax(x, OMQ_QK), &id);
    y->d = omq_fp32_to_fp16(d);
    /* unrolled: as a loop (LLVM 19 left it one) it indexed the block by a variable, which put
     * the block in local memory on NVIDIA: 3x slower on the H100 (docs/perf.md) */
    OMQ_UNROLL for (int j = 0; j < OMQ_QK; ++j) y->qs[j] = (int8_t)omq_roundf(x[j] * id);
}

static inline void q8_0_dequantize_group(OMQ_NOESCAPE const omq_block_q8_0 *x, int g, OMQ_NOESCAPE float *y) {
    const float d = omq_fp16_to_fp32(x->d);
    for (int i = 0; i < 8; ++i) y[i] = x->qs[8 * g + i] * d;
}

static inline void q8_0_dequantize_block(OMQ_NOESCAPE const omq_block_q8_0 *x, OMQ_NOESCAPE float *y) {
    const float d = omq_fp16_to_fp32(x->d);
    for (int j = 0; j < OMQ_QK; ++j) y[j] = x->qs[j] * d;
}
/* the block as one group (matmul.h): value d * q */
static inline void q8_0_group_words(const omq_block_q8_0 *w, int g, OMQ_NOESCAPE uint32_t *q,
                                    OMQ_NOESCAPE omq_group_coef *cf) {
    (void)g;
    omq_ld_run_a2((const uint8_t *)w->qs, 8, q);
    *cf = omq_coef_sym(omq_fp16_scale(w->d));
}

/* device form (matmul.h): the quants loaded a word at a time */
OMQ_DEVICE_FORM void q8_0_vec_dot_q8_1_words(const omq_block_q8_0 *w, const omq_block_q8_1 *x,
                                           int64_t xs, int nc, float *acc) {
    uint32_t q[8];
    omq_group_coef cf;
    q8_0_group_words(w, 0, q, &cf);
    omq_vdot_sym32_words(q, cf.d, x, xs, nc, acc);
}

/* value q * d: the quants are already int8 */
#pragma omp declare variant(q8_0_vec_dot_q8_1_words) match(device = {kind(gpu)})
static inline void q8_0_vec_dot_q8_1(const omq_block_q8_0 *w, const omq_block_q8_1 *x, int64_t xs,
                                     int nc, float *acc) {
    omq_vdot_sym32(w->qs, omq_fp16_scale(w->d), x, xs, nc, acc);
}
#pragma omp end declare target

OMQ_DEFINE_CODEC32(q8_0, omq_block_q8_0)
OMQ_DEFINE_MATMUL(q8_0, omq_block_q8_0, OMQ_QK, OMQ_GF_SYM)
