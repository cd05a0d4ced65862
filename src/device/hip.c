/* hip backend (ROCm): HIP allocates, copies and orders; OpenMP target regions compute on
 * HIP memory through is_device_ptr (never the reverse: HIP APIs fail on omp_target_alloc
 * memory). LLVM 19's AMD plugin gives no hipStream_t through OpenMP interop, so a kernel is
 * ordered on a HIP stream by synchronizing the stream, running the region to completion,
 * and returning: earlier HIP work on the stream finishes first, later work starts after.
 *
 * libamdhip64 is loaded with dlopen on first use: a libomq built with this backend still
 * loads and runs where ROCm is absent (an NVIDIA machine, say), with no HIP devices. */
#include <dlfcn.h>
#include <omp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <hip/hip_runtime_api.h>

#include "device.h"

static struct {
    hipError_t (*GetDeviceCount)(int *);
    hipError_t (*SetDevice)(int);
    hipError_t (*Malloc)(void **, size_t);
    hipError_t (*Free)(void *);
    hipError_t (*HostMalloc)(void **, size_t, unsigned);
    hipError_t (*HostFree)(void *);
    hipError_t (*Memcpy)(void *, const void *, size_t, hipMemcpyKind);
    hipError_t (*MemcpyAsync)(void *, const void *, size_t, hipMemcpyKind, hipStream_t);
    hipError_t (*StreamCreate)(hipStream_t *);
    hipError_t (*StreamDestroy)(hipStream_t);
    hipError_t (*StreamSynchronize)(hipStream_t);
    hipError_t (*StreamQuery)(hipStream_t);
    const char *(*GetErrorName)(hipError_t);
    hipError_t (*DeviceGetAttribute)(int *, hipDeviceAttribute_t, int); /* optional */
    int devices;
    char why[96];
} hip;

static pthread_once_t hip_once = PTHREAD_ONCE_INIT;

#define HIP_SYM(field, name) (*(void **)&hip.field = dlsym(lib, name)) == NULL

static void load_hip(void) {
    static const char *names[] = {"libamdhip64.so.6", "libamdhip64.so.5", "libamdhip64.so"};
    void *lib = NULL;
    for (size_t i = 0; !lib && i < sizeof names / sizeof names[0]; ++i) lib = dlopen(names[i], RTLD_NOW | RTLD_LOCAL);
    if (!lib) {
        snprintf(hip.why, sizeof hip.why, "HIP runtime (libamdhip64) not found");
        return;
    }
    if (HIP_SYM(GetDeviceCount, "hipGetDeviceCount") || HIP_SYM(SetDevice, "hipSetDevice") ||
        HIP_SYM(Malloc, "hipMalloc") || HIP_SYM(Free, "hipFree") || HIP_SYM(HostMalloc, "hipHostMalloc") ||
        HIP_SYM(HostFree, "hipHostFree") || HIP_SYM(Memcpy, "hipMemcpy") || HIP_SYM(MemcpyAsync, "hipMemcpyAsync") ||
        HIP_SYM(StreamCreate, "hipStreamCreate") || HIP_SYM(StreamDestroy, "hipStreamDestroy") ||
        HIP_SYM(StreamSynchronize, "hipStreamSynchronize") || HIP_SYM(StreamQuery, "hipStreamQuery") ||
        HIP_SYM(GetErrorName, "hipGetErrorName")) {
        snprintf(hip.why, sizeof hip.why, "HIP runtime lacks a needed function");
        return;
    }
    if (HIP_SYM(DeviceGetAttribute, "hipDeviceGetAttribute")) hip.DeviceGetAttribute = NULL;
    int n = 0;
    const hipError_t e = hip.GetDeviceCount(&n);
    if (e != hipSuccess) n = 0;
    hip.devices = n;
    snprintf(hip.why, sizeof hip.why, "hipGetDeviceCount: %s, %d device%s",
             e == hipSuccess ? "hipSuccess" : hip.GetErrorName(e), n, n == 1 ? "" : "s");
}

int omq_hip_device_count(const char **why) {
    pthread_once(&hip_once, load_hip);
    if (why) *why = hip.why;
    return hip.devices;
}

/* HIP's current device is per thread; every entry point sets it */
static int use(const omq_context *ctx) { return hip.SetDevice(ctx->hip_device) != hipSuccess; }

static void *hip_alloc(omq_context *ctx, size_t bytes) {
    void *p = NULL;
    if (use(ctx) || hip.Malloc(&p, bytes) != hipSuccess) return NULL;
    return p;
}

static void hip_free(omq_context *ctx, void *p) {
    if (!use(ctx)) hip.Free(p);
}

static void *hip_host_alloc(omq_context *ctx, size_t bytes) {
    void *p = NULL;
    if (use(ctx) || hip.HostMalloc(&p, bytes, 0) != hipSuccess) return NULL;
    return p;
}

static void hip_host_free(omq_context *ctx, void *p) {
    if (!use(ctx)) hip.HostFree(p);
}

static hipMemcpyKind hip_kind(omq_copy_kind kind) {
    return kind == OMQ_COPY_HOST_TO_DEVICE ? hipMemcpyHostToDevice
           : kind == OMQ_COPY_DEVICE_TO_HOST ? hipMemcpyDeviceToHost
                                             : hipMemcpyDeviceToDevice;
}

static int hip_copy(omq_context *ctx, void *dst, const void *src, size_t bytes, omq_copy_kind kind) {
    return use(ctx) || hip.Memcpy(dst, src, bytes, hip_kind(kind)) != hipSuccess;
}

typedef struct {
    hipStream_t stream;
    int owned;
} hip_stream;

static omq_status hip_stream_open(omq_stream *s, void *external, int kind) {
    if (kind == OMQ_EXTERNAL_CUDA) return OMQ_ERR_UNSUPPORTED;
    hip_stream *h = calloc(1, sizeof *h);
    if (!h) return OMQ_ERR_ALLOC;
    if (kind == OMQ_EXTERNAL_HIP) {
        h->stream = (hipStream_t)external;
    } else if (use(s->ctx) || hip.StreamCreate(&h->stream) != hipSuccess) {
        free(h);
        return OMQ_ERR_DEVICE;
    } else {
        h->owned = 1;
    }
    s->impl = h;
    return OMQ_OK;
}

static void hip_stream_close(omq_stream *s) {
    hip_stream *h = s->impl;
    if (!h) return;
    if (h->owned && !use(s->ctx)) hip.StreamDestroy(h->stream);
    free(h);
    s->impl = NULL;
}

static omq_status hip_launch(omq_stream *s, omq_kernel_fn run, const void *args, size_t bytes) {
    hip_stream *h = s->impl;
    if (use(s->ctx) || hip.StreamSynchronize(h->stream) != hipSuccess) return OMQ_ERR_DEVICE;
    _Alignas(max_align_t) unsigned char copy[OMQ_MAX_KERNEL_ARGS];
    memcpy(copy, args, bytes);
    const omq_exec ex = omq_stream_exec(s);
    run(&ex, copy); /* synchronous: complete when it returns */
    return OMQ_OK;
}

static omq_status hip_copy_async(omq_stream *s, void *dst, const void *src, size_t bytes, omq_copy_kind kind) {
    hip_stream *h = s->impl;
    if (use(s->ctx) || hip.MemcpyAsync(dst, src, bytes, hip_kind(kind), h->stream) != hipSuccess)
        return OMQ_ERR_DEVICE;
    return OMQ_OK;
}

static omq_status hip_stream_wait(omq_stream *s) {
    hip_stream *h = s->impl;
    return use(s->ctx) || hip.StreamSynchronize(h->stream) != hipSuccess ? OMQ_ERR_DEVICE : OMQ_OK;
}

static int hip_stream_idle(omq_stream *s) {
    hip_stream *h = s->impl;
    return !use(s->ctx) && hip.StreamQuery(h->stream) != hipErrorNotReady;
}

static int hip_compute_units(omq_context *ctx) {
    int n = 0;
    if (!hip.DeviceGetAttribute ||
        hip.DeviceGetAttribute(&n, hipDeviceAttributeMultiprocessorCount, ctx->hip_device) != hipSuccess)
        return 0;
    return n > 0 ? n : 0;
}

const omq_backend omq_backend_hip = {
    "hip", hip_alloc, hip_free, hip_host_alloc, hip_host_free, hip_copy,
    hip_stream_open, hip_stream_close, hip_launch, hip_copy_async, hip_stream_wait, hip_stream_idle,
    hip_compute_units,
    NULL, /* hipHostMalloc memory is mapped, but omq has never run on an AMD GPU: the error
           * word stays in device memory, read by a copy */
};
