/* omq_quantize / omq_dequantize: validate everything, then queue the type's kernel on the
 * context's current stream. */
#include "cpu/cpu.h"
#include "omq_internal.h"

typedef struct {
    omq_quantize_fn fn;
    const float *src, *imatrix;
    void *dst;
    int64_t rows, cols;
} quantize_args;

/* float32 <-> binary16 on the host: the processor's conversions where it has them (src/cpu/) */
static int host_to_f16(const omq_exec *ex, const float *src, void *dst, int64_t n) {
    omq_to_f16_fn isa;
    if (ex->kind != OMQ_EXEC_HOST || !(isa = omq_cpu_f32_to_f16())) return 0;
    isa(src, dst, n);
    return 1;
}

static int host_to_f32(const omq_exec *ex, const void *src, float *dst, int64_t n) {
    omq_to_f32_fn isa;
    if (ex->kind != OMQ_EXEC_HOST || !(isa = omq_cpu_f16_to_f32())) return 0;
    isa(src, dst, n);
    return 1;
}

static void run_quantize(const omq_exec *ex, void *p) {
    const quantize_args *a = p;
    if (a->fn == omq_quantize_f16 && host_to_f16(ex, a->src, a->dst, a->rows * a->cols)) return;
    a->fn(ex, a->src, a->dst, a->rows, a->cols, a->imatrix);
}

typedef struct {
    omq_dequantize_fn fn;
    const void *src;
    void *dst;
    int to_f16;
    int64_t rows, cols;
} dequantize_args;

static void run_dequantize(const omq_exec *ex, void *p) {
    const dequantize_args *a = p;
    if (a->fn == omq_dequantize_f32 && a->to_f16 && host_to_f16(ex, a->src, a->dst, a->rows * a->cols)) return;
    if (a->fn == omq_dequantize_f16 && !a->to_f16 && host_to_f32(ex, a->src, a->dst, a->rows * a->cols)) return;
    a->fn(ex, a->src, a->dst, a->to_f16, a->rows, a->cols);
}

omq_status omq_quantize(omq_context *ctx, omq_type type, const float *src, void *dst,
                        int64_t rows, int64_t cols, const float *imatrix) {
    if (!ctx) return OMQ_ERR_NULL;
    omq_clear_error(ctx);
    const omq_type_traits *t = omq_traits((int)type);
    if (!t) return omq_fail(ctx, OMQ_ERR_UNKNOWN_TYPE, "omq_quantize: unknown type %d", (int)type);
    int64_t elements;
    size_t bytes;
    omq_status st;
    if ((st = omq_check_ptr(ctx, src, sizeof(float), "src")) ||
        (st = omq_check_ptr(ctx, dst, t->align, "dst")) ||
        (imatrix && (st = omq_check_ptr(ctx, imatrix, sizeof(float), "imatrix"))) ||
        (st = omq_check_matrix(ctx, t, rows, cols, &elements, &bytes)))
        return st;
    const quantize_args a = {t->quantize, src, t->uses_imatrix ? imatrix : NULL, dst, rows, cols};
    /* only block formats reject non-finite input (F32/F16 convert it faithfully) */
    return omq_submit(ctx, run_quantize, &a, sizeof a, t->block_size > 1);
}

omq_status omq_dequantize(omq_context *ctx, omq_type type, const void *src, omq_type out_type,
                          void *dst, int64_t rows, int64_t cols) {
    if (!ctx) return OMQ_ERR_NULL;
    omq_clear_error(ctx);
    const omq_type_traits *t = omq_traits((int)type);
    if (!t) return omq_fail(ctx, OMQ_ERR_UNKNOWN_TYPE, "omq_dequantize: unknown type %d", (int)type);
    if (out_type != OMQ_TYPE_F32 && out_type != OMQ_TYPE_F16)
        return omq_fail(ctx, omq_traits((int)out_type) ? OMQ_ERR_UNSUPPORTED : OMQ_ERR_UNKNOWN_TYPE,
                        "omq_dequantize: output type must be f32 or f16, not %d", (int)out_type);
    int64_t elements;
    size_t bytes;
    omq_status st;
    if ((st = omq_check_ptr(ctx, src, t->align, "src")) ||
        (st = omq_check_ptr(ctx, dst, out_type == OMQ_TYPE_F32 ? 4 : 2, "dst")) ||
        (st = omq_check_matrix(ctx, t, rows, cols, &elements, &bytes)))
        return st;
    const dequantize_args a = {t->dequantize, src, dst, out_type == OMQ_TYPE_F16, rows, cols};
    return omq_submit(ctx, run_dequantize, &a, sizeof a, 0);
}

typedef struct {
    omq_probe what;
    void *dst;
    const void *src;
    size_t bytes;
} probe_args;

static void run_probe(const omq_exec *ex, void *p) {
    const probe_args *a = p;
    if (a->what == OMQ_PROBE_EMPTY) omq_kernel_empty(ex);
    else if (a->what == OMQ_PROBE_READ) omq_kernel_read(ex, a->dst, a->src, a->bytes);
    else omq_kernel_copy(ex, a->dst, a->src, a->bytes);
}

omq_status omq_debug_probe(omq_context *ctx, omq_probe what, void *dst, const void *src, size_t bytes) {
    if (!ctx) return OMQ_ERR_NULL;
    omq_clear_error(ctx);
    if (what != OMQ_PROBE_EMPTY && what != OMQ_PROBE_COPY && what != OMQ_PROBE_READ)
        return omq_fail(ctx, OMQ_ERR_INVALID_ARG, "omq_debug_probe: unknown probe %d", (int)what);
    if (what != OMQ_PROBE_EMPTY) {
        omq_status st;
        if ((st = omq_check_ptr(ctx, dst, 16, "dst")) || (st = omq_check_ptr(ctx, src, 16, "src"))) return st;
        if (bytes == 0 || bytes % 16)
            return omq_fail(ctx, bytes ? OMQ_ERR_SHAPE : OMQ_ERR_EMPTY, "%s probe of %zu bytes (a positive multiple of 16)",
                            what == OMQ_PROBE_COPY ? "copy" : "read", bytes);
    }
    const probe_args a = {what, dst, src, bytes};
    return omq_submit(ctx, run_probe, &a, sizeof a, 0);
}
