/* The sampling-free predictives: one run of the bnn-to-moments graph (or its
 * GLM form) gives each output's mean and variance; a classifier's
 * probabilities come from the logits' Gaussian (see bnn_predict.h and
 * docs/uncertainty.md). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "bnn_passes.h"
#include "bnn_predict.h"
#include "bnn_runtime.h"
#include "predict_impl.h"
#include "rng.h"

static const char *const predictive_names[] = {
    [BNN_PREDICTIVE_MC] = "mc", [BNN_PREDICTIVE_MOMENTS] = "moments", [BNN_PREDICTIVE_GLM] = "glm"};

bool bnn_predictive_from_name(const char *name, bnn_predictive *out)
{
    for (int i = 0; i < 3; i++)
        if (strcmp(name, predictive_names[i]) == 0) {
            *out = (bnn_predictive)i;
            return true;
        }
    return false;
}

const char *bnn_predictive_name(bnn_predictive p)
{
    return (unsigned)p < 3 ? predictive_names[p] : "?";
}

bnn_status bnn_moments_graph(const bnn_graph *graph, bnn_predictive predictive, bool classifier,
                             bnn_graph **out, bnn_diag *diag)
{
    *out = NULL;
    bnn_graph *g = bnn_graph_clone(graph);
    if (!g)
        return bnn_fail(diag, BNN_ERR_NOMEM, "out of memory copying the graph");
    char pipeline[120];
    snprintf(pipeline, sizeof pipeline, "bnn-to-moments{mode=%s link=%s covariance=%d}",
             predictive == BNN_PREDICTIVE_GLM ? "glm" : "moments", classifier ? "probit" : "auto",
             classifier ? 1 : 0);
    bnn_status st = bnn_passes_run_text(pipeline, g, diag);
    if (st != BNN_OK) {
        bnn_graph_destroy(g);
        return st;
    }
    *out = g;
    return BNN_OK;
}

/* softmax(m / sqrt(1 + pi/8 v)) of one row. */
static void probit_row(const float *m, const float *v, int64_t k, float *p)
{
    double z[1024], max = -INFINITY, sum = 0;
    double *zs = k <= 1024 ? z : malloc(sizeof(double) * (size_t)k);
    if (!zs) { /* cannot happen for any real classifier; keep going exactly */
        for (int64_t j = 0; j < k; j++)
            p[j] = (float)(1.0 / (double)k);
        return;
    }
    for (int64_t j = 0; j < k; j++) {
        zs[j] = m[j] / sqrt(1.0 + M_PI / 8.0 * (v[j] > 0 ? v[j] : 0));
        max = zs[j] > max ? zs[j] : max;
    }
    for (int64_t j = 0; j < k; j++)
        sum += exp(zs[j] - max);
    for (int64_t j = 0; j < k; j++)
        p[j] = (float)(exp(zs[j] - max) / sum);
    if (zs != z)
        free(zs);
}

/* Runs the moment graph g over x and copies outputs first .. first+count-1
 * into dst[c] (n x widths[c] floats; NULL: skip). */
static bnn_status run_moments(const bnn_graph *g, const bnn_tensor *x,
                              const bnn_predict_options *options, int first, int count,
                              const int64_t *widths, float *const *dst, bnn_diag *diag)
{
    predict_batches pb;
    bnn_status st = predict_batches_open(&pb, g, x, options, diag);
    int64_t n = pb.n;
    for (int64_t start = 0; start < n && st == BNN_OK;) {
        int64_t rows;
        bnn_session *s;
        st = predict_batches_set(&pb, start, &rows, &s, diag);
        if (st == BNN_OK)
            st = bnn_session_run(s, diag);
        for (int c = 0; c < count && st == BNN_OK; c++) {
            const bnn_tensor *y = bnn_session_output(s, first + c);
            if (y->dtype != BNN_F32 || bnn_tensor_numel(y) != rows * widths[c]) {
                st = bnn_fail(diag, BNN_ERR_SHAPE, "moment output '%s' is not %lld float32 "
                              "values per row", bnn_session_output_name(s, first + c),
                              (long long)widths[c]);
                break;
            }
            if (dst[c])
                memcpy(dst[c] + start * widths[c], y->data,
                       sizeof(float) * (size_t)(rows * widths[c]));
        }
        start += rows;
        if (options->progress)
            options->progress(options->context, start, n);
    }
    predict_batches_close(&pb);
    return st;
}

/* Values per row of output `index` of the moment graph g on x's rows (a
 * dim shape inference left open is read from a plan for x's first row). */
static bnn_status output_width(const bnn_graph *g, int index, const bnn_tensor *x,
                               int64_t *width, bnn_diag *diag)
{
    bnn_shape shape;
    BNN_TRY(predict_output_shape_at(g, index, x, &shape, diag));
    int64_t w = 1;
    for (int d = 1; d < shape.rank; d++)
        w *= shape.dims[d];
    *width = w;
    return BNN_OK;
}

/* The moment graph's logits covariance output, if any: index 3 of a
 * classifier's (probs, logits, logits_var, logits_cov), [batch, k, k]. */
static bool has_covariance(const bnn_graph *g, int64_t k)
{
    if (g->n_outputs < 4)
        return false;
    const bnn_value *c = &g->values[g->outputs[3]];
    return c->shape.rank == 3 && c->shape.dims[1] == k && c->shape.dims[2] == k;
}

bnn_status bnn_predict_moments(const bnn_graph *graph, const bnn_tensor *x,
                               const bnn_predict_options *options, bool classifier, float *probs,
                               float *mean, float *var, int64_t *width_out, bnn_diag *diag)
{
    if (graph->n_inputs != 1 || graph->n_outputs < 1)
        return bnn_fail(diag, BNN_ERR_UNSUPPORTED, "prediction needs a model with one input");
    bnn_graph *g = NULL;
    BNN_TRY(bnn_moments_graph(graph, options->predictive, classifier, &g, diag));
    /* classifier: (probs, logits, logits_var[, logits_cov]); regressor: (mean, ..., var) */
    int first = classifier ? 1 : 0;
    int64_t width = 0;
    bnn_status st = output_width(g, first, x, &width, diag);
    if (st == BNN_OK)
        *width_out = width;
    float *m = mean, *v = var;
    bool want = probs || mean || var;
    if (st == BNN_OK && want && classifier && probs && (!m || !v)) {
        int64_t n = x->shape.rank >= 1 ? x->shape.dims[0] : 0;
        m = mean ? mean : malloc(sizeof(float) * (size_t)(n * width) + 1);
        v = var ? var : malloc(sizeof(float) * (size_t)(n * width) + 1);
        if (!m || !v)
            st = bnn_fail(diag, BNN_ERR_NOMEM, "out of memory for the logits' moments");
    }
    if (st == BNN_OK && want) {
        /* A regressor's variance is the output after all the means. */
        int n_means = classifier ? 1 : g->n_outputs / 2;
        int64_t widths[2] = {width, width};
        float *dst[2] = {m, v};
        if (classifier || n_means == 1)
            st = run_moments(g, x, options, first, 2, widths, dst, diag);
        else
            st = bnn_fail(diag, BNN_ERR_UNSUPPORTED,
                          "the moment predictive of a regressor handles one output");
    }
    if (st == BNN_OK && probs)
        st = bnn_moments_class_probs(m, v, NULL, x->shape.dims[0], 0, width, BNN_LOGITS_PROBIT, 1,
                                     0, probs, diag);
    if (m != mean)
        free(m);
    if (v != var)
        free(v);
    bnn_graph_destroy(g);
    return st;
}

static const char *const rule_names[] = {
    [BNN_LOGITS_SIGMA] = "sigma", [BNN_LOGITS_DRAWS] = "draws", [BNN_LOGITS_PROBIT] = "probit"};

bool bnn_logit_rule_from_name(const char *name, bnn_logit_rule *out)
{
    for (int i = 0; i < 3; i++)
        if (strcmp(name, rule_names[i]) == 0) {
            *out = (bnn_logit_rule)i;
            return true;
        }
    return false;
}

const char *bnn_logit_rule_name(bnn_logit_rule rule)
{
    return (unsigned)rule < 3 ? rule_names[rule] : "?";
}

int64_t bnn_moments_rule_points(bnn_logit_rule rule, int64_t k, int64_t samples)
{
    if (rule == BNN_LOGITS_SIGMA)
        return 2 * k;
    if (rule == BNN_LOGITS_DRAWS && samples > 1)
        return samples;
    return 1;
}

/* Lower-triangular L with L L^T = C (k x k, row-major), by Cholesky; a
 * covariance that is not numerically positive definite (float rounding of
 * a rank-deficient sum) gets a jitter of 1e-6 of its largest diagonal on
 * the failing pivot, so the result is always usable. */
static void cholesky(const float *c, int64_t k, double *l)
{
    double largest = 0;
    for (int64_t i = 0; i < k; i++)
        largest = c[i * k + i] > largest ? c[i * k + i] : largest;
    double jitter = 1e-6 * largest + 1e-30;
    for (int64_t j = 0; j < k; j++) {
        double d = c[j * k + j];
        for (int64_t p = 0; p < j; p++)
            d -= l[j * k + p] * l[j * k + p];
        d = d > jitter ? sqrt(d) : sqrt(jitter);
        l[j * k + j] = d;
        for (int64_t i = j + 1; i < k; i++) {
            double e = 0.5 * (c[i * k + j] + c[j * k + i]);
            for (int64_t p = 0; p < j; p++)
                e -= l[i * k + p] * l[j * k + p];
            l[i * k + j] = e / d;
        }
        for (int64_t i = 0; i < j; i++)
            l[i * k + j] = 0;
    }
}

static void softmax_into(const double *z, int64_t k, float *p)
{
    double max = -INFINITY, sum = 0;
    for (int64_t j = 0; j < k; j++)
        max = z[j] > max ? z[j] : max;
    for (int64_t j = 0; j < k; j++)
        sum += exp(z[j] - max);
    for (int64_t j = 0; j < k; j++)
        p[j] = (float)(exp(z[j] - max) / sum);
}

/* The 2k sigma points of row i into probs (point p at probs + p n k). */
static void sigma_points(const float *m, const double *l, int64_t i, int64_t n, int64_t k,
                         double *z, float *probs)
{
    double scale = sqrt((double)k);
    for (int64_t col = 0; col < k; col++)
        for (int sign = 0; sign < 2; sign++) {
            for (int64_t j = 0; j < k; j++)
                z[j] = m[j] + (sign ? -scale : scale) * l[j * k + col];
            int64_t p = 2 * col + sign;
            softmax_into(z, k, probs + ((size_t)p * (size_t)n + (size_t)i) * (size_t)k);
        }
}

bnn_status bnn_moments_class_probs(const float *mean, const float *var, const float *cov,
                                   int64_t n, int64_t first_row, int64_t k, bnn_logit_rule rule,
                                   int64_t samples, uint64_t seed, float *probs, bnn_diag *diag)
{
    int64_t points = bnn_moments_rule_points(rule, k, samples);
    if (points == 1) {
        for (int64_t i = 0; i < n; i++)
            probit_row(mean + i * k, var + i * k, k, probs + i * k);
        return BNN_OK;
    }
    double *l = malloc(sizeof(double) * (size_t)(k * k + 2 * k));
    float *eps = rule == BNN_LOGITS_DRAWS ? malloc(sizeof(float) * (size_t)(n * k) + 1) : NULL;
    if (!l || (rule == BNN_LOGITS_DRAWS && !eps)) {
        free(l);
        free(eps);
        return bnn_fail(diag, BNN_ERR_NOMEM, "out of memory for the logits' Gaussian");
    }
    double *z = l + k * k;
    if (rule == BNN_LOGITS_SIGMA) {
        for (int64_t i = 0; i < n; i++) {
            const float *v = var + i * k;
            if (cov) {
                cholesky(cov + i * k * k, k, l);
            } else {
                memset(l, 0, sizeof(double) * (size_t)(k * k));
                for (int64_t j = 0; j < k; j++)
                    l[j * k + j] = sqrt(v[j] > 0 ? v[j] : 0);
            }
            sigma_points(mean + i * k, l, i, n, k, z, probs);
        }
    } else {
        /* Draw s of row i, class j uses normal number ((first_row + i)*k + j)
         * of stream step s: results do not depend on the batch size, the
         * thread count or how rows are shared among ranks. */
        for (int64_t s = 0; s < points; s++) {
            bnn_rng_stream stream = bnn_rng_stream_make(seed, 1, BNN_RNG_PURPOSE_DATA,
                                                        (uint64_t)s);
            bnn_rng_normal(&stream, (uint64_t)(first_row > 0 ? first_row : 0) * (uint64_t)k,
                           (size_t)(n * k), eps);
            for (int64_t i = 0; i < n; i++) {
                const float *e = eps + i * k, *v = var + i * k, *m = mean + i * k;
                if (cov)
                    cholesky(cov + i * k * k, k, l); /* z = m + L e */
                for (int64_t j = 0; j < k; j++) {
                    double d = m[j];
                    if (cov)
                        for (int64_t p = 0; p <= j; p++)
                            d += l[j * k + p] * e[p];
                    else
                        d += sqrt(v[j] > 0 ? v[j] : 0) * e[j];
                    z[j] = d;
                }
                softmax_into(z, k, probs + ((size_t)s * (size_t)n + (size_t)i) * (size_t)k);
            }
        }
    }
    free(l);
    free(eps);
    return BNN_OK;
}

bnn_status bnn_predict_moments_classes(const bnn_graph *graph, const bnn_tensor *x,
                                       const bnn_predict_options *options, int64_t samples,
                                       int64_t k, float *probs, bnn_diag *diag)
{
    if (graph->n_inputs != 1 || graph->n_outputs < 1)
        return bnn_fail(diag, BNN_ERR_UNSUPPORTED, "prediction needs a model with one input");
    int64_t n = x->shape.rank >= 1 ? x->shape.dims[0] : 0, width = 0;
    bnn_graph *g = NULL;
    BNN_TRY(bnn_moments_graph(graph, options->predictive, true, &g, diag));
    bnn_status st = output_width(g, 1, x, &width, diag);
    if (st == BNN_OK && width != k)
        st = bnn_fail(diag, BNN_ERR_SHAPE, "the moment graph gives %lld logits, not %lld",
                      (long long)width, (long long)k);
    bool full = st == BNN_OK && options->logits != BNN_LOGITS_PROBIT && has_covariance(g, k);
    float *m = malloc(sizeof(float) * (size_t)(n * k) + 1);
    float *v = malloc(sizeof(float) * (size_t)(n * k) + 1);
    float *c = full ? malloc(sizeof(float) * (size_t)(n * k * k) + 1) : NULL;
    if (st == BNN_OK && (!m || !v || (full && !c)))
        st = bnn_fail(diag, BNN_ERR_NOMEM, "out of memory for the logits' moments");
    if (st == BNN_OK) {
        int64_t widths[3] = {k, k, k * k};
        float *dst[3] = {m, v, c};
        st = run_moments(g, x, options, 1, full ? 3 : 2, widths, dst, diag);
    }
    if (st == BNN_OK)
        st = bnn_moments_class_probs(m, v, c, n, options->first_row, k, options->logits, samples,
                                     options->seed, probs, diag);
    free(m);
    free(v);
    free(c);
    bnn_graph_destroy(g);
    return st;
}

bnn_status bnn_predict_moments_outputs(const bnn_graph *graph, const bnn_tensor *x,
                                       const bnn_predict_options *options, int64_t width,
                                       float *outputs, bnn_diag *diag)
{
    int64_t n = x->shape.rank >= 1 ? x->shape.dims[0] : 0, w = 0;
    float *m = malloc(sizeof(float) * (size_t)(n * width) + 1);
    float *v = malloc(sizeof(float) * (size_t)(n * width) + 1);
    bnn_status st = BNN_OK;
    if (!m || !v)
        st = bnn_fail(diag, BNN_ERR_NOMEM, "out of memory for the outputs' moments");
    if (st == BNN_OK)
        st = bnn_predict_moments(graph, x, options, false, NULL, m, v, &w, diag);
    if (st == BNN_OK && w != width)
        st = bnn_fail(diag, BNN_ERR_SHAPE, "the moment graph gives %lld values per row, not %lld",
                      (long long)w, (long long)width);
    for (int64_t e = 0; st == BNN_OK && e < n * width; e++) {
        double sd = sqrt(v[e] > 0 ? v[e] : 0);
        outputs[e] = (float)(m[e] - sd);
        outputs[n * width + e] = (float)(m[e] + sd);
    }
    free(m);
    free(v);
    return st;
}
