/* The recurrent layers lstm, gru and rnn (ONNX's LSTM, GRU, RNN with their
 * default activations), forward and backward through time.
 *
 * One engine runs the three cells.  Each direction walks its steps k = 0..T-1;
 * row b of step k reads time t = k (forward) or len_b - 1 - k (reverse), and a
 * row past its sequence length keeps its state and writes zeros to Y, as ONNX
 * specifies.  The input rows of a step are gathered into one [B, I] block so
 * every product is one GEMM.  Forward saves, per direction and step, the gate
 * pre-activations (before clipping, so that backward knows which clipped),
 * the hidden state and, for lstm, the cell state (gru also keeps its
 * reset-gated term) in `state`; backward replays the steps in reverse from
 * that record.  Everything is f32.
 */
#include <math.h>
#include <string.h>

#include "gemm_impl.h"
#include "kernel.h"
#include "nn_impl.h"

#undef I /* complex.h's imaginary unit, via cblas.h: here I is the input size */

typedef enum cell { CELL_LSTM, CELL_GRU, CELL_RNN } cell;

typedef struct rnn_geom {
    cell kind;
    int64_t T, B, I, H, D, G; /* G gates: 4, 3, 1 */
    bool batch_first, lbr;
    bool reverse0;            /* direction 0 runs backwards ("reverse") */
    float clip;               /* 0: none */
    const int32_t *lens;      /* NULL: every row has T steps */
    unsigned shared_init;     /* bit k: initial state input k has batch 1, shared by every row */
} rnn_geom;

static const bnn_tensor *opt(const bnn_kernel_args *args, int i)
{
    return args->n_inputs > i && args->inputs[i].data ? &args->inputs[i] : NULL;
}

static bnn_status geometry(const bnn_kernel_args *args, cell kind, rnn_geom *g, bnn_diag *diag)
{
    memset(g, 0, sizeof *g);
    g->kind = kind;
    g->G = kind == CELL_LSTM ? 4 : kind == CELL_GRU ? 3 : 1;
    const bnn_node *n = args->node;
    const bnn_tensor *x = &args->inputs[0], *r = &args->inputs[2];
    for (int i = 0; i < args->n_inputs; i++)
        if (i != 4 && (args->inputs[i].data || i < 3))
            BNN_TRY(nn_check_dtype(args, &args->inputs[i], i, false, BNN_F32, BNN_UNDEFINED, diag));
    if (x->shape.rank != 3 || r->shape.rank != 3)
        return nn_fail_shape(args, "X and R must have rank 3", diag);
    const char *dir = bnn_node_string(n, "direction", "forward");
    g->D = strcmp(dir, "bidirectional") == 0 ? 2 : 1;
    g->reverse0 = strcmp(dir, "reverse") == 0;
    g->batch_first = bnn_node_int(n, "layout", 0) == 1;
    g->lbr = bnn_node_int(n, "linear_before_reset", 0) == 1;
    g->clip = bnn_node_float(n, "clip", 0);
    g->T = x->shape.dims[g->batch_first ? 1 : 0];
    g->B = x->shape.dims[g->batch_first ? 0 : 1];
    g->I = x->shape.dims[2];
    g->H = r->shape.dims[2];
    const bnn_tensor *w = &args->inputs[1];
    if (w->shape.rank != 3 || w->shape.dims[0] != g->D || w->shape.dims[1] != g->G * g->H ||
        w->shape.dims[2] != g->I || r->shape.dims[0] != g->D || r->shape.dims[1] != g->G * g->H)
        return nn_fail_shape(args, "W [D, G*H, I] and R [D, G*H, H] do not fit X", diag);
    const bnn_tensor *b = opt(args, 3);
    if (b && bnn_tensor_numel(b) != g->D * 2 * g->G * g->H)
        return nn_fail_shape(args, "B must be [D, 2*G*H]", diag);
    const bnn_tensor *seq = opt(args, 4);
    if (seq) {
        if (seq->dtype != BNN_I32 || bnn_tensor_numel(seq) != g->B)
            return nn_fail_shape(args, "sequence_lens must be i32 [B]", diag);
        g->lens = seq->data;
        for (int64_t i = 0; i < g->B; i++)
            if (g->lens[i] < 0 || g->lens[i] > g->T)
                return bnn_kernel_fail(args, diag, BNN_ERR_INVALID,
                                       "sequence_lens[%lld] = %d is outside [0, %lld]", (long long)i,
                                       (int)g->lens[i], (long long)g->T);
    }
    for (int k = 5; k <= (kind == CELL_LSTM ? 6 : 5); k++) {
        const bnn_tensor *s = opt(args, k);
        if (!s)
            continue;
        int64_t n = bnn_tensor_numel(s);
        if (n != g->D * g->B * g->H && n != g->D * g->H)
            return nn_fail_shape(args, "initial states must be [D, B, H] (or a batch of 1, shared)", diag);
        g->shared_init |= (n != g->D * g->B * g->H) << k;
    }
    if (kind == CELL_LSTM && opt(args, 7) && bnn_tensor_numel(opt(args, 7)) != g->D * 3 * g->H)
        return nn_fail_shape(args, "P must be [D, 3*H]", diag);
    return BNN_OK;
}

/* ---- layout helpers ------------------------------------------------------- */

/* Time index of row b at step k of direction d, or -1 past its length. */
static int64_t time_of(const rnn_geom *g, int64_t d, int64_t k, int64_t b)
{
    int64_t len = g->lens ? g->lens[b] : g->T;
    if (k >= len)
        return -1;
    bool rev = d == 1 || g->reverse0;
    return rev ? len - 1 - k : k;
}

static size_t x_at(const rnn_geom *g, int64_t t, int64_t b)
{
    return (size_t)((g->batch_first ? b * g->T + t : t * g->B + b) * g->I);
}

static size_t y_at(const rnn_geom *g, int64_t t, int64_t d, int64_t b)
{
    return (size_t)((g->batch_first ? (b * g->T + t) * g->D + d : (t * g->D + d) * g->B + b) * g->H);
}

/* initial_h, Y_h and their kin: [D, B, H], or [B, D, H] batch-first. */
static size_t s_at(const rnn_geom *g, int64_t d, int64_t b)
{
    return (size_t)((g->batch_first ? b * g->D + d : d * g->B + b) * g->H);
}

/* Initial state input k (5 or 6) at row b: a shared one has batch 1. */
static size_t init_at(const rnn_geom *g, int k, int64_t d, int64_t b)
{
    return g->shared_init >> k & 1 ? (size_t)(d * g->H) : s_at(g, d, b);
}

/* Floats saved per direction and step: pre-activations, h, (lstm: c), (gru: aux). */
static int64_t step_floats(const rnn_geom *g)
{
    return g->B * (g->G * g->H + g->H + (g->kind != CELL_RNN ? g->H : 0));
}

typedef struct step_rec {
    float *pre; /* [B, G*H] */
    float *h;   /* [B, H] */
    float *aux; /* [B, H]: lstm c; gru: r*h_prev (lbr 0) or h_prev R_h^T + Rb_h (lbr 1) */
} step_rec;

static step_rec record(const rnn_geom *g, void *state, int64_t d, int64_t k)
{
    float *base = (float *)state + (size_t)((d * g->T + k) * step_floats(g));
    step_rec r = { base, base + g->B * g->G * g->H, NULL };
    if (g->kind != CELL_RNN)
        r.aux = r.h + g->B * g->H;
    return r;
}

static inline float sigm(float v) { return 1.0f / (1.0f + expf(-v)); }
static inline float clampf(const rnn_geom *g, float v)
{
    return g->clip > 0 ? (v > g->clip ? g->clip : v < -g->clip ? -g->clip : v) : v;
}
/* d(clip(v))/dv */
static inline float passes(const rnn_geom *g, float v)
{
    return g->clip > 0 && (v > g->clip || v < -g->clip) ? 0.0f : 1.0f;
}

/* Scratch: x rows [B, I], h0 and c0 [B, H], backward's dG [B, G*H] and
 * five [B, H] buffers (see rnn_backward_cell). */
static size_t scratch_floats(const rnn_geom *g)
{
    return (size_t)(g->B * g->I + 7 * g->B * g->H + g->B * g->G * g->H + 16);
}

static size_t rnn_scratch_size_for(const bnn_kernel_args *args, cell kind)
{
    rnn_geom g;
    bnn_diag diag = {0};
    if (geometry(args, kind, &g, &diag) != BNN_OK)
        return 0;
    return scratch_floats(&g) * sizeof(float);
}

static size_t rnn_state_size_for(const bnn_kernel_args *args, cell kind)
{
    rnn_geom g;
    bnn_diag diag = {0};
    if (geometry(args, kind, &g, &diag) != BNN_OK)
        return 0;
    return (size_t)(g.D * g.T * step_floats(&g)) * sizeof(float);
}

static void gather_x(const rnn_geom *g, const float *x, int64_t d, int64_t k, float *xk)
{
    for (int64_t b = 0; b < g->B; b++) {
        int64_t t = time_of(g, d, k, b);
        if (t < 0)
            memset(xk + b * g->I, 0, sizeof(float) * (size_t)g->I);
        else
            memcpy(xk + b * g->I, x + x_at(g, t, b), sizeof(float) * (size_t)g->I);
    }
}

/* ---- forward ---------------------------------------------------------------- */

static bnn_status rnn_forward_cell(const bnn_kernel_args *args, cell kind, bnn_diag *diag)
{
    rnn_geom g;
    BNN_TRY(geometry(args, kind, &g, diag));
    const int64_t B = g.B, H = g.H, GH = g.G * g.H, I = g.I;
    const float *x = args->inputs[0].data, *W = args->inputs[1].data, *R = args->inputs[2].data;
    const bnn_tensor *bt = opt(args, 3), *h0t = opt(args, 5), *c0t = kind == CELL_LSTM ? opt(args, 6) : NULL,
                     *pt = kind == CELL_LSTM ? opt(args, 7) : NULL;
    float *Y = args->outputs[0].data, *Yh = args->outputs[1].data;
    float *Yc = kind == CELL_LSTM ? args->outputs[2].data : NULL;
    float *xk = args->scratch, *zero_h = xk + B * I, *zero_c = zero_h + B * H;
    float *h0 = zero_h + 0, *c0 = zero_c;
    if (bnn_tensor_nbytes(&args->outputs[0]) > 0) /* rows past their length read zeros */
        memset(Y, 0, bnn_tensor_nbytes(&args->outputs[0]));
    if (g.B == 0 || g.H == 0)
        return BNN_OK;
    for (int64_t d = 0; d < g.D; d++) {
        const float *Wd = W + d * GH * I, *Rd = R + d * GH * H;
        const float *Wb = bt ? (const float *)bt->data + d * 2 * GH : NULL;
        const float *Rb = Wb ? Wb + GH : NULL;
        const float *P = pt ? (const float *)pt->data + d * 3 * H : NULL;
        /* initial states, gathered to [B, H] */
        for (int64_t b = 0; b < B; b++) {
            if (h0t)
                memcpy(h0 + b * H, (const float *)h0t->data + init_at(&g, 5, d, b), sizeof(float) * (size_t)H);
            else
                memset(h0 + b * H, 0, sizeof(float) * (size_t)H);
            if (c0t)
                memcpy(c0 + b * H, (const float *)c0t->data + init_at(&g, 6, d, b), sizeof(float) * (size_t)H);
            else
                memset(c0 + b * H, 0, sizeof(float) * (size_t)H);
        }
        const float *hp = h0, *cp = c0;
        for (int64_t k = 0; k < g.T; k++) {
            step_rec rec = record(&g, args->state, d, k);
            gather_x(&g, x, d, k, xk);
            float *pre = rec.pre;
            nn_gemm(BNN_F32, false, true, B, GH, I, 1.0f, xk, I, Wd, I, 0.0f, pre, GH, Wb, NULL);
            if (kind != CELL_GRU) {
                nn_gemm(BNN_F32, false, true, B, GH, H, 1.0f, hp, H, Rd, H, 1.0f, pre, GH, Rb, NULL);
            } else {
                nn_gemm(BNN_F32, false, true, B, 2 * H, H, 1.0f, hp, H, Rd, H, 1.0f, pre, GH, Rb, NULL);
                const float *Rh = Rd + 2 * H * H, *Rbh = Rb ? Rb + 2 * H : NULL;
                if (g.lbr) {
                    nn_gemm(BNN_F32, false, true, B, H, H, 1.0f, hp, H, Rh, H, 0.0f, rec.aux, H, Rbh, NULL);
                    for (int64_t b = 0; b < B; b++)
                        for (int64_t j = 0; j < H; j++) {
                            float r = sigm(clampf(&g, pre[b * GH + H + j]));
                            pre[b * GH + 2 * H + j] += r * rec.aux[b * H + j];
                        }
                } else {
                    for (int64_t b = 0; b < B; b++)
                        for (int64_t j = 0; j < H; j++)
                            rec.aux[b * H + j] = sigm(clampf(&g, pre[b * GH + H + j])) * hp[b * H + j];
                    nn_gemm(BNN_F32, false, true, B, H, H, 1.0f, rec.aux, H, Rh, H, 1.0f, pre + 2 * H, GH, Rbh, NULL);
                }
            }
            for (int64_t b = 0; b < B; b++) {
                int64_t t = time_of(&g, d, k, b);
                float *h = rec.h + b * H;
                const float *hpb = hp + b * H, *pb = pre + b * GH;
                if (t < 0) {
                    memcpy(h, hpb, sizeof(float) * (size_t)H);
                    if (kind == CELL_LSTM)
                        memcpy(rec.aux + b * H, cp + b * H, sizeof(float) * (size_t)H);
                    continue;
                }
                for (int64_t j = 0; j < H; j++) {
                    if (kind == CELL_RNN) {
                        h[j] = tanhf(clampf(&g, pb[j]));
                    } else if (kind == CELL_GRU) {
                        float z = sigm(clampf(&g, pb[j])), hh = tanhf(clampf(&g, pb[2 * H + j]));
                        h[j] = (1.0f - z) * hh + z * hpb[j];
                    } else {
                        float cprev = cp[b * H + j];
                        float i = sigm(clampf(&g, pb[j] + (P ? P[j] * cprev : 0.0f)));
                        float f = sigm(clampf(&g, pb[2 * H + j] + (P ? P[2 * H + j] * cprev : 0.0f)));
                        float cc = tanhf(clampf(&g, pb[3 * H + j]));
                        float c = f * cprev + i * cc;
                        float o = sigm(clampf(&g, pb[H + j] + (P ? P[H + j] * c : 0.0f)));
                        rec.aux[b * H + j] = c;
                        h[j] = o * tanhf(c);
                    }
                }
                memcpy(Y + y_at(&g, t, d, b), h, sizeof(float) * (size_t)H);
            }
            hp = rec.h;
            if (kind == CELL_LSTM)
                cp = rec.aux;
        }
        for (int64_t b = 0; b < B; b++) {
            memcpy(Yh + s_at(&g, d, b), hp + b * H, sizeof(float) * (size_t)H);
            if (Yc)
                memcpy(Yc + s_at(&g, d, b), cp + b * H, sizeof(float) * (size_t)H);
        }
    }
    return BNN_OK;
}

/* ---- backward ----------------------------------------------------------------- */

static float *grad_of(const bnn_kernel_grads *gr, const bnn_kernel_args *args, int k)
{
    return k < args->n_inputs ? gr->grad_inputs[k].data : NULL;
}

static bnn_status rnn_backward_cell(const bnn_kernel_args *args, const bnn_kernel_grads *gr,
                                    cell kind, bnn_diag *diag)
{
    rnn_geom g;
    BNN_TRY(geometry(args, kind, &g, diag));
    const int64_t B = g.B, H = g.H, GH = g.G * g.H, I = g.I;
    const float *x = args->inputs[0].data, *W = args->inputs[1].data, *R = args->inputs[2].data;
    const bnn_tensor *bt = opt(args, 3), *h0t = opt(args, 5), *c0t = kind == CELL_LSTM ? opt(args, 6) : NULL,
                     *pt = kind == CELL_LSTM ? opt(args, 7) : NULL;
    const float *dY = gr->grad_outputs[0].data, *dYh = gr->grad_outputs[1].data;
    const float *dYc = kind == CELL_LSTM ? gr->grad_outputs[2].data : NULL;
    if (g.B == 0 || g.H == 0)
        return BNN_OK;
    float *dX = grad_of(gr, args, 0), *dW = grad_of(gr, args, 1), *dR = grad_of(gr, args, 2);
    float *dB = bt ? grad_of(gr, args, 3) : NULL, *dh0 = h0t ? grad_of(gr, args, 5) : NULL;
    float *dc0 = c0t ? grad_of(gr, args, 6) : NULL, *dP = pt ? grad_of(gr, args, 7) : NULL;
    /* scratch: x rows (then dX rows) [B, I], h0, c0, dG [B, G*H], then
     * dh, dc, dh_prev, dc_prev and gru's d(aux), each [B, H] */
    float *xk = args->scratch, *h0 = xk + B * I, *c0 = h0 + B * H, *dG = c0 + B * H;
    float *dh = dG + B * GH, *dc = dh + B * H, *dhp = dc + B * H, *dcp = dhp + B * H,
          *daux = dcp + B * H;
    for (int64_t d = 0; d < g.D; d++) {
        const float *Wd = W + d * GH * I, *Rd = R + d * GH * H;
        const float *P = pt ? (const float *)pt->data + d * 3 * H : NULL;
        float *dWd = dW ? dW + d * GH * I : NULL, *dRd = dR ? dR + d * GH * H : NULL;
        float *dWb = dB ? dB + d * 2 * GH : NULL, *dRb = dWb ? dWb + GH : NULL;
        float *dPd = dP ? dP + d * 3 * H : NULL;
        for (int64_t b = 0; b < B; b++) {
            if (h0t)
                memcpy(h0 + b * H, (const float *)h0t->data + init_at(&g, 5, d, b), sizeof(float) * (size_t)H);
            else
                memset(h0 + b * H, 0, sizeof(float) * (size_t)H);
            if (c0t)
                memcpy(c0 + b * H, (const float *)c0t->data + init_at(&g, 6, d, b), sizeof(float) * (size_t)H);
            else
                memset(c0 + b * H, 0, sizeof(float) * (size_t)H);
            for (int64_t j = 0; j < H; j++) {
                dh[b * H + j] = dYh ? dYh[s_at(&g, d, b) + j] : 0.0f;
                dc[b * H + j] = dYc ? dYc[s_at(&g, d, b) + j] : 0.0f;
            }
        }
        for (int64_t k = g.T - 1; k >= 0; k--) {
            step_rec rec = record(&g, args->state, d, k);
            step_rec prev = k > 0 ? record(&g, args->state, d, k - 1) : (step_rec){ NULL, NULL, NULL };
            const float *hp = k > 0 ? prev.h : h0;
            const float *cp = kind == CELL_LSTM ? (k > 0 ? prev.aux : c0) : NULL;
            const float *pre = rec.pre;
            memset(dG, 0, sizeof(float) * (size_t)(B * GH));
            for (int64_t b = 0; b < B; b++) {
                int64_t t = time_of(&g, d, k, b);
                float *dhb = dh + b * H, *dcb = dc + b * H, *dhpb = dhp + b * H, *dcpb = dcp + b * H;
                if (t < 0) { /* the state passed through unchanged */
                    memcpy(dhpb, dhb, sizeof(float) * (size_t)H);
                    memcpy(dcpb, dcb, sizeof(float) * (size_t)H);
                    if (kind == CELL_GRU)
                        memset(daux + b * H, 0, sizeof(float) * (size_t)H);
                    continue;
                }
                const float *pb = pre + b * GH, *hpb = hp + b * H;
                float *gb = dG + b * GH;
                for (int64_t j = 0; j < H; j++) {
                    float dhj = dhb[j] + (dY ? dY[y_at(&g, t, d, b) + j] : 0.0f);
                    if (kind == CELL_RNN) {
                        float h = rec.h[b * H + j];
                        gb[j] = dhj * (1.0f - h * h) * passes(&g, pb[j]);
                        dhpb[j] = 0.0f;
                    } else if (kind == CELL_GRU) {
                        float z = sigm(clampf(&g, pb[j])), hh = tanhf(clampf(&g, pb[2 * H + j]));
                        float dz = dhj * (hpb[j] - hh);
                        gb[j] = dz * z * (1.0f - z) * passes(&g, pb[j]);
                        gb[2 * H + j] = dhj * (1.0f - z) * (1.0f - hh * hh) * passes(&g, pb[2 * H + j]);
                        dhpb[j] = dhj * z;
                    } else {
                        float cprev = cp[b * H + j], c = rec.aux[b * H + j];
                        float vi = pb[j] + (P ? P[j] * cprev : 0.0f);
                        float vf = pb[2 * H + j] + (P ? P[2 * H + j] * cprev : 0.0f);
                        float vo = pb[H + j] + (P ? P[H + j] * c : 0.0f);
                        float i = sigm(clampf(&g, vi)), f = sigm(clampf(&g, vf));
                        float cc = tanhf(clampf(&g, pb[3 * H + j])), o = sigm(clampf(&g, vo));
                        float tc = tanhf(c);
                        float dgo = dhj * tc * o * (1.0f - o) * passes(&g, vo);
                        float dcj = dcb[j] + dhj * o * (1.0f - tc * tc) + (P ? dgo * P[H + j] : 0.0f);
                        float dgi = dcj * cc * i * (1.0f - i) * passes(&g, vi);
                        float dgf = dcj * cprev * f * (1.0f - f) * passes(&g, vf);
                        float dgc = dcj * i * (1.0f - cc * cc) * passes(&g, pb[3 * H + j]);
                        gb[j] = dgi;
                        gb[H + j] = dgo;
                        gb[2 * H + j] = dgf;
                        gb[3 * H + j] = dgc;
                        dcpb[j] = dcj * f + (P ? dgi * P[j] + dgf * P[2 * H + j] : 0.0f);
                        if (dPd) {
                            dPd[j] += dgi * cprev;
                            dPd[H + j] += dgo * c;
                            dPd[2 * H + j] += dgf * cprev;
                        }
                        dhpb[j] = 0.0f;
                    }
                }
            }
            if (kind == CELL_GRU) {
                /* the reset gate and the h-gate's recurrent term */
                const float *Rh = Rd + 2 * H * H;
                float *dRh = dRd ? dRd + 2 * H * H : NULL, *dRbh = dRb ? dRb + 2 * H : NULL;
                if (g.lbr) {
                    /* pre_h = xW + Wb + r * aux, aux = hp Rh^T + Rbh */
                    for (int64_t b = 0; b < B; b++)
                        for (int64_t j = 0; j < H; j++) {
                            float *gb = dG + b * GH;
                            float r = sigm(clampf(&g, pre[b * GH + H + j]));
                            float dr = gb[2 * H + j] * rec.aux[b * H + j];
                            daux[b * H + j] = gb[2 * H + j] * r;
                            gb[H + j] = dr * r * (1.0f - r) * passes(&g, pre[b * GH + H + j]);
                        }
                    if (dRh)
                        nn_gemm(BNN_F32, true, false, H, H, B, 1.0f, daux, H, hp, H, 1.0f, dRh, H, NULL, NULL);
                    if (dRbh)
                        for (int64_t b = 0; b < B; b++)
                            for (int64_t j = 0; j < H; j++)
                                dRbh[j] += daux[b * H + j];
                    nn_gemm(BNN_F32, false, false, B, H, H, 1.0f, daux, H, Rh, H, 1.0f, dhp, H, NULL, NULL);
                } else {
                    /* pre_h = xW + Wb + (r * hp) Rh^T + Rbh; aux = r * hp */
                    if (dRh)
                        nn_gemm(BNN_F32, true, false, H, H, B, 1.0f, dG + 2 * H, GH, rec.aux, H, 1.0f, dRh, H, NULL, NULL);
                    if (dRbh)
                        for (int64_t b = 0; b < B; b++)
                            for (int64_t j = 0; j < H; j++)
                                dRbh[j] += dG[b * GH + 2 * H + j];
                    nn_gemm(BNN_F32, false, false, B, H, H, 1.0f, dG + 2 * H, GH, Rh, H, 0.0f, daux, H, NULL, NULL);
                    for (int64_t b = 0; b < B; b++)
                        for (int64_t j = 0; j < H; j++) {
                            float r = sigm(clampf(&g, pre[b * GH + H + j]));
                            float dr = daux[b * H + j] * hp[b * H + j];
                            dhp[b * H + j] += daux[b * H + j] * r;
                            dG[b * GH + H + j] = dr * r * (1.0f - r) * passes(&g, pre[b * GH + H + j]);
                        }
                }
            }
            /* The recurrent products: gates R sees (all of them; gru: z and r). */
            int64_t nr = kind == CELL_GRU ? 2 * H : GH;
            nn_gemm(BNN_F32, false, false, B, H, nr, 1.0f, dG, GH, Rd, H, 1.0f, dhp, H, NULL, NULL);
            if (dRd)
                nn_gemm(BNN_F32, true, false, nr, H, B, 1.0f, dG, GH, hp, H, 1.0f, dRd, H, NULL, NULL);
            if (dRb || dWb)
                for (int64_t b = 0; b < B; b++)
                    for (int64_t j = 0; j < GH; j++) {
                        float v = dG[b * GH + j];
                        if (dWb)
                            dWb[j] += v;
                        if (dRb && j < nr)
                            dRb[j] += v;
                    }
            if (dWd || dX)
                gather_x(&g, x, d, k, xk);
            if (dWd)
                nn_gemm(BNN_F32, true, false, GH, I, B, 1.0f, dG, GH, xk, I, 1.0f, dWd, I, NULL, NULL);
            if (dX) {
                nn_gemm(BNN_F32, false, false, B, I, GH, 1.0f, dG, GH, Wd, I, 0.0f, xk, I, NULL, NULL);
                for (int64_t b = 0; b < B; b++) {
                    int64_t t = time_of(&g, d, k, b);
                    if (t < 0)
                        continue;
                    float *dst = dX + x_at(&g, t, b);
                    for (int64_t j = 0; j < I; j++)
                        dst[j] += xk[b * I + j];
                }
            }
            /* step back */
            float *sw = dh;
            dh = dhp;
            dhp = sw;
            sw = dc;
            dc = dcp;
            dcp = sw;
        }
        for (int64_t b = 0; b < B; b++)
            for (int64_t j = 0; j < H; j++) {
                if (dh0)
                    dh0[init_at(&g, 5, d, b) + j] += dh[b * H + j];
                if (dc0)
                    dc0[init_at(&g, 6, d, b) + j] += dc[b * H + j];
            }
    }
    return BNN_OK;
}

#define RNN_KERNEL(stem, kind)                                                                   \
    static bnn_status stem##_forward(const bnn_kernel_args *a, bnn_diag *d)                      \
    {                                                                                            \
        return rnn_forward_cell(a, kind, d);                                                     \
    }                                                                                            \
    static bnn_status stem##_backward(const bnn_kernel_args *a, const bnn_kernel_grads *g,      \
                                      bnn_diag *d)                                               \
    {                                                                                            \
        return rnn_backward_cell(a, g, kind, d);                                                 \
    }                                                                                            \
    static size_t stem##_scratch(const bnn_kernel_args *a) { return rnn_scratch_size_for(a, kind); } \
    static size_t stem##_state(const bnn_kernel_args *a) { return rnn_state_size_for(a, kind); }     \
    const bnn_kernel bnn_kernel_##stem = {.forward = stem##_forward,                             \
                                          .backward = stem##_backward,                           \
                                          .scratch_size = stem##_scratch,                        \
                                          .state_size = stem##_state};

RNN_KERNEL(lstm, CELL_LSTM)
RNN_KERNEL(gru, CELL_GRU)
RNN_KERNEL(rnn, CELL_RNN)
