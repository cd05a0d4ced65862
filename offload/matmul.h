/* The quantized matrix products Y = X W^T (Y[j*rows + i] = sum_k W[i][k] X[j*K + k]), written
 * once for every weight type. docs/kernels.md explains the mappings and the arithmetic.
 *
 * A codec file (offload/q*.c) provides, inside `declare target`,
 *     T_dequantize_block(const BLOCK *w, float *out)                     (already there)
 *     T_vec_dot_q8_1(const BLOCK *w, const omq_block_q8_1 *x, int64_t xs, int nc, float *acc)
 * the second adding, for c < nc, the dot product of weight block w with the BS / 32 Q8_1
 * blocks at x + c * xs to acc[c] (integer products per 32-value group, one float scale
 * step per group; xs = OMQ_X_STAGED marks the GEMV's staged X, whose blocks carry their
 * quant sums), and then says OMQ_DEFINE_MATMUL(T, BLOCK, BS) once (F32/F16 weights:
 * OMQ_DEFINE_MATMUL_FLOAT, which has no Q8_1 kernels). That writes the entry points of
 * kernels.h, each with a host form (loops blocked for caches and SIMD) and a target form
 * (teams and lanes, shaped for GPUs; also what the host fallback runs).
 *
 * Target forms are one `target teams` region holding one `parallel` region (the shape GPUs
 * run in SPMD mode, and that keeps the device link fast): a team walks tiles of Y (tile t,
 * t + number of teams, ...), and within a tile its threads walk "lanes" (lane l, l + number
 * of threads, ...), phases separated by barriers. So every lane's work is done whatever
 * number of threads the runtime gives a team (a GPU gives one per lane; the host fallback a
 * few, each running many lanes), and every thread meets every barrier. Partial results go
 * through team-shared arrays declared in the teams region, never through reduction clauses.
 * Lane counts go in thread_limit only, never in num_threads: a host fallback honours
 * num_threads (libgomp started 128 threads per region on 2 cores). The host fallback gets
 * one team (omq_teams_for_tiles), a GPU one team per tile. */
#ifndef OMQ_MATMUL_H
#define OMQ_MATMUL_H

#include <omp.h>
#if defined(__clang__)
#include <ompx.h> /* warp shuffles for a device form (below); clang's OpenMP extension */
#endif

#include "codec.h"
#include "kscales.h"

/* Row kernels (dmmv, mmvq): lanes per team, and columns of X per pass (each lane keeps one
 * partial sum per column, so a pass reads a W row once for this many columns). */
#define OMQ_MM_LANES 128
#define OMQ_MM_LSH 7 /* log2(OMQ_MM_LANES) */
_Static_assert(1 << OMQ_MM_LSH == OMQ_MM_LANES, "OMQ_MM_LSH");
#define OMQ_MM_LPR 32
#define OMQ_MM_NC 8
/* Values of K per step of the tiled kernels and per chunk of the host loops: a multiple of
 * every block size (1, 32, 256), so steps hold whole blocks. */
#define OMQ_MM_KC 256
#define OMQ_MM_KQ (OMQ_MM_KC / OMQ_QK) /* Q8_1 blocks per step and column */
/* mmq target tile: TR rows x TC columns of Y, GS 32-value groups of K per step, staged in
 * team memory as int8 quants (rows RS bytes apart: the 16 extra bytes put the 8 rows and 4
 * words a warp's matrix-fragment loads touch on 32 different banks) with float coefficients
 * (38 KiB). LANES lanes, each keeping OPL = 32 outputs. TC > TR because unpacking a weight
 * group costs more than copying a Q8_1 block: 64 x 128 was 1.0-1.3x 64 x 64 and 128 x 64
 * (H200, 4096 x 4096 x 512); larger tiles exceed the 48 KiB of static team memory. */
#define OMQ_MMQ_TR 64
#define OMQ_MMQ_TC 128
#define OMQ_MMQ_GS 4
#define OMQ_MMQ_RS (32 * OMQ_MMQ_GS + 16)
#define OMQ_MMQ_LANES (OMQ_MMQ_TR * OMQ_MMQ_TC / 32)
#define OMQ_MMQ_OPL (OMQ_MMQ_TR * OMQ_MMQ_TC / OMQ_MMQ_LANES)
#define OMQ_MMQ_WR (OMQ_MMQ_TR / 32) /* the mma form's warps along a tile's rows */
_Static_assert(OMQ_MMQ_TR % 32 == 0 && OMQ_MMQ_TC % 32 == 0 && OMQ_MMQ_OPL == 32 &&
                   OMQ_MMQ_LANES / OMQ_MMQ_TR * OMQ_MMQ_OPL == OMQ_MMQ_TC,
               "the mma form's warp tiles (32 x 32) and the portable form's lanes");
/* gemm target tile: TR rows x TC columns, one output per lane; W and X tiles of KC values
 * as float32 (2 x 16 KiB of team memory). */
#define OMQ_GEMM_TR 16
#define OMQ_GEMM_TC 16
#define OMQ_GEMM_LANES (OMQ_GEMM_TR * OMQ_GEMM_TC)
/* Host tiles: mmq keeps HTR x HTC sums, gemm HGR x HGC sums and HGR dequantized row chunks
 * (HGR * KC floats, 16 KiB, on the thread's stack). */
#define OMQ_MMQ_HTR 8
#define OMQ_MMQ_HTC 64
#define OMQ_GEMM_HGR 16
#define OMQ_GEMM_HGC 16

#define OMQ_MM_MIN(a, b) ((a) < (b) ? (a) : (b))
#if defined(__clang__)
#define OMQ_UNROLL _Pragma("unroll")
#else
#define OMQ_UNROLL
#endif

#pragma omp declare target

/* acc[c] += sum_{k < len} w[k] * x[c * xs + k] for c < nc: a lane's plain loop (target forms). */
static inline void omq_mm_fdot_cols(const float *w, int len, const float *x, int64_t xs, int nc,
                                    float *acc) {
    for (int c = 0; c < nc; ++c) {
        const float *xc = x + c * xs;
        float s = 0;
        for (int k = 0; k < len; ++k) s += w[k] * xc[k];
        acc[c] += s;
    }
}

/* ---- device forms of the integer dot products (chosen by `declare variant` on GPUs)
 * GPUs multiply int8 quants four at a time in 32-bit words (dp4a on NVIDIA, v_dot4 on AMD's
 * dot8-insts chips); byte loads and byte-wise unpacking cost them more instructions than the
 * memory stream allows. The words hold the same bytes in the same order (little-endian), so
 * every sum is the same integer as the portable loop's. Q8_1 activations are read a word at a
 * time: omq keeps them 4-aligned (workspace and team arrays); weight blocks are 2-aligned, and
 * 4-aligned for the types whose block and quant offsets allow it (Q4_1, Q5_1, Q8_1, Q2_K,
 * Q4_K, Q5_K: the type table's alignment), which their group words then read with 4-byte
 * loads. */
/* a device form named by `declare variant`: host compilations never call it */
#define OMQ_DEVICE_FORM static inline __attribute__((unused))

static inline uint32_t omq_ld32_a2(const void *p) {
    uint32_t v;
    __builtin_memcpy(&v, __builtin_assume_aligned(p, 2), 4);
    return v;
}

static inline uint32_t omq_ld32_a4(const void *p) {
    uint32_t v;
    __builtin_memcpy(&v, __builtin_assume_aligned(p, 4), 4);
    return v;
}

/* n words from p, which is only 2-aligned (the quants of Q4_0, Q5_0, Q8_0, Q3_K, Q6_K blocks).
 * GPU form: n + 1 aligned words joined by shifts, not 2n loads of 16 bits. Every word it
 * reads holds a byte of the run, so it lies in a page the run is in (where p + 4n is
 * 4-aligned the last load repeats the one before); the bytes beside the run that such a
 * word holds are not used. */
static inline void omq_ld_run_a2_gpu(const uint8_t *p, int n, uint32_t *w) {
    const int o = (int)((uintptr_t)p & 2);
    const uint8_t *a = p - o;
    uint32_t lo = omq_ld32_a4(a);
    for (int i = 0; i < n; ++i) {
        const uint32_t hi = omq_ld32_a4(a + 4 * (i + 1) - (i + 1 == n && !o ? 4 : 0));
        w[i] = (uint32_t)(((uint64_t)hi << 32 | lo) >> (8 * o));
        lo = hi;
    }
}

#pragma omp declare variant(omq_ld_run_a2_gpu) match(device = {kind(gpu)})
static inline void omq_ld_run_a2(const uint8_t *p, int n, uint32_t *w) {
    for (int i = 0; i < n; ++i) w[i] = omq_ld32_a2(p + 4 * i);
}

/* n words from p, 4-aligned where a4 (a constant at every call) says so, else 2-aligned */
static inline void omq_ld_run(const uint8_t *p, int a4, int n, uint32_t *w) {
    if (a4)
        for (int i = 0; i < n; ++i) w[i] = omq_ld32_a4(p + 4 * i);
    else
        omq_ld_run_a2(p, n, w);
}

static inline int omq_dp4a_nvptx(uint32_t a, uint32_t b, int c) {
#if defined(__NVPTX__)
    int r;
    __asm__("dp4a.s32.s32 %0, %1, %2, %3;" : "=r"(r) : "r"(a), "r"(b), "r"(c));
    return r;
#else
    (void)a, (void)b;
    return c; /* never selected off NVIDIA devices */
#endif
}

static inline int omq_dp4a_amdgcn(uint32_t a, uint32_t b, int c) {
#if defined(__AMDGCN__)
    return __builtin_amdgcn_sudot4(1, (int)a, 1, (int)b, c, 0);
#else
    (void)a, (void)b;
    return c; /* never selected off AMD devices with dot8-insts */
#endif
}

static inline int omq_dp4a_us_nvptx(uint32_t a, uint32_t b, int c) {
#if defined(__NVPTX__)
    int r;
    __asm__("dp4a.u32.s32 %0, %1, %2, %3;" : "=r"(r) : "r"(a), "r"(b), "r"(c));
    return r;
#else
    (void)a, (void)b;
    return c; /* never selected off NVIDIA devices */
#endif
}

static inline int omq_dp4a_us_amdgcn(uint32_t a, uint32_t b, int c) {
#if defined(__AMDGCN__)
    return __builtin_amdgcn_sudot4(0, (int)a, 1, (int)b, c, 0);
#else
    (void)a, (void)b;
    return c; /* never selected off AMD devices with dot8-insts */
#endif
}

static inline uint32_t omq_pack_lo8_nvptx(uint32_t a, uint32_t b, uint32_t c, uint32_t d) {
#if defined(__NVPTX__)
    uint32_t ab, cd, r;
    __asm__("prmt.b32 %0, %1, %2, 0x0040;" : "=r"(ab) : "r"(a), "r"(b));
    __asm__("prmt.b32 %0, %1, %2, 0x0040;" : "=r"(cd) : "r"(c), "r"(d));
    __asm__("prmt.b32 %0, %1, %2, 0x5410;" : "=r"(r) : "r"(ab), "r"(cd));
    return r;
#else
    (void)b, (void)c, (void)d;
    return a; /* never selected off NVIDIA devices */
#endif
}

/* the low bytes of a, b, c and d as one word, a's in byte 0 (three byte permutes on NVIDIA) */
#pragma omp declare variant(omq_pack_lo8_nvptx) match(device = {arch(nvptx64)})
static inline uint32_t omq_pack_lo8(uint32_t a, uint32_t b, uint32_t c, uint32_t d) {
    return (a & 0xffu) | (b & 0xffu) << 8 | (c & 0xffu) << 16 | d << 24;
}

/* c + the dot product of a's four unsigned bytes and b's four signed bytes */
#pragma omp declare variant(omq_dp4a_us_nvptx) match(device = {arch(nvptx64)})
#pragma omp declare variant(omq_dp4a_us_amdgcn) match(device = {arch(amdgcn), isa("dot8-insts")})
static inline int omq_dp4a_us(uint32_t a, uint32_t b, int c) {
    for (int i = 0; i < 4; ++i) c += (int)(uint8_t)(a >> 8 * i) * (int8_t)(b >> 8 * i);
    return c;
}

/* c + the dot product of a's and b's four signed bytes */
#pragma omp declare variant(omq_dp4a_nvptx) match(device = {arch(nvptx64)})
#pragma omp declare variant(omq_dp4a_amdgcn) match(device = {arch(amdgcn), isa("dot8-insts")})
static inline int omq_dp4a(uint32_t a, uint32_t b, int c) {
    for (int i = 0; i < 4; ++i) c += (int8_t)(a >> 8 * i) * (int8_t)(b >> 8 * i);
    return c;
}

/* n = 16 or 32 quants of a (any alignment, typically unpacked into registers) times those of
 * b (4-aligned Q8_1 quants); and the sum of b's quants */
static inline int omq_idot_words(const int8_t *a, const int8_t *b, int n) {
    int s = 0;
    for (int j = 0; j < n; j += 4) {
        uint32_t u;
        __builtin_memcpy(&u, a + j, 4);
        s = omq_dp4a(u, omq_ld32_a4(b + j), s);
    }
    return s;
}

static inline int omq_isum_words(const int8_t *b, int n) {
    int s = 0;
    for (int j = 0; j < n; j += 4) s = omq_dp4a(0x01010101u, omq_ld32_a4(b + j), s);
    return s;
}

static inline int omq_idot16_gpu(const int8_t *a, const int8_t *b) { return omq_idot_words(a, b, 16); }
static inline int omq_idot32_gpu(const int8_t *a, const int8_t *b) { return omq_idot_words(a, b, 32); }
static inline int omq_isum16_gpu(const int8_t *b) { return omq_isum_words(b, 16); }
static inline int omq_isum32_gpu(const int8_t *b) { return omq_isum_words(b, 32); }

/* The column stride of X (in blocks) that marks it staged: one column, each block holding
 * the sum of its 32 quants, as an int16, in place of s (which ggml's blocks give as
 * fp16(d * sum) and no dot product reads). The GEMV stages X so (omq_q8a_blocks with xsum),
 * and its dot products load the sums rather than count them (8 dp4a a block, a seventh of
 * q4_1's GEMV walk on the H100). */
#define OMQ_X_STAGED 0

/* the sum of a Q8_1 block's quants (xs: its column stride, or OMQ_X_STAGED) */
static inline int omq_q8_1_qsum(const omq_block_q8_1 *x, int64_t xs) {
    return xs == OMQ_X_STAGED ? (int)(int16_t)x->s : omq_isum_words(x->qs, 32);
}

/* 8 words of quants times a Q8_1 block's quants (*dot), and the sum of those (*sum), for
 * formats with a minimum */
static inline void omq_dot_sum_words(const uint32_t *q, const omq_block_q8_1 *x, int64_t xs,
                                     OMQ_NOESCAPE int *dot, OMQ_NOESCAPE int *sum) {
    int s = 0;
    for (int i = 0; i < 8; ++i) s = omq_dp4a(q[i], omq_ld32_a4(x->qs + 4 * i), s);
    *dot = s;
    *sum = omq_q8_1_qsum(x, xs);
}

/* 8 words of quants times a Q8_1 block's quants as two 16-value halves (*lo: words 0..3) */
static inline void omq_dot_halves_words(const uint32_t *q, const omq_block_q8_1 *x,
                                        OMQ_NOESCAPE int *lo, OMQ_NOESCAPE int *hi) {
    int s[2] = {0, 0};
    for (int i = 0; i < 8; ++i) s[i >> 2] = omq_dp4a(q[i], omq_ld32_a4(x->qs + 4 * i), s[i >> 2]);
    *lo = s[0];
    *hi = s[1];
}

/* the sums of the two 16-value halves of a Q8_1 block's quants */
static inline void omq_sum_halves_words(const omq_block_q8_1 *x, int64_t xs, OMQ_NOESCAPE int *lo,
                                        OMQ_NOESCAPE int *hi) {
    *lo = omq_isum_words(x->qs, 16);
    *hi = xs == OMQ_X_STAGED ? (int)(int16_t)x->s - *lo : omq_isum_words(x->qs + 16, 16);
}

/* omq_vdot_min32's arithmetic on 8 words of quants */
static inline void omq_vdot_min32_words(const uint32_t *q, float d, float m, const omq_block_q8_1 *x,
                                        int64_t xs, int nc, float *acc) {
    for (int c = 0; c < nc; ++c) {
        const omq_block_q8_1 *xc = x + c * xs;
        int s, t;
        omq_dot_sum_words(q, xc, xs, &s, &t);
        acc[c] += omq_fp16_scale(xc->d) * (d * (float)s + m * (float)t);
    }
}

/* One 32-value group of a Q4_K/Q5_K block (8 words of quants, its 6-bit scale and min) times
 * the Q8_1 block it meets, in nc columns: value d * sc * q - dmin * mn (the row kernels'
 * group unit) */
static inline void omq_vdot_k32_min_group(const uint32_t *q, int sc, int mn, float d, float dmin,
                                          const omq_block_q8_1 *x, int64_t xs, int nc, float *acc) {
    for (int c = 0; c < nc; ++c) {
        const omq_block_q8_1 *xc = x + c * xs;
        int s, t;
        omq_dot_sum_words(q, xc, xs, &s, &t);
        const float d8 = omq_fp16_scale(xc->d);
        acc[c] += d * (d8 * (float)(sc * s)) - dmin * (d8 * (float)(mn * t));
    }
}

/* Groups 2p and 2p + 1 of a Q4_K/Q5_K block (their quants as words lo and hi; the block's
 * packed scales and minimums and its fp16 d and dmin) times the two Q8_1 blocks they meet:
 * the two codecs' pair unit after their own unpacking */
static inline void omq_vdot_k32_min_pair(const uint32_t *lo, const uint32_t *hi, const uint8_t *scales, uint16_t d16,
                                         uint16_t dmin16, int p, const omq_block_q8_1 *x, int64_t xs, int nc,
                                         float *acc) {
    uint8_t sc0, mn0, sc1, mn1;
    omq_get_scale_min_k4(2 * p, scales, &sc0, &mn0);
    omq_get_scale_min_k4(2 * p + 1, scales, &sc1, &mn1);
    const float d = omq_fp16_scale(d16), dmin = omq_fp16_scale(dmin16);
    omq_vdot_k32_min_group(lo, sc0, mn0, d, dmin, x, xs, nc, acc);
    omq_vdot_k32_min_group(hi, sc1, mn1, d, dmin, x + 1, xs, nc, acc);
}

/* bytes v_i - k as int8 (for 0 <= v_i <= 127 + k; k <= 128): no carry crosses a byte */
static inline uint32_t omq_sub_bytes(uint32_t v, uint32_t k) {
    return (v + 0x01010101u * (0x80u - k)) ^ 0x80808080u;
}

/* the 32 4-bit quants of a legacy block (16 bytes at qs: low nibbles are values 0..15, high
 * nibbles 16..31) as 8 words of bytes 0..15; a4: qs is 4-aligned (Q4_1, Q5_1) */
static inline void omq_nibbles_words(const uint8_t *qs, int a4, uint32_t *q) {
    uint32_t v[4];
    omq_ld_run(qs, a4, 4, v);
    for (int i = 0; i < 4; ++i) {
        q[i] = v[i] & 0x0F0F0F0Fu;
        q[i + 4] = (v[i] >> 4) & 0x0F0F0F0Fu;
    }
}

/* bits 0..3 of h moved to bit 4 of bytes 0..3 (Q5's fifth bits, four values at a time) */
static inline uint32_t omq_bit4_bytes(uint32_t h) {
    return ((h & 0xFu) * 0x02040810u) & 0x10101010u; /* bit i lands on 8i + 4 (shift 4 + 7i), no carries */
}

/* The 5-bit quants of a Q5_0/Q5_1 block: low nibbles of qs for values 0..15, high nibbles
 * for 16..31, the fifth bit of value v in bit v of qh. omq_q5_group gives values 8g..8g+7
 * (0..31; the codecs' dequantize_group), omq_q5_words all 32 as 8 words (the device dot
 * products; a4: qs and qh are 4-aligned, else 2-aligned). */
static inline void omq_q5_group(OMQ_NOESCAPE const uint8_t *qs, OMQ_NOESCAPE const uint8_t *qh,
                                int g, OMQ_NOESCAPE int *q) {
    uint32_t h;
    __builtin_memcpy(&h, qh, sizeof h);
    const uint8_t *b = qs + (g & 1) * 8;
    const int shift = (g >> 1) * 4;
    for (int i = 0; i < 8; ++i) q[i] = ((b[i] >> shift) & 0x0F) | (((h >> (8 * g + i)) & 1) << 4);
}

static inline void omq_q5_words(const uint8_t *qs, const uint8_t *qh, int a4, uint32_t *q) {
    uint32_t h;
    omq_ld_run(qh, a4, 1, &h);
    omq_nibbles_words(qs, a4, q);
    for (int i = 0; i < 4; ++i) {
        q[i] |= omq_bit4_bytes(h >> (4 * i));
        q[i + 4] |= omq_bit4_bytes(h >> (16 + 4 * i));
    }
}

/* 32 unpacked quants as 8 words (device forms of the codecs' dot products) times nc columns
 * of Q8_1 blocks: omq_vdot_sym32's arithmetic */
static inline void omq_vdot_sym32_words(const uint32_t *q, float d, const omq_block_q8_1 *x,
                                        int64_t xs, int nc, float *acc) {
    for (int c = 0; c < nc; ++c) {
        const omq_block_q8_1 *xc = x + c * xs;
        int s = 0;
        for (int i = 0; i < 8; ++i) s = omq_dp4a(q[i], omq_ld32_a4(xc->qs + 4 * i), s);
        acc[c] += d * omq_fp16_scale(xc->d) * (float)s;
    }
}

/* 32 quants q - off as 8 words of unsigned bytes q (0 <= q <= 255) times nc columns of Q8_1
 * blocks: omq_vdot_sym32_words's integer sum, taken as dot(q, x) - off * sum(x), so the
 * unpacking need not subtract the offset byte-wise (two operations a word) */
static inline void omq_vdot_off32_words(const uint32_t *q, int off, float d, const omq_block_q8_1 *x,
                                        int64_t xs, int nc, float *acc) {
    for (int c = 0; c < nc; ++c) {
        const omq_block_q8_1 *xc = x + c * xs;
        int s = 0;
        for (int i = 0; i < 8; ++i) s = omq_dp4a_us(q[i], omq_ld32_a4(xc->qs + 4 * i), s);
        acc[c] += d * omq_fp16_scale(xc->d) * (float)(s - off * omq_q8_1_qsum(xc, xs));
    }
}

/* Integer dot products of int8 quants. Sums stay far below 2^24 in every use (at most
 * 2 * 128 * 16 * 32 * 127 for Q6_K's scaled pair), so their conversion to float is exact. */
#pragma omp declare variant(omq_idot16_gpu) match(device = {kind(gpu)})
static inline int omq_idot16(const int8_t *a, const int8_t *b) {
    int s = 0;
    for (int j = 0; j < 16; ++j) s += a[j] * b[j];
    return s;
}

#pragma omp declare variant(omq_idot32_gpu) match(device = {kind(gpu)})
static inline int omq_idot32(const int8_t *a, const int8_t *b) {
    int s = 0;
    for (int j = 0; j < 32; ++j) s += a[j] * b[j];
    return s;
}

/* Sums of int8 quants (a format's minimum multiplies the sum of X's quants). Separate loops
 * from the dot products: clang vectorises neither when one loop carries both sums. */
#pragma omp declare variant(omq_isum16_gpu) match(device = {kind(gpu)})
static inline int omq_isum16(const int8_t *b) {
    int s = 0;
    for (int j = 0; j < 16; ++j) s += b[j];
    return s;
}

#pragma omp declare variant(omq_isum32_gpu) match(device = {kind(gpu)})
static inline int omq_isum32(const int8_t *b) {
    int s = 0;
    for (int j = 0; j < 32; ++j) s += b[j];
    return s;
}

/* The dot products of one unpacked weight block (its quants q as int8, offsets applied) with
 * nc columns of Q8_1 blocks, by format family. The Q8_1 block sum `s` is never used: where a
 * minimum needs sum(x), the exact integer sum of the quants times d8 is taken (as ggml-cuda's
 * mmvq does for K-quants), which avoids s's fp16 rounding (the device forms load that integer
 * sum from X staged by the GEMV: OMQ_X_STAGED). */

/* 32 values, value = d * q: Q4_0, Q5_0 (offsets applied), Q8_0, Q8_1 */
static inline void omq_vdot_sym32(const int8_t *q, float d, const omq_block_q8_1 *x, int64_t xs,
                                  int nc, float *acc) {
    for (int c = 0; c < nc; ++c) {
        const omq_block_q8_1 *xc = x + c * xs;
        acc[c] += d * omq_fp16_scale(xc->d) * (float)omq_idot32(q, xc->qs);
    }
}

/* 32 values, value = d * q + m: Q4_1, Q5_1 */
static inline void omq_vdot_min32(const int8_t *q, float d, float m, const omq_block_q8_1 *x,
                                  int64_t xs, int nc, float *acc) {
    for (int c = 0; c < nc; ++c) {
        const omq_block_q8_1 *xc = x + c * xs;
        const int s = omq_idot32(q, xc->qs), t = omq_isum32(xc->qs);
        acc[c] += omq_fp16_scale(xc->d) * (d * (float)s + m * (float)t);
    }
}

/* 256 values in 16 groups of 16, value = d * sc[g] * q: Q3_K, Q6_K, Q8_K (sc = 1) */
static inline void omq_vdot_k16(const int8_t *q, const int *sc, float d, const omq_block_q8_1 *x,
                                int64_t xs, int nc, float *acc) {
    for (int c = 0; c < nc; ++c) {
        const omq_block_q8_1 *xc = x + c * xs;
        float sum = 0;
        for (int g = 0; g < 8; ++g) {
            const int s = sc[2 * g] * omq_idot16(q + 32 * g, xc[g].qs) +
                          sc[2 * g + 1] * omq_idot16(q + 32 * g + 16, xc[g].qs + 16);
            sum += omq_fp16_scale(xc[g].d) * (float)s;
        }
        acc[c] += d * sum;
    }
}

/* 256 values in 16 groups of 16, value = d * sc[g] * q - dmin * mn[g]: Q2_K */
static inline void omq_vdot_k16_min(const int8_t *q, const int *sc, const int *mn, float d,
                                    float dmin, const omq_block_q8_1 *x, int64_t xs, int nc,
                                    float *acc) {
    for (int c = 0; c < nc; ++c) {
        const omq_block_q8_1 *xc = x + c * xs;
        float sd = 0, sm = 0;
        for (int g = 0; g < 8; ++g) {
            const int s0 = omq_idot16(q + 32 * g, xc[g].qs), t0 = omq_isum16(xc[g].qs);
            const int s1 = omq_idot16(q + 32 * g + 16, xc[g].qs + 16), t1 = omq_isum16(xc[g].qs + 16);
            const float d8 = omq_fp16_scale(xc[g].d);
            sd += d8 * (float)(sc[2 * g] * s0 + sc[2 * g + 1] * s1);
            sm += d8 * (float)(mn[2 * g] * t0 + mn[2 * g + 1] * t1);
        }
        acc[c] += d * sd - dmin * sm;
    }
}

/* 256 values in 8 groups of 32, value = d * sc[g] * q - dmin * mn[g]: Q4_K, Q5_K */
static inline void omq_vdot_k32_min(const int8_t *q, const int *sc, const int *mn, float d,
                                    float dmin, const omq_block_q8_1 *x, int64_t xs, int nc,
                                    float *acc) {
    for (int c = 0; c < nc; ++c) {
        const omq_block_q8_1 *xc = x + c * xs;
        float sd = 0, sm = 0;
        for (int g = 0; g < 8; ++g) {
            const int s = omq_idot32(q + 32 * g, xc[g].qs), t = omq_isum32(xc[g].qs);
            const float d8 = omq_fp16_scale(xc[g].d);
            sd += d8 * (float)(sc[g] * s);
            sm += d8 * (float)(mn[g] * t);
        }
        acc[c] += d * sd - dmin * sm;
    }
}

/* Lanes of a row kernel per row: enough for the row's blocks up to OMQ_MM_LPR, a power of
 * two dividing the team, so one team covers OMQ_MM_LANES / lanes rows (short K-quant rows
 * share a team). Capping it gives each lane several blocks of a long row (independent loads
 * in flight) and keeps the final sum of a row's partials short. */
static inline int omq_mm_lanes_per_row(int64_t nb) {
    int l = 1;
    while (l < OMQ_MM_LPR && l < nb) l <<= 1;
    return l;
}

#pragma omp end declare target

/* The same for host forms, written for SIMD units: a float sum vectorises only if its order may
 * change. clang does that best from an `omp simd` reduction (24 GFLOP/s a core with SSE2 on
 * 256-value chunks, 11 from explicit partial sums); gcc from 16 explicit partial sums (27,
 * 15 from the simd reduction, which it keeps in one register). Any order is within the
 * gamma(K) bound the tests hold the float paths to. */
static inline void omq_mm_fdot_cols_host(const float *w, int len, const float *x, int64_t xs,
                                         int nc, float *acc) {
    for (int c = 0; c < nc; ++c) {
        const float *xc = x + c * xs;
#if defined(__clang__)
        float s = 0;
#pragma omp simd reduction(+ : s)
        for (int k = 0; k < len; ++k) s += w[k] * xc[k];
#else
        float p[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0};
        int k = 0;
        for (; k + 16 <= len; k += 16)
            for (int v = 0; v < 16; ++v) p[v] += w[k + v] * xc[k + v];
        float q[4];
        for (int v = 0; v < 4; ++v) q[v] = (p[v] + p[v + 4]) + (p[v + 8] + p[v + 12]);
        float s = (q[0] + q[2]) + (q[1] + q[3]);
        for (; k < len; ++k) s += w[k] * xc[k];
#endif
        acc[c] += s;
    }
}

/* Device form of the GEMV kernel's reduction: a row's lpr lanes are neighbouring threads of
 * one warp (wavefront), so their partial sums can meet by shuffles (log2(lpr) steps, no team
 * barrier, no serial sum) when the runtime gave a thread per lane. omq_mm_shuffle_ok says
 * whether it did (always no off GPUs: the host fallback has fewer threads than lanes, and
 * shuffles trap there); omq_mm_row_sum leaves the sum in the row's first lane. */
#pragma omp declare target
static inline int omq_mm_shuffle_ok_gpu(int nth, int lanes) { return nth == lanes; }
static inline float omq_mm_row_sum_gpu(float v, int lpr) {
#if defined(__NVPTX__) || defined(__AMDGCN__)
    for (int d = lpr >> 1; d > 0; d >>= 1) v += ompx_shfl_down_sync_f(~0ull, v, (unsigned)d, lpr);
#else
    (void)lpr;
#endif
    return v;
}
/* the maximum over each group of `span` neighbouring lanes (a power of two <= 32), in every
 * lane of the group (xor butterfly): what X's staging needs to go without a team barrier */
static inline float omq_mm_group_max_gpu(float v, int span) {
#if defined(__NVPTX__)
    for (int d = span >> 1; d > 0; d >>= 1) {
        const float o = __nvvm_shfl_sync_bfly_f32(0xffffffffu, v, d, 0x1f);
        v = v > o ? v : o;
    }
#elif defined(__AMDGCN__)
    const int lane = (int)__builtin_amdgcn_mbcnt_hi(~0u, __builtin_amdgcn_mbcnt_lo(~0u, 0u));
    for (int d = span >> 1; d > 0; d >>= 1) {
        const float o = __builtin_bit_cast(float, __builtin_amdgcn_ds_bpermute((lane ^ d) << 2, __builtin_bit_cast(int, v)));
        v = v > o ? v : o;
    }
#else
    (void)span;
#endif
    return v;
}

#if defined(__clang__)
#pragma omp declare variant(omq_mm_shuffle_ok_gpu) match(device = {kind(gpu)})
#endif
static inline int omq_mm_shuffle_ok(int nth, int lanes) {
    (void)nth;
    (void)lanes;
    return 0;
}

#if defined(__clang__)
#pragma omp declare variant(omq_mm_row_sum_gpu) match(device = {kind(gpu)})
#endif
static inline float omq_mm_row_sum(float v, int lpr) {
    (void)lpr;
    return v; /* never called: omq_mm_shuffle_ok is 0 here */
}

#if defined(__clang__)
#pragma omp declare variant(omq_mm_group_max_gpu) match(device = {kind(gpu)})
#endif
static inline float omq_mm_group_max(float v, int span) {
    (void)span;
    return v; /* never called, as omq_mm_row_sum */
}
#pragma omp end declare target

/* the thread's first lane and stride, inside the parallel region */
#define OMQ_MM_THREAD const int th_ = omp_get_thread_num(), nth_ = omp_get_num_threads()
#define OMQ_MM_BARRIER _Pragma("omp barrier")

/* ------------------------------------------------------------------ activations to Q8_1
 * X is a few blocks (a 4096-value row is 128), so quantizing it is a latency, not a
 * bandwidth, problem: what matters is one round of loads per block, not a chain of them.
 * Kernels write and read Q8_1 blocks of X as 32-bit words (d and s share the first). */
#define OMQ_Q8_1_WORDS ((int)(sizeof(omq_block_q8_1) / 4))
#pragma omp declare target
/* Q8_1 as ggml's quantize_row_q8_1 (omq_quantize's Q8_1 codec too) */
static inline void q8_1_quantize_block(OMQ_NOESCAPE const float *x, OMQ_NOESCAPE omq_block_q8_1 *y,
                                       OMQ_NOESCAPE const float *qw, float sigma2) {
    (void)qw;
    (void)sigma2;
    float id;
    const float d = omq_q8_scale(omq_absmax(x, OMQ_QK), &id);
    y->d = omq_fp32_to_fp16(d);
    int sum = 0;
    for (int j = 0; j < OMQ_QK; ++j) {
        y->qs[j] = (int8_t)omq_roundf(x[j] * id);
        sum += y->qs[j];
    }
    y->s = omq_fp32_to_fp16(sum * d);
}

/* Block b of src (float32, or binary16 where f16) by one lane into y[b], as omq_quantize does
 * (a non-finite block becomes zeros and latches *fault): the 32 values are loaded at once
 * and kept in registers. */
static inline void omq_q8a_block(const void *src, int f16, int64_t b, omq_block_q8_1 *y, int *fault) {
    float v[OMQ_QK];
    if (f16) {
        const uint16_t *s = (const uint16_t *)src + b * OMQ_QK;
        for (int j = 0; j < OMQ_QK; ++j) v[j] = omq_fp16_to_fp32(s[j]);
    } else {
        const float *s = (const float *)src + b * OMQ_QK;
        for (int j = 0; j < OMQ_QK; ++j) v[j] = s[j];
    }
    OMQ_QUANTIZE_ONE(q8_1, omq_block_q8_1, OMQ_QK, v, y + b, NULL, 0.0f, fault);
}

/* 4 values of src from element e on: one 16-byte (float32) or 8-byte (binary16) load where
 * vec says src is aligned for it (e is a multiple of 4), else one load a value */
static inline __attribute__((always_inline)) void omq_q8a_load4(const void *src, int f16, int vec, int64_t e,
                                                                 float *v) {
    if (f16) {
        const uint16_t *s = (const uint16_t *)src + e;
        if (vec) {
            uint64_t u;
            __builtin_memcpy(&u, __builtin_assume_aligned(s, 8), 8);
            for (int j = 0; j < 4; ++j) v[j] = omq_fp16_to_fp32((uint16_t)(u >> 16 * j));
        } else {
            for (int j = 0; j < 4; ++j) v[j] = omq_fp16_to_fp32(s[j]);
        }
    } else {
        const float *s = (const float *)src + e;
        if (vec)
            __builtin_memcpy(v, __builtin_assume_aligned(s, 16), 16);
        else
            for (int j = 0; j < 4; ++j) v[j] = s[j];
    }
}

/* Blocks b0 .. b0+nb-1 of src into y32 (OMQ_Q8_1_WORDS words a block) by a team of `lanes`
 * lanes, thread th a lane (GPU form: omq_mm_shuffle_ok). A block takes OMQ_Q8A_SPAN
 * neighbouring lanes, each OMQ_Q8A_VPL neighbouring values (16-byte loads where src is
 * aligned), so a warp's loads are contiguous (a lane per block reads with a 128-byte stride,
 * 32 cache lines a load: on the H200 that was most of a GEMV at K = 14336). A pass of the
 * team covers lanes / OMQ_Q8A_SPAN blocks, and the loads of OMQ_Q8A_PASSES passes are issued
 * before any is used: every team of a GEMV reads the same X at once, and a pass cost ~1.5 us
 * of waiting on an H200. The block's amax (+inf if any value is not finite) reaches all its
 * lanes by an xor butterfly of shuffles and its quant sum its first lane by shuffles down, so
 * the staging has no team barrier (with the GEMV's row ranges, 0.5-2.9 us off a queued GEMV,
 * H100, docs/perf.md). Every team of a GEMV stages all of X, and the staging is bound by
 * issuing its instructions, so they are few: a lane takes 8 values (4 lanes a block), so a
 * block's scale, shuffles and stores serve 8 values, not 4, and K = 14336 (448 blocks) is 2
 * passes of a 1024-lane team, not 4; amax by fmaxf and finiteness by one fma a value
 * (v * 0 + nf stays 0 unless v is Inf or NaN); quants packed by byte permutes and summed by
 * dp4a (152 -> 141 instructions a pass with the packing and omq_roundf's one-lop3 sign
 * merge). The GEMV at 4096x14336 was 1.2-2.6 us faster queued on the H100 than with 4 values
 * a lane; 16 a lane (2 lanes a block) was no faster there and slower at K = 4096 (H200;
 * docs/perf.md, fifteenth measurement). Every lane must call.
 * The bytes are omq_q8a_block's: a maximum and an integer sum do not depend on the order,
 * and each quant is the same product and rounding. Inlined by force: with the staged passes
 * LLVM left it a called function, which ptxas gave 152-byte stack frames. */
#define OMQ_Q8A_SPAN 4
#define OMQ_Q8A_PASSES 2
#define OMQ_Q8A_VPL (OMQ_QK / OMQ_Q8A_SPAN) /* values a lane */
static inline __attribute__((always_inline)) void omq_q8a_blocks_team(const void *src, int f16, int64_t b0,
                                                                       int64_t nb, uint32_t *y32, int xsum,
                                                                       int *fault, int th, int lanes) {
    const int p = th & (OMQ_Q8A_SPAN - 1), slot = th / OMQ_Q8A_SPAN, per = lanes / OMQ_Q8A_SPAN;
    const int vec = ((uintptr_t)src & (f16 ? 7u : 15u)) == 0;
    for (int64_t i00 = 0; i00 < nb; i00 += (int64_t)per * OMQ_Q8A_PASSES) {
        float vs[OMQ_Q8A_PASSES][OMQ_Q8A_VPL];
        OMQ_UNROLL
        for (int k = 0; k < OMQ_Q8A_PASSES; ++k) {
            const int64_t i = i00 + (int64_t)k * per + slot;
            for (int j = 0; j < OMQ_Q8A_VPL; ++j) vs[k][j] = 0.0f;
            if (i < nb)
                OMQ_UNROLL for (int h = 0; h < OMQ_Q8A_VPL / 4; ++h)
                    omq_q8a_load4(src, f16, vec, (b0 + i) * OMQ_QK + OMQ_Q8A_VPL * p + 4 * h, vs[k] + 4 * h);
        }
        OMQ_UNROLL
        for (int k = 0; k < OMQ_Q8A_PASSES; ++k) {
            const int64_t i0 = i00 + (int64_t)k * per;
            if (i0 >= nb) break; /* the same for every lane: the shuffles below stay matched */
            const int64_t i = i0 + slot, b = b0 + i;
            const float *v = vs[k];
            /* the largest magnitude, and a sum that is NaN where a value is not finite */
            float a = 0.0f, nf = 0.0f;
            for (int j = 0; j < OMQ_Q8A_VPL; ++j) {
                a = __builtin_fmaxf(a, omq_fabsf(v[j]));
                nf = __builtin_fmaf(v[j], 0.0f, nf);
            }
            const float amax = omq_mm_group_max(nf == 0.0f ? a : __builtin_inff(), OMQ_Q8A_SPAN);
            const int ok = amax != __builtin_inff();
            float id;
            const float d = omq_q8_scale(ok ? amax : 0.0f, &id);
            uint32_t w[OMQ_Q8A_VPL / 4];
            int sum = 0;
            OMQ_UNROLL for (int h = 0; h < OMQ_Q8A_VPL / 4; ++h) {
                int q[4];
                for (int j = 0; j < 4; ++j) q[j] = (int)omq_roundf(v[4 * h + j] * id);
                w[h] = ok ? omq_pack_lo8((uint32_t)q[0], (uint32_t)q[1], (uint32_t)q[2], (uint32_t)q[3])
                          : 0; /* NaN * 0 is no quant */
                sum = omq_dp4a(0x01010101u, w[h], sum);
            }
            const float total = omq_mm_row_sum((float)sum, OMQ_Q8A_SPAN); /* |total| <= 4064: exact */
            if (i < nb) {
                uint32_t *yb = y32 + b * OMQ_Q8_1_WORDS;
                OMQ_UNROLL for (int h = 0; h < OMQ_Q8A_VPL / 4; ++h) yb[1 + OMQ_Q8A_VPL / 4 * p + h] = w[h];
                if (p == 0) {
                    const int t = (int)total;
                    const uint32_t s = xsum ? (uint16_t)(int16_t)t : omq_fp32_to_fp16((float)t * d);
                    yb[0] = omq_fp32_to_fp16(d) | s << 16;
                    if (!ok) omq_latch_fault(fault, OMQ_FAULT_NONFINITE);
                }
            }
        }
    }
}

/* the block's quant sum in place of its s (OMQ_X_STAGED) */
static inline void omq_q8_1_put_qsum(omq_block_q8_1 *y) {
    int t = 0;
    for (int j = 0; j < OMQ_QK; ++j) t += y->qs[j];
    y->s = (uint16_t)(int16_t)t;
}

/* Blocks b0 .. b0+nb-1 of src into y32 by the team's threads (th of nth, the team `lanes`
 * wide): omq_q8a_blocks_team where a thread is a lane (GPUs), else a lane per block. xsum:
 * each block's quant sum in place of s (OMQ_X_STAGED). */
static inline __attribute__((always_inline)) void omq_q8a_blocks(const void *src, int f16, int64_t b0, int64_t nb,
                                                                  uint32_t *y32, int xsum, int *fault, int th,
                                                                  int nth, int lanes) {
    if (omq_mm_shuffle_ok(nth, lanes)) {
        omq_q8a_blocks_team(src, f16, b0, nb, y32, xsum, fault, th, lanes);
        return;
    }
    for (int64_t i = th; i < nb; i += nth) {
        omq_block_q8_1 *y = (omq_block_q8_1 *)y32;
        omq_q8a_block(src, f16, b0 + i, y, fault);
        if (xsum) omq_q8_1_put_qsum(y + b0 + i);
    }
}
#pragma omp end declare target

/* ------------------------------------------------------------------ row kernels
 * Target form: a team per rpt rows, lpr lanes per row (rpt * lpr = OMQ_MM_LANES). A row is
 * nu units (a weight block, or for types with group dot products a 32-value group of one);
 * lane l takes units l % lpr, + lpr, ... of its row, so neighbouring lanes read neighbouring
 * units and, in one pass, all OMQ_MM_NC columns: W is read once per pass. Each lane leaves
 * its sums in the team's part[]; a second loop adds each row's lpr sums in lane order and
 * writes Y (neighbouring lanes write neighbouring rows of one column of Y).
 * ACC(T, BS, r, u, c0, nc, acc) adds unit u of row r times columns c0.. c0+nc-1 of X to acc. */
#define OMQ_MM_ROWS_TARGET(ex, W, X, Y, rows, nu, n, ACC, T, BS)                                \
    do {                                                                                        \
        if ((n) == 1)                                                                           \
            OMQ_MM_ROWS_TARGET_(ex, W, X, Y, rows, nu, n, ACC, T, BS, 1);                       \
        else                                                                                    \
            OMQ_MM_ROWS_TARGET_(ex, W, X, Y, rows, nu, n, ACC, T, BS, OMQ_MM_NC);               \
    } while (0)

/* NCM: columns per pass, a constant. GEMV (n = 1) has a kernel of its own: sized for 8
 * columns, the lanes' sums took ptxas to 96-106 registers in every kernel, and the
 * one-column loop needs 40-72 (more resident lanes, more loads in flight). */
#define OMQ_MM_ROWS_TARGET_(ex, W, X, Y, rows, nu, n, ACC, T, BS, NCM)                          \
    do {                                                                                        \
        const int lpr_ = omq_mm_lanes_per_row(nu), rpt_ = OMQ_MM_LANES / lpr_;                  \
        const int64_t ntiles_ = ((rows) + rpt_ - 1) / rpt_;                                     \
        const int dev_ = (ex)->device, nteams_ = omq_teams_for_tiles(dev_, ntiles_);                \
        OMQ_PRAGMA(omp target teams num_teams(nteams_) thread_limit(OMQ_MM_LANES)               \
                   device(dev_) is_device_ptr(W, X, Y))                                         \
        {                                                                                       \
            float part_[OMQ_MM_LANES * (NCM)];                                                  \
            _Pragma("omp parallel")                                                             \
            {                                                                                   \
                OMQ_MM_THREAD;                                                                  \
                OMQ_MM_ROWS_TILES(W, X, Y, rows, nu, n, ACC, T, BS, NCM, OMQ_MM_LANES,          \
                                  OMQ_MM_LSH, lpr_, rpt_, ntiles_, part_);                      \
            }                                                                                   \
        }                                                                                       \
    } while (0)

/* Units a lane of the one-column walk takes at a time: their loads are issued together (one
 * basic block), not one unit's after the other's sums. H100, queued GEMV (docs/perf.md): 4
 * was no faster than 2, and slower for q5_0 and q5_K at 4096x14336. A kernel file may set
 * it before including this header. */
#ifndef OMQ_GEMV_ILP
#define OMQ_GEMV_ILP 2
#endif

/* One column: lane ln (of lpr_ = 2^lsh_ lanes of row r_) adds its units of the row to a_[0] */
#define OMQ_MM_LANE_ROW(W, X, ACC, T, BS, r_, nu, lpr_, ln_, c0_, a_)                            \
    do {                                                                                        \
        int64_t u_ = (ln_);                                                                     \
        for (; u_ + (OMQ_GEMV_ILP - 1) * lpr_ < (nu); u_ += OMQ_GEMV_ILP * lpr_)                \
            OMQ_UNROLL for (int k_ = 0; k_ < OMQ_GEMV_ILP; ++k_)                                \
                ACC(T, BS, r_, u_ + k_ * lpr_, c0_, 1, a_);                                     \
        for (; u_ < (nu); u_ += lpr_) ACC(T, BS, r_, u_, c0_, 1, a_);                           \
    } while (0)

/* A team's walk over its tiles (inside the parallel region): LANES lanes (a constant, 2^LSH),
 * lpr of them per row, rpt = LANES / lpr rows per tile; part_ holds LANES * NCM floats. */
#define OMQ_MM_ROWS_TILES(W, X, Y, rows, nu, n, ACC, T, BS, NCM, LANES, LSH, lpr_, rpt_, ntiles_, \
                          part_)                                                                \
    do {                                                                                        \
        const int lsh_ = __builtin_ctz((unsigned)lpr_); /* l / lpr as a shift: no division */   \
        for (int64_t tm_ = omp_get_team_num(); tm_ < ntiles_; tm_ += omp_get_num_teams()) {     \
            for (int64_t c0_ = 0; c0_ < (n); c0_ += (NCM)) {                                    \
                const int nc_ = (int)OMQ_MM_MIN((n) - c0_, (NCM));                              \
                if ((NCM) == 1 && omq_mm_shuffle_ok(nth_, (LANES))) { /* thread th_: lane th_ */ \
                    const int64_t r_ = tm_ * rpt_ + (th_ >> lsh_);                              \
                    float a_[1] = {0};                                                          \
                    if (r_ < (rows)) OMQ_MM_LANE_ROW(W, X, ACC, T, BS, r_, nu, lpr_, th_ & (lpr_ - 1), c0_, a_); \
                    const float s_ = omq_mm_row_sum(a_[0], lpr_);                               \
                    if ((th_ & (lpr_ - 1)) == 0 && r_ < (rows)) Y[c0_ * (rows) + r_] = s_;      \
                    continue;                                                                   \
                }                                                                               \
                for (int l_ = th_; l_ < (LANES); l_ += nth_) {                                  \
                    const int64_t r_ = tm_ * rpt_ + (l_ >> lsh_);                               \
                    float acc_[NCM];                                                            \
                    for (int c_ = 0; c_ < (NCM); ++c_) acc_[c_] = 0;                            \
                    if (r_ < (rows))                                                            \
                        for (int64_t u_ = l_ & (lpr_ - 1); u_ < (nu); u_ += lpr_)               \
                            ACC(T, BS, r_, u_, c0_, (NCM) == 1 ? 1 : nc_, acc_);                \
                    for (int c_ = 0; c_ < (NCM); ++c_) part_[l_ * (NCM) + c_] = acc_[c_];       \
                }                                                                               \
                OMQ_MM_BARRIER;                                                                 \
                for (int o_ = th_; o_ < rpt_ * nc_; o_ += nth_) {                               \
                    const int rr_ = o_ & (rpt_ - 1), c_ = o_ >> ((LSH) - lsh_);                 \
                    const int64_t r_ = tm_ * rpt_ + rr_;                                        \
                    if (r_ < (rows)) {                                                          \
                        float s_ = 0;                                                           \
                        for (int sl_ = 0; sl_ < lpr_; ++sl_)                                    \
                            s_ += part_[(rr_ * lpr_ + sl_) * (NCM) + c_];                       \
                        Y[(c0_ + c_) * (rows) + r_] = s_;                                       \
                    }                                                                           \
                }                                                                               \
                OMQ_MM_BARRIER; /* part_ is rewritten next */                                   \
            }                                                                                   \
        }                                                                                       \
    } while (0)

/* ------------------------------------------------------------------ dmmv */
/* one block, dequantized to registers (target form) */
#define OMQ_DMMV_ACC(T, BS, r, b, c0, nc, acc)                                                  \
    do {                                                                                        \
        float wv_[BS];                                                                          \
        T##_dequantize_block(W + (r) * nb + (b), wv_);                                          \
        omq_mm_fdot_cols(wv_, (BS), X + (c0) * K + (b) * (BS), K, (nc), (acc));                 \
    } while (0)

/* a row in chunks of KC values, dequantized to the stack (host form) */
#define OMQ_DMMV_ROW(T, BS, r, c0, nc, acc)                                                     \
    do {                                                                                        \
        for (int64_t b0_ = 0; b0_ < nb; b0_ += OMQ_MM_KC / (BS)) {                              \
            const int cb_ = (int)OMQ_MM_MIN(nb - b0_, OMQ_MM_KC / (BS));                        \
            float wv_[OMQ_MM_KC];                                                               \
            for (int b_ = 0; b_ < cb_; ++b_)                                                    \
                T##_dequantize_block(W + (r) * nb + b0_ + b_, wv_ + b_ * (BS));                 \
            omq_mm_fdot_cols_host(wv_, cb_ * (BS), X + (c0) * K + b0_ * (BS), K, (nc), (acc));  \
        }                                                                                       \
    } while (0)

#define OMQ_DEFINE_DMMV(T, BLOCK, BS)                                                           \
    void omq_dmmv_##T(const omq_exec *ex, const void *w, int64_t rows, int64_t K,              \
                      const void *x, int64_t n, float *Y) {                                     \
        const BLOCK *W = (const BLOCK *)w;                                                      \
        const float *X = (const float *)x;                                                      \
        const int64_t nb = K / (BS);                                                            \
        if (ex->kind == OMQ_EXEC_HOST) {                                                        \
            _Pragma("omp parallel for schedule(static)")                                        \
            for (int64_t r_ = 0; r_ < rows; ++r_) {                                             \
                for (int64_t c0_ = 0; c0_ < n; c0_ += OMQ_MM_NC) {                              \
                    const int nc_ = (int)OMQ_MM_MIN(n - c0_, OMQ_MM_NC);                        \
                    float acc_[OMQ_MM_NC] = {0, 0, 0, 0, 0, 0, 0, 0};                           \
                    OMQ_DMMV_ROW(T, BS, r_, c0_, nc_, acc_);                                    \
                    for (int c_ = 0; c_ < nc_; ++c_) Y[(c0_ + c_) * rows + r_] = acc_[c_];      \
                }                                                                               \
            }                                                                                   \
        } else {                                                                                \
            OMQ_MM_ROWS_TARGET(ex, W, X, Y, rows, nb, n, OMQ_DMMV_ACC, T, BS);                \
        }                                                                                       \
    }

/* ------------------------------------------------------------------ mmvq
 * A unit is a weight block (ACC_BLOCK), or a 32-value group of one for types made with
 * OMQ_DEFINE_MATMUL_GROUPS: T_vec_dot_q8_1_group(w, g, x, xs, nc, acc) (ACC_GROUP: the
 * group's dot product with the one Q8_1 block it meets; more lanes share a long block, each
 * reading a slice of it), or two groups for types made with OMQ_DEFINE_MATMUL_PAIRS. */
#define OMQ_MMVQ_ACC_BLOCK(T, BS, r, u, c0, nc, acc)                                            \
    T##_vec_dot_q8_1(W + (r) * nb + (u), X + (c0) * xs_ + (u) * ((BS) / OMQ_QK), xs_, (nc), (acc))
#define OMQ_MMVQ_ACC_GROUP(T, BS, r, u, c0, nc, acc)                                            \
    T##_vec_dot_q8_1_group(W + (r) * nb + (u) / ((BS) / OMQ_QK), (int)((u) % ((BS) / OMQ_QK)), \
                           X + (c0) * xs_ + (u), xs_, (nc), (acc))
/* a pair of neighbouring groups (T_vec_dot_q8_1_pair: for formats whose two groups share
 * their bytes, read once for both) */
#define OMQ_MMVQ_ACC_PAIR(T, BS, r, u, c0, nc, acc)                                             \
    T##_vec_dot_q8_1_pair(W + (r) * nb + (u) / ((BS) / 64), (int)((u) % ((BS) / 64)),         \
                          X + (c0) * xs_ + 2 * (u), xs_, (nc), (acc))

#define OMQ_DEFINE_MMVQ(T, BLOCK, BS, UPB, ACC)                                                 \
    void omq_mmvq_##T(const omq_exec *ex, const void *w, int64_t rows, int64_t K,              \
                      const void *x, int64_t n, float *Y) {                                     \
        const BLOCK *W = (const BLOCK *)w;                                                      \
        const omq_block_q8_1 *X = (const omq_block_q8_1 *)x;                                    \
        const int64_t nb = K / (BS), nbx = K / OMQ_QK, xs_ = nbx;                               \
        if (ex->kind == OMQ_EXEC_HOST) {                                                        \
            _Pragma("omp parallel for schedule(static)")                                        \
            for (int64_t r_ = 0; r_ < rows; ++r_) {                                             \
                for (int64_t c0_ = 0; c0_ < n; c0_ += OMQ_MM_NC) {                              \
                    const int nc_ = (int)OMQ_MM_MIN(n - c0_, OMQ_MM_NC);                        \
                    float acc_[OMQ_MM_NC] = {0, 0, 0, 0, 0, 0, 0, 0};                           \
                    for (int64_t b_ = 0; b_ < nb; ++b_)                                         \
                        T##_vec_dot_q8_1(W + r_ * nb + b_,                                      \
                                         X + c0_ * nbx + b_ * ((BS) / OMQ_QK), nbx, nc_, acc_); \
                    for (int c_ = 0; c_ < nc_; ++c_) Y[(c0_ + c_) * rows + r_] = acc_[c_];      \
                }                                                                               \
            }                                                                                   \
        } else {                                                                                \
            OMQ_MM_ROWS_TARGET(ex, W, X, Y, rows, nb * (UPB), n, ACC, T, BS);                  \
        }                                                                                       \
    }

/* ------------------------------------------------------------------ gemv
 * mmvq for one column of X in one target region: X (float32 or binary16, quantized here with
 * omq_quantize's bytes; or Q8_1 blocks, copied) is staged in each team's memory, then the team
 * walks its rows (OMQ_GEMV_WALK) as mmvq's one-column kernel, same lanes per row, hence the
 * same integer and float steps. Float X thus costs one region, not two (X's quantization, then
 * the product: each region is a launch and a host round trip, then ~10 us queued and ~25 us
 * synchronized through LLVM's runtime). Teams are as wide as a GPU allows and only as
 * many as it runs at once (one per SM, each with a row at least: 4096 rows are 128 tiles of
 * 32 but go to all 132 SMs of an H100), so X is staged once per SM (132 x 16 KiB of L2 reads
 * for K = 4096 on the H100); omq_q8a_blocks_team stages it, with each block's quant sum in
 * place of s (OMQ_X_STAGED), as does the copy of X given as Q8_1.
 * On an H200, queued, against the two regions with 128-lane teams: 14336x4096 q4_0 44-52 ->
 * 30-35 us, 4096x14336 41-48 -> 36-38 (docs/perf.md); 512-lane teams (two per SM, twice the
 * staging) were slower (36 and 45 us), 256-lane teams more so (36-43 and 63-70). */
#define OMQ_GEMV_LANES 1024
#define OMQ_GEMV_LSH 10 /* log2(OMQ_GEMV_LANES) */
#define OMQ_GEMV_NREG 64 /* registers a lane on NVIDIA (65536 an SM: 1024 lanes resident) */

/* The GEMV's walk (inside the parallel region). GPUs (a thread a lane), up to
 * OMQ_GEMV_RANGE_PASSES passes a team: team tm of nt takes the contiguous rows
 * tm * rows / nt .. (tm + 1) * rows / nt - 1, so the teams' shares differ by at most a row
 * (a walk over rpt-row tiles gives some teams a pass more than others: 14336 rows of q4_0
 * are 448 tiles for 132 teams, 3 or 4 a team). More passes: the tile walk
 * (OMQ_MM_ROWS_TILES), whose teams read neighbouring tiles at any time; there a range a team
 * was 3-8 % slower (128256x4096 on the H100: 30 passes), and its one extra pass matters less.
 * Bands of neighbouring rows split evenly among the teams each pass (OMQ_GEMV_BANDS, both
 * at once) were slower for every type but Q5_K, which sets it. H100, docs/perf.md. */
#define OMQ_GEMV_RANGE_PASSES 8
/* row r_ (if below e_) by its lpr_ lanes, thread th_ a lane, its sum into Y[r_] */
#define OMQ_GEMV_ROW(W, X, Y, nu, ACC, T, BS, lpr_, r_, e_)                                     \
    do {                                                                                        \
        float a_[1] = {0};                                                                      \
        if ((r_) < (e_)) OMQ_MM_LANE_ROW(W, X, ACC, T, BS, r_, nu, lpr_, th_ & (lpr_ - 1), 0, a_); \
        const float y_ = omq_mm_row_sum(a_[0], lpr_);                                           \
        if ((th_ & (lpr_ - 1)) == 0 && (r_) < (e_)) Y[r_] = y_;                                 \
    } while (0)
#ifdef OMQ_GEMV_BANDS
#define OMQ_GEMV_GPU_WALK_OK(ntiles_, nt_) 1
#define OMQ_GEMV_GPU_WALK(W, X, Y, rows, nu, ACC, T, BS, lpr_, rpt_, nt_, tm_)                  \
    do {                                                                                        \
        const int lsh_ = __builtin_ctz((unsigned)lpr_);                                         \
        const int64_t np_ = ((rows) + nt_ * rpt_ - 1) / (nt_ * rpt_), m_ = np_ * nt_;           \
        const int64_t sq_ = nt_ * (rows) / m_, sr_ = nt_ * (rows) % m_;                         \
        int64_t qs_ = tm_ * (rows) / m_, rs_ = tm_ * (rows) % m_;                               \
        int64_t qe_ = (tm_ + 1) * (rows) / m_, re_ = (tm_ + 1) * (rows) % m_;                   \
        for (int64_t p_ = 0; p_ < np_; ++p_) {                                                  \
            const int64_t r_ = qs_ + (th_ >> lsh_);                                             \
            OMQ_GEMV_ROW(W, X, Y, nu, ACC, T, BS, lpr_, r_, qe_);                               \
            qs_ += sq_, rs_ += sr_, qe_ += sq_, re_ += sr_;                                     \
            if (rs_ >= m_) ++qs_, rs_ -= m_;                                                    \
            if (re_ >= m_) ++qe_, re_ -= m_;                                                    \
        }                                                                                       \
    } while (0)
#else
#define OMQ_GEMV_GPU_WALK_OK(ntiles_, nt_) ((ntiles_) <= OMQ_GEMV_RANGE_PASSES * (nt_))
#define OMQ_GEMV_GPU_WALK(W, X, Y, rows, nu, ACC, T, BS, lpr_, rpt_, nt_, tm_)                  \
    do {                                                                                        \
        const int lsh_ = __builtin_ctz((unsigned)lpr_);                                         \
        const int64_t r0_ = tm_ * (rows) / nt_, e_ = (tm_ + 1) * (rows) / nt_;                  \
        for (int64_t p0_ = r0_; p0_ < e_; p0_ += rpt_) {                                        \
            const int64_t r_ = p0_ + (th_ >> lsh_);                                             \
            OMQ_GEMV_ROW(W, X, Y, nu, ACC, T, BS, lpr_, r_, e_);                                \
        }                                                                                       \
    } while (0)
#endif
#define OMQ_GEMV_WALK(W, X, Y, rows, nu, ACC, T, BS, lpr_, rpt_, ntiles_, part_)                \
    do {                                                                                        \
        const int64_t nt_ = omp_get_num_teams(), tm_ = omp_get_team_num();                     \
        if (omq_mm_shuffle_ok(nth_, OMQ_GEMV_LANES) && OMQ_GEMV_GPU_WALK_OK(ntiles_, nt_))      \
            OMQ_GEMV_GPU_WALK(W, X, Y, rows, nu, ACC, T, BS, lpr_, rpt_, nt_, tm_);             \
        else                                                                                    \
            OMQ_MM_ROWS_TILES(W, X, Y, rows, nu, 1, ACC, T, BS, 1, OMQ_GEMV_LANES, OMQ_GEMV_LSH, \
                              lpr_, rpt_, ntiles_, part_);                                      \
    } while (0)

#define OMQ_DEFINE_GEMV(T, BLOCK, BS, UPB, ACC)                                                 \
    void omq_gemv_##T(const omq_exec *ex, const void *w, int64_t rows, int64_t K,              \
                      const void *x, int x_kind, float *Y) {                                    \
        const BLOCK *W = (const BLOCK *)w;                                                      \
        const int64_t nb = K / (BS), nbx = K / OMQ_QK, nu_ = nb * (UPB);                        \
        const int lpr_ = omq_mm_lanes_per_row(nu_), rpt_ = OMQ_GEMV_LANES / lpr_;               \
        const int64_t ntiles_ = (rows + rpt_ - 1) / rpt_;                                       \
        const int dev_ = ex->device, nteams_ = omq_teams_resident(ex, rows, OMQ_GEMV_LANES);    \
        int *fault_ = ex->fault;                                                                \
        OMQ_PRAGMA(omp target teams num_teams(nteams_) thread_limit(OMQ_GEMV_LANES)             \
                   device(dev_) is_device_ptr(W, x, Y, fault_))                                 \
        {                                                                                       \
            uint32_t xq_[OMQ_GEMV_XBLOCKS * OMQ_Q8_1_WORDS];                                    \
            const int64_t xs_ = OMQ_X_STAGED; /* a literal in the kernel: its sums are read */  \
            float part_[OMQ_GEMV_LANES];                                                        \
            _Pragma("omp parallel")                                                             \
            {                                                                                   \
                OMQ_NVPTX_MAXNREG(OMQ_GEMV_NREG);                                               \
                OMQ_MM_THREAD;                                                                  \
                if (x_kind == OMQ_GEMV_X_Q8_1)                                                  \
                    for (int64_t b_ = th_; b_ < nbx; b_ += nth_) {                              \
                        for (int i_ = 0; i_ < OMQ_Q8_1_WORDS; ++i_)                             \
                            xq_[b_ * OMQ_Q8_1_WORDS + i_] =                                     \
                                ((const uint32_t *)x)[b_ * OMQ_Q8_1_WORDS + i_];                \
                        omq_q8_1_put_qsum((omq_block_q8_1 *)xq_ + b_);                          \
                    }                                                                           \
                else                                                                            \
                    omq_q8a_blocks(x, x_kind == OMQ_GEMV_X_F16, 0, nbx, xq_, 1, fault_, th_,      \
                                   nth_, OMQ_GEMV_LANES);                                       \
                OMQ_MM_BARRIER;                                                                 \
                const omq_block_q8_1 *X = (const omq_block_q8_1 *)xq_;                          \
                OMQ_GEMV_WALK(W, X, Y, rows, nu_, ACC, T, BS, lpr_, rpt_, ntiles_, part_);      \
            }                                                                                   \
        }                                                                                       \
    }

/* ------------------------------------------------------------------ mmq
 * A 32-value group of a weight block, as the tiled kernels take it: its quants as 8 words of
 * int8 (offsets applied) and value = d * sc[h] * q - dmin * mn[h] for the half h (values
 * 16h..16h+15) a quant is in. Every quantized codec provides
 *     T_group_words(const BLOCK *w, int g, uint32_t *q, omq_group_coef *cf)
 * for g < BS / 32, and names its form in OMQ_DEFINE_MATMUL: OMQ_GF_HALVES if sc (or mn)
 * differs between the halves, OMQ_GF_MIN if dmin * mn is ever nonzero. */
#define OMQ_GF_SYM 0
#define OMQ_GF_HALVES 1
#define OMQ_GF_MIN 2

#pragma omp declare target
typedef struct {
    float d, dmin;
    int sc[2], mn[2];
} omq_group_coef;

static inline omq_group_coef omq_coef_sym(float d) { return (omq_group_coef){d, 0.0f, {1, 1}, {0, 0}}; }

/* a legacy format's value q * d + m: dmin = -m (the negation is exact) */
static inline omq_group_coef omq_coef_min(float d, float m) { return (omq_group_coef){d, -m, {1, 1}, {1, 1}}; }

/* One group's dot products with the Q8_1 blocks it meets in nc columns, by form: the GPU
 * row kernels' unit for types split into groups (T_vec_dot_q8_1_group, defined from
 * T_group_words by OMQ_DEFINE_MATMUL_GROUPS) */
static inline void omq_vdot_group_words(int form, const uint32_t *q, const omq_group_coef *cf,
                                        const omq_block_q8_1 *x, int64_t xs, int nc, float *acc) {
    if (!(form & OMQ_GF_HALVES)) { /* Q4_K, Q5_K */
        omq_vdot_k32_min_group(q, cf->sc[0], cf->mn[0], cf->d, cf->dmin, x, xs, nc, acc);
        return;
    }
    for (int c = 0; c < nc; ++c) { /* Q2_K (with a minimum), Q3_K, Q6_K */
        const omq_block_q8_1 *xc = x + c * xs;
        int s0, s1;
        omq_dot_halves_words(q, xc, &s0, &s1);
        const float d8 = omq_fp16_scale(xc->d);
        if (form & OMQ_GF_MIN) {
            int t0, t1;
            omq_sum_halves_words(xc, xs, &t0, &t1);
            acc[c] += cf->d * (d8 * (float)(cf->sc[0] * s0 + cf->sc[1] * s1)) -
                      cf->dmin * (d8 * (float)(cf->mn[0] * t0 + cf->mn[1] * t1));
        } else {
            acc[c] += cf->d * (d8 * (float)(cf->sc[0] * s0 + cf->sc[1] * s1));
        }
    }
}

/* The staged step of an mmq tile (team memory): W's quants w[r * RS + 32 j ..] with, per
 * row and half h of group j, a = d * sc and b = dmin * mn at [(2 j + h) * TR + r] (a half's
 * coefficients are the group's where the form has no halves); X's quants likewise, its d8
 * at xd[j * TC + c] and d8 * (sum of the half's quants) at xt[(2 j + h) * TC + c] (the
 * whole group's sum in h = 0 where the form has no halves). Rows, columns and groups beyond
 * the matrices are zeros. */
typedef struct {
    _Alignas(16) int8_t w[OMQ_MMQ_TR * OMQ_MMQ_RS];
    _Alignas(16) int8_t x[OMQ_MMQ_TC * OMQ_MMQ_RS];
    float wa[2 * OMQ_MMQ_GS * OMQ_MMQ_TR], wb[2 * OMQ_MMQ_GS * OMQ_MMQ_TR];
    float xd[OMQ_MMQ_GS * OMQ_MMQ_TC], xt[2 * OMQ_MMQ_GS * OMQ_MMQ_TC];
} omq_mmq_stage;

static inline void omq_mmq_put_words(int8_t *dst, const uint32_t *q) {
    uint32_t *d = (uint32_t *)__builtin_assume_aligned(dst, 16);
    for (int i = 0; i < 8; ++i) d[i] = q[i];
}

/* unit j of X's step (column c, group g0 + j): the Q8_1 block's quants, d8 and half sums */
static inline void omq_mmq_stage_x(OMQ_NOESCAPE omq_mmq_stage *st, const omq_block_q8_1 *X, int64_t nbx,
                                   int64_t c0, int tc, int64_t g0, int64_t ng, int form, int v) {
    const int c = v / OMQ_MMQ_GS, j = v % OMQ_MMQ_GS;
    uint32_t q[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    float d8 = 0.0f;
    int t0 = 0, t1 = 0;
    if (c < tc && g0 + j < ng) {
        const omq_block_q8_1 *xb = X + (c0 + c) * nbx + g0 + j;
        for (int i = 0; i < 8; ++i) q[i] = omq_ld32_a4(xb->qs + 4 * i);
        for (int i = 0; i < 4; ++i) {
            t0 = omq_dp4a(0x01010101u, q[i], t0);
            t1 = omq_dp4a(0x01010101u, q[i + 4], t1);
        }
        d8 = omq_fp16_scale(xb->d);
    }
    omq_mmq_put_words(st->x + c * OMQ_MMQ_RS + 32 * j, q);
    st->xd[j * OMQ_MMQ_TC + c] = d8;
    if (form & OMQ_GF_HALVES) {
        st->xt[2 * j * OMQ_MMQ_TC + c] = d8 * (float)t0;
        st->xt[(2 * j + 1) * OMQ_MMQ_TC + c] = d8 * (float)t1;
    } else {
        st->xt[2 * j * OMQ_MMQ_TC + c] = d8 * (float)(t0 + t1);
    }
}

/* one group's contribution to an output: s0, s1 the integer dot products of its halves
 * (s0 the whole group's where the form has no halves); a0.., b0.. row (W) coefficients,
 * d8, t0, t1 the column's. Both forms of the step below add exactly this. */
static inline float omq_mmq_term(int form, int s0, int s1, float a0, float a1, float b0, float b1,
                                 float d8, float t0, float t1) {
    float v = form & OMQ_GF_HALVES ? d8 * (a0 * (float)s0 + a1 * (float)s1) : d8 * (a0 * (float)s0);
    if (form & OMQ_GF_MIN) v -= form & OMQ_GF_HALVES ? b0 * t0 + b1 * t1 : b0 * t0;
    return v;
}

/* The step's products (portable form): lane l keeps row l % TR, columns (l / TR) * OPL ..,
 * its sums in Y itself, from zero at the first step (a host fallback's thread runs many
 * lanes, so they cannot live in registers; in team memory the 32 KiB of sums and the stage
 * would exceed gfx11's 64 KiB). A lane's outputs are only touched by the thread running it. */
static inline void omq_mmq_step(const omq_mmq_stage *st, float *Y, int64_t rows, int64_t r0, int tr,
                                int64_t c0, int tc, int first, int form, int th, int nth) {
    for (int l = th; l < OMQ_MMQ_LANES; l += nth) {
        const int r = l % OMQ_MMQ_TR, cb = (l / OMQ_MMQ_TR) * OMQ_MMQ_OPL;
        for (int c = cb; r < tr && c < cb + OMQ_MMQ_OPL && c < tc; ++c) {
            float *y = Y + (c0 + c) * rows + r0 + r;
            float s = first ? 0.0f : *y;
            for (int j = 0; j < OMQ_MMQ_GS; ++j) {
                const int8_t *wq = st->w + r * OMQ_MMQ_RS + 32 * j, *xq = st->x + c * OMQ_MMQ_RS + 32 * j;
                const int h0 = 2 * j * OMQ_MMQ_TR + r, h1 = h0 + OMQ_MMQ_TR;
                const int c1 = 2 * j * OMQ_MMQ_TC + c;
                const int s0 = form & OMQ_GF_HALVES ? omq_idot16(wq, xq) : omq_idot32(wq, xq);
                const int s1 = form & OMQ_GF_HALVES ? omq_idot16(wq + 16, xq + 16) : 0;
                s += omq_mmq_term(form, s0, s1, st->wa[h0], st->wa[h1], st->wb[h0], st->wb[h1],
                                  st->xd[j * OMQ_MMQ_TC + c], st->xt[c1], st->xt[c1 + OMQ_MMQ_TC]);
            }
            *y = s;
        }
    }
}

/* Device form for NVIDIA (sm_80 on): integer matrix instructions. A team's warps (WR along
 * the rows) each take 32 rows x 32 columns of the tile (2 x 4 fragments of 16 x 8), their
 * sums in the lane's registers (lacc: OPL floats) instead of Y. Per group, one
 * mma.m16n8k32 per fragment gives the 32-value integer dot products (two m16n8k16, one per
 * half, for OMQ_GF_HALVES), the same integers the portable form adds, then the same
 * omq_mmq_term. Fragment layouts: PTX ISA, "Matrix Fragments for mma.m16n8k32" (lane =
 * 4 group + tq; A: rows group and group + 8, bytes 4 tq.. and 16 + 4 tq..; B: column group,
 * the same bytes; C: rows group, group + 8, columns 2 tq, 2 tq + 1). Needs a thread per
 * lane; otherwise the portable form. */
static inline void omq_mma_k32(const uint32_t *a, const uint32_t *b, OMQ_NOESCAPE int *c) {
#if defined(__NVPTX__) && __CUDA_ARCH__ >= 800
    __asm__("mma.sync.aligned.m16n8k32.row.col.s32.s8.s8.s32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, "
            "{%8, %9}, {%0, %1, %2, %3};"
            : "+r"(c[0]), "+r"(c[1]), "+r"(c[2]), "+r"(c[3])
            : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]));
#else
    (void)a, (void)b, (void)c;
#endif
}

static inline void omq_mma_k16(uint32_t a0, uint32_t a1, uint32_t b, OMQ_NOESCAPE int *c) {
#if defined(__NVPTX__) && __CUDA_ARCH__ >= 800
    __asm__("mma.sync.aligned.m16n8k16.row.col.s32.s8.s8.s32 {%0, %1, %2, %3}, {%4, %5}, {%6}, "
            "{%0, %1, %2, %3};"
            : "+r"(c[0]), "+r"(c[1]), "+r"(c[2]), "+r"(c[3])
            : "r"(a0), "r"(a1), "r"(b));
#else
    (void)a0, (void)a1, (void)b, (void)c;
#endif
}

/* a hint to bring the line holding p into L1: the next step's blocks arrive while this
 * step's products run (a team's staging otherwise waits for L2 at every step) */
static inline void omq_prefetch_l1(const void *p) {
#if defined(__NVPTX__)
    __asm__ volatile("prefetch.L1 [%0];" ::"l"(p));
#else
    (void)p;
#endif
}

/* Bounds the registers of the NVIDIA kernel this is inlined into to n: the build's ptxas
 * step (cmake/omq_ptxas.c) turns the comment into the kernel's .maxnreg, a bound clang 19
 * cannot express for OpenMP kernels. A no-op elsewhere, and in programs that link the
 * static archive themselves. */
#if defined(__NVPTX__)
#define OMQ_NVPTX_MAXNREG(n) OMQ_NVPTX_MAXNREG_(n) /* n may be a macro */
#define OMQ_NVPTX_MAXNREG_(n) __asm__ volatile("// omq.maxnreg " #n)
#else
#define OMQ_NVPTX_MAXNREG(n) ((void)0)
#endif

static inline int omq_mmq_mma_ok(int nth) {
#if defined(__NVPTX__) && __CUDA_ARCH__ >= 800
    return nth == OMQ_MMQ_LANES;
#else
    (void)nth;
    return 0;
#endif
}

static inline void omq_mmq_step_mma(const omq_mmq_stage *st, OMQ_NOESCAPE float *lacc, int form, int th) {
    const int gid = (th & 31) >> 2, tq = th & 3;
    const int wr = ((th >> 5) % OMQ_MMQ_WR) * 32, wc = ((th >> 5) / OMQ_MMQ_WR) * 32;
    for (int j = 0; j < OMQ_MMQ_GS; ++j) {
        uint32_t a[2][4];
        float ra[2][2][2], rb[2][2][2];
        for (int mt = 0; mt < 2; ++mt)
            for (int hr = 0; hr < 2; ++hr) {
                const int r = wr + 16 * mt + gid + 8 * hr;
                const int8_t *wq = st->w + r * OMQ_MMQ_RS + 32 * j + 4 * tq;
                a[mt][hr] = omq_ld32_a4(wq);
                a[mt][hr + 2] = omq_ld32_a4(wq + 16);
                for (int h = 0; h < 2; ++h) {
                    ra[mt][hr][h] = st->wa[(2 * j + h) * OMQ_MMQ_TR + r];
                    rb[mt][hr][h] = st->wb[(2 * j + h) * OMQ_MMQ_TR + r];
                }
            }
OMQ_UNROLL
        for (int nt = 0; nt < 4; ++nt) {
            const int8_t *xq = st->x + (wc + 8 * nt + gid) * OMQ_MMQ_RS + 32 * j + 4 * tq;
            const uint32_t b[2] = {omq_ld32_a4(xq), omq_ld32_a4(xq + 16)};
            float cd[2], ct[2][2];
            for (int cc = 0; cc < 2; ++cc) {
                const int c = wc + 8 * nt + 2 * tq + cc;
                cd[cc] = st->xd[j * OMQ_MMQ_TC + c];
                for (int h = 0; h < 2; ++h) ct[cc][h] = st->xt[(2 * j + h) * OMQ_MMQ_TC + c];
            }
OMQ_UNROLL
            for (int mt = 0; mt < 2; ++mt) {
                int s0[4] = {0, 0, 0, 0}, s1[4] = {0, 0, 0, 0};
                if (form & OMQ_GF_HALVES) {
                    omq_mma_k16(a[mt][0], a[mt][1], b[0], s0);
                    omq_mma_k16(a[mt][2], a[mt][3], b[1], s1);
                } else {
                    omq_mma_k32(a[mt], b, s0);
                }
                for (int i = 0; i < 4; ++i) {
                    const int hr = i >> 1, cc = i & 1;
                    lacc[(mt * 4 + nt) * 4 + i] +=
                        omq_mmq_term(form, s0[i], s1[i], ra[mt][hr][0], ra[mt][hr][1], rb[mt][hr][0],
                                     rb[mt][hr][1], cd[cc], ct[cc][0], ct[cc][1]);
                }
            }
        }
    }
}

static inline void omq_mmq_store_mma(OMQ_NOESCAPE const float *lacc, float *Y, int64_t rows, int64_t r0,
                                     int tr, int64_t c0, int tc, int th) {
    const int gid = (th & 31) >> 2, tq = th & 3;
    const int wr = ((th >> 5) % OMQ_MMQ_WR) * 32, wc = ((th >> 5) / OMQ_MMQ_WR) * 32;
OMQ_UNROLL
    for (int mt = 0; mt < 2; ++mt)
OMQ_UNROLL
        for (int nt = 0; nt < 4; ++nt)
OMQ_UNROLL
            for (int i = 0; i < 4; ++i) {
                const int r = wr + 16 * mt + gid + 8 * (i >> 1), c = wc + 8 * nt + 2 * tq + (i & 1);
                if (r < tr && c < tc) Y[(c0 + c) * rows + r0 + r] = lacc[(mt * 4 + nt) * 4 + i];
            }
}
#pragma omp end declare target

/* Target form: a team per TR x TC tile of Y (row tiles fastest, so neighbouring teams share
 * an X tile in cache). Per step of GS groups the team stages W's groups (T_group_words:
 * neighbouring lanes take neighbouring groups of a row) and X's Q8_1 blocks, then adds the
 * step's products (omq_mmq_tile_any: a device form per GPU). Host form: a thread per
 * HTR x HTC tile, block by block, so a weight block is unpacked once for HTC columns and the
 * HTC Q8_1 blocks of a step stay in L1 for the HTR rows. */
#define OMQ_DEFINE_MMQ(T, BLOCK, BS, FORM)                                                      \
    _Pragma("omp declare target")                                                               \
    static inline void omq_mmq_stage_##T(OMQ_NOESCAPE omq_mmq_stage *st, const BLOCK *W,        \
                                         const omq_block_q8_1 *X, int64_t nb, int64_t nbx,      \
                                         int64_t r0, int tr, int64_t c0, int tc, int64_t g0,    \
                                         int th, int nth) {                                     \
        for (int u = th; u < OMQ_MMQ_TR * OMQ_MMQ_GS; u += nth) {                               \
            const int r = u / OMQ_MMQ_GS, j = u % OMQ_MMQ_GS;                                   \
            const int64_t g = g0 + j;                                                           \
            uint32_t q[8] = {0, 0, 0, 0, 0, 0, 0, 0};                                           \
            omq_group_coef cf = {0.0f, 0.0f, {0, 0}, {0, 0}};                                   \
            if (r < tr && g < nbx)                                                              \
                T##_group_words(W + (r0 + r) * nb + g / ((BS) / OMQ_QK),                        \
                                (int)(g % ((BS) / OMQ_QK)), q, &cf);                            \
            omq_mmq_put_words(st->w + r * OMQ_MMQ_RS + 32 * j, q);                              \
            for (int h = 0; h < 2; ++h) {                                                       \
                st->wa[(2 * j + h) * OMQ_MMQ_TR + r] = cf.d * (float)cf.sc[h];                  \
                st->wb[(2 * j + h) * OMQ_MMQ_TR + r] = cf.dmin * (float)cf.mn[h];               \
            }                                                                                   \
        }                                                                                       \
        for (int v = th; v < OMQ_MMQ_TC * OMQ_MMQ_GS; v += nth)                                 \
            omq_mmq_stage_x(st, X, nbx, c0, tc, g0, nbx, (FORM), v);                            \
    }                                                                                           \
    /* one tile, sums in Y */                                                                   \
    static inline __attribute__((always_inline)) void omq_mmq_tile_##T(omq_mmq_stage *st, const BLOCK *W,                      \
                                        const omq_block_q8_1 *X, float *Y, int64_t rows,        \
                                        int64_t nb, int64_t nbx, int64_t r0, int tr,            \
                                        int64_t c0, int tc, int th, int nth) {                  \
        for (int64_t g0 = 0; g0 < nbx; g0 += OMQ_MMQ_GS) {                                      \
            OMQ_MM_BARRIER; /* the previous step (or tile) is done with st */                   \
            omq_mmq_stage_##T(st, W, X, nb, nbx, r0, tr, c0, tc, g0, th, nth);                  \
            OMQ_MM_BARRIER;                                                                     \
            omq_mmq_step(st, Y, rows, r0, tr, c0, tc, g0 == 0, (FORM), th, nth);                \
        }                                                                                       \
    }                                                                                           \
    /* The device form's fallback (never expected: a GPU gives a team its thread_limit), each  \
     * output straight from W and X with no team memory: the portable tile's registers would   \
     * count in the kernel's and cost it occupancy. */                                          \
    static __attribute__((unused, noinline)) void omq_mmq_tile_apart_##T(                      \
        const BLOCK *W, const omq_block_q8_1 *X, float *Y, int64_t rows, int64_t nb,            \
        int64_t nbx, int64_t r0, int tr, int64_t c0, int tc, int th, int nth) {                 \
        for (int o = th; o < tr * tc; o += nth) {                                               \
            const int r = o % tr, c = o / tr;                                                   \
            float s = 0.0f;                                                                     \
            for (int64_t g = 0; g < nbx; ++g) {                                                 \
                uint32_t q[8];                                                                  \
                omq_group_coef cf;                                                              \
                T##_group_words(W + (r0 + r) * nb + g / ((BS) / OMQ_QK),                        \
                                (int)(g % ((BS) / OMQ_QK)), q, &cf);                            \
                const omq_block_q8_1 *xb = X + (c0 + c) * nbx + g;                              \
                int s0 = 0, s1 = 0, t0 = 0, t1 = 0;                                             \
                for (int i = 0; i < 4; ++i) {                                                   \
                    const uint32_t x0 = omq_ld32_a4(xb->qs + 4 * i), x1 = omq_ld32_a4(xb->qs + 16 + 4 * i); \
                    s0 = omq_dp4a(q[i], x0, s0);                                                \
                    s1 = omq_dp4a(q[i + 4], x1, s1);                                            \
                    t0 = omq_dp4a(0x01010101u, x0, t0);                                         \
                    t1 = omq_dp4a(0x01010101u, x1, t1);                                         \
                }                                                                               \
                const float d8 = omq_fp16_scale(xb->d);                                       \
                if ((FORM) & OMQ_GF_HALVES)                                                     \
                    s += omq_mmq_term((FORM), s0, s1, cf.d * (float)cf.sc[0], cf.d * (float)cf.sc[1], \
                                      cf.dmin * (float)cf.mn[0], cf.dmin * (float)cf.mn[1], d8,  \
                                      d8 * (float)t0, d8 * (float)t1);                          \
                else                                                                            \
                    s += omq_mmq_term((FORM), s0 + s1, 0, cf.d * (float)cf.sc[0], 0.0f,         \
                                      cf.dmin * (float)cf.mn[0], 0.0f, d8,                      \
                                      d8 * (float)(t0 + t1), 0.0f);                             \
            }                                                                                   \
            Y[(c0 + c) * rows + r0 + r] = s;                                                    \
        }                                                                                       \
    }                                                                                           \
    /* device form: the same tile with the sums in the lane's registers (NVIDIA, a thread per   \
     * lane; the check is uniform over the team, so every thread meets the same barriers) */    \
    OMQ_DEVICE_FORM __attribute__((always_inline)) void omq_mmq_tile_mma_##T(omq_mmq_stage *st, const BLOCK *W,                \
                                              const omq_block_q8_1 *X, float *Y, int64_t rows,  \
                                              int64_t nb, int64_t nbx, int64_t r0, int tr,      \
                                              int64_t c0, int tc, int th, int nth) {            \
        /* 128 registers: 2 teams of 256 lanes per SM where ptxas alone took ~150 (1 team):    \
         * a 4096 x 512 product's 256 tiles run in one wave of an H100/H200's 132 SMs */        \
        OMQ_NVPTX_MAXNREG(128);                                                                 \
        if (!omq_mmq_mma_ok(nth)) {                                                             \
            omq_mmq_tile_apart_##T(W, X, Y, rows, nb, nbx, r0, tr, c0, tc, th, nth);            \
            return;                                                                             \
        }                                                                                       \
        float lacc[OMQ_MMQ_OPL];                                                                \
        for (int o = 0; o < OMQ_MMQ_OPL; ++o) lacc[o] = 0;                                      \
        for (int64_t g0 = 0; g0 < nbx; g0 += OMQ_MMQ_GS) {                                      \
            OMQ_MM_BARRIER;                                                                     \
            omq_mmq_stage_##T(st, W, X, nb, nbx, r0, tr, c0, tc, g0, th, nth);                  \
            OMQ_MM_BARRIER;                                                                     \
            for (int u = th; u < OMQ_MMQ_TR * OMQ_MMQ_GS; u += nth) {                           \
                const int64_t g = g0 + OMQ_MMQ_GS + u % OMQ_MMQ_GS;                             \
                const int r = u / OMQ_MMQ_GS;                                                   \
                if (g < nbx && r < tr) omq_prefetch_l1(W + (r0 + r) * nb + g / ((BS) / OMQ_QK)); \
            }                                                                                   \
            for (int v = th; v < OMQ_MMQ_TC * OMQ_MMQ_GS; v += nth) {                           \
                const int64_t g = g0 + OMQ_MMQ_GS + v % OMQ_MMQ_GS;                             \
                const int c = v / OMQ_MMQ_GS;                                                   \
                if (g < nbx && c < tc) omq_prefetch_l1(X + (c0 + c) * nbx + g);                 \
            }                                                                                   \
            omq_mmq_step_mma(st, lacc, (FORM), th);                                             \
        }                                                                                       \
        omq_mmq_store_mma(lacc, Y, rows, r0, tr, c0, tc, th);                                   \
    }                                                                                           \
    OMQ_PRAGMA(omp declare variant(omq_mmq_tile_mma_##T) match(device = {arch(nvptx64)}))      \
    static inline void omq_mmq_tile_any_##T(omq_mmq_stage *st, const BLOCK *W,                  \
                                            const omq_block_q8_1 *X, float *Y, int64_t rows,    \
                                            int64_t nb, int64_t nbx, int64_t r0, int tr,        \
                                            int64_t c0, int tc, int th, int nth) {              \
        omq_mmq_tile_##T(st, W, X, Y, rows, nb, nbx, r0, tr, c0, tc, th, nth);                  \
    }                                                                                           \
    _Pragma("omp end declare target")                                                           \
    void omq_mmq_##T(const omq_exec *ex, const void *w, int64_t rows, int64_t K,               \
                     const void *x, int64_t n, float *Y) {                                      \
        const BLOCK *W = (const BLOCK *)w;                                                      \
        const omq_block_q8_1 *X = (const omq_block_q8_1 *)x;                                    \
        const int64_t nb = K / (BS), nbx = K / OMQ_QK;                                          \
        enum { XPB = (BS) / OMQ_QK };                                                           \
        if (ex->kind == OMQ_EXEC_HOST) {                                                        \
            const int64_t nrt = (rows + OMQ_MMQ_HTR - 1) / OMQ_MMQ_HTR;                         \
            const int64_t nct = (n + OMQ_MMQ_HTC - 1) / OMQ_MMQ_HTC;                            \
            _Pragma("omp parallel for schedule(static)")                                        \
            for (int64_t t = 0; t < nrt * nct; ++t) {                                           \
                const int64_t r0 = (t / nct) * OMQ_MMQ_HTR, c0 = (t % nct) * OMQ_MMQ_HTC;       \
                const int tr = (int)OMQ_MM_MIN(rows - r0, OMQ_MMQ_HTR);                         \
                const int tc = (int)OMQ_MM_MIN(n - c0, OMQ_MMQ_HTC);                            \
                float acc[OMQ_MMQ_HTR][OMQ_MMQ_HTC];                                            \
                for (int r = 0; r < tr; ++r)                                                    \
                    for (int c = 0; c < tc; ++c) acc[r][c] = 0;                                 \
                for (int64_t b = 0; b < nb; ++b)                                                \
                    for (int r = 0; r < tr; ++r)                                                \
                        T##_vec_dot_q8_1(W + (r0 + r) * nb + b, X + c0 * nbx + b * XPB, nbx,    \
                                         tc, acc[r]);                                           \
                for (int c = 0; c < tc; ++c)                                                    \
                    for (int r = 0; r < tr; ++r) Y[(c0 + c) * rows + r0 + r] = acc[r][c];       \
            }                                                                                   \
            return;                                                                             \
        }                                                                                       \
        const int64_t nrt = (rows + OMQ_MMQ_TR - 1) / OMQ_MMQ_TR;                               \
        const int64_t nct = (n + OMQ_MMQ_TC - 1) / OMQ_MMQ_TC, ntiles = nrt * nct;              \
        const int dev = ex->device, nteams = omq_teams_for_tiles(dev, ntiles);                  \
        OMQ_PRAGMA(omp target teams num_teams(nteams) thread_limit(OMQ_MMQ_LANES) device(dev)   \
                   is_device_ptr(W, X, Y))                                                      \
        {                                                                                       \
            omq_mmq_stage st;                                                                   \
            _Pragma("omp parallel")                                                             \
            {                                                                                   \
                OMQ_MM_THREAD;                                                                  \
                for (int64_t t = omp_get_team_num(); t < ntiles; t += omp_get_num_teams()) {    \
                    const int64_t r0 = (t % nrt) * OMQ_MMQ_TR, c0 = (t / nrt) * OMQ_MMQ_TC;     \
                    omq_mmq_tile_any_##T(&st, W, X, Y, rows, nb, nbx, r0,                       \
                                         (int)OMQ_MM_MIN(rows - r0, OMQ_MMQ_TR), c0,            \
                                         (int)OMQ_MM_MIN(n - c0, OMQ_MMQ_TC), th_, nth_);       \
                }                                                                               \
            }                                                                                   \
        }                                                                                       \
    }

/* ------------------------------------------------------------------ gemm
 * Target form: a team per TR x TC tile of Y; per step of KC values the lanes dequantize the
 * tile's weight blocks into a float32 W tile and copy the X tile (neighbouring lanes copy
 * neighbouring values of a column of X), then each lane adds one output's dot product of
 * the step to the team's acc[]. Host form: a thread per HGR x HGC tile; per chunk of KC
 * values it dequantizes the HGR row chunks once and takes their dot products with the HGC
 * columns, whose chunk (16 KiB) stays in L1. */
#define OMQ_DEFINE_GEMM(T, BLOCK, BS)                                                           \
    void omq_gemm_##T(const omq_exec *ex, const void *w, int64_t rows, int64_t K,              \
                      const void *x, int64_t n, float *Y) {                                     \
        const BLOCK *W = (const BLOCK *)w;                                                      \
        const float *X = (const float *)x;                                                      \
        const int64_t nb = K / (BS);                                                            \
        enum { KB = OMQ_MM_KC / (BS) };                                                         \
        if (ex->kind == OMQ_EXEC_HOST) {                                                        \
            const int64_t nrt = (rows + OMQ_GEMM_HGR - 1) / OMQ_GEMM_HGR;                       \
            const int64_t nct = (n + OMQ_GEMM_HGC - 1) / OMQ_GEMM_HGC;                          \
            _Pragma("omp parallel for schedule(static)")                                        \
            for (int64_t t = 0; t < nrt * nct; ++t) {                                           \
                const int64_t r0 = (t / nct) * OMQ_GEMM_HGR, c0 = (t % nct) * OMQ_GEMM_HGC;     \
                const int tr = (int)OMQ_MM_MIN(rows - r0, OMQ_GEMM_HGR);                        \
                const int tc = (int)OMQ_MM_MIN(n - c0, OMQ_GEMM_HGC);                           \
                float acc[OMQ_GEMM_HGR][OMQ_GEMM_HGC];                                          \
                float wv[OMQ_GEMM_HGR][OMQ_MM_KC];                                              \
                for (int r = 0; r < tr; ++r)                                                    \
                    for (int c = 0; c < tc; ++c) acc[r][c] = 0;                                 \
                for (int64_t b0 = 0; b0 < nb; b0 += KB) {                                       \
                    const int kb = (int)OMQ_MM_MIN(nb - b0, KB);                                \
                    for (int r = 0; r < tr; ++r)                                                \
                        for (int b = 0; b < kb; ++b)                                            \
                            T##_dequantize_block(W + (r0 + r) * nb + b0 + b, wv[r] + b * (BS)); \
                    for (int r = 0; r < tr; ++r)                                                \
                        omq_mm_fdot_cols_host(wv[r], kb * (BS), X + c0 * K + b0 * (BS), K, tc,  \
                                              acc[r]);                                          \
                }                                                                               \
                for (int c = 0; c < tc; ++c)                                                    \
                    for (int r = 0; r < tr; ++r) Y[(c0 + c) * rows + r0 + r] = acc[r][c];       \
            }                                                                                   \
            return;                                                                             \
        }                                                                                       \
        const int64_t nrt = (rows + OMQ_GEMM_TR - 1) / OMQ_GEMM_TR;                             \
        const int64_t nct = (n + OMQ_GEMM_TC - 1) / OMQ_GEMM_TC, ntiles = nrt * nct;            \
        const int dev = ex->device, nteams = omq_teams_for_tiles(dev, ntiles);                      \
        OMQ_PRAGMA(omp target teams num_teams(nteams) thread_limit(OMQ_GEMM_LANES) device(dev)  \
                   is_device_ptr(W, X, Y))                                         \
        {                                                                                       \
            float ws[OMQ_GEMM_TR * OMQ_MM_KC];                                                  \
            float xs[OMQ_GEMM_TC * OMQ_MM_KC];                                                  \
            float acc[OMQ_GEMM_TR * OMQ_GEMM_TC];                                               \
            _Pragma("omp parallel")                                                             \
            {                                                                                   \
                OMQ_MM_THREAD;                                                                  \
                for (int64_t t = omp_get_team_num(); t < ntiles; t += omp_get_num_teams()) {    \
                    const int64_t r0 = (t % nrt) * OMQ_GEMM_TR, c0 = (t / nrt) * OMQ_GEMM_TC;   \
                    const int tr = (int)OMQ_MM_MIN(rows - r0, OMQ_GEMM_TR);                     \
                    const int tc = (int)OMQ_MM_MIN(n - c0, OMQ_GEMM_TC);                        \
                    for (int o = th_; o < OMQ_GEMM_TR * OMQ_GEMM_TC; o += nth_) acc[o] = 0;     \
                    for (int64_t b0 = 0; b0 < nb; b0 += KB) {                                   \
                        const int kb = (int)OMQ_MM_MIN(nb - b0, KB), len = kb * (BS);           \
                        OMQ_MM_BARRIER; /* the previous step is done with ws, xs */             \
                        for (int u = th_; u < OMQ_GEMM_TR * KB + OMQ_GEMM_TC * OMQ_MM_KC;       \
                             u += nth_) {                                                       \
                            if (u < OMQ_GEMM_TR * KB) {                                         \
                                const int r = u / KB, b = u % KB;                               \
                                if (r < tr && b < kb)                                           \
                                    T##_dequantize_block(W + (r0 + r) * nb + b0 + b,            \
                                                         ws + r * OMQ_MM_KC + b * (BS));        \
                            } else {                                                            \
                                const int v = u - OMQ_GEMM_TR * KB;                             \
                                const int c = v / OMQ_MM_KC, k = v % OMQ_MM_KC;                 \
                                if (c < tc && k < len) xs[v] = X[(c0 + c) * K + b0 * (BS) + k]; \
                            }                                                                   \
                        }                                                                       \
                        OMQ_MM_BARRIER;                                                         \
                        for (int o = th_; o < OMQ_GEMM_TR * OMQ_GEMM_TC; o += nth_) {           \
                            const int r = o % OMQ_GEMM_TR, c = o / OMQ_GEMM_TR;                 \
                            if (r < tr && c < tc)                                               \
                                omq_mm_fdot_cols(ws + r * OMQ_MM_KC, len, xs + c * OMQ_MM_KC,   \
                                                 0, 1, &acc[r * OMQ_GEMM_TC + c]);              \
                        }                                                                       \
                    }                                                                           \
                    OMQ_MM_BARRIER;                                                             \
                    for (int o = th_; o < OMQ_GEMM_TR * OMQ_GEMM_TC; o += nth_) {               \
                        const int r = o % OMQ_GEMM_TR, c = o / OMQ_GEMM_TR;                     \
                        if (r < tr && c < tc)                                                   \
                            Y[(c0 + c) * rows + r0 + r] = acc[r * OMQ_GEMM_TC + c];             \
                    }                                                                           \
                    OMQ_MM_BARRIER; /* acc is zeroed next */                                    \
                }                                                                               \
            }                                                                                   \
        }                                                                                       \
    }

/* ------------------------------------------------------------------ per type */
#define OMQ_DEFINE_MATMUL_FLOAT(T, BLOCK, BS)                                                   \
    OMQ_DEFINE_DMMV(T, BLOCK, BS)                                                               \
    OMQ_DEFINE_GEMM(T, BLOCK, BS)

#define OMQ_DEFINE_MATMUL_(T, BLOCK, BS, FORM, UPB, ACC)                                        \
    OMQ_DEFINE_MATMUL_FLOAT(T, BLOCK, BS)                                                       \
    OMQ_DEFINE_MMVQ(T, BLOCK, BS, UPB, ACC)                                                     \
    OMQ_DEFINE_GEMV(T, BLOCK, BS, UPB, ACC)                                                     \
    OMQ_DEFINE_MMQ(T, BLOCK, BS, FORM)

/* quantized types (FORM: their T_group_words' OMQ_GF_*); _GROUPS for those whose row
 * kernels split blocks into groups (it defines T_vec_dot_q8_1_group) */
#define OMQ_DEFINE_MATMUL(T, BLOCK, BS, FORM) OMQ_DEFINE_MATMUL_(T, BLOCK, BS, FORM, 1, OMQ_MMVQ_ACC_BLOCK)
#define OMQ_DEFINE_MATMUL_GROUPS(T, BLOCK, BS, FORM)                                            \
    _Pragma("omp declare target")                                                               \
    static inline void T##_vec_dot_q8_1_group(const BLOCK *w, int g, const omq_block_q8_1 *x,   \
                                              int64_t xs, int nc, float *acc) {                 \
        uint32_t q[8];                                                                          \
        omq_group_coef cf;                                                                      \
        T##_group_words(w, g, q, &cf);                                                          \
        omq_vdot_group_words((FORM), q, &cf, x, xs, nc, acc);                                   \
    }                                                                                           \
    _Pragma("omp end declare target")                                                           \
    OMQ_DEFINE_MATMUL_(T, BLOCK, BS, FORM, (BS) / OMQ_QK, OMQ_MMVQ_ACC_GROUP)
/* _PAIRS: row-kernel units of two groups, T_vec_dot_q8_1_pair(w, p, x, xs, nc, acc) adding
 * groups 2p and 2p + 1 */
#define OMQ_DEFINE_MATMUL_PAIRS(T, BLOCK, BS, FORM) OMQ_DEFINE_MATMUL_(T, BLOCK, BS, FORM, (BS) / 64, OMQ_MMVQ_ACC_PAIR)

#endif /* OMQ_MATMUL_H */
