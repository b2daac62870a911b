/* ONNX DFT, STFT and MelWeightMatrix (opset 17): an audio model's front
 * end (a spectrogram, its mel filter bank).  A DFT of fixed length is a
 * linear map, so both transforms are lowered onto ops bnnc already runs,
 * differentiates and exports, with the transform's matrix as a constant:
 *
 *   DFT of x [.., n, .., c] (c = 1 real, 2 complex) along an axis of n:
 *     Transpose the axis next to the last          [.., n, c]
 *     Reshape                                       [.., n c, 1]
 *     MatMul(M, .), M [2K, n c]                     [.., 2K, 1]
 *     Reshape, Transpose back                       [.., K, .., 2]
 *   with K = L (dft_length, default n; a shorter L reads the first L
 *   samples, a longer one pads with zeros), or L / 2 + 1 when onesided,
 *   M the real form of e^(-+ 2 pi i j k / L) (1/L more when inverse).
 *
 *   STFT of a signal [N, S, c] with frame_step h, window w (or ones) and
 *   frame length F:
 *     Gather the frames (constant indices t h + j)  [N, T, F, c]
 *     Reshape                                       [N, T, F c, 1]
 *     MatMul(M, .), M [2K, F c] the windowed DFT    [N, T, 2K, 1]
 *     Reshape                                       [N, T, K, 2]
 *   T = 1 + (S - F) / h frames, K = F / 2 + 1 when onesided (the default).
 *
 * The matrix is MatMul's first operand: a fixed transform, not a layer, so
 * canonicalize leaves it a matmul, convert never makes it Bayesian and
 * training never moves it.  The angles are reduced exactly ((j k) mod L)
 * before the cosines, in double.  The signal's length along the transformed
 * axis, the lengths and the window must be known when the model is read;
 * the batch may be a symbol.  MelWeightMatrix folds to its constant (all its
 * inputs are scalars), computed as ONNX's reference does.  Registered in
 * the table of onnx_lower.c. */
#include <math.h>
#include <stdlib.h>

#include "onnx_impl.h"

/* The matrices are held whole: up to this many floats (256 MiB). */
#define MAX_MATRIX_FLOATS ((int64_t)1 << 26)

/* A constant integer scalar input k, or fallback when absent. */
static bnn_status int_input(onnx_ctx *c, int k, const char *what, int64_t fallback,
                            int64_t *out)
{
    *out = fallback;
    int id = onnx_input(c, k);
    if (id < 0)
        return BNN_OK;
    onnx_known kn;
    double f;
    if (onnx_known_get(c, id, &kn) && kn.n == 1 && !onnx_known_unknown(&kn, 0))
        *out = kn.v[0];
    else if (onnx_param_scalar(c, id, &f) && f == trunc(f) && fabs(f) < 9e15)
        *out = (int64_t)f;
    else
        return onnx_node_fail(c, BNN_ERR_UNSUPPORTED, "input '%s' must be a constant integer "
                              "scalar: it decides the output's size", what);
    return BNN_OK;
}

/* cos and sin of 2 pi j k / L, the product reduced mod L first. */
static void twiddle(int64_t j, int64_t k, int64_t L, double *cs, double *sn)
{
    double t = 2 * M_PI * (double)((j % L) * (k % L) % L) / (double)L;
    *cs = cos(t);
    *sn = sin(t);
}

/* x with its axis `axis` (of rank dims) moved to rank - 2, or back. */
static bnn_status move_axis(onnx_ctx *c, int x, int rank, int axis, bool back, const char *tag,
                            bool last, int *out)
{
    int64_t perm[BNN_MAX_RANK];
    int k = 0;
    for (int d = 0; d < rank - 1; d++)
        if (d != axis)
            perm[k++] = d;
    perm[k++] = axis;
    perm[k] = rank - 1;
    if (back) { /* the inverse permutation */
        int64_t inv[BNN_MAX_RANK];
        for (int d = 0; d < rank; d++)
            inv[perm[d]] = d;
        for (int d = 0; d < rank; d++)
            perm[d] = inv[d];
    }
    int nid = -1;
    BNN_TRY(onnx_emit_step(c, BNN_OP_TRANSPOSE, &x, 1, last, tag, out, &nid));
    BNN_TRY(onnx_set_ints(c, nid, "perm", perm, rank));
    return onnx_infer(c, nid);
}

/* Reshape x to dims (0: copy x's dim there). */
static bnn_status reshape(onnx_ctx *c, int x, const int64_t *dims, int rank, const char *tag,
                          bool last, int *out)
{
    int nid = -1;
    BNN_TRY(onnx_emit_step(c, BNN_OP_RESHAPE, &x, 1, last, tag, out, &nid));
    BNN_TRY(onnx_set_ints(c, nid, "shape", dims, rank));
    return onnx_infer(c, nid);
}

/* x [.., m, c] (rank dims) through matrix mid [2K, m c]: [.., K, 2]. */
static bnn_status transform(onnx_ctx *c, int x, int rank, int64_t cols, int mid, int64_t K,
                            bool last, int *out)
{
    int64_t column[BNN_MAX_RANK] = {0}, complex[BNN_MAX_RANK] = {0};
    column[rank - 2] = cols;
    column[rank - 1] = 1;
    complex[rank - 2] = K;
    complex[rank - 1] = 2;
    int cur, nid = -1;
    BNN_TRY(reshape(c, x, column, rank, "column", false, &cur));
    int mm[2] = {mid, cur};
    BNN_TRY(onnx_emit_step(c, BNN_OP_MATMUL, mm, 2, false, "bins", &cur, &nid));
    BNN_TRY(onnx_infer(c, nid));
    return reshape(c, cur, complex, rank, "complex", last, out);
}

bnn_status onnx_lower_dft(onnx_ctx *c)
{
    int x;
    BNN_TRY(onnx_need_input(c, 0, &x));
    const bnn_value *xv = onnx_val(c, x);
    const bnn_shape xs = xv->shape;
    int rank = xs.rank;
    if (xv->dtype != BNN_F32)
        return onnx_node_fail(c, BNN_ERR_UNSUPPORTED, "input of type %s (float32 is supported)",
                              bnn_dtype_name(xv->dtype));
    if (rank < 2 || rank > BNN_MAX_RANK || !bnn_dim_is_known(xs.dims[rank - 1]) ||
        (xs.dims[rank - 1] != 1 && xs.dims[rank - 1] != 2))
        return onnx_node_fail(c, BNN_ERR_SHAPE, "the input's last dim must be 1 (real) or 2 "
                              "(complex)");
    int64_t cdim = xs.dims[rank - 1], axis, inverse, onesided, n, L;
    if (c->opset >= 20) {
        BNN_TRY(int_input(c, 2, "axis", -2, &axis));
    } else {
        BNN_TRY(onnx_attr_int(c, "axis", 1, &axis));
    }
    BNN_TRY(onnx_attr_int(c, "inverse", 0, &inverse));
    BNN_TRY(onnx_attr_int(c, "onesided", 0, &onesided));
    if (axis < 0)
        axis += rank;
    if (axis < 0 || axis > rank - 2)
        return onnx_node_fail(c, BNN_ERR_INVALID, "axis %lld is not a signal axis of a rank-%d "
                              "input", (long long)axis, rank);
    n = xs.dims[axis];
    if (!bnn_dim_is_known(n))
        return onnx_node_fail(c, BNN_ERR_UNSUPPORTED, "the length of axis %lld is only known at "
                              "run time (the transform's matrix is built at import)",
                              (long long)axis);
    BNN_TRY(int_input(c, 1, "dft_length", n, &L));
    if (L < 1)
        return onnx_node_fail(c, BNN_ERR_INVALID, "dft_length %lld is not positive", (long long)L);
    int64_t K = onesided ? L / 2 + 1 : L, cols = n * cdim, rows = 2 * K;
    if (n < 1 || cols > MAX_MATRIX_FLOATS / rows)
        return onnx_node_fail(c, BNN_ERR_UNSUPPORTED, "a transform of %lld samples into %lld bins "
                              "needs a matrix of more than %lld floats", (long long)n,
                              (long long)K, (long long)MAX_MATRIX_FLOATS);
    float *m = calloc((size_t)(rows * cols), sizeof(float));
    if (!m)
        return onnx_node_fail(c, BNN_ERR_NOMEM, "out of memory");
    double sign = inverse ? 1.0 : -1.0, scale = inverse ? 1.0 / (double)L : 1.0;
    for (int64_t k = 0; k < K; k++)
        for (int64_t j = 0; j < n && j < L; j++) {
            double cs, sn;
            twiddle(j, k, L, &cs, &sn);
            /* (a + i b) (cs + i sign sn): row 2k real, 2k + 1 imaginary */
            float *re = m + 2 * k * cols + j * cdim, *im = re + cols;
            re[0] = (float)(cs * scale);
            im[0] = (float)(sign * sn * scale);
            if (cdim == 2) {
                re[1] = (float)(-sign * sn * scale);
                im[1] = (float)(cs * scale);
            }
        }
    int mid;
    bnn_shape ms = {.rank = 2, .dims = {rows, cols}};
    bnn_status st = onnx_add_f32_const(c, "dft_matrix", &ms, m, &mid);
    free(m);
    BNN_TRY(st);

    bool moved = axis != rank - 2;
    int cur = x;
    if (moved)
        BNN_TRY(move_axis(c, cur, rank, (int)axis, false, "signal_last", false, &cur));
    BNN_TRY(transform(c, cur, rank, cols, mid, K, !moved, &cur));
    if (moved)
        BNN_TRY(move_axis(c, cur, rank, (int)axis, true, "back", true, &cur));
    return BNN_OK;
}

bnn_status onnx_lower_stft(onnx_ctx *c)
{
    int x;
    BNN_TRY(onnx_need_input(c, 0, &x));
    const bnn_value *xv = onnx_val(c, x);
    const bnn_shape xs = xv->shape;
    if (xv->dtype != BNN_F32)
        return onnx_node_fail(c, BNN_ERR_UNSUPPORTED, "signal of type %s (float32 is supported)",
                              bnn_dtype_name(xv->dtype));
    if (xs.rank != 3 || !bnn_dim_is_known(xs.dims[1]) || !bnn_dim_is_known(xs.dims[2]) ||
        (xs.dims[2] != 1 && xs.dims[2] != 2))
        return onnx_node_fail(c, BNN_ERR_SHAPE, "the signal must be [batch, length, 1 or 2] with "
                              "a known length");
    int64_t S = xs.dims[1], cdim = xs.dims[2], step, flen, onesided;
    BNN_TRY(onnx_attr_int(c, "onesided", 1, &onesided));
    BNN_TRY(int_input(c, 1, "frame_step", 0, &step));
    if (onnx_input(c, 1) < 0 || step < 1)
        return onnx_node_fail(c, BNN_ERR_INVALID, "frame_step must be a positive constant");
    int wid = onnx_input(c, 2);
    const float *window = NULL;
    int64_t wlen = -1;
    if (wid >= 0) {
        const bnn_value *wv = onnx_val(c, wid);
        if (!onnx_is_param(c, wid) || wv->dtype != BNN_F32 || wv->shape.rank != 1)
            return onnx_node_fail(c, BNN_ERR_UNSUPPORTED, "the window must be a constant float32 "
                                  "vector (HannWindow and the like fold to one)");
        window = wv->data;
        wlen = wv->shape.dims[0];
    }
    BNN_TRY(int_input(c, 3, "frame_length", wlen >= 0 ? wlen : S, &flen));
    if (wlen >= 0 && flen != wlen)
        return onnx_node_fail(c, BNN_ERR_INVALID, "frame_length %lld differs from the window's "
                              "%lld", (long long)flen, (long long)wlen);
    if (flen < 1 || flen > S)
        return onnx_node_fail(c, BNN_ERR_INVALID, "frame_length %lld does not fit a signal of "
                              "%lld", (long long)flen, (long long)S);
    int64_t K = onesided ? flen / 2 + 1 : flen, frames = 1 + (S - flen) / step;
    if (2 * K * cdim > MAX_MATRIX_FLOATS / flen)
        return onnx_node_fail(c, BNN_ERR_UNSUPPORTED, "frames of %lld samples need a kernel of "
                              "more than %lld floats", (long long)flen,
                              (long long)MAX_MATRIX_FLOATS);
    int64_t cols = cdim * flen;
    float *w = calloc((size_t)(2 * K * cols), sizeof(float));
    int64_t *idx = malloc(sizeof(int64_t) * (size_t)(frames * flen) + 1);
    if (!w || !idx) {
        free(w);
        free(idx);
        return onnx_node_fail(c, BNN_ERR_NOMEM, "out of memory");
    }
    for (int64_t k = 0; k < K; k++)
        for (int64_t j = 0; j < flen; j++) {
            double cs, sn, win = window ? window[j] : 1.0;
            twiddle(j, k, flen, &cs, &sn);
            /* (a + i b) (cs - i sn): row 2k real, 2k + 1 imaginary */
            float *re = w + 2 * k * cols + j * cdim, *im = re + cols;
            re[0] = (float)(win * cs);
            im[0] = (float)(-win * sn);
            if (cdim == 2) {
                re[1] = (float)(win * sn);
                im[1] = (float)(win * cs);
            }
        }
    for (int64_t t = 0; t < frames; t++)
        for (int64_t j = 0; j < flen; j++)
            idx[t * flen + j] = t * step + j;
    int kid, iid = -1;
    bnn_shape ks = {.rank = 2, .dims = {2 * K, cols}};
    bnn_status st = onnx_add_f32_const(c, "stft_matrix", &ks, w, &kid);
    if (st == BNN_OK) {
        char base[300], buf[320];
        snprintf(base, sizeof base, "%s.frame_index", c->node_name);
        bnn_shape is = {.rank = 2, .dims = {frames, flen}};
        iid = bnn_graph_add_param(c->g, onnx_fresh_name(c, base, buf, sizeof buf), BNN_I64, &is,
                                  idx, sizeof(int64_t) * (size_t)(frames * flen), false);
        if (iid < 0)
            st = onnx_node_fail(c, BNN_ERR_NOMEM, "out of memory");
    }
    free(w);
    free(idx);
    BNN_TRY(st);

    int cur, nid = -1, gather_in[2] = {x, iid};
    BNN_TRY(onnx_emit_step(c, BNN_OP_GATHER, gather_in, 2, false, "frames", &cur, &nid));
    BNN_TRY(onnx_set_int(c, nid, "axis", 1));
    BNN_TRY(onnx_infer(c, nid));
    return transform(c, cur, 4, cols, kid, K, true, &cur);
}

/* numpy's floor division of doubles (a // b), which MelWeightMatrix's
 * reference uses: the quotient of a - fmod(a, b), floored, rounded up when
 * it lies more than a half above its floor. */
static double floor_div(double a, double b)
{
    double mod = fmod(a, b), div = (a - mod) / b;
    if (mod != 0 && (b < 0) != (mod < 0))
        div -= 1;
    double f = floor(div);
    return div - f > 0.5 ? f + 1 : f;
}

/* A constant scalar input k as a double. */
static bnn_status scalar_input(onnx_ctx *c, int k, const char *what, double *out)
{
    int id;
    BNN_TRY(onnx_need_input(c, k, &id));
    onnx_known kn;
    if (onnx_known_get(c, id, &kn) && kn.n == 1 && !onnx_known_unknown(&kn, 0)) {
        *out = (double)kn.v[0];
        return BNN_OK;
    }
    if (!onnx_param_scalar(c, id, out))
        return onnx_node_fail(c, BNN_ERR_UNSUPPORTED, "input '%s' must be a constant scalar",
                              what);
    return BNN_OK;
}

bnn_status onnx_lower_mel_weight_matrix(onnx_ctx *c)
{
    double bins_d, dft_d, rate, lo, hi;
    BNN_TRY(scalar_input(c, 0, "num_mel_bins", &bins_d));
    BNN_TRY(scalar_input(c, 1, "dft_length", &dft_d));
    BNN_TRY(scalar_input(c, 2, "sample_rate", &rate));
    BNN_TRY(scalar_input(c, 3, "lower_edge_hertz", &lo));
    BNN_TRY(scalar_input(c, 4, "upper_edge_hertz", &hi));
    int64_t dtype;
    BNN_TRY(onnx_attr_int(c, "output_datatype", BNN_F32, &dtype));
    if (dtype != BNN_F32 && dtype != BNN_F64)
        return onnx_node_fail(c, BNN_ERR_UNSUPPORTED, "output_datatype %s is not supported "
                              "(FLOAT and DOUBLE are)", bnn_onnx_type_name((int32_t)dtype));
    if (bins_d < 1 || bins_d > 65536 || bins_d != trunc(bins_d) || dft_d < 1 || dft_d > 1 << 24 ||
        dft_d != trunc(dft_d) || !(rate > 0) || !(lo >= 0) || !(hi > lo) || !isfinite(hi))
        return onnx_node_fail(c, BNN_ERR_INVALID, "num_mel_bins %g, dft_length %g, sample_rate "
                              "%g, edges %g to %g Hz do not make a filter bank", bins_d, dft_d,
                              rate, lo, hi);
    int64_t bins = (int64_t)bins_d, dft = (int64_t)dft_d, spec = dft / 2 + 1;
    int64_t *edge = malloc(sizeof(int64_t) * (size_t)(bins + 2));
    double *out = calloc((size_t)(spec * bins), sizeof(double));
    if (!edge || !out) {
        free(edge);
        free(out);
        return onnx_node_fail(c, BNN_ERR_NOMEM, "out of memory");
    }
    /* bins + 2 points evenly spaced in mel, (hi - lo) / (bins + 2) apart,
     * mapped back to hertz and to a spectrogram bin */
    double mlo = 2595 * log10(1 + lo / 700), mhi = 2595 * log10(1 + hi / 700);
    double step = (mhi - mlo) / (double)(bins + 2);
    for (int64_t i = 0; i < bins + 2; i++) {
        double hz = 700 * (pow(10, ((double)i * step + mlo) / 2595) - 1);
        edge[i] = (int64_t)floor_div((double)(dft + 1) * hz, rate);
    }
    bnn_status st = BNN_OK;
    for (int64_t i = 0; i < bins && st == BNN_OK; i++) {
        int64_t left = edge[i], centre = edge[i + 1], right = edge[i + 2];
        if (left < 0 || right >= spec || centre < left || right < centre) {
            st = onnx_node_fail(c, BNN_ERR_INVALID, "mel bin %lld spans spectrogram bins %lld to "
                                "%lld, outside 0 to %lld (upper_edge_hertz above the Nyquist "
                                "frequency?)", (long long)i, (long long)left, (long long)right,
                                (long long)(spec - 1));
            break;
        }
        if (centre == left)
            out[centre * bins + i] = 1;
        else
            for (int64_t j = left; j <= centre; j++)
                out[j * bins + i] = (double)(j - left) / (double)(centre - left);
        for (int64_t j = centre; j < right; j++)
            out[j * bins + i] = (double)(right - j) / (double)(right - centre);
    }
    if (st == BNN_OK) {
        bnn_shape s = {.rank = 2, .dims = {spec, bins}};
        size_t n = (size_t)(spec * bins);
        if (dtype == BNN_F32) {
            float *f = malloc(sizeof(float) * n + 1);
            if (!f) {
                st = onnx_node_fail(c, BNN_ERR_NOMEM, "out of memory");
            } else {
                for (size_t k = 0; k < n; k++)
                    f[k] = (float)out[k];
                st = onnx_output_param(c, 0, BNN_F32, &s, f, sizeof(float) * n);
                free(f);
            }
        } else {
            st = onnx_output_param(c, 0, BNN_F64, &s, out, sizeof(double) * n);
        }
    }
    free(edge);
    free(out);
    return st;
}
