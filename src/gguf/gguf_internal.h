/* Pieces shared by the GGUF reader and writer. */
#ifndef OMQ_GGUF_INTERNAL_H
#define OMQ_GGUF_INTERNAL_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include "omq_gguf.h"

#define OMQ_GGUF_MAGIC 0x46554747u /* "GGUF" read as a little-endian uint32 */
#define OMQ_GGUF_MAX_NAME 64       /* ggml's GGML_MAX_NAME: names must be shorter */

/* Formats into msg (if any) and returns st. */
omq_status omq_gguf_msg(char *msg, size_t msg_size, omq_status st, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 4, 5)))
#endif
    ;

/* Bytes of `nelements` values of a ggml type whose row length is ne0: checks the block
 * multiple and overflow. OMQ_ERR_UNKNOWN_TYPE, OMQ_ERR_SHAPE or OMQ_ERR_OVERFLOW. */
omq_status omq_gguf_tensor_bytes(int ggml_type, const int64_t ne[OMQ_GGUF_MAX_DIMS], uint64_t *bytes);

/* 64-bit FNV-1a of a NUL-terminated string (hash tables of keys and tensor names). */
uint64_t omq_gguf_hash(const char *s);

#endif
