/* The context's workspace: scratch in the context's memory space that operations (the matrix
 * products' converted X) borrow for the duration of their queued work. */
#include "omq_internal.h"

omq_status omq_workspace(omq_context *ctx, size_t bytes, void **ws) {
    if (bytes <= ctx->workspace_bytes) {
        *ws = ctx->workspace;
        return OMQ_OK;
    }
    /* grow by half at least, so a sequence of slowly growing calls reallocates (and waits for
     * the queue) a logarithmic number of times; omq_free waits for the work using the old one */
    size_t want = ctx->workspace_bytes + ctx->workspace_bytes / 2;
    if (want < bytes) want = bytes;
    omq_workspace_release(ctx);
    void *p = NULL;
    omq_status st = omq_malloc(ctx, want, &p);
    if (st && want > bytes) st = omq_malloc(ctx, want = bytes, &p);
    if (st)
        return omq_fail(ctx, st, "the workspace of %zu bytes cannot be allocated on %s", bytes,
                        ctx->description);
    ctx->workspace = p;
    ctx->workspace_bytes = want;
    *ws = p;
    return OMQ_OK;
}

void omq_workspace_release(omq_context *ctx) {
    if (!ctx->workspace) return;
    omq_free(ctx, ctx->workspace);
    ctx->workspace = NULL;
    ctx->workspace_bytes = 0;
}
