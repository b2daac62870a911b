/* bnnc dump MODEL.onnx: print the model's IR in bnnc's text form. */
#include <getopt.h>
#include <stdio.h>

#include "bnn_onnx.h"
#include "cli.h"

static void usage(FILE *out)
{
    fprintf(out, "usage: bnnc dump MODEL.onnx\n\n"
                 "Imports an ONNX model (a plain one or a Bayesian one bnnc wrote) and prints\n"
                 "its IR to stdout, in the text form bnnc's passes and tests read back.\n\n"
                 "options:\n"
                 "  -h, --help   show this help\n");
}

int bnnc_cmd_dump(int argc, char **argv)
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
            return bnnc_usage_error("dump", "unknown option");
        }
    }
    if (argc - optind != 1)
        return bnnc_usage_error("dump", "expected one model file");
    const char *path = argv[optind];
    bnn_graph *graph = bnnc_load_model(path);
    if (!graph)
        return BNNC_EXIT_ERROR;
    int status = BNNC_EXIT_OK;
    if (bnn_graph_print(graph, stdout) != BNN_OK || fflush(stdout) != 0) {
        fprintf(stderr, "bnnc: <stdout>: write failed\n");
        status = BNNC_EXIT_ERROR;
    }
    bnn_graph_destroy(graph);
    return status;
}
