/*
 * mim_result.h - the result type every mim core function returns.
 *
 * Shared by all pure C cores (trust/, dsp/, policies/).  A core never
 * includes nginx headers; it reports success or a precise, human-readable
 * reason that the nginx glue turns into a status code, a JSON body and a
 * log line, and that the `mim` tool prints as is.
 */
#ifndef MIM_RESULT_H
#define MIM_RESULT_H

#include <stdarg.h>

#define MIM_MSG_MAX  256

typedef enum {
    MIM_OK = 0,
    MIM_ERR_INVALID,      /* malformed input: bad base64, bad JSON, bad PEM */
    MIM_ERR_UNSUPPORTED,  /* well-formed but not supported: curve, alg, crit */
    MIM_ERR_KEY,          /* key or certificate problem */
    MIM_ERR_SIGNATURE,    /* signature does not verify */
    MIM_ERR_DIGEST,       /* content digest mismatch */
    MIM_ERR_UNTRUSTED,    /* certificate chain does not lead to a trust anchor */
    MIM_ERR_NOT_FOUND,    /* e.g. unknown kid */
    MIM_ERR_MISMATCH,     /* a bound value differs (request binding, key/cert) */
    MIM_ERR_IO,           /* file cannot be read */
    MIM_ERR_NOMEM,
    MIM_ERR_CRYPTO,       /* OpenSSL failed unexpectedly */
    MIM_ERR_LIMIT         /* input over a configured or built-in limit */
} mim_code_t;

typedef struct {
    mim_code_t  code;
    char        msg[MIM_MSG_MAX];
} mim_result_t;

#define mim_ok(r)  ((r).code == MIM_OK)

/* MIM_OK with an empty message */
mim_result_t mim_result_ok(void);

/* an error with a printf-style message (truncated to MIM_MSG_MAX - 1) */
mim_result_t mim_result_err(mim_code_t code, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* "invalid", "unsupported", ... : a stable token for logs and JSON bodies */
const char *mim_code_name(mim_code_t code);

#endif /* MIM_RESULT_H */
