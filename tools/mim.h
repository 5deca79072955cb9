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

#include <jansson.h>
#include <openssl/x509.h>

#include "mim_http.h"
#include "mim_jws.h"
#include "mim_key.h"
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
int mim_cmd_consumer(int argc, char **argv);     /* mim_consumer.c */
int mim_cmd_dsp(int argc, char **argv);          /* mim_dsp_validate.c */

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

/* mim_error() with " (try --help)" after the message; returns
   MIM_EXIT_USAGE */
int mim_usage_error(const char *cmd, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* a malloc()ed formatted string, NULL when out of memory */
char *mim_sprintf(const char *fmt, ...)
    __attribute__((format(printf, 1, 2)));

/* replace bytes outside printable ASCII with '?', in place */
void mim_printable(char *s);

/*
 * A JSON string of a printable copy of s (mim_printable), for output of
 * text that came from files or the network; NULL when out of memory.
 */
json_t *mim_printable_json(const char *s);

/* ---- verification keys: --jwks FILE|URL, --key FILE or --ca FILE ---- */

/* the keys a subcommand verifies with, and a line saying where from */
typedef struct {
    mim_keyset_t         set;
    mim_key_t            key;
    int                  have_key;
    X509_STORE          *store;
    mim_jws_trust_t      trust;     /* what the verifiers take */
    char                *source;    /* "key FILE", "JWKS URL", ... */
} mim_tool_keys_t;

/*
 * Load exactly one key source (the other two NULL): a PEM public key or
 * certificate, a CA bundle the x5c chains must lead to, or a JWK Set from
 * a file or a URL (fetched with http).  Set k->source.  On failure too,
 * k is for mim_tool_keys_free().
 */
mim_result_t mim_tool_load_keys(mim_tool_keys_t *k, const char *key,
    const char *ca, const char *jwks, const mim_http_options_t *http);

/*
 * Load a JWK Set from a file or a URL (fetched with http) into the zeroed
 * k; k->source is the caller's to set.
 */
mim_result_t mim_tool_load_jwks(mim_tool_keys_t *k, const char *src,
    const mim_http_options_t *http);

void mim_tool_keys_free(mim_tool_keys_t *k);

#endif /* MIM_H */
