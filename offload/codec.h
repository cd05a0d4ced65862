/* Launch scaffolding for the per-type codec files (offload/q*.c).
 *
 * A codec file defines, inside `declare target`, two block functions
 *     T_quantize_block(const float *x, BLOCK *y, const float *qw, float row_sigma2)
 *     T_dequantize_block(const BLOCK *x, float *y)
 * (qw: NULL or the block's importance weights; row_sigma2: the row statistic of ggml's
 * legacy imatrix quantizers, else unused) and then says OMQ_DEFINE_CODEC(...) once (or
 * OMQ_DEFINE_CODEC_ROW_SIGMA2), which writes the two entry points of kernels.h with a host
 * form and a target form each.
 *
 * Rule for every kernel file: no target region in code the compiler can see is dead. */
#ifndef OMQ_CODEC_H
#define OMQ_CODEC_H

#include <omp.h>
#include <stddef.h>
#include <string.h>

#include "blocks.h"
#include "kernels.h"
#include "numeric.h"

#define OMQ_PRAGMA(x) OMQ_PRAGMA_(x) /* two levels: macros in x expand first */
#define OMQ_PRAGMA_(x) _Pragma(#x)

/* for (int64_t i = 0; i < n; ++i) { body } on host threads, or as one target region on the
 * exec's device. `ptrs` is the parenthesised list of every pointer the body dereferences
 * (they are device pointers there).
 *
 * Target regions are synchronous, never `nowait`: LLVM 19's libomp fails an assertion
 * (new_gtid <= __kmp_hidden_helper_threads_num) when hidden-helper tasks, which `target
 * nowait` creates, coexist with application threads that start and end, and a library does
 * not choose its host's threads. Asynchrony comes from the device layer instead: stream
 * executor threads run the regions while callers go on. */
#define OMQ_PARALLEL_FOR(ex, n, i, ptrs, ...)                                                   \
    do {                                                                                        \
        if ((ex)->kind == OMQ_EXEC_HOST)                                                        \
            OMQ_HOST_FOR(n, i, __VA_ARGS__);                                                    \
        else                                                                                    \
            OMQ_TARGET_FOR(ex, n, i, ptrs, __VA_ARGS__);                                        \
    } while (0)

/* Teams for `tiles` tiles on OpenMP device `dev` (kernels that shape their own teams): one
 * per tile on a GPU (up to a cap the tile loops stride past), one on the host fallback,
 * whose teams would each be a thread group of their own. */
static inline int omq_teams_for_tiles(int dev, int64_t tiles) {
    if (dev == omp_get_initial_device()) return 1;
    return (int)(tiles < 65536 ? tiles : 65536);
}

/* Teams of `lanes` lanes for kernels whose teams each pay a set-up: as many as the device runs
 * at once, 1024 lanes per compute unit (an NVIDIA SM's registers at 64 a lane; a guess of 128
 * units where the count is unknown), at most one per tile; one on the host fallback. */
static inline int omq_teams_resident(const omq_exec *ex, int64_t tiles, int lanes) {
    if (ex->device == omp_get_initial_device()) return 1;
    const int64_t resident = (int64_t)(ex->units > 0 ? ex->units : 128) * (1024 / lanes);
    return (int)(tiles < resident ? tiles : resident);
}

/* The two forms, for kernels whose best loop differs between host and device. */
#define OMQ_HOST_FOR(n, i, ...)                                                                 \
    do {                                                                                        \
        const int64_t omq_n_ = (n);                                                             \
        OMQ_PRAGMA(omp parallel for schedule(static))                                           \
        for (int64_t i = 0; i < omq_n_; ++i) { __VA_ARGS__ }                                    \
    } while (0)

/* One device thread per iteration, 256 to a team: the runtime's default team count left an
 * H200 half idle on streaming kernels (copy: 1.96 vs 3.0 TB/s). On OpenMP's host fallback
 * the shape is the host's (libomp prints a warning when it cannot form such teams). */
#define OMQ_TARGET_FOR(ex, n, i, ptrs, ...)                                                     \
    do {                                                                                        \
        const int64_t omq_n_ = (n);                                                             \
        const int omq_dev_ = (ex)->device;                                                      \
        const int omq_host_ = omq_dev_ == omp_get_initial_device();                             \
        const int64_t omq_t_ = (omq_n_ + 255) / 256;                                            \
        const int omq_teams_ = omq_host_ ? 1 : omq_t_ > (1 << 30) ? (1 << 30) : (int)omq_t_;    \
        const int omq_threads_ = omq_host_ ? omp_get_max_threads() : 256;                       \
        OMQ_PRAGMA(omp target teams distribute parallel for device(omq_dev_)                    \
                   is_device_ptr ptrs num_teams(omq_teams_) thread_limit(omq_threads_))         \
        for (int64_t i = 0; i < omq_n_; ++i) { __VA_ARGS__ }                                    \
    } while (0)

/* 16-byte stores: two of them write a group of 8 floats, one a group of 8 halves */
typedef struct {
    _Alignas(16) uint32_t w[4];
} omq_vec16;

#pragma omp declare target
static inline int omq_all_finite(OMQ_NOESCAPE const float *x, int n) {
    int ok = 1;
    for (int j = 0; j < n; ++j) ok &= omq_is_finite(x[j]);
    return ok;
}

static inline void omq_latch_fault(OMQ_NOESCAPE int *fault, int code) {
    (void)code; /* gcc does not count uses in atomic constructs */
#pragma omp atomic write
    *fault = code;
}
#pragma omp end declare target

/* One block, with ggml's behaviour for finite input and a defined one otherwise. */
#define OMQ_QUANTIZE_ONE(T, BLOCK, BS, x, y, qw, sigma2, fault)                                 \
    do {                                                                                        \
        if (omq_all_finite((x), (BS))) {                                                        \
            T##_quantize_block((x), (y), (qw), (sigma2));                                       \
        } else {                                                                                \
            __builtin_memset((y), 0, sizeof(BLOCK));                                                      \
            omq_latch_fault((fault), OMQ_FAULT_NONFINITE);                                      \
        }                                                                                       \
    } while (0)

/* Entry points of a type whose quantizer needs no row statistic (K-quants: 256 values). */
#define OMQ_DEFINE_CODEC(T, BLOCK, BS)                                                          \
    void omq_quantize_##T(const omq_exec *ex, const float *src, void *dst, int64_t rows,       \
                          int64_t cols, const float *imatrix) {                                 \
        OMQ_QUANTIZE_BLOCKS(T, BLOCK, BS);                                                      \
    }                                                                                           \
    OMQ_DEFINE_DEQUANTIZE(T, BLOCK, BS)

/* The same for 32-value types without an importance-weighted search (Q8_0, Q8_1). */
#define OMQ_DEFINE_CODEC32(T, BLOCK)                                                            \
    void omq_quantize_##T(const omq_exec *ex, const float *src, void *dst, int64_t rows,       \
                          int64_t cols, const float *imatrix) {                                 \
        OMQ_QUANTIZE_BLOCKS32(T, BLOCK, OMQ_QK);                                                \
    }                                                                                           \
    OMQ_DEFINE_DEQUANTIZE(T, BLOCK, OMQ_QK)

/* Entry points of a legacy type (Q4_0..Q5_1) whose imatrix quantizer also needs
 * sum(x^2)/cols over the block's whole row, summed sequentially as ggml does: one team per
 * row on devices. (Two macros rather than one with a constant condition: clang emits a
 * target region in a constant-false branch for the device but not for the host, and the two
 * sides then disagree on which kernel has which name.) */
#define OMQ_DEFINE_CODEC_ROW_SIGMA2(T, BLOCK, BS)                                               \
    void omq_quantize_##T(const omq_exec *ex, const float *src, void *dst, int64_t rows,       \
                          int64_t cols, const float *imatrix) {                                 \
        if (!imatrix) {                                                                         \
            OMQ_QUANTIZE_BLOCKS32(T, BLOCK, BS);                                                \
            return;                                                                             \
        }                                                                                       \
        BLOCK *y = (BLOCK *)dst;                                                                \
        int *fault = ex->fault;                                                                 \
        const int64_t nb = cols / (BS);                                                         \
        if (ex->kind == OMQ_EXEC_HOST) {                                                        \
            _Pragma("omp parallel for schedule(static)")                                        \
            for (int64_t r = 0; r < rows; ++r) {                                                \
                const float *xr = src + r * cols;                                               \
                float sum = 0.0f;                                                               \
                for (int64_t j = 0; j < cols; ++j) sum += xr[j] * xr[j];                        \
                const float sigma2 = sum / (float)cols;                                         \
                for (int64_t b = 0; b < nb; ++b)                                                \
                    OMQ_QUANTIZE_ONE(T, BLOCK, BS, xr + b * (BS), y + r * nb + b,               \
                                     imatrix + b * (BS), sigma2, fault);                        \
            }                                                                                   \
        } else {                                                                                \
            const int dev = ex->device;                                                         \
            OMQ_PRAGMA(omp target teams distribute device(dev)                                  \
                       is_device_ptr(src, y, imatrix, fault))                                   \
            for (int64_t r = 0; r < rows; ++r) {                                                \
                const float *xr = src + r * cols;                                               \
                float sum = 0.0f;                                                               \
                for (int64_t j = 0; j < cols; ++j) sum += xr[j] * xr[j];                        \
                const float sigma2 = sum / (float)cols;                                         \
                _Pragma("omp parallel for")                                                     \
                for (int64_t b = 0; b < nb; ++b)                                                \
                    OMQ_QUANTIZE_ONE(T, BLOCK, BS, xr + b * (BS), y + r * nb + b,               \
                                     imatrix + b * (BS), sigma2, fault);                        \
            }                                                                                   \
        }                                                                                       \
    }                                                                                           \
    OMQ_DEFINE_DEQUANTIZE(T, BLOCK, BS)

/* Body of a quantize entry point: one iteration per block. */
#define OMQ_QUANTIZE_BLOCKS(T, BLOCK, BS)                                                       \
    do {                                                                                        \
        BLOCK *y_ = (BLOCK *)dst;                                                               \
        int *fault_ = ex->fault;                                                                \
        const int64_t nb_ = cols / (BS);                                                        \
        OMQ_PARALLEL_FOR(ex, rows * nb_, i, (src, y_, imatrix, fault_), {                       \
            const int64_t r = i / nb_, b = i - r * nb_;                                         \
            OMQ_QUANTIZE_ONE(T, BLOCK, BS, src + r * cols + b * (BS), y_ + i,                   \
                             imatrix ? imatrix + b * (BS) : NULL, 0.0f, fault_);                \
        });                                                                                     \
    } while (0)

/* The same for 32-value blocks. On devices a team quantizes OMQ_Q32_TILE consecutive blocks
 * (16-byte loads of the input), each lane one block into team memory, and then the team
 * writes the tile's bytes as consecutive 32-bit words: lanes writing their own 18-36-byte
 * blocks 2 bytes at a time made every store instruction touch 18-36 sectors, and Q8_0
 * quantization ran at the L2's limit (85 % busy, DRAM 23 %, on the H100). A separate macro,
 * not a test of BS: see the rule above. */
#define OMQ_Q32_TILE 256
#define OMQ_QUANTIZE_BLOCKS32(T, BLOCK, BS)                                                     \
    do {                                                                                        \
        BLOCK *y_ = (BLOCK *)dst;                                                               \
        int *fault_ = ex->fault;                                                                \
        const int64_t nb_ = cols / (BS);                                                        \
        if (ex->kind == OMQ_EXEC_TARGET && ((uintptr_t)src & 15) == 0 &&                        \
            ((uintptr_t)dst & 3) == 0 && !imatrix) {                                            \
            uint32_t *y32_ = (uint32_t *)dst;                                                   \
            const int64_t nblk_ = rows * nb_;                                                   \
            const int64_t ntiles_ = (nblk_ + OMQ_Q32_TILE - 1) / OMQ_Q32_TILE;                  \
            const int dev_ = ex->device;                                                        \
            const int nteams_ = omq_teams_for_tiles(dev_, ntiles_);                             \
            OMQ_PRAGMA(omp target teams num_teams(nteams_) thread_limit(OMQ_Q32_TILE)           \
                       device(dev_) is_device_ptr(src, y32_, fault_))                           \
            {                                                                                   \
                /* the tile's blocks; sizeof(BLOCK) is even, so OMQ_Q32_TILE of them are words */ \
                uint32_t stage_[OMQ_Q32_TILE * sizeof(BLOCK) / 4];                              \
                _Pragma("omp parallel")                                                         \
                {                                                                               \
                    const int th_ = omp_get_thread_num(), nth_ = omp_get_num_threads();         \
                    for (int64_t t_ = omp_get_team_num(); t_ < ntiles_; t_ += omp_get_num_teams()) { \
                        const int64_t i0_ = t_ * OMQ_Q32_TILE;                                  \
                        const int nt_ = (int)(nblk_ - i0_ < OMQ_Q32_TILE ? nblk_ - i0_ : OMQ_Q32_TILE); \
                        for (int l_ = th_; l_ < nt_; l_ += nth_) {                              \
                            const omq_vec16 *xv = (const omq_vec16 *)(src + (i0_ + l_) * (BS)); \
                            float xb[BS];                                                       \
                            for (int k = 0; k < (BS) / 4; ++k) {                                \
                                const omq_vec16 t = xv[k];                                      \
                                __builtin_memcpy(xb + 4 * k, &t, 16);                           \
                            }                                                                   \
                            BLOCK blk;                                                          \
                            OMQ_QUANTIZE_ONE(T, BLOCK, BS, xb, &blk, NULL, 0.0f, fault_);       \
                            uint16_t h[sizeof(BLOCK) / 2];                                      \
                            __builtin_memcpy(h, &blk, sizeof h);                                \
                            uint16_t *s16 = (uint16_t *)stage_ + l_ * (sizeof(BLOCK) / 2);      \
                            for (size_t k = 0; k < sizeof(BLOCK) / 2; ++k) s16[k] = h[k];       \
                        }                                                                       \
                        _Pragma("omp barrier")                                                  \
                        /* nt_ * sizeof(BLOCK) bytes; an odd tail block leaves a half word */   \
                        const int nh_ = nt_ * (int)(sizeof(BLOCK) / 2);                         \
                        uint32_t *yt_ = y32_ + i0_ * (int64_t)sizeof(BLOCK) / 4;                \
                        for (int w_ = th_; w_ < nh_ / 2; w_ += nth_) yt_[w_] = stage_[w_];      \
                        if (th_ == 0 && (nh_ & 1))                                              \
                            ((uint16_t *)yt_)[nh_ - 1] = ((const uint16_t *)stage_)[nh_ - 1];   \
                        _Pragma("omp barrier") /* stage_ is rewritten next */                   \
                    }                                                                           \
                }                                                                               \
            }                                                                                   \
        } else {                                                                                \
            OMQ_PARALLEL_FOR(ex, rows * nb_, i, (src, y_, imatrix, fault_), {                   \
                const int64_t r = i / nb_, b = i - r * nb_;                                     \
                OMQ_QUANTIZE_ONE(T, BLOCK, BS, src + r * cols + b * (BS), y_ + i,               \
                                 imatrix ? imatrix + b * (BS) : NULL, 0.0f, fault_);            \
            });                                                                                 \
        }                                                                                       \
    } while (0)

/* The group function of the f16 output on devices. A kernel file may name another (defined
 * before it includes this header): Q5_K and Q6_K take their word-wise forms there only,
 * which made f16 output 9-19 % faster but f32 output 10-28 % slower (H100, docs/perf.md). */
#ifndef OMQ_DEQUANTIZE_GROUP_F16
#define OMQ_DEQUANTIZE_GROUP_F16(T) T##_dequantize_group
#endif

/* Host: one iteration per block. Devices: one iteration per 8 consecutive outputs (the
 * type's T_dequantize_group), so neighbouring threads write neighbouring memory. */
#define OMQ_DEFINE_DEQUANTIZE(T, BLOCK, BS)                                                     \
    void omq_dequantize_##T(const omq_exec *ex, const void *src, void *dst, int to_f16,        \
                            int64_t rows, int64_t cols) {                                       \
        const BLOCK *x = (const BLOCK *)src;                                                    \
        float *yf = to_f16 ? NULL : (float *)dst;                                               \
        uint16_t *yh = to_f16 ? (uint16_t *)dst : NULL;                                         \
        if (ex->kind == OMQ_EXEC_HOST) {                                                        \
            OMQ_HOST_FOR(rows * (cols / (BS)), i, {                                             \
                if (yf) {                                                                       \
                    T##_dequantize_block(x + i, yf + i * (BS));                                 \
                } else {                                                                        \
                    float tmp[BS];                                                              \
                    T##_dequantize_block(x + i, tmp);                                           \
                    for (int j = 0; j < (BS); ++j) yh[i * (BS) + j] = omq_fp32_to_fp16(tmp[j]); \
                }                                                                               \
            });                                                                                 \
        } else if (((uintptr_t)dst & 15) == 0 && to_f16) {                                      \
            /* two groups (32 bytes of output) per iteration: one (a 16-byte store) left     \
             * f16 output at 0.54-0.63 of copy for q4_0 and the K-quants on the H100 */         \
            omq_vec16 *yv = (omq_vec16 *)dst; /* each group's output is 16-byte aligned too */  \
            OMQ_TARGET_FOR(ex, rows * (cols / 16), i, (x, yv), {                                \
                const int64_t b = i / ((BS) / 16);                                              \
                const int g = 2 * (int)(i - b * ((BS) / 16));                                   \
                float tmp[16];                                                                  \
                OMQ_DEQUANTIZE_GROUP_F16(T)(x + b, g, tmp);                                     \
                OMQ_DEQUANTIZE_GROUP_F16(T)(x + b, g + 1, tmp + 8);                             \
                uint32_t h[8];                                                                  \
                omq_fp32_to_fp16_pairs(tmp, 16, h);                                             \
                omq_vec16 v[2];                                                                 \
                __builtin_memcpy(v, h, sizeof v);                                               \
                yv[2 * i] = v[0];                                                               \
                yv[2 * i + 1] = v[1];                                                           \
            });                                                                                 \
        } else if (((uintptr_t)dst & 15) == 0) {                                                \
            omq_vec16 *yv = (omq_vec16 *)dst; /* each group's output is 16-byte aligned too */  \
            OMQ_TARGET_FOR(ex, rows * (cols / 8), i, (x, yv), {                                 \
                const int64_t b = i / ((BS) / 8);                                               \
                float tmp[8];                                                                   \
                T##_dequantize_group(x + b, (int)(i - b * ((BS) / 8)), tmp);                    \
                omq_vec16 v[2];                                                                 \
                for (int j = 0; j < 8; ++j) v[j / 4].w[j % 4] = omq_f32_bits(tmp[j]);            \
                yv[2 * i] = v[0];                                                               \
                yv[2 * i + 1] = v[1];                                                           \
            });                                                                                 \
        } else {                                                                                \
            OMQ_TARGET_FOR(ex, rows * (cols / 8), i, (x, yf, yh), {                             \
                const int64_t b = i / ((BS) / 8);                                               \
                float tmp[8];                                                                   \
                T##_dequantize_group(x + b, (int)(i - b * ((BS) / 8)), tmp);                    \
                if (yf) {                                                                       \
                    for (int j = 0; j < 8; ++j) yf[8 * i + j] = tmp[j];                         \
                } else {                                                                        \
                    for (int j = 0; j < 8; ++j) yh[8 * i + j] = omq_fp32_to_fp16(tmp[j]);      \
                }                                                                               \
            });                                                                                 \
        }                                                                                       \
    }

#endif /* OMQ_CODEC_H */
