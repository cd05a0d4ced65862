/* libFuzzer target for the GGUF reader: any byte string must either be rejected with a
 * status and a message, or give a reader whose every accessor stays inside the buffer
 * (AddressSanitizer checks the reads, UBSan the arithmetic). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "omq_gguf.h"

static volatile uint8_t sink;

static void touch(const void *p, uint64_t n) {
    if (!n) return;
    const uint8_t *b = p;
    sink ^= b[0];
    sink ^= b[n - 1];
    sink ^= b[n / 2];
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    omq_gguf *g = NULL;
    char msg[256];
    /* a private copy, exactly `size` bytes long, so any over-read is caught */
    uint8_t *copy = malloc(size ? size : 1);
    if (!copy) return 0;
    if (size) memcpy(copy, data, size);
    omq_status st = omq_gguf_open_memory(copy, size, &g, msg, sizeof msg);
    if (st) {
        if (g || !msg[0]) abort(); /* a failure must come with a message and no handle */
        free(copy);
        return 0;
    }
    for (int64_t i = 0; i < omq_gguf_kv_count(g); ++i) {
        const char *key = omq_gguf_kv_key(g, i);
        if (!key || omq_gguf_find_key(g, key) != i) abort();
        const void *raw;
        uint64_t n;
        if (omq_gguf_kv_raw(g, i, &raw, &n)) abort();
        touch(raw, n);
        int64_t iv;
        uint64_t uv;
        double fv;
        int bv;
        const char *s;
        omq_gguf_get_int(g, i, &iv);
        omq_gguf_get_uint(g, i, &uv);
        omq_gguf_get_float(g, i, &fv);
        omq_gguf_get_bool(g, i, &bv);
        if (!omq_gguf_get_string(g, i, &s, &n)) touch(s, n);
        int et;
        uint64_t count;
        const void *arr;
        if (!omq_gguf_get_array(g, i, &et, &count, &arr)) {
            if (arr) touch(arr, count * omq_gguf_type_size(et));
            for (uint64_t j = 0; j < count && et == OMQ_GGUF_STRING; ++j)
                if (!omq_gguf_get_array_string(g, i, j, &s, &n)) touch(s, n);
        }
    }
    for (int64_t i = 0; i < omq_gguf_tensor_count(g); ++i) {
        omq_gguf_tensor t;
        if (omq_gguf_tensor_info(g, i, &t)) abort();
        if (omq_gguf_find_tensor(g, t.name) != i) abort();
        if (t.size_known) touch(t.data, t.bytes);
        else if (t.data) abort();
    }
    omq_gguf_close(g);
    free(copy);
    return 0;
}
