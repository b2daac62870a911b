/* embed: bnnc used as a library, through <bnnc/bnnc.h> only.
 *
 *     cc embed.c $(pkg-config --cflags --libs bnnc) -o embed
 *     ./embed MODEL.onnx INPUT.npy [SAMPLES]
 *
 * Loads an ONNX classifier, runs it once on a batch read from a .npy file and
 * prints each row's outputs and top class; then converts its Dense and Conv
 * layers into Bayesian ones (the to-bnn pass, posterior means kept at the
 * trained weights) and prints the Monte-Carlo predictive over SAMPLES weight
 * draws (default 8), with each row's uncertainty.  docs/api.md walks through
 * it; tests/install builds it against an installed bnnc and checks what it
 * prints.
 */
#include <bnnc/bnnc.h>

#include <stdio.h>
#include <stdlib.h>

/* Prints the failure and returns the exit status, for `return fail(...)`. */
static int fail(const char *what, const bnn_diag *diag)
{
    fprintf(stderr, "embed: %s: %s\n", what, diag->message);
    return 1;
}

static int64_t argmax(const float *row, int64_t k)
{
    int64_t best = 0;
    for (int64_t j = 1; j < k; j++)
        if (row[j] > row[best])
            best = j;
    return best;
}

/* One plain run through a session: the session API in full. */
static int run_once(const bnn_graph *graph, const bnn_tensor *x, const char *model)
{
    bnn_diag diag = {0};
    bnn_session_options options = bnn_session_defaults();
    options.threads = 1; /* small batches: threads would only cost */
    bnn_session *session = NULL;
    if (bnn_session_create_batch(graph, x->shape.dims[0], &options, &session, &diag) != BNN_OK)
        return fail(model, &diag);
    int status = 0;
    if (bnn_session_set_input(session, NULL, x, &diag) != BNN_OK ||
        bnn_session_run(session, &diag) != BNN_OK) {
        status = fail(model, &diag);
    } else {
        const bnn_tensor *y = bnn_session_output(session, 0);
        char type[64];
        printf("output '%s': %s\n", bnn_session_output_name(session, 0),
               bnn_shape_format(&y->shape, y->dtype, type, sizeof type));
        if (y->dtype == BNN_F32 && y->shape.rank == 2) {
            int64_t n = y->shape.dims[0], k = y->shape.dims[1];
            const float *v = y->data;
            for (int64_t i = 0; i < n; i++) {
                printf("row %lld: class %lld  outputs", (long long)i,
                       (long long)argmax(v + i * k, k));
                for (int64_t j = 0; j < k; j++)
                    printf(" %.4f", v[i * k + j]);
                printf("\n");
            }
        }
    }
    bnn_session_destroy(session);
    return status;
}

/* Converts the graph in place and prints the Monte-Carlo predictive. */
static int run_bayesian(bnn_graph *graph, const bnn_tensor *x, int64_t samples,
                        const char *model)
{
    bnn_diag diag = {0};
    if (bnn_passes_run_text("to-bnn{layers=all},dce", graph, &diag) != BNN_OK)
        return fail(model, &diag);
    int layers = 0;
    for (int i = 0; i < graph->n_nodes; i++)
        if (!graph->nodes[i].dead && bnn_op_is_bayesian(graph->nodes[i].op))
            layers++;
    printf("to-bnn: %d Bayesian layers\n", layers);

    bnn_predict_options options = bnn_predict_defaults();
    options.samples = samples;
    options.seed = 1;
    options.threads = 1;
    int64_t s = 0, k = 0;
    /* First call: how many samples (1 for a model with no Bayesian layer) and
     * classes, so the caller can allocate. */
    if (bnn_predict_classes(graph, x, &options, NULL, &s, &k, &diag) != BNN_OK)
        return fail(model, &diag);
    int64_t n = x->shape.dims[0];
    float *probs = malloc(sizeof(float) * (size_t)(s * n * k));
    float *mean = malloc(sizeof(float) * (size_t)(n * k));
    float *total = malloc(sizeof(float) * (size_t)n);
    float *aleatoric = malloc(sizeof(float) * (size_t)n);
    float *epistemic = malloc(sizeof(float) * (size_t)n);
    int status = 0;
    if (!probs || !mean || !total || !aleatoric || !epistemic) {
        fprintf(stderr, "embed: out of memory\n");
        status = 1;
    } else if (bnn_predict_classes(graph, x, &options, probs, &s, &k, &diag) != BNN_OK) {
        status = fail(model, &diag);
    } else {
        bnn_predictive_stats(probs, s, n, k, mean, total, aleatoric, epistemic);
        printf("predictive over %lld samples:\n", (long long)s);
        for (int64_t i = 0; i < n; i++) {
            int64_t c = argmax(mean + i * k, k);
            printf("row %lld: class %lld  p %.3f  entropy %.4f  mutual information %.4f\n",
                   (long long)i, (long long)c, mean[i * k + c], total[i], epistemic[i]);
        }
    }
    free(probs);
    free(mean);
    free(total);
    free(aleatoric);
    free(epistemic);
    return status;
}

int main(int argc, char **argv)
{
    if (argc < 3 || argc > 4) {
        fprintf(stderr, "usage: embed MODEL.onnx INPUT.npy [SAMPLES]\n");
        return 2;
    }
    int64_t samples = argc == 4 ? strtoll(argv[3], NULL, 10) : 8;
    if (samples < 1) {
        fprintf(stderr, "embed: SAMPLES must be a positive integer, not '%s'\n", argv[3]);
        return 2;
    }
    printf("bnnc %s (compiled against %s)\n", bnn_version(), BNNC_VERSION_STRING);

    bnn_diag diag = {0};
    bnn_graph *graph = NULL; /* owned: bnn_graph_destroy */
    if (bnn_onnx_import_file(argv[1], NULL, &graph, &diag) != BNN_OK)
        return fail(argv[1], &diag);
    bnn_tensor x = {0}; /* owned: bnn_tensor_free */
    if (bnn_npy_read_file(argv[2], &x, &diag) != BNN_OK) {
        bnn_graph_destroy(graph);
        return fail(argv[2], &diag);
    }
    int status = x.shape.rank >= 1 ? run_once(graph, &x, argv[1]) : 1;
    if (x.shape.rank < 1)
        fprintf(stderr, "embed: %s: need a batch of rows, got a scalar\n", argv[2]);
    if (status == 0)
        status = run_bayesian(graph, &x, samples, argv[1]);
    bnn_tensor_free(&x);
    bnn_graph_destroy(graph);
    return status;
}
