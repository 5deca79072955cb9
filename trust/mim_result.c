/*
 * mim_result.c - the result type every mim core function returns.
 */
#include <stdio.h>

#include "mim_result.h"

mim_result_t
mim_result_ok(void)
{
    mim_result_t r;

    r.code = MIM_OK;
    r.msg[0] = '\0';
    return r;
}

mim_result_t
mim_result_err(mim_code_t code, const char *fmt, ...)
{
    mim_result_t r;
    va_list ap;

    r.code = code;
    va_start(ap, fmt);
    /* vsnprintf truncates and always terminates */
    vsnprintf(r.msg, sizeof(r.msg), fmt, ap);
    va_end(ap);
    return r;
}

const char *
mim_code_name(mim_code_t code)
{
    switch (code) {
    case MIM_OK:              return "ok";
    case MIM_ERR_INVALID:     return "invalid";
    case MIM_ERR_UNSUPPORTED: return "unsupported";
    case MIM_ERR_KEY:         return "key";
    case MIM_ERR_SIGNATURE:   return "signature";
    case MIM_ERR_DIGEST:      return "digest";
    case MIM_ERR_UNTRUSTED:   return "untrusted";
    case MIM_ERR_NOT_FOUND:   return "not_found";
    case MIM_ERR_MISMATCH:    return "mismatch";
    case MIM_ERR_IO:          return "io";
    case MIM_ERR_NOMEM:       return "nomem";
    case MIM_ERR_CRYPTO:      return "crypto";
    case MIM_ERR_LIMIT:       return "limit";
    }
    return "unknown";
}
