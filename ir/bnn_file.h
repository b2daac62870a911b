/* Reading a whole file into memory, with a cap on its size: shared by the ONNX
 * frontend (models, TensorProto .pb files) and the runtime (.npy), which must
 * not depend on each other. */
#ifndef BNN_FILE_H
#define BNN_FILE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bnn_diag.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Reads the regular file at `path` into *data (owned by the caller, free()
 * it; one NUL byte past the end, so text can be read as a string) and its
 * size into *size.  Fails with BNN_ERR_IO "cannot open: ..." / "not a regular
 * file" / "read failed: ...", with BNN_ERR_INVALID "file of N bytes is too
 * large" past max_bytes (checked before allocating), or BNN_ERR_NOMEM.
 * Messages do not name the path: callers prefix it as they need. */
bnn_status bnn_read_file(const char *path, uint64_t max_bytes, void **data, size_t *size,
                         bnn_diag *diag);

/* bnn_read_file without the copy: *data is a read-only private mapping of
 * the file (*mapped true), or where the file cannot be mapped (empty, not a
 * regular file, a file system without mmap) what bnn_read_file gives, with
 * its errors.  Release with bnn_unmap_file.  For reading large models once:
 * the bytes come from the page cache without a second copy in memory.  A
 * file cut short by another process while it is mapped makes reading past
 * its new end fault (SIGBUS), as with any mapped file. */
bnn_status bnn_map_file(const char *path, uint64_t max_bytes, const void **data, size_t *size,
                        bool *mapped, bnn_diag *diag);
void bnn_unmap_file(const void *data, size_t size, bool mapped);

/* Writes size bytes to path atomically: to a temporary file beside it
 * (PATH.tmp-XXXXXX, mode 0666 less the umask), fsync'd, then renamed over
 * path.  On any failure (a full disk, a file size limit: EFBIG; bnnc ignores
 * SIGXFSZ so that write() reports it) the temporary file is removed and a
 * file already at path is left as it was.  Fails with BNN_ERR_IO "cannot
 * write: REASON" or "cannot create a temporary file beside it: REASON"
 * (without the path: callers prefix it), or BNN_ERR_NOMEM. */
bnn_status bnn_write_file(const char *path, const void *data, size_t size, bnn_diag *diag);

/* bnn_write_file of the concatenation of parts[0..n_parts). */
typedef struct bnn_file_part {
    const void *data;
    size_t size;
} bnn_file_part;
bnn_status bnn_write_file_parts(const char *path, const bnn_file_part *parts, int n_parts,
                                bnn_diag *diag);

/* The same, streamed: open creates the temporary file; append adds bytes
 * (buffered; the first failure is kept and later appends do nothing);
 * commit writes out, fsyncs and renames into place, or on any failure
 * removes the temporary file and fails as bnn_write_file; abort removes it.
 * Commit and abort free the writer.  For outputs too big to hold twice
 * (bnnc convert of a large model packs straight into the file). */
typedef struct bnn_file_writer bnn_file_writer;
bnn_status bnn_file_writer_open(const char *path, bnn_file_writer **out, bnn_diag *diag);
void bnn_file_writer_append(bnn_file_writer *w, const void *data, size_t size);
bnn_status bnn_file_writer_commit(bnn_file_writer *w, bnn_diag *diag);
void bnn_file_writer_abort(bnn_file_writer *w);

/* Output files are written to a temporary file beside the target (mkstemp,
 * mode 0600) and renamed into place.  This gives the temporary file the mode a
 * newly created file would get, 0666 less the umask, so outputs are as
 * readable as the user's other files. */
void bnn_file_umask_mode(int fd);

/* Whether paths a and b both exist and are the same file (device and inode:
 * also through links and different spellings of the path). */
bool bnn_same_file(const char *a, const char *b);

#ifdef __cplusplus
}
#endif

#endif
