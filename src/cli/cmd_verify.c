/* omq verify FILE: dequantizes every tensor on the chosen device and on the host, and reports
 * any value whose bits differ, NaN/Inf values, and per-tensor statistics. Exit status 1 on any
 * problem. When the chosen device is the host itself, the other side is OpenMP's host
 * fallback: the GPU kernels' code, run on the CPU. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "omq_gguf.h"

#define CHUNK_VALUES ((int64_t)8 << 20)

typedef struct {
    omq_context *ctx;
    void *q;   /* quantized chunk */
    float *f;  /* dequantized chunk, in the context's memory */
} side;

static int dequant(side *s, omq_type type, const void *src, size_t qbytes, float *host_out, int64_t rows,
                   int64_t cols, const char *name) {
    omq_status st;
    if ((st = omq_memcpy(s->ctx, s->q, src, qbytes, OMQ_COPY_HOST_TO_DEVICE)) ||
        (st = omq_dequantize(s->ctx, type, s->q, OMQ_TYPE_F32, s->f, rows, cols)) || (st = omq_synchronize(s->ctx)) ||
        (st = omq_memcpy(s->ctx, host_out, s->f, (size_t)(rows * cols) * sizeof(float), OMQ_COPY_DEVICE_TO_HOST)))
        return cli_fail_status(s->ctx, st, name);
    return 0;
}

int cmd_verify(int argc, char **argv) {
    const char *device_arg = "auto", *path = NULL, *v;
    for (int i = 1; i < argc;) {
        if (!strcmp(argv[i], "--help")) {
            printf("usage: omq verify FILE [--device auto|host|fallback|N]\n"
                   "  dequantizes every tensor on the device and on the host: reports mismatches (results must\n"
                   "  be bit-identical), NaN/Inf values and min/max/mean/rms per tensor; exit status 1 on any problem\n");
            return 0;
        }
        if (cli_opt(argc, argv, &i, "--device", &v)) device_arg = v;
        else if (argv[i][0] == '-' && argv[i][1]) return cli_fail("unknown option %s", argv[i]), 2;
        else if (!path) path = argv[i++];
        else return cli_fail("too many arguments"), 2;
    }
    if (!path) return fprintf(stderr, "usage: omq verify FILE [--device auto|host|fallback|N]\n"), 2;
    int device;
    if (cli_parse_device(device_arg, &device))
        return cli_fail("--device: '%s' is not auto, host, fallback or a GPU number", device_arg), 2;
    omq_gguf *g;
    char msg[1024];
    if (omq_gguf_open(path, &g, msg, sizeof msg)) return cli_fail("%s", msg);

    side dev = {.ctx = cli_context(device)}, ref = {.ctx = NULL};
    if (!dev.ctx) return omq_gguf_close(g), 1;
    const int ref_device = omq_context_device(dev.ctx) == OMQ_DEVICE_HOST ? OMQ_DEVICE_FALLBACK : OMQ_DEVICE_HOST;
    if (!(ref.ctx = cli_context(ref_device))) return omq_context_free(dev.ctx), omq_gguf_close(g), 1;
    printf("%s: comparing %s with %s\n", path, omq_context_describe(dev.ctx), omq_context_describe(ref.ctx));

    size_t qmax = 1, vmax = 1;
    for (int64_t i = 0; i < omq_gguf_tensor_count(g); ++i) {
        omq_gguf_tensor t;
        omq_gguf_tensor_info(g, i, &t);
        if (!t.omq_known) continue;
        int64_t rows = CHUNK_VALUES / t.cols;
        if (rows < 1) rows = 1;
        if (rows > t.rows) rows = t.rows;
        size_t qb;
        omq_matrix_size((omq_type)t.ggml_type, rows, t.cols, &qb);
        if (qb > qmax) qmax = qb;
        if ((size_t)(rows * t.cols) > vmax) vmax = (size_t)(rows * t.cols);
    }
    float *a = malloc(vmax * sizeof(float)), *b = malloc(vmax * sizeof(float));
    omq_status st;
    int rc = 0;
    if (!a || !b) rc = cli_fail("out of memory");
    else if ((st = omq_malloc(dev.ctx, qmax, &dev.q)) || (st = omq_malloc(dev.ctx, vmax * sizeof(float), (void **)&dev.f)))
        rc = cli_fail_status(dev.ctx, st, "device buffers");
    else if ((st = omq_malloc(ref.ctx, qmax, &ref.q)) || (st = omq_malloc(ref.ctx, vmax * sizeof(float), (void **)&ref.f)))
        rc = cli_fail_status(ref.ctx, st, "host buffers");

    int64_t bad_tensors = 0, skipped = 0, checked = 0;
    uint64_t total_mismatch = 0, total_nonfinite = 0;
    printf("  %-40s %-7s %12s %12s %12s %12s  %s\n", "tensor", "type", "min", "max", "mean", "rms", "status");
    for (int64_t i = 0; !rc && i < omq_gguf_tensor_count(g); ++i) {
        omq_gguf_tensor t;
        omq_gguf_tensor_info(g, i, &t);
        if (!t.omq_known) {
            const char *name = omq_gguf_ggml_type_name(t.ggml_type);
            printf("  %-40s %-7s %51s  skipped: omq cannot convert this type\n", t.name, name ? name : "?", "");
            ++skipped;
            continue;
        }
        const omq_type type = (omq_type)t.ggml_type;
        int64_t step = CHUNK_VALUES / t.cols;
        if (step < 1) step = 1;
        size_t qrow;
        omq_row_size(type, t.cols, &qrow);
        uint64_t mismatch = 0, nan = 0, inf = 0, n = 0;
        double mn = INFINITY, mx = -INFINITY, sum = 0, sum2 = 0;
        for (int64_t r = 0; !rc && r < t.rows; r += step) {
            const int64_t rows = t.rows - r < step ? t.rows - r : step;
            const uint8_t *src = (const uint8_t *)t.data + (size_t)r * qrow;
            if (dequant(&dev, type, src, (size_t)rows * qrow, a, rows, t.cols, t.name) ||
                dequant(&ref, type, src, (size_t)rows * qrow, b, rows, t.cols, t.name)) {
                rc = 1;
                break;
            }
            for (int64_t k = 0; k < rows * t.cols; ++k) {
                uint32_t x, y;
                memcpy(&x, &a[k], 4);
                memcpy(&y, &b[k], 4);
                mismatch += x != y;
                const double val = b[k];
                if (isnan(val)) ++nan;
                else if (isinf(val)) ++inf;
                else {
                    mn = val < mn ? val : mn;
                    mx = val > mx ? val : mx;
                    sum += val;
                    sum2 += val * val;
                    ++n;
                }
            }
        }
        if (rc) break;
        ++checked;
        char status[128] = "ok";
        if (mismatch || nan || inf) {
            ++bad_tensors;
            int k = snprintf(status, sizeof status, "PROBLEM:");
            if (mismatch) k += snprintf(status + k, sizeof status - (size_t)k, " %llu values differ", (unsigned long long)mismatch);
            if (nan) k += snprintf(status + k, sizeof status - (size_t)k, " %llu NaN", (unsigned long long)nan);
            if (inf) snprintf(status + k, sizeof status - (size_t)k, " %llu Inf", (unsigned long long)inf);
        }
        total_mismatch += mismatch;
        total_nonfinite += nan + inf;
        printf("  %-40s %-7s %12.5g %12.5g %12.5g %12.5g  %s\n", t.name, omq_type_name(type), n ? mn : NAN, n ? mx : NAN,
               n ? sum / (double)n : NAN, n ? sqrt(sum2 / (double)n) : NAN, status);
    }
    if (!rc) {
        printf("%s: %lld tensors checked, %lld skipped; %llu mismatching values, %llu NaN/Inf values: %s\n", path,
               (long long)checked, (long long)skipped, (unsigned long long)total_mismatch,
               (unsigned long long)total_nonfinite, bad_tensors ? "FAILED" : "OK");
        rc = bad_tensors ? 1 : 0;
    }
    omq_free(dev.ctx, dev.q);
    omq_free(dev.ctx, dev.f);
    if (ref.ctx) omq_free(ref.ctx, ref.q), omq_free(ref.ctx, ref.f);
    omq_context_free(dev.ctx);
    omq_context_free(ref.ctx);
    free(a);
    free(b);
    omq_gguf_close(g);
    return rc;
}
