/* bnnc export MODEL --mode mean|standard|moments: write a Bayesian model as
 * plain ONNX (bnn-to-mean, lower-bnn-to-onnx or bnn-to-moments, then dce). */
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bnn_onnx.h"
#include "bnn_passes.h"
#include "cli.h"

static void usage(FILE *out)
{
    fprintf(out,
            "usage: bnnc export MODEL.onnx --mode mean|standard|moments [-o OUT.onnx]\n\n"
            "Writes a Bayesian model as an ONNX model that needs no bnnc ops.\n"
            "  --mode mean       each Bayesian layer becomes its deterministic layer with\n"
            "                    the posterior mean mu as weights (passes bnn-to-mean,dce)\n"
            "  --mode standard   each Bayesian layer samples its weights with standard ONNX\n"
            "                    ops, w = mu + Softplus(rho) * RandomNormalLike(mu), so any\n"
            "                    ONNX runtime runs it (passes lower-bnn-to-onnx,dce)\n"
            "  --mode moments    the sampling-free moment graph (bnn-to-moments, the probit\n"
            "                    link for a classifier, dce) with standard ONNX ops: outputs\n"
            "                    probabilities, logits, logits_var, logits_cov for a classifier,\n"
            "                    else each output and its variance (docs/moments.md)\n"
            "  --predictive moments  the same as --mode moments\n\n"
            "options:\n"
            "  -o, --output FILE   output file (default: MODEL.mean.onnx, MODEL.standard.onnx\n"
            "                      or MODEL.moments.onnx)\n"
            "  -h, --help          show this help\n");
}

int bnnc_cmd_export(int argc, char **argv)
{
    static const struct option options[] = {
        {"mode", required_argument, NULL, 'm'},
        {"predictive", required_argument, NULL, 'P'},
        {"output", required_argument, NULL, 'o'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *mode = NULL, *output = NULL;
    optind = 1;
    for (int c; (c = getopt_long(argc, argv, "ho:m:", options, NULL)) != -1;) {
        switch (c) {
        case 'h': usage(stdout); return BNNC_EXIT_OK;
        case 'm': mode = optarg; break;
        case 'P':
            if (strcmp(optarg, "moments") != 0)
                return bnnc_usage_error("export", "--predictive: only moments has an export, "
                                        "not '%s'", optarg);
            mode = "moments";
            break;
        case 'o': output = optarg; break;
        default: return bnnc_usage_error("export", "unknown option");
        }
    }
    if (argc - optind != 1)
        return bnnc_usage_error("export", "expected one model file");
    if (!mode)
        return bnnc_usage_error("export", "--mode mean, standard or moments is required");
    bool standard = strcmp(mode, "standard") == 0, moments = strcmp(mode, "moments") == 0;
    if (!standard && !moments && strcmp(mode, "mean") != 0)
        return bnnc_usage_error("export", "--mode: '%s' is not mean, standard or moments", mode);
    const char *suffix = standard ? ".standard.onnx" : moments ? ".moments.onnx" : ".mean.onnx";
    const char *in = argv[optind];
    char *default_out = NULL;
    if (!output) {
        size_t len = strlen(in);
        if (len >= 5 && strcmp(in + len - 5, ".onnx") == 0)
            len -= 5;
        default_out = malloc(len + strlen(suffix) + 1);
        if (!default_out) {
            fprintf(stderr, "bnnc: out of memory\n");
            return BNNC_EXIT_ERROR;
        }
        memcpy(default_out, in, len);
        strcpy(default_out + len, suffix);
        output = default_out;
    }
    int status = BNNC_EXIT_ERROR;
    bnn_graph *graph = NULL;
    if (bnnc_output_is_input("export", output, &in, 1))
        goto done;
    graph = bnnc_load_model(in);
    if (!graph)
        goto done;
    int bayesian = 0;
    for (int i = 0; i < graph->n_nodes; i++)
        bayesian += !graph->nodes[i].dead && bnn_op_is_bayesian(graph->nodes[i].op);
    bnn_diag diag = {0};
    const char *pipeline = standard ? "lower-bnn-to-onnx,dce" : "bnn-to-mean,dce";
    if (moments) {
        /* A classifier ([N, K >= 2] output, or one made by softmax) gets the
         * probit link and the logits' covariance, as bnnc run does. */
        const bnn_value *o = graph->n_outputs ? bnn_graph_value(graph, graph->outputs[0]) : NULL;
        bool classifier = o && o->shape.rank == 2 && bnn_dim_is_known(o->shape.dims[1]) &&
                          o->shape.dims[1] >= 2;
        pipeline = classifier ? "bnn-to-moments{link=probit covariance=1},dce"
                              : "bnn-to-moments,dce";
    }
    if (bnn_passes_run_text(pipeline, graph, &diag) != BNN_OK) {
        bnnc_report(in, &diag);
        goto done;
    }
    if (bnn_onnx_export_file(graph, output, &diag) != BNN_OK) {
        bnnc_report(output, &diag);
        goto done;
    }
    if (moments)
        printf("wrote %s: the moment graph of %d Bayesian layer%s with standard ONNX ops, "
               "outputs", output, bayesian, bayesian == 1 ? "" : "s");
    for (int i = 0; moments && i < graph->n_outputs; i++)
        printf(" %s%s", bnn_graph_value(graph, graph->outputs[i])->name,
               i + 1 < graph->n_outputs ? "," : "\n");
    if (standard)
        printf("wrote %s: %d Bayesian layer%s sampling with standard ONNX ops\n", output,
               bayesian, bayesian == 1 ? "" : "s");
    else if (!moments)
        printf("wrote %s: %d Bayesian layer%s replaced by %s mean\n", output, bayesian,
               bayesian == 1 ? "" : "s", bayesian == 1 ? "its" : "their");
    status = BNNC_EXIT_OK;
done:
    bnn_graph_destroy(graph);
    free(default_out);
    return status;
}
