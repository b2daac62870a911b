/* Dataset shift: rotated copies of image batches. */
#include <math.h>

#include "bnn_data.h"

void bnn_rotate_images(const bnn_tensor *x, double degrees, bnn_tensor *out)
{
    BNN_ASSERT(x->dtype == BNN_F32 && x->shape.rank == 4 && out->data != x->data);
    BNN_ASSERT(bnn_shape_equal(&x->shape, &out->shape));
    int64_t planes = x->shape.dims[0] * x->shape.dims[1];
    int64_t h = x->shape.dims[2], w = x->shape.dims[3];
    double theta = degrees * M_PI / 180.0;
    double c = cos(theta), s = sin(theta);
    double cy = (double)(h - 1) / 2, cx = (double)(w - 1) / 2;
    const float *src = x->data;
    float *dst = out->data;
    for (int64_t p = 0; p < planes; p++) {
        const float *in = src + p * h * w;
        float *o = dst + p * h * w;
        for (int64_t i = 0; i < h; i++) {
            for (int64_t j = 0; j < w; j++) {
                /* Inverse map: where in the source does output pixel (i, j)
                 * come from?  Rows grow downwards, so a counter-clockwise turn
                 * on screen is a clockwise one in (row, col) coordinates. */
                double dy = (double)i - cy, dx = (double)j - cx;
                double sy = c * dy + s * dx + cy;
                double sx = c * dx - s * dy + cx;
                double fy = floor(sy), fx = floor(sx);
                int64_t y0 = (int64_t)fy, x0 = (int64_t)fx;
                double ay = sy - fy, ax = sx - fx;
                double v = 0;
                for (int k = 0; k < 4; k++) {
                    int64_t yy = y0 + (k >> 1), xx = x0 + (k & 1);
                    if (yy < 0 || yy >= h || xx < 0 || xx >= w)
                        continue;
                    double wy = (k >> 1) ? ay : 1 - ay;
                    double wx = (k & 1) ? ax : 1 - ax;
                    v += wy * wx * in[yy * w + xx];
                }
                o[i * w + j] = (float)v;
            }
        }
    }
}
