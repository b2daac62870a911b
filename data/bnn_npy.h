/* NumPy .npy files: read into and write from bnn_tensor.
 *
 * Reads format versions 1.0, 2.0 and 3.0, C order, little-endian (or
 * byte-sized) elements of type f32, f64, i8, i16, i32, i64, u8, u16, u32, u64
 * and bool.  Everything read is checked before anything is allocated: the
 * header must parse, the shape's byte size must be exactly what follows it.
 * Fortran order, object arrays (pickles), structured and big-endian dtypes are
 * refused with a message saying so.  Messages do not name the file: the
 * caller puts it in front ("bnnc: x.npy: ...").
 */
#ifndef BNN_NPY_H
#define BNN_NPY_H

#include "bnn_tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The whole file in memory at once; out is an owned tensor. */
bnn_status bnn_npy_read_file(const char *path, bnn_tensor *out, bnn_diag *diag);
bnn_status bnn_npy_read_buffer(const void *data, size_t size, bnn_tensor *out, bnn_diag *diag);

/* Rows [first, first + count) of the array (rows: its first dimension), count
 * -1 meaning to the end, reading only their bytes from the file (a rank of a
 * data-parallel job reads its own shard); *total_rows (may be NULL) gets the
 * array's row count.  The header and the file's size are checked as
 * bnn_npy_read_file checks them; a range past the end fails. */
bnn_status bnn_npy_read_rows(const char *path, int64_t first, int64_t count, bnn_tensor *out,
                             int64_t *total_rows, bnn_diag *diag);

/* The rows rows[0..count) (ascending, no repeats) of the array, in that
 * order, one read per run of consecutive rows: a data-parallel rank's
 * examples for an epoch. */
bnn_status bnn_npy_read_row_list(const char *path, const int64_t *rows, int64_t count,
                                 bnn_tensor *out, int64_t *total_rows, bnn_diag *diag);

/* Writes a version 1.0 file (the header of a rank <= 8 array always fits) to
 * a temporary file beside path and renames it into place, so path is never
 * half-written. */
bnn_status bnn_npy_write_file(const char *path, const bnn_tensor *t, bnn_diag *diag);
/* The same bytes into a malloc'ed buffer (*data owned by the caller). */
bnn_status bnn_npy_write_buffer(const bnn_tensor *t, void **data, size_t *size, bnn_diag *diag);

/* Converts between numeric types (f32, f64, the integers, bool) into a new
 * owned tensor; float to integer truncates toward zero. */
bnn_status bnn_tensor_convert(const bnn_tensor *in, bnn_dtype to, bnn_tensor *out,
                              bnn_diag *diag);

#ifdef __cplusplus
}
#endif

#endif
