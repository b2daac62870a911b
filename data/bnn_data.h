/* Data sets for training and evaluation: IDX (MNIST's format) and the
 * MNIST loader, batches gathered from a shuffled order, and image transforms
 * for evaluating under shift.  .npy files are in bnn_npy.h.
 */
#ifndef BNN_DATA_H
#define BNN_DATA_H

#include "bnn_tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Examples x (f32, first dim = examples) with integer labels y (i64 [n]) for
 * classification, or f32 targets (first dim = examples) for regression. */
typedef struct bnn_dataset {
    bnn_tensor x; /* owned */
    bnn_tensor y; /* owned */
    int64_t n;
} bnn_dataset;

/* Reads an IDX file (MNIST's format), gzip'd or plain (told apart by the
 * gzip magic, not the name), into an owned tensor of its own element type
 * (u8, i8, i16, i32, f32, f64). Sizes are checked against the data present. */
bnn_status bnn_idx_read(const char *path, bnn_tensor *out, bnn_diag *diag);

/* Rows [first, first + count) of an IDX file (rows: its first dimension),
 * count -1 meaning to the end.  Reads, or for a gzip'd file inflates, no
 * further than the last row wanted and keeps only the rows wanted, so each
 * rank of a data-parallel job holds its own shard; *total_rows (may be NULL)
 * gets the file's row count from its header.  A range past the end, or a
 * file that ends before the range does, fails naming the file. */
bnn_status bnn_idx_read_rows(const char *path, int64_t first, int64_t count, bnn_tensor *out,
                             int64_t *total_rows, bnn_diag *diag);

/* The rows rows[0..count) (ascending, no repeats) of an IDX file, in that
 * order: a data-parallel rank's examples for an epoch.  Runs of consecutive
 * rows are read at once; a gzip'd file is inflated once, front to back, up to
 * the last row wanted. */
bnn_status bnn_idx_read_row_list(const char *path, const int64_t *rows, int64_t count,
                                 bnn_tensor *out, int64_t *total_rows, bnn_diag *diag);

typedef enum bnn_mnist_split { BNN_MNIST_TRAIN, BNN_MNIST_TEST } bnn_mnist_split;

/* Loads MNIST's standard files from dir: train-images-idx3-ubyte[.gz] and
 * train-labels-idx1-ubyte[.gz], or t10k-* for the test split. Images become
 * f32 [n, 1, rows, cols] with pixel * scale + shift (scale 1/255, shift 0
 * gives [0, 1]); labels i64 [n]. */
bnn_status bnn_mnist_load(const char *dir, bnn_mnist_split split, float scale, float shift,
                          bnn_dataset *out, bnn_diag *diag);
/* Examples [first, first + count) of the split (count -1: to the end), read
 * by bnn_idx_read_rows; *total (may be NULL) gets the split's size. */
bnn_status bnn_mnist_load_rows(const char *dir, bnn_mnist_split split, float scale, float shift,
                               int64_t first, int64_t count, bnn_dataset *out, int64_t *total,
                               bnn_diag *diag);
/* Examples rows[0..count) (ascending, no repeats) of the split, in that order. */
bnn_status bnn_mnist_load_row_list(const char *dir, bnn_mnist_split split, float scale,
                                   float shift, const int64_t *rows, int64_t count,
                                   bnn_dataset *out, int64_t *total, bnn_diag *diag);
void bnn_dataset_free(bnn_dataset *ds);

/* Copies examples idx[0..count) of ds into x and y (shaped [count, ...]),
 * which the caller sized; for a batch of a shuffled epoch. */
void bnn_dataset_gather(const bnn_dataset *ds, const int64_t *idx, int64_t count, bnn_tensor *x,
                        bnn_tensor *y);

/* Rotates every image of x ([n, c, h, w] f32) by `degrees` counter-clockwise
 * about its centre, bilinear, filling with 0 outside; out must have x's shape
 * and not alias it.  For evaluating under dataset shift. */
void bnn_rotate_images(const bnn_tensor *x, double degrees, bnn_tensor *out);

/* A dataset shift for `bnnc eval --shift`: parsed from "rotate:DEG",
 * "translate:DX[,DY]" (whole pixels, right and down; DY defaults to DX),
 * "noise:STD" (additive Gaussian noise of that standard deviation, clipped
 * to the data's own range), "blur:SIGMA" (a Gaussian blur of that width in
 * pixels) or "contrast:F" (every image's pixels pulled towards its mean:
 * m + F (x - m)). */
typedef enum bnn_shift_kind {
    BNN_SHIFT_ROTATE,
    BNN_SHIFT_TRANSLATE,
    BNN_SHIFT_NOISE,
    BNN_SHIFT_BLUR,
    BNN_SHIFT_CONTRAST,
} bnn_shift_kind;

typedef struct bnn_shift {
    bnn_shift_kind kind;
    double a, b; /* the amounts: degrees; dx, dy; std; sigma; factor */
} bnn_shift;

/* False when spec is none of the forms above or its amount is out of range
 * (a negative std or sigma, a sigma above 64 pixels, a non-finite number). */
bool bnn_shift_parse(const char *spec, bnn_shift *out);
/* The kind's name, "rotate" ... "contrast". */
const char *bnn_shift_name(bnn_shift_kind kind);
/* out = x ([n, c, h, w] f32) under the shift; out has x's shape and does not
 * alias it.  normals: for noise, one standard normal draw per element of x
 * (the caller's generator, e.g. runtime/rng.h's bnn_rng_normal); NULL for
 * the other kinds.  False only when a blur's scratch plane cannot be
 * allocated. */
bool bnn_shift_images(const bnn_tensor *x, const bnn_shift *shift, const float *normals,
                      bnn_tensor *out);

#ifdef __cplusplus
}
#endif

#endif
