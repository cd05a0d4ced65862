/* The type-traits table: the single description of every block format omq knows. */
#include <ctype.h>
#include <string.h>

#include "../offload/blocks.h"
#include "omq_internal.h"

#define ROW(T, NAME, BS, BLOCK, ALIGN, IMAT, FN, MATMUL)                                      \
    [OMQ_TYPE_##T] = {OMQ_TYPE_##T, NAME, BS, sizeof(BLOCK), ALIGN, IMAT, omq_quantize_##FN,   \
                      omq_dequantize_##FN, MATMUL(FN)}
/* ALIGN: what a block array's pointer must be aligned to; 4 where the block and the offset
 * of its quants are multiples of 4, so GPU kernels read the quants as 32-bit words (Q4_1,
 * Q5_1, Q8_1, Q2_K, Q4_K, Q5_K; Q8_K for its float). */
/* the matrix products of a quantized type, and of F32/F16 (no Q8_1 kernels) */
#define MM_Q(FN) omq_dmmv_##FN, omq_mmvq_##FN, omq_mmq_##FN, omq_gemm_##FN, omq_gemv_##FN
#define MM_F(FN) omq_dmmv_##FN, NULL, NULL, omq_gemm_##FN, NULL

static const omq_type_traits traits[] = {
    ROW(F32, "f32", 1, float, 4, 0, f32, MM_F),
    ROW(F16, "f16", 1, uint16_t, 2, 0, f16, MM_F),
    ROW(Q4_0, "q4_0", 32, omq_block_q4_0, 2, 1, q4_0, MM_Q),
    ROW(Q4_1, "q4_1", 32, omq_block_q4_1, 4, 1, q4_1, MM_Q),
    ROW(Q5_0, "q5_0", 32, omq_block_q5_0, 2, 1, q5_0, MM_Q),
    ROW(Q5_1, "q5_1", 32, omq_block_q5_1, 4, 1, q5_1, MM_Q),
    ROW(Q8_0, "q8_0", 32, omq_block_q8_0, 2, 0, q8_0, MM_Q),
    ROW(Q8_1, "q8_1", 32, omq_block_q8_1, 4, 0, q8_1, MM_Q),
    ROW(Q2_K, "q2_K", 256, omq_block_q2_K, 4, 1, q2_K, MM_Q),
    ROW(Q3_K, "q3_K", 256, omq_block_q3_K, 2, 1, q3_K, MM_Q),
    ROW(Q4_K, "q4_K", 256, omq_block_q4_K, 4, 1, q4_K, MM_Q),
    ROW(Q5_K, "q5_K", 256, omq_block_q5_K, 4, 1, q5_K, MM_Q),
    ROW(Q6_K, "q6_K", 256, omq_block_q6_K, 2, 1, q6_K, MM_Q),
    ROW(Q8_K, "q8_K", 256, omq_block_q8_K, 4, 0, q8_K, MM_Q),
};

const omq_type_traits *omq_traits(int type) {
    if (type < 0 || (size_t)type >= sizeof traits / sizeof traits[0]) return NULL;
    const omq_type_traits *t = &traits[type];
    return t->name ? t : NULL; /* ids 4 and 5 (ggml's removed Q4_2/Q4_3) are holes */
}

int omq_type_is_valid(int type) { return omq_traits(type) != NULL; }

const char *omq_type_name(omq_type type) {
    const omq_type_traits *t = omq_traits((int)type);
    return t ? t->name : NULL;
}

omq_status omq_type_from_name(const char *name, omq_type *type) {
    if (!name || !type) return OMQ_ERR_NULL;
    for (size_t i = 0; i < sizeof traits / sizeof traits[0]; ++i) {
        const char *n = traits[i].name;
        if (!n) continue;
        size_t k = 0;
        while (n[k] && name[k] && tolower((unsigned char)n[k]) == tolower((unsigned char)name[k])) ++k;
        if (!n[k] && !name[k]) {
            *type = traits[i].type;
            return OMQ_OK;
        }
    }
    return OMQ_ERR_UNKNOWN_TYPE;
}

int64_t omq_type_block_size(omq_type type) {
    const omq_type_traits *t = omq_traits((int)type);
    return t ? t->block_size : 0;
}

size_t omq_type_block_bytes(omq_type type) {
    const omq_type_traits *t = omq_traits((int)type);
    return t ? t->block_bytes : 0;
}

omq_status omq_row_size(omq_type type, int64_t cols, size_t *bytes) {
    return omq_matrix_size(type, 1, cols, bytes);
}

omq_status omq_matrix_size(omq_type type, int64_t rows, int64_t cols, size_t *bytes) {
    if (!bytes) return OMQ_ERR_NULL;
    const omq_type_traits *t = omq_traits((int)type);
    if (!t) return OMQ_ERR_UNKNOWN_TYPE;
    int64_t elements;
    return omq_check_matrix(NULL, t, rows, cols, &elements, bytes);
}
