/* F32 and F16 rows: block size 1. "Quantizing" to F16 is IEEE round-to-nearest-even
 * conversion (non-finite values convert faithfully); F32 is a copy. */
#include "codec.h"

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
