/* Shared pieces of the omq command-line tool. */
#ifndef OMQ_CLI_H
#define OMQ_CLI_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "omq.h"

/* A command: argv[0] is the command name. Returns the process exit status. */
typedef int (*cli_command_fn)(int argc, char **argv);

/* Prints "omq: error: ..." to stderr and returns 1 (the exit status of a failed command). */
int cli_fail(const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 1, 2)))
#endif
    ;
/* cli_fail for a failed library call: the status text plus the context's detail. */
int cli_fail_status(omq_context *ctx, omq_status st, const char *what);

/* "auto", "host", "fallback" or a GPU number -> OMQ_DEVICE_* / N. 0 on success. */
int cli_parse_device(const char *s, int *device);
/* Creates the context, or prints why not (returns NULL). */
omq_context *cli_context(int device);
int cli_parse_type(const char *s, omq_type *type);
/* A positive decimal integer. 0 on success. */
int cli_parse_i64(const char *s, int64_t *v);

/* Matches "--name value" or "--name=value" at argv[*i]; advances *i past what it used. */
int cli_opt(int argc, char **argv, int *i, const char *name, const char **value);

/* Whole-file helpers (errors printed). */
int cli_file_size(const char *path, int64_t *size);
void *cli_read_file(const char *path, size_t *size);

double cli_now(void); /* monotonic seconds */

#endif
