/* Streaming GGUF v3 writer. Metadata and tensor declarations are kept in memory (they are
 * small); tensor data is passed through in whatever pieces the caller has, so no tensor needs
 * to be whole in memory. The output lives under a temporary name until finish. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "gguf_internal.h"

typedef struct {
    char *key;
    int type;
    uint8_t *raw; /* value encoding, as in the file after the type field */
    uint64_t raw_size;
} wkv;

typedef struct {
    char *name;
    int type, n_dims;
    int64_t ne[OMQ_GGUF_MAX_DIMS];
    uint64_t bytes, offset;
} wtensor;

enum { W_META, W_DATA, W_DONE, W_FAILED };
enum { BUF_SIZE = 1 << 20 };

struct omq_gguf_writer {
    char *path, *tmp_path;
    int fd, state;
    wkv *kv;
    int64_t n_kv, cap_kv;
    wtensor *t;
    int64_t n_t, cap_t;
    uint32_t alignment;
    int64_t cur;          /* tensor whose data comes next */
    uint64_t cur_written; /* bytes of it written so far */
    uint64_t file_pos;
    uint8_t *buf;
    size_t buf_len;
    char last_error[512];
};

static omq_status fail(omq_gguf_writer *w, omq_status st, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;
static omq_status fail(omq_gguf_writer *w, omq_status st, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(w->last_error, sizeof w->last_error, fmt, ap);
    va_end(ap);
    return st;
}

/* An I/O failure ends the writer: its temporary file is removed at once. */
static omq_status io_fail(omq_gguf_writer *w, const char *what, int err) {
    fail(w, OMQ_ERR_IO, "%s: %s: %s", w->tmp_path, what, strerror(err));
    if (w->fd >= 0) close(w->fd);
    w->fd = -1;
    unlink(w->tmp_path);
    w->state = W_FAILED;
    return OMQ_ERR_IO;
}

static omq_status raw_write(omq_gguf_writer *w, const void *data, size_t n) {
    const uint8_t *p = data;
    while (n) {
        ssize_t k = write(w->fd, p, n);
        if (k < 0 && errno == EINTR) continue;
        if (k <= 0) return io_fail(w, "write failed", k < 0 ? errno : EIO);
        p += k;
        n -= (size_t)k;
    }
    return OMQ_OK;
}

static omq_status flush(omq_gguf_writer *w) {
    omq_status st = w->buf_len ? raw_write(w, w->buf, w->buf_len) : OMQ_OK;
    w->buf_len = 0;
    return st;
}

static omq_status emit(omq_gguf_writer *w, const void *data, size_t n) {
    w->file_pos += n;
    if (w->buf_len + n <= BUF_SIZE) {
        memcpy(w->buf + w->buf_len, data, n);
        w->buf_len += n;
        return OMQ_OK;
    }
    omq_status st = flush(w);
    if (st) return st;
    if (n >= BUF_SIZE) return raw_write(w, data, n);
    memcpy(w->buf, data, n);
    w->buf_len = n;
    return OMQ_OK;
}

static omq_status emit_le(omq_gguf_writer *w, uint64_t v, int bytes) {
    uint8_t b[8];
    for (int i = 0; i < bytes; ++i) b[i] = (uint8_t)(v >> (8 * i));
    return emit(w, b, (size_t)bytes);
}

static omq_status emit_zeros(omq_gguf_writer *w, uint64_t n) {
    static const uint8_t zeros[256];
    omq_status st = OMQ_OK;
    while (n && !st) {
        const size_t k = n < sizeof zeros ? (size_t)n : sizeof zeros;
        st = emit(w, zeros, k);
        n -= k;
    }
    return st;
}

static uint64_t pad_to(uint64_t n, uint32_t a) { return (a - n % a) % a; }

/* ------------------------------------------------------------------ create / free */
static char *dup_str(const char *s) {
    size_t n = strlen(s) + 1;
    char *p = malloc(n);
    if (p) memcpy(p, s, n);
    return p;
}

omq_status omq_gguf_writer_create(omq_gguf_writer **out, const char *path, char *msg, size_t msg_size) {
    if (msg && msg_size) msg[0] = 0;
    if (!out || !path) return omq_gguf_msg(msg, msg_size, OMQ_ERR_NULL, "omq_gguf_writer_create: a NULL argument");
    *out = NULL;
    if (!*path) return omq_gguf_msg(msg, msg_size, OMQ_ERR_INVALID_ARG, "empty output path");
    struct stat sb;
    if (!stat(path, &sb) && S_ISDIR(sb.st_mode))
        return omq_gguf_msg(msg, msg_size, OMQ_ERR_IO, "%s: is a directory", path);
    omq_gguf_writer *w = calloc(1, sizeof *w);
    if (!w) return omq_gguf_msg(msg, msg_size, OMQ_ERR_ALLOC, "out of memory");
    w->fd = -1;
    w->alignment = OMQ_GGUF_DEFAULT_ALIGNMENT;
    w->path = dup_str(path);
    w->buf = malloc(BUF_SIZE);
    const char *slash = strrchr(path, '/');
    const size_t dir_len = slash ? (size_t)(slash - path) + 1 : 0;
    const char *base = slash ? slash + 1 : path;
    const size_t tmp_cap = strlen(path) + 64;
    w->tmp_path = malloc(tmp_cap);
    if (!w->path || !w->buf || !w->tmp_path) {
        omq_gguf_writer_free(w);
        return omq_gguf_msg(msg, msg_size, OMQ_ERR_ALLOC, "out of memory");
    }
    /* the temporary file sits next to the destination so that rename() is atomic; O_EXCL
     * with a fresh name (not mkstemp) so the file gets the usual umask-derived mode */
    static unsigned counter;
    int err = 0;
    for (int attempt = 0; attempt < 100 && w->fd < 0; ++attempt) {
        const unsigned salt = (unsigned)time(NULL) * 2654435761u ^ (unsigned)(uintptr_t)w ^ ++counter * 40503u;
        snprintf(w->tmp_path, tmp_cap, "%.*s.%s.omq-tmp-%ld-%08x", (int)dir_len, path, base, (long)getpid(), salt);
        w->fd = open(w->tmp_path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
        err = errno;
        if (w->fd < 0 && err != EEXIST) break;
    }
    if (w->fd < 0) {
        omq_gguf_msg(msg, msg_size, OMQ_ERR_IO, "%s: cannot create a temporary file next to it: %s", path, strerror(err));
        free(w->tmp_path);
        w->tmp_path = NULL;
        omq_gguf_writer_free(w);
        return OMQ_ERR_IO;
    }
    *out = w;
    return OMQ_OK;
}

const char *omq_gguf_writer_last_error(const omq_gguf_writer *w) { return w ? w->last_error : ""; }

void omq_gguf_writer_free(omq_gguf_writer *w) {
    if (!w) return;
    if (w->fd >= 0) close(w->fd);
    if (w->state != W_DONE && w->tmp_path) unlink(w->tmp_path);
    for (int64_t i = 0; i < w->n_kv; ++i) {
        free(w->kv[i].key);
        free(w->kv[i].raw);
    }
    for (int64_t i = 0; i < w->n_t; ++i) free(w->t[i].name);
    free(w->kv);
    free(w->t);
    free(w->buf);
    free(w->path);
    free(w->tmp_path);
    free(w);
}

/* ------------------------------------------------------------------ metadata */
static omq_status check_meta(omq_gguf_writer *w, const char *key) {
    if (!w) return OMQ_ERR_NULL;
    if (w->state != W_META)
        return fail(w, OMQ_ERR_INVALID_ARG, "metadata and tensor declarations cannot change once data is written");
    if (!key) return fail(w, OMQ_ERR_NULL, "the key is NULL");
    if (!*key) return fail(w, OMQ_ERR_INVALID_ARG, "empty key");
    return OMQ_OK;
}

omq_status omq_gguf_writer_remove_key(omq_gguf_writer *w, const char *key) {
    omq_status st = check_meta(w, key);
    if (st) return st;
    for (int64_t i = 0; i < w->n_kv; ++i)
        if (!strcmp(w->kv[i].key, key)) {
            free(w->kv[i].key);
            free(w->kv[i].raw);
            memmove(&w->kv[i], &w->kv[i + 1], (size_t)(w->n_kv - i - 1) * sizeof *w->kv);
            --w->n_kv;
            break;
        }
    return OMQ_OK;
}

/* Takes ownership of raw (freed on failure). */
static omq_status put_kv(omq_gguf_writer *w, const char *key, int type, uint8_t *raw, uint64_t raw_size) {
    omq_status st = check_meta(w, key);
    if (!st && !raw) st = fail(w, OMQ_ERR_ALLOC, "out of memory for key '%s'", key);
    if (!st && !strcmp(key, "general.alignment")) {
        uint32_t a = 0;
        if (type == OMQ_GGUF_UINT32) a = (uint32_t)raw[0] | (uint32_t)raw[1] << 8 | (uint32_t)raw[2] << 16 | (uint32_t)raw[3] << 24;
        if (type != OMQ_GGUF_UINT32 || a == 0 || (a & (a - 1)))
            st = fail(w, OMQ_ERR_INVALID_ARG, "general.alignment must be a uint32 power of two");
        else
            w->alignment = a;
    }
    if (!st) st = omq_gguf_writer_remove_key(w, key);
    if (!st && w->n_kv == w->cap_kv) {
        const int64_t cap = w->cap_kv ? 2 * w->cap_kv : 16;
        wkv *p = realloc(w->kv, (size_t)cap * sizeof *p);
        if (!p) st = fail(w, OMQ_ERR_ALLOC, "out of memory");
        else w->kv = p, w->cap_kv = cap;
    }
    char *k = st ? NULL : dup_str(key);
    if (!st && !k) st = fail(w, OMQ_ERR_ALLOC, "out of memory");
    if (st) {
        free(raw);
        return st;
    }
    w->kv[w->n_kv++] = (wkv){k, type, raw, raw_size};
    return OMQ_OK;
}

static uint8_t *le_bytes(uint64_t v, int n) {
    uint8_t *p = malloc(8);
    if (p)
        for (int i = 0; i < n; ++i) p[i] = (uint8_t)(v >> (8 * i));
    return p;
}

omq_status omq_gguf_writer_set_uint(omq_gguf_writer *w, const char *key, omq_gguf_type type, uint64_t v) {
    if (!w) return OMQ_ERR_NULL;
    const size_t n = omq_gguf_type_size(type);
    if (type != OMQ_GGUF_UINT8 && type != OMQ_GGUF_UINT16 && type != OMQ_GGUF_UINT32 && type != OMQ_GGUF_UINT64)
        return fail(w, OMQ_ERR_INVALID_ARG, "key '%s': %s is not an unsigned integer type", key ? key : "",
                    omq_gguf_type_name(type) ? omq_gguf_type_name(type) : "unknown");
    if (n < 8 && v >> (8 * n))
        return fail(w, OMQ_ERR_OVERFLOW, "key '%s': %llu does not fit a %s", key ? key : "", (unsigned long long)v,
                    omq_gguf_type_name(type));
    return put_kv(w, key, type, le_bytes(v, (int)n), n);
}

omq_status omq_gguf_writer_set_int(omq_gguf_writer *w, const char *key, omq_gguf_type type, int64_t v) {
    if (!w) return OMQ_ERR_NULL;
    const size_t n = omq_gguf_type_size(type);
    if (type != OMQ_GGUF_INT8 && type != OMQ_GGUF_INT16 && type != OMQ_GGUF_INT32 && type != OMQ_GGUF_INT64)
        return fail(w, OMQ_ERR_INVALID_ARG, "key '%s': %s is not a signed integer type", key ? key : "",
                    omq_gguf_type_name(type) ? omq_gguf_type_name(type) : "unknown");
    if (n < 8) {
        const int64_t lim = (int64_t)1 << (8 * n - 1);
        if (v < -lim || v >= lim)
            return fail(w, OMQ_ERR_OVERFLOW, "key '%s': %lld does not fit an %s", key ? key : "", (long long)v,
                        omq_gguf_type_name(type));
    }
    return put_kv(w, key, type, le_bytes((uint64_t)v, (int)n), n);
}

omq_status omq_gguf_writer_set_float(omq_gguf_writer *w, const char *key, omq_gguf_type type, double v) {
    if (!w) return OMQ_ERR_NULL;
    if (type == OMQ_GGUF_FLOAT32) {
        const float f = (float)v;
        uint32_t bits;
        memcpy(&bits, &f, 4);
        return put_kv(w, key, type, le_bytes(bits, 4), 4);
    }
    if (type == OMQ_GGUF_FLOAT64) {
        uint64_t bits;
        memcpy(&bits, &v, 8);
        return put_kv(w, key, type, le_bytes(bits, 8), 8);
    }
    return fail(w, OMQ_ERR_INVALID_ARG, "key '%s': not a float type", key ? key : "");
}

omq_status omq_gguf_writer_set_bool(omq_gguf_writer *w, const char *key, int v) {
    if (!w) return OMQ_ERR_NULL;
    return put_kv(w, key, OMQ_GGUF_BOOL, le_bytes(v != 0, 1), 1);
}

omq_status omq_gguf_writer_set_string(omq_gguf_writer *w, const char *key, const char *s, uint64_t len) {
    if (!w) return OMQ_ERR_NULL;
    if (!s && len) return fail(w, OMQ_ERR_NULL, "key '%s': the string is NULL", key ? key : "");
    if (len > SIZE_MAX - 8) return fail(w, OMQ_ERR_OVERFLOW, "key '%s': string too long", key ? key : "");
    uint8_t *raw = malloc((size_t)len + 8);
    if (raw) {
        for (int i = 0; i < 8; ++i) raw[i] = (uint8_t)(len >> (8 * i));
        if (len) memcpy(raw + 8, s, (size_t)len);
    }
    return put_kv(w, key, OMQ_GGUF_STRING, raw, len + 8);
}

static void put_le(uint8_t *p, uint64_t v, int n) {
    for (int i = 0; i < n; ++i) p[i] = (uint8_t)(v >> (8 * i));
}

omq_status omq_gguf_writer_set_array(omq_gguf_writer *w, const char *key, omq_gguf_type elem_type, uint64_t count,
                                     const void *data) {
    if (!w) return OMQ_ERR_NULL;
    const size_t es = omq_gguf_type_size(elem_type);
    if (!es)
        return fail(w, OMQ_ERR_INVALID_ARG, "key '%s': arrays of %s need omq_gguf_writer_set_string_array or are "
                    "not supported", key ? key : "", omq_gguf_type_name(elem_type) ? omq_gguf_type_name(elem_type) : "unknown types");
    if (!data && count) return fail(w, OMQ_ERR_NULL, "key '%s': the array data is NULL", key ? key : "");
    if (count > (SIZE_MAX - 12) / es) return fail(w, OMQ_ERR_OVERFLOW, "key '%s': array too long", key ? key : "");
    const size_t n = 12 + (size_t)count * es;
    uint8_t *raw = malloc(n);
    if (raw) {
        put_le(raw, (uint64_t)elem_type, 4);
        put_le(raw + 4, count, 8);
        if (count) memcpy(raw + 12, data, n - 12);
    }
    return put_kv(w, key, OMQ_GGUF_ARRAY, raw, n);
}

omq_status omq_gguf_writer_set_string_array(omq_gguf_writer *w, const char *key, uint64_t count,
                                            const char *const *strs, const uint64_t *lens) {
    if (!w) return OMQ_ERR_NULL;
    if (!strs && count) return fail(w, OMQ_ERR_NULL, "key '%s': the string array is NULL", key ? key : "");
    size_t n = 12;
    for (uint64_t j = 0; j < count; ++j) {
        if (!strs[j] && (!lens || lens[j])) return fail(w, OMQ_ERR_NULL, "key '%s': string %llu is NULL", key ? key : "", (unsigned long long)j);
        const uint64_t len = lens ? lens[j] : strlen(strs[j]);
        if (len > SIZE_MAX - 8 - n) return fail(w, OMQ_ERR_OVERFLOW, "key '%s': array too long", key ? key : "");
        n += 8 + (size_t)len;
    }
    uint8_t *raw = malloc(n);
    if (raw) {
        put_le(raw, OMQ_GGUF_STRING, 4);
        put_le(raw + 4, count, 8);
        size_t at = 12;
        for (uint64_t j = 0; j < count; ++j) {
            const uint64_t len = lens ? lens[j] : strlen(strs[j]);
            put_le(raw + at, len, 8);
            if (len) memcpy(raw + at + 8, strs[j], (size_t)len);
            at += 8 + (size_t)len;
        }
    }
    return put_kv(w, key, OMQ_GGUF_ARRAY, raw, n);
}

omq_status omq_gguf_writer_copy_kv(omq_gguf_writer *w, const omq_gguf *g, int64_t i) {
    if (!w) return OMQ_ERR_NULL;
    const void *bytes;
    uint64_t size;
    if (!g) return fail(w, OMQ_ERR_NULL, "omq_gguf_writer_copy_kv: the reader is NULL");
    if (omq_gguf_kv_raw(g, i, &bytes, &size)) return fail(w, OMQ_ERR_INVALID_ARG, "no key-value %lld in the reader", (long long)i);
    if (size > SIZE_MAX) return fail(w, OMQ_ERR_OVERFLOW, "value too large");
    uint8_t *raw = malloc(size ? (size_t)size : 1);
    if (raw) memcpy(raw, bytes, (size_t)size);
    return put_kv(w, omq_gguf_kv_key(g, i), omq_gguf_kv_type(g, i), raw, size);
}

/* ------------------------------------------------------------------ tensors */
omq_status omq_gguf_writer_add_tensor(omq_gguf_writer *w, const char *name, int ggml_type, int n_dims,
                                      const int64_t *ne) {
    omq_status st = check_meta(w, name ? name : "-");
    if (st) return st;
    if (!name || !ne) return fail(w, OMQ_ERR_NULL, "omq_gguf_writer_add_tensor: a NULL argument");
    const size_t len = strlen(name);
    if (len >= OMQ_GGUF_MAX_NAME)
        return fail(w, OMQ_ERR_INVALID_ARG, "tensor name '%s' is %zu bytes: ggml allows at most %d", name, len,
                    OMQ_GGUF_MAX_NAME - 1);
    if (n_dims < 1 || n_dims > OMQ_GGUF_MAX_DIMS)
        return fail(w, OMQ_ERR_INVALID_ARG, "tensor '%s': %d dimensions (1 to 4 are allowed)", name, n_dims);
    for (int64_t i = 0; i < w->n_t; ++i)
        if (!strcmp(w->t[i].name, name)) return fail(w, OMQ_ERR_INVALID_ARG, "duplicate tensor name '%s'", name);
    wtensor t = {.type = ggml_type, .n_dims = n_dims};
    for (int d = 0; d < OMQ_GGUF_MAX_DIMS; ++d) t.ne[d] = d < n_dims ? ne[d] : 1;
    st = omq_gguf_tensor_bytes(ggml_type, t.ne, &t.bytes);
    if (st == OMQ_ERR_UNKNOWN_TYPE) return fail(w, st, "tensor '%s': unknown ggml type %d", name, ggml_type);
    if (st == OMQ_ERR_SHAPE)
        return fail(w, st, "tensor '%s': dimensions must be positive and ne[0] = %lld a multiple of %s's block size",
                    name, (long long)t.ne[0], omq_gguf_ggml_type_name(ggml_type));
    if (st) return fail(w, st, "tensor '%s': its byte size overflows", name);
    uint64_t offset = 0;
    if (w->n_t) {
        const wtensor *prev = &w->t[w->n_t - 1];
        const uint64_t end = prev->offset + prev->bytes;
        const uint64_t pad = pad_to(end, w->alignment);
        if (end < prev->offset || end > UINT64_MAX - pad) return fail(w, OMQ_ERR_OVERFLOW, "tensor data offsets overflow");
        offset = end + pad;
    }
    t.offset = offset;
    if (w->n_t == w->cap_t) {
        const int64_t cap = w->cap_t ? 2 * w->cap_t : 64;
        wtensor *p = realloc(w->t, (size_t)cap * sizeof *p);
        if (!p) return fail(w, OMQ_ERR_ALLOC, "out of memory");
        w->t = p;
        w->cap_t = cap;
    }
    t.name = dup_str(name);
    if (!t.name) return fail(w, OMQ_ERR_ALLOC, "out of memory");
    w->t[w->n_t++] = t;
    return OMQ_OK;
}

/* Offsets were computed with the alignment in force when each tensor was added; a later
 * general.alignment changes them, so they are recomputed when the header is written. */
static omq_status write_header(omq_gguf_writer *w) {
    uint64_t offset = 0;
    for (int64_t i = 0; i < w->n_t; ++i) {
        w->t[i].offset = offset;
        const uint64_t end = offset + w->t[i].bytes;
        const uint64_t pad = pad_to(end, w->alignment);
        if (end < offset || end > UINT64_MAX - pad) return fail(w, OMQ_ERR_OVERFLOW, "tensor data offsets overflow");
        offset = end + pad;
    }
    omq_status st;
    if ((st = emit_le(w, OMQ_GGUF_MAGIC, 4)) || (st = emit_le(w, 3, 4)) || (st = emit_le(w, (uint64_t)w->n_t, 8)) ||
        (st = emit_le(w, (uint64_t)w->n_kv, 8)))
        return st;
    for (int64_t i = 0; i < w->n_kv && !st; ++i) {
        const wkv *e = &w->kv[i];
        const size_t klen = strlen(e->key);
        if (!(st = emit_le(w, klen, 8)) && !(st = emit(w, e->key, klen)) && !(st = emit_le(w, (uint64_t)e->type, 4)))
            st = emit(w, e->raw, (size_t)e->raw_size);
    }
    for (int64_t i = 0; i < w->n_t && !st; ++i) {
        const wtensor *t = &w->t[i];
        const size_t nlen = strlen(t->name);
        if ((st = emit_le(w, nlen, 8)) || (st = emit(w, t->name, nlen)) || (st = emit_le(w, (uint64_t)t->n_dims, 4)))
            break;
        for (int d = 0; d < t->n_dims && !st; ++d) st = emit_le(w, (uint64_t)t->ne[d], 8);
        if (!st && !(st = emit_le(w, (uint64_t)t->type, 4))) st = emit_le(w, t->offset, 8);
    }
    if (!st) st = emit_zeros(w, pad_to(w->file_pos, w->alignment));
    if (!st) w->state = W_DATA;
    return st;
}

omq_status omq_gguf_writer_write(omq_gguf_writer *w, const void *data, size_t bytes) {
    if (!w) return OMQ_ERR_NULL;
    if (w->state == W_FAILED) return OMQ_ERR_IO; /* last_error still says why */
    if (w->state == W_DONE) return fail(w, OMQ_ERR_INVALID_ARG, "the file is already finished");
    if (!data && bytes) return fail(w, OMQ_ERR_NULL, "omq_gguf_writer_write: data is NULL");
    omq_status st = w->state == W_META ? write_header(w) : OMQ_OK;
    const uint8_t *p = data;
    while (!st && bytes) {
        if (w->cur >= w->n_t)
            return fail(w, OMQ_ERR_INVALID_ARG, "%zu bytes more than the declared tensors hold", bytes);
        wtensor *t = &w->t[w->cur];
        const uint64_t room = t->bytes - w->cur_written;
        const size_t take = room < bytes ? (size_t)room : bytes;
        if ((st = emit(w, p, take))) break;
        p += take;
        bytes -= take;
        w->cur_written += take;
        if (w->cur_written == t->bytes) {
            st = emit_zeros(w, pad_to(t->bytes, w->alignment));
            ++w->cur;
            w->cur_written = 0;
        }
    }
    return st;
}

static void sync_dir(const char *path) {
    /* the rename is durable only once the directory itself is synced */
    const char *slash = strrchr(path, '/');
    char dir[4096];
    if (!slash) snprintf(dir, sizeof dir, ".");
    else if (slash == path) snprintf(dir, sizeof dir, "/");
    else snprintf(dir, sizeof dir, "%.*s", (int)(slash - path), path);
    const int fd = open(dir, O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
        fsync(fd);
        close(fd);
    }
}

omq_status omq_gguf_writer_finish(omq_gguf_writer *w) {
    if (!w) return OMQ_ERR_NULL;
    if (w->state == W_DONE) return OMQ_OK;
    if (w->state == W_FAILED) return OMQ_ERR_IO;
    omq_status st = w->state == W_META ? write_header(w) : OMQ_OK;
    if (st) return st;
    if (w->cur < w->n_t) {
        fail(w, OMQ_ERR_INVALID_ARG, "tensor '%s' has %llu of its %llu bytes of data: %lld tensor(s) incomplete",
             w->t[w->cur].name, (unsigned long long)w->cur_written, (unsigned long long)w->t[w->cur].bytes,
             (long long)(w->n_t - w->cur));
        close(w->fd);
        w->fd = -1;
        unlink(w->tmp_path);
        w->state = W_FAILED;
        return OMQ_ERR_INVALID_ARG;
    }
    if ((st = flush(w))) return st;
    if (fsync(w->fd)) return io_fail(w, "fsync failed", errno);
    const int fd = w->fd;
    w->fd = -1;
    if (close(fd)) return io_fail(w, "close failed", errno);
    if (rename(w->tmp_path, w->path)) {
        const int e = errno;
        fail(w, OMQ_ERR_IO, "cannot rename %s to %s: %s", w->tmp_path, w->path, strerror(e));
        unlink(w->tmp_path);
        w->state = W_FAILED;
        return OMQ_ERR_IO;
    }
    sync_dir(w->path);
    w->state = W_DONE;
    return OMQ_OK;
}
