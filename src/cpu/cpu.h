/* Host microkernels for particular instruction sets, chosen at run time (BLIS's split: the
 * framework in src/matmul.c, small per-ISA kernels here; the portable forms in offload/ stay
 * the reference and the fallback). */
#ifndef OMQ_CPU_H
#define OMQ_CPU_H

#include "../../offload/blocks.h"
#include "../../offload/kernels.h"
#include "omq.h"

/* columns of X a kernel call reads each weight row against (mmvq's range) */
#define OMQ_CPU_MAX_COLS 8

/* The host mmvq kernel for weights of `type` on this processor, or NULL (no such kernel, the
 * processor lacks its instructions, or OMQ_HOST_ISA=portable). */
omq_matmul_fn omq_cpu_mmvq(omq_type type);

/* The host's conversions of n values between float32 and binary16 (omq_fp32_to_fp16's and
 * omq_fp16_to_fp32's bits) on this processor, or NULL (as omq_cpu_mmvq). */
typedef void (*omq_to_f16_fn)(const float *x, uint16_t *y, int64_t n);
typedef void (*omq_to_f32_fn)(const uint16_t *x, float *y, int64_t n);
omq_to_f16_fn omq_cpu_f32_to_f16(void);
omq_to_f32_fn omq_cpu_f16_to_f32(void);

/* What omq_cpu_mmvq draws on: "x86-64 AVX2" or "portable". */
const char *omq_cpu_isa(void);

#ifdef OMQ_CPU_X86
#define OMQ_CPU_X86_TYPES(X)                                                                    \
    X(q4_0, Q4_0) X(q4_1, Q4_1) X(q5_0, Q5_0) X(q5_1, Q5_1) X(q8_0, Q8_0)                      \
    X(q2_K, Q2_K) X(q3_K, Q3_K) X(q4_K, Q4_K) X(q5_K, Q5_K) X(q6_K, Q6_K)
#define OMQ_CPU_DECLARE(T, U)                                                                    \
    void omq_x86_mmvq_##T(const omq_exec *ex, const void *w, int64_t rows, int64_t k,          \
                          const void *x, int64_t n, float *y);
OMQ_CPU_X86_TYPES(OMQ_CPU_DECLARE)
void omq_x86_f32_to_f16(const float *x, uint16_t *y, int64_t n);
void omq_x86_f16_to_f32(const uint16_t *x, float *y, int64_t n);
#endif

#endif
