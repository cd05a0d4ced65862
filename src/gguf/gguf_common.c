/* GGUF value types and ggml tensor types: names, sizes, and the byte size of a tensor. */
#include <stdio.h>

#include "gguf_internal.h"

static const struct {
    const char *name;
    size_t size;
} value_types[] = {
    [OMQ_GGUF_UINT8] = {"uint8", 1},     [OMQ_GGUF_INT8] = {"int8", 1},
    [OMQ_GGUF_UINT16] = {"uint16", 2},   [OMQ_GGUF_INT16] = {"int16", 2},
    [OMQ_GGUF_UINT32] = {"uint32", 4},   [OMQ_GGUF_INT32] = {"int32", 4},
    [OMQ_GGUF_FLOAT32] = {"float32", 4}, [OMQ_GGUF_BOOL] = {"bool", 1},
    [OMQ_GGUF_STRING] = {"string", 0},   [OMQ_GGUF_ARRAY] = {"array", 0},
    [OMQ_GGUF_UINT64] = {"uint64", 8},   [OMQ_GGUF_INT64] = {"int64", 8},
    [OMQ_GGUF_FLOAT64] = {"float64", 8},
};

const char *omq_gguf_type_name(int type) {
    if (type < 0 || (size_t)type >= sizeof value_types / sizeof value_types[0]) return NULL;
    return value_types[type].name;
}

size_t omq_gguf_type_size(int type) {
    if (type < 0 || (size_t)type >= sizeof value_types / sizeof value_types[0]) return 0;
    return value_types[type].size;
}

/* ggml types omq cannot convert, but whose layout is fixed, so files holding them can be
 * listed, bounds-checked and copied. omq's own types come from omq's type table. */
static const struct {
    const char *name;
    int64_t block_size;
    size_t block_bytes;
} other_ggml_types[] = {
    [16] = {"iq2_xxs", 256, 66}, [17] = {"iq2_xs", 256, 74}, [18] = {"iq3_xxs", 256, 98},
    [19] = {"iq1_s", 256, 50},   [20] = {"iq4_nl", 32, 18},  [21] = {"iq3_s", 256, 110},
    [22] = {"iq2_s", 256, 82},   [23] = {"iq4_xs", 256, 136}, [24] = {"i8", 1, 1},
    [25] = {"i16", 1, 2},        [26] = {"i32", 1, 4},       [27] = {"i64", 1, 8},
    [28] = {"f64", 1, 8},        [29] = {"iq1_m", 256, 56},  [30] = {"bf16", 1, 2},
    [34] = {"tq1_0", 256, 54},   [35] = {"tq2_0", 256, 66},  [39] = {"mxfp4", 32, 17},
};

const char *omq_gguf_ggml_type_name(int ggml_type) {
    if (omq_type_is_valid(ggml_type)) return omq_type_name((omq_type)ggml_type);
    if (ggml_type < 0 || (size_t)ggml_type >= sizeof other_ggml_types / sizeof other_ggml_types[0]) return NULL;
    return other_ggml_types[ggml_type].name;
}

omq_status omq_gguf_ggml_type_size(int ggml_type, int64_t *block_size, size_t *block_bytes) {
    if (!block_size || !block_bytes) return OMQ_ERR_NULL;
    if (omq_type_is_valid(ggml_type)) {
        *block_size = omq_type_block_size((omq_type)ggml_type);
        *block_bytes = omq_type_block_bytes((omq_type)ggml_type);
        return OMQ_OK;
    }
    if (ggml_type < 0 || (size_t)ggml_type >= sizeof other_ggml_types / sizeof other_ggml_types[0] ||
        !other_ggml_types[ggml_type].name)
        return OMQ_ERR_UNKNOWN_TYPE;
    *block_size = other_ggml_types[ggml_type].block_size;
    *block_bytes = other_ggml_types[ggml_type].block_bytes;
    return OMQ_OK;
}

omq_status omq_gguf_tensor_bytes(int ggml_type, const int64_t ne[OMQ_GGUF_MAX_DIMS], uint64_t *bytes) {
    int64_t bs;
    size_t bb;
    omq_status st = omq_gguf_ggml_type_size(ggml_type, &bs, &bb);
    if (st) return st;
    if (ne[0] <= 0 || ne[0] % bs) return OMQ_ERR_SHAPE;
    if ((uint64_t)(ne[0] / bs) > UINT64_MAX / bb) return OMQ_ERR_OVERFLOW;
    uint64_t n = (uint64_t)(ne[0] / bs) * bb;
    for (int d = 1; d < OMQ_GGUF_MAX_DIMS; ++d) {
        if (ne[d] <= 0) return OMQ_ERR_SHAPE;
        if (n > UINT64_MAX / (uint64_t)ne[d]) return OMQ_ERR_OVERFLOW;
        n *= (uint64_t)ne[d];
    }
    *bytes = n;
    return OMQ_OK;
}

uint64_t omq_gguf_hash(const char *s) {
    uint64_t h = 0xcbf29ce484222325ULL;
    for (; *s; ++s) h = (h ^ (unsigned char)*s) * 0x100000001b3ULL;
    return h;
}

omq_status omq_gguf_msg(char *msg, size_t msg_size, omq_status st, const char *fmt, ...) {
    if (msg && msg_size) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(msg, msg_size, fmt, ap);
        va_end(ap);
    }
    return st;
}
