/* param_diff A.onnx B.onnx TOL [--adam-outliers N ABS]: the largest
 * difference between the params of two models of the same graph, relative
 * to each tensor's largest magnitude; exits 0 when it is at most TOL, 1
 * otherwise or when the models' params differ in name or shape.  For
 * tests/dist: K ranks against one.
 *
 * --adam-outliers N ABS: elements beyond TOL are allowed too, at most N of
 * them in the whole model, each within ABS of the other model's.  Adam's
 * step lr * g / (|g| + eps) is steep where a gradient sums to within a few
 * eps of zero (a data-loss gradient and the KL's nearly cancelling): the
 * rounding of the sum's order then moves that element by a fraction of lr
 * (docs/distributed.md, "Reproducible for any K").
 *
 * With PARAM_DIFF_SHOW set, each param's line: its largest relative
 * difference, where, both values, and how many elements differ by more than
 * TOL relative. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bnn_onnx.h"

int main(int argc, char **argv)
{
    long max_outliers = 0;
    double outlier_abs = 0;
    if (argc == 7 && !strcmp(argv[4], "--adam-outliers")) {
        max_outliers = atol(argv[5]);
        outlier_abs = atof(argv[6]);
    } else if (argc != 4) {
        fprintf(stderr, "usage: param_diff A.onnx B.onnx TOL [--adam-outliers N ABS]\n");
        return 2;
    }
    double tol = atof(argv[3]);
    bnn_graph *a = NULL, *b = NULL;
    bnn_diag diag;
    if (bnn_onnx_import_file(argv[1], NULL, &a, &diag) != BNN_OK ||
        bnn_onnx_import_file(argv[2], NULL, &b, &diag) != BNN_OK) {
        fprintf(stderr, "param_diff: %s\n", diag.message);
        bnn_graph_destroy(a);
        return 2;
    }
    int status = 0, compared = 0;
    double worst = 0, worst_outlier = 0;
    long outliers = 0;
    const char *worst_name = "";
    for (int v = 0; v < a->n_values; v++) {
        const bnn_value *pa = &a->values[v];
        if (pa->kind != BNN_VALUE_PARAM || pa->dtype != BNN_F32)
            continue;
        int w = bnn_graph_find_value(b, pa->name);
        if (w < 0 || b->values[w].nbytes != pa->nbytes) {
            fprintf(stderr, "param_diff: '%s' is missing or shaped differently in %s\n",
                    pa->name, argv[2]);
            status = 1;
            continue;
        }
        const float *x = pa->data, *y = b->values[w].data;
        size_t n = pa->nbytes / sizeof(float);
        double scale = 1e-30, diff = 0;
        size_t at = 0, over = 0;
        for (size_t i = 0; i < n; i++)
            scale = fmax(scale, fabs(x[i]));
        for (size_t i = 0; i < n; i++) {
            double d = fabs((double)x[i] - y[i]);
            if (d > tol * scale) {
                over++;
                worst_outlier = fmax(worst_outlier, d);
                continue;
            }
            if (d > diff) {
                diff = d;
                at = i;
            }
        }
        if (getenv("PARAM_DIFF_SHOW"))
            printf("%s: %.3g at [%zu] (%.9g, %.9g), %zu of %zu over %g\n", pa->name,
                   diff / scale, at, x[at], y[at], over, n, tol);
        if (!(diff / scale <= worst)) {
            worst = diff / scale;
            worst_name = pa->name;
        }
        outliers += (long)over;
        compared++;
    }
    /* the largest difference within TOL, then the elements beyond it */
    printf("%d params, largest relative difference %.3g (%s)", compared, worst, worst_name);
    if (outliers)
        printf("; %ld element%s beyond %g, up to %.3g absolute", outliers,
               outliers == 1 ? "" : "s", tol, worst_outlier);
    printf("\n");
    if (outliers > max_outliers || (outliers > 0 && !(worst_outlier <= outlier_abs)) ||
        compared == 0)
        status = 1;
    bnn_graph_destroy(a);
    bnn_graph_destroy(b);
    return status;
}
