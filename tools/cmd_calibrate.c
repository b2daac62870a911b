/* bnnc calibrate: fit a classifier's temperature on held-out data and write
 * it into the model (a `mul` by 1/T before its softmax). */
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "bnn_data.h"
#include "bnn_npy.h"
#include "bnn_onnx.h"
#include "bnn_predict.h"
#include "bnn_runtime.h"
#include "calibrate.h"
#include "cli.h"
#include "examples.h"

static void usage(FILE *out)
{
    fprintf(out,
        "usage: bnnc calibrate MODEL.onnx (--data DIR --val-split F | --x X.npy --y Y.npy)\n"
        "                      -o OUT.onnx [options]\n\n"
        "Temperature scaling: finds the T that minimises the negative log-likelihood of the\n"
        "model's predictive on held-out labelled data, (1/S) sum_s softmax(z_s / T) over S\n"
        "weight samples (S = 1 for a deterministic model), and writes the model with its\n"
        "logits divided by T.  Never calibrate on the test set: use data the model was not\n"
        "trained on, e.g. what `bnnc train --val-split F` held out.\n\n"
        "options:\n"
        "  --data DIR          MNIST IDX files: the last fraction F (--val-split) of the\n"
        "                      training split is used\n"
        "  --val-split F       fraction, as in bnnc train (required with --data)\n"
        "  --x F --y F         .npy inputs and integer labels instead\n"
        "  --x NAME=F          a model with several inputs: one array per input, each\n"
        "                      named (--x ids=I.npy --x mask=M.npy)\n"
        "  --samples S         weight samples (default 32)\n"
        "  --predictive mc|moments|glm  fit T to this predictive (default mc; with\n"
        "                      moments|glm, S draws of the logits), as bnnc eval's\n"
        "  --batch B           rows per run (default 256)\n"
        "  --seed N            weight samples (default 0)\n"
        "  --scale F           IDX pixel scale (default 1/255)\n"
        "  --threads N         OpenBLAS/OpenMP threads (default: all cores)\n"
        "  -o, --output FILE   the calibrated model, written atomically\n"
        "  --json              one JSON object instead of text\n"
        BNNC_INPUT_SHAPE_USAGE
        "  -h, --help\n");
}

enum { OPT_DATA = 256, OPT_VAL_SPLIT, OPT_X, OPT_Y, OPT_SAMPLES, OPT_BATCH, OPT_SEED, OPT_SCALE,
       OPT_THREADS, OPT_JSON, OPT_PREDICTIVE };

/* The held-out examples: the tail of DIR's training split, or the arrays. */
static int load_heldout(const char *data, double split, double scale, bnnc_examples *xs,
                        const char *ypath, bnn_dataset *ds)
{
    bnn_diag diag = {0};
    if (data) {
        if (bnn_mnist_load(data, BNN_MNIST_TRAIN, (float)scale, 0, ds, &diag) != BNN_OK)
            return bnnc_report(data, &diag);
        int64_t held = (int64_t)llround(split * (double)ds->n);
        if (held < 1 || held >= ds->n) {
            fprintf(stderr, "bnnc calibrate: --val-split %g of %lld examples holds out none or all\n",
                    split, (long long)ds->n);
            return BNNC_EXIT_USAGE;
        }
        int64_t keep = ds->n - held;
        size_t xrow = bnn_tensor_nbytes(&ds->x) / (size_t)ds->n;
        size_t yrow = bnn_tensor_nbytes(&ds->y) / (size_t)ds->n;
        memmove(ds->x.data, (char *)ds->x.data + (size_t)keep * xrow, (size_t)held * xrow);
        memmove(ds->y.data, (char *)ds->y.data + (size_t)keep * yrow, (size_t)held * yrow);
        ds->n = held;
        ds->x.shape.dims[0] = ds->y.shape.dims[0] = held;
        return BNNC_EXIT_OK;
    }
    bnn_tensor x = {0}, y = {0};
    const char *xpath = bnnc_examples_where(xs);
    if (bnnc_examples_read(xs, NULL, 0, &x, NULL) != BNNC_EXIT_OK)
        return BNNC_EXIT_ERROR;
    if (bnn_npy_read_file(ypath, &y, &diag) != BNN_OK) {
        bnn_tensor_free(&x);
        return bnnc_report(ypath, &diag);
    }
    int rc = BNNC_EXIT_OK;
    ds->x = x; /* made the model input's dtype once the model is loaded */
    if (bnn_tensor_convert(&y, BNN_I64, &ds->y, &diag) != BNN_OK)
        rc = bnnc_report(ypath, &diag);
    bnn_tensor_free(&y);
    if (rc != BNNC_EXIT_OK)
        return rc;
    if (ds->x.shape.rank < 1 || ds->y.shape.rank != 1 || ds->x.shape.dims[0] != ds->y.shape.dims[0] ||
        ds->y.shape.dims[0] < 1) {
        fprintf(stderr, "bnnc: %s: expected one integer label per row of %s (%lld rows, %lld labels)\n",
                ypath, xpath, (long long)(ds->x.shape.rank ? ds->x.shape.dims[0] : 0),
                (long long)(ds->y.shape.rank ? ds->y.shape.dims[0] : 0));
        return BNNC_EXIT_ERROR;
    }
    ds->n = ds->x.shape.dims[0];
    return BNNC_EXIT_OK;
}

int bnnc_cmd_calibrate(int argc, char **argv)
{
    static const struct option options[] = {
        {"data", required_argument, NULL, OPT_DATA},
        {"val-split", required_argument, NULL, OPT_VAL_SPLIT},
        {"x", required_argument, NULL, OPT_X},
        {"y", required_argument, NULL, OPT_Y},
        {"samples", required_argument, NULL, OPT_SAMPLES},
        {"batch", required_argument, NULL, OPT_BATCH},
        {"seed", required_argument, NULL, OPT_SEED},
        {"scale", required_argument, NULL, OPT_SCALE},
        {"threads", required_argument, NULL, OPT_THREADS},
        {"json", no_argument, NULL, OPT_JSON},
        {"predictive", required_argument, NULL, OPT_PREDICTIVE},
        BNNC_INPUT_SHAPE_OPTION,
        {"output", required_argument, NULL, 'o'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *data = NULL, *xpath = NULL, *ypath = NULL, *output = NULL;
    double split = 0, scale = 1.0 / 255;
    int64_t samples = 32, batch = 256, seed = 0, threads = 0;
    bool json = false;
    bnn_predictive predictive = BNN_PREDICTIVE_MC;
    static bnnc_examples xs; /* --x: one array, or one per named input */
    memset(&xs, 0, sizeof xs);
    optind = 1;
    for (int c; (c = getopt_long(argc, argv, "o:h", options, NULL)) != -1;) {
        bool ok = true;
        const char *name = NULL;
        switch (c) {
        case 'h': usage(stdout); return BNNC_EXIT_OK;
        case 'o': output = optarg; break;
        case BNNC_OPT_INPUT_SHAPE:
            if (!bnnc_add_input_shape("calibrate", optarg))
                return BNNC_EXIT_USAGE;
            break;
        case OPT_DATA: data = optarg; break;
        case OPT_X:
            if (!bnnc_examples_add(&xs, "calibrate", "--x", optarg))
                return BNNC_EXIT_USAGE;
            xpath = bnnc_examples_where(&xs);
            break;
        case OPT_Y: ypath = optarg; break;
        case OPT_JSON: json = true; break;
        case OPT_PREDICTIVE:
            ok = bnn_predictive_from_name(optarg, &predictive);
            name = "--predictive (mc, moments or glm)";
            break;
        case OPT_VAL_SPLIT:
            ok = bnnc_parse_float(optarg, &split) && split > 0 && split < 1;
            name = "--val-split (a fraction between 0 and 1)";
            break;
        case OPT_SCALE: ok = bnnc_parse_float(optarg, &scale) && scale > 0; name = "--scale"; break;
        case OPT_SAMPLES: ok = bnnc_parse_int(optarg, 1, 100000, &samples); name = "--samples"; break;
        case OPT_BATCH: ok = bnnc_parse_int(optarg, 1, 1 << 20, &batch); name = "--batch"; break;
        case OPT_SEED: ok = bnnc_parse_int(optarg, 0, INT64_MAX, &seed); name = "--seed"; break;
        case OPT_THREADS: ok = bnnc_parse_int(optarg, 0, 1024, &threads); name = "--threads"; break;
        default: return bnnc_usage_error("calibrate", "unknown option");
        }
        if (!ok)
            return bnnc_usage_error("calibrate", "bad value '%s' for %s", optarg, name);
    }
    if (argc - optind != 1)
        return bnnc_usage_error("calibrate", "expected one model file");
    const char *model = argv[optind];
    if (!output)
        return bnnc_usage_error("calibrate", "-o OUT.onnx is required");
    if (!data == !(xpath && ypath) || (!xpath != !ypath))
        return bnnc_usage_error("calibrate", "give either --data DIR --val-split F or both --x and --y");
    if (data && !split)
        return bnnc_usage_error("calibrate", "--data needs --val-split F: the held-out tail of the "
                                "training split (the test split is not for fitting)");
    const char *inputs[2 + BNNC_MAX_EXAMPLE_INPUTS] = {model, ypath};
    for (int i = 0; i < xs.n; i++)
        inputs[2 + i] = xs.path[i];
    if (bnnc_output_is_input("calibrate", output, inputs, 2 + xs.n))
        return BNNC_EXIT_ERROR;

    bnn_dataset ds = {0};
    int rc = load_heldout(data, split, scale, &xs, ypath, &ds);
    if (rc != BNNC_EXIT_OK) {
        bnn_dataset_free(&ds); /* whatever a failed load had already read */
        return rc;
    }
    const char *where = data ? data : xpath;
    bnn_graph *graph = bnnc_load_model(model);
    bnn_diag diag = {0};
    bnnc_calibration cal = {0};
    rc = BNNC_EXIT_ERROR;
    if (!graph)
        goto done;
    bnnc_note_fixed_batch(model, ds.n < batch ? ds.n : batch);
    if (!data && (rc = bnnc_examples_bind(&xs, graph, model, NULL)) != BNNC_EXIT_OK)
        goto done; /* several inputs are packed into one (tools/examples.h) */
    rc = BNNC_EXIT_ERROR;
    if (!(data ? bnnc_match_input_dtype(graph, &ds.x, where) : bnnc_examples_fit(&xs, graph, &ds.x)) ||
        !bnnc_bind_input_dims(graph, &ds.x, where))
        goto done;
    bnn_runtime_set_threads((int)threads);
    if (bnnc_calibrate_temperature(graph, &ds.x, ds.y.data, samples, batch, (uint64_t)seed,
                                   (int)threads, (int)predictive, &cal, &diag) != BNN_OK) {
        rc = bnnc_report(where, &diag);
        goto done;
    }
    if (bnnc_examples_export(&xs, graph, output, &diag) != BNN_OK) {
        rc = bnnc_report(output, &diag);
        goto done;
    }
    if (json)
        printf("{\"temperature\": %.6g, \"previous_temperature\": %.6g, \"nll_before\": %.6f, "
               "\"nll_after\": %.6f, \"samples\": %lld, \"examples\": %lld}\n", cal.temperature,
               cal.previous_temperature, cal.nll_before, cal.nll_after, (long long)cal.samples,
               (long long)cal.examples);
    else
        printf("temperature %.4g (was %.4g): held-out NLL %.4f -> %.4f over %lld examples, "
               "%lld samples\n", cal.temperature, cal.previous_temperature, cal.nll_before,
               cal.nll_after, (long long)cal.examples, (long long)cal.samples);
    rc = BNNC_EXIT_OK;
done:
    bnn_graph_destroy(graph);
    bnn_dataset_free(&ds);
    return rc;
}
