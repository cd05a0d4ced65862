/* Shared state of `omq bench` (cmd_bench.c: yardsticks, conversions; cmd_bench_products.c:
 * matrix products). */
#ifndef OMQ_BENCH_H
#define OMQ_BENCH_H

#include <stddef.h>
#include <stdint.h>

#include "omq.h"

typedef struct {
    omq_context *ctx, *host; /* the benchmarked device; the host, for checks */
    char device[128];
    int csv, runs;
    int only_mode;           /* -1 all, else the one mode to run (bench_mode_names) */
    int per_sync;            /* calls queued per synchronize in the timed runs (queued mode) */
    omq_algo algo;           /* of the products; AUTO: omq_matmul_choose's */
    int x_q8_1;              /* --x q8_1: the products' X given already quantized to Q8_1 */
    size_t llc_bytes;
    size_t copy_bytes;       /* read (and written) by the copy yardstick */
    double copy_gbs;         /* the copy yardstick: the faster of the two below */
    double kernel_copy_gbs;  /* omq's copy kernel (bytes read + written) */
    double driver_copy_gbs;  /* the device runtime's device-to-device copy (omq_memcpy) */
    double launch_us, queued_us;
} bench;

typedef omq_status (*bench_fn)(void *arg, int rotation);

/* cold: W rotated past the LLC, each call synchronized; warm: the same W, each call
 * synchronized; queued: the same W, 10 calls queued per synchronize (how ggml's
 * test-backend-ops times: launch latency overlaps); cold-queued: W rotated past the LLC, 10
 * calls queued per synchronize (the kernels' own speed from memory, without a round trip
 * to the host per call) */
enum { BENCH_COLD, BENCH_WARM, BENCH_QUEUED, BENCH_COLD_QUEUED, BENCH_NMODES };
extern const char *const bench_mode_names[BENCH_NMODES];
/* sets b->per_sync for the mode; returns the rotations of a working set of set_bytes */
int bench_mode(bench *b, int mode, size_t set_bytes);

double bench_median(double *v, int n);
double bench_time(bench *b, bench_fn fn, void *arg, int rotations);
void bench_row(bench *b, const char *op, const char *type, int64_t rows, int64_t k, int64_t n, const char *mode,
               const char *algo, double seconds, double bytes, double flops, const char *check);

/* GEMV (n = 1), small batches (n = 2, 4, 8) and GEMM (n = 512) of `type` weights */
int bench_products(bench *b, const char *op, omq_type type, int64_t rows, int64_t k);

#endif
