/* Framework internals shared by src/ files. */
#ifndef OMQ_INTERNAL_H
#define OMQ_INTERNAL_H

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
} omq_type_traits;

/* The row for `type`, or NULL if it is not a valid omq_type. */
const omq_type_traits *omq_traits(int type);

struct omq_context {
    int device;     /* what omq_context_device() reports */
    omq_exec exec;  /* how kernels run */
    char queue;     /* address used as the dependence object of exec.queue */
    int *fault;     /* deferred-error word in exec.device memory (== &host_fault on host) */
    int host_fault;
    int fault_pending; /* a kernel that can latch a fault was queued since the last check */
    char description[96];
    char last_error[256];
    void *workspace; /* scratch of the matrix products in the context's memory (omq_workspace) */
    size_t workspace_bytes;
};

/* Records a detailed message for omq_context_last_error and returns `status`. */
omq_status omq_fail(omq_context *ctx, omq_status status, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;

/* Clears the last error (start of a call that may fail). */
void omq_clear_error(omq_context *ctx);

/* Waits for the context's queued work (no fault check). */
void omq_wait(omq_context *ctx);

/* Checks the common matrix arguments: sizes, block multiple, overflow. On success
 * *elements and *bytes (of `type` storage) are set. */
omq_status omq_check_matrix(omq_context *ctx, const omq_type_traits *t, int64_t rows,
                            int64_t cols, int64_t *elements, size_t *bytes);

/* Checks that p is non-NULL and aligned to `align`; `what` names it in the message. */
omq_status omq_check_ptr(omq_context *ctx, const void *p, size_t align, const char *what);

/* Sets *ws to the context's workspace of at least `bytes`, growing it if needed (after the
 * queued work that may still use the old one has finished). */
omq_status omq_workspace(omq_context *ctx, size_t bytes, void **ws);
/* Frees the workspace (called by omq_context_free). */
void omq_workspace_release(omq_context *ctx);

#endif /* OMQ_INTERNAL_H */
