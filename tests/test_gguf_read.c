/* The reader on files written by the reference gguf package: every key-value and tensor of
 * the fixtures in tests/gguf matches manifest.txt (made by gguf's own reader), gguf-py's quantized
 * tensors are byte-identical to omq's quantization of the same input, uploads land on every
 * device intact, and what omq cannot convert is refused clearly. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "omq.h"
#include "omq_gguf.h"
#include "support.h"


static omq_gguf *open_fixture(const char *name) {
    omq_gguf *g = NULL;
    char msg[512] = "";
    omq_status st = omq_gguf_open(ts_gguf_fixture(name), &g, msg, sizeof msg);
    if (st) fail_msg("%s: %s: %s", name, omq_strerror(st), msg);
    return g;
}

static void hex_decode(const char *hex, char *out, size_t *n) {
    *n = 0;
    if (!strcmp(hex, "-")) return;
    for (size_t i = 0; hex[i] && hex[i + 1]; i += 2) {
        unsigned v;
        sscanf(hex + i, "%2x", &v);
        out[(*n)++] = (char)v;
    }
}

static void check_kv(omq_gguf *g, char **f, int nf) {
    const char *key = f[1], *type = f[2];
    const int64_t i = omq_gguf_find_key(g, key);
    if (i < 0) fail_msg("key %s missing", key);
    assert_string_equal(omq_gguf_kv_key(g, i), key);
    if (!strcmp(type, "array")) {
        assert_int_equal(nf, 6);
        int et;
        uint64_t count;
        const void *data;
        assert_int_equal(omq_gguf_get_array(g, i, &et, &count, &data), OMQ_OK);
        assert_string_equal(omq_gguf_type_name(et), f[3]);
        assert_int_equal(count, strtoull(f[4], NULL, 10));
        uint8_t *blob;
        size_t n = 0;
        if (et == OMQ_GGUF_STRING) {
            assert_null(data);
            size_t cap = 16;
            blob = malloc(cap);
            for (uint64_t j = 0; j < count; ++j) {
                const char *s;
                uint64_t len;
                assert_int_equal(omq_gguf_get_array_string(g, i, j, &s, &len), OMQ_OK);
                while (n + 8 + len > cap) blob = realloc(blob, cap *= 2);
                for (int b = 0; b < 8; ++b) blob[n + b] = (uint8_t)(len >> (8 * b));
                memcpy(blob + n + 8, s, len);
                n += 8 + len;
            }
            const char *s;
            uint64_t len;
            assert_int_equal(omq_gguf_get_array_string(g, i, count, &s, &len), OMQ_ERR_INVALID_ARG);
        } else {
            n = count * omq_gguf_type_size(et);
            blob = malloc(n ? n : 1);
            memcpy(blob, data, n);
        }
        char hex[65];
        ts_sha256_hex(blob, n, hex);
        assert_string_equal(hex, f[5]);
        free(blob);
        return;
    }
    assert_int_equal(nf, 4);
    assert_string_equal(omq_gguf_type_name(omq_gguf_kv_type(g, i)), type);
    if (!strcmp(type, "string")) {
        char want[4096];
        size_t wn;
        hex_decode(f[3], want, &wn);
        const char *s;
        uint64_t len;
        assert_int_equal(omq_gguf_get_string(g, i, &s, &len), OMQ_OK);
        assert_int_equal(len, wn);
        assert_memory_equal(s, want, wn ? wn : 0);
        int64_t iv;
        assert_int_equal(omq_gguf_get_int(g, i, &iv), OMQ_ERR_FORMAT); /* a string is no number */
    } else if (!strcmp(type, "float32") || !strcmp(type, "float64")) {
        double v;
        assert_int_equal(omq_gguf_get_float(g, i, &v), OMQ_OK);
        assert_true(v == strtod(f[3], NULL));
    } else if (!strcmp(type, "bool")) {
        int v;
        assert_int_equal(omq_gguf_get_bool(g, i, &v), OMQ_OK);
        assert_int_equal(v, atoi(f[3]));
    } else if (f[3][0] == '-') {
        int64_t v;
        assert_int_equal(omq_gguf_get_int(g, i, &v), OMQ_OK);
        assert_int_equal(v, strtoll(f[3], NULL, 10));
        uint64_t u;
        assert_int_equal(omq_gguf_get_uint(g, i, &u), OMQ_ERR_OVERFLOW);
    } else {
        uint64_t v;
        assert_int_equal(omq_gguf_get_uint(g, i, &v), OMQ_OK);
        assert_int_equal(v, strtoull(f[3], NULL, 10));
        int64_t s;
        assert_int_equal(omq_gguf_get_int(g, i, &s), v > INT64_MAX ? OMQ_ERR_OVERFLOW : OMQ_OK);
    }
}

static void check_tensor(omq_gguf *g, char **f, int nf) {
    assert_int_equal(nf, 11);
    const int64_t i = omq_gguf_find_tensor(g, f[1]);
    if (i < 0) fail_msg("tensor %s missing", f[1]);
    omq_gguf_tensor t;
    assert_int_equal(omq_gguf_tensor_info(g, i, &t), OMQ_OK);
    assert_string_equal(t.name, f[1]);
    assert_int_equal(t.ggml_type, atoi(f[2]));
    assert_int_equal(t.n_dims, atoi(f[3]));
    for (int d = 0; d < 4; ++d) assert_int_equal(t.ne[d], strtoll(f[4 + d], NULL, 10));
    assert_int_equal(t.offset, strtoull(f[8], NULL, 10));
    assert_int_equal(t.file_offset, omq_gguf_data_offset(g) + t.offset);
    assert_int_equal(t.bytes, strtoull(f[9], NULL, 10));
    assert_int_equal(t.cols, t.ne[0]);
    assert_int_equal(t.rows, t.ne[1] * t.ne[2] * t.ne[3]);
    assert_int_equal(t.omq_known, omq_type_is_valid(t.ggml_type));
    assert_true(t.size_known);
    char hex[65];
    ts_sha256_hex(t.data, t.bytes, hex);
    assert_string_equal(hex, f[10]);
}

/* Every line of the manifest, checked against the reader. */
static void test_manifest(void **state) {
    (void)state;
    FILE *mf = fopen(ts_gguf_fixture("manifest.txt"), "r");
    assert_non_null(mf);
    char line[8192];
    omq_gguf *g = NULL;
    int files = 0, kvs = 0, tensors = 0;
    while (fgets(line, sizeof line, mf)) {
        if (line[0] == '#' || line[0] == '\n') continue;
        line[strcspn(line, "\n")] = 0;
        char *f[16];
        int nf = 0;
        for (char *tok = strtok(line, " "); tok && nf < 16; tok = strtok(NULL, " ")) f[nf++] = tok;
        if (!strcmp(f[0], "file")) {
            omq_gguf_close(g);
            g = open_fixture(f[1]);
            ++files;
            assert_int_equal(omq_gguf_version(g), atoi(f[2]));
            assert_int_equal(omq_gguf_alignment(g), atoi(f[3]));
            assert_int_equal(omq_gguf_kv_count(g), atoll(f[4]));
            assert_int_equal(omq_gguf_tensor_count(g), atoll(f[5]));
            size_t n;
            void *bytes = ts_read_file(ts_gguf_fixture(f[1]), &n);
            char hex[65];
            ts_sha256_hex(bytes, n, hex);
            assert_string_equal(hex, f[6]); /* the fixture is the one the manifest describes */
            assert_int_equal(omq_gguf_file_size(g), n);
            free(bytes);
        } else if (!strcmp(f[0], "kv")) {
            check_kv(g, f, nf);
            ++kvs;
        } else if (!strcmp(f[0], "tensor")) {
            check_tensor(g, f, nf);
            ++tensors;
        } else {
            fail_msg("unknown manifest line '%s'", f[0]);
        }
    }
    omq_gguf_close(g);
    fclose(mf);
    printf("# manifest: %d files, %d key-values, %d tensors checked\n", files, kvs, tensors);
    assert_int_equal(files, 3);
    assert_true(kvs >= 53 && tensors >= 36);
}

/* gguf-py refuses nothing it writes; omq refuses arrays of arrays, as ggml does. */
static void test_nested_rejected(void **state) {
    (void)state;
    omq_gguf *g = (omq_gguf *)1;
    char msg[256] = "";
    assert_int_equal(omq_gguf_open(ts_gguf_fixture("nested.gguf"), &g, msg, sizeof msg), OMQ_ERR_UNSUPPORTED);
    assert_null(g);
    assert_non_null(strstr(msg, "nested"));
}

/* gguf.quants' Q8_0/Q4_0/Q4_1/Q5_0/Q5_1 of 'source' are byte-identical to omq's. */
static void test_gguf_py_quants_match(void **state) {
    (void)state;
    omq_gguf *g = open_fixture("tensors.gguf");
    omq_gguf_tensor src;
    assert_int_equal(omq_gguf_tensor_info(g, omq_gguf_find_tensor(g, "source"), &src), OMQ_OK);
    assert_int_equal(src.ggml_type, OMQ_TYPE_F32);
    float *x = malloc(src.bytes);
    memcpy(x, src.data, src.bytes);
    const struct { const char *name; omq_type type; } cases[] = {
        {"as_q8_0", OMQ_TYPE_Q8_0}, {"as_q4_0", OMQ_TYPE_Q4_0}, {"as_q4_1", OMQ_TYPE_Q4_1},
        {"as_q5_0", OMQ_TYPE_Q5_0}, {"as_q5_1", OMQ_TYPE_Q5_1}, {"as_f16", OMQ_TYPE_F16},
    };
    omq_context *ctx;
    assert_int_equal(omq_context_create(&ctx, OMQ_DEVICE_HOST), OMQ_OK);
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; ++c) {
        omq_gguf_tensor t;
        assert_int_equal(omq_gguf_tensor_info(g, omq_gguf_find_tensor(g, cases[c].name), &t), OMQ_OK);
        assert_int_equal(t.ggml_type, cases[c].type);
        size_t bytes;
        assert_int_equal(omq_matrix_size(cases[c].type, src.rows, src.cols, &bytes), OMQ_OK);
        assert_int_equal(bytes, t.bytes);
        void *q = malloc(bytes);
        assert_int_equal(omq_quantize(ctx, cases[c].type, x, q, src.rows, src.cols, NULL), OMQ_OK);
        assert_int_equal(omq_synchronize(ctx), OMQ_OK);
        if (memcmp(q, t.data, bytes)) fail_msg("%s: omq's bytes differ from gguf-py's", cases[c].name);
        free(q);
    }
    omq_context_free(ctx);
    free(x);
    omq_gguf_close(g);
}

/* Uploading to each device gives the file's bytes there (read back through dequantize). */
static void test_upload(void **state) {
    (void)state;
    omq_gguf *g = open_fixture("tensors.gguf");
    omq_gguf_tensor t;
    const int64_t iq = omq_gguf_find_tensor(g, "as_q4_1");
    assert_int_equal(omq_gguf_tensor_info(g, iq, &t), OMQ_OK);
    float *want = malloc((size_t)(t.rows * t.cols) * sizeof(float)), *got = malloc((size_t)(t.rows * t.cols) * sizeof(float));
    omq_context *host;
    assert_int_equal(omq_context_create(&host, OMQ_DEVICE_HOST), OMQ_OK);
    void *copy = malloc(t.bytes);
    memcpy(copy, t.data, t.bytes);
    assert_int_equal(omq_dequantize(host, OMQ_TYPE_Q4_1, copy, OMQ_TYPE_F32, want, t.rows, t.cols), OMQ_OK);
    assert_int_equal(omq_synchronize(host), OMQ_OK);
    for (int d = 0; d < ts_device_count(); ++d) {
        omq_context *ctx;
        assert_int_equal(omq_context_create(&ctx, ts_device(d)), OMQ_OK);
        void *dev = NULL;
        assert_int_equal(omq_gguf_tensor_upload(ctx, g, iq, &dev), OMQ_OK);
        float *out = ts_alloc(ctx, (size_t)(t.rows * t.cols) * sizeof(float), -1);
        assert_int_equal(omq_dequantize(ctx, OMQ_TYPE_Q4_1, dev, OMQ_TYPE_F32, out, t.rows, t.cols), OMQ_OK);
        assert_int_equal(omq_synchronize(ctx), OMQ_OK);
        ts_download(ctx, got, out, (size_t)(t.rows * t.cols) * sizeof(float));
        assert_memory_equal(got, want, (size_t)(t.rows * t.cols) * sizeof(float));
        ts_free(ctx, out);
        ts_free(ctx, dev);
        /* bf16 and tq2_0 are listable with sizes, but omq cannot convert them */
        for (const char *const *name = (const char *const[]){"as_bf16", "as_tq2_0", NULL}; *name; ++name) {
            omq_gguf_tensor u;
            const int64_t iu = omq_gguf_find_tensor(g, *name);
            assert_int_equal(omq_gguf_tensor_info(g, iu, &u), OMQ_OK);
            assert_false(u.omq_known);
            assert_true(u.size_known);
            assert_non_null(u.data);
            dev = (void *)1;
            assert_int_equal(omq_gguf_tensor_upload(ctx, g, iu, &dev), OMQ_ERR_UNSUPPORTED);
            assert_null(dev);
            assert_non_null(strstr(omq_context_last_error(ctx), *name + 3));
        }
        assert_int_equal(omq_gguf_tensor_upload(ctx, g, 999, &dev), OMQ_ERR_INVALID_ARG);
        omq_context_free(ctx);
    }
    omq_context_free(host);
    free(copy);
    free(want);
    free(got);
    omq_gguf_close(g);
}

/* Lookups and getters on bad indices and wrong kinds fail with statuses, never crash. */
static void test_accessor_misuse(void **state) {
    (void)state;
    omq_gguf *g = open_fixture("metadata.gguf");
    assert_int_equal(omq_gguf_find_key(g, "no.such.key"), -1);
    assert_int_equal(omq_gguf_find_key(g, NULL), -1);
    assert_int_equal(omq_gguf_find_tensor(g, "nope"), -1);
    assert_null(omq_gguf_kv_key(g, -1));
    assert_null(omq_gguf_kv_key(g, omq_gguf_kv_count(g)));
    assert_int_equal(omq_gguf_kv_type(g, 1 << 30), -1);
    int64_t v;
    assert_int_equal(omq_gguf_get_int(g, -5, &v), OMQ_ERR_INVALID_ARG);
    double d;
    assert_int_equal(omq_gguf_get_float(g, omq_gguf_find_key(g, "test.u8"), &d), OMQ_ERR_FORMAT);
    int et;
    uint64_t n;
    const void *p;
    assert_int_equal(omq_gguf_get_array(g, omq_gguf_find_key(g, "test.string"), &et, &n, &p), OMQ_ERR_FORMAT);
    const char *s;
    assert_int_equal(omq_gguf_get_array_string(g, omq_gguf_find_key(g, "test.arr_u8"), 0, &s, &n), OMQ_ERR_FORMAT);
    omq_gguf_tensor t;
    assert_int_equal(omq_gguf_tensor_info(g, 2, &t), OMQ_ERR_INVALID_ARG);
    assert_int_equal(omq_gguf_tensor_info(g, 0, NULL), OMQ_ERR_NULL);
    /* the 64-byte alignment of the file shows in the second tensor's offset */
    assert_int_equal(omq_gguf_tensor_info(g, 1, &t), OMQ_OK);
    assert_int_equal(t.offset, 64);
    assert_int_equal(omq_gguf_data_offset(g) % 64, 0);
    omq_gguf_close(g);
    omq_gguf_close(NULL);
    char msg[256];
    assert_int_equal(omq_gguf_open(ts_gguf_fixture("no-such-file.gguf"), &g, msg, sizeof msg), OMQ_ERR_IO);
    assert_non_null(strstr(msg, "no-such-file.gguf"));
    assert_int_equal(omq_gguf_open(NULL, &g, msg, sizeof msg), OMQ_ERR_NULL);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_manifest),
        cmocka_unit_test(test_nested_rejected),
        cmocka_unit_test(test_gguf_py_quants_match),
        cmocka_unit_test(test_upload),
        cmocka_unit_test(test_accessor_misuse),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
