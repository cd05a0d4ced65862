/* llama.cpp importance-matrix files (GGUF and legacy .dat), as llama-quantize reads them. */
#ifndef OMQ_CLI_IMATRIX_H
#define OMQ_CLI_IMATRIX_H

#include <stdint.h>

#include "omq_gguf.h"

typedef struct {
    char *name;     /* the weight tensor it belongs to */
    float *values;  /* per-column weights: n = ne[0] * number of matrices (experts) */
    int64_t n;
} imatrix_entry;

typedef struct {
    imatrix_entry *entries;
    int64_t n;
    char *dataset;      /* first dataset named in the file, or NULL */
    int64_t chunk_count;
    int legacy;
} imatrix;

/* 0 on success; -1 with err set. */
int imatrix_load(const char *path, imatrix *m, char *err, size_t err_size);
const imatrix_entry *imatrix_find(const imatrix *m, const char *name);
void imatrix_free(imatrix *m);

#endif
