/* Pieces shared by the K-quant codecs: the 6-bit scale/min packing (reading it: kscales.h)
 * and the scale search of Q4_K and Q5_K, and the 2-bit quant packing of Q2_K and Q3_K. */
#ifndef OMQ_KQUANT_H
#define OMQ_KQUANT_H

#include <stdint.h>

#include "blocks.h"
#include "kscales.h"
#include "search.h"

#pragma omp declare target

/* The inverse, for j = 0..7 in increasing order (later j OR into bytes earlier j wrote). */
static inline void omq_put_scale_min_k4(int j, OMQ_NOESCAPE uint8_t *q, uint8_t ls, uint8_t lm) {
    if (j < 4) {
        q[j] = ls;
        q[j + 4] = lm;
    } else {
        q[j + 4] = (uint8_t)((ls & 0xF) | ((lm & 0xF) << 4));
        q[j - 4] |= (uint8_t)((ls >> 4) << 6);
        q[j - 0] |= (uint8_t)((lm >> 4) << 6);
    }
}

/* 256 values of 2 bits: byte l of each 32-byte half holds values l, l+32, l+64, l+96. */
static inline void omq_pack_2bit(OMQ_NOESCAPE uint8_t *qs, OMQ_NOESCAPE const uint8_t *L) {
    for (int j = 0; j < OMQ_QK_K; j += 128)
        for (int l = 0; l < 32; ++l)
            qs[j / 4 + l] = (uint8_t)(L[j + l] | (L[j + l + 32] << 2) | (L[j + l + 64] << 4) |
                                      (L[j + l + 96] << 6));
}

/* The sub-block scales and mins of Q4_K and Q5_K (nmax 15 or 31): ggml's reference search
 * without weights, its imatrix search (make_qkx3 + make_qp) with them. Fills y's d, dmin,
 * scales and L (the quants before the final requantization). */
static inline void omq_kquant_scales_mins(OMQ_NOESCAPE const float *x, OMQ_NOESCAPE const float *qw, int nmax,
                                          float ref_rmin, int ref_nstep, OMQ_NOESCAPE uint8_t *L,
                                          OMQ_NOESCAPE uint16_t *yd, OMQ_NOESCAPE uint16_t *ydmin, OMQ_NOESCAPE uint8_t *yscales) {
    uint8_t Laux[32];
    float weights[32], mins[8], scales[8];
    if (!qw) {
        float max_scale = 0, max_min = 0;
        for (int j = 0; j < 8; ++j) {
            float sum_x2 = 0;
            for (int l = 0; l < 32; ++l) sum_x2 += x[32 * j + l] * x[32 * j + l];
            const float av_x = omq_sqrtf(sum_x2 / 32);
            for (int l = 0; l < 32; ++l) weights[l] = av_x + omq_fabsf(x[32 * j + l]);
            scales[j] = omq_make_qkx2_quants(32, nmax, x + 32 * j, weights, L + 32 * j, &mins[j],
                                             Laux, ref_rmin, 0.1f, ref_nstep, 0);
            if (scales[j] > max_scale) max_scale = scales[j];
            if (mins[j] > max_min) max_min = mins[j];
        }
        const float inv_scale = max_scale > 0 ? 63.f / max_scale : 0.f;
        const float inv_min = max_min > 0 ? 63.f / max_min : 0.f;
        for (int j = 0; j < 8; ++j) {
            uint8_t ls = (uint8_t)omq_nearest_int(inv_scale * scales[j]);
            uint8_t lm = (uint8_t)omq_nearest_int(inv_min * mins[j]);
            ls = ls < 63 ? ls : 63;
            lm = lm < 63 ? lm : 63;
            omq_put_scale_min_k4(j, yscales, ls, lm);
        }
        *yd = omq_fp32_to_fp16(max_scale / 63.f);
        *ydmin = omq_fp32_to_fp16(max_min / 63.f);
        return;
    }
    float sw[8];
    uint8_t Ls[8], Lm[8];
    float sum_x2 = 0;
    for (int l = 0; l < OMQ_QK_K; ++l) sum_x2 += x[l] * x[l];
    const float sigma2 = 2 * sum_x2 / OMQ_QK_K;
    for (int j = 0; j < 8; ++j) {
        for (int l = 0; l < 32; ++l)
            weights[l] = qw[32 * j + l] * omq_sqrtf(sigma2 + x[32 * j + l] * x[32 * j + l]);
        float sumw = 0;
        for (int l = 0; l < 32; ++l) sumw += weights[l];
        sw[j] = sumw;
        scales[j] = omq_make_qkx3_quants(32, nmax, x + 32 * j, weights, L + 32 * j, &mins[j], Laux,
                                         -0.9f, 0.05f, 36, 0);
    }
    const float d_block = omq_make_qp_quants(8, 63, scales, Ls, sw);
    const float m_block = omq_make_qp_quants(8, 63, mins, Lm, sw);
    for (int j = 0; j < 8; ++j) {
        /* make_qp_quants keeps them <= 63; ggml's Q5_K clamps again, which changes nothing */
        omq_put_scale_min_k4(j, yscales, Ls[j], Lm[j]);
    }
    *yd = omq_fp32_to_fp16(d_block);
    *ydmin = omq_fp32_to_fp16(m_block);
}

/* Final quants from the stored (rounded) scales: L = nearest((x + dmin*m) / (d*sc)). */
static inline void omq_kquant_requantize(OMQ_NOESCAPE const float *x, uint16_t yd, uint16_t ydmin,
                                         OMQ_NOESCAPE const uint8_t *yscales, int nmax, OMQ_NOESCAPE uint8_t *L) {
    for (int j = 0; j < 8; ++j) {
        uint8_t sc, m;
        omq_get_scale_min_k4(j, yscales, &sc, &m);
        const float d = omq_fp16_to_fp32(yd) * sc;
        if (!d) continue;
        const float dm = omq_fp16_to_fp32(ydmin) * m;
        for (int ii = 0; ii < 32; ++ii) {
            const int l = omq_nearest_int((x[32 * j + ii] + dm) / d);
            L[32 * j + ii] = (uint8_t)omq_clamp_i(l, 0, nmax);
        }
    }
}

#pragma omp end declare target

#endif /* OMQ_KQUANT_H */
