/* random_normal_like (ONNX RandomNormalLike): an output of the input's shape
 * with values ~ N(mean, scale^2), drawn afresh on every forward pass.  This is
 * how lower-bnn-to-onnx writes a Bayesian layer's eps with standard ops.
 *
 * The draws come from the stream (session seed, node id,
 * BNN_RNG_PURPOSE_LOWERED, step) of runtime/rng.h, element i of the output
 * being element i of the stream: a seed gives the same numbers whatever the
 * thread count, and each forward pass (each step) gives new ones.  The
 * node's `seed` attribute is kept for ONNX files but not used: bnnc keys every
 * random draw by the session's --seed so that runs are reproducible and
 * Monte-Carlo samples differ.  Only f32 output is computed.  No backward: the
 * values do not depend on the input's values (ONNX defines no gradient). */
#include "kernel.h"
#include "rng.h"

static bnn_status random_normal_like_forward(const bnn_kernel_args *args, bnn_diag *diag)
{
    bnn_tensor *y = &args->outputs[0];
    if (y->dtype != BNN_F32) {
        char label[300];
        const char *name = bnn_dtype_name(y->dtype);
        return bnn_fail(diag, BNN_ERR_UNSUPPORTED, "%s: output element type %s is not supported",
                        bnn_node_label(args->graph, args->node_id, label, sizeof label),
                        name ? name : "?");
    }
    int64_t n = bnn_tensor_numel(y);
    if (n <= 0)
        return BNN_OK;
    float mean = bnn_node_float(args->node, "mean", 0.0f);
    float scale = bnn_node_float(args->node, "scale", 1.0f);
    bnn_rng_stream s = bnn_rng_stream_make(args->seed, args->node_id, BNN_RNG_PURPOSE_LOWERED,
                                           args->step);
    float *out = y->data;
    bnn_rng_normal(&s, 0, (size_t)n, out);
    if (mean != 0.0f || scale != 1.0f)
        for (int64_t i = 0; i < n; i++)
            out[i] = mean + scale * out[i];
    return BNN_OK;
}

const bnn_kernel bnn_kernel_random_normal_like = {
    .forward = random_normal_like_forward,
    .backward = NULL,
    .scratch_size = NULL,
    .state_size = NULL,
};
