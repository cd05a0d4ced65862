/* The CUDA driver, as the omp backend uses it on NVIDIA GPUs: loaded with dlopen on first use
 * (libomq never links it), and the direct launcher of omq's own target regions.
 *
 * Direct launches. LLVM 19's runtime runs each target region synchronously: a launch, then a
 * stream synchronize, 10 us a region queued and 21-29 us synchronized on an H200 before any
 * work. omq instead "arms" the thread that serves a stream (the submitting thread itself for
 * kernels, omp.c) with a CUstream of the stream's own; a target region of omq's kernels that
 * the thread then starts is launched by cuLaunchKernel on it and the call returns at once: the same compiled kernel (the device image the
 * runtime registered, loaded again into the device's primary context), the same launch
 * shape (num_teams, thread_limit) and arguments the runtime would pass. Regions the launcher
 * cannot take (map clauses, reductions, generic-mode kernels, no explicit shape) wait for the
 * stream and go to the runtime as before, as do all regions of threads that are not armed
 * (the application's own target regions among them). OMQ_DIRECT_LAUNCH=0 turns it off. */
#ifndef OMQ_CUDA_H
#define OMQ_CUDA_H

#include <stddef.h>

/* the driver entry points omq uses; NULL members are missing */
typedef struct {
    int (*Init)(unsigned);
    int (*DeviceGetCount)(int *);
    int (*DeviceGet)(int *, int);
    int (*DeviceGetAttribute)(int *, int, int);
    int (*PrimaryCtxRetain)(void **, int);
    int (*PrimaryCtxRelease)(int);
    int (*CtxPushCurrent)(void *);
    int (*CtxPopCurrent)(void **);
    int (*CtxGetFlags)(unsigned *);
    int (*CtxSetFlags)(unsigned); /* CUDA >= 12.1 drivers */
    int (*MemGetInfo)(size_t *, size_t *);
    int (*StreamCreate)(void **, unsigned);
    int (*StreamDestroy)(void *);
    int (*StreamQuery)(void *);
    int (*StreamSynchronize)(void *);
    int (*ModuleLoadData)(void **, const void *);
    int (*ModuleGetFunction)(void **, void *, const char *);
    int (*ModuleGetGlobal)(unsigned long long *, size_t *, void *, const char *);
    int (*MemcpyDtoH)(void *, unsigned long long, size_t);
    int (*MemcpyHtoD)(unsigned long long, const void *, size_t);
    int (*MemcpyHtoDAsync)(unsigned long long, const void *, size_t, void *);
    int (*MemcpyDtoHAsync)(void *, unsigned long long, size_t, void *);
    int (*MemcpyDtoDAsync)(unsigned long long, unsigned long long, size_t, void *);
    int (*FuncGetAttribute)(int *, int, void *);
    int (*FuncGetParamInfo)(void *, size_t, size_t *, size_t *); /* CUDA >= 12.4 drivers */
    int (*LaunchKernel)(void *, unsigned, unsigned, unsigned, unsigned, unsigned, unsigned, unsigned,
                        void *, void **, void **);
    int devices; /* CUDA devices; 0 when the driver is missing */
} omq_cuda_driver;

/* The driver (loaded once); devices == 0 if there is none. */
const omq_cuda_driver *omq_cuda(void);

/* A CUstream for direct launches on CUDA device `device` (= OpenMP device `device`), or NULL
 * when they are off or impossible there (no driver, no NVIDIA image, OMQ_DIRECT_LAUNCH=0). */
void *omq_cuda_direct_stream(int device);
void omq_cuda_direct_stream_free(void *stream);
/* While armed, target regions this thread starts go to `stream` when they can (above). */
void omq_cuda_direct_arm(void *stream, int device);
void omq_cuda_direct_disarm(void);
/* Waits for the stream's launches: 0, or nonzero if the stream failed. */
int omq_cuda_direct_wait(void *stream);
/* A copy by the driver, complete on return, on a device whose image is loaded (CUDA device
 * memory is what omp_target_alloc returns there): 0 done, 1 failed, -1 not available (then
 * the runtime copies).
 * kind: 0 host to device, 1 device to host, 2 device to device. */
int omq_cuda_copy(int device, void *dst, const void *src, size_t bytes, int kind);
/* 1 if the stream has nothing running */
int omq_cuda_direct_idle(void *stream);

#endif /* OMQ_CUDA_H */
