/* bnnc passes (not written yet). */
#include <stdio.h>

#include "cli.h"

int bnnc_cmd_passes(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    fprintf(stderr, "bnnc passes: not implemented yet\n");
    return BNNC_EXIT_ERROR;
}
