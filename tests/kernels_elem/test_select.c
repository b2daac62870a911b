/* Selection along an axis: top_k and hardmax against references written
 * from ONNX's definitions (a full sort of each line by value, ties to the
 * lower position; the first maximum), on every axis, both directions, ties,
 * NaN and integer types; top_k's gradient by finite differences. */
#include <math.h>
#include <string.h>

#include <criterion/criterion.h>

#include "harness.h"

/* The line (o, i) of x's axis as positions ranked best first: a selection
 * sort that takes the lower position among equals (NaN largest). */
static void ref_rank(const bnn_tensor *x, int64_t base, int64_t len, int64_t stride,
                     bool largest, int64_t *rank)
{
    bool taken[64] = {false};
    cr_assert(len <= 64);
    for (int64_t j = 0; j < len; j++) {
        int64_t best = -1;
        for (int64_t p = 0; p < len; p++) {
            if (taken[p])
                continue;
            if (best < 0) {
                best = p;
                continue;
            }
            double a = ke_get(x, base + p * stride), b = ke_get(x, base + best * stride);
            bool better = largest ? (isnan(a) && !isnan(b)) || a > b
                                  : (isnan(b) && !isnan(a)) || a < b;
            if (better)
                best = p;
        }
        taken[best] = true;
        rank[j] = best;
    }
}

static void check_top_k(bnn_dtype dt, const bnn_shape *xs, int axis, int64_t k, bool largest,
                        uint64_t seed, double lo, double hi)
{
    bnn_shape ys = *xs;
    ys.dims[axis] = k;
    ke_case *c = ke_create1(BNN_OP_TOP_K, dt, 1, xs, &ys);
    ke_add_output(c, BNN_I64, &ys);
    ke_fill(&c->inputs[0], seed, lo, hi);
    ke_set_int(c, "k", k);
    ke_set_int(c, "axis", axis - (seed % 2 ? xs->rank : 0)); /* negative half the time */
    ke_set_int(c, "largest", largest);
    cr_assert_eq(ke_forward(c), BNN_OK, "%s", c->diag.message);
    int64_t outer = 1, inner = 1, len = xs->dims[axis];
    for (int d = 0; d < xs->rank; d++)
        if (d < axis)
            outer *= xs->dims[d];
        else if (d > axis)
            inner *= xs->dims[d];
    int64_t rank[64];
    for (int64_t o = 0; o < outer; o++)
        for (int64_t i = 0; i < inner; i++) {
            ref_rank(&c->inputs[0], o * len * inner + i, len, inner, largest, rank);
            for (int64_t j = 0; j < k; j++) {
                int64_t at = o * k * inner + j * inner + i;
                double want = ke_get(&c->inputs[0], o * len * inner + rank[j] * inner + i);
                double got = ke_get(&c->output, at);
                cr_expect(got == want || (isnan(got) && isnan(want)),
                          "value %lld: got %g, want %g", (long long)at, got, want);
                cr_expect_eq(((int64_t *)c->extra_outputs[0].data)[at], rank[j],
                             "index %lld: got %lld, want %lld", (long long)at,
                             (long long)((int64_t *)c->extra_outputs[0].data)[at], (long long)rank[j]);
            }
        }
    ke_destroy(c);
}

Test(select, top_k_matches_the_reference)
{
    const bnn_dtype dts[] = {BNN_F32, BNN_F64, BNN_I32, BNN_I64, BNN_U8};
    uint64_t s = 5;
    for (int t = 0; t < 60; t++) {
        bnn_shape xs = ke_shape(0, NULL);
        xs.rank = (int)ke_rand_int(&s, 1, 4);
        for (int d = 0; d < xs.rank; d++)
            xs.dims[d] = ke_rand_int(&s, 1, 5);
        int axis = (int)ke_rand_int(&s, 0, xs.rank - 1);
        int64_t k = ke_rand_int(&s, 0, xs.dims[axis]);
        bnn_dtype dt = dts[t % 5];
        /* integers in [0, 3] repeat a lot: ties must keep the lower position */
        check_top_k(dt, &xs, axis, k, t % 3 != 0, (uint64_t)t, dt == BNN_F32 ? -2 : 0,
                    dt == BNN_F32 || dt == BNN_F64 ? 2 : 3);
    }
}

Test(select, top_k_ties_and_nan)
{
    bnn_shape xs = KE_SHAPE(7), ys = KE_SHAPE(4);
    const float x[7] = {1, NAN, 3, 3, -1, 1, 3};
    const int64_t want_large[4] = {1, 2, 3, 6}, want_small[4] = {4, 0, 5, 2};
    for (int largest = 0; largest < 2; largest++) {
        ke_case *c = ke_create1(BNN_OP_TOP_K, BNN_F32, 1, &xs, &ys);
        ke_add_output(c, BNN_I64, &ys);
        memcpy(c->inputs[0].data, x, sizeof x);
        ke_set_int(c, "k", 4);
        ke_set_int(c, "largest", largest);
        cr_assert_eq(ke_forward(c), BNN_OK, "%s", c->diag.message);
        const int64_t *got = c->extra_outputs[0].data, *want = largest ? want_large : want_small;
        for (int j = 0; j < 4; j++)
            cr_expect_eq(got[j], want[j], "largest=%d, %d: got %lld, want %lld", largest, j,
                         (long long)got[j], (long long)want[j]);
        ke_destroy(c);
    }
}

Test(select, top_k_refuses_k_past_the_axis)
{
    bnn_shape xs = KE_SHAPE(2, 3), ys = KE_SHAPE(2, 4);
    ke_case *c = ke_create1(BNN_OP_TOP_K, BNN_F32, 1, &xs, &ys);
    ke_add_output(c, BNN_I64, &ys);
    ke_set_int(c, "k", 4);
    cr_assert_eq(ke_forward(c), BNN_ERR_SHAPE);
    cr_expect(strstr(c->diag.message, "node 'n0'") && strstr(c->diag.message, "k is 4"), "%s",
              c->diag.message);
    ke_destroy(c);
}

Test(select, top_k_gradient_matches_finite_differences)
{
    for (int axis = 0; axis < 3; axis++) {
        bnn_shape xs = KE_SHAPE(3, 4, 5), ys = xs;
        ys.dims[axis] = 2;
        ke_case *c = ke_create1(BNN_OP_TOP_K, BNN_F32, 1, &xs, &ys);
        ke_add_output(c, BNN_I64, &ys);
        ke_fill(&c->inputs[0], (uint64_t)axis + 3, -3, 3); /* distinct values: no ties to flip */
        ke_set_int(c, "k", 2);
        ke_set_int(c, "axis", axis);
        ke_set_int(c, "largest", axis != 1);
        ke_check_grad(c, 1, 1e-3, 1e-2, 60);
        ke_destroy(c);
    }
}

Test(select, hardmax_matches_the_reference)
{
    uint64_t s = 9;
    for (int t = 0; t < 40; t++) {
        bnn_shape xs = ke_shape(0, NULL);
        xs.rank = (int)ke_rand_int(&s, 1, 4);
        for (int d = 0; d < xs.rank; d++)
            xs.dims[d] = ke_rand_int(&s, 1, 4);
        int axis = (int)ke_rand_int(&s, 0, xs.rank - 1);
        bool coerce = t % 2;
        bnn_dtype dt = t % 3 ? BNN_F32 : BNN_F64;
        ke_case *c = ke_create1(BNN_OP_HARDMAX, dt, 1, &xs, &xs);
        ke_fill(&c->inputs[0], (uint64_t)t, -1, 1);
        /* rounded to tenths: equal maxima happen, the first must win */
        for (int64_t i = 0; i < bnn_tensor_numel(&c->inputs[0]); i++)
            ke_put(&c->inputs[0], i, round(ke_get(&c->inputs[0], i) * 3) / 3);
        ke_set_int(c, "axis", axis);
        ke_set_int(c, "coerce", coerce);
        cr_assert_eq(ke_forward(c), BNN_OK, "%s", c->diag.message);
        int64_t outer = 1, len = 1, inner = 1;
        for (int d = 0; d < xs.rank; d++)
            if (d < axis)
                outer *= xs.dims[d];
            else if (d == axis || coerce)
                len *= xs.dims[d];
            else
                inner *= xs.dims[d];
        for (int64_t o = 0; o < outer; o++)
            for (int64_t i = 0; i < inner; i++) {
                int64_t best = 0;
                for (int64_t p = 1; p < len; p++)
                    if (ke_get(&c->inputs[0], (o * len + p) * inner + i) >
                        ke_get(&c->inputs[0], (o * len + best) * inner + i))
                        best = p;
                for (int64_t p = 0; p < len; p++)
                    cr_expect_eq(ke_get(&c->output, (o * len + p) * inner + i), p == best ? 1 : 0,
                                 "case %d line (%lld, %lld) at %lld", t, (long long)o,
                                 (long long)i, (long long)p);
            }
        ke_destroy(c);
    }
}

/* ONNX: y[t, b] = x[len_b - 1 - t, b] for t < len_b, else x[t, b]. */
Test(select, reverse_sequence_matches_the_reference_and_its_gradient)
{
    for (int batch_first = 0; batch_first < 2; batch_first++)
        for (int dt = 0; dt < 2; dt++) {
            const int64_t T = 5, B = 4, inner = 3;
            bnn_shape xs = batch_first ? KE_SHAPE(B, T, inner) : KE_SHAPE(T, B, inner),
                      ls = KE_SHAPE(B), shapes[2] = {xs, ls};
            bnn_dtype dts[2] = {dt ? BNN_I32 : BNN_F32, dt ? BNN_I32 : BNN_I64};
            ke_case *c = ke_create(BNN_OP_REVERSE_SEQUENCE, 2, dts, shapes, dts[0], &xs);
            ke_fill(&c->inputs[0], 3 + (uint64_t)dt, -50, 50);
            const int64_t lens[4] = {5, 0, 3, 1};
            for (int b = 0; b < 4; b++)
                ke_put(&c->inputs[1], b, (double)lens[b]);
            ke_set_int(c, "batch_axis", batch_first ? 0 : 1);
            ke_set_int(c, "time_axis", batch_first ? 1 : 0);
            cr_assert_eq(ke_forward(c), BNN_OK, "%s", c->diag.message);
            for (int64_t t = 0; t < T; t++)
                for (int64_t b = 0; b < B; b++)
                    for (int64_t i = 0; i < inner; i++) {
                        int64_t st = t < lens[b] ? lens[b] - 1 - t : t;
                        int64_t at = (batch_first ? b * T + t : t * B + b) * inner + i;
                        int64_t from = (batch_first ? b * T + st : st * B + b) * inner + i;
                        cr_expect_eq(ke_get(&c->output, at), ke_get(&c->inputs[0], from),
                                     "t %lld b %lld", (long long)t, (long long)b);
                    }
            if (!dt)
                ke_check_grad(c, 1, 1e-3, 1e-3, 60);
            ke_put(&c->inputs[1], 2, 6); /* longer than T */
            cr_assert_eq(ke_forward(c), BNN_ERR_INVALID);
            cr_expect(strstr(c->diag.message, "sequence length 6"), "%s", c->diag.message);
            ke_destroy(c);
        }
}
