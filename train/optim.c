/* Optimizers over flat parameter segments: SGD with momentum, Adam, AdamW.
 * The update rules follow torch.optim's documented algorithms, so runs can be
 * compared with PyTorch step for step. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "bnn_train.h"

bnn_optimizer_config bnn_optimizer_defaults(bnn_optimizer_kind kind)
{
    bnn_optimizer_config c = {
        .kind = kind, .lr = 1e-3f, .momentum = 0.9f, .beta1 = 0.9f, .beta2 = 0.999f,
        .eps = 1e-8f, .weight_decay = kind == BNN_OPTIM_ADAMW ? 0.01f : 0.0f,
    };
    return c;
}

bool bnn_optimizer_kind_from_name(const char *name, bnn_optimizer_kind *kind)
{
    static const struct {
        const char *name;
        bnn_optimizer_kind kind;
    } names[] = {{"sgd", BNN_OPTIM_SGD}, {"adam", BNN_OPTIM_ADAM}, {"adamw", BNN_OPTIM_ADAMW}};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (strcmp(name, names[i].name) == 0) {
            *kind = names[i].kind;
            return true;
        }
    return false;
}

float bnn_lr_at_epoch(float lr, const bnn_lr_schedule *schedule, int64_t epoch)
{
    double rate = lr;
    for (int i = 0; schedule && i < schedule->n_milestones; i++)
        if (schedule->milestones[i] <= epoch)
            rate *= schedule->gamma;
    return (float)rate;
}

bnn_status bnn_optimizer_create(const bnn_optimizer_config *config, size_t n_params,
                                bnn_optimizer **out, bnn_diag *diag)
{
    *out = NULL;
    if (!(config->lr > 0) || !(config->eps > 0) || config->beta1 < 0 || config->beta1 >= 1 ||
        config->beta2 < 0 || config->beta2 >= 1 || config->momentum < 0 ||
        config->weight_decay < 0)
        return bnn_fail(diag, BNN_ERR_INVALID,
                        "optimizer settings out of range (lr and eps > 0, betas in [0,1), "
                        "momentum and weight decay >= 0)");
    bnn_optimizer *opt = calloc(1, sizeof *opt);
    if (!opt)
        return bnn_fail(diag, BNN_ERR_NOMEM, "out of memory for the optimizer");
    opt->config = *config;
    opt->n = n_params;
    opt->m = calloc(n_params ? n_params : 1, sizeof(float));
    if (config->kind != BNN_OPTIM_SGD)
        opt->v = calloc(n_params ? n_params : 1, sizeof(float));
    if (!opt->m || (config->kind != BNN_OPTIM_SGD && !opt->v)) {
        bnn_optimizer_destroy(opt);
        return bnn_fail(diag, BNN_ERR_NOMEM, "out of memory for optimizer state of %zu params",
                        n_params);
    }
    *out = opt;
    return BNN_OK;
}

void bnn_optimizer_destroy(bnn_optimizer *opt)
{
    if (!opt)
        return;
    free(opt->m);
    free(opt->v);
    free(opt);
}

void bnn_optimizer_begin_step(bnn_optimizer *opt)
{
    opt->step++;
}

/* Adam(W)'s per-step constants. */
typedef struct adam_consts {
    float b1, b2, eps, inv_bc2_sqrt, step_size, decay, l2;
} adam_consts;

/* One Adam(W) update over n params: constants in locals and no branch, so
 * the loop vectorises (restrict: no aliasing doubts; sqrtf inline with
 * -fno-math-errno).  Compiled for the x86-64 baseline, for AVX2 and for
 * AVX-512, picked at run time; the same IEEE operations in the same order either way (no
 * contraction into FMA: GCC's ISO C default, the pragma for clang), so the
 * same bits. */
#ifdef __clang__
#pragma STDC FP_CONTRACT OFF
#endif
static inline __attribute__((always_inline)) void
adam_body(const adam_consts *k, float *restrict p, float *restrict mm, float *restrict v,
          const float *restrict gr, size_t n)
{
    const float b1 = k->b1, b2 = k->b2, eps = k->eps, inv_bc2_sqrt = k->inv_bc2_sqrt;
    const float step_size = k->step_size, decay = k->decay, l2 = k->l2;
    for (size_t i = 0; i < n; i++) {
        float g = gr[i] + l2 * p[i];
        float q = p[i] - decay * p[i];
        mm[i] = b1 * mm[i] + (1 - b1) * g;
        v[i] = b2 * v[i] + (1 - b2) * g * g;
        float denom = sqrtf(v[i]) * inv_bc2_sqrt + eps;
        p[i] = q - step_size * mm[i] / denom;
    }
}

typedef void adam_fn(const adam_consts *, float *restrict, float *restrict, float *restrict,
                     const float *restrict, size_t);

static void adam_base(const adam_consts *k, float *restrict p, float *restrict mm,
                      float *restrict v, const float *restrict gr, size_t n)
{
    adam_body(k, p, mm, v, gr, n);
}

#if defined(__GNUC__) && defined(__x86_64__)
__attribute__((target("avx2,fma"))) static void
adam_avx2(const adam_consts *k, float *restrict p, float *restrict mm, float *restrict v,
          const float *restrict gr, size_t n)
{
    adam_body(k, p, mm, v, gr, n);
}
#endif

#if defined(__GNUC__) && defined(__x86_64__)
__attribute__((target("avx512f,avx512dq,avx512vl,avx2,fma"))) static void
adam_avx512(const adam_consts *k, float *restrict p, float *restrict mm, float *restrict v,
            const float *restrict gr, size_t n)
{
    adam_body(k, p, mm, v, gr, n);
}
#endif

static adam_fn *adam_for_cpu(void)
{
#if defined(__GNUC__) && defined(__x86_64__)
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq") &&
        __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx2") &&
        __builtin_cpu_supports("fma"))
        return adam_avx512;
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
        return adam_avx2;
#endif
    return adam_base;
}

void bnn_optimizer_update(bnn_optimizer *opt, size_t offset, float *params, const float *grads,
                          size_t n)
{
    BNN_ASSERT(opt->step > 0 && offset + n <= opt->n);
    const bnn_optimizer_config *c = &opt->config;
    float *m = opt->m + offset;
    float lr = c->lr, wd = c->weight_decay;
    switch (c->kind) {
    case BNN_OPTIM_SGD: {
        /* torch: g += wd*p; buf = momentum*buf + g (buf = g on the first step); p -= lr*buf */
        bool first = opt->step == 1;
        for (size_t i = 0; i < n; i++) {
            float g = grads[i] + wd * params[i];
            m[i] = first ? g : c->momentum * m[i] + g;
            params[i] -= lr * (c->momentum > 0 ? m[i] : g);
        }
        break;
    }
    case BNN_OPTIM_ADAM:
    case BNN_OPTIM_ADAMW: {
        double t = (double)opt->step;
        adam_consts k = {
            .b1 = c->beta1, .b2 = c->beta2, .eps = c->eps,
            .inv_bc2_sqrt = (float)(1.0 / sqrt(1.0 - pow(c->beta2, t))),
            .step_size = lr / (float)(1.0 - pow(c->beta1, t)),
            .decay = c->kind == BNN_OPTIM_ADAMW ? lr * wd : 0.0f,
            .l2 = c->kind == BNN_OPTIM_ADAMW ? 0.0f : wd,
        };
        adam_for_cpu()(&k, params, m, opt->v + offset, grads, n);
        break;
    }
    }
}
