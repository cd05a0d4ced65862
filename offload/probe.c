/* Small kernels that are not codecs: whether a device really runs this build's target
 * regions, and the two yardsticks of `omq bench` (an empty kernel: launch overhead; a copy
 * kernel: the bandwidth a plain OpenMP kernel gets, the roofline every result is set
 * against). */
#include <omp.h>

#include "codec.h"

int omq_probe_device(int device) {
    int on_device = 0;
#pragma omp target device(device) map(from : on_device)
    on_device = !omp_is_initial_device();
    return on_device;
}

void omq_kernel_empty(const omq_exec *ex) {
    volatile int sink = 0; /* the host form must not fold away either */
    if (ex->kind == OMQ_EXEC_HOST) {
#pragma omp parallel for
        for (int i = 0; i < 1; ++i) sink = i;
    } else {
        const int dev = ex->device;
#pragma omp target teams distribute parallel for device(dev)
        for (int i = 0; i < 1; ++i) (void)i;
    }
    (void)sink;
}

typedef struct {
    uint64_t lo, hi;
} omq_u128;

void omq_kernel_copy(const omq_exec *ex, void *dst, const void *src, size_t bytes) {
    /* 16 bytes a thread, consecutive threads on consecutive chunks (coalesced) */
    omq_u128 *d = (omq_u128 *)dst;
    const omq_u128 *s = (const omq_u128 *)src;
    OMQ_PARALLEL_FOR(ex, (int64_t)(bytes / sizeof(omq_u128)), i, (d, s), { d[i] = s[i]; });
}
