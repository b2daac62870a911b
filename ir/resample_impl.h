/* The attributes of a resize node read once (ir/infer_resample.c), shared by
 * shape inference, the runtime's kernel (runtime/kernels/resample.c) and the
 * exporter, so that all three agree on output sizes and on the scale each
 * axis maps coordinates with. */
#ifndef BNN_RESAMPLE_IMPL_H
#define BNN_RESAMPLE_IMPL_H

#include <stddef.h>

#include "bnn_ir.h"

typedef enum bnn_resize_mode { BNN_RESIZE_NEAREST, BNN_RESIZE_LINEAR, BNN_RESIZE_CUBIC } bnn_resize_mode;

/* ONNX's coordinate_transformation_mode values (tf_half_pixel_for_nn is
 * Resize-11's, dropped in 13 but still met in old models). */
typedef enum bnn_resize_coord {
    BNN_COORD_HALF_PIXEL,
    BNN_COORD_PYTORCH_HALF_PIXEL,
    BNN_COORD_ALIGN_CORNERS,
    BNN_COORD_ASYMMETRIC,
    BNN_COORD_TF_CROP_AND_RESIZE,
    BNN_COORD_HALF_PIXEL_SYMMETRIC,
    BNN_COORD_TF_HALF_PIXEL_FOR_NN,
} bnn_resize_coord;

typedef enum bnn_resize_round {
    BNN_ROUND_PREFER_FLOOR,
    BNN_ROUND_PREFER_CEIL,
    BNN_ROUND_FLOOR,
    BNN_ROUND_CEIL,
} bnn_resize_round;

typedef struct bnn_resize_spec {
    bnn_resize_mode mode;
    bnn_resize_coord coord;
    bnn_resize_round round;
    double cubic_a;
    bool exclude_outside, antialias;
    float extrapolation;
    int rank;
    bool has_scales, has_sizes;
    double scales[BNN_MAX_RANK];
    int64_t sizes[BNN_MAX_RANK]; /* -1: the input's dim */
    double roi_start[BNN_MAX_RANK], roi_end[BNN_MAX_RANK];
} bnn_resize_spec;

/* Reads and checks node's attributes for an input of `rank` dims; false with
 * a message in err (no node name: the caller adds it) when they do not fit. */
bool bnn_resize_read(const bnn_node *node, int rank, bnn_resize_spec *s, char *err, size_t n);

/* The output dim along `axis` for an input dim `in` (concrete or not: an
 * unknown input dim gives BNN_DIM_UNKNOWN unless the axis keeps it);
 * INT64_MIN when it would pass 2^31. */
int64_t bnn_resize_out_dim(const bnn_resize_spec *s, int axis, int64_t in);

/* The scale along `axis` that maps output coordinates to input ones: the
 * scales attribute when given, else out / in (1 for an axis sizes keeps). */
double bnn_resize_scale(const bnn_resize_spec *s, int axis, int64_t in, int64_t out);

/* Whether `axis` is left as it is (same size, scale 1, no crop): skipped. */
bool bnn_resize_axis_identity(const bnn_resize_spec *s, int axis, int64_t in, int64_t out);

#endif
