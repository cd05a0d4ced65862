/* The writer: every value type survives a write -> read round trip, tensor data may come in
 * any pieces, copying a gguf-py file key by key reproduces it byte for byte, and failures
 * (bad arguments, unwritable places, abandoned writers) leave no output and no temporary
 * file, and never damage an existing file, even the one being read. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <dirent.h>
#include <math.h>
#include <sys/stat.h>
#include <unistd.h>

#include "omq.h"
#include "omq_gguf.h"
#include "support.h"

static char g_dir[256];

static int make_dir(void **state) {
    (void)state;
    snprintf(g_dir, sizeof g_dir, "/tmp/omq-gguf-write-XXXXXX");
    return mkdtemp(g_dir) == NULL;
}

static int entries_in_dir(void) {
    DIR *d = opendir(g_dir);
    int n = 0;
    for (struct dirent *e; (e = readdir(d));)
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) ++n;
    closedir(d);
    return n;
}

static int remove_dir(void **state) {
    (void)state;
    DIR *d = opendir(g_dir);
    char p[512];
    for (struct dirent *e; d && (e = readdir(d));)
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) {
            snprintf(p, sizeof p, "%s/%s", g_dir, e->d_name);
            remove(p);
        }
    if (d) closedir(d);
    return rmdir(g_dir);
}

static const char *in_dir(const char *name) {
    static char p[2][512];
    static int k;
    k ^= 1;
    snprintf(p[k], sizeof p[k], "%s/%s", g_dir, name);
    return p[k];
}

static omq_gguf_writer *create(const char *path) {
    omq_gguf_writer *w = NULL;
    char msg[256];
    omq_status st = omq_gguf_writer_create(&w, path, msg, sizeof msg);
    if (st) fail_msg("create %s: %s", path, msg);
    return w;
}

#define OK(call)                                                                                     \
    do {                                                                                           \
        omq_status s_ = (call);                                                                    \
        if (s_) fail_msg("%s: %s (%s)", #call, omq_strerror(s_), omq_gguf_writer_last_error(w));   \
    } while (0)

static omq_gguf *reopen(const char *path) {
    omq_gguf *g = NULL;
    char msg[512];
    omq_status st = omq_gguf_open(path, &g, msg, sizeof msg);
    if (st) fail_msg("reopen: %s", msg);
    return g;
}

static void test_roundtrip_all_types(void **state) {
    (void)state;
    const char *path = in_dir("all.gguf");
    omq_gguf_writer *w = create(path);
    OK(omq_gguf_writer_set_uint(w, "u8", OMQ_GGUF_UINT8, 255));
    OK(omq_gguf_writer_set_int(w, "i8", OMQ_GGUF_INT8, -128));
    OK(omq_gguf_writer_set_uint(w, "u16", OMQ_GGUF_UINT16, 65535));
    OK(omq_gguf_writer_set_int(w, "i16", OMQ_GGUF_INT16, -32768));
    OK(omq_gguf_writer_set_uint(w, "u32", OMQ_GGUF_UINT32, 4294967295u));
    OK(omq_gguf_writer_set_int(w, "i32", OMQ_GGUF_INT32, INT32_MIN));
    OK(omq_gguf_writer_set_uint(w, "u64", OMQ_GGUF_UINT64, UINT64_MAX));
    OK(omq_gguf_writer_set_int(w, "i64", OMQ_GGUF_INT64, INT64_MIN));
    OK(omq_gguf_writer_set_float(w, "f32", OMQ_GGUF_FLOAT32, -0.1));
    OK(omq_gguf_writer_set_float(w, "f64", OMQ_GGUF_FLOAT64, 1e-310)); /* subnormal */
    OK(omq_gguf_writer_set_float(w, "f32.inf", OMQ_GGUF_FLOAT32, INFINITY));
    OK(omq_gguf_writer_set_bool(w, "yes", 7));
    OK(omq_gguf_writer_set_bool(w, "no", 0));
    OK(omq_gguf_writer_set_string(w, "s", "with\0nul", 8));
    OK(omq_gguf_writer_set_string(w, "empty", NULL, 0));
    const int16_t i16s[] = {-1, 2, -3};
    OK(omq_gguf_writer_set_array(w, "a.i16", OMQ_GGUF_INT16, 3, i16s));
    const double f64s[] = {0.5, -2.25};
    OK(omq_gguf_writer_set_array(w, "a.f64", OMQ_GGUF_FLOAT64, 2, f64s));
    OK(omq_gguf_writer_set_array(w, "a.empty", OMQ_GGUF_UINT32, 0, NULL));
    const char *strs[] = {"one", "", "three"};
    OK(omq_gguf_writer_set_string_array(w, "a.str", 3, strs, NULL));
    OK(omq_gguf_writer_set_string_array(w, "a.str.empty", 0, NULL, NULL));
    OK(omq_gguf_writer_set_uint(w, "replaced", OMQ_GGUF_UINT8, 1));
    OK(omq_gguf_writer_set_string(w, "replaced", "now a string", 12));
    OK(omq_gguf_writer_set_uint(w, "removed", OMQ_GGUF_UINT8, 1));
    OK(omq_gguf_writer_remove_key(w, "removed"));

    /* tensors of several types and shapes; general.alignment set afterwards still applies */
    float f[3 * 64];
    for (int i = 0; i < 3 * 64; ++i) f[i] = (float)i - 50.0f;
    uint8_t q[2 * 34 * 2], odd[84];
    for (size_t i = 0; i < sizeof q; ++i) q[i] = (uint8_t)(i * 7);
    for (size_t i = 0; i < sizeof odd; ++i) odd[i] = (uint8_t)(255 - i);
    OK(omq_gguf_writer_add_tensor(w, "f", OMQ_TYPE_F32, 2, (int64_t[]){64, 3}));
    OK(omq_gguf_writer_add_tensor(w, "q", OMQ_TYPE_Q8_0, 3, (int64_t[]){64, 1, 2}));
    OK(omq_gguf_writer_add_tensor(w, "k", OMQ_TYPE_Q2_K, 1, (int64_t[]){256}));
    OK(omq_gguf_writer_set_uint(w, "general.alignment", OMQ_GGUF_UINT32, 128));
    /* pieces that straddle tensor boundaries: the last 10 bytes of f with the first 20 of q */
    uint8_t joined[30];
    memcpy(joined, (uint8_t *)f + sizeof f - 10, 10);
    memcpy(joined + 10, q, 20);
    OK(omq_gguf_writer_write(w, f, sizeof f - 10));
    OK(omq_gguf_writer_write(w, joined, 30));
    for (size_t i = 20; i < sizeof q; ++i) OK(omq_gguf_writer_write(w, q + i, 1));
    OK(omq_gguf_writer_write(w, odd, sizeof odd));
    assert_int_equal(omq_gguf_writer_write(w, odd, 1), OMQ_ERR_INVALID_ARG); /* beyond the last tensor */
    assert_int_equal(omq_gguf_writer_set_bool(w, "late", 1), OMQ_ERR_INVALID_ARG);
    OK(omq_gguf_writer_finish(w));
    omq_gguf_writer_free(w);

    omq_gguf *g = reopen(path);
    assert_int_equal(omq_gguf_version(g), 3);
    assert_int_equal(omq_gguf_alignment(g), 128);
    int64_t iv;
    uint64_t uv;
    double dv;
    int bv, et;
    const char *s;
    uint64_t n;
    const void *p;
#define KEY(k) omq_gguf_find_key(g, k)
    assert_int_equal(omq_gguf_get_uint(g, KEY("u8"), &uv), OMQ_OK), assert_int_equal(uv, 255);
    assert_int_equal(omq_gguf_kv_type(g, KEY("u8")), OMQ_GGUF_UINT8);
    assert_int_equal(omq_gguf_get_int(g, KEY("i8"), &iv), OMQ_OK), assert_int_equal(iv, -128);
    assert_int_equal(omq_gguf_get_uint(g, KEY("u16"), &uv), OMQ_OK), assert_int_equal(uv, 65535);
    assert_int_equal(omq_gguf_get_int(g, KEY("i16"), &iv), OMQ_OK), assert_int_equal(iv, -32768);
    assert_int_equal(omq_gguf_get_uint(g, KEY("u32"), &uv), OMQ_OK), assert_int_equal(uv, 4294967295u);
    assert_int_equal(omq_gguf_get_int(g, KEY("i32"), &iv), OMQ_OK), assert_int_equal(iv, INT32_MIN);
    assert_int_equal(omq_gguf_get_uint(g, KEY("u64"), &uv), OMQ_OK), assert_true(uv == UINT64_MAX);
    assert_int_equal(omq_gguf_get_int(g, KEY("i64"), &iv), OMQ_OK), assert_true(iv == INT64_MIN);
    assert_int_equal(omq_gguf_get_float(g, KEY("f32"), &dv), OMQ_OK), assert_true(dv == (double)-0.1f);
    assert_int_equal(omq_gguf_get_float(g, KEY("f64"), &dv), OMQ_OK), assert_true(dv == 1e-310);
    assert_int_equal(omq_gguf_get_float(g, KEY("f32.inf"), &dv), OMQ_OK), assert_true(isinf(dv));
    assert_int_equal(omq_gguf_get_bool(g, KEY("yes"), &bv), OMQ_OK), assert_int_equal(bv, 1);
    assert_int_equal(omq_gguf_get_bool(g, KEY("no"), &bv), OMQ_OK), assert_int_equal(bv, 0);
    assert_int_equal(omq_gguf_get_string(g, KEY("s"), &s, &n), OMQ_OK);
    assert_int_equal(n, 8), assert_memory_equal(s, "with\0nul", 8);
    assert_int_equal(omq_gguf_get_string(g, KEY("empty"), &s, &n), OMQ_OK), assert_int_equal(n, 0);
    assert_int_equal(omq_gguf_get_array(g, KEY("a.i16"), &et, &n, &p), OMQ_OK);
    assert_int_equal(et, OMQ_GGUF_INT16), assert_int_equal(n, 3), assert_memory_equal(p, i16s, 6);
    assert_int_equal(omq_gguf_get_array(g, KEY("a.f64"), &et, &n, &p), OMQ_OK);
    assert_int_equal(et, OMQ_GGUF_FLOAT64), assert_memory_equal(p, f64s, 16);
    assert_int_equal(omq_gguf_get_array(g, KEY("a.empty"), &et, &n, &p), OMQ_OK), assert_int_equal(n, 0);
    assert_int_equal(omq_gguf_get_array(g, KEY("a.str"), &et, &n, &p), OMQ_OK);
    assert_int_equal(et, OMQ_GGUF_STRING), assert_int_equal(n, 3), assert_null(p);
    for (uint64_t j = 0; j < 3; ++j) {
        assert_int_equal(omq_gguf_get_array_string(g, KEY("a.str"), j, &s, &n), OMQ_OK);
        assert_int_equal(n, strlen(strs[j]));
        assert_memory_equal(s, strs[j], n);
    }
    assert_int_equal(omq_gguf_get_array(g, KEY("a.str.empty"), &et, &n, &p), OMQ_OK), assert_int_equal(n, 0);
    /* a replaced key moves to the end with its new value; a removed one is gone */
    assert_int_equal(KEY("replaced"), omq_gguf_kv_count(g) - 2); /* general.alignment came last */
    assert_int_equal(omq_gguf_kv_type(g, KEY("replaced")), OMQ_GGUF_STRING);
    assert_int_equal(KEY("removed"), -1);
    omq_gguf_tensor t;
    assert_int_equal(omq_gguf_tensor_info(g, KEY("nothing") + 1, &t), OMQ_OK); /* index 0: "f" */
    assert_string_equal(t.name, "f");
    assert_int_equal(t.rows, 3), assert_memory_equal(t.data, f, sizeof f);
    assert_int_equal(omq_gguf_tensor_info(g, omq_gguf_find_tensor(g, "q"), &t), OMQ_OK);
    assert_int_equal(t.n_dims, 3), assert_int_equal(t.ne[2], 2), assert_int_equal(t.offset % 128, 0);
    assert_memory_equal(t.data, q, sizeof q);
    assert_int_equal(omq_gguf_tensor_info(g, omq_gguf_find_tensor(g, "k"), &t), OMQ_OK);
    assert_int_equal(t.bytes, 84), assert_memory_equal(t.data, odd, 84);
    omq_gguf_close(g);
    remove(path);
#undef KEY
}

/* Copying every key-value and tensor of a gguf-py file reproduces the file byte for byte. */
static void test_copy_reproduces_gguf_py(void **state) {
    (void)state;
    const char *names[] = {"metadata.gguf", "tensors.gguf", "minilm.gguf"};
    for (int f = 0; f < 3; ++f) {
        char src[4096];
        snprintf(src, sizeof src, "%s", ts_gguf_fixture(names[f]));
        omq_gguf *g = reopen(src);
        const char *path = in_dir(names[f]);
        omq_gguf_writer *w = create(path);
        for (int64_t i = 0; i < omq_gguf_kv_count(g); ++i) OK(omq_gguf_writer_copy_kv(w, g, i));
        omq_gguf_tensor t;
        for (int64_t i = 0; i < omq_gguf_tensor_count(g); ++i) {
            assert_int_equal(omq_gguf_tensor_info(g, i, &t), OMQ_OK);
            OK(omq_gguf_writer_add_tensor(w, t.name, t.ggml_type, t.n_dims, t.ne));
        }
        for (int64_t i = 0; i < omq_gguf_tensor_count(g); ++i) {
            assert_int_equal(omq_gguf_tensor_info(g, i, &t), OMQ_OK);
            OK(omq_gguf_writer_write(w, t.data, t.bytes));
        }
        OK(omq_gguf_writer_finish(w));
        omq_gguf_writer_free(w);
        omq_gguf_close(g);
        size_t na, nb;
        void *a = ts_read_file(src, &na), *b = ts_read_file(path, &nb);
        assert_int_equal(na, nb);
        assert_memory_equal(a, b, na);
        free(a);
        free(b);
        remove(path);
    }
}

static void test_argument_errors(void **state) {
    (void)state;
    const char *path = in_dir("errors.gguf");
    omq_gguf_writer *w = create(path);
    assert_int_equal(omq_gguf_writer_set_uint(w, "x", OMQ_GGUF_UINT8, 256), OMQ_ERR_OVERFLOW);
    assert_int_equal(omq_gguf_writer_set_int(w, "x", OMQ_GGUF_INT16, 40000), OMQ_ERR_OVERFLOW);
    assert_int_equal(omq_gguf_writer_set_uint(w, "x", OMQ_GGUF_INT32, 1), OMQ_ERR_INVALID_ARG);
    assert_int_equal(omq_gguf_writer_set_float(w, "x", OMQ_GGUF_UINT32, 1), OMQ_ERR_INVALID_ARG);
    assert_int_equal(omq_gguf_writer_set_array(w, "x", OMQ_GGUF_STRING, 1, "a"), OMQ_ERR_INVALID_ARG);
    assert_int_equal(omq_gguf_writer_set_array(w, "x", OMQ_GGUF_ARRAY, 1, "a"), OMQ_ERR_INVALID_ARG);
    assert_int_equal(omq_gguf_writer_set_uint(w, "", OMQ_GGUF_UINT8, 1), OMQ_ERR_INVALID_ARG);
    assert_int_equal(omq_gguf_writer_set_uint(w, "general.alignment", OMQ_GGUF_UINT32, 24), OMQ_ERR_INVALID_ARG);
    assert_int_equal(omq_gguf_writer_set_uint(w, "general.alignment", OMQ_GGUF_UINT64, 32), OMQ_ERR_INVALID_ARG);
    assert_non_null(strstr(omq_gguf_writer_last_error(w), "power of two"));
    const int64_t ne[] = {64, 2};
    assert_int_equal(omq_gguf_writer_add_tensor(w, "t", 4, 2, ne), OMQ_ERR_UNKNOWN_TYPE); /* removed Q4_2 */
    assert_int_equal(omq_gguf_writer_add_tensor(w, "t", OMQ_TYPE_Q4_K, 2, ne), OMQ_ERR_SHAPE);
    assert_int_equal(omq_gguf_writer_add_tensor(w, "t", OMQ_TYPE_F32, 5, ne), OMQ_ERR_INVALID_ARG);
    assert_int_equal(omq_gguf_writer_add_tensor(w, "t", OMQ_TYPE_F32, 2, (int64_t[]){64, 0}), OMQ_ERR_SHAPE);
    char longname[80];
    memset(longname, 'n', 64);
    longname[64] = 0;
    assert_int_equal(omq_gguf_writer_add_tensor(w, longname, OMQ_TYPE_F32, 2, ne), OMQ_ERR_INVALID_ARG);
    longname[63] = 0; /* 63 bytes: ggml's longest */
    OK(omq_gguf_writer_add_tensor(w, longname, OMQ_TYPE_F32, 2, ne));
    assert_int_equal(omq_gguf_writer_add_tensor(w, longname, OMQ_TYPE_F32, 2, ne), OMQ_ERR_INVALID_ARG);
    assert_non_null(strstr(omq_gguf_writer_last_error(w), "duplicate"));
    float data[64] = {0};
    OK(omq_gguf_writer_write(w, data, sizeof data)); /* one of two rows */
    assert_int_equal(omq_gguf_writer_finish(w), OMQ_ERR_INVALID_ARG);
    assert_non_null(strstr(omq_gguf_writer_last_error(w), "incomplete"));
    omq_gguf_writer_free(w);
    assert_int_equal(entries_in_dir(), 0); /* neither the output nor a temporary file */
}

static void test_unwritable_places(void **state) {
    (void)state;
    omq_gguf_writer *w = (omq_gguf_writer *)1;
    char msg[512];
    assert_int_equal(omq_gguf_writer_create(&w, "/nonexistent-omq-dir/x.gguf", msg, sizeof msg), OMQ_ERR_IO);
    assert_null(w);
    assert_non_null(strstr(msg, "x.gguf"));
    /* a path through a regular file, and a directory as the output */
    FILE *f = fopen(in_dir("plain"), "w");
    fclose(f);
    assert_int_equal(omq_gguf_writer_create(&w, in_dir("plain/x.gguf"), msg, sizeof msg), OMQ_ERR_IO);
    assert_int_equal(omq_gguf_writer_create(&w, g_dir, msg, sizeof msg), OMQ_ERR_IO);
    assert_non_null(strstr(msg, "directory"));
    remove(in_dir("plain"));
    assert_int_equal(entries_in_dir(), 0);
}

static void test_abort_keeps_existing_file(void **state) {
    (void)state;
    const char *path = in_dir("keep.gguf");
    FILE *f = fopen(path, "w");
    fputs("the original", f);
    fclose(f);
    omq_gguf_writer *w = create(path);
    OK(omq_gguf_writer_add_tensor(w, "t", OMQ_TYPE_F32, 1, (int64_t[]){4}));
    OK(omq_gguf_writer_write(w, "abcdefgh", 8)); /* the header is on disk, half the data too */
    assert_int_equal(entries_in_dir(), 2);
    omq_gguf_writer_free(w); /* abort */
    assert_int_equal(entries_in_dir(), 1);
    size_t n;
    char *text = ts_read_file(path, &n);
    assert_int_equal(n, 12);
    assert_memory_equal(text, "the original", 12);
    free(text);
    /* a writer abandoned before writing anything leaves nothing either */
    w = create(in_dir("never.gguf"));
    omq_gguf_writer_free(w);
    assert_int_equal(entries_in_dir(), 1);
    remove(path);
}

/* Writing over the file being read: the reader keeps the old bytes, the new file is whole. */
static void test_overwrite_the_input(void **state) {
    (void)state;
    const char *path = in_dir("inplace.gguf");
    omq_gguf_writer *w = create(path);
    OK(omq_gguf_writer_set_string(w, "version", "old", 3));
    OK(omq_gguf_writer_add_tensor(w, "t", OMQ_TYPE_F32, 1, (int64_t[]){1024}));
    float x[1024];
    for (int i = 0; i < 1024; ++i) x[i] = (float)i;
    OK(omq_gguf_writer_write(w, x, sizeof x));
    OK(omq_gguf_writer_finish(w));
    omq_gguf_writer_free(w);

    omq_gguf *g = reopen(path);
    omq_gguf_tensor t;
    assert_int_equal(omq_gguf_tensor_info(g, 0, &t), OMQ_OK);
    w = create(path);
    OK(omq_gguf_writer_set_string(w, "version", "new", 3));
    OK(omq_gguf_writer_add_tensor(w, "t", OMQ_TYPE_F32, 1, (int64_t[]){1024}));
    for (int piece = 0; piece < 4; ++piece) /* streamed from the mapping of the file it replaces */
        OK(omq_gguf_writer_write(w, (const float *)t.data + 256 * piece, 1024));
    OK(omq_gguf_writer_finish(w));
    omq_gguf_writer_free(w);
    assert_memory_equal(t.data, x, sizeof x); /* the old mapping is intact */
    omq_gguf_close(g);
    g = reopen(path);
    const char *s;
    uint64_t n;
    assert_int_equal(omq_gguf_get_string(g, omq_gguf_find_key(g, "version"), &s, &n), OMQ_OK);
    assert_memory_equal(s, "new", 3);
    assert_int_equal(omq_gguf_tensor_info(g, 0, &t), OMQ_OK);
    assert_memory_equal(t.data, x, sizeof x);
    omq_gguf_close(g);
    assert_int_equal(entries_in_dir(), 1);
    struct stat sb;
    assert_int_equal(stat(path, &sb), 0);
    assert_true(sb.st_mode & S_IRUSR); /* a normal file mode, not mkstemp's 0600-only default */
    remove(path);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_roundtrip_all_types),    cmocka_unit_test(test_copy_reproduces_gguf_py),
        cmocka_unit_test(test_argument_errors),        cmocka_unit_test(test_unwritable_places),
        cmocka_unit_test(test_abort_keeps_existing_file), cmocka_unit_test(test_overwrite_the_input),
    };
    return cmocka_run_group_tests(tests, make_dir, remove_dir);
}
