/* Reference implementations (see reference.h): correctness over speed. */
#include "reference.h"

#include <math.h>

static const bnn_node *node_of(const kn_case *c)
{
    return bnn_graph_node(c->graph, c->node_id);
}

static int64_t numel(const bnn_shape *s)
{
    int64_t n = 1;
    for (int i = 0; i < s->rank; i++)
        n *= s->dims[i];
    return n;
}

void ref_dense(const kn_case *c, const double *const *in, double *out)
{
    const bnn_shape *xs = &c->inputs[0].shape, *ws = &c->inputs[1].shape;
    int64_t m = ws->dims[0], k = ws->dims[1], rows = numel(xs) / (k ? k : 1);
    if (k == 0)
        rows = numel(xs) == 0 ? 0 : rows;
    for (int64_t r = 0; r < rows; r++)
        for (int64_t j = 0; j < m; j++) {
            double s = in[2] ? in[2][j] : 0;
            for (int64_t i = 0; i < k; i++)
                s += in[0][r * k + i] * in[1][j * k + i];
            out[r * m + j] = s;
        }
}

void ref_gemm(const kn_case *c, const double *const *in, double *out)
{
    const bnn_node *node = node_of(c);
    int ta = (int)bnn_node_int(node, "trans_a", 0), tb = (int)bnn_node_int(node, "trans_b", 0);
    double alpha = bnn_node_float(node, "alpha", 1), beta = bnn_node_float(node, "beta", 1);
    const bnn_shape *as = &c->inputs[0].shape, *bs = &c->inputs[1].shape;
    int64_t m = ta ? as->dims[1] : as->dims[0], k = ta ? as->dims[0] : as->dims[1];
    int64_t n = tb ? bs->dims[0] : bs->dims[1];
    for (int64_t i = 0; i < m; i++)
        for (int64_t j = 0; j < n; j++) {
            double s = 0;
            for (int64_t p = 0; p < k; p++) {
                double a = ta ? in[0][p * m + i] : in[0][i * k + p];
                double b = tb ? in[1][j * k + p] : in[1][p * n + j];
                s += a * b;
            }
            double cv = 0;
            if (in[2]) {
                const bnn_shape *cs = &c->inputs[2].shape;
                int64_t cm = cs->rank == 2 ? cs->dims[0] : 1;
                int64_t cn = cs->rank >= 1 ? cs->dims[cs->rank - 1] : 1;
                cv = in[2][(cm == 1 ? 0 : i) * cn + (cn == 1 ? 0 : j)];
            }
            out[i * n + j] = alpha * s + beta * cv;
        }
}

void ref_matmul(const kn_case *c, const double *const *in, double *out)
{
    const bnn_shape *as = &c->inputs[0].shape, *bs = &c->inputs[1].shape;
    /* promote 1-D operands: a vector A is one row, a vector B one column */
    int64_t ad[BNN_MAX_RANK + 1] = {0}, bd[BNN_MAX_RANK + 1] = {0};
    int ra = as->rank, rb = bs->rank;
    if (ra == 1) { ad[0] = 1; ad[1] = as->dims[0]; ra = 2; }
    else for (int i = 0; i < ra; i++) ad[i] = as->dims[i];
    if (rb == 1) { bd[0] = bs->dims[0]; bd[1] = 1; rb = 2; }
    else for (int i = 0; i < rb; i++) bd[i] = bs->dims[i];
    int64_t m = ad[ra - 2], k = ad[ra - 1], n = bd[rb - 1];
    int r = (ra > rb ? ra : rb) - 2;
    int64_t oa[BNN_MAX_RANK], ob[BNN_MAX_RANK], od[BNN_MAX_RANK], batches = 1;
    for (int i = 0; i < r; i++) { /* batch dims aligned right, missing ones are 1 */
        int ia = i - (r - (ra - 2)), ib = i - (r - (rb - 2));
        oa[i] = ia >= 0 ? ad[ia] : 1;
        ob[i] = ib >= 0 ? bd[ib] : 1;
        od[i] = oa[i] > ob[i] ? oa[i] : ob[i];
        batches *= od[i];
    }
    for (int64_t t = 0; t < batches; t++) {
        int64_t idx[BNN_MAX_RANK], rest = t;
        for (int i = r - 1; i >= 0; i--) {
            idx[i] = rest % od[i];
            rest /= od[i];
        }
        int64_t fa = 0, fb = 0;
        for (int i = 0; i < r; i++) {
            fa = fa * oa[i] + (oa[i] == 1 ? 0 : idx[i]);
            fb = fb * ob[i] + (ob[i] == 1 ? 0 : idx[i]);
        }
        for (int64_t i = 0; i < m; i++)
            for (int64_t j = 0; j < n; j++) {
                double s = 0;
                for (int64_t p = 0; p < k; p++)
                    s += in[0][(fa * m + i) * k + p] * in[1][(fb * k + p) * n + j];
                out[(t * m + i) * n + j] = s;
            }
    }
}

/* Spatial attributes as 3 dims, fillers leading: count = spatial rank. */
typedef struct spatial {
    int64_t in[3], out[3], k[3], s[3], pb[3], pe[3], d[3];
} spatial;

static void spatial_of(const kn_case *c, const int64_t *kernel, spatial *sp)
{
    const bnn_node *node = node_of(c);
    const bnn_shape *xs = &c->inputs[0].shape, *ys = &c->output.shape;
    int sd = xs->rank - 2;
    const int64_t *strides, *pads, *dil;
    int ns = bnn_node_ints(node, "strides", &strides);
    int np = bnn_node_ints(node, "pads", &pads);
    int nd = bnn_node_ints(node, "dilations", &dil);
    for (int j = 0; j < 3; j++) {
        int i = j - (3 - sd);
        sp->in[j] = i < 0 ? 1 : xs->dims[2 + i];
        sp->out[j] = i < 0 ? 1 : ys->dims[2 + i];
        sp->k[j] = i < 0 ? 1 : kernel[i];
        sp->s[j] = i >= 0 && ns ? strides[i] : 1;
        sp->pb[j] = i >= 0 && np ? pads[i] : 0;
        sp->pe[j] = i >= 0 && np ? pads[sd + i] : 0;
        sp->d[j] = i >= 0 && nd ? dil[i] : 1;
    }
}

void ref_conv(const kn_case *c, const double *const *in, double *out)
{
    const bnn_shape *xs = &c->inputs[0].shape, *ws = &c->inputs[1].shape;
    int sd = xs->rank - 2;
    spatial sp;
    spatial_of(c, ws->dims + 2, &sp);
    int64_t group = bnn_node_int(node_of(c), "group", 1);
    int64_t nb = xs->dims[0], ch = xs->dims[1], mo = ws->dims[0];
    int64_t cg = ch / group, mg = mo / group;
    (void)sd;
    for (int64_t n = 0; n < nb; n++)
        for (int64_t m = 0; m < mo; m++)
            for (int64_t oh = 0; oh < sp.out[1]; oh++)
                for (int64_t ow = 0; ow < sp.out[2]; ow++) {
                    double s = in[2] ? in[2][m] : 0;
                    for (int64_t ci = 0; ci < cg; ci++)
                        for (int64_t kh = 0; kh < sp.k[1]; kh++)
                            for (int64_t kw = 0; kw < sp.k[2]; kw++) {
                                int64_t ih = oh * sp.s[1] - sp.pb[1] + kh * sp.d[1];
                                int64_t iw = ow * sp.s[2] - sp.pb[2] + kw * sp.d[2];
                                if (ih < 0 || ih >= sp.in[1] || iw < 0 || iw >= sp.in[2])
                                    continue;
                                int64_t cc = m / mg * cg + ci;
                                s += in[0][((n * ch + cc) * sp.in[1] + ih) * sp.in[2] + iw] *
                                     in[1][((m * cg + ci) * sp.k[1] + kh) * sp.k[2] + kw];
                            }
                    out[((n * mo + m) * sp.out[1] + oh) * sp.out[2] + ow] = s;
                }
}

static void ref_pool(const kn_case *c, const double *const *in, double *out, int is_max)
{
    const int64_t *ks;
    bnn_node_ints(node_of(c), "kernel_shape", &ks);
    spatial sp;
    spatial_of(c, ks, &sp);
    int include_pad = (int)bnn_node_int(node_of(c), "count_include_pad", 0);
    const bnn_shape *xs = &c->inputs[0].shape;
    int64_t planes = xs->dims[0] * xs->dims[1];
    int64_t isz = sp.in[0] * sp.in[1] * sp.in[2], osz = sp.out[0] * sp.out[1] * sp.out[2];
    for (int64_t p = 0; p < planes; p++)
        for (int64_t o = 0; o < osz; o++) {
            int64_t oi[3] = {o / (sp.out[1] * sp.out[2]), o / sp.out[2] % sp.out[1], o % sp.out[2]};
            double best = -INFINITY, sum = 0;
            int64_t in_bounds = 0, in_padded = 0;
            for (int64_t a = 0; a < sp.k[0]; a++)
                for (int64_t b = 0; b < sp.k[1]; b++)
                    for (int64_t e = 0; e < sp.k[2]; e++) {
                        int64_t kk[3] = {a, b, e}, pos[3];
                        int inside = 1, padded = 1;
                        for (int j = 0; j < 3; j++) {
                            pos[j] = oi[j] * sp.s[j] - sp.pb[j] + kk[j] * sp.d[j];
                            inside &= pos[j] >= 0 && pos[j] < sp.in[j];
                            padded &= pos[j] >= -sp.pb[j] && pos[j] < sp.in[j] + sp.pe[j];
                        }
                        in_padded += padded;
                        if (!inside)
                            continue;
                        in_bounds++;
                        double v = in[0][p * isz + (pos[0] * sp.in[1] + pos[1]) * sp.in[2] + pos[2]];
                        sum += v;
                        if (v > best)
                            best = v;
                    }
            double r;
            if (in_bounds == 0)
                r = 0;
            else if (is_max)
                r = best;
            else
                r = sum / (double)(include_pad ? in_padded : in_bounds);
            out[p * osz + o] = r;
        }
}

void ref_max_pool(const kn_case *c, const double *const *in, double *out)
{
    ref_pool(c, in, out, 1);
}

void ref_avg_pool(const kn_case *c, const double *const *in, double *out)
{
    ref_pool(c, in, out, 0);
}

static void ref_global(const kn_case *c, const double *const *in, double *out, int is_max)
{
    const bnn_shape *xs = &c->inputs[0].shape;
    int64_t planes = xs->dims[0] * xs->dims[1], size = numel(xs) / (planes ? planes : 1);
    for (int64_t p = 0; p < planes; p++) {
        double best = -INFINITY, sum = 0;
        for (int64_t i = 0; i < size; i++) {
            double v = in[0][p * size + i];
            sum += v;
            if (v > best)
                best = v;
        }
        out[p] = is_max ? best : sum / (double)size;
    }
}

void ref_global_avg_pool(const kn_case *c, const double *const *in, double *out)
{
    ref_global(c, in, out, 0);
}

void ref_global_max_pool(const kn_case *c, const double *const *in, double *out)
{
    ref_global(c, in, out, 1);
}

void ref_batch_norm(const kn_case *c, const double *const *in, double *out)
{
    const bnn_shape *xs = &c->inputs[0].shape;
    double eps = bnn_node_float(node_of(c), "epsilon", 1e-5f);
    int64_t nb = xs->dims[0], ch = xs->dims[1], planes = nb * ch;
    int64_t inner = planes > 0 ? numel(xs) / planes : 0;
    for (int64_t n = 0; n < nb; n++)
        for (int64_t k = 0; k < ch; k++)
            for (int64_t i = 0; i < inner; i++) {
                int64_t at = (n * ch + k) * inner + i;
                out[at] = (in[0][at] - in[3][k]) / sqrt(in[4][k] + eps) * in[1][k] + in[2][k];
            }
}

int64_t ref_conv_out(int64_t in, int64_t k, int64_t s, int64_t pb, int64_t pe, int64_t d)
{
    return (in + pb + pe - d * (k - 1) - 1) / s + 1;
}

int64_t ref_pool_out(int64_t in, int64_t k, int64_t s, int64_t pb, int64_t pe, int64_t d, int ceil_mode)
{
    int64_t span = in + pb + pe - d * (k - 1) - 1;
    int64_t out = (ceil_mode ? (span + s - 1) / s : span / s) + 1;
    if (ceil_mode && (out - 1) * s >= in + pb)
        out--;
    return out;
}
