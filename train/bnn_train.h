/* Training: losses, optimizers and learning-rate schedules, and the trainer
 * (train/train.c) that ties them to a session.  Data sets are in bnn_data.h.
 */
#ifndef BNN_TRAIN_H
#define BNN_TRAIN_H

#include "bnn_comm.h"
#include "bnn_tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- losses ---------------------------------------------------------------- */

/* Mean over the n rows of -log softmax(logits)[label]; logits [n, k].  When
 * grad is not NULL writes d(scale * loss)/d logits into it ([n, k]).  A label
 * outside [0, k) fails naming the row. */
bnn_status bnn_softmax_cross_entropy(const float *logits, const int64_t *labels, int64_t n,
                                     int64_t k, float scale, double *loss, float *grad,
                                     bnn_diag *diag);
/* Mean over all n*k elements of (pred - target)^2; grad as above. */
void bnn_mse(const float *pred, const float *target, int64_t n, int64_t k, float scale,
             double *loss, float *grad);
/* Binary cross-entropy, the mean over n elements of
 *   -(t log p + (1 - t) log(1 - p))
 * with targets t in [0, 1] (a target outside fails naming the element).
 * With from_logits, in holds z and p = sigmoid(z): the loss is computed as
 * max(z, 0) - z t + log1p(exp(-|z|)) and its gradient (sigmoid(z) - t) / n,
 * exact for any z.  Else in holds p, clamped to [1e-7, 1 - 1e-7] (the
 * gradient is 0 where the clamp bites).  grad as above. */
bnn_status bnn_binary_cross_entropy(const float *in, const float *target, int64_t n,
                                    bool from_logits, float scale, double *loss, float *grad,
                                    bnn_diag *diag);

/* The Gaussian likelihood of a regressor with a learned homoscedastic noise
 * scale s (train/loss_gaussian.c): the mean over the n rows of
 *   0.5 * sum_j ((t_ij - f_ij)^2 / s_j^2 + log(2 pi s_j^2)),
 * pred and target [n, k], s_j = exp(log_sigma[j]) with n_sigma = k (one per
 * output) or 1 (shared).  When not NULL, grad gets d(scale * loss)/d pred
 * ([n, k]) and log_sigma_grad d(scale * loss)/d log_sigma ([n_sigma],
 * overwritten).  A non-finite target fails naming it; n_sigma neither 1 nor
 * k fails. */
bnn_status bnn_gaussian_nll(const float *pred, const float *target, int64_t n, int64_t k,
                            const float *log_sigma, int64_t n_sigma, float scale, double *loss,
                            float *grad, double *log_sigma_grad, bnn_diag *diag);

/* A regressor's noise scale lives in its model file as this param, f32 [k]
 * (one log sigma per output) or [1] (shared), read by no node; graph
 * compaction keeps it (BNN_RESERVED_PARAM_PREFIX) and ONNX export writes it
 * as an initializer of that name. */
#define BNN_NOISE_PARAM "bnnc.noise_log_sigma"
/* The param's value id, or -1 when the model has none. */
int bnn_graph_noise_param(const bnn_graph *graph);
/* sigma[0..k) for a model with k outputs per example (a shared scale repeated);
 * fails when there is no param, or it is neither [1] nor [k]. */
bnn_status bnn_graph_noise_sigmas(const bnn_graph *graph, int64_t k, double *sigma,
                                  bnn_diag *diag);
/* Sets the param to log sigma[0..n), creating it (not trainable: the trainer
 * steps it itself) when the model has none; an existing one must have n
 * values. */
bnn_status bnn_graph_set_noise_sigmas(bnn_graph *graph, const double *sigma, int64_t n,
                                      bnn_diag *diag);

/* ---- optimizers ------------------------------------------------------------ */

typedef enum bnn_optimizer_kind {
    BNN_OPTIM_SGD,   /* with momentum, as torch.optim.SGD */
    BNN_OPTIM_ADAM,  /* as torch.optim.Adam; weight_decay is an L2 term in the gradient */
    BNN_OPTIM_ADAMW, /* decoupled weight decay, as torch.optim.AdamW */
} bnn_optimizer_kind;

typedef struct bnn_optimizer_config {
    bnn_optimizer_kind kind;
    float lr;           /* default 1e-3 */
    float momentum;     /* SGD; default 0.9 */
    float beta1, beta2; /* Adam(W); defaults 0.9, 0.999 */
    float eps;          /* Adam(W); default 1e-8 */
    float weight_decay; /* default 0 for SGD and Adam, 0.01 for AdamW */
} bnn_optimizer_config;

bnn_optimizer_config bnn_optimizer_defaults(bnn_optimizer_kind kind);

/* Step decay, as torch.optim.lr_scheduler.MultiStepLR stepped once per epoch:
 * the learning rate of epoch `epoch` (0-based) is lr * gamma^k, k the number
 * of milestones <= epoch.  Milestones [2] with gamma 0.1 over 3 epochs run
 * epochs 1 and 2 at lr and epoch 3 at lr/10.  No milestones: lr throughout. */
#define BNN_LR_MAX_MILESTONES 16
typedef struct bnn_lr_schedule {
    int n_milestones;
    int64_t milestones[BNN_LR_MAX_MILESTONES]; /* epochs completed before each decay */
    double gamma;                              /* default 0.1 */
} bnn_lr_schedule;

float bnn_lr_at_epoch(float lr, const bnn_lr_schedule *schedule, int64_t epoch);
/* "sgd", "adam", "adamw" -> kind; false for anything else. */
bool bnn_optimizer_kind_from_name(const char *name, bnn_optimizer_kind *kind);

/* Optimizer state (moments) for n_params floats in one flat buffer, so it can
 * be saved and restored as a whole for checkpoints. */
typedef struct bnn_optimizer {
    bnn_optimizer_config config;
    int64_t step;  /* completed steps */
    size_t n;
    float *m;      /* owned: momentum buffer or Adam's first moment, n floats */
    float *v;      /* owned: Adam's second moment, n floats (NULL for SGD) */
} bnn_optimizer;

bnn_status bnn_optimizer_create(const bnn_optimizer_config *config, size_t n_params,
                                bnn_optimizer **out, bnn_diag *diag);
void bnn_optimizer_destroy(bnn_optimizer *opt);
/* One step counts once however many segments it updates: call begin, then
 * update each parameter segment [offset, offset + n) of the flat state. */
void bnn_optimizer_begin_step(bnn_optimizer *opt);
void bnn_optimizer_update(bnn_optimizer *opt, size_t offset, float *params, const float *grads,
                          size_t n);

/* ---- the trainer ---------------------------------------------------------- */

typedef enum bnn_loss_kind {
    BNN_LOSS_CROSS_ENTROPY, /* logits [n, k] against integer labels */
    BNN_LOSS_MSE,           /* outputs against f32 targets of the same shape */
    BNN_LOSS_BCE,           /* probabilities [n] or [n, 1] (a sigmoid's: its logits are
                               used) against f32 targets in [0, 1] of the same shape */
    BNN_LOSS_GAUSSIAN,      /* outputs against f32 targets of the same shape, the
                               Gaussian likelihood with the noise scale of the graph's
                               BNN_NOISE_PARAM, which the trainer steps with the other
                               params (its Adam moments follow theirs in the optimizer's
                               flat state, so checkpoints carry them) */
} bnn_loss_kind;

typedef struct bnn_train_options {
    bnn_optimizer_config optimizer;
    bnn_loss_kind loss;
    /* loss = dnn_factor * data_loss + bnn_factor * KL, data_loss the mean over
     * the batch, KL summed over every weight and bias of every Bayesian layer */
    double dnn_factor;
    double bnn_factor;
    int64_t batch;  /* the planned batch; a smaller final batch gets its own plan */
    uint64_t seed;  /* keys weight samples and dropout */
    int threads;    /* 0 = all cores */
    bnn_comm *comm; /* not owned; data-parallel ranks (docs/distributed.md); NULL: alone */
    /* The learning rate of Bayesian layers' rho params is the optimizer's
     * times this (0 counts as 1): with Adam's step bounded by the lr, rho
     * (and so the posterior's width) otherwise moves too little in a short
     * fine-tune to be learned from the data (docs/uncertainty.md). */
    float rho_lr_scale;
    /* Over more than one rank: split the per-parameter work of a step (the
     * KL pass and the optimizer update) among the ranks, ZeRO-1 style: the
     * gradients are reduce-scattered instead of all-reduced, and the updated
     * params all-gathered (docs/distributed.md).  Each rank's optimizer
     * moments are then current for its part alone, until
     * bnn_trainer_gather_state. */
    bool shard_update;
} bnn_train_options;

/* What `bnnc train` starts from: Adam with its defaults, cross-entropy,
 * dnn_factor 1, bnn_factor 0 (set it to 1/N for N training examples: the
 * KL once per epoch), batch 64, seed 1, threads 0 (all cores), no comm. */
bnn_train_options bnn_train_defaults(void);

typedef struct bnn_step_result {
    double loss;      /* dnn_factor * data_loss + bnn_factor * kl */
    double data_loss; /* mean over the batch */
    double kl;        /* summed over the Bayesian layers */
    int64_t correct;  /* classification: rows whose arg-max is the label */
    int64_t count;    /* rows in the batch */
    double reduce_ms; /* wall time in the all-reduce (data-parallel steps only) */
    double reduce_wait_ms; /* the part of it spent waiting for the slowest rank */
    /* where the step's wall time went, for profiles: forward run, loss and
     * backward sweep (less what it spent on the all-reduce), the derived rho
     * gradients with the KL, the optimizer update */
    double forward_ms, backward_ms, finish_ms, update_ms;
    /* Some rank asked to stop after this step (bnn_trainer_request_stop): the
     * same on every rank, since the requests are summed with the batch's
     * statistics, so every rank stops after the same step. */
    bool stop;
} bnn_step_result;

typedef struct bnn_trainer bnn_trainer;

/* Trains graph's trainable params in place (the graph must outlive the
 * trainer). The graph needs one input and one output. */
bnn_status bnn_trainer_create(bnn_graph *graph, const bnn_train_options *options,
                              bnn_trainer **out, bnn_diag *diag);
void bnn_trainer_destroy(bnn_trainer *trainer);

/* Marks as trainable every f32 param that is a layer's weight or bias: inputs
 * 1 and 2 of dense, gemm, conv and matmul (when a param), the slope of prelu,
 * the scale and bias (not the frozen statistics) of batch_norm, and the mu and
 * rho of Bayesian layers; outside the layer ops, a per-feature vector ([d] or
 * [1,..,1,d]) multiplied or added to an activation (layer norm's scale and
 * shift, a bias after a MatMul), a rank-2 table Gather reads with computed
 * indices (an embedding), a [1, k, d] token Expand broadcasts (ViT's class
 * token) and a [1, T, d] positional table added to the sequence unless its
 * values look like a mask.  ONNX files carry no trainable flag, so a model read
 * back has only its Bayesian params marked; `bnnc train` calls this so that a
 * plain model fine-tunes and the layers a partial to-bnn left deterministic
 * train with the rest, as in PyTorch.  Returns how many params it marked. */
int bnn_graph_mark_layer_params_trainable(bnn_graph *graph);

/* One optimizer step on a batch: x shaped like the graph input with any first
 * dim up to options.batch, y labels i64 [b] or targets. A NaN or Inf in the
 * loss fails with BNN_ERR_NUMERIC before any param changes. */
bnn_status bnn_trainer_step(bnn_trainer *trainer, const bnn_tensor *x, const bnn_tensor *y,
                            bnn_step_result *result, bnn_diag *diag);

/* Data-parallel step (docs/distributed.md): x and y hold this rank's rows
 * (possibly none), rows first_row .. first_row + b - 1 of a global batch of
 * global_rows rows split among the ranks of options.comm.  Per-example draws
 * (dropout, the local and flipout estimators) are those of the row's place in
 * the global batch, so K ranks train what one process trains.  Each rank runs forward and backward on its rows with the
 * data loss scaled by rows / global_rows; the gradients are summed over the
 * ranks in one all-reduce; the KL gradient is added after it, once; every rank
 * then takes the same optimizer step.  result describes the global batch (the
 * same on every rank).  With one rank this is bnn_trainer_step; and
 * bnn_trainer_step itself never communicates, whatever options.comm. */
bnn_status bnn_trainer_step_shard(bnn_trainer *trainer, const bnn_tensor *x, const bnn_tensor *y,
                                  int64_t first_row, int64_t global_rows,
                                  bnn_step_result *result, bnn_diag *diag);

/* Copies rank 0's trainable params, optimizer state and step count to every
 * rank of options.comm, so that all start from the same place (a model
 * initialised or resumed on rank 0 alone).  Nothing to do with one rank. */
bnn_status bnn_trainer_broadcast(bnn_trainer *trainer, bnn_diag *diag);

/* With options.shard_update over several ranks: every rank's part of the
 * optimizer moments all-gathered, so that each rank holds them whole (call on
 * every rank before writing a checkpoint).  Nothing to do otherwise. */
bnn_status bnn_trainer_gather_state(bnn_trainer *trainer, bnn_diag *diag);
/* Whether the trainer shards its steps (options.shard_update, several
 * ranks): its moments are whole only after bnn_trainer_gather_state. */
bool bnn_trainer_sharded(const bnn_trainer *trainer);

/* Whether this rank wants to stop (a signal caught): sent with the next
 * data-parallel step's statistics, which carry no more bytes for it (one
 * more double in the all-reduce every step already makes), and returned, the
 * ranks' requests combined, as that step's bnn_step_result.stop.  In one
 * process stop is returned as it was given. */
void bnn_trainer_request_stop(bnn_trainer *trainer, bool stop);

/* A hash of what ranks must agree on about a graph: its inputs, outputs, ops,
 * value shapes and every param's bytes.  For bnn_comm_agree. */
uint64_t bnn_graph_fingerprint(const bnn_graph *graph);

/* The optimizer (its moments and step count, for checkpoints) and the number
 * of trainable floats it covers. */
bnn_optimizer *bnn_trainer_optimizer(bnn_trainer *trainer);
/* Steps taken; keys the random draws, so a resumed run sets it back. */
uint64_t bnn_trainer_steps(const bnn_trainer *trainer);
void bnn_trainer_set_steps(bnn_trainer *trainer, uint64_t steps);

/* For `bnnc bench --train`: times warmup + iters training steps (forward,
 * loss, backward, KL, optimizer update) of graph on one synthetic batch of
 * options->batch rows (inputs uniform in [0, 1), labels i mod classes for
 * cross-entropy, zero targets for MSE), and writes each timed step's wall
 * time in milliseconds to step_ms[0..iters).  Trains graph's trainable params
 * in place (a plain model needs bnn_graph_mark_layer_params_trainable first);
 * *arena_bytes (may be NULL) gets the bytes the trainer planned: activations,
 * gradients, optimizer state. */
bnn_status bnn_train_bench(bnn_graph *graph, const bnn_train_options *options, int warmup,
                           int iters, double *step_ms, size_t *arena_bytes, bnn_diag *diag);

/* ---- Laplace posterior (train/laplace.c) --------------------------------- */

typedef struct bnn_laplace_options {
    int64_t max_examples; /* the first this many rows of x; 0: all */
    uint64_t seed;        /* the labels drawn from the model's predictive */
    int threads;          /* 0: all cores */
} bnn_laplace_options;

typedef struct bnn_laplace_result {
    double prior_precision; /* lambda, chosen by the Laplace marginal likelihood */
    double prior_sigma;     /* 1 / sqrt(lambda), set on every Bayesian layer */
    int64_t examples;       /* rows the curvature was summed over */
    int64_t params;         /* weights and biases given a sigma */
    double mean_sigma;
} bnn_laplace_result;

/* Sets every Bayesian layer's sigma (rho) from a diagonal Laplace
 * approximation at its means: sigma_i = 1 / sqrt(F_i + lambda), F the
 * diagonal of the data loss's generalised Gauss-Newton matrix summed over
 * the rows of x (one label drawn per row from the model's own softmax), and
 * the prior N(0, 1/lambda) (written to each layer's prior_mu / prior_sigma)
 * with lambda maximising the Laplace marginal likelihood.  The model needs
 * one input and one [N, K] logits output (or a softmax of them).  On
 * failure the rho are left as they were. */
bnn_status bnn_laplace_init(bnn_graph *graph, const bnn_tensor *x, const bnn_laplace_options *o,
                            bnn_laplace_result *result, bnn_diag *diag);

/* The permutation of 0..n-1 for an epoch: a pure function of (seed, epoch),
 * so a resumed run shuffles as the uninterrupted one did. */
void bnn_shuffle_indices(int64_t *idx, int64_t n, uint64_t seed, uint64_t epoch);

#ifdef __cplusplus
}
#endif

#endif
