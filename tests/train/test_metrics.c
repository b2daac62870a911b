/* Metrics on small inputs worked out by hand, ties included. */
#include <criterion/criterion.h>
#include <math.h>

#include "bnn_metrics.h"

Test(metrics, entropy)
{
    float uniform[4] = {0.25f, 0.25f, 0.25f, 0.25f};
    float certain[3] = {0, 1, 0};
    cr_assert_float_eq(bnn_entropy(uniform, 4), log(4.0), 1e-7);
    cr_assert_float_eq(bnn_entropy(certain, 3), 0.0, 1e-12);
}

Test(metrics, disagreeing_samples_are_epistemic)
{
    /* two samples, one example: [1,0] and [0,1] */
    float probs[4] = {1, 0, 0, 1};
    float mean[2], total, aleatoric, epistemic;
    bnn_predictive_stats(probs, 2, 1, 2, mean, &total, &aleatoric, &epistemic);
    cr_assert_float_eq(mean[0], 0.5f, 1e-7);
    cr_assert_float_eq(total, log(2.0), 1e-6);
    cr_assert_float_eq(aleatoric, 0, 1e-7);
    cr_assert_float_eq(epistemic, log(2.0), 1e-6);
}

Test(metrics, agreeing_uncertain_samples_are_aleatoric)
{
    /* two samples, two examples; example 1 is uniform in both samples */
    float probs[8] = {0.9f, 0.1f, 0.5f, 0.5f, /* sample 0 */
                      0.9f, 0.1f, 0.5f, 0.5f}; /* sample 1 */
    float mean[4], total[2], aleatoric[2], epistemic[2];
    bnn_predictive_stats(probs, 2, 2, 2, mean, total, aleatoric, epistemic);
    cr_assert_float_eq(total[1], log(2.0), 1e-6);
    cr_assert_float_eq(aleatoric[1], log(2.0), 1e-6);
    cr_assert_float_eq(epistemic[1], 0, 1e-6);
    double h = -(0.9 * log(0.9) + 0.1 * log(0.1));
    cr_assert_float_eq(total[0], h, 1e-6);
}

static const float four[8] = {0.9f, 0.1f, 0.25f, 0.75f, 0.65f, 0.35f, 0.45f, 0.55f};
static const int64_t four_labels[4] = {0, 0, 0, 1};

Test(metrics, accuracy_nll_brier)
{
    cr_assert_float_eq(bnn_accuracy(four, four_labels, 4, 2), 0.75, 1e-12);
    double nll = -(log(0.9) + log(0.25) + log(0.65) + log(0.55)) / 4;
    cr_assert_float_eq(bnn_nll(four, four_labels, 4, 2), nll, 1e-6);
    double brier = (2 * 0.01 + 2 * 0.5625 + 2 * 0.1225 + 2 * 0.2025) / 4;
    cr_assert_float_eq(bnn_brier(four, four_labels, 4, 2), brier, 1e-6);
    float zero[2] = {1, 0};
    int64_t wrong = 1;
    cr_assert_float_eq(bnn_nll(zero, &wrong, 1, 2), -log(1e-12), 1e-6);
}

Test(metrics, accuracy_breaks_ties_to_the_first_class)
{
    float tie[2] = {0.5f, 0.5f};
    int64_t zero = 0, one = 1;
    cr_assert_float_eq(bnn_accuracy(tie, &zero, 1, 2), 1.0, 1e-12);
    cr_assert_float_eq(bnn_accuracy(tie, &one, 1, 2), 0.0, 1e-12);
}

Test(metrics, ece_by_hand)
{
    /* 5 bins: conf 0.9 -> bin 4 (acc 1), 0.75 and 0.65 -> bin 3 (acc 0.5,
     * conf 0.7), 0.55 -> bin 2 (acc 1) */
    int64_t count[5];
    double acc[5], conf[5];
    double ece = bnn_ece(four, four_labels, 4, 2, 5, count, acc, conf);
    cr_assert_float_eq(ece, 0.25 * 0.1 + 0.5 * 0.2 + 0.25 * 0.45, 1e-6);
    cr_assert_eq(count[3], 2);
    cr_assert_eq(count[0] + count[1], 0);
    cr_assert_float_eq(acc[3], 0.5, 1e-12);
    cr_assert_float_eq(conf[3], 0.7, 1e-6);
}

Test(metrics, ece_of_a_calibrated_model_is_zero)
{
    float p[8] = {1, 0, 0, 1, 1, 0, 0, 1};
    int64_t labels[4] = {0, 1, 0, 1};
    cr_assert_float_eq(bnn_ece(p, labels, 4, 2, 15, NULL, NULL, NULL), 0.0, 1e-12);
}

Test(metrics, auroc_with_ties)
{
    float pos[2] = {0.9f, 0.5f}, neg[2] = {0.5f, 0.1f};
    /* pairs: 0.9>0.5, 0.9>0.1, 0.5=0.5 (half), 0.5>0.1 */
    cr_assert_float_eq(bnn_auroc(pos, 2, neg, 2), 3.5 / 4, 1e-12);
    float all_same[3] = {1, 1, 1};
    cr_assert_float_eq(bnn_auroc(all_same, 3, all_same, 3), 0.5, 1e-12);
    cr_assert_float_eq(bnn_auroc(neg, 2, pos, 2), 0.5 / 4, 1e-12);
    cr_assert_float_eq(bnn_auroc(pos, 0, neg, 2), 0.5, 1e-12);
}
