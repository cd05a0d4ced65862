/* Q8_1: Q8_0 plus s = fp16(d * sum(q)), the block sum that matrix products with Q4_1/Q5_1
 * and K-quant weights use. Activations format: ggml has no Q8_1 dequantizer; omq's gives
 * q * d, as ggml's Q8_0 one does. */
#include "codec.h"
#include "matmul.h"

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
/* the block as one group (matmul.h): value d * q (s is not part of the value) */
static inline void q8_1_group_words(const omq_block_q8_1 *w, int g, OMQ_NOESCAPE uint32_t *q,
                                    OMQ_NOESCAPE omq_group_coef *cf) {
    (void)g;
    for (int i = 0; i < 8; ++i) q[i] = omq_ld32_a4(w->qs + 4 * i);
    *cf = omq_coef_sym(omq_fp16_to_fp32(w->d));
}

/* as weights: value q * d, as omq's dequantizer has it (s is not part of the value) */
static inline void q8_1_vec_dot_q8_1(const omq_block_q8_1 *w, const omq_block_q8_1 *x, int64_t xs,
                                     int nc, float *acc) {
    omq_vdot_sym32(w->qs, omq_fp16_to_fp32(w->d), x, xs, nc, acc);
}
#pragma omp end declare target

OMQ_DEFINE_CODEC32(q8_1, omq_block_q8_1)
OMQ_DEFINE_MATMUL(q8_1, omq_block_q8_1, OMQ_QK, OMQ_GF_SYM)

/* Activations given as IEEE binary16: each block widened exactly to float32, then quantized as
 * omq_quantize does (non-finite blocks become zeros and latch the fault word). */
void omq_quantize_q8_1_f16(const omq_exec *ex, const uint16_t *src, void *dst, int64_t rows,
                           int64_t cols) {
    omq_block_q8_1 *y = (omq_block_q8_1 *)dst;
    int *fault = ex->fault;
    OMQ_PARALLEL_FOR(ex, rows * (cols / OMQ_QK), i, (src, y, fault), {
        float v[OMQ_QK];
        for (int j = 0; j < OMQ_QK; ++j) v[j] = omq_fp16_to_fp32(src[i * OMQ_QK + j]);
        OMQ_QUANTIZE_ONE(q8_1, omq_block_q8_1, OMQ_QK, v, y + i, NULL, 0.0f, fault);
    });
}

/* Activations of the matrix products on devices: a lane per block (omq_q8a_block, matmul.h:
 * the 32 values loaded at once and kept in registers), no barrier. Host threads take
 * omq_quantize_q8_1. */
#define OMQ_Q8A_LANES 128 /* lanes per team */

void omq_quantize_q8_1_act(const omq_exec *ex, const float *src, void *dst, int64_t rows,
                           int64_t cols) {
    if (ex->kind == OMQ_EXEC_HOST) {
        omq_quantize_q8_1(ex, src, dst, rows, cols, NULL);
        return;
    }
    uint32_t *y32 = (uint32_t *)dst; /* the workspace is 4-aligned; a block is 9 words */
    int *fault = ex->fault;
    const int64_t nb = rows * (cols / OMQ_QK), ntiles = (nb + OMQ_Q8A_LANES - 1) / OMQ_Q8A_LANES;
    const int dev = ex->device, nteams = omq_teams_for_tiles(dev, ntiles);
    OMQ_PRAGMA(omp target teams num_teams(nteams) thread_limit(OMQ_Q8A_LANES) device(dev)
               is_device_ptr(src, y32, fault))
    _Pragma("omp parallel")
    {
        OMQ_MM_THREAD;
        for (int64_t t = omp_get_team_num(); t < ntiles; t += omp_get_num_teams())
            for (int l = th_; l < OMQ_Q8A_LANES; l += nth_) {
                const int64_t b = t * OMQ_Q8A_LANES + l;
                if (b < nb) omq_q8a_block(src, 0, b, y32, fault);
            }
    }
}
