/* batch_norm (frozen statistics) against the reference, forward and backward. */
#include <criterion/criterion.h>
#include <math.h>

#include "harness.h"
#include "reference.h"

static void bn_case(int rank, int64_t n, int64_t ch, uint64_t seed, float eps, int backward)
{
    int64_t xd[5] = {n, ch, 3, 5, 2};
    bnn_shape x = kn_shape(rank, xd), cs = KN_SHAPE(ch);
    bnn_shape in[5] = {x, cs, cs, cs, cs};
    kn_case *c = kn_create(BNN_OP_BATCH_NORM, BNN_F32, 5, in, &x, seed);
    float *var = c->inputs[4].data;
    for (int64_t i = 0; i < ch; i++)
        var[i] = fabsf(var[i]) + 0.05f; /* a variance */
    if (eps != 1e-5f)
        kn_set_float(c, "epsilon", eps);
    if (backward) /* mean and var are frozen: no gradient */
        kn_check_backward(c, ref_batch_norm, 1e-3, (1u << 3) | (1u << 4));
    else
        kn_check_forward(c, ref_batch_norm, 1e-5);
    kn_destroy(c);
}

Test(batch_norm, forward)
{
    for (int rank = 2; rank <= 5; rank++)
        for (int b = 1; b <= 3; b += 2)
            bn_case(rank, b, 4, (uint64_t)(rank * 7 + b), rank % 2 ? 1e-3f : 1e-5f, 0);
    bn_case(4, 8, 64, 99, 1e-5f, 0); /* enough work to thread */
}

Test(batch_norm, gradients)
{
    for (int rank = 2; rank <= 5; rank++)
        bn_case(rank, 2, 3, (uint64_t)(rank * 13), rank % 2 ? 1e-3f : 1e-5f, 1);
}

Test(batch_norm, partial_gradients)
{
    for (unsigned mask = 1; mask < 32; mask++) {
        bnn_shape x = KN_SHAPE(2, 3, 4, 5), cs = KN_SHAPE(3);
        bnn_shape in[5] = {x, cs, cs, cs, cs};
        kn_case *c = kn_create(BNN_OP_BATCH_NORM, BNN_F32, 5, in, &x, mask);
        float *var = c->inputs[4].data;
        for (int i = 0; i < 3; i++)
            var[i] = fabsf(var[i]) + 0.05f;
        kn_check_partial_backward(c, mask);
        kn_destroy(c);
    }
}
