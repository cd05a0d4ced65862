/* omp backend: target regions on any OpenMP offload device (and on OpenMP's host fallback
 * for OMQ_DEVICE_FALLBACK contexts).
 *
 * Ordering. Target regions are synchronous (codec.h says why no `nowait`), so a kernel is
 * done when its launch returns. Each stream is a FIFO: callers enqueue and return; one
 * executor thread at a time serves a stream, running its kernels and copies in order.
 * On NVIDIA GPUs each stream also owns a CUstream on which omq's regions are launched
 * directly (cuda.h); as those launches return at once, the submitting thread serves a kernel
 * itself when no executor holds the stream. Copies, runtime regions and stream_wait wait for
 * the CUstream first.
 * Streams served by different executors overlap (LLVM's runtime gives each host thread its
 * own device queue).
 *
 * Executors are a process-wide pool of threads that never exit, grown on demand: threads
 * made and ended per stream would also churn OpenMP's thread registry for nothing.
 *
 * An adopted CUDA stream (omq_stream_wrap_cuda) cannot be joined by LLVM 19's runtime
 * (no usable interop), so work on it is synchronous: the CUDA stream is synchronized, the
 * kernel or copy runs and completes, then the call returns — which orders it after earlier
 * and before later work on that stream. */
#include <omp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cuda.h"
#include "device.h"

#ifdef OMQ_OFFLOAD
/* LLVM extension (libomptarget): page-locked host memory registered with the device */
void *llvm_omp_target_alloc_host(size_t bytes, int device);
void llvm_omp_target_free_host(void *p, int device);
#else
/* CPU builds only have fallback contexts here, and must not touch libomptarget (LLVM keeps
 * it uninitialised when no device image was registered) */
static void *no_target_alloc(size_t n, int dev) { (void)n, (void)dev; return NULL; }
static void no_target_free(void *p, int dev) { (void)p, (void)dev; }
static int no_target_memcpy(void *d, const void *s, size_t n, size_t doff, size_t soff, int ddev, int sdev) {
    (void)d, (void)s, (void)n, (void)doff, (void)soff, (void)ddev, (void)sdev;
    return 1;
}
#define omp_target_alloc no_target_alloc
#define omp_target_free no_target_free
#define omp_target_memcpy no_target_memcpy
#define llvm_omp_target_alloc_host no_target_alloc
#define llvm_omp_target_free_host no_target_free
#endif

static int on_host(const omq_context *ctx) { return ctx->device == OMQ_DEVICE_FALLBACK; }

/* LLVM's CUDA plugin creates the primary context with CU_CTX_SCHED_BLOCKING_SYNC, so every
 * synchronous target region ends with the host thread asleep on an OS primitive until an
 * interrupt wakes it: tens of microseconds per kernel. omq's GPU contexts switch the device's
 * primary context back to CUDA's own default (CU_CTX_SCHED_AUTO: spin while the process has
 * no more contexts than cores). This is process-wide, as the primary context is; the CUDA
 * runtime of the application shares it. OMQ_CUDA_SYNC=blocking|spin|yield|auto chooses. */
static void cuda_set_sync_policy(int device) {
    enum { SCHED_AUTO = 0, SCHED_SPIN = 1, SCHED_YIELD = 2, SCHED_BLOCKING = 4, SCHED_MASK = 7 };
    const omq_cuda_driver *cu = omq_cuda();
    if (device >= cu->devices || !cu->CtxSetFlags) return;
    const char *env = getenv("OMQ_CUDA_SYNC");
    unsigned want = SCHED_AUTO;
    if (env && !strcmp(env, "blocking")) want = SCHED_BLOCKING;
    else if (env && !strcmp(env, "spin")) want = SCHED_SPIN;
    else if (env && !strcmp(env, "yield")) want = SCHED_YIELD;
    int dev;
    void *pctx, *popped;
    if (cu->DeviceGet(&dev, device) || cu->PrimaryCtxRetain(&pctx, dev)) return;
    unsigned flags;
    if (cu->CtxPushCurrent(pctx) == 0) {
        if (cu->CtxGetFlags(&flags) == 0 && (flags & SCHED_MASK) != want) cu->CtxSetFlags((flags & ~SCHED_MASK) | want);
        cu->CtxPopCurrent(&popped);
    }
    cu->PrimaryCtxRelease(dev);
}

/* free bytes of an NVIDIA device (OpenMP device N = CUDA device N), or 0 if unknown.
 * Device allocations are checked against it first, because LLVM's CUDA plugin prints to
 * stderr when an allocation fails and omq must not print. (A race with other allocators can
 * still make the runtime fail and print.) */
static int cuda_free_memory(int device, size_t *free_bytes) {
    const omq_cuda_driver *cu = omq_cuda();
    if (device >= cu->devices) return 0;
    int dev;
    void *pctx, *popped;
    size_t total;
    if (cu->DeviceGet(&dev, device) || cu->PrimaryCtxRetain(&pctx, dev)) return 0;
    int ok = 0;
    if (cu->CtxPushCurrent(pctx) == 0) { /* the primary context: the one LLVM's plugin uses */
        ok = cu->MemGetInfo(free_bytes, &total) == 0;
        cu->CtxPopCurrent(&popped);
    }
    cu->PrimaryCtxRelease(dev);
    return ok;
}

static void *omp_be_alloc(omq_context *ctx, size_t bytes) {
    if (on_host(ctx)) return omq_backend_host.alloc(ctx, bytes);
    size_t avail;
    if (cuda_free_memory(ctx->omp_device, &avail) && bytes > avail) return NULL;
    return omp_target_alloc(bytes, ctx->omp_device);
}

static void omp_be_free(omq_context *ctx, void *p) {
    if (on_host(ctx)) omq_backend_host.free(ctx, p);
    else omp_target_free(p, ctx->omp_device);
}

static void *omp_be_host_alloc(omq_context *ctx, size_t bytes) {
    if (on_host(ctx)) return omq_backend_host.alloc(ctx, bytes);
    /* page-locked memory beyond the machine's memory would only make the runtime print */
    const long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);
    if (pages > 0 && page > 0 && bytes / (size_t)page >= (size_t)pages) return NULL;
    return llvm_omp_target_alloc_host(bytes, ctx->omp_device);
}

static void omp_be_host_free(omq_context *ctx, void *p) {
    if (on_host(ctx)) omq_backend_host.free(ctx, p);
    else llvm_omp_target_free_host(p, ctx->omp_device);
}

static int omp_be_copy(omq_context *ctx, void *dst, const void *src, size_t bytes, omq_copy_kind kind) {
    if (on_host(ctx)) return omq_backend_host.copy(ctx, dst, src, bytes, kind);
    const int host = omp_get_initial_device(), dev = ctx->omp_device;
    const int kind_ = kind == OMQ_COPY_HOST_TO_DEVICE ? 0 : kind == OMQ_COPY_DEVICE_TO_HOST ? 1 : 2;
    const int rc = omq_cuda_copy(dev, dst, src, bytes, kind_);
    if (rc >= 0) return rc;
    return omp_target_memcpy(dst, src, bytes, 0, 0, kind == OMQ_COPY_DEVICE_TO_HOST ? host : dev,
                             kind == OMQ_COPY_HOST_TO_DEVICE ? host : dev) != 0;
}

/* ---- streams */
typedef struct {
    int copy; /* else a kernel */
    omq_kernel_fn run;
    _Alignas(max_align_t) unsigned char args[OMQ_MAX_KERNEL_ARGS];
    void *dst;
    const void *src;
    size_t bytes;
    omq_copy_kind kind;
} work_item;

typedef struct omp_stream {
    omq_stream *s;
    pthread_mutex_t mu;
    pthread_cond_t drained;
    int scheduled; /* in the pool's ready list or being served */
    int busy;      /* queued or running work not finished yet */
    work_item *ring;
    size_t cap, head, count;
    int copy_failed; /* a queued copy failed; stream_wait reports it */
    void *cuda;      /* adopted CUDA stream: synchronous mode */
    void *direct;    /* omq's own CUstream for direct launches (cuda.h), or NULL */
    struct omp_stream *next_ready;
} omp_stream;

/* returns nonzero if a copy failed */
static int run_item(omp_stream *q, work_item *it) {
    if (it->copy) /* the runtime's copies are synchronous: after the stream's launches */
        return (q->direct && omq_cuda_direct_wait(q->direct)) || omp_be_copy(q->s->ctx, it->dst, it->src, it->bytes, it->kind);
    const omq_exec ex = omq_stream_exec(q->s);
    if (q->direct) omq_cuda_direct_arm(q->direct, ex.device);
    it->run(&ex, it->args);
    if (q->direct) omq_cuda_direct_disarm();
    return 0;
}

/* the executor pool: the only process-wide mutable state, under its own lock */
enum { POOL_MAX_THREADS = 64 };
static struct {
    pthread_mutex_t mu;
    pthread_cond_t work;
    omp_stream *head, *tail; /* streams with work and no executor */
    int threads, idle;
} pool = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, NULL, NULL, 0, 0};

/* drains one stream, then hands it back */
static void serve(omp_stream *q) {
    pthread_mutex_lock(&q->mu);
    while (q->count) {
        work_item it = q->ring[q->head]; /* a copy: enqueue may move the ring meanwhile */
        q->head = (q->head + 1) % q->cap;
        q->count--;
        pthread_mutex_unlock(&q->mu);
        const int failed = run_item(q, &it);
        pthread_mutex_lock(&q->mu);
        q->copy_failed |= failed;
    }
    q->busy = 0;
    q->scheduled = 0;
    pthread_cond_broadcast(&q->drained);
    pthread_mutex_unlock(&q->mu);
}

static void *executor(void *arg) {
    (void)arg;
    pthread_mutex_lock(&pool.mu);
    for (;;) {
        while (!pool.head) {
            pool.idle++;
            pthread_cond_wait(&pool.work, &pool.mu);
            pool.idle--;
        }
        omp_stream *q = pool.head;
        pool.head = q->next_ready;
        if (!pool.head) pool.tail = NULL;
        pthread_mutex_unlock(&pool.mu);
        serve(q);
        pthread_mutex_lock(&pool.mu);
    }
    return NULL;
}

/* puts a stream with fresh work in line for an executor; returns 0, or 1 if there is no
 * executor and none could be started (then the caller serves the stream itself) */
static int schedule(omp_stream *q) {
    pthread_mutex_lock(&pool.mu);
    q->next_ready = NULL;
    if (pool.tail) pool.tail->next_ready = q;
    else pool.head = q;
    pool.tail = q;
    int failed = 0;
    if (pool.idle == 0 && pool.threads < POOL_MAX_THREADS) {
        pthread_t t;
        pthread_attr_t attr;
        pthread_attr_init(&attr);
        pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
        if (pthread_create(&t, &attr, executor, NULL) == 0) pool.threads++;
        else failed = pool.threads == 0; /* with other executors, the work still gets done */
        pthread_attr_destroy(&attr);
    }
    if (failed) { /* q is the only entry: with no executor the list was empty */
        pool.head = pool.tail = NULL;
    }
    pthread_cond_signal(&pool.work);
    pthread_mutex_unlock(&pool.mu);
    return failed;
}

static omq_status omp_stream_open(omq_stream *s, void *external, int kind) {
    if (kind == OMQ_EXTERNAL_HIP) return OMQ_ERR_UNSUPPORTED;
    /* every stream of a GPU context: by then the runtime has made the primary context */
    if (!on_host(s->ctx)) cuda_set_sync_policy(s->ctx->omp_device);
    if (kind == OMQ_EXTERNAL_CUDA) {
        if (!omq_cuda()->StreamSynchronize || on_host(s->ctx)) return OMQ_ERR_UNSUPPORTED;
    }
    omp_stream *q = calloc(1, sizeof *q);
    if (!q) return OMQ_ERR_ALLOC;
    q->s = s;
    q->cuda = external;
    if (!external && !on_host(s->ctx)) q->direct = omq_cuda_direct_stream(s->ctx->omp_device);
    pthread_mutex_init(&q->mu, NULL);
    pthread_cond_init(&q->drained, NULL);
    s->impl = q;
    return OMQ_OK;
}

static omq_status omp_stream_wait(omq_stream *s) {
    omp_stream *q = s->impl;
    pthread_mutex_lock(&q->mu);
    while (q->busy) pthread_cond_wait(&q->drained, &q->mu);
    int failed = q->copy_failed;
    q->copy_failed = 0;
    pthread_mutex_unlock(&q->mu);
    if (q->direct && omq_cuda_direct_wait(q->direct)) failed = 1;
    return failed ? OMQ_ERR_DEVICE : OMQ_OK;
}

static void omp_stream_close(omq_stream *s) {
    omp_stream *q = s->impl;
    if (!q) return;
    omp_stream_wait(s); /* no executor holds it once drained */
    omq_cuda_direct_stream_free(q->direct);
    pthread_cond_destroy(&q->drained);
    pthread_mutex_destroy(&q->mu);
    free(q->ring);
    free(q);
    s->impl = NULL;
}

static omq_status enqueue(omp_stream *q, const work_item *it) {
    pthread_mutex_lock(&q->mu);
    if (q->count == q->cap) {
        const size_t cap = q->cap ? 2 * q->cap : 16;
        work_item *ring = malloc(cap * sizeof *ring);
        if (!ring) {
            pthread_mutex_unlock(&q->mu);
            return OMQ_ERR_ALLOC;
        }
        for (size_t i = 0; i < q->count; ++i) ring[i] = q->ring[(q->head + i) % q->cap];
        free(q->ring);
        q->ring = ring;
        q->cap = cap;
        q->head = 0;
    }
    q->ring[(q->head + q->count) % q->cap] = *it;
    q->count++;
    q->busy = 1;
    const int start = !q->scheduled;
    q->scheduled = 1;
    pthread_mutex_unlock(&q->mu);
    /* outside q->mu: the lock order is pool, then stream (serve never takes the pool's).
     * A kernel on a direct stream is served by the caller: its launches return at once, and
     * a synchronize then waits for the GPU alone, not for two thread hand-offs (~20 us). */
    if (start && ((q->direct && !it->copy) || schedule(q))) serve(q); /* else no thread to be had */
    return OMQ_OK;
}

/* adopted CUDA stream: run now, after the stream's earlier work, and complete before return */
static omq_status run_synchronously(omp_stream *q, work_item *it) {
    if (omq_cuda()->StreamSynchronize(q->cuda)) return OMQ_ERR_DEVICE;
    return run_item(q, it) ? OMQ_ERR_DEVICE : OMQ_OK;
}

static omq_status omp_launch(omq_stream *s, omq_kernel_fn run, const void *args, size_t bytes) {
    omp_stream *q = s->impl;
    work_item it = {.copy = 0, .run = run};
    memcpy(it.args, args, bytes);
    return q->cuda ? run_synchronously(q, &it) : enqueue(q, &it);
}

static omq_status omp_copy_async(omq_stream *s, void *dst, const void *src, size_t bytes, omq_copy_kind kind) {
    omp_stream *q = s->impl;
    work_item it = {.copy = 1, .dst = dst, .src = src, .bytes = bytes, .kind = kind};
    return q->cuda ? run_synchronously(q, &it) : enqueue(q, &it);
}

static int omp_stream_idle(omq_stream *s) {
    omp_stream *q = s->impl;
    pthread_mutex_lock(&q->mu);
    const int idle = !q->busy;
    pthread_mutex_unlock(&q->mu);
    return idle && (!q->direct || omq_cuda_direct_idle(q->direct));
}

/* SMs of an NVIDIA device (OpenMP device N = CUDA device N); 0 elsewhere (other devices,
 * the host fallback) */
static int omp_compute_units(omq_context *ctx) {
    enum { CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT = 16 };
    if (on_host(ctx)) return 0;
    const omq_cuda_driver *cu = omq_cuda();
    int dev, n = 0;
    if (ctx->omp_device >= cu->devices || !cu->DeviceGetAttribute || cu->DeviceGet(&dev, ctx->omp_device) ||
        cu->DeviceGetAttribute(&n, CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT, dev))
        return 0;
    return n > 0 ? n : 0;
}

/* The host fallback, and NVIDIA GPUs: LLVM's CUDA plugin makes host_alloc memory with
 * cuMemAllocHost, page-locked and, under unified addressing, at the same address on every
 * device; a kernel's writes to it are visible once its stream is synchronized. (AMD GPUs
 * through LLVM's AMD plugin would qualify too, but omq has never run on one.) */
static int omp_host_maps(omq_context *ctx) { return on_host(ctx) || ctx->omp_device < omq_cuda()->devices; }

const omq_backend omq_backend_omp = {
    "omp", omp_be_alloc, omp_be_free, omp_be_host_alloc, omp_be_host_free, omp_be_copy,
    omp_stream_open, omp_stream_close, omp_launch, omp_copy_async, omp_stream_wait, omp_stream_idle,
    omp_compute_units, omp_host_maps,
};
