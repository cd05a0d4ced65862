/* omq_matmul: check everything, choose the algorithm, prepare X in the workspace, then hand
 * over to the weight type's kernel (types.c has one per algorithm). */
#include <ctype.h>

#include "../offload/blocks.h"
#include "cpu/cpu.h"
#include "omq_internal.h"

static const char *const algo_names[] = {"auto", "dmmv", "mmvq", "mmq", "gemm"};
#define NALGO ((int)(sizeof algo_names / sizeof algo_names[0]))

const char *omq_algo_name(omq_algo algo) {
    return (int)algo >= 0 && (int)algo < NALGO ? algo_names[algo] : NULL;
}

omq_status omq_algo_from_name(const char *name, omq_algo *algo) {
    if (!name || !algo) return OMQ_ERR_NULL;
    for (int a = 0; a < NALGO; ++a) {
        const char *s = algo_names[a];
        size_t k = 0;
        while (s[k] && name[k] && tolower((unsigned char)name[k]) == s[k]) ++k;
        if (!s[k] && !name[k]) {
            *algo = (omq_algo)a;
            return OMQ_OK;
        }
    }
    return OMQ_ERR_INVALID_ARG;
}

/* Arguments that passed the checks. */
typedef struct {
    const omq_type_traits *w, *x;
    omq_algo algo; /* resolved: never AUTO */
    omq_matmul_fn fn;
    omq_gemv_fn gemv; /* set: the one-region GEMV does it (fn is what it stands for) */
    size_t workspace;
} mm_plan;

static int is_quantized(const omq_type_traits *t) { return t->mmvq != NULL; }

/* OMQ_ALGO_AUTO (docs/kernels.md has the measurements behind it).
 * Devices (and their host fallback, which runs the same kernels): the Q8_1 kernels for
 * quantized weights, as ggml's GPU backends, mmvq up to 8 columns (one pass of its per-lane
 * sums covers 8 columns, so W is read once) and mmq beyond; F32/F16 weights take dmmv and
 * gemm at the same point.
 * Host threads: where the processor has its own mmvq kernel (src/cpu/: x86 AVX2), mmvq up to
 * 8 columns (2-5x the float kernels' speed at 2..8 columns on a Zen 4 guest); with the
 * portable forms mmvq wins or ties up to 2 columns, and from 3 columns the float kernels are
 * as fast or faster (and carry no quantization error of X).
 * X given as Q8_1 has only the Q8_1 kernels, mmvq up to 8 columns, everywhere. */
static omq_algo choose(const omq_context *ctx, const omq_type_traits *w, int64_t rows,
                       int64_t K, int64_t n, int x_q8_1) {
    (void)rows;
    (void)K;
    const int quantized = is_quantized(w);
    if (x_q8_1) return n <= 8 ? OMQ_ALGO_MMVQ : OMQ_ALGO_MMQ;
    if (ctx->exec_kind == OMQ_EXEC_TARGET) {
        if (n <= 8) return quantized ? OMQ_ALGO_MMVQ : OMQ_ALGO_DMMV;
        return quantized ? OMQ_ALGO_MMQ : OMQ_ALGO_GEMM;
    }
    if (quantized && (n <= 2 || (n <= 8 && omq_cpu_mmvq(w->type)))) return OMQ_ALGO_MMVQ;
    return n <= 8 ? OMQ_ALGO_DMMV : OMQ_ALGO_GEMM;
}

/* Everything but the pointers. xtype may be -1 (not known: the query of the choice). */
static omq_status plan_matmul(omq_context *ctx, const char *fn, omq_type wtype, int64_t rows,
                              int64_t K, int xtype, int64_t n, omq_algo algo, mm_plan *p) {
    p->w = omq_traits((int)wtype);
    if (!p->w) return omq_fail(ctx, OMQ_ERR_UNKNOWN_TYPE, "%s: unknown weight type %d", fn, (int)wtype);
    p->x = omq_traits(xtype >= 0 ? xtype : OMQ_TYPE_F32);
    if (!p->x)
        return omq_fail(ctx, OMQ_ERR_UNKNOWN_TYPE, "%s: unknown X type %d", fn, xtype);
    const int x_q8_1 = p->x->type == OMQ_TYPE_Q8_1;
    if (p->x->type != OMQ_TYPE_F32 && p->x->type != OMQ_TYPE_F16 && !x_q8_1)
        return omq_fail(ctx, OMQ_ERR_UNSUPPORTED, "%s: X must be f32, f16 or q8_1, not %s", fn,
                        p->x->name);
    if ((int)algo < 0 || (int)algo >= NALGO)
        return omq_fail(ctx, OMQ_ERR_INVALID_ARG, "%s: unknown algorithm %d", fn, (int)algo);
    if (n < 0 || rows < 0 || K < 0)
        return omq_fail(ctx, OMQ_ERR_INVALID_ARG, "%s: negative size: rows %lld, K %lld, n %lld", fn,
                        (long long)rows, (long long)K, (long long)n);
    if (n == 0 || rows == 0 || K == 0)
        return omq_fail(ctx, OMQ_ERR_EMPTY, "%s: empty product: rows %lld, K %lld, n %lld", fn,
                        (long long)rows, (long long)K, (long long)n);
    int64_t elements;
    size_t bytes;
    omq_status st;
    if ((st = omq_check_matrix(ctx, p->w, rows, K, &elements, &bytes)) ||   /* W */
        (st = omq_check_matrix(ctx, p->x, n, K, &elements, &bytes)) ||      /* X, and X as f32 */
        (st = omq_check_matrix(ctx, omq_traits(OMQ_TYPE_F32), n, K, &elements, &bytes)) ||
        (st = omq_check_matrix(ctx, omq_traits(OMQ_TYPE_F32), n, rows, &elements, &bytes))) /* Y */
        return st;
    p->algo = algo == OMQ_ALGO_AUTO ? choose(ctx, p->w, rows, K, n, x_q8_1) : algo;
    switch (p->algo) {
    case OMQ_ALGO_DMMV: p->fn = p->w->dmmv; break;
    case OMQ_ALGO_MMVQ: p->fn = p->w->mmvq; break;
    case OMQ_ALGO_MMQ: p->fn = p->w->mmq; break;
    default: p->fn = p->w->gemm; break;
    }
    /* host threads: the processor's own mmvq kernel where src/cpu/ has one */
    if (p->fn && p->algo == OMQ_ALGO_MMVQ && ctx->exec_kind == OMQ_EXEC_HOST) {
        omq_matmul_fn isa = omq_cpu_mmvq(p->w->type);
        if (isa) p->fn = isa;
    }
    if (!p->fn)
        return omq_fail(ctx, OMQ_ERR_UNSUPPORTED, "%s: %s needs a quantized weight type, not %s", fn,
                        omq_algo_name(p->algo), p->w->name);
    if (x_q8_1 && p->algo != OMQ_ALGO_MMVQ && p->algo != OMQ_ALGO_MMQ)
        return omq_fail(ctx, OMQ_ERR_UNSUPPORTED, "%s: X in q8_1 needs mmvq or mmq, not %s", fn,
                        omq_algo_name(p->algo));
    /* GEMV on a device: mmvq in one region with X staged in team memory (not in the
     * workspace), where X fits */
    if (p->algo == OMQ_ALGO_MMVQ && n == 1 && ctx->exec_kind == OMQ_EXEC_TARGET &&
        K / OMQ_QK <= OMQ_GEMV_XBLOCKS)
        p->gemv = p->w->gemv;
    /* bytes of X as Q8_1 (mmvq, mmq) or widened to float32 (F16 X for dmmv, gemm); both fit,
     * being smaller than n * K * 4, checked above */
    if (x_q8_1 || p->gemv)
        p->workspace = 0;
    else if (p->algo == OMQ_ALGO_MMVQ || p->algo == OMQ_ALGO_MMQ)
        p->workspace = (size_t)n * (size_t)(K / OMQ_QK) * sizeof(omq_block_q8_1);
    else
        p->workspace = p->x->type == OMQ_TYPE_F16 ? (size_t)n * (size_t)K * sizeof(float) : 0;
    return OMQ_OK;
}

omq_status omq_matmul_choose(omq_context *ctx, omq_type wtype, int64_t rows, int64_t K, int64_t n,
                             omq_algo *algo) {
    if (!ctx) return OMQ_ERR_NULL;
    omq_clear_error(ctx);
    if (!algo) return omq_fail(ctx, OMQ_ERR_NULL, "omq_matmul_choose: algo is NULL");
    mm_plan p = {0};
    omq_status st = plan_matmul(ctx, "omq_matmul_choose", wtype, rows, K, -1, n, OMQ_ALGO_AUTO, &p);
    if (!st) *algo = p.algo;
    return st;
}

omq_status omq_matmul_workspace_size(omq_context *ctx, omq_type wtype, int64_t rows, int64_t K,
                                     omq_type xtype, int64_t n, omq_algo algo, size_t *bytes) {
    if (!ctx) return OMQ_ERR_NULL;
    omq_clear_error(ctx);
    if (!bytes) return omq_fail(ctx, OMQ_ERR_NULL, "omq_matmul_workspace_size: bytes is NULL");
    mm_plan p = {0};
    omq_status st = plan_matmul(ctx, "omq_matmul_workspace_size", wtype, rows, K, (int)xtype, n, algo, &p);
    if (!st) *bytes = p.workspace;
    return st;
}

/* One submission: X converted into the stream's workspace (when the algorithm needs it),
 * then the product, in stream order. */
typedef struct {
    omq_matmul_fn fn;
    omq_gemv_fn gemv; /* instead of fn and X's conversion, where set */
    const void *W, *X;
    float *Y;
    int64_t rows, K, n;
    int x_f16, x_q8_1; /* X is binary16; X goes through Q8_1 (0 when it comes as Q8_1) */
    int gemv_x;        /* X's omq_gemv_fn x_kind */
} matmul_args;

static void run_matmul(const omq_exec *ex, void *p) {
    const matmul_args *a = p;
    const void *x = a->X;
    if (a->gemv) {
        a->gemv(ex, a->W, a->rows, a->K, a->X, a->gemv_x, a->Y);
        return;
    }
    if (a->x_q8_1) {
        omq_quantize_q8_1_act(ex, a->X, a->x_f16, ex->workspace, a->n, a->K);
        x = ex->workspace;
    } else if (a->x_f16) {
        omq_dequantize_f16(ex, a->X, ex->workspace, 0, a->n, a->K);
        x = ex->workspace;
    }
    a->fn(ex, a->W, a->rows, a->K, x, a->n, a->Y);
}

omq_status omq_matmul(omq_context *ctx, omq_type wtype, const void *W, int64_t rows, int64_t K,
                      omq_type xtype, const void *X, int64_t n, float *Y, omq_algo algo) {
    if (!ctx) return OMQ_ERR_NULL;
    omq_clear_error(ctx);
    mm_plan p = {0};
    omq_status st;
    const omq_type_traits *wt = omq_traits((int)wtype), *xt = omq_traits((int)xtype);
    /* pointer checks need the types' alignments; type errors are reported by plan_matmul */
    if (wt && xt &&
        ((st = omq_check_ptr(ctx, W, wt->align, "omq_matmul: W")) ||
         (st = omq_check_ptr(ctx, X, xt->align, "omq_matmul: X")) ||
         (st = omq_check_ptr(ctx, Y, sizeof(float), "omq_matmul: Y"))))
        return st;
    /* the devices' Q8_1 dot products read X's quants a 4-byte word at a time */
    if (xt && xt->type == OMQ_TYPE_Q8_1 && (st = omq_check_ptr(ctx, X, 4, "omq_matmul: X (q8_1)")))
        return st;
    if ((st = plan_matmul(ctx, "omq_matmul", wtype, rows, K, (int)xtype, n, algo, &p))) return st;
    const int q8 = (p.algo == OMQ_ALGO_MMVQ || p.algo == OMQ_ALGO_MMQ) && p.x->type != OMQ_TYPE_Q8_1;
    const int x_f16 = p.x->type == OMQ_TYPE_F16;
    const int gemv_x = p.x->type == OMQ_TYPE_Q8_1 ? OMQ_GEMV_X_Q8_1 : x_f16 ? OMQ_GEMV_X_F16 : OMQ_GEMV_X_F32;
    const matmul_args a = {p.fn, p.gemv, W, X, Y, rows, K, n, x_f16, q8 && !p.gemv, gemv_x};
    /* a non-finite block of X quantized to Q8_1 is reported by the next synchronize */
    return omq_submit_with_workspace(ctx, run_matmul, &a, sizeof a, q8, p.workspace);
}
