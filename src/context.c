/* Contexts: where work runs, the queue that orders it, device memory and copies. */
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "omq_internal.h"

/* CPU builds never touch the offload runtime: with LLVM it is a separate library that is
 * only initialised when a binary registers device images. */
#ifdef OMQ_OFFLOAD
int omq_device_count(void) { return omp_get_num_devices(); }
#else
int omq_device_count(void) { return 0; }
/* never called: no context of a CPU build is on a GPU */
static void *no_target_alloc(size_t n, int dev) { (void)n, (void)dev; return NULL; }
static void no_target_free(void *p, int dev) { (void)p, (void)dev; }
static int no_target_memcpy(void *d, const void *s, size_t n, size_t doff, size_t soff, int ddev,
                            int sdev) {
    (void)d, (void)s, (void)n, (void)doff, (void)soff, (void)ddev, (void)sdev;
    return 1;
}
#define omp_target_alloc no_target_alloc
#define omp_target_free no_target_free
#define omp_target_memcpy no_target_memcpy
#endif

static int is_gpu(const omq_context *ctx) { return ctx->device >= 0; }

omq_status omq_context_create(omq_context **out, int device) {
    if (!out) return OMQ_ERR_NULL;
    *out = NULL;
    if (device < OMQ_DEVICE_FALLBACK) return OMQ_ERR_INVALID_ARG;
    const int ngpu = omq_device_count();
    if (device == OMQ_DEVICE_AUTO) {
        device = OMQ_DEVICE_HOST;
        for (int d = 0; d < ngpu; ++d) {
            if (omq_probe_device(d)) {
                device = d;
                break;
            }
        }
    } else if (device >= 0 && (device >= ngpu || !omq_probe_device(device))) {
        return OMQ_ERR_NO_DEVICE;
    }

    omq_context *ctx = calloc(1, sizeof *ctx);
    if (!ctx) return OMQ_ERR_ALLOC;
    ctx->device = device;
    ctx->exec.queue = &ctx->queue;
    ctx->fault = &ctx->host_fault;
    if (device == OMQ_DEVICE_HOST) {
        ctx->exec.kind = OMQ_EXEC_HOST;
        ctx->exec.device = omp_get_initial_device();
        snprintf(ctx->description, sizeof ctx->description, "host (%d threads)",
                 omp_get_max_threads());
    } else if (device == OMQ_DEVICE_FALLBACK) {
        ctx->exec.kind = OMQ_EXEC_TARGET;
        ctx->exec.device = omp_get_initial_device();
        snprintf(ctx->description, sizeof ctx->description,
                 "GPU kernels on OpenMP's host fallback (%d threads)", omp_get_max_threads());
    } else {
        ctx->exec.kind = OMQ_EXEC_TARGET;
        ctx->exec.device = device;
        ctx->fault = omp_target_alloc(sizeof(int), device);
        const int zero = 0;
        if (!ctx->fault || omp_target_memcpy(ctx->fault, &zero, sizeof zero, 0, 0, device,
                                             omp_get_initial_device())) {
            if (ctx->fault) omp_target_free(ctx->fault, device);
            free(ctx);
            return OMQ_ERR_ALLOC;
        }
        snprintf(ctx->description, sizeof ctx->description, "GPU %d (OpenMP device %d of %d)",
                 device, device, ngpu);
    }
    ctx->exec.fault = ctx->fault;
    *out = ctx;
    return OMQ_OK;
}

void omq_wait(omq_context *ctx) {
    if (ctx->exec.kind == OMQ_EXEC_TARGET) {
#pragma omp taskwait
    }
}

void omq_context_free(omq_context *ctx) {
    if (!ctx) return;
    omq_wait(ctx);
    omq_workspace_release(ctx);
    if (is_gpu(ctx)) omp_target_free(ctx->fault, ctx->exec.device);
    free(ctx);
}

int omq_context_device(const omq_context *ctx) { return ctx ? ctx->device : OMQ_DEVICE_HOST; }

const char *omq_context_describe(const omq_context *ctx) {
    return ctx ? ctx->description : "no context";
}

const char *omq_context_last_error(const omq_context *ctx) { return ctx ? ctx->last_error : ""; }

omq_status omq_synchronize(omq_context *ctx) {
    if (!ctx) return OMQ_ERR_NULL;
    omq_wait(ctx);
    if (!ctx->fault_pending) return OMQ_OK;
    ctx->fault_pending = 0;
    int fault = 0;
    if (is_gpu(ctx)) {
        const int zero = 0, host = omp_get_initial_device();
        if (omp_target_memcpy(&fault, ctx->fault, sizeof fault, 0, 0, host, ctx->exec.device) ||
            omp_target_memcpy(ctx->fault, &zero, sizeof zero, 0, 0, ctx->exec.device, host))
            return omq_fail(ctx, OMQ_ERR_DEVICE, "reading the device's error word failed");
    } else {
        fault = ctx->host_fault;
        ctx->host_fault = 0;
    }
    if (fault)
        return omq_fail(ctx, (omq_status)fault, "a queued operation reported: %s",
                        omq_strerror((omq_status)fault));
    return OMQ_OK;
}

omq_status omq_malloc(omq_context *ctx, size_t bytes, void **ptr) {
    if (!ctx || !ptr) return OMQ_ERR_NULL;
    omq_clear_error(ctx);
    *ptr = NULL;
    if (bytes == 0) return omq_fail(ctx, OMQ_ERR_EMPTY, "omq_malloc of 0 bytes");
    if (is_gpu(ctx)) {
        *ptr = omp_target_alloc(bytes, ctx->exec.device);
    } else if (bytes <= SIZE_MAX - 255) {
        *ptr = aligned_alloc(256, (bytes + 255) & ~(size_t)255);
    }
    if (!*ptr)
        return omq_fail(ctx, OMQ_ERR_ALLOC, "allocating %zu bytes on %s failed", bytes,
                        ctx->description);
    return OMQ_OK;
}

omq_status omq_free(omq_context *ctx, void *ptr) {
    if (!ctx) return OMQ_ERR_NULL;
    if (!ptr) return OMQ_OK;
    omq_wait(ctx); /* queued kernels may still use it */
    if (is_gpu(ctx))
        omp_target_free(ptr, ctx->exec.device);
    else
        free(ptr);
    return OMQ_OK;
}

omq_status omq_memcpy(omq_context *ctx, void *dst, const void *src, size_t bytes,
                      omq_copy_kind kind) {
    if (!ctx) return OMQ_ERR_NULL;
    omq_clear_error(ctx);
    if (!dst || !src) return omq_fail(ctx, OMQ_ERR_NULL, "omq_memcpy: %s is NULL", dst ? "src" : "dst");
    if (kind != OMQ_COPY_HOST_TO_DEVICE && kind != OMQ_COPY_DEVICE_TO_HOST &&
        kind != OMQ_COPY_DEVICE_TO_DEVICE)
        return omq_fail(ctx, OMQ_ERR_INVALID_ARG, "omq_memcpy: unknown copy kind %d", (int)kind);
    if (bytes == 0) return OMQ_OK;
    omq_wait(ctx);
    if (!is_gpu(ctx)) {
        memmove(dst, src, bytes);
        return OMQ_OK;
    }
    const int host = omp_get_initial_device(), dev = ctx->exec.device;
    const int dst_dev = kind == OMQ_COPY_DEVICE_TO_HOST ? host : dev;
    const int src_dev = kind == OMQ_COPY_HOST_TO_DEVICE ? host : dev;
    if (omp_target_memcpy(dst, src, bytes, 0, 0, dst_dev, src_dev))
        return omq_fail(ctx, OMQ_ERR_DEVICE, "copy of %zu bytes on %s failed", bytes,
                        ctx->description);
    return OMQ_OK;
}
