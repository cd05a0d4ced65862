#include "support.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#ifndef OMQ_GOLDEN_DIR
#error "OMQ_GOLDEN_DIR must be defined by the build"
#endif

void *ts_read_file(const char *path, size_t *size) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    void *buf = malloc(n > 0 ? (size_t)n : 1);
    if (buf && n > 0 && fread(buf, 1, (size_t)n, f) != (size_t)n) {
        free(buf);
        buf = NULL;
    }
    fclose(f);
    if (buf) *size = (size_t)n;
    return buf;
}

const char *ts_golden_path(const char *name) {
    static char path[4096];
    const char *dir = getenv("OMQ_GOLDEN_DIR"); /* for binaries run away from the source tree */
    snprintf(path, sizeof path, "%s/%s", dir ? dir : OMQ_GOLDEN_DIR, name);
    return path;
}

const char *ts_gguf_fixture(const char *name) {
    static char path[4096];
    const char *dir = getenv("OMQ_GGUF_FIXTURE_DIR"); /* as OMQ_GOLDEN_DIR */
    snprintf(path, sizeof path, "%s/%s", dir ? dir : OMQ_GGUF_FIXTURE_DIR, name);
    return path;
}

/* ---- SHA-256 (FIPS 180-4) */
static const uint32_t K256[64] = {
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2};

#define ROR(x, n) (((x) >> (n)) | ((x) << (32 - (n))))

static void sha256_block(uint32_t h[8], const uint8_t *p) {
    uint32_t w[64];
    for (int i = 0; i < 16; ++i)
        w[i] = (uint32_t)p[4 * i] << 24 | (uint32_t)p[4 * i + 1] << 16 | (uint32_t)p[4 * i + 2] << 8 | p[4 * i + 3];
    for (int i = 16; i < 64; ++i) {
        uint32_t s0 = ROR(w[i - 15], 7) ^ ROR(w[i - 15], 18) ^ (w[i - 15] >> 3);
        uint32_t s1 = ROR(w[i - 2], 17) ^ ROR(w[i - 2], 19) ^ (w[i - 2] >> 10);
        w[i] = w[i - 16] + s0 + w[i - 7] + s1;
    }
    uint32_t a = h[0], b = h[1], c = h[2], d = h[3], e = h[4], f = h[5], g = h[6], k = h[7];
    for (int i = 0; i < 64; ++i) {
        uint32_t t1 = k + (ROR(e, 6) ^ ROR(e, 11) ^ ROR(e, 25)) + ((e & f) ^ (~e & g)) + K256[i] + w[i];
        uint32_t t2 = (ROR(a, 2) ^ ROR(a, 13) ^ ROR(a, 22)) + ((a & b) ^ (a & c) ^ (b & c));
        k = g; g = f; f = e; e = d + t1; d = c; c = b; b = a; a = t1 + t2;
    }
    h[0] += a; h[1] += b; h[2] += c; h[3] += d; h[4] += e; h[5] += f; h[6] += g; h[7] += k;
}

void ts_sha256(const void *data, size_t n, uint8_t out[32]) {
    uint32_t h[8] = {0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
                     0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19};
    const uint8_t *p = data;
    size_t i = 0;
    for (; i + 64 <= n; i += 64) sha256_block(h, p + i);
    uint8_t tail[128] = {0};
    size_t r = n - i;
    memcpy(tail, p + i, r);
    tail[r] = 0x80;
    size_t tl = r + 9 <= 64 ? 64 : 128;
    uint64_t bits = (uint64_t)n * 8;
    for (int j = 0; j < 8; ++j) tail[tl - 1 - j] = (uint8_t)(bits >> (8 * j));
    sha256_block(h, tail);
    if (tl == 128) sha256_block(h, tail + 64);
    for (int j = 0; j < 8; ++j)
        for (int b = 0; b < 4; ++b) out[4 * j + b] = (uint8_t)(h[j] >> (24 - 8 * b));
}

void ts_sha256_hex(const void *data, size_t n, char out[65]) {
    uint8_t d[32];
    ts_sha256(data, n, d);
    for (int i = 0; i < 32; ++i) sprintf(out + 2 * i, "%02x", d[i]);
}

/* ---- random data */
ts_rng ts_rng_seeded(void) {
    const char *env = getenv("OMQ_TEST_SEED");
    uint64_t seed = env ? strtoull(env, NULL, 0)
                        : (uint64_t)time(NULL) * 0x9E3779B97F4A7C15ULL ^ (uint64_t)(uintptr_t)&seed;
    printf("# random seed %llu (set OMQ_TEST_SEED to repeat)\n", (unsigned long long)seed);
    ts_rng r = {seed};
    return r;
}

uint64_t ts_next(ts_rng *r) {
    uint64_t z = (r->s += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

float ts_uniform(ts_rng *r, float lo, float hi) {
    double u = (double)(ts_next(r) >> 11) * 0x1.0p-53;
    return (float)(lo + (hi - lo) * u);
}

float ts_gauss(ts_rng *r) {
    double u1 = ((double)(ts_next(r) >> 12) + 0.5) * 0x1.0p-52;
    double u2 = (double)(ts_next(r) >> 11) * 0x1.0p-53;
    return (float)(sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2));
}

/* ---- devices */
int ts_device_count(void) { return 2 + omq_device_count(); }

int ts_device(int i) {
    if (i == 0) return OMQ_DEVICE_HOST;
    if (i == 1) return OMQ_DEVICE_FALLBACK;
    return i - 2;
}

const char *ts_device_label(int device) {
    static char buf[32];
    if (device == OMQ_DEVICE_HOST) return "host";
    if (device == OMQ_DEVICE_FALLBACK) return "fallback";
    snprintf(buf, sizeof buf, "gpu%d", device);
    return buf;
}

void *ts_alloc(omq_context *ctx, size_t bytes, int fill_byte) {
    void *dev = NULL;
    assert_int_equal(omq_malloc(ctx, bytes, &dev), OMQ_OK);
    if (fill_byte >= 0) {
        void *tmp = malloc(bytes);
        assert_non_null(tmp);
        memset(tmp, fill_byte, bytes);
        assert_int_equal(omq_memcpy(ctx, dev, tmp, bytes, OMQ_COPY_HOST_TO_DEVICE), OMQ_OK);
        free(tmp);
    }
    return dev;
}

void *ts_upload(omq_context *ctx, const void *host, size_t bytes) {
    void *dev = ts_alloc(ctx, bytes, -1);
    assert_int_equal(omq_memcpy(ctx, dev, host, bytes, OMQ_COPY_HOST_TO_DEVICE), OMQ_OK);
    return dev;
}

void ts_download(omq_context *ctx, void *host, const void *dev, size_t bytes) {
    assert_int_equal(omq_memcpy(ctx, host, dev, bytes, OMQ_COPY_DEVICE_TO_HOST), OMQ_OK);
}

void ts_free(omq_context *ctx, void *dev) { assert_int_equal(omq_free(ctx, dev), OMQ_OK); }
