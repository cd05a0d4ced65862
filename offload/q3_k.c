/* Q3_K: 256 values in 16 groups of 16 with 6-bit signed scales (offset 32) of one fp16 d;
 * 3-bit quants: low 2 bits in qs, the high bit in hmask, meaning d*sc*(q - 4). */
#include "codec.h"
#define OMQ_GEMV_ILP 1 /* GEMV: a unit at a time (two spilled 4 bytes); H100 2-5 % faster, docs/perf.md */
#include "matmul.h"
#include "kquant.h"
#include "search.h"

#pragma omp declare target
static inline void q3_K_set_scale(OMQ_NOESCAPE omq_block_q3_K *y, int j, int l) {
    if (j < 8) {
        y->scales[j] = (uint8_t)(l & 0xF);
    } else {
        y->scales[j - 8] |= (uint8_t)((l & 0xF) << 4);
    }
    l >>= 4;
    y->scales[j % 4 + 8] |= (uint8_t)(l << (2 * (j / 4)));
}

static inline void q3_K_quantize_block(OMQ_NOESCAPE const float *x, OMQ_NOESCAPE omq_block_q3_K *y, OMQ_NOESCAPE const float *qw,
                                       float sigma2_unused) {
    (void)sigma2_unused;
    int8_t L[OMQ_QK_K];
    float scales[16];
    __builtin_memset(y->scales, 0, 12);
    if (!qw) {
        float max_scale = 0, amax = 0;
        for (int j = 0; j < 16; ++j) {
            scales[j] = omq_make_q3_quants(16, 4, x + 16 * j, L + 16 * j);
            const float scale = omq_fabsf(scales[j]);
            if (scale > amax) {
                amax = scale;
                max_scale = scales[j];
            }
        }
        if (max_scale) {
            const float iscale = -32.f / max_scale;
            for (int j = 0; j < 16; ++j) {
                int8_t l = (int8_t)omq_nearest_int(iscale * scales[j]);
                l = (int8_t)(omq_clamp_i(l, -32, 31) + 32);
                q3_K_set_scale(y, j, l);
            }
            y->d = omq_fp32_to_fp16(1 / iscale);
        } else {
            y->d = omq_fp32_to_fp16(0.f);
        }
    } else {
        float weight[16], sw[16];
        int8_t Ls[16];
        float sumx2 = 0;
        for (int j = 0; j < OMQ_QK_K; ++j) sumx2 += x[j] * x[j];
        const float sigma2 = 2 * sumx2 / OMQ_QK_K;
        for (int j = 0; j < 16; ++j) {
            for (int l = 0; l < 16; ++l)
                weight[l] = qw[16 * j + l] * omq_sqrtf(sigma2 + x[16 * j + l] * x[16 * j + l]);
            float sumw = 0;
            for (int l = 0; l < 16; ++l) sumw += weight[l];
            sw[j] = sumw;
            scales[j] = omq_make_qx_quants(16, 4, x + 16 * j, L + 16 * j, weight);
        }
        const float d_block = omq_make_qx_quants(16, 32, scales, Ls, sw);
        for (int j = 0; j < 16; ++j) q3_K_set_scale(y, j, Ls[j]);
        y->d = omq_fp32_to_fp16(d_block);
    }
    const float d_all = omq_fp16_to_fp32(y->d);
    for (int j = 0; j < 16; ++j) {
        const int8_t sc = (int8_t)omq_q3_K_scale(y->scales, j);
        const float d = d_all * sc;
        if (!d) continue;
        for (int ii = 0; ii < 16; ++ii) {
            const int l = omq_nearest_int(x[16 * j + ii] / d);
            L[16 * j + ii] = (int8_t)(omq_clamp_i(l, -4, 3) + 4);
        }
    }
    /* the high bit of value j goes to bit j/32 of hmask[j%32] */
    __builtin_memset(y->hmask, 0, sizeof y->hmask);
    uint8_t U[OMQ_QK_K];
    for (int j = 0; j < OMQ_QK_K; ++j) {
        int l = L[j];
        if (l > 3) {
            y->hmask[j % 32] |= (uint8_t)(1u << (j / 32));
            l -= 4;
        }
        U[j] = (uint8_t)l;
    }
    omq_pack_2bit(y->qs, U);
}

/* device form: the 8 quants' low bits and high-mask bits as words of bytes (the block is
 * 2-aligned: omq_ld_run joins aligned words), value + 4 = low | high << 2 a word at a time */
OMQ_DEVICE_FORM void q3_K_dequantize_group_words(const omq_block_q3_K *x, int g, float *y) {
    const int v = 8 * g, n = v >> 7, w = v & 127, j = w >> 5, r = w & 31;
    const float dl = omq_fp16_scale(x->d) * omq_q3_K_scale(x->scales, 8 * n + 2 * j + (r >= 16));
    uint32_t q[2], hm[2];
    omq_ld_run(x->qs + 32 * n + r, 0, 2, q);
    omq_ld_run(x->hmask + r, 0, 2, hm);
    for (int i = 0; i < 8; ++i) {
        const uint32_t t = ((q[i / 4] >> (2 * j)) & 0x03030303u) | ((hm[i / 4] >> (4 * n + j)) & 0x01010101u) << 2;
        y[i] = dl * ((int)((t >> 8 * (i % 4)) & 0xFF) - 4);
    }
}

/* as Q2_K's layout; the high bit of value v is bit 4n + j of hmask[r] */
#pragma omp declare variant(q3_K_dequantize_group_words) match(device = {kind(gpu)})
static inline void q3_K_dequantize_group(OMQ_NOESCAPE const omq_block_q3_K *x, int g, OMQ_NOESCAPE float *y) {
    const int v = 8 * g, n = v >> 7, w = v & 127, j = w >> 5, r = w & 31;
    const float dl = omq_fp16_to_fp32(x->d) * omq_q3_K_scale(x->scales, 8 * n + 2 * j + (r >= 16));
    const uint8_t m = (uint8_t)(1u << (4 * n + j));
    const uint8_t *q = x->qs + 32 * n + r, *hm = x->hmask + r;
    for (int i = 0; i < 8; ++i) y[i] = dl * (((q[i] >> (2 * j)) & 3) - ((hm[i] & m) ? 0 : 4));
}

static inline void q3_K_dequantize_block(OMQ_NOESCAPE const omq_block_q3_K *x, OMQ_NOESCAPE float *y) {
    const float d_all = omq_fp16_to_fp32(x->d);
    const uint8_t *q = x->qs;
    const uint8_t *hm = x->hmask;
    uint8_t m = 1;
    int is = 0;
    for (int n = 0; n < OMQ_QK_K; n += 128) {
        for (int shift = 0; shift < 8; shift += 2) {
            for (int half = 0; half < 32; half += 16) {
                const float dl = d_all * omq_q3_K_scale(x->scales, is++);
                for (int l = 0; l < 16; ++l)
                    *y++ = dl * (((q[l + half] >> shift) & 3) - ((hm[l + half] & m) ? 0 : 4));
            }
            m <<= 1;
        }
        q += 32;
    }
}
/* value d * sc * (low2 - 4 * !high) per group of 16, with signed 6-bit scales */
static inline void q3_K_vec_dot_q8_1(const omq_block_q3_K *w, const omq_block_q8_1 *x, int64_t xs,
                                     int nc, float *acc) {
    int8_t q[OMQ_QK_K];
    int sc[16];
    for (int v = 0; v < OMQ_QK_K; ++v) {
        const int low = (w->qs[32 * (v / 128) + v % 32] >> (2 * ((v % 128) / 32))) & 3;
        const int high = (w->hmask[v % 32] >> (v / 32)) & 1;
        q[v] = (int8_t)(low - 4 + 4 * high);
    }
    for (int g = 0; g < 16; ++g) sc[g] = omq_q3_K_scale(w->scales, g);
    omq_vdot_k16(q, sc, omq_fp16_scale(w->d), x, xs, nc, acc);
}

/* group g: Q2_K's low bits, high bits in bit g of hmask[..] (quants low + 4 * high - 4, as int8
 * bytes), scales 2g and 2g + 1 for its halves: matmul.h's group words */
static inline void q3_K_group_words(const omq_block_q3_K *w, int g, OMQ_NOESCAPE uint32_t *q,
                                    OMQ_NOESCAPE omq_group_coef *cf) {
    const uint8_t *qs = w->qs + 32 * (g >> 2);
    const int shift = 2 * (g & 3);
    uint32_t lw[8], hw[8];
    omq_ld_run_a2(qs, 8, lw);
    omq_ld_run_a2(w->hmask, 8, hw);
    for (int i = 0; i < 8; ++i) {
        const uint32_t low = (lw[i] >> shift) & 0x03030303u;
        const uint32_t high = (hw[i] >> g) & 0x01010101u;
        q[i] = omq_sub_bytes(low | high << 2, 4);
    }
    *cf = (omq_group_coef){omq_fp16_scale(w->d), 0.0f,
                           {omq_q3_K_scale(w->scales, 2 * g), omq_q3_K_scale(w->scales, 2 * g + 1)},
                           {0, 0}};
}

#pragma omp end declare target

OMQ_DEFINE_CODEC(q3_K, omq_block_q3_K, OMQ_QK_K)
OMQ_DEFINE_MATMUL_GROUPS(q3_K, omq_block_q3_K, OMQ_QK_K, OMQ_GF_HALVES)
