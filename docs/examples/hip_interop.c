/* A HIP application handing its own buffers and stream to omq.
 *
 * Buffers: hipMalloc memory goes straight into omq calls on a context of the same GPU (omq's
 * hip backend computes on HIP memory through OpenMP's is_device_ptr). Never hand memory
 * from omp_target_alloc to HIP APIs; the other direction is what omq does.
 * Streams: omq_stream_wrap_hip adopts the application's hipStream_t; omq's work on it runs
 * after the stream's earlier work and before its later work.
 *
 * Build: cc -D__HIP_PLATFORM_AMD__ hip_interop.c -I<omq>/include -L<omq> -lomq -lamdhip64
 * Exit status 77 when there is no AMD GPU (ctest counts it as skipped). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <hip/hip_runtime_api.h>

#include <omq.h>

#define HIP_OK(call)                                                                    \
    do {                                                                                \
        hipError_t e_ = (call);                                                         \
        if (e_ != hipSuccess) {                                                         \
            fprintf(stderr, "%s: %s\n", #call, hipGetErrorString(e_));                  \
            return 1;                                                                   \
        }                                                                               \
    } while (0)
#define OMQ_OK(ctx, call)                                                               \
    do {                                                                                \
        omq_status s_ = (call);                                                         \
        if (s_ != OMQ_OK) {                                                             \
            fprintf(stderr, "%s: %s (%s)\n", #call, omq_strerror(s_), omq_context_last_error(ctx)); \
            return 1;                                                                   \
        }                                                                               \
    } while (0)

enum { ROWS = 64, COLS = 4096 };

int main(void) {
    int nhip = 0;
    const hipError_t e = hipGetDeviceCount(&nhip);
    if (e != hipSuccess || nhip == 0) {
        printf("no AMD GPU (hipGetDeviceCount: %s): skipped\n", hipGetErrorString(e));
        return 77;
    }
    static float x[ROWS * COLS];
    for (int i = 0; i < ROWS * COLS; ++i) x[i] = (float)((i * 7919) % 1000) / 250.0f - 2.0f;
    const omq_type type = OMQ_TYPE_Q4_K;
    size_t qbytes = 0;
    omq_matrix_size(type, ROWS, COLS, &qbytes);
    unsigned char *want = malloc(qbytes), *got = malloc(qbytes);
    omq_context *host;
    omq_context_create(&host, OMQ_DEVICE_HOST);
    OMQ_OK(host, omq_quantize(host, type, x, want, ROWS, COLS, NULL));
    OMQ_OK(host, omq_synchronize(host));

    omq_context *ctx;
    OMQ_OK(NULL, omq_context_create(&ctx, 0));
    printf("omq context: %s (backend %s)\n", omq_context_describe(ctx), omq_context_backend(ctx));
    float *dx;
    void *dq;
    HIP_OK(hipMalloc((void **)&dx, sizeof x));
    HIP_OK(hipMalloc(&dq, qbytes));
    hipStream_t stream;
    HIP_OK(hipStreamCreate(&stream));
    omq_stream *os;
    OMQ_OK(ctx, omq_stream_wrap_hip(ctx, (void *)stream, &os));
    OMQ_OK(ctx, omq_context_set_stream(ctx, os));
    HIP_OK(hipMemcpyAsync(dx, x, sizeof x, hipMemcpyHostToDevice, stream));
    OMQ_OK(ctx, omq_quantize(ctx, type, dx, dq, ROWS, COLS, NULL));
    HIP_OK(hipMemcpyAsync(got, dq, qbytes, hipMemcpyDeviceToHost, stream));
    HIP_OK(hipStreamSynchronize(stream));
    if (memcmp(got, want, qbytes)) return fprintf(stderr, "wrong result\n"), 1;
    printf("hipMalloc buffers on a hipStream_t: byte-identical with the host\n");
    OMQ_OK(ctx, omq_stream_destroy(os));
    HIP_OK(hipStreamDestroy(stream));
    HIP_OK(hipFree(dx));
    HIP_OK(hipFree(dq));
    omq_context_free(ctx);
    omq_context_free(host);
    free(want);
    free(got);
    printf("ok\n");
    return 0;
}
