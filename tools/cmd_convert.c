/* bnnc convert (not written yet). */
#include <stdio.h>

#include "cli.h"

int bnnc_cmd_convert(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    fprintf(stderr, "bnnc convert: not implemented yet\n");
    return BNNC_EXIT_ERROR;
}
