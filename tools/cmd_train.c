/* bnnc train (not written yet). */
#include <stdio.h>

#include "cli.h"

int bnnc_cmd_train(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    fprintf(stderr, "bnnc train: not implemented yet\n");
    return BNNC_EXIT_ERROR;
}
