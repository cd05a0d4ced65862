/* llama-quantize's tensor type selection (llama.cpp src/llama-quant.cpp), restricted to the
 * file types omq can produce. The branches keep llama.cpp's order and conditions so that they
 * can be compared with it line by line; branches that only concern IQ/ternary/MXFP4 file
 * types are left out because those types are refused up front. */
#include "gguf_rules.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "omq.h"

enum { T_F32 = 0, T_F16 = 1, T_Q4_0 = 2, T_Q4_1 = 3, T_Q5_0 = 6, T_Q5_1 = 7, T_Q8_0 = 8,
       T_Q2_K = 10, T_Q3_K = 11, T_Q4_K = 12, T_Q5_K = 13, T_Q6_K = 14 };

static const struct {
    const char *name;
    int ftype;      /* -1: known to llama-quantize, not produced by omq */
    int type;       /* default tensor type */
} options[] = {
    {"Q4_0", FTYPE_Q4_0, T_Q4_0},     {"Q4_1", FTYPE_Q4_1, T_Q4_1},     {"Q5_0", FTYPE_Q5_0, T_Q5_0},
    {"Q5_1", FTYPE_Q5_1, T_Q5_1},     {"Q2_K", FTYPE_Q2_K, T_Q2_K},     {"Q2_K_S", FTYPE_Q2_K_S, T_Q2_K},
    {"Q3_K", FTYPE_Q3_K_M, T_Q3_K},   {"Q3_K_S", FTYPE_Q3_K_S, T_Q3_K}, {"Q3_K_M", FTYPE_Q3_K_M, T_Q3_K},
    {"Q3_K_L", FTYPE_Q3_K_L, T_Q3_K}, {"Q4_K", FTYPE_Q4_K_M, T_Q4_K},   {"Q4_K_S", FTYPE_Q4_K_S, T_Q4_K},
    {"Q4_K_M", FTYPE_Q4_K_M, T_Q4_K}, {"Q5_K", FTYPE_Q5_K_M, T_Q5_K},   {"Q5_K_S", FTYPE_Q5_K_S, T_Q5_K},
    {"Q5_K_M", FTYPE_Q5_K_M, T_Q5_K}, {"Q6_K", FTYPE_Q6_K, T_Q6_K},     {"Q8_0", FTYPE_Q8_0, T_Q8_0},
    {"F16", FTYPE_F16, T_F16},        {"F32", FTYPE_ALL_F32, T_F32},
    /* llama-quantize accepts these; omq has no kernels for their types */
    {"Q1_0", -1, 0},   {"Q2_0", -1, 0},   {"MXFP4_MOE", -1, 0}, {"IQ2_XXS", -1, 0}, {"IQ2_XS", -1, 0},
    {"IQ2_S", -1, 0},  {"IQ2_M", -1, 0},  {"IQ1_S", -1, 0},     {"IQ1_M", -1, 0},   {"TQ1_0", -1, 0},
    {"TQ2_0", -1, 0},  {"IQ3_XXS", -1, 0}, {"IQ3_S", -1, 0},    {"IQ3_M", -1, 0},   {"IQ3_XS", -1, 0},
    {"IQ4_NL", -1, 0}, {"IQ4_XS", -1, 0}, {"BF16", -1, 0},      {"COPY", -1, 0},
};
enum { N_OPTIONS = sizeof options / sizeof options[0] };

static int striequal(const char *a, const char *b) {
    for (; *a && *b; ++a, ++b)
        if (tolower((unsigned char)*a) != tolower((unsigned char)*b)) return 0;
    return *a == *b;
}

const char *rules_ftype_names(void) {
    static char buf[256];
    if (!buf[0])
        for (size_t i = 0; i < N_OPTIONS && options[i].ftype >= 0; ++i) {
            strcat(buf, i ? " " : "");
            strcat(buf, options[i].name);
        }
    return buf;
}

int rules_parse_ftype(const char *s, int *ftype, int *default_type, const char **name, char *err, size_t err_size) {
    int idx = -1;
    for (size_t i = 0; i < N_OPTIONS && idx < 0; ++i)
        if (striequal(s, options[i].name)) idx = (int)i;
    if (idx < 0) { /* llama-quantize also takes the ftype number; the first name with it wins */
        char *end;
        long v = strtol(s, &end, 10);
        if (*s && !*end)
            for (size_t i = 0; i < N_OPTIONS && idx < 0; ++i)
                if (options[i].ftype == v) idx = (int)i;
    }
    if (idx < 0) {
        snprintf(err, err_size, "unknown type '%s' (one of: %s)", s, rules_ftype_names());
        return -1;
    }
    if (options[idx].ftype < 0) {
        snprintf(err, err_size,
                 "%s is a llama-quantize type omq cannot produce (omq has no IQ, ternary, MXFP4 or BF16 "
                 "kernels); one of: %s", options[idx].name, rules_ftype_names());
        return -1;
    }
    *ftype = options[idx].ftype;
    *default_type = options[idx].type;
    *name = options[idx].name;
    return 0;
}

/* ------------------------------------------------------------------ model facts */
static int64_t get_count(const omq_gguf *g, const char *arch, const char *suffix, int64_t dflt) {
    char key[160];
    snprintf(key, sizeof key, "%s.%s", arch, suffix);
    const int64_t i = omq_gguf_find_key(g, key);
    int64_t v;
    if (i < 0) return dflt;
    if (!omq_gguf_get_int(g, i, &v)) return v;
    /* per-layer arrays (some architectures): llama.cpp's n_gqa() looks at layer 0 */
    int et;
    uint64_t n;
    const void *data;
    if (!omq_gguf_get_array(g, i, &et, &n, &data) && n && data && omq_gguf_type_size(et) <= 8) {
        uint64_t u = 0;
        memcpy(&u, data, omq_gguf_type_size(et)); /* little-endian hosts */
        return (int64_t)u;
    }
    return dflt;
}

void rules_model_from(const omq_gguf *g, rules_model *m) {
    memset(m, 0, sizeof *m);
    const char *s;
    uint64_t len;
    if (!omq_gguf_get_string(g, omq_gguf_find_key(g, "general.architecture"), &s, &len))
        snprintf(m->arch, sizeof m->arch, "%.*s", (int)(len < 63 ? len : 63), s);
    m->n_layer = get_count(g, m->arch, "block_count", 0);
    m->n_head = get_count(g, m->arch, "attention.head_count", 0);
    m->n_head_kv = get_count(g, m->arch, "attention.head_count_kv", m->n_head);
    m->n_expert = get_count(g, m->arch, "expert_count", 0);
}

/* ------------------------------------------------------------------ the rules */
enum cat { C_TOKEN_EMBD, C_ATTN_Q, C_ATTN_V, C_ATTN_K, C_ATTN_QKV, C_ATTN_KV_B, C_ATTN_OUTPUT,
           C_FFN_UP, C_FFN_GATE, C_FFN_DOWN, C_OUTPUT, C_OTHER };

static int is_token_embd(const char *n) { return !strcmp(n, "token_embd.weight") || !strcmp(n, "per_layer_token_embd.weight"); }

static enum cat category(const char *n) {
    if (!strcmp(n, "output.weight")) return C_OUTPUT;
    if (is_token_embd(n)) return C_TOKEN_EMBD;
    if (strstr(n, "attn_qkv.weight")) return C_ATTN_QKV;
    if (strstr(n, "attn_kv_b.weight")) return C_ATTN_KV_B;
    if (strstr(n, "attn_v.weight")) return C_ATTN_V;
    if (strstr(n, "attn_k.weight")) return C_ATTN_K;
    if (strstr(n, "attn_q.weight")) return C_ATTN_Q;
    if (strstr(n, "attn_output.weight")) return C_ATTN_OUTPUT;
    if (strstr(n, "ffn_up")) return C_FFN_UP;
    if (strstr(n, "ffn_gate")) return C_FFN_GATE;
    if (strstr(n, "ffn_down")) return C_FFN_DOWN;
    return C_OTHER;
}

static int is_attn_v(enum cat c) { return c == C_ATTN_V || c == C_ATTN_QKV || c == C_ATTN_KV_B; }

/* ggml_n_dims: trailing dimensions of 1 do not count */
static int effective_dims(const rules_tensor *t) {
    for (int d = OMQ_GGUF_MAX_DIMS - 1; d > 0; --d)
        if (t->ne[d] > 1) return d + 1;
    return 1;
}

static int allows_quantization(const rules_params *p, const rules_tensor *t) {
    if (effective_dims(t) < 2) return 0;
    const char *n = t->name;
    const size_t len = strlen(n);
    if (len < 6 || strcmp(n + len - 6, "weight")) return 0;
    static const char *const never[] = {
        "_norm.weight", "ffn_gate_inp.weight", "ffn_gate_tid2eid.weight", "altup", "laurel",
        "per_layer_model_proj", "ssm_conv1d", "shortconv.conv.weight", "indexer.k_proj.weight",
        "indexer.q_proj.weight", "time_mix_first.weight", "time_mix_w0.weight", "time_mix_w1.weight",
        "time_mix_w2.weight", "time_mix_v0.weight", "time_mix_v1.weight", "time_mix_v2.weight",
        "time_mix_a0.weight", "time_mix_a1.weight", "time_mix_a2.weight", "time_mix_g1.weight",
        "time_mix_g2.weight", "time_mix_decay_w1.weight", "time_mix_decay_w2.weight",
        "time_mix_lerp_fused.weight", "attn_rel_b.weight", ".position_embd", "sam.pos_embd", "sam.neck.",
        "sam.net_", ".rel_pos", ".patch_embd", ".patch_merger", "a.rvq.codebook", "mm.a.code_embd"};
    for (size_t i = 0; i < sizeof never / sizeof never[0]; ++i)
        if (strstr(n, never[i])) return 0;
    if (p->leave_output && !strcmp(n, "output.weight")) return 0;
    /* BERT's positional embeddings and token types */
    if (!strcmp(n, "position_embd.weight") || !strcmp(n, "token_types.weight")) return 0;
    return 1;
}

static int block_of(int type) { return (int)omq_type_block_size((omq_type)type); }
static int is_quantized(int type) { return type != T_F32 && type != T_F16; }

static int use_more_bits(int64_t i, int64_t n) { return i < n / 8 || i >= 7 * n / 8 || (i - n / 8) % 3 == 2; }

typedef struct {
    int64_t n_attention_wv, i_attention_wv, n_ffn_down, i_ffn_down, n_ffn_gate, i_ffn_gate, n_ffn_up, i_ffn_up;
    int has_tied_embeddings;
} counters;

/* layer_info: with experts the layer comes from the name (experts are not in layer order) */
static int layer_info(const rules_model *m, int64_t i, int64_t n, const char *name, int64_t *il, int64_t *nl,
                      char *err, size_t err_size) {
    *il = i, *nl = n;
    if (m->n_expert > 1) {
        int v;
        if (sscanf(name, "blk.%d.", &v) != 1) {
            snprintf(err, err_size, "failed to determine the layer of tensor %s", name);
            return -1;
        }
        if (v < 0 || v >= n) {
            snprintf(err, err_size, "bad layer %d for tensor %s: must be in [0, %lld)", v, name, (long long)n);
            return -1;
        }
        *il = v;
    }
    return 0;
}

static int mix_type(const rules_model *m, const rules_params *p, counters *q, const rules_tensor *t, enum cat c,
                    int new_type, int *out, char *err, size_t err_size) {
    const int ftype = p->ftype;
    const int falcon = !strcmp(m->arch, "falcon");
    const int64_t n_gqa = m->n_head_kv ? m->n_head / m->n_head_kv : 0;
    const int is_70b = !strcmp(m->arch, "llama") && m->n_layer == 80 && m->n_head != m->n_head_kv;
    int64_t il, nl;
    if (c == C_OUTPUT || (q->has_tied_embeddings && c == C_TOKEN_EMBD)) {
        if (falcon || t->ne[0] % block_of(new_type)) new_type = T_Q8_0;
        else if (new_type != T_Q8_0) new_type = T_Q6_K;
    } else if (c == C_TOKEN_EMBD) {
        /* only IQ and ternary file types change token embeddings */
    } else if (is_attn_v(c)) {
        if (ftype == FTYPE_Q2_K) new_type = n_gqa >= 4 ? T_Q4_K : T_Q3_K;
        else if (ftype == FTYPE_Q2_K_S && n_gqa >= 4) new_type = T_Q4_K;
        else if (ftype == FTYPE_Q3_K_M) new_type = q->i_attention_wv < 2 ? T_Q5_K : T_Q4_K;
        else if (ftype == FTYPE_Q3_K_L) new_type = T_Q5_K;
        else if ((ftype == FTYPE_Q4_K_M || ftype == FTYPE_Q5_K_M) && use_more_bits(q->i_attention_wv, q->n_attention_wv))
            new_type = T_Q6_K;
        else if (ftype == FTYPE_Q4_K_S && q->i_attention_wv < 4) new_type = T_Q5_K;
        if (is_70b && (new_type == T_Q3_K || new_type == T_Q4_K)) new_type = T_Q5_K;
        if (m->n_expert == 8) new_type = T_Q8_0;
        ++q->i_attention_wv;
    } else if (c == C_ATTN_K) {
        if (m->n_expert == 8) new_type = T_Q8_0;
    } else if (c == C_ATTN_Q) {
        /* only IQ file types */
    } else if (c == C_FFN_DOWN) {
        if (layer_info(m, q->i_ffn_down, q->n_ffn_down, t->name, &il, &nl, err, err_size)) return -1;
        if (ftype == FTYPE_Q2_K) new_type = T_Q3_K;
        else if (ftype == FTYPE_Q2_K_S) {
            if (il < nl / 8) new_type = T_Q4_K;
        } else if (ftype == FTYPE_Q3_K_M) {
            new_type = il < nl / 16 ? T_Q5_K : !falcon || use_more_bits(il, nl) ? T_Q4_K : T_Q3_K;
        } else if (ftype == FTYPE_Q3_K_L) {
            new_type = falcon ? T_Q4_K : T_Q5_K;
        } else if (ftype == FTYPE_Q4_K_M) {
            if (falcon) new_type = il < nl / 16 ? T_Q6_K : use_more_bits(il, nl) ? T_Q5_K : T_Q4_K;
            else if (use_more_bits(il, nl)) new_type = T_Q6_K;
        } else if (ftype == FTYPE_Q5_K_M && use_more_bits(il, nl)) {
            new_type = T_Q6_K;
        } else if (ftype == FTYPE_Q4_K_S && !falcon && il < nl / 8) {
            new_type = T_Q5_K;
        } else if ((ftype == FTYPE_Q4_0 || ftype == FTYPE_Q5_0) && p->has_imatrix && il < nl / 8) {
            new_type = ftype == FTYPE_Q4_0 ? T_Q4_1 : T_Q5_1;
        }
        ++q->i_ffn_down;
    } else if (c == C_ATTN_OUTPUT) {
        if (!falcon) {
            if (m->n_expert == 8) {
                if (ftype == FTYPE_Q2_K || ftype == FTYPE_Q3_K_S || ftype == FTYPE_Q3_K_M || ftype == FTYPE_Q4_K_S ||
                    ftype == FTYPE_Q4_K_M)
                    new_type = T_Q5_K;
            } else {
                if (ftype == FTYPE_Q2_K) new_type = T_Q3_K;
                else if (ftype == FTYPE_Q3_K_M) new_type = T_Q4_K;
                else if (ftype == FTYPE_Q3_K_L) new_type = T_Q5_K;
            }
        } else if (ftype == FTYPE_Q3_K_L) {
            new_type = T_Q4_K;
        }
    } else if (c == C_ATTN_QKV) {
        if (ftype == FTYPE_Q3_K_M || ftype == FTYPE_Q3_K_L) new_type = T_Q4_K;
        else if (ftype == FTYPE_Q4_K_M) new_type = T_Q5_K;
        else if (ftype == FTYPE_Q5_K_M) new_type = T_Q6_K;
    } else if (c == C_FFN_GATE) {
        if (layer_info(m, q->i_ffn_gate, q->n_ffn_gate, t->name, &il, &nl, err, err_size)) return -1;
        ++q->i_ffn_gate;
    } else if (c == C_FFN_UP) {
        if (layer_info(m, q->i_ffn_up, q->n_ffn_up, t->name, &il, &nl, err, err_size)) return -1;
        ++q->i_ffn_up;
    }
    *out = new_type;
    return 0;
}

/* tensor_type_fallback: a row length the type cannot hold */
static int fallback(rules_tensor *t, int type, int *out, char *err, size_t err_size) {
    *out = type;
    if (t->ne[0] % block_of(type) == 0) return 0;
    int ret;
    switch (type) {
    case T_Q2_K:
    case T_Q3_K: ret = T_Q4_0; break;
    case T_Q4_K: ret = T_Q5_0; break;
    case T_Q5_K: ret = T_Q5_1; break;
    case T_Q6_K: ret = T_Q8_0; break;
    default:
        snprintf(err, err_size, "tensor %s: row length %lld is not a multiple of %s's block size %d, and "
                 "llama-quantize defines no fallback for %s", t->name, (long long)t->ne[0], omq_type_name((omq_type)type),
                 block_of(type), omq_type_name((omq_type)type));
        return -1;
    }
    if (t->ne[0] % block_of(ret)) ret = T_F16;
    t->fell_back = 1;
    *out = ret;
    return 0;
}

int rules_plan(const rules_model *m, const rules_params *p, rules_tensor *t, int64_t n, char *err, size_t err_size) {
    counters q = {0};
    q.has_tied_embeddings = 1;
    for (int64_t i = 0; i < n; ++i) {
        const enum cat c = category(t[i].name);
        if (is_attn_v(c)) ++q.n_attention_wv;
        if (c == C_OUTPUT) q.has_tied_embeddings = 0;
    }
    q.n_ffn_down = q.n_ffn_gate = q.n_ffn_up = m->n_layer;
    for (int64_t i = 0; i < n; ++i) {
        rules_tensor *x = &t[i];
        x->fell_back = 0;
        x->quantizable = allows_quantization(p, x);
        x->target = x->type;
        if (!x->quantizable) continue;
        int type = p->default_type;
        if (is_quantized(p->default_type)) {
            if (!p->pure && mix_type(m, p, &q, x, category(x->name), type, &type, err, err_size)) return -1;
            if (fallback(x, type, &type, err, err_size)) return -1;
        }
        x->target = type;
        /* Q2_K in a Q2_K_S file is only usable with importance weights */
        if (!p->has_imatrix && type == T_Q2_K && p->ftype == FTYPE_Q2_K_S && !is_token_embd(x->name) &&
            strcmp(x->name, "output.weight")) {
            snprintf(err, err_size, "this quantization requires an importance matrix (--imatrix): tensor %s "
                     "would be q2_K in a Q2_K_S file", x->name);
            return -1;
        }
    }
    return 0;
}

/* sscanf("blk.%d.") as llama.cpp's weight_name_comparer uses it; -1 when absent */
static int layer_of(const char *name) {
    int v = -1;
    if (sscanf(name, "blk.%d.", &v) != 1) v = -1;
    return v;
}

int rules_compare_names(const char *a, const char *b) {
    const int la = layer_of(a), lb = layer_of(b);
    if (la != lb) return la < lb ? -1 : 1;
    return strcmp(a, b);
}
