/* Hostile GGUF input: each malformation gets its status and a message, never a crash or a
 * reader that points outside the file. Files are built byte by byte here, so each case
 * changes exactly one thing of an otherwise valid file. */
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

typedef struct {
    uint8_t *p;
    size_t n, cap;
} buf;

static void put(buf *b, const void *data, size_t n) {
    while (b->n + n > b->cap) b->p = realloc(b->p, b->cap = b->cap ? 2 * b->cap : 256);
    memcpy(b->p + b->n, data, n);
    b->n += n;
}
static void u32(buf *b, uint32_t v) {
    for (int i = 0; i < 4; ++i) put(b, &(uint8_t){(uint8_t)(v >> 8 * i)}, 1);
}
static void u64(buf *b, uint64_t v) {
    for (int i = 0; i < 8; ++i) put(b, &(uint8_t){(uint8_t)(v >> 8 * i)}, 1);
}
static void str(buf *b, const char *s) {
    u64(b, strlen(s));
    put(b, s, strlen(s));
}
static void header(buf *b, uint32_t version, uint64_t n_tensors, uint64_t n_kv) {
    put(b, "GGUF", 4);
    u32(b, version);
    u64(b, n_tensors);
    u64(b, n_kv);
}
static void kv_u32(buf *b, const char *key, uint32_t v) {
    str(b, key);
    u32(b, OMQ_GGUF_UINT32);
    u32(b, v);
}
static void tensor(buf *b, const char *name, uint32_t n_dims, const uint64_t *ne, uint32_t type, uint64_t offset) {
    str(b, name);
    u32(b, n_dims);
    for (uint32_t d = 0; d < n_dims; ++d) u64(b, ne[d]);
    u32(b, type);
    u64(b, offset);
}
static void pad(buf *b, size_t a) {
    while (b->n % a) put(b, "", 1);
}
static void zeros(buf *b, size_t n) {
    for (size_t i = 0; i < n; ++i) put(b, "", 1);
}

/* Opens b from memory; a failure must come with a message and no handle. */
static omq_status try_open(const buf *b, char *msg, size_t msg_size) {
    omq_gguf *g = (omq_gguf *)1;
    msg[0] = 0;
    omq_status st = omq_gguf_open_memory(b->p, b->n, &g, msg, msg_size);
    if (st) {
        assert_null(g);
        if (!msg[0]) fail_msg("status %d without a message", st);
    } else {
        assert_non_null(g);
        omq_gguf_close(g);
    }
    return st;
}

#define EXPECT(b, status, needle)                                                                  \
    do {                                                                                           \
        char m_[512];                                                                              \
        omq_status s_ = try_open(b, m_, sizeof m_);                                                \
        if (s_ != (status)) fail_msg("expected status %d, got %d (%s)", (int)(status), (int)s_, m_); \
        if ((needle) && !strstr(m_, (needle))) fail_msg("message '%s' lacks '%s'", m_, (const char *)(needle)); \
        printf("#   %-28s -> %s\n", #status, m_);                                              \
    } while (0)

/* A valid file: 3 key-values and two tensors (q8_0 32x2, f32 8). */
static buf valid_file(size_t *data_end) {
    buf b = {0};
    header(&b, 3, 2, 3);
    str(&b, "general.architecture");
    u32(&b, OMQ_GGUF_STRING);
    str(&b, "test");
    kv_u32(&b, "test.u32", 7);
    str(&b, "test.strings");
    u32(&b, OMQ_GGUF_ARRAY);
    u32(&b, OMQ_GGUF_STRING);
    u64(&b, 2);
    str(&b, "p");
    str(&b, "qq");
    tensor(&b, "w", 2, (uint64_t[]){32, 2}, OMQ_TYPE_Q8_0, 0);
    tensor(&b, "b", 1, (uint64_t[]){8}, OMQ_TYPE_F32, 96);
    pad(&b, 32);
    for (int i = 0; i < 68; ++i) put(&b, &(uint8_t){(uint8_t)i}, 1);
    zeros(&b, 96 - 68);
    for (int i = 0; i < 32; ++i) put(&b, &(uint8_t){(uint8_t)(100 + i)}, 1);
    *data_end = b.n;
    zeros(&b, 32 - b.n % 32 == 32 ? 0 : 32 - b.n % 32);
    return b;
}

static void test_valid_baseline(void **state) {
    (void)state;
    size_t end;
    buf b = valid_file(&end);
    EXPECT(&b, OMQ_OK, "");
    free(b.p);
}

/* Every prefix shorter than the data end is rejected; longer ones (padding cut) are fine. */
static void test_truncated_everywhere(void **state) {
    (void)state;
    size_t end;
    buf b = valid_file(&end);
    int rejected = 0;
    for (size_t n = 0; n <= b.n; ++n) {
        buf t = {b.p, n, n};
        char msg[512];
        omq_status st = try_open(&t, msg, sizeof msg);
        if (n < end) {
            if (st != OMQ_ERR_FORMAT) fail_msg("prefix of %zu bytes: status %d (%s)", n, st, msg);
            ++rejected;
        } else {
            assert_int_equal(st, OMQ_OK);
        }
    }
    assert_int_equal(rejected, (int)end);
    free(b.p);
}

/* The committed fixtures cut at many places: never a crash, always a status and a message. */
static void test_truncated_fixtures(void **state) {
    (void)state;
    const char *names[] = {"metadata.gguf", "tensors.gguf", "minilm.gguf"};
    for (size_t f = 0; f < 3; ++f) {
        char path[4096];
        snprintf(path, sizeof path, "%s", ts_gguf_fixture(names[f]));
        size_t n;
        uint8_t *bytes = ts_read_file(path, &n);
        assert_non_null(bytes);
        const size_t step = n > 100000 ? 4099 : 61;
        int failures = 0;
        for (size_t cut = 0; cut < n; cut += step) {
            uint8_t *copy = malloc(cut ? cut : 1); /* exactly `cut` bytes: reads past it are bugs */
            memcpy(copy, bytes, cut);
            buf t = {copy, cut, cut};
            char msg[512];
            failures += try_open(&t, msg, sizeof msg) != OMQ_OK;
            free(copy);
        }
        assert_true(failures > 0);
        free(bytes);
    }
}

static void test_magic_and_version(void **state) {
    (void)state;
    size_t end;
    buf b = valid_file(&end);
    b.p[0] = 'X';
    EXPECT(&b, OMQ_ERR_FORMAT, "not a GGUF file");
    b.p[0] = 'G';
    b.p[4] = 1;
    EXPECT(&b, OMQ_ERR_UNSUPPORTED, "version 1");
    b.p[4] = 4;
    EXPECT(&b, OMQ_ERR_UNSUPPORTED, "version 4");
    b.p[4] = 0, b.p[7] = 3; /* 3 written big-endian */
    EXPECT(&b, OMQ_ERR_UNSUPPORTED, "big-endian");
    b.p[4] = 2, b.p[7] = 0; /* version 2 has the same layout */
    EXPECT(&b, OMQ_OK, "");
    buf empty = {(uint8_t *)"", 0, 0};
    EXPECT(&empty, OMQ_ERR_FORMAT, "empty");
    free(b.p);
}

static void test_huge_counts(void **state) {
    (void)state;
    buf b = {0};
    header(&b, 3, 0, UINT64_MAX);
    kv_u32(&b, "a", 1);
    EXPECT(&b, OMQ_ERR_FORMAT, "key-values");
    free(b.p);
    b = (buf){0};
    header(&b, 3, (uint64_t)1 << 62, 0);
    EXPECT(&b, OMQ_ERR_FORMAT, "tensors");
    free(b.p);
    /* a key length that wraps a pointer if added unchecked */
    b = (buf){0};
    header(&b, 3, 0, 1);
    u64(&b, UINT64_MAX - 3);
    put(&b, "abcd", 4);
    u32(&b, OMQ_GGUF_UINT8);
    put(&b, "x", 1);
    EXPECT(&b, OMQ_ERR_FORMAT, "metadata key");
    free(b.p);
    /* a string value longer than the file */
    b = (buf){0};
    header(&b, 3, 0, 1);
    str(&b, "s");
    u32(&b, OMQ_GGUF_STRING);
    u64(&b, 1000);
    put(&b, "short", 5);
    EXPECT(&b, OMQ_ERR_FORMAT, "claims 1000 bytes");
    free(b.p);
    /* array counts whose byte size overflows, and string arrays longer than the file */
    const struct { uint32_t et; uint64_t count; } arrays[] = {
        {OMQ_GGUF_UINT64, (uint64_t)1 << 61}, {OMQ_GGUF_UINT64, UINT64_MAX}, {OMQ_GGUF_UINT8, 100},
        {OMQ_GGUF_STRING, (uint64_t)1 << 60}, {OMQ_GGUF_STRING, 3}};
    for (size_t i = 0; i < sizeof arrays / sizeof arrays[0]; ++i) {
        b = (buf){0};
        header(&b, 3, 0, 1);
        str(&b, "arr");
        u32(&b, OMQ_GGUF_ARRAY);
        u32(&b, arrays[i].et);
        u64(&b, arrays[i].count);
        str(&b, "one string");
        EXPECT(&b, OMQ_ERR_FORMAT, "arr");
        free(b.p);
    }
}

static void test_unknown_value_types(void **state) {
    (void)state;
    const uint32_t bad[] = {13, 100, 0x7fffffff, 0xffffffff};
    for (size_t i = 0; i < 4; ++i) {
        buf b = {0};
        header(&b, 3, 0, 1);
        str(&b, "k");
        u32(&b, bad[i]);
        u64(&b, 0);
        EXPECT(&b, OMQ_ERR_FORMAT, "unknown value type");
        free(b.p);
        b = (buf){0};
        header(&b, 3, 0, 1);
        str(&b, "k");
        u32(&b, OMQ_GGUF_ARRAY);
        u32(&b, bad[i]);
        u64(&b, 1);
        u64(&b, 0);
        EXPECT(&b, OMQ_ERR_FORMAT, "unknown array element type");
        free(b.p);
    }
    buf b = {0};
    header(&b, 3, 0, 1);
    str(&b, "nested");
    u32(&b, OMQ_GGUF_ARRAY);
    u32(&b, OMQ_GGUF_ARRAY);
    u64(&b, 1);
    u32(&b, OMQ_GGUF_UINT8);
    u64(&b, 1);
    put(&b, "x", 1);
    EXPECT(&b, OMQ_ERR_UNSUPPORTED, "nested");
    free(b.p);
}

static void test_duplicates_and_names(void **state) {
    (void)state;
    buf b = {0};
    header(&b, 3, 0, 2);
    kv_u32(&b, "same.key", 1);
    kv_u32(&b, "same.key", 2);
    EXPECT(&b, OMQ_ERR_FORMAT, "duplicate key 'same.key'");
    free(b.p);
    b = (buf){0};
    header(&b, 3, 0, 1);
    u64(&b, 3);
    put(&b, "a\0b", 3);
    u32(&b, OMQ_GGUF_UINT8);
    put(&b, "x", 1);
    EXPECT(&b, OMQ_ERR_FORMAT, "NUL");
    free(b.p);
    b = (buf){0};
    header(&b, 3, 2, 0);
    tensor(&b, "t", 1, (uint64_t[]){8}, OMQ_TYPE_F32, 0);
    tensor(&b, "t", 1, (uint64_t[]){8}, OMQ_TYPE_F32, 32);
    pad(&b, 32);
    zeros(&b, 64);
    EXPECT(&b, OMQ_ERR_FORMAT, "duplicate tensor name 't'");
    free(b.p);
}

/* One f32 tensor with the given shape, type and offset, followed by `data` bytes. */
static buf one_tensor(uint32_t n_dims, const uint64_t *ne, uint32_t type, uint64_t offset, size_t data) {
    buf b = {0};
    header(&b, 3, 1, 0);
    tensor(&b, "t", n_dims, ne, type, offset);
    pad(&b, 32);
    zeros(&b, data);
    return b;
}

static void test_tensor_shapes(void **state) {
    (void)state;
    buf b = one_tensor(5, (uint64_t[]){1, 1, 1, 1, 1}, OMQ_TYPE_F32, 0, 32);
    EXPECT(&b, OMQ_ERR_FORMAT, "5 dimensions");
    free(b.p);
    b = one_tensor(0, NULL, OMQ_TYPE_F32, 0, 32);
    EXPECT(&b, OMQ_ERR_FORMAT, "0 dimensions");
    free(b.p);
    b = one_tensor(2, (uint64_t[]){8, 0}, OMQ_TYPE_F32, 0, 32);
    EXPECT(&b, OMQ_ERR_FORMAT, "must be positive");
    free(b.p);
    b = one_tensor(2, (uint64_t[]){8, (uint64_t)-5}, OMQ_TYPE_F32, 0, 32);
    EXPECT(&b, OMQ_ERR_FORMAT, "-5");
    free(b.p);
    b = one_tensor(3, (uint64_t[]){1 << 20, 1 << 20, 1 << 24}, OMQ_TYPE_F32, 0, 32);
    EXPECT(&b, OMQ_ERR_OVERFLOW, "overflows");
    free(b.p);
    b = one_tensor(2, (uint64_t[]){(uint64_t)1 << 40, (uint64_t)1 << 22}, OMQ_TYPE_F32, 0, 32);
    EXPECT(&b, OMQ_ERR_OVERFLOW, "byte size overflows"); /* 2^62 elements, 2^64 bytes */
    free(b.p);
    b = one_tensor(1, (uint64_t[]){48}, OMQ_TYPE_Q4_0, 0, 64);
    EXPECT(&b, OMQ_ERR_FORMAT, "not a multiple");
    free(b.p);
}

static void test_tensor_offsets(void **state) {
    (void)state;
    buf b = one_tensor(1, (uint64_t[]){8}, OMQ_TYPE_F32, 16, 64);
    EXPECT(&b, OMQ_ERR_FORMAT, "not a multiple of the alignment");
    free(b.p);
    b = one_tensor(1, (uint64_t[]){8}, OMQ_TYPE_F32, 0, 31);
    EXPECT(&b, OMQ_ERR_FORMAT, "past the end");
    free(b.p);
    b = one_tensor(1, (uint64_t[]){8}, OMQ_TYPE_F32, UINT64_MAX - 31, 64); /* offset + size wraps */
    EXPECT(&b, OMQ_ERR_FORMAT, "past the end");
    free(b.p);
    b = one_tensor(1, (uint64_t[]){8}, OMQ_TYPE_F32, 1024, 64);
    EXPECT(&b, OMQ_ERR_FORMAT, "past the end");
    free(b.p);
    /* overlapping data ranges, in either declaration order */
    for (int order = 0; order < 2; ++order) {
        b = (buf){0};
        header(&b, 3, 2, 0);
        tensor(&b, order ? "b" : "a", 1, (uint64_t[]){16}, OMQ_TYPE_F32, order ? 32 : 0);
        tensor(&b, order ? "a" : "b", 1, (uint64_t[]){16}, OMQ_TYPE_F32, order ? 0 : 32);
        pad(&b, 32);
        zeros(&b, 96);
        EXPECT(&b, OMQ_ERR_FORMAT, "overlap");
        free(b.p);
    }
    /* header claims tensors but the file ends before the data section */
    b = (buf){0};
    header(&b, 3, 1, 0);
    tensor(&b, "t", 1, (uint64_t[]){8}, OMQ_TYPE_F32, 0);
    EXPECT(&b, OMQ_ERR_FORMAT, "data section");
    free(b.p);
}

static void test_alignment(void **state) {
    (void)state;
    const uint32_t bad[] = {0, 3, 48, 0x80000001u};
    for (size_t i = 0; i < 4; ++i) {
        buf b = {0};
        header(&b, 3, 0, 1);
        kv_u32(&b, "general.alignment", bad[i]);
        EXPECT(&b, OMQ_ERR_FORMAT, "power of two");
        free(b.p);
    }
    buf b = {0};
    header(&b, 3, 0, 1);
    str(&b, "general.alignment");
    u32(&b, OMQ_GGUF_UINT64);
    u64(&b, 32);
    EXPECT(&b, OMQ_ERR_FORMAT, "must be a uint32");
    free(b.p);
    /* a valid unusual alignment moves the data section and checks offsets against it */
    b = (buf){0};
    header(&b, 3, 1, 1);
    kv_u32(&b, "general.alignment", 256);
    tensor(&b, "t", 1, (uint64_t[]){8}, OMQ_TYPE_F32, 32);
    pad(&b, 256);
    zeros(&b, 300);
    EXPECT(&b, OMQ_ERR_FORMAT, "alignment 256");
    free(b.p);
}

/* Types omq does not know stay listable; their data cannot be uploaded. */
static void test_unknown_tensor_types(void **state) {
    (void)state;
    buf b = {0};
    header(&b, 3, 2, 0);
    tensor(&b, "mystery", 2, (uint64_t[]){7, 3}, 9999, 0);
    tensor(&b, "iq", 1, (uint64_t[]){256}, 16 /* iq2_xxs */, 0);
    pad(&b, 32);
    zeros(&b, 66);
    omq_gguf *g;
    char msg[256];
    assert_int_equal(omq_gguf_open_memory(b.p, b.n, &g, msg, sizeof msg), OMQ_OK);
    omq_gguf_tensor t;
    assert_int_equal(omq_gguf_tensor_info(g, 0, &t), OMQ_OK);
    assert_int_equal(t.ggml_type, 9999);
    assert_false(t.omq_known);
    assert_false(t.size_known);
    assert_null(t.data);
    assert_int_equal(t.ne[0], 7);
    assert_int_equal(omq_gguf_tensor_info(g, 1, &t), OMQ_OK);
    assert_true(t.size_known);
    assert_false(t.omq_known);
    assert_int_equal(t.bytes, 66);
    assert_string_equal(omq_gguf_ggml_type_name(t.ggml_type), "iq2_xxs");
    omq_context *ctx;
    assert_int_equal(omq_context_create(&ctx, OMQ_DEVICE_HOST), OMQ_OK);
    void *dev;
    for (int i = 0; i < 2; ++i) {
        assert_int_equal(omq_gguf_tensor_upload(ctx, g, i, &dev), OMQ_ERR_UNSUPPORTED);
        assert_non_null(strstr(omq_context_last_error(ctx), "cannot convert"));
    }
    omq_context_free(ctx);
    omq_gguf_close(g);
    free(b.p);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_valid_baseline),      cmocka_unit_test(test_truncated_everywhere),
        cmocka_unit_test(test_truncated_fixtures),  cmocka_unit_test(test_magic_and_version),
        cmocka_unit_test(test_huge_counts),         cmocka_unit_test(test_unknown_value_types),
        cmocka_unit_test(test_duplicates_and_names), cmocka_unit_test(test_tensor_shapes),
        cmocka_unit_test(test_tensor_offsets),      cmocka_unit_test(test_alignment),
        cmocka_unit_test(test_unknown_tensor_types),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
