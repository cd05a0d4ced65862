/* omq info: what this build is and what it can run on. */
#include <stdio.h>
#include <string.h>

#include "cli.h"

int cmd_info(int argc, char **argv) {
    if (argc > 1) {
        if (!strcmp(argv[1], "--help")) {
            printf("usage: omq info\n");
            return 0;
        }
        return cli_fail("omq info takes no arguments"), 2;
    }
    printf("omq %s (library %s)\n", OMQ_VERSION_STRING, omq_version_string());
    printf("build:   %s\n", omq_build_info());
    const int n = omq_device_count();
    printf("GPUs:    %d visible (OpenMP devices)\n", n);
    for (const char *r = omq_device_report(), *e; *r; r = *e ? e + 1 : e) { /* indent each line */
        e = strchr(r, '\n');
        if (!e) e = r + strlen(r);
        printf("  %.*s\n", (int)(e - r), r);
    }
    for (int d = 0; d < n; ++d) {
        omq_context *ctx = NULL;
        omq_status st = omq_context_create(&ctx, d);
        printf("  GPU %d: %s\n", d, st ? omq_strerror(st) : omq_context_describe(ctx));
        omq_context_free(ctx);
    }
    omq_context *ctx = NULL;
    omq_status st = omq_context_create(&ctx, OMQ_DEVICE_AUTO);
    printf("default: %s\n", st ? omq_strerror(st) : omq_context_describe(ctx));
    omq_context_free(ctx);
    printf("types:   ");
    for (int t = 0; t < 32; ++t)
        if (omq_type_is_valid(t))
            printf("%s(%lld/%zuB) ", omq_type_name((omq_type)t), (long long)omq_type_block_size((omq_type)t),
                   omq_type_block_bytes((omq_type)t));
    printf("\n");
    return 0;
}
