/* Linear algebra: einsum against loops written out for each equation (batch
 * matmul, implicit output, transpose, trace, batch diagonal with an
 * ellipsis, outer product, broadcasting ellipses), its gradients by finite
 * differences, bad equations; det against the Leibniz formula. */
#include <math.h>
#include <string.h>

#include <criterion/criterion.h>

#include "harness.h"

static ke_case *einsum_case(const char *eq, int n, const bnn_shape *in, const bnn_shape *out,
                            uint64_t seed)
{
    ke_case *c = ke_create1(BNN_OP_EINSUM, BNN_F32, n, in, out);
    for (int k = 0; k < n; k++)
        ke_fill(&c->inputs[k], seed + (uint64_t)k, -1, 1);
    ke_set_string(c, "equation", eq);
    return c;
}

static void expect_close(ke_case *c, int64_t i, double want, const char *eq)
{
    double got = ke_get(&c->output, i);
    cr_expect(fabs(got - want) <= 1e-5 * (1 + fabs(want)), "%s at %lld: got %g, want %g", eq,
              (long long)i, got, want);
}

#define X0(i) ke_get(&c->inputs[0], (i))
#define X1(i) ke_get(&c->inputs[1], (i))

Test(linalg, einsum_matches_written_out_loops)
{
    {
        bnn_shape in[2] = {KE_SHAPE(3, 2, 4), KE_SHAPE(3, 4, 5)}, out = KE_SHAPE(3, 2, 5);
        ke_case *c = einsum_case("bij, bjk -> bik", 2, in, &out, 1);
        cr_assert_eq(ke_forward(c), BNN_OK, "%s", c->diag.message);
        for (int b = 0; b < 3; b++)
            for (int i = 0; i < 2; i++)
                for (int k = 0; k < 5; k++) {
                    double s = 0;
                    for (int j = 0; j < 4; j++)
                        s += X0((b * 2 + i) * 4 + j) * X1((b * 4 + j) * 5 + k);
                    expect_close(c, (b * 2 + i) * 5 + k, s, "bij,bjk->bik");
                }
        ke_destroy(c);
    }
    {   /* implicit output: the letters seen once, sorted: "ik" */
        bnn_shape in[2] = {KE_SHAPE(2, 3), KE_SHAPE(3, 4)}, out = KE_SHAPE(2, 4);
        ke_case *c = einsum_case("ij,jk", 2, in, &out, 2);
        cr_assert_eq(ke_forward(c), BNN_OK, "%s", c->diag.message);
        for (int i = 0; i < 2; i++)
            for (int k = 0; k < 4; k++) {
                double s = 0;
                for (int j = 0; j < 3; j++)
                    s += X0(i * 3 + j) * X1(j * 4 + k);
                expect_close(c, i * 4 + k, s, "ij,jk");
            }
        ke_destroy(c);
    }
    {   /* transpose, and a sum over rows */
        bnn_shape in = KE_SHAPE(3, 4), out = KE_SHAPE(4, 3), sum = KE_SHAPE(4);
        ke_case *c = einsum_case("ij->ji", 1, &in, &out, 3);
        cr_assert_eq(ke_forward(c), BNN_OK, "%s", c->diag.message);
        for (int i = 0; i < 3; i++)
            for (int j = 0; j < 4; j++)
                expect_close(c, j * 3 + i, X0(i * 4 + j), "ij->ji");
        ke_destroy(c);
        c = einsum_case("ij->j", 1, &in, &sum, 4);
        cr_assert_eq(ke_forward(c), BNN_OK, "%s", c->diag.message);
        for (int j = 0; j < 4; j++)
            expect_close(c, j, X0(j) + X0(4 + j) + X0(8 + j), "ij->j");
        ke_destroy(c);
    }
    {   /* trace (implicit: no letter seen once) and batch diagonal */
        bnn_shape in = KE_SHAPE(4, 4), out = KE_SCALAR;
        ke_case *c = einsum_case("ii", 1, &in, &out, 5);
        cr_assert_eq(ke_forward(c), BNN_OK, "%s", c->diag.message);
        expect_close(c, 0, X0(0) + X0(5) + X0(10) + X0(15), "ii");
        ke_destroy(c);
        bnn_shape bin = KE_SHAPE(2, 3, 5, 5), bout = KE_SHAPE(2, 3, 5);
        c = einsum_case("...ii ->...i", 1, &bin, &bout, 6);
        cr_assert_eq(ke_forward(c), BNN_OK, "%s", c->diag.message);
        for (int b = 0; b < 6; b++)
            for (int i = 0; i < 5; i++)
                expect_close(c, b * 5 + i, X0(b * 25 + i * 6), "...ii->...i");
        ke_destroy(c);
    }
    {   /* outer product, and ellipses that broadcast a 1 */
        bnn_shape in[2] = {KE_SHAPE(3), KE_SHAPE(2)}, out = KE_SHAPE(3, 2);
        ke_case *c = einsum_case("i,j->ij", 2, in, &out, 7);
        cr_assert_eq(ke_forward(c), BNN_OK, "%s", c->diag.message);
        for (int i = 0; i < 3; i++)
            for (int j = 0; j < 2; j++)
                expect_close(c, i * 2 + j, X0(i) * X1(j), "i,j->ij");
        ke_destroy(c);
        bnn_shape bin[2] = {KE_SHAPE(2, 1, 2, 3), KE_SHAPE(4, 3, 2)}, bout = KE_SHAPE(2, 4, 2, 2);
        c = einsum_case("...ij,...jk->...ik", 2, bin, &bout, 8);
        cr_assert_eq(ke_forward(c), BNN_OK, "%s", c->diag.message);
        for (int a = 0; a < 2; a++)
            for (int b = 0; b < 4; b++)
                for (int i = 0; i < 2; i++)
                    for (int k = 0; k < 2; k++) {
                        double s = 0;
                        for (int j = 0; j < 3; j++)
                            s += X0((a * 2 + i) * 3 + j) * X1((b * 3 + j) * 2 + k);
                        expect_close(c, ((a * 4 + b) * 2 + i) * 2 + k, s, "...ij,...jk");
                    }
        ke_destroy(c);
    }
}

Test(linalg, einsum_gradients_match_finite_differences)
{
    static const struct {
        const char *eq;
        int n;
        bnn_shape in[3], out;
    } cases[] = {
        {"bij,bjk->bik", 2, {{3, {2, 2, 3}}, {3, {2, 3, 2}}}, {3, {2, 2, 2}}},
        {"...ii->...i", 1, {{3, {2, 3, 3}}}, {2, {2, 3}}},
        {"i,i", 2, {{1, {5}}, {1, {5}}}, {0, {0}}},
        {"ij,jk,k->i", 3, {{2, {2, 3}}, {2, {3, 4}}, {1, {4}}}, {1, {2}}},
    };
    for (size_t t = 0; t < sizeof cases / sizeof cases[0]; t++) {
        ke_case *c = einsum_case(cases[t].eq, cases[t].n, cases[t].in, &cases[t].out, 20 + t);
        ke_check_grad(c, (1u << cases[t].n) - 1, 1e-3, 1e-3, 50);
        ke_destroy(c);
    }
}

Test(linalg, bad_equations_fail_naming_the_node)
{
    static const char *const bad[] = {"ij,jk->ik", "ijk->i", "ij->q", "i.j->i", "ij->ii", "i1->i"};
    bnn_shape in = KE_SHAPE(2, 3), out = KE_SHAPE(2);
    for (size_t t = 0; t < sizeof bad / sizeof bad[0]; t++) {
        ke_case *c = einsum_case(bad[t], 1, &in, &out, 1);
        cr_expect_eq(ke_forward(c), BNN_ERR_INVALID, "'%s' was accepted", bad[t]);
        cr_expect(strstr(c->diag.message, "node 'n0'") && strstr(c->diag.message, bad[t]), "%s",
                  c->diag.message);
        ke_destroy(c);
    }
}

/* sum over permutations p of sign(p) * prod a[i][p(i)] */
static double leibniz(const double *a, int m)
{
    int p[6];
    for (int i = 0; i < m; i++)
        p[i] = i;
    double total = 0;
    for (;;) {
        int inv = 0;
        for (int i = 0; i < m; i++)
            for (int j = i + 1; j < m; j++)
                inv += p[i] > p[j];
        double prod = inv % 2 ? -1 : 1;
        for (int i = 0; i < m; i++)
            prod *= a[i * m + p[i]];
        total += prod;
        /* next permutation in lexicographic order */
        int i = m - 2;
        while (i >= 0 && p[i] > p[i + 1])
            i--;
        if (i < 0)
            break;
        int j = m - 1;
        while (p[j] < p[i])
            j--;
        int t = p[i]; p[i] = p[j]; p[j] = t;
        for (int l = i + 1, r = m - 1; l < r; l++, r--) {
            t = p[l]; p[l] = p[r]; p[r] = t;
        }
    }
    return total;
}

Test(linalg, det_matches_the_leibniz_formula)
{
    for (int m = 1; m <= 5; m++)
        for (int dt = 0; dt < 2; dt++) {
            bnn_shape in = KE_SHAPE(3, m, m), out = KE_SHAPE(3);
            ke_case *c = ke_create1(BNN_OP_DET, dt ? BNN_F64 : BNN_F32, 1, &in, &out);
            ke_fill(&c->inputs[0], (uint64_t)(m * 2 + dt), -2, 2);
            if (m >= 2) /* a singular one: two equal rows */
                for (int j = 0; j < m; j++)
                    ke_put(&c->inputs[0], 2 * m * m + m + j, ke_get(&c->inputs[0], 2 * m * m + j));
            cr_assert_eq(ke_forward(c), BNN_OK, "%s", c->diag.message);
            for (int b = 0; b < 3; b++) {
                double a[25];
                for (int i = 0; i < m * m; i++)
                    a[i] = ke_get(&c->inputs[0], b * m * m + i);
                double want = leibniz(a, m), got = ke_get(&c->output, b);
                cr_expect(fabs(got - want) <= (dt ? 1e-12 : 1e-4) * (1 + fabs(want)),
                          "m=%d %s matrix %d: got %g, want %g", m, dt ? "f64" : "f32", b, got, want);
            }
            ke_destroy(c);
        }
}

/* Four unrelated labels of 300 each are 8.1e9 combinations: refused by
 * name rather than walked for minutes. */
Test(linalg, einsum_refuses_more_work_than_it_walks)
{
    bnn_shape in[4] = {KE_SHAPE(300), KE_SHAPE(300), KE_SHAPE(300), KE_SHAPE(300)},
              out = KE_SCALAR;
    ke_case *c = einsum_case("a,b,c,d->", 4, in, &out, 1);
    cr_assert_eq(ke_forward(c), BNN_ERR_INVALID);
    cr_expect(strstr(c->diag.message, "node 'n0'") && strstr(c->diag.message, "2^32"), "%s",
              c->diag.message);
    ke_destroy(c);
}
