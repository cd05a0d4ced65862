/* omq_matmul on every device: each algorithm x each weight type against float64 references,
 * on fresh random data every run (seed printed; OMQ_TEST_SEED repeats a run), with Y
 * poisoned (NaN bytes) before every call so an unwritten element shows.
 *
 * Weights are random blocks (random quant bits, random moderate scales), which reach every
 * quant value and scale code. The references, per output y = Y[j][i]:
 *   ref_f = sum_k w_k x_k      w = omq_dequantize(W) on the host (bit-identical with ggml),
 *                              x = X as given (F16 X: its exact float values)
 *   ref_q = sum_k w_k xq_k     xq = X quantized to Q8_1 by omq_quantize on the host and
 *                              dequantized (q * d, exact): what the Q8_1 kernels multiply
 * and the bounds, derived from the arithmetic (u = 2^-24, gamma(m) = m u / (1 - m u)):
 *   float paths (dmmv, gemm): the kernels multiply the same float w (same dequantizer, no
 *     contraction) by x, both exact in float32, and add K products in some order:
 *       |y - ref_f| <= gamma(K) sum_k |w_k x_k|                          (+ 1e-30)
 *   Q8_1 paths (mmvq, mmq), tight: per 32-value group an exact integer dot product (well
 *     below 2^24, so exact in float), then at most 10 float operations per weight block
 *     (d8 * sum, 8 group sums, d * ., minus the min part) and a chain of at most 2 nb
 *     additions across blocks and lanes (nb = K / 32); the reference's w carries up to 3
 *     roundings of the dequantizer, and mag (below) one more. With mag_k = |d sc q_k| +
 *     |dmin m| (the scale part and the min part of w_k, which the kernels add up
 *     separately; mag = |w| for formats without a minimum):
 *       |y - ref_q| <= gamma(2 nb + 16) sum_k mag_k |xq_k|                 (+ 1e-30)
 *   Q8_1 paths against ref_f: add the quantization error of X, with e_k the per-element
 *     bound of Q8_1 (half a step plus the fp16 rounding of d times |q| <= 127, d = amax/127):
 *       |y - ref_f| <= tight bound + sum_k |w_k| e_k
 * All algorithms agree with each other within the sum of their bounds, and every device
 * with the host within twice its (tight) bound. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "omq.h"
#include "support.h"

static const omq_algo algos[] = {OMQ_ALGO_DMMV, OMQ_ALGO_MMVQ, OMQ_ALGO_MMQ, OMQ_ALGO_GEMM};
#define NALGO 4

/* Every value of rows {1, 7, 64, 257, 4096}, K {1 block, 3 blocks, 4096, 11008} and n
 * {1, 2, 3, 7, 8, 9, 16, 64, 300, 512} occurs for every (type, algorithm); large rows x K
 * only with small n. K < 0 means -K blocks. X is F16 for odd entries, F32 for even ones. */
static const struct { int64_t rows, K, n; } shapes[] = {
    {4096, 4096, 1}, {4096, -3, 2}, {257, 11008, 3}, {7, 11008, 7},  {64, 4096, 8},
    {1, 4096, 9},    {257, -1, 16}, {64, -3, 64},    {7, 4096, 300}, {64, -3, 512}, {5, 20480, 2},
};
#define NSHAPE (sizeof shapes / sizeof shapes[0])

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static double gamma_u(double m) {
    const double u = 0x1.0p-24;
    return m * u / (1 - m * u);
}

static float fp16_round(float v) { return (float)(_Float16)v; }

static uint16_t fp16_bits(float v) {
    _Float16 h = (_Float16)v;
    uint16_t b;
    memcpy(&b, &h, 2);
    return b;
}

/* Byte offsets of a block's float scales: d (fp16, or float32 for Q8_K), the min scale
 * (m or dmin, -1 if none) and an unused fp16 field to keep finite (Q8_1's s). */
typedef struct { int d, min, other; } scale_fields;

static scale_fields fields(omq_type t) {
    switch (t) {
    case OMQ_TYPE_Q4_1: case OMQ_TYPE_Q5_1: case OMQ_TYPE_Q4_K: case OMQ_TYPE_Q5_K:
        return (scale_fields){0, 2, -1};
    case OMQ_TYPE_Q8_1: return (scale_fields){0, -1, 2};
    case OMQ_TYPE_Q2_K: return (scale_fields){80, 82, -1};
    case OMQ_TYPE_Q3_K: return (scale_fields){108, -1, -1};
    case OMQ_TYPE_Q6_K: return (scale_fields){208, -1, -1};
    default: return (scale_fields){0, -1, -1}; /* Q4_0 Q5_0 Q8_0 Q8_K */
    }
}

static void put16(uint8_t *p, float v) {
    const uint16_t b = fp16_bits(v);
    memcpy(p, &b, 2);
}

/* A random scale of moderate size, either sign: weights of order 0.01 .. 10. */
static float rand_scale(ts_rng *r) {
    return (ts_next(r) & 1 ? -1.0f : 1.0f) * ts_uniform(r, 0.5f, 1.0f) * ldexpf(1.0f, -(int)(4 + ts_next(r) % 7));
}

/* rows x K random weights of type t in `w` (block bytes). */
static void random_weights(ts_rng *r, omq_type t, uint8_t *w, int64_t rows, int64_t K) {
    const int64_t bs = omq_type_block_size(t);
    const size_t bb = omq_type_block_bytes(t);
    const int64_t nblocks = rows * (K / bs);
    if (t == OMQ_TYPE_F32 || t == OMQ_TYPE_F16) {
        for (int64_t i = 0; i < nblocks; ++i) {
            const float v = ts_uniform(r, -2, 2);
            if (t == OMQ_TYPE_F32) memcpy(w + 4 * i, &v, 4);
            else put16(w + 2 * i, v);
        }
        return;
    }
    const scale_fields f = fields(t);
    for (int64_t i = 0; i < nblocks; ++i) {
        uint8_t *b = w + i * bb;
        for (size_t k = 0; k < bb; k += 8) {
            const uint64_t v = ts_next(r);
            memcpy(b + k, &v, bb - k < 8 ? bb - k : 8);
        }
        if (t == OMQ_TYPE_Q8_K) {
            const float d = rand_scale(r) / 64;
            memcpy(b, &d, 4);
        } else {
            put16(b + f.d, rand_scale(r) / (bs == 32 ? 1 : 64));
        }
        if (f.min >= 0) put16(b + f.min, rand_scale(r) / (bs == 32 ? 1 : 16));
        if (f.other >= 0) put16(b + f.other, rand_scale(r));
    }
}

static void dequantize_host(omq_context *host, omq_type t, const void *w, float *out, int64_t rows, int64_t K) {
    assert_int_equal(omq_dequantize(host, t, w, OMQ_TYPE_F32, out, rows, K), OMQ_OK);
    assert_int_equal(omq_synchronize(host), OMQ_OK);
}

/* mag_k = |scale part| + |min part| of each weight: the block dequantized with the min scale
 * zeroed, and with d zeroed. */
/* Bytes of a block holding quants stored with an offset (value = scale * (q - offset)), or
 * {0, 0}: the x86 host kernels (src/cpu/) multiply the unsigned q and take the offset out
 * through X's integer sums, so their terms are bounded by |w| + 2 |scale * offset|. */
static void offset_quants(omq_type t, int *q0, int *q1) {
    switch (t) {
    case OMQ_TYPE_Q4_0: *q0 = 2, *q1 = 18; break;
    case OMQ_TYPE_Q5_0: *q0 = 2, *q1 = 22; break;
    case OMQ_TYPE_Q3_K: *q0 = 0, *q1 = 96; break;  /* hmask, qs */
    case OMQ_TYPE_Q6_K: *q0 = 0, *q1 = 192; break; /* ql, qh */
    default: *q0 = *q1 = 0; break;
    }
}

static void weight_magnitudes(omq_context *host, omq_type t, const uint8_t *w, const float *wv, float *mag,
                              int64_t rows, int64_t K) {
    const scale_fields f = fields(t);
    const int64_t n = rows * K;
    const size_t bb = omq_type_block_size(t) > 1 ? omq_type_block_bytes(t) : 0;
    const int64_t nblocks = bb ? n / omq_type_block_size(t) : 0;
    int q0, q1;
    offset_quants(t, &q0, &q1);
    if (f.min < 0 && q0 == q1) {
        for (int64_t i = 0; i < n; ++i) mag[i] = fabsf(wv[i]);
        return;
    }
    uint8_t *tmp = malloc(nblocks * bb);
    float *part = malloc(sizeof(float) * n);
    assert_non_null(tmp);
    assert_non_null(part);
    memcpy(tmp, w, nblocks * bb);
    if (f.min < 0) {
        /* quants 0: every value is -scale * offset */
        for (int64_t i = 0; i < nblocks; ++i) memset(tmp + i * bb + q0, 0, (size_t)(q1 - q0));
        dequantize_host(host, t, tmp, part, rows, K);
        for (int64_t i = 0; i < n; ++i) mag[i] = fabsf(wv[i]) + 2 * fabsf(part[i]);
        free(tmp);
        free(part);
        return;
    }
    for (int64_t i = 0; i < nblocks; ++i) memset(tmp + i * bb + f.min, 0, 2);
    dequantize_host(host, t, tmp, part, rows, K);
    for (int64_t i = 0; i < n; ++i) mag[i] = fabsf(part[i]);
    memcpy(tmp, w, nblocks * bb);
    for (int64_t i = 0; i < nblocks; ++i) memset(tmp + i * bb + f.d, 0, 2);
    dequantize_host(host, t, tmp, part, rows, K);
    for (int64_t i = 0; i < n; ++i) mag[i] += fabsf(part[i]);
    free(tmp);
    free(part);
}

/* The per-element error bound of Q8_1 for a block of 32 values. */
static double q8_1_bound(const float *x) {
    float amax = 0;
    for (int j = 0; j < 32; ++j) amax = fabsf(x[j]) > amax ? fabsf(x[j]) : amax;
    const float d = amax / 127;
    return d / 2.0 + 127 * fabs((double)fp16_round(d) - d) + 1e-6 * amax + 1e-37;
}

typedef struct {
    double *ref_f, *bound_f;   /* float paths */
    double *ref_q, *bound_qt;  /* Q8_1 paths, tight: same quantized X */
    double *bound_q;           /* Q8_1 paths against ref_f */
} refs;

static void compute_refs(const float *w, const float *mag, const float *x, const float *xq, const double *e,
                         int64_t rows, int64_t K, int64_t n, refs *R) {
    const double gf = gamma_u((double)K), gq = gamma_u(2.0 * (double)(K / 32) + 16);
    for (int64_t j = 0; j < n; ++j) {
        const float *xj = x + j * K, *xqj = xq + j * K;
        const double *ej = e + j * K;
        for (int64_t i = 0; i < rows; ++i) {
            const float *wi = w + i * K, *mi = mag + i * K;
            double rf = 0, af = 0, rq = 0, aq = 0, eq = 0;
            for (int64_t k = 0; k < K; ++k) {
                const double wk = wi[k];
                rf += wk * xj[k];
                af += fabs(wk * xj[k]);
                rq += wk * xqj[k];
                aq += (double)mi[k] * fabs((double)xqj[k]);
                eq += fabs(wk) * ej[k];
            }
            const int64_t o = j * rows + i;
            R->ref_f[o] = rf;
            R->bound_f[o] = gf * af + 1e-30;
            R->ref_q[o] = rq;
            R->bound_qt[o] = gq * aq + 1e-30;
            R->bound_q[o] = R->bound_qt[o] + eq;
        }
    }
}

static int is_q8_1_algo(omq_algo a) { return a == OMQ_ALGO_MMVQ || a == OMQ_ALGO_MMQ; }

static void run_type(omq_type t, ts_rng *rng) {
    omq_context *host;
    assert_int_equal(omq_context_create(&host, OMQ_DEVICE_HOST), OMQ_OK);
    const int64_t bs = omq_type_block_size(t);
    const int quantized = bs > 1;
    for (size_t s = 0; s < NSHAPE; ++s) {
        const int64_t rows = shapes[s].rows, n = shapes[s].n;
        const int64_t K = shapes[s].K < 0 ? -shapes[s].K * bs : shapes[s].K;
        const omq_type xtype = s % 2 ? OMQ_TYPE_F16 : OMQ_TYPE_F32;
        const double t_gen = now();
        size_t wbytes;
        assert_int_equal(omq_matrix_size(t, rows, K, &wbytes), OMQ_OK);
        uint8_t *w = malloc(wbytes);
        float *wv = malloc(sizeof(float) * rows * K), *mag = malloc(sizeof(float) * rows * K);
        float *x = malloc(sizeof(float) * n * K), *xq = malloc(sizeof(float) * n * K);
        uint16_t *xh = malloc(2 * n * K);
        double *e = malloc(sizeof(double) * n * K);
        void *xq8 = NULL; /* X as Q8_1 blocks (quantized types) */
        assert_true(w && wv && mag && x && xq && xh && e);
        random_weights(rng, t, w, rows, K);
        dequantize_host(host, t, w, wv, rows, K);
        weight_magnitudes(host, t, w, wv, mag, rows, K);

        /* X: uniform at a random scale; some 32-value blocks all zero (Q8_1's d = 0) */
        const float sigma = powf(10.0f, ts_uniform(rng, -1, 1));
        for (int64_t k = 0; k < n * K; ++k) x[k] = ts_uniform(rng, -sigma, sigma);
        if (K % 32 == 0)
            for (int64_t b = 0; b < n * K / 32; ++b)
                if (ts_next(rng) % 16 == 0) memset(x + 32 * b, 0, 32 * sizeof(float));
        if (xtype == OMQ_TYPE_F16)
            for (int64_t k = 0; k < n * K; ++k) {
                xh[k] = fp16_bits(x[k]);
                x[k] = fp16_round(x[k]);
            }
        if (quantized) {
            xq8 = malloc((size_t)n * (K / 32) * 36);
            assert_non_null(xq8);
            assert_int_equal(omq_quantize(host, OMQ_TYPE_Q8_1, x, xq8, n, K, NULL), OMQ_OK);
            assert_int_equal(omq_dequantize(host, OMQ_TYPE_Q8_1, xq8, OMQ_TYPE_F32, xq, n, K), OMQ_OK);
            assert_int_equal(omq_synchronize(host), OMQ_OK);
            for (int64_t b = 0; b < n * K / 32; ++b) {
                const double eb = q8_1_bound(x + 32 * b);
                for (int64_t k = 32 * b; k < 32 * (b + 1); ++k) {
                    e[k] = eb;
                    /* the bound the tolerances rest on holds for this X */
                    if (!(fabs((double)xq[k] - x[k]) <= eb))
                        fail_msg("Q8_1 of X: element %lld off by %g > %g", (long long)k, fabs((double)xq[k] - x[k]), eb);
                }
            }
        } else {
            memcpy(xq, x, sizeof(float) * n * K);
            for (int64_t k = 0; k < n * K; ++k) e[k] = 0;
        }
        refs R;
        double *buf = malloc(sizeof(double) * 5 * n * rows);
        assert_non_null(buf);
        R.ref_f = buf, R.bound_f = buf + n * rows, R.ref_q = buf + 2 * n * rows;
        R.bound_qt = buf + 3 * n * rows, R.bound_q = buf + 4 * n * rows;
        const double t_ref = now();
        compute_refs(wv, mag, x, xq, e, rows, K, n, &R);
        const double t_dev = now();
        double t_algo[8][NALGO];

        /* results per device and algorithm, for the cross-checks */
        const int ndev = ts_device_count();
        float *ys = malloc(sizeof(float) * n * rows * NALGO * ndev);
        assert_non_null(ys);
        for (int d = 0; d < ndev; ++d) {
            omq_context *ctx;
            assert_int_equal(omq_context_create(&ctx, ts_device(d)), OMQ_OK);
            const char *dev = ts_device_label(ts_device(d));
            void *dw = ts_upload(ctx, w, wbytes);
            void *dx = xtype == OMQ_TYPE_F16 ? ts_upload(ctx, xh, 2 * n * K) : ts_upload(ctx, x, sizeof(float) * n * K);
            float *dy = ts_alloc(ctx, sizeof(float) * n * rows, 0xFF);
            for (int a = 0; a < NALGO; ++a) {
                float *y = ys + (size_t)(d * NALGO + a) * n * rows;
                const omq_algo al = algos[a];
                ts_free(ctx, dy);
                dy = ts_alloc(ctx, sizeof(float) * n * rows, 0xFF);
                double t0 = now();
                const omq_status st = omq_matmul(ctx, t, dw, rows, K, xtype, dx, n, dy, al);
                if (!quantized && is_q8_1_algo(al)) {
                    assert_int_equal(st, OMQ_ERR_UNSUPPORTED);
                    assert_true(strlen(omq_context_last_error(ctx)) > 0);
                    assert_int_equal(omq_synchronize(ctx), OMQ_OK);
                    ts_download(ctx, y, dy, sizeof(float) * n * rows);
                    for (int64_t o = 0; o < n * rows; ++o) assert_true(isnan(y[o])); /* untouched */
                    continue;
                }
                if (st) fail_msg("%s %s on %s: %s: %s", omq_type_name(t), omq_algo_name(al), dev, omq_strerror(st),
                                 omq_context_last_error(ctx));
                assert_int_equal(omq_synchronize(ctx), OMQ_OK);
                if (d < 8) t_algo[d][a] = now() - t0;
                ts_download(ctx, y, dy, sizeof(float) * n * rows);
                for (int64_t o = 0; o < n * rows; ++o) {
                    const double got = y[o];
                    const double err = fabs(got - R.ref_f[o]);
                    const double bound = is_q8_1_algo(al) ? R.bound_q[o] : R.bound_f[o];
                    if (!(err <= bound))
                        fail_msg("%s %s on %s, rows %lld K %lld n %lld (x %s): Y[%lld][%lld] = %.9g, reference %.9g, "
                                 "error %.3g > bound %.3g", omq_type_name(t), omq_algo_name(al), dev, (long long)rows,
                                 (long long)K, (long long)n, omq_type_name(xtype), (long long)(o / rows),
                                 (long long)(o % rows), got, R.ref_f[o], err, bound);
                    if (is_q8_1_algo(al) && !(fabs(got - R.ref_q[o]) <= R.bound_qt[o]))
                        fail_msg("%s %s on %s, rows %lld K %lld n %lld: Y[%lld][%lld] = %.9g, reference with the same "
                                 "Q8_1 X %.9g, error %.3g > tight bound %.3g", omq_type_name(t), omq_algo_name(al), dev,
                                 (long long)rows, (long long)K, (long long)n, (long long)(o / rows),
                                 (long long)(o % rows), got, R.ref_q[o], fabs(got - R.ref_q[o]), R.bound_qt[o]);
                }
            }
            if (quantized) {
                /* X given as Q8_1 (the host's bytes): the same kernels on the same bytes as the
                 * device's own quantization of X, so bit for bit the same Y; AUTO takes them */
                void *dxq = ts_upload(ctx, xq8, (size_t)n * (K / 32) * 36);
                float *yq = malloc(sizeof(float) * n * rows);
                assert_non_null(yq);
                const omq_algo qa[] = {OMQ_ALGO_MMVQ, OMQ_ALGO_MMQ, OMQ_ALGO_AUTO};
                for (int i = 0; i < 3; ++i) {
                    const omq_algo al = qa[i] == OMQ_ALGO_AUTO ? (n <= 8 ? OMQ_ALGO_MMVQ : OMQ_ALGO_MMQ) : qa[i];
                    const float *want = ys + (size_t)(d * NALGO + (al == OMQ_ALGO_MMVQ ? 1 : 2)) * n * rows;
                    ts_free(ctx, dy);
                    dy = ts_alloc(ctx, sizeof(float) * n * rows, 0xFF);
                    const omq_status st = omq_matmul(ctx, t, dw, rows, K, OMQ_TYPE_Q8_1, dxq, n, dy, qa[i]);
                    if (st) fail_msg("%s %s, X q8_1, on %s: %s: %s", omq_type_name(t), omq_algo_name(qa[i]), dev,
                                     omq_strerror(st), omq_context_last_error(ctx));
                    assert_int_equal(omq_synchronize(ctx), OMQ_OK);
                    ts_download(ctx, yq, dy, sizeof(float) * n * rows);
                    if (memcmp(yq, want, sizeof(float) * n * rows))
                        fail_msg("%s %s on %s: X given as q8_1 gives another Y than X quantized by omq_matmul",
                                 omq_type_name(t), omq_algo_name(qa[i]), dev);
                }
                free(yq);
                ts_free(ctx, dxq);
            }
            ts_free(ctx, dw);
            ts_free(ctx, dx);
            ts_free(ctx, dy);
            omq_context_free(ctx);
        }
        if (getenv("OMQ_TEST_TIMES")) {
            printf("# %-5s %4lld x %5lld x %3lld: data %.3f s, reference %.3f s, devices %.3f s", omq_type_name(t),
                   (long long)rows, (long long)K, (long long)n, t_ref - t_gen, t_dev - t_ref, now() - t_dev);
            for (int d = 0; d < ndev && d < 8; ++d)
                for (int a = 0; a < NALGO; ++a)
                    if (quantized || !is_q8_1_algo(algos[a])) printf(" %.3f", t_algo[d][a]);
            printf("\n");
        }
        /* algorithms agree with each other, devices with the host */
        for (int d = 0; d < ndev; ++d)
            for (int a = 0; a < NALGO; ++a) {
                if (!quantized && is_q8_1_algo(algos[a])) continue;
                const float *ya = ys + (size_t)(d * NALGO + a) * n * rows;
                const float *yh = ys + (size_t)a * n * rows;
                for (int b = 0; b < a; ++b) {
                    if (!quantized && is_q8_1_algo(algos[b])) continue;
                    const float *yb = ys + (size_t)(d * NALGO + b) * n * rows;
                    for (int64_t o = 0; o < n * rows; ++o) {
                        const double ba = is_q8_1_algo(algos[a]) ? R.bound_q[o] : R.bound_f[o];
                        const double bb = is_q8_1_algo(algos[b]) ? R.bound_q[o] : R.bound_f[o];
                        if (!(fabs((double)ya[o] - yb[o]) <= ba + bb))
                            fail_msg("%s on %s: %s and %s differ by %g at %lld (bounds %g + %g)", omq_type_name(t),
                                     ts_device_label(ts_device(d)), omq_algo_name(algos[a]), omq_algo_name(algos[b]),
                                     fabs((double)ya[o] - yb[o]), (long long)o, ba, bb);
                    }
                }
                if (d == 0) continue;
                for (int64_t o = 0; o < n * rows; ++o) {
                    const double bt = is_q8_1_algo(algos[a]) ? R.bound_qt[o] : R.bound_f[o];
                    if (!(fabs((double)ya[o] - yh[o]) <= 2 * bt))
                        fail_msg("%s %s: %s and host differ by %g at %lld (2 x bound %g)", omq_type_name(t),
                                 omq_algo_name(algos[a]), ts_device_label(ts_device(d)), fabs((double)ya[o] - yh[o]),
                                 (long long)o, 2 * bt);
                }
            }
        free(ys);
        free(buf);
        free(w);
        free(wv);
        free(mag);
        free(x);
        free(xq);
        free(xh);
        free(e);
        free(xq8);
    }
    omq_context_free(host);
}

static ts_rng rng;

#define TYPE_TEST(T)                                                                               \
    static void matmul_##T(void **state) {                                                         \
        (void)state;                                                                               \
        run_type(OMQ_TYPE_##T, &rng);                                                              \
    }
TYPE_TEST(F32)
TYPE_TEST(F16)
TYPE_TEST(Q4_0)
TYPE_TEST(Q4_1)
TYPE_TEST(Q5_0)
TYPE_TEST(Q5_1)
TYPE_TEST(Q8_0)
TYPE_TEST(Q8_1)
TYPE_TEST(Q2_K)
TYPE_TEST(Q3_K)
TYPE_TEST(Q4_K)
TYPE_TEST(Q5_K)
TYPE_TEST(Q6_K)
TYPE_TEST(Q8_K)

/* A call that must fail with `want`, leave a message, and queue nothing. */
#define EXPECT_FAIL(ctx, want, call)                                                               \
    do {                                                                                           \
        assert_int_equal((call), (want));                                                          \
        if (ctx) assert_true(strlen(omq_context_last_error(ctx)) > 0);                             \
    } while (0)

static void bad_input_on(omq_context *ctx) {
    enum { R = 8, K = 256, N = 4 };
    const omq_type Q4 = OMQ_TYPE_Q4_0, F32 = OMQ_TYPE_F32, F16 = OMQ_TYPE_F16;
    const omq_algo A = OMQ_ALGO_AUTO;
    uint8_t *w = ts_alloc(ctx, R * K * 4 + 64, 0);
    uint8_t *x = ts_alloc(ctx, N * K * 4 + 64, 0);
    float *y = ts_alloc(ctx, R * N * 4 + 64, 0xFF);
    EXPECT_FAIL(NULL, OMQ_ERR_NULL, omq_matmul(NULL, Q4, w, R, K, F32, x, N, y, A));
    EXPECT_FAIL(ctx, OMQ_ERR_NULL, omq_matmul(ctx, Q4, NULL, R, K, F32, x, N, y, A));
    EXPECT_FAIL(ctx, OMQ_ERR_NULL, omq_matmul(ctx, Q4, w, R, K, F32, NULL, N, y, A));
    EXPECT_FAIL(ctx, OMQ_ERR_NULL, omq_matmul(ctx, Q4, w, R, K, F32, x, N, NULL, A));
    EXPECT_FAIL(ctx, OMQ_ERR_MISALIGNED, omq_matmul(ctx, Q4, w + 1, R, K, F32, x, N, y, A));
    EXPECT_FAIL(ctx, OMQ_ERR_MISALIGNED, omq_matmul(ctx, OMQ_TYPE_Q8_K, w + 2, R, K, F32, x, N, y, A));
    /* K-quants whose blocks allow it are read a 4-byte word at a time on GPUs */
    EXPECT_FAIL(ctx, OMQ_ERR_MISALIGNED, omq_matmul(ctx, OMQ_TYPE_Q4_K, w + 2, R, K, F32, x, N, y, A));
    EXPECT_FAIL(ctx, OMQ_ERR_MISALIGNED, omq_matmul(ctx, OMQ_TYPE_Q2_K, w + 2, R, K, F32, x, N, y, A));
    EXPECT_FAIL(ctx, OMQ_ERR_MISALIGNED, omq_matmul(ctx, OMQ_TYPE_Q4_1, w + 2, R, K, F32, x, N, y, A));
    EXPECT_FAIL(ctx, OMQ_ERR_MISALIGNED, omq_matmul(ctx, F32, w + 2, R, K, F32, x, N, y, A));
    EXPECT_FAIL(ctx, OMQ_ERR_MISALIGNED, omq_matmul(ctx, Q4, w, R, K, F32, x + 2, N, y, A));
    EXPECT_FAIL(ctx, OMQ_ERR_MISALIGNED, omq_matmul(ctx, Q4, w, R, K, F16, x + 1, N, y, A));
    EXPECT_FAIL(ctx, OMQ_ERR_MISALIGNED, omq_matmul(ctx, Q4, w, R, K, F32, x, N, (float *)((char *)y + 2), A));
    EXPECT_FAIL(ctx, OMQ_ERR_UNKNOWN_TYPE, omq_matmul(ctx, (omq_type)4, w, R, K, F32, x, N, y, A));
    EXPECT_FAIL(ctx, OMQ_ERR_UNKNOWN_TYPE, omq_matmul(ctx, (omq_type)-1, w, R, K, F32, x, N, y, A));
    EXPECT_FAIL(ctx, OMQ_ERR_UNKNOWN_TYPE, omq_matmul(ctx, Q4, w, R, K, (omq_type)99, x, N, y, A));
    EXPECT_FAIL(ctx, OMQ_ERR_UNSUPPORTED, omq_matmul(ctx, Q4, w, R, K, OMQ_TYPE_Q8_0, x, N, y, A));
    /* X given as Q8_1: only mmvq and mmq, only quantized weights, 4-byte aligned */
    EXPECT_FAIL(ctx, OMQ_ERR_UNSUPPORTED, omq_matmul(ctx, Q4, w, R, K, OMQ_TYPE_Q8_1, x, N, y, OMQ_ALGO_DMMV));
    EXPECT_FAIL(ctx, OMQ_ERR_UNSUPPORTED, omq_matmul(ctx, Q4, w, R, K, OMQ_TYPE_Q8_1, x, N, y, OMQ_ALGO_GEMM));
    EXPECT_FAIL(ctx, OMQ_ERR_UNSUPPORTED, omq_matmul(ctx, F32, w, R, K, OMQ_TYPE_Q8_1, x, N, y, A));
    EXPECT_FAIL(ctx, OMQ_ERR_MISALIGNED, omq_matmul(ctx, Q4, w, R, K, OMQ_TYPE_Q8_1, x + 2, N, y, A));
    EXPECT_FAIL(ctx, OMQ_ERR_SHAPE, omq_matmul(ctx, OMQ_TYPE_F32, w, R, 48, OMQ_TYPE_Q8_1, x, N, y, OMQ_ALGO_MMVQ));
    EXPECT_FAIL(ctx, OMQ_ERR_INVALID_ARG, omq_matmul(ctx, Q4, w, R, K, F32, x, N, y, (omq_algo)5));
    EXPECT_FAIL(ctx, OMQ_ERR_INVALID_ARG, omq_matmul(ctx, Q4, w, R, K, F32, x, N, y, (omq_algo)-1));
    EXPECT_FAIL(ctx, OMQ_ERR_SHAPE, omq_matmul(ctx, Q4, w, R, 48, F32, x, N, y, A));
    EXPECT_FAIL(ctx, OMQ_ERR_SHAPE, omq_matmul(ctx, OMQ_TYPE_Q4_K, w, R, 128, F32, x, N, y, OMQ_ALGO_MMVQ));
    EXPECT_FAIL(ctx, OMQ_ERR_SHAPE, omq_matmul(ctx, OMQ_TYPE_Q6_K, w, R, 11008 + 32, F32, x, N, y, OMQ_ALGO_GEMM));
    EXPECT_FAIL(ctx, OMQ_ERR_EMPTY, omq_matmul(ctx, Q4, w, 0, K, F32, x, N, y, A));
    EXPECT_FAIL(ctx, OMQ_ERR_EMPTY, omq_matmul(ctx, Q4, w, R, 0, F32, x, N, y, A));
    EXPECT_FAIL(ctx, OMQ_ERR_EMPTY, omq_matmul(ctx, Q4, w, R, K, F32, x, 0, y, A));
    EXPECT_FAIL(ctx, OMQ_ERR_INVALID_ARG, omq_matmul(ctx, Q4, w, -R, K, F32, x, N, y, A));
    EXPECT_FAIL(ctx, OMQ_ERR_INVALID_ARG, omq_matmul(ctx, Q4, w, R, -K, F32, x, N, y, A));
    EXPECT_FAIL(ctx, OMQ_ERR_INVALID_ARG, omq_matmul(ctx, Q4, w, R, K, F32, x, -1, y, A));
    EXPECT_FAIL(ctx, OMQ_ERR_OVERFLOW, omq_matmul(ctx, Q4, w, INT64_MAX / 32, K, F32, x, N, y, A));
    EXPECT_FAIL(ctx, OMQ_ERR_OVERFLOW, omq_matmul(ctx, Q4, w, R, K, F32, x, INT64_MAX / 64, y, A));
    EXPECT_FAIL(ctx, OMQ_ERR_OVERFLOW, omq_matmul(ctx, Q4, w, (int64_t)1 << 36, 32, F32, x, (int64_t)1 << 36, y, A));
    for (int t = OMQ_TYPE_F32; t <= OMQ_TYPE_F16; ++t) {
        EXPECT_FAIL(ctx, OMQ_ERR_UNSUPPORTED, omq_matmul(ctx, (omq_type)t, w, R, K, F32, x, N, y, OMQ_ALGO_MMVQ));
        EXPECT_FAIL(ctx, OMQ_ERR_UNSUPPORTED, omq_matmul(ctx, (omq_type)t, w, R, K, F16, x, N, y, OMQ_ALGO_MMQ));
    }
    /* nothing above touched Y; a good call still works and clears the message */
    assert_int_equal(omq_synchronize(ctx), OMQ_OK);
    float host[R * N];
    ts_download(ctx, host, y, sizeof host);
    for (int k = 0; k < R * N; ++k) assert_true(isnan(host[k]));
    assert_int_equal(omq_matmul(ctx, Q4, w, R, K, F32, x, N, y, OMQ_ALGO_MMQ), OMQ_OK);
    assert_string_equal(omq_context_last_error(ctx), "");
    assert_int_equal(omq_synchronize(ctx), OMQ_OK);
    ts_download(ctx, host, y, sizeof host);
    for (int k = 0; k < R * N; ++k) assert_true(host[k] == 0.0f); /* zero weights */

    /* the queries check the same things */
    omq_algo al;
    size_t bytes;
    EXPECT_FAIL(NULL, OMQ_ERR_NULL, omq_matmul_choose(NULL, Q4, R, K, N, &al));
    EXPECT_FAIL(ctx, OMQ_ERR_NULL, omq_matmul_choose(ctx, Q4, R, K, N, NULL));
    EXPECT_FAIL(ctx, OMQ_ERR_UNKNOWN_TYPE, omq_matmul_choose(ctx, (omq_type)5, R, K, N, &al));
    EXPECT_FAIL(ctx, OMQ_ERR_SHAPE, omq_matmul_choose(ctx, Q4, R, 33, N, &al));
    EXPECT_FAIL(ctx, OMQ_ERR_EMPTY, omq_matmul_choose(ctx, Q4, R, K, 0, &al));
    EXPECT_FAIL(ctx, OMQ_ERR_INVALID_ARG, omq_matmul_choose(ctx, Q4, R, K, -3, &al));
    EXPECT_FAIL(NULL, OMQ_ERR_NULL, omq_matmul_workspace_size(NULL, Q4, R, K, F32, N, A, &bytes));
    EXPECT_FAIL(ctx, OMQ_ERR_NULL, omq_matmul_workspace_size(ctx, Q4, R, K, F32, N, A, NULL));
    EXPECT_FAIL(ctx, OMQ_ERR_UNSUPPORTED, omq_matmul_workspace_size(ctx, F16, R, K, F32, N, OMQ_ALGO_MMQ, &bytes));
    EXPECT_FAIL(ctx, OMQ_ERR_UNSUPPORTED, omq_matmul_workspace_size(ctx, Q4, R, K, OMQ_TYPE_Q4_0, N, A, &bytes));
    EXPECT_FAIL(ctx, OMQ_ERR_INVALID_ARG, omq_matmul_workspace_size(ctx, Q4, R, K, F32, N, (omq_algo)9, &bytes));
    ts_free(ctx, w);
    ts_free(ctx, x);
    ts_free(ctx, y);
}

static void bad_input(void **state) {
    (void)state;
    for (int d = 0; d < ts_device_count(); ++d) {
        omq_context *ctx;
        assert_int_equal(omq_context_create(&ctx, ts_device(d)), OMQ_OK);
        bad_input_on(ctx);
        omq_context_free(ctx);
    }
}

/* The library prints nothing, failing calls included. */
static void bad_input_is_silent(void **state) {
    fflush(stdout);
    fflush(stderr);
    FILE *sink = tmpfile();
    assert_non_null(sink);
    const int out = dup(1), err = dup(2);
    dup2(fileno(sink), 1);
    dup2(fileno(sink), 2);
    bad_input(state);
    fflush(stdout);
    fflush(stderr);
    dup2(out, 1);
    dup2(err, 2);
    close(out);
    close(err);
    fseek(sink, 0, SEEK_END);
    const long printed = ftell(sink);
    fclose(sink);
    assert_int_equal(printed, 0);
}

static void queries(void **state) {
    (void)state;
    omq_algo a;
    for (int i = 0; i <= OMQ_ALGO_GEMM; ++i) {
        const char *name = omq_algo_name((omq_algo)i);
        assert_non_null(name);
        assert_int_equal(omq_algo_from_name(name, &a), OMQ_OK);
        assert_int_equal(a, i);
        char upper[16];
        for (size_t k = 0; k <= strlen(name); ++k) upper[k] = (char)(name[k] >= 'a' && name[k] <= 'z' ? name[k] - 32 : name[k]);
        assert_int_equal(omq_algo_from_name(upper, &a), OMQ_OK);
        assert_int_equal(a, i);
    }
    assert_null(omq_algo_name((omq_algo)5));
    assert_null(omq_algo_name((omq_algo)-1));
    assert_int_equal(omq_algo_from_name("mmvqx", &a), OMQ_ERR_INVALID_ARG);
    assert_int_equal(omq_algo_from_name("", &a), OMQ_ERR_INVALID_ARG);
    assert_int_equal(omq_algo_from_name(NULL, &a), OMQ_ERR_NULL);
    assert_int_equal(omq_algo_from_name("gemm", NULL), OMQ_ERR_NULL);

    static const int64_t ns[] = {1, 2, 8, 9, 64, 512, 4096};
    for (int d = 0; d < ts_device_count(); ++d) {
        omq_context *ctx;
        assert_int_equal(omq_context_create(&ctx, ts_device(d)), OMQ_OK);
        for (int t = 0; t < 16; ++t) {
            if (!omq_type_is_valid(t)) continue;
            const int64_t bs = omq_type_block_size((omq_type)t), K = 16 * bs;
            for (size_t i = 0; i < sizeof ns / sizeof ns[0]; ++i) {
                assert_int_equal(omq_matmul_choose(ctx, (omq_type)t, 300, K, ns[i], &a), OMQ_OK);
                assert_true(a >= OMQ_ALGO_DMMV && a <= OMQ_ALGO_GEMM);
                if (bs == 1) assert_true(a == OMQ_ALGO_DMMV || a == OMQ_ALGO_GEMM);
                /* the workspace is what the documentation says, for AUTO and each algorithm */
                for (int al = 0; al <= OMQ_ALGO_GEMM; ++al)
                    for (int xt = OMQ_TYPE_F32; xt <= OMQ_TYPE_F16; ++xt) {
                        size_t bytes = 1;
                        const omq_status st = omq_matmul_workspace_size(ctx, (omq_type)t, 300, K, (omq_type)xt, ns[i],
                                                                        (omq_algo)al, &bytes);
                        const omq_algo eff = al == OMQ_ALGO_AUTO ? a : (omq_algo)al;
                        if (bs == 1 && is_q8_1_algo(eff)) {
                            assert_int_equal(st, OMQ_ERR_UNSUPPORTED);
                            continue;
                        }
                        assert_int_equal(st, OMQ_OK);
                        /* GEMV by mmvq on a device stages X in team memory instead */
                        const int gemv = eff == OMQ_ALGO_MMVQ && ns[i] == 1 && ts_device(d) != OMQ_DEVICE_HOST;
                        const size_t want = gemv ? 0
                                            : is_q8_1_algo(eff) ? (size_t)ns[i] * K / 32 * 36
                                            : xt == OMQ_TYPE_F16 ? (size_t)ns[i] * K * 4 : 0;
                        assert_int_equal(bytes, want);
                    }
            }
        }
        /* on devices the Q8_1 kernels serve quantized weights */
        if (ts_device(d) != OMQ_DEVICE_HOST) {
            assert_int_equal(omq_matmul_choose(ctx, OMQ_TYPE_Q4_K, 4096, 4096, 1, &a), OMQ_OK);
            assert_int_equal(a, OMQ_ALGO_MMVQ);
            assert_int_equal(omq_matmul_choose(ctx, OMQ_TYPE_Q4_K, 4096, 4096, 512, &a), OMQ_OK);
            assert_int_equal(a, OMQ_ALGO_MMQ);
        }
        omq_context_free(ctx);
    }
}

/* mmvq/mmq quantize X as omq_quantize does: a block of X holding NaN or Inf is reported by the
 * next omq_synchronize, the other rows of Y are as for clean input. */
static void nonfinite_x(void **state) {
    (void)state;
    enum { R = 5, K = 64, N = 3 };
    float w[R * K], x[N * K], clean[N * R], got[N * R];
    for (int k = 0; k < R * K; ++k) w[k] = (float)((k * 7) % 13) - 6.0f;
    for (int k = 0; k < N * K; ++k) x[k] = (float)((k * 5) % 11) - 5.0f;
    for (int d = 0; d < ts_device_count(); ++d) {
        omq_context *ctx;
        assert_int_equal(omq_context_create(&ctx, ts_device(d)), OMQ_OK);
        void *dq = ts_alloc(ctx, R * K / 32 * 18, 0);
        float *dw = ts_upload(ctx, w, sizeof w);
        assert_int_equal(omq_quantize(ctx, OMQ_TYPE_Q4_0, dw, dq, R, K, NULL), OMQ_OK);
        for (int a = OMQ_ALGO_MMVQ; a <= OMQ_ALGO_MMQ; ++a) {
            float *dx = ts_upload(ctx, x, sizeof x), *dy = ts_alloc(ctx, sizeof got, 0xFF);
            assert_int_equal(omq_matmul(ctx, OMQ_TYPE_Q4_0, dq, R, K, OMQ_TYPE_F32, dx, N, dy, (omq_algo)a), OMQ_OK);
            assert_int_equal(omq_synchronize(ctx), OMQ_OK);
            ts_download(ctx, clean, dy, sizeof clean);
            float bad[N * K];
            memcpy(bad, x, sizeof x);
            bad[K + 40] = a == OMQ_ALGO_MMVQ ? __builtin_nanf("") : __builtin_inff();
            ts_free(ctx, dx);
            dx = ts_upload(ctx, bad, sizeof bad);
            assert_int_equal(omq_matmul(ctx, OMQ_TYPE_Q4_0, dq, R, K, OMQ_TYPE_F32, dx, N, dy, (omq_algo)a), OMQ_OK);
            assert_int_equal(omq_synchronize(ctx), OMQ_ERR_NONFINITE);
            assert_true(strlen(omq_context_last_error(ctx)) > 0);
            assert_int_equal(omq_synchronize(ctx), OMQ_OK);
            ts_download(ctx, got, dy, sizeof got);
            for (int o = 0; o < N * R; ++o) {
                assert_true(isfinite(got[o]));
                if (o / R != 1) assert_true(got[o] == clean[o]); /* other columns of X unaffected */
            }
            ts_free(ctx, dx);
            ts_free(ctx, dy);
        }
        ts_free(ctx, dq);
        ts_free(ctx, dw);
        omq_context_free(ctx);
    }
}

/* Q8_0 and Q8_1 round halves away from zero (ggml's roundf). Blocks with power-of-two scales
 * make x * id exact, hitting halves k + 0.5 and the floats next to them: every device must
 * give the bytes computed here with C's roundf, and on devices the GEMV's own quantization of
 * that X (its staging in team memory on GPUs) the Y of those bytes given as Q8_1. */
static void q8_rounding_halves(void **state) {
    (void)state;
    ts_rng rng = ts_rng_seeded();
    enum { NB = 300, K = NB * 32, R = 5 }; /* 300 blocks: more than one staging pass */
    float *x = malloc(sizeof(float) * K), *w = malloc(sizeof(float) * R * K);
    uint8_t *q80 = malloc((size_t)NB * 34), *q81 = malloc((size_t)NB * 36), *got = malloc((size_t)NB * 36);
    assert_true(x && w && q80 && q81 && got);
    int halves = 0;
    for (int b = 0; b < NB; ++b) {
        const float sc = ldexpf(1.0f, b % 13 - 6); /* d = 127 sc / 127 = sc, id = 1 / sc: exact */
        float *xb = x + 32 * b;
        for (int j = 0; j < 32; ++j) {
            const float h = sc * ((float)(int)(ts_next(&rng) % 254) - 126.5f); /* sc (k + 0.5) */
            xb[j] = j % 3 == 0 ? h : nextafterf(h, j % 3 == 1 ? INFINITY : -INFINITY);
        }
        xb[b % 32] = (ts_next(&rng) & 1 ? 127.0f : -127.0f) * sc;
        float amax = 0;
        for (int j = 0; j < 32; ++j) amax = fmaxf(amax, fabsf(xb[j]));
        const float d = amax / 127, id = d ? 1.0f / d : 0.0f;
        int sum = 0;
        for (int j = 0; j < 32; ++j) {
            const float v = xb[j] * id;
            halves += v - truncf(v) == 0.5f || v - truncf(v) == -0.5f;
            const int8_t q = (int8_t)roundf(v);
            q80[34 * b + 2 + j] = q81[36 * b + 4 + j] = (uint8_t)q;
            sum += q;
        }
        const uint16_t dh = fp16_bits(d), sh = fp16_bits((float)sum * d);
        memcpy(q80 + 34 * b, &dh, 2);
        memcpy(q81 + 36 * b, &dh, 2);
        memcpy(q81 + 36 * b + 2, &sh, 2);
    }
    assert_true(halves > NB * 8); /* the data does test ties */
    for (int64_t k = 0; k < R * K; ++k) w[k] = ts_gauss(&rng);
    for (int d = 0; d < ts_device_count(); ++d) {
        omq_context *ctx;
        assert_int_equal(omq_context_create(&ctx, ts_device(d)), OMQ_OK);
        float *dx = ts_upload(ctx, x, sizeof(float) * K);
        void *dq = ts_alloc(ctx, (size_t)NB * 36, 0);
        assert_int_equal(omq_quantize(ctx, OMQ_TYPE_Q8_0, dx, dq, 1, K, NULL), OMQ_OK);
        assert_int_equal(omq_synchronize(ctx), OMQ_OK);
        ts_download(ctx, got, dq, (size_t)NB * 34);
        if (memcmp(got, q80, (size_t)NB * 34)) fail_msg("q8_0 of halves on %s: not C's roundf", ts_device_label(ts_device(d)));
        assert_int_equal(omq_quantize(ctx, OMQ_TYPE_Q8_1, dx, dq, 1, K, NULL), OMQ_OK);
        assert_int_equal(omq_synchronize(ctx), OMQ_OK);
        ts_download(ctx, got, dq, (size_t)NB * 36);
        if (memcmp(got, q81, (size_t)NB * 36)) fail_msg("q8_1 of halves on %s: not C's roundf", ts_device_label(ts_device(d)));
        if (ts_device(d) != OMQ_DEVICE_HOST) {
            float *dw = ts_upload(ctx, w, sizeof(float) * R * K), y[2][R];
            void *dwq = ts_alloc(ctx, (size_t)R * NB * 34, 0), *dxq = ts_upload(ctx, q81, (size_t)NB * 36);
            float *dy[2] = {ts_alloc(ctx, sizeof(float) * R, 0xFF), ts_alloc(ctx, sizeof(float) * R, 0xFF)};
            assert_int_equal(omq_quantize(ctx, OMQ_TYPE_Q8_0, dw, dwq, R, K, NULL), OMQ_OK);
            assert_int_equal(omq_matmul(ctx, OMQ_TYPE_Q8_0, dwq, R, K, OMQ_TYPE_Q8_1, dxq, 1, dy[0], OMQ_ALGO_MMVQ), OMQ_OK);
            assert_int_equal(omq_matmul(ctx, OMQ_TYPE_Q8_0, dwq, R, K, OMQ_TYPE_F32, dx, 1, dy[1], OMQ_ALGO_AUTO), OMQ_OK);
            assert_int_equal(omq_synchronize(ctx), OMQ_OK);
            for (int i = 0; i < 2; ++i) ts_download(ctx, y[i], dy[i], sizeof y[i]);
            for (int o = 0; o < R; ++o) assert_true(isfinite(y[0][o]));
            assert_memory_equal(y[1], y[0], sizeof y[0]);
            for (int i = 0; i < 2; ++i) ts_free(ctx, dy[i]);
            ts_free(ctx, dxq);
            ts_free(ctx, dwq);
            ts_free(ctx, dw);
        }
        ts_free(ctx, dq);
        ts_free(ctx, dx);
        omq_context_free(ctx);
    }
    free(got);
    free(q81);
    free(q80);
    free(w);
    free(x);
}

/* GEMV of K-value X (f32 or f16, host copy xh) stored one element past an aligned address:
 * Y must equal want (R floats) bit for bit */
static void gemv_offset_x(omq_context *ctx, omq_type t, const void *dq, int64_t R, int64_t K, omq_type xt,
                          const void *xh, float *dy, const float *want) {
    const size_t es = xt == OMQ_TYPE_F16 ? 2 : 4;
    unsigned char *xs = malloc(es * (K + 1));
    float *y = malloc(sizeof(float) * R);
    assert_true(xs && y);
    memcpy(xs + es, xh, es * K);
    unsigned char *dxs = ts_upload(ctx, xs, es * (K + 1));
    assert_int_equal(omq_matmul(ctx, t, dq, R, K, xt, dxs + es, 1, dy, OMQ_ALGO_MMVQ), OMQ_OK);
    assert_int_equal(omq_synchronize(ctx), OMQ_OK);
    ts_download(ctx, y, dy, sizeof(float) * R);
    assert_memory_equal(y, want, sizeof(float) * R);
    ts_free(ctx, dxs);
    free(xs);
    free(y);
}

/* GEMV by mmvq on devices runs as one region that stages X in team memory (quantizing float X
 * there; up to 896 blocks of X, K = 28672) and must give, bit for bit, the Y of X quantized
 * first by omq_quantize (xtype q8_1), for f32 and for f16 X, for every quantized type; past
 * the limit the two-region path (with a workspace) must agree too. A non-finite block of X is
 * reported as by omq_quantize. */
static void gemv_one_region(void **state) {
    (void)state;
    ts_rng rng = ts_rng_seeded();
    enum { R = 37 };
    for (int d = 0; d < ts_device_count(); ++d) {
        if (ts_device(d) == OMQ_DEVICE_HOST) continue;
        omq_context *ctx;
        assert_int_equal(omq_context_create(&ctx, ts_device(d)), OMQ_OK);
        for (int t = 0; t < 16; ++t) {
            if (!omq_type_is_valid(t) || omq_type_block_size((omq_type)t) == 1) continue;
            const int64_t bs = omq_type_block_size((omq_type)t);
            /* K within the limit (X less than one pass of a team's staging, 128 blocks on
             * GPUs, and more than two), and past it (legacy types only: 897 blocks of 32) */
            const int64_t Ks[3] = {bs == 32 ? 1440 : 2560, bs == 32 ? 8224 : 8448, 897 * 32};
            for (int ki = 0; ki < (bs == 32 ? 3 : 2); ++ki) {
                const int64_t K = Ks[ki];
                size_t ws = 1;
                assert_int_equal(omq_matmul_workspace_size(ctx, (omq_type)t, R, K, OMQ_TYPE_F32, 1, OMQ_ALGO_MMVQ, &ws),
                                 OMQ_OK);
                assert_int_equal(ws, K / 32 <= 896 ? 0 : (size_t)K / 32 * 36);
                float *w = malloc(sizeof(float) * R * K), *x = malloc(sizeof(float) * K);
                uint16_t *x16 = malloc(2 * K);
                assert_true(w && x && x16);
                for (int64_t k = 0; k < R * K; ++k) w[k] = ts_gauss(&rng);
                for (int64_t k = 0; k < K; ++k) {
                    x[k] = fp16_round(ts_gauss(&rng)); /* the f16 X's values, exactly */
                    x16[k] = fp16_bits(x[k]);
                }
                const size_t wbytes = (size_t)(R * K / bs) * omq_type_block_bytes((omq_type)t);
                float *dw = ts_upload(ctx, w, sizeof(float) * R * K), *dx = ts_upload(ctx, x, sizeof(float) * K);
                void *dq = ts_alloc(ctx, wbytes, 0), *dx16 = ts_upload(ctx, x16, 2 * K);
                void *dxq = ts_alloc(ctx, (size_t)K / 32 * 36, 0);
                float *dy[3];
                for (int i = 0; i < 3; ++i) dy[i] = ts_alloc(ctx, sizeof(float) * R, 0xFF);
                assert_int_equal(omq_quantize(ctx, (omq_type)t, dw, dq, R, K, NULL), OMQ_OK);
                assert_int_equal(omq_quantize(ctx, OMQ_TYPE_Q8_1, dx, dxq, 1, K, NULL), OMQ_OK);
                assert_int_equal(omq_matmul(ctx, (omq_type)t, dq, R, K, OMQ_TYPE_Q8_1, dxq, 1, dy[0], OMQ_ALGO_MMVQ), OMQ_OK);
                assert_int_equal(omq_matmul(ctx, (omq_type)t, dq, R, K, OMQ_TYPE_F32, dx, 1, dy[1], OMQ_ALGO_AUTO), OMQ_OK);
                assert_int_equal(omq_matmul(ctx, (omq_type)t, dq, R, K, OMQ_TYPE_F16, dx16, 1, dy[2], OMQ_ALGO_MMVQ), OMQ_OK);
                assert_int_equal(omq_synchronize(ctx), OMQ_OK);
                float y[3][R];
                for (int i = 0; i < 3; ++i) ts_download(ctx, y[i], dy[i], sizeof y[i]);
                for (int o = 0; o < R; ++o) assert_true(isfinite(y[0][o]));
                assert_memory_equal(y[1], y[0], sizeof y[0]);
                assert_memory_equal(y[2], y[0], sizeof y[0]);
                /* X only element-aligned (f32: 4 bytes, f16: 2): the same Y */
                gemv_offset_x(ctx, (omq_type)t, dq, R, K, OMQ_TYPE_F32, x, dy[1], y[0]);
                gemv_offset_x(ctx, (omq_type)t, dq, R, K, OMQ_TYPE_F16, x16, dy[2], y[0]);
                /* a non-finite block of X: reported, and Y stays finite */
                x[K / 2] = __builtin_nanf("");
                ts_free(ctx, dx);
                dx = ts_upload(ctx, x, sizeof(float) * K);
                assert_int_equal(omq_matmul(ctx, (omq_type)t, dq, R, K, OMQ_TYPE_F32, dx, 1, dy[1], OMQ_ALGO_AUTO), OMQ_OK);
                assert_int_equal(omq_synchronize(ctx), OMQ_ERR_NONFINITE);
                ts_download(ctx, y[1], dy[1], sizeof y[1]);
                for (int o = 0; o < R; ++o) assert_true(isfinite(y[1][o]));
                for (int i = 0; i < 3; ++i) ts_free(ctx, dy[i]);
                ts_free(ctx, dxq);
                ts_free(ctx, dx16);
                ts_free(ctx, dq);
                ts_free(ctx, dx);
                ts_free(ctx, dw);
                free(w);
                free(x);
                free(x16);
            }
        }
        omq_context_free(ctx);
    }
}

/* GEMVs with float X on two streams at once, three rounds each, X different on each: every
 * Y equals, bit for bit, the one from X quantized first (no state of one call or stream
 * reaches another: an experiment that shared X's quantization among a call's teams kept
 * state in each stream). */
static void gemv_streams(void **state) {
    (void)state;
    ts_rng rng = ts_rng_seeded();
    enum { R = 300, K = 257 * 32, ROUNDS = 3 };
    for (int d = 0; d < ts_device_count(); ++d) {
        if (ts_device(d) == OMQ_DEVICE_HOST) continue;
        omq_context *ctx;
        assert_int_equal(omq_context_create(&ctx, ts_device(d)), OMQ_OK);
        float *w = malloc(sizeof(float) * R * K), *x = malloc(sizeof(float) * 2 * K);
        assert_true(w && x);
        for (int64_t k = 0; k < R * K; ++k) w[k] = ts_gauss(&rng);
        for (int64_t k = 0; k < 2 * K; ++k) x[k] = ts_gauss(&rng);
        float *dw = ts_upload(ctx, w, sizeof(float) * R * K);
        void *dq = ts_alloc(ctx, (size_t)R * K / 32 * 18, 0), *dxq = ts_alloc(ctx, (size_t)2 * K / 32 * 36, 0);
        float *dx[2], *dref = ts_alloc(ctx, sizeof(float) * 2 * R, 0xFF), *dy[2][ROUNDS];
        assert_int_equal(omq_quantize(ctx, OMQ_TYPE_Q4_0, dw, dq, R, K, NULL), OMQ_OK);
        omq_stream *s[2];
        for (int j = 0; j < 2; ++j) {
            dx[j] = ts_upload(ctx, x + j * K, sizeof(float) * K);
            char *xq = (char *)dxq + (size_t)j * K / 32 * 36;
            assert_int_equal(omq_quantize(ctx, OMQ_TYPE_Q8_1, dx[j], xq, 1, K, NULL), OMQ_OK);
            assert_int_equal(omq_matmul(ctx, OMQ_TYPE_Q4_0, dq, R, K, OMQ_TYPE_Q8_1, xq, 1, dref + j * R, OMQ_ALGO_MMVQ),
                             OMQ_OK);
            for (int r = 0; r < ROUNDS; ++r) dy[j][r] = ts_alloc(ctx, sizeof(float) * R, 0xFF);
            assert_int_equal(omq_stream_create(ctx, &s[j]), OMQ_OK);
        }
        assert_int_equal(omq_synchronize(ctx), OMQ_OK);
        for (int r = 0; r < ROUNDS; ++r)
            for (int j = 0; j < 2; ++j) {
                assert_int_equal(omq_context_set_stream(ctx, s[j]), OMQ_OK);
                assert_int_equal(omq_matmul(ctx, OMQ_TYPE_Q4_0, dq, R, K, OMQ_TYPE_F32, dx[j], 1, dy[j][r], OMQ_ALGO_AUTO),
                                 OMQ_OK);
            }
        assert_int_equal(omq_context_set_stream(ctx, NULL), OMQ_OK);
        assert_int_equal(omq_synchronize(ctx), OMQ_OK); /* all streams */
        float ref[2][R], y[R];
        ts_download(ctx, ref, dref, sizeof ref);
        assert_memory_not_equal(ref[0], ref[1], sizeof ref[0]);
        for (int j = 0; j < 2; ++j)
            for (int r = 0; r < ROUNDS; ++r) {
                ts_download(ctx, y, dy[j][r], sizeof y);
                assert_memory_equal(y, ref[j], sizeof y);
            }
        free(w);
        free(x);
        omq_context_free(ctx); /* destroys the streams and frees the buffers */
    }
}

/* The Q8_1 paths' workspace: it counts against the context's memory limit, an allocation
 * that fails is an error with Y untouched, and later calls work again; several streams of
 * one context each have their own, so concurrent products do not share scratch. */
static void workspace_limits(void **state) {
    (void)state;
    enum { R = 3, K = 4096, N = 64 };
    const size_t need = (size_t)N * (K / 32) * 36;
    float *w = calloc(R * K, sizeof(float)), *x = malloc(sizeof(float) * N * K), got[N * R];
    assert_non_null(w);
    assert_non_null(x);
    for (int k = 0; k < R * K; ++k) w[k] = (float)(k % 5) - 2.0f;
    for (int k = 0; k < N * K; ++k) x[k] = (float)(k % 7) - 3.0f;
    for (int d = 0; d < ts_device_count(); ++d) {
        omq_context *ctx;
        assert_int_equal(omq_context_create(&ctx, ts_device(d)), OMQ_OK);
        void *dq = ts_alloc(ctx, R * K / 32 * 34, 0);
        float *dw = ts_upload(ctx, w, sizeof(float) * R * K), *dx = ts_upload(ctx, x, sizeof(float) * N * K);
        float *dy = ts_alloc(ctx, sizeof got, 0xFF);
        assert_int_equal(omq_quantize(ctx, OMQ_TYPE_Q8_0, dw, dq, R, K, NULL), OMQ_OK);
        assert_int_equal(omq_synchronize(ctx), OMQ_OK);
        size_t ws;
        assert_int_equal(omq_matmul_workspace_size(ctx, OMQ_TYPE_Q8_0, R, K, OMQ_TYPE_F32, N, OMQ_ALGO_MMQ, &ws), OMQ_OK);
        assert_int_equal(ws, need);
        const size_t before = omq_context_memory_in_use(ctx);
        /* over the limit */
        assert_int_equal(omq_context_set_memory_limit(ctx, before + need - 1), OMQ_OK);
        EXPECT_FAIL(ctx, OMQ_ERR_ALLOC, omq_matmul(ctx, OMQ_TYPE_Q8_0, dq, R, K, OMQ_TYPE_F32, dx, N, dy, OMQ_ALGO_MMQ));
        /* an allocation failure */
        assert_int_equal(omq_context_set_memory_limit(ctx, 0), OMQ_OK);
        assert_int_equal(omq_debug_inject_failures(ctx, OMQ_INJECT_ALLOC, 1), OMQ_OK);
        EXPECT_FAIL(ctx, OMQ_ERR_ALLOC, omq_matmul(ctx, OMQ_TYPE_Q8_0, dq, R, K, OMQ_TYPE_F32, dx, N, dy, OMQ_ALGO_MMVQ));
        assert_int_equal(omq_synchronize(ctx), OMQ_OK);
        ts_download(ctx, got, dy, sizeof got);
        for (int o = 0; o < N * R; ++o) assert_true(isnan(got[o])); /* nothing ran */
        /* then it works, and the workspace is counted */
        assert_int_equal(omq_matmul(ctx, OMQ_TYPE_Q8_0, dq, R, K, OMQ_TYPE_F32, dx, N, dy, OMQ_ALGO_MMQ), OMQ_OK);
        assert_int_equal(omq_synchronize(ctx), OMQ_OK);
        assert_true(omq_context_memory_in_use(ctx) >= before + need);
        ts_download(ctx, got, dy, sizeof got);
        /* a second stream: its own workspace, same results */
        omq_stream *s2;
        assert_int_equal(omq_stream_create(ctx, &s2), OMQ_OK);
        float *dy2 = ts_alloc(ctx, sizeof got, 0xFF);
        assert_int_equal(omq_context_set_stream(ctx, s2), OMQ_OK);
        assert_int_equal(omq_matmul(ctx, OMQ_TYPE_Q8_0, dq, R, K, OMQ_TYPE_F32, dx, N, dy2, OMQ_ALGO_MMQ), OMQ_OK);
        assert_int_equal(omq_stream_synchronize(s2), OMQ_OK);
        assert_int_equal(omq_context_set_stream(ctx, NULL), OMQ_OK);
        float got2[N * R];
        ts_download(ctx, got2, dy2, sizeof got2);
        for (int o = 0; o < N * R; ++o) assert_true(got2[o] == got[o] && isfinite(got[o]));
        const size_t with_two = omq_context_memory_in_use(ctx);
        assert_int_equal(omq_stream_destroy(s2), OMQ_OK);
        assert_true(omq_context_memory_in_use(ctx) < with_two); /* its workspace went with it */
        ts_free(ctx, dy2);
        ts_free(ctx, dq);
        ts_free(ctx, dw);
        ts_free(ctx, dx);
        ts_free(ctx, dy);
        omq_context_free(ctx);
    }
    free(w);
    free(x);
}

int main(void) {
    rng = ts_rng_seeded();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(queries),     cmocka_unit_test(bad_input),   cmocka_unit_test(bad_input_is_silent),
        cmocka_unit_test(nonfinite_x), cmocka_unit_test(gemv_one_region), cmocka_unit_test(q8_rounding_halves), cmocka_unit_test(gemv_streams), cmocka_unit_test(workspace_limits), cmocka_unit_test(matmul_F32),  cmocka_unit_test(matmul_F16),
        cmocka_unit_test(matmul_Q4_0), cmocka_unit_test(matmul_Q4_1), cmocka_unit_test(matmul_Q5_0),
        cmocka_unit_test(matmul_Q5_1), cmocka_unit_test(matmul_Q8_0), cmocka_unit_test(matmul_Q8_1),
        cmocka_unit_test(matmul_Q2_K), cmocka_unit_test(matmul_Q3_K), cmocka_unit_test(matmul_Q4_K),
        cmocka_unit_test(matmul_Q5_K), cmocka_unit_test(matmul_Q6_K), cmocka_unit_test(matmul_Q8_K),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
