/*
 * mim.h - the `mim` command-line tool: subcommands and shared helpers.
 *
 * Every subcommand is a function taking (argc, argv) with argv[0] the
 * subcommand's name, so it can use getopt_long() as a program would, and
 * returning the process exit status.
 */
#ifndef MIM_H
#define MIM_H

#include <stddef.h>
#include <stdint.h>

#include "mim_result.h"

#define MIM_VERSION  "0.1.0"

/* exit statuses shared by all subcommands */
#define MIM_EXIT_OK       0     /* verified, done */
#define MIM_EXIT_FAILED   1     /* the check ran and failed */
#define MIM_EXIT_USAGE    2     /* bad arguments, or input unreadable */

typedef int (*mim_command_pt)(int argc, char **argv);

int mim_cmd_verify_response(int argc, char **argv);
int mim_cmd_policy(int argc, char **argv);
int mim_cmd_audit(int argc, char **argv);

/*
 * Read a whole file (at most max bytes; more is MIM_ERR_LIMIT) into a
 * malloc()ed buffer with a NUL after the data, so text can be used as a
 * C string.  "-" reads standard input.
 */
mim_result_t mim_tool_read_file(const char *path, size_t max, uint8_t **data,
    size_t *len);

/*
 * "mim: <cmd>: <message>" on stderr.  Messages often quote untrusted input
 * (a kid, a header value): bytes outside printable ASCII become '?', so no
 * escape sequence reaches the terminal.
 */
void mim_error(const char *cmd, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* a malloc()ed formatted string, NULL when out of memory */
char *mim_sprintf(const char *fmt, ...)
    __attribute__((format(printf, 1, 2)));

/* replace bytes outside printable ASCII with '?', in place */
void mim_printable(char *s);

#endif /* MIM_H */
