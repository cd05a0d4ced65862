/* F32 and F16 rows: block size 1. "Quantizing" to F16 is IEEE round-to-nearest-even
 * conversion (non-finite values convert faithfully); F32 is a copy. */
#include "codec.h"
#include "matmul.h"

/* The matrix products see F32 and F16 weights as blocks of one value. */
#pragma omp declare target
static inline void f32_dequantize_block(const float *x, float *y) { *y = *x; }
static inline void f16_dequantize_block(const uint16_t *x, float *y) { *y = omq_fp16_to_fp32(*x); }
#pragma omp end declare target

/* Devices: a thread converts 8 consecutive values with 16-byte loads and stores, where both
 * buffers are 16-byte aligned (the last thread takes the n % 8 rest one at a time). A
 * thread a value left these kernels bound by instruction issue (H100 ncu: f16 -> f32 at 77 %
 * of issue slots, DRAM 46 %). */
#define OMQ_CONVERT_BY8(ex, n, x, y, VEC8, ONE)                                                 \
    do {                                                                                        \
        const int64_t n_ = (n);                                                                 \
        if ((ex)->kind == OMQ_EXEC_TARGET && ((uintptr_t)(x) & 15) == 0 && ((uintptr_t)(y) & 15) == 0) { \
            OMQ_TARGET_FOR(ex, (n_ + 7) / 8, c_, (x, y), {                                      \
                const int64_t i = 8 * c_;                                                       \
                if (i + 8 <= n_) {                                                              \
                    VEC8;                                                                       \
                } else {                                                                        \
                    for (int64_t j = i; j < n_; ++j) ONE;                                       \
                }                                                                               \
            });                                                                                 \
        } else {                                                                                \
            OMQ_PARALLEL_FOR(ex, n_, j, (x, y), { ONE; });                                      \
        }                                                                                       \
    } while (0)

#pragma omp declare target
/* 8 floats at x (16-byte aligned) -> 8 halves at y (16-byte aligned) */
static inline void omq_f32x8_to_f16(const float *x, uint16_t *y) {
    float t[8];
    omq_vec16 v;
    __builtin_memcpy(t, __builtin_assume_aligned(x, 16), 32);
    omq_fp32_to_fp16_pairs(t, 8, v.w);
    *(omq_vec16 *)y = v;
}

static inline void omq_f16x8_to_f32(const uint16_t *x, float *y) {
    const omq_vec16 v = *(const omq_vec16 *)x;
    omq_vec16 o[2];
    for (int j = 0; j < 8; ++j) o[j / 4].w[j % 4] = omq_f32_bits(omq_fp16_to_fp32((uint16_t)(v.w[j / 2] >> 16 * (j % 2))));
    ((omq_vec16 *)y)[0] = o[0];
    ((omq_vec16 *)y)[1] = o[1];
}
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
        OMQ_CONVERT_BY8(ex, rows * cols, x, y, omq_f32x8_to_f16(x + i, y + i), y[j] = omq_fp32_to_fp16(x[j]));
    } else {
        float *y = (float *)dst;
        OMQ_PARALLEL_FOR(ex, rows * cols, i, (x, y), { y[i] = x[i]; });
    }
}

void omq_quantize_f16(const omq_exec *ex, const float *src, void *dst, int64_t rows,
                      int64_t cols, const float *imatrix) {
    (void)imatrix;
    uint16_t *y = (uint16_t *)dst;
    OMQ_CONVERT_BY8(ex, rows * cols, src, y, omq_f32x8_to_f16(src + i, y + i), y[j] = omq_fp32_to_fp16(src[j]));
}

void omq_dequantize_f16(const omq_exec *ex, const void *src, void *dst, int to_f16,
                        int64_t rows, int64_t cols) {
    const uint16_t *x = (const uint16_t *)src;
    if (to_f16) {
        uint16_t *y = (uint16_t *)dst;
        OMQ_CONVERT_BY8(ex, rows * cols, x, y, *(omq_vec16 *)(y + i) = *(const omq_vec16 *)(x + i), y[j] = x[j]);
    } else {
        float *y = (float *)dst;
        OMQ_CONVERT_BY8(ex, rows * cols, x, y, omq_f16x8_to_f32(x + i, y + i), y[j] = omq_fp16_to_fp32(x[j]));
    }
}

OMQ_DEFINE_MATMUL_FLOAT(f32, float, 1)
OMQ_DEFINE_MATMUL_FLOAT(f16, uint16_t, 1)
