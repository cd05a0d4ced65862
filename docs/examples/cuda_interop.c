/* A CUDA application handing its own buffers and stream to omq.
 *
 * Buffers: cudaMalloc memory goes straight into omq calls on a context of the same GPU (omq's
 * NVIDIA kernels run in the CUDA primary context, as the CUDA runtime's do).
 * Streams: omq_stream_wrap_cuda adopts the application's cudaStream_t; omq's work on it runs
 * after the stream's earlier work and before its later work.
 *
 * Build: cc cuda_interop.c -I<omq>/include -I/usr/local/cuda/include -L<omq> -lomq
 *           -L/usr/local/cuda/lib64 -lcudart
 * Exit status 77 when there is no NVIDIA GPU (ctest counts it as skipped). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cuda_runtime_api.h>

#include <omq.h>

#define CUDA_OK(call)                                                                   \
    do {                                                                                \
        cudaError_t e_ = (call);                                                        \
        if (e_ != cudaSuccess) {                                                        \
            fprintf(stderr, "%s: %s\n", #call, cudaGetErrorString(e_));                 \
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
    int ncuda = 0;
    if (cudaGetDeviceCount(&ncuda) != cudaSuccess || ncuda == 0 || omq_device_count() == 0) {
        printf("no NVIDIA GPU visible to both CUDA and omq: skipped\n");
        return 77;
    }
    static float x[ROWS * COLS];
    for (int i = 0; i < ROWS * COLS; ++i) x[i] = (float)((i * 7919) % 1000) / 250.0f - 2.0f;
    const omq_type type = OMQ_TYPE_Q4_K;
    size_t qbytes = 0;
    omq_matrix_size(type, ROWS, COLS, &qbytes);

    /* what the host computes, for comparison */
    omq_context *host;
    unsigned char *want = malloc(qbytes), *got = malloc(qbytes);
    omq_context_create(&host, OMQ_DEVICE_HOST);
    OMQ_OK(host, omq_quantize(host, type, x, want, ROWS, COLS, NULL));
    OMQ_OK(host, omq_synchronize(host));

    omq_context *ctx;
    OMQ_OK(NULL, omq_context_create(&ctx, 0));
    printf("omq context: %s\n", omq_context_describe(ctx));

    /* 1. the application's buffers */
    float *dx;
    void *dq;
    CUDA_OK(cudaMalloc((void **)&dx, sizeof x));
    CUDA_OK(cudaMalloc(&dq, qbytes));
    CUDA_OK(cudaMemcpy(dx, x, sizeof x, cudaMemcpyHostToDevice));
    OMQ_OK(ctx, omq_quantize(ctx, type, dx, dq, ROWS, COLS, NULL));
    OMQ_OK(ctx, omq_synchronize(ctx));
    CUDA_OK(cudaMemcpy(got, dq, qbytes, cudaMemcpyDeviceToHost));
    if (memcmp(got, want, qbytes)) return fprintf(stderr, "cudaMalloc buffers: wrong result\n"), 1;
    printf("cudaMalloc buffers: byte-identical with the host\n");

    /* 2. the application's stream: fill, quantize, read back, all in the stream's order */
    cudaStream_t stream;
    CUDA_OK(cudaStreamCreate(&stream));
    omq_stream *os;
    OMQ_OK(ctx, omq_stream_wrap_cuda(ctx, (void *)stream, &os));
    OMQ_OK(ctx, omq_context_set_stream(ctx, os));
    float *pinned;
    CUDA_OK(cudaMallocHost((void **)&pinned, sizeof x));
    memcpy(pinned, x, sizeof x);
    for (int round = 0; round < 3; ++round) {
        CUDA_OK(cudaMemsetAsync(dx, 0, sizeof x, stream));
        CUDA_OK(cudaMemsetAsync(dq, 0xA5, qbytes, stream));
        CUDA_OK(cudaMemcpyAsync(dx, pinned, sizeof x, cudaMemcpyHostToDevice, stream));
        OMQ_OK(ctx, omq_quantize(ctx, type, dx, dq, ROWS, COLS, NULL));
        CUDA_OK(cudaMemcpyAsync(got, dq, qbytes, cudaMemcpyDeviceToHost, stream));
        CUDA_OK(cudaStreamSynchronize(stream));
        if (memcmp(got, want, qbytes)) return fprintf(stderr, "CUDA stream round %d: wrong result\n", round), 1;
    }
    printf("cudaStream_t: omq's work ordered with the application's copies\n");
    OMQ_OK(ctx, omq_stream_destroy(os)); /* the CUDA stream itself stays the application's */
    CUDA_OK(cudaStreamDestroy(stream));
    CUDA_OK(cudaFreeHost(pinned));
    CUDA_OK(cudaFree(dx));
    CUDA_OK(cudaFree(dq));
    omq_context_free(ctx);
    omq_context_free(host);
    free(want);
    free(got);
    printf("ok\n");
    return 0;
}
