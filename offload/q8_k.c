/* Q8_K: 256 values, float32 scale, int8 quants, and the sums of each 16 quants. */
#include "codec.h"
#define OMQ_GEMV_ILP 1 /* GEMV: a unit at a time (two spilled 44 bytes); see docs/perf.md */
#include "matmul.h"

#pragma omp declare target
static inline void q8_K_quantize_block(OMQ_NOESCAPE const float *x, OMQ_NOESCAPE omq_block_q8_K *y, OMQ_NOESCAPE const float *qw,
                                       float sigma2) {
    (void)qw;
    (void)sigma2;
    float max = 0, amax = 0;
    for (int j = 0; j < OMQ_QK_K; ++j) {
        const float ax = omq_fabsf(x[j]);
        if (ax > amax) {
            amax = ax;
            max = x[j];
        }
    }
    if (!amax) {
        /* ggml leaves bsums unwritten here; zeros are what its zero-filled output holds */
        __builtin_memset(y, 0, sizeof *y);
        return;
    }
    const float iscale = -127.f / max;
    /* sums from the values in registers, not re-read from y->qs: LLVM 19's NVPTX backend
     * turns that re-read into a 16-byte vector load of a 4-byte aligned address */
    for (int j = 0; j < OMQ_QK_K / 16; ++j) {
        int sum = 0;
        for (int i = 0; i < 16; ++i) {
            const int v = omq_min_i(127, omq_nearest_int(iscale * x[16 * j + i]));
            y->qs[16 * j + i] = (int8_t)v;
            sum += (int8_t)v;
        }
        y->bsums[j] = (int16_t)sum;
    }
    y->d = 1 / iscale;
}

static inline void q8_K_dequantize_group(OMQ_NOESCAPE const omq_block_q8_K *x, int g, OMQ_NOESCAPE float *y) {
    for (int i = 0; i < 8; ++i) y[i] = x->d * x->qs[8 * g + i];
}

static inline void q8_K_dequantize_block(OMQ_NOESCAPE const omq_block_q8_K *x, OMQ_NOESCAPE float *y) {
    for (int j = 0; j < OMQ_QK_K; ++j) y[j] = x->d * x->qs[j];
}
/* group g (matmul.h): quants qs[32 g ..], value d * q */
static inline void q8_K_group_words(const omq_block_q8_K *w, int g, OMQ_NOESCAPE uint32_t *q,
                                    OMQ_NOESCAPE omq_group_coef *cf) {
    for (int i = 0; i < 8; ++i) q[i] = omq_ld32_a2(w->qs + 32 * g + 4 * i);
    *cf = omq_coef_sym(w->d);
}

/* value d * q with a float32 d: Q3_K/Q6_K's arithmetic with unit scales */
static inline void q8_K_vec_dot_q8_1(const omq_block_q8_K *w, const omq_block_q8_1 *x, int64_t xs,
                                     int nc, float *acc) {
    int ones[16];
    for (int g = 0; g < 16; ++g) ones[g] = 1;
    omq_vdot_k16(w->qs, ones, w->d, x, xs, nc, acc);
}
#pragma omp end declare target

OMQ_DEFINE_CODEC(q8_K, omq_block_q8_K, OMQ_QK_K)
OMQ_DEFINE_MATMUL(q8_K, omq_block_q8_K, OMQ_QK_K, OMQ_GF_SYM)
