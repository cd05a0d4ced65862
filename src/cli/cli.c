#include "cli.h"

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

int cli_fail(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fputs("omq: error: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    return 1;
}

int cli_fail_status(omq_context *ctx, omq_status st, const char *what) {
    const char *detail = ctx ? omq_context_last_error(ctx) : "";
    return cli_fail("%s: %s%s%s", what, omq_strerror(st), *detail ? ": " : "", detail);
}

int cli_parse_device(const char *s, int *device) {
    if (!strcmp(s, "auto")) *device = OMQ_DEVICE_AUTO;
    else if (!strcmp(s, "host")) *device = OMQ_DEVICE_HOST;
    else if (!strcmp(s, "fallback")) *device = OMQ_DEVICE_FALLBACK;
    else {
        char *end;
        errno = 0;
        long v = strtol(s, &end, 10);
        if (errno || *end || end == s || v < 0 || v > 1 << 20) return -1;
        *device = (int)v;
    }
    return 0;
}

omq_context *cli_context(int device) {
    omq_context *ctx = NULL;
    omq_status st = omq_context_create(&ctx, device);
    if (st == OMQ_ERR_NO_DEVICE)
        cli_fail("GPU %d: %s (%d GPU%s visible to this process)", device, omq_strerror(st),
                 omq_device_count(), omq_device_count() == 1 ? "" : "s");
    else if (st)
        cli_fail("cannot create a context: %s", omq_strerror(st));
    return ctx;
}

int cli_parse_type(const char *s, omq_type *type) {
    if (omq_type_from_name(s, type)) {
        cli_fail("unknown type '%s' (f32 f16 q4_0 q4_1 q5_0 q5_1 q8_0 q8_1 q2_K q3_K q4_K q5_K q6_K q8_K)", s);
        return -1;
    }
    return 0;
}

int cli_parse_i64(const char *s, int64_t *v) {
    char *end;
    errno = 0;
    long long x = strtoll(s, &end, 10);
    if (errno || *end || end == s || x <= 0) return -1;
    *v = x;
    return 0;
}

int cli_opt(int argc, char **argv, int *i, const char *name, const char **value) {
    const char *a = argv[*i];
    size_t n = strlen(name);
    if (strncmp(a, name, n)) return 0;
    if (a[n] == '=') {
        *value = a + n + 1;
        *i += 1;
        return 1;
    }
    if (a[n] != '\0') return 0;
    if (*i + 1 >= argc) {
        cli_fail("%s needs a value", name);
        exit(2);
    }
    *value = argv[*i + 1];
    *i += 2;
    return 1;
}

int cli_file_size(const char *path, int64_t *size) {
    struct stat st;
    if (stat(path, &st)) return cli_fail("%s: %s", path, strerror(errno)), -1;
    if (!S_ISREG(st.st_mode)) return cli_fail("%s: not a regular file", path), -1;
    *size = (int64_t)st.st_size;
    return 0;
}

void *cli_read_file(const char *path, size_t *size) {
    FILE *f = fopen(path, "rb");
    if (!f) return cli_fail("%s: %s", path, strerror(errno)), NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    void *buf = malloc(n > 0 ? (size_t)n : 1);
    if (!buf || (n > 0 && fread(buf, 1, (size_t)n, f) != (size_t)n)) {
        cli_fail("%s: cannot read %ld bytes", path, n);
        free(buf);
        fclose(f);
        return NULL;
    }
    fclose(f);
    *size = (size_t)n;
    return buf;
}

double cli_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}
