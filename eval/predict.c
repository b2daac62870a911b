/* Monte-Carlo prediction over a data set, batch by batch. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "bnn_predict.h"
#include "bnn_runtime.h"
#include "predict_impl.h"

bnn_predict_options bnn_predict_defaults(void)
{
    bnn_predict_options o = {.samples = 32, .batch = 64, .seed = 0, .threads = 0,
                             .outputs_probabilities = -1};
    return o;
}

bool bnn_graph_is_bayesian(const bnn_graph *g)
{
    for (int i = 0; i < g->n_nodes; i++)
        if (!g->nodes[i].dead && bnn_op_is_bayesian(g->nodes[i].op))
            return true;
    return false;
}

bool bnn_graph_outputs_probabilities(const bnn_graph *g)
{
    if (g->n_outputs < 1)
        return false;
    int producer = g->values[g->outputs[0]].producer;
    return producer >= 0 && g->nodes[producer].op == BNN_OP_SOFTMAX;
}

static void softmax_rows(const float *in, float *out, int64_t n, int64_t k)
{
    for (int64_t i = 0; i < n; i++) {
        const float *z = in + i * k;
        float *p = out + i * k;
        float max = z[0];
        for (int64_t j = 1; j < k; j++)
            max = z[j] > max ? z[j] : max;
        double sum = 0;
        for (int64_t j = 0; j < k; j++)
            sum += exp((double)z[j] - max);
        for (int64_t j = 0; j < k; j++)
            p[j] = (float)(exp((double)z[j] - max) / sum);
    }
}

/* How a sample's output rows become what the caller gets. */
typedef enum predict_mode {
    PREDICT_RAW,      /* the first output as it is (regression) */
    PREDICT_SOFTMAX,  /* softmax of logits */
    PREDICT_COPY,     /* already probabilities */
    PREDICT_BINARY_PROB,  /* p(class 1) -> (1 - p, p) */
    PREDICT_BINARY_LOGIT, /* logit z -> (1 - sigmoid(z), sigmoid(z)) */
} predict_mode;

static float sigmoid(float z)
{
    double e = exp(-fabs((double)z)), s = 1 / (1 + e);
    return (float)(z >= 0 ? s : 1 - s);
}

bnn_status bnn_predict_class_layout(const bnn_graph *graph, const bnn_predict_options *options,
                                    int64_t *steps, int64_t *k, bool *binary, bnn_diag *diag)
{
    if (graph->n_outputs < 1)
        return bnn_fail(diag, BNN_ERR_UNSUPPORTED, "the model has no output");
    const bnn_value *out = &graph->values[graph->outputs[0]];
    const bnn_shape *s = &out->shape;
    for (int d = 1; d < s->rank; d++)
        if (!bnn_dim_is_known(s->dims[d]))
            return bnn_fail(diag, BNN_ERR_SHAPE, "a classifier's output '%s' needs fixed dims "
                            "after the batch", out->name);
    *steps = 1;
    int64_t last = s->rank >= 2 ? s->dims[s->rank - 1] : 1;
    bool fits = s->rank == 1 || s->rank == 2 || (s->rank == 3 && options->per_step);
    if (s->rank == 3 && !options->per_step)
        return bnn_fail(diag, BNN_ERR_SHAPE, "output '%s' is [batch, steps, classes], a "
                        "per-step classifier, which this caller does not handle", out->name);
    if (!fits || last < 1)
        return bnn_fail(diag, BNN_ERR_SHAPE, "a classifier's output '%s' must be [batch, "
                        "classes], [batch, 1] or [batch] (binary), or [batch, steps, classes]",
                        out->name);
    if (s->rank == 3)
        *steps = s->dims[1];
    *binary = last == 1;
    *k = *binary ? 2 : last;
    return BNN_OK;
}

static predict_mode class_mode(const bnn_graph *g, const bnn_predict_options *o, bool binary)
{
    int producer = g->values[g->outputs[0]].producer;
    bnn_op op = producer >= 0 ? g->nodes[producer].op : BNN_OP_NONE;
    if (binary) {
        bool probs = o->outputs_probabilities < 0 ? op == BNN_OP_SIGMOID
                                                  : o->outputs_probabilities == 1;
        return probs ? PREDICT_BINARY_PROB : PREDICT_BINARY_LOGIT;
    }
    bool probs = o->outputs_probabilities < 0 ? op == BNN_OP_SOFTMAX : o->outputs_probabilities == 1;
    return probs ? PREDICT_COPY : PREDICT_SOFTMAX;
}

bnn_status predict_output_shape_at(const bnn_graph *graph, int index, const bnn_tensor *x,
                                   bnn_shape *shape, bnn_diag *diag)
{
    const bnn_value *out = &graph->values[graph->outputs[index]];
    if (x->shape.rank < 1 || out->shape.rank < 1)
        return bnn_fail(diag, BNN_ERR_SHAPE, "output '%s' has no batch dimension", out->name);
    *shape = out->shape;
    shape->dims[0] = x->shape.dims[0];
    bool open = false;
    for (int d = 1; d < shape->rank; d++)
        open |= !bnn_dim_is_known(shape->dims[d]);
    if (!open)
        return BNN_OK;
    if (x->shape.dims[0] < 1)
        return bnn_fail(diag, BNN_ERR_SHAPE, "output '%s': its size after the batch is only "
                        "known from an example, and there is none", out->name);
    /* a plan for x's first row says what shape inference could not */
    bnn_shape s = x->shape;
    s.dims[0] = 1;
    bnn_session_options so = bnn_session_defaults();
    bnn_session *session;
    BNN_TRY(bnn_session_create(graph, &s, &so, &session, diag));
    const bnn_tensor *y = bnn_session_output(session, index);
    *shape = y->shape;
    bnn_session_destroy(session);
    if (shape->rank < 1)
        return bnn_fail(diag, BNN_ERR_SHAPE, "output '%s' has no batch dimension", out->name);
    shape->dims[0] = x->shape.dims[0];
    return BNN_OK;
}

bnn_status bnn_predict_output_shape(const bnn_graph *graph, const bnn_tensor *x, bnn_shape *shape,
                                    bnn_diag *diag)
{
    return predict_output_shape_at(graph, 0, x, shape, diag);
}

bnn_status predict_batches_open(predict_batches *pb, const bnn_graph *graph, const bnn_tensor *x,
                                const bnn_predict_options *options, bnn_diag *diag)
{
    *pb = (predict_batches){.x = x};
    if (x->shape.rank < 1)
        return bnn_fail(diag, BNN_ERR_SHAPE, "inputs need a first (row) dimension");
    if (options->batch < 1)
        return bnn_fail(diag, BNN_ERR_INVALID, "batch must be at least 1");
    int64_t n = x->shape.dims[0];
    pb->n = n;
    pb->row_bytes = n ? bnn_tensor_nbytes(x) / (size_t)n : 0;
    pb->size[0] = options->batch < n ? options->batch : n;
    pb->size[1] = n % options->batch;
    if (pb->size[1] == pb->size[0])
        pb->size[1] = 0;
    bnn_session_options so = bnn_session_defaults();
    so.seed = options->seed;
    so.threads = options->threads;
    for (int i = 0; i < 2; i++) {
        if (pb->size[i] < 1)
            continue;
        /* every size from the data (an image model with a free height and
         * width takes the images' own) */
        bnn_shape s = x->shape;
        s.dims[0] = pb->size[i];
        BNN_TRY(bnn_session_create(graph, &s, &so, &pb->sessions[i], diag));
    }
    return BNN_OK;
}

bnn_status predict_batches_set(predict_batches *pb, int64_t start, int64_t *rows,
                               bnn_session **session, bnn_diag *diag)
{
    *rows = pb->n - start < pb->size[0] ? pb->n - start : pb->size[0];
    *session = *rows == pb->size[0] ? pb->sessions[0] : pb->sessions[1];
    bnn_tensor view = *pb->x;
    view.shape.dims[0] = *rows;
    view.data = (char *)pb->x->data + (size_t)start * pb->row_bytes;
    view.owns_data = false;
    return bnn_session_set_input(*session, NULL, &view, diag);
}

void predict_batches_close(predict_batches *pb)
{
    bnn_session_destroy(pb->sessions[0]);
    bnn_session_destroy(pb->sessions[1]);
    pb->sessions[0] = pb->sessions[1] = NULL;
}

/* Runs S samples over x batch by batch into out[s][i][0..width) (width
 * values of the model per example; the binary modes write two floats for
 * each, and softmax normalises groups of k). */
static bnn_status predict(const bnn_graph *graph, const bnn_tensor *x,
                          const bnn_predict_options *options, int64_t samples, int64_t width,
                          int64_t k, predict_mode mode, float *out, bnn_diag *diag)
{
    bool binary = mode == PREDICT_BINARY_PROB || mode == PREDICT_BINARY_LOGIT;
    int64_t dst_width = binary ? 2 * width : width;
    predict_batches pb;
    bnn_status st = predict_batches_open(&pb, graph, x, options, diag);
    int64_t n = pb.n;
    for (int64_t start = 0; start < n && st == BNN_OK;) {
        int64_t b;
        bnn_session *s;
        st = predict_batches_set(&pb, start, &b, &s, diag);
        for (int64_t smp = 0; smp < samples && st == BNN_OK; smp++) {
            /* Sample smp draws the same weights for every batch: the whole data
             * set sees one network per sample, as a Bayesian ensemble should. */
            bnn_session_set_step(s, (UINT64_C(1) << 63) | (uint64_t)smp); /* apart from training */
            /* per-row draws follow the row's place in the whole set */
            bnn_session_set_example_offset(s, options->first_row + start);
            st = bnn_session_run(s, diag);
            if (st != BNN_OK)
                break;
            const bnn_tensor *y = bnn_session_output(s, 0);
            if (y->dtype != BNN_F32 || bnn_tensor_numel(y) != b * width) {
                st = bnn_fail(diag, BNN_ERR_SHAPE, "output '%s' is not %lld float32 values per row",
                              bnn_session_output_name(s, 0), (long long)width);
                break;
            }
            float *dst = out + ((size_t)smp * (size_t)n + (size_t)start) * (size_t)dst_width;
            const float *src = y->data;
            if (mode == PREDICT_SOFTMAX) {
                softmax_rows(src, dst, b * (width / k), k);
            } else if (binary) {
                for (int64_t i = 0; i < b * width; i++) {
                    float p = mode == PREDICT_BINARY_LOGIT ? sigmoid(src[i]) : src[i];
                    p = p < 0 ? 0 : p > 1 ? 1 : p; /* NaN stays NaN */
                    dst[2 * i] = 1 - p;
                    dst[2 * i + 1] = p;
                }
            } else {
                memcpy(dst, src, sizeof(float) * (size_t)(b * width));
            }
        }
        start += b;
        if (options->progress)
            options->progress(options->context, start, n);
    }
    predict_batches_close(&pb);
    return st;
}

static bnn_status check_samples(const bnn_graph *graph, const bnn_predict_options *options,
                                int64_t *samples, bnn_diag *diag)
{
    if (graph->n_inputs != 1 || graph->n_outputs < 1)
        return bnn_fail(diag, BNN_ERR_UNSUPPORTED, "prediction needs a model with one input");
    *samples = bnn_graph_is_bayesian(graph) ? options->samples : 1;
    if (options->predictive != BNN_PREDICTIVE_MC) /* logit draws; 1: probit alone */
        *samples = options->samples > 1 ? options->samples : 1;
    if (*samples < 1)
        return bnn_fail(diag, BNN_ERR_INVALID, "samples must be at least 1");
    return BNN_OK;
}

bnn_status bnn_predict_classes(const bnn_graph *graph, const bnn_tensor *x,
                               const bnn_predict_options *options, float *probs,
                               int64_t *samples_out, int64_t *k_out, bnn_diag *diag)
{
    int64_t samples = 0;
    BNN_TRY(check_samples(graph, options, &samples, diag));
    const bnn_value *out = &graph->values[graph->outputs[0]];
    int64_t steps, k;
    bool binary;
    BNN_TRY(bnn_predict_class_layout(graph, options, &steps, &k, &binary, diag));
    if ((binary || steps > 1 || out->shape.rank != 2) && options->predictive != BNN_PREDICTIVE_MC)
        return bnn_fail(diag, BNN_ERR_UNSUPPORTED, "the %s predictive handles [batch, classes] "
                        "softmax classifiers; output '%s' is a %s classifier (use mc)",
                        bnn_predictive_name(options->predictive), out->name,
                        steps > 1 ? "per-step" : "binary");
    *k_out = k;
    if (options->predictive != BNN_PREDICTIVE_MC) /* the logit rule's points */
        samples = bnn_moments_rule_points(options->logits, k, samples);
    *samples_out = samples;
    if (!probs)
        return BNN_OK;
    if (options->predictive != BNN_PREDICTIVE_MC)
        return bnn_predict_moments_classes(graph, x, options, samples, k, probs, diag);
    predict_mode mode = class_mode(graph, options, binary);
    return predict(graph, x, options, samples, steps * (binary ? 1 : k), binary ? 1 : k, mode,
                   probs, diag);
}

bnn_status bnn_predict_outputs(const bnn_graph *graph, const bnn_tensor *x,
                               const bnn_predict_options *options, float *outputs,
                               int64_t *samples_out, int64_t *width_out, bnn_diag *diag)
{
    int64_t samples = 0;
    BNN_TRY(check_samples(graph, options, &samples, diag));
    const bnn_value *out = &graph->values[graph->outputs[0]];
    if (out->shape.rank < 1)
        return bnn_fail(diag, BNN_ERR_SHAPE, "output '%s' has no batch dimension", out->name);
    bnn_shape shape;
    BNN_TRY(bnn_predict_output_shape(graph, x, &shape, diag));
    int64_t width = 1;
    for (int d = 1; d < shape.rank; d++) {
        if (shape.dims[d] && width > INT64_MAX / shape.dims[d])
            return bnn_fail(diag, BNN_ERR_SHAPE, "output '%s' is too large", out->name);
        width *= shape.dims[d];
    }
    *width_out = width;
    *samples_out = options->predictive == BNN_PREDICTIVE_MC ? samples : 2;
    if (!outputs)
        return BNN_OK;
    if (options->predictive != BNN_PREDICTIVE_MC)
        return bnn_predict_moments_outputs(graph, x, options, width, outputs, diag);
    return predict(graph, x, options, samples, width, 1, PREDICT_RAW, outputs, diag);
}
