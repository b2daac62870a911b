/* The element types of cast (ir/infer_cast.c) shared with the frontend and
 * the runtime's kernels, so that all three accept the same types. */
#ifndef BNN_CAST_IMPL_H
#define BNN_CAST_IMPL_H

#include "bnn_ir.h"

/* The element types cast converts between: every integer type, f16, f32,
 * f64 and bool (not string, not bf16). */
bool bnn_cast_type_ok(bnn_dtype t);

#endif
