/* Build tool: rewrites the ELF headers of CUDA cubins embedded in a binary from the ABI
 * version 8 form (written by CUDA 13's ptxas/nvlink) to the ABI version 7 form that LLVM
 * 19's offload runtime recognises; the CUDA driver loads both. Only the header's
 * EI_OSABI, EI_ABIVERSION and e_flags bytes change, in place.
 *   usage: omq_cubin_abi FILE...      (exit status 0 also when nothing needed changing) */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { EM_CUDA = 190, OSABI_CUDA_V8 = 0x41, OSABI_CUDA_V7 = 0x33 };

static uint32_t rd32(const unsigned char *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static void wr32(unsigned char *p, uint32_t v) {
    for (int i = 0; i < 4; ++i) p[i] = (unsigned char)(v >> (8 * i));
}

static int fix_file(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        perror(path);
        return 1;
    }
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *buf = n > 0 ? malloc((size_t)n) : NULL;
    if (!buf || fread(buf, 1, (size_t)n, f) != (size_t)n) {
        fprintf(stderr, "%s: cannot read\n", path);
        fclose(f);
        free(buf);
        return 1;
    }
    fclose(f);
    int fixed = 0;
    for (long i = 0; i + 64 <= n; ++i) {
        unsigned char *h = buf + i;
        /* 64-bit little-endian ELF for EM_CUDA in the ABI-8 form */
        if (memcmp(h, "\x7f" "ELF\x02\x01", 6) || h[7] != OSABI_CUDA_V8 || h[8] != 8) continue;
        if ((h[18] | h[19] << 8) != EM_CUDA) continue;
        const uint32_t flags = rd32(h + 48);
        const uint32_t sm = (flags >> 8) & 0xffu; /* ABI 8 keeps the SM number in bits 8..15 */
        h[7] = OSABI_CUDA_V7;
        h[8] = 7;
        /* ABI 7: SM in bits 0..7 and 16..23, 64-bit addresses (0x400), unified textures (0x100) */
        wr32(h + 48, sm | 0x400u | 0x100u | sm << 16);
        ++fixed;
    }
    if (fixed) {
        f = fopen(path, "r+b");
        if (!f || fwrite(buf, 1, (size_t)n, f) != (size_t)n || fclose(f)) {
            fprintf(stderr, "%s: cannot write\n", path);
            free(buf);
            return 1;
        }
    }
    free(buf);
    return 0;
}

int main(int argc, char **argv) {
    int rc = 0;
    for (int i = 1; i < argc; ++i) rc |= fix_file(argv[i]);
    return rc;
}
