/* The scale searches of ggml's quantizers (ggml-quants.c: make_qx_quants, make_q3_quants,
 * make_qkx2_quants, make_qkx3_quants, make_qp_quants), with the same float operations in
 * the same order so that results are bit-identical. Files that include this must be
 * compiled with -ffp-contract=off (CMake does so for offload/). */
#ifndef OMQ_SEARCH_H
#define OMQ_SEARCH_H

#include <stdint.h>
#include <string.h>

#include "numeric.h"

#define OMQ_GROUP_MAX_EPS 1e-15f

#pragma omp declare target

static inline int omq_clamp_i(int v, int lo, int hi) { return v < lo ? lo : v > hi ? hi : v; }

/* Symmetric quantization of n values to [-nmax, nmax-1] (stored + nmax in L), searching
 * 19 candidate scales for the best weighted least-squares fit. Weights: qw, or x^2 when
 * qw is NULL (ggml's rmse_type 1, the only mode its quantizers use). Returns the scale. */
static inline float omq_make_qx_quants(int n, int nmax, OMQ_NOESCAPE const float *x, OMQ_NOESCAPE int8_t *L,
                                       OMQ_NOESCAPE const float *qw) {
    float max = 0, amax = 0;
    for (int i = 0; i < n; ++i) {
        const float ax = omq_fabsf(x[i]);
        if (ax > amax) {
            amax = ax;
            max = x[i];
        }
    }
    if (amax < OMQ_GROUP_MAX_EPS) {
        for (int i = 0; i < n; ++i) L[i] = 0;
        return 0.f;
    }
    float iscale = -nmax / max;
    float sumlx = 0, suml2 = 0;
    for (int i = 0; i < n; ++i) {
        int l = omq_clamp_i(omq_nearest_int(iscale * x[i]), -nmax, nmax - 1);
        L[i] = (int8_t)(l + nmax);
        const float w = qw ? qw[i] : x[i] * x[i];
        sumlx += w * x[i] * l;
        suml2 += w * l * l;
    }
    float scale = suml2 ? sumlx / suml2 : 0.0f;
    float best = scale * sumlx;
    for (int is = -9; is <= 9; ++is) {
        if (is == 0) continue;
        iscale = -(nmax + 0.1f * is) / max;
        sumlx = suml2 = 0;
        for (int i = 0; i < n; ++i) {
            const int l = omq_clamp_i(omq_nearest_int(iscale * x[i]), -nmax, nmax - 1);
            const float w = qw ? qw[i] : x[i] * x[i];
            sumlx += w * x[i] * l;
            suml2 += w * l * l;
        }
        if (suml2 > 0 && sumlx * sumlx > best * suml2) {
            for (int i = 0; i < n; ++i) {
                const int l = omq_nearest_int(iscale * x[i]);
                L[i] = (int8_t)(nmax + omq_clamp_i(l, -nmax, nmax - 1));
            }
            scale = sumlx / suml2;
            best = scale * sumlx;
        }
    }
    return scale;
}

/* Q3_K's symmetric search (ggml make_q3_quants with do_rmse): start from the max-based
 * scale, then move single quants while the x^2-weighted fit improves (at most 5 sweeps). */
static inline float omq_make_q3_quants(int n, int nmax, OMQ_NOESCAPE const float *x, OMQ_NOESCAPE int8_t *L) {
    float max = 0, amax = 0;
    for (int i = 0; i < n; ++i) {
        const float ax = omq_fabsf(x[i]);
        if (ax > amax) {
            amax = ax;
            max = x[i];
        }
    }
    if (amax < OMQ_GROUP_MAX_EPS) {
        for (int i = 0; i < n; ++i) L[i] = 0;
        return 0.f;
    }
    const float iscale = -nmax / max;
    float sumlx = 0, suml2 = 0;
    for (int i = 0; i < n; ++i) {
        const int l = omq_clamp_i(omq_nearest_int(iscale * x[i]), -nmax, nmax - 1);
        L[i] = (int8_t)l;
        const float w = x[i] * x[i];
        sumlx += w * x[i] * l;
        suml2 += w * l * l;
    }
    for (int itry = 0; itry < 5; ++itry) {
        int n_changed = 0;
        for (int i = 0; i < n; ++i) {
            const float w = x[i] * x[i];
            float slx = sumlx - w * x[i] * L[i];
            if (slx > 0) {
                float sl2 = suml2 - w * L[i] * L[i];
                const int new_l = omq_clamp_i(omq_nearest_int(x[i] * sl2 / slx), -nmax, nmax - 1);
                if (new_l != L[i]) {
                    slx += w * x[i] * new_l;
                    sl2 += w * new_l * new_l;
                    if (sl2 > 0 && slx * slx * suml2 > sumlx * sumlx * sl2) {
                        L[i] = (int8_t)new_l;
                        sumlx = slx;
                        suml2 = sl2;
                        ++n_changed;
                    }
                }
            }
        }
        if (!n_changed) break;
    }
    for (int i = 0; i < n; ++i) L[i] = (int8_t)(L[i] + nmax);
    return suml2 > 0.0f ? sumlx / suml2 : 0.0f;
}

/* Asymmetric quantization x ~ scale * L - the_min with L in [0, nmax]: a grid of nstep+1
 * candidate scales, each refined by a weighted least-squares fit of scale and min; keeps
 * the one of least weighted error (|.| if use_mad, else squared). Weights: `weights`, or
 * x^2 when weights is NULL and `null_weights_ok` (make_qkx3_quants); make_qkx2_quants
 * always has weights and returns on max == min, make_qkx3 on max <= min. */
static inline float omq_make_qkx_quants(int n, int nmax, OMQ_NOESCAPE const float *x, OMQ_NOESCAPE const float *weights,
                                        OMQ_NOESCAPE uint8_t *L, OMQ_NOESCAPE float *the_min, OMQ_NOESCAPE uint8_t *Laux, float rmin,
                                        float rdelta, int nstep, int use_mad) {
    float min = x[0], max = x[0];
    float sum_w = weights ? weights[0] : x[0] * x[0];
    float sum_x = sum_w * x[0];
    for (int i = 1; i < n; ++i) {
        if (x[i] < min) min = x[i];
        if (x[i] > max) max = x[i];
        const float w = weights ? weights[i] : x[i] * x[i];
        sum_w += w;
        sum_x += w * x[i];
    }
    if (min > 0) min = 0;
    if (max <= min) { /* max < min cannot happen once min <= x[0] <= max */
        for (int i = 0; i < n; ++i) L[i] = 0;
        *the_min = -min;
        return 0.f;
    }
    float iscale = nmax / (max - min);
    float scale = 1 / iscale;
    float best_error = 0;
    for (int i = 0; i < n; ++i) {
        const int l = omq_nearest_int(iscale * (x[i] - min));
        L[i] = (uint8_t)omq_clamp_i(l, 0, nmax);
        float diff = scale * L[i] + min - x[i];
        diff = use_mad ? omq_fabsf(diff) : diff * diff;
        const float w = weights ? weights[i] : x[i] * x[i];
        best_error += w * diff;
    }
    if (nstep < 1) {
        *the_min = -min;
        return scale;
    }
    for (int is = 0; is <= nstep; ++is) {
        iscale = (rmin + rdelta * is + nmax) / (max - min);
        float sum_l = 0, sum_l2 = 0, sum_xl = 0;
        for (int i = 0; i < n; ++i) {
            const int l = omq_clamp_i(omq_nearest_int(iscale * (x[i] - min)), 0, nmax);
            Laux[i] = (uint8_t)l;
            const float w = weights ? weights[i] : x[i] * x[i];
            sum_l += w * l;
            sum_l2 += w * l * l;
            sum_xl += w * l * x[i];
        }
        const float D = sum_w * sum_l2 - sum_l * sum_l;
        if (D > 0) {
            float this_scale = (sum_w * sum_xl - sum_x * sum_l) / D;
            float this_min = (sum_l2 * sum_x - sum_l * sum_xl) / D;
            if (this_min > 0) {
                this_min = 0;
                this_scale = sum_xl / sum_l2;
            }
            float cur_error = 0;
            for (int i = 0; i < n; ++i) {
                float diff = this_scale * Laux[i] + this_min - x[i];
                diff = use_mad ? omq_fabsf(diff) : diff * diff;
                const float w = weights ? weights[i] : x[i] * x[i];
                cur_error += w * diff;
            }
            if (cur_error < best_error) {
                for (int i = 0; i < n; ++i) L[i] = Laux[i];
                best_error = cur_error;
                scale = this_scale;
                min = this_min;
            }
        }
    }
    *the_min = -min;
    return scale;
}

/* ggml's make_qkx2_quants (weights required) and make_qkx3_quants (NULL weights mean x^2).
 * They differ only in the degenerate-range test, which gives the same result: after
 * `if (min > 0) min = 0`, min <= x[0] <= max, so max <= min exactly when max == min. */
#define omq_make_qkx2_quants omq_make_qkx_quants
#define omq_make_qkx3_quants omq_make_qkx_quants

/* Positive scales (or mins) of a super-block quantized to [0, nmax] under weights qw:
 * 9 candidate scales, then single-quant moves (ggml make_qp_quants). L is uint8 as in
 * ggml, including its wrap-around for the first, unclamped rounding. */
static inline float omq_make_qp_quants(int n, int nmax, OMQ_NOESCAPE const float *x, OMQ_NOESCAPE uint8_t *L,
                                       OMQ_NOESCAPE const float *qw) {
    float max = 0;
    for (int i = 0; i < n; ++i) max = max > x[i] ? max : x[i];
    if (max < OMQ_GROUP_MAX_EPS) {
        for (int i = 0; i < n; ++i) L[i] = 0;
        return 0.f;
    }
    float iscale = nmax / max;
    for (int i = 0; i < n; ++i) L[i] = (uint8_t)omq_nearest_int(iscale * x[i]);
    const float scale = 1 / iscale;
    float best_mse = 0;
    for (int i = 0; i < n; ++i) {
        const float diff = x[i] - scale * L[i];
        best_mse += qw[i] * diff * diff;
    }
    for (int is = -4; is <= 4; ++is) {
        if (is == 0) continue;
        const float iscale_is = (0.1f * is + nmax) / max;
        const float scale_is = 1 / iscale_is;
        float mse = 0;
        for (int i = 0; i < n; ++i) {
            const int l = omq_min_i(nmax, omq_nearest_int(iscale_is * x[i]));
            const float diff = x[i] - scale_is * l;
            mse += qw[i] * diff * diff;
        }
        if (mse < best_mse) {
            best_mse = mse;
            iscale = iscale_is;
        }
    }
    float sumlx = 0, suml2 = 0;
    for (int i = 0; i < n; ++i) {
        const int l = omq_min_i(nmax, omq_nearest_int(iscale * x[i]));
        L[i] = (uint8_t)l;
        sumlx += qw[i] * x[i] * l;
        suml2 += qw[i] * l * l;
    }
    for (int itry = 0; itry < 5; ++itry) {
        int n_changed = 0;
        for (int i = 0; i < n; ++i) {
            const float w = qw[i];
            float slx = sumlx - w * x[i] * L[i];
            float sl2 = suml2 - w * L[i] * L[i];
            if (slx > 0 && sl2 > 0) {
                const int new_l = omq_min_i(nmax, omq_nearest_int(x[i] * sl2 / slx));
                if (new_l != L[i]) {
                    slx += w * x[i] * new_l;
                    sl2 += w * new_l * new_l;
                    if (slx * slx * suml2 > sumlx * sumlx * sl2) {
                        L[i] = (uint8_t)new_l;
                        sumlx = slx;
                        suml2 = sl2;
                        ++n_changed;
                    }
                }
            }
        }
        if (!n_changed) break;
    }
    return suml2 > 0.0f ? sumlx / suml2 : 0.0f;
}

#pragma omp end declare target

#endif /* OMQ_SEARCH_H */
