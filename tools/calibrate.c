/* Temperature calibration of a classifier's predictive on held-out data
 * (docs/uncertainty.md, "Calibration"). */
#include <stdlib.h>

#include "bnn_metrics.h"
#include "bnn_passes.h"
#include "bnn_predict.h"
#include "calibrate.h"

bnn_status bnnc_calibrate_temperature(bnn_graph *graph, const bnn_tensor *x,
                                      const int64_t *labels, int64_t samples, int64_t batch,
                                      uint64_t seed, int threads, int predictive,
                                      bnnc_calibration *result, bnn_diag *diag)
{
    BNN_TRY(bnn_graph_get_temperature(graph, &result->previous_temperature));
    if (result->previous_temperature != 1.0)
        BNN_TRY(bnn_graph_set_temperature(graph, 1.0, diag));
    bnn_predict_options po = bnn_predict_defaults();
    po.samples = samples;
    po.batch = batch;
    po.seed = seed;
    po.threads = threads;
    po.predictive = (bnn_predictive)predictive;
    int64_t s, k, n = x->shape.dims[0];
    BNN_TRY(bnn_predict_classes(graph, x, &po, NULL, &s, &k, diag));
    float *probs = malloc(sizeof(float) * (size_t)(s * n * k));
    if (!probs)
        return bnn_fail(diag, BNN_ERR_NOMEM, "out of memory for %lld x %lld x %lld probabilities",
                        (long long)s, (long long)n, (long long)k);
    bnn_status st = bnn_predict_classes(graph, x, &po, probs, &s, &k, diag);
    if (st == BNN_OK) {
        result->samples = s;
        result->examples = n;
        result->nll_before = bnn_tempered_nll(probs, labels, s, n, k,
                                              result->previous_temperature);
        result->temperature = bnn_fit_temperature(probs, labels, s, n, k);
        result->nll_after = bnn_tempered_nll(probs, labels, s, n, k, result->temperature);
        st = bnn_graph_set_temperature(graph, result->temperature, diag);
    }
    free(probs);
    return st;
}
