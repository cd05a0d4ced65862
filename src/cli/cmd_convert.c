/* omq quantize / omq dequantize on raw little-endian files, streamed in chunks of rows so
 * any file size works; the output appears only when complete (written to a temporary name,
 * renamed at the end). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"

int cmd_quantize_gguf(int argc, char **argv);

static int strcasecmp_ascii(const char *a, const char *b) {
    for (; *a && *b; ++a, ++b) {
        const int x = *a >= 'A' && *a <= 'Z' ? *a + 32 : *a, y = *b >= 'A' && *b <= 'Z' ? *b + 32 : *b;
        if (x != y) return x - y;
    }
    return *a - *b;
}

typedef struct {
    int quantize; /* else dequantize */
    omq_type type;
    int64_t cols;
    int device;
    int to_f16;
    const char *imatrix, *in, *out;
} convert_job;

static int usage(int quantize, FILE *f) {
    if (quantize)
        fprintf(f, "usage: omq quantize --type T --cols N [--imatrix W.f32] [--device auto|host|fallback|N] IN.f32 OUT.bin\n"
                   "  IN.f32: rows x N float32 values (rows follow from the file size)\n"
                   "  --imatrix: N float32 importance weights (ggml's imatrix for this matrix)\n"
                   "   or: omq quantize IN.gguf OUT.gguf TYPE [options]   a GGUF model (omq quantize IN.gguf --help)\n");
    else
        fprintf(f, "usage: omq dequantize --type T --cols N [--to f32|f16] [--device auto|host|fallback|N] IN.bin OUT\n"
                   "  IN.bin: rows of type T blocks, N values per row (rows follow from the file size)\n");
    return f == stdout ? 0 : 2;
}

static int parse(int argc, char **argv, convert_job *job) {
    const char *type = NULL, *cols = NULL, *device = "auto", *to = "f32", *v;
    const char *pos[2];
    int npos = 0;
    for (int i = 1; i < argc;) {
        if (!strcmp(argv[i], "--help")) return usage(job->quantize, stdout), -1;
        if (cli_opt(argc, argv, &i, "--type", &v)) type = v;
        else if (cli_opt(argc, argv, &i, "--cols", &v)) cols = v;
        else if (cli_opt(argc, argv, &i, "--device", &v)) device = v;
        else if (job->quantize && cli_opt(argc, argv, &i, "--imatrix", &v)) job->imatrix = v;
        else if (!job->quantize && cli_opt(argc, argv, &i, "--to", &v)) to = v;
        else if (argv[i][0] == '-' && argv[i][1]) return cli_fail("unknown option %s", argv[i]), usage(job->quantize, stderr), -2;
        else if (npos < 2) pos[npos++] = argv[i++];
        else return cli_fail("too many arguments"), usage(job->quantize, stderr), -2;
    }
    if (!type || !cols || npos != 2) return usage(job->quantize, stderr), -2;
    if (cli_parse_type(type, &job->type)) return -2;
    if (cli_parse_i64(cols, &job->cols)) return cli_fail("--cols: '%s' is not a positive integer", cols), -2;
    if (cli_parse_device(device, &job->device)) return cli_fail("--device: '%s' is not auto, host, fallback or a GPU number", device), -2;
    if (strcmp(to, "f32") && strcmp(to, "f16")) return cli_fail("--to: '%s' is not f32 or f16", to), -2;
    job->to_f16 = !strcmp(to, "f16");
    job->in = pos[0];
    job->out = pos[1];
    return 0;
}

static int run(const convert_job *job) {
    size_t qrow = 0;
    omq_status st = omq_row_size(job->type, job->cols, &qrow);
    if (st) return cli_fail("--cols %lld for %s: %s", (long long)job->cols, omq_type_name(job->type), omq_strerror(st));
    const size_t frow = (size_t)job->cols * (job->quantize ? sizeof(float) : (job->to_f16 ? 2 : 4));
    const size_t in_row = job->quantize ? frow : qrow, out_row = job->quantize ? qrow : frow;
    int64_t in_size;
    if (cli_file_size(job->in, &in_size)) return 1;
    if (in_size == 0 || in_size % (int64_t)in_row)
        return cli_fail("%s: %lld bytes is not a whole number of rows of %zu bytes (%lld %s values)", job->in,
                        (long long)in_size, in_row, (long long)job->cols,
                        job->quantize ? "float32" : omq_type_name(job->type));
    const int64_t rows = in_size / (int64_t)in_row;
    const size_t big = in_row > out_row ? in_row : out_row;
    int64_t chunk = (int64_t)((64u << 20) / big);
    if (chunk < 1) chunk = 1;
    if (chunk > rows) chunk = rows;

    float *imat = NULL;
    if (job->imatrix) {
        size_t n = 0;
        imat = cli_read_file(job->imatrix, &n);
        if (!imat) return 1;
        if (n != (size_t)job->cols * sizeof(float)) {
            free(imat);
            return cli_fail("%s: %zu bytes, expected %lld float32 weights", job->imatrix, n, (long long)job->cols);
        }
    }
    omq_context *ctx = cli_context(job->device);
    if (!ctx) return free(imat), 1;

    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s.omq-tmp-%ld", job->out, (long)getpid());
    FILE *fin = fopen(job->in, "rb"), *fout = fopen(tmp, "wb");
    void *hin = malloc(in_row * chunk), *hout = malloc(out_row * chunk);
    void *din = NULL, *dout = NULL, *dimat = NULL;
    int rc = 0;
    if (!fin) rc = cli_fail("%s: %s", job->in, strerror(errno));
    else if (!fout) rc = cli_fail("%s: %s", tmp, strerror(errno));
    else if (!hin || !hout) rc = cli_fail("out of host memory");
    else if ((st = omq_malloc(ctx, in_row * chunk, &din)) || (st = omq_malloc(ctx, out_row * chunk, &dout)))
        rc = cli_fail_status(ctx, st, "device buffers");
    else if (imat && ((st = omq_malloc(ctx, (size_t)job->cols * sizeof(float), &dimat)) ||
                      (st = omq_memcpy(ctx, dimat, imat, (size_t)job->cols * sizeof(float), OMQ_COPY_HOST_TO_DEVICE))))
        rc = cli_fail_status(ctx, st, "imatrix upload");

    const double t0 = cli_now();
    for (int64_t r = 0; !rc && r < rows; r += chunk) {
        const int64_t n = rows - r < chunk ? rows - r : chunk;
        if (fread(hin, in_row, (size_t)n, fin) != (size_t)n) {
            rc = cli_fail("%s: read failed at row %lld", job->in, (long long)r);
            break;
        }
        if ((st = omq_memcpy(ctx, din, hin, in_row * n, OMQ_COPY_HOST_TO_DEVICE))) {
            rc = cli_fail_status(ctx, st, "upload");
            break;
        }
        st = job->quantize ? omq_quantize(ctx, job->type, din, dout, n, job->cols, dimat)
                           : omq_dequantize(ctx, job->type, din, job->to_f16 ? OMQ_TYPE_F16 : OMQ_TYPE_F32, dout, n, job->cols);
        if (!st) st = omq_synchronize(ctx);
        if (st == OMQ_ERR_NONFINITE) {
            rc = cli_fail("%s: rows %lld..%lld contain NaN or Inf", job->in, (long long)r, (long long)(r + n - 1));
            break;
        }
        if (st || (st = omq_memcpy(ctx, hout, dout, out_row * n, OMQ_COPY_DEVICE_TO_HOST))) {
            rc = cli_fail_status(ctx, st, job->quantize ? "quantize" : "dequantize");
            break;
        }
        if (fwrite(hout, out_row, (size_t)n, fout) != (size_t)n) rc = cli_fail("%s: write failed: %s", tmp, strerror(errno));
    }
    const double dt = cli_now() - t0;
    if (fout && fclose(fout) && !rc) rc = cli_fail("%s: %s", tmp, strerror(errno));
    if (fin) fclose(fin);
    if (!rc && rename(tmp, job->out)) rc = cli_fail("%s: %s", job->out, strerror(errno));
    if (rc) remove(tmp);
    else
        printf("%s %lld x %lld %s -> %s (%lld bytes) on %s in %.3f s\n", job->quantize ? "quantized" : "dequantized",
               (long long)rows, (long long)job->cols, job->quantize ? "f32" : omq_type_name(job->type),
               job->quantize ? omq_type_name(job->type) : (job->to_f16 ? "f16" : "f32"),
               (long long)(rows * (int64_t)out_row), omq_context_describe(ctx), dt);
    omq_free(ctx, din);
    omq_free(ctx, dout);
    omq_free(ctx, dimat);
    omq_context_free(ctx);
    free(hin);
    free(hout);
    free(imat);
    return rc;
}

/* The GGUF form (omq quantize IN.gguf OUT.gguf TYPE) is told apart by its first positional
 * argument; options of either form that take a value are skipped with it. */
static int first_positional_is_gguf(int argc, char **argv) {
    static const char *const with_value[] = {"--type", "--cols", "--device", "--imatrix", "--threads", "--progress"};
    for (int i = 1; i < argc; ++i) {
        const char *a = argv[i];
        if (a[0] != '-' || !a[1]) {
            const size_t n = strlen(a);
            return n >= 5 && !strcasecmp_ascii(a + n - 5, ".gguf");
        }
        for (size_t k = 0; k < sizeof with_value / sizeof with_value[0]; ++k)
            if (!strcmp(a, with_value[k])) ++i;
    }
    return 0;
}

int cmd_quantize(int argc, char **argv) {
    if (first_positional_is_gguf(argc, argv)) return cmd_quantize_gguf(argc, argv);
    convert_job job = {.quantize = 1};
    int p = parse(argc, argv, &job);
    return p == -1 ? 0 : p ? 2 : run(&job);
}

int cmd_dequantize(int argc, char **argv) {
    convert_job job = {.quantize = 0};
    int p = parse(argc, argv, &job);
    return p == -1 ? 0 : p ? 2 : run(&job);
}
