/*
 * mim_dsp_validate.c - `mim dsp validate`: check files against the DSP
 * 2025-1 JSON Schemas built into mim (dsp/mim_dsp_schema.h).
 *
 *   mim dsp validate [--type TYPE] FILE...
 *       one line per file: "FILE: valid" or "FILE: invalid: REASON";
 *       exit 0 all valid, 1 one is not, 2 usage error or a file
 *       unreadable.
 *
 * The schema of a file is chosen as shared/tools/dsp_validate.py does:
 * by --type, else by the document's "@type", and a document without one
 * is a VersionResponse.  The same validator checks what `mim consumer`
 * receives, so this is also how to see why a message was refused.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "mim.h"
#include "mim_dsp_schema.h"

#define MIM_CMD  "dsp"

static const char  mim_dsp_usage_text[] =
"usage:\n"
"  mim dsp validate [--type TYPE] FILE...\n"
"\n"
"validate checks each FILE (\"-\" reads stdin) against the official DSP\n"
"2025-1 JSON Schemas (built in) and prints \"FILE: valid\" or\n"
"\"FILE: invalid: REASON\", REASON naming the member and the rule.\n"
"  --type TYPE   the schema to use; without it, the document's \"@type\",\n"
"                and a document without one is a VersionResponse\n"
"\n"
"exit status: 0 every file valid, 1 one is not, 2 usage error or a file\n"
"unreadable.\n"
"\n"
"types:\n";

/* the whole text for --help (with the types); the synopsis otherwise */
static int
mim_dsp_usage(int status)
{
    const char  *t;
    size_t       i, col = 0;

    if (status != MIM_EXIT_OK) {
        fprintf(stderr, "%.*s`mim dsp --help` says more.\n",
                (int) (strstr(mim_dsp_usage_text, "\n\n")
                       - mim_dsp_usage_text + 1), mim_dsp_usage_text);
        return status;
    }
    fputs(mim_dsp_usage_text, stdout);
    for (i = 0; (t = mim_dsp_schema_type(i)) != NULL; i++) {
        if (col > 0 && col + strlen(t) + 1 > 76) {
            fputc('\n', stdout);
            col = 0;
        }
        col += (size_t) printf("%s%s", col == 0 ? "  " : " ", t);
    }
    fputc('\n', stdout);
    return status;
}

static int
mim_dsp_known_type(const char *name)
{
    const char  *t;
    size_t       i;

    for (i = 0; (t = mim_dsp_schema_type(i)) != NULL; i++) {
        if (strcmp(t, name) == 0) {
            return 1;
        }
    }
    return 0;
}

/*
 * Without --type: the document's @type, or "VersionResponse" when it has
 * none (the rule of dsp_validate.py).  Text that is not JSON gets NULL
 * too: the validator says why it is not.
 */
static const char *
mim_dsp_default_type(const uint8_t *text, size_t len)
{
    json_t      *doc;
    const char  *type = NULL;

    doc = json_loadb((const char *) text, len, JSON_DECODE_ANY, NULL);
    if (doc != NULL && (!json_is_object(doc)
                        || json_object_get(doc, "@type") == NULL))
    {
        type = "VersionResponse";
    }
    json_decref(doc);
    return type;
}

static int
mim_dsp_validate_file(const char *path, const char *type)
{
    uint8_t       *text;
    size_t         len;
    mim_result_t   r;
    char          *shown;

    r = mim_tool_read_file(path, MIM_DSP_SCHEMA_MAX_TEXT, &text, &len);
    if (!mim_ok(r)) {
        mim_error(MIM_CMD, "%s", r.msg);
        return MIM_EXIT_USAGE;
    }
    if (type == NULL) {
        type = mim_dsp_default_type(text, len);
    }
    r = mim_dsp_schema_validate((const char *) text, len, type);
    free(text);
    if (r.code == MIM_ERR_NOMEM || r.code == MIM_ERR_UNSUPPORTED) {
        /* not a verdict on the file */
        mim_error(MIM_CMD, "%s", r.msg);
        return MIM_EXIT_USAGE;
    }
    shown = mim_sprintf("%s", path);
    if (shown == NULL) {
        mim_error(MIM_CMD, "out of memory");
        return MIM_EXIT_USAGE;
    }
    mim_printable(shown);
    if (mim_ok(r)) {
        printf("%s: valid\n", shown);
    } else {
        printf("%s: invalid: %s\n", shown, r.msg);
    }
    free(shown);
    return mim_ok(r) ? MIM_EXIT_OK : MIM_EXIT_FAILED;
}

static int
mim_dsp_validate_cmd(int argc, char **argv)
{
    static const struct option  options[] = {
        { "type", required_argument, NULL, 't' },
        { "help", no_argument,       NULL, 'h' },
        { NULL, 0, NULL, 0 }
    };
    const char    *type = NULL;
    mim_result_t   r;
    int            opt, k, rc, status = MIM_EXIT_OK;

    optind = 1;
    opterr = 0;
    while ((opt = getopt_long(argc, argv, "+t:h", options, NULL)) != -1) {
        switch (opt) {
        case 't':
            type = optarg;
            break;
        case 'h':
            return mim_dsp_usage(MIM_EXIT_OK);
        default:
            if (optopt == 't') {
                mim_error(MIM_CMD, "--type needs a TYPE");
            } else {
                mim_error(MIM_CMD, "unknown option '%s'", argv[optind - 1]);
            }
            return mim_dsp_usage(MIM_EXIT_USAGE);
        }
    }
    if (optind >= argc) {
        mim_error(MIM_CMD, "validate takes one or more FILEs");
        return mim_dsp_usage(MIM_EXIT_USAGE);
    }
    r = mim_dsp_schema_init();
    if (!mim_ok(r)) {
        mim_error(MIM_CMD, "%s", r.msg);
        return MIM_EXIT_USAGE;
    }
    if (type != NULL && !mim_dsp_known_type(type)) {
        mim_error(MIM_CMD, "no DSP 2025-1 schema for type '%s' (`mim dsp "
                  "--help` lists them)", type);
        return MIM_EXIT_USAGE;
    }
    for (k = optind; k < argc; k++) {
        rc = mim_dsp_validate_file(argv[k], type);
        if (rc > status) {
            status = rc;
        }
    }
    return status;
}

int
mim_cmd_dsp(int argc, char **argv)
{
    int  status;

    if (argc < 2) {
        return mim_dsp_usage(MIM_EXIT_USAGE);
    }
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        status = mim_dsp_usage(MIM_EXIT_OK);
    } else if (strcmp(argv[1], "validate") == 0) {
        status = mim_dsp_validate_cmd(argc - 1, argv + 1);
    } else {
        mim_error(MIM_CMD, "unknown action '%s' (validate)", argv[1]);
        status = mim_dsp_usage(MIM_EXIT_USAGE);
    }
    /* the schemas were loaded on first use */
    mim_dsp_schema_cleanup();
    return status;
}
