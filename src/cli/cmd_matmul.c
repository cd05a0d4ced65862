/* omq matmul: Y = X W^T on raw little-endian files; rows and n follow from the file sizes.
 * The output appears only when complete (written to a temporary name, renamed at the end). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"

static int usage(FILE *f) {
    fprintf(f, "usage: omq matmul --type T --cols K [--algo auto|dmmv|mmvq|mmq|gemm] [--xtype f32|f16]\n"
               "                  [--device auto|host|fallback|N] W.bin X Y.f32\n"
               "  W.bin: rows x K values of type T, as omq quantize writes them (rows from the file size)\n"
               "  X:     n x K values of --xtype, default f32 (n from the file size)\n"
               "  Y.f32: written: n x rows float32, Y[j][i] = sum_k W[i][k] X[j][k]\n");
    return f == stdout ? 0 : 2;
}

typedef struct {
    omq_type wtype, xtype;
    omq_algo algo;
    int64_t K;
    int device;
    const char *w, *x, *y;
} matmul_job;

static int parse(int argc, char **argv, matmul_job *job) {
    const char *type = NULL, *cols = NULL, *algo = "auto", *xtype = "f32", *device = "auto", *v;
    const char *pos[3];
    int npos = 0;
    for (int i = 1; i < argc;) {
        if (!strcmp(argv[i], "--help")) return usage(stdout), -1;
        if (cli_opt(argc, argv, &i, "--type", &v)) type = v;
        else if (cli_opt(argc, argv, &i, "--cols", &v)) cols = v;
        else if (cli_opt(argc, argv, &i, "--algo", &v)) algo = v;
        else if (cli_opt(argc, argv, &i, "--xtype", &v)) xtype = v;
        else if (cli_opt(argc, argv, &i, "--device", &v)) device = v;
        else if (argv[i][0] == '-' && argv[i][1]) return cli_fail("unknown option %s", argv[i]), usage(stderr), -2;
        else if (npos < 3) pos[npos++] = argv[i++];
        else return cli_fail("too many arguments"), usage(stderr), -2;
    }
    if (!type || !cols || npos != 3) return usage(stderr), -2;
    if (cli_parse_type(type, &job->wtype)) return -2;
    if (cli_parse_i64(cols, &job->K)) return cli_fail("--cols: '%s' is not a positive integer", cols), -2;
    if (omq_algo_from_name(algo, &job->algo)) return cli_fail("--algo: '%s' is not auto, dmmv, mmvq, mmq or gemm", algo), -2;
    if (!strcmp(xtype, "f32")) job->xtype = OMQ_TYPE_F32;
    else if (!strcmp(xtype, "f16")) job->xtype = OMQ_TYPE_F16;
    else return cli_fail("--xtype: '%s' is not f32 or f16", xtype), -2;
    if (cli_parse_device(device, &job->device)) return cli_fail("--device: '%s' is not auto, host, fallback or a GPU number", device), -2;
    job->w = pos[0];
    job->x = pos[1];
    job->y = pos[2];
    return 0;
}

/* Rows of `row_bytes` in a file: 0 (and a message) if the size is not a positive multiple. */
static int64_t rows_of(const char *path, size_t row_bytes, const char *what) {
    int64_t size;
    if (cli_file_size(path, &size)) return 0;
    if (size == 0 || size % (int64_t)row_bytes)
        return cli_fail("%s: %lld bytes is not a whole number of rows of %zu bytes (%s)", path, (long long)size,
                        row_bytes, what), 0;
    return size / (int64_t)row_bytes;
}

static int run(const matmul_job *job) {
    size_t wrow = 0;
    omq_status st = omq_row_size(job->wtype, job->K, &wrow);
    if (st) return cli_fail("--cols %lld for %s: %s", (long long)job->K, omq_type_name(job->wtype), omq_strerror(st));
    const size_t xel = job->xtype == OMQ_TYPE_F16 ? 2 : 4;
    if ((uint64_t)job->K > SIZE_MAX / xel) return cli_fail("--cols %lld is too large", (long long)job->K);
    char what[64];
    snprintf(what, sizeof what, "%lld %s values", (long long)job->K, omq_type_name(job->wtype));
    const int64_t rows = rows_of(job->w, wrow, what);
    if (!rows) return 1;
    snprintf(what, sizeof what, "%lld %s values", (long long)job->K, omq_type_name(job->xtype));
    const int64_t n = rows_of(job->x, (size_t)job->K * xel, what);
    if (!n) return 1;

    omq_context *ctx = cli_context(job->device);
    if (!ctx) return 1;
    omq_algo algo = job->algo;
    if (algo == OMQ_ALGO_AUTO && (st = omq_matmul_choose(ctx, job->wtype, rows, job->K, n, &algo))) {
        const int rc = cli_fail_status(ctx, st, "matmul");
        omq_context_free(ctx);
        return rc;
    }
    size_t wbytes = 0, xbytes = 0, ybytes = 0;
    void *w = cli_read_file(job->w, &wbytes), *x = w ? cli_read_file(job->x, &xbytes) : NULL, *y = NULL;
    void *dw = NULL, *dx = NULL, *dy = NULL;
    int rc = !w || !x;
    if (!rc && (uint64_t)n > SIZE_MAX / sizeof(float) / (uint64_t)rows) rc = cli_fail("Y: %lld x %lld values do not fit in memory", (long long)n, (long long)rows);
    if (!rc) {
        ybytes = (size_t)n * (size_t)rows * sizeof(float);
        if (!(y = malloc(ybytes))) rc = cli_fail("out of host memory for Y (%zu bytes)", ybytes);
    }
    if (!rc && ((st = omq_malloc(ctx, wbytes, &dw)) || (st = omq_malloc(ctx, xbytes, &dx)) ||
                (st = omq_malloc(ctx, ybytes, &dy)) || (st = omq_memcpy(ctx, dw, w, wbytes, OMQ_COPY_HOST_TO_DEVICE)) ||
                (st = omq_memcpy(ctx, dx, x, xbytes, OMQ_COPY_HOST_TO_DEVICE))))
        rc = cli_fail_status(ctx, st, "device buffers");
    double dt = 0;
    if (!rc) {
        const double t0 = cli_now();
        st = omq_matmul(ctx, job->wtype, dw, rows, job->K, job->xtype, dx, n, dy, algo);
        if (!st) st = omq_synchronize(ctx);
        dt = cli_now() - t0;
        if (st == OMQ_ERR_NONFINITE) rc = cli_fail("%s: X holds NaN or Inf (%s quantizes X to Q8_1)", job->x, omq_algo_name(algo));
        else if (st || (st = omq_memcpy(ctx, y, dy, ybytes, OMQ_COPY_DEVICE_TO_HOST))) rc = cli_fail_status(ctx, st, "matmul");
    }
    if (!rc) {
        char tmp[4096];
        snprintf(tmp, sizeof tmp, "%s.omq-tmp-%ld", job->y, (long)getpid());
        FILE *f = fopen(tmp, "wb");
        if (!f) rc = cli_fail("%s: %s", tmp, strerror(errno));
        else {
            if (fwrite(y, 1, ybytes, f) != ybytes) rc = cli_fail("%s: write failed: %s", tmp, strerror(errno));
            if (fclose(f) && !rc) rc = cli_fail("%s: %s", tmp, strerror(errno));
            if (!rc && rename(tmp, job->y)) rc = cli_fail("%s: %s", job->y, strerror(errno));
            if (rc) remove(tmp);
        }
    }
    if (!rc)
        printf("Y (%lld x %lld) = X (%lld x %lld %s) * W^T (%lld x %lld %s): algorithm %s%s on %s, %.3f ms (%.2f GFLOP/s)\n",
               (long long)n, (long long)rows, (long long)n, (long long)job->K, omq_type_name(job->xtype),
               (long long)rows, (long long)job->K, omq_type_name(job->wtype), omq_algo_name(algo),
               job->algo == OMQ_ALGO_AUTO ? " (auto)" : "", omq_context_describe(ctx), dt * 1e3,
               2.0 * (double)n * (double)rows * (double)job->K / dt * 1e-9);
    omq_free(ctx, dw);
    omq_free(ctx, dx);
    omq_free(ctx, dy);
    omq_context_free(ctx);
    free(w);
    free(x);
    free(y);
    return rc;
}

int cmd_matmul(int argc, char **argv) {
    matmul_job job;
    memset(&job, 0, sizeof job);
    const int p = parse(argc, argv, &job);
    return p == -1 ? 0 : p ? 2 : run(&job);
}
