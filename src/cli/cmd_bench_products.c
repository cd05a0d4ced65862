/* omq bench, matrix products: GEMV (n = 1), small batches (n = 2, 4, 8) and GEMM (n = 512)
 * through omq_matmul with the algorithm AUTO picks (or --algo). Weights are random floats
 * quantized on the benchmarked device (X too with --x q8_1); cold mode rotates through copies
 * of W, X and Y. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"
#include "cli.h"

typedef struct {
    omq_context *ctx;
    omq_type type;
    omq_algo algo;
    omq_type xtype;
    int64_t rows, k, n;
    void **w, **x;
    float **y;
} mm_arg;

static omq_status run_matmul(void *p, int r) {
    mm_arg *a = p;
    return omq_matmul(a->ctx, a->type, a->w[r], a->rows, a->k, a->xtype, a->x[r], a->n, a->y[r], a->algo);
}

/* the read yardstick over the same rotations of W: what a GEMV that reads W and nothing else,
 * launched the same way, could take at best */
typedef struct {
    omq_context *ctx;
    void *dst;
    void **w;
    size_t bytes;
} read_arg;

static omq_status run_read(void *p, int r) {
    read_arg *a = p;
    return omq_debug_probe(a->ctx, OMQ_PROBE_READ, a->dst, a->w[r], a->bytes);
}

static void fill_random(float *v, size_t count, uint64_t seed) {
    uint64_t s = 0x9E3779B97F4A7C15ULL ^ seed;
    for (size_t i = 0; i < count; ++i) {
        s ^= s << 13, s ^= s >> 7, s ^= s << 17;
        v[i] = (float)((double)(s >> 11) * 0x1.0p-53 * 2.0 - 1.0);
    }
}

/* The first rows of Y against the host's omq_matmul with the same algorithm on the same
 * data: the two differ only in the order of float additions, so each element must be within
 * 1e-3 of sum_k |w_k x_k| (far above rounding, far below what a wrong kernel gives). */
static const char *check_product(bench *b, mm_arg *a, const float *hx) {
    const int64_t rows = a->rows < 64 ? a->rows : 64, k = a->k, n = a->n;
    size_t wbytes = 0;
    omq_matrix_size(a->type, rows, k, &wbytes);
    void *w = malloc(wbytes);
    float *wv = malloc(sizeof(float) * (size_t)(rows * k)), *want = malloc(sizeof(float) * (size_t)(n * rows));
    float *got = malloc(sizeof(float) * (size_t)(n * a->rows));
    int ok = w && wv && want && got;
    /* W's first rows are contiguous at the start of rotation 0 */
    ok = ok && !omq_memcpy(a->ctx, w, a->w[0], wbytes, OMQ_COPY_DEVICE_TO_HOST) &&
         !omq_memcpy(a->ctx, got, a->y[0], sizeof(float) * (size_t)(n * a->rows), OMQ_COPY_DEVICE_TO_HOST) &&
         !omq_dequantize(b->host, a->type, w, OMQ_TYPE_F32, wv, rows, k) &&
         !omq_matmul(b->host, a->type, w, rows, k, OMQ_TYPE_F32, hx, n, want, a->algo) && !omq_synchronize(b->host);
    for (int64_t j = 0; ok && j < n; ++j)
        for (int64_t i = 0; ok && i < rows; ++i) {
            double mag = 0;
            for (int64_t q = 0; q < k; ++q) mag += fabs((double)wv[i * k + q] * hx[j * k + q]);
            const double d = fabs((double)got[j * a->rows + i] - want[j * rows + i]);
            ok = d <= 1e-3 * mag + 1e-30;
        }
    free(w);
    free(wv);
    free(want);
    free(got);
    return ok ? "ok" : "WRONG";
}

static int bench_one(bench *b, omq_type t, int64_t rows, int64_t k, int64_t n, const char *opname) {
    size_t wbytes = 0;
    if (omq_matrix_size(t, rows, k, &wbytes)) return 0; /* shape not valid for this type */
    const omq_type xtype = b->x_q8_1 ? OMQ_TYPE_Q8_1 : OMQ_TYPE_F32;
    omq_algo algo = b->algo;
    if (algo == OMQ_ALGO_AUTO && b->x_q8_1) algo = n <= 8 ? OMQ_ALGO_MMVQ : OMQ_ALGO_MMQ; /* what AUTO takes */
    if (algo == OMQ_ALGO_AUTO && omq_matmul_choose(b->ctx, t, rows, k, n, &algo)) return 0;
    if (omq_matmul_workspace_size(b->ctx, t, rows, k, xtype, n, algo, &(size_t){0}))
        return 0; /* e.g. mmvq forced on f16 weights */
    const size_t fxbytes = sizeof(float) * (size_t)(n * k), ybytes = sizeof(float) * (size_t)(n * rows);
    size_t xbytes = fxbytes;
    if (b->x_q8_1 && omq_matrix_size(OMQ_TYPE_Q8_1, n, k, &xbytes)) return 0;
    /* W: random floats quantized on the device, a slab of rows at a time */
    float *hx = malloc(fxbytes);
    const int64_t slab = rows < 4096 ? rows : 4096;
    float *hw = malloc(sizeof(float) * (size_t)(slab * k));
    void *dw0 = NULL, *dslab = NULL;
    if (!hx || !hw) return free(hx), free(hw), cli_fail("bench: out of host memory"), -1;
    fill_random(hx, (size_t)(n * k), (uint64_t)(n * k));
    int rc = 0;
    const size_t sbytes = sizeof(float) * (size_t)(slab * k) > fxbytes ? sizeof(float) * (size_t)(slab * k) : fxbytes;
    if (omq_malloc(b->ctx, wbytes, &dw0) || omq_malloc(b->ctx, sbytes, &dslab))
        rc = cli_fail("bench: not enough device memory for %s %lldx%lld", omq_type_name(t), (long long)rows,
                      (long long)k);
    size_t row_bytes = 0;
    omq_matrix_size(t, 1, k, &row_bytes);
    for (int64_t r0 = 0; !rc && r0 < rows; r0 += slab) {
        const int64_t nr = rows - r0 < slab ? rows - r0 : slab;
        fill_random(hw, (size_t)(nr * k), (uint64_t)r0 + 1);
        if (omq_memcpy(b->ctx, dslab, hw, sizeof(float) * (size_t)(nr * k), OMQ_COPY_HOST_TO_DEVICE) ||
            omq_quantize(b->ctx, t, dslab, (char *)dw0 + (size_t)r0 * row_bytes, nr, k, NULL) || omq_synchronize(b->ctx))
            rc = cli_fail_status(b->ctx, OMQ_ERR_DEVICE, "bench: preparing the weights");
    }
    /* X as the products take it: floats, or (--x q8_1) quantized here once */
    void *dx0 = NULL;
    if (!rc && (omq_malloc(b->ctx, xbytes, &dx0) ||
                (b->x_q8_1 ? omq_memcpy(b->ctx, dslab, hx, fxbytes, OMQ_COPY_HOST_TO_DEVICE) ||
                                 omq_quantize(b->ctx, OMQ_TYPE_Q8_1, dslab, dx0, n, k, NULL)
                           : omq_memcpy(b->ctx, dx0, hx, fxbytes, OMQ_COPY_HOST_TO_DEVICE)) ||
                omq_synchronize(b->ctx)))
        rc = cli_fail_status(b->ctx, OMQ_ERR_DEVICE, "bench: preparing X");
    omq_free(b->ctx, dslab);
    free(hw);
    void *rdst = NULL; /* the read yardstick's 16 bytes (GEMV only; none: no read rows) */
    if (!rc && n == 1 && omq_malloc(b->ctx, 16, &rdst)) rdst = NULL;
    for (int mode = 0; mode < BENCH_NMODES && !rc; ++mode) {
        if (b->only_mode >= 0 && b->only_mode != mode) continue;
        const int rot = bench_mode(b, mode, wbytes + xbytes + ybytes);
        mm_arg a = {b->ctx, t, algo, xtype, rows, k, n, calloc((size_t)rot, sizeof(void *)),
                    calloc((size_t)rot, sizeof(void *)), calloc((size_t)rot, sizeof(float *))};
        int made = 0;
        if (a.w && a.x && a.y) {
            a.w[0] = dw0;
            for (; made < rot; ++made) {
                if ((made && (omq_malloc(b->ctx, wbytes, &a.w[made]) ||
                              omq_memcpy(b->ctx, a.w[made], dw0, wbytes, OMQ_COPY_DEVICE_TO_DEVICE))) ||
                    omq_malloc(b->ctx, xbytes, &a.x[made]) || omq_malloc(b->ctx, ybytes, (void **)&a.y[made]) ||
                    omq_memcpy(b->ctx, a.x[made], dx0, xbytes, OMQ_COPY_DEVICE_TO_DEVICE))
                    break;
            }
        }
        if (made < rot) {
            rc = cli_fail("bench: not enough device memory for %d rotations of %s %lldx%lld", rot, omq_type_name(t),
                          (long long)rows, (long long)k);
        } else {
            const double sec = bench_time(b, run_matmul, &a, rot);
            const char *chk = sec > 0 ? check_product(b, &a, hx) : "FAILED";
            bench_row(b, opname, omq_type_name(t), rows, k, n, bench_mode_names[mode], omq_algo_name(algo), sec,
                      (double)(wbytes + xbytes + ybytes), 2.0 * (double)rows * (double)k * (double)n, chk);
            if (rdst && sec > 0) {
                read_arg ra = {b->ctx, rdst, a.w, wbytes & ~(size_t)15};
                /* a failed probe (e.g. a libomq without OMQ_PROBE_READ) shows as a FAILED row */
                const double rs = bench_time(b, run_read, &ra, rot);
                bench_row(b, "read", omq_type_name(t), rows, k, n, bench_mode_names[mode], "read", rs,
                          (double)ra.bytes, 0, rs > 0 ? "-" : "FAILED");
            }
        }
        for (int i = 0; i < rot && a.w && a.x && a.y; ++i) {
            if (i) omq_free(b->ctx, a.w[i]);
            omq_free(b->ctx, a.x[i]);
            omq_free(b->ctx, a.y[i]);
        }
        free(a.w);
        free(a.x);
        free(a.y);
    }
    omq_free(b->ctx, rdst);
    omq_free(b->ctx, dw0);
    omq_free(b->ctx, dx0);
    free(hx);
    return rc;
}

int bench_products(bench *b, const char *op, omq_type type, int64_t rows, int64_t k) {
    static const struct {
        const char *op;
        int64_t n;
    } cases[] = {{"gemv", 1}, {"batch", 2}, {"batch", 4}, {"batch", 8}, {"gemm", 512}};
    const int all = !strcmp(op, "all");
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; ++c) {
        if (!all && strcmp(op, cases[c].op)) continue;
        const int rc = bench_one(b, type, rows, k, cases[c].n, cases[c].op);
        if (rc) return rc;
    }
    return 0;
}
