/* Framework internals shared by src/ files. */
#ifndef OMQ_INTERNAL_H
#define OMQ_INTERNAL_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "../offload/kernels.h"
#include "omq.h"

/* One row per type; everything type-specific the framework needs comes from here. */
typedef struct omq_type_traits {
    omq_type type;
    const char *name;        /* ggml's spelling */
    int64_t block_size;      /* values per block */
    size_t block_bytes;      /* bytes per block */
    size_t align;            /* alignment a block array needs */
    int uses_imatrix;        /* the quantizer has an importance-weighted search */
    omq_quantize_fn quantize;
    omq_dequantize_fn dequantize;
    /* Y = X W^T with W of this type, per algorithm; NULL where not provided (mmvq and mmq
     * need a quantized W) */
    omq_matmul_fn dmmv, mmvq, mmq, gemm;
    omq_gemv_fn gemv; /* mmvq's n = 1 with float X in one kernel (targets); NULL if none */
} omq_type_traits;

/* The row for `type`, or NULL if it is not a valid omq_type. */
const omq_type_traits *omq_traits(int type);

/* A kernel submission: run(ex, args) executes the kernel's loop (host or target form as ex
 * says). args is a copy the queue owns until the kernel has been launched. */
typedef void (*omq_kernel_fn)(const omq_exec *ex, void *args);

typedef struct omq_alloc_record {
    void *ptr;
    size_t bytes;
    int pinned; /* host memory from omq_host_malloc */
} omq_alloc_record;

struct omq_backend;
struct omq_context {
    int device;       /* what omq_context_device() reports */
    int omp_device;   /* OpenMP device number of the target regions */
    omq_exec_kind exec_kind;
    int hip_device;   /* hip backend only */
    int units;        /* compute units of the GPU (0: unknown, or not a GPU) */
    const struct omq_backend *be;
    pthread_mutex_t lock; /* everything below: streams, allocation records, limits */
    struct omq_stream *default_stream, *current, *streams;
    omq_alloc_record *allocs;
    size_t nallocs, allocs_cap;
    size_t in_use, limit; /* bytes from omq_malloc / omq_host_malloc; 0: no limit */
    int inject[2];        /* testing hook: failures to inject (allocation, copy) */
    char description[128];
};

/* The largest argument block a kernel submission carries (copied into the queue). */
#define OMQ_MAX_KERNEL_ARGS 192

/* Queues run(ex, args) on the context's current stream (args: `bytes` copied, at most
 * OMQ_MAX_KERNEL_ARGS). may_fault: the kernel can latch a deferred error. */
omq_status omq_submit(omq_context *ctx, omq_kernel_fn run, const void *args, size_t bytes,
                      int may_fault);
/* The same for a kernel that needs `workspace` bytes of scratch in the stream's memory
 * (ex->workspace when it runs). Each stream owns one workspace, which grows on demand
 * (after the stream's queued work, which may use the old one, has finished) and counts
 * against the context's memory limit. */
omq_status omq_submit_with_workspace(omq_context *ctx, omq_kernel_fn run, const void *args,
                                     size_t bytes, int may_fault, size_t workspace);

/* Records a detailed message for omq_context_last_error (per thread and context) and
 * returns `status`. */
omq_status omq_fail(omq_context *ctx, omq_status status, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;

/* Clears the last error (start of a call that may fail). */
void omq_clear_error(omq_context *ctx);

/* Waits for the work of every stream of the context (no fault check). */
void omq_wait(omq_context *ctx);

/* Checks the common matrix arguments: sizes, block multiple, overflow. On success
 * *elements and *bytes (of `type` storage) are set. */
omq_status omq_check_matrix(omq_context *ctx, const omq_type_traits *t, int64_t rows,
                            int64_t cols, int64_t *elements, size_t *bytes);

/* Checks that p is non-NULL and aligned to `align`; `what` names it in the message. */
omq_status omq_check_ptr(omq_context *ctx, const void *p, size_t align, const char *what);


#endif /* OMQ_INTERNAL_H */
