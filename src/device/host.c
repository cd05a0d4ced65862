/* host backend: kernels run at once on host threads, under the stream's lock, so a stream
 * is trivially ordered; memory is plain aligned host memory. */
#include <stdlib.h>
#include <string.h>

#include "device.h"

static void *host_alloc(omq_context *ctx, size_t bytes) {
    (void)ctx;
    if (bytes > SIZE_MAX - 255) return NULL;
    return aligned_alloc(256, (bytes + 255) & ~(size_t)255);
}

static void host_free(omq_context *ctx, void *p) {
    (void)ctx;
    free(p);
}

static int host_copy(omq_context *ctx, void *dst, const void *src, size_t bytes, omq_copy_kind kind) {
    (void)ctx, (void)kind;
    memmove(dst, src, bytes);
    return 0;
}

static omq_status host_stream_open(omq_stream *s, void *external, int kind) {
    (void)s;
    if (external || kind != OMQ_EXTERNAL_NONE) return OMQ_ERR_UNSUPPORTED;
    return OMQ_OK;
}

static void host_stream_close(omq_stream *s) { (void)s; }

static omq_status host_launch(omq_stream *s, omq_kernel_fn run, const void *args, size_t bytes) {
    _Alignas(max_align_t) unsigned char copy[OMQ_MAX_KERNEL_ARGS];
    memcpy(copy, args, bytes); /* kernels may take their arguments as scratch */
    const omq_exec ex = omq_stream_exec(s);
    run(&ex, copy);
    return OMQ_OK;
}

static omq_status host_copy_async(omq_stream *s, void *dst, const void *src, size_t bytes, omq_copy_kind kind) {
    return host_copy(s->ctx, dst, src, bytes, kind) ? OMQ_ERR_DEVICE : OMQ_OK;
}

static omq_status host_wait(omq_stream *s) {
    (void)s;
    return OMQ_OK;
}

static int host_idle(omq_stream *s) {
    (void)s;
    return 1;
}

static int host_maps(omq_context *ctx) {
    (void)ctx;
    return 1;
}

const omq_backend omq_backend_host = {
    "host", host_alloc, host_free, host_alloc, host_free, host_copy,
    host_stream_open, host_stream_close, host_launch, host_copy_async, host_wait, host_idle, NULL, host_maps,
};
