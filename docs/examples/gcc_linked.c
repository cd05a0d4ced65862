/* The smallest omq program, built by the test suite with gcc against the offload build's
 * libomq.so: a program linked by gcc (or gfortran, or anything but clang's offload link)
 * must use the shared library, whose device images clang's linker wrapper embedded. */
#include <stdio.h>

#include <omq.h>

int main(void) {
    float x[64], y[64];
    unsigned char q[2 * 34];
    for (int i = 0; i < 64; ++i) x[i] = (float)i / 8.0f - 4.0f;
    omq_context *ctx;
    omq_status st = omq_context_create(&ctx, OMQ_DEVICE_AUTO);
    void *dx = NULL, *dq = NULL, *dy = NULL;
    if (!st) st = omq_malloc(ctx, sizeof x, &dx);
    if (!st) st = omq_malloc(ctx, sizeof q, &dq);
    if (!st) st = omq_malloc(ctx, sizeof y, &dy);
    if (!st) st = omq_memcpy(ctx, dx, x, sizeof x, OMQ_COPY_HOST_TO_DEVICE);
    if (!st) st = omq_quantize(ctx, OMQ_TYPE_Q8_0, dx, dq, 2, 32, NULL);
    if (!st) st = omq_dequantize(ctx, OMQ_TYPE_Q8_0, dq, OMQ_TYPE_F32, dy, 2, 32);
    if (!st) st = omq_synchronize(ctx);
    if (!st) st = omq_memcpy(ctx, y, dy, sizeof y, OMQ_COPY_DEVICE_TO_HOST);
    if (st) return fprintf(stderr, "%s: %s\n", omq_strerror(st), omq_context_last_error(ctx)), 1;
    for (int i = 0; i < 64; ++i)
        if (y[i] - x[i] > 0.02f || x[i] - y[i] > 0.02f) return fprintf(stderr, "value %d wrong\n", i), 1;
    printf("gcc-linked program on %s: ok (%s)\n", omq_context_describe(ctx), omq_build_info());
    omq_context_free(ctx);
    return 0;
}
