/* The interface between the framework (src/) and the kernels (offload/).
 *
 * A kernel entry point runs its loop either on host threads or as a (synchronous) target
 * region on an OpenMP device; which one is decided by the omq_exec it is given, never by
 * the kernel. The device layer calls entry points in stream order. Entry points never
 * fail: the framework validates every argument before calling them. */
#ifndef OMQ_KERNELS_H
#define OMQ_KERNELS_H

#include <stddef.h>
#include <stdint.h>

typedef enum omq_exec_kind {
    OMQ_EXEC_HOST = 0,  /* OpenMP parallel loops on the calling host */
    OMQ_EXEC_TARGET = 1 /* target regions on `device` (the host fallback if it is the initial device) */
} omq_exec_kind;

typedef struct omq_exec {
    omq_exec_kind kind;
    int device; /* OpenMP device number, for OMQ_EXEC_TARGET */
    int *fault; /* one int `device` can write (its memory, or mapped host memory) where kernels
                 * latch a deferred error */
    void *workspace; /* scratch in `device` memory, as large as the submission asked for */
    int units;       /* compute units of `device` (SMs, CUs); 0 if unknown */
} omq_exec;

/* Deferred error a kernel can latch into *fault (an omq_status value). */
#define OMQ_FAULT_NONFINITE 12

/* rows x cols float32 -> rows of blocks. imatrix: NULL or cols weights. */
typedef void (*omq_quantize_fn)(const omq_exec *ex, const float *src, void *dst, int64_t rows,
                                int64_t cols, const float *imatrix);
/* rows of blocks -> rows x cols float32 (to_f16 == 0) or IEEE binary16 (to_f16 != 0). */
typedef void (*omq_dequantize_fn)(const omq_exec *ex, const void *src, void *dst, int to_f16,
                                  int64_t rows, int64_t cols);

#define OMQ_DECLARE_CODEC(T)                                                                 \
    void omq_quantize_##T(const omq_exec *ex, const float *src, void *dst, int64_t rows,    \
                          int64_t cols, const float *imatrix);                               \
    void omq_dequantize_##T(const omq_exec *ex, const void *src, void *dst, int to_f16,     \
                            int64_t rows, int64_t cols);

OMQ_DECLARE_CODEC(f32)
OMQ_DECLARE_CODEC(f16)
OMQ_DECLARE_CODEC(q4_0)
OMQ_DECLARE_CODEC(q4_1)
OMQ_DECLARE_CODEC(q5_0)
OMQ_DECLARE_CODEC(q5_1)
OMQ_DECLARE_CODEC(q8_0)
OMQ_DECLARE_CODEC(q8_1)
OMQ_DECLARE_CODEC(q2_K)
OMQ_DECLARE_CODEC(q3_K)
OMQ_DECLARE_CODEC(q4_K)
OMQ_DECLARE_CODEC(q5_K)
OMQ_DECLARE_CODEC(q6_K)
OMQ_DECLARE_CODEC(q8_K)

/* Y (n x rows, row-major) = X W^T: Y[j * rows + i] = sum_k W[i][k] X[j][k]. W: rows x k values
 * of the type, as rows of blocks; X: n x k float32 (dmmv, gemm) or n rows of k / 32 Q8_1
 * blocks (mmvq, mmq). The framework has checked every size and pointer. */
typedef void (*omq_matmul_fn)(const omq_exec *ex, const void *w, int64_t rows, int64_t k,
                              const void *x, int64_t n, float *y);

/* GEMV (n = 1) of a quantized W for target executions: mmvq's arithmetic in one region, X
 * (x_kind: float32, binary16, or Q8_1 blocks, 4-byte aligned) staged as Q8_1 in team memory,
 * for K up to OMQ_GEMV_XBLOCKS * 32. */
enum { OMQ_GEMV_X_F32 = 0, OMQ_GEMV_X_F16 = 1, OMQ_GEMV_X_Q8_1 = 2 };
typedef void (*omq_gemv_fn)(const omq_exec *ex, const void *w, int64_t rows, int64_t k,
                            const void *x, int x_kind, float *y);
#define OMQ_GEMV_XBLOCKS 896 /* 32 KiB of team memory: K up to 28672 */

#define OMQ_DECLARE_MATMUL_FLOAT(T)                                                          \
    void omq_dmmv_##T(const omq_exec *ex, const void *w, int64_t rows, int64_t k,          \
                      const void *x, int64_t n, float *y);                                   \
    void omq_gemm_##T(const omq_exec *ex, const void *w, int64_t rows, int64_t k,          \
                      const void *x, int64_t n, float *y);
#define OMQ_DECLARE_MATMUL(T)                                                                \
    OMQ_DECLARE_MATMUL_FLOAT(T)                                                              \
    void omq_mmvq_##T(const omq_exec *ex, const void *w, int64_t rows, int64_t k,          \
                      const void *x, int64_t n, float *y);                                   \
    void omq_mmq_##T(const omq_exec *ex, const void *w, int64_t rows, int64_t k,           \
                     const void *x, int64_t n, float *y);                                    \
    void omq_gemv_##T(const omq_exec *ex, const void *w, int64_t rows, int64_t k,          \
                      const void *x, int x_kind, float *y);

OMQ_DECLARE_MATMUL_FLOAT(f32)
OMQ_DECLARE_MATMUL_FLOAT(f16)
OMQ_DECLARE_MATMUL(q4_0)
OMQ_DECLARE_MATMUL(q4_1)
OMQ_DECLARE_MATMUL(q5_0)
OMQ_DECLARE_MATMUL(q5_1)
OMQ_DECLARE_MATMUL(q8_0)
OMQ_DECLARE_MATMUL(q8_1)
OMQ_DECLARE_MATMUL(q2_K)
OMQ_DECLARE_MATMUL(q3_K)
OMQ_DECLARE_MATMUL(q4_K)
OMQ_DECLARE_MATMUL(q5_K)
OMQ_DECLARE_MATMUL(q6_K)
OMQ_DECLARE_MATMUL(q8_K)

/* rows x cols float32 (or IEEE binary16 where f16) -> Q8_1 blocks, the bytes of
 * omq_quantize_q8_1 of the values widened to float32, with the latency of a small X in mind
 * (a lane per block on devices): the matrix products' activations. */
void omq_quantize_q8_1_act(const omq_exec *ex, const void *src, int f16, void *dst, int64_t rows,
                           int64_t cols);

/* 1 if target regions of this build can run on OpenMP device `device` (a probe region). */
int omq_probe_device(int device);
/* Benchmark yardsticks: an empty kernel, a copy of `bytes` (a multiple of 16), and a read of
 * `bytes` that writes dst only for a chunk carrying the key (omq.h, OMQ_PROBE_READ). */
void omq_kernel_empty(const omq_exec *ex);
void omq_kernel_copy(const omq_exec *ex, void *dst, const void *src, size_t bytes);
void omq_kernel_read(const omq_exec *ex, void *dst, const void *src, size_t bytes);

#endif /* OMQ_KERNELS_H */
