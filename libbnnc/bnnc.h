/* bnnc as a library: the one header a program includes,
 *
 *     #include <bnnc/bnnc.h>
 *
 * and links with `pkg-config --cflags --libs bnnc`.  It brings in every public
 * header; each of them also compiles on its own.  docs/api.md shows how the
 * parts fit (import, passes, session, training, prediction), who owns what,
 * and what the version numbers promise.
 */
#ifndef BNNC_H
#define BNNC_H

#include "bnnc_version.h"

#include "bnn_diag.h"    /* status codes, diagnostics */
#include "bnn_ir.h"      /* the graph: values, nodes, ops, text form */
#include "bnn_tensor.h"  /* dense tensors */
#include "bnn_file.h"    /* reading whole files with a size cap */
#include "bnn_onnx.h"    /* ONNX import and export */
#include "bnn_passes.h"  /* the pass manager and pipelines (to-bnn, ...) */
#include "bnn_runtime.h" /* sessions: plan and run a graph */
#include "bnn_train.h"   /* losses, optimizers, the trainer */
#include "bnn_comm.h"    /* ranks of a data-parallel job (MPI or one process) */
#include "bnn_predict.h" /* Monte-Carlo and moment predictives */
#include "bnn_metrics.h" /* accuracy, NLL, Brier, ECE, entropies */
#include "bnn_data.h"    /* IDX / MNIST data sets, transforms */
#include "bnn_npy.h"     /* NumPy .npy files */

#endif
