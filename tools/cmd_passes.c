/* bnnc passes: list the passes, their options and defaults. */
#include <getopt.h>
#include <stdio.h>

#include "bnn_passes.h"
#include "cli.h"

static void usage(FILE *out)
{
    fprintf(out, "usage: bnnc passes\n\n"
                 "Lists the passes a pipeline (bnnc convert --passes) may name, with their\n"
                 "options and defaults.  A pipeline is written as in MLIR:\n"
                 "  canonicalize,to-bnn{layers=dense,conv exclude=fc3 prior_sigma=0.05},dce\n\n"
                 "options:\n"
                 "  -h, --help   show this help\n");
}

int bnnc_cmd_passes(int argc, char **argv)
{
    static const struct option options[] = {
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    optind = 1;
    for (int c; (c = getopt_long(argc, argv, "+h", options, NULL)) != -1;) {
        switch (c) {
        case 'h':
            usage(stdout);
            return BNNC_EXIT_OK;
        default:
            return bnnc_usage_error("passes", "unknown option");
        }
    }
    if (optind != argc)
        return bnnc_usage_error("passes", "takes no arguments");
    for (int i = 0; i < bnn_pass_count(); i++) {
        const bnn_pass_info *p = bnn_pass_at(i);
        printf("%s%-16s %s\n", i ? "\n" : "", p->name, p->summary);
        for (int k = 0; k < p->n_options; k++) {
            const bnn_pass_option_info *o = &p->options[k];
            char def[64];
            snprintf(def, sizeof def, "%s=%s", o->name,
                     *o->default_value ? o->default_value : "");
            printf("    %-20s %s%s\n", def, o->help,
                   *o->default_value ? "" : " (default: none)");
        }
    }
    if (fflush(stdout) != 0) {
        fprintf(stderr, "bnnc: <stdout>: write failed\n");
        return BNNC_EXIT_ERROR;
    }
    return BNNC_EXIT_OK;
}
