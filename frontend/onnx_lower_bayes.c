/* ONNX op -> IR op for the Bayesian layers of domain ai.bnnc
 * (runtime/kernels/bayes.c): DenseReparam, ConvReparam and
 * ConvTransposeReparam, whose mu and rho initializers become trainable
 * params (the optional prior means after them stay constants), and
 * WeightReparam(mu, rho, prior?), a weight sampled on its own (an LSTM's
 * W, R or B); ConvReparam reads Conv's window attributes (onnx_lower_conv.c),
 * ConvTransposeReparam ConvTranspose's (onnx_lower_conv_transpose.c).
 * Registered in the table of onnx_lower.c.
 */
#include "onnx_impl.h"

/* The scale-mixture prior's prior_pi and prior_sigma2, when given. */
static bnn_status mixture_attrs(onnx_ctx *c, int nid)
{
    float pi, sigma2;
    BNN_TRY(onnx_attr_float(c, "prior_pi", -1.0f, &pi));
    BNN_TRY(onnx_attr_float(c, "prior_sigma2", -1.0f, &sigma2));
    if (pi != -1.0f)
        BNN_TRY(onnx_set_float(c, nid, "prior_pi", pi));
    if (sigma2 != -1.0f)
        BNN_TRY(onnx_set_float(c, nid, "prior_sigma2", sigma2));
    return BNN_OK;
}

static bnn_status reparam(onnx_ctx *c, bnn_op op)
{
    int in[7], nid;
    BNN_TRY(onnx_need_input(c, 0, &in[0]));
    BNN_TRY(onnx_need_input(c, 1, &in[1]));
    BNN_TRY(onnx_need_input(c, 2, &in[2]));
    for (int i = 3; i < 7; i++)
        in[i] = onnx_input(c, i);
    if ((in[3] < 0) != (in[4] < 0))
        return onnx_node_fail(c, BNN_ERR_INVALID, "bias_mu and bias_rho must come together");
    /* inputs 5 and 6, the prior's means, are constants: not trained */
    for (int i = 1; i < 7; i++) {
        if (in[i] < 0)
            continue;
        if (!onnx_is_param(c, in[i]))
            return onnx_node_fail(c, BNN_ERR_INVALID, "input %d must be an initializer", i);
        if (i < 5)
            bnn_graph_value(c->g, in[i])->trainable = true;
    }
    int count = in[6] >= 0 ? 7 : in[5] >= 0 ? 6 : in[3] >= 0 ? 5 : 3;
    float pmu, psig;
    const char *est;
    BNN_TRY(onnx_attr_float(c, "prior_mu", 0.0f, &pmu));
    BNN_TRY(onnx_attr_float(c, "prior_sigma", BNN_PRIOR_SIGMA_DEFAULT, &psig));
    BNN_TRY(onnx_attr_string(c, "estimator", "reparam", &est));
    onnx_window w = { 0 };
    onnx_ct_window ct = { 0 };
    int64_t group = 1;
    if (op == BNN_OP_CONV_REPARAM)
        BNN_TRY(onnx_conv_window(c, in[0], in[1], &w, &group));
    else if (op == BNN_OP_CONV_TRANSPOSE_REPARAM)
        BNN_TRY(onnx_conv_transpose_window(c, in[0], in[1], &ct));
    if (ct.nsp == 3)
        return onnx_node_fail(c, BNN_ERR_UNSUPPORTED, "a Bayesian 3-D ConvTranspose is not supported");
    BNN_TRY(onnx_emit_node(c, op, in, count, &nid));
    if (op == BNN_OP_CONV_REPARAM) {
        BNN_TRY(onnx_set_window(c, nid, &w, false));
        BNN_TRY(onnx_set_int(c, nid, "group", group));
    } else if (op == BNN_OP_CONV_TRANSPOSE_REPARAM) {
        BNN_TRY(onnx_set_conv_transpose_window(c, nid, &ct));
    }
    BNN_TRY(onnx_set_float(c, nid, "prior_mu", pmu));
    BNN_TRY(onnx_set_float(c, nid, "prior_sigma", psig));
    BNN_TRY(mixture_attrs(c, nid));
    BNN_TRY(onnx_set_string(c, nid, "estimator", est));
    return onnx_infer(c, nid);
}
bnn_status onnx_lower_dense_reparam(onnx_ctx *c) { return reparam(c, BNN_OP_DENSE_REPARAM); }
bnn_status onnx_lower_conv_reparam(onnx_ctx *c) { return reparam(c, BNN_OP_CONV_REPARAM); }
bnn_status onnx_lower_conv_transpose_reparam(onnx_ctx *c)
{
    return reparam(c, BNN_OP_CONV_TRANSPOSE_REPARAM);
}

bnn_status onnx_lower_weight_reparam(onnx_ctx *c)
{
    int in[3], nid;
    for (int k = 0; k < 2; k++) {
        BNN_TRY(onnx_need_input(c, k, &in[k]));
        if (!onnx_is_param(c, in[k]))
            return onnx_node_fail(c, BNN_ERR_INVALID, "input %d must be an initializer", k);
        bnn_graph_value(c->g, in[k])->trainable = true;
    }
    in[2] = onnx_input(c, 2); /* the prior's mean: a constant */
    if (in[2] >= 0 && !onnx_is_param(c, in[2]))
        return onnx_node_fail(c, BNN_ERR_INVALID, "input 2 must be an initializer");
    float pmu, psig;
    const char *est;
    BNN_TRY(onnx_attr_float(c, "prior_mu", 0.0f, &pmu));
    BNN_TRY(onnx_attr_float(c, "prior_sigma", BNN_PRIOR_SIGMA_DEFAULT, &psig));
    BNN_TRY(onnx_attr_string(c, "estimator", "reparam", &est));
    BNN_TRY(onnx_emit_node(c, BNN_OP_WEIGHT_REPARAM, in, in[2] >= 0 ? 3 : 2, &nid));
    BNN_TRY(onnx_set_float(c, nid, "prior_mu", pmu));
    BNN_TRY(onnx_set_float(c, nid, "prior_sigma", psig));
    BNN_TRY(mixture_attrs(c, nid));
    BNN_TRY(onnx_set_string(c, nid, "estimator", est));
    return onnx_infer(c, nid);
}
