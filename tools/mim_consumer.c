/* placeholder: `mim consumer` (issue 5) */
#include "mim.h"

int
mim_cmd_consumer(int argc, char **argv)
{
    (void) argc;
    (void) argv;
    mim_error("consumer", "not built yet");
    return MIM_EXIT_USAGE;
}
