/* The GGUF commands, run as a user runs them:
 *  - omq quantize --pure reproduces ggml's reference bytes (tests/golden) for every file type,
 *    with and without importance matrices in both llama.cpp formats, on every device;
 *  - the type mixtures follow llama-quantize's rules on a small llama-like model;
 *  - metadata is copied, general.file_type / general.quantization_version are set;
 *  - failures (unknown types, impossible shapes, NaN, requantizing) leave no output;
 *  - omq verify and omq gguf report what they should. */
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
#include <sys/wait.h>
#include <unistd.h>

#include "omq.h"
#include "omq_gguf.h"
#include "support.h"

static char g_dir[256];
static char g_out[1 << 16]; /* output of the last command */

static int make_dir(void **state) {
    (void)state;
    snprintf(g_dir, sizeof g_dir, "/tmp/omq-gguf-cli-XXXXXX");
    return mkdtemp(g_dir) == NULL;
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
    static char p[4][512];
    static int k;
    k = (k + 1) % 4;
    snprintf(p[k], sizeof p[k], "%s/%s", g_dir, name);
    return p[k];
}

static int exists(const char *path) { return access(path, F_OK) == 0; }

static int temp_files_left(void) {
    DIR *d = opendir(g_dir);
    int n = 0;
    for (struct dirent *e; (e = readdir(d));) n += strstr(e->d_name, ".omq-tmp-") != NULL;
    closedir(d);
    return n;
}

/* Runs `omq ARGS` (stdout and stderr into g_out); returns the exit status. */
static int omq(const char *fmt, ...) {
    char args[4096], cmd[8192];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(args, sizeof args, fmt, ap);
    va_end(ap);
    snprintf(cmd, sizeof cmd, "'%s' %s 2>&1", OMQ_CLI_PATH, args);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    size_t n = fread(g_out, 1, sizeof g_out - 1, p);
    g_out[n] = 0;
    while (fread(args, 1, sizeof args, p) > 0) {
    }
    const int status = pclose(p);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128;
}

#define OK(call)                                                                                     \
    do {                                                                                           \
        omq_status s_ = (call);                                                                    \
        if (s_) fail_msg("%s: %s (%s)", #call, omq_strerror(s_), omq_gguf_writer_last_error(w));   \
    } while (0)

static omq_gguf *open_out(const char *path) {
    omq_gguf *g = NULL;
    char msg[512];
    if (omq_gguf_open(path, &g, msg, sizeof msg)) fail_msg("%s\n--- omq said:\n%s", msg, g_out);
    return g;
}

static const omq_gguf_tensor *tensor_of(omq_gguf *g, const char *name) {
    static omq_gguf_tensor t;
    const int64_t i = omq_gguf_find_tensor(g, name);
    if (i < 0) fail_msg("tensor %s missing", name);
    omq_gguf_tensor_info(g, i, &t);
    return &t;
}

static const char *device_arg(int device) {
    static char buf[16];
    if (device == OMQ_DEVICE_HOST) return "host";
    if (device == OMQ_DEVICE_FALLBACK) return "fallback";
    snprintf(buf, sizeof buf, "%d", device);
    return buf;
}

/* ------------------------------------------------------------------ byte-exactness */
static const struct {
    const char *ftype, *golden;
    omq_type type;
} exact[] = {
    {"Q4_0", "q4_0", OMQ_TYPE_Q4_0}, {"Q4_1", "q4_1", OMQ_TYPE_Q4_1}, {"Q5_0", "q5_0", OMQ_TYPE_Q5_0},
    {"Q5_1", "q5_1", OMQ_TYPE_Q5_1}, {"Q8_0", "q8_0", OMQ_TYPE_Q8_0}, {"Q2_K", "q2_k", OMQ_TYPE_Q2_K},
    {"Q3_K_M", "q3_k", OMQ_TYPE_Q3_K}, {"Q4_K_M", "q4_k", OMQ_TYPE_Q4_K}, {"Q5_K_S", "q5_k", OMQ_TYPE_Q5_K},
    {"Q6_K", "q6_k", OMQ_TYPE_Q6_K},
};
#define WEIGHT "blk.0.ffn_down.weight" /* a name the mixtures would change: --pure must not */

/* tests/golden/input.f32 as a 4096 x 16 f32 tensor (ne = [4096, 16]) */
static void write_golden_model(const char *path) {
    size_t n;
    float *x = ts_read_file(ts_golden_path("input.f32"), &n);
    assert_int_equal(n, 16 * 4096 * sizeof(float));
    omq_gguf_writer *w = NULL;
    char msg[256];
    assert_int_equal(omq_gguf_writer_create(&w, path, msg, sizeof msg), OMQ_OK);
    OK(omq_gguf_writer_set_string(w, "general.architecture", "llama", 5));
    OK(omq_gguf_writer_set_uint(w, "llama.block_count", OMQ_GGUF_UINT32, 1));
    OK(omq_gguf_writer_add_tensor(w, WEIGHT, OMQ_TYPE_F32, 2, (int64_t[]){4096, 16}));
    OK(omq_gguf_writer_write(w, x, n));
    OK(omq_gguf_writer_finish(w));
    omq_gguf_writer_free(w);
    free(x);
}

static void check_golden(const char *out, omq_type type, const char *golden) {
    omq_gguf *g = open_out(out);
    const omq_gguf_tensor *t = tensor_of(g, WEIGHT);
    assert_int_equal(t->ggml_type, type);
    size_t n;
    void *want = ts_read_file(ts_golden_path(golden), &n);
    assert_non_null(want);
    assert_int_equal(t->bytes, n);
    if (memcmp(t->data, want, n)) fail_msg("%s: tensor data differs from tests/golden/%s", out, golden);
    free(want);
    omq_gguf_close(g);
}

static void test_pure_is_byte_exact(void **state) {
    (void)state;
    const char *in = in_dir("golden.gguf"), *out = in_dir("golden-q.gguf");
    write_golden_model(in);
    for (int d = 0; d < ts_device_count(); ++d)
        for (size_t c = 0; c < sizeof exact / sizeof exact[0]; ++c) {
            if (omq("quantize %s %s %s --pure --device %s --progress none", in, out, exact[c].ftype,
                    device_arg(ts_device(d))))
                fail_msg("omq quantize failed:\n%s", g_out);
            char golden[32];
            snprintf(golden, sizeof golden, "%s.bin", exact[c].golden);
            check_golden(out, exact[c].type, golden);
        }
}

/* An importance matrix in llama.cpp's GGUF format: in_sum2 / counts = tests/golden/imatrix.f32 */
static void write_imatrix_gguf(const char *path, const float *imat, int with_metadata) {
    omq_gguf_writer *w = NULL;
    char msg[256];
    assert_int_equal(omq_gguf_writer_create(&w, path, msg, sizeof msg), OMQ_OK);
    OK(omq_gguf_writer_set_string(w, "general.type", "imatrix", 7));
    if (with_metadata) {
        const char *ds[] = {"calibration.txt"};
        OK(omq_gguf_writer_set_string_array(w, "imatrix.datasets", 1, ds, NULL));
        OK(omq_gguf_writer_set_uint(w, "imatrix.chunk_count", OMQ_GGUF_UINT32, 12));
        OK(omq_gguf_writer_set_uint(w, "imatrix.chunk_size", OMQ_GGUF_UINT32, 512));
    }
    OK(omq_gguf_writer_add_tensor(w, WEIGHT ".in_sum2", OMQ_TYPE_F32, 2, (int64_t[]){4096, 1}));
    OK(omq_gguf_writer_add_tensor(w, WEIGHT ".counts", OMQ_TYPE_F32, 2, (int64_t[]){1, 1}));
    float *sums = malloc(4096 * sizeof(float));
    for (int i = 0; i < 4096; ++i) sums[i] = imat[i] * 4.0f; /* exact: a power of two */
    OK(omq_gguf_writer_write(w, sums, 4096 * sizeof(float)));
    OK(omq_gguf_writer_write(w, &(float){4.0f}, sizeof(float)));
    OK(omq_gguf_writer_finish(w));
    omq_gguf_writer_free(w);
    free(sums);
}

/* The legacy .dat format: values stored as mean * ncall */
static void write_imatrix_dat(const char *path, const float *imat) {
    FILE *f = fopen(path, "wb");
    const int32_t n_entries = 1, len = (int32_t)strlen(WEIGHT), ncall = 2, nval = 4096, chunks = 7;
    fwrite(&n_entries, 4, 1, f);
    fwrite(&len, 4, 1, f);
    fwrite(WEIGHT, 1, (size_t)len, f);
    fwrite(&ncall, 4, 1, f);
    fwrite(&nval, 4, 1, f);
    for (int i = 0; i < 4096; ++i) fwrite(&(float){imat[i] * 2.0f}, 4, 1, f);
    fwrite(&chunks, 4, 1, f);
    const int32_t dlen = 8;
    fwrite(&dlen, 4, 1, f);
    fwrite("wiki.txt", 1, 8, f);
    fclose(f);
}

static void test_imatrix_is_byte_exact(void **state) {
    (void)state;
    const char *in = in_dir("golden.gguf"), *out = in_dir("golden-imat.gguf");
    const char *ig = in_dir("imatrix.gguf"), *id = in_dir("imatrix.dat");
    write_golden_model(in);
    size_t n;
    float *imat = ts_read_file(ts_golden_path("imatrix.f32"), &n);
    write_imatrix_gguf(ig, imat, 1);
    write_imatrix_dat(id, imat);
    free(imat);
    const char *files[] = {ig, id};
    for (int f = 0; f < 2; ++f)
        for (size_t c = 0; c < sizeof exact / sizeof exact[0]; ++c) {
            if (exact[c].type == OMQ_TYPE_Q8_0) continue; /* ggml's q8_0 ignores importance weights */
            if (f == 1 && c % 4) continue;                 /* the .dat reader needs fewer cases */
            if (omq("quantize %s %s %s --pure --imatrix %s --device fallback --progress none", in, out,
                    exact[c].ftype, files[f]))
                fail_msg("omq quantize failed:\n%s", g_out);
            char golden[32];
            snprintf(golden, sizeof golden, exact[c].type == OMQ_TYPE_Q8_0 ? "%s.bin" : "%s.imat.bin", exact[c].golden);
            check_golden(out, exact[c].type, golden);
            omq_gguf *g = open_out(out);
            const char *s;
            uint64_t len;
            assert_int_equal(omq_gguf_get_string(g, omq_gguf_find_key(g, "quantize.imatrix.dataset"), &s, &len), OMQ_OK);
            assert_memory_equal(s, f ? "wiki.txt" : "calibration.txt", len);
            uint64_t v;
            assert_int_equal(omq_gguf_get_uint(g, omq_gguf_find_key(g, "quantize.imatrix.chunks_count"), &v), OMQ_OK);
            assert_int_equal(v, f ? 7 : 12);
            omq_gguf_close(g);
        }
    /* a GGUF importance matrix without its metadata is refused, as llama-quantize does */
    write_imatrix_gguf(ig, (float[4096]){0}, 0);
    assert_int_equal(omq("quantize %s %s Q4_K_M --imatrix %s --progress none", in, out, ig), 1);
    assert_non_null(strstr(g_out, "missing imatrix metadata"));
}

/* ------------------------------------------------------------------ llama-quantize's mixtures */
typedef struct {
    int n_layer, n_head_kv, with_output, with_odd;
} model_spec;

static uint64_t g_model_bytes; /* data bytes of the tensors declared so far */

static void add_f16(omq_gguf_writer *w, const char *name, int64_t ne0, int64_t ne1, int n_dims) {
    OK(omq_gguf_writer_add_tensor(w, name, ne1 ? OMQ_TYPE_F16 : OMQ_TYPE_F32, n_dims, (int64_t[]){ne0, ne1 ? ne1 : 1}));
    g_model_bytes += (uint64_t)(ne1 ? ne0 * ne1 * 2 : ne0 * 4);
}

/* A llama-like model with small tensors (rows are few: only the row length matters to the
 * rules), declared in an order unlike llama-quantize's. */
static void write_llama(const char *path, const model_spec *s) {
    omq_gguf_writer *w = NULL;
    char msg[256];
    g_model_bytes = 0;
    assert_int_equal(omq_gguf_writer_create(&w, path, msg, sizeof msg), OMQ_OK);
    OK(omq_gguf_writer_set_string(w, "general.architecture", "llama", 5));
    OK(omq_gguf_writer_set_string(w, "general.name", "mixture test", 12));
    OK(omq_gguf_writer_set_uint(w, "general.file_type", OMQ_GGUF_UINT32, 1));
    OK(omq_gguf_writer_set_uint(w, "llama.block_count", OMQ_GGUF_UINT32, (uint64_t)s->n_layer));
    OK(omq_gguf_writer_set_uint(w, "llama.attention.head_count", OMQ_GGUF_UINT32, 8));
    OK(omq_gguf_writer_set_uint(w, "llama.attention.head_count_kv", OMQ_GGUF_UINT32, (uint64_t)s->n_head_kv));
    const char *toks[] = {"<s>", "</s>", "hello"};
    OK(omq_gguf_writer_set_string_array(w, "tokenizer.ggml.tokens", 3, toks, NULL));
    OK(omq_gguf_writer_set_uint(w, "split.count", OMQ_GGUF_UINT16, 1)); /* llama-quantize drops it */
    for (int l = s->n_layer - 1; l >= 0; --l) {
        char name[64];
        const char *mats[] = {"attn_q", "attn_k", "attn_v", "attn_output", "ffn_gate", "ffn_up"};
        for (int m = 0; m < 6; ++m) {
            snprintf(name, sizeof name, "blk.%d.%s.weight", l, mats[m]);
            add_f16(w, name, 256, 4, 2);
        }
        snprintf(name, sizeof name, "blk.%d.ffn_down.weight", l);
        add_f16(w, name, 512, 4, 2);
        snprintf(name, sizeof name, "blk.%d.attn_norm.weight", l);
        add_f16(w, name, 256, 0, 1);
        snprintf(name, sizeof name, "blk.%d.ffn_norm.weight", l);
        add_f16(w, name, 256, 0, 1);
    }
    add_f16(w, "blk.0.extra.weight", 96, 4, 2); /* q*_K cannot hold 96 values a row: fallback */
    add_f16(w, "blk.0.flat.weight", 256, 1, 2); /* 2-D in the file, 1-D to ggml_n_dims */
    add_f16(w, "blk.0.ffn_up.bias", 256, 4, 2); /* 2-D, but not a weight */
    if (s->with_odd) add_f16(w, "blk.0.odd.weight", 48, 4, 2); /* fits no 32-value block */
    add_f16(w, "token_embd.weight", 256, 8, 2);
    add_f16(w, "output_norm.weight", 256, 0, 1);
    if (s->with_output) add_f16(w, "output.weight", 256, 8, 2);
    /* finite values around +-0.5 as f16 (and small ones when read as f32) */
    uint16_t buf[4096];
    for (int i = 0; i < 4096; ++i) buf[i] = (uint16_t)((i & 1 ? 0xb800 : 0x3800) | ((i * 37) & 0x3ff));
    for (uint64_t done = 0; done < g_model_bytes;) {
        const uint64_t k = g_model_bytes - done < sizeof buf ? g_model_bytes - done : sizeof buf;
        OK(omq_gguf_writer_write(w, buf, (size_t)k));
        done += k;
    }
    OK(omq_gguf_writer_finish(w));
    omq_gguf_writer_free(w);
}

typedef struct {
    const char *tensor, *type;
} expect;

static void check_types(const char *out, const expect *e) {
    omq_gguf *g = open_out(out);
    for (; e->tensor; ++e) {
        const omq_gguf_tensor *t = tensor_of(g, e->tensor);
        const char *got = omq_gguf_ggml_type_name(t->ggml_type);
        if (strcmp(got, e->type)) fail_msg("%s: %s is %s, expected %s", out, e->tensor, got, e->type);
    }
    omq_gguf_close(g);
}

/* The layers llama.cpp gives more bits in an 8-layer model: use_more_bits(i, 8) holds for
 * i < 1, i >= 7 and (i - 1) % 3 == 2, i.e. layers 0, 3, 6 and 7. */
static void test_mixtures(void **state) {
    (void)state;
    const char *in = in_dir("llama.gguf"), *out = in_dir("llama-q.gguf");
    write_llama(in, &(model_spec){8, 8, 1, 0});
    static const expect q4_k_m[] = {
        {"blk.0.attn_v.weight", "q6_K"},   {"blk.1.attn_v.weight", "q4_K"},   {"blk.3.attn_v.weight", "q6_K"},
        {"blk.5.attn_v.weight", "q4_K"},   {"blk.6.attn_v.weight", "q6_K"},   {"blk.7.attn_v.weight", "q6_K"},
        {"blk.0.ffn_down.weight", "q6_K"}, {"blk.2.ffn_down.weight", "q4_K"}, {"blk.7.ffn_down.weight", "q6_K"},
        {"blk.4.attn_q.weight", "q4_K"},   {"blk.4.attn_output.weight", "q4_K"}, {"blk.4.ffn_up.weight", "q4_K"},
        {"output.weight", "q6_K"},         {"token_embd.weight", "q4_K"},     {"blk.0.attn_norm.weight", "f32"},
        {"output_norm.weight", "f32"},     {"blk.0.extra.weight", "q5_0"},    {"blk.0.flat.weight", "f16"},
        {"blk.0.ffn_up.bias", "f16"},      {NULL, NULL}};
    static const expect q3_k_m[] = {
        {"blk.0.attn_v.weight", "q5_K"},   {"blk.1.attn_v.weight", "q5_K"},   {"blk.2.attn_v.weight", "q4_K"},
        {"blk.0.ffn_down.weight", "q4_K"}, {"blk.5.ffn_down.weight", "q4_K"}, {"blk.3.attn_output.weight", "q4_K"},
        {"blk.3.attn_q.weight", "q3_K"},   {"output.weight", "q6_K"},         {"token_embd.weight", "q3_K"},
        {"blk.0.extra.weight", "q4_0"},    {NULL, NULL}};
    static const expect q2_k[] = {
        {"blk.2.attn_v.weight", "q3_K"},   {"blk.2.ffn_down.weight", "q3_K"}, {"blk.2.attn_output.weight", "q3_K"},
        {"blk.2.attn_k.weight", "q2_K"},   {"output.weight", "q6_K"},         {"token_embd.weight", "q2_K"},
        {NULL, NULL}};
    static const expect q4_k_s[] = {
        {"blk.3.attn_v.weight", "q5_K"},   {"blk.4.attn_v.weight", "q4_K"},   {"blk.0.ffn_down.weight", "q5_K"},
        {"blk.1.ffn_down.weight", "q4_K"}, {NULL, NULL}};
    static const expect q5_k_m[] = {
        {"blk.3.attn_v.weight", "q6_K"},   {"blk.4.attn_v.weight", "q5_K"},   {"blk.6.ffn_down.weight", "q6_K"},
        {"blk.0.extra.weight", "q5_1"},    {NULL, NULL}};
    static const expect q3_k_l[] = {
        {"blk.4.attn_v.weight", "q5_K"},   {"blk.4.ffn_down.weight", "q5_K"}, {"blk.4.attn_output.weight", "q5_K"},
        {"blk.4.ffn_gate.weight", "q3_K"}, {NULL, NULL}};
    static const expect q6_k[] = {
        {"blk.4.attn_v.weight", "q6_K"},   {"output.weight", "q6_K"},         {"blk.0.extra.weight", "q8_0"},
        {NULL, NULL}};
    static const expect q4_0[] = {
        {"blk.4.attn_v.weight", "q4_0"},   {"output.weight", "q6_K"},         {"token_embd.weight", "q4_0"},
        {"blk.0.ffn_down.weight", "q4_0"}, {NULL, NULL}};
    static const expect q8_0[] = {{"output.weight", "q8_0"}, {"blk.1.attn_v.weight", "q8_0"}, {NULL, NULL}};
    static const expect f16[] = {{"blk.1.attn_v.weight", "f16"}, {"blk.0.attn_norm.weight", "f32"}, {NULL, NULL}};
    static const expect f32[] = {{"blk.1.attn_v.weight", "f32"}, {"blk.0.ffn_up.bias", "f16"}, {NULL, NULL}};
    static const expect pure_q4_k[] = {
        {"blk.0.attn_v.weight", "q4_K"},   {"blk.0.ffn_down.weight", "q4_K"}, {"output.weight", "q4_K"},
        {"token_embd.weight", "q4_K"},     {"blk.0.extra.weight", "q5_0"},    {"blk.0.attn_norm.weight", "f32"},
        {NULL, NULL}};
    static const struct { const char *ftype, *flags; const expect *e; int file_type; } runs[] = {
        {"Q4_K_M", "", q4_k_m, 15}, {"q4_k", "", q4_k_m, 15}, {"15", "", q4_k_m, 15}, {"Q3_K_M", "", q3_k_m, 12},
        {"Q2_K", "", q2_k, 10},     {"Q4_K_S", "", q4_k_s, 14}, {"Q5_K_M", "", q5_k_m, 17}, {"Q3_K_L", "", q3_k_l, 13},
        {"Q6_K", "", q6_k, 18},     {"Q4_0", "", q4_0, 2},     {"Q8_0", "", q8_0, 7},     {"F16", "", f16, 1},
        {"F32", "", f32, 0},        {"Q4_K_M", "--pure", pure_q4_k, 15},
    };
    for (size_t r = 0; r < sizeof runs / sizeof runs[0]; ++r) {
        if (omq("quantize %s %s %s %s --device host --threads 2 --progress none", in, out, runs[r].ftype, runs[r].flags))
            fail_msg("omq quantize %s failed:\n%s", runs[r].ftype, g_out);
        check_types(out, runs[r].e);
        omq_gguf *g = open_out(out);
        uint64_t v;
        assert_int_equal(omq_gguf_get_uint(g, omq_gguf_find_key(g, "general.file_type"), &v), OMQ_OK);
        assert_int_equal(v, runs[r].file_type);
        omq_gguf_close(g);
    }

    /* grouped-query attention (n_head / n_head_kv = 4) gives attn_v more bits in Q2_K */
    write_llama(in, &(model_spec){8, 2, 1, 0});
    assert_int_equal(omq("quantize %s %s Q2_K --progress none", in, out), 0);
    check_types(out, (const expect[]){{"blk.2.attn_v.weight", "q4_K"}, {NULL, NULL}});
    /* without output.weight, token_embd is the output (tied embeddings): q6_K */
    write_llama(in, &(model_spec){8, 8, 0, 0});
    assert_int_equal(omq("quantize %s %s Q4_K_M --progress none", in, out), 0);
    check_types(out, (const expect[]){{"token_embd.weight", "q6_K"}, {NULL, NULL}});
    /* --leave-output-tensor keeps output.weight as it was */
    write_llama(in, &(model_spec){8, 8, 1, 0});
    assert_int_equal(omq("quantize %s %s Q4_K_M --leave-output-tensor --progress none", in, out), 0);
    check_types(out, (const expect[]){{"output.weight", "f16"}, {NULL, NULL}});
}

/* Metadata: everything copied, llama-quantize's keys set, split keys dropped; tensor order
 * by layer then name; the file can be converted in place. */
static void test_metadata_and_order(void **state) {
    (void)state;
    const char *in = in_dir("meta.gguf"), *out = in_dir("meta-q.gguf");
    write_llama(in, &(model_spec){4, 8, 1, 0});
    assert_int_equal(omq("quantize %s %s Q4_K_M --progress lines", in, out), 0);
    assert_non_null(strstr(g_out, "[  12/"));       /* a line per tensor when not on a terminal */
    assert_non_null(strstr(g_out, "quantized "));  /* and a summary */
    omq_gguf *a = open_out(in), *b = open_out(out);
    for (int64_t i = 0; i < omq_gguf_kv_count(a); ++i) {
        const char *key = omq_gguf_kv_key(a, i);
        const int64_t j = omq_gguf_find_key(b, key);
        if (!strcmp(key, "split.count")) {
            assert_int_equal(j, -1);
            continue;
        }
        if (!strcmp(key, "general.file_type")) continue;
        if (j < 0) fail_msg("key %s was not copied", key);
        const void *ra, *rb;
        uint64_t na, nb;
        omq_gguf_kv_raw(a, i, &ra, &na);
        omq_gguf_kv_raw(b, j, &rb, &nb);
        assert_int_equal(na, nb);
        assert_memory_equal(ra, rb, na);
    }
    uint64_t v;
    assert_int_equal(omq_gguf_get_uint(b, omq_gguf_find_key(b, "general.quantization_version"), &v), OMQ_OK);
    assert_int_equal(v, 2);
    assert_int_equal(omq_gguf_kv_type(b, omq_gguf_find_key(b, "general.file_type")), OMQ_GGUF_UINT32);
    assert_int_equal(omq_gguf_tensor_count(a), omq_gguf_tensor_count(b));
    omq_gguf_tensor t;
    omq_gguf_tensor_info(b, 0, &t);
    assert_string_equal(t.name, "output.weight"); /* not in a layer: first, by name */
    omq_gguf_tensor_info(b, omq_gguf_tensor_count(b) - 1, &t);
    assert_string_equal(t.name, "blk.3.ffn_up.weight");
    int last_layer = -1;
    for (int64_t i = 0; i < omq_gguf_tensor_count(b); ++i) {
        omq_gguf_tensor_info(b, i, &t);
        int layer = -1;
        sscanf(t.name, "blk.%d.", &layer);
        assert_true(layer >= last_layer);
        last_layer = layer;
    }
    omq_gguf_close(a);
    omq_gguf_close(b);
    /* in place: output path == input path */
    assert_int_equal(omq("quantize %s %s Q8_0 --progress none", in, in), 0);
    check_types(in, (const expect[]){{"blk.1.attn_q.weight", "q8_0"}, {"blk.1.attn_norm.weight", "f32"}, {NULL, NULL}});
    assert_int_equal(temp_files_left(), 0);
}

/* Failures: a message, a nonzero status, no output and no temporary file. */
static void test_failures_leave_nothing(void **state) {
    (void)state;
    const char *in = in_dir("bad.gguf"), *out = in_dir("never.gguf");
    write_llama(in, &(model_spec){2, 8, 1, 1});
    assert_int_equal(omq("quantize %s %s IQ2_XS", in, out), 2);
    assert_non_null(strstr(g_out, "cannot produce"));
    assert_int_equal(omq("quantize %s %s Q9_Z", in, out), 2);
    assert_non_null(strstr(g_out, "unknown type"));
    /* a 48-value row fits no 32-value block, and llama-quantize defines no fallback for q8_0 */
    assert_int_equal(omq("quantize %s %s Q8_0", in, out), 1);
    assert_non_null(strstr(g_out, "blk.0.odd.weight"));
    assert_false(exists(out));
    /* ... but q4_K falls back to q5_0 and then, for 48 values a row, to f16 */
    assert_int_equal(omq("quantize %s %s Q4_K_M --progress none", in, out), 0);
    check_types(out, (const expect[]){{"blk.0.odd.weight", "f16"}, {NULL, NULL}});
    /* requantizing needs --allow-requantize */
    const char *q8 = in_dir("q8.gguf");
    write_llama(in, &(model_spec){2, 8, 1, 0});
    assert_int_equal(omq("quantize %s %s Q8_0 --progress none", in, q8), 0);
    remove(out);
    assert_int_equal(omq("quantize %s %s Q4_K_M", q8, out), 1);
    assert_non_null(strstr(g_out, "--allow-requantize"));
    assert_false(exists(out));
    assert_int_equal(omq("quantize %s %s Q4_K_M --allow-requantize --progress none", q8, out), 0);
    check_types(out, (const expect[]){{"blk.1.attn_q.weight", "q4_K"}, {NULL, NULL}});
    remove(out);
    /* NaN in the input: nothing written */
    omq_gguf_writer *w = NULL;
    char msg[256];
    assert_int_equal(omq_gguf_writer_create(&w, in, msg, sizeof msg), OMQ_OK);
    OK(omq_gguf_writer_add_tensor(w, "blk.0.attn_q.weight", OMQ_TYPE_F32, 2, (int64_t[]){32, 2}));
    float x[64] = {0};
    x[40] = NAN;
    OK(omq_gguf_writer_write(w, x, sizeof x));
    OK(omq_gguf_writer_finish(w));
    omq_gguf_writer_free(w);
    assert_int_equal(omq("quantize %s %s Q4_0", in, out), 1);
    assert_non_null(strstr(g_out, "NaN"));
    assert_false(exists(out));
    /* omq verify flags the NaN in the f32 input */
    assert_int_equal(omq("verify %s --device host", in), 1);
    assert_non_null(strstr(g_out, "1 NaN"));
    /* an output directory that does not exist */
    assert_int_equal(omq("quantize %s /nonexistent-omq/x.gguf F16", in), 1);
    /* a hostile input */
    FILE *f = fopen(in, "wb");
    fwrite("GGUF\3\0\0\0", 1, 8, f);
    fclose(f);
    assert_int_equal(omq("quantize %s %s Q4_0", in, out), 1);
    assert_non_null(strstr(g_out, "truncated"));
    assert_int_equal(omq("verify %s", in), 1);
    assert_int_equal(omq("gguf %s", in), 1);
    assert_false(exists(out));
    assert_int_equal(temp_files_left(), 0);
}

static void test_verify_and_list(void **state) {
    (void)state;
    const char *out = in_dir("minilm-q.gguf");
    char minilm[4096];
    snprintf(minilm, sizeof minilm, "%s", ts_gguf_fixture("minilm.gguf"));
    assert_int_equal(omq("quantize %s %s Q4_K_M --progress none", minilm, out), 0);
    for (int d = 0; d < ts_device_count(); ++d) {
        if (omq("verify %s --device %s", out, device_arg(ts_device(d)))) fail_msg("verify failed:\n%s", g_out);
        assert_non_null(strstr(g_out, "21 tensors checked"));
        assert_non_null(strstr(g_out, ": OK"));
    }
    assert_int_equal(omq("gguf %s", minilm), 0);
    assert_non_null(strstr(g_out, "tokenizer.ggml.tokens"));
    assert_non_null(strstr(g_out, "string[512]"));
    assert_non_null(strstr(g_out, "(504 more)"));
    assert_non_null(strstr(g_out, "blk.0.ffn_down.weight"));
    assert_non_null(strstr(g_out, "total: 21 tensors"));
    char path[4096];
    snprintf(path, sizeof path, "%s", ts_gguf_fixture("tensors.gguf"));
    assert_int_equal(omq("gguf %s", path), 0);
    assert_non_null(strstr(g_out, "tq2_0"));
    assert_int_equal(omq("verify %s --device fallback", path), 0); /* bf16, tq2_0, i32: skipped, not errors */
    assert_non_null(strstr(g_out, "3 skipped"));
    snprintf(path, sizeof path, "%s", ts_gguf_fixture("nested.gguf"));
    assert_int_equal(omq("gguf %s", path), 1);
    assert_non_null(strstr(g_out, "nested arrays are not supported"));
    /* the raw form of omq quantize still works */
    const char *raw = in_dir("raw.bin");
    assert_int_equal(omq("quantize --type q4_0 --cols 4096 --device host %s %s", ts_golden_path("input.f32"), raw), 0);
    size_t na, nb;
    void *a = ts_read_file(raw, &na), *b = ts_read_file(ts_golden_path("q4_0.bin"), &nb);
    assert_int_equal(na, nb);
    assert_memory_equal(a, b, na);
    free(a);
    free(b);
}

int main(void) {
    /* omq quantize re-executes itself to set this (see cmd_gguf_quantize.c); setting it here
     * spares each of the many runs below a second process start-up (0.15 s in offload builds,
     * where the offload runtime initialises at load). The re-exec path runs in gguf_py_readback. */
    setenv("OMP_WAIT_POLICY", "passive", 0);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pure_is_byte_exact),   cmocka_unit_test(test_imatrix_is_byte_exact),
        cmocka_unit_test(test_mixtures),             cmocka_unit_test(test_metadata_and_order),
        cmocka_unit_test(test_failures_leave_nothing), cmocka_unit_test(test_verify_and_list),
    };
    return cmocka_run_group_tests(tests, make_dir, remove_dir);
}
