/* max_pool_indices against a reference written from ONNX's definition
 * (each output's window over x's coordinates, padding skipped, the first
 * maximum; its index in x flattened row-major, or column-major within the
 * plane for storage_order=1), over 1 to 3 spatial dims with strides, pads
 * and dilations, for f32 and u8. */
#include <math.h>
#include <string.h>

#include <criterion/criterion.h>

#include "harness.h"
#include "reference.h"

Test(pool_indices, matches_the_reference)
{
    uint64_t s = 17;
    for (int t = 0; t < 60; t++) {
        int sd = 1 + t % 3;
        bool column_major = (t / 3) % 2;
        bnn_dtype dt = t % 4 == 3 ? BNN_U8 : BNN_F32;
        int64_t k[3], st[3], pads[6], dil[3];
        bnn_shape xs = KE_SHAPE(2, 2), ys = KE_SHAPE(2, 2);
        for (int i = 0; i < sd; i++) {
            k[i] = ke_rand_int(&s, 1, 3);
            st[i] = ke_rand_int(&s, 1, 2);
            dil[i] = ke_rand_int(&s, 1, 2);
            pads[i] = ke_rand_int(&s, 0, k[i] - 1);
            pads[sd + i] = ke_rand_int(&s, 0, k[i] - 1);
            int64_t n = ke_rand_int(&s, (k[i] - 1) * dil[i] + 1, 6);
            xs.dims[xs.rank++] = n;
            ys.dims[ys.rank++] = (n + pads[i] + pads[sd + i] - (k[i] - 1) * dil[i] - 1) / st[i] + 1;
        }
        ke_case *c = ke_create1(BNN_OP_MAX_POOL_INDICES, dt, 1, &xs, &ys);
        ke_add_output(c, BNN_I64, &ys);
        ke_fill(&c->inputs[0], (uint64_t)t, 0, dt == BNN_U8 ? 5 : 1); /* u8 repeats: ties */
        ke_set_ints(c, "kernel_shape", k, sd);
        ke_set_ints(c, "strides", st, sd);
        ke_set_ints(c, "pads", pads, 2 * sd);
        ke_set_ints(c, "dilations", dil, sd);
        ke_set_int(c, "storage_order", column_major);
        cr_assert_eq(ke_forward(c), BNN_OK, "%d: %s", t, c->diag.message);
        int64_t oc[BNN_MAX_RANK], xc[BNN_MAX_RANK];
        for (int64_t i = 0; i < bnn_tensor_numel(&c->output); i++) {
            ref_unravel(i, &ys, oc);
            double best = -INFINITY;
            int64_t best_at = -1, best_pos = -1;
            int64_t taps = 1;
            for (int j = 0; j < sd; j++)
                taps *= k[j];
            for (int64_t tap = 0; tap < taps; tap++) {
                int64_t rem = tap;
                bool inside = true;
                xc[0] = oc[0];
                xc[1] = oc[1];
                for (int j = sd - 1; j >= 0; j--) {
                    int64_t kk = rem % k[j];
                    rem /= k[j];
                    xc[2 + j] = oc[2 + j] * st[j] - pads[j] + kk * dil[j];
                    inside = inside && xc[2 + j] >= 0 && xc[2 + j] < xs.dims[2 + j];
                }
                if (!inside)
                    continue;
                int64_t at = ref_ravel(xc, &xs);
                double v = ke_get(&c->inputs[0], at);
                if (best_at < 0 || v > best) {
                    best = v;
                    best_at = at;
                    int64_t pos = 0, mul = 1;
                    for (int j = 0; j < sd; j++) { /* column-major: first spatial dim fastest */
                        pos += xc[2 + j] * mul;
                        mul *= xs.dims[2 + j];
                    }
                    int64_t plane = (xc[0] * xs.dims[1] + xc[1]) * mul;
                    best_pos = column_major ? plane + pos : at;
                }
            }
            cr_assert_geq(best_at, 0);
            cr_expect_eq(ke_get(&c->output, i), best, "%d: value %lld", t, (long long)i);
            cr_expect_eq(((int64_t *)c->extra_outputs[0].data)[i], best_pos, "%d: index %lld: got %lld, want %lld",
                         t, (long long)i, (long long)((int64_t *)c->extra_outputs[0].data)[i],
                         (long long)best_pos);
        }
        ke_destroy(c);
    }
}
