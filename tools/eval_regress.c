/* bnnc eval for a regressor (eval_regress.h): the model's outputs with S
 * weight samples against real-valued targets, with the noise scale the model
 * carries (bnnc.noise_log_sigma, learned by train --loss gaussian) as the
 * aleatoric part.  Metrics: eval/metrics_regress.c. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bnn_metrics.h"
#include "bnn_npy.h"
#include "bnn_passes.h"
#include "bnn_train.h"
#include "cli.h"
#include "eval_regress.h"

/* Rows [first, first + rows) of path (all of it when rows < 0) as f32. */
static int load_f32(const char *path, int64_t first, int64_t rows, bnn_tensor *out)
{
    bnn_diag diag;
    bnn_tensor raw;
    if ((rows >= 0 ? bnn_npy_read_rows(path, first, rows, &raw, NULL, &diag)
                   : bnn_npy_read_file(path, &raw, &diag)) != BNN_OK)
        return bnnc_report(path, &diag);
    bnn_status st = bnn_tensor_convert(&raw, BNN_F32, out, &diag);
    bnn_tensor_free(&raw);
    if (st != BNN_OK)
        return bnnc_report(path, &diag);
    if (out->shape.rank < 1) {
        fprintf(stderr, "bnnc: %s: a scalar; expected an array with a row per example\n", path);
        bnn_tensor_free(out);
        return BNNC_EXIT_ERROR;
    }
    return BNNC_EXIT_OK;
}

/* One model's predictions of x: the sums of eval/metrics_regress.c (all
 * ranks' together) and each example's epistemic variance in epi[first..]
 * (all n_all of them on every rank) when epi is not NULL. */
static bnn_status measure(const bnn_graph *g, const bnn_tensor *x, const float *y, int64_t first,
                          int64_t n_all, int64_t k, const double *sigma,
                          const bnn_predict_options *po, bnn_comm *comm,
                          bnn_regression_sums *sums, float *epi, int64_t *samples_out,
                          bnn_diag *diag)
{
    memset(sums, 0, sizeof *sums);
    bnn_predict_options o = *po;
    o.first_row = first; /* this rank's rows draw as in the whole set */
    int64_t rows = x->shape.dims[0], samples = 0, width = 0;
    BNN_TRY(bnn_predict_outputs(g, x, &o, NULL, &samples, &width, diag));
    if (width != k)
        return bnn_fail(diag, BNN_ERR_SHAPE, "%lld outputs per example, expected %lld",
                        (long long)width, (long long)k);
    float *f = malloc(sizeof(float) * (size_t)(samples * rows * k) + 1);
    if (!f)
        return bnn_fail(diag, BNN_ERR_NOMEM, "out of memory for %lld x %lld x %lld outputs",
                        (long long)samples, (long long)rows, (long long)k);
    bnn_status st = rows > 0 ? bnn_predict_outputs(g, x, &o, f, &samples, &width, diag) : BNN_OK;
    if (epi)
        memset(epi, 0, sizeof(float) * (size_t)n_all);
    if (st == BNN_OK && rows > 0) {
        /* a y of NULL (out-of-distribution inputs): the spread alone */
        if (y) {
            bnn_regression_add(f, samples, rows, k, y, sigma, o.predictive == BNN_PREDICTIVE_MC,
                               epi ? epi + first : NULL, sums);
        } else {
            for (int64_t i = 0; i < rows; i++) {
                double v = 0;
                for (int64_t j = 0; j < k; j++) {
                    double m = 0, sq = 0;
                    for (int64_t s = 0; s < samples; s++)
                        m += f[(s * rows + i) * k + j] / (double)samples;
                    for (int64_t s = 0; s < samples; s++) {
                        double d = f[(s * rows + i) * k + j] - m;
                        sq += d * d;
                    }
                    v += sq / (double)samples;
                }
                epi[first + i] = (float)v;
                sums->epistemic += v;
            }
            sums->examples += (double)rows;
            sums->elements += (double)(rows * k);
        }
    }
    free(f);
    BNN_TRY(st);
    if (bnn_comm_size(comm) > 1) {
        BNN_TRY(bnn_comm_allreduce_f64(comm, (double *)sums, sizeof *sums / sizeof(double), diag));
        if (epi)
            BNN_TRY(bnn_comm_allreduce_f32(comm, epi, (size_t)n_all, diag));
    }
    *samples_out = samples;
    return BNN_OK;
}

static void json_number(const char *name, double v, bool comma)
{
    if (isfinite(v))
        printf("\"%s\": %.6g%s", name, v, comma ? ", " : "");
    else
        printf("\"%s\": null%s", name, comma ? ", " : "");
}

static void print_json(const bnn_regression_metrics *m, int64_t samples)
{
    json_number("rmse", m->rmse, true);
    json_number("log_likelihood", m->log_likelihood, true);
    json_number("aleatoric_variance", m->aleatoric, true);
    json_number("epistemic_variance", m->epistemic, true);
    json_number("coverage_90", m->coverage90, true);
    json_number("coverage_95", m->coverage95, true);
    printf("\"samples\": %lld", (long long)samples);
}

static void print_text(const char *name, const bnn_regression_metrics *m, int64_t samples)
{
    printf("%-22s RMSE %.4f  log-likelihood ", name, m->rmse);
    if (isfinite(m->log_likelihood))
        printf("%.4f", m->log_likelihood);
    else
        printf("-");
    printf("  variance aleatoric %.4g epistemic %.4g  coverage 90%% %.3f 95%% %.3f  (%lld "
           "sample%s)\n", m->aleatoric, m->epistemic, m->coverage90, m->coverage95,
           (long long)samples, samples == 1 ? "" : "s");
}

int eval_regress(bnn_graph *g, const eval_regress_args *a, bnn_comm *comm)
{
    int rank = bnn_comm_rank(comm), ranks = bnn_comm_size(comm);
    bnn_diag diag = {0};
    bnn_tensor x = {0}, y = {0}, ood_x = {0};
    bnn_graph *mean_graph = NULL;
    bnn_pipeline *pipeline = NULL;
    double *sigma = NULL;
    float *epi_in = NULL, *epi_out = NULL;
    int status = BNNC_EXIT_ERROR;
    int64_t n_all = 0, first = 0, rows = -1;
    if (ranks > 1) {
        bnn_tensor none = {0};
        if (bnn_npy_read_rows(a->xpath, 0, 0, &none, &n_all, &diag) != BNN_OK) {
            bnnc_report(a->xpath, &diag);
            goto done;
        }
        bnn_tensor_free(&none);
        if (a->limit && a->limit < n_all)
            n_all = a->limit;
        bnn_comm_shard(n_all, a->predict.batch, rank, ranks, &first, &rows);
    }
    if (load_f32(a->xpath, first, rows, &x) != BNNC_EXIT_OK ||
        load_f32(a->ypath, first, rows, &y) != BNNC_EXIT_OK)
        goto done;
    if (y.shape.dims[0] != x.shape.dims[0]) {
        fprintf(stderr, "bnnc: %s: %lld rows of targets for the %lld examples of %s\n", a->ypath,
                (long long)y.shape.dims[0], (long long)x.shape.dims[0], a->xpath);
        goto done;
    }
    if (ranks == 1) {
        if (a->limit && a->limit < x.shape.dims[0])
            x.shape.dims[0] = y.shape.dims[0] = a->limit;
        n_all = x.shape.dims[0];
    }
    rows = x.shape.dims[0];
    if (!eval_check_rows(g, &x, a->xpath) || !bnnc_bind_input_dims(g, &x, a->model))
        goto done;
    uint64_t setup[] = {(uint64_t)n_all, (uint64_t)a->predict.samples, (uint64_t)a->predict.batch,
                        (uint64_t)a->predict.seed, (uint64_t)a->predict.predictive,
                        (uint64_t)(a->ood != NULL)};
    if (!bnnc_ranks_agree(comm, "model", bnn_graph_fingerprint(g), a->model) ||
        !bnnc_ranks_agree(comm, "test data or options",
                          bnn_comm_hash(BNN_COMM_HASH_SEED, setup, sizeof setup), a->xpath))
        goto done;
    int64_t samples = 0, k = 0;
    if (bnn_predict_outputs(g, &x, &a->predict, NULL, &samples, &k, &diag) != BNN_OK) {
        bnnc_report(a->model, &diag);
        goto done;
    }
    const bnn_value *out_v = &g->values[g->outputs[0]];
    int64_t per_example = rows > 0 ? bnn_tensor_numel(&y) / rows : 0;
    if (per_example != k || (rows > 0 && bnn_tensor_numel(&y) % rows)) {
        char buf[256];
        fprintf(stderr, "bnnc: %s: targets are %s, %lld values per example; the model's output "
                "'%s' %s has %lld per example\n", a->ypath,
                bnn_shape_format(&y.shape, y.dtype, buf, sizeof buf), (long long)per_example,
                out_v->name, bnn_shape_format(&out_v->shape, out_v->dtype, (char[256]){0}, 256),
                (long long)k);
        goto done;
    }
    const float *t = y.data;
    for (int64_t e = 0; e < bnn_tensor_numel(&y); e++)
        if (!isfinite(t[e])) {
            fprintf(stderr, "bnnc: %s: target %lld of example %lld is %s\n", a->ypath,
                    (long long)(e % k), (long long)(first + e / k),
                    isnan(t[e]) ? "NaN" : "infinite");
            goto done;
        }
    bool noise = bnn_graph_noise_param(g) >= 0;
    sigma = malloc(sizeof(double) * (size_t)k);
    epi_in = malloc(sizeof(float) * (size_t)n_all + 1);
    if (!sigma || !epi_in) {
        fprintf(stderr, "bnnc: out of memory\n");
        goto done;
    }
    if (noise && bnn_graph_noise_sigmas(g, k, sigma, &diag) != BNN_OK) {
        bnnc_report(a->model, &diag);
        goto done;
    }
    bnn_regression_sums bayes_sums, mean_sums, ood_sums;
    int64_t bayes_samples = 0, mean_samples = 0, ood_samples = 0;
    if (measure(g, &x, y.data, first, n_all, k, noise ? sigma : NULL, &a->predict, comm,
                &bayes_sums, epi_in, &bayes_samples, &diag) != BNN_OK) {
        bnnc_report(a->model, &diag);
        goto done;
    }
    bnn_regression_metrics bayes = bnn_regression_finish(&bayes_sums), mean = {0};
    bool have_mean = bnn_graph_is_bayesian(g);
    if (have_mean) {
        bnn_predict_options po = a->predict;
        po.predictive = BNN_PREDICTIVE_MC; /* a deterministic model: one run */
        mean_graph = bnn_graph_clone(g);
        if (!mean_graph || bnn_pipeline_parse("bnn-to-mean", &pipeline, &diag) != BNN_OK ||
            bnn_pipeline_run(pipeline, mean_graph, NULL, &diag) != BNN_OK ||
            measure(mean_graph, &x, y.data, first, n_all, k, noise ? sigma : NULL, &po, comm,
                    &mean_sums, NULL, &mean_samples, &diag) != BNN_OK) {
            bnnc_report(a->model, &diag);
            goto done;
        }
        mean = bnn_regression_finish(&mean_sums);
    }
    double auroc = NAN;
    int64_t ood_n = 0;
    if (a->ood) {
        /* every rank reads the whole set and predicts its own batches */
        if (load_f32(a->ood, 0, -1, &ood_x) != BNNC_EXIT_OK || !eval_check_rows(g, &ood_x, a->ood))
            goto done;
        ood_n = ood_x.shape.dims[0];
        int64_t ood_first, ood_rows;
        bnn_comm_shard(ood_n, a->predict.batch, rank, ranks, &ood_first, &ood_rows);
        bnn_tensor view = ood_x;
        view.owns_data = false;
        view.shape.dims[0] = ood_rows;
        if (ood_n > 0)
            view.data = (char *)ood_x.data + (size_t)ood_first *
                                                 (bnn_tensor_nbytes(&ood_x) / (size_t)ood_n);
        epi_out = malloc(sizeof(float) * (size_t)ood_n + 1);
        if (!epi_out) {
            fprintf(stderr, "bnnc: out of memory\n");
            goto done;
        }
        if (measure(g, &view, NULL, ood_first, ood_n, k, NULL, &a->predict, comm, &ood_sums,
                    epi_out, &ood_samples, &diag) != BNN_OK) {
            bnnc_report(a->ood, &diag);
            goto done;
        }
        /* per example: out-of-distribution inputs should have the larger
         * epistemic variance */
        auroc = bnn_auroc(epi_out, ood_n, epi_in, n_all);
    }
    status = BNNC_EXIT_OK;
    if (rank != 0)
        goto done;
    double ood_epi = ood_n ? ood_sums.epistemic / ood_sums.elements : NAN;
    if (a->json) {
        printf("{\"model\": ");
        bnnc_print_json_string(a->model);
        printf(", \"examples\": %lld, \"task\": \"regress\", \"outputs\": %lld, \"noise_sigma\": ",
               (long long)n_all, (long long)k);
        bnnc_print_json_doubles(noise ? sigma : NULL, k);
        printf(", \"log_likelihood_of\": \"%s\", ",
               noise && a->predict.predictive == BNN_PREDICTIVE_MC ? "mixture" : "gaussian");
        print_json(&bayes, bayes_samples);
        printf(", \"predictive\": \"%s\"", bnn_predictive_name(a->predict.predictive));
        if (have_mean) {
            printf(", \"posterior_mean\": {");
            print_json(&mean, mean_samples);
            printf("}");
        }
        if (a->ood) {
            printf(", \"ood\": {\"source\": ");
            bnnc_print_json_string(a->ood);
            printf(", \"examples\": %lld, ", (long long)ood_n);
            json_number("epistemic_variance", ood_epi, true);
            json_number("auroc_epistemic", auroc, false);
            printf("}");
        }
        printf("}\n");
    } else {
        printf("%s on %lld examples (regressor, %lld output%s):\n", a->model, (long long)n_all,
               (long long)k, k == 1 ? "" : "s");
        if (noise) {
            printf("noise scale %s: sigma", BNN_NOISE_PARAM);
            for (int64_t j = 0; j < k && j < 6; j++)
                printf("%s %.4g", j ? "," : "", sigma[j]);
            printf("%s; log-likelihood of the %s\n", k > 6 ? ", ..." : "",
                   a->predict.predictive == BNN_PREDICTIVE_MC
                       ? "S-sample mixture of N(f_s, sigma^2)"
                       : "Gaussian N(mean, epistemic + sigma^2)");
        } else {
            printf("no noise scale (%s; train --loss gaussian learns one): aleatoric variance "
                   "0, log-likelihood and intervals from the epistemic variance alone\n",
                   BNN_NOISE_PARAM);
        }
        print_text(have_mean ? "Bayesian (mean of S)" : "model", &bayes, bayes_samples);
        if (have_mean)
            print_text("posterior-mean model", &mean, mean_samples);
        if (a->ood)
            printf("OOD (%s, %lld examples): mean epistemic variance %.4g (test set %.4g), "
                   "AUROC of epistemic variance %.4f\n", a->ood, (long long)ood_n, ood_epi,
                   bayes.epistemic, auroc);
    }
done:
    bnn_pipeline_destroy(pipeline);
    bnn_graph_destroy(mean_graph);
    bnn_tensor_free(&x);
    bnn_tensor_free(&y);
    bnn_tensor_free(&ood_x);
    free(sigma);
    free(epi_in);
    free(epi_out);
    return status;
}
