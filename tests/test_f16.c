/* IEEE binary16 conversions on every device: all 65536 halves to float32 and back, and a
 * sweep of float32 bit patterns to half, against the compiler's _Float16 conversions
 * (round to nearest even; subnormals, Inf and NaN included); random blocks of every type
 * dequantized on every device as on the host. NaNs: half -> float keeps sign
 * and payload and sets the quiet bit; float -> half gives sign | 0x7e00, as ggml does. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "omq.h"
#include "support.h"

static uint32_t f32_bits(float f) { uint32_t u; memcpy(&u, &f, 4); return u; }
static float bits_f32(uint32_t u) { float f; memcpy(&f, &u, 4); return f; }

static int is_nan16(uint16_t h) { return (h & 0x7c00) == 0x7c00 && (h & 0x3ff); }

static uint16_t ref_to_half(float f) {
    if (f != f) return (uint16_t)(((f32_bits(f) >> 16) & 0x8000) | 0x7e00);
    _Float16 h = (_Float16)f;
    uint16_t b;
    memcpy(&b, &h, 2);
    return b;
}

static uint32_t ref_to_float_bits(uint16_t h) {
    if (is_nan16(h)) return ((uint32_t)(h & 0x8000) << 16) | 0x7f800000u | 0x400000u | ((uint32_t)(h & 0x3ff) << 13);
    _Float16 v;
    memcpy(&v, &h, 2);
    return f32_bits((float)v);
}

static void all_halves(void **state) {
    (void)state;
    enum { N = 65536 };
    uint16_t *h = malloc(N * 2), *back = malloc(N * 2);
    float *f = malloc(N * 4);
    for (int i = 0; i < N; ++i) h[i] = (uint16_t)i;
    for (int d = 0; d < ts_device_count(); ++d) {
        omq_context *ctx;
        assert_int_equal(omq_context_create(&ctx, ts_device(d)), OMQ_OK);
        void *dh = ts_upload(ctx, h, N * 2);
        float *df = ts_alloc(ctx, N * 4, 0xA5);
        uint16_t *dback = ts_alloc(ctx, N * 2, 0xA5);
        assert_int_equal(omq_dequantize(ctx, OMQ_TYPE_F16, dh, OMQ_TYPE_F32, df, 1, N), OMQ_OK);
        assert_int_equal(omq_quantize(ctx, OMQ_TYPE_F16, df, dback, 1, N, NULL), OMQ_OK);
        assert_int_equal(omq_synchronize(ctx), OMQ_OK);
        ts_download(ctx, f, df, N * 4);
        ts_download(ctx, back, dback, N * 2);
        for (int i = 0; i < N; ++i) {
            if (f32_bits(f[i]) != ref_to_float_bits(h[i]))
                fail_msg("%s: half 0x%04x -> 0x%08x, expected 0x%08x", ts_device_label(ts_device(d)), i,
                         f32_bits(f[i]), ref_to_float_bits(h[i]));
            const uint16_t want = is_nan16(h[i]) ? (uint16_t)((h[i] & 0x8000) | 0x7e00) : h[i];
            if (back[i] != want)
                fail_msg("%s: half 0x%04x round trip gave 0x%04x", ts_device_label(ts_device(d)), i, back[i]);
        }
        ts_free(ctx, dh);
        ts_free(ctx, df);
        ts_free(ctx, dback);
        omq_context_free(ctx);
    }
    free(h);
    free(back);
    free(f);
}

/* every 2^8-th float bit pattern, plus the neighbourhood of every half-way point and of the
 * overflow, underflow and subnormal boundaries */
static void float_sweep(void **state) {
    (void)state;
    const size_t n = ((size_t)1 << 24) + 65536 * 6;
    float *x = malloc(n * 4);
    uint16_t *h = malloc(n * 2);
    size_t k = 0;
    for (uint64_t u = 0; u < ((uint64_t)1 << 32); u += 256) x[k++] = bits_f32((uint32_t)u + 0x5bu * (u >> 8 & 1));
    for (uint32_t i = 0; i < 65536; ++i) { /* half i's value, and the midpoints to i+1 */
        const uint32_t mid = f32_bits(bits_f32(ref_to_float_bits((uint16_t)i)));
        const uint32_t b = (i & 0x7c00) == 0x7c00 ? 0x477ff000u | (i & 0x8000u) << 16 : mid + (1u << 12);
        x[k++] = bits_f32(mid);
        x[k++] = bits_f32(b - 1);
        x[k++] = bits_f32(b);
        x[k++] = bits_f32(b + 1);
        x[k++] = bits_f32(mid ^ 0x80000000u);
        x[k++] = bits_f32((b ^ 0x80000000u) + 1);
    }
    assert_true(k <= n);
    for (int d = 0; d < ts_device_count(); ++d) {
        omq_context *ctx;
        assert_int_equal(omq_context_create(&ctx, ts_device(d)), OMQ_OK);
        float *dx = ts_upload(ctx, x, k * 4);
        uint16_t *dh = ts_alloc(ctx, k * 2, 0xA5);
        assert_int_equal(omq_quantize(ctx, OMQ_TYPE_F16, dx, dh, 1, (int64_t)k, NULL), OMQ_OK);
        assert_int_equal(omq_synchronize(ctx), OMQ_OK);
        ts_download(ctx, h, dh, k * 2);
        for (size_t i = 0; i < k; ++i)
            if (h[i] != ref_to_half(x[i]))
                fail_msg("%s: float 0x%08x -> half 0x%04x, expected 0x%04x", ts_device_label(ts_device(d)),
                         f32_bits(x[i]), h[i], ref_to_half(x[i]));
        ts_free(ctx, dx);
        ts_free(ctx, dh);
        omq_context_free(ctx);
    }
    free(x);
    free(h);
}

/* Random bytes as blocks of every type (so scales that are NaN, Inf, subnormal or huge, and
 * products that overflow binary16), and as f32 / f16 rows whose length is no multiple of 8,
 * dequantized to f16 and f32 on every device: the host's bits, bit for bit, NaN for NaN. */
static void random_bytes(void **state) {
    (void)state;
    static const omq_type types[] = {OMQ_TYPE_F32,  OMQ_TYPE_F16,  OMQ_TYPE_Q4_0, OMQ_TYPE_Q4_1, OMQ_TYPE_Q5_0,
                                     OMQ_TYPE_Q5_1, OMQ_TYPE_Q8_0, OMQ_TYPE_Q8_1, OMQ_TYPE_Q2_K, OMQ_TYPE_Q3_K,
                                     OMQ_TYPE_Q4_K, OMQ_TYPE_Q5_K, OMQ_TYPE_Q6_K, OMQ_TYPE_Q8_K};
    ts_rng rng = ts_rng_seeded();
    omq_context *host;
    assert_int_equal(omq_context_create(&host, OMQ_DEVICE_HOST), OMQ_OK);
    for (size_t t = 0; t < sizeof types / sizeof types[0]; ++t) {
        const int64_t bs = omq_type_block_size(types[t]), rows = 3, cols = bs > 1 ? 4 * 256 : 1003;
        size_t bytes = 0;
        assert_int_equal(omq_matrix_size(types[t], rows, cols, &bytes), OMQ_OK);
        uint8_t *q = malloc(bytes);
        for (size_t i = 0; i < bytes; ++i) q[i] = (uint8_t)ts_next(&rng);
        const size_t nval = (size_t)(rows * cols);
        uint16_t *want_h = malloc(nval * 2), *got_h = malloc(nval * 2);
        float *want_f = malloc(nval * 4), *got_f = malloc(nval * 4);
        assert_int_equal(omq_dequantize(host, types[t], q, OMQ_TYPE_F16, want_h, rows, cols), OMQ_OK);
        assert_int_equal(omq_dequantize(host, types[t], q, OMQ_TYPE_F32, want_f, rows, cols), OMQ_OK);
        assert_int_equal(omq_synchronize(host), OMQ_OK);
        for (int d = 1; d < ts_device_count(); ++d) {
            omq_context *ctx;
            assert_int_equal(omq_context_create(&ctx, ts_device(d)), OMQ_OK);
            void *dq = ts_upload(ctx, q, bytes);
            uint16_t *dh = ts_alloc(ctx, nval * 2, 0xA5);
            float *df = ts_alloc(ctx, nval * 4, 0xA5);
            assert_int_equal(omq_dequantize(ctx, types[t], dq, OMQ_TYPE_F16, dh, rows, cols), OMQ_OK);
            assert_int_equal(omq_dequantize(ctx, types[t], dq, OMQ_TYPE_F32, df, rows, cols), OMQ_OK);
            assert_int_equal(omq_synchronize(ctx), OMQ_OK);
            ts_download(ctx, got_h, dh, nval * 2);
            ts_download(ctx, got_f, df, nval * 4);
            for (size_t i = 0; i < nval; ++i) {
                if (is_nan16(want_h[i]) && is_nan16(got_h[i]) && want_f[i] != want_f[i] && got_f[i] != got_f[i])
                    continue; /* a NaN's sign and payload follow the processor (omq.h) */
                if (got_h[i] != want_h[i])
                    fail_msg("%s: type %d to f16, value %zu: 0x%04x, host 0x%04x", ts_device_label(ts_device(d)),
                             (int)types[t], i, got_h[i], want_h[i]);
                if (f32_bits(got_f[i]) != f32_bits(want_f[i]))
                    fail_msg("%s: type %d to f32, value %zu: 0x%08x, host 0x%08x", ts_device_label(ts_device(d)),
                             (int)types[t], i, f32_bits(got_f[i]), f32_bits(want_f[i]));
            }
            ts_free(ctx, dq);
            ts_free(ctx, dh);
            ts_free(ctx, df);
            omq_context_free(ctx);
        }
        free(q);
        free(want_h);
        free(got_h);
        free(want_f);
        free(got_f);
    }
    omq_context_free(host);
}

int main(void) {
    const struct CMUnitTest tests[] = {cmocka_unit_test(all_halves), cmocka_unit_test(float_sweep),
                                       cmocka_unit_test(random_bytes)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
