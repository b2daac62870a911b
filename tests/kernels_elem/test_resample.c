/* max_unpool (runtime/kernels/resample.c) against ONNX's definition written
 * plainly: zeros of the unpooled size with y.flat[indices[e]] = x[e], that
 * tensor the top-left corner of a larger output; its gradient by central
 * differences. */
#include <criterion/criterion.h>
#include <string.h>

#include "harness.h"

/* x [N, C, h, w] with indices into an unpooled [N, C, ih, iw]: each x
 * element takes its own place (MaxPool never repeats one). */
static ke_case *unpool_case(int64_t n, int64_t c, int64_t h, int64_t w, int64_t ih, int64_t iw,
                            int64_t oh, int64_t ow, bnn_dtype idx_type, uint64_t seed)
{
    bnn_shape x = KE_SHAPE(n, c, h, w), y = KE_SHAPE(n, c, oh, ow);
    bnn_dtype dts[2] = { BNN_F32, idx_type };
    bnn_shape shapes[2] = { x, x };
    ke_case *k = ke_create(BNN_OP_MAX_UNPOOL, 2, dts, shapes, BNN_F32, &y);
    ke_fill(&k->inputs[0], seed, -2, 2);
    int64_t total = n * c * ih * iw, count = n * c * h * w;
    /* distinct places: a stride through the unpooled tensor */
    for (int64_t e = 0; e < count; e++)
        ke_put(&k->inputs[1], e, (double)((e * 7 + (int64_t)seed) % total));
    KE_SET_INTS(k, "output_shape", oh, ow);
    if (ih != oh || iw != ow)
        KE_SET_INTS(k, "index_shape", ih, iw);
    return k;
}

static void expect_unpool(ke_case *k, int64_t ih, int64_t iw, int64_t oh, int64_t ow)
{
    cr_assert_eq(ke_forward(k), BNN_OK, "%s", k->diag.message);
    int64_t out = bnn_tensor_numel(&k->output), count = bnn_tensor_numel(&k->inputs[0]);
    double *want = calloc((size_t)out, sizeof(double));
    cr_assert(want);
    for (int64_t e = 0; e < count; e++) {
        int64_t i = (int64_t)ke_get(&k->inputs[1], e);
        int64_t plane = i / (ih * iw), r = i % (ih * iw) / iw, col = i % iw;
        want[(plane * oh + r) * ow + col] = ke_get(&k->inputs[0], e);
    }
    for (int64_t i = 0; i < out; i++)
        cr_assert_eq(ke_get(&k->output, i), want[i], "element %lld", (long long)i);
    free(want);
}

Test(max_unpool, places_values_and_pads_to_output_shape)
{
    ke_case *k = unpool_case(2, 3, 2, 2, 4, 4, 4, 4, BNN_I64, 1);
    expect_unpool(k, 4, 4, 4, 4);
    ke_destroy(k);
    k = unpool_case(1, 2, 2, 3, 4, 5, 5, 7, BNN_I32, 2); /* output_shape larger */
    expect_unpool(k, 4, 5, 5, 7);
    ke_destroy(k);
}

Test(max_unpool, gradient_gathers_back)
{
    ke_case *k = unpool_case(1, 2, 2, 3, 4, 5, 5, 6, BNN_I64, 3);
    ke_check_grad(k, 1, 1e-3, 1e-3, 1000);
    ke_destroy(k);
}

Test(max_unpool, index_outside_names_the_node)
{
    ke_case *k = unpool_case(1, 1, 2, 2, 4, 4, 4, 4, BNN_I64, 4);
    ke_put(&k->inputs[1], 3, 16);
    cr_assert_eq(ke_forward(k), BNN_ERR_INVALID);
    cr_assert(strstr(k->diag.message, "max_unpool") && strstr(k->diag.message, "16"), "%s",
              k->diag.message);
    ke_destroy(k);
}
