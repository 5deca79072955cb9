/*
 * vc_driver.c - run trust/mim_vc.c on one token, for the interop tests
 * (t/integration/test_vc_interop.py compiles it against
 * build/libmimcore.a).
 *
 *   vc_driver ISSUERS.json DIDWEB_DIR|- TOKEN_FILE NOW [options]
 *       --aud AUDIENCE  --nonce NONCE  --status-optional
 *       --algs "ES256 EdDSA"  --leeway SECONDS
 *
 * Prints the identity as JSON and exits 0, or prints
 * {"error": code, "message": reason} and exits 1; 2 for a usage or
 * configuration error.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mim_vc.h"

static int
usage(void)
{
    fprintf(stderr, "usage: vc_driver ISSUERS.json DIDWEB_DIR|- TOKEN_FILE "
            "NOW [--aud A] [--nonce N] [--status-optional] [--algs L] "
            "[--leeway S]\n");
    return 2;
}

static char *
read_token(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    char *buf = malloc(65536 + 1);

    *len = 0;
    if (f == NULL || buf == NULL) {
        free(buf);
        if (f != NULL) {
            fclose(f);
        }
        return NULL;
    }
    *len = fread(buf, 1, 65536, f);
    fclose(f);
    /* a trailing newline from an editor is not part of the token */
    while (*len > 0 && (buf[*len - 1] == '\n' || buf[*len - 1] == '\r')) {
        (*len)--;
    }
    buf[*len] = '\0';
    return buf;
}

static json_t *
identity_json(const mim_identity_t *id)
{
    json_t *claims = json_object(), *out, *values;
    size_t i, j;

    for (i = 0; i < id->claims_n; i++) {
        values = json_array();
        for (j = 0; j < id->claims[i].n; j++) {
            json_array_append_new(values,
                                  json_string(id->claims[i].values[j]));
        }
        json_object_set_new(claims, id->claims[i].name, values);
    }
    out = json_pack("{s:s?, s:s?, s:s?, s:s?, s:s?, s:o, s:I, s:s?}",
                    "party", id->party, "subject", id->subject,
                    "issuer", id->issuer, "auth_method", id->auth_method,
                    "credential_types", id->credential_types,
                    "claims", claims, "expires", (json_int_t) id->expires,
                    "jti", id->jti);
    return out;
}

static int
report(json_t *v, int code)
{
    char *text = json_dumps(v, JSON_COMPACT | JSON_SORT_KEYS);

    printf("%s\n", text ? text : "{}");
    free(text);
    json_decref(v);
    return code;
}

int
main(int argc, char **argv)
{
    mim_vc_config_t cfg;
    mim_trusted_issuers_t *issuers = NULL;
    mim_did_web_t *web = NULL;
    mim_identity_t id;
    mim_result_t r;
    char *token;
    size_t len;
    int i, rc;

    if (argc < 5) {
        return usage();
    }
    memset(&cfg, 0, sizeof(cfg));
    cfg.now = strtoll(argv[4], NULL, 10);
    cfg.leeway = 30;
    for (i = 5; i < argc; i++) {
        if (strcmp(argv[i], "--status-optional") == 0) {
            cfg.status_optional = 1;
        } else if (i + 1 >= argc) {
            return usage();
        } else if (strcmp(argv[i], "--aud") == 0) {
            cfg.audience = argv[++i];
        } else if (strcmp(argv[i], "--nonce") == 0) {
            cfg.nonce = argv[++i];
        } else if (strcmp(argv[i], "--leeway") == 0) {
            cfg.leeway = strtoll(argv[++i], NULL, 10);
        } else if (strcmp(argv[i], "--algs") == 0) {
            if (mim_alg_set_parse(argv[++i], &cfg.algs) != 0) {
                return usage();
            }
        } else {
            return usage();
        }
    }
    r = mim_trusted_issuers_load(&issuers, argv[1]);
    if (mim_ok(r) && strcmp(argv[2], "-") != 0) {
        r = mim_did_web_load_dir(&web, argv[2]);
    }
    if (!mim_ok(r)) {
        fprintf(stderr, "vc_driver: %s\n", r.msg);
        mim_trusted_issuers_free(issuers);
        return 2;
    }
    cfg.issuers = issuers;
    cfg.did_web = web;
    token = read_token(argv[3], &len);
    if (token == NULL) {
        fprintf(stderr, "vc_driver: cannot read %s\n", argv[3]);
        rc = 2;
    } else {
        r = mim_vc_verify(&cfg, token, len, &id);
        rc = mim_ok(r) ? report(identity_json(&id), 0)
                       : report(json_pack("{s:s, s:s}", "error",
                                          mim_code_name(r.code), "message",
                                          r.msg), 1);
        mim_identity_free(&id);
    }
    free(token);
    mim_did_web_free(web);
    mim_trusted_issuers_free(issuers);
    return rc;
}
