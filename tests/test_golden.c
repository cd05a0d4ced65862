/* Byte-exactness with ggml on its reference vectors: quantization reproduces T.bin and
 * T.imat.bin bit for bit, dequantization reproduces ggml's output (by SHA-256), on every
 * device; and sub-matrices (other shapes) reproduce the matching blocks of the same files. */
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

enum { NROWS = 16, NCOLS = 4096 };

typedef struct {
    const char *file; /* golden file stem */
    omq_type type;
    int imatrix;      /* compare the imatrix variant too */
    int row_stat;     /* imatrix result depends on the whole row (legacy types) */
} golden_case;

static const golden_case cases[] = {
    {"q4_0", OMQ_TYPE_Q4_0, 1, 1}, {"q4_1", OMQ_TYPE_Q4_1, 1, 1}, {"q5_0", OMQ_TYPE_Q5_0, 1, 1},
    {"q5_1", OMQ_TYPE_Q5_1, 1, 1}, {"q8_0", OMQ_TYPE_Q8_0, 1, 0}, {"q8_1", OMQ_TYPE_Q8_1, 0, 0},
    {"q2_k", OMQ_TYPE_Q2_K, 1, 0}, {"q3_k", OMQ_TYPE_Q3_K, 1, 0}, {"q4_k", OMQ_TYPE_Q4_K, 1, 0},
    {"q5_k", OMQ_TYPE_Q5_K, 1, 0}, {"q6_k", OMQ_TYPE_Q6_K, 1, 0}, {"q8_k", OMQ_TYPE_Q8_K, 0, 0},
};

static float *g_input, *g_imatrix;

static int load_inputs(void **state) {
    (void)state;
    size_t n1 = 0, n2 = 0;
    g_input = ts_read_file(ts_golden_path("input.f32"), &n1);
    g_imatrix = ts_read_file(ts_golden_path("imatrix.f32"), &n2);
    return !(g_input && g_imatrix && n1 == sizeof(float) * NROWS * NCOLS && n2 == sizeof(float) * NCOLS);
}

static int free_inputs(void **state) {
    (void)state;
    free(g_input);
    free(g_imatrix);
    return 0;
}

static void *read_golden(const char *name, size_t expect) {
    size_t n = 0;
    void *p = ts_read_file(ts_golden_path(name), &n);
    if (!p) fail_msg("cannot read golden file %s", name);
    if (n != expect) fail_msg("%s has %zu bytes, expected %zu", name, n, expect);
    return p;
}

static const char *expected_deq_sha(const char *deq_name) {
    static char line[256], want[65];
    FILE *f = fopen(ts_golden_path("SHA256SUMS.deq"), "r");
    assert_non_null(f);
    want[0] = 0;
    while (fgets(line, sizeof line, f)) {
        char hex[65], name[128];
        if (sscanf(line, "%64s %127s", hex, name) == 2 && !strcmp(name, deq_name)) strcpy(want, hex);
    }
    fclose(f);
    if (!want[0]) fail_msg("no digest for %s", deq_name);
    return want;
}

static void compare_blocks(const uint8_t *got, const uint8_t *want, size_t bytes, size_t block_bytes,
                           int64_t blocks_per_row, const char *what, int device) {
    if (!memcmp(got, want, bytes)) return;
    for (size_t i = 0; i < bytes; ++i) {
        if (got[i] != want[i]) {
            size_t b = i / block_bytes;
            fail_msg("%s on %s: first difference at byte %zu (row %lld, block %lld, byte %zu of the "
                     "block): got 0x%02x, ggml 0x%02x",
                     what, ts_device_label(device), i, (long long)(b / blocks_per_row),
                     (long long)(b % blocks_per_row), i % block_bytes, got[i], want[i]);
        }
    }
}

/* quantize rows x cols at (r0, c0) of the golden input, compare with the golden blocks */
static void check_slice(omq_context *ctx, int device, const golden_case *c, const uint8_t *golden,
                        int use_imat, int64_t r0, int64_t rows, int64_t c0, int64_t cols) {
    const omq_type t = c->type;
    const int64_t bs = omq_type_block_size(t);
    const size_t bb = omq_type_block_bytes(t);
    size_t bytes = 0, full_row = 0;
    assert_int_equal(omq_matrix_size(t, rows, cols, &bytes), OMQ_OK);
    assert_int_equal(omq_row_size(t, NCOLS, &full_row), OMQ_OK);

    float *x = malloc(sizeof(float) * rows * cols);
    uint8_t *want = malloc(bytes), *got = malloc(bytes);
    for (int64_t r = 0; r < rows; ++r) {
        memcpy(x + r * cols, g_input + (r0 + r) * NCOLS + c0, sizeof(float) * cols);
        memcpy(want + r * (bytes / rows), golden + (r0 + r) * full_row + (c0 / bs) * bb, bytes / rows);
    }
    float *dx = ts_upload(ctx, x, sizeof(float) * rows * cols);
    float *dw = use_imat ? ts_upload(ctx, g_imatrix + c0, sizeof(float) * cols) : NULL;
    void *dy = ts_alloc(ctx, bytes, 0xA5); /* poisoned: unwritten bytes show */
    assert_int_equal(omq_quantize(ctx, t, dx, dy, rows, cols, dw), OMQ_OK);
    assert_int_equal(omq_synchronize(ctx), OMQ_OK);
    ts_download(ctx, got, dy, bytes);
    char what[128];
    snprintf(what, sizeof what, "%s%s rows %lld+%lld cols %lld+%lld", c->file, use_imat ? " imatrix" : "",
             (long long)r0, (long long)rows, (long long)c0, (long long)cols);
    compare_blocks(got, want, bytes, bb, cols / bs, what, device);
    ts_free(ctx, dx);
    ts_free(ctx, dw);
    ts_free(ctx, dy);
    free(x);
    free(want);
    free(got);
}

static void check_dequantize(omq_context *ctx, int device, const golden_case *c, const uint8_t *golden,
                             size_t bytes, int use_imat) {
    const size_t nval = (size_t)NROWS * NCOLS;
    void *dq = ts_upload(ctx, golden, bytes);
    float *dy = ts_alloc(ctx, sizeof(float) * nval, 0xA5);
    uint16_t *dh = ts_alloc(ctx, sizeof(uint16_t) * nval, 0xA5);
    assert_int_equal(omq_dequantize(ctx, c->type, dq, OMQ_TYPE_F32, dy, NROWS, NCOLS), OMQ_OK);
    assert_int_equal(omq_dequantize(ctx, c->type, dq, OMQ_TYPE_F16, dh, NROWS, NCOLS), OMQ_OK);
    assert_int_equal(omq_synchronize(ctx), OMQ_OK);
    float *y = malloc(sizeof(float) * nval);
    uint16_t *h = malloc(sizeof(uint16_t) * nval);
    ts_download(ctx, y, dy, sizeof(float) * nval);
    ts_download(ctx, h, dh, sizeof(uint16_t) * nval);

    char name[64], hex[65];
    snprintf(name, sizeof name, "%s%s.deq.f32", c->file, use_imat ? ".imat" : "");
    ts_sha256_hex(y, sizeof(float) * nval, hex);
    if (strcmp(hex, expected_deq_sha(name)))
        fail_msg("dequantize %s on %s: output differs from ggml's %s (sha256 %s)", c->file,
                 ts_device_label(device), name, hex);
    /* f16 output is the f32 result rounded to nearest even (the compiler's conversion) */
    for (size_t i = 0; i < nval; ++i) {
        _Float16 e = (_Float16)y[i];
        uint16_t eb;
        memcpy(&eb, &e, 2);
        if (eb != h[i])
            fail_msg("dequantize %s to f16 on %s: value %zu is 0x%04x, expected 0x%04x", c->file,
                     ts_device_label(device), i, h[i], eb);
    }
    ts_free(ctx, dq);
    ts_free(ctx, dy);
    ts_free(ctx, dh);
    free(y);
    free(h);
}

/* Buffers that are only element-aligned (not 16-byte aligned) take the kernels' scalar
 * forms: same bytes. */
static void check_unaligned(omq_context *ctx, int device, const golden_case *c, const uint8_t *golden) {
    const int64_t cols = NCOLS;
    size_t qbytes = 0;
    assert_int_equal(omq_row_size(c->type, cols, &qbytes), OMQ_OK);
    float *dx = ts_alloc(ctx, sizeof(float) * (cols + 4), 0);
    uint8_t *dq = ts_alloc(ctx, qbytes + 16, 0);
    uint16_t *dh = ts_alloc(ctx, sizeof(uint16_t) * (cols + 8), 0);
    assert_int_equal(omq_memcpy(ctx, dx + 1, g_input, sizeof(float) * cols, OMQ_COPY_HOST_TO_DEVICE), OMQ_OK);
    const size_t qoff = omq_type_block_bytes(c->type) % 4 ? 2 : 4; /* the block type's alignment */
    assert_int_equal(omq_quantize(ctx, c->type, dx + 1, dq + qoff, 1, cols, NULL), OMQ_OK);
    assert_int_equal(omq_dequantize(ctx, c->type, dq + qoff, OMQ_TYPE_F16, dh + 1, 1, cols), OMQ_OK);
    assert_int_equal(omq_synchronize(ctx), OMQ_OK);
    uint8_t *q = malloc(qbytes);
    uint16_t *h = malloc(sizeof(uint16_t) * cols), *want = malloc(sizeof(uint16_t) * cols);
    ts_download(ctx, q, dq + qoff, qbytes);
    ts_download(ctx, h, dh + 1, sizeof(uint16_t) * cols);
    char what[64];
    snprintf(what, sizeof what, "%s from a misaligned buffer", c->file);
    compare_blocks(q, golden, qbytes, omq_type_block_bytes(c->type), cols / omq_type_block_size(c->type), what, device);
    omq_context *host;
    assert_int_equal(omq_context_create(&host, OMQ_DEVICE_HOST), OMQ_OK);
    assert_int_equal(omq_dequantize(host, c->type, golden, OMQ_TYPE_F16, want, 1, cols), OMQ_OK);
    assert_int_equal(omq_synchronize(host), OMQ_OK);
    omq_context_free(host);
    if (memcmp(h, want, sizeof(uint16_t) * cols))
        fail_msg("%s: f16 dequantization into a misaligned buffer on %s differs", c->file, ts_device_label(device));
    ts_free(ctx, dx);
    ts_free(ctx, dq);
    ts_free(ctx, dh);
    free(q);
    free(h);
    free(want);
}

static void golden_type(void **state) {
    const golden_case *c = *state;
    size_t bytes = 0;
    assert_int_equal(omq_matrix_size(c->type, NROWS, NCOLS, &bytes), OMQ_OK);
    const int64_t bs = omq_type_block_size(c->type);
    for (int imat = 0; imat <= c->imatrix; ++imat) {
        char name[64];
        /* ggml's q8_0 ignores the imatrix: its .bin serves both */
        snprintf(name, sizeof name, "%s%s.bin", c->file, imat && c->type != OMQ_TYPE_Q8_0 ? ".imat" : "");
        uint8_t *golden = read_golden(name, bytes);
        for (int i = 0; i < ts_device_count(); ++i) {
            const int device = ts_device(i);
            omq_context *ctx = NULL;
            assert_int_equal(omq_context_create(&ctx, device), OMQ_OK);
            /* the whole matrix, then other shapes: row ranges, column ranges, single blocks */
            check_slice(ctx, device, c, golden, imat, 0, NROWS, 0, NCOLS);
            check_slice(ctx, device, c, golden, imat, 5, 7, 0, NCOLS);
            check_slice(ctx, device, c, golden, imat, 15, 1, 0, NCOLS);
            if (!(imat && c->row_stat)) {
                check_slice(ctx, device, c, golden, imat, 3, 9, bs * 3, bs * 5);
                check_slice(ctx, device, c, golden, imat, 0, NROWS, NCOLS - bs, bs);
                check_slice(ctx, device, c, golden, imat, 6, 1, bs, bs);
            }
            check_dequantize(ctx, device, c, golden, bytes, imat && c->type != OMQ_TYPE_Q8_0);
            if (!imat) check_unaligned(ctx, device, c, golden);
            omq_context_free(ctx);
        }
        free(golden);
    }
}

/* The tie cases below: x (nb blocks) quantized to each of types on every device, each row's
 * blocks handed to check with the device's label. */
enum { TIE_MAX_BLOCKS = 4 };
typedef void (*tie_check)(omq_type type, const char *where, const uint8_t *blocks, size_t bb);
static void quantize_ties(const float *x, int nb, const omq_type *types, size_t ntypes, tie_check check) {
    assert_true(nb <= TIE_MAX_BLOCKS);
    for (int i = 0; i < ts_device_count(); ++i) {
        const int device = ts_device(i);
        omq_context *ctx = NULL;
        assert_int_equal(omq_context_create(&ctx, device), OMQ_OK);
        float *dx = ts_upload(ctx, x, (size_t)nb * 32 * sizeof *x);
        for (size_t t = 0; t < ntypes; ++t) {
            const size_t bb = omq_type_block_bytes(types[t]);
            uint8_t got[TIE_MAX_BLOCKS * 32]; /* the legacy types' blocks are under 32 bytes */
            assert_true(nb * bb <= sizeof got);
            void *dy = ts_alloc(ctx, nb * bb, 0xA5);
            assert_int_equal(omq_quantize(ctx, types[t], dx, dy, 1, nb * 32, NULL), OMQ_OK);
            assert_int_equal(omq_synchronize(ctx), OMQ_OK);
            ts_download(ctx, got, dy, nb * bb);
            check(types[t], ts_device_label(device), got, bb);
            ts_free(ctx, dy);
        }
        ts_free(ctx, dx);
        omq_context_free(ctx);
    }
}

static uint16_t half_at(const uint8_t *p) { return (uint16_t)(p[0] | p[1] << 8); }

/* Q4_0 and Q5_0 take the sign of their scale from the first value of largest magnitude; the
 * golden rows hold no block where two such values differ in sign, so these do: ggml's scale
 * is max / -8 (-16) with max the first of them, and max = +0 for an all-zero block (d = -0).
 * d in fp16 bits: +-2 / -8 = -+0.25, +-2 / -16 = -+0.125, +0 / -8 = -0. */
enum { SIGNED_MAX_BLOCKS = 3 };
static void check_signed_max(omq_type type, const char *where, const uint8_t *q, size_t bb) {
    static const uint16_t q4_0[] = {0x3400, 0xB400, 0x8000}, q5_0[] = {0x3000, 0xB000, 0x8000};
    const uint16_t *want = type == OMQ_TYPE_Q4_0 ? q4_0 : q5_0;
    for (int b = 0; b < SIGNED_MAX_BLOCKS; ++b)
        if (half_at(q + b * bb) != want[b])
            fail_msg("%s on %s, block %d: d = 0x%04x, ggml 0x%04x", omq_type_name(type), where, b,
                     half_at(q + b * bb), want[b]);
}

static void signed_max_ties(void **state) {
    (void)state;
    float x[SIGNED_MAX_BLOCKS * 32];
    for (int j = 0; j < SIGNED_MAX_BLOCKS * 32; ++j)
        x[j] = j < 64 ? 0.01f * (float)(j % 32) - 0.15f : (j & 1 ? 0.0f : -0.0f);
    x[5] = -2.0f, x[20] = 2.0f;          /* block 0: the negative one first */
    x[32 + 3] = 2.0f, x[32 + 9] = -2.0f; /* block 1: the positive one first */
    const omq_type types[] = {OMQ_TYPE_Q4_0, OMQ_TYPE_Q5_0};
    quantize_ties(x, SIGNED_MAX_BLOCKS, types, 2, check_signed_max);
}

/* Q4_1 and Q5_1 store m = min (d = (max - min) / 15 or 31): ggml's loop keeps the first of
 * +0 and -0 as the minimum (and maximum), which the golden rows do not probe. Blocks: >= 0 with
 * -0 before +0, then +0 before -0; all zero from -0, then from +0 (d = max - min = +0). */
enum { MIN_MAX_BLOCKS = 4 };
static void check_min_max(omq_type type, const char *where, const uint8_t *q, size_t bb) {
    static const uint16_t want_m[MIN_MAX_BLOCKS] = {0x8000, 0x0000, 0x8000, 0x0000};
    for (int b = 0; b < MIN_MAX_BLOCKS; ++b) {
        const uint16_t d = half_at(q + b * bb), m = half_at(q + b * bb + 2);
        if (m != want_m[b] || (b >= 2 && d != 0))
            fail_msg("%s on %s, block %d: d = 0x%04x, m = 0x%04x; ggml m = 0x%04x%s", omq_type_name(type),
                     where, b, d, m, want_m[b], b >= 2 ? ", d = 0x0000" : "");
    }
}

static void min_max_zeros(void **state) {
    (void)state;
    float x[MIN_MAX_BLOCKS * 32];
    for (int j = 0; j < MIN_MAX_BLOCKS * 32; ++j) x[j] = j < 64 ? 0.01f * (float)(j % 32 + 1) : (j & 1 ? -0.0f : 0.0f);
    x[4] = -0.0f, x[9] = 0.0f;           /* block 0 */
    x[32 + 4] = 0.0f, x[32 + 9] = -0.0f; /* block 1 */
    x[64] = -0.0f, x[65] = 0.0f;         /* block 2; block 3 starts with +0 */
    const omq_type types[] = {OMQ_TYPE_Q4_1, OMQ_TYPE_Q5_1};
    quantize_ties(x, MIN_MAX_BLOCKS, types, 2, check_min_max);
}

int main(void) {
    enum { NCASES = sizeof cases / sizeof cases[0] };
    struct CMUnitTest tests[NCASES + 2];
    for (size_t i = 0; i < NCASES; ++i) {
        tests[i] = (struct CMUnitTest)cmocka_unit_test_prestate(golden_type, (void *)&cases[i]);
        tests[i].name = cases[i].file;
    }
    tests[NCASES] = (struct CMUnitTest)cmocka_unit_test(signed_max_ties);
    tests[NCASES + 1] = (struct CMUnitTest)cmocka_unit_test(min_max_zeros);
    return cmocka_run_group_tests(tests, load_inputs, free_inputs);
}
