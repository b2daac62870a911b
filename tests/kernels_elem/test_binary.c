/* Broadcasting binary ops (add, sub, mul, div) for every supported type, and
 * prelu: forward against the reference on broadcasting corner cases and
 * random shapes, errors, and finite-difference gradients. */
#include <math.h>
#include <string.h>

#include <criterion/criterion.h>

#include "harness.h"
#include "reference.h"

static const bnn_op ops[] = {BNN_OP_ADD, BNN_OP_SUB, BNN_OP_MUL, BNN_OP_DIV};
static const bnn_dtype dtypes[] = {BNN_F32, BNN_F64, BNN_I8, BNN_U8, BNN_I16,
                                   BNN_U16, BNN_I32, BNN_U32, BNN_I64, BNN_U64};

typedef struct shape_pair {
    bnn_shape a, b;
} shape_pair;

/* Scalars, size-1 dims on either side, rank differences, empty tensors. */
static int corner_cases(shape_pair *out)
{
    int n = 0;
    out[n++] = (shape_pair){KE_SHAPE(2, 3, 4), KE_SHAPE(2, 3, 4)};
    out[n++] = (shape_pair){KE_SCALAR, KE_SHAPE(3, 4)};
    out[n++] = (shape_pair){KE_SHAPE(3, 4), KE_SCALAR};
    out[n++] = (shape_pair){KE_SCALAR, KE_SCALAR};
    out[n++] = (shape_pair){KE_SHAPE(1), KE_SHAPE(3, 4)};
    out[n++] = (shape_pair){KE_SHAPE(3, 1), KE_SHAPE(1, 4)};
    out[n++] = (shape_pair){KE_SHAPE(4), KE_SHAPE(2, 3, 4)};
    out[n++] = (shape_pair){KE_SHAPE(2, 3, 4), KE_SHAPE(3, 1)};
    out[n++] = (shape_pair){KE_SHAPE(2, 1, 4), KE_SHAPE(3, 1)};
    out[n++] = (shape_pair){KE_SHAPE(5, 1, 1, 3), KE_SHAPE(2, 1)};
    out[n++] = (shape_pair){KE_SHAPE(1, 1, 1), KE_SHAPE(2, 3)};
    out[n++] = (shape_pair){KE_SHAPE(2, 3, 1, 5), KE_SHAPE(2, 1, 4, 5)};
    out[n++] = (shape_pair){KE_SHAPE(0, 3), KE_SHAPE(3)};
    out[n++] = (shape_pair){KE_SHAPE(4, 1), KE_SHAPE(0)};
    out[n++] = (shape_pair){KE_SHAPE(2, 1, 3, 1, 2), KE_SHAPE(1, 4, 1, 5, 1)};
    return n;
}

/* A random output shape, and operands made from it by dropping leading dims
 * and turning dims into 1. */
static shape_pair random_pair(uint64_t *s)
{
    bnn_shape out = ke_shape(0, NULL);
    out.rank = (int)ke_rand_int(s, 0, 5);
    for (int d = 0; d < out.rank; d++)
        out.dims[d] = ke_rand_int(s, 1, 4);
    shape_pair p;
    for (int k = 0; k < 2; k++) {
        bnn_shape *t = k ? &p.b : &p.a;
        int drop = (int)ke_rand_int(s, 0, out.rank);
        if (ke_rand_int(s, 0, 2) == 0)
            drop = 0;
        *t = ke_shape(0, NULL);
        t->rank = out.rank - drop;
        for (int d = 0; d < t->rank; d++)
            t->dims[d] = ke_rand_int(s, 0, 2) == 0 ? 1 : out.dims[d + drop];
    }
    return p;
}

static bool is_unsigned(bnn_dtype dt)
{
    return dt == BNN_U8 || dt == BNN_U16 || dt == BNN_U32 || dt == BNN_U64;
}

static void check_binary(bnn_op op, bnn_dtype dt, const bnn_shape *sa, const bnn_shape *sb,
                         uint64_t seed)
{
    bnn_shape so;
    cr_assert(ref_broadcast_shape(sa, sb, &so));
    bnn_shape in[2] = {*sa, *sb};
    ke_case *c = ke_create1(op, dt, 2, in, &so);
    bool is_float = dt == BNN_F32 || dt == BNN_F64;
    ke_fill(&c->inputs[0], seed, is_unsigned(dt) ? 0 : -100, 100);
    ke_fill(&c->inputs[1], seed + 1, is_unsigned(dt) ? 0 : -100, 100);
    if (op == BNN_OP_DIV) {
        /* Nonzero divisors, away from 0 for floats. */
        int64_t nb = bnn_tensor_numel(&c->inputs[1]);
        for (int64_t i = 0; i < nb; i++) {
            double v = ke_get(&c->inputs[1], i);
            if (is_float ? fabs(v) < 0.5 : v == 0)
                ke_put(&c->inputs[1], i, 3);
        }
    }
    bnn_status st = ke_forward(c);
    char sha[100], shb[100];
    cr_assert_eq(st, BNN_OK, "%s %s %s: %s", bnn_op_get(op)->name,
                 bnn_shape_format(sa, dt, sha, sizeof sha), bnn_shape_format(sb, dt, shb, sizeof shb),
                 c->diag.message);
    bnn_tensor want;
    bnn_diag d;
    cr_assert_eq(bnn_tensor_alloc(&want, dt, &so, &d), BNN_OK);
    ref_binary(op, &c->inputs[0], &c->inputs[1], &want);
    cr_expect_eq(memcmp(want.data, c->output.data, bnn_tensor_nbytes(&want)), 0,
                 "%s %s %s differs from the reference", bnn_op_get(op)->name,
                 bnn_shape_format(sa, dt, sha, sizeof sha), bnn_shape_format(sb, dt, shb, sizeof shb));
    bnn_tensor_free(&want);
    ke_destroy(c);
}

Test(kernels_elem, binary_corner_cases_every_type)
{
    shape_pair pairs[32];
    int n = corner_cases(pairs);
    for (size_t o = 0; o < sizeof ops / sizeof ops[0]; o++)
        for (size_t t = 0; t < sizeof dtypes / sizeof dtypes[0]; t++)
            for (int k = 0; k < n; k++)
                check_binary(ops[o], dtypes[t], &pairs[k].a, &pairs[k].b, (uint64_t)(k + 1));
}

Test(kernels_elem, binary_random_shapes)
{
    uint64_t s = 2024;
    for (int iter = 0; iter < 150; iter++) {
        shape_pair p = random_pair(&s);
        bnn_op op = ops[iter % 4];
        bnn_dtype dt = dtypes[(iter / 4) % 10];
        check_binary(op, dt, &p.a, &p.b, (uint64_t)iter);
    }
}

Test(kernels_elem, binary_large_threaded)
{
    /* Big enough for the threaded paths: same shape, row broadcast, column broadcast. */
    bnn_shape a = KE_SHAPE(300, 257), b1 = KE_SHAPE(300, 257), b2 = KE_SHAPE(257),
              b3 = KE_SHAPE(300, 1);
    check_binary(BNN_OP_ADD, BNN_F32, &a, &b1, 1);
    check_binary(BNN_OP_MUL, BNN_F32, &a, &b2, 2);
    check_binary(BNN_OP_SUB, BNN_F32, &b3, &a, 3);
    check_binary(BNN_OP_DIV, BNN_I32, &a, &b3, 4);
}

Test(kernels_elem, integer_division_truncates_and_wraps)
{
    bnn_shape in[2] = {KE_SHAPE(4), KE_SHAPE(4)};
    bnn_shape out = KE_SHAPE(4);
    ke_case *c = ke_create1(BNN_OP_DIV, BNN_I32, 2, in, &out);
    int32_t a[4] = {-7, 7, -7, INT32_MIN}, b[4] = {2, -2, -2, -1};
    memcpy(c->inputs[0].data, a, sizeof a);
    memcpy(c->inputs[1].data, b, sizeof b);
    cr_assert_eq(ke_forward(c), BNN_OK, "%s", c->diag.message);
    int32_t *y = c->output.data;
    cr_expect_eq(y[0], -3);
    cr_expect_eq(y[1], -3);
    cr_expect_eq(y[2], 3);
    cr_expect_eq(y[3], INT32_MIN); /* wraps as two's complement, no trap */
    ke_destroy(c);
}

Test(kernels_elem, integer_division_by_zero_names_node)
{
    bnn_shape in[2] = {KE_SHAPE(3), KE_SHAPE(3)};
    bnn_shape out = KE_SHAPE(3);
    ke_case *c = ke_create1(BNN_OP_DIV, BNN_I64, 2, in, &out);
    int64_t b[3] = {1, 0, 2};
    memcpy(c->inputs[1].data, b, sizeof b);
    cr_assert_eq(ke_forward(c), BNN_ERR_NUMERIC);
    cr_expect(strstr(c->diag.message, "node 'n0' (div)") != NULL, "%s", c->diag.message);
    cr_expect(strstr(c->diag.message, "division by zero") != NULL, "%s", c->diag.message);
    ke_destroy(c);
}

Test(kernels_elem, binary_errors)
{
    bnn_shape in[2] = {KE_SHAPE(3, 4), KE_SHAPE(5)};
    bnn_shape out = KE_SHAPE(3, 4);
    ke_case *c = ke_create1(BNN_OP_ADD, BNN_F32, 2, in, &out);
    cr_expect_eq(ke_forward(c), BNN_ERR_SHAPE);
    cr_expect(strstr(c->diag.message, "node 'n0' (add)") != NULL, "%s", c->diag.message);
    ke_destroy(c);
    bnn_shape in2[2] = {KE_SHAPE(3), KE_SHAPE(3)};
    bnn_shape out2 = KE_SHAPE(3);
    c = ke_create1(BNN_OP_ADD, BNN_BOOL, 2, in2, &out2);
    cr_expect_eq(ke_forward(c), BNN_ERR_UNSUPPORTED);
    ke_destroy(c);
}

Test(kernels_elem, prelu_forward)
{
    bnn_shape xs[] = {KE_SHAPE(2, 3, 4, 5), KE_SHAPE(2, 3, 4, 5), KE_SHAPE(2, 3, 4, 5), KE_SHAPE(7)};
    bnn_shape ss[] = {KE_SHAPE(3, 1, 1), KE_SHAPE(1), KE_SHAPE(5), KE_SCALAR};
    for (int k = 0; k < 4; k++) {
        bnn_shape in[2] = {xs[k], ss[k]};
        ke_case *c = ke_create1(BNN_OP_PRELU, BNN_F32, 2, in, &xs[k]);
        ke_fill(&c->inputs[0], (uint64_t)k, -2, 2);
        ke_fill(&c->inputs[1], (uint64_t)k + 9, 0, 1);
        cr_assert_eq(ke_forward(c), BNN_OK, "%s", c->diag.message);
        bnn_tensor want;
        bnn_diag d;
        cr_assert_eq(bnn_tensor_alloc(&want, BNN_F32, &xs[k], &d), BNN_OK);
        ref_binary(BNN_OP_PRELU, &c->inputs[0], &c->inputs[1], &want);
        cr_expect_eq(memcmp(want.data, c->output.data, bnn_tensor_nbytes(&want)), 0, "case %d", k);
        bnn_tensor_free(&want);
        ke_destroy(c);
    }
}

Test(kernels_elem, binary_gradients)
{
    shape_pair pairs[] = {
        {KE_SHAPE(2, 3), KE_SHAPE(2, 3)},
        {KE_SHAPE(2, 3, 4), KE_SHAPE(3, 1)},
        {KE_SCALAR, KE_SHAPE(2, 3)},
        {KE_SHAPE(3, 1), KE_SHAPE(1, 4)},
        {KE_SHAPE(4), KE_SHAPE(2, 1, 4)},
    };
    for (size_t o = 0; o < 4; o++)
        for (size_t k = 0; k < sizeof pairs / sizeof pairs[0]; k++) {
            bnn_shape so;
            cr_assert(ref_broadcast_shape(&pairs[k].a, &pairs[k].b, &so));
            bnn_shape in[2] = {pairs[k].a, pairs[k].b};
            ke_case *c = ke_create1(ops[o], BNN_F32, 2, in, &so);
            ke_fill(&c->inputs[0], k, -2, 2);
            ke_fill(&c->inputs[1], k + 5, 0.5, 2); /* divisors away from 0 */
            ke_check_grad(c, 3, 1e-3, 1e-2, 100);
            /* Only one operand wanting a gradient. */
            ke_check_grad(c, 2, 1e-3, 1e-2, 100);
            ke_destroy(c);
        }
}

Test(kernels_elem, prelu_gradients)
{
    bnn_shape in[2] = {KE_SHAPE(2, 3, 2, 2), KE_SHAPE(3, 1, 1)};
    ke_case *c = ke_create1(BNN_OP_PRELU, BNN_F32, 2, in, &in[0]);
    ke_fill(&c->inputs[0], 3, -2, 2);
    /* keep x away from the kink at 0 */
    for (int64_t i = 0; i < bnn_tensor_numel(&c->inputs[0]); i++) {
        float *x = c->inputs[0].data;
        if (fabsf(x[i]) < 0.05f)
            x[i] = 0.5f;
    }
    ke_fill(&c->inputs[1], 4, 0.1, 0.9);
    ke_check_grad(c, 3, 1e-3, 1e-2, 100);
    ke_destroy(c);
}
