/* ONNX HannWindow, HammingWindow and BlackmanWindow (opset 17) fold at
 * import into a constant: their one input, the window's size, decides the
 * output's size, so it must be known (a constant or a bound input).
 * periodic=1 (the default) spaces the cosines by 2 pi / size, periodic=0
 * (symmetric) by 2 pi / (size - 1); output_datatype is an ONNX element type
 * (default f32; f32 and f64 here).  Registered in the table of
 * onnx_lower.c. */
#include <math.h>
#include <stdlib.h>

#include "onnx_impl.h"

typedef enum { WINDOW_HANN, WINDOW_HAMMING, WINDOW_BLACKMAN } window_kind;

/* Sample n of the window over denominator d (0 for a window of one). */
static double window_at(window_kind k, int64_t n, int64_t d)
{
    double t = d > 0 ? 2 * M_PI * (double)n / (double)d : 0;
    switch (k) {
    case WINDOW_HANN: return 0.5 - 0.5 * cos(t);
    case WINDOW_HAMMING: return 25.0 / 46.0 - 21.0 / 46.0 * cos(t);
    default: return 0.42 - 0.5 * cos(t) + 0.08 * cos(2 * t);
    }
}

static bnn_status lower_window(onnx_ctx *c, window_kind kind)
{
    int id;
    BNN_TRY(onnx_need_input(c, 0, &id));
    onnx_known kn;
    double f;
    int64_t size;
    if (onnx_known_get(c, id, &kn) && kn.n == 1 && !kn.sym)
        size = kn.v[0];
    else if (onnx_param_scalar(c, id, &f) && f == trunc(f) && fabs(f) < 9e18)
        size = (int64_t)f;
    else
        return onnx_node_fail(c, BNN_ERR_UNSUPPORTED,
                              "input 'size' must be a constant scalar: it decides the output's "
                              "size, and bnnc plans sizes before it sees data");
    int64_t periodic, dtype;
    BNN_TRY(onnx_attr_int(c, "periodic", 1, &periodic));
    BNN_TRY(onnx_attr_int(c, "output_datatype", BNN_F32, &dtype));
    if (periodic != 0 && periodic != 1)
        return onnx_node_fail(c, BNN_ERR_INVALID, "attribute 'periodic' is %lld, expected 0 or 1",
                              (long long)periodic);
    if (dtype != BNN_F32 && dtype != BNN_F64)
        return onnx_node_fail(c, BNN_ERR_UNSUPPORTED, "output_datatype %s is not supported "
                              "(FLOAT and DOUBLE are)", bnn_onnx_type_name((int32_t)dtype));
    size_t es = bnn_dtype_size((bnn_dtype)dtype);
    if (size < 0 || (uint64_t)size > ONNX_MAX_FOLDED_BYTES / es)
        return onnx_node_fail(c, BNN_ERR_INVALID, "size %lld is not a window size up to %d MiB",
                              (long long)size, (int)(ONNX_MAX_FOLDED_BYTES >> 20));
    unsigned char *buf = malloc((size_t)size * es + 1);
    if (!buf)
        return onnx_node_fail(c, BNN_ERR_NOMEM, "out of memory");
    int64_t d = periodic ? size : size - 1;
    for (int64_t n = 0; n < size; n++) {
        double v = window_at(kind, n, d);
        if (dtype == BNN_F32)
            ((float *)(void *)buf)[n] = (float)v;
        else
            ((double *)(void *)buf)[n] = v;
    }
    bnn_shape s = {.rank = 1, .dims = {size}};
    bnn_status st = onnx_output_param(c, 0, (bnn_dtype)dtype, &s, buf, (size_t)size * es);
    free(buf);
    return st;
}

bnn_status onnx_lower_hann_window(onnx_ctx *c) { return lower_window(c, WINDOW_HANN); }
bnn_status onnx_lower_hamming_window(onnx_ctx *c) { return lower_window(c, WINDOW_HAMMING); }
bnn_status onnx_lower_blackman_window(onnx_ctx *c) { return lower_window(c, WINDOW_BLACKMAN); }
