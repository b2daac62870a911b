/* bnnc eval (not written yet). */
#include <stdio.h>

#include "cli.h"

int bnnc_cmd_eval(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    fprintf(stderr, "bnnc eval: not implemented yet\n");
    return BNNC_EXIT_ERROR;
}
