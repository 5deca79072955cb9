/*
 * mim_audit.c - the `mim audit` subcommand (placeholder until it lands).
 */
#include <stdio.h>

#include "mim.h"

int
mim_cmd_audit(int argc, char **argv)
{
    fprintf(stderr, "mim: audit: not available in this build\n");
    return MIM_EXIT_USAGE;
}
