/* resize against a plain double reference written after ONNX's definition
 * (one axis at a time; each output coordinate takes the n input elements
 * nearest its source coordinate in the edge-padded line, weighted by the
 * mode's coefficients of the fractional part), forward and backward. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

/* ---- the reference -------------------------------------------------------- */

typedef struct ref_cfg {
    const char *mode, *coord, *round;
    double a, extrapolation;
    bool exclude, antialias;
    int rank;
    int64_t in[BNN_MAX_RANK], out[BNN_MAX_RANK];
    double scale[BNN_MAX_RANK], roi[2 * BNN_MAX_RANK];
} ref_cfg;

static void read_cfg(const kn_case *c, ref_cfg *r)
{
    const bnn_node *n = bnn_graph_node(c->graph, c->node_id);
    r->mode = bnn_node_string(n, "mode", "nearest");
    r->coord = bnn_node_string(n, "coordinate_transformation_mode", "half_pixel");
    r->round = bnn_node_string(n, "nearest_mode", "round_prefer_floor");
    r->a = bnn_node_float(n, "cubic_coeff_a", -0.75f);
    r->extrapolation = bnn_node_float(n, "extrapolation_value", 0.0f);
    r->exclude = bnn_node_int(n, "exclude_outside", 0);
    r->antialias = bnn_node_int(n, "antialias", 0);
    r->rank = c->inputs[0].shape.rank;
    const bnn_attr *sc = bnn_node_attr(n, "scales"), *roi = bnn_node_attr(n, "roi");
    for (int d = 0; d < r->rank; d++) {
        r->in[d] = c->inputs[0].shape.dims[d];
        r->out[d] = c->output.shape.dims[d];
        r->scale[d] = sc ? sc->floats[d] : (double)r->out[d] / (double)r->in[d];
        r->roi[d] = roi ? roi->floats[d] : 0.0;
        r->roi[r->rank + d] = roi ? roi->floats[r->rank + d] : 1.0;
    }
}

/* Coefficients for fractional part t in (0, 1] (1 when the source is on a
 * pixel); returns how many. */
static int coeffs(const ref_cfg *r, double t, double scale, double *w)
{
    if (strcmp(r->mode, "nearest") == 0) {
        bool right;
        if (t == 1.0)
            right = true;
        else if (strcmp(r->round, "round_prefer_floor") == 0)
            right = t > 0.5;
        else if (strcmp(r->round, "round_prefer_ceil") == 0)
            right = t >= 0.5;
        else
            right = strcmp(r->round, "ceil") == 0;
        w[0] = !right;
        w[1] = right;
        return 2;
    }
    bool linear = strcmp(r->mode, "linear") == 0;
    if (!r->antialias) {
        if (linear) {
            w[0] = 1 - t;
            w[1] = t;
            return 2;
        }
        double A = r->a, u = t + 1, v = 1 - t, z = 2 - t;
        w[0] = A * u * u * u - 5 * A * u * u + 8 * A * u - 4 * A;
        w[1] = (A + 2) * t * t * t - (A + 3) * t * t + 1;
        w[2] = (A + 2) * v * v * v - (A + 3) * v * v + 1;
        w[3] = A * z * z * z - 5 * A * z * z + 8 * A * z - 4 * A;
        return 4;
    }
    double s = scale < 1 ? scale : 1, sum = 0;
    int start = (int)floor((linear ? -1.0 : -2.0) / s) + 1, n = 2 - 2 * start;
    for (int i = 0; i < n; i++) {
        double x = fabs(s * (start + i - t)), A = r->a;
        w[i] = linear ? fmax(0.0, 1 - x)
               : x <= 1 ? (A + 2) * x * x * x - (A + 3) * x * x + 1
               : x < 2  ? A * x * x * x - 5 * A * x * x + 8 * A * x - 4 * A
                        : 0.0;
        sum += w[i];
    }
    for (int i = 0; i < n; i++)
        w[i] /= sum;
    return n;
}

/* One output coordinate y of a line of `in` values along axis d. */
static double interp_1d(const ref_cfg *r, int d, const double *line, int64_t in, int64_t y)
{
    double scale = r->scale[d], len = scale * (double)in, x;
    const char *m = r->coord;
    if (strcmp(m, "align_corners") == 0)
        x = len == 1 ? 0 : (double)y * (double)(in - 1) / (len - 1);
    else if (strcmp(m, "asymmetric") == 0)
        x = (double)y / scale;
    else if (strcmp(m, "pytorch_half_pixel") == 0)
        x = len == 1 ? -0.5 : ((double)y + 0.5) / scale - 0.5;
    else if (strcmp(m, "half_pixel_symmetric") == 0)
        x = (double)in / 2 * (1 - (double)r->out[d] / len) + ((double)y + 0.5) / scale - 0.5;
    else if (strcmp(m, "tf_crop_and_resize") == 0) {
        double a = r->roi[d], b = r->roi[r->rank + d];
        x = len == 1 ? (b - a) * (double)(in - 1) / 2 : (double)y * (b - a) * (double)(in - 1) / (len - 1);
        x += a * (double)(in - 1);
        if (x < 0 || x > (double)(in - 1))
            return r->extrapolation;
    } else
        x = ((double)y + 0.5) / scale - 0.5;
    double w[256];
    double t = x == floor(x) ? 1.0 : x - floor(x);
    int n = coeffs(r, t, scale, w);
    /* The n indices of the edge-padded line nearest x (ties: the smaller). */
    int pad = (n + 1) / 2;
    int64_t plen = in + 2 * pad;
    int64_t *pick = malloc(sizeof(int64_t) * (size_t)n);
    bool *used = calloc((size_t)plen, 1);
    cr_assert(pick && used);
    for (int k = 0; k < n; k++) {
        int64_t best = -1;
        for (int64_t i = 0; i < plen; i++)
            if (!used[i] && (best < 0 || fabs(x + pad - (double)i) < fabs(x + pad - (double)best)))
                best = i;
        used[best] = true;
    }
    for (int64_t i = 0, k = 0; i < plen; i++)
        if (used[i])
            pick[k++] = i - pad;
    if (r->exclude) {
        double sum = 0;
        for (int k = 0; k < n; k++) {
            if (pick[k] < 0 || pick[k] >= in)
                w[k] = 0;
            sum += w[k];
        }
        for (int k = 0; k < n; k++)
            w[k] = sum ? w[k] / sum : 0;
    }
    double v = 0;
    for (int k = 0; k < n; k++) {
        int64_t i = pick[k] < 0 ? 0 : pick[k] >= in ? in - 1 : pick[k];
        v += w[k] * line[i];
    }
    free(pick);
    free(used);
    return v;
}

static void ref_resize(const kn_case *c, const double *const *in, double *out)
{
    ref_cfg r;
    read_cfg(c, &r);
    int64_t dims[BNN_MAX_RANK], total = 1;
    for (int d = 0; d < r.rank; d++) {
        dims[d] = r.in[d];
        total *= r.in[d];
    }
    double *cur = malloc(sizeof(double) * (size_t)(total ? total : 1));
    cr_assert(cur);
    memcpy(cur, in[0], sizeof(double) * (size_t)total);
    for (int d = 0; d < r.rank; d++) {
        bool crop = strcmp(r.coord, "tf_crop_and_resize") == 0;
        if (r.scale[d] == 1 && r.out[d] == r.in[d] &&
            (!crop || (r.roi[d] == 0 && r.roi[r.rank + d] == 1)))
            continue;
        int64_t outer = 1, inner = 1;
        for (int k = 0; k < d; k++)
            outer *= dims[k];
        for (int k = d + 1; k < r.rank; k++)
            inner *= dims[k];
        double *next = malloc(sizeof(double) * (size_t)(outer * r.out[d] * inner + 1));
        double *line = malloc(sizeof(double) * (size_t)(dims[d] + 1));
        cr_assert(next && line);
        for (int64_t o = 0; o < outer; o++)
            for (int64_t i = 0; i < inner; i++) {
                for (int64_t k = 0; k < dims[d]; k++)
                    line[k] = cur[(o * dims[d] + k) * inner + i];
                for (int64_t y = 0; y < r.out[d]; y++)
                    next[(o * r.out[d] + y) * inner + i] = interp_1d(&r, d, line, dims[d], y);
            }
        free(line);
        free(cur);
        cur = next;
        dims[d] = r.out[d];
    }
    int64_t n = 1;
    for (int d = 0; d < r.rank; d++)
        n *= dims[d];
    memcpy(out, cur, sizeof(double) * (size_t)n);
    free(cur);
}

/* ---- cases ---------------------------------------------------------------- */

typedef struct rs_case {
    const char *mode, *coord, *round;
    int rank;
    int64_t in[5];
    float scales[5]; /* 0: use sizes */
    int64_t sizes[5];
    float a;
    int exclude, antialias;
    float roi[10];
    float extrapolation;
} rs_case;

static kn_case *make(const rs_case *t, uint64_t seed)
{
    bnn_shape x = kn_shape(t->rank, t->in), y = x;
    bool use_sizes = t->scales[0] == 0;
    for (int d = 0; d < t->rank; d++)
        y.dims[d] = use_sizes ? t->sizes[d] : (int64_t)floor((double)t->scales[d] * (double)t->in[d]);
    kn_case *c = kn_create(BNN_OP_RESIZE, BNN_F32, 1, &x, &y, seed);
    bnn_graph *g = c->graph;
    int id = c->node_id;
    cr_assert_eq(bnn_node_set_string(g, id, "mode", t->mode), BNN_OK);
    cr_assert_eq(bnn_node_set_string(g, id, "coordinate_transformation_mode", t->coord), BNN_OK);
    if (t->round)
        cr_assert_eq(bnn_node_set_string(g, id, "nearest_mode", t->round), BNN_OK);
    if (use_sizes)
        kn_set_ints(c, "sizes", t->sizes, t->rank);
    else
        cr_assert_eq(bnn_node_set_floats(g, id, "scales", t->scales, t->rank), BNN_OK);
    if (t->a != 0)
        kn_set_float(c, "cubic_coeff_a", t->a);
    if (t->exclude)
        kn_set_int(c, "exclude_outside", 1);
    if (t->antialias)
        kn_set_int(c, "antialias", 1);
    if (strcmp(t->coord, "tf_crop_and_resize") == 0) {
        cr_assert_eq(bnn_node_set_floats(g, id, "roi", t->roi, 2 * t->rank), BNN_OK);
        kn_set_float(c, "extrapolation_value", t->extrapolation);
    }
    return c;
}

static const char *const coords[] = { "half_pixel", "pytorch_half_pixel", "align_corners",
                                      "asymmetric", "half_pixel_symmetric" };
static const char *const rounds[] = { "round_prefer_floor", "round_prefer_ceil", "floor", "ceil" };

/* Up and down by scales and by sizes, every coordinate mode, every mode. */
Test(resize, every_mode_and_coordinate_mode_matches_the_reference)
{
    static const rs_case shapes[] = {
        { .rank = 4, .in = { 1, 2, 4, 5 }, .scales = { 1, 1, 2, 1.5f } },
        { .rank = 4, .in = { 2, 1, 5, 7 }, .scales = { 1, 1, 0.6f, 0.45f } },
        { .rank = 4, .in = { 1, 2, 3, 4 }, .sizes = { 1, 2, 7, 3 } },
        { .rank = 3, .in = { 2, 6, 3 }, .sizes = { 2, 4, 8 } },
        { .rank = 1, .in = { 9 }, .scales = { 0.34f } },
        { .rank = 2, .in = { 3, 1 }, .sizes = { 5, 1 } }, /* one-wide axis kept */
    };
    static const char *const modes[] = { "nearest", "linear", "cubic" };
    uint64_t seed = 1;
    for (size_t s = 0; s < sizeof shapes / sizeof *shapes; s++)
        for (int m = 0; m < 3; m++)
            for (int k = 0; k < 5; k++) {
                rs_case t = shapes[s];
                t.mode = modes[m];
                t.coord = coords[k];
                int n_round = m == 0 ? 4 : 1;
                for (int r = 0; r < n_round; r++) {
                    t.round = rounds[r];
                    kn_case *c = make(&t, seed++);
                    kn_check_forward(c, ref_resize, 1e-5);
                    kn_destroy(c);
                }
            }
}

Test(resize, cubic_coefficient_exclude_outside_and_antialias)
{
    rs_case t = { .mode = "cubic", .coord = "half_pixel", .rank = 4, .in = { 1, 1, 6, 5 },
                  .scales = { 1, 1, 1.7f, 0.8f }, .a = -0.5f, .exclude = 1 };
    kn_case *c = make(&t, 3);
    kn_check_forward(c, ref_resize, 1e-5);
    kn_destroy(c);
    /* antialias widens the kernel when shrinking (and changes nothing else) */
    static const float down[][2] = { { 0.5f, 0.3f }, { 0.26f, 1.5f }, { 0.7f, 0.7f } };
    for (int m = 0; m < 2; m++)
        for (int i = 0; i < 3; i++) {
            rs_case u = { .mode = m ? "cubic" : "linear", .coord = coords[i % 5], .rank = 4,
                          .in = { 1, 2, 13, 11 }, .scales = { 1, 1, down[i][0], down[i][1] },
                          .antialias = 1, .exclude = i == 2 };
            c = make(&u, 10 + (uint64_t)i);
            kn_check_forward(c, ref_resize, 1e-5);
            kn_destroy(c);
        }
}

Test(resize, crop_and_resize_extrapolates_outside_the_roi)
{
    static const char *const modes[] = { "nearest", "linear", "cubic" };
    for (int m = 0; m < 3; m++) {
        rs_case t = { .mode = modes[m], .coord = "tf_crop_and_resize", .rank = 4,
                      .in = { 1, 1, 4, 4 }, .sizes = { 1, 1, 3, 5 },
                      .roi = { 0, 0, 0.4f, -0.3f, 1, 1, 0.6f, 1.2f }, .extrapolation = 10 };
        kn_case *c = make(&t, 20 + (uint64_t)m);
        kn_check_forward(c, ref_resize, 1e-5);
        /* the columns left of 0 and right of the input are the extrapolation value */
        const float *y = c->output.data;
        cr_assert_eq(y[0], 10.0f);
        cr_assert_eq(y[4], 10.0f);
        kn_destroy(c);
    }
}

Test(resize, gradients)
{
    static const rs_case cases[] = {
        { .mode = "nearest", .coord = "asymmetric", .round = "floor", .rank = 4,
          .in = { 1, 2, 3, 3 }, .scales = { 1, 1, 2, 2 } },
        { .mode = "nearest", .coord = "half_pixel", .round = "round_prefer_ceil", .rank = 4,
          .in = { 1, 1, 5, 4 }, .sizes = { 1, 1, 3, 7 } },
        { .mode = "linear", .coord = "half_pixel", .rank = 4, .in = { 1, 2, 3, 4 },
          .scales = { 1, 1, 2, 1.5f } },
        { .mode = "linear", .coord = "align_corners", .rank = 4, .in = { 1, 1, 5, 4 },
          .sizes = { 1, 1, 3, 6 } },
        { .mode = "linear", .coord = "pytorch_half_pixel", .rank = 3, .in = { 2, 7, 3 },
          .scales = { 1, 0.5f, 1 }, .antialias = 1 },
        { .mode = "cubic", .coord = "half_pixel", .rank = 4, .in = { 1, 1, 4, 5 },
          .scales = { 1, 1, 1.5f, 0.8f }, .exclude = 1 },
        { .mode = "linear", .coord = "tf_crop_and_resize", .rank = 4, .in = { 1, 1, 4, 4 },
          .sizes = { 1, 1, 3, 3 }, .roi = { 0, 0, 0.2f, -0.2f, 1, 1, 0.9f, 1.1f },
          .extrapolation = 2 },
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        kn_case *c = make(&cases[i], 30 + i);
        kn_check_backward(c, ref_resize, 1e-3, 0);
        kn_destroy(c);
    }
}

/* nearest moves whole elements, of any type: PaddleOCR's integer-scale
 * upsampling, on i64 data. */
Test(resize, nearest_copies_elements_of_any_type)
{
    bnn_shape x = KN_SHAPE(1, 1, 2, 3), y = KN_SHAPE(1, 1, 4, 6);
    kn_case *c = kn_create(BNN_OP_RESIZE, BNN_I64, 1, &x, &y, 5);
    float s[4] = { 1, 1, 2, 2 };
    cr_assert_eq(bnn_node_set_floats(c->graph, c->node_id, "scales", s, 4), BNN_OK);
    cr_assert_eq(bnn_node_set_string(c->graph, c->node_id, "coordinate_transformation_mode", "asymmetric"), BNN_OK);
    cr_assert_eq(bnn_node_set_string(c->graph, c->node_id, "nearest_mode", "floor"), BNN_OK);
    int64_t *xd = c->inputs[0].data;
    for (int i = 0; i < 6; i++)
        xd[i] = 100 + i;
    bnn_diag diag = {0};
    cr_assert_eq(kn_forward(c, &diag), BNN_OK, "%s", diag.message);
    const int64_t *yd = c->output.data;
    for (int r = 0; r < 4; r++)
        for (int k = 0; k < 6; k++)
            cr_assert_eq(yd[r * 6 + k], 100 + (r / 2) * 3 + k / 2);
    kn_destroy(c);
}

Test(resize, bad_attributes_and_types_name_the_node)
{
    bnn_shape x = KN_SHAPE(1, 1, 2, 3), y = KN_SHAPE(1, 1, 4, 6);
    kn_case *c = kn_create(BNN_OP_RESIZE, BNN_I64, 1, &x, &y, 5);
    float s[4] = { 1, 1, 2, 2 };
    cr_assert_eq(bnn_node_set_floats(c->graph, c->node_id, "scales", s, 4), BNN_OK);
    cr_assert_eq(bnn_node_set_string(c->graph, c->node_id, "mode", "linear"), BNN_OK);
    bnn_diag diag = {0};
    cr_assert_eq(kn_forward(c, &diag), BNN_ERR_UNSUPPORTED);
    cr_assert(strstr(diag.message, "n0") && strstr(diag.message, "f32"), "%s", diag.message);
    cr_assert_eq(bnn_node_set_string(c->graph, c->node_id, "mode", "bilinear"), BNN_OK);
    cr_assert_eq(kn_forward(c, &diag), BNN_ERR_INVALID);
    cr_assert(strstr(diag.message, "n0") && strstr(diag.message, "bilinear"), "%s", diag.message);
    cr_assert_eq(bnn_node_set_string(c->graph, c->node_id, "mode", "nearest"), BNN_OK);
    float wrong[4] = { 1, 1, 3, 2 }; /* the output was made for 2x */
    cr_assert_eq(bnn_node_set_floats(c->graph, c->node_id, "scales", wrong, 4), BNN_OK);
    cr_assert_eq(kn_forward(c, &diag), BNN_ERR_SHAPE);
    cr_assert(strstr(diag.message, "n0"), "%s", diag.message);
    kn_destroy(c);
}

/* ---- depth_to_space, space_to_depth ----------------------------------------- */

/* ONNX's definition as written: a reshape to 6-D, a transpose, a reshape. */
static void ref_block(const kn_case *c, const double *const *in, double *out)
{
    const bnn_node *n = bnn_graph_node(c->graph, c->node_id);
    const int64_t *x = c->inputs[0].shape.dims;
    int64_t b = bnn_node_int(n, "blocksize", 0);
    bool to_space = c->op == BNN_OP_DEPTH_TO_SPACE;
    bool crd = to_space && strcmp(bnn_node_string(n, "mode", "DCR"), "CRD") == 0;
    int64_t N = x[0], C = x[1], H = x[2], W = x[3];
    int64_t t[6], perm[6];
    if (to_space && !crd) { /* [N, b, b, C/b^2, H, W] -> 0 3 4 1 5 2 */
        int64_t s[6] = { N, b, b, C / (b * b), H, W }, p[6] = { 0, 3, 4, 1, 5, 2 };
        memcpy(t, s, sizeof s), memcpy(perm, p, sizeof p);
    } else if (to_space) { /* [N, C/b^2, b, b, H, W] -> 0 1 4 2 5 3 */
        int64_t s[6] = { N, C / (b * b), b, b, H, W }, p[6] = { 0, 1, 4, 2, 5, 3 };
        memcpy(t, s, sizeof s), memcpy(perm, p, sizeof p);
    } else { /* [N, C, H/b, b, W/b, b] -> 0 3 5 1 2 4 */
        int64_t s[6] = { N, C, H / b, b, W / b, b }, p[6] = { 0, 3, 5, 1, 2, 4 };
        memcpy(t, s, sizeof s), memcpy(perm, p, sizeof p);
    }
    int64_t od[6], total = 1;
    for (int k = 0; k < 6; k++) {
        od[k] = t[perm[k]];
        total *= t[k];
    }
    for (int64_t e = 0; e < total; e++) {
        int64_t oi[6], ii[6], r = e;
        for (int k = 5; k >= 0; k--) {
            oi[k] = r % od[k];
            r /= od[k];
        }
        for (int k = 0; k < 6; k++)
            ii[perm[k]] = oi[k];
        int64_t src = 0;
        for (int k = 0; k < 6; k++)
            src = src * t[k] + ii[k];
        out[e] = in[0][src];
    }
}

static kn_case *block_case(bnn_op op, int64_t b, const char *mode, const bnn_shape *x, uint64_t seed)
{
    bnn_shape y = *x;
    if (op == BNN_OP_DEPTH_TO_SPACE) {
        y.dims[1] /= b * b, y.dims[2] *= b, y.dims[3] *= b;
    } else {
        y.dims[1] *= b * b, y.dims[2] /= b, y.dims[3] /= b;
    }
    kn_case *c = kn_create(op, BNN_F32, 1, x, &y, seed);
    kn_set_int(c, "blocksize", b);
    if (mode)
        cr_assert_eq(bnn_node_set_string(c->graph, c->node_id, "mode", mode), BNN_OK);
    return c;
}

Test(depth_space, forward_and_gradients_match_the_reshape_transpose_definition)
{
    bnn_shape d = KN_SHAPE(2, 8, 3, 2), s = KN_SHAPE(2, 3, 4, 6), big = KN_SHAPE(1, 36, 9, 8);
    const char *modes[] = { NULL, "DCR", "CRD" };
    for (int m = 0; m < 3; m++) {
        kn_case *c = block_case(BNN_OP_DEPTH_TO_SPACE, 2, modes[m], &d, 40 + (uint64_t)m);
        kn_check_forward(c, ref_block, 0);
        kn_destroy(c);
        c = block_case(BNN_OP_DEPTH_TO_SPACE, 3, modes[m], &big, 43 + (uint64_t)m);
        kn_check_forward(c, ref_block, 0);
        kn_destroy(c);
        c = block_case(BNN_OP_DEPTH_TO_SPACE, 2, modes[m], &d, 46 + (uint64_t)m);
        kn_check_backward(c, ref_block, 1e-4, 0);
        kn_destroy(c);
    }
    kn_case *c = block_case(BNN_OP_SPACE_TO_DEPTH, 2, NULL, &s, 50);
    kn_check_forward(c, ref_block, 0);
    kn_destroy(c);
    c = block_case(BNN_OP_SPACE_TO_DEPTH, 3, NULL, &(bnn_shape){ .rank = 4, .dims = { 1, 2, 9, 6 } }, 51);
    kn_check_forward(c, ref_block, 0);
    kn_destroy(c);
    c = block_case(BNN_OP_SPACE_TO_DEPTH, 2, NULL, &s, 52);
    kn_check_backward(c, ref_block, 1e-4, 0);
    kn_destroy(c);
}

/* space_to_depth undoes depth_to_space (DCR), on any element type. */
Test(depth_space, space_to_depth_inverts_depth_to_space)
{
    bnn_shape d = KN_SHAPE(1, 12, 2, 3), s = KN_SHAPE(1, 3, 4, 6);
    kn_case *a = kn_create(BNN_OP_DEPTH_TO_SPACE, BNN_I64, 1, &d, &s, 1);
    kn_case *b = kn_create(BNN_OP_SPACE_TO_DEPTH, BNN_I64, 1, &s, &d, 2);
    kn_set_int(a, "blocksize", 2);
    kn_set_int(b, "blocksize", 2);
    int64_t *x = a->inputs[0].data;
    for (int i = 0; i < 72; i++)
        x[i] = 1000 + i;
    bnn_diag diag = {0};
    cr_assert_eq(kn_forward(a, &diag), BNN_OK, "%s", diag.message);
    memcpy(b->inputs[0].data, a->output.data, 72 * sizeof(int64_t));
    cr_assert_eq(kn_forward(b, &diag), BNN_OK, "%s", diag.message);
    cr_assert_eq(memcmp(b->output.data, x, 72 * sizeof(int64_t)), 0);
    kn_destroy(a);
    kn_destroy(b);
}

/* ---- grid_sample -------------------------------------------------------------- */

/* ONNX's GridSample written per sample: unnormalise, round (nearest), pull
 * an outside coordinate in (border, reflection), then read each tap with
 * the padding rule. */
static double gs_ref_reflect(double x, double lo, double hi)
{
    double r = hi - lo;
    while (x < lo || x > hi) /* one mirror at a time */
        x = x < lo ? 2 * lo - x : 2 * hi - x;
    return r > 0 ? x : lo;
}

static double gs_ref_pixel(const double *plane, int64_t H, int64_t W, double yi, double xi,
                           const char *pad, const double *lo, const double *hi)
{
    double at[2] = { yi, xi };
    int64_t len[2] = { H, W };
    for (int d = 0; d < 2; d++) {
        if (strcmp(pad, "reflection") == 0)
            at[d] = trunc(gs_ref_reflect(at[d], lo[d], hi[d]));
        if (at[d] < 0 || at[d] >= (double)len[d]) {
            if (strcmp(pad, "zeros") == 0)
                return 0;
            at[d] = at[d] < 0 ? 0 : (double)len[d] - 1;
        }
    }
    return plane[(int64_t)at[0] * W + (int64_t)at[1]];
}

static double gs_ref_cubic(double d)
{
    double A = -0.75;
    d = fabs(d);
    return d <= 1 ? (A + 2) * d * d * d - (A + 3) * d * d + 1
           : d < 2 ? A * d * d * d - 5 * A * d * d + 8 * A * d - 4 * A
                   : 0;
}

/* Finite differences want the coordinate unrounded (ONNX keeps it in f32). */
static bool gs_ref_exact;

static void ref_grid_sample(const kn_case *c, const double *const *in, double *out)
{
    const bnn_node *nd = bnn_graph_node(c->graph, c->node_id);
    const char *mode = bnn_node_string(nd, "mode", "bilinear");
    const char *pad = bnn_node_string(nd, "padding_mode", "zeros");
    bool ac = bnn_node_int(nd, "align_corners", 0);
    const int64_t *xd = c->inputs[0].shape.dims, *gd = c->inputs[1].shape.dims;
    int64_t N = xd[0], C = xd[1], H = xd[2], W = xd[3], Ho = gd[1], Wo = gd[2];
    double len[2] = { (double)H, (double)W };
    double lo[2], hi[2];
    for (int d = 0; d < 2; d++) {
        lo[d] = ac ? 0 : -0.5;
        hi[d] = ac ? len[d] - 1 : len[d] - 0.5;
    }
    for (int64_t n = 0; n < N; n++)
        for (int64_t i = 0; i < Ho; i++)
            for (int64_t j = 0; j < Wo; j++) {
                const double *g = in[1] + ((n * Ho + i) * Wo + j) * 2;
                double pos[2];
                for (int d = 0; d < 2; d++) {
                    double v = g[1 - d];
                    pos[d] = ac ? (v + 1) / 2 * (len[d] - 1) : ((v + 1) * len[d] - 1) / 2;
                    if (!gs_ref_exact)
                        pos[d] = (float)pos[d];
                    if (strcmp(mode, "nearest") == 0)
                        pos[d] = nearbyint(pos[d]);
                    if (pos[d] < lo[d] || pos[d] > hi[d]) {
                        if (strcmp(pad, "border") == 0)
                            pos[d] = fmin(fmax(pos[d], 0), len[d] - 1);
                        else if (strcmp(pad, "reflection") == 0)
                            pos[d] = gs_ref_reflect(pos[d], lo[d], hi[d]);
                    }
                }
                for (int64_t ch = 0; ch < C; ch++) {
                    const double *plane = in[0] + (n * C + ch) * H * W;
                    double v = 0;
                    if (strcmp(mode, "nearest") == 0) {
                        v = gs_ref_pixel(plane, H, W, trunc(pos[0]), trunc(pos[1]), pad, lo, hi);
                    } else {
                        bool lin = strcmp(mode, "bilinear") == 0 || strcmp(mode, "linear") == 0;
                        double fy = floor(pos[0]), fx = floor(pos[1]);
                        int first = lin ? 0 : -1, last = lin ? 1 : 2;
                        for (int a = first; a <= last; a++)
                            for (int b = first; b <= last; b++) {
                                double wy = lin ? 1 - fabs(pos[0] - (fy + a)) : gs_ref_cubic(pos[0] - (fy + a));
                                double wx = lin ? 1 - fabs(pos[1] - (fx + b)) : gs_ref_cubic(pos[1] - (fx + b));
                                v += wy * wx * gs_ref_pixel(plane, H, W, fy + a, fx + b, pad, lo, hi);
                            }
                    }
                    out[((n * C + ch) * Ho + i) * Wo + j] = v;
                }
            }
}

Test(grid_sample, every_mode_padding_and_alignment)
{
    static const char *const modes[] = { "bilinear", "nearest", "bicubic", "linear", "cubic" };
    static const char *const pads[] = { "zeros", "border", "reflection" };
    uint64_t seed = 60;
    for (int m = 0; m < 5; m++)
        for (int p = 0; p < 3; p++)
            for (int ac = 0; ac < 2; ac++) {
                bnn_shape in[2] = { KN_SHAPE(2, 3, 4, 5), KN_SHAPE(2, 3, 6, 2) };
                bnn_shape y = KN_SHAPE(2, 3, 3, 6);
                kn_case *c = kn_create(BNN_OP_GRID_SAMPLE, BNN_F32, 2, in, &y, seed++);
                float *g = c->inputs[1].data; /* reach past the edges, up to 2.5x */
                for (int i = 0; i < 72; i++)
                    g[i] *= 2.5f;
                cr_assert_eq(bnn_node_set_string(c->graph, c->node_id, "mode", modes[m]), BNN_OK);
                cr_assert_eq(bnn_node_set_string(c->graph, c->node_id, "padding_mode", pads[p]), BNN_OK);
                kn_set_int(c, "align_corners", ac);
                kn_check_forward(c, ref_grid_sample, 1e-5);
                kn_destroy(c);
            }
}

/* Gradients to x and to the grid (nearest's grid gradient is zero). */
Test(grid_sample, gradients)
{
    static const char *const modes[] = { "bilinear", "bicubic", "nearest" };
    static const char *const pads[] = { "zeros", "border", "reflection" };
    uint64_t seed = 90;
    gs_ref_exact = true;
    for (int m = 0; m < 3; m++)
        for (int p = 0; p < 3; p++) {
            bnn_shape in[2] = { KN_SHAPE(1, 2, 4, 3), KN_SHAPE(1, 2, 3, 2) };
            bnn_shape y = KN_SHAPE(1, 2, 2, 3);
            kn_case *c = kn_create(BNN_OP_GRID_SAMPLE, BNN_F32, 2, in, &y, seed++);
            float *g = c->inputs[1].data;
            for (int i = 0; i < 12; i++)
                g[i] *= 2.0f;
            cr_assert_eq(bnn_node_set_string(c->graph, c->node_id, "mode", modes[m]), BNN_OK);
            cr_assert_eq(bnn_node_set_string(c->graph, c->node_id, "padding_mode", pads[p]), BNN_OK);
            kn_set_int(c, "align_corners", p == 1);
            kn_check_backward(c, ref_grid_sample, 1e-3, 0);
            kn_destroy(c);
        }
    gs_ref_exact = false;
}
