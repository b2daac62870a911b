/* lstm, gru and rnn (runtime/kernels/rnn.c) against a plain double-precision
 * reference written from ONNX's operator definitions (one row and one time
 * step at a time, nothing shared with the kernel), forward, and backward by
 * central differences of that reference: every direction, sequence lengths,
 * initial states (also a batch-1 state shared by every row), peepholes, clip,
 * both layouts and both GRU reset forms.
 * The harness of harness.c takes one output and five inputs; these ops have
 * up to eight inputs and three outputs, so the case is built here. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "bnn_tensor.h"
#include "fd_record.h"
#include "kernel.h"

#define MAX_IN 8
#define MAX_OUT 3

typedef struct rcase {
    bnn_op op;
    int64_t T, B, I, H, D;
    bool batch_first, lbr, reverse, peep, seq, init;
    bool shared; /* initial states with a batch of 1, shared by every row */
    float clip;
    bnn_graph *g;
    int node;
    int n_in, n_out;
    bnn_tensor in[MAX_IN], out[MAX_OUT];
    void *scratch, *state;
    bnn_kernel_args args;
} rcase;

static int gates_of(bnn_op op) { return op == BNN_OP_LSTM ? 4 : op == BNN_OP_GRU ? 3 : 1; }

static uint64_t rng = 1;
static double urand(void)
{
    rng = rng * 6364136223846793005ull + 1442695040888963407ull;
    return (double)(rng >> 11) / 9007199254740992.0 * 2.0 - 1.0;
}

static bnn_shape shape(int rank, const int64_t *d)
{
    bnn_shape s = { .rank = rank };
    memcpy(s.dims, d, sizeof(int64_t) * (size_t)rank);
    return s;
}

static void *aligned(size_t n)
{
    void *p = NULL;
    cr_assert(posix_memalign(&p, 64, n ? n : 64) == 0);
    memset(p, 0, n ? n : 64);
    return p;
}

static void build(rcase *c)
{
    int G = gates_of(c->op);
    int64_t T = c->T, B = c->B, I = c->I, H = c->H, D = c->D;
    bnn_shape s[MAX_IN];
    bool present[MAX_IN] = { true, true, true, true, c->seq, c->init, c->init, c->peep };
    int64_t x[3] = { T, B, I }, w[3] = { D, G * H, I }, r[3] = { D, G * H, H }, b[2] = { D, 2 * G * H },
            sl[1] = { B }, h0[3] = { D, B, H }, p[2] = { D, 3 * H };
    if (c->batch_first) {
        x[0] = B;
        x[1] = T;
        h0[0] = B;
        h0[1] = D;
    }
    if (c->shared)
        h0[c->batch_first ? 0 : 1] = 1;
    s[0] = shape(3, x);
    s[1] = shape(3, w);
    s[2] = shape(3, r);
    s[3] = shape(2, b);
    s[4] = shape(1, sl);
    s[5] = shape(3, h0);
    s[6] = shape(3, h0);
    s[7] = shape(2, p);
    c->n_in = c->op == BNN_OP_LSTM ? 8 : 6;
    c->n_out = c->op == BNN_OP_LSTM ? 3 : 2;
    c->g = bnn_graph_create("rnn");
    int ids[MAX_IN], outs[MAX_OUT];
    for (int k = 0; k < c->n_in; k++) {
        char name[16];
        snprintf(name, sizeof name, "in%d", k);
        ids[k] = present[k] ? bnn_graph_add_value(c->g, name, k == 4 ? BNN_I32 : BNN_F32, &s[k]) : -1;
        if (present[k]) {
            bnn_diag dg = {0};
            cr_assert(bnn_tensor_alloc(&c->in[k], k == 4 ? BNN_I32 : BNN_F32, &s[k], &dg) == BNN_OK);
            int64_t n = bnn_tensor_numel(&c->in[k]);
            for (int64_t i = 0; i < n; i++) {
                if (k == 4)
                    ((int32_t *)c->in[k].data)[i] = (int32_t)(i == 0 ? T : (i * 7 + 1) % (T + 1));
                else
                    ((float *)c->in[k].data)[i] = (float)(urand() * (k == 1 || k == 2 ? 0.8 : 1.0));
            }
        }
    }
    for (int k = 0; k < c->n_out; k++) {
        char name[16];
        snprintf(name, sizeof name, "out%d", k);
        outs[k] = bnn_graph_add_value(c->g, name, BNN_UNDEFINED, NULL);
    }
    c->node = bnn_graph_add_node(c->g, c->op, "cell", ids, c->n_in, outs, c->n_out);
    if (c->reverse || D == 2)
        bnn_node_set_string(c->g, c->node, "direction", D == 2 ? "bidirectional" : "reverse");
    if (c->batch_first)
        bnn_node_set_int(c->g, c->node, "layout", 1);
    if (c->lbr)
        bnn_node_set_int(c->g, c->node, "linear_before_reset", 1);
    if (c->clip > 0)
        bnn_node_set_float(c->g, c->node, "clip", c->clip);
    bnn_node_set_int(c->g, c->node, "hidden_size", H);
    bnn_diag dg = {0};
    cr_assert(bnn_graph_infer_node(c->g, c->node, &dg) == BNN_OK, "%s", dg.message);
    for (int k = 0; k < c->n_out; k++) {
        const bnn_value *v = bnn_graph_value(c->g, outs[k]);
        cr_assert(bnn_tensor_alloc(&c->out[k], BNN_F32, &v->shape, &dg) == BNN_OK);
    }
    bnn_kernel_args a = { .graph = c->g, .node = bnn_graph_node(c->g, c->node), .node_id = c->node,
                          .inputs = c->in, .n_inputs = c->n_in, .outputs = c->out, .n_outputs = c->n_out,
                          .training = true };
    const bnn_kernel *kn = bnn_kernel_get(c->op);
    size_t ss = kn->scratch_size(&a), st = kn->state_size(&a);
    c->scratch = aligned(ss);
    c->state = aligned(st);
    /* stale scratch must not matter */
    for (size_t i = 0; i < ss / sizeof(float); i++)
        ((float *)c->scratch)[i] = NAN;
    a.scratch = c->scratch;
    a.state = c->state;
    c->args = a;
}

static void destroy(rcase *c)
{
    for (int k = 0; k < MAX_IN; k++)
        bnn_tensor_free(&c->in[k]);
    for (int k = 0; k < MAX_OUT; k++)
        bnn_tensor_free(&c->out[k]);
    free(c->scratch);
    free(c->state);
    bnn_graph_destroy(c->g);
}

/* ---- the reference ------------------------------------------------------------ */

static double sg(double v) { return 1.0 / (1.0 + exp(-v)); }
static double cl(const rcase *c, double v)
{
    return c->clip > 0 ? fmax(-c->clip, fmin(c->clip, v)) : v;
}

/* Operands as doubles; Y, Yh, Yc written (Yc may be NULL). */
static void reference(const rcase *c, double *const *in, double *Y, double *Yh, double *Yc)
{
    int G = gates_of(c->op);
    int64_t T = c->T, B = c->B, I = c->I, H = c->H, D = c->D, GH = G * H;
    memset(Y, 0, sizeof(double) * (size_t)(T * D * B * H));
    for (int64_t d = 0; d < D; d++)
        for (int64_t b = 0; b < B; b++) {
            int64_t len = c->seq ? ((const int32_t *)c->in[4].data)[b] : T;
            double h[16] = {0}, cc[16] = {0}, nh[16], nc[16];
            int64_t sat = c->batch_first ? (b * D + d) * H : (d * B + b) * H;
            int64_t iat = c->shared ? d * H : sat;
            if (c->init)
                for (int64_t j = 0; j < H; j++) {
                    h[j] = in[5][iat + j];
                    if (c->op == BNN_OP_LSTM)
                        cc[j] = in[6][iat + j];
                }
            const double *W = in[1] + d * GH * I, *R = in[2] + d * GH * H;
            const double *Wb = in[3] + d * 2 * GH, *Rb = Wb + GH;
            const double *P = c->peep ? in[7] + d * 3 * H : NULL;
            bool rev = d == 1 || c->reverse;
            for (int64_t s = 0; s < len; s++) {
                int64_t t = rev ? len - 1 - s : s;
                const double *x = in[0] + (c->batch_first ? b * T + t : t * B + b) * I;
                /* xw[g] = x W_g^T + Wb_g; hr[g] = h R_g^T + Rb_g */
                double xw[64], hr[64];
                for (int64_t q = 0; q < GH; q++) {
                    xw[q] = Wb[q];
                    hr[q] = Rb[q];
                    for (int64_t i = 0; i < I; i++)
                        xw[q] += x[i] * W[q * I + i];
                    for (int64_t i = 0; i < H; i++)
                        hr[q] += h[i] * R[q * H + i];
                }
                for (int64_t j = 0; j < H; j++) {
                    if (c->op == BNN_OP_RNN) {
                        nh[j] = tanh(cl(c, xw[j] + hr[j]));
                    } else if (c->op == BNN_OP_GRU) {
                        double z = sg(cl(c, xw[j] + hr[j])), r = sg(cl(c, xw[H + j] + hr[H + j]));
                        double hh;
                        if (c->lbr) {
                            hh = tanh(cl(c, xw[2 * H + j] + r * hr[2 * H + j]));
                        } else {
                            double acc = Rb[2 * H + j];
                            for (int64_t i = 0; i < H; i++)
                                acc += R[(2 * H + j) * H + i] * (sg(cl(c, xw[H + i] + hr[H + i])) * h[i]);
                            hh = tanh(cl(c, xw[2 * H + j] + acc));
                        }
                        nh[j] = (1 - z) * hh + z * h[j];
                    } else {
                        double i_ = sg(cl(c, xw[j] + hr[j] + (P ? P[j] * cc[j] : 0)));
                        double f = sg(cl(c, xw[2 * H + j] + hr[2 * H + j] + (P ? P[2 * H + j] * cc[j] : 0)));
                        double g = tanh(cl(c, xw[3 * H + j] + hr[3 * H + j]));
                        nc[j] = f * cc[j] + i_ * g;
                        double o = sg(cl(c, xw[H + j] + hr[H + j] + (P ? P[H + j] * nc[j] : 0)));
                        nh[j] = o * tanh(nc[j]);
                    }
                }
                memcpy(h, nh, sizeof(double) * (size_t)H);
                if (c->op == BNN_OP_LSTM)
                    memcpy(cc, nc, sizeof(double) * (size_t)H);
                double *y = Y + (c->batch_first ? (b * T + t) * D + d : (t * D + d) * B + b) * H;
                memcpy(y, h, sizeof(double) * (size_t)H);
            }
            for (int64_t j = 0; j < H; j++) {
                Yh[sat + j] = h[j];
                if (Yc)
                    Yc[sat + j] = cc[j];
            }
        }
}

/* in[] as doubles from the case's tensors (index 4 unused). */
static double **doubles(const rcase *c)
{
    double **in = calloc(MAX_IN, sizeof *in);
    for (int k = 0; k < c->n_in; k++) {
        if (k == 4 || !c->in[k].data)
            continue;
        int64_t n = bnn_tensor_numel(&c->in[k]);
        in[k] = calloc((size_t)n, sizeof(double));
        for (int64_t i = 0; i < n; i++)
            in[k][i] = ((const float *)c->in[k].data)[i];
    }
    return in;
}

static void free_doubles(double **in)
{
    for (int k = 0; k < MAX_IN; k++)
        free(in[k]);
    free(in);
}

/* sum of gY*Y + gYh*Yh (+ gYc*Yc) at the reference. */
static double objective(const rcase *c, double *const *in, double *const *gout)
{
    int64_t ny = bnn_tensor_numel(&c->out[0]), ns = bnn_tensor_numel(&c->out[1]);
    double *Y = calloc((size_t)ny, sizeof(double)), *Yh = calloc((size_t)ns, sizeof(double)),
           *Yc = calloc((size_t)ns, sizeof(double));
    reference(c, in, Y, Yh, c->op == BNN_OP_LSTM ? Yc : NULL);
    double s = 0;
    for (int64_t i = 0; i < ny; i++)
        s += gout[0][i] * Y[i];
    for (int64_t i = 0; i < ns; i++) {
        s += gout[1][i] * Yh[i];
        if (c->op == BNN_OP_LSTM)
            s += gout[2][i] * Yc[i];
    }
    free(Y);
    free(Yh);
    free(Yc);
    return s;
}

static void run(rcase *c)
{
    build(c);
    const bnn_kernel *kn = bnn_kernel_get(c->op);
    bnn_diag dg = {0};
    cr_assert(kn->forward(&c->args, &dg) == BNN_OK, "%s", dg.message);
    /* forward against the reference */
    double **in = doubles(c);
    int64_t ny = bnn_tensor_numel(&c->out[0]), ns = bnn_tensor_numel(&c->out[1]);
    double *Y = calloc((size_t)ny, sizeof(double)), *Yh = calloc((size_t)ns, sizeof(double)),
           *Yc = calloc((size_t)ns, sizeof(double));
    reference(c, in, Y, Yh, c->op == BNN_OP_LSTM ? Yc : NULL);
    for (int64_t i = 0; i < ny; i++)
        cr_assert(fabs(((float *)c->out[0].data)[i] - Y[i]) <= 1e-5 * (1 + fabs(Y[i])),
                  "Y[%lld]: %g vs %g", (long long)i, (double)((float *)c->out[0].data)[i], Y[i]);
    for (int64_t i = 0; i < ns; i++) {
        cr_assert(fabs(((float *)c->out[1].data)[i] - Yh[i]) <= 1e-5 * (1 + fabs(Yh[i])), "Y_h[%lld]", (long long)i);
        if (c->op == BNN_OP_LSTM)
            cr_assert(fabs(((float *)c->out[2].data)[i] - Yc[i]) <= 1e-5 * (1 + fabs(Yc[i])), "Y_c[%lld]", (long long)i);
    }
    free(Y);
    free(Yh);
    free(Yc);
    /* backward: random output gradients, inputs' gradients pre-filled to
     * check that the kernel accumulates */
    bnn_tensor gout[MAX_OUT] = {0}, gin[MAX_IN] = {0};
    double *goutd[MAX_OUT] = {0};
    float *prefill[MAX_IN] = {0};
    for (int k = 0; k < c->n_out; k++) {
        cr_assert(bnn_tensor_alloc(&gout[k], BNN_F32, &c->out[k].shape, &dg) == BNN_OK);
        int64_t n = bnn_tensor_numel(&gout[k]);
        goutd[k] = calloc((size_t)n, sizeof(double));
        for (int64_t i = 0; i < n; i++)
            goutd[k][i] = ((float *)gout[k].data)[i] = (float)urand();
    }
    for (int k = 0; k < c->n_in; k++) {
        if (k == 4 || !c->in[k].data)
            continue;
        cr_assert(bnn_tensor_alloc(&gin[k], BNN_F32, &c->in[k].shape, &dg) == BNN_OK);
        int64_t n = bnn_tensor_numel(&gin[k]);
        prefill[k] = malloc(sizeof(float) * (size_t)n);
        for (int64_t i = 0; i < n; i++)
            prefill[k][i] = ((float *)gin[k].data)[i] = (float)urand();
    }
    bnn_kernel_grads gr = { gout, gin };
    cr_assert(kn->backward(&c->args, &gr, &dg) == BNN_OK, "%s", dg.message);
    const double eps = 1e-5;
    long long compared = 0;
    for (int k = 0; k < c->n_in; k++) {
        if (!prefill[k])
            continue;
        int64_t n = bnn_tensor_numel(&gin[k]);
        for (int64_t i = 0; i < n; i++) {
            double keep = in[k][i];
            in[k][i] = keep + eps;
            double up = objective(c, in, goutd);
            in[k][i] = keep - eps;
            double down = objective(c, in, goutd);
            in[k][i] = keep;
            double fd = (up - down) / (2 * eps);
            double got = ((float *)gin[k].data)[i] - prefill[k][i];
            cr_assert(fabs(got - fd) <= 2e-3 * (1 + fabs(fd)), "%s input %d [%lld]: backward %g, differences %g",
                      bnn_op_get(c->op)->name, k, (long long)i, got, fd);
            compared++;
        }
    }
    fd_record(c->op, compared);
    for (int k = 0; k < MAX_OUT; k++) {
        bnn_tensor_free(&gout[k]);
        free(goutd[k]);
    }
    for (int k = 0; k < MAX_IN; k++) {
        bnn_tensor_free(&gin[k]);
        free(prefill[k]);
    }
    free_doubles(in);
    destroy(c);
}

static void variants(bnn_op op, bool lbr)
{
    /* direction 0 forward, 1 reverse, 2 bidirectional; each with and without
     * sequence lengths and initial states; then layout, clip and peepholes */
    for (int dir = 0; dir < 3; dir++)
        for (int extra = 0; extra < 2; extra++) {
            rcase c = { .op = op, .T = 4, .B = 3, .I = 3, .H = 2, .D = dir == 2 ? 2 : 1, .reverse = dir == 1,
                        .lbr = lbr, .seq = extra, .init = extra, .peep = extra && op == BNN_OP_LSTM };
            run(&c);
        }
    rcase bf = { .op = op, .T = 3, .B = 2, .I = 2, .H = 3, .D = 2, .batch_first = true, .lbr = lbr,
                 .seq = true, .init = true, .peep = op == BNN_OP_LSTM };
    run(&bf);
    rcase shared = { .op = op, .T = 3, .B = 3, .I = 2, .H = 2, .D = 2, .lbr = lbr, .init = true, .shared = true,
                     .seq = true };
    run(&shared);
    rcase clip = { .op = op, .T = 5, .B = 2, .I = 3, .H = 2, .D = 1, .lbr = lbr, .clip = 0.7f, .init = true };
    run(&clip);
}

Test(rnn, lstm) { variants(BNN_OP_LSTM, false); }
Test(rnn, gru) { variants(BNN_OP_GRU, false); }
Test(rnn, gru_linear_before_reset) { variants(BNN_OP_GRU, true); }
Test(rnn, simple) { variants(BNN_OP_RNN, false); }
