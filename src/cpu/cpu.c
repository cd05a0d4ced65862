/* Run-time choice of the host microkernels (compiled for the baseline ISA, host only: it runs
 * before anything is known about the processor). */
#include "cpu.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

static pthread_once_t isa_once = PTHREAD_ONCE_INIT;
static int have_avx2;

static void detect(void) {
    const char *env = getenv("OMQ_HOST_ISA");
    if (env && !strcmp(env, "portable")) return;
#ifdef OMQ_CPU_X86
    __builtin_cpu_init();
    have_avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") &&
                __builtin_cpu_supports("f16c");
#endif
}

/* whether the processor runs the x86 kernels (asked once) */
static int use_x86(void) {
    pthread_once(&isa_once, detect);
    return have_avx2;
}

/* kernel k where the x86 kernels run, else NULL */
#ifdef OMQ_CPU_X86
#define X86_OR_NULL(k) (use_x86() ? (k) : NULL)
#else
#define X86_OR_NULL(k) NULL
#endif

const char *omq_cpu_isa(void) { return use_x86() ? "x86-64 AVX2" : "portable"; }

omq_matmul_fn omq_cpu_mmvq(omq_type type) {
    switch (type) {
#ifdef OMQ_CPU_X86
#define OMQ_CPU_CASE(T, U)                                                                       \
    case OMQ_TYPE_##U: return X86_OR_NULL(omq_x86_mmvq_##T);
        OMQ_CPU_X86_TYPES(OMQ_CPU_CASE)
#undef OMQ_CPU_CASE
#endif
    default: return NULL;
    }
}

omq_to_f16_fn omq_cpu_f32_to_f16(void) { return X86_OR_NULL(omq_x86_f32_to_f16); }

omq_to_f32_fn omq_cpu_f16_to_f32(void) { return X86_OR_NULL(omq_x86_f16_to_f32); }
