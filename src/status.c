/* Status codes, version, build description, and the argument checks every entry uses. */
#include <stdarg.h>
#include <stdio.h>

#include "omq_internal.h"

#ifndef OMQ_OFFLOAD_ARCHS /* set by CMake for offload builds */
#define OMQ_OFFLOAD_ARCHS "none (CPU build)"
#endif

unsigned omq_version_number(void) { return OMQ_VERSION_NUMBER; }
const char *omq_version_string(void) { return OMQ_VERSION_STRING; }

const char *omq_build_info(void) {
#if defined(__clang__)
#define OMQ_COMPILER "clang " __clang_version__
#elif defined(__GNUC__)
#define OMQ_COMPILER "gcc " __VERSION__
#else
#define OMQ_COMPILER "unknown compiler"
#endif
#ifdef OMQ_WITH_HIP
#define OMQ_BACKENDS "host omp hip"
#else
#define OMQ_BACKENDS "host omp"
#endif
    return "omq " OMQ_VERSION_STRING ", " OMQ_COMPILER ", offload architectures: " OMQ_OFFLOAD_ARCHS
           ", backends: " OMQ_BACKENDS;
}

const char *omq_strerror(omq_status status) {
    switch (status) {
    case OMQ_OK: return "success";
    case OMQ_ERR_NULL: return "a required pointer is NULL";
    case OMQ_ERR_MISALIGNED: return "a pointer is not aligned for its element type";
    case OMQ_ERR_UNKNOWN_TYPE: return "unknown type";
    case OMQ_ERR_UNSUPPORTED: return "operation not supported for these arguments";
    case OMQ_ERR_SHAPE: return "shape error: a size is not a multiple of the block size, or shapes disagree";
    case OMQ_ERR_EMPTY: return "a size is zero";
    case OMQ_ERR_INVALID_ARG: return "invalid argument";
    case OMQ_ERR_OVERFLOW: return "size overflow: the element or byte count does not fit";
    case OMQ_ERR_NO_DEVICE: return "no such device, or it cannot run omq's kernels";
    case OMQ_ERR_ALLOC: return "memory allocation failed";
    case OMQ_ERR_DEVICE: return "the device runtime reported a failure";
    case OMQ_ERR_NONFINITE: return "input contains NaN or Inf";
    case OMQ_ERR_IO: return "file input/output failed";
    case OMQ_ERR_FORMAT: return "malformed data";
    case OMQ_ERR_NOT_READY: return "work is still queued or running";
    }
    return "unknown status code";
}

/* The last error is kept per thread (and per context), so that contexts used from several
 * threads at once report each thread's own failures; it is the library's only mutable
 * state outside contexts, and it is thread-local. */
static _Thread_local struct {
    const omq_context *ctx;
    char message[256];
} last_error;

omq_status omq_fail(omq_context *ctx, omq_status status, const char *fmt, ...) {
    if (ctx) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(last_error.message, sizeof last_error.message, fmt, ap);
        va_end(ap);
        last_error.ctx = ctx;
    }
    return status;
}

void omq_clear_error(omq_context *ctx) {
    if (ctx && last_error.ctx == ctx) last_error.message[0] = '\0';
}

const char *omq_context_last_error(const omq_context *ctx) {
    return ctx && last_error.ctx == ctx ? last_error.message : "";
}

omq_status omq_check_matrix(omq_context *ctx, const omq_type_traits *t, int64_t rows,
                            int64_t cols, int64_t *elements, size_t *bytes) {
    if (rows < 0 || cols < 0)
        return omq_fail(ctx, OMQ_ERR_INVALID_ARG, "negative size: rows %lld, cols %lld",
                        (long long)rows, (long long)cols);
    if (rows == 0 || cols == 0)
        return omq_fail(ctx, OMQ_ERR_EMPTY, "empty matrix: rows %lld, cols %lld", (long long)rows,
                        (long long)cols);
    if (cols % t->block_size)
        return omq_fail(ctx, OMQ_ERR_SHAPE, "cols %lld is not a multiple of %s's block size %lld",
                        (long long)cols, t->name, (long long)t->block_size);
    /* the largest array involved is the float32 side or the block side */
    const uint64_t limit = (uint64_t)(PTRDIFF_MAX < SIZE_MAX ? PTRDIFF_MAX : SIZE_MAX);
    if ((uint64_t)rows > limit / sizeof(float) / (uint64_t)cols)
        return omq_fail(ctx, OMQ_ERR_OVERFLOW, "%lld x %lld values do not fit in memory sizes",
                        (long long)rows, (long long)cols);
    const uint64_t blocks = (uint64_t)rows * (uint64_t)(cols / t->block_size);
    if (blocks > limit / t->block_bytes)
        return omq_fail(ctx, OMQ_ERR_OVERFLOW, "%lld x %lld %s values do not fit in memory sizes",
                        (long long)rows, (long long)cols, t->name);
    *elements = rows * cols;
    *bytes = (size_t)(blocks * t->block_bytes);
    return OMQ_OK;
}

omq_status omq_check_ptr(omq_context *ctx, const void *p, size_t align, const char *what) {
    if (!p) return omq_fail(ctx, OMQ_ERR_NULL, "%s is NULL", what);
    if ((uintptr_t)p % align)
        return omq_fail(ctx, OMQ_ERR_MISALIGNED, "%s (%p) is not aligned to %zu bytes", what, p,
                        align);
    return OMQ_OK;
}
