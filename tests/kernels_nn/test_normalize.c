/* instance_norm, group_norm, mean_variance_norm and lrn against plain double
 * references written from ONNX's definitions, forward and backward (by
 * central differences, for x and for scale and bias). */
#include <criterion/criterion.h>
#include <math.h>
#include <string.h>

#include "harness.h"

/* (x - mean) / sqrt(var + eps) * scale + bias over each (n, group) block;
 * instance_norm is a group per channel. */
static void ref_group(const kn_case *c, const double *const *in, double *out)
{
    const bnn_node *nd = bnn_graph_node(c->graph, c->node_id);
    const bnn_shape *x = &c->inputs[0].shape;
    int64_t N = x->dims[0], C = x->dims[1], inner = 1;
    for (int d = 2; d < x->rank; d++)
        inner *= x->dims[d];
    int64_t G = c->op == BNN_OP_GROUP_NORM ? bnn_node_int(nd, "num_groups", 0) : C;
    double eps = bnn_node_float(nd, "epsilon", 1e-5f);
    bool per_group = bnn_tensor_numel(&c->inputs[1]) != C;
    int64_t cg = C / G, m = cg * inner;
    for (int64_t n = 0; n < N; n++)
        for (int64_t g = 0; g < G; g++) {
            const double *xs = in[0] + (n * C + g * cg) * inner;
            double mean = 0, var = 0;
            for (int64_t i = 0; i < m; i++)
                mean += xs[i] / (double)m;
            for (int64_t i = 0; i < m; i++)
                var += (xs[i] - mean) * (xs[i] - mean) / (double)m;
            for (int64_t i = 0; i < m; i++) {
                int64_t ch = g * cg + i / inner, a = per_group ? g : ch;
                out[(n * C + g * cg) * inner + i] =
                    (xs[i] - mean) / sqrt(var + eps) * in[1][a] + in[2][a];
            }
        }
}

/* (x - mean) / (sqrt(var) + 1e-9) over `axes` (default 0, 2, 3). */
static void ref_mvn(const kn_case *c, const double *const *in, double *out)
{
    const bnn_node *nd = bnn_graph_node(c->graph, c->node_id);
    const bnn_shape *x = &c->inputs[0].shape;
    const int64_t *axes;
    int na = bnn_node_ints(nd, "axes", &axes);
    static const int64_t defaults[3] = {0, 2, 3};
    if (!bnn_node_attr(nd, "axes"))
        axes = defaults, na = 3;
    bool red[BNN_MAX_RANK] = {false};
    for (int i = 0; i < na; i++)
        red[axes[i] < 0 ? axes[i] + x->rank : axes[i]] = true;
    int64_t total = bnn_shape_numel(x);
    /* for each element: the elements sharing its kept coordinates */
    for (int64_t e = 0; e < total; e++) {
        double mean = 0, var = 0, count = 0;
        for (int pass = 0; pass < 2; pass++) {
            for (int64_t f = 0; f < total; f++) {
                bool same = true;
                int64_t a = e, b = f;
                for (int d = x->rank - 1; d >= 0; d--) {
                    if (!red[d] && a % x->dims[d] != b % x->dims[d])
                        same = false;
                    a /= x->dims[d];
                    b /= x->dims[d];
                }
                if (!same)
                    continue;
                if (pass == 0) {
                    mean += in[0][f];
                    count++;
                } else {
                    var += (in[0][f] - mean) * (in[0][f] - mean) / count;
                }
            }
            if (pass == 0)
                mean /= count;
        }
        out[e] = (in[0][e] - mean) / (sqrt(var) + 1e-9);
    }
}

static void ref_lrn(const kn_case *c, const double *const *in, double *out)
{
    const bnn_node *nd = bnn_graph_node(c->graph, c->node_id);
    const bnn_shape *x = &c->inputs[0].shape;
    int64_t N = x->dims[0], C = x->dims[1], inner = bnn_shape_numel(x) / (N * C);
    int64_t size = bnn_node_int(nd, "size", 0);
    double alpha = bnn_node_float(nd, "alpha", 1e-4f), beta = bnn_node_float(nd, "beta", 0.75f),
           bias = bnn_node_float(nd, "bias", 1.0f);
    int64_t lo_off = (int64_t)floor((double)(size - 1) / 2), hi_off = (int64_t)ceil((double)(size - 1) / 2);
    for (int64_t n = 0; n < N; n++)
        for (int64_t ch = 0; ch < C; ch++)
            for (int64_t i = 0; i < inner; i++) {
                double s = 0;
                for (int64_t k = ch - lo_off; k <= ch + hi_off; k++)
                    if (k >= 0 && k < C)
                        s += pow(in[0][(n * C + k) * inner + i], 2);
                int64_t e = (n * C + ch) * inner + i;
                out[e] = in[0][e] / pow(bias + alpha / (double)size * s, beta);
            }
}

static kn_case *norm_case(bnn_op op, bnn_shape x, int64_t affine, uint64_t seed)
{
    bnn_shape in[3] = {x, KN_SHAPE(affine), KN_SHAPE(affine)};
    return kn_create(op, BNN_F32, affine ? 3 : 1, in, &x, seed);
}

Test(normalize, instance_norm)
{
    kn_case *c = norm_case(BNN_OP_INSTANCE_NORM, KN_SHAPE(2, 3, 4, 5), 3, 1);
    kn_check_forward(c, ref_group, 1e-5);
    kn_destroy(c);
    c = norm_case(BNN_OP_INSTANCE_NORM, KN_SHAPE(2, 3, 7), 3, 2);
    kn_set_float(c, "epsilon", 1e-2f);
    kn_check_forward(c, ref_group, 1e-5);
    kn_destroy(c);
    c = norm_case(BNN_OP_INSTANCE_NORM, KN_SHAPE(2, 2, 3, 2), 2, 3);
    kn_check_backward(c, ref_group, 1e-3, 0);
    kn_destroy(c);
}

/* opset 21's per-channel scale and bias, and opset 18's per-group ones */
Test(normalize, group_norm_per_channel_and_per_group)
{
    for (int per_group = 0; per_group < 2; per_group++) {
        kn_case *c = norm_case(BNN_OP_GROUP_NORM, KN_SHAPE(2, 6, 3, 2), per_group ? 3 : 6, 4);
        kn_set_int(c, "num_groups", 3);
        kn_check_forward(c, ref_group, 1e-5);
        kn_destroy(c);
        c = norm_case(BNN_OP_GROUP_NORM, KN_SHAPE(2, 4, 3), per_group ? 2 : 4, 5);
        kn_set_int(c, "num_groups", 2);
        kn_set_float(c, "epsilon", 1e-3f);
        kn_check_backward(c, ref_group, 1e-3, 0);
        kn_destroy(c);
    }
}

Test(normalize, mean_variance_norm)
{
    kn_case *c = norm_case(BNN_OP_MEAN_VARIANCE_NORM, KN_SHAPE(2, 3, 2, 3), 0, 6);
    kn_check_forward(c, ref_mvn, 1e-5);
    kn_destroy(c);
    c = norm_case(BNN_OP_MEAN_VARIANCE_NORM, KN_SHAPE(2, 3, 4), 0, 7);
    KN_SET_INTS(c, "axes", -1);
    kn_check_forward(c, ref_mvn, 1e-5);
    kn_destroy(c);
    c = norm_case(BNN_OP_MEAN_VARIANCE_NORM, KN_SHAPE(2, 3, 2, 2), 0, 8);
    kn_check_backward(c, ref_mvn, 1e-3, 0);
    kn_destroy(c);
    c = norm_case(BNN_OP_MEAN_VARIANCE_NORM, KN_SHAPE(3, 2, 4), 0, 9);
    KN_SET_INTS(c, "axes", 0, 2);
    kn_check_backward(c, ref_mvn, 1e-3, 0);
    kn_destroy(c);
}

Test(normalize, lrn)
{
    static const int64_t sizes[] = {1, 2, 3, 5};
    for (int i = 0; i < 4; i++) {
        kn_case *c = norm_case(BNN_OP_LRN, KN_SHAPE(2, 5, 2, 3), 0, 10 + (uint64_t)i);
        kn_set_int(c, "size", sizes[i]);
        if (i % 2) {
            kn_set_float(c, "alpha", 0.3f);
            kn_set_float(c, "beta", 0.6f);
            kn_set_float(c, "bias", 2.0f);
        }
        kn_check_forward(c, ref_lrn, 1e-5);
        kn_destroy(c);
        c = norm_case(BNN_OP_LRN, KN_SHAPE(1, 4, 3), 0, 20 + (uint64_t)i);
        kn_set_int(c, "size", sizes[i]);
        kn_set_float(c, "alpha", 0.5f);
        kn_check_backward(c, ref_lrn, 1e-3, 0);
        kn_destroy(c);
    }
}

Test(normalize, mismatched_scale_names_the_node)
{
    kn_case *c = norm_case(BNN_OP_GROUP_NORM, KN_SHAPE(1, 6, 2), 4, 1);
    kn_set_int(c, "num_groups", 3);
    bnn_diag diag = {0};
    cr_assert_eq(kn_forward(c, &diag), BNN_ERR_SHAPE);
    cr_assert(strstr(diag.message, "n0") && strstr(diag.message, "per group"), "%s", diag.message);
    kn_destroy(c);
}
