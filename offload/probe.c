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
        /* an explicit shape, as omq's kernels have (the direct launcher needs one) */
#pragma omp target teams distribute parallel for device(dev) num_teams(1) thread_limit(32)
        for (int i = 0; i < 1; ++i) (void)i;
    }
    (void)sink;
}

typedef struct {
    uint64_t lo, hi;
} omq_u128;

void omq_kernel_copy(const omq_exec *ex, void *dst, const void *src, size_t bytes) {
    /* 16 bytes a thread, consecutive threads on consecutive chunks (coalesced), and one
     * thread per chunk: the runtime's default team count leaves an H200 half idle (1.96 vs
     * 3.0 TB/s measured; an ompx_bare grid-stride form with 4 loads in flight got 2.3) */
    omq_u128 *d = (omq_u128 *)dst;
    const omq_u128 *s = (const omq_u128 *)src;
    const int64_t n = (int64_t)(bytes / sizeof(omq_u128));
    if (ex->kind == OMQ_EXEC_HOST) {
        OMQ_HOST_FOR(n, i, { d[i] = s[i]; });
        return;
    }
    OMQ_TARGET_FOR(ex, n, i, (d, s), { d[i] = s[i]; });
}
