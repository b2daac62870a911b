/* Indexing by tuples: gather_nd and scatter_nd against references written
 * from ONNX's definitions (each output element from its coordinates, each
 * update applied in order), with batch dims, negative indices, every
 * reduction, out-of-range indices, and gather_nd's gradient by finite
 * differences. */
#include <math.h>
#include <string.h>

#include <criterion/criterion.h>

#include "harness.h"
#include "reference.h"

/* Random data shape, b batch dims and a tuple length k; indices shaped
 * data[:b] + (1-2 random dims) + [k], filled in [-n, n-1] per column. */
static void random_case(uint64_t *s, bnn_shape *xs, bnn_shape *is, int64_t *b, int64_t *k)
{
    *xs = KE_SCALAR;
    xs->rank = (int)ke_rand_int(s, 1, 4);
    for (int d = 0; d < xs->rank; d++)
        xs->dims[d] = ke_rand_int(s, 1, 4);
    *b = ke_rand_int(s, 0, xs->rank - 1);
    *k = ke_rand_int(s, 1, xs->rank - *b);
    *is = KE_SCALAR;
    for (int d = 0; d < *b; d++)
        is->dims[is->rank++] = xs->dims[d];
    int extra = (int)ke_rand_int(s, 0, 2);
    for (int d = 0; d < extra; d++)
        is->dims[is->rank++] = ke_rand_int(s, 1, 3);
    is->dims[is->rank++] = *k;
}

static void fill_indices(bnn_tensor *idx, const bnn_shape *xs, int64_t b, int64_t k, uint64_t seed)
{
    uint64_t s = seed;
    for (int64_t i = 0; i < bnn_tensor_numel(idx); i++) {
        int64_t n = xs->dims[b + i % k];
        ke_put(idx, i, (double)ke_rand_int(&s, -n, n - 1));
    }
}

/* ONNX: y[c] = data[c[:b] + indices[c[:q-1]] + c[q-1:]]. */
static double ref_gather_nd_at(const bnn_tensor *x, const bnn_tensor *idx, int64_t b,
                               const int64_t *c)
{
    int q = idx->shape.rank;
    int64_t k = idx->shape.dims[q - 1], dc[BNN_MAX_RANK], ic[BNN_MAX_RANK];
    for (int d = 0; d < b; d++)
        dc[d] = c[d];
    for (int d = 0; d < q - 1; d++)
        ic[d] = c[d];
    for (int64_t j = 0; j < k; j++) {
        ic[q - 1] = j;
        int64_t v = (int64_t)ke_get(idx, ref_ravel(ic, &idx->shape));
        dc[b + j] = v < 0 ? v + x->shape.dims[b + j] : v;
    }
    for (int d = (int)(b + k); d < x->shape.rank; d++)
        dc[d] = c[q - 1 + d - (b + k)];
    return ke_get(x, ref_ravel(dc, &x->shape));
}

static bnn_shape gather_nd_shape(const bnn_shape *xs, const bnn_shape *is, int64_t b, int64_t k)
{
    bnn_shape ys = KE_SCALAR;
    for (int d = 0; d < is->rank - 1; d++)
        ys.dims[ys.rank++] = is->dims[d];
    for (int d = (int)(b + k); d < xs->rank; d++)
        ys.dims[ys.rank++] = xs->dims[d];
    return ys;
}

Test(index_nd, gather_nd_matches_the_reference)
{
    uint64_t s = 31;
    const bnn_dtype dts[] = {BNN_F32, BNN_I32, BNN_U8, BNN_F64};
    for (int t = 0; t < 80; t++) {
        bnn_shape xs, is;
        int64_t b, k;
        random_case(&s, &xs, &is, &b, &k);
        bnn_shape ys = gather_nd_shape(&xs, &is, b, k), shapes[2] = {xs, is};
        bnn_dtype dt[2] = {dts[t % 4], t % 2 ? BNN_I64 : BNN_I32};
        ke_case *c = ke_create(BNN_OP_GATHER_ND, 2, dt, shapes, dt[0], &ys);
        ke_fill(&c->inputs[0], (uint64_t)t, 0, 200);
        fill_indices(&c->inputs[1], &xs, b, k, (uint64_t)t + 7);
        ke_set_int(c, "batch_dims", b);
        cr_assert_eq(ke_forward(c), BNN_OK, "%d: %s", t, c->diag.message);
        int64_t coords[BNN_MAX_RANK];
        for (int64_t i = 0; i < bnn_tensor_numel(&c->output); i++) {
            ref_unravel(i, &ys, coords);
            double want = ref_gather_nd_at(&c->inputs[0], &c->inputs[1], b, coords);
            cr_assert_eq(ke_get(&c->output, i), want, "case %d element %lld", t, (long long)i);
        }
        ke_destroy(c);
    }
}

Test(index_nd, gather_nd_gradient_matches_finite_differences)
{
    uint64_t s = 77;
    for (int t = 0; t < 12; t++) {
        bnn_shape xs, is;
        int64_t b, k;
        random_case(&s, &xs, &is, &b, &k);
        bnn_shape ys = gather_nd_shape(&xs, &is, b, k), shapes[2] = {xs, is};
        bnn_dtype dt[2] = {BNN_F32, BNN_I64};
        ke_case *c = ke_create(BNN_OP_GATHER_ND, 2, dt, shapes, BNN_F32, &ys);
        ke_fill(&c->inputs[0], (uint64_t)t, -1, 1);
        fill_indices(&c->inputs[1], &xs, b, k, (uint64_t)t + 3);
        ke_set_int(c, "batch_dims", b);
        ke_check_grad(c, 1, 1e-3, 1e-3, 100);
        ke_destroy(c);
    }
}

static double combine(const char *r, double a, double u)
{
    if (strcmp(r, "add") == 0) return a + u;
    if (strcmp(r, "mul") == 0) return a * u;
    if (strcmp(r, "max") == 0) return fmax(a, u);
    if (strcmp(r, "min") == 0) return fmin(a, u);
    return u;
}

Test(index_nd, scatter_nd_matches_the_reference)
{
    static const char *const reductions[] = {"none", "add", "mul", "max", "min"};
    const bnn_dtype dts[] = {BNN_F32, BNN_I64, BNN_F64, BNN_I32};
    uint64_t s = 55;
    for (int t = 0; t < 100; t++) {
        bnn_shape xs, is;
        int64_t b, k;
        random_case(&s, &xs, &is, &b, &k);
        /* scatter_nd has no batch dims: its tuples start at dim 0 */
        k = ke_rand_int(&s, 1, xs.rank);
        is = KE_SCALAR;
        int lead = (int)ke_rand_int(&s, 0, 2);
        for (int d = 0; d < lead; d++)
            is.dims[is.rank++] = ke_rand_int(&s, 1, 3);
        is.dims[is.rank++] = k;
        bnn_shape us = gather_nd_shape(&xs, &is, 0, k), shapes[3] = {xs, is, us};
        const char *r = reductions[t % 5];
        bnn_dtype dt[3] = {dts[t % 4], BNN_I64, dts[t % 4]};
        ke_case *c = ke_create(BNN_OP_SCATTER_ND, 3, dt, shapes, dt[0], &xs);
        ke_fill(&c->inputs[0], (uint64_t)t, -5, 5);
        fill_indices(&c->inputs[1], &xs, 0, k, (uint64_t)t + 11);
        ke_fill(&c->inputs[2], (uint64_t)t + 99, -5, 5);
        ke_set_string(c, "reduction", r);
        cr_assert_eq(ke_forward(c), BNN_OK, "%d: %s", t, c->diag.message);
        /* the reference: apply each slice in order to a copy of data */
        int64_t n = bnn_tensor_numel(&c->inputs[0]), slice = 1, tuples = bnn_tensor_numel(&c->inputs[1]) / k;
        for (int d = (int)k; d < xs.rank; d++)
            slice *= xs.dims[d];
        double *want = malloc(sizeof(double) * (size_t)(n ? n : 1));
        for (int64_t i = 0; i < n; i++)
            want[i] = ke_get(&c->inputs[0], i);
        for (int64_t u = 0; u < tuples; u++) {
            int64_t dc[BNN_MAX_RANK] = {0};
            for (int64_t j = 0; j < k; j++) {
                int64_t v = (int64_t)ke_get(&c->inputs[1], u * k + j);
                dc[j] = v < 0 ? v + xs.dims[j] : v;
            }
            int64_t at = ref_ravel(dc, &xs);
            for (int64_t i = 0; i < slice; i++)
                want[at + i] = combine(r, want[at + i], ke_get(&c->inputs[2], u * slice + i));
        }
        for (int64_t i = 0; i < n; i++) {
            double got = ke_get(&c->output, i), w = dt[0] == BNN_F32 ? (float)want[i] : want[i];
            if (dt[0] == BNN_I32 || dt[0] == BNN_I64)
                w = (double)(int64_t)want[i];
            cr_assert(fabs(got - w) <= 1e-4 * (1 + fabs(w)), "%s %s case %d at %lld: got %g, want %g",
                      r, bnn_dtype_name(dt[0]), t, (long long)i, got, w);
        }
        free(want);
        ke_destroy(c);
    }
}

Test(index_nd, out_of_range_indices_fail_naming_the_node)
{
    bnn_shape shapes[3] = {KE_SHAPE(3, 4), KE_SHAPE(2, 2), KE_SHAPE(2)};
    bnn_dtype dt[3] = {BNN_F32, BNN_I64, BNN_F32};
    for (int op = 0; op < 2; op++) {
        bnn_shape ys = op ? shapes[0] : KE_SHAPE(2);
        ke_case *c = ke_create(op ? BNN_OP_SCATTER_ND : BNN_OP_GATHER_ND, 2 + op, dt, shapes,
                               BNN_F32, &ys);
        int64_t *idx = c->inputs[1].data;
        idx[0] = 1;
        idx[1] = -4;
        idx[2] = 2;
        idx[3] = 4; /* past dim 1 of size 4 */
        cr_assert_eq(ke_forward(c), BNN_ERR_INVALID);
        cr_expect(strstr(c->diag.message, "node 'n0'") && strstr(c->diag.message, "index 4"),
                  "%s", c->diag.message);
        ke_destroy(c);
    }
}
