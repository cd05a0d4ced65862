/* The CUDA driver for the omp backend, and direct launches of omq's target regions (cuda.h).
 *
 * How a region reaches cuLaunchKernel. clang compiles `#pragma omp target` into a call of
 * libomptarget's __tgt_target_kernel(loc, device, teams, threads, region id, arguments), and
 * registers the device images at load time with __tgt_register_lib(descriptor). libomq
 * defines both names itself, hidden, so its own calls (and only those: hidden symbols bind
 * inside the library, or inside the one program a static libomq is linked into) come here
 * first; each forwards to the runtime's function unless a direct launch applies:
 *   - the thread is armed (an omq stream executor serving a direct stream);
 *   - the region id is a kernel of the registered descriptor, found by name in omq's own copy
 *     of the NVIDIA image, compiled in SPMD mode with no reduction buffer (its kernel
 *     environment says so), with one 8-byte parameter per argument, as the runtime passes them;
 *   - every argument is a literal (is_device_ptr pointers and scalars, passed by value), and
 *     the region has explicit num_teams and thread_limit.
 * The launch is then the runtime's own: grid = num_teams (at most 65536), block =
 * thread_limit capped as the runtime caps it (the kernel's and the device's limits),
 * parameters = a null launch environment (~0: no reduction) followed by the arguments'
 * values, no dynamic shared memory. */
#define _GNU_SOURCE /* RTLD_DEFAULT */
#include "cuda.h"

#include <dlfcn.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---------------------------------------------------------------- the driver */
static omq_cuda_driver cu;
static pthread_once_t cu_once = PTHREAD_ONCE_INIT;

#define CU_OPT(field, name) (*(void **)&cu.field = dlsym(lib, name))
#define CU_SYM(field, name) (CU_OPT(field, name) != NULL)
static void load_cuda(void) {
    void *lib = dlopen("libcuda.so.1", RTLD_NOW | RTLD_LOCAL);
    if (!lib) return;
    const int core = CU_SYM(StreamSynchronize, "cuStreamSynchronize") && CU_SYM(Init, "cuInit") &&
                     CU_SYM(DeviceGetCount, "cuDeviceGetCount") && CU_SYM(DeviceGet, "cuDeviceGet") &&
                     CU_SYM(PrimaryCtxRetain, "cuDevicePrimaryCtxRetain") &&
                     CU_SYM(PrimaryCtxRelease, "cuDevicePrimaryCtxRelease_v2") &&
                     CU_SYM(CtxPushCurrent, "cuCtxPushCurrent_v2") && CU_SYM(CtxPopCurrent, "cuCtxPopCurrent_v2") &&
                     CU_SYM(MemGetInfo, "cuMemGetInfo_v2");
    if (!core || cu.Init(0) != 0 || cu.DeviceGetCount(&cu.devices) != 0) {
        cu.devices = 0;
        return;
    }
    /* optional: each user checks its own */
    if (!(CU_SYM(CtxGetFlags, "cuCtxGetFlags") && CU_SYM(CtxSetFlags, "cuCtxSetFlags"))) cu.CtxSetFlags = NULL;
    CU_OPT(DeviceGetAttribute, "cuDeviceGetAttribute");
    CU_OPT(StreamCreate, "cuStreamCreate");
    CU_OPT(StreamDestroy, "cuStreamDestroy_v2");
    CU_OPT(StreamQuery, "cuStreamQuery");
    CU_OPT(ModuleLoadData, "cuModuleLoadData");
    CU_OPT(ModuleGetFunction, "cuModuleGetFunction");
    CU_OPT(ModuleGetGlobal, "cuModuleGetGlobal_v2");
    CU_OPT(MemcpyDtoH, "cuMemcpyDtoH_v2");
    CU_OPT(MemcpyHtoD, "cuMemcpyHtoD_v2");
    CU_OPT(MemcpyHtoDAsync, "cuMemcpyHtoDAsync_v2");
    CU_OPT(MemcpyDtoHAsync, "cuMemcpyDtoHAsync_v2");
    CU_OPT(MemcpyDtoDAsync, "cuMemcpyDtoDAsync_v2");
    CU_OPT(FuncGetAttribute, "cuFuncGetAttribute");
    CU_OPT(FuncGetParamInfo, "cuFuncGetParamInfo");
    CU_OPT(LaunchKernel, "cuLaunchKernel");
}

const omq_cuda_driver *omq_cuda(void) {
    pthread_once(&cu_once, load_cuda);
    return &cu;
}

#ifdef OMQ_OFFLOAD
/* ---------------------------------------------------------------- libomptarget's ABI (LLVM 19) */
typedef struct {
    void *addr; /* host side: the region id of a kernel */
    char *name;
    size_t size; /* 0 for kernels */
    int32_t flags, data;
} tgt_entry;

typedef struct {
    void *start, *end;
    tgt_entry *entries_begin, *entries_end;
} tgt_image;

typedef struct {
    int32_t count;
    tgt_image *images;
    tgt_entry *host_begin, *host_end;
} tgt_descriptor;

typedef struct {
    uint32_t version, nargs;
    void **base, **ptrs;
    int64_t *sizes, *types;
    void **names, **mappers;
    uint64_t tripcount, flags; /* flags bit 0: nowait */
    uint32_t teams[3], threads[3], dyn_shared;
} tgt_kernel_args;

enum { MAP_TARGET_PARAM = 0x20, MAP_LITERAL = 0x100 };
enum { EXEC_SPMD = 2 };               /* bit of the kernel environment's mode (generic-SPMD too) */
enum { MAX_TEAMS = 65536, MAX_PARAMS = 64, MAX_DEVICES = 16 };

/* ---------------------------------------------------------------- kernels of omq's image */
typedef struct {
    const void *region; /* NULL: free slot */
    void *func;         /* NULL: not launchable directly */
    unsigned max_threads;
    int nparams;
} kernel_slot;

typedef struct {
    int state; /* 0 untried, 1 ready, -1 unusable */
    void *ctx, *module;
    void *copies; /* stream of omq_cuda_copy, or NULL */
    kernel_slot *slots;
    size_t nslots; /* a power of two */
} device_image;

static struct {
    pthread_mutex_t mu;
    const tgt_descriptor *desc;
    device_image dev[MAX_DEVICES];
} direct = {PTHREAD_MUTEX_INITIALIZER, NULL, {{0}}};

static _Thread_local struct {
    void *stream;
    int device;
} armed;

int __tgt_target_kernel(void *loc, int64_t device, int32_t teams, int32_t threads, void *region,
                        tgt_kernel_args *args);
void __tgt_register_lib(tgt_descriptor *desc);

typedef int (*target_kernel_fn)(void *, int64_t, int32_t, int32_t, void *, tgt_kernel_args *);
typedef void (*register_lib_fn)(tgt_descriptor *);

/* the runtime's definitions: ours are hidden, so the lookup cannot find them */
static void *runtime_symbol(const char *name) { return dlsym(RTLD_DEFAULT, name); }

void __tgt_register_lib(tgt_descriptor *desc) {
    pthread_mutex_lock(&direct.mu);
    if (!direct.desc) direct.desc = desc;
    pthread_mutex_unlock(&direct.mu);
    const register_lib_fn real = (register_lib_fn)runtime_symbol("__tgt_register_lib");
    if (real) real(desc);
}

/* the NVIDIA image of the descriptor: a CUDA ELF (e_machine 190) */
static const void *nvidia_image(const tgt_descriptor *desc) {
    for (int i = 0; desc && i < desc->count; ++i) {
        const unsigned char *p = desc->images[i].start;
        const size_t n = (size_t)((const unsigned char *)desc->images[i].end - p);
        if (n > 64 && !memcmp(p, "\177ELF", 4) && p[4] == 2 && (p[18] | p[19] << 8) == 190) return p;
    }
    return NULL;
}

/* loads omq's image into device d's primary context (mu held) */
static int load_image(int d) {
    device_image *di = &direct.dev[d];
    if (di->state) return di->state > 0;
    di->state = -1;
    const char *env = getenv("OMQ_DIRECT_LAUNCH");
    if (env && !strcmp(env, "0")) return 0;
    const void *image = nvidia_image(direct.desc);
    if (!image || d >= cu.devices || !cu.StreamCreate || !cu.StreamDestroy || !cu.StreamQuery ||
        !cu.ModuleLoadData || !cu.ModuleGetFunction || !cu.ModuleGetGlobal || !cu.MemcpyDtoH || !cu.MemcpyHtoD ||
        !cu.FuncGetAttribute || !cu.FuncGetParamInfo || !cu.LaunchKernel)
        return 0;
    size_t kernels = 0;
    for (const tgt_entry *e = direct.desc->host_begin; e < direct.desc->host_end; ++e) kernels += e->size == 0;
    size_t n = 16;
    while (n < 2 * kernels) n *= 2;
    int dev;
    if (cu.DeviceGet(&dev, d) || cu.PrimaryCtxRetain(&di->ctx, dev)) return 0; /* kept: the module lives on */
    void *popped;
    if (cu.CtxPushCurrent(di->ctx)) return 0;
    int ok = cu.ModuleLoadData(&di->module, image) == 0;
    if (ok) { /* the device runtime's environment, as the runtime writes it into its own copy */
        struct {
            uint32_t debug, devices, device, dyn_mem;
            uint64_t clock, table, table_size, parallelism;
        } env_ = {0, (uint32_t)cu.devices, (uint32_t)d, 0, 0, 0, 0, 0};
        unsigned long long ptr;
        size_t bytes;
        /* the synchronous copy runs on the legacy stream, which omq's streams do not wait
         * for, and may return before its DMA ends: waited for here */
        if (cu.ModuleGetGlobal(&ptr, &bytes, di->module, "__omp_rtl_device_environment") == 0)
            ok = cu.MemcpyHtoD(ptr, &env_, bytes < sizeof env_ ? bytes : sizeof env_) == 0 &&
                 cu.StreamSynchronize(NULL) == 0;
    }
    if (ok && (!cu.MemcpyHtoDAsync || !cu.MemcpyDtoHAsync || !cu.MemcpyDtoDAsync ||
               cu.StreamCreate(&di->copies, 1 /* CU_STREAM_NON_BLOCKING */)))
        di->copies = NULL;
    cu.CtxPopCurrent(&popped);
    di->slots = ok ? calloc(n, sizeof *di->slots) : NULL;
    if (!di->slots) return 0;
    di->nslots = n;
    di->state = 1;
    return 1;
}

/* what a direct launch of `region` needs, resolved on first use (mu held; the context current) */
static void resolve(device_image *di, kernel_slot *k) {
    const char *name = NULL;
    for (const tgt_entry *e = direct.desc->host_begin; e < direct.desc->host_end && !name; ++e)
        if (e->addr == k->region && e->size == 0) name = e->name;
    void *f;
    if (!name || cu.ModuleGetFunction(&f, di->module, name)) return;
    /* the kernel environment: mode at byte 2, MaxThreads at 8, reduction data size and
     * buffer length at 20 and 24 */
    char env_name[512];
    unsigned long long ptr;
    size_t bytes;
    unsigned char ke[28];
    if ((size_t)snprintf(env_name, sizeof env_name, "%s_kernel_environment", name) >= sizeof env_name ||
        cu.ModuleGetGlobal(&ptr, &bytes, di->module, env_name) || bytes < sizeof ke || cu.MemcpyDtoH(ke, ptr, sizeof ke))
        return;
    int32_t env_max, red_size, red_len;
    memcpy(&env_max, ke + 8, 4);
    memcpy(&red_size, ke + 20, 4);
    memcpy(&red_len, ke + 24, 4);
    if (!(ke[2] & EXEC_SPMD) || (red_size && red_len)) return;
    int func_max;
    if (cu.FuncGetAttribute(&func_max, 0 /* CU_FUNC_ATTRIBUTE_MAX_THREADS_PER_BLOCK */, f) || func_max <= 0) return;
    unsigned max = 1024;
    if (env_max > 0 && (unsigned)env_max < max) max = (unsigned)env_max;
    if ((unsigned)func_max < max) max = (unsigned)func_max;
    int np = 0;
    size_t off, size;
    while (np <= MAX_PARAMS && cu.FuncGetParamInfo(f, (size_t)np, &off, &size) == 0) {
        if (size != 8) return;
        np++;
    }
    if (np == 0 || np > MAX_PARAMS) return;
    k->max_threads = max;
    k->nparams = np;
    k->func = f;
}

/* the slot of `region` on device d (NULL if the image is not loaded) */
static kernel_slot *lookup(int d, const void *region) {
    pthread_mutex_lock(&direct.mu);
    device_image *di = &direct.dev[d];
    kernel_slot *k = NULL;
    if (di->state > 0) {
        size_t i = ((uintptr_t)region >> 4) & (di->nslots - 1);
        while (di->slots[i].region && di->slots[i].region != region) i = (i + 1) & (di->nslots - 1);
        k = &di->slots[i];
        if (!k->region) { /* the table holds at most half as many regions as slots */
            k->region = region;
            resolve(di, k);
        }
    }
    pthread_mutex_unlock(&direct.mu);
    return k;
}

/* 0 if the region was launched on the armed stream */
static int launch(int64_t device, int32_t teams, int32_t threads, void *region, const tgt_kernel_args *a) {
    if (device != armed.device || a->version < 2 || a->version > 3 || (a->flags & 1) || a->nargs > MAX_PARAMS)
        return 1;
    const int64_t nt = a->teams[0] > 0 ? (int64_t)a->teams[0] : teams;
    const int64_t tl = a->threads[0] > 0 ? (int64_t)a->threads[0] : threads;
    if (nt <= 0 || tl <= 0 || a->teams[1] > 1 || a->teams[2] > 1 || a->threads[1] > 1 || a->threads[2] > 1)
        return 1;
    const kernel_slot *k = lookup((int)device, region);
    if (!k || !k->func) return 1;
    void *dyn = (void *)~(uintptr_t)0;
    void *params[MAX_PARAMS + 1];
    int np = 0;
    params[np++] = &dyn;
    for (uint32_t i = 0; i < a->nargs; ++i) {
        if (!(a->types[i] & MAP_LITERAL) || (a->mappers && a->mappers[i])) return 1;
        if (a->types[i] & MAP_TARGET_PARAM) params[np++] = &a->base[i];
    }
    if (np != k->nparams) return 1;
    const unsigned block = (unsigned)(tl < k->max_threads ? tl : k->max_threads);
    const unsigned grid = (unsigned)(nt < MAX_TEAMS ? nt : MAX_TEAMS);
    return cu.LaunchKernel(k->func, grid, 1, 1, block, 1, 1, 0, armed.stream, params, NULL) != 0;
}

int __tgt_target_kernel(void *loc, int64_t device, int32_t teams, int32_t threads, void *region,
                        tgt_kernel_args *args) {
    if (armed.stream) {
        if (launch(device, teams, threads, region, args) == 0) return 0;
        cu.StreamSynchronize(armed.stream); /* the runtime's region runs after the stream's work */
    }
    static target_kernel_fn real;
    target_kernel_fn f = __atomic_load_n(&real, __ATOMIC_ACQUIRE);
    if (!f) {
        f = (target_kernel_fn)runtime_symbol("__tgt_target_kernel");
        __atomic_store_n(&real, f, __ATOMIC_RELEASE);
    }
    return f ? f(loc, device, teams, threads, region, args) : 1; /* 1: the host runs it */
}

/* ---------------------------------------------------------------- streams */
void *omq_cuda_direct_stream(int device) {
    omq_cuda();
    if (device < 0 || device >= MAX_DEVICES) return NULL;
    pthread_mutex_lock(&direct.mu);
    const int ready = load_image(device);
    void *ctx = direct.dev[device].ctx, *stream = NULL, *popped;
    pthread_mutex_unlock(&direct.mu);
    if (!ready || cu.CtxPushCurrent(ctx)) return NULL;
    if (cu.StreamCreate(&stream, 1 /* CU_STREAM_NON_BLOCKING */)) stream = NULL;
    cu.CtxPopCurrent(&popped);
    return stream;
}

void omq_cuda_direct_stream_free(void *stream) {
    if (stream) cu.StreamDestroy(stream);
}

/* the primary context is pushed, not set: an application thread that serves its own
 * submissions gets its current context back */
void omq_cuda_direct_arm(void *stream, int device) {
    armed.stream = cu.CtxPushCurrent(direct.dev[device].ctx) ? NULL : stream;
    armed.device = device;
}

void omq_cuda_direct_disarm(void) {
    void *popped;
    if (armed.stream) cu.CtxPopCurrent(&popped);
    armed.stream = NULL;
}

int omq_cuda_direct_wait(void *stream) { return cu.StreamSynchronize(stream) != 0; }

/* The runtime's synchronous copy costs ~10 us; the driver's a few. On a stream of its own and
 * waited for, as the runtime does: the driver's synchronous forms run on the legacy stream,
 * which omq's non-blocking streams do not wait for (a pageable upload may still be in flight
 * when cuMemcpyHtoD returns). */
int omq_cuda_copy(int device, void *dst, const void *src, size_t bytes, int kind) {
    if (device < 0 || device >= MAX_DEVICES) return -1;
    pthread_mutex_lock(&direct.mu);
    void *copies = direct.dev[device].state > 0 ? direct.dev[device].copies : NULL;
    pthread_mutex_unlock(&direct.mu);
    void *popped;
    if (!copies || cu.CtxPushCurrent(direct.dev[device].ctx)) return -1;
    const unsigned long long d = (uintptr_t)dst, s = (uintptr_t)src;
    int rc = kind == 0   ? cu.MemcpyHtoDAsync(d, src, bytes, copies)
             : kind == 1 ? cu.MemcpyDtoHAsync(dst, s, bytes, copies)
                         : cu.MemcpyDtoDAsync(d, s, bytes, copies);
    rc |= cu.StreamSynchronize(copies);
    cu.CtxPopCurrent(&popped);
    return rc != 0;
}

int omq_cuda_direct_idle(void *stream) { return cu.StreamQuery(stream) == 0; }

#else /* CPU builds: no device images, no direct launches */
void *omq_cuda_direct_stream(int device) {
    (void)device;
    return NULL;
}
void omq_cuda_direct_stream_free(void *stream) { (void)stream; }
void omq_cuda_direct_arm(void *stream, int device) { (void)stream, (void)device; }
void omq_cuda_direct_disarm(void) {}
int omq_cuda_direct_wait(void *stream) { return stream != NULL; }
int omq_cuda_direct_idle(void *stream) { return stream == NULL; }
int omq_cuda_copy(int device, void *dst, const void *src, size_t bytes, int kind) {
    (void)device, (void)dst, (void)src, (void)bytes, (void)kind;
    return -1;
}
#endif
