/* The K-quants' packed sub-block scales, each layout in one place: Q4_K/Q5_K's 8 scales and
 * 8 minimums of 6 bits in 12 bytes, Q3_K's 16 signed scales of 6 bits in 12 bytes. Two forms
 * of each: one group's value (the device group kernels, the codecs) and all of a block's at
 * once in word arithmetic (little-endian, as GGUF; the host microkernels of src/cpu/), which
 * give the same values. Shared by offload/ and src/cpu/, so free of the codecs' other
 * headers. */
#ifndef OMQ_KSCALES_H
#define OMQ_KSCALES_H

#include <stdint.h>
#include <string.h>

#include "numeric.h"

#pragma omp declare target

/* Scale and min j (0..7) of a Q4_K/Q5_K block, 6 bits each, out of 12 bytes. */
static inline void omq_get_scale_min_k4(int j, OMQ_NOESCAPE const uint8_t *q, OMQ_NOESCAPE uint8_t *d, OMQ_NOESCAPE uint8_t *m) {
    if (j < 4) {
        *d = q[j] & 63;
        *m = q[j + 4] & 63;
    } else {
        *d = (uint8_t)((q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4));
        *m = (uint8_t)((q[j + 4] >> 4) | ((q[j - 0] >> 6) << 4));
    }
}

/* All 8 groups' scales and minimums (the matrix products' form). */
static inline void omq_scales_mins_k4(OMQ_NOESCAPE const uint8_t *scales, OMQ_NOESCAPE int *sc, OMQ_NOESCAPE int *mn) {
    for (int g = 0; g < 8; ++g) {
        uint8_t s, m;
        omq_get_scale_min_k4(g, scales, &s, &m);
        sc[g] = s;
        mn[g] = m;
    }
}

/* The same 8 scales and 8 minimums as bytes, four at a time */
static inline void omq_scales_mins_k4_words(OMQ_NOESCAPE const uint8_t *scales, OMQ_NOESCAPE uint8_t *sc,
                                            OMQ_NOESCAPE uint8_t *mn) {
    uint32_t u[3], a[2], m[2];
    memcpy(u, scales, 12);
    a[0] = u[0] & 0x3f3f3f3f;
    a[1] = (u[2] & 0x0f0f0f0f) | (((u[0] >> 6) & 0x03030303) << 4);
    m[0] = u[1] & 0x3f3f3f3f;
    m[1] = ((u[2] >> 4) & 0x0f0f0f0f) | (((u[1] >> 6) & 0x03030303) << 4);
    memcpy(sc, a, 8);
    memcpy(mn, m, 8);
}

/* Scale j (0..15) of a Q3_K block: low 4 bits from byte j % 8 (its high nibble for j >= 8),
 * high 2 bits from bytes 8..11; stored with an offset of 32. */
static inline int omq_q3_K_scale(OMQ_NOESCAPE const uint8_t *s, int j) {
    const int lo = j < 8 ? s[j] & 0xF : s[j - 8] >> 4;
    return (lo | (((s[8 + j % 4] >> (2 * (j / 4))) & 3) << 4)) - 32;
}

/* All 16 Q3_K scales as bytes 0..63, four at a time (the offset 32 still in them) */
static inline void omq_q3_K_scales_words(OMQ_NOESCAPE const uint8_t *s, OMQ_NOESCAPE uint8_t *sc) {
    uint32_t a[4], t;
    memcpy(a, s, 12);
    t = a[2];
    a[2] = ((a[0] >> 4) & 0x0f0f0f0f) | (((t >> 4) & 0x03030303) << 4);
    a[3] = ((a[1] >> 4) & 0x0f0f0f0f) | (((t >> 6) & 0x03030303) << 4);
    a[0] = (a[0] & 0x0f0f0f0f) | (((t >> 0) & 0x03030303) << 4);
    a[1] = (a[1] & 0x0f0f0f0f) | (((t >> 2) & 0x03030303) << 4);
    memcpy(sc, a, 16);
}

#pragma omp end declare target

#endif
