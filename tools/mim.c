/*
 * mim.c - the `mim` command: dispatch to a subcommand.
 *
 * Adding a subcommand is one entry in mim_commands[] (and its function,
 * declared in mim.h).
 */
#include <stdio.h>
#include <string.h>

#include "mim.h"

typedef struct {
    const char      *name;
    mim_command_pt   run;
    const char      *summary;
} mim_command_t;

static int mim_cmd_version(int argc, char **argv);
static int mim_cmd_help(int argc, char **argv);

static const mim_command_t  mim_commands[] = {
    { "verify-response", mim_cmd_verify_response,
      "verify a signed response (Content-Digest and detached JWS)" },
    { "policy", mim_cmd_policy,
      "evaluate or check an ODRL policy (mim policy eval|check)" },
    { "audit", mim_cmd_audit,
      "verify or search signed audit logs (mim audit verify|show)" },
    { "consumer", mim_cmd_consumer,
      "act as a DSP 2025-1 consumer (catalog, negotiate, transfer, get, run)" },
    { "dsp", mim_cmd_dsp,
      "validate DSP 2025-1 messages against the schemas (mim dsp validate)" },
    { "version", mim_cmd_version, "print the version" },
    { "help", mim_cmd_help, "this list, or `mim help COMMAND`" },
    { NULL, NULL, NULL }
};

static void
mim_usage(FILE *out)
{
    const mim_command_t  *c;

    fprintf(out, "usage: mim COMMAND [ARGS]\n\ncommands:\n");

    for (c = mim_commands; c->name != NULL; c++) {
        fprintf(out, "  %-18s %s\n", c->name, c->summary);
    }

    fprintf(out, "\n`mim COMMAND --help` describes a command.\n");
}

static const mim_command_t *
mim_find_command(const char *name)
{
    const mim_command_t  *c;

    for (c = mim_commands; c->name != NULL; c++) {
        if (strcmp(c->name, name) == 0) {
            return c;
        }
    }

    return NULL;
}

static int
mim_cmd_version(int argc, char **argv)
{
    if (argc > 1) {
        mim_error("version", "takes no arguments");
        return MIM_EXIT_USAGE;
    }

    printf("mim %s\n", MIM_VERSION);
    return MIM_EXIT_OK;
}

/* `mim help` lists the commands, `mim help CMD` runs `mim CMD --help` */
static int
mim_cmd_help(int argc, char **argv)
{
    const mim_command_t  *c;
    char                 *help_argv[3];

    if (argc < 2) {
        mim_usage(stdout);
        return MIM_EXIT_OK;
    }

    c = mim_find_command(argv[1]);
    if (c == NULL || c->run == mim_cmd_help) {
        mim_error("help", "unknown command '%s'", argv[1]);
        mim_usage(stderr);
        return MIM_EXIT_USAGE;
    }

    help_argv[0] = (char *) c->name;
    help_argv[1] = "--help";
    help_argv[2] = NULL;

    return c->run(2, help_argv);
}

int
main(int argc, char **argv)
{
    const mim_command_t  *c;

    if (argc < 2) {
        mim_usage(stderr);
        return MIM_EXIT_USAGE;
    }

    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        mim_usage(stdout);
        return MIM_EXIT_OK;
    }

    if (strcmp(argv[1], "--version") == 0) {
        return mim_cmd_version(1, argv + 1);
    }

    c = mim_find_command(argv[1]);
    if (c == NULL) {
        fprintf(stderr, "mim: unknown command '%s'\n\n", argv[1]);
        mim_usage(stderr);
        return MIM_EXIT_USAGE;
    }

    return c->run(argc - 1, argv + 1);
}
