/* bnnc train: fit a model's trainable parameters (Bayes by Backprop for the
 * Bayesian layers) on MNIST IDX files or .npy arrays. */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <libgen.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "bnn_comm.h"
#include "bnn_metrics.h"
#include "bnn_npy.h"
#include "bnn_onnx.h"
#include "bnn_passes.h"
#include "bnn_predict.h"
#include "bnn_runtime.h"
#include "bnn_data.h"
#include "bnn_file.h"
#include "bnn_train.h"
#include "calibrate.h"
#include "cli.h"
#include "examples.h"
#include "train_state.h"

static void usage(FILE *out)
{
    fprintf(out,
        "usage: bnnc train MODEL.onnx (--data DIR | --train-x X.npy --train-y Y.npy) -o OUT.onnx\n"
        "                  [options]\n\n"
        "Trains every trainable parameter of MODEL: the mu and rho of Bayesian layers by\n"
        "Bayes by Backprop, the weights of a plain model by ordinary fine-tuning.  Minimises\n"
        "  dnn_factor * data_loss + bnn_factor * KL\n"
        "with data_loss the batch mean of the cross-entropy (or squared error) and KL the\n"
        "closed-form divergence from the prior, SUMMED over every weight and bias of every\n"
        "Bayesian layer (not averaged).\n\n"
        "data:\n"
        "  --data DIR            MNIST IDX files (train-*/t10k-*, plain or .gz); the t10k\n"
        "                        split validates unless --val-split is given\n"
        "  --train-x F --train-y F   .npy arrays (x f32 [n,...]; y i64 labels [n] or f32)\n"
        "  --train-x NAME=F      a model with several inputs: one array per input, each\n"
        "                        named (--train-x ids=I.npy --train-x mask=M.npy)\n"
        "  --val-x F --val-y F   validation arrays (--val-x NAME=F as --train-x)\n"
        "  --val-split F         hold out the last fraction F of the training examples\n"
        "  --limit K             train on the first K examples only\n"
        "  --scale F             IDX pixel scale (default 1/255, giving [0,1])\n"
        "training:\n"
        "  --epochs E            (default 1)      --batch B            (default 64)\n"
        "  --optimizer adam|adamw|sgd (adam)      --lr F               (default 0.001)\n"
        "  --lr-milestones E[,E...]  multiply the lr by --lr-gamma after each of these\n"
        "                        epochs (as PyTorch's MultiStepLR; default: constant lr)\n"
        "  --lr-gamma F          (default 0.1)\n"
        "  --momentum F (sgd, 0.9)  --beta1 F (0.9)  --beta2 F (0.999)  --eps F (1e-8)\n"
        "  --weight-decay F      (0; adamw 0.01)\n"
        "  --rho-lr-scale F      the lr of Bayesian layers' rho params, times F (default 1)\n"
        "  --loss ce|mse|bce|gaussian  (default ce: softmax cross-entropy on integer\n"
        "                        labels; bce: binary cross-entropy of a [batch, 1] or\n"
        "                        [batch] probability (a final sigmoid's logits are used)\n"
        "                        against targets in [0, 1], one per example; gaussian: a\n"
        "                        regressor's Gaussian likelihood with a learned noise scale\n"
        "                        per output, kept in the model as bnnc.noise_log_sigma)\n"
        "  --noise-sigma F       gaussian: the noise scale to start from (default: the\n"
        "                        model's own, else the RMS residual of each output on the\n"
        "                        first batch of training examples; 1 under mpirun)\n"
        "  --dnn-factor F        (default 1)\n"
        "  --bnn-factor F        (default 1/N, N = training examples)\n"
        "  --kl-scale F          bnn_factor = F/N (default 1): the KL's weight, a\n"
        "                        posterior temperature\n"
        "  --prior-sigma F       set every Bayesian layer's prior standard deviation to F\n"
        "                        (its prior mean stays; default: the model's)\n"
        "  --select              with held-out data (--val-split or --val-x): train once\n"
        "                        per --kl-scale 1, 0.3, 0.1 and --prior-sigma 0.1, 0.3, 1\n"
        "                        (9 runs), keep the run whose calibrated held-out NLL\n"
        "                        is lowest, print the table (docs/uncertainty.md)\n"
        "  --samples S           weight samples for validation accuracy (default 10)\n"
        "  --seed N              shuffling and weight samples (default 0)\n"
        "  --threads N           OpenBLAS/OpenMP threads (default: all cores)\n"
        "output:\n"
        "  -o, --output FILE     the trained model (ONNX), written atomically\n"
        "  --checkpoint DIR      after each epoch (and when stopped by SIGINT or SIGTERM)\n"
        "                        write DIR/model.onnx and DIR/state.bin\n"
        "  --resume DIR          continue from a checkpoint: same result, bit for bit, as\n"
        "                        an uninterrupted run with the same options\n"
        "  --json                one JSON object per epoch instead of text lines\n"
        "  --no-calibrate        with held-out validation data (--val-split or --val-x),\n"
        "                        training ends by fitting the predictive's temperature on\n"
        "                        it (as bnnc calibrate, --samples weight samples); this\n"
        "                        skips that\n"
        "Under `mpirun -np K` the K ranks train one model data-parallel: --batch is the\n"
        "global batch, each rank runs its share of every batch, rank 0 alone prints and\n"
        "writes (docs/distributed.md).  The KL pass and the optimizer's update are\n"
        "split among the ranks (ZeRO-1: reduce-scatter, all-gather);\n"
        "--no-shard-update has every rank do them whole after an all-reduce.\n"
        BNNC_INPUT_SHAPE_USAGE
        "  -h, --help\n\n"
        "exit status: 0 trained and written; 1 an error (nothing half-written: the output\n"
        "and the checkpoint are each the previous file or the new one); 2 a usage error;\n"
        "130 and 143 stopped by SIGINT or SIGTERM: the step under way is finished and,\n"
        "with --checkpoint, a checkpoint written there (mid-epoch too) from which\n"
        "--resume continues to the uninterrupted run's result; no output model.\n"
        "A second signal ends the process at once (the last checkpoint stays whole).\n"
        "Under mpirun every rank stops after the same step, whichever rank the signal\n"
        "reached; mpirun itself exits 1 when it was signalled.\n");
}

enum {
    OPT_DATA = 256, OPT_TRAIN_X, OPT_TRAIN_Y, OPT_VAL_X, OPT_VAL_Y, OPT_VAL_SPLIT, OPT_LIMIT,
    OPT_SCALE, OPT_EPOCHS, OPT_BATCH, OPT_OPTIMIZER, OPT_LR, OPT_MOMENTUM, OPT_BETA1,
    OPT_BETA2, OPT_EPS, OPT_WD, OPT_RHO_LR, OPT_LOSS, OPT_DNN, OPT_BNN, OPT_SAMPLES, OPT_SEED,
    OPT_THREADS, OPT_CHECKPOINT, OPT_RESUME, OPT_JSON, OPT_LR_MILESTONES, OPT_LR_GAMMA,
    OPT_NO_CALIBRATE, OPT_SHARD_UPDATE, OPT_NO_SHARD_UPDATE, OPT_NOISE_SIGMA, OPT_KL_SCALE,
    OPT_PRIOR_SIGMA, OPT_SELECT,
};

typedef struct train_args {
    const char *model, *output, *data, *train_x, *train_y, *val_x, *val_y;
    const char *checkpoint, *resume;
    double val_split, scale, dnn_factor, bnn_factor, noise_sigma, kl_scale, prior_sigma;
    int64_t limit, epochs, batch, samples, seed, threads;
    bool json, bnn_factor_set, no_calibrate, select;
    bnn_train_options train;
    bnn_lr_schedule schedule;
    bnnc_examples tx, vx; /* --train-x and --val-x: one array, or one per named input */
} train_args;

static double now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* SIGINT or SIGTERM, once caught: the training loop checks it between steps,
 * so the step under way finishes and a checkpoint can be written. */
static volatile sig_atomic_t stop_signal;

static void on_stop_signal(int sig)
{
    stop_signal = sig;
}

/* SA_RESETHAND: a second signal finds the default action and ends the
 * process at once (the checkpoint pair on disk is always a whole one).  Not
 * under a launcher: a batch system may signal the ranks and mpirun both, and
 * mpirun, which turns its own SIGINT or SIGTERM into a SIGTERM to every rank,
 * ends a rank that outstays it (odls_base_sigkill_timeout, 1 s) with SIGKILL
 * itself. */
static void catch_stop_signals(bool launched)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_stop_signal;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESTART | (launched ? 0 : SA_RESETHAND);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
}

/* A test hook (tests/dist/dist.sh): BNNC_TEST_SIGNAL="RANK STEP SIG" makes
 * rank RANK raise signal SIG on itself just before the trainer's step STEP
 * (counted from 0 over the whole run), so that the stop is at a known step
 * and on one rank only.  Unset, nothing. */
static int64_t test_signal_step = -1;
static int test_signal;

static void test_signal_hook(int rank)
{
    const char *spec = getenv("BNNC_TEST_SIGNAL");
    int r, sig;
    long long step;
    if (spec && sscanf(spec, "%d %lld %d", &r, &step, &sig) == 3 && r == rank && step >= 0 &&
        (sig == SIGINT || sig == SIGTERM)) {
        test_signal_step = step;
        test_signal = sig;
    }
}

static const char *signal_name(int sig)
{
    return sig == SIGINT ? "SIGINT" : sig == SIGTERM ? "SIGTERM" : "a signal";
}

/* Where training stopped, for the message: "after epoch 2", "in epoch 3
 * after step 17", "before the first step". */
static const char *stop_place(int64_t epochs_done, int64_t steps, char *buf, size_t size)
{
    if (steps > 0)
        snprintf(buf, size, "in epoch %lld after step %lld", (long long)epochs_done + 1,
                 (long long)steps);
    else if (epochs_done > 0)
        snprintf(buf, size, "after epoch %lld", (long long)epochs_done);
    else
        snprintf(buf, size, "before the first step");
    return buf;
}

/* Labels for cross-entropy given as floats must be whole class numbers: the
 * conversion to i64 would make 2.5 class 2 and NaN class 0 unseen. */
static int check_float_labels(const bnn_tensor *y, const char *path)
{
    if (y->dtype != BNN_F32 && y->dtype != BNN_F64)
        return BNNC_EXIT_OK;
    int64_t n = bnn_tensor_numel(y);
    for (int64_t i = 0; i < n; i++) {
        double v = y->dtype == BNN_F32 ? ((const float *)y->data)[i] : ((const double *)y->data)[i];
        if (!isfinite(v) || v != floor(v)) {
            fprintf(stderr, "bnnc: %s: label of example %lld is %g, not a class number "
                    "(cross-entropy needs integer labels)\n", path, (long long)i, v);
            return BNNC_EXIT_ERROR;
        }
    }
    return BNNC_EXIT_OK;
}

/* Loads a pair of .npy arrays as a data set; labels become i64. */
/* With rows (not NULL), only examples rows[0..count) (ascending), and *total
 * gets the files' example count: a data-parallel rank's share. */
static int load_npy_pair(bnnc_examples *xs, const char *ypath, bnn_loss_kind loss,
                         const int64_t *rows, int64_t count, bnn_dataset *ds, int64_t *total)
{
    bnn_diag diag;
    bnn_tensor x, y;
    int64_t nx = 0, ny = 0;
    const char *xpath = bnnc_examples_where(xs);
    if (bnnc_examples_read(xs, rows, count, &x, &nx) != BNNC_EXIT_OK)
        return BNNC_EXIT_ERROR;
    if ((rows ? bnn_npy_read_row_list(ypath, rows, count, &y, &ny, &diag)
              : bnn_npy_read_file(ypath, &y, &diag)) != BNN_OK) {
        bnn_tensor_free(&x);
        return bnnc_report(ypath, &diag);
    }
    if (rows && nx != ny) {
        fprintf(stderr, "bnnc: %s: %lld examples but %s has %lld\n", xpath, (long long)nx,
                ypath, (long long)ny);
        bnn_tensor_free(&x);
        bnn_tensor_free(&y);
        return BNNC_EXIT_ERROR;
    }
    if (total)
        *total = nx;
    if (loss == BNN_LOSS_CROSS_ENTROPY && check_float_labels(&y, ypath) != BNNC_EXIT_OK) {
        bnn_tensor_free(&x);
        bnn_tensor_free(&y);
        return BNNC_EXIT_ERROR;
    }
    /* x keeps its type until check_data makes it the model input's (token
     * ids stay integers) */
    bnn_dtype ytype = loss == BNN_LOSS_CROSS_ENTROPY ? BNN_I64 : BNN_F32;
    if (bnn_tensor_convert(&y, ytype, &ds->y, &diag) != BNN_OK) {
        bnn_tensor_free(&x);
        bnn_tensor_free(&y);
        bnn_dataset_free(ds);
        return bnnc_report(ypath, &diag);
    }
    ds->x = x;
    bnn_tensor_free(&y);
    if (ds->x.shape.rank < 1 || ds->y.shape.rank < 1 || ds->x.shape.dims[0] != ds->y.shape.dims[0]) {
        fprintf(stderr, "bnnc: %s: %lld examples but %s has %lld\n", xpath,
                (long long)(ds->x.shape.rank ? ds->x.shape.dims[0] : 0), ypath,
                (long long)(ds->y.shape.rank ? ds->y.shape.dims[0] : 0));
        bnn_dataset_free(ds);
        return BNNC_EXIT_ERROR;
    }
    ds->n = ds->x.shape.dims[0];
    return BNNC_EXIT_OK;
}

/* Moves the last `count` examples of ds into a new data set. */
static bnn_status split_tail(bnn_dataset *ds, int64_t count, bnn_dataset *tail, bnn_diag *diag)
{
    memset(tail, 0, sizeof *tail);
    bnn_shape xs = ds->x.shape, ys = ds->y.shape;
    xs.dims[0] = ys.dims[0] = count;
    BNN_TRY(bnn_tensor_alloc(&tail->x, ds->x.dtype, &xs, diag));
    BNN_TRY(bnn_tensor_alloc(&tail->y, ds->y.dtype, &ys, diag));
    size_t xrow = bnn_tensor_nbytes(&ds->x) / (size_t)ds->n;
    size_t yrow = bnn_tensor_nbytes(&ds->y) / (size_t)ds->n;
    int64_t keep = ds->n - count;
    memcpy(tail->x.data, (char *)ds->x.data + (size_t)keep * xrow, (size_t)count * xrow);
    memcpy(tail->y.data, (char *)ds->y.data + (size_t)keep * yrow, (size_t)count * yrow);
    tail->n = count;
    ds->n = keep;
    ds->x.shape.dims[0] = ds->y.shape.dims[0] = keep;
    return BNN_OK;
}

/* How many of val's examples the mean prediction over `samples` weight
 * samples gets right (binary cross-entropy's f32 targets: class 1 at >= 1/2). */
static bnn_status count_right(const bnn_graph *graph, const bnn_dataset *val, const train_args *a,
                              double *right, bnn_diag *diag)
{
    bnn_predict_options po = bnn_predict_defaults();
    po.samples = a->samples;
    po.batch = a->batch;
    po.seed = (uint64_t)a->seed;
    po.threads = (int)a->threads;
    int64_t samples, k;
    BNN_TRY(bnn_predict_classes(graph, &val->x, &po, NULL, &samples, &k, diag));
    float *probs = malloc(sizeof(float) * (size_t)(samples * val->n * k));
    float *mean = malloc(sizeof(float) * (size_t)(val->n * k));
    bool targets = val->y.dtype == BNN_F32;
    int64_t *labels = targets ? malloc(sizeof(int64_t) * (size_t)val->n + 1) : NULL;
    bnn_status st = probs && mean && (labels || !targets)
                        ? BNN_OK : bnn_fail(diag, BNN_ERR_NOMEM, "out of memory");
    for (int64_t i = 0; st == BNN_OK && targets && i < val->n; i++)
        labels[i] = ((const float *)val->y.data)[i] >= 0.5f;
    if (st == BNN_OK)
        st = bnn_predict_classes(graph, &val->x, &po, probs, &samples, &k, diag);
    if (st == BNN_OK) {
        bnn_predictive_stats(probs, samples, val->n, k, mean, NULL, NULL, NULL);
        *right = (double)llround(bnn_accuracy(mean, targets ? labels : val->y.data, val->n, k) *
                                 (double)val->n);
    }
    free(labels);
    free(probs);
    free(mean);
    return st;
}

/* Accuracy on the validation set of n examples, of which val holds this
 * rank's (all of them alone).  Each rank counts its right answers and the
 * counts are summed; the ranks hold whole batches, so they run the batches one
 * process runs and the number is the same. */
static bnn_status validate(const bnn_graph *graph, const bnn_dataset *val, int64_t n,
                           const train_args *a, bnn_comm *comm, double *accuracy, bnn_diag *diag)
{
    double right = 0;
    if (val->n > 0)
        BNN_TRY(count_right(graph, val, a, &right, diag));
    BNN_TRY(bnn_comm_allreduce_f64(comm, &right, 1, diag));
    *accuracy = right / (double)n;
    return BNN_OK;
}

/* True (after a message naming the file and the example) when the f32
 * tensor t of n examples holds a NaN or an infinity. */
static bool first_nonfinite(const bnn_tensor *t, int64_t n, const char *path, const char *what,
                            const char *kind)
{
    if (t->dtype != BNN_F32 || n <= 0)
        return false;
    int64_t total = bnn_tensor_numel(t), per = total / n;
    const float *v = t->data;
    for (int64_t i = 0; i < total; i++)
        if (!isfinite(v[i])) {
            fprintf(stderr, "bnnc: %s: %s %s: example %lld holds %s (value %lld of %lld)\n",
                    path, what, kind, (long long)(i / per), isnan(v[i]) ? "NaN" : "an infinity",
                    (long long)(i % per), (long long)per);
            return true;
        }
    return false;
}

/* Checks a data set against the model before training starts, so a wrong
 * shape is reported once, naming the file, rather than at the first step:
 * x must be [n, ...the model input's dims after the batch] (made the input's
 * dtype here: floats for images, whole numbers for token ids), and labels i64 [n]
 * in [0, classes) for cross-entropy, or targets of the output's per-example
 * size for mean squared error. */
static int check_data(const bnn_graph *graph, bnn_dataset *ds, const bnnc_examples *ex,
                      const char *what, const char *xname, const char *yname, bnn_loss_kind loss)
{
    const bnn_value *in = &graph->values[graph->inputs[0]];
    const bnn_value *out = &graph->values[graph->outputs[0]];
    char want[256], got[256];
    if (ds->n == 0) {
        fprintf(stderr, "bnnc: %s: no %s examples\n", xname, what);
        return BNNC_EXIT_ERROR;
    }
    bool fits = in->shape.rank == ds->x.shape.rank && in->shape.rank >= 1;
    for (int d = 1; fits && d < in->shape.rank; d++)
        fits = !bnn_dim_is_known(in->shape.dims[d]) || in->shape.dims[d] == ds->x.shape.dims[d];
    if (!fits) {
        /* One example's shape on each side: the batch dim is not the question. */
        bnn_shape xe = {.rank = ds->x.shape.rank > 0 ? ds->x.shape.rank - 1 : 0};
        bnn_shape ie = {.rank = in->shape.rank > 0 ? in->shape.rank - 1 : 0};
        for (int d = 0; d < xe.rank; d++)
            xe.dims[d] = ds->x.shape.dims[d + 1];
        for (int d = 0; d < ie.rank; d++)
            ie.dims[d] = in->shape.dims[d + 1];
        fprintf(stderr, "bnnc: %s: %s examples are %s each, but the model's input '%s' takes "
                "%s per example\n", xname, what, bnn_shape_format(&xe, ds->x.dtype, got, sizeof got),
                in->name, bnn_shape_format(&ie, in->dtype, want, sizeof want));
        return BNNC_EXIT_ERROR;
    }
    if (!(ex ? bnnc_examples_fit(ex, graph, &ds->x) : bnnc_match_input_dtype(graph, &ds->x, xname)))
        return BNNC_EXIT_ERROR;
    /* One NaN or Inf (a float64 too large for f32 included) would make every
     * parameter NaN at the first step: refuse it now, naming the example. */
    if (first_nonfinite(&ds->x, ds->n, xname, what, "examples") ||
        (loss != BNN_LOSS_CROSS_ENTROPY && first_nonfinite(&ds->y, ds->n, yname, what, "targets")))
        return BNNC_EXIT_ERROR;
    if (loss == BNN_LOSS_CROSS_ENTROPY) {
        int64_t k = out->shape.rank == 2 && bnn_dim_is_known(out->shape.dims[1])
                        ? out->shape.dims[1] : -1;
        if (k < 0) {
            fprintf(stderr, "bnnc: the model's output '%s' is %s; cross-entropy needs "
                    "[batch, classes] (use --loss mse for other outputs)\n", out->name,
                    bnn_shape_format(&out->shape, out->dtype, want, sizeof want));
            return BNNC_EXIT_ERROR;
        }
        if (ds->y.shape.rank != 1) {
            fprintf(stderr, "bnnc: %s: %s labels are %s; cross-entropy needs one integer "
                    "class per example, i64[%lld]\n", yname, what,
                    bnn_shape_format(&ds->y.shape, ds->y.dtype, got, sizeof got),
                    (long long)ds->n);
            return BNNC_EXIT_ERROR;
        }
        const int64_t *labels = ds->y.data;
        for (int64_t i = 0; i < ds->n; i++)
            if (labels[i] < 0 || labels[i] >= k) {
                fprintf(stderr, "bnnc: %s: label %lld of example %lld is outside the model's "
                        "%lld classes [0, %lld)\n", yname, (long long)labels[i], (long long)i,
                        (long long)k, (long long)k);
                return BNNC_EXIT_ERROR;
            }
    } else {
        int producer = out->producer;
        bnn_op op = producer >= 0 ? graph->nodes[producer].op : BNN_OP_NONE;
        if (loss == BNN_LOSS_GAUSSIAN &&
            (op == BNN_OP_SOFTMAX || op == BNN_OP_LOG_SOFTMAX || op == BNN_OP_SIGMOID)) {
            fprintf(stderr, "bnnc: the model's output '%s' comes out of a %s: a classifier's "
                    "probabilities, not a regressor's real values (--loss gaussian is for "
                    "regressors; use --loss %s)\n", out->name,
                    op == BNN_OP_SIGMOID ? "Sigmoid" : op == BNN_OP_SOFTMAX ? "Softmax"
                                                                            : "LogSoftmax",
                    op == BNN_OP_SIGMOID ? "bce" : "ce");
            return BNNC_EXIT_ERROR;
        }
        if (loss == BNN_LOSS_BCE) {
            bnn_shape one = out->shape;
            if (one.rank > 0)
                one.dims[0] = 1;
            if (one.rank < 1 || one.rank > 2 || bnn_shape_numel(&one) != 1) {
                fprintf(stderr, "bnnc: the model's output '%s' is %s; --loss bce needs one "
                        "probability per example, [batch, 1] or [batch]\n", out->name,
                        bnn_shape_format(&out->shape, out->dtype, want, sizeof want));
                return BNNC_EXIT_ERROR;
            }
            const float *t = ds->y.data;
            for (int64_t i = 0; i < bnn_tensor_numel(&ds->y); i++)
                if (!(t[i] >= 0 && t[i] <= 1)) {
                    fprintf(stderr, "bnnc: %s: %s target %g of example %lld is not in [0, 1] "
                            "(binary cross-entropy wants 0/1 labels or probabilities)\n",
                            yname, what, (double)t[i], (long long)i);
                    return BNNC_EXIT_ERROR;
                }
        }
        bnn_shape one = out->shape; /* one example's worth of the output */
        if (one.rank > 0)
            one.dims[0] = 1;
        int64_t per = bnn_shape_numel(&one);
        int64_t have = ds->n ? bnn_tensor_numel(&ds->y) / ds->n : 0;
        if (per < 0 || have != per) {
            fprintf(stderr, "bnnc: %s: %s targets have %lld values per example, the model's "
                    "output '%s' %s has %lld\n", yname, what, (long long)have, out->name,
                    bnn_shape_format(&out->shape, out->dtype, want, sizeof want),
                    (long long)per);
            return BNNC_EXIT_ERROR;
        }
    }
    return BNNC_EXIT_OK;
}

static void progress_bar(int64_t done, int64_t total, double seconds, double running_loss)
{
    int width = 30, filled = total ? (int)(width * done / total) : width;
    fprintf(stdout, "\r  [%.*s%*s] %lld/%lld  %.0f ex/s  loss %.4f ", filled,
            "##############################", width - filled, "", (long long)done,
            (long long)total, seconds > 0 ? (double)done / seconds : 0.0, running_loss);
    fflush(stdout);
}

/* "2" or "5,8": at most BNN_LR_MAX_MILESTONES epochs, each >= 1. */
static bool parse_milestones(const char *text, bnn_lr_schedule *s)
{
    char buf[256];
    if (strlen(text) >= sizeof buf)
        return false;
    strcpy(buf, text);
    s->n_milestones = 0;
    char *save = NULL;
    for (char *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        int64_t e;
        if (s->n_milestones == BNN_LR_MAX_MILESTONES || !bnnc_parse_int(tok, 1, 100000, &e))
            return false;
        s->milestones[s->n_milestones++] = e;
    }
    return s->n_milestones > 0;
}

/* Whether output names one of the files of checkpoint directory dir (which
 * need not exist yet): the checkpoint's own files would be replaced by the
 * output, and the pair no longer resume. */
static bool output_in_checkpoint(const char *output, const char *dir)
{
    static const char *const names[] = {"model.onnx", "state.bin", "model.next.onnx",
                                        "model.prev.onnx"};
    char *copy = strdup(output), *copy2 = strdup(output);
    bool inside = false;
    if (copy && copy2) {
        const char *base = basename(copy), *parent = dirname(copy2);
        struct stat sp, sd;
        for (size_t i = 0; i < sizeof names / sizeof *names; i++)
            inside |= strcmp(base, names[i]) == 0;
        inside = inside && (strcmp(parent, dir) == 0 ||
                            (stat(parent, &sp) == 0 && stat(dir, &sd) == 0 &&
                             sp.st_dev == sd.st_dev && sp.st_ino == sd.st_ino));
    }
    free(copy);
    free(copy2);
    return inside;
}

static int parse_args(int argc, char **argv, train_args *a)
{
    static const struct option options[] = {
        {"data", required_argument, NULL, OPT_DATA},
        {"train-x", required_argument, NULL, OPT_TRAIN_X},
        {"train-y", required_argument, NULL, OPT_TRAIN_Y},
        {"val-x", required_argument, NULL, OPT_VAL_X},
        {"val-y", required_argument, NULL, OPT_VAL_Y},
        {"val-split", required_argument, NULL, OPT_VAL_SPLIT},
        {"limit", required_argument, NULL, OPT_LIMIT},
        {"scale", required_argument, NULL, OPT_SCALE},
        {"epochs", required_argument, NULL, OPT_EPOCHS},
        {"batch", required_argument, NULL, OPT_BATCH},
        {"optimizer", required_argument, NULL, OPT_OPTIMIZER},
        {"lr", required_argument, NULL, OPT_LR},
        {"lr-milestones", required_argument, NULL, OPT_LR_MILESTONES},
        {"lr-gamma", required_argument, NULL, OPT_LR_GAMMA},
        {"momentum", required_argument, NULL, OPT_MOMENTUM},
        {"beta1", required_argument, NULL, OPT_BETA1},
        {"beta2", required_argument, NULL, OPT_BETA2},
        {"eps", required_argument, NULL, OPT_EPS},
        {"weight-decay", required_argument, NULL, OPT_WD},
        {"rho-lr-scale", required_argument, NULL, OPT_RHO_LR},
        {"loss", required_argument, NULL, OPT_LOSS},
        {"dnn-factor", required_argument, NULL, OPT_DNN},
        {"bnn-factor", required_argument, NULL, OPT_BNN},
        {"samples", required_argument, NULL, OPT_SAMPLES},
        {"seed", required_argument, NULL, OPT_SEED},
        {"threads", required_argument, NULL, OPT_THREADS},
        BNNC_INPUT_SHAPE_OPTION,
        {"checkpoint", required_argument, NULL, OPT_CHECKPOINT},
        {"resume", required_argument, NULL, OPT_RESUME},
        {"json", no_argument, NULL, OPT_JSON},
        {"no-calibrate", no_argument, NULL, OPT_NO_CALIBRATE},
        {"shard-update", no_argument, NULL, OPT_SHARD_UPDATE},
        {"no-shard-update", no_argument, NULL, OPT_NO_SHARD_UPDATE},
        {"noise-sigma", required_argument, NULL, OPT_NOISE_SIGMA},
        {"kl-scale", required_argument, NULL, OPT_KL_SCALE},
        {"prior-sigma", required_argument, NULL, OPT_PRIOR_SIGMA},
        {"select", no_argument, NULL, OPT_SELECT},
        {"output", required_argument, NULL, 'o'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    a->epochs = 1;
    a->batch = 64;
    a->samples = 10;
    a->scale = 1.0 / 255;
    a->dnn_factor = 1;
    a->kl_scale = -1; /* unset: 1 */
    a->train.optimizer = bnn_optimizer_defaults(BNN_OPTIM_ADAM);
    a->train.loss = BNN_LOSS_CROSS_ENTROPY;
    a->train.rho_lr_scale = 1;
    /* over several ranks (the trainer shards only then); measured faster on
     * free cores for LeNet-5 and the MLP (docs/distributed.md) */
    a->train.shard_update = true;
    a->schedule.gamma = 0.1;
    bool gamma_set = false;
    double lr = -1, momentum = -1, beta1 = -1, beta2 = -1, eps = -1, wd = -1;
    optind = 1;
    for (int c; (c = getopt_long(argc, argv, "o:h", options, NULL)) != -1;) {
        double f;
        const char *name = NULL;
        bool ok = true;
        switch (c) {
        case 'h': usage(stdout); return -1;
        case 'o': a->output = optarg; break;
        case BNNC_OPT_INPUT_SHAPE:
            if (!bnnc_add_input_shape("train", optarg))
                return BNNC_EXIT_USAGE;
            break;
        case OPT_DATA: a->data = optarg; break;
        case OPT_TRAIN_X:
            if (!bnnc_examples_add(&a->tx, "train", "--train-x", optarg))
                return BNNC_EXIT_USAGE;
            a->train_x = bnnc_examples_where(&a->tx);
            break;
        case OPT_TRAIN_Y: a->train_y = optarg; break;
        case OPT_VAL_X:
            if (!bnnc_examples_add(&a->vx, "train", "--val-x", optarg))
                return BNNC_EXIT_USAGE;
            a->val_x = bnnc_examples_where(&a->vx);
            break;
        case OPT_VAL_Y: a->val_y = optarg; break;
        case OPT_CHECKPOINT: a->checkpoint = optarg; break;
        case OPT_RESUME: a->resume = optarg; break;
        case OPT_JSON: a->json = true; break;
        case OPT_NO_CALIBRATE: a->no_calibrate = true; break;
        case OPT_SHARD_UPDATE: a->train.shard_update = true; break;
        case OPT_NO_SHARD_UPDATE: a->train.shard_update = false; break;
        case OPT_VAL_SPLIT:
            ok = bnnc_parse_float(optarg, &a->val_split) && a->val_split > 0 && a->val_split < 1;
            name = "--val-split (a fraction between 0 and 1)";
            break;
        case OPT_SCALE: ok = bnnc_parse_float(optarg, &a->scale); name = "--scale"; break;
        case OPT_LIMIT: ok = bnnc_parse_int(optarg, 1, INT64_MAX, &a->limit); name = "--limit"; break;
        case OPT_EPOCHS: ok = bnnc_parse_int(optarg, 1, 100000, &a->epochs); name = "--epochs"; break;
        case OPT_BATCH: ok = bnnc_parse_int(optarg, 1, 1 << 20, &a->batch); name = "--batch"; break;
        case OPT_SAMPLES: ok = bnnc_parse_int(optarg, 1, 100000, &a->samples); name = "--samples"; break;
        case OPT_SEED: ok = bnnc_parse_int(optarg, 0, INT64_MAX, &a->seed); name = "--seed"; break;
        case OPT_THREADS: ok = bnnc_parse_int(optarg, 0, 1024, &a->threads); name = "--threads"; break;
        case OPT_OPTIMIZER: {
            bnn_optimizer_kind kind;
            ok = bnn_optimizer_kind_from_name(optarg, &kind);
            name = "--optimizer (adam, adamw or sgd)";
            if (ok)
                a->train.optimizer = bnn_optimizer_defaults(kind);
            break;
        }
        case OPT_LOSS:
            ok = strcmp(optarg, "ce") == 0 || strcmp(optarg, "mse") == 0 ||
                 strcmp(optarg, "bce") == 0 || strcmp(optarg, "gaussian") == 0;
            a->train.loss = strcmp(optarg, "mse") == 0        ? BNN_LOSS_MSE
                            : strcmp(optarg, "bce") == 0      ? BNN_LOSS_BCE
                            : strcmp(optarg, "gaussian") == 0 ? BNN_LOSS_GAUSSIAN
                                                              : BNN_LOSS_CROSS_ENTROPY;
            name = "--loss (ce, mse, bce or gaussian)";
            break;
        case OPT_NOISE_SIGMA:
            ok = bnnc_parse_float(optarg, &a->noise_sigma) && a->noise_sigma > 0 &&
                 isfinite(a->noise_sigma);
            name = "--noise-sigma (a scale above 0)";
            break;
        case OPT_LR: ok = bnnc_parse_float(optarg, &lr) && lr > 0; name = "--lr"; break;
        case OPT_LR_MILESTONES:
            ok = parse_milestones(optarg, &a->schedule);
            name = "--lr-milestones (epochs >= 1, comma-separated)";
            break;
        case OPT_LR_GAMMA:
            ok = bnnc_parse_float(optarg, &a->schedule.gamma) && a->schedule.gamma > 0;
            gamma_set = true;
            name = "--lr-gamma";
            break;
        case OPT_MOMENTUM: ok = bnnc_parse_float(optarg, &momentum) && momentum >= 0; name = "--momentum"; break;
        case OPT_BETA1: ok = bnnc_parse_float(optarg, &beta1) && beta1 >= 0 && beta1 < 1; name = "--beta1"; break;
        case OPT_BETA2: ok = bnnc_parse_float(optarg, &beta2) && beta2 >= 0 && beta2 < 1; name = "--beta2"; break;
        case OPT_EPS: ok = bnnc_parse_float(optarg, &eps) && eps > 0; name = "--eps"; break;
        case OPT_WD: ok = bnnc_parse_float(optarg, &wd) && wd >= 0; name = "--weight-decay"; break;
        case OPT_RHO_LR:
            ok = bnnc_parse_float(optarg, &f) && f > 0 && f <= 1e4;
            a->train.rho_lr_scale = (float)f;
            name = "--rho-lr-scale";
            break;
        case OPT_DNN: ok = bnnc_parse_float(optarg, &a->dnn_factor) && a->dnn_factor >= 0; name = "--dnn-factor"; break;
        case OPT_KL_SCALE:
            ok = bnnc_parse_float(optarg, &a->kl_scale) && a->kl_scale >= 0 &&
                 isfinite(a->kl_scale);
            name = "--kl-scale";
            break;
        case OPT_PRIOR_SIGMA:
            ok = bnnc_parse_float(optarg, &a->prior_sigma) && a->prior_sigma > 0 &&
                 isfinite(a->prior_sigma) && (float)a->prior_sigma > 0;
            name = "--prior-sigma (a number above 0)";
            break;
        case OPT_SELECT: a->select = true; break;
        case OPT_BNN:
            ok = bnnc_parse_float(optarg, &f) && f >= 0;
            a->bnn_factor = f;
            a->bnn_factor_set = true;
            name = "--bnn-factor";
            break;
        default: return bnnc_usage_error("train", "unknown option");
        }
        if (!ok)
            return bnnc_usage_error("train", "bad value '%s' for %s", optarg, name);
    }
    /* Settings given explicitly win over the optimizer's defaults, whatever the order. */
    bnn_optimizer_config *oc = &a->train.optimizer;
    if (lr > 0) oc->lr = (float)lr;
    if (momentum >= 0) oc->momentum = (float)momentum;
    if (beta1 >= 0) oc->beta1 = (float)beta1;
    if (beta2 >= 0) oc->beta2 = (float)beta2;
    if (eps > 0) oc->eps = (float)eps;
    if (wd >= 0) oc->weight_decay = (float)wd;
    if (gamma_set && !a->schedule.n_milestones)
        return bnnc_usage_error("train", "--lr-gamma needs --lr-milestones");
    if (a->noise_sigma > 0 && a->train.loss != BNN_LOSS_GAUSSIAN)
        return bnnc_usage_error("train", "--noise-sigma goes with --loss gaussian");
    if (a->kl_scale >= 0 && a->bnn_factor_set)
        return bnnc_usage_error("train", "--kl-scale and --bnn-factor both set the KL's weight: "
                                "give one");
    if (a->select && (a->kl_scale >= 0 || a->bnn_factor_set || a->prior_sigma > 0))
        return bnnc_usage_error("train", "--select chooses --kl-scale and --prior-sigma itself: "
                                "give neither (nor --bnn-factor)");
    if (a->select && (!(a->val_split > 0) && !a->val_x))
        return bnnc_usage_error("train", "--select needs held-out data: --val-split F or "
                                "--val-x/--val-y");
    if (a->select && (a->no_calibrate || a->train.loss != BNN_LOSS_CROSS_ENTROPY))
        return bnnc_usage_error("train", "--select compares calibrated held-out NLL: it needs "
                                "--loss ce and no --no-calibrate");
    if (a->select && (a->resume || a->checkpoint))
        return bnnc_usage_error("train", "--select does not take --resume or --checkpoint");
    if (argc - optind != 1)
        return bnnc_usage_error("train", "expected one model file");
    a->model = argv[optind];
    if (!a->output)
        return bnnc_usage_error("train", "-o OUT.onnx is required");
    if (!a->data == !(a->train_x && a->train_y))
        return bnnc_usage_error("train", "give either --data DIR or both --train-x and --train-y");
    if (!a->val_x != !a->val_y)
        return bnnc_usage_error("train", "--val-x and --val-y go together");
    if (a->noise_sigma > 0 && a->resume)
        return bnnc_usage_error("train", "--noise-sigma cannot change a resumed run's noise "
                                "scale (the checkpoint's model holds it)");
    const char *inputs[4 + 2 * BNNC_MAX_EXAMPLE_INPUTS] = {a->model, a->train_y, a->val_y};
    int n_in = 3;
    for (int i = 0; i < a->tx.n; i++)
        inputs[n_in++] = a->tx.path[i];
    for (int i = 0; i < a->vx.n; i++)
        inputs[n_in++] = a->vx.path[i];
    if (bnnc_output_is_input("train", a->output, inputs, n_in))
        return BNNC_EXIT_ERROR;
    for (int i = 0; i < 2; i++) {
        const char *dir = i ? a->resume : a->checkpoint;
        if (dir && output_in_checkpoint(a->output, dir)) {
            fprintf(stderr, "bnnc train: refusing to write %s: it is a file of the checkpoint "
                    "%s\n", a->output, dir);
            return BNNC_EXIT_ERROR;
        }
    }
    return 0;
}

/* " (x0.1 after epochs 2, 4)" for the start line; "" for a constant lr. */
static const char *schedule_text(const bnn_lr_schedule *s)
{
    static char buf[64 + 8 * BNN_LR_MAX_MILESTONES];
    if (!s->n_milestones)
        return "";
    int n = snprintf(buf, sizeof buf, " (x%g after epoch%s", s->gamma, s->n_milestones > 1 ? "s" : "");
    for (int i = 0; i < s->n_milestones; i++)
        n += snprintf(buf + n, sizeof buf - (size_t)n, "%s %lld", i ? "," : "", (long long)s->milestones[i]);
    snprintf(buf + n, sizeof buf - (size_t)n, ")");
    return buf;
}

/* The data and options every rank must share, hashed for bnnc_ranks_agree: the
 * sizes of the sets, one example's shape, and the options. */
static uint64_t setup_fingerprint(const train_args *a, int64_t n_train, int64_t n_val,
                                  const bnn_dataset *train)
{
    uint64_t h = BNN_COMM_HASH_SEED;
    h = bnn_comm_hash(h, &n_train, sizeof n_train);
    h = bnn_comm_hash(h, &n_val, sizeof n_val);
    for (int d = 1; d < train->x.shape.rank; d++)
        h = bnn_comm_hash(h, &train->x.shape.dims[d], sizeof train->x.shape.dims[d]);
    h = bnn_comm_hash(h, &train->x.shape.rank, sizeof train->x.shape.rank);
    int64_t ints[] = {a->epochs, a->batch, a->samples, a->seed, (int64_t)a->train.loss,
                      (int64_t)a->train.optimizer.kind, a->schedule.n_milestones,
                      a->train.shard_update};
    double reals[] = {a->dnn_factor, a->bnn_factor, a->kl_scale, a->prior_sigma,
                      a->train.optimizer.lr,
                      a->train.optimizer.momentum, a->train.optimizer.beta1,
                      a->train.optimizer.beta2, a->train.optimizer.eps,
                      a->train.optimizer.weight_decay, a->schedule.gamma, a->scale};
    h = bnn_comm_hash(h, ints, sizeof ints);
    h = bnn_comm_hash(h, reals, sizeof reals);
    return bnn_comm_hash(h, a->schedule.milestones,
                         sizeof(int64_t) * (size_t)a->schedule.n_milestones);
}

/* ---- data-parallel data: each rank reads its own rows only ---------------- */

static int compare_rows(const void *x, const void *y)
{
    int64_t a = *(const int64_t *)x, b = *(const int64_t *)y;
    return (a > b) - (a < b);
}

/* Examples rows[0..count) (ascending) of the training files. */
static int load_train_rows(train_args *a, const int64_t *rows, int64_t count,
                           bnn_dataset *out, int64_t *total)
{
    if (!a->data)
        return load_npy_pair(&a->tx, a->train_y, a->train.loss, rows, count, out, total);
    bnn_diag diag;
    if (bnn_mnist_load_row_list(a->data, BNN_MNIST_TRAIN, (float)a->scale, 0, rows, count, out,
                                total, &diag) != BNN_OK)
        return bnnc_report(NULL, &diag);
    return BNNC_EXIT_OK;
}

/* The start of a data-parallel run: *train gets the first training example
 * (for the shape checks), *n_train the training examples of the whole job,
 * *val this rank's whole batches of the validation set and *n_val its size.
 * The training rows are read epoch by epoch (load_epoch). */
static int load_shards(train_args *a, int rank, int ranks, bnn_dataset *train,
                       int64_t *n_train, bnn_dataset *val, int64_t *n_val)
{
    int64_t zero = 0, n = 0;
    int rc = load_train_rows(a, &zero, 1, train, &n);
    if (rc)
        return rc;
    if (a->limit && a->limit < n)
        n = a->limit;
    *n_train = n;
    *n_val = 0;
    int64_t first = 0, count = 0;
    bnn_diag diag;
    if (a->val_split) {
        int64_t held = (int64_t)llround(a->val_split * (double)n);
        if (held < 1 || held >= n) {
            fprintf(stderr, "bnnc train: --val-split %g leaves no training or no validation "
                    "examples\n", a->val_split);
            return BNNC_EXIT_USAGE;
        }
        *n_train = n - held;
        *n_val = held;
        bnn_comm_shard(held, a->batch, rank, ranks, &first, &count);
        int64_t *rows = malloc(sizeof *rows * (size_t)(count + 1));
        if (!rows) {
            fprintf(stderr, "bnnc: out of memory\n");
            return BNNC_EXIT_ERROR;
        }
        for (int64_t i = 0; i < count; i++)
            rows[i] = *n_train + first + i;
        rc = load_train_rows(a, rows, count, val, NULL);
        free(rows);
        return rc;
    }
    if (a->val_x) {
        bnn_tensor none;
        if (bnn_npy_read_rows(a->vx.path[0], 0, 0, &none, n_val, &diag) != BNN_OK)
            return bnnc_report(a->vx.path[0], &diag);
        bnn_tensor_free(&none);
        bnn_comm_shard(*n_val, a->batch, rank, ranks, &first, &count);
        int64_t *rows = malloc(sizeof *rows * (size_t)(count + 1));
        if (!rows) {
            fprintf(stderr, "bnnc: out of memory\n");
            return BNNC_EXIT_ERROR;
        }
        for (int64_t i = 0; i < count; i++)
            rows[i] = first + i;
        rc = load_npy_pair(&a->vx, a->val_y, a->train.loss, rows, count, val, NULL);
        free(rows);
        return rc;
    }
    if (a->data) {
        bnn_dataset none;
        if (bnn_mnist_load_rows(a->data, BNN_MNIST_TEST, (float)a->scale, 0, 0, 0, &none, n_val,
                                &diag) != BNN_OK)
            return bnnc_report(NULL, &diag);
        bnn_dataset_free(&none);
        bnn_comm_shard(*n_val, a->batch, rank, ranks, &first, &count);
        if (bnn_mnist_load_rows(a->data, BNN_MNIST_TEST, (float)a->scale, 0, first, count, val,
                                NULL, &diag) != BNN_OK)
            return bnnc_report(NULL, &diag);
    }
    return BNNC_EXIT_OK;
}

/* The rows this rank takes in an epoch, read in one pass over the files:
 * its slice of every batch of the shuffled order.  use[] gets them in the
 * order the steps take them and local[] each one's index in *train (which
 * holds them in file order). */
static int load_epoch(train_args *a, const bnn_graph *graph, int rank, int ranks,
                      const int64_t *order, int64_t n_train, int64_t batch, int64_t *use,
                      int64_t *sorted, int64_t *local, bnn_dataset *train)
{
    int64_t m = 0;
    for (int64_t at = 0; at < n_train; at += batch) {
        int64_t b = n_train - at < batch ? n_train - at : batch, lo, mine;
        bnn_comm_shard(b, 1, rank, ranks, &lo, &mine);
        for (int64_t j = 0; j < mine; j++)
            use[m++] = order[at + lo + j];
    }
    memcpy(sorted, use, sizeof *use * (size_t)m);
    qsort(sorted, (size_t)m, sizeof *sorted, compare_rows);
    bnn_dataset_free(train);
    int rc = load_train_rows(a, sorted, m, train, NULL);
    if (rc)
        return rc;
    rc = check_data(graph, train, a->data ? NULL : &a->tx, "training", a->data ? a->data : a->train_x,
                    a->data ? a->data : a->train_y, a->train.loss);
    for (int64_t i = 0; i < m; i++) {
        const int64_t *at = bsearch(&use[i], sorted, (size_t)m, sizeof *sorted, compare_rows);
        BNN_ASSERT(at);
        local[i] = at - sorted;
    }
    return rc;
}

/* The outputs per example of the model's (only) output, or -1 when unknown. */
static int64_t outputs_per_example(const bnn_graph *graph)
{
    bnn_shape one = graph->values[graph->outputs[0]].shape;
    if (one.rank < 1)
        return -1;
    one.dims[0] = 1;
    return bnn_shape_numel(&one);
}

/* --loss gaussian: the noise scale the model starts from.  --noise-sigma F
 * sets every output's to F; else a model that has one keeps it; else each
 * output's is the RMS residual of one weight sample's prediction on the first
 * batch of training examples (in file order), or 1 where that is 0 or not
 * finite, and with several ranks (which hold different rows) 1. */
static int start_noise_scale(bnn_graph *graph, const bnn_dataset *train, const train_args *a,
                             int ranks, const char *model_path)
{
    bnn_diag diag;
    int64_t k = outputs_per_example(graph);
    if (k < 1) {
        fprintf(stderr, "bnnc: %s: the output's size per example is not known; --loss gaussian "
                "needs it (give --input-shape)\n", model_path);
        return BNNC_EXIT_ERROR;
    }
    if (a->noise_sigma <= 0 && bnn_graph_noise_param(graph) >= 0) {
        double *have = malloc(sizeof(double) * (size_t)k);
        bnn_status st = have ? bnn_graph_noise_sigmas(graph, k, have, &diag)
                             : bnn_fail(&diag, BNN_ERR_NOMEM, "out of memory");
        free(have);
        return st == BNN_OK ? BNNC_EXIT_OK : bnnc_report(model_path, &diag);
    }
    double *sigma = calloc((size_t)k, sizeof(double));
    float *ys = NULL;
    bnn_tensor head = train->x;
    int rc = BNNC_EXIT_ERROR;
    if (!sigma) {
        fprintf(stderr, "bnnc: out of memory\n");
        goto done;
    }
    const char *how = "--noise-sigma";
    if (a->noise_sigma > 0 || ranks > 1) {
        for (int64_t j = 0; j < k; j++)
            sigma[j] = a->noise_sigma > 0 ? a->noise_sigma : 1.0;
        how = a->noise_sigma > 0 ? "--noise-sigma" : "1 (several ranks)";
    } else {
        int64_t rows = train->n < a->batch ? train->n : a->batch, samples, width;
        head.owns_data = false;
        head.shape.dims[0] = rows;
        bnn_predict_options po = bnn_predict_defaults();
        po.samples = 1;
        po.batch = rows;
        po.seed = (uint64_t)a->seed;
        po.threads = (int)a->threads;
        if (bnn_predict_outputs(graph, &head, &po, NULL, &samples, &width, &diag) != BNN_OK ||
            (width != k && bnn_fail(&diag, BNN_ERR_SHAPE, "%lld outputs per example, expected "
                                    "%lld", (long long)width, (long long)k)) ||
            !(ys = malloc(sizeof(float) * (size_t)(samples * rows * width))) ||
            bnn_predict_outputs(graph, &head, &po, ys, &samples, &width, &diag) != BNN_OK) {
            if (!ys)
                fprintf(stderr, "bnnc: out of memory\n");
            else
                bnnc_report(model_path, &diag);
            goto done;
        }
        const float *t = train->y.data;
        for (int64_t i = 0; i < rows; i++)
            for (int64_t j = 0; j < k; j++) {
                double d = (double)t[i * k + j] - ys[i * k + j];
                sigma[j] += d * d / (double)rows;
            }
        for (int64_t j = 0; j < k; j++) {
            sigma[j] = sqrt(sigma[j]);
            if (!(sigma[j] > 1e-6) || !isfinite(sigma[j]))
                sigma[j] = 1;
        }
        how = "the RMS residual on the first batch";
    }
    if (bnn_graph_set_noise_sigmas(graph, sigma, k, &diag) != BNN_OK) {
        bnnc_report(model_path, &diag);
        goto done;
    }
    if (!a->json && bnn_comm_rank(a->train.comm) == 0) {
        printf("noise scale %s: sigma ", BNN_NOISE_PARAM);
        for (int64_t j = 0; j < k && j < 4; j++)
            printf("%s%.4g", j ? ", " : "", sigma[j]);
        printf("%s (from %s)\n", k > 4 ? ", ..." : "", how);
    }
    rc = BNNC_EXIT_OK;
done:
    free(sigma);
    free(ys);
    return rc;
}

/* The noise scale's sigmas for the epoch line: ", noise sigma 0.1, 0.2" (the
 * first four, then the mean) or "" without one. */
static void print_noise(const bnn_graph *graph, bool json)
{
    int v = bnn_graph_noise_param(graph);
    if (v < 0)
        return;
    const bnn_value *val = &graph->values[v];
    int64_t n = bnn_shape_numel(&val->shape);
    const float *r = val->data;
    if (json) {
        printf(", \"noise_sigma\": [");
        for (int64_t j = 0; j < n; j++)
            printf("%s%.6g", j ? ", " : "", exp((double)r[j]));
        printf("]");
        return;
    }
    double mean = 0;
    for (int64_t j = 0; j < n; j++)
        mean += exp((double)r[j]) / (double)n;
    printf(", noise sigma ");
    for (int64_t j = 0; j < n && j < 4; j++)
        printf("%s%.4g", j ? ", " : "", exp((double)r[j]));
    if (n > 4)
        printf(", ... (mean %.4g)", mean);
}

/* ---- how far training moved the posterior's widths ---------------------- */

/* Each Bayesian layer's weight rho as the run starts (NULL for other nodes),
 * for width_report. */
static float **snapshot_rho(const bnn_graph *g)
{
    float **rho = calloc((size_t)g->n_nodes + 1, sizeof *rho);
    for (int i = 0; rho && i < g->n_nodes; i++) {
        const bnn_node *n = &g->nodes[i];
        int k = n->op == BNN_OP_WEIGHT_REPARAM ? 1 : 2;
        if (n->dead || !bnn_op_is_bayesian(n->op) || k >= n->n_inputs || n->inputs[k] < 0)
            continue;
        const bnn_value *v = &g->values[n->inputs[k]];
        if (v->dtype != BNN_F32 || !v->data || !v->nbytes)
            continue;
        rho[i] = malloc(v->nbytes);
        if (rho[i])
            memcpy(rho[i], v->data, v->nbytes);
    }
    return rho;
}

static int compare_doubles(const void *x, const void *y)
{
    double a = *(const double *)x, b = *(const double *)y;
    return (a > b) - (a < b);
}

/* Prints, per Bayesian layer, the 10%, 50% and 90% quantiles of sigma over
 * its value when the run started (issue 12 item 3: is the width learned, or
 * left where the conversion put it?). */
static void width_report(const bnn_graph *g, float **start)
{
    if (!start)
        return;
    bool first = true;
    for (int i = 0; i < g->n_nodes; i++) {
        if (!start[i])
            continue;
        const bnn_node *n = &g->nodes[i];
        const bnn_value *v = &g->values[n->inputs[n->op == BNN_OP_WEIGHT_REPARAM ? 1 : 2]];
        size_t count = v->nbytes / sizeof(float);
        double *r = malloc(count * sizeof *r);
        if (r) {
            const float *now = v->data;
            for (size_t j = 0; j < count; j++)
                r[j] = bnn_sigma_of_rho(now[j]) / bnn_sigma_of_rho(start[i][j]);
            qsort(r, count, sizeof *r, compare_doubles);
            double q[3] = {r[count / 10], r[count / 2], r[(count * 9) / 10]};
            const char *name = *n->name ? n->name : v->name;
            printf("%s%s %.3g (%.3g-%.3g)", first ? "posterior width, sigma / its start "
                       "(median, 10%-90%): " : ", ", name, q[1], q[0], q[2]);
            first = false;
            free(r);
        }
    }
    if (!first)
        printf("\n");
}

/* The checkpoint holds the model with its own inputs (unpacked). */
static bnn_status write_checkpoint(const train_args *a, const bnn_graph *graph,
                                   bnn_trainer *trainer, const train_state *state, bnn_diag *diag)
{
    if (!a->tx.packed)
        return train_state_write(a->checkpoint, graph, trainer, state, diag);
    bnn_graph *g = bnnc_examples_unpacked(&a->tx, graph);
    if (!g)
        return bnn_fail(diag, BNN_ERR_NOMEM, "out of memory writing the checkpoint");
    bnn_status st = train_state_write(a->checkpoint, g, trainer, state, diag);
    bnn_graph_destroy(g);
    return st;
}

/* One training run; *val_nll (when not NULL) gets the calibrated held-out
 * NLL, or NAN when the run did not calibrate. */
static int train_run(int argc, char **argv, double *val_nll)
{
    train_args a = {0};
    bnnc_clear_input_shapes(); /* parse_args adds them again */
    int rc = parse_args(argc, argv, &a);
    if (rc)
        return rc < 0 ? BNNC_EXIT_OK : rc;
    if (val_nll)
        *val_nll = NAN;

    bnn_diag diag = {0};
    bnn_comm *comm = bnnc_comm_start(); /* rank 0 alone prints */
    if (!comm)
        return BNNC_EXIT_ERROR;
    int rank = bnn_comm_rank(comm), ranks = bnn_comm_size(comm);
    bnn_dataset train = {0}, val = {0};
    bnn_graph *graph = NULL;
    bnn_trainer *trainer = NULL;
    bnn_tensor bx = {0}, by = {0};
    int64_t *order = NULL;
    int status = BNNC_EXIT_ERROR;
    bool signal_stop = false; /* stopped by a signal, every rank together */
    train_state state = {0};
    float **widths = NULL; /* the rho at the start, for width_report */
    /* n_train, n_val: the job's examples.  Alone, train and val hold them all;
     * with several ranks, val holds this rank's batches of it and train this
     * epoch's rows of this rank (use, sorted, local: see load_epoch). */
    int64_t n_train = 0, n_val = 0, *use = NULL, *sorted = NULL, *local = NULL;
    /* Rank 0 holds the checkpoint directories' locks (it alone writes there)
     * for the whole run: another job never replaces the pair it reads or
     * writes, nor removes its temporaries. */
    int lock_fd[2] = {-1, -1};
    for (int i = 0; i < 2 && rank == 0; i++) {
        const char *dir = i ? a.resume : a.checkpoint;
        if (!dir || (i && a.checkpoint && bnn_same_file(a.resume, a.checkpoint)))
            continue;
        if (train_state_lock(dir, i == 0, &lock_fd[i], &diag) != BNN_OK) {
            bnnc_report(NULL, &diag);
            goto done;
        }
    }

    if (ranks > 1) {
        int lrc = load_shards(&a, rank, ranks, &train, &n_train, &val, &n_val);
        if (lrc) {
            status = lrc;
            goto done;
        }
    } else if (a.data) {
        if (bnn_mnist_load(a.data, BNN_MNIST_TRAIN, (float)a.scale, 0, &train, &diag) != BNN_OK) {
            bnnc_report(NULL, &diag);
            goto done;
        }
        if (!a.val_split && !a.val_x &&
            bnn_mnist_load(a.data, BNN_MNIST_TEST, (float)a.scale, 0, &val, &diag) != BNN_OK) {
            bnnc_report(NULL, &diag);
            goto done;
        }
    } else if (load_npy_pair(&a.tx, a.train_y, a.train.loss, NULL, 0, &train, NULL) !=
               BNNC_EXIT_OK) {
        goto done;
    }
    if (ranks == 1 && a.val_x &&
        load_npy_pair(&a.vx, a.val_y, a.train.loss, NULL, 0, &val, NULL) != BNNC_EXIT_OK)
        goto done;
    if (ranks == 1 && a.limit && a.limit < train.n) {
        train.n = a.limit;
        train.x.shape.dims[0] = train.y.shape.dims[0] = a.limit;
    }
    if (ranks == 1 && a.val_split) {
        int64_t held = (int64_t)llround(a.val_split * (double)train.n);
        if (held < 1 || held >= train.n) {
            fprintf(stderr, "bnnc train: --val-split %g leaves no training or no validation examples\n", a.val_split);
            status = BNNC_EXIT_USAGE;
            goto done;
        }
        if (split_tail(&train, held, &val, &diag) != BNN_OK) {
            bnnc_report(NULL, &diag);
            goto done;
        }
    }
    if (ranks == 1) {
        n_train = train.n;
        n_val = val.n;
    }

    const char *model_path = a.model;
    char resume_model[4096];
    if (a.resume) {
        if (train_state_model_path(a.resume, resume_model, &diag) != BNN_OK) {
            bnnc_report(NULL, &diag);
            goto done;
        }
        model_path = resume_model;
        /* -o must not replace the checkpoint being resumed from either */
        char resume_state[4200];
        snprintf(resume_state, sizeof resume_state, "%s/state.bin", a.resume);
        const char *ck_files[] = {resume_model, resume_state};
        if (bnnc_output_is_input("train", a.output, ck_files, 2))
            goto done;
    }
    graph = bnnc_load_model(model_path);
    if (!graph)
        goto done;
    bnnc_note_fixed_batch(model_path, a.batch < n_train ? a.batch : n_train);

    /* several inputs are packed into one (tools/examples.h) */
    if (!a.data) {
        int brc = bnnc_examples_bind(&a.tx, graph, model_path, NULL);
        if (brc == BNNC_EXIT_OK && a.val_x)
            brc = bnnc_examples_bind(&a.vx, graph, model_path, &a.tx);
        if (brc != BNNC_EXIT_OK) {
            status = brc;
            goto done;
        }
    }
    if (graph->n_inputs != 1 || graph->n_outputs != 1) {
        fprintf(stderr, "bnnc: %s: training needs a model with one output (this one has %d)\n",
                model_path, graph->n_outputs);
        goto done;
    }
    const bnnc_examples *val_ex = a.data ? NULL : a.val_x ? &a.vx : &a.tx;
    if (check_data(graph, &train, a.data ? NULL : &a.tx, "training", a.data ? a.data : a.train_x,
                   a.data ? a.data : a.train_y, a.train.loss) != BNNC_EXIT_OK ||
        ((val.n || (a.val_x && n_val == 0)) && check_data(graph, &val, val_ex, "validation", a.val_x ? a.val_x : a.data ? a.data : a.train_x,
                             a.val_y ? a.val_y : a.data ? a.data : a.train_y,
                             a.train.loss) != BNNC_EXIT_OK))
        goto done;
    /* A temperature fitted before no longer fits once the weights move:
     * train the plain logits (and refit below when validation is held out). */
    double old_temperature = 1;
    if (bnn_graph_get_temperature(graph, &old_temperature) != BNN_OK ||
        (old_temperature != 1 && bnn_graph_set_temperature(graph, 1, &diag) != BNN_OK)) {
        bnnc_report(model_path, &diag);
        goto done;
    }
    if (a.prior_sigma > 0) { /* --prior-sigma: every Bayesian layer's prior scale */
        int layers = 0;
        for (int i = 0; i < graph->n_nodes; i++)
            if (!graph->nodes[i].dead && bnn_op_is_bayesian(graph->nodes[i].op)) {
                if (bnn_node_set_float(graph, i, "prior_sigma", (float)a.prior_sigma) != BNN_OK) {
                    fprintf(stderr, "bnnc: out of memory setting the prior\n");
                    goto done;
                }
                layers++;
            }
        if (!layers && rank == 0)
            fprintf(stderr, "bnnc train: note: --prior-sigma: %s has no Bayesian layer\n",
                    model_path);
    }
    bnn_graph_mark_layer_params_trainable(graph);
    widths = rank == 0 && !a.json ? snapshot_rho(graph) : NULL; /* for width_report */
    a.train.dnn_factor = a.dnn_factor;
    a.train.bnn_factor = a.bnn_factor_set ? a.bnn_factor
                                          : (a.kl_scale >= 0 ? a.kl_scale : 1.0) / (double)n_train;
    a.train.batch = a.batch < n_train ? a.batch : n_train;
    a.train.seed = (uint64_t)a.seed;
    a.train.threads = (int)a.threads;
    a.train.comm = comm;
    if (a.train.loss == BNN_LOSS_GAUSSIAN &&
        start_noise_scale(graph, &train, &a, ranks, model_path) != BNNC_EXIT_OK)
        goto done;
    if (!bnnc_ranks_agree(comm, "model", bnn_graph_fingerprint(graph), model_path) ||
        !bnnc_ranks_agree(comm, "training data or options", setup_fingerprint(&a, n_train, n_val, &train),
                     a.data ? a.data : a.train_x))
        goto done;
    bnn_runtime_set_threads((int)a.threads);
    if (bnn_trainer_create(graph, &a.train, &trainer, &diag) != BNN_OK) {
        bnnc_report(model_path, &diag);
        goto done;
    }
    int64_t first_epoch = 0, skip_steps = 0;
    if (a.resume) {
        if (train_state_read(a.resume, trainer, &state, &diag) != BNN_OK) {
            bnnc_report(NULL, &diag);
            goto done;
        }
        first_epoch = state.epochs_done;
        skip_steps = state.epoch_steps; /* a checkpoint written when stopped mid-epoch */
        int64_t per_epoch = (n_train + a.train.batch - 1) / a.train.batch;
        if (skip_steps >= per_epoch) {
            fprintf(stderr, "bnnc: %s: the checkpoint was stopped after step %lld of an epoch; "
                    "this run's epochs have %lld steps (resume with the data and --batch it "
                    "was made with)\n", a.resume, (long long)skip_steps, (long long)per_epoch);
            goto done;
        }
    }
    /* every rank starts from rank 0's params, moments and step count */
    if (bnn_trainer_broadcast(trainer, &diag) != BNN_OK) {
        bnnc_report(model_path, &diag);
        goto done;
    }

    bnn_shape xs = train.x.shape, ys = train.y.shape;
    xs.dims[0] = ys.dims[0] = a.train.batch;
    order = malloc(sizeof(int64_t) * (size_t)n_train);
    if (ranks > 1) {
        use = malloc(sizeof(int64_t) * (size_t)n_train);
        sorted = malloc(sizeof(int64_t) * (size_t)n_train);
        local = malloc(sizeof(int64_t) * (size_t)n_train);
        if (!use || !sorted || !local) {
            fprintf(stderr, "bnnc: out of memory for the epoch's row lists\n");
            goto done;
        }
    }
    if (!order || bnn_tensor_alloc(&bx, train.x.dtype, &xs, &diag) != BNN_OK ||
        bnn_tensor_alloc(&by, train.y.dtype, &ys, &diag) != BNN_OK) {
        fprintf(stderr, "bnnc: out of memory for batches\n");
        goto done;
    }
    bool bayesian = bnn_graph_is_bayesian(graph);
    /* mpirun hands rank 0 a pseudo-terminal even when its own output is a file */
    bool terminal = bnnc_stdout_is_terminal() && !a.json && !bnn_comm_launched(comm);
    if (!a.json && ranks > 1)
        printf("data parallel over %d ranks (%s): each takes 1/%d of every batch%s\n", ranks,
               bnn_comm_backend(), ranks,
               bnn_trainer_sharded(trainer) ? "; KL pass and update sharded (--no-shard-update: "
                                              "not)" : "");
    /* From here a signal stops at the next step.  Over several ranks (mpirun
     * forwards a signal to every rank, not at the same instant, and a batch
     * system may signal one) each rank sends its wish to stop with a step's
     * statistics, and every rank stops after the first step in which any
     * rank asked. */
    catch_stop_signals(bnn_comm_launched(comm));
    test_signal_hook(rank);
    if (!a.json)
        printf("training %s: %lld examples, batch %lld, %s lr %g%s, dnn_factor %g, bnn_factor %g%s%s\n",
               a.model, (long long)n_train, (long long)a.train.batch,
               a.train.optimizer.kind == BNN_OPTIM_SGD ? "sgd" :
               a.train.optimizer.kind == BNN_OPTIM_ADAM ? "adam" : "adamw",
               a.train.optimizer.lr, schedule_text(&a.schedule), a.train.dnn_factor, a.train.bnn_factor,
               a.bnn_factor_set ? "" : a.kl_scale >= 0 && a.kl_scale != 1 ? " (kl-scale/N)" : " (1/N)",
               bayesian ? "" : "; no Bayesian layers: plain fine-tuning");
    fflush(stdout);

    int64_t stop_epoch = -1, stop_step = 0;
    bool stop_agreed = false; /* several ranks: some rank asked, in the last step */
    for (int64_t epoch = first_epoch; epoch < a.epochs && stop_epoch < 0; epoch++) {
        if (ranks > 1 ? stop_agreed : stop_signal != 0) {
            stop_epoch = epoch;
            stop_step = 0;
            break;
        }
        double start = now_seconds();
        float lr = bnn_lr_at_epoch(a.train.optimizer.lr, &a.schedule, epoch);
        bnn_trainer_optimizer(trainer)->config.lr = lr;
        bnn_shuffle_indices(order, n_train, (uint64_t)a.seed, (uint64_t)epoch);
        /* with several ranks, read this epoch's rows of this rank (its slice
         * of every batch) in one pass over the files */
        double load_seconds = 0;
        if (ranks > 1) {
            if (load_epoch(&a, graph, rank, ranks, order, n_train, a.train.batch, use, sorted,
                           local, &train) != BNNC_EXIT_OK)
                goto done;
            load_seconds = now_seconds() - start;
            start = now_seconds();
        }
        int64_t used = 0; /* rows of local[] the steps took */
        double loss_sum = 0, data_sum = 0, kl_last = 0, reduce_ms = 0;
        double phase_ms[4] = {0}; /* forward, backward, finish, update */
        double reduce_wait_ms = 0;
        int64_t correct = 0, seen = 0, step_in_epoch = 0;
        for (int64_t at = 0; at < n_train; at += a.train.batch, step_in_epoch++) {
            int64_t b = n_train - at < a.train.batch ? n_train - at : a.train.batch;
            /* this rank's contiguous share of the global batch */
            int64_t lo, mine;
            bnn_comm_shard(b, 1, rank, ranks, &lo, &mine);
            if (epoch == first_epoch && step_in_epoch < skip_steps) {
                used += mine; /* taken before the checkpoint this run resumed from */
                continue;
            }
            if (ranks > 1 ? stop_agreed : stop_signal != 0) {
                stop_epoch = epoch;
                stop_step = step_in_epoch;
                break;
            }
            if (test_signal_step >= 0 && (int64_t)bnn_trainer_steps(trainer) == test_signal_step)
                raise(test_signal);
            bnn_trainer_request_stop(trainer, stop_signal != 0);
            bnn_tensor x = bx, y = by;
            x.shape.dims[0] = y.shape.dims[0] = mine;
            x.owns_data = y.owns_data = false;
            bnn_dataset_gather(&train, ranks > 1 ? local + used : order + at + lo, mine, &x, &y);
            used += mine;
            bnn_step_result r = {0};
            if (bnn_trainer_step_shard(trainer, &x, &y, lo, b, &r, &diag) != BNN_OK) {
                fprintf(stderr, "%sbnnc: %s: epoch %lld, step %lld: %s\n", terminal ? "\n" : "",
                        a.model, (long long)epoch + 1, (long long)step_in_epoch + 1, diag.message);
                if (diag.status == BNN_ERR_NUMERIC && a.checkpoint)
                    fprintf(stderr, "bnnc: the last good checkpoint is kept in %s\n", a.checkpoint);
                goto done;
            }
            stop_agreed = r.stop;
            loss_sum += r.loss * (double)b;
            data_sum += r.data_loss * (double)b;
            kl_last = r.kl;
            reduce_ms += r.reduce_ms;
            reduce_wait_ms += r.reduce_wait_ms;
            phase_ms[0] += r.forward_ms;
            phase_ms[1] += r.backward_ms;
            phase_ms[2] += r.finish_ms;
            phase_ms[3] += r.update_ms;
            correct += r.correct;
            seen += b;
            if (terminal)
                progress_bar(seen, n_train, now_seconds() - start, loss_sum / (double)seen);
        }
        if (stop_epoch >= 0)
            break;
        double seconds = now_seconds() - start;
        double val_acc = NAN;
        bool classifies = a.train.loss == BNN_LOSS_CROSS_ENTROPY || a.train.loss == BNN_LOSS_BCE;
        if (n_val && classifies &&
            validate(graph, &val, n_val, &a, comm, &val_acc, &diag) != BNN_OK) {
            bnnc_report(a.model, &diag);
            goto done;
        }
        double train_acc = classifies ? (double)correct / (double)seen : NAN;
        if (terminal)
            printf("\r%*s\r", 79, "");
        if (a.json) {
            printf("{\"epoch\": %lld, \"loss\": %.9g, \"data_loss\": %.9g, \"kl\": %.9g, "
                   "\"train_accuracy\": %.6f, \"val_accuracy\": %s%.6f, \"seconds\": %.3f, "
                   "\"examples_per_s\": %.1f, \"lr\": %.9g",
                   (long long)epoch + 1, loss_sum / (double)seen, data_sum / (double)seen, kl_last,
                   isnan(train_acc) ? -1 : train_acc, "", isnan(val_acc) ? -1 : val_acc, seconds,
                   (double)seen / seconds, lr);
            if (ranks > 1) /* where a data-parallel epoch went */
                printf(", \"ranks\": %d, \"allreduce_seconds\": %.3f, "
                       "\"allreduce_wait_seconds\": %.3f, \"load_seconds\": %.3f",
                       ranks, reduce_ms / 1e3, reduce_wait_ms / 1e3, load_seconds);
            /* where the steps went (the all-reduce's part is allreduce_seconds) */
            printf(", \"phase_seconds\": {\"forward\": %.3f, \"backward\": %.3f, \"finish\": %.3f, "
                   "\"update\": %.3f}", phase_ms[0] / 1e3, phase_ms[1] / 1e3, phase_ms[2] / 1e3,
                   phase_ms[3] / 1e3);
            if (a.train.loss == BNN_LOSS_GAUSSIAN)
                print_noise(graph, true);
            printf("}\n");
        } else {
            printf("epoch %lld/%lld: data loss %.4f, KL %.1f, train acc %.4f, val acc ",
                   (long long)epoch + 1, (long long)a.epochs, data_sum / (double)seen, kl_last,
                   train_acc);
            if (isnan(val_acc))
                printf("-");
            else
                printf("%.4f", val_acc);
            printf(", %.1f s (%.0f examples/s)", seconds, (double)seen / seconds);
            if (a.schedule.n_milestones)
                printf(", lr %g", lr);
            if (a.train.loss == BNN_LOSS_GAUSSIAN)
                print_noise(graph, false);
            printf("\n");
        }
        fflush(stdout);
        /* The ranks' params must still be one model; a rank that drifted
         * (a broken MPI reduction, a bad node) is caught here. */
        if (ranks > 1 && !bnnc_ranks_agree(comm, "set of trained parameters",
                                      bnn_graph_fingerprint(graph), a.model))
            goto done;
        /* sharded, each rank's moments are current for its part alone */
        if (a.checkpoint && bnn_trainer_gather_state(trainer, &diag) != BNN_OK) {
            bnnc_report(NULL, &diag);
            goto done;
        }
        if (a.checkpoint && rank == 0) {
            state.epochs_done = epoch + 1;
            state.epoch_steps = 0;
            if (write_checkpoint(&a, graph, trainer, &state, &diag) != BNN_OK) {
                bnnc_report(NULL, &diag);
                goto done;
            }
        }
    }
    /* A signal caught after the last step (during the last epoch's end) has
     * had no step to carry it: the ranks agree on it here. */
    bool stopped = ranks > 1 ? stop_epoch >= 0 || stop_agreed : stop_signal != 0;
    if (ranks > 1 && !stopped) {
        double any = stop_signal != 0;
        if (bnn_comm_allreduce_f64(comm, &any, 1, &diag) != BNN_OK) {
            bnnc_report(NULL, &diag);
            goto done;
        }
        stopped = any > 0;
    }
    if (stopped) {
        /* Every rank exits with one status (mpirun passes on the first it
         * sees): rank 0's signal, else SIGTERM if another rank caught one,
         * else SIGINT. */
        int sig = stop_signal;
        if (ranks > 1) {
            double caught[3] = {rank == 0 ? sig : 0, stop_signal == SIGTERM, stop_signal == SIGINT};
            if (bnn_comm_allreduce_f64(comm, caught, 3, &diag) != BNN_OK) {
                bnnc_report(NULL, &diag);
                goto done;
            }
            sig = caught[0] > 0 ? (int)caught[0] : caught[1] > 0 ? SIGTERM : SIGINT;
        }
        char why[64];
        snprintf(why, sizeof why, "%s%s", signal_name(sig),
                 rank == 0 && !stop_signal ? " (caught by another rank)" : "");
        if (stop_epoch < 0) { /* caught during the last epoch's end: it is complete */
            stop_epoch = a.epochs;
            stop_step = 0;
        }
        if (terminal)
            printf("\n");
        fflush(stdout);
        char place[96];
        stop_place(stop_epoch, stop_step, place, sizeof place);
        if (a.checkpoint) {
            /* The checkpoint of an epoch's end is on disk already. */
            bool epoch_end = stop_step == 0 && stop_epoch > first_epoch;
            state.epochs_done = stop_epoch;
            state.epoch_steps = stop_step;
            /* sharded, every rank's part of the moments, for rank 0 to write;
             * every rank is here, after the same step */
            if (!epoch_end && bnn_trainer_gather_state(trainer, &diag) != BNN_OK) {
                bnnc_report(NULL, &diag);
                goto done;
            }
            bool written = rank == 0 && (epoch_end || write_checkpoint(&a, graph, trainer, &state,
                                                                       &diag) == BNN_OK);
            if (written)
                fprintf(stderr, "bnnc: stopped by %s %s: checkpoint written to %s (continue "
                        "with --resume %s)\n", why, place, a.checkpoint, a.checkpoint);
            else if (rank == 0) {
                bnnc_report(NULL, &diag);
                fprintf(stderr, "bnnc: stopped by %s; no new checkpoint\n", why);
            }
        } else if (rank == 0) {
            fprintf(stderr, "bnnc: stopped by %s %s: no output and no checkpoint written "
                    "(--checkpoint DIR keeps one)\n", why, place);
        }
        fflush(stderr);
        /* mpirun ends the job when a rank exits non-zero: the others wait
         * for rank 0's checkpoint before leaving */
        if (ranks > 1 && bnn_comm_barrier(comm, &diag) != BNN_OK) {
            bnnc_report(NULL, &diag);
            goto done;
        }
        status = 128 + sig;
        signal_stop = true;
        goto done;
    }
    bool heldout = a.val_split > 0 || a.val_x;
    /* Calibration needs every held-out example in one place: with several
     * ranks each holds only its batches of them, so it is left to a later
     * `bnnc calibrate` (docs/distributed.md). */
    if (heldout && !a.no_calibrate && ranks > 1) {
        if (rank == 0 && !a.json)
            printf("note: not calibrated under mpirun (each rank holds part of the validation "
                   "set); run bnnc calibrate on the output\n");
    } else if (heldout && !a.no_calibrate && a.train.loss == BNN_LOSS_CROSS_ENTROPY && val.n) {
        bnnc_calibration cal = {0};
        if (bnnc_calibrate_temperature(graph, &val.x, val.y.data, a.samples < 32 ? 32 : a.samples,
                                       256, (uint64_t)a.seed, (int)a.threads, BNN_PREDICTIVE_MC, &cal,
                                       &diag) != BNN_OK) {
            bnnc_report(a.model, &diag);
            goto done;
        }
        if (a.json)
            printf("{\"temperature\": %.6g, \"val_nll_before\": %.6f, \"val_nll_after\": %.6f, "
                   "\"samples\": %lld}\n", cal.temperature, cal.nll_before, cal.nll_after,
                   (long long)cal.samples);
        else
            printf("calibrated on the %lld held-out examples: temperature %.4g, val NLL %.4f -> "
                   "%.4f (%lld samples; --no-calibrate skips this)\n", (long long)cal.examples,
                   cal.temperature, cal.nll_before, cal.nll_after, (long long)cal.samples);
        if (val_nll)
            *val_nll = cal.nll_after;
    } else if (rank == 0 && old_temperature != 1 && !a.json) {
        printf("note: the model's temperature %.4g was reset to 1 for training; calibrate again "
               "on held-out data (bnnc calibrate)\n", old_temperature);
    }
    width_report(graph, widths); /* not with --json: its last line stays the epoch's */
    for (int i = 0; widths && i < graph->n_nodes; i++)
        free(widths[i]);
    free(widths);
    widths = NULL;
    if (rank == 0 && bnnc_examples_export(&a.tx, graph, a.output, &diag) != BNN_OK) {
        bnnc_report(a.output, &diag);
        goto done;
    }
    status = BNNC_EXIT_OK;
done:
    for (int i = 0; widths && graph && i < graph->n_nodes; i++)
        free(widths[i]);
    free(widths);
    free(order);
    free(use);
    free(sorted);
    free(local);
    bnn_tensor_free(&bx);
    bnn_tensor_free(&by);
    bnn_trainer_destroy(trainer);
    bnn_graph_destroy(graph);
    bnn_dataset_free(&train);
    bnn_dataset_free(&val);
    for (int i = 0; i < 2; i++)
        if (lock_fd[i] >= 0)
            close(lock_fd[i]);
    if (status != BNNC_EXIT_OK && ranks > 1 && !signal_stop) {
        /* The other ranks may be waiting in a collective call for this one. */
        fprintf(stderr, "bnnc: rank %d of %d failed; stopping every rank\n", rank, ranks);
        fflush(stderr);
        bnn_comm_abort(comm, status);
    }
    bnn_comm_destroy(comm);
    return status;
}

/* ---- --select: the KL's weight and the prior's scale, chosen on held-out NLL */

static const double select_kl_scales[] = {1, 0.3, 0.1};
static const double select_prior_sigmas[] = {0.1, 0.3, 1};

int bnnc_cmd_train(int argc, char **argv)
{
    train_args a = {0};
    int rc = parse_args(argc, argv, &a);
    if (rc)
        return rc < 0 ? BNNC_EXIT_OK : rc;
    if (!a.select)
        return train_run(argc, argv, NULL);
    bnn_comm *comm = bnnc_comm_start();
    if (!comm)
        return BNNC_EXIT_ERROR;
    int ranks = bnn_comm_size(comm);
    bnn_comm_destroy(comm);
    if (ranks > 1) {
        fprintf(stderr, "bnnc train: --select runs alone, not under mpirun (its runs would "
                "each need every held-out example)\n");
        return BNNC_EXIT_USAGE;
    }
    enum { NK = sizeof select_kl_scales / sizeof *select_kl_scales,
           NP = sizeof select_prior_sigmas / sizeof *select_prior_sigmas, N = NK * NP };
    /* each run: the arguments less --select, then its own -o, --kl-scale and
     * --prior-sigma (getopt keeps the last -o) */
    char **args = calloc((size_t)argc + 6, sizeof *args);
    char paths[N][4200], kl_text[32], prior_text[32];
    double nll[N];
    if (!args) {
        fprintf(stderr, "bnnc train: out of memory\n");
        return BNNC_EXIT_ERROR;
    }
    int n_args = 0;
    int best = -1, status = BNNC_EXIT_OK, done = 0;
    double t0 = now_seconds();
    for (int k = 0; k < N && status == BNNC_EXIT_OK; k++) {
        double kl = select_kl_scales[k / NP], prior = select_prior_sigmas[k % NP];
        snprintf(paths[k], sizeof paths[k], "%s.select-%d.tmp", a.output, k);
        snprintf(kl_text, sizeof kl_text, "%g", kl);
        snprintf(prior_text, sizeof prior_text, "%g", prior);
        char *extra[] = {"-o", paths[k], "--kl-scale", kl_text, "--prior-sigma", prior_text};
        n_args = 0; /* afresh: getopt permutes the array it is given */
        for (int i = 0; i < argc; i++)
            if (strcmp(argv[i], "--select") != 0)
                args[n_args++] = argv[i];
        for (int j = 0; j < 6; j++)
            args[n_args + j] = extra[j];
        args[n_args + 6] = NULL;
        if (!a.json)
            printf("select: run %d of %d: --kl-scale %g --prior-sigma %g\n", k + 1, N, kl, prior);
        fflush(stdout);
        status = train_run(n_args + 6, args, &nll[k]);
        done = k + 1;
        if (status == BNNC_EXIT_OK && !isfinite(nll[k])) {
            fprintf(stderr, "bnnc train: --select: run %d was not calibrated\n", k + 1);
            status = BNNC_EXIT_ERROR;
        }
        if (status == BNNC_EXIT_OK && (best < 0 || nll[k] < nll[best]))
            best = k;
    }
    if (status == BNNC_EXIT_OK && rename(paths[best], a.output) != 0) {
        fprintf(stderr, "bnnc train: cannot rename %s to %s: %s\n", paths[best], a.output,
                strerror(errno));
        status = BNNC_EXIT_ERROR;
    }
    for (int k = 0; k < done; k++)
        if (status != BNNC_EXIT_OK || k != best)
            remove(paths[k]); /* a failed run may have written none */
    if (status == BNNC_EXIT_OK) {
        if (a.json) {
            printf("{\"select\": [");
            for (int k = 0; k < N; k++)
                printf("%s{\"kl_scale\": %g, \"prior_sigma\": %g, \"val_nll\": %.6f}",
                       k ? ", " : "", select_kl_scales[k / NP], select_prior_sigmas[k % NP],
                       nll[k]);
            printf("], \"chosen\": {\"kl_scale\": %g, \"prior_sigma\": %g, \"val_nll\": %.6f}, "
                   "\"seconds\": %.1f}\n", select_kl_scales[best / NP],
                   select_prior_sigmas[best % NP], nll[best], now_seconds() - t0);
        } else {
            printf("select: calibrated held-out NLL by --kl-scale (rows) and --prior-sigma "
                   "(columns):\n%10s", "");
            for (int p = 0; p < NP; p++)
                printf(" %8g ", select_prior_sigmas[p]);
            for (int k = 0; k < N; k++) {
                if (k % NP == 0)
                    printf("\n%10g", select_kl_scales[k / NP]);
                printf(" %8.4f%s", nll[k], k == best ? "*" : " ");
            }
            printf("\nselect: chose --kl-scale %g --prior-sigma %g (held-out NLL %.4f) in %.1f s; "
                   "written to %s\n", select_kl_scales[best / NP], select_prior_sigmas[best % NP],
                   nll[best], now_seconds() - t0, a.output);
        }
    }
    free(args);
    return status;
}
