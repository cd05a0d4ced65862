/* Q8_1: Q8_0 plus s = fp16(d * sum(q)), the block sum that matrix products with Q4_1/Q5_1
 * and K-quant weights use. Activations format: ggml has no Q8_1 dequantizer; omq's gives
 * q * d, as ggml's Q8_0 one does. */
#include "codec.h"
#include "matmul.h"

#pragma omp declare target
/* q8_1_quantize_block: matmul.h (the activations' quantizer) */
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
    *cf = omq_coef_sym(omq_fp16_scale(w->d));
}

/* as weights: value q * d, as omq's dequantizer has it (s is not part of the value) */
static inline void q8_1_vec_dot_q8_1(const omq_block_q8_1 *w, const omq_block_q8_1 *x, int64_t xs,
                                     int nc, float *acc) {
    omq_vdot_sym32(w->qs, omq_fp16_scale(w->d), x, xs, nc, acc);
}
#pragma omp end declare target

OMQ_DEFINE_CODEC32(q8_1, omq_block_q8_1)
OMQ_DEFINE_MATMUL(q8_1, omq_block_q8_1, OMQ_QK, OMQ_GF_SYM)

/* Activations of the matrix products (float32, or binary16 where f16): on GPUs
 * omq_q8a_blocks_team (matmul.h: OMQ_Q8A_SPAN lanes a block, loads contiguous), else a lane per block. */
#define OMQ_Q8A_LANES 128 /* lanes per team */

void omq_quantize_q8_1_act(const omq_exec *ex, const void *src, int f16, void *dst, int64_t rows,
                           int64_t cols) {
    omq_block_q8_1 *y = (omq_block_q8_1 *)dst;
    int *fault = ex->fault;
    const int64_t nb = rows * (cols / OMQ_QK);
    if (ex->kind == OMQ_EXEC_HOST) {
        OMQ_HOST_FOR(nb, b, omq_q8a_block(src, f16, b, y, fault););
        return;
    }
    /* a tile: the blocks of one team pass (OMQ_Q8A_SPAN lanes a block on GPUs) */
    const int tile = OMQ_Q8A_LANES / OMQ_Q8A_SPAN;
    const int64_t ntiles = (nb + tile - 1) / tile;
    const int dev = ex->device, nteams = omq_teams_for_tiles(dev, ntiles);
    OMQ_PRAGMA(omp target teams num_teams(nteams) thread_limit(OMQ_Q8A_LANES) device(dev)
               is_device_ptr(src, y, fault))
    {
        _Pragma("omp parallel")
        {
            OMQ_MM_THREAD;
            for (int64_t t = omp_get_team_num(); t < ntiles; t += omp_get_num_teams()) {
                const int64_t b0 = t * tile;
                omq_q8a_blocks(src, f16, b0, OMQ_MM_MIN(nb - b0, tile), (uint32_t *)y, 0, fault, th_, nth_,
                               OMQ_Q8A_LANES);
            }
        }
    }
}
