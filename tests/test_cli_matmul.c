/* `omq matmul` on generated files: W made by `omq quantize`, X as float32 and float16. The CLI's
 * Y must be bit-identical to omq_matmul's on the same device with the same algorithm (same
 * code, same data; every kernel sums each output in a fixed order), and it must print the
 * algorithm it ran. Sizes that do not fit the files and bad options are errors. (The
 * kernels' accuracy is test_matmul's business.) */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "omq.h"
#include "support.h"

#ifndef OMQ_CLI_PATH
#error "OMQ_CLI_PATH must be defined by the build"
#endif

enum { ROWS = 37, K = 512, N = 5 };

static char dir[256];

static const char *path(const char *name) {
    static char p[4][512];
    static int k;
    k = (k + 1) % 4;
    snprintf(p[k], sizeof p[k], "%s/%s", dir, name);
    return p[k];
}

static void write_file(const char *name, const void *data, size_t n) {
    FILE *f = fopen(path(name), "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(data, 1, n, f), n);
    assert_int_equal(fclose(f), 0);
}

/* Runs the CLI with `args`; returns its exit status, its stdout in out. */
static int omq(const char *args, char *out, size_t outsz) {
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "cd '%s' && '%s' %s 2>stderr.txt", dir, OMQ_CLI_PATH, args);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    size_t n = fread(out, 1, outsz - 1, p);
    out[n] = '\0';
    const int st = pclose(p);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static int setup(void **state) {
    (void)state;
    snprintf(dir, sizeof dir, "/tmp/omq-cli-matmul-XXXXXX");
    return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state) {
    (void)state;
    const char *names[] = {"W.f32", "W.bin", "X.f32", "X.f16", "Y.f32", "X.bad", "stderr.txt", "Wf.bin"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; ++i) remove(path(names[i]));
    rmdir(dir);
    return 0;
}

static void matches_library(void **state) {
    (void)state;
    ts_rng rng = ts_rng_seeded();
    float w[ROWS * K], x[N * K];
    uint16_t xh[N * K];
    for (int i = 0; i < ROWS * K; ++i) w[i] = ts_uniform(&rng, -1, 1);
    for (int i = 0; i < N * K; ++i) {
        x[i] = ts_uniform(&rng, -3, 3);
        _Float16 h = (_Float16)x[i];
        memcpy(&xh[i], &h, 2);
    }
    write_file("W.f32", w, sizeof w);
    write_file("X.f32", x, sizeof x);
    write_file("X.f16", xh, sizeof xh);
    char out[4096];
    assert_int_equal(omq("quantize --type q4_K --cols 512 --device host W.f32 W.bin", out, sizeof out), 0);
    size_t wbytes = 0;
    void *wq = ts_read_file(path("W.bin"), &wbytes);
    assert_non_null(wq);
    assert_int_equal(wbytes, ROWS * K / 256 * 144);

    static const char *devices[] = {"host", "fallback"};
    for (int d = 0; d < 2; ++d) {
        omq_context *ctx;
        assert_int_equal(omq_context_create(&ctx, d ? OMQ_DEVICE_FALLBACK : OMQ_DEVICE_HOST), OMQ_OK);
        for (int a = OMQ_ALGO_AUTO; a <= OMQ_ALGO_GEMM; ++a)
            for (int f16 = 0; f16 <= 1; ++f16) {
                char args[512];
                snprintf(args, sizeof args, "matmul --type q4_K --cols 512 --algo %s --xtype %s --device %s W.bin %s Y.f32",
                         omq_algo_name((omq_algo)a), f16 ? "f16" : "f32", devices[d], f16 ? "X.f16" : "X.f32");
                assert_int_equal(omq(args, out, sizeof out), 0);
                omq_algo ran = (omq_algo)a;
                if (a == OMQ_ALGO_AUTO) assert_int_equal(omq_matmul_choose(ctx, OMQ_TYPE_Q4_K, ROWS, K, N, &ran), OMQ_OK);
                char expect[64];
                snprintf(expect, sizeof expect, "algorithm %s", omq_algo_name(ran));
                if (!strstr(out, expect)) fail_msg("omq %s printed '%s', not '%s'", args, out, expect);
                assert_non_null(strstr(out, "Y (5 x 37)"));
                size_t ybytes = 0;
                float *y = ts_read_file(path("Y.f32"), &ybytes);
                assert_non_null(y);
                assert_int_equal(ybytes, sizeof(float) * N * ROWS);
                float want[N * ROWS];
                assert_int_equal(omq_matmul(ctx, OMQ_TYPE_Q4_K, wq, ROWS, K, f16 ? OMQ_TYPE_F16 : OMQ_TYPE_F32,
                                            f16 ? (const void *)xh : (const void *)x, N, want, (omq_algo)a),
                                 OMQ_OK);
                assert_int_equal(omq_synchronize(ctx), OMQ_OK);
                assert_memory_equal(y, want, sizeof want);
                free(y);
                remove(path("Y.f32"));
            }
        omq_context_free(ctx);
    }
    free(wq);
}

static void errors(void **state) {
    (void)state;
    char out[4096];
    float x[N * K + 1];
    memset(x, 0, sizeof x);
    write_file("X.bad", x, sizeof x); /* not a whole number of rows of 512 float32 */
    uint8_t wf[4 * K * 4];
    memset(wf, 0, sizeof wf);
    write_file("Wf.bin", wf, sizeof wf); /* 4 rows of 512 f32 weights */
    remove(path("Y.f32"));
    assert_int_equal(omq("matmul --type q4_K --cols 512 --device host W.bin X.bad Y.f32", out, sizeof out), 1);
    assert_int_equal(omq("matmul --type q4_K --cols 256 --device host W.bin X.f32 Y.f32", out, sizeof out), 0);
    remove(path("Y.f32"));
    assert_int_equal(omq("matmul --type q4_K --cols 384 --device host W.bin X.f32 Y.f32", out, sizeof out), 1);
    assert_int_equal(omq("matmul --type q4_K --cols 500 --device host W.bin X.f32 Y.f32", out, sizeof out), 1);
    assert_int_equal(omq("matmul --type q6_K --cols 512 --device host W.bin X.f32 Y.f32", out, sizeof out), 1);
    assert_int_equal(omq("matmul --type f32 --cols 512 --algo mmvq --device host Wf.bin X.f32 Y.f32", out, sizeof out), 1);
    assert_int_equal(omq("matmul --type f32 --cols 512 --algo gemm --device host Wf.bin X.f32 Y.f32", out, sizeof out), 0);
    assert_non_null(strstr(out, "algorithm gemm"));
    remove(path("Y.f32"));
    assert_int_equal(omq("matmul --type q4_K --cols 512 --algo fast W.bin X.f32 Y.f32", out, sizeof out), 2);
    assert_int_equal(omq("matmul --type q4_K --cols 512 --xtype bf16 W.bin X.f32 Y.f32", out, sizeof out), 2);
    assert_int_equal(omq("matmul --type q4_K W.bin X.f32 Y.f32", out, sizeof out), 2);
    assert_int_equal(omq("matmul --type q4_K --cols 512 W.bin X.f32", out, sizeof out), 2);
    assert_int_equal(omq("matmul --type q4_K --cols 512 --device host W.bin missing.f32 Y.f32", out, sizeof out), 1);
    /* a failed run leaves no output file behind */
    assert_int_equal(access(path("Y.f32"), F_OK), -1);
    assert_int_equal(omq("matmul --help", out, sizeof out), 0);
    assert_non_null(strstr(out, "--algo"));
}

int main(void) {
    const struct CMUnitTest tests[] = {cmocka_unit_test(matches_library), cmocka_unit_test(errors)};
    return cmocka_run_group_tests(tests, setup, teardown);
}
