/* omq: command-line front end of the library. One file per command. */
#include <stdio.h>
#include <string.h>

#include "cli.h"

int cmd_info(int argc, char **argv);
int cmd_quantize(int argc, char **argv);
int cmd_dequantize(int argc, char **argv);
int cmd_roundtrip(int argc, char **argv);
int cmd_matmul(int argc, char **argv);
int cmd_bench(int argc, char **argv);
int cmd_gguf(int argc, char **argv);
int cmd_verify(int argc, char **argv);

static const struct {
    const char *name;
    cli_command_fn fn;
    const char *summary;
} commands[] = {
    {"info", cmd_info, "version, build, devices, types"},
    {"quantize", cmd_quantize, "float32 file -> quantized blocks; IN.gguf OUT.gguf TYPE: a model"},
    {"dequantize", cmd_dequantize, "quantized blocks -> float32 / float16 file"},
    {"roundtrip", cmd_roundtrip, "quantize + dequantize random data: error and throughput"},
    {"matmul", cmd_matmul, "Y = X W^T: quantized weights times float32/float16 activations"},
    {"bench", cmd_bench, "speed of every operation against the copy roofline (docs/perf.md)"},
    {"gguf", cmd_gguf, "list a GGUF file's metadata and tensors"},
    {"verify", cmd_verify, "dequantize a GGUF file's tensors on the device and the host, compare"},
};

static void usage(FILE *f) {
    fprintf(f, "usage: omq COMMAND [options]   (omq COMMAND --help for its options)\n\ncommands:\n");
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; ++i)
        fprintf(f, "  %-12s %s\n", commands[i].name, commands[i].summary);
}

int main(int argc, char **argv) {
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    if (!strcmp(argv[1], "--version")) {
        printf("omq %s\n", omq_version_string());
        return 0;
    }
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; ++i)
        if (!strcmp(argv[1], commands[i].name)) return commands[i].fn(argc - 1, argv + 1);
    cli_fail("unknown command '%s' (omq --help lists them)", argv[1]);
    return 2;
}
