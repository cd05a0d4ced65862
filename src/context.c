/* Contexts: where work runs (a device and its backend), the streams that order it, and the
 * memory allocated through it. Every field of a context is guarded by its lock, every
 * stream's submissions by the stream's lock; the library keeps no other shared state (the
 * HIP and CUDA loaders initialise once under pthread_once). */
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cpu/cpu.h"
#include "device/device.h"

#ifndef OMQ_OFFLOAD
/* CPU builds never call the offload runtime: LLVM keeps it uninitialised when no device
 * image was registered. */
#define omp_get_num_devices() 0
#endif

int omq_device_count(void) { return omp_get_num_devices(); }

const char *omq_device_report(void) {
    static _Thread_local char report[512];
    int n = snprintf(report, sizeof report, "host: %d threads\nomp: %d GPU%s (OpenMP offload devices)",
                     omp_get_max_threads(), omq_device_count(), omq_device_count() == 1 ? "" : "s");
#ifdef OMQ_WITH_HIP
    const char *why;
    omq_hip_device_count(&why);
    snprintf(report + n, sizeof report - (size_t)n, "\nhip: %s", why);
#else
    snprintf(report + n, sizeof report - (size_t)n, "\nhip: not built");
#endif
    return report;
}

omq_exec omq_stream_exec(const omq_stream *s) {
    const omq_exec ex = {s->ctx->exec_kind, s->ctx->omp_device, s->fault, s->workspace, s->ctx->units};
    return ex;
}

int omq_take_injected_failure(omq_context *ctx, int what) {
    pthread_mutex_lock(&ctx->lock);
    const int fail = ctx->inject[what] > 0;
    if (fail) ctx->inject[what]--;
    pthread_mutex_unlock(&ctx->lock);
    return fail;
}

/* ---------------------------------------------------------------- streams */

static void free_fault_word(omq_stream *s) {
    if (!s->fault) return;
    if (s->fault_mapped) s->ctx->be->host_free(s->ctx, s->fault);
    else s->ctx->be->free(s->ctx, s->fault);
}

static omq_status open_stream(omq_context *ctx, void *external, int kind, omq_stream **out) {
    *out = NULL;
    omq_stream *s = calloc(1, sizeof *s);
    if (!s) return OMQ_ERR_ALLOC;
    s->ctx = ctx;
    pthread_mutex_init(&s->lock, NULL);
    /* the deferred-error word lives where kernels can write it: in host memory the device
     * writes through where it can (a synchronize then reads it with no copy, which cost
     * ~10 us on an H100), else in the device's memory */
    const int zero = 0;
    s->fault_mapped = ctx->be->host_maps && ctx->be->host_maps(ctx);
    s->fault = s->fault_mapped ? ctx->be->host_alloc(ctx, sizeof(int)) : ctx->be->alloc(ctx, sizeof(int));
    if (s->fault && s->fault_mapped) *(volatile int *)s->fault = 0;
    if (!s->fault || (!s->fault_mapped && ctx->be->copy(ctx, s->fault, &zero, sizeof zero, OMQ_COPY_HOST_TO_DEVICE))) {
        free_fault_word(s);
        pthread_mutex_destroy(&s->lock);
        free(s);
        return OMQ_ERR_ALLOC;
    }
    omq_status st = ctx->be->stream_open(s, external, kind);
    if (st) {
        free_fault_word(s);
        pthread_mutex_destroy(&s->lock);
        free(s);
        return st;
    }
    pthread_mutex_lock(&ctx->lock);
    s->next = ctx->streams;
    ctx->streams = s;
    pthread_mutex_unlock(&ctx->lock);
    *out = s;
    return OMQ_OK;
}

/* waits for the stream; then returns its deferred error (and clears it) */
static omq_status sync_stream(omq_stream *s) {
    omq_context *ctx = s->ctx;
    pthread_mutex_lock(&s->lock);
    omq_status st = ctx->be->stream_wait(s);
    if (st) omq_fail(ctx, st, "a queued copy failed on %s", ctx->description);
    if (!st && s->fault_pending) {
        s->fault_pending = 0;
        int fault = 0;
        const int zero = 0;
        if (s->fault_mapped) { /* the stream's kernels have finished: their writes are here */
            fault = __atomic_load_n(s->fault, __ATOMIC_ACQUIRE);
            if (fault) __atomic_store_n(s->fault, 0, __ATOMIC_RELEASE);
        }
        /* a clean word (the rule) stays as it is: one copy, not two, per synchronize */
        if (!s->fault_mapped &&
            (ctx->be->copy(ctx, &fault, s->fault, sizeof fault, OMQ_COPY_DEVICE_TO_HOST) ||
             (fault && ctx->be->copy(ctx, s->fault, &zero, sizeof zero, OMQ_COPY_HOST_TO_DEVICE))))
            st = omq_fail(ctx, OMQ_ERR_DEVICE, "reading the device's error word failed");
        else if (fault)
            st = omq_fail(ctx, (omq_status)fault, "queued work reported: %s", omq_strerror((omq_status)fault));
    }
    pthread_mutex_unlock(&s->lock);
    return st;
}

static void close_stream(omq_stream *s) {
    omq_context *ctx = s->ctx;
    sync_stream(s);
    ctx->be->stream_close(s);
    if (s->workspace) {
        ctx->be->free(ctx, s->workspace);
        pthread_mutex_lock(&ctx->lock);
        ctx->in_use -= s->workspace_bytes;
        pthread_mutex_unlock(&ctx->lock);
    }
    free_fault_word(s);
    pthread_mutex_destroy(&s->lock);
    free(s);
}

static omq_status wrap_stream(omq_context *ctx, void *native, int kind, omq_stream **stream) {
    if (!ctx || !stream) return OMQ_ERR_NULL;
    omq_clear_error(ctx);
    if (kind != 0 && !native) return omq_fail(ctx, OMQ_ERR_NULL, "the native stream is NULL");
    omq_status st = open_stream(ctx, native, kind, stream);
    if (st == OMQ_ERR_UNSUPPORTED)
        return omq_fail(ctx, st, "%s streams cannot be adopted by the %s backend (%s)",
                        kind == OMQ_EXTERNAL_HIP ? "HIP" : "CUDA", ctx->be->name, ctx->description);
    if (st) return omq_fail(ctx, st, "creating a stream on %s failed", ctx->description);
    return OMQ_OK;
}

omq_status omq_stream_create(omq_context *ctx, omq_stream **stream) {
    return wrap_stream(ctx, NULL, OMQ_EXTERNAL_NONE, stream);
}

omq_status omq_stream_wrap_hip(omq_context *ctx, void *hip_stream, omq_stream **stream) {
    return wrap_stream(ctx, hip_stream, OMQ_EXTERNAL_HIP, stream);
}

omq_status omq_stream_wrap_cuda(omq_context *ctx, void *cuda_stream, omq_stream **stream) {
    return wrap_stream(ctx, cuda_stream, OMQ_EXTERNAL_CUDA, stream);
}

omq_status omq_stream_destroy(omq_stream *s) {
    if (!s) return OMQ_OK;
    omq_context *ctx = s->ctx;
    pthread_mutex_lock(&ctx->lock);
    if (s == ctx->default_stream) {
        pthread_mutex_unlock(&ctx->lock);
        return omq_fail(ctx, OMQ_ERR_INVALID_ARG, "the default stream belongs to the context");
    }
    for (omq_stream **p = &ctx->streams; *p; p = &(*p)->next) {
        if (*p == s) {
            *p = s->next;
            break;
        }
    }
    if (ctx->current == s) ctx->current = ctx->default_stream;
    pthread_mutex_unlock(&ctx->lock);
    close_stream(s);
    return OMQ_OK;
}

omq_status omq_stream_synchronize(omq_stream *s) {
    if (!s) return OMQ_ERR_NULL;
    omq_clear_error(s->ctx);
    return sync_stream(s);
}

omq_status omq_stream_query(omq_stream *s) {
    if (!s) return OMQ_ERR_NULL;
    return s->ctx->be->stream_idle(s) ? OMQ_OK : OMQ_ERR_NOT_READY;
}

omq_status omq_context_set_stream(omq_context *ctx, omq_stream *stream) {
    if (!ctx) return OMQ_ERR_NULL;
    if (stream && stream->ctx != ctx)
        return omq_fail(ctx, OMQ_ERR_INVALID_ARG, "the stream belongs to another context");
    pthread_mutex_lock(&ctx->lock);
    ctx->current = stream ? stream : ctx->default_stream;
    pthread_mutex_unlock(&ctx->lock);
    return OMQ_OK;
}

omq_stream *omq_context_get_stream(omq_context *ctx) {
    if (!ctx) return NULL;
    pthread_mutex_lock(&ctx->lock);
    omq_stream *s = ctx->current;
    pthread_mutex_unlock(&ctx->lock);
    return s;
}

static omq_stream *current_stream(omq_context *ctx) { return omq_context_get_stream(ctx); }

/* Makes s's workspace at least `bytes` (s->lock held). The old one is freed only once the
 * stream's queued work is done; the new one grows by half at least, so slowly growing calls
 * wait for the stream a logarithmic number of times. */
static omq_status grow_workspace(omq_stream *s, size_t bytes) {
    omq_context *ctx = s->ctx;
    if (bytes <= s->workspace_bytes) return OMQ_OK;
    if (s->workspace) {
        const omq_status st = ctx->be->stream_wait(s);
        if (st) return omq_fail(ctx, st, "a queued copy failed on %s", ctx->description);
        ctx->be->free(ctx, s->workspace);
        pthread_mutex_lock(&ctx->lock);
        ctx->in_use -= s->workspace_bytes;
        pthread_mutex_unlock(&ctx->lock);
        s->workspace = NULL;
    }
    const size_t grown = s->workspace_bytes + s->workspace_bytes / 2;
    s->workspace_bytes = 0;
    if (omq_take_injected_failure(ctx, OMQ_INJECT_ALLOC))
        return omq_fail(ctx, OMQ_ERR_ALLOC, "the workspace of %zu bytes: injected failure", bytes);
    for (size_t want = grown > bytes ? grown : bytes;; want = bytes) {
        pthread_mutex_lock(&ctx->lock);
        const int over = ctx->limit && (want > ctx->limit || ctx->in_use > ctx->limit - want);
        if (!over) ctx->in_use += want;
        pthread_mutex_unlock(&ctx->lock);
        void *p = over ? NULL : ctx->be->alloc(ctx, want);
        if (p) {
            s->workspace = p;
            s->workspace_bytes = want;
            return OMQ_OK;
        }
        if (!over) {
            pthread_mutex_lock(&ctx->lock);
            ctx->in_use -= want;
            pthread_mutex_unlock(&ctx->lock);
        }
        if (want == bytes)
            return omq_fail(ctx, OMQ_ERR_ALLOC, "the workspace of %zu bytes cannot be allocated on %s%s",
                            bytes, ctx->description, over ? " within the context's memory limit" : "");
    }
}

omq_status omq_submit(omq_context *ctx, omq_kernel_fn run, const void *args, size_t bytes, int may_fault) {
    return omq_submit_with_workspace(ctx, run, args, bytes, may_fault, 0);
}

omq_status omq_submit_with_workspace(omq_context *ctx, omq_kernel_fn run, const void *args, size_t bytes,
                                     int may_fault, size_t workspace) {
    if (bytes > OMQ_MAX_KERNEL_ARGS) /* a programming error inside omq, caught by every test */
        return omq_fail(ctx, OMQ_ERR_INVALID_ARG, "internal: kernel arguments of %zu bytes", bytes);
    omq_stream *s = current_stream(ctx);
    pthread_mutex_lock(&s->lock);
    omq_status st = grow_workspace(s, workspace);
    if (st) {
        pthread_mutex_unlock(&s->lock);
        return st;
    }
    st = ctx->be->launch(s, run, args, bytes);
    if (!st && may_fault) s->fault_pending = 1;
    pthread_mutex_unlock(&s->lock);
    if (st) return omq_fail(ctx, st, "queuing work on %s failed", ctx->description);
    return OMQ_OK;
}

/* ---------------------------------------------------------------- contexts */

/* GPU N runs on the hip backend when HIP sees at least N+1 devices (and OMQ_BACKEND=omp
 * does not say otherwise), else on the omp backend. */
static const omq_backend *gpu_backend(int device) {
#ifdef OMQ_WITH_HIP
    const char *force = getenv("OMQ_BACKEND");
    if (!(force && !strcmp(force, "omp")) && device < omq_hip_device_count(NULL)) return &omq_backend_hip;
#else
    (void)device;
#endif
    return &omq_backend_omp;
}

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
    pthread_mutex_init(&ctx->lock, NULL);
    ctx->device = device;
    const int threads = omp_get_max_threads();
    if (device == OMQ_DEVICE_HOST) {
        ctx->be = &omq_backend_host;
        ctx->exec_kind = OMQ_EXEC_HOST;
        ctx->omp_device = omp_get_initial_device();
        snprintf(ctx->description, sizeof ctx->description, "host (%d threads, %s kernels)", threads,
                 omq_cpu_isa());
    } else if (device == OMQ_DEVICE_FALLBACK) {
        ctx->be = &omq_backend_omp;
        ctx->exec_kind = OMQ_EXEC_TARGET;
        ctx->omp_device = omp_get_initial_device();
        snprintf(ctx->description, sizeof ctx->description,
                 "GPU kernels on OpenMP's host fallback (%d threads)", threads);
    } else {
        ctx->be = gpu_backend(device);
        ctx->exec_kind = OMQ_EXEC_TARGET;
        ctx->omp_device = device;
        ctx->hip_device = device;
        snprintf(ctx->description, sizeof ctx->description, "GPU %d (%s backend, OpenMP device %d of %d)",
                 device, ctx->be->name, device, ngpu);
    }
    ctx->units = ctx->be->compute_units ? ctx->be->compute_units(ctx) : 0;
    omq_status st = open_stream(ctx, NULL, OMQ_EXTERNAL_NONE, &ctx->default_stream);
    if (st) {
        pthread_mutex_destroy(&ctx->lock);
        free(ctx);
        return st == OMQ_ERR_UNSUPPORTED ? OMQ_ERR_DEVICE : st;
    }
    ctx->current = ctx->default_stream;
    omq_clear_error(ctx);
    *out = ctx;
    return OMQ_OK;
}

/* Both walk the stream list under the context's lock (so no stream is destroyed meanwhile);
 * the lock order is always context, then stream, and workers take neither. */
void omq_wait(omq_context *ctx) {
    pthread_mutex_lock(&ctx->lock);
    for (omq_stream *s = ctx->streams; s; s = s->next) {
        pthread_mutex_lock(&s->lock);
        ctx->be->stream_wait(s);
        pthread_mutex_unlock(&s->lock);
    }
    pthread_mutex_unlock(&ctx->lock);
}

omq_status omq_synchronize(omq_context *ctx) {
    if (!ctx) return OMQ_ERR_NULL;
    omq_clear_error(ctx);
    omq_status first = OMQ_OK;
    pthread_mutex_lock(&ctx->lock);
    for (omq_stream *s = ctx->streams; s; s = s->next) {
        const omq_status st = sync_stream(s);
        if (!first) first = st;
    }
    pthread_mutex_unlock(&ctx->lock);
    return first;
}

void omq_context_free(omq_context *ctx) {
    if (!ctx) return;
    while (ctx->streams) {
        omq_stream *s = ctx->streams;
        ctx->streams = s->next;
        close_stream(s);
    }
    for (size_t i = 0; i < ctx->nallocs; ++i) {
        if (ctx->allocs[i].pinned) ctx->be->host_free(ctx, ctx->allocs[i].ptr);
        else ctx->be->free(ctx, ctx->allocs[i].ptr);
    }
    free(ctx->allocs);
    omq_clear_error(ctx);
    pthread_mutex_destroy(&ctx->lock);
    free(ctx);
}

int omq_context_device(const omq_context *ctx) { return ctx ? ctx->device : OMQ_DEVICE_HOST; }

const char *omq_context_describe(const omq_context *ctx) { return ctx ? ctx->description : "no context"; }

const char *omq_context_backend(const omq_context *ctx) { return ctx ? ctx->be->name : "none"; }

/* ---------------------------------------------------------------- memory */

static omq_status allocate(omq_context *ctx, size_t bytes, int pinned, void **ptr) {
    if (!ctx || !ptr) return OMQ_ERR_NULL;
    omq_clear_error(ctx);
    *ptr = NULL;
    const char *what = pinned ? "omq_host_malloc" : "omq_malloc";
    if (bytes == 0) return omq_fail(ctx, OMQ_ERR_EMPTY, "%s of 0 bytes", what);
    if (omq_take_injected_failure(ctx, OMQ_INJECT_ALLOC))
        return omq_fail(ctx, OMQ_ERR_ALLOC, "%s: injected failure", what);
    pthread_mutex_lock(&ctx->lock);
    const int over = ctx->limit && (bytes > ctx->limit || ctx->in_use > ctx->limit - bytes);
    if (!over) ctx->in_use += bytes; /* reserved: concurrent allocations see it */
    const size_t in_use = ctx->in_use, limit = ctx->limit;
    pthread_mutex_unlock(&ctx->lock);
    if (over)
        return omq_fail(ctx, OMQ_ERR_ALLOC, "%s of %zu bytes exceeds the context's limit (%zu of %zu in use)",
                        what, bytes, in_use, limit);
    void *p = pinned ? ctx->be->host_alloc(ctx, bytes) : ctx->be->alloc(ctx, bytes);
    int recorded = 0;
    pthread_mutex_lock(&ctx->lock);
    if (p && ctx->nallocs == ctx->allocs_cap) {
        const size_t cap = ctx->allocs_cap ? 2 * ctx->allocs_cap : 16;
        omq_alloc_record *a = realloc(ctx->allocs, cap * sizeof *a);
        if (a) {
            ctx->allocs = a;
            ctx->allocs_cap = cap;
        }
    }
    if (p && ctx->nallocs < ctx->allocs_cap) {
        ctx->allocs[ctx->nallocs++] = (omq_alloc_record){p, bytes, pinned};
        recorded = 1;
    } else {
        ctx->in_use -= bytes;
    }
    pthread_mutex_unlock(&ctx->lock);
    if (p && !recorded) { /* no host memory left for the record */
        if (pinned) ctx->be->host_free(ctx, p);
        else ctx->be->free(ctx, p);
        return omq_fail(ctx, OMQ_ERR_ALLOC, "%s: out of host memory", what);
    }
    if (!p) return omq_fail(ctx, OMQ_ERR_ALLOC, "%s of %zu bytes on %s failed", what, bytes, ctx->description);
    *ptr = p;
    return OMQ_OK;
}

static omq_status release(omq_context *ctx, void *ptr, int pinned) {
    if (!ctx) return OMQ_ERR_NULL;
    omq_clear_error(ctx);
    if (!ptr) return OMQ_OK;
    pthread_mutex_lock(&ctx->lock);
    size_t i = 0;
    while (i < ctx->nallocs && !(ctx->allocs[i].ptr == ptr && ctx->allocs[i].pinned == pinned)) ++i;
    const int found = i < ctx->nallocs;
    if (found) {
        ctx->in_use -= ctx->allocs[i].bytes;
        ctx->allocs[i] = ctx->allocs[--ctx->nallocs];
    }
    pthread_mutex_unlock(&ctx->lock);
    if (!found)
        return omq_fail(ctx, OMQ_ERR_INVALID_ARG, "%p was not allocated by %s on this context", ptr,
                        pinned ? "omq_host_malloc" : "omq_malloc");
    omq_wait(ctx); /* queued work may still use it */
    if (pinned) ctx->be->host_free(ctx, ptr);
    else ctx->be->free(ctx, ptr);
    return OMQ_OK;
}

omq_status omq_malloc(omq_context *ctx, size_t bytes, void **ptr) { return allocate(ctx, bytes, 0, ptr); }
omq_status omq_free(omq_context *ctx, void *ptr) { return release(ctx, ptr, 0); }
omq_status omq_host_malloc(omq_context *ctx, size_t bytes, void **ptr) { return allocate(ctx, bytes, 1, ptr); }
omq_status omq_host_free(omq_context *ctx, void *ptr) { return release(ctx, ptr, 1); }

omq_status omq_context_set_memory_limit(omq_context *ctx, size_t bytes) {
    if (!ctx) return OMQ_ERR_NULL;
    pthread_mutex_lock(&ctx->lock);
    ctx->limit = bytes;
    pthread_mutex_unlock(&ctx->lock);
    return OMQ_OK;
}

size_t omq_context_memory_in_use(const omq_context *ctx) {
    if (!ctx) return 0;
    pthread_mutex_lock((pthread_mutex_t *)&ctx->lock);
    const size_t n = ctx->in_use;
    pthread_mutex_unlock((pthread_mutex_t *)&ctx->lock);
    return n;
}

omq_status omq_debug_inject_failures(omq_context *ctx, omq_injected_failure what, int count) {
    if (!ctx) return OMQ_ERR_NULL;
    if ((what != OMQ_INJECT_ALLOC && what != OMQ_INJECT_COPY) || count < 0) return OMQ_ERR_INVALID_ARG;
    pthread_mutex_lock(&ctx->lock);
    ctx->inject[what] = count;
    pthread_mutex_unlock(&ctx->lock);
    return OMQ_OK;
}

static omq_status check_copy(omq_context *ctx, void *dst, const void *src, omq_copy_kind kind, const char *what) {
    if (!ctx) return OMQ_ERR_NULL;
    omq_clear_error(ctx);
    if (!dst || !src) return omq_fail(ctx, OMQ_ERR_NULL, "%s: %s is NULL", what, dst ? "src" : "dst");
    if (kind != OMQ_COPY_HOST_TO_DEVICE && kind != OMQ_COPY_DEVICE_TO_HOST && kind != OMQ_COPY_DEVICE_TO_DEVICE)
        return omq_fail(ctx, OMQ_ERR_INVALID_ARG, "%s: unknown copy kind %d", what, (int)kind);
    if (omq_take_injected_failure(ctx, OMQ_INJECT_COPY))
        return omq_fail(ctx, OMQ_ERR_DEVICE, "%s: injected failure", what);
    return OMQ_OK;
}

omq_status omq_memcpy(omq_context *ctx, void *dst, const void *src, size_t bytes, omq_copy_kind kind) {
    omq_status st = check_copy(ctx, dst, src, kind, "omq_memcpy");
    if (st || bytes == 0) return st;
    omq_wait(ctx);
    if (ctx->be->copy(ctx, dst, src, bytes, kind))
        return omq_fail(ctx, OMQ_ERR_DEVICE, "copy of %zu bytes on %s failed", bytes, ctx->description);
    return OMQ_OK;
}

omq_status omq_memcpy_async(omq_context *ctx, void *dst, const void *src, size_t bytes, omq_copy_kind kind) {
    omq_status st = check_copy(ctx, dst, src, kind, "omq_memcpy_async");
    if (st || bytes == 0) return st;
    omq_stream *s = current_stream(ctx);
    pthread_mutex_lock(&s->lock);
    st = ctx->be->copy_async(s, dst, src, bytes, kind);
    pthread_mutex_unlock(&s->lock);
    if (st) return omq_fail(ctx, st, "queuing a copy of %zu bytes on %s failed", bytes, ctx->description);
    return OMQ_OK;
}
