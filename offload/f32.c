/* F32 and F16 rows: block size 1. "Quantizing" to F16 is IEEE round-to-nearest-even
 * conversion (non-finite values convert faithfully); F32 is a copy. */
#include "codec.h"
#include "matmul.h"

/* The matrix products see F32 and F16 weights as blocks of one value. */
#pragma omp declare target
static inline void f32_dequantize_block(const float *x, float *y) { *y = *x; }
static inline void f16_dequantize_block(const uint16_t *x, float *y) { *y = omq_fp16_to_fp32(*x); }
#pragma omp end declare target

void omq_quantize_f32(const omq_exec *ex, const float *src, void *dst, int64_t rows,
                      int64_t cols, const float *imatrix) {
    (void)imatrix;
    float *y = (float *)dst;
    OMQ_PARALLEL_FOR(ex, rows * cols, i, (src, y), { y[i] = src[i]; });
}

void omq_dequantize_f32(const omq_exec *ex, const void *src, void *dst, int to_f16,
                        int64_t rows, int64_t cols) {
    const float *x = (const float *)src;
    if (to_f16) {
        uint16_t *y = (uint16_t *)dst;
        OMQ_PARALLEL_FOR(ex, rows * cols, i, (x, y), { y[i] = omq_fp32_to_fp16(x[i]); });
    } else {
        float *y = (float *)dst;
        OMQ_PARALLEL_FOR(ex, rows * cols, i, (x, y), { y[i] = x[i]; });
    }
}

void omq_quantize_f16(const omq_exec *ex, const float *src, void *dst, int64_t rows,
                      int64_t cols, const float *imatrix) {
    (void)imatrix;
    uint16_t *y = (uint16_t *)dst;
    OMQ_PARALLEL_FOR(ex, rows * cols, i, (src, y), { y[i] = omq_fp32_to_fp16(src[i]); });
}

void omq_dequantize_f16(const omq_exec *ex, const void *src, void *dst, int to_f16,
                        int64_t rows, int64_t cols) {
    const uint16_t *x = (const uint16_t *)src;
    if (to_f16) {
        uint16_t *y = (uint16_t *)dst;
        OMQ_PARALLEL_FOR(ex, rows * cols, i, (x, y), { y[i] = x[i]; });
    } else {
        float *y = (float *)dst;
        OMQ_PARALLEL_FOR(ex, rows * cols, i, (x, y), { y[i] = omq_fp16_to_fp32(x[i]); });
    }
}

OMQ_DEFINE_MATMUL_FLOAT(f32, float, 1)
OMQ_DEFINE_MATMUL_FLOAT(f16, uint16_t, 1)
