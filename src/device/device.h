/* The device layer: one small backend interface, three backends.
 *   host: kernels on host threads; memory is host memory.
 *   omp:  kernels as OpenMP target regions on any offload device (NVIDIA included), memory
 *         from omp_target_alloc; each stream is a FIFO served by one executor thread at a
 *         time, so callers return at once and the stream's work runs in order. On NVIDIA
 *         GPUs omq's regions are launched directly on a CUstream of the stream (cuda.h).
 *   hip:  ROCm: memory, copies and streams are HIP's (loaded with dlopen, so libomq never
 *         needs ROCm to load); kernels are OpenMP target regions on HIP memory (is_device_ptr)
 *         run in stream order: the HIP stream is synchronized, then the region runs.
 * OpenMP device N is GPU N for every backend; with HIP, HIP device N must be that GPU (true
 * when only AMD GPUs are present: LLVM's AMD plugin enumerates agents in HSA order, as HIP). */
#ifndef OMQ_DEVICE_H
#define OMQ_DEVICE_H

#include <pthread.h>
#include <stddef.h>

#include "../omq_internal.h"

typedef struct omq_backend omq_backend;

struct omq_stream {
    omq_context *ctx;
    pthread_mutex_t lock;   /* submissions from several threads are serialized here */
    int *fault;             /* deferred-error word, where the device's kernels can write it */
    int fault_mapped;       /* it is in host_alloc memory the host reads directly (host_maps) */
    int fault_pending;      /* a kernel that can latch it ran since the last check */
    void *workspace;        /* scratch of its kernels (omq_submit_with_workspace) */
    size_t workspace_bytes;
    void *impl;             /* backend state */
    struct omq_stream *next; /* the context's list of streams */
};

struct omq_backend {
    const char *name;
    /* memory; NULL / nonzero on failure */
    void *(*alloc)(omq_context *ctx, size_t bytes);
    void (*free)(omq_context *ctx, void *p);
    void *(*host_alloc)(omq_context *ctx, size_t bytes);
    void (*host_free)(omq_context *ctx, void *p);
    int (*copy)(omq_context *ctx, void *dst, const void *src, size_t bytes, omq_copy_kind kind);
    /* streams; `external` is a native stream to adopt (NULL: make one) */
    omq_status (*stream_open)(omq_stream *s, void *external, int external_kind);
    void (*stream_close)(omq_stream *s); /* after stream_wait */
    omq_status (*launch)(omq_stream *s, omq_kernel_fn run, const void *args, size_t bytes);
    omq_status (*copy_async)(omq_stream *s, void *dst, const void *src, size_t bytes, omq_copy_kind kind);
    omq_status (*stream_wait)(omq_stream *s); /* everything submitted has finished */
    int (*stream_idle)(omq_stream *s);
    /* compute units (SMs, CUs) of the context's device; 0 if unknown */
    int (*compute_units)(omq_context *ctx);
    /* nonzero if the context's kernels can write host_alloc memory at its host address, and
     * their writes are visible to the host once stream_wait returns; NULL: never */
    int (*host_maps)(omq_context *ctx);
};

extern const omq_backend omq_backend_host;
extern const omq_backend omq_backend_omp;
#ifdef OMQ_WITH_HIP
extern const omq_backend omq_backend_hip;
/* HIP devices usable (0 if the runtime is missing or has none); *why describes the outcome. */
int omq_hip_device_count(const char **why);
#endif

/* kinds of external stream for stream_open */
enum { OMQ_EXTERNAL_NONE = 0, OMQ_EXTERNAL_HIP = 1, OMQ_EXTERNAL_CUDA = 2 };

/* The exec a kernel of this stream runs with. */
omq_exec omq_stream_exec(const omq_stream *s);

/* Injected failures (testing hook): returns 1 if this allocation / copy must fail. */
int omq_take_injected_failure(omq_context *ctx, int what);

#endif /* OMQ_DEVICE_H */
