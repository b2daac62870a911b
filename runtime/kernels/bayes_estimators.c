/* The "local" and "flipout" estimators of bnn.dense_reparam,
 * bnn.conv_reparam and bnn.conv_transpose_reparam (bayes.c has "reparam" and
 * dispatches here).
 * Both give every example of a batch its own noise, so the examples of a
 * batch no longer share one weight draw and the gradient's variance falls
 * with the batch size; the output's marginal law per element is the same
 * as reparam's (mean op(x, mu) + mu_b, variance op(x^2, sigma^2) + sigma_b^2).
 * "op" is the layer's product: x . w^T for dense, the convolution (the conv
 * kernel, conv.c, with the node's strides/pads/...) for conv, the transposed
 * convolution (conv_transpose.c) for conv_transpose; "conv" below means
 * either of the last two (the layer's kernel is the op row's PAIR).
 *
 * local (Kingma, Salimans and Welling 2015, local reparameterisation):
 *   mean = op(x, mu_w) + mu_b,  var = op(x^2, sigma_w^2) + sigma_b^2,
 *   y = mean + sqrt(var) * eps,  eps ~ N(0, 1) of y's shape, element i being
 *   element i of the stream (seed, node, BNN_RNG_PURPOSE_LOCAL, step), counted
 *   from the batch's first example (bnn_kernel_draw_first: a data-parallel
 *   shard draws what its rows draw in the whole batch).
 *   state: [eps (ny) | std = sqrt(var) (ny) | sigma_w^2 (nw) | sigma_b^2 (nb)].
 *   sqrt at 0: var is a sum of non-negative terms x_i^2 sigma_i^2, so
 *   var == 0 means every term is 0 and every first derivative of var
 *   (2 x_i sigma_i^2, 2 sigma_i x_i^2) is 0 too; sqrt(var) is not
 *   differentiable there and we take the subgradient 0: where std == 0 the
 *   noise path passes no gradient (no floor, so the forward is exact).
 *   Where var > 0, d std / d var = 1 / (2 std) is finite in float for any
 *   var above the denormals, and the products with d var stay bounded.
 *
 * flipout (Wen, Vicol, Ba, Tran and Grosse 2018), as TFP's DenseFlipout and
 * Conv2DFlipout:
 *   dW = sigma_w * eps_w  (one draw per pass: eps_w is reparam's, stream
 *                          (seed, node, BNN_RNG_PURPOSE_WEIGHTS, step))
 *   y  = op(x, mu_w) + b + op(x * s_in, dW) * s_out
 *   s_in, s_out = +-1 per example and input (output) channel, broadcast over
 *   space for conv (dense: per row of x seen as [m, in]); from the stream
 *   streams (seed, node, BNN_RNG_PURPOSE_FLIPOUT, step), element r*cin + c,
 *   for s_in and (seed, node, BNN_RNG_PURPOSE_FLIPOUT_OUT, step), element
 *   r*cout + c, for s_out (rows r counted from the batch's first example, as
 *   for local), -1 where the uniform is < 1/2.
 *   b = mu_b + sigma_b * eps_b, one draw shared by the batch (eps_b as
 *   reparam's: stream element nw + j), as TFP does: flipout decorrelates the
 *   weight noise only.
 *   state: [eps_w (nw) | dW (nw) | b (nb) | eps_b (nb) | s_in | s_out].
 *
 * Every draw is a pure function of (seed, node, step, element) and every
 * loop computes each element on its own, so results do not depend on the
 * thread count; backward reads the forward's draws from `state`.
 */
#include <math.h>
#include <string.h>

#include "bayes_impl.h"
#include "gemm_impl.h"
#include "nn_impl.h"
#include "rng.h"
#include "vecmath.h"

#define ALIGN64(n) (((n) + 63) & ~(size_t)63)
/* elementwise loops split over threads from this many elements */
#define PAR_MIN 32768

enum { IN_X = BAYES_IN_X, IN_WMU, IN_WRHO, IN_BMU, IN_BRHO };

/* The layer's product seen generically: x [rows, cin, sp_in] and
 * y [rows, cout, sp_out] (dense: sp = 1; conv: rows = batch, channels,
 * spatial sizes). */
typedef struct lin_op {
    const bnn_kernel_args *args;
    bool conv;
    int64_t rows, cin, cout, sp_in, sp_out;
    int64_t nx, ny;
    bayes_params p;
    void *scratch; /* the product's scratch (start of ours, 64-aligned) */
} lin_op;

static bnn_status lin_get(const bnn_kernel_args *args, bool conv, lin_op *op, bnn_diag *diag)
{
    memset(op, 0, sizeof *op);
    op->args = args;
    op->conv = conv;
    BNN_TRY(bayes_params_get(args, &op->p, diag));
    const bnn_tensor *x = &args->inputs[IN_X], *y = &args->outputs[0];
    op->nx = bnn_tensor_numel(x);
    op->ny = bnn_tensor_numel(y);
    if (!conv) {
        BNN_TRY(bayes_dense_dims(args, &op->rows, &op->cin, &op->cout, diag));
        op->sp_in = op->sp_out = 1;
        return BNN_OK;
    }
    char label[300];
    const bnn_tensor *w = &args->inputs[IN_WMU];
    /* conv: w [M, C/group, k...]; conv_transpose: w [C, M/group, k...] */
    bool transpose = bnn_op_get(args->node->op)->pair == BNN_OP_CONV_TRANSPOSE;
    int64_t m = w->shape.rank >= 2 ? w->shape.dims[transpose ? 1 : 0] : -1;
    if (transpose && m >= 0 && __builtin_mul_overflow(m, bnn_node_int(args->node, "group", 1), &m))
        m = -1;
    if (x->shape.rank < 3 || y->shape.rank != x->shape.rank || w->shape.rank != x->shape.rank ||
        x->dtype != BNN_F32 || y->shape.dims[0] != x->shape.dims[0] || m < 0 ||
        y->shape.dims[1] != m || (op->p.has_bias && op->p.nb != m))
        return bnn_fail(diag, BNN_ERR_SHAPE,
                        "%s: input, weight, bias and output do not fit a convolution",
                        bnn_node_label(args->graph, args->node_id, label, sizeof label));
    op->rows = x->shape.dims[0];
    op->cin = x->shape.dims[1];
    op->cout = y->shape.dims[1];
    int64_t in_planes = op->rows * op->cin, out_planes = op->rows * op->cout;
    op->sp_in = in_planes > 0 ? op->nx / in_planes : 0;
    op->sp_out = out_planes > 0 ? op->ny / out_planes : 0;
    return BNN_OK;
}

/* The kernel of the node's deterministic layer (ops.def PAIR). */
static const bnn_kernel *layer_kernel(const lin_op *op)
{
    return bnn_kernel_get(bnn_op_get(op->args->node->op)->pair);
}

/* Conv kernel args on our node: x, w and (when b or want_b) a bias. */
static void conv_call_args(const lin_op *op, const float *x, const float *w, const float *b,
                           bool with_bias, float *y, bnn_tensor tin[3], bnn_tensor *tout,
                           bnn_kernel_args *cargs)
{
    const bnn_kernel_args *a = op->args;
    *cargs = *a;
    tin[0] = a->inputs[IN_X];
    tin[0].data = (void *)x;
    tin[1] = a->inputs[IN_WMU];
    tin[1].data = (void *)w;
    tin[2] = with_bias ? a->inputs[IN_BMU] : (bnn_tensor){0};
    tin[2].data = (void *)b;
    for (int k = 0; k < 3; k++)
        tin[k].owns_data = false;
    *tout = a->outputs[0];
    tout->data = y;
    tout->owns_data = false;
    cargs->inputs = tin;
    cargs->n_inputs = with_bias ? 3 : 2;
    cargs->outputs = tout;
    cargs->n_outputs = 1;
    cargs->scratch = op->scratch;
    cargs->state = NULL;
}

static size_t lin_scratch_size(const lin_op *op)
{
    if (!op->conv) {
        size_t f = nn_gemm_scratch_size(BNN_F32, op->rows, op->cout, op->cin);
        size_t b = nn_gemm_scratch_size(BNN_F32, op->rows, op->cin, op->cout);
        return ALIGN64(f > b ? f : b);
    }
    const bnn_kernel *conv = layer_kernel(op);
    bnn_tensor tin[3], tout;
    bnn_kernel_args cargs;
    conv_call_args(op, NULL, NULL, NULL, op->p.has_bias, NULL, tin, &tout, &cargs);
    return conv->scratch_size ? ALIGN64(conv->scratch_size(&cargs)) : 0;
}

/* y = op(x, w) + b (b may be NULL). */
static bnn_status lin_forward(const lin_op *op, const float *x, const float *w, const float *b,
                              float *y, bnn_diag *diag)
{
    if (op->conv) {
        bnn_tensor tin[3], tout;
        bnn_kernel_args cargs;
        conv_call_args(op, x, w, b, b != NULL, y, tin, &tout, &cargs);
        return layer_kernel(op)->forward(&cargs, diag);
    }
    int64_t m = op->rows, in = op->cin, out = op->cout;
    if (m && out && in) {
        nn_gemm(BNN_F32, false, true, m, out, in, 1.0f, x, in, w, in, 0.0f, y, out, b, op->scratch);
        return BNN_OK;
    }
    for (int64_t r = 0; r < m; r++)
        for (int64_t o = 0; o < out; o++)
            y[r * out + o] = b ? b[o] : 0.0f;
    return BNN_OK;
}

/* Accumulates the gradients of y = op(x, w) + b for dL/dy = g into gx, gw and
 * gb (each may be NULL). */
static bnn_status lin_backward(const lin_op *op, const float *x, const float *w, const float *g,
                               float *gx, float *gw, float *gb, bnn_diag *diag)
{
    if (op->conv) {
        const bnn_kernel *conv = layer_kernel(op);
        char label[300];
        if (!conv->backward)
            return bnn_fail(diag, BNN_ERR_UNSUPPORTED, "%s: the layer's kernel has no backward",
                            bnn_node_label(op->args->graph, op->args->node_id, label,
                                           sizeof label));
        bnn_tensor tin[3], tout, gin[3], gout;
        bnn_kernel_args cargs;
        /* the bias operand only carries gb; the conv reads no bias values in backward */
        conv_call_args(op, x, w, gb, gb != NULL, op->args->outputs[0].data, tin, &tout, &cargs);
        gin[0] = tin[0];
        gin[0].data = gx;
        gin[1] = tin[1];
        gin[1].data = gw;
        gin[2] = tin[2];
        gin[2].data = gb;
        gout = tout;
        gout.data = (void *)g;
        bnn_kernel_grads cgrads = {&gout, gin};
        return conv->backward(&cargs, &cgrads, diag);
    }
    int64_t m = op->rows, in = op->cin, out = op->cout;
    if (gx && m && out && in)
        nn_gemm(BNN_F32, false, false, m, in, out, 1.0f, g, out, w, in, 1.0f, gx, in, NULL,
                op->scratch);
    if (gw && m && out && in)
        nn_gemm(BNN_F32, true, false, out, in, m, 1.0, g, out, x, in, 1.0, gw, in, NULL, NULL);
    if (gb)
        for (int64_t r = 0; r < m; r++)
            for (int64_t o = 0; o < out; o++)
                gb[o] += g[r * out + o];
    return BNN_OK;
}

/* A bump allocator over scratch, after the product's own scratch. */
typedef struct bump {
    unsigned char *base;
    size_t used;
} bump;

static float *bump_take(bump *b, int64_t floats)
{
    float *p = b->base ? (float *)(b->base + b->used) : NULL;
    b->used += ALIGN64((size_t)floats * sizeof(float));
    return p;
}

static bool wants_grad(const bnn_kernel_grads *grads, const lin_op *op, int k)
{
    return bayes_input_present(op->args, k) && grads->grad_inputs[k].data != NULL;
}

/* ---- the loops over rho, vectorised ----------------------------------------
 *
 * The estimators' passes over a layer's rho, compiled for the x86-64
 * baseline, AVX2 and AVX-512 and picked at run time, as bayes.c's sampling
 * (vecmath.h: the same operations in the same order, so the same bits
 * whichever runs); split over threads in fixed chunks. */
typedef enum rho_loop {
    RHO_SIGMA_SQ,   /* out = softplus(rho)^2 */
    RHO_FLIP_DW,    /* out = softplus(rho) * a (a: eps) */
    RHO_FLIP_GRAD,  /* out += a * b * sigmoid(rho) (a: dL/ddW, b: eps) */
    RHO_LOCAL_GRAD, /* out += a * 2 * softplus(rho) * sigmoid(rho) (a: dL/dsigma^2) */
} rho_loop;

static inline __attribute__((always_inline)) void
rho_loop_body(rho_loop k, const float *restrict rho, const float *restrict a,
              const float *restrict b, float *restrict out, int64_t n)
{
    switch (k) {
    case RHO_SIGMA_SQ:
        for (int64_t i = 0; i < n; i++) {
            float s = vecmath_softplus(rho[i]);
            out[i] = s * s;
        }
        break;
    case RHO_FLIP_DW:
        for (int64_t i = 0; i < n; i++)
            out[i] = vecmath_softplus(rho[i]) * a[i];
        break;
    case RHO_FLIP_GRAD:
        for (int64_t i = 0; i < n; i++)
            out[i] += a[i] * b[i] * vecmath_sigmoid(rho[i]);
        break;
    case RHO_LOCAL_GRAD:
        for (int64_t i = 0; i < n; i++)
            out[i] += a[i] * 2.0f * vecmath_softplus(rho[i]) * vecmath_sigmoid(rho[i]);
        break;
    }
}

typedef void rho_loop_fn(rho_loop, const float *restrict, const float *restrict,
                         const float *restrict, float *restrict, int64_t);

static void rho_loop_base(rho_loop k, const float *restrict rho, const float *restrict a,
                          const float *restrict b, float *restrict out, int64_t n)
{
    rho_loop_body(k, rho, a, b, out, n);
}

#ifdef VECMATH_HAVE_AVX2
VECMATH_AVX2 static void rho_loop_avx2(rho_loop k, const float *restrict rho,
                                       const float *restrict a, const float *restrict b,
                                       float *restrict out, int64_t n)
{
    rho_loop_body(k, rho, a, b, out, n);
}
#endif

#ifdef VECMATH_HAVE_AVX512
VECMATH_AVX512 static void rho_loop_avx512(rho_loop k, const float *restrict rho,
                                           const float *restrict a, const float *restrict b,
                                           float *restrict out, int64_t n)
{
    rho_loop_body(k, rho, a, b, out, n);
}
#endif

/* The loop over n elements (a, b: NULL where the loop reads none). */
static void rho_pass(rho_loop k, const float *rho, const float *a, const float *b, float *out,
                     int64_t n)
{
    rho_loop_fn *fn = rho_loop_base;
#ifdef VECMATH_HAVE_AVX2
    if (vecmath_have_avx2())
        fn = rho_loop_avx2;
#endif
#ifdef VECMATH_HAVE_AVX512
    if (vecmath_have_avx512())
        fn = rho_loop_avx512;
#endif
    enum { CHUNK = 16384 };
    int64_t chunks = (n + CHUNK - 1) / CHUNK;
    #pragma omp parallel for schedule(static) if (n >= PAR_MIN)
    for (int64_t c = 0; c < chunks; c++) {
        int64_t lo = c * CHUNK, len = n - lo < CHUNK ? n - lo : CHUNK;
        fn(k, rho + lo, a ? a + lo : NULL, b ? b + lo : NULL, out + lo, len);
    }
}

/* ---- local -------------------------------------------------------------- */

/* sq[i] = softplus(rho[i])^2 */
static void sigma_squared(const float *rho, int64_t n, float *sq)
{
    rho_pass(RHO_SIGMA_SQ, rho, NULL, NULL, sq, n);
}

static void square(const float *x, int64_t n, float *out)
{
    #pragma omp parallel for schedule(static) if (n >= PAR_MIN)
    for (int64_t i = 0; i < n; i++)
        out[i] = x[i] * x[i];
}

/* scratch: [product | x^2 (nx) | gv (ny) | gx2 (nx) | gs2 (nw + nb)]; forward
 * uses the first two.  sigma^2 is in state (*s2 is set there by the callers). */
static size_t local_scratch(const lin_op *op, float **x2, float **s2, float **gv, float **gx2,
                            float **gs2)
{
    bump b = {op->scratch, lin_scratch_size(op)};
    *x2 = bump_take(&b, op->nx);
    *s2 = NULL;
    *gv = bump_take(&b, op->ny);
    *gx2 = bump_take(&b, op->nx);
    *gs2 = bump_take(&b, op->p.nw + op->p.nb);
    return b.used;
}

static bnn_status local_forward(const lin_op *op, bnn_diag *diag)
{
    const bnn_kernel_args *a = op->args;
    const bnn_tensor *in = a->inputs;
    float *x2, *s2, *gv, *gx2, *gs2;
    local_scratch(op, &x2, &s2, &gv, &gx2, &gs2);
    float *eps = a->state, *sd = eps + op->ny, *y = a->outputs[0].data;
    s2 = sd + op->ny; /* kept in state: backward reads it again */
    int64_t ny = op->ny, nw = op->p.nw;
    BNN_TRY(lin_forward(op, in[IN_X].data, in[IN_WMU].data,
                        op->p.has_bias ? in[IN_BMU].data : NULL, y, diag));
    square(in[IN_X].data, op->nx, x2);
    sigma_squared(in[IN_WRHO].data, nw, s2);
    if (op->p.bias_random)
        sigma_squared(in[IN_BRHO].data, op->p.nb, s2 + nw);
    BNN_TRY(lin_forward(op, x2, s2, op->p.bias_random ? s2 + nw : NULL, sd, diag));
    bnn_rng_stream s = bnn_rng_stream_make(a->seed, a->node_id, BNN_RNG_PURPOSE_LOCAL, a->step);
    bnn_rng_normal(&s, bnn_kernel_draw_first(a, ny, &a->outputs[0]), (size_t)ny, eps);
    #pragma omp parallel for schedule(static) if (ny >= PAR_MIN)
    for (int64_t i = 0; i < ny; i++) {
        float v = sd[i] > 0.0f ? sd[i] : 0.0f; /* a sum of squares; no rounding below 0 */
        sd[i] = sqrtf(v);
        y[i] += sd[i] * eps[i];
    }
    return BNN_OK;
}

static bnn_status local_backward(const lin_op *op, const bnn_kernel_grads *grads, bnn_diag *diag)
{
    const bnn_kernel_args *a = op->args;
    const bnn_tensor *in = a->inputs;
    bnn_tensor *gi = grads->grad_inputs;
    const float *g = grads->grad_outputs[0].data, *x = in[IN_X].data;
    const float *eps = a->state, *sd = eps + op->ny;
    int64_t nx = op->nx, ny = op->ny, nw = op->p.nw, nb = op->p.nb;
    float *x2, *s2, *gv, *gx2, *gs2;
    local_scratch(op, &x2, &s2, &gv, &gx2, &gs2);
    bool want_x = wants_grad(grads, op, IN_X);
    bool want_wr = wants_grad(grads, op, IN_WRHO);
    bool want_br = op->p.bias_random && wants_grad(grads, op, IN_BRHO);
    /* the mean path: the layer on mu */
    BNN_TRY(lin_backward(op, x, in[IN_WMU].data, g, want_x ? gi[IN_X].data : NULL,
                         wants_grad(grads, op, IN_WMU) ? gi[IN_WMU].data : NULL,
                         op->p.has_bias && wants_grad(grads, op, IN_BMU) ? gi[IN_BMU].data : NULL,
                         diag));
    if (!want_x && !want_wr && !want_br)
        return BNN_OK;
    /* the noise path: dL/dvar = g eps / (2 std), 0 where std is 0 (see the top) */
    #pragma omp parallel for schedule(static) if (ny >= PAR_MIN)
    for (int64_t i = 0; i < ny; i++)
        gv[i] = sd[i] > 0.0f ? 0.5f * g[i] * eps[i] / sd[i] : 0.0f;
    square(x, nx, x2);
    s2 = (float *)sd + ny; /* sigma^2 as forward computed it */
    if (want_x)
        memset(gx2, 0, (size_t)nx * sizeof(float));
    if (want_wr || want_br)
        memset(gs2, 0, (size_t)(nw + nb) * sizeof(float));
    BNN_TRY(lin_backward(op, x2, s2, gv, want_x ? gx2 : NULL, want_wr ? gs2 : NULL,
                         want_br ? gs2 + nw : NULL, diag));
    if (want_x) {
        float *gx = gi[IN_X].data;
        #pragma omp parallel for schedule(static) if (nx >= PAR_MIN)
        for (int64_t i = 0; i < nx; i++)
            gx[i] += 2.0f * x[i] * gx2[i];
    }
    /* d(sigma^2)/d rho = 2 sigma sigmoid(rho) */
    for (int part = 0; part < 2; part++) {
        bool want = part ? want_br : want_wr;
        if (!want)
            continue;
        const float *rho = in[part ? IN_BRHO : IN_WRHO].data;
        const float *gsq = part ? gs2 + nw : gs2;
        float *gr = gi[part ? IN_BRHO : IN_WRHO].data;
        rho_pass(RHO_LOCAL_GRAD, rho, gsq, NULL, gr, part ? nb : nw);
    }
    return BNN_OK;
}

/* ---- flipout ------------------------------------------------------------ */

typedef struct flip_state {
    float *eps_w, *dw, *b, *eps_b, *s_in, *s_out;
} flip_state;

static size_t flip_state_floats(const lin_op *op, flip_state *fs)
{
    int64_t nw = op->p.nw, nb = op->p.nb, nin = op->rows * op->cin;
    float *s = op->args->state;
    if (fs && s) {
        fs->eps_w = s;
        fs->dw = s + nw;
        fs->b = s + 2 * nw;
        fs->eps_b = s + 2 * nw + nb;
        fs->s_in = s + 2 * nw + 2 * nb;
        fs->s_out = s + 2 * nw + 2 * nb + nin;
    }
    return (size_t)(2 * nw + 2 * nb + nin + op->rows * op->cout);
}

/* scratch: [product | xs (nx) | p or gp (ny) | gxs (nx) | gdw (nw) | gb (nb)];
 * forward uses the first two. */
static size_t flip_scratch(const lin_op *op, float **xs, float **p, float **gxs, float **gdw,
                           float **gb)
{
    bump b = {op->scratch, lin_scratch_size(op)};
    *xs = bump_take(&b, op->nx);
    *p = bump_take(&b, op->ny);
    *gxs = bump_take(&b, op->nx);
    *gdw = bump_take(&b, op->p.nw);
    *gb = bump_take(&b, op->p.nb);
    return b.used;
}

/* out = x * s broadcast: x [rows, c, sp], s [rows, c]. */
static void apply_signs(const float *x, const float *s, int64_t rows, int64_t c, int64_t sp,
                        float *out)
{
    int64_t n = rows * c;
    #pragma omp parallel for schedule(static) if (n * sp >= PAR_MIN)
    for (int64_t rc = 0; rc < n; rc++) {
        float sign = s[rc];
        for (int64_t j = 0; j < sp; j++)
            out[rc * sp + j] = x[rc * sp + j] * sign;
    }
}

static bnn_status flip_forward(const lin_op *op, bnn_diag *diag)
{
    const bnn_kernel_args *a = op->args;
    const bnn_tensor *in = a->inputs;
    flip_state fs;
    flip_state_floats(op, &fs);
    float *xs, *p, *gxs, *gdw, *gb;
    flip_scratch(op, &xs, &p, &gxs, &gdw, &gb);
    int64_t nw = op->p.nw, nb = op->p.nb, nin = op->rows * op->cin, nout = op->rows * op->cout;
    const float *mu = in[IN_WMU].data, *rho = in[IN_WRHO].data;
    bnn_rng_stream s = bnn_rng_stream_make(a->seed, a->node_id, BNN_RNG_PURPOSE_WEIGHTS, a->step);
    bnn_rng_normal(&s, 0, (size_t)nw, fs.eps_w);
    rho_pass(RHO_FLIP_DW, rho, fs.eps_w, NULL, fs.dw, nw);
    if (op->p.bias_random) {
        const float *bmu = in[IN_BMU].data, *brho = in[IN_BRHO].data;
        bnn_rng_normal(&s, (uint64_t)nw, (size_t)nb, fs.eps_b);
        for (int64_t j = 0; j < nb; j++)
            fs.b[j] = bmu[j] + vecmath_softplus(brho[j]) * fs.eps_b[j];
    } else if (op->p.has_bias) {
        memcpy(fs.b, in[IN_BMU].data, (size_t)nb * sizeof(float));
        memset(fs.eps_b, 0, (size_t)nb * sizeof(float));
    }
    bnn_rng_stream si = bnn_rng_stream_make(a->seed, a->node_id, BNN_RNG_PURPOSE_FLIPOUT, a->step);
    bnn_rng_uniform(&si, bnn_kernel_draw_first(a, nin, &in[IN_X]), (size_t)nin, fs.s_in);
    bnn_rng_stream so =
        bnn_rng_stream_make(a->seed, a->node_id, BNN_RNG_PURPOSE_FLIPOUT_OUT, a->step);
    bnn_rng_uniform(&so, bnn_kernel_draw_first(a, nout, &in[IN_X]), (size_t)nout, fs.s_out);
    for (int64_t i = 0; i < nin + nout; i++)
        fs.s_in[i] = fs.s_in[i] < 0.5f ? -1.0f : 1.0f;
    float *y = a->outputs[0].data;
    BNN_TRY(lin_forward(op, in[IN_X].data, mu, op->p.has_bias ? fs.b : NULL, y, diag));
    apply_signs(in[IN_X].data, fs.s_in, op->rows, op->cin, op->sp_in, xs);
    BNN_TRY(lin_forward(op, xs, fs.dw, NULL, p, diag));
    int64_t sp = op->sp_out;
    #pragma omp parallel for schedule(static) if (op->ny >= PAR_MIN)
    for (int64_t rc = 0; rc < nout; rc++) {
        float sign = fs.s_out[rc];
        for (int64_t j = 0; j < sp; j++)
            y[rc * sp + j] += p[rc * sp + j] * sign;
    }
    return BNN_OK;
}

static bnn_status flip_backward(const lin_op *op, const bnn_kernel_grads *grads, bnn_diag *diag)
{
    const bnn_kernel_args *a = op->args;
    const bnn_tensor *in = a->inputs;
    bnn_tensor *gi = grads->grad_inputs;
    const float *g = grads->grad_outputs[0].data, *x = in[IN_X].data;
    flip_state fs;
    flip_state_floats(op, &fs);
    float *xs, *gp, *gxs, *gdw, *gb;
    flip_scratch(op, &xs, &gp, &gxs, &gdw, &gb);
    int64_t nx = op->nx, nw = op->p.nw, nb = op->p.nb;
    bool want_x = wants_grad(grads, op, IN_X);
    bool want_wr = wants_grad(grads, op, IN_WRHO);
    bool want_bm = op->p.has_bias && wants_grad(grads, op, IN_BMU);
    bool want_br = op->p.bias_random && wants_grad(grads, op, IN_BRHO);
    /* the mean path, with the sampled bias */
    if (want_bm || want_br)
        memset(gb, 0, (size_t)nb * sizeof(float));
    BNN_TRY(lin_backward(op, x, in[IN_WMU].data, g, want_x ? gi[IN_X].data : NULL,
                         wants_grad(grads, op, IN_WMU) ? gi[IN_WMU].data : NULL,
                         want_bm || want_br ? gb : NULL, diag));
    if (want_bm) {
        float *gbm = gi[IN_BMU].data;
        for (int64_t j = 0; j < nb; j++)
            gbm[j] += gb[j];
    }
    if (want_br) {
        const float *brho = in[IN_BRHO].data;
        float *gbr = gi[IN_BRHO].data;
        for (int64_t j = 0; j < nb; j++)
            gbr[j] += gb[j] * fs.eps_b[j] * vecmath_sigmoid(brho[j]);
    }
    if (!want_x && !want_wr)
        return BNN_OK;
    /* the perturbation: dL/dp = g * s_out; p = op(x * s_in, dW) */
    apply_signs(g, fs.s_out, op->rows, op->cout, op->sp_out, gp);
    apply_signs(x, fs.s_in, op->rows, op->cin, op->sp_in, xs);
    if (want_x)
        memset(gxs, 0, (size_t)nx * sizeof(float));
    if (want_wr)
        memset(gdw, 0, (size_t)nw * sizeof(float));
    BNN_TRY(lin_backward(op, xs, fs.dw, gp, want_x ? gxs : NULL, want_wr ? gdw : NULL, NULL,
                         diag));
    if (want_x) {
        /* gx += gxs * s_in, accumulated (the mean path wrote gx already) */
        float *gx = gi[IN_X].data;
        int64_t n = op->rows * op->cin, sp = op->sp_in;
        #pragma omp parallel for schedule(static) if (nx >= PAR_MIN)
        for (int64_t rc = 0; rc < n; rc++) {
            float sign = fs.s_in[rc];
            for (int64_t j = 0; j < sp; j++)
                gx[rc * sp + j] += gxs[rc * sp + j] * sign;
        }
    }
    if (want_wr) {
        /* dW = sigma eps: d/drho = gdW eps sigmoid(rho) */
        const float *rho = in[IN_WRHO].data;
        float *gr = gi[IN_WRHO].data;
        rho_pass(RHO_FLIP_GRAD, rho, gdw, fs.eps_w, gr, nw);
    }
    return BNN_OK;
}

/* ---- entry points (from bayes.c) ------------------------------ */

size_t bayes_est_state_size(const bnn_kernel_args *args, bayes_estimator est, bool conv)
{
    lin_op op;
    if (lin_get(args, conv, &op, NULL) != BNN_OK)
        return 0;
    size_t floats = est == BAYES_LOCAL ? (size_t)(2 * op.ny + op.p.nw + op.p.nb)
                                       : flip_state_floats(&op, NULL);
    return floats * sizeof(float);
}

size_t bayes_est_scratch_size(const bnn_kernel_args *args, bayes_estimator est, bool conv)
{
    lin_op op;
    if (lin_get(args, conv, &op, NULL) != BNN_OK)
        return 0;
    op.scratch = NULL;
    float *p[5];
    return est == BAYES_LOCAL ? local_scratch(&op, &p[0], &p[1], &p[2], &p[3], &p[4])
                              : flip_scratch(&op, &p[0], &p[1], &p[2], &p[3], &p[4]);
}

bnn_status bayes_est_forward(const bnn_kernel_args *args, bayes_estimator est, bool conv,
                             bnn_diag *diag)
{
    lin_op op;
    BNN_TRY(lin_get(args, conv, &op, diag));
    op.scratch = args->scratch;
    return est == BAYES_LOCAL ? local_forward(&op, diag) : flip_forward(&op, diag);
}

bnn_status bayes_est_backward(const bnn_kernel_args *args, const bnn_kernel_grads *grads,
                              bayes_estimator est, bool conv, bnn_diag *diag)
{
    lin_op op;
    BNN_TRY(lin_get(args, conv, &op, diag));
    op.scratch = args->scratch;
    return est == BAYES_LOCAL ? local_backward(&op, grads, diag) : flip_backward(&op, grads, diag);
}
