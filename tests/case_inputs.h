/* Which graph inputs of an ONNX backend test case the conformance runners
 * bind as constants from the case's data: those whose value decides the
 * size of an output or what the op is, which bnnc resolves when it reads
 * the model.  Shared by tests/runtime/conformance.c and
 * tests/frontend/conformance.c. */
#ifndef BNNC_TESTS_CASE_INPUTS_H
#define BNNC_TESTS_CASE_INPUTS_H

#include <stdbool.h>

#include "onnx.pb-c.h"

/* Whether a node of g reads `name` as such an operand: every input of Range,
 * NonZero, Unique and MelWeightMatrix, OneHot's depth, Compress's condition,
 * Resize's roi and scales (Upsample's scales), Dropout's ratio and
 * training_mode, STFT's window (it becomes the transform's kernel). */
bool case_input_is_constant(const Onnx__GraphProto *g, const char *name);

#endif
