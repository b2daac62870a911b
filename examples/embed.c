/* embed: bnnc used as a library, through <bnnc/bnnc.h> only.
 *
 *     cc embed.c $(pkg-config --cflags --libs bnnc) -o embed
 *     ./embed MODEL.onnx INPUT.npy [SAMPLES [MNIST_DIR [ROWS]]]
 *
 * Loads an ONNX classifier, runs it once on a batch read from a .npy file and
 * prints each row's outputs and top class; then converts its Dense and Conv
 * layers into Bayesian ones (the to-bnn pass, posterior means kept at the
 * trained weights).  Given MNIST_DIR (examples/mnist holds a sample), it
 * trains the converted model one epoch on the first ROWS (default: all)
 * training examples there, with Bayes by Backprop.  Last it prints the
 * Monte-Carlo predictive over SAMPLES weight draws (default 8), with each
 * row's uncertainty.  docs/api.md walks through it; tests/install builds it
 * against an installed bnnc and checks what it prints.
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

/* Rows [first, first + count) of t, as a view (no copy, not owned). */
static bnn_tensor rows_view(const bnn_tensor *t, int64_t first, int64_t count)
{
    bnn_tensor v = *t;
    v.owns_data = false;
    v.shape.dims[0] = count;
    v.data = (char *)t->data + (size_t)first * (bnn_tensor_nbytes(t) / (size_t)t->shape.dims[0]);
    return v;
}

/* One epoch of Bayes by Backprop on the first `rows` MNIST training examples
 * in dir (all when rows < 0): Adam, batches of 64, the KL weighted 1/N. */
static int train_epoch(bnn_graph *graph, const char *dir, int64_t rows)
{
    bnn_diag diag = {0};
    bnn_dataset data = {0}; /* owned: bnn_dataset_free */
    if (bnn_mnist_load_rows(dir, BNN_MNIST_TRAIN, 1.0f / 255, 0, 0, rows, &data, NULL, &diag) != BNN_OK)
        return fail(dir, &diag);
    if (data.n < 1) {
        bnn_dataset_free(&data);
        fprintf(stderr, "embed: %s: no training examples\n", dir);
        return 1;
    }
    bnn_graph_mark_layer_params_trainable(graph);
    bnn_train_options options = bnn_train_defaults(); /* Adam, cross-entropy, batch 64 */
    options.bnn_factor = 1.0 / (double)data.n;         /* the KL once per epoch */
    options.threads = 1;
    bnn_trainer *trainer = NULL;
    int status = 0;
    if (bnn_trainer_create(graph, &options, &trainer, &diag) != BNN_OK) {
        status = fail("trainer", &diag);
    } else {
        double data_loss = 0, kl = 0;
        int64_t correct = 0, seen = 0;
        for (int64_t first = 0; first < data.n && status == 0; first += options.batch) {
            int64_t count = data.n - first < options.batch ? data.n - first : options.batch;
            bnn_tensor x = rows_view(&data.x, first, count), y = rows_view(&data.y, first, count);
            bnn_step_result step;
            if (bnn_trainer_step(trainer, &x, &y, &step, &diag) != BNN_OK) {
                status = fail("training step", &diag);
                break;
            }
            data_loss += step.data_loss * (double)step.count;
            kl = step.kl;
            correct += step.correct;
            seen += step.count;
        }
        if (status == 0)
            printf("trained 1 epoch on %lld examples: cross-entropy %.4f  KL %.1f  accuracy %.4f\n",
                   (long long)seen, data_loss / (double)seen, kl, (double)correct / (double)seen);
    }
    bnn_trainer_destroy(trainer);
    bnn_dataset_free(&data);
    return status;
}

/* Converts the graph in place, trains it when mnist is given, and prints the
 * Monte-Carlo predictive. */
static int run_bayesian(bnn_graph *graph, const bnn_tensor *x, int64_t samples, const char *mnist,
                        int64_t rows, const char *model)
{
    bnn_diag diag = {0};
    if (bnn_passes_run_text("to-bnn{layers=all},dce", graph, &diag) != BNN_OK)
        return fail(model, &diag);
    int layers = 0;
    for (int i = 0; i < graph->n_nodes; i++)
        if (!graph->nodes[i].dead && bnn_op_is_bayesian(graph->nodes[i].op))
            layers++;
    printf("to-bnn: %d Bayesian layers\n", layers);
    if (mnist && train_epoch(graph, mnist, rows) != 0)
        return 1;

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
    if (argc < 3 || argc > 6) {
        fprintf(stderr, "usage: embed MODEL.onnx INPUT.npy [SAMPLES [MNIST_DIR [ROWS]]]\n");
        return 2;
    }
    int64_t samples = argc >= 4 ? strtoll(argv[3], NULL, 10) : 8;
    if (samples < 1) {
        fprintf(stderr, "embed: SAMPLES must be a positive integer, not '%s'\n", argv[3]);
        return 2;
    }
    const char *mnist = argc >= 5 ? argv[4] : NULL;
    int64_t rows = argc >= 6 ? strtoll(argv[5], NULL, 10) : -1;
    if (argc >= 6 && rows < 1) {
        fprintf(stderr, "embed: ROWS must be a positive integer, not '%s'\n", argv[5]);
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
        status = run_bayesian(graph, &x, samples, mnist, rows, argv[1]);
    bnn_tensor_free(&x);
    bnn_graph_destroy(graph);
    return status;
}
