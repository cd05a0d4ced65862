/* Build tool: stands in for ptxas in the CUDA tree that libomq's device link sees
 * (cmake/OmqOffload.cmake). clang 19 gives an OpenMP kernel no per-kernel register bound
 * (.maxnreg, .minnctapersm): `thread_limit` becomes .maxntid, which lets ptxas take up to 255
 * registers, and ptxas's -maxrregcount does not apply to kernels with .maxntid (and changes
 * every kernel without one). A kernel that wants a bound says so in its body with
 * OMQ_NVPTX_MAXNREG(n) (offload/matmul.h), an inline-asm PTX comment "// omq.maxnreg n";
 * this tool adds ".maxnreg n" to the directives of each .entry whose body holds one, in the
 * PTX file it is given, then runs the real ptxas with the same arguments.
 *   usage: omq_ptxas PTXAS-ARGUMENTS...   (the real ptxas: OMQ_REAL_PTXAS, set at build time) */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifndef OMQ_REAL_PTXAS
#error "OMQ_REAL_PTXAS (the CUDA toolkit's ptxas) must be defined"
#endif

static const char marker[] = "// omq.maxnreg ";

static int ends_with(const char *s, const char *suffix) {
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && !strcmp(s + n - m, suffix);
}

static char *read_file(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    char *buf = NULL;
    size_t cap = 0, n = 0;
    for (;;) {
        if (n + 65536 + 1 > cap) {
            cap = cap ? 2 * cap : 1 << 20;
            char *nb = realloc(buf, cap);
            if (!nb) {
                free(buf);
                fclose(f);
                return NULL;
            }
            buf = nb;
        }
        size_t got = fread(buf + n, 1, 65536, f);
        n += got;
        if (got < 65536) break;
    }
    int bad = ferror(f);
    fclose(f);
    if (bad) {
        free(buf);
        return NULL;
    }
    buf[n] = 0;
    *len = n;
    return buf;
}

/* the start of the line after the one at p (or the end of the text) */
static const char *next_line(const char *p) {
    const char *e = strchr(p, '\n');
    return e ? e + 1 : p + strlen(p);
}

static int is_entry_line(const char *p) {
    const char *e = strchr(p, '\n');
    size_t n = e ? (size_t)(e - p) : strlen(p);
    for (size_t i = 0; i + 7 <= n; ++i)
        if (!strncmp(p + i, ".entry ", 7)) return p[0] == '.'; /* ".visible .entry", ".weak .entry" */
    return 0;
}

/* the first occurrence of the marker in [b, e), or NULL */
static const char *find_marker(const char *b, const char *e) {
    const size_t n = sizeof marker - 1;
    for (const char *q = b; q + n <= e; ++q)
        if (*q == '/' && !strncmp(q, marker, n)) return q;
    return NULL;
}

/* Rewrites `path` when some entry's body holds the marker; returns the number of entries
 * bounded, or -1 on an I/O error or a bad bound. */
static int bound_entries(const char *path) {
    size_t len;
    char *text = read_file(path, &len);
    if (!text) return -1;
    if (!strstr(text, marker)) {
        free(text);
        return 0;
    }
    size_t entries = 0;
    for (const char *q = text; (q = strstr(q, ".entry ")); q += 7) ++entries;
    const size_t cap = len + 32 * (entries + 1); /* an insertion is shorter than 32 bytes */
    char *out = malloc(cap);
    if (!out) {
        free(text);
        return -1;
    }
    size_t on = 0;
    int bounded = 0;
    const char *p = text, *copied = text;
    while (*p) {
        if (!is_entry_line(p)) {
            p = next_line(p);
            continue;
        }
        /* the directives end at the body's opening "{" line; the body at the next "}" line
         * in column 0 (braces inside a body are indented) */
        const char *open = next_line(p);
        int has_bound = 0;
        while (*open && *open != '{' && !is_entry_line(open)) { /* (a declaration has no body) */
            if (!strncmp(open, ".maxnreg", 8)) has_bound = 1;
            open = next_line(open);
        }
        if (*open != '{') {
            p = open;
            continue;
        }
        const char *close = next_line(open);
        while (*close && *close != '}') close = next_line(close);
        const char *m = find_marker(open, close);
        if (m && !has_bound) {
            const long n = strtol(m + sizeof marker - 1, NULL, 10);
            if (n < 16 || n > 255) { /* ptxas's range for .maxnreg */
                fprintf(stderr, "omq_ptxas: %s: omq.maxnreg %ld is out of range (16..255)\n", path, n);
                free(out);
                free(text);
                return -1;
            }
            memcpy(out + on, copied, (size_t)(open - copied));
            on += (size_t)(open - copied);
            on += (size_t)snprintf(out + on, 32, ".maxnreg %ld\n", n);
            copied = open;
            ++bounded;
        }
        p = *close ? next_line(close) : close;
    }
    memcpy(out + on, copied, len - (size_t)(copied - text));
    on += len - (size_t)(copied - text);
    free(text);
    FILE *f = fopen(path, "wb");
    int ok = f && fwrite(out, 1, on, f) == on;
    if (f && fclose(f)) ok = 0;
    free(out);
    return ok ? bounded : -1;
}

int main(int argc, char **argv) {
    for (int i = 1; i < argc; ++i) {
        if (!ends_with(argv[i], ".s") && !ends_with(argv[i], ".ptx")) continue;
        if (access(argv[i], R_OK)) continue;
        if (bound_entries(argv[i]) < 0) {
            fprintf(stderr, "omq_ptxas: could not add register bounds to %s: %s\n", argv[i],
                    errno ? strerror(errno) : "bad input");
            return 1;
        }
    }
    argv[0] = (char *)OMQ_REAL_PTXAS;
    execv(OMQ_REAL_PTXAS, argv);
    fprintf(stderr, "omq_ptxas: cannot run %s: %s\n", OMQ_REAL_PTXAS, strerror(errno));
    return 1;
}
