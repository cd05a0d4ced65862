/* omq roundtrip: quantize and dequantize generated Gaussian data with every (or one) type on
 * a device; prints the error and the throughput of both directions. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static uint64_t splitmix(uint64_t *s) {
    uint64_t z = (*s += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

static int usage(FILE *f) {
    fprintf(f, "usage: omq roundtrip [--type T|all] [--rows R] [--cols C] [--device auto|host|fallback|N] [--seed S]\n"
               "  defaults: all types, 4096 x 4096, seed 1\n");
    return f == stdout ? 0 : 2;
}

/* Times fn over `reps` runs, each synchronized; returns the best seconds. */
static double best_time(omq_context *ctx, omq_status (*fn)(omq_context *, void *), void *arg, int reps,
                        omq_status *st) {
    double best = 1e30;
    for (int r = 0; r < reps && !*st; ++r) {
        const double t0 = cli_now();
        *st = fn(ctx, arg);
        if (!*st) *st = omq_synchronize(ctx);
        const double dt = cli_now() - t0;
        if (dt < best) best = dt;
    }
    return best;
}

typedef struct {
    omq_type type;
    int64_t rows, cols;
    float *x, *y;
    void *q;
} rt_args;

static omq_status do_quantize(omq_context *ctx, void *a) {
    rt_args *r = a;
    return omq_quantize(ctx, r->type, r->x, r->q, r->rows, r->cols, NULL);
}

static omq_status do_dequantize(omq_context *ctx, void *a) {
    rt_args *r = a;
    return omq_dequantize(ctx, r->type, r->q, OMQ_TYPE_F32, r->y, r->rows, r->cols);
}

int cmd_roundtrip(int argc, char **argv) {
    const char *type = "all", *v;
    int64_t rows = 4096, cols = 4096, seed = 1;
    int device = OMQ_DEVICE_AUTO;
    for (int i = 1; i < argc;) {
        if (!strcmp(argv[i], "--help")) return usage(stdout);
        if (cli_opt(argc, argv, &i, "--type", &v)) type = v;
        else if (cli_opt(argc, argv, &i, "--rows", &v)) { if (cli_parse_i64(v, &rows)) return cli_fail("--rows: bad value '%s'", v), 2; }
        else if (cli_opt(argc, argv, &i, "--cols", &v)) { if (cli_parse_i64(v, &cols)) return cli_fail("--cols: bad value '%s'", v), 2; }
        else if (cli_opt(argc, argv, &i, "--seed", &v)) { if (cli_parse_i64(v, &seed)) return cli_fail("--seed: bad value '%s'", v), 2; }
        else if (cli_opt(argc, argv, &i, "--device", &v)) { if (cli_parse_device(v, &device)) return cli_fail("--device: bad value '%s'", v), 2; }
        else return cli_fail("unexpected argument %s", argv[i]), usage(stderr);
    }
    omq_type types[32];
    int ntypes = 0;
    if (!strcmp(type, "all")) {
        for (int t = 0; t < 32; ++t)
            if (omq_type_is_valid(t) && t != OMQ_TYPE_F32) types[ntypes++] = (omq_type)t;
    } else if (cli_parse_type(type, &types[ntypes++])) {
        return 2;
    }
    if (rows > ((int64_t)1 << 40) / cols) return cli_fail("%lld x %lld is too large for a round trip", (long long)rows, (long long)cols);
    const size_t n = (size_t)(rows * cols);
    float *x = malloc(n * sizeof(float)), *y = malloc(n * sizeof(float));
    if (!x || !y) return free(x), free(y), cli_fail("out of host memory");
    uint64_t s = (uint64_t)seed;
    for (size_t i = 0; i < n; ++i) {
        const double u1 = ((double)(splitmix(&s) >> 12) + 0.5) * 0x1.0p-52;
        const double u2 = (double)(splitmix(&s) >> 11) * 0x1.0p-53;
        x[i] = (float)(sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2));
    }
    omq_context *ctx = cli_context(device);
    if (!ctx) return free(x), free(y), 1;
    printf("round trip of %lld x %lld N(0,1) values on %s\n", (long long)rows, (long long)cols, omq_context_describe(ctx));
    printf("%-6s %7s %11s %10s %14s %14s\n", "type", "bits/w", "rel. RMSE", "max |err|", "quantize GB/s", "dequant GB/s");
    int rc = 0;
    rt_args a = {.rows = rows, .cols = cols};
    omq_status st = omq_malloc(ctx, n * sizeof(float), (void **)&a.x);
    if (!st) st = omq_malloc(ctx, n * sizeof(float), (void **)&a.y);
    if (!st) st = omq_memcpy(ctx, a.x, x, n * sizeof(float), OMQ_COPY_HOST_TO_DEVICE);
    if (st) rc = cli_fail_status(ctx, st, "device buffers");
    for (int k = 0; !rc && k < ntypes; ++k) {
        a.type = types[k];
        size_t qbytes = 0;
        if ((st = omq_matrix_size(a.type, rows, cols, &qbytes))) {
            printf("%-6s (skipped: %s)\n", omq_type_name(a.type), omq_strerror(st));
            continue;
        }
        if ((st = omq_malloc(ctx, qbytes, &a.q))) {
            rc = cli_fail_status(ctx, st, "device buffer");
            break;
        }
        const double tq = best_time(ctx, do_quantize, &a, 3, &st);
        const double td = best_time(ctx, do_dequantize, &a, 3, &st);
        if (!st) st = omq_memcpy(ctx, y, a.y, n * sizeof(float), OMQ_COPY_DEVICE_TO_HOST);
        omq_free(ctx, a.q);
        if (st) {
            rc = cli_fail_status(ctx, st, omq_type_name(a.type));
            break;
        }
        double se = 0, sx = 0, emax = 0;
        for (size_t i = 0; i < n; ++i) {
            const double e = (double)y[i] - (double)x[i];
            se += e * e;
            sx += (double)x[i] * x[i];
            if (fabs(e) > emax) emax = fabs(e);
        }
        const double bits = 8.0 * (double)omq_type_block_bytes(a.type) / (double)omq_type_block_size(a.type);
        const double gb = (double)(n * sizeof(float) + qbytes) * 1e-9;
        printf("%-6s %7.3f %11.3e %10.3e %14.2f %14.2f\n", omq_type_name(a.type), bits, sqrt(se / sx), emax, gb / tq, gb / td);
    }
    omq_free(ctx, a.x);
    omq_free(ctx, a.y);
    omq_context_free(ctx);
    free(x);
    free(y);
    return rc;
}
