/* Dataset shift: rotated, translated, noisy, blurred and low-contrast
 * copies of image batches, for `bnnc eval --shift`. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

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

bool bnn_shift_parse(const char *spec, bnn_shift *out)
{
    static const struct {
        const char *name;
        bnn_shift_kind kind;
    } kinds[] = { { "rotate", BNN_SHIFT_ROTATE }, { "translate", BNN_SHIFT_TRANSLATE },
                  { "noise", BNN_SHIFT_NOISE }, { "blur", BNN_SHIFT_BLUR },
                  { "contrast", BNN_SHIFT_CONTRAST } };
    const char *colon = strchr(spec, ':');
    if (!colon || !colon[1])
        return false;
    size_t len = (size_t)(colon - spec);
    for (size_t k = 0; k < sizeof kinds / sizeof kinds[0]; k++) {
        if (strlen(kinds[k].name) != len || strncmp(spec, kinds[k].name, len) != 0)
            continue;
        char *end;
        double a = strtod(colon + 1, &end), b = a;
        if (end == colon + 1 || !isfinite(a))
            return false;
        if (kinds[k].kind == BNN_SHIFT_TRANSLATE && *end == ',') {
            const char *second = end + 1;
            b = strtod(second, &end);
            if (end == second || !isfinite(b))
                return false;
        }
        if (*end)
            return false;
        switch (kinds[k].kind) {
        case BNN_SHIFT_TRANSLATE: /* whole pixels, at most 2^20 */
            if (a != floor(a) || b != floor(b) || fabs(a) > 1048576 || fabs(b) > 1048576)
                return false;
            break;
        case BNN_SHIFT_NOISE:
            if (a < 0)
                return false;
            break;
        case BNN_SHIFT_BLUR:
            if (a < 0 || a > 64)
                return false;
            break;
        default: break;
        }
        *out = (bnn_shift){ .kind = kinds[k].kind, .a = a, .b = b };
        return true;
    }
    return false;
}

const char *bnn_shift_name(bnn_shift_kind kind)
{
    switch (kind) {
    case BNN_SHIFT_ROTATE: return "rotate";
    case BNN_SHIFT_TRANSLATE: return "translate";
    case BNN_SHIFT_NOISE: return "noise";
    case BNN_SHIFT_BLUR: return "blur";
    case BNN_SHIFT_CONTRAST: return "contrast";
    }
    return "?";
}

/* One plane blurred along rows (step 1) or columns (step w): the Gaussian
 * taps renormalised where they leave the image, so edges keep their level. */
static void blur_line(const float *in, float *o, int64_t n, int64_t step, const double *k,
                      int64_t r)
{
    for (int64_t i = 0; i < n; i++) {
        double acc = 0, wsum = 0;
        for (int64_t t = -r; t <= r; t++) {
            int64_t j = i + t;
            if (j < 0 || j >= n)
                continue;
            acc += k[t + r] * in[j * step];
            wsum += k[t + r];
        }
        o[i * step] = (float)(wsum > 0 ? acc / wsum : 0);
    }
}

bool bnn_shift_images(const bnn_tensor *x, const bnn_shift *shift, const float *normals,
                      bnn_tensor *out)
{
    BNN_ASSERT(x->dtype == BNN_F32 && x->shape.rank == 4 && out->data != x->data);
    BNN_ASSERT(bnn_shape_equal(&x->shape, &out->shape));
    if (shift->kind == BNN_SHIFT_ROTATE) {
        bnn_rotate_images(x, shift->a, out);
        return true;
    }
    int64_t n = x->shape.dims[0], c = x->shape.dims[1], h = x->shape.dims[2], w = x->shape.dims[3];
    int64_t plane = h * w, total = n * c * plane;
    const float *src = x->data;
    float *dst = out->data;
    switch (shift->kind) {
    case BNN_SHIFT_TRANSLATE: {
        int64_t dx = (int64_t)shift->a, dy = (int64_t)shift->b;
        for (int64_t p = 0; p < n * c; p++)
            for (int64_t i = 0; i < h; i++)
                for (int64_t j = 0; j < w; j++) {
                    int64_t si = i - dy, sj = j - dx;
                    dst[p * plane + i * w + j] =
                        si >= 0 && si < h && sj >= 0 && sj < w ? src[p * plane + si * w + sj] : 0;
                }
        break;
    }
    case BNN_SHIFT_NOISE: {
        float lo = INFINITY, hi = -INFINITY;
        for (int64_t i = 0; i < total; i++) {
            lo = src[i] < lo ? src[i] : lo;
            hi = src[i] > hi ? src[i] : hi;
        }
        BNN_ASSERT(normals);
        for (int64_t i = 0; i < total; i++) {
            double v = src[i] + shift->a * normals[i];
            dst[i] = (float)(v < lo ? lo : v > hi ? hi : v);
        }
        break;
    }
    case BNN_SHIFT_BLUR: {
        int64_t r = (int64_t)ceil(3 * shift->a);
        if (r == 0 || plane == 0) {
            memcpy(dst, src, sizeof(float) * (size_t)total);
            break;
        }
        double k[2 * 192 + 1];
        for (int64_t t = -r; t <= r; t++)
            k[t + r] = exp(-(double)(t * t) / (2 * shift->a * shift->a));
        float *tmp = malloc(sizeof(float) * (size_t)plane);
        if (!tmp)
            return false;
        for (int64_t p = 0; p < n * c; p++) {
            for (int64_t i = 0; i < h; i++)
                blur_line(src + p * plane + i * w, tmp + i * w, w, 1, k, r);
            for (int64_t j = 0; j < w; j++)
                blur_line(tmp + j, dst + p * plane + j, h, w, k, r);
        }
        free(tmp);
        break;
    }
    case BNN_SHIFT_CONTRAST: {
        int64_t per = c * plane;
        for (int64_t e = 0; e < n; e++) {
            double m = 0;
            for (int64_t i = 0; i < per; i++)
                m += src[e * per + i];
            m = per ? m / (double)per : 0;
            for (int64_t i = 0; i < per; i++)
                dst[e * per + i] = (float)(m + shift->a * (src[e * per + i] - m));
        }
        break;
    }
    default: break;
    }
    return true;
}
