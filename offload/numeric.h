/* Scalar helpers shared by every kernel, on the host and on devices.
 *
 * Byte-exactness with ggml rests on these: each one gives the same bits as ggml's
 * reference code on x86-64, using integer arithmetic where ggml relies on float tricks
 * whose result would change with a device's denormal mode. Only compiler builtins are
 * used (no libm), so device code needs no math library: __builtin_sqrtf and float division
 * lower to correctly rounded instructions on sm_90 (sqrt.rn / div.rn) and on gfx1100.
 * Kernel code says __builtin_memcpy/__builtin_memset, never memcpy/memset: in OpenMP device
 * code those names are libc calls, and no device libc is linked. */
#ifndef OMQ_NUMERIC_H
#define OMQ_NUMERIC_H

#include <stdint.h>
#include <string.h>

/* For pointer parameters of kernel helpers that never keep the pointer. OpenMP device code
 * moves a local array whose address reaches a call it cannot see through to a heap shared by
 * all threads (8 MB by default): enough threads then exhaust it and kernels fault. */
#if defined(__clang__)
#define OMQ_NOESCAPE __attribute__((noescape))
#else
#define OMQ_NOESCAPE
#endif

#pragma omp declare target

/* All ones where c holds, else zero: for selections by masks, which compilers keep free of
 * branches where a ?: fed by a float operation may become one (gcc, -ftrapping-math). */
static inline uint32_t omq_mask(int c) { return 0u - (uint32_t)c; }

static inline uint32_t omq_f32_bits(float f) {
    uint32_t u;
    __builtin_memcpy(&u, &f, sizeof u);
    return u;
}

static inline float omq_bits_f32(uint32_t u) {
    float f;
    __builtin_memcpy(&f, &u, sizeof f);
    return f;
}

/* IEEE binary16 -> binary32, exact for every input. NaNs keep sign and payload and come
 * out quiet, as ggml's conversion gives them. (Devices take omq_fp16_to_fp32_gpu, below.) */
static inline float omq_fp16_to_fp32_soft(uint16_t h) {
    const uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
    const uint32_t exp = (h >> 10) & 0x1fu;
    uint32_t mant = h & 0x3ffu;
    uint32_t bits;
    if (exp == 0x1fu) {
        bits = sign | 0x7f800000u | (mant << 13) | (mant ? 0x00400000u : 0u);
    } else if (exp != 0) {
        bits = sign | ((exp + 112u) << 23) | (mant << 13);
    } else if (mant == 0) {
        bits = sign;
    } else {
        /* subnormal: normalise the mantissa; value = mant * 2^-24 */
        uint32_t e = 113u;
        while (!(mant & 0x400u)) {
            mant <<= 1;
            --e;
        }
        bits = sign | (e << 23) | ((mant & 0x3ffu) << 13);
    }
    return omq_bits_f32(bits);
}

/* IEEE binary32 -> binary16, round to nearest even; overflow gives Inf. Every NaN becomes
 * sign | 0x7e00, which is what ggml's software conversion produces. No branches, and the
 * range's result picked by masks (omq_mask), so that loops of it vectorize on the host: normal
 * results are rebiased and rounded by adding 0xfff plus the kept bit's parity; subnormal
 * ones (below 2^-14) come from the FPU's own rounding, as ax + 0.5 holds round(ax * 2^24)
 * in its low mantissa bits (default rounding mode; FTZ/DAZ do not matter: the sum is
 * normal). Checked against the branching form it replaced for all 2^32 inputs, gcc and clang. */
static inline uint16_t omq_fp32_to_fp16_soft(float f) {
    const uint32_t x = omq_f32_bits(f), ax = x & 0x7fffffffu;
    uint32_t r = (ax - 0x38000000u + 0xfffu + ((ax >> 13) & 1u)) >> 13;
    const uint32_t subnormal = omq_f32_bits(omq_bits_f32(ax) + 0.5f) - 0x3f000000u;
    r += (subnormal - r) & omq_mask(ax < 0x38800000u);
    r += (0x7c00u - r) & omq_mask(ax >= 0x47800000u); /* from 65520 by rounding */
    r += (0x7e00u - r) & omq_mask(ax > 0x7f800000u);
    return (uint16_t)(((x >> 16) & 0x8000u) | r);
}

/* GPUs convert with one instruction each way (cvt on NVIDIA, v_cvt on AMD), which the
 * software forms above cost 15-30 instructions and divergent branches: 2 per weight block in
 * every matrix product. Hardware and software agree bit for bit on every non-NaN value
 * (exact widening; round to nearest even, overflow to Inf, subnormals kept); NaNs, where
 * hardware may differ, are given the software forms' bits by a mask, not a branch: code
 * after a branch on a loaded scale waits for that load, which put a second memory round
 * trip into every thread of the dequantize kernels (f32 output 35 % slower, measured).
 * Host compilations never call these. */
static inline float omq_fp16_to_fp32_gpu(uint16_t h) {
#if defined(__NVPTX__) || defined(__AMDGCN__)
    _Float16 v;
    __builtin_memcpy(&v, &h, 2);
    const uint32_t nan = (uint32_t)(h & 0x8000u) << 16 | 0x7fc00000u | (uint32_t)(h & 0x3ffu) << 13;
    const uint32_t is_nan = omq_mask((h & 0x7fffu) > 0x7c00u);
    return omq_bits_f32((nan & is_nan) | (omq_f32_bits((float)v) & ~is_nan));
#else
    return omq_fp16_to_fp32_soft(h);
#endif
}

static inline uint16_t omq_fp32_to_fp16_gpu(float f) {
#if defined(__NVPTX__) || defined(__AMDGCN__)
    const _Float16 v = (_Float16)f;
    uint16_t h;
    __builtin_memcpy(&h, &v, 2);
    const uint32_t x = omq_f32_bits(f);
    const uint32_t is_nan = omq_mask((x & 0x7fffffffu) > 0x7f800000u);
    return (uint16_t)((((x >> 16 & 0x8000u) | 0x7e00u) & is_nan) | (h & ~is_nan));
#else
    return omq_fp32_to_fp16_soft(f);
#endif
}

#pragma omp declare variant(omq_fp16_to_fp32_gpu) match(device = {kind(gpu)})
static inline float omq_fp16_to_fp32(uint16_t h) { return omq_fp16_to_fp32_soft(h); }

/* binary16 -> binary32 for the scales of the matrix products: omq_fp16_to_fp32's value for
 * every number; a NaN stays a NaN, its payload not kept on GPUs (the hardware conversion
 * alone: the NaN fix-up above took 6 integer instructions a scale, an eighth of q4_0's
 * GEMV walk on the H100). Products only test NaN as NaN. */
static inline float omq_fp16_scale_gpu(uint16_t h) {
#if defined(__NVPTX__) || defined(__AMDGCN__)
    _Float16 v;
    __builtin_memcpy(&v, &h, 2);
    return (float)v;
#else
    return omq_fp16_to_fp32_soft(h);
#endif
}

#pragma omp declare variant(omq_fp16_scale_gpu) match(device = {kind(gpu)})
static inline float omq_fp16_scale(uint16_t h) { return omq_fp16_to_fp32_soft(h); }

#pragma omp declare variant(omq_fp32_to_fp16_gpu) match(device = {kind(gpu)})
static inline uint16_t omq_fp32_to_fp16(float f) { return omq_fp32_to_fp16_soft(f); }

/* n (even, a constant at each call) floats -> their binary16 bits as omq_fp32_to_fp16 gives
 * them, two to a word (the even value in the low half): the f16 output of the conversion
 * kernels. GPU form: packed hardware conversions (NVIDIA: cvt.rn.f16x2.f32, one instruction
 * a pair) and, only where a value is NaN, the masked forms again: one test for all n values,
 * after all of them are loaded. The per-value NaN masks made the dequantize kernels with f16
 * output bound by the integer pipe (H100 ncu, q5_K: ALU 74 % busy, DRAM 48 %). */
static inline void omq_fp32_to_fp16_pairs_gpu(OMQ_NOESCAPE const float *x, int n, OMQ_NOESCAPE uint32_t *w) {
    int nan = 0;
    for (int j = 0; j < n; ++j) nan |= x[j] != x[j];
#if defined(__NVPTX__)
    for (int j = 0; j < n / 2; ++j) __asm__("cvt.rn.f16x2.f32 %0, %1, %2;" : "=r"(w[j]) : "f"(x[2 * j + 1]), "f"(x[2 * j]));
#elif defined(__AMDGCN__)
    for (int j = 0; j < n / 2; ++j) {
        const _Float16 lo = (_Float16)x[2 * j], hi = (_Float16)x[2 * j + 1];
        uint16_t a, b;
        __builtin_memcpy(&a, &lo, 2);
        __builtin_memcpy(&b, &hi, 2);
        w[j] = a | (uint32_t)b << 16;
    }
#endif
    if (nan)
        for (int j = 0; j < n / 2; ++j)
            w[j] = omq_fp32_to_fp16_gpu(x[2 * j]) | (uint32_t)omq_fp32_to_fp16_gpu(x[2 * j + 1]) << 16;
}

#pragma omp declare variant(omq_fp32_to_fp16_pairs_gpu) match(device = {kind(gpu)})
static inline void omq_fp32_to_fp16_pairs(OMQ_NOESCAPE const float *x, int n, OMQ_NOESCAPE uint32_t *w) {
    for (int j = 0; j < n / 2; ++j)
        w[j] = omq_fp32_to_fp16_soft(x[2 * j]) | (uint32_t)omq_fp32_to_fp16_soft(x[2 * j + 1]) << 16;
}

/* ggml's nearest_int: round to nearest, ties to even, valid for |v| <= 4194303. It adds
 * 1.5 * 2^23 and reads the mantissa, so it is exact integer rounding in that range. */
static inline int omq_nearest_int(float v) {
    const float t = v + 12582912.f;
    return (int)(omq_f32_bits(t) & 0x007fffffu) - 0x00400000;
}

static inline int omq_is_finite(float v) {
    return (omq_f32_bits(v) & 0x7f800000u) != 0x7f800000u;
}

static inline float omq_fabsf(float v) { return __builtin_fabsf(v); }
static inline float omq_sqrtf(float v) { return __builtin_sqrtf(v); }
/* omq_roundf's offset: the bits of 0.5 - 2^-25 and of the sign it takes from v */
#define OMQ_ROUND_OFFSET_BITS 0x3effffffu
#define OMQ_F32_SIGN_BIT 0x80000000u
static inline float omq_roundf_nvptx(float v) {
#if defined(__NVPTX__)
    uint32_t h; /* the sign merge as one lop3 (ptxas makes two of an and-or with two immediates) */
    __asm__("lop3.b32 %0, %1, %2, %3, 0xea;" : "=r"(h) : "r"(omq_f32_bits(v)), "r"(OMQ_F32_SIGN_BIT), "r"(OMQ_ROUND_OFFSET_BITS));
    return __builtin_truncf(v + omq_bits_f32(h));
#else
    return v; /* never selected off NVIDIA devices */
#endif
}

/* C's roundf: halves away from zero (ggml's q8_0 and q8_1 use it), as the truncation of
 * v + copysign(0.5 - 2^-25, v), which is exact for every float in round-to-nearest (checked
 * over all 2^32 patterns): below a half the sum stays under the next integer, from a half on
 * it reaches it, and where floats are integers or halves the offset rounds away. On NVIDIA
 * that is three instructions (sign merge, add, the cast's truncation) where roundf's inline
 * form took eleven, a quarter of X's staging in a GEMV. */
#pragma omp declare variant(omq_roundf_nvptx) match(device = {arch(nvptx64)})
static inline float omq_roundf(float v) {
    const uint32_t t = omq_f32_bits(v + omq_bits_f32((omq_f32_bits(v) & OMQ_F32_SIGN_BIT) | OMQ_ROUND_OFFSET_BITS));
    /* The truncation by an int conversion, where the sum has a fraction (|t| < 2^23; the
     * rest, NaN and Inf included, is its own truncation), masks picking the result and the
     * sign kept for -0: the bits of truncf for all 2^32 inputs, and unlike truncf (a libm
     * call, or an inline form with branches, without SSE4.1) its loops vectorize on the host. */
    const uint32_t frac = omq_mask((t & 0x7fffffffu) < 0x4b000000u);
    const uint32_t i = omq_f32_bits((float)(int)omq_bits_f32(t & frac)) | (t & OMQ_F32_SIGN_BIT);
    return omq_bits_f32((i & frac) | (t & ~frac));
}

/* ggml's symmetric 8-bit blocks (Q8_0, Q8_1): the largest magnitude of n values, and from
 * it the scale d = amax / 127 (returned) and its inverse (0 for an all-zero block). */
static inline float omq_absmax_gpu(OMQ_NOESCAPE const float *x, int n) {
    float amax = 0.0f;
    for (int j = 0; j < n; ++j) {
        const float a = omq_fabsf(x[j]);
        amax = amax > a ? amax : a;
    }
    return amax;
}

/* The host's form: the largest |x| as bits, whose integer order is the order of non-negative
 * floats, so the same value for finite input (all that reaches the quantizers) and a
 * reduction compilers vectorize, which a float maximum with NaN's ordering is not. */
#pragma omp declare variant(omq_absmax_gpu) match(device = {kind(gpu)})
static inline float omq_absmax(OMQ_NOESCAPE const float *x, int n) {
    int32_t amax = 0;
    for (int j = 0; j < n; ++j) {
        const int32_t a = (int32_t)(omq_f32_bits(x[j]) & 0x7fffffffu);
        amax = amax > a ? amax : a;
    }
    return omq_bits_f32((uint32_t)amax);
}

/* ggml's Q4_0 and Q5_0 scales: the first of the n values of largest magnitude, +0 when all
 * are zero (the scale is then -0). */
static inline float omq_signed_absmax_gpu(OMQ_NOESCAPE const float *x, int n) {
    float amax = 0.0f, max = 0.0f;
    for (int j = 0; j < n; ++j) {
        if (amax < omq_fabsf(x[j])) {
            amax = omq_fabsf(x[j]);
            max = x[j];
        }
    }
    return max;
}

/* The first of the n values whose magnitude has the bits a (one is), found as a minimum
 * of indices, which vectorizes (host forms). */
static inline float omq_first_of_magnitude(OMQ_NOESCAPE const float *x, int n, uint32_t a) {
    int first = n;
    for (int j = 0; j < n; ++j) {
        const int at = (omq_f32_bits(x[j]) & 0x7fffffffu) == a ? j : n;
        first = first < at ? first : at;
    }
    return x[first];
}

/* The host's form: omq_absmax's reduction, then the first value of that magnitude (both
 * vectorize; the loop above, which carries the value with the maximum, does not). The same
 * value for finite input. */
#pragma omp declare variant(omq_signed_absmax_gpu) match(device = {kind(gpu)})
static inline float omq_signed_absmax(OMQ_NOESCAPE const float *x, int n) {
    const uint32_t amax = omq_f32_bits(omq_absmax(x, n));
    return amax ? omq_first_of_magnitude(x, n, amax) : 0.0f;
}

/* ggml's Q4_1 and Q5_1 ranges: the least and the greatest of n values, from FLT_MAX and
 * -FLT_MAX, each replaced only by a strictly smaller (greater) value, so of +0 and -0 the
 * first in x stays. */
static inline void omq_min_max_gpu(OMQ_NOESCAPE const float *x, int n, OMQ_NOESCAPE float *min,
                                   OMQ_NOESCAPE float *max) {
    float lo = 3.402823466e+38f, hi = -3.402823466e+38f;
    for (int j = 0; j < n; ++j) {
        if (x[j] < lo) lo = x[j];
        if (x[j] > hi) hi = x[j];
    }
    *min = lo;
    *max = hi;
}

/* A finite float as an integer of the same order, +0 and -0 one key (0). */
static inline int32_t omq_order_key(float v) {
    const uint32_t b = omq_f32_bits(v), s = 0u - (b >> 31);
    return (int32_t)(((b & 0x7fffffffu) ^ s) + (s & 1u));
}

/* The value of x with key k: from k itself, but for 0, the first zero of x (its sign kept). */
static inline float omq_order_value(OMQ_NOESCAPE const float *x, int n, int32_t k) {
    if (k) return omq_bits_f32(k < 0 ? 0x80000000u | (0u - (uint32_t)k) : (uint32_t)k);
    return omq_first_of_magnitude(x, n, 0);
}

/* The host's form: integer reductions over the keys (they vectorize; the float loop above
 * does not), then the values back from the keys. The same values for finite input. */
#pragma omp declare variant(omq_min_max_gpu) match(device = {kind(gpu)})
static inline void omq_min_max(OMQ_NOESCAPE const float *x, int n, OMQ_NOESCAPE float *min,
                               OMQ_NOESCAPE float *max) {
    int32_t lo = 0x7f7fffff, hi = -0x7f7fffff;
    for (int j = 0; j < n; ++j) {
        const int32_t k = omq_order_key(x[j]);
        lo = lo < k ? lo : k;
        hi = hi > k ? hi : k;
    }
    *min = omq_order_value(x, n, lo);
    *max = omq_order_value(x, n, hi);
}

static inline float omq_q8_scale(float amax, OMQ_NOESCAPE float *id) {
    const float d = amax / 127;
    *id = d ? 1.0f / d : 0.0f;
    return d;
}

static inline int omq_min_i(int a, int b) { return a < b ? a : b; }
static inline int omq_max_i(int a, int b) { return a > b ? a : b; }

/* The float -> small integer casts of ggml's legacy quantizers ((int8_t)v then min(limit, .),
 * or (uint8_t)v), made total. For finite input v lies in [0, limit + 1], where this equals
 * ggml's expression; other values cannot reach here (blocks with non-finite input are
 * rejected first) but must not be undefined behaviour. */
static inline int omq_trunc_clamp(float v, int limit) {
    if (!(v >= 0.0f)) return 0;
    if (v >= (float)limit) return limit;
    return (int)v;
}

#pragma omp end declare target

#endif /* OMQ_NUMERIC_H */
