/* random_normal_like: the documented stream (session seed, node id,
 * BNN_RNG_PURPOSE_LOWERED, step), mean and variance of the draws, determinism
 * per (seed, step), fresh draws per step and seed, independence from the
 * input's values and from the thread count, and the dtype attribute. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>
#include <omp.h>

#include "harness.h"
#include "rng.h"

static ke_case *rnl_case(bnn_dtype in_dtype, const bnn_shape *shape, bnn_dtype out_dtype)
{
    bnn_dtype dts[1] = {in_dtype};
    return ke_create(BNN_OP_RANDOM_NORMAL_LIKE, 1, dts, shape, out_dtype, shape);
}

static float *copy_out(const ke_case *c)
{
    size_t nb = bnn_tensor_nbytes(&c->output);
    float *p = malloc(nb);
    cr_assert(p);
    memcpy(p, c->output.data, nb);
    return p;
}

Test(kernels_elem, random_normal_like_is_the_documented_stream)
{
    bnn_shape s = KE_SHAPE(3, 5, 7);
    ke_case *c = rnl_case(BNN_F32, &s, BNN_F32);
    ke_set_float(c, "mean", 0.25f);
    ke_set_float(c, "scale", 2.0f);
    c->seed = 0x1234567890ull;
    c->step = 11;
    cr_assert_eq(ke_forward(c), BNN_OK, "%s", c->diag.message);
    float ref[105];
    bnn_rng_stream st = bnn_rng_stream_make(c->seed, c->node_id, BNN_RNG_PURPOSE_LOWERED, 11);
    bnn_rng_normal(&st, 0, 105, ref);
    const float *y = c->output.data;
    for (int i = 0; i < 105; i++)
        cr_expect_eq(y[i], 0.25f + 2.0f * ref[i], "element %d: %g, want %g", i, y[i],
                     0.25f + 2.0f * ref[i]);
    ke_destroy(c);
}

Test(kernels_elem, random_normal_like_statistics)
{
    bnn_shape s = KE_SHAPE(256, 512);
    ke_case *c = rnl_case(BNN_F32, &s, BNN_F32);
    ke_set_float(c, "mean", -1.5f);
    ke_set_float(c, "scale", 0.5f);
    cr_assert_eq(ke_forward(c), BNN_OK, "%s", c->diag.message);
    int64_t n = bnn_tensor_numel(&c->output);
    const float *y = c->output.data;
    double sum = 0, sum2 = 0, m4 = 0;
    for (int64_t i = 0; i < n; i++)
        sum += y[i];
    double mean = sum / (double)n;
    for (int64_t i = 0; i < n; i++) {
        double d = y[i] - mean;
        sum2 += d * d;
        m4 += d * d * d * d;
    }
    double var = sum2 / (double)(n - 1);
    /* standard errors: mean 0.5/sqrt(n) = 9.8e-4; variance sqrt(2/n)*0.25 = 9.8e-4 */
    cr_expect(fabs(mean + 1.5) < 5 * 9.8e-4, "mean %g, want -1.5", mean);
    cr_expect(fabs(var - 0.25) < 5 * 9.8e-4, "variance %g, want 0.25", var);
    /* Gaussian kurtosis 3 (a uniform would give 1.8) */
    double kurt = m4 / (double)n / (var * var);
    cr_expect(fabs(kurt - 3.0) < 0.1, "kurtosis %g, want 3", kurt);
    ke_destroy(c);
}

Test(kernels_elem, random_normal_like_defaults_to_standard_normal)
{
    bnn_shape s = KE_SHAPE(1 << 16);
    ke_case *c = rnl_case(BNN_F32, &s, BNN_F32);
    cr_assert_eq(ke_forward(c), BNN_OK, "%s", c->diag.message);
    const float *y = c->output.data;
    double sum = 0, sum2 = 0;
    for (int i = 0; i < (1 << 16); i++) {
        sum += y[i];
        sum2 += (double)y[i] * y[i];
    }
    double mean = sum / 65536, var = sum2 / 65536 - mean * mean;
    cr_expect(fabs(mean) < 5 * 3.9e-3, "mean %g", mean);
    cr_expect(fabs(var - 1) < 5 * 5.5e-3, "variance %g", var);
    ke_destroy(c);
}

Test(kernels_elem, random_normal_like_determinism)
{
    bnn_shape s = KE_SHAPE(33, 17);
    size_t nb = 33 * 17 * sizeof(float);
    ke_case *c = rnl_case(BNN_F32, &s, BNN_F32);
    c->seed = 5;
    c->step = 2;
    ke_fill(&c->inputs[0], 1, -3, 3);
    cr_assert_eq(ke_forward(c), BNN_OK);
    float *a = copy_out(c);
    /* same seed and step, other input values: the same draws */
    ke_fill(&c->inputs[0], 2, 10, 20);
    cr_assert_eq(ke_forward(c), BNN_OK);
    cr_expect(memcmp(a, c->output.data, nb) == 0, "same (seed, step) gave other values");
    /* same again with one thread and with four */
    omp_set_num_threads(1);
    cr_assert_eq(ke_forward(c), BNN_OK);
    cr_expect(memcmp(a, c->output.data, nb) == 0, "one thread differs");
    omp_set_num_threads(4);
    cr_assert_eq(ke_forward(c), BNN_OK);
    cr_expect(memcmp(a, c->output.data, nb) == 0, "four threads differ");
    /* another step: fresh draws */
    c->step = 3;
    cr_assert_eq(ke_forward(c), BNN_OK);
    const float *y = c->output.data;
    int same = 0;
    for (int i = 0; i < 33 * 17; i++)
        same += y[i] == a[i];
    cr_expect(same < 3, "step 3 repeats %d values of step 2", same);
    /* another seed: fresh draws */
    c->step = 2;
    c->seed = 6;
    cr_assert_eq(ke_forward(c), BNN_OK);
    same = 0;
    for (int i = 0; i < 33 * 17; i++)
        same += y[i] == a[i];
    cr_expect(same < 3, "seed 6 repeats %d values of seed 5", same);
    free(a);
    ke_destroy(c);
}

Test(kernels_elem, random_normal_like_streams_differ_from_bayesian_layers)
{
    /* The same node id drawing eps for a Bayesian layer (purpose WEIGHTS)
     * must not see the same numbers. */
    bnn_shape s = KE_SHAPE(64);
    ke_case *c = rnl_case(BNN_F32, &s, BNN_F32);
    cr_assert_eq(ke_forward(c), BNN_OK);
    float w[64];
    bnn_rng_stream st = bnn_rng_stream_make(c->seed, c->node_id, BNN_RNG_PURPOSE_WEIGHTS, c->step);
    bnn_rng_normal(&st, 0, 64, w);
    cr_expect(memcmp(w, c->output.data, sizeof w) != 0);
    ke_destroy(c);
}

Test(kernels_elem, random_normal_like_dtype_attribute)
{
    /* An integer input with dtype=f32: the output is f32 draws of its shape. */
    bnn_shape s = KE_SHAPE(4, 4);
    ke_case *c = rnl_case(BNN_I64, &s, BNN_F32);
    ke_set_int(c, "dtype", BNN_F32);
    cr_assert_eq(ke_forward(c), BNN_OK, "%s", c->diag.message);
    const float *y = c->output.data;
    int nonzero = 0;
    for (int i = 0; i < 16; i++)
        nonzero += y[i] != 0 && isfinite(y[i]);
    cr_expect_eq(nonzero, 16);
    ke_destroy(c);
    /* f64 output is not computed: a clear error naming the node */
    c = rnl_case(BNN_F64, &s, BNN_F64);
    cr_expect_eq(ke_forward(c), BNN_ERR_UNSUPPORTED);
    cr_expect(strstr(c->diag.message, "'n0'") && strstr(c->diag.message, "f64"), "%s",
              c->diag.message);
    ke_destroy(c);
}

Test(kernels_elem, random_normal_like_shape_inference)
{
    bnn_graph *g = bnn_graph_create("g");
    bnn_shape s = {.rank = 2, .dims = {bnn_graph_symbol(g, "N"), 3}};
    int x = bnn_graph_add_value(g, "x", BNN_F32, &s);
    int i = bnn_graph_add_value(g, "i", BNN_I64, &s);
    int y = bnn_graph_add_value(g, "y", BNN_UNDEFINED, &(bnn_shape){.rank = -1});
    int z = bnn_graph_add_value(g, "z", BNN_UNDEFINED, &(bnn_shape){.rank = -1});
    int n1 = bnn_graph_add_node(g, BNN_OP_RANDOM_NORMAL_LIKE, "r1", &x, 1, &y, 1);
    int n2 = bnn_graph_add_node(g, BNN_OP_RANDOM_NORMAL_LIKE, "r2", &i, 1, &z, 1);
    bnn_diag d = {0};
    cr_assert_eq(bnn_graph_infer_node(g, n1, &d), BNN_OK, "%s", d.message);
    cr_expect_eq(g->values[y].dtype, BNN_F32);
    cr_expect(bnn_shape_equal(&g->values[y].shape, &s));
    /* an integer input needs a dtype */
    cr_expect_eq(bnn_graph_infer_node(g, n2, &d), BNN_ERR_SHAPE);
    cr_expect(strstr(d.message, "r2") != NULL, "%s", d.message);
    cr_assert_eq(bnn_node_set_int(g, n2, "dtype", BNN_F32), BNN_OK);
    cr_expect_eq(bnn_graph_infer_node(g, n2, &d), BNN_OK, "%s", d.message);
    cr_expect_eq(g->values[z].dtype, BNN_F32);
    cr_assert_eq(bnn_node_set_int(g, n2, "dtype", BNN_I32), BNN_OK);
    cr_expect_eq(bnn_graph_infer_node(g, n2, &d), BNN_ERR_SHAPE);
    bnn_graph_destroy(g);
}
