/* softmax and log_softmax: every axis (negative too), the coerced pre-13 form,
 * large inputs, and gradients. */
#include <math.h>
#include <string.h>

#include <criterion/criterion.h>

#include "harness.h"
#include "reference.h"

static void check(bnn_op op, const bnn_shape *s, int64_t axis, bool set_axis, int coerce,
                  double lo, double hi, uint64_t seed)
{
    ke_case *c = ke_create1(op, BNN_F32, 1, s, s);
    ke_fill(&c->inputs[0], seed, lo, hi);
    if (set_axis)
        ke_set_int(c, "axis", axis);
    if (coerce >= 0)
        ke_set_int(c, "coerce", coerce);
    cr_assert_eq(ke_forward(c), BNN_OK, "%s", c->diag.message);
    bnn_tensor want;
    bnn_diag d;
    cr_assert_eq(bnn_tensor_alloc(&want, BNN_F64, s, &d), BNN_OK);
    int64_t ref_axis = set_axis ? axis : (coerce == 1 ? 1 : -1);
    ref_softmax(&c->inputs[0], ref_axis, coerce == 1, op == BNN_OP_LOG_SOFTMAX, &want);
    int64_t n = bnn_tensor_numel(&want);
    for (int64_t i = 0; i < n; i++) {
        double w = ke_get(&want, i), g = ke_get(&c->output, i);
        if (!(fabs(w - g) <= 1e-5 * (1 + fabs(w)))) {
            char sh[100];
            cr_expect_fail("%s %s axis %lld coerce %d element %lld: %.8g, want %.8g",
                           bnn_op_get(op)->name, bnn_shape_format(s, BNN_F32, sh, sizeof sh),
                           (long long)ref_axis, coerce, (long long)i, g, w);
            break;
        }
    }
    bnn_tensor_free(&want);
    ke_destroy(c);
}

Test(kernels_elem, softmax_every_axis)
{
    bnn_shape shapes[] = {KE_SHAPE(5), KE_SHAPE(3, 4), KE_SHAPE(2, 3, 4), KE_SHAPE(2, 1, 3, 2)};
    for (int o = 0; o < 2; o++) {
        bnn_op op = o ? BNN_OP_LOG_SOFTMAX : BNN_OP_SOFTMAX;
        for (size_t k = 0; k < sizeof shapes / sizeof shapes[0]; k++) {
            int r = shapes[k].rank;
            check(op, &shapes[k], 0, false, -1, -3, 3, k); /* default axis -1 */
            for (int64_t axis = -r; axis < r; axis++) {
                check(op, &shapes[k], axis, true, -1, -3, 3, k + 10);
                check(op, &shapes[k], axis, true, 1, -3, 3, k + 20);
            }
            if (r >= 2)
                check(op, &shapes[k], 0, false, 1, -3, 3, k + 30); /* coerce default axis 1 */
        }
    }
}

Test(kernels_elem, softmax_large_inputs_are_stable)
{
    bnn_shape s = KE_SHAPE(4, 6);
    check(BNN_OP_SOFTMAX, &s, -1, true, -1, 500, 900, 3);
    check(BNN_OP_LOG_SOFTMAX, &s, -1, true, -1, -900, -500, 4);
    bnn_shape big = KE_SHAPE(256, 300); /* threaded */
    check(BNN_OP_SOFTMAX, &big, 1, true, -1, -5, 5, 5);
    check(BNN_OP_LOG_SOFTMAX, &big, 0, true, -1, -5, 5, 6);
}

Test(kernels_elem, softmax_bad_axis)
{
    bnn_shape s = KE_SHAPE(2, 3);
    ke_case *c = ke_create1(BNN_OP_SOFTMAX, BNN_F32, 1, &s, &s);
    ke_set_int(c, "axis", 2);
    cr_expect_eq(ke_forward(c), BNN_ERR_SHAPE);
    cr_expect(strstr(c->diag.message, "node 'n0' (softmax)") != NULL, "%s", c->diag.message);
    ke_destroy(c);
}

Test(kernels_elem, softmax_gradients)
{
    bnn_shape s = KE_SHAPE(2, 3, 4);
    for (int o = 0; o < 2; o++)
        for (int64_t axis = -3; axis < 3; axis++)
            for (int coerce = 0; coerce < 2; coerce++) {
                ke_case *c = ke_create1(o ? BNN_OP_LOG_SOFTMAX : BNN_OP_SOFTMAX, BNN_F32, 1, &s, &s);
                ke_fill(&c->inputs[0], (uint64_t)(axis + 7), -2, 2);
                ke_set_int(c, "axis", axis);
                ke_set_int(c, "coerce", coerce);
                ke_check_grad(c, 1, 1e-3, 1e-2, 24);
                ke_destroy(c);
            }
}
