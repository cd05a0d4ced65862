/* Q2_K: 256 values in 16 groups of 16; per group a 4-bit scale and a 4-bit min (of the
 * fp16 super-scales d and dmin); 2-bit quants meaning d*sc*q - dmin*m. */
#include "codec.h"
#include "matmul.h"
#include "kquant.h"
#include "search.h"

#pragma omp declare target
static inline void q2_K_quantize_block(OMQ_NOESCAPE const float *x, OMQ_NOESCAPE omq_block_q2_K *y, OMQ_NOESCAPE const float *qw,
                                       float sigma2_unused) {
    (void)sigma2_unused;
    uint8_t L[OMQ_QK_K], Laux[16];
    float weight[16], mins[16], scales[16];
    float dm, mm;
    if (!qw) {
        float max_scale = 0, max_min = 0;
        for (int j = 0; j < 16; ++j) {
            for (int l = 0; l < 16; ++l) weight[l] = omq_fabsf(x[16 * j + l]);
            scales[j] = omq_make_qkx2_quants(16, 3, x + 16 * j, weight, L + 16 * j, &mins[j], Laux,
                                             -0.5f, 0.1f, 15, 1);
            if (scales[j] > max_scale) max_scale = scales[j];
            if (mins[j] > max_min) max_min = mins[j];
        }
        if (max_scale > 0) {
            const float iscale = 15.f / max_scale;
            for (int j = 0; j < 16; ++j) y->scales[j] = (uint8_t)omq_nearest_int(iscale * scales[j]);
            y->d = omq_fp32_to_fp16(max_scale / 15.f);
        } else {
            for (int j = 0; j < 16; ++j) y->scales[j] = 0;
            y->d = omq_fp32_to_fp16(0.f);
        }
        if (max_min > 0) {
            const float iscale = 15.f / max_min;
            for (int j = 0; j < 16; ++j) y->scales[j] |= (uint8_t)(omq_nearest_int(iscale * mins[j]) << 4);
            y->dmin = omq_fp32_to_fp16(max_min / 15.f);
        } else {
            y->dmin = omq_fp32_to_fp16(0.f);
        }
    } else {
        float sw[16];
        uint8_t Ls[16], Lm[16];
        float sumx2 = 0;
        for (int j = 0; j < OMQ_QK_K; ++j) sumx2 += x[j] * x[j];
        const float sigma2 = sumx2 / OMQ_QK_K;
        for (int j = 0; j < 16; ++j) {
            sw[j] = 0;
            for (int l = 0; l < 16; ++l)
                weight[l] = qw[16 * j + l] * omq_sqrtf(sigma2 + x[16 * j + l] * x[16 * j + l]);
            for (int l = 0; l < 16; ++l) sw[j] += weight[l];
            scales[j] = omq_make_qkx3_quants(16, 3, x + 16 * j, weight, L + 16 * j, &mins[j], Laux,
                                             -0.9f, 0.05f, 36, 0);
        }
        dm = omq_make_qp_quants(16, 15, scales, Ls, sw);
        mm = omq_make_qp_quants(16, 15, mins, Lm, sw);
        y->d = omq_fp32_to_fp16(dm);
        y->dmin = omq_fp32_to_fp16(mm);
        for (int j = 0; j < 16; ++j) y->scales[j] = (uint8_t)(Ls[j] | (Lm[j] << 4));
    }
    dm = omq_fp16_to_fp32(y->d);
    mm = omq_fp16_to_fp32(y->dmin);
    for (int j = 0; j < 16; ++j) {
        const float d = dm * (y->scales[j] & 0xF);
        if (!d) continue;
        const float m = mm * (y->scales[j] >> 4);
        for (int ii = 0; ii < 16; ++ii) {
            const int l = omq_nearest_int((x[16 * j + ii] + m) / d);
            L[16 * j + ii] = (uint8_t)omq_clamp_i(l, 0, 3);
        }
    }
    omq_pack_2bit(y->qs, L);
}

/* device form: the 8 quants' bytes as two words (4-byte loads; the type's alignment) */
OMQ_DEVICE_FORM void q2_K_dequantize_group_words(const omq_block_q2_K *x, int g, float *y) {
    const int v = 8 * g, n = v >> 7, w = v & 127, j = w >> 5, r = w & 31;
    const uint8_t sc = x->scales[8 * n + 2 * j + (r >= 16)];
    const float dl = omq_fp16_scale(x->d) * (sc & 0xF), ml = omq_fp16_scale(x->dmin) * (sc >> 4);
    uint32_t q[2];
    omq_ld_run(x->qs + 32 * n + r, 1, 2, q);
    for (int i = 0; i < 8; ++i) y[i] = dl * (int)((q[i / 4] >> (8 * (i % 4) + 2 * j)) & 3) - ml;
}

/* value v: half n = v / 128, w = v % 128, shift step j = w / 32, r = w % 32: bits 2j of
 * qs[32n + r], scale byte 8n + 2j + (r >= 16); a group of 8 shares one scale */
#pragma omp declare variant(q2_K_dequantize_group_words) match(device = {kind(gpu)})
static inline void q2_K_dequantize_group(OMQ_NOESCAPE const omq_block_q2_K *x, int g, OMQ_NOESCAPE float *y) {
    const int v = 8 * g, n = v >> 7, w = v & 127, j = w >> 5, r = w & 31;
    const uint8_t sc = x->scales[8 * n + 2 * j + (r >= 16)];
    const float dl = omq_fp16_to_fp32(x->d) * (sc & 0xF), ml = omq_fp16_to_fp32(x->dmin) * (sc >> 4);
    const uint8_t *q = x->qs + 32 * n + r;
    for (int i = 0; i < 8; ++i) y[i] = dl * ((q[i] >> (2 * j)) & 3) - ml;
}

static inline void q2_K_dequantize_block(OMQ_NOESCAPE const omq_block_q2_K *x, OMQ_NOESCAPE float *y) {
    const float d = omq_fp16_to_fp32(x->d);
    const float min = omq_fp16_to_fp32(x->dmin);
    const uint8_t *q = x->qs;
    int is = 0;
    for (int n = 0; n < OMQ_QK_K; n += 128) {
        for (int shift = 0; shift < 8; shift += 2) {
            for (int half = 0; half < 32; half += 16) {
                const uint8_t sc = x->scales[is++];
                const float dl = d * (sc & 0xF), ml = min * (sc >> 4);
                for (int l = 0; l < 16; ++l) *y++ = dl * ((q[l + half] >> shift) & 3) - ml;
            }
        }
        q += 32;
    }
}
/* value d * sc * q - dmin * m per group of 16: two integer dots and two sums of q8 per Q8_1
 * block, d8 applied per block, d and dmin once */
static inline void q2_K_vec_dot_q8_1(const omq_block_q2_K *w, const omq_block_q8_1 *x, int64_t xs,
                                     int nc, float *acc) {
    int8_t q[OMQ_QK_K];
    int sc[16], mn[16];
    for (int v = 0; v < OMQ_QK_K; ++v) /* half v/128, bit pair (v%128)/32, byte v%32 */
        q[v] = (int8_t)((w->qs[32 * (v / 128) + v % 32] >> (2 * ((v % 128) / 32))) & 3);
    for (int g = 0; g < 16; ++g) {
        sc[g] = w->scales[g] & 0xF;
        mn[g] = w->scales[g] >> 4;
    }
    omq_vdot_k16_min(q, sc, mn, omq_fp16_scale(w->d), omq_fp16_scale(w->dmin), x, xs, nc, acc);
}

/* group g = 4n + j (values 32g..32g+31: bit pair j of qs[32n ..], scale bytes 2g and 2g + 1 for
 * its halves, value d sc q - dmin mn) as matmul.h's group words */
static inline void q2_K_group_words(const omq_block_q2_K *w, int g, OMQ_NOESCAPE uint32_t *q,
                                    OMQ_NOESCAPE omq_group_coef *cf) {
    const uint8_t *qs = w->qs + 32 * (g >> 2);
    const int shift = 2 * (g & 3);
    for (int i = 0; i < 8; ++i) q[i] = (omq_ld32_a4(qs + 4 * i) >> shift) & 0x03030303u;
    *cf = (omq_group_coef){omq_fp16_scale(w->d), omq_fp16_scale(w->dmin),
                           {w->scales[2 * g] & 0xF, w->scales[2 * g + 1] & 0xF},
                           {w->scales[2 * g] >> 4, w->scales[2 * g + 1] >> 4}};
}

#pragma omp end declare target

OMQ_DEFINE_CODEC(q2_K, omq_block_q2_K, OMQ_QK_K)
OMQ_DEFINE_MATMUL_GROUPS(q2_K, omq_block_q2_K, OMQ_QK_K, OMQ_GF_HALVES | OMQ_GF_MIN)
