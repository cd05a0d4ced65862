/* The device layer: streams (order, overlap, query), several host threads on shared and on
 * separate contexts at once, pinned memory and asynchronous copies, memory limits, injected
 * allocation and copy failures, and the device-selection fallbacks. Every device that
 * ts_device gives (host, OpenMP host fallback, each GPU). */
#include <pthread.h>
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

enum { ROWS = 8, COLS = 1024 };

static void fill(float *x, size_t n, unsigned seed) {
    for (size_t i = 0; i < n; ++i) x[i] = (float)((i * 2654435761u + seed * 40503u) % 2001) / 1000.0f - 1.0f;
}

/* what `rounds` quantize -> dequantize passes through q8_0 give, computed on the host */
static void expected_chain(const float *x, float *y, int rounds) {
    omq_context *h;
    assert_int_equal(omq_context_create(&h, OMQ_DEVICE_HOST), OMQ_OK);
    static uint8_t q[ROWS * COLS / 32 * 34];
    memcpy(y, x, sizeof(float) * ROWS * COLS);
    for (int r = 0; r < rounds; ++r) {
        for (size_t i = 0; i < ROWS * COLS; ++i) y[i] *= 1.5f; /* not idempotent: every pass matters */
        assert_int_equal(omq_quantize(h, OMQ_TYPE_Q8_0, y, q, ROWS, COLS, NULL), OMQ_OK);
        assert_int_equal(omq_dequantize(h, OMQ_TYPE_Q8_0, q, OMQ_TYPE_F32, y, ROWS, COLS), OMQ_OK);
    }
    assert_int_equal(omq_synchronize(h), OMQ_OK);
    omq_context_free(h);
}

/* the same chain queued on ctx's current stream: host scaling is replaced by copying the
 * scaled values in, so that every step depends on the previous one through device memory */
typedef struct {
    omq_context *ctx;
    float *host_x, *host_y, *dx, *dy;
    void *dq;
    int rounds;
} chain;

static void queue_chain(chain *c) {
    static const float one_and_half = 1.5f;
    (void)one_and_half;
    float *scaled = c->host_y; /* scratch on the host: filled step by step after syncs */
    memcpy(scaled, c->host_x, sizeof(float) * ROWS * COLS);
    for (int r = 0; r < c->rounds; ++r) {
        for (size_t i = 0; i < ROWS * COLS; ++i) scaled[i] *= 1.5f;
        assert_int_equal(omq_memcpy_async(c->ctx, c->dx, scaled, sizeof(float) * ROWS * COLS, OMQ_COPY_HOST_TO_DEVICE), OMQ_OK);
        assert_int_equal(omq_quantize(c->ctx, OMQ_TYPE_Q8_0, c->dx, c->dq, ROWS, COLS, NULL), OMQ_OK);
        assert_int_equal(omq_dequantize(c->ctx, OMQ_TYPE_Q8_0, c->dq, OMQ_TYPE_F32, c->dy, ROWS, COLS), OMQ_OK);
        assert_int_equal(omq_memcpy_async(c->ctx, scaled, c->dy, sizeof(float) * ROWS * COLS, OMQ_COPY_DEVICE_TO_HOST), OMQ_OK);
        /* the host reads `scaled` next round: wait for this round only */
        assert_int_equal(omq_stream_synchronize(omq_context_get_stream(c->ctx)), OMQ_OK);
    }
}

static void stream_order(void **state) {
    (void)state;
    static float x[ROWS * COLS], want[ROWS * COLS], got[ROWS * COLS];
    fill(x, ROWS * COLS, 1);
    expected_chain(x, want, 3);
    for (int d = 0; d < ts_device_count(); ++d) {
        omq_context *ctx;
        assert_int_equal(omq_context_create(&ctx, ts_device(d)), OMQ_OK);
        omq_stream *s;
        assert_int_equal(omq_stream_create(ctx, &s), OMQ_OK);
        assert_int_equal(omq_context_set_stream(ctx, s), OMQ_OK);
        assert_ptr_equal(omq_context_get_stream(ctx), s);
        chain c = {ctx, x, got, ts_alloc(ctx, sizeof x, -1), ts_alloc(ctx, sizeof x, -1), ts_alloc(ctx, ROWS * COLS / 32 * 34, -1), 3};
        queue_chain(&c);
        assert_memory_equal(got, want, sizeof want);
        /* a long queue without intermediate waits: 40 kernels and copies, then one sync */
        float *pinned;
        assert_int_equal(omq_host_malloc(ctx, sizeof x, (void **)&pinned), OMQ_OK);
        memcpy(pinned, x, sizeof x);
        for (int r = 0; r < 10; ++r) {
            assert_int_equal(omq_memcpy_async(ctx, c.dx, pinned, sizeof x, OMQ_COPY_HOST_TO_DEVICE), OMQ_OK);
            assert_int_equal(omq_quantize(ctx, OMQ_TYPE_Q8_0, c.dx, c.dq, ROWS, COLS, NULL), OMQ_OK);
            assert_int_equal(omq_dequantize(ctx, OMQ_TYPE_Q8_0, c.dq, OMQ_TYPE_F32, c.dy, ROWS, COLS), OMQ_OK);
            assert_int_equal(omq_memcpy_async(ctx, pinned, c.dy, sizeof x, OMQ_COPY_DEVICE_TO_HOST), OMQ_OK);
        }
        const omq_status q = omq_stream_query(s);
        assert_true(q == OMQ_OK || q == OMQ_ERR_NOT_READY);
        assert_int_equal(omq_stream_synchronize(s), OMQ_OK);
        assert_int_equal(omq_stream_query(s), OMQ_OK);
        float once[ROWS * COLS];
        memcpy(once, x, sizeof x);
        omq_context *h;
        assert_int_equal(omq_context_create(&h, OMQ_DEVICE_HOST), OMQ_OK);
        uint8_t qb[ROWS * COLS / 32 * 34];
        for (int r = 0; r < 10; ++r) { /* q8_0 round trips are not idempotent in general */
            assert_int_equal(omq_quantize(h, OMQ_TYPE_Q8_0, once, qb, ROWS, COLS, NULL), OMQ_OK);
            assert_int_equal(omq_dequantize(h, OMQ_TYPE_Q8_0, qb, OMQ_TYPE_F32, once, ROWS, COLS), OMQ_OK);
        }
        omq_context_free(h);
        assert_memory_equal(pinned, once, sizeof once);
        assert_int_equal(omq_host_free(ctx, pinned), OMQ_OK);
        assert_int_equal(omq_stream_destroy(s), OMQ_OK);
        assert_ptr_not_equal(omq_context_get_stream(ctx), s); /* back on the default stream */
        omq_context_free(ctx); /* frees c's buffers too */
    }
}

/* Two streams of one context, each with its own chain, interleaved: both correct. */
static void streams_overlap(void **state) {
    (void)state;
    static float x[2][ROWS * COLS], want[2][ROWS * COLS], got[2][ROWS * COLS];
    for (int k = 0; k < 2; ++k) {
        fill(x[k], ROWS * COLS, 7 + k);
        expected_chain(x[k], want[k], 1);
    }
    for (int d = 0; d < ts_device_count(); ++d) {
        omq_context *ctx;
        assert_int_equal(omq_context_create(&ctx, ts_device(d)), OMQ_OK);
        omq_stream *s[2];
        float *dx[2], *dy[2];
        void *dq[2];
        for (int k = 0; k < 2; ++k) {
            assert_int_equal(omq_stream_create(ctx, &s[k]), OMQ_OK);
            dx[k] = ts_alloc(ctx, sizeof x[k], -1);
            dy[k] = ts_alloc(ctx, sizeof x[k], -1);
            dq[k] = ts_alloc(ctx, ROWS * COLS / 32 * 34, -1);
            for (size_t i = 0; i < ROWS * COLS; ++i) got[k][i] = x[k][i] * 1.5f;
        }
        for (int k = 0; k < 2; ++k) {
            assert_int_equal(omq_context_set_stream(ctx, s[k]), OMQ_OK);
            assert_int_equal(omq_memcpy_async(ctx, dx[k], got[k], sizeof x[k], OMQ_COPY_HOST_TO_DEVICE), OMQ_OK);
            assert_int_equal(omq_quantize(ctx, OMQ_TYPE_Q8_0, dx[k], dq[k], ROWS, COLS, NULL), OMQ_OK);
        }
        for (int k = 1; k >= 0; --k) {
            assert_int_equal(omq_context_set_stream(ctx, s[k]), OMQ_OK);
            assert_int_equal(omq_dequantize(ctx, OMQ_TYPE_Q8_0, dq[k], OMQ_TYPE_F32, dy[k], ROWS, COLS), OMQ_OK);
            assert_int_equal(omq_memcpy_async(ctx, got[k], dy[k], sizeof x[k], OMQ_COPY_DEVICE_TO_HOST), OMQ_OK);
        }
        assert_int_equal(omq_synchronize(ctx), OMQ_OK); /* all streams */
        for (int k = 0; k < 2; ++k) assert_memory_equal(got[k], want[k], sizeof want[k]);
        assert_int_equal(omq_context_set_stream(ctx, NULL), OMQ_OK);
        omq_context_free(ctx); /* destroys the streams and frees the buffers */
    }
}

/* ---- several host threads */
typedef struct {
    omq_context *shared; /* NULL: make an own context on `device` */
    int device, seed, ok;
} worker_arg;

static void *worker(void *p) {
    worker_arg *a = p;
    omq_context *ctx = a->shared;
    if (!ctx && omq_context_create(&ctx, a->device)) return NULL;
    float x[ROWS * COLS], want[ROWS * COLS], y[ROWS * COLS];
    uint8_t qh[ROWS * COLS / 32 * 34];
    fill(x, ROWS * COLS, (unsigned)a->seed);
    a->ok = 1;
    void *dx = NULL, *dy = NULL, *dq = NULL;
    if (omq_malloc(ctx, sizeof x, &dx) || omq_malloc(ctx, sizeof y, &dy) || omq_malloc(ctx, sizeof qh, &dq)) a->ok = 0;
    for (int round = 0; a->ok && round < 20; ++round) {
        /* expected: this thread's own host computation */
        omq_context *h = NULL;
        a->ok &= !omq_context_create(&h, OMQ_DEVICE_HOST) && !omq_quantize(h, OMQ_TYPE_Q4_K, x, qh, ROWS, COLS, NULL) &&
                 !omq_dequantize(h, OMQ_TYPE_Q4_K, qh, OMQ_TYPE_F32, want, ROWS, COLS) && !omq_synchronize(h);
        omq_context_free(h);
        a->ok &= !omq_memcpy(ctx, dx, x, sizeof x, OMQ_COPY_HOST_TO_DEVICE) &&
                 !omq_quantize(ctx, OMQ_TYPE_Q4_K, dx, dq, ROWS, COLS, NULL) &&
                 !omq_dequantize(ctx, OMQ_TYPE_Q4_K, dq, OMQ_TYPE_F32, dy, ROWS, COLS) &&
                 !omq_synchronize(ctx) && !omq_memcpy(ctx, y, dy, sizeof y, OMQ_COPY_DEVICE_TO_HOST);
        a->ok &= !memcmp(y, want, sizeof y);
        for (size_t i = 0; i < ROWS * COLS; ++i) x[i] = 0.9f * x[i] + 0.1f * (float)round;
    }
    omq_free(ctx, dx);
    omq_free(ctx, dy);
    omq_free(ctx, dq);
    if (!a->shared) omq_context_free(ctx);
    return NULL;
}

static void run_workers(worker_arg *args, int n) {
    pthread_t t[16];
    for (int i = 0; i < n; ++i) assert_int_equal(pthread_create(&t[i], NULL, worker, &args[i]), 0);
    for (int i = 0; i < n; ++i) pthread_join(t[i], NULL);
    for (int i = 0; i < n; ++i)
        if (!args[i].ok) fail_msg("thread %d (device %s, %s context) computed wrong results or failed", i,
                                  ts_device_label(args[i].device), args[i].shared ? "shared" : "own");
}

static void threads(void **state) {
    (void)state;
    enum { N = 6 };
    worker_arg args[16];
    for (int d = 0; d < ts_device_count(); ++d) {
        /* one context shared by every thread (its default stream fed from all of them) */
        omq_context *shared;
        assert_int_equal(omq_context_create(&shared, ts_device(d)), OMQ_OK);
        for (int i = 0; i < N; ++i) args[i] = (worker_arg){shared, ts_device(d), i, 0};
        run_workers(args, N);
        assert_int_equal(omq_context_memory_in_use(shared), 0);
        omq_context_free(shared);
        /* a context per thread on the same device */
        for (int i = 0; i < N; ++i) args[i] = (worker_arg){NULL, ts_device(d), 100 + i, 0};
        run_workers(args, N);
    }
    /* every device at once, two threads each: contexts on different devices run together */
    int n = 0;
    for (int d = 0; d < ts_device_count() && n + 2 <= 16; ++d)
        for (int k = 0; k < 2; ++k, ++n) args[n] = (worker_arg){NULL, ts_device(d), 200 + n, 0};
    run_workers(args, n);
}

static void memory_limits_and_failures(void **state) {
    (void)state;
    for (int d = 0; d < ts_device_count(); ++d) {
        omq_context *ctx;
        assert_int_equal(omq_context_create(&ctx, ts_device(d)), OMQ_OK);
        void *a = NULL, *b = NULL, *c = NULL;
        assert_int_equal(omq_context_set_memory_limit(ctx, 1 << 20), OMQ_OK);
        assert_int_equal(omq_malloc(ctx, 2 << 20, &a), OMQ_ERR_ALLOC);
        assert_non_null(strstr(omq_context_last_error(ctx), "limit"));
        assert_int_equal(omq_malloc(ctx, 600 << 10, &a), OMQ_OK);
        assert_int_equal(omq_host_malloc(ctx, 600 << 10, &b), OMQ_ERR_ALLOC); /* pinned counts too */
        assert_int_equal(omq_host_malloc(ctx, 300 << 10, &b), OMQ_OK);
        assert_int_equal(omq_context_memory_in_use(ctx), 900 << 10);
        assert_int_equal(omq_free(ctx, b), OMQ_ERR_INVALID_ARG); /* pinned memory: omq_host_free */
        assert_int_equal(omq_host_free(ctx, b), OMQ_OK);
        int local;
        assert_int_equal(omq_free(ctx, &local), OMQ_ERR_INVALID_ARG);
        assert_int_equal(omq_context_set_memory_limit(ctx, 0), OMQ_OK);
        /* injected failures: reported, counted down, and the context stays usable */
        assert_int_equal(omq_debug_inject_failures(ctx, OMQ_INJECT_ALLOC, 2), OMQ_OK);
        assert_int_equal(omq_malloc(ctx, 128, &b), OMQ_ERR_ALLOC);
        assert_int_equal(omq_host_malloc(ctx, 128, &b), OMQ_ERR_ALLOC);
        assert_int_equal(omq_malloc(ctx, 128, &b), OMQ_OK);
        assert_int_equal(omq_debug_inject_failures(ctx, OMQ_INJECT_COPY, 2), OMQ_OK);
        float in[32], out[32];
        fill(in, 32, 3);
        assert_int_equal(omq_memcpy(ctx, b, in, sizeof in, OMQ_COPY_HOST_TO_DEVICE), OMQ_ERR_DEVICE);
        assert_non_null(strstr(omq_context_last_error(ctx), "injected"));
        assert_int_equal(omq_memcpy_async(ctx, b, in, sizeof in, OMQ_COPY_HOST_TO_DEVICE), OMQ_ERR_DEVICE);
        assert_int_equal(omq_memcpy(ctx, b, in, sizeof in, OMQ_COPY_HOST_TO_DEVICE), OMQ_OK);
        assert_int_equal(omq_malloc(ctx, 18, &c), OMQ_OK); /* one q4_0 block */
        assert_int_equal(omq_quantize(ctx, OMQ_TYPE_Q4_0, b, c, 1, 32, NULL), OMQ_OK);
        assert_int_equal(omq_dequantize(ctx, OMQ_TYPE_Q4_0, c, OMQ_TYPE_F32, b, 1, 32), OMQ_OK);
        assert_int_equal(omq_memcpy(ctx, out, b, sizeof out, OMQ_COPY_DEVICE_TO_HOST), OMQ_OK);
        assert_int_equal(omq_synchronize(ctx), OMQ_OK);
        for (int i = 0; i < 32; ++i) assert_true(out[i] - in[i] < 0.2f && in[i] - out[i] < 0.2f);
        assert_int_equal(omq_debug_inject_failures(ctx, (omq_injected_failure)9, 1), OMQ_ERR_INVALID_ARG);
        assert_int_equal(omq_debug_inject_failures(NULL, OMQ_INJECT_COPY, 1), OMQ_ERR_NULL);
        omq_context_free(ctx); /* a and the rest are freed with it */
    }
}

static void stream_misuse(void **state) {
    (void)state;
    omq_context *ctx, *other;
    assert_int_equal(omq_context_create(&ctx, OMQ_DEVICE_HOST), OMQ_OK);
    assert_int_equal(omq_context_create(&other, OMQ_DEVICE_FALLBACK), OMQ_OK);
    omq_stream *s = NULL;
    int fake;
    assert_int_equal(omq_stream_wrap_hip(ctx, &fake, &s), OMQ_ERR_UNSUPPORTED); /* host backend */
    assert_int_equal(omq_stream_wrap_cuda(other, &fake, &s), OMQ_ERR_UNSUPPORTED); /* fallback: no CUDA */
    assert_int_equal(omq_stream_wrap_hip(other, NULL, &s), OMQ_ERR_NULL);
    assert_int_equal(omq_stream_create(ctx, NULL), OMQ_ERR_NULL);
    assert_int_equal(omq_stream_create(NULL, &s), OMQ_ERR_NULL);
    assert_int_equal(omq_stream_destroy(omq_context_get_stream(ctx)), OMQ_ERR_INVALID_ARG);
    assert_int_equal(omq_stream_create(other, &s), OMQ_OK);
    assert_int_equal(omq_context_set_stream(ctx, s), OMQ_ERR_INVALID_ARG); /* another context's */
    assert_int_equal(omq_stream_destroy(s), OMQ_OK);
    assert_int_equal(omq_stream_destroy(NULL), OMQ_OK);
    assert_int_equal(omq_stream_query(NULL), OMQ_ERR_NULL);
    assert_int_equal(omq_stream_synchronize(NULL), OMQ_ERR_NULL);
    assert_string_equal(omq_context_backend(ctx), "host");
    assert_string_equal(omq_context_backend(other), "omp");
    omq_context_free(ctx);
    omq_context_free(other);
}

/* omq bench's yardsticks: the copy probe copies, the read probe writes its dst only with a
 * chunk of src carrying the key (and so must have read it all), bad arguments are refused. */
static void probes(void **state) {
    (void)state;
    enum { WORDS = 4 * 4096 };
    static uint32_t src[WORDS], got[WORDS];
    uint32_t s = 0x2545F491u;
    for (int i = 0; i < WORDS; ++i) s ^= s << 13, s ^= s >> 17, s ^= s << 5, src[i] = s;
    for (int d = 0; d < ts_device_count(); ++d) {
        omq_context *ctx;
        assert_int_equal(omq_context_create(&ctx, ts_device(d)), OMQ_OK);
        uint32_t *dsrc = ts_upload(ctx, src, sizeof src), *ddst = ts_alloc(ctx, sizeof src, 0);
        uint32_t *dkey = ts_alloc(ctx, 16, 0xAB), key[4], untouched[4];
        memset(untouched, 0xAB, sizeof untouched);
        assert_int_equal(omq_debug_probe(ctx, OMQ_PROBE_EMPTY, NULL, NULL, 0), OMQ_OK);
        assert_int_equal(omq_debug_probe(ctx, OMQ_PROBE_COPY, ddst, dsrc, sizeof src), OMQ_OK);
        assert_int_equal(omq_debug_probe(ctx, OMQ_PROBE_READ, dkey, dsrc, sizeof src), OMQ_OK);
        assert_int_equal(omq_synchronize(ctx), OMQ_OK);
        ts_download(ctx, got, ddst, sizeof got);
        assert_memory_equal(got, src, sizeof src);
        ts_download(ctx, key, dkey, sizeof key);
        assert_memory_equal(key, untouched, sizeof key);
        /* the last chunk keyed: the read probe copies it */
        const int c = WORDS - 4;
        got[c + 2] = got[c] ^ 0x89abcdefu, got[c + 3] = got[c + 1] ^ 0x01234567u;
        ts_free(ctx, dsrc);
        dsrc = ts_upload(ctx, got, sizeof got);
        assert_int_equal(omq_debug_probe(ctx, OMQ_PROBE_READ, dkey, dsrc, sizeof src), OMQ_OK);
        assert_int_equal(omq_synchronize(ctx), OMQ_OK);
        ts_download(ctx, key, dkey, sizeof key);
        assert_memory_equal(key, got + c, sizeof key);
        /* refused */
        assert_int_equal(omq_debug_probe(ctx, (omq_probe)3, ddst, dsrc, 16), OMQ_ERR_INVALID_ARG);
        assert_int_equal(omq_debug_probe(ctx, OMQ_PROBE_READ, dkey, dsrc, 24), OMQ_ERR_SHAPE);
        assert_int_equal(omq_debug_probe(ctx, OMQ_PROBE_READ, dkey, dsrc, 0), OMQ_ERR_EMPTY);
        assert_int_equal(omq_debug_probe(ctx, OMQ_PROBE_READ, dkey, dsrc + 1, 16), OMQ_ERR_MISALIGNED);
        assert_int_equal(omq_debug_probe(ctx, OMQ_PROBE_READ, NULL, dsrc, 16), OMQ_ERR_NULL);
        assert_true(strlen(omq_context_last_error(ctx)) > 0);
        omq_context_free(ctx);
    }
}

/* automatic choice and missing devices; with the HIP backend built and no AMD GPU, HIP's
 * answer (hipErrorNoDevice) must have been seen and handled */
static void device_selection(void **state) {
    (void)state;
    const int ngpu = omq_device_count();
    omq_context *ctx;
    assert_int_equal(omq_context_create(&ctx, OMQ_DEVICE_AUTO), OMQ_OK);
    assert_int_equal(omq_context_device(ctx), ngpu ? 0 : OMQ_DEVICE_HOST);
    assert_string_equal(omq_context_backend(ctx), ngpu ? omq_context_backend(ctx) : "host");
    omq_context_free(ctx);
    assert_int_equal(omq_context_create(&ctx, ngpu), OMQ_ERR_NO_DEVICE);
    const char *report = omq_device_report();
    assert_non_null(strstr(report, "host:"));
    assert_non_null(strstr(report, "hip:"));
    if (strstr(omq_build_info(), "hip") && ngpu == 0)
        assert_true(strstr(report, "hipErrorNoDevice") || strstr(report, "not found"));
    printf("# %s\n", report);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(stream_order),     cmocka_unit_test(streams_overlap),
        cmocka_unit_test(threads),          cmocka_unit_test(memory_limits_and_failures),
        cmocka_unit_test(stream_misuse),    cmocka_unit_test(device_selection),
        cmocka_unit_test(probes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
