/* omq gguf FILE: what a GGUF file holds: header, metadata (long arrays abbreviated), tensors. */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "omq_gguf.h"

/* A string value, quoted, escaped and cut to `max` bytes of output. */
static void print_str(const char *s, uint64_t len, size_t max) {
    putchar('"');
    size_t out = 0;
    for (uint64_t i = 0; i < len; ++i) {
        const unsigned char c = (unsigned char)s[i];
        if (out >= max) {
            printf("...(%llu bytes)", (unsigned long long)len);
            break;
        }
        if (c == '"' || c == '\\') out += printf("\\%c", c);
        else if (c == '\n') out += printf("\\n");
        else if (c < 0x20 || c == 0x7f) out += printf("\\x%02x", c);
        else putchar(c), ++out; /* UTF-8 passes through */
    }
    putchar('"');
}

static void print_scalar(int type, const uint8_t *p) {
    uint64_t u = 0;
    const size_t n = omq_gguf_type_size(type);
    for (size_t i = 0; i < n; ++i) u |= (uint64_t)p[i] << (8 * i);
    switch (type) {
    case OMQ_GGUF_UINT8: case OMQ_GGUF_UINT16: case OMQ_GGUF_UINT32: case OMQ_GGUF_UINT64:
        printf("%llu", (unsigned long long)u);
        break;
    case OMQ_GGUF_INT8: printf("%d", (int8_t)u); break;
    case OMQ_GGUF_INT16: printf("%d", (int16_t)u); break;
    case OMQ_GGUF_INT32: printf("%d", (int32_t)u); break;
    case OMQ_GGUF_INT64: printf("%lld", (long long)(int64_t)u); break;
    case OMQ_GGUF_FLOAT32: {
        float f;
        uint32_t b = (uint32_t)u;
        memcpy(&f, &b, 4);
        printf("%.9g", f);
        break;
    }
    case OMQ_GGUF_FLOAT64: {
        double f;
        memcpy(&f, &u, 8);
        printf("%.17g", f);
        break;
    }
    case OMQ_GGUF_BOOL: printf("%s", u ? "true" : "false"); break;
    }
}

static void print_value(const omq_gguf *g, int64_t i) {
    const int type = omq_gguf_kv_type(g, i);
    const void *raw;
    uint64_t size;
    omq_gguf_kv_raw(g, i, &raw, &size);
    if (type == OMQ_GGUF_STRING) {
        const char *s;
        uint64_t len;
        omq_gguf_get_string(g, i, &s, &len);
        print_str(s, len, 200);
    } else if (type == OMQ_GGUF_ARRAY) {
        int et;
        uint64_t n;
        const void *data;
        omq_gguf_get_array(g, i, &et, &n, &data);
        const uint64_t show = n < 8 ? n : 8;
        putchar('[');
        for (uint64_t j = 0; j < show; ++j) {
            if (j) printf(", ");
            if (et == OMQ_GGUF_STRING) {
                const char *s;
                uint64_t len;
                omq_gguf_get_array_string(g, i, j, &s, &len);
                print_str(s, len, 40);
            } else {
                print_scalar(et, (const uint8_t *)data + j * omq_gguf_type_size(et));
            }
        }
        if (n > show) printf(", ... (%llu more)", (unsigned long long)(n - show));
        putchar(']');
    } else {
        print_scalar(type, raw);
    }
}

static void human(double bytes, char *buf, size_t n) {
    const char *unit[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    int u = 0;
    while (bytes >= 1024 && u < 4) bytes /= 1024, ++u;
    snprintf(buf, n, u ? "%.2f %s" : "%.0f %s", bytes, unit[u]);
}

int cmd_gguf(int argc, char **argv) {
    if (argc == 2 && !strcmp(argv[1], "--help")) {
        printf("usage: omq gguf FILE\n  lists a GGUF file's metadata (key, type, value) and tensors (name, type, shape, bytes, offset)\n");
        return 0;
    }
    if (argc != 2) {
        fprintf(stderr, "usage: omq gguf FILE\n");
        return 2;
    }
    omq_gguf *g;
    char msg[1024];
    omq_status st = omq_gguf_open(argv[1], &g, msg, sizeof msg);
    if (st) return cli_fail("%s (%s)", msg, omq_strerror(st));
    char size[32];
    human((double)omq_gguf_file_size(g), size, sizeof size);
    printf("%s: GGUF version %u, %lld key-values, %lld tensors, alignment %u, tensor data at offset %llu, %s\n",
           argv[1], omq_gguf_version(g), (long long)omq_gguf_kv_count(g), (long long)omq_gguf_tensor_count(g),
           omq_gguf_alignment(g), (unsigned long long)omq_gguf_data_offset(g), size);

    printf("\nmetadata:\n");
    for (int64_t i = 0; i < omq_gguf_kv_count(g); ++i) {
        const int type = omq_gguf_kv_type(g, i);
        char tname[32];
        if (type == OMQ_GGUF_ARRAY) {
            int et;
            uint64_t n;
            const void *data;
            omq_gguf_get_array(g, i, &et, &n, &data);
            snprintf(tname, sizeof tname, "%s[%llu]", omq_gguf_type_name(et), (unsigned long long)n);
        } else {
            snprintf(tname, sizeof tname, "%s", omq_gguf_type_name(type));
        }
        printf("  %-40s %-15s ", omq_gguf_kv_key(g, i), tname);
        print_value(g, i);
        putchar('\n');
    }

    printf("\ntensors:\n  %5s  %-40s %-8s %-24s %12s %12s\n", "#", "name", "type", "shape", "bytes", "offset");
    uint64_t total = 0, elements = 0;
    int64_t per_type[64] = {0}, other = 0;
    for (int64_t i = 0; i < omq_gguf_tensor_count(g); ++i) {
        omq_gguf_tensor t;
        omq_gguf_tensor_info(g, i, &t);
        char sh[96], tname[16];
        int k = snprintf(sh, sizeof sh, "[");
        for (int d = 0; d < t.n_dims; ++d) k += snprintf(sh + k, sizeof sh - (size_t)k, d ? ", %lld" : "%lld", (long long)t.ne[d]);
        snprintf(sh + k, sizeof sh - (size_t)k, "]");
        const char *name = omq_gguf_ggml_type_name(t.ggml_type);
        if (name) snprintf(tname, sizeof tname, "%s", name);
        else snprintf(tname, sizeof tname, "type%d", t.ggml_type);
        if (t.size_known)
            printf("  %5lld  %-40s %-8s %-24s %12llu %12llu\n", (long long)i, t.name, tname, sh,
                   (unsigned long long)t.bytes, (unsigned long long)t.offset);
        else
            printf("  %5lld  %-40s %-8s %-24s %12s %12llu\n", (long long)i, t.name, tname, sh, "?",
                   (unsigned long long)t.offset);
        total += t.bytes;
        elements += (uint64_t)t.rows * (uint64_t)t.cols;
        if (t.ggml_type >= 0 && t.ggml_type < 64) ++per_type[t.ggml_type];
        else ++other;
    }
    human((double)total, size, sizeof size);
    printf("\ntotal: %lld tensors, %llu values, %s of tensor data (", (long long)omq_gguf_tensor_count(g),
           (unsigned long long)elements, size);
    int first = 1;
    for (int t = 0; t < 64; ++t)
        if (per_type[t]) {
            const char *name = omq_gguf_ggml_type_name(t);
            printf(first ? "%s %lld" : ", %s %lld", name ? name : "?", (long long)per_type[t]);
            first = 0;
        }
    if (other) printf(first ? "other %lld" : ", other %lld", (long long)other);
    printf(")\n");
    omq_gguf_close(g);
    return 0;
}
