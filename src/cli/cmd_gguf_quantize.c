/* omq quantize IN.gguf OUT.gguf TYPE: a model conversion like llama-quantize.
 *
 * Three stages overlap, one thread each, handing buffers ("slots") along queues:
 *   reader  (thread): copies chunk i+1 of the mapped input into a slot (bf16 -> f32 here);
 *   device  (main thread, the only user of the context): uploads chunk i, converts it to f32
 *           on the device when it is f16 or quantized, quantizes it there, downloads it;
 *   writer  (thread): appends chunk i-1 to the output and reports progress.
 * Tensors are cut into chunks of rows, so neither memory nor device buffers grow with the
 * model; quantization is row-wise, so chunking does not change a byte. */
#include <errno.h>
#include <omp.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "gguf_rules.h"
#include "imatrix.h"
#include "omq_gguf.h"

enum { N_SLOTS = 3 };
#define CHUNK_F32_BYTES ((size_t)32 << 20)
#define GGML_BF16 30

typedef struct {
    int64_t src;           /* index in the input */
    omq_gguf_tensor t;
    int target;
    int convert;           /* else the bytes are copied */
    const float *imatrix;  /* ne[0] weights per matrix, or NULL */
    uint64_t out_bytes;
} plan_item;

typedef struct slot {
    int64_t item, row0, nrows;
    int last;              /* last chunk of its tensor */
    uint8_t *in, *out;
    size_t in_bytes, out_bytes;
    uint64_t src_bytes;    /* input bytes this chunk stands for (progress) */
} slot;

typedef struct {
    slot *items[N_SLOTS + 1];
    int head, count;
} queue;

typedef struct {
    /* job */
    const char *in_path, *out_path;
    omq_gguf *g;
    plan_item *plan;
    int64_t n_plan;
    omq_gguf_writer *w;
    int progress; /* 0 none, 1 lines, 2 bar */
    /* pipeline */
    pthread_mutex_t mu;
    pthread_cond_t cv;
    queue free_q, dev_q, write_q;
    int failed;
    char error[1024];
    /* progress (writer thread) */
    uint64_t total_bytes, done_bytes, out_total;
    int64_t tensors_done;
    double t0, last_draw;
} job;

static void push(job *j, queue *q, slot *s) {
    pthread_mutex_lock(&j->mu);
    q->items[(q->head + q->count++) % (N_SLOTS + 1)] = s;
    pthread_cond_broadcast(&j->cv);
    pthread_mutex_unlock(&j->mu);
}

/* NULL at the end of the stream, or once any stage failed */
static slot *pop(job *j, queue *q) {
    pthread_mutex_lock(&j->mu);
    while (!q->count && !j->failed) pthread_cond_wait(&j->cv, &j->mu);
    slot *s = NULL;
    if (!j->failed) {
        s = q->items[q->head];
        q->head = (q->head + 1) % (N_SLOTS + 1);
        --q->count;
    }
    pthread_mutex_unlock(&j->mu);
    return s;
}

static void job_fail(job *j, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;
static void job_fail(job *j, const char *fmt, ...) {
    pthread_mutex_lock(&j->mu);
    if (!j->failed) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(j->error, sizeof j->error, fmt, ap);
        va_end(ap);
        j->failed = 1;
    }
    pthread_cond_broadcast(&j->cv);
    pthread_mutex_unlock(&j->mu);
}

static int job_failed(job *j) {
    pthread_mutex_lock(&j->mu);
    int f = j->failed;
    pthread_mutex_unlock(&j->mu);
    return f;
}

static size_t row_bytes(int type, int64_t cols) {
    int64_t bs;
    size_t bb;
    if (omq_gguf_ggml_type_size(type, &bs, &bb)) return 0;
    return (size_t)(cols / bs) * bb;
}

static int64_t chunk_rows(const plan_item *p) {
    int64_t r = (int64_t)(CHUNK_F32_BYTES / ((size_t)p->t.cols * sizeof(float)));
    return r < 1 ? 1 : r;
}

/* Rows of the chunk at row0: chunks stop at matrix (expert) boundaries, because each matrix
 * has its own importance weights. */
static int64_t chunk_len(const plan_item *p, int64_t row0) {
    const int64_t n = chunk_rows(p), left = p->t.ne[1] - row0 % p->t.ne[1];
    return n < left ? n : left;
}

static void bf16_to_f32(const uint8_t *src, float *dst, int64_t n) {
    for (int64_t i = 0; i < n; ++i) {
        const uint32_t bits = (uint32_t)(src[2 * i] | src[2 * i + 1] << 8) << 16;
        memcpy(&dst[i], &bits, 4);
    }
}

/* ------------------------------------------------------------------ reader stage */
static void *reader_main(void *arg) {
    job *j = arg;
    for (int64_t i = 0; i < j->n_plan; ++i) {
        const plan_item *p = &j->plan[i];
        const size_t in_row = row_bytes(p->t.ggml_type, p->t.cols), out_row = row_bytes(p->target, p->t.cols);
        for (int64_t row0 = 0, n; row0 < p->t.rows; row0 += n) {
            n = chunk_len(p, row0);
            slot *s = pop(j, &j->free_q);
            if (!s) return NULL;
            s->item = i, s->row0 = row0, s->nrows = n, s->last = row0 + n == p->t.rows;
            const uint8_t *src = (const uint8_t *)p->t.data + (size_t)row0 * in_row;
            s->src_bytes = (uint64_t)n * in_row;
            if (!p->convert) {
                memcpy(s->out, src, (size_t)n * in_row);
                s->out_bytes = (size_t)n * in_row;
            } else if (p->t.ggml_type == GGML_BF16) {
                bf16_to_f32(src, (float *)s->in, n * p->t.cols);
                s->in_bytes = (size_t)(n * p->t.cols) * sizeof(float);
            } else {
                memcpy(s->in, src, (size_t)n * in_row);
                s->in_bytes = (size_t)n * in_row;
            }
            if (p->convert) s->out_bytes = (size_t)n * out_row;
            push(j, &j->dev_q, s);
        }
    }
    push(j, &j->dev_q, NULL);
    return NULL;
}

/* ------------------------------------------------------------------ writer stage + progress */
static void human(double bytes, char *buf, size_t n) {
    const char *unit[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    int u = 0;
    while (bytes >= 1024 && u < 4) bytes /= 1024, ++u;
    snprintf(buf, n, u ? "%.2f %s" : "%.0f %s", bytes, unit[u]);
}

static void shape(const omq_gguf_tensor *t, char *buf, size_t n) {
    int k = snprintf(buf, n, "[");
    for (int d = 0; d < t->n_dims && k < (int)n; ++d) k += snprintf(buf + k, n - k, d ? ", %lld" : "%lld", (long long)t->ne[d]);
    if (k < (int)n) snprintf(buf + k, n - k, "]");
}

static void draw_bar(job *j, int final) {
    const double now = cli_now(), dt = now - j->t0;
    if (!final && now - j->last_draw < 0.1) return;
    j->last_draw = now;
    const double frac = j->total_bytes ? (double)j->done_bytes / (double)j->total_bytes : 1.0;
    char bar[31], done[32], total[32], rate[32];
    const int fill = (int)(frac * 30);
    for (int i = 0; i < 30; ++i) bar[i] = i < fill ? '#' : '-';
    bar[30] = 0;
    human((double)j->done_bytes, done, sizeof done);
    human((double)j->total_bytes, total, sizeof total);
    human(dt > 0 ? (double)j->done_bytes / dt : 0, rate, sizeof rate);
    const double eta = frac > 0 && !final ? dt * (1 - frac) / frac : 0;
    fprintf(stderr, "\r\033[K[%s] %3.0f%%  %lld/%lld tensors  %s / %s  %s/s  ETA %d:%02d", bar, 100 * frac,
            (long long)j->tensors_done, (long long)j->n_plan, done, total, rate, (int)eta / 60, (int)eta % 60);
    if (final) fputc('\n', stderr);
    fflush(stderr);
}

static void *writer_main(void *arg) {
    job *j = arg;
    slot *s;
    while ((s = pop(j, &j->write_q))) {
        omq_status st = omq_gguf_writer_write(j->w, s->out, s->out_bytes);
        if (st) {
            job_fail(j, "writing %s: %s", j->out_path, omq_gguf_writer_last_error(j->w));
            return NULL;
        }
        j->done_bytes += s->src_bytes;
        if (s->last) {
            const plan_item *p = &j->plan[s->item];
            ++j->tensors_done;
            j->out_total += p->out_bytes;
            if (j->progress == 1) {
                char sh[96];
                shape(&p->t, sh, sizeof sh);
                printf("[%4lld/%4lld] %-36s %-7s -> %-7s %-20s %10llu -> %10llu bytes\n", (long long)j->tensors_done,
                       (long long)j->n_plan, p->t.name, omq_gguf_ggml_type_name(p->t.ggml_type),
                       omq_gguf_ggml_type_name(p->target), sh, (unsigned long long)p->t.bytes,
                       (unsigned long long)p->out_bytes);
                fflush(stdout);
            }
        }
        if (j->progress == 2) draw_bar(j, 0);
        push(j, &j->free_q, s);
    }
    return NULL;
}

/* ------------------------------------------------------------------ device stage */
typedef struct {
    omq_context *ctx;
    void *d_in, *d_f32, *d_out, *d_imat;
    const float *imat_loaded;
} device_stage;

static int device_chunk(job *j, device_stage *d, slot *s) {
    const plan_item *p = &j->plan[s->item];
    omq_status st;
    const int64_t cols = p->t.cols;
    const char *what = "upload";
    if ((st = omq_memcpy(d->ctx, d->d_in, s->in, s->in_bytes, OMQ_COPY_HOST_TO_DEVICE))) goto fail;
    void *f32 = d->d_in;
    if (p->t.ggml_type != OMQ_TYPE_F32 && p->t.ggml_type != GGML_BF16) {
        what = "conversion to f32";
        if ((st = omq_dequantize(d->ctx, (omq_type)p->t.ggml_type, d->d_in, OMQ_TYPE_F32, d->d_f32, s->nrows, cols)))
            goto fail;
        f32 = d->d_f32;
    }
    void *result = f32;
    if (p->target != OMQ_TYPE_F32) {
        const float *imat = p->imatrix ? p->imatrix + (s->row0 / p->t.ne[1] % p->t.ne[2]) * cols : NULL;
        if (imat && imat != d->imat_loaded) {
            if ((st = omq_memcpy(d->ctx, d->d_imat, imat, (size_t)cols * sizeof(float), OMQ_COPY_HOST_TO_DEVICE)))
                goto fail;
            d->imat_loaded = imat;
        }
        what = "quantization";
        if ((st = omq_quantize(d->ctx, (omq_type)p->target, f32, d->d_out, s->nrows, cols, imat ? d->d_imat : NULL)))
            goto fail;
        result = d->d_out;
    }
    st = omq_synchronize(d->ctx);
    if (st == OMQ_ERR_NONFINITE) {
        job_fail(j, "tensor %s: rows %lld..%lld contain NaN or Inf: nothing written", p->t.name, (long long)s->row0,
                 (long long)(s->row0 + s->nrows - 1));
        return -1;
    }
    what = "download";
    if (st || (st = omq_memcpy(d->ctx, s->out, result, s->out_bytes, OMQ_COPY_DEVICE_TO_HOST))) goto fail;
    return 0;
fail:;
    const char *detail = omq_context_last_error(d->ctx);
    job_fail(j, "tensor %s: %s failed: %s%s%s", p->t.name, what, omq_strerror(st), *detail ? ": " : "", detail);
    return -1;
}

/* ------------------------------------------------------------------ planning */
typedef struct {
    const char *in, *out, *type, *imatrix, *device, *progress;
    int threads, pure, allow_requantize, leave_output;
} options;

static int usage(FILE *f) {
    fprintf(f,
            "usage: omq quantize IN.gguf OUT.gguf TYPE [--imatrix FILE] [--threads N] [--device auto|host|fallback|N]\n"
            "                    [--pure] [--allow-requantize] [--leave-output-tensor] [--progress auto|bar|lines|none]\n"
            "  converts a model as llama.cpp's llama-quantize does (docs/gguf.md); OUT may be IN\n"
            "  TYPE: %s (or llama.cpp's file type number)\n"
            "  --imatrix FILE  llama.cpp importance matrix (GGUF or legacy .dat)\n"
            "  --threads N     host threads for a host context (default: all)\n"
            "  --pure          every quantizable tensor gets TYPE's type: no K-quant mixture\n",
            rules_ftype_names());
    return f == stdout ? 0 : 2;
}

static int cmp_plan(const void *a, const void *b) {
    return rules_compare_names(((const plan_item *)a)->t.name, ((const plan_item *)b)->t.name);
}

static int set_metadata(job *j, const options *o, int ftype, const imatrix *im) {
    omq_gguf_writer *w = j->w;
    omq_status st = OMQ_OK;
    for (int64_t i = 0; i < omq_gguf_kv_count(j->g) && !st; ++i) st = omq_gguf_writer_copy_kv(w, j->g, i);
    if (!st) st = omq_gguf_writer_set_uint(w, "general.quantization_version", OMQ_GGUF_UINT32, 2);
    if (!st) st = omq_gguf_writer_set_uint(w, "general.file_type", OMQ_GGUF_UINT32, (uint64_t)ftype);
    static const char *const split_keys[] = {"split.no", "split.count", "split.tensors.count"};
    for (int k = 0; k < 3 && !st; ++k) st = omq_gguf_writer_remove_key(w, split_keys[k]);
    if (im && !st) {
        st = omq_gguf_writer_set_string(w, "quantize.imatrix.file", o->imatrix, strlen(o->imatrix));
        if (!st && im->dataset) st = omq_gguf_writer_set_string(w, "quantize.imatrix.dataset", im->dataset, strlen(im->dataset));
        if (!st) st = omq_gguf_writer_set_uint(w, "quantize.imatrix.entries_count", OMQ_GGUF_UINT32, (uint64_t)im->n);
        if (!st && im->chunk_count > 0)
            st = omq_gguf_writer_set_uint(w, "quantize.imatrix.chunks_count", OMQ_GGUF_UINT32, (uint64_t)im->chunk_count);
    }
    if (st) return cli_fail("%s: %s", o->out, omq_gguf_writer_last_error(w));
    return 0;
}

static int build_plan(job *j, const options *o, const rules_params *rp, const imatrix *im, int64_t *n_fallback) {
    const int64_t n = omq_gguf_tensor_count(j->g);
    j->plan = calloc((size_t)(n ? n : 1), sizeof *j->plan);
    rules_tensor *rt = calloc((size_t)(n ? n : 1), sizeof *rt);
    if (!j->plan || !rt) return free(rt), cli_fail("out of memory");
    for (int64_t i = 0; i < n; ++i) {
        j->plan[i].src = i;
        omq_gguf_tensor_info(j->g, i, &j->plan[i].t);
    }
    qsort(j->plan, (size_t)n, sizeof *j->plan, cmp_plan);
    j->n_plan = n;
    for (int64_t i = 0; i < n; ++i) {
        const omq_gguf_tensor *t = &j->plan[i].t;
        rt[i] = (rules_tensor){.name = t->name, .type = t->ggml_type, .n_dims = t->n_dims};
        memcpy(rt[i].ne, t->ne, sizeof rt[i].ne);
    }
    rules_model m;
    rules_model_from(j->g, &m);
    if (!m.n_layer) /* llama.cpp would not load such a model; count the layers instead */
        for (int64_t i = 0; i < n; ++i) {
            int v;
            if (sscanf(j->plan[i].t.name, "blk.%d.", &v) == 1 && v + 1 > m.n_layer) m.n_layer = v + 1;
        }
    char err[512];
    if (rules_plan(&m, rp, rt, n, err, sizeof err)) return free(rt), cli_fail("%s", err);
    *n_fallback = 0;
    for (int64_t i = 0; i < n; ++i) {
        plan_item *p = &j->plan[i];
        p->target = rt[i].target;
        *n_fallback += rt[i].fell_back;
        if (!p->t.size_known) {
            free(rt);
            return cli_fail("tensor %s has ggml type %d, whose layout omq does not know: cannot copy it", p->t.name,
                            p->t.ggml_type);
        }
        p->convert = p->target != p->t.ggml_type;
        if (p->convert) {
            const int src = p->t.ggml_type;
            if (src != OMQ_TYPE_F32 && src != OMQ_TYPE_F16 && src != GGML_BF16 && !o->allow_requantize) {
                free(rt);
                return cli_fail("tensor %s is already %s: requantizing is disabled (llama-quantize's rule; "
                                "--allow-requantize permits it)", p->t.name, omq_gguf_ggml_type_name(src));
            }
            if (src != GGML_BF16 && !omq_type_is_valid(src)) {
                free(rt);
                return cli_fail("tensor %s is %s, which omq cannot convert", p->t.name, omq_gguf_ggml_type_name(src));
            }
        }
        uint64_t ob = p->t.bytes;
        if (p->convert) ob = (uint64_t)row_bytes(p->target, p->t.cols) * (uint64_t)p->t.rows;
        p->out_bytes = ob;
        if (p->convert && im) {
            const imatrix_entry *e = imatrix_find(im, p->t.name);
            if (e && e->n == p->t.ne[0] * p->t.ne[2]) p->imatrix = e->values;
            else if (e && strcmp(p->t.name, "token_embd.weight") && strcmp(p->t.name, "per_layer_token_embd.weight")) {
                free(rt);
                return cli_fail("imatrix size %lld is different from tensor size %lld for %s", (long long)e->n,
                                (long long)(p->t.ne[0] * p->t.ne[2]), p->t.name);
            }
        }
    }
    free(rt);
    return 0;
}

/* ------------------------------------------------------------------ the command */
static int run(const options *o) {
    int ftype, default_type;
    const char *ftype_name;
    char err[1024];
    if (rules_parse_ftype(o->type, &ftype, &default_type, &ftype_name, err, sizeof err)) return cli_fail("%s", err), 2;
    int device;
    if (cli_parse_device(o->device, &device))
        return cli_fail("--device: '%s' is not auto, host, fallback or a GPU number", o->device), 2;

    job j = {.in_path = o->in, .out_path = o->out};
    pthread_mutex_init(&j.mu, NULL);
    pthread_cond_init(&j.cv, NULL);
    char msg[1024];
    if (omq_gguf_open(o->in, &j.g, msg, sizeof msg)) return cli_fail("%s", msg);

    imatrix im = {0};
    if (o->imatrix && imatrix_load(o->imatrix, &im, err, sizeof err)) {
        omq_gguf_close(j.g);
        return cli_fail("%s", err);
    }
    const rules_params rp = {ftype, default_type, o->pure, o->imatrix != NULL, o->leave_output};
    int64_t n_fallback = 0;
    int rc = build_plan(&j, o, &rp, o->imatrix ? &im : NULL, &n_fallback);

    /* buffer sizes: the largest chunk of any stage */
    size_t in_max = 1, f32_max = 1, out_max = 1, cols_max = 1;
    for (int64_t i = 0; !rc && i < j.n_plan; ++i) {
        const plan_item *p = &j.plan[i];
        j.total_bytes += p->t.bytes;
        const int64_t rows = chunk_rows(p) < p->t.ne[1] ? chunk_rows(p) : p->t.ne[1];
        const size_t in_row = row_bytes(p->t.ggml_type, p->t.cols), out_row = row_bytes(p->target, p->t.cols);
        const size_t f32 = (size_t)(rows * p->t.cols) * sizeof(float);
        if ((size_t)rows * in_row > in_max) in_max = (size_t)rows * in_row;
        if (p->convert && f32 > f32_max) f32_max = f32;
        if (p->convert && f32 > in_max && p->t.ggml_type == GGML_BF16) in_max = f32;
        if ((size_t)rows * (p->convert ? out_row : in_row) > out_max) out_max = (size_t)rows * (p->convert ? out_row : in_row);
        if ((size_t)p->t.cols > cols_max) cols_max = (size_t)p->t.cols;
    }

    if (!rc && o->threads > 0) omp_set_num_threads(o->threads); /* host contexts run OpenMP loops here */
    device_stage d = {0};
    if (!rc && !(d.ctx = cli_context(device))) rc = 1;
    slot slots[N_SLOTS] = {{0}};
    omq_status st = OMQ_OK;
    if (!rc) {
        for (int s = 0; s < N_SLOTS && !rc; ++s) {
            slots[s].in = malloc(in_max);
            slots[s].out = malloc(out_max);
            if (!slots[s].in || !slots[s].out) rc = cli_fail("out of host memory for %zu-byte buffers", in_max + out_max);
        }
        if (!rc && ((st = omq_malloc(d.ctx, in_max, &d.d_in)) || (st = omq_malloc(d.ctx, f32_max, &d.d_f32)) ||
                    (st = omq_malloc(d.ctx, out_max, &d.d_out)) ||
                    (st = omq_malloc(d.ctx, cols_max * sizeof(float), &d.d_imat))))
            rc = cli_fail_status(d.ctx, st, "device buffers");
    }
    if (!rc && omq_gguf_writer_create(&j.w, o->out, msg, sizeof msg)) rc = cli_fail("%s", msg);
    if (!rc) rc = set_metadata(&j, o, ftype, o->imatrix ? &im : NULL);
    for (int64_t i = 0; !rc && i < j.n_plan; ++i) {
        const plan_item *p = &j.plan[i];
        if (omq_gguf_writer_add_tensor(j.w, p->t.name, p->target, p->t.n_dims, p->t.ne))
            rc = cli_fail("%s: %s", o->out, omq_gguf_writer_last_error(j.w));
    }

    if (!rc) {
        if (!strcmp(o->progress, "auto")) j.progress = isatty(2) ? 2 : 1;
        else j.progress = !strcmp(o->progress, "bar") ? 2 : !strcmp(o->progress, "lines") ? 1 : 0;
        if (j.progress == 1)
            printf("quantizing %s -> %s as %s on %s\n", o->in, o->out, ftype_name, omq_context_describe(d.ctx));
        j.t0 = cli_now();
        for (int s = 0; s < N_SLOTS; ++s) push(&j, &j.free_q, &slots[s]);
        pthread_t reader, writer;
        int have_reader = !pthread_create(&reader, NULL, reader_main, &j);
        int have_writer = have_reader && !pthread_create(&writer, NULL, writer_main, &j);
        if (!have_writer) job_fail(&j, "cannot start threads: %s", strerror(errno));
        slot *s;
        while (have_writer && (s = pop(&j, &j.dev_q))) {
            if (j.plan[s->item].convert && device_chunk(&j, &d, s)) break;
            push(&j, &j.write_q, s);
        }
        if (have_writer) push(&j, &j.write_q, NULL);
        if (have_reader) pthread_join(reader, NULL);
        if (have_writer) pthread_join(writer, NULL);
        if (j.progress == 2) draw_bar(&j, 1);
        if (!job_failed(&j) && omq_gguf_writer_finish(j.w))
            job_fail(&j, "%s: %s", o->out, omq_gguf_writer_last_error(j.w));
        if (j.failed) rc = cli_fail("%s (no output written)", j.error);
    }
    const double dt = cli_now() - j.t0;
    if (!rc) {
        int64_t converted = 0;
        for (int64_t i = 0; i < j.n_plan; ++i) converted += j.plan[i].convert;
        char a[32], b[32];
        human((double)j.total_bytes, a, sizeof a);
        human((double)j.out_total, b, sizeof b);
        printf("quantized %s -> %s: %s (file type %d), %lld tensors (%lld converted, %lld copied, %lld fell back), "
               "%s -> %s of tensor data (%.2fx) in %.2f s on %s\n",
               o->in, o->out, ftype_name, ftype, (long long)j.n_plan, (long long)converted,
               (long long)(j.n_plan - converted), (long long)n_fallback, a, b,
               j.out_total ? (double)j.total_bytes / (double)j.out_total : 0.0, dt, omq_context_describe(d.ctx));
    }
    omq_gguf_writer_free(j.w); /* aborts (removes the temporary file) unless finished */
    if (d.ctx) {
        omq_free(d.ctx, d.d_in);
        omq_free(d.ctx, d.d_f32);
        omq_free(d.ctx, d.d_out);
        omq_free(d.ctx, d.d_imat);
        omq_context_free(d.ctx);
    }
    for (int s = 0; s < N_SLOTS; ++s) free(slots[s].in), free(slots[s].out);
    free(j.plan);
    imatrix_free(&im);
    omq_gguf_close(j.g);
    pthread_mutex_destroy(&j.mu);
    pthread_cond_destroy(&j.cv);
    return rc;
}

/* OpenMP runtimes spin-wait after each parallel region by default; here the spinning workers
 * hold the cores the reader and writer threads need, and every hand-over then waits for the
 * scheduler (10x slower on small models with 2 cores). Passive waiting costs nothing on chunks
 * this large. The runtimes read the policy at start-up, hence the re-exec; a policy the user
 * set is kept. argv is main's argv + 1 (see main.c). */
static void ensure_passive_wait(char **argv) {
    if (getenv("OMP_WAIT_POLICY")) return;
    if (setenv("OMP_WAIT_POLICY", "passive", 1)) return;
    execv("/proc/self/exe", argv - 1);
    /* exec failed: go on with the runtime's default policy */
}

int cmd_quantize_gguf(int argc, char **argv) {
    ensure_passive_wait(argv);
    options o = {.device = "auto", .progress = "auto"};
    const char *pos[3], *v;
    int npos = 0;
    for (int i = 1; i < argc;) {
        if (!strcmp(argv[i], "--help")) return usage(stdout);
        if (cli_opt(argc, argv, &i, "--imatrix", &v)) o.imatrix = v;
        else if (cli_opt(argc, argv, &i, "--device", &v)) o.device = v;
        else if (cli_opt(argc, argv, &i, "--progress", &v)) o.progress = v;
        else if (cli_opt(argc, argv, &i, "--threads", &v)) {
            int64_t n;
            if (cli_parse_i64(v, &n) || n > 4096) return cli_fail("--threads: '%s' is not a positive integer", v), 2;
            o.threads = (int)n;
        } else if (!strcmp(argv[i], "--pure")) o.pure = 1, ++i;
        else if (!strcmp(argv[i], "--allow-requantize")) o.allow_requantize = 1, ++i;
        else if (!strcmp(argv[i], "--leave-output-tensor")) o.leave_output = 1, ++i;
        else if (argv[i][0] == '-' && argv[i][1]) return cli_fail("unknown option %s", argv[i]), usage(stderr);
        else if (npos < 3) pos[npos++] = argv[i++];
        else return cli_fail("too many arguments"), usage(stderr);
    }
    if (npos != 3) return usage(stderr);
    if (strcmp(o.progress, "auto") && strcmp(o.progress, "bar") && strcmp(o.progress, "lines") && strcmp(o.progress, "none"))
        return cli_fail("--progress: '%s' is not auto, bar, lines or none", o.progress), 2;
    o.in = pos[0], o.out = pos[1], o.type = pos[2];
    return run(&o);
}
