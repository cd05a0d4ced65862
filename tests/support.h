/* Helpers shared by the tests: files, digests, random data, and running one test body on
 * every place a context can compute (host, OpenMP host fallback, each GPU). */
#ifndef OMQ_TEST_SUPPORT_H
#define OMQ_TEST_SUPPORT_H

#include <stddef.h>
#include <stdint.h>

#include "omq.h"

/* Whole file, malloc'ed; NULL if unreadable. */
void *ts_read_file(const char *path, size_t *size);
/* Path inside tests/golden. */
const char *ts_golden_path(const char *name);
/* Path of a GGUF fixture of tests/gguf (OMQ_GGUF_FIXTURE_DIR overrides the directory); the
 * same static buffer each call. */
const char *ts_gguf_fixture(const char *name);

void ts_sha256(const void *data, size_t n, uint8_t out[32]);
void ts_sha256_hex(const void *data, size_t n, char out[65]);

/* splitmix64 stream and draws from it */
typedef struct { uint64_t s; } ts_rng;
ts_rng ts_rng_seeded(void); /* from time and address entropy; prints the seed */
uint64_t ts_next(ts_rng *r);
float ts_uniform(ts_rng *r, float lo, float hi);
float ts_gauss(ts_rng *r);

/* Devices to run on: OMQ_DEVICE_HOST, OMQ_DEVICE_FALLBACK, then GPUs 0..n-1. */
int ts_device_count(void);
int ts_device(int i);
const char *ts_device_label(int device);

/* Buffers in a context's memory space, filled from / read back to host memory. */
void *ts_upload(omq_context *ctx, const void *host, size_t bytes);
void *ts_alloc(omq_context *ctx, size_t bytes, int fill_byte);
void ts_download(omq_context *ctx, void *host, const void *dev, size_t bytes);
void ts_free(omq_context *ctx, void *dev);

#endif
