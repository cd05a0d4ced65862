/* llama.cpp importance matrices, in both formats its imatrix tool writes (tools/imatrix):
 *  - GGUF: per weight tensor NAME, tensors NAME.in_sum2 (f32, ne = [n, n_mat]: sums of squared
 *    activations) and NAME.counts (f32, ne = [1, n_mat]: how many activations were summed),
 *    plus imatrix.datasets / imatrix.chunk_count / imatrix.chunk_size metadata;
 *  - legacy .dat: int32 entry count, then per entry int32 name length, name, int32 ncall,
 *    int32 nval, nval floats (already mean * ncall), then optionally int32 chunk count and a
 *    length-prefixed dataset name.
 * The weights are what llama-quantize hands to the quantizers: in_sum2 / counts per matrix
 * (1 where the count is 0) for GGUF, values / ncall for .dat. */
#include "imatrix.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int fail(char *err, size_t n, const char *fmt, const char *a, const char *b) {
    snprintf(err, n, fmt, a, b);
    return -1;
}

static int add_entry(imatrix *m, const char *name, size_t name_len, float *values, int64_t n) {
    imatrix_entry *e = realloc(m->entries, (size_t)(m->n + 1) * sizeof *e);
    if (!e) return -1;
    m->entries = e;
    e = &m->entries[m->n];
    e->name = malloc(name_len + 1);
    if (!e->name) return -1;
    memcpy(e->name, name, name_len);
    e->name[name_len] = 0;
    e->values = values;
    e->n = n;
    ++m->n;
    return 0;
}

static int ends_with(const char *s, const char *suffix, size_t *stem) {
    const size_t n = strlen(s), k = strlen(suffix);
    if (n < k || strcmp(s + n - k, suffix)) return 0;
    *stem = n - k;
    return 1;
}

static int load_gguf(const char *path, imatrix *m, char *err, size_t err_size) {
    omq_gguf *g;
    char msg[512];
    if (omq_gguf_open(path, &g, msg, sizeof msg)) return fail(err, err_size, "%s%s", msg, "");
    int rc = 0;
    const int64_t kd = omq_gguf_find_key(g, "imatrix.datasets"), kc = omq_gguf_find_key(g, "imatrix.chunk_count"),
                  ks = omq_gguf_find_key(g, "imatrix.chunk_size");
    if (kd < 0 || kc < 0 || ks < 0) {
        omq_gguf_close(g);
        return fail(err, err_size, "%s: missing imatrix metadata (imatrix.datasets, chunk_count, chunk_size)%s", path, "");
    }
    int64_t v;
    if (!omq_gguf_get_int(g, kc, &v)) m->chunk_count = v;
    const char *s;
    uint64_t len;
    if (!omq_gguf_get_array_string(g, kd, 0, &s, &len)) {
        m->dataset = malloc(len + 1);
        if (m->dataset) memcpy(m->dataset, s, len), m->dataset[len] = 0;
    }
    for (int64_t i = 0; i < omq_gguf_tensor_count(g) && !rc; ++i) {
        omq_gguf_tensor sums, counts;
        size_t stem;
        omq_gguf_tensor_info(g, i, &sums);
        if (!ends_with(sums.name, ".in_sum2", &stem)) continue;
        char name[512];
        snprintf(name, sizeof name, "%.*s.counts", (int)stem, sums.name);
        const int64_t ic = omq_gguf_find_tensor(g, name);
        name[stem] = 0;
        if (ic < 0) {
            rc = fail(err, err_size, "%s: mismatched sums and counts for %s", path, name);
            break;
        }
        omq_gguf_tensor_info(g, ic, &counts);
        if (sums.ggml_type != OMQ_TYPE_F32 || counts.ggml_type != OMQ_TYPE_F32) {
            rc = fail(err, err_size, "%s: sums and counts for %s must be f32", path, name);
            break;
        }
        const int64_t nsums = sums.rows * sums.cols, ncounts = counts.rows * counts.cols;
        if (ncounts < 1 || nsums % ncounts) {
            rc = fail(err, err_size, "%s: %s has a number of sums that is not a multiple of its counts", path, name);
            break;
        }
        const int64_t ne0 = nsums / ncounts;
        float *values = malloc((size_t)nsums * sizeof(float));
        if (!values) {
            rc = fail(err, err_size, "%s: out of memory for %s", path, name);
            break;
        }
        for (int64_t j = 0; j < ncounts; ++j) {
            float c;
            memcpy(&c, (const uint8_t *)counts.data + 4 * j, 4);
            const float count = (float)lroundf(c);
            for (int64_t k = 0; k < ne0; ++k) {
                float x;
                memcpy(&x, (const uint8_t *)sums.data + 4 * (j * ne0 + k), 4);
                values[j * ne0 + k] = count > 0.0f ? x / count : 1.0f;
            }
        }
        if (add_entry(m, name, stem, values, nsums)) {
            free(values);
            rc = fail(err, err_size, "%s: out of memory%s", path, "");
        }
    }
    omq_gguf_close(g);
    if (!rc && m->n == 0) rc = fail(err, err_size, "%s: no importance data (no *.in_sum2 tensors)%s", path, "");
    return rc;
}

/* Reads exactly n bytes at *p, checking the end. */
static int take(const uint8_t **p, const uint8_t *end, void *out, size_t n) {
    if ((size_t)(end - *p) < n) return -1;
    memcpy(out, *p, n);
    *p += n;
    return 0;
}

static int load_dat(const char *path, const uint8_t *data, size_t size, imatrix *m, char *err, size_t err_size) {
    const uint8_t *p = data, *end = data + size;
    int32_t n_entries;
    if (take(&p, end, &n_entries, 4) || n_entries < 1)
        return fail(err, err_size, "%s: not an importance matrix (neither GGUF nor a legacy .dat with entries)%s", path, "");
    for (int32_t i = 0; i < n_entries; ++i) {
        int32_t len, ncall, nval;
        if (take(&p, end, &len, 4) || len < 1 || (size_t)(end - p) < (size_t)len)
            return fail(err, err_size, "%s: truncated or corrupt entry name%s", path, "");
        const char *name = (const char *)p;
        p += len;
        if (take(&p, end, &ncall, 4) || take(&p, end, &nval, 4) || nval < 1 || (size_t)(end - p) / 4 < (size_t)nval)
            return fail(err, err_size, "%s: truncated or corrupt entry '%s'", path, "");
        float *values = malloc((size_t)nval * sizeof(float));
        if (!values) return fail(err, err_size, "%s: out of memory%s", path, "");
        memcpy(values, p, (size_t)nval * 4);
        p += (size_t)nval * 4;
        if (ncall > 0)
            for (int32_t k = 0; k < nval; ++k) values[k] /= (float)ncall;
        if (add_entry(m, name, (size_t)len, values, nval)) {
            free(values);
            return fail(err, err_size, "%s: out of memory%s", path, "");
        }
    }
    int32_t chunks, len;
    if (!take(&p, end, &chunks, 4)) {
        m->chunk_count = chunks;
        if (!take(&p, end, &len, 4) && len > 0 && (size_t)(end - p) >= (size_t)len) {
            m->dataset = malloc((size_t)len + 1);
            if (m->dataset) memcpy(m->dataset, p, (size_t)len), m->dataset[len] = 0;
        }
    }
    m->legacy = 1;
    return 0;
}

int imatrix_load(const char *path, imatrix *m, char *err, size_t err_size) {
    memset(m, 0, sizeof *m);
    FILE *f = fopen(path, "rb");
    if (!f) return fail(err, err_size, "%s: cannot open%s", path, "");
    uint8_t *data = NULL;
    size_t size = 0, cap = 0;
    for (;;) { /* importance matrices are small (a few MB): read whole */
        if (size == cap && !(data = realloc(data, cap = cap ? 2 * cap : 1 << 16))) break;
        const size_t k = fread(data + size, 1, cap - size, f);
        size += k;
        if (!k) break;
    }
    fclose(f);
    if (!data) return fail(err, err_size, "%s: out of memory%s", path, "");
    int rc = size >= 4 && !memcmp(data, "GGUF", 4) ? load_gguf(path, m, err, err_size)
                                                   : load_dat(path, data, size, m, err, err_size);
    free(data);
    for (int64_t i = 0; !rc && i < m->n; ++i)
        for (int64_t k = 0; k < m->entries[i].n; ++k)
            if (!isfinite(m->entries[i].values[k])) {
                rc = fail(err, err_size, "%s: entry %s holds a non-finite value", path, m->entries[i].name);
                break;
            }
    if (rc) imatrix_free(m);
    return rc;
}

const imatrix_entry *imatrix_find(const imatrix *m, const char *name) {
    for (int64_t i = 0; i < m->n; ++i)
        if (!strcmp(m->entries[i].name, name)) return &m->entries[i];
    return NULL;
}

void imatrix_free(imatrix *m) {
    for (int64_t i = 0; i < m->n; ++i) {
        free(m->entries[i].name);
        free(m->entries[i].values);
    }
    free(m->entries);
    free(m->dataset);
    memset(m, 0, sizeof *m);
}
