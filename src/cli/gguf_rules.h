/* Which type each tensor of a model gets: llama.cpp's llama-quantize rules (see
 * docs/gguf.md for what is followed and what is not). */
#ifndef OMQ_CLI_GGUF_RULES_H
#define OMQ_CLI_GGUF_RULES_H

#include <stddef.h>
#include <stdint.h>

#include "omq_gguf.h"

/* llama.cpp's llama_ftype values (general.file_type) omq can produce. */
enum {
    FTYPE_ALL_F32 = 0, FTYPE_F16 = 1, FTYPE_Q4_0 = 2, FTYPE_Q4_1 = 3, FTYPE_Q8_0 = 7, FTYPE_Q5_0 = 8,
    FTYPE_Q5_1 = 9, FTYPE_Q2_K = 10, FTYPE_Q3_K_S = 11, FTYPE_Q3_K_M = 12, FTYPE_Q3_K_L = 13,
    FTYPE_Q4_K_S = 14, FTYPE_Q4_K_M = 15, FTYPE_Q5_K_S = 16, FTYPE_Q5_K_M = 17, FTYPE_Q6_K = 18,
    FTYPE_Q2_K_S = 21
};

/* A TYPE argument (llama-quantize's names, case-insensitive, or the ftype number) -> ftype,
 * its default tensor type and canonical name. Names omq knows but cannot produce (IQ*, TQ*,
 * BF16, MXFP4_MOE, COPY, ...) and unknown names give an explanation in err; returns 0 on
 * success. */
int rules_parse_ftype(const char *s, int *ftype, int *default_type, const char **name, char *err, size_t err_size);
/* "Q4_0 Q4_1 ... F32": the names accepted. */
const char *rules_ftype_names(void);

/* Model facts the rules read from the metadata. */
typedef struct {
    char arch[64];
    int64_t n_layer, n_head, n_head_kv, n_expert;
} rules_model;
void rules_model_from(const omq_gguf *g, rules_model *m);

typedef struct {
    const char *name;
    int type;  /* current ggml type */
    int n_dims;
    int64_t ne[OMQ_GGUF_MAX_DIMS];
    /* results */
    int target;        /* ggml type to write */
    int quantizable;   /* llama-quantize would consider it (2-D+, a weight, not excluded) */
    int fell_back;     /* the row length did not fit the chosen type */
} rules_tensor;

typedef struct {
    int ftype, default_type;
    int pure, has_imatrix, leave_output;
} rules_params;

/* llama-quantize's tensor order: by layer number of "blk.N." (others first), then by name. */
int rules_compare_names(const char *a, const char *b);

/* Fills target/quantizable/fell_back of t[0..n) (in rules_compare_names order: counters such
 * as the attn_v index depend on it). Returns 0, or -1 with err set. */
int rules_plan(const rules_model *m, const rules_params *p, rules_tensor *t, int64_t n, char *err, size_t err_size);

#endif
