/* omq_quantize / omq_dequantize: validate everything, then hand over to the type's kernel. */
#include "omq_internal.h"

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
    t->quantize(&ctx->exec, src, dst, rows, cols, t->uses_imatrix ? imatrix : NULL);
    if (t->block_size > 1) ctx->fault_pending = 1; /* non-finite input is reported later */
    return OMQ_OK;
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
    t->dequantize(&ctx->exec, src, dst, out_type == OMQ_TYPE_F16, rows, cols);
    return OMQ_OK;
}
