/* Indexing element by element: gather_elements and scatter_elements against
 * references written from ONNX's definitions (one element at a time from its
 * coordinates), every reduction, negative and out-of-range indices, and the
 * gradients of gather_elements and scatter_elements (none, add) by finite
 * differences. */
#include <math.h>
#include <string.h>

#include <criterion/criterion.h>

#include "harness.h"
#include "reference.h"

static const bnn_dtype dtypes[] = {BNN_F32, BNN_U8, BNN_I16, BNN_I64, BNN_F64, BNN_BOOL};
#define N_DT (sizeof dtypes / sizeof dtypes[0])

/* A random shape for data and one for indices: same rank, indices no larger
 * off the axis, any size along it. */
static void random_shapes(uint64_t *s, bnn_shape *xs, bnn_shape *is, int64_t *axis)
{
    *xs = ke_shape(0, NULL);
    *is = ke_shape(0, NULL);
    xs->rank = is->rank = (int)ke_rand_int(s, 1, 4);
    *axis = ke_rand_int(s, -xs->rank, xs->rank - 1);
    int ax = (int)(*axis < 0 ? *axis + xs->rank : *axis);
    for (int d = 0; d < xs->rank; d++) {
        xs->dims[d] = ke_rand_int(s, 1, 4);
        is->dims[d] = d == ax ? ke_rand_int(s, 1, 5) : ke_rand_int(s, 1, xs->dims[d]);
    }
}

/* ONNX: out[c] = data[c with c[axis] = indices[c]] (negative from the end). */
static void ref_gather_elements(const bnn_tensor *x, const bnn_tensor *idx, int64_t axis,
                                bnn_tensor *y)
{
    int r = x->shape.rank;
    if (axis < 0)
        axis += r;
    int64_t c[BNN_MAX_RANK];
    size_t es = bnn_dtype_size(x->dtype);
    for (int64_t i = 0; i < bnn_tensor_numel(idx); i++) {
        ref_unravel(i, &idx->shape, c);
        int64_t k = (int64_t)ke_get(idx, i);
        c[axis] = k < 0 ? k + x->shape.dims[axis] : k;
        memcpy((char *)y->data + i * (int64_t)es,
               (const char *)x->data + ref_ravel(c, &x->shape) * (int64_t)es, es);
    }
}

/* ONNX: a copy of data; then, in order, each update combined into its place. */
static void ref_scatter_elements(const bnn_tensor *x, const bnn_tensor *idx, const bnn_tensor *u,
                                 int64_t axis, const char *reduction, bnn_tensor *y)
{
    int r = x->shape.rank;
    if (axis < 0)
        axis += r;
    memcpy(y->data, x->data, bnn_tensor_nbytes(x));
    int64_t c[BNN_MAX_RANK];
    for (int64_t i = 0; i < bnn_tensor_numel(idx); i++) {
        ref_unravel(i, &idx->shape, c);
        int64_t k = (int64_t)ke_get(idx, i);
        c[axis] = k < 0 ? k + x->shape.dims[axis] : k;
        int64_t at = ref_ravel(c, &x->shape);
        double old = ke_get(y, at), v = ke_get(u, i), out = v;
        if (strcmp(reduction, "add") == 0)
            out = old + v;
        else if (strcmp(reduction, "mul") == 0)
            out = old * v;
        else if (strcmp(reduction, "max") == 0)
            out = old > v ? old : v;
        else if (strcmp(reduction, "min") == 0)
            out = old < v ? old : v;
        ke_put(y, at, out);
    }
}

static bnn_tensor alloc_like(bnn_dtype dt, const bnn_shape *s)
{
    bnn_tensor t;
    bnn_diag d;
    cr_assert_eq(bnn_tensor_alloc(&t, dt, s, &d), BNN_OK);
    return t;
}

Test(kernels_elem, gather_elements_random)
{
    uint64_t s = 7;
    for (int iter = 0; iter < 120; iter++) {
        bnn_shape xs, is;
        int64_t axis;
        random_shapes(&s, &xs, &is, &axis);
        bnn_dtype dt = dtypes[iter % N_DT], it = iter % 2 ? BNN_I32 : BNN_I64;
        bnn_shape ins[2] = {xs, is};
        bnn_dtype dts[2] = {dt, it};
        ke_case *c = ke_create(BNN_OP_GATHER_ELEMENTS, 2, dts, ins, dt, &is);
        ke_set_int(c, "axis", axis);
        ke_fill(&c->inputs[0], (uint64_t)iter, 0, 100);
        int64_t n = xs.dims[axis < 0 ? axis + xs.rank : axis];
        ke_fill(&c->inputs[1], (uint64_t)iter + 1, -n, n - 1);
        cr_assert_eq(ke_forward(c), BNN_OK, "%s", c->diag.message);
        bnn_tensor want = alloc_like(dt, &is);
        ref_gather_elements(&c->inputs[0], &c->inputs[1], axis, &want);
        cr_expect_eq(memcmp(want.data, c->output.data, bnn_tensor_nbytes(&want)), 0,
                     "iter %d: gather_elements differs", iter);
        bnn_tensor_free(&want);
        if (dt == BNN_F32)
            ke_check_grad(c, 1, 1e-3, 1e-2, 100); /* repeats add up */
        ke_destroy(c);
    }
}

Test(kernels_elem, gather_elements_onnx_example)
{
    /* ONNX's first example: data [[1,2],[3,4]], indices [[0,0],[1,0]], axis 1 */
    bnn_shape ins[2] = {KE_SHAPE(2, 2), KE_SHAPE(2, 2)};
    bnn_dtype dts[2] = {BNN_F32, BNN_I64};
    ke_case *c = ke_create(BNN_OP_GATHER_ELEMENTS, 2, dts, ins, BNN_F32, &ins[1]);
    ke_set_int(c, "axis", 1);
    float x[4] = {1, 2, 3, 4};
    int64_t idx[4] = {0, 0, 1, -2};
    memcpy(c->inputs[0].data, x, sizeof x);
    memcpy(c->inputs[1].data, idx, sizeof idx);
    cr_assert_eq(ke_forward(c), BNN_OK, "%s", c->diag.message);
    float want[4] = {1, 1, 4, 3};
    cr_expect_eq(memcmp(c->output.data, want, sizeof want), 0);
    float g[4] = {1, 2, 3, 4};
    cr_assert_eq(ke_backward(c, g, 1), BNN_OK, "%s", c->diag.message);
    double gx[4] = {3, 0, 4, 3};
    for (int i = 0; i < 4; i++)
        cr_expect_float_eq(ke_grad(c, 0, i), gx[i], 1e-6, "grad %d", i);
    ke_destroy(c);
}

Test(kernels_elem, scatter_elements_random_every_reduction)
{
    static const char *const reductions[] = {"none", "add", "mul", "max", "min"};
    static const bnn_dtype num[] = {BNN_F32, BNN_F64, BNN_I32, BNN_I64};
    uint64_t s = 11;
    for (int iter = 0; iter < 200; iter++) {
        bnn_shape xs, is;
        int64_t axis;
        random_shapes(&s, &xs, &is, &axis);
        const char *red = reductions[iter % 5];
        bool none = iter % 5 == 0;
        bnn_dtype dt = none ? dtypes[(iter / 5) % N_DT] : num[(iter / 5) % 4];
        bnn_shape ins[3] = {xs, is, is};
        bnn_dtype dts[3] = {dt, iter % 2 ? BNN_I32 : BNN_I64, dt};
        ke_case *c = ke_create(BNN_OP_SCATTER_ELEMENTS, 3, dts, ins, dt, &xs);
        ke_set_int(c, "axis", axis);
        ke_set_string(c, "reduction", red);
        ke_fill(&c->inputs[0], (uint64_t)iter, -5, 5);
        ke_fill(&c->inputs[2], (uint64_t)iter + 2, -5, 5);
        int ax = (int)(axis < 0 ? axis + xs.rank : axis);
        int64_t n = xs.dims[ax];
        if (none) {
            /* distinct targets: along the axis, a permutation's prefix per line */
            int64_t co[BNN_MAX_RANK];
            for (int64_t i = 0; i < bnn_tensor_numel(&c->inputs[1]); i++) {
                ref_unravel(i, &is, co);
                ke_put(&c->inputs[1], i, (double)(co[ax] % n) - (co[ax] % 2 ? n : 0));
            }
            /* more updates along the axis than places would repeat: cut */
            if (is.dims[ax] > n) {
                ke_destroy(c);
                continue;
            }
        } else {
            ke_fill(&c->inputs[1], (uint64_t)iter + 1, -n, n - 1);
        }
        cr_assert_eq(ke_forward(c), BNN_OK, "%s", c->diag.message);
        bnn_tensor want = alloc_like(dt, &xs);
        ref_scatter_elements(&c->inputs[0], &c->inputs[1], &c->inputs[2], axis, red, &want);
        for (int64_t i = 0; i < bnn_tensor_numel(&want); i++)
            cr_expect_float_eq(ke_get(&c->output, i), ke_get(&want, i), 1e-5 * (1 + fabs(ke_get(&want, i))),
                               "iter %d (%s): element %lld", iter, red, (long long)i);
        bnn_tensor_free(&want);
        /* data and updates both get gradients for none and add */
        if (dt == BNN_F32 && (none || iter % 5 == 1))
            ke_check_grad(c, 1u | 4u, 1e-3, 1e-2, 100);
        ke_destroy(c);
    }
}

Test(kernels_elem, scatter_elements_onnx_examples)
{
    /* data [1,5] = 1..5, indices [[1,3]], updates [[1.1, 2.1]], axis 1 */
    bnn_shape ins[3] = {KE_SHAPE(1, 5), KE_SHAPE(1, 2), KE_SHAPE(1, 2)};
    bnn_dtype dts[3] = {BNN_F32, BNN_I64, BNN_F32};
    const char *reds[2] = {"none", "add"};
    int64_t idx[2][2] = {{1, -2}, {1, 1}};
    float want[2][5] = {{1, 1.1f, 3, 2.1f, 5}, {1, 5.2f, 3, 4, 5}};
    for (int k = 0; k < 2; k++) {
        ke_case *c = ke_create(BNN_OP_SCATTER_ELEMENTS, 3, dts, ins, BNN_F32, &ins[0]);
        ke_set_int(c, "axis", 1);
        ke_set_string(c, "reduction", reds[k]);
        float x[5] = {1, 2, 3, 4, 5}, u[2] = {1.1f, 2.1f};
        memcpy(c->inputs[0].data, x, sizeof x);
        memcpy(c->inputs[1].data, idx[k], sizeof idx[k]);
        memcpy(c->inputs[2].data, u, sizeof u);
        cr_assert_eq(ke_forward(c), BNN_OK, "%s", c->diag.message);
        for (int i = 0; i < 5; i++)
            cr_expect_float_eq(((float *)c->output.data)[i], want[k][i], 1e-6, "%s: %d", reds[k], i);
        ke_destroy(c);
    }
}

/* Out-of-range indices fail naming the node and the index; nothing is read
 * or written out of bounds (ASan runs of this suite would catch it). */
Test(kernels_elem, index_ops_out_of_range_name_the_node)
{
    bnn_shape ins[3] = {KE_SHAPE(3, 4), KE_SHAPE(2, 4), KE_SHAPE(2, 4)};
    bnn_dtype dts[3] = {BNN_F32, BNN_I32, BNN_F32};
    int32_t bad[2][8] = {{0, 1, 2, 1, 0, 1, 3, 2}, {0, 1, 2, -4, 0, 1, 2, 0}};
    for (int op = 0; op < 2; op++)
        for (int k = 0; k < 2; k++) {
            bnn_op o = op ? BNN_OP_SCATTER_ELEMENTS : BNN_OP_GATHER_ELEMENTS;
            ke_case *c = ke_create(o, op ? 3 : 2, dts, ins, BNN_F32, op ? &ins[0] : &ins[1]);
            memcpy(c->inputs[1].data, bad[k], sizeof bad[k]);
            cr_expect_eq(ke_forward(c), BNN_ERR_INVALID);
            const char *name = op ? "node 'n0' (scatter_elements)" : "node 'n0' (gather_elements)";
            cr_expect(strstr(c->diag.message, name) && strstr(c->diag.message, k ? "-4" : "3 (at position 6)"),
                      "%s", c->diag.message);
            ke_destroy(c);
        }
}

/* ONNX OneHot: output coordinate c (indices' coordinates with one more, d,
 * at axis) is on when d equals the index there (negative from depth), else
 * off; an index out of [-depth, depth-1] matches no d. */
static void ref_one_hot(const bnn_tensor *idx, const bnn_tensor *vals, int64_t depth, int axis,
                        bnn_tensor *y)
{
    int64_t c[BNN_MAX_RANK], ci[BNN_MAX_RANK];
    for (int64_t e = 0; e < bnn_tensor_numel(y); e++) {
        ref_unravel(e, &y->shape, c);
        for (int d = 0, k = 0; d < y->shape.rank; d++)
            if (d != axis)
                ci[k++] = c[d];
        double f = ke_get(idx, ref_ravel(ci, &idx->shape));
        int64_t i = (int64_t)trunc(f);
        bool hit = i >= -depth && i < depth && (i < 0 ? i + depth : i) == c[axis];
        ke_put(y, e, ke_get(vals, hit ? 1 : 0));
    }
}

Test(kernels_elem, one_hot_matches_reference)
{
    static const bnn_dtype itypes[] = {BNN_I64, BNN_I32, BNN_F32, BNN_F64, BNN_U8};
    static const bnn_dtype vtypes[] = {BNN_F32, BNN_I32, BNN_I64, BNN_F64, BNN_U8, BNN_BOOL};
    uint64_t s = 23;
    for (int iter = 0; iter < 150; iter++) {
        bnn_shape is = ke_shape(0, NULL);
        is.rank = (int)ke_rand_int(&s, 0, 3);
        for (int d = 0; d < is.rank; d++)
            is.dims[d] = ke_rand_int(&s, 1, 4);
        int64_t depth = ke_rand_int(&s, 0, 6);
        int64_t axis = ke_rand_int(&s, -is.rank - 1, is.rank);
        int ax = (int)(axis < 0 ? axis + is.rank + 1 : axis);
        bnn_shape ys = ke_shape(0, NULL);
        for (int d = 0; d <= is.rank; d++)
            ys.dims[ys.rank++] = d == ax ? depth : is.dims[d < ax ? d : d - 1];
        bnn_dtype it = itypes[iter % 5], vt = vtypes[(iter / 5) % 6];
        bnn_shape ins[2] = {is, KE_SHAPE(2)};
        bnn_dtype dts[2] = {it, vt};
        ke_case *c = ke_create(BNN_OP_ONE_HOT, 2, dts, ins, vt, &ys);
        ke_set_int(c, "depth", depth);
        if (axis != -1 || iter % 2)
            ke_set_int(c, "axis", axis);
        /* in range, negative, out of range both ways; fractions for floats */
        ke_fill(&c->inputs[0], (uint64_t)iter, it == BNN_U8 ? 0 : -depth - 2, depth + 2);
        if (it == BNN_F32 || it == BNN_F64)
            for (int64_t e = 0; e < bnn_tensor_numel(&c->inputs[0]); e++)
                ke_put(&c->inputs[0], e, ke_get(&c->inputs[0], e) * 0.7);
        ke_put(&c->inputs[1], 0, vt == BNN_BOOL ? 0 : 3);
        ke_put(&c->inputs[1], 1, vt == BNN_BOOL ? 1 : 7);
        cr_assert_eq(ke_forward(c), BNN_OK, "%s", c->diag.message);
        bnn_tensor want = alloc_like(vt, &ys);
        ref_one_hot(&c->inputs[0], &c->inputs[1], depth, ax, &want);
        cr_expect_eq(memcmp(want.data, c->output.data, bnn_tensor_nbytes(&want)), 0,
                     "iter %d: one_hot differs", iter);
        bnn_tensor_free(&want);
        ke_destroy(c);
    }
}

Test(kernels_elem, one_hot_onnx_example)
{
    /* indices [0, -7, -8], depth 10, values [1, 3], axis 1 (ONNX's negative
     * indices case): -7 is 3, -8 is 2 */
    bnn_shape ins[2] = {KE_SHAPE(3), KE_SHAPE(2)};
    bnn_dtype dts[2] = {BNN_I64, BNN_F32};
    bnn_shape ys = KE_SHAPE(3, 10);
    ke_case *c = ke_create(BNN_OP_ONE_HOT, 2, dts, ins, BNN_F32, &ys);
    ke_set_int(c, "depth", 10);
    ke_set_int(c, "axis", 1);
    int64_t idx[3] = {0, -7, -8};
    float v[2] = {1, 3};
    memcpy(c->inputs[0].data, idx, sizeof idx);
    memcpy(c->inputs[1].data, v, sizeof v);
    cr_assert_eq(ke_forward(c), BNN_OK, "%s", c->diag.message);
    int64_t hot[3] = {0, 3, 2};
    for (int r = 0; r < 3; r++)
        for (int d = 0; d < 10; d++)
            cr_expect_eq(((float *)c->output.data)[r * 10 + d], d == hot[r] ? 3.0f : 1.0f,
                         "row %d, %d", r, d);
    ke_destroy(c);
}

/* With duplicate targets and reduction none the output holds the last
 * update: only it gets the gradient, and data none there. */
Test(kernels_elem, scatter_elements_gradient_goes_to_the_winning_update)
{
    bnn_shape ins[3] = {KE_SHAPE(4), KE_SHAPE(3), KE_SHAPE(3)};
    bnn_dtype dts[3] = {BNN_F32, BNN_I64, BNN_F32};
    ke_case *c = ke_create(BNN_OP_SCATTER_ELEMENTS, 3, dts, ins, BNN_F32, &ins[0]);
    int64_t idx[3] = {2, 0, -2};
    memcpy(c->inputs[1].data, idx, sizeof idx);
    cr_assert_eq(ke_forward(c), BNN_OK, "%s", c->diag.message);
    float g[4] = {1, 2, 3, 4};
    cr_assert_eq(ke_backward(c, g, 1u | 4u), BNN_OK, "%s", c->diag.message);
    double gx[4] = {0, 2, 0, 4}, gu[3] = {0, 1, 3};
    for (int i = 0; i < 4; i++)
        cr_expect_float_eq(ke_grad(c, 0, i), gx[i], 1e-6, "data %d", i);
    for (int i = 0; i < 3; i++)
        cr_expect_float_eq(ke_grad(c, 2, i), gu[i], 1e-6, "update %d", i);
    ke_destroy(c);
    /* mul has no gradient here: it says so, naming the node */
    c = ke_create(BNN_OP_SCATTER_ELEMENTS, 3, dts, ins, BNN_F32, &ins[0]);
    ke_set_string(c, "reduction", "mul");
    memcpy(c->inputs[1].data, idx, sizeof idx);
    cr_assert_eq(ke_forward(c), BNN_OK, "%s", c->diag.message);
    cr_expect_eq(ke_backward(c, NULL, 1u), BNN_ERR_UNSUPPORTED);
    cr_expect(strstr(c->diag.message, "node 'n0' (scatter_elements)"), "%s", c->diag.message);
    ke_destroy(c);
}
