/* Type queries, status codes, contexts, memory, and every kind of bad input: each gets its
 * documented status and a message, leaves the output untouched, and prints nothing. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <ctype.h>
#include <unistd.h>

#include <cmocka.h>

#include "omq.h"
#include "support.h"

static void version_and_status(void **state) {
    (void)state;
    assert_int_equal(omq_version_number(), OMQ_VERSION_NUMBER);
    assert_string_equal(omq_version_string(), OMQ_VERSION_STRING);
    assert_non_null(strstr(omq_build_info(), OMQ_VERSION_STRING));
    /* every status has its own text; unknown codes have one too */
    for (int a = OMQ_OK; a <= OMQ_ERR_NOT_READY; ++a) {
        assert_non_null(omq_strerror((omq_status)a));
        assert_string_not_equal(omq_strerror((omq_status)a), "unknown status code");
        for (int b = OMQ_OK; b < a; ++b)
            assert_string_not_equal(omq_strerror((omq_status)a), omq_strerror((omq_status)b));
    }
    assert_string_equal(omq_strerror((omq_status)999), "unknown status code");
}

static void type_queries(void **state) {
    (void)state;
    static const struct { int id; const char *name; int64_t bs; size_t bytes; } t[] = {
        {0, "f32", 1, 4}, {1, "f16", 1, 2}, {2, "q4_0", 32, 18}, {3, "q4_1", 32, 20},
        {6, "q5_0", 32, 22}, {7, "q5_1", 32, 24}, {8, "q8_0", 32, 34}, {9, "q8_1", 32, 36},
        {10, "q2_K", 256, 84}, {11, "q3_K", 256, 110}, {12, "q4_K", 256, 144},
        {13, "q5_K", 256, 176}, {14, "q6_K", 256, 210}, {15, "q8_K", 256, 292}};
    int valid = 0;
    for (int id = -3; id < 40; ++id) valid += omq_type_is_valid(id);
    assert_int_equal(valid, (int)(sizeof t / sizeof t[0]));
    for (size_t i = 0; i < sizeof t / sizeof t[0]; ++i) {
        omq_type ty;
        assert_true(omq_type_is_valid(t[i].id));
        assert_string_equal(omq_type_name((omq_type)t[i].id), t[i].name);
        assert_int_equal(omq_type_block_size((omq_type)t[i].id), t[i].bs);
        assert_int_equal(omq_type_block_bytes((omq_type)t[i].id), t[i].bytes);
        assert_int_equal(omq_type_from_name(t[i].name, &ty), OMQ_OK);
        assert_int_equal(ty, t[i].id);
        char upper[16];
        for (size_t k = 0; k <= strlen(t[i].name); ++k) upper[k] = (char)toupper((unsigned char)t[i].name[k]);
        assert_int_equal(omq_type_from_name(upper, &ty), OMQ_OK);
        assert_int_equal(ty, t[i].id);
        size_t bytes;
        assert_int_equal(omq_row_size((omq_type)t[i].id, 3 * t[i].bs, &bytes), OMQ_OK);
        assert_int_equal(bytes, 3 * t[i].bytes);
        assert_int_equal(omq_matrix_size((omq_type)t[i].id, 5, 2 * t[i].bs, &bytes), OMQ_OK);
        assert_int_equal(bytes, 10 * t[i].bytes);
        if (t[i].bs > 1) assert_int_equal(omq_row_size((omq_type)t[i].id, t[i].bs + 1, &bytes), OMQ_ERR_SHAPE);
    }
    for (int id = 4; id <= 5; ++id) { /* ggml's removed Q4_2 / Q4_3 */
        assert_false(omq_type_is_valid(id));
        assert_null(omq_type_name((omq_type)id));
        assert_int_equal(omq_type_block_size((omq_type)id), 0);
    }
    omq_type ty;
    size_t bytes;
    assert_int_equal(omq_type_from_name("q4_2", &ty), OMQ_ERR_UNKNOWN_TYPE);
    assert_int_equal(omq_type_from_name("q4_0x", &ty), OMQ_ERR_UNKNOWN_TYPE);
    assert_int_equal(omq_type_from_name("", &ty), OMQ_ERR_UNKNOWN_TYPE);
    assert_int_equal(omq_type_from_name(NULL, &ty), OMQ_ERR_NULL);
    assert_int_equal(omq_row_size((omq_type)77, 32, &bytes), OMQ_ERR_UNKNOWN_TYPE);
    assert_int_equal(omq_row_size(OMQ_TYPE_Q4_0, 32, NULL), OMQ_ERR_NULL);
    assert_int_equal(omq_row_size(OMQ_TYPE_Q4_0, 0, &bytes), OMQ_ERR_EMPTY);
    assert_int_equal(omq_row_size(OMQ_TYPE_Q4_0, -32, &bytes), OMQ_ERR_INVALID_ARG);
    assert_int_equal(omq_matrix_size(OMQ_TYPE_Q4_0, INT64_MAX / 64, 64, &bytes), OMQ_ERR_OVERFLOW);
    assert_int_equal(omq_matrix_size(OMQ_TYPE_F32, INT64_MAX / 2, 4, &bytes), OMQ_ERR_OVERFLOW);
}

static void contexts(void **state) {
    (void)state;
    omq_context *ctx = (omq_context *)1;
    const int ngpu = omq_device_count();
    assert_int_equal(omq_context_create(NULL, OMQ_DEVICE_HOST), OMQ_ERR_NULL);
    assert_int_equal(omq_context_create(&ctx, ngpu), OMQ_ERR_NO_DEVICE); /* one past the last GPU */
    assert_null(ctx);
    assert_int_equal(omq_context_create(&ctx, 1000), OMQ_ERR_NO_DEVICE);
    assert_int_equal(omq_context_create(&ctx, -4), OMQ_ERR_INVALID_ARG);
    for (int i = 0; i < ts_device_count(); ++i) {
        const int d = ts_device(i);
        assert_int_equal(omq_context_create(&ctx, d), OMQ_OK);
        assert_int_equal(omq_context_device(ctx), d);
        assert_true(strlen(omq_context_describe(ctx)) > 0);
        assert_string_equal(omq_context_last_error(ctx), "");
        assert_int_equal(omq_synchronize(ctx), OMQ_OK);
        omq_context_free(ctx);
    }
    assert_int_equal(omq_context_create(&ctx, OMQ_DEVICE_AUTO), OMQ_OK);
    assert_int_equal(omq_context_device(ctx), ngpu > 0 ? 0 : OMQ_DEVICE_HOST);
    omq_context_free(ctx);
    omq_context_free(NULL);
    assert_int_equal(omq_synchronize(NULL), OMQ_ERR_NULL);
}

/* AddressSanitizer prints a warning of its own for an impossible allocation */
#if defined(__SANITIZE_ADDRESS__)
#define UNDER_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define UNDER_ASAN 1
#endif
#endif
#ifndef UNDER_ASAN
#define UNDER_ASAN 0
#endif
static int checking_silence;

static void memory(void **state) {
    (void)state;
    for (int i = 0; i < ts_device_count(); ++i) {
        omq_context *ctx;
        assert_int_equal(omq_context_create(&ctx, ts_device(i)), OMQ_OK);
        void *p = (void *)1;
        assert_int_equal(omq_malloc(ctx, 0, &p), OMQ_ERR_EMPTY);
        assert_null(p);
        assert_int_equal(omq_malloc(NULL, 16, &p), OMQ_ERR_NULL);
        assert_int_equal(omq_malloc(ctx, 16, NULL), OMQ_ERR_NULL);
        /* allocation failure is reported and leaves the context usable */
        if (!(UNDER_ASAN && checking_silence)) {
            assert_int_equal(omq_malloc(ctx, SIZE_MAX / 2, &p), OMQ_ERR_ALLOC);
            assert_null(p);
            assert_true(strlen(omq_context_last_error(ctx)) > 0);
        }
        assert_int_equal(omq_malloc(ctx, 1000, &p), OMQ_OK);
        assert_int_equal((uintptr_t)p % 256, 0);
        char in[1000], out[1000];
        for (int k = 0; k < 1000; ++k) in[k] = (char)(k * 7);
        assert_int_equal(omq_memcpy(ctx, p, in, sizeof in, OMQ_COPY_HOST_TO_DEVICE), OMQ_OK);
        void *q;
        assert_int_equal(omq_malloc(ctx, 1000, &q), OMQ_OK);
        assert_int_equal(omq_memcpy(ctx, q, p, sizeof in, OMQ_COPY_DEVICE_TO_DEVICE), OMQ_OK);
        assert_int_equal(omq_memcpy(ctx, out, q, sizeof out, OMQ_COPY_DEVICE_TO_HOST), OMQ_OK);
        assert_memory_equal(in, out, sizeof in);
        assert_int_equal(omq_memcpy(ctx, out, q, 0, OMQ_COPY_DEVICE_TO_HOST), OMQ_OK);
        assert_int_equal(omq_memcpy(ctx, NULL, q, 4, OMQ_COPY_DEVICE_TO_HOST), OMQ_ERR_NULL);
        assert_int_equal(omq_memcpy(ctx, out, NULL, 4, OMQ_COPY_DEVICE_TO_HOST), OMQ_ERR_NULL);
        assert_int_equal(omq_memcpy(ctx, out, q, 4, (omq_copy_kind)7), OMQ_ERR_INVALID_ARG);
        assert_int_equal(omq_memcpy(NULL, out, q, 4, OMQ_COPY_DEVICE_TO_HOST), OMQ_ERR_NULL);
        assert_int_equal(omq_free(ctx, p), OMQ_OK);
        assert_int_equal(omq_free(ctx, q), OMQ_OK);
        assert_int_equal(omq_free(ctx, NULL), OMQ_OK);
        assert_int_equal(omq_free(NULL, q), OMQ_ERR_NULL);
        omq_context_free(ctx);
    }
}

/* A call that must fail with `want`, record a message, and not touch the poisoned output. */
#define EXPECT_FAIL(ctx, want, call)                                                                \
    do {                                                                                            \
        assert_int_equal((call), (want));                                                           \
        if (ctx) assert_true(strlen(omq_context_last_error(ctx)) > 0);                              \
    } while (0)

static void bad_conversions(void **state) {
    (void)state;
    enum { N = 4096 };
    for (int i = 0; i < ts_device_count(); ++i) {
        omq_context *ctx;
        assert_int_equal(omq_context_create(&ctx, ts_device(i)), OMQ_OK);
        float *x = ts_alloc(ctx, N * sizeof(float) + 64, 0);
        uint8_t *y = ts_alloc(ctx, N * 2 + 64, 0x5A);
        float *w = ts_alloc(ctx, N * sizeof(float), 0);
        const int Q4 = OMQ_TYPE_Q4_0;
        EXPECT_FAIL(NULL, OMQ_ERR_NULL, omq_quantize(NULL, Q4, x, y, 1, 32, NULL));
        EXPECT_FAIL(ctx, OMQ_ERR_NULL, omq_quantize(ctx, Q4, NULL, y, 1, 32, NULL));
        EXPECT_FAIL(ctx, OMQ_ERR_NULL, omq_quantize(ctx, Q4, x, NULL, 1, 32, NULL));
        EXPECT_FAIL(ctx, OMQ_ERR_UNKNOWN_TYPE, omq_quantize(ctx, (omq_type)4, x, y, 1, 32, NULL));
        EXPECT_FAIL(ctx, OMQ_ERR_UNKNOWN_TYPE, omq_quantize(ctx, (omq_type)-1, x, y, 1, 32, NULL));
        EXPECT_FAIL(ctx, OMQ_ERR_SHAPE, omq_quantize(ctx, Q4, x, y, 1, 48, NULL));
        EXPECT_FAIL(ctx, OMQ_ERR_SHAPE, omq_quantize(ctx, OMQ_TYPE_Q4_K, x, y, 1, 128, NULL));
        EXPECT_FAIL(ctx, OMQ_ERR_EMPTY, omq_quantize(ctx, Q4, x, y, 0, 32, NULL));
        EXPECT_FAIL(ctx, OMQ_ERR_EMPTY, omq_quantize(ctx, Q4, x, y, 1, 0, NULL));
        EXPECT_FAIL(ctx, OMQ_ERR_INVALID_ARG, omq_quantize(ctx, Q4, x, y, -1, 32, NULL));
        EXPECT_FAIL(ctx, OMQ_ERR_INVALID_ARG, omq_quantize(ctx, Q4, x, y, 1, -32, NULL));
        EXPECT_FAIL(ctx, OMQ_ERR_OVERFLOW, omq_quantize(ctx, Q4, x, y, INT64_MAX / 32, 32, NULL));
        EXPECT_FAIL(ctx, OMQ_ERR_OVERFLOW, omq_quantize(ctx, Q4, x, y, (int64_t)1 << 40, (int64_t)1 << 40, NULL));
        EXPECT_FAIL(ctx, OMQ_ERR_MISALIGNED, omq_quantize(ctx, Q4, (const float *)((char *)x + 2), y, 1, 32, NULL));
        EXPECT_FAIL(ctx, OMQ_ERR_MISALIGNED, omq_quantize(ctx, Q4, x, y + 1, 1, 32, NULL));
        EXPECT_FAIL(ctx, OMQ_ERR_MISALIGNED, omq_quantize(ctx, OMQ_TYPE_Q8_K, x, y + 2, 1, 256, NULL));
        EXPECT_FAIL(ctx, OMQ_ERR_MISALIGNED, omq_quantize(ctx, Q4, x, y, 1, 32, (const float *)((char *)w + 1)));
        EXPECT_FAIL(NULL, OMQ_ERR_NULL, omq_dequantize(NULL, Q4, y, OMQ_TYPE_F32, x, 1, 32));
        EXPECT_FAIL(ctx, OMQ_ERR_NULL, omq_dequantize(ctx, Q4, NULL, OMQ_TYPE_F32, x, 1, 32));
        EXPECT_FAIL(ctx, OMQ_ERR_NULL, omq_dequantize(ctx, Q4, y, OMQ_TYPE_F32, NULL, 1, 32));
        EXPECT_FAIL(ctx, OMQ_ERR_UNKNOWN_TYPE, omq_dequantize(ctx, (omq_type)16, y, OMQ_TYPE_F32, x, 1, 32));
        EXPECT_FAIL(ctx, OMQ_ERR_UNSUPPORTED, omq_dequantize(ctx, Q4, y, OMQ_TYPE_Q8_0, x, 1, 32));
        EXPECT_FAIL(ctx, OMQ_ERR_UNKNOWN_TYPE, omq_dequantize(ctx, Q4, y, (omq_type)5, x, 1, 32));
        EXPECT_FAIL(ctx, OMQ_ERR_SHAPE, omq_dequantize(ctx, Q4, y, OMQ_TYPE_F32, x, 2, 33));
        EXPECT_FAIL(ctx, OMQ_ERR_EMPTY, omq_dequantize(ctx, Q4, y, OMQ_TYPE_F32, x, 0, 32));
        EXPECT_FAIL(ctx, OMQ_ERR_OVERFLOW, omq_dequantize(ctx, Q4, y, OMQ_TYPE_F32, x, INT64_MAX / 32, 64));
        EXPECT_FAIL(ctx, OMQ_ERR_MISALIGNED, omq_dequantize(ctx, Q4, y + 1, OMQ_TYPE_F32, x, 1, 32));
        EXPECT_FAIL(ctx, OMQ_ERR_MISALIGNED, omq_dequantize(ctx, OMQ_TYPE_Q5_K, y + 2, OMQ_TYPE_F32, x, 1, 256));
        EXPECT_FAIL(ctx, OMQ_ERR_MISALIGNED, omq_dequantize(ctx, Q4, y, OMQ_TYPE_F32, (float *)((char *)x + 2), 1, 32));
        EXPECT_FAIL(ctx, OMQ_ERR_MISALIGNED, omq_dequantize(ctx, Q4, y, OMQ_TYPE_F16, (float *)((char *)x + 1), 1, 32));
        /* nothing above touched the poisoned output; a good call still works */
        assert_int_equal(omq_synchronize(ctx), OMQ_OK);
        uint8_t host[N * 2];
        ts_download(ctx, host, y, sizeof host);
        for (size_t k = 0; k < sizeof host; ++k) assert_int_equal(host[k], 0x5A);
        assert_int_equal(omq_quantize(ctx, Q4, x, y, 1, 32, NULL), OMQ_OK);
        assert_string_equal(omq_context_last_error(ctx), "");
        assert_int_equal(omq_synchronize(ctx), OMQ_OK);
        ts_free(ctx, x);
        ts_free(ctx, y);
        ts_free(ctx, w);
        omq_context_free(ctx);
    }
}

/* NaN or Inf in a block: that block becomes zeros, the others are as for clean input, and the
 * next synchronize (only) reports OMQ_ERR_NONFINITE. */
static void nonfinite_input(void **state) {
    (void)state;
    const float bad[3] = {__builtin_nanf(""), __builtin_inff(), -__builtin_inff()};
    for (int i = 0; i < ts_device_count(); ++i) {
        omq_context *ctx;
        assert_int_equal(omq_context_create(&ctx, ts_device(i)), OMQ_OK);
        for (int t = 2; t < 16; ++t) {
            if (!omq_type_is_valid(t)) continue;
            const int64_t bs = omq_type_block_size((omq_type)t), cols = 4 * bs;
            const size_t bb = omq_type_block_bytes((omq_type)t);
            float x[4 * 256];
            for (int k = 0; k < cols; ++k) x[k] = (float)((k * 37) % 19) - 9.0f;
            uint8_t clean[4 * 292], got[4 * 292];
            float *dx = ts_upload(ctx, x, sizeof(float) * cols);
            void *dy = ts_alloc(ctx, 4 * bb, 0x33);
            assert_int_equal(omq_quantize(ctx, (omq_type)t, dx, dy, 1, cols, NULL), OMQ_OK);
            assert_int_equal(omq_synchronize(ctx), OMQ_OK);
            ts_download(ctx, clean, dy, 4 * bb);
            x[2 * bs + 5] = bad[t % 3];
            ts_free(ctx, dx);
            dx = ts_upload(ctx, x, sizeof(float) * cols);
            assert_int_equal(omq_quantize(ctx, (omq_type)t, dx, dy, 1, cols, NULL), OMQ_OK);
            assert_int_equal(omq_synchronize(ctx), OMQ_ERR_NONFINITE);
            assert_true(strlen(omq_context_last_error(ctx)) > 0);
            assert_int_equal(omq_synchronize(ctx), OMQ_OK);
            ts_download(ctx, got, dy, 4 * bb);
            assert_memory_equal(got, clean, 2 * bb);
            for (size_t k = 2 * bb; k < 3 * bb; ++k) assert_int_equal(got[k], 0);
            assert_memory_equal(got + 3 * bb, clean + 3 * bb, bb);
            ts_free(ctx, dx);
            ts_free(ctx, dy);
        }
        omq_context_free(ctx);
    }
}

/* The library never prints: run the failing calls with stdout and stderr sent to a file. */
static void library_is_silent(void **state) {
    fflush(stdout);
    fflush(stderr);
    FILE *sink = tmpfile();
    assert_non_null(sink);
    const int out = dup(1), err = dup(2);
    dup2(fileno(sink), 1);
    dup2(fileno(sink), 2);
    checking_silence = 1;
    bad_conversions(state);
    memory(state);
    checking_silence = 0;
    omq_context *ctx = NULL;
    (void)omq_context_create(&ctx, 1000);
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

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(version_and_status), cmocka_unit_test(type_queries),
        cmocka_unit_test(contexts),           cmocka_unit_test(memory),
        cmocka_unit_test(bad_conversions),    cmocka_unit_test(nonfinite_input),
        cmocka_unit_test(library_is_silent),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
