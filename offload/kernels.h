/* The interface between the framework (src/) and the kernels (offload/).
 *
 * A kernel entry point runs its loop either on host threads or as a (synchronous) target
 * region on an OpenMP device; which one is decided by the omq_exec it is given, never by
 * the kernel. The device layer calls entry points in stream order. Entry points never
 * fail: the framework validates every argument before calling them. */
#ifndef OMQ_KERNELS_H
#define OMQ_KERNELS_H

#include <stdint.h>

typedef enum omq_exec_kind {
    OMQ_EXEC_HOST = 0,  /* OpenMP parallel loops on the calling host */
    OMQ_EXEC_TARGET = 1 /* target regions on `device` (the host fallback if it is the initial device) */
} omq_exec_kind;

typedef struct omq_exec {
    omq_exec_kind kind;
    int device; /* OpenMP device number, for OMQ_EXEC_TARGET */
    int *fault; /* one int in `device` memory where kernels latch a deferred error */
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

/* 1 if target regions of this build can run on OpenMP device `device` (a probe region). */
int omq_probe_device(int device);
/* Benchmark yardsticks: an empty kernel, and a copy of `bytes` (a multiple of 16). */
void omq_kernel_empty(const omq_exec *ex);
void omq_kernel_copy(const omq_exec *ex, void *dst, const void *src, size_t bytes);

#endif /* OMQ_KERNELS_H */
