/* bnnc run (not written yet). */
#include <stdio.h>

#include "cli.h"

int bnnc_cmd_run(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    fprintf(stderr, "bnnc run: not implemented yet\n");
    return BNNC_EXIT_ERROR;
}
