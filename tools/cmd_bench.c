/* bnnc bench (not written yet). */
#include <stdio.h>

#include "cli.h"

int bnnc_cmd_bench(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    fprintf(stderr, "bnnc bench: not implemented yet\n");
    return BNNC_EXIT_ERROR;
}
