/* omq bench: speed of every operation on the device a context picks, against the physical
 * limit (the faster of a copy kernel and the runtime's device-to-device copy, measured at
 * start-up) and in the form peers report.
 *
 * Method: each case is warmed up, then timed >= 20 times (median), each run synchronized.
 * Modes (bench.h): cold rotates through enough copies of the operands that the working set
 * is more than twice the last-level cache (the honest HBM/DRAM figure); warm repeats the
 * same operands; queued and cold-queued time 10 calls per synchronize (as ggml's
 * test-backend-ops times). Every case checks its result against the host once, so a fast
 * wrong kernel cannot report. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"
#include "cli.h"

static int cmp_double(const void *a, const void *b) {
    const double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

double bench_median(double *v, int n) {
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

/* times fn(arg, rotation) + synchronize; returns the median seconds, or < 0 on failure */
double bench_time(bench *b, bench_fn fn, void *arg, int rotations) {
    double t[256];
    const int runs = b->runs < 256 ? b->runs : 256, q = b->per_sync > 1 ? b->per_sync : 1;
    for (int w = 0; w < 2; ++w) /* warm-up: first-touch, code loading, clocks */
        if (fn(arg, w % rotations) || omq_synchronize(b->ctx)) return -1;
    for (int r = 0; r < runs; ++r) {
        const double t0 = cli_now();
        for (int i = 0; i < q; ++i)
            if (fn(arg, (r * q + i) % rotations)) return -1;
        if (omq_synchronize(b->ctx)) return -1;
        t[r] = (cli_now() - t0) / q;
    }
    return bench_median(t, runs);
}

const char *const bench_mode_names[BENCH_NMODES] = {"cold", "warm", "queued", "cold-queued"};

void bench_row(bench *b, const char *op, const char *type, int64_t rows, int64_t k, int64_t n, const char *mode,
               const char *algo, double seconds, double bytes, double flops, const char *check) {
    const double gbs = bytes / seconds * 1e-9, tflops = flops / seconds * 1e-12;
    const double frac = b->copy_gbs > 0 ? gbs / b->copy_gbs : 0;
    if (b->csv) {
        printf("%s,%s,%s,%lld,%lld,%lld,%s,%s,%.3f,%.2f,%.4f,%.3f,%s\n", b->device, op, type, (long long)rows, (long long)k,
               (long long)n, mode, algo, seconds * 1e6, gbs, tflops, frac, check);
    } else {
        char shape[64];
        snprintf(shape, sizeof shape, "%lldx%lld", (long long)rows, (long long)k);
        printf("%-10s %-6s %-12s %4lld %-5s %-5s %10.1f %9.1f %8.3f %6.2f  %s\n", op, type, shape, (long long)n, mode,
               algo, seconds * 1e6, gbs, tflops, frac, check);
    }
    fflush(stdout);
}

static void header(bench *b) {
    if (b->csv)
        printf("device,op,type,rows,k,n,mode,algo,time_us,gb_s,tflop_s,copy_fraction,check\n");
    else
        printf("%-10s %-6s %-12s %4s %-5s %-5s %10s %9s %8s %6s  %s\n", "op", "type", "shape", "n", "mode", "algo",
               "time us", "GB/s", "TFLOP/s", "/copy", "check");
}

/* ---- yardsticks */

typedef struct {
    omq_context *ctx;
    void *dst, *src;
    size_t bytes;
} probe_arg;

static omq_status run_empty(void *p, int r) {
    (void)r;
    return omq_debug_probe(((probe_arg *)p)->ctx, OMQ_PROBE_EMPTY, NULL, NULL, 0);
}

static omq_status run_copy(void *p, int r) {
    (void)r;
    probe_arg *a = p;
    return omq_debug_probe(a->ctx, OMQ_PROBE_COPY, a->dst, a->src, a->bytes);
}

static omq_status run_driver_copy(void *p, int r) {
    (void)r;
    probe_arg *a = p;
    return omq_memcpy(a->ctx, a->dst, a->src, a->bytes, OMQ_COPY_DEVICE_TO_DEVICE);
}

static int yardsticks(bench *b) {
    probe_arg a = {b->ctx, NULL, NULL, 0};
    /* one operation, synchronized: the latency a lone call pays */
    const int saved = b->runs;
    b->runs = 200;
    b->launch_us = bench_time(b, run_empty, &a, 1) * 1e6;
    b->runs = saved;
    /* 200 queued back to back, one synchronize: the cost an operation adds in a stream */
    double t[9];
    for (int k = 0; k < 9; ++k) {
        const double t0 = cli_now();
        for (int i = 0; i < 200; ++i)
            if (run_empty(&a, 0)) return -1;
        if (omq_synchronize(b->ctx)) return -1;
        t[k] = (cli_now() - t0) / 200;
    }
    b->queued_us = bench_median(t, 9) * 1e6;
    /* copy bandwidth: 1 GiB (--copy) read + written per run (less if memory is short) */
    size_t bytes = b->copy_bytes;
    while (bytes >= ((size_t)1 << 20) && (omq_malloc(b->ctx, bytes, &a.src) || omq_malloc(b->ctx, bytes, &a.dst))) {
        omq_free(b->ctx, a.src);
        a.src = NULL;
        bytes /= 2;
    }
    if (!a.src || !a.dst) return cli_fail("bench: no memory for the copy yardstick"), -1;
    a.bytes = bytes;
    b->runs = 5;
    const double s = bench_time(b, run_copy, &a, 1);
    /* the runtime's own copy too: omq's kernel read ~0.81 of CuPy's device-to-device copy
     * on an H100, and a yardstick below the device's real copy speed flatters every fraction */
    const double sd = s > 0 ? bench_time(b, run_driver_copy, &a, 1) : -1;
    b->runs = saved;
    omq_free(b->ctx, a.src);
    omq_free(b->ctx, a.dst);
    if (s <= 0 || sd <= 0) return -1;
    b->kernel_copy_gbs = 2.0 * (double)bytes / s * 1e-9;
    b->driver_copy_gbs = 2.0 * (double)bytes / sd * 1e-9;
    b->copy_gbs = b->kernel_copy_gbs > b->driver_copy_gbs ? b->kernel_copy_gbs : b->driver_copy_gbs;
    if (b->csv) {
        printf("# device,%s\n# launch_us,%.2f\n# queued_us,%.2f\n# copy_gb_s,%.1f\n# kernel_copy_gb_s,%.1f\n"
               "# driver_copy_gb_s,%.1f\n",
               b->device, b->launch_us, b->queued_us, b->copy_gbs, b->kernel_copy_gbs, b->driver_copy_gbs);
    } else {
        printf("device:            %s\n", b->device);
        printf("empty kernel:      %.1f us a call with synchronize, %.1f us each when queued\n", b->launch_us,
               b->queued_us);
        printf("copy:              %.1f GB/s OpenMP kernel, %.1f GB/s the runtime's device-to-device copy\n"
               "                   (%zu MiB read + written; /copy is of the faster)\n",
               b->kernel_copy_gbs, b->driver_copy_gbs, bytes >> 20);
        printf("cold working set:  > %zu MiB\n\n", (2 * b->llc_bytes) >> 20);
    }
    return 0;
}

/* ---- quantize / dequantize */

typedef struct {
    omq_context *ctx;
    omq_type type, out;
    int64_t rows, cols;
    float **x;    /* rotations of the float side */
    void **q;     /* rotations of the block side */
} conv_arg;

static omq_status run_quantize(void *p, int r) {
    conv_arg *a = p;
    return omq_quantize(a->ctx, a->type, a->x[r], a->q[r], a->rows, a->cols, NULL);
}

static omq_status run_dequantize(void *p, int r) {
    conv_arg *a = p;
    return omq_dequantize(a->ctx, a->type, a->q[r], a->out, a->x[r], a->rows, a->cols);
}

/* cold: rotations so that one pass over them is more than twice the LLC */
int bench_mode(bench *b, int mode, size_t set_bytes) {
    b->per_sync = mode == BENCH_QUEUED || mode == BENCH_COLD_QUEUED ? 10 : 1;
    if (mode != BENCH_COLD && mode != BENCH_COLD_QUEUED) return 1;
    size_t n = (2 * b->llc_bytes) / (set_bytes ? set_bytes : 1) + 1;
    return n > 64 ? 64 : (int)n;
}

/* The first `check_rows` rows of the device result equal the host's (bytes for quantize;
 * dequantize output is bit-exact too). */
static const char *check_conversion(bench *b, conv_arg *a, const float *hx, int quantize) {
    omq_context *host = b->host;
    const int64_t rows = a->rows < 64 ? a->rows : 64;
    size_t qbytes = 0;
    omq_matrix_size(a->type, rows, a->cols, &qbytes);
    const size_t fbytes = (size_t)(rows * a->cols) * (a->out == OMQ_TYPE_F16 ? 2 : 4);
    unsigned char *want = malloc(quantize ? qbytes : fbytes), *got = malloc(quantize ? qbytes : fbytes);
    unsigned char *q = malloc(qbytes);
    int ok = want && got && q;
    if (ok && quantize) {
        ok = !omq_quantize(host, a->type, hx, want, rows, a->cols, NULL) && !omq_synchronize(host) &&
             !omq_memcpy(a->ctx, got, a->q[0], qbytes, OMQ_COPY_DEVICE_TO_HOST) && !memcmp(got, want, qbytes);
    } else if (ok) {
        ok = !omq_memcpy(a->ctx, q, a->q[0], qbytes, OMQ_COPY_DEVICE_TO_HOST) &&
             !omq_dequantize(host, a->type, q, a->out, want, rows, a->cols) && !omq_synchronize(host) &&
             !omq_memcpy(a->ctx, got, a->x[0], fbytes, OMQ_COPY_DEVICE_TO_HOST) && !memcmp(got, want, fbytes);
    }
    free(want);
    free(got);
    free(q);
    return ok ? "ok" : "WRONG";
}

static int bench_conversions(bench *b, omq_type t, int64_t rows, int64_t cols) {
    size_t qbytes = 0;
    if (omq_matrix_size(t, rows, cols, &qbytes)) return 0; /* shape not valid for this type */
    const size_t fbytes = (size_t)(rows * cols) * sizeof(float);
    /* host data: one random matrix, uploaded into every rotation */
    float *hx = malloc(fbytes);
    if (!hx) return cli_fail("bench: out of host memory"), -1;
    uint64_t s = 0x9E3779B97F4A7C15ULL * (uint64_t)(rows + cols);
    for (size_t i = 0; i < (size_t)(rows * cols); ++i) {
        s ^= s << 13, s ^= s >> 7, s ^= s << 17;
        hx[i] = (float)((double)(s >> 11) * 0x1.0p-53 * 4.0 - 2.0);
    }
    int rc = 0;
    for (int mode = 0; mode < BENCH_NMODES && !rc; ++mode) {
        if (b->only_mode >= 0 && b->only_mode != mode) continue;
        const int rot = bench_mode(b, mode, fbytes + qbytes);
        conv_arg a = {b->ctx, t, OMQ_TYPE_F32, rows, cols, calloc((size_t)rot, sizeof(float *)),
                      calloc((size_t)rot, sizeof(void *))};
        int made = 0;
        for (; made < rot; ++made) {
            if (omq_malloc(b->ctx, fbytes, (void **)&a.x[made]) || omq_malloc(b->ctx, qbytes, &a.q[made]) ||
                omq_memcpy(b->ctx, a.x[made], hx, fbytes, OMQ_COPY_HOST_TO_DEVICE))
                break;
        }
        if (made < rot) {
            rc = cli_fail("bench: not enough device memory for %d rotations of %s %lldx%lld", rot, omq_type_name(t),
                          (long long)rows, (long long)cols);
        } else {
            const char *mname = bench_mode_names[mode];
            double sec = bench_time(b, run_quantize, &a, rot);
            const char *chk = sec > 0 ? check_conversion(b, &a, hx, 1) : "FAILED";
            bench_row(b, "quantize", omq_type_name(t), rows, cols, 1, mname, "-", sec, (double)(fbytes + qbytes), 0, chk);
            for (int f16 = 0; f16 < 2 && sec > 0; ++f16) {
                a.out = f16 ? OMQ_TYPE_F16 : OMQ_TYPE_F32;
                const double out_bytes = (double)(rows * cols) * (f16 ? 2 : 4);
                double sd = bench_time(b, run_dequantize, &a, rot);
                chk = sd > 0 ? check_conversion(b, &a, hx, 0) : "FAILED";
                bench_row(b, f16 ? "deq-f16" : "deq-f32", omq_type_name(t), rows, cols, 1, mname, "-", sd,
                          (double)qbytes + out_bytes, 0, chk);
            }
        }
        for (int i = 0; i < made || (i < rot && (a.x[i] || a.q[i])); ++i) {
            omq_free(b->ctx, a.x[i]);
            omq_free(b->ctx, a.q[i]);
        }
        free(a.x);
        free(a.q);
    }
    free(hx);
    return rc;
}

/* ---- command line */

static int usage(FILE *f) {
    fprintf(f,
            "usage: omq bench [--device auto|host|fallback|N] [--op all|convert|gemv|batch|gemm]\n"
            "                 [--type T[,T...]|all] [--shape RxK]... [--runs N]\n"
            "                 [--mode cold|warm|queued|cold-queued|all]\n"
            "                 [--algo auto|dmmv|mmvq|mmq|gemm] [--x f32|q8_1] [--llc MiB] [--copy MiB] [--csv]\n"
            "  defaults: all operations and types, shapes 4096x4096 14336x4096 4096x14336 128256x4096,\n"
            "  20 runs, all modes, the algorithm omq_matmul_choose picks; gemv: n = 1, batch: n = 2, 4, 8,\n"
            "  gemm: n = 512; --llc: last-level cache size (GPU default 64 MiB, host: from sysfs);\n"
            "  --copy: bytes of the copy yardstick (default 1024 MiB); --x q8_1: products take X\n"
            "  already quantized (omq_matmul with Q8_1 X: one kernel a call, no quantization of X).\n"
            "  Each gemv case is followed by a `read` row: a kernel that only reads the same W, timed\n"
            "  the same way (the best a GEMV could do)\n");
    return f == stdout ? 0 : 2;
}

static size_t host_llc(void) {
    size_t best = 0;
    for (int i = 0; i < 8; ++i) {
        char path[128], buf[64];
        snprintf(path, sizeof path, "/sys/devices/system/cpu/cpu0/cache/index%d/size", i);
        FILE *f = fopen(path, "r");
        if (!f) continue;
        if (fgets(buf, sizeof buf, f)) {
            char *end;
            size_t v = strtoull(buf, &end, 10);
            if (*end == 'K') v <<= 10;
            else if (*end == 'M') v <<= 20;
            if (v > best) best = v;
        }
        fclose(f);
    }
    return best ? best : (size_t)32 << 20;
}

int cmd_bench(int argc, char **argv) {
    bench b = {.runs = 20, .only_mode = -1, .copy_bytes = (size_t)1 << 30};
    int device = OMQ_DEVICE_AUTO;
    const char *op = "all", *types = "all", *v;
    int64_t shapes[16][2], nshapes = 0, llc_mib = 0;
    for (int i = 1; i < argc;) {
        if (!strcmp(argv[i], "--help")) return usage(stdout);
        if (!strcmp(argv[i], "--csv")) {
            b.csv = 1;
            ++i;
        } else if (cli_opt(argc, argv, &i, "--device", &v)) {
            if (cli_parse_device(v, &device)) return cli_fail("--device: bad value '%s'", v), 2;
        } else if (cli_opt(argc, argv, &i, "--algo", &v)) {
            if (omq_algo_from_name(v, &b.algo)) return cli_fail("--algo: auto, dmmv, mmvq, mmq or gemm"), 2;
        } else if (cli_opt(argc, argv, &i, "--x", &v)) {
            if (strcmp(v, "f32") && strcmp(v, "q8_1")) return cli_fail("--x: f32 or q8_1"), 2;
            b.x_q8_1 = !strcmp(v, "q8_1");
        } else if (cli_opt(argc, argv, &i, "--op", &v)) {
            op = v;
        } else if (cli_opt(argc, argv, &i, "--type", &v)) {
            types = v;
        } else if (cli_opt(argc, argv, &i, "--runs", &v)) {
            int64_t r;
            if (cli_parse_i64(v, &r) || r < 20 || r > 256) return cli_fail("--runs: 20..256"), 2;
            b.runs = (int)r;
        } else if (cli_opt(argc, argv, &i, "--mode", &v)) {
            b.only_mode = -2;
            for (int m = 0; m < BENCH_NMODES; ++m)
                if (!strcmp(v, bench_mode_names[m])) b.only_mode = m;
            if (!strcmp(v, "all")) b.only_mode = -1;
            if (b.only_mode == -2) return cli_fail("--mode: cold, warm, queued, cold-queued or all"), 2;
        } else if (cli_opt(argc, argv, &i, "--copy", &v)) {
            int64_t mib;
            if (cli_parse_i64(v, &mib) || mib > 65536) return cli_fail("--copy: MiB, 1..65536"), 2;
            b.copy_bytes = (size_t)mib << 20;
        } else if (cli_opt(argc, argv, &i, "--llc", &v)) {
            if (cli_parse_i64(v, &llc_mib)) return cli_fail("--llc: MiB"), 2;
        } else if (cli_opt(argc, argv, &i, "--shape", &v)) {
            long long r, k;
            char x;
            if (nshapes == 16 || sscanf(v, "%lld%c%lld", &r, &x, &k) != 3 || (x != 'x' && x != 'X') || r <= 0 || k <= 0)
                return cli_fail("--shape: RxK, e.g. 4096x14336 (at most 16)"), 2;
            shapes[nshapes][0] = r;
            shapes[nshapes++][1] = k;
        } else {
            return cli_fail("unexpected argument %s", argv[i]), usage(stderr);
        }
    }
    if (!nshapes) {
        static const int64_t def[4][2] = {{4096, 4096}, {14336, 4096}, {4096, 14336}, {128256, 4096}};
        memcpy(shapes, def, sizeof def);
        nshapes = 4;
    }
    omq_type list[32];
    int ntypes = 0;
    if (!strcmp(types, "all")) {
        for (int t = 0; t < 32; ++t)
            if (omq_type_is_valid(t) && t != OMQ_TYPE_F32 && t != OMQ_TYPE_Q8_1 && t != OMQ_TYPE_Q8_K) list[ntypes++] = (omq_type)t;
    } else {
        char buf[256];
        snprintf(buf, sizeof buf, "%s", types);
        for (char *tok = strtok(buf, ","); tok && ntypes < 32; tok = strtok(NULL, ","))
            if (cli_parse_type(tok, &list[ntypes++])) return 2;
    }
    b.ctx = cli_context(device);
    if (!b.ctx || omq_context_create(&b.host, OMQ_DEVICE_HOST)) return 1;
    snprintf(b.device, sizeof b.device, "%s", omq_context_describe(b.ctx));
    for (char *c = b.device; *c; ++c)
        if (*c == ',') *c = ';'; /* CSV-safe */
    b.llc_bytes = llc_mib ? (size_t)llc_mib << 20 : omq_context_device(b.ctx) >= 0 ? (size_t)64 << 20 : host_llc();
    int rc = yardsticks(&b) ? 1 : 0;
    if (!rc) header(&b);
    const int all = !strcmp(op, "all");
    for (int64_t s = 0; !rc && s < nshapes; ++s) {
        for (int k = 0; !rc && k < ntypes; ++k) {
            if (all || !strcmp(op, "convert")) rc = bench_conversions(&b, list[k], shapes[s][0], shapes[s][1]);
            if (!rc && (all || strcmp(op, "convert"))) rc = bench_products(&b, op, list[k], shapes[s][0], shapes[s][1]);
        }
    }
    omq_context_free(b.host);
    omq_context_free(b.ctx);
    return rc;
}
