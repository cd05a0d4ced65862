/* GGUF reader: maps the file and validates all of it at open, so that every accessor after
 * that is a plain lookup that cannot fail on file contents. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../omq_internal.h"
#include "gguf_internal.h"

typedef struct {
    char *key;
    int type;
    const uint8_t *raw; /* the value's encoding (after the type field) */
    uint64_t raw_size;
    int elem_type;        /* arrays */
    uint64_t count;       /* arrays */
    uint64_t *str_offset; /* arrays of strings: offset in raw of element j's length field */
} kv_entry;

typedef struct {
    char *name;
    int type, n_dims, size_known;
    int64_t ne[OMQ_GGUF_MAX_DIMS];
    uint64_t offset, bytes;
} tensor_entry;

struct omq_gguf {
    const uint8_t *base;
    size_t size;
    int mapped;
    uint32_t version, alignment;
    uint64_t data_offset;
    int64_t n_kv, n_tensors;
    kv_entry *kv;
    tensor_entry *tensors;
    int64_t *kv_hash, *tensor_hash; /* open addressing: index or -1 */
    uint64_t kv_mask, tensor_mask;
};

/* ------------------------------------------------------------------ parsing */
typedef struct {
    const uint8_t *base, *p, *end;
    char *msg;
    size_t msg_size;
} cursor;

static uint64_t pos(const cursor *c) { return (uint64_t)(c->p - c->base); }
static uint64_t left(const cursor *c) { return (uint64_t)(c->end - c->p); }

static uint64_t le(const uint8_t *p, int n) {
    uint64_t v = 0;
    for (int i = n - 1; i >= 0; --i) v = v << 8 | p[i];
    return v;
}

static omq_status need(cursor *c, uint64_t n, const char *what) {
    if (left(c) >= n) return OMQ_OK;
    return omq_gguf_msg(c->msg, c->msg_size, OMQ_ERR_FORMAT,
                        "truncated file: %s needs %llu bytes at offset %llu, only %llu remain", what,
                        (unsigned long long)n, (unsigned long long)pos(c), (unsigned long long)left(c));
}

static omq_status read_u32(cursor *c, uint32_t *v, const char *what) {
    omq_status st = need(c, 4, what);
    if (st) return st;
    *v = (uint32_t)le(c->p, 4);
    c->p += 4;
    return OMQ_OK;
}

static omq_status read_u64(cursor *c, uint64_t *v, const char *what) {
    omq_status st = need(c, 8, what);
    if (st) return st;
    *v = le(c->p, 8);
    c->p += 8;
    return OMQ_OK;
}

/* A GGUF string (u64 length + bytes). */
static omq_status read_str(cursor *c, const uint8_t **s, uint64_t *len, const char *what) {
    omq_status st = read_u64(c, len, what);
    if (st) return st;
    if (*len > left(c))
        return omq_gguf_msg(c->msg, c->msg_size, OMQ_ERR_FORMAT,
                            "%s at offset %llu claims %llu bytes, only %llu remain in the file", what,
                            (unsigned long long)(pos(c) - 8), (unsigned long long)*len,
                            (unsigned long long)left(c));
    *s = c->p;
    c->p += *len;
    return OMQ_OK;
}

/* A NUL-terminated copy of a key or tensor name. */
static omq_status read_name(cursor *c, char **out, const char *what) {
    const uint8_t *s = NULL;
    uint64_t len = 0;
    omq_status st = read_str(c, &s, &len, what);
    if (st) return st;
    if (memchr(s, 0, len))
        return omq_gguf_msg(c->msg, c->msg_size, OMQ_ERR_FORMAT, "%s at offset %llu contains a NUL byte", what,
                            (unsigned long long)(pos(c) - len - 8));
    *out = malloc(len + 1);
    if (!*out) return omq_gguf_msg(c->msg, c->msg_size, OMQ_ERR_ALLOC, "out of memory for a %llu-byte %s",
                                   (unsigned long long)len, what);
    memcpy(*out, s, len);
    (*out)[len] = 0;
    return OMQ_OK;
}

static omq_status parse_value(cursor *c, kv_entry *e) {
    const uint8_t *start = c->p;
    omq_status st;
    const size_t fixed = omq_gguf_type_size(e->type);
    if (fixed) {
        if ((st = need(c, fixed, "a metadata value"))) return st;
        c->p += fixed;
    } else if (e->type == OMQ_GGUF_STRING) {
        const uint8_t *s;
        uint64_t len;
        if ((st = read_str(c, &s, &len, "a string value"))) return st;
    } else if (e->type == OMQ_GGUF_ARRAY) {
        uint32_t et;
        if ((st = read_u32(c, &et, "an array's element type")) || (st = read_u64(c, &e->count, "an array's length")))
            return st;
        e->elem_type = (int)et;
        if (et == OMQ_GGUF_ARRAY)
            return omq_gguf_msg(c->msg, c->msg_size, OMQ_ERR_UNSUPPORTED,
                                "key '%s' is an array of arrays: nested arrays are not supported", e->key);
        const size_t esize = omq_gguf_type_size((int)et);
        if (esize) {
            if (e->count > left(c) / esize)
                return omq_gguf_msg(c->msg, c->msg_size, OMQ_ERR_FORMAT,
                                    "key '%s': array of %llu %s elements at offset %llu does not fit in the "
                                    "%llu bytes left in the file",
                                    e->key, (unsigned long long)e->count, omq_gguf_type_name((int)et),
                                    (unsigned long long)pos(c), (unsigned long long)left(c));
            c->p += e->count * esize;
        } else if (et == OMQ_GGUF_STRING) {
            /* each element takes at least its 8-byte length: this bounds the table by the file size */
            if (e->count > left(c) / 8)
                return omq_gguf_msg(c->msg, c->msg_size, OMQ_ERR_FORMAT,
                                    "key '%s': array of %llu strings at offset %llu does not fit in the %llu "
                                    "bytes left in the file",
                                    e->key, (unsigned long long)e->count, (unsigned long long)pos(c),
                                    (unsigned long long)left(c));
            e->str_offset = malloc((e->count ? e->count : 1) * sizeof *e->str_offset);
            if (!e->str_offset)
                return omq_gguf_msg(c->msg, c->msg_size, OMQ_ERR_ALLOC, "out of memory for key '%s'", e->key);
            for (uint64_t j = 0; j < e->count; ++j) {
                const uint8_t *s;
                uint64_t len;
                e->str_offset[j] = (uint64_t)(c->p - start);
                if ((st = read_str(c, &s, &len, "a string array element"))) return st;
            }
        } else {
            return omq_gguf_msg(c->msg, c->msg_size, OMQ_ERR_FORMAT,
                                "key '%s': unknown array element type %u at offset %llu", e->key, et,
                                (unsigned long long)(pos(c) - 12));
        }
    } else {
        return omq_gguf_msg(c->msg, c->msg_size, OMQ_ERR_FORMAT,
                            "key '%s': unknown value type %u at offset %llu", e->key, (unsigned)e->type,
                            (unsigned long long)(pos(c) - 4));
    }
    e->raw = start;
    e->raw_size = (uint64_t)(c->p - start);
    return OMQ_OK;
}

/* Hash table of n names; duplicates are reported through *dup. */
static omq_status build_index(int64_t n, char *(*name_of)(const omq_gguf *, int64_t), const omq_gguf *g,
                              int64_t **table, uint64_t *mask, int64_t *dup) {
    uint64_t cap = 16;
    while (cap < 2 * (uint64_t)n) cap <<= 1;
    *table = malloc(cap * sizeof **table);
    if (!*table) return OMQ_ERR_ALLOC;
    for (uint64_t i = 0; i < cap; ++i) (*table)[i] = -1;
    *mask = cap - 1;
    *dup = -1;
    for (int64_t i = 0; i < n; ++i) {
        const char *name = name_of(g, i);
        uint64_t h = omq_gguf_hash(name) & *mask;
        while ((*table)[h] >= 0) {
            if (!strcmp(name_of(g, (*table)[h]), name)) {
                *dup = i;
                return OMQ_OK;
            }
            h = (h + 1) & *mask;
        }
        (*table)[h] = i;
    }
    return OMQ_OK;
}

static char *kv_name(const omq_gguf *g, int64_t i) { return g->kv[i].key; }
static char *tensor_name(const omq_gguf *g, int64_t i) { return g->tensors[i].name; }

static int64_t lookup(const int64_t *table, uint64_t mask, char *(*name_of)(const omq_gguf *, int64_t),
                      const omq_gguf *g, const char *name) {
    if (!table || !name) return -1;
    for (uint64_t h = omq_gguf_hash(name) & mask; table[h] >= 0; h = (h + 1) & mask)
        if (!strcmp(name_of(g, table[h]), name)) return table[h];
    return -1;
}

typedef struct {
    uint64_t offset, bytes;
    int64_t index;
} extent;

static int by_offset(const void *a, const void *b) {
    const extent *x = a, *y = b;
    return x->offset < y->offset ? -1 : x->offset > y->offset;
}

static omq_status parse_tensors(omq_gguf *g, cursor *c) {
    omq_status st;
    for (int64_t i = 0; i < g->n_tensors; ++i) {
        tensor_entry *t = &g->tensors[i];
        uint32_t n_dims, type;
        if ((st = read_name(c, &t->name, "a tensor name"))) return st;
        if ((st = read_u32(c, &n_dims, "a tensor's dimension count"))) return st;
        if (n_dims < 1 || n_dims > OMQ_GGUF_MAX_DIMS)
            return omq_gguf_msg(c->msg, c->msg_size, OMQ_ERR_FORMAT,
                                "tensor '%s' has %u dimensions (1 to %d are allowed)", t->name, n_dims,
                                OMQ_GGUF_MAX_DIMS);
        t->n_dims = (int)n_dims;
        for (int d = 0; d < OMQ_GGUF_MAX_DIMS; ++d) t->ne[d] = 1;
        uint64_t elements = 1;
        for (uint32_t d = 0; d < n_dims; ++d) {
            uint64_t v;
            if ((st = read_u64(c, &v, "a tensor dimension"))) return st;
            if (v == 0 || v > (uint64_t)INT64_MAX)
                return omq_gguf_msg(c->msg, c->msg_size, OMQ_ERR_FORMAT,
                                    "tensor '%s': dimension %u is %lld (must be positive)", t->name, d,
                                    (long long)(int64_t)v);
            if (elements > (uint64_t)INT64_MAX / v)
                return omq_gguf_msg(c->msg, c->msg_size, OMQ_ERR_OVERFLOW,
                                    "tensor '%s': its element count overflows 64 bits", t->name);
            elements *= v;
            t->ne[d] = (int64_t)v;
        }
        if ((st = read_u32(c, &type, "a tensor type")) || (st = read_u64(c, &t->offset, "a tensor offset")))
            return st;
        t->type = type > 0x7fffffffu ? -1 : (int)type;
        st = omq_gguf_tensor_bytes(t->type, t->ne, &t->bytes);
        if (st == OMQ_ERR_SHAPE) {
            int64_t bs;
            size_t bb;
            omq_gguf_ggml_type_size(t->type, &bs, &bb);
            return omq_gguf_msg(c->msg, c->msg_size, OMQ_ERR_FORMAT,
                                "tensor '%s': row length %lld is not a multiple of %s's block size %lld", t->name,
                                (long long)t->ne[0], omq_gguf_ggml_type_name(t->type), (long long)bs);
        }
        if (st == OMQ_ERR_OVERFLOW)
            return omq_gguf_msg(c->msg, c->msg_size, OMQ_ERR_OVERFLOW,
                                "tensor '%s': its byte size overflows 64 bits", t->name);
        t->size_known = st == OMQ_OK;
        if (!t->size_known) t->bytes = 0; /* unknown type: listable, never readable */
    }
    return OMQ_OK;
}

/* Every tensor's data lies inside the data section, aligned, and no two overlap. */
static omq_status check_extents(omq_gguf *g, cursor *c) {
    const uint64_t data_size = g->data_offset <= g->size ? g->size - g->data_offset : 0;
    extent *ext = malloc((size_t)(g->n_tensors ? g->n_tensors : 1) * sizeof *ext);
    if (!ext) return omq_gguf_msg(c->msg, c->msg_size, OMQ_ERR_ALLOC, "out of memory");
    int64_t n = 0;
    omq_status st = OMQ_OK;
    for (int64_t i = 0; i < g->n_tensors && !st; ++i) {
        const tensor_entry *t = &g->tensors[i];
        if (t->offset % g->alignment)
            st = omq_gguf_msg(c->msg, c->msg_size, OMQ_ERR_FORMAT,
                              "tensor '%s': data offset %llu is not a multiple of the alignment %u", t->name,
                              (unsigned long long)t->offset, g->alignment);
        else if (t->offset > data_size || t->bytes > data_size - t->offset)
            st = omq_gguf_msg(c->msg, c->msg_size, OMQ_ERR_FORMAT,
                              "tensor '%s': data [%llu, +%llu) extends past the end of the file (data section "
                              "of %llu bytes at offset %llu)",
                              t->name, (unsigned long long)t->offset, (unsigned long long)t->bytes,
                              (unsigned long long)data_size, (unsigned long long)g->data_offset);
        else if (t->size_known)
            ext[n++] = (extent){t->offset, t->bytes, i};
    }
    if (!st && n > 1) {
        qsort(ext, (size_t)n, sizeof *ext, by_offset);
        for (int64_t k = 1; k < n && !st; ++k)
            if (ext[k].offset < ext[k - 1].offset + ext[k - 1].bytes)
                st = omq_gguf_msg(c->msg, c->msg_size, OMQ_ERR_FORMAT,
                                  "tensors '%s' and '%s' overlap: [%llu, +%llu) and [%llu, +%llu)",
                                  g->tensors[ext[k - 1].index].name, g->tensors[ext[k].index].name,
                                  (unsigned long long)ext[k - 1].offset, (unsigned long long)ext[k - 1].bytes,
                                  (unsigned long long)ext[k].offset, (unsigned long long)ext[k].bytes);
    }
    free(ext);
    return st;
}

static omq_status parse(omq_gguf *g, char *msg, size_t msg_size) {
    cursor c = {g->base, g->base, g->base + g->size, msg, msg_size};
    uint32_t magic;
    uint64_t n_tensors, n_kv;
    omq_status st;
    if (g->size == 0) return omq_gguf_msg(msg, msg_size, OMQ_ERR_FORMAT, "empty file: not a GGUF file");
    if ((st = read_u32(&c, &magic, "the magic number"))) return st;
    if (magic != OMQ_GGUF_MAGIC)
        return omq_gguf_msg(msg, msg_size, OMQ_ERR_FORMAT,
                            "not a GGUF file: magic bytes %02x %02x %02x %02x, expected 47 47 55 46 (\"GGUF\")",
                            g->base[0], g->base[1], g->base[2], g->base[3]);
    if ((st = read_u32(&c, &g->version, "the version"))) return st;
    if (g->version == 1)
        return omq_gguf_msg(msg, msg_size, OMQ_ERR_UNSUPPORTED,
                            "GGUF version 1 (32-bit counts, 2023) is not supported: only versions 2 and 3 are; "
                            "convert the file again with a current gguf tool");
    if (g->version != 2 && g->version != 3) {
        if ((g->version & 0xffff) == 0 && (g->version >> 16))
            return omq_gguf_msg(msg, msg_size, OMQ_ERR_UNSUPPORTED,
                                "GGUF version field 0x%08x looks big-endian: big-endian GGUF files are not supported",
                                g->version);
        return omq_gguf_msg(msg, msg_size, OMQ_ERR_UNSUPPORTED,
                            "GGUF version %u is not supported (versions 2 and 3 are)", g->version);
    }
    if ((st = read_u64(&c, &n_tensors, "the tensor count")) || (st = read_u64(&c, &n_kv, "the key-value count")))
        return st;
    /* the smallest key-value takes 13 bytes and the smallest tensor info 32: counts the rest
     * of the file cannot hold are rejected before anything is allocated for them */
    if (n_kv > left(&c) / 13)
        return omq_gguf_msg(msg, msg_size, OMQ_ERR_FORMAT,
                            "the header claims %llu key-values, but the %llu bytes left cannot hold that many",
                            (unsigned long long)n_kv, (unsigned long long)left(&c));
    if (n_tensors > left(&c) / 32)
        return omq_gguf_msg(msg, msg_size, OMQ_ERR_FORMAT,
                            "the header claims %llu tensors, but the %llu bytes left cannot hold that many",
                            (unsigned long long)n_tensors, (unsigned long long)left(&c));
    g->n_kv = (int64_t)n_kv;
    g->n_tensors = (int64_t)n_tensors;
    g->kv = calloc(n_kv ? n_kv : 1, sizeof *g->kv);
    g->tensors = calloc(n_tensors ? n_tensors : 1, sizeof *g->tensors);
    if (!g->kv || !g->tensors) return omq_gguf_msg(msg, msg_size, OMQ_ERR_ALLOC, "out of memory for the header");

    g->alignment = OMQ_GGUF_DEFAULT_ALIGNMENT;
    for (int64_t i = 0; i < g->n_kv; ++i) {
        kv_entry *e = &g->kv[i];
        uint32_t type;
        if ((st = read_name(&c, &e->key, "a metadata key"))) return st;
        if ((st = read_u32(&c, &type, "a metadata value type"))) return st;
        if (type > OMQ_GGUF_FLOAT64)
            return omq_gguf_msg(msg, msg_size, OMQ_ERR_FORMAT, "key '%s': unknown value type %u at offset %llu",
                                e->key, type, (unsigned long long)(pos(&c) - 4));
        e->type = (int)type;
        if ((st = parse_value(&c, e))) return st;
        if (!strcmp(e->key, "general.alignment")) {
            if (e->type != OMQ_GGUF_UINT32)
                return omq_gguf_msg(msg, msg_size, OMQ_ERR_FORMAT, "general.alignment is a %s, it must be a uint32",
                                    omq_gguf_type_name(e->type));
            const uint32_t a = (uint32_t)le(e->raw, 4);
            if (a == 0 || (a & (a - 1)))
                return omq_gguf_msg(msg, msg_size, OMQ_ERR_FORMAT,
                                    "general.alignment is %u, it must be a nonzero power of two", a);
            g->alignment = a;
        }
    }
    int64_t dup;
    if (build_index(g->n_kv, kv_name, g, &g->kv_hash, &g->kv_mask, &dup))
        return omq_gguf_msg(msg, msg_size, OMQ_ERR_ALLOC, "out of memory");
    if (dup >= 0) return omq_gguf_msg(msg, msg_size, OMQ_ERR_FORMAT, "duplicate key '%s'", g->kv[dup].key);

    if ((st = parse_tensors(g, &c))) return st;
    if (build_index(g->n_tensors, tensor_name, g, &g->tensor_hash, &g->tensor_mask, &dup))
        return omq_gguf_msg(msg, msg_size, OMQ_ERR_ALLOC, "out of memory");
    if (dup >= 0)
        return omq_gguf_msg(msg, msg_size, OMQ_ERR_FORMAT, "duplicate tensor name '%s'", g->tensors[dup].name);

    const uint64_t header_end = pos(&c);
    const uint64_t pad = (g->alignment - header_end % g->alignment) % g->alignment;
    if (header_end > UINT64_MAX - pad)
        return omq_gguf_msg(msg, msg_size, OMQ_ERR_OVERFLOW, "the data section offset overflows");
    g->data_offset = header_end + pad;
    if (g->n_tensors && g->data_offset > g->size)
        return omq_gguf_msg(msg, msg_size, OMQ_ERR_FORMAT,
                            "truncated file: the tensor data section starts at offset %llu, but the file has %llu bytes",
                            (unsigned long long)g->data_offset, (unsigned long long)g->size);
    return check_extents(g, &c);
}

static omq_status open_common(omq_gguf *g, omq_gguf **out, char *msg, size_t msg_size) {
    if (msg && msg_size) msg[0] = 0;
    omq_status st = parse(g, msg, msg_size);
    if (st) {
        omq_gguf_close(g);
        return st;
    }
    *out = g;
    return OMQ_OK;
}

omq_status omq_gguf_open_memory(const void *data, size_t size, omq_gguf **out, char *msg, size_t msg_size) {
    if (!out) return omq_gguf_msg(msg, msg_size, OMQ_ERR_NULL, "omq_gguf_open_memory: the result pointer is NULL");
    *out = NULL;
    if (!data && size) return omq_gguf_msg(msg, msg_size, OMQ_ERR_NULL, "omq_gguf_open_memory: data is NULL");
    omq_gguf *g = calloc(1, sizeof *g);
    if (!g) return omq_gguf_msg(msg, msg_size, OMQ_ERR_ALLOC, "out of memory");
    g->base = data ? data : (const uint8_t *)"";
    g->size = size;
    return open_common(g, out, msg, msg_size);
}

omq_status omq_gguf_open(const char *path, omq_gguf **out, char *msg, size_t msg_size) {
    if (!out || !path) return omq_gguf_msg(msg, msg_size, OMQ_ERR_NULL, "omq_gguf_open: a NULL argument");
    *out = NULL;
    const int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return omq_gguf_msg(msg, msg_size, OMQ_ERR_IO, "%s: %s", path, strerror(errno));
    struct stat sb;
    if (fstat(fd, &sb)) {
        const int e = errno;
        close(fd);
        return omq_gguf_msg(msg, msg_size, OMQ_ERR_IO, "%s: %s", path, strerror(e));
    }
    if (!S_ISREG(sb.st_mode)) {
        close(fd);
        return omq_gguf_msg(msg, msg_size, OMQ_ERR_IO, "%s: not a regular file", path);
    }
    if ((uint64_t)sb.st_size > SIZE_MAX) {
        close(fd);
        return omq_gguf_msg(msg, msg_size, OMQ_ERR_OVERFLOW, "%s: too large to map", path);
    }
    omq_gguf *g = calloc(1, sizeof *g);
    if (!g) {
        close(fd);
        return omq_gguf_msg(msg, msg_size, OMQ_ERR_ALLOC, "out of memory");
    }
    g->size = (size_t)sb.st_size;
    if (g->size) {
        void *p = mmap(NULL, g->size, PROT_READ, MAP_PRIVATE, fd, 0);
        if (p == MAP_FAILED) {
            const int e = errno;
            close(fd);
            free(g);
            return omq_gguf_msg(msg, msg_size, OMQ_ERR_IO, "%s: cannot map %zu bytes: %s", path, (size_t)sb.st_size,
                                strerror(e));
        }
        g->base = p;
        g->mapped = 1;
    } else {
        g->base = (const uint8_t *)"";
    }
    close(fd); /* the mapping keeps the file */
    omq_status st = open_common(g, out, msg, msg_size);
    if (st && msg && msg_size) {
        /* prefix the path: a message about offsets means little without the file's name */
        char tmp[512];
        snprintf(tmp, sizeof tmp, "%s", msg);
        snprintf(msg, msg_size, "%s: %s", path, tmp);
    }
    return st;
}

void omq_gguf_close(omq_gguf *g) {
    if (!g) return;
    if (g->kv)
        for (int64_t i = 0; i < g->n_kv; ++i) {
            free(g->kv[i].key);
            free(g->kv[i].str_offset);
        }
    if (g->tensors)
        for (int64_t i = 0; i < g->n_tensors; ++i) free(g->tensors[i].name);
    free(g->kv);
    free(g->tensors);
    free(g->kv_hash);
    free(g->tensor_hash);
    if (g->mapped) munmap((void *)g->base, g->size);
    free(g);
}

/* ------------------------------------------------------------------ accessors */
uint32_t omq_gguf_version(const omq_gguf *g) { return g ? g->version : 0; }
uint32_t omq_gguf_alignment(const omq_gguf *g) { return g ? g->alignment : 0; }
uint64_t omq_gguf_data_offset(const omq_gguf *g) { return g ? g->data_offset : 0; }
uint64_t omq_gguf_file_size(const omq_gguf *g) { return g ? g->size : 0; }
int64_t omq_gguf_kv_count(const omq_gguf *g) { return g ? g->n_kv : 0; }
int64_t omq_gguf_tensor_count(const omq_gguf *g) { return g ? g->n_tensors : 0; }

int64_t omq_gguf_find_key(const omq_gguf *g, const char *key) {
    return g ? lookup(g->kv_hash, g->kv_mask, kv_name, g, key) : -1;
}

int64_t omq_gguf_find_tensor(const omq_gguf *g, const char *name) {
    return g ? lookup(g->tensor_hash, g->tensor_mask, tensor_name, g, name) : -1;
}

static const kv_entry *kv_at(const omq_gguf *g, int64_t i) {
    return g && i >= 0 && i < g->n_kv ? &g->kv[i] : NULL;
}

const char *omq_gguf_kv_key(const omq_gguf *g, int64_t i) {
    const kv_entry *e = kv_at(g, i);
    return e ? e->key : NULL;
}

int omq_gguf_kv_type(const omq_gguf *g, int64_t i) {
    const kv_entry *e = kv_at(g, i);
    return e ? e->type : -1;
}

omq_status omq_gguf_kv_raw(const omq_gguf *g, int64_t i, const void **bytes, uint64_t *size) {
    const kv_entry *e = kv_at(g, i);
    if (!bytes || !size) return OMQ_ERR_NULL;
    if (!e) return OMQ_ERR_INVALID_ARG;
    *bytes = e->raw;
    *size = e->raw_size;
    return OMQ_OK;
}

static int is_signed_int(int t) {
    return t == OMQ_GGUF_INT8 || t == OMQ_GGUF_INT16 || t == OMQ_GGUF_INT32 || t == OMQ_GGUF_INT64;
}
static int is_unsigned_int(int t) {
    return t == OMQ_GGUF_UINT8 || t == OMQ_GGUF_UINT16 || t == OMQ_GGUF_UINT32 || t == OMQ_GGUF_UINT64 ||
           t == OMQ_GGUF_BOOL;
}

/* A signed value, sign-extended from its width. */
static int64_t sext(uint64_t v, size_t bytes) {
    if (bytes == 8) return (int64_t)v;
    const uint64_t sign = 1ULL << (8 * bytes - 1);
    return (int64_t)((v ^ sign) - sign);
}

omq_status omq_gguf_get_int(const omq_gguf *g, int64_t i, int64_t *v) {
    const kv_entry *e = kv_at(g, i);
    if (!v) return OMQ_ERR_NULL;
    if (!e) return OMQ_ERR_INVALID_ARG;
    const size_t n = omq_gguf_type_size(e->type);
    if (is_signed_int(e->type)) {
        *v = sext(le(e->raw, (int)n), n);
    } else if (is_unsigned_int(e->type)) {
        const uint64_t u = le(e->raw, (int)n);
        if (u > (uint64_t)INT64_MAX) return OMQ_ERR_OVERFLOW;
        *v = (int64_t)u;
    } else {
        return OMQ_ERR_FORMAT;
    }
    return OMQ_OK;
}

omq_status omq_gguf_get_uint(const omq_gguf *g, int64_t i, uint64_t *v) {
    const kv_entry *e = kv_at(g, i);
    if (!v) return OMQ_ERR_NULL;
    if (!e) return OMQ_ERR_INVALID_ARG;
    const size_t n = omq_gguf_type_size(e->type);
    if (is_unsigned_int(e->type)) {
        *v = le(e->raw, (int)n);
    } else if (is_signed_int(e->type)) {
        const int64_t s = sext(le(e->raw, (int)n), n);
        if (s < 0) return OMQ_ERR_OVERFLOW;
        *v = (uint64_t)s;
    } else {
        return OMQ_ERR_FORMAT;
    }
    return OMQ_OK;
}

omq_status omq_gguf_get_float(const omq_gguf *g, int64_t i, double *v) {
    const kv_entry *e = kv_at(g, i);
    if (!v) return OMQ_ERR_NULL;
    if (!e) return OMQ_ERR_INVALID_ARG;
    if (e->type == OMQ_GGUF_FLOAT32) {
        const uint32_t bits = (uint32_t)le(e->raw, 4);
        float f;
        memcpy(&f, &bits, 4);
        *v = f;
    } else if (e->type == OMQ_GGUF_FLOAT64) {
        const uint64_t bits = le(e->raw, 8);
        memcpy(v, &bits, 8);
    } else {
        return OMQ_ERR_FORMAT;
    }
    return OMQ_OK;
}

omq_status omq_gguf_get_bool(const omq_gguf *g, int64_t i, int *v) {
    const kv_entry *e = kv_at(g, i);
    if (!v) return OMQ_ERR_NULL;
    if (!e) return OMQ_ERR_INVALID_ARG;
    if (e->type != OMQ_GGUF_BOOL) return OMQ_ERR_FORMAT;
    *v = e->raw[0] != 0;
    return OMQ_OK;
}

omq_status omq_gguf_get_string(const omq_gguf *g, int64_t i, const char **s, uint64_t *len) {
    const kv_entry *e = kv_at(g, i);
    if (!s || !len) return OMQ_ERR_NULL;
    if (!e) return OMQ_ERR_INVALID_ARG;
    if (e->type != OMQ_GGUF_STRING) return OMQ_ERR_FORMAT;
    *len = le(e->raw, 8);
    *s = (const char *)e->raw + 8;
    return OMQ_OK;
}

omq_status omq_gguf_get_array(const omq_gguf *g, int64_t i, int *elem_type, uint64_t *count, const void **data) {
    const kv_entry *e = kv_at(g, i);
    if (!elem_type || !count || !data) return OMQ_ERR_NULL;
    if (!e) return OMQ_ERR_INVALID_ARG;
    if (e->type != OMQ_GGUF_ARRAY) return OMQ_ERR_FORMAT;
    *elem_type = e->elem_type;
    *count = e->count;
    *data = e->elem_type == OMQ_GGUF_STRING ? NULL : e->raw + 12;
    return OMQ_OK;
}

omq_status omq_gguf_get_array_string(const omq_gguf *g, int64_t i, uint64_t j, const char **s, uint64_t *len) {
    const kv_entry *e = kv_at(g, i);
    if (!s || !len) return OMQ_ERR_NULL;
    if (!e) return OMQ_ERR_INVALID_ARG;
    if (e->type != OMQ_GGUF_ARRAY || e->elem_type != OMQ_GGUF_STRING) return OMQ_ERR_FORMAT;
    if (j >= e->count) return OMQ_ERR_INVALID_ARG;
    const uint8_t *p = e->raw + e->str_offset[j];
    *len = le(p, 8);
    *s = (const char *)p + 8;
    return OMQ_OK;
}

omq_status omq_gguf_tensor_info(const omq_gguf *g, int64_t i, omq_gguf_tensor *out) {
    if (!g || !out) return OMQ_ERR_NULL;
    if (i < 0 || i >= g->n_tensors) return OMQ_ERR_INVALID_ARG;
    const tensor_entry *t = &g->tensors[i];
    memset(out, 0, sizeof *out);
    out->name = t->name;
    out->ggml_type = t->type;
    out->omq_known = omq_type_is_valid(t->type);
    out->size_known = t->size_known;
    out->n_dims = t->n_dims;
    for (int d = 0; d < OMQ_GGUF_MAX_DIMS; ++d) out->ne[d] = t->ne[d];
    out->cols = t->ne[0];
    out->rows = t->ne[1] * t->ne[2] * t->ne[3]; /* < 2^63: checked at open */
    out->offset = t->offset;
    out->file_offset = g->data_offset + t->offset;
    out->bytes = t->bytes;
    out->data = t->size_known ? g->base + g->data_offset + t->offset : NULL;
    return OMQ_OK;
}

omq_status omq_gguf_tensor_upload(omq_context *ctx, const omq_gguf *g, int64_t i, void **dev) {
    if (!ctx) return OMQ_ERR_NULL;
    omq_clear_error(ctx);
    if (!g || !dev) return omq_fail(ctx, OMQ_ERR_NULL, "omq_gguf_tensor_upload: a NULL argument");
    *dev = NULL;
    omq_gguf_tensor t;
    if (omq_gguf_tensor_info(g, i, &t))
        return omq_fail(ctx, OMQ_ERR_INVALID_ARG, "omq_gguf_tensor_upload: no tensor %lld (the file has %lld)",
                        (long long)i, (long long)g->n_tensors);
    if (!t.omq_known) {
        const char *name = omq_gguf_ggml_type_name(t.ggml_type);
        return omq_fail(ctx, OMQ_ERR_UNSUPPORTED, "tensor '%s' is of type %s (ggml id %d), which omq cannot convert",
                        t.name, name ? name : "unknown", t.ggml_type);
    }
    if (t.bytes > SIZE_MAX) return omq_fail(ctx, OMQ_ERR_OVERFLOW, "tensor '%s' is too large", t.name);
    omq_status st = omq_malloc(ctx, (size_t)t.bytes, dev);
    if (st) return st;
    st = omq_memcpy(ctx, *dev, t.data, (size_t)t.bytes, OMQ_COPY_HOST_TO_DEVICE);
    if (st) {
        omq_free(ctx, *dev);
        *dev = NULL;
    }
    return st;
}
