/* Optimizer steps and losses against values worked out by hand. */
#include <criterion/criterion.h>
#include <math.h>

#include "bnn_train.h"

static bnn_optimizer *make(bnn_optimizer_kind kind, float lr, float wd, size_t n)
{
    bnn_optimizer_config c = bnn_optimizer_defaults(kind);
    c.lr = lr;
    c.weight_decay = wd;
    bnn_optimizer *opt;
    bnn_diag diag;
    cr_assert_eq(bnn_optimizer_create(&c, n, &opt, &diag), BNN_OK);
    return opt;
}

static void step(bnn_optimizer *opt, float *p, float g)
{
    bnn_optimizer_begin_step(opt);
    bnn_optimizer_update(opt, 0, p, &g, 1);
}

Test(optim, sgd_momentum_accumulates)
{
    bnn_optimizer *opt = make(BNN_OPTIM_SGD, 0.1f, 0, 1);
    float p = 1;
    step(opt, &p, 0.5f); /* buf = 0.5, p = 1 - 0.05 */
    cr_assert_float_eq(p, 0.95f, 1e-7);
    step(opt, &p, 0.5f); /* buf = 0.9*0.5 + 0.5 = 0.95, p = 0.95 - 0.095 */
    cr_assert_float_eq(p, 0.855f, 1e-6);
    bnn_optimizer_destroy(opt);
}

Test(optim, adam_bias_correction)
{
    bnn_optimizer *opt = make(BNN_OPTIM_ADAM, 0.1f, 0, 1);
    float p = 1;
    step(opt, &p, 1.0f); /* m^ = 1, v^ = 1: p -= 0.1 */
    cr_assert_float_eq(p, 0.9f, 1e-6);
    step(opt, &p, -1.0f); /* m = -0.01, v = 0.001999: m^ = -0.01/0.19, v^ = 1 */
    cr_assert_float_eq(p, 0.9f + 0.1f * 0.01f / 0.19f, 1e-6);
    bnn_optimizer_destroy(opt);
}

Test(optim, adam_weight_decay_is_l2)
{
    bnn_optimizer *opt = make(BNN_OPTIM_ADAM, 0.1f, 0.1f, 1);
    float p = 2;
    /* g = 0.5 + 0.1*2; the first Adam step moves by lr whatever g's size */
    step(opt, &p, 0.5f);
    cr_assert_float_eq(p, 1.9f, 1e-6);
    bnn_optimizer_destroy(opt);
}

Test(optim, adamw_decays_decoupled)
{
    bnn_optimizer *opt = make(BNN_OPTIM_ADAMW, 0.1f, 0.01f, 1);
    float p = 1;
    step(opt, &p, 0.5f); /* p = 1 - 0.1*0.01*1 = 0.999, then - 0.1 */
    cr_assert_float_eq(p, 0.899f, 1e-6);
    bnn_optimizer_destroy(opt);
}

Test(optim, segments_share_one_step)
{
    bnn_optimizer *opt = make(BNN_OPTIM_ADAM, 0.1f, 0, 2);
    float a = 1, b = 1, g = 1;
    bnn_optimizer_begin_step(opt);
    bnn_optimizer_update(opt, 0, &a, &g, 1);
    bnn_optimizer_update(opt, 1, &b, &g, 1);
    cr_assert_eq(opt->step, 1);
    cr_assert_float_eq(a, 0.9f, 1e-6);
    cr_assert_float_eq(b, 0.9f, 1e-6);
    bnn_optimizer_destroy(opt);
}

Test(optim, rejects_bad_settings)
{
    bnn_optimizer_config c = bnn_optimizer_defaults(BNN_OPTIM_ADAM);
    c.lr = -1;
    bnn_optimizer *opt;
    bnn_diag diag;
    cr_assert_eq(bnn_optimizer_create(&c, 4, &opt, &diag), BNN_ERR_INVALID);
    cr_assert(strstr(diag.message, "lr") != NULL);
    bnn_optimizer_kind kind;
    cr_assert(bnn_optimizer_kind_from_name("adamw", &kind) && kind == BNN_OPTIM_ADAMW);
    cr_assert(!bnn_optimizer_kind_from_name("rmsprop", &kind));
}

Test(loss, cross_entropy_value_and_gradient)
{
    /* logits [0, ln 3]: softmax [1/4, 3/4] */
    float logits[4] = {0, logf(3), 0, 0};
    int64_t labels[2] = {1, 0};
    float grad[4];
    double loss;
    bnn_diag diag;
    cr_assert_eq(bnn_softmax_cross_entropy(logits, labels, 2, 2, 1, &loss, grad, &diag), BNN_OK);
    cr_assert_float_eq(loss, (-log(0.75) - log(0.5)) / 2, 1e-6);
    cr_assert_float_eq(grad[0], 0.25f / 2, 1e-6);
    cr_assert_float_eq(grad[1], (0.75f - 1) / 2, 1e-6);
    cr_assert_float_eq(grad[2], (0.5f - 1) / 2, 1e-6);
    labels[1] = 2;
    cr_assert_eq(bnn_softmax_cross_entropy(logits, labels, 2, 2, 1, &loss, NULL, &diag),
                 BNN_ERR_INVALID);
    cr_assert(strstr(diag.message, "row 1") != NULL);
}

Test(loss, cross_entropy_gradient_matches_finite_differences)
{
    float logits[6] = {0.3f, -1.2f, 2.0f, 0.1f, 0.0f, -0.5f};
    int64_t labels[2] = {2, 0};
    float grad[6];
    double loss, up, down;
    cr_assert_eq(bnn_softmax_cross_entropy(logits, labels, 2, 3, 2.0f, &loss, grad, NULL), BNN_OK);
    for (int i = 0; i < 6; i++) {
        float keep = logits[i];
        logits[i] = keep + 1e-2f;
        bnn_softmax_cross_entropy(logits, labels, 2, 3, 1, &up, NULL, NULL);
        logits[i] = keep - 1e-2f;
        bnn_softmax_cross_entropy(logits, labels, 2, 3, 1, &down, NULL, NULL);
        logits[i] = keep;
        cr_assert_float_eq(grad[i], 2.0 * (up - down) / 2e-2, 1e-3, "logit %d", i);
    }
}

Test(loss, mse)
{
    float pred[2] = {1, 3}, target[2] = {0, 1}, grad[2];
    double loss;
    bnn_mse(pred, target, 1, 2, 1, &loss, grad);
    cr_assert_float_eq(loss, 2.5, 1e-9);
    cr_assert_float_eq(grad[0], 1.0f, 1e-7); /* 2*(1-0)/2 */
    cr_assert_float_eq(grad[1], 2.0f, 1e-7);
}

Test(optim, lr_schedule_steps_after_each_milestone)
{
    bnn_lr_schedule s = {.n_milestones = 2, .milestones = {2, 4}, .gamma = 0.1};
    const float want[] = {1e-3f, 1e-3f, 1e-4f, 1e-4f, 1e-5f, 1e-5f};
    for (int64_t e = 0; e < 6; e++)
        cr_assert_float_eq(bnn_lr_at_epoch(1e-3f, &s, e), want[e], want[e] * 1e-6f, "epoch %lld", (long long)e);
    /* milestones need not be sorted, and a repeated one decays twice, as in torch */
    bnn_lr_schedule r = {.n_milestones = 3, .milestones = {3, 1, 1}, .gamma = 0.5};
    cr_assert_float_eq(bnn_lr_at_epoch(1.0f, &r, 0), 1.0f, 0);
    cr_assert_float_eq(bnn_lr_at_epoch(1.0f, &r, 1), 0.25f, 0);
    cr_assert_float_eq(bnn_lr_at_epoch(1.0f, &r, 3), 0.125f, 0);
    bnn_lr_schedule none = {.gamma = 0.1};
    cr_assert_float_eq(bnn_lr_at_epoch(0.01f, &none, 100), 0.01f, 0);
    cr_assert_float_eq(bnn_lr_at_epoch(0.01f, NULL, 100), 0.01f, 0);
}
