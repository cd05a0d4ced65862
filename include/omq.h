/*
 * omq — GGML/GGUF block quantization kernels for CPUs and GPUs (OpenMP offload).
 *
 * Conventions
 *  - Every function that can fail returns an omq_status; OMQ_OK is 0.
 *  - Matrices are row-major float32 unless said otherwise. A quantized row of `cols`
 *    values is cols / block_size blocks laid out as in GGML/GGUF; rows follow each other
 *    with no padding (row size = omq_row_size()). Block arrays are 2-byte aligned; 4-byte
 *    for F32, Q4_1, Q5_1, Q8_1, Q2_K, Q4_K, Q5_K and Q8_K, whose blocks GPUs read a word at
 *    a time (OMQ_ERR_MISALIGNED otherwise; omq_malloc and GGUF tensor data are aligned
 *    further).
 *  - Operation pointers are valid where the context computes: device pointers for a GPU
 *    context, host pointers for a host context (cuBLAS/hipBLAS convention). Operations are
 *    asynchronous: call omq_synchronize() before reading results on the host.
 *  - The library never prints, never exits and never aborts.
 */
#ifndef OMQ_H
#define OMQ_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(_WIN32) && defined(OMQ_BUILDING_SHARED)
#define OMQ_API __declspec(dllexport)
#elif defined(__GNUC__)
#define OMQ_API __attribute__((visibility("default")))
#else
#define OMQ_API
#endif

/* ------------------------------------------------------------------ version */
#define OMQ_VERSION_MAJOR 0
#define OMQ_VERSION_MINOR 1
#define OMQ_VERSION_PATCH 0
#define OMQ_VERSION_NUMBER (OMQ_VERSION_MAJOR * 10000 + OMQ_VERSION_MINOR * 100 + OMQ_VERSION_PATCH)
#define OMQ_VERSION_STRING "0.1.0"

/* The version of the library actually linked (compare with OMQ_VERSION_NUMBER). */
OMQ_API unsigned omq_version_number(void);
OMQ_API const char *omq_version_string(void);

/* One line describing how this library was built: compiler, offload architectures. */
OMQ_API const char *omq_build_info(void);

/* ------------------------------------------------------------------ status */
/* Numeric values are stable: they will not change in later versions. */
typedef enum omq_status {
    OMQ_OK = 0,
    OMQ_ERR_NULL = 1,          /* a required pointer argument is NULL */
    OMQ_ERR_MISALIGNED = 2,    /* a pointer is not aligned for its element type */
    OMQ_ERR_UNKNOWN_TYPE = 3,  /* not an omq_type value (or an unknown type name) */
    OMQ_ERR_UNSUPPORTED = 4,   /* valid arguments, but this combination is not provided */
    OMQ_ERR_SHAPE = 5,         /* cols is not a multiple of the type's block size, or shapes disagree */
    OMQ_ERR_EMPTY = 6,         /* a size is zero */
    OMQ_ERR_INVALID_ARG = 7,   /* a negative size, an unknown enum value, ... */
    OMQ_ERR_OVERFLOW = 8,      /* the element or byte count of a size does not fit */
    OMQ_ERR_NO_DEVICE = 9,     /* the requested device does not exist or cannot run omq's kernels */
    OMQ_ERR_ALLOC = 10,        /* memory allocation failed */
    OMQ_ERR_DEVICE = 11,       /* the device runtime reported a failure (copy, launch) */
    OMQ_ERR_NONFINITE = 12,    /* quantization input contained NaN or Inf (see omq_quantize) */
    OMQ_ERR_IO = 13,           /* reading or writing a file failed */
    OMQ_ERR_FORMAT = 14,       /* malformed input data (e.g. a file that is not what it claims) */
    OMQ_ERR_NOT_READY = 15     /* omq_stream_query: the stream still has work queued or running */
} omq_status;

/* A static, human-readable description of a status. Never NULL. */
OMQ_API const char *omq_strerror(omq_status status);

/* ------------------------------------------------------------------ types */
/* Values equal the GGML / GGUF type ids. */
typedef enum omq_type {
    OMQ_TYPE_F32 = 0,
    OMQ_TYPE_F16 = 1,
    OMQ_TYPE_Q4_0 = 2,
    OMQ_TYPE_Q4_1 = 3,
    OMQ_TYPE_Q5_0 = 6,
    OMQ_TYPE_Q5_1 = 7,
    OMQ_TYPE_Q8_0 = 8,
    OMQ_TYPE_Q8_1 = 9,
    OMQ_TYPE_Q2_K = 10,
    OMQ_TYPE_Q3_K = 11,
    OMQ_TYPE_Q4_K = 12,
    OMQ_TYPE_Q5_K = 13,
    OMQ_TYPE_Q6_K = 14,
    OMQ_TYPE_Q8_K = 15
} omq_type;

/* 1 if `type` is one of the omq_type values above, else 0. */
OMQ_API int omq_type_is_valid(int type);
/* ggml's name ("q4_0", "q4_K", "f16"); NULL for an invalid type. */
OMQ_API const char *omq_type_name(omq_type type);
/* Name -> type; case-insensitive ("Q4_K" and "q4_k" both work). */
OMQ_API omq_status omq_type_from_name(const char *name, omq_type *type);
/* Values per block (1 for F32/F16, 32, or 256); 0 for an invalid type. */
OMQ_API int64_t omq_type_block_size(omq_type type);
/* Bytes per block; 0 for an invalid type. */
OMQ_API size_t omq_type_block_bytes(omq_type type);
/* Bytes of one row of `cols` values: checks that cols is positive and a multiple of the
 * block size and that the byte count fits. */
OMQ_API omq_status omq_row_size(omq_type type, int64_t cols, size_t *bytes);
/* Bytes of rows x cols values, with the same checks (rows >= 1). */
OMQ_API omq_status omq_matrix_size(omq_type type, int64_t rows, int64_t cols, size_t *bytes);

/* ------------------------------------------------------------------ contexts */
/* Where a context computes. Values >= 0 name GPU number N (OpenMP device N). */
#define OMQ_DEVICE_AUTO (-1)     /* the first usable GPU, else the host */
#define OMQ_DEVICE_HOST (-2)     /* host threads (OpenMP parallel loops) */
#define OMQ_DEVICE_FALLBACK (-3) /* the GPU kernels, run by OpenMP's host fallback (for testing
                                    device code paths without a GPU); pointers are host pointers */

typedef struct omq_context omq_context;

/* Creates a context on `device` (OMQ_DEVICE_* or a GPU number). A GPU that does not exist,
 * or cannot run this build's kernels, gives OMQ_ERR_NO_DEVICE; OMQ_DEVICE_AUTO then
 * falls back to the host. *ctx is NULL on failure. */
OMQ_API omq_status omq_context_create(omq_context **ctx, int device);
/* Waits for the context's work, then frees it. NULL is ignored. */
OMQ_API void omq_context_free(omq_context *ctx);
/* The device the context chose: a GPU number, OMQ_DEVICE_HOST or OMQ_DEVICE_FALLBACK. */
OMQ_API int omq_context_device(const omq_context *ctx);
/* A short description of the chosen device, e.g. "GPU 0 (OpenMP device 0 of 1)". */
OMQ_API const char *omq_context_describe(const omq_context *ctx);
/* Details of the last error an omq call on this context returned ("" if none). */
OMQ_API const char *omq_context_last_error(const omq_context *ctx);
/* The backend the context uses: "host", "omp" (OpenMP offload: any GPU, and the host
 * fallback) or "hip" (ROCm: HIP memory, copies and streams; OpenMP kernels). */
OMQ_API const char *omq_context_backend(const omq_context *ctx);
/* Number of GPUs (OpenMP non-host devices) visible to this process. GPU N is OpenMP device
 * N; with the HIP backend it is also HIP device N. */
OMQ_API int omq_device_count(void);
/* Human-readable lines on what this build can run on: backends and the devices they see. */
OMQ_API const char *omq_device_report(void);

/* Waits until all work queued on the context (every stream) has finished. Returns the
 * first deferred error of that work (OMQ_ERR_NONFINITE) and clears it, else OMQ_OK.
 * Contexts are thread-safe: any thread may queue work and synchronize. */
OMQ_API omq_status omq_synchronize(omq_context *ctx);

/* ------------------------------------------------------------------ streams */
/* Work queued on one stream runs in the order it was queued (from any thread); work on
 * different streams may overlap. Every context has a default stream; operations go to the
 * context's current stream (omq_context_set_stream, like cublasSetStream). */
typedef struct omq_stream omq_stream;

OMQ_API omq_status omq_stream_create(omq_context *ctx, omq_stream **stream);
/* Adopts the application's hipStream_t (hip backend): omq's work is ordered with the
 * application's own work on it; each omq call returns once its work is done. */
OMQ_API omq_status omq_stream_wrap_hip(omq_context *ctx, void *hip_stream, omq_stream **stream);
/* Adopts a cudaStream_t / CUstream (omp backend on an NVIDIA GPU), with the same ordering
 * guarantee (LLVM's OpenMP runtime cannot join CUDA streams, so each call runs to completion). */
OMQ_API omq_status omq_stream_wrap_cuda(omq_context *ctx, void *cuda_stream, omq_stream **stream);
/* Waits for the stream's work, then frees it (an adopted native stream is not destroyed).
 * The default stream cannot be destroyed. NULL is ignored. */
OMQ_API omq_status omq_stream_destroy(omq_stream *stream);
/* Waits for the stream's work; returns its first deferred error, as omq_synchronize. */
OMQ_API omq_status omq_stream_synchronize(omq_stream *stream);
/* OMQ_OK if all of the stream's work has finished, OMQ_ERR_NOT_READY if not. */
OMQ_API omq_status omq_stream_query(omq_stream *stream);
/* Makes `stream` (of this context; NULL: the default stream) the one operations queue on. */
OMQ_API omq_status omq_context_set_stream(omq_context *ctx, omq_stream *stream);
OMQ_API omq_stream *omq_context_get_stream(omq_context *ctx);

/* ------------------------------------------------------------------ memory */
/* Memory where the context computes (device memory for a GPU context). Aligned to 256 bytes.
 * Memory still allocated is freed with the context. Operations also accept device memory
 * the application allocated itself (hipMalloc, cudaMalloc, omp_target_alloc). */
OMQ_API omq_status omq_malloc(omq_context *ctx, size_t bytes, void **ptr);
/* Frees memory from omq_malloc on the same context, after the context's queued work.
 * NULL is ignored; a pointer omq_malloc did not return is OMQ_ERR_INVALID_ARG. */
OMQ_API omq_status omq_free(omq_context *ctx, void *ptr);
/* Page-locked host memory (fast asynchronous copies); plain host memory on host contexts. */
OMQ_API omq_status omq_host_malloc(omq_context *ctx, size_t bytes, void **ptr);
OMQ_API omq_status omq_host_free(omq_context *ctx, void *ptr);
/* Caps the bytes omq_malloc and omq_host_malloc may hold on this context (0: no cap);
 * beyond it they return OMQ_ERR_ALLOC. omq's own scratch memory counts too. */
OMQ_API omq_status omq_context_set_memory_limit(omq_context *ctx, size_t bytes);
OMQ_API size_t omq_context_memory_in_use(const omq_context *ctx);

typedef enum omq_copy_kind {
    OMQ_COPY_HOST_TO_DEVICE = 0,
    OMQ_COPY_DEVICE_TO_HOST = 1,
    OMQ_COPY_DEVICE_TO_DEVICE = 2
} omq_copy_kind;

/* Copies after all work queued on the context, and returns when the copy is done.
 * "Device" means the context's memory space (host memory for host contexts). */
OMQ_API omq_status omq_memcpy(omq_context *ctx, void *dst, const void *src, size_t bytes,
                              omq_copy_kind kind);
/* Queues the copy on the current stream and returns; host memory must stay valid until the
 * stream is synchronized (fastest with omq_host_malloc memory). */
OMQ_API omq_status omq_memcpy_async(omq_context *ctx, void *dst, const void *src, size_t bytes,
                                    omq_copy_kind kind);

/* ------------------------------------------------------------------ conversion */
/* Quantizes rows x cols float32 values (src, row-major) into `type` (dst, omq_matrix_size
 * bytes). cols must be a multiple of the type's block size.
 * imatrix: NULL, or `cols` importance weights (ggml's quant_weights / imatrix), used by
 * Q4_0, Q4_1, Q5_0, Q5_1 and the K-quants exactly as ggml does; F32, F16, Q8_0, Q8_1 and
 * Q8_K ignore it (as ggml does for Q8_0).
 * Output is byte-identical to ggml's reference quantizers. A block whose input holds NaN or
 * Inf is written as zeros and omq_synchronize() reports OMQ_ERR_NONFINITE (not for F32/F16,
 * which convert such values faithfully). */
OMQ_API omq_status omq_quantize(omq_context *ctx, omq_type type, const float *src, void *dst,
                                int64_t rows, int64_t cols, const float *imatrix);

/* Dequantizes rows x cols values of `type` (src) to out_type = OMQ_TYPE_F32 or OMQ_TYPE_F16
 * (dst), bit-identical to ggml's to_float (f16 output: the f32 value rounded to nearest even).
 * Blocks whose scales are NaN (corrupt data) give NaN values whose sign and payload follow the
 * processor: the host's, as ggml on it; GPUs' float units return their canonical NaN. */
OMQ_API omq_status omq_dequantize(omq_context *ctx, omq_type type, const void *src,
                                  omq_type out_type, void *dst, int64_t rows, int64_t cols);

/* ------------------------------------------------------------------ matrix products */
/* How omq_matmul computes (docs/kernels.md describes each). Values are stable. */
typedef enum omq_algo {
    OMQ_ALGO_AUTO = 0, /* what omq_matmul_choose() picks for the type, shape and device */
    OMQ_ALGO_DMMV = 1, /* W dequantized on the fly times float X; for small n */
    OMQ_ALGO_MMVQ = 2, /* X quantized to Q8_1, integer dot products per block; for small n */
    OMQ_ALGO_MMQ = 3,  /* X quantized to Q8_1, tiled matrix-matrix product; for larger n */
    OMQ_ALGO_GEMM = 4  /* W tiles dequantized to float32, tiled float GEMM; for large n */
} omq_algo;

/* Y = X W^T, the product of ggml's mul_mat:
 *     Y[j * rows + i] = sum_k W[i][k] * X[j * K + k]     (i < rows, j < n, k < K)
 * W: rows x K values of wtype, rows of blocks as omq_quantize writes them (K a multiple of
 * the block size). X: n x K values of xtype, OMQ_TYPE_F32 or OMQ_TYPE_F16, row-major (n
 * activation vectors), or OMQ_TYPE_Q8_1 blocks as omq_quantize writes them (4-byte aligned;
 * mmvq and mmq only, which AUTO then picks): X quantized once for several products that
 * share it (a layer's Q, K and V), each then one kernel with no workspace. Y: n x rows float32, row-major. All three live where the context
 * computes; the call is asynchronous (omq_synchronize before reading Y) and every n >= 1
 * works with every algorithm.
 *  - dmmv and gemm: any wtype, F32 and F16 included; they compute with the float32 values
 *    omq_dequantize gives (F16 X is widened exactly), accumulating in float32.
 *  - mmvq and mmq: quantized wtypes only (F32/F16 weights: OMQ_ERR_UNSUPPORTED). X is first
 *    quantized to Q8_1 in the current stream's workspace, byte-identical to omq_quantize (ggml's
 *    quantize_row_q8_1); a block of X holding NaN or Inf then becomes zeros and the next
 *    omq_synchronize returns OMQ_ERR_NONFINITE, as omq_quantize does. dmmv and gemm pass
 *    NaN and Inf through IEEE arithmetic into Y.
 * Errors: OMQ_ERR_NULL, OMQ_ERR_MISALIGNED (W aligned as its blocks, X and Y as their
 * elements, Q8_1 X 4-byte aligned), OMQ_ERR_UNKNOWN_TYPE, OMQ_ERR_UNSUPPORTED (xtype not
 * F32/F16/Q8_1, mmvq/mmq with F32/F16 weights, or Q8_1 X with dmmv/gemm), OMQ_ERR_INVALID_ARG (negative size, unknown algo), OMQ_ERR_EMPTY (a size
 * is 0), OMQ_ERR_SHAPE (K not a multiple of wtype's block size), OMQ_ERR_OVERFLOW, and
 * OMQ_ERR_ALLOC if the workspace cannot grow. On error nothing is queued and Y is untouched. */
OMQ_API omq_status omq_matmul(omq_context *ctx, omq_type wtype, const void *W, int64_t rows,
                              int64_t K, omq_type xtype, const void *X, int64_t n, float *Y,
                              omq_algo algo);

/* The algorithm OMQ_ALGO_AUTO runs for these arguments on this context (checked as
 * omq_matmul checks them; pointers are not involved). */
OMQ_API omq_status omq_matmul_choose(omq_context *ctx, omq_type wtype, int64_t rows, int64_t K,
                                     int64_t n, omq_algo *algo);

/* Bytes of stream workspace omq_matmul needs for these arguments (0 for dmmv and gemm
 * with F32 X, and for Q8_1 X; n * K * 4 for them with F16 X, the X widened to float32; n * K / 32 * 36, the
 * Q8_1 blocks of X, for mmvq and mmq, except 0 for mmvq with n = 1 on a GPU or fallback
 * context and K <= 28672, where X is quantized in the kernel's own team memory). Each stream has one workspace: it grows on demand
 * (waiting for the stream's queued work first), is reused by later calls, counts against
 * the context's memory limit, and is freed with the stream. Same checks as omq_matmul
 * (algo may be AUTO). */
OMQ_API omq_status omq_matmul_workspace_size(omq_context *ctx, omq_type wtype, int64_t rows,
                                             int64_t K, omq_type xtype, int64_t n,
                                             omq_algo algo, size_t *bytes);

/* "auto", "dmmv", "mmvq", "mmq", "gemm"; NULL for a value that is not an omq_algo. */
OMQ_API const char *omq_algo_name(omq_algo algo);
/* Name -> algorithm, case-insensitive; OMQ_ERR_INVALID_ARG for an unknown name. */
OMQ_API omq_status omq_algo_from_name(const char *name, omq_algo *algo);

/* ------------------------------------------------------------------ testing hooks */
/* Makes the next `count` allocations (omq_malloc, omq_host_malloc) or copies (omq_memcpy,
 * omq_memcpy_async) on this context fail with OMQ_ERR_ALLOC / OMQ_ERR_DEVICE, so that
 * applications can test their error paths. */
typedef enum omq_injected_failure { OMQ_INJECT_ALLOC = 0, OMQ_INJECT_COPY = 1 } omq_injected_failure;
OMQ_API omq_status omq_debug_inject_failures(omq_context *ctx, omq_injected_failure what, int count);

/* Benchmark yardsticks, queued on the current stream like any operation: an empty kernel
 * (OMQ_PROBE_EMPTY: what one operation costs beyond its work; dst, src, bytes unused), a
 * copy kernel (OMQ_PROBE_COPY: an OpenMP target region copying `bytes`, a multiple of 16,
 * between 16-byte aligned device buffers: the bandwidth a plain kernel reaches), or a read
 * kernel (OMQ_PROBE_READ: the same region reading src only, what a kernel that must read
 * `bytes` cannot beat; it writes dst's first 16 bytes only with a 16-byte chunk of src whose
 * two 8-byte halves differ by the bits 0x0123456789abcdef, so that its loads cannot be
 * dropped). */
typedef enum omq_probe { OMQ_PROBE_EMPTY = 0, OMQ_PROBE_COPY = 1, OMQ_PROBE_READ = 2 } omq_probe;
OMQ_API omq_status omq_debug_probe(omq_context *ctx, omq_probe what, void *dst, const void *src, size_t bytes);

#ifdef __cplusplus
}
#endif
#endif /* OMQ_H */
