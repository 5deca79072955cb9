/* placeholder: `mim dsp validate` (issue 5) */
#include "mim.h"

int
mim_cmd_dsp(int argc, char **argv)
{
    (void) argc;
    (void) argv;
    mim_error("dsp", "not built yet");
    return MIM_EXIT_USAGE;
}
