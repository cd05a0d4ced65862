/* GGML/GGUF block layouts. docs/formats.md documents each with byte offsets; the sizes
 * are pinned by static assertions so a layout can never drift. fp16 fields are stored
 * as raw uint16_t bits (IEEE binary16, little-endian). */
#ifndef OMQ_BLOCKS_H
#define OMQ_BLOCKS_H

#include <stdint.h>

#define OMQ_QK 32   /* values per block of the legacy formats */
#define OMQ_QK_K 256 /* values per super-block of the K-quants */

typedef struct { uint16_t d; uint8_t qs[16]; } omq_block_q4_0;
typedef struct { uint16_t d, m; uint8_t qs[16]; } omq_block_q4_1;
typedef struct { uint16_t d; uint8_t qh[4]; uint8_t qs[16]; } omq_block_q5_0;
typedef struct { uint16_t d, m; uint8_t qh[4]; uint8_t qs[16]; } omq_block_q5_1;
typedef struct { uint16_t d; int8_t qs[32]; } omq_block_q8_0;
typedef struct { uint16_t d, s; int8_t qs[32]; } omq_block_q8_1;

typedef struct {
    uint8_t scales[16]; /* low nibble: scale, high nibble: min, one pair per 16 values */
    uint8_t qs[64];     /* 2-bit quants */
    uint16_t d, dmin;
} omq_block_q2_K;

typedef struct {
    uint8_t hmask[32];  /* high bit of each 3-bit quant */
    uint8_t qs[64];     /* low 2 bits */
    uint8_t scales[12]; /* 16 scales of 6 bits */
    uint16_t d;
} omq_block_q3_K;

typedef struct {
    uint16_t d, dmin;
    uint8_t scales[12]; /* 8 scales and 8 mins of 6 bits */
    uint8_t qs[128];
} omq_block_q4_K;

typedef struct {
    uint16_t d, dmin;
    uint8_t scales[12];
    uint8_t qh[32];
    uint8_t qs[128];
} omq_block_q5_K;

typedef struct {
    uint8_t ql[128];
    uint8_t qh[64];
    int8_t scales[16];
    uint16_t d;
} omq_block_q6_K;

typedef struct {
    float d;
    int8_t qs[256];
    int16_t bsums[16]; /* sum of each group of 16 quants */
} omq_block_q8_K;

_Static_assert(sizeof(omq_block_q4_0) == 18, "q4_0 block");
_Static_assert(sizeof(omq_block_q4_1) == 20, "q4_1 block");
_Static_assert(sizeof(omq_block_q5_0) == 22, "q5_0 block");
_Static_assert(sizeof(omq_block_q5_1) == 24, "q5_1 block");
_Static_assert(sizeof(omq_block_q8_0) == 34, "q8_0 block");
_Static_assert(sizeof(omq_block_q8_1) == 36, "q8_1 block");
_Static_assert(sizeof(omq_block_q2_K) == 84, "q2_K block");
_Static_assert(sizeof(omq_block_q3_K) == 110, "q3_K block");
_Static_assert(sizeof(omq_block_q4_K) == 144, "q4_K block");
_Static_assert(sizeof(omq_block_q5_K) == 176, "q5_K block");
_Static_assert(sizeof(omq_block_q6_K) == 210, "q6_K block");
_Static_assert(sizeof(omq_block_q8_K) == 292, "q8_K block");

#endif /* OMQ_BLOCKS_H */
