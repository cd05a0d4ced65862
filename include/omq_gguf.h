/*
 * omq GGUF support: a reader for GGUF versions 2 and 3 and a streaming writer of version 3.
 *
 * Conventions (those of omq.h, plus):
 *  - A reader maps the file read-only and never copies tensor data; every pointer it hands
 *    out points into the mapping and stays valid until omq_gguf_close(). An opened reader is
 *    immutable: any number of threads may query it at once.
 *  - Nothing in a file is trusted: every count, length and offset is checked against the end
 *    of the mapping and for overflow before use. A malformed file gives OMQ_ERR_FORMAT (or
 *    OMQ_ERR_OVERFLOW / OMQ_ERR_UNSUPPORTED) and a message saying what and where.
 *  - Tensor shapes follow ggml: ne[0] is the row length (innermost), rows = ne[1]*ne[2]*ne[3].
 *  - Type ids are ggml's. omq_type values are a subset; tensors of other ggml types (bf16,
 *    the IQ types, ...) are listed with their sizes, but cannot be uploaded or converted.
 *  - The writer writes to a temporary file in the destination's directory and renames it into
 *    place only when omq_gguf_writer_finish() succeeds: a failure or an abandoned writer
 *    never leaves a partial output and never touches an existing file of the same name.
 */
#ifndef OMQ_GGUF_H
#define OMQ_GGUF_H

#include <stddef.h>
#include <stdint.h>

#include "omq.h"

#ifdef __cplusplus
extern "C" {
#endif

/* GGUF metadata value types (values are the file's). */
typedef enum omq_gguf_type {
    OMQ_GGUF_UINT8 = 0,
    OMQ_GGUF_INT8 = 1,
    OMQ_GGUF_UINT16 = 2,
    OMQ_GGUF_INT16 = 3,
    OMQ_GGUF_UINT32 = 4,
    OMQ_GGUF_INT32 = 5,
    OMQ_GGUF_FLOAT32 = 6,
    OMQ_GGUF_BOOL = 7,
    OMQ_GGUF_STRING = 8,
    OMQ_GGUF_ARRAY = 9,
    OMQ_GGUF_UINT64 = 10,
    OMQ_GGUF_INT64 = 11,
    OMQ_GGUF_FLOAT64 = 12
} omq_gguf_type;

#define OMQ_GGUF_DEFAULT_ALIGNMENT 32
#define OMQ_GGUF_MAX_DIMS 4

/* "uint32", "string", "array", ...; NULL for an unknown value. */
OMQ_API const char *omq_gguf_type_name(int type);
/* Bytes of one element of a fixed-size type (1, 2, 4 or 8); 0 for STRING, ARRAY, unknown. */
OMQ_API size_t omq_gguf_type_size(int type);

/* ggml's name of any ggml tensor type id ("q4_K", "bf16", "iq2_xxs"), NULL if unknown. */
OMQ_API const char *omq_gguf_ggml_type_name(int ggml_type);
/* Block size and bytes per block of any ggml type id known to omq's table (every ggml type
 * with a fixed layout, also those omq cannot convert). OMQ_ERR_UNKNOWN_TYPE otherwise. */
OMQ_API omq_status omq_gguf_ggml_type_size(int ggml_type, int64_t *block_size, size_t *block_bytes);

/* ------------------------------------------------------------------ reader */
typedef struct omq_gguf omq_gguf;

/* Maps and parses `path`. On failure *g is NULL and `msg` (if not NULL) holds a
 * NUL-terminated explanation (truncated to msg_size). Statuses: OMQ_ERR_IO (cannot open or
 * map), OMQ_ERR_FORMAT (malformed), OMQ_ERR_UNSUPPORTED (GGUF v1, big-endian, nested arrays),
 * OMQ_ERR_OVERFLOW (a size does not fit 64 bits), OMQ_ERR_ALLOC, OMQ_ERR_NULL. */
OMQ_API omq_status omq_gguf_open(const char *path, omq_gguf **g, char *msg, size_t msg_size);
/* The same on `size` bytes in memory, which must stay valid and unchanged until close. */
OMQ_API omq_status omq_gguf_open_memory(const void *data, size_t size, omq_gguf **g, char *msg,
                                        size_t msg_size);
/* Unmaps and frees. NULL is ignored. */
OMQ_API void omq_gguf_close(omq_gguf *g);

OMQ_API uint32_t omq_gguf_version(const omq_gguf *g);
/* general.alignment, or 32 when the file does not set it. */
OMQ_API uint32_t omq_gguf_alignment(const omq_gguf *g);
/* File offset where the tensor data section starts, and the size of the file. */
OMQ_API uint64_t omq_gguf_data_offset(const omq_gguf *g);
OMQ_API uint64_t omq_gguf_file_size(const omq_gguf *g);

/* ---- metadata */
OMQ_API int64_t omq_gguf_kv_count(const omq_gguf *g);
/* Index of `key`, or -1. */
OMQ_API int64_t omq_gguf_find_key(const omq_gguf *g, const char *key);
/* NUL-terminated key (keys with NUL bytes are rejected at open); NULL for a bad index. */
OMQ_API const char *omq_gguf_kv_key(const omq_gguf *g, int64_t i);
/* The value's type; -1 for a bad index. */
OMQ_API int omq_gguf_kv_type(const omq_gguf *g, int64_t i);

/* Getters: OMQ_ERR_INVALID_ARG for a bad index, OMQ_ERR_FORMAT when the value is of another
 * kind than asked (e.g. a string asked as a number), OMQ_ERR_OVERFLOW when it does not fit. */
/* Any integer type (or bool) that fits. */
OMQ_API omq_status omq_gguf_get_int(const omq_gguf *g, int64_t i, int64_t *v);
OMQ_API omq_status omq_gguf_get_uint(const omq_gguf *g, int64_t i, uint64_t *v);
/* FLOAT32 or FLOAT64 (float32 values are converted exactly). */
OMQ_API omq_status omq_gguf_get_float(const omq_gguf *g, int64_t i, double *v);
OMQ_API omq_status omq_gguf_get_bool(const omq_gguf *g, int64_t i, int *v);
/* A string value: pointer into the file (NOT NUL-terminated) and its length in bytes. GGUF
 * strings are UTF-8 by convention; they are not validated. */
OMQ_API omq_status omq_gguf_get_string(const omq_gguf *g, int64_t i, const char **s, uint64_t *len);
/* An array value: element type, element count, and for fixed-size element types a pointer
 * to the first element in the file (little-endian, only as aligned as the file made it:
 * memcpy elements out); *data is NULL for arrays of strings (use omq_gguf_get_array_string).
 * Arrays of arrays are rejected at open (OMQ_ERR_UNSUPPORTED), as ggml does. */
OMQ_API omq_status omq_gguf_get_array(const omq_gguf *g, int64_t i, int *elem_type, uint64_t *count,
                                      const void **data);
/* Element j of an array of strings. */
OMQ_API omq_status omq_gguf_get_array_string(const omq_gguf *g, int64_t i, uint64_t j, const char **s,
                                             uint64_t *len);
/* The value exactly as encoded in the file (after the type field): for copying. */
OMQ_API omq_status omq_gguf_kv_raw(const omq_gguf *g, int64_t i, const void **bytes, uint64_t *size);

/* ---- tensors */
typedef struct omq_gguf_tensor {
    const char *name;      /* NUL-terminated */
    int ggml_type;         /* the file's type id */
    int omq_known;         /* 1 if ggml_type is an omq_type (can be uploaded and converted) */
    int size_known;        /* 1 if ggml_type's layout is known: bytes and data are valid */
    int n_dims;            /* 1..4 */
    int64_t ne[OMQ_GGUF_MAX_DIMS]; /* ne[n_dims..3] are 1 */
    int64_t cols, rows;    /* ne[0], and ne[1]*ne[2]*ne[3] */
    uint64_t offset;       /* relative to the data section (a multiple of the alignment) */
    uint64_t file_offset;  /* absolute */
    uint64_t bytes;        /* data size (0 when !size_known) */
    const void *data;      /* into the mapping (NULL when !size_known) */
} omq_gguf_tensor;

OMQ_API int64_t omq_gguf_tensor_count(const omq_gguf *g);
OMQ_API int64_t omq_gguf_find_tensor(const omq_gguf *g, const char *name);
OMQ_API omq_status omq_gguf_tensor_info(const omq_gguf *g, int64_t i, omq_gguf_tensor *t);

/* Allocates the tensor's bytes with omq_malloc on `ctx` and copies them there: a weight in
 * omq's layout (rows = ne[1]*ne[2]*ne[3], cols = ne[0]) for omq_dequantize and the matrix
 * products. Free with omq_free(ctx, *dev). OMQ_ERR_UNSUPPORTED for a type omq does not know;
 * details in omq_context_last_error(ctx). */
OMQ_API omq_status omq_gguf_tensor_upload(omq_context *ctx, const omq_gguf *g, int64_t i, void **dev);

/* ------------------------------------------------------------------ writer */
typedef struct omq_gguf_writer omq_gguf_writer;

/* Starts a GGUF v3 file that will appear at `path` (a temporary file is created now in the
 * same directory). On failure *w is NULL and msg explains. */
OMQ_API omq_status omq_gguf_writer_create(omq_gguf_writer **w, const char *path, char *msg, size_t msg_size);
/* Details of the writer's last failure ("" if none). */
OMQ_API const char *omq_gguf_writer_last_error(const omq_gguf_writer *w);

/* Metadata, before the first tensor data. Setting a key that exists removes the old entry and
 * appends the new one (ggml's gguf_set_* behaviour). general.alignment must be a UINT32 power
 * of two and sets the file's alignment. */
OMQ_API omq_status omq_gguf_writer_set_uint(omq_gguf_writer *w, const char *key, omq_gguf_type type, uint64_t v);
OMQ_API omq_status omq_gguf_writer_set_int(omq_gguf_writer *w, const char *key, omq_gguf_type type, int64_t v);
OMQ_API omq_status omq_gguf_writer_set_float(omq_gguf_writer *w, const char *key, omq_gguf_type type, double v);
OMQ_API omq_status omq_gguf_writer_set_bool(omq_gguf_writer *w, const char *key, int v);
OMQ_API omq_status omq_gguf_writer_set_string(omq_gguf_writer *w, const char *key, const char *s, uint64_t len);
/* `count` fixed-size elements, little-endian, as they will appear in the file. */
OMQ_API omq_status omq_gguf_writer_set_array(omq_gguf_writer *w, const char *key, omq_gguf_type elem_type,
                                             uint64_t count, const void *data);
/* lens may be NULL (then strlen of each). */
OMQ_API omq_status omq_gguf_writer_set_string_array(omq_gguf_writer *w, const char *key, uint64_t count,
                                                    const char *const *strs, const uint64_t *lens);
/* Copies key-value i of an opened reader, whatever its type. */
OMQ_API omq_status omq_gguf_writer_copy_kv(omq_gguf_writer *w, const omq_gguf *g, int64_t i);
/* Removes a key if present (OMQ_OK either way). */
OMQ_API omq_status omq_gguf_writer_remove_key(omq_gguf_writer *w, const char *key);

/* Declares the next tensor: its data follows the previous one's in the file. Names are
 * unique and shorter than 64 bytes (ggml's limit); ggml_type is any type of known layout
 * and ne[0] a multiple of its block size. */
OMQ_API omq_status omq_gguf_writer_add_tensor(omq_gguf_writer *w, const char *name, int ggml_type, int n_dims,
                                              const int64_t *ne);
/* Appends tensor data in declaration order, in pieces of any size (a piece may span the end
 * of one tensor and the start of the next). The first call writes the header; metadata and
 * tensor declarations are frozen from then on. Padding is written by the writer. */
OMQ_API omq_status omq_gguf_writer_write(omq_gguf_writer *w, const void *data, size_t bytes);
/* Checks that every tensor's data was written, flushes, fsyncs and renames the file into
 * place. On failure the temporary file is removed. The writer must still be freed. */
OMQ_API omq_status omq_gguf_writer_finish(omq_gguf_writer *w);
/* Frees the writer; a writer not successfully finished is aborted: its temporary file is
 * removed and nothing appears at the path. NULL is ignored. */
OMQ_API void omq_gguf_writer_free(omq_gguf_writer *w);

#ifdef __cplusplus
}
#endif
#endif /* OMQ_GGUF_H */
