/* Which params fine-tuning trains (bnn_graph_mark_layer_params_trainable):
 * layer weights and batch norm's scale and shift, per-feature vectors added
 * to or multiplying an activation, embedding tables, class tokens and
 * positional tables; scalars, batch norm's statistics, per-channel
 * constants and masks (-inf, large negatives, only 0 and 1) stay constant. */
#include <criterion/criterion.h>
#include <math.h>
#include <string.h>

#include "bnn_runtime.h"
#include "bnn_train.h"

static const char *net =
    "graph @t(%x: f32[N,4,8], %ids: i64[N,4]) -> (%y: f32[N,4,8], %e: f32[N,4,8], %s: f32[N,4,4]) {\n"
    "  param %w: f32[8,8]\n"
    "  param %b: f32[8]\n"
    "  param %gamma: f32[8]\n"
    "  param %eps: f32[] = [1e-05]\n"
    "  param %pos: f32[1,4,8]\n"
    "  param %chan: f32[4,1,1]\n"
    "  param %table: f32[30,8]\n"
    "  param %mask: f32[1,4,4]\n"
    "  param %keep: f32[1,4,4]\n"
    "  %h = dense(%x, %w, %b) : f32[N,4,8] @fc\n"
    "  %g = mul(%h, %gamma) : f32[N,4,8] @scale\n"
    "  %p = add(%g, %pos) : f32[N,4,8] @position\n"
    "  %q = add(%p, %eps) : f32[N,4,8] @epsilon\n"
    "  %y = mul(%q, %chan) : f32[N,4,8] @per_channel\n"
    "  %e = gather(%table, %ids) : f32[N,4,8] @embed\n"
    "  %sc = matmul(%x, %x) : f32[N,4,4] @scores\n"
    "  %m = add(%sc, %mask) : f32[N,4,4] @causal\n"
    "  %s = mul(%m, %keep) : f32[N,4,4] @dropmask\n"
    "  return %y, %e, %s\n"
    "}\n";

static void fill(bnn_graph *g, const char *name, float v0, float step)
{
    bnn_value *v = &g->values[bnn_graph_find_value(g, name)];
    float *d = v->data;
    for (size_t i = 0; i < v->nbytes / sizeof(float); i++)
        d[i] = v0 + step * (float)(i % 7);
}

Test(trainable, learned_tensors_train_and_constants_stay)
{
    bnn_graph *g = NULL;
    bnn_diag diag = {0};
    cr_assert_eq(bnn_graph_parse(net, "test", &g, &diag), BNN_OK, "%s", diag.message);
    fill(g, "w", -0.3f, 0.1f);
    fill(g, "b", 0.0f, 0.01f);
    fill(g, "gamma", 1.0f, 0.01f);
    fill(g, "pos", -0.05f, 0.02f);
    fill(g, "chan", 0.5f, 0.0f);
    fill(g, "table", -0.1f, 0.03f);
    /* a causal mask: 0 on and below the diagonal, -1e9 above */
    float *mk = g->values[bnn_graph_find_value(g, "mask")].data;
    for (int i = 0; i < 4; i++)
        for (int j = 0; j < 4; j++)
            mk[i * 4 + j] = j > i ? -1e9f : 0.0f;
    float *kp = g->values[bnn_graph_find_value(g, "keep")].data;
    for (int i = 0; i < 16; i++)
        kp[i] = (float)(i % 3 != 0);
    bnn_graph_mark_layer_params_trainable(g);
    static const char *const yes[] = {"w", "b", "gamma", "pos", "table"};
    static const char *const no[] = {"eps", "chan", "mask", "keep"};
    for (size_t i = 0; i < sizeof yes / sizeof *yes; i++)
        cr_expect(g->values[bnn_graph_find_value(g, yes[i])].trainable, "%s should train", yes[i]);
    for (size_t i = 0; i < sizeof no / sizeof *no; i++)
        cr_expect(!g->values[bnn_graph_find_value(g, no[i])].trainable, "%s should stay", no[i]);
    /* the same mask with -inf instead of -1e9 stays a constant too */
    for (int i = 0; i < 16; i++)
        mk[i] = mk[i] < 0 ? -INFINITY : 0.0f;
    g->values[bnn_graph_find_value(g, "mask")].trainable = false;
    bnn_graph_mark_layer_params_trainable(g);
    cr_expect(!g->values[bnn_graph_find_value(g, "mask")].trainable);
    bnn_graph_destroy(g);
}
