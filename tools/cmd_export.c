/* bnnc export (not written yet). */
#include <stdio.h>

#include "cli.h"

int bnnc_cmd_export(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    fprintf(stderr, "bnnc export: not implemented yet\n");
    return BNNC_EXIT_ERROR;
}
