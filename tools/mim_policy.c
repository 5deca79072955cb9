/*
 * mim_policy.c - the `mim policy` subcommand (placeholder until it lands).
 */
#include <stdio.h>

#include "mim.h"

int
mim_cmd_policy(int argc, char **argv)
{
    fprintf(stderr, "mim: policy: not available in this build\n");
    return MIM_EXIT_USAGE;
}
