/* param_diff A.onnx B.onnx TOL: the largest difference between the params
 * of two models of the same graph, relative to each tensor's largest
 * magnitude; exits 0 when it is at most TOL, 1 otherwise or when the models'
 * params differ in name or shape.  For tests/dist: K ranks against one. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bnn_onnx.h"

int main(int argc, char **argv)
{
    if (argc != 4) {
        fprintf(stderr, "usage: param_diff A.onnx B.onnx TOL\n");
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
    double worst = 0;
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
        for (size_t i = 0; i < n; i++) {
            scale = fmax(scale, fabs(x[i]));
            diff = fmax(diff, fabs((double)x[i] - y[i]));
        }
        if (!(diff / scale <= worst)) {
            worst = diff / scale;
            worst_name = pa->name;
        }
        compared++;
    }
    printf("%d params, largest relative difference %.3g (%s)\n", compared, worst, worst_name);
    if (!(worst <= tol) || compared == 0)
        status = 1;
    bnn_graph_destroy(a);
    bnn_graph_destroy(b);
    return status;
}
