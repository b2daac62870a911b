/* Model fixtures as the runtime tests use them: a directory of STEM.onnx
 * files, each with STEM.input.npy and the reference STEM.output.npy
 * (tests/fixtures/torch, tests/fixtures/exporters).  Criterion asserts
 * inside: a missing or unreadable file fails the calling test. */
#ifndef BNNC_TESTS_MODEL_FIXTURES_H
#define BNNC_TESTS_MODEL_FIXTURES_H

#include "bnn_runtime.h"

/* Imports DIR/STEM.onnx (with its path in MODEL, MODEL_CAP bytes, when MODEL
 * is not NULL) and reads its input and reference output; the model has one
 * input. */
void fixture_load(const char *dir, const char *stem, char *model, size_t model_cap,
                  bnn_graph **g, bnn_tensor *x, bnn_tensor *want);

/* Calls CHECK(DIR, STEM) for every STEM.onnx in DIR, in name order, and
 * returns how many there were.  MAKER names the script that makes DIR. */
int fixture_for_each(const char *dir, const char *maker, void (*check)(const char *, const char *));

/* Plans G for X's shape, runs it and checks the output's dtype and shape
 * against WANT's (WHO names the reference in messages); returns the session,
 * whose output 0 is the result. */
bnn_session *fixture_run(const char *stem, const char *what, const char *who, bnn_graph *g,
                         const bnn_tensor *x, const bnn_tensor *want);

#endif
