/* Quantize -> dequantize error on every device.
 *  1. ggml's own acceptance test (test-quantize-fns.cpp): synthetic data 0.1 + 2 cos(i),
 *     4096 values, sqrt(sum of squared errors) / n below its per-type thresholds.
 *  2. Fresh random data every run (seed printed): per-element bounds that follow from each
 *     legacy format's arithmetic, and a relative RMSE bound for every type. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "omq.h"
#include "support.h"

static const omq_type quantized[] = {OMQ_TYPE_Q4_0, OMQ_TYPE_Q4_1, OMQ_TYPE_Q5_0, OMQ_TYPE_Q5_1,
                                     OMQ_TYPE_Q8_0, OMQ_TYPE_Q8_1, OMQ_TYPE_Q2_K, OMQ_TYPE_Q3_K,
                                     OMQ_TYPE_Q4_K, OMQ_TYPE_Q5_K, OMQ_TYPE_Q6_K, OMQ_TYPE_Q8_K};
#define NTYPES (sizeof quantized / sizeof quantized[0])

/* quantize + dequantize rows x cols on ctx; y gets the result */
static void roundtrip(omq_context *ctx, omq_type t, const float *x, float *y, int64_t rows, int64_t cols,
                      const float *imatrix) {
    size_t qb = 0;
    assert_int_equal(omq_matrix_size(t, rows, cols, &qb), OMQ_OK);
    const size_t fb = sizeof(float) * rows * cols;
    float *dx = ts_upload(ctx, x, fb), *dy = ts_alloc(ctx, fb, 0xFF), *dw = NULL;
    void *dq = ts_alloc(ctx, qb, 0xA5);
    if (imatrix) dw = ts_upload(ctx, imatrix, sizeof(float) * cols);
    assert_int_equal(omq_quantize(ctx, t, dx, dq, rows, cols, dw), OMQ_OK);
    assert_int_equal(omq_dequantize(ctx, t, dq, OMQ_TYPE_F32, dy, rows, cols), OMQ_OK);
    assert_int_equal(omq_synchronize(ctx), OMQ_OK);
    ts_download(ctx, y, dy, fb);
    ts_free(ctx, dx);
    ts_free(ctx, dy);
    ts_free(ctx, dq);
    ts_free(ctx, dw);
}

static void ggml_acceptance(void **state) {
    (void)state;
    enum { N = 32 * 128 };
    float x[N], y[N];
    for (int i = 0; i < N; ++i) x[i] = 0.1f + 2 * cosf((float)i);
    for (int d = 0; d < ts_device_count(); ++d) {
        omq_context *ctx;
        assert_int_equal(omq_context_create(&ctx, ts_device(d)), OMQ_OK);
        for (size_t k = 0; k < NTYPES; ++k) {
            const omq_type t = quantized[k];
            roundtrip(ctx, t, x, y, 1, N, NULL);
            double sum = 0;
            for (int i = 0; i < N; ++i) sum += ((double)x[i] - y[i]) * ((double)x[i] - y[i]);
            const double err = sqrt(sum) / N;
            const double limit = t == OMQ_TYPE_Q2_K ? 0.0075 : t == OMQ_TYPE_Q3_K ? 0.0040 : 0.002;
            if (!(err <= limit))
                fail_msg("%s on %s: ggml's total quantization error %g exceeds its limit %g", omq_type_name(t),
                         ts_device_label(ts_device(d)), err, limit);
        }
        omq_context_free(ctx);
    }
}

static float fp16_round(float v) { return (float)(_Float16)v; }

/* Largest error the format's arithmetic allows for the elements of a block, or -1 if the
 * type has no simple element-wise bound (K-quants: their scales are themselves quantized
 * and searched). The fp16 rounding of scales is taken as it is (it is not relative when a
 * scale falls into fp16's subnormal range). */
static double element_bound(omq_type t, const float *b) {
    const int64_t n = omq_type_block_size(t);
    float amax = 0, max = 0, mn = b[0], mx = b[0];
    for (int64_t j = 0; j < n; ++j) {
        if (fabsf(b[j]) > amax) amax = fabsf(b[j]), max = b[j];
        mn = b[j] < mn ? b[j] : mn;
        mx = b[j] > mx ? b[j] : mx;
    }
    const double slack = 1e-6 * (fabsf(mn) + fabsf(mx)) + 1e-37;
    float d;
    switch (t) {
    case OMQ_TYPE_Q4_0: /* d = max/-8; x/d in [-8, 8] but codes stop at +7: up to one step */
        d = max / -8;
        return fabsf(d) + 8 * fabs(fp16_round(d) - d) + slack;
    case OMQ_TYPE_Q5_0:
        d = max / -16;
        return fabsf(d) + 16 * fabs(fp16_round(d) - d) + slack;
    case OMQ_TYPE_Q4_1: /* half a step, plus the fp16 rounding of d (times q <= 15) and of min */
        d = (mx - mn) / 15;
        return d / 2 + 15 * fabs(fp16_round(d) - d) + fabs(fp16_round(mn) - mn) + slack;
    case OMQ_TYPE_Q5_1:
        d = (mx - mn) / 31;
        return d / 2 + 31 * fabs(fp16_round(d) - d) + fabs(fp16_round(mn) - mn) + slack;
    case OMQ_TYPE_Q8_0:
    case OMQ_TYPE_Q8_1: /* half a step plus the fp16 rounding of d times |q| <= 127 */
        d = amax / 127;
        return d / 2 + 127 * fabs(fp16_round(d) - d) + slack;
    case OMQ_TYPE_Q8_K: /* float32 scale */
        return amax / 127.0 * 0.5 + slack;
    default:
        return -1;
    }
}

/* Relative RMSE on N(0, sigma^2) data. The largest seen over 150 runs of this test (>= 256
 * values a matrix) were 0.093 0.082 0.048 0.040 0.0056 0.0059 0.31 0.16 0.075 0.037 0.019
 * 0.0074; the bounds add 25%. (A wrong kernel is off by far more: O(1).) */
static double rmse_bound(omq_type t) {
    switch (t) {
    case OMQ_TYPE_Q4_0: return 0.116;
    case OMQ_TYPE_Q4_1: return 0.102;
    case OMQ_TYPE_Q5_0: return 0.060;
    case OMQ_TYPE_Q5_1: return 0.050;
    case OMQ_TYPE_Q8_0: case OMQ_TYPE_Q8_1: return 0.0074;
    case OMQ_TYPE_Q2_K: return 0.385;
    case OMQ_TYPE_Q3_K: return 0.200;
    case OMQ_TYPE_Q4_K: return 0.094;
    case OMQ_TYPE_Q5_K: return 0.047;
    case OMQ_TYPE_Q6_K: return 0.024;
    case OMQ_TYPE_Q8_K: return 0.0093;
    default: return 0;
    }
}

static void random_data(void **state) {
    (void)state;
    ts_rng rng = ts_rng_seeded();
    for (int d = 0; d < ts_device_count(); ++d) {
        omq_context *ctx;
        assert_int_equal(omq_context_create(&ctx, ts_device(d)), OMQ_OK);
        for (size_t k = 0; k < NTYPES; ++k) {
            const omq_type t = quantized[k];
            const int64_t bs = omq_type_block_size(t);
            const int64_t rows = 1 + (int64_t)(ts_next(&rng) % 24);
            const int64_t cols = bs * (bs == 32 ? 8 + (int64_t)(ts_next(&rng) % 96) : 1 + (int64_t)(ts_next(&rng) % 12));
            /* element bounds hold at any scale; the RMSE bounds need the formats' fp16 scales to
             * stay normal numbers, which holds for sigma in [0.1, 1e4] */
            const int wide = (int)(ts_next(&rng) % 3 == 0);
            const float scale = powf(10.0f, wide ? ts_uniform(&rng, -7, 4) : ts_uniform(&rng, -1, 4));
            const int use_imatrix = (int)(ts_next(&rng) & 1);
            float *x = malloc(sizeof(float) * rows * cols), *y = malloc(sizeof(float) * rows * cols);
            float *w = malloc(sizeof(float) * cols);
            for (int64_t i = 0; i < rows * cols; ++i) x[i] = scale * ts_gauss(&rng);
            for (int64_t i = 0; i < cols; ++i) w[i] = ts_uniform(&rng, 0.01f, 3.0f);
            roundtrip(ctx, t, x, y, rows, cols, use_imatrix ? w : NULL);
            double se = 0, sx = 0;
            for (int64_t b = 0; b < rows * cols / bs; ++b) {
                const double bound = use_imatrix ? -1 : element_bound(t, x + b * bs);
                for (int64_t j = b * bs; j < (b + 1) * bs; ++j) {
                    const double e = fabs((double)y[j] - x[j]);
                    se += e * e;
                    sx += (double)x[j] * x[j];
                    if (bound >= 0 && !(e <= bound))
                        fail_msg("%s on %s, %lld x %lld, scale %g: element %lld off by %g > bound %g", omq_type_name(t),
                                 ts_device_label(ts_device(d)), (long long)rows, (long long)cols, scale, (long long)j, e, bound);
                }
            }
            const double rel = sqrt(se / sx);
            if (getenv("OMQ_TEST_PRINT_RMSE"))
                printf("rmse %s %d %g %g\n", omq_type_name(t), use_imatrix, scale, rel);
            if (scale >= 0.1f && !(rel <= rmse_bound(t)))
                fail_msg("%s on %s, %lld x %lld, sigma %g%s: relative RMSE %g > %g", omq_type_name(t),
                         ts_device_label(ts_device(d)), (long long)rows, (long long)cols, scale,
                         use_imatrix ? " with imatrix" : "", rel, rmse_bound(t));
            free(x);
            free(y);
            free(w);
        }
        omq_context_free(ctx);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {cmocka_unit_test(ggml_acceptance), cmocka_unit_test(random_data)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
