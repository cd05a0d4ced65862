/* Q6_K: 256 values in 16 groups of 16 with int8 scales of one fp16 d; 6-bit quants (low
 * nibbles in ql, high 2 bits in qh) meaning d*sc*(q - 32). */
#define OMQ_DEQUANTIZE_GROUP_F16(T) T##_dequantize_group_f16 /* codec.h */
#include "codec.h"
#include "matmul.h"
#include "search.h"

#pragma omp declare target
static inline void q6_K_quantize_block(OMQ_NOESCAPE const float *x, OMQ_NOESCAPE omq_block_q6_K *y, OMQ_NOESCAPE const float *qw,
                                       float sigma2_unused) {
    (void)sigma2_unused;
    int8_t L[OMQ_QK_K];
    float scales[16];
    float max_scale = 0, max_abs_scale = 0;
    for (int ib = 0; ib < 16; ++ib) {
        const float scale = omq_make_qx_quants(16, 32, x + 16 * ib, L + 16 * ib, qw ? qw + 16 * ib : NULL);
        scales[ib] = scale;
        const float abs_scale = omq_fabsf(scale);
        if (abs_scale > max_abs_scale) {
            max_abs_scale = abs_scale;
            max_scale = scale;
        }
    }
    if (max_abs_scale < OMQ_GROUP_MAX_EPS) {
        __builtin_memset(y, 0, sizeof *y);
        return;
    }
    const float iscale = -128.f / max_scale;
    y->d = omq_fp32_to_fp16(1 / iscale);
    for (int ib = 0; ib < 16; ++ib) y->scales[ib] = (int8_t)omq_min_i(127, omq_nearest_int(iscale * scales[ib]));
    for (int j = 0; j < 16; ++j) {
        const float d = omq_fp16_to_fp32(y->d) * y->scales[j];
        if (!d) continue;
        for (int ii = 0; ii < 16; ++ii) {
            const int l = omq_nearest_int(x[16 * j + ii] / d);
            L[16 * j + ii] = (int8_t)(omq_clamp_i(l, -32, 31) + 32);
        }
    }
    uint8_t *ql = y->ql, *qh = y->qh;
    for (int j = 0; j < OMQ_QK_K; j += 128) {
        for (int l = 0; l < 32; ++l) {
            const uint8_t q1 = L[j + l + 0] & 0xF, q2 = L[j + l + 32] & 0xF;
            const uint8_t q3 = L[j + l + 64] & 0xF, q4 = L[j + l + 96] & 0xF;
            ql[l + 0] = (uint8_t)(q1 | (q3 << 4));
            ql[l + 32] = (uint8_t)(q2 | (q4 << 4));
            qh[l] = (uint8_t)((L[j + l] >> 4) | ((L[j + l + 32] >> 4) << 2) |
                              ((L[j + l + 64] >> 4) << 4) | ((L[j + l + 96] >> 4) << 6));
        }
        ql += 64;
        qh += 32;
    }
}

/* device form for f16 output (codec.h): the 8 quants' nibbles and high bit pairs as words of
 * bytes (2-aligned block: omq_ld_run joins aligned words), merged a word at a time */
OMQ_DEVICE_FORM void q6_K_dequantize_group_words(const omq_block_q6_K *x, int g, float *y) {
    const int v = 8 * g, n = v >> 7, k = (v >> 5) & 3, l = v & 31;
    const float d = omq_fp16_scale(x->d);
    const int8_t sc = x->scales[8 * n + l / 16 + 2 * k];
    uint32_t a[2], h[2];
    omq_ld_run(x->ql + 64 * n + l + 32 * (k & 1), 0, 2, a);
    omq_ld_run(x->qh + 32 * n + l, 0, 2, h);
    for (int i = 0; i < 8; ++i) {
        const uint32_t t = ((a[i / 4] >> (4 * (k >> 1))) & 0x0F0F0F0Fu) | ((h[i / 4] >> (2 * k)) & 0x03030303u) << 4;
        const int q = (int)((t >> 8 * (i % 4)) & 0xFF) - 32;
        y[i] = d * sc * q;
    }
}

/* value v: half n = v / 128, quarter k = (v % 128) / 32, l = v % 32: low nibble (k < 2) or
 * high nibble (k >= 2) of ql[64n + l + 32 (k & 1)], bits 2k of qh[32n + l], scale 8n + l/16 + 2k */
static inline void q6_K_dequantize_group(OMQ_NOESCAPE const omq_block_q6_K *x, int g, OMQ_NOESCAPE float *y) {
    const int v = 8 * g, n = v >> 7, k = (v >> 5) & 3, l = v & 31;
    const float d = omq_fp16_to_fp32(x->d);
    const int8_t sc = x->scales[8 * n + l / 16 + 2 * k];
    const uint8_t *ql = x->ql + 64 * n + l + 32 * (k & 1), *qh = x->qh + 32 * n + l;
    for (int i = 0; i < 8; ++i) {
        const int q = (int8_t)(((ql[i] >> (4 * (k >> 1))) & 0xF) | (((qh[i] >> (2 * k)) & 3) << 4)) - 32;
        y[i] = d * sc * q;
    }
}

#pragma omp declare variant(q6_K_dequantize_group_words) match(device = {kind(gpu)})
static inline void q6_K_dequantize_group_f16(OMQ_NOESCAPE const omq_block_q6_K *x, int g, OMQ_NOESCAPE float *y) {
    q6_K_dequantize_group(x, g, y);
}

static inline void q6_K_dequantize_block(OMQ_NOESCAPE const omq_block_q6_K *x, OMQ_NOESCAPE float *y) {
    const float d = omq_fp16_to_fp32(x->d);
    const uint8_t *ql = x->ql, *qh = x->qh;
    const int8_t *sc = x->scales;
    for (int n = 0; n < OMQ_QK_K; n += 128) {
        for (int l = 0; l < 32; ++l) {
            const int is = l / 16;
            const int q1 = (int8_t)((ql[l + 0] & 0xF) | (((qh[l] >> 0) & 3) << 4)) - 32;
            const int q2 = (int8_t)((ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4)) - 32;
            const int q3 = (int8_t)((ql[l + 0] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32;
            const int q4 = (int8_t)((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32;
            y[l + 0] = d * sc[is + 0] * q1;
            y[l + 32] = d * sc[is + 2] * q2;
            y[l + 64] = d * sc[is + 4] * q3;
            y[l + 96] = d * sc[is + 6] * q4;
        }
        y += 128;
        ql += 64;
        qh += 32;
        sc += 8;
    }
}
/* value d * sc * (q - 32) per group of 16, int8 scales */
static inline void q6_K_vec_dot_q8_1(const omq_block_q6_K *w, const omq_block_q8_1 *x, int64_t xs,
                                     int nc, float *acc) {
    int8_t q[OMQ_QK_K];
    int sc[16];
    for (int h = 0; h < 2; ++h) {
        const uint8_t *ql = w->ql + 64 * h, *qh = w->qh + 32 * h;
        int8_t *y = q + 128 * h;
        for (int l = 0; l < 32; ++l) {
            y[l] = (int8_t)(((ql[l] & 0xF) | (((qh[l] >> 0) & 3) << 4)) - 32);
            y[l + 32] = (int8_t)(((ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4)) - 32);
            y[l + 64] = (int8_t)(((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32);
            y[l + 96] = (int8_t)(((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32);
        }
    }
    for (int g = 0; g < 16; ++g) sc[g] = w->scales[g];
    omq_vdot_k16(q, sc, omq_fp16_scale(w->d), x, xs, nc, acc);
}

/* group g (values 32g..32g+31: half h = g / 4, quarter k = g % 4 of it, whose low 4 bits are
 * nibble k / 2 of ql[64 h + 32 (k % 2) ..] and high 2 bits bits 2k of qh[32 h ..]) as
 * matmul.h's group words */
static inline void q6_K_group_words(const omq_block_q6_K *w, int g, OMQ_NOESCAPE uint32_t *q,
                                    OMQ_NOESCAPE omq_group_coef *cf) {
    const int h = g / 4, k = g % 4;
    const uint8_t *ql = w->ql + 64 * h + 32 * (k & 1), *qh = w->qh + 32 * h;
    const int lshift = 4 * (k >> 1), hshift = 2 * k;
    uint32_t lw[8], hw[8];
    omq_ld_run_a2(ql, 8, lw);
    omq_ld_run_a2(qh, 8, hw);
    for (int i = 0; i < 8; ++i) {
        const uint32_t lo = (lw[i] >> lshift) & 0x0F0F0F0Fu;
        const uint32_t hi = (hw[i] >> hshift) & 0x03030303u;
        q[i] = omq_sub_bytes(lo | (hi << 4), 32);
    }
    *cf = (omq_group_coef){omq_fp16_scale(w->d), 0.0f, {w->scales[2 * g], w->scales[2 * g + 1]}, {0, 0}};
}

#pragma omp end declare target

OMQ_DEFINE_CODEC(q6_K, omq_block_q6_K, OMQ_QK_K)
OMQ_DEFINE_MATMUL_GROUPS(q6_K, omq_block_q6_K, OMQ_QK_K, OMQ_GF_HALVES)
